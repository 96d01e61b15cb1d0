// SPDX-License-Identifier: LGPL-2.1
/*
 * Dirty sets: the watched ranges of one mm, with one bit per watched page.
 *
 * Ranges are kept sorted and disjoint in an array; each has its own bitmap
 * and dirty count, so the memory is about one bit per watched page plus the
 * collected iovecs, which are O(dirty ranges). A summary bitmap, one bit per
 * word of the page bitmap, lets collecting visit only the words that may
 * hold dirty bits, so an epoch costs the dirty set, not the watched size.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct dset_range {
	uint64_t	start;
	uint64_t	end;
	unsigned long	*bits;
	unsigned long	*sum;		/* bit set: that word of @bits may be non-zero */
	uint64_t	ndirty;
	uint64_t	last;
	uint64_t	total;
	uint64_t	found;		/* bytes, scratch of vmtrack_dset_collect_extents() */
	char		*label;
};

struct vmtrack_dset {
	struct dset_range	*r;
	size_t			nr;
	size_t			alloc;
	unsigned int		shift;
	uint64_t		page_size;
	size_t			hint;	/* range of the last vmtrack_dset_set_page() */
	/* where vmtrack_dset_collect_batch() goes on: range, page in it */
	size_t			batch_range;
	uint64_t		batch_page;
};

static uint64_t range_pages(const struct vmtrack_dset *ds, const struct dset_range *r)
{
	return (r->end - r->start) >> ds->shift;
}

static void range_release(struct dset_range *r)
{
	free(r->bits);
	free(r->sum);
	free(r->label);
	r->bits = NULL;
	r->sum = NULL;
	r->label = NULL;
}

static void bits_set(unsigned long *bits, uint64_t from, uint64_t to)
{
	while (from < to && (from % BITS_PER_LONG)) {
		bits[from / BITS_PER_LONG] |= 1UL << (from % BITS_PER_LONG);
		from++;
	}
	while (from + BITS_PER_LONG <= to) {
		bits[from / BITS_PER_LONG] = ~0UL;
		from += BITS_PER_LONG;
	}
	while (from < to) {
		bits[from / BITS_PER_LONG] |= 1UL << (from % BITS_PER_LONG);
		from++;
	}
}

static void bits_clear(unsigned long *bits, uint64_t from, uint64_t to)
{
	while (from < to && (from % BITS_PER_LONG)) {
		bits[from / BITS_PER_LONG] &= ~(1UL << (from % BITS_PER_LONG));
		from++;
	}
	while (from + BITS_PER_LONG <= to) {
		bits[from / BITS_PER_LONG] = 0;
		from += BITS_PER_LONG;
	}
	while (from < to) {
		bits[from / BITS_PER_LONG] &= ~(1UL << (from % BITS_PER_LONG));
		from++;
	}
}

static bool bit_test(const unsigned long *bits, uint64_t nr)
{
	return bits[nr / BITS_PER_LONG] & (1UL << (nr % BITS_PER_LONG));
}

static uint64_t bits_weight(const unsigned long *bits, uint64_t from, uint64_t to)
{
	uint64_t n = 0;

	for (; from < to; from++)
		n += bit_test(bits, from);
	return n;
}

/* find the next set bit at or after @from, or @size */
static uint64_t bits_next(const unsigned long *bits, uint64_t from, uint64_t size, bool set)
{
	while (from < size) {
		unsigned long w = bits[from / BITS_PER_LONG];

		if (!set)
			w = ~w;
		w &= ~0UL << (from % BITS_PER_LONG);
		if (w) {
			from = (from & ~(uint64_t)(BITS_PER_LONG - 1)) + __builtin_ctzl(w);
			return min(from, size);
		}
		from = (from | (BITS_PER_LONG - 1)) + 1;
	}
	return size;
}

/* bitmaps for @n pages, all clear */
static int range_alloc_bits(struct dset_range *r, uint64_t n)
{
	size_t words = BITS_TO_LONGS(n) ?: 1;

	r->bits = calloc(words, sizeof(unsigned long));
	r->sum = calloc(BITS_TO_LONGS(words), sizeof(unsigned long));
	return r->bits && r->sum ? 0 : -ENOMEM;
}

/* set page bit @i and its summary bit; count it if it was clear */
static void range_set_page(struct dset_range *r, uint64_t i)
{
	if (bit_test(r->bits, i))
		return;
	r->bits[i / BITS_PER_LONG] |= 1UL << (i % BITS_PER_LONG);
	r->sum[i / BITS_PER_LONG / BITS_PER_LONG] |= 1UL << (i / BITS_PER_LONG % BITS_PER_LONG);
	r->ndirty++;
}

/* set the page bits [@from, @to) and the summary bits of their words */
static void range_set_bits(struct dset_range *r, uint64_t from, uint64_t to)
{
	if (from >= to)
		return;
	bits_set(r->bits, from, to);
	bits_set(r->sum, from / BITS_PER_LONG, (to - 1) / BITS_PER_LONG + 1);
}

