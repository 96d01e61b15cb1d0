// SPDX-License-Identifier: GPL-2.0-only
/*
 * Host unit tests of libvmtrack and the option parser: no tracefs, no patched
 * kernel. Prints TAP ("ok N - name" / "not ok N - name") and a last line
 * "N passed, N failed"; exits non-zero if a test failed.
 *
 * Ring-buffer pages are built byte by byte with the documented layout; event
 * formats are fixtures in the kernel's format-file syntax, consistent with
 * the mm_watch contract (common fields, then u64 mm_id @8, int tgid @16, ...).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include <traceevent/event-parse.h>
#include <traceevent/kbuffer.h>

#include "internal.h"
#include "pagemap-scan.h"
#include "vmtrack-cmd.h"
#include "harness.h"
#include "threads.h"

#define PAGE	4096UL

/* ------------------------------------------------------------------ */
/* fixtures: events/header_page and events/mm_watch/<event>/format     */

static const char header_page_64[] =
	"\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n"
	"\tfield: local_t commit;\toffset:8;\tsize:8;\tsigned:1;\n"
	"\tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;\n"
	"\tfield: char data;\toffset:16;\tsize:4080;\tsigned:1;\n";

static const char header_page_32[] =
	"\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n"
	"\tfield: local_t commit;\toffset:8;\tsize:4;\tsigned:1;\n"
	"\tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;\n"
	"\tfield: char data;\toffset:12;\tsize:4084;\tsigned:1;\n";

#define COMMON_FIELDS								\
	"format:\n"								\
	"\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"	\
	"\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n"	\
	"\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n" \
	"\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n"		\
	"\n"									\
	"\tfield:u64 mm_id;\toffset:8;\tsize:8;\tsigned:0;\n"			\
	"\tfield:int tgid;\toffset:16;\tsize:4;\tsigned:1;\n"

#define F_UL(name, off)	"\tfield:unsigned long " name ";\toffset:" #off ";\tsize:8;\tsigned:0;\n"
#define F_INT(name, off) "\tfield:int " name ";\toffset:" #off ";\tsize:4;\tsigned:1;\n"

/* ids deliberately not consecutive and not in kind order */
enum {
	ID_MARK = 1601, ID_UNMARK = 1602, ID_WF = 1599, ID_ZAP = 1640, ID_MOVE = 1605,
	ID_UNMAP = 1606, ID_EXIT = 1607, ID_PINNED = 1700, ID_REARM = 1603, ID_OTHER = 1234
};

static const char fmt_mark[] =
	"name: mm_watch_mark\nID: 1601\n" COMMON_FIELDS F_UL("start", 24) F_UL("end", 32)
	"\nprint fmt: \"mm_id=%llu tgid=%d start=0x%lx end=0x%lx\", REC->mm_id, REC->tgid, "
	"REC->start, REC->end\n";
static const char fmt_rearm[] =
	"name: mm_watch_rearm\nID: 1603\n" COMMON_FIELDS F_UL("start", 24) F_UL("end", 32)
	"\nprint fmt: \"mm_id=%llu tgid=%d start=0x%lx end=0x%lx\", REC->mm_id, REC->tgid, "
	"REC->start, REC->end\n";
static const char fmt_unmark[] =
	"name: mm_watch_unmark\nID: 1602\n" COMMON_FIELDS F_UL("start", 24) F_UL("end", 32)
	"\nprint fmt: \"mm_id=%llu tgid=%d start=0x%lx end=0x%lx\", REC->mm_id, REC->tgid, "
	"REC->start, REC->end\n";
static const char fmt_wf[] =
	"name: mm_watch_write_fault\nID: 1599\n" COMMON_FIELDS F_UL("address", 24) F_UL("size", 32)
	"\nprint fmt: \"mm_id=%llu tgid=%d address=0x%lx size=%lu\", REC->mm_id, REC->tgid, "
	"REC->address, REC->size\n";
static const char fmt_wf_nosize[] =
	"name: mm_watch_write_fault\nID: 1599\n" COMMON_FIELDS F_UL("address", 24)
	"\nprint fmt: \"mm_id=%llu tgid=%d address=0x%lx\", REC->mm_id, REC->tgid, "
	"REC->address\n";
static const char fmt_zap[] =
	"name: mm_watch_zap\nID: 1640\n" COMMON_FIELDS
	F_UL("start", 24) F_UL("end", 32) F_INT("reason", 40)
	"\nprint fmt: \"mm_id=%llu tgid=%d start=0x%lx end=0x%lx reason=%s\", REC->mm_id, "
	"REC->tgid, REC->start, REC->end, __print_symbolic(REC->reason, { 0, \"dontneed\" }, "
	"{ 1, \"free\" }, { 2, \"other\" })\n";
static const char fmt_move[] =
	"name: mm_watch_move\nID: 1605\n" COMMON_FIELDS F_UL("old_start", 24) F_UL("new_start", 32)
	F_UL("len", 40)
	"\nprint fmt: \"mm_id=%llu tgid=%d old_start=0x%lx new_start=0x%lx len=%lu\", "
	"REC->mm_id, REC->tgid, REC->old_start, REC->new_start, REC->len\n";
static const char fmt_unmap[] =
	"name: mm_watch_unmap\nID: 1606\n" COMMON_FIELDS F_UL("start", 24) F_UL("end", 32)
	"\nprint fmt: \"mm_id=%llu tgid=%d start=0x%lx end=0x%lx\", REC->mm_id, REC->tgid, "
	"REC->start, REC->end\n";
static const char fmt_exit[] =
	"name: mm_watch_exit\nID: 1607\n" COMMON_FIELDS
	"\nprint fmt: \"mm_id=%llu tgid=%d\", REC->mm_id, REC->tgid\n";
static const char fmt_pinned[] =
	"name: mm_watch_pinned\nID: 1700\n" COMMON_FIELDS F_UL("address", 24) F_UL("size", 32)
	"\nprint fmt: \"mm_id=%llu tgid=%d address=0x%lx size=%lu\", REC->mm_id, REC->tgid, "
	"REC->address, REC->size\n";

static struct tep_handle *fixture_tep(bool broken)
{
	const char *fmts[] = { fmt_mark, fmt_unmark, broken ? fmt_wf_nosize : fmt_wf, fmt_zap,
			       fmt_move, fmt_unmap, fmt_exit, fmt_pinned, fmt_rearm };
	struct tep_handle *tep = tep_alloc();
	size_t i;

	if (!tep)
		return NULL;
	tep_set_long_size(tep, 8);
	tep_set_page_size(tep, PAGE);
	for (i = 0; i < ARRAY_SIZE(fmts); i++) {
		if (tep_parse_event(tep, fmts[i], strlen(fmts[i]), VMTRACK_SYSTEM)) {
			printf("#   cannot parse fixture %zu\n", i);
			tep_free(tep);
			return NULL;
		}
	}
	return tep;
}

/* ------------------------------------------------------------------ */
/* sub-buffer builder                                                   */

struct page_builder {
	uint8_t		page[PAGE];
	size_t		pos;		/* from the start of the page */
	unsigned int	data_offset;
	unsigned int	commit_size;
};

static void pb_init(struct page_builder *pb, uint64_t ts, unsigned int commit_size)
{
	memset(pb, 0, sizeof(*pb));
	memcpy(pb->page, &ts, 8);
	pb->commit_size = commit_size;
	pb->data_offset = 8 + commit_size;
	pb->pos = pb->data_offset;
}

static void pb_commit(struct page_builder *pb, uint64_t flags)
{
	uint64_t c = (pb->pos - pb->data_offset) | flags;
	uint32_t c32 = c;

	if (pb->commit_size == 8)
		memcpy(pb->page + 8, &c, 8);
	else
		memcpy(pb->page + 8, &c32, 4);
}

static void pb_u32(struct page_builder *pb, uint32_t v)
{
	memcpy(pb->page + pb->pos, &v, 4);
	pb->pos += 4;
}

static void pb_hdr(struct page_builder *pb, uint32_t type_len, uint32_t delta)
{
	pb_u32(pb, (type_len & 0x1f) | (delta << 5));
}

/* a record: type_len = len/4 if it fits (len <= 112), or type_len 0 if @force0 */
static void pb_record(struct page_builder *pb, const void *data, uint32_t len, uint32_t delta,
		      bool force0)
{
	uint32_t alen = (len + 3) & ~3U;

	if (!force0 && alen <= 112) {
		pb_hdr(pb, alen / 4, delta);
	} else {
		pb_hdr(pb, 0, delta);
		pb_u32(pb, alen + 4);
	}
	memset(pb->page + pb->pos, 0, alen);
	memcpy(pb->page + pb->pos, data, len);
	pb->pos += alen;
}

static void pb_time_extend(struct page_builder *pb, uint64_t delta)
{
	pb_hdr(pb, RB_TYPE_TIME_EXTEND, delta & ((1U << 27) - 1));
	pb_u32(pb, delta >> 27);
}

static void pb_time_stamp(struct page_builder *pb, uint64_t abs)
{
	pb_hdr(pb, RB_TYPE_TIME_STAMP, abs & ((1U << 27) - 1));
	pb_u32(pb, abs >> 27);
}

/* discarded event: padding with a length (time_delta != 0) */
static void pb_padding(struct page_builder *pb, uint32_t delta, uint32_t len)
{
	pb_hdr(pb, RB_TYPE_PADDING, delta);
	pb_u32(pb, len);
	memset(pb->page + pb->pos, 0xee, len - 4);
	pb->pos += len - 4;
}

struct rec {
	uint16_t	common_type;
	uint8_t		flags;
	uint8_t		preempt;
	int32_t		pid;
	uint64_t	mm_id;
	int32_t		tgid;
	int32_t		pad;
	uint64_t	f[3];
};

static uint32_t rec_len(int nfields, bool has_int3)
{
	if (nfields == 0)
		return 24;
	if (nfields == 3 && has_int3)
		return 48;		/* int at 40, padded to 8 */
	return 24 + 8 * nfields;
}

static void mk_rec(struct rec *r, uint16_t type, uint64_t mm, int32_t tgid, uint64_t a,
		   uint64_t b, uint64_t c)
{
	memset(r, 0, sizeof(*r));
	r->common_type = type;
	r->pid = 4242;
	r->mm_id = mm;
	r->tgid = tgid;
	r->f[0] = a;
	r->f[1] = b;
	r->f[2] = c;
}

struct collected {
	struct vmtrack_event	ev[64];
	int			n;
};

static int collect_cb(const struct vmtrack_event *ev, void *ctx)
{
	struct collected *c = ctx;

	if (c->n < 64)
		c->ev[c->n] = *ev;
	c->n++;
	return 0;
}

static struct vmtrack_page_layout layout64(void)
{
	struct vmtrack_page_layout l;

	if (vmtrack_page_layout_parse(header_page_64, &l))
		memset(&l, 0, sizeof(l));
	return l;
}

/* ------------------------------------------------------------------ */

static void test_header_page(void)
{
	struct vmtrack_page_layout l;

	CHECK_EQ(vmtrack_page_layout_parse(header_page_64, &l), 0);
	CHECK_EQ(l.commit_offset, 8);
	CHECK_EQ(l.commit_size, 8);
	CHECK_EQ(l.data_offset, 16);
	CHECK_EQ(l.subbuf_size, 4096);
	CHECK_EQ(vmtrack_page_layout_parse(header_page_32, &l), 0);
	CHECK_EQ(l.commit_size, 4);
	CHECK_EQ(l.data_offset, 12);
	CHECK_EQ(vmtrack_page_layout_parse("field: u64 timestamp; offset:0; size:8;\n", &l),
		 -EINVAL);
	CHECK_EQ(vmtrack_page_layout_parse("", &l), -EINVAL);
}

static void test_decoder_resolve(void)
{
	struct tep_handle *tep = fixture_tep(false);
	struct vmtrack_decoder *dec;
	char err[200] = "";

	CHECK(tep);
	if (!tep)
		return;
	dec = vmtrack_decoder_new(tep, err, sizeof(err));
	CHECK(dec);
	if (dec) {
		CHECK_EQ(vmtrack_decoder_kind(dec, ID_WF), VMTRACK_EV_WRITE_FAULT);
		CHECK_EQ(vmtrack_decoder_kind(dec, ID_MARK), VMTRACK_EV_MARK);
		CHECK_EQ(vmtrack_decoder_kind(dec, ID_REARM), VMTRACK_EV_MARK);
		CHECK_EQ(vmtrack_decoder_kind(dec, ID_ZAP), VMTRACK_EV_ZAP);
		CHECK_EQ(vmtrack_decoder_kind(dec, ID_PINNED), VMTRACK_EV_PINNED);
		CHECK_EQ(vmtrack_decoder_kind(dec, ID_EXIT), VMTRACK_EV_EXIT);
		CHECK_EQ(vmtrack_decoder_kind(dec, ID_OTHER), -1);
	}
	vmtrack_decoder_free(dec);
	tep_free(tep);
}

static void test_decoder_missing_field(void)
{
	struct tep_handle *tep = fixture_tep(true);
	struct vmtrack_decoder *dec;
	char err[200] = "";

	CHECK(tep);
	if (!tep)
		return;
	dec = vmtrack_decoder_new(tep, err, sizeof(err));
	CHECK(!dec);
	CHECK(strstr(err, "write_fault") && strstr(err, "'size'"));
	vmtrack_decoder_free(dec);
	tep_free(tep);
}

/* every event kind, both record encodings, time extend, discarded padding */
static void test_decode_page(void)
{
	struct vmtrack_page_layout l = layout64();
	struct tep_handle *tep = fixture_tep(false);
	struct vmtrack_decoder *dec = tep ? vmtrack_decoder_new(tep, NULL, 0) : NULL;
	struct collected c = { .n = 0 };
	struct page_builder pb;
	struct rec r;
	int n;

	CHECK(dec);
	if (!dec)
		goto out;
	pb_init(&pb, 1000000, 8);
	mk_rec(&r, ID_REARM, 7, 100, 0x10000, 0x20000, 0);
	pb_record(&pb, &r, rec_len(2, false), 5, false);		/* ts 1000005 */
	mk_rec(&r, ID_WF, 7, 100, 0x11000, PAGE, 0);
	pb_record(&pb, &r, rec_len(2, false), 10, true);		/* type_len 0 */
	pb_time_extend(&pb, (3ULL << 27) + 7);
	mk_rec(&r, ID_ZAP, 7, 100, 0x12000, 0x14000, 2);
	pb_record(&pb, &r, rec_len(3, true), 1, false);
	pb_padding(&pb, 4, 48);						/* discarded */
	mk_rec(&r, ID_OTHER, 7, 100, 1, 2, 3);				/* not ours */
	pb_record(&pb, &r, 40, 2, false);
	mk_rec(&r, ID_MOVE, 7, 100, 0x30000, 0x50000, 0x3000);
	pb_record(&pb, &r, rec_len(3, false), 3, false);
	mk_rec(&r, ID_UNMAP, 7, 100, 0x50000, 0x51000, 0);
	pb_record(&pb, &r, rec_len(2, false), 0, false);
	mk_rec(&r, ID_PINNED, 7, 100, 0x13000, PAGE, 0);
	pb_record(&pb, &r, rec_len(2, false), 1, false);
	mk_rec(&r, ID_UNMARK, 7, 100, 0x10000, 0x11000, 0);
	pb_record(&pb, &r, rec_len(2, false), 1, false);
	mk_rec(&r, ID_EXIT, 7, -1, 0, 0, 0);
	pb_record(&pb, &r, rec_len(0, false), 1, false);
	mk_rec(&r, ID_MARK, 7, 100, 0x60000, 0x61000, 0);
	pb_record(&pb, &r, rec_len(2, false), 1, false);
	pb_commit(&pb, 0);

	n = vmtrack_decode_subbuf(dec, &l, pb.page, sizeof(pb.page), 3, collect_cb, &c);
	CHECK_EQ(n, 9);
	CHECK_EQ(c.n, 9);
	if (c.n != 9)
		goto out;
	CHECK_EQ(c.ev[0].kind, VMTRACK_EV_MARK);
	CHECK_EQ(c.ev[0].ts, 1000005);
	CHECK_EQ(c.ev[0].a, 0x10000);
	CHECK_EQ(c.ev[0].b, 0x20000);
	CHECK_EQ(c.ev[0].arg, 1);
	CHECK_EQ(c.ev[0].mm_id, 7);
	CHECK_EQ(c.ev[0].tgid, 100);
	CHECK_EQ(c.ev[0].cpu, 3);
	CHECK_EQ(c.ev[1].kind, VMTRACK_EV_WRITE_FAULT);
	CHECK_EQ(c.ev[1].ts, 1000015);
	CHECK_EQ(c.ev[1].a, 0x11000);
	CHECK_EQ(c.ev[1].b, PAGE);
	CHECK_EQ(c.ev[2].kind, VMTRACK_EV_ZAP);
	CHECK_EQ(c.ev[2].ts, 1000015 + (3ULL << 27) + 7 + 1);
	CHECK_EQ(c.ev[2].arg, 2);
	CHECK_EQ(c.ev[3].kind, VMTRACK_EV_MOVE);
	/* padding delta 4 and the foreign record's 2 count too */
	CHECK_EQ(c.ev[3].ts, c.ev[2].ts + 4 + 2 + 3);
	CHECK_EQ(c.ev[3].a, 0x30000);
	CHECK_EQ(c.ev[3].b, 0x50000);
	CHECK_EQ(c.ev[3].c, 0x3000);
	CHECK_EQ(c.ev[4].kind, VMTRACK_EV_UNMAP);
	CHECK_EQ(c.ev[4].ts, c.ev[3].ts);
	CHECK_EQ(c.ev[5].kind, VMTRACK_EV_PINNED);
	CHECK_EQ(c.ev[6].kind, VMTRACK_EV_UNMARK);
	CHECK_EQ(c.ev[7].kind, VMTRACK_EV_EXIT);
	CHECK_EQ(c.ev[7].tgid, -1);		/* int is sign-extended */
	CHECK_EQ(c.ev[8].kind, VMTRACK_EV_MARK);	/* a new range: not a re-arm */
	CHECK_EQ(c.ev[8].arg, 0);
	CHECK_EQ(c.ev[8].a, 0x60000);
	CHECK(c.ev[0].seq < c.ev[1].seq && c.ev[6].seq < c.ev[7].seq);
out:
	vmtrack_decoder_free(dec);
	if (tep)
		tep_free(tep);
}

