/* SPDX-License-Identifier: MIT */
/* notifier.c - interval-notifier dispatch cost against the number of registered notifiers.
 *
 * For n = 16, 64, ..., 65536 disjoint 1-page interval notifiers spread over
 * a large range of one mm: the time of one invalidation (start + end by hand
 * on a 1-page range) that hits exactly one notifier, against a binary search
 * over n sorted keys for the same targets in the same run. An interval tree
 * is O(log n + k), so t(65536) / t(16) should stay small (goal <= 4).
 *
 * Targets are a fixed pseudo-random sequence over the n notifiers, the same
 * for subject and baseline, timed in chunks of 2000 operations with subject
 * and baseline interleaved (a round keeps the median chunk). Every
 * invalidation must call exactly one invalidate(): checked per chunk. An
 * info row repeats the growth with ascending targets (a forward sweep, the
 * cache-friendly case).
 */
#include "bench_util.h"

#define NR_SIZES 7
#define SPREAD_PAGES (1UL << 24)	/* intervals spread over 64 GiB of address space */
#define BASE_ADDR (1UL << 40)
#define CHUNK 2000UL	/* operations per timed chunk (tens of us) */

struct bnotifier {
	struct uhmm_mmu_interval_notifier sub;
	unsigned long hits;
};

static bool bn_invalidate(struct uhmm_mmu_interval_notifier *sub, const struct uhmm_mmu_notifier_range *range,
			  unsigned long cur_seq)
{
	struct bnotifier *b = (struct bnotifier *)((char *)sub - offsetof(struct bnotifier, sub));

	(void)range;
	/* What a driver's callback does at least: publish the new sequence (no device to zap). */
	uhmm_mmu_interval_set_seq(sub, cur_seq);
	b->hits++;
	return true;
}

static const struct uhmm_mmu_interval_notifier_ops bn_ops = { .invalidate = bn_invalidate };

struct size_case {
	unsigned long n;
	struct uhmm_mm *mm;
	struct bnotifier *subs;
	unsigned long *keys;	/* sorted starts, the baseline's array */
	unsigned long *targets;	/* K addresses to invalidate / look up, uniform */
	unsigned long *seq_targets;	/* K addresses in ascending order, wrapping (info row) */
	double t[BENCH_MAX_ROUNDS], b[BENCH_MAX_ROUNDS];
	double ts[BENCH_MAX_ROUNDS], bs[BENCH_MAX_ROUNDS];
};

static unsigned long stride_pages(unsigned long n)
{
	return SPREAD_PAGES / n;
}

static double time_invalidations(struct size_case *c, const unsigned long *targets, unsigned long k)
{
	unsigned long i, hits = 0;
	uint64_t t0, t1;

	for (i = 0; i < c->n; i++)
		c->subs[i].hits = 0;
	t0 = bench_now_ns();
	for (i = 0; i < k; i++) {
		struct uhmm_mmu_notifier_range r = {
			.mm = c->mm,
			.start = targets[i],
			.end = targets[i] + BENCH_PAGE,
			.event = UHMM_MMU_NOTIFY_CLEAR,
		};

		uhmm_mmu_notifier_invalidate_range_start(&r);
		uhmm_mmu_notifier_invalidate_range_end(&r);
	}
	t1 = bench_now_ns();
	for (i = 0; i < c->n; i++)
		hits += c->subs[i].hits;
	if (hits != k)
		bench_die("n=%lu: %lu invalidations called invalidate() %lu times", c->n, k, hits);
	return (double)(t1 - t0) / (double)k;
}

