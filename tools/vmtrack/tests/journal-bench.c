// SPDX-License-Identifier: GPL-2.0-only
/*
 * The cost of an epoch's output: N epochs through the journal writer
 * (--journal, --journal-ranges) against the text line and the JSON line of
 * the live output, all to /dev/null. The epoch is that of the epoch
 * benchmark at 0.1 % dirty of 1 GiB (bench/README.md): 262 dirty pages,
 * each its own range, in one of 16 tracked mappings.
 *
 *   tests/journal-bench [EPOCHS]
 *
 * Prints nanoseconds per epoch for each way, the fastest of five runs (the
 * host may be busy).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vmtrack-cmd.h"
#include "journal.h"

#define DIRTY_RANGES	262
#define PAGE		4096UL
#define BASE		0x7f0000000000ULL

static struct iovec dirty[DIRTY_RANGES];
static struct out_range busy = { BASE, BASE + (1ULL << 30), 262144, DIRTY_RANGES, 0, "" };
static struct vmtrack_epoch ep;
static struct out_epoch_info info;

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void setup(void)
{
	size_t i;

	for (i = 0; i < DIRTY_RANGES; i++) {
		dirty[i].iov_base = (void *)(uintptr_t)(BASE + i * 1000 * PAGE);
		dirty[i].iov_len = PAGE;
	}
	ep = (struct vmtrack_epoch){
		.events = DIRTY_RANGES * 2, .dirty_pages = DIRTY_RANGES,
		.watched_pages = 262144 + 4000, .dirty = dirty, .nr_dirty = DIRTY_RANGES,
	};
	info = (struct out_epoch_info){
		.ep = &ep, .duration = 0.1, .nr_tracked = 16, .busiest = busy, .ranges = &busy,
		.nr_ranges = 1, .has_ranges = true,
	};
}

static void next_epoch(unsigned long i)
{
	ep.seq = i + 1;
	info.time = 0.1 * (i + 1);
}

static double bench_journal(unsigned long n, unsigned int flags, const char *path)
{
	struct journal *j;
	char err[256];
	unsigned long i;
	double t0, t;

	j = journal_open(path, flags, err, sizeof(err));
	if (!j) {
		fprintf(stderr, "journal-bench: %s\n", err);
		exit(EXIT_FAILURE);
	}
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		next_epoch(i);
		journal_epoch(j, &info);
	}
	journal_flush(j);
	t = now_ns() - t0;
	journal_close(j, 0, err, sizeof(err));
	return t / n;
}

/* the live output prints each epoch and flushes it (out_epoch()) */
static double bench_print(unsigned long n, bool json, bool flush)
{
	FILE *f = fopen("/dev/null", "w");
	unsigned long i;
	double t0, t;

	if (!f)
		exit(EXIT_FAILURE);
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		next_epoch(i);
		if (json)
			out_epoch_json(f, &info);
		else
			out_epoch_text(f, &info, false, PAGE);
		if (flush)
			fflush(f);
	}
	fflush(f);
	t = now_ns() - t0;
	fclose(f);
	return t / n;
}

#define RUNS	5

static double best_journal(unsigned long n, unsigned int flags)
{
	double best = 0, t;
	int k;

	for (k = 0; k < RUNS; k++) {
		t = bench_journal(n, flags, "/dev/null");
		best = !k || t < best ? t : best;
	}
	return best;
}

static double best_print(unsigned long n, bool json, bool flush)
{
	double best = 0, t;
	int k;

	for (k = 0; k < RUNS; k++) {
		t = bench_print(n, json, flush);
		best = !k || t < best ? t : best;
	}
	return best;
}

int main(int argc, char **argv)
{
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
	/* records per epoch with --journal-ranges: epoch, one mapping, one dirty */
	const double ranges_records = 3;

	if (!n)
		n = 1;
	setup();
	printf("# %lu epochs of %d dirty ranges in 1 of 16 mappings, to /dev/null\n", n,
	       DIRTY_RANGES);
	printf("journal                       %8.0f ns/epoch (1 record)\n",
	       best_journal(n, 0));
	printf("journal --journal-ranges      %8.0f ns/epoch (%.0f records, %d ranges)\n",
	       best_journal(n, JOURNAL_RANGES), ranges_records, DIRTY_RANGES);
	printf("text line                     %8.0f ns/epoch\n", best_print(n, false, false));
	printf("text line, flushed            %8.0f ns/epoch\n", best_print(n, false, true));
	printf("JSON line                     %8.0f ns/epoch (%d ranges)\n",
	       best_print(n, true, false), DIRTY_RANGES);
	printf("JSON line, flushed            %8.0f ns/epoch\n", best_print(n, true, true));
	return 0;
}
