// SPDX-License-Identifier: GPL-2.0
/*
 * A target in another process: the region lives in a child that writes
 * the epoch's pattern when told, as the process a checkpoint/restore tool
 * tracks. The consumer sees the region's addresses only; every mechanism
 * reaches the child's memory as such a tool does: /proc/PID (soft-dirty,
 * PAGEMAP_SCAN), a userfaultfd the child opened and the consumer took
 * with pidfd_getfd() (uffd-wp works on the context's mm, not the caller's),
 * a pidfd (process_madvise()).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open		434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd		438
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY	1
#endif

enum target_op { TARGET_WRITE, TARGET_USERFAULTFD };

struct target_cmd {
	enum target_op	op;
	struct pattern	p;
	int		flags;
};

struct target_ack {
	int64_t		ret;	/* -errno, or the fd number in the child */
	uint64_t	ns;	/* TARGET_WRITE: the writes, timed in the child */
};

static void target_serve(struct region *r, int cmd, int ack)
{
	struct target_cmd c;
	struct target_ack a;
	uint64_t t0;

	while (read(cmd, &c, sizeof(c)) == sizeof(c)) {
		memset(&a, 0, sizeof(a));
		switch (c.op) {
		case TARGET_WRITE:
			t0 = now_ns();
			pattern_write(r, &c.p);
			a.ns = now_ns() - t0;
			break;
		case TARGET_USERFAULTFD:
			/* the context is bound to the caller's mm: this one */
			a.ret = syscall(SYS_userfaultfd, c.flags | UFFD_USER_MODE_ONLY);
			if (a.ret < 0)
				a.ret = syscall(SYS_userfaultfd, c.flags);
			if (a.ret < 0)
				a.ret = -errno;
			break;
		default:
			a.ret = -EINVAL;
			break;
		}
		if (write(ack, &a, sizeof(a)) != sizeof(a))
			_exit(1);
	}
	_exit(0);
}

static int target_call(struct target *t, struct target_cmd *c, struct target_ack *a)
{
	if (write(t->cmd, c, sizeof(*c)) != sizeof(*c) || read(t->ack, a, sizeof(*a)) != sizeof(*a))
		return -EPIPE;
	return 0;
}

/* fork the child, which maps @len bytes; @r describes them, in the child */
int target_start(struct target *t, struct region *r, size_t len, bool thp)
{
	int p1[2], p2[2], ret;

	memset(t, 0, sizeof(*t));
	t->pidfd = -1;
	if (pipe(p1))
		return -errno;
	if (pipe(p2)) {
		ret = -errno;
		goto err_p1;
	}
	fflush(stdout);
	t->pid = fork();
	if (t->pid < 0) {
		ret = -errno;
		goto err_p2;
	}
	if (!t->pid) {
		close(p1[1]);
		close(p2[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		ret = thp ? region_map_huge(r, len) : region_map(r, len, true);
		if (write(p2[1], &ret, sizeof(ret)) != sizeof(ret) ||
		    write(p2[1], r, sizeof(*r)) != sizeof(*r) || ret)
			_exit(1);
		target_serve(r, p1[0], p2[1]);
	}
	close(p1[0]);
	close(p2[1]);
	t->cmd = p1[1];
	t->ack = p2[0];
	if (read(t->ack, &ret, sizeof(ret)) != sizeof(ret) ||
	    read(t->ack, r, sizeof(*r)) != sizeof(*r)) {
		ret = -EPIPE;
		goto err_child;
	}
	if (ret)
		goto err_child;
	t->pidfd = syscall(SYS_pidfd_open, t->pid, 0);
	if (t->pidfd < 0) {
		ret = -errno;
		goto err_child;
	}
	return 0;

err_child:
	target_stop(t);
	return ret;
err_p2:
	close(p2[0]);
	close(p2[1]);
err_p1:
	close(p1[0]);
	close(p1[1]);
	return ret;
}

/* the child writes @p; @ns: how long its writes took */
int target_write(struct target *t, const struct pattern *p, uint64_t *ns)
{
	struct target_cmd c = { .op = TARGET_WRITE, .p = *p };
	struct target_ack a;
	int ret;

	ret = target_call(t, &c, &a);
	if (ret)
		return ret;
	*ns = a.ns;
	return a.ret;
}

/* a userfaultfd of the child's mm, as a descriptor of this process */
int target_userfaultfd(struct target *t, int flags)
{
	struct target_cmd c = { .op = TARGET_USERFAULTFD, .flags = flags };
	struct target_ack a;
	int ret, fd;

	ret = target_call(t, &c, &a);
	if (ret)
		return ret;
	if (a.ret < 0)
		return a.ret;
	fd = syscall(SYS_pidfd_getfd, t->pidfd, (int)a.ret, 0);
	return fd < 0 ? -errno : fd;
}

/* the end of its commands ends the child, which may have ended already */
void target_stop(struct target *t)
{
	if (t->pid <= 0)
		return;
	close(t->cmd);
	close(t->ack);
	if (t->pidfd >= 0)
		close(t->pidfd);
	waitpid(t->pid, NULL, 0);
	t->pid = 0;
}
