/* SPDX-License-Identifier: LGPL-2.1 */
/*
 * libvmtrack: incremental memory dumps in CRIU's image format
 *
 * Page sets, the /proc/PID/pagemap rule of what a checkpoint copies, a
 * process_vm_readv() copier through a bounded buffer, the CRIU image writer
 * and chain reader, and the convergence rule of a pre-copy loop. Used by
 * "vmtrack dump" (Documentation/tools/vmtrack/vmtrack-dump.rst); every
 * function is documented where it is defined (lib/pageset.c, lib/copy.c,
 * lib/image.c, lib/converge.c).
 */
#ifndef _VMTRACK_DUMP_H
#define _VMTRACK_DUMP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- page sets: sorted, coalesced, page-aligned [start, end) ranges ---- */

struct vmtrack_prange {
	uint64_t	start;
	uint64_t	end;
};

struct vmtrack_pset {
	struct vmtrack_prange	*r;
	size_t			n;
	size_t			alloc;
};

void vmtrack_pset_init(struct vmtrack_pset *s);
void vmtrack_pset_free(struct vmtrack_pset *s);
void vmtrack_pset_clear(struct vmtrack_pset *s);
int vmtrack_pset_append(struct vmtrack_pset *s, uint64_t start, uint64_t end);
int vmtrack_pset_from_iov(struct vmtrack_pset *s, const struct iovec *iov, size_t n);
int vmtrack_pset_and(struct vmtrack_pset *out, const struct vmtrack_pset *a,
		     const struct vmtrack_pset *b);
int vmtrack_pset_sub(struct vmtrack_pset *out, const struct vmtrack_pset *a,
		     const struct vmtrack_pset *b);
int vmtrack_pset_or(struct vmtrack_pset *out, const struct vmtrack_pset *a,
		    const struct vmtrack_pset *b);
uint64_t vmtrack_pset_bytes(const struct vmtrack_pset *s);

/* ---- what a checkpoint copies: /proc/PID/pagemap ---- */

#define VMTRACK_PME_PRESENT	(1ULL << 63)
#define VMTRACK_PME_SWAP	(1ULL << 62)
#define VMTRACK_PME_FILE	(1ULL << 61)
#define VMTRACK_PME_PFN_MASK	((1ULL << 55) - 1)

struct vmtrack_pagemap;

int vmtrack_pagemap_open(struct vmtrack_pagemap **pm, pid_t pid, char *err, size_t errlen);
void vmtrack_pagemap_close(struct vmtrack_pagemap *pm);
bool vmtrack_pme_dumpable(uint64_t pme, bool file_private, uint64_t zero_pfn);
int vmtrack_pagemap_select(struct vmtrack_pagemap *pm, const struct vmtrack_pset *in,
			   struct vmtrack_pset *out);

/* ---- CRIU images ---- */

#define VMTRACK_IMG_COMMON_MAGIC	0x54564319U
#define VMTRACK_IMG_PAGEMAP_MAGIC	0x56084025U
#define VMTRACK_IMG_INVENTORY_MAGIC	0x58313116U
#define VMTRACK_IMG_V1_1		2	/* CRTOOLS_IMAGES_V1_1 */
#define VMTRACK_PE_PARENT		(1U << 0)
#define VMTRACK_PE_LAZY			(1U << 1)
#define VMTRACK_PE_PRESENT		(1U << 2)
#define VMTRACK_PRE_DUMP_READ		2	/* process_vm_readv pre-dump */

struct vmtrack_pme_entry {
	uint64_t	vaddr;
	uint64_t	nr_pages;
	uint32_t	flags;
	uint64_t	off;	/* reader: byte offset in pages-N.img (present) */
};

struct vmtrack_img_writer;

int vmtrack_img_begin(struct vmtrack_img_writer **wp, const char *dir, const char *name,
		      const char *parent, pid_t id, char *err, size_t errlen);
int vmtrack_img_present(struct vmtrack_img_writer *w, uint64_t vaddr, uint64_t nr_pages,
			const void *data);
int vmtrack_img_hole(struct vmtrack_img_writer *w, uint64_t vaddr, uint64_t nr_pages);
int vmtrack_img_commit(struct vmtrack_img_writer *w, uint64_t dump_uptime_us);
uint64_t vmtrack_img_uptime_us(void);
void vmtrack_img_abort(struct vmtrack_img_writer *w);
int vmtrack_img_write_local(const char *dir, const char *name, const char *parent,
			    uint64_t dump_uptime_us, char *err, size_t errlen);
int vmtrack_img_remove(const char *dir, const char *name, pid_t id);
const char *vmtrack_img_error(const struct vmtrack_img_writer *w);
uint64_t vmtrack_img_pages(const struct vmtrack_img_writer *w, uint64_t *holes);

size_t vmtrack_pb_pagemap_entry(uint8_t *buf, const struct vmtrack_pme_entry *e);
size_t vmtrack_pb_inventory(uint8_t *buf, uint64_t dump_uptime_us);

struct vmtrack_img {
	struct vmtrack_pme_entry	*e;
	size_t				n;
	uint32_t			pages_id;
	int				pages_fd;
	uint64_t			dump_uptime;
	uint32_t			pre_dump_mode;
	struct vmtrack_img		*parent;
};

