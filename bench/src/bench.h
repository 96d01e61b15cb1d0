/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vmbench - side-by-side benchmarks of vmtrack and the write-tracking peers
 * of Linux 6.12: soft-dirty, userfaultfd write-protect (sync), and
 * UFFD_FEATURE_WP_ASYNC + PAGEMAP_SCAN.
 *
 * Every result is one line on stdout: "@@BENCH {json}". The host side
 * (bench/run.sh, bench/analyze.py) collects and analyzes them.
 */
#ifndef _VMBENCH_H
#define _VMBENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifndef MADV_WATCH
#define MADV_WATCH		26
#endif
#ifndef MADV_UNWATCH
#define MADV_UNWATCH		27
#endif

#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))
#define MIB			(1024UL * 1024UL)

/* ---- syscall and byte accounting (sysc.c) ---- */

/**
 * struct sysc_count - what the program asked of the kernel
 * @calls:	system calls made (every thread of the process)
 * @bytes:	bytes returned by the kernel: read()/pread() results, plus
 *		what ioctl() outputs the mechanisms report with sysc_add_bytes()
 * @spliced:	bytes moved by splice() (pages moved, not copied; the bytes
 *		reach user space by the read() from the pipe, counted in @bytes)
 * @madvise_ns:	wall time in process_madvise() and madvise(): the re-arm of
 *		the vmtrack consumers, timed alike for all three
 * @other_ns:	wall time in the other calls that read or wait, while
 *		sysc_time_others() is on
 */
struct sysc_count {
	uint64_t	calls;
	uint64_t	bytes;
	uint64_t	spliced;
	uint64_t	madvise_ns;
	uint64_t	other_ns;
};

void sysc_enable(bool on);
void sysc_time_others(bool on);
void sysc_snapshot(struct sysc_count *c);
void sysc_diff(const struct sysc_count *a, const struct sysc_count *b,
	       struct sysc_count *d);
void sysc_add_bytes(uint64_t n);

/* ---- regions and helpers (common.c) ---- */

/**
 * struct region - the mapping a mechanism tracks
 * @base:	first byte
 * @len:	length in bytes
 * @pages:	length in pages
 * @psz:	page size
 */
struct region {
	char		*base;
	size_t		len;
	size_t		pages;
	size_t		psz;
};

/**
 * struct rangeset - dirty ranges reported by a mechanism, coalesced
 * @v:		ranges
 * @n:		number of ranges
 * @alloc:	allocated entries
 */
struct rangeset {
	struct iovec	*v;
	size_t		n;
	size_t		alloc;
};

int region_map(struct region *r, size_t len, bool populate);
int region_map_huge(struct region *r, size_t len);
void region_unmap(struct region *r);
void rangeset_reset(struct rangeset *rs);
int rangeset_add(struct rangeset *rs, uint64_t start, uint64_t end);
int rangeset_reserve(struct rangeset *rs, size_t n);
void rangeset_free(struct rangeset *rs);
uint64_t rangeset_pages(const struct rangeset *rs, size_t psz);

uint64_t now_ns(void);
uint64_t cpu_ns(void);
uint64_t rss_kb(void);
int write_file(const char *path, const char *text);
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* JSON line output */
struct jout {
	char	buf[2048];
	size_t	len;
};

void jout_begin(struct jout *j, const char *kind);
void jout_str(struct jout *j, const char *key, const char *val);
void jout_u64(struct jout *j, const char *key, uint64_t val);
void jout_i64(struct jout *j, const char *key, int64_t val);
void jout_dbl(struct jout *j, const char *key, double val);
void jout_end(struct jout *j);
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- write patterns (common.c) ---- */

/**
 * struct pattern - which pages an epoch writes
 * @count:	pages written per epoch
 * @stride:	distance between two written pages, in pages
 * @offset:	first page written
 */
struct pattern {
	size_t	count;
	size_t	stride;
	size_t	offset;
};

void pattern_init(struct pattern *p, const struct region *r, size_t count, unsigned int epoch);
void pattern_init_seq(struct pattern *p, const struct region *r, size_t count,
		      unsigned int epoch);
void pattern_write(const struct region *r, const struct pattern *p);
void pattern_verify(const struct region *r, const struct pattern *p,
		    const struct rangeset *rs, uint64_t *missed, uint64_t *reported);