/* the first set page bit at or after @from, or @size; skips words the summary says are zero */
static uint64_t range_next_dirty(const struct dset_range *r, uint64_t from, uint64_t size)
{
	uint64_t words = BITS_TO_LONGS(size), w;
	unsigned long v;

	while (from < size) {
		w = from / BITS_PER_LONG;
		v = r->bits[w] & (~0UL << (from % BITS_PER_LONG));
		if (v)
			return min(w * BITS_PER_LONG + __builtin_ctzl(v), size);
		w = bits_next(r->sum, w + 1, words, true);
		from = w * BITS_PER_LONG;
	}
	return size;
}

/**
 * vmtrack_dset_new() - allocate an empty dirty set
 * @page_size:	granularity in bytes, a power of two (normally the page size)
 *
 * Return: the new set, or NULL with errno set.
 */
struct vmtrack_dset *vmtrack_dset_new(unsigned long page_size)
{
	struct vmtrack_dset *ds;

	if (!page_size || (page_size & (page_size - 1))) {
		errno = EINVAL;
		return NULL;
	}
	ds = calloc(1, sizeof(*ds));
	if (!ds)
		return NULL;
	ds->page_size = page_size;
	ds->shift = __builtin_ctzl(page_size);
	return ds;
}

/**
 * vmtrack_dset_free() - free a dirty set and all its ranges
 * @ds:	the set, may be NULL
 */
void vmtrack_dset_free(struct vmtrack_dset *ds)
{
	size_t i;

	if (!ds)
		return;
	for (i = 0; i < ds->nr; i++)
		range_release(&ds->r[i]);
	free(ds->r);
	free(ds);
}

