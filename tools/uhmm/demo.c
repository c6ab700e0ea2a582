/* SPDX-License-Identifier: MIT */
/* demo.c - `uhmm demo`: the seed patch's saving, measured side by side and like for like.
 *
 * Device A mirrors N pages; the last fraction f of them is already in A's
 * memory; device B mirrors the same range. A migrates the whole range to
 * itself and reads it all. Run with dmirror's owner filter (A skips the
 * MIGRATE invalidations its own migration causes, as after "mm/notifier: add
 * migration invalidation type") and without it (invalidate_own_migrations,
 * as before). Without the filter the migration's read-back fails with
 * -ENOENT, as in the kernel; the demo then finishes the job as a real driver
 * would (re-fault the lost entries and read the range), so both columns end
 * in the same state having moved the same bytes. Times: host time in uhmm's
 * HMM paths (measured from trace spans), simulated device time (dmirror's
 * cost model) and their sum; a sentence says "faster" only beyond the
 * run-to-run spread of the measured part.
 */
#include <errno.h>
#include <stdarg.h>
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
#define NSENT 8

static const char owner_filter_line[] =
	"Owner filter: A's invalidate callback skips an invalidation when event == MIGRATE && owner == A (its own "
	"migration, whose code updates A's page table for exactly the pages that move); without it every "
	"callback zaps A's entries in the range.";

void help_demo(void)
{
	printf("usage: uhmm demo [--pages N] [--fraction F] [--tlb-flush-ns NS] [--rounds N] [--json]\n"
	       "                 [--plot FILE.png] [--trace FILE] [--policies]\n"
	       "\n"
	       "Device A mirrors N pages of an address space, the last fraction F of them already in\n"
	       "A's memory; device B mirrors the same range. A migrates the whole range to itself,\n"
	       "then reads it all. The scenario runs with dmirror's owner filter (A ignores the\n"
	       "MIGRATE invalidations its own migration causes) and without it; without it A\n"
	       "finishes the job as a real driver would (re-faults the entries it lost, reads the\n"
	       "range), so both end in the same state. Printed side by side: the counts, host time\n"
	       "in the HMM paths (measured), simulated device time (dmirror's cost model) and sum.\n"
	       "\n"
	       "  --pages N          pages in the range (default 16384, at most %lu)\n"
	       "  --fraction F       share of them already in A's memory, 0..1 (default 0.5)\n"
	       "  --tlb-flush-ns NS  the model's device-TLB flush (default 2000, the default model's)\n"
	       "  --rounds N         run each mode N times, alternating; host time is the median and\n"
	       "                     its spread (max - min; from 5 rounds on, without the fastest and\n"
	       "                     the slowest) decides what counts as a difference (default 5)\n"
	       "  --json             print the numbers and the sentences as JSON instead of the table\n"
	       "  --plot FILE.png    draw A's page table after the migration and the times (gnuplot)\n"
	       "  --policies         one table comparing the owner-filter policies drivers ship\n"
	       "                     (own-migrate, none, populating, thread) on the same scenario\n"
	       "  --trace FILE       write a Chrome trace-event JSON file (Perfetto, chrome://tracing)\n",
	       DEMO_MAX_PAGES);
}

/* ------------------------------------------------- counting the events */
/*
 * During the measured phase: the host time in uhmm's HMM paths (the spans of
 * migrate_vma_setup, _pages, _finalize and hmm_range_fault: the driver's own
 * copies between them stand in for the device's DMA and are modelled in the
 * device time instead), and the pages A's device faults covered. The demo is
 * single-threaded, but the tracer contract allows any thread: atomics.
 */
static struct {
	atomic_bool on;			/* count only during the measured phase */
	const void *dev_a;
	atomic_ulong hmm_ns;		/* summed HMM spans */
	atomic_ulong span_t0;		/* BEGIN of the open HMM span (they do not nest) */
	atomic_ulong fault_pages;	/* pages of A's dmirror_fault spans */
	atomic_bool seen;		/* the library emits its spans */
	bool forward;			/* --trace: pass every event to the JSON writer */
} ctr;

static bool hmm_span(const char *name)
{
	return !strcmp(name, "migrate_vma_setup") || !strcmp(name, "migrate_vma_pages") ||
	       !strcmp(name, "migrate_vma_finalize") || !strcmp(name, "hmm_range_fault");
}

