/* SPDX-License-Identifier: MIT */
/* owner_filter.c - what the seed patch saves: the MIGRATE owner filter of a mirroring driver, like for like.
 *
 * For f = 0, 0.1, 0.5, 0.9 of a range of N pages already in device A's
 * memory (spread evenly over the range), A mirrors the whole range (READ),
 * migrates the whole range to itself (MIGRATE_TO_DEV), then reads it again
 * (READ). Two devices, identical but for the filter: "filter" skips the
 * MIGRATE invalidations its own migrations cause (default), "no filter"
 * (invalidate_own_migrations) zaps its device page table on them as drivers
 * did before the patch. Without the filter MIGRATE_TO_DEV reports -ENOENT
 * (its read-back finds the zapped entries), and the benchmark then finishes
 * the job as a driver would: a READ that re-faults the lost entries and reads
 * the range. So both modes end in the same state, having moved the same
 * bytes. Each device mirrors its own mm (a device's callback must not see
 * the other's migrations). Both use dmirror's default device cost model.
 *
 * Device entries invalidated: live mappings the device lost or had replaced.
 * With the filter that is the migration code erasing and replacing the
 * entries of the pages that move ((1 - f) N, counted in ptes_migrated;
 * callbacks zap nothing); without it the callbacks zap all N (ptes_zapped),
 * and the migration code then only fills slots they emptied. So the ratio
 * filter / no filter must be (1 - f) exactly.
 *
 * Times of the timed part (MIGRATE_TO_DEV, the finishing READ, READ): host
 * time in uhmm's HMM paths (the trace spans of migrate_vma_* and
 * hmm_range_fault, summed by a tracer; dmirror's memcpy stands in for the
 * device's DMA and is in the device time instead), median of paired rounds;
 * simulated device time (the cost model: deterministic); their sum. The
 * counters must be identical in every round.
 */
#include <stdatomic.h>
#include <uhmm/dmirror.h>

#include "bench_util.h"

#define NR_FRACTIONS 4

struct mode {
	const char *name;
	bool no_filter;
	struct uhmm_dmirror_device *dev;
	struct uhmm_mm *mm;
	struct uhmm_dmirror *file;
	unsigned long addr;
};

/* Counters of one timed run (deltas of the dmirror statistics, plus the commands' own). */
struct run {
	unsigned long zapped, migrated, invalidations, skipped, faults, finish_faults, read_faults, moved;
	unsigned long long dev_ns;	/* simulated device time */
	double host_ns;			/* HMM spans */
	int migrate_ret;
};

static void *buf;

/* The tracer: sums the HMM spans while armed (single-threaded benchmark). */
static struct {
	atomic_bool on;
	atomic_ulong ns, t0;
} spans;

static void span_event(void *arg, const struct uhmm_trace_event *ev)
{
	(void)arg;
	if (!atomic_load_explicit(&spans.on, memory_order_relaxed) || !ev->name ||
	    (ev->phase != UHMM_TRACE_BEGIN && ev->phase != UHMM_TRACE_END))
		return;
	if (strcmp(ev->name, "migrate_vma_setup") && strcmp(ev->name, "migrate_vma_pages") &&
	    strcmp(ev->name, "migrate_vma_finalize") && strcmp(ev->name, "hmm_range_fault"))
		return;
	if (ev->phase == UHMM_TRACE_BEGIN)
		atomic_store_explicit(&spans.t0, ev->ts_ns, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&spans.ns, ev->ts_ns - atomic_load(&spans.t0), memory_order_relaxed);
}

static const struct uhmm_tracer span_tracer = { .event = span_event };

static int ioctl_range(struct mode *m, unsigned int req, unsigned long first, unsigned long npages,
		       unsigned long *faults)
{
	struct uhmm_dmirror_cmd cmd = { .addr = m->addr + first * BENCH_PAGE, .ptr = buf, .npages = npages };
	int r = uhmm_dmirror_ioctl(m->file, req, &cmd);

	if (faults)
		*faults = cmd.faults;
	return r;
}

