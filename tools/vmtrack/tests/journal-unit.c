// SPDX-License-Identifier: GPL-2.0-only
/*
 * Host unit tests of the journal (--journal) and vmtrack report: round trips
 * of every record, the text and JSON that report prints against the output
 * functions of a live run fed the same values, journals cut at every byte of
 * their last record, damaged bytes, records of a newer writer, a format
 * table in another order, and the journal of an older vmtrack checked in as
 * tests/journal-v1.bin. TAP, like tests/unit.c.
 *
 *   tests/journal-unit [FIXTURE]
 *   tests/journal-unit --write-fixture FILE	(writes the checked-in journal)
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmtrack-cmd.h"
#include "journal.h"
#include "harness.h"

#define NR_EPOCHS	12
#define NR_MAPS		3
#define PAGE		4096UL

static char tmpdir[] = "/tmp/journal-unit.XXXXXX";
static const char *fixture;

/* ---- a synthetic run: the values a live run would journal and print ---- */

static const char * const labels[NR_MAPS] = { "[heap]", "", "/usr/lib/libc.so.6" };

struct synth {
	struct vmtrack_epoch	ep;
	struct out_epoch_info	e;
	struct out_range	maps[NR_MAPS];
	struct iovec		dirty[4];
};

/* the checked-in journal of format 1.0 predates the epoch's "swept" fields */
static bool format_1_0;

static void synth_epoch(unsigned int i, struct synth *s)
{
	size_t k, n = 0;

	memset(s, 0, sizeof(*s));
	for (k = 0; k < NR_MAPS; k++) {
		uint64_t start = 0x7f0000000000ULL + k * 0x100000;

		if ((i + k) % 3 == 0)
			continue;
		s->maps[n] = (struct out_range){ start, start + 0x40000, 64, (i * 7 + k) % 50 + 1,
						 0, labels[k] };
		s->dirty[n].iov_base = (void *)(uintptr_t)(start + PAGE * (i % 5));
		s->dirty[n].iov_len = PAGE * s->maps[n].last;
		n++;
	}
	s->ep = (struct vmtrack_epoch){
		.seq = i + 1,
		.loss = i == 4 ? VMTRACK_LOSS_EVENTS | VMTRACK_LOSS_TAMPER : 0,
		.all_dirty = i == 4,
		.swept = !format_1_0 && i == 5,
		.swept_pages = !format_1_0 && i == 5 ? 7 : 0,
		.dense = !format_1_0 && i >= 6,
		.target_gone = i == NR_EPOCHS - 1,
		.lost_events = i == 4 ? 2213 : 0,
		.events = 100 + i * 13,
		.stray_pages = i == 2 ? 3 : 0,
		.new_pages = i == 1 ? 17 : 0,
		.watched_pages = 192 + (i >= 1 ? 17 : 0),
		.rearm_failed = i == 6 ? 1 : 0,
		.dirty = s->dirty,
		.nr_dirty = n,
	};
	for (k = 0; k < n; k++)
		s->ep.dirty_pages += s->maps[k].last;
	s->e = (struct out_epoch_info){
		.ep = &s->ep,
		.time = 0.25 * (i + 1) + 1e-4 * i,
		.duration = 0.25 + 1e-4,
		.final = i == NR_EPOCHS - 1,
		.nr_tracked = NR_MAPS,
		.ranges = s->maps,
		.nr_ranges = n,
		.has_ranges = true,
	};
	for (k = 0; k < n; k++)
		if (s->maps[k].last > s->e.busiest.last)
			s->e.busiest = s->maps[k];
}

static struct vmtrack_run_stats synth_stats = {
	.epochs = NR_EPOCHS, .loss_epochs = 1, .lost_events = 2213, .dirty_pages = 345,
	.seconds = 3.125,
};

static struct out_range synth_summary[NR_MAPS] = {
	{ 0x7f0000000000ULL, 0x7f0000040000ULL, 64, 5, 120, "[heap]" },
	{ 0x7f0000100000ULL, 0x7f0000140000ULL, 64, 0, 100, "" },
	{ 0x7f0000200000ULL, 0x7f0000240000ULL, 64, 9, 125, "/usr/lib/libc.so.6" },
};

#define SYNTH_PID	4242

static char *const synth_argv[] = { "workload", "-s", "-p", "256", NULL };

/* a whole watch/run journal of the synthetic run */
static int write_run(const char *path, unsigned int flags)
{
	struct journal *j;
	struct synth s;
	char err[256];
	unsigned int i;

	j = journal_open(path, flags, err, sizeof(err));
	if (!j) {
		printf("# %s\n", err);
		return -1;
	}
	journal_target(j, "run", SYNTH_PID, synth_argv);
	journal_start(j, 250, NR_MAPS, 192, 512);
	for (i = 0; i < NR_EPOCHS; i++) {
		synth_epoch(i, &s);
		journal_epoch(j, &s.e);
	}
	journal_freeze(j, NR_EPOCHS, 1.75);
	journal_summary(j, SYNTH_PID, &synth_stats, 209, synth_summary, NR_MAPS, 0);
	return journal_close(j, 0, err, sizeof(err));
}

