// SPDX-License-Identifier: GPL-2.0
/*
 * Writes into a watched range that do not come from the owner's own user
 * space stores: ptrace(PTRACE_POKEDATA) and /proc/PID/mem (FOLL_FORCE, also
 * into read-only private mappings), process_vm_writev(), and kernel writes
 * through long-term pins (io_uring fixed buffers, gup_test) taken before
 * or after the mark, and uprobe breakpoints written into private text. The
 * events must name the watched mm, not the writer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <linux/io_uring.h>

#include "../kselftest_harness.h"
#include "watch_util.h"

static size_t ps;

/* The target's ranges, all watched: */
#define A_PAGES	8	/* read-write, populated */
#define B_PAGES	4	/* read-write, never touched */
#define C_PAGES	4	/* populated, then PROT_READ */
#define D_PAGES	4	/* PROT_READ MAP_PRIVATE file, pages 0-1 in the page tables */

struct target {
	char *a, *b, *c, *d;
	int error;
};

enum method { POKEDATA, PROC_MEM, PROCESS_VM_WRITEV };

FIXTURE(remote) {
	struct mmw_trace t;
	struct target *info;
	pid_t pid;
	int file;
};

FIXTURE_VARIANT(remote) {
	enum method method;
};

FIXTURE_VARIANT_ADD(remote, ptrace_pokedata) {
	.method = POKEDATA,
};

FIXTURE_VARIANT_ADD(remote, proc_pid_mem) {
	.method = PROC_MEM,
};

FIXTURE_VARIANT_ADD(remote, process_vm_writev) {
	.method = PROCESS_VM_WRITEV,
};

