// SPDX-License-Identifier: GPL-2.0
/*
 * Paths that can make a page table entry writable again without a write
 * fault, or that replace the page behind a watched address: swap-out and
 * swap-in on a read fault, KSM merge and unmerge, khugepaged and
 * MADV_COLLAPSE, NUMA balancing hinting faults, page migration and
 * userfaultfd. After each of them, every write to a watched page must
 * still produce an event; userfaultfd's installs are reported, and its
 * write-protection ends the watch of what it registers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <sys/syscall.h>
#include <linux/userfaultfd.h>

#include "../kselftest_harness.h"
#include "watch_util.h"

#ifndef MADV_MERGEABLE
#define MADV_MERGEABLE		12
#define MADV_UNMERGEABLE	13
#endif
#ifndef MPOL_MF_MOVE
#define MPOL_MF_MOVE		2
#endif

#define PMD_SIZE_2M		(2UL << 20)

static size_t ps;

FIXTURE(reclaim) {
	struct mmw_trace t;
	__u64 id;
	char *p;
	size_t len;
};

FIXTURE_SETUP(reclaim)
{
	ps = getpagesize();
	MMW_SKIP_WITHOUT_FEATURE(return);
	ASSERT_EQ(0, mmw_trace_init(&self->t, NULL, 2048));
	self->p = MAP_FAILED;
}

FIXTURE_TEARDOWN(reclaim)
{
	if (self->p != MAP_FAILED)
		munmap(self->p, self->len);
	mmw_restore_settings();
	mmw_swap_teardown();
	mmw_trace_fini(&self->t);
}

/* Fill with contents that differ per page (and are not zero). */
static void fill(char *p, size_t n, int seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		memset(p + i * ps, (int)((seed + i) % 250) + 1, ps);
}

static char *map_small(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p != MAP_FAILED)
		madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

/*
 * Change every page; all of them must be reported by the events recorded
 * since the trace was last cleared (the caller clears it before the arm).
 */
static void write_all_and_check(struct __test_metadata *_metadata,
				struct _test_data_reclaim *self, char *p, size_t n,
				const char *what)
{
	char *snap = mmw_snapshot(p, n * ps);
	size_t i;

	ASSERT_NE(NULL, snap);
	for (i = 0; i < n; i++)
		p[i * ps + 11] ^= 0xff;
	MMW_READ_OWN_EVENTS();
	MMW_EXPECT_ALL_REPORTED(snap, p, n * ps, what);
	free(snap);
}

/* MADV_PAGEOUT until pages are swapped; returns how many are. */
static size_t page_out(char *p, size_t n)
{
	int fd = mmw_open_pagemap(0), tries;
	size_t i, swapped = 0;

	for (tries = 0; tries < 5 && swapped < n; tries++) {
		madvise(p, n * ps, MADV_PAGEOUT);
		for (i = 0, swapped = 0; i < n; i++)
			swapped += !!(mmw_pagemap(fd, mmw_pg(p, i)) & PM_SWAP);
	}
	close(fd);
	return swapped;
}

/*
 * Swap on, and @n pages mapped and filled (@seed); NULL when the test is
 * skipped.
 */
static char *swap_map(struct __test_metadata *_metadata,
		      struct _test_data_reclaim *self, size_t n, int seed)
{
	char why[128];
	int ret;

	ret = mmw_swap_setup(why, sizeof(why));
	if (ret == KSFT_SKIP)
		SKIP(return NULL, "%s", why);
	ASSERT_EQ(0, ret);
	self->p = map_small(n * ps);
	self->len = n * ps;
	ASSERT_NE(MAP_FAILED, self->p);
	fill(self->p, n, seed);
	return self->p;
}

static void swap_test(struct __test_metadata *_metadata, struct _test_data_reclaim *self,
		      bool rearm_while_swapped, bool read_first)
{
	const size_t n = 32;
	char *p, *snap;
	size_t swapped;

	p = swap_map(_metadata, self, n, 7);
	if (!p)
		return;
	ASSERT_EQ(0, madvise(p, n * ps, MADV_WATCH));
	if (rearm_while_swapped)
		fill(p, n, 9);	/* writable and dirty in this epoch */
	snap = mmw_snapshot(p, n * ps);
	ASSERT_NE(NULL, snap);
	swapped = page_out(p, n);
	if (swapped < n / 2)
		SKIP(return, "MADV_PAGEOUT swapped out only %zu of %zu pages", swapped, n);
	TH_LOG("%zu of %zu pages swapped out", swapped, n);
	if (rearm_while_swapped) {
		ASSERT_EQ(0, mmw_trace_clear(&self->t));
		ASSERT_EQ(0, madvise(p, n * ps, MADV_WATCH));
	}
	if (read_first) {
		/* Swap-in on read faults: no write, no event, stays read-only. */
		mmw_read_pages(p, n);
		EXPECT_EQ(0, memcmp(p, snap, n * ps));
		MMW_READ_OWN_EVENTS();
		EXPECT_EQ(0, MMW_WRITE_FAULTS(0, ~0UL)) mmw_trace_dump(&self->t, 20);
	}
	write_all_and_check(_metadata, self, p, n, "after swap-in");
	if (!read_first)
		EXPECT_EQ(n, MMW_WRITE_FAULTS(mmw_pg(p, 0), mmw_pg(p, n)));
	free(snap);
}

