// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmtrack run --follow, vmtrack watch --follow: one dirty set per process
 * of a process tree.
 *
 * vmtrack traces the tree (PTRACE_SEIZE with PTRACE_O_TRACEFORK, VFORK,
 * CLONE and EXEC): the kernel attaches every task the tree creates and
 * stops it before its first instruction, and stops a process right after
 * execve() gave it a new mm. Neither fork() nor execve() passes VM_WATCHED
 * or MADV_WATCH_ALL on (Documentation/admin-guide/mm/watch.rst, "fork and
 * exec"), so a new process, or a new program, is unwatched: it gets a
 * session of its own (a tracefs instance, the mm_watch events filtered on
 * its tgid, MADV_WATCH_ALL) while it is held in that stop, and no write of
 * it goes unseen. Its first epoch reports what it wrote from its first
 * instruction on, as vmtrack run does for the command.
 *
 * A task that shares the mm of a followed process (a thread, a vfork() or
 * CLONE_VM child until it execs) has no set of its own: its writes are
 * events of that mm. It is traced all the same, to see what it starts and
 * executes.
 *
 * A set ends with a final epoch when its process exits (in the exit stop
 * of its last thread, PTRACE_O_TRACEEXIT, its mm still whole) or replaced
 * its mm (exec: the old mm's events all came before the exec stop), or,
 * at the end of the run, with every task of the tree stopped by
 * PTRACE_INTERRUPT. The cost is that of a tracer: vmtrack holds every
 * fork, exec and signal of the tree for a round trip, and no other
 * tracer (gdb, strace) can attach meanwhile.
 */
#include <dirent.h>
#include <errno.h>
#include <linux/kcmp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmtrack-cmd.h"

/*
 * Sessions open at once. Each is a tracefs instance with a ring buffer
 * per CPU, a pipe per CPU and about 4 + 4 * CPUs file descriptors: 64
 * of them on 2 CPUs hold about 200 MiB of ring buffers at the default
 * size. A process past the limit is followed (its children are not
 * lost) but reported as not watched.
 */
#define FOLLOW_MAX_SETS		64
#define SLICE_MS		50
#define STOP_TIMEOUT_MS		10000
/* threads held in their exit stops, waiting for the others of a group exit */
#define EXIT_HOLD_MS		1000
#define TRACE_OPTIONS		(PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | \
				 PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | \
				 PTRACE_O_TRACEEXIT)

enum task_state {
	TASK_RUNNING,
	TASK_HELD,		/* in a ptrace stop vmtrack holds */
	TASK_LISTENING,		/* in a group stop (job control) */
};

/* a traced thread */
struct task {
	pid_t		tid;
	enum task_state	state;
	int		sig;		/* to deliver when it goes on */
	pid_t		exit_tgid;	/* held in its exit stop for this process */
};

/* a followed process: a thread group */
struct proc {
	pid_t			pid;
	int			pidfd;
	bool			ended;
	struct vmtrack_session	*s;		/* NULL: no set now */
	struct out_set		set;
	struct vmtrack_run_stats rs;
	double			exit_held;	/* since when threads are held at exit */
};

struct tree {
	const struct vmtrack_cmd_params	*p;
	struct task			*task;
	size_t				nr_task;
	size_t				task_alloc;
	struct proc			**proc;
	size_t				nr_proc;
	size_t				proc_alloc;
	pid_t				root;
	bool				run;		/* we are the root's parent */
	bool				reaped;
	int				status;		/* the root's wait status */
	bool				stopping;	/* hold every stop */
	int				stop_sig;	/* -1: an error */
	int				sfd;
	double				t0;
	unsigned int			live_sets;
	struct out_tree_stats		ts;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void err_msg(const char *what, const char *msg)
{
	fprintf(stderr, "vmtrack: %s: %s\n", what, msg);
}

/* ---- /proc ---- */

/* include/linux/sched.h */
#define PF_EXITING	0x00000004
#define PF_SIGNALED	0x00000400

/* SIGKILL is pending for a thread: it exits without returning to user space */
static bool thread_killed(pid_t tgid, pid_t tid)
{
	char path[96], line[256];
	unsigned long long pending = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)tgid, (int)tid);
	f = fopen(path, "re");
	if (!f)
		return true;		/* gone */
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "SigPnd:", 7)) {
			pending = strtoull(line + 7, NULL, 16);
			break;
		}
	fclose(f);
	return pending & (1ULL << (SIGKILL - 1));
}

