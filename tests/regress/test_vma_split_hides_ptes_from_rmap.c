/* SPDX-License-Identifier: MIT */
/* tests/regress/test_vma_split_hides_ptes_from_rmap.c - VMA splits and merges must not hide PTEs from rmap walks.
 *
 * Found by the torture test (tests/stress/torture.c): threads hung forever
 * in a CPU fault or hmm_range_fault on a migration entry whose migration had
 * ended (its page unlocked), and a device read segfaulted on a freed device
 * page. vma_split shrank the VMA and linked the split-off part in two
 * separate holds of the mapping lock, and vma_merge_pair unlinked one VMA
 * before growing the other: an rmap walk between the two saw no VMA over the
 * range. Walks that do not hold the address space's mmap lock (eviction by
 * physical range, as dmirror's RELEASE; a migration started in another
 * address space of the family) then missed the PTEs there, and
 * remove_migration_ptes left migration entries behind (while the new page,
 * mapped by nothing, was freed). Linux holds the rmap locks across
 * __split_vma and vma_merge; uhmm now changes both VMAs under one hold, and
 * keeps each mapping's VMA list oldest first so that mremap's and fork's new
 * VMAs are walked after their sources.
 *
 * One thread migrates a range to a dmirror device and evicts it (RELEASE)
 * again and again; the main thread splits and merges the range's VMA
 * (mprotect of alternate chunks), moves it (mremap) or forks. Every so often
 * the evictor pauses and no migration entry may be left. The race is
 * probabilistic: before the fix the split case failed within seconds in
 * most runs. Usage: test_vma_split_hides_ptes_from_rmap [--list | CASE_NAME].
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uhmm/dmirror.h>
#include <uhmm/uhmm.h>

#include "common/testdev.h"	/* testdev_run: the --list / case-name main */

#define PS UHMM_PAGE_SIZE
#define NPAGES 64UL
#define CHUNK 4UL
#define SECONDS 3.0
#define CHECK_EVERY 200UL

enum shape { SPLIT_MERGE, MREMAP, FORK };

