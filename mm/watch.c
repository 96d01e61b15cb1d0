// SPDX-License-Identifier: GPL-2.0
/*
 * Per-VMA write tracking (MADV_WATCH).
 *
 * A watched VMA keeps every present page table entry read-only until the
 * first write after the last arm, and that write is reported through the
 * mm_watch_write_fault tracepoint in the same page table lock critical
 * section that makes the entry writable. Re-arming write-protects the
 * range again. The rule every path has to follow is therefore: in a
 * VM_WATCHED VMA, an entry may only become writable together with an
 * event; see Documentation/admin-guide/mm/watch.rst.
 */

#include <linux/atomic.h>
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/dax.h>
#include <linux/fs.h>
#include <linux/hugetlb.h>
#include <linux/mm.h>
#include <linux/mm_watch.h>
#include <linux/mmap_lock.h>
#include <linux/mmu_notifier.h>
#include <linux/preempt.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/swap.h>
#include <linux/swapops.h>
#include <linux/uaccess.h>
#include <linux/uio.h>
#include <linux/userfaultfd_k.h>
#include <asm/tlb.h>

#include "internal.h"
#include "swap.h"

#define CREATE_TRACE_POINTS
#include <trace/events/mm_watch.h>

/* mm identities are never reused, 0 means "never watched" */
static atomic64_t mm_watch_last_id = ATOMIC64_INIT(0);

/*
 * Number the next event of @mm. Every event that @mm emits takes a number
 * here, whether the tracepoint is enabled, filtered or dropped, so that a
 * consumer sees each event it did not get as a gap (the marks of re-arms
 * aside, see mm_watch_marked()). The caller holds the lock that orders
 * the change it reports (the page table lock for a write fault, the mmap
 * lock for a mark), so that the numbers of one mm follow the order of its
 * changes across CPUs; and it records the event before it enables
 * preemption again, so that the events of one mm are in increasing order
 * within each per-CPU buffer.
 */
static u64 mm_watch_seq(struct mm_struct *mm)
{
	lockdep_assert_preemption_disabled();
	return atomic64_inc_return(&mm->watch_seq);
}

/*
 * Only what has a normal page behind every entry whose contents change
 * through this VMA alone, with a write fault, is supported: anonymous
 * memory and private mappings of regular files (whose tracked contents
 * are this mm's anonymous copies). Everything else is refused:
 * - shared mappings change through other mappings, write(2) and the page
 *   cache with no fault in this VMA;
 * - device and special mappings (VM_PFNMAP, VM_IO, VM_MIXEDMAP, or a file
 *   that is not regular) may be written by the device or the driver with
 *   no fault at all;
 * - hugetlb and DAX have no per-entry write tracking we could rely on, and
 *   VM_DROPPABLE pages can vanish at any time without an event;
 * - shadow stacks: change_protection() leaves shadow-stack entries as they
 *   are (pte_modify() keeps them writable to the CPU), so CALL and the
 *   tokens the kernel writes would change them with no fault;
 * - userfaultfd write-protection: it decides what PAGEMAP_SCAN reports as
 *   written and arms with PM_SCAN_WP_MATCHING, as a watch does, and the
 *   process's own use of it comes first (userfaultfd_register_range()
 *   ends the watch of what it registers).
 */
static bool mm_watch_vma_supported(struct vm_area_struct *vma)
{
	if (vma->vm_flags & (VM_SHARED | VM_MAYSHARE | VM_PFNMAP | VM_IO |
			     VM_MIXEDMAP | VM_DROPPABLE | VM_SHADOW_STACK))
		return false;
	if (userfaultfd_wp(vma))
		return false;
	if (is_vm_hugetlb_page(vma) || vma_is_dax(vma))
		return false;
	if (vma_is_anonymous(vma))
		return true;
	return vma->vm_file && S_ISREG(file_inode(vma->vm_file)->i_mode);
}

/**
 * mm_watch_capable - may the caller watch another process?
 * @task: the process
 *
 * CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN in the user namespace of
 * @task's credentials (not of its mm, which fork() inherits from the
 * parent's, so a child created in a new user namespace would still name
 * the initial one). Asked, besides a ptrace check, by process_madvise()
 * and by a PAGEMAP_SCAN that would arm another process's pages again.
 *
 * Return: true if the caller has the capability.
 */
bool mm_watch_capable(struct task_struct *task)
{
	bool ret;

	rcu_read_lock();
	ret = checkpoint_restore_ns_capable(__task_cred(task)->user_ns);
	rcu_read_unlock();
	return ret;
}

/*
 * Give @mm the identity its events carry on its first watch, and hold its
 * first arm back for a grace period.
 *
 * A GUP-fast for writing that read no identity left no note for the
 * re-arms (mm_watch_gup_write()), and may pin a page after the first arm
 * looked, once a fault made it writable again. It reads the identity
 * with interrupts off: a grace period after the identity is published,
 * every such walk has ended, its pins in place for the first arm to find,
 * and every later one sees the identity. The caller waits for it without
 * the mmap lock, which the target's faults may need (mm_watch_settle()),
 * and tries again.
 *
 * Return: 0 if @mm may be armed, -EAGAIN until that grace period passed.
 */
static int mm_watch_set_id(struct mm_struct *mm, struct task_struct *task)
{
	mmap_assert_write_locked(mm);
	if (!mm->watch_id) {
		WRITE_ONCE(mm->watch_tgid, task_tgid_nr(task));
		/* Pairs with mm_watch_id(): the tgid is set once the id is. */
		smp_store_release(&mm->watch_id,
				  atomic64_inc_return(&mm_watch_last_id));
		/* Orders the store above before the grace period's start. */
		WRITE_ONCE(mm->watch_gp, get_state_synchronize_rcu());
		return -EAGAIN;
	}
	if (!poll_state_synchronize_rcu(mm->watch_gp))
		return -EAGAIN;
	/* For good: a poll long after could see a wrapped counter. */
	WRITE_ONCE(mm->watch_gp, get_completed_synchronize_rcu());
	return 0;
}

