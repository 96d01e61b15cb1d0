// SPDX-License-Identifier: GPL-2.0
/*
 * The soft-dirty bit of a watched entry means "written since armed": an arm
 * clears it, a write sets it, and it survives what makes an entry read-only
 * without a write (fork(), swap-out, a KSM merge) and clear_refs; an entry
 * mremap() moves, or a uprobe replaces, reads as written. A consumer that
 * lost events recovers the written pages by a sweep of it (PAGEMAP_SCAN).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <linux/fs.h>
#include <linux/userfaultfd.h>

#include "../kselftest_harness.h"
#include "watch_util.h"

#define PM_FILE			BIT_ULL(61)
#define NPAGES			16
#define PMD_SIZE_2M		(2UL << 20)

static size_t ps;

FIXTURE(sweep) {
	struct mmw_trace t;
	__u64 id;
	char *p;
	size_t len;
	int pagemap;
};

/* A new mapping reads as soft-dirty where the kernel tracks the bit at all. */
static bool have_soft_dirty(int pagemap)
{
	char *p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bool ret;

	if (p == MAP_FAILED)
		return false;
	p[0] = 1;
	ret = mmw_pagemap(pagemap, (unsigned long)p) & PM_SOFT_DIRTY;
	munmap(p, ps);
	return ret;
}

FIXTURE_SETUP(sweep)
{
	ps = getpagesize();
	self->p = MAP_FAILED;
	self->pagemap = -1;
	MMW_SKIP_WITHOUT_FEATURE(return);
	self->pagemap = mmw_open_pagemap(0);
	ASSERT_LE(0, self->pagemap);
	if (!have_soft_dirty(self->pagemap))
		SKIP(return, "no soft-dirty bit (CONFIG_MEM_SOFT_DIRTY)");
	ASSERT_EQ(0, mmw_trace_init(&self->t, NULL, 1024));
	self->len = NPAGES * ps;
	self->p = mmap(NULL, self->len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->p);
	/* Single pages: a THP would make a write dirty 2 MiB. */
	ASSERT_EQ(0, madvise(self->p, self->len, MADV_NOHUGEPAGE));
	memset(self->p, 1, self->len);
}

FIXTURE_TEARDOWN(sweep)
{
	mmw_trace_fini(&self->t);
	if (self->p != MAP_FAILED)
		munmap(self->p, self->len);
	if (self->pagemap >= 0)
		close(self->pagemap);
	mmw_swap_teardown();
	mmw_restore_settings();
}

static void write_pages(char *p, unsigned long bits)
{
	size_t i;

	for (i = 0; i < NPAGES; i++)
		if (bits & (1UL << i))
			p[i * ps] += 1;
}

/* An arm clears the bit of every page it arms, a write sets it again. */
TEST_F(sweep, arm_clears_write_sets)
{
	ASSERT_EQ(0, madvise(self->p, self->len, MADV_WATCH));
	EXPECT_EQ(0UL, mmw_soft_dirty(self->pagemap, self->p, NPAGES));
	write_pages(self->p, 0x0122);
	EXPECT_EQ(0x0122UL, mmw_soft_dirty(self->pagemap, self->p, NPAGES));

	/* A re-arm of part of the VMA clears that part only. */
	ASSERT_EQ(0, madvise(self->p, 2 * ps, MADV_WATCH));
	EXPECT_EQ(0x0120UL, mmw_soft_dirty(self->pagemap, self->p, NPAGES));
	ASSERT_EQ(0, madvise(self->p, self->len, MADV_WATCH));
	EXPECT_EQ(0UL, mmw_soft_dirty(self->pagemap, self->p, NPAGES));
}

/* fork() write-protects the parent's written pages: they stay written. */
TEST_F(sweep, fork_keeps_written)
{
	int status;
	pid_t child;

	ASSERT_EQ(0, madvise(self->p, self->len, MADV_WATCH));
	write_pages(self->p, 0x0a);
	child = fork();
	ASSERT_LE(0, child);
	if (!child)
		_exit(0);
	ASSERT_EQ(child, waitpid(child, &status, 0));
	EXPECT_EQ(0x0aUL, mmw_soft_dirty(self->pagemap, self->p, NPAGES));
}

/*
 * Watch the fixture's pages, write @bits of them, then swap every page out.
 * Return: 0, KSFT_SKIP (no swap, or pages left in memory) or an error,
 * with @why set.
 */
static int watch_write_swap_out(struct _test_data_sweep *self,
				unsigned long bits, char *why, size_t len)
{
	size_t i, swapped = 0;
	int ret, tries;

	ret = mmw_swap_setup(why, len);
	if (ret)
		return ret;
	if (madvise(self->p, self->len, MADV_WATCH)) {
		snprintf(why, len, "MADV_WATCH: %s", strerror(errno));
		return -1;
	}
	write_pages(self->p, bits);
	for (tries = 0; tries < 5 && swapped < NPAGES; tries++) {
		madvise(self->p, self->len, MADV_PAGEOUT);
		for (i = 0, swapped = 0; i < NPAGES; i++)
			swapped += !!(mmw_pagemap(self->pagemap, mmw_pg(self->p, i)) & PM_SWAP);
	}
	if (swapped < NPAGES) {
		snprintf(why, len, "MADV_PAGEOUT swapped out only %zu of %d pages",
			 swapped, NPAGES);
		return KSFT_SKIP;
	}
	return 0;
}

/* watch_write_swap_out() in a test: skip (then @statement) or fail */
#define WATCH_WRITE_SWAP_OUT(bits, statement) do {			\
	char __why[128];						\
	int __ret;							\
									\
	__ret = watch_write_swap_out(self, (bits), __why, sizeof(__why));\
	if (__ret == KSFT_SKIP)						\
		SKIP(statement, "%s", __why);				\
	ASSERT_EQ(0, __ret) TH_LOG("%s", __why);			\
} while (0)

/* A swapped-out page keeps the bit in its swap entry, and after swap-in. */
TEST_F(sweep, swap_keeps_written)
{
	WATCH_WRITE_SWAP_OUT(0x8004, return);
	EXPECT_EQ(0x8004UL, mmw_soft_dirty(self->pagemap, self->p, NPAGES));
	mmw_read_pages(self->p, NPAGES);
	EXPECT_EQ(0x8004UL, mmw_soft_dirty(self->pagemap, self->p, NPAGES));

	/* An arm while swapped out clears the swap entries too. */
	write_pages(self->p, 0x0100);
	madvise(self->p, self->len, MADV_PAGEOUT);
	ASSERT_EQ(0, madvise(self->p, self->len, MADV_WATCH));
	EXPECT_EQ(0UL, mmw_soft_dirty(self->pagemap, self->p, NPAGES));
}

/* Watch the fixture's pages, and poison page @i with userfaultfd @fd. */
static void watch_and_poison(struct __test_metadata *_metadata,
			     struct _test_data_sweep *self, int fd, size_t i)
{
	struct uffdio_poison poison = {
		.range = { .start = mmw_pg(self->p, i), .len = ps },
	};

	ASSERT_EQ(0, madvise(self->p, self->len, MADV_WATCH));
	ASSERT_EQ(0, madvise(self->p + i * ps, ps, MADV_DONTNEED));
	ASSERT_EQ(0, mmw_uffd_register(fd, self->p, self->len, UFFDIO_REGISTER_MODE_MISSING));
	ASSERT_EQ(0, ioctl(fd, UFFDIO_POISON, &poison));
}

