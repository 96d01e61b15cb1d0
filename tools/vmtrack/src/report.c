// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmtrack report FILE: decode the journal of a vmtrack watch, run or dump
 * (--journal) into the lines the run printed, as text or JSON, into an SVG
 * plot of the dirty pages per epoch, or record by record through the format
 * strings the journal carries (--raw).
 *
 * Fields are found by name in the journal's own format table, so journals of
 * older writers decode (a field they lack reads as 0) and records a newer
 * writer added are skipped and counted.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "vmtrack-cmd.h"
#include "journal.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define MAX_FIELDS	24

struct report_opts {
	const char	*file;
	const char	*plot;
	bool		json;
	bool		list_dirty;
	bool		raw;
};

/* the indices of a record's fields, found by name once per format */
struct field_cache {
	const struct jr_format	*fmt;
	int			idx[MAX_FIELDS];
};

static const int *fields(struct field_cache *c, const struct jr_record *rec,
			 const char * const *names, size_t n)
{
	size_t i;

	if (c->fmt != rec->fmt) {
		for (i = 0; i < n; i++)
			c->idx[i] = jr_field(rec->fmt, names[i]);
		c->fmt = rec->fmt;
	}
	return c->idx;
}

#define FIELDS_OF(cache, rec, names) fields(cache, rec, names, ARRAY_SIZE(names))

enum {
	E_SEQ, E_TIME, E_DURATION, E_FINAL, E_GONE, E_ALL_DIRTY, E_LOSS, E_WATCHED, E_DIRTY,
	E_NR_DIRTY, E_LOST, E_EVENTS, E_NEW, E_STRAY, E_REARM, E_TRACKED, E_BSTART, E_BDIRTY,
	E_BLABEL, E_SET, E_SWEPT, E_SWEPT_PAGES, E_DENSE
};
static const char * const epoch_names[] = {
	"seq", "time", "duration", "final", "target_gone", "all_dirty", "loss", "watched_pages",
	"dirty_pages", "nr_dirty", "lost_events", "events", "new_pages", "stray_pages",
	"rearm_failed", "tracked_ranges", "busiest_start", "busiest_dirty", "busiest_label",
	"set", "swept", "swept_pages", "dense",
};

enum { M_SEQ, M_START, M_END, M_PAGES, M_DIRTY, M_LABEL };
static const char * const mapping_names[] = { "seq", "start", "end", "pages", "dirty", "label" };

enum { D_SEQ, D_RANGES };
static const char * const dirty_names[] = { "seq", "ranges" };

enum { S_EPOCHS, S_SECONDS, S_DIRTY, S_LOSS_EPOCHS, S_LOST, S_WATCHED, S_PID, S_SET };
static const char * const summary_names[] = {
	"epochs", "seconds", "dirty_pages", "loss_epochs", "lost_events", "watched_pages", "pid",
	"set",
};

/* the dirty sets of --follow */
enum { SET_SET, SET_PID, SET_PPID, SET_TIME, SET_WATCHED, SET_COMM, SET_ORIGIN };
static const char * const set_names[] = {
	"set", "pid", "ppid", "time", "watched_pages", "comm", "origin",
};

enum { U_PID, U_COMM, U_REASON };
static const char * const unwatched_names[] = { "pid", "comm", "reason" };

enum { T_PID, T_SETS, T_PROCESSES, T_UNWATCHED, T_EPOCHS, T_SECONDS, T_DIRTY, T_LOSS };
static const char * const follow_names[] = {
	"pid", "sets", "processes", "unwatched", "epochs", "seconds", "dirty_pages",
	"loss_epochs",
};

enum { R_START, R_END, R_PAGES, R_LAST, R_TOTAL, R_LABEL };
static const char * const range_names[] = { "start", "end", "pages", "last", "total", "label" };

enum {
	I_ITER, I_FROZEN, I_DIRTY, I_PAGES, I_HOLES, I_GONE, I_SECONDS, I_BW, I_ALL_DIRTY,
	I_LOSS, I_STOP, I_THROTTLE, I_HELD
};
static const char * const iter_names[] = {
	"iteration", "frozen", "dirty_pages", "pages", "holes", "gone", "seconds", "bandwidth",
	"all_dirty", "loss", "stop", "throttle", "held_s",
};

enum { P_PENDING, P_ESTIMATE, P_STOP };
static const char * const pending_names[] = { "pending", "estimate_ms", "stop" };

enum { DS_PID, DS_ITERS, DS_PAGES, DS_STOP, DS_FREEZE, DS_TOTAL, DS_BW, DS_LEFT, DS_DEST };
static const char * const dump_summary_names[] = {
	"pid", "iterations", "pages", "stop", "freeze_ms", "total_s", "bandwidth",
	"left_stopped", "dest",
};

enum { ST_INTERVAL };
static const char * const start_names[] = { "interval_ms" };

enum { F_SEQ, F_MS };
static const char * const freeze_names[] = { "seq", "ms" };

