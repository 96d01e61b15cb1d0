// SPDX-License-Identifier: LGPL-2.1
/*
 * CRIU memory images: writer of one pre-dump iteration, reader of a chain.
 *
 * An iteration is a directory with the files criu pre-dump writes for a
 * task's private memory (CRIU's images/pagemap.proto, inventory.proto,
 * criu/include/magic.h):
 *
 *   pagemap-ID.img	u32 IMG_COMMON_MAGIC, u32 PAGEMAP_MAGIC, then records
 *			(u32 length, protobuf): one pagemap_head, then sorted,
 *			non-overlapping pagemap_entry records
 *   pages-N.img		the pages of the PE_PRESENT entries, in entry order
 *   inventory.img	u32 INVENTORY_MAGIC (no common magic), one
 *			inventory_entry: img_version, dump_uptime, pre_dump_mode
 *   parent		symlink to the previous iteration (PE_PARENT holes)
 *
 * The three messages have only scalar fields, so they are encoded and
 * decoded here by hand (varints and keys) rather than through protobuf-c:
 * no generated code, no .proto copies to keep in step with CRIU, and no
 * build dependency for libvmtrack. The tests decode every image with CRIU's
 * own crit to catch a mistake in this encoding.
 *
 * pagemap_entry carries the page count twice: compat_nr_pages (field 2,
 * uint32, what crit 3.17 and CRIU <= 4.1 read) and nr_pages (field 5,
 * uint64, what CRIU >= 4.2 reads when present). Both are written.
 *
 * An iteration is written into DIR/.NAME.partial and becomes DIR/NAME by
 * one rename() of the directory after every file was written and synced:
 * a directory with an iteration's name is always complete.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "vmtrack-dump.h"

#define PB_VARINT	0
#define PB_I64		1
#define PB_LEN		2
#define PB_I32		5
#define CHAIN_MAX	4096	/* parent links followed at most (loops) */
#define PAGEMAP_MAX	(256UL << 20)
/* pagemap records buffered before a write(); one is at most 4 + 40 bytes */
#define PAGEMAP_WBUF	(64 * 1024)
#define PAGEMAP_REC_MAX	64

/* ---- protobuf encoding ---- */

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)v | 0x80;
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static size_t put_field(uint8_t *p, unsigned int field, uint64_t v)
{
	size_t n = put_varint(p, (uint64_t)field << 3 | PB_VARINT);

	return n + put_varint(p + n, v);
}

/**
 * vmtrack_pb_pagemap_entry() - encode a pagemap_entry message
 * @buf:	at least 48 bytes
 * @e:		the entry
 *
 * Fields: vaddr (1), compat_nr_pages (2), flags (4), nr_pages (5).
 *
 * Return: length of the message.
 */
size_t vmtrack_pb_pagemap_entry(uint8_t *buf, const struct vmtrack_pme_entry *e)
{
	size_t n = 0;

	n += put_field(buf + n, 1, e->vaddr);
	n += put_field(buf + n, 2, (uint32_t)e->nr_pages);
	n += put_field(buf + n, 4, e->flags);
	n += put_field(buf + n, 5, e->nr_pages);
	return n;
}

/**
 * vmtrack_pb_inventory() - encode an inventory_entry message
 * @buf:		at least 32 bytes
 * @dump_uptime_us:	/proc/uptime when the iteration was taken, in µs
 *
 * Fields: img_version (1) = CRTOOLS_IMAGES_V1_1, dump_uptime (8),
 * pre_dump_mode (9) = read (process_vm_readv).
 *
 * Return: length of the message.
 */
size_t vmtrack_pb_inventory(uint8_t *buf, uint64_t dump_uptime_us)
{
	size_t n = 0;

	n += put_field(buf + n, 1, VMTRACK_IMG_V1_1);
	n += put_field(buf + n, 8, dump_uptime_us);
	n += put_field(buf + n, 9, VMTRACK_PRE_DUMP_READ);
	return n;
}

/* ---- protobuf decoding ---- */

struct pb {
	const uint8_t	*p;
	size_t		len;
	size_t		pos;
};

static int get_varint(struct pb *b, uint64_t *v)
{
	unsigned int shift;

	*v = 0;
	for (shift = 0; shift < 64; shift += 7) {
		uint8_t c;

		if (b->pos >= b->len)
			return -EBADMSG;
		c = b->p[b->pos++];
		*v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return 0;
	}
	return -EBADMSG;
}