/*
 * KSM replaces a watched entry by one of its shared page, read-only: the
 * entry keeps its bit, so a page written before the merge is still found.
 */
TEST_F_TIMEOUT(sweep, ksm_keeps_written, 180)
{
	long merged;
	size_t i;

	if (access("/sys/kernel/mm/ksm/run", W_OK))
		SKIP(return, "no KSM");
	/* The odd pages differ until written after the arm: a change to find. */
	for (i = 1; i < NPAGES; i += 2)
		self->p[i * ps] = 2;
	ASSERT_EQ(0, madvise(self->p, self->len, MADV_WATCH));
	for (i = 1; i < NPAGES; i += 2)
		self->p[i * ps] = 1;
	EXPECT_EQ(0xaaaaUL, mmw_soft_dirty(self->pagemap, self->p, NPAGES));

	ASSERT_EQ(0, madvise(self->p, self->len, MADV_MERGEABLE));
	merged = mmw_ksm_merge(NPAGES, 60);
	ASSERT_LE(0, merged);
	if (!merged)
		SKIP(return, "KSM merged no page within 60 s");
	ASSERT_EQ(NPAGES, merged) TH_LOG("KSM merged %ld of %d pages", merged, NPAGES);
	EXPECT_EQ(0xaaaaUL, mmw_soft_dirty(self->pagemap, self->p, NPAGES));

	/* A write copies the page out of KSM, and sets the bit as ever. */
	write_pages(self->p, 0x0001);
	EXPECT_EQ(0xaaabUL, mmw_soft_dirty(self->pagemap, self->p, NPAGES));
	ASSERT_EQ(0, madvise(self->p, self->len, MADV_WATCH));
	EXPECT_EQ(0UL, mmw_soft_dirty(self->pagemap, self->p, NPAGES));
}

/*
 * A uprobe replaces a page of private text by an anonymous copy with a
 * breakpoint, without a write fault: the new entry reads as written. Its
 * removal empties the entry, which a sweep takes as changed anyway.
 */
TEST_F(sweep, uprobe_text_reads_written)
{
	const unsigned long off = 16;
	char path[64], *text;
	__u64 pm;
	int fd;

	if (access(MMW_UPROBE_EVENTS, W_OK))
		SKIP(return, "no %s (CONFIG_UPROBE_EVENTS)", MMW_UPROBE_EVENTS);
	text = mmw_map_nop_text(2, &fd);
	ASSERT_NE(MAP_FAILED, text);
	ASSERT_EQ(0, madvise(text, 2 * ps, MADV_WATCH));
	EXPECT_EQ(0UL, mmw_soft_dirty(self->pagemap, text, 2));

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", getpid(), fd);
	mmw_uprobe_set(path, off, false);	/* left over by an aborted run */
	ASSERT_EQ(0, mmw_uprobe_set(path, off, true));
	EXPECT_EQ((char)0xcc, text[off]);	/* int3 */
	pm = mmw_pagemap(self->pagemap, (unsigned long)text);
	EXPECT_EQ(PM_PRESENT | PM_SOFT_DIRTY, pm & (PM_PRESENT | PM_SOFT_DIRTY | PM_FILE));
	EXPECT_EQ(0x1UL, mmw_soft_dirty(self->pagemap, text, 2));

	ASSERT_EQ(0, madvise(text, 2 * ps, MADV_WATCH));
	EXPECT_EQ(0UL, mmw_soft_dirty(self->pagemap, text, 2));
	ASSERT_EQ(0, mmw_uprobe_set(path, off, false));
	pm = mmw_pagemap(self->pagemap, (unsigned long)text);
	EXPECT_FALSE((pm & PM_PRESENT) && !(pm & (PM_SOFT_DIRTY | PM_FILE)))
		TH_LOG("pagemap entry %#llx after the removal", (unsigned long long)pm);
	EXPECT_EQ((char)0x90, text[off]);

	munmap(text, 2 * ps);
	close(fd);
}

/*
 * A page UFFDIO_POISON installs changed without a fault: it reads as
 * written until the next arm, as any written entry does.
 */
TEST_F(sweep, poison_reads_written)
{
	int fd;

	fd = mmw_uffd_open(UFFD_FEATURE_POISON);
	if (fd < 0)
		SKIP(return, "userfaultfd with UFFDIO_POISON: %s", strerror(errno));
	watch_and_poison(_metadata, self, fd, 3);
	EXPECT_EQ(0x8UL, mmw_soft_dirty(self->pagemap, self->p, NPAGES));
	ASSERT_EQ(0, madvise(self->p, self->len, MADV_WATCH));
	EXPECT_EQ(0UL, mmw_soft_dirty(self->pagemap, self->p, NPAGES));
	/* the arm left the marker */
	EXPECT_NE(0, mmw_pagemap(self->pagemap, mmw_pg(self->p, 3)) & PM_SWAP);
	close(fd);
}

/*
 * UFFDIO_ZEROPAGE and UFFDIO_COPY into a private mapping of a file put new
 * contents over the file's without a fault: the pages read as written
 * until the next arm.
 */
TEST_F(sweep, uffd_fill_private_file_reads_written)
{
	struct uffdio_zeropage zero = { .range = { .len = ps } };
	struct uffdio_copy copy = { .len = ps };
	char *p;
	int fd, mem;

	fd = mmw_uffd_open(0);
	if (fd < 0)
		SKIP(return, "userfaultfd: %s", strerror(errno));
	mem = memfd_create("watch_sweep", 0);
	ASSERT_LE(0, mem);
	ASSERT_EQ(0, ftruncate(mem, 4 * ps));
	/* the file's pages hold ones, as the fixture's pages do */
	ASSERT_EQ((ssize_t)ps, pwrite(mem, self->p, ps, ps));
	p = mmap(NULL, 4 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE, mem, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, madvise(p, 4 * ps, MADV_WATCH));
	ASSERT_EQ(0, mmw_uffd_register(fd, p, 4 * ps, UFFDIO_REGISTER_MODE_MISSING));

	zero.range.start = mmw_pg(p, 1);
	ASSERT_EQ(0, ioctl(fd, UFFDIO_ZEROPAGE, &zero));
	self->p[0] = 2;
	copy.dst = mmw_pg(p, 2);
	copy.src = (unsigned long)self->p;
	ASSERT_EQ(0, ioctl(fd, UFFDIO_COPY, &copy));
	EXPECT_EQ(0, p[ps]);
	EXPECT_EQ(2, p[2 * ps]);
	EXPECT_EQ(0x6UL, mmw_soft_dirty(self->pagemap, p, 4));
	ASSERT_EQ(0, madvise(p, 4 * ps, MADV_WATCH));
	EXPECT_EQ(0UL, mmw_soft_dirty(self->pagemap, p, 4));

	close(fd);
	munmap(p, 4 * ps);
	close(mem);
}

/* clear_refs ("4") leaves watched VMAs alone, and clears the others. */
TEST_F(sweep, clear_refs_skips_watched)
{
	char *other;

	other = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, other);
	other[0] = 1;
	ASSERT_EQ(0, madvise(self->p, self->len, MADV_WATCH));
	write_pages(self->p, 0x30);
	ASSERT_EQ(0, mmw_write_file("/proc/self/clear_refs", "4"));
	EXPECT_EQ(0UL, mmw_soft_dirty(self->pagemap, other, 1));
	EXPECT_EQ(0x30UL, mmw_soft_dirty(self->pagemap, self->p, NPAGES));
	munmap(other, ps);
}

