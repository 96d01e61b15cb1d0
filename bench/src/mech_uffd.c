// SPDX-License-Identifier: GPL-2.0
/*
 * Peers (b) and (c): userfaultfd write-protect.
 *
 * (b) sync: a handler thread reads each write-protect fault message, logs the
 *     page and un-protects it (UFFDIO_WRITEPROTECT mode 0 on one page, which
 *     wakes the writer). Collect: the log; re-arm: UFFDIO_WRITEPROTECT on
 *     each dirty range (there is no vectored form).
 * (c) UFFD_FEATURE_WP_ASYNC: the kernel resolves the faults itself; collect
 *     and re-arm are one PAGEMAP_SCAN ioctl per output buffer: pages that
 *     are PAGE_IS_WRITTEN are returned and write-protected atomically
 *     (PM_SCAN_WP_MATCHING).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench.h"
#include "uapi-compat.h"

/* PAGEMAP_SCAN output buffer: 4096 regions (96 KiB) per ioctl */
#define SCAN_VEC	4096

struct uf_state {
	int			fd;
	bool			async;
	/* sync */
	pthread_t		th;
	bool			th_running;
	clockid_t		th_clock;
	pthread_mutex_t		lock;
	uint64_t		*log;
	size_t			nlog;
	size_t			alloc;
	uint64_t		msgs;
	uint64_t		msgs_seen;
	int			err;
	/* async */
	int			pagemap;
	struct page_region	*vec;
};

/* @tgt: a userfaultfd of its mm, opened there; NULL: of this process */
static int uffd_open(struct target *tgt, uint64_t features, uint64_t *got)
{
	struct uffdio_api api = { .api = UFFD_API, .features = features };
	int fd;

	if (tgt) {
		fd = target_userfaultfd(tgt, O_CLOEXEC);
		if (fd < 0)
			return fd;
	} else {
		fd = syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
		if (fd < 0)
			fd = syscall(SYS_userfaultfd, O_CLOEXEC);
		if (fd < 0)
			return -errno;
	}
	if (ioctl(fd, UFFDIO_API, &api)) {
		int err = -errno;

		close(fd);
		return err;
	}
	if (got)
		*got = api.features;
	return fd;
}

