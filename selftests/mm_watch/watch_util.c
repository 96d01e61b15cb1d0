// SPDX-License-Identifier: GPL-2.0
/*
 * Helpers for the mm_watch selftests.
 *
 * The events are read back from a private tracefs instance through its text
 * "trace" file with the "fields" option set, so every field is printed as
 * name=value from the event format, independently of TP_printk. Lost events
 * are detected from per_cpu/cpuN/stats: a test must not pass when events
 * were dropped.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <linux/userfaultfd.h>

#include "../kselftest.h"
#include "watch_util.h"

#ifndef __NR_pidfd_open
#define __NR_pidfd_open		434
#endif
#ifndef __NR_process_madvise
#define __NR_process_madvise	440
#endif

size_t mmw_page_size = 4096;

static const char * const mmw_names[MMW_NR_TYPES] = {
	[MMW_MARK]		= "mark",
	[MMW_UNMARK]		= "unmark",
	[MMW_WRITE_FAULT]	= "write_fault",
	[MMW_ZAP]		= "zap",
	[MMW_MOVE]		= "move",
	[MMW_UNMAP]		= "unmap",
	[MMW_EXIT]		= "exit",
	[MMW_PINNED]		= "pinned",
};

static __attribute__((constructor)) void mmw_init_page_size(void)
{
	mmw_page_size = sysconf(_SC_PAGESIZE);
}

const char *mmw_type_name(enum mmw_type type)
{
	if (type >= MMW_NR_TYPES)
		return "?";
	return mmw_names[type];
}

int mmw_write_file(const char *path, const char *str)
{
	size_t len = strlen(str);
	ssize_t ret;
	int fd;

	fd = open(path, O_WRONLY | O_TRUNC);
	if (fd < 0)
		return -1;
	ret = write(fd, str, len);
	close(fd);
	if (ret < 0)
		return -1;
	if ((size_t)ret != len) {
		errno = EIO;
		return -1;
	}
	return 0;
}

int mmw_read_file(const char *path, char *buf, size_t len)
{
	ssize_t ret;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ret = read(fd, buf, len - 1);
	close(fd);
	if (ret < 0)
		return -1;
	buf[ret] = '\0';
	return 0;
}

long long mmw_read_num(const char *path)
{
	char buf[64];

	if (mmw_read_file(path, buf, sizeof(buf)))
		return -1;
	return strtoll(buf, NULL, 0);
}

int mmw_write_num(const char *path, long long val)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", val);
	return mmw_write_file(path, buf);
}

struct mmw_saved_setting {
	char path[128];
	char val[128];
};

static struct mmw_saved_setting saved[16];
static int nr_saved;

int mmw_set_setting(const char *path, const char *val)
{
	struct mmw_saved_setting *s;

	if (nr_saved == ARRAY_SIZE(saved))
		return -1;
	s = &saved[nr_saved];
	if (mmw_read_file(path, s->val, sizeof(s->val)))
		return -1;
	snprintf(s->path, sizeof(s->path), "%s", path);
	nr_saved++;
	return mmw_write_file(path, val);
}

/* In the reverse order, so that a setting written twice gets its first value. */
void mmw_restore_settings(void)
{
	while (nr_saved > 0) {
		nr_saved--;
		if (mmw_write_file(saved[nr_saved].path, saved[nr_saved].val))
			ksft_print_msg("cannot restore %s\n", saved[nr_saved].path);
	}
}

int mmw_feature_check(char *why, size_t len)
{
	struct stat st;
	void *p;

	if (stat(MMW_TRACEFS "/events", &st))
		mount("tracefs", MMW_TRACEFS, "tracefs", 0, NULL);
	if (stat(MMW_TRACEFS "/events", &st)) {
		snprintf(why, len, "tracefs is not available at %s", MMW_TRACEFS);
		return KSFT_SKIP;
	}
	if (stat(MMW_TRACEFS "/events/mm_watch", &st)) {
		snprintf(why, len, "no mm_watch events (CONFIG_MEM_WATCH not set?)");
		return KSFT_SKIP;
	}

	p = mmap(NULL, mmw_page_size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		snprintf(why, len, "mmap: %s", strerror(errno));
		return -1;
	}
	if (madvise(p, mmw_page_size, MADV_WATCH)) {
		int err = errno;

		munmap(p, mmw_page_size);
		snprintf(why, len, "madvise(MADV_WATCH): %s", strerror(err));
		return err == EINVAL ? KSFT_SKIP : -1;
	}
	madvise(p, mmw_page_size, MADV_UNWATCH);
	munmap(p, mmw_page_size);
	return 0;
}