/* A page the arm reports pinned may change without a fault: it stays written. */
TEST_F(sweep, pinned_stays_written)
{
	struct iovec iov = { .iov_base = self->p + 3 * ps, .iov_len = ps };
	int pfd[2];

	ASSERT_EQ(0, pipe(pfd));
	ASSERT_EQ((ssize_t)ps, vmsplice(pfd[1], &iov, 1, 0));
	ASSERT_EQ(0, madvise(self->p, self->len, MADV_WATCH));
	MMW_READ_OWN_EVENTS();
	ASSERT_EQ(1, mmw_count(&self->t, MMW_PINNED, self->id, 0, ~0UL))
		mmw_trace_dump(&self->t, 20);
	EXPECT_EQ(0x08UL, mmw_soft_dirty(self->pagemap, self->p, NPAGES));
	close(pfd[0]);
	close(pfd[1]);
}

/*
 * 2 MiB, PMD-aligned, written once so that a PMD-mapped THP backs it.
 * Return: why to skip (no THP; nothing is left mapped), or NULL; *@pp is
 * MAP_FAILED if the mapping itself failed.
 */
static const char *map_thp(char **pp)
{
	static char why[64];
	char *p;

	p = mmw_map_aligned(PMD_SIZE_2M, PMD_SIZE_2M, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS);
	*pp = p;
	if (p == MAP_FAILED)
		return NULL;
	if (madvise(p, PMD_SIZE_2M, MADV_HUGEPAGE)) {
		snprintf(why, sizeof(why), "no THP (MADV_HUGEPAGE: %s)", strerror(errno));
		munmap(p, PMD_SIZE_2M);
		return why;
	}
	p[0] = 1;
	if (mmw_vma_field_kb(0, (unsigned long)p, "AnonHugePages:") != 2048) {
		munmap(p, PMD_SIZE_2M);
		return "the write fault did not map a PMD THP";
	}
	return NULL;
}

/* A PMD-mapped THP: the arm clears its bit, a write sets it for the PMD. */
TEST_F(sweep, thp)
{
	const size_t n = PMD_SIZE_2M / ps;
	const char *why;
	char *p;

	why = map_thp(&p);
	if (why)
		SKIP(return, "%s", why);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, madvise(p, PMD_SIZE_2M, MADV_WATCH));
	EXPECT_EQ(0, mmw_pagemap(self->pagemap, mmw_pg(p, 0)) & PM_SOFT_DIRTY);
	EXPECT_EQ(0, mmw_pagemap(self->pagemap, mmw_pg(p, n - 1)) & PM_SOFT_DIRTY);
	p[7 * ps] = 2;
	EXPECT_NE(0, mmw_pagemap(self->pagemap, mmw_pg(p, 7)) & PM_SOFT_DIRTY);
	munmap(p, PMD_SIZE_2M);
}

/*
 * mremap() of a whole page table to a PMD-aligned address could move the
 * table itself, with the bits of its entries. The contents changed address:
 * in a watched VMA every moved entry reads as written.
 */
TEST_F(sweep, mremap_whole_table_reads_written)
{
	const size_t n = PMD_SIZE_2M / ps;
	size_t i, clean = 0;
	char *p, *dst;

	p = mmw_map_aligned(PMD_SIZE_2M, PMD_SIZE_2M, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS);
	ASSERT_NE(MAP_FAILED, p);
	dst = mmw_map_aligned(PMD_SIZE_2M, PMD_SIZE_2M, PROT_NONE,
			      MAP_PRIVATE | MAP_ANONYMOUS);
	ASSERT_NE(MAP_FAILED, dst);
	/* 4 KiB entries, in a page table of their own */
	ASSERT_EQ(0, madvise(p, PMD_SIZE_2M, MADV_NOHUGEPAGE));
	memset(p, 1, PMD_SIZE_2M);
	ASSERT_EQ(0, madvise(p, PMD_SIZE_2M, MADV_WATCH));
	ASSERT_EQ(0, mmw_pagemap(self->pagemap, mmw_pg(p, 0)) & PM_SOFT_DIRTY);

	ASSERT_EQ(dst, mremap(p, PMD_SIZE_2M, PMD_SIZE_2M,
			      MREMAP_MAYMOVE | MREMAP_FIXED, dst));
	for (i = 0; i < n; i++)
		if (!(mmw_pagemap(self->pagemap, mmw_pg(dst, i)) & PM_SOFT_DIRTY))
			clean++;
	EXPECT_EQ(0, clean);
	munmap(dst, PMD_SIZE_2M);
}

/*
 * The ranges of one process_madvise() vector that share a page table are
 * re-armed in one walk of it. The pages between them keep their bit and
 * their write permission: a write after the consumer collected is neither
 * forgotten by a later sweep nor reported again.
 */
TEST_F(sweep, rearm_vector_keeps_gaps)
{
	struct iovec iov[NPAGES / 2];
	int pidfd;
	size_t i;

	pidfd = mmw_pidfd_open(getpid());
	ASSERT_LE(0, pidfd);
	ASSERT_EQ(0, madvise(self->p, self->len, MADV_WATCH));
	write_pages(self->p, 0xffff);
	for (i = 0; i < ARRAY_SIZE(iov); i++) {
		iov[i].iov_base = self->p + 2 * i * ps;
		iov[i].iov_len = ps;
	}
	ASSERT_EQ((ssize_t)(ARRAY_SIZE(iov) * ps),
		  mmw_process_madvise(pidfd, iov, ARRAY_SIZE(iov), MADV_WATCH));
	close(pidfd);
	EXPECT_EQ(0xaaaaUL, mmw_soft_dirty(self->pagemap, self->p, NPAGES));
	write_pages(self->p, 0xffff);
	MMW_READ_OWN_EVENTS();
	for (i = 0; i < NPAGES; i++) {
		unsigned long pg = mmw_pg(self->p, i);

		EXPECT_EQ(i % 2 ? 1 : 2, MMW_WRITE_FAULTS(pg, pg + ps)) TH_LOG("page %zu", i);
	}
}

/* Writes @byte to every page of @tables page tables but those of @empty. */
static void fill_tables(char *p, size_t tables, size_t empty, int byte)
{
	size_t i;

	for (i = 0; i < tables; i++)
		if (i != empty)
			memset(p + i * PMD_SIZE_2M, byte, PMD_SIZE_2M);
}

/*
 * Ranges of one vector page tables apart are re-armed in one walk that
 * skips the page tables between them. The written pages there keep their
 * bit and their write permission; so do those of a range's own page table
 * before it, and a page table never filled is passed over.
 */
