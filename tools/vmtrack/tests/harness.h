/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The host unit tests' harness (tests/unit.c, tests/dump-unit.c): CHECK()
 * and CHECK_EQ() fail the running test and go on, run_test() prints its TAP
 * line, test_summary() the last line "N passed, N failed" and the exit
 * status.
 */
#ifndef _VMTRACK_TESTS_HARNESS_H
#define _VMTRACK_TESTS_HARNESS_H

#include <stdio.h>
#include <stdlib.h>

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#endif

static int passed, failed, skipped, test_failed;
static const char *test_skipped;

#define CHECK(cond) do {							\
	if (!(cond)) {								\
		printf("#   %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		test_failed = 1;						\
	}									\
} while (0)

#define CHECK_EQ(a, b) do {							\
	unsigned long long __a = (unsigned long long)(a);			\
	unsigned long long __b = (unsigned long long)(b);			\
	if (__a != __b) {							\
		printf("#   %s:%d: %s == %llu (%#llx), expected %s == %llu (%#llx)\n", \
		       __FILE__, __LINE__, #a, __a, __a, #b, __b, __b);	\
		test_failed = 1;						\
	}									\
} while (0)

/* in a test: it cannot run here (@why, a literal), and checked nothing */
#define SKIP_TEST(why) do {							\
	test_skipped = (why);							\
	return;									\
} while (0)

static void run_test(const char *name, void (*fn)(void))
{
	test_failed = 0;
	test_skipped = NULL;
	fn();
	if (test_failed)
		failed++;
	else if (test_skipped)
		skipped++;
	else
		passed++;
	printf("%s %d - %s", test_failed ? "not ok" : "ok", passed + failed + skipped, name);
	if (test_skipped && !test_failed)
		printf(" # SKIP %s", test_skipped);
	printf("\n");
	fflush(stdout);
}

static int test_summary(void)
{
	if (skipped)
		printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	else
		printf("%d passed, %d failed\n", passed, failed);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif /* _VMTRACK_TESTS_HARNESS_H */
