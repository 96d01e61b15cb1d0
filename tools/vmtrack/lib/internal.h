/* SPDX-License-Identifier: LGPL-2.1 */
#ifndef _VMTRACK_INTERNAL_H
#define _VMTRACK_INTERNAL_H

#include <stdarg.h>
#include <stdio.h>

#include "vmtrack.h"
#include "grow.h"

#define BITS_PER_LONG		(8 * sizeof(unsigned long))
#define BITS_TO_LONGS(n)	(((n) + BITS_PER_LONG - 1) / BITS_PER_LONG)
#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))

#ifndef min
#define min(a, b)		((a) < (b) ? (a) : (b))
#define max(a, b)		((a) > (b) ? (a) : (b))
#endif
#ifndef swap
#define swap(a, b)		do { __typeof__(a) __t = (a); (a) = (b); (b) = __t; } while (0)
#endif

/* ring-buffer event header: type_len:5, time_delta:27 (same endianness) */
#define RB_TYPE_LEN_MASK	0x1f
#define RB_TS_SHIFT		27
/* as in include/linux/ring_buffer.h (and kbuffer.h): 29, 30, 31 */
#define RB_TYPE_PADDING		29
#define RB_TYPE_TIME_EXTEND	30
#define RB_TYPE_TIME_STAMP	31
#define RB_TYPE_DATA_MAX	28
#define RB_COMMIT_MASK		((1UL << 27) - 1)
#define RB_MISSED_EVENTS	(1UL << 31)
#define RB_MISSED_STORED	(1UL << 30)
#define RB_ABS_TS_MASK		((1ULL << 59) - 1)

