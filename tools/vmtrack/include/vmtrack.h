/* SPDX-License-Identifier: LGPL-2.1 */
/*
 * libvmtrack - turn mm_watch trace events into per-page dirty sets
 *
 * The kernel side (MADV_WATCH, MADV_UNWATCH and the mm_watch trace events) is
 * described in Documentation/admin-guide/mm/watch.rst; the library and the
 * vmtrack command in Documentation/tools/vmtrack/.
 *
 * Every function is documented (kernel-doc) where it is defined, in lib/.
 */
#ifndef _VMTRACK_H
#define _VMTRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef MADV_WATCH
#define MADV_WATCH		26
#endif
#ifndef MADV_UNWATCH
#define MADV_UNWATCH		27
#endif
#ifndef MADV_WATCH_ALL
#define MADV_WATCH_ALL		28	/* every mapping, now and later */
#endif
#ifndef MADV_UNWATCH_ALL
#define MADV_UNWATCH_ALL	29
#endif

#define VMTRACK_SYSTEM		"mm_watch"
#define VMTRACK_INSTANCE_PREFIX	"vmtrack-"
/* process_madvise() accepts at most UIO_MAXIOV ranges per call */
#define VMTRACK_MAX_IOV		1024

struct tep_handle;

/* ---- decoded events ---------------------------------------------------- */

enum vmtrack_event_kind {
	VMTRACK_EV_MARK,
	VMTRACK_EV_UNMARK,
	VMTRACK_EV_WRITE_FAULT,
	VMTRACK_EV_ZAP,
	VMTRACK_EV_MOVE,
	VMTRACK_EV_UNMAP,
	VMTRACK_EV_EXIT,
	VMTRACK_EV_PINNED,
	VMTRACK_EV_NR,
};

/**
 * struct vmtrack_event - one decoded mm_watch event
 * @ts:		ring-buffer timestamp (trace_clock of the instance)
 * @mm_id:	mm identity (never reused)
 * @tgid:	thread group the mm belongs to
 * @kind:	enum vmtrack_event_kind
 * @cpu:	CPU buffer the event was read from
 * @arg:	mark: 1 for a re-arm (mm_watch_rearm); zap: reason; others 0
 * @a:		mark/unmark/zap/unmap: start; write_fault/pinned: address;
 *		move: old_start
 * @b:		mark/unmark/zap/unmap: end; write_fault/pinned: size;
 *		move: new_start
 * @c:		move: len
 * @seq:	order of decoding (tie breaker for equal timestamps)
 * @mm_seq:	the kernel's number of the event within its mm (1, 2, ...;
 *		a re-arm carries the number of the event before it),
 *		0 if the kernel numbers no events
 */
struct vmtrack_event {
	uint64_t	ts;
	uint64_t	mm_id;
	int32_t		tgid;
	uint16_t	kind;
	uint16_t	cpu;
	int32_t		arg;
	uint32_t	seq;
	uint64_t	a;
	uint64_t	b;
	uint64_t	c;
	uint64_t	mm_seq;
};

/**
 * struct vmtrack_page_layout - layout of a ring-buffer sub-buffer
 * @commit_offset:	offset of the commit word in the sub-buffer header
 * @commit_size:	size of the commit word (sizeof(long) of the kernel)
 * @data_offset:	offset of the first event
 * @subbuf_size:	size of one sub-buffer in bytes
 */
struct vmtrack_page_layout {
	unsigned int	commit_offset;
	unsigned int	commit_size;
	unsigned int	data_offset;
	unsigned int	subbuf_size;
};

struct vmtrack_decoder;

typedef int (*vmtrack_event_fn)(const struct vmtrack_event *ev, void *ctx);

int vmtrack_page_layout_parse(const char *header_page,
			      struct vmtrack_page_layout *layout);
struct vmtrack_decoder *vmtrack_decoder_new(struct tep_handle *tep, char *err,
					    size_t errlen);
void vmtrack_decoder_free(struct vmtrack_decoder *dec);
int vmtrack_decoder_kind(const struct vmtrack_decoder *dec, unsigned int type);
int vmtrack_decode_subbuf(struct vmtrack_decoder *dec,
			  const struct vmtrack_page_layout *layout,
			  const void *subbuf, size_t len, int cpu,
			  vmtrack_event_fn fn, void *ctx);
const char *vmtrack_event_name(int kind);

/* ---- dirty sets -------------------------------------------------------- */

