/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the mm_watch selftests: a private tracefs instance that
 * records the mm_watch events of the process under test, and the
 * comparison of the pages those events report with the pages whose
 * contents really changed.
 */
#ifndef __MM_WATCH_UTIL_H
#define __MM_WATCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/mman.h>
#include <linux/types.h>

#ifndef MADV_WATCH
#define MADV_WATCH		26
#endif
#ifndef MADV_UNWATCH
#define MADV_UNWATCH		27
#endif
#ifndef MADV_WATCH_ALL
#define MADV_WATCH_ALL		28
#endif
#ifndef MADV_UNWATCH_ALL
#define MADV_UNWATCH_ALL	29
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE		25
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT		21
#endif
#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE		0x08
#endif
#ifndef MFD_HUGETLB
#define MFD_HUGETLB		0x0004U
#endif

#ifndef BIT_ULL
#define BIT_ULL(nr)		(1ULL << (nr))
#endif

#define PM_PRESENT		BIT_ULL(63)
#define PM_SWAP			BIT_ULL(62)
#define PM_SOFT_DIRTY		BIT_ULL(55)
#define PM_PFN_MASK		((1ULL << 55) - 1)

#define MMW_TRACEFS		"/sys/kernel/tracing"

enum mmw_type {
	MMW_MARK,
	MMW_UNMARK,
	MMW_WRITE_FAULT,
	MMW_ZAP,
	MMW_MOVE,
	MMW_UNMAP,
	MMW_EXIT,
	MMW_PINNED,
	MMW_NR_TYPES,
};

#define MMW_BIT(type)		(1U << (type))
/* Events that tell a consumer that page contents (may) have changed. */
#define MMW_CHANGE_EVENTS	(MMW_BIT(MMW_WRITE_FAULT) | MMW_BIT(MMW_ZAP) | \
				 MMW_BIT(MMW_MOVE) | MMW_BIT(MMW_PINNED))

enum mmw_zap_reason {
	MMW_ZAP_DONTNEED = 0,
	MMW_ZAP_FREE = 1,
	MMW_ZAP_OTHER = 2,
};

/*
 * One decoded event. [start, end) is the range the event is about:
 * mark, unmark, zap, unmap: start..end; write_fault, pinned:
 * address..address + size; move: old_start..old_start + len, and the
 * contents now live at new_start..new_start + len.
 */
struct mmw_event {
	enum mmw_type type;
	__u64 mm_id;
	int tgid;
	unsigned long start;
	unsigned long end;
	unsigned long new_start;
	/* a mark reported by mm_watch_rearm: the range was already watched */
	int rearm;
	int reason;
	/* per-mm sequence number: 1 for the first event of the mm */
	__u64 seq;
	/* CPU whose buffer held the event */
	int cpu;
	/* trace clock "mono" (CLOCK_MONOTONIC), microsecond resolution */
	unsigned long long ts_ns;
};

struct mmw_trace {
	char dir[256];
	unsigned long long lost_base;
	unsigned long long lost;
	struct mmw_event *ev;
	size_t nr;
	size_t cap;
	size_t nr_unparsed;
};

extern size_t mmw_page_size;

const char *mmw_type_name(enum mmw_type type);

/*
 * Returns 0 if the kernel has the feature, KSFT_SKIP (with the reason in
 * @why) if it does not, -1 on an unexpected error.
 */
int mmw_feature_check(char *why, size_t len);

/*
 * Create a private tracefs instance "mmw-test-<pid>" with a @buf_kb per-CPU
 * buffer (overwrite off), the mm_watch events enabled and @filter ("tgid==N"
 * for this process when NULL) applied to them.
 */
int mmw_trace_init(struct mmw_trace *t, const char *filter, unsigned int buf_kb);
int mmw_trace_set_filter(struct mmw_trace *t, const char *filter);
/* Empty the buffer and take a new baseline of the loss counters. */
int mmw_trace_clear(struct mmw_trace *t);
/*
 * Parse every event recorded since the last clear into t->ev (t->nr).
 * Also updates t->lost: events dropped or overwritten since the last clear.
 * Returns the number of events, or -1 on error.
 */
ssize_t mmw_trace_read(struct mmw_trace *t);
void mmw_trace_fini(struct mmw_trace *t);
void mmw_trace_dump(struct mmw_trace *t, size_t max);

/* Events of @type (any when MMW_NR_TYPES) for @mm_id (any when 0) overlapping [start, end). */
size_t mmw_count(struct mmw_trace *t, enum mmw_type type, __u64 mm_id,
		 unsigned long start, unsigned long end);
const struct mmw_event *mmw_find(struct mmw_trace *t, enum mmw_type type, __u64 mm_id,
				 unsigned long start, unsigned long end);
/*
 * qsort() order by seq. A re-arm's mark carries the number of the event
 * before it instead of taking one, and sorts after that event.
 */
int mmw_cmp_seq(const void *a, const void *b);
static inline bool mmw_numbered(const struct mmw_event *e)
{
	return e->type != MMW_MARK || !e->rearm;
}

/* mm_id of the first mark event of @tgid, 0 if there is none. */
__u64 mmw_mm_id_of(struct mmw_trace *t, int tgid);

/*
 * Set reported[i] for each page i of [base, base + npages * page size) that an
 * event of a type in @mask for @mm_id (any when 0) reports as (maybe) changed,
 * considering only events at index >= @from.
 */
void mmw_reported(struct mmw_trace *t, __u64 mm_id, unsigned int mask, size_t from,
		  unsigned long base, size_t npages, unsigned char *reported);

void *mmw_snapshot(const void *addr, size_t len);
/* Set changed[i] for each page that differs from the snapshot; returns their number. */
size_t mmw_changed(const void *snap, const void *addr, size_t len, unsigned char *changed);
/*
 * Number of pages set in @changed but not in @reported; the first few are
 * printed with @what.
 */
