/* SPDX-License-Identifier: GPL-2.0 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM mm_watch

#if !defined(_TRACE_MM_WATCH_H) || defined(TRACE_HEADER_MULTI_READ)
#define _TRACE_MM_WATCH_H

#include <linux/mm_types.h>
#include <linux/mm_watch.h>
#include <linux/tracepoint.h>

/*
 * Every event starts with the identity of the watched mm: mm_id is unique
 * for the life of the system, tgid is the process that owned the mm when
 * it was first watched. Both are set by the first MADV_WATCH on the mm.
 * seq numbers the events of one mm, 1, 2, 3, ...: it is taken for every
 * event whether it is recorded or not, so that a consumer sees any event
 * it missed as a gap, and merges per-CPU buffers in the order of the
 * changes. A re-arm takes no number: it carries the number of the event
 * before it.
 */
DECLARE_EVENT_CLASS(mm_watch_range,
		    TP_PROTO(struct mm_struct *mm, u64 seq, unsigned long start,
			     unsigned long end),
		    TP_ARGS(mm, seq, start, end),
		    TP_STRUCT__entry(__field(u64, mm_id)
				     __field(int, tgid)
				     __field(u64, seq)
				     __field(unsigned long, start)
				     __field(unsigned long, end)
		    ),
		    TP_fast_assign(__entry->mm_id = READ_ONCE(mm->watch_id);
				   __entry->tgid = READ_ONCE(mm->watch_tgid);
				   __entry->seq = seq;
				   __entry->start = start;
				   __entry->end = end;
		    ),
		    TP_printk("mm_id=%llu tgid=%d seq=%llu start=0x%lx end=0x%lx",
			      __entry->mm_id, __entry->tgid, __entry->seq,
			      __entry->start, __entry->end)
);

DECLARE_EVENT_CLASS(mm_watch_page,
		    TP_PROTO(struct mm_struct *mm, u64 seq, unsigned long address,
			     unsigned long size),
		    TP_ARGS(mm, seq, address, size),
		    TP_STRUCT__entry(__field(u64, mm_id)
				     __field(int, tgid)
				     __field(u64, seq)
				     __field(unsigned long, address)
				     __field(unsigned long, size)
		    ),
		    TP_fast_assign(__entry->mm_id = READ_ONCE(mm->watch_id);
				   __entry->tgid = READ_ONCE(mm->watch_tgid);
				   __entry->seq = seq;
				   __entry->address = address;
				   __entry->size = size;
		    ),
		    TP_printk("mm_id=%llu tgid=%d seq=%llu address=0x%lx size=%lu",
			      __entry->mm_id, __entry->tgid, __entry->seq,
			      __entry->address, __entry->size)
);

/* [start, end) was write-protected by MADV_WATCH */
DEFINE_EVENT(mm_watch_range, mm_watch_mark,
	     TP_PROTO(struct mm_struct *mm, u64 seq, unsigned long start,
		      unsigned long end),
	     TP_ARGS(mm, seq, start, end)
);

/*
 * [start, end), already watched, was write-protected again by MADV_WATCH.
 * A consumer that re-arms what it collected needs no echo of it: it
 * leaves this event off, which costs nothing, rather than filtering it.
 */
DEFINE_EVENT(mm_watch_range, mm_watch_rearm,
	     TP_PROTO(struct mm_struct *mm, u64 seq, unsigned long start,
		      unsigned long end),
	     TP_ARGS(mm, seq, start, end)
);

/* MADV_UNWATCH stopped watching [start, end) */
DEFINE_EVENT(mm_watch_range, mm_watch_unmark,
	     TP_PROTO(struct mm_struct *mm, u64 seq, unsigned long start,
		      unsigned long end),
	     TP_ARGS(mm, seq, start, end)
);

/* First write to [address, address + size) since it was last armed */
DEFINE_EVENT(mm_watch_page, mm_watch_write_fault,
	     TP_PROTO(struct mm_struct *mm, u64 seq, unsigned long address,
		      unsigned long size),
	     TP_ARGS(mm, seq, address, size)
);