/* next field: number and value (varint); other wire types are skipped */
static int pb_next(struct pb *b, unsigned int *field, uint64_t *v, bool *scalar)
{
	uint64_t key, len;

	if (get_varint(b, &key))
		return -EBADMSG;
	*field = key >> 3;
	*scalar = false;
	switch (key & 7) {
	case PB_VARINT:
		*scalar = true;
		return get_varint(b, v);
	case PB_I64:
		len = 8;
		break;
	case PB_I32:
		len = 4;
		break;
	case PB_LEN:
		if (get_varint(b, &len))
			return -EBADMSG;
		break;
	default:
		return -EBADMSG;
	}
	if (len > b->len - b->pos)
		return -EBADMSG;
	b->pos += len;
	return 0;
}

/* one length-prefixed record of an image */
static int next_record(struct pb *img, struct pb *rec)
{
	uint32_t len;

	if (img->len - img->pos < sizeof(len))
		return -EBADMSG;
	memcpy(&len, img->p + img->pos, sizeof(len));
	img->pos += sizeof(len);
	if (len > img->len - img->pos)
		return -EBADMSG;
	rec->p = img->p + img->pos;
	rec->len = len;
	rec->pos = 0;
	img->pos += len;
	return 0;
}

/* ---- writer ---- */

struct vmtrack_img_writer {
	char				dir[PATH_MAX];
	char				name[64];
	char				tmp[PATH_MAX];
	char				parent[PATH_MAX];
	pid_t				id;
	int				dfd;
	int				pages_fd;
	int				pagemap_fd;
	char				pagemap[64];
	long				page_size;
	/*
	 * The entries go to pagemap-ID.img as they come, but the last one,
	 * which the next may still extend: the writer's memory does not grow
	 * with the entries of an iteration.
	 */
	struct vmtrack_pme_entry	last;
	bool				has_last;
	uint8_t				*wbuf;
	size_t				wlen;
	uint64_t			pages;
	uint64_t			holes;
	uint64_t			end;
	char				err[PATH_MAX + 256];
};

static int w_err(struct vmtrack_img_writer *w, int ret, const char *what)
{
	snprintf(w->err, sizeof(w->err), "%s/%s: %s: %s", w->dir, w->name, what,
		 strerror(-ret));
	return ret;
}

/**
 * vmtrack_img_error() - the reason of the writer's last failure
 * @w:	the writer
 *
 * Return: a one-line message.
 */
const char *vmtrack_img_error(const struct vmtrack_img_writer *w)
{
	return w->err;
}

/**
 * vmtrack_img_pages() - pages written so far
 * @w:		the writer
 * @holes:	receives the pages left to the parent, may be NULL
 *
 * Return: pages in PE_PRESENT entries.
 */
uint64_t vmtrack_img_pages(const struct vmtrack_img_writer *w, uint64_t *holes)
{
	if (holes)
		*holes = w->holes;
	return w->pages;
}

static void put_u32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= n;
	}
	return 0;
}

/* pagemap-ID.img, with its magics and pagemap_head (pages_id = 1) buffered */
static int pagemap_open(struct vmtrack_img_writer *w)
{
	w->wbuf = malloc(PAGEMAP_WBUF);
	if (!w->wbuf)
		return -ENOMEM;
	w->pagemap_fd = openat(w->dfd, w->pagemap, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			       0600);
	if (w->pagemap_fd < 0)
		return -errno;
	put_u32(w->wbuf, VMTRACK_IMG_COMMON_MAGIC);
	put_u32(w->wbuf + 4, VMTRACK_IMG_PAGEMAP_MAGIC);
	put_u32(w->wbuf + 8, 2);
	w->wbuf[12] = 1 << 3 | PB_VARINT;
	w->wbuf[13] = 1;
	w->wlen = 14;
	return 0;
}

static int pagemap_flush(struct vmtrack_img_writer *w)
{
	int ret = write_all(w->pagemap_fd, w->wbuf, w->wlen);

	w->wlen = 0;
	return ret ? w_err(w, ret, w->pagemap) : 0;
}

/* one record per entry: its length, then the message */
static int pagemap_put(struct vmtrack_img_writer *w, const struct vmtrack_pme_entry *e)
{
	size_t n;
	int ret;

	if (w->wlen + PAGEMAP_REC_MAX > PAGEMAP_WBUF) {
		ret = pagemap_flush(w);
		if (ret)
			return ret;
	}
	n = vmtrack_pb_pagemap_entry(w->wbuf + w->wlen + 4, e);
	put_u32(w->wbuf + w->wlen, n);
	w->wlen += 4 + n;
	return 0;
}

