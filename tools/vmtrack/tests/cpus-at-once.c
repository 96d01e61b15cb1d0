// SPDX-License-Identifier: GPL-2.0-only
/*
 * Do two CPUs of this machine run at once, or take turns?
 *
 * Two threads, pinned to CPUs 0 and 1, add 1 to one counter N times each
 * with a plain (not locked) add. A CPU executes an instruction whole before
 * another takes its turn (qemu's TCG with one thread for every vCPU), so no
 * add is lost; CPUs that run at once interleave the read and the write of
 * their adds, and some are lost.
 *
 *   cpus-at-once [-n N]
 *
 * Prints the counts; exits 0 if adds were lost (the CPUs ran at once), 1 if
 * none was, 2 on an error (fewer than two CPUs included).
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned long adds = 20000000;
static unsigned int counter;
static int ready;

static void add_one(void)
{
#if defined(__x86_64__) || defined(__i386__)
	/* one read-modify-write instruction, not locked */
	asm volatile("addl $1, %0" : "+m" (counter));
#else
	/* a load and a store: turns can lose adds too, if rarely */
	*(volatile unsigned int *)&counter += 1;
#endif
}

static void *adder(void *arg)
{
	long cpu = (long)arg;
	unsigned long i;
	cpu_set_t set;
	long err = 0;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		err = errno;
	/* start together: the first to arrive waits for the other */
	__atomic_add_fetch(&ready, 1, __ATOMIC_SEQ_CST);
	if (err)
		return (void *)err;
	while (__atomic_load_n(&ready, __ATOMIC_SEQ_CST) < 2)
		;
	for (i = 0; i < adds; i++)
		add_one();
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "adds", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 }
	};
	pthread_t thread[2];
	void *res[2];
	unsigned long lost;
	char *end;
	long cpu;
	int opt;

	while ((opt = getopt_long(argc, argv, "n:", longopts, NULL)) != -1) {
		if (opt != 'n') {
			fprintf(stderr, "usage: cpus-at-once [-n ADDS]\n");
			return 2;
		}
		errno = 0;
		adds = strtoul(optarg, &end, 0);
		if (errno || *end || !adds || adds > 1UL << 30) {
			fprintf(stderr, "cpus-at-once: invalid number of adds '%s'\n", optarg);
			return 2;
		}
	}
	for (cpu = 0; cpu < 2; cpu++) {
		errno = pthread_create(&thread[cpu], NULL, adder, (void *)cpu);
		if (errno) {
			perror("cpus-at-once: pthread_create");
			return 2;
		}
	}
	for (cpu = 0; cpu < 2; cpu++)
		pthread_join(thread[cpu], &res[cpu]);
	for (cpu = 0; cpu < 2; cpu++) {
		if (res[cpu]) {
			fprintf(stderr, "cpus-at-once: cannot run on CPU %ld: %s\n", cpu,
				strerror((int)(long)res[cpu]));
			return 2;
		}
	}
	lost = 2 * adds - counter;
	printf("2 threads on CPUs 0 and 1, %lu adds each: counter %u, %lu adds lost\n",
	       adds, counter, lost);
	return lost ? 0 : 1;
}
