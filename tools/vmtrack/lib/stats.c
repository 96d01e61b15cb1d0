// SPDX-License-Identifier: LGPL-2.1
/*
 * Loss accounting from per_cpu/cpuN/stats.
 *
 * With overwrite off (producer/consumer mode) the sub-buffer headers never
 * say that events were lost: only the counters do. Lost events are the sum
 * over CPUs of the increase of "dropped events" + "overrun" + "commit overrun",
 * read when they can have grown (see account_loss() in session.c) and once
 * more after the final flush.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const struct {
	const char	*key;
	size_t		offset;
} stats_keys[] = {
	{ "entries:",		offsetof(struct vmtrack_cpu_stats, entries) },
	{ "overrun:",		offsetof(struct vmtrack_cpu_stats, overrun) },
	{ "commit overrun:",	offsetof(struct vmtrack_cpu_stats, commit_overrun) },
	{ "dropped events:",	offsetof(struct vmtrack_cpu_stats, dropped) },
	{ "read events:",	offsetof(struct vmtrack_cpu_stats, read) },
};

/* the three counters loss accounting needs; the others are informative */
#define STATS_REQUIRED	((1U << 1) | (1U << 2) | (1U << 3))

/**
 * vmtrack_stats_parse() - parse the text of a per_cpu/cpuN/stats file
 * @text:	file contents
 * @st:		filled in; counters not in the text are 0
 *
 * Lines look like "overrun: 0" or "dropped events: 12"; unknown lines
 * ("bytes:", "oldest event ts:", ...) are ignored.
 *
 * Return: 0, or -EINVAL if "overrun", "commit overrun" or "dropped events"
 * is missing or not a number.
 */
int vmtrack_stats_parse(const char *text, struct vmtrack_cpu_stats *st)
{
	unsigned int seen = 0;
	const char *line = text;
	size_t i;

	memset(st, 0, sizeof(*st));
	while (line && *line) {
		const char *nl = strchr(line, '\n');

		for (i = 0; i < ARRAY_SIZE(stats_keys); i++) {
			size_t klen = strlen(stats_keys[i].key);
			unsigned long long v;
			char *endp;

			if (strncmp(line, stats_keys[i].key, klen))
				continue;
			errno = 0;
			v = strtoull(line + klen, &endp, 10);
			if (errno || endp == line + klen ||
			    (*endp && *endp != '\n' && *endp != ' '))
				return -EINVAL;
			*(uint64_t *)((char *)st + stats_keys[i].offset) = v;
			seen |= 1U << i;
			break;
		}
		line = nl ? nl + 1 : NULL;
	}
	return (seen & STATS_REQUIRED) == STATS_REQUIRED ? 0 : -EINVAL;
}

static uint64_t lost_sum(const struct vmtrack_cpu_stats *st)
{
	return st->dropped + st->overrun + st->commit_overrun;
}

/**
 * vmtrack_stats_lost() - events lost between two reads of one CPU's stats
 * @before:	earlier counters
 * @after:	later counters
 *
 * Counters only grow while the buffer exists; a decrease means the buffer
 * was reset behind the consumer's back (e.g. buffer_size_kb or the trace file
 * written), which loses events in an unknown number: it is reported as
 * UINT64_MAX.
 *
 * Return: the number of lost events, or UINT64_MAX if unknown.
 */
uint64_t vmtrack_stats_lost(const struct vmtrack_cpu_stats *before,
			    const struct vmtrack_cpu_stats *after)
{
	if (after->dropped < before->dropped || after->overrun < before->overrun ||
	    after->commit_overrun < before->commit_overrun)
		return UINT64_MAX;
	return lost_sum(after) - lost_sum(before);
}

/**
 * vmtrack_buffer_kb_for() - per-CPU buffer size for a watched size
 * @pages:	pages to be watched
 * @page_size:	the page size
 *
 * The worst case of an epoch is one write_fault event (52 bytes with header,
 * time extend and sub-buffer overhead, rounded up to 64) per watched page, all
 * on one CPU, if the reader stalls for the whole epoch. Plus 256 KiB for the
 * other events. Clamped to [512 KiB, 256 MiB]; beyond that (about 16 GiB
 * written on one CPU in one epoch) loss becomes possible, and is detected.
 * A session that can sweep after a loss sizes for fewer pages beyond 256 MiB
 * watched (auto_buffer_kb() in session.c).
 *
 * Return: size in KiB.
 */
size_t vmtrack_buffer_kb_for(uint64_t pages, unsigned long page_size)
{
	uint64_t kb;

	(void)page_size;
	if (pages > UINT64_MAX / 64)
		return 256 * 1024;
	kb = (pages * 64 + 1023) / 1024 + 256;
	return min(max(kb, (uint64_t)512), (uint64_t)256 * 1024);
}