/* ---- a target in another process (target.c) ---- */

/**
 * struct target - a child process that holds the region and writes to it
 * @pid:	its pid
 * @pidfd:	a pidfd of it
 * @cmd:	commands to it
 * @ack:	its answers
 */
struct target {
	pid_t	pid;
	int	pidfd;
	int	cmd;
	int	ack;
};

int target_start(struct target *t, struct region *r, size_t len, bool thp);
int target_write(struct target *t, const struct pattern *p, uint64_t *ns);
int target_userfaultfd(struct target *t, int flags);
void target_stop(struct target *t);

/* ---- mechanisms (mech_*.c) ---- */

/**
 * struct epoch_stats - what one epoch did, as the mechanism reports it
 * @records:	records returned by the kernel (pagemap entries, uffd
 *		messages, page_region entries, trace events)
 * @lost:	events the mechanism knows it lost (vmtrack)
 * @all_dirty:	the mechanism reported every page dirty (loss recovery)
 */
struct epoch_stats {
	uint64_t	records;
	uint64_t	lost;
	bool		all_dirty;
};

struct mech;

/**
 * struct mech_ops - one write-tracking mechanism
 * @name:	short name used in the results
 * @desc:	one line for the report
 * @probe:	0 if usable here, else a negative errno and a reason in @why
 * @setup:	register and arm the whole region (not timed)
 * @epoch:	collect the dirty set into @out and re-arm it (timed)
 * @write_records: records the kernel returned during the write phase (uffd)
 * @monitor_ns:	CPU time of a monitor thread so far (uffd sync), cumulative
 * @kernel_kb:	kernel memory the mechanism allocated for itself (KiB), or -1
 * @teardown:	undo @setup
 */
struct mech_ops {
	const char	*name;
	const char	*desc;
	int		(*probe)(char *why, size_t len);
	int		(*setup)(struct mech *m, struct region *r);
	int		(*epoch)(struct mech *m, struct rangeset *out, struct epoch_stats *st);
	uint64_t	(*write_records)(struct mech *m);
	uint64_t	(*monitor_ns)(struct mech *m);
	/* time its calls other than the re-arm (sysc_time_others()) */
	bool		time_others;
	int64_t		(*kernel_kb)(struct mech *m);
	void		(*teardown)(struct mech *m);
};

/**
 * struct mech - a mechanism in use
 * @ops:	its operations
 * @r:		the region it tracks
 * @priv:	its state
 * @opt_kb:	vmtrack: per-CPU buffer in KiB, 0 = auto-sized
 * @pid:	the process whose memory @r is: this one, or @tgt's
 * @tgt:	the target in another process, or NULL
 */
struct mech {
	const struct mech_ops	*ops;
	struct region		*r;
	void			*priv;
	size_t			opt_kb;
	pid_t			pid;
	struct target		*tgt;
};

extern const struct mech_ops mech_softdirty;
extern const struct mech_ops mech_uffd_sync;
extern const struct mech_ops mech_uffd_async;
extern const struct mech_ops mech_vmtrack;
extern const struct mech_ops mech_vmtrack_batch;
extern const struct mech_ops mech_vmtrack_raw;

struct raw_state;
int raw_consumer_open(struct raw_state **sp, struct region *r, pid_t pid, size_t kb);
int raw_consumer_pump(struct raw_state *s, int wake_fd, int timeout_ms);
int raw_consumer_epoch(struct raw_state *s, struct rangeset *out, struct epoch_stats *st);
int64_t raw_consumer_kb(struct raw_state *s);
void raw_consumer_close(struct raw_state *s);

pid_t mech_pid(const struct mech *m);
int mech_proc_open(const struct mech *m, const char *file, int flags);
const struct mech_ops *mech_find(const char *name);
void mech_list(void);
int vmtrack_kernel_probe(char *why, size_t len);

/* ---- subcommands ---- */

int cmd_epoch(int argc, char **argv);
int cmd_wcost(int argc, char **argv);
int cmd_loss(int argc, char **argv);
int cmd_recovery(int argc, char **argv);
int cmd_probe(int argc, char **argv);

#endif /* _VMBENCH_H */
