// SPDX-License-Identifier: GPL-2.0
/*
 * rearm: the cost of re-arming the pages written since the last arm, with
 * process_madvise(MADV_WATCH) in calls of 1024 ranges as libvmtrack does,
 * or (uffd-wp) with one UFFDIO_WRITEPROTECT per range as a uffd-wp monitor
 * re-protects; or the cost of finding and re-arming them in one walk, with
 * PAGEMAP_SCAN's PM_SCAN_WP_MATCHING in watched VMAs (scan-watch) or under
 * WP_ASYNC (scan-uffd), in output vectors of 4096 regions as vmbench does
 * (VEC: another length, up to 4096).
 *
 *   rearm MIB STRIDE REPS [watch|uffd-wp|scan-watch|scan-uffd [VEC]]
 *
 * Watches (or registers for write-protection, WP_ASYNC so that the writes
 * need no handler) MIB MiB of its own anonymous memory, then per repetition
 * writes every STRIDE-th page (each its own range) and times the re-arm of
 * those pages. Prints the minimum, median and maximum in milliseconds; from
 * 16 repetitions on, those of the last half too. With MICRO_GAP_MS set, the
 * process first sleeps that long in each repetition, as a consumer does
 * between epochs (or waits while the other mechanisms of a lockstep take
 * their turns).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#include "micro.h"

#define SCAN_VEC	4096

static size_t scan_vec_len = SCAN_VEC;

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* Find the written pages of [addr, addr + len) and re-arm them; count them. */
static int scan_rearm(int pagemap, enum mode mode, char *addr, size_t len, size_t expect)
{
	static struct page_region vec[SCAN_VEC];
	struct pm_scan_arg arg = {
		.size = sizeof(arg),
		.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
		.start = (unsigned long)addr,
		.end = (unsigned long)addr + len,
		.vec = (unsigned long)vec,
		.vec_len = scan_vec_len,
		.category_mask = scan_categories(mode),
		.return_mask = PAGE_IS_WRITTEN,
	};
	size_t found = 0;
	long n, i;

	while (arg.start < arg.end) {
		n = ioctl(pagemap, PAGEMAP_SCAN, &arg);
		if (n < 0)
			return -1;
		for (i = 0; i < n; i++)
			found += vec[i].end - vec[i].start;
		if (arg.walk_end <= arg.start) {
			fprintf(stderr, "rearm: PAGEMAP_SCAN made no progress\n");
			return -1;
		}
		arg.start = arg.walk_end;
	}
	if (found / sysconf(_SC_PAGESIZE) != expect) {
		fprintf(stderr, "rearm: scan found %zu pages written, not %zu\n",
			found / sysconf(_SC_PAGESIZE), expect);
		return -1;
	}
	return 0;
}

/* Sorts @ms. */
static void report(size_t mib, size_t ranges, const char *label, const char *part,
		   double *ms, int reps)
{
	qsort(ms, reps, sizeof(*ms), cmp_double);
	printf("rearm %zu MiB, %zu ranges, %s%s: ms min %.3f median %.3f max %.3f\n",
	       mib, ranges, label, part, ms[0], ms[reps / 2], ms[reps - 1]);
}

int main(int argc, char **argv)
{
	size_t mib, stride, pages, i, n = 0;
	long psz = sysconf(_SC_PAGESIZE);
	struct iovec *iov, all;
	int reps, r, fd, pagemap = -1, gap_ms;
	const char *gap;
	enum mode mode;
	char label[64];
	bool uffd;
	double *ms;
	char *p;

	if (argc < 4) {
		fprintf(stderr, "usage: rearm MIB STRIDE REPS [MODE [VEC]]\n"
			"  MODE: watch (default), uffd-wp, scan-watch, scan-uffd\n");
		return 2;
	}
	if (parse_mode("rearm", argc, argv, &mode))
		return 2;
	if (argc > 5) {
		scan_vec_len = strtoul(argv[5], NULL, 0);
		if (mode < SCAN_WATCH || !scan_vec_len || scan_vec_len > SCAN_VEC) {
			fprintf(stderr, "rearm: VEC is for the scan modes, 1 to %d regions\n",
				SCAN_VEC);
			return 2;
		}
	}
	uffd = mode == UFFD_WP || mode == SCAN_UFFD;
	mib = strtoul(argv[1], NULL, 0);
	stride = strtoul(argv[2], NULL, 0) ?: 1;
	reps = atoi(argv[3]);
	gap = getenv("MICRO_GAP_MS");
	gap_ms = gap ? atoi(gap) : 0;
	pages = (mib << 20) / psz;
	p = mmap(NULL, pages * psz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	iov = calloc(pages / stride + 1, sizeof(*iov));
	ms = calloc(reps ?: 1, sizeof(*ms));
	if (p == MAP_FAILED || !iov || !ms || reps < 1) {
		fprintf(stderr, "rearm: out of memory or bad arguments\n");
		return 1;
	}
	madvise(p, pages * psz, MADV_NOHUGEPAGE);
	memset(p, 1, pages * psz);
	for (i = 0; i < pages; i += stride) {
		iov[n].iov_base = p + i * psz;
		iov[n].iov_len = psz;
		n++;
	}
	if (uffd) {
		fd = uffd_open(p, pages * psz);
		if (fd < 0) {
			perror("rearm: userfaultfd write-protect");
			return 1;
		}
	} else {
		fd = syscall(SYS_pidfd_open, getpid(), 0);
		all.iov_base = p;
		all.iov_len = pages * psz;
		if (fd < 0 || syscall(SYS_process_madvise, fd, &all, 1, MADV_WATCH, 0) < 0) {
			perror("rearm: watch");
			return 1;
		}
	}
	if (mode >= SCAN_WATCH) {
		pagemap = open("/proc/self/pagemap", O_RDONLY);
		/* the first scan finds every page written since the mark */
		for (i = 0; i < pages; i++)
			((volatile char *)p)[i * psz]++;
		if (pagemap < 0 || scan_rearm(pagemap, mode, p, pages * psz, pages)) {
			perror("rearm: PAGEMAP_SCAN");
			return 1;
		}
	}
	for (r = 0; r < reps; r++) {
		double t0;
		int err;

		if (gap_ms > 0)
			usleep(gap_ms * 1000);
		for (i = 0; i < n; i++)
			((volatile char *)iov[i].iov_base)[0]++;
		t0 = now_ns();
		switch (mode) {
		case WATCH:
			err = madvise_rearm(fd, iov, n);
			break;
		case UFFD_WP:
			err = uffd_rearm(fd, iov, n);
			break;
		default:
			err = scan_rearm(pagemap, mode, p, pages * psz, n);
			break;
		}
		if (err) {
			perror(mode_names[mode]);
			return 1;
		}
		ms[r] = (now_ns() - t0) / 1e6;
	}
	if (argc > 5)
		snprintf(label, sizeof(label), "%s, vectors of %zu", mode_names[mode],
			 scan_vec_len);
	else
		snprintf(label, sizeof(label), "%s", mode_names[mode]);
	if (gap_ms > 0)
		snprintf(label + strlen(label), sizeof(label) - strlen(label),
			 ", %d ms idle before", gap_ms);
	/* TCG's steady state: the first repetitions may run faster */
	if (reps >= 16)
		report(mib, n, label, ", last half", ms + reps / 2, reps - reps / 2);
	report(mib, n, label, "", ms, reps);
	return 0;
}
