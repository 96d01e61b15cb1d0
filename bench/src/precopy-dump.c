// SPDX-License-Identifier: GPL-2.0
/*
 * precopy-dump: the loop of "vmtrack dump" with the changed pages found by
 * soft-dirty, the way CRIU's pre-dump finds them, or without any tracking
 * (stop-and-copy). bench/dump-precopy.sh compares the three.
 *
 *   precopy-dump -m soft-dirty|stop-and-copy -p PID -D DIR
 *		  [-n ITER] [-t PAGES] [-T MS] [-c KB] [-S]
 *
 * Everything but the tracking is libvmtrack's, as vmtrack dump uses it
 * (tools/vmtrack/src/dump.c): the pagemap rule of what a checkpoint keeps,
 * the process_vm_readv() copier, the CRIU image writer, the convergence
 * rule with the same defaults, the freeze, and the same iteration order.
 * What differs:
 *
 *   soft-dirty	before the first copy, clear_refs "4"; after each copy,
 *		freeze, read /proc/PID/pagemap over every private mapping
 *		(bit 55), clear_refs "4", thaw. The freeze is CRIU's: reading
 *		the bits and clearing them is not atomic, and a write in
 *		between would be lost. Its time is reported as
 *		"collect_freeze_ms", apart from the final freeze.
 *   stop-and-copy	freeze, copy every page a checkpoint keeps, thaw.
 *
 * The private mappings are read from /proc/PID/maps at each iteration
 * (vmtrack follows them through its events). The output is vmtrack dump
 * --json's: a line per iteration and a summary with "freeze_ms" (from every
 * thread seen stopped to DIR/last written) and "total_s".
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vmtrack.h"
#include "vmtrack-dump.h"

#define PM_SOFT_DIRTY	(1ULL << 55)
#define PM_CHUNK	65536		/* pagemap entries per pread (512 KiB) */

enum method { SOFT_DIRTY, STOP_AND_COPY };

struct pdump {
	enum method		method;
	pid_t			pid;
	const char		*dir;
	bool			leave_stopped;
	unsigned long		copy_kb;
	long			page_size;
	struct vmtrack_pagemap	*pm;
	struct vmtrack_copier	*cp;
	struct vmtrack_converge	cv;
	struct vmtrack_pset	all;		/* private mappings now */
	struct vmtrack_pset	vdso;
	struct vmtrack_pset	chain;		/* pages the images hold */
	struct vmtrack_pset	pending;	/* dirty, not copied yet */
	struct vmtrack_pset	t1, t2, t3;
	struct vmtrack_segs	segs;
	struct vmtrack_img_writer *w;
	uint64_t		*pmbuf;
	int			pagemap_fd;
	unsigned int		iter;
	uint64_t		total_pages;
	double			collect_freeze;	/* seconds frozen to collect */
	double			t0;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int die_ret(int ret, const char *what)
{
	fprintf(stderr, "precopy-dump: %s: %s\n", what, strerror(ret < 0 ? -ret : ret));
	return ret < 0 ? ret : -ret;
}

/* ---- the mappings and the soft-dirty bits ---- */

static int add_mapping(const struct vmtrack_mapping *map, void *ctx)
{
	struct pdump *d = ctx;

	if (!strcmp(map->name, "[vdso]"))
		return vmtrack_pset_append(&d->vdso, map->start, map->end);
	if (!vmtrack_mapping_watchable(map, true))
		return 0;
	return vmtrack_pset_append(&d->all, map->start, map->end);
}

/* the ranges vmtrack dump would watch (VMTRACK_F_ALL_PRIVATE) */
static int read_mappings(struct pdump *d)
{
	vmtrack_pset_clear(&d->all);
	vmtrack_pset_clear(&d->vdso);
	return vmtrack_maps_walk(d->pid, add_mapping, d);
}

/* @out: the pages of d->all whose soft-dirty bit is set */
static int soft_dirty_pages(struct pdump *d, struct vmtrack_pset *out)
{
	size_t i;

	vmtrack_pset_clear(out);
	for (i = 0; i < d->all.n; i++) {
		uint64_t a = d->all.r[i].start;

		while (a < d->all.r[i].end) {
			uint64_t n = (d->all.r[i].end - a) / d->page_size, k;
			ssize_t got;

			if (n > PM_CHUNK)
				n = PM_CHUNK;
			got = pread(d->pagemap_fd, d->pmbuf, n * 8, a / d->page_size * 8);
			if (got < 0)
				return -errno;
			n = got / 8;
			if (!n)
				return -ESRCH;
			for (k = 0; k < n; k++) {
				uint64_t p = a + k * d->page_size;

				if ((d->pmbuf[k] & PM_SOFT_DIRTY) &&
				    vmtrack_pset_append(out, p, p + d->page_size))
					return -ENOMEM;
			}
			a += n * d->page_size;
		}
	}
	return 0;
}

static int clear_soft_dirty(struct pdump *d)
{
	char path[64];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)d->pid);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "4", 1) != 1)
		ret = -errno;
	if (fd >= 0)
		close(fd);
	return ret;
}

