// SPDX-License-Identifier: GPL-2.0-only
/*
 * The journal reader: checks the framing of every record (length, checksum)
 * and decodes the data records through the format table the file carries,
 * so that a journal of an older or newer writer is read by field name.
 * Reading stops at the first record that is cut short or damaged; what came
 * before it is good.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"

/* string ids above this are taken as damage, not allocated for */
#define MAX_STRINGS	(1U << 24)

struct jreader {
	const uint8_t		*buf;
	size_t			len;
	bool			mapped;
	size_t			pos;
	unsigned int		minor;
	struct jr_format	**fmts;		/* by record id */
	size_t			nr_fmts;
	char			**strs;		/* by string id */
	size_t			nr_strs;
	char			**meta;		/* key, value, key, value, ... */
	size_t			nr_meta;
	uint64_t		stop_offset;
	char			err[256];
};

static inline uint16_t get_u16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return le16toh(v);
}

static inline uint32_t get_u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static inline uint64_t get_u64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static size_t type_size(uint8_t type)
{
	switch (type) {
	case JT_U8:
		return 1;
	case JT_U32:
	case JT_STR:
		return 4;
	case JT_U64:
	case JT_F64:
		return 8;
	default:
		return 0;
	}
}

static int stop(struct jreader *r, const char *why)
{
	r->stop_offset = r->pos;
	snprintf(r->err, sizeof(r->err), "stopped at byte %zu: %s", r->pos, why);
	return -1;
}

static void free_format(struct jr_format *f)
{
	unsigned int i;

	if (!f)
		return;
	for (i = 0; f->names && i < f->nr_fields; i++)
		free(f->names[i]);
	free(f->names);
	free(f->types);
	free(f->offsets);
	free(f->name);
	free(f->fmt);
	free(f);
}

/* a NUL-terminated string at *p within end; NULL if there is none */
static const char *take_cstr(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *nul = memchr(*p, 0, end - *p);
	const char *s = (const char *)*p;

	if (!nul)
		return NULL;
	*p = nul + 1;
	return s;
}

static int parse_format(struct jreader *r, const uint8_t *p, const uint8_t *end)
{
	struct jr_format *f = NULL, **t;
	const char *name, *fmt, *fname;
	unsigned int i;
	uint16_t id;

	if (end - p < 4)
		return stop(r, "malformed format record");
	id = get_u16(p);
	f = calloc(1, sizeof(*f));
	if (!f)
		return stop(r, "out of memory");
	f->id = id;
	f->nr_fields = get_u16(p + 2);
	p += 4;
	name = take_cstr(&p, end);
	fmt = name ? take_cstr(&p, end) : NULL;
	f->types = calloc(f->nr_fields + 1, 1);
	f->names = calloc(f->nr_fields + 1, sizeof(*f->names));
	f->offsets = calloc(f->nr_fields + 1, sizeof(*f->offsets));
	if (!fmt || !f->types || !f->names || !f->offsets)
		goto bad;
	f->name = strdup(name);
	f->fmt = strdup(fmt);
	for (i = 0; i < f->nr_fields; i++) {
		if (p >= end)
			goto bad;
		f->types[i] = *p++;
		fname = take_cstr(&p, end);
		if (!fname || !(f->names[i] = strdup(fname)))
			goto bad;
		f->offsets[i] = f->fixed;
		if (f->types[i] == JT_U64_ARRAY) {
			if (i != f->nr_fields - 1u)
				goto bad;
		} else if (!type_size(f->types[i])) {
			goto bad;
		}
		f->fixed += type_size(f->types[i]);
	}
	if (id < JR_START || (id < r->nr_fmts && r->fmts[id]))
		goto bad;
	if (id >= r->nr_fmts) {
		t = realloc(r->fmts, (id + 1) * sizeof(*t));
		if (!t)
			goto bad;
		memset(t + r->nr_fmts, 0, (id + 1 - r->nr_fmts) * sizeof(*t));
		r->fmts = t;
		r->nr_fmts = id + 1;
	}
	r->fmts[id] = f;
	return 0;
bad:
	free_format(f);
	return stop(r, "malformed format record");
}