struct race {
	struct uhmm_mm *mm;
	struct uhmm_dmirror *file;
	atomic_ulong addr;
	atomic_int stop, pause_req, paused;
	atomic_ulong rounds;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *evictor(void *arg)
{
	struct race *r = arg;
	char *buf = malloc(NPAGES * PS);

	while (buf && !atomic_load(&r->stop)) {
		struct uhmm_dmirror_cmd c = { atomic_load(&r->addr), buf, NPAGES, 0, 0 };

		if (atomic_load(&r->pause_req)) {
			atomic_store(&r->paused, 1);
			while (atomic_load(&r->pause_req) && !atomic_load(&r->stop))
				sched_yield();
			atomic_store(&r->paused, 0);
			continue;
		}
		/* results vary with the race (-ENOENT, -EINVAL mid-move): data is checked at the end */
		(void)uhmm_dmirror_ioctl(r->file, UHMM_DMIRROR_MIGRATE_TO_DEV, &c);
		c.npages = 1;
		(void)uhmm_dmirror_ioctl(r->file, UHMM_DMIRROR_RELEASE, &c);	/* uhmm_migrate_device_range */
		atomic_fetch_add(&r->rounds, 1);
	}
	free(buf);
	return NULL;
}

/* Migration entries in [addr, addr + NPAGES pages) of @mm: none may be left while nothing migrates. */
static unsigned long migration_entries(struct uhmm_mm *mm, unsigned long addr)
{
	unsigned long counts[6];

	assert_int_equal(uhmm_mm_count_ptes(mm, addr, addr + NPAGES * PS, counts), 0);
	return counts[UHMM_PTE_MIGRATION];
}

static void run(enum shape shape)
{
	struct uhmm_system_opts so = { .ram_bytes = 64UL << 20 };
	struct uhmm_system *sys;
	struct uhmm_dmirror_device *dev;
	struct uhmm_system_stats st;
	struct race r;
	pthread_t t;
	unsigned long it, a = 0x10000000UL, b = 0x20000000UL, out, k, stale = 0;
	unsigned char *buf = malloc(NPAGES * PS), *rb = malloc(NPAGES * PS);
	double deadline = now_s() + SECONDS;

	assert_non_null(buf);
	assert_non_null(rb);
	memset(&r, 0, sizeof(r));
	assert_int_equal(uhmm_system_create(&so, &sys), 0);
	assert_int_equal(uhmm_mm_create(sys, &r.mm), 0);
	assert_int_equal(uhmm_dmirror_device_create(sys, NULL, &dev), 0);
	assert_int_equal(uhmm_dmirror_open(dev, r.mm, &r.file), 0);
	assert_int_equal(uhmm_mmap(r.mm, a, NPAGES * PS, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, &out), 0);
	for (k = 0; k < NPAGES * PS; k++)
		buf[k] = (unsigned char)(k * 7 + 3);
	assert_int_equal(uhmm_cpu_write(r.mm, a, buf, NPAGES * PS), 0);
	atomic_store(&r.addr, a);
	assert_int_equal(pthread_create(&t, NULL, evictor, &r), 0);

	for (it = 1; now_s() < deadline; it++) {
		unsigned long cur = atomic_load(&r.addr);
		struct uhmm_mm *child = NULL;

		switch (shape) {
		case SPLIT_MERGE:
			/* alternate chunks read-only and back: splits, then merges */
			for (k = 1; k < NPAGES / CHUNK; k += 2)
				assert_int_equal(uhmm_mprotect(r.mm, cur + k * CHUNK * PS, CHUNK * PS,
							       it & 1 ? PROT_READ : PROT_READ | PROT_WRITE), 0);
			break;
		case MREMAP: {
			unsigned long to = cur == a ? b : a;

			assert_int_equal(uhmm_mremap(r.mm, cur, NPAGES * PS, NPAGES * PS,
						     MREMAP_MAYMOVE | MREMAP_FIXED, to, &out), 0);
			atomic_store(&r.addr, to);
			break;
		}
		case FORK:
			assert_int_equal(uhmm_mm_fork(r.mm, &child), 0);
			break;
		}
		if (it % CHECK_EVERY == 0 || child) {
			unsigned long n;

			atomic_store(&r.pause_req, 1);
			while (!atomic_load(&r.paused))
				sched_yield();
			n = migration_entries(r.mm, atomic_load(&r.addr));
			if (child)
				n += migration_entries(child, atomic_load(&r.addr));
			if (n && stale < 3)
				print_error("round %lu: %lu migration entries left behind\n", it, n);
			stale += n;
			atomic_store(&r.pause_req, 0);
		}
		if (child)
			uhmm_mm_put(child);
		if (stale)
			break;
	}
	atomic_store(&r.stop, 1);
	atomic_store(&r.pause_req, 0);
	pthread_join(t, NULL);
	print_message("%lu rounds of the main thread, %lu evictions, %lu stale migration entries\n", it,
		      atomic_load(&r.rounds), stale);
	assert_int_equal(stale, 0);
	/* nothing lost either (a stale entry would make this read hang) */
	assert_int_equal(uhmm_cpu_read(r.mm, atomic_load(&r.addr), rb, NPAGES * PS), 0);
	assert_memory_equal(rb, buf, NPAGES * PS);

	uhmm_dmirror_close(r.file);
	uhmm_mm_put(r.mm);
	uhmm_dmirror_device_destroy(dev);
	assert_int_equal(uhmm_system_get_stats(sys, &st), 0);
	assert_int_equal(st.used_pages, 1);
	uhmm_system_destroy(sys);
	free(buf);
	free(rb);
}

static void test_split_merge_during_eviction(void **state)
{
	(void)state;
	run(SPLIT_MERGE);
}

static void test_mremap_during_eviction(void **state)
{
	(void)state;
	run(MREMAP);
}

static void test_fork_during_eviction(void **state)
{
	(void)state;
	run(FORK);
}

static const struct CMUnitTest all_tests[] = {
	cmocka_unit_test(test_split_merge_during_eviction),
	cmocka_unit_test(test_mremap_during_eviction),
	cmocka_unit_test(test_fork_during_eviction),
};

int main(int argc, char **argv)
{
	return testdev_run("test_vma_split_hides_ptes_from_rmap", all_tests, sizeof(all_tests) / sizeof(all_tests[0]), argc, argv);
}
