// SPDX-License-Identifier: GPL-2.0
/*
 * rate-writer: the workload of bench/dump-precopy.sh. One anonymous private
 * mapping, every page written once (so that a dump copies all of it), then
 * one 8-byte counter per written page bumped at random pages, at a given
 * number of page writes per second, until killed.
 *
 *   rate-writer -m MIB -r PAGES_PER_S [-s SEED]
 *
 * The writes come in 5 ms batches sized from the time since the last one,
 * capped at 50 ms: a writer that was frozen for a dump does not catch up
 * in a burst afterwards. Random pages over the whole mapping: the dirty set
 * of an interval of t seconds is N(1 - exp(-r t / N)) pages.
 *
 * Prints "ready" once the mapping is written, then once a second
 * "t=SECONDS writes=TOTAL" (CLOCK_MONOTONIC): the rate it achieved.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define BATCH_NS	5000000ULL
#define MAX_GAP_NS	50000000ULL

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = ns / 1000000000ULL, .tv_nsec = ns % 1000000000ULL };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void usage(void)
{
	fprintf(stderr, "usage: rate-writer -m MIB -r PAGES_PER_S [-s SEED]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned long mib = 0, rate = 0, seed = 1;
	uint64_t s, last, report, writes = 0, t0;
	size_t psz = sysconf(_SC_PAGESIZE), pages, i;
	double carry = 0;
	char *base;
	int c;

	while ((c = getopt(argc, argv, "m:r:s:")) != -1) {
		switch (c) {
		case 'm':
			mib = strtoul(optarg, NULL, 0);
			break;
		case 'r':
			rate = strtoul(optarg, NULL, 0);
			break;
		case 's':
			seed = strtoul(optarg, NULL, 0);
			break;
		default:
			usage();
		}
	}
	if (!mib)
		usage();
	pages = mib * 1048576 / psz;
	base = mmap(NULL, pages * psz, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED) {
		perror("rate-writer: mmap");
		return 1;
	}
	/* 4 KiB pages for every mechanism alike */
	madvise(base, pages * psz, MADV_NOHUGEPAGE);
	s = seed * 0x9e3779b97f4a7c15ULL | 1;
	for (i = 0; i < pages; i++)
		*(uint64_t *)(base + i * psz) = xorshift(&s);
	printf("ready %zu pages\n", pages);
	fflush(stdout);

	t0 = last = report = now_ns();
	for (;;) {
		uint64_t t = now_ns(), gap = t - last, n;

		last = t;
		if (gap > MAX_GAP_NS)
			gap = MAX_GAP_NS;
		carry += (double)rate * gap / 1e9;
		n = carry;
		carry -= n;
		while (n--) {
			(*(uint64_t *)(base + xorshift(&s) % pages * psz))++;
			writes++;
		}
		if (t - report >= 1000000000ULL) {
			report = t;
			printf("t=%.3f writes=%llu\n", (t - t0) / 1e9,
			       (unsigned long long)writes);
			fflush(stdout);
		}
		if (!rate) {
			sleep_ns(1000000000ULL);
			continue;
		}
		t = now_ns() - t;
		if (t < BATCH_NS)
			sleep_ns(BATCH_NS - t);
	}
}
