// SPDX-License-Identifier: GPL-2.0-only
/*
 * Compare the memory a chain of CRIU images restores with a stopped process.
 *
 *   dumpcheck -p PID -D ITERATION_DIR [-i ID] [-r START-END] [-v]
 *
 * For every page of every private mapping of PID (the ones vmtrack dump
 * copies from) and of its [vdso], read with process_vm_readv() while the
 * process is stopped (or through /proc/PID/mem, which reads PROT_NONE pages
 * too):
 *   - the chain holds the page: its bytes must be the process's;
 *   - the chain does not hold it: a restore leaves it to the mapping (zero
 *     or the file), so the process must not have a page a checkpoint keeps
 *     (present or swapped anonymous, not the zero page; by the pagemap),
 *     unless it is an anonymous page of zeroes: a restore gives the same.
 *     The kernel makes such pages without a write of the process: a THP
 *     collapse fills a range's empty entries with zeroes, and khugepaged
 *     does that to a frozen process too, after the dump's last look at its
 *     events ("zero" counts them);
 * and no entry of the chain may lie outside the private mappings. -r
 * compares the pages of [START, END) only (hexadecimal addresses).
 * Prints the counts and exits 1 on any difference, 2 on an error.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "vmtrack.h"
#include "vmtrack-dump.h"

struct check {
	pid_t			pid;
	struct vmtrack_img	*img;
	long			page_size;
	int			pm_fd;
	int			mem_fd;
	uint64_t		pm[512];
	uint64_t		pm_first;
	size_t			pm_n;
	uint64_t		zero_pfn;
	bool			verbose;
	uint64_t		lo, hi;		/* -r: the part compared */
	uint64_t		pages, held, same, differ, missing, zero, unreadable;
	struct vmtrack_pset	maps;
	char			*mine, *theirs;
};

/* pagemap entries are read a window at a time: a big heap is mostly holes */
static uint64_t pme_of(struct check *c, uint64_t addr)
{
	uint64_t idx = addr / c->page_size;
	ssize_t n;

	if (idx < c->pm_first || idx >= c->pm_first + c->pm_n) {
		n = pread(c->pm_fd, c->pm, sizeof(c->pm), idx * sizeof(c->pm[0]));
		c->pm_first = idx;
		c->pm_n = n > 0 ? n / sizeof(c->pm[0]) : 0;
		if (!c->pm_n)
			return 0;
	}
	return c->pm[idx - c->pm_first];
}

/* the zero page's PFN, from a read fault of our own (0 if none) */
static uint64_t zero_pfn(struct check *c)
{
	volatile char *p = mmap(NULL, c->page_size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
				-1, 0);
	uint64_t pme = 0;
	int fd;

	if (p == MAP_FAILED)
		return 0;
	(void)*p;
	fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd >= 0) {
		if (pread(fd, &pme, sizeof(pme), (uintptr_t)p / c->page_size * sizeof(pme)) !=
		    sizeof(pme))
			pme = 0;
		close(fd);
	}
	munmap((void *)p, c->page_size);
	return (pme & VMTRACK_PME_PRESENT) ? pme & VMTRACK_PME_PFN_MASK : 0;
}

static bool all_zero(const char *p, size_t len)
{
	return !p[0] && !memcmp(p, p + 1, len - 1);
}

static long count_nonzero(const char *p, long len)
{
	long n = 0;

	while (len--)
		n += !!*p++;
	return n;
}

/* where the chain's page and the process's part: for a reader of the log */
static void print_differ(const struct check *c, uint64_t a, const char *name)
{
	long i, first = -1, bytes = 0;

	for (i = 0; i < c->page_size; i++) {
		if (c->mine[i] == c->theirs[i])
			continue;
		if (first < 0)
			first = i;
		bytes++;
	}
	printf("differ  %#" PRIx64 " %s: %ld bytes from +%#lx; non-zero: chain %ld, process %ld\n",
	       a, name, bytes, first, count_nonzero(c->mine, c->page_size),
	       count_nonzero(c->theirs, c->page_size));
}

