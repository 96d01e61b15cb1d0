// SPDX-License-Identifier: GPL-2.0
/*
 * MADV_WATCH / MADV_UNWATCH interface: mark, re-arm and unmark events,
 * VmFlags "wt", errors, the privileges of process_madvise() and of a
 * PAGEMAP_SCAN re-arm, and the identity of a watched mm across fork, exit
 * and exec.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <linux/capability.h>
#include <linux/fs.h>

#include "../kselftest_harness.h"
#include "watch_util.h"

#ifndef CAP_CHECKPOINT_RESTORE
#define CAP_CHECKPOINT_RESTORE	40
#endif

#define NOBODY			65534

static size_t ps;

FIXTURE(api) {
	struct mmw_trace t;
};

FIXTURE_SETUP(api)
{
	ps = getpagesize();
	MMW_SKIP_WITHOUT_FEATURE(return);
	ASSERT_EQ(0, mmw_trace_init(&self->t, NULL, 1024));
}

FIXTURE_TEARDOWN(api)
{
	mmw_trace_fini(&self->t);
}

static char *map_anon(size_t len)
{
	return mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

/* A child that waits for one byte on @go before running @fn, then exits with its result. */
static pid_t spawn(int go[2], int (*fn)(void *), void *arg)
{
	pid_t pid;
	char c;

	if (pipe(go))
		return -1;
	pid = fork();
	if (pid)
		return pid;
	close(go[1]);
	if (read(go[0], &c, 1) != 1)
		_exit(100);
	_exit(fn(arg));
}

static void release(int go[2])
{
	close(go[0]);
	if (write(go[1], "x", 1) != 1)
		perror("write");
	close(go[1]);
}

static int wait_exit(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return -1;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

/* The event names and fields are ABI: check them against the format files. */
TEST_F(api, event_format)
{
	static const char * const events[][6] = {
		{ "mark", "start", "end" },
		{ "rearm", "start", "end" },
		{ "unmark", "start", "end" },
		{ "write_fault", "address", "size" },
		{ "zap", "start", "end", "reason" },
		{ "move", "old_start", "new_start", "len" },
		{ "unmap", "start", "end" },
		{ "exit" },
		{ "pinned", "address", "size" },
	};
	char path[256], buf[4096];
	size_t i, j;

	for (i = 0; i < ARRAY_SIZE(events); i++) {
		char fields[8][32] = {};
		int nr = 0;
		char *line, *save;

		snprintf(path, sizeof(path), "%s/events/mm_watch/mm_watch_%s/format",
			 MMW_TRACEFS, events[i][0]);
		if (mmw_read_file(path, buf, sizeof(buf))) {
			EXPECT_EQ(0, errno) TH_LOG("no event mm_watch:mm_watch_%s", events[i][0]);
			continue;
		}
		/* "\tfield:unsigned long start;\toffset:16;..." in declaration order */
		for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			char *f = strstr(line, "field:"), *semi, *name;

			if (!f || strstr(f, " common_"))
				continue;
			semi = strchr(f, ';');
			if (!semi)
				continue;
			*semi = '\0';
			name = strrchr(f, ' ');
			if (name && nr < 8)
				snprintf(fields[nr++], sizeof(fields[0]), "%s", name + 1);
		}
		ASSERT_LE(3, nr) TH_LOG("mm_watch:%s has %d fields", events[i][0], nr);
		EXPECT_STREQ("mm_id", fields[0]) TH_LOG("mm_watch:%s", events[i][0]);
		EXPECT_STREQ("tgid", fields[1]) TH_LOG("mm_watch:%s", events[i][0]);
		EXPECT_STREQ("seq", fields[2]) TH_LOG("mm_watch:%s", events[i][0]);
		for (j = 1; j < 6 && events[i][j]; j++)
			EXPECT_STREQ(events[i][j], fields[j + 2])
				TH_LOG("mm_watch:%s field %zu", events[i][0], j + 2);
		EXPECT_EQ(j + 2, nr) TH_LOG("mm_watch:%s: %d fields", events[i][0], nr);
	}
}

TEST_F(api, mark_unmark_vmflags)
{
	const struct mmw_event *e;
	char *p = map_anon(8 * ps);
	__u64 id;

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, mmw_vma_has_flag(0, (unsigned long)p, "wt"));

	ASSERT_EQ(0, madvise(p, 8 * ps, MADV_WATCH));
	ASSERT_EQ(1, mmw_vma_has_flag(0, (unsigned long)p, "wt"));
	ASSERT_EQ(0, madvise(p, 8 * ps, MADV_WATCH));
	/* len is rounded up to a page */
	ASSERT_EQ(0, madvise(p, 1, MADV_WATCH));
	ASSERT_EQ(0, madvise(p + 3 * ps, 2 * ps, MADV_UNWATCH));
	ASSERT_EQ(1, mmw_vma_has_flag(0, (unsigned long)p + 2 * ps, "wt"));
	ASSERT_EQ(0, mmw_vma_has_flag(0, (unsigned long)p + 3 * ps, "wt"));
	ASSERT_EQ(0, mmw_vma_has_flag(0, (unsigned long)p + 4 * ps, "wt"));
	ASSERT_EQ(1, mmw_vma_has_flag(0, (unsigned long)p + 5 * ps, "wt"));
	ASSERT_EQ(0, madvise(p, 8 * ps, MADV_UNWATCH));
	ASSERT_EQ(0, mmw_vma_has_flag(0, (unsigned long)p, "wt"));
	ASSERT_EQ(0, mmw_vma_has_flag(0, (unsigned long)p + 7 * ps, "wt"));

	MMW_READ_EVENTS(&self->t);
	ASSERT_LE(5, self->t.nr) mmw_trace_dump(&self->t, 20);
	e = &self->t.ev[0];
	ASSERT_EQ(MMW_MARK, e->type);
	ASSERT_EQ(getpid(), e->tgid);
	ASSERT_NE(0, e->mm_id);
	ASSERT_EQ((unsigned long)p, e->start);
	ASSERT_EQ((unsigned long)p + 8 * ps, e->end);
	ASSERT_EQ(0, e->rearm);
	id = e->mm_id;

	e = &self->t.ev[1];
	ASSERT_EQ(MMW_MARK, e->type);
	ASSERT_EQ(id, e->mm_id);
	ASSERT_EQ((unsigned long)p, e->start);
	ASSERT_EQ((unsigned long)p + 8 * ps, e->end);
	ASSERT_EQ(1, e->rearm);

	e = &self->t.ev[2];
	ASSERT_EQ(MMW_MARK, e->type);
	ASSERT_EQ((unsigned long)p, e->start);
	ASSERT_EQ((unsigned long)p + ps, e->end);
	ASSERT_EQ(1, e->rearm);

	e = &self->t.ev[3];
	ASSERT_EQ(MMW_UNMARK, e->type);
	ASSERT_EQ(id, e->mm_id);
	ASSERT_EQ((unsigned long)p + 3 * ps, e->start);
	ASSERT_EQ((unsigned long)p + 5 * ps, e->end);

	/* The last unwatch covers what was still watched, maybe in pieces. */
	ASSERT_EQ(0, mmw_count(&self->t, MMW_WRITE_FAULT, 0, 0, ~0UL));
	ASSERT_LE(1, mmw_count(&self->t, MMW_UNMARK, id, (unsigned long)p, (unsigned long)p + ps));
	ASSERT_LE(1, mmw_count(&self->t, MMW_UNMARK, id, (unsigned long)p + 7 * ps,
			       (unsigned long)p + 8 * ps));
	munmap(p, 8 * ps);
}

