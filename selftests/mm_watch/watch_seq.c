// SPDX-License-Identifier: GPL-2.0
/*
 * The per-mm sequence number of the mm_watch events: an event that the
 * consumer did not get, because it was disabled, filtered out or dropped
 * from a full buffer, leaves a gap; the numbers of one mm are unique and
 * contiguous across CPUs, increase within each CPU's buffer, and follow
 * the order of the changes (no page faults twice between two arms).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "../kselftest_harness.h"
#include "watch_util.h"

static size_t ps;

FIXTURE(seq) {
	struct mmw_trace t;
	__u64 id;
	char *p;
	size_t len;
};

FIXTURE_SETUP(seq)
{
	ps = getpagesize();
	self->p = MAP_FAILED;
	MMW_SKIP_WITHOUT_FEATURE(return);
	ASSERT_EQ(0, mmw_trace_init(&self->t, NULL, 1024));
}

FIXTURE_TEARDOWN(seq)
{
	mmw_trace_fini(&self->t);
	if (self->p != MAP_FAILED)
		munmap(self->p, self->len);
	mmw_restore_settings();
}

/* Map @npages watched pages at *@pp (unmapped by the teardown). */
static char *map_watched(char **pp, size_t *lenp, size_t npages)
{
	*lenp = npages * ps;
	*pp = mmap(NULL, *lenp, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (*pp == MAP_FAILED)
		return NULL;
	if (madvise(*pp, *lenp, MADV_WATCH))
		return NULL;
	return *pp;
}

static int instance_write(struct mmw_trace *t, const char *file, const char *str)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", t->dir, file);
	return mmw_write_file(path, str);
}

/* The one write_fault event of @id for the page at @addr, NULL if none or several. */
static const struct mmw_event *one_fault(struct mmw_trace *t, __u64 id, unsigned long addr)
{
	if (mmw_count(t, MMW_WRITE_FAULT, id, addr, addr + 1) != 1)
		return NULL;
	return mmw_find(t, MMW_WRITE_FAULT, id, addr, addr + 1);
}

/* Number of recorded events of @id with lo < seq < hi. */
static size_t events_between(struct mmw_trace *t, __u64 id, __u64 lo, __u64 hi)
{
	size_t i, n = 0;

	for (i = 0; i < t->nr; i++)
		if (t->ev[i].mm_id == id && t->ev[i].seq > lo && t->ev[i].seq < hi)
			n++;
	return n;
}

/*
 * Sort the events of @id by seq into a new array; return their number,
 * and the sum of the gaps between consecutive numbers in @gaps. Two
 * numbered events with the same number count in @dups; a re-arm's mark
 * shares the number of the event before it.
 */
static size_t sorted_events(struct mmw_trace *t, __u64 id, struct mmw_event **out,
			    __u64 *gaps, size_t *dups)
{
	struct mmw_event *ev = calloc(t->nr ? t->nr : 1, sizeof(*ev));
	size_t i, n = 0;

	*gaps = 0;
	*dups = 0;
	*out = ev;
	if (!ev)
		return 0;
	for (i = 0; i < t->nr; i++)
		if (t->ev[i].mm_id == id)
			ev[n++] = t->ev[i];
	qsort(ev, n, sizeof(*ev), mmw_cmp_seq);
	for (i = 1; i < n; i++) {
		if (ev[i].seq == ev[i - 1].seq)
			*dups += mmw_numbered(&ev[i]);
		else
			*gaps += ev[i].seq - ev[i - 1].seq - 1;
	}
	return n;
}

/* Number of events in @ev[0..@n) that took a number of their own. */
static size_t numbered(const struct mmw_event *ev, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		k += mmw_numbered(&ev[i]);
	return k;
}

/* A write while the write_fault event is disabled still takes a number. */
TEST_F(seq, disabled_event_leaves_gap)
{
	const struct mmw_event *e0, *e2;
	char *p = map_watched(&self->p, &self->len, 4);

	ASSERT_NE(NULL, p);
	p[0] = 1;
	ASSERT_EQ(0, instance_write(&self->t, "events/mm_watch/mm_watch_write_fault/enable", "0"));
	p[ps] = 1;
	ASSERT_EQ(0, instance_write(&self->t, "events/mm_watch/mm_watch_write_fault/enable", "1"));
	p[2 * ps] = 1;

	MMW_READ_OWN_EVENTS();
	EXPECT_EQ(0, MMW_WRITE_FAULTS(mmw_pg(p, 1), mmw_pg(p, 2)));
	e0 = one_fault(&self->t, self->id, mmw_pg(p, 0));
	e2 = one_fault(&self->t, self->id, mmw_pg(p, 2));
	ASSERT_NE(NULL, e0) mmw_trace_dump(&self->t, 20);
	ASSERT_NE(NULL, e2) mmw_trace_dump(&self->t, 20);
	ASSERT_NE(0ULL, e0->seq) TH_LOG("the events carry no seq field");
	/* Exactly one number is missing: the write that was not recorded. */
	EXPECT_EQ(e0->seq + 2, e2->seq) mmw_trace_dump(&self->t, 20);
	EXPECT_EQ(0, events_between(&self->t, self->id, e0->seq, e2->seq));
}