/**
 * mm_watch_settle - wait until the first arm of @mm may go on
 * @mm: the mm that mm_watch_prepare() or mm_watch_all() gave -EAGAIN for
 *
 * Context: the mmap lock must not be held.
 */
void mm_watch_settle(struct mm_struct *mm)
{
	cond_synchronize_rcu(READ_ONCE(mm->watch_gp));
}

/**
 * mm_watch_prepare - check a MADV_WATCH range and give the mm its identity
 * @mm: the mm to watch
 * @task: the process @mm belongs to, named by the events
 * @start: start of the range
 * @end: end of the range
 *
 * Refuse the whole range if any VMA in it cannot be watched, so that
 * nothing is changed on error. On success, assign the mm identity that
 * the events carry if this is the first MADV_WATCH on @mm.
 *
 * Return: 0 on success, -EINVAL if a VMA cannot be watched, -EAGAIN if
 * @mm cannot be armed yet: drop the mmap lock, call mm_watch_settle()
 * and try again.
 */
int mm_watch_prepare(struct mm_struct *mm, struct task_struct *task,
		     unsigned long start, unsigned long end)
{
	VMA_ITERATOR(vmi, mm, start);
	struct vm_area_struct *vma;
	bool found = false;

	mmap_assert_write_locked(mm);

	for_each_vma_range(vmi, vma, end) {
		if (!mm_watch_vma_supported(vma))
			return -EINVAL;
		found = true;
	}

	return found ? mm_watch_set_id(mm, task) : 0;
}

/*
 * Arming clears the soft-dirty bit of every entry it write-protects, and
 * the write fault sets it again: in a watched VMA it means "written since
 * armed". The VMA-wide flag would make every entry read as written. It is
 * dropped for the whole VMA, not only the range armed: an entry never
 * armed is empty, or became present through a path that sets the bit
 * (write fault, mremap(), THP collapse) or maps the zero page or the page
 * cache, which a sweep cannot tell from an older copy and reports anyway.
 */
static void mm_watch_clear_vma_soft_dirty(struct vm_area_struct *vma)
{
	vma_assert_write_locked(vma);
	if (vma->vm_flags & VM_SOFTDIRTY)
		vm_flags_clear(vma, VM_SOFTDIRTY);
}

/**
 * mm_watch_protect_ranges - write-protect parts of a watched VMA
 * @tlb: the gather that collects the TLB flush
 * @vma: the VMA, already marked VM_WATCHED
 * @ranges: sorted, disjoint ranges within @vma
 * @nr: number of ranges
 * @rearm: whether the ranges were already watched
 *
 * Write-protect every entry in @ranges so that the next write to each
 * page faults and is reported. Pinned folios are reported on the way, as
 * they may change without a fault. The ranges are armed only once @tlb
 * has been flushed; report them with mm_watch_marked() after that.
 *
 * Context: the mmap lock is held for writing.
 * Return: false if nothing was protected: then nothing may be reported.
 */
static bool mm_watch_protect_ranges(struct mmu_gather *tlb,
				    struct vm_area_struct *vma,
				    const struct prot_range *ranges,
				    unsigned int nr, bool rearm)
{
	mmap_assert_write_locked(vma->vm_mm);
	if (WARN_ON_ONCE(!vma_watched(vma) || !vma->vm_mm->watch_id))
		return false;
	/* MADV_WATCH refuses, and UFFDIO_REGISTER_MODE_WP ends, such a watch */
	VM_WARN_ON_ONCE(userfaultfd_wp(vma));
	/* No arm before the GUP-fast walks that missed the identity ended */
	VM_WARN_ON_ONCE(!poll_state_synchronize_rcu(vma->vm_mm->watch_gp));
	/*
	 * On re-arm the flags did not change and madvise_update_vma() did
	 * not lock the VMA: do it here, so that no fault under the per-VMA
	 * lock races with the write-protection.
	 */
	vma_start_write(vma);
	mm_watch_clear_vma_soft_dirty(vma);
	change_protection_ranges(tlb, vma, ranges, nr,
				 MM_CP_WATCH | (rearm ? MM_CP_WATCH_REARM : 0));
	return true;
}

static bool mm_watch_protect(struct mmu_gather *tlb,
			     struct vm_area_struct *vma,
			     unsigned long start, unsigned long end, bool rearm)
{
	struct prot_range range = { .start = start, .end = end };

	return mm_watch_protect_ranges(tlb, vma, &range, 1, rearm);
}

/**
 * mm_watch_marked - report that a range is armed
 * @mm: the watched mm
 * @start: start of the range
 * @end: end of the range
 * @rearm: whether the range was already watched
 *
 * Call only once no writable TLB entry for the range is left, so that
 * every write after the event faults.
 *
 * A re-arm is reported by its own event, which takes no number: it
 * carries the number of the last event before it. Missing it cannot make
 * a consumer miss a change (the range only became clean; a consumer that
 * did not see it keeps the pages dirty, a superset), so a consumer leaves
 * the re-arms of its own, one per dirty range, unrecorded at no cost and
 * without seeing gaps.
 */
static void mm_watch_marked(struct mm_struct *mm, unsigned long start,
			    unsigned long end, bool rearm)
{
	mmap_assert_write_locked(mm);
	guard(preempt)();
	if (rearm)
		trace_mm_watch_rearm(mm, atomic64_read(&mm->watch_seq), start,
				     end);
	else
		trace_mm_watch_mark(mm, mm_watch_seq(mm), start, end);
}

