// SPDX-License-Identifier: LGPL-2.1
/*
 * Copying a running process's pages: process_vm_readv() into one bounded
 * user buffer, flushed to a callback (image writer, page server) before the
 * next batch is read.
 *
 * This is CRIU's "read" pre-dump mode (criu/page-xfer.c), chosen over its
 * default of vmsplice()ing the pages into pipes: pipes pin the pages until
 * they are written out, unswappable, and need many pipes for a big process
 * (CRIU issue #351). The buffer bounds the memory a copy holds.
 *
 * A page that cannot be read (its mapping went away, or it is not readable,
 * PROT_NONE) ends the kernel's copy with a short count or EFAULT. The page
 * where it stopped is then read alone (the kernel may stop at the start of
 * the range that holds the bad page: process_vm_readv(2) promises no more),
 * and, if that fails too, through /proc/PID/mem: its reads are FOLL_FORCE,
 * so they see the pages of a PROT_NONE mapping, which a checkpoint must keep
 * (CRIU's own dump makes them readable for the copy; a restore gives them
 * back). The copy then resumes after it. A page that fails both gets no
 * entry; those pages are collected in the copier's "gone" set for the
 * caller.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "grow.h"
#include "internal.h"
#include "vmtrack-dump.h"

#define MAX_RIOV	1024	/* UIO_MAXIOV */

struct chunk {
	uint64_t	start;
	uint64_t	end;
	size_t		off;	/* in the buffer; SIZE_MAX for a hole */
};

struct vmtrack_copier {
	pid_t			pid;
	long			page_size;
	size_t			size;
	char			*buf;
	uint8_t			*bad;	/* one byte per buffer page */
	struct chunk		*q;
	size_t			nq;
	size_t			nq_alloc;
	size_t			used;
	size_t			nr_copy;
	struct iovec		riov[MAX_RIOV];
	struct vmtrack_pset	gone;
	int			mem_fd;	/* /proc/PID/mem, opened on the first bad page */
};

/**
 * vmtrack_copier_new() - a copier for one process
 * @pid:		the process
 * @buffer_bytes:	buffer size, rounded down to pages (at least one)
 *
 * Return: the copier, or NULL (out of memory).
 */
struct vmtrack_copier *vmtrack_copier_new(pid_t pid, size_t buffer_bytes)
{
	struct vmtrack_copier *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->pid = pid;
	c->mem_fd = -1;
	c->page_size = sysconf(_SC_PAGESIZE);
	c->size = buffer_bytes / c->page_size * c->page_size;
	if (c->size < (size_t)c->page_size)
		c->size = c->page_size;
	c->buf = malloc(c->size);
	c->bad = calloc(c->size / c->page_size, 1);
	if (!c->buf || !c->bad) {
		vmtrack_copier_free(c);
		return NULL;
	}
	vmtrack_pset_init(&c->gone);
	return c;
}

/**
 * vmtrack_copier_free() - release a copier
 * @c:	the copier, may be NULL
 */
void vmtrack_copier_free(struct vmtrack_copier *c)
{
	if (!c)
		return;
	vmtrack_pset_free(&c->gone);
	if (c->mem_fd >= 0)
		close(c->mem_fd);
	free(c->buf);
	free(c->bad);
	free(c->q);
	free(c);
}

/**
 * vmtrack_copier_gone() - pages the last run could not read
 * @c:	the copier
 *
 * Return: the set, valid until the next vmtrack_copier_run().
 */
const struct vmtrack_pset *vmtrack_copier_gone(const struct vmtrack_copier *c)
{
	return &c->gone;
}

static int queue(struct vmtrack_copier *c, uint64_t start, uint64_t end, size_t off)
{
	if (GROW_ARRAY(c->q, c->nq_alloc, c->nq, 256))
		return -ENOMEM;
	c->q[c->nq++] = (struct chunk){ start, end, off };
	return 0;
}

/* the chunk holding buffer offset @pos, with iovecs of it and the rest */
static size_t build_riov(struct vmtrack_copier *c, size_t pos)
{
	size_t i, n = 0;

	for (i = 0; i < c->nq && n < MAX_RIOV; i++) {
		const struct chunk *k = &c->q[i];
		size_t len = k->end - k->start, skip;

		if (k->off == SIZE_MAX || k->off + len <= pos)
			continue;
		skip = pos > k->off ? pos - k->off : 0;
		c->riov[n].iov_base = (void *)(uintptr_t)(k->start + skip);
		c->riov[n].iov_len = len - skip;
		n++;
	}
	return n;
}

/* one page that process_vm_readv() cannot read: true if /proc/PID/mem can */
static bool read_forced(struct vmtrack_copier *c, void *to, uint64_t vaddr)
{
	char path[32];

	if (c->mem_fd < 0) {
		snprintf(path, sizeof(path), "/proc/%d/mem", (int)c->pid);
		c->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (c->mem_fd < 0)
			return false;
	}
	return pread(c->mem_fd, to, c->page_size, (off_t)vaddr) == c->page_size;
}