/* An event that the instance's filter rejects still takes a number. */
TEST_F(seq, filtered_event_leaves_gap)
{
	const struct mmw_event *e0, *e2;
	char *p = map_watched(&self->p, &self->len, 4);
	char filter[128];

	ASSERT_NE(NULL, p);
	p[0] = 1;
	snprintf(filter, sizeof(filter), "tgid==%d && address!=0x%lx", getpid(), mmw_pg(p, 1));
	ASSERT_EQ(0, instance_write(&self->t, "events/mm_watch/mm_watch_write_fault/filter",
				    filter));
	p[ps] = 1;
	p[2 * ps] = 1;

	MMW_READ_OWN_EVENTS();
	EXPECT_EQ(0, MMW_WRITE_FAULTS(mmw_pg(p, 1), mmw_pg(p, 2)));
	e0 = one_fault(&self->t, self->id, mmw_pg(p, 0));
	e2 = one_fault(&self->t, self->id, mmw_pg(p, 2));
	ASSERT_NE(NULL, e0) mmw_trace_dump(&self->t, 20);
	ASSERT_NE(NULL, e2) mmw_trace_dump(&self->t, 20);
	EXPECT_EQ(e0->seq + 2, e2->seq) mmw_trace_dump(&self->t, 20);
}

/*
 * A re-arm takes no number: it carries the number of the event before it,
 * so a consumer that leaves mm_watch_rearm disabled sees no gap, while the
 * mark of a new range, which takes one, still comes.
 */
TEST_F(seq, rearm_takes_no_number)
{
	const struct mmw_event *e0 = NULL, *e1, *mark = NULL;
	char *p = map_watched(&self->p, &self->len, 2);
	struct mmw_event *ev;
	__u64 gaps;
	size_t i, n, dups;
	char *q;

	ASSERT_NE(NULL, p);
	p[0] = 1;
	ASSERT_EQ(0, madvise(p, ps, MADV_WATCH));
	p[ps] = 1;
	ASSERT_EQ(0, instance_write(&self->t, "events/mm_watch/mm_watch_rearm/enable", "0"));
	ASSERT_EQ(0, madvise(p, 2 * ps, MADV_WATCH));
	p[0] = 1;
	ASSERT_EQ(0, madvise(p, ps, MADV_WATCH));
	q = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, q);
	ASSERT_EQ(0, madvise(q, ps, MADV_WATCH));
	q[0] = 1;
	MMW_READ_OWN_EVENTS();
	munmap(q, ps);

	/* The first re-arm, and the first of the two writes to page 0 */
	for (i = 0; i < self->t.nr; i++) {
		const struct mmw_event *e = &self->t.ev[i];

		if (e->mm_id != self->id)
			continue;
		if (e->type == MMW_MARK && e->rearm)
			mark = e;
		if (e->type == MMW_WRITE_FAULT && e->start == mmw_pg(p, 0) &&
		    (!e0 || e->seq < e0->seq))
			e0 = e;
	}
	e1 = one_fault(&self->t, self->id, mmw_pg(p, 1));
	ASSERT_NE(NULL, mark) mmw_trace_dump(&self->t, 20);
	ASSERT_NE(NULL, e0) mmw_trace_dump(&self->t, 20);
	ASSERT_NE(NULL, e1) mmw_trace_dump(&self->t, 20);
	EXPECT_EQ(e0->seq, mark->seq) mmw_trace_dump(&self->t, 20);
	EXPECT_EQ(e0->seq + 1, e1->seq) mmw_trace_dump(&self->t, 20);

	/* Two re-arms left out, the new range's mark kept: no gap. */
	EXPECT_EQ(1, mmw_count(&self->t, MMW_MARK, self->id, mmw_pg(q, 0), mmw_pg(q, 1)));
	EXPECT_EQ(1, mmw_count(&self->t, MMW_WRITE_FAULT, self->id, mmw_pg(q, 0),
			       mmw_pg(q, 1)));
	n = sorted_events(&self->t, self->id, &ev, &gaps, &dups);
	ASSERT_NE(NULL, ev);
	EXPECT_EQ(0ULL, gaps) mmw_trace_dump(&self->t, 20);
	EXPECT_EQ(0, dups);
	EXPECT_EQ(ev[0].seq + numbered(ev, n) - 1, ev[n - 1].seq);
	free(ev);
}

