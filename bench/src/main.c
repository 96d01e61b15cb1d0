// SPDX-License-Identifier: GPL-2.0
/*
 * vmbench: benchmarks of vmtrack against soft-dirty, userfaultfd
 * write-protect and UFFD_FEATURE_WP_ASYNC + PAGEMAP_SCAN. See bench/README.md.
 */
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench.h"

static const struct mech_ops *probe_list[] = {
	&mech_softdirty, &mech_uffd_sync, &mech_uffd_async, &mech_vmtrack,
};

/* the environment of a run: kernel, CPUs, memory, which mechanisms work */
int cmd_probe(int argc, char **argv)
{
	struct utsname u;
	struct jout j;
	char why[256];
	size_t i;
	int ret;

	uname(&u);
	jout_begin(&j, "env");
	jout_str(&j, "kernel_release", u.release);
	jout_str(&j, "kernel_version", u.version);
	jout_str(&j, "label", argc > 1 ? argv[1] : "");
	jout_u64(&j, "cpus", sysconf(_SC_NPROCESSORS_ONLN));
	jout_u64(&j, "mem_mib", (uint64_t)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE) / MIB);
	jout_u64(&j, "page_size", sysconf(_SC_PAGESIZE));
	jout_end(&j);
	for (i = 0; i < ARRAY_SIZE(probe_list); i++) {
		why[0] = '\0';
		ret = probe_list[i]->probe(why, sizeof(why));
		jout_begin(&j, "probe");
		jout_str(&j, "label", argc > 1 ? argv[1] : "");
		jout_str(&j, "mech", probe_list[i]->name);
		jout_str(&j, "desc", probe_list[i]->desc);
		jout_u64(&j, "available", !ret);
		jout_str(&j, "why", why);
		jout_end(&j);
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: vmbench COMMAND [options]   (COMMAND --help for its options)\n"
		"  probe [LABEL]  environment and available mechanisms\n"
		"  list           mechanisms\n"
		"  epoch          epoch cost against dirty count and mapped size\n"
		"  wcost          cost of the first write to a tracked page; unwatched writes\n"
		"  loss           event loss against fault rate and buffer size\n"
		"  recovery       cost of recovering an overflowed epoch\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage();
		return 2;
	}
	/* getopt_long of the subcommand starts at its own argv[0] */
	if (!strcmp(argv[1], "probe"))
		return cmd_probe(argc - 1, argv + 1);
	if (!strcmp(argv[1], "list")) {
		mech_list();
		return 0;
	}
	if (!strcmp(argv[1], "epoch"))
		return cmd_epoch(argc - 1, argv + 1);
	if (!strcmp(argv[1], "wcost"))
		return cmd_wcost(argc - 1, argv + 1);
	if (!strcmp(argv[1], "loss"))
		return cmd_loss(argc - 1, argv + 1);
	if (!strcmp(argv[1], "recovery"))
		return cmd_recovery(argc - 1, argv + 1);
	usage();
	return 2;
}
