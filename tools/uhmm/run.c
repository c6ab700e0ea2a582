/* SPDX-License-Identifier: MIT */
/* run.c - `uhmm run SCRIPT`: read a scenario script, check it, run it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "script.h"

#define MAX_SCRIPT_BYTES (16UL << 20)

void help_run(void)
{
	printf("usage: uhmm run [--trace FILE] [-v] SCRIPT\n"
	       "\n"
	       "Run a scenario script: build a system, address spaces, mappings and dmirror devices,\n"
	       "make CPU accesses and device requests, and check the results. SCRIPT '-' reads standard\n"
	       "input. The whole script is checked before anything runs. The language is described in\n"
	       "uhmm(1); examples/*.uhmm are the kernel's hmm-tests cases written in it.\n"
	       "\n"
	       "  -v, --verbose   print each statement before running it, and its result\n"
	       "  --trace FILE    write a Chrome trace-event JSON file (Perfetto, chrome://tracing)\n"
	       "\n"
	       "Exit status: 0 every check held; 1 a check failed or a call failed unchecked;\n"
	       "2 the script (or the command line) is malformed.\n");
}

/* The whole input as a NUL-terminated string; NULL after printing why. */
static char *slurp(const char *path, size_t *len_out)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	size_t cap = 65536, len = 0;
	char *buf;

	if (!f) {
		cli_usage("cannot open script '%s': %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(cap);
	while (buf) {
		size_t n = fread(buf + len, 1, cap - len - 1, f);

		len += n;
		if (len < cap - 1) {
			if (ferror(f)) {
				cli_usage("reading script '%s': %s", path, strerror(errno));
				free(buf);
				buf = NULL;
			}
			break;
		}
		if (cap >= MAX_SCRIPT_BYTES) {
			cli_usage("script '%s' is larger than %lu MiB", path, MAX_SCRIPT_BYTES >> 20);
			free(buf);
			buf = NULL;
			break;
		}
		char *nb = realloc(buf, cap * 2);

		if (!nb) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = nb;
		cap *= 2;
	}
	if (f != stdin)
		fclose(f);
	if (!buf)
		return NULL;
	buf[len] = 0;
	*len_out = len;
	return buf;
}

int cmd_run(int argc, char **argv)
{
	const char *path = NULL, *trace = NULL, *v;
	struct script *s;
	bool verbose = false, missing;
	size_t len;
	char *src;
	int rc, i;

	for (i = 1; i < argc; i++) {
		if ((v = opt_value(argc, argv, &i, "--trace", &missing)))
			trace = v;
		else if (missing)
			return cli_usage("--trace needs a FILE");
		else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose"))
			verbose = true;
		else if (!strcmp(argv[i], "--") && i + 1 < argc && !path)
			path = argv[++i];
		else if (argv[i][0] == '-' && argv[i][1])
			return cli_usage("unknown option '%s' (try 'uhmm run --help')", argv[i]);
		else if (path)
			return cli_usage("one SCRIPT only ('%s' and '%s')", path, argv[i]);
		else
			path = argv[i];
	}
	if (!path)
		return cli_usage("missing SCRIPT (a file, or - for standard input)");
	src = slurp(path, &len);
	if (!src)
		return CLI_USAGE;
	if (strlen(src) != len) {
		int line = 1;

		for (char *p = src; *p; p++)
			line += *p == '\n';
		free(src);
		fflush(stdout);
		fprintf(stderr, "%s:%d: error: NUL byte in the script\n", path, line);
		return CLI_USAGE;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		free(src);
		return cli_fail("out of memory");
	}
	s->verbose = verbose;
	rc = script_parse(s, strcmp(path, "-") ? path : "<stdin>", src);
	if (rc == CLI_OK && trace) {
		int r = trace_json_start(trace, "uhmm run", true);

		if (r)
			rc = cli_fail("cannot write trace '%s': %s", trace, strerror(-r));
	}
	if (rc == CLI_OK) {
		rc = script_run(s);
		if (trace) {
			unsigned long n = trace_json_events();
			int r = trace_json_finish();

			if (r && rc == CLI_OK)
				rc = cli_fail("writing trace '%s': %s", trace, strerror(-r));
			else if (!r)
				cli_note("wrote %lu trace events to %s", n, trace);
		}
		if (rc == CLI_OK)
			printf("%s: %d statement%s, %lu check%s passed\n", s->file, s->nstmts, s->nstmts == 1 ? "" : "s",
			       s->checks, s->checks == 1 ? "" : "s");
	}
	script_free(s);
	free(s);
	return rc;
}