/* one line of the plot: a mapping's dirty pages per epoch */
struct series {
	uint64_t	start;
	const char	*label;
	uint64_t	sum;
	double		*dirty;		/* per epoch index */
	size_t		n;		/* slots of @dirty filled in */
};

struct plot_epoch {
	double		time;
	double		duration;
	uint64_t	dirty;
	bool		loss;
	unsigned int	set;		/* --follow: the set's number, else 0 */
};

struct report {
	const struct report_opts	*o;
	struct jreader			*r;
	const char			*command;
	pid_t				pid;
	long				page_size;
	bool				dump;		/* the journal of vmtrack dump */
	bool				has_ranges;
	uint64_t			skipped;
	bool				ended;		/* the end record was read */
	uint64_t			end_status;	/* vmtrack's exit status in it */
	/* the epoch being read: its ranges follow its record */
	bool				in_epoch;
	struct vmtrack_epoch		ep;
	struct out_epoch_info		e;
	struct out_range		*maps;
	size_t				nr_maps, maps_alloc;
	struct iovec			*dirty;
	size_t				nr_dirty, dirty_alloc;
	/* the summary being read: its ranges follow it */
	bool				in_summary;
	struct vmtrack_run_stats	rs;
	pid_t				summary_pid;
	const struct out_set		*summary_set;
	uint64_t			watched;
	/* --follow: the sets, by number from 1 */
	struct out_set			*sets;
	size_t				nr_sets, sets_alloc;
	struct out_range		*sum_ranges;
	size_t				nr_sum_ranges, sum_ranges_alloc;
	/* --plot */
	struct plot_epoch		*points;
	size_t				nr_points, points_alloc;
	struct series			*series;
	size_t				nr_series, series_alloc;
	double				freeze_time;
	double				freeze_ms;
	bool				frozen;
	/* field caches */
	struct field_cache		fc_start, fc_epoch, fc_mapping, fc_dirty, fc_summary,
					fc_range, fc_iter, fc_pending, fc_dump_summary, fc_freeze,
					fc_set, fc_unwatched, fc_follow;
};

#define GROW(rp, arr, n) GROW_ARRAY((rp)->arr, (rp)->arr##_alloc, (rp)->n, 64)

static bool printing(const struct report *rp)
{
	return !rp->o->plot && !rp->o->raw;
}

/* ---- watch / run ------------------------------------------------------- */

/* a set by its number; NULL for 0 (not --follow) or a set not announced */
static const struct out_set *find_set(const struct report *rp, uint64_t set)
{
	return set && set <= rp->nr_sets && rp->sets[set - 1].set ? &rp->sets[set - 1] : NULL;
}

static int on_set(struct report *rp, const struct jr_record *rec)
{
	const int *f = FIELDS_OF(&rp->fc_set, rec, set_names);
	uint64_t n = jr_u64(rec, f[SET_SET]);
	struct out_set *set;

	/* numbered from 1 in order: a gap or a repeat is a journal of another writer */
	if (n != rp->nr_sets + 1) {
		rp->skipped++;
		return 0;
	}
	if (GROW(rp, sets, nr_sets))
		return -ENOMEM;
	set = &rp->sets[rp->nr_sets++];
	*set = (struct out_set){
		.set = n,
		.pid = jr_u64(rec, f[SET_PID]),
		.ppid = jr_u64(rec, f[SET_PPID]),
		.origin = jr_str(rp->r, rec, f[SET_ORIGIN]),
		.time = jr_f64(rec, f[SET_TIME]),
	};
	snprintf(set->comm, sizeof(set->comm), "%s", jr_str(rp->r, rec, f[SET_COMM]));
	if (printing(rp))
		out_set_start_line(stdout, rp->o->json, set, jr_u64(rec, f[SET_WATCHED]));
	return 0;
}

static void on_unwatched(struct report *rp, const struct jr_record *rec)
{
	const int *f = FIELDS_OF(&rp->fc_unwatched, rec, unwatched_names);

	/* the live text says it on stderr only */
	if (printing(rp) && rp->o->json)
		out_unwatched_json(stdout, jr_u64(rec, f[U_PID]), jr_str(rp->r, rec, f[U_COMM]),
				   jr_str(rp->r, rec, f[U_REASON]));
}

static void on_follow(struct report *rp, const struct jr_record *rec)
{
	const int *f = FIELDS_OF(&rp->fc_follow, rec, follow_names);
	struct out_tree_stats ts = {
		.pid = jr_u64(rec, f[T_PID]),
		.sets = jr_u64(rec, f[T_SETS]),
		.processes = jr_u64(rec, f[T_PROCESSES]),
		.unwatched = jr_u64(rec, f[T_UNWATCHED]),
		.epochs = jr_u64(rec, f[T_EPOCHS]),
		.seconds = jr_f64(rec, f[T_SECONDS]),
		.dirty_pages = jr_u64(rec, f[T_DIRTY]),
		.loss_epochs = jr_u64(rec, f[T_LOSS]),
	};

	if (printing(rp))
		out_tree_end_line(stdout, rp->o->json, &ts);
}

