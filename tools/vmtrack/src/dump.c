// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmtrack dump -p PID -D DIR / vmtrack dump -D DIR -- CMD: incremental
 * pre-copy of a process's private memory into a chain of CRIU images.
 *
 *   mark every private mapping (MADV_WATCH), then copy every page a
 *   checkpoint needs into DIR/1
 *   repeat: epoch (read events, re-arm the dirty pages), copy the dirty
 *	pages into DIR/k, the others as holes in the parent
 *   until the convergence rule stops it; then freeze, last epoch, copy the
 *   last increment into DIR/n, thaw (or leave stopped); DIR/last -> n
 *
 * See Documentation/tools/vmtrack/vmtrack-dump.rst.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "grow.h"
#include "vmtrack-cmd.h"
#include "vmtrack-dump.h"
#include "journal.h"

#define DEF_MAX_ITER		8
#define DEF_THRESHOLD		64
#define DEF_DOWNTIME_MS		300
#define DEF_COPY_KB		4096
#define DEF_PS_TIMEOUT_S	60
#define PUMP_EVERY_PAGES	4096
#define MAX_ITERS		1000
/* --throttle: as QEMU's auto-converge (cpu-throttle-initial, -increment) */
#define THROTTLE_FIRST		20
#define THROTTLE_STEP		10
#define DEF_THROTTLE_MAX	90
#define THROTTLE_PERIOD_S	0.2

/* the dump is complete (DIR/last exists), its journal or output is not */
#define EXIT_INCOMPLETE		2

#define __stringify_1(x)	#x
#define __stringify(x)		__stringify_1(x)

struct dump_opts {
	pid_t		pid;
	const char	*dir;
	const char	*page_server;
	int		ps_header;
	unsigned long	ps_timeout_s;	/* 0: wait as long as it takes */
	char		**argv;
	unsigned long	max_iter;
	unsigned long	threshold;
	unsigned long	downtime_ms;
	unsigned long	copy_kb;
	unsigned long	buffer_kb;
	bool		leave_stopped;
	bool		track_mem;
	bool		json;
	bool		quiet;
	const char	*journal;
	bool		journal_ranges;
	bool		events_only;
	unsigned long	throttle_max;	/* percent; 0: no throttle */
};

