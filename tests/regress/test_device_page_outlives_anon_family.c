/* SPDX-License-Identifier: MIT */
/* tests/regress/test_device_page_outlives_anon_family.c - a device page must keep its anon family alive.
 *
 * Found by the torture test (tests/stress/torture.c) as a heap-use-after-free
 * under ASan (in release: "uhmm: BUG ... pthread_mutex_lock(&m->lock): 22"):
 * dmirror RELEASE evicts device memory with uhmm_migrate_device_range, which
 * holds no mmap lock, and took a device page whose last mapping went away
 * meanwhile (a fork child exited); the child's exit freed the anon family the
 * page's mapping pointed at, and the eviction then followed that pointer
 * (page_refs_ok, and the rmap walks of restore and finalize). Linux's rule is
 * that rmap walkers without the mmap lock must hold a reference that keeps the
 * anon_vma alive; uhmm now has a device page hold a reference on its anon
 * family for as long as page->mapping is set.
 *
 * The cases drive the same interleaving deterministically through the public
 * API: collect a device page by physical range, let its address space exit,
 * then finish the eviction. Usage: test_device_page_outlives_anon_family
 * [--list | CASE_NAME].
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uhmm/dmirror.h>
#include <uhmm/uhmm.h>

#include "common/testdev.h"	/* testdev_run: the --list / case-name main */

#define PS UHMM_PAGE_SIZE

struct fx {
	struct uhmm_system *sys;
	struct uhmm_dmirror_device *dev;
	struct uhmm_dmirror *dm;
	struct uhmm_mm *mm;
	unsigned long addr;
	unsigned long pfn;	/* the device page */
};

/* One written page of a private mapping, migrated to a dmirror device. */
static void fx_init(struct fx *f, bool fork_child)
{
	struct uhmm_system_opts so = { .ram_bytes = 16UL << 20 };
	struct uhmm_dmirror_cmd cmd;
	struct uhmm_pte_info in;
	char buf[PS];

	memset(f, 0, sizeof(*f));
	assert_int_equal(uhmm_system_create(&so, &f->sys), 0);
	assert_int_equal(uhmm_dmirror_device_create(f->sys, NULL, &f->dev), 0);
	assert_int_equal(uhmm_mm_create(f->sys, &f->mm), 0);
	assert_int_equal(uhmm_mmap(f->mm, 0, PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, &f->addr), 0);
	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(uhmm_cpu_write(f->mm, f->addr, buf, PS), 0);
	if (fork_child) {
		/* the torture test's shape: the page lives on in a child only */
		struct uhmm_mm *child;

		assert_int_equal(uhmm_mm_fork(f->mm, &child), 0);
		uhmm_mm_put(f->mm);
		f->mm = child;
	}
	assert_int_equal(uhmm_dmirror_open(f->dev, f->mm, &f->dm), 0);
	memset(&cmd, 0, sizeof(cmd));
	cmd.addr = f->addr;
	cmd.ptr = buf;
	cmd.npages = 1;
	assert_int_equal(uhmm_dmirror_ioctl(f->dm, UHMM_DMIRROR_MIGRATE_TO_DEV, &cmd), 0);
	assert_int_equal(uhmm_mm_query_pte(f->mm, f->addr, &in), 0);
	assert_int_equal(in.kind, UHMM_PTE_DEVICE_PRIVATE);
	f->pfn = in.pfn;
}

static void fx_fini(struct fx *f)
{
	struct uhmm_system_stats st;

	uhmm_dmirror_close(f->dm);
	if (f->mm)
		uhmm_mm_put(f->mm);
	uhmm_dmirror_device_destroy(f->dev);
	assert_int_equal(uhmm_system_get_stats(f->sys, &st), 0);
	assert_int_equal(st.used_pages, 1);
	assert_int_equal(st.device_pages_used, 0);
	uhmm_system_destroy(f->sys);
}

/* Evict the device page by physical range, with the address space exiting
 * between collection and finalize. */
static void evict_across_exit(bool fork_child)
{
	struct fx f;
	unsigned long src = 0, dst = 0;
	struct uhmm_page *rpage;

	fx_init(&f, fork_child);
	assert_int_equal(uhmm_migrate_device_range(f.sys, &src, f.pfn, 1), 0);
	assert_true(src & UHMM_MIGRATE_PFN_MIGRATE);	/* collected: referenced, locked, unmapped */

	/* The last mapping goes: exit frees the VMA, and with it the anon family
	 * unless the device page keeps it alive. */
	uhmm_mm_put(f.mm);
	f.mm = NULL;

	rpage = uhmm_alloc_page(f.sys);
	assert_non_null(rpage);
	uhmm_lock_page(rpage);
	memset(uhmm_page_address(rpage), 0, PS);
	dst = uhmm_migrate_pfn(uhmm_page_to_pfn(rpage));
	uhmm_migrate_device_pages(f.sys, &src, &dst, 1);
	/* remove_migration_ptes walks the page's family: it must still exist */
	uhmm_migrate_device_finalize(f.sys, &src, &dst, 1);
	fx_fini(&f);
}

static void test_evict_finalize_after_exit(void **state)
{
	(void)state;
	evict_across_exit(false);
}

static void test_evict_finalize_after_child_exit(void **state)
{
	(void)state;
	evict_across_exit(true);
}

/* The restore path: a page that cannot migrate (here: no destination and an
 * extra reference) is put back with remove_migration_ptes after the exit. */
static void test_evict_restore_after_exit(void **state)
{
	struct fx f;
	unsigned long src = 0, dst = 0;

	(void)state;
	fx_init(&f, false);
	assert_int_equal(uhmm_migrate_device_range(f.sys, &src, f.pfn, 1), 0);
	assert_true(src & UHMM_MIGRATE_PFN_MIGRATE);
	uhmm_mm_put(f.mm);
	f.mm = NULL;
	/* no destination: the page stays, finalize restores its (gone) mappings */
	uhmm_migrate_device_pages(f.sys, &src, &dst, 1);
	uhmm_migrate_device_finalize(f.sys, &src, &dst, 1);
	fx_fini(&f);
}

static const struct CMUnitTest all_tests[] = {
	cmocka_unit_test(test_evict_finalize_after_exit),
	cmocka_unit_test(test_evict_finalize_after_child_exit),
	cmocka_unit_test(test_evict_restore_after_exit),
};

int main(int argc, char **argv)
{
	return testdev_run("test_device_page_outlives_anon_family", all_tests, sizeof(all_tests) / sizeof(all_tests[0]), argc, argv);
}
