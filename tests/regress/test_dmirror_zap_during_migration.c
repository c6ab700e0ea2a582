/* SPDX-License-Identifier: MIT */
/* tests/regress/test_dmirror_zap_during_migration.c - a zap racing dmirror's migration or EXCLUSIVE leaves no dangling entry.
 *
 * Found by the torture test (tests/stress/torture.c) as a segfault in
 * dmirror_do_read on a device page whose memory had been unmapped. dmirror
 * stores device page-table entries for a migration (finalize_and_map) and for
 * EXCLUSIVE outside the read_begin / read_retry loop. MADV_DONTNEED needs only
 * the mmap lock for read, as in Linux, so it could unmap the new device page
 * (or the exclusive page) in between: its CLEAR invalidation found nothing to
 * erase yet, the driver then stored an entry, and the page it pointed at was
 * freed at finalize (Linux's test_hmm has the same window). dmirror now counts
 * the invalidations its callback applies (zap_seq) and stores only if none
 * came since it started.
 *
 * A classic notifier's invalidate_range_end runs inside the migration (after
 * collect, after hole insertion) and inside make_device_exclusive, before the
 * driver stores its entries: there it has a second thread zap the range and
 * waits for it. Deterministic. Usage: test_dmirror_zap_during_migration
 * [--list | CASE_NAME].
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

#include <uhmm/dmirror.h>
#include <uhmm/uhmm.h>

#include "common/testdev.h"	/* testdev_run: the --list / case-name main */

#define PS UHMM_PAGE_SIZE
#define NPAGES 4UL

struct fx {
	struct uhmm_system *sys;
	struct uhmm_dmirror_device *dev;
	struct uhmm_dmirror *dm;
	struct uhmm_mm *mm;
	unsigned long addr;

	/* the trap: on the @trigger-th matching invalidation end, zap [addr, +NPAGES) from another thread */
	struct uhmm_mmu_notifier mn;
	enum uhmm_mmu_notifier_event event;
	void *owner;
	int trigger, seen;
	atomic_int fired;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int zap_req, zap_done, stop;
	pthread_t zapper;
};

static struct fx *the_fx;