/* the hand-rolled walker agrees with libtraceevent's kbuffer */
static void test_decode_vs_kbuffer(void)
{
	struct vmtrack_page_layout l = layout64();
	struct tep_handle *tep = fixture_tep(false);
	struct vmtrack_decoder *dec = tep ? vmtrack_decoder_new(tep, NULL, 0) : NULL;
	struct kbuffer *kb = kbuffer_alloc(KBUFFER_LSIZE_8, KBUFFER_ENDIAN_LITTLE);
	struct collected c = { .n = 0 };
	unsigned long long ts;
	struct page_builder pb;
	struct rec r;
	void *data;
	int i, n;

	CHECK(dec && kb);
	if (!dec || !kb)
		goto out;
	pb_init(&pb, 123456789, 8);
	for (i = 0; i < 40; i++) {
		mk_rec(&r, ID_WF, 9, 55, 0x400000 + i * PAGE, PAGE, 0);
		if (i % 9 == 4)
			pb_time_extend(&pb, (1ULL << 30) + i);
		pb_record(&pb, &r, rec_len(2, false), i * 3, i % 5 == 0);
	}
	pb_commit(&pb, 0);
	n = vmtrack_decode_subbuf(dec, &l, pb.page, sizeof(pb.page), 0, collect_cb, &c);
	CHECK_EQ(n, 40);
	kbuffer_load_subbuffer(kb, pb.page);
	data = kbuffer_read_event(kb, &ts);
	for (i = 0; data && i < c.n && i < 64; i++) {
		uint64_t addr;

		CHECK_EQ(c.ev[i].ts, ts);
		memcpy(&addr, (char *)data + 24, 8);
		CHECK_EQ(c.ev[i].a, addr);
		data = kbuffer_next_event(kb, &ts);
	}
	CHECK_EQ(i, 40);
	CHECK(!data);
out:
	if (kb)
		kbuffer_free(kb);
	vmtrack_decoder_free(dec);
	if (tep)
		tep_free(tep);
}

/*
 * A mapped reader decodes a sub-buffer in parts, as the kernel hands them
 * over: the same events and timestamps as one walk of the whole, and the
 * missed-events flag counted once.
 */
static void test_decode_range(void)
{
	struct vmtrack_page_layout l = layout64();
	struct tep_handle *tep = fixture_tep(false);
	struct vmtrack_decoder *dec = tep ? vmtrack_decoder_new(tep, NULL, 0) : NULL;
	struct collected whole = { .n = 0 }, parts = { .n = 0 };
	size_t cut[4], from = 0;
	struct page_builder pb;
	uint64_t ts = 0;
	struct rec r;
	int i, k = 0, n = 0, ret;

	CHECK(dec);
	if (!dec)
		goto out;
	pb_init(&pb, 987654321, 8);
	for (i = 0; i < 40; i++) {
		mk_rec(&r, ID_WF, 9, 55, 0x400000 + i * PAGE, PAGE, 0);
		if (i % 7 == 3)
			pb_time_extend(&pb, (1ULL << 29) + i);
		if (i == 20)
			pb_time_stamp(&pb, 0x0000000123456789ULL);
		pb_record(&pb, &r, rec_len(2, false), i * 5, i % 6 == 0);
		if (i == 9 || i == 10 || i == 31)
			cut[k++] = pb.pos - pb.data_offset;
	}
	cut[k++] = pb.pos - pb.data_offset;
	pb_commit(&pb, RB_MISSED_EVENTS);
	CHECK_EQ(vmtrack_decode_subbuf(dec, &l, pb.page, sizeof(pb.page), 0, collect_cb, &whole),
		 40);
	CHECK_EQ(vmtrack_decoder_missed_pages(dec), 1);
	for (i = 0; i < k; i++) {
		ret = vmtrack_decode_range(dec, &l, pb.page, from, cut[i], &ts, 0, collect_cb,
					   &parts);
		CHECK(ret > 0);
		n += ret;
		from = cut[i];
	}
	CHECK_EQ(n, 40);
	CHECK_EQ(parts.n, whole.n);
	for (i = 0; i < whole.n && i < 40; i++) {
		CHECK_EQ(parts.ev[i].ts, whole.ev[i].ts);
		CHECK_EQ(parts.ev[i].a, whole.ev[i].a);
	}
	CHECK_EQ(vmtrack_decoder_missed_pages(dec), 2);
	/* nothing new: nothing decoded; past the sub-buffer: refused */
	CHECK_EQ(vmtrack_decode_range(dec, &l, pb.page, from, from, &ts, 0, collect_cb, &parts),
		 0);
	CHECK_EQ(vmtrack_decode_range(dec, &l, pb.page, 0, PAGE, &ts, 0, collect_cb, &parts),
		 -EBADMSG);
out:
	vmtrack_decoder_free(dec);
	if (tep)
		tep_free(tep);
}

static void test_decode_timestamp_and_end(void)
{
	struct vmtrack_page_layout l = layout64();
	struct tep_handle *tep = fixture_tep(false);
	struct vmtrack_decoder *dec = tep ? vmtrack_decoder_new(tep, NULL, 0) : NULL;
	struct collected c = { .n = 0 };
	struct page_builder pb;
	struct rec r;
	int n;

	CHECK(dec);
	if (!dec)
		goto out;
	pb_init(&pb, 0x0800000000000123ULL, 8);	/* bit 59 set: kept by TIME_STAMP */
	mk_rec(&r, ID_WF, 1, 2, 0x1000, PAGE, 0);
	pb_record(&pb, &r, 40, 1, false);
	pb_time_stamp(&pb, 0x0000123456789abcULL);
	pb_record(&pb, &r, 40, 6, false);
	pb_hdr(&pb, RB_TYPE_PADDING, 0);		/* null padding: end of data */
	pb_u32(&pb, 0);
	pb_record(&pb, &r, 40, 1, false);		/* must not be seen */
	pb_commit(&pb, 0);
	n = vmtrack_decode_subbuf(dec, &l, pb.page, sizeof(pb.page), 0, collect_cb, &c);
	CHECK_EQ(n, 2);
	CHECK_EQ(c.ev[0].ts, 0x0800000000000124ULL);
	CHECK_EQ(c.ev[1].ts, 0x0800123456789abcULL + 6);
out:
	vmtrack_decoder_free(dec);
	if (tep)
		tep_free(tep);
}

static void test_decode_malformed(void)
{
	struct vmtrack_page_layout l = layout64();
	struct tep_handle *tep = fixture_tep(false);
	struct vmtrack_decoder *dec = tep ? vmtrack_decoder_new(tep, NULL, 0) : NULL;
	struct collected c = { .n = 0 };
	struct page_builder pb;
	struct rec r;
	uint64_t big;

	CHECK(dec);
	if (!dec)
		goto out;
	/* a record that runs past the commit: earlier ones delivered, then error */
	pb_init(&pb, 0, 8);
	mk_rec(&r, ID_WF, 1, 2, 0x1000, PAGE, 0);
	pb_record(&pb, &r, 40, 1, false);
	pb_record(&pb, &r, 40, 1, false);
	pb.pos -= 8;
	pb_commit(&pb, 0);
	CHECK_EQ(vmtrack_decode_subbuf(dec, &l, pb.page, PAGE, 0, collect_cb, &c), -EBADMSG);
	CHECK_EQ(c.n, 1);
	/* commit larger than the data read */
	big = 8000;
	memcpy(pb.page + 8, &big, 8);
	CHECK_EQ(vmtrack_decode_subbuf(dec, &l, pb.page, PAGE, 0, collect_cb, &c), -EBADMSG);
	/* shorter than a header */
	CHECK_EQ(vmtrack_decode_subbuf(dec, &l, pb.page, 10, 0, collect_cb, &c), -EBADMSG);
	/* empty page */
	pb_init(&pb, 0, 8);
	pb_commit(&pb, 0);
	c.n = 0;
	CHECK_EQ(vmtrack_decode_subbuf(dec, &l, pb.page, PAGE, 0, collect_cb, &c), 0);
	CHECK_EQ(c.n, 0);
	/* a page flagged "missed events" is counted */
	CHECK_EQ(vmtrack_decoder_missed_pages(dec), 0);
	pb_commit(&pb, RB_MISSED_EVENTS);
	vmtrack_decode_subbuf(dec, &l, pb.page, PAGE, 0, collect_cb, &c);
	CHECK_EQ(vmtrack_decoder_missed_pages(dec), 1);
out:
	vmtrack_decoder_free(dec);
	if (tep)
		tep_free(tep);
}

static void test_decode_commit32(void)
{
	struct tep_handle *tep = fixture_tep(false);
	struct vmtrack_decoder *dec = tep ? vmtrack_decoder_new(tep, NULL, 0) : NULL;
	struct collected c = { .n = 0 };
	struct vmtrack_page_layout l;
	struct page_builder pb;
	struct rec r;

	CHECK(dec);
	if (!dec || vmtrack_page_layout_parse(header_page_32, &l))
		goto out;
	pb_init(&pb, 50, 4);
	mk_rec(&r, ID_WF, 1, 2, 0x7000, PAGE, 0);
	pb_record(&pb, &r, 40, 1, false);
	pb_commit(&pb, 0);
	CHECK_EQ(vmtrack_decode_subbuf(dec, &l, pb.page, PAGE, 0, collect_cb, &c), 1);
	CHECK_EQ(c.ev[0].a, 0x7000);
	CHECK_EQ(c.ev[0].ts, 51);
out:
	vmtrack_decoder_free(dec);
	if (tep)
		tep_free(tep);
}

/* ------------------------------------------------------------------ */
/* dirty sets                                                           */

static size_t collect_iov(struct vmtrack_dset *ds, struct iovec **iov, size_t *alloc)
{
	ssize_t n = vmtrack_dset_collect(ds, iov, alloc);

	return n < 0 ? 0 : n;
}

static void test_dset_basic(void)
{
	struct vmtrack_dset *ds = vmtrack_dset_new(PAGE);
	struct iovec *iov = NULL;
	uint64_t unc = 99;
	size_t alloc = 0, n;

	CHECK(!vmtrack_dset_new(3000));
	CHECK_EQ(vmtrack_dset_add(ds, 0x10000, 0x20000, false, "a"), 0);
	CHECK_EQ(vmtrack_dset_add(ds, 0x20000, 0x30000, false, "b"), 0);
	CHECK_EQ(vmtrack_dset_add(ds, 0x5000, 0x5000, false, NULL), -EINVAL);
	CHECK_EQ(vmtrack_dset_watched_pages(ds), 32);
	CHECK_EQ(vmtrack_dset_dirty_pages(ds), 0);
	/* pages 0x10000,1,2 and 0x15000, then a run across the range border */
	CHECK_EQ(vmtrack_dset_set_dirty(ds, 0x10000, 0x13000, &unc), 3);
	CHECK_EQ(unc, 0);
	vmtrack_dset_set_dirty(ds, 0x15000, 0x15001, NULL);	/* unaligned end */
	vmtrack_dset_set_dirty(ds, 0x1f000, 0x21000, NULL);
	vmtrack_dset_set_dirty(ds, 0x10fff, 0x11000, NULL);	/* again: no double count */
	CHECK_EQ(vmtrack_dset_dirty_pages(ds), 6);
	CHECK(vmtrack_dset_test(ds, 0x15abc));
	CHECK(!vmtrack_dset_test(ds, 0x16000));
	n = collect_iov(ds, &iov, &alloc);
	CHECK_EQ(n, 3);
	if (n == 3) {
		CHECK_EQ((uintptr_t)iov[0].iov_base, 0x10000);
		CHECK_EQ(iov[0].iov_len, 0x3000);
		CHECK_EQ((uintptr_t)iov[1].iov_base, 0x15000);
		CHECK_EQ(iov[1].iov_len, 0x1000);
		CHECK_EQ((uintptr_t)iov[2].iov_base, 0x1f000);	/* coalesced over ranges */
		CHECK_EQ(iov[2].iov_len, 0x2000);
	}
	CHECK_EQ(vmtrack_dset_dirty_pages(ds), 0);
	CHECK_EQ(collect_iov(ds, &iov, &alloc), 0);
	/* outside any range */
	CHECK_EQ(vmtrack_dset_set_dirty(ds, 0x2f000, 0x32000, &unc), 1);
	CHECK_EQ(unc, 2);
	free(iov);
	vmtrack_dset_free(ds);
}

static void test_dset_counters(void)
{
	struct vmtrack_dset *ds = vmtrack_dset_new(PAGE);
	struct vmtrack_range_info ri;
	struct iovec *iov = NULL;
	size_t alloc = 0;

	vmtrack_dset_add(ds, 0x100000, 0x200000, false, "[heap]");
	vmtrack_dset_set_dirty(ds, 0x100000, 0x104000, NULL);
	collect_iov(ds, &iov, &alloc);
	vmtrack_dset_set_dirty(ds, 0x100000, 0x102000, NULL);
	collect_iov(ds, &iov, &alloc);
	CHECK_EQ(vmtrack_dset_range(ds, 0, &ri), 0);
	CHECK_EQ(ri.pages, 256);
	CHECK_EQ(ri.last, 2);
	CHECK_EQ(ri.total, 6);
	CHECK(!strcmp(ri.label, "[heap]"));
	CHECK_EQ(vmtrack_dset_range(ds, 1, &ri), -ERANGE);
	free(iov);
	vmtrack_dset_free(ds);
}

static void test_dset_remove_split(void)
{
	struct vmtrack_dset *ds = vmtrack_dset_new(PAGE);
	struct vmtrack_range_info ri;

	vmtrack_dset_add(ds, 0x10000, 0x20000, false, "x");
	vmtrack_dset_set_dirty(ds, 0x11000, 0x12000, NULL);
	vmtrack_dset_set_dirty(ds, 0x1e000, 0x1f000, NULL);
	vmtrack_dset_set_dirty(ds, 0x15000, 0x16000, NULL);
	/* unmap the middle: both sides keep their dirty bits */
	CHECK_EQ(vmtrack_dset_remove(ds, 0x14000, 0x18000), 0);
	CHECK_EQ(vmtrack_dset_nr_ranges(ds), 2);
	CHECK_EQ(vmtrack_dset_watched_pages(ds), 12);
	CHECK_EQ(vmtrack_dset_dirty_pages(ds), 2);
	CHECK(vmtrack_dset_test(ds, 0x11000));
	CHECK(vmtrack_dset_test(ds, 0x1e000));
	CHECK(!vmtrack_dset_covers(ds, 0x15000));
	vmtrack_dset_range(ds, 1, &ri);
	CHECK_EQ(ri.start, 0x18000);
	CHECK_EQ(ri.end, 0x20000);
	CHECK(!strcmp(ri.label, "x"));
	/* remove spanning several ranges and a head */
	vmtrack_dset_add(ds, 0x30000, 0x40000, true, NULL);
	CHECK_EQ(vmtrack_dset_remove(ds, 0x12000, 0x34000), 0);
	CHECK_EQ(vmtrack_dset_nr_ranges(ds), 2);
	CHECK_EQ(vmtrack_dset_watched_pages(ds), 2 + 12);
	CHECK_EQ(vmtrack_dset_dirty_pages(ds), 1 + 12);
	CHECK(!vmtrack_dset_overlaps(ds, 0x12000, 0x34000));
	CHECK(vmtrack_dset_overlaps(ds, 0x0, 0x10001));
	vmtrack_dset_free(ds);
}

static void test_dset_move_fill(void)
{
	struct vmtrack_dset *ds = vmtrack_dset_new(PAGE);
	struct vmtrack_range_info ri;

	vmtrack_dset_add(ds, 0x10000, 0x14000, false, "old");
	CHECK_EQ(vmtrack_dset_move(ds, 0x10000, 0x80000, 0x4000), 0);
	/* the old place goes with its unmap event, or stays (MREMAP_DONTUNMAP) */
	CHECK(vmtrack_dset_covers(ds, 0x10000));
	CHECK_EQ(vmtrack_dset_watched_pages(ds), 8);
	CHECK_EQ(vmtrack_dset_dirty_pages(ds), 4);	/* moved contents: dirty */
	vmtrack_dset_range(ds, 1, &ri);
	CHECK_EQ(ri.start, 0x80000);
	CHECK(!strcmp(ri.label, "old"));
	CHECK_EQ(vmtrack_dset_move(ds, 0x1000, 0x2000, 0), -EINVAL);

	/* fill: only the gaps are added (dirty); existing bits untouched */
	vmtrack_dset_free(ds);
	ds = vmtrack_dset_new(PAGE);
	vmtrack_dset_add(ds, 0x12000, 0x13000, false, NULL);
	vmtrack_dset_add(ds, 0x15000, 0x16000, false, NULL);
	CHECK_EQ(vmtrack_dset_fill(ds, 0x10000, 0x18000, "new"), 6);
	CHECK_EQ(vmtrack_dset_watched_pages(ds), 8);
	CHECK_EQ(vmtrack_dset_dirty_pages(ds), 6);
	CHECK(!vmtrack_dset_test(ds, 0x12000));
	CHECK(!vmtrack_dset_test(ds, 0x15000));
	CHECK(vmtrack_dset_test(ds, 0x17000));
	CHECK_EQ(vmtrack_dset_fill(ds, 0x10000, 0x18000, "new"), 0);
	vmtrack_dset_all_dirty(ds);
	CHECK_EQ(vmtrack_dset_dirty_pages(ds), 8);
	vmtrack_dset_free(ds);
}

