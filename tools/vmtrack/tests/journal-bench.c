// SPDX-License-Identifier: GPL-2.0-only
/*
 * The cost of --journal on the hot path, against printing the same
 * information as the live text and JSON output: per epoch, per epoch with
 * a loss and new mappings (the loss and rescan events), per freeze, per
 * iteration and per convergence check of vmtrack dump. The epoch is that
 * of the epoch benchmark at 0.1 % dirty of 1 GiB (bench/README.md): 262
 * dirty pages, each its own range, in one of 16 tracked mappings.
 *
 *   tests/journal-bench [-n EPOCHS] [-d DIR]
 *
 * Everything is written to files in DIR (default $TMPDIR or /tmp), as a
 * run writes its journal and its output; the files are emptied every
 * CHUNK operations, outside the timing, so that a long run stays small.
 * Prints one line per case: its name, nanoseconds per operation (the
 * fastest of RUNS runs: the host may be busy) and what it is. The names
 * are what bench/journal-cost.sh reads.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmtrack-cmd.h"
#include "journal.h"

#define DIRTY_RANGES	262
#define PAGE		4096UL
#define BASE		0x7f0000000000ULL
#define RUNS		5
#define CHUNK		1000

static struct iovec dirty[DIRTY_RANGES];
static struct out_range busy = { BASE, BASE + (1ULL << 30), 262144, DIRTY_RANGES, 0, "" };
static struct vmtrack_epoch ep, ep_loss;
static struct out_epoch_info info, info_loss;
static struct dump_iter_info iter = {
	.iter = 2, .dirty = DIRTY_RANGES, .pages = DIRTY_RANGES, .holes = 262144 - DIRTY_RANGES,
	.seconds = 0.004, .bandwidth = 2.7e8, .stop = "no",
};

/* where a case writes: a journal or a stdio stream, on a file in the directory */
struct sink {
	char		path[4096];
	struct journal	*j;
	FILE		*f;
};

struct bench_case {
	const char	*name;
	const char	*what;
	bool		journal;	/* else text or JSON to a stream */
	unsigned int	flags;		/* journal_open() flags */
	void		(*op)(struct sink *s, unsigned long i);
};

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
	/* events were lost and a rescan found new mappings: all pages dirty */
	ep_loss = ep;
	ep_loss.all_dirty = true;
	ep_loss.loss = VMTRACK_LOSS_EVENTS;
	ep_loss.lost_events = 1234;
	ep_loss.new_pages = 16;
	ep_loss.dirty_pages = ep.watched_pages;
	info_loss = info;
	info_loss.ep = &ep_loss;
}

static void next_epoch(unsigned long i)
{
	ep.seq = ep_loss.seq = i + 1;
	info.time = info_loss.time = 0.1 * (i + 1);
}

static void epoch_journal(struct sink *s, unsigned long i)
{
	next_epoch(i);
	journal_epoch(s->j, &info);
}

static void epoch_journal_flushed(struct sink *s, unsigned long i)
{
	epoch_journal(s, i);
	journal_flush(s->j);
}

static void epoch_text(struct sink *s, unsigned long i)
{
	next_epoch(i);
	out_epoch_text(s->f, &info, false, PAGE);
}

static void epoch_text_flushed(struct sink *s, unsigned long i)
{
	epoch_text(s, i);
	fflush(s->f);
}

static void epoch_json(struct sink *s, unsigned long i)
{
	next_epoch(i);
	out_epoch_json(s->f, &info);
}

static void epoch_json_flushed(struct sink *s, unsigned long i)
{
	epoch_json(s, i);
	fflush(s->f);
}

static void loss_journal(struct sink *s, unsigned long i)
{
	next_epoch(i);
	journal_epoch(s->j, &info_loss);
}

static void loss_text_flushed(struct sink *s, unsigned long i)
{
	next_epoch(i);
	out_epoch_text(s->f, &info_loss, false, PAGE);
	fflush(s->f);
}

static void loss_json_flushed(struct sink *s, unsigned long i)
{
	next_epoch(i);
	out_epoch_json(s->f, &info_loss);
	fflush(s->f);
}

static void freeze_journal(struct sink *s, unsigned long i)
{
	journal_freeze(s->j, i, 12.5);
}

static void iter_journal(struct sink *s, unsigned long i)
{
	iter.iter = i + 1;
	journal_dump_iter(s->j, &iter);
}

static void iter_print(struct sink *s, unsigned long i, bool json)
{
	iter.iter = i + 1;
	dump_print_iter(s->f, json, "/var/tmp/dump", PAGE, &iter);
	fflush(s->f);
}

static void iter_text_flushed(struct sink *s, unsigned long i)
{
	iter_print(s, i, false);
}

static void iter_json_flushed(struct sink *s, unsigned long i)
{
	iter_print(s, i, true);
}

static void pending_journal(struct sink *s, unsigned long i)
{
	journal_dump_pending(s->j, DIRTY_RANGES, 1.25, "");
}

static void pending_text_flushed(struct sink *s, unsigned long i)
{
	dump_print_pending(s->f, DIRTY_RANGES, 1.25, "");
	fflush(s->f);
}