/* pending |= pages soft-dirty now (reads the maps first) */
static int collect(struct pdump *d)
{
	struct vmtrack_pset tmp;
	int ret;

	ret = read_mappings(d);
	if (!ret)
		ret = soft_dirty_pages(d, &d->t1);
	if (!ret)
		ret = vmtrack_pset_or(&d->t2, &d->pending, &d->t1);
	if (ret)
		return ret;
	tmp = d->pending;
	d->pending = d->t2;
	d->t2 = tmp;
	return 0;
}

/* CRIU's pre-dump step: frozen while the bits are read and cleared */
static int collect_and_clear(struct pdump *d)
{
	bool was_stopped;
	double t0;
	int ret;

	ret = vmtrack_freeze(d->pid, &was_stopped);
	if (ret)
		return ret;
	t0 = now();
	ret = collect(d);
	if (!ret)
		ret = clear_soft_dirty(d);
	d->collect_freeze += now() - t0;
	vmtrack_thaw(d->pid);
	return ret;
}

/* ---- one iteration: as write_iteration() of tools/vmtrack/src/dump.c ---- */

static int sink(void *ctx, uint64_t vaddr, uint64_t nr_pages, const void *data)
{
	struct pdump *d = ctx;

	return data ? vmtrack_img_present(d->w, vaddr, nr_pages, data) :
		      vmtrack_img_hole(d->w, vaddr, nr_pages);
}

static int write_iteration(struct pdump *d, const struct vmtrack_pset *dirty, bool frozen,
			   const char *stop)
{
	struct vmtrack_copy_stats st = { 0 };
	char name[16], parent[16], err[256];
	uint64_t up = vmtrack_img_uptime_us(), dirty_pages;
	double t0 = now();
	int ret;

	dirty_pages = vmtrack_pset_bytes(dirty) / d->page_size;
	/* t1: what to copy; t3: the new chain */
	ret = vmtrack_pset_or(&d->t2, &d->all, &d->vdso);
	if (!ret)
		ret = vmtrack_pset_and(&d->t3, dirty, &d->t2);
	if (!ret)
		ret = vmtrack_pagemap_select(d->pm, &d->t3, &d->t1);
	if (!ret && !d->iter) {
		struct vmtrack_pset t = d->t1;

		ret = vmtrack_pset_or(&d->t3, &t, &d->vdso);
		d->t1 = d->t3;
		d->t3 = t;
	}
	if (!ret)
		ret = vmtrack_pset_and(&d->t3, &d->chain, &d->t2);	/* still mapped */
	if (!ret)
		ret = vmtrack_pset_sub(&d->t2, &d->t3, dirty);		/* unchanged */
	if (!ret)
		ret = vmtrack_pset_or(&d->t3, &d->t2, &d->t1);
	if (!ret)
		ret = vmtrack_segs_build(&d->segs, &d->t3, &d->t1);
	if (ret)
		return die_ret(ret, "selecting the pages");

	snprintf(name, sizeof(name), "%u", d->iter + 1);
	snprintf(parent, sizeof(parent), "%u", d->iter);
	ret = vmtrack_img_begin(&d->w, d->dir, name, d->iter ? parent : NULL, d->pid,
				err, sizeof(err));
	if (ret) {
		fprintf(stderr, "precopy-dump: %s\n", err);
		return ret;
	}
	ret = vmtrack_copier_run(d->cp, d->segs.v, d->segs.n, sink, d, &st);
	if (!ret)
		ret = vmtrack_img_commit(d->w, up);
	if (ret) {
		fprintf(stderr, "precopy-dump: iteration %s: %s\n", name,
			vmtrack_img_error(d->w)[0] ? vmtrack_img_error(d->w) : strerror(-ret));
		vmtrack_img_abort(d->w);
		return ret;
	}
	d->iter++;
	ret = vmtrack_pset_sub(&d->chain, &d->t3, vmtrack_copier_gone(d->cp));
	if (ret)
		return die_ret(ret, "out of memory");
	d->total_pages += st.pages;
	if (!frozen)
		vmtrack_converge_copied(&d->cv, st.pages, now() - t0);
	printf("{\"iteration\":%u,\"dir\":\"%s/%u\",\"frozen\":%s,\"dirty_pages\":%" PRIu64
	       ",\"pages\":%" PRIu64 ",\"holes\":%" PRIu64 ",\"gone\":%" PRIu64
	       ",\"seconds\":%.6f,\"stop\":\"%s\"}\n",
	       d->iter, d->dir, d->iter, frozen ? "true" : "false", dirty_pages, st.pages,
	       st.holes, st.gone, now() - t0, stop);
	fflush(stdout);
	return 0;
}

