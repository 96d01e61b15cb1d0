// SPDX-License-Identifier: GPL-2.0-only
/*
 * The journal writer: fixed binary records appended to a buffer and written
 * out with write() when it fills up, at most a second after an epoch, and
 * at the end. No formatting on the way: an epoch costs one record of a
 * hundred-odd bytes and its checksum. Mapping names and other strings are
 * written once, as string records, and referred to by id.
 *
 * Every record carries its length and a checksum, so a run killed at any
 * point leaves a file whose complete records decode.
 *
 * Nothing is written before journal_start(): a run that fails before it
 * watches anything (no such process, a command that cannot be started)
 * leaves no journal behind, and a file of that name from an earlier run is
 * left as it was. journal_open() creates the file, so that a path that
 * cannot be written is an error before anything is started.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "vmtrack-cmd.h"
#include "journal.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define FIELDS(f)	f, ARRAY_SIZE(f)

#define BUF_SIZE	(2 * JOURNAL_MAX_RECORD)
/* dirty ranges per record: a record stays within JOURNAL_MAX_RECORD */
#define DIRTY_PER_RECORD ((JOURNAL_MAX_RECORD - JOURNAL_REC_HDR - 8) / 16)
#define FLUSH_EVERY_NS	1000000000LL
#define TARGET_MAX	4000

/* ---- the format table ---------------------------------------------------- */

static const struct journal_field start_fields[] = {
	{ JT_U64, "interval_ms" }, { JT_U64, "tracked_ranges" }, { JT_U64, "watched_pages" },
	{ JT_U64, "buffer_kb" },
};

static const struct journal_field epoch_fields[] = {
	{ JT_U64, "seq" }, { JT_F64, "time" }, { JT_F64, "duration" }, { JT_U8, "final" },
	{ JT_U8, "target_gone" }, { JT_U8, "all_dirty" }, { JT_U32, "loss" },
	{ JT_U64, "watched_pages" }, { JT_U64, "dirty_pages" }, { JT_U64, "nr_dirty" },
	{ JT_U64, "lost_events" }, { JT_U64, "events" }, { JT_U64, "new_pages" },
	{ JT_U64, "stray_pages" }, { JT_U64, "rearm_failed" }, { JT_U64, "tracked_ranges" },
	{ JT_U64, "busiest_start" }, { JT_U64, "busiest_dirty" }, { JT_STR, "busiest_label" },
	{ JT_U32, "set" }, { JT_U8, "swept" }, { JT_U64, "swept_pages" }, { JT_U8, "dense" },
};

static const struct journal_field loss_fields[] = {
	{ JT_U64, "seq" }, { JT_U32, "loss" }, { JT_U64, "lost_events" },
};

static const struct journal_field rescan_fields[] = {
	{ JT_U64, "seq" }, { JT_U64, "new_pages" }, { JT_U64, "tracked_ranges" },
	{ JT_U64, "watched_pages" },
};

static const struct journal_field freeze_fields[] = {
	{ JT_U64, "seq" }, { JT_F64, "ms" },
};

static const struct journal_field mapping_fields[] = {
	{ JT_U64, "seq" }, { JT_U64, "start" }, { JT_U64, "end" }, { JT_U64, "pages" },
	{ JT_U64, "dirty" }, { JT_STR, "label" },
};

static const struct journal_field dirty_fields[] = {
	{ JT_U64, "seq" }, { JT_U64_ARRAY, "ranges" },
};

static const struct journal_field summary_fields[] = {
	{ JT_U64, "epochs" }, { JT_F64, "seconds" }, { JT_U64, "dirty_pages" },
	{ JT_U64, "loss_epochs" }, { JT_U64, "lost_events" }, { JT_U64, "watched_pages" },
	{ JT_U32, "pid" }, { JT_U32, "set" },
};

static const struct journal_field summary_range_fields[] = {
	{ JT_U64, "start" }, { JT_U64, "end" }, { JT_U64, "pages" }, { JT_U64, "last" },
	{ JT_U64, "total" }, { JT_STR, "label" },
};