/*
 * The state letter of a thread (/proc/TGID/task/TID/stat), 0 if it is
 * gone, and whether it is on its way out: past its exit stop (PF_EXITING
 * in its flags, the 9th field, is set after it), or killed and no longer
 * showing it (get_signal() takes SIGKILL off the pending set, then sets
 * PF_SIGNALED and calls do_group_exit())
 */
static char thread_state(pid_t tgid, pid_t tid, bool *exiting)
{
	char path[96], line[512], *p;
	unsigned long flags = 0;
	char state = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)tgid, (int)tid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	p = fgets(line, sizeof(line), f) ? strrchr(line, ')') : NULL;
	fclose(f);
	if (p && sscanf(p + 1, " %c %*d %*d %*d %*d %*d %lu", &state, &flags) != 2)
		state = 0;
	*exiting = flags & (PF_EXITING | PF_SIGNALED);
	return state;
}

static void read_comm(pid_t pid, char *buf, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	buf[0] = '\0';
	f = fopen(path, "re");
	if (f) {
		if (fgets(buf, len, f))
			buf[strcspn(buf, "\n")] = '\0';
		fclose(f);
	}
	if (!buf[0])
		snprintf(buf, len, "?");
}

/* the process exited: no thread of it is left (its pidfd polls readable) */
static bool proc_exited(const struct proc *pr)
{
	struct pollfd p = { .fd = pr->pidfd, .events = POLLIN };

	return pr->pidfd < 0 || poll(&p, 1, 0) == 1;
}

/* ---- tables ---- */

static struct task *task_find(struct tree *tr, pid_t tid)
{
	size_t i;

	for (i = 0; i < tr->nr_task; i++)
		if (tr->task[i].tid == tid)
			return &tr->task[i];
	return NULL;
}

static struct task *task_add(struct tree *tr, pid_t tid, enum task_state state)
{
	if (tr->nr_task == tr->task_alloc) {
		size_t a = tr->task_alloc ? 2 * tr->task_alloc : 32;
		struct task *t = realloc(tr->task, a * sizeof(*t));

		if (!t)
			return NULL;
		tr->task = t;
		tr->task_alloc = a;
	}
	tr->task[tr->nr_task] = (struct task){ .tid = tid, .state = state };
	return &tr->task[tr->nr_task++];
}

static void task_del(struct tree *tr, pid_t tid)
{
	struct task *t = task_find(tr, tid);

	if (t)
		*t = tr->task[--tr->nr_task];
}

static struct proc *proc_find(struct tree *tr, pid_t pid)
{
	size_t i;

	/* the newest first: a pid may come back after an earlier one ended */
	for (i = tr->nr_proc; i-- > 0; )
		if (tr->proc[i]->pid == pid && !tr->proc[i]->ended)
			return tr->proc[i];
	return NULL;
}

static struct proc *proc_add(struct tree *tr, pid_t pid)
{
	struct proc *pr;

	if (tr->nr_proc == tr->proc_alloc) {
		size_t a = tr->proc_alloc ? 2 * tr->proc_alloc : 16;
		struct proc **n = realloc(tr->proc, a * sizeof(*n));

		if (!n)
			return NULL;
		tr->proc = n;
		tr->proc_alloc = a;
	}
	pr = calloc(1, sizeof(*pr));
	if (!pr)
		return NULL;
	pr->pid = pid;
	pr->pidfd = syscall(SYS_pidfd_open, pid, 0);
	tr->proc[tr->nr_proc++] = pr;
	tr->ts.processes++;
	return pr;
}