static int mmw_instance_write(struct mmw_trace *t, const char *file, const char *str)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", t->dir, file);
	return mmw_write_file(path, str);
}

static unsigned long long mmw_lost_total(struct mmw_trace *t)
{
	unsigned long long total = 0;
	char path[PATH_MAX], line[256];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/per_cpu", t->dir);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		FILE *f;

		if (strncmp(de->d_name, "cpu", 3))
			continue;
		snprintf(path, sizeof(path), "%s/per_cpu/%s/stats", t->dir, de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			static const char * const keys[] = {
				"overrun:", "commit overrun:", "dropped events:"
			};
			size_t i;

			for (i = 0; i < ARRAY_SIZE(keys); i++) {
				size_t kl = strlen(keys[i]);

				if (!strncmp(line, keys[i], kl))
					total += strtoull(line + kl, NULL, 0);
			}
		}
		fclose(f);
	}
	closedir(d);
	return total;
}

int mmw_trace_set_filter(struct mmw_trace *t, const char *filter)
{
	char path[PATH_MAX], def[64];
	struct dirent *de;
	int ret = 0, n = 0;
	DIR *d;

	if (!filter) {
		snprintf(def, sizeof(def), "tgid==%d", getpid());
		filter = def;
	}
	snprintf(path, sizeof(path), "%s/events/mm_watch", t->dir);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/events/mm_watch/%s/filter", t->dir, de->d_name);
		if (stat(path, &st))
			continue;
		if (mmw_write_file(path, filter)) {
			ksft_print_msg("cannot set filter '%s' on mm_watch:%s: %s\n",
				       filter, de->d_name, strerror(errno));
			ret = -1;
		}
		n++;
	}
	closedir(d);
	return n ? ret : -1;
}

int mmw_trace_clear(struct mmw_trace *t)
{
	if (mmw_instance_write(t, "trace", ""))
		return -1;
	t->lost_base = mmw_lost_total(t);
	t->lost = 0;
	t->nr = 0;
	return 0;
}

int mmw_trace_init(struct mmw_trace *t, const char *filter, unsigned int buf_kb)
{
	char buf[64];

	memset(t, 0, sizeof(*t));
	snprintf(t->dir, sizeof(t->dir), MMW_TRACEFS "/instances/mmw-test-%d", getpid());
	if (mkdir(t->dir, 0700)) {
		if (errno != EEXIST || rmdir(t->dir) || mkdir(t->dir, 0700)) {
			ksft_print_msg("mkdir %s: %s\n", t->dir, strerror(errno));
			t->dir[0] = '\0';
			return -1;
		}
	}
	snprintf(buf, sizeof(buf), "%u", buf_kb);
	if (mmw_instance_write(t, "tracing_on", "0") ||
	    mmw_instance_write(t, "buffer_size_kb", buf) ||
	    mmw_instance_write(t, "options/overwrite", "0")) {
		ksft_print_msg("cannot configure %s: %s\n", t->dir, strerror(errno));
		goto err;
	}
	/* Print fields by name from the event format; parser copes without. */
	mmw_instance_write(t, "options/fields", "1");
	/* Keep recording while the trace file is read. */
	mmw_instance_write(t, "options/pause-on-trace", "0");
	/* One clock for all CPUs, so that the merged order is meaningful. */
	if (mmw_instance_write(t, "trace_clock", "mono"))
		mmw_instance_write(t, "trace_clock", "global");
	if (mmw_trace_set_filter(t, filter))
		goto err;
	if (mmw_instance_write(t, "events/mm_watch/enable", "1")) {
		ksft_print_msg("cannot enable mm_watch events: %s\n", strerror(errno));
		goto err;
	}
	if (mmw_instance_write(t, "tracing_on", "1") || mmw_trace_clear(t))
		goto err;
	return 0;
err:
	mmw_trace_fini(t);
	return -1;
}

