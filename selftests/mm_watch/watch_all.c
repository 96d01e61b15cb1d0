// SPDX-License-Identifier: GPL-2.0
/*
 * MADV_WATCH_ALL: a target process whose existing and future mappings are
 * all watched. The target (a child) maps, unmaps and remaps at the same
 * addresses, grows its heap with brk(), moves a mapping with mremap() and
 * maps next to a watched mapping; after each step the test checks that the
 * new mapping shows "wt" in the target's smaps, that a mark event names it,
 * and that every page the target wrote to it was reported. Shared
 * mappings stay unwatched, a child of the target inherits nothing, and
 * MADV_UNWATCH_ALL ends it all.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "../kselftest_harness.h"
#include "watch_util.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE	0x100000
#endif

#define NPAGES		8
#define CYCLES		16

static size_t ps;

enum step {
	STEP_MMAP,		/* a new private anonymous mapping */
	STEP_CYCLES,		/* CYCLES x (map, write, unmap) at one address */
	STEP_REMAP_SAME,	/* mapped again where the cycles were */
	STEP_FIXED_OVER,	/* MAP_FIXED over the middle of a watched mapping */
	STEP_MERGE,		/* mapped right after a watched mapping: merged */
	STEP_BRK,		/* the heap grown by brk() */
	STEP_MREMAP,		/* moved and grown by mremap() */
	STEP_SHARED,		/* a shared mapping: not watched, merged */
	STEP_FORK,		/* a mapping in a child of the target */
	STEP_AFTER_UNWATCH,	/* mapped after MADV_UNWATCH_ALL */
	STEP_DONE,
};

/* What the target tells the test after each step. */
struct report {
	int step;
	int pid;		/* for STEP_FORK: the grandchild */
	unsigned long start;
	unsigned long end;
	unsigned long old_start;	/* STEP_MREMAP: where it came from */
};

struct target {
	int to_test;
	int from_test;
	char *pre;		/* mapped before MADV_WATCH_ALL */
};

static int send_report(struct target *tg, int step, unsigned long start, unsigned long end,
		       unsigned long old_start, int pid)
{
	struct report r = { step, pid, start, end, old_start };
	char c;

	if (write(tg->to_test, &r, sizeof(r)) != sizeof(r))
		return -1;
	/* Wait until the test has looked at the mapping. */
	return read(tg->from_test, &c, 1) == 1 ? 0 : -1;
}

static void write_pages(unsigned long start, unsigned long end)
{
	unsigned long a;

	for (a = start; a < end; a += ps)
		__atomic_store_n((char *)a, 1, __ATOMIC_RELAXED);
}

static char *map_private(void *hint, size_t len, int flags)
{
	return mmap(hint, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | flags,
		    -1, 0);
}

