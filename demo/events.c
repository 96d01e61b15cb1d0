// SPDX-License-Identifier: GPL-2.0
/*
 * Makes the kernel emit every mm_watch event once or more, for the checks
 * that tracing tools decode all of them (demo/tracers.sh): mark, rearm,
 * write_fault, pinned (an io_uring fixed buffer), zap
 * (MADV_DONTNEED), move (mremap), unmark (MADV_UNWATCH), unmap (munmap) and
 * exit (the process ends with a range still watched).
 *
 * Prints one line per step with the values the events must carry:
 *   "pid PID", "buf ADDR", then "EVENT key=value ..." in the events' own
 *   field names, addresses in hexadecimal.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/io_uring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef MADV_WATCH
#define MADV_WATCH	26
#define MADV_UNWATCH	27
#endif

#define NR_PAGES	16

static long psz;

static void die(const char *what)
{
	fprintf(stderr, "events: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void advise(void *addr, size_t len, int advice, const char *what)
{
	if (madvise(addr, len, advice))
		die(what);
}

/* an io_uring fixed buffer: a long-term pin (FOLL_PIN | FOLL_LONGTERM) */
static int pin(void *addr, size_t len)
{
	struct io_uring_params p;
	struct iovec iov = { addr, len };
	int fd;

	memset(&p, 0, sizeof(p));
	fd = syscall(__NR_io_uring_setup, 4, &p);
	if (fd < 0)
		die("io_uring_setup");
	if (syscall(__NR_io_uring_register, fd, IORING_REGISTER_BUFFERS, &iov, 1))
		die("IORING_REGISTER_BUFFERS");
	return fd;
}

int main(void)
{
	char *buf, *dst;
	int ring;

	psz = sysconf(_SC_PAGESIZE);
	setvbuf(stdout, NULL, _IONBF, 0);
	buf = mmap(NULL, NR_PAGES * psz, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	/* where the move goes: reserved, so that nothing else lands there */
	dst = mmap(NULL, 4 * psz, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED || dst == MAP_FAILED)
		die("mmap");
	printf("pid %d\n", getpid());
	printf("buf %p\n", (void *)buf);

	/* page 15 pinned before the mark: the mark reports it */
	ring = pin(buf + 15 * psz, psz);
	advise(buf, NR_PAGES * psz, MADV_WATCH, "MADV_WATCH");
	printf("mark start=%p end=%p\n", (void *)buf, (void *)(buf + NR_PAGES * psz));
	printf("pinned address=%p size=%ld\n", (void *)(buf + 15 * psz), psz);

	buf[1 * psz] = 1;
	printf("write_fault address=%p size=%ld\n", (void *)(buf + psz), psz);

	advise(buf, 4 * psz, MADV_WATCH, "MADV_WATCH (re-arm)");
	printf("rearm start=%p end=%p\n", (void *)buf, (void *)(buf + 4 * psz));

	advise(buf + 2 * psz, psz, MADV_DONTNEED, "MADV_DONTNEED");
	printf("zap start=%p end=%p\n", (void *)(buf + 2 * psz), (void *)(buf + 3 * psz));

	if (mremap(buf + 4 * psz, 4 * psz, 4 * psz, MREMAP_MAYMOVE | MREMAP_FIXED, dst) != dst)
		die("mremap");
	printf("move old_start=%p new_start=%p len=%ld\n", (void *)(buf + 4 * psz),
	       (void *)dst, 4 * psz);

	advise(buf + 8 * psz, 2 * psz, MADV_UNWATCH, "MADV_UNWATCH");
	printf("unmark start=%p end=%p\n", (void *)(buf + 8 * psz), (void *)(buf + 10 * psz));

	if (munmap(buf + 10 * psz, 2 * psz))
		die("munmap");
	printf("unmap start=%p end=%p\n", (void *)(buf + 10 * psz), (void *)(buf + 12 * psz));

	close(ring);
	/* pages 0-3, 12-15 and the moved range are still watched */
	printf("exit\n");
	return 0;
}
