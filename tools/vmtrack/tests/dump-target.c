// SPDX-License-Identifier: GPL-2.0-only
/*
 * A seeded random target for the vmtrack dump test: threads that keep
 * changing their memory in every way the dump must follow, until killed.
 *
 *   dump-target [-s SEED] [-m MIB] [-T THREADS] [-u USEC] [-f FILE] [-N PAGES] [-V]
 *
 * Writes to a stable heap-like region without a lock (all threads at once),
 * and under a lock: writes to dynamic regions, MADV_DONTNEED, MADV_FREE
 * (then discarded by MADV_PAGEOUT, or written again), mprotect() read-only
 * or inaccessible and back, read() of FILE into a region (the kernel
 * writes), mremap (grow and move), munmap, a new mapping over a part
 * (MAP_FIXED), fork (the child writes its copy and exits), new anonymous
 * mappings (some with MADV_HUGEPAGE), COW writes to a private file mapping
 * of FILE, and the program break moved as malloc() moves it (grown with a
 * header written on its first new page, written, trimmed). -u is the pause
 * between operations of each thread. -N: the pages (default 16) of a mapping
 * written once and then left PROT_NONE, as a garbage collector or a JIT
 * leaves one: a checkpoint must keep its data though neither the target nor
 * process_vm_readv() can read it ("hidden START-END" on stdout). Prints
 * "ready" on stdout once set up.
 * With -V, SIGUSR1 starts a process that shares the memory (clone(CLONE_VM)
 * without CLONE_THREAD) and writes it, and prints "sharer PID".
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_REGIONS	32
#define PG		4096UL

struct region {
	char	*p;
	size_t	len;
	bool	file;
	bool	mixed;	/* more than one mapping: mremap() would fail */
};

static struct region regions[MAX_REGIONS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *stable;
static size_t stable_len;
static unsigned long pause_us = 200;
static const char *file_path;
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

/* a random part of @r: at most @max_pages pages from a page boundary */
static size_t pick(const struct region *r, size_t max_pages, size_t *len, uint64_t *s)
{
	size_t off = next(s) % (r->len / PG) * PG;

	*len = (1 + next(s) % max_pages) * PG;
	if (*len > r->len - off)
		*len = r->len - off;
	return off;
}

/* lazily freed pages: discarded at once (they read as zero), or kept by a write */
static void lazy_free(struct region *r, uint64_t *s)
{
	size_t len, off = pick(r, 16, &len, s);

	if (madvise(r->p + off, len, MADV_FREE))
		die("madvise(MADV_FREE)");
	if (next(s) % 2)
		madvise(r->p + off, len, MADV_PAGEOUT);
	else
		scribble(r->p + off, PG, s);
}

/* a mapping that holds data and is left PROT_NONE */
static void map_hidden(size_t len, uint64_t *s)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t i;

	if (p == MAP_FAILED)
		die("mmap");
	for (i = 0; i < len; i += PG)
		memset(p + i, (int)(next(s) | 1), PG);
	if (mprotect(p, len, PROT_NONE))
		die("mprotect");
	printf("hidden %lx-%lx\n", (unsigned long)p, (unsigned long)p + len);
}

/* a part made read-only or inaccessible and writable again: split, merged */
static void protect_toggle(struct region *r, uint64_t *s)
{
	size_t len, off = pick(r, 32, &len, s);
	int prot = next(s) % 2 ? PROT_READ : PROT_NONE;

	if (mprotect(r->p + off, len, prot))
		die("mprotect");
	if (mprotect(r->p + off, len, PROT_READ | PROT_WRITE))
		die("mprotect");
	scribble(r->p + off, len, s);
}

/* the kernel writes the pages: read() of the file into the region */
static void read_into(struct region *r, uint64_t *s)
{
	size_t len, off = pick(r, 8, &len, s);

	if (pread(file_fd, r->p + off, len, (off_t)(next(s) % 64) * PG) < 0)
		die("pread");
}