struct dump {
	const struct dump_opts		*o;
	pid_t				pid;
	pid_t				id;		/* pid in its own namespace */
	bool				child;
	bool				created_dir;
	struct vmtrack_session		*s;
	struct vmtrack_pagemap		*pm;
	struct vmtrack_copier		*cp;
	struct vmtrack_converge		cv;
	struct vmtrack_pset		chain;		/* pages the images hold */
	struct vmtrack_pset		pending;	/* dirty, not copied yet */
	struct vmtrack_pset		vdso;		/* copied once, as CRIU does */
	struct vmtrack_pset		t1, t2, t3;	/* scratch */
	unsigned int			iter;		/* iterations committed */
	unsigned int			ps_iter;	/* committed on the page servers */
	long				page_size;
	double				t0;
	uint64_t			total_pages;
	/* per iteration */
	struct vmtrack_img_writer	*w;
	struct vmtrack_ps		*ps;
	uint64_t			since_pump;
	unsigned int			loss;		/* since the last report */
	bool				all_dirty;
	bool				frozen;
	struct journal			*j;
	double				prev_epoch;	/* time of the last epoch */
	/* --throttle */
	unsigned int			throttle;	/* percent of each period held */
	bool				held;		/* frozen by the throttle now */
	double				phase;		/* start of the current phase */
	double				held_s;		/* held in this copy */
	bool				throttle_off;	/* a freeze for it failed */
	char				err[512];
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int fail_interrupted(struct dump *d)
{
	snprintf(d->err, sizeof(d->err), "interrupted by signal %d", (int)interrupted);
	return -EINTR;
}

static int fail(struct dump *d, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct dump *d, int ret, const char *fmt, ...)
{
	va_list ap;

	/* a wait for a page server that a signal ended: the signal is the cause */
	if (ret == -EINTR && interrupted)
		return fail_interrupted(d);
	va_start(ap, fmt);
	vsnprintf(d->err, sizeof(d->err), fmt, ap);
	va_end(ap);
	return ret ? ret : -EIO;
}

/* ---- options ---- */

static const char * const usage_msg[] = {
	"",
	"  usage: vmtrack dump (-D DIR | -P HOST:PORT [-H 24|32] [--ps-timeout SEC] [-D DIR])",
	"                      (-p PID | -- COMMAND [ARGS...])",
	"                      [-n ITER] [-t PAGES] [-T MS] [-c KB] [-b KB] [-S] [-j] [-q]",
	"                      [--journal FILE [--journal-ranges]] [--events-only]",
	"                      [--throttle[=MAX_PERCENT]]",
	"",
	"  Copy a process's private memory into CRIU images while it runs: everything",
	"  once, then only the pages it changed, then freeze it for the last increment.",
	"",
	"	  -p/--pid PID: the process to dump",
	"	  -D/--dir DIR: where the iterations go (DIR/1, DIR/2, ..., DIR/last);",
	"			must be empty or not exist",
	"	  -P/--page-server HOST:PORT: send each iteration's pages to a criu",
	"			page-server (one server per iteration, see vmtrack-dump(1));",
	"			with -D, DIR/K gets what criu pre-dump keeps locally",
	"			(inventory.img, parent) for 'criu dump --page-server'",
	"	  -H/--ps-header 24|32: the server's request size: 24 up to CRIU 4.1",
	"			(Debian 12's 3.17), 32 from CRIU 4.2 (default 24)",
	"	  --ps-timeout SEC: fail when nothing goes to or comes from the page",
	"			server for SEC seconds (default 60, 0: no limit)",
	"	  -n/--max-iter N: iterations in all, the frozen one included (default 8)",
	"	  -t/--threshold PAGES: freeze when at most PAGES are dirty (default 64)",
	"	  -T/--downtime-ms MS: freeze when the dirty pages copy within MS at the",
	"			measured bandwidth and the last copy did not halve",
	"			them (default 300, 0: rule off)",
	"	  -c/--copy-buffer-kb KB: process_vm_readv buffer (default 4096)",
	"	  -b/--buffer-kb KB: ring buffer per CPU (default: sized from the watched size)",
	"	  -S/--leave-stopped: leave the process stopped after the last copy",
	"	  --throttle[=MAX]: when a copy did not halve what is left, stop the process",
	"			for part of the next copies: 20 %, then 10 % more each time, up",
	"			to MAX % (default 90)",
	"	  -M/--track-mem: hand over to 'criu dump --track-mem --prev-images-dir",
	"			DIR/last': clear the soft-dirty bits while frozen, after",
	"			the last copy (needs CONFIG_MEM_SOFT_DIRTY and -D)",
	"	  -j/--json: one JSON object per iteration and a summary object",
	"	  -q/--quiet: print only the summary",
	"	  --journal FILE: write a binary journal of the dump to FILE (vmtrack",
	"			report decodes it)",
	"	  --journal-ranges: journal the dirty ranges of every epoch too",
	"	  --events-only: read every write from its event, even in epochs that",
	"			write much of the memory (no dense epochs)",
	"	  -h/--help: print this menu",
	NULL,
};

/* as vmtrack run and watch say it: what, the value given, what is wanted */
static int bad_value(char *err, size_t len, const char *what, const char *arg,
		     const char *want)
{
	snprintf(err, len, "invalid %s '%s'%s", what, arg, want);
	return -EINVAL;
}

static int parse(int argc, char **argv, struct dump_opts *o, char *err, size_t len)
{
	static const struct option longopts[] = {
		{ "pid",		required_argument,	NULL, 'p' },
		{ "dir",		required_argument,	NULL, 'D' },
		{ "page-server",	required_argument,	NULL, 'P' },
		{ "ps-header",		required_argument,	NULL, 'H' },
		{ "ps-timeout",		required_argument,	NULL, OPT_PS_TIMEOUT },
		{ "max-iter",		required_argument,	NULL, 'n' },
		{ "threshold",		required_argument,	NULL, 't' },
		{ "downtime-ms",	required_argument,	NULL, 'T' },
		{ "copy-buffer-kb",	required_argument,	NULL, 'c' },
		{ "buffer-kb",		required_argument,	NULL, 'b' },
		{ "leave-stopped",	no_argument,		NULL, 'S' },
		{ "track-mem",		no_argument,		NULL, 'M' },
		{ "json",		no_argument,		NULL, 'j' },
		{ "quiet",		no_argument,		NULL, 'q' },
		{ "journal",		required_argument,	NULL, OPT_JOURNAL },
		{ "journal-ranges",	no_argument,		NULL, OPT_JOURNAL_RANGES },
		{ "events-only",	no_argument,		NULL, OPT_EVENTS_ONLY },
		{ "throttle",		optional_argument,	NULL, OPT_THROTTLE },
		{ "help",		no_argument,		NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool ps_header = false, ps_timeout = false;
	unsigned long v;
	int c, before;

	*o = (struct dump_opts){
		.max_iter = DEF_MAX_ITER,
		.threshold = DEF_THRESHOLD,
		.downtime_ms = DEF_DOWNTIME_MS,
		.copy_kb = DEF_COPY_KB,
		.ps_header = 24,
		.ps_timeout_s = DEF_PS_TIMEOUT_S,
	};
	optind = 1;
	opterr = 0;
	for (before = optind;
	     (c = getopt_long(argc, argv, "+:p:D:P:H:n:t:T:c:b:SMjqh", longopts, NULL)) != -1;
	     before = optind) {
		switch (c) {
		case 'p':
			if (vmtrack_parse_ulong(optarg, 1, INT_MAX, &v))
				return bad_value(err, len, "pid", optarg, "");
			o->pid = v;
			break;
		case 'D':
			if (!*optarg) {
				snprintf(err, len, "empty directory name");
				return -EINVAL;
			}
			o->dir = optarg;
			break;
		case 'P':
			o->page_server = optarg;
			break;
		case 'H':
			if (vmtrack_parse_ulong(optarg, 24, 32, &v) || (v != 24 && v != 32))
				return bad_value(err, len, "page server header size", optarg,
						 " (want 24 or 32)");
			o->ps_header = v;
			ps_header = true;
			break;
		case OPT_PS_TIMEOUT:
			if (vmtrack_parse_ulong(optarg, 0, 24 * 3600, &o->ps_timeout_s))
				return bad_value(err, len, "page server timeout", optarg,
						 " (want 0 to 86400 s)");
			ps_timeout = true;
			break;
		case 'n':
			if (vmtrack_parse_ulong(optarg, 1, MAX_ITERS, &o->max_iter))
				return bad_value(err, len, "number of iterations", optarg,
						 " (want 1 to " __stringify(MAX_ITERS) ")");
			break;
		case 't':
			if (vmtrack_parse_ulong(optarg, 0, ULONG_MAX, &o->threshold))
				return bad_value(err, len, "threshold", optarg,
						 " (want pages, 0 or more)");
			break;
		case 'T':
			if (vmtrack_parse_ulong(optarg, 0, 3600 * 1000, &o->downtime_ms))
				return bad_value(err, len, "downtime", optarg,
						 " (want 0 to 3600000 ms)");
			break;
		case 'c':
			if (vmtrack_parse_ulong(optarg, 4, 1024 * 1024, &o->copy_kb))
				return bad_value(err, len, "copy buffer size", optarg,
						 " (want 4 to 1048576 KiB)");
			break;
		case 'b':
			if (vmtrack_parse_ulong(optarg, 4, 4 * 1024 * 1024, &o->buffer_kb))
				return bad_value(err, len, "buffer size", optarg,
						 " (want 4 to 4194304 KiB)");
			break;
		case 'S':
			o->leave_stopped = true;
			break;
		case 'M':
			o->track_mem = true;
			break;
		case 'j':
			o->json = true;
			break;
		case 'q':
			o->quiet = true;
			break;
		case OPT_JOURNAL:
			if (!*optarg) {
				snprintf(err, len, "empty journal file name");
				return -EINVAL;
			}
			o->journal = optarg;
			break;
		case OPT_JOURNAL_RANGES:
			o->journal_ranges = true;
			break;
		case OPT_EVENTS_ONLY:
			o->events_only = true;
			break;
		case OPT_THROTTLE:
			o->throttle_max = DEF_THROTTLE_MAX;
			if (optarg && vmtrack_parse_ulong(optarg, THROTTLE_FIRST, 99,
							  &o->throttle_max))
				return bad_value(err, len, "--throttle", optarg,
						 " (want " __stringify(THROTTLE_FIRST) " to 99 %)");
			break;
		case 'h':
			return VMTRACK_PARSE_HELP;
		default:
			vmtrack_option_error(err, len, argv, longopts, c, before);
			return -EINVAL;
		}
	}
	if (optind < argc)
		o->argv = argv + optind;
	if (!o->dir && !o->page_server) {
		snprintf(err, len, "give -D DIR, -P HOST:PORT, or both");
		return -EINVAL;
	}
	if (!o->pid == !o->argv) {
		snprintf(err, len, "give either -p PID or -- COMMAND");
		return -EINVAL;
	}
	if (o->journal_ranges && !o->journal) {
		snprintf(err, len, "--journal-ranges needs --journal FILE");
		return -EINVAL;
	}
	if (ps_header && !o->page_server) {
		snprintf(err, len, "-H is the page server's request size: it needs -P HOST:PORT");
		return -EINVAL;
	}
	if (ps_timeout && !o->page_server) {
		snprintf(err, len, "--ps-timeout limits the waits for a page server: it needs "
			 "-P HOST:PORT");
		return -EINVAL;
	}
	if (o->track_mem && !o->dir) {
		snprintf(err, len, "--track-mem hands DIR/last to criu dump: it needs -D DIR");
		return -EINVAL;
	}
	/* last: the host is resolved, which can take a while */
	if (o->page_server)
		return vmtrack_ps_check_addr(o->page_server, err, len);
	return 0;
}

/* ---- the dump directory ---- */

static int check_dir(struct dump *d)
{
	const char *dir = d->o->dir;
	struct dirent *de;
	DIR *dp;

	if (!dir)
		return 0;
	dp = opendir(dir);
	if (!dp && errno == ENOENT) {
		if (mkdir(dir, 0700))
			return fail(d, -errno, "%s: cannot create: %s", dir, strerror(errno));
		d->created_dir = true;
		return 0;
	}
	if (!dp)
		return fail(d, -errno, "%s: %s", dir, strerror(errno));
	while ((de = readdir(dp))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			closedir(dp);
			return fail(d, -EEXIST, "%s: directory not empty", dir);
		}
	}
	closedir(dp);
	if (access(dir, W_OK | X_OK))
		return fail(d, -errno, "%s: not writable: %s", dir, strerror(errno));
	return 0;
}

/*
 * What a failed dump leaves on the page servers, for its error line: the
 * protocol has no way to take back an iteration committed there.
 */
static const char *left_on_servers(const struct dump *d, char *buf, size_t len)
{
	if (!d->o->page_server || !d->ps_iter)
		return "";
	if (d->ps_iter == 1)
		snprintf(buf, len, "; iteration 1 stays on its page server");
	else
		snprintf(buf, len, "; iterations 1 to %u stay on their page servers",
			 d->ps_iter);
	return buf;
}

/* on failure: nothing that looks like a dump stays behind (but on servers) */
static void remove_dump(struct dump *d)
{
	char name[16], path[PATH_MAX];
	unsigned int i;

	if (!d->o->dir)
		return;
	snprintf(path, sizeof(path), "%s/last", d->o->dir);
	unlink(path);
	for (i = d->iter; i >= 1; i--) {
		snprintf(name, sizeof(name), "%u", i);
		vmtrack_img_remove(d->o->dir, name, d->id);
	}
	if (d->created_dir)
		rmdir(d->o->dir);
}

static int link_last(struct dump *d)
{
	char tmp[PATH_MAX], path[PATH_MAX], name[16];

	if (!d->o->dir)
		return 0;
	snprintf(name, sizeof(name), "%u", d->iter);
	snprintf(tmp, sizeof(tmp), "%s/.last.partial", d->o->dir);
	snprintf(path, sizeof(path), "%s/last", d->o->dir);
	unlink(tmp);
	if (symlink(name, tmp) || rename(tmp, path)) {
		unlink(tmp);
		return fail(d, -errno, "%s: %s", path, strerror(errno));
	}
	return 0;
}

/* ---- the target ---- */

/* the pid as the target sees it (last NSpid field): pagemap-ID.img */
static pid_t ns_pid(pid_t pid)
{
	char path[64], line[256], *p, *end;
	pid_t id = pid;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return pid;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "NSpid:", 6))
			continue;
		for (p = line + 6; *p; p = end) {
			long v = strtol(p, &end, 10);

			if (end == p)
				break;
			id = v;
		}
	}
	fclose(f);
	return id;
}

