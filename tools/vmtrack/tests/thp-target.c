// SPDX-License-Identifier: GPL-2.0-only
/*
 * A target for the collapse case of the vmtrack dump test, and the collapse.
 *
 *   thp-target [-m MIB]		the target
 *   thp-target -c PID ADDR		collapse PID's huge page at ADDR
 *
 * The target writes 73 pages of a 2 MiB-aligned anonymous range, prints
 * "ready ADDR" and rewrites MIB MiB (default 128) of another mapping without
 * pause, so that a dump's frozen iteration has much to copy. -c is what
 * khugepaged does to a range of any process, frozen or not:
 * process_madvise(MADV_COLLAPSE), which fills the empty entries with zeroes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE	25
#endif
#define HUGE		(2UL << 20)
#define PG		4096UL
#define WRITTEN		73

/*
 * A collapse fails for a while (-EAGAIN) when a page of the range has a
 * reference more or is not on the LRU yet: tried again for up to a second,
 * as khugepaged would try later. Anything else is an answer.
 */
static int collapse(pid_t pid, uintptr_t addr)
{
	struct iovec iov = { (void *)addr, HUGE };
	int pidfd = syscall(SYS_pidfd_open, pid, 0);
	int tries = 100;

	if (pidfd < 0) {
		printf("pidfd_open: %s\n", strerror(errno));
		return 1;
	}
	while (syscall(SYS_process_madvise, pidfd, &iov, 1, MADV_COLLAPSE, 0) < 0) {
		if (errno != EAGAIN || !--tries) {
			printf("MADV_COLLAPSE: %s\n", strerror(errno));
			return 1;
		}
		usleep(10000);
	}
	printf("collapsed\n");
	return 0;
}

static void *map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	return p;
}

int main(int argc, char **argv)
{
	size_t len = 128UL << 20;
	unsigned char *busy, *range;
	unsigned int i, round = 0;
	int c;

	while ((c = getopt(argc, argv, "m:c:")) != -1) {
		switch (c) {
		case 'm':
			len = strtoul(optarg, NULL, 0) << 20;
			break;
		case 'c':
			if (optind >= argc)
				return 2;
			return collapse(atoi(optarg), strtoul(argv[optind], NULL, 0));
		default:
			return 2;
		}
	}
	busy = map(len);
	memset(busy, 1, len);
	/*
	 * PTE-mapped whatever the THP mode: the range's last page is unmapped
	 * while the others fault in, so no fault can map a huge page there.
	 */
	range = map(2 * HUGE);
	range = (unsigned char *)(((uintptr_t)range + HUGE - 1) & ~(HUGE - 1));
	munmap(range + HUGE - PG, PG);
	for (i = 0; i < WRITTEN; i++)
		range[i * 7 * PG] = i + 1;
	if (mmap(range + HUGE - PG, PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	printf("ready %p\n", (void *)range);
	fflush(stdout);
	for (;;)
		memset(busy, ++round, len);
}