static void demo_event(void *arg, const struct uhmm_trace_event *ev)
{
	(void)arg;
	if (ev->name && atomic_load_explicit(&ctr.on, memory_order_relaxed)) {
		if ((ev->phase == UHMM_TRACE_BEGIN || ev->phase == UHMM_TRACE_END) && hmm_span(ev->name)) {
			atomic_store_explicit(&ctr.seen, true, memory_order_relaxed);
			if (ev->phase == UHMM_TRACE_BEGIN)
				atomic_store_explicit(&ctr.span_t0, ev->ts_ns, memory_order_relaxed);
			else
				atomic_fetch_add_explicit(&ctr.hmm_ns, ev->ts_ns - atomic_load(&ctr.span_t0),
							  memory_order_relaxed);
		} else if (ev->phase == UHMM_TRACE_BEGIN && ev->device == ctr.dev_a &&
			   !strcmp(ev->name, "dmirror_fault")) {
			atomic_fetch_add_explicit(&ctr.fault_pages, (ev->end - ev->start) / PG, memory_order_relaxed);
		}
	}
	if (ctr.forward)
		trace_json_forward(ev);
}

static const struct uhmm_tracer demo_tracer = { .event = demo_event };

/* -------------------------------------------------------------- a run */
/* Simulated device time of A and B together, by category (ns). */
struct devtime {
	unsigned long long total, copy, fault, flush, pte;
};

struct result {
	bool filter;
	int migrate_err;		/* A's MIGRATE_TO_DEV: 0 or -ENOENT */
	unsigned long inval_a, skipped_a, zapped_a, zapped_b;
	unsigned long copied;		/* pages migrated into A */
	unsigned long pages_read;	/* pages A read from its memory: read-back, finishing READ, READ */
	unsigned long finish_rounds;	/* fault rounds of the finishing READ (no filter) */
	unsigned long finish_pages;	/* pages those rounds covered */
	unsigned long read_rounds;	/* fault rounds of the final READ */
	unsigned long flushes;		/* device TLB flushes of A and B (from the model) */
	unsigned long entries_written;	/* device page-table entries written on A and B (from the model) */
	bool counts_known;		/* flush and entry costs are non-zero: the counts above are exact */
	struct devtime dev;		/* deterministic */
	double host_ms;			/* median over rounds */
	double host_spread_ms;		/* max - min over rounds */
	double wall_ms;			/* median wall time of the phase (includes the copies' memcpy) */
	bool host_known;		/* the HMM spans were seen */
};