TEST_F(sweep, rearm_vector_skips_page_tables)
{
	const size_t n = PMD_SIZE_2M / ps, tables = 8, empty = 6;
	const size_t len = tables * PMD_SIZE_2M;
	/* first page and length in pages: the third crosses a page table */
	const size_t range[][2] = {
		{ 0, 1 }, { 3 * n + 5, 1 }, { 5 * n - 1, 2 }, { 8 * n - 1, 1 },
	};
	struct iovec iov[ARRAY_SIZE(range)];
	size_t i, j, armed = 0;
	bool rearmed;
	__u64 pm;
	int pidfd;
	char *p;

	p = mmw_map_aligned(len, PMD_SIZE_2M, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, madvise(p, len, MADV_NOHUGEPAGE));
	fill_tables(p, tables, empty, 1);
	ASSERT_EQ(0, madvise(p, len, MADV_WATCH));
	fill_tables(p, tables, empty, 2);
	MMW_READ_OWN_EVENTS();
	ASSERT_EQ(0, mmw_trace_clear(&self->t));

	for (i = 0; i < ARRAY_SIZE(range); i++) {
		iov[i].iov_base = p + range[i][0] * ps;
		iov[i].iov_len = range[i][1] * ps;
		armed += range[i][1];
	}
	pidfd = mmw_pidfd_open(getpid());
	ASSERT_LE(0, pidfd);
	ASSERT_EQ((ssize_t)(armed * ps),
		  mmw_process_madvise(pidfd, iov, ARRAY_SIZE(iov), MADV_WATCH));
	close(pidfd);

	for (i = 0; i < tables * n; i++) {
		if (i / n == empty)
			continue;
		rearmed = false;
		for (j = 0; j < ARRAY_SIZE(range); j++)
			rearmed |= i >= range[j][0] && i < range[j][0] + range[j][1];
		pm = mmw_pagemap(self->pagemap, mmw_pg(p, i));
		ASSERT_EQ(!rearmed, !!(pm & PM_SOFT_DIRTY)) TH_LOG("page %zu", i);
	}
	fill_tables(p, tables, empty, 3);
	MMW_READ_EVENTS(&self->t);
	EXPECT_EQ(armed, MMW_WRITE_FAULTS(mmw_pg(p, 0), mmw_pg(p, tables * n)));
	for (i = 0; i < ARRAY_SIZE(range); i++)
		EXPECT_EQ(range[i][1],
			  MMW_WRITE_FAULTS(mmw_pg(p, range[i][0]),
					   mmw_pg(p, range[i][0] + range[i][1])))
			TH_LOG("range %zu", i);
	munmap(p, len);
}

/*
 * Ranges that span a PMD-mapped THP but leave a page out split it: the
 * page left out keeps its bit and its write permission.
 */
TEST_F(sweep, rearm_vector_splits_thp_around_gap)
{
	const size_t n = PMD_SIZE_2M / ps;
	struct iovec iov[2];
	const char *why;
	int pidfd;
	char *p;

	why = map_thp(&p);
	if (why)
		SKIP(return, "%s", why);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, madvise(p, PMD_SIZE_2M, MADV_WATCH));
	p[0] = 2;
	ASSERT_EQ(2048, mmw_vma_field_kb(0, (unsigned long)p, "AnonHugePages:"));

	pidfd = mmw_pidfd_open(getpid());
	ASSERT_LE(0, pidfd);
	iov[0].iov_base = p;
	iov[0].iov_len = n / 2 * ps;
	iov[1].iov_base = p + (n / 2 + 1) * ps;
	iov[1].iov_len = (n / 2 - 1) * ps;
	ASSERT_EQ((ssize_t)(PMD_SIZE_2M - ps), mmw_process_madvise(pidfd, iov, 2, MADV_WATCH));
	close(pidfd);
	EXPECT_EQ(0, mmw_vma_field_kb(0, (unsigned long)p, "AnonHugePages:"));
	EXPECT_EQ(0, mmw_pagemap(self->pagemap, mmw_pg(p, 0)) & PM_SOFT_DIRTY);
	EXPECT_NE(0, mmw_pagemap(self->pagemap, mmw_pg(p, n / 2)) & PM_SOFT_DIRTY);
	EXPECT_EQ(0, mmw_pagemap(self->pagemap, mmw_pg(p, n - 1)) & PM_SOFT_DIRTY);

	/* The THP's one write fault covers page n / 2; only page 0 faults again. */
	p[n / 2 * ps] = 3;
	p[0] = 3;
	MMW_READ_OWN_EVENTS();
	EXPECT_EQ(1, MMW_WRITE_FAULTS(mmw_pg(p, n / 2), mmw_pg(p, n / 2 + 1)));
	EXPECT_EQ(2, MMW_WRITE_FAULTS(mmw_pg(p, 0), mmw_pg(p, 1)));
	munmap(p, PMD_SIZE_2M);
}

/*
 * The sweep a consumer does after a loss: with the write_fault event off,
 * PAGEMAP_SCAN for soft-dirty pages finds exactly the pages written.
 */
TEST_F(sweep, pagemap_scan_finds_lost_writes)
{
	struct page_region regions[NPAGES];
	struct pm_scan_arg arg = {
		.size = sizeof(arg),
		.start = (unsigned long)self->p,
		.end = (unsigned long)self->p + self->len,
		.vec = (unsigned long)regions,
		.vec_len = NPAGES,
		.category_mask = PAGE_IS_SOFT_DIRTY,
		.return_mask = PAGE_IS_SOFT_DIRTY,
	};
	char path[300];
	unsigned long found = 0, addr;
	long nr, i;

	ASSERT_EQ(0, madvise(self->p, self->len, MADV_WATCH));
	snprintf(path, sizeof(path), "%s/events/mm_watch/mm_watch_write_fault/enable",
		 self->t.dir);
	ASSERT_EQ(0, mmw_write_file(path, "0"));
	write_pages(self->p, 0x4211);
	MMW_READ_OWN_EVENTS();
	EXPECT_EQ(0, MMW_WRITE_FAULTS((unsigned long)self->p,
				      (unsigned long)self->p + self->len));

	nr = ioctl(self->pagemap, PAGEMAP_SCAN, &arg);
	ASSERT_LE(0, nr) TH_LOG("PAGEMAP_SCAN: %s", strerror(errno));
	for (i = 0; i < nr; i++)
		for (addr = regions[i].start; addr < regions[i].end; addr += ps)
			found |= 1UL << ((addr - (unsigned long)self->p) / ps);
	EXPECT_EQ(0x4211UL, found);
}

/*
 * PAGEMAP_SCAN with PM_SCAN_WP_MATCHING and @flags over [p, p + n pages):
 * the pages written, armed again in the same walk, in at most @vec_len
 * regions that return @return_mask. With @categories PAGE_IS_WATCHED, the
 * pages of watched VMAs written since armed; with none, as a WP_ASYNC
 * user asks. Bit i of the result: page i was reported written.
 */
static long scan_wp_vec(int pagemap, char *p, size_t n, __u64 flags,
			__u64 categories, __u64 return_mask, size_t vec_len,
			unsigned long *found)
{
	struct page_region regions[NPAGES];
	struct pm_scan_arg arg = {
		.size = sizeof(arg),
		.flags = PM_SCAN_WP_MATCHING | flags,
		.start = (unsigned long)p,
		.end = (unsigned long)p + n * ps,
		.vec = (unsigned long)regions,
		.vec_len = vec_len,
		.category_mask = PAGE_IS_WRITTEN | categories,
		.return_mask = return_mask,
	};
	unsigned long addr;
	long nr, i;

	*found = 0;
	nr = ioctl(pagemap, PAGEMAP_SCAN, &arg);
	for (i = 0; i < nr; i++)
		for (addr = regions[i].start; addr < regions[i].end; addr += ps)
			*found |= 1UL << ((addr - (unsigned long)p) / ps);
	return nr < 0 ? -errno : nr;
}

/* scan_wp_vec() of watched VMAs, a consumer's re-arm */
static long scan_rearm_vec(int pagemap, char *p, size_t n, __u64 flags,
			   __u64 return_mask, size_t vec_len, unsigned long *found)
{
	return scan_wp_vec(pagemap, p, n, flags, PAGE_IS_WATCHED, return_mask, vec_len, found);
}

