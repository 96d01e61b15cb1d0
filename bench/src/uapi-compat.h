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

/* PAGEMAP_SCAN: libvmtrack's fallback (also for bench/micro, built alone) */
#include "../../tools/vmtrack/lib/pagemap-scan.h"

#endif /* _VMBENCH_UAPI_COMPAT_H */
