// SPDX-License-Identifier: LGPL-2.1
/*
 * The tracker: applies decoded events and observation gaps to the dirty set
 * of one mm, and turns them into the result of an epoch. No I/O here but the
 * sweep after a loss, when the session opened one, so the unit tests can
 * drive it.
 */
#include <errno.h>
#include <string.h>

#include "grow.h"
#include "internal.h"

/**
 * vmtrack_tracker_init() - set up a tracker
 * @t:		the tracker
 * @ds:		the dirty set it updates (owned by the caller)
 * @tgid:	the watched process
 */
void vmtrack_tracker_init(struct vmtrack_tracker *t, struct vmtrack_dset *ds, pid_t tgid)
{
	memset(t, 0, sizeof(*t));
	t->ds = ds;
	t->tgid = tgid;
	t->sweep_fd = -1;
}

/**
 * vmtrack_tracker_loss() - record a gap in observation
 * @t:		the tracker
 * @reason:	enum vmtrack_loss bits
 * @lost:	number of lost events (UINT64_MAX: unknown), added up
 *
 * The next collect reports every watched page dirty.
 */
void vmtrack_tracker_loss(struct vmtrack_tracker *t, unsigned int reason, uint64_t lost)
{
	t->loss |= reason;
	t->lost = lost > UINT64_MAX - t->lost ? UINT64_MAX : t->lost + lost;
}

/*
 * Account for the kernel's number of an event of the mm. The numbers of
 * one mm are unique; each CPU's buffer holds them in increasing order, but
 * an event numbered on one CPU may be recorded after a higher number on
 * another, so a number missing at a collect may still come: it counts as
 * lost only if it is still missing at the next collect (see
 * settle_numbers()). A re-arm carries the number before it.
 */
static void count_seq(struct vmtrack_tracker *t, uint64_t n)
{
	if (!n)
		return;
	if (!t->num.started) {
		t->num.started = true;
		t->num.base = n - 1;
		t->num.max = n;
		t->num.seen = 1;
	} else if (n > t->num.base) {
		if (t->num.resync) {
			t->num.base = n - 1;
			t->num.resync = false;
		}
		t->num.seen++;
		t->num.max = max(t->num.max, n);
	} else if (!t->seq) {
		/* first epoch: the numbers start at the lowest one read */
		t->num.base = n - 1;
		t->num.seen++;
	} else if (n > t->num.floor && t->num.open) {
		t->num.open--;
	}
}

static void count_number(struct vmtrack_tracker *t, const struct vmtrack_event *ev)
{
	if (ev->kind != VMTRACK_EV_MARK || !ev->arg)
		count_seq(t, ev->mm_seq);
}

/*
 * At a collect: numbers missing since the last collect are lost now; those
 * missing from this epoch only may still come, unless the target is
 * stopped, or are the faults a dense epoch did not record. See
 * vmtrack_tracker_collect() for an epoch that recovers.
 *
 * The faults of a dense epoch that were not recorded may also lie above
 * the last number it read (a quiet epoch reads none): the count starts
 * again at the first number read after it. Every event numbered after
 * the write_fault event came back is recorded, so what lies below that
 * number is those faults or events still to come from another CPU; a
 * loss in the buffers shows in their stats. A change of the instance
 * meanwhile (the event off and on again between two epochs, which
 * check_instance() cannot see) makes the session sweep as after a loss
 * (sweep_wide) until that number comes.
 */
static void settle_numbers(struct vmtrack_tracker *t)
{
	uint64_t window = t->num.max - t->num.base;
	uint64_t open = window > t->num.seen ? window - t->num.seen : 0;
	uint64_t lost = t->num.open;

	if (t->sweep_written) {
		open = 0;
		t->num.resync = true;
	} else if (t->stopped || t->mm_gone) {
		lost += open;
		open = 0;
	}
	if (lost)
		vmtrack_tracker_loss(t, VMTRACK_LOSS_SEQ, lost);
	t->num.open = open;
	t->num.floor = t->num.base;
	t->num.base = t->num.max;
	t->num.seen = 0;
}

