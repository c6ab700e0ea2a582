/* SPDX-License-Identifier: MIT */
/* fault.c - CPU write-fault throughput: uhmm_cpu_write of one page at a time into a fresh mapping.
 *
 * Subject: write-fault N fresh pages (one 4 KiB uhmm_cpu_write each) of a
 * fresh anonymous mapping. Baseline: 4 KiB memcpy per page into a pre-faulted
 * flat array. Then two threads faulting disjoint halves against one thread:
 * with no global lock on the fault path, the speedup should come close to
 * what two threads of memcpy get on this machine (measured alongside: with
 * 64 MiB of frames both are bound by memory bandwidth). A cache-resident
 * variant (128 recycled frames, fault + MADV_DONTNEED cycles) removes the
 * bandwidth limit so that any serialisation between the threads shows; it
 * runs with each thread's pages under its own leaf page table, and with
 * both under one (sharing its PTL, as in Linux).
 *
 * Free RAM frames sit on per-thread shards, and a frame goes to the shard of
 * the thread that frees it: the two worker threads warm the RAM up and free
 * their own pages (MADV_DONTNEED of their half) so each keeps its own shard
 * stocked and no timed fault steals frames from the other or the host.
 * Timed jobs are short (a slice of the range, about a millisecond), subject
 * and baseline interleaved, and a round keeps its median job.
 */
#include <pthread.h>

#include "bench_util.h"

#define NR_WORKERS 2
#define HOT_PAGES 128UL	/* cache-resident variant: 512 KiB of frames */
#define LEAF_PAGES 512UL	/* pages under one leaf page table (2 MiB) */
#define SLICES 4		/* jobs per round and measurement */

enum job { JOB_NONE, JOB_FAULT, JOB_MEMCPY, JOB_DONTNEED, JOB_WARM, JOB_HOT_FAULT, JOB_HOT_MEMCPY, JOB_EXIT };

struct worker {
	pthread_t thread;
	int id;
	/* job arguments, set by main before the start barrier */
	enum job job;
	unsigned long start_page, npages;
	unsigned long iters;		/* hot jobs: repetitions */
	int result;
};

static struct {
	struct uhmm_mm *mm;
	unsigned long addr;		/* current uhmm mapping */
	unsigned char *flat;		/* baseline array, N pages, pre-faulted */
	unsigned char *src;		/* the 4 KiB written to every page */
	pthread_barrier_t start, done;
	struct worker w[NR_WORKERS];
} g;

static int do_fault(struct worker *w)
{
	unsigned long i;

	for (i = 0; i < w->npages; i++) {
		int r = uhmm_cpu_write(g.mm, g.addr + (w->start_page + i) * BENCH_PAGE, g.src, BENCH_PAGE);

		if (r)
			return r;
	}
	return 0;
}

static void do_memcpy(struct worker *w)
{
	unsigned long i;

	for (i = 0; i < w->npages; i++)
		memcpy(g.flat + (w->start_page + i) * BENCH_PAGE, g.src, BENCH_PAGE);
	/* keep the copies observable */
	bench_sink += g.flat[(w->start_page + w->npages - 1) * BENCH_PAGE];
}

/* Fault pages in until RAM runs out (-ENOMEM ends the warm-up, not an error). */
static int do_warm(struct worker *w)
{
	unsigned long i;
	char one = 1;

	for (i = 0; i < w->npages; i++) {
		int r = uhmm_cpu_write(g.mm, g.addr + (w->start_page + i) * BENCH_PAGE, &one, 1);

		if (r == -ENOMEM)
			break;
		if (r)
			return r;
	}
	return 0;
}

/*
 * Cache-resident variant: fault this worker's few pages, zap them
 * (MADV_DONTNEED), again and again: a fault+zap cycle. The frames come back LIFO from the worker's own shard, so
 * they stay in its cache: what is left is the fault path itself, and any lock
 * shared between the two workers would show.
 */
static int do_hot_fault(struct worker *w)
{
	unsigned long it;

	for (it = 0; it < w->iters; it++) {
		int r = do_fault(w);

		if (r)
			return r;
		r = uhmm_madvise(g.mm, g.addr + w->start_page * BENCH_PAGE, w->npages * BENCH_PAGE, MADV_DONTNEED);
		if (r)
			return r;
	}
	return 0;
}

