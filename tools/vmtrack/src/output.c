// SPDX-License-Identifier: GPL-2.0-only
/*
 * Output of vmtrack watch / run: text (one line per epoch, '#' headers, a
 * per-mapping summary) and/or JSON lines (one object per epoch, then a
 * summary), on stdout or in the file of --output, and the binary journal
 * of --journal. vmtrack report prints a journal with the same functions.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "grow.h"
#include "vmtrack-cmd.h"
#include "journal.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* where the JSON lines go: the --output file, or stdout with --json */
static FILE *json_file;
/* the --output file: this run created it (removed if it never starts) */
static const char *json_path;
static bool json_created;
static struct journal *journal;
/* time of the previous epoch, for the per-epoch rates */
static double prev_time;
/* the tracked ranges of the session, refilled for every epoch */
static struct out_range *ranges;
static size_t ranges_alloc;

static FILE *json_out(const struct vmtrack_cmd_params *p)
{
	return json_file ?: p->json ? stdout : NULL;
}

/*
 * Why the first flush of stdout, or of the --output file, failed: a later
 * flush of a stream that failed may succeed (its buffer dropped), and only
 * its error flag would be left to tell.
 */
static int stdout_errno, json_errno;

static int *flush_errno(FILE *f)
{
	return f == stdout ? &stdout_errno : &json_errno;
}

/**
 * out_flush() - flush stdout or the --output file, keeping why it failed
 * @f:	the stream
 */
void out_flush(FILE *f)
{
	int *e = flush_errno(f);

	if (fflush(f) && !*e)
		*e = errno ?: EIO;
}

/**
 * out_write_error() - did a write to stdout or the --output file fail?
 * @f:	the stream, flushed first
 *
 * The error is then forgotten (a next command in the same process starts
 * clean).
 *
 * Return: NULL, or the reason, for a one-line message.
 */
const char *out_write_error(FILE *f)
{
	int *e = flush_errno(f);
	const char *why;

	out_flush(f);
	if (!*e && ferror(f))
		*e = EIO;
	why = *e ? strerror(*e) : NULL;
	*e = 0;
	clearerr(f);
	return why;
}

/*
 * A file that exists is truncated only once the run starts (json_begin()):
 * a run that fails before leaves it as it was.
 */
static int json_open(const char *path)
{
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	json_created = fd >= 0;
	if (fd < 0 && errno == EEXIST)
		fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	json_file = fdopen(fd, "w");
	if (!json_file) {
		close(fd);
		if (json_created)
			unlink(path);
		return -1;
	}
	json_path = path;
	return 0;
}

/* the run starts: an existing --output file is replaced (a device is not) */
static void json_begin(void)
{
	struct stat st;

	if (json_file && !json_created && !fstat(fileno(json_file), &st) &&
	    S_ISREG(st.st_mode) && ftruncate(fileno(json_file), 0))
		fprintf(stderr, "vmtrack: truncating %s: %s\n", json_path, strerror(errno));
	json_created = true;
}

/**
 * out_open() - open the file of --output and the journal, if asked for
 * @p:		options
 * @err:	receives a one-line reason on failure
 * @errlen:	size of @err
 *
 * Return: 0, or -1 with @err set.
 */
int out_open(const struct vmtrack_cmd_params *p, char *err, size_t errlen)
{
	if (p->output && json_open(p->output)) {
		snprintf(err, errlen, "cannot write '%s': %s", p->output, strerror(errno));
		return -1;
	}
	if (p->journal) {
		journal = journal_open(p->journal, p->journal_ranges ? JOURNAL_RANGES : 0,
				       err, errlen);
		if (!journal) {
			out_cancel();
			return -1;
		}
	}
	return 0;
}

/**
 * out_cancel() - the run ends before out_start(): drop the journal and output
 *
 * Nothing was watched, so there is nothing to journal: journal_close() of a
 * journal never started removes the file it created. The --output file is
 * removed if this run created it, and left as it was otherwise.
 */
void out_cancel(void)
{
	char err[256];

	journal_close(journal, EXIT_FAILURE, err, sizeof(err));
	journal = NULL;
	if (!json_file)
		return;
	fclose(json_file);
	json_file = NULL;
	if (json_created)
		unlink(json_path);
}

static const char * const loss_names[] = { "events", "restart", "tamper", "decode", "seq" };

