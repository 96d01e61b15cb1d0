// SPDX-License-Identifier: GPL-2.0
/*
 * MADV_WATCH over ranges that span several VMAs: watched and unwatched
 * parts, VMAs that cannot merge (other flags), unsupported neighbours
 * (shared mappings) around them. Marking an unwatched part splits and
 * merges VMAs during the walk; every page of the range must still be
 * armed: exactly one mark event covers it, with rearm set if it was
 * watched before, and the next write to it faults with an event. Pages
 * outside the range must not be touched.
 *
 * The layouts are seeded and random; MMW_SEED=<n> reproduces a run and
 * MMW_CASES changes the number of layouts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include "../kselftest_harness.h"
#include "watch_util.h"

#define MAX_PAGES	10
#define MAX_PIECES	MAX_PAGES

static size_t ps;

/*
 * A layout gives each page a state: W watched, U unwatched, and D and N
 * for the same with MADV_DONTFORK set, so that they do not merge with a
 * W or U neighbour.
 */
struct layout {
	char state[MAX_PAGES + 1];
	size_t n;
	size_t first, last;		/* the range to arm, in pages */
};

FIXTURE(walk) {
	struct mmw_trace t;
	__u64 id;
	char *area;			/* MAX_PAGES + 2 pages, ends shared */
	unsigned int seed;
	int cases;
	int pidfd;
};

FIXTURE_SETUP(walk)
{
	const char *env;

	ps = getpagesize();
	self->pidfd = -1;
	MMW_SKIP_WITHOUT_FEATURE(return);
	/*
	 * A NUMA hinting fault maps a watched entry read-only again, and the
	 * next write to a page outside the armed range would fault: keep the
	 * scanner away, the counts checked here are the arm's alone.
	 */
	if (!access("/proc/sys/kernel/numa_balancing", W_OK))
		ASSERT_EQ(0, mmw_set_setting("/proc/sys/kernel/numa_balancing", "0"));
	ASSERT_EQ(0, mmw_trace_init(&self->t, NULL, 2048));
	self->area = mmap(NULL, (MAX_PAGES + 2) * ps, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->area);
	env = getenv("MMW_SEED");
	self->seed = (unsigned int)time(NULL);
	if (env)
		self->seed = strtoul(env, NULL, 0);
	env = getenv("MMW_CASES");
	self->cases = 150;
	if (env)
		self->cases = atoi(env);
	self->pidfd = mmw_pidfd_open(getpid());
	ASSERT_LE(0, self->pidfd);
	TH_LOG("MMW_SEED=%u MMW_CASES=%d", self->seed, self->cases);
}

FIXTURE_TEARDOWN(walk)
{
	if (self->pidfd >= 0)
		close(self->pidfd);
	mmw_trace_fini(&self->t);
	mmw_restore_settings();
}

static bool is_watched(char c)
{
	return c == 'W' || c == 'D';
}

/*
 * Map the layout at @area + 1 page, between two shared mappings, which
 * cannot be watched: write every page, so that the watched ones are
 * writable again.
 */