/* The target: each step creates a mapping, writes all of it and reports it. */
static int target_main(struct target *tg)
{
	size_t len = NPAGES * ps;
	unsigned long brk0, brk1;
	char *p, *q, *hole, *m;
	int i, fd, status;
	pid_t pid;
	char c;

	/* Wait for MADV_WATCH_ALL. */
	if (read(tg->from_test, &c, 1) != 1)
		return 10;

	p = map_private(NULL, 2 * len, 0);
	if (p == MAP_FAILED)
		return 11;
	write_pages((unsigned long)p, (unsigned long)p + 2 * len);
	if (send_report(tg, STEP_MMAP, (unsigned long)p, (unsigned long)p + 2 * len, 0, 0))
		return 12;

	/* Right after what is left of p, with the same flags: merged into it. */
	if (munmap(p + len, len))
		return 21;
	m = map_private(p + len, len, MAP_FIXED_NOREPLACE);
	if (m != p + len)
		return 21;
	write_pages((unsigned long)m, (unsigned long)m + len);
	if (send_report(tg, STEP_MERGE, (unsigned long)m, (unsigned long)m + len, 0, 0))
		return 22;

	/* A free address: map, unmap and map again there, as allocators do. */
	hole = map_private(NULL, len, 0);
	if (hole == MAP_FAILED || munmap(hole, len))
		return 13;
	for (i = 0; i < CYCLES; i++) {
		q = map_private(hole, len, MAP_FIXED_NOREPLACE);
		if (q != hole)
			return 14;
		write_pages((unsigned long)q, (unsigned long)q + len);
		if (munmap(q, len))
			return 15;
	}
	if (send_report(tg, STEP_CYCLES, (unsigned long)hole, (unsigned long)hole + len, 0, 0))
		return 16;

	q = map_private(hole, len, MAP_FIXED_NOREPLACE);
	if (q != hole)
		return 17;
	write_pages((unsigned long)q, (unsigned long)q + len);
	if (send_report(tg, STEP_REMAP_SAME, (unsigned long)q, (unsigned long)q + len, 0, 0))
		return 18;

	/* Replace pages 2-3 of q in place. */
	m = map_private(q + 2 * ps, 2 * ps, MAP_FIXED);
	if (m != q + 2 * ps)
		return 19;
	write_pages((unsigned long)m, (unsigned long)m + 2 * ps);
	if (send_report(tg, STEP_FIXED_OVER, (unsigned long)m, (unsigned long)m + 2 * ps, 0, 0))
		return 20;

	brk0 = syscall(SYS_brk, 0);
	brk0 = (brk0 + ps - 1) & ~(ps - 1);
	brk1 = syscall(SYS_brk, brk0 + len);
	if (brk1 != brk0 + len)
		return 23;
	write_pages(brk0, brk1);
	if (send_report(tg, STEP_BRK, brk0, brk1, 0, 0))
		return 24;

	/* Move q (page 0-1 of it) to a new place, twice as large. */
	hole = map_private(NULL, 4 * ps, 0);
	if (hole == MAP_FAILED || munmap(hole, 4 * ps))
		return 25;
	m = mremap(q, 2 * ps, 4 * ps, MREMAP_MAYMOVE | MREMAP_FIXED, hole);
	if (m != hole)
		return 26;
	write_pages((unsigned long)m + 2 * ps, (unsigned long)m + 4 * ps);
	if (send_report(tg, STEP_MREMAP, (unsigned long)m, (unsigned long)m + 4 * ps,
			(unsigned long)q, 0))
		return 27;

	/* A file mapped shared in two calls, which merge without the mode. */
	fd = memfd_create("watch_all", 0);
	if (fd < 0 || ftruncate(fd, len))
		return 28;
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED ||
	    mmap(m + len / 2, len / 2, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		 fd, len / 2) != m + len / 2)
		return 28;
	close(fd);
	write_pages((unsigned long)m, (unsigned long)m + len);
	if (send_report(tg, STEP_SHARED, (unsigned long)m, (unsigned long)m + len, 0, 0))
		return 29;

	/* A child maps too, and waits until the test has looked at it. */
	m = NULL;
	pid = fork();
	if (pid < 0)
		return 30;
	if (!pid) {
		m = map_private(NULL, len, 0);
		if (m == MAP_FAILED)
			_exit(1);
		write_pages((unsigned long)m, (unsigned long)m + len);
		if (send_report(tg, STEP_FORK, (unsigned long)m, (unsigned long)m + len, 0,
				getpid()))
			_exit(2);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		return 31;

	/* The test sends MADV_UNWATCH_ALL, then one byte. */
	if (read(tg->from_test, &c, 1) != 1)
		return 32;
	m = map_private(NULL, len, 0);
	if (m == MAP_FAILED)
		return 33;
	write_pages((unsigned long)m, (unsigned long)m + len);
	if (send_report(tg, STEP_AFTER_UNWATCH, (unsigned long)m, (unsigned long)m + len, 0, 0))
		return 34;
	return 0;
}

FIXTURE(all) {
	struct mmw_trace t;
	pid_t pid;
	int pidfd;
	int to_test[2];
	int from_test[2];
	char *pre;
	char *pre_shared;
	__u64 id;
};