/**
 * mm_watch_arm - write-protect a watched range and report it
 * @vma: the VMA, already marked VM_WATCHED
 * @start: start of the range within @vma
 * @end: end of the range within @vma
 * @rearm: whether the range was already watched
 */
void mm_watch_arm(struct vm_area_struct *vma, unsigned long start,
		  unsigned long end, bool rearm)
{
	struct mmu_gather tlb;
	bool armed;

	tlb_gather_mmu(&tlb, vma->vm_mm);
	armed = mm_watch_protect(&tlb, vma, start, end, rearm);
	tlb_finish_mmu(&tlb);

	if (armed)
		mm_watch_marked(vma->vm_mm, start, end, rearm);
}

/*
 * Ranges of one VMA re-armed in one walk of the page tables, which skips
 * the page tables between them (change_protection_ranges()).
 */
#define MM_WATCH_REARM_BATCH	32

struct mm_watch_rearm_batch {
	struct vm_area_struct *vma;
	unsigned int nr;
	unsigned int max;
	struct prot_range *ranges;
};

static void mm_watch_rearm_flush(struct mmu_gather *tlb,
				 struct mm_watch_rearm_batch *batch)
{
	if (batch->nr)
		mm_watch_protect_ranges(tlb, batch->vma, batch->ranges,
					batch->nr, true);
	batch->nr = 0;
}

static bool mm_watch_rearm_fits(struct mm_watch_rearm_batch *batch,
				struct vm_area_struct *vma, unsigned long start)
{
	unsigned long last_end;

	if (!batch->nr)
		return true;
	last_end = batch->ranges[batch->nr - 1].end;
	if (batch->vma != vma || batch->nr == batch->max || start < last_end)
		return false;
	/*
	 * A secondary MMU is told of the walk's whole span, and may drop
	 * every mapping it holds there: then keep the ranges of a walk close.
	 */
	return start - last_end < PMD_SIZE || !mm_has_notifiers(vma->vm_mm);
}

/* Append [start, end) to @batch, as one range with the last if they touch. */
static bool mm_watch_batch_append(struct mm_watch_rearm_batch *batch,
				  struct vm_area_struct *vma,
				  unsigned long start, unsigned long end)
{
	/* Written pages run across page tables: one range for a run. */
	if (batch->nr && batch->vma == vma &&
	    batch->ranges[batch->nr - 1].end == start) {
		batch->ranges[batch->nr - 1].end = end;
		return true;
	}
	if (!mm_watch_rearm_fits(batch, vma, start))
		return false;
	batch->vma = vma;
	batch->ranges[batch->nr].start = start;
	batch->ranges[batch->nr].end = end;
	batch->nr++;
	return true;
}

/* Queue [start, end) in @vma, after the ranges queued so far if it fits. */
static void mm_watch_rearm_queue(struct mmu_gather *tlb,
				 struct mm_watch_rearm_batch *batch,
				 struct vm_area_struct *vma,
				 unsigned long start, unsigned long end)
{
	if (mm_watch_batch_append(batch, vma, start, end))
		return;
	mm_watch_rearm_flush(tlb, batch);
	mm_watch_batch_append(batch, vma, start, end);
}

/*
 * Write-protect [start, start + len_in) again if it lies entirely in
 * watched VMAs. Anything else, an error included, is left to the generic
 * path of madvise(). The ranges of one call are mostly sorted pages of a
 * few large VMAs, and no VMA can change while the mmap lock is held for
 * writing: a range within one VMA is queued in @batch, whose VMA is also
 * the first one looked at.
 */
static bool mm_watch_rearm_range(struct mm_struct *mm, struct mmu_gather *tlb,
				 struct mm_watch_rearm_batch *batch,
				 unsigned long start, size_t len_in)
{
	VMA_ITERATOR(vmi, mm, 0);
	struct vm_area_struct *vma = batch->vma;
	size_t len = PAGE_ALIGN(len_in);
	unsigned long end, addr;

	mmap_assert_write_locked(mm);
	if (!PAGE_ALIGNED(start) || (len_in && !len))
		return false;
	start = untagged_addr_remote(mm, start);
	end = start + len;
	if (end < start)
		return false;
	if (start == end)
		return true;

	if (!vma || start < vma->vm_start || start >= vma->vm_end)
		vma = vma_lookup(mm, start);
	if (!vma || !vma_watched(vma))
		return false;
	if (end <= vma->vm_end) {
		mm_watch_rearm_queue(tlb, batch, vma, start, end);
		return true;
	}

	/* Across VMAs: check all of them before protecting any. */
	addr = start;
	vma_iter_set(&vmi, start);
	for_each_vma_range(vmi, vma, end) {
		if (vma->vm_start > addr || !vma_watched(vma))
			return false;
		addr = vma->vm_end;
	}
	if (addr < end)
		return false;

	mm_watch_rearm_flush(tlb, batch);
	vma_iter_set(&vmi, start);
	for_each_vma_range(vmi, vma, end) {
		mm_watch_protect(tlb, vma, max(start, vma->vm_start),
				 min(end, vma->vm_end), true);
		batch->vma = vma;
	}
	return true;
}

/*
 * The re-arms of one PAGEMAP_SCAN walk, see mm_watch_scan_begin(). The
 * walk stops at 512 regions (PAGEMAP_WALK_SIZE): as many ranges make one
 * batch, one walk of the page tables and one TLB flush.
 */
#define MM_WATCH_SCAN_BATCH	512

