// SPDX-License-Identifier: GPL-2.0-only
/*
 * Option parsing of vmtrack watch and vmtrack run (getopt_long, rtla style).
 * Kept apart from the commands so that the unit tests can link it.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmtrack-cmd.h"

#define MAX_INTERVAL_MS		(24UL * 3600 * 1000)
#define MIN_BUFFER_KB		4UL
#define MAX_BUFFER_KB		(4UL * 1024 * 1024)

static const char * const watch_msg[] = {
	"",
	"  usage: vmtrack watch -p PID [-r START-END ...] [-f] [-i SECONDS] [-n EPOCHS] [-b KB]",
	"                       [-j] [-o FILE] [-k] [-q] [-d] [--writable-only] [--journal FILE] [--events-only]",
	"",
	"  Watch a running process and report, every epoch, the pages it changed.",
	"",
	"	  -p/--pid PID: the process to watch",
	"	  -r/--range START-END: watch only this range (hex, page aligned; repeatable);",
	"			default: all private mappings, rescanned every epoch",
	"	  --writable-only: watch only the writable private mappings (without",
	"			MADV_WATCH_ALL, a write after an mprotect() may be missed)",
	"	  -f/--follow: also watch the descendants of PID, those running now and those",
	"			it starts, and what they execute: one dirty set per process",
	"	  -i/--interval SECONDS: epoch period (default 1, fractions allowed)",
	"	  -n/--epochs N: stop after N epochs (default: until the process exits or ^C)",
	"	  -b/--buffer-kb KB: ring buffer per CPU (default: sized from the watched size)",
	"	  -j/--json: one JSON object per epoch and a summary object",
	"	  -o/--output FILE: write the JSON objects to FILE (the text stays on stdout",
	"			unless -j is given)",
	"	  -d/--dirty: list the dirty ranges of each epoch",
	"	  -k/--keep: leave the ranges watched on exit",
	"	  -q/--quiet: print only the summary",
	"	  --journal FILE: write a binary journal of the run to FILE (vmtrack report",
	"			decodes it)",
	"	  --journal-ranges: journal the dirty ranges and the mappings they are in",
	"	  --events-only: read every write from its event, even in epochs that",
	"			write much of the memory (no dense epochs)",
	"	  -h/--help: print this menu",
	NULL,
};

static const char * const run_msg[] = {
	"",
	"  usage: vmtrack run [-f] [-i SECONDS] [-n EPOCHS] [-b KB] [-j] [-o FILE] [-k] [-q]",
	"                     [-d] [--writable-only] [-s] [--journal FILE] [--events-only] -- COMMAND [ARGS...]",
	"",
	"  Start COMMAND watched from its first instruction and report the pages it changes.",
	"",
	"	  -s/--sync-stop: take an epoch whenever COMMAND stops itself (SIGSTOP),",
	"			then continue it; no periodic epochs",
	"	  -f/--follow: also watch the processes COMMAND starts, and what they execute:",
	"			one dirty set per process; ends when the last one exits",
	"	  --writable-only: watch only the writable private mappings (without",
	"			MADV_WATCH_ALL, a write after an mprotect() may be missed)",
	"	  -i/--interval SECONDS: epoch period (default 1, fractions allowed)",
	"	  -n/--epochs N: stop after N epochs (default: until COMMAND exits or ^C)",
	"	  -b/--buffer-kb KB: ring buffer per CPU (default: sized from the watched size)",
	"	  -j/--json: one JSON object per epoch and a summary object",
	"	  -o/--output FILE: write the JSON objects to FILE (the text stays on stdout",
	"			unless -j is given)",
	"	  -d/--dirty: list the dirty ranges of each epoch",
	"	  -k/--keep: leave the ranges watched on exit",
	"	  -q/--quiet: print only the summary",
	"	  --journal FILE: write a binary journal of the run to FILE (vmtrack report",
	"			decodes it)",
	"	  --journal-ranges: journal the dirty ranges and the mappings they are in",
	"	  --events-only: read every write from its event, even in epochs that",
	"			write much of the memory (no dense epochs)",
	"	  -h/--help: print this menu",
	NULL,
};

/**
 * vmtrack_print_lines() - print a NULL-terminated array of lines
 * @f:		where to
 * @lines:	the lines, without their newlines
 */