TEST_F(api, errors)
{
	char *p = map_anon(4 * ps), *s;
	int fd;

	ASSERT_NE(MAP_FAILED, p);
	errno = 0;
	EXPECT_EQ(-1, madvise(p + 1, ps, MADV_WATCH));
	EXPECT_EQ(EINVAL, errno);
	errno = 0;
	EXPECT_EQ(-1, madvise(p + 1, ps, MADV_UNWATCH));
	EXPECT_EQ(EINVAL, errno);
	errno = 0;
	EXPECT_EQ(-1, madvise(p, ps, 28));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, mmw_vma_has_flag(0, (unsigned long)p, "wt"));

	/* shared anonymous memory (shmem) */
	s = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, s);
	errno = 0;
	EXPECT_EQ(-1, madvise(s, 2 * ps, MADV_WATCH));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, mmw_vma_has_flag(0, (unsigned long)s, "wt"));
	munmap(s, 2 * ps);

	/* MAP_SHARED of a memfd (shmem), read-only too */
	fd = memfd_create("mmw", 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 2 * ps));
	s = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, s);
	errno = 0;
	EXPECT_EQ(-1, madvise(s, 2 * ps, MADV_WATCH));
	EXPECT_EQ(EINVAL, errno);
	munmap(s, 2 * ps);
	s = mmap(NULL, 2 * ps, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, s);
	errno = 0;
	EXPECT_EQ(-1, madvise(s, 2 * ps, MADV_WATCH));
	EXPECT_EQ(EINVAL, errno);
	munmap(s, 2 * ps);

	/* MAP_PRIVATE of the same memfd is a private file mapping: accepted */
	s = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	ASSERT_NE(MAP_FAILED, s);
	EXPECT_EQ(0, madvise(s, 2 * ps, MADV_WATCH));
	EXPECT_EQ(1, mmw_vma_has_flag(0, (unsigned long)s, "wt"));
	munmap(s, 2 * ps);
	close(fd);

	/* VM_DROPPABLE (64-bit kernels since 6.11) */
	s = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_DROPPABLE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, s) TH_LOG("MAP_DROPPABLE: %s", strerror(errno));
	errno = 0;
	EXPECT_EQ(-1, madvise(s, 2 * ps, MADV_WATCH));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, mmw_vma_has_flag(0, (unsigned long)s, "wt"));
	munmap(s, 2 * ps);

	MMW_READ_EVENTS(&self->t);
	/* Only the private memfd mapping was marked. */
	EXPECT_EQ(1, mmw_count(&self->t, MMW_MARK, 0, 0, ~0UL)) mmw_trace_dump(&self->t, 20);
	munmap(p, 4 * ps);
}

/* The start and length of the first mapping of /proc/self/maps named @name. */
static char *find_mapping(const char *name, size_t *len)
{
	unsigned long lo, hi;
	char line[512], *p = NULL;
	FILE *f = fopen("/proc/self/maps", "r");

	if (!f)
		return NULL;
	while (!p && fgets(line, sizeof(line), f)) {
		if (strstr(line, name) && sscanf(line, "%lx-%lx", &lo, &hi) == 2) {
			p = (char *)lo;
			*len = hi - lo;
		}
	}
	fclose(f);
	return p;
}

/* VM_PFNMAP | VM_IO: the vDSO data pages of x86, in every process. */
TEST_F(api, pfnmap_einval)
{
	size_t len;
	char *v = find_mapping("[vvar]", &len);

	ASSERT_NE(NULL, v) TH_LOG("no [vvar] mapping");
	errno = 0;
	EXPECT_EQ(-1, madvise(v, len, MADV_WATCH));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, mmw_vma_has_flag(0, (unsigned long)v, "wt"));
	MMW_READ_EVENTS(&self->t);
	EXPECT_EQ(0, mmw_count(&self->t, MMW_MARK, 0, 0, ~0UL));
}

/* MADV_WATCH on @p must fail with EINVAL, change nothing, emit no mark. */
static void expect_refused(struct __test_metadata *_metadata,
			   struct mmw_trace *t, void *p, size_t len)
{
	errno = 0;
	EXPECT_EQ(-1, madvise(p, len, MADV_WATCH));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, mmw_vma_has_flag(0, (unsigned long)p, "wt"));
	ASSERT_LE(0, mmw_trace_read(t));
	EXPECT_EQ(0, mmw_count(t, MMW_MARK, 0, 0, ~0UL)) mmw_trace_dump(t, 20);
}

/*
 * Only anonymous memory and private mappings of regular files are
 * allowed: the vDSO is a special mapping with its own vm_ops, and not VM_IO
 * or VM_PFNMAP, so a denylist lets it through.
 */
TEST_F(api, special_mapping_einval)
{
	size_t len;
	char *v = find_mapping("[vdso]", &len);

	if (!v)
		SKIP(return, "no [vdso] mapping");
	expect_refused(_metadata, &self->t, v, len);
}

/*
 * A private mapping of a file that is not regular and not VM_IO: a block
 * device, whose page cache other openers of the device write.
 */
TEST_F(api, blockdev_private_einval)
{
	int fd = open("/dev/zram0", O_RDONLY);
	char *p;

	if (fd < 0)
		fd = open("/dev/loop0", O_RDONLY);
	if (fd < 0)
		SKIP(return, "no block device to map (/dev/zram0, /dev/loop0)");
	p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	close(fd);
	ASSERT_NE(MAP_FAILED, p) TH_LOG("mmap of a block device: %s", strerror(errno));
	expect_refused(_metadata, &self->t, p, ps);
	munmap(p, ps);
}

#ifndef __NR_map_shadow_stack
#define __NR_map_shadow_stack	453
#endif

