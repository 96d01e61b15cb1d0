// SPDX-License-Identifier: LGPL-2.1
/*
 * Recovery after a loss. In watched VMAs the kernel keeps the soft-dirty
 * bit as "written since armed" (Documentation/admin-guide/mm/watch.rst,
 * "Recovering from a loss"), so the pages that lost events named are found
 * in the target's page tables with PAGEMAP_SCAN, instead of taking every
 * watched page as dirty.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "internal.h"
#include "pagemap-scan.h"

#define PM_SOFT_DIRTY		(1ULL << 55)
#define SWEEP_CATEGORIES	(PAGE_IS_FILE | PAGE_IS_PRESENT | PAGE_IS_SWAPPED | \
				 PAGE_IS_PFNZERO | PAGE_IS_SOFT_DIRTY)
#define SWEEP_REGIONS		512
/*
 * Most regions one call returns when they are kept as extents. The kernel
 * walks in steps of 512 regions either way, but each call has its own
 * setup: at 26215 written ranges of 1 GiB, calls of 4096 regions took
 * medians of 11.3-17.8 ms against 14.1-21.2 ms for calls of 512 (six
 * rounds, two vCPUs under TCG; bench/README.md, Findings).
 */
#define SWEEP_VEC_MAX		4096

/*
 * Can a page of this category have changed since its last arm? Yes if it
 * was written (soft-dirty), and wherever a lost zap, unmap or move may have
 * changed it without a write: an empty entry, the zero page, or the page
 * cache that a read fault maps after the private copy is gone.
 */
static bool category_dirty(uint64_t cat)
{
	if (cat & PAGE_IS_SOFT_DIRTY)
		return true;
	if (!(cat & (PAGE_IS_PRESENT | PAGE_IS_SWAPPED)))
		return true;
	return cat & (PAGE_IS_FILE | PAGE_IS_PFNZERO);
}

/*
 * Does this kernel keep soft-dirty bits at all? A new private mapping reads
 * as soft-dirty after a write only with CONFIG_MEM_SOFT_DIRTY; without it,
 * every entry would read as not written. The answer does not change: probe
 * once.
 */
static bool have_soft_dirty(void)
{
	static int known = -1;
	long ps = sysconf(_SC_PAGESIZE);
	uint64_t entry = 0;
	char *p;
	int fd;

	if (known >= 0)
		return known;
	known = 0;
	p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return false;
	p[0] = 1;
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (pread(fd, &entry, sizeof(entry), (uintptr_t)p / ps * sizeof(entry)) ==
		    sizeof(entry))
			known = !!(entry & PM_SOFT_DIRTY);
		close(fd);
	}
	munmap(p, ps);
	return known;
}

/**
 * vmtrack_sweep_open() - open what a sweep of a process reads
 * @pid:	the target
 *
 * Return: a file descriptor of its pagemap, or -errno: -EOPNOTSUPP when the
 * kernel keeps no soft-dirty bits.
 */