static int writer_new(struct vmtrack_img_writer **wp, const char *dir, const char *name,
		      const char *parent, pid_t id, bool pages, char *err, size_t errlen)
{
	struct vmtrack_img_writer *w = calloc(1, sizeof(*w));
	int ret;

	if (!w)
		return -ENOMEM;
	w->dfd = w->pages_fd = w->pagemap_fd = -1;
	w->id = id;
	snprintf(w->pagemap, sizeof(w->pagemap), "pagemap-%d.img", (int)id);
	w->page_size = sysconf(_SC_PAGESIZE);
	snprintf(w->dir, sizeof(w->dir), "%s", dir);
	snprintf(w->name, sizeof(w->name), "%s", name);
	snprintf(w->tmp, sizeof(w->tmp), "%s/.%s.partial", dir, name);
	if (parent)
		snprintf(w->parent, sizeof(w->parent), "../%s", parent);
	if (mkdir(w->tmp, 0700)) {
		ret = -errno;
		goto fail;
	}
	w->dfd = open(w->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->dfd < 0) {
		ret = -errno;
		goto fail_dir;
	}
	if (pages) {
		w->pages_fd = openat(w->dfd, "pages-1.img",
				     O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (w->pages_fd < 0) {
			ret = -errno;
			goto fail_dir;
		}
		ret = pagemap_open(w);
		if (ret)
			goto fail_dir;
	}
	*wp = w;
	return 0;

fail_dir:
	vmtrack_img_abort(w);
	set_err(err, errlen, "%s/.%s.partial: %s", dir, name, strerror(-ret));
	return ret;
fail:
	set_err(err, errlen, "%s/.%s.partial: %s", dir, name, strerror(-ret));
	free(w);
	return ret;
}

/**
 * vmtrack_img_uptime_us() - /proc/uptime now, in µs
 *
 * The inventory's dump_uptime: CRIU compares it with a process's start
 * time to tell a pid reused since the parent iteration.
 *
 * Return: the uptime, 0 if /proc/uptime cannot be read.
 */
uint64_t vmtrack_img_uptime_us(void)
{
	unsigned long sec = 0, csec = 0;
	FILE *f = fopen("/proc/uptime", "re");

	if (f) {
		if (fscanf(f, "%lu.%2lu", &sec, &csec) != 2)
			sec = csec = 0;
		fclose(f);
	}
	return sec * 1000000ULL + csec * 10000ULL;
}

/**
 * vmtrack_img_begin() - start writing one iteration
 * @wp:		receives the writer
 * @dir:	the dump directory (exists)
 * @name:	the iteration's name in @dir ("1", "2", ...)
 * @parent:	name of the previous iteration in @dir, or NULL
 * @id:		the task's pid as it sees it (pagemap-ID.img)
 * @err:	buffer for a one-line reason, may be NULL
 * @errlen:	size of @err
 *
 * Creates @dir/.@name.partial; nothing under @name exists until
 * vmtrack_img_commit().
 *
 * Return: 0 or a negative errno.
 */
int vmtrack_img_begin(struct vmtrack_img_writer **wp, const char *dir, const char *name,
		      const char *parent, pid_t id, char *err, size_t errlen)
{
	return writer_new(wp, dir, name, parent, id, true, err, errlen);
}

/**
 * vmtrack_img_write_local() - an iteration whose pages went to a page server
 * @dir:		the dump directory (exists)
 * @name:		the iteration's name in @dir
 * @parent:		name of the previous iteration in @dir, or NULL
 * @dump_uptime_us:	as for vmtrack_img_commit()
 * @err:		buffer for a one-line reason, may be NULL
 * @errlen:		size of @err
 *
 * Writes @dir/@name with inventory.img and the parent link only: what
 * "criu pre-dump --page-server -D DIR" leaves in its own DIR, while the
 * pagemap and the pages are on the server. "criu dump --page-server
 * --prev-images-dir DIR/NAME" reads the parent's inventory from there (its
 * dump_uptime: the pid reuse check) and asks the server for the pages.
 * Complete or absent, like vmtrack_img_commit().
 *
 * Return: 0 or a negative errno.
 */
int vmtrack_img_write_local(const char *dir, const char *name, const char *parent,
			    uint64_t dump_uptime_us, char *err, size_t errlen)
{
	struct vmtrack_img_writer *w;
	int ret;

	ret = writer_new(&w, dir, name, parent, 0, false, err, errlen);
	if (ret)
		return ret;
	ret = vmtrack_img_commit(w, dump_uptime_us);
	if (ret) {
		set_err(err, errlen, "%s", w->err);
		vmtrack_img_abort(w);
	}
	return ret;
}

static int add_entry(struct vmtrack_img_writer *w, uint64_t vaddr, uint64_t nr, uint32_t flags)
{
	struct vmtrack_pme_entry *last = &w->last;
	int ret;

	if (!nr || vaddr % w->page_size)
		return w_err(w, -EINVAL, "entry not page aligned or empty");
	if (vaddr < w->end)
		return w_err(w, -EINVAL, "entries not sorted or overlapping");
	/* compat_nr_pages is 32 bits: keep each entry within it */
	if (w->has_last && last->flags == flags && vaddr == w->end &&
	    last->nr_pages + nr <= UINT32_MAX) {
		last->nr_pages += nr;
	} else {
		if (w->has_last) {
			ret = pagemap_put(w, last);
			if (ret)
				return ret;
		}
		*last = (struct vmtrack_pme_entry){ vaddr, nr, flags, 0 };
		w->has_last = true;
	}
	w->end = vaddr + nr * w->page_size;
	return 0;
}

/**
 * vmtrack_img_present() - add pages copied in this iteration
 * @w:		the writer
 * @vaddr:	first page, above every entry so far
 * @nr_pages:	number of pages
 * @data:	their contents
 *
 * Return: 0 or a negative errno (the iteration must then be aborted).
 */
int vmtrack_img_present(struct vmtrack_img_writer *w, uint64_t vaddr, uint64_t nr_pages,
			const void *data)
{
	int ret;

	while (nr_pages > UINT32_MAX) {
		ret = vmtrack_img_present(w, vaddr, UINT32_MAX, data);
		if (ret)
			return ret;
		vaddr += (uint64_t)UINT32_MAX * w->page_size;
		data = (const char *)data + (uint64_t)UINT32_MAX * w->page_size;
		nr_pages -= UINT32_MAX;
	}
	ret = add_entry(w, vaddr, nr_pages, VMTRACK_PE_PRESENT);
	if (ret)
		return ret;
	ret = write_all(w->pages_fd, data, nr_pages * w->page_size);
	if (ret)
		return w_err(w, ret, "pages-1.img");
	w->pages += nr_pages;
	return 0;
}

/**
 * vmtrack_img_hole() - add pages unchanged since the parent (PE_PARENT)
 * @w:		the writer
 * @vaddr:	first page, above every entry so far
 * @nr_pages:	number of pages; the parent chain must hold them
 *
 * Return: 0 or a negative errno.
 */
int vmtrack_img_hole(struct vmtrack_img_writer *w, uint64_t vaddr, uint64_t nr_pages)
{
	int ret;

	if (!w->parent[0])
		return w_err(w, -EINVAL, "hole without a parent");
	while (nr_pages > UINT32_MAX) {
		ret = add_entry(w, vaddr, UINT32_MAX, VMTRACK_PE_PARENT);
		if (ret)
			return ret;
		vaddr += (uint64_t)UINT32_MAX * w->page_size;
		nr_pages -= UINT32_MAX;
		w->holes += UINT32_MAX;
	}
	ret = add_entry(w, vaddr, nr_pages, VMTRACK_PE_PARENT);
	if (!ret)
		w->holes += nr_pages;
	return ret;
}

/* the last entry and what is buffered, then synced */
static int pagemap_finish(struct vmtrack_img_writer *w)
{
	int ret = 0;

	if (w->has_last)
		ret = pagemap_put(w, &w->last);
	w->has_last = false;
	if (!ret)
		ret = pagemap_flush(w);
	if (!ret && fsync(w->pagemap_fd))
		ret = w_err(w, -errno, w->pagemap);
	return ret;
}

static int write_inventory(struct vmtrack_img_writer *w, uint64_t uptime)
{
	uint8_t buf[64];
	size_t n;
	int fd, ret;

	put_u32(buf, VMTRACK_IMG_INVENTORY_MAGIC);
	n = vmtrack_pb_inventory(buf + 8, uptime);
	put_u32(buf + 4, n);
	fd = openat(w->dfd, "inventory.img", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ret = fd < 0 ? -errno : write_all(fd, buf, 8 + n);
	if (!ret && fsync(fd))
		ret = -errno;
	if (fd >= 0)
		close(fd);
	return ret;
}

static int sync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd))
		ret = -errno;
	close(fd);
	return ret;
}