/* @pid shares the mm of a followed process (CLONE_VM without a thread group) */
static bool shares_mm(struct tree *tr, pid_t pid)
{
	size_t i;

	for (i = 0; i < tr->nr_proc; i++) {
		struct proc *pr = tr->proc[i];

		if (pr->ended || pr->pid == pid)
			continue;
		if (!syscall(SYS_kcmp, pr->pid, pid, KCMP_VM, 0, 0))
			return true;
	}
	return false;
}

/* ---- dirty sets ---- */

static void set_unwatched(struct tree *tr, struct proc *pr, const char *why)
{
	char comm[32];

	read_comm(pr->pid, comm, sizeof(comm));
	out_unwatched(tr->p, pr->pid, comm, why);
	tr->ts.unwatched++;
}

/* open a session for @pr, watching all of it (it is stopped, or running: "found") */
static int set_open(struct tree *tr, struct proc *pr, const char *origin)
{
	const struct vmtrack_cmd_params *p = tr->p;
	struct vmtrack_params vp = {
		.pid = pr->pid,
		.buffer_kb = p->buffer_kb,
		.flags = (p->keep ? VMTRACK_F_KEEP : 0) |
			 (p->all_private ? 0 : VMTRACK_F_WRITABLE_ONLY) |
			 (p->events_only ? VMTRACK_F_EVENTS_ONLY : 0),
	};
	char err[256];
	int ret;

	if (tr->live_sets >= FOLLOW_MAX_SETS) {
		set_unwatched(tr, pr, "too many processes watched at once");
		return -EMFILE;
	}
	target_count_pages(pr->pid, &vp.expected_pages);
	/* a new program grows: leave room (ld.so maps the libraries later) */
	if (vp.expected_pages < 16384)
		vp.expected_pages = 16384;
	ret = vmtrack_session_open(&pr->s, &vp, err, sizeof(err));
	if (!ret) {
		ret = vmtrack_session_watch_all(pr->s);
		if (ret) {
			snprintf(err, sizeof(err), "%s", vmtrack_session_error(pr->s));
			vmtrack_session_close(pr->s);
			pr->s = NULL;
		}
	}
	if (ret) {
		/* the target itself: the run fails */
		if (pr->pid == tr->root && !tr->ts.sets)
			err_msg(p->mode == VMTRACK_MODE_RUN ? "run" : "watch", err);
		else
			set_unwatched(tr, pr, err);
		return ret;
	}
	memset(&pr->rs, 0, sizeof(pr->rs));
	pr->set = (struct out_set){
		.set = ++tr->ts.sets,
		.pid = pr->pid,
		.ppid = vmtrack_status_field(pr->pid, "PPid"),
		.origin = origin,
		.time = now() - tr->t0,
	};
	pr->set.prev_time = pr->set.time;
	read_comm(pr->pid, pr->set.comm, sizeof(pr->set.comm));
	tr->live_sets++;
	out_set_start(p, pr->s, &pr->set);
	return 0;
}

static void set_close(struct tree *tr, struct proc *pr)
{
	pr->rs.seconds = now() - tr->t0 - pr->set.time;
	out_set_summary(tr->p, pr->s, &pr->set, &pr->rs);
	vmtrack_session_close(pr->s);
	pr->s = NULL;
	tr->live_sets--;
}

/*
 * One epoch of a set; @final: its last (the process exited or is held
 * stopped), @stopped: vmtrack holds every task of it in a ptrace stop.
 */
static void set_epoch(struct tree *tr, struct proc *pr, bool final, bool stopped)
{
	struct vmtrack_epoch ep;
	unsigned int flags = 0;
	int ret;

	if (final && !tr->p->keep)
		flags |= VMTRACK_EPOCH_NO_REARM;
	if (stopped)
		flags |= VMTRACK_EPOCH_STOPPED;
	ret = vmtrack_session_epoch(pr->s, flags, &ep);
	if (ret) {
		err_msg("epoch", vmtrack_session_error(pr->s));
		tr->stop_sig = -1;
		set_close(tr, pr);
		return;
	}
	pr->rs.epochs++;
	pr->rs.dirty_pages += ep.dirty_pages;
	tr->ts.dirty_pages += ep.dirty_pages;
	if (ep.loss) {
		pr->rs.loss_epochs++;
		pr->rs.lost_events += ep.lost_events;
		tr->ts.loss_epochs++;
	}
	out_set_epoch(tr->p, pr->s, &pr->set, &ep, now() - tr->t0, final || ep.target_gone);
	if (final || ep.target_gone)
		set_close(tr, pr);
}