void mmw_trace_fini(struct mmw_trace *t)
{
	if (t->dir[0]) {
		mmw_instance_write(t, "tracing_on", "0");
		mmw_instance_write(t, "events/mm_watch/enable", "0");
		if (rmdir(t->dir))
			ksft_print_msg("rmdir %s: %s\n", t->dir, strerror(errno));
		t->dir[0] = '\0';
	}
	free(t->ev);
	t->ev = NULL;
	t->nr = 0;
	t->cap = 0;
}

static int mmw_name_to_type(const char *name, size_t len)
{
	int i;

	/* Event names are "mm_watch_<type>" (include/trace/events/mm_watch.h). */
	if (len <= 9 || strncmp(name, "mm_watch_", 9))
		return -1;
	name += 9;
	len -= 9;
	for (i = 0; i < MMW_NR_TYPES; i++)
		if (strlen(mmw_names[i]) == len && !strncmp(name, mmw_names[i], len))
			return i;
	return -1;
}

static int mmw_parse_line(char *line, struct mmw_event *ev)
{
	unsigned long address = 0, size = 0, len = 0;
	char *p, *name, *tok, *save;
	int type, rearm;

	/* "<task>-<pid> [cpu] flags ts: <event>: mm_id=... tgid=..." */
	p = strstr(line, " mm_id=");
	if (!p)
		return -1;
	name = p;
	while (name > line && name[-1] == ' ')
		name--;
	if (name == line || name[-1] != ':')
		return -1;
	*--name = '\0';
	while (name > line && name[-1] != ' ' && name[-1] != ':')
		name--;
	/* A re-arm is kept as a mark of a range that was already watched. */
	rearm = !strcmp(name, "mm_watch_rearm");
	type = rearm ? MMW_MARK : mmw_name_to_type(name, strlen(name));
	if (type < 0)
		return -1;

	memset(ev, 0, sizeof(*ev));
	ev->type = type;
	ev->rearm = rearm;
	/* "<task>-<pid> [003] ...": the last '[' before the event name */
	ev->cpu = -1;
	for (tok = name; tok > line; tok--) {
		if (tok[-1] == '[') {
			ev->cpu = atoi(tok);
			break;
		}
	}
	/* "... 123.456789: <event>:" */
	if (name - line > 3 && name[-1] == ' ' && name[-2] == ':') {
		char *ts = name - 2;
		unsigned long long sec, usec;

		while (ts > line && ts[-1] != ' ')
			ts--;
		if (sscanf(ts, "%llu.%llu:", &sec, &usec) == 2)
			ev->ts_ns = sec * 1000000000ULL + usec * 1000ULL;
	}
	for (tok = strtok_r(p + 1, "\n ", &save); tok; tok = strtok_r(NULL, "\n ", &save)) {
		char *eq = strchr(tok, '='), *end;
		unsigned long long val;

		if (!eq)
			continue;	/* "(1234)" after a hex value */
		*eq++ = '\0';
		val = strtoull(eq, &end, 0);
		if (end == eq) {
			/* Symbolic value (TP_printk output): only zap reasons. */
			if (!strcmp(tok, "reason"))
				val = !strcmp(eq, "dontneed") ? MMW_ZAP_DONTNEED :
				      !strcmp(eq, "free") ? MMW_ZAP_FREE : MMW_ZAP_OTHER;
			else
				continue;
		}
		if (!strcmp(tok, "mm_id"))
			ev->mm_id = val;
		else if (!strcmp(tok, "tgid"))
			ev->tgid = (int)val;
		else if (!strcmp(tok, "seq"))
			ev->seq = val;
		else if (!strcmp(tok, "start") || !strcmp(tok, "old_start"))
			ev->start = val;
		else if (!strcmp(tok, "end"))
			ev->end = val;
		else if (!strcmp(tok, "new_start"))
			ev->new_start = val;
		else if (!strcmp(tok, "address"))
			address = val;
		else if (!strcmp(tok, "size"))
			size = val;
		else if (!strcmp(tok, "len"))
			len = val;
		else if (!strcmp(tok, "reason"))
			ev->reason = (int)val;
	}
	if (type == MMW_WRITE_FAULT || type == MMW_PINNED) {
		ev->start = address;
		ev->end = address + size;
	} else if (type == MMW_MOVE) {
		ev->end = ev->start + len;
	}
	return 0;
}

