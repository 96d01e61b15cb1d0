// SPDX-License-Identifier: GPL-2.0
/*
 * vmbench loss: when does the trace ring buffer drop events?
 *
 * A producer child writes the pages of a watched region once each (one
 * write_fault event per page) at a target rate, in 5 ms batches; the parent
 * is a libvmtrack consumer with a given per-CPU buffer size: it pumps the
 * buffers (poll + splice, buffer_percent 25) and runs an epoch every 200 ms,
 * and a last one after the producer is done. Per point:
 * events received, events lost (per_cpu stats), whether the epochs flagged
 * the loss and reported everything dirty (the recovery), and the consumer's
 * CPU time per event and per second of the point.
 *
 * Placements (--placements): "any" lets the scheduler place both; "split"
 * pins the consumer to CPU 0 and the producer to CPU 1, so its events fill
 * another CPU's buffer than the one the consumer runs on; "two" runs two
 * producer threads, on CPUs 0 and 1, each writing half of the pages at half
 * the rate, so both per-CPU buffers fill at once.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "vmtrack.h"

#define MAX_LIST	16

enum placement { PLACE_ANY, PLACE_SPLIT, PLACE_TWO, NR_PLACES };

static const char *const place_names[NR_PLACES] = { "any", "split", "two" };

struct loss_opts {
	size_t		buffers[MAX_LIST];
	int		nr_buffers;
	uint64_t	rates[MAX_LIST];
	int		nr_rates;
	double		seconds;
	size_t		max_pages;
	size_t		min_pages;
	int		reps;
	const char	*tag;
	const char	*consumer;
	enum placement	places[NR_PLACES];
	int		nr_places;
};

struct producer_report {
	uint64_t	written;
	uint64_t	ns;
};

static void sleep_until(uint64_t t)
{
	struct timespec ts = { .tv_sec = t / 1000000000ULL, .tv_nsec = t % 1000000000ULL };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* pin the calling thread to @cpu; false if this machine cannot */
