/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Per-VMA write tracking: MADV_WATCH, MADV_UNWATCH and the mm_watch
 * tracepoints. See Documentation/admin-guide/mm/watch.rst.
 */
#ifndef _LINUX_MM_WATCH_H
#define _LINUX_MM_WATCH_H

#include <linux/errno.h>
#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/pgtable.h>

struct iov_iter;
struct mm_watch_scan;
struct task_struct;

/* Reasons for mm_watch_zap */
#define MM_WATCH_ZAP_DONTNEED	0	/* MADV_DONTNEED{,_LOCKED} */
#define MM_WATCH_ZAP_FREE	1	/* a lazily freed (MADV_FREE) page discarded */
#define MM_WATCH_ZAP_OTHER	2	/* truncation, invalidation, ... */

#ifdef CONFIG_MEM_WATCH

static inline bool vma_watched(struct vm_area_struct *vma)
{
	return vma->vm_flags & VM_WATCHED;
}

/*
 * The identity @mm's events carry, 0 if it was never watched. Also read
 * without the mmap lock, by the rmap walks of truncation and reclaim;
 * pairs with the release in mm_watch_set_id(), so that the tgid is set
 * when the identity is seen.
 */
static inline u64 mm_watch_id(struct mm_struct *mm)
{
	/* Pairs with smp_store_release() in mm_watch_set_id(). */
	return smp_load_acquire(&mm->watch_id);
}

static inline void mm_watch_init(struct mm_struct *mm)
{
	mm->watch_id = 0;
	mm->watch_tgid = 0;
	atomic64_set(&mm->watch_seq, 0);
	mm->watch_check_pins = false;
	mm->watch_gp = 0;
}

/*
 * A GUP for writing may leave pages pinned or referenced, to be written
 * later without a fault: from now on the re-arms of @mm look for them.
 * Called before the page table walk, under the mmap lock or, by GUP-fast,
 * with interrupts off (see mm_watch_set_id()). The barrier pairs with the
 * one in mm_watch_must_check_pins(): a re-arm that misses the flag has
 * write-protected its entries before GUP-fast reads them.
 */
static inline void mm_watch_gup_write(struct mm_struct *mm)
{
	if (!mm_watch_id(mm))
		return;
	if (!READ_ONCE(mm->watch_check_pins))
		WRITE_ONCE(mm->watch_check_pins, true);
	/* Pairs with smp_mb() in mm_watch_must_check_pins(). */
	smp_mb();
}

bool mm_watch_capable(struct task_struct *task);
int mm_watch_prepare(struct mm_struct *mm, struct task_struct *task,
		     unsigned long start, unsigned long end);
void mm_watch_settle(struct mm_struct *mm);
void mm_watch_arm(struct vm_area_struct *vma, unsigned long start,
		  unsigned long end, bool rearm);
void mm_watch_rearm_prepare(struct mm_struct *mm);
bool mm_watch_rearm_vec(struct mm_struct *mm, struct iov_iter *iter);
bool mm_watch_range_watched(struct mm_struct *mm, unsigned long start,
			    unsigned long end);
struct mm_watch_scan *mm_watch_scan_begin(struct mm_struct *mm);
unsigned long *mm_watch_scan_written(struct mm_watch_scan *scan);
void mm_watch_scan_arm_ptes(struct mm_watch_scan *scan,
			    struct vm_area_struct *vma, pte_t *pte,
			    unsigned long addr, unsigned int nr);
void mm_watch_scan_queue(struct mm_watch_scan *scan,
			 struct vm_area_struct *vma, unsigned long addr,
			 unsigned int nr);
void mm_watch_scan_end(struct mm_watch_scan *scan);
void mm_watch_unmark(struct vm_area_struct *vma, unsigned long start,
		     unsigned long end);
void mm_watch_check_pinned_ptes(struct vm_area_struct *vma, pte_t *pte,
				unsigned long addr, const unsigned long *armed,
				unsigned int nr, bool rearm);