/* read the whole buffer; pages that fail are flagged in c->bad */
static int read_batch(struct vmtrack_copier *c, struct vmtrack_copy_stats *st)
{
	size_t pos = 0;

	memset(c->bad, 0, c->used / c->page_size);
	while (pos < c->used) {
		struct iovec local = { c->buf + pos, c->used - pos };
		size_t n = build_riov(c, pos);
		ssize_t got;

		got = process_vm_readv(c->pid, &local, 1, c->riov, n, 0);
		st->calls++;
		if (got < 0 && errno != EFAULT)
			return -errno;
		if (got < 0)
			got = 0;
		pos += (size_t)got / c->page_size * c->page_size;
		if (pos < c->used) {
			/* this page alone: kept if it reads, else gone */
			local.iov_base = c->buf + pos;
			local.iov_len = c->page_size;
			build_riov(c, pos);
			c->riov[0].iov_len = c->page_size;
			got = process_vm_readv(c->pid, &local, 1, c->riov, 1, 0);
			st->calls++;
			if (got < 0 && errno != EFAULT)
				return -errno;
			if (got != c->page_size &&
			    !read_forced(c, local.iov_base, (uintptr_t)c->riov[0].iov_base))
				c->bad[pos / c->page_size] = 1;
			pos += c->page_size;
		}
	}
	return 0;
}

/* read the batch and hand it to @fn in address order */
static int flush(struct vmtrack_copier *c, vmtrack_copy_fn fn, void *ctx,
		 struct vmtrack_copy_stats *st)
{
	size_t i;
	int ret;

