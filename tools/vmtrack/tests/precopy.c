// SPDX-License-Identifier: GPL-2.0-only
/*
 * Ground-truth check of libvmtrack in the loop of a pre-copy tool, with the
 * target running between epochs:
 *
 *   watch all, copy everything once into a shadow image (process_vm_readv),
 *   repeat: epoch (read events, re-arm), copy the dirty pages,
 *   freeze the target, final epoch, copy the dirty pages,
 *   compare the shadow with a snapshot of the frozen target, page by page.
 *
 * Any page that differs, or that the frozen target has and the shadow does
 * not (but for anonymous pages of zeroes, which a restore gives alike), is a
 * page the dirty sets missed. The target is this program run with
 * --workload: a seeded random mix of writes from several threads, malloc and
 * free churn, mmap/munmap/MAP_FIXED/mremap at the same addresses again and
 * again, MADV_DONTNEED, MADV_FREE with MADV_PAGEOUT, mprotect() to read-only
 * and back, pages written by the kernel (read() from a pipe,
 * process_vm_writev(), /proc/self/mem into a read-only mapping), children
 * that write their copy-on-write copies, THP-sized regions and short-lived
 * threads; or, with -W, writes only.
 *
 *   precopy [-s SEED] [-n SEEDS] [-e EPOCHS] [-i MS] [-b KB] [-t TARGETS] [-L]
 *	     [-d MODE] [-R] [-B N] [-W] [-w] [-K] [-U] [-X] [-v]
 *
 *   -s	first seed (default 1)		-n  number of seeds (default 10)
 *   -e	epochs before the final one (12)	-i  interval between epochs in ms (50)
 *   -b	ring buffer KiB per CPU (0: sized by the library)
 *   -t	targets watched at once, one session each, in this one process
 *   -L	the buffer is meant to overflow: require at least one loss epoch
 *	(default: require none, every epoch must be exact)
 *   -d	dense epochs (vmtrack_session_set_dense()): auto (the library's
 *	choice, the default), never, always (from the second epoch on), or
 *	cycle (enter, leave, and an epoch with events only, in turn); never,
 *	always and cycle require that the epochs were what they ask
 *   -R	the kernel re-arms in the sweep: with dense epochs, some must have
 *	found and re-armed the written pages in one walk
 *   -W	the workload only writes (no mapping changes, no zaps, no threads
 *	come or go): a dense epoch's re-arming sweep then finds every dirty
 *	page itself, and with -B hands them out batch by batch
 *   -B	hand out each epoch's dirty ranges in batches of at most N
 *	(vmtrack_session_set_batch()), each copied as it comes while the
 *	target runs; some epochs must have come in more than one
 *   -w	watch only the writable mappings (VMTRACK_F_WRITABLE_ONLY): with
 *	events only (-d never) the kernel's events still reach the pages of
 *	mappings made read-only, which stay tracked
 *   -K	the kernel moves the target's pages too: swapped out (to a zram
 *	device this sets up) and read back, migrated between NUMA nodes
 *	(move_pages(), and NUMA balancing's hinting faults), merged by KSM
 *	and unmerged by writes, while the epochs run; some pages must have
 *	been swapped out and migrated (boot with numa=fake=2)
 *   -U	the target also uses userfaultfd's WP_ASYNC, as a garbage
 *	collector's card marking does: a thread registers mappings of its own
 *	(one before the watch, the others while it runs), each between two it
 *	leaves to the consumer, writes pages of all three, and checks that its
 *	own PAGEMAP_SCAN, over the three as a collector's scan of its heap,
 *	reports each page of its own written since its last scan; the kernel
 *	ends the watch of what it registers, the consumer's sweeps must leave
 *	its protection alone, and its scans the consumer's watch
 *   -X	a scripted target instead (one thread, no seed): one change of its
 *	mappings per step, each followed by an epoch and a comparison of
 *	its mappings, then the final epoch; the changes a random mix
 *	reaches only when an epoch falls inside a window of a few
 *	instructions: mappings replaced, created or written and made
 *	read-only, a read-only one replaced in place (-e is ignored)
 *
 * Prints TAP lines; exits 0 when every seed passed.
 *
 *   precopy --hold PID	trace PID until killed (a tracer in the way of a freeze)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/mempolicy.h>
#include <linux/userfaultfd.h>

#include "../lib/pagemap-scan.h"
#include "vmtrack.h"
#include "smaps.h"
#include "threads.h"

#define MAX_TARGETS	8
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define PAGE		4096UL

/* ---- the workload ------------------------------------------------------ */

#define W_THREADS	3
#define W_SLOTS		12		/* per thread */
#define W_SLOT_PAGES	8
#define W_ALLOCS	48
#define W_THP		(4UL << 20)
#define W_GLOBAL_PAGES	256
#define W_STREAM	(16UL << 20)	/* per thread, -W */

static char w_global[W_GLOBAL_PAGES * PAGE] __attribute__((aligned(4096)));

struct slot {
	char	*home;		/* the address this slot keeps coming back to */
	char	*addr;		/* where it is mapped now, NULL: unmapped */
	size_t	len;
};

struct wthread {
	uint64_t	rng;
	struct slot	slot[W_SLOTS];
	void		*alloc[W_ALLOCS];
	size_t		alloc_len[W_ALLOCS];
	char		*thp;
	/* -W: written a page after the other, most pages only once */
	char		*stream;
	size_t		stream_next;
	int		pipe[2];
	/* -K: pages of a few patterns, for KSM to merge */
	char		*ksm;
};

