// SPDX-License-Identifier: GPL-2.0
/*
 * A device that mirrors the address space through HMM (the test_hmm
 * driver, CONFIG_TEST_HMM): writes through the mirror, and migration to
 * device private memory and back. A device write faults through
 * hmm_range_fault() like a GUP write; migrate_vma_insert_page() fills a
 * never-populated watched page without any fault and must report it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "../kselftest_harness.h"
#include "watch_util.h"
#include <lib/test_hmm_uapi.h>

#define NPAGES	32

static size_t ps;

FIXTURE(hmm) {
	struct mmw_trace t;
	__u64 id;
	int dev;
	char *p;
	char *buf;
};

FIXTURE_SETUP(hmm)
{
	ps = getpagesize();
	self->dev = -1;
	self->p = MAP_FAILED;
	self->buf = NULL;
	MMW_SKIP_WITHOUT_FEATURE(return);
	self->dev = open("/dev/hmm_dmirror0", O_RDWR | O_CLOEXEC);
	if (self->dev < 0 && errno == ENOENT)
		SKIP(return, "no HMM test device (CONFIG_TEST_HMM)");
	ASSERT_LE(0, self->dev) TH_LOG("open /dev/hmm_dmirror0: %s", strerror(errno));
	ASSERT_EQ(0, mmw_trace_init(&self->t, NULL, 1024));
	self->p = mmap(NULL, NPAGES * ps, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->p);
	ASSERT_EQ(0, madvise(self->p, NPAGES * ps, MADV_NOHUGEPAGE));
	self->buf = malloc(NPAGES * ps);
	ASSERT_NE(NULL, self->buf);
}

FIXTURE_TEARDOWN(hmm)
{
	free(self->buf);
	if (self->p != MAP_FAILED)
		munmap(self->p, NPAGES * ps);
	if (self->dev >= 0) {
		close(self->dev);
		mmw_trace_fini(&self->t);
	}
}

/* One command of the HMM test device over @npages pages at @addr. */
static int dmirror(int dev, unsigned long request, void *addr, void *buf,
		   size_t npages, __u64 *cpages)
{
	struct hmm_dmirror_cmd cmd = {
		.addr = (__u64)(unsigned long)addr,
		.ptr = (__u64)(unsigned long)buf,
		.npages = npages,
	};
	int ret;

	do {
		ret = ioctl(dev, request, &cmd);
	} while (ret && errno == EINTR);
	if (cpages)
		*cpages = cmd.cpages;
	return ret;
}

/* Write-fault events of this mm for page @i of the test range. */
static size_t write_faults_on_page(struct _test_data_hmm *self, size_t i)
{
	return MMW_WRITE_FAULTS(mmw_pg(self->p, i), mmw_pg(self->p, i + 1));
}

/* Watch the range and learn this mm's id; start from an empty buffer. */
static void arm(struct __test_metadata *_metadata, struct _test_data_hmm *self)
{
	ASSERT_EQ(0, madvise(self->p, NPAGES * ps, MADV_WATCH));
	MMW_READ_OWN_EVENTS();
	ASSERT_EQ(0, mmw_trace_clear(&self->t));
}

/* The device writes through its mirror: each page faults for write. */
TEST_F(hmm, device_write_reported)
{
	const size_t first = 8, n = 16;
	__u64 cpages = 0;
	void *snap;
	size_t i;

	memset(self->p, 0x5a, NPAGES * ps);
	arm(_metadata, self);
	snap = mmw_snapshot(self->p, NPAGES * ps);
	ASSERT_NE(NULL, snap);
	memset(self->buf, 0xd1, n * ps);
	ASSERT_EQ(0, dmirror(self->dev, HMM_DMIRROR_WRITE, self->p + first * ps,
			     self->buf, n, &cpages)) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(n, cpages);
	MMW_READ_OWN_EVENTS();
	for (i = 0; i < NPAGES; i++) {
		bool written = i >= first && i < first + n;

		EXPECT_EQ((size_t)written, write_faults_on_page(self, i))
			TH_LOG("page %zu", i);
	}
	MMW_EXPECT_ALL_REPORTED(snap, self->p, NPAGES * ps, "device write");
	free(snap);
}

/*
 * Never-populated pages migrated to the device are filled without a fault:
 * migrate_vma_insert_page() reports each. Re-armed, the device private
 * entries come back read-only, and the next CPU write faults.
 */