struct mm_watch_scan {
	struct mm_struct *mm;
	struct mmu_gather tlb;
	/* not present: to be armed by change_protection_ranges() */
	struct mm_watch_rearm_batch batch;
	/* armed in the walk: to be flushed from the TLB and reported */
	struct mm_watch_rearm_batch armed;
	/*
	 * The page table walked: written entries, and those armed under its
	 * lock. Used at every page table: kept with the fields above, not
	 * pages away past the arrays.
	 */
	DECLARE_BITMAP(written, MAX_PTRS_PER_PTE);
	DECLARE_BITMAP(armed_ptes, MAX_PTRS_PER_PTE);
	struct prot_range ranges[MM_WATCH_SCAN_BATCH];
	struct prot_range armed_ranges[MM_WATCH_SCAN_BATCH];
};

/*
 * Report the re-arms of @batch. A consumer leaves the echo of its own
 * re-arms off (see mm_watch_marked()): with the event off everywhere, a
 * walk of a dense dirty set skips a call per range.
 */
static void mm_watch_scan_marked(struct mm_struct *mm,
				 const struct mm_watch_rearm_batch *batch)
{
	unsigned int i;

	if (!trace_mm_watch_rearm_enabled())
		return;
	for (i = 0; i < batch->nr; i++)
		mm_watch_marked(mm, batch->ranges[i].start,
				batch->ranges[i].end, true);
}

/*
 * Report the ranges armed in the walk, once no writable TLB entry is left.
 * The flush waits for a batch of them, as PAGEMAP_SCAN's own write-protect
 * waits for the end of a page table: a write through a stale entry
 * meanwhile lands before the ioctl returns, so before the caller copies
 * the pages that the scan reported written.
 */
static void mm_watch_scan_report(struct mm_watch_scan *scan)
{
	struct mm_watch_rearm_batch *armed = &scan->armed;

	if (!armed->nr)
		return;
	flush_tlb_range(armed->vma, armed->ranges[0].start,
			armed->ranges[armed->nr - 1].end);
	mm_watch_scan_marked(scan->mm, armed);
	armed->nr = 0;
}

/*
 * Write-protect the queued ranges, flush the TLB for them and only then
 * report them, as mm_watch_rearm_vec() does for all of its ranges at once.
 */
static void mm_watch_scan_flush(struct mm_watch_scan *scan)
{
	struct mm_watch_rearm_batch *batch = &scan->batch;

	if (!batch->nr)
		return;
	if (mm_watch_protect_ranges(&scan->tlb, batch->vma, batch->ranges,
				    batch->nr, true)) {
		tlb_flush_mmu(&scan->tlb);
		mm_watch_scan_marked(scan->mm, batch);
	}
	batch->nr = 0;
}

/**
 * mm_watch_range_watched - whether a VMA in a range of @mm is watched
 * @mm: the mm
 * @start: start of the range
 * @end: end of the range
 *
 * Context: the mmap lock is held: no VMA becomes watched without it.
 */
bool mm_watch_range_watched(struct mm_struct *mm, unsigned long start,
			    unsigned long end)
{
	VMA_ITERATOR(vmi, mm, start);
	struct vm_area_struct *vma;

	mmap_assert_locked(mm);
	if (!mm->watch_id)
		return false;
	for_each_vma_range(vmi, vma, end) {
		if (vma_watched(vma))
			return true;
	}
	return false;
}

/**
 * mm_watch_scan_begin - prepare the re-arms of a PAGEMAP_SCAN walk
 * @mm: the mm walked, with the mmap lock held for writing
 *
 * PAGEMAP_SCAN with PM_SCAN_WP_MATCHING re-arms the pages of watched VMAs
 * that it reports written since armed: the consumer reads and re-arms a
 * dense dirty set in one walk, as WP_ASYNC users do, instead of a walk and
 * a vector of ranges. Present entries are armed in the walk, under their
 * page table lock (mm_watch_scan_arm_ptes()); the others, and huge
 * entries, as by mm_watch_rearm_vec(), after the walk has dropped it.
 *
 * Return: the state for the walk, or NULL without memory.
 */
struct mm_watch_scan *mm_watch_scan_begin(struct mm_struct *mm)
{
	struct mm_watch_scan *scan;

	mmap_assert_write_locked(mm);
	/* About 16 KiB, at each take of the lock: no costly order required. */
	scan = kvmalloc(sizeof(*scan), GFP_KERNEL);
	if (!scan)
		return NULL;
	scan->mm = mm;
	scan->batch.nr = 0;
	scan->batch.max = ARRAY_SIZE(scan->ranges);
	scan->batch.ranges = scan->ranges;
	scan->armed.nr = 0;
	scan->armed.max = ARRAY_SIZE(scan->armed_ranges);
	scan->armed.ranges = scan->armed_ranges;
	tlb_gather_mmu(&scan->tlb, mm);
	return scan;
}

/**
 * mm_watch_scan_written - the bitmap of a page table a PAGEMAP_SCAN walks
 * @scan: from mm_watch_scan_begin()
 *
 * Set a bit for each entry that the walk found written and that is to be
 * armed again, then pass the page table to mm_watch_scan_arm_ptes() and
 * mm_watch_scan_queue(). The bitmaps are cleared here. They are the
 * walk's rather than its stack's: with 64 KiB pages a page table has 8192
 * entries.
 *
 * Return: the bitmap, one bit per entry of the page table.
 */
unsigned long *mm_watch_scan_written(struct mm_watch_scan *scan)
{
	bitmap_zero(scan->written, PTRS_PER_PTE);
	bitmap_zero(scan->armed_ptes, PTRS_PER_PTE);
	return scan->written;
}

/**
 * mm_watch_scan_arm_ptes - arm the written entries of a page table again
 * @scan: from mm_watch_scan_begin()
 * @vma: the watched VMA
 * @pte: the entry of @addr
 * @addr: start of the entries
 * @nr: number of entries the bitmap of mm_watch_scan_written() covers
 *
 * Write-protect the present entries set in the bitmap as change_protection()
 * with MM_CP_WATCH does, in the walk that found them: WP_ASYNC
 * write-protects so too. The others are left to mm_watch_scan_queue().
 *
 * Context: the page table lock of the entries is held.
 */
