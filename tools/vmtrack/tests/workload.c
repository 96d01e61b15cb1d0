// SPDX-License-Identifier: GPL-2.0-only
/*
 * Workload for the vmtrack end-to-end test: writes a known set of pages of
 * one buffer per phase and records the truth.
 *
 *   workload [-p PAGES] [-n PHASES] [-s | -w | -d SECONDS] [-z] [-m] [-f] -t TRUTH
 *   workload --demo [-t TRUTH]
 *
 *   -s	stop itself (SIGSTOP) after the setup and after every phase
 *	(for vmtrack run --sync-stop: one epoch per phase)
 *   -w	wait for SIGUSR1 before every phase and after the last one for
 *	SIGTERM (for vmtrack watch, driven by the test script)
 *   -d	sleep SECONDS before every phase (runs on by itself, between epochs)
 *   -z	in phase 2, also MADV_DONTNEED some pages (zap: contents change
 *	without a write)
 *   -m	a buffer aligned to 2 MiB, whose first 2 MiB are written only at
 *	the setup: at the end of phase 2 they move over the last 2 MiB
 *	(mremap() of a whole page table, not written since armed, to
 *	another PMD); the truth lists every page there. PAGES: a multiple
 *	of 2 MiB, 4 MiB at least
 *   -f	fork after the setup: the child runs the phases too, on the buffer it
 *	inherited, writing other pages, and records them in TRUTH.child; the
 *	parent waits for it at the end (for vmtrack --follow)
 *   --demo	for "make demo" (vmtrack run -i 1 -- workload --demo): a 4 MiB
 *	buffer, then four phases 1 s apart, half a second into each of
 *	vmtrack's epochs, each telling on stdout what it changes
 *
 * With -w, SIGTERM ends the program whenever it comes.
 *
 * Truth file lines (decimal): "B START END" for the buffer, "I PID" for the
 * process, "P PHASE ADDR" for every page changed in a phase, "D PHASE" when
 * a phase is complete.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MOVE_SIZE	(2UL << 20)

static FILE *truth;
static unsigned long move_pages;	/* -m: the first pages, moved in phase 2 */

static void fail(const char *what)
{
	perror(what);
	exit(2);
}

/* deterministic, different per phase: about one page in three */
static int written(unsigned long page, int phase)
{
	uint32_t h = (uint32_t)page * 2654435761u ^ (uint32_t)phase * 40503u;

	h ^= h >> 13;
	return h % 3 == 0;
}

/* wait for @sig; SIGTERM (blocked as well) ends the program at any time */
static void wait_signal(int sig)
{
	sigset_t set;
	int got;

	sigemptyset(&set);
	sigaddset(&set, sig);
	sigaddset(&set, SIGTERM);
	if (sigwait(&set, &got))
		fail("sigwait");
	if (got == SIGTERM && sig != SIGTERM) {
		fclose(truth);
		exit(0);
	}
}

/* -m: the first 2 MiB of the buffer replace its last 2 MiB */
static void move_over(char *buf, unsigned long pages, long psz, int phase)
{
	char *dst = buf + (pages - move_pages) * psz;
	unsigned long i;

	if (mremap(buf, MOVE_SIZE, MOVE_SIZE, MREMAP_MAYMOVE | MREMAP_FIXED, dst) != dst)
		fail("mremap");
	for (i = 0; i < move_pages; i++)
		fprintf(truth, "P %d %lu\n", phase, (unsigned long)(uintptr_t)(dst + i * psz));
}