/* rescans: a mapping found page by page becomes one range again */
static void test_dset_adopt(void)
{
	struct vmtrack_dset *ds = vmtrack_dset_new(PAGE);
	struct vmtrack_range_info ri;
	struct iovec *iov = NULL;
	size_t alloc = 0;

	/* stray pages 0x12, 0x13 (one grown range) and 0x15 */
	CHECK_EQ(vmtrack_dset_fill_stray(ds, 0x12000, 0x13000), 1);
	CHECK_EQ(vmtrack_dset_fill_stray(ds, 0x13000, 0x14000), 1);
	CHECK_EQ(vmtrack_dset_fill_stray(ds, 0x15000, 0x16000), 1);
	CHECK_EQ(vmtrack_dset_nr_ranges(ds), 2);
	CHECK_EQ(vmtrack_dset_dirty_pages(ds), 3);
	/* a range over 0x20-0x30 that reaches past the mapping's end */
	vmtrack_dset_add(ds, 0x1e000, 0x30000, false, "other");
	vmtrack_dset_set_dirty(ds, 0x1f000, 0x20000, NULL);
	CHECK_EQ(collect_iov(ds, &iov, &alloc), 3);	/* re-armed: all clean */
	vmtrack_dset_set_dirty(ds, 0x13000, 0x14000, NULL);
	vmtrack_dset_set_dirty(ds, 0x1f000, 0x20000, NULL);
	/* the maps say: one mapping 0x10-0x20 */
	CHECK_EQ(vmtrack_dset_adopt(ds, 0x10000, 0x20000, "buf"), 16 - 3 - 2);
	CHECK_EQ(vmtrack_dset_nr_ranges(ds), 2);
	vmtrack_dset_range(ds, 0, &ri);
	CHECK_EQ(ri.start, 0x10000);
	CHECK_EQ(ri.end, 0x20000);
	CHECK(!strcmp(ri.label, "buf"));
	/* the gaps are dirty, the found pages keep their bits */
	CHECK(vmtrack_dset_test(ds, 0x10000));
	CHECK(!vmtrack_dset_test(ds, 0x12000));
	CHECK(vmtrack_dset_test(ds, 0x13000));
	CHECK(vmtrack_dset_test(ds, 0x14000));
	CHECK(!vmtrack_dset_test(ds, 0x15000));
	CHECK(!vmtrack_dset_test(ds, 0x1e000));
	CHECK(vmtrack_dset_test(ds, 0x1f000));
	CHECK_EQ(ri.dirty, 16 - 3 - 2 + 2);
	/* the part of "other" outside the mapping stays as it was */
	vmtrack_dset_range(ds, 1, &ri);
	CHECK_EQ(ri.start, 0x20000);
	CHECK(!strcmp(ri.label, "other"));
	CHECK_EQ(ri.dirty, 0);
	/* already one range: nothing changes */
	CHECK_EQ(vmtrack_dset_adopt(ds, 0x10000, 0x20000, "again"), 0);
	CHECK_EQ(vmtrack_dset_adopt(ds, 0x11000, 0x12000, "inner"), 0);
	CHECK_EQ(vmtrack_dset_nr_ranges(ds), 2);
	CHECK_EQ(vmtrack_dset_watched_pages(ds), 16 + 16);
	/* found pages that grew over two mappings: each gets its name */
	CHECK_EQ(vmtrack_dset_fill_stray(ds, 0x40000, 0x44000), 4);
	CHECK_EQ(vmtrack_dset_adopt(ds, 0x40000, 0x42000, "a"), 0);
	CHECK_EQ(vmtrack_dset_adopt(ds, 0x42000, 0x44000, "b"), 0);
	CHECK_EQ(vmtrack_dset_nr_ranges(ds), 4);
	vmtrack_dset_range(ds, 3, &ri);
	CHECK(!strcmp(ri.label, "b"));
	CHECK_EQ(ri.dirty, 2);
	free(iov);
	vmtrack_dset_free(ds);
}

static void test_dset_huge(void)
{
	uint64_t base = 0x7f0000000000ULL, size = 64ULL << 30;	/* 16M pages, 2 MiB bitmap */
	struct vmtrack_dset *ds = vmtrack_dset_new(PAGE);
	struct iovec *iov = NULL;
	size_t alloc = 0, n;

	CHECK_EQ(vmtrack_dset_add(ds, base, base + size, false, "big"), 0);
	CHECK_EQ(vmtrack_dset_watched_pages(ds), size / PAGE);
	/* a PMD THP write fault: 2 MiB = 512 pages */
	vmtrack_dset_set_dirty(ds, base + (3ULL << 21), base + (4ULL << 21), NULL);
	vmtrack_dset_set_dirty(ds, base + size - PAGE, base + size, NULL);
	/* size overflow in an event saturates instead of wrapping */
	vmtrack_dset_set_dirty(ds, base + size - PAGE, UINT64_MAX, NULL);
	CHECK_EQ(vmtrack_dset_dirty_pages(ds), 513);
	n = collect_iov(ds, &iov, &alloc);
	CHECK_EQ(n, 2);
	if (n == 2) {
		CHECK_EQ((uintptr_t)iov[0].iov_base, base + (3ULL << 21));
		CHECK_EQ(iov[0].iov_len, 2ULL << 20);
	}
	vmtrack_dset_all_dirty(ds);
	n = collect_iov(ds, &iov, &alloc);
	CHECK_EQ(n, 1);
	if (n == 1)
		CHECK_EQ(iov[0].iov_len, size);
	/* a 1024+ range set coalesces into the iovec batches process_madvise takes */
	free(iov);
	vmtrack_dset_free(ds);
}

/* random operations against a naive one-byte-per-page model */
static void test_dset_model(void)
{
	/* sparse dirty pages in ranges of many bitmap words: the summary skips */
	enum { NP = 4096 };
	uint64_t base = 0x40000000;
	struct vmtrack_dset *ds = vmtrack_dset_new(PAGE);
	unsigned char tracked[NP] = { 0 }, dirty[NP] = { 0 };
	struct iovec *iov = NULL;
	unsigned int seed = 12345;
	size_t alloc = 0;
	int round, i, bad = 0;

	for (round = 0; round < 3000 && !bad; round++) {
		int op = rand_r(&seed) % 6, a = rand_r(&seed) % NP;
		int len = op == 2 ? 1 : 1 + rand_r(&seed) % 300;
		int b = a + len > NP ? NP : a + len;

		switch (op) {
		case 0:
			vmtrack_dset_add(ds, base + a * PAGE, base + b * PAGE, op & 1, NULL);
			for (i = a; i < b; i++)
				tracked[i] = 1, dirty[i] = 0;
			break;
		case 1:
			vmtrack_dset_remove(ds, base + a * PAGE, base + b * PAGE);
			for (i = a; i < b; i++)
				tracked[i] = dirty[i] = 0;
			break;
		case 2:
		case 3:
			vmtrack_dset_set_dirty(ds, base + a * PAGE, base + b * PAGE, NULL);
			for (i = a; i < b; i++)
				dirty[i] |= tracked[i];
			break;
		case 4:
			vmtrack_dset_fill(ds, base + a * PAGE, base + b * PAGE, NULL);
			for (i = a; i < b; i++)
				if (!tracked[i])
					tracked[i] = dirty[i] = 1;
			break;
		case 5: {
			ssize_t n = vmtrack_dset_collect(ds, &iov, &alloc);
			unsigned char got[NP] = { 0 };
			ssize_t k;

			for (k = 0; k < n; k++)
				for (uint64_t p = (uintptr_t)iov[k].iov_base;
				     p < (uintptr_t)iov[k].iov_base + iov[k].iov_len; p += PAGE)
					got[(p - base) / PAGE] = 1;
			for (i = 0; i < NP; i++)
				if (got[i] != dirty[i])
					bad = 1;
			/* coalesced: no two iovecs touch */
			for (k = 1; k < n; k++)
				if ((uintptr_t)iov[k - 1].iov_base + iov[k - 1].iov_len >=
				    (uintptr_t)iov[k].iov_base)
					bad = 1;
			memset(dirty, 0, sizeof(dirty));
			break;
		}
		}
		for (i = 0; i < NP; i++) {
			if (vmtrack_dset_covers(ds, base + i * PAGE) != tracked[i] ||
			    vmtrack_dset_test(ds, base + i * PAGE) != dirty[i]) {
				printf("#   round %d op %d page %d: tracked %d/%d dirty %d/%d\n",
				       round, op, i, vmtrack_dset_covers(ds, base + i * PAGE),
				       tracked[i], vmtrack_dset_test(ds, base + i * PAGE),
				       dirty[i]);
				bad = 1;
				break;
			}
		}
	}
	CHECK(!bad);
	free(iov);
	vmtrack_dset_free(ds);
}

/* the per-range counters of two sets with the same ranges agree */
static bool dset_counters_equal(const struct vmtrack_dset *a, const struct vmtrack_dset *b)
{
	struct vmtrack_range_info ra, rb;
	size_t i;

	if (vmtrack_dset_nr_ranges(a) != vmtrack_dset_nr_ranges(b))
		return false;
	for (i = 0; i < vmtrack_dset_nr_ranges(a); i++) {
		vmtrack_dset_range(a, i, &ra);
		vmtrack_dset_range(b, i, &rb);
		if (ra.start != rb.start || ra.end != rb.end || ra.dirty || rb.dirty ||
		    ra.last != rb.last || ra.total != rb.total)
			return false;
	}
	return true;
}

/* the same ranges in @a and @b: 1-@max_len pages each, touching the last or after a gap */
static void add_test_ranges(struct vmtrack_dset *a, struct vmtrack_dset *b, uint64_t base,
			    size_t np, size_t max_len, unsigned int *seed)
{
	size_t next, len;

	for (next = 0; next < np;) {
		len = min(1 + rand_r(seed) % max_len, np - next);
		vmtrack_dset_add(a, base + next * PAGE, base + (next + len) * PAGE, false, NULL);
		vmtrack_dset_add(b, base + next * PAGE, base + (next + len) * PAGE, false, NULL);
		next += len + (rand_r(seed) % 3 ? 0 : 1 + rand_r(seed) % 50);
	}
}

/*
 * Extents found in address order, collected as they are, give what marking
 * them and collecting gives: the same iovecs and counters, over ranges that
 * touch, have gaps, and extents that span ranges.
 */
static void test_dset_collect_extents(void)
{
	enum { NP = 2048 };
	uint64_t base = 0x40000000;
	struct vmtrack_dset *fast = vmtrack_dset_new(PAGE), *ref = vmtrack_dset_new(PAGE);
	struct iovec *ext = NULL, *iov = NULL;
	size_t ext_alloc = 0, alloc = 0;
	unsigned int seed = 777;
	int round, bad = 0;

	add_test_ranges(fast, ref, base, NP, 200, &seed);
	for (round = 0; round < 200 && !bad; round++) {
		size_t nr = 0, page;
		ssize_t n, k;
		int64_t pages;

		for (page = rand_r(&seed) % 64; page < NP; page += 1 + rand_r(&seed) % 64) {
			size_t end = min(page + 1 + rand_r(&seed) % (round % 2 ? 300 : 2),
					 (size_t)NP);

			/* as the sweep finds them: only tracked pages */
			for (; page < end; page++)
				if (vmtrack_dset_covers(fast, base + page * PAGE))
					vmtrack_iov_push(&ext, &ext_alloc, &nr, base + page * PAGE,
							 base + (page + 1) * PAGE);
		}
		for (k = 0; k < (ssize_t)nr; k++)
			vmtrack_dset_set_dirty(ref, (uintptr_t)ext[k].iov_base,
					       (uintptr_t)ext[k].iov_base + ext[k].iov_len, NULL);
		pages = vmtrack_dset_dirty_pages(ref);
		n = vmtrack_dset_collect(ref, &iov, &alloc);
		if (round % 3 == 2) {
			/* found in two parts, as a sweep handed out in batches counts them */
			size_t half = nr / 2;

			if (vmtrack_dset_collect_extents(fast, NULL, 0) ||
			    vmtrack_dset_count_extents(fast, ext, half) +
			    vmtrack_dset_count_extents(fast, ext + half, nr - half) != pages)
				bad = 1;
		} else if (vmtrack_dset_collect_extents(fast, ext, nr) != pages) {
			bad = 1;
		}
		if (n != (ssize_t)nr)
			bad = 1;
		for (k = 0; !bad && k < n; k++)
			if (iov[k].iov_base != ext[k].iov_base || iov[k].iov_len != ext[k].iov_len)
				bad = 1;
		if (!dset_counters_equal(fast, ref))
			bad = 1;
		if (bad)
			printf("#   round %d: %zu extents, %zd collected\n", round, nr, n);
	}
	CHECK(!bad);

	/* a dirty page: refused, nothing counted */
	vmtrack_dset_set_dirty(fast, base, base + PAGE, NULL);
	ext[0].iov_base = (void *)(uintptr_t)base;
	ext[0].iov_len = PAGE;
	CHECK_EQ(vmtrack_dset_collect_extents(fast, ext, 1), -EBUSY);
	CHECK_EQ(vmtrack_dset_dirty_pages(fast), 1);
	collect_iov(fast, &iov, &alloc);
	collect_iov(ref, &iov, &alloc);
	/* an extent past the ranges: refused, the counters are those of before */
	ext[0].iov_base = (void *)(uintptr_t)(base + NP * PAGE);
	CHECK_EQ(vmtrack_dset_collect_extents(fast, ext, 1), -EINVAL);
	ext[0].iov_base = (void *)(uintptr_t)(base - PAGE);
	ext[0].iov_len = 2 * PAGE;
	CHECK_EQ(vmtrack_dset_collect_extents(fast, ext, 1), -EINVAL);
	vmtrack_dset_set_dirty(ref, base, base + PAGE, NULL);
	collect_iov(ref, &iov, &alloc);
	CHECK(dset_counters_equal(fast, ref));
	free(ext);
	free(iov);
	vmtrack_dset_free(fast);
	vmtrack_dset_free(ref);
}

/*
 * An epoch handed out in batches of 1-9 ranges gives what one collect
 * gives: the same pages, in order, coalesced within a batch (a run that
 * spans two batches is split between them), and the same counters; what
 * is written meanwhile stays in the set for the next epoch; pages not
 * handed out merge back.
 */
static void test_dset_batches(void)
{
	enum { NP = 2048 };
	uint64_t base = 0x40000000;
	struct vmtrack_dset *live = vmtrack_dset_new(PAGE), *ref = vmtrack_dset_new(PAGE), *ep;
	struct iovec *iov = NULL, *want = NULL;
	size_t alloc = 0, want_alloc = 0;
	unsigned int seed = 4242;
	int round, bad = 0;

	add_test_ranges(live, ref, base, NP, 300, &seed);
	for (round = 0; round < 200 && !bad; round++) {
		size_t max = 1 + rand_r(&seed) % 9, page, got = 0, k, nw;
		uint64_t pages = 0, last_end = 0;
		ssize_t n;

		for (page = rand_r(&seed) % 16; page < NP; page += 1 + rand_r(&seed) % 40) {
			uint64_t a = base + page * PAGE, b = a + (1 + rand_r(&seed) % 5) * PAGE;

			vmtrack_dset_set_dirty(live, a, b, NULL);
			vmtrack_dset_set_dirty(ref, a, b, NULL);
		}
		nw = vmtrack_dset_collect(ref, &want, &want_alloc);
		ep = vmtrack_dset_take_epoch(live);
		CHECK(ep && !vmtrack_dset_dirty_pages(live));
		if (!ep)
			break;
		/* written while the batches are handed out: the next epoch's */
		vmtrack_dset_set_dirty(live, base, base + PAGE, NULL);
		vmtrack_dset_set_dirty(ref, base, base + PAGE, NULL);
		while ((n = vmtrack_dset_collect_batch(ep, &iov, &alloc, max)) > 0) {
			if ((size_t)n > max)
				bad = 1;
			for (k = 0; k < (size_t)n; k++) {
				uint64_t a = (uintptr_t)iov[k].iov_base, b = a + iov[k].iov_len;

				if (a < last_end || (k && a == last_end))
					bad = 1;	/* out of order, or not coalesced */
				/* the pages of @want, in order */
				while (a < b && got < nw) {
					uint64_t wa = (uintptr_t)want[got].iov_base;
					uint64_t wb = wa + want[got].iov_len;

					if (a < wa || a >= wb) {
						bad = 1;
						break;
					}
					pages += (min(b, wb) - a) / PAGE;
					a = min(b, wb);
					if (a == wb)
						got++;
				}
				if (a < b)
					bad = 1;
				last_end = (uintptr_t)iov[k].iov_base + iov[k].iov_len;
			}
		}
		if (n < 0 || got != nw)
			bad = 1;
		vmtrack_dset_free(ep);
		/* the page written meanwhile, and the counters of both epochs */
		if (collect_iov(live, &iov, &alloc) != 1 || (uintptr_t)iov[0].iov_base != base ||
		    iov[0].iov_len != PAGE)
			bad = 1;
		collect_iov(ref, &want, &want_alloc);
		if (!dset_counters_equal(live, ref))
			bad = 1;
		if (bad)
			printf("#   round %d: batches of %zu: %llu pages, %zu of %zu ranges\n",
			       round, max, (unsigned long long)pages, got, nw);
	}
	CHECK(!bad);

	/* the pages not handed out merge back, nothing else */
	vmtrack_dset_set_dirty(live, base + 10 * PAGE, base + 13 * PAGE, NULL);
	vmtrack_dset_set_dirty(live, base + 40 * PAGE, base + 41 * PAGE, NULL);
	ep = vmtrack_dset_take_epoch(live);
	CHECK(ep);
	if (ep) {
		CHECK_EQ(vmtrack_dset_collect_batch(ep, &iov, &alloc, 1), 1);
		CHECK_EQ((uintptr_t)iov[0].iov_base, base + 10 * PAGE);
		CHECK_EQ(iov[0].iov_len, 3 * PAGE);
		vmtrack_dset_merge_dirty(live, ep);
		CHECK_EQ(vmtrack_dset_dirty_pages(live), 1);
		CHECK(vmtrack_dset_test(live, base + 40 * PAGE));
		vmtrack_dset_free(ep);
	}
	free(iov);
	free(want);
	vmtrack_dset_free(live);
	vmtrack_dset_free(ref);
}

/* ------------------------------------------------------------------ */
/* tracker: event semantics and loss -> all dirty                       */

static struct vmtrack_event ev_of(int kind, uint64_t mm, int tgid, uint64_t a, uint64_t b,
				  uint64_t c, int arg)
{
	struct vmtrack_event ev = { .kind = kind, .mm_id = mm, .tgid = tgid, .a = a, .b = b,
				    .c = c, .arg = arg };
	return ev;
}