/* As scan_rearm_vec(), returning PAGE_IS_WRITTEN, the fast path. */
static long scan_rearm(int pagemap, char *p, size_t n, __u64 flags, unsigned long *found)
{
	return scan_rearm_vec(pagemap, p, n, flags, PAGE_IS_WRITTEN, NPAGES, found);
}

/* scan_wp_vec() as a WP_ASYNC user's scan, which does not ask for watched VMAs */
static long scan_wp_async(int pagemap, char *p, size_t n, __u64 flags, unsigned long *found)
{
	return scan_wp_vec(pagemap, p, n, flags, 0, PAGE_IS_WRITTEN, NPAGES, found);
}

/*
 * Write every page of the fixture: a page written since the trace was
 * cleared (@written) faults again only if it was armed again (@rearmed),
 * any other page faults once, and only @rearmed pages saw a re-arm.
 */
static void check_rearmed(struct __test_metadata *_metadata,
			  struct _test_data_sweep *self, unsigned long written,
			  unsigned long rearmed)
{
	const struct mmw_event *e;
	size_t i;

	write_pages(self->p, 0xffff);
	EXPECT_EQ(0xffffUL, mmw_soft_dirty(self->pagemap, self->p, NPAGES));
	MMW_READ_OWN_EVENTS();
	for (i = 0; i < NPAGES; i++) {
		unsigned long pg = mmw_pg(self->p, i);
		bool was_written = written & (1UL << i);
		bool again = rearmed & (1UL << i);

		EXPECT_EQ(was_written + (!was_written || again),
			  MMW_WRITE_FAULTS(pg, pg + ps)) TH_LOG("page %zu", i);
		e = mmw_find(&self->t, MMW_MARK, self->id, pg, pg + ps);
		EXPECT_EQ(again, e && e->rearm) TH_LOG("re-arm of page %zu", i);
	}
}

/*
 * The written pages are reported, armed again and reported re-armed; the
 * others, empty ones included, are left alone: each later write faults
 * once, wherever it lands.
 */
TEST_F(sweep, pagemap_scan_rearms_written)
{
	unsigned long found;

	ASSERT_EQ(0, madvise(self->p, self->len, MADV_WATCH));
	ASSERT_EQ(0, madvise(self->p + 15 * ps, ps, MADV_DONTNEED));
	/* Only re-arms are marks from here on. */
	MMW_READ_OWN_EVENTS();
	ASSERT_EQ(0, mmw_trace_clear(&self->t));
	write_pages(self->p, 0x4211);
	EXPECT_EQ(4, scan_rearm(self->pagemap, self->p, NPAGES,
				PM_SCAN_CHECK_WPASYNC, &found));
	EXPECT_EQ(0x4211UL, found);
	EXPECT_EQ(0UL, mmw_soft_dirty(self->pagemap, self->p, NPAGES));
	EXPECT_EQ(0, scan_rearm(self->pagemap, self->p, NPAGES, 0, &found));
	EXPECT_EQ(0UL, found);
	check_rearmed(_metadata, self, 0x4211, 0x4211);
}

/*
 * mmap() sets VM_SOFTDIRTY on the VMA a new mapping merges into, here a
 * watched one (MADV_WATCH_ALL watches the new part too). A write through
 * /proc/self/mem (FOLL_FORCE) into one of its read-only armed pages must
 * still set the page's bit, or the sweep would not find it.
 */
