// SPDX-License-Identifier: GPL-2.0
/*
 * Randomized mm_watch test: threads apply seeded random mixes of writes,
 * read(2), process_vm_writev(), /proc/self/mem, fork, mprotect, MADV_DONTNEED,
 * MADV_FREE, MADV_PAGEOUT, MADV_COLLAPSE, re-arms and unwatch/watch pairs
 * to several watched ranges. Each round starts with a re-arm and a copy of
 * the ranges; at its end, every page that differs from the copy must have
 * been reported by an event of the round.
 *
 * MMW_SEED=<n> reproduces a run (the seed is always printed), MMW_ROUNDS,
 * MMW_OPS (per thread and round) and MMW_THREADS change its size, and
 * MMW_OP_MASK (bit n enables operation n of enum op) narrows down a failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/membarrier.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "../kselftest_harness.h"
#include "watch_util.h"

#define PMD_SIZE_2M	(2UL << 20)
#define NR_RANGES	4
#define MAX_THREADS	8
#define MAX_SPAN	4

static size_t ps;

enum op {
	OP_WRITE,
	OP_MEMSET,
	OP_READ,
	OP_READ_SYSCALL,
	OP_VM_WRITEV,
	OP_PROC_MEM,
	OP_MPROTECT,
	OP_DONTNEED,
	OP_FREE,
	OP_PAGEOUT,
	OP_FORK,
	OP_REARM,
	OP_REWATCH,
	OP_COLLAPSE,
	NR_OPS,
};

static const char * const op_names[NR_OPS] = {
	"write", "memset", "read", "read(2)", "process_vm_writev", "/proc/self/mem",
	"mprotect", "MADV_DONTNEED", "MADV_FREE", "MADV_PAGEOUT", "fork", "re-arm",
	"unwatch+watch", "MADV_COLLAPSE",
};

/* relative frequencies */
static const int op_weight[NR_OPS] = {
	[OP_WRITE] = 30, [OP_MEMSET] = 10, [OP_READ] = 10, [OP_READ_SYSCALL] = 5,
	[OP_VM_WRITEV] = 5, [OP_PROC_MEM] = 5, [OP_MPROTECT] = 5, [OP_DONTNEED] = 5,
	[OP_FREE] = 4, [OP_PAGEOUT] = 4, [OP_FORK] = 2, [OP_REARM] = 3, [OP_REWATCH] = 2,
	[OP_COLLAPSE] = 1,
};

struct range {
	const char *name;
	char *p;
	size_t n;
	bool anon;
	bool thp;
	char *snap;
	pthread_mutex_t lock;
};

struct logged_op {
	unsigned char op, range;
	unsigned short page, cnt;
};

struct worker {
	unsigned long long rng;
	int id;
	int pipe[2];
	int mem;
	size_t nr_log;
	struct logged_op *log;
	char err[128];
};

static struct range ranges[NR_RANGES];
static unsigned long op_mask;
static bool have_swap;
static int nr_ops;

static unsigned long long next_rand(unsigned long long *s)
{
	/* xorshift64* */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static enum op pick_op(struct worker *w)
{
	int total = 0, i, x;

	for (i = 0; i < NR_OPS; i++)
		if (op_mask & (1UL << i))
			total += op_weight[i];
	x = next_rand(&w->rng) % total;
	for (i = 0; i < NR_OPS; i++) {
		if (!(op_mask & (1UL << i)))
			continue;
		if (x < op_weight[i])
			return i;
		x -= op_weight[i];
	}
	return OP_WRITE;
}

static void fill_random(struct worker *w, char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i += 8) {
		unsigned long long v = next_rand(&w->rng);

		memcpy(buf + i, &v, len - i < 8 ? len - i : 8);
	}
}