static int link_last(struct pdump *d)
{
	char tmp[PATH_MAX], path[PATH_MAX], name[16];

	snprintf(name, sizeof(name), "%u", d->iter);
	snprintf(tmp, sizeof(tmp), "%s/.last.partial", d->dir);
	snprintf(path, sizeof(path), "%s/last", d->dir);
	if (symlink(name, tmp) || rename(tmp, path))
		return -errno;
	return 0;
}

/* ---- the loop ---- */

static int precopy(struct pdump *d, enum vmtrack_stop *stop)
{
	int ret;

	ret = read_mappings(d);
	if (ret)
		return ret;
	if (d->cv.max_iter == 1 || d->method == STOP_AND_COPY) {
		*stop = VMTRACK_STOP_MAX_ITER;
		return 0;
	}
	/* a write after this is soft-dirty; one before it is in the copy */
	ret = clear_soft_dirty(d);
	if (ret)
		return ret;
	ret = write_iteration(d, &d->all, false, "no");
	while (!ret) {
		vmtrack_pset_clear(&d->pending);
		ret = collect_and_clear(d);
		if (ret)
			break;
		*stop = vmtrack_converge_check(&d->cv,
					       vmtrack_pset_bytes(&d->pending) / d->page_size);
		if (*stop)
			break;
		ret = write_iteration(d, &d->pending, false, "no");
	}
	return ret;
}

static int final_copy(struct pdump *d, enum vmtrack_stop stop, double *freeze_ms)
{
	bool was_stopped;
	double t0;
	int ret;

	ret = vmtrack_freeze(d->pid, &was_stopped);
	if (ret)
		return ret;
	t0 = now();
	if (d->method == STOP_AND_COPY || d->cv.max_iter == 1) {
		ret = read_mappings(d);
		if (!ret)
			ret = write_iteration(d, &d->all, true, vmtrack_stop_name(stop));
	} else {
		ret = collect(d);
		if (!ret)
			ret = write_iteration(d, &d->pending, true, vmtrack_stop_name(stop));
	}
	if (!ret)
		ret = link_last(d);
	*freeze_ms = (now() - t0) * 1000;
	/* as vmtrack dump --leave-stopped: the stop is queued before the detach */
	if (d->leave_stopped && !was_stopped)
		kill(d->pid, SIGSTOP);
	vmtrack_thaw(d->pid);
	return ret;
}