static int parse_meta(struct jreader *r, const uint8_t *p, const uint8_t *end)
{
	const char *key = take_cstr(&p, end);
	const char *value = key ? take_cstr(&p, end) : NULL;
	char **t;

	if (!value)
		return stop(r, "malformed metadata record");
	t = realloc(r->meta, (r->nr_meta + 2) * sizeof(*t));
	if (!t)
		return stop(r, "out of memory");
	r->meta = t;
	t[r->nr_meta] = strdup(key);
	t[r->nr_meta + 1] = strdup(value);
	r->nr_meta += 2;
	if (!t[r->nr_meta - 2] || !t[r->nr_meta - 1])
		return stop(r, "out of memory");
	return 0;
}

static int parse_string(struct jreader *r, const uint8_t *p, const uint8_t *end)
{
	uint32_t id;
	char **t;

	if (end - p < 4)
		return stop(r, "malformed string record");
	id = get_u32(p);
	if (!id || id >= MAX_STRINGS || (id < r->nr_strs && r->strs[id]))
		return stop(r, "malformed string record");
	if (id >= r->nr_strs) {
		size_t n = id + 1 > 2 * r->nr_strs ? id + 1 : 2 * r->nr_strs;

		t = realloc(r->strs, n * sizeof(*t));
		if (!t)
			return stop(r, "out of memory");
		memset(t + r->nr_strs, 0, (n - r->nr_strs) * sizeof(*t));
		r->strs = t;
		r->nr_strs = n;
	}
	r->strs[id] = strndup((const char *)p + 4, end - p - 4);
	if (!r->strs[id])
		return stop(r, "out of memory");
	return 0;
}

/*
 * The record at r->pos: its framing checked, the framing's own records
 * taken in. Return: 1 for a data record in @rec, 0 at the end, -1 when
 * reading stops (r->err says where and why).
 */
static int step(struct jreader *r, struct jr_record *rec)
{
	const uint8_t *p = r->buf + r->pos;
	size_t left = r->len - r->pos;
	uint32_t len;
	uint16_t id;
	int ret;

	if (!left)
		return 0;
	if (left < JOURNAL_REC_HDR)
		return stop(r, "truncated record");
	len = get_u32(p);
	id = get_u16(p + 4);
	if (len < JOURNAL_REC_HDR || len > JOURNAL_MAX_RECORD)
		return stop(r, "bad record length");
	if (len > left)
		return stop(r, "truncated record");
	if (journal_checksum(p, len) != get_u32(p + 8))
		return stop(r, "bad checksum");
	switch (id) {
	case JR_FORMAT:
		ret = parse_format(r, p + JOURNAL_REC_HDR, p + len);
		break;
	case JR_META:
		ret = parse_meta(r, p + JOURNAL_REC_HDR, p + len);
		break;
	case JR_STRING:
		ret = parse_string(r, p + JOURNAL_REC_HDR, p + len);
		break;
	default:
		rec->id = id;
		rec->fmt = id < r->nr_fmts ? r->fmts[id] : NULL;
		rec->data = p + JOURNAL_REC_HDR;
		rec->len = len - JOURNAL_REC_HDR;
		rec->offset = r->pos;
		if (rec->fmt && rec->len < rec->fmt->fixed)
			return stop(r, "record shorter than its format");
		r->pos += len;
		return 1;
	}
	if (ret)
		return ret;
	r->pos += len;
	return 2;
}

/**
 * jreader_next() - the next data record
 * @r:		the reader
 * @rec:	receives the record (valid while @r is open)
 *
 * Format, metadata and string records are taken in on the way.
 *
 * Return: 1 with @rec filled in, 0 at the end of the file, or -1 when a
 * record is cut short or damaged (jreader_error() says where and why).
 */