/* Page i of N is on the device for fraction f: spread evenly (Bresenham). */
static bool on_device(unsigned long i, double f)
{
	return (unsigned long)((double)(i + 1) * f) != (unsigned long)((double)i * f);
}

/* Untimed: everything to RAM, then the f pages to the device, then a full mirror. Returns pages on the device. */
static unsigned long prepare(struct mode *m, unsigned long n, double f)
{
	unsigned long i, on = 0;

	BENCH_CHECK(ioctl_range(m, UHMM_DMIRROR_MIGRATE_TO_SYS, 0, n, NULL));
	for (i = 0; i < n;) {
		unsigned long run = 0;

		while (i + run < n && on_device(i + run, f))
			run++;
		if (run) {
			BENCH_CHECK(ioctl_range(m, UHMM_DMIRROR_MIGRATE_TO_DEV, i, run, NULL));
			on += run;
			i += run;
		} else {
			i++;
		}
	}
	BENCH_CHECK(ioctl_range(m, UHMM_DMIRROR_READ, 0, n, NULL));
	return on;
}

static void timed_run(struct mode *m, unsigned long n, struct run *out)
{
	struct uhmm_dmirror_stats s0, s1;
	struct uhmm_dmirror_device_stats d0, d1;

	memset(out, 0, sizeof(*out));
	BENCH_CHECK(uhmm_dmirror_get_stats(m->file, &s0));
	BENCH_CHECK(uhmm_dmirror_device_get_stats(m->dev, &d0));
	atomic_store(&spans.ns, 0);
	atomic_store(&spans.on, true);
	out->migrate_ret = ioctl_range(m, UHMM_DMIRROR_MIGRATE_TO_DEV, 0, n, NULL);
	if (out->migrate_ret == -ENOENT)	/* finish the job: re-fault what was lost, read the range */
		BENCH_CHECK(ioctl_range(m, UHMM_DMIRROR_READ, 0, n, &out->finish_faults));
	else if (out->migrate_ret)
		bench_die("%s: MIGRATE_TO_DEV: %d", m->name, out->migrate_ret);
	BENCH_CHECK(ioctl_range(m, UHMM_DMIRROR_READ, 0, n, &out->read_faults));
	atomic_store(&spans.on, false);
	out->host_ns = (double)atomic_load(&spans.ns);
	BENCH_CHECK(uhmm_dmirror_get_stats(m->file, &s1));
	BENCH_CHECK(uhmm_dmirror_device_get_stats(m->dev, &d1));
	out->zapped = s1.ptes_zapped - s0.ptes_zapped;
	out->migrated = s1.ptes_migrated - s0.ptes_migrated;
	out->invalidations = s1.invalidations - s0.invalidations;
	out->skipped = s1.invalidations_skipped - s0.invalidations_skipped;
	out->faults = s1.faults - s0.faults;
	out->moved = s1.pages_to_dev - s0.pages_to_dev;
	out->dev_ns = d1.sim_ns_total - d0.sim_ns_total;
}

/* Live device entries lost or replaced (see the top of the file). */
static unsigned long invalidated(const struct mode *m, const struct run *r)
{
	return m->no_filter ? r->zapped : r->zapped + r->migrated;
}

static bool same_counters(const struct run *a, const struct run *b)
{
	return a->zapped == b->zapped && a->migrated == b->migrated && a->invalidations == b->invalidations &&
	       a->skipped == b->skipped && a->faults == b->faults && a->moved == b->moved &&
	       a->migrate_ret == b->migrate_ret && a->dev_ns == b->dev_ns;
}