static const struct dump_iter_info synth_iters[] = {
	{ 1, false, 0, 4590, 0, 92, 2.71, 6.9e6, false, 0, "no", 0, 0 },
	{ 2, false, 4281, 1375, 3468, 61, 0.174, 3.2e7, true, VMTRACK_LOSS_EVENTS, "no", 30,
	  0.061 },
	{ 3, true, 336, 173, 4731, 0, 0.012, 5.8e7, false, 0, "downtime", 0, 0 },
};

static const struct dump_summary_info synth_dump_summary = {
	SYNTH_PID, "/tmp/d2", 3, 6138, "downtime", 17.5, 8.241, 2.1e7, true,
};

static int write_dump(const char *path)
{
	struct journal *j;
	char err[256];

	j = journal_open(path, 0, err, sizeof(err));
	if (!j)
		return -1;
	journal_target(j, "dump", SYNTH_PID, synth_argv);
	journal_meta(j, "dest", "/tmp/d2");
	journal_start(j, 0, NR_MAPS, 192, 512);
	journal_dump_iter(j, &synth_iters[0]);
	journal_dump_pending(j, 4281, 2527.4, "");
	journal_dump_iter(j, &synth_iters[1]);
	journal_dump_pending(j, 336, 159.0, "downtime");
	journal_freeze(j, 3, 17.5);
	journal_dump_iter(j, &synth_iters[2]);
	journal_dump_summary(j, &synth_dump_summary);
	return journal_close(j, 0, err, sizeof(err));
}

/* ---- helpers ------------------------------------------------------------ */

/* a file in the test's directory; the name stays valid for 31 more calls */
static char *tmp_path(const char *name)
{
	static char path[32][256];
	static int k;

	k = (k + 1) % 32;
	snprintf(path[k], sizeof(path[k]), "%s/%s", tmpdir, name);
	return path[k];
}

static uint8_t *slurp(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st)) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	buf = malloc(st.st_size + 1);
	if (buf && read(fd, buf, st.st_size) != st.st_size) {
		free(buf);
		buf = NULL;
	}
	close(fd);
	*len = st.st_size;
	return buf;
}

static void spill(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || write(fd, buf, len) != (ssize_t)len)
		printf("# cannot write %s\n", path);
	if (fd >= 0)
		close(fd);
}