/**
 * struct vmtrack_range_info - one tracked range (a mapping or a part of it)
 * @start:	first address (page aligned)
 * @end:	end address, exclusive
 * @pages:	watched pages in the range
 * @dirty:	pages dirty now (not yet collected)
 * @last:	pages reported dirty by the last collect
 * @total:	pages reported dirty by all collects together
 * @label:	mapping name from /proc/PID/maps, or "" if unknown
 */
struct vmtrack_range_info {
	uint64_t	start;
	uint64_t	end;
	uint64_t	pages;
	uint64_t	dirty;
	uint64_t	last;
	uint64_t	total;
	const char	*label;
};

struct vmtrack_dset;

struct vmtrack_dset *vmtrack_dset_new(unsigned long page_size);
void vmtrack_dset_free(struct vmtrack_dset *ds);
int vmtrack_dset_add(struct vmtrack_dset *ds, uint64_t start, uint64_t end,
		     bool dirty, const char *label);
int vmtrack_dset_remove(struct vmtrack_dset *ds, uint64_t start, uint64_t end);
int64_t vmtrack_dset_fill(struct vmtrack_dset *ds, uint64_t start, uint64_t end,
			  const char *label);
uint64_t vmtrack_dset_set_dirty(struct vmtrack_dset *ds, uint64_t start, uint64_t end,
				uint64_t *uncovered);
int vmtrack_dset_move(struct vmtrack_dset *ds, uint64_t old_start, uint64_t new_start,
		      uint64_t len);
void vmtrack_dset_all_dirty(struct vmtrack_dset *ds);
bool vmtrack_dset_test(const struct vmtrack_dset *ds, uint64_t addr);
bool vmtrack_dset_covers(const struct vmtrack_dset *ds, uint64_t addr);
bool vmtrack_dset_overlaps(const struct vmtrack_dset *ds, uint64_t start, uint64_t end);
uint64_t vmtrack_dset_dirty_pages(const struct vmtrack_dset *ds);
uint64_t vmtrack_dset_watched_pages(const struct vmtrack_dset *ds);
size_t vmtrack_dset_nr_ranges(const struct vmtrack_dset *ds);
int vmtrack_dset_range(const struct vmtrack_dset *ds, size_t idx,
		       struct vmtrack_range_info *info);
ssize_t vmtrack_dset_dirty_iov(const struct vmtrack_dset *ds, struct iovec **iov,
			       size_t *alloc);
ssize_t vmtrack_dset_collect(struct vmtrack_dset *ds, struct iovec **iov, size_t *alloc);
ssize_t vmtrack_dset_ranges_iov(const struct vmtrack_dset *ds, struct iovec **iov,
				size_t *alloc);

/* ---- loss accounting --------------------------------------------------- */

/**
 * struct vmtrack_cpu_stats - counters of per_cpu/cpuN/stats
 * @entries:		events in the buffer, not yet read
 * @overrun:		events lost by overwriting (overwrite mode)
 * @commit_overrun:	events lost by nested writers lapping the buffer
 * @dropped:		events dropped because the buffer was full
 * @read:		events read so far
 */
struct vmtrack_cpu_stats {
	uint64_t	entries;
	uint64_t	overrun;
	uint64_t	commit_overrun;
	uint64_t	dropped;
	uint64_t	read;
};

int vmtrack_stats_parse(const char *text, struct vmtrack_cpu_stats *st);
uint64_t vmtrack_stats_lost(const struct vmtrack_cpu_stats *before,
			    const struct vmtrack_cpu_stats *after);
size_t vmtrack_buffer_kb_for(uint64_t pages, unsigned long page_size);

/* ---- target processes -------------------------------------------------- */

/**
 * struct vmtrack_mapping - one line of /proc/PID/maps
 * @start:	first address
 * @end:	end address, exclusive
 * @prot:	'r', 'w', 'x' as PROT_READ, PROT_WRITE, PROT_EXEC bits
 * @shared:	the mapping is shared ('s'), not private ('p')
 * @name:	path or pseudo name ("[heap]"), "" for anonymous memory
 */
struct vmtrack_mapping {
	uint64_t	start;
	uint64_t	end;
	int		prot;
	bool		shared;
	char		name[256];
};

typedef int (*vmtrack_mapping_fn)(const struct vmtrack_mapping *map, void *ctx);

int vmtrack_target_check(pid_t pid, char *err, size_t errlen);
int vmtrack_maps_parse_line(const char *line, struct vmtrack_mapping *map);
int vmtrack_maps_walk(pid_t pid, vmtrack_mapping_fn fn, void *ctx);
bool vmtrack_mapping_watchable(const struct vmtrack_mapping *map, bool all_private);
int vmtrack_madvise(int pidfd, const struct iovec *iov, size_t n, int advice,
		    size_t *done);