/* index of the first range whose end is above @addr */
static size_t dset_lookup(const struct vmtrack_dset *ds, uint64_t addr)
{
	size_t lo = 0, hi = ds->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ds->r[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int dset_reserve(struct vmtrack_dset *ds, size_t extra)
{
	struct dset_range *r;
	size_t alloc;

	if (ds->nr + extra <= ds->alloc)
		return 0;
	alloc = max(ds->alloc * 2, ds->nr + extra + 8);
	r = realloc(ds->r, alloc * sizeof(*r));
	if (!r)
		return -ENOMEM;
	ds->r = r;
	ds->alloc = alloc;
	return 0;
}

static void page_round(const struct vmtrack_dset *ds, uint64_t *start, uint64_t *end)
{
	uint64_t mask = ds->page_size - 1;

	*start &= ~mask;
	/* an end close to 2^64 (size overflow in an event) saturates */
	if (*end > UINT64_MAX - mask)
		*end = UINT64_MAX & ~mask;
	else
		*end = (*end + mask) & ~mask;
}

/* a new range holding the pages [start, end) of @r, bits and label copied */
static int range_slice(const struct vmtrack_dset *ds, const struct dset_range *r,
		       uint64_t start, uint64_t end, struct dset_range *out)
{
	uint64_t off = (start - r->start) >> ds->shift;
	uint64_t n = (end - start) >> ds->shift;
	uint64_t i;

	memset(out, 0, sizeof(*out));
	out->start = start;
	out->end = end;
	if (range_alloc_bits(out, n)) {
		range_release(out);
		return -ENOMEM;
	}
	if (r->label)
		out->label = strdup(r->label);
	if (r->ndirty) {
		for (i = 0; i < n; i++)
			if (bit_test(r->bits, off + i))
				range_set_bits(out, i, i + 1);
		out->ndirty = bits_weight(out->bits, 0, n);
	}
	/* per-epoch history is kept by the piece that keeps the start */
	if (start == r->start) {
		out->last = r->last;
		out->total = r->total;
	}
	return 0;
}

/**
 * vmtrack_dset_remove() - stop tracking [@start, @end)
 * @ds:		the set
 * @start:	first address, rounded down to the granularity
 * @end:	end address, rounded up
 *
 * Ranges that overlap are cut or split; their dirty bits outside the removed
 * part are kept.
 *
 * Return: 0, or -ENOMEM (the set is unchanged then).
 */
int vmtrack_dset_remove(struct vmtrack_dset *ds, uint64_t start, uint64_t end)
{
	size_t i, j;

	page_round(ds, &start, &end);
	if (start >= end)
		return 0;
	i = dset_lookup(ds, start);
	j = i;
	while (j < ds->nr && ds->r[j].start < end)
		j++;
	if (i == j)
		return 0;

	struct dset_range left = { 0 }, right = { 0 };
	bool has_left = ds->r[i].start < start;
	bool has_right = ds->r[j - 1].end > end;

	if (has_left && range_slice(ds, &ds->r[i], ds->r[i].start, start, &left))
		return -ENOMEM;
	if (has_right && range_slice(ds, &ds->r[j - 1], end, ds->r[j - 1].end, &right)) {
		range_release(&left);
		return -ENOMEM;
	}
	if (dset_reserve(ds, 2)) {
		range_release(&left);
		range_release(&right);
		return -ENOMEM;
	}
	for (size_t k = i; k < j; k++)
		range_release(&ds->r[k]);
	memmove(&ds->r[i], &ds->r[j], (ds->nr - j) * sizeof(*ds->r));
	ds->nr -= j - i;
	if (has_right) {
		memmove(&ds->r[i + 1], &ds->r[i], (ds->nr - i) * sizeof(*ds->r));
		ds->r[i] = right;
		ds->nr++;
	}
	if (has_left) {
		memmove(&ds->r[i + 1], &ds->r[i], (ds->nr - i) * sizeof(*ds->r));
		ds->r[i] = left;
		ds->nr++;
	}
	return 0;
}

/**
 * vmtrack_dset_add() - track [@start, @end), replacing what overlaps it
 * @ds:		the set
 * @start:	first address, rounded down to the granularity
 * @end:	end address, rounded up
 * @dirty:	start with every page of the range dirty
 * @label:	name shown for the range (copied), may be NULL
 *
 * Return: 0, -EINVAL for an empty range, or -ENOMEM.
 */
int vmtrack_dset_add(struct vmtrack_dset *ds, uint64_t start, uint64_t end,
		     bool dirty, const char *label)
{
	struct dset_range r = { 0 };
	uint64_t n;
	size_t i;

	page_round(ds, &start, &end);
	if (start >= end)
		return -EINVAL;
	if (vmtrack_dset_remove(ds, start, end))
		return -ENOMEM;
	n = (end - start) >> ds->shift;
	r.start = start;
	r.end = end;
	if (range_alloc_bits(&r, n)) {
		range_release(&r);
		return -ENOMEM;
	}
	if (label && *label) {
		r.label = strdup(label);
		if (!r.label) {
			range_release(&r);
			return -ENOMEM;
		}
	}
	if (dset_reserve(ds, 1)) {
		range_release(&r);
		return -ENOMEM;
	}
	if (dirty) {
		range_set_bits(&r, 0, n);
		r.ndirty = n;
	}
	i = dset_lookup(ds, start);
	memmove(&ds->r[i + 1], &ds->r[i], (ds->nr - i) * sizeof(*ds->r));
	ds->r[i] = r;
	ds->nr++;
	return 0;
}

#define DSET_FOUND	"[found]"

/* grow @r, the range before a gap, by the clean pages up to @end */
static int range_grow(const struct vmtrack_dset *ds, struct dset_range *r, uint64_t end)
{
	uint64_t old = range_pages(ds, r), n = (end - r->start) >> ds->shift;
	size_t ow = BITS_TO_LONGS(old) ?: 1, nw = BITS_TO_LONGS(n) ?: 1;
	size_t os = BITS_TO_LONGS(ow), ns = BITS_TO_LONGS(nw);
	unsigned long *bits, *sum;

	bits = realloc(r->bits, nw * sizeof(*bits));
	if (!bits)
		return -ENOMEM;
	r->bits = bits;
	sum = realloc(r->sum, ns * sizeof(*sum));
	if (!sum)
		return -ENOMEM;
	r->sum = sum;
	/* the bits past the old end in its last word are clear already */
	memset(bits + ow, 0, (nw - ow) * sizeof(*bits));
	memset(sum + os, 0, (ns - os) * sizeof(*sum));
	r->end = end;
	return 0;
}

static int64_t dset_fill(struct vmtrack_dset *ds, uint64_t start, uint64_t end,
			 const char *label, bool extend, bool dirty)
{
	uint64_t pos, added = 0;
	size_t i;

	page_round(ds, &start, &end);
	pos = start;
	while (pos < end) {
		uint64_t gap_end = end;
		struct dset_range *prev;

		i = dset_lookup(ds, pos);
		if (i < ds->nr && ds->r[i].start <= pos) {
			pos = ds->r[i].end;
			continue;
		}
		if (i < ds->nr && ds->r[i].start < end)
			gap_end = ds->r[i].start;
		prev = i ? &ds->r[i - 1] : NULL;
		if (extend && prev && prev->end == pos && prev->label &&
		    !strcmp(prev->label, label)) {
			uint64_t from = range_pages(ds, prev);

			if (range_grow(ds, prev, gap_end))
				return -ENOMEM;
			if (dirty) {
				range_set_bits(prev, from, range_pages(ds, prev));
				prev->ndirty += range_pages(ds, prev) - from;
			}
		} else if (vmtrack_dset_add(ds, pos, gap_end, dirty, label)) {
			return -ENOMEM;
		}
		added += (gap_end - pos) >> ds->shift;
		pos = gap_end;
	}
	return added;
}

/**
 * vmtrack_dset_fill() - track the parts of [@start, @end) not tracked yet
 * @ds:		the set
 * @start:	first address
 * @end:	end address, exclusive
 * @label:	name for the new ranges, may be NULL
 *
 * The new parts start dirty: nothing is known about what happened to them
 * before they were found. Used for mappings found by a rescan of
 * /proc/PID/maps and for events on addresses outside every known range.
 *
 * Return: the number of pages added, or -ENOMEM.
 */
int64_t vmtrack_dset_fill(struct vmtrack_dset *ds, uint64_t start, uint64_t end,
			  const char *label)
{
	return dset_fill(ds, start, end, label, false, true);
}

/**
 * vmtrack_dset_fill_stray() - track the untracked pages of an event's range
 * @ds:		the set
 * @start:	first address
 * @end:	end address, exclusive
 *
 * Like vmtrack_dset_fill() with the label "[found]", but a gap that starts
 * where a "[found]" range ends grows that range: the pages of a mapping
 * created since the last rescan, written one by one, make one range, not
 * one range (and two bitmaps) per page.
 *
 * Return: the number of pages added, or -ENOMEM.
 */
int64_t vmtrack_dset_fill_stray(struct vmtrack_dset *ds, uint64_t start, uint64_t end)
{
	return dset_fill(ds, start, end, DSET_FOUND, true, true);
}

/**
 * vmtrack_dset_fill_clean() - track the untracked parts of [@start, @end), clean
 * @ds:		the set
 * @start:	first address
 * @end:	end address, exclusive
 * @label:	name for the new ranges, may be NULL
 *
 * For ranges about to be marked: what is tracked already keeps its dirty
 * bits (writes seen before this mark, not copied yet).
 *
 * Return: the number of pages added, or -ENOMEM.
 */
int64_t vmtrack_dset_fill_clean(struct vmtrack_dset *ds, uint64_t start, uint64_t end,
				const char *label)
{
	return dset_fill(ds, start, end, label, false, false);
}

/**
 * vmtrack_dset_adopt() - track [@start, @end) as one range, as the maps show it
 * @ds:		the set
 * @start:	first address of a mapping
 * @end:	its end address, exclusive
 * @label:	its name (copied), may be NULL
 *
 * Ranges inside [@start, @end) are merged into one range with @label; their
 * dirty bits and history are kept, the pages between them are added dirty
 * (nothing is known about them), and the parts of ranges that reach outside
 * stay where they are. A range that already holds all of [@start, @end) is
 * left alone, unless it was found through events ("[found]"). Used by
 * rescans: the pages found one by one while the mapping was unknown become
 * the mapping again.
 *
 * Return: the number of pages added, or -ENOMEM (the set is unchanged then).
 */
int64_t vmtrack_dset_adopt(struct vmtrack_dset *ds, uint64_t start, uint64_t end,
			   const char *label)
{
	struct dset_range r = { 0 };
	uint64_t n, pos, added = 0;
	size_t i, j;

	page_round(ds, &start, &end);
	if (start >= end)
		return 0;
	i = dset_lookup(ds, start);
	if (i < ds->nr && ds->r[i].start <= start && ds->r[i].end >= end &&
	    !(ds->r[i].label && !strcmp(ds->r[i].label, DSET_FOUND)))
		return 0;
	n = (end - start) >> ds->shift;
	r.start = start;
	r.end = end;
	if (range_alloc_bits(&r, n) || dset_reserve(ds, 1) ||
	    (label && *label && !(r.label = strdup(label))))
		goto nomem;
	pos = start;
	for (j = i; j < ds->nr && ds->r[j].start < end; j++) {
		const struct dset_range *o = &ds->r[j];
		uint64_t from = max(start, o->start), to = min(end, o->end);
		uint64_t off = (from - o->start) >> ds->shift;
		uint64_t at = (from - start) >> ds->shift, k;

		range_set_bits(&r, (pos - start) >> ds->shift, at);
		added += (from - pos) >> ds->shift;
		for (k = 0; o->ndirty && k < (to - from) >> ds->shift; k++)
			if (bit_test(o->bits, off + k))
				range_set_bits(&r, at + k, at + k + 1);
		if (o->start >= start) {
			r.last += o->last;
			r.total += o->total;
		}
		pos = to;
	}
	range_set_bits(&r, (pos - start) >> ds->shift, n);
	added += (end - pos) >> ds->shift;
	r.ndirty = bits_weight(r.bits, 0, n);
	if (vmtrack_dset_remove(ds, start, end))
		goto nomem;
	i = dset_lookup(ds, start);
	memmove(&ds->r[i + 1], &ds->r[i], (ds->nr - i) * sizeof(*ds->r));
	ds->r[i] = r;
	ds->nr++;
	return added;
nomem:
	range_release(&r);
	return -ENOMEM;
}

/**
 * vmtrack_dset_set_dirty() - mark the tracked pages of [@start, @end) dirty
 * @ds:		the set
 * @start:	first address, rounded down to the granularity
 * @end:	end address, rounded up (saturates on overflow)
 * @uncovered:	if not NULL, receives the number of pages outside every range
 *
 * Return: the number of tracked pages in the range (dirty before or not).
 */
uint64_t vmtrack_dset_set_dirty(struct vmtrack_dset *ds, uint64_t start, uint64_t end,
				uint64_t *uncovered)
{
	uint64_t covered = 0;
	size_t i;

	page_round(ds, &start, &end);
	if (start >= end) {
		if (uncovered)
			*uncovered = 0;
		return 0;
	}
	for (i = dset_lookup(ds, start); i < ds->nr && ds->r[i].start < end; i++) {
		struct dset_range *r = &ds->r[i];
		uint64_t from = (max(start, r->start) - r->start) >> ds->shift;
		uint64_t to = (min(end, r->end) - r->start) >> ds->shift;

		if (to - from == 1) {
			range_set_page(r, from);	/* no weight to count */
		} else if (r->ndirty != range_pages(ds, r)) {
			r->ndirty += (to - from) - bits_weight(r->bits, from, to);
			range_set_bits(r, from, to);
		}
		covered += to - from;
	}
	if (uncovered)
		*uncovered = ((end - start) >> ds->shift) - covered;
	return covered;
}

/**
 * vmtrack_dset_set_page() - mark one tracked page dirty, in few steps
 * @ds:		the set
 * @addr:	the page's address (aligned)
 *
 * The write faults of an epoch mostly fall in one range after another:
 * the range of the last call is tried before a lookup.
 *
 * Return: true if the page is tracked and now dirty; false if it is not
 * tracked (the set is unchanged).
 */
bool vmtrack_dset_set_page(struct vmtrack_dset *ds, uint64_t addr)
{
	struct dset_range *r = ds->hint < ds->nr ? &ds->r[ds->hint] : NULL;

	if (!r || addr < r->start || addr >= r->end) {
		ds->hint = dset_lookup(ds, addr);
		if (ds->hint >= ds->nr || addr < ds->r[ds->hint].start)
			return false;
		r = &ds->r[ds->hint];
	}
	range_set_page(r, (addr - r->start) >> ds->shift);
	return true;
}

/**
 * vmtrack_dset_page_size() - the granularity of a set
 * @ds:		the set
 *
 * Return: its page size in bytes.
 */
uint64_t vmtrack_dset_page_size(const struct vmtrack_dset *ds)
{
	return ds->page_size;
}

/**
 * vmtrack_dset_move() - follow an mremap() move of watched memory
 * @ds:		the set
 * @old_start:	old address of the moved memory
 * @new_start:	new address
 * @len:	length in bytes
 *
 * Whatever was tracked at the new place is replaced by a range that is all
 * dirty (it holds contents the consumer has not copied from there), with
 * the label of the old range. The old place stays tracked: the kernel
 * reports its end by an unmap event after a plain move, and with
 * MREMAP_DONTUNMAP it stays mapped, emptied (a zap event), and is written
 * again like any other watched range.
 *
 * Return: 0, -EINVAL for an empty move, or -ENOMEM.
 */
int vmtrack_dset_move(struct vmtrack_dset *ds, uint64_t old_start, uint64_t new_start,
		      uint64_t len)
{
	char *label = NULL;
	size_t i;
	int ret;

	if (!len || old_start + len < old_start || new_start + len < new_start)
		return -EINVAL;
	i = dset_lookup(ds, old_start);
	if (i < ds->nr && ds->r[i].start <= old_start && ds->r[i].label)
		label = strdup(ds->r[i].label);
	ret = vmtrack_dset_add(ds, new_start, new_start + len, true, label);
	free(label);
	return ret;
}

/**
 * vmtrack_dset_all_dirty() - mark every tracked page dirty
 * @ds:	the set
 *
 * The conservative answer to any gap in observation.
 */
void vmtrack_dset_all_dirty(struct vmtrack_dset *ds)
{
	size_t i;

	for (i = 0; i < ds->nr; i++) {
		struct dset_range *r = &ds->r[i];

		range_set_bits(r, 0, range_pages(ds, r));
		r->ndirty = range_pages(ds, r);
	}
}

/**
 * vmtrack_dset_covers() - is @addr tracked
 * @ds:		the set
 * @addr:	an address
 *
 * Return: true if a range of the set contains @addr.
 */
bool vmtrack_dset_covers(const struct vmtrack_dset *ds, uint64_t addr)
{
	size_t i = dset_lookup(ds, addr);

	return i < ds->nr && ds->r[i].start <= addr;
}

/**
 * vmtrack_dset_overlaps() - is any page of [@start, @end) tracked
 * @ds:		the set
 * @start:	first address
 * @end:	end address, exclusive
 *
 * Return: true if a range of the set overlaps [@start, @end).
 */
bool vmtrack_dset_overlaps(const struct vmtrack_dset *ds, uint64_t start, uint64_t end)
{
	size_t i = dset_lookup(ds, start);

	return start < end && i < ds->nr && ds->r[i].start < end;
}

/**
 * vmtrack_dset_test() - is the page at @addr dirty
 * @ds:		the set
 * @addr:	an address
 *
 * Return: true if @addr is tracked and its page is dirty.
 */
bool vmtrack_dset_test(const struct vmtrack_dset *ds, uint64_t addr)
{
	size_t i = dset_lookup(ds, addr);

	if (i >= ds->nr || ds->r[i].start > addr)
		return false;
	return bit_test(ds->r[i].bits, (addr - ds->r[i].start) >> ds->shift);
}

/**
 * vmtrack_dset_dirty_pages() - count the dirty pages
 * @ds:	the set
 *
 * Return: the number of dirty pages in all ranges.
 */
uint64_t vmtrack_dset_dirty_pages(const struct vmtrack_dset *ds)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < ds->nr; i++)
		n += ds->r[i].ndirty;
	return n;
}

