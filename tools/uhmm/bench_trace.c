/* SPDX-License-Identifier: MIT */
/* bench_trace.c - what the trace hooks cost: CPU write faults with no tracer
 * vs with a tracer that does nothing, alternated round by round in one run.
 *
 * With no tracer every hook is one relaxed load and a not-taken branch
 * (tests/unit/test_trace_off.c checks the machine code); a no-op tracer adds
 * the clock read and an indirect call per event, which bounds from above
 * what the hooks can cost when tracing is off. With --trace, one more pass
 * (faults plus a small dmirror migration) is recorded as trace-event JSON.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uhmm/dmirror.h>
#include <uhmm/uhmm.h>

#include "cli.h"

#define PG UHMM_PAGE_SIZE
#define MAX_ROUNDS 15

static void noop_event(void *arg, const struct uhmm_trace_event *ev)
{
	(void)arg;
	(void)ev;
}
static const struct uhmm_tracer noop_tracer = { .event = noop_event };

static void fwd_event(void *arg, const struct uhmm_trace_event *ev)
{
	(void)arg;
	trace_json_forward(ev);
}
static const struct uhmm_tracer fwd_tracer = { .event = fwd_event };

/* Map @n pages, write-fault each (one byte), unmap: ns per page, or < 0. */
static double fault_pass(struct uhmm_mm *mm, unsigned long n)
{
	unsigned long addr, i;
	uint64_t t0, t1;
	char one = 1;

	if (uhmm_mmap(mm, 0, n * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, &addr))
		return -1;
	t0 = now_ns();
	for (i = 0; i < n; i++)
		if (uhmm_cpu_write(mm, addr + i * PG, &one, 1))
			return -1;
	t1 = now_ns();
	if (uhmm_munmap(mm, addr, n * PG))
		return -1;
	return (double)(t1 - t0) / (double)n;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	return n & 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void csv_row(const char *csv, const char *subject, const char *param, double v, double b, double r)
{
	FILE *f;

	if (!csv || !(f = fopen(csv, "a")))
		return;
	fseek(f, 0, SEEK_END);
	if (ftell(f) == 0)
		fputs("bench,subject,param,value,baseline,ratio\n", f);
	fprintf(f, "trace,\"%s\",\"%s\",%.6g,%.6g,%.6g\n", subject, param, v, b, r);
	fclose(f);
}

/* A small traced workload: faults, a device read and a migration. */
static int traced_pass(struct uhmm_system *sys, struct uhmm_mm *mm)
{
	struct uhmm_dmirror_device *dev = NULL;
	struct uhmm_dmirror *f = NULL;
	struct uhmm_dmirror_cmd cmd;
	unsigned long addr, n = 256;
	char *buf = calloc(n, PG);
	int r;

	if (!buf)
		return -ENOMEM;
	uhmm_trace_set(&fwd_tracer);
	trace_json_begin("traced pass");
	r = uhmm_mmap(mm, 0, n * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, &addr);
	if (!r)
		r = uhmm_cpu_write(mm, addr, buf, n * PG);
	if (!r)
		r = uhmm_dmirror_device_create(sys, NULL, &dev);
	if (!r) {
		trace_json_label(dev, "dev0");
		trace_json_label(uhmm_dmirror_device_owner(dev), "dev0");
		r = uhmm_dmirror_open(dev, mm, &f);
	}
	cmd = (struct uhmm_dmirror_cmd){ .addr = addr, .ptr = buf, .npages = n };
	if (!r)
		r = uhmm_dmirror_ioctl(f, UHMM_DMIRROR_READ, &cmd);
	cmd = (struct uhmm_dmirror_cmd){ .addr = addr, .ptr = buf, .npages = n };
	if (!r)
		r = uhmm_dmirror_ioctl(f, UHMM_DMIRROR_MIGRATE_TO_DEV, &cmd);
	if (!r)
		r = uhmm_cpu_read(mm, addr, buf, n * PG);	/* faults every page back */
	trace_json_end("traced pass");
	uhmm_dmirror_close(f);
	if (!r)
		r = uhmm_munmap(mm, addr, n * PG);
	uhmm_dmirror_device_destroy(dev);
	uhmm_trace_set(NULL);
	free(buf);
	return r;
}

int bench_trace_hooks(bool quick, const char *csv, const char *trace)
{
	struct uhmm_system_opts so = { .ram_bytes = 64UL << 20 };
	unsigned long n = quick ? 2048 : 8192;
	int rounds = quick ? 5 : 11, k, rc = CLI_OK, r;
	double off[MAX_ROUNDS], on[MAX_ROUNDS], ratio[MAX_ROUNDS], mo, mn, mr;
	struct uhmm_system *sys;
	struct uhmm_mm *mm;
	char param[32];

	printf("==> trace hooks (in process)\n");
	printf("  CPU write-fault of %lu fresh pages: no tracer (subject) vs a no-op tracer (baseline),\n"
	       "  %d paired rounds alternating the order; ratio = median of per-round ratios\n",
	       n, rounds);
	r = uhmm_system_create(&so, &sys);
	if (r)
		return cli_fail_call("uhmm_system_create", r);
	r = uhmm_mm_create(sys, &mm);
	if (r) {
		uhmm_system_destroy(sys);
		return cli_fail_call("uhmm_mm_create", r);
	}
	/* Warm-up: touch the frames once so no timed pass pays the host's first touch. */
	if (fault_pass(mm, n) < 0 || fault_pass(mm, n) < 0) {
		rc = cli_fail("warm-up fault pass failed");
		goto out;
	}
	for (k = 0; k < rounds; k++) {
		for (int j = 0; j < 2; j++) {
			bool traced = (j == 0) == (k & 1);

			uhmm_trace_set(traced ? &noop_tracer : NULL);
			if (traced)
				on[k] = fault_pass(mm, n);
			else
				off[k] = fault_pass(mm, n);
			uhmm_trace_set(NULL);
		}
		if (off[k] < 0 || on[k] < 0) {
			rc = cli_fail("fault pass failed");
			goto out;
		}
		ratio[k] = off[k] / on[k];
	}
	mo = median(off, rounds);
	mn = median(on, rounds);
	mr = median(ratio, rounds);
	snprintf(param, sizeof(param), "pages=%lu", n);
	printf("\n  %-40s %-12s %12s %12s %8s\n", "subject", "param", "value", "baseline", "ratio");
	printf("  %.*s\n", 88, "----------------------------------------------------------------------------------"
			       "------------------");
	printf("  %-40s %-12s %9.0f ns %9.0f ns %7.2fx\n", "write fault, no tracer vs no-op tracer", param, mo, mn, mr);
	printf("  (below 1.00x: even a no-op tracer costs that much; with no tracer each hook is a\n"
	       "  single not-taken branch)\n\n");
	csv_row(csv, "write fault, no tracer vs no-op tracer", param, mo, mn, mr);
	if (trace) {
		r = traced_pass(sys, mm);
		if (r)
			rc = cli_fail_call("traced pass", r);
	}
out:
	uhmm_mm_put(mm);
	uhmm_system_destroy(sys);
	return rc;
}
