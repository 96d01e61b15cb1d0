// SPDX-License-Identifier: LGPL-2.1
/*
 * Decoding of raw ring-buffer sub-buffers (per_cpu/cpuN/trace_pipe_raw).
 *
 * A hand-rolled, same-endian walker: the kernel and this program run on the
 * same machine. Field offsets are resolved by name once per event type from
 * the event formats libtraceevent parsed, then every record is dispatched on
 * its common_type.
 *
 * Sub-buffer layout (events/header_page): u64 timestamp, long commit (data
 * size in the low 27 bits, bit 31 = events missed before this page), then the
 * events. Each event starts with a u32: type_len (5 low bits) and time_delta
 * (27 high bits):
 *   0		data length in the next u32 (length + 4), data follows it
 *   1 .. 28	data of type_len * 4 bytes follows
 *   29		padding: time_delta 0 ends the page, else next u32 = length
 *   30		time extend: next u32 << 27 + time_delta is a delta
 *   31		time stamp: next u32 << 27 + time_delta is absolute (low 59 bits)
 * (RINGBUF_TYPE_* in include/linux/ring_buffer.h; the unit tests check the
 * walker against libtraceevent's kbuffer.)
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <traceevent/event-parse.h>

#include "internal.h"

struct dec_field {
	int		offset;
	int		size;
	bool		is_signed;
};

struct dec_type {
	unsigned int	id;
	int		kind;
	struct dec_field mm_id;
	struct dec_field tgid;
	struct dec_field mm_seq;	/* size 0: the kernel numbers no events */
	struct dec_field f[3];
	int		nr_fields;
	int		min_size;
};

/* mm_watch_rearm is decoded as a mark with arg (rearm) 1 */
#define DEC_REARM	VMTRACK_EV_NR
#define DEC_NR_TYPES	(VMTRACK_EV_NR + 1)

struct vmtrack_decoder {
	struct dec_field	common_type;
	struct dec_type		types[DEC_NR_TYPES];
	const struct dec_type	*last;		/* of the last record: most are write faults */
	/* write faults of one page: see vmtrack_decoder_set_page_fn() */
	vmtrack_page_fn		page_fn;
	void			*page_ctx;
	uint64_t		page_size;
	uint32_t		seq;
	uint64_t		unknown;
	uint64_t		missed_pages;
};

static const struct {
	const char	*name;
	const char	*fields[3];
	int		nr;
} ev_desc[DEC_NR_TYPES] = {
	[VMTRACK_EV_MARK]	 = { "mm_watch_mark",	    { "start", "end" }, 2 },
	[VMTRACK_EV_UNMARK]	 = { "mm_watch_unmark",	    { "start", "end" }, 2 },
	[VMTRACK_EV_WRITE_FAULT] = { "mm_watch_write_fault", { "address", "size" }, 2 },
	[VMTRACK_EV_ZAP]	 = { "mm_watch_zap",	    { "start", "end", "reason" }, 3 },
	[VMTRACK_EV_MOVE]	 = { "mm_watch_move", { "old_start", "new_start", "len" }, 3 },
	[VMTRACK_EV_UNMAP]	 = { "mm_watch_unmap",	    { "start", "end" }, 2 },
	[VMTRACK_EV_EXIT]	 = { "mm_watch_exit",	    { NULL }, 0 },
	[VMTRACK_EV_PINNED]	 = { "mm_watch_pinned",	    { "address", "size" }, 2 },
	[DEC_REARM]		 = { "mm_watch_rearm",	    { "start", "end" }, 2 },
};

/**
 * vmtrack_event_name() - name of an event kind
 * @kind:	enum vmtrack_event_kind
 *
 * Return: the trace event name ("mm_watch_write_fault", ...), or "?" if out of range.
 */
const char *vmtrack_event_name(int kind)
{
	if (kind < 0 || kind >= VMTRACK_EV_NR)
		return "?";
	return ev_desc[kind].name;
}

/* value of "key:NUMBER;" after @from in @line, or -1 */
static long header_value(const char *line, const char *key)
{
	const char *p = strstr(line, key);

	if (!p)
		return -1;
	return strtol(p + strlen(key), NULL, 10);
}