bool mm_watch_check_pinned_swap(struct vm_area_struct *vma, unsigned long addr,
				swp_entry_t entry, unsigned long size, bool rearm);
bool mm_watch_check_pinned_pmd(struct vm_area_struct *vma, unsigned long addr,
			       pmd_t pmd, bool rearm);
void __mm_watch_write_fault(struct vm_area_struct *vma, unsigned long addr,
			    unsigned long size);
void __mm_watch_zap(struct vm_area_struct *vma, unsigned long start,
		    unsigned long end, int reason);
void __mm_watch_unmap(struct vm_area_struct *vma, unsigned long start,
		      unsigned long end);
void __mm_watch_move(struct vm_area_struct *vma, unsigned long old_start,
		     unsigned long new_start, unsigned long len);
void __mm_watch_exit(struct mm_struct *mm);
int mm_watch_all(struct mm_struct *mm, struct task_struct *task, bool watch);
void __mm_watch_map(struct vm_area_struct *vma, unsigned long start,
		    unsigned long end);
void mm_watch_grow(struct mm_struct *mm, unsigned long start,
		   unsigned long end);

/* Whether anything in @mm was ever watched */
static inline bool mm_watch_active(struct mm_struct *mm)
{
	return mm_watch_id(mm);
}

/*
 * Report that [@addr, @addr + @size) of @vma is about to be written:
 * called under the page table lock, in the critical section that makes
 * the entry writable (or that lets a FOLL_FORCE write through). Also
 * called with the event disabled, as the write takes a sequence number.
 */
static inline void mm_watch_write_fault(struct vm_area_struct *vma,
					unsigned long addr, unsigned long size)
{
	if (unlikely(vma_watched(vma)))
		__mm_watch_write_fault(vma, addr, size);
}

/* [@start, @end) of @vma was discarded: it reads back zero or file data. */
static inline void mm_watch_zap(struct vm_area_struct *vma,
				unsigned long start, unsigned long end,
				int reason)
{
	if (unlikely(vma_watched(vma)))
		__mm_watch_zap(vma, start, end, reason);
}

/* [@start, @end) of @vma was unmapped. */
static inline void mm_watch_unmap(struct vm_area_struct *vma,
				  unsigned long start, unsigned long end)
{
	if (unlikely(vma_watched(vma)))
		__mm_watch_unmap(vma, start, end);
}

/* mremap() moved @len bytes of @vma from @old_start to @new_start. */
static inline void mm_watch_move(struct vm_area_struct *vma,
				 unsigned long old_start,
				 unsigned long new_start, unsigned long len)
{
	if (unlikely(vma_watched(vma)))
		__mm_watch_move(vma, old_start, new_start, len);
}

/* @mm is being torn down. */
static inline void mm_watch_exit(struct mm_struct *mm)
{
	if (unlikely(mm_watch_active(mm)))
		__mm_watch_exit(mm);
}

/*
 * [@start, @end) was just mapped and lies in @vma; called under the mmap
 * lock held for writing, before any fault can reach it.
 */
static inline void mm_watch_map(struct vm_area_struct *vma,
				unsigned long start, unsigned long end)
{
	if (unlikely(vma_watched(vma)))
		__mm_watch_map(vma, start, end);
}

/*
 * The flags of a new mapping, VM_WATCHED from mm->def_flags
 * (MADV_WATCH_ALL) dropped where it is shared, before the mapping is
 * merged: it cannot be watched, and would not merge with its unwatched
 * neighbours. __mm_watch_map() drops it where a driver's ->mmap() made
 * the mapping one that cannot be watched.
 */
static inline vm_flags_t mm_watch_mmap_flags(vm_flags_t vm_flags)
{
	if (vm_flags & (VM_SHARED | VM_MAYSHARE))
		vm_flags &= ~VM_WATCHED;
	return vm_flags;
}

