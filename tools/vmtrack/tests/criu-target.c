// SPDX-License-Identifier: GPL-2.0-only
/*
 * A target that can tell whether its memory survived a checkpoint: every
 * page it owns holds a pattern derived from (page, version), and the table
 * of versions lives in its own memory too. A restore that brings back a
 * page older or newer than the table (a write that a pre-copy missed) shows
 * up as a page that does not match its version.
 *
 *   criu-target [-m MIB] [-f FILE] [-u USEC] [-s SEED] [-S | -F] -o OUT
 *
 * Memory: an anonymous region of MIB MiB, a heap (malloc) region of a
 * quarter of it, and a private mapping of FILE (its untouched pages are the
 * file's, written ones are COW copies); with -S also a shared anonymous
 * region of a quarter of it. Loop: pick a page, bump its
 * version, write its pattern; now and then MADV_DONTNEED a few anonymous
 * pages (version 0: zero). -u is the pause between writes (default 50).
 *
 * SIGUSR1: check every page against the table, append "verified N pages
 * after S steps" or "MISMATCH ..." to OUT, and go on. SIGTERM: exit 0.
 * Prints "ready" on stdout once every page has been written once.
 *
 * -F: a process tree. Once every page is written, fork a child that goes on
 * with its own copy of the memory and of the table, another seed, and
 * OUT.child as its OUT; "child PID" is printed before "ready".
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define PG	4096UL

enum area { ANON, HEAP, FILEMAP, SHARED, NR_AREAS };

struct region {
	unsigned char	*p;
	size_t		pages;
	uint32_t	*version;
};

static struct region regions[NR_AREAS];
static volatile sig_atomic_t check_requested, stop_requested;
static int file_fd = -1;

static uint64_t next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void die(const char *what)
{
	perror(what);
	exit(2);
}

/* the contents of page @pg of @area at @version (0: the original) */
static void pattern(unsigned char *buf, int area, size_t pg, uint32_t version)
{
	uint64_t s = 0x9e3779b97f4a7c15ULL ^ version;
	size_t i;

	s ^= ((uint64_t)area << 56) ^ ((uint64_t)pg << 24);
	for (i = 0; i < PG; i += sizeof(s)) {
		next(&s);
		memcpy(buf + i, &s, sizeof(s));
	}
}

static void expected(unsigned char *buf, int area, size_t pg, uint32_t version)
{
	if (version) {
		pattern(buf, area, pg, version);
	} else if (area == FILEMAP) {
		if (pread(file_fd, buf, PG, pg * PG) != (ssize_t)PG)
			die("pread");
	} else {
		memset(buf, 0, PG);
	}
}

static void write_page(int area, size_t pg)
{
	struct region *r = &regions[area];
	uint32_t v = r->version[pg] + 1;

	/* the page first, then the table: both are in the checkpoint */
	pattern(r->p + pg * PG, area, pg, v);
	r->version[pg] = v;
}

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		check_requested = 1;
	else
		stop_requested = 1;
}

static void check_all(FILE *out, unsigned long steps)
{
	unsigned char want[PG];
	size_t pg, n = 0;
	int area;

	for (area = 0; area < NR_AREAS; area++) {
		struct region *r = &regions[area];

		for (pg = 0; pg < r->pages; pg++, n++) {
			expected(want, area, pg, r->version[pg]);
			if (memcmp(want, r->p + pg * PG, PG)) {
				fprintf(out,
					"MISMATCH area %d page %zu version %u after %lu steps\n",
					area, pg, r->version[pg], steps);
				fflush(out);
				return;
			}
		}
	}
	fprintf(out, "verified %zu pages after %lu steps\n", n, steps);
	fflush(out);
}