/**
 * vmtrack_dset_watched_pages() - count the tracked pages
 * @ds:	the set
 *
 * Return: the number of pages in all ranges.
 */
uint64_t vmtrack_dset_watched_pages(const struct vmtrack_dset *ds)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < ds->nr; i++)
		n += range_pages(ds, &ds->r[i]);
	return n;
}

/**
 * vmtrack_dset_nr_ranges() - number of ranges
 * @ds:	the set
 *
 * Return: how many disjoint ranges the set tracks.
 */
size_t vmtrack_dset_nr_ranges(const struct vmtrack_dset *ds)
{
	return ds->nr;
}

/**
 * vmtrack_dset_range() - describe one range
 * @ds:		the set
 * @idx:	index, 0 .. vmtrack_dset_nr_ranges() - 1, in address order
 * @info:	filled in; @info->label stays valid until the set changes
 *
 * Return: 0, or -ERANGE for a bad index.
 */
int vmtrack_dset_range(const struct vmtrack_dset *ds, size_t idx,
		       struct vmtrack_range_info *info)
{
	const struct dset_range *r;

	if (idx >= ds->nr)
		return -ERANGE;
	r = &ds->r[idx];
	info->start = r->start;
	info->end = r->end;
	info->pages = range_pages(ds, r);
	info->dirty = r->ndirty;
	info->last = r->last;
	info->total = r->total;
	info->label = r->label ?: "";
	return 0;
}