static const struct journal_field dump_iter_fields[] = {
	{ JT_U32, "iteration" }, { JT_U8, "frozen" }, { JT_U64, "dirty_pages" },
	{ JT_U64, "pages" }, { JT_U64, "holes" }, { JT_U64, "gone" }, { JT_F64, "seconds" },
	{ JT_F64, "bandwidth" }, { JT_U8, "all_dirty" }, { JT_U32, "loss" }, { JT_STR, "stop" },
	{ JT_U32, "throttle" }, { JT_F64, "held_s" },
};

static const struct journal_field dump_pending_fields[] = {
	{ JT_U64, "pending" }, { JT_F64, "estimate_ms" }, { JT_STR, "stop" },
};

static const struct journal_field dump_summary_fields[] = {
	{ JT_U32, "pid" }, { JT_U32, "iterations" }, { JT_U64, "pages" }, { JT_STR, "stop" },
	{ JT_F64, "freeze_ms" }, { JT_F64, "total_s" }, { JT_F64, "bandwidth" },
	{ JT_U8, "left_stopped" }, { JT_STR, "dest" },
};

static const struct journal_field end_fields[] = {
	{ JT_U32, "status" },
};

static const struct journal_field set_fields[] = {
	{ JT_U32, "set" }, { JT_U32, "pid" }, { JT_U32, "ppid" }, { JT_F64, "time" },
	{ JT_U64, "watched_pages" }, { JT_STR, "comm" }, { JT_STR, "origin" },
};

static const struct journal_field unwatched_fields[] = {
	{ JT_U32, "pid" }, { JT_STR, "comm" }, { JT_STR, "reason" },
};

static const struct journal_field follow_fields[] = {
	{ JT_U32, "pid" }, { JT_U32, "sets" }, { JT_U32, "processes" }, { JT_U32, "unwatched" },
	{ JT_U64, "epochs" }, { JT_F64, "seconds" }, { JT_U64, "dirty_pages" },
	{ JT_U64, "loss_epochs" },
};

const struct journal_format journal_formats[] = {
	{ JR_START, "start", "interval %u ms, %u ranges, %u pages watched, buffer %u KiB",
	  FIELDS(start_fields) },
	{ JR_EPOCH, "epoch",
	  "%u at %f s (%f s): final %u, target gone %u, all dirty %u, loss %x, "
	  "%u pages watched, %u dirty in %u ranges, %u events lost, %u events, "
	  "%u new pages, %u stray pages, %u re-arms failed, %u ranges tracked, "
	  "busiest %x (%u pages, %s), set %u", FIELDS(epoch_fields) },
	{ JR_LOSS, "loss", "epoch %u: loss %x, %u events lost", FIELDS(loss_fields) },
	{ JR_RESCAN, "rescan", "epoch %u: %u new pages, %u ranges tracked, %u pages watched",
	  FIELDS(rescan_fields) },
	{ JR_FREEZE, "freeze", "epoch %u: frozen %f ms", FIELDS(freeze_fields) },
	{ JR_MAPPING, "mapping", "epoch %u: %x-%x %u pages, %u dirty, %s",
	  FIELDS(mapping_fields) },
	{ JR_DIRTY, "dirty", "epoch %u: dirty %a", FIELDS(dirty_fields) },
	{ JR_SUMMARY, "summary",
	  "%u epochs in %f s, %u pages dirty, %u epochs with loss, %u events lost, "
	  "%u pages watched, pid %u, set %u", FIELDS(summary_fields) },
	{ JR_SUMMARY_RANGE, "summary_range", "range %x-%x %u pages, last %u, total %u, %s",
	  FIELDS(summary_range_fields) },
	{ JR_DUMP_ITER, "dump_iter",
	  "iteration %u (frozen %u): %u pages dirty, %u copied, %u holes, %u gone, %f s, "
	  "%f bytes/s, all dirty %u, loss %x, stop %s, throttle %u %%, held %f s",
	  FIELDS(dump_iter_fields) },
	{ JR_DUMP_PENDING, "dump_pending", "%u pages to copy, copy estimated %f ms, stop %s",
	  FIELDS(dump_pending_fields) },
	{ JR_DUMP_SUMMARY, "dump_summary",
	  "dump of pid %u: %u iterations, %u pages, stop %s, frozen %f ms, %f s, %f bytes/s, "
	  "left stopped %u, %s", FIELDS(dump_summary_fields) },
	{ JR_END, "end", "exit status %u", FIELDS(end_fields) },
	{ JR_SET, "set", "set %u: pid %u, parent %u, at %f s, %u pages watched, %s, %s",
	  FIELDS(set_fields) },
	{ JR_UNWATCHED, "unwatched", "pid %u (%s) not watched: %s", FIELDS(unwatched_fields) },
	{ JR_FOLLOW, "follow", "pid %u: %u sets of %u processes (%u not watched), %u epochs "
	  "in %f s, %u pages dirty, %u epochs with loss", FIELDS(follow_fields) },
};