/* ---- tracing ---- */

/* let a stopped task go on with @sig, or hold it while the tree stops */
static void task_resume(struct tree *tr, struct task *t, int sig)
{
	if (tr->stopping) {
		t->state = TASK_HELD;
		t->sig = sig;
		return;
	}
	t->state = TASK_RUNNING;
	if (ptrace(PTRACE_CONT, t->tid, NULL, (void *)(long)sig) && errno == ESRCH)
		task_del(tr, t->tid);
}

/* a task we did not know stopped: a new thread, or a new process */
static void new_task(struct tree *tr, pid_t tid)
{
	struct proc *pr;

	if (vmtrack_status_field(tid, "Tgid") != tid || proc_find(tr, tid))
		return;			/* a thread: its process is followed */
	pr = proc_add(tr, tid);
	if (!pr) {
		err_msg("follow", strerror(ENOMEM));
		tr->stop_sig = -1;
		return;
	}
	/* held for the end, it has not run: no set */
	if (tr->stopping || shares_mm(tr, tid))
		return;
	set_open(tr, pr, "fork");
}

/* a process replaced its mm: the old set ends, a new one starts */
static void exec_stop(struct tree *tr, pid_t tid)
{
	unsigned long former = 0;
	struct proc *pr;

	/* a thread that execs takes the pid of the thread group */
	if (!ptrace(PTRACE_GETEVENTMSG, tid, NULL, &former) && (pid_t)former != tid)
		task_del(tr, former);
	pr = proc_find(tr, tid);
	if (!pr)
		pr = proc_add(tr, tid);
	if (!pr)
		return;
	/* its old mm is gone: its exit event was written before this stop */
	if (pr->s)
		set_epoch(tr, pr, true, true);
	if (!tr->stopping)
		set_open(tr, pr, tid == tr->root && !pr->rs.epochs && !tr->ts.sets ?
			 "run" : "exec");
}

enum others {
	OTHERS_LIVE,		/* a thread of the process lives on */
	OTHERS_DYING,		/* killed, exiting or stopped, not all held */
	OTHERS_DONE,		/* dead, or held in their exit stop */
};

/* the threads of @tgid, as a group exit ends them */
static enum others exit_progress(struct tree *tr, pid_t tgid)
{
	enum others ret = OTHERS_DONE;
	struct dirent *de;
	char path[64];
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)tgid);
	dir = opendir(path);
	if (!dir)
		return OTHERS_LIVE;
	while (ret != OTHERS_LIVE && (de = readdir(dir))) {
		pid_t tid = atoi(de->d_name);
		struct task *t = task_find(tr, tid);
		bool exiting = false, killed;
		char state;

		if (tid <= 0 || (t && t->exit_tgid == tgid))
			continue;
		/* SIGKILL first: once taken off, PF_SIGNALED follows */
		killed = thread_killed(tgid, tid);
		state = thread_state(tgid, tid, &exiting);
		if (!state || state == 'Z' || state == 'X')
			continue;
		/* a stop not collected yet, maybe its exit stop */
		if (killed || exiting || state == 't')
			ret = OTHERS_DYING;
		else
			ret = OTHERS_LIVE;
	}
	closedir(dir);
	return ret;
}

/* let the threads of @pr held at exit go on */
static void exit_release(struct tree *tr, struct proc *pr)
{
	size_t i;

	pr->exit_held = 0;
	for (i = 0; i < tr->nr_task; i++) {
		struct task *t = &tr->task[i];

		if (t->exit_tgid != pr->pid)
			continue;
		t->exit_tgid = 0;
		t->state = TASK_RUNNING;
		ptrace(PTRACE_CONT, t->tid, NULL, NULL);
	}
}

