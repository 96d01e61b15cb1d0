// SPDX-License-Identifier: GPL-2.0
/*
 * Content changes of a watched range by the process itself: first touch,
 * reads, read(2) into the range, COW of private file pages, PMD-mapped THP,
 * mprotect, mremap, MADV_DONTNEED and MADV_FREE. Each test compares the
 * contents with a snapshot and checks that every changed page was reported
 * by an mm_watch event, and, where the design promises it, that untouched
 * pages were not.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "../kselftest_harness.h"
#include "watch_util.h"

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP	4
#endif

#define PMD_SIZE_2M		(2UL << 20)

static size_t ps;

FIXTURE(fault) {
	struct mmw_trace t;
	__u64 id;
	char *zero;
};

FIXTURE_SETUP(fault)
{
	ps = getpagesize();
	MMW_SKIP_WITHOUT_FEATURE(return);
	ASSERT_EQ(0, mmw_trace_init(&self->t, NULL, 2048));
	self->zero = calloc(1, 4 * PMD_SIZE_2M);
	ASSERT_NE(NULL, self->zero);
}

FIXTURE_TEARDOWN(fault)
{
	mmw_trace_fini(&self->t);
	free(self->zero);
}

static char *map_anon(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p != MAP_FAILED)
		madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

TEST_F(fault, first_touch_write)
{
	const size_t n = 16;
	char *p = map_anon(n * ps);
	size_t i;

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, madvise(p, n * ps, MADV_WATCH));
	for (i = 0; i < n; i += 2)
		p[i * ps + 7] = 1;
	MMW_READ_OWN_EVENTS();
	MMW_EXPECT_ALL_REPORTED(self->zero, p, n * ps, "first touch");
	for (i = 0; i < n; i++) {
		const struct mmw_event *e;

		EXPECT_EQ(i % 2 ? 0 : 1, MMW_WRITE_FAULTS(mmw_pg(p, i), mmw_pg(p, i + 1)));
		e = mmw_find(&self->t, MMW_WRITE_FAULT, self->id, mmw_pg(p, i), mmw_pg(p, i + 1));
		if (e) {
			EXPECT_EQ(mmw_pg(p, i), e->start);
			EXPECT_EQ(ps, e->end - e->start);
			EXPECT_EQ(getpid(), e->tgid);
		}
	}
	munmap(p, n * ps);
}

TEST_F(fault, read_then_write)
{
	const size_t n = 16;
	char *p = map_anon(n * ps);
	size_t i;

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, madvise(p, n * ps, MADV_WATCH));
	mmw_read_pages(p, n);
	MMW_READ_OWN_EVENTS();
	EXPECT_EQ(0, MMW_WRITE_FAULTS(0, ~0UL)) mmw_trace_dump(&self->t, 20);
	for (i = 0; i < n; i += 3)
		p[i * ps] = 1;
	MMW_READ_OWN_EVENTS();
	MMW_EXPECT_ALL_REPORTED(self->zero, p, n * ps, "read then write");
	for (i = 0; i < n; i++)
		EXPECT_EQ(i % 3 ? 0 : 1, MMW_WRITE_FAULTS(mmw_pg(p, i), mmw_pg(p, i + 1)));
	munmap(p, n * ps);
}

TEST_F(fault, populated_reads_then_writes)
{
	const size_t n = 16;
	char *p = map_anon(n * ps), *snap;
	size_t i;

	ASSERT_NE(MAP_FAILED, p);
	memset(p, 0x11, n * ps);
	ASSERT_EQ(0, madvise(p, n * ps, MADV_WATCH));
	snap = mmw_snapshot(p, n * ps);
	ASSERT_NE(NULL, snap);
	mmw_read_pages(p, n);
	MMW_READ_OWN_EVENTS();
	EXPECT_EQ(0, MMW_WRITE_FAULTS(0, ~0UL));
	for (i = 1; i < n; i += 2)
		p[i * ps + ps - 1] = 2;
	MMW_READ_OWN_EVENTS();
	MMW_EXPECT_ALL_REPORTED(snap, p, n * ps, "populated");
	for (i = 0; i < n; i++)
		EXPECT_EQ(i % 2, MMW_WRITE_FAULTS(mmw_pg(p, i), mmw_pg(p, i + 1)));
	free(snap);
	munmap(p, n * ps);
}

/* copy_to_user() from read(2): the kernel writes through the watched mapping. */
static void read_syscall(struct __test_metadata *_metadata, struct _test_data_fault *self,
			 bool from_file)
{
	const size_t n = 8;
	char *p = map_anon(n * ps), *snap, *data;
	size_t len = n * ps - 200, done = 0;
	int fd[2];

	ASSERT_NE(MAP_FAILED, p);
	/* pages 0..3 populated before the mark, 4..7 never touched */
	memset(p, 0x22, 4 * ps);
	ASSERT_EQ(0, madvise(p, n * ps, MADV_WATCH));
	snap = mmw_snapshot(p, 4 * ps);
	ASSERT_NE(NULL, snap);
	data = malloc(len);
	ASSERT_NE(NULL, data);
	memset(data, 0x5a, len);

	if (from_file) {
		char path[] = "/tmp/mmw-read-XXXXXX";

		fd[0] = mkstemp(path);
		ASSERT_LE(0, fd[0]);
		unlink(path);
		ASSERT_EQ(len, pwrite(fd[0], data, len, 0));
		ASSERT_EQ(len, pread(fd[0], p + 100, len, 0));
		close(fd[0]);
	} else {
		ASSERT_EQ(0, pipe(fd));
		ASSERT_EQ(len, write(fd[1], data, len));
		while (done < len) {
			ssize_t r = read(fd[0], p + 100 + done, len - done);

			ASSERT_LT(0, r);
			done += r;
		}
		close(fd[0]);
		close(fd[1]);
	}
	ASSERT_EQ(0, memcmp(p + 100, data, len));
	MMW_READ_OWN_EVENTS();
	MMW_EXPECT_ALL_REPORTED(snap, p, 4 * ps, "read(2), populated part");
	MMW_EXPECT_ALL_REPORTED(self->zero, p + 4 * ps, 4 * ps, "read(2), new part");
	EXPECT_EQ(n, MMW_WRITE_FAULTS(mmw_pg(p, 0), mmw_pg(p, n)));
	free(data);
	free(snap);
	munmap(p, n * ps);
}

