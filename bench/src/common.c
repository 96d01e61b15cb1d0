// SPDX-License-Identifier: GPL-2.0
/*
 * Regions, dirty range sets, write patterns, clocks and JSON-line output.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "vmbench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

/* the process whose memory a mechanism tracks: its target's, or this one */
pid_t mech_pid(const struct mech *m)
{
	return m->tgt ? m->tgt->pid : getpid();
}

/* /proc/PID/@file of that process */
int mech_proc_open(const struct mech *m, const char *file, int flags)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)mech_pid(m), file);
	return open(path, flags | O_CLOEXEC);
}

/* a human-readable progress line (stderr; the console keeps it) */
void note(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "# ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* CPU time of the whole process (all threads: uffd handler included) */
uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/*
 * Anonymous and shmem RSS: what the consumer allocates. A ring buffer
 * mapped for reading (libvmtrack) is kernel memory, counted apart.
 */
uint64_t rss_kb(void)
{
	uint64_t kb, sum = 0;
	char line[256];
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "RssAnon: %" SCNu64 " kB", &kb) == 1 ||
		    sscanf(line, "RssShmem: %" SCNu64 " kB", &kb) == 1)
			sum += kb;
	fclose(f);
	return sum;
}

int write_file(const char *path, const char *text)
{
	size_t len = strlen(text);
	int fd, ret = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len)
		ret = -errno ?: -EIO;
	close(fd);
	return ret;
}

/* ---- regions ---- */

/* MADV_POPULATE_WRITE: present, private, writable: the epoch state */
static void region_populate(struct region *r)
{
	size_t i;

	if (!madvise(r->base, r->len, MADV_POPULATE_WRITE))
		return;
	for (i = 0; i < r->pages; i++)
		r->base[i * r->psz] = 1;
}

int region_map(struct region *r, size_t len, bool populate)
{
	r->psz = sysconf(_SC_PAGESIZE);
	r->len = (len + r->psz - 1) & ~(r->psz - 1);
	r->pages = r->len / r->psz;
	r->base = mmap(NULL, r->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS |
		       MAP_NORESERVE, -1, 0);
	if (r->base == MAP_FAILED)
		return -errno;
	/* 4 KiB pages for every mechanism: the comparison is per page */
	madvise(r->base, r->len, MADV_NOHUGEPAGE);
	if (populate)
		region_populate(r);
	return 0;
}

/*
 * The same, backed by transparent huge pages where the kernel gives them
 * (MADV_HUGEPAGE, 2 MiB aligned): a write fault maps, and a tracker sees,
 * 2 MiB at once.
 */
int region_map_huge(struct region *r, size_t len)
{
	size_t huge = 2UL << 20, lead;
	char *map;

	r->psz = sysconf(_SC_PAGESIZE);
	r->len = (len + huge - 1) & ~(huge - 1);
	r->pages = r->len / r->psz;
	map = mmap(NULL, r->len + huge, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (map == MAP_FAILED)
		return -errno;
	lead = (huge - ((uintptr_t)map & (huge - 1))) & (huge - 1);
	if (lead)
		munmap(map, lead);
	munmap(map + lead + r->len, huge - lead);
	r->base = map + lead;
	madvise(r->base, r->len, MADV_HUGEPAGE);
	region_populate(r);
	return 0;
}

void region_unmap(struct region *r)
{
	if (r->base && r->base != MAP_FAILED)
		munmap(r->base, r->len);
	r->base = NULL;
}

/* ---- range sets ---- */

void rangeset_reset(struct rangeset *rs)
{
	rs->n = 0;
}

int rangeset_add(struct rangeset *rs, uint64_t start, uint64_t end)
{
	struct iovec *last = rs->n ? &rs->v[rs->n - 1] : NULL;

	if (last && (uintptr_t)last->iov_base + last->iov_len == start) {
		last->iov_len += end - start;
		return 0;
	}
	if (rs->n == rs->alloc) {
		size_t a = rs->alloc ? rs->alloc * 2 : 1024;
		struct iovec *v = realloc(rs->v, a * sizeof(*v));

		if (!v)
			return -ENOMEM;
		rs->v = v;
		rs->alloc = a;
	}
	rs->v[rs->n].iov_base = (void *)(uintptr_t)start;
	rs->v[rs->n].iov_len = end - start;
	rs->n++;
	return 0;
}

/*
 * Room for @n ranges, touched: the benchmark's own copy of what a mechanism
 * reports then adds nothing to the RSS measured as the mechanism's.
 */
int rangeset_reserve(struct rangeset *rs, size_t n)
{
	struct iovec *v;

	if (n <= rs->alloc)
		return 0;
	v = realloc(rs->v, n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	memset(v + rs->alloc, 0, (n - rs->alloc) * sizeof(*v));
	rs->v = v;
	rs->alloc = n;
	return 0;
}

void rangeset_free(struct rangeset *rs)
{
	free(rs->v);
	memset(rs, 0, sizeof(*rs));
}

uint64_t rangeset_pages(const struct rangeset *rs, size_t psz)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < rs->n; i++)
		n += (rs->v[i].iov_len + psz - 1) / psz;
	return n;
}

