// SPDX-License-Identifier: GPL-2.0-only
/*
 * A seeded random target for the vmtrack dump test: threads that keep
 * changing their memory in every way the dump must follow, until killed.
 *
 *   dump-target [-s SEED] [-m MIB] [-T THREADS] [-u USEC] [-f FILE]
 *
 * Writes to a stable heap-like region without a lock (all threads at once),
 * and under a lock: writes to dynamic regions, MADV_DONTNEED, mremap (grow
 * and move), munmap, new anonymous mappings (some with MADV_HUGEPAGE),
 * COW writes to a private file mapping of FILE. -u is the pause between
 * operations of each thread. Prints "ready" on stdout once set up.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MAX_REGIONS	32
#define PG		4096UL

struct region {
	char	*p;
	size_t	len;
	bool	file;
};

static struct region regions[MAX_REGIONS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *stable;
static size_t stable_len;
static unsigned long pause_us = 200;
static const char *file_path;

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

static void scribble(char *p, size_t len, uint64_t *s)
{
	size_t n = 1 + next(s) % 64, i;

	for (i = 0; i < n && len; i++) {
		size_t off = next(s) % len;

		p[off] = (char)next(s);
	}
}

static void *map_anon(size_t len, uint64_t *s)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	if (next(s) % 4 == 0)
		madvise(p, len, MADV_HUGEPAGE);
	return p;
}

static void *map_file(size_t *len)
{
	int fd = open(file_path, O_RDONLY);
	off_t size;
	void *p;

	if (fd < 0)
		die(file_path);
	size = lseek(fd, 0, SEEK_END);
	*len = size / PG * PG;
	if (*len > 256 * PG)
		*len = 256 * PG;
	if (!*len)
		die("file too small");
	p = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		die("mmap file");
	close(fd);
	return p;
}

/* one operation on the dynamic regions, under the lock */
static void dynamic_op(uint64_t *s)
{
	struct region *r = &regions[next(s) % MAX_REGIONS];
	unsigned int op = next(s) % 100;
	size_t len, off;
	void *np;

	if (!r->p) {
		if (file_path && next(s) % 5 == 0) {
			r->p = map_file(&r->len);
			r->file = true;
		} else {
			r->len = (1 + next(s) % 512) * PG;
			r->p = map_anon(r->len, s);
			r->file = false;
		}
		scribble(r->p, r->len, s);
		return;
	}
	if (op < 70) {
		/* a burst of writes to a few pages */
		len = (1 + next(s) % 8) * PG;
		off = next(s) % (r->len / PG) * PG;
		scribble(r->p + off, len < r->len - off ? len : r->len - off, s);
	} else if (op < 80) {
		off = next(s) % (r->len / PG) * PG;
		len = (1 + next(s) % 16) * PG;
		madvise(r->p + off, len < r->len - off ? len : r->len - off, MADV_DONTNEED);
	} else if (op < 88 && !r->file) {
		len = r->len + (1 + next(s) % 64) * PG;
		np = mremap(r->p, r->len, len, MREMAP_MAYMOVE);
		if (np == MAP_FAILED && errno == EFAULT) {
			/*
			 * The region is no longer one mapping: something split
			 * it. Say so (the test reports it) and go on.
			 */
			printf("mremap EFAULT: %p-%p split\n", r->p, r->p + r->len);
			fflush(stdout);
			return;
		}
		if (np == MAP_FAILED)
			die("mremap");
		r->p = np;
		r->len = len;
		scribble(r->p + len - PG, PG, s);
	} else if (op < 94) {
		/* unmap a part or the whole */
		if (r->len > 2 * PG && next(s) % 2) {
			munmap(r->p + r->len / PG / 2 * PG, r->len - r->len / PG / 2 * PG);
			r->len = r->len / PG / 2 * PG;
		} else {
			munmap(r->p, r->len);
			r->p = NULL;
		}
	} else {
		/* replace: unmap and map anew (often at the same address) */
		munmap(r->p, r->len);
		r->len = (1 + next(s) % 256) * PG;
		r->p = map_anon(r->len, s);
		r->file = false;
		scribble(r->p, r->len, s);
	}
}

static void *worker(void *arg)
{
	uint64_t s = (uintptr_t)arg;

	for (;;) {
		if (next(&s) % 2) {
			/* stable region, no lock: threads write at the same time */
			size_t off = next(&s) % (stable_len / PG) * PG;

			scribble(stable + off, PG, &s);
		} else {
			pthread_mutex_lock(&lock);
			dynamic_op(&s);
			pthread_mutex_unlock(&lock);
		}
		if (pause_us)
			usleep(next(&s) % (2 * pause_us + 1));
	}
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned long seed = 1, mib = 32, threads = 2, i;
	pthread_t tid;
	uint64_t s;
	int c;

	while ((c = getopt(argc, argv, "s:m:T:u:f:")) != -1) {
		switch (c) {
		case 's':
			seed = strtoul(optarg, NULL, 0);
			break;
		case 'm':
			mib = strtoul(optarg, NULL, 0);
			break;
		case 'T':
			threads = strtoul(optarg, NULL, 0);
			break;
		case 'u':
			pause_us = strtoul(optarg, NULL, 0);
			break;
		case 'f':
			file_path = optarg;
			break;
		default:
			fprintf(stderr, "usage: %s [-s SEED] [-m MIB] [-T THREADS] [-u USEC] [-f FILE]\n",
				argv[0]);
			return 2;
		}
	}
	s = seed * 0x9e3779b97f4a7c15ULL + 1;
	stable_len = mib << 20;
	stable = map_anon(stable_len, &s);
	/* touch most of it, leave some never written */
	for (i = 0; i < stable_len; i += PG)
		if (next(&s) % 8)
			stable[i] = (char)next(&s);
	pthread_mutex_lock(&lock);
	for (i = 0; i < MAX_REGIONS / 2; i++)
		dynamic_op(&s);
	pthread_mutex_unlock(&lock);
	for (i = 1; i < threads; i++)
		if (pthread_create(&tid, NULL, worker, (void *)(uintptr_t)(next(&s) | 1)))
			die("pthread_create");
	printf("ready\n");
	fflush(stdout);
	worker((void *)(uintptr_t)(next(&s) | 1));
	return 0;
}
