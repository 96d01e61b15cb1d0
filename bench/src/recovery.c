// SPDX-License-Identifier: GPL-2.0
/*
 * vmbench recovery: what an event loss costs the consumer.
 *
 * A region of this process is populated, watched by libvmtrack with 4 KiB
 * per-CPU buffers and armed; then a fraction of its pages is written
 * (strided, one event each) without the buffers being read, so that they
 * overflow, and one epoch is timed. The epoch recovers the loss either by a
 * sweep of the soft-dirty bits (libvmtrack's default, on a kernel whose
 * series keeps them) or with every watched page dirty (VMTRACK_F_NO_SWEEP,
 * the recovery before the sweep). Per point: the epoch's wall time (drain,
 * sweep, collect and re-arm) and the pages reported against those written,
 * which is what the next copy costs.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bench.h"
#include "vmtrack.h"

#define MAX_FRACTIONS	8

struct recovery_opts {
	size_t		mib;
	double		fractions[MAX_FRACTIONS];
	int		nr_fractions;
	int		reps;
};

struct recovery_point {
	bool		sweep;
	double		fraction;
	uint64_t	written;
	uint64_t	epoch_ns;
	struct vmtrack_epoch ep;
};

static void write_fraction(struct region *r, double fraction, uint64_t *written)
{
	size_t step = fraction > 0 ? (size_t)(1 / fraction + 0.5) : r->pages;
	size_t i;

	if (!step)
		step = 1;
	*written = 0;
	for (i = 0; i < r->pages; i += step, (*written)++)
		r->base[i * r->psz]++;
}

static int measure(struct region *r, struct recovery_point *pt)
{
	struct vmtrack_params p = {
		.pid = getpid(),
		.buffer_kb = 4,
		.flags = pt->sweep ? 0 : VMTRACK_F_NO_SWEEP,
	};
	struct iovec iov = { .iov_base = r->base, .iov_len = r->len };
	struct vmtrack_session *s;
	struct vmtrack_epoch ep;
	char err[256];
	uint64_t t0;
	int ret;

	ret = vmtrack_session_open(&s, &p, err, sizeof(err));
	if (ret) {
		note("vmtrack_session_open: %s", err);
		return ret;
	}
	ret = vmtrack_session_watch_ranges(s, &iov, 1);
	if (ret) {
		note("vmtrack_session_watch_ranges: %s", vmtrack_session_error(s));
		goto out;
	}
	/* the marks: epoch 1 */
	ret = vmtrack_session_epoch(s, 0, &ep);
	if (ret)
		goto out;
	write_fraction(r, pt->fraction, &pt->written);
	t0 = now_ns();
	ret = vmtrack_session_epoch(s, 0, &pt->ep);
	pt->epoch_ns = now_ns() - t0;
out:
	vmtrack_session_close(s);
	return ret;
}

static void report(const struct recovery_point *pt, const struct region *r, int rep)
{
	struct jout j;

	jout_begin(&j, "recovery");
	jout_str(&j, "mode", pt->sweep ? "sweep" : "all-dirty");
	jout_i64(&j, "rep", rep);
	jout_u64(&j, "pages", r->pages);
	jout_dbl(&j, "fraction", pt->fraction);
	jout_u64(&j, "written", pt->written);
	jout_u64(&j, "loss", pt->ep.loss);
	jout_u64(&j, "lost", pt->ep.lost_events);
	jout_u64(&j, "swept", pt->ep.swept);
	jout_u64(&j, "all_dirty", pt->ep.all_dirty);
	jout_u64(&j, "reported", pt->ep.dirty_pages);
	jout_u64(&j, "epoch_ns", pt->epoch_ns);
	jout_end(&j);
}

static int parse_fractions(struct recovery_opts *o, char *list)
{
	char *tok, *save = NULL;

	o->nr_fractions = 0;
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (o->nr_fractions == MAX_FRACTIONS)
			return -EINVAL;
		o->fractions[o->nr_fractions] = strtod(tok, NULL) / 100;
		if (o->fractions[o->nr_fractions] <= 0 || o->fractions[o->nr_fractions] > 1)
			return -EINVAL;
		o->nr_fractions++;
	}
	return o->nr_fractions ? 0 : -EINVAL;
}

static void recovery_usage(void)
{
	fprintf(stderr,
		"usage: vmbench recovery [--size MIB] [--dirty PERCENT,...] [--reps N]\n"
		"  an overflowed epoch, recovered by a sweep and with every page dirty\n");
}

int cmd_recovery(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "dirty", required_argument, NULL, 'd' },
		{ "reps", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct recovery_opts o = { .mib = 256, .reps = 3 };
	struct recovery_point pt;
	char dflt[] = "1,10,100";
	struct region r;
	int c, i, rep, mode, ret = 0;

	if (parse_fractions(&o, dflt))
		return 2;
	while ((c = getopt_long(argc, argv, "s:d:r:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			o.mib = strtoul(optarg, NULL, 0);
			break;
		case 'd':
			if (parse_fractions(&o, optarg)) {
				fprintf(stderr, "vmbench recovery: bad --dirty list\n");
				return 2;
			}
			break;
		case 'r':
			o.reps = atoi(optarg);
			break;
		default:
			recovery_usage();
			return c == 'h' ? 0 : 2;
		}
	}
	if (!o.mib || o.reps < 1) {
		recovery_usage();
		return 2;
	}
	if (region_map(&r, o.mib << 20, true)) {
		note("cannot map %zu MiB", o.mib);
		return 1;
	}
	for (i = 0; i < o.nr_fractions && !ret; i++)
		for (rep = 0; rep < o.reps && !ret; rep++)
			for (mode = 0; mode < 2 && !ret; mode++) {
				memset(&pt, 0, sizeof(pt));
				pt.sweep = !mode;
				pt.fraction = o.fractions[i];
				ret = measure(&r, &pt);
				if (!ret)
					report(&pt, &r, rep);
			}
	region_unmap(&r);
	return ret ? 1 : 0;
}
