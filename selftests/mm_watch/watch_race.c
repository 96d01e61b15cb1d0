// SPDX-License-Identifier: GPL-2.0
/*
 * Writers on one CPU against re-arms and discards on another: the epoch
 * loop of a consumer (re-arm with process_madvise(), then copy), while a
 * thread pinned to CPU 0 writes random pages and threads pinned to CPU 1
 * re-arm in batches of single pages in random order, MADV_DONTNEED random
 * pages, and copy the memory after each re-arm. A page whose copy changed
 * between two epochs was written (or discarded) after the first re-arm and
 * before the copy after the second one, so a change event of that page
 * must lie between its mark of the first re-arm and its mark of the
 * re-arm after the second copy. Also: the write fault event switched on
 * and off while CPU 0 takes write faults. Needs two CPUs.
 *
 * MMW_SEED=<n> reproduces the choices of the threads (not their timing),
 * MMW_EPOCHS changes the number of epochs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "../kselftest_harness.h"
#include "watch_util.h"

#define NPAGES		64

static size_t ps;

struct race {
	char *p;
	unsigned int seed;
	int stop;
	int epochs;
	int pidfd;
	unsigned long writes, zaps;
};

static int pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* CPU 0: change random pages, each write different from the last. */
static void *writer(void *arg)
{
	struct race *r = arg;
	unsigned int seed = r->seed;
	unsigned long n = 0;
	size_t pg, slot;

	if (pin(0))
		return (void *)1;
	while (!__atomic_load_n(&r->stop, __ATOMIC_RELAXED)) {
		pg = rand_r(&seed) % NPAGES;
		slot = rand_r(&seed) % (ps / sizeof(unsigned long));
		__atomic_store_n((unsigned long *)(r->p + pg * ps) + slot, ++n,
				 __ATOMIC_RELAXED);
	}
	r->writes = n;
	return NULL;
}

/* CPU 1: discard random pages now and then. */
static void *zapper(void *arg)
{
	struct race *r = arg;
	unsigned int seed = r->seed * 7 + 1;
	unsigned long n = 0;

	if (pin(1))
		return (void *)1;
	while (!__atomic_load_n(&r->stop, __ATOMIC_RELAXED)) {
		if (madvise(r->p + (rand_r(&seed) % NPAGES) * ps, ps, MADV_DONTNEED))
			return (void *)2;
		n++;
		usleep(200);
	}
	r->zaps = n;
	return NULL;
}

/* Re-arm every page, one single-page range each, in random order. */
static int rearm(struct race *r, unsigned int *seed)
{
	struct iovec iov[NPAGES], tmp;
	size_t i, j;

	for (i = 0; i < NPAGES; i++) {
		iov[i].iov_base = r->p + i * ps;
		iov[i].iov_len = ps;
	}
	for (i = NPAGES; i > 1; i--) {
		j = rand_r(seed) % i;
		tmp = iov[i - 1];
		iov[i - 1] = iov[j];
		iov[j] = tmp;
	}
	return mmw_process_madvise(r->pidfd, iov, NPAGES, MADV_WATCH) ==
		(ssize_t)(NPAGES * ps) ? 0 : -1;
}

FIXTURE(race) {
	struct mmw_trace t;
	struct race r;
};

FIXTURE_SETUP(race)
{
	const char *env;

	ps = getpagesize();
	MMW_SKIP_WITHOUT_FEATURE(return);
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		SKIP(return, "needs 2 CPUs, %ld online", sysconf(_SC_NPROCESSORS_ONLN));
	ASSERT_EQ(0, mmw_trace_init(&self->t, NULL, 8192));
	env = getenv("MMW_SEED");
	self->r.seed = env ? strtoul(env, NULL, 0) : (unsigned int)time(NULL);
	env = getenv("MMW_EPOCHS");
	self->r.epochs = env ? atoi(env) : 150;
	TH_LOG("MMW_SEED=%u MMW_EPOCHS=%d", self->r.seed, self->r.epochs);
	self->r.p = mmap(NULL, NPAGES * ps, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->r.p);
	ASSERT_EQ(0, madvise(self->r.p, NPAGES * ps, MADV_NOHUGEPAGE));
	self->r.pidfd = mmw_pidfd_open(getpid());
	ASSERT_LE(0, self->r.pidfd);
}

FIXTURE_TEARDOWN(race)
{
	mmw_trace_fini(&self->t);
}

/*
 * Timestamps of the marks of page @pg, in order (at most @max); returns
 * their number.
 */
static int page_marks(struct mmw_trace *t, unsigned long a, unsigned long long *ts, int max)
{
	size_t i;
	int n = 0;

	for (i = 0; i < t->nr; i++) {
		const struct mmw_event *e = &t->ev[i];

		if (e->type == MMW_MARK && e->start <= a && e->end >= a + ps) {
			if (n < max)
				ts[n] = e->ts_ns;
			n++;
		}
	}
	return n;
}

/* A change event of the page at @a with a timestamp in [lo, hi]. */
static bool page_reported(struct mmw_trace *t, unsigned long a,
			  unsigned long long lo, unsigned long long hi)
{
	size_t i;

	for (i = 0; i < t->nr; i++) {
		const struct mmw_event *e = &t->ev[i];

		if ((MMW_BIT(e->type) & MMW_CHANGE_EVENTS) &&
		    e->start < a + ps && e->end > a &&
		    e->ts_ns >= lo && e->ts_ns <= hi)
			return true;
	}
	return false;
}

