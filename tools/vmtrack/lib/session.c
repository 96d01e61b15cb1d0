// SPDX-License-Identifier: LGPL-2.1
/*
 * Sessions: one consumer watching one process.
 *
 * A private tracefs instance (vmtrack-<pid of the consumer>) is configured
 * while tracing is off: overwrite off, buffer sized from the watched size,
 * only the mm_watch events enabled, with the filter tgid==<target> in place
 * before the first mark (on write_fault only once other processes' faults
 * show up: see filter_faults()). After the first epoch mm_watch_rearm is
 * disabled: the session re-arms by itself and needs no echo of it, and
 * re-arms take no number, so the kernel's numbers of the events (checked by
 * the tracker) keep no gap.
 * One reader per CPU maps per_cpu/cpuN/trace_pipe_raw and decodes the
 * events in place (ringmap.c); where the kernel cannot map it (before 6.10)
 * or VMTRACK_F_NO_MAP asks, the reader splices whole sub-buffers into a
 * private pipe instead. An epoch drains them completely (splice, then read()
 * for the partial page), accounts for lost events from per_cpu/cpuN/stats,
 * checks the instance was not changed (both only when inotify or the amount
 * read says they can have changed), applies the events in timestamp order
 * to the dirty set, collects the dirty pages and re-arms exactly those with
 * process_madvise(MADV_WATCH).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <tracefs/tracefs.h>
#include <traceevent/event-parse.h>

#include "internal.h"

#define PIPE_BYTES	(1024 * 1024)

enum {
	PROBE_SET_EVENT,
	PROBE_TRACING_ON,
	PROBE_OVERWRITE,
	PROBE_WRITE_FAULT_ENABLE,
	PROBE_FILTER,		/* one per event kind from here on */
	NR_PROBES = PROBE_FILTER + VMTRACK_EV_NR,
};

struct reader {
	int				cpu;
	int				fd;
	int				stats_fd;
	int				pipe[2];
	size_t				pipe_size;
	bool				no_splice;
	bool				quiet;	/* the last epoch spliced nothing */
	struct vmtrack_ringmap		map;	/* .data: mapped, see ringmap.c */
	struct vmtrack_cpu_stats	stats;
	uint64_t			bytes_since_stats;
};

struct vmtrack_session {
	struct vmtrack_params		p;
	int				pidfd;
	char				name[32];
	struct tracefs_instance		*inst;
	struct tep_handle		*tep;
	struct vmtrack_decoder		*dec;
	struct vmtrack_page_layout	layout;
	size_t				buffer_kb;
	char				filter[64];
	char				*filter_read[VMTRACK_EV_NR];
	/* the filter is on the write_fault event too: see filter_faults() */
	bool				faults_filtered;
	char				*set_event_read;
	/* write_fault's enable file as the session wants it ("1*": on, soft mode) */
	char				write_fault_want[4];
	bool				rearms_off;
	/* write_fault off in the instance: the epochs are dense */
	bool				dense;
	/* the last epoch took the written pages from a sweep */
	bool				swept_last;
	/*
	 * at the last collect the kernel's numbers still waited for one to
	 * start the count again from (struct vmtrack_tracker num.resync)
	 */
	bool				resync_open;
	/* dirty pages that make the next epochs dense; 0: auto, see choose_mode() */
	uint64_t			dense_pages;
	bool				tracefs_ours;	/* vmtrack_tracefs_get() */
	/*
	 * Instance files checked every epoch, kept open and read with
	 * pread(): set_event, tracing_on, options/overwrite and the filter
	 * of each event.
	 */
	int				probe_fd[NR_PROBES];
	/*
	 * inotify on the instance's directories: a write to any of its files
	 * (filter, enable, set_event, tracing_on, options, buffer sizes)
	 * queues an event, so the probes and the stats are read only after
	 * one; -1: read them every epoch.
	 */
	int				notify_fd;
	bool				notified;
	/* the directories of the enable files the session switches itself */
	int				wd_write_fault;
	int				wd_exit;
	int				wd_rearm;
	char				*buffer_kb_read;
	/* read a CPU's stats once this much was read from it; 0: always */
	uint64_t			stats_gate;

	struct reader			*rd;
	int				nr_rd;
	struct pollfd			*pfd;
	uint8_t				*buf;
	size_t				buflen;

	struct vmtrack_event		*ev;
	size_t				nr_ev;
	size_t				ev_alloc;

	struct vmtrack_dset		*ds;
	struct vmtrack_tracker		tr;
	bool				rescan;
	/* VMTRACK_F_WRITABLE_ONLY: read-only mappings the last rescan left out */
	struct iovec			*left_out;
	size_t				nr_left_out;
	size_t				left_out_alloc;
	bool				frozen;
	/* its mm is gone: process_madvise() found no mm (ESRCH) */
	bool				exited;
	bool				pidns;		/* consumer in a child pid namespace */
	bool				mode_all;	/* MADV_WATCH_ALL set on the target */
	bool				unwatched;	/* vmtrack_session_unwatch() ran */
	bool				exec_unwatched;	/* unwatch_after_exec() ran */
	/*
	 * A VMTRACK_EPOCH_NO_REARM epoch left the pages it collected
	 * unarmed: a later epoch is exact only if the target did not run
	 * since. How it was held then, or that it ran (see no_rearm_held()).
	 */
	enum {
		UNARMED_NONE,
		UNARMED_FROZEN,		/* by the session: until its thaw */
		UNARMED_STOPPED,	/* by the caller: its word, each epoch */
		UNARMED_RAN,		/* the session's thaw let it go */
	}				unarmed;
	uint64_t			missed_pages;

	struct iovec			*iov;
	size_t				iov_alloc;
	/* most dirty ranges an epoch hands out at once; 0: all */
	size_t				batch_max;
	/* the batch size of the epoch being handed out */
	size_t				batch_size;
	/* re-arm each batch before handing it out */
	bool				batch_rearm;
	/* ranges whose last mark or re-arm failed, and the VMAs to check them */
	struct iovec			*failed;
	size_t				nr_failed;
	size_t				failed_alloc;
	struct vmtrack_vmas		vmas;
	char				err[256];
};