/**
 * vmtrack_page_layout_parse() - read the sub-buffer layout from header_page
 * @header_page:	text of events/header_page
 * @layout:		filled in; subbuf_size is data offset + data size
 *
 * Only the "commit" and "data" fields are used. The caller may replace
 * subbuf_size with the instance's buffer_subbuf_size_kb.
 *
 * Return: 0, or -EINVAL if a field is missing or implausible.
 */
int vmtrack_page_layout_parse(const char *header_page, struct vmtrack_page_layout *layout)
{
	long coff = -1, csize = -1, doff = -1, dsize = -1;
	const char *line = header_page;

	while (line && *line) {
		const char *nl = strchr(line, '\n');
		char buf[256];
		size_t len = nl ? (size_t)(nl - line) : strlen(line);

		len = min(len, sizeof(buf) - 1);
		memcpy(buf, line, len);
		buf[len] = '\0';
		if (strstr(buf, "field:") && strstr(buf, " commit;")) {
			coff = header_value(buf, "offset:");
			csize = header_value(buf, "size:");
		} else if (strstr(buf, "field:") && strstr(buf, " data;")) {
			doff = header_value(buf, "offset:");
			dsize = header_value(buf, "size:");
		}
		line = nl ? nl + 1 : NULL;
	}
	if (coff < 0 || (csize != 4 && csize != 8) || doff < coff + csize || dsize <= 0)
		return -EINVAL;
	layout->commit_offset = coff;
	layout->commit_size = csize;
	layout->data_offset = doff;
	layout->subbuf_size = doff + dsize;
	return 0;
}

static int field_resolve(struct tep_event *event, const char *name, struct dec_field *f,
			 char *err, size_t errlen)
{
	struct tep_format_field *field = tep_find_field(event, name);

	if (!field)
		field = tep_find_common_field(event, name);
	if (!field || field->offset < 0 ||
	    (field->size != 1 && field->size != 2 && field->size != 4 && field->size != 8)) {
		set_err(err, errlen, "event %s:%s has no usable field '%s'",
			event->system, event->name, name);
		return -ENOENT;
	}
	f->offset = field->offset;
	f->size = field->size;
	f->is_signed = field->flags & TEP_FIELD_IS_SIGNED;
	return 0;
}

static int type_resolve(struct tep_handle *tep, int type, struct dec_type *t,
			char *err, size_t errlen)
{
	struct tep_event *event;
	int i, end;

	event = tep_find_event_by_name(tep, VMTRACK_SYSTEM, ev_desc[type].name);
	if (!event) {
		set_err(err, errlen, "kernel has no %s:%s event", VMTRACK_SYSTEM,
			ev_desc[type].name);
		return -ENOENT;
	}
	t->id = event->id;
	t->kind = type == DEC_REARM ? VMTRACK_EV_MARK : type;
	t->nr_fields = ev_desc[type].nr;
	if (field_resolve(event, "mm_id", &t->mm_id, err, errlen) ||
	    field_resolve(event, "tgid", &t->tgid, err, errlen))
		return -ENOENT;
	t->min_size = max(t->mm_id.offset + t->mm_id.size, t->tgid.offset + t->tgid.size);
	if (tep_find_field(event, "seq")) {
		if (field_resolve(event, "seq", &t->mm_seq, err, errlen))
			return -ENOENT;
		t->min_size = max(t->min_size, t->mm_seq.offset + t->mm_seq.size);
	}
	for (i = 0; i < t->nr_fields; i++) {
		if (field_resolve(event, ev_desc[type].fields[i], &t->f[i], err, errlen))
			return -ENOENT;
		end = t->f[i].offset + t->f[i].size;
		t->min_size = max(t->min_size, end);
	}
	return 0;
}

/**
 * vmtrack_decoder_new() - resolve the mm_watch event formats once
 * @tep:	handle with the mm_watch formats parsed
 *		(tracefs_local_events_system() or tep_parse_event())
 * @err:	buffer for a one-line reason on failure, may be NULL
 * @errlen:	size of @err
 *
 * Looks up every mm_watch event and the offsets of its fields by name, so
 * decoding a record is a switch on common_type and a few loads.
 *
 * Return: the decoder, or NULL (with @err filled) if an event or field is
 * missing or the allocation failed.
 */