static void test_tracker_events(void)
{
	struct vmtrack_dset *ds = vmtrack_dset_new(PAGE);
	struct vmtrack_tracker t;
	struct vmtrack_epoch ep = { 0 };
	struct vmtrack_event ev;

	vmtrack_tracker_init(&t, ds, 100);
	vmtrack_dset_add(ds, 0x10000, 0x20000, false, NULL);
	vmtrack_dset_add(ds, 0x40000, 0x44000, false, NULL);
	ev = ev_of(VMTRACK_EV_MARK, 5, 100, 0x10000, 0x20000, 0, 0);
	vmtrack_tracker_apply(&t, &ev, &ep);
	ev = ev_of(VMTRACK_EV_WRITE_FAULT, 5, 100, 0x11000, PAGE, 0, 0);
	vmtrack_tracker_apply(&t, &ev, &ep);
	ev = ev_of(VMTRACK_EV_ZAP, 5, 100, 0x13000, 0x15000, 0, 0);
	vmtrack_tracker_apply(&t, &ev, &ep);
	ev = ev_of(VMTRACK_EV_PINNED, 5, 100, 0x1f000, PAGE, 0, 0);
	vmtrack_tracker_apply(&t, &ev, &ep);
	/* another mm of the same tgid (after exec), another tgid: ignored */
	ev = ev_of(VMTRACK_EV_WRITE_FAULT, 6, 100, 0x18000, PAGE, 0, 0);
	vmtrack_tracker_apply(&t, &ev, &ep);
	ev = ev_of(VMTRACK_EV_WRITE_FAULT, 5, 101, 0x19000, PAGE, 0, 0);
	vmtrack_tracker_apply(&t, &ev, &ep);
	/* move of the second range: new place dirty, old gone with its unmap */
	ev = ev_of(VMTRACK_EV_MOVE, 5, 100, 0x40000, 0x90000, 0x4000, 0);
	vmtrack_tracker_apply(&t, &ev, &ep);
	ev = ev_of(VMTRACK_EV_UNMAP, 5, 100, 0x40000, 0x44000, 0, 0);
	vmtrack_tracker_apply(&t, &ev, &ep);
	CHECK_EQ(ep.events, 6);
	CHECK_EQ(ep.foreign, 2);
	CHECK_EQ(vmtrack_tracker_collect(&t, &ep), 0);
	CHECK(!ep.all_dirty);
	CHECK_EQ(ep.loss, 0);
	CHECK_EQ(ep.dirty_pages, 1 + 2 + 1 + 4);
	CHECK_EQ(ep.nr_dirty, 4);
	CHECK_EQ(ep.seq, 1);
	CHECK(!vmtrack_dset_covers(ds, 0x40000));

	/* unmap drops, unmark dirties, a mark with rearm=1 after epoch 1 is ours */
	memset(&ep, 0, sizeof(ep));
	ev = ev_of(VMTRACK_EV_MARK, 5, 100, 0x11000, 0x12000, 0, 1);
	vmtrack_tracker_apply(&t, &ev, &ep);
	ev = ev_of(VMTRACK_EV_UNMAP, 5, 100, 0x90000, 0x92000, 0, 0);
	vmtrack_tracker_apply(&t, &ev, &ep);
	ev = ev_of(VMTRACK_EV_UNMARK, 5, 100, 0x1a000, 0x1c000, 0, 0);
	vmtrack_tracker_apply(&t, &ev, &ep);
	vmtrack_tracker_collect(&t, &ep);
	CHECK(!ep.all_dirty);
	CHECK_EQ(ep.dirty_pages, 2);
	CHECK_EQ(ep.watched_pages, 16 + 2);

	/* exit: gone, later events ignored */
	memset(&ep, 0, sizeof(ep));
	ev = ev_of(VMTRACK_EV_EXIT, 5, 100, 0, 0, 0, 0);
	vmtrack_tracker_apply(&t, &ev, &ep);
	ev = ev_of(VMTRACK_EV_WRITE_FAULT, 5, 100, 0x11000, PAGE, 0, 0);
	vmtrack_tracker_apply(&t, &ev, &ep);
	vmtrack_tracker_collect(&t, &ep);
	CHECK(ep.target_gone);
	CHECK_EQ(ep.dirty_pages, 0);
	CHECK_EQ(ep.foreign, 1);
	free(t.iov);
	vmtrack_dset_free(ds);
}

/*
 * mremap(MREMAP_DONTUNMAP): move, then a zap of the old place, which stays
 * mapped, reads back zero and is written again; the zap applied as
 * decoded, the move in timestamp order, as a session applies them.
 */
static void test_tracker_move_dontunmap(void)
{
	struct vmtrack_dset *ds = vmtrack_dset_new(PAGE);
	struct vmtrack_tracker t;
	struct vmtrack_epoch ep = { 0 };
	struct vmtrack_event ev;

	vmtrack_tracker_init(&t, ds, 100);
	vmtrack_dset_add(ds, 0x40000, 0x48000, false, NULL);
	ev = ev_of(VMTRACK_EV_MARK, 5, 100, 0x40000, 0x48000, 0, 0);
	vmtrack_tracker_apply(&t, &ev, &ep);
	CHECK_EQ(vmtrack_tracker_collect(&t, &ep), 0);

	memset(&ep, 0, sizeof(ep));
	ev = ev_of(VMTRACK_EV_ZAP, 5, 100, 0x40000, 0x48000, 2, 0);
	CHECK(vmtrack_tracker_early(&t, &ev));
	ev = ev_of(VMTRACK_EV_MOVE, 5, 100, 0x40000, 0x90000, 0x8000, 0);
	vmtrack_tracker_apply_all(&t, &ev, 1, &ep);
	CHECK_EQ(vmtrack_tracker_collect(&t, &ep), 0);
	CHECK_EQ(ep.dirty_pages, 8 + 8);
	CHECK_EQ(ep.stray_pages, 0);

	/* written again at the old place: still reported */
	memset(&ep, 0, sizeof(ep));
	ev = ev_of(VMTRACK_EV_WRITE_FAULT, 5, 100, 0x41000, PAGE, 0, 0);
	CHECK(vmtrack_tracker_early(&t, &ev));
	vmtrack_tracker_apply_all(&t, NULL, 0, &ep);
	CHECK_EQ(vmtrack_tracker_collect(&t, &ep), 0);
	CHECK_EQ(ep.dirty_pages, 1);
	CHECK_EQ(ep.stray_pages, 0);
	free(t.iov);
	vmtrack_dset_free(ds);
}

/* writable-only rescans: the places unmapped or moved since the last one */
static void test_tracker_gone(void)
{
	struct vmtrack_dset *ds = vmtrack_dset_new(PAGE);
	struct vmtrack_tracker t;
	struct vmtrack_epoch ep = { 0 };
	struct vmtrack_event ev;

	vmtrack_tracker_init(&t, ds, 100);
	vmtrack_dset_add(ds, 0x10000, 0x20000, false, NULL);
	/* not noted unless asked */
	ev = ev_of(VMTRACK_EV_UNMAP, 5, 100, 0x10000, 0x11000, 0, 0);
	vmtrack_tracker_apply(&t, &ev, &ep);
	CHECK_EQ(t.nr_gone, 0);
	t.note_gone = true;
	/* tracked or not, in any order, touching and overlapping */
	ev = ev_of(VMTRACK_EV_UNMAP, 5, 100, 0x80000, 0x82000, 0, 0);
	vmtrack_tracker_apply(&t, &ev, &ep);
	ev = ev_of(VMTRACK_EV_UNMAP, 5, 100, 0x12000, 0x13000, 0, 0);
	vmtrack_tracker_apply(&t, &ev, &ep);
	ev = ev_of(VMTRACK_EV_UNMAP, 5, 100, 0x13000, 0x14000, 0, 0);
	vmtrack_tracker_apply(&t, &ev, &ep);
	ev = ev_of(VMTRACK_EV_UNMAP, 5, 100, 0x81000, 0x84000, 0, 0);
	vmtrack_tracker_apply(&t, &ev, &ep);
	/* a move: both places */
	ev = ev_of(VMTRACK_EV_MOVE, 5, 100, 0x50000, 0x60000, 0x2000, 0);
	vmtrack_tracker_apply(&t, &ev, &ep);
	/* another mm's: not */
	ev = ev_of(VMTRACK_EV_UNMAP, 6, 100, 0x30000, 0x31000, 0, 0);
	vmtrack_tracker_apply(&t, &ev, &ep);
	vmtrack_tracker_gone_sort(&t);
	CHECK_EQ(t.nr_gone, 4);
	CHECK(vmtrack_tracker_gone(&t, 0x12000, 0x12001));
	CHECK(vmtrack_tracker_gone(&t, 0x11000, 0x14000));
	CHECK(vmtrack_tracker_gone(&t, 0x13fff, 0x20000));
	CHECK(!vmtrack_tracker_gone(&t, 0x14000, 0x50000));
	CHECK(!vmtrack_tracker_gone(&t, 0x10000, 0x12000));
	CHECK(vmtrack_tracker_gone(&t, 0x51000, 0x52000));
	CHECK(vmtrack_tracker_gone(&t, 0x5f000, 0x61000));
	CHECK(!vmtrack_tracker_gone(&t, 0x30000, 0x31000));
	CHECK(vmtrack_tracker_gone(&t, 0x83000, 0x90000));
	CHECK(!vmtrack_tracker_gone(&t, 0x84000, 0x90000));
	CHECK(!vmtrack_tracker_gone(&t, 0, 0x10000));
	CHECK(!vmtrack_tracker_gone(&t, 0x90000, UINT64_MAX));
	/* the tracked place unmapped is dropped as before */
	CHECK(!vmtrack_dset_covers(ds, 0x12000));
	/* a place that could not be noted: every place may be new */
	t.gone_unknown = true;
	CHECK(vmtrack_tracker_gone(&t, 0x90000, UINT64_MAX));
	free(t.gone);
	free(t.iov);
	vmtrack_dset_free(ds);
}

static void test_tracker_loss(void)
{
	struct vmtrack_dset *ds = vmtrack_dset_new(PAGE);
	struct vmtrack_tracker t;
	struct vmtrack_epoch ep = { 0 };
	struct vmtrack_event ev;

	vmtrack_tracker_init(&t, ds, 7);
	vmtrack_dset_add(ds, 0x10000, 0x20000, false, NULL);
	vmtrack_dset_add(ds, 0x30000, 0x31000, false, NULL);
	ev = ev_of(VMTRACK_EV_WRITE_FAULT, 1, 7, 0x11000, PAGE, 0, 0);
	vmtrack_tracker_apply(&t, &ev, &ep);
	vmtrack_tracker_loss(&t, VMTRACK_LOSS_EVENTS, 3);
	vmtrack_tracker_loss(&t, VMTRACK_LOSS_EVENTS, 4);
	vmtrack_tracker_collect(&t, &ep);
	CHECK(ep.all_dirty);
	CHECK_EQ(ep.loss, VMTRACK_LOSS_EVENTS);
	CHECK_EQ(ep.lost_events, 7);
	CHECK_EQ(ep.dirty_pages, 17);
	CHECK_EQ(ep.nr_dirty, 2);
	/* the next epoch is precise again */
	memset(&ep, 0, sizeof(ep));
	vmtrack_tracker_collect(&t, &ep);
	CHECK(!ep.all_dirty);
	CHECK_EQ(ep.dirty_pages, 0);
	/* unknown loss saturates */
	memset(&ep, 0, sizeof(ep));
	vmtrack_tracker_loss(&t, VMTRACK_LOSS_EVENTS, UINT64_MAX);
	vmtrack_tracker_loss(&t, VMTRACK_LOSS_TAMPER, 5);
	vmtrack_tracker_collect(&t, &ep);
	CHECK_EQ(ep.lost_events, UINT64_MAX);
	CHECK_EQ(ep.loss, VMTRACK_LOSS_EVENTS | VMTRACK_LOSS_TAMPER);
	CHECK_EQ(ep.dirty_pages, 17);
	free(t.iov);
	vmtrack_dset_free(ds);
}

/* one epoch of numbered events of mm 5; the loss bits and count it reports */
static unsigned int numbered_epoch(struct vmtrack_tracker *t, const uint64_t *nums, int n,
				   uint64_t *lost)
{
	struct vmtrack_epoch ep = { 0 };
	struct vmtrack_event ev;
	int i;

	for (i = 0; i < n; i++) {
		ev = ev_of(VMTRACK_EV_WRITE_FAULT, 5, 7, 0x10000 + (nums[i] % 16) * PAGE, PAGE,
			   0, 0);
		ev.mm_seq = nums[i];
		/* the even ones as decoded, the odd ones at the end of the epoch */
		if (!(nums[i] & 1) && vmtrack_tracker_early(t, &ev))
			continue;
		vmtrack_tracker_apply(t, &ev, &ep);
	}
	CHECK_EQ(vmtrack_tracker_collect(t, &ep), 0);
	*lost = ep.lost_events;
	CHECK(!!ep.loss == ep.all_dirty);
	return ep.loss;
}

/*
 * The kernel's numbers of the mm's events: a number missing at a collect
 * may still come from another CPU's buffer and counts as lost only if it
 * is still missing at the next collect, or at once when the target is
 * stopped; a re-arm's mark carries the number before it; an epoch that is
 * all dirty anyway covers what is missing from it.
 */
static void test_tracker_numbers(void)
{
	struct vmtrack_dset *ds = vmtrack_dset_new(PAGE);
	struct vmtrack_tracker t;
	struct vmtrack_epoch ep = { 0 };
	struct vmtrack_event ev;
	uint64_t lost;

	vmtrack_tracker_init(&t, ds, 7);
	vmtrack_dset_add(ds, 0x10000, 0x20000, false, NULL);
	ev = ev_of(VMTRACK_EV_MARK, 5, 7, 0x10000, 0x20000, 0, 0);
	ev.mm_seq = 4;
	vmtrack_tracker_apply(&t, &ev, &ep);
	/* first epoch: the numbers start at the lowest read, in any order */
	CHECK_EQ(numbered_epoch(&t, (uint64_t[]){ 6, 5 }, 2, &lost), 0);
	/* 7 is late: no loss yet, and none when it comes */
	CHECK_EQ(numbered_epoch(&t, (uint64_t[]){ 8 }, 1, &lost), 0);
	CHECK_EQ(numbered_epoch(&t, (uint64_t[]){ 7, 9 }, 2, &lost), 0);
	/* 10 and 11 never come: lost at the next collect, counted */
	CHECK_EQ(numbered_epoch(&t, (uint64_t[]){ 12 }, 1, &lost), 0);
	CHECK_EQ(numbered_epoch(&t, NULL, 0, &lost), VMTRACK_LOSS_SEQ);
	CHECK_EQ(lost, 2);
	CHECK_EQ(numbered_epoch(&t, NULL, 0, &lost), 0);
	/* a re-arm's mark carries the number before it: 14 is still missing */
	memset(&ep, 0, sizeof(ep));
	ev = ev_of(VMTRACK_EV_MARK, 5, 7, 0x10000, 0x20000, 0, 1);
	ev.mm_seq = 13;
	vmtrack_tracker_apply(&t, &ev, &ep);
	CHECK_EQ(numbered_epoch(&t, (uint64_t[]){ 13, 15 }, 2, &lost), 0);
	CHECK_EQ(numbered_epoch(&t, NULL, 0, &lost), VMTRACK_LOSS_SEQ);
	CHECK_EQ(lost, 1);
	/* the target stopped: nothing can come any more */
	t.stopped = true;
	CHECK_EQ(numbered_epoch(&t, (uint64_t[]){ 17 }, 1, &lost), VMTRACK_LOSS_SEQ);
	CHECK_EQ(lost, 1);
	t.stopped = false;
	/* all dirty for another reason: covers 18, which comes too late */
	vmtrack_tracker_loss(&t, VMTRACK_LOSS_EVENTS, 1);
	CHECK_EQ(numbered_epoch(&t, (uint64_t[]){ 19 }, 1, &lost), VMTRACK_LOSS_EVENTS);
	CHECK_EQ(numbered_epoch(&t, NULL, 0, &lost), 0);
	CHECK_EQ(numbered_epoch(&t, (uint64_t[]){ 18, 20 }, 2, &lost), 0);
	CHECK_EQ(numbered_epoch(&t, NULL, 0, &lost), 0);

	/* first epoch, read 6, 7, 4: 5 is missing, not only what follows 6 */
	free(t.iov);
	vmtrack_tracker_init(&t, ds, 7);
	memset(&ep, 0, sizeof(ep));
	ev = ev_of(VMTRACK_EV_MARK, 5, 7, 0x10000, 0x20000, 0, 0);
	ev.mm_seq = 6;
	vmtrack_tracker_apply(&t, &ev, &ep);
	CHECK_EQ(numbered_epoch(&t, (uint64_t[]){ 7, 4 }, 2, &lost), 0);
	CHECK_EQ(numbered_epoch(&t, (uint64_t[]){ 8 }, 1, &lost), VMTRACK_LOSS_SEQ);
	CHECK_EQ(lost, 1);
	free(t.iov);
	vmtrack_dset_free(ds);
}

/* one epoch of mm 5: a write_fault event of page @page numbered @num */
static struct vmtrack_epoch dense_epoch(struct vmtrack_tracker *t, uint64_t base, int page,
					uint64_t num)
{
	struct vmtrack_epoch ep = { 0 };
	struct vmtrack_event ev;

	if (num) {
		ev = ev_of(VMTRACK_EV_WRITE_FAULT, 5, t->tgid, base + page * PAGE, PAGE, 0, 0);
		ev.mm_seq = num;
		vmtrack_tracker_apply(t, &ev, &ep);
	}
	CHECK_EQ(vmtrack_tracker_collect(t, &ep), 0);
	return ep;
}

/* does the host answer PAGEMAP_SCAN? (6.7+) */
static bool have_pagemap_scan(int fd)
{
	struct pm_scan_arg arg = { .size = sizeof(arg) };

	return ioctl(fd, PAGEMAP_SCAN, &arg) == 0;
}

