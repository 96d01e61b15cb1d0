// SPDX-License-Identifier: GPL-2.0-only
/*
 * Output of vmtrack watch / run: text (one line per epoch, '#' headers, a
 * per-mapping summary) and/or JSON lines (one object per epoch, then a
 * summary), on stdout or in the file of --output.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vmtrack-cmd.h"

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
/* time of the previous epoch, for the per-epoch rates */
static double prev_time;

static FILE *json_out(const struct vmtrack_cmd_params *p)
{
	return json_file ?: p->json ? stdout : NULL;
}

/**
 * out_open() - open the file of --output, if one was given
 * @p:		options
 * @err:	receives a one-line reason on failure
 * @errlen:	size of @err
 *
 * Return: 0, or -1 with @err set.
 */
int out_open(const struct vmtrack_cmd_params *p, char *err, size_t errlen)
{
	if (!p->output)
		return 0;
	json_file = fopen(p->output, "we");
	if (!json_file) {
		snprintf(err, errlen, "cannot write '%s': %s", p->output, strerror(errno));
		return -1;
	}
	return 0;
}

static const char * const loss_names[] = { "events", "restart", "tamper", "decode" };

static void loss_text(char *buf, size_t len, unsigned int loss)
{
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < ARRAY_SIZE(loss_names); i++)
		if (loss & (1U << i))
			off += snprintf(buf + off, len - off, "%s%s", off ? "," : "",
					loss_names[i]);
}

static double mib(uint64_t pages)
{
	return (double)pages * sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
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

	fprintf(stderr, "vmtrack: watching pid %d: %zu ranges, %" PRIu64 " pages (%.1f MiB), "
		"buffer %zu KiB/CPU, instance %s\n", (int)pid, vmtrack_dset_nr_ranges(ds), pages,
		mib(pages), vmtrack_session_buffer_kb(s), vmtrack_session_instance(s));
	prev_time = 0;
	if (!p->json && !p->quiet)
		printf("# vmtrack %s: pid %d, interval %s%.3f s\n",
		       p->mode == VMTRACK_MODE_RUN ? "run" : "watch", (int)pid,
		       p->interval_ms ? "" : "at stops, ", p->interval_ms / 1000.0);
	fflush(stdout);
}

/*
 * The tracked ranges dirty in this epoch: pages dirty and their rate over the
 * epoch's duration (pages per second). Clean ranges are left out (a line per
 * epoch stays short for a process with many mappings).
 */
static void epoch_json_mappings(FILE *f, struct vmtrack_session *s, double duration)
{
	const struct vmtrack_dset *ds = vmtrack_session_dset(s);
	struct vmtrack_range_info ri;
	size_t i, n = 0;

	fprintf(f, ",\"mappings\":[");
	for (i = 0; !vmtrack_dset_range(ds, i, &ri); i++) {
		if (!ri.last)
			continue;
		fprintf(f, "%s{\"start\":%" PRIu64 ",\"end\":%" PRIu64 ",\"name\":",
			n++ ? "," : "", ri.start, ri.end);
		json_string(f, ri.label);
		fprintf(f, ",\"pages\":%" PRIu64 ",\"dirty\":%" PRIu64 ",\"rate\":%.3f}",
			ri.pages, ri.last, duration > 0 ? ri.last / duration : 0.0);
	}
	fputc(']', f);
}