static void usage(void)
{
	fprintf(stderr, "usage: precopy-dump -m soft-dirty|stop-and-copy -p PID -D DIR\n"
		"                    [-n ITER] [-t PAGES] [-T MS] [-c KB] [-S]\n");
	exit(2);
}

static void parse(int argc, char **argv, struct pdump *d, unsigned long *max_iter,
		  unsigned long *threshold, unsigned long *downtime_ms)
{
	static const struct option longopts[] = {
		{ "method",		required_argument,	NULL, 'm' },
		{ "pid",		required_argument,	NULL, 'p' },
		{ "dir",		required_argument,	NULL, 'D' },
		{ "max-iter",		required_argument,	NULL, 'n' },
		{ "threshold",		required_argument,	NULL, 't' },
		{ "downtime-ms",	required_argument,	NULL, 'T' },
		{ "copy-buffer-kb",	required_argument,	NULL, 'c' },
		{ "leave-stopped",	no_argument,		NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	const char *method = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "m:p:D:n:t:T:c:S", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			method = optarg;
			break;
		case 'p':
			d->pid = atoi(optarg);
			break;
		case 'D':
			d->dir = optarg;
			break;
		case 'n':
			*max_iter = strtoul(optarg, NULL, 0);
			break;
		case 't':
			*threshold = strtoul(optarg, NULL, 0);
			break;
		case 'T':
			*downtime_ms = strtoul(optarg, NULL, 0);
			break;
		case 'c':
			d->copy_kb = strtoul(optarg, NULL, 0);
			break;
		case 'S':
			d->leave_stopped = true;
			break;
		default:
			usage();
		}
	}
	if (!method || d->pid <= 0 || !d->dir || !*max_iter || !d->copy_kb)
		usage();
	if (!strcmp(method, "soft-dirty"))
		d->method = SOFT_DIRTY;
	else if (!strcmp(method, "stop-and-copy"))
		d->method = STOP_AND_COPY;
	else
		usage();
}

int main(int argc, char **argv)
{
	/* vmtrack dump's defaults */
	unsigned long max_iter = 8, threshold = 64, downtime_ms = 300;
	struct pdump d = { .copy_kb = 4096, .pagemap_fd = -1 };
	enum vmtrack_stop stop = VMTRACK_STOP_NO;
	double freeze_ms = 0;
	char path[64], err[256];
	int ret;

	parse(argc, argv, &d, &max_iter, &threshold, &downtime_ms);
	d.page_size = sysconf(_SC_PAGESIZE);
	d.t0 = now();
	vmtrack_converge_init(&d.cv, max_iter, threshold, downtime_ms, d.page_size);
	if (mkdir(d.dir, 0700) && errno != EEXIST) {
		die_ret(errno, d.dir);
		return 1;
	}
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)d.pid);
	d.pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
	d.pmbuf = malloc(PM_CHUNK * sizeof(*d.pmbuf));
	d.cp = vmtrack_copier_new(d.pid, d.copy_kb * 1024);
	if (d.pagemap_fd < 0 || !d.pmbuf || !d.cp) {
		die_ret(errno ? errno : ENOMEM, path);
		return 1;
	}
	ret = vmtrack_pagemap_open(&d.pm, d.pid, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "precopy-dump: %s\n", err);
		return 1;
	}
	ret = precopy(&d, &stop);
	if (!ret)
		ret = final_copy(&d, stop, &freeze_ms);
	if (ret) {
		die_ret(ret, "dump failed");
		return 1;
	}
	printf("{\"summary\":{\"method\":\"%s\",\"pid\":%d,\"dir\":\"%s\",\"iterations\":%u,"
	       "\"pages\":%" PRIu64 ",\"stop\":\"%s\",\"freeze_ms\":%.3f,\"total_s\":%.3f,"
	       "\"collect_freeze_ms\":%.3f}}\n",
	       d.method == SOFT_DIRTY ? "soft-dirty" : "stop-and-copy", (int)d.pid, d.dir,
	       d.iter, d.total_pages, vmtrack_stop_name(stop), freeze_ms, now() - d.t0,
	       d.collect_freeze * 1000);
	return 0;
}