static int uffd_wp(int fd, uint64_t start, uint64_t len, bool protect)
{
	struct uffdio_writeprotect wp = {
		.range = { .start = start, .len = len },
		.mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	return ioctl(fd, UFFDIO_WRITEPROTECT, &wp) ? -errno : 0;
}

static int uf_probe_common(bool async, char *why, size_t len)
{
	struct uffdio_register reg = { 0 };
	struct region r = { 0 };
	uint64_t got = 0;
	int fd, ret = 0;

	fd = uffd_open(NULL, async ? UFFD_FEATURE_WP_ASYNC : 0, &got);
	if (fd < 0) {
		snprintf(why, len, "userfaultfd/UFFDIO_API: %s", strerror(-fd));
		return fd;
	}
	if (region_map(&r, 4096, true)) {
		close(fd);
		return -ENOMEM;
	}
	reg.range.start = (uintptr_t)r.base;
	reg.range.len = r.len;
	reg.mode = UFFDIO_REGISTER_MODE_WP;
	if (ioctl(fd, UFFDIO_REGISTER, &reg) || uffd_wp(fd, reg.range.start, r.len, true)) {
		snprintf(why, len, "UFFDIO_REGISTER_MODE_WP: %s", strerror(errno));
		ret = -EOPNOTSUPP;
	}
	if (!ret && async) {
		/* a write must be resolved by the kernel and seen by PAGEMAP_SCAN */
		struct page_region pr;
		struct pm_scan_arg arg = {
			.size = sizeof(arg), .flags = PM_SCAN_CHECK_WPASYNC,
			.start = reg.range.start, .end = reg.range.start + r.len,
			.vec = (uintptr_t)&pr, .vec_len = 1,
			.category_mask = PAGE_IS_WRITTEN, .return_mask = PAGE_IS_WRITTEN,
		};
		int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

		r.base[0] = 3;
		if (pm < 0 || ioctl(pm, PAGEMAP_SCAN, &arg) != 1) {
			snprintf(why, len, "PAGEMAP_SCAN: %s", strerror(errno));
			ret = -EOPNOTSUPP;
		}
		if (pm >= 0)
			close(pm);
	}
	close(fd);
	region_unmap(&r);
	return ret;
}

static int uf_probe_sync(char *why, size_t len)
{
	return uf_probe_common(false, why, len);
}

static int uf_probe_async(char *why, size_t len)
{
	return uf_probe_common(true, why, len);
}

static int log_page(struct uf_state *s, uint64_t addr)
{
	int ret = 0;

	pthread_mutex_lock(&s->lock);
	if (s->nlog == s->alloc) {
		size_t a = s->alloc ? s->alloc * 2 : 4096;
		uint64_t *l = realloc(s->log, a * sizeof(*l));

		if (!l) {
			ret = -ENOMEM;
			goto out;
		}
		s->log = l;
		s->alloc = a;
	}
	s->log[s->nlog++] = addr;
	s->msgs++;
out:
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* the monitor of sync mode: one blocking read() and one ioctl() per fault */
static void *handler(void *arg)
{
	struct uf_state *s = arg;
	size_t psz = sysconf(_SC_PAGESIZE);
	struct uffd_msg msg[64];
	ssize_t n;
	int i;

	for (;;) {
		n = read(s->fd, msg, sizeof(msg));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			s->err = n < 0 ? -errno : -EIO;
			return NULL;
		}
		for (i = 0; i < (int)(n / sizeof(msg[0])); i++) {
			uint64_t a;

			if (msg[i].event != UFFD_EVENT_PAGEFAULT ||
			    !(msg[i].arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP))
				continue;
			a = msg[i].arg.pagefault.address & ~(uint64_t)(psz - 1);
			if (log_page(s, a))
				s->err = -ENOMEM;
			/* resolve: writable again, and wake the writer */
			if (uffd_wp(s->fd, a, psz, false))
				s->err = -errno;
		}
	}
}

/*
 * Writer and monitor on one CPU: under TCG a wake-up of an idle vCPU costs
 * milliseconds (the emulator, not the kernel); see bench/README.md. The
 * writer is this process, or the target in another.
 */
static void pin_together(pthread_t th, struct target *tgt)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(sched_getcpu(), &set);
	sched_setaffinity(0, sizeof(set), &set);
	pthread_setaffinity_np(th, sizeof(set), &set);
	if (tgt)
		sched_setaffinity(tgt->pid, sizeof(set), &set);
}

static int uf_setup(struct mech *m, struct region *r, bool async)
{
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)r->base, .len = r->len },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};
	struct uf_state *s = calloc(1, sizeof(*s));
	int ret;

	if (!s)
		return -ENOMEM;
	m->priv = s;
	m->r = r;
	s->async = async;
	s->pagemap = -1;
	pthread_mutex_init(&s->lock, NULL);
	s->fd = uffd_open(m->tgt, async ? UFFD_FEATURE_WP_ASYNC : 0, NULL);
	if (s->fd < 0)
		return s->fd;
	if (ioctl(s->fd, UFFDIO_REGISTER, &reg))
		return -errno;
	ret = uffd_wp(s->fd, reg.range.start, r->len, true);
	if (ret)
		return ret;
	if (async) {
		s->vec = calloc(SCAN_VEC, sizeof(*s->vec));
		s->pagemap = mech_proc_open(m, "pagemap", O_RDONLY);
		if (!s->vec || s->pagemap < 0)
			return -errno ?: -ENOMEM;
		return 0;
	}
	if (pthread_create(&s->th, NULL, handler, s))
		return -EAGAIN;
	s->th_running = true;
	if (pthread_getcpuclockid(s->th, &s->th_clock))
		s->th_clock = -1;
	if (getenv("VMBENCH_UFFD_PIN"))
		pin_together(s->th, m->tgt);
	return 0;
}

static int uf_setup_sync(struct mech *m, struct region *r)
{
	return uf_setup(m, r, false);
}