TEST_F(fault, read_from_pipe)
{
	read_syscall(_metadata, self, false);
}

TEST_F(fault, read_from_file)
{
	read_syscall(_metadata, self, true);
}

/* Writes through a MAP_PRIVATE file mapping: COW of page cache pages. */
TEST_F(fault, private_file_cow)
{
	char path[] = "/tmp/mmw-cow-XXXXXX";
	const size_t n = 16;
	char *p, *snap, *data;
	size_t i;
	int fd;

	fd = mkstemp(path);
	ASSERT_LE(0, fd);
	unlink(path);
	data = malloc(n * ps);
	ASSERT_NE(NULL, data);
	for (i = 0; i < n * ps; i++)
		data[i] = (char)(i / ps + 1);
	ASSERT_EQ(n * ps, pwrite(fd, data, n * ps, 0));
	p = mmap(NULL, n * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	/* pages 0..7 mapped from the page cache, 8..15 never touched */
	mmw_read_pages(p, 8);
	ASSERT_EQ(0, madvise(p, n * ps, MADV_WATCH));
	EXPECT_EQ(1, mmw_vma_has_flag(0, (unsigned long)p, "wt"));
	snap = mmw_snapshot(p, n * ps);
	ASSERT_NE(NULL, snap);
	MMW_READ_OWN_EVENTS();
	EXPECT_EQ(0, MMW_WRITE_FAULTS(0, ~0UL));

	for (i = 0; i < n; i += 2)
		p[i * ps + 1] = 0x70;
	MMW_READ_OWN_EVENTS();
	MMW_EXPECT_ALL_REPORTED(snap, p, n * ps, "private file COW");
	for (i = 0; i < n; i++)
		EXPECT_EQ(i % 2 ? 0 : 1, MMW_WRITE_FAULTS(mmw_pg(p, i), mmw_pg(p, i + 1)));

	/* The COWed pages are anonymous now: re-armed, they fault again. */
	ASSERT_EQ(0, mmw_trace_clear(&self->t));
	ASSERT_EQ(0, madvise(p, n * ps, MADV_WATCH));
	free(snap);
	snap = mmw_snapshot(p, n * ps);
	ASSERT_NE(NULL, snap);
	for (i = 0; i < n; i++)
		p[i * ps + 2] = 0x71;
	MMW_READ_OWN_EVENTS();
	MMW_EXPECT_ALL_REPORTED(snap, p, n * ps, "private file, re-armed");
	EXPECT_EQ(n, MMW_WRITE_FAULTS(mmw_pg(p, 0), mmw_pg(p, n)));

	free(snap);
	free(data);
	munmap(p, n * ps);
	close(fd);
}

/*
 * Truncating the file discards the private (COWed) copies too: the pages
 * written through the mapping change without a fault, which must be
 * reported (zap).
 */
TEST_F(fault, private_file_truncate)
{
	char path[] = "/tmp/mmw-trunc-XXXXXX";
	const size_t n = 8;
	char *p, *snap;
	int fd;

	fd = mkstemp(path);
	ASSERT_LE(0, fd);
	unlink(path);
	ASSERT_EQ(0, ftruncate(fd, n * ps));
	p = mmap(NULL, n * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	memset(p, 0x5c, n * ps);	/* all pages COWed */
	ASSERT_EQ(0, madvise(p, n * ps, MADV_WATCH));
	snap = mmw_snapshot(p, n * ps);
	ASSERT_NE(NULL, snap);
	ASSERT_EQ(0, ftruncate(fd, 4 * ps));
	ASSERT_EQ(0, ftruncate(fd, n * ps));
	EXPECT_EQ(0, p[5 * ps]);
	MMW_READ_OWN_EVENTS();
	MMW_EXPECT_ALL_REPORTED(snap, p, n * ps, "truncated private file");
	EXPECT_EQ(0, MMW_WRITE_FAULTS(0, ~0UL));
	free(snap);
	munmap(p, n * ps);
	close(fd);
}

static char *map_thp(void)
{
	char *p = mmw_map_aligned(PMD_SIZE_2M, PMD_SIZE_2M, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS);

	if (p == MAP_FAILED)
		return p;
	if (madvise(p, PMD_SIZE_2M, MADV_HUGEPAGE)) {
		munmap(p, PMD_SIZE_2M);
		return MAP_FAILED;
	}
	return p;
}

/* A write fault on a PMD-mapped THP reports the whole 2 MiB. */
TEST_F(fault, thp_pmd_write)
{
	const size_t n = PMD_SIZE_2M / ps;
	const struct mmw_event *e;
	char *p = map_thp(), *snap;
	size_t nr;

	if (p == MAP_FAILED)
		SKIP(return, "no THP (MADV_HUGEPAGE: %s)", strerror(errno));
	ASSERT_EQ(0, madvise(p, PMD_SIZE_2M, MADV_WATCH));
	p[5 * ps] = 1;
	if (mmw_vma_field_kb(0, (unsigned long)p, "AnonHugePages:") != 2048) {
		munmap(p, PMD_SIZE_2M);
		SKIP(return, "the write fault did not map a PMD THP");
	}
	MMW_READ_OWN_EVENTS();
	MMW_EXPECT_ALL_REPORTED(self->zero, p, PMD_SIZE_2M, "THP first write");
	ASSERT_EQ(1, MMW_WRITE_FAULTS(mmw_pg(p, 0), mmw_pg(p, n))) mmw_trace_dump(&self->t, 20);
	e = mmw_find(&self->t, MMW_WRITE_FAULT, self->id, mmw_pg(p, 0), mmw_pg(p, n));
	EXPECT_EQ((unsigned long)p, e->start);
	EXPECT_EQ(PMD_SIZE_2M, e->end - e->start);

	/* Re-arm the whole PMD: the next write reports it again. */
	ASSERT_EQ(0, mmw_trace_clear(&self->t));
	ASSERT_EQ(0, madvise(p, PMD_SIZE_2M, MADV_WATCH));
	snap = mmw_snapshot(p, PMD_SIZE_2M);
	ASSERT_NE(NULL, snap);
	p[300 * ps] = 2;
	MMW_READ_OWN_EVENTS();
	MMW_EXPECT_ALL_REPORTED(snap, p, PMD_SIZE_2M, "THP re-armed");
	e = mmw_find(&self->t, MMW_WRITE_FAULT, self->id, mmw_pg(p, 300), mmw_pg(p, 301));
	ASSERT_NE(NULL, e) mmw_trace_dump(&self->t, 20);
	if (mmw_vma_field_kb(0, (unsigned long)p, "AnonHugePages:") == 2048)
		EXPECT_EQ(PMD_SIZE_2M, e->end - e->start);

	/*
	 * Re-arm one page of it (same epoch for the others): the PMD is split,
	 * that page faults again.
	 */
	ASSERT_EQ(0, madvise(p + 100 * ps, ps, MADV_WATCH));
	nr = self->t.nr;
	p[100 * ps] = 3;
	p[101 * ps] = 3;
	MMW_READ_OWN_EVENTS();
	MMW_EXPECT_ALL_REPORTED(snap, p, PMD_SIZE_2M, "THP partly re-armed");
	ASSERT_LT(nr, self->t.nr);
	EXPECT_EQ(2, mmw_count(&self->t, MMW_WRITE_FAULT, self->id, mmw_pg(p, 100), mmw_pg(p, 101)))
		mmw_trace_dump(&self->t, 20);

	/* All re-armed after the split: every page faults on its own. */
	ASSERT_EQ(0, mmw_trace_clear(&self->t));
	ASSERT_EQ(0, madvise(p, PMD_SIZE_2M, MADV_WATCH));
	free(snap);
	snap = mmw_snapshot(p, PMD_SIZE_2M);
	ASSERT_NE(NULL, snap);
	memset(p, 4, PMD_SIZE_2M);
	MMW_READ_OWN_EVENTS();
	MMW_EXPECT_ALL_REPORTED(snap, p, PMD_SIZE_2M, "THP after split");
	free(snap);
	munmap(p, PMD_SIZE_2M);
}

/* COW of a PMD-mapped THP shared with a child, then reuse after it exits. */
TEST_F(fault, thp_fork_cow)
{
	char *p = map_thp(), *snap, c;
	int go[2], status;
	pid_t pid;

	if (p == MAP_FAILED)
		SKIP(return, "no THP (MADV_HUGEPAGE: %s)", strerror(errno));
	memset(p, 0x61, PMD_SIZE_2M);
	if (mmw_vma_field_kb(0, (unsigned long)p, "AnonHugePages:") != 2048) {
		munmap(p, PMD_SIZE_2M);
		SKIP(return, "no PMD THP");
	}
	ASSERT_EQ(0, madvise(p, PMD_SIZE_2M, MADV_WATCH));
	snap = mmw_snapshot(p, PMD_SIZE_2M);
	ASSERT_NE(NULL, snap);
	ASSERT_EQ(0, pipe(go));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		close(go[1]);
		/* the child's own writes are not the parent's events */
		p[20 * ps] = 1;
		_exit(read(go[0], &c, 1) == 1 ? 0 : 1);
	}
	close(go[0]);
	p[10 * ps] = 0x62;		/* COW while shared */
	ASSERT_EQ(1, write(go[1], "x", 1));
	close(go[1]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	p[300 * ps] = 0x63;		/* not shared any more */
	MMW_READ_OWN_EVENTS();
	MMW_EXPECT_ALL_REPORTED(snap, p, PMD_SIZE_2M, "THP fork COW");
	EXPECT_EQ(0, mmw_count(&self->t, MMW_EXIT, 0, 0, ~0UL));
	free(snap);
	munmap(p, PMD_SIZE_2M);
}

/* Read fault first (huge zero page or a THP mapped read-only), then write. */
TEST_F(fault, thp_read_then_write)
{
	char *p = map_thp();

	if (p == MAP_FAILED)
		SKIP(return, "no THP (MADV_HUGEPAGE: %s)", strerror(errno));
	ASSERT_EQ(0, madvise(p, PMD_SIZE_2M, MADV_WATCH));
	mmw_read_pages(p, PMD_SIZE_2M / ps);
	MMW_READ_OWN_EVENTS();
	EXPECT_EQ(0, MMW_WRITE_FAULTS(0, ~0UL)) mmw_trace_dump(&self->t, 20);
	p[7 * ps] = 1;
	p[500 * ps] = 1;
	MMW_READ_OWN_EVENTS();
	MMW_EXPECT_ALL_REPORTED(self->zero, p, PMD_SIZE_2M, "THP read then write");
	munmap(p, PMD_SIZE_2M);
}

static void mprotect_upgrade(struct __test_metadata *_metadata, struct _test_data_fault *self,
			     int before_mark, int middle)
{
	const size_t n = 16;
	char *p = map_anon(n * ps), *snap;

	ASSERT_NE(MAP_FAILED, p);
	memset(p, 0x33, n * ps);
	ASSERT_EQ(0, mprotect(p, n * ps, before_mark));
	ASSERT_EQ(0, madvise(p, n * ps, MADV_WATCH));
	ASSERT_EQ(0, mprotect(p, n * ps, middle));
	ASSERT_EQ(0, mprotect(p, n * ps, PROT_READ | PROT_WRITE));
	snap = mmw_snapshot(p, n * ps);
	ASSERT_NE(NULL, snap);
	/* Reporting at the upgrade is allowed (harmless), missing a write is not. */
	MMW_READ_OWN_EVENTS();
	if (MMW_WRITE_FAULTS(0, ~0UL))
		TH_LOG("%zu pages reported by the mprotect upgrade", MMW_WRITE_FAULTS(0, ~0UL));
	memset(p, 0x44, n * ps);
	MMW_READ_OWN_EVENTS();
	MMW_EXPECT_ALL_REPORTED(snap, p, n * ps, "mprotect upgrade");
	free(snap);
	munmap(p, n * ps);
}

TEST_F(fault, mprotect_ro_rw)
{
	mprotect_upgrade(_metadata, self, PROT_READ | PROT_WRITE, PROT_READ);
}

TEST_F(fault, mprotect_none_rw)
{
	mprotect_upgrade(_metadata, self, PROT_READ | PROT_WRITE, PROT_NONE);
}

TEST_F(fault, mprotect_mark_while_ro)
{
	mprotect_upgrade(_metadata, self, PROT_READ, PROT_READ);
}

static char *reserve(size_t len)
{
	return mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

TEST_F(fault, mremap_move)
{
	const size_t n = 8;
	char *p = map_anon(n * ps), *q, *snap;
	const struct mmw_event *e;

	ASSERT_NE(MAP_FAILED, p);
	memset(p, 0x12, n * ps);
	ASSERT_EQ(0, madvise(p, n * ps, MADV_WATCH));
	p[0] = 0x13;		/* one page writable, the others not */
	snap = mmw_snapshot(p, n * ps);
	ASSERT_NE(NULL, snap);
	q = reserve(n * ps);
	ASSERT_NE(MAP_FAILED, q);
	ASSERT_EQ(q, mremap(p, n * ps, n * ps, MREMAP_MAYMOVE | MREMAP_FIXED, q));
	EXPECT_EQ(1, mmw_vma_has_flag(0, (unsigned long)q, "wt"));
	EXPECT_EQ(0, memcmp(q, snap, n * ps));
	MMW_READ_OWN_EVENTS();
	e = mmw_find(&self->t, MMW_MOVE, self->id, 0, ~0UL);
	ASSERT_NE(NULL, e) mmw_trace_dump(&self->t, 20);
	EXPECT_EQ((unsigned long)p, e->start);
	EXPECT_EQ((unsigned long)q, e->new_start);
	EXPECT_EQ(n * ps, e->end - e->start);

	/* New epoch at the new address: moved entries stay write-protected. */
	ASSERT_EQ(0, mmw_trace_clear(&self->t));
	ASSERT_EQ(0, madvise(q, n * ps, MADV_WATCH));
	memset(q, 0x14, n * ps);
	MMW_READ_OWN_EVENTS();
	MMW_EXPECT_ALL_REPORTED(snap, q, n * ps, "after move");
	EXPECT_EQ(n, MMW_WRITE_FAULTS(mmw_pg(q, 0), mmw_pg(q, n)));
	free(snap);
	munmap(q, n * ps);
}

/* Moved without a re-arm: pages not written before the move still fault. */
TEST_F(fault, mremap_move_same_epoch)
{
	const size_t n = 8;
	char *p = map_anon(n * ps), *q, *snap;
	unsigned char rep[8] = {};
	size_t i;

	ASSERT_NE(MAP_FAILED, p);
	memset(p, 0x12, n * ps);
	ASSERT_EQ(0, madvise(p, n * ps, MADV_WATCH));
	snap = mmw_snapshot(p, n * ps);
	ASSERT_NE(NULL, snap);
	q = reserve(n * ps);
	ASSERT_NE(MAP_FAILED, q);
	ASSERT_EQ(q, mremap(p, n * ps, n * ps, MREMAP_MAYMOVE | MREMAP_FIXED, q));
	for (i = 0; i < n; i++)
		q[i * ps] = 0x15;
	MMW_READ_OWN_EVENTS();
	MMW_EXPECT_ALL_REPORTED(snap, q, n * ps, "moved");
	/* write faults at the new address, not just the move event */
	mmw_reported(&self->t, self->id, MMW_BIT(MMW_WRITE_FAULT), 0, (unsigned long)q, n, rep);
	for (i = 0; i < n; i++)
		EXPECT_EQ(1, rep[i]) TH_LOG("page %zu written after the move: no write_fault", i);
	free(snap);
	munmap(q, n * ps);
}

TEST_F(fault, mremap_grow)
{
	const size_t n = 8;
	char *p = map_anon(n * ps), *q, *snap, *blocker;

	ASSERT_NE(MAP_FAILED, p);
	/* Something right after p so that growing has to move. */
	blocker = mmap(p + n * ps, ps, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
		       -1, 0);
	memset(p, 0x21, n * ps);
	ASSERT_EQ(0, madvise(p, n * ps, MADV_WATCH));
	snap = mmw_snapshot(p, n * ps);
	ASSERT_NE(NULL, snap);
	q = mremap(p, n * ps, 2 * n * ps, MREMAP_MAYMOVE);
	ASSERT_NE(MAP_FAILED, q);
	EXPECT_EQ(1, mmw_vma_has_flag(0, (unsigned long)q + (2 * n - 1) * ps, "wt"));
	MMW_READ_OWN_EVENTS();
	if (q != p)
		EXPECT_EQ(1, mmw_count(&self->t, MMW_MOVE, self->id, 0, ~0UL));

	/* New epoch: old pages and the never-touched extension both fault. */
	ASSERT_EQ(0, mmw_trace_clear(&self->t));
	ASSERT_EQ(0, madvise(q, 2 * n * ps, MADV_WATCH));
	memset(q, 0x22, 2 * n * ps);
	MMW_READ_OWN_EVENTS();
	MMW_EXPECT_ALL_REPORTED(snap, q, n * ps, "grown, old part");
	MMW_EXPECT_ALL_REPORTED(self->zero, q + n * ps, n * ps, "grown, new part");
	EXPECT_EQ(2 * n, MMW_WRITE_FAULTS(mmw_pg(q, 0), mmw_pg(q, 2 * n)));

	/* Grow in place (the blocker gone) within one epoch. */
	if (blocker != MAP_FAILED)
		munmap(blocker, ps);
	ASSERT_EQ(0, mmw_trace_clear(&self->t));
	ASSERT_EQ(0, madvise(q, 2 * n * ps, MADV_WATCH));
	free(snap);
	snap = mmw_snapshot(q, 2 * n * ps);
	ASSERT_NE(NULL, snap);
	p = mremap(q, 2 * n * ps, 3 * n * ps, MREMAP_MAYMOVE);
	ASSERT_NE(MAP_FAILED, p);
	memset(p, 0x23, 3 * n * ps);
	MMW_READ_OWN_EVENTS();
	MMW_EXPECT_ALL_REPORTED(snap, p, 2 * n * ps, "grown again, old part");
	MMW_EXPECT_ALL_REPORTED(self->zero, p + 2 * n * ps, n * ps, "grown again, new part");
	free(snap);
	munmap(p, 3 * n * ps);
}

TEST_F(fault, mremap_dontunmap)
{
	const size_t n = 8;
	char *p = map_anon(n * ps), *q, *r, *snap;
	const struct mmw_event *e;

	ASSERT_NE(MAP_FAILED, p);
	memset(p, 0x31, n * ps);
	ASSERT_EQ(0, madvise(p, n * ps, MADV_WATCH));
	snap = mmw_snapshot(p, n * ps);
	ASSERT_NE(NULL, snap);
	r = reserve(n * ps);
	ASSERT_NE(MAP_FAILED, r);
	q = mremap(p, n * ps, n * ps, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, r);
	if (q == MAP_FAILED) {
		/* Is it the watch or the kernel? */
		int err = errno;
		char *u = map_anon(n * ps), *v;

		ASSERT_NE(MAP_FAILED, u);
		memset(u, 1, n * ps);
		v = mremap(u, n * ps, n * ps, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, r);
		if (v == MAP_FAILED)
			SKIP(return, "MREMAP_DONTUNMAP not supported: %s", strerror(errno));
		ASSERT_NE(MAP_FAILED, q) TH_LOG("DONTUNMAP of a watched range: %s",
						strerror(err));
	}
	EXPECT_EQ(0, memcmp(q, snap, n * ps));
	/* the old range now reads back zeroes */
	MMW_READ_OWN_EVENTS();
	MMW_EXPECT_ALL_REPORTED(snap, p, n * ps, "DONTUNMAP old range");
	e = mmw_find(&self->t, MMW_MOVE, self->id, 0, ~0UL);
	ASSERT_NE(NULL, e) mmw_trace_dump(&self->t, 20);
	EXPECT_EQ((unsigned long)p, e->start);
	EXPECT_EQ((unsigned long)q, e->new_start);
	EXPECT_EQ(n * ps, e->end - e->start);
	EXPECT_LE(1, mmw_count(&self->t, MMW_ZAP, self->id, mmw_pg(p, 0), mmw_pg(p, n)));

	/* Both ranges keep faulting in a new epoch. */
	ASSERT_EQ(0, mmw_trace_clear(&self->t));
	if (mmw_vma_has_flag(0, (unsigned long)p, "wt") == 1)
		ASSERT_EQ(0, madvise(p, n * ps, MADV_WATCH));
	ASSERT_EQ(0, madvise(q, n * ps, MADV_WATCH));
	free(snap);
	snap = mmw_snapshot(q, n * ps);
	ASSERT_NE(NULL, snap);
	memset(q, 0x32, n * ps);
	MMW_READ_OWN_EVENTS();
	MMW_EXPECT_ALL_REPORTED(snap, q, n * ps, "DONTUNMAP new range");
	free(snap);
	munmap(p, n * ps);
	munmap(q, n * ps);
}

TEST_F(fault, dontneed_zap)
{
	const size_t n = 8;
	char *p = map_anon(n * ps), *snap;
	const struct mmw_event *e;
	size_t i;

	ASSERT_NE(MAP_FAILED, p);
	memset(p, 0x41, n * ps);
	ASSERT_EQ(0, madvise(p, n * ps, MADV_WATCH));
	snap = mmw_snapshot(p, n * ps);
	ASSERT_NE(NULL, snap);
	ASSERT_EQ(0, madvise(p + 2 * ps, 4 * ps, MADV_DONTNEED));
	MMW_READ_OWN_EVENTS();
	MMW_EXPECT_ALL_REPORTED(snap, p, n * ps, "MADV_DONTNEED");
	e = mmw_find(&self->t, MMW_ZAP, self->id, mmw_pg(p, 2), mmw_pg(p, 6));
	ASSERT_NE(NULL, e) mmw_trace_dump(&self->t, 20);
	EXPECT_EQ(MMW_ZAP_DONTNEED, e->reason);
	EXPECT_LE(e->start, mmw_pg(p, 2));
	EXPECT_GE(e->end, mmw_pg(p, 6));
	EXPECT_EQ(0, mmw_count(&self->t, MMW_ZAP, self->id, mmw_pg(p, 0), mmw_pg(p, 2)));
	EXPECT_EQ(0, mmw_count(&self->t, MMW_ZAP, self->id, mmw_pg(p, 6), mmw_pg(p, 8)));

	/* The zapped pages are refilled on the next write: reported too. */
	ASSERT_EQ(0, mmw_trace_clear(&self->t));
	ASSERT_EQ(0, madvise(p, n * ps, MADV_WATCH));
	free(snap);
	snap = mmw_snapshot(p, n * ps);
	ASSERT_NE(NULL, snap);
	ASSERT_EQ(0, madvise(p, n * ps, MADV_DONTNEED));
	for (i = 0; i < n; i++)
		p[i * ps] = 0x42;
	MMW_READ_OWN_EVENTS();
	MMW_EXPECT_ALL_REPORTED(snap, p, n * ps, "MADV_DONTNEED then write");
	EXPECT_EQ(n, MMW_WRITE_FAULTS(mmw_pg(p, 0), mmw_pg(p, n)));
	free(snap);
	munmap(p, n * ps);
}

/*
 * MADV_FREE: the pages may be discarded later by reclaim (forced here with
 * MADV_PAGEOUT); whenever that happens, the change must have been reported.
 * Pages written after MADV_FREE are kept and must fault.
 */
TEST_F(fault, madv_free)
{
	const size_t n = 16;
	char *p = map_anon(n * ps), *snap;
	size_t i, changed;
	unsigned char *ch;

	ASSERT_NE(MAP_FAILED, p);
	memset(p, 0x51, n * ps);
	ASSERT_EQ(0, madvise(p, n * ps, MADV_WATCH));
	snap = mmw_snapshot(p, n * ps);
	ASSERT_NE(NULL, snap);
	ASSERT_EQ(0, madvise(p, n * ps, MADV_FREE));
	for (i = 0; i < n; i += 4)
		p[i * ps] = 0x52;
	madvise(p, n * ps, MADV_PAGEOUT);
	MMW_READ_OWN_EVENTS();
	MMW_EXPECT_ALL_REPORTED(snap, p, n * ps, "MADV_FREE");
	for (i = 0; i < n; i += 4) {
		EXPECT_EQ(0x52, p[i * ps]);
		EXPECT_LE(1, MMW_WRITE_FAULTS(mmw_pg(p, i), mmw_pg(p, i + 1)));
	}
	ch = calloc(n, 1);
	ASSERT_NE(NULL, ch);
	changed = mmw_changed(snap, p, n * ps, ch);
	TH_LOG("%zu of %zu pages changed (%zu written, the rest discarded)", changed, n, n / 4);
	free(ch);
	free(snap);
	munmap(p, n * ps);
}

TEST_HARNESS_MAIN