/* @len bytes at a 2 MiB boundary */
static void *map_aligned(size_t len)
{
	char *p = mmap(NULL, len + MOVE_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t head;

	if (p == MAP_FAILED)
		return p;
	head = -(uintptr_t)p & (MOVE_SIZE - 1);
	if (head)
		munmap(p, head);
	munmap(p + head + len, MOVE_SIZE - head);
	return p + head;
}

static void phase_run(volatile char *buf, unsigned long pages, long psz, int phase, int zap,
		      int seed)
{
	unsigned long i;

	for (i = move_pages; i < pages; i++) {
		if (!written(i, phase + seed))
			continue;
		buf[i * psz + (phase % 64)] = (char)phase;
		fprintf(truth, "P %d %lu\n", phase, (unsigned long)(uintptr_t)(buf + i * psz));
	}
	if (zap && phase == 2) {
		for (i = move_pages + 1; i < pages; i += 7) {
			if (madvise((char *)buf + i * psz, psz, MADV_DONTNEED))
				fail("madvise");
			if (!written(i, phase))
				fprintf(truth, "P %d %lu\n", phase,
					(unsigned long)(uintptr_t)(buf + i * psz));
		}
	}
	if (move_pages && phase == 2)
		move_over((char *)buf, pages, psz, phase);
	fprintf(truth, "D %d\n", phase);
	fflush(truth);
}

static void sleep_until(const struct timespec *t0, double at)
{
	struct timespec ts = *t0;

	ts.tv_sec += (time_t)at;
	ts.tv_nsec += (long)((at - (time_t)at) * 1e9);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL))
		;
}

static void demo_write(volatile char *buf, long psz, unsigned long first,
		       unsigned long count, unsigned long step, int phase)
{
	unsigned long i;

	for (i = 0; i < count; i++) {
		unsigned long pg = first + i * step;

		buf[pg * psz + 8] = (char)phase;
		if (truth)
			fprintf(truth, "P %d %lu\n", phase,
				(unsigned long)(uintptr_t)(buf + pg * psz));
	}
}

static void demo_say(int phase, const char *what)
{
	printf("  workload, phase %d: %s\n", phase, what);
	fflush(stdout);
	if (truth) {
		fprintf(truth, "D %d\n", phase);
		fflush(truth);
	}
}

/*
 * vmtrack run starts its epochs when the command starts: phase N comes at
 * N + 0.5 s, in the middle of epoch N + 1, so each epoch shows one phase.
 */