ssize_t mmw_trace_read(struct mmw_trace *t)
{
	char path[PATH_MAX], *line = NULL;
	size_t cap = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/trace", t->dir);
	f = fopen(path, "r");
	if (!f)
		return -1;
	t->nr = 0;
	t->nr_unparsed = 0;
	while (getline(&line, &cap, f) > 0) {
		struct mmw_event ev;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (strstr(line, "LOST") && strstr(line, "EVENTS")) {
			/* "CPU:N [LOST n EVENTS]" */
			t->lost_base = 0;
			t->lost += 1;
			continue;
		}
		if (mmw_parse_line(line, &ev)) {
			t->nr_unparsed++;
			continue;
		}
		if (t->nr == t->cap) {
			size_t ncap = t->cap ? t->cap * 2 : 1024;
			void *n = realloc(t->ev, ncap * sizeof(*t->ev));

			if (!n) {
				fclose(f);
				free(line);
				return -1;
			}
			t->ev = n;
			t->cap = ncap;
		}
		t->ev[t->nr++] = ev;
	}
	free(line);
	fclose(f);
	t->lost = mmw_lost_total(t) - t->lost_base + t->lost;
	return t->nr;
}

void mmw_trace_dump(struct mmw_trace *t, size_t max)
{
	size_t i;

	for (i = 0; i < t->nr && i < max; i++) {
		const struct mmw_event *e = &t->ev[i];

		ksft_print_msg("  %-11s id=%llu tgid=%d seq=%llu cpu%d [%#lx, %#lx) %#lx %d/%d\n",
			       mmw_type_name(e->type), (unsigned long long)e->mm_id, e->tgid,
			       (unsigned long long)e->seq, e->cpu, e->start, e->end, e->new_start,
			       e->rearm, e->reason);
	}
	if (t->nr > max)
		ksft_print_msg("  ... %zu more events\n", t->nr - max);
}

static bool mmw_match(const struct mmw_event *e, enum mmw_type type, __u64 mm_id,
		      unsigned long start, unsigned long end)
{
	unsigned long s = e->start, en = e->end;

	if (type != MMW_NR_TYPES && e->type != type)
		return false;
	if (mm_id && e->mm_id != mm_id)
		return false;
	if (e->type == MMW_EXIT)
		return true;
	if (e->type == MMW_MOVE && start >= e->new_start &&
	    start < e->new_start + (e->end - e->start)) {
		s = e->new_start;
		en = e->new_start + (e->end - e->start);
	}
	return s < end && start < en;
}

int mmw_cmp_seq(const void *a, const void *b)
{
	const struct mmw_event *x = a, *y = b;

	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return (int)mmw_numbered(y) - (int)mmw_numbered(x);
}

size_t mmw_count(struct mmw_trace *t, enum mmw_type type, __u64 mm_id,
		 unsigned long start, unsigned long end)
{
	size_t i, n = 0;

	for (i = 0; i < t->nr; i++)
		n += mmw_match(&t->ev[i], type, mm_id, start, end);
	return n;
}

const struct mmw_event *mmw_find(struct mmw_trace *t, enum mmw_type type, __u64 mm_id,
				 unsigned long start, unsigned long end)
{
	size_t i;

	for (i = 0; i < t->nr; i++)
		if (mmw_match(&t->ev[i], type, mm_id, start, end))
			return &t->ev[i];
	return NULL;
}