static void *zapper(void *arg)
{
	struct fx *f = arg;

	pthread_mutex_lock(&f->lock);
	for (;;) {
		while (!f->zap_req && !f->stop)
			pthread_cond_wait(&f->cond, &f->lock);
		if (f->stop)
			break;
		f->zap_req = 0;
		pthread_mutex_unlock(&f->lock);
		/* the mmap lock for read only, as Linux's MADV_DONTNEED */
		assert_int_equal(uhmm_madvise(f->mm, f->addr, NPAGES * PS, MADV_DONTNEED), 0);
		pthread_mutex_lock(&f->lock);
		f->zap_done = 1;
		pthread_cond_broadcast(&f->cond);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

static void trap_end(struct uhmm_mmu_notifier *sub, const struct uhmm_mmu_notifier_range *range)
{
	struct fx *f = the_fx;

	(void)sub;
	if (range->event != f->event || range->owner != f->owner || range->end <= f->addr ||
	    range->start >= f->addr + NPAGES * PS || atomic_load(&f->fired))
		return;
	if (++f->seen < f->trigger)
		return;
	atomic_store(&f->fired, 1);
	/* The driver has not stored its entries yet: zap now, and wait for it. */
	pthread_mutex_lock(&f->lock);
	f->zap_req = 1;
	f->zap_done = 0;
	pthread_cond_broadcast(&f->cond);
	while (!f->zap_done)
		pthread_cond_wait(&f->cond, &f->lock);
	pthread_mutex_unlock(&f->lock);
}

static const struct uhmm_mmu_notifier_ops trap_ops = { .invalidate_range_end = trap_end };

static void fx_init(struct fx *f, bool written, enum uhmm_mmu_notifier_event ev, int trigger)
{
	struct uhmm_system_opts so = { .ram_bytes = 16UL << 20 };
	char buf[PS];
	unsigned long i;

	memset(f, 0, sizeof(*f));
	the_fx = f;
	assert_int_equal(uhmm_system_create(&so, &f->sys), 0);
	assert_int_equal(uhmm_dmirror_device_create(f->sys, NULL, &f->dev), 0);
	assert_int_equal(uhmm_mm_create(f->sys, &f->mm), 0);
	assert_int_equal(uhmm_dmirror_open(f->dev, f->mm, &f->dm), 0);
	assert_int_equal(uhmm_mmap(f->mm, 0, NPAGES * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				   &f->addr), 0);
	memset(buf, 0x5a, sizeof(buf));
	for (i = 0; written && i < NPAGES; i++)
		assert_int_equal(uhmm_cpu_write(f->mm, f->addr + i * PS, buf, PS), 0);
	f->event = ev;
	f->owner = ev == UHMM_MMU_NOTIFY_MIGRATE ? uhmm_dmirror_device_owner(f->dev) : NULL;
	f->trigger = trigger;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	assert_int_equal(pthread_create(&f->zapper, NULL, zapper, f), 0);
	f->mn.ops = &trap_ops;
	assert_int_equal(uhmm_mmu_notifier_register(&f->mn, f->mm), 0);
}

/* After the race: no device entry may outlive its page; everything reads back as zeroes. */
static void fx_check_fini(struct fx *f)
{
	struct uhmm_system_stats st;
	struct uhmm_dmirror_cmd cmd;
	char *buf = calloc(NPAGES, PS), *zero = calloc(NPAGES, PS);
	unsigned long i;

	assert_true(atomic_load(&f->fired));
	/* the device's view: through its page table first (entries it kept), faulting the rest */
	memset(&cmd, 0, sizeof(cmd));
	cmd.addr = f->addr;
	cmd.ptr = buf;
	cmd.npages = NPAGES;
	assert_int_equal(uhmm_dmirror_ioctl(f->dm, UHMM_DMIRROR_READ, &cmd), 0);
	assert_memory_equal(buf, zero, NPAGES * PS);
	assert_int_equal(uhmm_cpu_read(f->mm, f->addr, buf, NPAGES * PS), 0);
	assert_memory_equal(buf, zero, NPAGES * PS);
	for (i = 0; i < NPAGES; i++) {
		struct uhmm_pte_info in;

		assert_int_equal(uhmm_mm_query_pte(f->mm, f->addr + i * PS, &in), 0);
		assert_int_not_equal(in.kind, UHMM_PTE_MIGRATION);
	}

	pthread_mutex_lock(&f->lock);
	f->stop = 1;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	pthread_join(f->zapper, NULL);
	uhmm_mmu_notifier_unregister(&f->mn, f->mm);
	uhmm_dmirror_close(f->dm);
	uhmm_mm_put(f->mm);
	uhmm_dmirror_device_destroy(f->dev);
	assert_int_equal(uhmm_system_get_stats(f->sys, &st), 0);
	assert_int_equal(st.used_pages, 1);
	uhmm_system_destroy(f->sys);
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->cond);
	free(buf);
	free(zero);
}

static int migrate_to_dev(struct fx *f)
{
	char *buf = calloc(NPAGES, PS);
	struct uhmm_dmirror_cmd cmd = { f->addr, buf, NPAGES, 0, 0 };
	int r = uhmm_dmirror_ioctl(f->dm, UHMM_DMIRROR_MIGRATE_TO_DEV, &cmd);

	free(buf);
	return r;
}

/* Written pages: the zap comes right after collect, on the migration entries. */
static void test_dontneed_after_collect(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, true, UHMM_MMU_NOTIFY_MIGRATE, 1);
	/* the new device pages end up mapped by nothing: not in the device page table either */
	assert_int_equal(migrate_to_dev(&f), -ENOENT);
	fx_check_fini(&f);
}

/* Untouched pages: the zap comes right after the new device pages are inserted. */
static void test_dontneed_after_hole_insert(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, false, UHMM_MMU_NOTIFY_MIGRATE, 2);
	assert_int_equal(migrate_to_dev(&f), -ENOENT);
	fx_check_fini(&f);
}

/* EXCLUSIVE: the zap comes right after the CPU entry became device-exclusive. */
static void test_dontneed_during_exclusive(void **state)
{
	struct fx f;
	char *buf = calloc(NPAGES, PS);
	struct uhmm_dmirror_cmd cmd;

	(void)state;
	fx_init(&f, true, UHMM_MMU_NOTIFY_EXCLUSIVE, 1);
	memset(&cmd, 0, sizeof(cmd));
	cmd.addr = f.addr;
	cmd.ptr = buf;
	cmd.npages = NPAGES;
	/* the first page lost its atomic entry: the read-back says so */
	assert_int_equal(uhmm_dmirror_ioctl(f.dm, UHMM_DMIRROR_EXCLUSIVE, &cmd), -ENOENT);
	memset(&cmd, 0, sizeof(cmd));
	cmd.addr = f.addr;
	cmd.npages = 1;
	/* no atomic entry without a CPU device-exclusive entry behind it */
	assert_int_equal(uhmm_dmirror_ioctl(f.dm, UHMM_DMIRROR_CHECK_EXCLUSIVE, &cmd), 0);
	free(buf);
	fx_check_fini(&f);
}

static const struct CMUnitTest all_tests[] = {
	cmocka_unit_test(test_dontneed_after_collect),
	cmocka_unit_test(test_dontneed_after_hole_insert),
	cmocka_unit_test(test_dontneed_during_exclusive),
};

int main(int argc, char **argv)
{
	return testdev_run("test_dmirror_zap_during_migration", all_tests, sizeof(all_tests) / sizeof(all_tests[0]), argc, argv);
}