static int layout_map(char *area, const struct layout *l)
{
	char *p = area + ps;
	size_t i;

	if (mmap(area, (l->n + 2) * ps, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != area)
		return -1;
	if (mmap(p, l->n * ps, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != p)
		return -1;
	if (madvise(p, l->n * ps, MADV_NOHUGEPAGE))
		return -1;
	memset(p, 1, l->n * ps);
	for (i = 0; i < l->n; i++)
		if ((l->state[i] == 'D' || l->state[i] == 'N') &&
		    madvise(p + i * ps, ps, MADV_DONTFORK))
			return -1;
	if (madvise(p, l->n * ps, MADV_WATCH))
		return -1;
	for (i = 0; i < l->n; i++)
		if (!is_watched(l->state[i]) &&
		    madvise(p + i * ps, ps, MADV_UNWATCH))
			return -1;
	memset(p, 2, l->n * ps);
	return 0;
}

static void layout_random(struct layout *l, unsigned int *seed)
{
	static const char states[] = "WUDN";
	size_t i;

	l->n = 2 + rand_r(seed) % (MAX_PAGES - 1);
	for (i = 0; i < l->n; i++)
		l->state[i] = states[rand_r(seed) % 4];
	l->state[l->n] = '\0';
	l->first = rand_r(seed) % l->n;
	l->last = l->first + rand_r(seed) % (l->n - l->first);
}

/*
 * After arming, write one byte to every page of the layout and check the
 * events: one mark per page of the range, with rearm set if the page was
 * watched, one write fault per page of the range, nothing outside it.
 */
static int layout_check(struct __test_metadata *_metadata,
			struct _test_data_walk *self, const struct layout *l,
			const char *how)
{
	char *p = self->area + ps;
	const struct mmw_event *e;
	size_t i, j, marks, faults;
	unsigned long a;
	int bad = 0;

	for (i = 0; i < l->n; i++)
		p[i * ps + 1] = 3;
	if (mmw_trace_read(&self->t) < 0 || self->t.lost || self->t.nr_unparsed) {
		TH_LOG("trace read failed or lost events");
		return -1;
	}
	if (!self->id)
		self->id = mmw_mm_id_of(&self->t, getpid());
	for (i = 0; i < l->n; i++) {
		bool in = i >= l->first && i <= l->last;

		a = mmw_pg(p, i);
		marks = 0;
		for (j = 0; j < self->t.nr; j++) {
			e = &self->t.ev[j];
			if (e->type != MMW_MARK || e->start > a || e->end < a + ps)
				continue;
			marks++;
			if (e->rearm != is_watched(l->state[i])) {
				TH_LOG("%s %s [%zu,%zu]: page %zu: mark rearm=%d",
				       how, l->state, l->first, l->last, i, e->rearm);
				bad++;
			}
		}
		faults = mmw_count(&self->t, MMW_WRITE_FAULT, self->id, a, a + ps);
		if (marks != in || faults != in) {
			TH_LOG("%s %s [%zu,%zu]: page %zu: %zu mark(s), %zu write(s), want %d",
			       how, l->state, l->first, l->last, i, marks, faults, in);
			bad++;
		}
	}
	if (bad)
		mmw_trace_dump(&self->t, 30);
	return bad;
}

/* The reproduction of the report: W W U U W W, armed as a whole. */
TEST_F(walk, rearm_across_unwatched)
{
	struct layout l = { .state = "WWUUWW", .n = 6, .first = 0, .last = 5 };
	struct iovec iov = { self->area + ps, 6 * ps };

	ASSERT_EQ(0, layout_map(self->area, &l));
	ASSERT_EQ(0, mmw_trace_clear(&self->t));
	ASSERT_EQ(0, madvise(self->area + ps, 6 * ps, MADV_WATCH));
	EXPECT_EQ(0, layout_check(_metadata, self, &l, "madvise"));

	ASSERT_EQ(0, layout_map(self->area, &l));
	ASSERT_EQ(0, mmw_trace_clear(&self->t));
	ASSERT_EQ(6 * ps, mmw_process_madvise(self->pidfd, &iov, 1, MADV_WATCH));
	EXPECT_EQ(0, layout_check(_metadata, self, &l, "process_madvise"));
}

TEST_F(walk, madvise_layouts)
{
	unsigned int seed = self->seed;
	struct layout l;
	int i, bad = 0;

	for (i = 0; i < self->cases && bad < 5; i++) {
		layout_random(&l, &seed);
		ASSERT_EQ(0, layout_map(self->area, &l)) TH_LOG("%s", l.state);
		ASSERT_EQ(0, mmw_trace_clear(&self->t));
		ASSERT_EQ(0, madvise(self->area + (l.first + 1) * ps,
				     (l.last - l.first + 1) * ps, MADV_WATCH));
		bad += !!layout_check(_metadata, self, &l, "madvise");
	}
	EXPECT_EQ(0, bad);
}

/*
 * process_madvise() with the range cut in pieces of random sizes, passed
 * in random order: each piece goes through the batched re-arm when it
 * lies in watched VMAs, through the VMA walk otherwise.
 */
TEST_F(walk, process_madvise_layouts)
{
	unsigned int seed = self->seed;
	struct iovec iov[MAX_PIECES], tmp;
	size_t n, k, len, at;
	struct layout l;
	int i, bad = 0;

	for (i = 0; i < self->cases && bad < 5; i++) {
		layout_random(&l, &seed);
		ASSERT_EQ(0, layout_map(self->area, &l)) TH_LOG("%s", l.state);
		n = 0;
		for (at = l.first; at <= l.last; at += len) {
			len = 1 + rand_r(&seed) % (l.last + 1 - at);
			iov[n].iov_base = self->area + (at + 1) * ps;
			iov[n++].iov_len = len * ps;
		}
		for (k = n; k > 1; k--) {
			at = rand_r(&seed) % k;
			tmp = iov[k - 1];
			iov[k - 1] = iov[at];
			iov[at] = tmp;
		}
		ASSERT_EQ(0, mmw_trace_clear(&self->t));
		ASSERT_EQ((l.last - l.first + 1) * ps,
			  mmw_process_madvise(self->pidfd, iov, n, MADV_WATCH));
		bad += !!layout_check(_metadata, self, &l, "process_madvise");
	}
	EXPECT_EQ(0, bad);
}

TEST_HARNESS_MAIN