/* Whether the CPU and the kernel support user shadow stacks (x86). */
static bool have_user_shstk(void)
{
	char line[4096];
	bool found = false;
	FILE *f = fopen("/proc/cpuinfo", "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = !strncmp(line, "flags", 5) && strstr(line, " user_shstk");
	fclose(f);
	return found;
}

/* A shadow stack stays writable to the CPU under change_protection(). */
TEST_F(api, shadow_stack_einval)
{
	long p;

	if (!have_user_shstk())
		SKIP(return, "no user shadow stack (CPU or kernel)");
	p = syscall(__NR_map_shadow_stack, 0, ps, 0);
	ASSERT_NE(-1, p) TH_LOG("map_shadow_stack: %s", strerror(errno));
	expect_refused(_metadata, &self->t, (void *)p, ps);
	munmap((void *)p, ps);
}

TEST_F(api, hugetlb_einval)
{
	long long old = mmw_read_num("/proc/sys/vm/nr_hugepages");
	size_t hps = 2UL << 20;
	bool raised = false;
	char *p;

	p = mmap(NULL, hps, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (p == MAP_FAILED && old == 0 &&
	    !mmw_write_num("/proc/sys/vm/nr_hugepages", 1)) {
		raised = true;
		p = mmap(NULL, hps, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	}
	if (p == MAP_FAILED) {
		int fd = memfd_create("mmw-huge", MFD_HUGETLB);

		if (fd >= 0) {
			p = mmap(NULL, hps, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
			close(fd);
		}
	}
	if (p == MAP_FAILED) {
		if (raised)
			mmw_write_num("/proc/sys/vm/nr_hugepages", old);
		SKIP(return, "no hugetlb page can be mapped");
	}
	errno = 0;
	EXPECT_EQ(-1, madvise(p, hps, MADV_WATCH));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, mmw_vma_has_flag(0, (unsigned long)p, "wt"));
	munmap(p, hps);
	if (raised)
		mmw_write_num("/proc/sys/vm/nr_hugepages", old);
	MMW_READ_EVENTS(&self->t);
	EXPECT_EQ(0, mmw_count(&self->t, MMW_MARK, 0, 0, ~0UL));
}

/* An invalid VMA anywhere in the range: EINVAL and nothing changed. */
TEST_F(api, atomic_validation)
{
	char *p = map_anon(6 * ps), *s;
	int ret;

	ASSERT_NE(MAP_FAILED, p);
	/* private | shared | private */
	s = mmap(p + 2 * ps, 2 * ps, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	ASSERT_EQ(p + 2 * ps, s);
	memset(p, 1, 6 * ps);

	errno = 0;
	EXPECT_EQ(-1, madvise(p, 6 * ps, MADV_WATCH));
	EXPECT_EQ(EINVAL, errno);
	errno = 0;
	EXPECT_EQ(-1, madvise(p + 2 * ps, 4 * ps, MADV_WATCH));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, mmw_vma_has_flag(0, (unsigned long)p, "wt"));
	EXPECT_EQ(0, mmw_vma_has_flag(0, (unsigned long)p + 5 * ps, "wt"));

	/* A watched range next to the shared one: a failed re-arm changes nothing. */
	ASSERT_EQ(0, madvise(p, 2 * ps, MADV_WATCH));
	errno = 0;
	EXPECT_EQ(-1, madvise(p, 4 * ps, MADV_WATCH));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(1, mmw_vma_has_flag(0, (unsigned long)p + ps, "wt"));

	MMW_READ_EVENTS(&self->t);
	EXPECT_EQ(1, mmw_count(&self->t, MMW_MARK, 0, 0, ~0UL)) mmw_trace_dump(&self->t, 20);
	EXPECT_EQ(0, mmw_count(&self->t, MMW_UNMARK, 0, 0, ~0UL));

	/* MADV_UNWATCH across it: if it fails, it must not have unwatched anything. */
	ret = madvise(p, 4 * ps, MADV_UNWATCH);
	EXPECT_EQ(ret ? 1 : 0, mmw_vma_has_flag(0, (unsigned long)p + ps, "wt"));
	munmap(p, 6 * ps);
}

TEST_F(api, holes_enomem)
{
	char *p = map_anon(3 * ps);

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, munmap(p + ps, ps));
	errno = 0;
	EXPECT_EQ(-1, madvise(p, 3 * ps, MADV_WATCH));
	EXPECT_EQ(ENOMEM, errno);
	EXPECT_EQ(1, mmw_vma_has_flag(0, (unsigned long)p, "wt"));
	EXPECT_EQ(1, mmw_vma_has_flag(0, (unsigned long)p + 2 * ps, "wt"));
	MMW_READ_EVENTS(&self->t);
	EXPECT_EQ(1, mmw_count(&self->t, MMW_MARK, 0, (unsigned long)p, (unsigned long)p + ps));
	EXPECT_EQ(1, mmw_count(&self->t, MMW_MARK, 0, (unsigned long)p + 2 * ps,
			       (unsigned long)p + 3 * ps));
	munmap(p, ps);
	munmap(p + 2 * ps, ps);
}

/* A written page is reported once per epoch; re-arming starts a new epoch. */
TEST_F(api, rearm_epochs)
{
	size_t i, first_mark2 = 0, nr_mark = 0;
	char *p = map_anon(4 * ps);
	struct iovec iov[2];
	int pidfd;
	__u64 id;

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, madvise(p, 4 * ps, MADV_NOHUGEPAGE));
	memset(p, 1, 4 * ps);
	ASSERT_EQ(0, madvise(p, 4 * ps, MADV_WATCH));
	p[0] = 2;
	p[ps] = 2;
	p[1] = 3;		/* same page, same epoch: no second event */
	ASSERT_EQ(0, madvise(p, 4 * ps, MADV_WATCH));
	p[2] = 4;		/* re-armed: reported again */
	MMW_READ_EVENTS(&self->t);
	id = mmw_mm_id_of(&self->t, getpid());
	ASSERT_NE(0, id);
	EXPECT_EQ(2, mmw_count(&self->t, MMW_WRITE_FAULT, id, (unsigned long)p,
			       (unsigned long)p + ps)) mmw_trace_dump(&self->t, 20);
	EXPECT_EQ(1, mmw_count(&self->t, MMW_WRITE_FAULT, id, (unsigned long)p + ps,
			       (unsigned long)p + 2 * ps));
	EXPECT_EQ(0, mmw_count(&self->t, MMW_WRITE_FAULT, id, (unsigned long)p + 2 * ps,
			       (unsigned long)p + 4 * ps));
	for (i = 0; i < self->t.nr; i++) {
		const struct mmw_event *e = &self->t.ev[i];

		if (e->type == MMW_WRITE_FAULT) {
			EXPECT_EQ(ps, e->end - e->start);
			EXPECT_EQ(getpid(), e->tgid);
		}
		if (e->type == MMW_MARK && ++nr_mark == 2)
			first_mark2 = i;
	}
	/* The second event of page 0 comes after the re-arm. */
	ASSERT_EQ(2, nr_mark);
	for (i = first_mark2; i < self->t.nr; i++)
		if (self->t.ev[i].type == MMW_WRITE_FAULT)
			break;
	ASSERT_LT(i, self->t.nr);
	EXPECT_EQ((unsigned long)p, self->t.ev[i].start);

	/* Re-arm only pages 1 and 3 through process_madvise() on self. */
	ASSERT_EQ(0, mmw_trace_clear(&self->t));
	pidfd = mmw_pidfd_open(getpid());
	ASSERT_LE(0, pidfd);
	iov[0].iov_base = p + ps;
	iov[0].iov_len = ps;
	iov[1].iov_base = p + 3 * ps;
	iov[1].iov_len = ps;
	ASSERT_EQ(2 * ps, mmw_process_madvise(pidfd, iov, 2, MADV_WATCH));
	close(pidfd);
	for (i = 0; i < 4; i++)
		p[i * ps + 8] = 5;
	MMW_READ_EVENTS(&self->t);
	EXPECT_EQ(2, mmw_count(&self->t, MMW_MARK, id, 0, ~0UL));
	EXPECT_EQ(0, mmw_count(&self->t, MMW_WRITE_FAULT, id, (unsigned long)p,
			       (unsigned long)p + ps)) mmw_trace_dump(&self->t, 20);
	EXPECT_EQ(1, mmw_count(&self->t, MMW_WRITE_FAULT, id, (unsigned long)p + ps,
			       (unsigned long)p + 2 * ps));
	EXPECT_EQ(1, mmw_count(&self->t, MMW_WRITE_FAULT, id, (unsigned long)p + 3 * ps,
			       (unsigned long)p + 4 * ps));

	/* Unwatched: no more events. */
	ASSERT_EQ(0, mmw_trace_clear(&self->t));
	ASSERT_EQ(0, madvise(p, 4 * ps, MADV_WATCH));
	ASSERT_EQ(0, madvise(p, 4 * ps, MADV_UNWATCH));
	memset(p, 6, 4 * ps);
	MMW_READ_EVENTS(&self->t);
	EXPECT_EQ(0, mmw_count(&self->t, MMW_WRITE_FAULT, 0, 0, ~0UL));
	munmap(p, 4 * ps);
}

/*
 * One process_madvise() vector that mixes re-arms of watched ranges (one
 * spanning two VMAs), an empty entry, a first MADV_WATCH of an unwatched
 * mapping and a bad entry: every entry before the bad one takes effect,
 * with a mark each, and nothing after it does.
 */
TEST_F(api, rearm_vector)
{
	static const int rearmed[] = { 0, 4, 5, 6, 7, 9 };
	char *p = map_anon(12 * ps), *u = map_anon(2 * ps);
	unsigned char want[12] = { 0 };
	const struct mmw_event *e;
	struct iovec iov[7];
	unsigned long a;
	int pidfd;
	size_t i;
	__u64 id;

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_NE(MAP_FAILED, u);
	ASSERT_EQ(0, madvise(p, 12 * ps, MADV_NOHUGEPAGE));
	/* A second VMA from page 6 on. */
	ASSERT_EQ(0, madvise(p + 6 * ps, 6 * ps, MADV_DONTFORK));
	memset(p, 1, 12 * ps);
	memset(u, 1, 2 * ps);
	ASSERT_EQ(0, madvise(p, 12 * ps, MADV_WATCH));
	memset(p, 2, 12 * ps);		/* every page writable again */
	MMW_READ_EVENTS(&self->t);
	id = mmw_mm_id_of(&self->t, getpid());
	ASSERT_NE(0, id);
	ASSERT_EQ(0, mmw_trace_clear(&self->t));

	iov[0] = (struct iovec){ p, ps };
	iov[1] = (struct iovec){ p + 2 * ps, 0 };
	iov[2] = (struct iovec){ p + 4 * ps, 4 * ps };
	iov[3] = (struct iovec){ u, 2 * ps };
	iov[4] = (struct iovec){ p + 9 * ps, ps - 100 };
	iov[5] = (struct iovec){ p + 11 * ps + 1, ps };	/* EINVAL */
	iov[6] = (struct iovec){ p + 10 * ps, ps };
	pidfd = mmw_pidfd_open(getpid());
	ASSERT_LE(0, pidfd);
	EXPECT_EQ(8 * ps - 100, mmw_process_madvise(pidfd, iov, 7, MADV_WATCH));
	close(pidfd);
	EXPECT_EQ(1, mmw_vma_has_flag(0, (unsigned long)u, "wt"));

	memset(p, 3, 12 * ps);
	memset(u, 3, 2 * ps);
	MMW_READ_EVENTS(&self->t);
	for (i = 0; i < ARRAY_SIZE(rearmed); i++)
		want[rearmed[i]] = 1;
	for (i = 0; i < 12; i++) {
		a = (unsigned long)p + i * ps;
		e = mmw_find(&self->t, MMW_MARK, id, a, a + ps);
		EXPECT_EQ(want[i], !!e) TH_LOG("mark of page %zu", i);
		if (e)
			EXPECT_EQ(1, e->rearm);
		EXPECT_EQ(want[i], mmw_count(&self->t, MMW_WRITE_FAULT, id, a, a + ps))
			TH_LOG("write faults of page %zu", i);
	}
	e = mmw_find(&self->t, MMW_MARK, id, (unsigned long)u, (unsigned long)u + 2 * ps);
	ASSERT_NE(NULL, e);
	EXPECT_EQ(0, e->rearm);
	EXPECT_EQ(2, mmw_count(&self->t, MMW_WRITE_FAULT, id, (unsigned long)u,
			       (unsigned long)u + 2 * ps)) mmw_trace_dump(&self->t, 30);
	munmap(p, 12 * ps);
	munmap(u, 2 * ps);
}

static int exit_zero(void *arg)
{
	return 0;
}

TEST_F(api, process_madvise_dead_target)
{
	char *p = map_anon(ps);
	struct iovec iov;
	int go[2], pidfd;
	pid_t pid;

	ASSERT_NE(MAP_FAILED, p);
	pid = spawn(go, exit_zero, NULL);
	ASSERT_LT(0, pid);
	pidfd = mmw_pidfd_open(pid);
	ASSERT_LE(0, pidfd);
	release(go);
	ASSERT_EQ(0, wait_exit(pid));
	iov.iov_base = p;
	iov.iov_len = ps;
	errno = 0;
	EXPECT_EQ(-1, mmw_process_madvise(pidfd, &iov, 1, MADV_WATCH));
	EXPECT_EQ(ESRCH, errno);
	close(pidfd);
	munmap(p, ps);
}

struct first_watch {
	pthread_barrier_t *go;
	int pidfd;
	struct iovec iov;
	ssize_t ret;
	int err;
};

static void *first_watch_thread(void *arg)
{
	struct first_watch *w = arg;

	pthread_barrier_wait(w->go);
	w->ret = mmw_process_madvise(w->pidfd, &w->iov, 1, MADV_WATCH);
	w->err = errno;
	return NULL;
}

static int write_pages_0_and_2(void *arg)
{
	char *p = arg;

	p[0] = 2;
	p[2 * ps] = 2;
	return 0;
}

/*
 * Two threads watch a range each of a process never watched before, at
 * once, round after round: whichever gives the mm its identity, both
 * wait for the grace period that comes before its first arm (without
 * the mmap lock), and both calls arm their range.
 */
TEST_F(api, first_watch_from_two_threads)
{
	char *p = map_anon(3 * ps), filter[32];
	pthread_barrier_t go_threads;
	struct first_watch w[2];
	int go[2], round, i;
	pthread_t th[2];
	pid_t pid;
	__u64 id;

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, madvise(p, 3 * ps, MADV_NOHUGEPAGE));
	memset(p, 1, 3 * ps);
	for (round = 0; round < 8; round++) {
		ASSERT_EQ(0, mmw_trace_clear(&self->t));
		pid = spawn(go, write_pages_0_and_2, p);
		ASSERT_LT(0, pid);
		snprintf(filter, sizeof(filter), "tgid==%d", pid);
		ASSERT_EQ(0, mmw_trace_set_filter(&self->t, filter));
		ASSERT_EQ(0, pthread_barrier_init(&go_threads, NULL, 2));
		for (i = 0; i < 2; i++) {
			w[i].go = &go_threads;
			w[i].pidfd = mmw_pidfd_open(pid);
			ASSERT_LE(0, w[i].pidfd);
			w[i].iov.iov_base = p + 2 * i * ps;
			w[i].iov.iov_len = ps;
			ASSERT_EQ(0, pthread_create(&th[i], NULL, first_watch_thread, &w[i]));
		}
		for (i = 0; i < 2; i++) {
			pthread_join(th[i], NULL);
			close(w[i].pidfd);
			EXPECT_EQ((ssize_t)ps, w[i].ret)
				TH_LOG("round %d, thread %d: %s", round, i, strerror(w[i].err));
		}
		pthread_barrier_destroy(&go_threads);
		release(go);
		ASSERT_EQ(0, wait_exit(pid));
		MMW_READ_EVENTS(&self->t);
		id = mmw_mm_id_of(&self->t, pid);
		ASSERT_NE(0, id);
		EXPECT_EQ(2, mmw_count(&self->t, MMW_MARK, id, 0, ~0UL));
		EXPECT_EQ(1, mmw_count(&self->t, MMW_WRITE_FAULT, id, (unsigned long)p,
				       (unsigned long)p + ps)) mmw_trace_dump(&self->t, 20);
		EXPECT_EQ(1, mmw_count(&self->t, MMW_WRITE_FAULT, id, (unsigned long)p + 2 * ps,
				       (unsigned long)p + 3 * ps));
	}
	munmap(p, 3 * ps);
}