static inline void set_err(char *err, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static inline void set_err(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!err || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

uint64_t vmtrack_decoder_missed_pages(const struct vmtrack_decoder *dec);
int vmtrack_decode_range(struct vmtrack_decoder *dec, const struct vmtrack_page_layout *layout,
			 const void *subbuf, size_t from, size_t to, uint64_t *ts, int cpu,
			 vmtrack_event_fn fn, void *ctx);

/*
 * A per-CPU ring buffer mapped into the reader (trace_pipe_raw mmap, Linux
 * 6.10+): events are decoded in place, without a copy.
 */
struct vmtrack_ringmap {
	struct vmtrack_rb_meta	*meta;
	size_t			meta_len;
	const uint8_t		*data;
	size_t			data_len;
	int			fd;
	uint32_t		id;	/* the sub-buffer being read */
	uint32_t		pos;	/* its data bytes decoded */
	uint64_t		ts;	/* the timestamp at pos */
};

int vmtrack_ringmap_open(struct vmtrack_ringmap *m, int fd, size_t subbuf_size);
void vmtrack_ringmap_close(struct vmtrack_ringmap *m);
ssize_t vmtrack_ringmap_drain(struct vmtrack_ringmap *m, struct vmtrack_decoder *dec,
			      const struct vmtrack_page_layout *layout, int cpu,
			      vmtrack_event_fn fn, void *ctx, int *decode_err);

/*
 * Called for a write_fault of one page (size = @page_size) instead of the
 * event callback, with the fields read at fixed offsets and no struct
 * vmtrack_event built; returns false to have the event decoded in full.
 */
typedef bool (*vmtrack_page_fn)(void *ctx, uint64_t mm_id, int32_t tgid, uint64_t mm_seq,
				uint64_t addr);
void vmtrack_decoder_set_page_fn(struct vmtrack_decoder *dec, uint64_t page_size,
				 vmtrack_page_fn fn, void *ctx);
bool vmtrack_dset_set_page(struct vmtrack_dset *ds, uint64_t addr);
uint64_t vmtrack_dset_page_size(const struct vmtrack_dset *ds);

/* where the library mounts tracefs if it is mounted nowhere */
#define VMTRACK_TRACEFS_MNT	"/sys/kernel/tracing"

int vmtrack_tracefs_get(bool *ours);
void vmtrack_tracefs_put(void);

/**
 * struct vmtrack_vma - one VMA as /proc/PID/smaps shows it
 * @start:	first address
 * @end:	end address, exclusive
 * @watched:	"wt" in its VmFlags
 */
struct vmtrack_vma {
	uint64_t	start;
	uint64_t	end;
	bool		watched;
};

/* a list of VMAs, sorted */
struct vmtrack_vmas {
	struct vmtrack_vma	*vma;
	size_t			nr;
	size_t			alloc;
};

int64_t vmtrack_dset_fill_stray(struct vmtrack_dset *ds, uint64_t start, uint64_t end);
int64_t vmtrack_dset_fill_clean(struct vmtrack_dset *ds, uint64_t start, uint64_t end,
				const char *label);
int64_t vmtrack_dset_adopt(struct vmtrack_dset *ds, uint64_t start, uint64_t end,
			   const char *label);
int vmtrack_smaps_read(pid_t pid, struct vmtrack_vmas *v);
typedef int (*vmtrack_arm_fn)(void *data, uint64_t start, uint64_t end);
int vmtrack_dset_settle(struct vmtrack_dset *ds, const struct vmtrack_vmas *v,
			uint64_t start, uint64_t end, bool untrack,
			vmtrack_arm_fn arm, void *data);

/**
 * struct vmtrack_tracker - event and loss state of one watched mm
 * @ds:		its dirty set
 * @tgid:	the watched process
 * @fill_stray:	track pages of events outside every range (watch-all mode)
 * @restart_known: the session checked for an earlier consumer itself (smaps),
 *		so re-arms (its own retries) do not tell a restart
 * @mm_known:	@mm_id was learnt from the first event
 * @mm_gone:	the exit event was seen
 * @mm_id:	the watched mm
 * @seq:	epochs completed
 * @loss:	enum vmtrack_loss bits pending for the next collect
 * @lost:	lost events pending for the next collect
 * @iov:	dirty ranges of the last collect
 * @iov_alloc:	allocated entries of @iov
 * @early_events: events applied as they were decoded, for the next epoch
 * @early_stray: their pages outside every range, for the next epoch
 * @early_foreign: events of other mms dropped as they were decoded
 * @stopped:	the target cannot emit events now (frozen, stopped, gone):
 *		the next collect counts every missing number as lost
 * @num:	the kernel's numbers of the mm's events (struct vmtrack_event
 *		mm_seq): @num.base and every number below are accounted for,
 *		@num.seen of (@num.base, @num.max] were read; @num.open numbers
 *		of (@num.floor, @num.base] were missing at the last collect
 *		and may still come from another CPU's buffer
 * @sweep_written: the write_fault event was off for part of this epoch (a
 *		dense epoch, set by the session): the next collect finds the
 *		pages written in the soft-dirty bits, and the numbers the
 *		unrecorded faults took are not gaps
 * @sweep_wide:	the instance was written to in or just after a dense epoch,
 *		which may have cost events the numbers do not show: the next
 *		collect sweeps as after a loss
 * @swept_unwritten: of the pages the last collect's sweep marked (after a
 *		loss, or wide), those not written but that may have changed
 *		otherwise: the session chooses the next epoch's mode by writes
 * @sweep_rearm: the next collect may arm again the pages its sweep finds
 *		written (set by the session: not before a last epoch)
 * @rearm_iov:	after a collect whose sweep armed the written pages again
 *		(@swept_rearmed), the dirty pages it did not arm: those of the
 *		other events, for the session to re-arm; @nr_rearm of them
 * @nr_extents: that sweep found the whole dirty set (no other event made
 *		a page dirty) and left it in @iov as this many extents, for the
 *		collect to take as they are; 0: the collect takes the set's bits
 */
struct vmtrack_tracker {
	struct vmtrack_dset	*ds;
	pid_t			tgid;
	bool			fill_stray;
	/*
	 * with @note_gone, the places unmapped or moved away from (or to)
	 * since the last rescan, tracked or not, in @gone; @gone_unknown
	 * if one could not be noted
	 */
	bool			note_gone;
	bool			gone_unknown;
	struct iovec		*gone;
	size_t			nr_gone;
	size_t			gone_alloc;
	bool			restart_known;
	bool			mm_known;
	bool			mm_gone;
	uint64_t		mm_id;
	uint64_t		seq;
	unsigned int		loss;
	uint64_t		lost;
	struct iovec		*iov;
	size_t			iov_alloc;
	uint64_t		early_events;
	uint64_t		early_stray;
	uint64_t		early_foreign;
	bool			stopped;
	bool			sweep_written;
	bool			sweep_wide;
	uint64_t		swept_unwritten;
	/* pagemap of the target for vmtrack_sweep(), -1: every page on a loss */
	int			sweep_fd;
	bool			sweep_rearm;
	/* whether the kernel arms again what PAGEMAP_SCAN finds: probed once */
	bool			rearm_probed;
	bool			rearm_ok;
	bool			swept_rearmed;
	struct iovec		*rearm_iov;
	size_t			rearm_alloc;
	size_t			nr_rearm;
	size_t			nr_extents;
	/*
	 * epochs handed out in batches: the collect moves the dirty pages
	 * into @batch, the session takes them out from there
	 */
	bool			batched;
	struct vmtrack_dset	*batch;
	/*
	 * or, in a dense epoch with no other dirty page, the sweep that finds
	 * and re-arms the written pages goes on from @sweep_from, a batch at
	 * a time (UINT64_MAX: done)
	 */
	bool			sweep_batched;
	uint64_t		sweep_from;
	struct {
		bool		started;
		uint64_t	floor;
		uint64_t	base;
		uint64_t	max;
		uint64_t	seen;
		uint64_t	open;
		/* the next number above base starts the count again */
		bool		resync;
	} num;
};

void vmtrack_tracker_init(struct vmtrack_tracker *t, struct vmtrack_dset *ds, pid_t tgid);
size_t vmtrack_iov_after(const struct iovec *v, size_t n, uint64_t addr);
bool vmtrack_iov_overlaps(const struct iovec *v, size_t n, uint64_t start, uint64_t end);
void vmtrack_tracker_gone_sort(struct vmtrack_tracker *t);
bool vmtrack_tracker_gone(const struct vmtrack_tracker *t, uint64_t start, uint64_t end);
void vmtrack_tracker_loss(struct vmtrack_tracker *t, unsigned int reason, uint64_t lost);
void vmtrack_tracker_apply(struct vmtrack_tracker *t, const struct vmtrack_event *ev,
			   struct vmtrack_epoch *ep);
bool vmtrack_tracker_early(struct vmtrack_tracker *t, const struct vmtrack_event *ev);
bool vmtrack_tracker_early_page(void *tracker, uint64_t mm_id, int32_t tgid, uint64_t mm_seq,
				uint64_t addr);
void vmtrack_tracker_apply_all(struct vmtrack_tracker *t, const struct vmtrack_event *ev,
			       size_t n, struct vmtrack_epoch *ep);
int vmtrack_tracker_collect(struct vmtrack_tracker *t, struct vmtrack_epoch *ep);
bool vmtrack_tracker_sweep_rearms(struct vmtrack_tracker *t);
int vmtrack_sweep_open(pid_t pid);
int vmtrack_sweep(int fd, struct vmtrack_dset *ds, uint64_t *pages, uint64_t *unwritten);
int vmtrack_sweep_written(int fd, struct vmtrack_dset *ds, uint64_t *pages);
int vmtrack_sweep_written_extents(int fd, const struct vmtrack_dset *ds, uint64_t start,
				  uint64_t end, struct iovec **iov, size_t *alloc, size_t *nr);
int vmtrack_sweep_can_rearm(int fd, const struct vmtrack_dset *ds);
int vmtrack_sweep_rearm(int fd, struct vmtrack_dset *ds, uint64_t *pages);
int vmtrack_sweep_rearm_next(int fd, const struct vmtrack_dset *ds, uint64_t *from, size_t max,
			     struct iovec **iov, size_t *alloc, size_t *nr, uint64_t *pages);
int vmtrack_sweep_rearm_extents(int fd, struct vmtrack_dset *ds, struct iovec **iov,
				size_t *alloc, size_t *nr, uint64_t *pages);
struct vmtrack_dset *vmtrack_dset_take_dirty(struct vmtrack_dset *ds);
struct vmtrack_dset *vmtrack_dset_take_epoch(struct vmtrack_dset *ds);
void vmtrack_dset_merge_dirty(struct vmtrack_dset *ds, const struct vmtrack_dset *from);
ssize_t vmtrack_dset_collect_batch(struct vmtrack_dset *ds, struct iovec **iov, size_t *alloc,
				   size_t max);
int64_t vmtrack_dset_collect_extents(struct vmtrack_dset *ds, const struct iovec *ext, size_t n);
int64_t vmtrack_dset_count_extents(struct vmtrack_dset *ds, const struct iovec *ext, size_t n);
int vmtrack_iov_push(struct iovec **iov, size_t *alloc, size_t *n, uint64_t start, uint64_t end);

#endif /* _VMTRACK_INTERNAL_H */
