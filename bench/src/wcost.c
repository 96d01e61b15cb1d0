// SPDX-License-Identifier: GPL-2.0
/*
 * vmbench wcost: the cost of a write.
 *
 * tracked:   the first write to each page of an armed region, per mechanism
 *            (the fault that records it), averaged over the region; the
 *            epoch that re-arms it between repetitions is not timed.
 * unwatched: writes to mappings nobody watches, to compare kernels:
 *            "plain"   store to a present, writable page (no fault)
 *            "fresh"   first touch of an empty anonymous page (zero-fill fault)
 *            "zero-wp" write after a read mapped the zero page (write-protect
 *                      fault: do_wp_page, where write tracking hooks in)
 *            With --watch-elsewhere, the same while this process watches
 *            another region with MADV_WATCH (events enabled).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

struct wcost_opts {
	size_t		pages;
	int		reps;
	int		warmup;
	const char	*tag;
	const char	*kernel;
};

static void emit(const struct wcost_opts *o, const char *mech, const char *test, int rep,
		 uint64_t ns, size_t pages, uint64_t records)
{
	struct jout j;

	jout_begin(&j, "wcost");
	jout_str(&j, "bench", o->tag);
	jout_str(&j, "kernel", o->kernel);
	jout_str(&j, "mech", mech);
	jout_str(&j, "test", test);
	jout_i64(&j, "rep", rep);
	jout_u64(&j, "warmup", rep < 0);
	jout_u64(&j, "pages", pages);
	jout_u64(&j, "ns", ns);
	jout_dbl(&j, "ns_per_write", (double)ns / pages);
	jout_u64(&j, "records", records);
	jout_end(&j);
}

static uint64_t timed_writes(struct region *r)
{
	struct pattern p;
	uint64_t t0;

	pattern_init(&p, r, r->pages, 0);
	t0 = now_ns();
	pattern_write(r, &p);
	return now_ns() - t0;
}

static int tracked_child(const struct wcost_opts *o, const struct mech_ops *ops)
{
	struct epoch_stats st = { 0 };
	struct rangeset rs = { 0 };
	struct mech m = { .ops = ops };
	struct region r;
	uint64_t ns, rec = 0;
	int i, ret;

	if (region_map(&r, o->pages * sysconf(_SC_PAGESIZE), true))
		return 1;
	ret = ops->setup(&m, &r);
	if (ret) {
		note("%s setup: %s", ops->name, strerror(-ret));
		ops->teardown(&m);
		return 1;
	}
	for (i = -o->warmup; i < o->reps; i++) {
		ns = timed_writes(&r);
		if (ops->write_records)
			rec = ops->write_records(&m);
		memset(&st, 0, sizeof(st));
		ret = ops->epoch(&m, &rs, &st);
		if (ret) {
			note("%s epoch: %s", ops->name, strerror(-ret));
			break;
		}
		emit(o, ops->name, "first-write", i, ns, r.pages, rec + st.records);
	}
	ops->teardown(&m);
	rangeset_free(&rs);
	region_unmap(&r);
	return ret ? 1 : 0;
}

static void unwatched_tests(const struct wcost_opts *o, const char *label)
{
	size_t len = o->pages * sysconf(_SC_PAGESIZE), i;
	struct region r;
	volatile char sink;
	uint64_t ns;
	int rep;

	/* plain: one populated region, written again and again */
	if (region_map(&r, len, true))
		die("mmap: %s", strerror(errno));
	for (rep = -o->warmup; rep < o->reps; rep++)
		emit(o, label, "plain", rep, timed_writes(&r), r.pages, 0);
	region_unmap(&r);

	for (rep = -o->warmup; rep < o->reps; rep++) {
		if (region_map(&r, len, false))
			die("mmap: %s", strerror(errno));
		emit(o, label, "fresh", rep, timed_writes(&r), r.pages, 0);
		region_unmap(&r);
	}

	for (rep = -o->warmup; rep < o->reps; rep++) {
		if (region_map(&r, len, false))
			die("mmap: %s", strerror(errno));
		for (i = 0; i < r.pages; i++)
			sink = r.base[i * r.psz];
		(void)sink;
		ns = timed_writes(&r);
		emit(o, label, "zero-wp", rep, ns, r.pages, 0);
		region_unmap(&r);
	}
}

