// SPDX-License-Identifier: GPL-2.0-only
/*
 * The target of vmtrack watch, run and dump: a command started stopped
 * before its first instruction, and the size of what a session will watch.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmtrack-cmd.h"

/**
 * target_spawn() - start a command stopped right after its exec
 * @argv:	the command and its arguments
 * @mask:	the signal mask the command starts with; NULL: the caller's.
 *		SIGPIPE is set back to its default either way: the command
 *		must not inherit the SIG_IGN the vmtrack command runs with.
 * @err:	receives a one-line reason on error
 * @errlen:	size of @err
 *
 * Fork; the child asks to be traced and execs, so it stops (SIGTRAP) right
 * after exec, before its first instruction, when its mappings exist. The
 * caller marks them, then detaches. A CLOEXEC pipe carries exec's errno.
 *
 * Return: the pid of the stopped child, or -1 with @err set.
 */
pid_t target_spawn(char **argv, const sigset_t *mask, char *err, size_t errlen)
{
	int fds[2], status, e = 0;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC)) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		return -1;
	}
	if (!pid) {
		close(fds[0]);
		if (mask)
			sigprocmask(SIG_SETMASK, mask, NULL);
		signal(SIGPIPE, SIG_DFL);
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) == 0)
			execvp(argv[0], argv);
		e = errno;
		if (write(fds[1], &e, sizeof(e)) < 0)
			_exit(126);
		_exit(127);
	}
	close(fds[1]);
	if (read(fds[0], &e, sizeof(e)) != sizeof(e))
		e = 0;
	close(fds[0]);
	if (waitpid(pid, &status, 0) != pid || e || !WIFSTOPPED(status)) {
		snprintf(err, errlen, "cannot execute '%s': %s", argv[0],
			 strerror(e ?: ECHILD));
		if (!e)
			kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	return pid;
}

struct count {
	long		page_size;
	uint64_t	pages;
};

static int count_cb(const struct vmtrack_mapping *map, void *ctx)
{
	struct count *c = ctx;

	if (vmtrack_mapping_watchable(map, false))
		c->pages += (map->end - map->start) / c->page_size;
	return 0;
}

/**
 * target_count_pages() - pages a session's buffer is sized for
 * @pid:	the target
 * @pages:	receives the pages of its writable private mappings (of what
 *		was read, on error)
 *
 * Read-only and PROT_NONE pages are watched too, but fault only after an
 * mprotect(): counting the reservations of malloc arenas or of a Java heap
 * would give every followed process the largest buffer ("BUFFER SIZE" in
 * vmtrack(1)).
 *
 * Return: 0, or the error of vmtrack_maps_walk().
 */
int target_count_pages(pid_t pid, uint64_t *pages)
{
	struct count c = {
		.page_size = sysconf(_SC_PAGESIZE),
	};
	int ret;

	ret = vmtrack_maps_walk(pid, count_cb, &c);
	*pages = c.pages;
	return ret;
}

/**
 * target_spawn_traced() - start a command traced, stopped right after its exec
 * @argv:	the command and its arguments
 * @mask:	the signal mask the command starts with, as for target_spawn()
 * @options:	PTRACE_O_* options (PTRACE_O_TRACEEXEC is added)
 * @err:	receives a one-line reason on error
 * @errlen:	size of @err
 *
 * Fork; the child waits on a pipe until the parent has seized it
 * (PTRACE_SEIZE with @options), then execs, and stops in the
 * PTRACE_EVENT_EXEC stop, before its first instruction. Unlike
 * target_spawn(), the child stays traced the PTRACE_SEIZE way, so that
 * PTRACE_INTERRUPT and PTRACE_LISTEN work on it and on the tasks it
 * starts, which the kernel attaches with the same options.
 *
 * Return: the pid of the child in its exec stop, or -1 with @err set.
 */
pid_t target_spawn_traced(char **argv, const sigset_t *mask, unsigned long options,
			  char *err, size_t errlen)
{
	int go[2], fds[2], status, e = 0;
	pid_t pid;
	char c = 0;

	if (pipe2(fds, O_CLOEXEC)) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	if (pipe2(go, O_CLOEXEC)) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		goto close_fds;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		goto close_go;
	}
	if (!pid) {
		close(fds[0]);
		close(go[1]);
		if (mask)
			sigprocmask(SIG_SETMASK, mask, NULL);
		signal(SIGPIPE, SIG_DFL);
		if (read(go[0], &c, 1) == 1)
			execvp(argv[0], argv);
		e = errno ?: ECHILD;
		if (write(fds[1], &e, sizeof(e)) < 0)
			_exit(126);
		_exit(127);
	}
	close(fds[1]);
	close(go[0]);
	if (ptrace(PTRACE_SEIZE, pid, NULL, (void *)(options | PTRACE_O_TRACEEXEC))) {
		snprintf(err, errlen, "cannot trace the command: %s", strerror(errno));
		close(go[1]);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(fds[0]);
		return -1;
	}
	if (write(go[1], &c, 1) != 1)
		e = errno;
	close(go[1]);
	if (!e && read(fds[0], &e, sizeof(e)) != sizeof(e))
		e = 0;
	close(fds[0]);
	if (e || waitpid(pid, &status, __WALL) != pid || !WIFSTOPPED(status) ||
	    status >> 16 != PTRACE_EVENT_EXEC) {
		snprintf(err, errlen, "cannot execute '%s': %s", argv[0], strerror(e ?: ECHILD));
		kill(pid, SIGKILL);
		waitpid(pid, NULL, __WALL);
		return -1;
	}
	return pid;

close_go:
	close(go[0]);
	close(go[1]);
close_fds:
	close(fds[0]);
	close(fds[1]);
	return -1;
}
