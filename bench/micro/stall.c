// SPDX-License-Identifier: GPL-2.0
/*
 * stall: how long a re-arm holds up the target's own writes. A re-arm of
 * watched pages takes the mmap lock for writing and write-locks the VMA;
 * uffd-wp's re-protect and WP_ASYNC's PAGEMAP_SCAN take it for reading. A
 * thread of the target that writes to an armed page of the same VMA while
 * the re-arm runs waits for it.
 *
 *   stall MIB STRIDE REPS [watch|uffd-wp|scan-watch|scan-uffd]
 *
 * Watches MIB MiB of its own anonymous memory (or registers it for
 * WP_ASYNC write-protection). The lower 7/8 hold the dirty set: every
 * STRIDE-th page, written before each repetition. The upper 1/8 are the
 * probe pages: a writer thread pinned to CPU 1 writes them one after the
 * other, each a first write that faults, and times every write, while the
 * re-arm runs on CPU 0 (process_madvise(MADV_WATCH) in calls of 1024
 * ranges, one UFFDIO_WRITEPROTECT per range, or PAGEMAP_SCAN with
 * PM_SCAN_WP_MATCHING over the whole region, 512 regions a call, as
 * libvmtrack's dense epochs). Then it times the same number of writes
 * with no re-arm running, for reference. Prints per repetition the re-arm
 * time and the writer's longest write during it and alone, in ms, then
 * the medians.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#include "micro.h"

#define SCAN_VEC	512

struct target {
	char		*base;
	size_t		len;
	size_t		psz;
	char		*probe;		/* first probe page */
	size_t		nr_probe;
	size_t		next_probe;
	struct iovec	*iov;		/* the dirty set */
	size_t		nr_iov;
	enum mode	mode;
	int		fd;		/* pidfd or userfaultfd */
	int		pagemap;
	/* the writer's rounds: started by the main thread, done by the writer */
	unsigned int	round;
	unsigned int	done;
	int		stop;		/* ends a round that runs beside a re-arm */
	int		quit;
	size_t		budget;		/* writes of a round alone, 0: until stop */
	double		worst_ms;
	size_t		writes;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static int arm_all(struct target *t)
{
	struct iovec all = { .iov_base = t->base, .iov_len = t->len };

	if (t->mode == UFFD_WP || t->mode == SCAN_UFFD) {
		t->fd = uffd_open(t->base, t->len);
		return t->fd < 0;
	}
	t->fd = syscall(SYS_pidfd_open, getpid(), 0);
	return t->fd < 0 ||
	       syscall(SYS_process_madvise, t->fd, &all, 1, MADV_WATCH, 0) < 0;
}

/* PAGEMAP_SCAN over the whole region: find the written pages, re-arm them */
static int scan_rearm(struct target *t)
{
	static struct page_region vec[SCAN_VEC];
	struct pm_scan_arg arg = {
		.size = sizeof(arg),
		.flags = PM_SCAN_WP_MATCHING,
		.start = (unsigned long)t->base,
		.end = (unsigned long)t->base + t->len,
		.vec = (unsigned long)vec,
		.vec_len = SCAN_VEC,
		.category_mask = scan_categories(t->mode),
		.return_mask = PAGE_IS_WRITTEN,
	};

	while (arg.start < arg.end) {
		if (ioctl(t->pagemap, PAGEMAP_SCAN, &arg) < 0 || arg.walk_end <= arg.start)
			return -1;
		arg.start = arg.walk_end;
	}
	return 0;
}

static int rearm(struct target *t)
{
	switch (t->mode) {
	case WATCH:
		return madvise_rearm(t->fd, t->iov, t->nr_iov);
	case UFFD_WP:
		return uffd_rearm(t->fd, t->iov, t->nr_iov);
	default:
		return scan_rearm(t);
	}
}

/* the probe pages written so far armed again, outside any measurement */
static int rearm_probes(struct target *t)
{
	struct iovec probes = { .iov_base = t->probe, .iov_len = t->nr_probe * t->psz };

	t->next_probe = 0;
	if (t->mode == UFFD_WP || t->mode == SCAN_UFFD)
		return uffd_protect(t->fd, t->probe, probes.iov_len);
	return madvise_rearm(t->fd, &probes, 1);
}

static void *writer(void *arg)
{
	struct target *t = arg;
	unsigned int seen = 0, cur;

	pin(1);
	for (;;) {
		double worst = 0, t0, dt;
		size_t n = 0;

		while ((cur = __atomic_load_n(&t->round, __ATOMIC_ACQUIRE)) == seen)
			if (__atomic_load_n(&t->quit, __ATOMIC_ACQUIRE))
				return NULL;
		seen = cur;
		while (t->next_probe < t->nr_probe) {
			if (t->budget ? n == t->budget :
			    __atomic_load_n(&t->stop, __ATOMIC_ACQUIRE))
				break;
			t0 = now_ms();
			((volatile char *)t->probe)[t->next_probe++ * t->psz]++;
			dt = now_ms() - t0;
			if (dt > worst)
				worst = dt;
			n++;
		}
		t->worst_ms = worst;
		t->writes = n;
		__atomic_store_n(&t->done, seen, __ATOMIC_RELEASE);
	}
}