int jreader_next(struct jreader *r, struct jr_record *rec)
{
	int ret;

	if (r->err[0])
		return -1;
	do {
		ret = step(r, rec);
	} while (ret == 2);
	return ret;
}

static int check_header(struct jreader *r, char *err, size_t errlen)
{
	unsigned int major;

	if (r->len < JOURNAL_FILE_HDR || memcmp(r->buf, JOURNAL_MAGIC, 8)) {
		snprintf(err, errlen, "not a vmtrack journal");
		return -1;
	}
	major = get_u16(r->buf + 8);
	r->minor = get_u16(r->buf + 10);
	if (major != JOURNAL_MAJOR) {
		snprintf(err, errlen, "journal format %u.%u, this vmtrack reads %u.x",
			 major, r->minor, JOURNAL_MAJOR);
		return -1;
	}
	r->pos = JOURNAL_FILE_HDR;
	return 0;
}

/* the header: the records before the first data record */
static void read_header(struct jreader *r)
{
	struct jr_record rec;
	size_t pos;
	int ret;

	do {
		pos = r->pos;
		ret = step(r, &rec);
	} while (ret == 2);
	if (ret == 1)
		r->pos = pos;
}

/**
 * jreader_open_mem() - read a journal held in memory
 * @buf:	the bytes, kept by the caller while the reader is open
 * @len:	their number
 * @err:	receives a one-line reason on failure
 * @errlen:	size of @err
 *
 * Return: the reader, or NULL with @err set (not a journal, another major
 * version, out of memory).
 */
struct jreader *jreader_open_mem(const void *buf, size_t len, char *err, size_t errlen)
{
	struct jreader *r = calloc(1, sizeof(*r));

	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->buf = buf;
	r->len = len;
	if (check_header(r, err, errlen)) {
		free(r);
		return NULL;
	}
	read_header(r);
	return r;
}

/**
 * jreader_open() - read a journal file
 * @path:	the file
 * @err:	receives a one-line reason on failure
 * @errlen:	size of @err
 *
 * Return: the reader, or NULL with @err set.
 */
struct jreader *jreader_open(const char *path, char *err, size_t errlen)
{
	struct jreader *r;
	struct stat st;
	void *map;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "not a regular file");
		close(fd);
		return NULL;
	}
	/* journal_open() creates the file, journal_start() writes the header */
	if (!st.st_size) {
		snprintf(err, errlen, "empty file: the run that created it was killed before "
			 "it started");
		close(fd);
		return NULL;
	}
	if (st.st_size < JOURNAL_FILE_HDR) {
		snprintf(err, errlen, "not a vmtrack journal");
		close(fd);
		return NULL;
	}
	map = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		snprintf(err, errlen, "%s", strerror(errno));
		return NULL;
	}
	r = jreader_open_mem(map, st.st_size, err, errlen);
	if (!r) {
		munmap(map, st.st_size);
		return NULL;
	}
	r->mapped = true;
	return r;
}

/**
 * jreader_close() - free a reader
 * @r:	the reader, or NULL
 */
void jreader_close(struct jreader *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->nr_fmts; i++)
		free_format(r->fmts[i]);
	for (i = 0; i < r->nr_strs; i++)
		free(r->strs[i]);
	for (i = 0; i < r->nr_meta; i++)
		free(r->meta[i]);
	free(r->fmts);
	free(r->strs);
	free(r->meta);
	if (r->mapped)
		munmap((void *)r->buf, r->len);
	free(r);
}

/**
 * jreader_meta() - a value of the header's metadata
 * @r:		the reader
 * @key:	"kernel", "tool", "command", "pid", "target", "page_size", ...
 *
 * Return: the value, or NULL if the journal has none.
 */
const char *jreader_meta(const struct jreader *r, const char *key)
{
	size_t i;

	for (i = 0; i < r->nr_meta; i += 2)
		if (!strcmp(r->meta[i], key))
			return r->meta[i + 1];
	return NULL;
}