void mm_watch_scan_arm_ptes(struct mm_watch_scan *scan,
			    struct vm_area_struct *vma, pte_t *pte,
			    unsigned long addr, unsigned int nr)
{
	unsigned long *written = scan->written, *armed = scan->armed_ptes;
	pte_t oldpte, ptent;
	unsigned long entry_addr;
	unsigned int i;

	mmap_assert_write_locked(vma->vm_mm);
	if (WARN_ON_ONCE(!vma_watched(vma)) || bitmap_empty(written, nr))
		return;
	/* See change_pte_range(): a reclaim may not have flushed yet. */
	flush_tlb_batched_pending(vma->vm_mm);
	for_each_set_bit(i, written, nr) {
		if (!pte_present(ptep_get(pte + i)))
			continue;
		entry_addr = addr + i * PAGE_SIZE;
		oldpte = ptep_modify_prot_start(vma, entry_addr, pte + i);
		ptent = pte_modify(oldpte, vma->vm_page_prot);
		ptep_modify_prot_commit(vma, entry_addr, pte + i, oldpte,
					pte_clear_soft_dirty(ptent));
		__set_bit(i, armed);
	}
	bitmap_andnot(written, written, armed, nr);
	mm_watch_check_pinned_ptes(vma, pte, addr, armed, nr, true);
}

/* Append [start, end) to @batch of @scan, after a @drain if it is full. */
static void mm_watch_scan_append(struct mm_watch_scan *scan,
				 struct mm_watch_rearm_batch *batch,
				 void (*drain)(struct mm_watch_scan *scan),
				 struct vm_area_struct *vma,
				 unsigned long start, unsigned long end)
{
	if (mm_watch_batch_append(batch, vma, start, end))
		return;
	drain(scan);
	mm_watch_batch_append(batch, vma, start, end);
}

/**
 * mm_watch_scan_queue - finish the written entries of a page table
 * @scan: from mm_watch_scan_begin()
 * @vma: the watched VMA
 * @addr: address of the first entry of the bitmap
 * @nr: number of entries the bitmap covers
 *
 * The entries mm_watch_scan_arm_ptes() armed are reported once the TLB is
 * flushed for them, at the latest by mm_watch_scan_end(). The others
 * (swapped out, migrating, huge) are armed as MADV_WATCH arms, outside
 * the page table lock, and reported after.
 *
 * Context: the page table lock of the entries is not held.
 */
void mm_watch_scan_queue(struct mm_watch_scan *scan,
			 struct vm_area_struct *vma, unsigned long addr,
			 unsigned int nr)
{
	unsigned int rs, re;

	if (!bitmap_empty(scan->armed_ptes, nr))
		mm_watch_clear_vma_soft_dirty(vma);
	for_each_set_bitrange(rs, re, scan->armed_ptes, nr)
		mm_watch_scan_append(scan, &scan->armed, mm_watch_scan_report,
				     vma, addr + rs * PAGE_SIZE,
				     addr + re * PAGE_SIZE);
	for_each_set_bitrange(rs, re, scan->written, nr)
		mm_watch_scan_append(scan, &scan->batch, mm_watch_scan_flush,
				     vma, addr + rs * PAGE_SIZE,
				     addr + re * PAGE_SIZE);
}

/**
 * mm_watch_scan_end - finish the re-arms of a PAGEMAP_SCAN walk
 * @scan: from mm_watch_scan_begin(), freed here
 *
 * Call before the mmap lock is dropped: every range reported written is
 * then armed again, and reported by mm_watch_rearm.
 */
void mm_watch_scan_end(struct mm_watch_scan *scan)
{
	mmap_assert_write_locked(scan->mm);
	mm_watch_scan_report(scan);
	mm_watch_scan_flush(scan);
	tlb_finish_mmu(&scan->tlb);
	kvfree(scan);
}

/**
 * mm_watch_rearm_prepare - empty the LRU batches before re-arms that look
 * @mm: the mm about to be re-armed, its mmap lock not held
 *
 * Called before mm_watch_rearm_vec() and before a PAGEMAP_SCAN that re-arms.
 *
 * See __do_madvise(): a folio waiting in a per-CPU LRU batch holds a
 * reference, which mm_watch_page_referenced() would count. Only a re-arm
 * that looks for references needs the batches empty
 * (mm_watch_must_check_pins()); one that starts to look meanwhile may
 * report a batched folio, which costs a copy.
 */
void mm_watch_rearm_prepare(struct mm_struct *mm)
{
	if (READ_ONCE(mm->watch_check_pins))
		lru_add_drain_all();
}

/**
 * mm_watch_rearm_vec - re-arm the leading watched ranges of a vector
 * @mm: the watched mm
 * @iter: the ranges of one process_madvise(MADV_WATCH) call
 *
 * A consumer re-arms the pages written in the last epoch, often thousands
 * of single pages in one process_madvise() call. Write-protect the leading
 * ranges of @iter that are already watched under one mmap lock and one TLB
 * flush rather than one per range, with one page table walk for many
 * ranges of a VMA, then report them. Stop at the first range that needs the
 * generic path of madvise().
 *
 * Return: true if @iter was advanced.
 */