/* start a round of the writer: @budget writes, or until t->stop if 0 */
static void start_round(struct target *t, size_t budget)
{
	t->budget = budget;
	__atomic_store_n(&t->stop, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&t->round, t->round + 1, __ATOMIC_RELEASE);
}

static void end_round(struct target *t)
{
	__atomic_store_n(&t->stop, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&t->done, __ATOMIC_ACQUIRE) != t->round)
		;
}

static int setup(struct target *t, size_t mib, size_t stride)
{
	size_t pages, lower, i;

	t->psz = sysconf(_SC_PAGESIZE);
	pages = (mib << 20) / t->psz;
	t->len = pages * t->psz;
	lower = pages - pages / 8;
	t->base = mmap(NULL, t->len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	t->iov = calloc(lower / stride + 1, sizeof(*t->iov));
	if (t->base == MAP_FAILED || !t->iov)
		return -1;
	madvise(t->base, t->len, MADV_NOHUGEPAGE);
	memset(t->base, 1, t->len);
	for (i = 0; i < lower; i += stride) {
		t->iov[t->nr_iov].iov_base = t->base + i * t->psz;
		t->iov[t->nr_iov].iov_len = t->psz;
		t->nr_iov++;
	}
	t->probe = t->base + lower * t->psz;
	t->nr_probe = pages - lower;
	if (arm_all(t))
		return -1;
	if (t->mode == SCAN_WATCH || t->mode == SCAN_UFFD) {
		t->pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
		if (t->pagemap < 0)
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct target t = { .pagemap = -1 };
	double *rearm_ms, *busy_ms, *idle_ms;
	size_t mib, stride, i, busy_writes = 0;
	pthread_t th;
	int reps, r;

	if (argc < 4) {
		fprintf(stderr,
			"usage: stall MIB STRIDE REPS [watch|uffd-wp|scan-watch|scan-uffd]\n");
		return 2;
	}
	if (parse_mode("stall", argc, argv, &t.mode))
		return 2;
	mib = strtoul(argv[1], NULL, 0);
	stride = strtoul(argv[2], NULL, 0) ?: 1;
	reps = atoi(argv[3]);
	rearm_ms = calloc(reps > 0 ? reps : 1, sizeof(double));
	busy_ms = calloc(reps > 0 ? reps : 1, sizeof(double));
	idle_ms = calloc(reps > 0 ? reps : 1, sizeof(double));
	if (!rearm_ms || !busy_ms || !idle_ms || reps < 1 || mib < 8) {
		fprintf(stderr, "stall: out of memory or bad arguments\n");
		return 2;
	}
	pin(0);
	if (setup(&t, mib, stride)) {
		perror("stall: setup");
		return 1;
	}
	if (pthread_create(&th, NULL, writer, &t)) {
		fprintf(stderr, "stall: cannot start the writer\n");
		return 1;
	}
	/* the first scan finds every page written since the mark: not measured */
	if ((t.mode == SCAN_WATCH || t.mode == SCAN_UFFD) && scan_rearm(&t)) {
		perror("stall: PAGEMAP_SCAN");
		return 1;
	}
	for (r = 0; r < reps; r++) {
		double t0;

		if (rearm_probes(&t)) {
			perror("stall: re-arm of the probe pages");
			return 1;
		}
		for (i = 0; i < t.nr_iov; i++)
			((volatile char *)t.iov[i].iov_base)[0]++;
		start_round(&t, 0);
		t0 = now_ms();
		if (rearm(&t)) {
			perror(mode_names[t.mode]);
			return 1;
		}
		rearm_ms[r] = now_ms() - t0;
		end_round(&t);
		busy_ms[r] = t.worst_ms;
		busy_writes += t.writes;

		/* as many writes again, with nothing else running */
		start_round(&t, t.writes ?: 1);
		end_round(&t);
		idle_ms[r] = t.worst_ms;
		printf("stall %zu MiB, %zu ranges, %s, rep %d: re-arm ms %.3f, longest write ms "
		       "%.3f during it, %.3f alone\n", mib, t.nr_iov, mode_names[t.mode], r,
		       rearm_ms[r], busy_ms[r], idle_ms[r]);
	}
	__atomic_store_n(&t.quit, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	qsort(rearm_ms, reps, sizeof(double), cmp_double);
	qsort(busy_ms, reps, sizeof(double), cmp_double);
	qsort(idle_ms, reps, sizeof(double), cmp_double);
	printf("stall %zu MiB, %zu ranges, %s: re-arm ms median %.3f; longest write ms "
	       "median %.3f max %.3f during it (%zu writes), median %.3f alone\n",
	       mib, t.nr_iov, mode_names[t.mode], rearm_ms[reps / 2], busy_ms[reps / 2],
	       busy_ms[reps - 1], busy_writes, idle_ms[reps / 2]);
	return 0;
}