/* the child stops after exec until it is watched (target_spawn()) */
static int spawn(struct dump *d)
{
	pid_t pid = target_spawn(d->o->argv, NULL, d->err, sizeof(d->err));

	if (pid < 0)
		return -ENOEXEC;
	d->pid = pid;
	d->child = true;
	return 0;
}

/*
 * A kernel thread, a thread id or a zombie has no memory of its own to
 * dump, each with its own message; first, because the check for a process
 * that shares the memory could not tell them apart.
 */
static int check_target(struct dump *d)
{
	char err[256];
	int ret;

	ret = vmtrack_target_check(d->pid, err, sizeof(err));
	return ret ? fail(d, ret, "%s", err) : 0;
}

/*
 * The command runs from its detach on: one whose dump was refused is killed
 * first, so that not one instruction of it runs (SIGKILL ends a stopped
 * tracee without resuming it in user space).
 */
static void release_child(struct dump *d, bool refused)
{
	if (refused)
		kill(d->pid, SIGKILL);
	ptrace(PTRACE_DETACH, d->pid, NULL, NULL);
}

/*
 * CRIU dumps the vDSO whole (its restore may build a proxy from it), and
 * criu dump --track-mem leaves its pages to the parent: the first iteration
 * copies them. They cannot be watched, nor written, so later iterations
 * keep them as holes.
 */
static int find_vdso(const struct vmtrack_mapping *map, void *ctx)
{
	struct dump *d = ctx;

	if (strcmp(map->name, "[vdso]"))
		return 0;
	return vmtrack_pset_append(&d->vdso, map->start, map->end);
}