#define FAIL_OP(w, fmt, ...) \
	snprintf((w)->err, sizeof((w)->err), fmt, ##__VA_ARGS__)

static void do_op(struct worker *w)
{
	unsigned int ri = next_rand(&w->rng) % NR_RANGES;
	struct range *r = &ranges[ri];
	size_t page = next_rand(&w->rng) % r->n;
	size_t cnt = 1 + next_rand(&w->rng) % MAX_SPAN;
	enum op op = pick_op(w);
	char buf[MAX_SPAN * 4096];
	char *addr;
	struct iovec l, rv;
	size_t len, done;
	pid_t pid;

	if (page + cnt > r->n)
		cnt = r->n - page;
	addr = r->p + page * ps;
	len = cnt * ps;
	if (len > sizeof(buf))
		len = sizeof(buf);
	if (w->nr_log < (size_t)nr_ops) {
		w->log[w->nr_log].op = op;
		w->log[w->nr_log].range = ri;
		w->log[w->nr_log].page = page;
		w->log[w->nr_log].cnt = cnt;
		w->nr_log++;
	}

	pthread_mutex_lock(&r->lock);
	switch (op) {
	case OP_WRITE:
		addr[next_rand(&w->rng) % len] = (char)next_rand(&w->rng);
		break;
	case OP_MEMSET:
		memset(addr, (int)next_rand(&w->rng), len);
		break;
	case OP_READ:
		for (done = 0; done < len; done += ps)
			buf[0] += addr[done];
		break;
	case OP_READ_SYSCALL:
		fill_random(w, buf, len);
		if (write(w->pipe[1], buf, len) != (ssize_t)len) {
			FAIL_OP(w, "pipe write: %s", strerror(errno));
			break;
		}
		for (done = 0; done < len; ) {
			ssize_t ret = read(w->pipe[0], addr + done, len - done);

			if (ret <= 0) {
				FAIL_OP(w, "pipe read: %s", strerror(errno));
				break;
			}
			done += ret;
		}
		break;
	case OP_VM_WRITEV:
		fill_random(w, buf, len);
		l.iov_base = buf;
		l.iov_len = len;
		rv.iov_base = addr;
		rv.iov_len = len;
		if (process_vm_writev(getpid(), &l, 1, &rv, 1, 0) != (ssize_t)len)
			FAIL_OP(w, "process_vm_writev: %s", strerror(errno));
		break;
	case OP_PROC_MEM:
		fill_random(w, buf, 64);
		if (pwrite(w->mem, buf, 64, (off_t)(unsigned long)(addr + 64)) != 64)
			FAIL_OP(w, "/proc/self/mem: %s", strerror(errno));
		break;
	case OP_MPROTECT:
		if (mprotect(addr, len, PROT_READ) ||
		    mprotect(addr, len, PROT_READ | PROT_WRITE))
			FAIL_OP(w, "mprotect: %s", strerror(errno));
		/* sometimes write right after the upgrade */
		if (next_rand(&w->rng) & 1)
			addr[0]++;
		break;
	case OP_DONTNEED:
		if (madvise(addr, len, MADV_DONTNEED))
			FAIL_OP(w, "MADV_DONTNEED: %s", strerror(errno));
		break;
	case OP_FREE:
		if (r->anon && madvise(addr, len, MADV_FREE))
			FAIL_OP(w, "MADV_FREE: %s", strerror(errno));
		break;
	case OP_PAGEOUT:
		/* swaps out with swap, discards MADV_FREE pages anyway */
		madvise(addr, len, MADV_PAGEOUT);
		break;
	case OP_FORK:
		pid = fork();
		if (pid == 0) {
			/* The child's copy is not watched; its writes are its own. */
			memset(addr, 0xee, len);
			_exit(0);
		}
		if (pid < 0 || waitpid(pid, NULL, 0) != pid)
			FAIL_OP(w, "fork: %s", strerror(errno));
		break;
	case OP_REARM:
		if (madvise(addr, len, MADV_WATCH))
			FAIL_OP(w, "MADV_WATCH: %s", strerror(errno));
		break;
	case OP_REWATCH:
		if (madvise(addr, len, MADV_UNWATCH) || madvise(addr, len, MADV_WATCH))
			FAIL_OP(w, "MADV_UNWATCH/WATCH: %s", strerror(errno));
		break;
	case OP_COLLAPSE:
		if (r->thp)
			madvise(r->p, r->n * ps, MADV_COLLAPSE);
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&r->lock);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int i;

	for (i = 0; i < nr_ops && !w->err[0]; i++)
		do_op(w);
	return NULL;
}

static long env_num(const char *name, long def)
{
	const char *s = getenv(name);

	return s && *s ? strtol(s, NULL, 0) : def;
}

FIXTURE(random) {
	struct mmw_trace t;
	int file;
};

FIXTURE_SETUP(random)
{
	ps = getpagesize();
	MMW_SKIP_WITHOUT_FEATURE(return);
	ASSERT_EQ(0, mmw_trace_init(&self->t, NULL, 8192));
	self->file = -1;
}

FIXTURE_TEARDOWN(random)
{
	int i;

	for (i = 0; i < NR_RANGES; i++)
		if (ranges[i].p && ranges[i].p != MAP_FAILED)
			munmap(ranges[i].p, ranges[i].n * ps);
	if (self->file >= 0)
		close(self->file);
	mmw_swap_teardown();
	mmw_trace_fini(&self->t);
}

static void print_ops_touching(struct worker *w, int nr_workers, int ri, size_t page)
{
	int k;
	size_t i;

	for (k = 0; k < nr_workers; k++)
		for (i = 0; i < w[k].nr_log; i++) {
			struct logged_op *o = &w[k].log[i];

			if (o->range == ri && page >= o->page && page < (size_t)o->page + o->cnt)
				ksft_print_msg("    thread %d op %zu: %s pages %u+%u\n", k, i,
					       op_names[o->op], o->page, o->cnt);
		}
}

static unsigned long long seed;
static int nr_workers;

/* The ranges, swap if possible, and the workers' resources. */
static void setup(struct __test_metadata *_metadata, struct _test_data_random *self,
		  struct worker *w)
{
	char path[] = "/tmp/mmw-random-XXXXXX", why[128], *buf;
	int k, ri;

	seed = env_num("MMW_SEED", 0);
	if (!seed) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (unsigned long long)ts.tv_sec * 1000003ULL + ts.tv_nsec;
	}
	nr_workers = env_num("MMW_THREADS", 3);
	if (nr_workers < 1 || nr_workers > MAX_THREADS)
		nr_workers = 3;
	nr_ops = env_num("MMW_OPS", 150);
	op_mask = env_num("MMW_OP_MASK", (1L << NR_OPS) - 1);
	if (!(op_mask & ((1UL << NR_OPS) - 1)))
		op_mask = 1UL << OP_WRITE;
	ksft_print_msg("seed %llu (MMW_SEED=%llu reproduces the operation sequences)\n",
		       seed, seed);
	if (op_mask != (1UL << NR_OPS) - 1)
		ksft_print_msg("MMW_OP_MASK=%#lx\n", op_mask);
	have_swap = mmw_swap_setup(why, sizeof(why)) == 0;
	if (!have_swap)
		ksft_print_msg("no swap (%s): MADV_PAGEOUT only drops clean pages\n", why);

	ranges[0] = (struct range){ .name = "anon", .n = 32, .anon = true };
	ranges[1] = (struct range){ .name = "anon THP", .n = PMD_SIZE_2M / ps, .anon = true,
				    .thp = true };
	ranges[2] = (struct range){ .name = "private file", .n = 16 };
	ranges[3] = (struct range){ .name = "anon 2", .n = 24, .anon = true };
	ranges[0].p = mmap(NULL, ranges[0].n * ps, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ranges[1].p = mmw_map_aligned(PMD_SIZE_2M, PMD_SIZE_2M, PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS);
	self->file = mkstemp(path);
	ASSERT_LE(0, self->file);
	unlink(path);
	buf = malloc(ranges[2].n * ps);
	ASSERT_NE(NULL, buf);
	memset(buf, 0x3c, ranges[2].n * ps);
	ASSERT_EQ(ranges[2].n * ps, write(self->file, buf, ranges[2].n * ps));
	free(buf);
	ranges[2].p = mmap(NULL, ranges[2].n * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE,
			   self->file, 0);
	ranges[3].p = mmap(NULL, ranges[3].n * ps, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (ri = 0; ri < NR_RANGES; ri++) {
		ASSERT_NE(MAP_FAILED, ranges[ri].p);
		ASSERT_EQ(0, madvise(ranges[ri].p, ranges[ri].n * ps,
				     ranges[ri].thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE));
		pthread_mutex_init(&ranges[ri].lock, NULL);
		ranges[ri].snap = malloc(ranges[ri].n * ps);
		ASSERT_NE(NULL, ranges[ri].snap);
	}
	memset(ranges[0].p, 0x10, ranges[0].n * ps);
	memset(ranges[1].p, 0x11, ranges[1].n * ps / 2);
	for (k = 0; k < nr_workers; k++) {
		w[k].id = k;
		ASSERT_EQ(0, pipe(w[k].pipe));
		w[k].mem = open("/proc/self/mem", O_RDWR);
		ASSERT_LE(0, w[k].mem);
		w[k].log = calloc(nr_ops, sizeof(*w[k].log));
		ASSERT_NE(NULL, w[k].log);
	}
}

static void cleanup(struct worker *w)
{
	int k, ri;

	for (k = 0; k < nr_workers; k++) {
		close(w[k].pipe[0]);
		close(w[k].pipe[1]);
		close(w[k].mem);
		free(w[k].log);
	}
	for (ri = 0; ri < NR_RANGES; ri++)
		free(ranges[ri].snap);
}

TEST_F_TIMEOUT(random, rounds, 600)
{
	int rounds = env_num("MMW_ROUNDS", 6);
	struct worker w[MAX_THREADS] = {};
	size_t total_changed = 0, i;
	pthread_t thr[MAX_THREADS];
	int round, k, ri;
	__u64 id = 0;

	setup(_metadata, self, w);
	for (round = 0; round < rounds; round++) {
		size_t missing = 0;

		/* idle: re-arm everything, then copy */
		ASSERT_EQ(0, mmw_trace_clear(&self->t));
		for (ri = 0; ri < NR_RANGES; ri++) {
			ASSERT_EQ(0, madvise(ranges[ri].p, ranges[ri].n * ps, MADV_WATCH));
			memcpy(ranges[ri].snap, ranges[ri].p, ranges[ri].n * ps);
		}
		for (k = 0; k < nr_workers; k++) {
			w[k].rng = seed ^ (0x9e3779b97f4a7c15ULL * (round * MAX_THREADS + k + 1));
			w[k].nr_log = 0;
			ASSERT_EQ(0, pthread_create(&thr[k], NULL, worker_main, &w[k]));
		}
		for (k = 0; k < nr_workers; k++)
			pthread_join(thr[k], NULL);
		for (k = 0; k < nr_workers; k++)
			ASSERT_EQ(0, w[k].err[0]) TH_LOG("round %d thread %d: %s (seed %llu)",
							 round, k, w[k].err, seed);

		MMW_READ_EVENTS(&self->t);
		if (!id)
			id = mmw_mm_id_of(&self->t, getpid());
		ASSERT_NE(0, id);
		for (ri = 0; ri < NR_RANGES; ri++) {
			struct range *r = &ranges[ri];
			unsigned char *ch = calloc(r->n, 1), *rep = calloc(r->n, 1);
			char what[64];
			size_t m;

			ASSERT_NE(NULL, ch);
			ASSERT_NE(NULL, rep);
			total_changed += mmw_changed(r->snap, r->p, r->n * ps, ch);
			mmw_reported(&self->t, id, MMW_CHANGE_EVENTS, 0, (unsigned long)r->p,
				     r->n, rep);
			snprintf(what, sizeof(what), "round %d, %s", round, r->name);
			m = mmw_missing(ch, rep, r->n, (unsigned long)r->p, what);
			for (i = 0; m && i < r->n; i++)
				if (ch[i] && !rep[i]) {
					ksft_print_msg("  operations on page %zu of %s:\n", i,
						       r->name);
					print_ops_touching(w, nr_workers, ri, i);
					break;
				}
			missing += m;
			free(ch);
			free(rep);
		}
		ASSERT_EQ(0, missing) TH_LOG("reproduce with MMW_SEED=%llu", seed);
	}
	/* The test must have changed something to mean anything. */
	ASSERT_LT(0, total_changed);
	ksft_print_msg("%d rounds, %zu page changes, all reported\n", rounds, total_changed);
	cleanup(w);
}

#define MARGIN_NS	(20 * 1000 * 1000ULL)

/*
 * An event is stamped when it is reserved and can be read once committed,
 * both with preemption off: after an RCU grace period, every event stamped
 * before it can be read, however long its CPU was held up in between.
 */
static void wait_for_commits(void)
{
	if (syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0))
		usleep(MARGIN_NS / 1000);
}

static bool stop_workers;

static void *precopy_worker(void *arg)
{
	struct worker *w = arg;

	while (!__atomic_load_n(&stop_workers, __ATOMIC_RELAXED) && !w->err[0]) {
		do_op(w);
		/* leave most pages clean in each iteration */
		usleep(200);
	}
	return NULL;
}

static unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* dirty[i] for each page of @r reported by a change event at or after @from_ns */
static size_t dirty_since(struct mmw_trace *t, __u64 id, struct range *r,
			  unsigned long long from_ns, unsigned char *dirty)
{
	unsigned long base = (unsigned long)r->p, limit = base + r->n * ps;
	size_t i, n = 0;

	memset(dirty, 0, r->n);
	for (i = 0; i < t->nr; i++) {
		const struct mmw_event *e = &t->ev[i];
		unsigned long s = e->start, end = e->end;

		if (!(MMW_CHANGE_EVENTS & MMW_BIT(e->type)) || e->mm_id != id ||
		    e->ts_ns < from_ns)
			continue;
		if (e->type == MMW_MOVE) {
			s = e->new_start;
			end = e->new_start + (e->end - e->start);
		}
		if (end <= base || s >= limit)
			continue;
		s = s < base ? base : s;
		end = end > limit ? limit : end;
		for (; s < end; s += ps)
			dirty[(s - base) / ps] = 1;
	}
	for (i = 0; i < r->n; i++)
		n += dirty[i];
	return n;
}

/*
 * The consumer's pre-copy loop of the design, against running writers:
 * re-arm the dirty pages, copy them, collect the pages reported since the
 * re-arm, repeat; then stop the writers, copy what was reported last. The
 * copy must equal the memory: a difference is a change that was missed.
 */
TEST_F_TIMEOUT(random, precopy, 600)
{
	int iters = env_num("MMW_ROUNDS", 6) * 4;
	struct worker w[MAX_THREADS] = {};
	unsigned char *dirty[NR_RANGES];
	unsigned long long from = 0;
	pthread_t thr[MAX_THREADS];
	size_t i, j, total = 0, missing = 0;
	int it, k, ri;
	__u64 id;

	setup(_metadata, self, w);
	/* mprotect() would make the other writers fault: keep the rest */
	op_mask &= ~(1UL << OP_MPROTECT);
	for (ri = 0; ri < NR_RANGES; ri++) {
		dirty[ri] = malloc(ranges[ri].n);
		ASSERT_NE(NULL, dirty[ri]);
		memset(dirty[ri], 1, ranges[ri].n);
		ASSERT_EQ(0, madvise(ranges[ri].p, ranges[ri].n * ps, MADV_WATCH));
	}
	MMW_READ_EVENTS(&self->t);
	id = mmw_mm_id_of(&self->t, getpid());
	ASSERT_NE(0, id);

	for (k = 0; k < nr_workers; k++) {
		w[k].rng = seed ^ (0x9e3779b97f4a7c15ULL * (k + 1));
		ASSERT_EQ(0, pthread_create(&thr[k], NULL, precopy_worker, &w[k]));
	}
	/*
	 * Drains cover contiguous windows of event time: each read takes the
	 * events since the previous read started, with a margin for the
	 * microsecond trace timestamps (extra pages only cost a copy), once
	 * the events stamped before the read started are committed.
	 */
	from = now_ns() - MARGIN_NS;
	for (it = 0; it < iters; it++) {
		unsigned long long drain;

		for (ri = 0; ri < NR_RANGES; ri++) {
			struct range *r = &ranges[ri];

			/* re-arm each run of dirty pages, then copy them */
			for (i = 0; i < r->n; i = j) {
				for (; i < r->n && !dirty[ri][i]; i++)
					;
				for (j = i; j < r->n && dirty[ri][j]; j++)
					;
				if (i < j)
					ASSERT_EQ(0, madvise(r->p + i * ps, (j - i) * ps,
							     MADV_WATCH));
			}
			for (i = 0; i < r->n; i++)
				if (dirty[ri][i])
					memcpy(r->snap + i * ps, r->p + i * ps, ps);
		}
		usleep(20000);
		drain = now_ns();
		wait_for_commits();
		MMW_READ_EVENTS(&self->t);
		for (ri = 0; ri < NR_RANGES; ri++)
			total += dirty_since(&self->t, id, &ranges[ri], from, dirty[ri]);
		from = drain - MARGIN_NS;
	}
	__atomic_store_n(&stop_workers, true, __ATOMIC_RELAXED);
	for (k = 0; k < nr_workers; k++)
		pthread_join(thr[k], NULL);
	for (k = 0; k < nr_workers; k++)
		ASSERT_EQ(0, w[k].err[0]) TH_LOG("thread %d: %s (seed %llu)", k, w[k].err, seed);

	/* final increment: the writers are stopped */
	MMW_READ_EVENTS(&self->t);
	for (ri = 0; ri < NR_RANGES; ri++) {
		struct range *r = &ranges[ri];
		unsigned char *ch = calloc(r->n, 1), *none = calloc(r->n, 1);
		char what[64];

		ASSERT_NE(NULL, ch);
		ASSERT_NE(NULL, none);
		/* the last drain's pages and what was reported after it */
		dirty_since(&self->t, id, r, from, ch);
		for (i = 0; i < r->n; i++)
			if (dirty[ri][i] || ch[i])
				memcpy(r->snap + i * ps, r->p + i * ps, ps);
		mmw_changed(r->snap, r->p, r->n * ps, ch);
		snprintf(what, sizeof(what), "pre-copy of %s", r->name);
		missing += mmw_missing(ch, none, r->n, (unsigned long)r->p, what);
		free(ch);
		free(none);
		free(dirty[ri]);
	}
	ASSERT_EQ(0, missing) TH_LOG("reproduce (op sequences only) with MMW_SEED=%llu", seed);
	ksft_print_msg("%d pre-copy iterations, %zu pages re-copied, copy identical\n",
		       iters, total);
	cleanup(w);
}

TEST_HARNESS_MAIN