/*
 * A dense epoch: the written pages come from the soft-dirty bits of the
 * target's entries (here this process's, cleared with clear_refs 4), the
 * gaps the unrecorded faults leave in the numbers are no loss, and the
 * events still read are applied. Without a sweep the epoch is all dirty.
 */
static void test_tracker_dense(void)
{
	struct vmtrack_dset *ds = vmtrack_dset_new(PAGE);
	struct vmtrack_tracker t;
	struct vmtrack_epoch ep;
	char *p = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	uint64_t base = (uintptr_t)p;
	bool scan;
	int fd;

	CHECK(p != MAP_FAILED);
	memset(p, 1, 16 * PAGE);
	fd = open("/proc/self/clear_refs", O_WRONLY);
	CHECK(fd >= 0 && write(fd, "4", 1) == 1);
	close(fd);
	p[3 * PAGE] = 2;
	p[9 * PAGE] = 2;

	vmtrack_tracker_init(&t, ds, getpid());
	vmtrack_dset_add(ds, base, base + 16 * PAGE, false, NULL);
	t.sweep_fd = vmtrack_sweep_open(getpid());
	scan = t.sweep_fd >= 0 && have_pagemap_scan(t.sweep_fd);
	printf("# host soft-dirty sweep: %s\n", scan ? "yes" : "no (all dirty expected)");
	CHECK_EQ(dense_epoch(&t, base, 0, 1).loss, 0);
	/* numbers 2 to 4 are faults not recorded; 0 an event still read */
	t.sweep_written = true;
	ep = dense_epoch(&t, base, 0, 5);
	CHECK(ep.dense);
	if (scan) {
		CHECK_EQ(ep.loss, 0);
		CHECK_EQ(ep.dirty_pages, 3);
		CHECK_EQ(ep.nr_dirty, 3);
		CHECK_EQ((uintptr_t)ep.dirty[1].iov_base, base + 3 * PAGE);
		CHECK_EQ((uintptr_t)ep.dirty[2].iov_base, base + 9 * PAGE);
	} else {
		CHECK_EQ(ep.loss, VMTRACK_LOSS_EVENTS);
		CHECK(ep.all_dirty);
	}
	/* the epoch after: a gap still, no loss where the sweep works */
	madvise(p + 12 * PAGE, PAGE, MADV_DONTNEED);
	ep = dense_epoch(&t, base, 1, 8);
	CHECK_EQ(ep.loss, scan ? 0 : VMTRACK_LOSS_EVENTS);
	if (scan)	/* 3 and 9 soft-dirty still, 1 from the event; not the empty 12 */
		CHECK_EQ(ep.dirty_pages, 3);
	/* the instance was written to: an event may be lost, 12 is dirty too */
	t.sweep_wide = true;
	ep = dense_epoch(&t, base, 1, 9);
	CHECK_EQ(ep.loss, scan ? 0 : VMTRACK_LOSS_EVENTS);
	if (scan)
		CHECK_EQ(ep.dirty_pages, 4);
	t.sweep_wide = false;
	/* the epoch after leaving, quiet: 10 to 19 are faults not recorded */
	ep = dense_epoch(&t, base, 0, 0);
	CHECK_EQ(ep.loss, scan ? 0 : VMTRACK_LOSS_EVENTS);
	/* events only again: the numbers below the first one read are those */
	t.sweep_written = false;
	ep = dense_epoch(&t, base, 2, 20);
	CHECK_EQ(ep.loss, 0);
	CHECK(!ep.dense);
	CHECK_EQ(ep.dirty_pages, 1);
	/* from there on a gap is a loss, at the next collect */
	ep = dense_epoch(&t, base, 2, 22);
	CHECK_EQ(ep.loss, 0);
	ep = dense_epoch(&t, base, 2, 0);
	CHECK_EQ(ep.loss, VMTRACK_LOSS_SEQ);
	if (t.sweep_fd >= 0)
		close(t.sweep_fd);
	munmap(p, 16 * PAGE);
	free(t.iov);
	vmtrack_dset_free(ds);
}

/* the collected ranges are exactly the pages of @want, coalesced */
static bool dirty_is(const struct vmtrack_epoch *ep, uint64_t base, const bool *want, size_t np)
{
	size_t i, k, page = 0;

	for (k = 0; k < ep->nr_dirty; k++) {
		uint64_t start = (uintptr_t)ep->dirty[k].iov_base;
		uint64_t end = start + ep->dirty[k].iov_len;

		if (k && (uintptr_t)ep->dirty[k - 1].iov_base + ep->dirty[k - 1].iov_len >= start)
			return false;
		for (; page < np && base + page * PAGE < start; page++)
			if (want[page])
				return false;
		for (i = page; i < np && base + i * PAGE < end; i++)
			if (!want[i])
				return false;
		if (base + i * PAGE != end)
			return false;
		page = i;
	}
	for (; page < np; page++)
		if (want[page])
			return false;
	return true;
}

/*
 * Dense epochs on memory of this process watched by a kernel whose sweep
 * re-arms: without other events the sweep's regions are the dirty set as
 * found; with a zap beside them the bitmap takes them in. Either way the
 * written pages are reported and armed again (found again once written
 * again), and the range's counters are those of the pages reported.
 * The first round has more regions than one PAGEMAP_SCAN call returns.
 */
static void test_tracker_sweep_extents(void)
{
	enum { NP = 9216 };
	struct vmtrack_dset *ds;
	struct vmtrack_range_info ri;
	struct vmtrack_tracker t;
	struct vmtrack_epoch ep;
	struct vmtrack_event ev;
	bool want[NP];
	uint64_t base, total = 0;
	size_t i, round, n;
	char *p;

	p = mmap(NULL, NP * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED);
	if (p == MAP_FAILED)
		return;
	memset(p, 1, NP * PAGE);
	if (madvise(p, NP * PAGE, MADV_WATCH)) {
		munmap(p, NP * PAGE);
		printf("# kernel re-arms in the sweep: no (no MADV_WATCH)\n");
		SKIP_TEST("no MADV_WATCH");
	}
	base = (uintptr_t)p;
	ds = vmtrack_dset_new(PAGE);
	vmtrack_tracker_init(&t, ds, getpid());
	vmtrack_dset_add(ds, base, base + NP * PAGE, false, NULL);
	t.sweep_fd = vmtrack_sweep_open(getpid());
	t.sweep_written = true;
	t.sweep_rearm = true;
	printf("# kernel re-arms in the sweep: %s\n",
	       vmtrack_tracker_sweep_rearms(&t) ? "yes" : "no");
	CHECK(vmtrack_tracker_sweep_rearms(&t));
	/* written only before MADV_WATCH armed them */
	ep = (struct vmtrack_epoch){ 0 };
	CHECK_EQ(vmtrack_tracker_collect(&t, &ep), 0);
	CHECK_EQ(ep.dirty_pages, 0);
	for (round = 0; round < 4; round++) {
		memset(want, 0, sizeof(want));
		/* single pages, and a run across a page table's end (page 1024) */
		for (i = round; i < NP; i += 2 + round)
			want[i] = true;
		for (i = 1000 + round; i < 1050; i++)
			want[i] = true;
		for (i = 0; i < NP; i++)
			if (want[i])
				p[i * PAGE]++;
		ep = (struct vmtrack_epoch){ 0 };
		if (round == 3) {	/* a zap: the bitmap path */
			ev = ev_of(VMTRACK_EV_ZAP, 5, t.tgid, base + 2 * PAGE, base + 3 * PAGE,
				   0, 0);
			ev.mm_seq = 1;
			vmtrack_tracker_apply(&t, &ev, &ep);
			want[2] = true;
		}
		CHECK_EQ(vmtrack_tracker_collect(&t, &ep), 0);
		CHECK_EQ(ep.loss, 0);
		CHECK(t.swept_rearmed);
		CHECK_EQ(t.nr_extents != 0, round != 3);
		for (i = 0, n = 0; i < NP; i++)
			n += want[i];
		CHECK_EQ(ep.dirty_pages, n);
		CHECK(dirty_is(&ep, base, want, NP));
		total += n;
		CHECK_EQ(vmtrack_dset_range(ds, 0, &ri), 0);
		CHECK_EQ(ri.last, n);
		CHECK_EQ(ri.total, total);
		/* the zapped page is the session's to re-arm */
		CHECK_EQ(t.nr_rearm, round == 3);
	}
	close(t.sweep_fd);
	free(t.iov);
	free(t.rearm_iov);
	vmtrack_dset_free(ds);
	munmap(p, NP * PAGE);
}

static void test_tracker_restart(void)
{
	struct vmtrack_dset *ds = vmtrack_dset_new(PAGE);
	struct vmtrack_tracker t;
	struct vmtrack_epoch ep = { 0 };
	struct vmtrack_event ev;

	/* our first mark finds the range watched already: a previous consumer */
	vmtrack_tracker_init(&t, ds, 7);
	vmtrack_dset_add(ds, 0x10000, 0x20000, false, NULL);
	ev = ev_of(VMTRACK_EV_MARK, 1, 7, 0x10000, 0x20000, 0, 1);
	vmtrack_tracker_apply(&t, &ev, &ep);
	vmtrack_tracker_collect(&t, &ep);
	CHECK(ep.all_dirty);
	CHECK_EQ(ep.loss, VMTRACK_LOSS_RESTART);
	CHECK_EQ(ep.dirty_pages, 16);
	/* a fresh mark (rearm=0) is precise */
	free(t.iov);
	vmtrack_tracker_init(&t, ds, 7);
	memset(&ep, 0, sizeof(ep));
	ev = ev_of(VMTRACK_EV_MARK, 1, 7, 0x10000, 0x20000, 0, 0);
	vmtrack_tracker_apply(&t, &ev, &ep);
	vmtrack_tracker_collect(&t, &ep);
	CHECK(!ep.all_dirty);
	CHECK_EQ(ep.dirty_pages, 0);
	free(t.iov);
	vmtrack_dset_free(ds);
}

static void test_tracker_stray(void)
{
	struct vmtrack_dset *ds = vmtrack_dset_new(PAGE);
	struct vmtrack_tracker t;
	struct vmtrack_epoch ep = { 0 };
	struct vmtrack_event ev;

	vmtrack_tracker_init(&t, ds, 7);
	vmtrack_dset_add(ds, 0x10000, 0x11000, false, NULL);
	/* explicit ranges: a write elsewhere is counted, not tracked */
	ev = ev_of(VMTRACK_EV_WRITE_FAULT, 1, 7, 0x50000, PAGE, 0, 0);
	vmtrack_tracker_apply(&t, &ev, &ep);
	CHECK_EQ(ep.stray_pages, 1);
	CHECK(!vmtrack_dset_covers(ds, 0x50000));
	/* watch-all: tracked from now on, and dirty (a THP-sized fault) */
	t.fill_stray = true;
	ev = ev_of(VMTRACK_EV_WRITE_FAULT, 1, 7, 0x200000, 0x200000, 0, 0);
	vmtrack_tracker_apply(&t, &ev, &ep);
	CHECK_EQ(ep.stray_pages, 1 + 512);
	CHECK_EQ(vmtrack_dset_dirty_pages(ds), 512);
	free(t.iov);
	vmtrack_dset_free(ds);
}

/* the dirty pages of [base, base + np pages) after a collect, into @got */
static void collect_pages(struct vmtrack_tracker *t, struct vmtrack_epoch *ep, uint64_t base,
			  int np, unsigned char *got)
{
	size_t k;

	memset(got, 0, np);
	CHECK_EQ(vmtrack_tracker_collect(t, ep), 0);
	for (k = 0; k < ep->nr_dirty; k++)
		for (uint64_t p = (uintptr_t)ep->dirty[k].iov_base;
		     p < (uintptr_t)ep->dirty[k].iov_base + ep->dirty[k].iov_len; p += PAGE)
			if (p >= base && p < base + np * PAGE)
				got[(p - base) / PAGE] = 1;
}

/*
 * The events that only dirty pages are applied as they are decoded, the
 * others in timestamp order at the end of the epoch, from two CPUs read one
 * after the other: the result holds every page the timestamp order gives,
 * and is the same when nothing was unmapped or moved.
 */
static void test_tracker_early(void)
{
	enum { NP = 256, NEV = 40 };
	uint64_t base = 0x40000000;
	unsigned int seed = 4242;
	int round, bad = 0, unmapped_rounds = 0, kept_total = 0, foreign_total = 0;

	for (round = 0; round < 400 && !bad; round++) {
		struct vmtrack_dset *dr = vmtrack_dset_new(PAGE), *de = vmtrack_dset_new(PAGE);
		struct vmtrack_event ev[NEV], kept[NEV], mark;
		unsigned char want[NP], got[NP];
		struct vmtrack_epoch er = { 0 }, ee = { 0 };
		struct vmtrack_tracker tr, te;
		bool unmaps = false, stray = round & 1;
		int i, k, nkept = 0, cpu;

		vmtrack_tracker_init(&tr, dr, 9);
		vmtrack_tracker_init(&te, de, 9);
		tr.fill_stray = te.fill_stray = stray;
		for (i = 0; i < 4; i++) {
			int a = rand_r(&seed) % NP, b = a + 1 + rand_r(&seed) % 64;

			b = b > NP ? NP : b;
			vmtrack_dset_add(dr, base + a * PAGE, base + b * PAGE, false, NULL);
			vmtrack_dset_add(de, base + a * PAGE, base + b * PAGE, false, NULL);
		}
		mark = ev_of(VMTRACK_EV_MARK, 3, 9, base, base + PAGE, 0, 0);
		vmtrack_tracker_apply(&tr, &mark, &er);
		vmtrack_tracker_apply(&te, &mark, &ee);
		collect_pages(&tr, &er, base, NP, want);
		collect_pages(&te, &ee, base, NP, got);

		for (i = 0; i < NEV; i++) {
			int op = rand_r(&seed) % 100, a = rand_r(&seed) % NP;
			int len = 1 + rand_r(&seed) % 16, d = rand_r(&seed) % NP;
			uint64_t pa = base + a * PAGE;
			uint64_t pe = base + (a + len > NP ? NP : a + len) * PAGE;

			/* about one epoch in two has an unmap or a move */
			if (op < 80)
				ev[i] = ev_of(VMTRACK_EV_WRITE_FAULT, 3, 9, pa, PAGE, 0, 0);
			else if (op < 88)
				ev[i] = ev_of(VMTRACK_EV_ZAP, 3, 9, pa, pe, 0, 0);
			else if (op < 98)
				ev[i] = ev_of(VMTRACK_EV_PINNED, 3, 9, pa, PAGE, 0, 0);
			else if (op == 98 || d + (pe - pa) / PAGE > NP)
				ev[i] = ev_of(VMTRACK_EV_UNMAP, 3, 9, pa, pe, 0, 0);
			else
				ev[i] = ev_of(VMTRACK_EV_MOVE, 3, 9, pa, base + d * PAGE,
					      pe - pa, 0);
			/* one in ten of another mm, of the same process or not */
			if (rand_r(&seed) % 10 == 0) {
				ev[i].mm_id = 4;
				ev[i].tgid = rand_r(&seed) % 2 ? 9 : 10;
				foreign_total++;
			}
			unmaps |= ev[i].mm_id == 3 &&
				  (ev[i].kind == VMTRACK_EV_UNMAP || ev[i].kind == VMTRACK_EV_MOVE);
			ev[i].ts = 1000 + i;
			ev[i].cpu = rand_r(&seed) % 2;
		}
		memset(&er, 0, sizeof(er));
		memset(&ee, 0, sizeof(ee));
		for (i = 0; i < NEV; i++)
			vmtrack_tracker_apply(&tr, &ev[i], &er);
		/* CPU 0's events, then CPU 1's, as the session reads them */
		for (cpu = 0; cpu < 2; cpu++)
			for (i = 0; i < NEV; i++)
				if (ev[i].cpu == cpu && !vmtrack_tracker_early(&te, &ev[i]))
					kept[nkept++] = ev[i];
		for (i = 1; i < nkept; i++)	/* back in timestamp order */
			for (k = i; k > 0 && kept[k - 1].ts > kept[k].ts; k--) {
				struct vmtrack_event x = kept[k];

				kept[k] = kept[k - 1];
				kept[k - 1] = x;
			}
		/* other mms' events are dropped as decoded, not kept for the sort */
		for (i = 0; i < nkept; i++)
			if (kept[i].mm_id != 3 || kept[i].tgid != 9)
				bad = printf("#   round %d: event %d of mm %llu kept\n", round, i,
					     (unsigned long long)kept[i].mm_id);
		vmtrack_tracker_apply_all(&te, kept, nkept, &ee);
		kept_total += nkept;
		unmapped_rounds += unmaps;
		CHECK_EQ(er.events, ee.events);
		CHECK_EQ(er.foreign, ee.foreign);
		collect_pages(&tr, &er, base, NP, want);
		collect_pages(&te, &ee, base, NP, got);
		for (i = 0; i < NP && !bad; i++) {
			if (want[i] && !got[i])
				bad = printf("#   round %d page %d: dirty in order, missed early\n",
					     round, i);
			else if (!unmaps && got[i] != want[i])
				bad = printf("#   round %d page %d: %d in order, %d early\n",
					     round, i, want[i], got[i]);
		}
		if (!unmaps && er.stray_pages != ee.stray_pages)
			bad = printf("#   round %d: stray %llu in order, %llu early\n", round,
				     (unsigned long long)er.stray_pages,
				     (unsigned long long)ee.stray_pages);
		free(tr.iov);
		free(te.iov);
		vmtrack_dset_free(dr);
		vmtrack_dset_free(de);
	}
	CHECK(!bad);
	/* both kinds of epochs were drawn, and most events were applied early */
	CHECK(unmapped_rounds > 100 && unmapped_rounds < 300);
	CHECK(kept_total < 400 * NEV / 2);
	CHECK(foreign_total > 400 * NEV / 20);
}

/* what the session's collect_event() does: apply early, or keep */
struct early_ctx {
	struct vmtrack_tracker	*t;
	struct vmtrack_event	kept[128];
	int			n;
};