__u64 mmw_mm_id_of(struct mmw_trace *t, int tgid)
{
	size_t i;

	for (i = 0; i < t->nr; i++)
		if (t->ev[i].type == MMW_MARK && t->ev[i].tgid == tgid)
			return t->ev[i].mm_id;
	return 0;
}

static void mmw_set_range(unsigned long s, unsigned long e, unsigned long base,
			  size_t npages, unsigned char *reported)
{
	unsigned long limit = base + npages * mmw_page_size;

	if (e <= base || s >= limit)
		return;
	if (s < base)
		s = base;
	if (e > limit)
		e = limit;
	for (; s < e; s = (s & ~(mmw_page_size - 1)) + mmw_page_size)
		reported[(s - base) / mmw_page_size] = 1;
}

void mmw_reported(struct mmw_trace *t, __u64 mm_id, unsigned int mask, size_t from,
		  unsigned long base, size_t npages, unsigned char *reported)
{
	size_t i;

	for (i = from; i < t->nr; i++) {
		const struct mmw_event *e = &t->ev[i];

		if (!(mask & MMW_BIT(e->type)))
			continue;
		if (mm_id && e->mm_id != mm_id)
			continue;
		if (e->type == MMW_MOVE)
			mmw_set_range(e->new_start, e->new_start + (e->end - e->start),
				      base, npages, reported);
		else
			mmw_set_range(e->start, e->end, base, npages, reported);
	}
}

void *mmw_snapshot(const void *addr, size_t len)
{
	void *snap = malloc(len);

	if (snap)
		memcpy(snap, addr, len);
	return snap;
}

size_t mmw_changed(const void *snap, const void *addr, size_t len, unsigned char *changed)
{
	size_t i, n = 0;

	for (i = 0; i < len / mmw_page_size; i++) {
		size_t off = i * mmw_page_size;

		changed[i] = !!memcmp((const char *)snap + off, (const char *)addr + off,
				      mmw_page_size);
		n += changed[i];
	}
	return n;
}

size_t mmw_missing(const unsigned char *changed, const unsigned char *reported,
		   size_t npages, unsigned long base, const char *what)
{
	size_t i, n = 0;

	for (i = 0; i < npages; i++) {
		if (!changed[i] || reported[i])
			continue;
		if (n < 8)
			ksft_print_msg("%s: page %zu (%#lx) changed without an event\n",
				       what, i, base + i * mmw_page_size);
		n++;
	}
	if (n)
		ksft_print_msg("%s: %zu changed page(s) not reported\n", what, n);
	return n;
}

size_t mmw_unreported_changes(struct mmw_trace *t, __u64 mm_id, const void *snap,
			      const void *addr, size_t len, const char *what)
{
	size_t npages = len / mmw_page_size, n;
	unsigned char *changed = calloc(npages, 1);
	unsigned char *reported = calloc(npages, 1);

	if (!changed || !reported) {
		free(changed);
		free(reported);
		return npages;
	}
	mmw_changed(snap, addr, len, changed);
	mmw_reported(t, mm_id, MMW_CHANGE_EVENTS, 0, (unsigned long)addr, npages, reported);
	n = mmw_missing(changed, reported, npages, (unsigned long)addr, what);
	if (n)
		mmw_trace_dump(t, 40);
	free(changed);
	free(reported);
	return n;
}

static FILE *mmw_open_smaps(pid_t pid)
{
	char path[64];

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/smaps");
	return fopen(path, "r");
}

/* Position @f after the header line of the VMA that contains @addr. */
static bool mmw_smaps_find(FILE *f, unsigned long addr, char *line, size_t len)
{
	unsigned long s, e;

	while (fgets(line, len, f))
		if (sscanf(line, "%lx-%lx ", &s, &e) == 2 && addr >= s && addr < e)
			return true;
	return false;
}

