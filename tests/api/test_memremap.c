/* SPDX-License-Identifier: MIT */
/* tests/api/test_memremap.c - device memory regions: memremap/memunmap and device pages.
 *
 * Public API only. Kernel analogue: mm/memremap.c as lib/test_hmm.c uses it
 * (spec sections 3 and 10.12). Usage: test_memremap [--list | CASE_NAME].
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "common/testdev.h"

#define P UHMM_PAGE_SIZE

static atomic_int n_free_calls;
static void dummy_page_free(struct uhmm_page *page) { (void)page; atomic_fetch_add(&n_free_calls, 1); }
static int dummy_migrate_to_ram(struct uhmm_vm_fault *vmf) { (void)vmf; return 0; }
static int owner_token;

static const struct uhmm_dev_pagemap_ops ops_full = { dummy_page_free, dummy_migrate_to_ram };
static const struct uhmm_dev_pagemap_ops ops_no_free = { NULL, dummy_migrate_to_ram };
static const struct uhmm_dev_pagemap_ops ops_no_m2r = { dummy_page_free, NULL };

static void msleep(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts))
		;
}

static void stats(struct uhmm_system *sys, struct uhmm_system_stats *st)
{
	assert_int_equal(uhmm_system_get_stats(sys, st), 0);
}

/* Bad input: -EINVAL and the pgmap and the system are left as they were. */
static void expect_einval(struct uhmm_system *sys, enum uhmm_memory_type type, const struct uhmm_dev_pagemap_ops *ops,
			  void *owner, unsigned long nr_pages)
{
	struct uhmm_dev_pagemap pg;
	struct uhmm_system_stats st;

	memset(&pg, 0, sizeof(pg));
	pg.type = type;
	pg.ops = ops;
	pg.owner = owner;
	pg.nr_pages = nr_pages;
	pg.pfn_first = 0xdead;
	assert_int_equal(uhmm_memremap_pages(sys, &pg), -EINVAL);
	assert_int_equal(pg.pfn_first, 0xdead);
	assert_null(pg.sys);
	assert_null(pg.priv_);
	stats(sys, &st);
	assert_int_equal(st.device_pages, 0);
	assert_int_equal(st.device_pages_used, 0);
}

static void test_memremap_invalid(void **state)
{
	struct uhmm_system *sys = testdev_sys_create(1 << 20);
	struct uhmm_dev_pagemap pg;

	expect_einval(sys, UHMM_MEMORY_DEVICE_PRIVATE, &ops_full, &owner_token, 0);
	expect_einval(sys, UHMM_MEMORY_DEVICE_COHERENT, &ops_full, &owner_token, 0);
	expect_einval(sys, UHMM_MEMORY_DEVICE_PRIVATE, &ops_no_m2r, &owner_token, 4);
	expect_einval(sys, UHMM_MEMORY_DEVICE_PRIVATE, &ops_no_free, &owner_token, 4);
	expect_einval(sys, UHMM_MEMORY_DEVICE_PRIVATE, &ops_full, NULL, 4);
	expect_einval(sys, UHMM_MEMORY_DEVICE_PRIVATE, NULL, &owner_token, 4);
	expect_einval(sys, UHMM_MEMORY_DEVICE_COHERENT, &ops_no_free, &owner_token, 4);
	expect_einval(sys, UHMM_MEMORY_DEVICE_COHERENT, &ops_full, NULL, 4);
	expect_einval(sys, UHMM_MEMORY_DEVICE_COHERENT, NULL, &owner_token, 4);
	expect_einval(sys, (enum uhmm_memory_type)0, &ops_full, &owner_token, 4);
	expect_einval(sys, (enum uhmm_memory_type)3, &ops_full, &owner_token, 4);
	expect_einval(sys, (enum uhmm_memory_type)-1, &ops_full, &owner_token, 4);

	memset(&pg, 0, sizeof(pg));
	pg.type = UHMM_MEMORY_DEVICE_PRIVATE;
	pg.ops = &ops_full;
	pg.owner = &owner_token;
	pg.nr_pages = 4;
	assert_int_equal(uhmm_memremap_pages(NULL, &pg), -EINVAL);
	assert_int_equal(uhmm_memremap_pages(sys, NULL), -EINVAL);

	/* coherent memory needs no migrate_to_ram: the CPU maps it directly */
	memset(&pg, 0, sizeof(pg));
	pg.type = UHMM_MEMORY_DEVICE_COHERENT;
	pg.ops = &ops_no_m2r;
	pg.owner = &owner_token;
	pg.nr_pages = 4;
	assert_int_equal(uhmm_memremap_pages(sys, &pg), 0);
	assert_ptr_equal(pg.sys, sys);
	uhmm_memunmap_pages(&pg);
	assert_null(pg.priv_);
	uhmm_memunmap_pages(&pg);	/* twice: a no-op */
	uhmm_memunmap_pages(NULL);
	testdev_sys_destroy(sys);
}

