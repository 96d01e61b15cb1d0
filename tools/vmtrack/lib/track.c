// SPDX-License-Identifier: LGPL-2.1
/*
 * The tracker: applies decoded events and observation gaps to the dirty set
 * of one mm, and turns them into the result of an epoch. No I/O here, so the
 * unit tests can drive it.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

/**
 * vmtrack_tracker_init() - set up a tracker
 * @t:		the tracker
 * @ds:		the dirty set it updates (owned by the caller)
 * @tgid:	the watched process
 */
void vmtrack_tracker_init(struct vmtrack_tracker *t, struct vmtrack_dset *ds, pid_t tgid)
{
	memset(t, 0, sizeof(*t));
	t->ds = ds;
	t->tgid = tgid;
}

/**
 * vmtrack_tracker_loss() - record a gap in observation
 * @t:		the tracker
 * @reason:	enum vmtrack_loss bits
 * @lost:	number of lost events (UINT64_MAX: unknown), added up
 *
 * The next collect reports every watched page dirty.
 */
void vmtrack_tracker_loss(struct vmtrack_tracker *t, unsigned int reason, uint64_t lost)
{
	t->loss |= reason;
	t->lost = lost > UINT64_MAX - t->lost ? UINT64_MAX : t->lost + lost;
}

static void mark_dirty(struct vmtrack_tracker *t, uint64_t start, uint64_t end,
		       struct vmtrack_epoch *ep)
{
	uint64_t uncovered = 0;

	if (end < start)
		end = UINT64_MAX;
	vmtrack_dset_set_dirty(t->ds, start, end, &uncovered);
	if (!uncovered)
		return;
	ep->stray_pages += uncovered;
	/* the kernel says it is watched: in watch-all mode, track it */
	if (t->fill_stray && vmtrack_dset_fill_stray(t->ds, start, end) < 0)
		vmtrack_tracker_loss(t, VMTRACK_LOSS_EVENTS, 0);
}

/**
 * vmtrack_tracker_apply() - apply one event, in timestamp order
 * @t:		the tracker
 * @ev:		the event
 * @ep:		counters of the epoch being built (events, foreign, stray_pages)
 *
 * The mm is identified by the first event (the filter only lets events of the
 * watched tgid through; the first are the marks); events of other mms, or
 * after the mm's exit event, are counted as foreign and ignored.
 *
 * write_fault, pinned, zap and unmark dirty their range; move moves tracking
 * and dirties the new place; unmap drops the range; a mark with rearm=1
 * before the first epoch means the range was watched before this consumer
 * (restart): everything is dirty then.
 */
void vmtrack_tracker_apply(struct vmtrack_tracker *t, const struct vmtrack_event *ev,
			   struct vmtrack_epoch *ep)
{
	if (ev->tgid != t->tgid || (t->mm_known && ev->mm_id != t->mm_id) || t->mm_gone) {
		ep->foreign++;
		return;
	}
	if (!t->mm_known) {
		t->mm_known = true;
		t->mm_id = ev->mm_id;
	}
	ep->events++;
	switch (ev->kind) {
	case VMTRACK_EV_MARK:
		if (ev->arg && !t->seq && !t->restart_known)
			vmtrack_tracker_loss(t, VMTRACK_LOSS_RESTART, 0);
		break;
	case VMTRACK_EV_UNMARK:		/* unwatched behind our back; re-arm re-watches */
	case VMTRACK_EV_ZAP:
		mark_dirty(t, ev->a, ev->b, ep);
		break;
	case VMTRACK_EV_WRITE_FAULT:
	case VMTRACK_EV_PINNED:
		mark_dirty(t, ev->a, ev->a + ev->b, ep);
		break;
	case VMTRACK_EV_MOVE:
		if (t->fill_stray || vmtrack_dset_overlaps(t->ds, ev->a, ev->a + ev->c))
			if (vmtrack_dset_move(t->ds, ev->a, ev->b, ev->c) == -ENOMEM)
				vmtrack_tracker_loss(t, VMTRACK_LOSS_EVENTS, 0);
		break;
	case VMTRACK_EV_UNMAP:
		if (vmtrack_dset_remove(t->ds, ev->a, ev->b))
			vmtrack_tracker_loss(t, VMTRACK_LOSS_EVENTS, 0);
		break;
	case VMTRACK_EV_EXIT:
		t->mm_gone = true;
		break;
	}
}

/**
 * vmtrack_tracker_collect() - end an epoch: take the dirty set out
 * @t:		the tracker
 * @ep:		completed: seq, loss, all_dirty, lost_events, dirty pages and
 *		ranges (pointing into the tracker, valid until the next collect),
 *		watched_pages, target_gone
 *
 * Return: 0, or -ENOMEM.
 */
int vmtrack_tracker_collect(struct vmtrack_tracker *t, struct vmtrack_epoch *ep)
{
	ssize_t n;

	if (t->loss) {
		vmtrack_dset_all_dirty(t->ds);
		ep->loss = t->loss;
		ep->all_dirty = true;
		ep->lost_events = t->lost;
		t->loss = 0;
		t->lost = 0;
	}
	ep->watched_pages = vmtrack_dset_watched_pages(t->ds);
	ep->dirty_pages = vmtrack_dset_dirty_pages(t->ds);
	n = vmtrack_dset_collect(t->ds, &t->iov, &t->iov_alloc);
	if (n < 0)
		return -ENOMEM;
	ep->seq = ++t->seq;
	ep->target_gone |= t->mm_gone;
	ep->dirty = t->iov;
	ep->nr_dirty = n;
	return 0;
}
