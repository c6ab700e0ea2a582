/* SPDX-License-Identifier: MIT */
/* main.c - the uhmm command-line program: dispatch, --help, --version.
 *
 * Commands live in their own files (demo.c, script*.c, bench.c); this file
 * only picks one. See doc/uhmm.1.
 */
#include <stdio.h>
#include <string.h>
#include <uhmm/uhmm.h>

#include "cli.h"

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	void (*help)(void);
	const char *summary;
} commands[] = {
	{ "demo", cmd_demo, help_demo, "migrate a range to a device with and without the owner filter" },
	{ "run", cmd_run, help_run, "run a scenario script (mm calls, dmirror commands, assertions)" },
	{ "bench", cmd_bench, help_bench, "run the benchmark programs; tables, CSV and plots" },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: uhmm [--help] [--version] COMMAND [ARGS...]\n"
		   "\n"
		   "uhmm drives libuhmm, a userspace reimplementation of Linux's HMM (mmu notifiers,\n"
		   "migrate_vma, hmm_range_fault, device memory and the dmirror test driver).\n"
		   "\n"
		   "Commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-7s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "  help    help on a command: uhmm help COMMAND\n"
		   "\n"
		   "'uhmm COMMAND --help' lists a command's options; 'man uhmm' describes the script\n"
		   "language. Exit status: 0 success, 1 failure, 2 usage error.\n");
}

static const struct command *find(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	const struct command *c;
	static char prog[32];

	if (argc < 2) {
		usage(stderr);
		return CLI_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return CLI_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("uhmm %s\n", UHMM_VERSION_STRING);
		return CLI_OK;
	}
	if (!strcmp(argv[1], "help")) {
		if (argc < 3) {
			usage(stdout);
			return CLI_OK;
		}
		c = find(argv[2]);
		if (!c)
			return cli_usage("help: unknown command '%s' (commands: demo, run, bench)", argv[2]);
		c->help();
		return CLI_OK;
	}
	if (argv[1][0] == '-')
		return cli_usage("unknown option '%s' (try 'uhmm --help')", argv[1]);
	c = find(argv[1]);
	if (!c)
		return cli_usage("unknown command '%s' (commands: demo, run, bench; try 'uhmm --help')", argv[1]);
	snprintf(prog, sizeof(prog), "uhmm %s", c->name);
	cli_prog = prog;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			c->help();
			return CLI_OK;
		}
	}
	return c->run(argc - 1, argv + 1);
}