/**
 * vmtrack_img_commit() - finish the iteration and make it visible
 * @w:			the writer; freed, also on failure
 * @dump_uptime_us:	/proc/uptime at the start of the iteration, in µs
 *			(CRIU compares it with the start time of the process
 *			to detect pid reuse)
 *
 * Writes pagemap-ID.img, inventory.img and the parent link, syncs them and
 * renames the directory to its name. On success @w is freed; on failure it
 * is kept for vmtrack_img_error() and must be dropped with
 * vmtrack_img_abort().
 *
 * Return: 0 or a negative errno.
 */
int vmtrack_img_commit(struct vmtrack_img_writer *w, uint64_t dump_uptime_us)
{
	char path[PATH_MAX + 64];
	int ret;

	/* no pages file: the pages went to a page server */
	if (w->pages_fd >= 0 && fsync(w->pages_fd)) {
		ret = w_err(w, -errno, "pages-1.img");
		goto fail;
	}
	ret = w->pagemap_fd >= 0 ? pagemap_finish(w) : 0;
	if (ret)
		goto fail;
	ret = write_inventory(w, dump_uptime_us);
	if (ret) {
		w_err(w, ret, "inventory.img");
		goto fail;
	}
	if (w->parent[0] && symlinkat(w->parent, w->dfd, "parent")) {
		ret = w_err(w, -errno, "parent");
		goto fail;
	}
	ret = sync_dir(w->tmp);
	if (ret) {
		w_err(w, ret, "sync");
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/%s", w->dir, w->name);
	if (rename(w->tmp, path)) {
		ret = w_err(w, -errno, "rename");
		goto fail;
	}
	sync_dir(w->dir);
	if (w->pages_fd >= 0)
		close(w->pages_fd);
	if (w->pagemap_fd >= 0)
		close(w->pagemap_fd);
	close(w->dfd);
	free(w->wbuf);
	free(w);
	return 0;
fail:
	return ret;
}

/**
 * vmtrack_img_abort() - drop an unfinished iteration
 * @w:	the writer, freed; may be NULL
 *
 * Removes the partial directory and everything in it.
 */
void vmtrack_img_abort(struct vmtrack_img_writer *w)
{
	static const char * const files[] = { "pages-1.img", "inventory.img", "parent" };
	size_t i;

	if (!w)
		return;
	if (w->dfd >= 0) {
		for (i = 0; i < ARRAY_SIZE(files); i++)
			unlinkat(w->dfd, files[i], 0);
		unlinkat(w->dfd, w->pagemap, 0);
		close(w->dfd);
	}
	if (w->pages_fd >= 0)
		close(w->pages_fd);
	if (w->pagemap_fd >= 0)
		close(w->pagemap_fd);
	rmdir(w->tmp);
	free(w->wbuf);
	free(w);
}

/* ---- reader ---- */

static int read_file(int dfd, const char *name, uint8_t **buf, size_t *len, size_t max)
{
	struct stat st;
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC), ret = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		ret = -errno;
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		ret = -EFBIG;
		goto out;
	}
	*buf = malloc(st.st_size + 1);
	if (!*buf) {
		ret = -ENOMEM;
		goto out;
	}
	n = pread(fd, *buf, st.st_size, 0);
	if (n != st.st_size) {
		free(*buf);
		*buf = NULL;
		ret = n < 0 ? -errno : -EIO;
		goto out;
	}
	*len = n;