struct priv_case {
	pid_t target;
	void *addr;
	unsigned long long caps;	/* capabilities kept after setuid */
	bool drop_uid;
	int advice;
};

static int set_caps(unsigned long long caps)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2] = {};

	data[0].effective = (__u32)caps;
	data[0].permitted = (__u32)caps;
	data[1].effective = (__u32)(caps >> 32);
	data[1].permitted = (__u32)(caps >> 32);
	return syscall(SYS_capset, &hdr, data);
}

static int become_nobody(unsigned long long caps)
{
	if (prctl(PR_SET_KEEPCAPS, 1) || setgroups(0, NULL) ||
	    setresgid(NOBODY, NOBODY, NOBODY) || setresuid(NOBODY, NOBODY, NOBODY))
		return -1;
	if (set_caps(caps))
		return -1;
	/* Credential changes make us non-dumpable, which ptrace checks. */
	return prctl(PR_SET_DUMPABLE, 1);
}

/* Returns 0 on success, else the errno of process_madvise(), or 100+ on setup errors. */
static int priv_actor(void *arg)
{
	struct priv_case *c = arg;
	struct iovec iov = { .iov_base = c->addr, .iov_len = ps };
	int pidfd;

	if (c->drop_uid && become_nobody(c->caps))
		return 101;
	pidfd = mmw_pidfd_open(c->target);
	if (pidfd < 0)
		return 102;
	if (mmw_process_madvise(pidfd, &iov, 1, c->advice) != (ssize_t)ps)
		return errno;
	return 0;
}