const size_t journal_nr_formats = ARRAY_SIZE(journal_formats);

#define FNV_BASIS	2166136261u
#define FNV_PRIME	16777619u

static inline uint32_t fnv_word(uint32_t h, const uint8_t *p, size_t n)
{
	uint32_t w = 0;

	memcpy(&w, p, n);
	return (h ^ le32toh(w)) * FNV_PRIME;
}

/**
 * journal_checksum() - checksum of a record
 * @rec:	the record, from its length field
 * @len:	its length
 *
 * 32-bit FNV-1a taken over 32-bit little-endian words instead of bytes (a
 * quarter of the multiplications), the last word padded with zeros: over
 * bytes 0-7 (length, id, reserved), then from byte 12 (after the checksum
 * field) to the end. Any one changed word changes it.
 *
 * Return: the checksum.
 */
uint32_t journal_checksum(const void *rec, size_t len)
{
	const uint8_t *p = rec;
	uint32_t h = FNV_BASIS;
	size_t i;

	h = fnv_word(h, p, 4);
	h = fnv_word(h, p + 4, 4);
	for (i = JOURNAL_REC_HDR; i + 4 <= len; i += 4)
		h = fnv_word(h, p + i, 4);
	if (i < len)
		h = fnv_word(h, p + i, len - i);
	return h;
}

/* ---- the writer ---------------------------------------------------------- */

struct str_slot {
	char		*s;
	uint32_t	hash;
	uint32_t	id;
};

struct journal {
	int		fd;
	unsigned int	flags;
	char		*path;
	uint8_t		*buf;
	size_t		used;
	int		error;		/* errno of the first failed write */
	bool		created;	/* the file did not exist before */
	bool		started;	/* journal_start(): the file is ours to write */
	struct str_slot	*strs;		/* interned strings, open addressing */
	size_t		strs_cap;
	uint32_t	nr_strs;	/* id 0 is "" */
	long long	flushed_ns;
};

struct rec {
	uint8_t		*start;
	uint8_t		*p;
};

static inline void put_u8(struct rec *r, uint8_t v)
{
	*r->p++ = v;
}

static inline void put_u16(struct rec *r, uint16_t v)
{
	v = htole16(v);
	memcpy(r->p, &v, sizeof(v));
	r->p += sizeof(v);
}

static inline void put_u32(struct rec *r, uint32_t v)
{
	v = htole32(v);
	memcpy(r->p, &v, sizeof(v));
	r->p += sizeof(v);
}

static inline void put_u64(struct rec *r, uint64_t v)
{
	v = htole64(v);
	memcpy(r->p, &v, sizeof(v));
	r->p += sizeof(v);
}

static inline void put_f64(struct rec *r, double d)
{
	uint64_t v;

	memcpy(&v, &d, sizeof(v));
	put_u64(r, v);
}

static void put_bytes(struct rec *r, const void *s, size_t len)
{
	memcpy(r->p, s, len);
	r->p += len;
}

static void put_cstr(struct rec *r, const char *s)
{
	put_bytes(r, s, strlen(s) + 1);
}

static long long mono_coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/**
 * journal_flush() - write out the buffered records
 * @j:	the journal
 *
 * Before journal_start() the records stay in the buffer.
 *
 * Return: 0, or -1 once a write failed (the journal then stays silent).
 */
int journal_flush(struct journal *j)
{
	size_t off = 0;
	ssize_t n;

	if (j->error)
		return -1;
	/* the header and the target's metadata fit in the buffer */
	if (!j->started)
		return 0;
	while (off < j->used) {
		n = write(j->fd, j->buf + off, j->used - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			j->error = n < 0 ? errno : EIO;
			return -1;
		}
		off += n;
	}
	j->used = 0;
	j->flushed_ns = mono_coarse_ns();
	return 0;
}

