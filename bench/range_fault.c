/* SPDX-License-Identifier: MIT */
/* range_fault.c - uhmm_range_fault snapshot of present pages against a plain page-table walk.
 *
 * Subject: a driver's snapshot of N present pages, as a driver takes it:
 * an interval notifier over the range, read_begin, mmap read lock,
 * uhmm_range_fault (default_flags 0, pfn_flags_mask 0: nothing faults),
 * unlock, and read_retry under the driver lock. Baseline: uhmm_mm_count_ptes
 * over the same range in the same run. Goal: <= 3x.
 *
 * N = 1 Mi pages (4 GiB of simulated RAM, reserved lazily; 256 Ki with
 * --quick). All pages are faulted in before anything is timed.
 */
#include <pthread.h>

#include "bench_util.h"

struct mirror {
	struct uhmm_mmu_interval_notifier sub;
	pthread_mutex_t lock;	/* the "driver lock": invalidate() and read_retry run under it */
	unsigned long invalidations;
};

static bool mirror_invalidate(struct uhmm_mmu_interval_notifier *sub, const struct uhmm_mmu_notifier_range *range,
			      unsigned long cur_seq)
{
	struct mirror *m = (struct mirror *)((char *)sub - offsetof(struct mirror, sub));

	if (uhmm_mmu_notifier_range_blockable(range))
		pthread_mutex_lock(&m->lock);
	else if (pthread_mutex_trylock(&m->lock))
		return false;
	uhmm_mmu_interval_set_seq(sub, cur_seq);
	m->invalidations++;
	pthread_mutex_unlock(&m->lock);
	return true;
}

static const struct uhmm_mmu_interval_notifier_ops mirror_ops = { .invalidate = mirror_invalidate };