static int fail_sharer(struct dump *d, pid_t other)
{
	return fail(d, -EUSERS, "pid %d shares its memory with pid %d (clone(CLONE_VM) without "
		    "CLONE_THREAD), which a freeze cannot stop: not dumped", (int)d->pid,
		    (int)other);
}

/*
 * The last freeze would not stop a process that shares the memory: say so
 * first. A vfork() child shares it too until its exec (posix_spawn() makes
 * one): it is given half a second.
 */
static int fail_shared_mm(struct dump *d)
{
	pid_t other;
	int i;

	for (i = 0; i < 10; i++) {
		other = vmtrack_mm_sharer(d->pid);
		if (other <= 0)
			return 0;
		usleep(50 * 1000);
	}
	return fail_sharer(d, other);
}

static int start_session(struct dump *d)
{
	struct vmtrack_params vp = {
		.pid = d->pid,
		.buffer_kb = d->o->buffer_kb,
		.flags = VMTRACK_F_ALL_PRIVATE |
			 (d->o->events_only ? VMTRACK_F_EVENTS_ONLY : 0),
	};
	uint64_t pages;
	char err[256];
	int ret;

	ret = target_count_pages(d->pid, &pages);
	if (ret == -ESRCH)
		return fail(d, ret, "pid %d: no such process", (int)d->pid);
	if (ret == -EACCES || ret == -EPERM)
		return fail(d, ret, "pid %d: not permitted to read its maps", (int)d->pid);
	vp.expected_pages = pages < 16384 ? 16384 : pages;
	ret = fail_shared_mm(d);
	if (ret)
		return ret;
	ret = vmtrack_session_open(&d->s, &vp, err, sizeof(err));
	if (ret)
		return fail(d, ret, "%s", err);
	ret = vmtrack_session_watch_all(d->s);
	if (ret)
		return fail(d, ret, "%s", vmtrack_session_error(d->s));
	ret = vmtrack_pagemap_open(&d->pm, d->pid, err, sizeof(err));
	if (ret)
		return fail(d, ret, "%s", err);
	d->cp = vmtrack_copier_new(d->pid, d->o->copy_kb * 1024);
	if (!d->cp)
		return fail(d, -ENOMEM, "out of memory");
	d->id = ns_pid(d->pid);
	ret = vmtrack_maps_walk(d->pid, find_vdso, d);
	if (ret)
		return fail(d, ret, "pid %d: reading its maps: %s", (int)d->pid, strerror(-ret));
	return 0;
}

/* ---- one iteration ---- */

/*
 * --throttle: while a running iteration copies, the target is frozen for
 * d->throttle percent of every period, as QEMU's auto-converge throttles a
 * guest's CPUs. The copy goes on meanwhile; only the writer slows down.
 * Phases change between two batches of the copier, so a phase lasts at
 * least one batch: the time really held is measured and reported. The
 * freeze is vmtrack_freeze()'s, so a dump that dies lets the target go on.
 */
static void throttle_release(struct dump *d)
{
	double t = now();

	if (!d->held)
		return;
	vmtrack_thaw(d->pid);
	d->held = false;
	d->held_s += t - d->phase;
	d->phase = t;
}

static void throttle_tick(struct dump *d)
{
	double t = now(), held_for = THROTTLE_PERIOD_S * d->throttle / 100;
	bool was_stopped;
	int ret;

	if (!d->throttle)
		return;
	if (d->held) {
		if (t - d->phase >= held_for)
			throttle_release(d);
		return;
	}
	if (t - d->phase < THROTTLE_PERIOD_S - held_for)
		return;
	ret = vmtrack_freeze(d->pid, &was_stopped);
	if (!ret) {
		d->held = true;
		d->phase = now();
	} else if (ret != -ESRCH) {
		/* the copy does not need it; the final freeze reports the cause */
		fprintf(stderr, "vmtrack dump: pid %d: cannot freeze it to throttle it: %s;"
			" throttle off\n", (int)d->pid, strerror(-ret));
		d->throttle = 0;
		d->throttle_off = true;
	}
}

/*
 * A running iteration that did not halve what is left to copy raises the
 * throttle, first to 20 %, then by 10 % up to the maximum; until it is
 * reached, the loop goes on where it would freeze the target only because
 * the dirty pages did not shrink.
 */
static void throttle_adjust(struct dump *d, uint64_t to_copy, enum vmtrack_stop *stop)
{
	unsigned int max = d->o->throttle_max;

	if (!max || d->throttle_off || d->throttle >= max || to_copy * 2 <= d->cv.last_pages ||
	    (*stop && *stop != VMTRACK_STOP_NOT_SHRINKING))
		return;
	d->throttle = d->throttle ? d->throttle + THROTTLE_STEP : THROTTLE_FIRST;
	if (d->throttle > max)
		d->throttle = max;
	if (*stop == VMTRACK_STOP_NOT_SHRINKING)
		*stop = VMTRACK_STOP_NO;
}

static int sink(void *ctx, uint64_t vaddr, uint64_t nr_pages, const void *data)
{
	struct dump *d = ctx;
	int ret;

	if (!data)
		return d->ps ? vmtrack_ps_hole(d->ps, vaddr, nr_pages) :
		       vmtrack_img_hole(d->w, vaddr, nr_pages);
	ret = d->ps ? vmtrack_ps_present(d->ps, vaddr, nr_pages, data) :
	      vmtrack_img_present(d->w, vaddr, nr_pages, data);
	/* keep the ring buffers from filling up during a long copy */
	d->since_pump += nr_pages;
	if (!ret && d->since_pump >= PUMP_EVERY_PAGES) {
		d->since_pump = 0;
		vmtrack_session_pump(d->s, -1, 0);
	}
	if (!ret && !d->frozen)
		throttle_tick(d);
	return ret;
}

struct iter_result {
	uint64_t	dirty;
	uint64_t	pages;
	uint64_t	holes;
	uint64_t	gone;
	double		seconds;
	unsigned int	loss;
	bool		all_dirty;
	unsigned int	throttle;
	double		held_s;
};

