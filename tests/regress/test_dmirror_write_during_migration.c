/* SPDX-License-Identifier: MIT */
/* tests/regress/test_dmirror_write_during_migration.c - a device write racing a migration to that device is not lost.
 *
 * Found while building the torture test (tests/stress/torture.c: a
 * neighbour thread migrates the pages whose contents another thread shadows
 * and writes through the device). dmirror's invalidate callback ignores the
 * MIGRATE invalidations of its own device (the seed patch), so while a page
 * migrated to the device, every file of that device kept its entry for the
 * old RAM page; a device WRITE through it after the copy landed in the old
 * page, which the migration then freed: the ioctl returned 0 and the bytes
 * were gone. The to-RAM direction already erased the moving pages' entries
 * before copying; dmirror_migrate_alloc_and_copy now does the same.
 *
 * One thread migrates a range to the device and back in a loop; another
 * writes it through the device (the same file, or a second file of the same
 * device) and reads it back with the CPU: every write must be there. The race
 * is probabilistic: before the fix it was lost within a few thousand rounds.
 * Usage: test_dmirror_write_during_migration [--list | CASE_NAME].
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uhmm/dmirror.h>
#include <uhmm/uhmm.h>

#include "common/testdev.h"	/* testdev_run: the --list / case-name main */

#define PS UHMM_PAGE_SIZE
#define NPAGES 16UL
#define ROUNDS 20000UL
#define MAX_SECONDS 3.0

struct race {
	struct uhmm_mm *mm;
	struct uhmm_dmirror *migrator_file, *writer_file;
	unsigned long addr;
	atomic_int stop;
	atomic_ulong migrations, errors;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *migrator(void *arg)
{
	struct race *r = arg;
	char *buf = malloc(NPAGES * PS);

	while (buf && !atomic_load(&r->stop)) {
		struct uhmm_dmirror_cmd c = { r->addr, buf, NPAGES, 0, 0 };
		int e = uhmm_dmirror_ioctl(r->migrator_file, UHMM_DMIRROR_MIGRATE_TO_DEV, &c);

		/* -ENOENT: a page was busy (locked by the writer's fault) and stayed */
		if (e && e != -ENOENT)
			atomic_fetch_add(&r->errors, 1);
		c.cpages = 0;
		if (uhmm_dmirror_ioctl(r->migrator_file, UHMM_DMIRROR_MIGRATE_TO_SYS, &c))
			atomic_fetch_add(&r->errors, 1);
		atomic_fetch_add(&r->migrations, 1);
	}
	free(buf);
	return NULL;
}

static void run(bool sibling)
{
	struct uhmm_system_opts so = { .ram_bytes = 32UL << 20 };
	struct uhmm_system *sys;
	struct uhmm_dmirror_device *dev;
	struct uhmm_dmirror *f1, *f2 = NULL;
	struct uhmm_system_stats st;
	struct race r;
	pthread_t t;
	char *buf = malloc(NPAGES * PS), *rb = malloc(NPAGES * PS);
	unsigned long round, lost = 0;
	double deadline = now_s() + MAX_SECONDS;

	assert_non_null(buf);
	assert_non_null(rb);
	memset(&r, 0, sizeof(r));
	assert_int_equal(uhmm_system_create(&so, &sys), 0);
	assert_int_equal(uhmm_mm_create(sys, &r.mm), 0);
	assert_int_equal(uhmm_dmirror_device_create(sys, NULL, &dev), 0);
	assert_int_equal(uhmm_dmirror_open(dev, r.mm, &f1), 0);
	if (sibling)
		assert_int_equal(uhmm_dmirror_open(dev, r.mm, &f2), 0);
	r.migrator_file = f1;
	r.writer_file = sibling ? f2 : f1;
	assert_int_equal(uhmm_mmap(r.mm, 0, NPAGES * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				   &r.addr), 0);
	memset(buf, 0, NPAGES * PS);
	assert_int_equal(uhmm_cpu_write(r.mm, r.addr, buf, NPAGES * PS), 0);
	assert_int_equal(pthread_create(&t, NULL, migrator, &r), 0);

	for (round = 1; round <= ROUNDS && now_s() < deadline; round++) {
		struct uhmm_dmirror_cmd c = { r.addr, buf, NPAGES, 0, 0 };
		int e;

		memset(buf, (int)(round & 0xff), NPAGES * PS);
		e = uhmm_dmirror_ioctl(r.writer_file, UHMM_DMIRROR_WRITE, &c);
		if (e == -EBUSY)
			continue;
		assert_int_equal(e, 0);
		assert_int_equal(uhmm_cpu_read(r.mm, r.addr, rb, NPAGES * PS), 0);
		if (memcmp(rb, buf, NPAGES * PS)) {
			unsigned long k;

			for (k = 0; k < NPAGES; k++)
				if (memcmp(rb + k * PS, buf + k * PS, PS) && lost < 5)
					print_error("round %lu: page %lu holds %#x, the write put %#x there\n", round, k,
						    (unsigned)(unsigned char)rb[k * PS], (unsigned)(round & 0xff));
			lost++;
		}
	}
	atomic_store(&r.stop, 1);
	pthread_join(t, NULL);
	print_message("%lu writes, %lu migration rounds, %lu lost\n", round - 1, atomic_load(&r.migrations), lost);
	assert_int_equal(lost, 0);
	assert_int_equal(atomic_load(&r.errors), 0);

	uhmm_dmirror_close(f1);
	uhmm_dmirror_close(f2);
	uhmm_mm_put(r.mm);
	uhmm_dmirror_device_destroy(dev);
	assert_int_equal(uhmm_system_get_stats(sys, &st), 0);
	assert_int_equal(st.used_pages, 1);
	uhmm_system_destroy(sys);
	free(buf);
	free(rb);
}

static void test_write_same_file_during_migration(void **state)
{
	(void)state;
	run(false);
}

static void test_write_sibling_file_during_migration(void **state)
{
	(void)state;
	run(true);
}

static const struct CMUnitTest all_tests[] = {
	cmocka_unit_test(test_write_same_file_during_migration),
	cmocka_unit_test(test_write_sibling_file_during_migration),
};

int main(int argc, char **argv)
{
	return testdev_run("test_dmirror_write_during_migration", all_tests, sizeof(all_tests) / sizeof(all_tests[0]), argc, argv);
}
