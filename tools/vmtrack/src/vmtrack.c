// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmtrack: per-page write tracking of a process through the mm_watch trace
 * events (MADV_WATCH). See Documentation/tools/vmtrack/vmtrack.rst.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmtrack-cmd.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

struct command {
	const char	*name;
	int		(*fn)(int argc, char **argv);
	const char	*help;
};

static int cmd_help(int argc, char **argv);

static const struct command commands[] = {
	{ "watch",	cmd_watch,	"watch a running process" },
	{ "run",	cmd_run,	"start a command watched from its first instruction" },
	{ "dump",	cmd_dump,	"copy a process's memory into CRIU images while it runs" },
	{ "report",	cmd_report,	"decode the journal of watch, run or dump (report FILE)" },
	{ "help",	cmd_help,	"print this menu" },
};

static const char * const msg[] = {
	"",
	"  usage: vmtrack COMMAND [OPTIONS]",
	"",
	"  Report the pages a process writes, epoch by epoch, from the mm_watch",
	"  trace events (MADV_WATCH). Lost events are detected and make the epoch",
	"  report every watched page dirty.",
	"",
	"  commands:",
	NULL,
};

static void usage(FILE *f)
{
	size_t i;

	vmtrack_print_lines(f, msg);
	for (i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "	%-8s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\n  'vmtrack COMMAND --help' describes the options of a command.\n");
}

static int cmd_help(int argc, char **argv)
{
	usage(stdout);
	return EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		fprintf(stderr, "vmtrack: missing command (see 'vmtrack help')\n");
		return EXIT_FAILURE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
		return cmd_help(argc - 1, argv + 1);
	if (!strcmp(argv[1], "-v") || !strcmp(argv[1], "--version")) {
		printf("vmtrack %s\n", VMTRACK_VERSION);
		return EXIT_SUCCESS;
	}
	for (i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "vmtrack: unknown command '%s' (see 'vmtrack help')\n", argv[1]);
	return EXIT_FAILURE;
}
