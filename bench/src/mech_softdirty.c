// SPDX-License-Identifier: GPL-2.0
/*
 * Peer (a): soft-dirty. Collect: read /proc/PID/pagemap over the region and
 * take the pages with bit 55 set. Re-arm: write "4" to /proc/PID/clear_refs,
 * which clears the bit and write-protects every page of the whole mm (there
 * is no ranged clear).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define PM_SOFT_DIRTY		(1ULL << 55)
#define PM_PRESENT		(1ULL << 63)
/* entries per pread(): 512 KiB of pagemap, i.e. 256 MiB of address space */
#define PM_CHUNK		65536

struct sd_state {
	int		pagemap;
	int		clear_refs;
	uint64_t	*buf;
};

static int sd_probe(char *why, size_t len)
{
	struct region r = { 0 };
	uint64_t e = 0;
	int fd, ret = 0;

	/* clear_refs 4 "succeeds" without CONFIG_MEM_SOFT_DIRTY: test the bit */
	if (region_map(&r, 4096, true))
		return -ENOMEM;
	if (write_file("/proc/self/clear_refs", "4")) {
		snprintf(why, len, "cannot write /proc/self/clear_refs");
		ret = -EOPNOTSUPP;
		goto out;
	}
	r.base[0] = 2;
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || pread(fd, &e, 8, (uintptr_t)r.base / r.psz * 8) != 8 ||
	    !(e & PM_SOFT_DIRTY)) {
		snprintf(why, len, "soft-dirty bit not set after a write (CONFIG_MEM_SOFT_DIRTY?)");
		ret = -EOPNOTSUPP;
	}
	if (fd >= 0)
		close(fd);
out:
	region_unmap(&r);
	return ret;
}

static int sd_clear(struct sd_state *s)
{
	/* same fd: clear_refs ignores the file position, one write per re-arm */
	if (write(s->clear_refs, "4", 1) != 1)
		return -errno;
	return 0;
}

static int sd_setup(struct mech *m, struct region *r)
{
	struct sd_state *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	m->priv = s;
	m->r = r;
	s->buf = malloc(PM_CHUNK * sizeof(*s->buf));
	s->pagemap = mech_proc_open(m, "pagemap", O_RDONLY);
	s->clear_refs = mech_proc_open(m, "clear_refs", O_WRONLY);
	if (!s->buf || s->pagemap < 0 || s->clear_refs < 0)
		return -errno ?: -ENOMEM;
	return sd_clear(s);
}

static int sd_epoch(struct mech *m, struct rangeset *out, struct epoch_stats *st)
{
	struct sd_state *s = m->priv;
	struct region *r = m->r;
	uint64_t first = (uintptr_t)r->base / r->psz, done = 0;
	size_t i, n;
	ssize_t got;

	rangeset_reset(out);
	while (done < r->pages) {
		n = r->pages - done < PM_CHUNK ? r->pages - done : PM_CHUNK;
		got = pread(s->pagemap, s->buf, n * 8, (first + done) * 8);
		if (got != (ssize_t)(n * 8))
			return got < 0 ? -errno : -EIO;
		for (i = 0; i < n; i++) {
			uint64_t a;

			if (!(s->buf[i] & PM_SOFT_DIRTY))
				continue;
			a = (uintptr_t)r->base + (done + i) * r->psz;
			if (rangeset_add(out, a, a + r->psz))
				return -ENOMEM;
		}
		st->records += n;
		done += n;
	}
	return sd_clear(s);
}

static void sd_teardown(struct mech *m)
{
	struct sd_state *s = m->priv;

	if (!s)
		return;
	if (s->pagemap >= 0)
		close(s->pagemap);
	if (s->clear_refs >= 0)
		close(s->clear_refs);
	free(s->buf);
	free(s);
	m->priv = NULL;
}

const struct mech_ops mech_softdirty = {
	.name		= "soft-dirty",
	.desc		= "clear_refs 4 + /proc/PID/pagemap bit 55",
	.probe		= sd_probe,
	.setup		= sd_setup,
	.epoch		= sd_epoch,
	.teardown	= sd_teardown,
};