/*
 * Events dropped from a full buffer: the numbers missing between the last
 * event kept and the first one recorded after the buffer was emptied are
 * exactly the events the instance counted as lost.
 */
TEST_F(seq, dropped_events_leave_gap)
{
	const size_t npages = 4096;
	__u64 gaps, first, last, lost;
	struct mmw_event *ev;
	size_t i, n, dups;
	cpu_set_t set;
	char *p;

	/*
	 * One CPU's buffer: a writer that migrates would fill a second one
	 * after the first is full, and the events kept would not be
	 * contiguous.
	 */
	CPU_ZERO(&set);
	CPU_SET(sched_getcpu(), &set);
	ASSERT_EQ(0, sched_setaffinity(0, sizeof(set), &set));

	/* The smallest buffer the ring buffer allows: a few pages per CPU. */
	mmw_trace_fini(&self->t);
	ASSERT_EQ(0, mmw_trace_init(&self->t, NULL, 4));
	p = map_watched(&self->p, &self->len, npages + 1);
	ASSERT_NE(NULL, p);
	for (i = 0; i < npages; i++)
		p[i * ps] = 1;

	ASSERT_LE(0, mmw_trace_read(&self->t));
	lost = self->t.lost;
	ASSERT_LT(0ULL, lost) TH_LOG("%zu writes fit in a tiny buffer", npages);
	self->id = mmw_mm_id_of(&self->t, getpid());
	ASSERT_NE(0ULL, self->id) mmw_trace_dump(&self->t, 20);
	/* What was kept is contiguous: the loss is at the end. */
	n = sorted_events(&self->t, self->id, &ev, &gaps, &dups);
	ASSERT_NE(NULL, ev);
	ASSERT_LT((size_t)0, n);
	EXPECT_EQ(0ULL, gaps);
	EXPECT_EQ(0, dups);
	EXPECT_EQ(MMW_MARK, ev[0].type);
	first = ev[0].seq;
	last = ev[n - 1].seq;
	free(ev);
	EXPECT_EQ(npages + 1, n + lost) TH_LOG("%zu kept, %llu lost", n, lost);
	EXPECT_EQ(first + n - 1, last);

	/* Empty the buffer; the next event shows the gap. */
	ASSERT_EQ(0, mmw_trace_clear(&self->t));
	p[npages * ps] = 1;
	MMW_READ_EVENTS(&self->t);
	ASSERT_EQ(1, self->t.nr) mmw_trace_dump(&self->t, 20);
	EXPECT_EQ(last + lost + 1, self->t.ev[0].seq)
		TH_LOG("last kept %llu, lost %llu", last, lost);
}

struct writer {
	char *p;
	size_t npages;
	int cpu;
	int *stop;
	unsigned long rounds;
};