/* dirty [@start, @end); returns the pages outside every range */
static uint64_t dirty_range(struct vmtrack_tracker *t, uint64_t start, uint64_t end)
{
	uint64_t uncovered = 0;

	if (end < start)
		end = UINT64_MAX;
	vmtrack_dset_set_dirty(t->ds, start, end, &uncovered);
	/* the kernel says it is watched: in watch-all mode, track it */
	if (uncovered && t->fill_stray && vmtrack_dset_fill_stray(t->ds, start, end) < 0)
		vmtrack_tracker_loss(t, VMTRACK_LOSS_EVENTS, 0);
	return uncovered;
}

static void mark_dirty(struct vmtrack_tracker *t, uint64_t start, uint64_t end,
		       struct vmtrack_epoch *ep)
{
	ep->stray_pages += dirty_range(t, start, end);
}

/* the range an event dirties, if it only dirties pages */
static bool event_dirties(const struct vmtrack_event *ev, uint64_t *start, uint64_t *end)
{
	switch (ev->kind) {
	case VMTRACK_EV_WRITE_FAULT:
	case VMTRACK_EV_PINNED:
		*start = ev->a;
		*end = ev->a + ev->b;
		return true;
	case VMTRACK_EV_ZAP:
	case VMTRACK_EV_UNMARK:
		*start = ev->a;
		*end = ev->b;
		return true;
	}
	return false;
}

/* an event of the watched mm, known and not gone: it may be applied early */
static bool known_mm(const struct vmtrack_tracker *t, uint64_t mm_id, int32_t tgid)
{
	return t->mm_known && !t->mm_gone && tgid == t->tgid && mm_id == t->mm_id;
}

/*
 * An event of another mm, once the watched one is known: the instance's
 * write_fault event may be unfiltered (see filter_faults() in session.c),
 * and such an event is dropped as it is decoded instead of kept for the sort.
 */
static bool drop_foreign(struct vmtrack_tracker *t, uint64_t mm_id, int32_t tgid)
{
	if (!t->mm_known || (tgid == t->tgid && mm_id == t->mm_id))
		return false;
	t->early_foreign++;
	return true;
}

/**
 * vmtrack_tracker_early() - apply an event as it is decoded, if it may be
 * @t:		the tracker
 * @ev:		the event
 *
 * Most events of an epoch are write faults, and the order of the events
 * that only dirty pages (write_fault, pinned, zap, unmark) matters only
 * against an unmap or a move of the same pages: a write after the unmap of
 * its page is a write to a new mapping there. Such an event of the known
 * mm is applied to the dirty set now, on pages it tracks (in watch-all mode
 * on any page), instead of being kept for the sort: the consumer's memory
 * is then the bitmap plus the other events, whatever the number of faults.
 * vmtrack_tracker_apply_all() sets the bits again after the unmaps and
 * moves of the epoch.
 *
 * Return: true if @ev was applied, or dropped as another mm's; false if the
 * caller keeps it for vmtrack_tracker_apply_all().
 */
bool vmtrack_tracker_early(struct vmtrack_tracker *t, const struct vmtrack_event *ev)
{
	uint64_t start, end, uncovered;

	if (!known_mm(t, ev->mm_id, ev->tgid))
		return drop_foreign(t, ev->mm_id, ev->tgid);
	if (!event_dirties(ev, &start, &end))
		return false;
	uncovered = dirty_range(t, start, end);
	/* outside explicit ranges: a move of this epoch may bring it in */
	if (uncovered && !t->fill_stray)
		return false;
	count_number(t, ev);
	t->early_stray += uncovered;
	t->early_events++;
	return true;
}

/**
 * vmtrack_tracker_early_page() - vmtrack_tracker_early() for a one-page write fault
 * @tracker:	the tracker
 * @mm_id:	the event's mm
 * @tgid:	its process
 * @mm_seq:	its number
 * @addr:	the page written
 *
 * The decoder's fast path (vmtrack_decoder_set_page_fn()) for most events
 * of an epoch: the same as vmtrack_tracker_early() on a write_fault of
 * one tracked page.
 *
 * Return: true if applied, or dropped as another mm's; false if the event
 * must be decoded in full.
 */