/* Run @fn(@c) in a child; its exit status, 106 if it could not start. */
static int run_actor(int (*fn)(void *), struct priv_case *c)
{
	int go[2];
	pid_t actor = spawn(go, fn, c);

	if (actor < 0)
		return 106;
	release(go);
	return wait_exit(actor);
}

/* Targets tell the test through @arg (a pipe) when their credentials are set. */
static int target_nobody(void *arg)
{
	int fd = *(int *)arg;

	if (become_nobody(0))
		return 101;
	if (write(fd, "r", 1) != 1)
		return 102;
	pause();
	return 0;
}

static int target_root(void *arg)
{
	int fd = *(int *)arg;

	if (write(fd, "r", 1) != 1)
		return 102;
	pause();
	return 0;
}

FIXTURE(priv) {
	struct mmw_trace t;
};

FIXTURE_VARIANT(priv) {
	unsigned long long caps;
	bool drop_uid;
	bool target_nobody;
	int expected_errno;
	/* what MADV_COLD gives with the same credentials */
	int cold_errno;
};

FIXTURE_VARIANT_ADD(priv, root) {
	.drop_uid = false,
	.expected_errno = 0,
};

FIXTURE_VARIANT_ADD(priv, nobody_no_caps) {
	.drop_uid = true,
	.target_nobody = true,
	.expected_errno = EPERM,
	.cold_errno = EPERM,
};

FIXTURE_VARIANT_ADD(priv, nobody_cap_sys_nice) {
	.drop_uid = true,
	.target_nobody = true,
	.caps = 1ULL << CAP_SYS_NICE,
	.expected_errno = EPERM,
	.cold_errno = 0,
};

FIXTURE_VARIANT_ADD(priv, nobody_cap_checkpoint_restore) {
	.drop_uid = true,
	.target_nobody = true,
	.caps = 1ULL << CAP_CHECKPOINT_RESTORE,
	.expected_errno = 0,
	.cold_errno = EPERM,
};