/**
 * out_loss_text() - the names of enum vmtrack_loss bits
 * @buf:	receives "events,tamper" and the like
 * @len:	size of @buf
 * @loss:	the bits
 */
void out_loss_text(char *buf, size_t len, unsigned int loss)
{
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < ARRAY_SIZE(loss_names) && off < len; i++)
		if (loss & (1U << i))
			off += snprintf(buf + off, len - off, "%s%s", off ? "," : "",
					loss_names[i]);
}

static double mib(uint64_t pages)
{
	return (double)pages * sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

/**
 * out_start_text() - the first line of the text output
 * @f:			where to print
 * @command:		"watch" or "run"
 * @pid:		target
 * @interval_ms:	epoch period, 0: at stops only
 */
void out_start_text(FILE *f, const char *command, pid_t pid, unsigned long interval_ms)
{
	fprintf(f, "# vmtrack %s: pid %d, interval %s%.3f s\n", command, (int)pid,
		interval_ms ? "" : "at stops, ", interval_ms / 1000.0);
}

/**
 * out_start() - tell what is watched (stderr, so stdout stays clean)
 * @p:	options
 * @s:	the session
 * @pid:	target
 */
void out_start(const struct vmtrack_cmd_params *p, struct vmtrack_session *s, pid_t pid)
{
	const struct vmtrack_dset *ds = vmtrack_session_dset(s);
	uint64_t pages = vmtrack_dset_watched_pages(ds);
	const char *command = p->mode == VMTRACK_MODE_RUN ? "run" : "watch";

	fprintf(stderr, "vmtrack: watching pid %d: %zu ranges, %" PRIu64 " pages (%.1f MiB), "
		"buffer %zu KiB/CPU, instance %s\n", (int)pid, vmtrack_dset_nr_ranges(ds), pages,
		mib(pages), vmtrack_session_buffer_kb(s), vmtrack_session_instance(s));
	prev_time = 0;
	json_begin();
	journal_target(journal, command, pid, p->mode == VMTRACK_MODE_RUN ? p->argv : NULL);
	journal_start(journal, p->interval_ms, vmtrack_dset_nr_ranges(ds), pages,
		      vmtrack_session_buffer_kb(s));
	if (!p->json && !p->quiet)
		out_start_text(stdout, command, pid, p->interval_ms);
	out_flush(stdout);
}

/* the tracked ranges into @ranges: all of them, or those dirty in the epoch */
static ssize_t collect_ranges(struct vmtrack_session *s, bool dirty_only)
{
	const struct vmtrack_dset *ds = vmtrack_session_dset(s);
	struct vmtrack_range_info ri;
	size_t i, n = 0;

	for (i = 0; !vmtrack_dset_range(ds, i, &ri); i++) {
		if (dirty_only && !ri.last)
			continue;
		if (GROW_ARRAY(ranges, ranges_alloc, n, 64))
			return -ENOMEM;
		ranges[n++] = (struct out_range){ ri.start, ri.end, ri.pages, ri.last, ri.total,
						  ri.label };
	}
	return n;
}

/**
 * out_epoch_collect() - what the output of an epoch shows, from the session
 * @s:		the session (per-range counters of the epoch)
 * @ep:		the epoch just taken
 * @e:		filled in but for @e->time, @e->duration and @e->final;
 *		@e->ranges is valid until the next call
 *
 * Return: 0, or -ENOMEM (@e then has no ranges).
 */
int out_epoch_collect(struct vmtrack_session *s, const struct vmtrack_epoch *ep,
		      struct out_epoch_info *e)
{
	ssize_t n = collect_ranges(s, true);
	size_t i;

	e->ep = ep;
	e->nr_tracked = vmtrack_dset_nr_ranges(vmtrack_session_dset(s));
	e->busiest.last = 0;
	e->ranges = ranges;
	e->nr_ranges = n < 0 ? 0 : n;
	e->has_ranges = n >= 0;
	/* the first of the ranges with the most pages dirty */
	for (i = 0; i < e->nr_ranges; i++)
		if (ranges[i].last > e->busiest.last)
			e->busiest = ranges[i];
	return n < 0 ? (int)n : 0;
}

/*
 * The tracked ranges dirty in this epoch: pages dirty and their rate over the
 * epoch's duration (pages per second). Clean ranges are left out (a line per
 * epoch stays short for a process with many mappings).
 */
static void epoch_json_mappings(FILE *f, const struct out_epoch_info *e)
{
	const struct out_range *r;
	size_t i;

	fprintf(f, ",\"mappings\":[");
	for (i = 0; i < e->nr_ranges; i++) {
		r = &e->ranges[i];
		fprintf(f, "%s{\"start\":%" PRIu64 ",\"end\":%" PRIu64 ",\"name\":",
			i ? "," : "", r->start, r->end);
		json_string(f, r->label);
		fprintf(f, ",\"pages\":%" PRIu64 ",\"dirty\":%" PRIu64 ",\"rate\":%.3f}",
			r->pages, r->last, e->duration > 0 ? r->last / e->duration : 0.0);
	}
	fputc(']', f);
}

/**
 * out_epoch_json() - one epoch as a JSON line
 * @f:	where to print
 * @e:	the epoch; "mappings" and "dirty" only if @e->has_ranges
 */
void out_epoch_json(FILE *f, const struct out_epoch_info *e)
{
	const struct vmtrack_epoch *ep = e->ep;
	char loss[64];
	size_t i;

	out_loss_text(loss, sizeof(loss), ep->loss);
	fprintf(f, "{\"epoch\":%" PRIu64, ep->seq);
	if (e->set) {
		fprintf(f, ",\"set\":%u,\"pid\":%d,\"comm\":", e->set->set, (int)e->set->pid);
		json_string(f, e->set->comm);
	}
	fprintf(f, ",\"time\":%.3f,\"duration\":%.3f,\"final\":%s,"
		"\"watched_pages\":%" PRIu64 ",\"dirty_pages\":%" PRIu64 ",\"nr_dirty\":%zu,"
		"\"all_dirty\":%s,\"loss\":\"%s\",\"lost_events\":%" PRIu64 ",\"events\":%" PRIu64
		",\"new_pages\":%" PRIu64 ",\"stray_pages\":%" PRIu64 ",\"rearm_failed\":%" PRIu64
		",\"target_gone\":%s,\"swept\":%s,\"swept_pages\":%" PRIu64 ",\"dense\":%s",
		e->time, e->duration, e->final ? "true" : "false", ep->watched_pages,
		ep->dirty_pages, ep->nr_dirty, ep->all_dirty ? "true" : "false", loss,
		ep->lost_events, ep->events, ep->new_pages, ep->stray_pages, ep->rearm_failed,
		ep->target_gone ? "true" : "false", ep->swept ? "true" : "false",
		ep->swept_pages, ep->dense ? "true" : "false");
	if (e->has_ranges) {
		epoch_json_mappings(f, e);
		fprintf(f, ",\"dirty\":[");
		for (i = 0; i < ep->nr_dirty; i++)
			fprintf(f, "%s[%" PRIu64 ",%" PRIu64 "]", i ? "," : "",
				(uint64_t)(uintptr_t)ep->dirty[i].iov_base,
				(uint64_t)(uintptr_t)ep->dirty[i].iov_base +
				ep->dirty[i].iov_len);
		fputc(']', f);
	}
	fprintf(f, "}\n");
}

/**
 * out_epoch_text() - one epoch as a text line
 * @f:		where to print
 * @e:		the epoch
 * @list_dirty:	list its dirty ranges too (if @e->has_ranges)
 * @page_size:	of the target
 */
void out_epoch_text(FILE *f, const struct out_epoch_info *e, bool list_dirty, long page_size)
{
	const struct vmtrack_epoch *ep = e->ep;
	char loss[64];
	size_t i;

	fprintf(f, "epoch %5" PRIu64 " %9.3fs", ep->seq, e->time);
	if (e->set)
		fprintf(f, "  pid %6d %-15s", (int)e->set->pid, e->set->comm);
	fprintf(f, "  dirty %9" PRIu64 " of %9" PRIu64
		" pages in %6zu ranges%s%s%s", ep->dirty_pages,
		ep->watched_pages, ep->nr_dirty, ep->new_pages ? "  (new mappings)" : "",
		ep->dense ? "  (dense)" : "", e->final ? "  (final)" : "");
	if (ep->loss) {
		out_loss_text(loss, sizeof(loss), ep->loss);
		fprintf(f, "  LOSS(%s): %" PRIu64 " events lost, %s", loss, ep->lost_events,
			ep->swept ? "recovered by a sweep" : "all watched pages reported dirty");
	} else if (e->nr_tracked > 1 && e->busiest.last) {
		fprintf(f, "  most: %" PRIu64 " in %s %" PRIx64, e->busiest.last,
			e->busiest.label[0] ? e->busiest.label : "[anon]", e->busiest.start);
	}
	if (ep->target_gone)
		fprintf(f, "  target exited");
	fprintf(f, "\n");
	if (!list_dirty || !e->has_ranges)
		return;
	for (i = 0; i < ep->nr_dirty; i++)
		fprintf(f, "    %012" PRIx64 "-%012" PRIx64 " %8zu pages\n",
			(uint64_t)(uintptr_t)ep->dirty[i].iov_base,
			(uint64_t)(uintptr_t)ep->dirty[i].iov_base + ep->dirty[i].iov_len,
			ep->dirty[i].iov_len / page_size);
}

static void print_epoch(const struct vmtrack_cmd_params *p, struct vmtrack_session *s,
			const struct vmtrack_epoch *ep, struct out_epoch_info *ei)
{
	const bool final = ei->final;
	FILE *f = json_out(p);

	out_epoch_collect(s, ep, ei);
	journal_epoch(journal, ei);
	if (f) {
		out_epoch_json(f, ei);
		out_flush(f);
	}
	if (!p->json && !p->quiet)
		out_epoch_text(stdout, ei, p->list_dirty, sysconf(_SC_PAGESIZE));
	out_flush(stdout);
	/* progress for long JSON runs on a terminal */
	if (p->json && !p->quiet && isatty(STDERR_FILENO))
		fprintf(stderr, "\repoch %" PRIu64 ": %" PRIu64 " dirty pages%s", ep->seq,
			ep->dirty_pages, final ? "\n" : "");
}

/**
 * out_epoch() - print and journal one epoch
 * @p:		options
 * @s:		the session (per-range counters of the epoch)
 * @ep:		the epoch
 * @t:		seconds since the start
 * @final:	the last epoch (taken with the target stopped)
 */
void out_epoch(const struct vmtrack_cmd_params *p, struct vmtrack_session *s,
	       const struct vmtrack_epoch *ep, double t, bool final)
{
	struct out_epoch_info e = { .time = t, .duration = t - prev_time, .final = final };

	prev_time = t;
	print_epoch(p, s, ep, &e);
}

/**
 * out_set_epoch() - print and journal one epoch of a dirty set (--follow)
 * @p:		options
 * @s:		the set's session
 * @set:	the set; its @prev_time moves on to @t
 * @ep:		the epoch
 * @t:		seconds since the start of the run
 * @final:	the set's last epoch
 */
void out_set_epoch(const struct vmtrack_cmd_params *p, struct vmtrack_session *s,
		   struct out_set *set, const struct vmtrack_epoch *ep, double t, bool final)
{
	struct out_epoch_info e = {
		.time = t, .duration = t - set->prev_time, .final = final, .set = set,
	};

	set->prev_time = t;
	print_epoch(p, s, ep, &e);
}

/**
 * out_freeze() - journal how long the target was frozen for an epoch
 * @seq:	the epoch
 * @ms:		milliseconds from the freeze to the thaw
 */
void out_freeze(uint64_t seq, double ms)
{
	journal_freeze(journal, seq, ms);
}

/**
 * out_summary_set_json() - the summary object of a run, or of a dirty set
 * @f:			where to print
 * @set:		the dirty set of a followed tree, NULL for a run's summary
 * @pid:		target
 * @rs:			totals
 * @watched_pages:	pages watched at the end
 * @r:			every tracked range
 * @n:			entries in @r
 */
void out_summary_set_json(FILE *f, const struct out_set *set, pid_t pid,
			  const struct vmtrack_run_stats *rs, uint64_t watched_pages,
			  const struct out_range *r, size_t n)
{
	size_t i;

	fprintf(f, "{\"summary\":{");
	if (set) {
		fprintf(f, "\"set\":%u,\"comm\":", set->set);
		json_string(f, set->comm);
		fprintf(f, ",\"ppid\":%d,\"origin\":\"%s\",\"start\":%.3f,", (int)set->ppid,
			set->origin, set->time);
	}
	fprintf(f, "\"pid\":%d,\"epochs\":%" PRIu64 ",\"seconds\":%.3f,"
		"\"loss_epochs\":%" PRIu64 ",\"lost_events\":%" PRIu64 ",\"dirty_pages\":%" PRIu64
		",\"watched_pages\":%" PRIu64 ",\"mappings\":[", (int)pid, rs->epochs,
		rs->seconds, rs->loss_epochs, rs->lost_events, rs->dirty_pages, watched_pages);
	for (i = 0; i < n; i++) {
		fprintf(f, "%s{\"start\":%" PRIu64 ",\"end\":%" PRIu64 ",\"name\":", i ? "," : "",
			r[i].start, r[i].end);
		json_string(f, r[i].label);
		fprintf(f, ",\"pages\":%" PRIu64 ",\"dirty\":%" PRIu64 ",\"total\":%" PRIu64
			",\"rate\":%.3f}", r[i].pages, r[i].last, r[i].total,
			rs->seconds > 0 ? r[i].total / rs->seconds : 0.0);
	}
	fprintf(f, "]}}\n");
}

/**
 * out_summary_json() - the summary object
 * @f:			where to print
 * @pid:		target
 * @rs:			totals over the run
 * @watched_pages:	pages watched at the end
 * @r:			every tracked range
 * @n:			entries in @r
 */
void out_summary_json(FILE *f, pid_t pid, const struct vmtrack_run_stats *rs,
		      uint64_t watched_pages, const struct out_range *r, size_t n)
{
	out_summary_set_json(f, NULL, pid, rs, watched_pages, r, n);
}

/**
 * out_summary_set_text() - the summary lines of a run, or of a dirty set
 * @f:		where to print
 * @set:	the dirty set of a followed tree, NULL for a run's summary
 * @pid:	target
 * @rs:		totals
 * @r:		every tracked range
 * @n:		entries in @r
 */
void out_summary_set_text(FILE *f, const struct out_set *set, pid_t pid,
			  const struct vmtrack_run_stats *rs, const struct out_range *r, size_t n)
{
	size_t i;

	fprintf(f, "# summary: pid %d", (int)pid);
	if (set)
		fprintf(f, " (%s, set %u, %s)", set->comm, set->set, set->origin);
	fprintf(f, ", %" PRIu64 " epochs in %.3f s, %" PRIu64 " pages reported dirty",
		rs->epochs, rs->seconds, rs->dirty_pages);
	if (rs->loss_epochs)
		fprintf(f, ", %" PRIu64 " epochs with loss (%" PRIu64 " events lost)",
			rs->loss_epochs, rs->lost_events);
	fprintf(f, "\n# per range: pages watched, dirty in the last epoch, dirty summed over all "
		"epochs, that sum per second\n");
	fprintf(f, "#        START-END               WATCHED      LAST       ALL      ALL/S  "
		"MAPPING\n");
	for (i = 0; i < n; i++)
		fprintf(f, "%012" PRIx64 "-%012" PRIx64 " %9" PRIu64 " %9" PRIu64 " %9" PRIu64
			" %10.2f  %s\n", r[i].start, r[i].end, r[i].pages, r[i].last, r[i].total,
			rs->seconds > 0 ? r[i].total / rs->seconds : 0.0, r[i].label);
}

/**
 * out_summary_text() - the summary lines
 * @f:		where to print
 * @pid:	target
 * @rs:		totals over the run
 * @r:		every tracked range
 * @n:		entries in @r
 *
 * Per tracked range: pages watched, pages dirty in the last epoch, pages
 * reported dirty over all epochs and that total per second.
 */
void out_summary_text(FILE *f, pid_t pid, const struct vmtrack_run_stats *rs,
		      const struct out_range *r, size_t n)
{
	out_summary_set_text(f, NULL, pid, rs, r, n);
}

/*
 * The end of a run: close the --output file, look at stdout, and close the
 * journal with the exit status they leave (@status, or EXIT_FAILURE if an
 * output failed). Returns 0, or -1 if any of them could not be written,
 * each said in one line.
 */
static int out_close(const struct vmtrack_cmd_params *p, int status)
{
	const char *why;
	char err[512];
	int ret = 0;

	if (json_file) {
		why = out_write_error(json_file);
		if (fclose(json_file) && !why)
			why = strerror(errno);
		json_file = NULL;
		if (why) {
			fprintf(stderr, "vmtrack: writing %s: %s\n", p->output, why);
			ret = -1;
		}
	}
	why = out_write_error(stdout);
	if (why) {
		fprintf(stderr, "vmtrack: writing standard output: %s\n", why);
		ret = -1;
	}
	if (journal_close(journal, ret ? EXIT_FAILURE : status, err, sizeof(err))) {
		fprintf(stderr, "vmtrack: %s\n", err);
		ret = -1;
	}
	journal = NULL;
	return ret;
}

/**
 * out_summary() - per-mapping summary at the end; closes the outputs
 * @p:		options
 * @s:		the session
 * @pid:	target
 * @rs:		totals over the run
 * @status:	vmtrack's exit status so far, for the journal
 *
 * Return: 0, or -1 if the output or the journal could not be written.
 */
int out_summary(const struct vmtrack_cmd_params *p, struct vmtrack_session *s, pid_t pid,
		const struct vmtrack_run_stats *rs, int status)
{
	uint64_t watched = vmtrack_dset_watched_pages(vmtrack_session_dset(s));
	ssize_t n = collect_ranges(s, false);
	FILE *f = json_out(p);
	int ret;

	if (n < 0)
		n = 0;
	journal_summary(journal, pid, rs, watched, ranges, n, 0);
	if (f)
		out_summary_json(f, pid, rs, watched, ranges, n);
	if (!p->json)
		out_summary_text(stdout, pid, rs, ranges, n);
	ret = out_close(p, status);
	free(ranges);
	ranges = NULL;
	ranges_alloc = 0;
	return ret;
}

/**
 * out_set_start_line() - the line that starts a dirty set
 * @f:		where to print
 * @json:	a "process" object, else a "# set" text line
 * @set:	the set
 * @pages:	pages watched at its start
 */
void out_set_start_line(FILE *f, bool json, const struct out_set *set, uint64_t pages)
{
	if (!json) {
		fprintf(f, "# set %u: pid %d (%s), parent %d, %s at %.3f s, %" PRIu64
			" pages watched\n", set->set, (int)set->pid, set->comm, (int)set->ppid,
			set->origin, set->time, pages);
		return;
	}
	fprintf(f, "{\"process\":{\"set\":%u,\"pid\":%d,\"ppid\":%d,\"comm\":", set->set,
		(int)set->pid, (int)set->ppid);
	json_string(f, set->comm);
	fprintf(f, ",\"origin\":\"%s\",\"time\":%.3f,\"watched_pages\":%" PRIu64 "}}\n",
		set->origin, set->time, pages);
}

/**
 * out_set_start() - tell that a dirty set of a followed tree starts
 * @p:		options
 * @s:		its session, watching
 * @set:	the set
 *
 * A line on stderr as out_start() prints, a "# set" line in the text and a
 * "process" object in the JSON lines.
 */
void out_set_start(const struct vmtrack_cmd_params *p, struct vmtrack_session *s,
		   const struct out_set *set)
{
	const struct vmtrack_dset *ds = vmtrack_session_dset(s);
	uint64_t pages = vmtrack_dset_watched_pages(ds);
	FILE *f = json_out(p);

	fprintf(stderr, "vmtrack: watching pid %d (%s, set %u, %s): %zu ranges, %" PRIu64
		" pages (%.1f MiB), buffer %zu KiB/CPU, instance %s\n", (int)set->pid, set->comm,
		set->set, set->origin, vmtrack_dset_nr_ranges(ds), pages, mib(pages),
		vmtrack_session_buffer_kb(s), vmtrack_session_instance(s));
	journal_set(journal, set, pages);
	if (f) {
		out_set_start_line(f, true, set, pages);
		out_flush(f);
	}
	if (!p->json && !p->quiet)
		out_set_start_line(stdout, false, set, pages);
	out_flush(stdout);
}

/**
 * out_set_summary() - the summary of a dirty set that ends
 * @p:		options
 * @s:		its session (per-range counters over its epochs)
 * @set:	the set
 * @rs:		its totals
 */
void out_set_summary(const struct vmtrack_cmd_params *p, struct vmtrack_session *s,
		     const struct out_set *set, const struct vmtrack_run_stats *rs)
{
	uint64_t watched = vmtrack_dset_watched_pages(vmtrack_session_dset(s));
	ssize_t n = collect_ranges(s, false);
	FILE *f = json_out(p);

	if (n < 0)
		n = 0;
	journal_summary(journal, set->pid, rs, watched, ranges, n, set->set);
	if (f) {
		out_summary_set_json(f, set, set->pid, rs, watched, ranges, n);
		out_flush(f);
	}
	if (!p->json)
		out_summary_set_text(stdout, set, set->pid, rs, ranges, n);
	out_flush(stdout);
}

/**
 * out_unwatched_json() - the object of a followed process without a set
 * @f:		where to print
 * @pid:	the process
 * @comm:	its name
 * @why:	the reason
 */
void out_unwatched_json(FILE *f, pid_t pid, const char *comm, const char *why)
{
	fprintf(f, "{\"unwatched\":{\"pid\":%d,\"comm\":", (int)pid);
	json_string(f, comm);
	fprintf(f, ",\"reason\":");
	json_string(f, why);
	fprintf(f, "}}\n");
}

/**
 * out_unwatched() - tell that a followed process has no dirty set
 * @p:		options
 * @pid:	the process
 * @comm:	its name
 * @why:	the reason, one line
 */
void out_unwatched(const struct vmtrack_cmd_params *p, pid_t pid, const char *comm,
		   const char *why)
{
	FILE *f = json_out(p);

	fprintf(stderr, "vmtrack: pid %d (%s) not watched: %s\n", (int)pid, comm, why);
	journal_unwatched(journal, pid, comm, why);
	if (f) {
		out_unwatched_json(f, pid, comm, why);
		out_flush(f);
	}
}

/**
 * out_tree_start() - the start of a --follow run
 * @p:		options
 * @pid:	the root of the tree
 */
void out_tree_start(const struct vmtrack_cmd_params *p, pid_t pid)
{
	const char *command = p->mode == VMTRACK_MODE_RUN ? "run" : "watch";

	prev_time = 0;
	json_begin();
	journal_target(journal, command, pid, p->mode == VMTRACK_MODE_RUN ? p->argv : NULL);
	journal_start(journal, p->interval_ms, 0, 0, 0);
	if (!p->json && !p->quiet)
		out_start_text(stdout, command, pid, p->interval_ms);
	out_flush(stdout);
}

/**
 * out_tree_end_line() - the last line of a --follow run
 * @f:		where to print
 * @json:	a "follow" object, else a "# follow" text line
 * @ts:		totals over the tree
 */
void out_tree_end_line(FILE *f, bool json, const struct out_tree_stats *ts)
{
	if (json)
		fprintf(f, "{\"follow\":{\"pid\":%d,\"sets\":%u,\"processes\":%u,"
			"\"unwatched\":%u,\"epochs\":%" PRIu64 ",\"seconds\":%.3f,"
			"\"dirty_pages\":%" PRIu64 ",\"loss_epochs\":%" PRIu64 "}}\n", (int)ts->pid,
			ts->sets, ts->processes, ts->unwatched, ts->epochs, ts->seconds,
			ts->dirty_pages, ts->loss_epochs);
	else
		fprintf(f, "# follow: pid %d, %u dirty sets of %u processes (%u not watched), "
			"%" PRIu64 " epochs in %.3f s, %" PRIu64 " pages reported dirty%s\n",
			(int)ts->pid, ts->sets, ts->processes, ts->unwatched, ts->epochs,
			ts->seconds, ts->dirty_pages, ts->loss_epochs ? ", with loss" : "");
}

/**
 * out_tree_end() - the last line of a --follow run; closes the outputs
 * @p:		options
 * @ts:		totals over the tree
 * @status:	vmtrack's exit status so far, for the journal
 *
 * Return: 0, or -1 if the output or the journal could not be written.
 */
int out_tree_end(const struct vmtrack_cmd_params *p, const struct out_tree_stats *ts,
		 int status)
{
	FILE *f = json_out(p);
	int ret;

	journal_follow(journal, ts);
	if (f)
		out_tree_end_line(f, true, ts);
	if (!p->json)
		out_tree_end_line(stdout, false, ts);
	ret = out_close(p, status);
	free(ranges);
	ranges = NULL;
	ranges_alloc = 0;
	return ret;
}