static int early_keep_cb(const struct vmtrack_event *ev, void *ctx)
{
	struct early_ctx *c = ctx;

	if (vmtrack_tracker_early(c->t, ev))
		return 0;
	if (c->n < 128)
		c->kept[c->n] = *ev;
	c->n++;
	return 0;
}

static int page_fn_calls, page_fn_taken;

static bool counting_page_fn(void *ctx, uint64_t mm_id, int32_t tgid, uint64_t mm_seq,
			     uint64_t addr)
{
	bool taken = vmtrack_tracker_early_page(ctx, mm_id, tgid, mm_seq, addr);

	page_fn_calls++;
	page_fn_taken += taken;
	return taken;
}

/*
 * The decoder's fast path for write faults of one page gives the dirty
 * set, the counts and the kept events of the full decode: pages in and
 * outside the ranges (watch-all mode too), other processes and mms,
 * other sizes, other events between them.
 */
static void test_page_fast_path(void)
{
	enum { NP = 256, NREC = 60 };
	struct vmtrack_page_layout l = layout64();
	struct tep_handle *tep = fixture_tep(false);
	uint64_t base = 0x40000000;
	unsigned int seed = 77;
	int round, i, bad = 0;

	CHECK(tep);
	page_fn_calls = page_fn_taken = 0;
	for (round = 0; round < 100 && tep && !bad; round++) {
		struct vmtrack_decoder *da = vmtrack_decoder_new(tep, NULL, 0);
		struct vmtrack_decoder *db = vmtrack_decoder_new(tep, NULL, 0);
		struct vmtrack_dset *dsa = vmtrack_dset_new(PAGE), *dsb = vmtrack_dset_new(PAGE);
		struct vmtrack_epoch ea = { 0 }, eb = { 0 };
		struct vmtrack_tracker ta, tb;
		struct early_ctx ca = { .t = &ta }, cb = { .t = &tb };
		unsigned char got_a[NP], got_b[NP];
		struct vmtrack_event mark;
		struct page_builder pg;
		struct rec r;

		vmtrack_tracker_init(&ta, dsa, 9);
		vmtrack_tracker_init(&tb, dsb, 9);
		ta.fill_stray = tb.fill_stray = round & 1;
		for (i = 0; i < 3; i++) {
			int a = rand_r(&seed) % NP, b = min(a + 1 + rand_r(&seed) % 64, NP);

			vmtrack_dset_add(dsa, base + a * PAGE, base + b * PAGE, false, NULL);
			vmtrack_dset_add(dsb, base + a * PAGE, base + b * PAGE, false, NULL);
		}
		mark = ev_of(VMTRACK_EV_MARK, 3, 9, base, base + PAGE, 0, 0);
		vmtrack_tracker_apply(&ta, &mark, &ea);
		vmtrack_tracker_apply(&tb, &mark, &eb);
		vmtrack_decoder_set_page_fn(db, PAGE, counting_page_fn, &tb);

		pb_init(&pg, 1000, 8);
		for (i = 0; i < NREC; i++) {
			int op = rand_r(&seed) % 10;
			uint64_t addr = base + (uint64_t)(rand_r(&seed) % NP) * PAGE;

			if (op == 3) {
				mk_rec(&r, ID_ZAP, 3, 9, addr, addr + PAGE, 0);
				pb_record(&pg, &r, rec_len(3, true), 1, false);
				continue;
			}
			mk_rec(&r, ID_WF, op == 0 ? 4 : 3, op == 1 ? 10 : 9, addr,
			       op == 2 ? 2 * PAGE : PAGE, 0);
			pb_record(&pg, &r, rec_len(2, false), 1, false);
		}
		pb_commit(&pg, 0);
		CHECK_EQ(vmtrack_decode_subbuf(da, &l, pg.page, PAGE, 0, early_keep_cb, &ca), NREC);
		CHECK_EQ(vmtrack_decode_subbuf(db, &l, pg.page, PAGE, 0, early_keep_cb, &cb), NREC);
		CHECK_EQ(ca.n, cb.n);
		for (i = 0; i < min(ca.n, cb.n) && i < 128; i++)
			if (memcmp(&ca.kept[i], &cb.kept[i], sizeof(ca.kept[i])))
				bad = printf("#   round %d: kept event %d differs\n", round, i);
		CHECK_EQ(ta.early_events, tb.early_events);
		CHECK_EQ(ta.early_stray, tb.early_stray);
		CHECK_EQ(ta.num.seen, tb.num.seen);
		vmtrack_tracker_apply_all(&ta, ca.kept, min(ca.n, 128), &ea);
		vmtrack_tracker_apply_all(&tb, cb.kept, min(cb.n, 128), &eb);
		collect_pages(&ta, &ea, base, NP, got_a);
		collect_pages(&tb, &eb, base, NP, got_b);
		CHECK_EQ(ea.events, eb.events);
		CHECK_EQ(ea.stray_pages, eb.stray_pages);
		CHECK_EQ(ea.nr_dirty, eb.nr_dirty);
		if (memcmp(got_a, got_b, NP))
			bad = printf("#   round %d: the dirty pages differ\n", round);
		free(ta.iov);
		free(tb.iov);
		vmtrack_dset_free(dsa);
		vmtrack_dset_free(dsb);
		vmtrack_decoder_free(da);
		vmtrack_decoder_free(db);
	}
	CHECK(!bad);
	/* the fast path ran, took most events and left some to the full decode */
	CHECK(page_fn_taken > 1000 && page_fn_taken < page_fn_calls);
	if (tep)
		tep_free(tep);
}

/* ------------------------------------------------------------------ */
/* stats                                                                */

static const char stats_text[] =
	"entries: 3\n"
	"overrun: 10\n"
	"commit overrun: 1\n"
	"bytes: 4096\n"
	"oldest event ts:  5341.237689\n"
	"now ts:  5343.586512\n"
	"dropped events: 25\n"
	"read events: 1234\n";

static void test_stats(void)
{
	struct vmtrack_cpu_stats a, b;

	CHECK_EQ(vmtrack_stats_parse(stats_text, &a), 0);
	CHECK_EQ(a.entries, 3);
	CHECK_EQ(a.overrun, 10);
	CHECK_EQ(a.commit_overrun, 1);
	CHECK_EQ(a.dropped, 25);
	CHECK_EQ(a.read, 1234);
	b = a;
	CHECK_EQ(vmtrack_stats_lost(&a, &b), 0);
	b.dropped += 100;
	b.overrun += 2;
	b.commit_overrun += 1;
	b.read += 5000;			/* reading is not losing */
	CHECK_EQ(vmtrack_stats_lost(&a, &b), 103);
	b.dropped = 0;			/* reset behind our back */
	CHECK_EQ(vmtrack_stats_lost(&a, &b), UINT64_MAX);
	CHECK_EQ(vmtrack_stats_parse("entries: 3\noverrun: 1\n", &a), -EINVAL);
	CHECK_EQ(vmtrack_stats_parse("overrun: x\ncommit overrun: 0\ndropped events: 0\n", &a),
		 -EINVAL);
	CHECK_EQ(vmtrack_stats_parse("overrun: 1\ncommit overrun: 0\ndropped events: 9", &a), 0);
	CHECK_EQ(a.dropped, 9);
}

static void test_buffer_size(void)
{
	CHECK_EQ(vmtrack_buffer_kb_for(0, PAGE), 512);
	/* 1 GiB watched: room for one event per page */
	CHECK(vmtrack_buffer_kb_for(262144, PAGE) * 1024 >= 262144ULL * 52);
	CHECK(vmtrack_buffer_kb_for(262144, PAGE) < vmtrack_buffer_kb_for(524288, PAGE));
	CHECK_EQ(vmtrack_buffer_kb_for(1ULL << 40, PAGE), 256 * 1024);
	CHECK_EQ(vmtrack_buffer_kb_for(UINT64_MAX, PAGE), 256 * 1024);
}

/* ------------------------------------------------------------------ */
/* /proc/PID/maps and process_madvise batching                          */

static void test_maps_parse(void)
{
	struct vmtrack_mapping m;

	CHECK_EQ(vmtrack_maps_parse_line("55d0c2a00000-55d0c2a21000 rw-p 00000000 00:00 0   "
					 "                       [heap]\n", &m), 0);
	CHECK_EQ(m.start, 0x55d0c2a00000ULL);
	CHECK_EQ(m.end, 0x55d0c2a21000ULL);
	CHECK(!strcmp(m.name, "[heap]"));
	CHECK(vmtrack_mapping_watchable(&m, false));
	CHECK_EQ(vmtrack_maps_parse_line("7f00-8f00 r--p 00001000 08:01 1234 /usr/lib/my lib.so\n",
					 &m), 0);
	CHECK(!strcmp(m.name, "/usr/lib/my lib.so"));
	CHECK(!vmtrack_mapping_watchable(&m, false));
	CHECK(vmtrack_mapping_watchable(&m, true));
	CHECK_EQ(vmtrack_maps_parse_line("7f00-8f00 rw-s 00000000 00:05 77 /dev/zero (deleted)\n",
					 &m), 0);
	CHECK(m.shared);
	CHECK(!vmtrack_mapping_watchable(&m, true));
	CHECK_EQ(vmtrack_maps_parse_line("7fff0000-7fff2000 rw-p 00000000 00:00 0\n", &m), 0);
	CHECK(!strcmp(m.name, ""));
	CHECK_EQ(vmtrack_maps_parse_line("ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0"
					 "  [vsyscall]\n", &m), 0);
	CHECK(!vmtrack_mapping_watchable(&m, true));
	CHECK_EQ(vmtrack_maps_parse_line("garbage\n", &m), -EINVAL);
	CHECK_EQ(vmtrack_maps_parse_line("2000-1000 rw-p 0 00:00 0\n", &m), -EINVAL);
}

/* the soft-dirty bit of our page at @p: "written since armed" when watched */
static int soft_dirty(const void *p)
{
	uint64_t pme = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return -1;
	if (pread(fd, &pme, sizeof(pme), (uintptr_t)p / PAGE * sizeof(pme)) != sizeof(pme))
		pme = 0;
	close(fd);
	return !!(pme & (1ULL << 55));
}

/* whether the VMA that holds @p is watched, by vmtrack_smaps_read() */
static int watched_at(const void *p)
{
	struct vmtrack_vmas v = { 0 };
	uint64_t a = (uintptr_t)p;
	int ret = -1;
	size_t i;

	if (vmtrack_smaps_read(getpid(), &v))
		return -1;
	for (i = 0; i < v.nr; i++)
		if (v.vma[i].start <= a && a < v.vma[i].end)
			ret = v.vma[i].watched;
	free(v.vma);
	return ret;
}

/*
 * A range over twice 2 GiB: one process_madvise() call advises at most
 * MAX_RW_COUNT bytes and cuts the vector there without an error, and so
 * does a second call with what is left. Every page of the range must be
 * watched, armed, re-armed and unwatched.
 */
static void test_madvise_over_2g(void)
{
	const size_t len = 5UL << 30, far = 9UL << 29;	/* 5 GiB; 4.5 GiB in */
	int pidfd = syscall(SYS_pidfd_open, getpid(), 0);
	struct iovec v;
	size_t done = 12345;
	char *p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		 -1, 0);
	CHECK(p != MAP_FAILED && pidfd >= 0);
	if (p == MAP_FAILED || pidfd < 0)
		goto out;
	if (madvise(p, PAGE, MADV_WATCH)) {
		munmap(p, len);
		close(pidfd);
		SKIP_TEST("no MADV_WATCH");
	}
	madvise(p, PAGE, MADV_UNWATCH);
	p[0] = 1;
	p[far] = 1;
	p[len - PAGE] = 1;
	v.iov_base = p;
	v.iov_len = len;
	CHECK_EQ(vmtrack_madvise(pidfd, &v, 1, MADV_WATCH, &done), 0);
	CHECK_EQ(done, 1);
	CHECK_EQ(watched_at(p), 1);
	CHECK_EQ(watched_at(p + far), 1);
	CHECK_EQ(watched_at(p + len - PAGE), 1);
	/* armed: written since armed is clear, and the next write sets it */
	CHECK_EQ(soft_dirty(p + far), 0);
	CHECK_EQ(soft_dirty(p + len - PAGE), 0);
	p[far]++;
	p[len - PAGE]++;
	CHECK_EQ(soft_dirty(p + far), 1);
	/* re-armed: already watched, the other path of the kernel */
	CHECK_EQ(vmtrack_madvise(pidfd, &v, 1, MADV_WATCH, &done), 0);
	CHECK_EQ(soft_dirty(p + far), 0);
	CHECK_EQ(soft_dirty(p + len - PAGE), 0);
	CHECK_EQ(vmtrack_madvise(pidfd, &v, 1, MADV_UNWATCH, &done), 0);
	CHECK_EQ(watched_at(p + far), 0);
	CHECK_EQ(watched_at(p + len - PAGE), 0);
	munmap(p, len);
out:
	if (pidfd >= 0)
		close(pidfd);
}

static int count_maps(const struct vmtrack_mapping *m, void *ctx)
{
	(*(int *)ctx)++;
	return 0;
}

static void test_maps_walk(void)
{
	int n = 0;

	CHECK_EQ(vmtrack_maps_walk(getpid(), count_maps, &n), 0);
	CHECK(n > 3);
	CHECK_EQ(vmtrack_maps_walk(INT_MAX, count_maps, &n), -ESRCH);
}

/* batching and error handling, with an advice the host kernel has */
static void test_madvise_batches(void)
{
	enum { N = 2500 };
	int pidfd = syscall(SYS_pidfd_open, getpid(), 0);
	struct iovec *iov = calloc(N, sizeof(*iov));
	size_t done = 12345, i;
	char *buf;

	CHECK(pidfd >= 0 && iov);
	buf = mmap(NULL, (2 * N + 2) * PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(buf != MAP_FAILED);
	if (pidfd < 0 || !iov || buf == MAP_FAILED)
		goto out;
	for (i = 0; i < N; i++) {
		buf[2 * i * PAGE] = 1;
		iov[i].iov_base = buf + 2 * i * PAGE;	/* not adjacent */
		iov[i].iov_len = PAGE;
	}
	/* MADV_COLD (20) is accepted by process_madvise: three batches */
	CHECK_EQ(vmtrack_madvise(pidfd, iov, N, 20, &done), 0);
	CHECK_EQ(done, N);
	/* a hole (unmapped meanwhile) is reported, the rest can go on */
	munmap(buf + 2 * 1500 * PAGE, PAGE);
	CHECK_EQ(vmtrack_madvise(pidfd, iov, N, 20, &done), -ENOMEM);
	CHECK_EQ(done, 1500);
	CHECK_EQ(vmtrack_madvise(pidfd, iov + 1501, N - 1501, 20, &done), 0);
	CHECK_EQ(done, N - 1501);
	/* an advice the kernel refuses names the failing range */
	CHECK_EQ(vmtrack_madvise(pidfd, iov, N, 0x7fff, &done), -EINVAL);
	CHECK_EQ(done, 0);
	munmap(buf, (2 * N + 2) * PAGE);
out:
	free(iov);
	if (pidfd >= 0)
		close(pidfd);
}

/* settle()'s arm: records the parts it is given, fails those at @fail */
struct settle_arms {
	uint64_t	fail;
	uint64_t	start[4];
	uint64_t	end[4];
	int		n;
};

static int settle_arm_stub(void *data, uint64_t start, uint64_t end)
{
	struct settle_arms *a = data;

	if (a->n < 4) {
		a->start[a->n] = start;
		a->end[a->n] = end;
	}
	a->n++;
	return start <= a->fail && a->fail < end ? -EINVAL : 0;
}

/* a failed mark or re-arm: the set is brought in line with smaps */
static void test_dset_settle(void)
{
	struct vmtrack_vma vma[] = {
		{ 0x10000, 0x12000, true },	/* watched */
		{ 0x12000, 0x14000, false },	/* mapped, not watched */
		/* 0x14000-0x16000: unmapped */
		{ 0x16000, 0x19000, true },
	};
	struct vmtrack_vmas v = { .vma = vma, .nr = ARRAY_SIZE(vma) };
	int untrack;

	for (untrack = 0; untrack < 2; untrack++) {
		struct vmtrack_dset *ds = vmtrack_dset_new(PAGE);

		CHECK_EQ(vmtrack_dset_add(ds, 0xe000, 0x1a000, false, "x"), 0);
		/* the failed range: 0x11000-0x18000 */
		CHECK_EQ(vmtrack_dset_settle(ds, &v, 0x11000, 0x18000, untrack, NULL, NULL), 0);
		CHECK(!vmtrack_dset_test(ds, 0x10000));		/* outside: clean */
		CHECK(vmtrack_dset_test(ds, 0x11000));		/* watched: dirty */
		CHECK_EQ(vmtrack_dset_covers(ds, 0x12000), !untrack);
		CHECK_EQ(vmtrack_dset_test(ds, 0x13000), !untrack);
		CHECK(!vmtrack_dset_covers(ds, 0x14000));	/* hole: untracked */
		CHECK(!vmtrack_dset_covers(ds, 0x15000));
		CHECK(vmtrack_dset_test(ds, 0x16000));
		CHECK(vmtrack_dset_test(ds, 0x17000));
		CHECK(!vmtrack_dset_test(ds, 0x18000));		/* outside: clean */
		CHECK(vmtrack_dset_covers(ds, 0x19000));
		/* past the last VMA: untracked */
		CHECK_EQ(vmtrack_dset_settle(ds, &v, 0x19000, 0x1a000, untrack, NULL, NULL), 0);
		CHECK(!vmtrack_dset_covers(ds, 0x19000));
		CHECK_EQ(vmtrack_dset_dirty_pages(ds), untrack ? 3 : 5);
		vmtrack_dset_free(ds);
	}
}

/*
 * The watched parts of a failed range are armed again one VMA at a time:
 * those armed are clean, one that fails again is dirty; the VMA the kernel
 * refused (not watched) is left as without an arm.
 */
static void test_dset_settle_arms_parts(void)
{
	struct vmtrack_vma vma[] = {
		{ 0x10000, 0x12000, true },
		{ 0x12000, 0x14000, false },	/* refused: uffd-wp, say */
		{ 0x14000, 0x17000, true },
		{ 0x17000, 0x19000, true },	/* its arm fails again */
	};
	struct vmtrack_vmas v = { .vma = vma, .nr = ARRAY_SIZE(vma) };
	struct settle_arms arms = { .fail = 0x17000 };
	struct vmtrack_dset *ds = vmtrack_dset_new(PAGE);

	CHECK_EQ(vmtrack_dset_add(ds, 0x10000, 0x19000, false, "x"), 0);
	CHECK_EQ(vmtrack_dset_settle(ds, &v, 0x11000, 0x18000, false, settle_arm_stub, &arms),
		 0);
	CHECK_EQ(arms.n, 3);
	CHECK_EQ(arms.start[0], 0x11000);
	CHECK_EQ(arms.end[0], 0x12000);
	CHECK_EQ(arms.start[1], 0x14000);
	CHECK_EQ(arms.end[1], 0x17000);
	CHECK_EQ(arms.start[2], 0x17000);
	CHECK_EQ(arms.end[2], 0x18000);
	CHECK(!vmtrack_dset_test(ds, 0x11000));		/* armed again: clean */
	CHECK(vmtrack_dset_test(ds, 0x12000));		/* refused: dirty */
	CHECK(vmtrack_dset_test(ds, 0x13000));
	CHECK(!vmtrack_dset_test(ds, 0x14000));
	CHECK(!vmtrack_dset_test(ds, 0x16000));
	CHECK(vmtrack_dset_test(ds, 0x17000));		/* failed again: dirty */
	CHECK(!vmtrack_dset_test(ds, 0x18000));		/* outside */
	CHECK_EQ(vmtrack_dset_dirty_pages(ds), 3);
	vmtrack_dset_free(ds);
}

/* smaps of this process: a mapping of ours, not watched */
static void test_smaps_read(void)
{
	struct vmtrack_vmas v = { 0 };
	char *p = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	size_t i, found = 0;

	CHECK(p != MAP_FAILED);
	CHECK_EQ(vmtrack_smaps_read(getpid(), &v), 0);
	CHECK(v.nr > 3);
	for (i = 0; i < v.nr; i++) {
		if (i)
			CHECK(v.vma[i].start >= v.vma[i - 1].end);
		if (v.vma[i].start <= (uintptr_t)p && v.vma[i].end >= (uintptr_t)p + 3 * PAGE) {
			found++;
			CHECK(!v.vma[i].watched);
		}
	}
	CHECK_EQ(found, 1);
	CHECK_EQ(vmtrack_smaps_read(-5, &v), -ESRCH);
	munmap(p, 3 * PAGE);
	free(v.vma);
}

struct state_ctx {
	char	st;
	int	in;
};

static void state_cb(const char *tid, const char *state, void *ctx)
{
	struct state_ctx *c = ctx;

	c->in += state && *state == c->st;
}

/*
 * every thread of @pid in state @st ('t': ptrace stop) (@all), or none,
 * within 10 s: a loaded test VM may not run a thread for a second
 */
static bool threads_in(pid_t pid, char st, bool all)
{
	struct state_ctx c = { .st = st };
	int tries, n;

	for (tries = 0; tries < 1000; tries++) {
		c.in = 0;
		n = scan_threads(pid, state_cb, &c);
		if (n < 0)
			return false;
		if (n && (all ? c.in == n : !c.in))
			return true;
		usleep(10000);
	}
	return false;
}

static void *spin(void *arg)
{
	volatile unsigned long *c = arg;

	for (;;)
		(*c)++;
	return NULL;
}

/* a target of three threads counting in shared memory */
static pid_t spinner(volatile unsigned long **counter)
{
	pthread_t th;
	pid_t pid;

	*counter = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (*counter == MAP_FAILED)
		return -1;
	pid = fork();
	if (!pid) {
		pthread_create(&th, NULL, spin, (void *)&(*counter)[1]);
		pthread_create(&th, NULL, spin, (void *)&(*counter)[2]);
		spin((void *)&(*counter)[0]);
	}
	return pid;
}

/* does the spinner count within @tries times 10 ms? */
static bool counts_within(volatile unsigned long *c, int tries)
{
	unsigned long a = c[0] + c[1] + c[2];
	int i;

	for (i = 0; i < tries; i++) {
		usleep(10000);
		if (c[0] + c[1] + c[2] != a)
			return true;
	}
	return false;
}

/* counting: within 10 s, as threads_in() waits */
static bool counting(volatile unsigned long *c)
{
	return counts_within(c, 1000);
}

/* held: not a count in a second */
static bool held(volatile unsigned long *c)
{
	return !counts_within(c, 100);
}

static void spinner_end(pid_t pid, volatile unsigned long *c)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	munmap((void *)c, PAGE);
}

