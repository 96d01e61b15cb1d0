// SPDX-License-Identifier: LGPL-2.1
/*
 * Freezing a target as CRIU does: PTRACE_SEIZE and PTRACE_INTERRUPT of every
 * thread. Unlike SIGSTOP, job control does not see it (a shell does not take
 * its terminal back), nobody else can continue the target, and the kernel
 * lets the target go on when the consumer dies (the exit of a tracer
 * detaches its tracees).
 */
#include <dirent.h>
#include <errno.h>
#include <linux/kcmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define FREEZE_TIMEOUT_MS	10000

struct thread {
	pid_t	tid;
	bool	stopped;
};

struct tids {
	struct thread	*t;
	size_t		nr;
	size_t		alloc;
};

/* state letter of /proc/PID/task/TID/stat, 0 if gone; TracerPid if @tracer */
static char thread_state(pid_t pid, pid_t tid, pid_t *tracer)
{
	char path[96], buf[512], *p;
	char state = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f)) {
		p = strrchr(buf, ')');
		if (p && p[1] == ' ')
			state = p[2];
	}
	fclose(f);
	if (!tracer)
		return state;
	*tracer = 0;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid, (int)tid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(buf, sizeof(buf), f))
		if (sscanf(buf, "TracerPid: %d", tracer) == 1)
			break;
	fclose(f);
	return state;
}

static bool tids_has(const struct tids *t, pid_t tid)
{
	size_t i;

	for (i = 0; i < t->nr; i++)
		if (t->t[i].tid == tid)
			return true;
	return false;
}

static int tids_add(struct tids *t, pid_t tid)
{
	if (GROW_ARRAY(t->t, t->alloc, t->nr, 16))
		return -ENOMEM;
	t->t[t->nr].tid = tid;
	t->t[t->nr].stopped = false;
	t->nr++;
	return 0;
}

/*
 * Seize and interrupt one thread. A thread that exited meanwhile, or a
 * zombie (it cannot write any more), counts as stopped; one we trace
 * already and that is stopped (a second freeze) too.
 */
static int seize(pid_t pid, struct thread *th)
{
	pid_t tracer;
	char state;

	if (!ptrace(PTRACE_SEIZE, th->tid, NULL, NULL)) {
		if (ptrace(PTRACE_INTERRUPT, th->tid, NULL, NULL) && errno != ESRCH)
			return -errno;
		return 0;
	}
	if (errno == ESRCH) {
		th->stopped = true;
		return 0;
	}
	state = thread_state(pid, th->tid, &tracer);
	if (!state || state == 'Z' || state == 'X') {
		th->stopped = true;
		return 0;
	}
	if (tracer == getpid() && state == 't') {
		th->stopped = true;
		return 0;
	}
	/* traced by another process, or not permitted */
	return tracer && tracer != getpid() ? -EBUSY : -EPERM;
}

/* new threads of @pid: seize them; 1 if there were any, 0, or -errno */
static int seize_new(pid_t pid, struct tids *t)
{
	char path[64];
	struct dirent *de;
	int ret = 0, found = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		return -ESRCH;
	while (!ret && (de = readdir(dir))) {
		pid_t tid = atoi(de->d_name);

		if (tid <= 0 || tids_has(t, tid))
			continue;
		ret = tids_add(t, tid);
		if (!ret)
			ret = seize(pid, &t->t[t->nr - 1]);
		found = 1;
	}
	closedir(dir);
	return ret ?: found;
}

/*
 * Collect the stop of one seized thread. A signal that arrives first is
 * delivered (PTRACE_CONT with it): the interrupt stays pending and stops
 * the thread right after.
 */
static void reap_stop(struct thread *th)
{
	int status;
	pid_t r;

	r = waitpid(th->tid, &status, __WALL | WNOHANG);
	if (r < 0) {			/* gone and reaped */
		th->stopped = true;
		return;
	}
	if (r != th->tid)
		return;
	if (WIFEXITED(status) || WIFSIGNALED(status)) {
		th->stopped = true;
		return;
	}
	if (!WIFSTOPPED(status))
		return;
	if (status >> 16 == PTRACE_EVENT_STOP) {
		th->stopped = true;
		return;
	}
	ptrace(PTRACE_CONT, th->tid, NULL, (void *)(long)(status >> 16 ? 0 : WSTOPSIG(status)));
}

static void detach_all(const struct tids *t)
{
	size_t i;

	for (i = 0; i < t->nr; i++)
		ptrace(PTRACE_DETACH, t->t[i].tid, NULL, NULL);
}

static bool all_stopped(const struct tids *t)
{
	size_t i;

	for (i = 0; i < t->nr; i++)
		if (!t->t[i].stopped)
			return false;
	return true;
}

/* stopped by job control (SIGSTOP) before we came */
static bool job_stopped(pid_t pid)
{
	return thread_state(pid, pid, NULL) == 'T';
}