int mmw_vma_has_flag(pid_t pid, unsigned long addr, const char *flag)
{
	char line[1024];
	int ret = -1;
	FILE *f;

	f = mmw_open_smaps(pid);
	if (!f)
		return -1;
	if (!mmw_smaps_find(f, addr, line, sizeof(line)))
		goto out;
	while (fgets(line, sizeof(line), f)) {
		char *tok, *save;

		if (strncmp(line, "VmFlags:", 8))
			continue;
		ret = 0;
		for (tok = strtok_r(line + 8, "\n ", &save); tok;
		     tok = strtok_r(NULL, "\n ", &save))
			if (!strcmp(tok, flag))
				ret = 1;
		break;
	}
out:
	fclose(f);
	return ret;
}

long mmw_vma_field_kb(pid_t pid, unsigned long addr, const char *field)
{
	size_t fl = strlen(field);
	char line[1024];
	long ret = -1;
	FILE *f;

	f = mmw_open_smaps(pid);
	if (!f)
		return -1;
	if (!mmw_smaps_find(f, addr, line, sizeof(line)))
		goto out;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, field, fl)) {
			ret = strtol(line + fl, NULL, 10);
			break;
		}
		if (!strncmp(line, "VmFlags:", 8))
			break;
	}
out:
	fclose(f);
	return ret;
}

int mmw_open_pagemap(pid_t pid)
{
	char path[64];

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/pagemap");
	return open(path, O_RDONLY);
}

__u64 mmw_pagemap(int fd, unsigned long addr)
{
	__u64 ent = 0;

	if (pread(fd, &ent, sizeof(ent), (addr / mmw_page_size) * sizeof(ent)) != sizeof(ent))
		return 0;
	return ent;
}

unsigned long mmw_soft_dirty(int pagemap, const char *p, size_t n)
{
	unsigned long bits = 0;
	size_t i;

	for (i = 0; i < n; i++)
		if (mmw_pagemap(pagemap, mmw_pg(p, i)) & PM_SOFT_DIRTY)
			bits |= 1UL << i;
	return bits;
}

void *mmw_map_aligned(size_t len, size_t align, int prot, int flags)
{
	char *p, *a;

	p = mmap(NULL, len + align, prot, flags, -1, 0);
	if (p == MAP_FAILED)
		return MAP_FAILED;
	a = (char *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
	if (a > p)
		munmap(p, a - p);
	if (p + len + align > a + len)
		munmap(a + len, p + len + align - (a + len));
	return a;
}

static bool mmw_swap_active(void)
{
	char line[256];
	int n = 0;
	FILE *f;

	f = fopen("/proc/swaps", "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		n++;
	fclose(f);
	return n > 1;
}

static bool mmw_zram_swap;

int mmw_swap_setup(char *why, size_t len)
{
	struct stat st;
	int status;
	pid_t pid;

	if (mmw_swap_active())
		return 0;
	if (stat("/sys/block/zram0", &st) &&
	    mmw_read_num("/sys/class/zram-control/hot_add") < 0) {
		snprintf(why, len, "no swap and no zram device");
		return KSFT_SKIP;
	}
	if (stat("/sys/block/zram0", &st)) {
		snprintf(why, len, "no swap and no zram0");
		return KSFT_SKIP;
	}
	mmw_write_file("/sys/block/zram0/reset", "1");
	if (mmw_write_file("/sys/block/zram0/disksize", "64M")) {
		snprintf(why, len, "cannot size zram0: %s", strerror(errno));
		return KSFT_SKIP;
	}
	pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		dup2(fd, 1);
		dup2(fd, 2);
		execlp("mkswap", "mkswap", "/dev/zram0", NULL);
		execl("/sbin/mkswap", "mkswap", "/dev/zram0", NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status)) {
		snprintf(why, len, "mkswap /dev/zram0 failed");
		mmw_write_file("/sys/block/zram0/reset", "1");
		return KSFT_SKIP;
	}
	if (swapon("/dev/zram0", 0)) {
		snprintf(why, len, "swapon /dev/zram0: %s", strerror(errno));
		mmw_write_file("/sys/block/zram0/reset", "1");
		return KSFT_SKIP;
	}
	mmw_zram_swap = true;
	return 0;
}

void mmw_swap_teardown(void)
{
	if (!mmw_zram_swap)
		return;
	swapoff("/dev/zram0");
	mmw_write_file("/sys/block/zram0/reset", "1");
	mmw_zram_swap = false;
}

long mmw_ksm_merged(void)
{
	char buf[256], *s;

	if (!mmw_read_file("/proc/self/ksm_stat", buf, sizeof(buf))) {
		s = strstr(buf, "ksm_merging_pages");
		if (s)
			return strtol(s + strlen("ksm_merging_pages"), NULL, 10);
	}
	return mmw_read_num("/proc/self/ksm_merging_pages");
}

long mmw_ksm_merge(long want, int timeout_s)
{
	struct timespec t0, t1;
	long merged;

	if (mmw_set_setting("/sys/kernel/mm/ksm/sleep_millisecs", "10") ||
	    mmw_set_setting("/sys/kernel/mm/ksm/pages_to_scan", "1000") ||
	    mmw_set_setting("/sys/kernel/mm/ksm/run", "1"))
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		usleep(100000);
		merged = mmw_ksm_merged();
		clock_gettime(CLOCK_MONOTONIC, &t1);
	} while (merged < want && t1.tv_sec - t0.tv_sec < timeout_s);
	/*
	 * Stopped, ksmd leaves the pages merged, and a COW copy still equal
	 * to its KSM page is not merged again before the store retires (it
	 * would fault, and be reported, twice).
	 */
	if (mmw_write_file("/sys/kernel/mm/ksm/run", "0"))
		return -1;
	return merged;
}