/* a process whose threads are held at exit: all there, or too long */
static void exit_check(struct tree *tr, struct proc *pr)
{
	enum others others = exit_progress(tr, pr->pid);

	if (others == OTHERS_DONE && pr->s)
		set_epoch(tr, pr, true, true);
	if (others != OTHERS_DYING || now() - pr->exit_held > EXIT_HOLD_MS / 1000.0)
		exit_release(tr, pr);
}

/*
 * A thread @t stopped before its exit, its mm still whole. Once every
 * thread of a process with a set is dead or held in such a stop (the last
 * thread that exits, or all of those exit_group() kills), the final epoch
 * is taken, no thread of it running: a dense epoch can still sweep the
 * pages written since the last one (after the exit they are gone, and the
 * epoch would take every page for dirty). So in a group exit, the threads
 * that stop first are held for the others, up to a second. All the epoch
 * misses is what the kernel writes as the held threads go on to exit:
 * each clears its thread id for pthread_join() (CLONE_CHILD_CLEARTID)
 * while another still uses the mm. The set of a process killed by SIGKILL,
 * which makes no such stop, ends after the exit. Returns whether it took
 * @t over (held, or let go with the others): else the caller resumes it.
 */
static bool exit_stop(struct tree *tr, struct task *t)
{
	pid_t tgid = vmtrack_status_field(t->tid, "Tgid");
	struct proc *pr = proc_find(tr, tgid);

	if (tr->stopping || !pr || !pr->s)
		return false;
	t->exit_tgid = tgid;
	if (!pr->exit_held)
		pr->exit_held = now();
	exit_check(tr, pr);
	return true;
}

/* processes held at exit in a group exit: all there, or too long */
static void check_exit_held(struct tree *tr)
{
	size_t i;

	for (i = 0; i < tr->nr_proc; i++)
		if (tr->proc[i]->exit_held)
			exit_check(tr, tr->proc[i]);
}