out:
	close(fd);
	return ret;
}

static uint32_t get_u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static int parse_entry(struct pb *rec, struct vmtrack_pme_entry *e)
{
	bool has_vaddr = false, has_compat = false, has_nr = false, scalar;
	uint64_t v, compat = 0;
	unsigned int field;

	memset(e, 0, sizeof(*e));
	while (rec->pos < rec->len) {
		if (pb_next(rec, &field, &v, &scalar))
			return -EBADMSG;
		if (!scalar)
			continue;
		switch (field) {
		case 1:
			e->vaddr = v;
			has_vaddr = true;
			break;
		case 2:
			compat = v;
			has_compat = true;
			break;
		case 3:		/* in_parent, of images before flags existed */
			if (v)
				e->flags |= VMTRACK_PE_PARENT;
			break;
		case 4:
			e->flags |= v;
			break;
		case 5:
			e->nr_pages = v;
			has_nr = true;
			break;
		}
	}
	if (!has_vaddr || !has_compat)
		return -EBADMSG;	/* required fields */
	if (!has_nr)
		e->nr_pages = compat;
	/* CRIU >= 4.2 writes 0 in the compat field, others the same count */
	if (has_nr && compat && compat != e->nr_pages)
		return -EBADMSG;
	if (!(e->flags & (VMTRACK_PE_PARENT | VMTRACK_PE_PRESENT)))
		e->flags |= VMTRACK_PE_PRESENT;	/* images older than PE_PRESENT */
	return 0;
}

