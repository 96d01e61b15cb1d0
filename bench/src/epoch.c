// SPDX-License-Identifier: GPL-2.0
/*
 * vmbench epoch: the cost of one epoch (collect the dirty set, re-arm it)
 * per mechanism, for a list of mapped sizes and dirty counts.
 *
 * Each (mechanism, size) cell runs in its own child process, so that no
 * mechanism's state (soft-dirty clears the whole mm) touches another's. A
 * cell maps and populates the region, arms it, and then for every dirty
 * count runs warm-up + measured epochs: write the pattern (timed apart),
 * then one epoch (timed: wall and process CPU, syscalls, bytes, records),
 * then checks that every written page was reported. With --remote the
 * region is in a target process of its own (target.c), which writes it.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define MAX_LIST	32

struct epoch_opts {
	const struct mech_ops	*mechs[8];
	int			nr_mechs;
	size_t			sizes_mib[MAX_LIST];
	int			nr_sizes;
	char			*dirty[MAX_LIST];	/* "N" pages or "X%" */
	int			nr_dirty;
	int			epochs;
	int			warmup;
	size_t			buffer_kb;
	uint64_t		sync_max_dirty;
	size_t			lockstep_max_mib;
	const char		*tag;
	bool			seq;		/* dirty pages in one run, not strided */
	bool			thp;		/* region backed by huge pages */
	bool			remote;		/* region in a target process */
	int			pause_ms;	/* idle between writes and epoch */
};

static int split(char *arg, char **out, int max)
{
	int n = 0;
	char *tok, *save = NULL;

	for (tok = strtok_r(arg, ",", &save); tok && n < max; tok = strtok_r(NULL, ",", &save))
		out[n++] = tok;
	return n;
}

static size_t dirty_count(const char *spec, size_t pages)
{
	char *end;
	double v = strtod(spec, &end);

	if (*end == '%')
		v = v * pages / 100.0;
	if (v < 1)
		v = 1;
	return v > pages ? pages : (size_t)(v + 0.5);
}

static void emit_unavailable(const char *tag, const char *mech, const char *why)
{
	struct jout j;

	jout_begin(&j, "unavailable");
	jout_str(&j, "bench", tag);
	jout_str(&j, "mech", mech);
	jout_str(&j, "why", why);
	jout_end(&j);
}

struct cell {
	struct mech		m;
	struct region		r;
	struct rangeset		rs;
	const struct epoch_opts	*o;
	size_t			size_mib;
	unsigned int		epoch_nr;
	uint64_t		rss0;	/* after the region was populated */
	struct target		tgt;	/* --remote: the process that holds @r */
};

