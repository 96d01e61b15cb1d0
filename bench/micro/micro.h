/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the re-arm micro-benchmarks share: the four ways of re-arming
 * written pages they compare, and their helpers. Each program is one file
 * built on its own (bench/micro/run.sh), so these are static.
 */
#ifndef VMTRACK_BENCH_MICRO_H
#define VMTRACK_BENCH_MICRO_H

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../src/uapi-compat.h"

#ifndef MADV_WATCH
#define MADV_WATCH	26
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC	(1 << 15)
#endif
#define MAX_IOV		1024	/* ranges per process_madvise(), as libvmtrack */

enum mode { WATCH, UFFD_WP, SCAN_WATCH, SCAN_UFFD, NR_MODES };

#ifndef PAGE_IS_WATCHED
#define PAGE_IS_WATCHED	(1 << 9)
#endif

/* A scan re-arms watched VMAs only if it requires PAGE_IS_WATCHED. */
static inline __u64 scan_categories(enum mode mode)
{
	return PAGE_IS_WRITTEN | (mode == SCAN_WATCH ? PAGE_IS_WATCHED : 0);
}
static const char *const mode_names[NR_MODES] = {
	"watch", "uffd-wp", "scan-watch", "scan-uffd"
};

/* argv[4], if given, names the mode; WATCH by default. */
static int parse_mode(const char *prog, int argc, char **argv, enum mode *mode)
{
	int m;

	*mode = WATCH;
	if (argc < 5)
		return 0;
	for (m = 0; m < NR_MODES && strcmp(argv[4], mode_names[m]); m++)
		;
	if (m == NR_MODES) {
		fprintf(stderr, "%s: unknown mode '%s'\n", prog, argv[4]);
		return -1;
	}
	*mode = m;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* process_madvise(MADV_WATCH) of @n ranges, MAX_IOV a call */
static int madvise_rearm(int pidfd, const struct iovec *iov, size_t n)
{
	size_t i, k;

	for (i = 0; i < n; i += k) {
		k = n - i < MAX_IOV ? n - i : MAX_IOV;
		if (syscall(SYS_process_madvise, pidfd, iov + i, k, MADV_WATCH, 0) < 0)
			return -1;
	}
	return 0;
}

static int uffd_protect(int uffd, void *addr, size_t len)
{
	struct uffdio_writeprotect wp = {
		.range = { .start = (unsigned long)addr, .len = len },
		.mode = UFFDIO_WRITEPROTECT_MODE_WP,
	};

	return ioctl(uffd, UFFDIO_WRITEPROTECT, &wp);
}

/* A userfaultfd with [addr, addr + len) registered and write-protected. */
static int uffd_open(void *addr, size_t len)
{
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_PAGEFAULT_FLAG_WP,
	};
	struct uffdio_register reg = {
		.range = { .start = (unsigned long)addr, .len = len },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};
	int uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) ||
	    ioctl(uffd, UFFDIO_REGISTER, &reg) || uffd_protect(uffd, addr, len))
		return -1;
	return uffd;
}

/* One UFFDIO_WRITEPROTECT per range, as a uffd-wp monitor re-protects. */
static int uffd_rearm(int uffd, const struct iovec *iov, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (uffd_protect(uffd, iov[i].iov_base, iov[i].iov_len))
			return -1;
	return 0;
}

#endif