static uint64_t rnd(uint64_t *s)
{
	/* xorshift64* */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static void scribble(uint64_t *rng, char *p, size_t len)
{
	size_t pages = len / PAGE, n = 1 + rnd(rng) % (pages < 4 ? pages : 4), i;

	for (i = 0; i < n; i++) {
		uint64_t v = rnd(rng);
		size_t pg = v % pages, off = (v >> 32) % (PAGE / 8);

		((volatile uint64_t *)(p + pg * PAGE))[off] = v;
	}
}

static void slot_map(struct wthread *t, struct slot *s)
{
	size_t len = (1 + rnd(&t->rng) % W_SLOT_PAGES) * PAGE;
	int how = rnd(&t->rng) % 3;
	void *p;

	if (how == 0) {			/* plain mmap with a hint: often the same place */
		p = mmap(s->home, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
	} else {			/* exactly there, unless someone else took it */
		p = mmap(s->home, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	}
	if (p == MAP_FAILED)
		return;
	s->addr = p;
	s->len = len;
	scribble(&t->rng, p, len);
}

/* move slot @s onto the home of slot @d (unmapped, reserved first) */
static void slot_move(struct wthread *t, struct slot *s, struct slot *d)
{
	void *r, *p;

	r = mmap(d->home, s->len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (r == MAP_FAILED)
		return;
	p = mremap(s->addr, s->len, s->len, MREMAP_MAYMOVE | MREMAP_FIXED, r);
	if (p == MAP_FAILED) {
		munmap(r, s->len);
		return;
	}
	d->addr = p;
	d->len = s->len;
	s->addr = NULL;
	scribble(&t->rng, p, d->len);
}

static int w_self_mem = -1;	/* /proc/self/mem: writes with FOLL_FORCE */

/* a page of the slot changed by the kernel, not by a store of the target */
static void slot_kernel_write(struct wthread *t, struct slot *s, uint64_t how)
{
	char *page = s->addr + (rnd(&t->rng) % (s->len / PAGE)) * PAGE;
	uint64_t v = rnd(&t->rng);
	struct iovec local = { &v, sizeof(v) };
	struct iovec remote = { page + (v >> 40) % (PAGE / 8) * 8, sizeof(v) };

	switch (how) {
	case 0:		/* copy_to_user() */
		if (write(t->pipe[1], &v, sizeof(v)) == sizeof(v) &&
		    read(t->pipe[0], remote.iov_base, sizeof(v)) != sizeof(v))
			abort();
		break;
	case 1:		/* a remote write through GUP */
		process_vm_writev(getpid(), &local, 1, &remote, 1, 0);
		break;
	default:	/* FOLL_FORCE into a read-only mapping, as ptrace does */
		if (mprotect(s->addr, s->len, PROT_READ))
			break;
		if (w_self_mem >= 0)
			pwrite(w_self_mem, &v, sizeof(v), (off_t)(uintptr_t)remote.iov_base);
		mprotect(s->addr, s->len, PROT_READ | PROT_WRITE);
		break;
	}
}

/* a child that writes its copies of the slot and the globals, then exits */
static void slot_fork(struct wthread *t, struct slot *s)
{
	pid_t pid = fork();

	if (pid == 0) {
		scribble(&t->rng, s->addr, s->len);
		w_global[rnd(&t->rng) % sizeof(w_global)] = 3;
		_exit(0);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
	scribble(&t->rng, s->addr, s->len);
}

static void slot_op(struct wthread *t)
{
	struct slot *s = &t->slot[rnd(&t->rng) % W_SLOTS], *d;
	uint64_t op = rnd(&t->rng) % 16;
	size_t pg;

	if (!s->addr) {
		slot_map(t, s);
		return;
	}
	switch (op) {
	case 0:
	case 1:
		munmap(s->addr, s->len);
		s->addr = NULL;
		if (op == 1)		/* and map it again at once */
			slot_map(t, s);
		break;
	case 2:				/* replace it in place */
		if (mmap(s->addr, s->len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED)
			scribble(&t->rng, s->addr, s->len);
		break;
	case 3:
		pg = rnd(&t->rng) % (s->len / PAGE);
		madvise(s->addr + pg * PAGE, PAGE, MADV_DONTNEED);
		break;
	case 4:
		d = &t->slot[rnd(&t->rng) % W_SLOTS];
		if (!d->addr && d != s)
			slot_move(t, s, d);
		break;
	case 5:				/* shrink, or grow in place */
		if (s->len > PAGE && (rnd(&t->rng) & 1)) {
			if (mremap(s->addr, s->len, s->len - PAGE, 0) != MAP_FAILED)
				s->len -= PAGE;
		} else if (s->len < W_SLOT_PAGES * PAGE &&
			   mremap(s->addr, s->len, s->len + PAGE, 0) != MAP_FAILED) {
			s->len += PAGE;
			scribble(&t->rng, s->addr, s->len);
		}
		break;
	case 6:				/* read-only for a moment, then written */
		if (!mprotect(s->addr, s->len, PROT_READ))
			mprotect(s->addr, s->len, PROT_READ | PROT_WRITE);
		scribble(&t->rng, s->addr, s->len);
		break;
	case 7:				/* freed lazily, discarded, maybe written */
		pg = rnd(&t->rng) % (s->len / PAGE);
		madvise(s->addr + pg * PAGE, PAGE, MADV_FREE);
		madvise(s->addr + pg * PAGE, PAGE, MADV_PAGEOUT);
		if (rnd(&t->rng) & 1)
			scribble(&t->rng, s->addr, s->len);
		break;
	case 8:
	case 9:
	case 10:
		slot_kernel_write(t, s, op - 8);
		break;
	case 11:
		/*
		 * Rare, as in real programs: a fork write-protects every page,
		 * so each page written again after it faults again, and the
		 * buffers, sized for one fault per page and epoch, overflow.
		 */
		if (!(rnd(&t->rng) % 64))
			slot_fork(t, s);
		break;
	default:
		scribble(&t->rng, s->addr, s->len);
		break;
	}
}

static void alloc_op(struct wthread *t)
{
	int i = rnd(&t->rng) % W_ALLOCS;
	size_t len;
	char *p;

	if (t->alloc[i]) {
		if (rnd(&t->rng) & 1) {
			free(t->alloc[i]);
			t->alloc[i] = NULL;
			return;
		}
		p = t->alloc[i];
		len = t->alloc_len[i];
		p[rnd(&t->rng) % len] = (char)rnd(&t->rng);
		return;
	}
	/* 16 bytes to 1 MiB, log-uniform: big ones are mmap()ed by malloc */
	len = 16UL << (rnd(&t->rng) % 17);
	len += rnd(&t->rng) % len;
	p = malloc(len);
	if (!p)
		return;
	memset(p, (int)rnd(&t->rng), len < 8192 ? len : 8192);
	p[len - 1] = 1;
	t->alloc[i] = p;
	t->alloc_len[i] = len;
}

static char *thp_map(char *hint)
{
	char *p = mmap(hint, W_THP + (2UL << 20), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | (hint ? MAP_FIXED_NOREPLACE : 0), -1, 0);
	uintptr_t a;

	if (p == MAP_FAILED)
		return NULL;
	if (hint)
		return p;
	/* keep a 2 MiB aligned 4 MiB region, give the rest back */
	a = ((uintptr_t)p + (2UL << 20) - 1) & ~((2UL << 20) - 1);
	if (a > (uintptr_t)p)
		munmap(p, a - (uintptr_t)p);
	munmap((char *)a + W_THP, (uintptr_t)p + W_THP + (2UL << 20) - a - W_THP);
	madvise((char *)a, W_THP, MADV_HUGEPAGE);
	return (char *)a;
}

static void thp_op(struct wthread *t)
{
	uint64_t op = rnd(&t->rng) % 16;
	char *old = t->thp;

	if (!old)
		return;
	if (op == 0) {
		madvise(old + (rnd(&t->rng) & 1) * (2UL << 20), 2UL << 20, MADV_DONTNEED);
	} else if (op == 1) {
		/* the whole region unmapped and mapped again at the same place */
		munmap(old, W_THP);
		t->thp = mmap(old, W_THP, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (t->thp == MAP_FAILED) {
			t->thp = NULL;
			return;
		}
		madvise(t->thp, W_THP, MADV_HUGEPAGE);
	} else {
		/* a whole huge page at once, or a few bytes */
		size_t off = (rnd(&t->rng) % (W_THP / PAGE)) * PAGE;

		if (op == 2)
			memset(t->thp + (off & ~((2UL << 20) - 1)), (int)op, 2UL << 20);
		else
			t->thp[off + rnd(&t->rng) % PAGE] = (char)rnd(&t->rng);
	}
}

/* -K: the kernel moves the pages under the target, which keeps writing */
static bool w_kernel_moves;
/* pages moved to the node asked, KSM pages rewritten: the harness reads them */
static uint64_t w_moves[2];

#define W_KSM_PAGES	16

/* 1-4 pages from @p on to the other NUMA node (each where it is now ^ 1) */
static void pages_migrate(struct wthread *t, char *p, size_t len)
{
	size_t pages = len / PAGE, n = 1 + rnd(&t->rng) % 4, i;
	void *addr[4];
	int node[4], status[4];

	for (i = 0; i < n; i++)
		addr[i] = p + (rnd(&t->rng) % pages) * PAGE;
	if (syscall(SYS_move_pages, 0, n, addr, NULL, status, 0))
		return;
	for (i = 0; i < n; i++)
		node[i] = status[i] < 0 ? 0 : status[i] ^ 1;
	if (syscall(SYS_move_pages, 0, n, addr, node, status, MPOL_MF_MOVE) < 0)
		return;
	for (i = 0; i < n; i++)
		if (status[i] == node[i])
			__atomic_fetch_add(&w_moves[0], 1, __ATOMIC_RELAXED);
}

static void kernel_op(struct wthread *t)
{
	struct slot *s = &t->slot[rnd(&t->rng) % W_SLOTS];
	uint64_t op = rnd(&t->rng) % 6;
	char *p = s->addr;
	size_t len = s->len;

	if (!p || op == 5) {		/* the globals, shared by the threads */
		p = w_global;
		len = sizeof(w_global);
	}
	switch (op) {
	case 0:				/* swapped out, written or not */
		madvise(p, len, MADV_PAGEOUT);
		if (rnd(&t->rng) & 1)
			scribble(&t->rng, p, len);
		break;
	case 1:				/* read back: swapped in read-only */
		(void)((volatile char *)p)[(rnd(&t->rng) % (len / PAGE)) * PAGE];
		break;
	case 2:
		if (t->thp && (rnd(&t->rng) & 1))
			pages_migrate(t, t->thp, W_THP);
		else
			pages_migrate(t, p, len);
		break;
	case 3:				/* a page of the KSM region gets another pattern */
		if (!t->ksm)
			break;
		memset(t->ksm + (rnd(&t->rng) % W_KSM_PAGES) * PAGE,
		       0x40 + (int)(rnd(&t->rng) % 2), PAGE);
		__atomic_fetch_add(&w_moves[1], 1, __ATOMIC_RELAXED);
		break;
	default:
		madvise(p, len, MADV_COLD);
		pages_migrate(t, p, len);
		break;
	}
}

static void *short_thread(void *arg)
{
	volatile char stack[3 * PAGE];
	uint64_t *rng = arg;

	stack[rnd(rng) % sizeof(stack)] = 1;
	w_global[rnd(rng) % sizeof(w_global)] = 2;
	return NULL;
}

/* -W: writes to the slots (all mapped), the THPs, the stream and the global array */
static bool w_writes_only;

static void write_op(struct wthread *t, uint64_t op)
{
	struct slot *s = &t->slot[rnd(&t->rng) % W_SLOTS];

	if (op < 20 && s->addr)
		scribble(&t->rng, s->addr, s->len);
	else if (op < 30 && t->thp)
		t->thp[rnd(&t->rng) % W_THP] = (char)op;
	else if (op < 80 && t->stream)
		t->stream[t->stream_next++ * PAGE % W_STREAM] = (char)op;
	else
		w_global[rnd(&t->rng) % sizeof(w_global)] = (char)op;
}

static void *worker(void *arg)
{
	struct wthread *t = arg;
	unsigned long n;

	for (n = 0;; n++) {
		uint64_t op = rnd(&t->rng) % 100;

		if (w_writes_only) {
			write_op(t, op);
		} else if (w_kernel_moves && op < 8) {
			kernel_op(t);
		} else if (op < 40) {
			slot_op(t);
		} else if (op < 65) {
			alloc_op(t);
		} else if (op < 75) {
			thp_op(t);
		} else if (op < 99) {
			w_global[rnd(&t->rng) % sizeof(w_global)] = (char)op;
		} else {
			pthread_t th;
			uint64_t r = rnd(&t->rng);

			if (!pthread_create(&th, NULL, short_thread, &r))
				pthread_join(th, NULL);
		}
		if (!(n % 32))
			usleep(rnd(&t->rng) % 300);
	}
	return NULL;
}

/* -U: card marking with userfaultfd's WP_ASYNC, checked by the target itself */
#ifndef UFFD_FEATURE_WP_ASYNC		/* Linux 6.7 */
#define UFFD_FEATURE_WP_UNPOPULATED	(1 << 13)
#define UFFD_FEATURE_WP_ASYNC		(1 << 15)
#endif
#define CARD_PAGES	64
#define CARD_ROUNDS	32

/*
 * CARD_PAGES registered, between two runs of CARD_PAGES that are not, each
 * run between PROT_NONE pages: a new mapping in the middle merges with
 * neither, nor do the outer runs with a mapping that comes next to them
 * (which would make their every page read as written).
 */
#define CARD_SPAN	(3 * CARD_PAGES + 4)
#define card_run(c, k)	((c)->span + (1 + (k) * (CARD_PAGES + 1)) * PAGE)

struct card {
	uint64_t	rng;
	char		*span;
	char		*p;
	int		uffd;
	int		pagemap;
};

static void card_fail(const char *what, long n)
{
	fprintf(stderr, "precopy: card marking: %s (%ld)\n", what, n);
	_exit(5);
}

/*
 * Its own scan, of the whole span: the pages of its own written since the
 * last, write-protected again. The VMAs it did not register are skipped,
 * as any VMA that is not WP_ASYNC: a watch must not change that.
 */
static uint64_t card_scan(struct card *c)
{
	struct page_region regions[CARD_SPAN];
	struct pm_scan_arg arg = {
		.size = sizeof(arg),
		.flags = PM_SCAN_WP_MATCHING,
		.start = (uintptr_t)c->span,
		.end = (uintptr_t)c->span + CARD_SPAN * PAGE,
		.vec = (uintptr_t)regions,
		.vec_len = CARD_SPAN,
		.category_mask = PAGE_IS_WRITTEN,
		.return_mask = PAGE_IS_WRITTEN,
	};
	uint64_t found = 0, a;
	long nr, i;

	nr = ioctl(c->pagemap, PAGEMAP_SCAN, &arg);
	if (nr < 0)
		card_fail("PAGEMAP_SCAN failed", -errno);
	for (i = 0; i < nr; i++)
		for (a = regions[i].start; a < regions[i].end; a += PAGE)
			if (a - (uintptr_t)c->p < CARD_PAGES * PAGE)
				found |= 1ULL << ((a - (uintptr_t)c->p) / PAGE);
	return found;
}

/*
 * A new span, or a new middle in place (the runs around it live on, as a
 * heap does), written whole and registered: every page reads written.
 */
static void card_map(struct card *c)
{
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED,
	};
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_WP };
	uint64_t found;
	int i;

	if (!c->span) {
		c->span = mmap(NULL, CARD_SPAN * PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (c->span == MAP_FAILED)
			card_fail("mmap failed", -errno);
		memset(c->span, 0x5a, CARD_SPAN * PAGE);
		c->p = card_run(c, 1);
		/* the PROT_NONE pages: before the first run, and after each */
		if (mprotect(c->span, PAGE, PROT_NONE))
			card_fail("mprotect failed", -errno);
		for (i = 0; i < 3; i++)
			if (mprotect(card_run(c, i) + CARD_PAGES * PAGE, PAGE, PROT_NONE))
				card_fail("mprotect failed", -errno);
	} else {
		if (mmap(c->p, CARD_PAGES * PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
			card_fail("mmap failed", -errno);
		memset(c->p, 0x5a, CARD_PAGES * PAGE);
	}
	c->uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (c->uffd < 0 || ioctl(c->uffd, UFFDIO_API, &api))
		card_fail("no userfaultfd WP_ASYNC", -errno);
	reg.range.start = (uintptr_t)c->p;
	reg.range.len = CARD_PAGES * PAGE;
	if (ioctl(c->uffd, UFFDIO_REGISTER, &reg))
		card_fail("UFFDIO_REGISTER failed", -errno);
	found = card_scan(c);
	if (found != ~0ULL)
		card_fail("written pages not reported after the register", (long)~found);
}

static void *card_thread(void *arg)
{
	struct card *c = arg;
	char *low = card_run(c, 0), *high = card_run(c, 2);
	uint64_t written, found, below, above;
	unsigned int cycle = 0;
	int round, i;

	for (;;) {
		/*
		 * The runs around it are the consumer's, each page written at
		 * most once a cycle: a scan of its own that took the page's
		 * written bit would hide the write until the next.
		 */
		cycle++;
		below = rnd(&c->rng) & rnd(&c->rng);
		above = rnd(&c->rng) & rnd(&c->rng);
		for (round = 0; round < CARD_ROUNDS; round++) {
			written = rnd(&c->rng) & rnd(&c->rng);
			for (i = 0; i < CARD_PAGES; i++) {
				if (written & (1ULL << i))
					c->p[i * PAGE + round] = (char)round;
				if (i % CARD_ROUNDS != round)
					continue;
				if (below & (1ULL << i))
					low[i * PAGE] = (char)cycle;
				if (above & (1ULL << i))
					high[i * PAGE] = (char)cycle;
			}
			usleep(rnd(&c->rng) % 2000);
			found = card_scan(c);
			if (written & ~found)
				card_fail("pages written since the last scan not reported",
					  (long)__builtin_ctzll(written & ~found));
		}
		close(c->uffd);
		card_map(c);
	}
	return NULL;
}

/* -K: each page one of two patterns, mergeable */
static char *ksm_map(void)
{
	char *p = mmap(NULL, W_KSM_PAGES * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t i;

	if (p == MAP_FAILED)
		return NULL;
	for (i = 0; i < W_KSM_PAGES; i++)
		memset(p + i * PAGE, 0x40 + (int)(i % 2), PAGE);
	madvise(p, W_KSM_PAGES * PAGE, MADV_MERGEABLE);
	return p;
}

static int workload(uint64_t seed, int ready_fd, const char *mode)
{
	bool writes_only = mode && !strcmp(mode, "writes");
	static struct wthread wt[W_THREADS];
	static struct card card;
	size_t span = W_THREADS * W_SLOTS * W_SLOT_PAGES * PAGE * 2;
	pthread_t th;
	char *base, ready[32];
	int i, j, len;

	/* learn a free area for the slots' homes, then leave it free */
	base = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		return 2;
	munmap(base, span);
	for (i = 0; i < W_THREADS; i++) {
		wt[i].rng = seed * 1000003ULL + i * 7919ULL + 1;
		for (j = 0; j < W_SLOTS; j++)
			wt[i].slot[j].home = base + ((size_t)i * W_SLOTS + j) * 2 *
					     W_SLOT_PAGES * PAGE;
		wt[i].thp = thp_map(NULL);
		if (pipe(wt[i].pipe))
			return 2;
		for (j = 0; writes_only && j < W_SLOTS; j++)
			slot_map(&wt[i], &wt[i].slot[j]);
		if (writes_only)
			wt[i].stream = mmap(NULL, W_STREAM, PROT_READ | PROT_WRITE,
					    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (wt[i].stream == MAP_FAILED)
			return 2;
		if (mode && !strcmp(mode, "kernel"))
			wt[i].ksm = ksm_map();
	}
	w_writes_only = writes_only;
	w_kernel_moves = mode && !strcmp(mode, "kernel");
	w_self_mem = open("/proc/self/mem", O_RDWR);
	for (i = 0; i < W_THREADS; i++)
		if (pthread_create(&th, NULL, worker, &wt[i]))
			return 2;
	if (mode && !strcmp(mode, "uffd")) {
		/* the first mapping is registered before the watch */
		card.rng = seed * 31 + 17;
		card.pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
		if (card.pagemap < 0)
			return 2;
		card_map(&card);
		if (pthread_create(&th, NULL, card_thread, &card))
			return 2;
	}
	/* ready, and where the counters of -K are */
	len = snprintf(ready, sizeof(ready), "r%016llx", (unsigned long long)(uintptr_t)w_moves);
	if (write(ready_fd, ready, len) != len)
		return 2;
	close(ready_fd);
	for (;;)
		pause();
}

/* ---- the scripted target (-X) -------------------------------------------- */

/*
 * One thread, one change of the mappings per step, each followed by an
 * epoch: what the random mix reaches only when an epoch or the freeze
 * falls inside a short window (a mapping read-only for a moment), made to
 * last. Mappings in one area, apart so that none merges with another:
 * A written whole, R, S and Q written and made read-only before the
 * watch, P a PROT_NONE reservation.
 */
#define X_PAGES		64
#define X_A		0		/* page offsets in the area */
#define X_N		16
#define X_R		32
#define X_S		40
#define X_Q		48
#define X_P		56

static const char * const x_steps[] = {
	"a mapping replaced, written in part, made read-only",
	"a mapping created, written, made read-only",
	"a read-only mapping written through /proc/self/mem",
	"another made writable, written, made read-only",
	"a read-only mapping replaced by a read-only one of the same size",
	"the first made writable again and written",
	"a PROT_NONE reservation made writable in part, written",
};

static char *x_map(char *base, size_t page, size_t pages, int prot)
{
	char *p = mmap(base + page * PAGE, pages * PAGE, prot,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* every page a different non-zero pattern, then @prot */
static char *x_map_filled(char *base, size_t page, size_t pages, int prot)
{
	char *p = x_map(base, page, pages, PROT_READ | PROT_WRITE);
	size_t i;

	if (!p)
		return NULL;
	for (i = 0; i < pages; i++)
		memset(p + i * PAGE, (int)(page + i) | 0x80, PAGE);
	if (prot != (PROT_READ | PROT_WRITE) && mprotect(p, pages * PAGE, prot))
		return NULL;
	return p;
}

static int x_step(char *base, int self_mem, unsigned int step)
{
	char *a = base + X_A * PAGE, *r = base + X_R * PAGE, *t = base + X_S * PAGE;
	uint64_t v = 0x5eed0000 + step;

	switch (step) {
	case 0:
		if (munmap(a, 6 * PAGE) || !x_map(base, X_A, 6, PROT_READ | PROT_WRITE))
			return -1;
		a[0] = 1;
		return mprotect(a, 6 * PAGE, PROT_READ);
	case 1:
		return x_map_filled(base, X_N, 3, PROT_READ) ? 0 : -1;
	case 2:
		return pwrite(self_mem, &v, sizeof(v), (off_t)(uintptr_t)(r + PAGE + 8)) ==
		       sizeof(v) ? 0 : -1;
	case 3:
		if (mprotect(t, 4 * PAGE, PROT_READ | PROT_WRITE))
			return -1;
		t[2 * PAGE + 16] = 2;
		return mprotect(t, 4 * PAGE, PROT_READ);
	case 4:
		if (munmap(base + X_Q * PAGE, 4 * PAGE))
			return -1;
		return x_map(base, X_Q, 4, PROT_READ) ? 0 : -1;
	case 5:
		if (mprotect(a, 6 * PAGE, PROT_READ | PROT_WRITE))
			return -1;
		a[3 * PAGE] = 3;
		return 0;
	case 6:
		if (mprotect(base + X_P * PAGE, PAGE, PROT_READ | PROT_WRITE))
			return -1;
		base[X_P * PAGE + 24] = 4;
		return 0;
	}
	return -1;
}

/* the target of -X: reports its area, then runs each step it is sent */
static int script_target(int cmd_fd, int ack_fd)
{
	char *base = mmap(NULL, X_PAGES * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t addr = (uintptr_t)base;
	int self_mem = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
	unsigned char step, ack;

	if (base == MAP_FAILED || munmap(base, X_PAGES * PAGE) || self_mem < 0 ||
	    !x_map_filled(base, X_A, 6, PROT_READ | PROT_WRITE) ||
	    !x_map_filled(base, X_R, 4, PROT_READ) || !x_map_filled(base, X_S, 4, PROT_READ) ||
	    !x_map_filled(base, X_Q, 4, PROT_READ) ||
	    !x_map(base, X_P, 4, PROT_NONE))
		return 2;
	if (write(ack_fd, &addr, sizeof(addr)) != sizeof(addr))
		return 2;
	while (read(cmd_fd, &step, 1) == 1) {
		ack = x_step(base, self_mem, step) ? 0xff : step;
		if (write(ack_fd, &ack, 1) != 1)
			return 2;
	}
	for (;;)
		pause();
}

/* ---- the shadow image ------------------------------------------------- */

/*
 * Page address -> copy, open addressing. A page found unreadable by a later
 * copy loses its data (it is no longer known), the key stays.
 */
struct shadow {
	uint64_t	*key;		/* address + 1, 0: empty slot */
	char		**data;		/* a page, then the epoch it was copied after */
	size_t		cap;
	size_t		used;
	uint64_t	epoch;		/* the epoch copies are taken after now */
};

static size_t sh_hash(uint64_t a, size_t cap)
{
	return (size_t)((a >> 12) * 11400714819323198485ULL >> 20) & (cap - 1);
}

static char **sh_slot(struct shadow *sh, uint64_t addr, bool add);

static void sh_grow(struct shadow *sh)
{
	struct shadow n = { .cap = sh->cap ? sh->cap * 2 : 1 << 16, .epoch = sh->epoch };
	size_t i;

	n.key = calloc(n.cap, sizeof(*n.key));
	n.data = calloc(n.cap, sizeof(*n.data));
	if (!n.key || !n.data) {
		perror("shadow");
		exit(2);
	}
	for (i = 0; i < sh->cap; i++)
		if (sh->key[i])
			*sh_slot(&n, sh->key[i] - 1, true) = sh->data[i];
	free(sh->key);
	free(sh->data);
	*sh = n;
}

static char **sh_slot(struct shadow *sh, uint64_t addr, bool add)
{
	size_t i;

	if (add && (sh->used + 1) * 2 > sh->cap)
		sh_grow(sh);
	if (!sh->cap)
		return NULL;
	for (i = sh_hash(addr, sh->cap);; i = (i + 1) & (sh->cap - 1)) {
		if (sh->key[i] == addr + 1)
			return &sh->data[i];
		if (!sh->key[i])
			break;
	}
	if (!add)
		return NULL;
	sh->key[i] = addr + 1;
	sh->used++;
	return &sh->data[i];
}

static void sh_store(struct shadow *sh, uint64_t addr, const char *page)
{
	char **d = sh_slot(sh, addr, true);

	if (!*d) {
		*d = malloc(PAGE + sizeof(sh->epoch));
		if (!*d) {
			perror("shadow");
			exit(2);
		}
	}
	memcpy(*d, page, PAGE);
	memcpy(*d + PAGE, &sh->epoch, sizeof(sh->epoch));
}

static void sh_forget(struct shadow *sh, uint64_t addr)
{
	char **d = sh_slot(sh, addr, false);

	if (d && *d) {
		free(*d);
		*d = NULL;
	}
}

static void sh_free(struct shadow *sh)
{
	size_t i;

	for (i = 0; i < sh->cap; i++)
		free(sh->data[i]);
	free(sh->key);
	free(sh->data);
	memset(sh, 0, sizeof(*sh));
}

/* ---- copying ------------------------------------------------------------ */

#define CHUNK	(256 * PAGE)
static char chunk[CHUNK];

static ssize_t peek(pid_t pid, uint64_t addr, size_t len)
{
	struct iovec l = { chunk, len }, r = { (void *)(uintptr_t)addr, len };

	return process_vm_readv(pid, &l, 1, &r, 1, 0);
}

/*
 * Copy [start, end) into the shadow, in bounded chunks; pages that cannot be
 * read (unmapped meanwhile, PROT_NONE) are forgotten.
 * Return: pages copied, or -1 if the target is gone.
 */
static long copy_range(struct shadow *sh, pid_t pid, uint64_t start, uint64_t end)
{
	uint64_t a = start;
	long pages = 0;

	while (a < end) {
		size_t len = end - a < CHUNK ? end - a : CHUNK, i;
		ssize_t n = peek(pid, a, len);

		if (n < 0 && errno == ESRCH)
			return -1;
		if (n < 0)
			n = 0;
		for (i = 0; i < (size_t)n / PAGE; i++)
			sh_store(sh, a + i * PAGE, chunk + i * PAGE);
		pages += n / PAGE;
		if ((size_t)n == len) {
			a += len;
			continue;
		}
		/* the page it stopped at: unreadable now */
		a += (n / PAGE) * PAGE;
		if (peek(pid, a, PAGE) == (ssize_t)PAGE) {
			sh_store(sh, a, chunk);
			pages++;
		} else {
			sh_forget(sh, a);
		}
		a += PAGE;
	}
	return pages;
}

static bool copyable(const struct vmtrack_mapping *m)
{
	return !m->shared && (m->prot & PROT_READ) && strcmp(m->name, "[vvar]") &&
	       strcmp(m->name, "[vdso]") && strcmp(m->name, "[vsyscall]") &&
	       strncmp(m->name, "[vvar", 5);
}

struct full_ctx {
	struct shadow	*sh;
	pid_t		pid;
	long		pages;
};

static int full_cb(const struct vmtrack_mapping *m, void *data)
{
	struct full_ctx *c = data;
	long n;

	if (!copyable(m))
		return 0;
	n = copy_range(c->sh, c->pid, m->start, m->end);
	if (n < 0)
		return -ESRCH;
	c->pages += n;
	return 0;
}

struct cmp_ctx {
	struct shadow	*sh;
	pid_t		pid;
	long		pages;
	long		diff;
	long		unknown;
	long		zeroes;
	int		verbose;
	/* the part of the address space compared */
	uint64_t	lo;
	uint64_t	hi;
};

static void cmp_report(struct cmp_ctx *c, const char *what, uint64_t a,
		       const struct vmtrack_mapping *m)
{
	if (c->diff + c->unknown <= 8)
		printf("#   %s page %#llx in %llx-%llx %s\n", what, (unsigned long long)a,
		       (unsigned long long)m->start, (unsigned long long)m->end,
		       m->name[0] ? m->name : "[anon]");
}

/* the frozen target's pagemap entry of @a: bit 63 present, 55 soft-dirty */
static uint64_t pagemap_entry(pid_t pid, uint64_t a)
{
	char path[64];
	uint64_t e = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (pread(fd, &e, sizeof(e), a / PAGE * sizeof(e)) != sizeof(e))
		e = 0;
	close(fd);
	return e;
}

/* for a page that differs, what may tell how its change was missed */
static void cmp_detail(struct cmp_ctx *c, uint64_t a, const char *copy, const char *page)
{
	uint64_t epoch, e = pagemap_entry(c->pid, a), was, now;
	size_t off = 0;

	if (c->diff > 8)
		return;
	while (off < PAGE && copy[off] == page[off])
		off++;
	off &= ~(size_t)7;
	memcpy(&epoch, copy + PAGE, sizeof(epoch));
	memcpy(&was, copy + off, sizeof(was));
	memcpy(&now, page + off, sizeof(now));
	printf("#     copied after epoch %llu; first difference at +%#zx: %#llx, now %#llx; "
	       "present %d, soft-dirty %d\n", (unsigned long long)epoch, off,
	       (unsigned long long)was, (unsigned long long)now, (int)(e >> 63),
	       (int)(e >> 55 & 1));
}

static bool all_zero(const char *p)
{
	size_t i;

	for (i = 0; i < PAGE; i++)
		if (p[i])
			return false;
	return true;
}

/*
 * A page never copied is unknown, unless it is an anonymous page of zeroes:
 * a restore gives the same (as in dumpcheck). A mapping found read-only or
 * PROT_NONE, tracked clean, and made readable later has such pages.
 */
static void cmp_page(struct cmp_ctx *c, uint64_t a, const char *page,
		     const struct vmtrack_mapping *m)
{
	char **d = sh_slot(c->sh, a, false);

	c->pages++;
	if ((!d || !*d) && m->name[0] != '/' && all_zero(page)) {
		c->zeroes++;
	} else if (!d || !*d) {
		c->unknown++;
		cmp_report(c, "unknown", a, m);
	} else if (memcmp(*d, page, PAGE)) {
		c->diff++;
		cmp_report(c, "differs", a, m);
		cmp_detail(c, a, *d, page);
	}
}

static int cmp_cb(const struct vmtrack_mapping *m, void *data)
{
	struct cmp_ctx *c = data;
	uint64_t a = m->start > c->lo ? m->start : c->lo;
	uint64_t end = m->end < c->hi ? m->end : c->hi;

	if (!copyable(m))
		return 0;
	while (a < end) {
		size_t len = end - a < CHUNK ? end - a : CHUNK, i;
		ssize_t n = peek(c->pid, a, len);

		if (n < 0)
			n = 0;
		for (i = 0; i < (size_t)n / PAGE; i++)
			cmp_page(c, a + i * PAGE, chunk + i * PAGE, m);
		if ((size_t)n == len) {
			a += len;
			continue;
		}
		/* the page it stopped at is not readable (beyond the end of a file) */
		a += (n / PAGE + 1) * PAGE;
	}
	return 0;
}

/* compare [@lo, @hi) of the target @pid with the shadow */
static int compare(struct cmp_ctx *c, struct shadow *sh, pid_t pid, uint64_t lo, uint64_t hi,
		   int verbose)
{
	memset(c, 0, sizeof(*c));
	c->sh = sh;
	c->pid = pid;
	c->verbose = verbose;
	c->lo = lo;
	c->hi = hi;
	return vmtrack_maps_walk(pid, cmp_cb, c);
}

/* ---- the consumer ------------------------------------------------------ */

enum dense_mode { DENSE_AUTO, DENSE_NEVER, DENSE_ALWAYS, DENSE_CYCLE };

struct opts {
	uint64_t	seed;
	int		seeds;
	int		epochs;
	int		interval_ms;
	size_t		buffer_kb;
	int		targets;
	bool		want_loss;
	bool		splice;		/* VMTRACK_F_NO_MAP */
	bool		writable_only;	/* VMTRACK_F_WRITABLE_ONLY */
	bool		scripted;	/* -X */
	bool		want_rearm;
	bool		writes_only;
	bool		kernel_moves;	/* -K */
	bool		uffd;		/* -U */
	size_t		batch;
	enum dense_mode	dense;
	int		verbose;
	const char	*self;
};

struct target {
	pid_t			pid;
	/* the workload's counters of -K (w_moves) */
	uint64_t		moves_addr;
	/* -X: steps sent, acknowledged; the target's area */
	int			cmd_fd;
	int			ack_fd;
	uint64_t		area;
	struct vmtrack_session	*s;
	struct shadow		sh;
	long			copied;
	uint64_t		dirty;
	uint64_t		new_pages;
	uint64_t		rearm_failed;
	int			loss_epochs;
	int			epochs;
	int			dense_epochs;
	/* dense epochs whose sweep re-armed the written pages */
	int			rearmed_epochs;
	/* epochs with events only that follow a dense one */
	int			left_dense;
	bool			was_dense;
	/* epochs handed out in more than one batch */
	int			batched_epochs;
	size_t			batch;
	/* the last epoch's counters (its ranges are gone) */
	struct vmtrack_epoch	last;
};

static pid_t spawn_random(const char *self, uint64_t seed, const char *mode,
			  uint64_t *moves_addr)
{
	char s[32], f[16], ready[32];
	int fds[2];
	ssize_t n;
	pid_t pid;

	if (pipe(fds))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		close(fds[0]);
		snprintf(s, sizeof(s), "%llu", (unsigned long long)seed);
		snprintf(f, sizeof(f), "%d", fds[1]);
		execl(self, self, "--workload", s, f, mode, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	n = read(fds[0], ready, sizeof(ready) - 1);
	close(fds[0]);
	if (n < 1 || ready[0] != 'r') {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	ready[n] = 0;
	*moves_addr = strtoull(ready + 1, NULL, 16);
	return pid;
}

/* the scripted target: its pipes stay open, its area is its first word */
static pid_t spawn_script(const char *self, struct target *t)
{
	int cmd[2], ack[2];
	char c[16], a[16];
	pid_t pid;

	if (pipe2(cmd, O_CLOEXEC))
		return -1;
	if (pipe2(ack, O_CLOEXEC)) {
		close(cmd[0]);
		close(cmd[1]);
		return -1;
	}
	pid = fork();
	if (!pid) {
		snprintf(c, sizeof(c), "%d", dup(cmd[0]));
		snprintf(a, sizeof(a), "%d", dup(ack[1]));
		execl(self, self, "--script", c, a, (char *)NULL);
		_exit(127);
	}
	close(cmd[0]);
	close(ack[1]);
	t->cmd_fd = cmd[1];
	t->ack_fd = ack[0];
	if (pid > 0 && read(t->ack_fd, &t->area, sizeof(t->area)) == sizeof(t->area))
		return pid;
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	return -1;
}

static int copy_dirty(struct target *t, const struct vmtrack_epoch *ep)
{
	size_t i;
	long n;

	for (i = 0; i < ep->nr_dirty; i++) {
		uint64_t a = (uintptr_t)ep->dirty[i].iov_base;

		n = copy_range(&t->sh, t->pid, a, a + ep->dirty[i].iov_len);
		if (n < 0)
			return -1;
		t->copied += n;
	}
	return 0;
}

/*
 * The batches after the first, each copied as it comes. The first time,
 * also: a new epoch is refused while ranges are pending, and a batch size
 * changed meanwhile (to all at once) waits for the next epoch.
 */
static int copy_batches(struct target *t, struct vmtrack_epoch *ep)
{
	struct vmtrack_epoch busy;
	int ret;

	t->batched_epochs++;
	if (t->batched_epochs == 1) {
		if (vmtrack_session_epoch(t->s, 0, &busy) != -EBUSY) {
			printf("# a new epoch was not refused while ranges were pending\n");
			return -1;
		}
		vmtrack_session_set_batch(t->s, 0);
	}
	do {
		ret = vmtrack_session_epoch_next(t->s, ep);
		if (ret < 0) {
			printf("# epoch batch: %s\n", vmtrack_session_error(t->s));
			return ret;
		}
		if (copy_dirty(t, ep))
			return -1;
	} while (ret);
	vmtrack_session_set_batch(t->s, t->batch);
	return 0;
}

static int epoch(struct target *t, unsigned int flags)
{
	struct vmtrack_epoch ep;
	int ret;

	ret = vmtrack_session_epoch(t->s, flags, &ep);
	if (ret < 0) {
		printf("# epoch: %s\n", vmtrack_session_error(t->s));
		return ret;
	}
	t->sh.epoch = ep.seq;
	/* copied first: its ranges are re-armed, and the next batch's are not yet */
	if (ret && (copy_dirty(t, &ep) || copy_batches(t, &ep)))
		return -1;
	t->epochs++;
	t->last = ep;
	t->dirty += ep.dirty_pages;
	t->new_pages += ep.new_pages;
	t->rearm_failed += ep.rearm_failed;
	t->loss_epochs += !!ep.loss;
	t->dense_epochs += ep.dense;
	t->rearmed_epochs += vmtrack_session_swept_rearmed(t->s);
	t->left_dense += t->was_dense && !ep.dense;
	t->was_dense = ep.dense;
	if (ep.loss)
		printf("# pid %d epoch %llu: loss %#x, %llu events lost, %s\n", (int)t->pid,
		       (unsigned long long)ep.seq, ep.loss, (unsigned long long)ep.lost_events,
		       ep.swept ? "swept" : "all dirty");
	if (ep.target_gone) {
		printf("# target %d gone\n", (int)t->pid);
		return -ESRCH;
	}
	return ret ? 0 : copy_dirty(t, &ep);
}

/* per-CPU ring buffers this process maps (trace_pipe_raw) */
static int mapped_buffers(void)
{
	char line[512];
	int n = 0;
	FILE *f = fopen("/proc/self/maps", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, "/trace_pipe_raw") != NULL;
	fclose(f);
	return n;
}

/*
 * The kernel under test (6.12) maps the buffers: libvmtrack reads them in
 * place, unless asked to splice them (then nothing is mapped).
 */
static int check_reader(const struct opts *o, int before)
{
	int n = mapped_buffers() - before;

	if (o->splice ? n == 0 : n > 0)
		return 0;
	printf("# %d mappings of trace_pipe_raw, expected %s\n", n, o->splice ? "none" : "some");
	return -1;
}

static int start_target(const struct opts *o, struct target *t, uint64_t seed)
{
	struct vmtrack_params vp = {
		.buffer_kb = o->buffer_kb,
		/* the workload maps up to ~200 MiB: no loss with the reader pumping */
		.expected_pages = 65536,
	};
	struct full_ctx fc = { .sh = &t->sh };
	int before = mapped_buffers();
	char err[256];

	t->cmd_fd = -1;
	t->ack_fd = -1;
	t->pid = o->scripted ? spawn_script(o->self, t) :
		 spawn_random(o->self, seed, o->writes_only ? "writes" :
			      o->kernel_moves ? "kernel" : o->uffd ? "uffd" : NULL,
			      &t->moves_addr);
	if (t->pid < 0) {
		printf("# cannot start the workload\n");
		return -1;
	}
	vp.pid = t->pid;
	vp.flags = (o->splice ? VMTRACK_F_NO_MAP : 0) |
		   (o->writable_only ? VMTRACK_F_WRITABLE_ONLY : 0);
	if (vmtrack_session_open(&t->s, &vp, err, sizeof(err))) {
		printf("# session: %s\n", err);
		return -1;
	}
	if (check_reader(o, before))
		return -1;
	if (vmtrack_session_watch_all(t->s)) {
		printf("# watch: %s\n", vmtrack_session_error(t->s));
		return -1;
	}
	t->batch = o->batch;
	vmtrack_session_set_batch(t->s, t->batch);
	/* the first full copy: after the mark, so later writes are events */
	fc.pid = t->pid;
	if (vmtrack_maps_walk(t->pid, full_cb, &fc)) {
		printf("# full copy failed\n");
		return -1;
	}
	t->copied = fc.pages;
	return 0;
}

static void stop_target(struct target *t)
{
	/* thaw first: threads killed while traced would wait for us to reap them */
	vmtrack_session_close(t->s);
	if (t->pid > 0) {
		kill(t->pid, SIGKILL);
		waitpid(t->pid, NULL, 0);
	}
	if (t->cmd_fd > 0)
		close(t->cmd_fd);
	if (t->ack_fd > 0)
		close(t->ack_fd);
	sh_free(&t->sh);
	memset(t, 0, sizeof(*t));
}

static void pump_all(struct target *tg, int n, int ms)
{
	struct timespec ts, end;
	int i;

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_nsec += (long)ms * 1000000L;
	end.tv_sec += end.tv_nsec / 1000000000L;
	end.tv_nsec %= 1000000000L;
	do {
		for (i = 0; i < n; i++)
			vmtrack_session_pump(tg[i].s, -1, n == 1 ? ms : 0);
		if (n > 1)
			usleep(2000);
		clock_gettime(CLOCK_MONOTONIC, &ts);
	} while (ts.tv_sec < end.tv_sec || (ts.tv_sec == end.tv_sec && ts.tv_nsec < end.tv_nsec));
}

struct traced_ctx {
	pid_t	pid;
	int	bad;
};

static void traced_cb(const char *tid, const char *state, void *ctx)
{
	struct traced_ctx *c = ctx;

	if (!state || *state != 't') {
		c->bad++;
		printf("# thread %s of %d not in a ptrace stop: %.40s\n", tid, (int)c->pid,
		       state ? state : "?");
	}
}

/* every thread of @pid in a ptrace stop */
static bool all_traced_stopped(pid_t pid)
{
	struct traced_ctx c = { .pid = pid };

	return scan_threads(pid, traced_cb, &c) > 0 && !c.bad;
}

/* the threshold for the end of epoch @e (from 0) */
static void set_dense(const struct opts *o, struct target *t, int e)
{
	switch (o->dense) {
	case DENSE_AUTO:
		break;
	case DENSE_NEVER:
		vmtrack_session_set_dense(t->s, UINT64_MAX);
		break;
	case DENSE_ALWAYS:
		vmtrack_session_set_dense(t->s, 1);
		break;
	case DENSE_CYCLE:
		/* enter; dense, leave; the sweep after leaving; events only */
		vmtrack_session_set_dense(t->s, e % 3 ? UINT64_MAX : 1);
		break;
	}
}

/* did the epochs follow the mode asked for? */
static bool dense_as_asked(const struct opts *o, const struct target *t)
{
	switch (o->dense) {
	case DENSE_NEVER:
		return !t->dense_epochs;
	case DENSE_ALWAYS:
		return t->dense_epochs == t->epochs - 1;
	case DENSE_CYCLE:
		return t->dense_epochs && (t->left_dense || t->epochs < 5);
	default:
		return true;
	}
}

/*
 * The hand-over of a stopped target (vmtrack dump --track-mem): unwatched
 * while stopped, every mapping; no epoch after that.
 */
static int unwatch_frozen(struct target *t)
{
	struct vmtrack_epoch ep;
	int ret, left;

	ret = vmtrack_session_unwatch(t->s);
	if (ret) {
		printf("# vmtrack_session_unwatch: %s\n", strerror(-ret));
		return ret;
	}
	left = watched_mappings(t->pid);
	if (left < 0) {
		printf("# cannot read /proc/%d/smaps after vmtrack_session_unwatch()\n",
		       (int)t->pid);
		return -1;
	}
	if (left) {
		printf("# %d mappings still watched after vmtrack_session_unwatch()\n", left);
		return -1;
	}
	if (vmtrack_session_epoch(t->s, 0, &ep) != -EINVAL) {
		printf("# an epoch was accepted after vmtrack_session_unwatch()\n");
		return -1;
	}
	return 0;
}

/* the end: freeze, final epoch without re-arm, copy, compare, unwatch */
static int finish_target(const struct opts *o, struct target *t, struct cmp_ctx *c)
{
	struct vmtrack_epoch ep;
	int ret;

	/* the order must be enforced: no re-arm on a running target */
	ret = vmtrack_session_epoch(t->s, VMTRACK_EPOCH_NO_REARM, &ep);
	if (ret != -EINVAL) {
		printf("# VMTRACK_EPOCH_NO_REARM accepted on a running target\n");
		return -1;
	}
	/* the soft-mode trigger goes while the target runs: the end stays exact */
	vmtrack_session_wind_down(t->s);
	ret = vmtrack_session_freeze(t->s);
	if (ret) {
		printf("# freeze: %s\n", vmtrack_session_error(t->s));
		return ret;
	}
	if (!all_traced_stopped(t->pid))
		return -1;
	ret = epoch(t, VMTRACK_EPOCH_NO_REARM);
	if (ret)
		return ret;
	ret = compare(c, &t->sh, t->pid, 0, UINT64_MAX, o->verbose);
	if (ret)
		return ret;
	return unwatch_frozen(t);
}

/* -X: each step, then an epoch, after which the area must equal the copies */
static bool run_steps(const struct opts *o, struct target *t)
{
	unsigned char step, ack;
	struct cmp_ctx c;
	bool ok = true;

	for (step = 0; step < ARRAY_SIZE(x_steps); step++) {
		if (write(t->cmd_fd, &step, 1) != 1 || read(t->ack_fd, &ack, 1) != 1 ||
		    ack != step) {
			printf("# step %u (%s) failed in the target\n", step, x_steps[step]);
			return false;
		}
		set_dense(o, t, step);
		if (epoch(t, 0) ||
		    compare(&c, &t->sh, t->pid, t->area, t->area + X_PAGES * PAGE, o->verbose))
			return false;
		if (o->verbose)
			printf("# step %u: epoch %llu, %s, %llu events, %llu dirty (%llu new)\n",
			       step, (unsigned long long)t->last.seq,
			       t->last.dense ? "dense" : "events",
			       (unsigned long long)t->last.events,
			       (unsigned long long)t->last.dirty_pages,
			       (unsigned long long)t->last.new_pages);
		if (c.diff || c.unknown) {
			printf("# after step %u (%s): %ld pages differ, %ld unknown\n", step,
			       x_steps[step], c.diff, c.unknown);
			ok = false;
		}
	}
	return ok;
}

/* -K: the workloads' counters, and their pages merged, summed over the seeds */
static uint64_t km_moves[2], km_merged;

static void moves_add(const struct target *t)
{
	uint64_t v[2];
	struct iovec local = { v, sizeof(v) };
	struct iovec remote = { (void *)(uintptr_t)t->moves_addr, sizeof(v) };

	char path[64], buf[32];
	int fd;
	ssize_t n;

	if (process_vm_readv(t->pid, &local, 1, &remote, 1, 0) == sizeof(v)) {
		km_moves[0] += v[0];
		km_moves[1] += v[1];
	}
	snprintf(path, sizeof(path), "/proc/%d/ksm_merging_pages", t->pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n > 0) {
		buf[n] = 0;
		km_merged += strtoull(buf, NULL, 10);
	}
}

static bool run_seed(const struct opts *o, uint64_t seed)
{
	struct target tg[MAX_TARGETS] = { 0 };
	struct timespec t0, t1;
	bool ok = true;
	int i, e;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < o->targets; i++)
		if (start_target(o, &tg[i], seed * MAX_TARGETS + i)) {
			ok = false;
			goto out;
		}
	if (o->scripted)
		ok = run_steps(o, &tg[0]);
	for (e = 0; e < o->epochs && ok && !o->scripted; e++) {
		pump_all(tg, o->targets, o->interval_ms);
		for (i = 0; i < o->targets && ok; i++) {
			set_dense(o, &tg[i], e);
			ok = !epoch(&tg[i], 0);
		}
	}
	for (i = 0; i < o->targets && ok; i++) {
		struct cmp_ctx c;

		if (finish_target(o, &tg[i], &c)) {
			ok = false;
			break;
		}
		if (o->kernel_moves)
			moves_add(&tg[i]);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		printf("# seed %llu target %d: %d epochs, %ld pages copied, %llu reported dirty "
		       "(%llu new), %d loss epochs, %d dense (%d left, %d re-armed in the sweep), "
		       "%llu re-arm failures, "
		       "%ld pages compared, %ld differ, %ld unknown, %ld never copied and zero, "
		       "%.1f s\n",
		       (unsigned long long)seed, i, tg[i].epochs, tg[i].copied,
		       (unsigned long long)tg[i].dirty,
		       (unsigned long long)tg[i].new_pages, tg[i].loss_epochs,
		       tg[i].dense_epochs, tg[i].left_dense, tg[i].rearmed_epochs,
		       (unsigned long long)tg[i].rearm_failed, c.pages, c.diff, c.unknown, c.zeroes,
		       t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) / 1e9);
		if (c.diff || c.unknown || !c.pages)
			ok = false;
		if (o->want_rearm && tg[i].dense_epochs > 2 && !tg[i].rearmed_epochs) {
			printf("# seed %llu target %d: no dense epoch re-armed in its sweep\n",
			       (unsigned long long)seed, i);
			ok = false;
		}
		if (o->batch && !tg[i].batched_epochs) {
			printf("# seed %llu target %d: no epoch came in batches\n",
			       (unsigned long long)seed, i);
			ok = false;
		}
		if (!dense_as_asked(o, &tg[i])) {
			printf("# seed %llu target %d: dense epochs not as asked\n",
			       (unsigned long long)seed, i);
			ok = false;
		}
		if (o->want_loss ? !tg[i].loss_epochs : tg[i].loss_epochs) {
			printf("# seed %llu target %d: %d loss epochs, expected %s\n",
			       (unsigned long long)seed, i, tg[i].loss_epochs,
			       o->want_loss ? "some" : "none");
			ok = false;
		}
	}
out:
	for (i = 0; i < o->targets; i++)
		stop_target(&tg[i]);
	return ok;
}

/* trace @pid (as a debugger would) until killed: nobody else can freeze it */
static int hold(pid_t pid)
{
	if (ptrace(PTRACE_SEIZE, pid, NULL, NULL)) {
		perror("PTRACE_SEIZE");
		return 1;
	}
	printf("holding %d\n", (int)pid);
	fflush(stdout);
	for (;;)
		pause();
}

/* ---- -K: the kernel's own moves of the targets' pages ------------------- */

#define KSM_DIR		"/sys/kernel/mm/ksm/"
#define NUMA_DIR	"/sys/kernel/debug/sched/numa_balancing/"

/* settings made for the run, and what they were before */
static const struct {
	const char *path, *value;
} km_settings[] = {
	{ KSM_DIR "run", "1" },
	{ KSM_DIR "sleep_millisecs", "10" },
	{ KSM_DIR "pages_to_scan", "1000" },
	{ "/proc/sys/kernel/numa_balancing", "1" },
	{ NUMA_DIR "scan_delay_ms", "10" },
	{ NUMA_DIR "scan_period_min_ms", "10" },
};

struct kmoves {
	char		saved[ARRAY_SIZE(km_settings)][32];
	char		zram[32];	/* the swap device this run set up */
	long long	full_scans;	/* KSM's, before */
};

static int file_read(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

static long long file_num(const char *path)
{
	char buf[32];

	return file_read(path, buf, sizeof(buf)) ? -1 : strtoll(buf, NULL, 10);
}

static int file_write(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, value, strlen(value));
	close(fd);
	return n == (ssize_t)strlen(value) ? 0 : -1;
}

static bool swap_active(void)
{
	FILE *f = fopen("/proc/swaps", "r");
	int lines = 0, c;

	if (!f)
		return false;
	while ((c = fgetc(f)) != EOF)
		lines += c == '\n';
	fclose(f);
	/* a header line, then one per active device */
	return lines > 1;
}

static int run_quiet(const char *prog, const char *arg)
{
	int status, fd;
	pid_t pid = fork();

	if (pid == 0) {
		fd = open("/dev/null", O_WRONLY);
		dup2(fd, 1);
		dup2(fd, 2);
		execlp(prog, prog, arg, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : -1;
}

/* swap on a new zram device, unless some swap is on already */
static int zram_swap_on(struct kmoves *km)
{
	char num[16], path[64];

	if (swap_active())
		return 0;
	if (file_read("/sys/class/zram-control/hot_add", num, sizeof(num)))
		return -1;
	snprintf(path, sizeof(path), "/sys/block/zram%s/disksize", num);
	if (file_write(path, "256M"))
		return -1;
	snprintf(km->zram, sizeof(km->zram), "/dev/zram%s", num);
	if (run_quiet("mkswap", km->zram) || swapon(km->zram, 0)) {
		km->zram[0] = 0;
		return -1;
	}
	return 0;
}

static int kernel_moves_setup(struct kmoves *km)
{
	size_t i;

	memset(km, 0, sizeof(*km));
	if (zram_swap_on(km)) {
		printf("# -K: no swap: no zram device could be set up\n");
		return -1;
	}
	for (i = 0; i < ARRAY_SIZE(km_settings); i++) {
		if (file_read(km_settings[i].path, km->saved[i], sizeof(km->saved[i])) ||
		    file_write(km_settings[i].path, km_settings[i].value)) {
			printf("# -K: cannot set %s\n", km_settings[i].path);
			return -1;
		}
	}
	km->full_scans = file_num(KSM_DIR "full_scans");
	return 0;
}

/*
 * Undo the settings; what happened: 0 when pages were swapped out and
 * migrated (the zram device's writes, the workloads' own counts)
 */
static int kernel_moves_teardown(struct kmoves *km, char *what, size_t len)
{
	unsigned long long io[5] = { 0 };
	long long scans = file_num(KSM_DIR "full_scans") - km->full_scans;
	char path[64], buf[256];
	size_t i;

	for (i = ARRAY_SIZE(km_settings); i-- > 0;)
		if (km->saved[i][0])
			file_write(km_settings[i].path, km->saved[i]);
	if (km->zram[0]) {
		/* reads, merges, sectors, ticks, then writes */
		snprintf(path, sizeof(path), "/sys/block/%s/stat", km->zram + strlen("/dev/"));
		if (!file_read(path, buf, sizeof(buf)))
			sscanf(buf, "%llu %llu %llu %llu %llu", &io[0], &io[1], &io[2], &io[3],
			       &io[4]);
		swapoff(km->zram);
		file_write("/sys/class/zram-control/hot_remove",
			   km->zram + strlen("/dev/zram"));
	}
	snprintf(what, len, "%llu writes and %llu reads of the swap device, %llu pages "
		 "migrated, %llu pages merged by KSM at the freezes, %llu of its pages "
		 "rewritten, %lld KSM scans", io[4], io[0],
		 (unsigned long long)km_moves[0], (unsigned long long)km_merged,
		 (unsigned long long)km_moves[1], scans);
	return io[4] > 0 && km_moves[0] > 0 ? 0 : -1;
}

static void usage(void)
{
	fprintf(stderr, "usage: precopy [-s SEED] [-n SEEDS] [-e EPOCHS] [-i MS] [-b KB] "
		"[-t TARGETS] [-L] [-S] [-d auto|never|always|cycle] [-R] [-B N] [-W] [-w] [-K] "
		"[-U] [-X] [-v]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "seeds", required_argument, NULL, 'n' },
		{ "epochs", required_argument, NULL, 'e' },
		{ "interval", required_argument, NULL, 'i' },
		{ "buffer-kb", required_argument, NULL, 'b' },
		{ "targets", required_argument, NULL, 't' },
		{ "want-loss", no_argument, NULL, 'L' },
		{ "splice", no_argument, NULL, 'S' },
		{ "dense", required_argument, NULL, 'd' },
		{ "want-rearm", no_argument, NULL, 'R' },
		{ "batch", required_argument, NULL, 'B' },
		{ "writes-only", no_argument, NULL, 'W' },
		{ "writable-only", no_argument, NULL, 'w' },
		{ "kernel-moves", no_argument, NULL, 'K' },
		{ "uffd", no_argument, NULL, 'U' },
		{ "scripted", no_argument, NULL, 'X' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	struct opts o = { .seed = 1, .seeds = 10, .epochs = 12, .interval_ms = 50,
			  .targets = 1, .self = "/proc/self/exe" };
	static const char * const dense_names[] = { "auto", "never", "always", "cycle" };
	struct kmoves km;
	char moved[256];
	int c, i, failed = 0;

	if ((argc == 4 || argc == 5) && !strcmp(argv[1], "--workload"))
		return workload(strtoull(argv[2], NULL, 0), atoi(argv[3]),
				argc == 5 ? argv[4] : NULL);
	if (argc == 4 && !strcmp(argv[1], "--script"))
		return script_target(atoi(argv[2]), atoi(argv[3]));
	if (argc == 3 && !strcmp(argv[1], "--hold"))
		return hold(atoi(argv[2]));
	while ((c = getopt_long(argc, argv, "s:n:e:i:b:t:LSd:RB:WwKUXv", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			o.seed = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			o.seeds = atoi(optarg);
			break;
		case 'e':
			o.epochs = atoi(optarg);
			break;
		case 'i':
			o.interval_ms = atoi(optarg);
			break;
		case 'b':
			o.buffer_kb = strtoul(optarg, NULL, 0);
			break;
		case 't':
			o.targets = atoi(optarg);
			break;
		case 'L':
			o.want_loss = true;
			break;
		case 'S':
			o.splice = true;
			break;
		case 'd':
			for (i = 0; i < 4 && strcmp(optarg, dense_names[i]); i++)
				;
			if (i == 4)
				usage();
			o.dense = i;
			break;
		case 'R':
			o.want_rearm = true;
			break;
		case 'W':
			o.writes_only = true;
			break;
		case 'w':
			o.writable_only = true;
			break;
		case 'K':
			o.kernel_moves = true;
			break;
		case 'U':
			o.uffd = true;
			break;
		case 'X':
			o.scripted = true;
			break;
		case 'B':
			o.batch = strtoul(optarg, NULL, 0);
			if (!o.batch)
				usage();
			break;
		case 'v':
			o.verbose++;
			break;
		default:
			usage();
		}
	}
	if (o.targets < 1 || o.targets > MAX_TARGETS || o.seeds < 1 || o.epochs < 0 ||
	    (o.scripted && (o.targets > 1 || o.batch || o.writes_only || o.kernel_moves)) ||
	    (o.writes_only && o.kernel_moves) ||
	    (o.uffd && (o.scripted || o.writes_only || o.kernel_moves)))
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("1..%d\n", o.seeds + o.kernel_moves);
	if (o.kernel_moves && kernel_moves_setup(&km)) {
		printf("Bail out! -K: the kernel's page moves cannot be set up\n");
		kernel_moves_teardown(&km, moved, sizeof(moved));
		return 1;
	}
	for (i = 0; i < o.seeds; i++) {
		uint64_t seed = o.seed + i;
		bool ok = run_seed(&o, seed);

		if (o.scripted)
			printf("%s %d - precopy run %d, scripted steps, dense %s%s\n",
			       ok ? "ok" : "not ok", i + 1, i + 1, dense_names[o.dense],
			       o.writable_only ? ", writable only" : "");
		else
			printf("%s %d - precopy seed %llu, %d target(s), %d epochs every %d ms%s, "
			       "dense %s%s%s\n", ok ? "ok" : "not ok", i + 1,
			       (unsigned long long)seed, o.targets, o.epochs, o.interval_ms,
			       o.buffer_kb ? ", small buffer" : "", dense_names[o.dense],
			       o.batch ? ", in batches" : "", o.writes_only ? ", writes only" :
			       o.kernel_moves ? ", the kernel moving pages" : "");
		failed += !ok;
	}
	printf("# %d of %d seeds failed\n", failed, o.seeds);
	if (o.kernel_moves) {
		/* without the moves, the seeds tested the plain mix only */
		i = kernel_moves_teardown(&km, moved, sizeof(moved));
		printf("# -K: %s\n", moved);
		printf("%s %d - the kernel moved the targets' pages meanwhile%s\n",
		       i ? "not ok" : "ok", o.seeds + 1,
		       i ? ": none swapped out or migrated" : "");
		failed += !!i;
	}
	return failed ? 1 : 0;
}
