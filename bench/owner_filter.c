/* owner_filter.c - what the seed patch saves: the MIGRATE owner filter of a mirroring driver.
 *
 * For f = 0, 0.1, 0.5, 0.9 of a range of N pages already in device A's
 * memory (spread evenly over the range), A mirrors the whole range (READ),
 * migrates the whole range to itself (MIGRATE_TO_DEV), then reads it again
 * (READ). Two devices, identical but for the filter: "filter" skips the
 * MIGRATE invalidations its own migrations cause (default), "no filter"
 * (invalidate_own_migrations) zaps its device page table on them as drivers
 * did before the patch. Both simulate a 2 us device TLB flush per zapping
 * invalidation. Each device mirrors its own mm (a device's callback must not
 * see the other's migrations).
 *
 * Device entries invalidated: live mappings the device lost or had replaced.
 * With the filter that is the migration code replacing the entries of the
 * pages that move ((1 - f) N, counted in ptes_migrated; callbacks zap
 * nothing); without it the callbacks zap all N (ptes_zapped), and the
 * migration code then only fills slots they emptied. So the ratio filter /
 * no filter must be (1 - f) exactly.
 *
 * Wall time is the timed part (MIGRATE_TO_DEV + READ), median of paired
 * rounds alternating the two modes; the counters must be identical in
 * every round.
 */
#include <uhmm/dmirror.h>

#include "bench_util.h"

#define NR_FRACTIONS 4
#define TLB_FLUSH_NS 2000UL

struct mode {
	const char *name;
	bool no_filter;
	struct uhmm_dmirror_device *dev;
	struct uhmm_mm *mm;
	struct uhmm_dmirror *file;
	unsigned long addr;
};

/* Counters of one timed run (deltas of uhmm_dmirror_stats, plus the commands' own). */
struct run {
	unsigned long zapped, migrated, invalidations, skipped, faults, read_faults, moved;
	double ns, migrate_ns, read_ns;
	int migrate_ret;
};

static void *buf;

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
	unsigned long faults = 0;
	uint64_t t0, t1, t2;

	BENCH_CHECK(uhmm_dmirror_get_stats(m->file, &s0));
	t0 = bench_now_ns();
	out->migrate_ret = ioctl_range(m, UHMM_DMIRROR_MIGRATE_TO_DEV, 0, n, NULL);
	t1 = bench_now_ns();
	BENCH_CHECK(ioctl_range(m, UHMM_DMIRROR_READ, 0, n, &faults));
	t2 = bench_now_ns();
	out->ns = (double)(t2 - t0);
	out->migrate_ns = (double)(t1 - t0);
	out->read_ns = (double)(t2 - t1);
	BENCH_CHECK(uhmm_dmirror_get_stats(m->file, &s1));
	if (out->migrate_ret && out->migrate_ret != -ENOENT)
		bench_die("%s: MIGRATE_TO_DEV: %d", m->name, out->migrate_ret);
	out->zapped = s1.ptes_zapped - s0.ptes_zapped;
	out->migrated = s1.ptes_migrated - s0.ptes_migrated;
	out->invalidations = s1.invalidations - s0.invalidations;
	out->skipped = s1.invalidations_skipped - s0.invalidations_skipped;
	out->faults = s1.faults - s0.faults;
	out->read_faults = faults;
	out->moved = s1.pages_to_dev - s0.pages_to_dev;
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
	       a->migrate_ret == b->migrate_ret;
}