int vmtrack_sweep_open(pid_t pid)
{
	char path[64];
	int fd;

	if (!have_soft_dirty())
		return -EOPNOTSUPP;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static void scan_arg_init(struct pm_scan_arg *arg, uint64_t start, uint64_t end,
			  struct page_region *vec, size_t vec_len)
{
	memset(arg, 0, sizeof(*arg));
	arg->size = sizeof(*arg);
	arg->start = start;
	arg->end = end;
	arg->vec = (uintptr_t)vec;
	arg->vec_len = vec_len;
}

enum sweep_kind {
	SWEEP_CHANGED,		/* every entry that may have changed */
	SWEEP_WRITTEN,		/* the soft-dirty ones */
	SWEEP_REARM,		/* the written ones, armed again by the kernel */
};

/*
 * Where a sweep puts what it finds: marked in @ds, or, with @iov set,
 * appended to *@iov as extents (the set is only read).
 */
struct sweep_out {
	struct vmtrack_dset	*ds;
	struct iovec		**iov;
	size_t			*alloc;
	size_t			*nr;
	uint64_t		pages;
	/* of them, those not written: may have changed without a write */
	uint64_t		unwritten;
};

static void sweep_mark_regions(struct sweep_out *out, const struct page_region *regions,
			       long nr, enum sweep_kind kind)
{
	uint64_t cat, n;
	long i;

	for (i = 0; i < nr; i++) {
		cat = regions[i].categories;
		if (kind != SWEEP_REARM && !category_dirty(cat))
			continue;
		n = vmtrack_dset_set_dirty(out->ds, regions[i].start, regions[i].end, NULL);
		out->pages += n;
		if (kind == SWEEP_CHANGED && !(cat & PAGE_IS_SOFT_DIRTY))
			out->unwritten += n;
	}
}

/*
 * Room for up to @want regions in the unused tail of the extent array,
 * where the kernel writes them and sweep_append_regions() turns them into
 * extents in place: the array, which holds the result anyway, is the only
 * buffer. It grows by copying the entries in use only, not with realloc(),
 * which copies the whole old allocation: the tail stays untouched until the
 * kernel writes regions there, so a large vector costs no memory of its own.
 */
static struct page_region *tail_regions(struct sweep_out *out, size_t want)
{
	size_t n = *out->nr, alloc = *out->alloc ? *out->alloc : SWEEP_REGIONS;
	size_t need = (want * sizeof(struct page_region) + sizeof(struct iovec) - 1) /
		      sizeof(struct iovec);
	struct iovec *iov;

	while (alloc - n < need)
		alloc *= 2;
	if (alloc != *out->alloc) {
		iov = malloc(alloc * sizeof(*iov));
		if (!iov)
			return NULL;
		if (n)
			memcpy(iov, *out->iov, n * sizeof(*iov));
		free(*out->iov);
		*out->iov = iov;
		*out->alloc = alloc;
	}
	return (struct page_region *)(*out->iov + n);
}

/*
 * Append the regions of one call, found in the array's tail, as extents.
 * An extent (16 bytes) is smaller than a region (24), so extent i never
 * reaches region i + 1; region i is read whole before it may be written
 * over. A call merges the regions that touch; only its first may touch
 * the last of the call before.
 */
static void sweep_append_regions(struct sweep_out *out, const struct page_region *regions,
				 long nr)
{
	struct iovec *iov = *out->iov;
	size_t n = *out->nr;
	struct page_region r;
	uint64_t bytes = 0;
	long i;

	for (i = 0; i < nr; i++) {
		memcpy(&r, &regions[i], sizeof(r));
		bytes += r.end - r.start;
		if (n && (uintptr_t)iov[n - 1].iov_base + iov[n - 1].iov_len == r.start) {
			iov[n - 1].iov_len += r.end - r.start;
			continue;
		}
		iov[n].iov_base = (void *)(uintptr_t)r.start;
		iov[n].iov_len = r.end - r.start;
		n++;
	}
	*out->nr = n;
	out->pages += bytes / vmtrack_dset_page_size(out->ds);
}

/*
 * What a sweep of @kind asks. Written pages are selected by the kernel:
 * asking for no other category spares it a look at each page and merges
 * the regions.
 */
static void scan_arg_kind(struct pm_scan_arg *arg, enum sweep_kind kind)
{
	switch (kind) {
	case SWEEP_CHANGED:
		arg->return_mask = SWEEP_CATEGORIES;
		break;
	case SWEEP_WRITTEN:
		arg->category_mask = arg->return_mask = PAGE_IS_SOFT_DIRTY;
		break;
	case SWEEP_REARM:
		/*
		 * Watched VMAs only: a tracked range may hold a VMA the
		 * target registered for WP_ASYNC, whose pages are not ours
		 * to write-protect.
		 */
		arg->flags = PM_SCAN_WP_MATCHING;
		arg->category_mask = PAGE_IS_WRITTEN | PAGE_IS_WATCHED;
		arg->return_mask = PAGE_IS_WRITTEN;
		break;
	}
}

/*
 * One call that keeps extents: up to @want regions from *@start on, written
 * by the kernel into the array's tail and appended as extents. Moves
 * *@start to where the walk stopped.
 */
static int scan_extents(int fd, uint64_t *start, uint64_t end, enum sweep_kind kind,
			size_t want, struct sweep_out *out)
{
	struct page_region *regions = tail_regions(out, want);
	struct pm_scan_arg arg;
	long nr;

	if (!regions)
		return -ENOMEM;
	scan_arg_init(&arg, *start, end, regions, want);
	scan_arg_kind(&arg, kind);
	nr = ioctl(fd, PAGEMAP_SCAN, &arg);
	if (nr < 0)
		return -errno;
	sweep_append_regions(out, regions, nr);
	/* Unmapped parts are skipped, and left to the rescan. */
	if (arg.walk_end <= *start)
		return -EIO;
	*start = arg.walk_end;
	return 0;
}

/*
 * Put out the regions of [@start, @end) that may have changed: for
 * SWEEP_WRITTEN only those whose soft-dirty bit is set, which the kernel
 * selects itself; for SWEEP_REARM the same pages as PAGE_IS_WRITTEN, which
 * the kernel write-protects in the same walk; else also those
 * category_dirty() names.
 */
static int sweep_range(int fd, uint64_t start, uint64_t end, enum sweep_kind kind,
		       struct sweep_out *out)
{
	struct page_region regions[SWEEP_REGIONS];
	struct pm_scan_arg arg;
	long nr;
	int ret;

	while (start < end) {
		/* only SWEEP_REARM keeps extents: every region is written */
		if (out->iov) {
			ret = scan_extents(fd, &start, end, kind, SWEEP_VEC_MAX, out);
			if (ret)
				return ret;
			continue;
		}
		scan_arg_init(&arg, start, end, regions, SWEEP_REGIONS);
		scan_arg_kind(&arg, kind);
		nr = ioctl(fd, PAGEMAP_SCAN, &arg);
		if (nr < 0)
			return -errno;
		sweep_mark_regions(out, regions, nr, kind);
		/* Unmapped parts are skipped, and left to the rescan. */
		if (arg.walk_end <= start)
			return -EIO;
		start = arg.walk_end;
	}
	return 0;
}

static int sweep(int fd, enum sweep_kind kind, struct sweep_out *out)
{
	struct iovec *iov = NULL;
	size_t alloc = 0;
	ssize_t n, i;
	int ret = 0;

	n = vmtrack_dset_ranges_iov(out->ds, &iov, &alloc);
	if (n < 0)
		return (int)n;
	for (i = 0; i < n && !ret; i++)
		ret = sweep_range(fd, (uintptr_t)iov[i].iov_base,
				  (uintptr_t)iov[i].iov_base + iov[i].iov_len, kind, out);
	free(iov);
	return ret;
}

/* a sweep that marks what it finds in @ds; @unwritten may be NULL */
static int sweep_mark(int fd, struct vmtrack_dset *ds, enum sweep_kind kind, uint64_t *pages,
		      uint64_t *unwritten)
{
	struct sweep_out out = { .ds = ds };
	int ret = sweep(fd, kind, &out);

	*pages = out.pages;
	if (unwritten)
		*unwritten = out.unwritten;
	return ret;
}

/**
 * vmtrack_sweep() - mark the pages of a set that may have changed since their last arm
 * @fd:		from vmtrack_sweep_open()
 * @ds:		the set: every tracked range is swept
 * @pages:	set to the number of tracked pages it reports dirty
 * @unwritten:	set to how many of them are not written (soft-dirty) but may
 *		have changed otherwise: empty entries, the zero page, page cache
 *
 * For an epoch that lost events: the pages written since their last arm,
 * and those a lost zap, unmap or move may have changed.
 *
 * Return: 0, or -errno (the set may be marked in part: the caller then
 * takes every page as dirty).
 */
int vmtrack_sweep(int fd, struct vmtrack_dset *ds, uint64_t *pages, uint64_t *unwritten)
{
	return sweep_mark(fd, ds, SWEEP_CHANGED, pages, unwritten);
}

/**
 * vmtrack_sweep_written() - mark the pages of a set written since their last arm
 * @fd:		from vmtrack_sweep_open()
 * @ds:		the set: every tracked range is swept
 * @pages:	set to the number of tracked pages it reports dirty
 *
 * For a dense epoch, which lost no event but the write faults it did not
 * record: only the soft-dirty entries, as the zaps, unmaps and moves were
 * all read.
 *
 * Return: 0, or -errno, as vmtrack_sweep().
 */
int vmtrack_sweep_written(int fd, struct vmtrack_dset *ds, uint64_t *pages)
{
	return sweep_mark(fd, ds, SWEEP_WRITTEN, pages, NULL);
}

/**
 * vmtrack_sweep_written_extents() - the soft-dirty extents of a range
 * @fd:		from vmtrack_sweep_open()
 * @ds:		the set, for its page size (not changed)
 * @start:	first address
 * @end:	end address, exclusive
 * @iov:	extents, appended to
 * @alloc:	allocated size of *@iov
 * @nr:		entries in use
 *
 * For the mappings a session leaves out, which no epoch sweeps. Outside a
 * watched VMA the bit says written since the process began (or since
 * clear_refs).
 *
 * Return: 0, or -errno.
 */
int vmtrack_sweep_written_extents(int fd, const struct vmtrack_dset *ds, uint64_t start,
				  uint64_t end, struct iovec **iov, size_t *alloc, size_t *nr)
{
	struct sweep_out out = {
		.ds = (struct vmtrack_dset *)ds, .iov = iov, .alloc = alloc, .nr = nr,
	};
	int ret;

	while (start < end) {
		ret = scan_extents(fd, &start, end, SWEEP_WRITTEN, SWEEP_REGIONS, &out);
		if (ret)
			return ret;
	}
	return 0;
}

/**
 * vmtrack_sweep_can_rearm() - does PAGEMAP_SCAN arm watched pages again?
 * @fd:		from vmtrack_sweep_open()
 * @ds:		the tracked ranges
 *
 * A kernel that write-protects the written pages of watched VMAs under
 * PM_SCAN_WP_MATCHING does so for a scan that requires PAGE_IS_WATCHED,
 * and reports them PAGE_IS_WPALLOWED to it; an older one refuses the
 * category, and one without soft-dirty bits reports no VMA watched. Asks
 * for one watched page of the first tracked range that has one, without
 * changing anything.
 *
 * Return: 1 if it does, 0 if not, -1 if it cannot tell yet (no tracked
 * range, an error).
 */
int vmtrack_sweep_can_rearm(int fd, const struct vmtrack_dset *ds)
{
	struct page_region region;
	struct pm_scan_arg arg;
	struct vmtrack_range_info info;
	size_t i, n = vmtrack_dset_nr_ranges(ds);
	long nr;

	for (i = 0; i < n; i++) {
		if (vmtrack_dset_range(ds, i, &info))
			return -1;
		scan_arg_init(&arg, info.start, info.end, &region, 1);
		arg.max_pages = 1;
		arg.category_mask = arg.return_mask = PAGE_IS_WPALLOWED | PAGE_IS_WATCHED;
		nr = ioctl(fd, PAGEMAP_SCAN, &arg);
		if (nr < 0)
			return errno == EINVAL ? 0 : -1;
		if (nr)
			return 1;
	}
	return n ? 0 : -1;
}

/**
 * vmtrack_sweep_rearm() - mark the pages written since their last arm, and arm them
 * @fd:		from vmtrack_sweep_open(), on a kernel vmtrack_sweep_can_rearm()
 * @ds:		the set: every tracked range is swept
 * @pages:	set to the number of tracked pages it reports dirty
 *
 * vmtrack_sweep_written() and the re-arm of the pages it finds in one walk
 * of the page tables. Unwatched VMAs in the tracked ranges are skipped.
 *
 * Return: 0, or -errno: then pages may have been armed again and not
 * marked, and the caller takes every page as dirty.
 */
int vmtrack_sweep_rearm(int fd, struct vmtrack_dset *ds, uint64_t *pages)
{
	return sweep_mark(fd, ds, SWEEP_REARM, pages, NULL);
}

/**
 * vmtrack_sweep_rearm_extents() - vmtrack_sweep_rearm(), the pages kept as found
 * @fd:		from vmtrack_sweep_open(), on a kernel vmtrack_sweep_can_rearm()
 * @ds:		the tracked ranges, all swept; not changed
 * @iov:	the written pages, appended as sorted extents (coalesced), for
 *		vmtrack_dset_collect_extents(); grown with realloc() as needed
 * @alloc:	allocated entries of *@iov, updated
 * @nr:		entries of *@iov in use, updated
 * @pages:	set to the number of pages appended
 *
 * Return: 0, or -errno, as vmtrack_sweep_rearm().
 */
int vmtrack_sweep_rearm_extents(int fd, struct vmtrack_dset *ds, struct iovec **iov,
				size_t *alloc, size_t *nr, uint64_t *pages)
{
	struct sweep_out out = { .ds = ds, .iov = iov, .alloc = alloc, .nr = nr };
	int ret = sweep(fd, SWEEP_REARM, &out);

	*pages = out.pages;
	return ret;
}

/* the first tracked page at or after @from, or UINT64_MAX; @end: the end of its range */
static uint64_t next_tracked(const struct vmtrack_dset *ds, uint64_t from, uint64_t *end)
{
	struct vmtrack_range_info info;
	size_t i, n = vmtrack_dset_nr_ranges(ds);

	for (i = 0; i < n; i++) {
		if (vmtrack_dset_range(ds, i, &info))
			break;
		if (info.end > from) {
			*end = info.end;
			return max(from, info.start);
		}
	}
	return UINT64_MAX;
}

/**
 * vmtrack_sweep_rearm_next() - the next written pages of a set, armed again, up to @max extents
 * @fd:		from vmtrack_sweep_open(), on a kernel vmtrack_sweep_can_rearm()
 * @ds:		the tracked ranges; not changed
 * @from:	where to go on: the first call of an epoch passes 0; updated,
 *		UINT64_MAX once every tracked range was swept
 * @max:	most extents in *@iov, at least 1
 * @iov:	the written pages found, as sorted extents from the first entry
 *		on; grown with realloc() as needed
 * @alloc:	allocated entries of *@iov, updated
 * @nr:		set to the entries of *@iov in use
 * @pages:	set to the number of pages in them
 *
 * vmtrack_sweep_rearm_extents() a part at a time, for an epoch handed out
 * in batches: the kernel arms only the pages it returns, so the pages
 * after *@from are still written and unarmed, and found by the next call.
 *
 * Return: 0, or -errno: then pages may have been armed again and not
 * returned.
 */
int vmtrack_sweep_rearm_next(int fd, const struct vmtrack_dset *ds, uint64_t *from, size_t max,
			     struct iovec **iov, size_t *alloc, size_t *nr, uint64_t *pages)
{
	struct sweep_out out = { .iov = iov, .alloc = alloc, .nr = nr };
	uint64_t start, end;
	int ret;

	out.ds = (struct vmtrack_dset *)ds;
	*nr = 0;
	while (*nr < max && (start = next_tracked(ds, *from, &end)) != UINT64_MAX) {
		ret = scan_extents(fd, &start, end, SWEEP_REARM,
				   min(max - *nr, (size_t)SWEEP_VEC_MAX), &out);
		if (ret)
			return ret;
		*from = start;
	}
	if (*nr < max)
		*from = UINT64_MAX;
	*pages = out.pages;
	return 0;
}