static int load_entries(struct vmtrack_img *img, const uint8_t *buf, size_t len,
			long page_size, char *err, size_t errlen)
{
	struct pb file = { buf, len, 8 }, rec;
	uint64_t end = 0, off = 0, v;
	unsigned int field;
	bool scalar, head = false;
	size_t alloc = 0;

	if (len < 8 || get_u32(buf) != VMTRACK_IMG_COMMON_MAGIC ||
	    get_u32(buf + 4) != VMTRACK_IMG_PAGEMAP_MAGIC) {
		set_err(err, errlen, "not a pagemap image (bad magic)");
		return -EBADMSG;
	}
	if (next_record(&file, &rec))
		goto trunc;
	while (rec.pos < rec.len) {
		if (pb_next(&rec, &field, &v, &scalar))
			goto trunc;
		if (field == 1 && scalar) {
			img->pages_id = v;
			head = true;
		}
	}
	if (!head)
		goto trunc;
	while (file.pos < file.len) {
		struct vmtrack_pme_entry e;

		if (next_record(&file, &rec) || parse_entry(&rec, &e))
			goto trunc;
		if (!e.nr_pages || e.vaddr % page_size ||
		    e.nr_pages > (UINT64_MAX - e.vaddr) / page_size ||
		    !(e.flags & VMTRACK_PE_PARENT) == !(e.flags & VMTRACK_PE_PRESENT)) {
			set_err(err, errlen, "bad entry at %#llx", (unsigned long long)e.vaddr);
			return -EBADMSG;
		}
		if (e.vaddr < end) {
			set_err(err, errlen, "entries not sorted or overlapping at %#llx",
				(unsigned long long)e.vaddr);
			return -EBADMSG;
		}
		end = e.vaddr + e.nr_pages * page_size;
		if (e.flags & VMTRACK_PE_PRESENT) {
			e.off = off;
			off += e.nr_pages * page_size;
		}
		if (GROW_ARRAY(img->e, alloc, img->n, 256))
			return -ENOMEM;
		img->e[img->n++] = e;
	}
	return 0;
trunc:
	set_err(err, errlen, "truncated or malformed pagemap record");
	return -EBADMSG;
}

static int load_inventory(struct vmtrack_img *img, int dfd, char *err, size_t errlen)
{
	struct pb file, rec;
	uint8_t *buf = NULL;
	unsigned int field;
	bool scalar, version = false;
	size_t len;
	uint64_t v;
	int ret;

	ret = read_file(dfd, "inventory.img", &buf, &len, 1 << 20);
	/* a criu page-server writes none: only pid-reuse detection needs it */
	if (ret == -ENOENT)
		return 0;
	if (ret) {
		set_err(err, errlen, "inventory.img: %s", strerror(-ret));
		return ret;
	}
	ret = -EBADMSG;
	if (len < 4 || get_u32(buf) != VMTRACK_IMG_INVENTORY_MAGIC)
		goto bad;
	file = (struct pb){ buf, len, 4 };
	if (next_record(&file, &rec))
		goto bad;
	while (rec.pos < rec.len) {
		if (pb_next(&rec, &field, &v, &scalar))
			goto bad;
		if (!scalar)
			continue;
		if (field == 1)
			version = true;
		else if (field == 8)
			img->dump_uptime = v;
		else if (field == 9)
			img->pre_dump_mode = v;
	}
	if (version)
		ret = 0;
bad:
	if (ret)
		set_err(err, errlen, "inventory.img: malformed");
	free(buf);
	return ret;
}

/**
 * vmtrack_img_load() - read one iteration
 * @imgp:	receives the image
 * @dir:	its directory
 * @id:		the task's id (pagemap-ID.img)
 * @err:	buffer for a one-line reason, may be NULL
 * @errlen:	size of @err
 *
 * Checks the magics, the records, that entries are page aligned, sorted and
 * do not overlap, and that pages-N.img holds exactly the pages of the
 * PE_PRESENT entries. inventory.img is read if present (a page server
 * writes none: then dump_uptime and pre_dump_mode are 0). The parent is not
 * read (vmtrack_chain_load()).
 *
 * Return: 0, -ENOENT (no such image), -EBADMSG (malformed), another errno.
 */