TEST_F_TIMEOUT(race, rearm_copy_loop, 600)
{
	struct race *r = &self->r;
	int k, K = r->epochs, nmarks, missed = 0;
	unsigned long long *mark;
	unsigned char *changed;
	char *prev, *cur, *tmp;
	pthread_t w, z;
	unsigned int seed = r->seed * 13 + 5;
	void *ret;
	size_t i;

	prev = malloc(NPAGES * ps);
	cur = malloc(NPAGES * ps);
	changed = calloc((size_t)K * NPAGES, 1);
	mark = calloc((size_t)(K + 2) * NPAGES, sizeof(*mark));
	ASSERT_TRUE(prev && cur && changed && mark);
	ASSERT_EQ(0, pin(1));
	memset(r->p, 1, NPAGES * ps);
	ASSERT_EQ(0, madvise(r->p, NPAGES * ps, MADV_WATCH));
	ASSERT_EQ(0, mmw_trace_clear(&self->t));

	ASSERT_EQ(0, pthread_create(&w, NULL, writer, r));
	ASSERT_EQ(0, pthread_create(&z, NULL, zapper, r));
	for (k = 0; k < K; k++) {
		if (rearm(r, &seed))
			break;
		memcpy(cur, r->p, NPAGES * ps);
		if (k)
			for (i = 0; i < NPAGES; i++)
				changed[(k - 1) * NPAGES + i] =
					!!memcmp(prev + i * ps, cur + i * ps, ps);
		tmp = prev;
		prev = cur;
		cur = tmp;
	}
	EXPECT_EQ(K, k) TH_LOG("re-arm %d failed: %s", k, strerror(errno));
	/* The closing re-arm: its marks end the window of the last epoch. */
	EXPECT_EQ(0, rearm(r, &seed));
	__atomic_store_n(&r->stop, 1, __ATOMIC_RELAXED);
	ASSERT_EQ(0, pthread_join(w, &ret));
	ASSERT_EQ(NULL, ret);
	ASSERT_EQ(0, pthread_join(z, &ret));
	ASSERT_EQ(NULL, ret);
	TH_LOG("%d epochs, %lu writes, %lu discards", K, r->writes, r->zaps);
	ASSERT_EQ(K, k);

	MMW_READ_EVENTS(&self->t);
	for (i = 0; i < NPAGES; i++) {
		unsigned long a = mmw_pg(r->p, i);
		unsigned long long *m = mark + i * (K + 2);

		nmarks = page_marks(&self->t, a, m, K + 2);
		ASSERT_EQ(K + 1, nmarks) TH_LOG("page %zu", i);
		for (k = 0; k + 1 < K; k++) {
			if (!changed[k * NPAGES + i] ||
			    page_reported(&self->t, a, m[k], m[k + 2]))
				continue;
			if (missed++ < 10)
				TH_LOG("page %zu changed between epochs %d and %d, no event",
				       i, k, k + 1);
		}
	}
	EXPECT_EQ(0, missed);
	free(prev);
	free(cur);
	free(changed);
	free(mark);
}

/* CPU 0: re-arm the range and take a write fault on each page, again and again. */
static void *fault_loop(void *arg)
{
	struct race *r = arg;
	unsigned long n = 0;
	size_t i;

	if (pin(0))
		return (void *)1;
	while (!__atomic_load_n(&r->stop, __ATOMIC_RELAXED)) {
		if (madvise(r->p, NPAGES * ps, MADV_WATCH))
			return (void *)2;
		for (i = 0; i < NPAGES; i++)
			r->p[i * ps]++;
		n++;
	}
	r->writes = n;
	return NULL;
}

/*
 * Switching an event on or off in one instance while another instance
 * records it live-patches its call sites, here the one in the write fault
 * path while CPU 0 runs through it. Afterwards every first write is
 * reported. MMW_SWITCHES changes the number of on/off switches.
 */
TEST_F_TIMEOUT(race, switch_event_while_faulting, 600)
{
	struct race *r = &self->r;
	unsigned long start = (unsigned long)r->p, end = start + NPAGES * ps;
	const char *env = getenv("MMW_SWITCHES");
	int k, K = env ? atoi(env) : 1000;
	char dir[300], path[400];
	pthread_t w;
	void *ret;
	size_t i;

	snprintf(dir, sizeof(dir), "%s-switch", self->t.dir);
	snprintf(path, sizeof(path), "%s/events/mm_watch/mm_watch_write_fault/enable", dir);
	ASSERT_TRUE(!mkdir(dir, 0700) || errno == EEXIST)
		TH_LOG("mkdir %s: %s", dir, strerror(errno));
	ASSERT_EQ(0, pin(1));
	memset(r->p, 1, NPAGES * ps);
	ASSERT_EQ(0, pthread_create(&w, NULL, fault_loop, r));
	for (k = 0; k < K; k++) {
		if (mmw_write_file(path, "1") || mmw_write_file(path, "0"))
			break;
	}
	__atomic_store_n(&r->stop, 1, __ATOMIC_RELAXED);
	ASSERT_EQ(0, pthread_join(w, &ret));
	ASSERT_EQ(NULL, ret);
	mmw_write_file(path, "0");
	rmdir(dir);
	ASSERT_EQ(K, k) TH_LOG("switch %d failed: %s", k, strerror(errno));
	TH_LOG("%d switches, %lu rounds of %d write faults", K, r->writes, NPAGES);
	ASSERT_LT(0UL, r->writes);

	ASSERT_EQ(0, madvise(r->p, NPAGES * ps, MADV_WATCH));
	ASSERT_EQ(0, mmw_trace_clear(&self->t));
	for (i = 0; i < NPAGES; i++)
		r->p[i * ps]++;
	MMW_READ_EVENTS(&self->t);
	EXPECT_EQ((size_t)NPAGES, mmw_count(&self->t, MMW_WRITE_FAULT, 0, start, end));
}

TEST_HARNESS_MAIN