/* vmtrack report ARGS with its stdout and stderr in files; its exit status */
static int run_report(const char *out, const char *errf, const char *a1, const char *a2)
{
	char *argv[4] = { "report", (char *)a1, (char *)a2, NULL };
	int argc = 1 + !!a1 + !!a2, so, se, fo, fe, ret;

	fflush(stdout);
	fflush(stderr);
	so = dup(STDOUT_FILENO);
	se = dup(STDERR_FILENO);
	fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	fe = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	dup2(fo, STDOUT_FILENO);
	dup2(fe, STDERR_FILENO);
	ret = cmd_report(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(so, STDOUT_FILENO);
	dup2(se, STDERR_FILENO);
	close(so);
	close(se);
	close(fo);
	close(fe);
	return ret;
}

static bool same_files(const char *a, const char *b)
{
	size_t la, lb;
	uint8_t *x = slurp(a, &la), *y = slurp(b, &lb);
	bool same = x && y && la == lb && !memcmp(x, y, la);

	if (!same)
		printf("#   %s and %s differ (%zu and %zu bytes)\n", a, b, la, lb);
	free(x);
	free(y);
	return same;
}

static bool file_has(const char *path, const char *text)
{
	size_t len;
	uint8_t *buf = slurp(path, &len);
	bool found;

	if (!buf)
		return false;
	buf[len] = '\0';
	found = strstr((char *)buf, text);
	if (!found)
		printf("#   %s lacks '%s': %s\n", path, text, (char *)buf);
	free(buf);
	return found;
}

/* the text (or JSON) a live run prints for the synthetic run */
static void expected_run(const char *path, bool json, bool with_ranges)
{
	FILE *f = fopen(path, "w");
	struct synth s;
	unsigned int i;

	if (!f)
		return;
	if (!json)
		out_start_text(f, "run", SYNTH_PID, 250);
	for (i = 0; i < NR_EPOCHS; i++) {
		synth_epoch(i, &s);
		s.e.has_ranges = with_ranges;
		if (json)
			out_epoch_json(f, &s.e);
		else
			out_epoch_text(f, &s.e, with_ranges, PAGE);
	}
	if (json)
		out_summary_json(f, SYNTH_PID, &synth_stats, 209, synth_summary, NR_MAPS);
	else
		out_summary_text(f, SYNTH_PID, &synth_stats, synth_summary, NR_MAPS);
	fclose(f);
}

/* data records of a journal in memory; @err_out receives where it stopped */
static int count_records(const void *buf, size_t len, char *stop, size_t stoplen,
			 uint64_t *stop_at)
{
	struct jr_record rec;
	struct jreader *r;
	char err[256];
	int n = 0, ret;

	r = jreader_open_mem(buf, len, err, sizeof(err));
	if (!r) {
		snprintf(stop, stoplen, "%s", err);
		return -1;
	}
	while ((ret = jreader_next(r, &rec)) == 1)
		n++;
	snprintf(stop, stoplen, "%s", ret < 0 ? jreader_error(r) : "");
	*stop_at = jreader_stop_offset(r);
	jreader_close(r);
	return n;
}

/* offsets of the records after the file header */
static size_t record_offsets(const uint8_t *buf, size_t len, size_t *off, size_t max)
{
	size_t pos = JOURNAL_FILE_HDR, n = 0;
	uint32_t rl;

	while (pos + 4 <= len && n < max) {
		memcpy(&rl, buf + pos, 4);
		off[n++] = pos;
		pos += le32toh(rl);
	}
	return n;
}

/* ---- tests -------------------------------------------------------------- */

static void check_epochs(struct jreader *r, bool ranges)
{
	struct jr_record rec;
	unsigned int i = 0, maps = 0, dirty = 0;
	struct synth s;
	int f;

	while (jreader_next(r, &rec) == 1) {
		CHECK(rec.fmt != NULL);
		if (!rec.fmt)
			continue;
		if (!strcmp(rec.fmt->name, "epoch")) {
			synth_epoch(i++, &s);
			CHECK_EQ(jr_u64(&rec, jr_field(rec.fmt, "seq")), s.ep.seq);
			CHECK(jr_f64(&rec, jr_field(rec.fmt, "time")) == s.e.time);
			CHECK(jr_f64(&rec, jr_field(rec.fmt, "duration")) == s.e.duration);
			CHECK_EQ(jr_u64(&rec, jr_field(rec.fmt, "dirty_pages")), s.ep.dirty_pages);
			CHECK_EQ(jr_u64(&rec, jr_field(rec.fmt, "watched_pages")),
				 s.ep.watched_pages);
			CHECK_EQ(jr_u64(&rec, jr_field(rec.fmt, "loss")), s.ep.loss);
			CHECK_EQ(jr_u64(&rec, jr_field(rec.fmt, "lost_events")), s.ep.lost_events);
			CHECK_EQ(jr_u64(&rec, jr_field(rec.fmt, "events")), s.ep.events);
			CHECK_EQ(jr_u64(&rec, jr_field(rec.fmt, "new_pages")), s.ep.new_pages);
			CHECK_EQ(jr_u64(&rec, jr_field(rec.fmt, "stray_pages")), s.ep.stray_pages);
			CHECK_EQ(jr_u64(&rec, jr_field(rec.fmt, "rearm_failed")),
				 s.ep.rearm_failed);
			CHECK_EQ(jr_u64(&rec, jr_field(rec.fmt, "nr_dirty")), s.ep.nr_dirty);
			CHECK_EQ(jr_u64(&rec, jr_field(rec.fmt, "final")), s.e.final);
			CHECK_EQ(jr_u64(&rec, jr_field(rec.fmt, "target_gone")), s.ep.target_gone);
			CHECK_EQ(jr_u64(&rec, jr_field(rec.fmt, "all_dirty")), s.ep.all_dirty);
			CHECK_EQ(jr_u64(&rec, jr_field(rec.fmt, "swept")), s.ep.swept);
			CHECK_EQ(jr_u64(&rec, jr_field(rec.fmt, "swept_pages")), s.ep.swept_pages);
			CHECK_EQ(jr_u64(&rec, jr_field(rec.fmt, "dense")), s.ep.dense);
			f = jr_field(rec.fmt, "busiest_label");
			CHECK(!strcmp(jr_str(r, &rec, f), s.e.busiest.label ?: ""));
			CHECK_EQ(rec.len, rec.fmt->fixed);
		} else if (!strcmp(rec.fmt->name, "mapping")) {
			maps++;
			CHECK_EQ(rec.len, rec.fmt->fixed);
		} else if (!strcmp(rec.fmt->name, "dirty")) {
			dirty++;
		} else if (rec.fmt->fmt[0] && strcmp(rec.fmt->name, "dirty")) {
			CHECK_EQ(rec.len, rec.fmt->fixed);
		}
	}
	CHECK_EQ(i, NR_EPOCHS);
	CHECK(ranges ? maps > NR_EPOCHS && dirty == NR_EPOCHS : !maps && !dirty);
	CHECK(!jreader_error(r)[0]);
}

static void test_round_trip(void)
{
	const char *path = tmp_path("rt.j");
	struct jreader *r;
	char err[256];

	CHECK(!write_run(path, JOURNAL_RANGES));
	r = jreader_open(path, err, sizeof(err));
	CHECK(r != NULL);
	if (!r)
		return;
	CHECK(!strcmp(jreader_meta(r, "command") ?: "", "run"));
	CHECK(!strcmp(jreader_meta(r, "pid") ?: "", "4242"));
	CHECK(!strcmp(jreader_meta(r, "target") ?: "", "workload -s -p 256"));
	CHECK(!strcmp(jreader_meta(r, "tool") ?: "", "vmtrack " VMTRACK_VERSION));
	CHECK(jreader_meta(r, "kernel") != NULL);
	CHECK_EQ(jreader_minor(r), JOURNAL_MINOR);
	check_epochs(r, true);
	jreader_close(r);

	CHECK(!write_run(path, 0));
	r = jreader_open(path, err, sizeof(err));
	CHECK(r != NULL);
	if (r)
		check_epochs(r, false);
	jreader_close(r);
}

static void test_report_text(void)
{
	const char *j = tmp_path("text.j"), *got = tmp_path("text.out"),
		   *want = tmp_path("text.want"), *e = tmp_path("text.err");

	CHECK(!write_run(j, JOURNAL_RANGES));
	CHECK_EQ(run_report(got, e, j, NULL), 0);
	expected_run(want, false, false);
	CHECK(same_files(got, want));
	CHECK_EQ(run_report(got, e, "-d", j), 0);
	expected_run(want, false, true);
	CHECK(same_files(got, want));
	CHECK(file_has(got, "LOSS(events,tamper): 2213 events lost"));
	CHECK(file_has(got, "most: "));
}

static void test_report_json(void)
{
	const char *j = tmp_path("json.j"), *got = tmp_path("json.out"),
		   *want = tmp_path("json.want"), *e = tmp_path("json.err");

	CHECK(!write_run(j, JOURNAL_RANGES));
	CHECK_EQ(run_report(got, e, "--json", j), 0);
	expected_run(want, true, true);
	CHECK(same_files(got, want));
	/* without the ranges, the lines lack "mappings" and "dirty" only */
	CHECK(!write_run(j, 0));
	CHECK_EQ(run_report(got, e, "--json", j), 0);
	expected_run(want, true, false);
	CHECK(same_files(got, want));
	CHECK(file_has(got, "\"loss\":\"events,tamper\""));
}

/* ---- a followed tree: two dirty sets and a process without one ---- */

static struct out_set synth_sets[2] = {
	{ .set = 1, .pid = SYNTH_PID, .ppid = 4200, .comm = "sh", .origin = "run", .time = 0.01 },
	{ .set = 2, .pid = SYNTH_PID + 1, .ppid = SYNTH_PID, .comm = "cc1", .origin = "exec",
	  .time = 0.6 },
};

static const struct out_tree_stats synth_tree = {
	.pid = SYNTH_PID, .sets = 2, .processes = 3, .unwatched = 1, .epochs = NR_EPOCHS / 2,
	.seconds = 3.5, .dirty_pages = 690, .loss_epochs = 2,
};

/*
 * The records or the lines of the tree in the order of a live run: set 1,
 * then set 2 from the third epoch on, their epochs interleaved, a process
 * without a set, the summaries (set 2 ends first), the end. @f: print what
 * the live run prints (text or @json), else journal into @j.
 */
static void tree_run(struct journal *j, FILE *f, bool json)
{
	struct synth s;
	unsigned int i;

	for (i = 0; i < NR_EPOCHS; i++) {
		if (i == 0 || i == 2) {
			if (f)
				out_set_start_line(f, json, &synth_sets[i / 2], 100 + i);
			else
				journal_set(j, &synth_sets[i / 2], 100 + i);
		}
		if (i == 3) {
			if (f && json)
				out_unwatched_json(f, SYNTH_PID + 2, "as", "too many processes");
			else if (!f)
				journal_unwatched(j, SYNTH_PID + 2, "as", "too many processes");
		}
		synth_epoch(i, &s);
		s.e.set = &synth_sets[i >= 2 && i % 2];
		s.ep.seq = i / 2 + 1;
		if (!f)
			journal_epoch(j, &s.e);
		else if (json)
			out_epoch_json(f, &s.e);
		else
			out_epoch_text(f, &s.e, false, PAGE);
	}
	for (i = 2; i-- > 0; ) {
		if (!f)
			journal_summary(j, synth_sets[i].pid, &synth_stats, 209, synth_summary,
					NR_MAPS, synth_sets[i].set);
		else if (json)
			out_summary_set_json(f, &synth_sets[i], synth_sets[i].pid, &synth_stats,
					     209, synth_summary, NR_MAPS);
		else
			out_summary_set_text(f, &synth_sets[i], synth_sets[i].pid, &synth_stats,
					     synth_summary, NR_MAPS);
	}
	if (f)
		out_tree_end_line(f, json, &synth_tree);
	else
		journal_follow(j, &synth_tree);
}

static void test_report_follow(void)
{
	const char *jp = tmp_path("follow.j"), *got = tmp_path("follow.out"),
		   *want = tmp_path("follow.want"), *e = tmp_path("follow.err");
	struct journal *j;
	char err[256];
	bool json;
	FILE *f;

	j = journal_open(jp, JOURNAL_RANGES, err, sizeof(err));
	CHECK(j != NULL);
	if (!j)
		return;
	journal_target(j, "run", SYNTH_PID, synth_argv);
	journal_start(j, 250, 0, 0, 0);
	tree_run(j, NULL, false);
	CHECK(!journal_close(j, 0, err, sizeof(err)));
	for (json = false; ; json = true) {
		CHECK_EQ(json ? run_report(got, e, "--json", jp) : run_report(got, e, jp, NULL), 0);
		f = fopen(want, "w");
		if (!f)
			return;
		if (!json)
			out_start_text(f, "run", SYNTH_PID, 250);
		tree_run(NULL, f, json);
		fclose(f);
		CHECK(same_files(got, want));
		if (json)
			break;
	}
	CHECK(file_has(got, "{\"epoch\":3,\"set\":2,\"pid\":4243,\"comm\":\"cc1\","));
	CHECK(file_has(got, "{\"process\":{\"set\":2,\"pid\":4243,\"ppid\":4242,\"comm\":\"cc1\","
		       "\"origin\":\"exec\""));
	CHECK(file_has(got, "{\"unwatched\":{\"pid\":4244,\"comm\":\"as\""));
	CHECK(file_has(got, "{\"follow\":{\"pid\":4242,\"sets\":2,\"processes\":3,"));
	CHECK(file_has(want, "{\"summary\":{\"set\":1,\"comm\":\"sh\""));
}

static void test_report_dump(void)
{
	const char *j = tmp_path("dump.j"), *got = tmp_path("dump.out"),
		   *want = tmp_path("dump.want"), *e = tmp_path("dump.err");
	FILE *f;
	bool json;

	CHECK(!write_dump(j));
	for (json = false; ; json = true) {
		f = fopen(want, "w");
		if (!f)
			return;
		dump_print_iter(f, json, "/tmp/d2", PAGE, &synth_iters[0]);
		if (!json)
			dump_print_pending(f, 4281, 2527.4, "");
		dump_print_iter(f, json, "/tmp/d2", PAGE, &synth_iters[1]);
		if (!json)
			dump_print_pending(f, 336, 159.0, "downtime");
		dump_print_iter(f, json, "/tmp/d2", PAGE, &synth_iters[2]);
		dump_print_summary(f, json, &synth_dump_summary);
		fclose(f);
		CHECK_EQ(run_report(got, e, json ? "-j" : j, json ? j : NULL), 0);
		CHECK(same_files(got, want));
		if (json)
			break;
	}
	CHECK(file_has(got, "\"stop\":\"downtime\""));
}

static void test_plot(void)
{
	const char *j = tmp_path("plot.j"), *svg = tmp_path("plot.svg"),
		   *out = tmp_path("plot.out"), *e = tmp_path("plot.err");
	char arg[300];

	CHECK(!write_run(j, JOURNAL_RANGES));
	snprintf(arg, sizeof(arg), "--plot=%s", svg);
	CHECK_EQ(run_report(out, e, arg, j), 0);
	CHECK(file_has(svg, "<svg "));
	CHECK(file_has(svg, "</svg>"));
	CHECK(file_has(svg, "[heap] 7f0000000000"));
	CHECK(file_has(svg, "/usr/lib/libc.so.6"));
	CHECK(file_has(svg, "freeze 1.8 ms"));
	CHECK(file_has(svg, "<title>epoch 5: loss</title>"));
}

/* a journal cut anywhere in its last record: the others decode, the cut is named */
static void test_truncated(void)
{
	const char *path = tmp_path("cut.j");
	size_t len, off[4096], n, cut, last;
	char stop[256], want[64];
	uint64_t at;
	uint8_t *buf;
	int total;

	CHECK(!write_run(path, JOURNAL_RANGES));
	buf = slurp(path, &len);
	if (!buf)
		return;
	total = count_records(buf, len, stop, sizeof(stop), &at);
	CHECK(total > NR_EPOCHS && !stop[0]);
	n = record_offsets(buf, len, off, 4096);
	last = off[n - 1];
	snprintf(want, sizeof(want), "stopped at byte %zu: truncated record", last);
	for (cut = last + 1; cut < len; cut++) {
		int got = count_records(buf, cut, stop, sizeof(stop), &at);

		if (got != total - 1 || strcmp(stop, want) || at != last) {
			printf("#   cut at %zu: %d records, '%s'\n", cut, got, stop);
			CHECK(0);
			break;
		}
	}
	/* at the boundary: complete records only, no error (the end record is missing) */
	CHECK_EQ(count_records(buf, last, stop, sizeof(stop), &at), total - 1);
	CHECK(!stop[0]);
	spill(tmp_path("cut2.j"), buf, last + 5);
	CHECK_EQ(run_report(tmp_path("cut.out"), tmp_path("cut.err"), tmp_path("cut2.j"), NULL),
		 2);
	CHECK(file_has(tmp_path("cut.err"), want));
	spill(tmp_path("cut3.j"), buf, last);
	CHECK_EQ(run_report(tmp_path("cut.out"), tmp_path("cut.err"), tmp_path("cut3.j"), NULL),
		 2);
	CHECK(file_has(tmp_path("cut.err"), "no end record"));
	/* cut in the file header */
	CHECK_EQ(count_records(buf, 10, stop, sizeof(stop), &at), -1);
	CHECK(!strcmp(stop, "not a vmtrack journal"));
	free(buf);
}

/* every byte of a record changed: reading stops at that record */
static void flip_record(uint8_t *buf, size_t len, size_t start, size_t end, int before)
{
	char stop[256], want[64];
	size_t i;
	uint64_t at;
	int got;

	snprintf(want, sizeof(want), "stopped at byte %zu: ", start);
	for (i = start; i < end; i++) {
		buf[i] ^= 0x5a;
		got = count_records(buf, len, stop, sizeof(stop), &at);
		buf[i] ^= 0x5a;
		if (got > before || strncmp(stop, want, strlen(want)) || at != start) {
			printf("#   byte %zu flipped: %d records (%d before it), '%s'\n", i, got,
			       before, stop);
			CHECK(0);
			return;
		}
		/* the length field may make it look cut short; the payload, bad */
		if (i >= start + JOURNAL_REC_HDR && !strstr(stop, "bad checksum")) {
			printf("#   byte %zu flipped: '%s'\n", i, stop);
			CHECK(0);
			return;
		}
	}
}

static void test_corrupted(void)
{
	const char *path = tmp_path("flip.j");
	size_t len, off[4096], n, k, epoch_at = 0;
	struct jreader *r;
	struct jr_record rec;
	int data = 0, before = 0;
	char err[256];
	uint8_t *buf;

	CHECK(!write_run(path, JOURNAL_RANGES));
	buf = slurp(path, &len);
	if (!buf)
		return;
	n = record_offsets(buf, len, off, 4096);
	/* the last record, and an epoch record in the middle */
	flip_record(buf, len, off[n - 1], len, INT32_MAX);
	r = jreader_open_mem(buf, len, err, sizeof(err));
	while (r && jreader_next(r, &rec) == 1) {
		if (rec.fmt && !strcmp(rec.fmt->name, "epoch") && ++data == NR_EPOCHS / 2) {
			epoch_at = rec.offset;
			break;
		}
		before++;
	}
	jreader_close(r);
	CHECK(epoch_at != 0);
	for (k = 0; k < n && off[k] != epoch_at; k++)
		;
	CHECK(k + 1 < n);
	if (k + 1 >= n) {
		free(buf);
		return;
	}
	flip_record(buf, len, off[k], off[k + 1], before);
	/* and the report says so */
	buf[off[k] + JOURNAL_REC_HDR + 3] ^= 1;
	spill(tmp_path("flip2.j"), buf, len);
	CHECK_EQ(run_report(tmp_path("flip.out"), tmp_path("flip.err"), tmp_path("flip2.j"),
			    NULL), 2);
	snprintf(err, sizeof(err), "stopped at byte %zu: bad checksum", off[k]);
	CHECK(file_has(tmp_path("flip.err"), err));
	free(buf);
}

/* frame a record as a writer does */
static size_t frame(uint8_t *out, uint16_t id, const void *payload, size_t len)
{
	uint32_t l = htole32(JOURNAL_REC_HDR + len), c;
	uint16_t i = htole16(id), z = 0;

	memcpy(out, &l, 4);
	memcpy(out + 4, &i, 2);
	memcpy(out + 6, &z, 2);
	memcpy(out + JOURNAL_REC_HDR, payload, len);
	c = htole32(journal_checksum(out, JOURNAL_REC_HDR + len));
	memcpy(out + 8, &c, 4);
	return JOURNAL_REC_HDR + len;
}

/*
 * A newer writer: a record id with a format this vmtrack does not know and
 * one without any format, before the summary. Both are skipped and
 * counted; the output is that of the journal without them.
 */
static void test_unknown_ids(void)
{
	const char *path = tmp_path("new.j"), *newer = tmp_path("newer.j");
	static const uint8_t fmt[] = { 40, 0, 1, 0, 'w', 'i', 'd', 'g', 'e', 't', 0,
				       'w', ' ', '%', 'u', 0, JT_U64, 'n', 0 };
	uint8_t payload[8] = { 7 }, *buf, *out;
	size_t len, off[4096], n, k, pos, sum_at = 0;
	struct jr_record rec;
	struct jreader *r;
	char err[256];
	int unknown = 0;

	CHECK(!write_run(path, 0));
	buf = slurp(path, &len);
	out = malloc(len + 256);
	if (!buf || !out)
		return;
	n = record_offsets(buf, len, off, 4096);
	r = jreader_open_mem(buf, len, err, sizeof(err));
	while (r && jreader_next(r, &rec) == 1)
		if (rec.fmt && !strcmp(rec.fmt->name, "summary"))
			sum_at = rec.offset;
	jreader_close(r);
	for (k = 0; k < n && off[k] != sum_at; k++)
		;
	CHECK(sum_at && k < n);
	if (!sum_at || k >= n) {
		free(buf);
		free(out);
		return;
	}
	memcpy(out, buf, off[k]);
	pos = off[k];
	pos += frame(out + pos, JR_FORMAT, fmt, sizeof(fmt));
	pos += frame(out + pos, 40, payload, sizeof(payload));
	pos += frame(out + pos, 41, payload, 5);
	pos += frame(out + pos, 40, payload, sizeof(payload));
	memcpy(out + pos, buf + off[k], len - off[k]);
	spill(newer, out, pos + len - off[k]);

	r = jreader_open(newer, err, sizeof(err));
	while (r && jreader_next(r, &rec) == 1) {
		if (rec.id == 40) {
			CHECK(rec.fmt && !strcmp(rec.fmt->name, "widget"));
			CHECK_EQ(jr_u64(&rec, jr_field(rec.fmt, "n")), 7);
			unknown++;
		} else if (rec.id == 41) {
			CHECK(rec.fmt == NULL);
			unknown++;
		}
	}
	CHECK_EQ(unknown, 3);
	CHECK(r && !jreader_error(r)[0]);
	jreader_close(r);
	CHECK_EQ(run_report(tmp_path("new.out"), tmp_path("new.err"), newer, NULL), 0);
	CHECK_EQ(run_report(tmp_path("old.out"), tmp_path("old.err"), path, NULL), 0);
	CHECK(same_files(tmp_path("new.out"), tmp_path("old.out")));
	CHECK(file_has(tmp_path("new.err"), "3 records of unknown types skipped"));
	CHECK_EQ(run_report(tmp_path("new.out"), tmp_path("new.err"), "--raw", newer), 0);
	CHECK(file_has(tmp_path("new.out"), "widget: w 7"));
	CHECK(file_has(tmp_path("new.out"), "record 41: 5 bytes, not in the format table"));
	free(buf);
	free(out);
}

/*
 * Another writer's table: the epoch record with its fields in another order
 * and some left out. Fields are found by name; those left out read as 0.
 */
static void test_other_table(void)
{
	static const char * const names[] = { "dirty_pages", "seq", "time", "final" };
	static const uint8_t types[] = { JT_U64, JT_U64, JT_F64, JT_U8 };
	uint8_t buf[512], pl[256], *p;
	struct jr_record rec;
	struct jreader *r;
	uint64_t v;
	double t = 1.5;
	size_t pos = 0, k;
	char err[256];

	memcpy(buf, JOURNAL_MAGIC "\1\0\0\0\0\0\0\0", JOURNAL_FILE_HDR);
	pos = JOURNAL_FILE_HDR;
	p = pl;
	*p++ = JR_EPOCH;
	*p++ = 0;
	*p++ = 4;
	*p++ = 0;
	p += sprintf((char *)p, "epoch") + 1;
	p += sprintf((char *)p, "%%u %%u %%f %%u") + 1;
	for (k = 0; k < 4; k++) {
		*p++ = types[k];
		p += sprintf((char *)p, "%s", names[k]) + 1;
	}
	pos += frame(buf + pos, JR_FORMAT, pl, p - pl);
	p = pl;
	v = htole64(77);
	memcpy(p, &v, 8);
	v = htole64(3);
	memcpy(p + 8, &v, 8);
	memcpy(&v, &t, 8);
	v = htole64(v);
	memcpy(p + 16, &v, 8);
	p[24] = 1;
	pos += frame(buf + pos, JR_EPOCH, pl, 25);
	r = jreader_open_mem(buf, pos, err, sizeof(err));
	CHECK(r != NULL);
	CHECK(r && jreader_next(r, &rec) == 1);
	if (r && rec.fmt) {
		CHECK_EQ(jr_u64(&rec, jr_field(rec.fmt, "seq")), 3);
		CHECK_EQ(jr_u64(&rec, jr_field(rec.fmt, "dirty_pages")), 77);
		CHECK(jr_f64(&rec, jr_field(rec.fmt, "time")) == 1.5);
		CHECK_EQ(jr_u64(&rec, jr_field(rec.fmt, "final")), 1);
		CHECK_EQ(jr_field(rec.fmt, "events"), -1);
		CHECK_EQ(jr_u64(&rec, jr_field(rec.fmt, "events")), 0);
	}
	jreader_close(r);
	/* another major version, another magic */
	buf[8] = 2;
	CHECK(!jreader_open_mem(buf, pos, err, sizeof(err)));
	CHECK(!strcmp(err, "journal format 2.0, this vmtrack reads 1.x"));
	buf[0] = 'X';
	CHECK(!jreader_open_mem(buf, pos, err, sizeof(err)));
	CHECK(!strcmp(err, "not a vmtrack journal"));
}

/* the journal of an older vmtrack, checked in: it still decodes, in full */
static void test_fixture(void)
{
	const char *want = tmp_path("fx.want"), *got = tmp_path("fx.out"),
		   *e = tmp_path("fx.err");
	struct jreader *r;
	char err[256];

	r = jreader_open(fixture, err, sizeof(err));
	CHECK(r != NULL);
	if (!r) {
		printf("#   %s: %s\n", fixture, err);
		return;
	}
	CHECK(!strcmp(jreader_meta(r, "command") ?: "", "run"));
	format_1_0 = true;
	check_epochs(r, true);
	jreader_close(r);
	CHECK_EQ(run_report(got, e, "-d", fixture), 0);
	expected_run(want, false, true);
	CHECK(same_files(got, want));
	CHECK_EQ(run_report(got, e, "-j", fixture), 0);
	expected_run(want, true, true);
	CHECK(same_files(got, want));
	format_1_0 = false;
}

/*
 * A run that fails before it watches anything (no such process, a command
 * that cannot be started) closes its journal without journal_start(): no
 * file is left, and a file of that name from before is left as it was.
 */
static void test_not_started(void)
{
	const char *f = tmp_path("early.j"), *o = tmp_path("early.out"),
		   *e = tmp_path("early.err");
	static char old[10000];
	struct journal *j;
	struct stat st;
	char err[256];
	uint8_t *buf;
	size_t len;

	j = journal_open(f, 0, err, sizeof(err));
	CHECK(j != NULL);
	CHECK(!stat(f, &st) && st.st_size == 0);	/* a bad path shows at once */
	journal_target(j, "watch", SYNTH_PID, synth_argv);
	CHECK_EQ(journal_close(j, 1, err, sizeof(err)), 0);
	CHECK(stat(f, &st) && errno == ENOENT);

	/* an earlier file survives a failed run, and is replaced by one that starts */
	memset(old, 'x', sizeof(old));
	spill(f, old, sizeof(old));
	j = journal_open(f, 0, err, sizeof(err));
	CHECK(j != NULL);
	journal_target(j, "watch", SYNTH_PID, synth_argv);
	CHECK_EQ(journal_close(j, 1, err, sizeof(err)), 0);
	buf = slurp(f, &len);
	CHECK(buf && len == sizeof(old) && !memcmp(buf, old, len));
	free(buf);
	CHECK_EQ(write_run(f, 0), 0);
	CHECK_EQ(run_report(o, e, f, NULL), 0);
	CHECK(!stat(e, &st) && st.st_size == 0);

	/* killed between the two: the empty file it created is named as such */
	spill(f, "", 0);
	CHECK_EQ(run_report(o, e, f, NULL), 1);
	CHECK(file_has(e, "early.j: empty file: the run that created it was killed before "
		       "it started\n"));

	/* a directory that is not there: the error comes from journal_open() */
	CHECK(!journal_open(tmp_path("none/x.j"), 0, err, sizeof(err)));
	CHECK(strstr(err, "cannot write") && strstr(err, "No such file or directory"));
}

/* a dump journal of one iteration, ended with vmtrack's exit @status */
static bool write_ended_dump(const char *f, int status)
{
	struct journal *j;
	char err[256];

	j = journal_open(f, 0, err, sizeof(err));
	CHECK(j != NULL);
	if (!j)
		return false;
	journal_target(j, "dump", SYNTH_PID, synth_argv);
	journal_meta(j, "dest", "/tmp/d2");
	journal_start(j, 0, NR_MAPS, 192, 512);
	journal_dump_iter(j, &synth_iters[0]);
	CHECK_EQ(journal_close(j, status, err, sizeof(err)), 0);
	return true;
}

/* a run that failed after it started: read in full, and the failure said */
static void test_failed_run(void)
{
	const char *f = tmp_path("failed.j"), *o = tmp_path("failed.out"),
		   *e = tmp_path("failed.err");

	if (!write_ended_dump(f, 1))
		return;
	CHECK_EQ(run_report(o, e, f, NULL), 0);
	CHECK(file_has(o, "iter   1 "));
	CHECK(file_has(e, "failed.j: the run failed (vmtrack exited with status 1)\n"));

	/* a dump that is complete but could not write its lines: not a failure */
	if (!write_ended_dump(f, 2))
		return;
	CHECK_EQ(run_report(o, e, f, NULL), 0);
	CHECK(file_has(e, "failed.j: the dump is complete, but its output could not be "
		       "written (vmtrack exited with status 2)\n"));
}

/* an output that cannot be written: exit 1, one line; the next report is clean */
static void test_output_full(void)
{
	const char *e = tmp_path("full.err"), *o = tmp_path("full.out");
	struct stat st;

	CHECK_EQ(run_report("/dev/full", e, fixture, NULL), 1);
	CHECK(file_has(e, "vmtrack report: writing standard output: No space left on device\n"));
	CHECK_EQ(run_report("/dev/full", e, "--json", fixture), 1);
	CHECK(file_has(e, "vmtrack report: writing standard output: No space left on device\n"));
	CHECK_EQ(run_report(o, e, fixture, NULL), 0);
	CHECK(!stat(e, &st) && st.st_size == 0);
}

static void test_bad_input(void)
{
	const char *e = tmp_path("bad.err"), *o = tmp_path("bad.out"), *f = tmp_path("bad.j");

	spill(f, "hello, world\n", 13);
	CHECK_EQ(run_report(o, e, f, NULL), 1);
	CHECK(file_has(e, "bad.j: not a vmtrack journal\n"));
	CHECK_EQ(run_report(o, e, tmp_path("missing.j"), NULL), 1);
	CHECK(file_has(e, "missing.j: No such file or directory\n"));
	CHECK_EQ(run_report(o, e, "--frob", f), 1);
	CHECK(file_has(e, "unknown option"));
	CHECK_EQ(run_report(o, e, NULL, NULL), 1);
}

int main(int argc, char **argv)
{
	char cmd[300];

	if (argc == 3 && !strcmp(argv[1], "--write-fixture"))
		return write_run(argv[2], JOURNAL_RANGES) ? EXIT_FAILURE : EXIT_SUCCESS;
	fixture = argc > 1 ? argv[1] : "tests/journal-v1.bin";
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	run_test("journal: every record of a run back by name, strings, metadata",
		 test_round_trip);
	run_test("report: the text of the live run, with and without -d", test_report_text);
	run_test("report --json: the JSON lines of the live run, with and without ranges",
		 test_report_json);
	run_test("report: the lines of vmtrack dump, text and JSON", test_report_dump);
	run_test("report: the dirty sets of --follow, text and JSON as the live run",
		 test_report_follow);
	run_test("report --plot: an SVG with mappings, loss and freeze", test_plot);
	run_test("journal: cut at every byte of the last record", test_truncated);
	run_test("journal: every byte of a record damaged", test_corrupted);
	run_test("journal: records of a newer writer skipped and counted", test_unknown_ids);
	run_test("journal: another writer's table, fields by name", test_other_table);
	run_test("journal: the checked-in journal of format 1.0 decodes", test_fixture);
	run_test("report: bad input, one line and exit 1", test_bad_input);
	run_test("journal: a run that fails before it starts leaves no file", test_not_started);
	run_test("report: a run that failed after it started is said to have", test_failed_run);
	run_test("report: an output that cannot be written is an error", test_output_full);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd))
		printf("# cannot remove %s\n", tmpdir);
	return test_summary();
}