bool vmtrack_tracker_early_page(void *tracker, uint64_t mm_id, int32_t tgid, uint64_t mm_seq,
				uint64_t addr)
{
	struct vmtrack_tracker *t = tracker;

	if (!known_mm(t, mm_id, tgid))
		return drop_foreign(t, mm_id, tgid);
	if (!vmtrack_dset_set_page(t->ds, addr))
		return false;
	count_seq(t, mm_seq);
	t->early_events++;
	return true;
}

/* an unmap or a move of the watched mm among @ev */
static bool events_unmap(const struct vmtrack_tracker *t, const struct vmtrack_event *ev,
			 size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((ev[i].kind == VMTRACK_EV_UNMAP || ev[i].kind == VMTRACK_EV_MOVE) &&
		    ev[i].tgid == t->tgid && ev[i].mm_id == t->mm_id)
			return true;
	return false;
}

/* the bits set early, again, by address, once the unmaps and moves are applied */
static void redirty(struct vmtrack_tracker *t, struct vmtrack_dset *early)
{
	struct iovec *iov = NULL;
	size_t alloc = 0;
	ssize_t n, i;

	n = vmtrack_dset_collect(early, &iov, &alloc);
	if (n < 0)
		vmtrack_tracker_loss(t, VMTRACK_LOSS_EVENTS, 0);
	for (i = 0; i < n; i++)
		dirty_range(t, (uintptr_t)iov[i].iov_base,
			    (uintptr_t)iov[i].iov_base + iov[i].iov_len);
	free(iov);
}

/**
 * vmtrack_tracker_apply_all() - apply the events kept for the end of an epoch
 * @t:		the tracker
 * @ev:		the events vmtrack_tracker_early() did not apply, in timestamp order
 * @n:		their number
 * @ep:		counters of the epoch being built (the early events counted too)
 *
 * If the epoch unmapped or moved watched memory, the dirty bits set so far
 * (the early events') are taken out first and set again by address after
 * all of @ev: a page written and then unmapped is dirty only if something
 * is tracked there at the end (a new mapping, which a write after the unmap
 * was for), a superset of the order the timestamps tell.
 */
void vmtrack_tracker_apply_all(struct vmtrack_tracker *t, const struct vmtrack_event *ev,
			       size_t n, struct vmtrack_epoch *ep)
{
	struct vmtrack_dset *early = NULL;
	size_t i;

	ep->events += t->early_events;
	ep->stray_pages += t->early_stray;
	ep->foreign += t->early_foreign;
	if (t->early_events && events_unmap(t, ev, n)) {
		early = vmtrack_dset_take_dirty(t->ds);
		if (!early)
			vmtrack_tracker_loss(t, VMTRACK_LOSS_EVENTS, 0);
	}
	t->early_events = 0;
	t->early_stray = 0;
	t->early_foreign = 0;
	for (i = 0; i < n; i++)
		vmtrack_tracker_apply(t, &ev[i], ep);
	if (early) {
		redirty(t, early);
		vmtrack_dset_free(early);
	}
}

/* with @t->note_gone, remember [@start, @end) until the next rescan */
static void note_gone(struct vmtrack_tracker *t, uint64_t start, uint64_t end)
{
	struct iovec *last = t->nr_gone ? &t->gone[t->nr_gone - 1] : NULL;

	if (!t->note_gone || start >= end)
		return;
	if (last && (uintptr_t)last->iov_base + last->iov_len == start) {
		last->iov_len += end - start;
		return;
	}
	if (GROW_ARRAY(t->gone, t->gone_alloc, t->nr_gone, 16)) {
		/* a rescan that cannot tell new from old takes all for new */
		t->gone_unknown = true;
		return;
	}
	t->gone[t->nr_gone].iov_base = (void *)(uintptr_t)start;
	t->gone[t->nr_gone].iov_len = end - start;
	t->nr_gone++;
}

static int gone_cmp(const void *a, const void *b)
{
	const struct iovec *x = a, *y = b;

	return x->iov_base < y->iov_base ? -1 : x->iov_base > y->iov_base;
}