void vmtrack_print_lines(FILE *f, const char * const *lines)
{
	for (; *lines; lines++)
		fprintf(f, "%s\n", *lines);
}

/**
 * vmtrack_usage() - print the usage of a subcommand on stdout
 * @mode:	which subcommand
 */
void vmtrack_usage(enum vmtrack_mode mode)
{
	vmtrack_print_lines(stdout, mode == VMTRACK_MODE_RUN ? run_msg : watch_msg);
}

/**
 * vmtrack_parse_ulong() - parse a decimal number within bounds
 * @arg:	the text
 * @min:	smallest accepted value
 * @max:	largest accepted value
 * @out:	receives the value
 *
 * Return: 0, or -EINVAL (not a number, trailing text, sign) or -ERANGE.
 */
int vmtrack_parse_ulong(const char *arg, unsigned long min, unsigned long max,
			unsigned long *out)
{
	unsigned long long v;
	char *end;

	if (!arg || !*arg || *arg == '-' || *arg == '+' || *arg == ' ')
		return -EINVAL;
	errno = 0;
	v = strtoull(arg, &end, 10);
	if (*end)
		return -EINVAL;
	if (errno || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

/**
 * vmtrack_parse_seconds() - parse a positive duration in seconds
 * @arg:	"2", "0.5"
 * @ms:		receives milliseconds (at least 1)
 *
 * Return: 0, or -EINVAL / -ERANGE (zero, negative, over a day, not finite).
 */
int vmtrack_parse_seconds(const char *arg, unsigned long *ms)
{
	double v;
	char *end;

	if (!arg || !*arg)
		return -EINVAL;
	errno = 0;
	v = strtod(arg, &end);
	if (*end || errno || !isfinite(v))
		return -EINVAL;
	if (v * 1000 < 1 || v * 1000 > MAX_INTERVAL_MS)
		return -ERANGE;
	*ms = (unsigned long)(v * 1000 + 0.5);
	return 0;
}

/**
 * vmtrack_parse_range() - parse START-END in hexadecimal
 * @arg:	"7f0000000000-7f0000100000", "0x1000-0x3000"
 * @page_size:	both ends must be multiples of it
 * @out:	receives the range
 *
 * Return: 0, or -EINVAL (syntax, alignment, empty or reversed range).
 */
int vmtrack_parse_range(const char *arg, unsigned long page_size, struct iovec *out)
{
	unsigned long long start, end;
	const char *dash;
	char *e;

	if (!arg || !isxdigit((unsigned char)*arg))
		return -EINVAL;
	errno = 0;
	start = strtoull(arg, &e, 16);
	dash = e;
	if (errno || *dash != '-' || !isxdigit((unsigned char)dash[1]))
		return -EINVAL;
	end = strtoull(dash + 1, &e, 16);
	if (errno || *e || start >= end || (start % page_size) || (end % page_size))
		return -EINVAL;
	out->iov_base = (void *)(uintptr_t)start;
	out->iov_len = end - start;
	return 0;
}

/**
 * vmtrack_params_free() - free what vmtrack_parse_args() allocated
 * @p:	the parameters
 */
void vmtrack_params_free(struct vmtrack_cmd_params *p)
{
	free(p->ranges);
	p->ranges = NULL;
	p->nr_ranges = 0;
}

static int add_range(struct vmtrack_cmd_params *p, const char *arg, char *err, size_t errlen)
{
	struct iovec *r;

	r = realloc(p->ranges, (p->nr_ranges + 1) * sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	p->ranges = r;
	if (vmtrack_parse_range(arg, sysconf(_SC_PAGESIZE), &r[p->nr_ranges])) {
		snprintf(err, errlen, "invalid range '%s' (want START-END in hex, page aligned, "
			 "START < END)", arg);
		return -1;
	}
	p->nr_ranges++;
	return 0;
}

/* the option getopt_long() stopped at was given long ("--name"): see below */
static bool given_long(char **argv, int before)
{
	return optind > before && !strncmp(argv[optind - 1], "--", 2);
}

/**
 * vmtrack_option_name() - an option as the user gave it
 * @buf:	receives "-c" or "--name"
 * @len:	size of @buf
 * @argv:	the arguments
 * @c:		the short option (getopt_long()'s return, or optopt on an error)
 * @longopts:	the long options
 * @longindex:	getopt_long()'s index of a long option, -1 if none was set
 * @before:	optind before the getopt_long() call
 *
 * A long option is named from @longindex, or, where getopt_long() refused
 * it (and set no index), from its argument up to '=': getopt_long() read
 * that argument whole, so optind moved past it. A short option may be one
 * of a group ("-sq"), where argv[optind - 1] is no name of it at all.
 *
 * Return: @buf.
 */
const char *vmtrack_option_name(char *buf, size_t len, char **argv, int c,
				const struct option *longopts, int longindex, int before)
{
	if (longindex >= 0)
		snprintf(buf, len, "--%s", longopts[longindex].name);
	else if (given_long(argv, before))
		snprintf(buf, len, "%.*s", (int)strcspn(argv[optind - 1], "="),
			 argv[optind - 1]);
	else
		snprintf(buf, len, "-%c", c > 0 && c < 256 ? c : '?');
	return buf;
}

/**
 * vmtrack_option_error() - why getopt_long() refused an option
 * @err:	receives the reason, one line
 * @errlen:	size of @err
 * @argv:	the arguments
 * @longopts:	the long options
 * @c:		getopt_long()'s return: '?', or ':' (a leading ':' in its
 *		option string) for a missing value
 * @before:	optind before the getopt_long() call
 */
void vmtrack_option_error(char *err, size_t errlen, char **argv, const struct option *longopts,
			  int c, int before)
{
	const struct option *o;
	char name[64];
	size_t n = 0;

	vmtrack_option_name(name, sizeof(name), argv, optopt, longopts, -1, before);
	if (c == ':') {
		snprintf(err, errlen, "option '%s' needs a value", name);
		return;
	}
	if (optopt && given_long(argv, before)) {
		/* a long option found, but given a value it does not take */
		snprintf(err, errlen, "option '%s' takes no value", name);
		return;
	}
	/* getopt_long() takes a prefix of one long option for it */
	if (given_long(argv, before))
		for (o = longopts; o->name; o++)
			n += !strncmp(o->name, name + 2, strlen(name + 2));
	if (n > 1)
		snprintf(err, errlen, "option '%s' is ambiguous", name);
	else
		snprintf(err, errlen, "unknown option '%s'", name);
}

/**
 * vmtrack_parse_args() - parse the options of watch or run
 * @mode:	which subcommand
 * @argc:	argument count, argv[0] is the subcommand name
 * @argv:	arguments
 * @p:		filled in (defaults first); free with vmtrack_params_free()
 * @err:	receives a one-line reason on error
 * @errlen:	size of @err
 *
 * Return: 0, VMTRACK_PARSE_HELP if --help was given, or -1 with @err set.
 */
int vmtrack_parse_args(enum vmtrack_mode mode, int argc, char **argv,
		       struct vmtrack_cmd_params *p, char *err, size_t errlen)
{
	static const struct option long_options[] = {
		{ "pid",	 required_argument, 0, 'p' },
		{ "range",	 required_argument, 0, 'r' },
		{ "interval",	 required_argument, 0, 'i' },
		{ "epochs",	 required_argument, 0, 'n' },
		{ "buffer-kb",	 required_argument, 0, 'b' },
		{ "json",	 no_argument,	    0, 'j' },
		{ "output",	 required_argument, 0, 'o' },
		{ "keep",	 no_argument,	    0, 'k' },
		{ "quiet",	 no_argument,	    0, 'q' },
		{ "dirty",	 no_argument,	    0, 'd' },
		{ "all-private", no_argument,	    0, 'a' },
		{ "sync-stop",	 no_argument,	    0, 's' },
		{ "follow",	 no_argument,	    0, 'f' },
		{ "journal",	 required_argument, 0, OPT_JOURNAL },
		{ "journal-ranges", no_argument,    0, OPT_JOURNAL_RANGES },
		{ "events-only", no_argument,	    0, OPT_EVENTS_ONLY },
		{ "writable-only", no_argument,  0, OPT_WRITABLE_ONLY },
		{ "help",	 no_argument,	    0, 'h' },
		{ 0, 0, 0, 0 }
	};
	bool interval_set = false;
	int c, longindex, before;
	char name[64];
	unsigned long v;

	memset(p, 0, sizeof(*p));
	p->mode = mode;
	p->interval_ms = 1000;
	p->all_private = true;
	err[0] = '\0';
	optind = 0;
	opterr = 0;
	for (;;) {
		before = optind;
		longindex = -1;
		c = getopt_long(argc, argv, "+:p:r:i:n:b:jo:kqdasfh", long_options, &longindex);
		if (c == -1)
			break;
		switch (c) {
		case 'p':
			if (mode != VMTRACK_MODE_WATCH)
				goto not_here;
			if (vmtrack_parse_ulong(optarg, 1, INT_MAX, &v)) {
				snprintf(err, errlen, "invalid pid '%s'", optarg);
				return -1;
			}
			p->pid = v;
			break;
		case 'r':
			if (mode != VMTRACK_MODE_WATCH)
				goto not_here;
			if (add_range(p, optarg, err, errlen))
				return -1;
			break;
		case 'i':
			if (vmtrack_parse_seconds(optarg, &p->interval_ms)) {
				snprintf(err, errlen, "invalid interval '%s' (want seconds > 0, "
					 "at most a day)", optarg);
				return -1;
			}
			interval_set = true;
			break;
		case 'n':
			if (vmtrack_parse_ulong(optarg, 1, ULONG_MAX, &p->epochs)) {
				snprintf(err, errlen, "invalid number of epochs '%s'", optarg);
				return -1;
			}
			break;
		case 'b':
			if (vmtrack_parse_ulong(optarg, MIN_BUFFER_KB, MAX_BUFFER_KB, &v)) {
				snprintf(err, errlen,
					 "invalid buffer size '%s' (want %lu to %lu KiB)",
					 optarg, MIN_BUFFER_KB, MAX_BUFFER_KB);
				return -1;
			}
			p->buffer_kb = v;
			break;
		case 'j':
			p->json = true;
			break;
		case 'o':
			if (!*optarg) {
				snprintf(err, errlen, "empty output file name");
				return -1;
			}
			p->output = optarg;
			break;
		case 'k':
			p->keep = true;
			break;
		case 'q':
			p->quiet = true;
			break;
		case 'd':
			p->list_dirty = true;
			break;
		case 'a':
			p->all_private = true;
			break;
		case 's':
			if (mode != VMTRACK_MODE_RUN)
				goto not_here;
			p->sync_stop = true;
			break;
		case OPT_JOURNAL:
			if (!*optarg) {
				snprintf(err, errlen, "empty journal file name");
				return -1;
			}
			p->journal = optarg;
			break;
		case OPT_JOURNAL_RANGES:
			p->journal_ranges = true;
			break;
		case OPT_WRITABLE_ONLY:
			p->all_private = false;
			break;
		case OPT_EVENTS_ONLY:
			p->events_only = true;
			break;
		case 'f':
			p->follow = true;
			break;
		case 'h':
			return VMTRACK_PARSE_HELP;
		default:
			vmtrack_option_error(err, errlen, argv, long_options, c, before);
			return -1;
		}
	}
	if (p->follow && (p->nr_ranges || p->sync_stop)) {
		snprintf(err, errlen, "--follow watches whole processes: not with %s",
			 p->nr_ranges ? "--range" : "--sync-stop");
		return -1;
	}
	if (p->journal_ranges && !p->journal) {
		snprintf(err, errlen, "--journal-ranges needs --journal FILE");
		return -1;
	}
	if (mode == VMTRACK_MODE_WATCH) {
		if (!p->pid) {
			snprintf(err, errlen, "missing -p PID");
			return -1;
		}
		if (optind < argc) {
			snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
			return -1;
		}
	} else {
		if (optind >= argc) {
			snprintf(err, errlen, "missing command (vmtrack run [options] -- CMD)");
			return -1;
		}
		p->argv = &argv[optind];
		if (p->sync_stop && !interval_set)
			p->interval_ms = 0;	/* epochs only at stops */
	}
	return 0;
not_here:
	snprintf(err, errlen, "option '%s' is not valid for %s",
		 vmtrack_option_name(name, sizeof(name), argv, c, long_options, longindex, before),
		 mode == VMTRACK_MODE_RUN ? "run" : "watch");
	return -1;
}