/**
 * jreader_minor() - the minor version of the journal's format
 * @r:	the reader
 *
 * Return: the minor version the writer wrote.
 */
unsigned int jreader_minor(const struct jreader *r)
{
	return r->minor;
}

/**
 * jreader_error() - why reading stopped
 * @r:	the reader
 *
 * Return: "stopped at byte N: REASON", or "" if it did not.
 */
const char *jreader_error(const struct jreader *r)
{
	return r->err;
}

/**
 * jreader_stop_offset() - where reading stopped
 * @r:	the reader
 *
 * Return: the offset of the first record that could not be read.
 */
uint64_t jreader_stop_offset(const struct jreader *r)
{
	return r->stop_offset;
}

/**
 * jr_field() - find an argument of a format by name
 * @f:		the format, or NULL
 * @name:	the argument's name
 *
 * Return: its index, or -1 if the format has no such argument (an older
 * writer): the accessors then return 0.
 */
int jr_field(const struct jr_format *f, const char *name)
{
	unsigned int i;

	for (i = 0; f && i < f->nr_fields; i++)
		if (!strcmp(f->names[i], name))
			return i;
	return -1;
}

static const uint8_t *field_at(const struct jr_record *rec, int field, uint8_t *type)
{
	if (field < 0 || !rec->fmt || (unsigned int)field >= rec->fmt->nr_fields)
		return NULL;
	*type = rec->fmt->types[field];
	return rec->data + rec->fmt->offsets[field];
}

/**
 * jr_u64() - an integer argument
 * @rec:	the record
 * @field:	index from jr_field()
 *
 * Return: its value (u8, u32, u64 or a string id), 0 if absent.
 */
uint64_t jr_u64(const struct jr_record *rec, int field)
{
	uint8_t type;
	const uint8_t *p = field_at(rec, field, &type);

	if (!p)
		return 0;
	switch (type) {
	case JT_U8:
		return *p;
	case JT_U32:
	case JT_STR:
		return get_u32(p);
	case JT_U64:
		return get_u64(p);
	case JT_F64:
		return jr_f64(rec, field);
	default:
		return 0;
	}
}

/**
 * jr_f64() - a floating point argument
 * @rec:	the record
 * @field:	index from jr_field()
 *
 * Return: its value (integers converted), 0 if absent.
 */
double jr_f64(const struct jr_record *rec, int field)
{
	uint8_t type;
	const uint8_t *p = field_at(rec, field, &type);
	uint64_t v;
	double d;

	if (!p)
		return 0;
	if (type != JT_F64)
		return (double)jr_u64(rec, field);
	v = get_u64(p);
	memcpy(&d, &v, sizeof(d));
	return d;
}

/**
 * jr_str() - a string argument
 * @r:		the reader (its string table)
 * @rec:	the record
 * @field:	index from jr_field()
 *
 * Return: the string, "" if absent or unknown.
 */
const char *jr_str(const struct jreader *r, const struct jr_record *rec, int field)
{
	uint8_t type;
	const uint8_t *p = field_at(rec, field, &type);
	uint32_t id;

	if (!p || type != JT_STR)
		return "";
	id = get_u32(p);
	return id < r->nr_strs && r->strs[id] ? r->strs[id] : "";
}

/**
 * jr_array() - a trailing array argument
 * @rec:	the record
 * @field:	index from jr_field()
 * @values:	receives its first byte; read with jr_array_at()
 *
 * Return: the number of values.
 */
size_t jr_array(const struct jr_record *rec, int field, const uint8_t **values)
{
	uint8_t type;
	const uint8_t *p = field_at(rec, field, &type);

	if (!p || type != JT_U64_ARRAY)
		return 0;
	*values = p;
	return (rec->len - rec->fmt->offsets[field]) / 8;
}

/**
 * jr_array_at() - one value of a trailing array
 * @values:	from jr_array()
 * @i:		index
 *
 * Return: the value.
 */
uint64_t jr_array_at(const uint8_t *values, size_t i)
{
	return get_u64(values + i * 8);
}