TEST_F(sweep, force_write_after_merge_reads_written)
{
	unsigned long found;
	char *area, v = 7;
	int mem, i;

	/* read-only pages, then a reservation they cannot merge with */
	area = mmap(NULL, 8 * ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, area);
	ASSERT_EQ(area, mmap(area, 4 * ps, PROT_READ,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
	mem = open("/proc/self/mem", O_RDWR);
	ASSERT_LE(0, mem);
	/* anonymous and exclusive: FOLL_FORCE writes them without a fault */
	for (i = 0; i < 4; i++)
		ASSERT_EQ(1, pwrite(mem, &v, 1, (off_t)(unsigned long)(area + i * ps)));
	ASSERT_EQ(0, madvise(NULL, 0, MADV_WATCH_ALL));
	EXPECT_EQ(0UL, mmw_soft_dirty(self->pagemap, area, 4));
	EXPECT_EQ(0, mmw_vma_has_flag(0, (unsigned long)area, "sd"));

	ASSERT_EQ(area + 4 * ps, mmap(area + 4 * ps, ps, PROT_READ,
				      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
	ASSERT_EQ(5L * ps / 1024, mmw_vma_field_kb(0, (unsigned long)area, "Size:"));
	ASSERT_EQ(1, mmw_vma_has_flag(0, (unsigned long)area, "sd"));
	ASSERT_EQ(1, pwrite(mem, &v, 1, (off_t)(unsigned long)(area + ps + 8)));
	EXPECT_EQ(1, scan_rearm(self->pagemap, area, 4, 0, &found));
	EXPECT_EQ(0x2UL, found);

	EXPECT_EQ(0, madvise(NULL, 0, MADV_UNWATCH_ALL));
	close(mem);
	munmap(area, 8 * ps);
}

/*
 * Without the PAGE_IS_WRITTEN fast path (another category returned), and
 * across page tables: the same pages, armed again in the walk.
 */
TEST_F(sweep, pagemap_scan_rearm_any_categories)
{
	const size_t n = PMD_SIZE_2M / ps + NPAGES;
	unsigned long found;
	char *p;

	p = mmw_map_aligned(2 * PMD_SIZE_2M, PMD_SIZE_2M, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS);
	ASSERT_NE(MAP_FAILED, p);
	/* the fixture's 16 pages straddle a page table boundary */
	munmap(self->p, self->len);
	self->p = p + PMD_SIZE_2M - NPAGES / 2 * ps;
	self->len = NPAGES * ps;
	ASSERT_EQ(0, madvise(p, 2 * PMD_SIZE_2M, MADV_NOHUGEPAGE));
	memset(p, 1, n * ps);
	ASSERT_EQ(0, madvise(p, 2 * PMD_SIZE_2M, MADV_WATCH));
	MMW_READ_OWN_EVENTS();
	ASSERT_EQ(0, mmw_trace_clear(&self->t));
	write_pages(self->p, 0x01f1);
	EXPECT_EQ(2, scan_rearm_vec(self->pagemap, self->p, NPAGES, 0,
				    PAGE_IS_WRITTEN | PAGE_IS_PRESENT, NPAGES, &found));
	EXPECT_EQ(0x01f1UL, found);
	EXPECT_EQ(0UL, mmw_soft_dirty(self->pagemap, self->p, NPAGES));
	check_rearmed(_metadata, self, 0x01f1, 0x01f1);
	munmap(p, self->p - p);
	munmap(self->p + self->len, p + 2 * PMD_SIZE_2M - (self->p + self->len));
}

/* A walk stopped by a full output vector arms only what it returned. */
TEST_F(sweep, pagemap_scan_rearm_stops_with_vec)
{
	unsigned long found;

	ASSERT_EQ(0, madvise(self->p, self->len, MADV_WATCH));
	MMW_READ_OWN_EVENTS();
	ASSERT_EQ(0, mmw_trace_clear(&self->t));
	write_pages(self->p, 0x4211);
	EXPECT_EQ(2, scan_rearm_vec(self->pagemap, self->p, NPAGES, 0,
				    PAGE_IS_WRITTEN, 2, &found));
	EXPECT_EQ(0x0011UL, found);
	EXPECT_EQ(0x4200UL, mmw_soft_dirty(self->pagemap, self->p, NPAGES));
	check_rearmed(_metadata, self, 0x4211, 0x0011);
}

/*
 * Swapped-out written pages are armed again too, next to present ones in
 * the same page table: their swap entries lose the bit.
 */
TEST_F(sweep, pagemap_scan_rearms_swapped)
{
	unsigned long found;

	WATCH_WRITE_SWAP_OUT(0x8004, return);
	MMW_READ_OWN_EVENTS();
	ASSERT_EQ(0, mmw_trace_clear(&self->t));
	/* page 8 is present again, and written */
	write_pages(self->p, 0x0100);
	ASSERT_EQ(0, mmw_pagemap(self->pagemap, mmw_pg(self->p, 8)) & PM_SWAP);
	EXPECT_EQ(3, scan_rearm(self->pagemap, self->p, NPAGES, 0, &found));
	EXPECT_EQ(0x8104UL, found);
	EXPECT_EQ(0UL, mmw_soft_dirty(self->pagemap, self->p, NPAGES));
	check_rearmed(_metadata, self, 0x0100, 0x8104);
}

/*
 * A poisoned page changed without a fault: the scan finds it once and arms
 * it, leaving the marker.
 */
TEST_F(sweep, pagemap_scan_rearms_poison)
{
	unsigned long found;
	int fd;

	fd = mmw_uffd_open(UFFD_FEATURE_POISON);
	if (fd < 0)
		SKIP(return, "userfaultfd with UFFDIO_POISON: %s", strerror(errno));
	watch_and_poison(_metadata, self, fd, 5);
	write_pages(self->p, 0x0001);
	EXPECT_EQ(2, scan_rearm(self->pagemap, self->p, NPAGES, 0, &found));
	EXPECT_EQ(0x0021UL, found);
	EXPECT_EQ(0, scan_rearm(self->pagemap, self->p, NPAGES, 0, &found));
	EXPECT_EQ(0UL, found);
	EXPECT_NE(0, mmw_pagemap(self->pagemap, mmw_pg(self->p, 5)) & PM_SWAP);
	close(fd);
}

/* A watched VMA is write-protectable; an unwatched one is not. */
TEST_F(sweep, pagemap_scan_rearm_checks_vmas)
{
	unsigned long found;

	ASSERT_EQ(0, madvise(self->p, NPAGES / 2 * ps, MADV_WATCH));
	write_pages(self->p, 0x0101);
	/* Without the check the unwatched VMA is skipped, and left alone. */
	EXPECT_EQ(1, scan_rearm(self->pagemap, self->p, NPAGES, 0, &found));
	EXPECT_EQ(0x0001UL, found);
	EXPECT_EQ(0xff00UL, mmw_soft_dirty(self->pagemap, self->p, NPAGES));
	EXPECT_EQ(-EPERM, scan_rearm(self->pagemap, self->p, NPAGES,
				     PM_SCAN_CHECK_WPASYNC, &found));
}

/*
 * Watched VMAs take part in a scan only if it asks for them alone, with
 * PAGE_IS_WATCHED required. Any other, such as a WP_ASYNC user's written
 * before watches, sees them as it would without the watch: not WP_ASYNC,
 * left alone by PM_SCAN_WP_MATCHING, refused by PM_SCAN_CHECK_WPASYNC,
 * every present page written. It cannot clear "written since armed" under
 * the consumer; nor can the consumer's scan write-protect the pages of a
 * VMA registered for WP_ASYNC, which are not its to arm.
 */
TEST_F(sweep, pagemap_scan_rearm_watched_only)
{
	char *async = self->p + NPAGES / 2 * ps;
	struct page_region regions[NPAGES];
	struct pm_scan_arg arg = {
		.size = sizeof(arg),
		.start = (unsigned long)self->p,
		.end = (unsigned long)self->p + self->len,
		.vec = (unsigned long)regions,
		.vec_len = NPAGES,
		.category_mask = PAGE_IS_WATCHED,
		.return_mask = PAGE_IS_WATCHED,
	};
	unsigned long found;
	int uffd;

	uffd = mmw_uffd_open(UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED);
	if (uffd < 0)
		SKIP(return, "userfaultfd WP_ASYNC: %s", strerror(errno));
	ASSERT_EQ(0, madvise(self->p, NPAGES / 2 * ps, MADV_WATCH));
	ASSERT_EQ(0, mmw_uffd_register(uffd, async, NPAGES / 2 * ps,
				       UFFDIO_REGISTER_MODE_WP));
	/* only the watched half is reported watched, as one region */
	ASSERT_EQ(1, ioctl(self->pagemap, PAGEMAP_SCAN, &arg));
	EXPECT_EQ((unsigned long)self->p, regions[0].start);
	EXPECT_EQ((unsigned long)async, regions[0].end);
	EXPECT_EQ(PAGE_IS_WATCHED, regions[0].categories);

	/* the process's own scan of both arms its half, every page written */
	write_pages(self->p, 0x0101);
	EXPECT_EQ(1, scan_wp_async(self->pagemap, self->p, NPAGES, 0, &found));
	EXPECT_EQ(0xff00UL, found);
	EXPECT_EQ(0x0001UL, mmw_soft_dirty(self->pagemap, self->p, NPAGES / 2));
	EXPECT_EQ(-EPERM, scan_wp_async(self->pagemap, self->p, NPAGES,
					PM_SCAN_CHECK_WPASYNC, &found));
	/* to it, the watched pages read as any other's: written */
	arg.category_mask = PAGE_IS_WRITTEN;
	arg.return_mask = PAGE_IS_WRITTEN;
	arg.end = (unsigned long)async;
	ASSERT_EQ(1, ioctl(self->pagemap, PAGEMAP_SCAN, &arg));
	EXPECT_EQ((unsigned long)self->p, regions[0].start);
	EXPECT_EQ((unsigned long)async, regions[0].end);

	/* the consumer's arms its own written pages, and only those */
	write_pages(self->p, 0x0202);
	EXPECT_EQ(1, scan_rearm(self->pagemap, self->p, NPAGES, 0, &found));
	EXPECT_EQ(0x0003UL, found);
	EXPECT_EQ(0UL, mmw_soft_dirty(self->pagemap, self->p, NPAGES / 2));
	/* the WP_ASYNC half's written page is still written */
	EXPECT_EQ(1, scan_wp_async(self->pagemap, async, NPAGES / 2, 0, &found));
	EXPECT_EQ(0x0002UL, found);
	close(uffd);
}

#define WRITE_LOCK_EVENT	"events/mmap_lock/mmap_lock_start_locking"

/* Count the trace lines of @path; -1 if it cannot be read. */
static long count_trace_lines(const char *path)
{
	char buf[4096];
	long lines = 0;
	bool bol = true;
	ssize_t len, i;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	while ((len = read(fd, buf, sizeof(buf))) > 0) {
		for (i = 0; i < len; i++) {
			if (bol && buf[i] != '#')
				lines++;
			bol = buf[i] == '\n';
		}
	}
	close(fd);
	return len < 0 ? -1 : lines;
}

/*
 * How many times this process took its mmap lock for writing in a
 * re-arming PAGEMAP_SCAN of @n pages at @p, counted with the mmap_lock
 * events of a trace instance of its own: -1 if the kernel has no such
 * events, -2 on another error.
 */
static long scan_write_locks(int pagemap, char *p, size_t n)
{
	char dir[64], path[160], pid[16];
	unsigned long found;
	long count = -2;

	snprintf(dir, sizeof(dir), MMW_TRACEFS "/instances/mmw-lock-%d",
		 getpid());
	if (mkdir(dir, 0700))
		return -2;
	snprintf(path, sizeof(path), "%s/" WRITE_LOCK_EVENT, dir);
	if (access(path, F_OK)) {
		count = -1;
		goto out;
	}
	snprintf(path, sizeof(path), "%s/set_event_pid", dir);
	snprintf(pid, sizeof(pid), "%d", getpid());
	if (mmw_write_file(path, pid))
		goto out;
	snprintf(path, sizeof(path), "%s/" WRITE_LOCK_EVENT "/filter", dir);
	if (mmw_write_file(path, "write == 1"))
		goto out;
	snprintf(path, sizeof(path), "%s/" WRITE_LOCK_EVENT "/enable", dir);
	if (mmw_write_file(path, "1"))
		goto out;
	if (scan_rearm(pagemap, p, n, 0, &found) < 0 ||
	    mmw_write_file(path, "0"))
		goto out;
	snprintf(path, sizeof(path), "%s/trace", dir);
	count = count_trace_lines(path);
	if (count < 0)
		count = -2;
out:
	if (rmdir(dir))
		count = -2;
	return count;
}

/*
 * A re-arming PAGEMAP_SCAN takes the mmap lock for writing only where it
 * walks a watched VMA: a WP_ASYNC user of the rest of a watched mm, or of
 * an mm watched before, keeps the read lock.
 */
TEST_F(sweep, pagemap_scan_write_locks_watched_only)
{
	const size_t half = NPAGES / 2;
	long locks;

	ASSERT_EQ(0, madvise(self->p, half * ps, MADV_WATCH));
	locks = scan_write_locks(self->pagemap, self->p, NPAGES);
	if (locks == -1)
		SKIP(return, "no mmap_lock events to count the locks with");
	ASSERT_LE(0, locks);
	/* the count works: the watched half takes it */
	EXPECT_EQ(1, locks);
	EXPECT_EQ(0, scan_write_locks(self->pagemap, self->p + half * ps, half));
	ASSERT_EQ(0, madvise(self->p, half * ps, MADV_UNWATCH));
	EXPECT_EQ(0, scan_write_locks(self->pagemap, self->p, NPAGES));
}

/*
 * Written pages armed again before an unwatched VMA fails the call under
 * PM_SCAN_CHECK_WPASYNC are returned, not lost to the error, with walk_end
 * after the last; the call from there fails.
 */
TEST_F(sweep, pagemap_scan_rearm_error_returns_armed)
{
	struct page_region regions[NPAGES];
	struct pm_scan_arg arg = {
		.size = sizeof(arg),
		.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
		.start = (unsigned long)self->p,
		.end = (unsigned long)self->p + self->len,
		.vec = (unsigned long)regions,
		.vec_len = NPAGES,
		.category_mask = PAGE_IS_WRITTEN | PAGE_IS_WATCHED,
		.return_mask = PAGE_IS_WRITTEN,
	};

	ASSERT_EQ(0, madvise(self->p, NPAGES / 2 * ps, MADV_WATCH));
	write_pages(self->p, 0x0012);
	ASSERT_EQ(2, ioctl(self->pagemap, PAGEMAP_SCAN, &arg));
	EXPECT_EQ((unsigned long)self->p + ps, regions[0].start);
	EXPECT_EQ((unsigned long)self->p + 5 * ps, regions[1].end);
	EXPECT_EQ((unsigned long)self->p + 5 * ps, arg.walk_end);
	/* armed: the watched half is clean, the other still written */
	EXPECT_EQ(0xff00UL, mmw_soft_dirty(self->pagemap, self->p, NPAGES));

	arg.start = arg.walk_end;
	EXPECT_EQ(-1, ioctl(self->pagemap, PAGEMAP_SCAN, &arg));
	EXPECT_EQ(EPERM, errno);

	/* armed again: the next writes fault */
	write_pages(self->p, 0x0012);
	MMW_READ_OWN_EVENTS();
	EXPECT_EQ(2, MMW_WRITE_FAULTS(mmw_pg(self->p, 1), mmw_pg(self->p, 2)));
	EXPECT_EQ(2, MMW_WRITE_FAULTS(mmw_pg(self->p, 4), mmw_pg(self->p, 5)));
}

/* A page the re-arm finds pinned stays written, and is reported again. */
TEST_F(sweep, pagemap_scan_rearm_pinned)
{
	struct iovec iov = { .iov_base = self->p + 3 * ps, .iov_len = ps };
	unsigned long found;
	int pfd[2];

	ASSERT_EQ(0, pipe(pfd));
	ASSERT_EQ((ssize_t)ps, vmsplice(pfd[1], &iov, 1, 0));
	ASSERT_EQ(0, madvise(self->p, self->len, MADV_WATCH));
	write_pages(self->p, 0x0002);
	EXPECT_EQ(2, scan_rearm(self->pagemap, self->p, NPAGES, 0, &found));
	EXPECT_EQ(0x000aUL, found);
	EXPECT_EQ(0x0008UL, mmw_soft_dirty(self->pagemap, self->p, NPAGES));
	MMW_READ_OWN_EVENTS();
	EXPECT_EQ(2, mmw_count(&self->t, MMW_PINNED, self->id, mmw_pg(self->p, 3),
			       mmw_pg(self->p, 4))) mmw_trace_dump(&self->t, 20);
	close(pfd[0]);
	close(pfd[1]);
}

/*
 * A page just faulted in waits in a CPU's LRU batch, whose reference is no
 * pin: a re-arm that looks for pins (after a GUP for writing) empties the
 * batches first, as a process_madvise() re-arm does.
 */
TEST_F(sweep, pagemap_scan_rearm_fresh_not_pinned)
{
	char c = 1;
	struct iovec local = { .iov_base = &c, .iov_len = 1 };
	struct iovec remote = { .iov_base = self->p, .iov_len = 1 };
	unsigned long found;

	ASSERT_EQ(0, madvise(self->p, self->len, MADV_WATCH));
	/* A GUP for writing: from now on the re-arms look for pins. */
	ASSERT_EQ(1, process_vm_writev(getpid(), &local, 1, &remote, 1, 0));
	/* Pages 1 and 2 faulted in again by their writes. */
	ASSERT_EQ(0, madvise(self->p + ps, 2 * ps, MADV_DONTNEED));
	write_pages(self->p, 0x0006);
	EXPECT_EQ(1, scan_rearm(self->pagemap, self->p, NPAGES, 0, &found));
	EXPECT_EQ(0x0007UL, found);
	EXPECT_EQ(0UL, mmw_soft_dirty(self->pagemap, self->p, NPAGES));
	MMW_READ_OWN_EVENTS();
	EXPECT_EQ(0, mmw_count(&self->t, MMW_PINNED, self->id, mmw_pg(self->p, 0),
			       mmw_pg(self->p, NPAGES))) mmw_trace_dump(&self->t, 20);
}

/* A written PMD-mapped THP is re-armed whole, without a split. */
TEST_F(sweep, pagemap_scan_rearms_thp)
{
	struct page_region region;
	struct pm_scan_arg arg = {
		.size = sizeof(arg),
		.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
		.vec = (unsigned long)&region,
		.vec_len = 1,
		.category_mask = PAGE_IS_WRITTEN | PAGE_IS_WATCHED,
		.return_mask = PAGE_IS_WRITTEN | PAGE_IS_HUGE,
	};
	const size_t n = PMD_SIZE_2M / ps;
	const char *why;
	char *p;

	why = map_thp(&p);
	if (why)
		SKIP(return, "%s", why);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, madvise(p, PMD_SIZE_2M, MADV_WATCH));
	p[5 * ps] = 2;
	arg.start = (unsigned long)p;
	arg.end = (unsigned long)p + PMD_SIZE_2M;
	ASSERT_EQ(1, ioctl(self->pagemap, PAGEMAP_SCAN, &arg)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ((unsigned long)p, region.start);
	EXPECT_EQ((unsigned long)p + PMD_SIZE_2M, region.end);
	EXPECT_EQ(PAGE_IS_WRITTEN | PAGE_IS_HUGE, region.categories);
	EXPECT_EQ(2048, mmw_vma_field_kb(0, (unsigned long)p, "AnonHugePages:"));
	EXPECT_EQ(0, mmw_pagemap(self->pagemap, mmw_pg(p, 5)) & PM_SOFT_DIRTY);
	p[n - 1] = 3;
	MMW_READ_OWN_EVENTS();
	EXPECT_EQ(2, MMW_WRITE_FAULTS((unsigned long)p, (unsigned long)p + PMD_SIZE_2M))
		mmw_trace_dump(&self->t, 20);
	munmap(p, PMD_SIZE_2M);
}

/* Every other page of @n written: @n / 2 regions of one page. */
static void write_every_other(char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i += 2)
		p[i * ps] += 1;
}

/*
 * More regions than one walk buffers (512): the ioctl walks again after
 * the first has filled its buffer, and reports walk_end at the end of the
 * range once the second one has reached it.
 */
TEST_F(sweep, pagemap_scan_walk_end_after_full_buffer)
{
	const size_t n = 4096;
	struct page_region *regions;
	struct pm_scan_arg arg = {
		.size = sizeof(arg),
		.flags = PM_SCAN_WP_MATCHING,
		.vec_len = n,
		.category_mask = PAGE_IS_WRITTEN | PAGE_IS_WATCHED,
		.return_mask = PAGE_IS_WRITTEN,
	};
	char *p;
	size_t i;

	p = mmap(NULL, n * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	regions = calloc(n, sizeof(*regions));
	ASSERT_NE(NULL, regions);
	ASSERT_EQ(0, madvise(p, n * ps, MADV_NOHUGEPAGE));
	memset(p, 1, n * ps);
	ASSERT_EQ(0, madvise(p, n * ps, MADV_WATCH));
	write_every_other(p, n);
	arg.start = (unsigned long)p;
	arg.end = (unsigned long)p + n * ps;
	arg.vec = (unsigned long)regions;
	ASSERT_EQ(n / 2, ioctl(self->pagemap, PAGEMAP_SCAN, &arg)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(arg.end, arg.walk_end);
	for (i = 0; i < n / 2; i++) {
		EXPECT_EQ(mmw_pg(p, 2 * i), regions[i].start);
		EXPECT_EQ(mmw_pg(p, 2 * i + 1), regions[i].end);
	}
	/* all armed again */
	EXPECT_EQ(0, ioctl(self->pagemap, PAGEMAP_SCAN, &arg));
	EXPECT_EQ(arg.end, arg.walk_end);
	free(regions);
	munmap(p, n * ps);
}

#define WAIT_MIB	64

struct faulter {
	char *p;
	size_t n;
	int stop;
	unsigned long writes;
};

/* Write the pages of [p, p + n pages) in turn: each first write faults. */
static void *fault_pages(void *arg)
{
	struct faulter *f = arg;
	unsigned long i;

	for (i = 0; !__atomic_load_n(&f->stop, __ATOMIC_RELAXED); i++) {
		__atomic_store_n(f->p + (i % f->n) * ps, (char)i, __ATOMIC_RELAXED);
		__atomic_store_n(&f->writes, i + 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/*
 * The target faults in the range while the walk arms it: a walk that finds
 * a fault waiting for the mmap lock lets it in, and goes on. A run written
 * whole is still reported as one region, across the walks; a page written
 * during the scan is either reported or found written after it.
 */
TEST_F_TIMEOUT(sweep, pagemap_scan_rearm_lets_faults_in, 120)
{
	const size_t n = (WAIT_MIB << 20) / ps, half = n / 2;
	struct faulter f = { .n = half };
	struct page_region regions[64];
	struct pm_scan_arg arg = {
		.size = sizeof(arg),
		.flags = PM_SCAN_WP_MATCHING,
		.vec = (unsigned long)regions,
		.vec_len = ARRAY_SIZE(regions),
		.category_mask = PAGE_IS_WRITTEN | PAGE_IS_WATCHED,
		.return_mask = PAGE_IS_WRITTEN,
	};
	unsigned long before, during = 0;
	char *p, *reported;
	pthread_t thread;
	size_t i, pg;
	int round;
	long nr;

	p = mmw_map_aligned(WAIT_MIB << 20, PMD_SIZE_2M, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS);
	ASSERT_NE(MAP_FAILED, p);
	reported = calloc(half, 1);
	ASSERT_NE(NULL, reported);
	ASSERT_EQ(0, madvise(p, n * ps, MADV_NOHUGEPAGE));
	memset(p, 1, n * ps);
	ASSERT_EQ(0, madvise(p, n * ps, MADV_WATCH));
	arg.start = (unsigned long)p;
	arg.end = (unsigned long)p + n * ps;
	f.p = p + half * ps;
	ASSERT_EQ(0, pthread_create(&thread, NULL, fault_pages, &f));
	for (round = 0; round < 4; round++) {
		memset(p, round, half * ps);
		before = __atomic_load_n(&f.writes, __ATOMIC_RELAXED);
		nr = ioctl(self->pagemap, PAGEMAP_SCAN, &arg);
		ASSERT_LE(1, nr) TH_LOG("%s", strerror(errno));
		EXPECT_EQ(arg.end, arg.walk_end);
		/* the lower half, with what the thread wrote next to it */
		EXPECT_EQ(arg.start, regions[0].start);
		ASSERT_LE((unsigned long)f.p, regions[0].end);
		for (i = 0; i < nr; i++) {
			ASSERT_LT(regions[i].start, regions[i].end);
			ASSERT_GE(arg.end, regions[i].end);
			if (i)
				ASSERT_LT(regions[i - 1].end, regions[i].start);
			pg = regions[i].start < (unsigned long)f.p ? 0 :
			     (regions[i].start - (unsigned long)f.p) / ps;
			for (; pg < (regions[i].end - (unsigned long)f.p) / ps; pg++)
				reported[pg] = 1;
		}
		during += __atomic_load_n(&f.writes, __ATOMIC_RELAXED) - before;
	}
	__atomic_store_n(&f.stop, 1, __ATOMIC_RELAXED);
	ASSERT_EQ(0, pthread_join(thread, NULL));
	ASSERT_LT(0, f.writes);
	/* nothing in the lower half since the last scan */
	for (i = 0; i < half; i++)
		ASSERT_EQ(0, mmw_pagemap(self->pagemap, mmw_pg(p, i)) & PM_SOFT_DIRTY)
			TH_LOG("page %zu", i);
	for (i = 0; i < half && i < f.writes; i++)
		ASSERT_TRUE(reported[i] ||
			    (mmw_pagemap(self->pagemap, mmw_pg(f.p, i)) & PM_SOFT_DIRTY))
			TH_LOG("page %zu of %lu written", i, f.writes);
	TH_LOG("%lu writes, %lu of them during the scans", f.writes, during);
	free(reported);
	munmap(p, n * ps);
}

TEST_HARNESS_MAIN