static void end_epoch(struct report *rp)
{
	if (!rp->in_epoch)
		return;
	rp->in_epoch = false;
	rp->ep.dirty = rp->dirty;
	rp->e.ranges = rp->maps;
	rp->e.nr_ranges = rp->nr_maps;
	if (!printing(rp) || rp->dump)
		return;
	if (rp->o->json)
		out_epoch_json(stdout, &rp->e);
	else
		out_epoch_text(stdout, &rp->e, rp->o->list_dirty, rp->page_size);
}

static int add_point(struct report *rp)
{
	if (GROW(rp, points, nr_points))
		return -ENOMEM;
	rp->points[rp->nr_points++] = (struct plot_epoch){
		.time = rp->e.time,
		.duration = rp->e.duration,
		.dirty = rp->ep.dirty_pages,
		.loss = rp->ep.loss != 0,
		.set = rp->e.set ? rp->e.set->set : 0,
	};
	return 0;
}

static int on_epoch(struct report *rp, const struct jr_record *rec)
{
	const int *f = FIELDS_OF(&rp->fc_epoch, rec, epoch_names);
	struct vmtrack_epoch *ep = &rp->ep;

	end_epoch(rp);
	*ep = (struct vmtrack_epoch){
		.seq = jr_u64(rec, f[E_SEQ]),
		.loss = jr_u64(rec, f[E_LOSS]),
		.all_dirty = jr_u64(rec, f[E_ALL_DIRTY]),
		/* absent (0) in journals written before the sweep was recorded */
		.swept = jr_u64(rec, f[E_SWEPT]),
		.swept_pages = jr_u64(rec, f[E_SWEPT_PAGES]),
		.dense = jr_u64(rec, f[E_DENSE]),
		.target_gone = jr_u64(rec, f[E_GONE]),
		.lost_events = jr_u64(rec, f[E_LOST]),
		.events = jr_u64(rec, f[E_EVENTS]),
		.stray_pages = jr_u64(rec, f[E_STRAY]),
		.new_pages = jr_u64(rec, f[E_NEW]),
		.dirty_pages = jr_u64(rec, f[E_DIRTY]),
		.watched_pages = jr_u64(rec, f[E_WATCHED]),
		.rearm_failed = jr_u64(rec, f[E_REARM]),
		.nr_dirty = jr_u64(rec, f[E_NR_DIRTY]),
	};
	rp->e = (struct out_epoch_info){
		.ep = ep,
		.time = jr_f64(rec, f[E_TIME]),
		.duration = jr_f64(rec, f[E_DURATION]),
		.final = jr_u64(rec, f[E_FINAL]),
		.nr_tracked = jr_u64(rec, f[E_TRACKED]),
		.busiest = {
			.start = jr_u64(rec, f[E_BSTART]),
			.last = jr_u64(rec, f[E_BDIRTY]),
			.label = jr_str(rp->r, rec, f[E_BLABEL]),
		},
		.has_ranges = rp->has_ranges,
		.set = find_set(rp, jr_u64(rec, f[E_SET])),
	};
	rp->nr_maps = 0;
	rp->nr_dirty = 0;
	rp->in_epoch = true;
	return add_point(rp);
}

static struct series *find_series(struct report *rp, uint64_t start, const char *label)
{
	struct series *s;
	size_t i;

	for (i = 0; i < rp->nr_series; i++)
		if (rp->series[i].start == start && !strcmp(rp->series[i].label, label))
			return &rp->series[i];
	if (GROW(rp, series, nr_series))
		return NULL;
	s = &rp->series[rp->nr_series++];
	*s = (struct series){ .start = start, .label = label };
	return s;
}

static int plot_mapping(struct report *rp, const struct out_range *m)
{
	struct series *s = find_series(rp, m->start, m->label);
	size_t idx = rp->nr_points - 1;
	double *t;

	if (!s)
		return -ENOMEM;
	/* a slot per epoch so far; 0 in those the mapping was clean */
	t = realloc(s->dirty, rp->points_alloc * sizeof(*t));
	if (!t)
		return -ENOMEM;
	s->dirty = t;
	for (; s->n < idx; s->n++)
		s->dirty[s->n] = 0;
	s->dirty[idx] = m->last;
	s->n = idx + 1;
	s->sum += m->last;
	return 0;
}

static int on_mapping(struct report *rp, const struct jr_record *rec)
{
	const int *f = FIELDS_OF(&rp->fc_mapping, rec, mapping_names);
	struct out_range *m;

	if (!rp->in_epoch || jr_u64(rec, f[M_SEQ]) != rp->ep.seq)
		return 0;
	if (GROW(rp, maps, nr_maps))
		return -ENOMEM;
	m = &rp->maps[rp->nr_maps++];
	*m = (struct out_range){
		.start = jr_u64(rec, f[M_START]),
		.end = jr_u64(rec, f[M_END]),
		.pages = jr_u64(rec, f[M_PAGES]),
		.last = jr_u64(rec, f[M_DIRTY]),
		.label = jr_str(rp->r, rec, f[M_LABEL]),
	};
	return rp->o->plot ? plot_mapping(rp, m) : 0;
}

