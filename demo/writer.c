// SPDX-License-Identifier: GPL-2.0
/*
 * The demo's workload: watch 16 pages, write some of them, re-arm, write
 * again, discard one. Each step is printed so that the mm_watch events can
 * be matched with what caused them.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_WATCH
#define MADV_WATCH	26
#define MADV_UNWATCH	27
#endif

#define NR_PAGES 16

static void write_page(char *base, long psz, int i)
{
	printf("  write page %2d at %p\n", i, (void *)(base + i * psz));
	base[i * psz] = 1;
}

int main(void)
{
	long psz = sysconf(_SC_PAGESIZE);
	char *buf;

	setvbuf(stdout, NULL, _IONBF, 0);
	buf = mmap(NULL, NR_PAGES * psz, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (buf == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	printf("pid %d: MADV_WATCH %d pages at %p\n", getpid(), NR_PAGES, (void *)buf);
	if (madvise(buf, NR_PAGES * psz, MADV_WATCH)) {
		fprintf(stderr, "madvise(MADV_WATCH): %s%s\n", strerror(errno),
			errno == EINVAL ? " (kernel without MADV_WATCH?)" : "");
		return 1;
	}
	puts("epoch 1:");
	write_page(buf, psz, 1);
	write_page(buf, psz, 3);
	write_page(buf, psz, 3);	/* same page again: no second event */
	write_page(buf, psz, 5);
	write_page(buf, psz, 10);
	puts("re-arm pages 0-7 (MADV_WATCH again)");
	madvise(buf, 8 * psz, MADV_WATCH);
	puts("epoch 2:");
	write_page(buf, psz, 3);
	write_page(buf, psz, 5);
	write_page(buf, psz, 9);	/* first write since the mark: reported */
	write_page(buf, psz, 10);	/* written in epoch 1, not re-armed: silent */
	printf("  MADV_DONTNEED page 7\n");
	madvise(buf + 7 * psz, psz, MADV_DONTNEED);
	munmap(buf, NR_PAGES * psz);
	return 0;
}