/* Writes the shared pages, then the page after them that is its own. */
static void *writer_fn(void *arg)
{
	struct writer *w = arg;
	cpu_set_t set;
	size_t i;

	CPU_ZERO(&set);
	CPU_SET(w->cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		return (void *)(long)errno;
	while (!__atomic_load_n(w->stop, __ATOMIC_RELAXED)) {
		for (i = 0; i < w->npages; i++)
			__atomic_fetch_add(&w->p[i * ps], 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&w->p[(w->npages + w->cpu) * ps], 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&w->rounds, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static unsigned long writer_rounds(struct writer *w)
{
	return __atomic_load_n(&w->rounds, __ATOMIC_RELAXED);
}

/* Both writers made two passes since @start. */
static bool writers_ran(struct writer *w, const unsigned long *start)
{
	return writer_rounds(&w[0]) >= start[0] + 2 && writer_rounds(&w[1]) >= start[1] + 2;
}

/*
 * Two writers pinned to two CPUs write the same pages, and one page each,
 * while the region is re-armed again and again. Every number is taken
 * once, none is missing, each CPU's buffer holds them in increasing order,
 * and in the order of the numbers no page faults twice without a mark in
 * between. A vCPU may not run at all for a while (TCG runs them in turn):
 * the re-arms go on until each writer has made two passes under them.
 */
TEST_F(seq, ordered_across_cpus)
{
	const size_t npages = 32, rounds = 200;
	struct writer w[2];
	pthread_t th[2];
	int stop = 0;
	struct mmw_event *ev;
	size_t i, n, dups, arms, marks = 0, faults = 0;
	unsigned char *faulted;
	unsigned long start[2];
	__u64 gaps, last[2] = { 0, 0 };
	int j, cpu_seen[2] = { 0, 0 };
	char *p;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		SKIP(return, "needs two CPUs");
	/*
	 * A NUMA hinting fault maps a watched entry read-only again, and its
	 * next write is reported twice in one arm: keep the scanner away.
	 */
	if (!access("/proc/sys/kernel/numa_balancing", W_OK))
		ASSERT_EQ(0, mmw_set_setting("/proc/sys/kernel/numa_balancing", "0"));
	p = map_watched(&self->p, &self->len, npages + 2);
	ASSERT_NE(NULL, p);
	for (j = 0; j < 2; j++) {
		w[j] = (struct writer){ .p = p, .npages = npages, .cpu = j, .stop = &stop };
		ASSERT_EQ(0, pthread_create(&th[j], NULL, writer_fn, &w[j]));
	}
	start[0] = writer_rounds(&w[0]);
	start[1] = writer_rounds(&w[1]);
	for (arms = 0; arms < rounds || !writers_ran(w, start); arms++) {
		if (arms == 100 * rounds)
			break;
		ASSERT_EQ(0, madvise(p, (npages + 2) * ps, MADV_WATCH));
		usleep(500);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (j = 0; j < 2; j++) {
		void *ret;

		ASSERT_EQ(0, pthread_join(th[j], &ret));
		ASSERT_EQ(NULL, ret) TH_LOG("writer on CPU %d: %s", j, strerror((long)ret));
		ASSERT_LE(start[j] + 2, w[j].rounds)
			TH_LOG("writer on CPU %d: %lu passes in %zu re-arms", j,
			       w[j].rounds - start[j], arms);
	}

	MMW_READ_OWN_EVENTS();
	/* Within each CPU's buffer, in the order read back: increasing. */
	for (i = 0; i < self->t.nr; i++) {
		const struct mmw_event *e = &self->t.ev[i];

		if (e->mm_id != self->id)
			continue;
		ASSERT_TRUE(e->cpu == 0 || e->cpu == 1) TH_LOG("cpu %d", e->cpu);
		/* a re-arm's mark carries the number of the event before it */
		EXPECT_LT(last[e->cpu], e->seq + !mmw_numbered(e))
			TH_LOG("CPU %d: seq %llu after %llu", e->cpu, e->seq, last[e->cpu]);
		last[e->cpu] = e->seq;
		cpu_seen[e->cpu] |= e->type == MMW_WRITE_FAULT;
	}
	EXPECT_TRUE(cpu_seen[0] && cpu_seen[1]) TH_LOG("write faults on one CPU only");

	/* Across CPUs: from the first mark on, each number once. */
	n = sorted_events(&self->t, self->id, &ev, &gaps, &dups);
	ASSERT_NE(NULL, ev);
	ASSERT_LT((size_t)0, n);
	EXPECT_EQ(0ULL, gaps);
	EXPECT_EQ(0, dups);
	EXPECT_EQ(MMW_MARK, ev[0].type);
	EXPECT_EQ(ev[0].seq + numbered(ev, n) - 1, ev[n - 1].seq);

	/* In seq order, a page faults at most once per arm. */
	faulted = calloc(npages + 2, 1);
	ASSERT_NE(NULL, faulted);
	for (i = 0; i < n; i++) {
		unsigned long a;

		if (ev[i].type == MMW_MARK) {
			memset(faulted, 0, npages + 2);
			marks++;
			continue;
		}
		if (ev[i].type != MMW_WRITE_FAULT)
			continue;
		faults++;
		for (a = ev[i].start; a < ev[i].end; a += ps) {
			size_t pg = (a - (unsigned long)p) / ps;

			ASSERT_LT(pg, npages + 2);
			EXPECT_EQ(0, faulted[pg])
				TH_LOG("page %zu faults twice after mark (seq %llu)", pg,
				       ev[i].seq);
			faulted[pg] = 1;
		}
	}
	EXPECT_EQ(arms + 1, marks);
	EXPECT_LT(npages, faults);
	TH_LOG("%zu events, %zu marks, %zu write faults, %lu + %lu writer rounds",
	       n, marks, faults, w[0].rounds, w[1].rounds);
	free(faulted);
	free(ev);
}

TEST_HARNESS_MAIN