size_t mmw_missing(const unsigned char *changed, const unsigned char *reported,
		   size_t npages, unsigned long base, const char *what);
/*
 * All in one, for a range of this process: the pages of [addr, addr + len)
 * that differ from @snap and that no change event of @mm_id reports.
 */
size_t mmw_unreported_changes(struct mmw_trace *t, __u64 mm_id, const void *snap,
			      const void *addr, size_t len, const char *what);

/* VmFlags of the VMA of @pid (0: self) that contains @addr: 1 set, 0 clear, -1 no VMA. */
int mmw_vma_has_flag(pid_t pid, unsigned long addr, const char *flag);
/* A "Name:  N kB" field of that VMA in smaps, in kB; -1 if not found. */
long mmw_vma_field_kb(pid_t pid, unsigned long addr, const char *field);

__u64 mmw_pagemap(int fd, unsigned long addr);
/* Bit i: page i of [@p, @p + @n pages) reads as soft-dirty; @n <= 64. */
unsigned long mmw_soft_dirty(int pagemap, const char *p, size_t n);
int mmw_open_pagemap(pid_t pid);

void *mmw_map_aligned(size_t len, size_t align, int prot, int flags);

int mmw_write_file(const char *path, const char *str);
int mmw_read_file(const char *path, char *buf, size_t len);
long long mmw_read_num(const char *path);
int mmw_write_num(const char *path, long long val);
/* Write @val to @path, remembering the old value for mmw_restore_settings(). */
int mmw_set_setting(const char *path, const char *val);
void mmw_restore_settings(void);

/* Make sure some swap is active: 0 when ready, KSFT_SKIP when impossible. */
int mmw_swap_setup(char *why, size_t len);
void mmw_swap_teardown(void);

/* Pages of this process that share a KSM page; -1 if not known. */
long mmw_ksm_merged(void);
/*
 * Run ksmd (settings restored by mmw_restore_settings()) until @want pages
 * of this process are merged or @timeout_s passed, then stop it: the
 * merged pages stay merged. Return: the pages merged, or -1.
 */
long mmw_ksm_merge(long want, int timeout_s);

#define MMW_UPROBE_EVENTS	MMW_TRACEFS "/uprobe_events"
/*
 * @n pages of nop instructions in a new memfd (*@fd), mapped private and
 * executable, and read in: text that no other test or process maps.
 */
char *mmw_map_nop_text(size_t n, int *fd);
/* Add or remove the uprobe mmw_test/bp at @offset of the file @path. */
int mmw_uprobe_set(const char *path, unsigned long offset, bool on);

int mmw_pidfd_open(pid_t pid);
ssize_t mmw_process_madvise(int pidfd, const struct iovec *iov, size_t n, int advice);

/*
 * For test bodies (kselftest_harness.h): read the events back and fail the
 * test if any was lost, since a lost event can hide a missing one.
 */
#define MMW_READ_EVENTS(t) do {						\
	struct mmw_trace *__t = (t);					\
									\
	ASSERT_LE(0, mmw_trace_read(__t));				\
	ASSERT_EQ(0ULL, __t->lost)					\
		TH_LOG("%llu mm_watch event(s) lost", __t->lost);	\
	ASSERT_EQ((size_t)0, __t->nr_unparsed)				\
		TH_LOG("%zu trace line(s) not understood", __t->nr_unparsed); \
} while (0)

/*
 * For FIXTURE_SETUP(), like SKIP(statement, ...): on a kernel without the
 * feature, mark the test skipped and run @statement; fail the test when the
 * check itself fails.
 */
#define MMW_SKIP_WITHOUT_FEATURE(statement) do {			\
	char __why[128];						\
	int __ret = mmw_feature_check(__why, sizeof(__why));		\
									\
	if (__ret == KSFT_SKIP)						\
		SKIP(statement, "%s", __why);				\
	ASSERT_EQ(0, __ret) TH_LOG("%s", __why);			\
} while (0)

/*
 * For fixtures with a "struct mmw_trace t" and a "__u64 id" of this
 * process's mm: read the events, taking the mm_id from the first mark.
 */
#define MMW_READ_OWN_EVENTS() do {					\
	MMW_READ_EVENTS(&self->t);					\
	if (!self->id)							\
		self->id = mmw_mm_id_of(&self->t, getpid());		\
	ASSERT_NE(0, self->id) mmw_trace_dump(&self->t, 20);		\
} while (0)

#define MMW_WRITE_FAULTS(a, b)						\
	mmw_count(&self->t, MMW_WRITE_FAULT, self->id, (a), (b))

/* Every page of [p, p + len) that differs from @snap was reported. */
#define MMW_EXPECT_ALL_REPORTED(snap, p, len, what)			\
	EXPECT_EQ(0, mmw_unreported_changes(&self->t, self->id, (snap),	\
					    (p), (len), (what)))

/* Touch every page of [p, p + n pages) with a load. */
void mmw_read_pages(const char *p, size_t n);

/* Address of page @i of the range at @p. */
static inline unsigned long mmw_pg(const char *p, size_t i)
{
	return (unsigned long)p + i * mmw_page_size;
}

/*
 * A userfaultfd with @features (UFFD_FEATURE_*), or -1 with errno set:
 * EINVAL when the kernel lacks one of them.
 */
int mmw_uffd_open(__u64 features);
/* UFFDIO_REGISTER [p, p + len) with @mode (UFFDIO_REGISTER_MODE_*). */
int mmw_uffd_register(int fd, void *p, size_t len, __u64 mode);

#endif /* __MM_WATCH_UTIL_H */