static int on_dirty(struct report *rp, const struct jr_record *rec)
{
	const int *f = FIELDS_OF(&rp->fc_dirty, rec, dirty_names);
	const uint8_t *v;
	size_t n, i;

	if (!rp->in_epoch || jr_u64(rec, f[D_SEQ]) != rp->ep.seq)
		return 0;
	n = jr_array(rec, f[D_RANGES], &v);
	for (i = 0; i + 1 < n; i += 2) {
		uint64_t start = jr_array_at(v, i), end = jr_array_at(v, i + 1);

		if (GROW(rp, dirty, nr_dirty))
			return -ENOMEM;
		rp->dirty[rp->nr_dirty].iov_base = (void *)(uintptr_t)start;
		rp->dirty[rp->nr_dirty++].iov_len = end - start;
	}
	return 0;
}

static void end_summary(struct report *rp)
{
	if (!rp->in_summary)
		return;
	rp->in_summary = false;
	if (!printing(rp))
		return;
	if (rp->o->json)
		out_summary_set_json(stdout, rp->summary_set, rp->summary_pid, &rp->rs,
				     rp->watched, rp->sum_ranges, rp->nr_sum_ranges);
	else
		out_summary_set_text(stdout, rp->summary_set, rp->summary_pid, &rp->rs,
				     rp->sum_ranges, rp->nr_sum_ranges);
}

static void on_summary(struct report *rp, const struct jr_record *rec)
{
	const int *f = FIELDS_OF(&rp->fc_summary, rec, summary_names);

	end_epoch(rp);
	rp->rs = (struct vmtrack_run_stats){
		.epochs = jr_u64(rec, f[S_EPOCHS]),
		.loss_epochs = jr_u64(rec, f[S_LOSS_EPOCHS]),
		.lost_events = jr_u64(rec, f[S_LOST]),
		.dirty_pages = jr_u64(rec, f[S_DIRTY]),
		.seconds = jr_f64(rec, f[S_SECONDS]),
	};
	rp->watched = jr_u64(rec, f[S_WATCHED]);
	rp->summary_pid = f[S_PID] >= 0 ? (pid_t)jr_u64(rec, f[S_PID]) : rp->pid;
	rp->summary_set = find_set(rp, jr_u64(rec, f[S_SET]));
	rp->nr_sum_ranges = 0;
	rp->in_summary = true;
}

static int on_summary_range(struct report *rp, const struct jr_record *rec)
{
	const int *f = FIELDS_OF(&rp->fc_range, rec, range_names);

	if (!rp->in_summary)
		return 0;
	if (GROW(rp, sum_ranges, nr_sum_ranges))
		return -ENOMEM;
	rp->sum_ranges[rp->nr_sum_ranges++] = (struct out_range){
		.start = jr_u64(rec, f[R_START]),
		.end = jr_u64(rec, f[R_END]),
		.pages = jr_u64(rec, f[R_PAGES]),
		.last = jr_u64(rec, f[R_LAST]),
		.total = jr_u64(rec, f[R_TOTAL]),
		.label = jr_str(rp->r, rec, f[R_LABEL]),
	};
	return 0;
}

static void on_start(struct report *rp, const struct jr_record *rec)
{
	const int *f = FIELDS_OF(&rp->fc_start, rec, start_names);

	if (printing(rp) && !rp->dump && !rp->o->json)
		out_start_text(stdout, rp->command, rp->pid, jr_u64(rec, f[ST_INTERVAL]));
}

static void on_freeze(struct report *rp, const struct jr_record *rec)
{
	const int *f = FIELDS_OF(&rp->fc_freeze, rec, freeze_names);

	rp->frozen = true;
	rp->freeze_ms = jr_f64(rec, f[F_MS]);
	/* the epoch or iteration it was taken for is the last one so far */
	rp->freeze_time = rp->nr_points ? rp->points[rp->nr_points - 1].time : 0;
}

static void on_end(struct report *rp, const struct jr_record *rec)
{
	rp->ended = true;
	rp->end_status = jr_u64(rec, jr_field(rec->fmt, "status"));
}

/* ---- dump -------------------------------------------------------------- */

static void on_dump_iter(struct report *rp, const struct jr_record *rec)
{
	const int *f = FIELDS_OF(&rp->fc_iter, rec, iter_names);
	struct dump_iter_info it = {
		.iter = jr_u64(rec, f[I_ITER]),
		.frozen = jr_u64(rec, f[I_FROZEN]),
		.dirty = jr_u64(rec, f[I_DIRTY]),
		.pages = jr_u64(rec, f[I_PAGES]),
		.holes = jr_u64(rec, f[I_HOLES]),
		.gone = jr_u64(rec, f[I_GONE]),
		.seconds = jr_f64(rec, f[I_SECONDS]),
		.bandwidth = jr_f64(rec, f[I_BW]),
		.all_dirty = jr_u64(rec, f[I_ALL_DIRTY]),
		.loss = jr_u64(rec, f[I_LOSS]),
		.stop = jr_str(rp->r, rec, f[I_STOP]),
		.throttle = jr_u64(rec, f[I_THROTTLE]),
		.held_s = jr_f64(rec, f[I_HELD]),
	};

	end_epoch(rp);
	if (printing(rp))
		dump_print_iter(stdout, rp->o->json, jreader_meta(rp->r, "dest") ?: "",
				rp->page_size, &it);
}