/**
 * vmtrack_iov_push() - append [@start, @end) to an iovec array, coalesced
 * @iov:	array, grown with realloc() as needed (may start NULL)
 * @alloc:	allocated entries of *@iov, updated
 * @n:		entries in use, updated
 * @start:	first address, at or after the end of the last entry
 * @end:	end address
 *
 * Return: 0, or -ENOMEM (the array is unchanged then).
 */
int vmtrack_iov_push(struct iovec **iov, size_t *alloc, size_t *n, uint64_t start, uint64_t end)
{
	if (*n && (uint64_t)(uintptr_t)(*iov)[*n - 1].iov_base + (*iov)[*n - 1].iov_len == start) {
		(*iov)[*n - 1].iov_len += end - start;
		return 0;
	}
	if (GROW_ARRAY(*iov, *alloc, *n, 64))
		return -ENOMEM;
	(*iov)[*n].iov_base = (void *)(uintptr_t)start;
	(*iov)[*n].iov_len = end - start;
	(*n)++;
	return 0;
}

/* end of an epoch for @r: count its dirty pages, clear the words that hold them */
static void range_clear(const struct vmtrack_dset *ds, struct dset_range *r)
{
	uint64_t words = BITS_TO_LONGS(range_pages(ds, r)) ?: 1, w;

	r->last = r->ndirty;
	r->total += r->ndirty;
	if (r->ndirty) {
		for (w = bits_next(r->sum, 0, words, true); w < words;
		     w = bits_next(r->sum, w + 1, words, true))
			r->bits[w] = 0;
		memset(r->sum, 0, BITS_TO_LONGS(words) * sizeof(long));
	}
	r->ndirty = 0;
}