bool mm_watch_rearm_vec(struct mm_struct *mm, struct iov_iter *iter)
{
	struct mm_watch_rearm_batch batch = {
		.max = MM_WATCH_REARM_BATCH,
	};
	struct iov_iter armed = *iter;
	struct mmu_gather tlb;
	unsigned long start;
	size_t len, nr = 0;
	bool advanced = false;

	/* Not on the stack: a KASAN build would pass the frame size limit. */
	batch.ranges = kmalloc_array(batch.max, sizeof(*batch.ranges),
				     GFP_KERNEL);
	if (!batch.ranges)
		return false;
	mm_watch_rearm_prepare(mm);
	if (mmap_write_lock_killable(mm))
		goto out_free;

	tlb_gather_mmu(&tlb, mm);
	while (iov_iter_count(iter)) {
		start = (unsigned long)iter_iov_addr(iter);
		len = iter_iov_len(iter);
		if (!mm_watch_rearm_range(mm, &tlb, &batch, start, len))
			break;
		iov_iter_advance(iter, len);
		nr++;
	}
	mm_watch_rearm_flush(&tlb, &batch);
	tlb_finish_mmu(&tlb);
	advanced = nr;

	/*
	 * Only now is no writable TLB entry left in these ranges. With the
	 * event off, as a consumer leaves the echo of its own re-arms, the
	 * ranges are not walked again.
	 */
	if (!trace_mm_watch_rearm_enabled())
		nr = 0;
	for (; nr; nr--) {
		start = (unsigned long)iter_iov_addr(&armed);
		start = untagged_addr_remote(mm, start);
		len = iter_iov_len(&armed);
		if (len)
			mm_watch_marked(mm, start, start + PAGE_ALIGN(len),
					true);
		iov_iter_advance(&armed, len);
	}
	mmap_write_unlock(mm);
out_free:
	kfree(batch.ranges);
	return advanced;
}

/**
 * mm_watch_unmark - report the end of watching a range
 * @vma: the VMA, whose VM_WATCHED flag was just cleared
 * @start: start of the range within @vma
 * @end: end of the range within @vma
 */
void mm_watch_unmark(struct vm_area_struct *vma, unsigned long start,
		     unsigned long end)
{
	struct mm_struct *mm = vma->vm_mm;

	mmap_assert_write_locked(mm);
	if (!mm_watch_id(mm))
		return;
	guard(preempt)();
	trace_mm_watch_unmark(mm, mm_watch_seq(mm), start, end);
}

/*
 * References beyond the mappings and the swap cache, as counted by KSM's
 * write_protect_page(): a FOLL_GET user (O_DIRECT on 9p or NFS takes page
 * references, not pins) may write through one after the arm. A per-CPU LRU
 * batch holds one too: arms that look drain the batches first, and a folio
 * batched since then is reported as well, which costs a copy.
 *
 * Only a page exclusive to this mm can be written that way: GUP unshares
 * an anonymous page before it hands it out for writing. The references to
 * a page still shared after fork() are read-only ones or transient ones
 * (another process breaking COW on it), and are not reported; a write
 * through a reference taken before the fork() is the O_DIRECT-and-fork()
 * case that open(2) warns about.
 */
static bool mm_watch_page_referenced(struct page *page)
{
	struct folio *folio = page_folio(page);
	int expected;

	if (!folio_test_anon(folio) || !PageAnonExclusive(page))
		return false;
	expected = folio_mapcount(folio);
	if (folio_test_swapcache(folio))
		expected += folio_nr_pages(folio);
	return folio_ref_count(folio) > expected;
}

/*
 * Must an arm look for pinned and referenced folios? A first arm must. A
 * re-arm only once a GUP for writing ran on the watched mm, or an arm found
 * one: a pin or reference an entry can be written through after its last
 * arm takes such a GUP (mm_watch_gup_write()).
 */
static bool mm_watch_looks_for_pins(struct mm_struct *mm, bool rearm)
{
	if (!mm_watch_id(mm))
		return false;
	return !rearm || READ_ONCE(mm->watch_check_pins);
}

/*
 * As mm_watch_looks_for_pins(), for mapped entries, which GUP-fast may pin
 * meanwhile: call once they are write-protected.
 */
static bool mm_watch_must_check_pins(struct mm_struct *mm, bool rearm)
{
	/*
	 * Order the write-protections before the pin and reference count
	 * checks. Pairs with GUP-fast, which takes its pin or reference before
	 * re-checking the entry, and with mm_watch_gup_write().
	 */
	smp_mb();
	return mm_watch_looks_for_pins(mm, rearm);
}

/* Report [addr, addr + size) pinned: from now on the re-arms look too. */
static void mm_watch_pinned(struct mm_struct *mm, unsigned long addr,
			    unsigned long size)
{
	if (!READ_ONCE(mm->watch_check_pins))
		WRITE_ONCE(mm->watch_check_pins, true);
	guard(preempt)();
	trace_mm_watch_pinned(mm, mm_watch_seq(mm), addr, size);
}

/*
 * A folio pinned for DMA or long-term use, or referenced by a FOLL_GET
 * user, can be written without any fault, so the consumer has to treat it
 * as dirty in every epoch in which it is reported, and every re-arm has to
 * look for it again.
 */
static bool mm_watch_report_pinned(struct vm_area_struct *vma,
				   unsigned long addr, struct page *page,
				   unsigned long size)
{
	struct mm_struct *mm = vma->vm_mm;
	struct folio *folio;

	mmap_assert_write_locked(mm);
	if (!page)
		return false;
	folio = page_folio(page);
	/* Mapped once and nothing else: most entries, in one load. */
	if (folio_ref_count(folio) == 1)
		return false;
	if (!folio_maybe_dma_pinned(folio) &&
	    !mm_watch_page_referenced(page))
		return false;
	mm_watch_pinned(mm, addr, size);
	return true;
}

/**
 * mm_watch_check_pinned_ptes - report the pinned folios of entries just armed
 * @vma: the watched VMA
 * @pte: an entry of a page table
 * @addr: its address
 * @armed: the entries from @pte on that were just write-protected
 * @nr: number of entries @armed covers
 * @rearm: whether the entries were already watched
 *
 * Called by change_protection(MM_CP_WATCH) under the page table lock, for
 * up to a word of entries at a time. A reported entry is made soft-dirty
 * again: it is "written since armed", as it may change without a fault.
 */
