/* demo.c - `uhmm demo`: the seed patch's saving, measured side by side.
 *
 * Device A mirrors N pages; the last fraction f of them is already in A's
 * memory; device B mirrors the same range. A migrates the whole range to
 * itself, then reads it all. Run twice: with dmirror's owner filter (A skips
 * the MIGRATE invalidations its own migration causes, as after "mm/notifier:
 * add migration invalidation type") and without it (invalidate_own_migrations,
 * as before). Counts come from dmirror's statistics; device-TLB flushes and
 * refaulted pages from dmirror's trace events, counted by a small tracer that
 * is on in both runs alike.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uhmm/dmirror.h>
#include <uhmm/uhmm.h>

#include "cli.h"

#define PG UHMM_PAGE_SIZE
#define DEMO_MAX_PAGES (1UL << 17)
#define DEMO_MAX_ROUNDS 15

void help_demo(void)
{
	printf("usage: uhmm demo [--pages N] [--fraction F] [--tlb-flush-ns NS] [--rounds N] [--json]\n"
	       "                 [--trace FILE]\n"
	       "\n"
	       "Device A mirrors N pages of an address space, the last fraction F of them already in\n"
	       "A's memory; device B mirrors the same range. A migrates the whole range to itself,\n"
	       "then reads it all. The scenario runs with dmirror's owner filter (A ignores the\n"
	       "MIGRATE invalidations its own migration causes) and without it, and the two are\n"
	       "printed side by side.\n"
	       "\n"
	       "  --pages N          pages in the range (default 16384, at most %lu)\n"
	       "  --fraction F       share of them already in A's memory, 0..1 (default 0.5)\n"
	       "  --tlb-flush-ns NS  simulated device-TLB flush per invalidation that zaps (default 2000)\n"
	       "  --rounds N         run each mode N times, alternating; wall time is the median\n"
	       "                     (default 3)\n"
	       "  --json             print the numbers as JSON instead of the table\n"
	       "  --trace FILE       write a Chrome trace-event JSON file (Perfetto, chrome://tracing)\n",
	       DEMO_MAX_PAGES);
}

/* ------------------------------------------------- counting the events */
/* Device A's and B's counts in the measured phase. The demo is single-
 * threaded, but the tracer contract allows any thread: atomics. */
struct counts {
	atomic_ulong flushes, fault_pages, fault_ns;
};

static struct {
	atomic_bool on;			/* count only during the measured phase */
	const void *dev[2];		/* A, B */
	struct counts c[2];
	atomic_ulong mig_ns;		/* A's migrate_vma_setup..finalize, summed */
	atomic_ulong mig_t0, fault_t0;
	atomic_bool seen;		/* dmirror emits its events */
	bool forward;			/* --trace: pass every event to the JSON writer */
} ctr;

static void demo_event(void *arg, const struct uhmm_trace_event *ev)
{
	(void)arg;
	if (ev->name && atomic_load_explicit(&ctr.on, memory_order_relaxed)) {
		int d = !ev->device ? -1 : ev->device == ctr.dev[0] ? 0 : ev->device == ctr.dev[1] ? 1 : -1;

		if (d >= 0 && ev->phase == UHMM_TRACE_INSTANT && !strcmp(ev->name, "dmirror_invalidate")) {
			atomic_store_explicit(&ctr.seen, true, memory_order_relaxed);
			/* dmirror flushes the device TLB once per callback that zapped entries */
			if (!ev->skipped && ev->value > 0)
				atomic_fetch_add_explicit(&ctr.c[d].flushes, 1, memory_order_relaxed);
		} else if (d >= 0 && !strcmp(ev->name, "dmirror_fault")) {
			if (ev->phase == UHMM_TRACE_BEGIN) {
				atomic_fetch_add_explicit(&ctr.c[d].fault_pages, (ev->end - ev->start) / PG,
							  memory_order_relaxed);
				atomic_store_explicit(&ctr.fault_t0, ev->ts_ns, memory_order_relaxed);
			} else if (ev->phase == UHMM_TRACE_END) {
				atomic_fetch_add_explicit(&ctr.c[d].fault_ns,
							  ev->ts_ns - atomic_load(&ctr.fault_t0),
							  memory_order_relaxed);
			}
		} else if (ev->phase == UHMM_TRACE_BEGIN && !strcmp(ev->name, "migrate_vma_setup")) {
			/* only A migrates in the measured phase */
			atomic_store_explicit(&ctr.mig_t0, ev->ts_ns, memory_order_relaxed);
		} else if (ev->phase == UHMM_TRACE_END && !strcmp(ev->name, "migrate_vma_finalize")) {
			atomic_fetch_add_explicit(&ctr.mig_ns, ev->ts_ns - atomic_load(&ctr.mig_t0),
						  memory_order_relaxed);
		}
	}
	if (ctr.forward)
		trace_json_forward(ev);
}