static int target_main(struct target *info, int file, int go)
{
	char c;

	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL))
		return 1;
	if (read(go, &c, 1) != 1)
		return 2;
	info->a = mmap(NULL, A_PAGES * ps, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	info->b = mmap(NULL, B_PAGES * ps, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	info->c = mmap(NULL, C_PAGES * ps, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	info->d = mmap(NULL, D_PAGES * ps, PROT_READ, MAP_PRIVATE, file, 0);
	if (info->a == MAP_FAILED || info->b == MAP_FAILED ||
	    info->c == MAP_FAILED || info->d == MAP_FAILED)
		return 3;
	madvise(info->a, A_PAGES * ps, MADV_NOHUGEPAGE);
	madvise(info->b, B_PAGES * ps, MADV_NOHUGEPAGE);
	madvise(info->c, C_PAGES * ps, MADV_NOHUGEPAGE);
	memset(info->a, 0xa0, A_PAGES * ps);
	memset(info->c, 0xc0, C_PAGES * ps);
	if (mprotect(info->c, C_PAGES * ps, PROT_READ))
		return 4;
	c = info->d[0] + info->d[ps];
	if (madvise(info->a, A_PAGES * ps, MADV_WATCH) ||
	    madvise(info->b, B_PAGES * ps, MADV_WATCH) ||
	    madvise(info->c, C_PAGES * ps, MADV_WATCH) ||
	    madvise(info->d, D_PAGES * ps, MADV_WATCH)) {
		info->error = errno;
		return 5;
	}
	raise(SIGSTOP);
	return c == 0x7f ? 0 : 6;
}

FIXTURE_SETUP(remote)
{
	char path[] = "/tmp/mmw-remote-XXXXXX", filter[64], *buf;
	int go[2], status;

	ps = getpagesize();
	MMW_SKIP_WITHOUT_FEATURE(return);

	self->file = mkstemp(path);
	ASSERT_LE(0, self->file);
	unlink(path);
	buf = malloc(D_PAGES * ps);
	ASSERT_NE(NULL, buf);
	memset(buf, 0xd0, D_PAGES * ps);
	buf[0] = 0x3f;
	buf[ps] = 0x40;
	ASSERT_EQ(D_PAGES * ps, write(self->file, buf, D_PAGES * ps));
	free(buf);

	self->info = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->info);
	ASSERT_EQ(0, pipe(go));
	self->pid = fork();
	ASSERT_LE(0, self->pid);
	if (!self->pid)
		_exit(target_main(self->info, self->file, go[0]));
	close(go[0]);

	ASSERT_EQ(0, mmw_trace_init(&self->t, NULL, 1024));
	snprintf(filter, sizeof(filter), "tgid==%d", self->pid);
	ASSERT_EQ(0, mmw_trace_set_filter(&self->t, filter));
	ASSERT_EQ(1, write(go[1], "g", 1));
	close(go[1]);
	ASSERT_EQ(self->pid, waitpid(self->pid, &status, WUNTRACED));
	ASSERT_TRUE(WIFSTOPPED(status)) TH_LOG("target exited: %d (errno %d)",
					       WEXITSTATUS(status), self->info->error);
}

FIXTURE_TEARDOWN(remote)
{
	kill(self->pid, SIGKILL);
	waitpid(self->pid, NULL, 0);
	mmw_trace_fini(&self->t);
	munmap(self->info, ps);
	close(self->file);
}

static int target_read(pid_t pid, void *dst, const void *src, size_t len)
{
	struct iovec l = { .iov_base = dst, .iov_len = len };
	struct iovec r = { .iov_base = (void *)src, .iov_len = len };

	return process_vm_readv(pid, &l, 1, &r, 1, 0) == (ssize_t)len ? 0 : -1;
}

/* Write one word at @addr of the target; returns 0 or -errno. */
static int target_write(enum method m, pid_t pid, char *addr, unsigned long val)
{
	struct iovec l = { .iov_base = &val, .iov_len = sizeof(val) };
	struct iovec r = { .iov_base = addr, .iov_len = sizeof(val) };
	char path[64];
	int fd, ret = 0;

	switch (m) {
	case POKEDATA:
		if (ptrace(PTRACE_POKEDATA, pid, addr, (void *)val))
			return -errno;
		return 0;
	case PROC_MEM:
		snprintf(path, sizeof(path), "/proc/%d/mem", pid);
		fd = open(path, O_RDWR);
		if (fd < 0)
			return -errno;
		if (pwrite(fd, &val, sizeof(val), (off_t)(unsigned long)addr) != sizeof(val))
			ret = -errno;
		close(fd);
		return ret;
	case PROCESS_VM_WRITEV:
		if (process_vm_writev(pid, &l, 1, &r, 1, 0) != sizeof(val))
			return -errno;
		return 0;
	}
	return -EINVAL;
}

struct range {
	const char *name;
	char *addr;
	size_t pages;
	char *snap;
	bool writable;	/* by a non-FOLL_FORCE writer */
};

static void check_ranges(struct __test_metadata *_metadata, struct _test_data_remote *self,
			 struct range *r, int nr, __u64 id, const unsigned char *written)
{
	size_t i, off = 0;
	int k;

	for (k = 0; k < nr; k++) {
		size_t len = r[k].pages * ps;
		unsigned char *ch = calloc(r[k].pages, 1), *rep = calloc(r[k].pages, 1);
		char *now = malloc(len);

		ASSERT_NE(NULL, ch);
		ASSERT_NE(NULL, rep);
		ASSERT_NE(NULL, now);
		ASSERT_EQ(0, target_read(self->pid, now, r[k].addr, len));
		mmw_changed(r[k].snap, now, len, ch);
		mmw_reported(&self->t, id, MMW_CHANGE_EVENTS, 0, (unsigned long)r[k].addr,
			     r[k].pages, rep);
		EXPECT_EQ(0, mmw_missing(ch, rep, r[k].pages, (unsigned long)r[k].addr,
					 r[k].name)) mmw_trace_dump(&self->t, 40);
		/* The pages that were not written are not reported either. */
		for (i = 0; i < r[k].pages; i++) {
			EXPECT_EQ(written[off + i], ch[i])
				TH_LOG("%s page %zu: changed=%d written=%d", r[k].name, i,
				       ch[i], written[off + i]);
			if (!written[off + i])
				EXPECT_EQ(0, rep[i]) TH_LOG("%s page %zu reported, not written",
							    r[k].name, i);
		}
		off += r[k].pages;
		free(ch);
		free(rep);
		free(now);
	}
}

TEST_F(remote, foreign_writes)
{
	struct range r[] = {
		{ "anon", self->info->a, A_PAGES, NULL, true },
		{ "anon, never touched", self->info->b, B_PAGES, NULL, true },
		{ "PROT_READ anon", self->info->c, C_PAGES, NULL, false },
		{ "PROT_READ private file", self->info->d, D_PAGES, NULL, false },
	};
	/* pages to write, in the order of r[] */
	const unsigned char targets[A_PAGES + B_PAGES + C_PAGES + D_PAGES] = {
		0, 1, 0, 1, 0, 1, 0, 0,
		1, 0, 1, 0,
		0, 1, 0, 1,
		1, 0, 0, 1,
	};
	unsigned char written[sizeof(targets)] = {};
	const int nr = ARRAY_SIZE(r);
	struct iovec iov[4];
	size_t i, off;
	int k, pidfd;
	__u64 id;

	for (k = 0; k < nr; k++) {
		r[k].snap = malloc(r[k].pages * ps);
		ASSERT_NE(NULL, r[k].snap);
		ASSERT_EQ(0, target_read(self->pid, r[k].snap, r[k].addr, r[k].pages * ps));
	}

	for (k = 0, off = 0; k < nr; off += r[k].pages, k++) {
		for (i = 0; i < r[k].pages; i++) {
			int ret;

			if (!targets[off + i])
				continue;
			ret = target_write(variant->method, self->pid,
					   r[k].addr + i * ps + 8 * (i + 1), 0x1234567800 + i);
			if (variant->method == PROCESS_VM_WRITEV && !r[k].writable) {
				EXPECT_EQ(-EFAULT, ret);
				continue;
			}
			EXPECT_EQ(0, ret) TH_LOG("%s page %zu: %s", r[k].name, i, strerror(-ret));
			written[off + i] = !ret;
		}
	}

	MMW_READ_EVENTS(&self->t);
	id = mmw_mm_id_of(&self->t, self->pid);
	ASSERT_NE(0, id) mmw_trace_dump(&self->t, 20);
	for (i = 0; i < self->t.nr; i++) {
		EXPECT_EQ(self->pid, self->t.ev[i].tgid);
		EXPECT_EQ(id, self->t.ev[i].mm_id);
	}
	check_ranges(_metadata, self, r, nr, id, written);

	/* Re-arm from here, write the same pages again: reported again. */
	ASSERT_EQ(0, mmw_trace_clear(&self->t));
	for (k = 0; k < nr; k++) {
		iov[k].iov_base = r[k].addr;
		iov[k].iov_len = r[k].pages * ps;
		ASSERT_EQ(0, target_read(self->pid, r[k].snap, r[k].addr, r[k].pages * ps));
	}
	pidfd = mmw_pidfd_open(self->pid);
	ASSERT_LE(0, pidfd);
	ASSERT_EQ((A_PAGES + B_PAGES + C_PAGES + D_PAGES) * ps,
		  mmw_process_madvise(pidfd, iov, nr, MADV_WATCH));
	close(pidfd);
	for (k = 0, off = 0; k < nr; off += r[k].pages, k++)
		for (i = 0; i < r[k].pages; i++)
			if (written[off + i])
				ASSERT_EQ(0, target_write(variant->method, self->pid,
							  r[k].addr + i * ps, 0xabcdef00 + i));
	MMW_READ_EVENTS(&self->t);
	EXPECT_EQ(nr, mmw_count(&self->t, MMW_MARK, id, 0, ~0UL));
	check_ranges(_metadata, self, r, nr, id, written);

	for (k = 0; k < nr; k++)
		free(r[k].snap);
}

FIXTURE(pin) {
	struct mmw_trace t;
	__u64 id;
};

FIXTURE_SETUP(pin)
{
	ps = getpagesize();
	MMW_SKIP_WITHOUT_FEATURE(return);
	ASSERT_EQ(0, mmw_trace_init(&self->t, NULL, 1024));
}

FIXTURE_TEARDOWN(pin)
{
	mmw_trace_fini(&self->t);
}

struct uring {
	int fd;
	void *sq, *cq;
	size_t sq_len, cq_len;
	struct io_uring_sqe *sqes;
	size_t sqes_len;
	unsigned int *sq_tail, *sq_mask, *sq_array;
	unsigned int *cq_head, *cq_tail, *cq_mask;
	struct io_uring_cqe *cqes;
};

static int uring_init(struct uring *u)
{
	struct io_uring_params p = {};

	u->fd = syscall(__NR_io_uring_setup, 4, &p);
	if (u->fd < 0)
		return -1;
	u->sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned int);
	u->cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	if (p.features & IORING_FEAT_SINGLE_MMAP) {
		if (u->cq_len > u->sq_len)
			u->sq_len = u->cq_len;
		u->cq_len = u->sq_len;
	}
	u->sq = mmap(NULL, u->sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
		     u->fd, IORING_OFF_SQ_RING);
	if (u->sq == MAP_FAILED)
		return -1;
	if (p.features & IORING_FEAT_SINGLE_MMAP)
		u->cq = u->sq;
	else
		u->cq = mmap(NULL, u->cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
			     u->fd, IORING_OFF_CQ_RING);
	if (u->cq == MAP_FAILED)
		return -1;
	u->sqes_len = p.sq_entries * sizeof(struct io_uring_sqe);
	u->sqes = mmap(NULL, u->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
		       u->fd, IORING_OFF_SQES);
	if (u->sqes == MAP_FAILED)
		return -1;
	u->sq_tail = (unsigned int *)((char *)u->sq + p.sq_off.tail);
	u->sq_mask = (unsigned int *)((char *)u->sq + p.sq_off.ring_mask);
	u->sq_array = (unsigned int *)((char *)u->sq + p.sq_off.array);
	u->cq_head = (unsigned int *)((char *)u->cq + p.cq_off.head);
	u->cq_tail = (unsigned int *)((char *)u->cq + p.cq_off.tail);
	u->cq_mask = (unsigned int *)((char *)u->cq + p.cq_off.ring_mask);
	u->cqes = (struct io_uring_cqe *)((char *)u->cq + p.cq_off.cqes);
	return 0;
}