static bool pin_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return !pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void unpin(void)
{
	cpu_set_t set;
	int i;

	CPU_ZERO(&set);
	for (i = 0; i < CPU_SETSIZE; i++)
		CPU_SET(i, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

struct writer {
	struct region	*r;
	size_t		first;
	size_t		end;
	uint64_t	rate;
	int		cpu;		/* -1: anywhere */
	pthread_t	thread;
};

/* write pages [first, end) once each at @rate, in 5 ms batches */
static void *writer_run(void *arg)
{
	struct writer *w = arg;
	struct region *r = w->r;
	size_t batch, i = w->first, k;
	uint64_t next;

	if (w->cpu >= 0)
		pin_to(w->cpu);
	batch = w->rate ? (w->rate + 199) / 200 : w->end - w->first;
	next = now_ns();
	while (i < w->end) {
		volatile char *c = r->base + i * r->psz;

		for (k = 0; k < batch && i < w->end; k++, i++, c += r->psz)
			(*c)++;
		if (w->rate) {
			next += 5000000ULL;
			sleep_until(next);
		}
	}
	return NULL;
}

/* the producer: ready -> wait for go -> write at @rate -> report -> wait */
static void producer(size_t pages, uint64_t rate, enum placement place, int in, int out)
{
	struct producer_report rep = { 0 };
	struct writer w[2] = { 0 };
	struct region reg, *r = &reg;
	int nw = place == PLACE_TWO ? 2 : 1, i;
	uint64_t t0;
	char go;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (region_map(r, pages * sysconf(_SC_PAGESIZE), true))
		_exit(1);
	if (write(out, &r->base, sizeof(r->base)) != sizeof(r->base) ||
	    read(in, &go, 1) != 1)
		_exit(1);
	/* the lean consumer: the producer marks its region itself */
	if (go == 'm' && madvise(r->base, r->len, MADV_WATCH))
		_exit(1);
	for (i = 0; i < nw; i++) {
		w[i].r = r;
		w[i].first = r->pages * i / nw;
		w[i].end = r->pages * (i + 1) / nw;
		w[i].rate = rate / nw;
		w[i].cpu = place == PLACE_SPLIT ? 1 : place == PLACE_TWO ? i : -1;
	}
	t0 = now_ns();
	if (nw == 2 && pthread_create(&w[1].thread, NULL, writer_run, &w[1]))
		_exit(1);
	writer_run(&w[0]);
	if (nw == 2)
		pthread_join(w[1].thread, NULL);
	rep.written = r->pages;
	rep.ns = now_ns() - t0;
	if (write(out, &rep, sizeof(rep)) != sizeof(rep))
		_exit(1);
	pause();
	_exit(0);
}

struct point {
	bool		raw;
	enum placement	place;
	size_t		buffer_kb;
	uint64_t	rate;
	size_t		pages;
	size_t		used_kb;
	uint64_t	events;
	uint64_t	lost;
	uint64_t	epochs;
	uint64_t	flagged;
	uint64_t	reported;
	uint64_t	cpu_ns;
	uint64_t	wall_ns;
	struct producer_report p;
};

static void point_epoch(struct vmtrack_session *s, struct point *pt)
{
	struct vmtrack_epoch ep;

	/*
	 * Re-arm as a pre-copy consumer must (collecting without re-arming
	 * is refused while the target runs); each page is written only once,
	 * so the re-arms cause no further events.
	 */
	if (vmtrack_session_epoch(s, 0, &ep))
		return;
	pt->epochs++;
	pt->events += ep.events;
	pt->lost += ep.lost_events;
	pt->flagged += !!ep.loss;
	pt->reported += ep.dirty_pages;
}

static int consume(struct point *pt, pid_t child, void *base, int go_fd, int rep_fd)
{
	/* the event path is what is measured: no dense epochs */
	struct vmtrack_params prm = { .pid = child, .buffer_kb = pt->buffer_kb,
				      .expected_pages = pt->pages,
				      .flags = VMTRACK_F_EVENTS_ONLY };
	struct iovec iov = { .iov_base = base, .iov_len = pt->pages * sysconf(_SC_PAGESIZE) };
	struct vmtrack_session *s;
	struct vmtrack_epoch ep;
	uint64_t c0, last;
	char err[256];
	int ret;

	ret = vmtrack_session_open(&s, &prm, err, sizeof(err));
	if (ret) {
		note("loss: session: %s", err);
		return ret;
	}
	pt->used_kb = vmtrack_session_buffer_kb(s);
	ret = vmtrack_session_watch_ranges(s, &iov, 1);
	if (!ret)
		ret = vmtrack_session_epoch(s, 0, &ep);	/* the mark */
	if (ret) {
		note("loss: watch: %s", vmtrack_session_error(s));
		vmtrack_session_close(s);
		return ret;
	}
	c0 = cpu_ns();
	last = now_ns();
	pt->wall_ns = last;
	if (write(go_fd, "g", 1) != 1)
		ret = -EIO;
	while (!ret) {
		ret = vmtrack_session_pump(s, rep_fd, 50);
		if (ret < 0)
			break;
		if (ret == 1) {
			ret = 0;
			break;
		}
		if (now_ns() - last >= 200000000ULL) {
			point_epoch(s, pt);
			last = now_ns();
		}
	}
	point_epoch(s, pt);
	pt->cpu_ns = cpu_ns() - c0;
	pt->wall_ns = now_ns() - pt->wall_ns;
	if (read(rep_fd, &pt->p, sizeof(pt->p)) != sizeof(pt->p))
		ret = -EIO;
	vmtrack_session_close(s);
	return ret;
}

static void raw_point_epoch(struct raw_state *s, struct point *pt, struct rangeset *rs)
{
	struct epoch_stats st = { 0 };

	if (raw_consumer_epoch(s, rs, &st))
		return;
	pt->epochs++;
	pt->events += st.records;
	pt->lost += st.lost;
	pt->flagged += st.all_dirty;
	pt->reported += rangeset_pages(rs, sysconf(_SC_PAGESIZE));
}

/* the same with the lean libtracefs consumer (kernels libvmtrack cannot use) */
static int consume_raw(struct point *pt, pid_t child, void *base, int go_fd, int rep_fd)
{
	struct region r = { .base = base, .psz = sysconf(_SC_PAGESIZE) };
	struct rangeset rs = { 0 };
	struct raw_state *s;
	uint64_t c0, last;
	int ret;

	r.pages = pt->pages;
	r.len = r.pages * r.psz;
	ret = raw_consumer_open(&s, &r, child, pt->buffer_kb);
	if (ret) {
		note("loss: raw consumer: %s", strerror(-ret));
		raw_consumer_close(s);
		return ret;
	}
	pt->used_kb = pt->buffer_kb ?: vmtrack_buffer_kb_for(r.pages, r.psz);
	c0 = cpu_ns();
	last = now_ns();
	pt->wall_ns = last;
	if (write(go_fd, "m", 1) != 1)
		ret = -EIO;
	while (!ret) {
		ret = raw_consumer_pump(s, rep_fd, 50);
		if (ret < 0)
			break;
		if (ret == 1) {
			ret = 0;
			break;
		}
		if (now_ns() - last >= 200000000ULL) {
			raw_point_epoch(s, pt, &rs);
			last = now_ns();
		}
	}
	raw_point_epoch(s, pt, &rs);
	pt->cpu_ns = cpu_ns() - c0;
	pt->wall_ns = now_ns() - pt->wall_ns;
	/* the mark event is not a write */
	if (pt->events)
		pt->events--;
	if (read(rep_fd, &pt->p, sizeof(pt->p)) != sizeof(pt->p))
		ret = -EIO;
	raw_consumer_close(s);
	rangeset_free(&rs);
	return ret;
}

static void run_point(const struct loss_opts *o, struct point *pt, int rep)
{
	int to_child[2], from_child[2];
	struct jout j;
	void *base;
	pid_t pid;
	int ret;

	if (pipe(to_child) || pipe(from_child))
		die("pipe: %s", strerror(errno));
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (!pid) {
		close(to_child[1]);
		close(from_child[0]);
		producer(pt->pages, pt->rate, pt->place, to_child[0], from_child[1]);
	}
	close(to_child[0]);
	close(from_child[1]);
	if (read(from_child[0], &base, sizeof(base)) != sizeof(base))
		die("producer did not start");
	if (pt->place == PLACE_SPLIT)
		pin_to(0);
	ret = pt->raw ? consume_raw(pt, pid, base, to_child[1], from_child[0]) :
			consume(pt, pid, base, to_child[1], from_child[0]);
	if (pt->place == PLACE_SPLIT)
		unpin();
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(to_child[1]);
	close(from_child[0]);
	if (ret) {
		jout_begin(&j, "unavailable");
		jout_str(&j, "bench", o->tag);
		jout_str(&j, "mech", pt->raw ? "vmtrack-raw" : "vmtrack");
		jout_str(&j, "why", strerror(-ret));
		jout_end(&j);
		return;
	}
	jout_begin(&j, "loss");
	jout_str(&j, "bench", o->tag);
	jout_str(&j, "consumer", pt->raw ? "vmtrack-raw" : "vmtrack");
	jout_str(&j, "placement", place_names[pt->place]);
	jout_u64(&j, "buffer_kb_req", pt->buffer_kb);
	jout_u64(&j, "buffer_kb", pt->used_kb);
	jout_u64(&j, "auto", pt->buffer_kb == 0);
	jout_u64(&j, "rate_target", pt->rate);
	jout_dbl(&j, "rate", pt->p.ns ? pt->p.written * 1e9 / pt->p.ns : 0);
	jout_i64(&j, "rep", rep);
	jout_u64(&j, "pages", pt->pages);
	jout_u64(&j, "written", pt->p.written);
	jout_u64(&j, "events", pt->events);
	jout_u64(&j, "lost", pt->lost);
	jout_u64(&j, "epochs", pt->epochs);
	jout_u64(&j, "flagged_epochs", pt->flagged);
	jout_u64(&j, "reported", pt->reported);
	jout_u64(&j, "consumer_cpu_ns", pt->cpu_ns);
	jout_dbl(&j, "cpu_ns_per_event", pt->events ? (double)pt->cpu_ns / pt->events : 0);
	jout_dbl(&j, "consumer_cpu_share", pt->wall_ns ? (double)pt->cpu_ns / pt->wall_ns : 0);
	jout_end(&j);
}

static void loss_point(const struct loss_opts *o, enum placement place, size_t buffer_kb,
		       uint64_t rate, bool raw, int rep)
{
	struct point pt = { .buffer_kb = buffer_kb, .rate = rate, .raw = raw, .place = place };

	pt.pages = rate ? rate * o->seconds : o->max_pages;
	if (pt.pages > o->max_pages)
		pt.pages = o->max_pages;
	if (pt.pages < o->min_pages)
		pt.pages = o->min_pages;
	run_point(o, &pt, rep);
}

/* can libvmtrack open a session on this kernel? (all events present) */
static bool lib_usable(char *why, size_t len)
{
	struct vmtrack_params prm = { .pid = getpid(), .expected_pages = 16 };
	struct vmtrack_session *s;

	if (vmtrack_session_open(&s, &prm, why, len))
		return false;
	vmtrack_session_close(s);
	return true;
}

static void loss_usage(void)
{
	fprintf(stderr,
		"usage: vmbench loss [options]\n"
		"  -b, --buffers LIST   per-CPU buffer sizes in KiB, 0 = auto (default 16,64,256,0)\n"
		"  -r, --rates LIST     target faults/s, 0 = unthrottled (default 5000,20000,0)\n"
		"  -s, --seconds S      duration of a throttled point (default 1)\n"
		"  -n, --pages N        pages of an unthrottled point (default 32768)\n"
		"      --reps N         repetitions (default 1)\n"
		"  -c, --consumer C     vmtrack (libvmtrack), vmtrack-raw, or auto: libvmtrack\n"
		"                       unless it cannot open a session here (default auto)\n"
		"  -p, --placements L   any (scheduler), split (consumer on CPU 0, producer\n"
		"                       on CPU 1), two (producers on CPUs 0 and 1) (default any)\n"
		"  -t, --tag NAME       name of this run in the results\n");
	exit(2);
}

int cmd_loss(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "buffers", required_argument, NULL, 'b' },
		{ "rates", required_argument, NULL, 'r' },
		{ "seconds", required_argument, NULL, 's' },
		{ "pages", required_argument, NULL, 'n' },
		{ "reps", required_argument, NULL, 'R' },
		{ "tag", required_argument, NULL, 't' },
		{ "consumer", required_argument, NULL, 'c' },
		{ "placements", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct loss_opts o = { .seconds = 1, .max_pages = 32768, .min_pages = 1024, .reps = 1,
			       .tag = "loss", .consumer = "auto" };
	bool raw;
	char *tok, *save, why[256];
	int c, i, k, rep, pl;

	while ((c = getopt_long(argc, argv, "b:r:s:n:t:c:p:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			save = NULL;
			for (tok = strtok_r(optarg, ",", &save); tok && o.nr_buffers < MAX_LIST;
			     tok = strtok_r(NULL, ",", &save))
				o.buffers[o.nr_buffers++] = strtoul(tok, NULL, 0);
			break;
		case 'r':
			save = NULL;
			for (tok = strtok_r(optarg, ",", &save); tok && o.nr_rates < MAX_LIST;
			     tok = strtok_r(NULL, ",", &save))
				o.rates[o.nr_rates++] = strtoull(tok, NULL, 0);
			break;
		case 's':
			o.seconds = atof(optarg);
			break;
		case 'n':
			o.max_pages = strtoul(optarg, NULL, 0);
			break;
		case 'R':
			o.reps = atoi(optarg);
			break;
		case 't':
			o.tag = optarg;
			break;
		case 'c':
			o.consumer = optarg;
			break;
		case 'p':
			save = NULL;
			for (tok = strtok_r(optarg, ",", &save); tok && o.nr_places < NR_PLACES;
			     tok = strtok_r(NULL, ",", &save)) {
				for (pl = 0; pl < NR_PLACES && strcmp(tok, place_names[pl]); pl++)
					;
				if (pl == NR_PLACES)
					loss_usage();
				o.places[o.nr_places++] = pl;
			}
			break;
		default:
			loss_usage();
		}
	}
	if (!o.nr_buffers) {
		size_t def[] = { 16, 64, 256, 0 };

		for (i = 0; i < (int)ARRAY_SIZE(def); i++)
			o.buffers[o.nr_buffers++] = def[i];
	}
	if (!o.nr_rates) {
		uint64_t def[] = { 5000, 20000, 0 };

		for (i = 0; i < (int)ARRAY_SIZE(def); i++)
			o.rates[o.nr_rates++] = def[i];
	}
	if (vmtrack_kernel_probe(why, sizeof(why))) {
		struct jout j;

		jout_begin(&j, "unavailable");
		jout_str(&j, "bench", o.tag);
		jout_str(&j, "mech", "vmtrack");
		jout_str(&j, "why", why);
		jout_end(&j);
		return 0;
	}
	raw = !strcmp(o.consumer, "vmtrack-raw") ||
	      (!strcmp(o.consumer, "auto") && !lib_usable(why, sizeof(why)));
	if (raw && strcmp(o.consumer, "vmtrack-raw"))
		note("loss: libvmtrack cannot open a session here (%s): lean consumer", why);
	if (!o.nr_places)
		o.places[o.nr_places++] = PLACE_ANY;
	for (pl = 0; pl < o.nr_places; pl++) {
		if (o.places[pl] != PLACE_ANY && sysconf(_SC_NPROCESSORS_ONLN) < 2) {
			note("loss: placement %s needs two CPUs: skipped",
			     place_names[o.places[pl]]);
			continue;
		}
		for (rep = 0; rep < o.reps; rep++)
			for (i = 0; i < o.nr_buffers; i++)
				for (k = 0; k < o.nr_rates; k++)
					loss_point(&o, o.places[pl], o.buffers[i], o.rates[k],
						   raw, rep);
	}
	return 0;
}
