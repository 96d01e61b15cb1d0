// SPDX-License-Identifier: GPL-2.0
/*
 * Syscall and byte accounting, done by the program itself.
 *
 * The system call wrappers that the mechanisms, libvmtrack, libtracefs and
 * libtraceevent use are interposed here: the executable defines them, so the
 * dynamic linker binds every caller (shared libraries too) to these, and they
 * forward to the C library's with dlsym(RTLD_NEXT). Calls the C library makes
 * internally (fopen/getline) are not seen; no measured phase uses them.
 *
 * Counted while enabled: every interposed call; bytes returned by read() and
 * pread(); bytes moved by splice() separately; the wall time of
 * process_madvise() and madvise(). Mechanisms add the output of their
 * ioctl()s (PAGEMAP_SCAN regions) with sysc_add_bytes(). With
 * sysc_time_others() on, the wall time of the other calls that read and
 * wait (read, pread, splice, ioctl, poll, syscall) too: for the vmtrack
 * consumers only, whose epoch it splits into re-arm, draining and user
 * space; the peers' epochs are their calls by construction, and would only
 * pay for the clock.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench.h"

static bool enabled, time_others;
static uint64_t nr_calls, nr_bytes, nr_spliced, madvise_ns, other_ns;

#define REAL(name) ({							\
	static typeof(&name) real_fn;					\
	if (!real_fn)							\
		real_fn = (typeof(&name))dlsym(RTLD_NEXT, #name);	\
	if (!real_fn)							\
		abort();						\
	real_fn; })

static inline void count(uint64_t bytes)
{
	if (!__atomic_load_n(&enabled, __ATOMIC_RELAXED))
		return;
	__atomic_fetch_add(&nr_calls, 1, __ATOMIC_RELAXED);
	if (bytes)
		__atomic_fetch_add(&nr_bytes, bytes, __ATOMIC_RELAXED);
}

void sysc_enable(bool on)
{
	__atomic_store_n(&enabled, on, __ATOMIC_SEQ_CST);
}

void sysc_time_others(bool on)
{
	__atomic_store_n(&time_others, on, __ATOMIC_SEQ_CST);
}

void sysc_add_bytes(uint64_t n)
{
	if (__atomic_load_n(&enabled, __ATOMIC_RELAXED))
		__atomic_fetch_add(&nr_bytes, n, __ATOMIC_RELAXED);
}

void sysc_snapshot(struct sysc_count *c)
{
	c->calls = __atomic_load_n(&nr_calls, __ATOMIC_SEQ_CST);
	c->bytes = __atomic_load_n(&nr_bytes, __ATOMIC_SEQ_CST);
	c->spliced = __atomic_load_n(&nr_spliced, __ATOMIC_SEQ_CST);
	c->madvise_ns = __atomic_load_n(&madvise_ns, __ATOMIC_SEQ_CST);
	c->other_ns = __atomic_load_n(&other_ns, __ATOMIC_SEQ_CST);
}

void sysc_diff(const struct sysc_count *a, const struct sysc_count *b, struct sysc_count *d)
{
	d->calls = b->calls - a->calls;
	d->bytes = b->bytes - a->bytes;
	d->spliced = b->spliced - a->spliced;
	d->madvise_ns = b->madvise_ns - a->madvise_ns;
	d->other_ns = b->other_ns - a->other_ns;
}

/* the clock is read only while counting: the other phases pay nothing */
static uint64_t madvise_start(void)
{
	return __atomic_load_n(&enabled, __ATOMIC_RELAXED) ? now_ns() : 0;
}

static uint64_t other_start(void)
{
	return __atomic_load_n(&enabled, __ATOMIC_RELAXED) &&
	       __atomic_load_n(&time_others, __ATOMIC_RELAXED) ? now_ns() : 0;
}

/* adds the time since @t0 to @sum, if the call was timed */
static void time_end(uint64_t *sum, uint64_t t0)
{
	if (t0)
		__atomic_fetch_add(sum, now_ns() - t0, __ATOMIC_RELAXED);
}

ssize_t read(int fd, void *buf, size_t n)
{
	uint64_t t0 = other_start();
	ssize_t ret = REAL(read)(fd, buf, n);

	time_end(&other_ns, t0);
	count(ret > 0 ? ret : 0);
	return ret;
}

ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
	uint64_t t0 = other_start();
	ssize_t ret = REAL(pread)(fd, buf, n, off);

	time_end(&other_ns, t0);
	count(ret > 0 ? ret : 0);
	return ret;
}

ssize_t pread64(int fd, void *buf, size_t n, off64_t off)
{
	uint64_t t0 = other_start();
	ssize_t ret = REAL(pread64)(fd, buf, n, off);

	time_end(&other_ns, t0);
	count(ret > 0 ? ret : 0);
	return ret;
}

ssize_t write(int fd, const void *buf, size_t n)
{
	count(0);
	return REAL(write)(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	count(0);
	return REAL(pwrite)(fd, buf, n, off);
}

static mode_t open_mode(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & __O_TMPFILE) == __O_TMPFILE ?
	       va_arg(ap, mode_t) : 0;
}

int open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	count(0);
	return REAL(open)(path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	count(0);
	return REAL(open64)(path, flags, mode);
}

int openat(int dfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	count(0);
	return REAL(openat)(dfd, path, flags, mode);
}

int close(int fd)
{
	count(0);
	return REAL(close)(fd);
}

ssize_t splice(int fd_in, loff_t *off_in, int fd_out, loff_t *off_out, size_t len,
	       unsigned int flags)
{
	uint64_t t0 = other_start();
	ssize_t ret = REAL(splice)(fd_in, off_in, fd_out, off_out, len, flags);

	time_end(&other_ns, t0);
	count(0);
	if (ret > 0 && __atomic_load_n(&enabled, __ATOMIC_RELAXED))
		__atomic_fetch_add(&nr_spliced, ret, __ATOMIC_RELAXED);
	return ret;
}

int ioctl(int fd, unsigned long req, ...)
{
	uint64_t t0;
	va_list ap;
	void *arg;
	int ret;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	count(0);
	t0 = other_start();
	ret = REAL(ioctl)(fd, req, arg);
	time_end(&other_ns, t0);
	return ret;
}

int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	uint64_t t0;
	int ret;

	count(0);
	t0 = other_start();
	ret = REAL(poll)(fds, n, timeout);
	time_end(&other_ns, t0);
	return ret;
}

int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	long arg;

	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	count(0);
	return REAL(fcntl)(fd, cmd, arg);
}

int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	long arg;

	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	count(0);
	return REAL(fcntl64)(fd, cmd, arg);
}

int madvise(void *addr, size_t len, int advice)
{
	uint64_t t0;
	int ret;

	count(0);
	t0 = madvise_start();
	ret = REAL(madvise)(addr, len, advice);
	time_end(&madvise_ns, t0);
	return ret;
}

long syscall(long nr, ...)
{
	uint64_t t0;
	long a[6], ret;
	va_list ap;
	int i;

	va_start(ap, nr);
	for (i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	count(0);
	if (nr != SYS_process_madvise) {
		t0 = other_start();
		ret = REAL(syscall)(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
		time_end(&other_ns, t0);
		return ret;
	}
	t0 = madvise_start();
	ret = REAL(syscall)(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	time_end(&madvise_ns, t0);
	return ret;
}