static void check_free_pages(struct uhmm_system *sys, struct testdev *dev, bool coherent)
{
	unsigned long i;

	for (i = 0; i < dev->pgmap.nr_pages; i++) {
		struct uhmm_page *p = uhmm_pfn_to_page(sys, dev->pgmap.pfn_first + i);

		assert_non_null(p);
		assert_int_equal(uhmm_page_to_pfn(p), dev->pgmap.pfn_first + i);
		assert_int_equal(uhmm_page_refcount(p), 0);
		assert_int_equal(uhmm_page_mapcount(p), 0);
		assert_false(uhmm_page_locked(p));
		assert_ptr_equal(uhmm_page_pgmap(p), &dev->pgmap);
		assert_true(uhmm_is_zone_device_page(p));
		assert_int_equal(uhmm_is_device_private_page(p), !coherent);
		assert_int_equal(uhmm_is_device_coherent_page(p), coherent);
		assert_false(uhmm_is_zero_page(p));
		assert_null(uhmm_page_zone_device_data(p));
		if (coherent)
			assert_non_null(uhmm_page_address(p));
		else
			assert_null(uhmm_page_address(p));
	}
}

static void test_pages_start_free(void **state)
{
	struct uhmm_system *sys = testdev_sys_create(1 << 20);
	struct uhmm_system_stats st;
	struct testdev *priv, *coh;

	assert_int_equal(testdev_create(sys, UHMM_MEMORY_DEVICE_PRIVATE, 16, &priv), 0);
	assert_int_equal(testdev_create(sys, UHMM_MEMORY_DEVICE_COHERENT, 8, &coh), 0);
	assert_ptr_equal(priv->pgmap.sys, sys);
	check_free_pages(sys, priv, false);
	check_free_pages(sys, coh, true);
	/* coherent frames are distinct memory */
	assert_ptr_not_equal(uhmm_page_address(uhmm_pfn_to_page(sys, coh->pgmap.pfn_first)),
			     uhmm_page_address(uhmm_pfn_to_page(sys, coh->pgmap.pfn_first + 1)));
	stats(sys, &st);
	assert_int_equal(st.device_pages, 24);
	assert_int_equal(st.device_pages_used, 0);
	assert_int_equal(st.used_pages, 1);
	testdev_destroy(priv);
	testdev_destroy(coh);
	testdev_sys_destroy(sys);
}