int vmtrack_img_load(struct vmtrack_img **imgp, const char *dir, pid_t id, char *err,
		     size_t errlen);
int vmtrack_chain_load(struct vmtrack_img **imgp, const char *dir, pid_t id, char *err,
		       size_t errlen);
void vmtrack_img_free(struct vmtrack_img *img);
int vmtrack_chain_page(const struct vmtrack_img *img, uint64_t vaddr, void *page);

/* ---- a stock criu page-server as the receiver ---- */

struct vmtrack_ps;

size_t vmtrack_ps_header(uint8_t *buf, int hdr, uint32_t cmd, uint64_t nr_pages,
			 uint64_t vaddr, uint64_t dst_id);
int vmtrack_ps_check_addr(const char *addr, char *err, size_t errlen);
int vmtrack_ps_begin(struct vmtrack_ps **psp, const char *addr, int hdr, pid_t id,
		     bool parent, char *err, size_t errlen);
int vmtrack_ps_present(struct vmtrack_ps *ps, uint64_t vaddr, uint64_t nr_pages,
		       const void *data);
int vmtrack_ps_hole(struct vmtrack_ps *ps, uint64_t vaddr, uint64_t nr_pages);
int vmtrack_ps_commit(struct vmtrack_ps *ps);
void vmtrack_ps_abort(struct vmtrack_ps *ps);
const char *vmtrack_ps_error(const struct vmtrack_ps *ps);
void vmtrack_ps_set_stop(volatile sig_atomic_t *stop);
void vmtrack_ps_set_timeout(unsigned int ms);

/* ---- copier: process_vm_readv() through a bounded buffer ---- */

enum vmtrack_seg_kind {
	VMTRACK_SEG_COPY,	/* read the pages, PE_PRESENT */
	VMTRACK_SEG_HOLE,	/* unchanged since the parent, PE_PARENT */
};

struct vmtrack_seg {
	uint64_t	start;
	uint64_t	end;
	int		kind;
};

/* The segments of one image, in address order */
struct vmtrack_segs {
	struct vmtrack_seg	*v;
	size_t			n;
	size_t			alloc;
};

int vmtrack_segs_build(struct vmtrack_segs *s, const struct vmtrack_pset *all,
		       const struct vmtrack_pset *copy);
void vmtrack_segs_free(struct vmtrack_segs *s);

/*
 * Called in address order: a run of pages read (data != NULL) or a hole
 * (data == NULL). A non-zero return stops the copy and is returned.
 */
typedef int (*vmtrack_copy_fn)(void *ctx, uint64_t vaddr, uint64_t nr_pages,
			       const void *data);

struct vmtrack_copy_stats {
	uint64_t	pages;		/* pages read */
	uint64_t	holes;		/* pages left to the parent */
	uint64_t	gone;		/* pages that could not be read (no entry) */
	uint64_t	calls;		/* process_vm_readv() calls */
	double		seconds;
};

struct vmtrack_copier;

struct vmtrack_copier *vmtrack_copier_new(pid_t pid, size_t buffer_bytes);
void vmtrack_copier_free(struct vmtrack_copier *c);
int vmtrack_copier_run(struct vmtrack_copier *c, const struct vmtrack_seg *segs, size_t n,
		       vmtrack_copy_fn fn, void *ctx, struct vmtrack_copy_stats *st);
int vmtrack_copier_run_sets(struct vmtrack_copier *c, const struct vmtrack_pset *all,
			    const struct vmtrack_pset *copy, vmtrack_copy_fn fn, void *ctx,
			    struct vmtrack_copy_stats *st);
const struct vmtrack_pset *vmtrack_copier_gone(const struct vmtrack_copier *c);

/* ---- convergence of the pre-copy loop ---- */

enum vmtrack_stop {
	VMTRACK_STOP_NO = 0,
	VMTRACK_STOP_MAX_ITER,		/* iteration limit reached */
	VMTRACK_STOP_THRESHOLD,		/* what is left is at most the page threshold */
	VMTRACK_STOP_NOT_SHRINKING,	/* not smaller than the last increment */
	VMTRACK_STOP_DOWNTIME,		/* fits in the downtime at the measured
					 * bandwidth, and the last copy did not
					 * halve it */
};

struct vmtrack_converge {
	unsigned int	max_iter;	/* copies before the frozen one */
	uint64_t	min_pages;
	unsigned int	downtime_ms;	/* 0: rule off */
	unsigned long	page_size;
	/* state */
	unsigned int	iter;
	uint64_t	last_pages;
	uint64_t	bytes;
	double		seconds;
};

void vmtrack_converge_init(struct vmtrack_converge *c, unsigned int max_iter,
			   uint64_t min_pages, unsigned int downtime_ms,
			   unsigned long page_size);
void vmtrack_converge_copied(struct vmtrack_converge *c, uint64_t pages, double seconds);
double vmtrack_converge_bandwidth(const struct vmtrack_converge *c);
double vmtrack_converge_estimate_ms(const struct vmtrack_converge *c, uint64_t pages);
enum vmtrack_stop vmtrack_converge_check(const struct vmtrack_converge *c, uint64_t pending);
const char *vmtrack_stop_name(enum vmtrack_stop reason);

#ifdef __cplusplus
}
#endif

#endif /* _VMTRACK_DUMP_H */