void mm_watch_check_pinned_ptes(struct vm_area_struct *vma, pte_t *pte,
				unsigned long addr, const unsigned long *armed,
				unsigned int nr, bool rearm)
{
	unsigned long entry_addr;
	pte_t ptent, oldpte;
	unsigned int i;

	/* Lazy MMU mode may still hold the write-protections back. */
	arch_flush_lazy_mmu_mode();
	if (!mm_watch_must_check_pins(vma->vm_mm, rearm))
		return;
	for_each_set_bit(i, armed, nr) {
		entry_addr = addr + i * PAGE_SIZE;
		ptent = ptep_get(pte + i);
		if (!mm_watch_report_pinned(vma, entry_addr,
					    vm_normal_page(vma, entry_addr, ptent),
					    PAGE_SIZE))
			continue;
		oldpte = ptep_modify_prot_start(vma, entry_addr, pte + i);
		ptep_modify_prot_commit(vma, entry_addr, pte + i, oldpte,
					pte_mksoft_dirty(oldpte));
	}
}

/*
 * Is the folio of swapped-out @entry referenced beyond the swap cache and
 * its mappings? Reclaim leaves a referenced folio in the swap cache; one
 * that is not there has no reference left.
 */
static bool mm_watch_swap_referenced(swp_entry_t entry)
{
	struct swap_info_struct *si;
	struct folio *folio;
	bool referenced;

	si = get_swap_device(entry);
	/* Swapoff brings the folio back: it cannot be looked at meanwhile. */
	if (!si)
		return true;
	folio = filemap_get_folio(swap_address_space(entry),
				  swap_cache_index(entry));
	put_swap_device(si);
	if (IS_ERR(folio))
		return false;
	/* Less the reference just taken. */
	referenced = folio_ref_count(folio) - 1 >
		     folio_mapcount(folio) + folio_nr_pages(folio);
	folio_put(folio);
	return referenced;
}

/**
 * mm_watch_check_pinned_swap - report the hidden folio of an entry being armed
 * @vma: the watched VMA
 * @addr: address of the entry
 * @entry: its swap, migration or device exclusive entry
 * @size: PAGE_SIZE, or HPAGE_PMD_SIZE for a PMD migration entry
 * @rearm: whether the entry was already watched
 *
 * A FOLL_GET user writes through its reference whatever the entry. Look at
 * a swapped-out folio in the swap cache as at a mapped one; a migrating or
 * device exclusive entry, whose folio is being moved, is reported as long
 * as the arms look for pins.
 *
 * Called by change_protection(MM_CP_WATCH) under the page table lock.
 *
 * Return: true if reported: the entry is made soft-dirty, as it may change
 * without a fault.
 */
bool mm_watch_check_pinned_swap(struct vm_area_struct *vma, unsigned long addr,
				swp_entry_t entry, unsigned long size, bool rearm)
{
	struct mm_struct *mm = vma->vm_mm;

	/*
	 * No barrier: GUP-fast takes no reference through a swap, migration
	 * or device exclusive entry, and GUP waits for the mmap lock.
	 */
	mmap_assert_write_locked(mm);
	if (!mm_watch_looks_for_pins(mm, rearm))
		return false;
	if (non_swap_entry(entry)) {
		if (!is_migration_entry(entry) &&
		    !is_device_exclusive_entry(entry))
			return false;
	} else if (!mm_watch_swap_referenced(entry)) {
		return false;
	}
	mm_watch_pinned(mm, addr, size);
	return true;
}

#ifdef CONFIG_TRANSPARENT_HUGEPAGE
/**
 * mm_watch_check_pinned_pmd - report a pinned huge folio found while arming
 * @vma: the watched VMA
 * @addr: address of the entry
 * @pmd: the entry, just write-protected
 * @rearm: whether the entry was already watched
 *
 * Called by change_protection(MM_CP_WATCH) under the page table lock.
 *
 * Return: true if the folio was reported: it may change without a fault.
 */
bool mm_watch_check_pinned_pmd(struct vm_area_struct *vma, unsigned long addr,
			       pmd_t pmd, bool rearm)
{
	if (!mm_watch_must_check_pins(vma->vm_mm, rearm))
		return false;
	return mm_watch_report_pinned(vma, addr,
				      vm_normal_page_pmd(vma, addr, pmd),
				      HPAGE_PMD_SIZE);
}
#endif

/**
 * __mm_watch_write_fault - report a write to a watched page
 * @vma: the watched VMA
 * @addr: start of the range made writable
 * @size: its size
 *
 * Context: the page table lock of the entry that is made writable is
 * held, in the critical section that makes it writable; the VMA is
 * stable (mmap lock or per-VMA lock).
 */
void __mm_watch_write_fault(struct vm_area_struct *vma, unsigned long addr,
			    unsigned long size)
{
	struct mm_struct *mm = vma->vm_mm;

	if (!mm_watch_id(mm))
		return;
	/* Numbered even when the event is disabled: see mm_watch_seq(). */
	guard(preempt)();
	trace_mm_watch_write_fault(mm, mm_watch_seq(mm), addr, size);
}

/**
 * __mm_watch_zap - report that watched contents were discarded
 * @vma: the watched VMA
 * @start: start of the discarded range
 * @end: end of the discarded range
 * @reason: MM_WATCH_ZAP_*
 *
 * Context: the VMA is stable: the mmap lock (MADV_DONTNEED), the
 * i_mmap lock (truncation, invalidation) or the page table lock of an
 * rmap walk (reclaim of a lazily freed page) is held. The mmap lock may
 * not be held, so the mm identity is read with mm_watch_id().
 */