static int tracked(struct dump *d, struct vmtrack_pset *out)
{
	struct iovec *iov = NULL;
	size_t alloc = 0;
	ssize_t n;
	int ret;

	n = vmtrack_dset_ranges_iov(vmtrack_session_dset(d->s), &iov, &alloc);
	if (n < 0)
		return (int)n;
	ret = vmtrack_pset_from_iov(out, iov, n);
	free(iov);
	return ret;
}

static const char *out_error(struct dump *d, int ret)
{
	const char *msg = d->ps ? vmtrack_ps_error(d->ps) : vmtrack_img_error(d->w);

	return msg[0] ? msg : strerror(-ret);
}

static void out_abort(struct dump *d)
{
	vmtrack_img_abort(d->w);
	vmtrack_ps_abort(d->ps);
	d->w = NULL;
	d->ps = NULL;
}

/*
 * d->t1: the pages of @dirty an iteration copies, those of the tracked
 * ranges that CRIU dumps (vmtrack_pagemap_select()); d->t2: the tracked
 * ranges and the vDSO. A dirty page may be none of those: a sweep after
 * the session switched its write_fault event reports the page cache of
 * private file mappings as well (see DENSE EPOCHS in vmtrack(1)).
 */
static int select_copy(struct dump *d, const struct vmtrack_pset *dirty)
{
	int ret;

	ret = tracked(d, &d->t3);
	if (!ret)
		ret = vmtrack_pset_or(&d->t2, &d->t3, &d->vdso);
	if (!ret)
		ret = vmtrack_pset_and(&d->t3, dirty, &d->t2);
	if (!ret)
		ret = vmtrack_pagemap_select(d->pm, &d->t3, &d->t1);
	if (!ret && !d->iter) {
		struct vmtrack_pset t = d->t1;

		ret = vmtrack_pset_or(&d->t3, &t, &d->vdso);
		d->t1 = d->t3;
		d->t3 = t;
	}
	if (ret == -ESRCH)
		return fail(d, ret, "pid %d exited during the dump", (int)d->pid);
	if (ret)
		return fail(d, ret, "pid %d: reading pagemap: %s", (int)d->pid, strerror(-ret));
	return 0;
}

/*
 * Write iteration d->iter + 1 with the pages of @dirty copied (those still
 * worth copying, by the pagemap) and the rest of the chain as holes.
 * Iteration 1 has no parent: @dirty is everything tracked. @selected:
 * select_copy() of @dirty was just done, d->t1-t3 hold it.
 */
static int write_iteration(struct dump *d, const struct vmtrack_pset *dirty,
			   bool selected, struct iter_result *r)
{
	struct vmtrack_copy_stats st = { 0 };
	char name[16], parent[16], err[256];
	uint64_t up = vmtrack_img_uptime_us();
	double t0 = now();
	int ret;

	/* t1: what to copy; t3: the new chain */
	ret = selected ? 0 : select_copy(d, dirty);
	if (ret)
		return ret;
	ret = vmtrack_pset_and(&d->t3, &d->chain, &d->t2);	/* chain, still mapped */
	if (!ret)
		ret = vmtrack_pset_sub(&d->t2, &d->t3, dirty);	/* unchanged: holes */
	if (!ret)
		ret = vmtrack_pset_or(&d->t3, &d->t2, &d->t1);
	if (ret)
		return fail(d, ret, "out of memory");

	snprintf(name, sizeof(name), "%u", d->iter + 1);
	snprintf(parent, sizeof(parent), "%u", d->iter);
	if (d->o->page_server)
		ret = vmtrack_ps_begin(&d->ps, d->o->page_server, d->o->ps_header, d->id,
				       d->iter > 0, err, sizeof(err));
	else
		ret = vmtrack_img_begin(&d->w, d->o->dir, name, d->iter ? parent : NULL, d->id,
					err, sizeof(err));
	if (ret)
		return fail(d, ret, "iteration %s: %s", name, err);
	ret = vmtrack_copier_run_sets(d->cp, &d->t3, &d->t1, sink, d, &st);
	if (ret) {
		if (ret == -ESRCH)
			fail(d, ret, "pid %d exited during iteration %s", (int)d->pid, name);
		else if (ret == -EPERM)
			fail(d, ret, "pid %d: not permitted to read its memory", (int)d->pid);
		else
			fail(d, ret, "iteration %s: %s", name, out_error(d, ret));
		out_abort(d);
		return ret;
	}
	if (interrupted) {
		out_abort(d);
		return fail_interrupted(d);
	}
	ret = d->ps ? vmtrack_ps_commit(d->ps) : vmtrack_img_commit(d->w, up);
	if (ret) {
		fail(d, ret, "iteration %s: %s", name, out_error(d, ret));
		out_abort(d);
		return ret;
	}
	d->ps_iter += !!d->ps;
	d->w = NULL;
	d->ps = NULL;
	/* the server has the pages; criu dump --page-server reads the rest here */
	if (d->o->page_server && d->o->dir) {
		ret = vmtrack_img_write_local(d->o->dir, name, d->iter ? parent : NULL, up,
					      err, sizeof(err));
		if (ret)
			return fail(d, ret, "%s", err);
	}
	d->iter++;
	/* the pages that could not be read have no entry */
	ret = vmtrack_pset_sub(&d->chain, &d->t3, vmtrack_copier_gone(d->cp));
	if (ret)
		return fail(d, ret, "out of memory");
	r->pages = st.pages;
	r->holes = st.holes;
	r->gone = st.gone;
	r->seconds = now() - t0;
	d->total_pages += st.pages;
	return 0;
}

/* ---- output ---- */

/* where the iterations go */
static const char *dest(const struct dump *d)
{
	return d->o->dir ? d->o->dir : d->o->page_server;
}

/**
 * dump_print_iter() - the line of an iteration
 * @f:		where to print
 * @json:	a JSON object instead of text
 * @dest:	the directory or page server
 * @page_size:	of the target
 * @it:		the iteration
 */