/**
 * vmtrack_dset_dirty_iov() - the dirty pages of the set, left in it
 * @ds:		the set
 * @iov:	array to fill, grown with realloc() as needed (may start NULL)
 * @alloc:	allocated entries of *@iov, updated
 *
 * Adjacent dirty pages, also across adjacent ranges, are coalesced into one
 * iovec, ready for process_madvise(MADV_WATCH). Only ranges with dirty pages
 * are scanned.
 *
 * Return: the number of iovecs, or -ENOMEM.
 */
ssize_t vmtrack_dset_dirty_iov(const struct vmtrack_dset *ds, struct iovec **iov,
			       size_t *alloc)
{
	size_t i, n = 0;

	for (i = 0; i < ds->nr; i++) {
		struct dset_range *r = &ds->r[i];
		uint64_t np = range_pages(ds, r), pos = 0;

		while (r->ndirty && pos < np) {
			uint64_t s = range_next_dirty(r, pos, np), e;

			if (s >= np)
				break;
			e = bits_next(r->bits, s, np, false);
			if (vmtrack_iov_push(iov, alloc, &n, r->start + (s << ds->shift),
					     r->start + (e << ds->shift)))
				return -ENOMEM;
			pos = e;
		}
	}
	return n;
}

/**
 * vmtrack_dset_collect() - take the dirty pages out of the set
 * @ds:		the set
 * @iov:	array to fill, as vmtrack_dset_dirty_iov()
 * @alloc:	allocated entries of *@iov, updated
 *
 * The dirty pages as vmtrack_dset_dirty_iov() gives them; then the dirty bits
 * are cleared and each range's per-epoch counters (last, total) updated.
 *
 * Return: the number of iovecs, or -ENOMEM (the set is unchanged then).
 */
ssize_t vmtrack_dset_collect(struct vmtrack_dset *ds, struct iovec **iov, size_t *alloc)
{
	ssize_t n = vmtrack_dset_dirty_iov(ds, iov, alloc);
	size_t i;

	if (n < 0)
		return n;
	for (i = 0; i < ds->nr; i++)
		range_clear(ds, &ds->r[i]);
	return n;
}