static int run_epoch(struct cell *c, const char *spec, size_t count, int rep, bool warm)
{
	struct sysc_count s0, s1, s2, dw, de;
	struct epoch_stats st = { 0 };
	uint64_t t0, tw, t1, t2, c1, c2, missed, reported, wrec = 0, mon0 = 0, mon1 = 0;
	struct pattern p;
	struct jout j;
	int ret;

	if (c->o->seq)
		pattern_init_seq(&p, &c->r, count, c->epoch_nr++);
	else
		pattern_init(&p, &c->r, count, c->epoch_nr++);
	if (c->m.ops->monitor_ns)
		mon0 = c->m.ops->monitor_ns(&c->m);
	sysc_snapshot(&s0);
	t0 = now_ns();
	if (c->o->remote) {
		ret = target_write(&c->tgt, &p, &tw);
		if (ret)
			return ret;
		tw += t0;
	} else {
		pattern_write(&c->r, &p);
		tw = now_ns();
	}
	sysc_snapshot(&s1);
	if (c->m.ops->write_records)
		wrec = c->m.ops->write_records(&c->m);
	if (c->m.ops->monitor_ns)
		mon1 = c->m.ops->monitor_ns(&c->m);
	/*
	 * A tracker's epoch comes after the target ran for a while, not right
	 * after its own handling of the last write (uffd-wp's monitor
	 * un-protects each written page with the ioctl its re-protect uses).
	 */
	if (c->o->pause_ms > 0)
		usleep(c->o->pause_ms * 1000);

	c1 = cpu_ns();
	t1 = now_ns();
	ret = c->m.ops->epoch(&c->m, &c->rs, &st);
	t2 = now_ns();
	c2 = cpu_ns();
	sysc_snapshot(&s2);
	if (ret)
		return ret;
	sysc_diff(&s0, &s1, &dw);
	sysc_diff(&s1, &s2, &de);
	pattern_verify(&c->r, &p, &c->rs, &missed, &reported);

	jout_begin(&j, "epoch");
	jout_str(&j, "bench", c->o->tag);
	jout_str(&j, "mech", c->m.ops->name);
	jout_u64(&j, "size_mib", c->size_mib);
	jout_u64(&j, "pages", c->r.pages);
	jout_str(&j, "dirty_spec", spec);
	jout_u64(&j, "dirty", p.count);
	jout_i64(&j, "rep", rep);
	jout_u64(&j, "warmup", warm);
	jout_u64(&j, "pause_ms", c->o->pause_ms);
	jout_u64(&j, "epoch_ns", t2 - t1);
	jout_u64(&j, "epoch_cpu_ns", c2 - c1);
	jout_u64(&j, "rearm_ns", de.madvise_ns);
	if (c->m.ops->time_others)
		jout_u64(&j, "other_sys_ns", de.other_ns);
	jout_u64(&j, "syscalls", de.calls);
	jout_u64(&j, "bytes", de.bytes);
	jout_u64(&j, "spliced", de.spliced);
	jout_u64(&j, "records", st.records);
	jout_u64(&j, "ranges", c->rs.n);
	jout_u64(&j, "reported", reported);
	jout_u64(&j, "missed", missed);
	jout_u64(&j, "lost", st.lost);
	jout_u64(&j, "all_dirty", st.all_dirty);
	jout_u64(&j, "write_ns", tw - t0);
	jout_u64(&j, "write_syscalls", dw.calls);
	jout_u64(&j, "write_bytes", dw.bytes);
	jout_u64(&j, "write_records", wrec);
	/* the event buffers only grow: the peak so far, setup included */
	jout_i64(&j, "user_kb", (int64_t)rss_kb() - (int64_t)c->rss0);
	jout_u64(&j, "monitor_cpu_ns", mon1 - mon0);
	jout_end(&j);
	return 0;
}

struct cell_state {
	struct cell	c;
	uint64_t	t0, t1, t2, rss1;
};

static int cell_open(struct cell_state *cs, const struct epoch_opts *o,
		     const struct mech_ops *ops, size_t mib)
{
	struct cell *c = &cs->c;
	int ret;

	memset(cs, 0, sizeof(*cs));
	c->o = o;
	c->size_mib = mib;
	c->m.ops = ops;
	c->m.opt_kb = o->buffer_kb;
	cs->t0 = now_ns();
	if (o->remote) {
		ret = target_start(&c->tgt, &c->r, mib * MIB, o->thp);
		c->m.tgt = &c->tgt;
	} else if (o->thp) {
		ret = region_map_huge(&c->r, mib * MIB);
	} else {
		ret = region_map(&c->r, mib * MIB, true);
	}
	if (ret)
		die("mmap %zu MiB: %s", mib, strerror(-ret));
	/* reported ranges coalesce: at most every other page starts one */
	if (rangeset_reserve(&c->rs, c->r.pages / 2 + 1))
		die("out of memory");
	c->rss0 = rss_kb();
	cs->t1 = now_ns();
	ret = ops->setup(&c->m, &c->r);
	cs->t2 = now_ns();
	if (ret) {
		char why[128];

		snprintf(why, sizeof(why), "setup failed: %s", strerror(-ret));
		emit_unavailable(o->tag, ops->name, why);
		ops->teardown(&c->m);
		return ret;
	}
	cs->rss1 = rss_kb();
	note("%s %zu MiB: populated in %.0f ms, armed in %.1f ms", ops->name, mib,
	     (cs->t1 - cs->t0) / 1e6, (cs->t2 - cs->t1) / 1e6);
	return 0;
}

