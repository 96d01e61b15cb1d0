// SPDX-License-Identifier: GPL-2.0-only
/*
 * The target execs between an epoch's drain and its re-arm: the re-arm's
 * process_madvise() reaches the new program through the pidfd and watches
 * what it maps at the re-armed addresses. The next epoch reads the old
 * mm's exit; by its end nothing of the new program may be watched.
 *
 * The exec is made to fall in that window: this program's syscall()
 * stands in for libc's, and before the first process_madvise(MADV_WATCH)
 * of the armed epoch it has the target exec and map the same addresses.
 *
 *   exec-rearm		the test, as root, on a kernel with MADV_WATCH
 *			(tests/running.sh); exit 0 on success
 *   exec-rearm --new FD	the program the target execs into
 */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmtrack.h"
#include "smaps.h"

#define REGION_ADDR	((void *)0x5a0000000000UL)
#define REGION_PAGES	16

static int to_target = -1, from_target = -1;
static bool race_armed, raced;
static long page_size;

static char *map_region(void)
{
	char *p = mmap(REGION_ADDR, REGION_PAGES * page_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	memset(p, 1, REGION_PAGES * page_size);
	return p;
}

static int send_byte(int fd, char c)
{
	return write(fd, &c, 1) == 1 ? 0 : -1;
}

static int wait_byte(int fd, char want)
{
	char c;

	return read(fd, &c, 1) == 1 && c == want ? 0 : -1;
}

/* the new program: map the same addresses, say so, and wait to be killed */
static int new_program(const char *fd_arg)
{
	int fd = atoi(fd_arg);

	if (!map_region() || send_byte(fd, 'n'))
		return 1;
	for (;;)
		pause();
}

/* the target: written while watched, then exec on request */
static void target_main(int in, int out, const char *self)
{
	char fd_arg[16];
	char *p = map_region();

	if (!p || send_byte(out, 'r') || wait_byte(in, 'w'))
		_exit(1);
	memset(p, 2, REGION_PAGES * page_size);
	if (send_byte(out, 'd') || wait_byte(in, 'x'))
		_exit(1);
	snprintf(fd_arg, sizeof(fd_arg), "%d", out);
	execl(self, self, "--new", fd_arg, (char *)NULL);
	_exit(1);
}

/*
 * libvmtrack's process_madvise() calls come here: the first MADV_WATCH
 * once the race is armed waits for the target to exec and map the
 * region again.
 */
long syscall(long nr, ...)
{
	static long (*real)(long nr, ...);
	long a[6];
	va_list ap;
	int i;

	va_start(ap, nr);
	for (i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (!real)
		real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
	if (nr == SYS_process_madvise && a[3] == MADV_WATCH && race_armed && !raced) {
		raced = true;
		if (send_byte(to_target, 'x') || wait_byte(from_target, 'n'))
			fprintf(stderr, "exec-rearm: the target did not exec\n");
	}
	return real(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

static int fail(const char *what)
{
	printf("exec-rearm: %s\n", what);
	return 1;
}

static int run_test(pid_t pid)
{
	struct vmtrack_params vp = { .pid = pid, .flags = VMTRACK_F_EVENTS_ONLY };
	struct iovec region = { REGION_ADDR, REGION_PAGES * page_size };
	struct vmtrack_session *s;
	struct vmtrack_epoch ep;
	char err[256];
	int ret = 1, w;

	if (wait_byte(from_target, 'r'))
		return fail("the target did not start");
	if (vmtrack_session_open(&s, &vp, err, sizeof(err)))
		return fail(err);
	if (vmtrack_session_watch_ranges(s, &region, 1)) {
		ret = fail(vmtrack_session_error(s));
		goto out;
	}
	if (send_byte(to_target, 'w') || wait_byte(from_target, 'd')) {
		ret = fail("the target did not write");
		goto out;
	}
	race_armed = true;
	if (vmtrack_session_epoch(s, 0, &ep)) {
		ret = fail(vmtrack_session_error(s));
		goto out;
	}
	if (!raced || ep.dirty_pages != REGION_PAGES) {
		printf("exec-rearm: re-armed %s, %llu dirty pages\n", raced ? "yes" : "no",
		       (unsigned long long)ep.dirty_pages);
		ret = fail("the epoch did not re-arm the written region");
		goto out;
	}
	/* the race made: the re-arm watched the new program's region, alone */
	w = watched_mappings(pid);
	if (w != 1) {
		ret = fail("the re-arm did not reach the new program");
		goto out;
	}
	if (vmtrack_session_epoch(s, 0, &ep)) {
		ret = fail(vmtrack_session_error(s));
		goto out;
	}
	if (!ep.target_gone) {
		ret = fail("the epoch after the exec did not report the mm gone");
		goto out;
	}
	w = watched_mappings(pid);
	if (w != 0) {
		ret = fail(w < 0 ? "the new program's smaps is unreadable" :
			   "the new program's region is still watched after the epoch");
		goto out;
	}
	printf("exec-rearm: the re-arm watched the new program's region; the next epoch unwatched it\n");
	ret = 0;
out:
	vmtrack_session_close(s);
	if (!ret && watched_mappings(pid) != 0)
		ret = fail("the new program's region is watched after the close");
	return ret;
}

int main(int argc, char **argv)
{
	int p2c[2], c2p[2], status, ret;
	pid_t pid;

	page_size = sysconf(_SC_PAGESIZE);
	if (argc == 3 && !strcmp(argv[1], "--new"))
		return new_program(argv[2]);
	if (argc != 1) {
		fprintf(stderr, "usage: exec-rearm\n");
		return 1;
	}
	if (pipe(p2c) || pipe(c2p))
		return fail("pipe");
	pid = fork();
	if (pid < 0)
		return fail("fork");
	if (!pid) {
		close(p2c[1]);
		close(c2p[0]);
		target_main(p2c[0], c2p[1], "/proc/self/exe");
	}
	close(p2c[0]);
	close(c2p[1]);
	to_target = p2c[1];
	from_target = c2p[0];
	ret = run_test(pid);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return ret;
}
