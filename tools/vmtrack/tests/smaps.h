/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the kernel says is watched, for the tests that check it as a
 * client of the public API would: VmFlags "wt" in /proc/PID/smaps.
 */
#ifndef _VMTRACK_TESTS_SMAPS_H
#define _VMTRACK_TESTS_SMAPS_H

#include <stdio.h>
#include <string.h>
#include <sys/types.h>

/* mappings of @pid watched (VmFlags "wt"), -1 if smaps is unreadable */
static inline int watched_mappings(pid_t pid)
{
	char path[64], line[512];
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmFlags:", 8) && strstr(line, " wt"))
			n++;
	fclose(f);
	return n;
}

#endif /* _VMTRACK_TESTS_SMAPS_H */
