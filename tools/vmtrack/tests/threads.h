/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The state of each thread of a process, for the tests that check a freeze
 * (tests/unit.c, tests/precopy.c).
 */
#ifndef _VMTRACK_TESTS_THREADS_H
#define _VMTRACK_TESTS_THREADS_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

/* @state: /proc/PID/task/TID/stat from the state letter on, NULL if unparsable */
typedef void (*thread_state_fn)(const char *tid, const char *state, void *ctx);

/*
 * Call @fn for every thread of @pid whose stat could be read.
 * Return: the number of those threads, -1 if /proc/@pid/task is gone.
 */
static inline int scan_threads(pid_t pid, thread_state_fn fn, void *ctx)
{
	char path[320], buf[512], *p;
	struct dirent *de;
	int n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((de = readdir(dir))) {
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", (int)pid, de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f)) {
			p = strrchr(buf, ')');
			n++;
			fn(de->d_name, p ? p + 2 : NULL, ctx);
		}
		fclose(f);
	}
	closedir(dir);
	return n;
}

#endif /* _VMTRACK_TESTS_THREADS_H */