TEST_F(reclaim, swap_in_read_fault)
{
	swap_test(_metadata, self, false, true);
}

TEST_F(reclaim, swap_in_write_fault)
{
	swap_test(_metadata, self, false, false);
}

TEST_F(reclaim, swap_rearm_while_swapped)
{
	swap_test(_metadata, self, true, true);
}

/*
 * A reference held on a page reclaim swaps out keeps its folio in the swap
 * cache, and its holder may write through it: the mark reports the
 * swapped-out entry pinned, and so does a re-arm while the reference is
 * held. An entry swapped out without one is not reported.
 */
TEST_F(reclaim, swapped_referenced_pinned)
{
	const size_t n = 4;
	struct iovec iov;
	int pfd[2];
	char *p;

	p = swap_map(_metadata, self, n, 3);
	if (!p)
		return;
	ASSERT_EQ(0, pipe(pfd));
	iov.iov_base = p + ps;
	iov.iov_len = ps;
	ASSERT_EQ(ps, vmsplice(pfd[1], &iov, 1, 0));
	if (page_out(p, 2) != 2)
		SKIP(return, "MADV_PAGEOUT did not swap the pages out");
	ASSERT_EQ(0, madvise(p, n * ps, MADV_WATCH));
	MMW_READ_OWN_EVENTS();
	EXPECT_EQ(1, mmw_count(&self->t, MMW_PINNED, self->id, mmw_pg(p, 1),
			       mmw_pg(p, 2))) mmw_trace_dump(&self->t, 20);
	EXPECT_EQ(1, mmw_count(&self->t, MMW_PINNED, self->id, 0, ~0UL));

	ASSERT_EQ(0, mmw_trace_clear(&self->t));
	ASSERT_EQ(0, madvise(p, n * ps, MADV_WATCH));
	MMW_READ_OWN_EVENTS();
	EXPECT_EQ(1, mmw_count(&self->t, MMW_PINNED, self->id, mmw_pg(p, 1),
			       mmw_pg(p, 2))) mmw_trace_dump(&self->t, 20);

	/* The reference gone, the page is no longer reported. */
	close(pfd[0]);
	close(pfd[1]);
	ASSERT_EQ(0, mmw_trace_clear(&self->t));
	ASSERT_EQ(0, madvise(p, n * ps, MADV_WATCH));
	MMW_READ_OWN_EVENTS();
	EXPECT_EQ(0, mmw_count(&self->t, MMW_PINNED, self->id, 0, ~0UL))
		mmw_trace_dump(&self->t, 20);
}

TEST_F_TIMEOUT(reclaim, ksm_merge_unmerge, 180)
{
	const size_t n = 32;
	char *p, *snap;
	long merged;
	size_t i;

	if (access("/sys/kernel/mm/ksm/run", W_OK))
		SKIP(return, "no KSM");
	self->p = map_small(n * ps);
	p = self->p;
	self->len = n * ps;
	ASSERT_NE(MAP_FAILED, p);
	memset(p, 0x5a, n * ps);
	ASSERT_EQ(0, madvise(p, n * ps, MADV_WATCH));
	snap = mmw_snapshot(p, n * ps);
	ASSERT_NE(NULL, snap);
	ASSERT_EQ(0, madvise(p, n * ps, MADV_MERGEABLE));
	merged = mmw_ksm_merge(n, 60);
	ASSERT_LE(0, merged);
	if (!merged)
		SKIP(return, "KSM merged no page within 60 s");
	TH_LOG("%ld of %zu pages merged", merged, n);
	EXPECT_EQ(0, memcmp(p, snap, n * ps));

	/* Merging is not a write. */
	MMW_READ_OWN_EVENTS();
	EXPECT_EQ(0, MMW_WRITE_FAULTS(0, ~0UL)) mmw_trace_dump(&self->t, 20);

	/* Write to half of the merged pages: COW out of the KSM page. */
	for (i = 0; i < n; i += 2)
		p[i * ps] = 0x11;
	MMW_READ_OWN_EVENTS();
	MMW_EXPECT_ALL_REPORTED(snap, p, n * ps, "KSM COW");
	for (i = 0; i < n; i += 2)
		EXPECT_EQ(1, MMW_WRITE_FAULTS(mmw_pg(p, i), mmw_pg(p, i + 1)));

	/* Unmerge the rest (an unshare: read-only copies), then write. */
	ASSERT_EQ(0, madvise(p, n * ps, MADV_UNMERGEABLE));
	EXPECT_EQ(0, memcmp(p + ps, snap + ps, ps));
	for (i = 1; i < n; i += 2)
		p[i * ps] = 0x12;
	MMW_READ_OWN_EVENTS();
	MMW_EXPECT_ALL_REPORTED(snap, p, n * ps, "KSM unmerged");
	for (i = 1; i < n; i += 2)
		EXPECT_EQ(1, MMW_WRITE_FAULTS(mmw_pg(p, i), mmw_pg(p, i + 1)));
	free(snap);
}

static char *map_pmd_region(void)
{
	char *p = mmw_map_aligned(PMD_SIZE_2M, PMD_SIZE_2M, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS);

	if (p != MAP_FAILED)
		madvise(p, PMD_SIZE_2M, MADV_NOHUGEPAGE);
	return p;
}

/*
 * 512 small pages, watched, one of them written (so one PTE is writable)
 * or none (every PTE read-only, as after a re-arm), then collapsed into a
 * THP. Watching must not stop the collapse, and every later write must
 * still be reported.
 */