void dump_print_iter(FILE *f, bool json, const char *dest, long page_size,
		     const struct dump_iter_info *it)
{
	char loss[64];

	out_loss_text(loss, sizeof(loss), it->loss);
	if (json) {
		fprintf(f, "{\"iteration\":%u,\"dir\":\"%s/%u\",\"frozen\":%s,\"dirty_pages\":%"
			PRIu64 ",\"pages\":%" PRIu64 ",\"holes\":%" PRIu64 ",\"gone\":%" PRIu64
			",\"seconds\":%.6f,\"bandwidth\":%.0f,\"all_dirty\":%s,\"loss\":\"%s\""
			",\"stop\":\"%s\",\"throttle\":%u,\"held_s\":%.6f}\n",
			it->iter, dest, it->iter, it->frozen ? "true" : "false", it->dirty,
			it->pages, it->holes, it->gone, it->seconds, it->bandwidth,
			it->all_dirty ? "true" : "false", loss, it->stop, it->throttle, it->held_s);
		return;
	}
	fprintf(f, "iter %3u%s %9" PRIu64 " pages copied (%8.1f MiB) %9" PRIu64
		" in parent %6" PRIu64 " gone  %8.3f s %8.1f MiB/s",
		it->iter, it->frozen ? "*" : " ", it->pages,
		it->pages * page_size / 1048576.0, it->holes, it->gone, it->seconds,
		it->bandwidth / 1048576.0);
	if (it->throttle)
		fprintf(f, "  throttle %u%%: held %.3f s", it->throttle, it->held_s);
	if (it->loss)
		fprintf(f, "  LOSS(%s): %s", loss,
			it->all_dirty ? "all watched pages copied" : "recovered by a sweep");
	fprintf(f, "\n");
}

static void report(struct dump *d, const struct iter_result *r, bool frozen,
		   enum vmtrack_stop stop)
{
	struct dump_iter_info it = {
		.iter = d->iter,
		.frozen = frozen,
		.dirty = r->dirty,
		.pages = r->pages,
		.holes = r->holes,
		.gone = r->gone,
		.seconds = r->seconds,
		.bandwidth = r->seconds > 0 ? r->pages * d->page_size / r->seconds : 0,
		.all_dirty = r->all_dirty,
		.loss = r->loss,
		.stop = vmtrack_stop_name(stop),
		.throttle = r->throttle,
		.held_s = r->held_s,
	};

	d->all_dirty = false;
	d->loss = 0;
	journal_dump_iter(d->j, &it);
	if (d->o->json || !d->o->quiet)
		dump_print_iter(stdout, d->o->json, dest(d), d->page_size, &it);
	out_flush(stdout);
}

/**
 * dump_print_pending() - the line after an epoch: what is left to copy
 * @f:			where to print
 * @pending:		pages the next iteration would copy
 * @estimate_ms:	their estimated copy time, < 0 if unknown
 * @stop:		the rule that stops the loop, NULL or "" if none
 */
void dump_print_pending(FILE *f, uint64_t pending, double estimate_ms, const char *stop)
{
	fprintf(f, "         %9" PRIu64 " pages to copy, est. copy %.1f ms", pending,
		estimate_ms < 0 ? 0 : estimate_ms);
	if (stop && *stop)
		fprintf(f, ": freeze (%s)", stop);
	fprintf(f, "\n");
}

static void report_pending(struct dump *d, uint64_t pending, enum vmtrack_stop stop)
{
	double ms = vmtrack_converge_estimate_ms(&d->cv, pending);
	const char *rule = stop ? vmtrack_stop_name(stop) : "";

	journal_dump_pending(d->j, pending, ms, rule);
	if (d->o->json || d->o->quiet)
		return;
	dump_print_pending(stdout, pending, ms, rule);
	out_flush(stdout);
}

/* the epoch in the journal, with what the output of vmtrack run shows of it */
static void journal_dump_epoch(struct dump *d, const struct vmtrack_epoch *ep)
{
	struct out_epoch_info e = { .time = now() - d->t0, .final = d->frozen };

	if (!d->j)
		return;
	e.duration = e.time - d->prev_epoch;
	d->prev_epoch = e.time;
	out_epoch_collect(d->s, ep, &e);
	journal_epoch(d->j, &e);
}

/* ---- the loop ---- */

static int epoch(struct dump *d, unsigned int flags, struct iter_result *r)
{
	struct vmtrack_epoch ep;
	int ret;

	ret = vmtrack_session_epoch(d->s, flags, &ep);
	if (ret)
		return fail(d, ret, "epoch: %s", vmtrack_session_error(d->s));
	journal_dump_epoch(d, &ep);
	if (ep.target_gone)
		return fail(d, -ESRCH, "pid %d exited during the dump", (int)d->pid);
	ret = vmtrack_pset_from_iov(&d->t1, ep.dirty, ep.nr_dirty);
	if (!ret)
		ret = vmtrack_pset_or(&d->t2, &d->pending, &d->t1);
	if (ret)
		return fail(d, ret, "out of memory");
	/* swap: pending = pending | dirty of this epoch */
	{
		struct vmtrack_pset tmp = d->pending;

		d->pending = d->t2;
		d->t2 = tmp;
	}
	/* an epoch that stops the loop is reported with the frozen iteration */
	d->all_dirty |= ep.all_dirty;
	d->loss |= ep.loss;
	r->dirty = vmtrack_pset_bytes(&d->pending) / d->page_size;
	r->all_dirty = d->all_dirty;
	r->loss = d->loss;
	return 0;
}

/*
 * A page a running iteration could not read has no entry, and it may come
 * back unchanged (a protection not even /proc/PID/mem reads through, lifted
 * again): pending becomes a copy of those pages, and the next copy, the
 * frozen one last, tries them again. A page that went away for good leaves
 * the tracked ranges with its unmap event.
 */
static int keep_gone_pending(struct dump *d)
{
	struct vmtrack_pset tmp;

	vmtrack_pset_clear(&d->pending);
	if (vmtrack_pset_or(&d->t2, &d->pending, vmtrack_copier_gone(d->cp)))
		return fail(d, -ENOMEM, "out of memory");
	tmp = d->pending;
	d->pending = d->t2;
	d->t2 = tmp;
	return 0;
}

/* a running iteration: the pending pages, then the rule learns the bandwidth */
static int copy_pending(struct dump *d, bool selected, struct iter_result *r)
{
	int ret;

	d->held_s = 0;
	d->phase = now();
	ret = write_iteration(d, &d->pending, selected, r);
	throttle_release(d);
	r->throttle = d->throttle;
	r->held_s = d->held_s;
	if (ret)
		return ret;
	ret = keep_gone_pending(d);
	if (ret)
		return ret;
	vmtrack_converge_copied(&d->cv, r->pages, r->seconds);
	report(d, r, false, VMTRACK_STOP_NO);
	return 0;
}