static int uf_setup_async(struct mech *m, struct region *r)
{
	return uf_setup(m, r, true);
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int uf_epoch_sync(struct mech *m, struct rangeset *out, struct epoch_stats *st)
{
	struct uf_state *s = m->priv;
	size_t psz = m->r->psz, i;
	int ret = 0;

	rangeset_reset(out);
	pthread_mutex_lock(&s->lock);
	for (i = 1; i < s->nlog && s->log[i - 1] < s->log[i]; i++)
		;
	if (i < s->nlog)
		qsort(s->log, s->nlog, sizeof(*s->log), u64_cmp);
	for (i = 0; i < s->nlog && !ret; i++)
		ret = rangeset_add(out, s->log[i], s->log[i] + psz);
	s->nlog = 0;
	pthread_mutex_unlock(&s->lock);
	if (s->err)
		return s->err;
	for (i = 0; i < out->n && !ret; i++)
		ret = uffd_wp(s->fd, (uintptr_t)out->v[i].iov_base, out->v[i].iov_len, true);
	return ret;
}

static int uf_epoch_async(struct mech *m, struct rangeset *out, struct epoch_stats *st)
{
	struct uf_state *s = m->priv;
	uint64_t start = (uintptr_t)m->r->base, end = start + m->r->len;
	struct pm_scan_arg arg;
	long n, i;

	rangeset_reset(out);
	while (start < end) {
		memset(&arg, 0, sizeof(arg));
		arg.size = sizeof(arg);
		arg.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;
		arg.start = start;
		arg.end = end;
		arg.vec = (uintptr_t)s->vec;
		arg.vec_len = SCAN_VEC;
		arg.category_mask = PAGE_IS_WRITTEN;
		arg.return_mask = PAGE_IS_WRITTEN;
		n = ioctl(s->pagemap, PAGEMAP_SCAN, &arg);
		if (n < 0)
			return -errno;
		sysc_add_bytes(n * sizeof(*s->vec));
		st->records += n;
		for (i = 0; i < n; i++)
			if (rangeset_add(out, s->vec[i].start, s->vec[i].end))
				return -ENOMEM;
		if (arg.walk_end <= start)
			return -EIO;
		start = arg.walk_end;
	}
	return 0;
}

static uint64_t uf_write_records(struct mech *m)
{
	struct uf_state *s = m->priv;
	uint64_t n;

	pthread_mutex_lock(&s->lock);
	n = s->msgs - s->msgs_seen;
	s->msgs_seen = s->msgs;
	pthread_mutex_unlock(&s->lock);
	return n;
}

static uint64_t uf_monitor_ns(struct mech *m)
{
	struct uf_state *s = m->priv;
	struct timespec ts;

	if (!s->th_running || s->th_clock == (clockid_t)-1 || clock_gettime(s->th_clock, &ts))
		return 0;
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void uf_teardown(struct mech *m)
{
	struct uf_state *s = m->priv;

	if (!s)
		return;
	if (s->th_running) {
		pthread_cancel(s->th);
		pthread_join(s->th, NULL);
	}
	if (s->fd >= 0)
		close(s->fd);
	if (s->pagemap >= 0)
		close(s->pagemap);
	free(s->vec);
	free(s->log);
	free(s);
	m->priv = NULL;
}

const struct mech_ops mech_uffd_sync = {
	.name		= "uffd-wp",
	.desc		= "userfaultfd write-protect, sync: handler thread logs + unprotects",
	.probe		= uf_probe_sync,
	.setup		= uf_setup_sync,
	.epoch		= uf_epoch_sync,
	.write_records	= uf_write_records,
	.monitor_ns	= uf_monitor_ns,
	.teardown	= uf_teardown,
};

const struct mech_ops mech_uffd_async = {
	.name		= "wp-async+scan",
	.desc		=
		"UFFD_FEATURE_WP_ASYNC + PAGEMAP_SCAN (get + write-protect in one call)",
	.probe		= uf_probe_async,
	.setup		= uf_setup_async,
	.epoch		= uf_epoch_async,
	.teardown	= uf_teardown,
};