FIXTURE_VARIANT_ADD(priv, nobody_cap_sys_admin) {
	.drop_uid = true,
	.target_nobody = true,
	.caps = 1ULL << CAP_SYS_ADMIN,
	.expected_errno = 0,
	.cold_errno = EPERM,
};

/*
 * CAP_CHECKPOINT_RESTORE without ptrace rights over the target: the errno
 * of the ptrace check, as for the other advices.
 */
FIXTURE_VARIANT_ADD(priv, nobody_cap_checkpoint_restore_root_target) {
	.drop_uid = true,
	.target_nobody = false,
	.caps = 1ULL << CAP_CHECKPOINT_RESTORE,
	.expected_errno = EACCES,
	.cold_errno = EACCES,
};

FIXTURE_SETUP(priv)
{
	ps = getpagesize();
	MMW_SKIP_WITHOUT_FEATURE(return);
	ASSERT_EQ(0, mmw_trace_init(&self->t, NULL, 1024));
}

FIXTURE_TEARDOWN(priv)
{
	mmw_trace_fini(&self->t);
}

/* Watching another process needs ptrace attach rights plus a capability. */
TEST_F(priv, process_madvise)
{
	int tgo[2], ready[2], ret;
	struct priv_case c = {};
	char filter[64], r;
	__u64 id;

	c.addr = map_anon(ps);
	ASSERT_NE(MAP_FAILED, c.addr);
	ASSERT_EQ(0, pipe(ready));
	c.target = spawn(tgo, variant->target_nobody ? target_nobody : target_root, &ready[1]);
	ASSERT_LT(0, c.target);
	release(tgo);
	close(ready[1]);
	ASSERT_EQ(1, read(ready[0], &r, 1));
	close(ready[0]);
	snprintf(filter, sizeof(filter), "tgid==%d", c.target);
	ASSERT_EQ(0, mmw_trace_set_filter(&self->t, filter));

	c.caps = variant->caps;
	c.drop_uid = variant->drop_uid;
	c.advice = MADV_WATCH;
	ret = run_actor(priv_actor, &c);
	EXPECT_GT(100, ret) TH_LOG("actor setup failed: %d", ret);
	EXPECT_EQ(variant->expected_errno, ret) TH_LOG("process_madvise: %s", strerror(ret));

	/* The same credentials with an advice that needs CAP_SYS_NICE. */
	c.advice = MADV_COLD;
	EXPECT_EQ(variant->cold_errno, run_actor(priv_actor, &c));
	EXPECT_EQ(ret ? 0 : 1, mmw_vma_has_flag(c.target, (unsigned long)c.addr, "wt"));

	if (!ret) {
		/* Also unwatch, with the same credentials. */
		c.advice = MADV_UNWATCH;
		EXPECT_EQ(0, run_actor(priv_actor, &c));
		EXPECT_EQ(0, mmw_vma_has_flag(c.target, (unsigned long)c.addr, "wt"));
	}
	kill(c.target, SIGKILL);
	wait_exit(c.target);

	MMW_READ_EVENTS(&self->t);
	id = mmw_mm_id_of(&self->t, c.target);
	if (ret) {
		EXPECT_EQ(0, self->t.nr) mmw_trace_dump(&self->t, 20);
		return;
	}
	/* Attributed to the target, not to the caller; then the target exits. */
	ASSERT_NE(0, id);
	EXPECT_EQ(1, mmw_count(&self->t, MMW_MARK, id, (unsigned long)c.addr,
			       (unsigned long)c.addr + ps));
	EXPECT_EQ(1, mmw_count(&self->t, MMW_UNMARK, id, (unsigned long)c.addr,
			       (unsigned long)c.addr + ps));
	EXPECT_EQ(1, mmw_count(&self->t, MMW_EXIT, id, 0, ~0UL));
}

/* A target that watches a page of its own and writes it, then is ready. */
struct written_target {
	int ready;
	bool nobody;
	char *addr;
};

static int target_written(void *arg)
{
	struct written_target *w = arg;

	if (w->nobody && become_nobody(0))
		return 101;
	if (madvise(w->addr, ps, MADV_WATCH))
		return 103;
	w->addr[0] += 1;
	if (write(w->ready, "r", 1) != 1)
		return 102;
	pause();
	return 0;
}

/*
 * PAGEMAP_SCAN of the watched page at @addr for @category, with @flags:
 * the number of regions found (0 or 1), or -errno.
 */
static long scan_page(int pagemap, char *addr, __u64 flags, __u64 category)
{
	struct page_region region;
	struct pm_scan_arg arg = {
		.size = sizeof(arg),
		.flags = flags,
		.start = (unsigned long)addr,
		.end = (unsigned long)addr + ps,
		.vec = (unsigned long)&region,
		.vec_len = 1,
		.category_mask = category | PAGE_IS_WATCHED,
		.return_mask = category,
	};
	long n = ioctl(pagemap, PAGEMAP_SCAN, &arg);

	return n < 0 ? -errno : n;
}

/*
 * Returns 0 if the actor re-armed the target's written page through its
 * pagemap, else the errno of open() or PAGEMAP_SCAN, or 100+ on other
 * errors.
 */
static int scan_actor(void *arg)
{
	struct priv_case *c = arg;
	int pagemap;
	long n;

	if (c->drop_uid && become_nobody(c->caps))
		return 101;
	pagemap = mmw_open_pagemap(c->target);
	if (pagemap < 0)
		return errno;
	/* Finding the written page needs no more than opening the file. */
	if (scan_page(pagemap, c->addr, 0, PAGE_IS_WRITTEN) != 1)
		return 104;
	n = scan_page(pagemap, c->addr, PM_SCAN_WP_MATCHING, PAGE_IS_WRITTEN);
	if (n < 0)
		return -n;
	return n == 1 ? 0 : 105;
}

/*
 * Arming another process's page again through its pagemap clears "written
 * since armed": it takes the rights watching it takes, and a refused call
 * leaves the page written.
 */
TEST_F(priv, pagemap_scan_rearm)
{
	struct written_target w = { .nobody = variant->target_nobody };
	int tgo[2], ready[2], pagemap, ret;
	struct priv_case c = {};
	char r;

	w.addr = map_anon(ps);
	ASSERT_NE(MAP_FAILED, w.addr);
	ASSERT_EQ(0, pipe(ready));
	w.ready = ready[1];
	c.target = spawn(tgo, target_written, &w);
	ASSERT_LT(0, c.target);
	release(tgo);
	close(ready[1]);
	ASSERT_EQ(1, read(ready[0], &r, 1));
	close(ready[0]);
	pagemap = mmw_open_pagemap(c.target);
	ASSERT_LE(0, pagemap);
	if (scan_page(pagemap, w.addr, 0, PAGE_IS_WPALLOWED) != 1) {
		kill(c.target, SIGKILL);
		wait_exit(c.target);
		SKIP(return, "PAGEMAP_SCAN does not re-arm watched VMAs (CONFIG_MEM_SOFT_DIRTY)");
	}

	c.addr = w.addr;
	c.caps = variant->caps;
	c.drop_uid = variant->drop_uid;
	ret = run_actor(scan_actor, &c);
	EXPECT_GT(100, ret) TH_LOG("actor failed: %d", ret);
	EXPECT_EQ(variant->expected_errno, ret) TH_LOG("PAGEMAP_SCAN: %s", strerror(ret));
	EXPECT_EQ(ret ? 1 : 0, scan_page(pagemap, w.addr, 0, PAGE_IS_WRITTEN));
	close(pagemap);
	kill(c.target, SIGKILL);
	wait_exit(c.target);
	munmap(w.addr, ps);
}