struct demo {
	unsigned long pages, resident, rounds;
	double fraction;
	unsigned long tlb_ns;
	struct uhmm_dmirror_cost cost;
	bool json;
	const char *trace, *plot;
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

static int dstats(struct uhmm_dmirror_device *dev, struct uhmm_dmirror_device_stats *st)
{
	return check(uhmm_dmirror_device_get_stats(dev, st), "uhmm_dmirror_device_get_stats");
}

static void devtime_add(struct devtime *t, const struct uhmm_dmirror_device_stats *s1,
			const struct uhmm_dmirror_device_stats *s0)
{
	t->total += s1->sim_ns_total - s0->sim_ns_total;
	t->copy += s1->sim_ns_copy - s0->sim_ns_copy;
	t->fault += s1->sim_ns_fault - s0->sim_ns_fault;
	t->flush += s1->sim_ns_flush - s0->sim_ns_flush;
	t->pte += s1->sim_ns_pte - s0->sim_ns_pte;
}

static int read_range(struct uhmm_dmirror *f, unsigned long addr, int *buf, unsigned long pages,
		      unsigned long *rounds, const char *what)
{
	struct uhmm_dmirror_cmd cmd = { .addr = addr, .ptr = buf, .npages = pages };
	int r = uhmm_dmirror_ioctl(f, UHMM_DMIRROR_READ, &cmd);

	if (r)
		return cli_fail_call(what, r);
	*rounds = cmd.faults;
	return CLI_OK;
}

/* One run of the scenario with device A (and B) under @policy. */
static int run_once(const struct demo *d, enum uhmm_dmirror_filter policy, struct result *res)
{
	struct uhmm_dmirror_device_opts o = {
		.type = UHMM_MEMORY_DEVICE_PRIVATE,
		.memory_bytes = d->pages * PG > (256UL << 20) ? d->pages * PG : 0,
		.filter = policy,
		.cost = &d->cost,
	};
	bool filter = policy != UHMM_DMIRROR_FILTER_NONE;
	struct uhmm_dmirror_stats a0, a1, b0, b1;
	struct uhmm_dmirror_device_stats da0, da1, db0, db1;
	struct uhmm_dmirror_device *A = NULL, *B = NULL;
	struct uhmm_dmirror *fa = NULL, *fb = NULL;
	struct uhmm_system *sys = d->sys;
	struct uhmm_mm *mm = NULL;
	struct uhmm_dmirror_cmd cmd;
	unsigned long addr, len = d->pages * PG, i, chunk = 256 * PG, rounds;
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
	ctr.dev_a = A;

	/* Setup: both devices map the whole range; then A takes the last
	 * fraction into its memory (B loses those pages: not its migration). */
	trace_json_begin(filter ? "setup (filter on)" : "setup (filter off)");
	if (read_range(fa, addr, buf, d->pages, &rounds, "uhmm_dmirror_ioctl(A, READ)") ||
	    read_range(fb, addr, buf, d->pages, &rounds, "uhmm_dmirror_ioctl(B, READ)"))
		goto out;
	if (d->resident) {
		cmd = (struct uhmm_dmirror_cmd){ .addr = addr + (d->pages - d->resident) * PG, .ptr = buf,
						 .npages = d->resident };
		if (check(uhmm_dmirror_ioctl(fa, UHMM_DMIRROR_MIGRATE_TO_DEV, &cmd),
			  "uhmm_dmirror_ioctl(A, MIGRATE_TO_DEV)"))
			goto out;
	}
	trace_json_end(filter ? "setup (filter on)" : "setup (filter off)");
	if (stats(fa, &a0) || stats(fb, &b0) || dstats(A, &da0) || dstats(B, &db0))
		goto out;

	/* The measured phase. */
	atomic_store(&ctr.hmm_ns, 0);
	atomic_store(&ctr.fault_pages, 0);
	atomic_store(&ctr.on, true);
	trace_json_begin(filter ? "measured (filter on)" : "measured (filter off)");
	t0 = now_ns();
	memset(buf, 0, len);
	cmd = (struct uhmm_dmirror_cmd){ .addr = addr, .ptr = buf, .npages = d->pages };
	res->migrate_err = uhmm_dmirror_ioctl(fa, UHMM_DMIRROR_MIGRATE_TO_DEV, &cmd);
	if (!res->migrate_err) {
		res->pages_read += d->pages;	/* the migration's read-back */
	} else if (res->migrate_err == -ENOENT) {
		/* Finish the job as a real driver: re-fault what was lost, read the range. */
		if (read_range(fa, addr, buf, d->pages, &res->finish_rounds, "uhmm_dmirror_ioctl(A, READ)"))
			goto out_off;
		res->finish_pages = atomic_load(&ctr.fault_pages);
		res->pages_read += d->pages;
	} else {
		cli_fail_call("uhmm_dmirror_ioctl(A, MIGRATE_TO_DEV)", res->migrate_err);
		goto out_off;
	}
	/* What the demo verifies: the read-back (or the finishing READ) got the data. */
	for (i = 0; i < len / sizeof(int); i++)
		if (buf[i] != (int)i) {
			cli_fail("A read %d at int %lu of the range, expected %lu: data corrupted", buf[i], i, i);
			goto out_off;
		}
	memset(buf, 0, len);
	if (read_range(fa, addr, buf, d->pages, &res->read_rounds, "uhmm_dmirror_ioctl(A, READ)"))
		goto out_off;
	res->pages_read += d->pages;
	t1 = now_ns();
	trace_json_end(filter ? "measured (filter on)" : "measured (filter off)");
	atomic_store(&ctr.on, false);
	if (stats(fa, &a1) || stats(fb, &b1) || dstats(A, &da1) || dstats(B, &db1))
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
	res->copied = a1.pages_to_dev - a0.pages_to_dev;
	devtime_add(&res->dev, &da1, &da0);
	devtime_add(&res->dev, &db1, &db0);
	res->counts_known = d->cost.tlb_flush_ns && d->cost.pte_write_ns;
	if (res->counts_known) {
		res->flushes = (unsigned long)(res->dev.flush / d->cost.tlb_flush_ns);
		res->entries_written = (unsigned long)(res->dev.pte / d->cost.pte_write_ns);
	}
	res->host_known = atomic_load(&ctr.seen);
	res->host_ms = (double)atomic_load(&ctr.hmm_ns) / 1e6;
	res->wall_ms = (double)(t1 - t0) / 1e6;
	rc = CLI_OK;
	goto out;
out_off:
	atomic_store(&ctr.on, false);
out:
	ctr.dev_a = NULL;
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

/* Everything but the measured times is deterministic: the same in every round. */
static bool same_counts(const struct result *a, const struct result *b)
{
	return a->migrate_err == b->migrate_err && a->inval_a == b->inval_a && a->skipped_a == b->skipped_a &&
	       a->zapped_a == b->zapped_a && a->zapped_b == b->zapped_b && a->copied == b->copied &&
	       a->pages_read == b->pages_read && a->finish_rounds == b->finish_rounds &&
	       a->read_rounds == b->read_rounds && a->dev.total == b->dev.total;
}

/* Alternate filter on / off for d->rounds rounds: counts from the last
 * round (checked equal in every round), host and wall time as medians. */
static int run_rounds(struct demo *d, struct result *on, struct result *off)
{
	struct uhmm_system_opts so = { .ram_bytes = (3 * d->pages + 8192) * PG };
	double w[2][2][DEMO_MAX_ROUNDS];	/* [on/off][host, wall][round] */
	struct result first[2];
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
		bool filter_first = !(k & 1);

		rc = run_once(d, filter_first ? UHMM_DMIRROR_FILTER_OWN_MIGRATE : UHMM_DMIRROR_FILTER_NONE,
			      filter_first ? on : off);
		if (rc == CLI_OK)
			rc = run_once(d, filter_first ? UHMM_DMIRROR_FILTER_NONE : UHMM_DMIRROR_FILTER_OWN_MIGRATE,
				      filter_first ? off : on);
		if (rc != CLI_OK)
			break;
		for (int m = 0; m < 2; m++) {
			const struct result *r = m ? off : on;

			if (k == 0)
				first[m] = *r;
			else if (!same_counts(r, &first[m]))
				rc = cli_fail("the counts of the %s run differ between rounds", m ? "no-filter" : "filter");
			w[m][0][k] = r->host_ms;
			w[m][1][k] = r->wall_ms;
		}
	}
	if (rc == CLI_OK) {
		for (int m = 0; m < 2; m++) {
			struct result *r = m ? off : on;

			for (int t = 0; t < 2; t++)
				qsort(w[m][t], d->rounds, sizeof(double), cmp_double);
			r->host_ms = w[m][0][d->rounds / 2];
			/* with 5 or more rounds the fastest and the slowest are dropped:
			 * one preempted round must not hide every difference */
			r->host_spread_ms = d->rounds >= 5 ? w[m][0][d->rounds - 2] - w[m][0][1]
							   : w[m][0][d->rounds - 1] - w[m][0][0];
			r->wall_ms = w[m][1][d->rounds / 2];
		}
	}
	if (d->sys)
		uhmm_system_destroy(d->sys);
	free(d->buf);
	return rc;
}

/* ------------------------------------------------------------ judging */
static double dev_ms(const struct result *r)
{
	return (double)r->dev.total / 1e6;
}

static double total_ms(const struct result *r)
{
	return r->host_ms + dev_ms(r);
}

enum verdict { V_EQUAL_WORK, V_EQUAL_NOISE, V_FASTER, V_SLOWER };

struct judgement {
	enum verdict v;
	bool same_work;		/* identical device work and results: the modes did the same thing */
	double noise_ms;	/* the largest difference noise can explain */
	double diff_ms;		/* total without - total with */
};

/*
 * The device time is modelled, so deterministic; the host time is measured.
 * A difference of the sums counts only beyond the larger run-to-run spread
 * of the host times. With one round there is no spread: then only a
 * difference larger than the larger host time itself counts.
 */
static struct judgement judge(const struct demo *d, const struct result *on, const struct result *off)
{
	struct judgement j;