/* room for a record of up to @payload bytes; false if the journal failed */
static bool rec_begin(struct journal *j, struct rec *r, size_t payload)
{
	if (j->error)
		return false;
	if (j->used + JOURNAL_REC_HDR + payload > BUF_SIZE &&
	    (journal_flush(j) || j->used + JOURNAL_REC_HDR + payload > BUF_SIZE))
		return false;
	r->start = j->buf + j->used;
	r->p = r->start + JOURNAL_REC_HDR;
	return true;
}

static void rec_end(struct journal *j, struct rec *r, uint16_t id)
{
	struct rec h = { .p = r->start };
	uint32_t len = r->p - r->start;

	put_u32(&h, len);
	put_u16(&h, id);
	put_u16(&h, 0);
	put_u32(&h, journal_checksum(r->start, len));
	j->used += len;
}

static uint32_t str_hash(const char *s)
{
	uint32_t h = FNV_BASIS;

	while (*s)
		h = (h ^ (uint8_t)*s++) * FNV_PRIME;
	return h;
}

static int strs_grow(struct journal *j)
{
	size_t cap = j->strs_cap ? j->strs_cap * 2 : 64, i, k;
	struct str_slot *t = calloc(cap, sizeof(*t));

	if (!t)
		return -1;
	for (i = 0; i < j->strs_cap; i++) {
		if (!j->strs[i].s)
			continue;
		for (k = j->strs[i].hash & (cap - 1); t[k].s; k = (k + 1) & (cap - 1))
			;
		t[k] = j->strs[i];
	}
	free(j->strs);
	j->strs = t;
	j->strs_cap = cap;
	return 0;
}

/*
 * The id of @s, written as a string record the first time it is seen.
 * Called before the record that refers to it is begun.
 */
static uint32_t intern(struct journal *j, const char *s)
{
	size_t len, k;
	uint32_t h;
	struct rec r;
	char *copy;

	if (!s || !*s)
		return 0;
	h = str_hash(s);
	if (j->strs_cap) {
		for (k = h & (j->strs_cap - 1); j->strs[k].s; k = (k + 1) & (j->strs_cap - 1))
			if (j->strs[k].hash == h && !strcmp(j->strs[k].s, s))
				return j->strs[k].id;
	}
	len = strnlen(s, TARGET_MAX);
	if ((j->nr_strs + 1) * 2 > j->strs_cap && strs_grow(j))
		return 0;
	copy = strndup(s, len);
	if (!copy || !rec_begin(j, &r, 4 + len)) {
		free(copy);
		return 0;
	}
	for (k = h & (j->strs_cap - 1); j->strs[k].s; k = (k + 1) & (j->strs_cap - 1))
		;
	j->strs[k] = (struct str_slot){ .s = copy, .hash = h, .id = ++j->nr_strs };
	put_u32(&r, j->nr_strs);
	put_bytes(&r, s, len);
	rec_end(j, &r, JR_STRING);
	return j->nr_strs;
}

static void write_format(struct journal *j, const struct journal_format *f)
{
	size_t len = 4 + strlen(f->name) + 1 + strlen(f->fmt) + 1;
	unsigned int i;
	struct rec r;

	for (i = 0; i < f->nr_fields; i++)
		len += 1 + strlen(f->fields[i].name) + 1;
	if (!rec_begin(j, &r, len))
		return;
	put_u16(&r, f->id);
	put_u16(&r, f->nr_fields);
	put_cstr(&r, f->name);
	put_cstr(&r, f->fmt);
	for (i = 0; i < f->nr_fields; i++) {
		put_u8(&r, f->fields[i].type);
		put_cstr(&r, f->fields[i].name);
	}
	rec_end(j, &r, JR_FORMAT);
}

/**
 * journal_meta() - record a key and its value (the header's metadata)
 * @j:		the journal, or NULL
 * @key:	"kernel", "tool", "command", "pid", "target", ...
 * @value:	its value
 */
void journal_meta(struct journal *j, const char *key, const char *value)
{
	size_t klen = strnlen(key, 64), vlen = strnlen(value, TARGET_MAX);
	struct rec r;

	if (!j || !rec_begin(j, &r, klen + vlen + 2))
		return;
	put_bytes(&r, key, klen);
	put_u8(&r, 0);
	put_bytes(&r, value, vlen);
	put_u8(&r, 0);
	rec_end(j, &r, JR_META);
}