static void setup(size_t mib, const char *file, bool shared)
{
	size_t anon = mib * 256, heap = anon / 4 ?: 1;
	struct stat st;
	int area;

	regions[ANON].pages = anon;
	regions[ANON].p = mmap(NULL, anon * PG, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (regions[ANON].p == MAP_FAILED)
		die("mmap");
	regions[HEAP].pages = heap;
	regions[HEAP].p = aligned_alloc(PG, heap * PG);
	if (!regions[HEAP].p)
		die("aligned_alloc");
	memset(regions[HEAP].p, 0, heap * PG);
	file_fd = open(file, O_RDONLY);
	if (file_fd < 0 || fstat(file_fd, &st))
		die(file);
	regions[FILEMAP].pages = st.st_size / PG;
	regions[FILEMAP].p = mmap(NULL, regions[FILEMAP].pages * PG, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE, file_fd, 0);
	if (regions[FILEMAP].p == MAP_FAILED)
		die("mmap file");
	if (shared) {
		regions[SHARED].pages = heap;
		regions[SHARED].p = mmap(NULL, heap * PG, PROT_READ | PROT_WRITE,
					 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (regions[SHARED].p == MAP_FAILED)
			die("mmap shared");
	}
	for (area = 0; area < NR_AREAS; area++) {
		regions[area].version = calloc(regions[area].pages ?: 1, sizeof(uint32_t));
		if (!regions[area].version)
			die("calloc");
	}
}

/* -F: the child, with OUT.child and another seed; returns its pid, or 0 in it */
static pid_t fork_child(const char *out_path, FILE **out, uint64_t *seed)
{
	char path[4096];
	pid_t child;

	fflush(stdout);
	fflush(*out);
	child = fork();
	if (child < 0)
		die("fork");
	if (child)
		return child;
	snprintf(path, sizeof(path), "%s.child", out_path);
	fclose(*out);
	*out = fopen(path, "a");
	if (!*out)
		die(path);
	*seed ^= 0x5deece66dULL;	/* its own writes, not the parent's */
	*seed = *seed ?: 1;
	return 0;
}

int main(int argc, char **argv)
{
	const char *file = "/proc/self/exe", *out_path = NULL;
	unsigned long pause_us = 50, steps = 0;
	uint64_t seed = 1;
	size_t mib = 8, pg;
	struct sigaction sa = { .sa_handler = on_signal };
	bool shared = false, tree = false;
	FILE *out;
	pid_t child;
	int opt, area;

	while ((opt = getopt(argc, argv, "m:f:u:o:s:SF")) != -1) {
		switch (opt) {
		case 'm':
			mib = strtoul(optarg, NULL, 0);
			break;
		case 'f':
			file = optarg;
			break;
		case 'u':
			pause_us = strtoul(optarg, NULL, 0);
			break;
		case 'o':
			out_path = optarg;
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0) ?: 1;
			break;
		case 'S':
			shared = true;
			break;
		case 'F':
			tree = true;
			break;
		default:
			out_path = NULL;
			optind = argc;
			break;
		}
	}
	/* a shared region written by two processes has no one table */
	if (!out_path || !mib || (shared && tree)) {
		fprintf(stderr,
			"usage: criu-target [-m MIB] [-f FILE] [-u USEC] [-s SEED] [-S | -F] -o OUT\n");
		return 2;
	}
	out = fopen(out_path, "a");
	if (!out)
		die(out_path);
	setup(mib, file, shared);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	for (area = 0; area < NR_AREAS; area++)
		for (pg = 0; pg < regions[area].pages; pg++)
			write_page(area, pg);
	/* the child is quiet: the parent says "ready" for both */
	child = tree ? fork_child(out_path, &out, &seed) : -1;
	if (child) {
		if (tree)
			printf("child %d\n", (int)child);
		printf("ready\n");
	}
	fflush(stdout);
	while (!stop_requested) {
		do
			area = next(&seed) % NR_AREAS;
		while (!regions[area].pages);
		pg = next(&seed) % regions[area].pages;
		if (area == ANON && next(&seed) % 64 == 0) {
			size_t n = 1 + next(&seed) % 8;

			n = pg + n > regions[ANON].pages ? regions[ANON].pages - pg : n;
			madvise(regions[ANON].p + pg * PG, n * PG, MADV_DONTNEED);
			memset(&regions[ANON].version[pg], 0, n * sizeof(uint32_t));
		} else {
			write_page(area, pg);
		}
		steps++;
		if (check_requested) {
			check_requested = 0;
			check_all(out, steps);
		}
		if (pause_us)
			usleep(pause_us);
	}
	return 0;
}