/* a freeze stops every thread in a ptrace stop, a thaw lets them go */
static void test_freeze(void)
{
	volatile unsigned long *c;
	bool was = true;
	pid_t pid = spinner(&c);

	CHECK(pid > 0);
	if (pid <= 0)
		return;
	CHECK(counting(c));
	CHECK_EQ(vmtrack_freeze(pid, &was), 0);
	CHECK(!was);
	CHECK(threads_in(pid, 't', true));
	CHECK(held(c));
	CHECK_EQ(vmtrack_freeze(pid, &was), 0);	/* frozen already: still */
	CHECK(threads_in(pid, 't', true));
	CHECK_EQ(vmtrack_thaw(pid), 0);
	CHECK(threads_in(pid, 't', false));
	CHECK(counting(c));
	/* job control does not see it: a stopped target stays stopped */
	kill(pid, SIGSTOP);
	CHECK(threads_in(pid, 'T', true));
	CHECK_EQ(vmtrack_freeze(pid, &was), 0);
	CHECK(was);
	CHECK_EQ(vmtrack_thaw(pid), 0);
	CHECK(threads_in(pid, 'T', true));
	kill(pid, SIGCONT);
	CHECK(counting(c));
	spinner_end(pid, c);
	CHECK_EQ(vmtrack_freeze(pid, &was), -ESRCH);
}