	if (c->used) {
		ret = read_batch(c, st);
		if (ret)
			return ret;
	}
	for (i = 0; i < c->nq; i++) {
		const struct chunk *k = &c->q[i];
		uint64_t a = k->start, run;

		if (k->off == SIZE_MAX) {
			ret = fn(ctx, k->start, (k->end - k->start) / c->page_size, NULL);
			if (ret)
				return ret;
			st->holes += (k->end - k->start) / c->page_size;
			continue;
		}
		while (a < k->end) {
			size_t off = k->off + (a - k->start);

			if (c->bad[off / c->page_size]) {
				ret = vmtrack_pset_append(&c->gone, a, a + c->page_size);
				if (ret)
					return ret;
				st->gone++;
				a += c->page_size;
				continue;
			}
			for (run = a; run < k->end &&
			     !c->bad[(k->off + run - k->start) / c->page_size];
			     run += c->page_size)
				;
			ret = fn(ctx, a, (run - a) / c->page_size, c->buf + off);
			if (ret)
				return ret;
			st->pages += (run - a) / c->page_size;
			a = run;
		}
	}
	c->nq = 0;
	c->used = 0;
	c->nr_copy = 0;
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * The segments of (@all, @copy) one at a time, in address order: a page of
 * @all is COPY where @copy has it, a HOLE elsewhere. Both sets are
 * coalesced, so the segments of one kind never touch.
 */
struct seg_walk {
	const struct vmtrack_pset	*all;
	const struct vmtrack_pset	*copy;
	size_t				i;	/* range of @all */
	size_t				j;	/* first range of @copy not below a */
	uint64_t			a;	/* next address in all->r[i] */
};

static void seg_walk_init(struct seg_walk *w, const struct vmtrack_pset *all,
			  const struct vmtrack_pset *copy)
{
	*w = (struct seg_walk){ .all = all, .copy = copy };
	if (all->n)
		w->a = all->r[0].start;
}

/* the next segment, within one range of @all */
static bool seg_walk_next(struct seg_walk *w, struct vmtrack_seg *seg)
{
	const struct vmtrack_pset *copy = w->copy;
	uint64_t end;

	while (w->i < w->all->n && w->a >= w->all->r[w->i].end)
		if (++w->i < w->all->n)
			w->a = w->all->r[w->i].start;
	if (w->i >= w->all->n)
		return false;
	end = w->all->r[w->i].end;
	while (w->j < copy->n && copy->r[w->j].end <= w->a)
		w->j++;
	if (w->j < copy->n && copy->r[w->j].start <= w->a)
		*seg = (struct vmtrack_seg){ w->a, min(copy->r[w->j].end, end),
					     VMTRACK_SEG_COPY };
	else
		*seg = (struct vmtrack_seg){ w->a, w->j < copy->n &&
					     copy->r[w->j].start < end ?
					     copy->r[w->j].start : end, VMTRACK_SEG_HOLE };
	w->a = seg->end;
	return true;
}

static int segs_add(struct vmtrack_segs *s, uint64_t start, uint64_t end, int kind)
{
	if (end <= start)
		return 0;
	if (s->n && s->v[s->n - 1].kind == kind && s->v[s->n - 1].end == start) {
		s->v[s->n - 1].end = end;
		return 0;
	}
	if (GROW_ARRAY(s->v, s->alloc, s->n, 256))
		return -ENOMEM;
	s->v[s->n++] = (struct vmtrack_seg){ start, end, kind };
	return 0;
}

/**
 * vmtrack_segs_build() - the segments of an image, for vmtrack_copier_run()
 * @s:		receives them (reused: its array grows as needed)
 * @all:	every page of the image
 * @copy:	the pages to read, a subset of @all; the others are holes
 *
 * Adjacent pages of one kind make one segment.
 *
 * Return: 0 or -ENOMEM.
 */
int vmtrack_segs_build(struct vmtrack_segs *s, const struct vmtrack_pset *all,
		       const struct vmtrack_pset *copy)
{
	struct vmtrack_seg seg;
	struct seg_walk w;
	int ret = 0;

	s->n = 0;
	seg_walk_init(&w, all, copy);
	while (!ret && seg_walk_next(&w, &seg))
		ret = segs_add(s, seg.start, seg.end, seg.kind);
	return ret;
}

/**
 * vmtrack_segs_free() - free the array of @s
 * @s:		the segments
 */
void vmtrack_segs_free(struct vmtrack_segs *s)
{
	free(s->v);
	*s = (struct vmtrack_segs){ 0 };
}

static void copier_start(struct vmtrack_copier *c)
{
	vmtrack_pset_clear(&c->gone);
	c->nq = c->used = c->nr_copy = 0;
}

/* queue @seg; read and hand on the batch whenever the buffer fills */
static int copier_add(struct vmtrack_copier *c, const struct vmtrack_seg *seg,
		      vmtrack_copy_fn fn, void *ctx, struct vmtrack_copy_stats *st)
{
	uint64_t a = seg->start, len;
	int ret = 0;

	if (seg->kind == VMTRACK_SEG_HOLE)
		return queue(c, seg->start, seg->end, SIZE_MAX);
	while (a < seg->end && !ret) {
		len = min(seg->end - a, (uint64_t)(c->size - c->used));
		ret = queue(c, a, a + len, c->used);
		if (ret)
			break;
		c->used += len;
		c->nr_copy++;
		a += len;
		if (c->used == c->size || c->nr_copy == MAX_RIOV)
			ret = flush(c, fn, ctx, st);
	}
	return ret;
}

/**
 * vmtrack_copier_run() - copy segments of the target, in order
 * @c:		the copier
 * @segs:	sorted, non-overlapping, page-aligned segments: COPY (read)
 *		or HOLE (passed through)
 * @n:		number of segments
 * @fn:		receives the pages read and the holes, in address order
 * @ctx:	passed to @fn
 * @st:		statistics, added to
 *
 * Reads at most the buffer size per process_vm_readv() call (and at most
 * 1024 remote ranges), calls @fn for what it read, then reads the next
 * batch. Pages that cannot be read are skipped (vmtrack_copier_gone()).
 *
 * Return: 0, @fn's non-zero value, -ESRCH (target gone), -EPERM, -ENOMEM.
 */
int vmtrack_copier_run(struct vmtrack_copier *c, const struct vmtrack_seg *segs, size_t n,
		       vmtrack_copy_fn fn, void *ctx, struct vmtrack_copy_stats *st)
{
	double t0 = now_s();
	size_t i;
	int ret = 0;

	copier_start(c);
	for (i = 0; i < n && !ret; i++)
		ret = copier_add(c, &segs[i], fn, ctx, st);
	if (!ret)
		ret = flush(c, fn, ctx, st);
	st->seconds += now_s() - t0;
	return ret;
}

/**
 * vmtrack_copier_run_sets() - copy the segments of two page sets, in order
 * @c:		the copier
 * @all:	every page of the image
 * @copy:	the pages to read, a subset of @all; the others are holes
 * @fn:		as for vmtrack_copier_run()
 * @ctx:	passed to @fn
 * @st:		statistics, added to
 *
 * vmtrack_copier_run() of the segments vmtrack_segs_build() would make,
 * taken from the sets as the copy goes: no array of them, whose size
 * grows with the ranges of @copy.
 *
 * Return: as vmtrack_copier_run().
 */
int vmtrack_copier_run_sets(struct vmtrack_copier *c, const struct vmtrack_pset *all,
			    const struct vmtrack_pset *copy, vmtrack_copy_fn fn, void *ctx,
			    struct vmtrack_copy_stats *st)
{
	double t0 = now_s();
	struct vmtrack_seg seg;
	struct seg_walk w;
	int ret = 0;

	copier_start(c);
	seg_walk_init(&w, all, copy);
	while (!ret && seg_walk_next(&w, &seg))
		ret = copier_add(c, &seg, fn, ctx, st);
	if (!ret)
		ret = flush(c, fn, ctx, st);
	st->seconds += now_s() - t0;
	return ret;
}
