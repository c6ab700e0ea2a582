/* SPDX-License-Identifier: MIT */
/* tests/regress/test_publication_races.c - objects published before they were ready.
 *
 * Found by the torture test under ThreadSanitizer (tests/stress/torture.c):
 *
 *  - alloc_vs_evict_by_pfn: uhmm_zone_device_page_init made a device page's
 *    refcount 1 and only then set its page lock. An eviction by physical
 *    range (uhmm_migrate_device_range: get_unless_zero, then trylock) could
 *    slip in between, lock the page first, and the driver's allocation then
 *    hit its "already locked" BUG. Now the lock is set before the refcount
 *    publishes the page.
 *  - first_faults_race: anon_vma_prepare stored a new anon family into the
 *    VMA with a relaxed store before linking it (then again with release).
 *    A migration inserting a page into a hole of the same fresh VMA could
 *    load that pointer and take a reference on a family whose initialisation
 *    it had not synchronised with (a data race; TSan reports it). Now one
 *    release store publishes it, after linking.
 *
 * Both are races: the loops make the old windows likely enough that the
 * ASan and TSan builds fail on the old code, and they never fail on the new.
 * Usage: test_publication_races [--list | CASE_NAME].
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "common/testdev.h"	/* testdev_run: the --list / case-name main */

#define PG UHMM_PAGE_SIZE

/* ------------------------------------------------ alloc_vs_evict_by_pfn */
struct evict_arg {
	struct uhmm_system *sys;
	unsigned long pfn;
	atomic_int stop;
	unsigned long locked;	/* evictions that found the page in use and locked it */
};

static void *evictor(void *p)
{
	struct evict_arg *a = p;

	while (!atomic_load(&a->stop)) {
		unsigned long src = 0, dst = 0;

		assert_int_equal(uhmm_migrate_device_range(a->sys, &src, a->pfn, 1), 0);
		if (!(src & UHMM_MIGRATE_PFN_MIGRATE))
			continue;	/* free, or locked by its owner */
		a->locked++;
		/* no destination: the page stays where it is */
		uhmm_migrate_device_pages(a->sys, &src, &dst, 1);
		uhmm_migrate_device_finalize(a->sys, &src, &dst, 1);
	}
	return NULL;
}

static void test_alloc_vs_evict_by_pfn(void **state)
{
	struct uhmm_system *sys = testdev_sys_create(1 << 20);
	struct evict_arg a = { .sys = sys };
	struct testdev *dev;
	unsigned long i, allocated = 0;
	pthread_t t;

	(void)state;
	assert_int_equal(testdev_create(sys, UHMM_MEMORY_DEVICE_PRIVATE, 1, &dev), 0);
	a.pfn = dev->pgmap.pfn_first;
	assert_int_equal(pthread_create(&t, NULL, evictor, &a), 0);
	for (i = 0; i < 1000000; i++) {
		/* the BUG fired inside this call */
		struct uhmm_page *p = testdev_alloc_page(dev);

		if (!p)
			continue;	/* the evictor still holds it */
		allocated++;
		assert_true(uhmm_page_locked(p));
		uhmm_unlock_page(p);
		uhmm_put_page(p);
	}
	atomic_store(&a.stop, 1);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(allocated > 0);
	assert_int_equal(testdev_nfree(dev), 1);
	testdev_destroy(dev);
	testdev_sys_destroy(sys);
}

/* ---------------------------------------------------- first_faults_race */
struct race_arg {
	struct testdev *dev;
	struct uhmm_mm *mm;
	unsigned long addr;
	pthread_barrier_t *go;
	unsigned long migrated;
};

/* Page 1 of the fresh VMA is a hole: the migration inserts a device page there. */
static void *hole_migrator(void *p)
{
	struct race_arg *a = p;
	unsigned long migrated = 0;

	pthread_barrier_wait(a->go);
	assert_int_equal(testdev_migrate_to_device(a->dev, a->mm, a->addr + PG, 1, NULL, &migrated), 0);
	a->migrated += migrated;
	return NULL;
}

static void test_first_faults_race(void **state)
{
	struct uhmm_system *sys = testdev_sys_create(8 << 20);
	struct uhmm_mm *mm;
	struct testdev *dev;
	pthread_barrier_t go;
	struct race_arg a;
	int i, v = 7;

	(void)state;
	assert_int_equal(uhmm_mm_create(sys, &mm), 0);
	assert_int_equal(testdev_create(sys, UHMM_MEMORY_DEVICE_PRIVATE, 4, &dev), 0);
	assert_int_equal(pthread_barrier_init(&go, NULL, 2), 0);
	memset(&a, 0, sizeof(a));
	a.dev = dev;
	a.mm = mm;
	a.go = &go;
	for (i = 0; i < 1000; i++) {
		pthread_t t;
		int r = 0;

		/* a fresh private VMA: no anon family yet; both threads create it at once */
		a.addr = testdev_mmap(mm, 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
		assert_int_equal(pthread_create(&t, NULL, hole_migrator, &a), 0);
		pthread_barrier_wait(&go);
		assert_int_equal(uhmm_cpu_write(mm, a.addr, &v, sizeof(v)), 0);
		assert_int_equal(pthread_join(t, NULL), 0);
		assert_int_equal(uhmm_cpu_read(mm, a.addr, &r, sizeof(r)), 0);
		assert_int_equal(r, v);
		/* the inserted page is the device's, zero-filled; reading migrates it back */
		assert_int_equal(uhmm_cpu_read(mm, a.addr + PG, &r, sizeof(r)), 0);
		assert_int_equal(r, 0);
		assert_int_equal(uhmm_munmap(mm, a.addr, 2 * PG), 0);
	}
	assert_int_equal((long)a.migrated, 1000);
	pthread_barrier_destroy(&go);
	uhmm_mm_put(mm);
	testdev_destroy(dev);
	testdev_sys_destroy(sys);
}

static const struct CMUnitTest all_tests[] = {
	cmocka_unit_test(test_alloc_vs_evict_by_pfn),
	cmocka_unit_test(test_first_faults_race),
};

int main(int argc, char **argv)
{
	return testdev_run("test_publication_races", all_tests, sizeof(all_tests) / sizeof(all_tests[0]), argc, argv);
}