TEST_F(hmm, migrate_missing_reported)
{
	__u64 cpages = 0;
	size_t i;

	arm(_metadata, self);
	ASSERT_EQ(0, dmirror(self->dev, HMM_DMIRROR_MIGRATE_TO_DEV, self->p,
			     self->buf, NPAGES, &cpages)) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(NPAGES, cpages);
	MMW_READ_OWN_EVENTS();
	for (i = 0; i < NPAGES; i++)
		EXPECT_EQ(1, write_faults_on_page(self, i))
			TH_LOG("page %zu", i);

	/* Re-arm while the pages are in device memory. */
	arm(_metadata, self);
	mmw_read_pages(self->p, NPAGES);	/* back to system memory */
	for (i = 0; i < NPAGES * ps; i++)
		ASSERT_EQ(0, self->p[i]) TH_LOG("byte %zu", i);
	MMW_READ_OWN_EVENTS();
	EXPECT_EQ(0, MMW_WRITE_FAULTS(0, ~0UL)) mmw_trace_dump(&self->t, 20);
	for (i = 0; i < NPAGES; i += 2)
		self->p[i * ps] = 1;
	MMW_READ_OWN_EVENTS();
	for (i = 0; i < NPAGES; i++)
		EXPECT_EQ((size_t)!(i % 2), write_faults_on_page(self, i))
			TH_LOG("page %zu", i);
}

/*
 * A page the device fills reads as written since armed to a sweep, as it
 * is reported. Made read-only by mprotect() or fork(), its device private
 * entry keeps that; an arm clears it.
 */
TEST_F(hmm, migrate_keeps_written)
{
	const unsigned long all = ~0UL >> (64 - NPAGES);
	__u64 cpages = 0;
	int pagemap;
	pid_t child;

	pagemap = mmw_open_pagemap(0);
	ASSERT_LE(0, pagemap);
	arm(_metadata, self);
	/* Page 0 is written by the CPU, where the kernel keeps the bit at all. */
	self->p[0] = 1;
	if (!mmw_soft_dirty(pagemap, self->p, NPAGES)) {
		close(pagemap);
		SKIP(return, "no soft-dirty bit (CONFIG_MEM_SOFT_DIRTY)");
	}
	ASSERT_EQ(0, dmirror(self->dev, HMM_DMIRROR_MIGRATE_TO_DEV, self->p + ps,
			     self->buf, NPAGES - 1, &cpages)) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(NPAGES - 1, cpages);
	EXPECT_EQ(all, mmw_soft_dirty(pagemap, self->p, NPAGES));

	/* The upper half made read-only by mprotect(), the lower by fork(). */
	ASSERT_EQ(0, mprotect(self->p + NPAGES / 2 * ps, NPAGES / 2 * ps, PROT_READ));
	EXPECT_EQ(all, mmw_soft_dirty(pagemap, self->p, NPAGES));
	child = fork();
	ASSERT_LE(0, child);
	if (!child)
		_exit(0);
	ASSERT_EQ(child, waitpid(child, NULL, 0));
	EXPECT_EQ(all, mmw_soft_dirty(pagemap, self->p, NPAGES));

	ASSERT_EQ(0, mprotect(self->p + NPAGES / 2 * ps, NPAGES / 2 * ps,
			      PROT_READ | PROT_WRITE));
	arm(_metadata, self);
	EXPECT_EQ(0UL, mmw_soft_dirty(pagemap, self->p, NPAGES));
	close(pagemap);
}

/*
 * Watched pages migrated to the device and back keep their contents and
 * stay write-protected: no event for the round trip, one per page written
 * after it.
 */
TEST_F(hmm, migrate_round_trip)
{
	__u64 cpages = 0;
	void *snap;
	size_t i;

	for (i = 0; i < NPAGES; i++)
		memset(self->p + i * ps, (int)i + 1, ps);
	arm(_metadata, self);
	snap = mmw_snapshot(self->p, NPAGES * ps);
	ASSERT_NE(NULL, snap);
	ASSERT_EQ(0, dmirror(self->dev, HMM_DMIRROR_MIGRATE_TO_DEV, self->p,
			     self->buf, NPAGES, &cpages)) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(NPAGES, cpages);
	ASSERT_EQ(0, dmirror(self->dev, HMM_DMIRROR_MIGRATE_TO_SYS, self->p,
			     self->buf, NPAGES, &cpages)) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(0, memcmp(snap, self->p, NPAGES * ps));
	MMW_READ_OWN_EVENTS();
	EXPECT_EQ(0, MMW_WRITE_FAULTS(0, ~0UL)) mmw_trace_dump(&self->t, 20);
	for (i = 1; i < NPAGES; i += 3)
		self->p[i * ps + 7] = 0x77;
	MMW_READ_OWN_EVENTS();
	for (i = 0; i < NPAGES; i++) {
		bool written = i % 3 == 1;

		EXPECT_EQ((size_t)written, write_faults_on_page(self, i))
			TH_LOG("page %zu", i);
	}
	MMW_EXPECT_ALL_REPORTED(snap, self->p, NPAGES * ps, "after the round trip");
	free(snap);
}

TEST_HARNESS_MAIN