/* DMA or long-term pinned at arm time: may change without a fault */
DEFINE_EVENT(mm_watch_page, mm_watch_pinned,
	     TP_PROTO(struct mm_struct *mm, u64 seq, unsigned long address,
		      unsigned long size),
	     TP_ARGS(mm, seq, address, size)
);

/* The contents of [start, end) were discarded without a write fault */
TRACE_EVENT(mm_watch_zap,
	    TP_PROTO(struct mm_struct *mm, u64 seq, unsigned long start,
		     unsigned long end, int reason),
	    TP_ARGS(mm, seq, start, end, reason),
	    TP_STRUCT__entry(__field(u64, mm_id)
			     __field(int, tgid)
			     __field(u64, seq)
			     __field(unsigned long, start)
			     __field(unsigned long, end)
			     __field(int, reason)
	    ),
	    TP_fast_assign(__entry->mm_id = READ_ONCE(mm->watch_id);
			   __entry->tgid = READ_ONCE(mm->watch_tgid);
			   __entry->seq = seq;
			   __entry->start = start;
			   __entry->end = end;
			   __entry->reason = reason;
	    ),
	    TP_printk("mm_id=%llu tgid=%d seq=%llu start=0x%lx end=0x%lx reason=%s",
		      __entry->mm_id, __entry->tgid, __entry->seq,
		      __entry->start, __entry->end,
		      __print_symbolic(__entry->reason,
				       { MM_WATCH_ZAP_DONTNEED, "dontneed" },
				       { MM_WATCH_ZAP_FREE, "free" },
				       { MM_WATCH_ZAP_OTHER, "other" }))
);

/* mremap() moved len bytes of watched contents to new_start */
TRACE_EVENT(mm_watch_move,
	    TP_PROTO(struct mm_struct *mm, u64 seq, unsigned long old_start,
		     unsigned long new_start, unsigned long len),
	    TP_ARGS(mm, seq, old_start, new_start, len),
	    TP_STRUCT__entry(__field(u64, mm_id)
			     __field(int, tgid)
			     __field(u64, seq)
			     __field(unsigned long, old_start)
			     __field(unsigned long, new_start)
			     __field(unsigned long, len)
	    ),
	    TP_fast_assign(__entry->mm_id = READ_ONCE(mm->watch_id);
			   __entry->tgid = READ_ONCE(mm->watch_tgid);
			   __entry->seq = seq;
			   __entry->old_start = old_start;
			   __entry->new_start = new_start;
			   __entry->len = len;
	    ),
	    TP_printk("mm_id=%llu tgid=%d seq=%llu old_start=0x%lx new_start=0x%lx len=%lu",
		      __entry->mm_id, __entry->tgid, __entry->seq,
		      __entry->old_start, __entry->new_start, __entry->len)
);

/* A watched range was unmapped (munmap, MAP_FIXED, mremap shrink) */
DEFINE_EVENT(mm_watch_range, mm_watch_unmap,
	     TP_PROTO(struct mm_struct *mm, u64 seq, unsigned long start,
		      unsigned long end),
	     TP_ARGS(mm, seq, start, end)
);

/* A watched mm is torn down (exit or exec) */
TRACE_EVENT(mm_watch_exit,
	    TP_PROTO(struct mm_struct *mm, u64 seq),
	    TP_ARGS(mm, seq),
	    TP_STRUCT__entry(__field(u64, mm_id)
			     __field(int, tgid)
			     __field(u64, seq)
	    ),
	    TP_fast_assign(__entry->mm_id = READ_ONCE(mm->watch_id);
			   __entry->tgid = READ_ONCE(mm->watch_tgid);
			   __entry->seq = seq;
	    ),
	    TP_printk("mm_id=%llu tgid=%d seq=%llu", __entry->mm_id,
		      __entry->tgid, __entry->seq)
);

#endif /* _TRACE_MM_WATCH_H */

/* This part must be outside protection */
#include <trace/define_trace.h>