int vmtrack_freeze(pid_t pid, bool *was_stopped);
int vmtrack_thaw(pid_t pid);
pid_t vmtrack_mm_sharer(pid_t pid);
long vmtrack_status_field(pid_t pid, const char *key);

/* ---- sessions ---------------------------------------------------------- */

/*
 * The one safe order of a pre-copy loop (Documentation/tools/vmtrack/vmtrack.rst,
 * "The consumer's order"):
 *
 *	vmtrack_session_open(); vmtrack_session_watch_all();	mark
 *	copy everything once					after the mark
 *	repeat:
 *		vmtrack_session_epoch(s, 0, &ep);		read events, re-arm
 *		copy ep.dirty					after the re-arm
 *	vmtrack_session_wind_down(s);			optional
 *	vmtrack_session_freeze(s);
 *	vmtrack_session_epoch(s, VMTRACK_EPOCH_NO_REARM, &ep);
 *	copy ep.dirty; vmtrack_session_close(s);		(close thaws)
 *
 * A write before the re-arm is in the copy, a write after it faults and is
 * in the next epoch. With batches (vmtrack_session_set_batch()), copy each
 * batch before vmtrack_session_epoch_next() hands out the next.
 * VMTRACK_EPOCH_NO_REARM is refused (-EINVAL) unless the session froze the
 * target or the target exited: collected pages that are not re-armed on a
 * running target would lose their next writes. For the same reason no
 * epoch follows a VMTRACK_EPOCH_NO_REARM one once the target may have run
 * again (after vmtrack_session_thaw()): it is the last epoch, or one of
 * the last ones taken while the target is still held.
 */

/* reasons why an epoch reports every watched page as dirty */
enum vmtrack_loss {
	VMTRACK_LOSS_EVENTS	= 1 << 0,	/* ring buffer dropped or overran events */
	VMTRACK_LOSS_RESTART	= 1 << 1,	/* ranges were watched before this consumer */
	VMTRACK_LOSS_TAMPER	= 1 << 2,	/* instance changed behind our back */
	VMTRACK_LOSS_DECODE	= 1 << 3,	/* malformed sub-buffer */
	VMTRACK_LOSS_SEQ	= 1 << 4,	/* the mm's event numbers have a gap */
};

/*
 * Every private mapping is watched, read-only ones included, so that one
 * written and then made read-only (a JIT's code, relro) is never missed.
 * VMTRACK_F_WRITABLE_ONLY leaves out the read-only ones that stay as a
 * rescan found them (new, moved, replaced or written ones are tracked):
 * fewer, mostly clean pages, but on a kernel without MADV_WATCH_ALL one
 * made writable, written and made read-only again between two rescans can
 * be missed (see NEW MAPPINGS in vmtrack(1)). VMTRACK_F_ALL_PRIVATE, the
 * default, is kept for callers. vmtrack_session_open() refuses a flag that
 * is not one of these (EINVAL).
 */
enum vmtrack_session_flags {
	VMTRACK_F_ALL_PRIVATE	= 1 << 0,	/* the default: read-only private maps too */
	VMTRACK_F_KEEP		= 1 << 1,	/* do not unwatch on close */
	VMTRACK_F_NO_SWEEP	= 1 << 2,	/* a loss: every page dirty, no sweep */
	VMTRACK_F_EVENTS_ONLY	= 1 << 3,	/* no dense epochs: every write an event */
	VMTRACK_F_NO_MAP	= 1 << 4,	/* read the buffers by splice(), not mapped */
	VMTRACK_F_WRITABLE_ONLY	= 1 << 5,	/* leave read-only private maps out */
};

enum vmtrack_epoch_flags {
	/*
	 * collect, but do not write-protect again: frozen or exited target
	 * only, and no epoch follows once the target runs again
	 */
	VMTRACK_EPOCH_NO_REARM	= 1 << 0,
	/*
	 * the caller stopped every thread of the target itself (it traces
	 * the target, as vmtrack run --follow does): NO_REARM is allowed;
	 * after a NO_REARM epoch taken so, it says that the target stayed
	 * stopped since
	 */
	VMTRACK_EPOCH_STOPPED	= 1 << 1,
};