/* the bytes of @ext in each range, in @found; the pages of @ext, or -EINVAL */
static int64_t extents_found(struct vmtrack_dset *ds, const struct iovec *ext, size_t n)
{
	const struct iovec *e, *ext_end = ext + n;
	struct dset_range *r, *r_end = ds->r + ds->nr;
	uint64_t pages = 0, start, end, to;

	for (r = ds->r; r < r_end; r++)
		r->found = 0;
	/*
	 * One pass, both sorted. Runs once per written range of a dense
	 * epoch: the range in hand is kept in locals.
	 */
	r = ds->r;
	for (e = ext; e < ext_end; e++) {
		start = (uintptr_t)e->iov_base;
		end = start + e->iov_len;
		while (start < end) {
			while (r < r_end && r->end <= start)
				r++;
			if (r == r_end || start < r->start)
				return -EINVAL;
			to = min(end, r->end);
			r->found += to - start;
			start = to;
		}
		pages += e->iov_len;
	}
	return pages >> ds->shift;
}

/**
 * vmtrack_dset_collect_extents() - collect a clean set with these pages dirty
 * @ds:		the set, with no dirty page
 * @ext:	the dirty pages: sorted, disjoint, page aligned extents inside
 *		the tracked ranges (as vmtrack_iov_push() builds them)
 * @n:		number of extents
 *
 * What marking the extents dirty and vmtrack_dset_collect() would do, with
 * @ext as the collected iovecs, but without a bit set and cleared: a dense
 * epoch's sweep finds its thousands of written pages in address order, and
 * handing them on as found costs a fraction of the bitmap's round trip.
 * Each range's counters (last, total) are updated.
 *
 * Return: the number of pages in @ext; -EBUSY if a page of the set is
 * dirty, -EINVAL if an extent leaves the tracked ranges (the set is
 * unchanged then: mark the extents and collect).
 */
int64_t vmtrack_dset_collect_extents(struct vmtrack_dset *ds, const struct iovec *ext, size_t n)
{
	struct dset_range *r, *r_end = ds->r + ds->nr;
	int64_t pages;

	for (r = ds->r; r < r_end; r++)
		if (r->ndirty)
			return -EBUSY;
	pages = extents_found(ds, ext, n);
	if (pages < 0)
		return pages;
	for (r = ds->r; r < r_end; r++) {
		r->last = r->found >> ds->shift;
		r->total += r->last;
	}
	return pages;
}

/**
 * vmtrack_dset_count_extents() - count more dirty pages of an epoch in the ranges' counters
 * @ds:		the set
 * @ext:	dirty pages, as for vmtrack_dset_collect_extents()
 * @n:		number of extents
 *
 * For an epoch whose pages are handed out in batches as a sweep finds
 * them: its first call is vmtrack_dset_collect_extents() with none, then
 * each batch adds its pages to each range's counters (last, total).
 *
 * Return: the number of pages in @ext, or -EINVAL if an extent leaves the
 * tracked ranges (nothing is counted then).
 */
int64_t vmtrack_dset_count_extents(struct vmtrack_dset *ds, const struct iovec *ext, size_t n)
{
	struct dset_range *r, *r_end = ds->r + ds->nr;
	int64_t pages = extents_found(ds, ext, n);

	if (pages < 0)
		return pages;
	for (r = ds->r; r < r_end; r++) {
		r->last += r->found >> ds->shift;
		r->total += r->found >> ds->shift;
	}
	return pages;
}

/**
 * vmtrack_dset_take_dirty() - move the dirty bits out into a set of their own
 * @ds:	the set; keeps its ranges, labels and history, all pages clean
 *
 * Used by the tracker to set bits again by address once the ranges they were
 * set in have changed. Only ranges with dirty pages get new bitmaps.
 *
 * Return: a set with the dirty ranges of @ds and their bits (free it with
 * vmtrack_dset_free()), or NULL (out of memory; @ds is unchanged then).
 */
struct vmtrack_dset *vmtrack_dset_take_dirty(struct vmtrack_dset *ds)
{
	struct vmtrack_dset *out = vmtrack_dset_new(ds->page_size);
	size_t i, k, n = 0;

	if (!out)
		return NULL;
	for (i = 0; i < ds->nr; i++)
		n += !!ds->r[i].ndirty;
	/* every new bitmap first: a failure leaves @ds as it was */
	if (dset_reserve(out, n))
		goto nomem;
	for (i = 0; i < ds->nr; i++) {
		struct dset_range *r = &ds->r[i], *o = &out->r[out->nr];

		if (!r->ndirty)
			continue;
		memset(o, 0, sizeof(*o));
		out->nr++;
		if (range_alloc_bits(o, range_pages(ds, r)))
			goto nomem;
		o->start = r->start;
		o->end = r->end;
	}
	for (i = 0, k = 0; i < ds->nr; i++) {
		struct dset_range *r = &ds->r[i];

		if (!r->ndirty)
			continue;
		swap(out->r[k].bits, r->bits);
		swap(out->r[k].sum, r->sum);
		swap(out->r[k].ndirty, r->ndirty);
		k++;
	}
	return out;
nomem:
	vmtrack_dset_free(out);
	return NULL;
}

