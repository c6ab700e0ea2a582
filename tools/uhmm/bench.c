/* SPDX-License-Identifier: MIT */
/* bench.c - `uhmm bench`: run the benchmark programs, collect their CSV, plot.
 *
 * The programs (bench_fault, bench_notifier, ..., built next to the CLI in
 * <build>/bench/) each print their own table and append rows
 * bench,subject,param,value,baseline,ratio to --csv FILE. This command runs
 * them one after the other (never in parallel: they time themselves), adds
 * one in-process measurement of the trace hooks, and hands the CSV to
 * gnuplot (plot.c) for the owner-filter and migration figures.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uhmm/uhmm.h>

#include "cli.h"

#define MAX_BENCHES 32

void help_bench(void)
{
	printf("usage: uhmm bench [--quick] [--strict] [--csv FILE] [--plot FILE.png] [--trace FILE] [NAME...]\n"
	       "\n"
	       "Run the benchmark programs (bench_fault, bench_notifier, bench_pagewalk,\n"
	       "bench_range_fault, bench_migrate, bench_owner_filter, ...; or only the NAMEs given,\n"
	       "e.g. 'uhmm bench owner_filter migrate') one after the other and print their tables.\n"
	       "Each compares a subject with a baseline measured in the same run and prints the ratio.\n"
	       "Then measure the trace hooks in this process: CPU write faults with no tracer vs a\n"
	       "no-op tracer.\n"
	       "\n"
	       "  --quick          small sizes: the whole run stays under 30 seconds\n"
	       "  --strict         exit 1 if a row with a goal misses it (default: the tables say\n"
	       "                   MISS and the exit status stays 0, since timings are noisy)\n"
	       "  --csv FILE       write every row (bench,subject,param,value,baseline,ratio) to FILE\n"
	       "  --plot FILE.png  draw the owner-filter and migration figures with gnuplot (the CSV is\n"
	       "                   written too, to FILE.csv unless --csv says where)\n"
	       "  --trace FILE     trace the in-process hook measurement as Chrome trace-event JSON\n"
	       "                   (the bench programs are separate processes and are not traced)\n"
	       "  --dir DIR        where the bench_* programs are (default: $UHMM_BENCH_DIR, else\n"
	       "                   ../../bench from this program (build tree), else\n"
	       "                   " UHMM_BENCH_INSTALL_RELDIR " (installed))\n");
}

/* Where an installed uhmm finds the programs, relative to its bin/ directory
 * (CMake passes ../libexec/uhmm, or whatever LIBEXECDIR is). */
#ifndef UHMM_BENCH_INSTALL_RELDIR
#define UHMM_BENCH_INSTALL_RELDIR "../libexec/uhmm"
#endif

/* $UHMM_BENCH_DIR, else <dir of /proc/self/exe>/../../bench (the build tree),
 * else <dir of /proc/self/exe>/UHMM_BENCH_INSTALL_RELDIR (an install),
 * canonicalised; NULL if none is there. */
static char *default_dir(void)
{
	char exe[PATH_MAX], path[PATH_MAX + 64], *slash, *real;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	const char *env = getenv("UHMM_BENCH_DIR");

	if (env && *env)
		return realpath(env, NULL);
	if (n <= 0)
		return NULL;
	exe[n] = 0;
	slash = strrchr(exe, '/');
	if (!slash)
		return NULL;
	*slash = 0;
	snprintf(path, sizeof(path), "%s/../../bench", exe);
	real = realpath(path, NULL);
	if (!real) {
		snprintf(path, sizeof(path), "%s/%s", exe, UHMM_BENCH_INSTALL_RELDIR);
		real = realpath(path, NULL);
	}
	return real;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The bench_* executables of @dir, sorted; their count, or -1. */
static int list_benches(const char *dir, char **names, int max)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)) && n < max) {
		char p[PATH_MAX];
		struct stat st;

		if (strncmp(e->d_name, "bench_", 6))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (stat(p, &st) || !S_ISREG(st.st_mode) || access(p, X_OK))
			continue;
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, (size_t)n, sizeof(*names), cmp_str);
	return n;
}