/* Lower-bound binary search: the index of the last key <= x. */
static unsigned long bsearch_le(const unsigned long *keys, unsigned long n, unsigned long x)
{
	unsigned long lo = 0, hi = n;

	while (hi - lo > 1) {
		unsigned long mid = lo + (hi - lo) / 2;

		if (keys[mid] <= x)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static double time_bsearch(struct size_case *c, const unsigned long *targets, unsigned long k)
{
	unsigned long i, acc = 0;
	uint64_t t0, t1;

	t0 = bench_now_ns();
	for (i = 0; i < k; i++)
		acc += bsearch_le(c->keys, c->n, targets[i]);
	t1 = bench_now_ns();
	bench_sink += acc;
	return (double)(t1 - t0) / (double)k;
}

int main(int argc, char **argv)
{
	static const unsigned long sizes[NR_SIZES] = { 16, 64, 256, 1024, 4096, 16384, 65536 };
	struct size_case cases[NR_SIZES];
	struct bench_opts o;
	struct uhmm_system *sys;
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	double growth[BENCH_MAX_ROUNDS], bgrowth[BENCH_MAX_ROUNDS], sgrowth[BENCH_MAX_ROUNDS], sbgrowth[BENCH_MAX_ROUNDS];
	unsigned long k, i;
	int s, r;

	bench_parse_args(argc, argv, &o, "notifier", NULL);
	k = o.quick ? 20 * CHUNK : 50 * CHUNK;	/* at most BENCH_MAX_ROUNDS chunks */
	BENCH_CHECK(uhmm_system_create(NULL, &sys));
	bench_header(&o, "one 1-page invalidation hitting 1 of n interval notifiers vs binary search over n keys");
	printf("  per round and n: %lu invalidations in chunks of %lu (median chunk), targets uniform over the n\n"
	       "  notifiers (seed %#llx)\n", k, CHUNK, (unsigned long long)seed);

	for (s = 0; s < NR_SIZES; s++) {
		struct size_case *c = &cases[s];
		unsigned long st = stride_pages(sizes[s]);

		c->n = sizes[s];
		BENCH_CHECK(uhmm_mm_create(sys, &c->mm));
		c->subs = calloc(c->n, sizeof(*c->subs));
		c->keys = malloc(c->n * sizeof(*c->keys));
		c->targets = malloc(k * sizeof(*c->targets));
		c->seq_targets = malloc(k * sizeof(*c->seq_targets));
		if (!c->subs || !c->keys || !c->targets || !c->seq_targets)
			bench_die("out of memory");
		/* insert in a scrambled order, as a driver registering ranges over time would */
		for (i = 0; i < c->n; i++)
			c->keys[i] = i;
		bench_shuffle_ul(c->keys, c->n, &seed);
		for (i = 0; i < c->n; i++) {
			unsigned long idx = c->keys[i];

			BENCH_CHECK(uhmm_mmu_interval_notifier_insert(&c->subs[idx].sub, c->mm,
								      BASE_ADDR + idx * st * BENCH_PAGE, BENCH_PAGE,
								      &bn_ops));
		}
		for (i = 0; i < c->n; i++)
			c->keys[i] = BASE_ADDR + i * st * BENCH_PAGE;
		for (i = 0; i < k; i++)
			c->targets[i] = c->keys[bench_rand(&seed) % c->n];
		for (i = 0; i < k; i++)
			c->seq_targets[i] = c->keys[i % c->n];
		/* warm both up once (and check the hit count) */
		time_invalidations(c, c->targets, k < 1000 ? k : 1000);
		time_bsearch(c, c->targets, k < 1000 ? k : 1000);
	}

	for (r = 0; r < o.rounds; r++) {
		for (s = 0; s < NR_SIZES; s++) {
			struct size_case *c = &cases[s];
			double ct[BENCH_MAX_ROUNDS], cb[BENCH_MAX_ROUNDS];
			unsigned long ch, nch = k / CHUNK;

			/* chunks of CHUNK operations, subject and baseline interleaved; the round is their median */
			for (ch = 0; ch < nch; ch++) {
				const unsigned long *tg = c->targets + ch * CHUNK;

				if ((r + ch) % 2 == 0) {
					ct[ch] = time_invalidations(c, tg, CHUNK);
					cb[ch] = time_bsearch(c, tg, CHUNK);
				} else {
					cb[ch] = time_bsearch(c, tg, CHUNK);
					ct[ch] = time_invalidations(c, tg, CHUNK);
				}
			}
			c->t[r] = bench_median(ct, (int)nch);
			c->b[r] = bench_median(cb, (int)nch);
			if (s == 0 || s == NR_SIZES - 1) {
				for (ch = 0; ch < nch; ch++) {
					const unsigned long *tg = c->seq_targets + ch * CHUNK;

					ct[ch] = time_invalidations(c, tg, CHUNK);
					cb[ch] = time_bsearch(c, tg, CHUNK);
				}
				c->ts[r] = bench_median(ct, (int)nch);
				c->bs[r] = bench_median(cb, (int)nch);
			}
		}
		growth[r] = cases[NR_SIZES - 1].t[r] / cases[0].t[r];
		bgrowth[r] = cases[NR_SIZES - 1].b[r] / cases[0].b[r];
		sgrowth[r] = cases[NR_SIZES - 1].ts[r] / cases[0].ts[r];
		sbgrowth[r] = cases[NR_SIZES - 1].bs[r] / cases[0].bs[r];
	}

	bench_table_begin("notifier: ns per invalidation (ratio = subject / baseline)");
	for (s = 0; s < NR_SIZES; s++) {
		char param[32];

		snprintf(param, sizeof(param), "n=%lu", cases[s].n);
		bench_row(&o, "invalidate 1 page, 1 hit", param, bench_median(cases[s].t, o.rounds),
			  bench_median(cases[s].b, o.rounds), "ns", bench_median_ratio(cases[s].t, cases[s].b, o.rounds),
			  NULL, BENCH_NOGOAL);
	}
	{
		double gm = bench_median(growth, o.rounds), bm = bench_median(bgrowth, o.rounds);

		/* value = subject growth, baseline = binary-search growth, ratio = their quotient */
		bench_row(&o, "growth t(65536)/t(16)", "n=65536/16", gm, bm, "x", gm / bm, "<= 4",
			  gm <= 4 ? BENCH_PASS : BENCH_MISS);
		gm = bench_median(sgrowth, o.rounds);
		bm = bench_median(sbgrowth, o.rounds);
		bench_row(&o, "growth, ascending targets (info)", "n=65536/16", gm, bm, "x", gm / bm, NULL,
			  BENCH_NOGOAL);
	}
	printf("  growth rows: value = t(65536)/t(16) of uhmm, baseline = the same for the binary search\n");

	for (s = 0; s < NR_SIZES; s++) {
		struct size_case *c = &cases[s];

		for (i = 0; i < c->n; i++)
			uhmm_mmu_interval_notifier_remove(&c->subs[i].sub);
		uhmm_mm_put(c->mm);
		free(c->subs);
		free(c->keys);
		free(c->targets);
		free(c->seq_targets);
	}
	uhmm_system_destroy(sys);
	return 0;
}