/* the consumer dies while the target is frozen: the target goes on */
static void test_freeze_consumer_dies(void)
{
	volatile unsigned long *c;
	int fds[2];
	pid_t pid = spinner(&c), consumer;
	char r = 0;

	CHECK(pid > 0 && !pipe(fds));
	if (pid <= 0)
		return;
	consumer = fork();
	if (!consumer) {
		bool was;

		r = vmtrack_freeze(pid, &was) ? 'e' : 'f';
		if (write(fds[1], &r, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	CHECK_EQ(read(fds[0], &r, 1), 1);
	CHECK_EQ(r, 'f');
	CHECK(threads_in(pid, 't', true));
	CHECK(held(c));
	kill(consumer, SIGKILL);
	waitpid(consumer, NULL, 0);
	CHECK(threads_in(pid, 't', false));
	CHECK(counting(c));
	close(fds[0]);
	close(fds[1]);
	spinner_end(pid, c);
}

/* a target traced by someone else cannot be frozen: an error, not a stop */
static void test_freeze_fails(void)
{
	volatile unsigned long *c;
	int fds[2];
	pid_t pid = spinner(&c), tracer;
	bool was;
	char r = 0;

	CHECK(pid > 0 && !pipe(fds));
	if (pid <= 0)
		return;
	tracer = fork();
	if (!tracer) {
		r = ptrace(PTRACE_SEIZE, pid, NULL, NULL) ? 'e' : 's';
		if (write(fds[1], &r, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	CHECK_EQ(read(fds[0], &r, 1), 1);
	CHECK_EQ(r, 's');
	CHECK_EQ(vmtrack_freeze(pid, &was), -EBUSY);
	CHECK(counting(c));
	kill(tracer, SIGKILL);
	waitpid(tracer, NULL, 0);
	close(fds[0]);
	close(fds[1]);
	spinner_end(pid, c);
}

static int spin_clone(void *arg)
{
	spin(arg);
	return 0;
}

/*
 * A process that shares the memory of the target without being one of its
 * threads (clone(CLONE_VM)) is found, and the freeze, which would not stop
 * it, fails and lets the target go.
 */
static void test_freeze_shared_mm(void)
{
	volatile unsigned long *c;
	int fds[2];
	pid_t pid, sharer = 0, found;
	bool was;

	c = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(c != MAP_FAILED && !pipe(fds));
	if (c == MAP_FAILED)
		return;
	pid = fork();
	if (!pid) {
		static char stack[64 * 1024] __attribute__((aligned(16)));

		sharer = clone(spin_clone, stack + sizeof(stack), CLONE_VM | SIGCHLD,
			       (void *)&c[1]);
		if (write(fds[1], &sharer, sizeof(sharer)) != sizeof(sharer))
			_exit(1);
		spin((void *)&c[0]);
	}
	CHECK_EQ(read(fds[0], &sharer, sizeof(sharer)), (ssize_t)sizeof(sharer));
	found = vmtrack_mm_sharer(pid);
	if (found != -ENOSYS) {
		CHECK(sharer > 0);
		CHECK_EQ(found, sharer);
		CHECK_EQ(vmtrack_freeze(pid, &was), -EUSERS);
		CHECK(threads_in(pid, 't', false));
		CHECK(counting(c));
	}
	kill(sharer, SIGKILL);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(fds[0]);
	close(fds[1]);
	munmap((void *)c, PAGE);
	if (found == -ENOSYS)
		SKIP_TEST("no kcmp(2) in this kernel");
	/* nothing else shares the memory of this process */
	CHECK_EQ(vmtrack_mm_sharer(getpid()), 0);
}

/*
 * Tasks without memory (kernel threads, zombies) compare equal under
 * kcmp(KCMP_VM): none of them shares the memory of another.
 */
static void test_mm_sharer_no_mm(void)
{
	char comm[32] = "";
	pid_t zombie;
	FILE *f;

	zombie = fork();
	if (!zombie)
		_exit(0);
	CHECK(zombie > 0);
	/* not reaped: a zombie once its state says so */
	CHECK(threads_in(zombie, 'Z', true));
	CHECK(vmtrack_mm_sharer(zombie) <= 0);
	/* kthreadd, where the kernel's threads are visible (no pid namespace) */
	f = fopen("/proc/2/comm", "re");
	if (f) {
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = '\0';
		fclose(f);
	}
	if (!strcmp(comm, "kthreadd\n"))
		CHECK(vmtrack_mm_sharer(2) <= 0);
	waitpid(zombie, NULL, 0);
}

/* a field by its whole name: a key that is only a prefix of one is no match */
static void test_status_field(void)
{
	pid_t gone;

	CHECK_EQ(vmtrack_status_field(getpid(), "Tgid"), (long)getpid());
	CHECK_EQ(vmtrack_status_field(getpid(), "PPid"), (long)getppid());
	CHECK_EQ(vmtrack_status_field(getpid(), "Threads"), 1L);
	CHECK_EQ(vmtrack_status_field(getpid(), "Tg"), -1L);
	CHECK_EQ(vmtrack_status_field(getpid(), "NoSuchField"), -1L);
	gone = fork();
	if (!gone)
		_exit(0);
	CHECK(gone > 0);
	waitpid(gone, NULL, 0);
	CHECK_EQ(vmtrack_status_field(gone, "Tgid"), -1L);
}

/* ------------------------------------------------------------------ */
/* sessions                                                             */

/* flags the library does not define are refused before anything is touched */
static void test_session_flags(void)
{
	struct vmtrack_params vp = { .pid = getpid(), .flags = 1U << 20 };
	struct vmtrack_session *s = (void *)&vp;
	char err[128] = "";

	CHECK_EQ(vmtrack_session_open(&s, &vp, err, sizeof(err)), -EINVAL);
	CHECK(!s);
	CHECK(!strcmp(err, "unknown session flags 0x100000"));
	vp.flags = VMTRACK_F_ALL_PRIVATE | VMTRACK_F_WRITABLE_ONLY | (1U << 6);
	CHECK_EQ(vmtrack_session_open(&s, &vp, err, sizeof(err)), -EINVAL);
	CHECK(!strcmp(err, "unknown session flags 0x40"));
}

/*
 * A session on a child that waits, or NULL where sessions cannot be opened
 * here (no mm_watch events, no tracefs, not root: the test is skipped).
 */
static struct vmtrack_session *child_session(pid_t *child, bool *skip)
{
	struct vmtrack_params vp = { 0 };
	struct vmtrack_session *s;
	char err[256];
	int ret;

	*skip = false;
	*child = fork();
	if (!*child) {
		pause();
		_exit(0);
	}
	if (*child < 0)
		return NULL;
	vp.pid = *child;
	ret = vmtrack_session_open(&s, &vp, err, sizeof(err));
	if (ret == -EOPNOTSUPP || ret == -ENOENT || ret == -EACCES || ret == -EPERM) {
		*skip = true;
		return NULL;
	}
	if (ret)
		printf("#   session: %s\n", err);
	return s;
}

static void end_child(pid_t child)
{
	if (child <= 0)
		return;
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
}

#ifndef UFFD_FEATURE_WP_ASYNC		/* Linux 6.7 */
#define UFFD_FEATURE_WP_UNPOPULATED	(1 << 13)
#define UFFD_FEATURE_WP_ASYNC		(1 << 15)
#endif
#define REFUSED_RUN	16	/* pages in each of the three runs */

/* Three runs written whole, the middle one registered for WP_ASYNC: its address, or NULL. */
static char *map_refused_between(void)
{
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED,
	};
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_WP };
	char *p = mmap(NULL, 3 * REFUSED_RUN * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int uffd;

	if (p == MAP_FAILED)
		return NULL;
	memset(p, 1, 3 * REFUSED_RUN * PAGE);
	uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api))
		return NULL;
	reg.range.start = (uintptr_t)p + REFUSED_RUN * PAGE;
	reg.range.len = REFUSED_RUN * PAGE;
	return ioctl(uffd, UFFDIO_REGISTER, &reg) ? NULL : p;
}

/* pages of [@a, @a + @len) in the epoch's dirty ranges */
static size_t dirty_in(const struct vmtrack_epoch *ep, const char *a, size_t len)
{
	uintptr_t lo = (uintptr_t)a, hi = lo + len, s, e;
	size_t i, n = 0;

	for (i = 0; i < ep->nr_dirty; i++) {
		s = max((uintptr_t)ep->dirty[i].iov_base, lo);
		e = min((uintptr_t)ep->dirty[i].iov_base + ep->dirty[i].iov_len, hi);
		if (s < e)
			n += (e - s) / PAGE;
	}
	return n;
}

/*
 * A mapping the kernel refuses to watch (registered for userfaultfd's
 * write-protection) between two it watches: dirty in every epoch, and the
 * two around it only when written, though the kernel fails a re-arm of any
 * range that holds all three (once a consumer merged them, it copied the
 * two at every epoch).
 */
static void test_session_refused_neighbours(void)
{
	struct vmtrack_params vp = { 0 };
	struct vmtrack_session *s = NULL;
	struct vmtrack_epoch ep;
	char *p = NULL, err[256];
	int pfd[2], e, ret = -1;
	pid_t child;

	CHECK_EQ(pipe(pfd), 0);
	child = fork();
	if (!child) {
		p = map_refused_between();
		if (write(pfd[1], &p, sizeof(p)) != sizeof(p))
			_exit(1);
		pause();
		_exit(0);
	}
	CHECK(child > 0);
	if (child > 0 && read(pfd[0], &p, sizeof(p)) == sizeof(p) && p) {
		vp.pid = child;
		ret = vmtrack_session_open(&s, &vp, err, sizeof(err));
	}
	close(pfd[0]);
	close(pfd[1]);
	if (!s) {
		end_child(child);
		if (!p)
			SKIP_TEST("no userfaultfd WP_ASYNC here");
		if (ret == -EOPNOTSUPP || ret == -ENOENT || ret == -EACCES || ret == -EPERM)
			SKIP_TEST("no vmtrack session here (no mm_watch events, tracefs or root)");
		CHECK_EQ(ret, 0);
		return;
	}
	CHECK_EQ(vmtrack_session_watch_all(s), 0);
	/* the first epochs take the runs as new; then nothing is written */
	for (e = 0; e < 5; e++) {
		CHECK_EQ(vmtrack_session_epoch(s, 0, &ep), 0);
		if (e < 2)
			continue;
		CHECK_EQ(dirty_in(&ep, p + REFUSED_RUN * PAGE, REFUSED_RUN * PAGE), REFUSED_RUN);
		CHECK_EQ(dirty_in(&ep, p, REFUSED_RUN * PAGE), 0);
		CHECK_EQ(dirty_in(&ep, p + 2 * REFUSED_RUN * PAGE, REFUSED_RUN * PAGE), 0);
	}
	vmtrack_session_close(s);
	end_child(child);
}

/* what cannot be watched: ENOENT, not ENOMEM, which callers take for no memory */
static void test_session_nothing_mapped(void)
{
	struct iovec iov = { .iov_base = (void *)0x1000, .iov_len = 0x1000 };
	struct vmtrack_session *s;
	bool skip;
	pid_t child;

	s = child_session(&child, &skip);
	if (s) {
		CHECK_EQ(vmtrack_session_watch_ranges(s, &iov, 1), -ENOENT);
		CHECK(!strcmp(vmtrack_session_error(s), "nothing mapped in the given ranges"));
		vmtrack_session_close(s);
	}
	end_child(child);
	if (skip)
		SKIP_TEST("no vmtrack session here (no mm_watch events, tracefs or root)");
	CHECK(s);
}

/*
 * No epoch follows a VMTRACK_EPOCH_NO_REARM one once the target may have
 * run: the pages it collected would miss their next writes. While it is
 * held (by the session's freeze, or by the caller) one may; once it exited
 * too.
 */
static void test_session_no_rearm(void)
{
	struct vmtrack_session *s;
	struct vmtrack_epoch ep;
	bool skip, was;
	pid_t child;

	s = child_session(&child, &skip);
	if (s) {
		CHECK_EQ(vmtrack_session_watch_all(s), 0);
		CHECK_EQ(vmtrack_session_epoch(s, 0, &ep), 0);
		CHECK_EQ(vmtrack_session_freeze(s), 0);
		CHECK_EQ(vmtrack_session_epoch(s, VMTRACK_EPOCH_NO_REARM, &ep), 0);
		CHECK_EQ(vmtrack_session_epoch(s, 0, &ep), 0);	/* still frozen */
		CHECK_EQ(vmtrack_session_thaw(s), 0);
		CHECK_EQ(vmtrack_session_epoch(s, 0, &ep), -EINVAL);
		CHECK(strstr(vmtrack_session_error(s), "may have run since a "
			     "VMTRACK_EPOCH_NO_REARM epoch"));
		/* frozen again, but it ran in between */
		CHECK_EQ(vmtrack_session_freeze(s), 0);
		CHECK_EQ(vmtrack_session_epoch(s, 0, &ep), -EINVAL);
		CHECK_EQ(vmtrack_session_epoch(s, VMTRACK_EPOCH_STOPPED, &ep), -EINVAL);
		CHECK_EQ(vmtrack_session_thaw(s), 0);
		vmtrack_session_close(s);
	}
	end_child(child);
	if (skip)
		SKIP_TEST("no vmtrack session here (no mm_watch events, tracefs or root)");
	CHECK(s);

	/* stopped by the caller, who says so; then the target exits */
	s = child_session(&child, &skip);
	if (!s) {
		end_child(child);
		CHECK(s);
		return;
	}
	CHECK_EQ(vmtrack_session_watch_all(s), 0);
	CHECK_EQ(vmtrack_freeze(child, &was), 0);
	CHECK_EQ(vmtrack_session_epoch(s, VMTRACK_EPOCH_NO_REARM | VMTRACK_EPOCH_STOPPED, &ep),
		 0);
	CHECK_EQ(vmtrack_session_epoch(s, VMTRACK_EPOCH_STOPPED, &ep), 0);
	CHECK_EQ(vmtrack_session_epoch(s, 0, &ep), -EINVAL);
	CHECK_EQ(vmtrack_thaw(child), 0);
	end_child(child);
	CHECK_EQ(vmtrack_session_epoch(s, 0, &ep), 0);
	vmtrack_session_close(s);
}

/* ------------------------------------------------------------------ */
/* option parsing                                                       */

static int parse(enum vmtrack_mode mode, const char *line, struct vmtrack_cmd_params *p,
		 char *err)
{
	static char buf[512];
	static char *argv[32];
	int argc = 0;
	char *tok;

	snprintf(buf, sizeof(buf), "%s %s", mode == VMTRACK_MODE_RUN ? "run" : "watch", line);
	for (tok = strtok(buf, " "); tok && argc < 31; tok = strtok(NULL, " "))
		argv[argc++] = tok;
	argv[argc] = NULL;
	/* p->argv points into the static buffer until the next call */
	return vmtrack_parse_args(mode, argc, argv, p, err, 200);
}

static void test_options_valid(void)
{
	struct vmtrack_cmd_params p;
	char err[200];

	CHECK_EQ(parse(VMTRACK_MODE_WATCH, "-p 42", &p, err), 0);
	CHECK_EQ(p.pid, 42);
	CHECK_EQ(p.interval_ms, 1000);
	CHECK_EQ(p.epochs, 0);
	CHECK_EQ(p.nr_ranges, 0);
	CHECK(p.all_private);
	CHECK_EQ(parse(VMTRACK_MODE_WATCH, "-p 42 --writable-only", &p, err), 0);
	CHECK(!p.all_private);
	CHECK_EQ(parse(VMTRACK_MODE_WATCH, "--pid 42 -r 0x7f0000001000-7f0000003000 -r 1000-2000 "
		       "--interval 0.25 -n 5 -j -k -b 64 -q -d -a", &p, err), 0);
	CHECK_EQ(p.nr_ranges, 2);
	CHECK_EQ((uintptr_t)p.ranges[0].iov_base, 0x7f0000001000ULL);
	CHECK_EQ(p.ranges[0].iov_len, 0x2000);
	CHECK_EQ(p.interval_ms, 250);
	CHECK_EQ(p.epochs, 5);
	CHECK_EQ(p.buffer_kb, 64);
	CHECK(p.json && p.keep && p.quiet && p.list_dirty && p.all_private);
	vmtrack_params_free(&p);
	CHECK_EQ(parse(VMTRACK_MODE_WATCH, "-h", &p, err), VMTRACK_PARSE_HELP);
	CHECK_EQ(parse(VMTRACK_MODE_RUN, "-s -j -- ./workload -p 4", &p, err), 0);
	CHECK(p.sync_stop);
	CHECK_EQ(p.interval_ms, 0);
	CHECK(p.argv && !strcmp(p.argv[0], "./workload") && !strcmp(p.argv[1], "-p"));
	CHECK_EQ(parse(VMTRACK_MODE_RUN, "-s -i 2 sleep 1", &p, err), 0);
	CHECK_EQ(p.interval_ms, 2000);
	CHECK(!strcmp(p.argv[0], "sleep"));
	/* options of the command are not ours */
	CHECK_EQ(parse(VMTRACK_MODE_RUN, "ls -j", &p, err), 0);
	CHECK(!p.json);
	/* --output: JSON to a file, the text output stays */
	CHECK_EQ(parse(VMTRACK_MODE_RUN, "-o /tmp/run.json -i 0.5 -- ./prog", &p, err), 0);
	CHECK(p.output && !strcmp(p.output, "/tmp/run.json") && !p.json);
	CHECK_EQ(parse(VMTRACK_MODE_WATCH, "-p 7 --output=w.json -j", &p, err), 0);
	CHECK(p.output && !strcmp(p.output, "w.json") && p.json);
	CHECK_EQ(parse(VMTRACK_MODE_WATCH, "-p 7", &p, err), 0);
	CHECK(!p.output);
	CHECK(!p.journal && !p.journal_ranges && !p.events_only);
	CHECK_EQ(parse(VMTRACK_MODE_RUN, "--events-only -- ./prog", &p, err), 0);
	CHECK(p.events_only);
	CHECK_EQ(parse(VMTRACK_MODE_WATCH, "-p 7 --events-only", &p, err), 0);
	CHECK(p.events_only);
	/* --journal: a binary journal besides whatever is printed */
	CHECK_EQ(parse(VMTRACK_MODE_RUN, "--journal run.vmj -j -- ./prog", &p, err), 0);
	CHECK(p.journal && !strcmp(p.journal, "run.vmj") && !p.journal_ranges && p.json);
	CHECK_EQ(parse(VMTRACK_MODE_WATCH, "-p 7 --journal-ranges --journal=w.vmj", &p, err), 0);
	CHECK(p.journal && !strcmp(p.journal, "w.vmj") && p.journal_ranges);
	CHECK(!p.follow);
	/* --follow: the tree of either command */
	CHECK_EQ(parse(VMTRACK_MODE_RUN, "-f -i 0.2 -- sh -c x", &p, err), 0);
	CHECK(p.follow && !strcmp(p.argv[0], "sh"));
	CHECK_EQ(parse(VMTRACK_MODE_WATCH, "--follow -p 9 --journal w.vmj", &p, err), 0);
	CHECK(p.follow && p.pid == 9);
	CHECK_EQ(parse(VMTRACK_MODE_RUN, "ls -f", &p, err), 0);
	CHECK(!p.follow);
}

static void test_options_invalid(void)
{
	static const struct {
		enum vmtrack_mode	mode;
		const char		*args;
		const char		*msg;
	} bad[] = {
		{ VMTRACK_MODE_WATCH, "", "missing -p" },
		{ VMTRACK_MODE_WATCH, "-p 0", "invalid pid" },
		{ VMTRACK_MODE_WATCH, "-p -5", "invalid pid" },
		{ VMTRACK_MODE_WATCH, "-p 12x", "invalid pid" },
		{ VMTRACK_MODE_WATCH, "-p 99999999999", "invalid pid" },
		{ VMTRACK_MODE_WATCH, "-p 1 -i 0", "invalid interval" },
		{ VMTRACK_MODE_WATCH, "-p 1 -i -1", "invalid interval" },
		{ VMTRACK_MODE_WATCH, "-p 1 -i abc", "invalid interval" },
		{ VMTRACK_MODE_WATCH, "-p 1 -i nan", "invalid interval" },
		{ VMTRACK_MODE_WATCH, "-p 1 -i 100000", "invalid interval" },
		{ VMTRACK_MODE_WATCH, "-p 1 -n 0", "invalid number of epochs" },
		{ VMTRACK_MODE_WATCH, "-p 1 -b 3", "invalid buffer size" },
		{ VMTRACK_MODE_WATCH, "-p 1 -b 99999999", "invalid buffer size" },
		{ VMTRACK_MODE_WATCH, "-p 1 -r 1000", "invalid range" },
		{ VMTRACK_MODE_WATCH, "-p 1 -r 2000-1000", "invalid range" },
		{ VMTRACK_MODE_WATCH, "-p 1 -r 1000-1000", "invalid range" },
		{ VMTRACK_MODE_WATCH, "-p 1 -r 1001-2000", "invalid range" },
		{ VMTRACK_MODE_WATCH, "-p 1 -r 1000-2000x", "invalid range" },
		{ VMTRACK_MODE_WATCH, "-p 1 -r zz-1000", "invalid range" },
		{ VMTRACK_MODE_WATCH, "-p 1 -s", "option '-s' is not valid for watch" },
		{ VMTRACK_MODE_WATCH, "-sq -p 1", "option '-s' is not valid for watch" },
		{ VMTRACK_MODE_WATCH, "-p 1 --sync-stop", "option '--sync-stop' is not valid" },
		{ VMTRACK_MODE_WATCH, "-p 1 extra", "unexpected argument" },
		{ VMTRACK_MODE_WATCH, "-p 1 --bogus", "unknown option '--bogus'" },
		{ VMTRACK_MODE_WATCH, "-p 1 --bogus=3", "unknown option '--bogus'" },
		{ VMTRACK_MODE_WATCH, "-p 1 -x", "unknown option '-x'" },
		{ VMTRACK_MODE_WATCH, "-qx -p 1", "unknown option '-x'" },
		{ VMTRACK_MODE_WATCH, "-p 1 --json=x", "option '--json' takes no value" },
		{ VMTRACK_MODE_WATCH, "-p 1 --jour=x", "option '--jour' is ambiguous" },
		{ VMTRACK_MODE_WATCH, "-p", "option '-p' needs a value" },
		{ VMTRACK_MODE_WATCH, "--pid", "option '--pid' needs a value" },
		{ VMTRACK_MODE_WATCH, "-p 1 -o", "option '-o' needs a value" },
		{ VMTRACK_MODE_WATCH, "-p 1 --output=", "empty output file name" },
		{ VMTRACK_MODE_WATCH, "-p 1 --journal", "option '--journal' needs a value" },
		{ VMTRACK_MODE_WATCH, "-p 1 --journal=", "empty journal file name" },
		{ VMTRACK_MODE_WATCH, "-p 1 --journal-ranges", "needs --journal FILE" },
		{ VMTRACK_MODE_RUN, "", "missing command" },
		{ VMTRACK_MODE_RUN, "-j --", "missing command" },
		{ VMTRACK_MODE_RUN, "-p 5 -- ls", "option '-p' is not valid for run" },
		{ VMTRACK_MODE_RUN, "--pid=5 -- ls", "option '--pid' is not valid for run" },
		{ VMTRACK_MODE_RUN, "-r 1000-2000 -- ls", "option '-r' is not valid for run" },
		{ VMTRACK_MODE_RUN, "-qr 1000-2000 -- ls", "option '-r' is not valid for run" },
		{ VMTRACK_MODE_RUN, "-f -s -- ls", "not with --sync-stop" },
		{ VMTRACK_MODE_WATCH, "-p 1 -r 1000-2000 --follow", "not with --range" },
	};
	struct vmtrack_cmd_params p;
	char err[200];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		int ret = parse(bad[i].mode, bad[i].args, &p, err);

		if (ret != -1 || !strstr(err, bad[i].msg)) {
			printf("#   '%s': ret %d, err '%s', expected '%s'\n", bad[i].args, ret,
			       ret == -1 ? err : "", bad[i].msg);
			test_failed = 1;
		}
		vmtrack_params_free(&p);
	}
}

static void test_number_parsers(void)
{
	unsigned long v = 0;
	struct iovec r;

	CHECK_EQ(vmtrack_parse_ulong("10", 1, 10, &v), 0);
	CHECK_EQ(v, 10);
	CHECK_EQ(vmtrack_parse_ulong("11", 1, 10, &v), -ERANGE);
	CHECK_EQ(vmtrack_parse_ulong(" 5", 1, 10, &v), -EINVAL);
	CHECK_EQ(vmtrack_parse_ulong("", 1, 10, &v), -EINVAL);
	CHECK_EQ(vmtrack_parse_ulong("18446744073709551616", 0, ULONG_MAX, &v), -ERANGE);
	CHECK_EQ(vmtrack_parse_seconds("0.001", &v), 0);
	CHECK_EQ(v, 1);
	CHECK_EQ(vmtrack_parse_seconds("0.0001", &v), -ERANGE);
	CHECK_EQ(vmtrack_parse_seconds("inf", &v), -EINVAL);
	CHECK_EQ(vmtrack_parse_range("0x1000-0x3000", PAGE, &r), 0);
	CHECK_EQ(r.iov_len, 0x2000);
	CHECK_EQ(vmtrack_parse_range("-1000-3000", PAGE, &r), -EINVAL);
	CHECK_EQ(vmtrack_parse_range("1000--3000", PAGE, &r), -EINVAL);
}

int main(void)
{
	printf("TAP version 13\n");
	run_test("header_page layout parsing (64 and 32-bit commit)", test_header_page);
	run_test("event formats: offsets resolved by name, ids dispatched", test_decoder_resolve);
	run_test("event formats: missing field rejected with a clear message",
		 test_decoder_missing_field);
	run_test("sub-buffer: every event kind, type_len 0/1-28, padding 29, extend 30",
		 test_decode_page);
	run_test("sub-buffer: walker agrees with libtraceevent kbuffer", test_decode_vs_kbuffer);
	run_test("sub-buffer: absolute time stamp (31) and null padding end",
		 test_decode_timestamp_and_end);
	run_test("sub-buffer: decoded in parts as a mapped reader does, same events",
		 test_decode_range);
	run_test("sub-buffer: malformed pages, empty page, missed-events flag",
		 test_decode_malformed);
	run_test("sub-buffer: 4-byte commit (32-bit kernel layout)", test_decode_commit32);
	run_test("dirty set: set, test, coalesce into iovecs", test_dset_basic);
	run_test("dirty set: per-range last/total counters and labels", test_dset_counters);
	run_test("dirty set: unmap splits and keeps the rest", test_dset_remove_split);
	run_test("dirty set: move and fill", test_dset_move_fill);
	run_test("dirty set: stray pages grow, rescans adopt mappings", test_dset_adopt);
	run_test("dirty set: 64 GiB range, THP-sized fault, overflowing size", test_dset_huge);
	run_test("dirty set: random operations against a naive model", test_dset_model);
	run_test("dirty set: a sweep's extents collected as they are (or in parts), as if marked",
		 test_dset_collect_extents);
	run_test("dirty set: an epoch handed out in batches, as if collected at once",
		 test_dset_batches);
	run_test("tracker: event semantics, foreign mms, move, unmap, exit",
		 test_tracker_events);
	run_test("tracker: mremap(MREMAP_DONTUNMAP) keeps the old place tracked",
		 test_tracker_move_dontunmap);
	run_test("tracker: places unmapped or moved since the last rescan (writable-only)",
		 test_tracker_gone);
	run_test("tracker: lost events make the epoch all dirty, then precise again",
		 test_tracker_loss);
	run_test("tracker: gaps in the kernel's numbers are lost once still open a collect later",
		 test_tracker_numbers);
	run_test("tracker: dense epochs sweep the soft-dirty bits, their gaps are no loss",
		 test_tracker_dense);
	run_test("tracker: a re-arming sweep's regions are the dirty set, or go through the bitmap",
		 test_tracker_sweep_extents);
	run_test("tracker: restart (mark with rearm=1 before the first epoch)",
		 test_tracker_restart);
	run_test("tracker: events outside the ranges (stray, watch-all fill)", test_tracker_stray);
	run_test("tracker: events applied as decoded hold what the timestamp order gives",
		 test_tracker_early);
	run_test("decoder: the fast path for one-page write faults decodes as the full path",
		 test_page_fast_path);
	run_test("loss: per_cpu stats parsing and deltas", test_stats);
	run_test("loss: buffer auto-size holds one event per watched page", test_buffer_size);
	run_test("maps: line parsing and watchable mappings", test_maps_parse);
	run_test("maps: walking /proc/self/maps, missing pid", test_maps_walk);
	run_test("process_madvise: 1024-iovec batches, holes, errors", test_madvise_batches);
	run_test("process_madvise: a 5 GiB range watched, armed, re-armed, unwatched whole",
		 test_madvise_over_2g);
	run_test("settle: failed arm checked against the VMAs", test_dset_settle);
	run_test("settle: the watched parts of a failed arm armed again one VMA at a time",
		 test_dset_settle_arms_parts);
	run_test("settle: /proc/self/smaps read", test_smaps_read);
	run_test("freeze: every thread in a ptrace stop, thaw, job control", test_freeze);
	run_test("freeze: a consumer killed while frozen lets the target go on",
		 test_freeze_consumer_dies);
	run_test("freeze: a target traced by another process is an error",
		 test_freeze_fails);
	run_test("freeze: a process sharing the memory (clone(CLONE_VM)) is found, no freeze",
		 test_freeze_shared_mm);
	run_test("freeze: kernel threads and zombies share no memory", test_mm_sharer_no_mm);
	run_test("proc: /proc/PID/status fields by name", test_status_field);
	run_test("session: flags it does not define are refused", test_session_flags);
	run_test("session: nothing mapped in the ranges is ENOENT", test_session_nothing_mapped);
	run_test("session: no epoch after a NO_REARM one once the target may have run",
		 test_session_no_rearm);
	run_test("session: a mapping the kernel refuses keeps no neighbour dirty",
		 test_session_refused_neighbours);
	run_test("options: valid watch and run command lines", test_options_valid);
	run_test("options: bad values rejected with a reason", test_options_invalid);
	run_test("options: number, duration and range parsers", test_number_parsers);
	return test_summary();
}