static void on_dump_pending(struct report *rp, const struct jr_record *rec)
{
	const int *f = FIELDS_OF(&rp->fc_pending, rec, pending_names);

	end_epoch(rp);
	if (printing(rp) && !rp->o->json)
		dump_print_pending(stdout, jr_u64(rec, f[P_PENDING]), jr_f64(rec, f[P_ESTIMATE]),
				   jr_str(rp->r, rec, f[P_STOP]));
}

static void on_dump_summary(struct report *rp, const struct jr_record *rec)
{
	const int *f = FIELDS_OF(&rp->fc_dump_summary, rec, dump_summary_names);
	struct dump_summary_info s = {
		.pid = jr_u64(rec, f[DS_PID]),
		.dest = jr_str(rp->r, rec, f[DS_DEST]),
		.iterations = jr_u64(rec, f[DS_ITERS]),
		.pages = jr_u64(rec, f[DS_PAGES]),
		.stop = jr_str(rp->r, rec, f[DS_STOP]),
		.freeze_ms = jr_f64(rec, f[DS_FREEZE]),
		.total_s = jr_f64(rec, f[DS_TOTAL]),
		.bandwidth = jr_f64(rec, f[DS_BW]),
		.left_stopped = jr_u64(rec, f[DS_LEFT]),
	};

	end_epoch(rp);
	if (printing(rp))
		dump_print_summary(stdout, rp->o->json, &s);
}

/* ---- --raw: every record through its format string --------------------- */

static void raw_value(const struct report *rp, const struct jr_record *rec, unsigned int i,
		      char conv)
{
	const uint8_t *v;
	size_t n, k;

	switch (rec->fmt->types[i]) {
	case JT_F64:
		printf("%g", jr_f64(rec, i));
		break;
	case JT_STR:
		printf("%s", jr_str(rp->r, rec, i));
		break;
	case JT_U64_ARRAY:
		n = jr_array(rec, i, &v);
		for (k = 0; k < n; k++)
			printf("%s%" PRIx64, k ? (k & 1 ? "-" : " ") : "", jr_array_at(v, k));
		break;
	default:
		printf(conv == 'x' ? "%" PRIx64 : "%" PRIu64, jr_u64(rec, i));
		break;
	}
}

/*
 * The file's format string is data: only its conversions are interpreted,
 * each takes the next argument and prints it by its type.
 */
static void print_raw(const struct report *rp, const struct jr_record *rec)
{
	unsigned int i = 0;
	const char *p;

	printf("%8" PRIu64 " ", rec->offset);
	if (!rec->fmt) {
		printf("record %u: %zu bytes, not in the format table\n", rec->id, rec->len);
		return;
	}
	printf("%s: ", rec->fmt->name);
	for (p = rec->fmt->fmt; *p; p++) {
		if (*p != '%' || !p[1]) {
			putchar(*p);
			continue;
		}
		p++;
		if (*p == '%') {
			putchar('%');
			continue;
		}
		if (i < rec->fmt->nr_fields)
			raw_value(rp, rec, i++, *p);
	}
	for (; i < rec->fmt->nr_fields; i++) {
		printf(" %s=", rec->fmt->names[i]);
		raw_value(rp, rec, i, 'u');
	}
	putchar('\n');
}

/* ---- the plot ---------------------------------------------------------- */

#define PLOT_W		960
#define PLOT_H		480
#define PLOT_L		80
#define PLOT_R		220
#define PLOT_T		40
#define PLOT_B		50
#define PLOT_SERIES	8

static const char * const colours[] = {
	"#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
	"#7f7f7f",
};

static void xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			if ((unsigned char)*s >= 0x20)
				fputc(*s, f);
		}
	}
}

static int by_sum(const void *a, const void *b)
{
	const struct series *x = a, *y = b;

	return x->sum < y->sum ? 1 : x->sum > y->sum ? -1 : 0;
}

struct frame {
	double	tmax;
	double	ymax;
};

static double px(const struct frame *fr, double t)
{
	return PLOT_L + t / fr->tmax * (PLOT_W - PLOT_L - PLOT_R);
}

static double py(const struct frame *fr, double v)
{
	return PLOT_H - PLOT_B - v / fr->ymax * (PLOT_H - PLOT_T - PLOT_B);
}