#define MMW_UPROBE_ENABLE	MMW_TRACEFS "/events/mmw_test/bp/enable"

char *mmw_map_nop_text(size_t n, int *fd)
{
	size_t len = n * mmw_page_size;
	char *buf, *p = MAP_FAILED;

	*fd = memfd_create("mmw-text", 0);
	buf = malloc(len);
	if (*fd < 0 || !buf)
		goto out;
	memset(buf, 0x90, len);		/* nop */
	if (write(*fd, buf, len) != (ssize_t)len)
		goto out;
	p = mmap(NULL, len, PROT_READ | PROT_EXEC, MAP_PRIVATE, *fd, 0);
	if (p != MAP_FAILED)
		mmw_read_pages(p, n);
out:
	free(buf);
	return p;
}

int mmw_uprobe_set(const char *path, unsigned long offset, bool on)
{
	char def[128];
	int fd, ret = 0;

	if (!on && mmw_write_file(MMW_UPROBE_ENABLE, "0"))
		ret = -1;
	snprintf(def, sizeof(def), on ? "p:mmw_test/bp %s:0x%lx\n" : "-:mmw_test/bp\n",
		 path, offset);
	/* append: other probes stay */
	fd = open(MMW_UPROBE_EVENTS, O_WRONLY | O_APPEND);
	if (fd < 0 || write(fd, def, strlen(def)) != (ssize_t)strlen(def))
		ret = -1;
	if (fd >= 0)
		close(fd);
	if (on && !ret && mmw_write_file(MMW_UPROBE_ENABLE, "1"))
		ret = -1;
	return ret;
}

int mmw_pidfd_open(pid_t pid)
{
	return syscall(__NR_pidfd_open, pid, 0);
}

ssize_t mmw_process_madvise(int pidfd, const struct iovec *iov, size_t n, int advice)
{
	return syscall(__NR_process_madvise, pidfd, iov, n, advice, 0);
}

void mmw_read_pages(const char *p, size_t n)
{
	size_t i;
	char c = 0;

	for (i = 0; i < n; i++)
		c += p[i * mmw_page_size];
	/* keep the loads */
	asm volatile("" : : "r" (c));
}

int mmw_uffd_open(__u64 features)
{
	struct uffdio_api api = { .api = UFFD_API, .features = features };
	int fd, err;

	fd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -1;
	if (ioctl(fd, UFFDIO_API, &api)) {
		err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

int mmw_uffd_register(int fd, void *p, size_t len, __u64 mode)
{
	struct uffdio_register reg = {
		.range = { .start = (unsigned long)p, .len = len },
		.mode = mode,
	};

	return ioctl(fd, UFFDIO_REGISTER, &reg);
}