static void write_header(struct journal *j)
{
	struct rec r = { .p = j->buf };
	struct utsname u;
	char text[512];
	size_t i;

	put_bytes(&r, JOURNAL_MAGIC, 8);
	put_u16(&r, JOURNAL_MAJOR);
	put_u16(&r, JOURNAL_MINOR);
	put_u32(&r, 0);
	j->used = JOURNAL_FILE_HDR;
	journal_meta(j, "tool", "vmtrack " VMTRACK_VERSION);
	if (!uname(&u)) {
		snprintf(text, sizeof(text), "%s %s %s %s", u.sysname, u.release, u.version,
			 u.machine);
		journal_meta(j, "kernel", text);
	}
	snprintf(text, sizeof(text), "%ld", sysconf(_SC_PAGESIZE));
	journal_meta(j, "page_size", text);
	journal_meta(j, "ranges", j->flags & JOURNAL_RANGES ? "yes" : "no");
	for (i = 0; i < journal_nr_formats; i++)
		write_format(j, &journal_formats[i]);
}

/*
 * The file, created if it does not exist. An existing one is opened without
 * O_TRUNC: it is truncated by journal_start() only, so that a run that
 * fails before does not destroy it.
 */
static int open_file(struct journal *j, const char *path)
{
	j->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (j->fd >= 0) {
		j->created = true;
		return 0;
	}
	if (errno == EEXIST)
		j->fd = open(path, O_WRONLY | O_CLOEXEC);
	return j->fd < 0 ? -errno : 0;
}

/**
 * journal_open() - create a journal, its header in memory
 * @path:	the file (created, or replaced by journal_start())
 * @flags:	JOURNAL_RANGES
 * @err:	receives a one-line reason on failure
 * @errlen:	size of @err
 *
 * The file is created (or opened) here, so that a path that cannot be
 * written is found before the run starts; nothing is written to it before
 * journal_start(). journal_close() without journal_start() removes a file
 * it created.
 *
 * Return: the journal, or NULL with @err set.
 */
struct journal *journal_open(const char *path, unsigned int flags, char *err, size_t errlen)
{
	struct journal *j = calloc(1, sizeof(*j));

	if (!j || !(j->buf = malloc(BUF_SIZE)) || !(j->path = strdup(path))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	j->flags = flags;
	if (open_file(j, path)) {
		snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
		goto fail;
	}
	write_header(j);
	return j;
fail:
	if (j) {
		free(j->buf);
		free(j->path);
	}
	free(j);
	return NULL;
}

/**
 * journal_target() - record what is watched
 * @j:		the journal, or NULL
 * @command:	"watch", "run" or "dump"
 * @pid:	the target
 * @argv:	the command started (run, dump --), NULL to read /proc/PID/cmdline
 */
void journal_target(struct journal *j, const char *command, pid_t pid, char *const *argv)
{
	char text[TARGET_MAX + 1], path[64];
	size_t off = 0, i;
	ssize_t n = 0;
	int fd;

	if (!j)
		return;
	journal_meta(j, "command", command);
	snprintf(text, sizeof(text), "%d", (int)pid);
	journal_meta(j, "pid", text);
	text[0] = '\0';
	if (argv) {
		for (i = 0; argv[i] && off < TARGET_MAX; i++)
			off += snprintf(text + off, sizeof(text) - off, "%s%s", i ? " " : "",
					argv[i]);
	} else {
		snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			n = read(fd, text, TARGET_MAX);
			close(fd);
		}
		for (i = 0; n > 0 && i < (size_t)n; i++)
			if (!text[i])
				text[i] = ' ';
		text[n > 0 ? n : 0] = '\0';
		for (i = n > 0 ? n : 0; i > 0 && text[i - 1] == ' '; i--)
			text[i - 1] = '\0';
	}
	journal_meta(j, "target", text);
}

/* the file becomes the journal: an earlier file's contents go */
static void take_file(struct journal *j)
{
	struct stat st;

	j->started = true;
	if (j->created || fstat(j->fd, &st) || !S_ISREG(st.st_mode))
		return;
	if (ftruncate(j->fd, 0))
		j->error = errno;
}