static int collapse_setup(struct __test_metadata *_metadata, struct _test_data_reclaim *self,
			  char **snap, bool write_one)
{
	char *p = map_pmd_region();

	self->p = p;
	self->len = PMD_SIZE_2M;
	if (p == MAP_FAILED)
		return -1;
	fill(p, PMD_SIZE_2M / ps, 3);
	if (madvise(p, PMD_SIZE_2M, MADV_WATCH))
		return -1;
	*snap = mmw_snapshot(p, PMD_SIZE_2M);
	if (!*snap)
		return -1;
	if (write_one)
		p[3 * ps] = 0x77;
	if (madvise(p, PMD_SIZE_2M, MADV_HUGEPAGE)) {
		free(*snap);
		return 1;
	}
	return 0;
}

static void collapse_check(struct __test_metadata *_metadata, struct _test_data_reclaim *self,
			   char *snap, bool write_one)
{
	const size_t n = PMD_SIZE_2M / ps;
	char *p = self->p;
	size_t i;

	/* Collapsing copies contents; it may report the range (harmless). */
	MMW_READ_OWN_EVENTS();
	if (write_one) {
		EXPECT_LE(1, MMW_WRITE_FAULTS(mmw_pg(p, 3), mmw_pg(p, 4)))
			mmw_trace_dump(&self->t, 20);
		EXPECT_EQ(0x77, p[3 * ps]);
		EXPECT_EQ(0, memcmp(p + 4 * ps, snap + 4 * ps, PMD_SIZE_2M - 4 * ps));
	} else {
		EXPECT_EQ(0, memcmp(p, snap, PMD_SIZE_2M));
	}
	/* Same epoch: every page but page 3 must fault (or be reported anyway). */
	for (i = 0; i < n; i++)
		p[i * ps + 5] ^= 0x5a;
	MMW_READ_OWN_EVENTS();
	MMW_EXPECT_ALL_REPORTED(snap, p, PMD_SIZE_2M, "after collapse");
	/* A new epoch on the THP. */
	ASSERT_EQ(0, mmw_trace_clear(&self->t));
	ASSERT_EQ(0, madvise(p, PMD_SIZE_2M, MADV_WATCH));
	write_all_and_check(_metadata, self, p, n, "collapsed, re-armed");
}

static void madv_collapse(struct __test_metadata *_metadata, struct _test_data_reclaim *self,
			  bool write_one)
{
	char *snap;
	int ret;

	ret = collapse_setup(_metadata, self, &snap, write_one);
	if (ret > 0)
		SKIP(return, "no THP");
	ASSERT_EQ(0, ret);
	ASSERT_EQ(0, madvise(self->p, PMD_SIZE_2M, MADV_COLLAPSE))
		TH_LOG("MADV_COLLAPSE of a watched range: %s", strerror(errno));
	ASSERT_EQ(2048, mmw_vma_field_kb(0, (unsigned long)self->p, "AnonHugePages:"));
	collapse_check(_metadata, self, snap, write_one);
	free(snap);
}

TEST_F_TIMEOUT(reclaim, madv_collapse, 120)
{
	madv_collapse(_metadata, self, true);
}

/* Every entry read-only: collapsed as if unwatched (khugepaged's SCAN_PAGE_RO). */
TEST_F_TIMEOUT(reclaim, madv_collapse_clean, 120)
{
	madv_collapse(_metadata, self, false);
}

/*
 * A collapse fills the empty entries of the range with present zero pages:
 * reported, so that a consumer that copies present pages knows them.
 */
TEST_F_TIMEOUT(reclaim, madv_collapse_holes, 120)
{
	const size_t n = PMD_SIZE_2M / ps;
	char *p = map_pmd_region();
	size_t i;

	self->p = p;
	self->len = PMD_SIZE_2M;
	ASSERT_NE(MAP_FAILED, p);
	for (i = 0; i < n; i += 2)
		p[i * ps] = 1;
	ASSERT_EQ(0, madvise(p, PMD_SIZE_2M, MADV_WATCH));
	if (madvise(p, PMD_SIZE_2M, MADV_HUGEPAGE))
		SKIP(return, "no THP");
	ASSERT_EQ(0, madvise(p, PMD_SIZE_2M, MADV_COLLAPSE))
		TH_LOG("MADV_COLLAPSE of a watched range: %s", strerror(errno));
	ASSERT_EQ(2048, mmw_vma_field_kb(0, (unsigned long)p, "AnonHugePages:"));
	MMW_READ_OWN_EVENTS();
	for (i = 1; i < n; i += 2)
		ASSERT_LE(1, MMW_WRITE_FAULTS(mmw_pg(p, i), mmw_pg(p, i + 1)))
			TH_LOG("page %zu, empty before the collapse, not reported", i);
	for (i = 0; i < n; i++)
		ASSERT_EQ(i % 2 ? 0 : 1, p[i * ps]);
}

static void khugepaged_collapse(struct __test_metadata *_metadata,
				struct _test_data_reclaim *self, bool write_one)
{
	const char *kh = "/sys/kernel/mm/transparent_hugepage/khugepaged";
	struct timespec t0, t1;
	char path[256], *snap;
	long thp = 0;
	int ret;