int vmtrack_img_load(struct vmtrack_img **imgp, const char *dir, pid_t id, char *err,
		     size_t errlen)
{
	long page_size = sysconf(_SC_PAGESIZE);
	struct vmtrack_img *img = calloc(1, sizeof(*img));
	uint64_t present = 0;
	char file[64], msg[200] = "";
	uint8_t *buf = NULL;
	struct stat st;
	size_t len, i;
	int dfd, ret;

	if (!img)
		return -ENOMEM;
	img->pages_fd = -1;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		ret = -errno;
		snprintf(msg, sizeof(msg), "%s", strerror(errno));
		goto fail;
	}
	snprintf(file, sizeof(file), "pagemap-%d.img", (int)id);
	ret = read_file(dfd, file, &buf, &len, PAGEMAP_MAX);
	if (ret) {
		snprintf(msg, sizeof(msg), "%s: %s", file, strerror(-ret));
		goto fail;
	}
	ret = load_entries(img, buf, len, page_size, msg, sizeof(msg));
	if (ret)
		goto fail;
	ret = load_inventory(img, dfd, msg, sizeof(msg));
	if (ret)
		goto fail;
	snprintf(file, sizeof(file), "pages-%u.img", img->pages_id);
	img->pages_fd = openat(dfd, file, O_RDONLY | O_CLOEXEC);
	if (img->pages_fd < 0 || fstat(img->pages_fd, &st)) {
		ret = -errno;
		snprintf(msg, sizeof(msg), "%s: %s", file, strerror(errno));
		goto fail;
	}
	for (i = 0; i < img->n; i++)
		if (img->e[i].flags & VMTRACK_PE_PRESENT)
			present += img->e[i].nr_pages * page_size;
	if ((uint64_t)st.st_size != present) {
		ret = -EBADMSG;
		snprintf(msg, sizeof(msg), "%s has %lld bytes, the pagemap needs %llu", file,
			 (long long)st.st_size, (unsigned long long)present);
		goto fail;
	}
	free(buf);
	close(dfd);
	*imgp = img;
	return 0;
fail:
	set_err(err, errlen, "%s: %s", dir, msg);
	free(buf);
	if (dfd >= 0)
		close(dfd);
	vmtrack_img_free(img);
	return ret;
}

/**
 * vmtrack_img_free() - release an image and its parents
 * @img:	the image, may be NULL
 */
void vmtrack_img_free(struct vmtrack_img *img)
{
	while (img) {
		struct vmtrack_img *parent = img->parent;

		if (img->pages_fd >= 0)
			close(img->pages_fd);
		free(img->e);
		free(img);
		img = parent;
	}
}

/* the entry holding @vaddr, or NULL */
static const struct vmtrack_pme_entry *find_entry(const struct vmtrack_img *img,
						  uint64_t vaddr, long page_size)
{
	size_t lo = 0, hi = img->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct vmtrack_pme_entry *e = &img->e[mid];

		if (vaddr < e->vaddr)
			hi = mid;
		else if (vaddr >= e->vaddr + e->nr_pages * page_size)
			lo = mid + 1;
		else
			return e;
	}
	return NULL;
}

/* every PE_PARENT hole of @img covered by entries of its parent */
static int check_holes(const struct vmtrack_img *img, long page_size, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < img->n; i++) {
		const struct vmtrack_pme_entry *e = &img->e[i];
		uint64_t a = e->vaddr, end = e->vaddr + e->nr_pages * page_size;

		if (!(e->flags & VMTRACK_PE_PARENT))
			continue;
		while (a < end) {
			const struct vmtrack_pme_entry *p = img->parent ?
				find_entry(img->parent, a, page_size) : NULL;

			if (!p) {
				set_err(err, errlen, "hole at %#llx not in the parent",
					(unsigned long long)a);
				return -EBADMSG;
			}
			a = p->vaddr + p->nr_pages * page_size;
		}
	}
	return 0;
}

/*
 * Has the iteration in @dir no image of task @id? As CRIU reads a chain,
 * that ends the task's chain there: a process the older dumps did not
 * have (a child forked since) is dumped whole. A missing directory (a
 * broken "parent" link) is an error of its own, not such an end.
 */