static int demo(const char *path)
{
	const unsigned long pages = 1024;
	long psz = sysconf(_SC_PAGESIZE);
	volatile char *buf;
	struct timespec t0;
	char line[160];
	unsigned long i;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (path) {
		truth = fopen(path, "w");
		if (!truth)
			fail(path);
	}
	buf = mmap(NULL, pages * psz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		fail("mmap");
	madvise((void *)buf, pages * psz, MADV_NOHUGEPAGE);
	for (i = 0; i < pages; i++)
		buf[i * psz] = 1;
	if (truth)
		fprintf(truth, "B %lu %lu\n", (unsigned long)(uintptr_t)buf,
			(unsigned long)(uintptr_t)(buf + pages * psz));
	snprintf(line, sizeof(line), "mapped and filled a %lu-page buffer at %p "
		 "(a new mapping: all of it is dirty)", pages, (void *)buf);
	demo_say(0, line);

	sleep_until(&t0, 1.5);
	demo_write(buf, psz, 0, 64, 1, 1);
	demo_say(1, "wrote 64 pages (buffer pages 0-63)");

	sleep_until(&t0, 2.5);
	demo_write(buf, psz, 0, 256, 4, 2);
	demo_say(2, "wrote 256 pages (every 4th page of the buffer)");

	sleep_until(&t0, 3.5);
	demo_write(buf, psz, 0, 64, 1, 3);
	demo_say(3, "wrote the same 64 pages as in phase 1 again");

	sleep_until(&t0, 4.5);
	if (madvise((char *)buf + 512 * psz, 32 * psz, MADV_DONTNEED))
		fail("madvise");
	if (truth)
		for (i = 512; i < 512 + 32; i++)
			fprintf(truth, "P 4 %lu\n", (unsigned long)(uintptr_t)(buf + i * psz));
	demo_say(4, "discarded 32 pages with MADV_DONTNEED (changed without a write)");

	sleep_until(&t0, 5.5);
	demo_say(5, "wrote nothing; exiting");
	if (truth)
		fclose(truth);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long pages = 256, i;
	int phases = 3, stop = 0, wait = 0, zap = 0, move = 0, forks = 0, seed = 0, opt, p;
	const char *path = NULL;
	struct timespec delay = { 0 };
	char child_path[4096];
	pid_t child = 0;
	double d;
	long psz = sysconf(_SC_PAGESIZE);
	volatile char *buf;
	sigset_t set;

	if (argc > 1 && !strcmp(argv[1], "--demo")) {
		if (argc == 4 && !strcmp(argv[2], "-t"))
			return demo(argv[3]);
		return demo(NULL);
	}
	while ((opt = getopt(argc, argv, "p:n:swzmt:d:f")) != -1) {
		switch (opt) {
		case 'p':
			pages = strtoul(optarg, NULL, 0);
			break;
		case 'n':
			phases = atoi(optarg);
			break;
		case 's':
			stop = 1;
			break;
		case 'w':
			wait = 1;
			break;
		case 'z':
			zap = 1;
			break;
		case 'm':
			move = 1;
			break;
		case 'd':
			d = strtod(optarg, NULL);
			delay.tv_sec = (time_t)d;
			delay.tv_nsec = (long)((d - (time_t)d) * 1e9);
			break;
		case 'f':
			forks = 1;
			break;
		case 't':
			path = optarg;
			break;
		default:
			fprintf(stderr, "usage: workload [-p PAGES] [-n PHASES] [-s|-w|-d SECONDS] "
				"[-z] [-m] [-f] -t TRUTH\n"
				"       workload --demo [-t TRUTH]\n");
			return 2;
		}
	}
	if (!path || !pages)
		return 2;
	if (move) {
		move_pages = MOVE_SIZE / psz;
		if (pages % move_pages || pages < 2 * move_pages) {
			fprintf(stderr, "workload: -m needs a multiple of 2 MiB, 4 MiB at least\n");
			return 2;
		}
	}
	/* signals waited for are blocked first, so none is lost */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	if (wait)
		sigprocmask(SIG_BLOCK, &set, NULL);
	truth = fopen(path, "w");
	if (!truth)
		fail(path);
	if (move)
		buf = map_aligned(pages * psz);
	else
		buf = mmap(NULL, pages * psz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			   -1, 0);
	if (buf == MAP_FAILED)
		fail("mmap");
	/* 4 KiB granularity: no THP in the truth */
	madvise((void *)buf, pages * psz, MADV_NOHUGEPAGE);
	for (i = 0; i < pages; i++)
		buf[i * psz] = 1;
	fprintf(truth, "B %lu %lu\nI %d\n", (unsigned long)(uintptr_t)buf,
		(unsigned long)(uintptr_t)(buf + pages * psz), (int)getpid());
	fflush(truth);
	if (forks) {
		snprintf(child_path, sizeof(child_path), "%s.child", path);
		child = fork();
		if (child < 0)
			fail("fork");
		if (!child) {
			fclose(truth);
			truth = fopen(child_path, "w");
			if (!truth)
				fail(child_path);
			fprintf(truth, "B %lu %lu\nI %d\n", (unsigned long)(uintptr_t)buf,
				(unsigned long)(uintptr_t)(buf + pages * psz), (int)getpid());
			seed = 100;	/* other pages than the parent's */
		}
	}
	if (stop)
		raise(SIGSTOP);
	for (p = 1; p <= phases; p++) {
		if (wait)
			wait_signal(SIGUSR1);
		if (delay.tv_sec || delay.tv_nsec)
			nanosleep(&delay, NULL);
		phase_run(buf, pages, psz, p, zap, seed);
		if (stop)
			raise(SIGSTOP);
	}
	if (wait)
		wait_signal(SIGTERM);
	fclose(truth);
	if (child > 0 && waitpid(child, &p, 0) == child && (!WIFEXITED(p) || WEXITSTATUS(p)))
		return 1;
	return 0;
}