/**
 * vmtrack_dset_take_epoch() - end an epoch: move its dirty pages into a set of their own
 * @ds:	the set; keeps its ranges, all pages clean, each range's counters
 *	(last, total) updated as vmtrack_dset_collect() does
 *
 * For an epoch handed out in batches (vmtrack_dset_collect_batch()): the
 * pages written meanwhile are set in @ds again, apart from those still to
 * be handed out.
 *
 * Return: the set of the epoch's dirty pages, or NULL (out of memory; @ds
 * is unchanged then).
 */
struct vmtrack_dset *vmtrack_dset_take_epoch(struct vmtrack_dset *ds)
{
	struct vmtrack_dset *out = vmtrack_dset_take_dirty(ds);
	size_t i, k = 0;

	if (!out)
		return NULL;
	for (i = 0; i < ds->nr; i++) {
		struct dset_range *r = &ds->r[i];

		r->last = 0;
		if (k < out->nr && out->r[k].start == r->start)
			r->last = out->r[k++].ndirty;
		r->total += r->last;
	}
	return out;
}

/* clear the page bits of a run [@from, @to), all set, and the summary bits of emptied words */
static void range_clear_run(struct dset_range *r, uint64_t from, uint64_t to)
{
	uint64_t w;

	bits_clear(r->bits, from, to);
	for (w = from / BITS_PER_LONG; w <= (to - 1) / BITS_PER_LONG; w++)
		if (!r->bits[w])
			r->sum[w / BITS_PER_LONG] &= ~(1UL << (w % BITS_PER_LONG));
	r->ndirty -= to - from;
}

/**
 * vmtrack_dset_collect_batch() - take the next dirty pages out of the set, up to @max ranges
 * @ds:		the set, from vmtrack_dset_take_epoch(): nothing else changes it
 * @iov:	array to fill, as vmtrack_dset_dirty_iov()
 * @alloc:	allocated entries of *@iov, updated; at most @max are used
 * @max:	most iovecs to return, at least 1
 *
 * The dirty pages in address order, coalesced as vmtrack_dset_dirty_iov()
 * does, from where the last call stopped; their bits are cleared.
 *
 * Return: the number of iovecs (0: none left), or -ENOMEM (the set is
 * unchanged then).
 */
ssize_t vmtrack_dset_collect_batch(struct vmtrack_dset *ds, struct iovec **iov, size_t *alloc,
				   size_t max)
{
	size_t n = 0;

	/* room first: a bit once cleared must reach the caller */
	while (*alloc < max)
		if (GROW_ARRAY(*iov, *alloc, *alloc, 64))
			return -ENOMEM;

	for (; ds->batch_range < ds->nr; ds->batch_range++, ds->batch_page = 0) {
		struct dset_range *r = &ds->r[ds->batch_range];
		uint64_t np = range_pages(ds, r), s, e, start;

		while (r->ndirty) {
			s = range_next_dirty(r, ds->batch_page, np);
			if (s >= np)
				break;
			e = bits_next(r->bits, s, np, false);
			start = r->start + (s << ds->shift);
			/* full, unless the run extends the last iovec */
			if (n == max && (uintptr_t)(*iov)[n - 1].iov_base +
			    (*iov)[n - 1].iov_len != start)
				return n;
			vmtrack_iov_push(iov, alloc, &n, start, r->start + (e << ds->shift));
			range_clear_run(r, s, e);
			ds->batch_page = e;
		}
	}
	return n;
}

/**
 * vmtrack_dset_merge_dirty() - set the dirty pages of one set in another
 * @ds:		the set to mark
 * @from:	the set whose dirty pages are marked in @ds, not changed
 *
 * Pages outside every range of @ds are left out. Allocates nothing.
 */
void vmtrack_dset_merge_dirty(struct vmtrack_dset *ds, const struct vmtrack_dset *from)
{
	size_t i;

	for (i = 0; i < from->nr; i++) {
		const struct dset_range *r = &from->r[i];
		uint64_t np = range_pages(from, r), s, e = 0;

		while (r->ndirty && (s = range_next_dirty(r, e, np)) < np) {
			e = bits_next(r->bits, s, np, false);
			vmtrack_dset_set_dirty(ds, r->start + (s << from->shift),
					       r->start + (e << from->shift), NULL);
		}
	}
}

/**
 * vmtrack_dset_ranges_iov() - all tracked ranges as iovecs
 * @ds:		the set
 * @iov:	array to fill, grown with realloc() as needed
 * @alloc:	allocated entries of *@iov, updated
 *
 * Adjacent ranges are coalesced. Used to unwatch everything.
 *
 * Return: the number of iovecs, or -ENOMEM.
 */
ssize_t vmtrack_dset_ranges_iov(const struct vmtrack_dset *ds, struct iovec **iov,
				size_t *alloc)
{
	size_t i, n = 0;

	for (i = 0; i < ds->nr; i++)
		if (vmtrack_iov_push(iov, alloc, &n, ds->r[i].start, ds->r[i].end))
			return -ENOMEM;
	return n;
}