static int precopy(struct dump *d, enum vmtrack_stop *stop)
{
	struct iter_result r = { 0 };
	uint64_t to_copy;
	int ret;

	/* everything the marks cover; new mappings come with the epochs */
	ret = tracked(d, &d->pending);
	if (ret)
		return fail(d, ret, "out of memory");
	if (d->cv.max_iter == 1) {
		/* stop-and-copy: the one iteration is the frozen one */
		*stop = VMTRACK_STOP_MAX_ITER;
		return 0;
	}
	ret = copy_pending(d, false, &r);
	if (ret)
		return ret;
	for (;;) {
		memset(&r, 0, sizeof(r));
		if (interrupted)
			return fail_interrupted(d);
		ret = epoch(d, 0, &r);
		if (ret)
			return ret;
		/* the rule weighs what the next copy would copy, and it copies that */
		ret = select_copy(d, &d->pending);
		if (ret)
			return ret;
		to_copy = vmtrack_pset_bytes(&d->t1) / d->page_size;
		*stop = vmtrack_converge_check(&d->cv, to_copy);
		throttle_adjust(d, to_copy, stop);
		report_pending(d, to_copy, *stop);
		if (*stop)
			return 0;
		ret = copy_pending(d, true, &r);
		if (ret)
			return ret;
	}
}

/*
 * criu dump --track-mem leaves every present page that is not soft-dirty to
 * the parent images. Cleared now, while the target is frozen and after its
 * last copy, a page is soft-dirty again exactly when it changes after the
 * copy DIR/last holds. The watch is dropped first, so that nothing of ours
 * touches the entries after the clear.
 */
static int hand_over_soft_dirty(struct dump *d)
{
	char path[64];
	int fd, ret = 0;

	/*
	 * clear_refs skips watched VMAs: unwatch first. A range that stays
	 * watched keeps its bits set, and criu dumps it again: more, never
	 * less. The session is closed once the target goes (its instance's
	 * removal waits for RCU grace periods).
	 */
	vmtrack_session_unwatch(d->s);
	snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)d->pid);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "4", 1) != 1)
		ret = -errno;
	if (fd >= 0)
		close(fd);
	if (ret)
		return fail(d, ret, "%s: cannot clear the soft-dirty bits: %s", path,
			    strerror(-ret));
	return 0;
}

static int final_copy(struct dump *d, enum vmtrack_stop stop, double *freeze_ms,
		      bool *was_stopped)
{
	struct iter_result r = { 0 };
	pid_t sharer;
	double t0;
	int ret;

	/* what the session's close would wait for in the freeze, waited for now */
	vmtrack_session_wind_down(d->s);
	ret = vmtrack_freeze(d->pid, was_stopped);
	t0 = now();
	if (ret == -ESRCH)
		return fail(d, ret, "pid %d exited during the dump", (int)d->pid);
	/* no vfork() child is left once every thread is stopped: name the sharer */
	sharer = ret == -EUSERS ? vmtrack_mm_sharer(d->pid) : 0;
	if (sharer > 0)
		return fail_sharer(d, sharer);
	if (ret)
		return fail(d, ret, "pid %d: cannot freeze: %s", (int)d->pid, strerror(-ret));
	/*
	 * STOPPED: every event of the target is in the buffers now, so a
	 * number missing from them is lost, not late (the freeze is ours,
	 * not the session's, which would not know it otherwise). NO_REARM:
	 * no epoch follows (the session is closed after this copy), so the
	 * last dirty set is not re-armed in the freeze.
	 */
	d->frozen = true;
	ret = epoch(d, VMTRACK_EPOCH_STOPPED | VMTRACK_EPOCH_NO_REARM, &r);
	if (!ret)
		ret = write_iteration(d, &d->pending, false, &r);
	if (!ret && d->o->track_mem)
		ret = hand_over_soft_dirty(d);
	if (!ret)
		ret = link_last(d);
	*freeze_ms = (now() - t0) * 1000;
	if (!ret) {
		journal_freeze(d->j, d->iter, *freeze_ms);
		report(d, &r, true, stop);
	}
	return ret;
}

/**
 * dump_print_summary() - the last line of vmtrack dump
 * @f:		where to print
 * @json:	a JSON object instead of text
 * @s:		the summary
 */
void dump_print_summary(FILE *f, bool json, const struct dump_summary_info *s)
{
	if (json) {
		fprintf(f, "{\"summary\":{\"pid\":%d,\"dir\":\"%s\",\"iterations\":%u,"
			"\"last\":\"%s/%u\",\"pages\":%" PRIu64 ",\"stop\":\"%s\","
			"\"freeze_ms\":%.3f,\"total_s\":%.3f,\"bandwidth\":%.0f,\"left_stopped\":%s}}\n",
			(int)s->pid, s->dest, s->iterations, s->dest, s->iterations, s->pages,
			s->stop, s->freeze_ms, s->total_s, s->bandwidth,
			s->left_stopped ? "true" : "false");
		return;
	}
	fprintf(f, "dump of pid %d: %u iterations in %s, last %s/last; %" PRIu64
		" pages copied in %.3f s; stopped by %s; frozen %.1f ms%s\n",
		(int)s->pid, s->iterations, s->dest, s->dest, s->pages, s->total_s, s->stop,
		s->freeze_ms, s->left_stopped ? " (left stopped)" : "");
}

static void summary(struct dump *d, enum vmtrack_stop stop, double freeze_ms)
{
	struct dump_summary_info s = {
		.pid = d->pid,
		.dest = dest(d),
		.iterations = d->iter,
		.pages = d->total_pages,
		.stop = vmtrack_stop_name(stop),
		.freeze_ms = freeze_ms,
		.total_s = now() - d->t0,
		.bandwidth = vmtrack_converge_bandwidth(&d->cv),
		.left_stopped = d->o->leave_stopped,
	};

	journal_dump_summary(d->j, &s);
	dump_print_summary(stdout, d->o->json, &s);
	out_flush(stdout);
}

