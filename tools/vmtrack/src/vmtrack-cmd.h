/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef _VMTRACK_CMD_H
#define _VMTRACK_CMD_H

#include <stdbool.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
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
 * @all_private:	watch read-only private mappings too (the default;
 *			--writable-only clears it)
 * @sync_stop:		run: take an epoch whenever the command stops itself
 * @follow:		also watch the processes the target starts (follow.c)
 * @journal:		write a binary journal of the run to this file
 * @journal_ranges:	journal the dirty ranges and per-mapping counts too
 * @events_only:	no dense epochs (VMTRACK_F_EVENTS_ONLY)
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
	bool			follow;
	const char		*journal;
	bool			journal_ranges;
	bool			events_only;
	char			**argv;
};

#define VMTRACK_PARSE_HELP	1

struct option;

const char *vmtrack_option_name(char *buf, size_t len, char **argv, int c,
				const struct option *longopts, int longindex, int before);
void vmtrack_option_error(char *err, size_t errlen, char **argv, const struct option *longopts,
			  int c, int before);
int vmtrack_parse_args(enum vmtrack_mode mode, int argc, char **argv,
		       struct vmtrack_cmd_params *p, char *err, size_t errlen);
void vmtrack_params_free(struct vmtrack_cmd_params *p);
int vmtrack_parse_range(const char *arg, unsigned long page_size, struct iovec *out);
int vmtrack_parse_ulong(const char *arg, unsigned long min, unsigned long max,
			unsigned long *out);
int vmtrack_parse_seconds(const char *arg, unsigned long *ms);
void vmtrack_print_lines(FILE *f, const char * const *lines);
void vmtrack_usage(enum vmtrack_mode mode);