static void test_pfns_distinct(void **state)
{
	struct uhmm_system *sys = testdev_sys_create(1 << 20);
	struct uhmm_system_stats st;
	struct testdev *a, *b;
	struct uhmm_mm *mm;
	unsigned long addr, i, first_a, last_a;
	struct uhmm_pte_info pi;

	stats(sys, &st);
	assert_int_equal(testdev_create(sys, UHMM_MEMORY_DEVICE_PRIVATE, 16, &a), 0);
	assert_int_equal(testdev_create(sys, UHMM_MEMORY_DEVICE_PRIVATE, 16, &b), 0);
	/* device pfns are never RAM pfns, and two regions do not overlap */
	assert_true(a->pgmap.pfn_first >= st.ram_pages);
	assert_true(b->pgmap.pfn_first >= st.ram_pages);
	assert_true(a->pgmap.pfn_first + 16 <= b->pgmap.pfn_first || b->pgmap.pfn_first + 16 <= a->pgmap.pfn_first);
	/* RAM pfns give RAM pages */
	for (i = 0; i < st.ram_pages; i += 37) {
		struct uhmm_page *p = uhmm_pfn_to_page(sys, i);

		assert_non_null(p);
		assert_int_equal(uhmm_page_to_pfn(p), i);
		assert_false(uhmm_is_zone_device_page(p));
	}
	/* a RAM page in use is not a device page either */
	assert_int_equal(uhmm_mm_create(sys, &mm), 0);
	addr = testdev_mmap(mm, 1, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	testdev_fill(mm, addr, 1, 1);
	pi = testdev_pte(mm, addr);
	assert_int_equal(pi.kind, UHMM_PTE_PRESENT);
	assert_true(pi.pfn < st.ram_pages);
	assert_false(uhmm_is_zone_device_page(uhmm_pfn_to_page(sys, pi.pfn)));
	uhmm_mm_put(mm);

	/* pfns around the regions that belong to no region */
	first_a = a->pgmap.pfn_first;
	last_a = first_a + 15;
	assert_ptr_equal(uhmm_page_pgmap(uhmm_pfn_to_page(sys, last_a)), &a->pgmap);
	if (b->pgmap.pfn_first != last_a + 1)
		assert_null(uhmm_pfn_to_page(sys, last_a + 1));
	assert_null(uhmm_pfn_to_page(sys, st.ram_pages));
	/* every pfn past the end of a region, up to the next region, is no page */
	for (i = first_a + 16; i < first_a + 65536; i++)
		if (i < b->pgmap.pfn_first || i >= b->pgmap.pfn_first + 16)
			assert_null(uhmm_pfn_to_page(sys, i));
	testdev_destroy(a);
	/* an unmapped region's pfns are gone */
	assert_null(uhmm_pfn_to_page(sys, first_a));
	assert_null(uhmm_pfn_to_page(sys, last_a));
	testdev_destroy(b);
	testdev_sys_destroy(sys);
}

static void test_zone_device_page_init(void **state)
{
	struct uhmm_system *sys = testdev_sys_create(1 << 20);
	struct uhmm_system_stats st;
	struct testdev *dev;
	struct uhmm_page *p, *q;
	int cookie;

	assert_int_equal(testdev_create(sys, UHMM_MEMORY_DEVICE_PRIVATE, 4, &dev), 0);
	p = testdev_alloc_page(dev);
	assert_non_null(p);
	assert_int_equal(uhmm_page_refcount(p), 1);
	assert_true(uhmm_page_locked(p));
	assert_int_equal(uhmm_page_mapcount(p), 0);
	assert_false(uhmm_trylock_page(p));
	stats(sys, &st);
	assert_int_equal(st.device_pages_used, 1);

	uhmm_page_set_zone_device_data(p, &cookie);
	assert_ptr_equal(uhmm_page_zone_device_data(p), &cookie);
	uhmm_page_set_zone_device_data(p, NULL);

	uhmm_get_page(p);
	assert_int_equal(uhmm_page_refcount(p), 2);
	uhmm_put_page(p);
	assert_int_equal(uhmm_page_refcount(p), 1);
	assert_int_equal(atomic_load(&dev->nr_page_free), 0);
	uhmm_unlock_page(p);
	assert_false(uhmm_page_locked(p));

	/* a second page in use at the same time */
	q = testdev_alloc_page(dev);
	assert_non_null(q);
	assert_ptr_not_equal(p, q);
	stats(sys, &st);
	assert_int_equal(st.device_pages_used, 2);
	assert_int_equal(testdev_nfree(dev), 2);

	/* refcount reaches 0: page_free, which sees refcount 0 */
	atomic_store(&dev->last_free_refcount, -1);
	uhmm_put_page(p);
	assert_int_equal(atomic_load(&dev->nr_page_free), 1);
	assert_int_equal(atomic_load(&dev->last_free_refcount), 0);
	assert_int_equal(uhmm_page_refcount(p), 0);
	assert_int_equal(testdev_nfree(dev), 3);
	stats(sys, &st);
	assert_int_equal(st.device_pages_used, 1);

	uhmm_unlock_page(q);
	uhmm_put_page(q);
	assert_int_equal(atomic_load(&dev->nr_page_free), 2);
	stats(sys, &st);
	assert_int_equal(st.device_pages_used, 0);

	/* a freed page can be allocated again */
	p = testdev_alloc_page(dev);
	assert_int_equal(uhmm_page_refcount(p), 1);
	assert_true(uhmm_page_locked(p));
	uhmm_unlock_page(p);
	uhmm_put_page(p);
	testdev_destroy(dev);
	testdev_sys_destroy(sys);
}

static void test_page_free_raw_pgmap(void **state)
{
	struct uhmm_system *sys = testdev_sys_create(1 << 20);
	struct uhmm_dev_pagemap pg;
	struct uhmm_page *p;

	memset(&pg, 0, sizeof(pg));
	pg.type = UHMM_MEMORY_DEVICE_PRIVATE;
	pg.ops = &ops_full;
	pg.owner = &owner_token;
	pg.nr_pages = 2;
	assert_int_equal(uhmm_memremap_pages(sys, &pg), 0);
	atomic_store(&n_free_calls, 0);
	p = uhmm_pfn_to_page(sys, pg.pfn_first + 1);
	uhmm_zone_device_page_init(p);
	uhmm_unlock_page(p);
	uhmm_get_page(p);
	uhmm_put_page(p);
	assert_int_equal(atomic_load(&n_free_calls), 0);
	uhmm_put_page(p);
	assert_int_equal(atomic_load(&n_free_calls), 1);
	uhmm_memunmap_pages(&pg);
	testdev_sys_destroy(sys);
}

struct unmap_arg {
	struct testdev *dev;
	atomic_int done;
};

static void *unmap_thread(void *arg)
{
	struct unmap_arg *a = arg;

	uhmm_memunmap_pages(&a->dev->pgmap);
	atomic_store(&a->done, 1);
	return NULL;
}

static void test_memunmap_waits(void **state)
{
	struct uhmm_system *sys = testdev_sys_create(1 << 20);
	struct uhmm_system_stats st;
	struct unmap_arg a = { 0 };
	struct uhmm_page *p1, *p2;
	pthread_t t;
	int i;

	assert_int_equal(testdev_create(sys, UHMM_MEMORY_DEVICE_PRIVATE, 8, &a.dev), 0);
	p1 = testdev_alloc_page(a.dev);
	p2 = testdev_alloc_page(a.dev);
	uhmm_unlock_page(p1);
	uhmm_unlock_page(p2);
	assert_int_equal(pthread_create(&t, NULL, unmap_thread, &a), 0);
	msleep(100);
	assert_int_equal(atomic_load(&a.done), 0);
	stats(sys, &st);
	assert_int_equal(st.device_pages, 8);
	uhmm_put_page(p1);
	msleep(50);
	assert_int_equal(atomic_load(&a.done), 0);	/* one page still in use */
	uhmm_put_page(p2);	/* the last one: memunmap may finish */
	for (i = 0; i < 10000 && !atomic_load(&a.done); i++)
		msleep(1);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(atomic_load(&a.done), 1);
	assert_int_equal(atomic_load(&a.dev->nr_page_free), 2);
	assert_null(a.dev->pgmap.priv_);
	a.dev->mapped = false;
	stats(sys, &st);
	assert_int_equal(st.device_pages, 0);
	assert_int_equal(st.device_pages_used, 0);
	testdev_destroy(a.dev);
	testdev_sys_destroy(sys);
}

static void test_memunmap_idle_returns(void **state)
{
	struct uhmm_system *sys = testdev_sys_create(1 << 20);
	struct testdev *dev;
	struct uhmm_page *p;

	assert_int_equal(testdev_create(sys, UHMM_MEMORY_DEVICE_COHERENT, 8, &dev), 0);
	p = testdev_alloc_page(dev);
	uhmm_unlock_page(p);
	uhmm_put_page(p);
	testdev_destroy(dev);	/* every page free: returns at once */
	testdev_sys_destroy(sys);
}

static void test_stats_device_pages(void **state)
{
	struct uhmm_system *sys = testdev_sys_create(1 << 20);
	struct uhmm_system_stats st;
	struct testdev *a, *b;
	struct uhmm_page *pa[3], *pb;
	int i;

	stats(sys, &st);
	assert_int_equal(st.device_pages, 0);
	assert_int_equal(st.device_pages_used, 0);
	assert_int_equal(testdev_create(sys, UHMM_MEMORY_DEVICE_PRIVATE, 8, &a), 0);
	assert_int_equal(testdev_create(sys, UHMM_MEMORY_DEVICE_COHERENT, 4, &b), 0);
	stats(sys, &st);
	assert_int_equal(st.device_pages, 12);
	assert_int_equal(st.device_pages_used, 0);
	assert_int_equal(st.used_pages, 1);	/* device frames are not RAM */
	for (i = 0; i < 3; i++)
		pa[i] = testdev_alloc_page(a);
	pb = testdev_alloc_page(b);
	stats(sys, &st);
	assert_int_equal(st.device_pages_used, 4);
	assert_int_equal(st.used_pages, 1);
	for (i = 0; i < 3; i++) {
		uhmm_unlock_page(pa[i]);
		uhmm_put_page(pa[i]);
	}
	stats(sys, &st);
	assert_int_equal(st.device_pages_used, 1);
	testdev_destroy(a);
	stats(sys, &st);
	assert_int_equal(st.device_pages, 4);
	assert_int_equal(st.device_pages_used, 1);
	uhmm_unlock_page(pb);
	uhmm_put_page(pb);
	testdev_destroy(b);
	testdev_sys_destroy(sys);
}

/*
 * uhmm_alloc_pages_bulk: n distinct RAM pages, each as uhmm_alloc_page gives
 * one (refcount 1, unlocked, writable bytes), counted in the stats; a short
 * count when RAM runs out; the failure hook fails the Nth page and the call
 * returns the N - 1 before it; NULL arguments allocate nothing.
 */
static void test_alloc_pages_bulk(void **state)
{
	struct uhmm_system *sys = testdev_sys_create(64 * P);	/* 64 frames, one is the zero page */
	struct uhmm_page *pages[80], *one;
	struct uhmm_system_stats st;
	unsigned long n, i, j, used0;

	(void)state;
	stats(sys, &st);
	used0 = st.used_pages;
	assert_int_equal(uhmm_alloc_pages_bulk(NULL, 4, pages), 0);
	assert_int_equal(uhmm_alloc_pages_bulk(sys, 4, NULL), 0);
	assert_int_equal(uhmm_alloc_pages_bulk(sys, 0, pages), 0);
	stats(sys, &st);
	assert_int_equal(st.used_pages, used0);

	n = uhmm_alloc_pages_bulk(sys, 10, pages);
	assert_int_equal(n, 10);
	for (i = 0; i < n; i++) {
		assert_non_null(pages[i]);
		assert_int_equal(uhmm_page_refcount(pages[i]), 1);
		assert_false(uhmm_page_locked(pages[i]));
		assert_false(uhmm_is_zone_device_page(pages[i]));
		memset(uhmm_page_address(pages[i]), (int)i, P);
		for (j = 0; j < i; j++)
			assert_int_not_equal(uhmm_page_to_pfn(pages[i]), uhmm_page_to_pfn(pages[j]));
	}
	for (i = 0; i < n; i++)
		assert_int_equal(((unsigned char *)uhmm_page_address(pages[i]))[P - 1], (unsigned char)i);
	stats(sys, &st);
	assert_int_equal(st.used_pages, used0 + 10);
	/* freed pages come back through the bulk call too (free list, then fresh frames) */
	for (i = 0; i < 5; i++)
		uhmm_put_page(pages[i]);
	assert_int_equal(uhmm_alloc_pages_bulk(sys, 5, pages), 5);

	/* exhaustion: what is left, then nothing */
	n = uhmm_alloc_pages_bulk(sys, 80, pages + 10);
	assert_int_equal(n, st.ram_pages - used0 - 10);
	assert_null(uhmm_alloc_page(sys));
	assert_int_equal(uhmm_alloc_pages_bulk(sys, 3, &one), 0);
	stats(sys, &st);
	assert_int_equal(st.free_pages, 0);
	for (i = 0; i < 10 + n; i++)
		uhmm_put_page(pages[i]);
	stats(sys, &st);
	assert_int_equal(st.used_pages, used0);

	/* the 4th page fails: 3 pages, nothing else taken */
	uhmm_fail_nth(4, 0);
	n = uhmm_alloc_pages_bulk(sys, 8, pages);
	uhmm_fail_nth(0, 0);
	assert_int_equal(n, 3);
	stats(sys, &st);
	assert_int_equal(st.used_pages, used0 + 3);
	for (i = 0; i < n; i++)
		uhmm_put_page(pages[i]);
	testdev_sys_destroy(sys);
}

static void test_page_predicates(void **state)
{
	struct uhmm_system *sys = testdev_sys_create(1 << 20);
	struct uhmm_mm *mm;
	struct uhmm_pte_info pi;
	struct uhmm_page *zp, *rp;
	unsigned long addr;
	char c;

	assert_false(uhmm_is_zone_device_page(NULL));
	assert_false(uhmm_is_device_private_page(NULL));
	assert_false(uhmm_is_device_coherent_page(NULL));
	assert_false(uhmm_is_zero_page(NULL));
	assert_null(uhmm_page_pgmap(NULL));
	assert_int_equal(uhmm_mm_create(sys, &mm), 0);
	addr = testdev_mmap(mm, 2, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	assert_int_equal(uhmm_cpu_read(mm, addr, &c, 1), 0);
	pi = testdev_pte(mm, addr);
	assert_int_equal(pi.kind, UHMM_PTE_ZERO);
	zp = uhmm_pfn_to_page(sys, pi.pfn);
	assert_true(uhmm_is_zero_page(zp));
	assert_false(uhmm_is_zone_device_page(zp));
	testdev_fill(mm, addr + P, 1, 3);
	rp = testdev_pte_page(mm, addr + P);
	assert_false(uhmm_is_zero_page(rp));
	assert_false(uhmm_is_zone_device_page(rp));
	assert_false(uhmm_is_device_private_page(rp));
	assert_null(uhmm_page_pgmap(rp));
	assert_non_null(uhmm_page_address(rp));
	assert_int_equal(uhmm_page_refcount(rp), 1);
	assert_int_equal(uhmm_page_mapcount(rp), 1);
	uhmm_mm_put(mm);
	testdev_sys_destroy(sys);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_memremap_invalid),
	cmocka_unit_test(test_pages_start_free),
	cmocka_unit_test(test_pfns_distinct),
	cmocka_unit_test(test_zone_device_page_init),
	cmocka_unit_test(test_page_free_raw_pgmap),
	cmocka_unit_test(test_memunmap_waits),
	cmocka_unit_test(test_memunmap_idle_returns),
	cmocka_unit_test(test_stats_device_pages),
	cmocka_unit_test(test_page_predicates),
	cmocka_unit_test(test_alloc_pages_bulk),
};

int main(int argc, char **argv)
{
	return testdev_run("test_memremap", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