/* the unwatched tests while another region of this mm is watched */
static int elsewhere_child(const struct wcost_opts *o)
{
	struct mech m = { .ops = &mech_vmtrack_raw };
	struct region w;
	char why[200];

	if (mech_vmtrack_raw.probe(why, sizeof(why)))
		return 2;
	if (region_map(&w, 64 * sysconf(_SC_PAGESIZE), true) ||
	    mech_vmtrack_raw.setup(&m, &w)) {
		mech_vmtrack_raw.teardown(&m);
		return 1;
	}
	unwatched_tests(o, "unwatched+watch-elsewhere");
	mech_vmtrack_raw.teardown(&m);
	region_unmap(&w);
	return 0;
}

static int in_child(const struct wcost_opts *o, int (*fn)(const struct wcost_opts *,
							  const struct mech_ops *),
		    const struct mech_ops *ops)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (!pid)
		_exit(fn(o, ops));
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static int elsewhere_adapter(const struct wcost_opts *o, const struct mech_ops *ops)
{
	(void)ops;
	return elsewhere_child(o);
}

static void wcost_usage(void)
{
	fprintf(stderr,
		"usage: vmbench wcost [options]\n"
		"  -m, --mech LIST         tracked-write mechanisms (default: all available)\n"
		"  -u, --unwatched-only    only the unwatched tests\n"
		"  -e, --watch-elsewhere   also the unwatched tests with a watch elsewhere\n"
		"  -n, --no-unwatched      not the plain unwatched tests\n"
		"  -p, --pages N           pages per repetition (default 4096)\n"
		"  -r, --reps N            measured repetitions (default 7)\n"
		"  -k, --kernel NAME       label of the kernel (patched, base)\n"
		"  -t, --tag NAME          name of this run in the results\n");
	exit(2);
}

int cmd_wcost(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "mech", required_argument, NULL, 'm' },
		{ "unwatched-only", no_argument, NULL, 'u' },
		{ "watch-elsewhere", no_argument, NULL, 'e' },
		{ "no-unwatched", no_argument, NULL, 'n' },
		{ "pages", required_argument, NULL, 'p' },
		{ "reps", required_argument, NULL, 'r' },
		{ "kernel", required_argument, NULL, 'k' },
		{ "tag", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct mech_ops *all[] = {
		&mech_softdirty, &mech_uffd_sync, &mech_uffd_async, &mech_vmtrack,
	};
	struct wcost_opts o = { .pages = 4096, .reps = 7, .warmup = 1, .tag = "wcost",
				.kernel = "unknown" };
	const struct mech_ops *sel[8];
	bool unwatched_only = false, elsewhere = false, unwatched = true;
	char *mech_arg = NULL, *tok, *save = NULL, why[256];
	int c, i, n = 0;

	while ((c = getopt_long(argc, argv, "m:uenp:r:k:t:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			mech_arg = optarg;
			break;
		case 'u':
			unwatched_only = true;
			break;
		case 'e':
			elsewhere = true;
			break;
		case 'n':
			unwatched = false;
			break;
		case 'p':
			o.pages = strtoul(optarg, NULL, 0);
			break;
		case 'r':
			o.reps = atoi(optarg);
			break;
		case 'k':
			o.kernel = optarg;
			break;
		case 't':
			o.tag = optarg;
			break;
		default:
			wcost_usage();
		}
	}
	if (mech_arg) {
		for (tok = strtok_r(mech_arg, ",", &save); tok && n < 8;
		     tok = strtok_r(NULL, ",", &save)) {
			sel[n] = mech_find(tok);
			if (!sel[n])
				die("unknown mechanism %s", tok);
			n++;
		}
	} else {
		for (i = 0; i < (int)ARRAY_SIZE(all); i++)
			sel[n++] = all[i];
	}

	if (unwatched)
		unwatched_tests(&o, "unwatched");
	if (elsewhere && in_child(&o, elsewhere_adapter, NULL) == 2)
		note("watch-elsewhere: vmtrack not available");
	if (unwatched_only)
		return 0;
	for (i = 0; i < n; i++) {
		struct jout j;

		if (sel[i]->probe(why, sizeof(why))) {
			jout_begin(&j, "unavailable");
			jout_str(&j, "bench", o.tag);
			jout_str(&j, "mech", sel[i]->name);
			jout_str(&j, "why", why);
			jout_end(&j);
			continue;
		}
		if (in_child(&o, tracked_child, sel[i]))
			note("%s: write-cost run failed", sel[i]->name);
	}
	return 0;
}