/* One snapshot, with the retry loop a driver runs. Returns the number of tries. */
static int snapshot(struct mirror *m, struct uhmm_mm *mm, struct uhmm_range *range)
{
	int tries = 0;

	for (;;) {
		int r;

		tries++;
		range->notifier_seq = uhmm_mmu_interval_read_begin(&m->sub);
		uhmm_mmap_read_lock(mm);
		r = uhmm_range_fault(range);
		uhmm_mmap_read_unlock(mm);
		if (r == -EBUSY)
			continue;
		if (r)
			bench_die("uhmm_range_fault: %d", r);
		pthread_mutex_lock(&m->lock);
		if (uhmm_mmu_interval_read_retry(&m->sub, range->notifier_seq)) {
			pthread_mutex_unlock(&m->lock);
			continue;
		}
		/* here a driver would program its page table from range->hmm_pfns */
		pthread_mutex_unlock(&m->lock);
		return tries;
	}
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	struct uhmm_system_opts so = { 0 };
	struct uhmm_system *sys;
	struct uhmm_mm *mm;
	struct mirror m = { 0 };
	struct uhmm_range range = { 0 };
	unsigned long n, addr, i, reps, counts[6], *pfns;
	double t[BENCH_MAX_ROUNDS], b[BENCH_MAX_ROUNDS];
	char param[32];
	uint64_t t0;
	int r, extra_tries = 0;

	bench_parse_args(argc, argv, &o, "range_fault", NULL);
	n = o.quick ? (256UL << 10) : (1UL << 20);
	reps = o.quick ? 9 : 7;	/* snapshots of each per round */
	/* 5 GiB for 1 Mi pages: a lazily touched reservation, only the used part is backed */
	so.ram_bytes = n * BENCH_PAGE / 4 * 5;
	BENCH_CHECK(uhmm_system_create(&so, &sys));
	BENCH_CHECK(uhmm_mm_create(sys, &mm));
	bench_header(&o, "uhmm_range_fault snapshot of N present pages (driver flow) vs uhmm_mm_count_ptes");

	t0 = bench_now_ns();
	BENCH_CHECK(uhmm_mmap(mm, 0, n * BENCH_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, &addr));
	for (i = 0; i < n; i++) {
		unsigned char v = (unsigned char)(i | 1);

		BENCH_CHECK(uhmm_cpu_write(mm, addr + i * BENCH_PAGE, &v, 1));
		bench_progress("populate", i + 1, n);
	}
	printf("  populated %lu pages in %.2f s (untimed)\n", n, (double)(bench_now_ns() - t0) / 1e9);

	pthread_mutex_init(&m.lock, NULL);
	BENCH_CHECK(uhmm_mmu_interval_notifier_insert(&m.sub, mm, addr, n * BENCH_PAGE, &mirror_ops));
	pfns = bench_alloc_touched(n * sizeof(*pfns));
	range.notifier = &m.sub;
	range.start = addr;
	range.end = addr + n * BENCH_PAGE;
	range.hmm_pfns = pfns;
	range.default_flags = 0;
	range.pfn_flags_mask = 0;
	range.dev_private_owner = NULL;

	/* check the snapshot once: every page valid, writable, a real frame */
	snapshot(&m, mm, &range);
	for (i = 0; i < n; i++)
		if ((pfns[i] & (UHMM_PFN_VALID | UHMM_PFN_WRITE | UHMM_PFN_ERROR)) != (UHMM_PFN_VALID | UHMM_PFN_WRITE) ||
		    uhmm_pfn_to_pfn(pfns[i]) == 0)
			bench_die("hmm_pfns[%lu] = %#lx", i, pfns[i]);
	BENCH_CHECK(uhmm_mm_count_ptes(mm, range.start, range.end, counts));
	if (counts[UHMM_PTE_PRESENT] != n)
		bench_die("count_ptes: %lu present, expected %lu", counts[UHMM_PTE_PRESENT], n);

	for (r = 0; r < o.rounds; r++) {
		double rt[BENCH_MAX_ROUNDS], rb[BENCH_MAX_ROUNDS];
		unsigned long j;

		/* one repetition = one snapshot and one count_ptes, interleaved; the round is their median */
		for (j = 0; j < reps; j++) {
			int k;

			for (k = 0; k < 2; k++) {
				uint64_t s, e;

				if ((k == 0) == ((r + j) % 2 == 0)) {
					s = bench_now_ns();
					extra_tries += snapshot(&m, mm, &range) - 1;
					e = bench_now_ns();
					rt[j] = (double)(e - s) / (double)n;
					bench_sink += pfns[n - 1];
				} else {
					s = bench_now_ns();
					BENCH_CHECK(uhmm_mm_count_ptes(mm, range.start, range.end, counts));
					e = bench_now_ns();
					rb[j] = (double)(e - s) / (double)n;
					if (counts[UHMM_PTE_PRESENT] != n)
						bench_die("count_ptes miscounted");
				}
			}
		}
		t[r] = bench_median(rt, (int)reps);
		b[r] = bench_median(rb, (int)reps);
	}

	bench_table_begin("range_fault: ns per page (ratio = subject / baseline)");
	snprintf(param, sizeof(param), "N=%lu", n);
	{
		double ratio = bench_median_ratio(t, b, o.rounds);

		bench_row(&o, "range_fault snapshot vs count_ptes", param, bench_median(t, o.rounds),
			  bench_median(b, o.rounds), "ns/pg", ratio, "<= 3x", ratio <= 3 ? BENCH_PASS : BENCH_MISS);
	}
	if (extra_tries || m.invalidations)
		printf("  note: %d retries, %lu invalidations during the run\n", extra_tries, m.invalidations);

	uhmm_mmu_interval_notifier_remove(&m.sub);
	BENCH_CHECK(uhmm_munmap(mm, addr, n * BENCH_PAGE));
	uhmm_mm_put(mm);
	uhmm_system_destroy(sys);
	pthread_mutex_destroy(&m.lock);
	free(pfns);
	return 0;
}