static void uring_fini(struct uring *u)
{
	munmap(u->sqes, u->sqes_len);
	if (u->cq != u->sq)
		munmap(u->cq, u->cq_len);
	munmap(u->sq, u->sq_len);
	close(u->fd);
}

/* IORING_OP_READ_FIXED of @len bytes at offset 0 of @fd into @dst (in buffer 0). */
static int uring_read_fixed(struct uring *u, int fd, void *dst, size_t len)
{
	unsigned int tail = *u->sq_tail, idx = tail & *u->sq_mask, head;
	struct io_uring_sqe *sqe = &u->sqes[idx];
	int res;

	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_READ_FIXED;
	sqe->fd = fd;
	sqe->addr = (unsigned long)dst;
	sqe->len = len;
	sqe->off = 0;
	sqe->buf_index = 0;
	u->sq_array[idx] = idx;
	__atomic_store_n(u->sq_tail, tail + 1, __ATOMIC_RELEASE);
	if (syscall(__NR_io_uring_enter, u->fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
		return -errno;
	head = *u->cq_head;
	if (head == __atomic_load_n(u->cq_tail, __ATOMIC_ACQUIRE))
		return -EIO;
	res = u->cqes[head & *u->cq_mask].res;
	__atomic_store_n(u->cq_head, head + 1, __ATOMIC_RELEASE);
	return res;
}

static int make_file(char fill, size_t len)
{
	char path[] = "/tmp/mmw-pin-XXXXXX", *buf;
	int fd = mkstemp(path);

	if (fd < 0)
		return -1;
	unlink(path);
	buf = malloc(len);
	if (!buf)
		return -1;
	memset(buf, fill, len);
	if (write(fd, buf, len) != (ssize_t)len) {
		free(buf);
		return -1;
	}
	free(buf);
	return fd;
}

#define NPIN	4

/* All pages of [p, p + NPIN pages) reported by @mask events. */
static bool all_reported(struct _test_data_pin *self, char *p, unsigned int mask)
{
	unsigned char rep[NPIN] = {};
	int i;

	mmw_reported(&self->t, self->id, mask, 0, (unsigned long)p, NPIN, rep);
	for (i = 0; i < NPIN; i++)
		if (!rep[i])
			return false;
	return true;
}

static void uring_pin(struct __test_metadata *_metadata, struct _test_data_pin *self,
		      bool pin_first)
{
	char *p = mmap(NULL, NPIN * ps, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), *snap;
	struct iovec iov = { .iov_base = p, .iov_len = NPIN * ps };
	int f1, f2, ret;
	struct uring u;

	ASSERT_NE(MAP_FAILED, p);
	madvise(p, NPIN * ps, MADV_NOHUGEPAGE);
	memset(p, 0x61, NPIN * ps);
	if (uring_init(&u))
		SKIP(return, "io_uring not available: %s", strerror(errno));
	f1 = make_file(0x71, 2 * ps);
	f2 = make_file(0x72, ps);
	ASSERT_LE(0, f1);
	ASSERT_LE(0, f2);

	if (pin_first) {
		ASSERT_EQ(0, syscall(__NR_io_uring_register, u.fd, IORING_REGISTER_BUFFERS,
				     &iov, 1)) TH_LOG("IORING_REGISTER_BUFFERS: %s",
						      strerror(errno));
		ASSERT_EQ(0, madvise(p, NPIN * ps, MADV_WATCH));
		MMW_READ_EVENTS(&self->t);
		self->id = mmw_mm_id_of(&self->t, getpid());
		ASSERT_NE(0, self->id);
		/* pinned before the mark: reported as such */
		EXPECT_TRUE(all_reported(self, p, MMW_BIT(MMW_PINNED)))
			mmw_trace_dump(&self->t, 20);
	} else {
		ASSERT_EQ(0, madvise(p, NPIN * ps, MADV_WATCH));
		ASSERT_EQ(0, syscall(__NR_io_uring_register, u.fd, IORING_REGISTER_BUFFERS,
				     &iov, 1)) TH_LOG("IORING_REGISTER_BUFFERS: %s",
						      strerror(errno));
		MMW_READ_EVENTS(&self->t);
		self->id = mmw_mm_id_of(&self->t, getpid());
		ASSERT_NE(0, self->id);
		/* FOLL_WRITE pin after the mark: a write fault per page */
		EXPECT_TRUE(all_reported(self, p, MMW_BIT(MMW_WRITE_FAULT)))
			mmw_trace_dump(&self->t, 20);
	}

	/* The kernel writes through the pin, without a fault. */
	snap = mmw_snapshot(p, NPIN * ps);
	ASSERT_NE(NULL, snap);
	ret = uring_read_fixed(&u, f1, p + ps, 2 * ps);
	ASSERT_EQ(2 * ps, ret) TH_LOG("READ_FIXED: %s", strerror(-ret));
	ASSERT_EQ(0x71, p[ps]);
	MMW_READ_EVENTS(&self->t);
	EXPECT_EQ(0, mmw_unreported_changes(&self->t, self->id, snap, p, NPIN * ps,
					    "io_uring, first epoch"));

	/* Re-arm: still pinned, so reported as pinned again. */
	ASSERT_EQ(0, mmw_trace_clear(&self->t));
	ASSERT_EQ(0, madvise(p, NPIN * ps, MADV_WATCH));
	free(snap);
	snap = mmw_snapshot(p, NPIN * ps);
	ASSERT_NE(NULL, snap);
	ret = uring_read_fixed(&u, f2, p + 3 * ps, ps);
	ASSERT_EQ(ps, ret);
	ASSERT_EQ(0x72, p[3 * ps]);
	MMW_READ_EVENTS(&self->t);
	EXPECT_TRUE(all_reported(self, p, MMW_BIT(MMW_PINNED))) mmw_trace_dump(&self->t, 20);
	EXPECT_EQ(0, mmw_unreported_changes(&self->t, self->id, snap, p, NPIN * ps,
					    "io_uring, re-armed"));

	/* Unpinned: no pinned events any more, writes fault again. */
	ASSERT_EQ(0, syscall(__NR_io_uring_register, u.fd, IORING_UNREGISTER_BUFFERS, NULL, 0));
	ASSERT_EQ(0, mmw_trace_clear(&self->t));
	ASSERT_EQ(0, madvise(p, NPIN * ps, MADV_WATCH));
	free(snap);
	snap = mmw_snapshot(p, NPIN * ps);
	ASSERT_NE(NULL, snap);
	memset(p, 0x62, NPIN * ps);
	MMW_READ_EVENTS(&self->t);
	EXPECT_EQ(0, mmw_count(&self->t, MMW_PINNED, self->id, 0, ~0UL));
	EXPECT_EQ(0, mmw_unreported_changes(&self->t, self->id, snap, p, NPIN * ps,
					    "io_uring, unpinned"));
	EXPECT_TRUE(all_reported(self, p, MMW_BIT(MMW_WRITE_FAULT)));

	free(snap);
	uring_fini(&u);
	close(f1);
	close(f2);
	munmap(p, NPIN * ps);
}

TEST_F(pin, io_uring_pinned_before_mark)
{
	uring_pin(_metadata, self, true);
}

TEST_F(pin, io_uring_pinned_after_mark)
{
	uring_pin(_metadata, self, false);
}

/*
 * A reference without a pin (FOLL_GET: vmsplice(), and O_DIRECT on 9p or
 * NFS) lets its holder reach the page after the arm without a fault: the
 * arm reports it as it reports a pin, for as long as it is held.
 */
TEST_F(pin, page_reference)
{
	struct iovec iov;
	char *p, *buf;
	int pfd[2];

	p = mmap(NULL, NPIN * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	buf = malloc(NPIN * ps);
	ASSERT_NE(NULL, buf);
	madvise(p, NPIN * ps, MADV_NOHUGEPAGE);
	memset(p, 0x64, NPIN * ps);
	ASSERT_EQ(0, pipe(pfd));
	iov.iov_base = p;
	iov.iov_len = NPIN * ps;
	ASSERT_EQ(NPIN * ps, vmsplice(pfd[1], &iov, 1, 0));

	ASSERT_EQ(0, madvise(p, NPIN * ps, MADV_WATCH));
	MMW_READ_EVENTS(&self->t);
	self->id = mmw_mm_id_of(&self->t, getpid());
	ASSERT_NE(0, self->id);
	EXPECT_TRUE(all_reported(self, p, MMW_BIT(MMW_PINNED))) mmw_trace_dump(&self->t, 20);

	/* The pipe held the pages themselves; once read, nothing is left. */
	ASSERT_EQ(NPIN * ps, read(pfd[0], buf, NPIN * ps));
	EXPECT_EQ(0, memcmp(buf, p, NPIN * ps));
	ASSERT_EQ(0, mmw_trace_clear(&self->t));
	ASSERT_EQ(0, madvise(p, NPIN * ps, MADV_WATCH));
	MMW_READ_EVENTS(&self->t);
	EXPECT_EQ(0, mmw_count(&self->t, MMW_PINNED, self->id, 0, ~0UL))
		mmw_trace_dump(&self->t, 20);
	close(pfd[0]);
	close(pfd[1]);
	free(buf);
	munmap(p, NPIN * ps);
}

/*
 * A page shared after fork() cannot be written through a reference: GUP
 * unshares it first. The read-only references another process takes to
 * it (here vmsplice() in the parent) are not reported at the child's arm,
 * nor the transient ones of the parent's COW faults.
 */
TEST_F(pin, shared_page_reference)
{
	struct iovec iov;
	int pfd[2], pidfd, status;
	char filter[32], *p;
	pid_t child;
	__u64 id;

	p = mmap(NULL, NPIN * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	madvise(p, NPIN * ps, MADV_NOHUGEPAGE);
	memset(p, 0x65, NPIN * ps);
	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pause();
		_exit(0);
	}
	ASSERT_EQ(0, pipe(pfd));
	iov.iov_base = p;
	iov.iov_len = NPIN * ps;
	ASSERT_EQ(NPIN * ps, vmsplice(pfd[1], &iov, 1, 0));

	snprintf(filter, sizeof(filter), "tgid==%d", child);
	ASSERT_EQ(0, mmw_trace_set_filter(&self->t, filter));
	pidfd = mmw_pidfd_open(child);
	ASSERT_LE(0, pidfd);
	iov.iov_base = p;
	iov.iov_len = NPIN * ps;
	EXPECT_EQ(NPIN * ps, mmw_process_madvise(pidfd, &iov, 1, MADV_WATCH));
	MMW_READ_EVENTS(&self->t);
	id = mmw_mm_id_of(&self->t, child);
	EXPECT_NE(0, id) mmw_trace_dump(&self->t, 20);
	EXPECT_EQ(0, mmw_count(&self->t, MMW_PINNED, id, 0, ~0UL))
		mmw_trace_dump(&self->t, 20);

	close(pidfd);
	kill(child, SIGKILL);
	waitpid(child, &status, 0);
	close(pfd[0]);
	close(pfd[1]);
	munmap(p, NPIN * ps);
}

/*
 * A re-arm looks for pins and references only once a GUP for writing ran
 * on the watched mm: a reference taken for reading after the mark
 * (vmsplice()) is not reported, its holder only reads the page. A pin for
 * writing (io_uring fixed buffers) makes the re-arms look again.
 */
TEST_F(pin, read_reference_after_mark)
{
	struct iovec iov;
	struct uring u;
	int pfd[2];
	char *p;

	if (uring_init(&u))
		SKIP(return, "io_uring not available: %s", strerror(errno));
	p = mmap(NULL, NPIN * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	madvise(p, NPIN * ps, MADV_NOHUGEPAGE);
	memset(p, 0x66, NPIN * ps);
	ASSERT_EQ(0, madvise(p, NPIN * ps, MADV_WATCH));
	MMW_READ_EVENTS(&self->t);
	self->id = mmw_mm_id_of(&self->t, getpid());
	ASSERT_NE(0, self->id);
	EXPECT_EQ(0, mmw_count(&self->t, MMW_PINNED, self->id, 0, ~0UL));

	memset(p, 0x67, NPIN * ps);
	ASSERT_EQ(0, pipe(pfd));
	iov.iov_base = p;
	iov.iov_len = NPIN * ps;
	ASSERT_EQ(NPIN * ps, vmsplice(pfd[1], &iov, 1, 0));
	ASSERT_EQ(0, mmw_trace_clear(&self->t));
	ASSERT_EQ(0, madvise(p, NPIN * ps, MADV_WATCH));
	MMW_READ_EVENTS(&self->t);
	EXPECT_EQ(0, mmw_count(&self->t, MMW_PINNED, self->id, 0, ~0UL))
		mmw_trace_dump(&self->t, 20);

	/* Written first, so that GUP-fast pins them without a fault. */
	memset(p, 0x68, NPIN * ps);
	ASSERT_EQ(0, syscall(__NR_io_uring_register, u.fd, IORING_REGISTER_BUFFERS,
			     &iov, 1)) TH_LOG("IORING_REGISTER_BUFFERS: %s", strerror(errno));
	ASSERT_EQ(0, mmw_trace_clear(&self->t));
	ASSERT_EQ(0, madvise(p, NPIN * ps, MADV_WATCH));
	MMW_READ_EVENTS(&self->t);
	EXPECT_TRUE(all_reported(self, p, MMW_BIT(MMW_PINNED))) mmw_trace_dump(&self->t, 20);

	uring_fini(&u);
	close(pfd[0]);
	close(pfd[1]);
	munmap(p, NPIN * ps);
}

/* From mm/gup_test.h */
struct pin_longterm_test {
	__u64 addr;
	__u64 size;
	__u32 flags;
};

#define PIN_LONGTERM_TEST_START			_IOW('g', 7, struct pin_longterm_test)
#define PIN_LONGTERM_TEST_STOP			_IO('g', 8)
#define PIN_LONGTERM_TEST_FLAG_USE_WRITE	1

static size_t pinned_bytes(struct mmw_trace *t)
{
	size_t i, sz = 0;

	for (i = 0; i < t->nr; i++)
		if (t->ev[i].type == MMW_PINNED)
			sz += t->ev[i].end - t->ev[i].start;
	return sz;
}

TEST_F(pin, gup_test_longterm)
{
	struct pin_longterm_test args = {};
	char *p;
	int fd;

	fd = open("/sys/kernel/debug/gup_test", O_RDWR);
	if (fd < 0)
		SKIP(return, "no /sys/kernel/debug/gup_test (CONFIG_GUP_TEST)");
	p = mmap(NULL, NPIN * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	madvise(p, NPIN * ps, MADV_NOHUGEPAGE);
	memset(p, 0x63, NPIN * ps);
	args.addr = (unsigned long)p;
	args.size = NPIN * ps;
	args.flags = PIN_LONGTERM_TEST_FLAG_USE_WRITE;
	ASSERT_EQ(0, ioctl(fd, PIN_LONGTERM_TEST_START, &args))
		TH_LOG("PIN_LONGTERM_TEST_START: %s", strerror(errno));
	ASSERT_EQ(0, madvise(p, NPIN * ps, MADV_WATCH));
	ASSERT_EQ(0, madvise(p, NPIN * ps, MADV_WATCH));
	MMW_READ_EVENTS(&self->t);
	self->id = mmw_mm_id_of(&self->t, getpid());
	ASSERT_NE(0, self->id);
	/* at the mark and at the re-arm */
	EXPECT_EQ(2 * NPIN * ps, pinned_bytes(&self->t)) mmw_trace_dump(&self->t, 20);
	EXPECT_TRUE(all_reported(self, p, MMW_BIT(MMW_PINNED)));
	ASSERT_EQ(0, ioctl(fd, PIN_LONGTERM_TEST_STOP));

	ASSERT_EQ(0, mmw_trace_clear(&self->t));
	ASSERT_EQ(0, madvise(p, NPIN * ps, MADV_WATCH));
	MMW_READ_EVENTS(&self->t);
	EXPECT_EQ(0, mmw_count(&self->t, MMW_PINNED, self->id, 0, ~0UL));
	close(fd);
	munmap(p, NPIN * ps);
}

/*
 * A uprobe replaces the page of a private text mapping with a copy that
 * holds a breakpoint, and restores it on removal: no fault in this mm.
 */
TEST_F(pin, uprobe_breakpoint)
{
	const unsigned long off = 16;
	char path[64], *p, *snap;
	int fd;

	if (access(MMW_UPROBE_EVENTS, W_OK))
		SKIP(return, "no %s (CONFIG_UPROBE_EVENTS)", MMW_UPROBE_EVENTS);
	p = mmw_map_nop_text(2, &fd);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ((char)0x90, p[off]);
	ASSERT_EQ(0, madvise(p, 2 * ps, MADV_WATCH));
	snap = mmw_snapshot(p, 2 * ps);
	ASSERT_NE(NULL, snap);

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", getpid(), fd);
	mmw_uprobe_set(path, off, false);	/* left over by an aborted run */
	ASSERT_EQ(0, mmw_uprobe_set(path, off, true));
	EXPECT_EQ((char)0xcc, p[off]);	/* int3 */
	MMW_READ_EVENTS(&self->t);
	self->id = mmw_mm_id_of(&self->t, getpid());
	ASSERT_NE(0, self->id);
	EXPECT_EQ(0, mmw_unreported_changes(&self->t, self->id, snap, p, 2 * ps,
					    "uprobe installed"));
	EXPECT_EQ(0, mmw_count(&self->t, MMW_WRITE_FAULT, self->id,
			       (unsigned long)p + ps, (unsigned long)p + 2 * ps));

	/* Re-armed, then the breakpoint goes: reported again. */
	ASSERT_EQ(0, mmw_trace_clear(&self->t));
	ASSERT_EQ(0, madvise(p, 2 * ps, MADV_WATCH));
	memcpy(snap, p, 2 * ps);
	ASSERT_EQ(0, mmw_uprobe_set(path, off, false));
	EXPECT_EQ((char)0x90, p[off]);
	MMW_READ_EVENTS(&self->t);
	EXPECT_EQ(0, mmw_unreported_changes(&self->t, self->id, snap, p, 2 * ps,
					    "uprobe removed"));
	EXPECT_NE(0, mmw_count(&self->t, MMW_WRITE_FAULT, self->id,
			       (unsigned long)p, (unsigned long)p + ps));

	free(snap);
	munmap(p, 2 * ps);
	close(fd);
}

TEST_HARNESS_MAIN
