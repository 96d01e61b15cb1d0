// SPDX-License-Identifier: LGPL-2.1
/*
 * Page sets (sorted, coalesced address ranges) and the pagemap rule of what
 * a checkpoint copies.
 *
 * A dump keeps the set of pages its image chain holds as ranges: an
 * iteration's image is (chain & tracked ranges) - dirty, as holes, plus the
 * dirty pages that are still worth copying. The set operations are linear
 * merges of two sorted lists.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "vmtrack-dump.h"

/**
 * vmtrack_pset_init() - an empty page set
 * @s:	the set
 */
void vmtrack_pset_init(struct vmtrack_pset *s)
{
	memset(s, 0, sizeof(*s));
}

/**
 * vmtrack_pset_free() - release a page set's memory
 * @s:	the set (left empty and usable)
 */
void vmtrack_pset_free(struct vmtrack_pset *s)
{
	free(s->r);
	vmtrack_pset_init(s);
}

/**
 * vmtrack_pset_clear() - empty a page set, keeping its memory
 * @s:	the set
 */
void vmtrack_pset_clear(struct vmtrack_pset *s)
{
	s->n = 0;
}

/**
 * vmtrack_pset_append() - add a range above every range of the set
 * @s:		the set
 * @start:	first address
 * @end:	end, exclusive; an empty range is ignored
 *
 * A range adjacent to the last one is merged with it.
 *
 * Return: 0, -EINVAL if @start is below the end of the set, -ENOMEM.
 */
int vmtrack_pset_append(struct vmtrack_pset *s, uint64_t start, uint64_t end)
{
	if (end <= start)
		return 0;
	if (s->n && start < s->r[s->n - 1].end)
		return -EINVAL;
	if (s->n && start == s->r[s->n - 1].end) {
		s->r[s->n - 1].end = end;
		return 0;
	}
	if (GROW_ARRAY(s->r, s->alloc, s->n, 64))
		return -ENOMEM;
	s->r[s->n].start = start;
	s->r[s->n].end = end;
	s->n++;
	return 0;
}

/**
 * vmtrack_pset_from_iov() - a page set from sorted iovecs
 * @s:		the set, emptied first
 * @iov:	sorted, non-overlapping ranges
 * @n:		number of ranges
 *
 * Return: 0, -EINVAL (unsorted), -ENOMEM.
 */
int vmtrack_pset_from_iov(struct vmtrack_pset *s, const struct iovec *iov, size_t n)
{
	size_t i;
	int ret;

	vmtrack_pset_clear(s);
	for (i = 0; i < n; i++) {
		uint64_t a = (uintptr_t)iov[i].iov_base;

		ret = vmtrack_pset_append(s, a, a + iov[i].iov_len);
		if (ret)
			return ret;
	}
	return 0;
}

enum { OP_AND, OP_SUB, OP_OR };

/* the boundaries of both sets in order; a point is in the result by @op */
static int pset_merge(struct vmtrack_pset *out, const struct vmtrack_pset *a,
		      const struct vmtrack_pset *b, int op)
{
	size_t i = 0, j = 0;
	uint64_t pos = 0;
	int ret;

	if (out == a || out == b)
		return -EINVAL;
	vmtrack_pset_clear(out);
	for (;;) {
		bool ina, inb, in;
		uint64_t next = UINT64_MAX;

		while (i < a->n && a->r[i].end <= pos)
			i++;
		while (j < b->n && b->r[j].end <= pos)
			j++;
		if (i == a->n && (j == b->n || op != OP_OR))
			break;
		if (i == a->n && j == b->n)
			break;
		ina = i < a->n && a->r[i].start <= pos;
		inb = j < b->n && b->r[j].start <= pos;
		if (i < a->n)
			next = min(next, ina ? a->r[i].end : a->r[i].start);
		if (j < b->n)
			next = min(next, inb ? b->r[j].end : b->r[j].start);
		in = op == OP_AND ? ina && inb : op == OP_SUB ? ina && !inb : ina || inb;
		if (in) {
			ret = vmtrack_pset_append(out, pos, next);
			if (ret)
				return ret;
		}
		pos = next;
	}
	return 0;
}