static void do_hot_memcpy(struct worker *w)
{
	unsigned long it;

	for (it = 0; it < w->iters; it++)
		do_memcpy(w);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (;;) {
		pthread_barrier_wait(&g.start);
		w->result = 0;
		switch (w->job) {
		case JOB_FAULT:
			w->result = do_fault(w);
			break;
		case JOB_MEMCPY:
			do_memcpy(w);
			break;
		case JOB_WARM:
			w->result = do_warm(w);
			break;
		case JOB_DONTNEED:
			/* free this worker's pages from this thread: they return to its shard */
			w->result = uhmm_madvise(g.mm, g.addr + w->start_page * BENCH_PAGE, w->npages * BENCH_PAGE,
						 MADV_DONTNEED);
			break;
		case JOB_HOT_FAULT:
			w->result = do_hot_fault(w);
			break;
		case JOB_HOT_MEMCPY:
			do_hot_memcpy(w);
			break;
		case JOB_NONE:
			break;
		case JOB_EXIT:
			pthread_barrier_wait(&g.done);
			return NULL;
		}
		pthread_barrier_wait(&g.done);
	}
}

/*
 * Run @job on the workers: worker i gets [first[i], first[i] + count[i]) pages
 * (count 0: idle). Returns the wall time from the start barrier to the end one.
 */
static double run_job(enum job job, const unsigned long first[NR_WORKERS], const unsigned long count[NR_WORKERS])
{
	uint64_t t0, t1;
	int i;

	for (i = 0; i < NR_WORKERS; i++) {
		g.w[i].job = count[i] ? job : JOB_NONE;
		g.w[i].start_page = first[i];
		g.w[i].npages = count[i];
	}
	t0 = bench_now_ns();
	pthread_barrier_wait(&g.start);
	pthread_barrier_wait(&g.done);
	t1 = bench_now_ns();
	for (i = 0; i < NR_WORKERS; i++)
		if (g.w[i].result)
			bench_die("worker %d job %d: %d", i, job, g.w[i].result);
	return (double)(t1 - t0);
}

/*
 * Hot job: @hot_n pages split over @nthreads workers; worker i's pages start
 * at page @base + i * @stride. Wall time per page. (Wall time, not per-thread
 * busy time: on a loaded 2-CPU machine two threads may share one CPU, and a
 * thread's own clock would then hide the serialisation.)
 */
static double run_hot(enum job job, unsigned long base, unsigned long stride, unsigned long hot_n,
		      unsigned long iters, int nthreads)
{
	unsigned long f[NR_WORKERS] = { 0 }, c[NR_WORKERS] = { 0 };
	int i;

	for (i = 0; i < nthreads; i++) {
		f[i] = base + stride * i;
		c[i] = i == nthreads - 1 ? hot_n - hot_n / nthreads * i : hot_n / nthreads;
		g.w[i].iters = iters;
	}
	return run_job(job, f, c) / (double)(hot_n * iters);
}

static void map_fresh(unsigned long npages)
{
	BENCH_CHECK(uhmm_mmap(g.mm, 0, npages * BENCH_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			      &g.addr));
}