/**
 * vmtrack_tracker_gone_sort() - prepare the places gone for lookups
 * @t:		the tracker
 *
 * Sorts and merges them, for vmtrack_tracker_gone().
 */
void vmtrack_tracker_gone_sort(struct vmtrack_tracker *t)
{
	size_t i, n = 0;

	if (t->nr_gone < 2)
		return;
	qsort(t->gone, t->nr_gone, sizeof(*t->gone), gone_cmp);
	for (i = 1; i < t->nr_gone; i++) {
		struct iovec *last = &t->gone[n];
		uint64_t end = (uintptr_t)last->iov_base + last->iov_len;
		uint64_t start = (uintptr_t)t->gone[i].iov_base, to = start + t->gone[i].iov_len;

		if (start <= end)
			last->iov_len = max(end, to) - (uintptr_t)last->iov_base;
		else
			t->gone[++n] = t->gone[i];
	}
	t->nr_gone = n + 1;
}

/**
 * vmtrack_iov_after() - the first of a sorted list of extents past an address
 * @v:		extents, sorted, apart
 * @n:		their number
 * @addr:	the address
 *
 * Return: the index of the first extent that ends after @addr, or @n.
 */
size_t vmtrack_iov_after(const struct iovec *v, size_t n, uint64_t addr)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if ((uintptr_t)v[mid].iov_base + v[mid].iov_len <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/**
 * vmtrack_iov_overlaps() - does a sorted list of extents meet a range
 * @v:		extents, sorted, apart
 * @n:		their number
 * @start:	first address
 * @end:	end address, exclusive
 *
 * Return: true if one of them overlaps [@start, @end).
 */
bool vmtrack_iov_overlaps(const struct iovec *v, size_t n, uint64_t start, uint64_t end)
{
	size_t i = vmtrack_iov_after(v, n, start);

	return i < n && (uintptr_t)v[i].iov_base < end;
}

/**
 * vmtrack_tracker_gone() - was part of [@start, @end) unmapped or moved
 * @t:		the tracker, its places gone sorted (vmtrack_tracker_gone_sort())
 * @start:	first address
 * @end:	end address, exclusive
 *
 * Return: true if an unmap or move event since the last rescan touched
 * the range, or one could not be noted (with @t->note_gone; else false).
 */
bool vmtrack_tracker_gone(const struct vmtrack_tracker *t, uint64_t start, uint64_t end)
{
	return t->gone_unknown || vmtrack_iov_overlaps(t->gone, t->nr_gone, start, end);
}

/**
 * vmtrack_tracker_apply() - apply one event, in timestamp order
 * @t:		the tracker
 * @ev:		the event
 * @ep:		counters of the epoch being built (events, foreign, stray_pages)
 *
 * The mm is identified by the first event (the filter only lets events of the
 * watched tgid through; the first are the marks); events of other mms, or
 * after the mm's exit event, are counted as foreign and ignored.
 *
 * write_fault, pinned, zap and unmark dirty their range; move moves tracking
 * and dirties the new place; unmap drops the range; a re-arm (mark, arg 1)
 * before the first epoch means the range was watched before this consumer
 * (restart): everything is dirty then.
 */
void vmtrack_tracker_apply(struct vmtrack_tracker *t, const struct vmtrack_event *ev,
			   struct vmtrack_epoch *ep)
{
	if (ev->tgid != t->tgid || (t->mm_known && ev->mm_id != t->mm_id) || t->mm_gone) {
		ep->foreign++;
		return;
	}
	if (!t->mm_known) {
		t->mm_known = true;
		t->mm_id = ev->mm_id;
	}
	count_number(t, ev);
	ep->events++;
	switch (ev->kind) {
	case VMTRACK_EV_MARK:
		if (ev->arg && !t->seq && !t->restart_known)
			vmtrack_tracker_loss(t, VMTRACK_LOSS_RESTART, 0);
		break;
	case VMTRACK_EV_UNMARK:		/* unwatched behind our back; re-arm re-watches */
	case VMTRACK_EV_ZAP:
		mark_dirty(t, ev->a, ev->b, ep);
		break;
	case VMTRACK_EV_WRITE_FAULT:
	case VMTRACK_EV_PINNED:
		mark_dirty(t, ev->a, ev->a + ev->b, ep);
		break;
	case VMTRACK_EV_MOVE:
		note_gone(t, ev->a, ev->a + ev->c);
		note_gone(t, ev->b, ev->b + ev->c);
		if (t->fill_stray || vmtrack_dset_overlaps(t->ds, ev->a, ev->a + ev->c))
			if (vmtrack_dset_move(t->ds, ev->a, ev->b, ev->c) == -ENOMEM)
				vmtrack_tracker_loss(t, VMTRACK_LOSS_EVENTS, 0);
		break;
	case VMTRACK_EV_UNMAP:
		note_gone(t, ev->a, ev->b);
		if (vmtrack_dset_remove(t->ds, ev->a, ev->b))
			vmtrack_tracker_loss(t, VMTRACK_LOSS_EVENTS, 0);
		break;
	case VMTRACK_EV_EXIT:
		t->mm_gone = true;
		break;
	}
}

/*
 * After a loss, the pages written since their last arm are in the page
 * tables (vmtrack_sweep()). Not after a restart: an earlier consumer armed
 * those pages, and this one never copied them.
 */
static void recover(struct vmtrack_tracker *t, struct vmtrack_epoch *ep)
{
	/* a failed sweep_rearm() may have cleared bits no sweep finds again */
	if (t->sweep_fd >= 0 && !(t->loss & VMTRACK_LOSS_RESTART) && !t->swept_rearmed &&
	    !vmtrack_sweep(t->sweep_fd, t->ds, &ep->swept_pages, &t->swept_unwritten)) {
		ep->swept = true;
		return;
	}
	ep->swept_pages = 0;
	vmtrack_dset_all_dirty(t->ds);
	ep->all_dirty = true;
}

/*
 * The written pages of a dense epoch, armed again in the same walk: the
 * session then re-arms only the pages the other events made dirty, kept
 * in @t->rearm_iov. On a failure every page is dirty, and re-armed. When
 * no other event made a page dirty (the common case), the sweep's extents
 * are the epoch's dirty set as they are: collected without the bitmap
 * (@t->nr_extents of them in @t->iov).
 */
static int sweep_rearm(struct vmtrack_tracker *t, uint64_t *pages)
{
	ssize_t n;

	n = vmtrack_dset_dirty_iov(t->ds, &t->rearm_iov, &t->rearm_alloc);
	if (n < 0)
		return (int)n;
	t->nr_rearm = n;
	t->swept_rearmed = true;
	if (n)
		return vmtrack_sweep_rearm(t->sweep_fd, t->ds, pages);
	if (t->batched) {
		/* swept as the batches are taken: vmtrack_sweep_rearm_next() */
		t->sweep_batched = true;
		t->sweep_from = 0;
		*pages = 0;
		return 0;
	}
	return vmtrack_sweep_rearm_extents(t->sweep_fd, t->ds, &t->iov, &t->iov_alloc,
					   &t->nr_extents, pages);
}

/*
 * The dirty set of an epoch whose sweep kept its extents: collected as
 * they are, or, should the set disagree, marked and collected as usual.
 */
static ssize_t collect_extents(struct vmtrack_tracker *t, struct vmtrack_epoch *ep)
{
	int64_t pages = vmtrack_dset_collect_extents(t->ds, t->iov, t->nr_extents);
	size_t i;

	if (pages >= 0) {
		ep->dirty_pages = pages;
		return t->nr_extents;
	}
	for (i = 0; i < t->nr_extents; i++)
		vmtrack_dset_set_dirty(t->ds, (uintptr_t)t->iov[i].iov_base,
				       (uintptr_t)t->iov[i].iov_base + t->iov[i].iov_len, NULL);
	ep->dirty_pages = vmtrack_dset_dirty_pages(t->ds);
	return vmtrack_dset_collect(t->ds, &t->iov, &t->iov_alloc);
}

/**
 * vmtrack_tracker_sweep_rearms() - can a sweep of this target re-arm?
 * @t:		the tracker, with a sweep_fd
 *
 * Asks the kernel once (vmtrack_sweep_can_rearm()).
 *
 * Return: true if a sweep finds and re-arms the written pages in one walk.
 */
bool vmtrack_tracker_sweep_rearms(struct vmtrack_tracker *t)
{
	if (t->sweep_fd < 0)
		return false;
	if (!t->rearm_probed) {
		int ret = vmtrack_sweep_can_rearm(t->sweep_fd, t->ds);

		if (ret < 0)
			return false;
		t->rearm_ok = ret;
		t->rearm_probed = true;
	}
	return t->rearm_ok;
}

static bool can_sweep_rearm(struct vmtrack_tracker *t)
{
	return t->sweep_rearm && !t->sweep_wide && vmtrack_tracker_sweep_rearms(t);
}

/*
 * A dense epoch: its write faults were not all recorded, their pages are
 * the soft-dirty entries; every other event was read (a gap in the ring
 * buffers would be a loss). Unless the instance was written to: then
 * also the entries a lost event may have changed without a write.
 */
static void sweep_dense(struct vmtrack_tracker *t, struct vmtrack_epoch *ep)
{
	uint64_t pages;
	int ret;

	ep->dense = true;
	if (t->sweep_fd < 0)
		ret = -EBADF;
	else if (t->sweep_wide)
		ret = vmtrack_sweep(t->sweep_fd, t->ds, &pages, &t->swept_unwritten);
	else if (can_sweep_rearm(t))
		ret = sweep_rearm(t, &pages);
	else
		ret = vmtrack_sweep_written(t->sweep_fd, t->ds, &pages);
	if (ret)
		vmtrack_tracker_loss(t, VMTRACK_LOSS_EVENTS, 0);
}

/**
 * vmtrack_tracker_collect() - end an epoch: take the dirty set out
 * @t:		the tracker
 * @ep:		completed: seq, loss, all_dirty, lost_events, dirty pages and
 *		ranges (pointing into the tracker, valid until the next collect;
 *		none when @t->batched: they are in @t->batch), watched_pages,
 *		target_gone, dense
 *
 * Return: 0, or -ENOMEM.
 */
int vmtrack_tracker_collect(struct vmtrack_tracker *t, struct vmtrack_epoch *ep)
{
	ssize_t n;

	settle_numbers(t);
	t->swept_unwritten = 0;
	t->swept_rearmed = false;
	t->sweep_batched = false;
	t->nr_extents = 0;
	if ((t->sweep_written || t->sweep_wide) && !t->loss)
		sweep_dense(t, ep);
	if (t->loss) {
		recover(t, ep);
		/*
		 * Every page dirty covers every change numbered before it: the
		 * re-arm waits for them (page table lock, mmap lock). A sweep
		 * does not: a zap takes its number under the mmap read lock,
		 * as the sweep reads, before it empties the entries.
		 */
		if (ep->all_dirty)
			t->num.open = 0;
		/* every page is dirty: the session re-arms them all */
		t->swept_rearmed = false;
		t->nr_extents = 0;
		ep->loss = t->loss;
		ep->lost_events = t->lost;
		t->loss = 0;
		t->lost = 0;
	}
	ep->watched_pages = vmtrack_dset_watched_pages(t->ds);
	if (t->sweep_batched) {
		/* the set has no dirty page: the counters start from none */
		n = vmtrack_dset_collect_extents(t->ds, NULL, 0);
	} else if (t->batched) {
		ep->dirty_pages = vmtrack_dset_dirty_pages(t->ds);
		t->batch = vmtrack_dset_take_epoch(t->ds);
		n = t->batch ? 0 : -ENOMEM;
	} else if (t->nr_extents) {
		n = collect_extents(t, ep);
	} else {
		ep->dirty_pages = vmtrack_dset_dirty_pages(t->ds);
		n = vmtrack_dset_collect(t->ds, &t->iov, &t->iov_alloc);
	}
	if (n < 0)
		return -ENOMEM;
	ep->seq = ++t->seq;
	ep->target_gone |= t->mm_gone;
	ep->dirty = t->iov;
	ep->nr_dirty = n;
	return 0;
}
