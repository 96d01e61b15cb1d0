// SPDX-License-Identifier: GPL-2.0
/*
 * first-write: the cost of the first write to a tracked page, one tracking
 * setup at a time (bench/micro/guest.sh sets up the tracefs instance).
 *
 *   first-write MODE PAGES STRIDE REPS [TRACE_FILE [LABEL]]
 *
 * MODE "soft-dirty" arms with clear_refs 4, "watch" with MADV_WATCH. Every
 * STRIDE-th page of PAGES pages is written once per repetition; prints the
 * nanoseconds per write of each repetition. TRACE_FILE (an instance's
 * "trace") is truncated before each repetition, so that every event goes
 * into an emptied buffer rather than being dropped by a full one. LABEL
 * names the line (default: MODE).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_WATCH
#define MADV_WATCH	26
#endif

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int arm(const char *mode, char *p, size_t len)
{
	int fd, ret;

	if (!strcmp(mode, "watch"))
		return madvise(p, len, MADV_WATCH);
	fd = open("/proc/self/clear_refs", O_WRONLY);
	if (fd < 0)
		return -1;
	ret = write(fd, "4", 1) == 1 ? 0 : -1;
	close(fd);
	return ret;
}

static void empty_buffer(const char *trace)
{
	int fd;

	if (!trace)
		return;
	fd = open(trace, O_WRONLY | O_TRUNC);
	if (fd >= 0)
		close(fd);
}

int main(int argc, char **argv)
{
	size_t pages, stride, len, i, n;
	const char *mode, *trace;
	long psz = sysconf(_SC_PAGESIZE);
	int reps, r;
	char *p;

	if (argc < 5 || (strcmp(argv[1], "soft-dirty") && strcmp(argv[1], "watch"))) {
		fprintf(stderr, "usage: first-write soft-dirty|watch PAGES STRIDE REPS "
			"[TRACE_FILE [LABEL]]\n");
		return 2;
	}
	mode = argv[1];
	pages = strtoul(argv[2], NULL, 0);
	stride = strtoul(argv[3], NULL, 0) ?: 1;
	reps = atoi(argv[4]);
	trace = argc > 5 ? argv[5] : NULL;
	len = pages * psz;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("first-write: mmap");
		return 1;
	}
	madvise(p, len, MADV_NOHUGEPAGE);
	memset(p, 1, len);
	n = (pages + stride - 1) / stride;
	printf("%s ns/write:", argc > 6 ? argv[6] : mode);
	for (r = 0; r < reps; r++) {
		double t0;

		empty_buffer(trace);
		if (arm(mode, p, len)) {
			fprintf(stderr, "first-write: arm: %s\n", strerror(errno));
			return 1;
		}
		t0 = now_ns();
		for (i = 0; i < pages; i += stride)
			((volatile char *)p)[i * psz]++;
		printf(" %.0f", (now_ns() - t0) / n);
	}
	printf("\n");
	return 0;
}