/* 0: done, 1: skipped (budget) */
static int cell_point(struct cell_state *cs, int k, int i)
{
	const struct epoch_opts *o = cs->c.o;
	const struct mech_ops *ops = cs->c.m.ops;
	size_t count = dirty_count(o->dirty[k], cs->c.r.pages);
	struct jout j;
	int ret;

	if (o->sync_max_dirty && ops == &mech_uffd_sync && count > o->sync_max_dirty) {
		if (i)
			return 1;
		jout_begin(&j, "skipped");
		jout_str(&j, "bench", o->tag);
		jout_str(&j, "mech", ops->name);
		jout_u64(&j, "size_mib", cs->c.size_mib);
		jout_str(&j, "dirty_spec", o->dirty[k]);
		jout_u64(&j, "dirty", count);
		jout_str(&j, "why", "over --sync-max-dirty (time budget)");
		jout_end(&j);
		return 1;
	}
	sysc_time_others(ops->time_others);
	sysc_enable(true);
	ret = run_epoch(&cs->c, o->dirty[k], count, i - o->warmup, i < o->warmup);
	sysc_enable(false);
	if (ret)
		die("%s epoch: %s", ops->name, strerror(-ret));
	return 0;
}

static void cell_close(struct cell_state *cs)
{
	const struct mech_ops *ops = cs->c.m.ops;
	struct cell *c = &cs->c;
	uint64_t rss2 = rss_kb();
	struct jout j;

	jout_begin(&j, "setup");
	jout_str(&j, "bench", c->o->tag);
	jout_str(&j, "mech", ops->name);
	jout_u64(&j, "size_mib", c->size_mib);
	jout_u64(&j, "populate_ns", cs->t1 - cs->t0);
	jout_u64(&j, "arm_ns", cs->t2 - cs->t1);
	jout_i64(&j, "user_kb", (int64_t)rss2 - (int64_t)c->rss0);
	jout_i64(&j, "setup_user_kb", (int64_t)cs->rss1 - (int64_t)c->rss0);
	jout_i64(&j, "kernel_kb", ops->kernel_kb ? ops->kernel_kb(&c->m) : -1);
	jout_end(&j);
	ops->teardown(&c->m);
	rangeset_free(&c->rs);
	if (c->o->remote)
		target_stop(&c->tgt);
	else
		region_unmap(&c->r);
}

static int run_cell_child(const struct epoch_opts *o, const struct mech_ops *ops, size_t mib)
{
	struct cell_state cs;
	int i, k;

	if (cell_open(&cs, o, ops, mib))
		return 1;
	for (k = 0; k < o->nr_dirty; k++)
		for (i = 0; i < o->warmup + o->epochs; i++)
			if (cell_point(&cs, k, i))
				break;
	cell_close(&cs);
	return 0;
}

/*
 * Lockstep: one child per mechanism, all mapped and armed at once; the
 * parent has them run the same epoch one after the other (the order rotates
 * every repetition), so that a change of the host's load hits all of them.
 */
struct lock_child {
	const struct mech_ops	*ops;
	pid_t			pid;
	int			cmd;
	int			ack;
	bool			alive;
};

struct lock_cmd {
	int	k;
	int	i;
	int	quit;
};

static void lock_child_main(const struct epoch_opts *o, const struct mech_ops *ops, size_t mib,
			    int cmd, int ack)
{
	struct cell_state cs;
	struct lock_cmd c;
	char r;

	r = cell_open(&cs, o, ops, mib) ? 'F' : 'R';
	if (write(ack, &r, 1) != 1 || r == 'F')
		_exit(1);
	while (read(cmd, &c, sizeof(c)) == sizeof(c) && !c.quit) {
		r = cell_point(&cs, c.k, c.i) ? 'S' : 'D';
		fflush(stdout);
		if (write(ack, &r, 1) != 1)
			_exit(1);
	}
	cell_close(&cs);
	_exit(0);
}

static bool lock_send(const char *tag, struct lock_child *ch, struct lock_cmd *c, char *r)
{
	if (!ch->alive)
		return false;
	if (write(ch->cmd, c, sizeof(*c)) != sizeof(*c) || read(ch->ack, r, 1) != 1) {
		ch->alive = false;
		emit_unavailable(tag, ch->ops->name, "lockstep child died");
		return false;
	}
	return true;
}