static int check_map(const struct vmtrack_mapping *map, void *ctx)
{
	struct check *c = ctx;
	bool fp = !map->shared && map->name[0] == '/';
	bool vdso = !strcmp(map->name, "[vdso]");	/* CRIU dumps it whole */
	uint64_t start = map->start > c->lo ? map->start : c->lo;
	uint64_t end = map->end < c->hi ? map->end : c->hi;
	uint64_t a;

	if (!vdso && !vmtrack_mapping_watchable(map, true))
		return 0;
	if (vmtrack_pset_append(&c->maps, map->start, map->end))
		return -ENOMEM;
	for (a = start; a < end; a += c->page_size) {
		struct iovec l = { c->theirs, c->page_size };
		struct iovec r = { (void *)(uintptr_t)a, c->page_size };
		int held = vmtrack_chain_page(c->img, a, c->mine);
		ssize_t n;

		c->pages++;
		if (held < 0) {
			fprintf(stderr, "dumpcheck: chain at %#" PRIx64 ": %s\n", a,
				strerror(-held));
			return held;
		}
		/* a page the chain does not hold matters only if a checkpoint keeps it */
		if (!held && !vdso && !vmtrack_pme_dumpable(pme_of(c, a), fp, c->zero_pfn))
			continue;
		n = process_vm_readv(c->pid, &l, 1, &r, 1, 0);
		if (n != c->page_size)
			n = pread(c->mem_fd, c->theirs, c->page_size, (off_t)a);
		if (n != c->page_size) {
			c->unreadable++;	/* beyond the end of a file and the like */
			continue;
		}
		if (held) {
			c->held++;
			if (memcmp(c->mine, c->theirs, c->page_size)) {
				c->differ++;
				if (c->verbose)
					print_differ(c, a, map->name);
			} else {
				c->same++;
			}
		} else {
			bool restored = !vdso && !fp && all_zero(c->theirs, c->page_size);

			if (restored)
				c->zero++;
			else
				c->missing++;
			if (c->verbose)
				printf("%s %#" PRIx64 " %s\n", restored ? "zero   " : "missing",
				       a, map->name);
		}
	}
	return 0;
}

/* entries of the newest image outside every private mapping */
static uint64_t outside(struct check *c)
{
	struct vmtrack_pset ent, out;
	uint64_t n;
	size_t i;

	vmtrack_pset_init(&ent);
	vmtrack_pset_init(&out);
	for (i = 0; i < c->img->n; i++)
		vmtrack_pset_append(&ent, c->img->e[i].vaddr,
				    c->img->e[i].vaddr + c->img->e[i].nr_pages * c->page_size);
	vmtrack_pset_sub(&out, &ent, &c->maps);
	n = vmtrack_pset_bytes(&out) / c->page_size;
	vmtrack_pset_free(&ent);
	vmtrack_pset_free(&out);
	return n;
}

/* START-END in hexadecimal, START below END */
static int parse_range(const char *arg, uint64_t *lo, uint64_t *hi)
{
	char *end;

	*lo = strtoull(arg, &end, 16);
	if (*end != '-')
		return -1;
	*hi = strtoull(end + 1, &end, 16);
	return *end || *lo >= *hi ? -1 : 0;
}

int main(int argc, char **argv)
{
	struct check c = { .page_size = sysconf(_SC_PAGESIZE), .hi = UINT64_MAX };
	const char *dir = NULL;
	pid_t id = 0;
	char err[512], path[64];
	uint64_t out;
	int opt, ret;

	while ((opt = getopt(argc, argv, "p:D:i:r:v")) != -1) {
		switch (opt) {
		case 'p':
			c.pid = atoi(optarg);
			break;
		case 'D':
			dir = optarg;
			break;
		case 'i':
			id = atoi(optarg);
			break;
		case 'r':
			if (parse_range(optarg, &c.lo, &c.hi)) {
				fprintf(stderr, "dumpcheck: -r wants START-END in hexadecimal\n");
				return 2;
			}
			break;
		case 'v':
			c.verbose = true;
			break;
		default:
			return 2;
		}
	}
	if (!c.pid || !dir) {
		fprintf(stderr,
			"usage: dumpcheck -p PID -D ITERATION_DIR [-i ID] [-r START-END] [-v]\n");
		return 2;
	}
	ret = vmtrack_chain_load(&c.img, dir, id ? id : c.pid, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "dumpcheck: %s\n", err);
		return 2;
	}
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)c.pid);
	c.pm_fd = open(path, O_RDONLY);
	if (c.pm_fd >= 0) {
		snprintf(path, sizeof(path), "/proc/%d/mem", (int)c.pid);
		c.mem_fd = open(path, O_RDONLY);
	}
	if (c.pm_fd < 0 || c.mem_fd < 0) {
		perror(path);
		return 2;
	}
	c.mine = malloc(c.page_size);
	c.theirs = malloc(c.page_size);
	if (!c.mine || !c.theirs) {
		perror("dumpcheck");
		return 2;
	}
	c.zero_pfn = zero_pfn(&c);
	vmtrack_pset_init(&c.maps);
	ret = vmtrack_maps_walk(c.pid, check_map, &c);
	if (ret) {
		fprintf(stderr, "dumpcheck: pid %d: %s\n", (int)c.pid, strerror(-ret));
		return 2;
	}
	out = outside(&c);
	printf("pages %" PRIu64 " held %" PRIu64 " same %" PRIu64 " differ %" PRIu64
	       " missing %" PRIu64 " zero %" PRIu64 " outside %" PRIu64 " unreadable %" PRIu64 "\n",
	       c.pages, c.held, c.same, c.differ, c.missing, c.zero, out, c.unreadable);
	vmtrack_img_free(c.img);
	return c.differ || c.missing || out ? 1 : 0;
}