	snprintf(path, sizeof(path), "%s/scan_sleep_millisecs", kh);
	if (access(path, W_OK))
		SKIP(return, "no khugepaged");
	ret = collapse_setup(_metadata, self, &snap, write_one);
	if (ret > 0)
		SKIP(return, "no THP");
	ASSERT_EQ(0, ret);
	ASSERT_EQ(0, mmw_set_setting(path, "10"));
	snprintf(path, sizeof(path), "%s/alloc_sleep_millisecs", kh);
	ASSERT_EQ(0, mmw_set_setting(path, "10"));
	snprintf(path, sizeof(path), "%s/pages_to_scan", kh);
	ASSERT_EQ(0, mmw_set_setting(path, "4096"));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		usleep(100000);
		thp = mmw_vma_field_kb(0, (unsigned long)self->p, "AnonHugePages:");
		clock_gettime(CLOCK_MONOTONIC, &t1);
	} while (thp != 2048 && t1.tv_sec - t0.tv_sec < 60);
	/* khugepaged scans every 10 ms: a range it never collapses is refused */
	ASSERT_EQ(2048, thp) TH_LOG("khugepaged did not collapse the watched range in 60 s");
	collapse_check(_metadata, self, snap, write_one);
	free(snap);
}

TEST_F_TIMEOUT(reclaim, khugepaged, 180)
{
	khugepaged_collapse(_metadata, self, true);
}

TEST_F_TIMEOUT(reclaim, khugepaged_clean, 180)
{
	khugepaged_collapse(_metadata, self, false);
}

static void *idle_thread(void *arg)
{
	pause();
	return NULL;
}

/* Minor faults of this thread: reading populated pages faults only on hinting. */
static long minor_faults(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru))
		return -1;
	return ru.ru_minflt;
}

/*
 * NUMA balancing makes entries PROT_NONE and restores them on the hinting
 * fault (do_numa_page), possibly writable: a read must not make a watched
 * entry writable.
 */
TEST_F_TIMEOUT(reclaim, numa_hinting_fault, 180)
{
	const char *dbg = "/sys/kernel/debug/sched/numa_balancing";
	const size_t n = 64;
	struct timespec t0, t1;
	char path[256], *p;
	long hints = 0, f;
	pthread_t thr;

	if (access("/proc/sys/kernel/numa_balancing", W_OK))
		SKIP(return, "no NUMA balancing");
	if (mmw_set_setting("/proc/sys/kernel/numa_balancing", "1"))
		SKIP(return, "cannot enable NUMA balancing: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/scan_delay_ms", dbg);
	mmw_set_setting(path, "0");
	snprintf(path, sizeof(path), "%s/scan_period_min_ms", dbg);
	mmw_set_setting(path, "100");
	/* Single-threaded tasks skip pages already on the local node. */
	ASSERT_EQ(0, pthread_create(&thr, NULL, idle_thread, NULL));

	self->p = map_small(n * ps);
	p = self->p;
	self->len = n * ps;
	ASSERT_NE(MAP_FAILED, p);
	fill(p, n, 5);
	ASSERT_EQ(0, madvise(p, n * ps, MADV_WATCH));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		/* keep running (scans start from the tick) and touch the pages */
		f = minor_faults();
		mmw_read_pages(p, n);
		hints += minor_faults() - f;
		clock_gettime(CLOCK_MONOTONIC, &t1);
	} while (hints < (long)n && t1.tv_sec - t0.tv_sec < 60);
	if (!hints)
		SKIP(return, "no NUMA hinting fault on the watched range in 60 s");
	TH_LOG("%ld hinting faults on %zu pages", hints, n);
	MMW_READ_OWN_EVENTS();
	EXPECT_EQ(0, MMW_WRITE_FAULTS(0, ~0UL)) mmw_trace_dump(&self->t, 20);
	write_all_and_check(_metadata, self, p, n, "after NUMA hinting faults");
	EXPECT_EQ(n, MMW_WRITE_FAULTS(mmw_pg(p, 0), mmw_pg(p, n)));
	pthread_cancel(thr);
	pthread_join(thr, NULL);
}

static int nr_nodes(void)
{
	glob_t g;
	int n;

	if (glob("/sys/devices/system/node/node[0-9]*", 0, NULL, &g))
		return 1;
	n = g.gl_pathc;
	globfree(&g);
	return n;
}

/*
 * Migration replaces the page behind a watched address; the new entry must
 * stay write-protected. With two nodes, move_pages() migrates; on one node
 * only compaction can, when it happens to move one of these pages.
 */