/**
 * journal_start() - the session is set up: the journal is written from now
 * @j:			the journal, or NULL
 * @interval_ms:	epoch period, 0: at stops only
 * @nr_tracked:		ranges tracked
 * @watched_pages:	pages watched
 * @buffer_kb:		ring buffer per CPU
 *
 * The header, the records since journal_open() and the start record are on
 * disk when this returns.
 */
void journal_start(struct journal *j, unsigned long interval_ms, uint64_t nr_tracked,
		   uint64_t watched_pages, uint64_t buffer_kb)
{
	struct rec r;

	if (!j)
		return;
	take_file(j);
	if (!rec_begin(j, &r, 32))
		return;
	put_u64(&r, interval_ms);
	put_u64(&r, nr_tracked);
	put_u64(&r, watched_pages);
	put_u64(&r, buffer_kb);
	rec_end(j, &r, JR_START);
	journal_flush(j);
}

static void write_ranges(struct journal *j, const struct out_epoch_info *e)
{
	const struct vmtrack_epoch *ep = e->ep;
	size_t i, k, n;
	uint32_t label;
	struct rec r;

	for (i = 0; i < e->nr_ranges; i++) {
		const struct out_range *m = &e->ranges[i];

		label = intern(j, m->label);
		if (!rec_begin(j, &r, 44))
			return;
		put_u64(&r, ep->seq);
		put_u64(&r, m->start);
		put_u64(&r, m->end);
		put_u64(&r, m->pages);
		put_u64(&r, m->last);
		put_u32(&r, label);
		rec_end(j, &r, JR_MAPPING);
	}
	for (i = 0; i < ep->nr_dirty; i += n) {
		n = ep->nr_dirty - i < DIRTY_PER_RECORD ? ep->nr_dirty - i : DIRTY_PER_RECORD;
		if (!rec_begin(j, &r, 8 + n * 16))
			return;
		put_u64(&r, ep->seq);
		for (k = i; k < i + n; k++) {
			uint64_t start = (uintptr_t)ep->dirty[k].iov_base;

			put_u64(&r, start);
			put_u64(&r, start + ep->dirty[k].iov_len);
		}
		rec_end(j, &r, JR_DIRTY);
	}
}

/**
 * journal_epoch() - record an epoch: its counters, its loss, new mappings
 * @j:	the journal, or NULL
 * @e:	the epoch as the output shows it
 *
 * With JOURNAL_RANGES, also the tracked ranges dirty in it and its dirty
 * ranges. Written out when the buffer is full or a second after the last
 * write.
 */
void journal_epoch(struct journal *j, const struct out_epoch_info *e)
{
	const struct vmtrack_epoch *ep = e->ep;
	uint32_t label;
	struct rec r;

	if (!j)
		return;
	label = e->busiest.last ? intern(j, e->busiest.label) : 0;
	if (!rec_begin(j, &r, 144))
		return;
	put_u64(&r, ep->seq);
	put_f64(&r, e->time);
	put_f64(&r, e->duration);
	put_u8(&r, e->final);
	put_u8(&r, ep->target_gone);
	put_u8(&r, ep->all_dirty);
	put_u32(&r, ep->loss);
	put_u64(&r, ep->watched_pages);
	put_u64(&r, ep->dirty_pages);
	put_u64(&r, ep->nr_dirty);
	put_u64(&r, ep->lost_events);
	put_u64(&r, ep->events);
	put_u64(&r, ep->new_pages);
	put_u64(&r, ep->stray_pages);
	put_u64(&r, ep->rearm_failed);
	put_u64(&r, e->nr_tracked);
	put_u64(&r, e->busiest.last ? e->busiest.start : 0);
	put_u64(&r, e->busiest.last);
	put_u32(&r, label);
	put_u32(&r, e->set ? e->set->set : 0);
	put_u8(&r, ep->swept);
	put_u64(&r, ep->swept_pages);
	put_u8(&r, ep->dense);
	rec_end(j, &r, JR_EPOCH);
	if (ep->loss && rec_begin(j, &r, 20)) {
		put_u64(&r, ep->seq);
		put_u32(&r, ep->loss);
		put_u64(&r, ep->lost_events);
		rec_end(j, &r, JR_LOSS);
	}
	if (ep->new_pages && rec_begin(j, &r, 32)) {
		put_u64(&r, ep->seq);
		put_u64(&r, ep->new_pages);
		put_u64(&r, e->nr_tracked);
		put_u64(&r, ep->watched_pages);
		rec_end(j, &r, JR_RESCAN);
	}
	if ((j->flags & JOURNAL_RANGES) && e->has_ranges)
		write_ranges(j, e);
	if (mono_coarse_ns() - j->flushed_ns >= FLUSH_EVERY_NS)
		journal_flush(j);
}

