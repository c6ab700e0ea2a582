/* SPDX-License-Identifier: MIT */
/* cli.h - shared declarations of the uhmm command-line program.
 *
 * The program uses the public API (<uhmm/uhmm.h>, <uhmm/dmirror.h>) only.
 * Exit status: 0 success, 1 failure (a failed call or assertion), 2 usage.
 */
#ifndef UHMM_CLI_H
#define UHMM_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLI_OK 0
#define CLI_FAIL 1
#define CLI_USAGE 2

/* Commands: argv[0] is the command name. Each returns an exit status. */
int cmd_demo(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_bench(int argc, char **argv);

void help_demo(void);
void help_run(void);
void help_bench(void);

/* ------------------------------------------------------------- util.c */
extern const char *cli_prog;	/* "uhmm" or "uhmm demo": prefix of messages */

/* "uhmm demo: " + message on stderr; returns CLI_USAGE / CLI_FAIL. */
__attribute__((format(printf, 1, 2))) int cli_usage(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) int cli_fail(const char *fmt, ...);
/* An informational message on stderr, after what stdout holds so far. */
__attribute__((format(printf, 1, 2))) void cli_note(const char *fmt, ...);
/* "uhmm demo: CALL: strerror (ENAME)" for a negative errno; returns CLI_FAIL. */
int cli_fail_call(const char *call, int err);

/* "EFAULT" for 14 (or -14); NULL when unknown. */
const char *errno_name(int err);
/* EFAULT / -14 / 14 -> 14 (positive); -1 when not an errno. */
int errno_parse(const char *s);
/* "-EFAULT (Bad address)" into buf; "0" for 0. */
const char *errno_describe(int r, char *buf, size_t len);

/* Whole-string number parsing: decimal or 0x hex, with range checks.
 * Return 0 or -1 (not a number or out of [lo, hi]). */
int parse_ulong(const char *s, unsigned long lo, unsigned long hi, unsigned long *out);
int parse_long(const char *s, long lo, long hi, long *out);
int parse_double(const char *s, double lo, double hi, double *out);

/* Option parsing helper for "--name VALUE" and "--name=VALUE": returns the
 * value and advances *i, or NULL when argv[*i] is not that option. Sets
 * *missing when the option is there without its value. */
const char *opt_value(int argc, char **argv, int *i, const char *name, bool *missing);

uint64_t now_ns(void);

/* bench_trace.c: the in-process trace-hook measurement of `uhmm bench`. */
int bench_trace_hooks(bool quick, const char *csv, const char *trace);
/* plot.c: draw the figures from a bench CSV; 0, or CLI_FAIL after a message.
 * A missing gnuplot is reported and is not a failure. */
int plot_figures(const char *csv, const char *png);
/* The figure of `uhmm demo --plot`: [0] with the owner filter, [1] without. */
struct demo_plot {
	unsigned long pages, resident;
	double host_ms[2], dev_ms[2];
};
int plot_demo(const char *png, const struct demo_plot *p);

/* --------------------------------------------------------- trace_json.c */
/*
 * Chrome trace-event JSON (Perfetto, chrome://tracing). trace_json_start
 * opens @path (so a bad path fails before any work), installs the tracer and
 * buffers every event in memory; trace_json_finish removes the tracer and
 * writes the file. One trace at a time (the tracer is process-wide).
 */
struct uhmm_trace_event;
/* @install: set the process-wide tracer; false when the caller installs its
 * own and passes events on with trace_json_forward. */
int trace_json_start(const char *path, const char *process_name, bool install);	/* 0 or -errno */
void trace_json_forward(const struct uhmm_trace_event *ev);
/* Give an owner/device pointer a readable label in the trace ("A", "dev0"). */
void trace_json_label(const void *ptr, const char *label);
/* The CLI's own spans and instants ("phase: migrate whole range"). */
void trace_json_begin(const char *name);
void trace_json_end(const char *name);
void trace_json_mark(const char *name);
int trace_json_finish(void);	/* 0 or -errno; prints nothing */
unsigned long trace_json_events(void);

#endif
