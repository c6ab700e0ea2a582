/* SPDX-License-Identifier: MIT */
/* thp.c - a transparent-huge-page write fault against memset of the same 2 MiB.
 *
 * Subject 1: a one-byte uhmm_cpu_write into a fresh, MADV_HUGEPAGE-advised,
 * aligned 2 MiB range: the fault allocates a 2 MiB block, zeroes it and maps
 * it with one PMD entry. Subject 2: the same 2 MiB faulted as 512 base pages
 * (one one-byte write each, THP off by MADV_NOHUGEPAGE). Baseline: memset of
 * 2 MiB into a pre-touched buffer, the work a huge-page fault cannot avoid,
 * in the same run. Between repetitions MADV_DONTNEED frees the range
 * (untimed), so the block and frames are reused warm, as the baseline's
 * buffer is. Goal: the huge-page fault at most 1.2x the memset.
 */
#include "bench_util.h"

#define HPAGE (2UL << 20)
#define NR (HPAGE / BENCH_PAGE)
#define BASE (64UL << 30)

static double fault_huge(struct uhmm_mm *mm, unsigned long addr)
{
	unsigned char v = 1;
	uint64_t t0, t1;

	t0 = bench_now_ns();
	BENCH_CHECK(uhmm_cpu_write(mm, addr, &v, 1));
	t1 = bench_now_ns();
	BENCH_CHECK(uhmm_madvise(mm, addr, HPAGE, MADV_DONTNEED));
	return (double)(t1 - t0);
}

static double fault_base(struct uhmm_mm *mm, unsigned long addr)
{
	unsigned char v = 1;
	uint64_t t0, t1;
	unsigned long i;

	t0 = bench_now_ns();
	for (i = 0; i < NR; i++)
		BENCH_CHECK(uhmm_cpu_write(mm, addr + i * BENCH_PAGE, &v, 1));
	t1 = bench_now_ns();
	BENCH_CHECK(uhmm_madvise(mm, addr, HPAGE, MADV_DONTNEED));
	return (double)(t1 - t0);
}

static double do_memset(unsigned char *buf, int r)
{
	uint64_t t0, t1;

	__asm__ volatile("" : : "r"(buf) : "memory");
	t0 = bench_now_ns();
	memset(buf, r, HPAGE);
	__asm__ volatile("" : : "r"(buf) : "memory");
	t1 = bench_now_ns();
	bench_sink += buf[r & (HPAGE - 1)];
	return (double)(t1 - t0);
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	struct uhmm_system_opts so = { .ram_bytes = 64UL << 20 };
	struct uhmm_system *sys;
	struct uhmm_mm *mm;
	struct uhmm_pte_info pi;
	double th[BENCH_MAX_ROUNDS], tb[BENCH_MAX_ROUNDS], bm[BENCH_MAX_ROUNDS];
	unsigned long addr, reps;
	unsigned char *buf;
	int r;

	bench_parse_args(argc, argv, &o, "thp", NULL);
	reps = o.quick ? 9 : 41;
	BENCH_CHECK(uhmm_system_create(&so, &sys));
	BENCH_CHECK(uhmm_mm_create(sys, &mm));
	bench_header(&o, "a 2 MiB huge-page write fault, and 512 base-page faults, vs memset of 2 MiB");
	BENCH_CHECK(uhmm_mmap(mm, BASE, 2 * HPAGE, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, &addr));
	BENCH_CHECK(uhmm_madvise(mm, BASE, HPAGE, MADV_HUGEPAGE));
	BENCH_CHECK(uhmm_madvise(mm, BASE + HPAGE, HPAGE, MADV_NOHUGEPAGE));
	buf = bench_alloc_touched(HPAGE);

	/* the subjects do what they claim: one PMD mapping, then base pages */
	{
		unsigned char v = 1;

		BENCH_CHECK(uhmm_cpu_write(mm, BASE, &v, 1));
		BENCH_CHECK(uhmm_mm_query_pte(mm, BASE + HPAGE - BENCH_PAGE, &pi));
		if (pi.order != 9)
			bench_die("the advised range was not mapped by a huge page (order %u)", pi.order);
		BENCH_CHECK(uhmm_cpu_write(mm, BASE + HPAGE, &v, 1));
		BENCH_CHECK(uhmm_mm_query_pte(mm, BASE + HPAGE, &pi));
		if (pi.order != 0)
			bench_die("the NOHUGEPAGE range was mapped by a huge page");
		BENCH_CHECK(uhmm_madvise(mm, BASE, 2 * HPAGE, MADV_DONTNEED));
	}

	for (r = 0; r < o.rounds; r++) {
		double rh[BENCH_MAX_ROUNDS], rb[BENCH_MAX_ROUNDS], rm[BENCH_MAX_ROUNDS];
		unsigned long j;

		/* one repetition = each of the three, in an order that turns with the round */
		for (j = 0; j < reps; j++) {
			int k;

			for (k = 0; k < 3; k++) {
				switch ((k + r + (int)j) % 3) {
				case 0: rh[j] = fault_huge(mm, BASE); break;
				case 1: rb[j] = fault_base(mm, BASE + HPAGE); break;
				default: rm[j] = do_memset(buf, r + (int)j); break;
				}
			}
		}
		th[r] = bench_median(rh, (int)reps);
		tb[r] = bench_median(rb, (int)reps);
		bm[r] = bench_median(rm, (int)reps);
	}

	bench_table_begin("thp: us per 2 MiB (ratio = subject / baseline)");
	{
		double rh = bench_median_ratio(th, bm, o.rounds), rb = bench_median_ratio(tb, bm, o.rounds);

		bench_row(&o, "THP write fault vs memset 2 MiB", "order 9", bench_median(th, o.rounds) / 1000,
			  bench_median(bm, o.rounds) / 1000, "us", rh, "<= 1.2x", rh <= 1.2 ? BENCH_PASS : BENCH_MISS);
		bench_row(&o, "512 base-page faults vs memset", "order 0", bench_median(tb, o.rounds) / 1000,
			  bench_median(bm, o.rounds) / 1000, "us", rb, "-", BENCH_NOGOAL);
	}
	BENCH_CHECK(uhmm_munmap(mm, BASE, 2 * HPAGE));
	uhmm_mm_put(mm);
	uhmm_system_destroy(sys);
	free(buf);
	return 0;
}