static int session_err(struct vmtrack_session *s, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int session_err(struct vmtrack_session *s, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
	return ret;
}

/**
 * vmtrack_session_error() - the reason of the last failure
 * @s:	the session
 *
 * Return: a one-line message, "" if nothing failed.
 */
const char *vmtrack_session_error(const struct vmtrack_session *s)
{
	return s->err;
}

/**
 * vmtrack_session_instance() - name of the session's tracefs instance
 * @s:	the session
 *
 * Return: "vmtrack-<pid of the consumer>", with "-<n>" for the n-th further
 * session of the process.
 */
const char *vmtrack_session_instance(const struct vmtrack_session *s)
{
	return s->name;
}

/**
 * vmtrack_session_buffer_kb() - per-CPU ring buffer size in use
 * @s:	the session
 *
 * Return: size in KiB, as written to buffer_size_kb.
 */
size_t vmtrack_session_buffer_kb(const struct vmtrack_session *s)
{
	return s->buffer_kb;
}

/**
 * vmtrack_session_dset() - the dirty set of the watched mm
 * @s:	the session
 *
 * Per-range counters (pages, last, total) describe the epochs so far.
 *
 * Return: the set, owned by the session.
 */
const struct vmtrack_dset *vmtrack_session_dset(const struct vmtrack_session *s)
{
	return s->ds;
}

/* ---- instance lifecycle ---- */

/* vmtrack-<pid of the consumer>[-<session number>] */
static bool instance_owner_dead(const char *name)
{
	const char *p = name + strlen(VMTRACK_INSTANCE_PREFIX);
	char *end;
	long pid;

	errno = 0;
	pid = strtol(p, &end, 10);
	if (errno || (*end && *end != '-') || pid <= 0 || pid == getpid())
		return false;
	return kill(pid, 0) && errno == ESRCH;
}

/* the instances of the consumers of any process: vmtrack-<pid>[-<n>] */
static char **list_instances(void)
{
	/* basic regex: no '+' */
	return tracefs_instances("^" VMTRACK_INSTANCE_PREFIX
				 "[0-9][0-9]*\\(-[0-9][0-9]*\\)\\{0,1\\}$");
}

/**
 * vmtrack_reap_instances() - remove instances of consumers that died
 *
 * Every tracefs instance named vmtrack-<pid> or vmtrack-<pid>-<n> whose
 * process does not exist any more is destroyed (a consumer killed with
 * SIGKILL cannot clean up).
 *
 * Return: the number of instances removed, or a negative errno.
 */
int vmtrack_reap_instances(void)
{
	char **list;
	int i, n = 0;

	list = list_instances();
	if (!list)
		return 0;
	for (i = 0; list[i]; i++) {
		struct tracefs_instance *inst;

		if (!instance_owner_dead(list[i]))
			continue;
		inst = tracefs_instance_alloc(NULL, list[i]);
		if (!inst)
			continue;
		if (!tracefs_instance_destroy(inst))
			n++;
		tracefs_instance_free(inst);
	}
	tracefs_list_free(list);
	return n;
}

static char *inst_read(struct vmtrack_session *s, const char *file)
{
	char *str = tracefs_instance_file_read(s->inst, file, NULL);
	size_t len;

	if (str) {
		len = strlen(str);
		while (len && (str[len - 1] == '\n' || str[len - 1] == ' '))
			str[--len] = '\0';
	}
	return str;
}

static int inst_write(struct vmtrack_session *s, const char *file, const char *val)
{
	return tracefs_instance_file_write(s->inst, file, val) < 0 ? -EIO : 0;
}

/* Open a file of the instance, to be read again and again with fd_read_text(). */
static int inst_open(struct vmtrack_session *s, const char *file)
{
	char *path = tracefs_instance_get_file(s->inst, file);
	int fd;

	if (!path)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	tracefs_put_tracing_file(path);
	return fd;
}

/*
 * The whole text of a small tracefs file, without trailing blanks. A text
 * that does not fit is an error: the files read this way are short.
 */
static int fd_read_text(int fd, char *buf, size_t len)
{
	ssize_t n = pread(fd, buf, len, 0);

	if (n < 0 || (size_t)n >= len)
		return -EIO;
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	return 0;
}

static int load_layout(struct vmtrack_session *s)
{
	char *text, *sub;
	int ret;

	text = tracefs_instance_file_read(NULL, "events/header_page", NULL);
	if (!text)
		return session_err(s, -EIO, "cannot read events/header_page");
	ret = vmtrack_page_layout_parse(text, &s->layout);
	free(text);
	if (ret)
		return session_err(s, ret, "cannot parse events/header_page");
	sub = inst_read(s, "buffer_subbuf_size_kb");
	if (sub) {
		s->layout.subbuf_size = strtoul(sub, NULL, 10) * 1024;
		free(sub);
	}
	if (s->layout.subbuf_size <= s->layout.data_offset)
		return session_err(s, -EINVAL, "implausible sub-buffer size");
	return 0;
}

/*
 * The formats of the system's events, and nothing else:
 * tracefs_local_events_system() also loads kallsyms, saved_cmdlines and
 * printk_formats, which no event of the system refers to, and freeing
 * them took 7-19 ms of the session's close under TCG (vmtrack dump closes
 * the session while the target is stopped). An event whose format does
 * not parse is left out, as libtracefs does; the decoder names the
 * events it needs.
 */
static struct tep_handle *load_formats(void)
{
	struct tep_handle *tep = tep_alloc();
	char **events = NULL;
	char *text;
	int size, i;

	if (!tep)
		return NULL;
	text = tracefs_instance_file_read(NULL, "events/header_page", &size);
	if (!text)
		goto fail;
	tep_parse_header_page(tep, text, size, sizeof(long));
	free(text);
	events = tracefs_system_events(NULL, VMTRACK_SYSTEM);
	if (!events)
		goto fail;
	for (i = 0; events[i]; i++) {
		text = tracefs_event_file_read(NULL, VMTRACK_SYSTEM, events[i], "format", &size);
		if (text)
			tep_parse_event(tep, text, size, VMTRACK_SYSTEM);
		free(text);
	}
	tracefs_list_free(events);
	return tep;

fail:
	tep_free(tep);
	return NULL;
}

static int load_events(struct vmtrack_session *s)
{
	char err[200];

	s->tep = load_formats();
	if (!s->tep)
		return session_err(s, -EIO, "cannot parse the %s event formats", VMTRACK_SYSTEM);
	s->dec = vmtrack_decoder_new(s->tep, err, sizeof(err));
	if (!s->dec)
		return session_err(s, -EPROTO, "kernel interface mismatch: %s", err);
	/* most events: write faults of one page, applied as they are read */
	vmtrack_decoder_set_page_fn(s->dec, vmtrack_dset_page_size(s->ds),
				    vmtrack_tracker_early_page, &s->tr);
	return 0;
}

/*
 * One instance per session: the first of a process is vmtrack-<pid>, the
 * next ones vmtrack-<pid>-<n>, so that sessions on several targets in one
 * process do not share a buffer and overwrite each other's filter.
 */
static int create_instance(struct vmtrack_session *s)
{
	static unsigned int sessions;
	unsigned int n = __atomic_fetch_add(&sessions, 1, __ATOMIC_RELAXED);

	if (n)
		snprintf(s->name, sizeof(s->name), VMTRACK_INSTANCE_PREFIX "%d-%u",
			 (int)getpid(), n);
	else
		snprintf(s->name, sizeof(s->name), VMTRACK_INSTANCE_PREFIX "%d", (int)getpid());
	s->inst = tracefs_instance_create(s->name);
	if (s->inst && !tracefs_instance_is_new(s->inst)) {
		/* left by an earlier process that had our pid: stale */
		tracefs_instance_destroy(s->inst);
		tracefs_instance_free(s->inst);
		s->inst = tracefs_instance_create(s->name);
	}
	if (!s->inst)
		return session_err(s, -errno ?: -EIO, "cannot create tracefs instance %s: %s",
				   s->name, strerror(errno ?: EIO));
	return 0;
}

#define REARM_DIR		"events/" VMTRACK_SYSTEM "/mm_watch_rearm"
#define REARM_ENABLE		REARM_DIR "/enable"
#define WRITE_FAULT_DIR		"events/" VMTRACK_SYSTEM "/mm_watch_write_fault"
#define WRITE_FAULT_ENABLE	WRITE_FAULT_DIR "/enable"
#define WRITE_FAULT_FILTER	WRITE_FAULT_DIR "/filter"
#define EXIT_DIR		"events/" VMTRACK_SYSTEM "/mm_watch_exit"
#define EXIT_TRIGGER		EXIT_DIR "/trigger"
#define SOFT_MODE_COMMAND	"enable_event:" VMTRACK_SYSTEM ":mm_watch_write_fault"
/* never fires (no pid is negative): it only holds write_fault in soft mode */
#define SOFT_MODE_TRIGGER	SOFT_MODE_COMMAND " if common_pid < 0"

static int enable_events(struct vmtrack_session *s)
{
	return inst_write(s, "events/" VMTRACK_SYSTEM "/enable", "1");
}

/*
 * Keep the write_fault event registered while dense epochs switch it off.
 * Switching a tracepoint's last probe in or out live-patches its call
 * sites (text_poke_bp(): IPIs to every CPU, while the target faults
 * through them). An enable_event trigger holds the event in soft mode:
 * "enable" then only sets or clears its soft-disabled flag, and a
 * soft-disabled event costs a watched write fault a test of that flag
 * (about the first-write time of the event off: DENSE EPOCHS in
 * vmtrack(1)). The trigger sits on mm_watch_exit and never fires. Without it (a kernel
 * that refuses it, or one removed behind the session's back) the switch
 * unregisters and registers the probe, as before.
 */
static void hold_soft_mode(struct vmtrack_session *s)
{
	/* epochs from events alone never switch: nothing to hold */
	if (!(s->p.flags & VMTRACK_F_EVENTS_ONLY))
		inst_write(s, EXIT_TRIGGER, SOFT_MODE_TRIGGER);
}

/*
 * What the next check expects: set_event as read now, and write_fault's
 * enable file as the session wants it, "1" or "0" (dense), with the "*" of
 * soft mode if the kernel shows it now. Return: 0 if the event is in the
 * state wanted, else -EIO (another write came between, or a read failed).
 */
static int expect_events(struct vmtrack_session *s)
{
	char *events = inst_read(s, "set_event");
	char *enable = inst_read(s, WRITE_FAULT_ENABLE);
	bool soft = enable && strchr(enable, '*');
	int ret = -EIO;

	snprintf(s->write_fault_want, sizeof(s->write_fault_want), "%c%s",
		 s->dense ? '0' : '1', soft ? "*" : "");
	if (events) {
		free(s->set_event_read);
		s->set_event_read = events;
		if (enable && enable[0] == s->write_fault_want[0])
			ret = 0;
	}
	free(enable);
	return ret;
}

/* the session's filter on every event, write_fault once filter_faults() */
static int write_filters(struct vmtrack_session *s)
{
	if (inst_write(s, "events/" VMTRACK_SYSTEM "/filter", s->filter))
		return -EINVAL;
	/* "0" clears an event's filter */
	if (!s->faults_filtered && inst_write(s, WRITE_FAULT_FILTER, "0"))
		return -EINVAL;
	return 0;
}

/* the initial pid namespace's inode number (PROC_PID_INIT_INO) */
#define PID_INIT_INO	0xEFFFFFFCU

/*
 * A consumer in a child pid namespace sees the target by a pid of that
 * namespace, while the events carry the tgid of the initial namespace.
 */
static bool in_child_pidns(void)
{
	struct stat st;

	return !stat("/proc/self/ns/pid", &st) && st.st_ino != PID_INIT_INO;
}

/*
 * Filter the events of the system; remember how the kernel shows it. The
 * write_fault event stays unfiltered until filter_faults(): a filtered event
 * is written to a per-CPU scratch buffer, tested and then copied into the
 * ring buffer, which made a first write to a watched page cost about as much
 * again as the event itself (TCG). The other events are few.
 */
static int apply_filter(struct vmtrack_session *s, bool none_ok)
{
	char file[128];
	int kind;

	if (write_filters(s))
		return session_err(s, -EINVAL, "cannot set filter '%s' on %s events",
				   s->filter, VMTRACK_SYSTEM);
	/* the kernel may normalize the text: remember what it shows */
	for (kind = 0; kind < VMTRACK_EV_NR; kind++) {
		snprintf(file, sizeof(file), "events/%s/%s/filter", VMTRACK_SYSTEM,
			 vmtrack_event_name(kind));
		free(s->filter_read[kind]);
		s->filter_read[kind] = inst_read(s, file);
		if (!s->filter_read[kind] ||
		    (!none_ok && (kind != VMTRACK_EV_WRITE_FAULT || s->faults_filtered) &&
		     !strcmp(s->filter_read[kind], "none")))
			return session_err(s, -EINVAL, "filter on %s did not take",
					   vmtrack_event_name(kind));
	}
	return 0;
}

static int set_filter(struct vmtrack_session *s, const char *filter, bool none_ok)
{
	snprintf(s->filter, sizeof(s->filter), "%s", filter);
	return apply_filter(s, none_ok);
}

/*
 * Another live session's instance @name filters the events of our target,
 * and one of the two may re-arm on the soft-dirty bits: a session that is
 * not events-only, or one holding write_fault in soft mode (it switches
 * to dense epochs).
 */
static bool instance_conflicts(struct vmtrack_session *s, const char *name)
{
	const char *ours = s->filter_read[VMTRACK_EV_MARK];
	struct tracefs_instance *inst;
	char *filter, *trigger;
	bool same, dense;

	if (!ours || !strcmp(name, s->name) || instance_owner_dead(name))
		return false;
	inst = tracefs_instance_alloc(NULL, name);
	if (!inst)
		return false;
	filter = tracefs_instance_file_read(inst, "events/" VMTRACK_SYSTEM
					    "/mm_watch_mark/filter", NULL);
	trigger = tracefs_instance_file_read(inst, EXIT_TRIGGER, NULL);
	tracefs_instance_free(inst);
	if (filter)
		filter[strcspn(filter, "\n")] = '\0';
	same = filter && !strcmp(filter, ours);
	dense = trigger && strstr(trigger, SOFT_MODE_COMMAND);
	free(filter);
	free(trigger);
	return same && (dense || !(s->p.flags & VMTRACK_F_EVENTS_ONLY));
}

/*
 * One re-arming party per process (see vmtrack(1)): refuse a target that
 * another vmtrack session watches, unless both read every write from its
 * event. Checked once our own filter is set, so that of two sessions
 * opened at once, the second to look sees the first (both may refuse).
 * Not seen: a session in a child pid namespace (it filters on the mm, once
 * known), and a party that is not vmtrack.
 */
static int check_other_sessions(struct vmtrack_session *s)
{
	char **list = list_instances();
	int i, ret = 0;

	if (s->pidns || !list)
		goto out;
	for (i = 0; list[i]; i++) {
		if (!instance_conflicts(s, list[i]))
			continue;
		ret = session_err(s, -EBUSY, "pid %d is watched by another vmtrack session "
				  "(instance %s); only sessions with events only "
				  "(--events-only) may share a process, see vmtrack(1)",
				  (int)s->p.pid, list[i]);
		break;
	}
out:
	tracefs_list_free(list);
	return ret;
}

static int configure_instance(struct vmtrack_session *s)
{
	char filter[64];
	int ret;

	if (tracefs_trace_off(s->inst) ||
	    tracefs_option_disable(s->inst, TRACEFS_OPTION_OVERWRITE))
		return session_err(s, -EIO, "cannot configure instance %s", s->name);
	if (tracefs_instance_set_buffer_size(s->inst, s->buffer_kb, -1))
		return session_err(s, -ENOMEM, "cannot set a %zu KiB buffer per CPU",
				   s->buffer_kb);
	/* one clock for all CPUs, to merge them; optional */
	if (inst_write(s, "trace_clock", "mono"))
		inst_write(s, "trace_clock", "global");
	inst_write(s, "buffer_percent", "25");

	/* in a child pid namespace, no filter until learn_mm() */
	s->pidns = in_child_pidns();
	if (s->pidns) {
		ret = set_filter(s, "0", true);
	} else {
		snprintf(filter, sizeof(filter), "tgid==%d", (int)s->p.pid);
		ret = set_filter(s, filter, false);
	}
	if (ret)
		return ret;
	hold_soft_mode(s);
	if (enable_events(s))
		return session_err(s, -EIO, "cannot enable the %s events", VMTRACK_SYSTEM);
	if (expect_events(s))
		return session_err(s, -EIO, "cannot read back the events of instance %s", s->name);
	return 0;
}

/*
 * auto: dense from 1/32 of the watched pages dirty in an epoch. Where the
 * sweep re-arms what it finds (vmtrack_sweep_can_rearm()), a dense epoch
 * of 1 GiB under TCG costs one walk: 4-6 ms with 1 % of it written, 15-19
 * ms with 10 %, against 3-4 and 30-40 ms for a sparse one, whose writes
 * also pay an event each (about 1 us). Below some 2 % the walk of every
 * watched page costs more than the events save. Where the sweep cannot
 * re-arm, a dense epoch also re-arms every written range: from 1/4.
 */
#define DENSE_SHARE		32
#define DENSE_SHARE_NO_REARM	4

static int open_probes(struct vmtrack_session *s)
{
	char file[128];
	int kind;

	s->probe_fd[PROBE_SET_EVENT] = inst_open(s, "set_event");
	s->probe_fd[PROBE_TRACING_ON] = inst_open(s, "tracing_on");
	s->probe_fd[PROBE_OVERWRITE] = inst_open(s, "options/overwrite");
	s->probe_fd[PROBE_WRITE_FAULT_ENABLE] = inst_open(s, WRITE_FAULT_ENABLE);
	for (kind = 0; kind < VMTRACK_EV_NR; kind++) {
		snprintf(file, sizeof(file), "events/%s/%s/filter", VMTRACK_SYSTEM,
			 vmtrack_event_name(kind));
		s->probe_fd[PROBE_FILTER + kind] = inst_open(s, file);
	}
	for (kind = 0; kind < NR_PROBES; kind++)
		if (s->probe_fd[kind] < 0)
			return session_err(s, -EIO, "cannot open the files of instance %s",
					   s->name);
	return 0;
}

static void close_probes(struct vmtrack_session *s)
{
	int i;

	for (i = 0; i < NR_PROBES; i++) {
		if (s->probe_fd[i] >= 0)
			close(s->probe_fd[i]);
		s->probe_fd[i] = -1;
	}
}

static void close_notify(struct vmtrack_session *s)
{
	if (s->notify_fd >= 0)
		close(s->notify_fd);
	s->notify_fd = -1;
}

static int notify_watch(struct vmtrack_session *s, const char *dir)
{
	char *path = dir ? tracefs_instance_get_file(s->inst, dir) :
			   tracefs_instance_get_dir(s->inst);
	int wd;

	if (!path)
		return -1;
	wd = inotify_add_watch(s->notify_fd, path, IN_MODIFY | IN_ATTRIB | IN_CREATE |
			       IN_DELETE | IN_MOVE | IN_DELETE_SELF | IN_ONLYDIR);
	tracefs_put_tracing_file(path);
	return wd < 0 ? -1 : wd;
}

/*
 * Watch every directory that holds a file the epoch checks or a file that
 * changes the buffers. Their dentries, and so their inodes, stay the same
 * while the session holds files open in them (probes, readers, stats);
 * eventfs would give a directory looked up afresh a new inode. Without
 * inotify the epoch reads everything, as if a change were always pending.
 */
static void open_notify(struct vmtrack_session *s)
{
	char dir[128];
	int kind, i, wd;

	s->notified = true;	/* the first epoch checks everything */
	s->notify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (s->notify_fd < 0)
		return;
	if (notify_watch(s, NULL) < 0 || notify_watch(s, "options") < 0 ||
	    notify_watch(s, "events") < 0 || notify_watch(s, "events/" VMTRACK_SYSTEM) < 0)
		goto fail;
	for (kind = 0; kind < VMTRACK_EV_NR; kind++) {
		snprintf(dir, sizeof(dir), "events/%s/%s", VMTRACK_SYSTEM,
			 vmtrack_event_name(kind));
		wd = notify_watch(s, dir);
		if (wd < 0)
			goto fail;
		if (kind == VMTRACK_EV_WRITE_FAULT)
			s->wd_write_fault = wd;
		else if (kind == VMTRACK_EV_EXIT)
			s->wd_exit = wd;
	}
	/* disabled after the first epoch, see drop_rearms() */
	s->wd_rearm = notify_watch(s, REARM_DIR);
	if (s->wd_rearm < 0)
		goto fail;
	for (i = 0; i < s->nr_rd; i++) {
		snprintf(dir, sizeof(dir), "per_cpu/cpu%d", s->rd[i].cpu);
		if (notify_watch(s, dir) < 0)
			goto fail;
	}
	s->buffer_kb_read = inst_read(s, "buffer_size_kb");
	if (!s->buffer_kb_read)
		goto fail;
	/*
	 * Events are dropped only when a CPU's buffer is full, and all that
	 * fills it is read afterwards: below half its size read since the
	 * last look at its stats, the buffer cannot have been full.
	 */
	s->stats_gate = strtoull(s->buffer_kb_read, NULL, 10) * 1024 / 2;
	return;
fail:
	close_notify(s);
}

/*
 * Read the inotify queue: was anything written to the instance, other than
 * @own (a file name in the directory watched as @own_wd, -1: none), which
 * the session wrote itself? True also on a full queue, or once a watch is
 * gone (then for good).
 */
static bool notify_read(struct vmtrack_session *s, int own_wd, const char *own)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool touched = false;
	ssize_t n, off;

	for (;;) {
		n = read(s->notify_fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return touched;
		if (n <= 0) {
			close_notify(s);
			return true;
		}
		for (off = 0; off < n; ) {
			const struct inotify_event *ev = (const void *)(buf + off);

			if (ev->mask & (IN_IGNORED | IN_DELETE_SELF))
				close_notify(s);
			if (ev->wd != own_wd || ev->mask != IN_MODIFY || !ev->len ||
			    strcmp(ev->name, own))
				touched = true;
			off += sizeof(*ev) + ev->len;
		}
		if (s->notify_fd < 0)
			return true;
	}
}

/*
 * Did anything write to the instance since the last call? Also true
 * without inotify. @queued: poll() found the inotify queue readable (else
 * it is not read)
 */
static bool instance_touched(struct vmtrack_session *s, bool queued)
{
	bool touched = s->notified;

	s->notified = false;
	if (s->notify_fd < 0)
		return true;
	if (queued && notify_read(s, -1, NULL))
		touched = true;
	return touched;
}

/*
 * Write @val to @name in the directory @dir of the instance, which inotify
 * watches as @wd, and take out of the queue the event the write itself
 * queues: the session's own switch of an event is not a change behind its
 * back, and does not make the next epoch check (and sweep) as after one.
 * What was queued before, or besides, still counts. inotify merges an
 * identical event queued right after the write with it: another write to
 * the same file, which the caller's read of set_event tells.
 */
static int own_write(struct vmtrack_session *s, const char *dir, int wd, const char *name,
		     const char *val)
{
	char file[128];

	snprintf(file, sizeof(file), "%s/%s", dir, name);
	if (s->notify_fd >= 0 && notify_read(s, -1, NULL))
		s->notified = true;
	if (inst_write(s, file, val))
		return -EIO;
	if (s->notify_fd >= 0 && notify_read(s, wd, name))
		s->notified = true;
	return 0;
}

/*
 * The session's own re-arms carry nothing it does not know, yet they are
 * half of the events of an epoch: once the first epoch has looked for
 * re-arms of an earlier consumer (restart), disable mm_watch_rearm, which
 * costs the kernel nothing, where a filter would test every event. The
 * marks of new ranges still come. If that fails the re-arms keep coming,
 * are ignored, and the next epoch tries again.
 */
static void drop_rearms(struct vmtrack_session *s)
{
	if (own_write(s, REARM_DIR, s->wd_rearm, "enable", "0"))
		return;
	if (expect_events(s))
		s->notified = true;
	s->rearms_off = true;
}

/*
 * Turn the write_fault event of the instance off (dense) or on again. The
 * event's enable file and the list of enabled events read after the
 * switch are what the next check expects; if the enable file does not
 * show the switch, another write came between. (In soft mode set_event
 * lists the event either way: "0*" in its enable file is off.)
 */
static int set_dense(struct vmtrack_session *s, bool dense)
{
	if (own_write(s, WRITE_FAULT_DIR, s->wd_write_fault, "enable", dense ? "0" : "1"))
		return -EIO;
	s->dense = dense;
	if (expect_events(s)) {
		s->notified = true;
		return -EIO;	/* the next check takes it for a change: a loss */
	}
	return 0;
}

/**
 * vmtrack_session_wind_down() - the next epoch is the last one
 * @s:	the session
 *
 * Let go, while the target still runs, of what only later epochs use: the
 * trigger that holds write_fault in soft mode (hold_soft_mode()), if the
 * epochs are sparse. Its removal waits for RCU grace periods (26-42 ms
 * under TCG) that the instance's removal in vmtrack_session_close() would
 * wait for otherwise, with the target stopped if the consumer leaves it
 * so. In dense epochs the event is soft-disabled, and the trigger's
 * removal would unregister its probe (live-patching the fault path while
 * the target faults): there it stays. Epochs may still follow; a switch
 * between sparse and dense epochs then registers or unregisters the
 * probe, as on a kernel that refused the trigger.
 */
void vmtrack_session_wind_down(struct vmtrack_session *s)
{
	if (s->dense || s->tr.mm_gone)
		return;
	/* fails if the kernel refused the trigger: nothing to do then */
	if (own_write(s, EXIT_DIR, s->wd_exit, "trigger", "!" SOFT_MODE_COMMAND))
		return;
	if (expect_events(s))
		s->notified = true;
}

static int read_stats(struct reader *r, struct vmtrack_cpu_stats *st)
{
	char text[1024];

	if (fd_read_text(r->stats_fd, text, sizeof(text)))
		return -EIO;
	return vmtrack_stats_parse(text, st);
}

static int open_readers(struct vmtrack_session *s)
{
	long ncpus = sysconf(_SC_NPROCESSORS_CONF);
	int cpu;

	s->rd = calloc(ncpus, sizeof(*s->rd));
	s->pfd = calloc(ncpus + 1, sizeof(*s->pfd));
	s->buflen = max((size_t)PIPE_BYTES, (size_t)s->layout.subbuf_size);
	s->buf = malloc(s->buflen);
	if (!s->rd || !s->pfd || !s->buf)
		return session_err(s, -ENOMEM, "out of memory");
	for (cpu = 0; cpu < ncpus; cpu++) {
		struct reader *r = &s->rd[s->nr_rd];
		char file[64], *path;
		int sz;

		snprintf(file, sizeof(file), "per_cpu/cpu%d/trace_pipe_raw", cpu);
		path = tracefs_instance_get_file(s->inst, file);
		if (!path)
			return session_err(s, -ENOMEM, "out of memory");
		r->fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		tracefs_put_tracing_file(path);
		if (r->fd < 0) {
			if (errno == ENOENT)
				continue;	/* not a possible CPU */
			return session_err(s, -errno, "cannot open %s: %s", file, strerror(errno));
		}
		r->cpu = cpu;
		r->pipe[0] = r->pipe[1] = -1;
		r->stats_fd = -1;
		s->nr_rd++;
		snprintf(file, sizeof(file), "per_cpu/cpu%d/stats", cpu);
		r->stats_fd = inst_open(s, file);
		if (read_stats(r, &r->stats))
			return session_err(s, -EIO, "cannot read per_cpu/cpu%d/stats", cpu);
		if (!(s->p.flags & VMTRACK_F_NO_MAP) &&
		    !vmtrack_ringmap_open(&r->map, r->fd, s->layout.subbuf_size))
			continue;
		if (pipe2(r->pipe, O_CLOEXEC | O_NONBLOCK))
			return session_err(s, -errno, "pipe: %s", strerror(errno));
		sz = fcntl(r->pipe[1], F_SETPIPE_SZ, (int)s->buflen);
		if (sz < 0)
			sz = fcntl(r->pipe[1], F_GETPIPE_SZ);
		r->pipe_size = min((size_t)sz, s->buflen);
	}
	if (!s->nr_rd)
		return session_err(s, -ENODEV, "no per-CPU buffers in instance %s", s->name);
	return 0;
}

static void close_readers(struct vmtrack_session *s)
{
	int i;

	for (i = 0; i < s->nr_rd; i++) {
		vmtrack_ringmap_close(&s->rd[i].map);
		if (s->rd[i].fd >= 0)
			close(s->rd[i].fd);
		if (s->rd[i].stats_fd >= 0)
			close(s->rd[i].stats_fd);
		if (s->rd[i].pipe[0] >= 0)
			close(s->rd[i].pipe[0]);
		if (s->rd[i].pipe[1] >= 0)
			close(s->rd[i].pipe[1]);
	}
	free(s->rd);
	free(s->pfd);
	s->rd = NULL;
	s->pfd = NULL;
	s->nr_rd = 0;
}

static int check_kernel(struct vmtrack_session *s)
{
	const char *dir;
	char path[512];
	struct stat st;
	int ret;

	ret = vmtrack_tracefs_get(&s->tracefs_ours);
	if (ret == -EPERM)
		return session_err(s, ret, "tracefs is not mounted, and mounting it needs root "
				   "(CAP_SYS_ADMIN)");
	dir = tracefs_tracing_dir();
	if (ret || !dir)
		return session_err(s, -ENOENT, "tracefs is not mounted and cannot be mounted%s%s",
				   ret ? ": " : "", ret ? strerror(-ret) : "");
	snprintf(path, sizeof(path), "%s/events/%s", dir, VMTRACK_SYSTEM);
	if (!stat(path, &st))
		return 0;
	if (errno == ENOENT)
		return session_err(s, -EOPNOTSUPP,
				   "kernel has no %s trace events (needs CONFIG_MEM_WATCH)",
				   VMTRACK_SYSTEM);
	if (errno == EACCES)
		return session_err(s, -EACCES, "permission denied on tracefs (%s): run as root "
				   "(tracefs is root's; watching a process also needs ptrace "
				   "access and CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN)", dir);
	return session_err(s, -errno, "cannot access tracefs at %s: %s", dir, strerror(errno));
}

static int open_target(struct vmtrack_session *s)
{
	int ret = vmtrack_target_check(s->p.pid, s->err, sizeof(s->err));

	if (ret)
		return ret;
	s->pidfd = syscall(SYS_pidfd_open, s->p.pid, 0);
	if (s->pidfd < 0) {
		if (errno == ESRCH)
			return session_err(s, -ESRCH, "pid %d: no such process", (int)s->p.pid);
		return session_err(s, -errno, "pid %d: pidfd_open: %s", (int)s->p.pid,
				   strerror(errno));
	}
	if (s->p.flags & VMTRACK_F_EVENTS_ONLY)
		s->dense_pages = UINT64_MAX;
	/* Without it, a loss makes every watched page dirty, and no epoch is dense. */
	if (s->p.flags & VMTRACK_F_NO_SWEEP)
		return 0;
	ret = vmtrack_sweep_open(s->p.pid);
	s->tr.sweep_fd = ret < 0 ? -1 : ret;
	return 0;
}

/*
 * The auto-sized per-CPU buffer. Up to AUTO_WORST_CASE_BYTES watched it
 * holds a write fault per watched page (at most 4.3 MiB), and no epoch
 * overflows it. Beyond that, where a loss can be swept, it grows by a
 * record per BUFFER_SHARE pages, four times the writes after which the
 * next epochs are dense and record none, up to AUTO_SWEPT_MAX_PAGES
 * records (16.3 MiB): an epoch that writes more on one CPU than the reader
 * drains overflows it, and the sweep recovers the written pages exactly,
 * at about the cost of a dense epoch. Without a sweep, or with dense
 * epochs off, a loss makes every watched page dirty: the buffer then holds
 * the worst case.
 */
#define AUTO_WORST_CASE_BYTES	(256ULL << 20)
#define AUTO_SWEPT_MAX_PAGES	(1ULL << 18)
#define BUFFER_SHARE		(DENSE_SHARE / 4)

static size_t auto_buffer_kb(const struct vmtrack_session *s)
{
	unsigned long page_size = sysconf(_SC_PAGESIZE);
	uint64_t pages = s->p.expected_pages;
	uint64_t full = AUTO_WORST_CASE_BYTES / page_size;

	if (s->tr.sweep_fd >= 0 && s->dense_pages != UINT64_MAX && pages > full)
		pages = min(full + (pages - full) / BUFFER_SHARE, AUTO_SWEPT_MAX_PAGES);
	return vmtrack_buffer_kb_for(pages, page_size);
}

/* the flags of enum vmtrack_session_flags */
#define SESSION_FLAGS	(VMTRACK_F_ALL_PRIVATE | VMTRACK_F_KEEP | VMTRACK_F_NO_SWEEP | \
			 VMTRACK_F_EVENTS_ONLY | VMTRACK_F_NO_MAP | VMTRACK_F_WRITABLE_ONLY)