/* vsize of /proc/PID/stat: 0 for a task without an mm (kernel thread, exited) */
static bool has_mm(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long vsize = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
		       "%*d %*d %*d %*d %*u %lu", &vsize);
	fclose(f);
	return vsize;
}

/**
 * vmtrack_mm_sharer() - another process that shares the memory of @pid
 * @pid:	the process
 *
 * A process created by clone(CLONE_VM) without CLONE_THREAD writes the
 * memory of @pid without being one of its threads, so a freeze of @pid does
 * not stop it. Every process of /proc is compared with @pid by kcmp(2);
 * those the caller may not compare (-EPERM) are skipped, and so are those
 * without memory (kernel threads, zombies), which KCMP_VM finds equal to
 * each other: call vmtrack_target_check() first, which tells those apart.
 *
 * Return: the pid of such a process, 0 if there is none, or a negative
 * errno: -ENOSYS without kcmp(2) (CONFIG_KCMP), -ESRCH if @pid is gone.
 */
pid_t vmtrack_mm_sharer(pid_t pid)
{
	struct dirent *de;
	pid_t other, found = 0;
	DIR *dir;
	long ret;

	dir = opendir("/proc");
	if (!dir)
		return -errno;
	while (!found && (de = readdir(dir))) {
		other = atoi(de->d_name);
		if (other <= 0 || other == pid)
			continue;
		ret = syscall(SYS_kcmp, pid, other, KCMP_VM, 0, 0);
		if (!ret && has_mm(other))
			found = other;
		else if (ret < 0 && errno == ENOSYS)
			found = -ENOSYS;
	}
	closedir(dir);
	if (!found && !thread_state(pid, pid, NULL))
		return -ESRCH;
	return found;
}

/**
 * vmtrack_freeze() - stop every thread of a process, as a tracer
 * @pid:		the process
 * @was_stopped:	receives whether it was stopped by job control already
 *			(it stays so after vmtrack_thaw())
 *
 * Seizes every thread with PTRACE_SEIZE and stops it with PTRACE_INTERRUPT,
 * again for threads created meanwhile, until all are in a ptrace stop (up to
 * 10 seconds). Once it returns 0 the process cannot change its memory any
 * more, so a drain after it sees every event the process produced. The
 * freeze holds until vmtrack_thaw() or until the caller exits: the kernel
 * detaches a dead tracer's tracees, so a consumer that dies never leaves
 * the target stopped. Job control does not see the stop.
 *
 * Return: 0; -ESRCH if the process is gone (or a zombie); -EBUSY if another
 * process traces it; -EPERM if not permitted (ptrace access needed);
 * -ETIMEDOUT if a thread did not stop (one in uninterruptible sleep): the
 * others are let go, and that thread stops when it wakes up, until
 * vmtrack_thaw() or the exit of the caller (a thread can only be detached
 * while it is stopped); -EUSERS if another process shares its memory
 * (vmtrack_mm_sharer()), which the freeze would not stop: the threads are
 * let go. Without kcmp(2) that last check is not made.
 */
int vmtrack_freeze(pid_t pid, bool *was_stopped)
{
	struct timespec ts = { 0, 1000 * 1000 };
	struct tids t = { 0 };
	int ret, ms;
	size_t i;

	if (!thread_state(pid, pid, NULL))
		return -ESRCH;
	*was_stopped = job_stopped(pid);
	for (ms = 0; ms < FREEZE_TIMEOUT_MS; ms++) {
		ret = seize_new(pid, &t);
		if (ret < 0)
			break;
		/*
		 * Every thread known before this listing was stopped, and the
		 * listing found no new one: none is left to clone another.
		 */
		if (!ret && all_stopped(&t))
			break;
		for (i = 0; i < t.nr; i++)
			if (!t.t[i].stopped)
				reap_stop(&t.t[i]);
		nanosleep(&ts, NULL);
	}
	if (ms == FREEZE_TIMEOUT_MS)
		ret = -ETIMEDOUT;
	if (!ret && !thread_state(pid, pid, NULL))
		ret = -ESRCH;
	/*
	 * Checked once every thread is stopped: only the process or another
	 * sharer can create a sharer, so if none is found, none appears.
	 */
	if (!ret && vmtrack_mm_sharer(pid) > 0)
		ret = -EUSERS;
	if (ret)
		detach_all(&t);
	free(t.t);
	return ret;
}

/**
 * vmtrack_thaw() - let a process frozen by vmtrack_freeze() go on
 * @pid:	the process
 *
 * Detaches from every thread; a thread that was stopped by job control
 * before the freeze goes back to that stop.
 *
 * Return: 0, or -ESRCH if the process is gone.
 */
int vmtrack_thaw(pid_t pid)
{
	char path[64];
	struct dirent *de;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		return -ESRCH;
	while ((de = readdir(dir))) {
		pid_t tid = atoi(de->d_name);

		if (tid > 0)
			ptrace(PTRACE_DETACH, tid, NULL, NULL);
	}
	closedir(dir);
	return 0;
}
