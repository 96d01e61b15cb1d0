// SPDX-License-Identifier: LGPL-2.1
/*
 * After a mark or re-arm failed: what is really watched, from
 * /proc/PID/smaps (VmFlags "wt"), and a dirty set brought in line with it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int vma_push(struct vmtrack_vmas *v, const struct vmtrack_mapping *map)
{
	if (GROW_ARRAY(v->vma, v->alloc, v->nr, 64))
		return -ENOMEM;
	v->vma[v->nr].start = map->start;
	v->vma[v->nr].end = map->end;
	v->vma[v->nr].watched = false;
	v->nr++;
	return 0;
}

/* "VmFlags: rd wr mr mw me ac wt" */
static bool vmflags_watched(const char *line)
{
	const char *p = line + strlen("VmFlags:");

	for (;;) {
		p += strspn(p, " \t");
		if (!*p || *p == '\n')
			return false;
		if (p[0] == 'w' && p[1] == 't' && (!p[2] || strchr(" \t\n", p[2])))
			return true;
		p += strcspn(p, " \t\n");
	}
}

/**
 * vmtrack_smaps_read() - the VMAs of a process and whether they are watched
 * @pid:	the process
 * @v:		filled in (entries sorted by address); its memory is reused
 *
 * Return: 0, or a negative errno (-ESRCH: gone).
 */
int vmtrack_smaps_read(pid_t pid, struct vmtrack_vmas *v)
{
	struct vmtrack_mapping map;
	char path[64], *line = NULL;
	size_t cap = 0;
	int ret = 0;
	FILE *f;

	v->nr = 0;
	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	while (!ret && getline(&line, &cap, f) > 0) {
		if (!strncmp(line, "VmFlags:", 8)) {
			if (v->nr)
				v->vma[v->nr - 1].watched = vmflags_watched(line);
		} else if (!vmtrack_maps_parse_line(line, &map)) {
			ret = vma_push(v, &map);
		}
	}
	free(line);
	fclose(f);
	return ret;
}

/**
 * vmtrack_dset_settle() - make the set agree with the mm after a failed arm
 * @ds:		the set
 * @v:		the VMAs, read after the failure (vmtrack_smaps_read())
 * @start:	the range whose mark or re-arm failed, in part or whole
 * @end:	its end, exclusive
 * @untrack:	drop the parts that are mapped but not watched (watch-all mode,
 *		where the next rescan finds them again and reports them dirty)
 * @arm:	arms the part of a watched VMA again, 0 if it did; may be NULL
 * @data:	passed to @arm
 *
 * A failure can leave any part of the range watched but not re-armed: each
 * part in a watched VMA is armed again on its own with @arm, and is dirty
 * if that fails too, so that it is reported again and re-armed at the next
 * epoch. The kernel fails a whole range for one VMA it refuses (registered
 * for userfaultfd write-protection, say): armed again together, the parts
 * around it would fail with it at every epoch, and be copied at every
 * epoch. Parts that are not mapped any more are dropped: if a new
 * mapping appears there, it is new to the set. Parts that are mapped but not
 * watched (the range was unmapped and something else mapped there, or the
 * kernel refuses to watch it) are dropped with @untrack, else kept dirty, so
 * that every tracked page is always either watched or dirty.
 *
 * Return: 0, or -ENOMEM (then the whole range is dirty).
 */
int vmtrack_dset_settle(struct vmtrack_dset *ds, const struct vmtrack_vmas *v,
			uint64_t start, uint64_t end, bool untrack,
			vmtrack_arm_fn arm, void *data)
{
	uint64_t pos = start;
	size_t i;
	int ret = 0;

	for (i = 0; i < v->nr && pos < end && !ret; i++) {
		const struct vmtrack_vma *m = &v->vma[i];
		uint64_t s = max(m->start, pos), e = min(m->end, end);

		if (m->end <= pos)
			continue;
		if (m->start >= end)
			break;
		if (s > pos)			/* a hole */
			ret = vmtrack_dset_remove(ds, pos, s);
		if (ret)
			break;
		if (m->watched) {
			/* armed again on its own: clean, as after any re-arm */
			if (!arm || arm(data, s, e))
				vmtrack_dset_set_dirty(ds, s, e, NULL);
		} else if (untrack) {
			ret = vmtrack_dset_remove(ds, s, e);
		} else {
			vmtrack_dset_set_dirty(ds, s, e, NULL);
		}
		pos = e;
	}
	if (!ret && pos < end)
		ret = vmtrack_dset_remove(ds, pos, end);
	if (ret)
		vmtrack_dset_set_dirty(ds, start, end, NULL);
	return ret;
}
