/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The build uses the UAPI headers of the kernel tree (make headers); these
 * fallbacks, copied from the 6.12 UAPI, only let the file compile against
 * older installed headers. Values are checked at run time by the probes.
 */
#ifndef _VMBENCH_UAPI_COMPAT_H
#define _VMBENCH_UAPI_COMPAT_H

#include <sys/uio.h>
/* glibc's sys/uio.h and linux/fs.h both define RWF_*: keep the kernel's */
#undef RWF_HIPRI
#undef RWF_DSYNC
#undef RWF_SYNC
#undef RWF_NOWAIT
#undef RWF_APPEND
#undef RWF_NOAPPEND
#include <linux/fs.h>
#include <linux/types.h>
#include <linux/userfaultfd.h>

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY		1
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED	(1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC		(1 << 15)
#endif

#ifndef PAGEMAP_SCAN
#define PROCFS_IOCTL_MAGIC		'f'
#define PAGEMAP_SCAN			_IOWR(PROCFS_IOCTL_MAGIC, 16, struct pm_scan_arg)
#define PAGE_IS_WPALLOWED		(1 << 0)
#define PAGE_IS_WRITTEN			(1 << 1)
#define PAGE_IS_FILE			(1 << 2)
#define PAGE_IS_PRESENT			(1 << 3)
#define PAGE_IS_SWAPPED			(1 << 4)
#define PAGE_IS_PFNZERO			(1 << 5)
#define PAGE_IS_HUGE			(1 << 6)
#define PAGE_IS_SOFT_DIRTY		(1 << 7)

struct page_region {
	__u64 start;
	__u64 end;
	__u64 categories;
};

#define PM_SCAN_WP_MATCHING		(1 << 0)
#define PM_SCAN_CHECK_WPASYNC		(1 << 1)

struct pm_scan_arg {
	__u64 size;
	__u64 flags;
	__u64 start;
	__u64 end;
	__u64 walk_end;
	__u64 vec;
	__u64 vec_len;
	__u64 max_pages;
	__u64 category_inverted;
	__u64 category_mask;
	__u64 category_anyof_mask;
	__u64 return_mask;
};
#endif

#endif /* _VMBENCH_UAPI_COMPAT_H */
