/* SPDX-License-Identifier: LGPL-2.1 */
#ifndef _VMTRACK_INTERNAL_H
#define _VMTRACK_INTERNAL_H

#include <stdarg.h>
#include <stdio.h>

#include "vmtrack.h"

#define BITS_PER_LONG		(8 * sizeof(unsigned long))
#define BITS_TO_LONGS(n)	(((n) + BITS_PER_LONG - 1) / BITS_PER_LONG)
#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))

#ifndef min
#define min(a, b)		((a) < (b) ? (a) : (b))
#define max(a, b)		((a) > (b) ? (a) : (b))
#endif

/* ring-buffer event header: type_len:5, time_delta:27 (same endianness) */
#define RB_TYPE_LEN_MASK	0x1f
#define RB_TS_SHIFT		27
#define RB_TYPE_PADDING		31
#define RB_TYPE_TIME_EXTEND	29
#define RB_TYPE_TIME_STAMP	30
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

#endif /* _VMTRACK_INTERNAL_H */