/* Run one program; its exit status, or -1 when it could not run / died. */
static int run_prog(const char *dir, const char *name, bool quick, bool strict, const char *csv)
{
	char path[PATH_MAX];
	char *args[8];
	int n = 0, status;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	args[n++] = path;
	if (quick)
		args[n++] = "--quick";
	if (strict)
		args[n++] = "--strict";
	if (csv) {
		args[n++] = "--csv";
		args[n++] = (char *)csv;
	}
	args[n] = NULL;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		cli_fail("fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		execv(path, args);
		fprintf(stderr, "%s: cannot run %s: %s\n", cli_prog, path, strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFSIGNALED(status)) {
		cli_fail("%s killed by signal %d", name, WTERMSIG(status));
		return -1;
	}
	return WEXITSTATUS(status);
}

static bool selected(const char *prog, char **want, int nwant)
{
	if (!nwant)
		return true;
	for (int i = 0; i < nwant; i++)
		if (!strcmp(prog + 6, want[i]) || !strcmp(prog, want[i]))
			return true;
	return false;
}

int cmd_bench(int argc, char **argv)
{
	const char *csv = NULL, *plot = NULL, *trace = NULL, *dir_opt = NULL, *v;
	char *names[MAX_BENCHES], *want[MAX_BENCHES], *dir, csv_buf[PATH_MAX];
	int i, n, nwant = 0, rc = CLI_OK, ran = 0;
	bool quick = false, strict = false, missing;
	uint64_t t0 = now_ns();

	for (i = 1; i < argc; i++) {
		if ((v = opt_value(argc, argv, &i, "--csv", &missing)))
			csv = v;
		else if (!missing && (v = opt_value(argc, argv, &i, "--plot", &missing)))
			plot = v;
		else if (!missing && (v = opt_value(argc, argv, &i, "--trace", &missing)))
			trace = v;
		else if (!missing && (v = opt_value(argc, argv, &i, "--dir", &missing)))
			dir_opt = v;
		else if (missing)
			return cli_usage("%s needs a value", argv[i]);
		else if (!strcmp(argv[i], "--quick"))
			quick = true;
		else if (!strcmp(argv[i], "--strict"))
			strict = true;
		else if (argv[i][0] == '-')
			return cli_usage("unknown option '%s' (try 'uhmm bench --help')", argv[i]);
		else if (nwant < MAX_BENCHES)
			want[nwant++] = argv[i];
	}
	if (plot && !csv) {
		size_t len = strlen(plot);

		if (len > 4 && !strcmp(plot + len - 4, ".png"))
			snprintf(csv_buf, sizeof(csv_buf), "%.*s.csv", (int)(len - 4), plot);
		else
			snprintf(csv_buf, sizeof(csv_buf), "%s.csv", plot);
		csv = csv_buf;
	}
	dir = dir_opt ? realpath(dir_opt, NULL) : default_dir();
	if (!dir && !(nwant == 1 && !strcmp(want[0], "trace")))	/* 'trace' runs in this process */
		return cli_fail("no benchmark directory (%s); build the bench/ programs or pass --dir",
				dir_opt ? dir_opt : "../../bench or " UHMM_BENCH_INSTALL_RELDIR " next to this program");
	n = dir ? list_benches(dir, names, MAX_BENCHES) : 0;
	if (n < 0) {
		rc = cli_fail("cannot read %s: %s", dir, strerror(errno));
		free(dir);
		return rc;
	}
	for (i = 0; i < nwant; i++) {
		int k;

		for (k = 0; k < n && !selected(names[k], &want[i], 1); k++)
			;
		if (k == n && strcmp(want[i], "trace")) {
			rc = cli_usage("no benchmark '%s' in %s", want[i], dir);
			goto out;
		}
	}
	if (csv) {
		FILE *f = fopen(csv, "w");	/* truncate: the programs append */

		if (!f || fclose(f)) {
			rc = cli_fail("cannot write %s: %s", csv, strerror(errno));
			goto out;
		}
	}
	if (trace) {
		int r = trace_json_start(trace, "uhmm bench", false);

		if (r) {
			rc = cli_fail("cannot write trace '%s': %s", trace, strerror(-r));
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		int st;

		if (!selected(names[i], want, nwant))
			continue;
		printf("==> %s%s%s\n", names[i], quick ? " --quick" : "", strict ? " --strict" : "");
		st = run_prog(dir, names[i], quick, strict, csv);
		ran++;
		if (st != 0) {
			if (st > 0)
				cli_fail("%s exited with status %d", names[i], st);
			rc = CLI_FAIL;
		}
		putchar('\n');
	}
	if (selected("bench_trace", want, nwant)) {
		if (bench_trace_hooks(quick, csv, trace))
			rc = CLI_FAIL;
		ran++;
	}
	if (trace) {
		unsigned long ne = trace_json_events();
		int r = trace_json_finish();

		if (r)
			rc = cli_fail("writing trace '%s': %s", trace, strerror(-r));
		else
			cli_note("wrote %lu trace events to %s", ne, trace);
	}
	if (!ran)
		rc = cli_fail("no benchmark programs in %s", dir ? dir : "-");
	if (csv && ran)
		printf("\nCSV: %s\n", csv);
	if (plot && ran && plot_figures(csv, plot))
		rc = CLI_FAIL;
	printf("%s: %d benchmark%s in %.1f s\n", cli_prog, ran, ran == 1 ? "" : "s",
	       (double)(now_ns() - t0) / 1e9);
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(dir);
	return rc;
}
