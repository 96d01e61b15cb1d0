// SPDX-License-Identifier: LGPL-2.1
/*
 * Reading a per-CPU ring buffer through its mapping (Linux 6.10+,
 * Documentation/trace/ring-buffer-map.rst).
 *
 * The meta page and every sub-buffer of per_cpu/cpuN/trace_pipe_raw are
 * mapped read-only. TRACE_MMAP_IOCTL_GET_READER hands the reader what the
 * writers committed: more of the current reader sub-buffer if it grew
 * (meta->reader.read moves up), else the next full one swapped in (a new
 * meta->reader.id). The kernel never writes below reader.read, nor into a
 * sub-buffer it swapped out of the reader's hands, so the events are
 * decoded in place: no splice into a pipe, no copy out of it.
 *
 * Debian 12's UAPI headers predate linux/trace_mmap.h: the ABI is spelled
 * out here.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

/* struct trace_buffer_meta of include/uapi/linux/trace_mmap.h */
struct vmtrack_rb_meta {
	uint32_t	meta_page_size;
	uint32_t	meta_struct_len;
	uint32_t	subbuf_size;
	uint32_t	nr_subbufs;
	struct {
		uint64_t	lost_events;
		uint32_t	id;
		uint32_t	read;
	} reader;
	uint64_t	flags;
	uint64_t	entries;
	uint64_t	overrun;
	uint64_t	read;
	uint64_t	reserved1;
	uint64_t	reserved2;
};

#define VMTRACK_GET_READER	_IO('R', 0x20)	/* TRACE_MMAP_IOCTL_GET_READER */

/**
 * vmtrack_ringmap_open() - map a per-CPU ring buffer for reading in place
 * @m:		filled in
 * @fd:		per_cpu/cpuN/trace_pipe_raw, opened O_NONBLOCK (the ioctl
 *		would wait for data otherwise)
 * @subbuf_size: the sub-buffer size the decoder expects
 *
 * While mapped, the buffer cannot be resized (EBUSY to a writer of
 * buffer_size_kb) nor snapshotted.
 *
 * Return: 0, or a negative errno: the kernel cannot map the buffer (before
 * 6.10: -ENODEV), its layout is not the expected one (-EPROTO), or another
 * reader consumed part of the current sub-buffer (-EBUSY). The caller
 * reads it by splice() and read() then.
 */
int vmtrack_ringmap_open(struct vmtrack_ringmap *m, int fd, size_t subbuf_size)
{
	long page = sysconf(_SC_PAGESIZE);
	void *p;
	int ret;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	p = mmap(NULL, page, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	m->meta = p;
	m->meta_len = page;
	if (m->meta->meta_struct_len < sizeof(*m->meta) ||
	    m->meta->meta_page_size != (uint32_t)page ||
	    m->meta->subbuf_size != subbuf_size || !m->meta->nr_subbufs) {
		ret = -EPROTO;
		goto unmap_meta;
	}
	m->data_len = (size_t)m->meta->subbuf_size * m->meta->nr_subbufs;
	p = mmap(NULL, m->data_len, PROT_READ, MAP_SHARED, fd, m->meta_len);
	if (p == MAP_FAILED) {
		ret = -errno;
		goto unmap_meta;
	}
	m->data = p;
	m->fd = fd;
	m->id = m->meta->reader.id;
	/* a sub-buffer read in part before: its timestamp at that point is lost */
	if (m->meta->reader.read) {
		ret = -EBUSY;
		goto unmap_data;
	}
	return 0;

unmap_data:
	munmap(p, m->data_len);
	m->data = NULL;
	m->fd = -1;

unmap_meta:
	munmap(m->meta, m->meta_len);
	m->meta = NULL;
	return ret;
}

/**
 * vmtrack_ringmap_close() - unmap (the instance can be removed only then)
 * @m:	the mapping; the file descriptor stays the caller's
 */
void vmtrack_ringmap_close(struct vmtrack_ringmap *m)
{
	if (m->data)
		munmap((void *)m->data, m->data_len);
	if (m->meta)
		munmap(m->meta, m->meta_len);
	m->data = NULL;
	m->meta = NULL;
	m->fd = -1;
}

/**
 * vmtrack_ringmap_drain() - decode every event committed so far
 * @m:		the mapping
 * @dec:	decoder
 * @layout:	sub-buffer layout
 * @cpu:	the buffer's CPU, stored in the events
 * @fn:		called for every event, in buffer order
 * @ctx:	passed to @fn
 * @decode_err: receives the last error of the decoder (-EBADMSG: damaged
 *		sub-buffer, or @fn's value), 0 if none; the events after
 *		the damage in that sub-buffer are skipped
 *
 * Return: data bytes decoded, or a negative errno: the ioctl's, or -EPROTO
 * if the kernel's reader position lies outside the mapping.
 */
ssize_t vmtrack_ringmap_drain(struct vmtrack_ringmap *m, struct vmtrack_decoder *dec,
			      const struct vmtrack_page_layout *layout, int cpu,
			      vmtrack_event_fn fn, void *ctx, int *decode_err)
{
	volatile struct vmtrack_rb_meta *meta = m->meta;
	size_t bytes = 0;
	uint32_t id, end;
	int ret;

	*decode_err = 0;
	for (;;) {
		if (ioctl(m->fd, VMTRACK_GET_READER) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		id = meta->reader.id;
		end = meta->reader.read;
		if (id >= meta->nr_subbufs ||
		    layout->data_offset + (size_t)end > layout->subbuf_size)
			return -EPROTO;
		if (id != m->id || end < m->pos) {
			/* a new sub-buffer; or this one after a reset of the buffer */
			m->id = id;
			m->pos = 0;
		}
		if (end == m->pos)
			return bytes;
		ret = vmtrack_decode_range(dec, layout, m->data + (size_t)id * layout->subbuf_size,
					   m->pos, end, &m->ts, cpu, fn, ctx);
		if (ret < 0)
			*decode_err = ret;
		bytes += end - m->pos;
		m->pos = end;
		/* every event committed at the ioctl is read: asking again finds none */
		if (meta->entries - meta->overrun == meta->read)
			return bytes;
	}
}