/*
 * Two consumers of the mm_watch events in one kernel see each other's
 * faults: an event reaches every instance that enables it (a filtered one
 * is still built and tested there), so each would pay for the other's
 * writes. vmtrack-raw and vmtrack-batch take their turns in a lockstep
 * each, after the others.
 */
static bool lock_group_has(const struct mech_ops *ops, int group)
{
	return group == (ops == &mech_vmtrack_raw ? 1 : ops == &mech_vmtrack_batch ? 2 : 0);
}

static void run_lockstep(const struct epoch_opts *o, size_t mib, int group)
{
	struct lock_child ch[8];
	struct lock_cmd c = { 0 };
	int n = 0, m, k, i, j;
	char why[256], r;

	for (m = 0; m < o->nr_mechs; m++) {
		int p1[2], p2[2];

		if (!lock_group_has(o->mechs[m], group))
			continue;
		if (o->mechs[m]->probe(why, sizeof(why))) {
			emit_unavailable(o->tag, o->mechs[m]->name, why);
			continue;
		}
		if (pipe(p1) || pipe(p2))
			die("pipe: %s", strerror(errno));
		fflush(stdout);
		ch[n].ops = o->mechs[m];
		ch[n].pid = fork();
		if (ch[n].pid < 0)
			die("fork: %s", strerror(errno));
		if (!ch[n].pid) {
			close(p1[1]);
			close(p2[0]);
			lock_child_main(o, o->mechs[m], mib, p1[0], p2[1]);
		}
		close(p1[0]);
		close(p2[1]);
		ch[n].cmd = p1[1];
		ch[n].ack = p2[0];
		ch[n].alive = true;
		n++;
	}
	/* all populate and arm concurrently; wait until each is ready */
	for (j = 0; j < n; j++)
		if (read(ch[j].ack, &r, 1) != 1 || r != 'R')
			ch[j].alive = false;
	for (k = 0; k < o->nr_dirty; k++) {
		for (i = 0; i < o->warmup + o->epochs; i++) {
			for (j = 0; j < n; j++) {
				struct lock_child *x = &ch[(i + j) % n];

				c.k = k;
				c.i = i;
				lock_send(o->tag, x, &c, &r);
			}
		}
	}
	c.quit = 1;
	for (j = 0; j < n; j++) {
		if (ch[j].alive && write(ch[j].cmd, &c, sizeof(c)) != sizeof(c))
			ch[j].alive = false;
		close(ch[j].cmd);
		waitpid(ch[j].pid, NULL, 0);
		close(ch[j].ack);
	}
}

static void run_cell(const struct epoch_opts *o, const struct mech_ops *ops, size_t mib)
{
	char why[256] = "";
	int status;
	pid_t pid;

	if (ops->probe(why, sizeof(why))) {
		emit_unavailable(o->tag, ops->name, why);
		return;
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (!pid)
		_exit(run_cell_child(o, ops, mib));
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
		snprintf(why, sizeof(why), "cell %zu MiB failed (status %#x)", mib, status);
		emit_unavailable(o->tag, ops->name, why);
	}
}

static void epoch_usage(void)
{
	fprintf(stderr,
		"usage: vmbench epoch [options]\n"
		"  -m, --mech LIST       mechanisms (default: all; see vmbench list)\n"
		"  -s, --size LIST       mapped sizes in MiB (default 1024)\n"
		"  -d, --dirty LIST      dirty pages per epoch: N or X%% (default 0.1%%)\n"
		"  -e, --epochs N        measured epochs per point (default 3)\n"
		"  -w, --warmup N        warm-up epochs per point (default 1)\n"
		"  -b, --buffer-kb N     vmtrack per-CPU buffer, 0 = auto (default 0)\n"
		"      --sync-max-dirty N  skip uffd-wp sync points above N dirty pages\n"
		"  -l, --lockstep-max-mib N  sizes up to N MiB run all mechanisms at once,\n"
		"                        alternating epochs (default 0: one after the other)\n"
		"  -t, --tag NAME        name of this sweep in the results\n"
		"      --seq             the dirty pages of an epoch in one run (default:\n"
		"                        spread evenly, every page its own range)\n"
		"      --thp             the region backed by transparent huge pages\n"
		"      --remote          the region in a child process, which writes when\n"
		"                        told: the mechanisms track another process\n"
		"      --pause-ms N      sleep N ms between the writes and the epoch\n");
	exit(2);
}

