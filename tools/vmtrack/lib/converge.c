// SPDX-License-Identifier: LGPL-2.1
/*
 * When a pre-copy loop stops copying while the target runs, and freezes it
 * for the last increment.
 *
 * Checked after every epoch, with the pages it reported dirty ("pending",
 * not copied yet), in this order:
 *
 *   max iterations	the next copy would be the last allowed one: freeze
 *   threshold		pending <= min_pages (P.Haul stops at 64 pages)
 *   downtime		pending pages copy within downtime_ms at the bandwidth
 *			measured over the copies so far (QEMU's rule: what is
 *			left fits bandwidth x downtime limit), and the last
 *			copy no longer halved them. An iteration costs the
 *			running target nothing but the copy, and while each
 *			one halves what is left, the copies to come add up to
 *			less than this one: so the loop goes on as long as
 *			that shortens the freeze by half each time
 *   not shrinking	pending >= the last increment: the writer dirties as
 *			fast as we copy, more rounds only add work (P.Haul
 *			stops when an iteration grew)
 */
#include "internal.h"
#include "vmtrack-dump.h"

/**
 * vmtrack_converge_init() - set up the rule
 * @c:			the state
 * @max_iter:		iterations in all, the frozen one included (>= 1)
 * @min_pages:		stop when at most this many pages are pending
 * @downtime_ms:	stop when the pending pages copy in this time and the last
 *			copy did not halve them, 0: off
 * @page_size:		page size in bytes
 */
void vmtrack_converge_init(struct vmtrack_converge *c, unsigned int max_iter,
			   uint64_t min_pages, unsigned int downtime_ms,
			   unsigned long page_size)
{
	*c = (struct vmtrack_converge){
		.max_iter = max_iter ? max_iter : 1,
		.min_pages = min_pages,
		.downtime_ms = downtime_ms,
		.page_size = page_size,
	};
}

/**
 * vmtrack_converge_copied() - account for one copy made while running
 * @c:		the state
 * @pages:	pages copied
 * @seconds:	time the copy took (reading and writing)
 */
void vmtrack_converge_copied(struct vmtrack_converge *c, uint64_t pages, double seconds)
{
	c->iter++;
	c->last_pages = pages;
	c->bytes += pages * c->page_size;
	c->seconds += seconds > 0 ? seconds : 0;
}

/**
 * vmtrack_converge_bandwidth() - copy bandwidth measured so far
 * @c:	the state
 *
 * Return: bytes per second, 0 if nothing was measured yet.
 */
double vmtrack_converge_bandwidth(const struct vmtrack_converge *c)
{
	return c->seconds > 0 && c->bytes ? c->bytes / c->seconds : 0;
}

/**
 * vmtrack_converge_estimate_ms() - time to copy pages at the measured rate
 * @c:		the state
 * @pages:	pages to copy
 *
 * Return: milliseconds, or -1 if no bandwidth was measured yet.
 */
double vmtrack_converge_estimate_ms(const struct vmtrack_converge *c, uint64_t pages)
{
	double bw = vmtrack_converge_bandwidth(c);

	return bw > 0 ? pages * c->page_size / bw * 1000.0 : -1;
}

/**
 * vmtrack_converge_check() - stop copying while the target runs?
 * @c:		the state (after vmtrack_converge_copied())
 * @pending:	pages reported dirty and not copied yet
 *
 * Return: VMTRACK_STOP_NO to copy @pending and go on, else the reason to
 * freeze now and copy @pending with the final increment.
 */
enum vmtrack_stop vmtrack_converge_check(const struct vmtrack_converge *c, uint64_t pending)
{
	double ms;

	if (c->iter + 1 >= c->max_iter)
		return VMTRACK_STOP_MAX_ITER;
	if (pending <= c->min_pages)
		return VMTRACK_STOP_THRESHOLD;
	ms = vmtrack_converge_estimate_ms(c, pending);
	if (c->downtime_ms && ms >= 0 && ms <= c->downtime_ms &&
	    pending * 2 > c->last_pages)
		return VMTRACK_STOP_DOWNTIME;
	if (pending >= c->last_pages)
		return VMTRACK_STOP_NOT_SHRINKING;
	return VMTRACK_STOP_NO;
}

/**
 * vmtrack_stop_name() - a word for a stop reason
 * @reason:	enum vmtrack_stop
 *
 * Return: "max-iter", "threshold", "downtime", "not-shrinking" or "no".
 */
const char *vmtrack_stop_name(enum vmtrack_stop reason)
{
	static const char * const names[] = {
		[VMTRACK_STOP_NO] = "no",
		[VMTRACK_STOP_MAX_ITER] = "max-iter",
		[VMTRACK_STOP_THRESHOLD] = "threshold",
		[VMTRACK_STOP_NOT_SHRINKING] = "not-shrinking",
		[VMTRACK_STOP_DOWNTIME] = "downtime",
	};

	return (unsigned int)reason < ARRAY_SIZE(names) ? names[reason] : "?";
}
