// SPDX-License-Identifier: GPL-2.0
/*
 * (d) vmtrack: MADV_WATCH + mm_watch events. Two consumers:
 *
 * "vmtrack"      libvmtrack, as users run it: vmtrack_session_epoch() drains
 *                every CPU buffer (splice + read), accounts for lost events
 *                (per_cpu/cpuN/stats), checks that the instance was not
 *                changed, applies the events and re-arms exactly the dirty
 *                ranges with process_madvise(MADV_WATCH).
 * "vmtrack-batch" libvmtrack with the dirty ranges of an epoch handed out in
 *                batches (vmtrack_session_set_batch()), for a consumer
 *                whose memory must not grow with the ranges of an epoch.
 * "vmtrack-raw"  the same steps with libtracefs directly and libvmtrack's
 *                decoder, without the per-epoch instance check and with the
 *                stats files kept open (pread): the floor of the mechanism,
 *                to show what the library's fixed per-epoch work costs.
 *
 * Both watch the benchmark's own region through a pidfd of itself (no
 * privilege needed for self), or with vmbench epoch --remote a target
 * process's; the filter tgid==<that pid> is in place on every
 * event but write_fault before the first mark (other processes' faults are
 * skipped by the consumer, as libvmtrack does until it sees many). Both
 * disable mm_watch_rearm after the setup epoch, as their own re-arms tell
 * them nothing: one event per dirty range.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tracefs/tracefs.h>
#include <traceevent/event-parse.h>
#include <traceevent/kbuffer.h>

#include "bench.h"
#include "vmtrack.h"

#define TRACING		"/sys/kernel/tracing"
#define PIPE_BYTES	(1024 * 1024)

/* is MADV_WATCH there? EINVAL from the kernel means no */
int vmtrack_kernel_probe(char *why, size_t len)
{
	struct region r = { 0 };
	struct stat st;
	int ret = 0;

	if (region_map(&r, 4096, true))
		return -ENOMEM;
	if (madvise(r.base, r.len, MADV_WATCH)) {
		snprintf(why, len, "madvise(MADV_WATCH): %s (kernel without CONFIG_MEM_WATCH)",
			 strerror(errno));
		ret = -EOPNOTSUPP;
	} else {
		madvise(r.base, r.len, MADV_UNWATCH);
		if (stat(TRACING "/events/" VMTRACK_SYSTEM, &st)) {
			snprintf(why, len, "no %s/events/%s", TRACING, VMTRACK_SYSTEM);
			ret = -EOPNOTSUPP;
		}
	}
	region_unmap(&r);
	return ret;
}