int cmd_watch(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_report(int argc, char **argv);

/* follow.c: watch and run with --follow */
int follow_run(const struct vmtrack_cmd_params *p, int sfd, const sigset_t *mask);
int follow_watch(const struct vmtrack_cmd_params *p, int sfd);

/* long options without a short one */
enum {
	OPT_JOURNAL = 256,
	OPT_JOURNAL_RANGES,
	OPT_EVENTS_ONLY,
	OPT_PS_TIMEOUT,
	OPT_WRITABLE_ONLY,
	OPT_THROTTLE,
};

/* target.c */
pid_t target_spawn(char **argv, const sigset_t *mask, char *err, size_t errlen);
pid_t target_spawn_traced(char **argv, const sigset_t *mask, unsigned long options,
			  char *err, size_t errlen);
int target_count_pages(pid_t pid, uint64_t *pages);

/* output.c */
struct vmtrack_run_stats {
	uint64_t	epochs;
	uint64_t	loss_epochs;
	uint64_t	lost_events;
	uint64_t	dirty_pages;
	double		seconds;
};

/**
 * struct out_range - a tracked range as the output shows it
 * @start:	first address
 * @end:	end address, exclusive
 * @pages:	watched pages
 * @last:	pages dirty in the epoch (the last one, in a summary)
 * @total:	pages dirty over all epochs
 * @label:	mapping name, "" if unknown
 */
struct out_range {
	uint64_t	start;
	uint64_t	end;
	uint64_t	pages;
	uint64_t	last;
	uint64_t	total;
	const char	*label;
};

/**
 * struct out_set - one dirty set of a followed process tree (--follow)
 * @set:	its number, from 1, in the order the sets started
 * @pid:	the process
 * @ppid:	its parent when the set started
 * @comm:	its name (/proc/PID/comm) when the set started
 * @origin:	why the set started: "start" (the command run), "found" (running
 *		when vmtrack watch started), "fork" (a new process), "exec"
 *		(a new program in a followed process)
 * @time:	seconds since the start of the run, when the set started
 * @prev_time:	time of its previous epoch, for the durations
 */
struct out_set {
	unsigned int	set;
	pid_t		pid;
	pid_t		ppid;
	char		comm[32];
	const char	*origin;
	double		time;
	double		prev_time;
};

/**
 * struct out_epoch_info - what the output of one epoch shows
 * @ep:		the epoch
 * @time:	seconds since the start
 * @duration:	seconds since the previous epoch (or the start)
 * @final:	the last epoch
 * @nr_tracked:	tracked ranges at the end of the epoch
 * @busiest:	the tracked range with the most dirty pages (@busiest.last 0: none)
 * @ranges:	the tracked ranges dirty in the epoch
 * @nr_ranges:	entries in @ranges
 * @has_ranges:	@ranges and @ep->dirty are known (always live, journaled on request)
 * @set:	the dirty set with --follow, NULL without
 */
struct out_epoch_info {
	const struct vmtrack_epoch	*ep;
	double				time;
	double				duration;
	bool				final;
	uint64_t			nr_tracked;
	struct out_range		busiest;
	const struct out_range		*ranges;
	size_t				nr_ranges;
	bool				has_ranges;
	const struct out_set		*set;
};

int out_open(const struct vmtrack_cmd_params *p, char *err, size_t errlen);
void out_flush(FILE *f);
const char *out_write_error(FILE *f);
void out_cancel(void);
void out_start(const struct vmtrack_cmd_params *p, struct vmtrack_session *s, pid_t pid);
void out_epoch(const struct vmtrack_cmd_params *p, struct vmtrack_session *s,
	       const struct vmtrack_epoch *ep, double t, bool final);
void out_freeze(uint64_t seq, double ms);
int out_summary(const struct vmtrack_cmd_params *p, struct vmtrack_session *s, pid_t pid,
		const struct vmtrack_run_stats *rs, int status);
int out_epoch_collect(struct vmtrack_session *s, const struct vmtrack_epoch *ep,
		      struct out_epoch_info *e);
void out_loss_text(char *buf, size_t len, unsigned int loss);
void out_start_text(FILE *f, const char *command, pid_t pid, unsigned long interval_ms);
void out_epoch_text(FILE *f, const struct out_epoch_info *e, bool list_dirty, long page_size);
void out_epoch_json(FILE *f, const struct out_epoch_info *e);
void out_summary_text(FILE *f, pid_t pid, const struct vmtrack_run_stats *rs,
		      const struct out_range *ranges, size_t n);
void out_summary_json(FILE *f, pid_t pid, const struct vmtrack_run_stats *rs,
		      uint64_t watched_pages, const struct out_range *ranges, size_t n);

/**
 * struct out_tree_stats - the end of a --follow run
 * @pid:	the root of the tree
 * @sets:	dirty sets started
 * @processes:	processes followed
 * @unwatched:	processes followed without a dirty set (see follow.c)
 * @epochs:	epoch ticks
 * @dirty_pages: pages reported dirty, all sets together
 * @loss_epochs: epochs with loss, all sets together
 * @seconds:	duration of the run
 */
struct out_tree_stats {
	pid_t		pid;
	unsigned int	sets;
	unsigned int	processes;
	unsigned int	unwatched;
	uint64_t	epochs;
	uint64_t	dirty_pages;
	uint64_t	loss_epochs;
	double		seconds;
};

void out_summary_set_json(FILE *f, const struct out_set *set, pid_t pid,
			  const struct vmtrack_run_stats *rs, uint64_t watched_pages,
			  const struct out_range *r, size_t n);
void out_summary_set_text(FILE *f, const struct out_set *set, pid_t pid,
			  const struct vmtrack_run_stats *rs, const struct out_range *r, size_t n);
void out_set_start_line(FILE *f, bool json, const struct out_set *set, uint64_t pages);
void out_unwatched_json(FILE *f, pid_t pid, const char *comm, const char *why);
void out_tree_end_line(FILE *f, bool json, const struct out_tree_stats *ts);
void out_tree_start(const struct vmtrack_cmd_params *p, pid_t pid);
void out_set_start(const struct vmtrack_cmd_params *p, struct vmtrack_session *s,
		   const struct out_set *set);
void out_set_epoch(const struct vmtrack_cmd_params *p, struct vmtrack_session *s,
		   struct out_set *set, const struct vmtrack_epoch *ep, double t, bool final);
void out_set_summary(const struct vmtrack_cmd_params *p, struct vmtrack_session *s,
		     const struct out_set *set, const struct vmtrack_run_stats *rs);
void out_unwatched(const struct vmtrack_cmd_params *p, pid_t pid, const char *comm,
		   const char *why);
int out_tree_end(const struct vmtrack_cmd_params *p, const struct out_tree_stats *ts,
		 int status);

/* dump.c: the lines of vmtrack dump, live and from a journal */

/**
 * struct dump_iter_info - one iteration of vmtrack dump
 * @iter:	iteration number, from 1
 * @frozen:	the last one, copied with the target frozen
 * @dirty:	pages the epochs before it reported dirty
 * @pages:	pages copied
 * @holes:	pages left to the parent
 * @gone:	pages that could not be read
 * @seconds:	duration of the copy
 * @bandwidth:	bytes per second
 * @all_dirty:	an epoch since the previous iteration reported loss
 * @loss:	enum vmtrack_loss bits of those epochs
 * @stop:	the rule that ended the loop (frozen iteration), "no" else
 * @throttle:	percent of the copy the throttle meant to hold the target
 * @held_s:	seconds the throttle held it during the copy
 */
struct dump_iter_info {
	unsigned int	iter;
	bool		frozen;
	uint64_t	dirty;
	uint64_t	pages;
	uint64_t	holes;
	uint64_t	gone;
	double		seconds;
	double		bandwidth;
	bool		all_dirty;
	unsigned int	loss;
	const char	*stop;
	unsigned int	throttle;
	double		held_s;
};

/**
 * struct dump_summary_info - the end of vmtrack dump
 * @pid:		the target
 * @dest:		the directory or the page server
 * @iterations:		iterations written
 * @pages:		pages copied in all
 * @stop:		the rule that ended the loop
 * @freeze_ms:		how long the target was frozen
 * @total_s:		duration of the dump
 * @bandwidth:		the measured copy bandwidth, bytes per second
 * @left_stopped:	the target was left stopped
 */
struct dump_summary_info {
	pid_t		pid;
	const char	*dest;
	unsigned int	iterations;
	uint64_t	pages;
	const char	*stop;
	double		freeze_ms;
	double		total_s;
	double		bandwidth;
	bool		left_stopped;
};

void dump_print_iter(FILE *f, bool json, const char *dest, long page_size,
		     const struct dump_iter_info *it);
void dump_print_pending(FILE *f, uint64_t pending, double estimate_ms, const char *stop);
void dump_print_summary(FILE *f, bool json, const struct dump_summary_info *s);

#endif /* _VMTRACK_CMD_H */