TEST_F_TIMEOUT(reclaim, migration, 180)
{
	const size_t n = 8192;
	int fd, tries, nodes = nr_nodes();
	size_t i, moved = 0, filler_len = 0;
	char *p, *filler = NULL;
	__u64 *pfn;

	/*
	 * A NUMA hinting fault maps a watched entry read-only again, and its
	 * next write would be reported twice: the counts checked here are the
	 * migration's alone.
	 */
	if (!access("/proc/sys/kernel/numa_balancing", W_OK))
		ASSERT_EQ(0, mmw_set_setting("/proc/sys/kernel/numa_balancing", "0"));

	/*
	 * On one node, give compaction something to do: take half of the free
	 * memory first so that the watched pages come from lower down, then
	 * free it again.
	 */
	if (nodes < 2) {
		struct sysinfo si;

		mmw_write_file("/proc/sys/vm/compact_memory", "1");
		if (!sysinfo(&si)) {
			filler_len = (size_t)si.freeram * si.mem_unit / 2;
			filler = mmap(NULL, filler_len, PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		}
	}
	self->p = map_small(n * ps);
	p = self->p;
	self->len = n * ps;
	ASSERT_NE(MAP_FAILED, p);
	fill(p, n, 11);
	if (filler && filler != MAP_FAILED)
		munmap(filler, filler_len);
	ASSERT_EQ(0, madvise(p, n * ps, MADV_WATCH));
	fd = mmw_open_pagemap(0);
	ASSERT_LE(0, fd);
	pfn = calloc(n, sizeof(*pfn));
	ASSERT_NE(NULL, pfn);
	for (i = 0; i < n; i++)
		pfn[i] = mmw_pagemap(fd, mmw_pg(p, i)) & PM_PFN_MASK;
	if (!pfn[0]) {
		close(fd);
		SKIP(return, "no PFNs in pagemap");
	}

	{
		void **pages = calloc(n, sizeof(void *));
		int *dst = calloc(n, sizeof(int)), *status = calloc(n, sizeof(int));

		ASSERT_NE(NULL, pages);
		ASSERT_NE(NULL, dst);
		ASSERT_NE(NULL, status);
		for (i = 0; i < n; i++)
			pages[i] = p + i * ps;
		/* where each page is now: it moves to the other node */
		ASSERT_EQ(0, syscall(__NR_move_pages, 0, n, pages, NULL, status, 0));
		for (i = 0; i < n; i++)
			dst[i] = nodes >= 2 && status[i] == 0 ? 1 : 0;
		/*
		 * With two nodes this migrates; with one it is a no-op that
		 * still drains the per-CPU LRU caches, so that compaction can
		 * isolate the new pages.
		 */
		ASSERT_EQ(0, syscall(__NR_move_pages, 0, n, pages, dst, status, MPOL_MF_MOVE));
		free(pages);
		free(dst);
		free(status);
	}
	for (tries = 0; tries < 5; tries++) {
		if (nodes < 2) {
			mmw_write_file("/proc/sys/vm/compact_memory", "1");
			usleep(200000);
		}
		for (i = 0, moved = 0; i < n; i++)
			moved += (mmw_pagemap(fd, mmw_pg(p, i)) & PM_PFN_MASK) != pfn[i];
		if (moved)
			break;
	}
	close(fd);
	free(pfn);
	/* between two nodes, move_pages() must migrate; compaction only may */
	if (!moved && nodes < 2)
		SKIP(return, "1 node, compaction migrated no watched page");
	ASSERT_LT(0, moved) TH_LOG("move_pages() to the other node migrated no watched page");
	TH_LOG("%zu of %zu pages migrated (%d nodes)", moved, n, nodes);
	mmw_read_pages(p, n);
	MMW_READ_OWN_EVENTS();
	EXPECT_EQ(0, MMW_WRITE_FAULTS(0, ~0UL)) mmw_trace_dump(&self->t, 20);
	write_all_and_check(_metadata, self, p, n, "after migration");
	EXPECT_EQ(n, MMW_WRITE_FAULTS(mmw_pg(p, 0), mmw_pg(p, n)));
}

static int uffd_unregister(int fd, char *p, size_t len)
{
	struct uffdio_range range = { .start = (unsigned long)p, .len = len };

	return ioctl(fd, UFFDIO_UNREGISTER, &range);
}

/* Write every page of [p, p + n pages); return how many write faults were reported. */
static size_t write_and_count(struct __test_metadata *_metadata,
			      struct _test_data_reclaim *self, char *p, size_t n)
{
	size_t i;

	EXPECT_EQ(0, mmw_trace_clear(&self->t));
	for (i = 0; i < n; i++)
		p[i * ps + 11] ^= 0xff;
	EXPECT_LE(0, mmw_trace_read(&self->t));
	EXPECT_EQ(0ULL, self->t.lost);
	return MMW_WRITE_FAULTS(mmw_pg(p, 0), mmw_pg(p, n));
}

/*
 * What userfaultfd installs in a watched VMA appears there without a fault:
 * each page is reported written.
 */
TEST_F(reclaim, uffd_fill_reported)
{
	const size_t n = 4;
	struct uffdio_copy copy = { .len = ps };
	struct uffdio_zeropage zero = { .range = { .len = ps } };
	struct uffdio_poison poison = { .range = { .len = ps } };
	char *p, *src;
	size_t i;
	int fd;

	fd = mmw_uffd_open(UFFD_FEATURE_POISON);
	if (fd < 0)
		SKIP(return, "userfaultfd with UFFDIO_POISON: %s", strerror(errno));
	p = map_small(n * ps);
	self->p = p;
	self->len = n * ps;
	ASSERT_NE(MAP_FAILED, p);
	src = map_small(ps);
	ASSERT_NE(MAP_FAILED, src);
	fill(src, 1, 29);
	ASSERT_EQ(0, madvise(p, n * ps, MADV_WATCH));
	ASSERT_EQ(0, mmw_uffd_register(fd, p, n * ps, UFFDIO_REGISTER_MODE_MISSING));
	MMW_READ_OWN_EVENTS();
	ASSERT_EQ(0, mmw_trace_clear(&self->t));

	copy.dst = mmw_pg(p, 0);
	copy.src = (unsigned long)src;
	ASSERT_EQ(0, ioctl(fd, UFFDIO_COPY, &copy));
	zero.range.start = mmw_pg(p, 1);
	ASSERT_EQ(0, ioctl(fd, UFFDIO_ZEROPAGE, &zero));
	poison.range.start = mmw_pg(p, 2);
	ASSERT_EQ(0, ioctl(fd, UFFDIO_POISON, &poison));
	MMW_READ_OWN_EVENTS();
	for (i = 0; i < n; i++)
		EXPECT_EQ(i < 3, MMW_WRITE_FAULTS(mmw_pg(p, i), mmw_pg(p, i + 1)))
			TH_LOG("page %zu", i);
	EXPECT_EQ(0, memcmp(p, src, ps));
	munmap(src, ps);
	close(fd);
}

/*
 * UFFDIO_MOVE would move contents into or out of a watched VMA without a
 * fault on either side: it is refused, and the same move between
 * unwatched VMAs is not.
 */
TEST_F(reclaim, uffd_move_refused)
{
	const size_t n = 4;
	struct uffdio_move move = { .len = ps };
	char *p, *src;
	int fd;

	/* SIGBUS: a read of a page moved away must not wait for us */
	fd = mmw_uffd_open(UFFD_FEATURE_MOVE | UFFD_FEATURE_SIGBUS);
	if (fd < 0)
		SKIP(return, "userfaultfd with UFFDIO_MOVE: %s", strerror(errno));
	p = map_small(n * ps);
	self->p = p;
	self->len = n * ps;
	ASSERT_NE(MAP_FAILED, p);
	src = map_small(n * ps);
	ASSERT_NE(MAP_FAILED, src);
	fill(src, n, 31);
	fill(p + 2 * ps, 2, 37);
	ASSERT_EQ(0, mmw_uffd_register(fd, p, n * ps, UFFDIO_REGISTER_MODE_MISSING));
	ASSERT_EQ(0, mmw_uffd_register(fd, src, n * ps, UFFDIO_REGISTER_MODE_MISSING));
	move.dst = mmw_pg(p, 0);
	move.src = mmw_pg(src, 0);
	ASSERT_EQ(0, ioctl(fd, UFFDIO_MOVE, &move)) TH_LOG("%s", strerror(errno));

	ASSERT_EQ(0, madvise(p, n * ps, MADV_WATCH));
	move.dst = mmw_pg(p, 1);
	move.src = mmw_pg(src, 1);
	errno = 0;
	EXPECT_EQ(-1, ioctl(fd, UFFDIO_MOVE, &move));
	EXPECT_EQ(EINVAL, errno);
	move.dst = mmw_pg(src, 0);
	move.src = mmw_pg(p, 2);
	errno = 0;
	EXPECT_EQ(-1, ioctl(fd, UFFDIO_MOVE, &move));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_NE(0, src[ps + 1]);
	EXPECT_NE(0, p[2 * ps + 1]);
	munmap(src, n * ps);
	close(fd);
}

/*
 * userfaultfd write-protection decides what PAGEMAP_SCAN reports as
 * written and arms, as a watch does: registering a watched part for it
 * ends the watch of that part, reported by an unmark, and the process's
 * own use is unchanged. A watch of a registered part is refused until it
 * is unregistered.
 */
TEST_F(reclaim, uffd_wp_register_ends_watch)
{
	const size_t n = 16, lo = 4, hi = 12;
	const struct mmw_event *e;
	char *p, *mid;
	int fd;

	fd = mmw_uffd_open(UFFD_FEATURE_PAGEFAULT_FLAG_WP);
	if (fd < 0)
		SKIP(return, "userfaultfd write-protect: %s", strerror(errno));
	p = map_small(n * ps);
	self->p = p;
	self->len = n * ps;
	ASSERT_NE(MAP_FAILED, p);
	mid = p + lo * ps;
	fill(p, n, 13);
	ASSERT_EQ(0, madvise(p, n * ps, MADV_WATCH));
	ASSERT_EQ(0, mmw_uffd_register(fd, mid, (hi - lo) * ps, UFFDIO_REGISTER_MODE_WP))
		TH_LOG("%s", strerror(errno));
	MMW_READ_OWN_EVENTS();
	EXPECT_EQ(1, mmw_count(&self->t, MMW_UNMARK, self->id, 0, ~0UL));
	e = mmw_find(&self->t, MMW_UNMARK, self->id, 0, ~0UL);
	ASSERT_NE(NULL, e) mmw_trace_dump(&self->t, 20);
	EXPECT_EQ(mmw_pg(p, lo), e->start);
	EXPECT_EQ(mmw_pg(p, hi), e->end);
	EXPECT_EQ(0, mmw_vma_has_flag(getpid(), mmw_pg(p, lo), "wt"));
	EXPECT_EQ(1, mmw_vma_has_flag(getpid(), mmw_pg(p, 0), "wt"));
	EXPECT_EQ(1, mmw_vma_has_flag(getpid(), mmw_pg(p, hi), "wt"));

	ASSERT_EQ(0, mmw_trace_clear(&self->t));
	errno = 0;
	EXPECT_EQ(-1, madvise(p, n * ps, MADV_WATCH));
	EXPECT_EQ(EINVAL, errno);
	MMW_READ_OWN_EVENTS();
	EXPECT_EQ(0, mmw_count(&self->t, MMW_NR_TYPES, self->id, 0, ~0UL))
		mmw_trace_dump(&self->t, 20);

	/* the sides are still armed, the middle is the process's own */
	EXPECT_EQ(lo, write_and_count(_metadata, self, p, lo));
	EXPECT_EQ(0, write_and_count(_metadata, self, mid, hi - lo));
	EXPECT_EQ(n - hi, write_and_count(_metadata, self, p + hi * ps, n - hi));

	ASSERT_EQ(0, uffd_unregister(fd, mid, (hi - lo) * ps));
	ASSERT_EQ(0, madvise(p, n * ps, MADV_WATCH));
	EXPECT_EQ(1, mmw_vma_has_flag(getpid(), mmw_pg(p, lo), "wt"));
	ASSERT_EQ(0, mmw_trace_clear(&self->t));
	write_all_and_check(_metadata, self, p, n, "watched again");
	EXPECT_EQ(n, MMW_WRITE_FAULTS(mmw_pg(p, 0), mmw_pg(p, n)));
	close(fd);
}

/* MADV_WATCH_ALL leaves what is registered for write-protection alone. */
TEST_F(reclaim, uffd_wp_left_out_of_watch_all)
{
	const size_t n = 8;
	char *p, *other;
	int fd;

	fd = mmw_uffd_open(UFFD_FEATURE_PAGEFAULT_FLAG_WP);
	if (fd < 0)
		SKIP(return, "userfaultfd write-protect: %s", strerror(errno));
	p = map_small(n * ps);
	self->p = p;
	self->len = n * ps;
	ASSERT_NE(MAP_FAILED, p);
	fill(p, n, 17);
	ASSERT_EQ(0, mmw_uffd_register(fd, p, n * ps, UFFDIO_REGISTER_MODE_WP))
		TH_LOG("%s", strerror(errno));
	/* the same, not registered: watched */
	other = map_small(n * ps);
	ASSERT_NE(MAP_FAILED, other);
	fill(other, n, 19);
	ASSERT_EQ(0, madvise(NULL, 0, MADV_WATCH_ALL));
	EXPECT_EQ(0, mmw_vma_has_flag(getpid(), mmw_pg(p, 0), "wt"));
	EXPECT_EQ(1, mmw_vma_has_flag(getpid(), mmw_pg(other, 0), "wt"));
	EXPECT_EQ(0, write_and_count(_metadata, self, p, n));
	EXPECT_EQ(n, write_and_count(_metadata, self, other, n));
	ASSERT_EQ(0, madvise(NULL, 0, MADV_UNWATCH_ALL));
	munmap(other, n * ps);
	close(fd);
}

/* MADV_PAGEOUT until no page of [p, p + n pages) is present; returns how many are gone. */
static size_t discard_lazyfree(char *p, size_t n)
{
	int fd = mmw_open_pagemap(0), tries;
	size_t i, gone = 0;

	for (tries = 0; tries < 5 && gone < n; tries++) {
		madvise(p, n * ps, MADV_PAGEOUT);
		for (i = 0, gone = 0; i < n; i++)
			gone += !(mmw_pagemap(fd, mmw_pg(p, i)) & PM_PRESENT);
	}
	close(fd);
	return gone;
}

/*
 * Every page of [p, p + n pages) that was discarded (it reads zero now,
 * where fill() and the writes of the tests left no zero) was reported by
 * a zap with reason free.
 */
static void expect_free_zaps(struct __test_metadata *_metadata,
			     struct _test_data_reclaim *self, char *p, size_t n,
			     const char *what)
{
	const struct mmw_event *e;
	size_t i, j, discarded = 0;
	unsigned long a;

	for (i = 0; i < n; i++) {
		if (p[i * ps + 1])
			continue;
		discarded++;
		a = mmw_pg(p, i);
		for (j = 0; j < self->t.nr; j++) {
			e = &self->t.ev[j];
			if (e->type == MMW_ZAP && e->reason == MMW_ZAP_FREE &&
			    e->start <= a && e->end >= a + ps)
				break;
		}
		EXPECT_GT(self->t.nr, j) TH_LOG("%s: page %zu discarded without a zap", what, i);
	}
	EXPECT_LT(0, discarded) TH_LOG("%s: nothing was discarded", what);
}

/*
 * A page made lazy-free while the range was not watched stays clean when
 * it is armed; reclaim discards it later (it then reads zero) and must
 * report that.
 */
TEST_F(reclaim, lazyfree_before_mark)
{
	const size_t n = 32;
	char *p, *snap;

	p = map_small(n * ps);
	self->p = p;
	self->len = n * ps;
	ASSERT_NE(MAP_FAILED, p);
	fill(p, n, 5);
	ASSERT_EQ(0, madvise(p, n * ps, MADV_FREE));
	ASSERT_EQ(0, madvise(p, n * ps, MADV_WATCH));
	snap = mmw_snapshot(p, n * ps);
	ASSERT_NE(NULL, snap);
	TH_LOG("%zu of %zu pages discarded", discard_lazyfree(p, n), n);
	MMW_READ_OWN_EVENTS();
	MMW_EXPECT_ALL_REPORTED(snap, p, n * ps, "lazy-free before the mark");
	expect_free_zaps(_metadata, self, p, n, "lazy-free before the mark");

	/* The same between MADV_UNWATCH and a new MADV_WATCH. */
	ASSERT_EQ(0, madvise(p, n * ps, MADV_UNWATCH));
	fill(p, n, 6);
	ASSERT_EQ(0, madvise(p, n * ps, MADV_FREE));
	ASSERT_EQ(0, mmw_trace_clear(&self->t));
	ASSERT_EQ(0, madvise(p, n * ps, MADV_WATCH));
	free(snap);
	snap = mmw_snapshot(p, n * ps);
	ASSERT_NE(NULL, snap);
	discard_lazyfree(p, n);
	MMW_READ_OWN_EVENTS();
	MMW_EXPECT_ALL_REPORTED(snap, p, n * ps, "lazy-free before the re-mark");
	expect_free_zaps(_metadata, self, p, n, "lazy-free before the re-mark");
	free(snap);
}

/*
 * MADV_FREE in a watched range behaves as without watching: the pages stay
 * mapped until reclaim; a page written before the discard keeps its data
 * (with a write fault), the others are discarded with a zap each.
 */
TEST_F(reclaim, lazyfree_watched)
{
	const size_t n = 32;
	int fd = mmw_open_pagemap(0);
	char *p, *snap;
	size_t i;

	ASSERT_LE(0, fd);
	p = map_small(n * ps);
	self->p = p;
	self->len = n * ps;
	ASSERT_NE(MAP_FAILED, p);
	fill(p, n, 8);
	ASSERT_EQ(0, madvise(p, n * ps, MADV_WATCH));
	snap = mmw_snapshot(p, n * ps);
	ASSERT_NE(NULL, snap);
	ASSERT_EQ(0, madvise(p, n * ps, MADV_FREE));
	for (i = 0; i < n; i++)
		EXPECT_NE(0, mmw_pagemap(fd, mmw_pg(p, i)) & PM_PRESENT)
			TH_LOG("page %zu dropped by MADV_FREE", i);
	close(fd);
	MMW_READ_OWN_EVENTS();
	EXPECT_EQ(0, mmw_count(&self->t, MMW_ZAP, self->id, mmw_pg(p, 0), mmw_pg(p, n)))
		mmw_trace_dump(&self->t, 20);
	for (i = 0; i < n; i += 4)
		p[i * ps + 1] = 0x33;
	discard_lazyfree(p, n);
	MMW_READ_OWN_EVENTS();
	MMW_EXPECT_ALL_REPORTED(snap, p, n * ps, "MADV_FREE on a watched range");
	for (i = 0; i < n; i += 4) {
		EXPECT_EQ(0x33, p[i * ps + 1]);
		EXPECT_EQ(1, MMW_WRITE_FAULTS(mmw_pg(p, i), mmw_pg(p, i + 1)));
	}
	expect_free_zaps(_metadata, self, p, n, "MADV_FREE on a watched range");
	free(snap);
}

/*
 * MADV_FREE of a swapped-out page drops its swap entry at once: the page
 * reads zero from then on, and that must be reported.
 */
TEST_F(reclaim, lazyfree_swapped)
{
	const size_t n = 32;
	char why[128], *p, *snap;
	size_t swapped;
	int ret;

	ret = mmw_swap_setup(why, sizeof(why));
	if (ret == KSFT_SKIP)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, ret);
	p = map_small(n * ps);
	self->p = p;
	self->len = n * ps;
	ASSERT_NE(MAP_FAILED, p);
	fill(p, n, 11);
	ASSERT_EQ(0, madvise(p, n * ps, MADV_WATCH));
	snap = mmw_snapshot(p, n * ps);
	ASSERT_NE(NULL, snap);
	swapped = page_out(p, n);
	if (swapped < n / 2)
		SKIP(return, "MADV_PAGEOUT swapped out only %zu of %zu pages", swapped, n);
	ASSERT_EQ(0, madvise(p, n * ps, MADV_FREE));
	MMW_READ_OWN_EVENTS();
	MMW_EXPECT_ALL_REPORTED(snap, p, n * ps, "MADV_FREE of swapped-out pages");
	expect_free_zaps(_metadata, self, p, n, "MADV_FREE of swapped-out pages");
	free(snap);
}