	/* Who erased an entry (callback or migration code) is not work; what the device did is. */
	j.same_work = on->zapped_b == off->zapped_b && on->copied == off->copied &&
		      on->pages_read == off->pages_read && on->finish_rounds == off->finish_rounds &&
		      on->read_rounds == off->read_rounds && on->migrate_err == off->migrate_err &&
		      on->dev.copy == off->dev.copy && on->dev.fault == off->dev.fault &&
		      on->dev.flush == off->dev.flush && on->dev.pte == off->dev.pte;
	j.noise_ms = d->rounds > 1 ? (on->host_spread_ms > off->host_spread_ms ? on->host_spread_ms
									 : off->host_spread_ms)
				   : (on->host_ms > off->host_ms ? on->host_ms : off->host_ms);
	j.diff_ms = total_ms(off) - total_ms(on);
	if (j.same_work)
		j.v = V_EQUAL_WORK;
	else if (j.diff_ms > j.noise_ms)
		j.v = V_FASTER;
	else if (-j.diff_ms > j.noise_ms)
		j.v = V_SLOWER;
	else
		j.v = V_EQUAL_NOISE;
	return j;
}

static const char *verdict_name(enum verdict v)
{
	return v == V_FASTER ? "filter_faster" : v == V_SLOWER ? "filter_slower" : "equal";
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

#define ROW "  %-50s %20s %20s\n"

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

	snprintf(a, sizeof(a), "%.3f ms", on);
	snprintf(b, sizeof(b), "%.3f ms", off);
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

struct sentences {
	char s[NSENT][768];
	int n;
};

__attribute__((format(printf, 2, 3))) static void say(struct sentences *S, const char *fmt, ...)
{
	va_list ap;

	if (S->n == NSENT)
		return;
	va_start(ap, fmt);
	vsnprintf(S->s[S->n++], sizeof(S->s[0]), fmt, ap);
	va_end(ap);
}

static void sentences(const struct demo *d, const struct result *on, const struct result *off,
		      const struct judgement *j, struct sentences *S)
{
	unsigned long lost = off->zapped_a > off->copied ? off->zapped_a - off->copied : 0;
	char e[32];

	S->n = 0;
	/* 1. What A keeps. */
	if (lost && on->zapped_a == 0)
		say(S, "With the owner filter A ignored %s%lu MIGRATE invalidation%s its own migration caused and "
		       "kept its mapping%s of the %lu page%s already in its memory; without it A zapped %lu device "
		       "%s, %lu of them for pages that never moved.",
		    on->skipped_a > 1 ? "all " : "", on->skipped_a, pl(on->skipped_a), pl(d->resident), d->resident,
		    pl(d->resident), off->zapped_a, entries(off->zapped_a), lost);
	else if (lost)
		say(S, "A zapped %lu device %s with the owner filter and %lu without it, %lu of them for pages "
		       "that never moved.", on->zapped_a, entries(on->zapped_a), off->zapped_a, lost);
	else
		say(S, "With the owner filter A ignored %lu MIGRATE invalidation%s and without it zapped %lu device "
		       "%s, each for a page that moved anyway: with no page already in A's memory there is no "
		       "mapping for the filter to keep alive.",
		    on->skipped_a, pl(on->skipped_a), off->zapped_a, entries(off->zapped_a));

	/* 2. The extra work the no-filter run needed to end in the same state. */
	if (off->migrate_err && !on->migrate_err) {
		char extra[256] = "";

		if (on->counts_known && off->counts_known)
			snprintf(extra, sizeof(extra), ", %lu device %s written instead of %lu and %lu TLB flush%s "
				 "instead of %lu",
				 off->entries_written, entries(off->entries_written), on->entries_written,
				 off->flushes, off->flushes == 1 ? "" : "es", on->flushes);
		say(S, "Without the filter A's migration returned %s (its read-back found those mappings gone: the "
		       "failure hmm-tests' migrate_fault catches); finishing the job as a driver would - re-faulting "
		       "the lost entries and reading the range - took %lu fault round%s over %lu page%s%s.",
		    err_text(off->migrate_err, e, sizeof(e)), off->finish_rounds, pl(off->finish_rounds),
		    off->finish_pages, pl(off->finish_pages), extra);
	}

	/* 3. B. */
	if (on->zapped_b == off->zapped_b && on->zapped_b)
		say(S, "B lost %lu mapping%s in both runs: another device's migration must always invalidate it, "
		       "and the filter changes nothing for B.", on->zapped_b, pl(on->zapped_b));
	else if (on->zapped_b == off->zapped_b)
		say(S, "B had no mapping left to lose: A had already taken every page into its memory.");
	else
		say(S, "B lost %lu mapping%s with the filter and %lu without it.", on->zapped_b, pl(on->zapped_b),
		    off->zapped_b);

	/* 4. Like for like. */
	if (on->copied == off->copied && on->pages_read == off->pages_read)
		say(S, "Both runs end with A mapping all %lu pages, having migrated %lu page%s into A and read "
		       "%lu from it.", d->pages, on->copied, pl(on->copied), on->pages_read);
	else
		say(S, "The runs did not move the same pages (migrated %lu and %lu, read %lu and %lu): the times "
		       "below compare different work.", on->copied, off->copied, on->pages_read, off->pages_read);

	/* 5. Time, judged against the spread. */
	if (j->v == V_EQUAL_WORK)
		say(S, "Both modes did exactly the same work (the same counts and %.3f ms of simulated device "
		       "time), so they are equal; their host times (%.3f and %.3f ms) differ only by run-to-run "
		       "noise.", dev_ms(on), on->host_ms, off->host_ms);
	else if (j->v == V_EQUAL_NOISE)
		say(S, "Simulated device time was %.3f ms with the filter and %.3f ms without; with host time the "
		       "totals (%.3f and %.3f ms) differ by %.3f ms, within the run-to-run spread (%.3f ms%s): "
		       "equal as far as this run can tell.",
		    dev_ms(on), dev_ms(off), total_ms(on), total_ms(off), j->diff_ms < 0 ? -j->diff_ms : j->diff_ms,
		    j->noise_ms, d->rounds > 1 ? "" : ", one round: the whole host time");
	else
		say(S, "Simulated device time was %.3f ms with the filter and %.3f ms without; with host time the "
		       "phase took %.3f ms instead of %.3f ms in total: the filter made it %.2fx %s, beyond the "
		       "run-to-run spread (%.3f ms%s).",
		    dev_ms(on), dev_ms(off), total_ms(on), total_ms(off),
		    j->v == V_FASTER ? total_ms(off) / total_ms(on) : total_ms(on) / total_ms(off),
		    j->v == V_FASTER ? "faster" : "slower", j->noise_ms,
		    d->rounds > 1 ? "" : ", one round: the whole host time");
}

static void print_table(const struct demo *d, const struct result *on, const struct result *off,
			const struct sentences *S)
{
	char a[64], b[32];
	bool known = on->counts_known && off->counts_known;

	para(owner_filter_line);
	printf("\nuhmm demo: device A mirrors %lu pages (%.1f MiB), the last %lu (%.0f%%) already in its\n"
	       "memory; device B mirrors them too. A migrates the whole range to itself, then reads it.\n"
	       "Device model: %lu MB/s copies + %lu ns per transfer, %lu ns per fault round, %lu ns per\n"
	       "TLB flush, %lu ns per entry written (uhmm_dmirror_cost_default; --tlb-flush-ns sets the flush).\n\n",
	       d->pages, (double)(d->pages * PG) / (1 << 20), d->resident, d->fraction * 100,
	       d->cost.copy_bytes_per_us, d->cost.copy_setup_ns, d->cost.fault_ns, d->cost.tlb_flush_ns,
	       d->cost.pte_write_ns);
	printf(ROW, "", "owner filter on", "owner filter off");
	printf(ROW, "", "--------------------", "--------------------");
	row_ul("MIGRATE invalidations received by A", on->inval_a, off->inval_a);
	row_ul("  skipped by A (its own migration)", on->skipped_a, off->skipped_a);
	row_ul("device entries zapped on A", on->zapped_a, off->zapped_a);
	row_ul("device entries zapped on B", on->zapped_b, off->zapped_b);
	printf(ROW, "A's migration result", err_text(on->migrate_err, a, sizeof(a)),
	       err_text(off->migrate_err, b, sizeof(b)));
	row_ul("fault rounds to finish the job (re-fault, read)", on->finish_rounds, off->finish_rounds);
	row_ul("  pages they re-faulted", on->finish_pages, off->finish_pages);
	row_ul("fault rounds of the final read", on->read_rounds, off->read_rounds);
	row_ul("pages migrated into A", on->copied, off->copied);
	row_ul("pages A read from its memory", on->pages_read, off->pages_read);
	row_opt("device entries written (A and B)", known, on->entries_written, off->entries_written);
	row_opt("device TLB flushes (A and B)", known, on->flushes, off->flushes);
	row_ms("simulated device time: copies", (double)on->dev.copy / 1e6, (double)off->dev.copy / 1e6);
	row_ms("  fault rounds", (double)on->dev.fault / 1e6, (double)off->dev.fault / 1e6);
	row_ms("  TLB flushes", (double)on->dev.flush / 1e6, (double)off->dev.flush / 1e6);
	row_ms("  entries written", (double)on->dev.pte / 1e6, (double)off->dev.pte / 1e6);
	row_ms("simulated device time (A and B), modelled", dev_ms(on), dev_ms(off));
	snprintf(a, sizeof(a), "host time in HMM paths, median of %lu", d->rounds);
	if (on->host_known && off->host_known) {
		row_ms(a, on->host_ms, off->host_ms);
		row_ms(d->rounds >= 5 ? "  run-to-run spread (of the middle rounds)" : "  run-to-run spread (max - min)",
		       on->host_spread_ms, off->host_spread_ms);
		row_ms("host + device", total_ms(on), total_ms(off));
	} else {
		printf(ROW, a, "n/a", "n/a");
	}
	putchar('\n');
	for (int i = 0; i < S->n; i++)
		para(S->s[i]);
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
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
	       "    \"finish_fault_rounds\": %lu,\n"
	       "    \"finish_pages\": %lu,\n"
	       "    \"refault_rounds\": %lu,\n"
	       "    \"pages_copied\": %lu,\n"
	       "    \"pages_read\": %lu,\n",
	       key, r->filter ? "true" : "false", r->inval_a, r->skipped_a, r->zapped_a, r->zapped_b,
	       r->migrate_err, r->finish_rounds, r->finish_pages, r->read_rounds, r->copied, r->pages_read);
	if (r->counts_known)
		printf("    \"entries_written\": %lu,\n    \"tlb_flushes\": %lu,\n", r->entries_written, r->flushes);
	else
		printf("    \"entries_written\": null,\n    \"tlb_flushes\": null,\n");
	printf("    \"device_ms\": %.6f,\n    \"device_copy_ms\": %.6f,\n    \"device_fault_ms\": %.6f,\n"
	       "    \"device_flush_ms\": %.6f,\n    \"device_pte_ms\": %.6f,\n",
	       dev_ms(r), (double)r->dev.copy / 1e6, (double)r->dev.fault / 1e6, (double)r->dev.flush / 1e6,
	       (double)r->dev.pte / 1e6);
	if (r->host_known)
		printf("    \"host_ms\": %.6f,\n    \"host_spread_ms\": %.6f,\n    \"total_ms\": %.6f,\n", r->host_ms,
		       r->host_spread_ms, total_ms(r));
	else
		printf("    \"host_ms\": null,\n    \"host_spread_ms\": null,\n    \"total_ms\": null,\n");
	printf("    \"wall_ms\": %.6f\n  }%s\n", r->wall_ms, last ? "" : ",");
}

static void print_json(const struct demo *d, const struct result *on, const struct result *off,
		       const struct judgement *j, const struct sentences *S)
{
	printf("{\n  \"pages\": %lu, \"fraction\": %g, \"resident_pages\": %lu, \"tlb_flush_ns\": %lu, "
	       "\"rounds\": %lu,\n",
	       d->pages, d->fraction, d->resident, d->tlb_ns, d->rounds);
	printf("  \"owner_filter_means\": ");
	json_str(owner_filter_line);
	printf(",\n  \"same_work\": %s, \"noise_ms\": %.6f, \"verdict\": \"%s\",\n", j->same_work ? "true" : "false",
	       j->noise_ms, verdict_name(j->v));
	printf("  \"sentences\": [");
	for (int i = 0; i < S->n; i++) {
		printf("%s\n    ", i ? "," : "");
		json_str(S->s[i]);
	}
	printf("\n  ],\n");
	json_run("with_filter", on, false);
	json_run("without_filter", off, true);
	printf("}\n");
}

/* ------------------------------------------------------------ --policies */
#define NPOL 4
static const char *const policy_names[NPOL] = { "own-migrate", "none", "populating", "thread" };

/* Every policy, rotating which goes first each round; medians and spreads as run_rounds. */
static int run_policies(struct demo *d, struct result *res)
{
	struct uhmm_system_opts so = { .ram_bytes = (3 * d->pages + 8192) * PG };
	double w[NPOL][DEMO_MAX_ROUNDS];
	struct result first[NPOL];
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
	for (unsigned long k = 0; rc == CLI_OK && k < d->rounds; k++)
		for (int i = 0; rc == CLI_OK && i < NPOL; i++) {
			int p = (int)((i + k) % NPOL);

			rc = run_once(d, (enum uhmm_dmirror_filter)p, &res[p]);
			if (rc != CLI_OK)
				break;
			if (k == 0)
				first[p] = res[p];
			else if (!same_counts(&res[p], &first[p]))
				rc = cli_fail("the counts of policy %s differ between rounds", policy_names[p]);
			w[p][k] = res[p].host_ms;
		}
	if (rc == CLI_OK)
		for (int p = 0; p < NPOL; p++) {
			qsort(w[p], d->rounds, sizeof(double), cmp_double);
			res[p].host_ms = w[p][d->rounds / 2];
			res[p].host_spread_ms = d->rounds >= 5 ? w[p][d->rounds - 2] - w[p][1]
							     : w[p][d->rounds - 1] - w[p][0];
		}
	if (d->sys)
		uhmm_system_destroy(d->sys);
	free(d->buf);
	return rc;
}

/* One table, every policy against none (drivers before the patch), with the same honesty rules. */
static void print_policies(const struct demo *d, const struct result *res)
{
	const struct result *none = &res[UHMM_DMIRROR_FILTER_NONE];

	para(owner_filter_line);
	printf("\nuhmm demo --policies: device A mirrors %lu pages, the last %lu already in its memory; A migrates\n"
	       "the whole range (an ioctl: the driver is populating, on its own thread), then reads it; B mirrors\n"
	       "it too. Without a skip the -ENOENT migration is finished by a re-faulting READ. Median of %lu rounds.\n\n",
	       d->pages, d->resident, d->rounds);
	printf("  %-12s %8s %8s %7s %8s %8s %11s %11s %9s %11s  %s\n", "policy", "skipped", "zapped A", "faults",
	       "written", "flushes", "device ms", "host ms", "spread", "total ms", "vs none (beyond the spread?)");
	for (int p = 0; p < NPOL; p++) {
		const struct result *r = &res[p];
		struct judgement j = judge(d, r, none);
		const char *v = p == UHMM_DMIRROR_FILTER_NONE ? "-" : j.v == V_FASTER ? "faster" : j.v == V_SLOWER ? "slower"
								  : j.v == V_EQUAL_WORK ? "equal (same work)" : "equal (within spread)";

		printf("  %-12s %8lu %8lu %7lu %8lu %8lu %11.3f %11.3f %9.3f %11.3f  %s\n", policy_names[p], r->skipped_a,
		       r->zapped_a, r->finish_rounds, r->entries_written, r->flushes, dev_ms(r), r->host_ms,
		       r->host_spread_ms, total_ms(r), v);
	}
	printf("\n");
	para("In this scenario every migration is A's own ioctl on its own thread, so populating and thread skip "
	     "what own-migrate skips; they differ when a CPU fault pulls a page back (migrate_to_ram): only "
	     "own-migrate skips that (examples/filter_policies.uhmm).");
}

/* --plot: A's page table after the migration (from the scenario's layout,
 * checked against the counts) and the three times. */
static int draw(const struct demo *d, const struct result *on, const struct result *off)
{
	struct demo_plot p = {
		.pages = d->pages,
		.resident = d->resident,
		.host_ms = { on->host_ms, off->host_ms },
		.dev_ms = { dev_ms(on), dev_ms(off) },
	};

	/* The strips assume what the counts say: with the filter A zaps nothing and the
	 * migration maps the pages that move; without it A loses every entry. */
	if (on->zapped_a != 0 || off->zapped_a != d->pages || on->copied != d->pages - d->resident ||
	    off->copied != on->copied)
		return cli_fail("--plot: the counts do not match the scenario's layout; no plot");
	return plot_demo(d->plot, &p);
}

int cmd_demo(int argc, char **argv)
{
	struct demo d = { .pages = 16384, .fraction = 0.5, .tlb_ns = 2000, .rounds = 5 };
	struct result on, off, pol[NPOL];
	bool policies = false;
	struct judgement j;
	struct sentences S;
	unsigned long events = 0;
	const char *v;
	bool missing;
	int rc, i;

	d.tlb_ns = uhmm_dmirror_cost_default.tlb_flush_ns;
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
		} else if (!missing && (v = opt_value(argc, argv, &i, "--plot", &missing))) {
			d.plot = v;
		} else if (missing) {
			return cli_usage("%s needs a value", argv[i]);
		} else if (!strcmp(argv[i], "--json")) {
			d.json = true;
		} else if (!strcmp(argv[i], "--policies")) {
			policies = true;
		} else {
			return cli_usage("unknown argument '%s' (try 'uhmm demo --help')", argv[i]);
		}
	}
	d.resident = (unsigned long)(d.fraction * (double)d.pages + 0.5);
	d.cost = uhmm_dmirror_cost_default;
	d.cost.tlb_flush_ns = d.tlb_ns;
	if (d.trace) {
		int r = trace_json_start(d.trace, "uhmm demo", false);

		if (r)
			return cli_fail("cannot write trace '%s': %s", d.trace, strerror(-r));
		ctr.forward = true;
	}
	if (policies && (d.json || d.plot || d.trace))
		return cli_usage("--policies prints its own table: no --json, --plot or --trace with it");
	uhmm_trace_set(&demo_tracer);
	if (policies) {
		rc = run_policies(&d, pol);
		uhmm_trace_set(NULL);
		if (rc == CLI_OK)
			print_policies(&d, pol);
		return rc;
	}
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
	j = judge(&d, &on, &off);
	sentences(&d, &on, &off, &j, &S);
	if (d.json)
		print_json(&d, &on, &off, &j, &S);
	else
		print_table(&d, &on, &off, &S);
	if (d.plot)
		rc = draw(&d, &on, &off);
	if (d.trace)
		cli_note("wrote %lu trace events to %s", events, d.trace);
	return rc;
}