/* @v per epoch; with @set, through that set's epochs only */
static void plot_line(FILE *f, const struct report *rp, const struct frame *fr,
		      const double *v, unsigned int set, const char *colour, const char *name,
		      int slot)
{
	const char *sep = "";
	size_t i;

	fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", colour);
	for (i = 0; i < rp->nr_points; i++) {
		if (set && rp->points[i].set != set)
			continue;
		fprintf(f, "%s%.1f,%.1f", sep, px(fr, rp->points[i].time), py(fr, v[i]));
		sep = " ";
	}
	fprintf(f, "\"/>\n<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\"/>"
		"<text x=\"%d\" y=\"%d\">", PLOT_W - PLOT_R + 16, PLOT_T + slot * 18, colour,
		PLOT_W - PLOT_R + 32, PLOT_T + slot * 18 + 11);
	xml_text(f, name);
	fprintf(f, "</text>\n");
}

static void plot_axes(FILE *f, const struct report *rp, const struct frame *fr)
{
	int k;

	fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n"
		"<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n",
		PLOT_L, PLOT_H - PLOT_B, PLOT_W - PLOT_R, PLOT_H - PLOT_B,
		PLOT_L, PLOT_T, PLOT_L, PLOT_H - PLOT_B);
	for (k = 0; k <= 5; k++) {
		double t = fr->tmax * k / 5, v = fr->ymax * k / 5;

		fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.3g</text>\n",
			px(fr, t), PLOT_H - PLOT_B + 18, t);
		fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.0f</text>\n",
			PLOT_L - 6, py(fr, v) + 4, v);
	}
	fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">seconds</text>\n"
		"<text x=\"16\" y=\"%d\" transform=\"rotate(-90 16 %d)\" text-anchor=\"middle\">"
		"dirty pages per epoch</text>\n<text x=\"%d\" y=\"22\">vmtrack %s, pid %d: ",
		(PLOT_W - PLOT_R + PLOT_L) / 2, PLOT_H - 12, PLOT_H / 2, PLOT_H / 2, PLOT_L,
		rp->command, (int)rp->pid);
	xml_text(f, jreader_meta(rp->r, "target") ?: "");
	fprintf(f, "</text>\n");
}

/* loss epochs shaded over their duration, the freeze as a line */
static void plot_marks(FILE *f, const struct report *rp, const struct frame *fr)
{
	size_t i;

	for (i = 0; i < rp->nr_points; i++) {
		const struct plot_epoch *p = &rp->points[i];
		double x0 = px(fr, p->time - p->duration), x1 = px(fr, p->time);

		if (p->loss)
			fprintf(f, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" "
				"fill=\"red\" fill-opacity=\"0.2\"><title>epoch %zu: loss</title>"
				"</rect>\n", x0, PLOT_T, x1 - x0 < 2 ? 2 : x1 - x0,
				PLOT_H - PLOT_T - PLOT_B, i + 1);
	}
	if (rp->frozen)
		fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"blue\" "
			"stroke-dasharray=\"4 3\"/>\n<text x=\"%.1f\" y=\"%d\" fill=\"blue\" "
			"text-anchor=\"end\">freeze %.1f ms</text>\n", px(fr, rp->freeze_time),
			PLOT_T, px(fr, rp->freeze_time), PLOT_H - PLOT_B,
			px(fr, rp->freeze_time) - 4, PLOT_T + 12, rp->freeze_ms);
}

/*
 * A --follow journal: the epochs of its sets interleave in time, so a line
 * per set (its process and program), the sets with most dirty pages first.
 */
static void plot_sets(FILE *f, const struct report *rp, const struct frame *fr,
		      const double *dirty)
{
	uint64_t *sum = calloc(rp->nr_sets + 1, sizeof(*sum));
	size_t i, k, best;
	char name[96];

	if (!sum)
		return;
	for (i = 0; i < rp->nr_points; i++)
		if (rp->points[i].set && rp->points[i].set <= rp->nr_sets)
			sum[rp->points[i].set] += rp->points[i].dirty + 1;
	for (k = 0; k < PLOT_SERIES; k++) {
		for (best = 0, i = 1; i <= rp->nr_sets; i++)
			if (sum[i] > sum[best])
				best = i;
		if (!best)
			break;
		sum[best] = 0;
		snprintf(name, sizeof(name), "set %zu: %d %.40s", best,
			 (int)rp->sets[best - 1].pid, rp->sets[best - 1].comm);
		plot_line(f, rp, fr, dirty, best, colours[k % ARRAY_SIZE(colours)], name, k);
	}
	free(sum);
}