struct vmtrack_decoder *vmtrack_decoder_new(struct tep_handle *tep, char *err, size_t errlen)
{
	struct vmtrack_decoder *dec;
	struct tep_event *event;
	int type;

	dec = calloc(1, sizeof(*dec));
	if (!dec) {
		set_err(err, errlen, "out of memory");
		return NULL;
	}
	for (type = 0; type < DEC_NR_TYPES; type++)
		if (type_resolve(tep, type, &dec->types[type], err, errlen))
			goto fail;
	event = tep_find_event_by_name(tep, VMTRACK_SYSTEM, ev_desc[0].name);
	if (field_resolve(event, "common_type", &dec->common_type, err, errlen))
		goto fail;
	return dec;
fail:
	free(dec);
	return NULL;
}

/**
 * vmtrack_decoder_free() - free a decoder
 * @dec:	the decoder, may be NULL
 */
void vmtrack_decoder_free(struct vmtrack_decoder *dec)
{
	free(dec);
}

/**
 * vmtrack_decoder_kind() - the event kind of a common_type value
 * @dec:	the decoder
 * @type:	common_type (trace event id)
 *
 * Return: enum vmtrack_event_kind, or -1 if @type is not an mm_watch event.
 */
static const struct dec_type *find_type(const struct vmtrack_decoder *dec, unsigned int type)
{
	int i;

	for (i = 0; i < DEC_NR_TYPES; i++)
		if (dec->types[i].id == type)
			return &dec->types[i];
	return NULL;
}

int vmtrack_decoder_kind(const struct vmtrack_decoder *dec, unsigned int type)
{
	const struct dec_type *t = find_type(dec, type);

	return t ? t->kind : -1;
}

static const struct dec_type *record_type(struct vmtrack_decoder *dec, unsigned int type)
{
	if (!dec->last || dec->last->id != type)
		dec->last = find_type(dec, type);
	return dec->last;
}

uint64_t vmtrack_decoder_missed_pages(const struct vmtrack_decoder *dec)
{
	return dec->missed_pages;
}

static uint64_t load(const uint8_t *p, const struct dec_field *f)
{
	const uint8_t *q = p + f->offset;
	uint64_t v = 0;
	uint32_t v32;
	uint16_t v16;
	uint8_t v8;

	switch (f->size) {
	case 1:
		memcpy(&v8, q, 1);
		return f->is_signed ? (uint64_t)(int8_t)v8 : v8;
	case 2:
		memcpy(&v16, q, 2);
		return f->is_signed ? (uint64_t)(int16_t)v16 : v16;
	case 4:
		memcpy(&v32, q, 4);
		return f->is_signed ? (uint64_t)(int32_t)v32 : v32;
	default:
		memcpy(&v, q, 8);
		return v;
	}
}

static uint64_t ld64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

/* the write_fault fields in the sizes the fast path reads */
static bool page_fast_ok(const struct dec_type *t)
{
	return t->mm_id.size == 8 && t->tgid.size == 4 && t->tgid.is_signed &&
	       (t->mm_seq.size == 8 || !t->mm_seq.size) && t->f[0].size == 8 &&
	       t->f[1].size == 8;
}

/**
 * vmtrack_decoder_set_page_fn() - a fast path for write faults of one page
 * @dec:	the decoder
 * @page_size:	the size a write_fault must have to take it
 * @fn:		called instead of the event callback, NULL to stop
 * @ctx:	its first argument
 *
 * Ignored if the kernel's write_fault fields have other sizes than usual.
 */
void vmtrack_decoder_set_page_fn(struct vmtrack_decoder *dec, uint64_t page_size,
				 vmtrack_page_fn fn, void *ctx)
{
	dec->page_fn = page_fast_ok(&dec->types[VMTRACK_EV_WRITE_FAULT]) ? fn : NULL;
	dec->page_ctx = ctx;
	dec->page_size = page_size;
}