/* ---- write patterns ---- */

/*
 * @count pages spread evenly over the region (the worst case for range
 * coalescing: every dirty page is its own range below 50 %), shifted by one
 * page every epoch so that each epoch dirties pages the last one re-armed.
 */
void pattern_init(struct pattern *p, const struct region *r, size_t count, unsigned int epoch)
{
	if (!count)
		count = 1;
	if (count > r->pages)
		count = r->pages;
	p->count = count;
	p->stride = r->pages / count;
	p->offset = p->stride > 1 ? epoch % p->stride : 0;
}

/* @count pages in one run, at another place every epoch */
void pattern_init_seq(struct pattern *p, const struct region *r, size_t count,
		      unsigned int epoch)
{
	pattern_init(p, r, count, epoch);
	p->stride = 1;
	p->offset = (size_t)epoch * p->count % (r->pages - p->count + 1);
}

void pattern_write(const struct region *r, const struct pattern *p)
{
	volatile char *c = (volatile char *)r->base + p->offset * r->psz;
	size_t step = p->stride * r->psz, i;

	for (i = 0; i < p->count; i++, c += step)
		(*c)++;
}

/*
 * Every written page must be in the reported set (missed = 0), reported
 * pages beyond the written ones are false positives (cost a copy).
 */
void pattern_verify(const struct region *r, const struct pattern *p,
		    const struct rangeset *rs, uint64_t *missed, uint64_t *reported)
{
	uint64_t base = (uintptr_t)r->base, addr;
	size_t i, k = 0;

	*missed = 0;
	*reported = rangeset_pages(rs, r->psz);
	/* both are sorted by address */
	for (i = 0; i < p->count; i++) {
		addr = base + (p->offset + i * p->stride) * r->psz;
		while (k < rs->n && (uintptr_t)rs->v[k].iov_base + rs->v[k].iov_len <= addr)
			k++;
		if (k == rs->n || (uintptr_t)rs->v[k].iov_base > addr)
			(*missed)++;
	}
}

/* ---- JSON lines ---- */

void jout_begin(struct jout *j, const char *kind)
{
	j->len = snprintf(j->buf, sizeof(j->buf), "@@BENCH {\"kind\":\"%s\"", kind);
}

static void jout_add(struct jout *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void jout_add(struct jout *j, const char *fmt, ...)
{
	va_list ap;

	if (j->len >= sizeof(j->buf))
		return;
	va_start(ap, fmt);
	j->len += vsnprintf(j->buf + j->len, sizeof(j->buf) - j->len, fmt, ap);
	va_end(ap);
}

void jout_str(struct jout *j, const char *key, const char *val)
{
	const char *c;

	jout_add(j, ",\"%s\":\"", key);
	for (c = val; *c; c++) {
		if (*c == '"' || *c == '\\')
			jout_add(j, "\\%c", *c);
		else if ((unsigned char)*c < 0x20)
			jout_add(j, " ");
		else
			jout_add(j, "%c", *c);
	}
	jout_add(j, "\"");
}

void jout_u64(struct jout *j, const char *key, uint64_t val)
{
	jout_add(j, ",\"%s\":%llu", key, (unsigned long long)val);
}

void jout_i64(struct jout *j, const char *key, int64_t val)
{
	jout_add(j, ",\"%s\":%lld", key, (long long)val);
}

void jout_dbl(struct jout *j, const char *key, double val)
{
	jout_add(j, ",\"%s\":%.6g", key, val);
}

void jout_end(struct jout *j)
{
	jout_add(j, "}");
	if (j->len >= sizeof(j->buf))
		j->len = sizeof(j->buf) - 1;
	j->buf[j->len] = '\0';
	printf("%s\n", j->buf);
	fflush(stdout);
}