static int write_plot(struct report *rp, const char *path)
{
	struct frame fr = { .tmax = 1, .ymax = 1 };
	double *total = calloc(rp->nr_points + 1, sizeof(*total));
	size_t i, k, shown;
	FILE *f;
	int ret;

	if (!total)
		return -ENOMEM;
	for (i = 0; i < rp->nr_points; i++) {
		total[i] = rp->points[i].dirty;
		if (rp->points[i].time > fr.tmax)
			fr.tmax = rp->points[i].time;
		if (total[i] > fr.ymax)
			fr.ymax = total[i];
	}
	f = fopen(path, "we");
	if (!f) {
		free(total);
		return -errno;
	}
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/"
		"2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
		"font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
		PLOT_W, PLOT_H);
	plot_marks(f, rp, &fr);
	plot_axes(f, rp, &fr);
	if (rp->nr_sets) {
		plot_sets(f, rp, &fr, total);
		goto out;
	}
	plot_line(f, rp, &fr, total, 0, "black", "all mappings", 0);
	qsort(rp->series, rp->nr_series, sizeof(*rp->series), by_sum);
	shown = rp->nr_series < PLOT_SERIES ? rp->nr_series : PLOT_SERIES;
	for (k = 0; k < shown; k++) {
		struct series *s = &rp->series[k];
		char name[96];
		double *v = calloc(rp->nr_points + 1, sizeof(*v));

		if (!v)
			break;
		for (i = 0; i < s->n; i++)
			v[i] = s->dirty[i];
		snprintf(name, sizeof(name), "%.60s %" PRIx64, s->label[0] ? s->label : "[anon]",
			 s->start);
		plot_line(f, rp, &fr, v, 0, colours[k % ARRAY_SIZE(colours)], name, k + 1);
		free(v);
	}
out:
	fprintf(f, "</svg>\n");
	free(total);
	/* a write that failed before the close leaves only the error flag */
	ret = fflush(f) ? -errno : ferror(f) ? -EIO : 0;
	if (fclose(f) && !ret)
		ret = -errno;
	return ret;
}

/* ---- the command ------------------------------------------------------- */

static int on_record(struct report *rp, const struct jr_record *rec)
{
	const char *name = rec->fmt ? rec->fmt->name : "";

	if (rp->o->raw) {
		print_raw(rp, rec);
		if (!strcmp(name, "end"))
			on_end(rp, rec);
		return 0;
	}
	if (strcmp(name, "mapping") && strcmp(name, "dirty") && strcmp(name, "loss") &&
	    strcmp(name, "rescan") && strcmp(name, "freeze"))
		end_epoch(rp);
	if (strcmp(name, "summary_range"))
		end_summary(rp);
	if (!strcmp(name, "start"))
		on_start(rp, rec);
	else if (!strcmp(name, "epoch"))
		return on_epoch(rp, rec);
	else if (!strcmp(name, "mapping"))
		return on_mapping(rp, rec);
	else if (!strcmp(name, "dirty"))
		return on_dirty(rp, rec);
	else if (!strcmp(name, "freeze"))
		on_freeze(rp, rec);
	else if (!strcmp(name, "summary"))
		on_summary(rp, rec);
	else if (!strcmp(name, "summary_range"))
		return on_summary_range(rp, rec);
	else if (!strcmp(name, "dump_iter"))
		on_dump_iter(rp, rec);
	else if (!strcmp(name, "dump_pending"))
		on_dump_pending(rp, rec);
	else if (!strcmp(name, "dump_summary"))
		on_dump_summary(rp, rec);
	else if (!strcmp(name, "set"))
		return on_set(rp, rec);
	else if (!strcmp(name, "unwatched"))
		on_unwatched(rp, rec);
	else if (!strcmp(name, "follow"))
		on_follow(rp, rec);
	else if (!strcmp(name, "end"))
		on_end(rp, rec);
	else if (strcmp(name, "loss") && strcmp(name, "rescan"))
		rp->skipped++;	/* a record this vmtrack does not know */
	return 0;
}

static const char * const usage_msg[] = {
	"",
	"  usage: vmtrack report [-j] [-d] FILE",
	"         vmtrack report -p OUT.svg FILE",
	"         vmtrack report -r FILE",
	"",
	"  Decode the journal of a vmtrack watch, run or dump (--journal FILE).",
	"",
	"	  -j/--json: the JSON lines of the run instead of its text",
	"	  -d/--dirty: list the dirty ranges of each epoch (journaled with",
	"			--journal-ranges)",
	"	  -p/--plot OUT.svg: draw the dirty pages per epoch into OUT.svg instead",
	"	  -r/--raw: every record through the journal's own format strings",
	"	  -h/--help: print this menu",
	NULL,
};