static void epoch_json(FILE *f, struct vmtrack_session *s, const struct vmtrack_epoch *ep,
		       double t, bool final)
{
	double duration = t - prev_time;
	char loss[64];
	size_t i;

	loss_text(loss, sizeof(loss), ep->loss);
	fprintf(f, "{\"epoch\":%" PRIu64 ",\"time\":%.3f,\"duration\":%.3f,\"final\":%s,"
		"\"watched_pages\":%" PRIu64 ",\"dirty_pages\":%" PRIu64 ",\"nr_dirty\":%zu,"
		"\"all_dirty\":%s,\"loss\":\"%s\",\"lost_events\":%" PRIu64 ",\"events\":%" PRIu64
		",\"new_pages\":%" PRIu64 ",\"stray_pages\":%" PRIu64 ",\"rearm_failed\":%" PRIu64
		",\"target_gone\":%s",
		ep->seq, t, duration, final ? "true" : "false", ep->watched_pages,
		ep->dirty_pages, ep->nr_dirty, ep->all_dirty ? "true" : "false", loss,
		ep->lost_events, ep->events, ep->new_pages, ep->stray_pages, ep->rearm_failed,
		ep->target_gone ? "true" : "false");
	epoch_json_mappings(f, s, duration);
	fprintf(f, ",\"dirty\":[");
	for (i = 0; i < ep->nr_dirty; i++)
		fprintf(f, "%s[%" PRIu64 ",%" PRIu64 "]", i ? "," : "",
			(uint64_t)(uintptr_t)ep->dirty[i].iov_base,
			(uint64_t)(uintptr_t)ep->dirty[i].iov_base + ep->dirty[i].iov_len);
	fprintf(f, "]}\n");
}

/* the tracked range with the most pages dirty in the epoch just collected */
static bool busiest_range(struct vmtrack_session *s, struct vmtrack_range_info *best)
{
	const struct vmtrack_dset *ds = vmtrack_session_dset(s);
	struct vmtrack_range_info ri;
	size_t i;

	best->last = 0;
	for (i = 0; !vmtrack_dset_range(ds, i, &ri); i++)
		if (ri.last > best->last)
			*best = ri;
	return best->last != 0;
}

static void epoch_text(const struct vmtrack_cmd_params *p, struct vmtrack_session *s,
		       const struct vmtrack_epoch *ep, double t, bool final)
{
	long page = sysconf(_SC_PAGESIZE);
	struct vmtrack_range_info best;
	char loss[64];
	size_t i;

	printf("epoch %5" PRIu64 " %9.3fs  dirty %9" PRIu64 " of %9" PRIu64 " pages in %6zu ranges"
	       "%s%s", ep->seq, t, ep->dirty_pages, ep->watched_pages, ep->nr_dirty,
	       ep->new_pages ? "  (new mappings)" : "", final ? "  (final)" : "");
	if (ep->all_dirty) {
		loss_text(loss, sizeof(loss), ep->loss);
		printf("  LOSS(%s): %" PRIu64 " events lost, all watched pages reported dirty",
		       loss, ep->lost_events);
	} else if (vmtrack_dset_nr_ranges(vmtrack_session_dset(s)) > 1 &&
		   busiest_range(s, &best)) {
		printf("  most: %" PRIu64 " in %s %" PRIx64, best.last,
		       best.label[0] ? best.label : "[anon]", best.start);
	}
	if (ep->target_gone)
		printf("  target exited");
	printf("\n");
	if (!p->list_dirty)
		return;
	for (i = 0; i < ep->nr_dirty; i++)
		printf("    %012" PRIx64 "-%012" PRIx64 " %8zu pages\n",
		       (uint64_t)(uintptr_t)ep->dirty[i].iov_base,
		       (uint64_t)(uintptr_t)ep->dirty[i].iov_base + ep->dirty[i].iov_len,
		       ep->dirty[i].iov_len / page);
}

/**
 * out_epoch() - print one epoch
 * @p:		options
 * @s:		the session (per-range counters of the epoch)
 * @ep:		the epoch
 * @t:		seconds since the start
 * @final:	the last epoch (taken with the target stopped)
 */