static const struct bench_case cases[] = {
	{ "epoch.journal", "1 record; written out when the buffer fills or a second after "
	  "the last write", true, 0, epoch_journal },
	{ "epoch.journal.flushed", "1 record and a write() per epoch (epochs a second or "
	  "more apart)", true, 0, epoch_journal_flushed },
	{ "epoch.journal.ranges", "3 records, 262 ranges (--journal-ranges)", true,
	  JOURNAL_RANGES, epoch_journal },
	{ "epoch.text", "the text line, not flushed", false, 0, epoch_text },
	{ "epoch.text.flushed", "the text line, flushed as vmtrack run does", false, 0,
	  epoch_text_flushed },
	{ "epoch.json", "the JSON line with its 262 ranges, not flushed", false, 0,
	  epoch_json },
	{ "epoch.json.flushed", "the JSON line, flushed as vmtrack run -j does", false, 0,
	  epoch_json_flushed },
	{ "loss_epoch.journal", "epoch, loss and rescan records", true, 0, loss_journal },
	{ "loss_epoch.text.flushed", "its text line (LOSS, new mappings), flushed", false, 0,
	  loss_text_flushed },
	{ "loss_epoch.json.flushed", "its JSON line, flushed", false, 0, loss_json_flushed },
	{ "freeze.journal", "1 record (watch and run print no line for it)", true, 0,
	  freeze_journal },
	{ "dump_iter.journal", "1 record and its write() (every iteration is written out)",
	  true, 0, iter_journal },
	{ "dump_iter.text.flushed", "its text line, flushed as vmtrack dump does", false, 0,
	  iter_text_flushed },
	{ "dump_iter.json.flushed", "its JSON line, flushed", false, 0, iter_json_flushed },
	{ "dump_pending.journal", "1 record", true, 0, pending_journal },
	{ "dump_pending.text.flushed", "its text line, flushed", false, 0,
	  pending_text_flushed },
};

static int sink_open(struct sink *s, const struct bench_case *c)
{
	char err[256];

	if (!c->journal) {
		s->f = fopen(s->path, "w");
		if (!s->f)
			perror(s->path);
		return s->f ? 0 : -1;
	}
	s->j = journal_open(s->path, c->flags, err, sizeof(err));
	if (!s->j) {
		fprintf(stderr, "journal-bench: %s\n", err);
		return -1;
	}
	journal_target(s->j, "run", getpid(), NULL);
	journal_start(s->j, 100, 16, ep.watched_pages, 512);
	return 0;
}

static int sink_close(struct sink *s)
{
	char err[512];
	int ret = 0;

	if (s->j && journal_close(s->j, 0, err, sizeof(err))) {
		fprintf(stderr, "journal-bench: %s\n", err);
		ret = -1;
	}
	if (s->f && fclose(s->f)) {
		perror(s->path);
		ret = -1;
	}
	s->j = NULL;
	s->f = NULL;
	unlink(s->path);
	return ret;
}

/* one run of @n operations; Return: ns per operation, < 0 on error */
static double run_once(const struct bench_case *c, struct sink *s, unsigned long n)
{
	unsigned long i, k;
	double t = 0, t0;

	if (sink_open(s, c))
		return -1;
	for (i = 0; i < n; i += k) {
		t0 = now_ns();
		for (k = 0; k < CHUNK && i + k < n; k++)
			c->op(s, i + k);
		if (i + k >= n) {
			/* what is still buffered is part of the cost */
			if (s->j)
				journal_flush(s->j);
			else
				fflush(s->f);
		}
		t += now_ns() - t0;
		/* untimed: keep the file small (the writer's offset goes on, sparse) */
		if (truncate(s->path, 0))
			perror(s->path);
	}
	if (sink_close(s))
		return -1;
	return t / n;
}

static double best_of(const struct bench_case *c, struct sink *s, unsigned long n)
{
	double best = -1, t;
	int r;

	for (r = 0; r < RUNS; r++) {
		t = run_once(c, s, n);
		if (t < 0)
			return -1;
		if (best < 0 || t < best)
			best = t;
	}
	return best;
}

static void usage(void)
{
	fprintf(stderr, "usage: journal-bench [-n EPOCHS] [-d DIR]\n");
	exit(EXIT_FAILURE);
}

int main(int argc, char **argv)
{
	const char *dir = getenv("TMPDIR") ?: "/tmp";
	unsigned long n = 100000;
	struct sink s = { 0 };
	double ns;
	size_t i;
	int c;

	while ((c = getopt(argc, argv, "n:d:h")) != -1) {
		switch (c) {
		case 'n':
			n = strtoul(optarg, NULL, 10);
			break;
		case 'd':
			dir = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || !n)
		usage();
	snprintf(s.path, sizeof(s.path), "%s/journal-bench.%d", dir, (int)getpid());
	setup();
	printf("# %lu operations per case, fastest of %d runs, to files in %s; an epoch of "
	       "%d dirty ranges in 1 of 16 mappings\n", n, RUNS, dir, DIRTY_RANGES);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ns = best_of(&cases[i], &s, n);
		if (ns < 0)
			return EXIT_FAILURE;
		printf("%-26s %10.0f ns  %s\n", cases[i].name, ns, cases[i].what);
		fflush(stdout);
	}
	return EXIT_SUCCESS;
}