static bool group_stop_sig(int sig)
{
	return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

static void task_stopped(struct tree *tr, pid_t tid, int status)
{
	int event = status >> 16, sig = WSTOPSIG(status);
	struct task *t = task_find(tr, tid);

	if (!t) {
		t = task_add(tr, tid, TASK_HELD);
		if (!t) {
			err_msg("follow", strerror(ENOMEM));
			tr->stop_sig = -1;
			return;
		}
		new_task(tr, tid);
		t = task_find(tr, tid);
	}
	t->state = TASK_HELD;
	switch (event) {
	case PTRACE_EVENT_EXEC:
		exec_stop(tr, tid);
		t = task_find(tr, tid);
		if (t)
			task_resume(tr, t, 0);
		return;
	case PTRACE_EVENT_EXIT:
		if (!exit_stop(tr, t))
			task_resume(tr, t, 0);
		return;
	case PTRACE_EVENT_STOP:
		if (group_stop_sig(sig)) {
			/* stopped by job control: stays so, and tells when it goes on */
			if (!tr->stopping && !ptrace(PTRACE_LISTEN, tid, NULL, NULL))
				t->state = TASK_LISTENING;
			return;
		}
		task_resume(tr, t, 0);	/* its first stop, or an interrupt */
		return;
	case 0:
		task_resume(tr, t, sig);	/* a signal: deliver it */
		return;
	default:
		task_resume(tr, t, 0);	/* fork, vfork, clone: the child stops itself */
		return;
	}
}

static void task_exited(struct tree *tr, pid_t tid, int status)
{
	task_del(tr, tid);
	if (tr->run && tid == tr->root) {
		tr->status = status;
		tr->reaped = true;
	}
}

/* every ptrace stop and exit there is to collect */
static void reap(struct tree *tr)
{
	int status;
	pid_t r;

	while ((r = waitpid(-1, &status, __WALL | WNOHANG)) > 0) {
		if (WIFSTOPPED(status))
			task_stopped(tr, r, status);
		else if (WIFEXITED(status) || WIFSIGNALED(status))
			task_exited(tr, r, status);
	}
}

/* sets of processes that exited end */
static void check_exited(struct tree *tr)
{
	size_t i;

	for (i = 0; i < tr->nr_proc; i++) {
		struct proc *pr = tr->proc[i];

		if (pr->ended || !proc_exited(pr))
			continue;
		if (pr->s)
			set_epoch(tr, pr, true, false);
		pr->ended = true;
		if (pr->pidfd >= 0)
			close(pr->pidfd);
		pr->pidfd = -1;
	}
}

static bool tree_done(const struct tree *tr)
{
	size_t i;

	for (i = 0; i < tr->nr_proc; i++)
		if (!tr->proc[i]->ended)
			return false;
	return !tr->run || tr->reaped;
}

static void read_signals(struct tree *tr)
{
	struct signalfd_siginfo si;

	while (read(tr->sfd, &si, sizeof(si)) == sizeof(si))
		if (si.ssi_signo != SIGCHLD)
			tr->stop_sig = si.ssi_signo;
}

/* wait up to @ms for a signal (SIGCHLD: a stop) while the buffers are read */
static void pump(struct tree *tr, int ms)
{
	struct pollfd pfd = { .fd = tr->sfd, .events = POLLIN };
	size_t i;
	int ret;

	for (i = 0; i < tr->nr_proc && tr->stop_sig >= 0; i++) {
		if (!tr->proc[i]->s)
			continue;
		ret = vmtrack_session_pump(tr->proc[i]->s, -1, 0);
		if (ret < 0) {
			/* as an epoch that fails: the run fails, no final epoch */
			fprintf(stderr, "vmtrack: pid %d: reading the ring buffers: %s\n",
				(int)tr->proc[i]->pid, strerror(-ret));
			tr->stop_sig = -1;
		}
	}
	if (poll(&pfd, 1, ms) > 0)
		read_signals(tr);
}

static void tick(struct tree *tr)
{
	size_t i;

	tr->ts.epochs++;
	for (i = 0; i < tr->nr_proc; i++)
		if (tr->proc[i]->s)
			set_epoch(tr, tr->proc[i], false, false);
}

static bool all_held(const struct tree *tr)
{
	size_t i;

	for (i = 0; i < tr->nr_task; i++)
		if (tr->task[i].state == TASK_RUNNING)
			return false;
	return true;
}

/*
 * Stop every task of the tree (tasks in a group stop stay in it), take
 * the final epoch of every set, and let the tree go.
 */
static void final_stop(struct tree *tr)
{
	struct timespec ms = { 0, 1000 * 1000 };
	bool stopped;
	size_t i;
	int n;

	tr->stopping = true;
	for (i = 0; i < tr->nr_task; i++)
		if (tr->task[i].state == TASK_RUNNING &&
		    ptrace(PTRACE_INTERRUPT, tr->task[i].tid, NULL, NULL) && errno == ESRCH)
			tr->task[i].state = TASK_HELD;	/* exiting: reaped below */
	for (n = 0; n < STOP_TIMEOUT_MS && !all_held(tr); n++) {
		reap(tr);
		nanosleep(&ms, NULL);
	}
	reap(tr);
	check_exited(tr);
	stopped = all_held(tr);
	if (!stopped) {
		err_msg("follow", "a task did not stop within 10 s: the last epochs re-arm");
		tr->stop_sig = -1;
	}
	tr->ts.epochs++;
	for (i = 0; i < tr->nr_proc; i++)
		if (tr->proc[i]->s)
			set_epoch(tr, tr->proc[i], stopped, stopped);
	for (i = 0; i < tr->nr_task; i++)
		ptrace(PTRACE_DETACH, tr->task[i].tid, NULL, (void *)(long)tr->task[i].sig);
	tr->nr_task = 0;
}

static void main_loop(struct tree *tr)
{
	const struct vmtrack_cmd_params *p = tr->p;
	double next = now() + p->interval_ms / 1000.0;

	for (;;) {
		int ms = (int)((next - now()) * 1000);

		ms = ms < 0 ? 0 : ms > SLICE_MS ? SLICE_MS : ms;
		pump(tr, ms);
		reap(tr);
		check_exit_held(tr);
		check_exited(tr);
		if (tr->stop_sig || tree_done(tr))
			break;
		if (now() < next)
			continue;
		if (p->epochs && tr->ts.epochs + 1 >= p->epochs)
			break;
		tick(tr);
		next += p->interval_ms / 1000.0;
		if (next < now())
			next = now() + p->interval_ms / 1000.0;
	}
	if (tr->stop_sig >= 0 && !tree_done(tr))
		final_stop(tr);
}

/* a tree of many processes needs many sessions, each a few files */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* let the tree go, free it; no set is open */
static void free_tree(struct tree *tr)
{
	size_t i;

	for (i = 0; i < tr->nr_task; i++)
		ptrace(PTRACE_DETACH, tr->task[i].tid, NULL, (void *)(long)tr->task[i].sig);
	for (i = 0; i < tr->nr_proc; i++) {
		if (tr->proc[i]->pidfd >= 0)
			close(tr->proc[i]->pidfd);
		free(tr->proc[i]);
	}
	free(tr->proc);
	free(tr->task);
}

static int finish(struct tree *tr)
{
	int ret = tr->stop_sig < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
	size_t i;

	/* sets left (an error): end them with what they have */
	for (i = 0; i < tr->nr_proc; i++)
		if (tr->proc[i]->s)
			set_close(tr, tr->proc[i]);
	tr->ts.pid = tr->root;
	tr->ts.seconds = now() - tr->t0;
	if (out_tree_end(tr->p, &tr->ts, ret))
		ret = EXIT_FAILURE;
	free_tree(tr);
	return ret;
}

/* the command's exit status, 128 + N if signal N killed it, as a shell says */
static int root_exit_status(struct tree *tr)
{
	int status;

	if (!tr->reaped) {
		/* a signal to us only (not ^C to the process group): pass it on */
		if (tr->stop_sig > 0)
			kill(tr->root, tr->stop_sig);
		while (waitpid(tr->root, &status, WUNTRACED) == tr->root) {
			if (!WIFSTOPPED(status)) {
				tr->status = status;
				tr->reaped = true;
				break;
			}
			kill(tr->root, SIGCONT);
		}
	}
	if (!tr->reaped)
		return EXIT_FAILURE;
	if (WIFEXITED(tr->status))
		return WEXITSTATUS(tr->status);
	if (WIFSIGNALED(tr->status))
		return 128 + WTERMSIG(tr->status);
	return EXIT_FAILURE;
}

/**
 * follow_run() - vmtrack run --follow
 * @p:		options
 * @sfd:	signalfd of SIGINT, SIGTERM, SIGHUP and SIGCHLD (blocked)
 * @mask:	the signal mask the command starts with
 *
 * Return: the command's exit status, or EXIT_FAILURE on an error of vmtrack.
 */
int follow_run(const struct vmtrack_cmd_params *p, int sfd, const sigset_t *mask)
{
	struct tree tr = { .p = p, .sfd = sfd, .run = true };
	struct task *t;
	struct proc *pr;
	char err[256];
	int ret;

	raise_nofile();
	tr.root = target_spawn_traced(p->argv, mask, TRACE_OPTIONS, err, sizeof(err));
	if (tr.root < 0) {
		err_msg("run", err);
		out_cancel();
		return EXIT_FAILURE;
	}
	tr.t0 = now();
	out_tree_start(p, tr.root);
	t = task_add(&tr, tr.root, TASK_HELD);
	pr = t ? proc_add(&tr, tr.root) : NULL;
	if (!pr || set_open(&tr, pr, "run")) {
		kill(tr.root, SIGKILL);
		ptrace(PTRACE_DETACH, tr.root, NULL, NULL);
		waitpid(tr.root, NULL, __WALL);
		free_tree(&tr);
		return EXIT_FAILURE;
	}
	task_resume(&tr, t, 0);
	main_loop(&tr);
	ret = finish(&tr);
	ret = ret == EXIT_SUCCESS ? root_exit_status(&tr) : (root_exit_status(&tr), ret);
	return ret;
}

/* seize every thread of @pid, until a listing finds no new one */
static int seize_threads(struct tree *tr, pid_t pid)
{
	bool found = true;
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	while (found) {
		struct dirent *de;
		DIR *dir = opendir(path);

		if (!dir)
			return -ESRCH;
		found = false;
		while ((de = readdir(dir))) {
			pid_t tid = atoi(de->d_name);

			if (tid <= 0 || task_find(tr, tid))
				continue;
			if (ptrace(PTRACE_SEIZE, tid, NULL, (void *)TRACE_OPTIONS)) {
				/* gone, or attached by the kernel already (it stops) */
				if (errno == ESRCH || vmtrack_status_field(tid, "TracerPid") == getpid())
					continue;
				closedir(dir);
				return -errno;
			}
			if (!task_add(tr, tid, TASK_RUNNING)) {
				closedir(dir);
				return -ENOMEM;
			}
			found = true;
		}
		closedir(dir);
	}
	return 0;
}

/* the first process not yet followed whose parent is followed, 0 if none */
static pid_t next_descendant(struct tree *tr)
{
	struct dirent *de;
	pid_t found = 0;
	DIR *dir;

	dir = opendir("/proc");
	if (!dir)
		return 0;
	while (!found && (de = readdir(dir))) {
		pid_t pid = atoi(de->d_name);
		long ppid;

		if (pid <= 0 || proc_find(tr, pid))
			continue;
		ppid = vmtrack_status_field(pid, "PPid");
		if (ppid > 0 && proc_find(tr, ppid) && vmtrack_status_field(pid, "TracerPid") == 0)
			found = pid;
	}
	closedir(dir);
	return found;
}

/*
 * The descendants running now: seized parent first, so that what a seized
 * process starts meanwhile is attached by the kernel (and handled at its
 * first stop); what an unseized one starts is found by the next listing.
 */
static void follow_descendants(struct tree *tr)
{
	struct proc *pr;
	pid_t pid;
	char why[128];
	int ret;

	while ((pid = next_descendant(tr)) > 0) {
		pr = proc_add(tr, pid);
		if (!pr)
			return;
		ret = seize_threads(tr, pid);
		if (ret) {
			snprintf(why, sizeof(why), "cannot trace it: %s", strerror(-ret));
			set_unwatched(tr, pr, why);
			pr->ended = true;
			continue;
		}
		if (!shares_mm(tr, pid))
			set_open(tr, pr, "found");
	}
}

/**
 * follow_watch() - vmtrack watch --follow
 * @p:		options
 * @sfd:	signalfd of SIGINT, SIGTERM, SIGHUP and SIGCHLD (blocked)
 *
 * The process and its descendants running now are seized and watched from
 * now on, as vmtrack watch watches one process; what they start later is
 * caught stopped, before its first instruction.
 *
 * Return: exit status.
 */
int follow_watch(const struct vmtrack_cmd_params *p, int sfd)
{
	struct tree tr = { .p = p, .sfd = sfd, .root = p->pid };
	struct proc *pr;
	char err[256];
	int ret;

	raise_nofile();
	if (vmtrack_target_check(p->pid, err, sizeof(err))) {
		err_msg("watch", err);
		out_cancel();
		return EXIT_FAILURE;
	}
	tr.t0 = now();
	out_tree_start(p, p->pid);
	ret = seize_threads(&tr, p->pid);
	if (ret) {
		snprintf(err, sizeof(err), "pid %d: cannot trace it: %s%s", (int)p->pid,
			 strerror(-ret),
			 ret == -EPERM ? " (traced already, or not permitted)" : "");
		err_msg("watch", err);
		free_tree(&tr);
		return EXIT_FAILURE;
	}
	pr = proc_add(&tr, p->pid);
	if (!pr || set_open(&tr, pr, "watch")) {
		free_tree(&tr);
		return EXIT_FAILURE;
	}
	follow_descendants(&tr);
	main_loop(&tr);
	return finish(&tr);
}