void out_epoch(const struct vmtrack_cmd_params *p, struct vmtrack_session *s,
	       const struct vmtrack_epoch *ep, double t, bool final)
{
	FILE *f = json_out(p);

	if (f) {
		epoch_json(f, s, ep, t, final);
		fflush(f);
	}
	prev_time = t;
	if (!p->json && !p->quiet)
		epoch_text(p, s, ep, t, final);
	fflush(stdout);
	/* progress for long JSON runs on a terminal */
	if (p->json && !p->quiet && isatty(STDERR_FILENO))
		fprintf(stderr, "\repoch %" PRIu64 ": %" PRIu64 " dirty pages%s", ep->seq,
			ep->dirty_pages, final ? "\n" : "");
}

static void summary_json(FILE *f, struct vmtrack_session *s, pid_t pid,
			 const struct vmtrack_run_stats *rs)
{
	const struct vmtrack_dset *ds = vmtrack_session_dset(s);
	struct vmtrack_range_info ri;
	size_t i;

	fprintf(f, "{\"summary\":{\"pid\":%d,\"epochs\":%" PRIu64 ",\"seconds\":%.3f,"
		"\"loss_epochs\":%" PRIu64 ",\"lost_events\":%" PRIu64 ",\"dirty_pages\":%" PRIu64
		",\"watched_pages\":%" PRIu64 ",\"mappings\":[", (int)pid, rs->epochs,
		rs->seconds, rs->loss_epochs, rs->lost_events, rs->dirty_pages,
		vmtrack_dset_watched_pages(ds));
	for (i = 0; !vmtrack_dset_range(ds, i, &ri); i++) {
		fprintf(f, "%s{\"start\":%" PRIu64 ",\"end\":%" PRIu64 ",\"name\":", i ? "," : "",
			ri.start, ri.end);
		json_string(f, ri.label);
		fprintf(f, ",\"pages\":%" PRIu64 ",\"dirty\":%" PRIu64 ",\"total\":%" PRIu64
			",\"rate\":%.3f}", ri.pages, ri.last, ri.total,
			rs->seconds > 0 ? ri.total / rs->seconds : 0.0);
	}
	fprintf(f, "]}}\n");
}

/**
 * out_summary() - per-mapping summary at the end
 * @p:		options
 * @s:		the session
 * @pid:	target
 * @rs:		totals over the run
 *
 * Per tracked range: pages watched, pages dirty in the last epoch, pages
 * reported dirty over all epochs and that total per second.
 */
void out_summary(const struct vmtrack_cmd_params *p, struct vmtrack_session *s, pid_t pid,
		 const struct vmtrack_run_stats *rs)
{
	const struct vmtrack_dset *ds = vmtrack_session_dset(s);
	FILE *f = json_out(p);
	struct vmtrack_range_info ri;
	size_t i;

	if (f) {
		summary_json(f, s, pid, rs);
		if (fflush(f) || ferror(f))
			fprintf(stderr, "vmtrack: writing %s: %s\n", p->output ?: "stdout",
				strerror(errno));
		if (f == json_file) {
			fclose(json_file);
			json_file = NULL;
		}
	}
	if (p->json)
		return;
	printf("# summary: pid %d, %" PRIu64 " epochs in %.3f s, %" PRIu64 " pages reported dirty",
	       (int)pid, rs->epochs, rs->seconds, rs->dirty_pages);
	if (rs->loss_epochs)
		printf(", %" PRIu64 " epochs with loss (%" PRIu64 " events lost)",
		       rs->loss_epochs, rs->lost_events);
	printf("\n# per range: pages watched, dirty in the last epoch, dirty summed over all "
	       "epochs, that sum per second\n");
	printf("#        START-END               WATCHED      LAST       ALL      ALL/S  MAPPING\n");
	for (i = 0; !vmtrack_dset_range(ds, i, &ri); i++)
		printf("%012" PRIx64 "-%012" PRIx64 " %9" PRIu64 " %9" PRIu64 " %9" PRIu64
		       " %10.2f  %s\n", ri.start, ri.end, ri.pages, ri.last, ri.total,
		       rs->seconds > 0 ? ri.total / rs->seconds : 0.0, ri.label);
	fflush(stdout);
}