static int instance_total_kb(const char *name)
{
	char path[256], buf[64];
	int fd, n;

	snprintf(path, sizeof(path), TRACING "/instances/%s/buffer_total_size_kb", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return atoi(buf);
}

/* ---- libvmtrack ---- */

/* vmtrack-batch: as many ranges as one process_madvise() call re-arms */
#define VT_BATCH	VMTRACK_MAX_IOV

struct vt_state {
	struct vmtrack_session	*s;
};

/* the ranges of an epoch, every batch of it; -errno, or 0 */
static int vt_collect(struct vmtrack_session *s, int ret, struct vmtrack_epoch *ep,
		      struct rangeset *out)
{
	size_t i;

	if (out)
		rangeset_reset(out);
	while (ret >= 0) {
		for (i = 0; out && i < ep->nr_dirty; i++)
			if (rangeset_add(out, (uintptr_t)ep->dirty[i].iov_base,
					 (uintptr_t)ep->dirty[i].iov_base + ep->dirty[i].iov_len))
				return -ENOMEM;
		if (!ret)
			return 0;
		ret = vmtrack_session_epoch_next(s, ep);
	}
	return ret;
}

static int vt_open(struct mech *m, struct region *r, size_t batch)
{
	struct vmtrack_params p = {
		.pid = mech_pid(m),
		.buffer_kb = m->opt_kb,
		.expected_pages = r->pages,
	};
	struct iovec iov = { .iov_base = r->base, .iov_len = r->len };
	struct vt_state *v = calloc(1, sizeof(*v));
	struct vmtrack_epoch ep;
	char err[256];
	int ret;

	if (!v)
		return -ENOMEM;
	m->priv = v;
	m->r = r;
	ret = vmtrack_session_open(&v->s, &p, err, sizeof(err));
	if (ret) {
		note("vmtrack_session_open: %s", err);
		return ret;
	}
	ret = vmtrack_session_watch_ranges(v->s, &iov, 1);
	if (ret) {
		note("vmtrack_session_watch_ranges: %s", vmtrack_session_error(v->s));
		return ret;
	}
	vmtrack_session_set_batch(v->s, batch);
	/* consume the mark events: epoch 1 */
	return vt_collect(v->s, vmtrack_session_epoch(v->s, 0, &ep), &ep, NULL);
}

static int vt_setup(struct mech *m, struct region *r)
{
	return vt_open(m, r, 0);
}

static int vt_setup_batch(struct mech *m, struct region *r)
{
	return vt_open(m, r, VT_BATCH);
}

static int vt_epoch(struct mech *m, struct rangeset *out, struct epoch_stats *st)
{
	struct vt_state *v = m->priv;
	struct vmtrack_epoch ep;
	int ret;

	ret = vt_collect(v->s, vmtrack_session_epoch(v->s, 0, &ep), &ep, out);
	if (ret)
		return ret;
	st->records = ep.events;
	st->lost = ep.lost_events;
	st->all_dirty = ep.all_dirty;
	return 0;
}

static int64_t vt_kernel_kb(struct mech *m)
{
	struct vt_state *v = m->priv;

	return instance_total_kb(vmtrack_session_instance(v->s));
}

static void vt_teardown(struct mech *m)
{
	struct vt_state *v = m->priv;

	if (!v)
		return;
	vmtrack_session_close(v->s);
	free(v);
	m->priv = NULL;
}

const struct mech_ops mech_vmtrack = {
	.name		= "vmtrack",
	.desc		=
		"MADV_WATCH + mm_watch events via libvmtrack (drain, re-arm dirty ranges)",
	.probe		= vmtrack_kernel_probe,
	.setup		= vt_setup,
	.epoch		= vt_epoch,
	.kernel_kb	= vt_kernel_kb,
	.teardown	= vt_teardown,
	.time_others	= true,
};

const struct mech_ops mech_vmtrack_batch = {
	.name		= "vmtrack-batch",
	.desc		= "libvmtrack, the dirty ranges of an epoch in batches of 1024",
	.probe		= vmtrack_kernel_probe,
	.setup		= vt_setup_batch,
	.epoch		= vt_epoch,
	.kernel_kb	= vt_kernel_kb,
	.teardown	= vt_teardown,
	.time_others	= true,
};

/* ---- libtracefs directly ---- */

/*
 * The lean consumer decodes with libtraceevent's kbuffer and field offsets
 * resolved once; it needs only the write_fault event (zap, unmark and pinned
 * are used when the kernel has them), so it also runs on a kernel that has a
 * subset of the events.
 */
struct raw_field {
	int		offset;
	int		size;
};

struct raw_type {
	int		id;
	struct raw_field a;	/* address or start */
	struct raw_field b;	/* size or end */
	struct raw_field tgid;
	bool		b_is_end;
};

enum { RAW_WRITE_FAULT, RAW_PINNED, RAW_ZAP, RAW_UNMARK, RAW_NR };

static const struct {
	const char	*name;
	const char	*a;
	const char	*b;
	bool		b_is_end;
} raw_desc[RAW_NR] = {
	[RAW_WRITE_FAULT] = { "write_fault", "address", "size", false },
	[RAW_PINNED]	  = { "pinned", "address", "size", false },
	[RAW_ZAP]	  = { "zap", "start", "end", true },
	[RAW_UNMARK]	  = { "unmark", "start", "end", true },
};

struct raw_cpu {
	int			cpu;
	int			fd;
	int			stats;
	int			pipe[2];
	size_t			pipe_size;
	struct vmtrack_cpu_stats st;
};

struct raw_state {
	char			name[64];
	struct tracefs_instance	*inst;
	struct tep_handle	*tep;
	struct kbuffer		*kbuf;
	struct raw_type		types[RAW_NR];
	size_t			subbuf_size;
	struct raw_cpu		*c;
	int			nr;
	int			pidfd;
	pid_t			pid;
	bool			rearm_madvise;
	uint8_t			*buf;
	size_t			buflen;
	unsigned long		*bits;
	struct region		*r;
	uint64_t		events;
	uint64_t		stray;
	bool			loss;
};

static uint64_t raw_load(const uint8_t *data, const struct raw_field *f)
{
	uint64_t v = 0;
	uint32_t v32;

	if (f->size == 4) {
		memcpy(&v32, data + f->offset, 4);
		return v32;
	}
	memcpy(&v, data + f->offset, 8);
	return v;
}

static void raw_record(struct raw_state *s, const uint8_t *data)
{
	uint64_t base = (uintptr_t)s->r->base, a, end;
	uint16_t type;
	int k;

	s->events++;
	memcpy(&type, data, 2);		/* common_type */
	for (k = 0; k < RAW_NR; k++)
		if (s->types[k].id == type)
			break;
	if (k == RAW_NR)
		return;			/* mark and the others: nothing to record */
	/* write_fault is not filtered in the instance (see raw_configure()) */
	if ((pid_t)raw_load(data, &s->types[k].tgid) != s->pid)
		return;
	a = raw_load(data, &s->types[k].a);
	end = raw_load(data, &s->types[k].b);
	if (!s->types[k].b_is_end)
		end += a;
	for (; a < end; a += s->r->psz) {
		uint64_t pg;

		if (a < base || a >= base + s->r->len) {
			s->stray++;
			continue;
		}
		pg = (a - base) / s->r->psz;
		s->bits[pg / 64] |= 1UL << (pg % 64);
	}
}

static void raw_decode(struct raw_state *s, struct raw_cpu *c, size_t len)
{
	unsigned long long ts;
	size_t off;
	void *data;

	for (off = 0; off < len; off += s->subbuf_size) {
		if (kbuffer_load_subbuffer(s->kbuf, s->buf + off)) {
			s->loss = true;
			continue;
		}
		for (data = kbuffer_read_event(s->kbuf, &ts); data;
		     data = kbuffer_next_event(s->kbuf, &ts))
			raw_record(s, data);
	}
}

/* full sub-buffers by splice, then (with @partial) the partial one by read() */
static void raw_drain(struct raw_state *s, struct raw_cpu *c, bool partial)
{
	ssize_t n, got, k;

	for (;;) {
		n = splice(c->fd, NULL, c->pipe[1], NULL, c->pipe_size,
			   SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
		if (n <= 0)
			break;
		for (got = 0; got < n; got += k) {
			k = read(c->pipe[0], s->buf + got, n - got);
			if (k <= 0) {
				s->loss = true;
				return;
			}
		}
		raw_decode(s, c, got);
	}
	while (partial) {
		n = read(c->fd, s->buf, s->subbuf_size);
		if (n <= 0)
			break;
		memset(s->buf + n, 0, s->subbuf_size - n);
		raw_decode(s, c, s->subbuf_size);
	}
}

static void raw_account(struct raw_state *s, struct raw_cpu *c, uint64_t *lost)
{
	struct vmtrack_cpu_stats st;
	char text[1024];
	ssize_t n;
	uint64_t l;

	n = pread(c->stats, text, sizeof(text) - 1, 0);
	if (n <= 0) {
		s->loss = true;
		return;
	}
	text[n] = '\0';
	if (vmtrack_stats_parse(text, &st)) {
		s->loss = true;
		return;
	}
	l = vmtrack_stats_lost(&c->st, &st);
	c->st = st;
	if (l) {
		s->loss = true;
		*lost += l;
	}
}

static int raw_open_cpus(struct raw_state *s)
{
	long ncpus = sysconf(_SC_NPROCESSORS_CONF);
	int cpu, sz;

	s->c = calloc(ncpus, sizeof(*s->c));
	if (!s->c)
		return -ENOMEM;
	for (cpu = 0; cpu < ncpus; cpu++) {
		struct raw_cpu *c = &s->c[s->nr];
		char file[64];

		snprintf(file, sizeof(file), "per_cpu/cpu%d/trace_pipe_raw", cpu);
		c->fd = tracefs_instance_file_open(s->inst, file, O_RDONLY | O_NONBLOCK);
		if (c->fd < 0)
			continue;
		snprintf(file, sizeof(file), "per_cpu/cpu%d/stats", cpu);
		c->stats = tracefs_instance_file_open(s->inst, file, O_RDONLY);
		if (c->stats < 0 || pipe2(c->pipe, O_CLOEXEC | O_NONBLOCK))
			return -errno;
		sz = fcntl(c->pipe[1], F_SETPIPE_SZ, PIPE_BYTES);
		c->pipe_size = sz > 0 ? (size_t)sz : 65536;
		c->cpu = cpu;
		s->nr++;
	}
	return s->nr ? 0 : -ENODEV;
}

static int raw_types(struct raw_state *s)
{
	struct tep_format_field *f;
	struct tep_event *ev;
	int k;

	for (k = 0; k < RAW_NR; k++) {
		char alt[64];

		s->types[k].id = -1;
		ev = tep_find_event_by_name(s->tep, VMTRACK_SYSTEM, raw_desc[k].name);
		/* early kernel images named them mm_watch_<name> (not the contract) */
		snprintf(alt, sizeof(alt), VMTRACK_SYSTEM "_%s", raw_desc[k].name);
		if (!ev)
			ev = tep_find_event_by_name(s->tep, VMTRACK_SYSTEM, alt);
		if (!ev) {
			if (k == RAW_WRITE_FAULT)
				return -EPROTO;
			continue;
		}
		f = tep_find_field(ev, raw_desc[k].a);
		if (!f)
			return -EPROTO;
		s->types[k].a = (struct raw_field){ f->offset, f->size };
		f = tep_find_field(ev, raw_desc[k].b);
		if (!f)
			return -EPROTO;
		s->types[k].b = (struct raw_field){ f->offset, f->size };
		f = tep_find_field(ev, "tgid");
		if (!f || f->size != 4)
			return -EPROTO;
		s->types[k].tgid = (struct raw_field){ f->offset, f->size };
		s->types[k].b_is_end = raw_desc[k].b_is_end;
		s->types[k].id = ev->id;
	}
	return 0;
}

static int raw_configure(struct raw_state *s, size_t kb, pid_t pid)
{
	const char * const systems[] = { VMTRACK_SYSTEM, NULL };
	char filter[64], *text;
	int ret;

	s->tep = tracefs_local_events_system(NULL, systems);
	if (!s->tep)
		return -EIO;
	ret = raw_types(s);
	if (ret)
		return ret;
	s->kbuf = kbuffer_alloc(sizeof(long) == 8 ? KBUFFER_LSIZE_8 : KBUFFER_LSIZE_4,
				KBUFFER_ENDIAN_LITTLE);
	if (!s->kbuf)
		return -ENOMEM;
	snprintf(s->name, sizeof(s->name), "vmbench-%d", (int)getpid());
	s->inst = tracefs_instance_create(s->name);
	if (!s->inst)
		return -errno ?: -EIO;
	if (tracefs_trace_off(s->inst) ||
	    tracefs_option_disable(s->inst, TRACEFS_OPTION_OVERWRITE) ||
	    tracefs_instance_set_buffer_size(s->inst, kb, -1))
		return -EIO;
	/* wake pollers at a quarter full (the streaming consumer of bench loss) */
	tracefs_instance_file_write(s->inst, "buffer_percent", "25");
	/*
	 * As libvmtrack: the filter on every event but write_fault, whose
	 * filter would cost each first write about as much as the event
	 * (raw_record() skips other processes' faults).
	 */
	s->pid = pid;
	snprintf(filter, sizeof(filter), "tgid==%d", (int)pid);
	if (tracefs_instance_file_write(s->inst, "events/" VMTRACK_SYSTEM "/filter", filter) < 0 ||
	    tracefs_instance_file_write(s->inst, "events/" VMTRACK_SYSTEM
					"/mm_watch_write_fault/filter", "0") < 0 ||
	    tracefs_instance_file_write(s->inst, "events/" VMTRACK_SYSTEM "/enable", "1") < 0)
		return -EIO;
	s->subbuf_size = sysconf(_SC_PAGESIZE);
	text = tracefs_instance_file_read(s->inst, "buffer_subbuf_size_kb", NULL);
	if (text) {
		s->subbuf_size = strtoul(text, NULL, 10) * 1024;
		free(text);
	}
	return s->subbuf_size ? 0 : -EIO;
}

/*
 * The whole region, in this process or through the pidfd (in pieces of at
 * most 1 GiB: one process_madvise() takes less than 2 GiB in all)
 */
static int raw_watch(struct raw_state *s, struct region *r, int advice)
{
	struct iovec iov = { .iov_base = r->base, .iov_len = r->len };
	size_t done;

	if (s->pid == getpid())
		return madvise(r->base, r->len, advice) ? -errno : 0;
	return vmtrack_madvise(s->pidfd, &iov, 1, advice, &done);
}

static int raw_setup(struct mech *m, struct region *r)
{
	struct raw_state *s = calloc(1, sizeof(*s));
	struct rangeset none = { 0 };
	struct epoch_stats st = { 0 };
	size_t kb;
	int ret, i;

	if (!s)
		return -ENOMEM;
	m->priv = s;
	m->r = r;
	s->pidfd = syscall(SYS_pidfd_open, mech_pid(m), 0);
	s->bits = calloc((r->pages + 63) / 64, 8);
	s->buflen = PIPE_BYTES;
	s->buf = malloc(s->buflen);
	if (s->pidfd < 0 || !s->bits || !s->buf)
		return -errno ?: -ENOMEM;
	kb = m->opt_kb ?: vmtrack_buffer_kb_for(r->pages, r->psz);
	ret = raw_configure(s, kb, mech_pid(m));
	if (ret)
		return ret;
	ret = raw_open_cpus(s);
	if (ret)
		return ret;
	for (i = 0; i < s->nr; i++) {
		uint64_t lost = 0;

		raw_account(s, &s->c[i], &lost);
	}
	if (tracefs_trace_on(s->inst))
		return -EIO;
	ret = raw_watch(s, r, MADV_WATCH);
	if (ret)
		return ret;
	s->r = r;
	/* drain the mark event; nothing is dirty yet */
	ret = m->ops->epoch(m, &none, &st);
	rangeset_free(&none);
	/* as libvmtrack: its own re-arms tell the consumer nothing */
	if (!ret && tracefs_instance_file_write(s->inst, "events/" VMTRACK_SYSTEM
						"/mm_watch_rearm/enable", "0") < 0)
		ret = -EIO;
	return ret;
}

/*
 * process_madvise(): up to 1024 ranges a call. A kernel whose MADV_WATCH is
 * not (yet) accepted by process_madvise() gets one madvise() per range; the
 * setup record says which was used.
 */
static int raw_rearm(struct raw_state *s, const struct rangeset *rs)
{
	size_t i, n;

	for (i = 0; i < rs->n; i += n) {
		n = rs->n - i < VMTRACK_MAX_IOV ? rs->n - i : VMTRACK_MAX_IOV;
		if (s->rearm_madvise) {
			n = 1;
			if (madvise(rs->v[i].iov_base, rs->v[i].iov_len, MADV_WATCH))
				return -errno;
			continue;
		}
		if (syscall(SYS_process_madvise, s->pidfd, rs->v + i, n, MADV_WATCH, 0U) < 0) {
			if (errno != EINVAL || i)
				return -errno;
			struct jout j;

			s->rearm_madvise = true;
			note("vmtrack-raw: process_madvise(MADV_WATCH) EINVAL, re-arming with "
			     "madvise() per range");
			jout_begin(&j, "caveat");
			jout_str(&j, "mech", "vmtrack-raw");
			jout_str(&j, "what",
				 "process_madvise(MADV_WATCH) refused (EINVAL): re-armed with one madvise() per dirty range");
			jout_end(&j);
			n = 0;
		}
	}
	return 0;
}

/* drain everything, account for loss, take the dirty set out */
static int raw_collect(struct raw_state *s, struct rangeset *out, struct epoch_stats *st)
{
	struct region *r = s->r;
	uint64_t lost = 0, w, base = (uintptr_t)r->base;
	size_t words = (r->pages + 63) / 64, i;
	int b;

	for (i = 0; i < (size_t)s->nr; i++)
		raw_drain(s, &s->c[i], true);
	for (i = 0; i < (size_t)s->nr; i++)
		raw_account(s, &s->c[i], &lost);
	rangeset_reset(out);
	if (s->loss) {
		/* recovery: every watched page is dirty in this epoch */
		st->all_dirty = true;
		s->loss = false;
		memset(s->bits, 0, words * 8);
		if (rangeset_add(out, base, base + r->len))
			return -ENOMEM;
	} else {
		for (i = 0; i < words; i++) {
			w = s->bits[i];
			if (!w)
				continue;
			s->bits[i] = 0;
			while (w) {
				uint64_t a;

				b = __builtin_ctzll(w);
				w &= w - 1;
				a = base + (i * 64 + b) * r->psz;
				if (rangeset_add(out, a, a + r->psz))
					return -ENOMEM;
			}
		}
	}
	st->records = s->events;
	st->lost = lost;
	s->events = 0;
	return 0;
}

static int raw_epoch(struct mech *m, struct rangeset *out, struct epoch_stats *st)
{
	struct raw_state *s = m->priv;
	int ret;

	ret = raw_collect(s, out, st);
	if (ret)
		return ret;
	return raw_rearm(s, out);
}

static int64_t raw_kernel_kb(struct mech *m)
{
	struct raw_state *s = m->priv;

	return instance_total_kb(s->name);
}

static void raw_teardown(struct mech *m)
{
	struct raw_state *s = m->priv;
	int i;

	if (!s)
		return;
	if (s->r && s->r->base)
		raw_watch(s, s->r, MADV_UNWATCH);
	for (i = 0; i < s->nr; i++) {
		close(s->c[i].fd);
		close(s->c[i].stats);
		close(s->c[i].pipe[0]);
		close(s->c[i].pipe[1]);
	}
	if (s->inst) {
		tracefs_trace_off(s->inst);
		tracefs_instance_destroy(s->inst);
		tracefs_instance_free(s->inst);
	}
	if (s->kbuf)
		kbuffer_free(s->kbuf);
	if (s->tep)
		tep_free(s->tep);
	if (s->pidfd >= 0)
		close(s->pidfd);
	free(s->c);
	free(s->bits);
	free(s->buf);
	free(s);
	m->priv = NULL;
}

const struct mech_ops mech_vmtrack_raw = {
	.name		= "vmtrack-raw",
	.desc		= "MADV_WATCH + mm_watch events, lean libtracefs consumer (no per-epoch "
			  "instance check)",
	.probe		= vmtrack_kernel_probe,
	.setup		= raw_setup,
	.epoch		= raw_epoch,
	.kernel_kb	= raw_kernel_kb,
	.teardown	= raw_teardown,
	.time_others	= true,
};

/* ---- the lean consumer of another process (bench loss) ---- */

/*
 * @r describes the target's region (addresses in the target); the target
 * marks it itself with madvise(MADV_WATCH) after this returns.
 */
int raw_consumer_open(struct raw_state **sp, struct region *r, pid_t pid, size_t kb)
{
	struct raw_state *s = calloc(1, sizeof(*s));
	int ret, i;

	*sp = s;
	if (!s)
		return -ENOMEM;
	s->pidfd = -1;
	s->r = r;
	s->bits = calloc((r->pages + 63) / 64, 8);
	s->buflen = PIPE_BYTES;
	s->buf = malloc(s->buflen);
	if (!s->bits || !s->buf)
		return -ENOMEM;
	ret = raw_configure(s, kb ?: vmtrack_buffer_kb_for(r->pages, r->psz), pid);
	if (!ret)
		ret = raw_open_cpus(s);
	if (ret)
		return ret;
	for (i = 0; i < s->nr; i++) {
		uint64_t lost = 0;

		raw_account(s, &s->c[i], &lost);
	}
	return tracefs_trace_on(s->inst) ? -EIO : 0;
}

/* wait for full sub-buffers (or @wake_fd) and move them out; 1: woken */
int raw_consumer_pump(struct raw_state *s, int wake_fd, int timeout_ms)
{
	struct pollfd pfd[65];
	int i, n = 0;

	for (i = 0; i < s->nr && n < 64; i++, n++)
		pfd[n] = (struct pollfd){ .fd = s->c[i].fd, .events = POLLIN };
	pfd[n++] = (struct pollfd){ .fd = wake_fd, .events = POLLIN };
	if (poll(pfd, n, timeout_ms) < 0)
		return errno == EINTR ? 0 : -errno;
	for (i = 0; i < s->nr && i < 64; i++)
		if (pfd[i].revents & POLLIN)
			raw_drain(s, &s->c[i], false);
	return !!(pfd[n - 1].revents & POLLIN);
}

int raw_consumer_epoch(struct raw_state *s, struct rangeset *out, struct epoch_stats *st)
{
	return raw_collect(s, out, st);
}

int64_t raw_consumer_kb(struct raw_state *s)
{
	return instance_total_kb(s->name);
}

void raw_consumer_close(struct raw_state *s)
{
	struct mech m = { .priv = s };

	if (!s)
		return;
	s->r = NULL;		/* not ours to unwatch */
	raw_teardown(&m);
}

/* ---- registry ---- */

static const struct mech_ops * const mechs[] = {
	&mech_softdirty, &mech_uffd_sync, &mech_uffd_async, &mech_vmtrack, &mech_vmtrack_batch,
	&mech_vmtrack_raw,
};

const struct mech_ops *mech_find(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(mechs); i++)
		if (!strcmp(mechs[i]->name, name))
			return mechs[i];
	return NULL;
}

void mech_list(void)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(mechs); i++)
		printf("%-14s %s\n", mechs[i]->name, mechs[i]->desc);
}