/**
 * struct vmtrack_params - how to open a session
 * @pid:		target process
 * @flags:		enum vmtrack_session_flags
 * @buffer_kb:		per-CPU ring buffer in KiB, 0: from @expected_pages,
 *			for a write fault per page up to 256 MiB and per 8
 *			pages beyond, up to 16.3 MiB, where a sweep recovers a
 *			loss (of every page, up to 256 MiB, where none can:
 *			no soft-dirty bits, VMTRACK_F_NO_SWEEP,
 *			VMTRACK_F_EVENTS_ONLY); see "BUFFER SIZE" in vmtrack(1)
 * @expected_pages:	pages the target may write in an epoch (auto buffer
 *			size); vmtrack counts those of its writable private
 *			mappings
 */
struct vmtrack_params {
	pid_t		pid;
	unsigned int	flags;
	size_t		buffer_kb;
	uint64_t	expected_pages;
};

/**
 * struct vmtrack_epoch - the result of one epoch
 * @seq:		epoch number, from 1
 * @loss:		enum vmtrack_loss bits; non-zero means @swept or @all_dirty
 * @all_dirty:		every watched page is reported dirty (a loss that no
 *			sweep could recover)
 * @target_gone:	the watched mm exited (or exec'd)
 * @lost_events:	events lost in this epoch (per-CPU stats deltas, and the
 *			numbers missing from the mm's events)
 * @events:		events applied in this epoch
 * @foreign:		events of other mms (ignored)
 * @stray_pages:	pages reported outside every tracked range
 * @new_pages:		pages of mappings found by the rescan (reported dirty)
 * @dirty_pages:	pages in @dirty (with batches: in all of them, or, while
 *			the sweep of a dense epoch hands them out, in those so far)
 * @watched_pages:	pages watched at the end of the epoch
 * @rearm_failed:	dirty ranges that could not be re-armed (stay dirty)
 * @dirty:		dirty ranges, coalesced, sorted; valid until the next epoch
 *			(with batches, vmtrack_session_set_batch(): the ranges
 *			of this batch, valid until the next call)
 * @nr_dirty:		number of entries in @dirty
 * @swept:		a loss was recovered by a sweep of the page tables: the
 *			pages written since their last arm, and those whose
 *			contents may have changed without a write, are dirty
 * @swept_pages:	watched pages the sweep reported dirty
 * @dense:		the pages written were found by a sweep of the soft-dirty
 *			bits: the session had turned the write_fault event off
 *			in its instance for part of the epoch, or the last one,
 *			or the instance was written to after a dense epoch and
 *			before the event numbers could check it again (see
 *			vmtrack_session_set_dense())
 */
struct vmtrack_epoch {
	uint64_t		seq;
	unsigned int		loss;
	bool			all_dirty;
	bool			target_gone;
	uint64_t		lost_events;
	uint64_t		events;
	uint64_t		foreign;
	uint64_t		stray_pages;
	uint64_t		new_pages;
	uint64_t		dirty_pages;
	uint64_t		watched_pages;
	uint64_t		rearm_failed;
	const struct iovec	*dirty;
	size_t			nr_dirty;
	bool			swept;
	uint64_t		swept_pages;
	bool			dense;
};

struct vmtrack_session;

int vmtrack_session_open(struct vmtrack_session **sp, const struct vmtrack_params *params,
			 char *err, size_t errlen);
int vmtrack_session_watch_ranges(struct vmtrack_session *s, const struct iovec *ranges,
				 size_t n);
int vmtrack_session_watch_all(struct vmtrack_session *s);
int vmtrack_session_pump(struct vmtrack_session *s, int wake_fd, int timeout_ms);
int vmtrack_session_epoch(struct vmtrack_session *s, unsigned int flags,
			  struct vmtrack_epoch *ep);
int vmtrack_session_freeze(struct vmtrack_session *s);
int vmtrack_session_thaw(struct vmtrack_session *s);
const struct vmtrack_dset *vmtrack_session_dset(const struct vmtrack_session *s);
const char *vmtrack_session_error(const struct vmtrack_session *s);
const char *vmtrack_session_instance(const struct vmtrack_session *s);
size_t vmtrack_session_buffer_kb(const struct vmtrack_session *s);
void vmtrack_session_set_dense(struct vmtrack_session *s, uint64_t pages);
void vmtrack_session_set_batch(struct vmtrack_session *s, size_t max_ranges);
int vmtrack_session_epoch_next(struct vmtrack_session *s, struct vmtrack_epoch *ep);
bool vmtrack_session_swept_rearmed(const struct vmtrack_session *s);
void vmtrack_session_wind_down(struct vmtrack_session *s);
int vmtrack_session_unwatch(struct vmtrack_session *s);
void vmtrack_session_close(struct vmtrack_session *s);
int vmtrack_reap_instances(void);

#ifdef __cplusplus
}
#endif

#endif /* _VMTRACK_H */