/*
 * A checkpoint/restore tool in a user namespace (CRIU restoring a
 * container): unprivileged in the initial namespace, it watches the
 * process it created in its own namespace. A process outside it (the
 * test, root) gives the errno the other advices give.
 */
static int userns_actor(void *arg)
{
	struct iovec iov = { .iov_base = arg, .iov_len = ps };
	int pidfd, ret, werr, cerr, sync[2];
	char map[32];
	pid_t child;

	if (become_nobody(0))
		return 101;
	if (unshare(CLONE_NEWUSER))
		return errno == EINVAL || errno == ENOSPC ? 200 : 102;
	snprintf(map, sizeof(map), "0 %d 1", NOBODY);
	if (mmw_write_file("/proc/self/setgroups", "deny") ||
	    mmw_write_file("/proc/self/uid_map", map) ||
	    mmw_write_file("/proc/self/gid_map", map))
		return 103;
	if (pipe(sync))
		return 104;
	child = fork();
	if (!child) {
		close(sync[1]);
		if (read(sync[0], map, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(sync[0]);
	pidfd = mmw_pidfd_open(child);
	if (pidfd < 0)
		return 105;
	ret = mmw_process_madvise(pidfd, &iov, 1, MADV_WATCH) == (ssize_t)ps ? 0 : errno;
	if (!ret && mmw_vma_has_flag(child, (unsigned long)arg, "wt") != 1)
		ret = 106;
	close(sync[1]);
	waitpid(child, NULL, 0);
	close(pidfd);
	if (ret)
		return ret;

	pidfd = mmw_pidfd_open(getppid());
	if (pidfd < 0)
		return 107;
	werr = mmw_process_madvise(pidfd, &iov, 1, MADV_WATCH) < 0 ? errno : 0;
	cerr = mmw_process_madvise(pidfd, &iov, 1, MADV_COLD) < 0 ? errno : 0;
	close(pidfd);
	if (!werr || werr != cerr)
		return 108;
	return 0;
}

TEST_F(api, userns_watch_own_child)
{
	char *p = map_anon(ps);
	int go[2], ret;
	pid_t actor;

	ASSERT_NE(MAP_FAILED, p);
	actor = spawn(go, userns_actor, p);
	ASSERT_LT(0, actor);
	release(go);
	ret = wait_exit(actor);
	if (ret == 200)
		SKIP(return, "no user namespaces");
	EXPECT_EQ(0, ret) TH_LOG("%s", ret < 100 ? strerror(ret) : "setup or check failed");
	munmap(p, ps);
}

static int fork_child_writes(void *arg)
{
	char *p = arg;
	int i;

	/* Not inherited: the child's VMA is not watched... */
	if (mmw_vma_has_flag(0, (unsigned long)p, "wt") != 0)
		return 1;
	/* ...and its writes are nobody's events (pages 4..7). */
	for (i = 4; i < 8; i++)
		p[i * ps] = 0x55;
	return 0;
}

TEST_F(api, fork)
{
	char *p = map_anon(8 * ps), *snap, filter[64];
	int go[2], i;
	pid_t pid;
	__u64 id;

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, madvise(p, 8 * ps, MADV_NOHUGEPAGE));
	memset(p, 1, 8 * ps);
	ASSERT_EQ(0, madvise(p, 8 * ps, MADV_WATCH));
	snap = mmw_snapshot(p, 8 * ps);
	ASSERT_NE(NULL, snap);

	pid = spawn(go, fork_child_writes, p);
	ASSERT_LT(0, pid);
	snprintf(filter, sizeof(filter), "tgid==%d || tgid==%d", getpid(), pid);
	ASSERT_EQ(0, mmw_trace_set_filter(&self->t, filter));
	/* Parent writes pages 0..3 after the fork (COW in the parent). */
	for (i = 0; i < 4; i++)
		p[i * ps] = 0x66;
	release(go);
	EXPECT_EQ(0, wait_exit(pid));
	EXPECT_EQ(1, mmw_vma_has_flag(0, (unsigned long)p, "wt"));

	MMW_READ_EVENTS(&self->t);
	id = mmw_mm_id_of(&self->t, getpid());
	ASSERT_NE(0, id);
	EXPECT_EQ(0, mmw_unreported_changes(&self->t, id, snap, p, 8 * ps, "fork parent"));
	/* The child's writes are not attributed to the parent's mm... */
	EXPECT_EQ(0, mmw_count(&self->t, MMW_WRITE_FAULT, 0, (unsigned long)p + 4 * ps,
			       (unsigned long)p + 8 * ps)) mmw_trace_dump(&self->t, 20);
	/* ...no event names the child, and its exit does not end the parent's mm. */
	for (i = 0; i < (int)self->t.nr; i++)
		EXPECT_NE(pid, self->t.ev[i].tgid);
	EXPECT_EQ(0, mmw_count(&self->t, MMW_EXIT, 0, 0, ~0UL));

	/* The child is gone: the parent reuses pages 4..7 (no copy), still reported. */
	for (i = 4; i < 8; i++)
		p[i * ps] = 0x77;
	MMW_READ_EVENTS(&self->t);
	EXPECT_EQ(0, mmw_unreported_changes(&self->t, id, snap, p, 8 * ps, "fork parent, reuse"));
	for (i = 0; i < 8; i++)
		EXPECT_EQ(1, mmw_count(&self->t, MMW_WRITE_FAULT, id, (unsigned long)p + i * ps,
				       (unsigned long)p + (i + 1) * ps));
	free(snap);
	munmap(p, 8 * ps);
}

static int mark_and_exit(void *arg)
{
	char *p = map_anon(2 * ps);

	if (p == MAP_FAILED || madvise(p, 2 * ps, MADV_WATCH))
		return 1;
	p[0] = 1;
	return 0;
}

TEST_F(api, exit_event)
{
	int go1[2], go2[2];
	pid_t pid1, pid2;
	char filter[64];
	__u64 id1, id2;

	pid1 = spawn(go1, mark_and_exit, NULL);
	ASSERT_LT(0, pid1);
	pid2 = spawn(go2, mark_and_exit, NULL);
	ASSERT_LT(0, pid2);
	snprintf(filter, sizeof(filter), "tgid==%d || tgid==%d", pid1, pid2);
	ASSERT_EQ(0, mmw_trace_set_filter(&self->t, filter));
	release(go1);
	ASSERT_EQ(0, wait_exit(pid1));
	release(go2);
	ASSERT_EQ(0, wait_exit(pid2));

	MMW_READ_EVENTS(&self->t);
	id1 = mmw_mm_id_of(&self->t, pid1);
	id2 = mmw_mm_id_of(&self->t, pid2);
	ASSERT_NE(0, id1) mmw_trace_dump(&self->t, 20);
	ASSERT_NE(0, id2);
	EXPECT_NE(id1, id2);
	EXPECT_EQ(1, mmw_count(&self->t, MMW_WRITE_FAULT, id1, 0, ~0UL));
	EXPECT_EQ(1, mmw_count(&self->t, MMW_EXIT, id1, 0, ~0UL));
	EXPECT_EQ(1, mmw_count(&self->t, MMW_EXIT, id2, 0, ~0UL));
	EXPECT_EQ(MMW_EXIT, self->t.ev[self->t.nr - 1].type);
	EXPECT_EQ(pid2, self->t.ev[self->t.nr - 1].tgid);
}

/* Runs in the exec'ed image when MMW_EXEC_HELPER is set. */
static void __attribute__((constructor)) exec_helper(void)
{
	char *p;

	if (!getenv("MMW_EXEC_HELPER"))
		return;
	ps = getpagesize();
	p = map_anon(ps);
	if (p == MAP_FAILED || madvise(p, ps, MADV_WATCH))
		_exit(1);
	p[0] = 1;
	_exit(0);
}

static int mark_and_exec(void *arg)
{
	static char * const argv[] = { "mmw-exec-helper", NULL };
	static char * const envp[] = { "MMW_EXEC_HELPER=1", NULL };

	if (mark_and_exit(NULL))
		return 1;
	execve("/proc/self/exe", argv, envp);
	return 2;
}

/* exec replaces the mm: the old id ends with an exit event, the new one differs. */
TEST_F(api, exec_new_mm_id)
{
	const struct mmw_event *e, *seq[8];
	int go[2], i, n, marks = 0;
	__u64 id1 = 0, id2 = 0;
	char filter[64];
	pid_t pid;

	pid = spawn(go, mark_and_exec, NULL);
	ASSERT_LT(0, pid);
	snprintf(filter, sizeof(filter), "tgid==%d", pid);
	ASSERT_EQ(0, mmw_trace_set_filter(&self->t, filter));
	release(go);
	ASSERT_EQ(0, wait_exit(pid));

	MMW_READ_EVENTS(&self->t);
	for (i = 0; i < (int)self->t.nr; i++) {
		e = &self->t.ev[i];
		EXPECT_EQ(pid, e->tgid);
		if (e->type != MMW_MARK)
			continue;
		if (marks++ == 0)
			id1 = e->mm_id;
		else
			id2 = e->mm_id;
	}
	ASSERT_EQ(2, marks) mmw_trace_dump(&self->t, 20);
	ASSERT_NE(0, id1);
	ASSERT_NE(0, id2);
	EXPECT_NE(id1, id2);
	EXPECT_LT(id1, id2);
	/* mark1 write1 exit1 mark2 write2 exit2, in this order (unmap events aside) */
	for (i = 0, n = 0; i < (int)self->t.nr && n < 8; i++)
		if (self->t.ev[i].type != MMW_UNMAP)
			seq[n++] = &self->t.ev[i];
	ASSERT_EQ(6, n) mmw_trace_dump(&self->t, 20);
	EXPECT_EQ(MMW_WRITE_FAULT, seq[1]->type);
	EXPECT_EQ(id1, seq[1]->mm_id);
	EXPECT_EQ(MMW_EXIT, seq[2]->type);
	EXPECT_EQ(id1, seq[2]->mm_id);
	EXPECT_EQ(MMW_MARK, seq[3]->type);
	EXPECT_EQ(MMW_WRITE_FAULT, seq[4]->type);
	EXPECT_EQ(id2, seq[4]->mm_id);
	EXPECT_EQ(MMW_EXIT, seq[5]->type);
	EXPECT_EQ(id2, seq[5]->mm_id);
}

TEST_F(api, unmap_events)
{
	char *p = map_anon(16 * ps), *q;
	__u64 id;

	ASSERT_NE(MAP_FAILED, p);
	memset(p, 1, 16 * ps);
	ASSERT_EQ(0, madvise(p, 16 * ps, MADV_WATCH));
	/* munmap of a part */
	ASSERT_EQ(0, munmap(p + 2 * ps, 2 * ps));
	/* MAP_FIXED over a part */
	q = mmap(p + 6 * ps, 2 * ps, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	ASSERT_EQ(p + 6 * ps, q);
	EXPECT_EQ(0, mmw_vma_has_flag(0, (unsigned long)q, "wt"));
	/* mremap shrink */
	q = mremap(p + 8 * ps, 8 * ps, 6 * ps, 0);
	ASSERT_EQ(p + 8 * ps, q);
	/* munmap across a watched and an unwatched VMA */
	ASSERT_EQ(0, munmap(p + 4 * ps, 4 * ps));
	/* munmap of everything that is left */
	ASSERT_EQ(0, munmap(p, 14 * ps));

	MMW_READ_EVENTS(&self->t);
	id = mmw_mm_id_of(&self->t, getpid());
	ASSERT_NE(0, id);
#define UNMAPPED(a, b) mmw_count(&self->t, MMW_UNMAP, id, (unsigned long)p + (a) * ps, \
				 (unsigned long)p + (b) * ps)
	EXPECT_EQ(1, UNMAPPED(2, 4)) mmw_trace_dump(&self->t, 30);
	EXPECT_EQ(1, UNMAPPED(6, 8));
	EXPECT_EQ(1, UNMAPPED(14, 16));
	EXPECT_EQ(1, UNMAPPED(4, 6));
	EXPECT_EQ(1, UNMAPPED(0, 2));
	EXPECT_EQ(1, UNMAPPED(8, 14));
#undef UNMAPPED
	/* Only watched ranges: 6..8 was unmapped once, with MAP_FIXED. */
	EXPECT_EQ(6, mmw_count(&self->t, MMW_UNMAP, id, 0, ~0UL));
	EXPECT_EQ(0, mmw_count(&self->t, MMW_EXIT, 0, 0, ~0UL));
}

TEST_HARNESS_MAIN