/**
 * journal_freeze() - record how long the target was frozen
 * @j:		the journal, or NULL
 * @seq:	the epoch (watch, run) or iteration (dump) taken frozen
 * @ms:		milliseconds from the freeze to the thaw
 */
void journal_freeze(struct journal *j, uint64_t seq, double ms)
{
	struct rec r;

	if (!j || !rec_begin(j, &r, 16))
		return;
	put_u64(&r, seq);
	put_f64(&r, ms);
	rec_end(j, &r, JR_FREEZE);
}

/**
 * journal_summary() - record the totals of a watch or run, or of a dirty set
 * @j:			the journal, or NULL
 * @pid:		the target
 * @rs:			totals over the run
 * @watched_pages:	pages watched at the end
 * @ranges:		every tracked range
 * @n:			entries in @ranges
 * @set:		the dirty set (--follow), 0 for the one of a run
 */
void journal_summary(struct journal *j, pid_t pid, const struct vmtrack_run_stats *rs,
		     uint64_t watched_pages, const struct out_range *ranges, size_t n,
		     unsigned int set)
{
	uint32_t label;
	struct rec r;
	size_t i;

	if (!j || !rec_begin(j, &r, 56))
		return;
	put_u64(&r, rs->epochs);
	put_f64(&r, rs->seconds);
	put_u64(&r, rs->dirty_pages);
	put_u64(&r, rs->loss_epochs);
	put_u64(&r, rs->lost_events);
	put_u64(&r, watched_pages);
	put_u32(&r, pid);
	put_u32(&r, set);
	rec_end(j, &r, JR_SUMMARY);
	for (i = 0; i < n; i++) {
		label = intern(j, ranges[i].label);
		if (!rec_begin(j, &r, 44))
			return;
		put_u64(&r, ranges[i].start);
		put_u64(&r, ranges[i].end);
		put_u64(&r, ranges[i].pages);
		put_u64(&r, ranges[i].last);
		put_u64(&r, ranges[i].total);
		put_u32(&r, label);
		rec_end(j, &r, JR_SUMMARY_RANGE);
	}
}

/**
 * journal_set() - record that a dirty set of a followed tree starts
 * @j:			the journal, or NULL
 * @set:		the set
 * @watched_pages:	pages watched at its start
 */
void journal_set(struct journal *j, const struct out_set *set, uint64_t watched_pages)
{
	uint32_t comm, origin;
	struct rec r;

	if (!j)
		return;
	comm = intern(j, set->comm);
	origin = intern(j, set->origin);
	if (!rec_begin(j, &r, 36))
		return;
	put_u32(&r, set->set);
	put_u32(&r, set->pid);
	put_u32(&r, set->ppid);
	put_f64(&r, set->time);
	put_u64(&r, watched_pages);
	put_u32(&r, comm);
	put_u32(&r, origin);
	rec_end(j, &r, JR_SET);
}

/**
 * journal_unwatched() - record a followed process that has no dirty set
 * @j:		the journal, or NULL
 * @pid:	the process
 * @comm:	its name
 * @why:	the reason
 */
void journal_unwatched(struct journal *j, pid_t pid, const char *comm, const char *why)
{
	uint32_t c, w;
	struct rec r;

	if (!j)
		return;
	c = intern(j, comm);
	w = intern(j, why);
	if (!rec_begin(j, &r, 12))
		return;
	put_u32(&r, pid);
	put_u32(&r, c);
	put_u32(&r, w);
	rec_end(j, &r, JR_UNWATCHED);
}

/**
 * journal_follow() - record the totals of a followed tree
 * @j:		the journal, or NULL
 * @ts:		the totals
 */