/* a write_fault of one page that @dec->page_fn took */
static bool page_fast(struct vmtrack_decoder *dec, const struct dec_type *t,
		      const uint8_t *data)
{
	int32_t tgid;

	if (ld64(data + t->f[1].offset) != dec->page_size)
		return false;
	memcpy(&tgid, data + t->tgid.offset, 4);
	return dec->page_fn(dec->page_ctx, ld64(data + t->mm_id.offset), tgid,
			    t->mm_seq.size ? ld64(data + t->mm_seq.offset) : 0,
			    ld64(data + t->f[0].offset));
}

/* 1: decoded, 0: other event type, -EBADMSG: too short; *ret: @fn's value */
static int decode_record(struct vmtrack_decoder *dec, const uint8_t *data, unsigned int len,
			 uint64_t ts, int cpu, vmtrack_event_fn fn, void *ctx, int *ret)
{
	const struct dec_type *t;
	struct vmtrack_event ev;
	uint64_t v[3] = { 0 };
	int kind, i;

	if (len < (unsigned int)(dec->common_type.offset + dec->common_type.size))
		return -EBADMSG;
	t = record_type(dec, load(data, &dec->common_type));
	if (!t) {
		dec->unknown++;
		return 0;
	}
	kind = t->kind;
	if (len < (unsigned int)t->min_size)
		return -EBADMSG;
	if (dec->page_fn && kind == VMTRACK_EV_WRITE_FAULT && page_fast(dec, t, data)) {
		dec->seq++;
		return 1;
	}
	for (i = 0; i < t->nr_fields; i++)
		v[i] = load(data, &t->f[i]);

	memset(&ev, 0, sizeof(ev));
	ev.ts = ts;
	ev.cpu = cpu;
	ev.seq = dec->seq++;
	ev.kind = kind;
	ev.mm_id = load(data, &t->mm_id);
	ev.tgid = (int32_t)load(data, &t->tgid);
	if (t->mm_seq.size)
		ev.mm_seq = load(data, &t->mm_seq);
	ev.a = v[0];
	ev.b = v[1];
	if (kind == VMTRACK_EV_MARK)
		ev.arg = t == &dec->types[DEC_REARM];
	else if (kind == VMTRACK_EV_ZAP)
		ev.arg = (int32_t)v[2];
	else
		ev.c = v[2];
	*ret = fn(&ev, ctx);
	return 1;
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

/*
 * Decode the records of @page's data from byte @pos to @end (offsets from
 * the start of the page); *@ts: the timestamp at @pos, updated to @end's.
 */
static int decode_records(struct vmtrack_decoder *dec, const uint8_t *page, size_t pos,
			  size_t end, uint64_t *ts, int cpu, vmtrack_event_fn fn, void *ctx)
{
	int n = 0, ret, cb;

	while (pos + 4 <= end) {
		uint32_t hdr = rd32(page + pos);
		uint32_t type_len = hdr & RB_TYPE_LEN_MASK;
		uint64_t delta = hdr >> 5;
		uint32_t dlen;

		if (type_len == RB_TYPE_PADDING && !delta)
			break;			/* rest of the page is unused */
		if (type_len == 0 || type_len > RB_TYPE_DATA_MAX) {
			if (pos + 8 > end)
				return -EBADMSG;
		}
		switch (type_len) {
		case RB_TYPE_PADDING:
			dlen = rd32(page + pos + 4);
			if (!dlen || pos + 4 + (size_t)dlen > end)
				return -EBADMSG;
			*ts += delta;
			pos += 4 + dlen;
			continue;
		case RB_TYPE_TIME_EXTEND:
			*ts += ((uint64_t)rd32(page + pos + 4) << RB_TS_SHIFT) + delta;
			pos += 8;
			continue;
		case RB_TYPE_TIME_STAMP: {
			uint64_t abs = ((uint64_t)rd32(page + pos + 4) << RB_TS_SHIFT) + delta;

			/* the kernel's rb_fix_abs_ts(): the top bits come from before */
			abs |= *ts & ~RB_ABS_TS_MASK;
			if (abs < *ts && (*ts & ~RB_ABS_TS_MASK))
				abs += RB_ABS_TS_MASK + 1;
			*ts = abs;
			pos += 8;
			continue;
		}
		case 0:
			dlen = rd32(page + pos + 4);
			if (dlen < 4)
				return -EBADMSG;
			dlen = (dlen - 4 + 3) & ~3U;
			pos += 8;
			break;
		default:
			dlen = type_len * 4;
			pos += 4;
			break;
		}
		if (pos + dlen > end)
			return -EBADMSG;
		*ts += delta;
		cb = 0;
		ret = decode_record(dec, page + pos, dlen, *ts, cpu, fn, ctx, &cb);
		if (ret < 0)
			return ret;
		if (cb)
			return cb;
		n += ret;
		pos += dlen;
	}
	return n;
}

/* the commit word of a sub-buffer: data size and the RB_MISSED_* flags */
static uint64_t page_commit(const struct vmtrack_page_layout *layout, const uint8_t *page)
{
	uint64_t commit;
	uint32_t c32;

	if (layout->commit_size == 8) {
		memcpy(&commit, page + layout->commit_offset, 8);
		return commit;
	}
	memcpy(&c32, page + layout->commit_offset, 4);
	return c32;
}

/**
 * vmtrack_decode_subbuf() - decode every mm_watch record of one sub-buffer
 * @dec:	decoder from vmtrack_decoder_new()
 * @layout:	sub-buffer layout (vmtrack_page_layout_parse())
 * @subbuf:	one sub-buffer as read from trace_pipe_raw
 * @len:	bytes available at @subbuf (at least the committed part)
 * @cpu:	CPU the sub-buffer came from, stored in the events
 * @fn:		called for every decoded event, in buffer order; a non-zero
 *		return stops the walk and is returned
 * @ctx:	passed to @fn
 *
 * Records of other event types are skipped. A page whose header says events
 * were missed before it is counted (vmtrack never runs in overwrite mode,
 * where that happens, but a tampered instance could).
 *
 * Return: the number of mm_watch events decoded, -EBADMSG if the sub-buffer
 * is malformed (events before the damage were delivered), or @fn's value.
 */
int vmtrack_decode_subbuf(struct vmtrack_decoder *dec, const struct vmtrack_page_layout *layout,
			  const void *subbuf, size_t len, int cpu, vmtrack_event_fn fn, void *ctx)
{
	const uint8_t *page = subbuf;
	uint64_t ts, commit;
	size_t end;

	if (len < layout->data_offset)
		return -EBADMSG;
	memcpy(&ts, page, 8);
	commit = page_commit(layout, page);
	if (commit & RB_MISSED_EVENTS)
		dec->missed_pages++;
	end = layout->data_offset + (commit & RB_COMMIT_MASK);
	if (end > len)
		return -EBADMSG;
	return decode_records(dec, page, layout->data_offset, end, &ts, cpu, fn, ctx);
}

/**
 * vmtrack_decode_range() - decode the records of part of a sub-buffer
 * @dec:	decoder from vmtrack_decoder_new()
 * @layout:	sub-buffer layout
 * @subbuf:	the sub-buffer, in place in the kernel's ring buffer (mapped)
 * @from:	first data byte to decode (0: the start, where the header's
 *		timestamp and flags are read)
 * @to:		data bytes the kernel handed over (reader.read of the
 *		mapping's meta page), at most the sub-buffer's data size
 * @ts:		timestamp at @from; updated to that at @to
 * @cpu:	CPU the sub-buffer belongs to
 * @fn:		called for every decoded event, as for vmtrack_decode_subbuf()
 * @ctx:	passed to @fn
 *
 * A writer may still be adding records past @to: only the header's
 * timestamp and flags and the bytes below @to are read.
 *
 * Return: as vmtrack_decode_subbuf().
 */
int vmtrack_decode_range(struct vmtrack_decoder *dec, const struct vmtrack_page_layout *layout,
			 const void *subbuf, size_t from, size_t to, uint64_t *ts, int cpu,
			 vmtrack_event_fn fn, void *ctx)
{
	const uint8_t *page = subbuf;

	if (from > to || layout->data_offset + to > layout->subbuf_size)
		return -EBADMSG;
	if (!from) {
		memcpy(ts, page, 8);
		if (page_commit(layout, page) & RB_MISSED_EVENTS)
			dec->missed_pages++;
	}
	return decode_records(dec, page, layout->data_offset + from, layout->data_offset + to,
			      ts, cpu, fn, ctx);
}