int main(int argc, char **argv)
{
	static const double fractions[NR_FRACTIONS] = { 0, 0.1, 0.5, 0.9 };
	struct mode modes[2] = { { .name = "filter", .no_filter = false }, { .name = "no filter", .no_filter = true } };
	struct run runs[NR_FRACTIONS][2][BENCH_MAX_ROUNDS];
	unsigned long on[NR_FRACTIONS];
	struct uhmm_system_opts so = { 0 };
	struct uhmm_system *sys;
	struct bench_opts o;
	unsigned long n;
	bool enoent = false;
	int fi, mi, r;

	bench_parse_args(argc, argv, &o, "owner_filter", NULL);
	n = o.quick ? 2048 : 16384;
	/* per mode: N data pages + N device backing pages; plus slack */
	so.ram_bytes = (4 * n + 4096) * BENCH_PAGE;
	BENCH_CHECK(uhmm_system_create(&so, &sys));
	bench_prefault_ram(sys);
	buf = bench_alloc_touched(n * BENCH_PAGE);
	bench_header(&o, "device A: READ, MIGRATE_TO_DEV of the whole range, READ; owner filter vs none");
	printf("  N=%lu pages, f of them on A's memory beforehand (spread evenly), device TLB flush %lu ns\n", n,
	       TLB_FLUSH_NS);

	for (mi = 0; mi < 2; mi++) {
		struct uhmm_dmirror_device_opts dopts = {
			.type = UHMM_MEMORY_DEVICE_PRIVATE,
			.memory_bytes = (n + 1024) * BENCH_PAGE,
			.invalidate_own_migrations = modes[mi].no_filter,
			.tlb_flush_ns = TLB_FLUSH_NS,
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

	for (r = 0; r < o.rounds; r++) {
		for (fi = 0; fi < NR_FRACTIONS; fi++) {
			int k;

			for (k = 0; k < 2; k++) {
				mi = (k + r + fi) % 2;	/* alternate which mode goes first */
				on[fi] = prepare(&modes[mi], n, fractions[fi]);
				timed_run(&modes[mi], n, &runs[fi][mi][r]);
				if (runs[fi][mi][r].migrate_ret == -ENOENT)
					enoent = true;
				if (r && !same_counters(&runs[fi][mi][r], &runs[fi][mi][0]))
					bench_die("f=%.1f %s: counters differ between rounds", fractions[fi],
						  modes[mi].name);
			}
		}
	}

	printf("\n%-5s %-9s %8s %8s %8s %8s %9s %8s %11s %8s %8s\n", "f", "mode", "inval'd", "zapped", "migrated",
	       "skipped", "callbacks", "refaults", "migrate ret", "mig ms", "read ms");
	for (fi = 0; fi < NR_FRACTIONS; fi++)
		for (mi = 0; mi < 2; mi++) {
			const struct run *x = &runs[fi][mi][0];
			double mns[BENCH_MAX_ROUNDS], rns[BENCH_MAX_ROUNDS];

			for (r = 0; r < o.rounds; r++) {
				mns[r] = runs[fi][mi][r].migrate_ns;
				rns[r] = runs[fi][mi][r].read_ns;
			}
			printf("%-5.1f %-9s %8lu %8lu %8lu %8lu %9lu %8lu %11d %8.2f %8.2f\n", fractions[fi],
			       modes[mi].name, invalidated(&modes[mi], x), x->zapped, x->migrated, x->skipped,
			       x->invalidations, x->read_faults, x->migrate_ret, bench_median(mns, o.rounds) / 1e6,
			       bench_median(rns, o.rounds) / 1e6);
		}
	printf("  inval'd = device entries invalidated: zapped by callbacks, plus (filter only) live entries the\n"
	       "  migration replaced; callbacks = invalidate() calls, skipped = of those ignored by the filter;\n"
	       "  refaults = fault rounds of the final READ (its cmd.faults); mig/read ms = medians\n");

	bench_table_begin("owner_filter: entries invalidated and wall time, filter vs no filter (ratio = filter / no filter)");
	for (fi = 0; fi < NR_FRACTIONS; fi++) {
		const struct run *a = &runs[fi][0][0], *b = &runs[fi][1][0];
		unsigned long ia = invalidated(&modes[0], a), ib = invalidated(&modes[1], b);
		double expect = (double)(n - on[fi]) / (double)n, ratio = ib ? (double)ia / (double)ib : 0;
		double ta[BENCH_MAX_ROUNDS], tb[BENCH_MAX_ROUNDS];
		char param[32], goal[32];
		bool exact = ia == n - on[fi] && ib == n;

		snprintf(param, sizeof(param), "f=%.1f", fractions[fi]);
		snprintf(goal, sizeof(goal), "= %.4f", expect);
		bench_row(&o, "device entries invalidated", param, (double)ia, (double)ib, "", ratio, goal,
			  exact ? BENCH_PASS : BENCH_MISS);
		for (r = 0; r < o.rounds; r++) {
			ta[r] = runs[fi][0][r].ns / 1e6;
			tb[r] = runs[fi][1][r].ns / 1e6;
		}
		bench_row(&o, "wall time MIGRATE_TO_DEV + READ", param, bench_median(ta, o.rounds),
			  bench_median(tb, o.rounds), "ms", bench_median_ratio(ta, tb, o.rounds), NULL, BENCH_NOGOAL);
	}
	printf("  goal: (1 - f) with f the exact fraction placed on the device; PASS = counts exactly (1-f)N and N\n");
	if (enoent)
		printf("  note: MIGRATE_TO_DEV returned -ENOENT (migrate ret -2) without the filter: its non-faulting\n"
		       "  read-back found the entries the callback zapped for pages already on the device; it then\n"
		       "  skips copying N pages out, so that mode's wall time is understated\n");

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