void __mm_watch_zap(struct vm_area_struct *vma, unsigned long start,
		    unsigned long end, int reason)
{
	struct mm_struct *mm = vma->vm_mm;

	if (!mm_watch_id(mm))
		return;
	guard(preempt)();
	trace_mm_watch_zap(mm, mm_watch_seq(mm), start, end, reason);
}

/**
 * __mm_watch_unmap - report that a watched range was unmapped
 * @vma: the watched VMA, detached
 * @start: start of the range
 * @end: end of the range
 *
 * Context: the mmap lock is held (munmap() may have downgraded it).
 */
void __mm_watch_unmap(struct vm_area_struct *vma, unsigned long start,
		      unsigned long end)
{
	struct mm_struct *mm = vma->vm_mm;

	mmap_assert_locked(mm);
	if (!mm_watch_id(mm))
		return;
	guard(preempt)();
	trace_mm_watch_unmap(mm, mm_watch_seq(mm), start, end);
}

/**
 * __mm_watch_move - report that mremap() moved watched contents
 * @vma: the watched VMA the contents were moved from
 * @old_start: where the contents were
 * @new_start: where they are now
 * @len: length of the moved range
 *
 * Context: the mmap lock is held for writing.
 */
void __mm_watch_move(struct vm_area_struct *vma, unsigned long old_start,
		     unsigned long new_start, unsigned long len)
{
	struct mm_struct *mm = vma->vm_mm;

	mmap_assert_write_locked(mm);
	if (!mm_watch_id(mm))
		return;
	guard(preempt)();
	trace_mm_watch_move(mm, mm_watch_seq(mm), old_start, new_start, len);
}

/**
 * __mm_watch_exit - report that a watched mm is torn down
 * @mm: the mm, which has no users left
 *
 * Context: exit_mmap(), before the VMAs are torn down: an rmap walk of
 * reclaim or truncation may still report a zap of @mm after this event.
 */
void __mm_watch_exit(struct mm_struct *mm)
{
	guard(preempt)();
	trace_mm_watch_exit(mm, mm_watch_seq(mm));
}

/**
 * mm_watch_all - watch or stop watching all of an mm, now and later
 * @mm: the mm
 * @task: the process @mm belongs to, named by the events
 * @watch: true for MADV_WATCH_ALL, false for MADV_UNWATCH_ALL
 *
 * MADV_WATCH_ALL arms every VMA of @mm that can be watched (a re-arm for
 * those already watched) and sets VM_WATCHED in mm->def_flags, so that
 * every mapping @mm creates from now on is watched from its creation,
 * like mlockall(MCL_CURRENT | MCL_FUTURE) does with VM_LOCKED. VMAs that
 * cannot be watched are left alone. Both happen under the mmap lock, so
 * that no mapping can appear between the arm and the mode.
 * MADV_UNWATCH_ALL clears the mode and stops watching every VMA.
 *
 * Return: 0, or -EAGAIN as mm_watch_prepare(), with nothing changed.
 */
int mm_watch_all(struct mm_struct *mm, struct task_struct *task, bool watch)
{
	VMA_ITERATOR(vmi, mm, 0);
	struct vm_area_struct *vma;
	int err;

	mmap_assert_write_locked(mm);

	if (watch) {
		err = mm_watch_set_id(mm, task);
		if (err)
			return err;
		mm->def_flags |= VM_WATCHED;
	} else {
		mm->def_flags &= ~VM_WATCHED;
	}

	for_each_vma(vmi, vma) {
		bool watched = vma_watched(vma);

		if (watch && mm_watch_vma_supported(vma)) {
			/*
			 * Whole VMAs: no split, and no merge either, so
			 * that this cannot fail half way.
			 */
			if (!watched)
				vm_flags_set(vma, VM_WATCHED);
			mm_watch_arm(vma, vma->vm_start, vma->vm_end, watched);
		} else if (!watch && watched) {
			vm_flags_clear(vma, VM_WATCHED);
			mm_watch_unmark(vma, vma->vm_start, vma->vm_end);
		}
		cond_resched();
	}
	return 0;
}

/**
 * __mm_watch_map - watch a new mapping from its creation
 * @vma: the VMA that maps the new range, with VM_WATCHED set
 * @start: start of the new range
 * @end: end of the new range
 *
 * Called when [@start, @end) was mapped with VM_WATCHED inherited from
 * mm->def_flags (MADV_WATCH_ALL), or added to a watched VMA by mremap().
 * @vma may be a watched neighbour that the new range was merged into.
 * A new range has no page table entries, so there is nothing to
 * write-protect: report it with a mark, or drop VM_WATCHED if the
 * mapping turns out not to be one that can be watched (a driver may have
 * set VM_IO or VM_PFNMAP in its ->mmap()).
 */
void __mm_watch_map(struct vm_area_struct *vma, unsigned long start,
		    unsigned long end)
{
	struct mm_struct *mm = vma->vm_mm;

	mmap_assert_write_locked(mm);

	if (!mm_watch_vma_supported(vma)) {
		/* It cannot have been merged with a watched VMA. */
		VM_WARN_ON_ONCE(vma->vm_start != start || vma->vm_end != end);
		vm_flags_clear(vma, VM_WATCHED);
		return;
	}
	if (WARN_ON_ONCE(!mm->watch_id))
		return;
	mm_watch_marked(mm, start, end, false);
}

/**
 * mm_watch_grow - report the part that mremap() added to a watched VMA
 * @mm: the mm
 * @start: start of the added range
 * @end: end of the added range
 */
void mm_watch_grow(struct mm_struct *mm, unsigned long start,
		   unsigned long end)
{
	struct vm_area_struct *vma;

	mmap_assert_write_locked(mm);
	vma = vma_lookup(mm, start);
	if (vma && vma_watched(vma))
		__mm_watch_map(vma, start, min(end, vma->vm_end));
}
