// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmtrack watch -p PID: watch a running process.
 * vmtrack run -- CMD:   start a command watched from its first instruction.
 *
 * The command is a thin loop around libvmtrack: pump the per-CPU readers
 * until the next epoch is due or a signal arrives, take the epoch, print it.
 * The last epoch is taken with the target frozen (as a tracer, see
 * vmtrack_session_freeze()) or after it exited, so the final drain sees
 * every event it produced; a freeze that fails is an error, never a final
 * epoch of a running target.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmtrack-cmd.h"

#define PUMP_SLICE_MS	250

struct loop {
	const struct vmtrack_cmd_params	*p;
	struct vmtrack_session		*s;
	struct vmtrack_run_stats	rs;
	pid_t				pid;
	bool				child;		/* run: we are the parent */
	bool				gone;
	bool				done;		/* final epoch taken */
	int				stop_sig;
	int				status;		/* run: the child's wait status, */
	bool				reaped;		/* once it was reaped */
	int				sfd;
	double				t0;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void err_msg(const char *cmd, const char *msg)
{
	fprintf(stderr, "vmtrack %s: %s\n", cmd, msg);
}

/*
 * An error of the loop: one line, and the run fails (exit status 1, also
 * for run, whatever the command's status).
 */
static void loop_error(struct loop *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void loop_error(struct loop *l, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vmtrack: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	l->stop_sig = -1;
}

/*
 * zombie or gone (watch mode: not our child); a stat that cannot be opened
 * for another reason (EMFILE) says nothing, and a final epoch taken as if
 * the target were gone would be refused: it runs on
 */
static bool target_alive(pid_t pid)
{
	char path[64], buf[256], *p;
	bool alive = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return errno != ENOENT && errno != ESRCH;
	if (fgets(buf, sizeof(buf), f)) {
		p = strrchr(buf, ')');
		alive = p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
	}
	fclose(f);
	return alive;
}

static int setup_signals(sigset_t *old)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	signal(SIGPIPE, SIG_IGN);
	if (sigprocmask(SIG_BLOCK, &set, old))
		return -1;
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static void run_epoch(struct loop *l, bool final)
{
	struct vmtrack_epoch ep;
	unsigned int flags = 0;
	double frozen_at = 0, frozen_ms;
	int ret;

	if (final && !l->gone) {
		frozen_at = now();
		ret = vmtrack_session_freeze(l->s);
		if (ret == -ESRCH) {
			l->gone = true;
			frozen_at = 0;
		} else if (ret) {
			loop_error(l, "%s", vmtrack_session_error(l->s));
			return;
		}
	}
	if (final && !l->p->keep)
		flags |= VMTRACK_EPOCH_NO_REARM;
	ret = vmtrack_session_epoch(l->s, flags, &ep);
	if (final)
		vmtrack_session_thaw(l->s);
	/* freeze to thaw: how long the target stood still for the last epoch */
	frozen_ms = frozen_at ? (now() - frozen_at) * 1000 : 0;
	if (ret) {
		loop_error(l, "epoch %llu: %s", (unsigned long long)l->rs.epochs + 1,
			   vmtrack_session_error(l->s));
		return;
	}
	l->rs.epochs++;
	l->rs.dirty_pages += ep.dirty_pages;
	if (ep.loss) {
		l->rs.loss_epochs++;
		l->rs.lost_events += ep.lost_events;
	}
	if (ep.target_gone)
		l->gone = true;
	out_epoch(l->p, l->s, &ep, now() - l->t0, final);
	if (frozen_at)
		out_freeze(ep.seq, frozen_ms);
	l->done |= final;
}

static bool last_epoch(struct loop *l)
{
	return l->p->epochs && l->rs.epochs + 1 >= l->p->epochs;
}

/* run: reap or notice stops of the child */
static void child_event(struct loop *l)
{
	int status;
	pid_t r;

	while ((r = waitpid(l->pid, &status, WNOHANG | WUNTRACED)) == l->pid) {
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			l->status = status;
			l->reaped = true;
			l->gone = true;
			return;
		}
		if (WIFSTOPPED(status) && l->p->sync_stop && !l->done) {
			/* stopped itself: a complete epoch, then let it go on */
			run_epoch(l, last_epoch(l));
			kill(l->pid, SIGCONT);
		}
	}
}

static void read_signals(struct loop *l)
{
	struct signalfd_siginfo si;

	while (read(l->sfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD) {
			if (l->child)
				child_event(l);
		} else {
			l->stop_sig = si.ssi_signo;
		}
	}
}

static void main_loop(struct loop *l)
{
	double next = now() + l->p->interval_ms / 1000.0;

	while (!l->stop_sig && !l->gone && !l->done) {
		double left = next - now();
		int ms = l->p->interval_ms ? (int)(left * 1000) : PUMP_SLICE_MS;
		int ret;

		ms = ms < 0 ? 0 : ms > PUMP_SLICE_MS ? PUMP_SLICE_MS : ms;
		ret = vmtrack_session_pump(l->s, l->sfd, ms);
		if (ret < 0) {
			/* as after a failed epoch: no final one */
			loop_error(l, "reading the ring buffers: %s", strerror(-ret));
			break;
		}
		if (ret)
			read_signals(l);
		if (!l->child && !target_alive(l->pid))
			l->gone = true;
		if (l->stop_sig || l->gone || l->done)
			break;
		if (!l->p->interval_ms || now() < next)
			continue;
		if (last_epoch(l))
			break;
		run_epoch(l, false);
		next += l->p->interval_ms / 1000.0;
		if (next < now())
			next = now() + l->p->interval_ms / 1000.0;
	}
	if (l->stop_sig >= 0 && !l->done)
		run_epoch(l, true);
}

static uint64_t expected_pages(const struct vmtrack_cmd_params *p, pid_t pid)
{
	uint64_t n = 0;
	size_t i;

	if (p->nr_ranges) {
		for (i = 0; i < p->nr_ranges; i++)
			n += p->ranges[i].iov_len / sysconf(_SC_PAGESIZE);
		return n;
	}
	target_count_pages(pid, &n);
	return n;
}

static int start_session(struct loop *l, const char *cmd)
{
	struct vmtrack_params vp = {
		.pid = l->pid,
		.buffer_kb = l->p->buffer_kb,
		.expected_pages = expected_pages(l->p, l->pid),
		.flags = (l->p->keep ? VMTRACK_F_KEEP : 0) |
			 (l->p->all_private ? 0 : VMTRACK_F_WRITABLE_ONLY) |
			 (l->p->events_only ? VMTRACK_F_EVENTS_ONLY : 0),
	};
	char err[256];
	int ret;

	/* a running target may grow: leave room (run: ld.so maps libc later) */
	if (l->child && vp.expected_pages < 16384)
		vp.expected_pages = 16384;
	ret = vmtrack_session_open(&l->s, &vp, err, sizeof(err));
	if (ret) {
		err_msg(cmd, err);
		return ret;
	}
	if (l->p->nr_ranges)
		ret = vmtrack_session_watch_ranges(l->s, l->p->ranges, l->p->nr_ranges);
	else
		ret = vmtrack_session_watch_all(l->s);
	if (ret) {
		err_msg(cmd, vmtrack_session_error(l->s));
		vmtrack_session_close(l->s);
		l->s = NULL;
	}
	return ret;
}

static int finish(struct loop *l)
{
	int ret = l->stop_sig < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

	l->rs.seconds = now() - l->t0;
	if (out_summary(l->p, l->s, l->pid, &l->rs, ret))
		ret = EXIT_FAILURE;
	vmtrack_session_close(l->s);
	close(l->sfd);
	return ret;
}

static int parse(enum vmtrack_mode mode, int argc, char **argv, struct vmtrack_cmd_params *p)
{
	const char *cmd = mode == VMTRACK_MODE_RUN ? "run" : "watch";
	char err[256];
	int ret;

	ret = vmtrack_parse_args(mode, argc, argv, p, err, sizeof(err));
	if (ret == VMTRACK_PARSE_HELP) {
		vmtrack_usage(mode);
		vmtrack_params_free(p);
		exit(EXIT_SUCCESS);
	}
	if (ret) {
		fprintf(stderr, "vmtrack %s: %s (see 'vmtrack %s --help')\n", cmd, err, cmd);
		vmtrack_params_free(p);
		exit(EXIT_FAILURE);
	}
	if (out_open(p, err, sizeof(err))) {
		fprintf(stderr, "vmtrack %s: %s\n", cmd, err);
		vmtrack_params_free(p);
		exit(EXIT_FAILURE);
	}
	return 0;
}

/**
 * cmd_watch() - vmtrack watch
 * @argc:	argument count (argv[0] = "watch")
 * @argv:	arguments
 *
 * Return: exit status.
 */
int cmd_watch(int argc, char **argv)
{
	struct vmtrack_cmd_params p;
	struct loop l = { .p = &p };
	sigset_t old;
	int ret;

	parse(VMTRACK_MODE_WATCH, argc, argv, &p);
	l.pid = p.pid;
	l.sfd = setup_signals(&old);
	if (l.sfd < 0) {
		err_msg("watch", strerror(errno));
		goto fail;
	}
	if (p.follow) {
		ret = follow_watch(&p, l.sfd);
		close(l.sfd);
		vmtrack_params_free(&p);
		return ret;
	}
	if (start_session(&l, "watch"))
		goto fail;
	l.t0 = now();
	out_start(&p, l.s, l.pid);
	main_loop(&l);
	ret = finish(&l);
	vmtrack_params_free(&p);
	return ret;

fail:
	out_cancel();
	vmtrack_params_free(&p);
	return EXIT_FAILURE;
}

static void end_child(struct loop *l)
{
	int status;

	if (l->reaped)
		return;
	/* a signal to us only (not ^C to the process group): pass it on */
	if (l->stop_sig > 0)
		kill(l->pid, l->stop_sig);
	/* it may stop itself again (--sync-stop): nobody else continues it */
	while (waitpid(l->pid, &status, WUNTRACED) == l->pid) {
		if (!WIFSTOPPED(status)) {
			l->status = status;
			l->reaped = true;
			return;
		}
		kill(l->pid, SIGCONT);
	}
}

/* the command's exit status, 128 + N if signal N killed it, as a shell says */
static int child_exit_status(const struct loop *l)
{
	if (!l->reaped)
		return EXIT_FAILURE;
	if (WIFEXITED(l->status))
		return WEXITSTATUS(l->status);
	if (WIFSIGNALED(l->status))
		return 128 + WTERMSIG(l->status);
	return EXIT_FAILURE;
}

/**
 * cmd_run() - vmtrack run
 * @argc:	argument count (argv[0] = "run")
 * @argv:	arguments
 *
 * Return: exit status.
 */
int cmd_run(int argc, char **argv)
{
	struct vmtrack_cmd_params p;
	struct loop l = { .p = &p, .child = true };
	char err[256];
	sigset_t old;
	int ret;

	parse(VMTRACK_MODE_RUN, argc, argv, &p);
	l.sfd = setup_signals(&old);
	if (l.sfd < 0) {
		err_msg("run", strerror(errno));
		goto fail;
	}
	if (p.follow) {
		ret = follow_run(&p, l.sfd, &old);
		close(l.sfd);
		vmtrack_params_free(&p);
		return ret;
	}
	l.pid = target_spawn(p.argv, &old, err, sizeof(err));
	if (l.pid < 0) {
		err_msg("run", err);
		goto fail;
	}
	if (start_session(&l, "run")) {
		kill(l.pid, SIGKILL);
		ptrace(PTRACE_DETACH, l.pid, NULL, NULL);
		waitpid(l.pid, NULL, 0);
		goto fail;
	}
	ptrace(PTRACE_DETACH, l.pid, NULL, NULL);
	l.t0 = now();
	out_start(&p, l.s, l.pid);
	main_loop(&l);
	ret = finish(&l);
	end_child(&l);
	vmtrack_params_free(&p);
	return ret == EXIT_SUCCESS ? child_exit_status(&l) : ret;

fail:
	out_cancel();
	vmtrack_params_free(&p);
	return EXIT_FAILURE;
}
