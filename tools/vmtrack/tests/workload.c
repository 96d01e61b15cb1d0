// SPDX-License-Identifier: GPL-2.0-only
/*
 * Workload for the vmtrack end-to-end test: writes a known set of pages of
 * one buffer per phase and records the truth.
 *
 *   workload [-p PAGES] [-n PHASES] [-s | -w] [-z] -t TRUTH
 *
 *   -s	stop itself (SIGSTOP) after the setup and after every phase
 *	(for vmtrack run --sync-stop: one epoch per phase)
 *   -w	wait for SIGUSR1 before every phase and after the last one for
 *	SIGTERM (for vmtrack watch, driven by the test script)
 *   -z	in phase 2, also MADV_DONTNEED some pages (zap: contents change
 *	without a write)
 *
 * Truth file lines (decimal): "B START END" for the buffer, "P PHASE ADDR"
 * for every page changed in a phase, "D PHASE" when a phase is complete.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static FILE *truth;

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

static void wait_signal(int sig)
{
	sigset_t set;
	int got;

	sigemptyset(&set);
	sigaddset(&set, sig);
	if (sigwait(&set, &got))
		fail("sigwait");
}

static void phase_run(volatile char *buf, unsigned long pages, long psz, int phase, int zap)
{
	unsigned long i;

	for (i = 0; i < pages; i++) {
		if (!written(i, phase))
			continue;
		buf[i * psz + (phase % 64)] = (char)phase;
		fprintf(truth, "P %d %lu\n", phase, (unsigned long)(uintptr_t)(buf + i * psz));
	}
	if (zap && phase == 2) {
		for (i = 1; i < pages; i += 7) {
			if (madvise((char *)buf + i * psz, psz, MADV_DONTNEED))
				fail("madvise");
			if (!written(i, phase))
				fprintf(truth, "P %d %lu\n", phase,
					(unsigned long)(uintptr_t)(buf + i * psz));
		}
	}
	fprintf(truth, "D %d\n", phase);
	fflush(truth);
}

int main(int argc, char **argv)
{
	unsigned long pages = 256, i;
	int phases = 3, stop = 0, wait = 0, zap = 0, opt, p;
	const char *path = NULL;
	long psz = sysconf(_SC_PAGESIZE);
	volatile char *buf;
	sigset_t set;

	while ((opt = getopt(argc, argv, "p:n:swzt:")) != -1) {
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
		case 't':
			path = optarg;
			break;
		default:
			fprintf(stderr, "usage: workload [-p PAGES] [-n PHASES] [-s|-w] [-z] -t TRUTH\n");
			return 2;
		}
	}
	if (!path || !pages)
		return 2;
	/* signals waited for are blocked first, so none is lost */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	if (wait)
		sigprocmask(SIG_BLOCK, &set, NULL);
	truth = fopen(path, "w");
	if (!truth)
		fail(path);
	buf = mmap(NULL, pages * psz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		fail("mmap");
	/* 4 KiB granularity: no THP in the truth */
	madvise((void *)buf, pages * psz, MADV_NOHUGEPAGE);
	for (i = 0; i < pages; i++)
		buf[i * psz] = 1;
	fprintf(truth, "B %lu %lu\n", (unsigned long)(uintptr_t)buf,
		(unsigned long)(uintptr_t)(buf + pages * psz));
	fflush(truth);
	if (stop)
		raise(SIGSTOP);
	for (p = 1; p <= phases; p++) {
		if (wait)
			wait_signal(SIGUSR1);
		phase_run(buf, pages, psz, p, zap);
		if (stop)
			raise(SIGSTOP);
	}
	if (wait)
		wait_signal(SIGTERM);
	fclose(truth);
	return 0;
}