int cmd_epoch(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "mech", required_argument, NULL, 'm' },
		{ "size", required_argument, NULL, 's' },
		{ "dirty", required_argument, NULL, 'd' },
		{ "epochs", required_argument, NULL, 'e' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "buffer-kb", required_argument, NULL, 'b' },
		{ "sync-max-dirty", required_argument, NULL, 'S' },
		{ "lockstep-max-mib", required_argument, NULL, 'l' },
		{ "tag", required_argument, NULL, 't' },
		{ "seq", no_argument, NULL, 'Q' },
		{ "thp", no_argument, NULL, 'H' },
		{ "remote", no_argument, NULL, 'R' },
		{ "pause-ms", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static char def_dirty[] = "0.1%";
	struct epoch_opts o = { .epochs = 3, .warmup = 1, .tag = "epoch" };
	char *list[MAX_LIST], *mech_arg = NULL, *end;
	int c, i, k, n;
	long pause;

	while ((c = getopt_long(argc, argv, "m:s:d:e:w:b:t:l:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			mech_arg = optarg;
			break;
		case 's':
			n = split(optarg, list, MAX_LIST);
			for (i = 0; i < n; i++)
				o.sizes_mib[o.nr_sizes++] = strtoul(list[i], NULL, 0);
			break;
		case 'd':
			o.nr_dirty = split(optarg, o.dirty, MAX_LIST);
			break;
		case 'e':
			o.epochs = atoi(optarg);
			break;
		case 'w':
			o.warmup = atoi(optarg);
			break;
		case 'b':
			o.buffer_kb = strtoul(optarg, NULL, 0);
			break;
		case 'S':
			o.sync_max_dirty = strtoull(optarg, NULL, 0);
			break;
		case 't':
			o.tag = optarg;
			break;
		case 'l':
			o.lockstep_max_mib = strtoul(optarg, NULL, 0);
			break;
		case 'Q':
			o.seq = true;
			break;
		case 'H':
			o.thp = true;
			break;
		case 'R':
			o.remote = true;
			break;
		case 'P':
			pause = strtol(optarg, &end, 10);
			if (*end || end == optarg || pause < 0 || pause > 60000)
				die("--pause-ms: %s: want 0 to 60000 milliseconds", optarg);
			o.pause_ms = pause;
			break;
		default:
			epoch_usage();
		}
	}
	if (!o.nr_sizes)
		o.sizes_mib[o.nr_sizes++] = 1024;
	if (!o.nr_dirty)
		o.dirty[o.nr_dirty++] = def_dirty;
	if (mech_arg) {
		n = split(mech_arg, list, MAX_LIST);
		for (i = 0; i < n && o.nr_mechs < (int)ARRAY_SIZE(o.mechs); i++) {
			o.mechs[o.nr_mechs] = mech_find(list[i]);
			if (!o.mechs[o.nr_mechs])
				die("unknown mechanism %s", list[i]);
			o.nr_mechs++;
		}
	} else {
		o.mechs[o.nr_mechs++] = &mech_softdirty;
		o.mechs[o.nr_mechs++] = &mech_uffd_sync;
		o.mechs[o.nr_mechs++] = &mech_uffd_async;
		o.mechs[o.nr_mechs++] = &mech_vmtrack;
		o.mechs[o.nr_mechs++] = &mech_vmtrack_batch;
		o.mechs[o.nr_mechs++] = &mech_vmtrack_raw;
	}
	/* sizes outer, mechanisms inner: the mechanisms of a point run back to back */
	for (i = 0; i < o.nr_sizes; i++) {
		if (o.sizes_mib[i] <= o.lockstep_max_mib) {
			run_lockstep(&o, o.sizes_mib[i], 0);
			run_lockstep(&o, o.sizes_mib[i], 1);
			run_lockstep(&o, o.sizes_mib[i], 2);
			continue;
		}
		for (k = 0; k < o.nr_mechs; k++)
			run_cell(&o, o.mechs[k], o.sizes_mib[i]);
	}
	return 0;
}