static const struct uhmm_tracer demo_tracer = { .event = demo_event };

/* -------------------------------------------------------------- a run */
struct result {
	bool filter;
	int migrate_err, read_err;
	unsigned long inval_a, skipped_a, zapped_a, zapped_b;
	unsigned long refault_rounds, refault_pages, copied;
	unsigned long flushes;		/* A + B */
	double flush_ms;		/* flushes x --tlb-flush-ns */
	double wall_ms;			/* the measured phase (median over rounds) */
	double migrate_ms;		/* A's migrate_vma setup..finalize (median) */
	double fault_ms;		/* A's device faults on the read (median) */
	bool counted;			/* the rows from trace events are known */
};

struct demo {
	unsigned long pages, resident, rounds;
	double fraction;
	unsigned long tlb_ns;
	bool json;
	const char *trace;
	struct uhmm_system *sys;
	int *buf;		/* pages * PG bytes: the CPU's data, then what A reads */
};

static int check(int r, const char *call)
{
	return r ? cli_fail_call(call, r) : CLI_OK;
}

static int stats(struct uhmm_dmirror *f, struct uhmm_dmirror_stats *st)
{
	return check(uhmm_dmirror_get_stats(f, st), "uhmm_dmirror_get_stats");
}

static int run_once(const struct demo *d, bool filter, struct result *res)
{
	struct uhmm_dmirror_device_opts o = {
		.type = UHMM_MEMORY_DEVICE_PRIVATE,
		.memory_bytes = d->pages * PG > (256UL << 20) ? d->pages * PG : 0,
		.invalidate_own_migrations = !filter,
		.tlb_flush_ns = d->tlb_ns,
	};
	struct uhmm_dmirror_stats a0, a1, b0, b1;
	struct uhmm_dmirror_device *A = NULL, *B = NULL;
	struct uhmm_dmirror *fa = NULL, *fb = NULL;
	struct uhmm_system *sys = d->sys;
	struct uhmm_mm *mm = NULL;
	struct uhmm_dmirror_cmd cmd;
	unsigned long addr, len = d->pages * PG, i, chunk = 256 * PG;
	int *buf = d->buf, rc = CLI_FAIL;
	uint64_t t0, t1;

	memset(res, 0, sizeof(*res));
	res->filter = filter;
	if (check(uhmm_mm_create(sys, &mm), "uhmm_mm_create") ||
	    check(uhmm_mmap(mm, 0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, &addr), "uhmm_mmap"))
		goto out;
	trace_json_label(mm, "mm");
	/* The CPU fills the range: int i holds i. */
	for (i = 0; i < len / sizeof(int); i++)
		buf[i] = (int)i;
	for (i = 0; i < len; i += chunk)
		if (check(uhmm_cpu_write(mm, addr + i, (char *)buf + i, len - i < chunk ? len - i : chunk),
			  "uhmm_cpu_write"))
			goto out;
	if (check(uhmm_dmirror_device_create(sys, &o, &A), "uhmm_dmirror_device_create") ||
	    check(uhmm_dmirror_device_create(sys, &o, &B), "uhmm_dmirror_device_create") ||
	    check(uhmm_dmirror_open(A, mm, &fa), "uhmm_dmirror_open") ||
	    check(uhmm_dmirror_open(B, mm, &fb), "uhmm_dmirror_open"))
		goto out;
	trace_json_label(A, "A");
	trace_json_label(B, "B");
	trace_json_label(uhmm_dmirror_device_owner(A), "A");
	trace_json_label(uhmm_dmirror_device_owner(B), "B");
	ctr.dev[0] = A;
	ctr.dev[1] = B;

	/* Setup: both devices map the whole range; then A takes the last
	 * fraction into its memory (B loses those pages: not its migration). */
	trace_json_begin(filter ? "setup (filter on)" : "setup (filter off)");
	cmd = (struct uhmm_dmirror_cmd){ .addr = addr, .ptr = buf, .npages = d->pages };
	if (check(uhmm_dmirror_ioctl(fa, UHMM_DMIRROR_READ, &cmd), "uhmm_dmirror_ioctl(A, READ)"))
		goto out;
	cmd = (struct uhmm_dmirror_cmd){ .addr = addr, .ptr = buf, .npages = d->pages };
	if (check(uhmm_dmirror_ioctl(fb, UHMM_DMIRROR_READ, &cmd), "uhmm_dmirror_ioctl(B, READ)"))
		goto out;
	if (d->resident) {
		cmd = (struct uhmm_dmirror_cmd){ .addr = addr + (d->pages - d->resident) * PG, .ptr = buf,
						 .npages = d->resident };
		if (check(uhmm_dmirror_ioctl(fa, UHMM_DMIRROR_MIGRATE_TO_DEV, &cmd),
			  "uhmm_dmirror_ioctl(A, MIGRATE_TO_DEV)"))
			goto out;
	}
	trace_json_end(filter ? "setup (filter on)" : "setup (filter off)");
	if (stats(fa, &a0) || stats(fb, &b0))
		goto out;

	/* The measured phase. */
	for (int k = 0; k < 2; k++) {
		atomic_store(&ctr.c[k].flushes, 0);
		atomic_store(&ctr.c[k].fault_pages, 0);
		atomic_store(&ctr.c[k].fault_ns, 0);
	}
	atomic_store(&ctr.mig_ns, 0);
	atomic_store(&ctr.on, true);
	trace_json_begin(filter ? "measured (filter on)" : "measured (filter off)");
	t0 = now_ns();
	cmd = (struct uhmm_dmirror_cmd){ .addr = addr, .ptr = buf, .npages = d->pages };
	res->migrate_err = uhmm_dmirror_ioctl(fa, UHMM_DMIRROR_MIGRATE_TO_DEV, &cmd);
	memset(buf, 0, len);
	cmd = (struct uhmm_dmirror_cmd){ .addr = addr, .ptr = buf, .npages = d->pages };
	res->read_err = uhmm_dmirror_ioctl(fa, UHMM_DMIRROR_READ, &cmd);
	t1 = now_ns();
	trace_json_end(filter ? "measured (filter on)" : "measured (filter off)");
	atomic_store(&ctr.on, false);
	if (res->migrate_err && res->migrate_err != -ENOENT) {
		cli_fail_call("uhmm_dmirror_ioctl(A, MIGRATE_TO_DEV)", res->migrate_err);
		goto out;
	}
	if (check(res->read_err, "uhmm_dmirror_ioctl(A, READ)") || stats(fa, &a1) || stats(fb, &b1))
		goto out;
	for (i = 0; i < len / sizeof(int); i++)
		if (buf[i] != (int)i) {
			cli_fail("A read %d at int %lu of the range, expected %lu: data corrupted", buf[i], i, i);
			goto out;
		}

	res->inval_a = a1.invalidations - a0.invalidations;
	res->skipped_a = a1.invalidations_skipped - a0.invalidations_skipped;
	res->zapped_a = a1.ptes_zapped - a0.ptes_zapped;
	res->zapped_b = b1.ptes_zapped - b0.ptes_zapped;
	res->refault_rounds = cmd.faults;
	res->copied = a1.pages_to_dev - a0.pages_to_dev;
	res->refault_pages = atomic_load(&ctr.c[0].fault_pages);
	res->flushes = atomic_load(&ctr.c[0].flushes) + atomic_load(&ctr.c[1].flushes);
	res->counted = atomic_load(&ctr.seen);
	res->flush_ms = (double)res->flushes * (double)d->tlb_ns / 1e6;
	res->wall_ms = (double)(t1 - t0) / 1e6;
	res->migrate_ms = (double)atomic_load(&ctr.mig_ns) / 1e6;
	res->fault_ms = (double)atomic_load(&ctr.c[0].fault_ns) / 1e6;
	rc = CLI_OK;
out:
	ctr.dev[0] = ctr.dev[1] = NULL;
	uhmm_dmirror_close(fa);
	uhmm_dmirror_close(fb);
	if (mm)
		uhmm_mm_put(mm);
	uhmm_dmirror_device_destroy(A);
	uhmm_dmirror_device_destroy(B);
	return rc;
}