int main(int argc, char **argv)
{
	static const double fractions[NR_FRACTIONS] = { 0, 0.1, 0.5, 0.9 };
	struct mode modes[2] = { { .name = "filter", .no_filter = false }, { .name = "no filter", .no_filter = true } };
	static struct run runs[NR_FRACTIONS][2][BENCH_MAX_ROUNDS];
	unsigned long on[NR_FRACTIONS];
	struct uhmm_system_opts so = { 0 };
	struct uhmm_system *sys;
	struct bench_opts o;
	unsigned long n;
	int fi, mi, r;

	bench_parse_args(argc, argv, &o, "owner_filter", NULL);
	n = o.quick ? 2048 : 16384;
	/* per mode: N data pages + N device backing pages; plus slack */
	so.ram_bytes = (4 * n + 4096) * BENCH_PAGE;
	BENCH_CHECK(uhmm_system_create(&so, &sys));
	bench_prefault_ram(sys);
	buf = bench_alloc_touched(n * BENCH_PAGE);
	bench_header(&o, "device A: READ, MIGRATE_TO_DEV of the whole range, READ; owner filter vs none, like for like");
	printf("  N=%lu pages, f of them on A's memory beforehand (spread evenly); default device cost model\n"
	       "  (%lu MB/s + %lu ns per transfer, %lu ns per fault round, %lu ns per TLB flush, %lu ns per entry);\n"
	       "  without the filter the -ENOENT migration is finished by a READ (re-fault, read the range)\n",
	       n, uhmm_dmirror_cost_default.copy_bytes_per_us, uhmm_dmirror_cost_default.copy_setup_ns,
	       uhmm_dmirror_cost_default.fault_ns, uhmm_dmirror_cost_default.tlb_flush_ns,
	       uhmm_dmirror_cost_default.pte_write_ns);

	for (mi = 0; mi < 2; mi++) {
		struct uhmm_dmirror_device_opts dopts = {
			.type = UHMM_MEMORY_DEVICE_PRIVATE,
			.memory_bytes = (n + 1024) * BENCH_PAGE,
			.invalidate_own_migrations = modes[mi].no_filter,
		};
		struct mode *m = &modes[mi];
		unsigned long i;

		BENCH_CHECK(uhmm_dmirror_device_create(sys, &dopts, &m->dev));
		BENCH_CHECK(uhmm_mm_create(sys, &m->mm));
		BENCH_CHECK(uhmm_mmap(m->mm, 0, n * BENCH_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				      &m->addr));
		for (i = 0; i < n; i++) {
			unsigned long v = i;

			BENCH_CHECK(uhmm_cpu_write(m->mm, m->addr + i * BENCH_PAGE, &v, sizeof(v)));
		}
		BENCH_CHECK(uhmm_dmirror_open(m->dev, m->mm, &m->file));
		/* warm-up: attach all device memory chunks (lazily created) outside timed regions */
		BENCH_CHECK(ioctl_range(m, UHMM_DMIRROR_MIGRATE_TO_DEV, 0, n, NULL));
		BENCH_CHECK(ioctl_range(m, UHMM_DMIRROR_MIGRATE_TO_SYS, 0, n, NULL));
	}

	uhmm_trace_set(&span_tracer);
	for (r = 0; r < o.rounds; r++) {
		for (fi = 0; fi < NR_FRACTIONS; fi++) {
			int k;

			for (k = 0; k < 2; k++) {
				mi = (k + r + fi) % 2;	/* alternate which mode goes first */
				on[fi] = prepare(&modes[mi], n, fractions[fi]);
				timed_run(&modes[mi], n, &runs[fi][mi][r]);
				if (r && !same_counters(&runs[fi][mi][r], &runs[fi][mi][0]))
					bench_die("f=%.1f %s: counters differ between rounds", fractions[fi],
						  modes[mi].name);
			}
		}
	}
	uhmm_trace_set(NULL);

	printf("\n%-5s %-9s %8s %8s %8s %8s %9s %8s %8s %11s %9s %9s\n", "f", "mode", "inval'd", "zapped",
	       "migrated", "skipped", "callbacks", "finish", "refaults", "migrate ret", "host ms", "device ms");
	for (fi = 0; fi < NR_FRACTIONS; fi++)
		for (mi = 0; mi < 2; mi++) {
			const struct run *x = &runs[fi][mi][0];
			double h[BENCH_MAX_ROUNDS];

			for (r = 0; r < o.rounds; r++)
				h[r] = runs[fi][mi][r].host_ns;
			printf("%-5.1f %-9s %8lu %8lu %8lu %8lu %9lu %8lu %8lu %11d %9.3f %9.3f\n", fractions[fi],
			       modes[mi].name, invalidated(&modes[mi], x), x->zapped, x->migrated, x->skipped,
			       x->invalidations, x->finish_faults, x->read_faults, x->migrate_ret,
			       bench_median(h, o.rounds) / 1e6, (double)x->dev_ns / 1e6);
		}
	printf("  inval'd = device entries invalidated: zapped by callbacks, plus (filter only) live entries the\n"
	       "  migration erased and replaced; callbacks = invalidate() calls, skipped = of those ignored by the\n"
	       "  filter; finish = fault rounds of the READ that finishes a -ENOENT migration; refaults = fault\n"
	       "  rounds of the final READ; host ms = median; device ms = simulated (deterministic)\n");

	bench_table_begin("owner_filter: like for like, filter vs no filter (ratio = filter / no filter)");
	for (fi = 0; fi < NR_FRACTIONS; fi++) {
		const struct run *a = &runs[fi][0][0], *b = &runs[fi][1][0];
		unsigned long ia = invalidated(&modes[0], a), ib = invalidated(&modes[1], b);
		double expect = (double)(n - on[fi]) / (double)n, ratio = ib ? (double)ia / (double)ib : 0;
		double ha[BENCH_MAX_ROUNDS], hb[BENCH_MAX_ROUNDS], ta[BENCH_MAX_ROUNDS], tb[BENCH_MAX_ROUNDS];
		double da = (double)a->dev_ns / 1e6, db = (double)b->dev_ns / 1e6;
		char param[32], goal[32];
		bool exact = ia == n - on[fi] && ib == n;
		bool dev_ok = fractions[fi] > 0 ? da < db : a->dev_ns == b->dev_ns;

		snprintf(param, sizeof(param), "f=%.1f", fractions[fi]);
		snprintf(goal, sizeof(goal), "= %.4f", expect);
		bench_row(&o, "device entries invalidated", param, (double)ia, (double)ib, "", ratio, goal,
			  exact ? BENCH_PASS : BENCH_MISS);
		bench_row(&o, "simulated device time", param, da, db, "ms", db > 0 ? da / db : 0,
			  fractions[fi] > 0 ? "< 1" : "= 1", dev_ok ? BENCH_PASS : BENCH_MISS);
		for (r = 0; r < o.rounds; r++) {
			ha[r] = runs[fi][0][r].host_ns / 1e6;
			hb[r] = runs[fi][1][r].host_ns / 1e6;
			ta[r] = ha[r] + da;
			tb[r] = hb[r] + db;
		}
		bench_row(&o, "host time in HMM paths", param, bench_median(ha, o.rounds), bench_median(hb, o.rounds),
			  "ms", bench_median_ratio(ha, hb, o.rounds), NULL, BENCH_NOGOAL);
		bench_row(&o, "host + device time", param, bench_median(ta, o.rounds), bench_median(tb, o.rounds), "ms",
			  bench_median_ratio(ta, tb, o.rounds), NULL, BENCH_NOGOAL);
	}
	printf("  goals: entries (1 - f) with f the exact fraction placed on the device (PASS = exactly (1-f)N and\n"
	       "  N); simulated device time below the no-filter run's for f > 0, equal at f = 0 (same work).\n"
	       "  Both modes end with every page mapped, having moved and read the same pages.\n");

	for (mi = 0; mi < 2; mi++) {
		uhmm_dmirror_close(modes[mi].file);	/* drops the mm user reference the file took */
		uhmm_dmirror_device_destroy(modes[mi].dev);
		BENCH_CHECK(uhmm_munmap(modes[mi].mm, modes[mi].addr, n * BENCH_PAGE));
		uhmm_mm_put(modes[mi].mm);
	}
	uhmm_system_destroy(sys);
	free(buf);
	return 0;
}