/* The same for a PMD-mapped THP, discarded without a split. */
TEST_F_TIMEOUT(reclaim, lazyfree_thp, 120)
{
	const size_t n = PMD_SIZE_2M / ps;
	char *p, *snap;

	p = mmw_map_aligned(PMD_SIZE_2M, PMD_SIZE_2M, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS);
	self->p = p;
	self->len = PMD_SIZE_2M;
	ASSERT_NE(MAP_FAILED, p);
	if (madvise(p, PMD_SIZE_2M, MADV_HUGEPAGE))
		SKIP(return, "no THP");
	fill(p, n, 4);
	if (mmw_vma_field_kb(0, (unsigned long)p, "AnonHugePages:") != 2048)
		SKIP(return, "no THP was allocated");
	ASSERT_EQ(0, madvise(p, PMD_SIZE_2M, MADV_FREE));
	ASSERT_EQ(0, madvise(p, PMD_SIZE_2M, MADV_WATCH));
	snap = mmw_snapshot(p, PMD_SIZE_2M);
	ASSERT_NE(NULL, snap);
	TH_LOG("%zu of %zu pages discarded", discard_lazyfree(p, n), n);
	MMW_READ_OWN_EVENTS();
	MMW_EXPECT_ALL_REPORTED(snap, p, PMD_SIZE_2M, "lazy-free THP");
	expect_free_zaps(_metadata, self, p, n, "lazy-free THP");
	free(snap);
}

TEST_HARNESS_MAIN
