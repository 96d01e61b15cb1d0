/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef _VMTRACK_CMD_H
#define _VMTRACK_CMD_H

#include <stdbool.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "vmtrack.h"

enum vmtrack_mode {
	VMTRACK_MODE_WATCH,
	VMTRACK_MODE_RUN,
};

/**
 * struct vmtrack_cmd_params - options of vmtrack watch / vmtrack run
 * @mode:		watch or run
 * @pid:		watch: target process
 * @ranges:		watch: explicit ranges (-r), NULL for all mappings
 * @nr_ranges:		entries in @ranges
 * @interval_ms:	epoch period
 * @epochs:		stop after this many epochs, 0: until the target exits
 * @buffer_kb:		per-CPU buffer, 0: sized from the watched size
 * @json:		JSON lines instead of text
 * @output:		write the JSON lines to this file, NULL: stdout with @json
 * @keep:		leave the ranges watched on exit
 * @quiet:		no per-epoch lines, only the summary
 * @list_dirty:		print the dirty ranges of each epoch (text mode)
 * @all_private:	also watch read-only private mappings
 * @sync_stop:		run: take an epoch whenever the command stops itself
 * @argv:		run: the command and its arguments
 */
struct vmtrack_cmd_params {
	enum vmtrack_mode	mode;
	pid_t			pid;
	struct iovec		*ranges;
	size_t			nr_ranges;
	unsigned long		interval_ms;
	unsigned long		epochs;
	size_t			buffer_kb;
	bool			json;
	const char		*output;
	bool			keep;
	bool			quiet;
	bool			list_dirty;
	bool			all_private;
	bool			sync_stop;
	char			**argv;
};

#define VMTRACK_PARSE_HELP	1

int vmtrack_parse_args(enum vmtrack_mode mode, int argc, char **argv,
		       struct vmtrack_cmd_params *p, char *err, size_t errlen);
void vmtrack_params_free(struct vmtrack_cmd_params *p);
int vmtrack_parse_range(const char *arg, unsigned long page_size, struct iovec *out);
int vmtrack_parse_ulong(const char *arg, unsigned long min, unsigned long max,
			unsigned long *out);
int vmtrack_parse_seconds(const char *arg, unsigned long *ms);
void vmtrack_usage(enum vmtrack_mode mode);

int cmd_watch(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_dump(int argc, char **argv);

/* target.c */
pid_t target_spawn(char **argv, const sigset_t *mask, char *err, size_t errlen);
int target_count_pages(pid_t pid, bool all_private, uint64_t *pages);

/* output.c */
struct vmtrack_run_stats {
	uint64_t	epochs;
	uint64_t	loss_epochs;
	uint64_t	lost_events;
	uint64_t	dirty_pages;
	double		seconds;
};

int out_open(const struct vmtrack_cmd_params *p, char *err, size_t errlen);
void out_start(const struct vmtrack_cmd_params *p, struct vmtrack_session *s, pid_t pid);
void out_epoch(const struct vmtrack_cmd_params *p, struct vmtrack_session *s,
	       const struct vmtrack_epoch *ep, double t, bool final);
void out_summary(const struct vmtrack_cmd_params *p, struct vmtrack_session *s, pid_t pid,
		 const struct vmtrack_run_stats *rs);

#endif /* _VMTRACK_CMD_H */