static void cleanup(struct dump *d)
{
	vmtrack_session_close(d->s);
	vmtrack_pagemap_close(d->pm);
	vmtrack_copier_free(d->cp);
	vmtrack_pset_free(&d->chain);
	vmtrack_pset_free(&d->pending);
	vmtrack_pset_free(&d->vdso);
	vmtrack_pset_free(&d->t1);
	vmtrack_pset_free(&d->t2);
	vmtrack_pset_free(&d->t3);
}

static void setup_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* a page server that stops answering is left on a signal too */
	vmtrack_ps_set_stop(&interrupted);
}

/*
 * vmtrack_freeze() stops the target as a tracer, which ends with us. To
 * leave it stopped, SIGSTOP is queued first: on the detach every thread
 * dequeues it in the kernel and enters the group stop before it returns to
 * user space, so no instruction of the target runs after the last copy.
 */
static void leave(struct dump *d, bool was_stopped)
{
	if (d->o->leave_stopped && !was_stopped)
		kill(d->pid, SIGSTOP);
	vmtrack_thaw(d->pid);
}

static void journal_start_dump(struct dump *d)
{
	const struct vmtrack_dset *ds = vmtrack_session_dset(d->s);

	if (!d->j)
		return;
	journal_target(d->j, "dump", d->pid, d->o->argv);
	journal_meta(d->j, "dest", dest(d));
	journal_start(d->j, 0, vmtrack_dset_nr_ranges(ds), vmtrack_dset_watched_pages(ds),
		      vmtrack_session_buffer_kb(d->s));
}

/* @complete: DIR/last is written, whatever the journal's fate */
static int close_journal(struct dump *d, int status, bool complete)
{
	char err[512];

	if (!journal_close(d->j, status, err, sizeof(err)))
		return 0;
	fprintf(stderr, "vmtrack dump: %s%s\n", err,
		complete ? " (the dump itself is complete)" : "");
	return -1;
}

/* the lines of a complete dump that could not be written make it exit 2 */
static int check_output(void)
{
	const char *why = out_write_error(stdout);

	if (!why)
		return EXIT_SUCCESS;
	fprintf(stderr, "vmtrack dump: writing standard output: %s (the dump itself is "
		"complete)\n", why);
	return EXIT_INCOMPLETE;
}

/*
 * -- COMMAND: the command goes on after a complete dump, and vmtrack waits
 * for it. Its end is told, not returned: the exit status is the dump's.
 */
static void wait_command(struct dump *d)
{
	const char *cmd = d->o->argv ? d->o->argv[0] : "";
	int status;

	if (!d->child || d->o->leave_stopped || waitpid(d->pid, &status, 0) != d->pid)
		return;
	if (WIFEXITED(status) && WEXITSTATUS(status))
		fprintf(stderr, "vmtrack dump: %s exited with status %d after the dump\n", cmd,
			WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		fprintf(stderr, "vmtrack dump: %s was killed by signal %d (%s) after the dump\n",
			cmd, WTERMSIG(status), strsignal(WTERMSIG(status)));
}

/* a failed dump ends the command it started */
static void kill_command(struct dump *d)
{
	if (!d->child)
		return;
	kill(d->pid, SIGKILL);
	waitpid(d->pid, NULL, 0);
}

/**
 * cmd_dump() - vmtrack dump
 * @argc:	argument count (argv[0] = "dump")
 * @argv:	arguments
 *
 * Return: exit status: 0 when the dump is complete (DIR/last exists), 1
 * when it failed (its iterations are removed), 2 when it is complete but
 * its journal or its output could not be written. A command it started
 * exits on its own after the dump: a failure of it is told on stderr, it
 * is not the status.
 */
int cmd_dump(int argc, char **argv)
{
	struct dump_opts o;
	struct dump d = { .o = &o };
	enum vmtrack_stop stop = VMTRACK_STOP_NO;
	bool was_stopped = false, frozen = false;
	double freeze_ms = 0;
	char err[256];
	int ret;

	ret = parse(argc, argv, &o, err, sizeof(err));
	if (ret == VMTRACK_PARSE_HELP) {
		vmtrack_print_lines(stdout, usage_msg);
		return EXIT_SUCCESS;
	}
	if (ret) {
		/* only a usage error points at --help: an unknown host is none */
		fprintf(stderr, "vmtrack dump: %s%s\n", err,
			ret == -EHOSTUNREACH ? "" : " (see 'vmtrack dump --help')");
		return EXIT_FAILURE;
	}
	if (o.journal) {
		d.j = journal_open(o.journal, o.journal_ranges ? JOURNAL_RANGES : 0, err,
				   sizeof(err));
		if (!d.j) {
			fprintf(stderr, "vmtrack dump: %s\n", err);
			return EXIT_FAILURE;
		}
	}
	setup_signals();
	vmtrack_ps_set_timeout(o.ps_timeout_s * 1000);
	d.page_size = sysconf(_SC_PAGESIZE);
	d.pid = o.pid;
	vmtrack_converge_init(&d.cv, o.max_iter, o.threshold, o.downtime_ms, d.page_size);
	d.t0 = now();
	/* what can be refused is, before a command is started */
	if ((!o.argv && check_target(&d)) || check_dir(&d))
		goto out;
	if (o.argv && spawn(&d))
		goto out_remove;
	ret = start_session(&d);
	if (d.child)
		release_child(&d, ret);
	if (ret)
		goto out_remove;
	journal_start_dump(&d);
	ret = precopy(&d, &stop);
	if (ret)
		goto out_remove;
	ret = final_copy(&d, stop, &freeze_ms, &was_stopped);
	frozen = true;
	if (ret)
		goto out_remove;
	leave(&d, was_stopped);
	summary(&d, stop, freeze_ms);
	ret = check_output();
	if (close_journal(&d, ret, true))
		ret = EXIT_INCOMPLETE;
	cleanup(&d);
	wait_command(&d);
	return ret;

out_remove:
	remove_dump(&d);
	if (frozen)
		vmtrack_thaw(d.pid);
out:
	fprintf(stderr, "vmtrack dump: %s%s\n", d.err, left_on_servers(&d, err, sizeof(err)));
	close_journal(&d, EXIT_FAILURE, false);
	cleanup(&d);
	kill_command(&d);
	return EXIT_FAILURE;
}