void journal_follow(struct journal *j, const struct out_tree_stats *ts)
{
	struct rec r;

	if (!j || !rec_begin(j, &r, 48))
		return;
	put_u32(&r, ts->pid);
	put_u32(&r, ts->sets);
	put_u32(&r, ts->processes);
	put_u32(&r, ts->unwatched);
	put_u64(&r, ts->epochs);
	put_f64(&r, ts->seconds);
	put_u64(&r, ts->dirty_pages);
	put_u64(&r, ts->loss_epochs);
	rec_end(j, &r, JR_FOLLOW);
}

/**
 * journal_dump_iter() - record an iteration of vmtrack dump
 * @j:	the journal, or NULL
 * @it:	the iteration
 */
void journal_dump_iter(struct journal *j, const struct dump_iter_info *it)
{
	uint32_t stop;
	struct rec r;

	if (!j)
		return;
	stop = intern(j, it->stop);
	if (!rec_begin(j, &r, 82))
		return;
	put_u32(&r, it->iter);
	put_u8(&r, it->frozen);
	put_u64(&r, it->dirty);
	put_u64(&r, it->pages);
	put_u64(&r, it->holes);
	put_u64(&r, it->gone);
	put_f64(&r, it->seconds);
	put_f64(&r, it->bandwidth);
	put_u8(&r, it->all_dirty);
	put_u32(&r, it->loss);
	put_u32(&r, stop);
	put_u32(&r, it->throttle);
	put_f64(&r, it->held_s);
	rec_end(j, &r, JR_DUMP_ITER);
	journal_flush(j);
}

/**
 * journal_dump_pending() - record the convergence check after an epoch
 * @j:			the journal, or NULL
 * @pending:		pages the next iteration would copy
 * @estimate_ms:	their estimated copy time
 * @stop:		the rule that stops the loop, "no" if none
 */
void journal_dump_pending(struct journal *j, uint64_t pending, double estimate_ms,
			  const char *stop)
{
	uint32_t id;
	struct rec r;

	if (!j)
		return;
	id = intern(j, stop);
	if (!rec_begin(j, &r, 20))
		return;
	put_u64(&r, pending);
	put_f64(&r, estimate_ms);
	put_u32(&r, id);
	rec_end(j, &r, JR_DUMP_PENDING);
}

/**
 * journal_dump_summary() - record the end of vmtrack dump
 * @j:	the journal, or NULL
 * @s:	the summary
 */
void journal_dump_summary(struct journal *j, const struct dump_summary_info *s)
{
	uint32_t stop, dest;
	struct rec r;

	if (!j)
		return;
	stop = intern(j, s->stop);
	dest = intern(j, s->dest);
	if (!rec_begin(j, &r, 53))
		return;
	put_u32(&r, s->pid);
	put_u32(&r, s->iterations);
	put_u64(&r, s->pages);
	put_u32(&r, stop);
	put_f64(&r, s->freeze_ms);
	put_f64(&r, s->total_s);
	put_f64(&r, s->bandwidth);
	put_u8(&r, s->left_stopped);
	put_u32(&r, dest);
	rec_end(j, &r, JR_DUMP_SUMMARY);
}

/**
 * journal_close() - write the end record and close the file
 * @j:		the journal, or NULL
 * @status:	the command's exit status
 * @err:	receives a one-line reason on failure
 * @errlen:	size of @err
 *
 * A journal that was never started (the run failed before it watched
 * anything) is dropped: nothing is written, the file is removed if
 * journal_open() created it, and an existing file is left as it was.
 *
 * Return: 0, or -1 with @err set if a write failed at any point.
 */
int journal_close(struct journal *j, int status, char *err, size_t errlen)
{
	struct rec r;
	size_t i;
	int ret = 0;

	if (!j)
		return 0;
	if (j->started && rec_begin(j, &r, 4)) {
		put_u32(&r, status);
		rec_end(j, &r, JR_END);
	}
	journal_flush(j);
	if (close(j->fd) && !j->error)
		j->error = errno;
	if (!j->started && j->created)
		unlink(j->path);
	if (j->error) {
		snprintf(err, errlen, "journal %s: %s", j->path, strerror(j->error));
		ret = -1;
	}
	for (i = 0; i < j->strs_cap; i++)
		free(j->strs[i].s);
	free(j->strs);
	free(j->buf);
	free(j->path);
	free(j);
	return ret;
}