/* mremap() added [@start, @end) to an existing mapping. */
static inline void mm_watch_mremap_grow(struct mm_struct *mm,
					unsigned long start, unsigned long end)
{
	if (unlikely(mm_watch_active(mm)))
		mm_watch_grow(mm, start, end);
}

#else /* !CONFIG_MEM_WATCH */

static inline bool vma_watched(struct vm_area_struct *vma)
{
	return false;
}

static inline void mm_watch_init(struct mm_struct *mm)
{
}

static inline void mm_watch_gup_write(struct mm_struct *mm)
{
}

static inline bool mm_watch_capable(struct task_struct *task)
{
	return false;
}

static inline int mm_watch_prepare(struct mm_struct *mm,
				   struct task_struct *task,
				   unsigned long start, unsigned long end)
{
	return -EINVAL;
}

static inline void mm_watch_settle(struct mm_struct *mm)
{
}

static inline void mm_watch_rearm_prepare(struct mm_struct *mm)
{
}

static inline bool mm_watch_rearm_vec(struct mm_struct *mm,
				      struct iov_iter *iter)
{
	return false;
}

static inline bool mm_watch_range_watched(struct mm_struct *mm,
					  unsigned long start,
					  unsigned long end)
{
	return false;
}

static inline struct mm_watch_scan *mm_watch_scan_begin(struct mm_struct *mm)
{
	return NULL;
}

static inline unsigned long *mm_watch_scan_written(struct mm_watch_scan *scan)
{
	return NULL;
}

static inline void mm_watch_scan_arm_ptes(struct mm_watch_scan *scan,
					  struct vm_area_struct *vma,
					  pte_t *pte, unsigned long addr,
					  unsigned int nr)
{
}

static inline void mm_watch_scan_queue(struct mm_watch_scan *scan,
				       struct vm_area_struct *vma,
				       unsigned long addr, unsigned int nr)
{
}

static inline void mm_watch_scan_end(struct mm_watch_scan *scan)
{
}

static inline void mm_watch_check_pinned_ptes(struct vm_area_struct *vma,
					      pte_t *pte, unsigned long addr,
					      const unsigned long *armed,
					      unsigned int nr, bool rearm)
{
}

static inline bool mm_watch_check_pinned_swap(struct vm_area_struct *vma,
					      unsigned long addr,
					      swp_entry_t entry,
					      unsigned long size, bool rearm)
{
	return false;
}

static inline bool mm_watch_check_pinned_pmd(struct vm_area_struct *vma,
					     unsigned long addr, pmd_t pmd,
					     bool rearm)
{
	return false;
}

static inline void mm_watch_unmark(struct vm_area_struct *vma,
				   unsigned long start, unsigned long end)
{
}

static inline void mm_watch_write_fault(struct vm_area_struct *vma,
					unsigned long addr, unsigned long size)
{
}

static inline bool mm_watch_active(struct mm_struct *mm)
{
	return false;
}

static inline void mm_watch_zap(struct vm_area_struct *vma,
				unsigned long start, unsigned long end,
				int reason)
{
}

static inline void mm_watch_unmap(struct vm_area_struct *vma,
				  unsigned long start, unsigned long end)
{
}

static inline void mm_watch_move(struct vm_area_struct *vma,
				 unsigned long old_start,
				 unsigned long new_start, unsigned long len)
{
}

static inline void mm_watch_exit(struct mm_struct *mm)
{
}

static inline int mm_watch_all(struct mm_struct *mm,
			       struct task_struct *task, bool watch)
{
	return 0;
}

static inline void mm_watch_map(struct vm_area_struct *vma,
				unsigned long start, unsigned long end)
{
}

static inline vm_flags_t mm_watch_mmap_flags(vm_flags_t vm_flags)
{
	return vm_flags;
}

static inline void mm_watch_mremap_grow(struct mm_struct *mm,
					unsigned long start, unsigned long end)
{
}

#endif /* CONFIG_MEM_WATCH */

#endif /* _LINUX_MM_WATCH_H */