/**
 * vmtrack_pset_and() - intersection
 * @out:	result (not @a or @b)
 * @a:		a set
 * @b:		a set
 *
 * Return: 0 or -ENOMEM.
 */
int vmtrack_pset_and(struct vmtrack_pset *out, const struct vmtrack_pset *a,
		     const struct vmtrack_pset *b)
{
	return pset_merge(out, a, b, OP_AND);
}

/**
 * vmtrack_pset_sub() - difference @a - @b
 * @out:	result (not @a or @b)
 * @a:		a set
 * @b:		a set
 *
 * Return: 0 or -ENOMEM.
 */
int vmtrack_pset_sub(struct vmtrack_pset *out, const struct vmtrack_pset *a,
		     const struct vmtrack_pset *b)
{
	return pset_merge(out, a, b, OP_SUB);
}

/**
 * vmtrack_pset_or() - union
 * @out:	result (not @a or @b)
 * @a:		a set
 * @b:		a set
 *
 * Return: 0 or -ENOMEM.
 */
int vmtrack_pset_or(struct vmtrack_pset *out, const struct vmtrack_pset *a,
		    const struct vmtrack_pset *b)
{
	return pset_merge(out, a, b, OP_OR);
}

/**
 * vmtrack_pset_bytes() - size of a set
 * @s:	the set
 *
 * Return: bytes covered.
 */
uint64_t vmtrack_pset_bytes(const struct vmtrack_pset *s)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < s->n; i++)
		n += s->r[i].end - s->r[i].start;
	return n;
}

/* ---- /proc/PID/pagemap ---- */

#define PM_BATCH	4096	/* entries read per pread() */

struct map_kind {
	uint64_t	start;
	uint64_t	end;
	bool		file_private;
};

struct vmtrack_pagemap {
	pid_t			pid;
	int			fd;
	long			page_size;
	uint64_t		zero_pfn;
	uint64_t		*buf;
	struct map_kind		*maps;
	size_t			nr_maps;
	size_t			maps_alloc;
};

/*
 * The PFN of the shared zero page: CRIU does not dump pages mapped to it
 * (they read back as zeros). Read faults map it into a private mapping of
 * our own; the PFN is visible to CAP_SYS_ADMIN only, else 0 (then no page
 * is taken for the zero page, which costs a copy but loses nothing).
 */
static uint64_t zero_page_pfn(int page_size)
{
	volatile char *p;
	uint64_t pme = 0;
	int fd;

	p = mmap(NULL, page_size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 0;
	(void)*p;
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (pread(fd, &pme, sizeof(pme), (uintptr_t)p / page_size * sizeof(pme)) !=
		    sizeof(pme))
			pme = 0;
		close(fd);
	}
	munmap((void *)p, page_size);
	return (pme & VMTRACK_PME_PRESENT) ? pme & VMTRACK_PME_PFN_MASK : 0;
}

/**
 * vmtrack_pme_dumpable() - would CRIU dump this page
 * @pme:		its /proc/PID/pagemap entry
 * @file_private:	it belongs to a private file mapping
 * @zero_pfn:		PFN of the zero page, 0 if unknown
 *
 * The rule of CRIU's should_dump_page() (criu/mem.c): a page of a private
 * file mapping that is still the file's page (not COWed) is left to the
 * file; any other present or swapped page is dumped unless it is the zero
 * page.
 *
 * Return: true if the page belongs in the image.
 */
bool vmtrack_pme_dumpable(uint64_t pme, bool file_private, uint64_t zero_pfn)
{
	if (file_private && (pme & VMTRACK_PME_FILE))
		return false;
	if (!(pme & (VMTRACK_PME_PRESENT | VMTRACK_PME_SWAP)))
		return false;
	if ((pme & VMTRACK_PME_PRESENT) && zero_pfn &&
	    (pme & VMTRACK_PME_PFN_MASK) == zero_pfn)
		return false;
	return true;
}