FIXTURE_SETUP(all)
{
	struct target tg;
	char filter[64];

	ps = getpagesize();
	self->pid = -1;
	self->pidfd = -1;
	MMW_SKIP_WITHOUT_FEATURE(return);
	ASSERT_EQ(0, mmw_trace_init(&self->t, NULL, 4096));
	ASSERT_EQ(0, pipe(self->to_test));
	ASSERT_EQ(0, pipe(self->from_test));

	/* Mapped before the mode: MADV_WATCH_ALL must mark the first only. */
	self->pre = map_private(NULL, NPAGES * ps, 0);
	ASSERT_NE(MAP_FAILED, self->pre);
	self->pre_shared = mmap(NULL, NPAGES * ps, PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->pre_shared);

	self->pid = fork();
	ASSERT_LE(0, self->pid);
	if (!self->pid) {
		/* Never outlive the test, nor wait for a byte it cannot send. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(self->to_test[0]);
		close(self->from_test[1]);
		tg.to_test = self->to_test[1];
		tg.from_test = self->from_test[0];
		tg.pre = self->pre;
		_exit(target_main(&tg));
	}
	close(self->to_test[1]);
	close(self->from_test[0]);
	snprintf(filter, sizeof(filter), "tgid==%d", self->pid);
	ASSERT_EQ(0, mmw_trace_set_filter(&self->t, filter));
	self->pidfd = mmw_pidfd_open(self->pid);
	ASSERT_LE(0, self->pidfd);
}

FIXTURE_TEARDOWN(all)
{
	if (self->pid > 0) {
		kill(self->pid, SIGKILL);
		waitpid(self->pid, NULL, 0);
	}
	if (self->pidfd >= 0)
		close(self->pidfd);
	mmw_trace_fini(&self->t);
}

static int next_report(int fd, struct report *r)
{
	return read(fd, r, sizeof(*r)) == sizeof(*r) ? 0 : -1;
}

static int ack(int fd)
{
	return write(fd, "x", 1) == 1 ? 0 : -1;
}

/* A mark (not a re-arm) of @id for exactly [start, end). */
static const struct mmw_event *new_mark(struct mmw_trace *t, __u64 id, unsigned long start,
					unsigned long end)
{
	size_t i;

	for (i = 0; i < t->nr; i++) {
		const struct mmw_event *e = &t->ev[i];

		if (e->type == MMW_MARK && e->mm_id == id && e->start == start &&
		    e->end == end && !e->rearm)
			return e;
	}
	return NULL;
}

/* Pages of [start, end) without a write_fault event of @id at index @from or later. */
static size_t unreported_writes(struct mmw_trace *t, __u64 id, size_t from, unsigned long start,
				unsigned long end)
{
	size_t npages = (end - start) / ps, missing;
	unsigned char *written = malloc(npages), *reported = calloc(npages, 1);

	if (!written || !reported) {
		free(written);
		free(reported);
		return npages;
	}
	memset(written, 1, npages);
	mmw_reported(t, id, MMW_BIT(MMW_WRITE_FAULT), from, start, npages, reported);
	missing = mmw_missing(written, reported, npages, start, "write");
	free(written);
	free(reported);
	return missing;
}

/* Events at index @from or later (any mm) that overlap [start, end). */
static size_t events_since(struct mmw_trace *t, size_t from, unsigned long start,
			   unsigned long end)
{
	size_t i, n = 0;

	for (i = from; i < t->nr; i++)
		n += t->ev[i].start < end && start < t->ev[i].end;
	return n;
}

/* Number of cycles at [start, end) that do not read mark, writes, unmap in seq order. */
static int check_cycles(struct __test_metadata *_metadata, struct mmw_trace *t, __u64 id,
			unsigned long start, unsigned long end)
{
	struct mmw_event *ev = calloc(t->nr, sizeof(*ev));
	size_t i, n = 0, writes = 0;
	int bad = 0, open = 0;

	if (!ev)
		return -1;
	for (i = 0; i < t->nr; i++)
		if (t->ev[i].mm_id == id && t->ev[i].start < end && start < t->ev[i].end)
			ev[n++] = t->ev[i];
	qsort(ev, n, sizeof(*ev), mmw_cmp_seq);
	for (i = 0; i < n; i++) {
		switch (ev[i].type) {
		case MMW_MARK:
			bad += open;
			open = 1;
			writes = 0;
			break;
		case MMW_WRITE_FAULT:
			bad += !open;
			writes++;
			break;
		case MMW_UNMAP:
			/* The first mapping there, which found the address, was not written. */
			bad += !open || (writes != NPAGES && writes != 0);
			open = 0;
			break;
		default:
			bad++;
		}
	}
	free(ev);
	if (bad)
		TH_LOG("%d cycles out of order", bad);
	return bad;
}

/* The new range is watched ("wt" on its first and last page), marked and its writes reported. */
static void expect_watched_new(struct __test_metadata *_metadata, struct mmw_trace *t,
			       pid_t pid, __u64 id, const struct report *r)
{
	const struct mmw_event *mark = new_mark(t, id, r->start, r->end);

	EXPECT_EQ(1, mmw_vma_has_flag(pid, r->start, "wt"))
		TH_LOG("step %d: %#lx not watched", r->step, r->start);
	EXPECT_EQ(1, mmw_vma_has_flag(pid, r->end - 1, "wt"))
		TH_LOG("step %d: %#lx not watched", r->step, r->end - 1);
	ASSERT_NE(NULL, mark)
		TH_LOG("step %d: no mark for [%#lx, %#lx)", r->step, r->start, r->end);
	/* Reported after the mark, in the file's order and by seq. */
	EXPECT_EQ(0, unreported_writes(t, id, mark - t->ev, r->start, r->end))
		TH_LOG("step %d", r->step);
}

#define EXPECT_WATCHED_NEW(r)	expect_watched_new(_metadata, &self->t, self->pid, self->id, &(r))

TEST_F(all, watches_every_new_mapping)
{
	const struct mmw_event *e;
	struct report r;
	size_t n, from;
	int status;

	/* The vector must be empty. */
	struct iovec iov = { self->pre, ps };

	EXPECT_EQ(-1, mmw_process_madvise(self->pidfd, &iov, 1, MADV_WATCH_ALL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, madvise(self->pre, ps, MADV_WATCH_ALL));
	EXPECT_EQ(EINVAL, errno);

	ASSERT_EQ(0, mmw_process_madvise(self->pidfd, NULL, 0, MADV_WATCH_ALL))
		TH_LOG("process_madvise(MADV_WATCH_ALL): %s", strerror(errno));
	MMW_READ_EVENTS(&self->t);
	self->id = mmw_mm_id_of(&self->t, self->pid);
	ASSERT_NE(0, self->id) mmw_trace_dump(&self->t, 20);
	/* What existed is armed, except what cannot be watched. */
	EXPECT_EQ(1, mmw_vma_has_flag(self->pid, (unsigned long)self->pre, "wt"));
	EXPECT_NE(NULL, new_mark(&self->t, self->id, (unsigned long)self->pre,
				 (unsigned long)self->pre + NPAGES * ps));
	EXPECT_EQ(0, mmw_vma_has_flag(self->pid, (unsigned long)self->pre_shared, "wt"));
	EXPECT_EQ(0, mmw_count(&self->t, MMW_MARK, self->id, (unsigned long)self->pre_shared,
			       (unsigned long)self->pre_shared + NPAGES * ps));
	from = self->t.nr;
	ASSERT_EQ(0, ack(self->from_test[1]));

	for (;;) {
		if (next_report(self->to_test[0], &r)) {
			ASSERT_EQ(self->pid, waitpid(self->pid, &status, 0));
			self->pid = -1;
			ASSERT_TRUE(0) TH_LOG("the target stopped, status %#x", status);
		}
		MMW_READ_EVENTS(&self->t);

		switch (r.step) {
		case STEP_MMAP:
		case STEP_REMAP_SAME:
		case STEP_FIXED_OVER:
		case STEP_BRK:
			EXPECT_WATCHED_NEW(r);
			break;
		case STEP_CYCLES:
			/* In seq order, each cycle is mark, NPAGES write faults, unmap. */
			EXPECT_EQ(0, check_cycles(_metadata, &self->t, self->id, r.start,
						  r.end));
			/*
			 * Each of the mappings at that address (and the one
			 * that found the address) was marked, reported and
			 * unmapped.
			 */
			n = mmw_count(&self->t, MMW_MARK, self->id, r.start, r.end);
			EXPECT_EQ(CYCLES + 1, n);
			n = mmw_count(&self->t, MMW_WRITE_FAULT, self->id, r.start, r.end);
			EXPECT_EQ(CYCLES * NPAGES, n);
			n = mmw_count(&self->t, MMW_UNMAP, self->id, r.start, r.end);
			EXPECT_EQ(CYCLES + 1, n);
			break;
		case STEP_MERGE:
			/* The mark names the new range, not the merged VMA. */
			EXPECT_WATCHED_NEW(r);
			break;
		case STEP_MREMAP:
			/* The moved part has its move event, the added part a mark. */
			e = mmw_find(&self->t, MMW_MOVE, self->id, r.old_start, r.old_start + 1);
			EXPECT_NE(NULL, e);
			if (e)
				EXPECT_EQ(r.start, e->new_start);
			r.start += 2 * ps;
			EXPECT_WATCHED_NEW(r);
			break;
		case STEP_SHARED:
			EXPECT_EQ(0, mmw_vma_has_flag(self->pid, r.start, "wt"));
			EXPECT_EQ(0, events_since(&self->t, from, r.start, r.end));
			/* One VMA: the two calls merged, as without the mode. */
			EXPECT_EQ((long)(r.end - r.start) / 1024,
				  mmw_vma_field_kb(self->pid, r.start, "Size:"));
			break;
		case STEP_FORK:
			/* Not inherited: neither the mode nor the flag. */
			EXPECT_EQ(0, mmw_vma_has_flag(r.pid, r.start, "wt"));
			EXPECT_EQ(0, mmw_vma_has_flag(r.pid, (unsigned long)self->pre, "wt"));
			ASSERT_EQ(0, ack(self->from_test[1]));
			/* Then the end of it all. */
			ASSERT_EQ(0, mmw_process_madvise(self->pidfd, NULL, 0,
							 MADV_UNWATCH_ALL));
			MMW_READ_EVENTS(&self->t);
			EXPECT_EQ(0, mmw_vma_has_flag(self->pid, (unsigned long)self->pre, "wt"));
			EXPECT_EQ(1, mmw_count(&self->t, MMW_UNMARK, self->id,
					       (unsigned long)self->pre,
					       (unsigned long)self->pre + ps));
			break;
		case STEP_AFTER_UNWATCH:
			EXPECT_EQ(0, mmw_vma_has_flag(self->pid, r.start, "wt"));
			EXPECT_EQ(0, events_since(&self->t, from, r.start, r.end));
			break;
		default:
			ASSERT_TRUE(0) TH_LOG("unknown step %d", r.step);
		}
		from = self->t.nr;
		ASSERT_EQ(0, ack(self->from_test[1]));
		if (r.step == STEP_AFTER_UNWATCH)
			break;
	}
	ASSERT_EQ(self->pid, waitpid(self->pid, &status, 0));
	self->pid = -1;
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
		TH_LOG("target status %#x", status);
}

/* The whole mm is named by an empty vector; madvise() works on itself. */
TEST_F(all, empty_range_and_self)
{
	struct iovec iov = { NULL, 0 };

	/* A zero-length vector entry is an empty vector too. */
	ASSERT_EQ(0, mmw_process_madvise(self->pidfd, &iov, 1, MADV_WATCH_ALL));
	ASSERT_EQ(0, mmw_process_madvise(self->pidfd, &iov, 1, MADV_UNWATCH_ALL));
	/* On itself, through madvise(). */
	ASSERT_EQ(0, madvise(NULL, 0, MADV_WATCH_ALL));
	EXPECT_EQ(1, mmw_vma_has_flag(0, (unsigned long)self->pre, "wt"));
	EXPECT_EQ(0, mmw_vma_has_flag(0, (unsigned long)self->pre_shared, "wt"));
	ASSERT_EQ(0, madvise(NULL, 0, MADV_UNWATCH_ALL));
	EXPECT_EQ(0, mmw_vma_has_flag(0, (unsigned long)self->pre, "wt"));
}

/*
 * A page just faulted in waits in a CPU's LRU batch, whose reference is
 * no pin: MADV_WATCH_ALL, like MADV_WATCH, reports none of them pinned.
 */
TEST_F(all, fresh_pages_not_pinned)
{
	char *p = map_private(NULL, NPAGES * ps, 0);
	unsigned long start = (unsigned long)p, end = start + NPAGES * ps;
	char filter[64];
	__u64 id;

	ASSERT_NE(MAP_FAILED, p);
	snprintf(filter, sizeof(filter), "tgid==%d", getpid());
	ASSERT_EQ(0, mmw_trace_set_filter(&self->t, filter));
	/* Empty this CPU's batch, so that it holds every page written next. */
	ASSERT_EQ(0, madvise(self->pre, ps, MADV_COLD));
	write_pages(start, end);
	ASSERT_EQ(0, madvise(NULL, 0, MADV_WATCH_ALL));
	ASSERT_EQ(0, madvise(NULL, 0, MADV_UNWATCH_ALL));
	MMW_READ_EVENTS(&self->t);
	id = mmw_mm_id_of(&self->t, getpid());
	ASSERT_NE(0, id) mmw_trace_dump(&self->t, 20);
	EXPECT_NE(NULL, new_mark(&self->t, id, start, end)) mmw_trace_dump(&self->t, 20);
	EXPECT_EQ(0, mmw_count(&self->t, MMW_PINNED, id, start, end))
		mmw_trace_dump(&self->t, 20);
	munmap(p, NPAGES * ps);
}

TEST_HARNESS_MAIN