static bool task_absent(const char *dir, pid_t id)
{
	char file[PATH_MAX];
	struct stat st;

	if (stat(dir, &st) || !S_ISDIR(st.st_mode))
		return false;
	if (snprintf(file, sizeof(file), "%s/pagemap-%d.img", dir, (int)id) >=
	    (int)sizeof(file))
		return false;
	return lstat(file, &st) && errno == ENOENT;
}

/**
 * vmtrack_chain_load() - read an iteration and all its parents
 * @imgp:	receives the newest image (->parent links the older ones)
 * @dir:	the newest iteration
 * @id:		the task's id
 * @err:	buffer for a one-line reason, may be NULL
 * @errlen:	size of @err
 *
 * Follows the "parent" links, checks every image (vmtrack_img_load()) and
 * that every PE_PARENT hole is covered by the parent's entries. A parent
 * without an image of the task ends the chain, as for CRIU: @dir then has
 * to hold every page itself, a hole is refused.
 *
 * Return: 0 or a negative errno.
 */
int vmtrack_chain_load(struct vmtrack_img **imgp, const char *dir, pid_t id, char *err,
		       size_t errlen)
{
	long page_size = sysconf(_SC_PAGESIZE);
	struct vmtrack_img *top = NULL, *last = NULL, *img;
	char path[PATH_MAX], next[PATH_MAX];
	struct stat st;
	int depth, ret;

	snprintf(path, sizeof(path), "%s", dir);
	for (depth = 0; depth < CHAIN_MAX; depth++) {
		if (depth && task_absent(path, id))
			break;
		ret = vmtrack_img_load(&img, path, id, err, errlen);
		if (ret)
			goto fail;
		if (last)
			last->parent = img;
		else
			top = img;
		last = img;
		if (snprintf(next, sizeof(next), "%s/parent", path) >= (int)sizeof(next)) {
			ret = -ENAMETOOLONG;
			set_err(err, errlen, "%s: path too long", path);
			goto fail;
		}
		if (lstat(next, &st))
			break;
		memcpy(path, next, sizeof(path));
	}
	if (depth == CHAIN_MAX) {
		ret = -ELOOP;
		set_err(err, errlen, "%s: parent chain too long", dir);
		goto fail;
	}
	for (img = top; img; img = img->parent) {
		ret = check_holes(img, page_size, err, errlen);
		if (ret)
			goto fail;
	}
	*imgp = top;
	return 0;
fail:
	vmtrack_img_free(top);
	return ret;
}

/**
 * vmtrack_chain_page() - the contents of a page as the chain restores it
 * @img:	the newest image of a chain (vmtrack_chain_load())
 * @vaddr:	page address
 * @page:	receives the page
 *
 * Return: 1 if the image holds the page, 0 if not (a restore leaves it to
 * the file or zero), or a negative errno.
 */
int vmtrack_chain_page(const struct vmtrack_img *img, uint64_t vaddr, void *page)
{
	long page_size = sysconf(_SC_PAGESIZE);
	const struct vmtrack_pme_entry *e;
	bool top = true;

	if (vaddr % page_size)
		return -EINVAL;
	for (; img; img = img->parent, top = false) {
		e = find_entry(img, vaddr, page_size);
		if (!e)
			return top ? 0 : -EBADMSG;	/* a hole the parent lacks */
		if (e->flags & VMTRACK_PE_PRESENT) {
			off_t off = e->off + (vaddr - e->vaddr);

			if (pread(img->pages_fd, page, page_size, off) != page_size)
				return -EIO;
			return 1;
		}
	}
	return -EBADMSG;	/* a hole with no parent */
}

/**
 * vmtrack_img_remove() - delete a committed iteration
 * @dir:	the dump directory
 * @name:	the iteration
 * @id:		the task's id
 *
 * Removes the files an iteration consists of, then the directory (which
 * fails if anything else is in it).
 *
 * Return: 0 or a negative errno.
 */
int vmtrack_img_remove(const char *dir, const char *name, pid_t id)
{
	static const char * const files[] = { "pages-1.img", "inventory.img", "parent" };
	char path[PATH_MAX], file[64];
	size_t i;
	int dfd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	/* the pagemap first: what is left no longer looks like an image */
	snprintf(file, sizeof(file), "pagemap-%d.img", (int)id);
	unlinkat(dfd, file, 0);
	for (i = 0; i < ARRAY_SIZE(files); i++)
		unlinkat(dfd, files[i], 0);
	close(dfd);
	return rmdir(path) ? -errno : 0;
}