static int maps_kind_cb(const struct vmtrack_mapping *map, void *ctx)
{
	struct vmtrack_pagemap *pm = ctx;

	if (GROW_ARRAY(pm->maps, pm->maps_alloc, pm->nr_maps, 64))
		return -ENOMEM;
	pm->maps[pm->nr_maps].start = map->start;
	pm->maps[pm->nr_maps].end = map->end;
	/* a path, not a pseudo name ([heap], [stack], [anon:...]) or "" */
	pm->maps[pm->nr_maps].file_private = !map->shared && map->name[0] == '/';
	pm->nr_maps++;
	return 0;
}

/**
 * vmtrack_pagemap_open() - open a process's pagemap
 * @pm:		receives the handle
 * @pid:	the process
 * @err:	buffer for a one-line reason, may be NULL
 * @errlen:	size of @err
 *
 * Return: 0, or a negative errno (-ESRCH, -EACCES, -ENOMEM).
 */
int vmtrack_pagemap_open(struct vmtrack_pagemap **pm, pid_t pid, char *err, size_t errlen)
{
	struct vmtrack_pagemap *p = calloc(1, sizeof(*p));
	char path[64];
	int ret;

	if (!p)
		return -ENOMEM;
	p->pid = pid;
	p->page_size = sysconf(_SC_PAGESIZE);
	p->buf = malloc(PM_BATCH * sizeof(*p->buf));
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	p->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (!p->buf || p->fd < 0) {
		ret = p->buf ? (errno == ENOENT ? -ESRCH : -errno) : -ENOMEM;
		set_err(err, errlen, "pid %d: cannot open pagemap: %s", (int)pid,
			strerror(-ret));
		if (p->fd >= 0)
			close(p->fd);
		free(p->buf);
		free(p);
		return ret;
	}
	p->zero_pfn = zero_page_pfn(p->page_size);
	*pm = p;
	return 0;
}

/**
 * vmtrack_pagemap_close() - release a pagemap handle
 * @pm:	the handle, may be NULL
 */
void vmtrack_pagemap_close(struct vmtrack_pagemap *pm)
{
	if (!pm)
		return;
	close(pm->fd);
	free(pm->buf);
	free(pm->maps);
	free(pm);
}

static bool file_private_at(const struct vmtrack_pagemap *pm, size_t *idx, uint64_t addr)
{
	while (*idx < pm->nr_maps && pm->maps[*idx].end <= addr)
		(*idx)++;
	return *idx < pm->nr_maps && pm->maps[*idx].start <= addr &&
	       pm->maps[*idx].file_private;
}

/**
 * vmtrack_pagemap_select() - the pages of @in a checkpoint copies now
 * @pm:		pagemap of the target
 * @in:		candidate pages
 * @out:	receives the dumpable pages of @in (vmtrack_pme_dumpable())
 *
 * Reads /proc/PID/maps (which mappings are private file mappings) and the
 * pagemap entries of @in only, so the cost follows @in.
 *
 * Return: 0, -ESRCH if the process is gone, another negative errno.
 */
int vmtrack_pagemap_select(struct vmtrack_pagemap *pm, const struct vmtrack_pset *in,
			   struct vmtrack_pset *out)
{
	uint64_t ps = pm->page_size;
	size_t i, m = 0;
	int ret;

	vmtrack_pset_clear(out);
	pm->nr_maps = 0;
	ret = vmtrack_maps_walk(pm->pid, maps_kind_cb, pm);
	if (ret)
		return ret;
	for (i = 0; i < in->n; i++) {
		uint64_t addr = in->r[i].start;

		while (addr < in->r[i].end) {
			size_t k, cnt = min((in->r[i].end - addr) / ps, (uint64_t)PM_BATCH);
			ssize_t got = pread(pm->fd, pm->buf, cnt * sizeof(uint64_t),
					    addr / ps * sizeof(uint64_t));

			if (got < 0)
				return errno == ESRCH ? -ESRCH : -errno;
			if (got == 0)
				return -ESRCH;	/* the mm is gone */
			cnt = got / sizeof(uint64_t);
			for (k = 0; k < cnt; k++, addr += ps) {
				bool fp = file_private_at(pm, &m, addr);

				if (!vmtrack_pme_dumpable(pm->buf[k], fp, pm->zero_pfn))
					continue;
				ret = vmtrack_pset_append(out, addr, addr + ps);
				if (ret)
					return ret;
			}
		}
	}
	return 0;
}