/*
 * Touch every free RAM frame once (map them all, write a byte to each,
 * unmap) so that no measured phase pays the host's first-touch fault: the
 * frames go back to uhmm's free lists, still backed by host memory.
 */
static int prefault_ram(struct uhmm_system *sys)
{
	struct uhmm_system_stats st;
	struct uhmm_mm *mm;
	unsigned long addr, i;
	char one = 1;
	int r;

	r = uhmm_system_get_stats(sys, &st);
	if (!r)
		r = uhmm_mm_create(sys, &mm);
	if (r)
		return cli_fail_call("preparing RAM", r);
	r = uhmm_mmap(mm, 0, st.free_pages * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, &addr);
	for (i = 0; !r && i < st.free_pages; i++)
		if (uhmm_cpu_write(mm, addr + i * PG, &one, 1))
			break;	/* -ENOMEM: every frame is in use (page tables take some) */
	uhmm_mm_put(mm);
	return r ? cli_fail_call("uhmm_mmap", r) : CLI_OK;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Alternate filter on / off for d->rounds rounds: counts from the last
 * round (they are deterministic), wall time as the median. */
static int run_rounds(struct demo *d, struct result *on, struct result *off)
{
	struct uhmm_system_opts so = { .ram_bytes = (3 * d->pages + 8192) * PG };
	double w[2][3][DEMO_MAX_ROUNDS];	/* [on/off][wall, migrate, fault][round] */
	int rc;

	if (so.ram_bytes < (64UL << 20))
		so.ram_bytes = 64UL << 20;
	d->buf = malloc(d->pages * PG);
	if (!d->buf)
		return cli_fail("out of memory for a %lu-page buffer", d->pages);
	memset(d->buf, 0, d->pages * PG);
	rc = check(uhmm_system_create(&so, &d->sys), "uhmm_system_create");
	if (rc == CLI_OK)
		rc = prefault_ram(d->sys);
	for (unsigned long k = 0; rc == CLI_OK && k < d->rounds; k++) {
		/* Alternate which goes first, so neither always runs on a warmer machine. */
		bool first = !(k & 1);

		rc = run_once(d, first, first ? on : off);
		if (rc == CLI_OK)
			rc = run_once(d, !first, first ? off : on);
		for (int m = 0; m < 2; m++) {
			const struct result *r = m ? off : on;

			w[m][0][k] = r->wall_ms;
			w[m][1][k] = r->migrate_ms;
			w[m][2][k] = r->fault_ms;
		}
	}
	if (rc == CLI_OK) {
		for (int m = 0; m < 2; m++) {
			struct result *r = m ? off : on;

			for (int t = 0; t < 3; t++)
				qsort(w[m][t], d->rounds, sizeof(double), cmp_double);
			r->wall_ms = w[m][0][d->rounds / 2];
			r->migrate_ms = w[m][1][d->rounds / 2];
			r->fault_ms = w[m][2][d->rounds / 2];
		}
	}
	if (d->sys)
		uhmm_system_destroy(d->sys);
	free(d->buf);
	return rc;
}

/* ------------------------------------------------------------ output */
static const char *err_text(int r, char *b, size_t n)
{
	const char *e = errno_name(r);

	if (!r)
		return "0";
	snprintf(b, n, "-%s", e ? e : "?");
	return b;
}

#define ROW "  %-46s %20s %20s\n"

static void row_ul(const char *what, unsigned long on, unsigned long off)
{
	char a[32], b[32];

	snprintf(a, sizeof(a), "%lu", on);
	snprintf(b, sizeof(b), "%lu", off);
	printf(ROW, what, a, b);
}

static void row_opt(const char *what, bool known, unsigned long on, unsigned long off)
{
	if (known)
		row_ul(what, on, off);
	else
		printf(ROW, what, "n/a", "n/a");
}

static void row_ms(const char *what, double on, double off)
{
	char a[32], b[32];

	snprintf(a, sizeof(a), "%.2f ms", on);
	snprintf(b, sizeof(b), "%.2f ms", off);
	printf(ROW, what, a, b);
}

/* Print @text wrapped at 96 columns with a two-space indent. */
static void para(const char *text)
{
	const char *p = text;

	while (*p) {
		const char *end = p, *brk = NULL;

		while (*end && end - p < 94) {
			if (*end == ' ')
				brk = end;
			end++;
		}
		if (*end && brk)
			end = brk;
		printf("  %.*s\n", (int)(end - p), p);
		p = *end == ' ' ? end + 1 : end;
	}
}

static const char *pl(unsigned long n)
{
	return n == 1 ? "" : "s";
}

static const char *entries(unsigned long n)
{
	return n == 1 ? "entry" : "entries";
}

static void sentences(const struct demo *d, const struct result *on, const struct result *off)
{
	unsigned long lost = off->zapped_a > off->copied ? off->zapped_a - off->copied : 0;
	char s[640], t[320], e[32], c[64];
	double ratio = on->wall_ms > 0 ? off->wall_ms / on->wall_ms : 0;

	putchar('\n');
	/* 1. What A keeps. */
	if (lost && on->zapped_a == 0)
		snprintf(s, sizeof(s),
			 "With the owner filter A ignored %s%lu MIGRATE invalidation%s its own migration caused "
			 "and kept its mapping%s of the %lu page%s already in its memory; without it A zapped "
			 "%lu device %s, %lu of them for pages that never moved.",
			 on->skipped_a > 1 ? "all " : "", on->skipped_a, pl(on->skipped_a), pl(d->resident),
			 d->resident, pl(d->resident), off->zapped_a, entries(off->zapped_a), lost);
	else if (lost)
		snprintf(s, sizeof(s),
			 "A zapped %lu device %s with the owner filter and %lu without it, %lu of them for "
			 "pages that never moved.", on->zapped_a, entries(on->zapped_a), off->zapped_a, lost);
	else
		snprintf(s, sizeof(s),
			 "With the owner filter A ignored %lu MIGRATE invalidation%s and without it zapped %lu "
			 "device %s, each for a page that moved anyway: with no page already in A's memory "
			 "there is no mapping for the filter to keep alive.",
			 on->skipped_a, pl(on->skipped_a), off->zapped_a, entries(off->zapped_a));
	para(s);

	/* 2. What losing them costs A. */
	t[0] = 0;
	if (off->migrate_err && !on->migrate_err)
		snprintf(t, sizeof(t),
			 "A's migration returned %s (its read-back found those mappings gone: the failure "
			 "hmm-tests' migrate_fault catches) and ",
			 err_text(off->migrate_err, e, sizeof(e)));
	if (off->refault_rounds > on->refault_rounds) {
		if (off->counted)
			snprintf(s, sizeof(s),
				 "Without the filter %sreading the range back cost A %lu fault round%s over %lu "
				 "page%s (%.2f ms); with it A read everything %s.",
				 t, off->refault_rounds, pl(off->refault_rounds), off->refault_pages,
				 pl(off->refault_pages), off->fault_ms,
				 on->refault_rounds ? "after fewer faults" : "without faulting");
		else
			snprintf(s, sizeof(s),
				 "Without the filter %sreading the range back cost A %lu fault round%s; with it "
				 "%lu.", t, off->refault_rounds, pl(off->refault_rounds), on->refault_rounds);
		para(s);
	}

	/* 3. B. */
	if (on->zapped_b == off->zapped_b && on->zapped_b)
		snprintf(s, sizeof(s),
			 "B lost %lu mapping%s in both runs: another device's migration must always "
			 "invalidate it, and the filter changes nothing for B.",
			 on->zapped_b, pl(on->zapped_b));
	else if (on->zapped_b == off->zapped_b)
		snprintf(s, sizeof(s),
			 "B had no mapping left to lose: A had already taken every page into its memory.");
	else
		snprintf(s, sizeof(s), "B lost %lu mapping%s with the filter and %lu without it.", on->zapped_b,
			 pl(on->zapped_b), off->zapped_b);
	para(s);

	/* 4. Cost. */
	if (on->counted && off->counted)
		snprintf(t, sizeof(t), "the filter saved %ld device-TLB flush%s (%.2f ms simulated); ",
			 (long)off->flushes - (long)on->flushes, off->flushes - on->flushes == 1 ? "" : "es",
			 off->flush_ms - on->flush_ms);
	else
		t[0] = 0;
	if (on->copied == off->copied && on->copied)
		snprintf(c, sizeof(c), "Both runs copied %lu page%s to A", on->copied, pl(on->copied));
	else if (on->copied == off->copied)
		snprintf(c, sizeof(c), "Neither run copied a page");
	else
		snprintf(c, sizeof(c), "The runs copied %lu and %lu pages", on->copied, off->copied);
	if (ratio >= 1.05)
		snprintf(s, sizeof(s), "%s; %sthe phase took %.2f ms instead of %.2f ms (%.2fx faster).", c, t,
			 on->wall_ms, off->wall_ms, ratio);
	else
		snprintf(s, sizeof(s),
			 "%s; %sthe HMM work on A (migrate_vma and refaults) took %.2f ms with the filter and "
			 "%.2f ms without, while in wall time (%.2f ms and %.2f ms) copying the range into and out "
			 "of the device dominates%s.",
			 c, t, on->migrate_ms + on->fault_ms, off->migrate_ms + off->fault_ms, on->wall_ms,
			 off->wall_ms,
			 off->migrate_err && ratio < 0.95 ? ", and the failed migration skipped its copy back" : "");
	para(s);
}

static void print_table(const struct demo *d, const struct result *on, const struct result *off)
{
	char a[64], b[32];

	printf("uhmm demo: device A mirrors %lu pages (%.1f MiB), the last %lu (%.0f%%) already in its\n"
	       "memory; device B mirrors them too. A migrates the whole range to itself, then reads it.\n"
	       "Simulated device-TLB flush: %lu ns.\n\n",
	       d->pages, (double)(d->pages * PG) / (1 << 20), d->resident, d->fraction * 100, d->tlb_ns);
	printf(ROW, "", "owner filter on", "owner filter off");
	printf(ROW, "", "--------------------", "--------------------");
	row_ul("MIGRATE invalidations received by A", on->inval_a, off->inval_a);
	row_ul("  skipped by A (its own migration)", on->skipped_a, off->skipped_a);
	row_ul("device entries zapped on A", on->zapped_a, off->zapped_a);
	row_ul("device entries zapped on B", on->zapped_b, off->zapped_b);
	printf(ROW, "A's migration result", err_text(on->migrate_err, a, sizeof(a)),
	       err_text(off->migrate_err, b, sizeof(b)));
	row_ul("A's refaults on the read: fault rounds", on->refault_rounds, off->refault_rounds);
	row_opt("A's refaults on the read: pages", on->counted && off->counted, on->refault_pages,
		off->refault_pages);
	row_ul("pages copied to A", on->copied, off->copied);
	row_opt("device-TLB flushes (A and B)", on->counted && off->counted, on->flushes, off->flushes);
	if (on->counted && off->counted)
		row_ms("simulated device-TLB flush time", on->flush_ms, off->flush_ms);
	else
		printf(ROW, "simulated device-TLB flush time", "n/a", "n/a");
	snprintf(a, sizeof(a), "wall time (migrate + read), median of %lu", d->rounds);
	if (on->counted && off->counted) {
		row_ms("time in A's migrate_vma (setup to finalize)", on->migrate_ms, off->migrate_ms);
		row_ms("time in A's device faults on the read", on->fault_ms, off->fault_ms);
		row_ms("HMM time on A (migrate_vma + refaults)", on->migrate_ms + on->fault_ms,
		       off->migrate_ms + off->fault_ms);
	}
	row_ms(d->rounds > 1 ? a : "wall time (migrate + read)", on->wall_ms, off->wall_ms);
	sentences(d, on, off);
}

static void json_run(const char *key, const struct result *r, bool last)
{
	printf("  \"%s\": {\n"
	       "    \"owner_filter\": %s,\n"
	       "    \"migrate_invalidations_received_by_A\": %lu,\n"
	       "    \"skipped_by_A\": %lu,\n"
	       "    \"entries_zapped_on_A\": %lu,\n"
	       "    \"entries_zapped_on_B\": %lu,\n"
	       "    \"migrate_result\": %d,\n"
	       "    \"refault_rounds\": %lu,\n",
	       key, r->filter ? "true" : "false", r->inval_a, r->skipped_a, r->zapped_a, r->zapped_b,
	       r->migrate_err, r->refault_rounds);
	if (r->counted)
		printf("    \"refault_pages\": %lu,\n", r->refault_pages);
	else
		printf("    \"refault_pages\": null,\n");
	printf("    \"pages_copied\": %lu,\n", r->copied);
	if (r->counted)
		printf("    \"tlb_flushes\": %lu,\n    \"tlb_flush_ms\": %.6f,\n"
		       "    \"migrate_vma_ms\": %.6f,\n    \"device_fault_ms\": %.6f,\n",
		       r->flushes, r->flush_ms, r->migrate_ms, r->fault_ms);
	else
		printf("    \"tlb_flushes\": null,\n    \"tlb_flush_ms\": null,\n");
	printf("    \"wall_ms\": %.6f\n  }%s\n", r->wall_ms, last ? "" : ",");
}

static void print_json(const struct demo *d, const struct result *on, const struct result *off)
{
	printf("{\n  \"pages\": %lu, \"fraction\": %g, \"resident_pages\": %lu, \"tlb_flush_ns\": %lu, "
	       "\"rounds\": %lu,\n",
	       d->pages, d->fraction, d->resident, d->tlb_ns, d->rounds);
	json_run("with_filter", on, false);
	json_run("without_filter", off, true);
	printf("}\n");
}

int cmd_demo(int argc, char **argv)
{
	struct demo d = { .pages = 16384, .fraction = 0.5, .tlb_ns = 2000, .rounds = 3 };
	struct result on, off;
	unsigned long events = 0;
	const char *v;
	bool missing;
	int rc, i;

	for (i = 1; i < argc; i++) {
		if ((v = opt_value(argc, argv, &i, "--pages", &missing))) {
			if (parse_ulong(v, 1, DEMO_MAX_PAGES, &d.pages))
				return cli_usage("--pages '%s' out of range (1..%lu)", v, DEMO_MAX_PAGES);
		} else if (!missing && (v = opt_value(argc, argv, &i, "--fraction", &missing))) {
			if (parse_double(v, 0, 1, &d.fraction))
				return cli_usage("--fraction '%s' out of range (0..1)", v);
		} else if (!missing && (v = opt_value(argc, argv, &i, "--tlb-flush-ns", &missing))) {
			if (parse_ulong(v, 0, 100000000UL, &d.tlb_ns))
				return cli_usage("--tlb-flush-ns '%s' out of range (0..100000000)", v);
		} else if (!missing && (v = opt_value(argc, argv, &i, "--rounds", &missing))) {
			if (parse_ulong(v, 1, DEMO_MAX_ROUNDS, &d.rounds))
				return cli_usage("--rounds '%s' out of range (1..%d)", v, DEMO_MAX_ROUNDS);
		} else if (!missing && (v = opt_value(argc, argv, &i, "--trace", &missing))) {
			d.trace = v;
		} else if (missing) {
			return cli_usage("%s needs a value", argv[i]);
		} else if (!strcmp(argv[i], "--json")) {
			d.json = true;
		} else {
			return cli_usage("unknown argument '%s' (try 'uhmm demo --help')", argv[i]);
		}
	}
	d.resident = (unsigned long)(d.fraction * (double)d.pages + 0.5);
	if (d.trace) {
		int r = trace_json_start(d.trace, "uhmm demo", false);

		if (r)
			return cli_fail("cannot write trace '%s': %s", d.trace, strerror(-r));
		ctr.forward = true;
	}
	uhmm_trace_set(&demo_tracer);
	rc = run_rounds(&d, &on, &off);
	uhmm_trace_set(NULL);
	ctr.forward = false;
	if (d.trace) {
		unsigned long n = trace_json_events();
		int r = trace_json_finish();

		if (r && rc == CLI_OK)
			rc = cli_fail("writing trace '%s': %s", d.trace, strerror(-r));
		else if (!r && rc == CLI_OK)
			events = n;
	}
	if (rc != CLI_OK)
		return rc;
	if (d.json)
		print_json(&d, &on, &off);
	else
		print_table(&d, &on, &off);
	if (d.trace)
		cli_note("wrote %lu trace events to %s", events, d.trace);
	return CLI_OK;
}