/**
 * vmtrack_session_open() - set up a consumer for one target process
 * @sp:		receives the session
 * @params:	target pid, flags, buffer size
 * @err:	buffer for a one-line reason on failure, may be NULL
 * @errlen:	size of @err
 *
 * Checks the target and the kernel, reaps instances of dead consumers,
 * creates and configures the private instance (filter tgid==pid in place),
 * checks that no other session watches the target (check_other_sessions()),
 * opens the per-CPU readers and turns tracing on. Nothing is marked yet: call
 * vmtrack_session_watch_ranges() or vmtrack_session_watch_all(). On failure
 * nothing is left in tracefs.
 *
 * Return: 0, or a negative errno (-EINVAL flags that enum
 * vmtrack_session_flags does not define, -ESRCH no such process,
 * -EOPNOTSUPP kernel without mm_watch events, -ENOENT no tracefs, -EACCES
 * not root, -EBUSY another vmtrack session watches the target, ...).
 */
int vmtrack_session_open(struct vmtrack_session **sp, const struct vmtrack_params *params,
			 char *err, size_t errlen)
{
	struct vmtrack_session *s;
	int ret;

	*sp = NULL;
	/* a flag of a newer library would be ignored here, silently */
	if (params->flags & ~SESSION_FLAGS) {
		set_err(err, errlen, "unknown session flags %#x",
			params->flags & ~SESSION_FLAGS);
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->p = *params;
	s->pidfd = -1;
	s->tr.sweep_fd = -1;
	s->notify_fd = -1;
	for (ret = 0; ret < NR_PROBES; ret++)
		s->probe_fd[ret] = -1;
	s->ds = vmtrack_dset_new(sysconf(_SC_PAGESIZE));
	if (!s->ds) {
		ret = session_err(s, -ENOMEM, "out of memory");
		goto fail;
	}
	vmtrack_tracker_init(&s->tr, s->ds, s->p.pid);
	ret = open_target(s);
	if (ret)
		goto fail;
	s->buffer_kb = s->p.buffer_kb ?: auto_buffer_kb(s);
	ret = check_kernel(s);
	if (ret)
		goto fail;
	vmtrack_reap_instances();
	ret = load_events(s);
	if (ret)
		goto fail;
	ret = create_instance(s);
	if (ret)
		goto fail;
	ret = load_layout(s);
	if (ret)
		goto fail;
	ret = configure_instance(s);
	if (ret)
		goto fail;
	ret = check_other_sessions(s);
	if (ret)
		goto fail;
	ret = open_probes(s);
	if (ret)
		goto fail;
	ret = open_readers(s);
	if (ret)
		goto fail;
	open_notify(s);
	if (tracefs_trace_on(s->inst)) {
		ret = session_err(s, -EIO, "cannot turn tracing on in %s", s->name);
		goto fail;
	}
	*sp = s;
	return 0;
fail:
	set_err(err, errlen, "%s", s->err);
	s->p.flags |= VMTRACK_F_KEEP;	/* nothing of ours is marked */
	vmtrack_session_close(s);
	return ret;
}

/* Stop the kernel from watching the target's new mappings (MADV_WATCH_ALL). */
static int unwatch_mode(struct vmtrack_session *s)
{
	int ret = 0;

	if (s->mode_all &&
	    syscall(SYS_process_madvise, s->pidfd, NULL, 0, MADV_UNWATCH_ALL, 0U) < 0)
		ret = -errno;
	s->mode_all = false;
	return ret;
}

/*
 * MADV_UNWATCH @n ranges of @iov: one that fails is skipped, the rest go
 * on. Return: 0, or the first error.
 */
static int unwatch_ranges(struct vmtrack_session *s, const struct iovec *iov, size_t n)
{
	size_t done = 0, pos = 0;
	int ret, first = 0;

	while (pos < n) {
		ret = vmtrack_madvise(s->pidfd, iov + pos, n - pos, MADV_UNWATCH, &done);
		first = first ?: ret;
		if (!ret || ret == -ESRCH || done >= n - pos)
			break;
		pos += done + 1;
	}
	return first;
}

/* MADV_UNWATCH every tracked range. Return: 0, or the first error. */
static int unwatch_tracked(struct vmtrack_session *s)
{
	ssize_t n = vmtrack_dset_ranges_iov(s->ds, &s->iov, &s->iov_alloc);

	if (n < 0)
		return (int)n;
	return n ? unwatch_ranges(s, s->iov, n) : 0;
}

/*
 * After an exec the pidfd names the new program: a re-arm, or a watch of
 * the rescan, made between the exec and the drain that read the old mm's
 * exit went there, and watched whatever the new program maps at those
 * addresses. Unwatch the tracked ranges in it, once; it is not this
 * session's target. A target that exited fails with ESRCH, harmlessly.
 */
static void unwatch_after_exec(struct vmtrack_session *s)
{
	if (s->exec_unwatched || s->pidfd < 0)
		return;
	s->exec_unwatched = true;
	unwatch_tracked(s);
}

/**
 * vmtrack_session_unwatch() - drop the watch now, close the session later
 * @s:	the session
 *
 * Unwatch every tracked range and leave MADV_WATCH_ALL mode, as
 * vmtrack_session_close() does (and the same way: VMTRACK_F_KEEP keeps
 * them), and nothing else. For a consumer that hands a stopped target
 * over to something that needs the watch gone (clear_refs skips watched
 * VMAs: vmtrack dump --track-mem) and lets the target go on before
 * closing: the close removes the tracing instance, which waits for RCU
 * grace periods, tens of milliseconds. No epoch may follow (EINVAL).
 * It runs once: a later call, and the close, unwatch nothing more.
 *
 * Return: 0, or the first error of the process_madvise() calls; a range
 * that failed is still watched (-ESRCH: the target exited).
 */
int vmtrack_session_unwatch(struct vmtrack_session *s)
{
	int ret, mode;

	if (s->unwatched || (s->p.flags & VMTRACK_F_KEEP) || s->tr.mm_gone || s->pidfd < 0)
		return 0;
	s->unwatched = true;
	ret = unwatch_tracked(s);
	mode = unwatch_mode(s);
	return ret ?: mode;
}

/**
 * vmtrack_session_close() - unwatch, remove the instance, free everything
 * @s:	the session, may be NULL
 *
 * A target frozen by vmtrack_session_freeze() is let go. Unless
 * VMTRACK_F_KEEP was given, every tracked range is unwatched
 * (MADV_UNWATCH). The readers are closed before the instance is removed
 * (rmdir fails with EBUSY while a file of the instance is open).
 */
void vmtrack_session_close(struct vmtrack_session *s)
{
	int kind;

	if (!s)
		return;
	vmtrack_session_thaw(s);
	vmtrack_session_unwatch(s);
	close_notify(s);
	close_readers(s);
	close_probes(s);
	if (s->inst) {
		tracefs_trace_off(s->inst);
		tracefs_instance_destroy(s->inst);
		tracefs_instance_free(s->inst);
	}
	if (s->tracefs_ours)
		vmtrack_tracefs_put();	/* after the last file of it was closed */
	for (kind = 0; kind < VMTRACK_EV_NR; kind++)
		free(s->filter_read[kind]);
	free(s->set_event_read);
	free(s->buffer_kb_read);
	if (s->tep)
		tep_free(s->tep);
	vmtrack_decoder_free(s->dec);
	vmtrack_dset_free(s->ds);
	if (s->pidfd >= 0)
		close(s->pidfd);
	if (s->tr.sweep_fd >= 0)
		close(s->tr.sweep_fd);
	free(s->buf);
	free(s->ev);
	free(s->iov);
	free(s->failed);
	free(s->vmas.vma);
	free(s->tr.iov);
	free(s->tr.rearm_iov);
	free(s->tr.gone);
	free(s->left_out);
	vmtrack_dset_free(s->tr.batch);
	free(s);
}

/* ---- marking ---- */

struct watch_ctx {
	struct vmtrack_session	*s;
	uint64_t		start;
	uint64_t		end;
	bool			all;
	int			err;
};

/* read-only private mappings are watched too, unless asked otherwise */
static bool all_private(const struct vmtrack_session *s)
{
	return !(s->p.flags & VMTRACK_F_WRITABLE_ONLY);
}

static int add_mapping(struct iovec **arr, size_t *alloc, size_t *nr,
		       const struct vmtrack_mapping *map)
{
	if (GROW_ARRAY(*arr, *alloc, *nr, 64))
		return -ENOMEM;
	(*arr)[*nr].iov_base = (void *)(uintptr_t)map->start;
	(*arr)[*nr].iov_len = map->end - map->start;
	(*nr)++;
	return 0;
}

static int watch_map_cb(const struct vmtrack_mapping *map, void *data)
{
	struct watch_ctx *c = data;
	uint64_t start = max(map->start, c->start), end = min(map->end, c->end);
	const char *label = map->name[0] ? map->name : "[anon]";

	if (start >= end)
		return 0;
	if (!c->all && map->shared)
		return session_err(c->s, -EINVAL, "range %#llx-%#llx overlaps a shared mapping",
				   (unsigned long long)c->start, (unsigned long long)c->end);
	if (c->all && !vmtrack_mapping_watchable(map, all_private(c->s))) {
		if (vmtrack_mapping_watchable(map, true) &&
		    add_mapping(&c->s->left_out, &c->s->left_out_alloc, &c->s->nr_left_out, map))
			return session_err(c->s, -ENOMEM, "out of memory");
		return 0;
	}
	if (vmtrack_dset_fill_clean(c->s->ds, start, end, label) < 0)
		return session_err(c->s, -ENOMEM, "out of memory");
	return 0;
}

static int mark_error(struct vmtrack_session *s, int ret, const struct iovec *v)
{
	unsigned long long a = (uintptr_t)v->iov_base, b = a + v->iov_len;

	switch (ret) {
	case -EPERM:
	case -EACCES:
		return session_err(s, -EPERM, "pid %d: not permitted to watch (needs ptrace "
				   "access and CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN)",
				   (int)s->p.pid);
	case -ESRCH:
		return session_err(s, ret, "pid %d: process exited", (int)s->p.pid);
	case -EINVAL:
		return session_err(s, ret, "cannot watch %#llx-%#llx: EINVAL (kernel without "
				   "MADV_WATCH, or shared, hugetlb or special mapping)", a, b);
	default:
		return session_err(s, ret, "cannot watch %#llx-%#llx: %s", a, b, strerror(-ret));
	}
}

static int learn_mm(struct vmtrack_session *s, const struct iovec *iov, size_t n);

/*
 * Ranges watched before this session (an earlier consumer, or the process
 * itself) had writes nobody saw: a restart. Asked of smaps before the first
 * mark, since the marks cannot tell: a mark retried after a partial failure
 * re-arms what the first try marked, and reports it as a re-arm too.
 */
static void check_restart(struct vmtrack_session *s, const struct iovec *iov, size_t n)
{
	const struct vmtrack_vma *v;
	size_t i, k;

	if (vmtrack_smaps_read(s->p.pid, &s->vmas))
		return;		/* the marks tell, as far as they can */
	s->tr.restart_known = true;
	for (i = 0; i < s->vmas.nr; i++) {
		v = &s->vmas.vma[i];
		if (!v->watched)
			continue;
		for (k = 0; k < n; k++)
			if (v->start < (uintptr_t)iov[k].iov_base + iov[k].iov_len &&
			    v->end > (uintptr_t)iov[k].iov_base) {
				vmtrack_tracker_loss(&s->tr, VMTRACK_LOSS_RESTART, 0);
				return;
			}
	}
}

/*
 * process_madvise(MADV_WATCH) over @iov. A range that fails in part or whole
 * with ENOMEM (unmapped meanwhile) or, with @soft_einval, EINVAL (refused)
 * is remembered for settle(); another error stops at range *@bad.
 */
static int arm(struct vmtrack_session *s, const struct iovec *iov, size_t n,
	       bool soft_einval, size_t *bad)
{
	size_t pos = 0, done;
	int ret;

	s->nr_failed = 0;
	while (pos < n) {
		ret = vmtrack_madvise(s->pidfd, iov + pos, n - pos, MADV_WATCH, &done);
		if (!ret)
			break;
		if (ret != -ENOMEM && !(ret == -EINVAL && soft_einval)) {
			*bad = pos + done;
			return ret;
		}
		if (GROW_ARRAY(s->failed, s->failed_alloc, s->nr_failed, 16)) {
			/* cannot check it: it stays dirty, the rescan prunes holes */
			vmtrack_dset_set_dirty(s->ds, (uintptr_t)iov[pos + done].iov_base,
					       (uintptr_t)iov[pos + done].iov_base +
					       iov[pos + done].iov_len, NULL);
			pos += done + 1;
			continue;
		}
		s->failed[s->nr_failed++] = iov[pos + done];
		pos += done + 1;
	}
	return 0;
}

/* arm one watched VMA's part of a range arm() could not arm: 0 if it did */
static int settle_arm(void *data, uint64_t start, uint64_t end)
{
	struct vmtrack_session *s = data;
	struct iovec iov = { .iov_base = (void *)(uintptr_t)start, .iov_len = end - start };
	size_t done;

	return vmtrack_madvise(s->pidfd, &iov, 1, MADV_WATCH, &done);
}

/*
 * Bring the ranges arm() could not (fully) arm in line with the kernel's
 * view, read from /proc/PID/smaps after the fact: see vmtrack_dset_settle().
 * A range left tracked but neither watched nor dirty would lose every write
 * to it, and a new mapping at its place would never be marked.
 */
static void settle(struct vmtrack_session *s, bool untrack)
{
	size_t i;
	bool blind;

	if (!s->nr_failed)
		return;
	blind = vmtrack_smaps_read(s->p.pid, &s->vmas) != 0;
	for (i = 0; i < s->nr_failed; i++) {
		uint64_t a = (uintptr_t)s->failed[i].iov_base, b = a + s->failed[i].iov_len;

		if (blind)	/* gone, or smaps unreadable: keep it dirty */
			vmtrack_dset_set_dirty(s->ds, a, b, NULL);
		else
			vmtrack_dset_settle(s->ds, &s->vmas, a, b, untrack, settle_arm, s);
	}
	s->nr_failed = 0;
}

/**
 * vmtrack_session_watch_ranges() - watch given ranges of the target
 * @s:		the session
 * @ranges:	page-aligned ranges
 * @n:		number of ranges
 *
 * Only the parts that are mapped now are tracked; a range that overlaps a
 * shared mapping is refused. Tracked ranges are not rescanned: parts that are
 * unmapped later drop out, and new mappings are not picked up.
 *
 * Return: 0, or a negative errno (message in vmtrack_session_error()):
 * -ENOENT nothing is mapped in @ranges, -EINVAL a range empty, not page
 * aligned or over a shared mapping, -ESRCH the target exited, -EPERM not
 * permitted to watch it, -ENOMEM out of memory, ...
 */
int vmtrack_session_watch_ranges(struct vmtrack_session *s, const struct iovec *ranges,
				 size_t n)
{
	uint64_t mask = sysconf(_SC_PAGESIZE) - 1;
	struct watch_ctx c = { .s = s };
	size_t i, done;
	ssize_t nr;
	int ret;

	for (i = 0; i < n; i++) {
		c.start = (uintptr_t)ranges[i].iov_base;
		c.end = c.start + ranges[i].iov_len;
		if ((c.start & mask) || (c.end & mask) || c.end <= c.start)
			return session_err(s, -EINVAL, "range %#llx-%#llx is empty or not "
					   "page aligned", (unsigned long long)c.start,
					   (unsigned long long)c.end);
		ret = vmtrack_maps_walk(s->p.pid, watch_map_cb, &c);
		if (ret == -ESRCH)
			return session_err(s, ret, "pid %d: process exited", (int)s->p.pid);
		if (ret)
			return s->err[0] ? ret : session_err(s, ret, "cannot read maps of pid "
							      "%d: %s", (int)s->p.pid,
							      strerror(-ret));
	}
	if (!vmtrack_dset_nr_ranges(s->ds))
		return session_err(s, -ENOENT, "nothing mapped in the given ranges");
	nr = vmtrack_dset_ranges_iov(s->ds, &s->iov, &s->iov_alloc);
	if (nr < 0)
		return session_err(s, -ENOMEM, "out of memory");
	check_restart(s, s->iov, nr);
	ret = arm(s, s->iov, nr, false, &done);
	if (ret) {
		mark_error(s, ret, &s->iov[done]);
		/* unwatch what was marked before the failure, and in the range that failed */
		unwatch_ranges(s, s->iov, done < (size_t)nr ? done + 1 : done);
		s->p.flags |= VMTRACK_F_KEEP;
		return ret;
	}
	ret = learn_mm(s, s->iov, nr);
	if (ret)
		return ret;
	/* parts unmapped since the walk drop out */
	settle(s, false);
	return 0;
}

/**
 * vmtrack_session_watch_all() - watch every private mapping
 * @s:	the session
 *
 * Mappings are read from /proc/PID/maps: every private one, or with
 * VMTRACK_F_WRITABLE_ONLY the writable ones. Each epoch rescans the maps: new mappings, and
 * growth of old ones (brk, stack), are tracked from then on and reported dirty
 * in that epoch; tracked parts that disappeared are dropped. A mapping the
 * kernel refuses to watch (hugetlb, VM_IO, ...) stays tracked and is reported
 * dirty in every epoch.
 *
 * Return: 0, or a negative errno (message in vmtrack_session_error()):
 * -ENOENT the target has no mapping to watch, -EINVAL the kernel refused
 * every one, -ESRCH the target exited, -EPERM not permitted to watch it,
 * -ENOMEM out of memory, ...
 */
int vmtrack_session_watch_all(struct vmtrack_session *s)
{
	struct watch_ctx c = { .s = s, .start = 0, .end = UINT64_MAX, .all = true };
	size_t done;
	ssize_t nr;
	int ret;

	ret = vmtrack_maps_walk(s->p.pid, watch_map_cb, &c);
	if (ret)
		return ret == -ESRCH ? session_err(s, ret, "pid %d: process exited",
						   (int)s->p.pid) :
		       s->err[0] ? ret : session_err(s, ret, "cannot read maps of pid %d: %s",
						     (int)s->p.pid, strerror(-ret));
	nr = vmtrack_dset_ranges_iov(s->ds, &s->iov, &s->iov_alloc);
	if (nr < 0)
		return session_err(s, -ENOMEM, "out of memory");
	if (!nr)
		return session_err(s, -ENOENT, "pid %d has no private %smapping to watch",
				   (int)s->p.pid, all_private(s) ? "" : "writable ");
	check_restart(s, s->iov, nr);
	/*
	 * Where the kernel can, it watches every mapping of the target, now
	 * and from its creation on, as whole VMAs: the marks below and the
	 * rescans then only re-arm, and never split a mapping that the target
	 * grew since the maps were read and is about to mremap() (which fails
	 * across two VMAs). Older kernels answer EINVAL.
	 */
	s->mode_all = !syscall(SYS_process_madvise, s->pidfd, NULL, 0,
			       MADV_WATCH_ALL, 0U);
	ret = arm(s, s->iov, nr, true, &done);
	if (ret) {
		mark_error(s, ret, &s->iov[done]);
		unwatch_ranges(s, s->iov, done < (size_t)nr ? done + 1 : done);
		unwatch_mode(s);
		s->p.flags |= VMTRACK_F_KEEP;
		return ret;
	}
	if (s->nr_failed == (size_t)nr) {
		mark_error(s, -EINVAL, &s->iov[0]);
		/* a range that lost a piece (ENOMEM) was armed where still mapped */
		unwatch_ranges(s, s->iov, nr);
		unwatch_mode(s);
		s->p.flags |= VMTRACK_F_KEEP;
		return -EINVAL;
	}
	ret = learn_mm(s, s->iov, nr);
	if (ret)
		return ret;
	/*
	 * What could not be marked is dropped: the rescan of the first epoch
	 * finds what is mapped there then and reports it dirty (a mapping the
	 * kernel refuses, in every epoch).
	 */
	settle(s, true);
	s->rescan = true;
	s->tr.fill_stray = true;
	s->tr.note_gone = !all_private(s);
	return 0;
}

/* ---- streaming ---- */

static int collect_event(const struct vmtrack_event *ev, void *data)
{
	struct vmtrack_session *s = data;

	if (vmtrack_tracker_early(&s->tr, ev))
		return 0;
	if (GROW_ARRAY(s->ev, s->ev_alloc, s->nr_ev, 4096))
		return -ENOMEM;
	s->ev[s->nr_ev++] = *ev;
	return 0;
}

/* a decoder error: a damaged sub-buffer, or events it could not keep */
static void decode_loss(struct vmtrack_session *s, int ret)
{
	if (ret == -EBADMSG)
		vmtrack_tracker_loss(&s->tr, VMTRACK_LOSS_DECODE, 0);
	else if (ret == -ENOMEM)
		vmtrack_tracker_loss(&s->tr, VMTRACK_LOSS_EVENTS, 0);
}

static void decode_chunk(struct vmtrack_session *s, struct reader *r, size_t len)
{
	size_t sub = s->layout.subbuf_size, off;
	int ret;

	r->bytes_since_stats += len;
	for (off = 0; off + s->layout.data_offset <= len; off += sub) {
		ret = vmtrack_decode_subbuf(s->dec, &s->layout, s->buf + off,
					    min(sub, len - off), r->cpu, collect_event, s);
		decode_loss(s, ret);
	}
}

/*
 * splice whole sub-buffers into the pipe and decode them until none is
 * left; returns the bytes moved, or a negative errno
 */
static ssize_t reader_splice(struct vmtrack_session *s, struct reader *r)
{
	ssize_t n, got, moved = 0;

	for (;;) {
		n = splice(r->fd, NULL, r->pipe[1], NULL, r->pipe_size,
			   SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return moved;
		if (n <= 0)
			return n < 0 ? -errno : moved;
		moved += n;
		for (got = 0; got < n; ) {
			ssize_t k = read(r->pipe[0], s->buf + got, n - got);

			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)
				return -EIO;
			got += k;
		}
		decode_chunk(s, r, got);
	}
}

/* read() sub-buffers until none is left, or *@more after @max (0: no limit) */
static int reader_read(struct vmtrack_session *s, struct reader *r, int max, bool *more)
{
	ssize_t n;
	int nr = 0;

	*more = false;
	while (!max || nr < max) {
		n = read(r->fd, s->buf, s->layout.subbuf_size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return -errno;
		if (n <= 0)
			return 0;
		decode_chunk(s, r, n);
		nr++;
	}
	*more = true;
	return 0;
}

/* sub-buffers an epoch read()s from a quiet CPU before it splices the rest */
#define QUIET_READS	4

/*
 * Decode what the mapped buffer holds. If the kernel stops handing out
 * sub-buffers (an ioctl error, or a reader position out of the buffer),
 * the reader goes on with read(), and what it may have handed over
 * undecoded is a loss.
 */
static int reader_map_drain(struct vmtrack_session *s, struct reader *r)
{
	ssize_t n;
	int err;

	n = vmtrack_ringmap_drain(&r->map, s->dec, &s->layout, r->cpu, collect_event, s, &err);
	decode_loss(s, err);
	if (n >= 0) {
		r->bytes_since_stats += n;
		return 0;
	}
	vmtrack_tracker_loss(&s->tr, VMTRACK_LOSS_EVENTS, 0);
	vmtrack_ringmap_close(&r->map);
	r->no_splice = true;
	return (int)n;
}

/*
 * Move whole sub-buffers out of the kernel; with @partial also the last,
 * partly filled one (read() copies its events out). Without splice (an error
 * other than EAGAIN), read() does everything. An epoch on a CPU where the
 * last one spliced nothing (a quiet target) starts with read(): there a
 * splice() would only fail with EAGAIN, one syscall per CPU and epoch.
 */
static int reader_drain(struct vmtrack_session *s, struct reader *r, bool partial)
{
	ssize_t moved = 0;
	bool more;
	int ret;

	/* mapped, the partly filled sub-buffer costs no more than a full one */
	if (r->map.data && !reader_map_drain(s, r))
		return 0;
	if (partial && r->quiet && !r->no_splice) {
		ret = reader_read(s, r, QUIET_READS, &more);
		if (ret || !more)
			return ret;
		r->quiet = false;
	}
	if (!r->no_splice)
		moved = reader_splice(s, r);
	if (moved == -EIO)
		return moved;
	if (moved < 0)
		r->no_splice = true;
	if (partial)
		r->quiet = !moved;
	if (partial || r->no_splice)
		return reader_read(s, r, 0, &more);
	return 0;
}

/*
 * Learn the target's mm_id from the marks just made (marks of ranges of
 * @iov), so that the events that only dirty pages are applied as they are
 * read from the first epoch on (vmtrack_tracker_early()). In a child pid
 * namespace the events name the target by its tgid in the initial
 * namespace, which the consumer cannot see: there the marks tell that tgid
 * too, and the filter changes to the mm_id. Events of other mms read
 * meanwhile are ignored by the tracker.
 */
static int learn_mm(struct vmtrack_session *s, const struct iovec *iov, size_t n)
{
	char filter[64];
	uint64_t id = 0;
	int32_t tgid = 0;
	size_t i, k;

	for (i = 0; i < (size_t)s->nr_rd; i++)
		reader_drain(s, &s->rd[i], true);
	for (i = 0; i < s->nr_ev; i++) {
		const struct vmtrack_event *ev = &s->ev[i];

		if (ev->kind != VMTRACK_EV_MARK)
			continue;
		for (k = 0; k < n; k++)
			if (ev->a >= (uintptr_t)iov[k].iov_base &&
			    ev->b <= (uintptr_t)iov[k].iov_base + iov[k].iov_len)
				break;
		if (k == n)
			continue;
		if (id && ev->mm_id != id && !s->pidns)
			return 0;	/* the first event applied tells, as before */
		if (id && ev->mm_id != id)
			return session_err(s, -EBUSY, "pid %d: two mms marked its ranges at once, "
					   "cannot tell which is the target's", (int)s->p.pid);
		id = ev->mm_id;
		tgid = ev->tgid;
	}
	if (!s->pidns) {
		if (id && tgid == s->tr.tgid) {
			s->tr.mm_known = true;
			s->tr.mm_id = id;
		}
		return 0;
	}
	if (!id)
		return session_err(s, -EIO, "pid %d: no mark event seen, cannot identify its mm",
				   (int)s->p.pid);
	s->tr.tgid = tgid;
	s->tr.mm_known = true;
	s->tr.mm_id = id;
	snprintf(filter, sizeof(filter), "mm_id==%llu", (unsigned long long)id);
	return set_filter(s, filter, false);
}

/**
 * vmtrack_session_pump() - read events until a timeout or a wake-up
 * @s:		the session
 * @wake_fd:	file descriptor to poll as well (signalfd, timerfd...), or -1
 * @timeout_ms:	poll timeout, -1 for none
 *
 * Waits for the per-CPU buffers to fill (buffer_percent) and moves their full
 * sub-buffers into the session, so the kernel buffers do not overflow between
 * epochs. Events are applied at the next vmtrack_session_epoch().
 *
 * Return: 1 if @wake_fd is readable, 0 otherwise, or a negative errno.
 */
int vmtrack_session_pump(struct vmtrack_session *s, int wake_fd, int timeout_ms)
{
	int i, n, ret;

	for (i = 0; i < s->nr_rd; i++) {
		s->pfd[i].fd = s->rd[i].fd;
		s->pfd[i].events = POLLIN;
		s->pfd[i].revents = 0;
	}
	n = s->nr_rd;
	if (wake_fd >= 0) {
		s->pfd[n].fd = wake_fd;
		s->pfd[n].events = POLLIN;
		s->pfd[n].revents = 0;
		n++;
	}
	ret = poll(s->pfd, n, timeout_ms);
	if (ret < 0)
		return errno == EINTR ? 0 : -errno;
	for (i = 0; i < s->nr_rd; i++)
		if (s->pfd[i].revents & POLLIN)
			reader_drain(s, &s->rd[i], false);
	return wake_fd >= 0 && (s->pfd[s->nr_rd].revents & POLLIN);
}

/* ---- epochs ---- */

/*
 * A resized buffer (or one resized per CPU: "X") invalidates the stats
 * gate: read every CPU's stats in every epoch from then on.
 */
static void check_buffer_size(struct vmtrack_session *s)
{
	char *text;

	if (!s->stats_gate)
		return;
	text = inst_read(s, "buffer_size_kb");
	if (!text || strcmp(text, s->buffer_kb_read))
		s->stats_gate = 0;
	free(text);
}

/* @all: the instance was touched, read every CPU's stats */
static void account_loss(struct vmtrack_session *s, bool all)
{
	struct vmtrack_cpu_stats st;
	uint64_t lost, missed;
	int i;

	if (all)
		check_buffer_size(s);
	for (i = 0; i < s->nr_rd; i++) {
		struct reader *r = &s->rd[i];

		if (!all && s->notify_fd >= 0 && s->stats_gate &&
		    r->bytes_since_stats < s->stats_gate)
			continue;
		r->bytes_since_stats = 0;
		if (read_stats(r, &st)) {
			vmtrack_tracker_loss(&s->tr, VMTRACK_LOSS_TAMPER, 0);
			continue;
		}
		lost = vmtrack_stats_lost(&r->stats, &st);
		if (lost)
			vmtrack_tracker_loss(&s->tr, VMTRACK_LOSS_EVENTS, lost);
		r->stats = st;
	}
	missed = vmtrack_decoder_missed_pages(s->dec);
	if (missed != s->missed_pages) {
		vmtrack_tracker_loss(&s->tr, VMTRACK_LOSS_EVENTS, 0);
		s->missed_pages = missed;
	}
}

static bool probe_is(struct vmtrack_session *s, int probe, const char *want)
{
	char text[1024];

	return !fd_read_text(s->probe_fd[probe], text, sizeof(text)) &&
	       !strcmp(text, want);
}

/* the instance as configured? If not, restore it and report a gap */
static void check_instance(struct vmtrack_session *s)
{
	bool ok = true;
	int kind;

	/* exactly our events enabled */
	ok &= probe_is(s, PROBE_SET_EVENT, s->set_event_read);
	ok &= probe_is(s, PROBE_TRACING_ON, "1");
	ok &= probe_is(s, PROBE_OVERWRITE, "0");
	ok &= probe_is(s, PROBE_WRITE_FAULT_ENABLE, s->write_fault_want);
	for (kind = 0; kind < VMTRACK_EV_NR; kind++)
		ok &= probe_is(s, PROBE_FILTER + kind, s->filter_read[kind]);
	if (ok)
		return;
	vmtrack_tracker_loss(&s->tr, VMTRACK_LOSS_TAMPER, 0);
	tracefs_option_disable(s->inst, TRACEFS_OPTION_OVERWRITE);
	write_filters(s);
	hold_soft_mode(s);	/* if it was removed; refused if it is there */
	inst_write(s, "set_event", "");
	enable_events(s);
	if (s->rearms_off)
		inst_write(s, REARM_ENABLE, "0");
	if (s->dense)
		inst_write(s, WRITE_FAULT_ENABLE, "0");
	tracefs_trace_on(s->inst);
	/* with soft mode as it is now; if not restored, check again */
	if (expect_events(s))
		s->notified = true;
}

static int ev_cmp(const void *a, const void *b)
{
	const struct vmtrack_event *x = a, *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	if (x->cpu != y->cpu)
		return x->cpu < y->cpu ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* one CPU's events arrive in order: the common case needs no sort */
static bool events_sorted(const struct vmtrack_session *s)
{
	size_t i;

	for (i = 1; i < s->nr_ev; i++)
		if (ev_cmp(&s->ev[i - 1], &s->ev[i]) > 0)
			return false;
	return true;
}

/*
 * Every private mapping the kernel can watch; @labels[i] is NULL for those
 * left out (@left), read-only with VMTRACK_F_WRITABLE_ONLY, which are kept
 * where they are already tracked but not adopted.
 */
struct rescan_ctx {
	struct vmtrack_session	*s;
	struct iovec		*maps;
	char			**labels;
	size_t			n;
	size_t			maps_alloc;
	size_t			labels_alloc;
	struct iovec		*left;
	size_t			nr_left;
	size_t			left_alloc;
	/* pages of the mappings left out that no event told were written */
	struct iovec		*written;
	size_t			nr_written;
	size_t			written_alloc;
	int			written_err;
	int			err;
};

/* [@start, @end) inside the read-only mappings the last rescan left out */
static bool was_left_out(const struct vmtrack_session *s, uint64_t start, uint64_t end)
{
	const struct iovec *v = s->left_out;
	size_t i;

	/* from the first that ends after @start, without a gap */
	for (i = vmtrack_iov_after(v, s->nr_left_out, start);
	     i < s->nr_left_out && start < end; i++) {
		if ((uintptr_t)v[i].iov_base > start)
			return false;
		start = (uintptr_t)v[i].iov_base + v[i].iov_len;
	}
	return start >= end;
}

/*
 * In an epoch with the write_fault event off for a while, a write to a
 * mapping left out is no event (one made writable, written and made
 * read-only again): the soft-dirty bits of what the last rescan left out
 * tell, read before the maps, adjacent mappings in one call. Where they
 * cannot be read, every mapping was written.
 */
static void find_written_left_out(struct vmtrack_session *s, struct rescan_ctx *c)
{
	const struct iovec *v = s->left_out;
	size_t i = 0, j;

	if (!s->tr.sweep_written || s->tr.sweep_fd < 0)
		return;
	while (i < s->nr_left_out && !c->written_err) {
		uint64_t start = (uintptr_t)v[i].iov_base, end = start + v[i].iov_len;

		for (j = i + 1; j < s->nr_left_out && (uintptr_t)v[j].iov_base == end; j++)
			end += v[j].iov_len;
		c->written_err = vmtrack_sweep_written_extents(s->tr.sweep_fd, s->ds, start, end,
							       &c->written, &c->written_alloc,
							       &c->nr_written);
		i = j;
	}
}

static bool written_unseen(const struct rescan_ctx *c, const struct vmtrack_mapping *map)
{
	return c->written_err ||
	       vmtrack_iov_overlaps(c->written, c->nr_written, map->start, map->end);
}

/*
 * With VMTRACK_F_WRITABLE_ONLY a read-only mapping stays out only inside
 * what the last rescan (or the first marks) left out, untouched since. One
 * that is new or reaches further (moved, grown, merged with a new one), at
 * a place unmapped since (the consumer may hold copies of what was there),
 * or that has tracked pages (written, as events told, or tracked before it
 * was made read-only) or written ones no event told holds contents the
 * consumer has not copied: it is adopted like a writable one. One that
 * shrank (a PROT_NONE reservation that malloc makes writable piece by
 * piece) stays out.
 */
static bool left_out_still(const struct rescan_ctx *c, const struct vmtrack_mapping *map)
{
	const struct vmtrack_session *s = c->s;

	return !vmtrack_dset_overlaps(s->ds, map->start, map->end) &&
	       !vmtrack_tracker_gone(&s->tr, map->start, map->end) &&
	       was_left_out(s, map->start, map->end) && !written_unseen(c, map);
}

static int rescan_cb(const struct vmtrack_mapping *map, void *data)
{
	struct rescan_ctx *c = data;
	bool adopt;

	if (!vmtrack_mapping_watchable(map, true))
		return 0;
	adopt = vmtrack_mapping_watchable(map, all_private(c->s)) ||
		!left_out_still(c, map);
	if (!adopt && add_mapping(&c->left, &c->left_alloc, &c->nr_left, map))
		return -ENOMEM;
	if (GROW_ARRAY(c->maps, c->maps_alloc, c->n, 64) ||
	    GROW_ARRAY(c->labels, c->labels_alloc, c->n, 64))
		return -ENOMEM;
	c->maps[c->n].iov_base = (void *)(uintptr_t)map->start;
	c->maps[c->n].iov_len = map->end - map->start;
	c->labels[c->n] = NULL;
	if (adopt) {
		c->labels[c->n] = strdup(map->name[0] ? map->name : "[anon]");
		if (!c->labels[c->n])
			return -ENOMEM;
	}
	c->n++;
	return 0;
}

/*
 * Drop tracked parts that are no longer private mappings. A tracked mapping
 * made read-only by mprotect() stays tracked with its dirty bits: the
 * kernel keeps it watched, a FOLL_FORCE write to it is an event, and so is
 * a write after it is made writable again, before the rescan that would
 * adopt it anew.
 */
static int rescan_prune(struct vmtrack_session *s, const struct rescan_ctx *c)
{
	struct iovec *have = NULL;
	size_t alloc = 0, i, m = 0;
	ssize_t n;
	int ret = 0;

	n = vmtrack_dset_ranges_iov(s->ds, &have, &alloc);
	for (i = 0; n > 0 && i < (size_t)n && !ret; i++) {
		uint64_t pos = (uintptr_t)have[i].iov_base, end = pos + have[i].iov_len;

		while (pos < end && !ret) {
			uint64_t ms, me;

			while (m < c->n && (uintptr_t)c->maps[m].iov_base +
			       c->maps[m].iov_len <= pos)
				m++;
			ms = m < c->n ? (uintptr_t)c->maps[m].iov_base : UINT64_MAX;
			me = m < c->n ? ms + c->maps[m].iov_len : UINT64_MAX;
			if (ms > pos) {
				ret = vmtrack_dset_remove(s->ds, pos, min(ms, end));
				pos = min(ms, end);
			} else {
				pos = me;
			}
		}
	}
	free(have);
	return n < 0 ? (int)n : ret;
}

static void rescan(struct vmtrack_session *s, struct vmtrack_epoch *ep)
{
	struct rescan_ctx c = { .s = s };
	int64_t added;
	size_t i;
	int ret;

	vmtrack_tracker_gone_sort(&s->tr);
	find_written_left_out(s, &c);
	ret = vmtrack_maps_walk(s->p.pid, rescan_cb, &c);
	if (ret == -ESRCH) {
		/* gone: the exit event tells; keep what we have */
	} else if (ret) {
		vmtrack_tracker_loss(&s->tr, VMTRACK_LOSS_EVENTS, 0);
	} else if (rescan_prune(s, &c)) {
		vmtrack_tracker_loss(&s->tr, VMTRACK_LOSS_EVENTS, 0);
	} else {
		for (i = 0; i < c.n; i++) {
			if (!c.labels[i])
				continue;
			added = vmtrack_dset_adopt(s->ds, (uintptr_t)c.maps[i].iov_base,
						   (uintptr_t)c.maps[i].iov_base +
						   c.maps[i].iov_len, c.labels[i]);
			if (added < 0)
				vmtrack_tracker_loss(&s->tr, VMTRACK_LOSS_EVENTS, 0);
			else
				ep->new_pages += added;
		}
		/* what is left out now is what the next rescan compares with */
		free(s->left_out);
		s->left_out = c.left;
		s->left_out_alloc = c.left_alloc;
		s->nr_left_out = c.nr_left;
		c.left = NULL;
		s->tr.nr_gone = 0;
		s->tr.gone_unknown = false;
	}
	free(c.left);
	free(c.written);
	for (i = 0; i < c.n; i++)
		free(c.labels[i]);
	free(c.labels);
	free(c.maps);
}

/*
 * Re-arm the pages just collected, but for those the sweep of a dense
 * epoch armed again itself. A range that cannot be re-armed, in part or
 * whole, stays dirty where it is still mapped (settle()); after another
 * error (EPERM: privileges dropped) everything from there on stays dirty.
 */
static void rearm(struct vmtrack_session *s, struct vmtrack_epoch *ep)
{
	const struct iovec *iov = ep->dirty;
	size_t n = ep->nr_dirty, bad, i;
	int ret;

	if (s->tr.swept_rearmed) {
		iov = s->tr.rearm_iov;
		n = s->tr.nr_rearm;
	}
	if (!n)
		return;
	ret = arm(s, iov, n, true, &bad);
	if (ret == -ESRCH) {
		/* past exit_mm(): its pidfd may not poll readable yet */
		s->exited = true;
		ep->target_gone = true;
		return;
	}
	ep->rearm_failed += s->nr_failed;
	settle(s, s->rescan);
	if (!ret)
		return;
	for (i = bad; i < n; i++)
		vmtrack_dset_set_dirty(s->ds, (uintptr_t)iov[i].iov_base,
				       (uintptr_t)iov[i].iov_base + iov[i].iov_len, NULL);
	ep->rearm_failed += n - bad;
}

/*
 * More than FOREIGN_MIN write faults of other mms in an epoch, and more than
 * one per FOREIGN_SHARE of the target's own events, turn the filter on for
 * the write_fault event too, for the rest of the session: other watched
 * processes (another consumer's target, a sibling under --follow) would
 * otherwise fill the buffer sized for this target, and cost more reading than
 * the filter costs the target's faults. Until then the tracker drops them as
 * they are decoded.
 */
#define FOREIGN_MIN	64
#define FOREIGN_SHARE	8

static void filter_faults(struct vmtrack_session *s, const struct vmtrack_epoch *ep)
{
	if (s->faults_filtered || ep->foreign <= FOREIGN_MIN ||
	    ep->foreign * FOREIGN_SHARE <= ep->events)
		return;
	s->faults_filtered = true;
	/* on failure the events keep coming and are dropped: try next epoch */
	if (apply_filter(s, !strcmp(s->filter, "0")))
		s->faults_filtered = false;
}

/*
 * Dense epochs. A write_fault event costs the target about a third of its
 * fault again, and the consumer about half as much to read it; a sweep of
 * the soft-dirty bits (PAGEMAP_SCAN) costs a page-table walk, some 1/100 of
 * that per watched page (TCG, bench/results). So once an epoch reports at
 * least 1/DENSE_SHARE of the watched pages dirty (or the caller's
 * threshold), the next epochs turn the event off in the instance and take
 * the written pages from a sweep; the zaps, unmaps, moves and marks are
 * still read. Below half the threshold the event comes back, and the
 * epoch after that still sweeps: the writes between the last sweep and
 * the event's return were not recorded. An epoch whose loss made every
 * page dirty decides nothing; one whose loss a sweep recovered decides
 * like any other (an overflow of the auto-sized buffer, auto_buffer_kb()).
 */
static void choose_mode(struct vmtrack_session *s, const struct vmtrack_epoch *ep)
{
	/*
	 * Mappings found by the rescan are dirty whole, not written; so are
	 * the pages a sweep as after a loss takes for changed without a write
	 * (empty entries, page cache: all of a program's text).
	 */
	uint64_t unwritten = ep->new_pages + s->tr.swept_unwritten;
	uint64_t written = ep->dirty_pages - min(unwritten, ep->dirty_pages);
	uint64_t enter = s->dense_pages;
	bool was = s->dense;

	if (!enter)
		enter = max(ep->watched_pages / (vmtrack_tracker_sweep_rearms(&s->tr) ?
						 DENSE_SHARE : DENSE_SHARE_NO_REARM),
			    (uint64_t)1);
	if (s->tr.sweep_fd >= 0 && (!ep->loss || ep->swept) && !s->tr.mm_gone) {
		if (!s->dense && written >= enter && enter != UINT64_MAX)
			set_dense(s, true);
		else if (s->dense && (written < enter / 2 || enter == UINT64_MAX))
			set_dense(s, false);
	}
	s->tr.sweep_written = was || s->dense;
}

/**
 * vmtrack_session_swept_rearmed() - did the last epoch's sweep re-arm?
 * @s:		the session
 *
 * Return: true if the last vmtrack_session_epoch() was dense and its sweep
 * also armed the written pages again, in the same walk (see "DENSE EPOCHS"
 * in vmtrack(1)).
 */
bool vmtrack_session_swept_rearmed(const struct vmtrack_session *s)
{
	return s->tr.swept_rearmed;
}

/**
 * vmtrack_session_set_dense() - when to collect written pages by a sweep
 * @s:		the session
 * @pages:	an epoch that reports at least this many dirty pages makes the
 *		next ones dense, until one reports fewer than half as many;
 *		0: 1/32 of the watched pages (the default; 1/4 where the
 *		sweep cannot re-arm); UINT64_MAX: never
 *
 * A dense epoch (struct vmtrack_epoch @dense) does not record the write
 * faults: the session turns mm_watch_write_fault off in its instance and
 * finds the pages written in the soft-dirty bits of the watched entries,
 * which costs a page-table walk of every watched page instead of an event
 * per page written. It needs a kernel with CONFIG_MEM_SOFT_DIRTY, and a
 * session without VMTRACK_F_NO_SWEEP. Takes effect at the end of the next
 * epoch. The auto-sized buffer of a session over 256 MiB counts on dense
 * epochs: a caller that turns them off here and wants every write of a
 * heavy epoch recorded rather than swept after a loss sizes @buffer_kb
 * with vmtrack_buffer_kb_for(), or opens with VMTRACK_F_EVENTS_ONLY.
 */
void vmtrack_session_set_dense(struct vmtrack_session *s, uint64_t pages)
{
	s->dense_pages = pages;
}

/**
 * vmtrack_session_set_batch() - hand out the dirty ranges of an epoch in batches
 * @s:		the session
 * @max_ranges:	most ranges in struct vmtrack_epoch @dirty at once; 0: all
 *		of them (the default)
 *
 * The result of an epoch is 16 bytes per dirty range, as many as the pages
 * written where each is a range of its own. With batches the memory of a
 * session stays about two bits per watched page (the dirty set, and the
 * epoch's pages still to be handed out) whatever the target writes:
 * vmtrack_session_epoch() returns 1 with the first @max_ranges ranges, and
 * vmtrack_session_epoch_next() the next ones, each batch re-armed before it
 * is handed out, so that it can be copied at once. The sweep of a dense
 * epoch that re-arms (vmtrack_session_swept_rearmed()) goes on batch by
 * batch: each call finds and re-arms the next written pages, and adds them
 * to @dirty_pages. Takes effect at the next epoch: the batches of an epoch
 * being handed out keep their size.
 */
void vmtrack_session_set_batch(struct vmtrack_session *s, size_t max_ranges)
{
	s->batch_max = max_ranges;
}

static bool batches_pending(const struct vmtrack_session *s)
{
	return s->tr.batch || s->tr.sweep_batched;
}

/*
 * The next written pages of a dense epoch, found and re-armed by the sweep
 * as they are handed out. The epoch's mode is chosen after the last, once
 * its pages are counted. A sweep that fails may have armed pages it did not
 * return: the next epoch has every page dirty.
 */
static int batch_sweep(struct vmtrack_session *s, struct vmtrack_epoch *ep)
{
	struct vmtrack_tracker *t = &s->tr;
	uint64_t pages = 0;
	size_t n = 0;
	int ret;

	ret = vmtrack_sweep_rearm_next(t->sweep_fd, s->ds, &t->sweep_from, s->batch_size,
				       &t->iov, &t->iov_alloc, &n, &pages);
	if (ret) {
		vmtrack_dset_all_dirty(s->ds);
		vmtrack_tracker_loss(t, VMTRACK_LOSS_EVENTS, 0);
		t->sweep_from = UINT64_MAX;
		n = 0;
	} else {
		vmtrack_dset_count_extents(s->ds, t->iov, n);
		ep->dirty_pages += pages;
	}
	ep->dirty = t->iov;
	ep->nr_dirty = n;
	if (t->sweep_from != UINT64_MAX)
		return 1;
	t->sweep_batched = false;
	choose_mode(s, ep);
	if (ret)
		return session_err(s, ret, "sweep of a dense epoch: %s (every page dirty next)",
				   strerror(-ret));
	return 0;
}

/* hand out the next batch of the epoch's dirty ranges, re-armed: 1 if more follow */
static int batch_next(struct vmtrack_session *s, struct vmtrack_epoch *ep)
{
	struct vmtrack_dset *batch = s->tr.batch;
	ssize_t n;

	if (s->tr.sweep_batched)
		return batch_sweep(s, ep);
	n = vmtrack_dset_collect_batch(batch, &s->tr.iov, &s->tr.iov_alloc, s->batch_size);
	if (n < 0) {
		/* not handed out, not re-armed: dirty in the next epoch */
		vmtrack_dset_merge_dirty(s->ds, batch);
		vmtrack_dset_free(batch);
		s->tr.batch = NULL;
		return session_err(s, -ENOMEM, "out of memory");
	}
	ep->dirty = s->tr.iov;
	ep->nr_dirty = n;
	if (s->batch_rearm && n)
		rearm(s, ep);
	if (ep->target_gone)
		s->batch_rearm = false;
	if (vmtrack_dset_dirty_pages(batch))
		return 1;
	vmtrack_dset_free(batch);
	s->tr.batch = NULL;
	return 0;
}

/*
 * The first batch of an epoch. After a sweep that re-armed the written
 * pages, only the pages other events made dirty need it: all at once.
 */
static int batch_first(struct vmtrack_session *s, unsigned int flags, struct vmtrack_epoch *ep)
{
	s->batch_rearm = !(flags & VMTRACK_EPOCH_NO_REARM) && !s->tr.mm_gone;
	if (s->batch_rearm && s->tr.swept_rearmed) {
		rearm(s, ep);
		s->batch_rearm = false;
	}
	return batch_next(s, ep);
}

/**
 * vmtrack_session_epoch_next() - the next batch of an epoch's dirty ranges
 * @s:		the session, whose last vmtrack_session_epoch() or
 *		vmtrack_session_epoch_next() returned 1
 * @ep:		the epoch: @dirty and @nr_dirty are set to the next ranges
 *		(re-armed, valid until the next call), @rearm_failed,
 *		@target_gone and, in a dense epoch's sweep, @dirty_pages
 *		updated; the rest is left as it is
 *
 * Return: 1 if more ranges follow, 0 with the last of them, -EINVAL if none
 * are pending, -ENOMEM (the ranges not handed out are dirty in the next
 * epoch), or the error of a dense epoch's sweep (it may have armed pages it
 * did not hand out: every page is dirty in the next epoch).
 */
int vmtrack_session_epoch_next(struct vmtrack_session *s, struct vmtrack_epoch *ep)
{
	if (!batches_pending(s))
		return session_err(s, -EINVAL, "no dirty ranges pending");
	return batch_next(s, ep);
}

/* the target exited (its pidfd polls readable) */
static bool target_exited(const struct vmtrack_session *s)
{
	struct pollfd p = { .fd = s->pidfd, .events = POLLIN };

	return s->tr.mm_gone || s->exited || (s->pidfd >= 0 && poll(&p, 1, 0) == 1);
}

/*
 * What an epoch asks after the drain, in one poll(): did anything write to
 * the instance (*@touched), did the target exit (*@exited)? A poll() that
 * fails reads the inotify queue anyway and takes the target as running.
 */
static void epoch_poll(struct vmtrack_session *s, bool *touched, bool *exited)
{
	struct pollfd p[2] = {
		{ .fd = s->notify_fd, .events = POLLIN },
		{ .fd = s->pidfd, .events = POLLIN },
	};
	int ret;

	do
		ret = poll(p, 2, 0);
	while (ret < 0 && errno == EINTR);
	*touched = instance_touched(s, ret < 0 || p[0].revents);
	*exited = s->tr.mm_gone || s->exited || (ret > 0 && (p[1].revents & POLLIN));
}

/**
 * vmtrack_session_freeze() - stop the target for the final epoch
 * @s:	the session
 *
 * Stops every thread of the target as its tracer (vmtrack_freeze()): job
 * control does not see it, and the kernel lets the target go on if the
 * consumer dies. Needed for VMTRACK_EPOCH_NO_REARM. Call it, the epoch and
 * vmtrack_session_thaw() from the same thread (ptrace ties the tracees to
 * the thread that attached them).
 *
 * Return: 0; -ESRCH if the target exited; -EBUSY (another tracer), -EPERM,
 * -ETIMEDOUT, -EUSERS (another process shares its memory): not frozen
 * (message in vmtrack_session_error()).
 */
int vmtrack_session_freeze(struct vmtrack_session *s)
{
	bool was;
	int ret;

	if (s->frozen)
		return 0;
	ret = vmtrack_freeze(s->p.pid, &was);
	switch (ret) {
	case 0:
		s->frozen = true;
		return 0;
	case -ESRCH:
		return session_err(s, ret, "pid %d: process exited", (int)s->p.pid);
	case -EBUSY:
		return session_err(s, ret, "cannot freeze pid %d: another process traces it",
				   (int)s->p.pid);
	case -ETIMEDOUT:
		return session_err(s, ret, "cannot freeze pid %d: a thread did not stop within "
				   "10 s", (int)s->p.pid);
	case -EUSERS:
		return session_err(s, ret, "cannot freeze pid %d: another process shares its "
				   "memory (clone(CLONE_VM) without CLONE_THREAD)", (int)s->p.pid);
	default:
		return session_err(s, ret, "cannot freeze pid %d: %s (needs ptrace access)",
				   (int)s->p.pid, strerror(-ret));
	}
}

/**
 * vmtrack_session_thaw() - let the target frozen by vmtrack_session_freeze() go on
 * @s:	the session
 *
 * Return: 0, or -ESRCH if the target is gone.
 */
int vmtrack_session_thaw(struct vmtrack_session *s)
{
	if (!s->frozen)
		return 0;
	s->frozen = false;
	if (s->unarmed == UNARMED_FROZEN)
		s->unarmed = UNARMED_RAN;
	return vmtrack_thaw(s->p.pid);
}

/*
 * After a VMTRACK_EPOCH_NO_REARM epoch, has the target been held since? By
 * the session's freeze, not thawed in between; or by the caller, which
 * says so with VMTRACK_EPOCH_STOPPED (of this epoch and of that one).
 */
static bool no_rearm_held(const struct vmtrack_session *s, unsigned int flags)
{
	switch (s->unarmed) {
	case UNARMED_NONE:
		return true;
	case UNARMED_FROZEN:
		return s->frozen;
	case UNARMED_STOPPED:
		return flags & VMTRACK_EPOCH_STOPPED;
	default:
		return false;
	}
}

/**
 * vmtrack_session_epoch() - the pages changed since the last epoch
 * @s:		the session
 * @flags:	enum vmtrack_epoch_flags
 * @ep:		filled in; @ep->dirty stays valid until the next call
 *
 * Drains every CPU buffer completely, accounts for lost events, checks the
 * instance, applies the events in timestamp order, rescans the maps in
 * watch-all mode, and then collects the dirty set: every watched page if any
 * gap in observation was found (@ep->loss), else exactly the pages with
 * events. The collected pages are re-armed with MADV_WATCH (coalesced ranges,
 * VMTRACK_MAX_IOV per call), so the cost follows the dirty set. The first
 * epoch also stops the recording of the marks of re-arms in the session's
 * instance: they told whether an earlier consumer had armed the ranges (a
 * restart), and after that only echo the session's own re-arms.
 *
 * The caller copies the pages of @ep->dirty after this call returns, never
 * before: a write after the re-arm faults and is reported by the next epoch,
 * a write before it is in the copy.
 *
 * For a complete last epoch, stop the target first (vmtrack_session_freeze()):
 * then every event it produced is in the buffers and is read here. A caller
 * that traces the target and stopped every thread of it itself says so with
 * VMTRACK_EPOCH_STOPPED (a second tracer cannot freeze it). Only then, or
 * once the target exited, may @flags hold VMTRACK_EPOCH_NO_REARM:
 * on a running target, the writes to pages collected and not re-armed would
 * never be reported. For the same reason, once a VMTRACK_EPOCH_NO_REARM
 * epoch was taken, a later one is refused unless the target cannot have
 * run since: the session's freeze still holds (no vmtrack_session_thaw()
 * in between), or, after an epoch with VMTRACK_EPOCH_STOPPED and without
 * the session's freeze, the caller says again with VMTRACK_EPOCH_STOPPED
 * that it kept the target stopped, or the target exited.
 *
 * With batches (vmtrack_session_set_batch()), @ep->dirty holds the first
 * of them, re-armed, and the return value says whether more follow.
 *
 * Return: 0, 1 (batches: more follow, vmtrack_session_epoch_next()), -EINVAL
 * (VMTRACK_EPOCH_NO_REARM on a running target, an epoch after a
 * VMTRACK_EPOCH_NO_REARM one once the target may have run, an epoch after
 * vmtrack_session_unwatch(), unknown flag; nothing is collected then),
 * -EBUSY (the batches of the last epoch are not all taken) or -ENOMEM.
 */
int vmtrack_session_epoch(struct vmtrack_session *s, unsigned int flags,
			  struct vmtrack_epoch *ep)
{
	bool touched, exited;
	size_t i;

	memset(ep, 0, sizeof(*ep));
	if (flags & ~(VMTRACK_EPOCH_NO_REARM | VMTRACK_EPOCH_STOPPED))
		return session_err(s, -EINVAL, "unknown epoch flags %#x", flags);
	if (batches_pending(s))
		return session_err(s, -EBUSY, "last epoch's dirty ranges still pending");
	if (s->unwatched)
		return session_err(s, -EINVAL, "the session unwatched its target: no epoch follows");
	if ((flags & VMTRACK_EPOCH_NO_REARM) && !s->frozen &&
	    !(flags & VMTRACK_EPOCH_STOPPED) && !target_exited(s))
		return session_err(s, -EINVAL, "VMTRACK_EPOCH_NO_REARM on a running target: "
				   "freeze it first (vmtrack_session_freeze())");
	if (!no_rearm_held(s, flags) && !target_exited(s))
		return session_err(s, -EINVAL, "the target may have run since a "
				   "VMTRACK_EPOCH_NO_REARM epoch, whose pages were not re-armed: "
				   "no epoch follows");
	if ((flags & VMTRACK_EPOCH_NO_REARM) && s->unarmed == UNARMED_NONE)
		s->unarmed = s->frozen ? UNARMED_FROZEN : UNARMED_STOPPED;
	for (i = 0; i < (size_t)s->nr_rd; i++)
		if (reader_drain(s, &s->rd[i], true))
			vmtrack_tracker_loss(&s->tr, VMTRACK_LOSS_EVENTS, 0);
	epoch_poll(s, &touched, &exited);
	/*
	 * In a dense epoch the numbers cannot tell an event disabled and
	 * enabled again between two checks, nor can they in the epoch after
	 * for the events of the last one, nor as long as the count waits
	 * for a number to start again from: a gap before it is taken for the
	 * faults of the dense epoch. The session's own switch of the
	 * write_fault event counts too.
	 */
	s->tr.sweep_wide = touched && (s->tr.sweep_written || s->swept_last || s->resync_open);
	account_loss(s, touched);
	if (touched)
		check_instance(s);

	if (!events_sorted(s))
		qsort(s->ev, s->nr_ev, sizeof(*s->ev), ev_cmp);
	vmtrack_tracker_apply_all(&s->tr, s->ev, s->nr_ev, ep);
	s->nr_ev = 0;
	if (s->tr.mm_gone)
		unwatch_after_exec(s);
	filter_faults(s, ep);
	if (s->rescan && !s->tr.mm_gone)
		rescan(s, ep);

	s->tr.stopped = s->frozen || (flags & VMTRACK_EPOCH_STOPPED) || exited;
	s->tr.sweep_rearm = !(flags & VMTRACK_EPOCH_NO_REARM);
	s->batch_size = s->batch_max;
	s->tr.batched = s->batch_size;
	if (vmtrack_tracker_collect(&s->tr, ep))
		return session_err(s, -ENOMEM, "out of memory");
	s->resync_open = s->tr.num.resync;
	if (!s->rearms_off)
		drop_rearms(s);
	s->swept_last = s->tr.sweep_written;
	/* a sweep that goes on with the batches chooses after the last */
	if (!(flags & VMTRACK_EPOCH_NO_REARM) && !s->tr.sweep_batched)
		choose_mode(s, ep);
	if (s->tr.batched)
		return batch_first(s, flags, ep);
	if (!(flags & VMTRACK_EPOCH_NO_REARM) && !s->tr.mm_gone && ep->nr_dirty)
		rearm(s, ep);
	return 0;
}