/* Free the mapping's pages back to the shards: worker i frees [first[i], +count[i]). */
static void unmap_balanced(unsigned long npages, const unsigned long first[NR_WORKERS],
			   const unsigned long count[NR_WORKERS])
{
	run_job(JOB_DONTNEED, first, count);
	BENCH_CHECK(uhmm_munmap(g.mm, g.addr, npages * BENCH_PAGE));
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	struct uhmm_system_opts so = { 0 };
	struct uhmm_system *sys;
	struct uhmm_system_stats st;
	unsigned long n, ram_pages, half;
	double t1[BENCH_MAX_ROUNDS], m1[BENCH_MAX_ROUNDS], t2[BENCH_MAX_ROUNDS], m2[BENCH_MAX_ROUNDS];
	double h1[BENCH_MAX_ROUNDS], hm1[BENCH_MAX_ROUNDS], h2[BENCH_MAX_ROUNDS], hm2[BENCH_MAX_ROUNDS];
	double hs[BENCH_MAX_ROUNDS];
	unsigned long hot_n = HOT_PAGES, hot_iters;
	double empty_job_us;
	char param[64];
	int r, i;

	bench_parse_args(argc, argv, &o, "fault", NULL);
	n = o.quick ? 4096 : 16384;
	hot_iters = o.quick ? 4 * 25 : 4 * 50;	/* per round: SLICES jobs of 25 or 50 iterations */
	half = n / 2;
	/* Each worker's shard must hold a whole run (1-thread runs use worker 0 alone). */
	ram_pages = 2 * n + 256;
	so.ram_bytes = ram_pages * BENCH_PAGE;
	BENCH_CHECK(uhmm_system_create(&so, &sys));
	BENCH_CHECK(uhmm_mm_create(sys, &g.mm));
	g.flat = bench_alloc_touched(n * BENCH_PAGE);
	g.src = bench_alloc_touched(BENCH_PAGE);
	for (i = 0; i < (int)BENCH_PAGE; i++)
		g.src[i] = (unsigned char)(i * 7 + 1);
	pthread_barrier_init(&g.start, NULL, NR_WORKERS + 1);
	pthread_barrier_init(&g.done, NULL, NR_WORKERS + 1);
	for (i = 0; i < NR_WORKERS; i++) {
		g.w[i].id = i;
		if (pthread_create(&g.w[i].thread, NULL, worker_main, &g.w[i]))
			bench_die("pthread_create");
	}

	bench_header(&o, "write-fault N fresh pages (uhmm_cpu_write, 4 KiB each) vs 4 KiB memcpy into a flat array");

	/* Warm-up: both workers fault in half of all RAM each, then free their own half. */
	{
		unsigned long all = ram_pages, wf[NR_WORKERS] = { 0, all / 2 }, wc[NR_WORKERS] = { all / 2, all - all / 2 };

		map_fresh(all);
		run_job(JOB_WARM, wf, wc);
		BENCH_CHECK(uhmm_system_get_stats(sys, &st));
		if (st.free_pages > 1)
			bench_die("warm-up left %lu RAM frames untouched", st.free_pages);
		unmap_balanced(all, wf, wc);
	}

	/* what a job costs the pool itself (barrier wake-ups), for reference */
	{
		const unsigned long zf[NR_WORKERS] = { 0 }, zc[NR_WORKERS] = { 0 };
		double e[BENCH_MAX_ROUNDS];

		for (i = 0; i < 21; i++)
			e[i] = run_job(JOB_NONE, zf, zc);
		empty_job_us = bench_median(e, 21) / 1e3;
	}

	for (r = 0; r < o.rounds; r++) {
		double s1[SLICES], sm1[SLICES], s2[SLICES], sm2[SLICES];
		double q1[SLICES], qm1[SLICES], q2[SLICES], qm2[SLICES], qs[SLICES];
		unsigned long sl = n / SLICES, base;
		int j;

		/*
		 * One fresh mapping per round, faulted slice by slice: a slice is
		 * one job (about a millisecond), its memcpy twin runs right before
		 * or after it, and the round keeps the median slice.
		 */
		map_fresh(n);
		for (j = 0; j < SLICES; j++) {
			const unsigned long f[NR_WORKERS] = { j * sl, 0 }, c[NR_WORKERS] = { sl, 0 };

			if ((r + j) % 2 == 0) {
				s1[j] = run_job(JOB_FAULT, f, c) / sl;
				sm1[j] = run_job(JOB_MEMCPY, f, c) / sl;
			} else {
				sm1[j] = run_job(JOB_MEMCPY, f, c) / sl;
				s1[j] = run_job(JOB_FAULT, f, c) / sl;
			}
		}
		/* worker 0 took n frames from its shard: it frees them, back to it */
		unmap_balanced(n, (const unsigned long[NR_WORKERS]){ 0, 0 }, (const unsigned long[NR_WORKERS]){ n, 0 });
		map_fresh(n);
		for (j = 0; j < SLICES; j++) {
			const unsigned long f[NR_WORKERS] = { j * sl / 2, half + j * sl / 2 };
			const unsigned long c[NR_WORKERS] = { sl / 2, sl / 2 };

			if ((r + j) % 2 == 0) {
				s2[j] = run_job(JOB_FAULT, f, c) / sl;
				sm2[j] = run_job(JOB_MEMCPY, f, c) / sl;
			} else {
				sm2[j] = run_job(JOB_MEMCPY, f, c) / sl;
				s2[j] = run_job(JOB_FAULT, f, c) / sl;
			}
		}
		unmap_balanced(n, (const unsigned long[NR_WORKERS]){ 0, half },
			       (const unsigned long[NR_WORKERS]){ half, n - half });
		t1[r] = bench_median(s1, SLICES);
		m1[r] = bench_median(sm1, SLICES);
		t2[r] = bench_median(s2, SLICES);
		m2[r] = bench_median(sm2, SLICES);

		/*
		 * Cache-resident: faults of a few recycled frames, and memcpy into
		 * as few. 2T "split": each worker's half under its own leaf table
		 * (own PTL); 2T "same leaf": both halves under one leaf, sharing
		 * its PTL as two threads faulting one 2 MiB region do in Linux.
		 */
		map_fresh(3 * LEAF_PAGES);
		base = (((g.addr + LEAF_PAGES * BENCH_PAGE - 1) & ~(LEAF_PAGES * BENCH_PAGE - 1)) - g.addr) / BENCH_PAGE;
		for (j = 0; j < SLICES; j++) {
			unsigned long it = hot_iters / SLICES;

			if ((r + j) % 2 == 0) {
				q1[j] = run_hot(JOB_HOT_FAULT, base, 0, hot_n, it, 1);
				qm1[j] = run_hot(JOB_HOT_MEMCPY, 0, 0, hot_n, it, 1);
				q2[j] = run_hot(JOB_HOT_FAULT, base, LEAF_PAGES, hot_n, it, 2);
				qm2[j] = run_hot(JOB_HOT_MEMCPY, 0, hot_n / 2, hot_n, it, 2);
				qs[j] = run_hot(JOB_HOT_FAULT, base, hot_n / 2, hot_n, it, 2);
			} else {
				qs[j] = run_hot(JOB_HOT_FAULT, base, hot_n / 2, hot_n, it, 2);
				qm2[j] = run_hot(JOB_HOT_MEMCPY, 0, hot_n / 2, hot_n, it, 2);
				q2[j] = run_hot(JOB_HOT_FAULT, base, LEAF_PAGES, hot_n, it, 2);
				qm1[j] = run_hot(JOB_HOT_MEMCPY, 0, 0, hot_n, it, 1);
				q1[j] = run_hot(JOB_HOT_FAULT, base, 0, hot_n, it, 1);
			}
		}
		BENCH_CHECK(uhmm_munmap(g.mm, g.addr, 3 * LEAF_PAGES * BENCH_PAGE));
		h1[r] = bench_median(q1, SLICES);
		hm1[r] = bench_median(qm1, SLICES);
		h2[r] = bench_median(q2, SLICES);
		hm2[r] = bench_median(qm2, SLICES);
		hs[r] = bench_median(qs, SLICES);
	}

	{
		double mt1 = bench_median(t1, o.rounds), mm1 = bench_median(m1, o.rounds);
		double mt2 = bench_median(t2, o.rounds), mm2 = bench_median(m2, o.rounds);

		bench_table_begin("fault: ns per page (ratio = subject / baseline, except speedup rows = baseline / subject)");
		snprintf(param, sizeof(param), "N=%lu", n);
		bench_row(&o, "write-fault 1 thread vs memcpy", param, mt1, mm1, "ns/pg",
			  bench_median_ratio(t1, m1, o.rounds), NULL, BENCH_NOGOAL);
		bench_row(&o, "write-fault 2 threads vs memcpy 2T", param, mt2, mm2, "ns/pg",
			  bench_median_ratio(t2, m2, o.rounds), NULL, BENCH_NOGOAL);
		bench_row(&o, "write-fault speedup 2T vs 1T", "threads=2", mt2, mt1, "ns/pg",
			  bench_median_ratio(t1, t2, o.rounds), NULL, BENCH_NOGOAL);
		bench_row(&o, "memcpy speedup 2T vs 1T (ref)", "threads=2", mm2, mm1, "ns/pg",
			  bench_median_ratio(m1, m2, o.rounds), NULL, BENCH_NOGOAL);
		snprintf(param, sizeof(param), "N=%lu hot", hot_n);
		bench_row(&o, "hot fault+zap cycle 1T vs memcpy", param, bench_median(h1, o.rounds),
			  bench_median(hm1, o.rounds), "ns/pg", bench_median_ratio(h1, hm1, o.rounds), NULL, BENCH_NOGOAL);
		bench_row(&o, "hot fault+zap speedup 2T vs 1T", "split leaves", bench_median(h2, o.rounds),
			  bench_median(h1, o.rounds), "ns/pg", bench_median_ratio(h1, h2, o.rounds), NULL, BENCH_NOGOAL);
		bench_row(&o, "hot fault+zap speedup 2T vs 1T", "same leaf", bench_median(hs, o.rounds),
			  bench_median(h1, o.rounds), "ns/pg", bench_median_ratio(h1, hs, o.rounds), NULL, BENCH_NOGOAL);
		bench_row(&o, "hot memcpy speedup 2T vs 1T (ref)", "threads=2", bench_median(hm2, o.rounds),
			  bench_median(hm1, o.rounds), "ns/pg", bench_median_ratio(hm1, hm2, o.rounds), NULL, BENCH_NOGOAL);
		printf("  2-thread values are wall time per page of both threads' work; a job (one slice of %lu pages,\n"
		       "  or %lu hot iterations) includes the pool's dispatch, %.1f us for an empty job\n",
		       n / SLICES, hot_iters / SLICES, empty_job_us);
	}

	run_job(JOB_EXIT, (const unsigned long[NR_WORKERS]){ 0 }, (const unsigned long[NR_WORKERS]){ 1, 1 });
	for (i = 0; i < NR_WORKERS; i++)
		pthread_join(g.w[i].thread, NULL);
	pthread_barrier_destroy(&g.start);
	pthread_barrier_destroy(&g.done);
	uhmm_mm_put(g.mm);
	uhmm_system_destroy(sys);
	free(g.flat);
	free(g.src);
	return 0;
}