static int parse(int argc, char **argv, struct report_opts *o, char *err, size_t len)
{
	static const struct option longopts[] = {
		{ "json",	no_argument,		NULL, 'j' },
		{ "dirty",	no_argument,		NULL, 'd' },
		{ "plot",	required_argument,	NULL, 'p' },
		{ "raw",	no_argument,		NULL, 'r' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, before;

	*o = (struct report_opts){ 0 };
	/* 0: a full reset of getopt, the tests call this more than once */
	optind = 0;
	opterr = 0;
	for (before = optind; (c = getopt_long(argc, argv, "+:jdp:rh", longopts, NULL)) != -1;
	     before = optind) {
		switch (c) {
		case 'j':
			o->json = true;
			break;
		case 'd':
			o->list_dirty = true;
			break;
		case 'p':
			if (!*optarg) {
				snprintf(err, len, "empty plot file name");
				return -EINVAL;
			}
			o->plot = optarg;
			break;
		case 'r':
			o->raw = true;
			break;
		case 'h':
			return VMTRACK_PARSE_HELP;
		default:
			vmtrack_option_error(err, len, argv, longopts, c, before);
			return -EINVAL;
		}
	}
	/* each prints something else: one given with another would be ignored */
	if (o->plot && (o->json || o->list_dirty || o->raw)) {
		snprintf(err, len, "--plot draws the epochs, it prints no lines: not with %s",
			 o->raw ? "--raw" : o->json ? "--json" : "--dirty");
		return -EINVAL;
	}
	if (o->raw && (o->json || o->list_dirty)) {
		snprintf(err, len, "--raw prints the records as they are: not with %s",
			 o->json ? "--json" : "--dirty");
		return -EINVAL;
	}
	if (optind != argc - 1) {
		snprintf(err, len, optind < argc ? "one journal file at a time" :
			 "missing journal file");
		return -EINVAL;
	}
	o->file = argv[optind];
	if (!*o->file) {
		snprintf(err, len, "empty journal file name");
		return -EINVAL;
	}
	return 0;
}

static void report_free(struct report *rp)
{
	size_t i;

	for (i = 0; i < rp->nr_series; i++)
		free(rp->series[i].dirty);
	free(rp->series);
	free(rp->points);
	free(rp->maps);
	free(rp->dirty);
	free(rp->sum_ranges);
	free(rp->sets);
	jreader_close(rp->r);
}

static void read_meta(struct report *rp)
{
	const char *v;

	rp->command = jreader_meta(rp->r, "command") ?: "?";
	rp->dump = !strcmp(rp->command, "dump");
	v = jreader_meta(rp->r, "pid");
	rp->pid = v ? atoi(v) : 0;
	v = jreader_meta(rp->r, "page_size");
	rp->page_size = v && atol(v) > 0 ? atol(v) : 4096;
	v = jreader_meta(rp->r, "ranges");
	rp->has_ranges = v && !strcmp(v, "yes");
}

/* the records, then what is still pending; Return: 0, or 2 if reading stopped early */
static int decode(struct report *rp)
{
	struct jr_record rec;
	int ret, status = EXIT_SUCCESS;

	while ((ret = jreader_next(rp->r, &rec)) == 1) {
		if (on_record(rp, &rec)) {
			fprintf(stderr, "vmtrack report: out of memory\n");
			return EXIT_FAILURE;
		}
	}
	end_epoch(rp);
	end_summary(rp);
	out_flush(stdout);
	if (ret < 0) {
		fprintf(stderr, "vmtrack report: %s: %s\n", rp->o->file, jreader_error(rp->r));
		status = 2;
	} else if (!rp->ended) {
		fprintf(stderr, "vmtrack report: %s: no end record, the run did not finish\n",
			rp->o->file);
		status = 2;
	} else if (rp->dump && rp->end_status == 2) {
		fprintf(stderr, "vmtrack report: %s: the dump is complete, but its output "
			"could not be written (vmtrack exited with status 2)\n", rp->o->file);
	} else if (rp->end_status) {
		/* read in full: the run itself failed, as its own message said */
		fprintf(stderr, "vmtrack report: %s: the run failed (vmtrack exited with "
			"status %" PRIu64 ")\n", rp->o->file, rp->end_status);
	}
	if (rp->skipped)
		fprintf(stderr, "vmtrack report: %s: %" PRIu64 " records of unknown types "
			"skipped\n", rp->o->file, rp->skipped);
	return status;
}

/**
 * cmd_report() - vmtrack report
 * @argc:	argument count (argv[0] = "report")
 * @argv:	arguments
 *
 * Return: exit status: 0, 1 on bad options or a file that is not a journal,
 * 2 when the journal ends early (a record cut short or damaged, or no end
 * record): what came before was printed.
 */
int cmd_report(int argc, char **argv)
{
	struct report rp = { 0 };
	struct report_opts o;
	const char *why;
	char err[256];
	int ret;

	ret = parse(argc, argv, &o, err, sizeof(err));
	if (ret == VMTRACK_PARSE_HELP) {
		vmtrack_print_lines(stdout, usage_msg);
		return EXIT_SUCCESS;
	}
	if (ret) {
		fprintf(stderr, "vmtrack report: %s (see 'vmtrack report --help')\n", err);
		return EXIT_FAILURE;
	}
	rp.o = &o;
	rp.r = jreader_open(o.file, err, sizeof(err));
	if (!rp.r) {
		fprintf(stderr, "vmtrack report: %s: %s\n", o.file, err);
		return EXIT_FAILURE;
	}
	read_meta(&rp);
	ret = decode(&rp);
	if (ret != EXIT_FAILURE && o.plot) {
		int pret = write_plot(&rp, o.plot);

		if (pret) {
			fprintf(stderr, "vmtrack report: %s: %s\n", o.plot, strerror(-pret));
			ret = EXIT_FAILURE;
		}
	}
	why = out_write_error(stdout);
	if (why) {
		fprintf(stderr, "vmtrack report: writing standard output: %s\n", why);
		ret = EXIT_FAILURE;
	}
	report_free(&rp);
	return ret;
}