/* a new zero-filled mapping over a part of the region */
static void map_over(struct region *r, uint64_t *s)
{
	size_t len, off = pick(r, 16, &len, s);

	if (mmap(r->p + off, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
		die("mmap(MAP_FIXED)");
	r->mixed = true;
	if (next(s) % 2)
		scribble(r->p + off, len, s);
}

/* the child writes its copy of the region and exits; the parent's stays */
static void fork_write(struct region *r, uint64_t *s)
{
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		memset(r->p, 0x5a, r->len);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		die("fork child");
	scribble(r->p, r->len, s);
}

static void grow(struct region *r, uint64_t *s)
{
	size_t len = r->len + (1 + next(s) % 64) * PG;
	void *np;

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
}

static void create(struct region *r, uint64_t *s)
{
	r->mixed = false;
	if (file_path && next(s) % 5 == 0) {
		r->p = map_file(&r->len);
		r->file = true;
	} else {
		r->len = (1 + next(s) % 512) * PG;
		r->p = map_anon(r->len, s);
		r->file = false;
	}
	scribble(r->p, r->len, s);
}

/*
 * The program break, moved the way malloc() moves it: grown with only a chunk
 * header written (calloc() relies on the rest reading as zero), written,
 * trimmed, grown again over the same addresses. Left alone once the C library
 * has moved it (its own heap would be above ours).
 */
#define BRK_MAX_PAGES	512

static char *brk_base;
static size_t brk_len;

static void brk_init(void)
{
	/* the C library's heap first: its small allocations stay below ours */
	void *libc_heap = malloc(1);
	char *cur = sbrk(0);
	size_t pad = -(uintptr_t)cur & (PG - 1);

	if (!libc_heap || cur == (void *)-1 || sbrk(pad) == (void *)-1)
		return;
	brk_base = cur + pad;
}

static void brk_op(uint64_t *s)
{
	size_t n;

	if (!brk_base || sbrk(0) != brk_base + brk_len)
		return;
	if (brk_len && next(s) % 3 == 0) {
		n = 1 + next(s) % (brk_len / PG);
		if (sbrk(-(intptr_t)(n * PG)) != (void *)-1)
			brk_len -= n * PG;
	} else if (brk_len < BRK_MAX_PAGES * PG && next(s) % 2) {
		n = 1 + next(s) % 64;
		if (sbrk(n * PG) == (void *)-1)
			return;
		brk_base[brk_len] = (char)(next(s) | 1);
		brk_len += n * PG;
	} else if (brk_len) {
		scribble(brk_base + next(s) % (brk_len / PG) * PG, PG, s);
	}
}

/* one operation on the dynamic regions, under the lock */
static void dynamic_op(uint64_t *s)
{
	struct region *r = &regions[next(s) % MAX_REGIONS];
	unsigned int op = next(s) % 100;
	size_t len, off;

	if (!r->p) {
		create(r, s);
		return;
	}
	if (op < 6) {
		brk_op(s);
	} else if (op < 60) {
		/* a burst of writes to a few pages */
		off = pick(r, 8, &len, s);
		scribble(r->p + off, len, s);
	} else if (op < 68) {
		off = pick(r, 16, &len, s);
		madvise(r->p + off, len, MADV_DONTNEED);
	} else if (op < 72 && !r->file) {
		lazy_free(r, s);
	} else if (op < 76) {
		protect_toggle(r, s);
	} else if (op < 79 && file_path) {
		read_into(r, s);
	} else if (op < 86 && !r->file && !r->mixed) {
		grow(r, s);
	} else if (op < 91) {
		/* unmap a part or the whole */
		if (r->len > 2 * PG && next(s) % 2) {
			munmap(r->p + r->len / PG / 2 * PG, r->len - r->len / PG / 2 * PG);
			r->len = r->len / PG / 2 * PG;
		} else {
			munmap(r->p, r->len);
			r->p = NULL;
		}
	} else if (op < 94) {
		map_over(r, s);
	} else if (op < 95) {
		fork_write(r, s);
	} else {
		/* replace: unmap and map anew (often at the same address) */
		munmap(r->p, r->len);
		r->len = (1 + next(s) % 256) * PG;
		r->p = map_anon(r->len, s);
		r->file = false;
		r->mixed = false;
		scribble(r->p, r->len, s);
	}
}

static char sharer_stack[64 * 1024] __attribute__((aligned(16)));

/* a process that writes the stable region from outside the thread group */
static int sharer(void *arg)
{
	uint64_t s = (uintptr_t)arg;

	for (;;) {
		scribble(stable + next(&s) % (stable_len / PG) * PG, PG, &s);
		usleep(pause_us);
	}
	return 0;
}

/* -V: SIGUSR1 (blocked in every thread) starts the sharer */
static void *share_on_signal(void *arg)
{
	sigset_t *set = arg;
	pid_t pid;
	int sig;

	if (sigwait(set, &sig))
		die("sigwait");
	pid = clone(sharer, sharer_stack + sizeof(sharer_stack), CLONE_VM | SIGCHLD,
		    (void *)(uintptr_t)0x5eed);
	if (pid < 0)
		die("clone");
	printf("sharer %d\n", (int)pid);
	fflush(stdout);
	return NULL;
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
	unsigned long seed = 1, mib = 32, threads = 2, hidden_pages = 16, i;
	static sigset_t usr1;
	bool share = false;
	pthread_t tid;
	uint64_t s;
	int c;

	while ((c = getopt(argc, argv, "s:m:T:u:f:N:V")) != -1) {
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
		case 'N':
			hidden_pages = strtoul(optarg, NULL, 0);
			break;
		case 'V':
			share = true;
			break;
		default:
			fprintf(stderr,
				"usage: %s [-s SEED] [-m MIB] [-T THREADS] [-u USEC] [-f FILE] [-N PAGES] [-V]\n",
				argv[0]);
			return 2;
		}
	}
	if (file_path) {
		file_fd = open(file_path, O_RDONLY);
		if (file_fd < 0)
			die(file_path);
	}
	s = seed * 0x9e3779b97f4a7c15ULL + 1;
	brk_init();
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
	if (hidden_pages)
		map_hidden(hidden_pages * PG, &s);
	if (share) {
		sigemptyset(&usr1);
		sigaddset(&usr1, SIGUSR1);
		if (pthread_sigmask(SIG_BLOCK, &usr1, NULL) ||
		    pthread_create(&tid, NULL, share_on_signal, &usr1))
			die("sharer thread");
	}
	for (i = 1; i < threads; i++)
		if (pthread_create(&tid, NULL, worker, (void *)(uintptr_t)(next(&s) | 1)))
			die("pthread_create");
	printf("ready\n");
	fflush(stdout);
	worker((void *)(uintptr_t)(next(&s) | 1));
	return 0;
}
