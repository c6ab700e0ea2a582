/* SPDX-License-Identifier: MIT */
/* tests/api/test_migrate.c - migrate_vma and migrate_device with a tiny test device (no dmirror).
 *
 * Public API only. Kernel analogue: mm/migrate_device.c as driven by
 * lib/test_hmm.c (spec sections 2, 3, 4 and 10: src words, holes and the zero
 * page, refcounts of 4.8, the MIGRATE/CLEAR events, fork, migrate_to_ram,
 * eviction by pfn range). Usage: test_migrate [--list | CASE_NAME].
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
#include <string.h>
#include <time.h>

#include "common/testdev.h"

#define P UHMM_PAGE_SIZE
#define RW (PROT_READ | PROT_WRITE)
#define M_VALID UHMM_MIGRATE_PFN_VALID
#define M_MIGRATE UHMM_MIGRATE_PFN_MIGRATE
#define M_WRITE UHMM_MIGRATE_PFN_WRITE
#define SEL_SYS UHMM_MIGRATE_VMA_SELECT_SYSTEM
#define SEL_PRIV UHMM_MIGRATE_VMA_SELECT_DEVICE_PRIVATE
#define SEL_COH UHMM_MIGRATE_VMA_SELECT_DEVICE_COHERENT
#define MAXP 16

struct env {
	struct uhmm_system *sys;
	struct uhmm_mm *mm;
	struct testdev *dev;
};

static void env_init(struct env *e, enum uhmm_memory_type type, unsigned long dev_pages)
{
	memset(e, 0, sizeof(*e));
	e->sys = testdev_sys_create(4 << 20);
	assert_int_equal(uhmm_mm_create(e->sys, &e->mm), 0);
	assert_int_equal(testdev_create(e->sys, type, dev_pages, &e->dev), 0);
}

/* The leak invariant: address spaces gone, every device page free, memunmap done. */
static void env_fini(struct env *e)
{
	if (e->mm)
		uhmm_mm_put(e->mm);
	testdev_destroy(e->dev);
	testdev_sys_destroy(e->sys);
}

static unsigned long used_pages(struct uhmm_system *sys)
{
	struct uhmm_system_stats st;

	assert_int_equal(uhmm_system_get_stats(sys, &st), 0);
	return st.used_pages;
}

static unsigned long dev_used(struct uhmm_system *sys)
{
	struct uhmm_system_stats st;

	assert_int_equal(uhmm_system_get_stats(sys, &st), 0);
	return st.device_pages_used;
}

static void read_zero_page(struct uhmm_mm *mm, unsigned long addr)
{
	char c = 1;

	assert_int_equal(uhmm_cpu_read(mm, addr, &c, 1), 0);
	assert_int_equal(c, 0);
	assert_int_equal(testdev_pte(mm, addr).kind, UHMM_PTE_ZERO);
}

static void init_args(struct uhmm_migrate_vma *m, struct uhmm_mm *mm, struct testdev *dev, unsigned long start,
		      unsigned long npages, unsigned long flags, unsigned long *src, unsigned long *dst)
{
	memset(m, 0, sizeof(*m));
	m->vma = uhmm_find_vma(mm, start);
	assert_non_null(m->vma);
	m->start = start;
	m->end = start + npages * P;
	m->src = src;
	m->dst = dst;
	m->pgmap_owner = dev;
	m->flags = flags;
}

static void assert_device_entry(struct uhmm_mm *mm, unsigned long addr, unsigned long pfn, bool write, int rc, int mc)
{
	struct uhmm_pte_info pi = testdev_pte(mm, addr);

	assert_int_equal(pi.kind, UHMM_PTE_DEVICE_PRIVATE);
	assert_int_equal(pi.write, write);
	if (pfn != ~0UL)
		assert_int_equal(pi.pfn, pfn);
	assert_true(uhmm_is_device_private_page(uhmm_pfn_to_page(uhmm_mm_system(mm), pi.pfn)));
	assert_int_equal(pi.refcount, rc);
	assert_int_equal(pi.mapcount, mc);
}

static void assert_present(struct uhmm_mm *mm, unsigned long addr, unsigned long pfn, bool write, int rc, int mc)
{
	struct uhmm_pte_info pi = testdev_pte(mm, addr);

	assert_int_equal(pi.kind, UHMM_PTE_PRESENT);
	assert_int_equal(pi.write, write);
	if (pfn != ~0UL)
		assert_int_equal(pi.pfn, pfn);
	assert_int_equal(pi.refcount, rc);
	assert_int_equal(pi.mapcount, mc);
}

/* ------------------------------------------------------------ setup errors */

static void snapshot_ptes(struct uhmm_mm *mm, unsigned long addr, unsigned long n, struct uhmm_pte_info *out)
{
	unsigned long i;

	for (i = 0; i < n; i++)
		out[i] = testdev_pte(mm, addr + i * P);
}

static void expect_setup_einval(struct uhmm_migrate_vma *m)
{
	unsigned long i;

	for (i = 0; i < MAXP; i++) {
		if (m->src)
			m->src[i] = 0xdead0000UL + i;
		if (m->dst)
			m->dst[i] = 0xbeef0000UL + i;
	}
	m->cpages = 77;
	m->npages = 88;
	assert_int_equal(uhmm_migrate_vma_setup(m), -EINVAL);
	assert_int_equal(m->cpages, 77);
	assert_int_equal(m->npages, 88);
	for (i = 0; i < MAXP; i++) {
		if (m->src)
			assert_int_equal(m->src[i], 0xdead0000UL + i);
		if (m->dst)
			assert_int_equal(m->dst[i], 0xbeef0000UL + i);
	}
}

static void test_setup_invalid_args(void **state)
{
	unsigned long src[MAXP], dst[MAXP], addr, used, i;
	struct uhmm_pte_info before[4], after[4];
	struct testdev_recorder rec;
	struct uhmm_migrate_vma base, m;
	struct testdev *coh;
	struct uhmm_page *ram, *cp;
	struct env e;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE, 8);
	assert_int_equal(testdev_create(e.sys, UHMM_MEMORY_DEVICE_COHERENT, 2, &coh), 0);
	addr = testdev_mmap(e.mm, 4, RW, MAP_PRIVATE);
	testdev_fill(e.mm, addr, 3, 1);	/* page 3 stays a hole */
	assert_int_equal(testdev_rec_insert(&rec, e.mm, addr - 4 * P, 12 * P), 0);
	snapshot_ptes(e.mm, addr, 4, before);
	used = used_pages(e.sys);
	ram = testdev_pte_page(e.mm, addr);
	cp = testdev_alloc_page(coh);

	assert_int_equal(uhmm_migrate_vma_setup(NULL), -EINVAL);
	uhmm_mmap_read_lock(e.mm);
	init_args(&base, e.mm, e.dev, addr, 4, SEL_SYS, src, dst);

	m = base; m.vma = NULL; expect_setup_einval(&m);
	m = base; m.src = NULL; expect_setup_einval(&m);
	m = base; m.dst = NULL; expect_setup_einval(&m);
	m = base; m.start = addr + 1; expect_setup_einval(&m);
	m = base; m.start = addr + P - 1; expect_setup_einval(&m);
	m = base; m.end = addr + 4 * P - 1; expect_setup_einval(&m);
	m = base; m.end = addr + 2 * P + 1; expect_setup_einval(&m);
	m = base; m.end = addr; expect_setup_einval(&m);		/* empty */
	m = base; m.start = addr + P; m.end = addr + P; expect_setup_einval(&m);
	m = base; m.end = addr - P; expect_setup_einval(&m);		/* end < start */
	m = base; m.start = addr - P; m.end = addr + P; expect_setup_einval(&m);	/* starts before */
	m = base; m.start = addr - 2 * P; m.end = addr - P; expect_setup_einval(&m);
	m = base; m.start = addr + 4 * P; m.end = addr + 5 * P; expect_setup_einval(&m);	/* at vm_end */
	m = base; m.end = addr + 5 * P; expect_setup_einval(&m);	/* beyond vm_end */
	m = base; m.start = addr + 3 * P; m.end = addr + 6 * P; expect_setup_einval(&m);
	m = base; m.fault_page = ram; expect_setup_einval(&m);		/* RAM page */
	m = base; m.fault_page = cp; expect_setup_einval(&m);		/* coherent page */
	uhmm_mmap_read_unlock(e.mm);

	/* nothing happened: no invalidation, same PTEs, same pages, same data */
	if (testdev_rec_n(&rec))
		testdev_rec_dump(&rec, "setup_invalid");
	assert_int_equal(testdev_rec_n(&rec), 0);
	snapshot_ptes(e.mm, addr, 4, after);
	for (i = 0; i < 4; i++) {
		assert_int_equal(after[i].kind, before[i].kind);
		assert_int_equal(after[i].pfn, before[i].pfn);
		assert_int_equal(after[i].write, before[i].write);
		assert_int_equal(after[i].refcount, before[i].refcount);
		assert_int_equal(after[i].mapcount, before[i].mapcount);
	}
	assert_false(uhmm_page_locked(ram));
	assert_int_equal(used_pages(e.sys), used);
	assert_int_equal(dev_used(e.sys), 1);	/* the coherent page we hold */
	testdev_assert_pattern(e.mm, addr, 3, 1);

	/* the same arguments, made valid, work */
	uhmm_mmap_read_lock(e.mm);
	m = base;
	assert_int_equal(uhmm_migrate_vma_setup(&m), 0);
	assert_int_equal(m.cpages, 4);
	uhmm_migrate_vma_pages(&m);
	uhmm_migrate_vma_finalize(&m);
	uhmm_mmap_read_unlock(e.mm);
	testdev_assert_pattern(e.mm, addr, 3, 1);

	uhmm_unlock_page(cp);
	uhmm_put_page(cp);
	testdev_rec_remove(&rec);
	testdev_destroy(coh);
	env_fini(&e);
}

/* ---------------------------------------------------- to device and back */

static void test_private_roundtrip_refcounts(void **state)
{
	enum { N = 8 };
	unsigned long src[N], dst[N], pfn[N], dpfn[N], addr, i;
	struct uhmm_page *pg[N], *dpg[N], *rpg;
	struct uhmm_migrate_vma m;
	struct env e;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE, 16);
	addr = testdev_mmap(e.mm, N, RW, MAP_PRIVATE);
	testdev_fill(e.mm, addr, N, 7);
	for (i = 0; i < N; i++) {
		pg[i] = testdev_pte_page(e.mm, addr + i * P);
		pfn[i] = uhmm_page_to_pfn(pg[i]);
		assert_int_equal(uhmm_page_refcount(pg[i]), 1);
	}
	assert_int_equal(used_pages(e.sys), 1 + N);

	/* setup: collect + unmap. Source: rc 1 (migration's own), unmapped, locked */
	uhmm_mmap_read_lock(e.mm);
	init_args(&m, e.mm, e.dev, addr, N, SEL_SYS, src, dst);
	assert_int_equal(uhmm_migrate_vma_setup(&m), 0);
	assert_int_equal(m.npages, N);
	assert_int_equal(m.cpages, N);
	assert_int_equal(m.end, addr + N * P);
	for (i = 0; i < N; i++) {
		struct uhmm_pte_info pi = testdev_pte(e.mm, addr + i * P);

		assert_int_equal(src[i], uhmm_migrate_pfn(pfn[i]) | M_MIGRATE | M_WRITE);
		assert_int_equal(dst[i], 0);
		assert_ptr_equal(uhmm_migrate_pfn_to_page(e.sys, src[i]), pg[i]);
		assert_int_equal(uhmm_page_refcount(pg[i]), 1);
		assert_int_equal(uhmm_page_mapcount(pg[i]), 0);
		assert_true(uhmm_page_locked(pg[i]));
		assert_int_equal(pi.kind, UHMM_PTE_MIGRATION);
		assert_int_equal(pi.pfn, pfn[i]);
		assert_true(pi.write);
	}
	/* driver: device pages rc 1, locked */
	assert_int_equal(testdev_fill_dst(e.dev, src, dst, N, true, NULL), N);
	for (i = 0; i < N; i++) {
		dpg[i] = uhmm_migrate_pfn_to_page(e.sys, dst[i]);
		dpfn[i] = uhmm_page_to_pfn(dpg[i]);
		assert_true(uhmm_is_device_private_page(dpg[i]));
		assert_int_equal(uhmm_page_refcount(dpg[i]), 1);
		assert_int_equal(uhmm_page_mapcount(dpg[i]), 0);
		assert_true(uhmm_page_locked(dpg[i]));
	}
	uhmm_migrate_vma_pages(&m);
	for (i = 0; i < N; i++) {
		assert_int_equal(src[i], uhmm_migrate_pfn(pfn[i]) | M_MIGRATE | M_WRITE);
		assert_int_equal(uhmm_page_refcount(pg[i]), 1);
		assert_int_equal(uhmm_page_refcount(dpg[i]), 1);
	}
	uhmm_migrate_vma_finalize(&m);
	uhmm_mmap_read_unlock(e.mm);

	/* finalize: sources freed, device pages rc 1 with one mapping, unlocked */
	assert_int_equal(used_pages(e.sys), 1);
	assert_int_equal(dev_used(e.sys), N);
	for (i = 0; i < N; i++) {
		assert_device_entry(e.mm, addr + i * P, dpfn[i], true, 1, 1);
		assert_false(uhmm_page_locked(dpg[i]));
	}
	assert_int_equal(atomic_load(&e.dev->nr_page_free), 0);
	assert_int_equal(atomic_load(&e.dev->nr_migrate_to_ram), 0);

	/* back to RAM, explicitly (no fault page) */
	uhmm_mmap_read_lock(e.mm);
	init_args(&m, e.mm, e.dev, addr, N, SEL_PRIV, src, dst);
	assert_int_equal(uhmm_migrate_vma_setup(&m), 0);
	assert_int_equal(m.cpages, N);
	for (i = 0; i < N; i++) {
		struct uhmm_pte_info pi = testdev_pte(e.mm, addr + i * P);

		assert_int_equal(src[i], uhmm_migrate_pfn(dpfn[i]) | M_MIGRATE | M_WRITE);
		assert_int_equal(uhmm_page_refcount(dpg[i]), 1);
		assert_int_equal(uhmm_page_mapcount(dpg[i]), 0);
		assert_true(uhmm_page_locked(dpg[i]));
		assert_int_equal(pi.kind, UHMM_PTE_MIGRATION);
		assert_int_equal(pi.pfn, dpfn[i]);
	}
	assert_int_equal(testdev_fill_dst(e.dev, src, dst, N, false, NULL), N);
	uhmm_migrate_vma_pages(&m);
	for (i = 0; i < N; i++)
		assert_true(src[i] & M_MIGRATE);
	atomic_store(&e.dev->last_free_refcount, -1);
	uhmm_migrate_vma_finalize(&m);
	uhmm_mmap_read_unlock(e.mm);

	assert_int_equal(atomic_load(&e.dev->nr_page_free), N);
	assert_int_equal(atomic_load(&e.dev->last_free_refcount), 0);
	assert_int_equal(testdev_nfree(e.dev), 16);
	assert_int_equal(dev_used(e.sys), 0);
	assert_int_equal(used_pages(e.sys), 1 + N);
	for (i = 0; i < N; i++) {
		rpg = uhmm_migrate_pfn_to_page(e.sys, dst[i]);
		assert_present(e.mm, addr + i * P, uhmm_page_to_pfn(rpg), true, 1, 1);
		assert_false(uhmm_page_locked(rpg));
	}
	testdev_assert_pattern(e.mm, addr, N, 7);
	assert_int_equal(atomic_load(&e.dev->nr_migrate_to_ram), 0);
	env_fini(&e);
}

static void test_private_data_via_cpu(void **state)
{
	unsigned long cp = 0, mig = 0, addr;
	struct env e;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE, 32);
	addr = testdev_mmap(e.mm, 24, RW, MAP_PRIVATE);
	testdev_fill(e.mm, addr, 24, 11);
	assert_int_equal(testdev_migrate_to_device(e.dev, e.mm, addr, 24, &cp, &mig), 0);
	assert_int_equal(cp, 24);
	assert_int_equal(mig, 24);
	assert_int_equal(testdev_nfree(e.dev), 8);
	/* the CPU sees the data through migrate_to_ram, one call a page */
	testdev_assert_pattern(e.mm, addr, 24, 11);
	assert_int_equal(atomic_load(&e.dev->nr_migrate_to_ram), 24);
	assert_int_equal(atomic_load(&e.dev->nr_migrated_to_ram), 24);
	assert_int_equal(testdev_nfree(e.dev), 32);
	/* and again: the device pages are reused */
	testdev_fill(e.mm, addr, 24, 12);
	assert_int_equal(testdev_migrate_to_device(e.dev, e.mm, addr, 24, &cp, &mig), 0);
	assert_int_equal(mig, 24);
	assert_int_equal(testdev_migrate_to_ram(e.dev, e.mm, addr, 24, &cp, &mig), 0);
	assert_int_equal(cp, 24);
	assert_int_equal(mig, 24);
	testdev_assert_pattern(e.mm, addr, 24, 12);
	assert_int_equal(atomic_load(&e.dev->nr_migrate_to_ram), 24);
	env_fini(&e);
}

static void test_coherent_roundtrip(void **state)
{
	enum { N = 6 };
	unsigned long src[N], dst[N], cp = 0, mig = 0, addr, i;
	struct uhmm_migrate_vma m;
	struct testdev *other;
	struct env e;

	env_init(&e, UHMM_MEMORY_DEVICE_COHERENT, 8);
	assert_int_equal(testdev_create(e.sys, UHMM_MEMORY_DEVICE_COHERENT, 8, &other), 0);
	addr = testdev_mmap(e.mm, N, RW, MAP_PRIVATE);
	testdev_fill(e.mm, addr, N, 3);
	assert_int_equal(testdev_migrate_to_device(e.dev, e.mm, addr, N, &cp, &mig), 0);
	assert_int_equal(cp, N);
	assert_int_equal(mig, N);
	assert_int_equal(used_pages(e.sys), 1);
	assert_int_equal(dev_used(e.sys), N);
	for (i = 0; i < N; i++) {
		struct uhmm_pte_info pi = testdev_pte(e.mm, addr + i * P);
		struct uhmm_page *p = uhmm_pfn_to_page(e.sys, pi.pfn);

		/* coherent memory is mapped by an ordinary PTE */
		assert_int_equal(pi.kind, UHMM_PTE_PRESENT);
		assert_true(pi.write);
		assert_true(uhmm_is_device_coherent_page(p));
		assert_ptr_equal(uhmm_page_pgmap(p), &e.dev->pgmap);
		assert_int_equal(pi.refcount, 1);
		assert_int_equal(pi.mapcount, 1);
	}
	/* the CPU reads and writes device memory in place */
	testdev_assert_pattern(e.mm, addr, N, 3);
	testdev_fill(e.mm, addr, 1, 4);
	assert_int_equal(testdev_pte(e.mm, addr).kind, UHMM_PTE_PRESENT);
	assert_true(uhmm_is_device_coherent_page(testdev_pte_page(e.mm, addr)));
	assert_int_equal(dev_used(e.sys), N);

	uhmm_mmap_read_lock(e.mm);
	/* SELECT_SYSTEM does not select coherent pages */
	init_args(&m, e.mm, e.dev, addr, N, SEL_SYS, src, dst);
	assert_int_equal(uhmm_migrate_vma_setup(&m), 0);
	assert_int_equal(m.cpages, 0);
	for (i = 0; i < N; i++)
		assert_int_equal(src[i], 0);
	uhmm_migrate_vma_pages(&m);
	uhmm_migrate_vma_finalize(&m);
	/* nor does SELECT_DEVICE_COHERENT with another owner */
	init_args(&m, e.mm, other, addr, N, SEL_COH, src, dst);
	assert_int_equal(uhmm_migrate_vma_setup(&m), 0);
	assert_int_equal(m.cpages, 0);
	for (i = 0; i < N; i++)
		assert_int_equal(src[i], 0);
	uhmm_migrate_vma_pages(&m);
	uhmm_migrate_vma_finalize(&m);
	uhmm_mmap_read_unlock(e.mm);
	assert_int_equal(dev_used(e.sys), N);

	assert_int_equal(testdev_migrate_to_ram(e.dev, e.mm, addr, N, &cp, &mig), 0);
	assert_int_equal(cp, N);
	assert_int_equal(mig, N);
	assert_int_equal(dev_used(e.sys), 0);
	assert_int_equal(atomic_load(&e.dev->nr_page_free), N);
	assert_int_equal(used_pages(e.sys), 1 + N);
	for (i = 0; i < N; i++) {
		struct uhmm_pte_info pi = testdev_pte(e.mm, addr + i * P);

		assert_int_equal(pi.kind, UHMM_PTE_PRESENT);
		assert_false(uhmm_is_zone_device_page(uhmm_pfn_to_page(e.sys, pi.pfn)));
	}
	testdev_assert_pattern(e.mm, addr, 1, 4);
	testdev_assert_pattern(e.mm, addr + P, N - 1, 3);
	testdev_destroy(other);
	env_fini(&e);
}

static void test_select_owner(void **state)
{
	enum { N = 3 };
	unsigned long src[N], dst[N], addr, i;
	struct uhmm_migrate_vma m;
	struct testdev *other;
	struct env e;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE, 4);
	assert_int_equal(testdev_create(e.sys, UHMM_MEMORY_DEVICE_PRIVATE, 4, &other), 0);
	addr = testdev_mmap(e.mm, N, RW, MAP_PRIVATE);
	testdev_fill(e.mm, addr, N, 5);
	assert_int_equal(testdev_migrate_to_device(e.dev, e.mm, addr, N, NULL, NULL), 0);
	uhmm_mmap_read_lock(e.mm);
	/* another owner's device pages are not selected */
	init_args(&m, e.mm, other, addr, N, SEL_PRIV | SEL_SYS, src, dst);
	assert_int_equal(uhmm_migrate_vma_setup(&m), 0);
	assert_int_equal(m.cpages, 0);
	assert_int_equal(m.npages, N);
	for (i = 0; i < N; i++)
		assert_int_equal(src[i], 0);
	uhmm_migrate_vma_pages(&m);
	uhmm_migrate_vma_finalize(&m);
	/* our own, without SELECT_DEVICE_PRIVATE, neither */
	init_args(&m, e.mm, e.dev, addr, N, SEL_SYS | SEL_COH, src, dst);
	assert_int_equal(uhmm_migrate_vma_setup(&m), 0);
	assert_int_equal(m.cpages, 0);
	uhmm_migrate_vma_pages(&m);
	uhmm_migrate_vma_finalize(&m);
	uhmm_mmap_read_unlock(e.mm);
	for (i = 0; i < N; i++)
		assert_device_entry(e.mm, addr + i * P, ~0UL, true, 1, 1);
	/* the owner itself brings them back */
	assert_int_equal(testdev_migrate_to_ram(e.dev, e.mm, addr, N, NULL, NULL), 0);
	testdev_assert_pattern(e.mm, addr, N, 5);
	assert_int_equal(atomic_load(&e.dev->nr_migrate_to_ram), 0);
	testdev_destroy(other);
	env_fini(&e);
}

/* -------------------------------------------------- holes and the zero page */

static void test_holes_and_zero_page(void **state)
{
	enum { N = 4 };
	unsigned long src[N], dst[N], addr, pfn0, zpfn, i;
	struct testdev_recorder rec;
	struct uhmm_migrate_vma m;
	struct env e;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE, 8);
	addr = testdev_mmap(e.mm, N, RW, MAP_PRIVATE);
	testdev_fill(e.mm, addr, 1, 9);		/* page 0: RAM */
	read_zero_page(e.mm, addr + P);		/* page 1: the zero page; 2, 3: holes */
	pfn0 = testdev_pte(e.mm, addr).pfn;
	zpfn = testdev_pte(e.mm, addr + P).pfn;
	assert_int_equal(testdev_rec_insert(&rec, e.mm, addr, N * P), 0);

	uhmm_mmap_read_lock(e.mm);
	init_args(&m, e.mm, e.dev, addr, N, SEL_SYS, src, dst);
	assert_int_equal(uhmm_migrate_vma_setup(&m), 0);
	assert_int_equal(m.npages, N);
	assert_int_equal(m.cpages, N);
	assert_int_equal(src[0], uhmm_migrate_pfn(pfn0) | M_MIGRATE | M_WRITE);
	assert_int_equal(src[1], M_MIGRATE);	/* zero page: no pfn */
	assert_int_equal(src[2], M_MIGRATE);	/* holes: no pfn */
	assert_int_equal(src[3], M_MIGRATE);
	assert_null(uhmm_migrate_pfn_to_page(e.sys, src[1]));
	/* the zero page stays mapped until pages time; holes stay holes */
	assert_int_equal(testdev_pte(e.mm, addr + P).kind, UHMM_PTE_ZERO);
	assert_int_equal(testdev_pte(e.mm, addr + P).pfn, zpfn);
	assert_int_equal(testdev_pte(e.mm, addr + 2 * P).kind, UHMM_PTE_NONE);
	assert_int_equal(testdev_rec_n(&rec), 1);
	assert_int_equal(testdev_fill_dst(e.dev, src, dst, N, true, NULL), N);
	uhmm_migrate_vma_pages(&m);
	assert_int_equal(src[1], M_MIGRATE);
	assert_int_equal(src[2], M_MIGRATE);
	/* populated at pages time already */
	assert_int_equal(testdev_pte(e.mm, addr + 2 * P).kind, UHMM_PTE_DEVICE_PRIVATE);
	uhmm_migrate_vma_finalize(&m);
	uhmm_mmap_read_unlock(e.mm);

	for (i = 0; i < N; i++) {
		assert_device_entry(e.mm, addr + i * P, uhmm_migrate_pfn_to_pfn(dst[i]), true, 1, 1);
		assert_false(uhmm_page_locked(uhmm_migrate_pfn_to_page(e.sys, dst[i])));
	}
	assert_int_equal(used_pages(e.sys), 1);
	assert_int_equal(testdev_rec_n(&rec), 2);
	assert_int_equal(testdev_rec_get(&rec, 1).event, UHMM_MMU_NOTIFY_MIGRATE);
	assert_int_equal(testdev_rec_get(&rec, 1).start, addr + P);
	assert_int_equal(testdev_rec_get(&rec, 1).end, addr + N * P);

	testdev_assert_pattern(e.mm, addr, 1, 9);
	testdev_assert_zero(e.mm, addr + P, N - 1);
	assert_int_equal(atomic_load(&e.dev->nr_migrate_to_ram), N);
	for (i = 0; i < N; i++)
		assert_present(e.mm, addr + i * P, ~0UL, true, 1, 1);
	testdev_rec_remove(&rec);
	env_fini(&e);
}

static void test_holes_readonly_vma(void **state)
{
	enum { N = 3 };
	unsigned long cp = 0, mig = 0, addr, i;
	struct env e;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE, 8);
	addr = testdev_mmap(e.mm, N, PROT_READ, MAP_PRIVATE);
	read_zero_page(e.mm, addr);	/* page 0: zero page, pages 1, 2: holes */
	assert_int_equal(testdev_migrate_to_device(e.dev, e.mm, addr, N, &cp, &mig), 0);
	assert_int_equal(cp, N);
	assert_int_equal(mig, N);
	/* inserted entries are writable iff the VMA is */
	for (i = 0; i < N; i++)
		assert_device_entry(e.mm, addr + i * P, ~0UL, false, 1, 1);
	testdev_assert_zero(e.mm, addr, N);
	assert_int_equal(atomic_load(&e.dev->nr_migrate_to_ram), N);
	for (i = 0; i < N; i++)
		assert_present(e.mm, addr + i * P, ~0UL, false, 1, 1);
	env_fini(&e);
}

static void test_back_to_ram_holes(void **state)
{
	unsigned long src[3], dst[3], addr, dpfn, zpfn;
	struct uhmm_migrate_vma m;
	struct env e;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE, 4);
	addr = testdev_mmap(e.mm, 3, RW, MAP_PRIVATE);
	testdev_fill(e.mm, addr, 1, 141);
	assert_int_equal(testdev_migrate_to_device(e.dev, e.mm, addr, 1, NULL, NULL), 0);
	dpfn = testdev_pte(e.mm, addr).pfn;
	read_zero_page(e.mm, addr + P);	/* page 2 stays a hole */
	zpfn = testdev_pte(e.mm, addr + P).pfn;

	uhmm_mmap_read_lock(e.mm);
	init_args(&m, e.mm, e.dev, addr, 3, SEL_PRIV, src, dst);
	assert_int_equal(uhmm_migrate_vma_setup(&m), 0);
	assert_int_equal(src[0], uhmm_migrate_pfn(dpfn) | M_MIGRATE | M_WRITE);
	assert_int_equal(src[1], 0);		/* the zero page needs SELECT_SYSTEM */
	assert_int_equal(src[2], M_MIGRATE);	/* a hole in an anonymous VMA, whatever the flags */
	assert_int_equal(m.cpages, 2);
	assert_int_equal(testdev_fill_dst(e.dev, src, dst, 3, false, NULL), 1);
	uhmm_migrate_vma_pages(&m);
	assert_true(src[0] & M_MIGRATE);
	assert_int_equal(src[2], 0);		/* no destination: declined */
	uhmm_migrate_vma_finalize(&m);
	uhmm_mmap_read_unlock(e.mm);
	assert_present(e.mm, addr, ~0UL, true, 1, 1);
	assert_int_equal(testdev_pte(e.mm, addr + P).kind, UHMM_PTE_ZERO);
	assert_int_equal(testdev_pte(e.mm, addr + P).pfn, zpfn);
	assert_int_equal(testdev_pte(e.mm, addr + 2 * P).kind, UHMM_PTE_NONE);
	testdev_assert_pattern(e.mm, addr, 1, 141);
	assert_int_equal(atomic_load(&e.dev->nr_page_free), 1);
	env_fini(&e);
}

/* ------------------------------------------------------ refused pages */

static void test_pinned_page_refused(void **state)
{
	enum { N = 3 };
	unsigned long src[N], dst[N], pfn[N], addr, i;
	struct uhmm_page *pinned[1];
	struct uhmm_migrate_vma m;
	struct env e;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE, 8);
	addr = testdev_mmap(e.mm, N, RW, MAP_PRIVATE);
	testdev_fill(e.mm, addr, N, 21);
	for (i = 0; i < N; i++)
		pfn[i] = testdev_pte(e.mm, addr + i * P).pfn;
	assert_int_equal(uhmm_pin_user_pages(e.mm, addr + P, 1, true, pinned), 0);
	assert_int_equal(uhmm_page_to_pfn(pinned[0]), pfn[1]);
	assert_int_equal(uhmm_page_refcount(pinned[0]), 2);

	uhmm_mmap_read_lock(e.mm);
	init_args(&m, e.mm, e.dev, addr, N, SEL_SYS, src, dst);
	assert_int_equal(uhmm_migrate_vma_setup(&m), 0);
	assert_int_equal(m.npages, N);
	assert_int_equal(m.cpages, 2);
	assert_int_equal(src[0], uhmm_migrate_pfn(pfn[0]) | M_MIGRATE | M_WRITE);
	assert_int_equal(src[1], 0);
	assert_int_equal(src[2], uhmm_migrate_pfn(pfn[2]) | M_MIGRATE | M_WRITE);
	/* the pinned page stays mapped, unlocked */
	assert_present(e.mm, addr + P, pfn[1], true, 2, 1);
	assert_false(uhmm_page_locked(pinned[0]));
	assert_int_equal(testdev_fill_dst(e.dev, src, dst, N, true, NULL), 2);
	uhmm_migrate_vma_pages(&m);
	uhmm_migrate_vma_finalize(&m);
	uhmm_mmap_read_unlock(e.mm);

	assert_device_entry(e.mm, addr, ~0UL, true, 1, 1);
	assert_present(e.mm, addr + P, pfn[1], true, 2, 1);
	assert_device_entry(e.mm, addr + 2 * P, ~0UL, true, 1, 1);
	uhmm_unpin_user_pages(pinned, 1);
	assert_present(e.mm, addr + P, pfn[1], true, 1, 1);
	testdev_assert_pattern(e.mm, addr, N, 21);
	env_fini(&e);
}

static void test_extra_reference_restored(void **state)
{
	enum { N = 3 };
	unsigned long src[N], dst[N], pfn1, addr;
	struct uhmm_migrate_vma m;
	struct uhmm_page *p1;
	struct env e;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE, 8);
	addr = testdev_mmap(e.mm, N, RW, MAP_PRIVATE);
	testdev_fill(e.mm, addr, N, 22);
	p1 = testdev_pte_page(e.mm, addr + P);
	pfn1 = uhmm_page_to_pfn(p1);
	uhmm_get_page(p1);	/* a reference that is not a mapping: the reference check refuses */

	uhmm_mmap_read_lock(e.mm);
	init_args(&m, e.mm, e.dev, addr, N, SEL_SYS, src, dst);
	assert_int_equal(uhmm_migrate_vma_setup(&m), 0);
	assert_int_equal(m.cpages, 2);
	assert_int_equal(src[1], 0);
	/* restored: mapped again, unlocked, our reference and the mapping's */
	assert_present(e.mm, addr + P, pfn1, true, 2, 1);
	assert_false(uhmm_page_locked(p1));
	testdev_fill_dst(e.dev, src, dst, N, true, NULL);
	uhmm_migrate_vma_pages(&m);
	uhmm_migrate_vma_finalize(&m);
	uhmm_mmap_read_unlock(e.mm);
	assert_device_entry(e.mm, addr, ~0UL, true, 1, 1);
	assert_device_entry(e.mm, addr + 2 * P, ~0UL, true, 1, 1);
	assert_present(e.mm, addr + P, pfn1, true, 2, 1);
	uhmm_put_page(p1);
	testdev_assert_pattern(e.mm, addr, N, 22);
	env_fini(&e);
}

/*
 * A reference taken after setup, between setup and pages (a pin, a driver's
 * get_page): Linux checks the references again when it moves the mapping
 * (folio_migrate_mapping), so pages clears MIGRATE on that entry (the page
 * word stays) and finalize restores the original page, data and mapping.
 */
static void test_reference_after_setup_to_device(void **state)
{
	enum { N = 3 };
	unsigned long src[N], dst[N], pfn1, addr;
	struct uhmm_migrate_vma m;
	struct uhmm_page *p1;
	struct env e;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE, 8);
	addr = testdev_mmap(e.mm, N, RW, MAP_PRIVATE);
	testdev_fill(e.mm, addr, N, 24);
	pfn1 = testdev_pte(e.mm, addr + P).pfn;

	uhmm_mmap_read_lock(e.mm);
	init_args(&m, e.mm, e.dev, addr, N, SEL_SYS, src, dst);
	assert_int_equal(uhmm_migrate_vma_setup(&m), 0);
	assert_int_equal(m.cpages, N);
	assert_int_equal(src[1], uhmm_migrate_pfn(pfn1) | M_MIGRATE | M_WRITE);
	p1 = uhmm_migrate_pfn_to_page(e.sys, src[1]);
	uhmm_get_page(p1);
	assert_int_equal(testdev_fill_dst(e.dev, src, dst, N, true, NULL), N);
	uhmm_migrate_vma_pages(&m);
	assert_true(src[0] & M_MIGRATE);
	assert_int_equal(src[1], uhmm_migrate_pfn(pfn1) | M_WRITE);
	assert_true(src[2] & M_MIGRATE);
	uhmm_migrate_vma_finalize(&m);
	uhmm_mmap_read_unlock(e.mm);

	assert_device_entry(e.mm, addr, ~0UL, true, 1, 1);
	assert_present(e.mm, addr + P, pfn1, true, 2, 1);	/* the mapping's reference and ours */
	assert_false(uhmm_page_locked(p1));
	assert_device_entry(e.mm, addr + 2 * P, ~0UL, true, 1, 1);
	assert_int_equal(testdev_nfree(e.dev), 8 - 2);	/* the refused destination went back */
	uhmm_put_page(p1);
	assert_present(e.mm, addr + P, pfn1, true, 1, 1);
	testdev_assert_pattern(e.mm, addr, N, 24);
	env_fini(&e);
}

static void test_reference_after_setup_to_ram(void **state)
{
	enum { N = 3 };
	unsigned long src[N], dst[N], dpfn1, addr, used;
	struct uhmm_migrate_vma m;
	struct uhmm_page *d1;
	struct env e;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE, 8);
	addr = testdev_mmap(e.mm, N, RW, MAP_PRIVATE);
	testdev_fill(e.mm, addr, N, 25);
	assert_int_equal(testdev_migrate_to_device(e.dev, e.mm, addr, N, NULL, NULL), 0);
	dpfn1 = testdev_pte(e.mm, addr + P).pfn;
	used = used_pages(e.sys);

	uhmm_mmap_read_lock(e.mm);
	init_args(&m, e.mm, e.dev, addr, N, SEL_PRIV, src, dst);
	assert_int_equal(uhmm_migrate_vma_setup(&m), 0);
	assert_int_equal(m.cpages, N);
	assert_int_equal(src[1], uhmm_migrate_pfn(dpfn1) | M_MIGRATE | M_WRITE);
	d1 = uhmm_migrate_pfn_to_page(e.sys, src[1]);
	uhmm_get_page(d1);
	assert_int_equal(testdev_fill_dst(e.dev, src, dst, N, false, NULL), N);
	uhmm_migrate_vma_pages(&m);
	assert_true(src[0] & M_MIGRATE);
	assert_int_equal(src[1], uhmm_migrate_pfn(dpfn1) | M_WRITE);
	assert_true(src[2] & M_MIGRATE);
	uhmm_migrate_vma_finalize(&m);
	uhmm_mmap_read_unlock(e.mm);

	assert_present(e.mm, addr, ~0UL, true, 1, 1);
	assert_device_entry(e.mm, addr + P, dpfn1, true, 2, 1);	/* still on the device */
	assert_false(uhmm_page_locked(d1));
	assert_present(e.mm, addr + 2 * P, ~0UL, true, 1, 1);
	assert_int_equal(used_pages(e.sys), used + 2);	/* the refused RAM destination was freed */
	assert_int_equal(atomic_load(&e.dev->nr_page_free), 2);
	uhmm_put_page(d1);
	assert_device_entry(e.mm, addr + P, dpfn1, true, 1, 1);
	testdev_assert_pattern(e.mm, addr, N, 25);
	env_fini(&e);
}

/* The same from a CPU fault: the fault page may carry the fault's reference, not one more. */
static void test_reference_after_setup_fault_page(void **state)
{
	unsigned long addr, dpfn;
	struct env e;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE, 4);
	addr = testdev_mmap(e.mm, 1, RW, MAP_PRIVATE);
	testdev_fill(e.mm, addr, 1, 26);
	assert_int_equal(testdev_migrate_to_device(e.dev, e.mm, addr, 1, NULL, NULL), 0);
	dpfn = testdev_pte(e.mm, addr).pfn;
	atomic_store(&e.dev->get_src_before_pages, 1);

	/* the first migrate_to_ram moves nothing; the fault retries and the second one does */
	testdev_assert_pattern(e.mm, addr, 1, 26);
	assert_int_equal(atomic_load(&e.dev->nr_migrate_to_ram), 2);
	assert_int_equal(atomic_load(&e.dev->nr_migrated_to_ram), 1);
	assert_int_equal(atomic_load(&e.dev->extra_ref_src_after_pages), uhmm_migrate_pfn(dpfn) | M_WRITE);
	/* restored after the first: the mapping's, the fault's and the extra reference */
	assert_int_equal(atomic_load(&e.dev->extra_ref_refcount_after_finalize), 3);
	assert_int_equal(atomic_load(&e.dev->extra_ref_mapcount_after_finalize), 1);
	assert_present(e.mm, addr, ~0UL, true, 1, 1);
	assert_int_equal(atomic_load(&e.dev->nr_page_free), 1);
	env_fini(&e);
}

/* And for eviction by physical range (migrate_device_pages: no VMA). */
static void test_reference_after_setup_device_pages(void **state)
{
	enum { N = 2 };
	unsigned long src[N], dst[N], addr, pfn0, i, held = N;
	struct uhmm_page *d;
	struct env e;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE, N);
	addr = testdev_mmap(e.mm, N, RW, MAP_PRIVATE);
	testdev_fill(e.mm, addr, N, 27);
	assert_int_equal(testdev_migrate_to_device(e.dev, e.mm, addr, N, NULL, NULL), 0);
	pfn0 = e.dev->pgmap.pfn_first;

	assert_int_equal(uhmm_migrate_device_range(e.sys, src, pfn0, N), 0);
	for (i = 0; i < N; i++)
		assert_int_equal(src[i], uhmm_migrate_pfn(pfn0 + i) | M_MIGRATE);
	d = uhmm_pfn_to_page(e.sys, pfn0 + 1);
	uhmm_get_page(d);
	assert_int_equal(testdev_fill_dst(e.dev, src, dst, N, false, NULL), N);
	uhmm_migrate_device_pages(e.sys, src, dst, N);
	assert_int_equal(src[0], uhmm_migrate_pfn(pfn0) | M_MIGRATE);
	assert_int_equal(src[1], uhmm_migrate_pfn(pfn0 + 1));
	uhmm_migrate_device_finalize(e.sys, src, dst, N);

	for (i = 0; i < N; i++) {
		struct uhmm_pte_info pi = testdev_pte(e.mm, addr + i * P);

		if (pi.kind == UHMM_PTE_DEVICE_PRIVATE) {
			assert_int_equal(pi.pfn, pfn0 + 1);
			assert_int_equal(pi.refcount, 2);
			assert_int_equal(pi.mapcount, 1);
			held = i;
		} else {
			assert_int_equal(pi.kind, UHMM_PTE_PRESENT);
		}
	}
	assert_true(held < N);
	assert_false(uhmm_page_locked(d));
	assert_int_equal(atomic_load(&e.dev->nr_page_free), 1);
	uhmm_put_page(d);
	testdev_assert_pattern(e.mm, addr, N, 27);
	env_fini(&e);
}

static void test_locked_page_skipped(void **state)
{
	enum { N = 3 };
	unsigned long src[N], dst[N], pfn1, addr;
	struct uhmm_migrate_vma m;
	struct uhmm_page *p1;
	struct env e;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE, 8);
	addr = testdev_mmap(e.mm, N, RW, MAP_PRIVATE);
	testdev_fill(e.mm, addr, N, 23);
	p1 = testdev_pte_page(e.mm, addr + P);
	pfn1 = uhmm_page_to_pfn(p1);
	uhmm_lock_page(p1);	/* someone else holds the page lock: collect must not block */

	uhmm_mmap_read_lock(e.mm);
	init_args(&m, e.mm, e.dev, addr, N, SEL_SYS, src, dst);
	assert_int_equal(uhmm_migrate_vma_setup(&m), 0);
	assert_int_equal(m.npages, N);
	assert_int_equal(m.cpages, 2);
	assert_int_equal(src[1], 0);
	assert_true(src[0] & M_MIGRATE);
	assert_true(src[2] & M_MIGRATE);
	assert_present(e.mm, addr + P, pfn1, true, 1, 1);
	assert_true(uhmm_page_locked(p1));	/* still ours */
	testdev_fill_dst(e.dev, src, dst, N, true, NULL);
	uhmm_migrate_vma_pages(&m);
	uhmm_migrate_vma_finalize(&m);
	uhmm_mmap_read_unlock(e.mm);
	assert_true(uhmm_page_locked(p1));
	uhmm_unlock_page(p1);
	assert_device_entry(e.mm, addr, ~0UL, true, 1, 1);
	assert_present(e.mm, addr + P, pfn1, true, 1, 1);
	assert_device_entry(e.mm, addr + 2 * P, ~0UL, true, 1, 1);
	testdev_assert_pattern(e.mm, addr, N, 23);
	env_fini(&e);
}

static void test_shared_vma_not_migrated(void **state)
{
	enum { N = 4 };
	unsigned long src[N], dst[N], pfn[2], addr, cp = 0, mig = 0, i;
	struct uhmm_migrate_vma m;
	struct env e;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE, 8);
	addr = testdev_mmap(e.mm, N, RW, MAP_SHARED);
	testdev_fill(e.mm, addr, 2, 31);	/* pages 2, 3: holes */
	for (i = 0; i < 2; i++)
		pfn[i] = testdev_pte(e.mm, addr + i * P).pfn;

	uhmm_mmap_read_lock(e.mm);
	init_args(&m, e.mm, e.dev, addr, N, SEL_SYS, src, dst);
	assert_int_equal(uhmm_migrate_vma_setup(&m), 0);
	assert_int_equal(m.npages, N);
	/* holes of a non-anonymous VMA are not candidates */
	assert_int_equal(src[2], 0);
	assert_int_equal(src[3], 0);
	testdev_fill_dst(e.dev, src, dst, N, true, NULL);
	uhmm_migrate_vma_pages(&m);
	/* shmem pages never go to device memory */
	for (i = 0; i < N; i++)
		assert_false(src[i] & M_MIGRATE);
	uhmm_migrate_vma_finalize(&m);
	uhmm_mmap_read_unlock(e.mm);

	for (i = 0; i < 2; i++) {
		struct uhmm_pte_info pi = testdev_pte(e.mm, addr + i * P);

		assert_int_equal(pi.kind, UHMM_PTE_PRESENT);
		assert_int_equal(pi.pfn, pfn[i]);
		assert_true(pi.write);
		assert_int_equal(pi.mapcount, 1);
		assert_false(uhmm_page_locked(uhmm_pfn_to_page(e.sys, pfn[i])));
	}
	assert_int_equal(testdev_pte(e.mm, addr + 2 * P).kind, UHMM_PTE_NONE);
	assert_int_equal(testdev_pte(e.mm, addr + 3 * P).kind, UHMM_PTE_NONE);
	assert_int_equal(dev_used(e.sys), 0);
	assert_int_equal(testdev_migrate_to_device(e.dev, e.mm, addr, N, &cp, &mig), 0);
	assert_int_equal(mig, 0);
	testdev_assert_pattern(e.mm, addr, 2, 31);
	testdev_assert_zero(e.mm, addr + 2 * P, 2);
	assert_int_equal(dev_used(e.sys), 0);
	env_fini(&e);
}

static void test_dst_declined(void **state)
{
	enum { N = 4 };
	unsigned long src[N], dst[N], pfn[N], addr, i;
	const bool decline[N] = { false, true, false, true };
	struct uhmm_migrate_vma m;
	struct env e;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE, 8);
	addr = testdev_mmap(e.mm, N, RW, MAP_PRIVATE);
	testdev_fill(e.mm, addr, N, 41);
	for (i = 0; i < N; i++)
		pfn[i] = testdev_pte(e.mm, addr + i * P).pfn;
	uhmm_mmap_read_lock(e.mm);
	init_args(&m, e.mm, e.dev, addr, N, SEL_SYS, src, dst);
	assert_int_equal(uhmm_migrate_vma_setup(&m), 0);
	assert_int_equal(m.cpages, N);
	assert_int_equal(testdev_fill_dst(e.dev, src, dst, N, true, decline), 2);
	uhmm_migrate_vma_pages(&m);
	for (i = 0; i < N; i++) {
		if (decline[i])
			assert_int_equal(src[i], uhmm_migrate_pfn(pfn[i]) | M_WRITE);
		else
			assert_int_equal(src[i], uhmm_migrate_pfn(pfn[i]) | M_MIGRATE | M_WRITE);
	}
	uhmm_migrate_vma_finalize(&m);
	uhmm_mmap_read_unlock(e.mm);
	for (i = 0; i < N; i++) {
		if (decline[i]) {
			assert_present(e.mm, addr + i * P, pfn[i], true, 1, 1);
			assert_false(uhmm_page_locked(uhmm_pfn_to_page(e.sys, pfn[i])));
		} else {
			assert_device_entry(e.mm, addr + i * P, uhmm_migrate_pfn_to_pfn(dst[i]), true, 1, 1);
		}
	}
	assert_int_equal(used_pages(e.sys), 1 + 2);
	assert_int_equal(dev_used(e.sys), 2);
	testdev_assert_pattern(e.mm, addr, N, 41);
	assert_int_equal(atomic_load(&e.dev->nr_migrate_to_ram), 2);
	env_fini(&e);
}

/* ------------------------------------------------------- notifier events */

static void assert_event(struct testdev_recorder *r, unsigned i, enum uhmm_mmu_notifier_event ev,
			 unsigned long start, unsigned long end, void *owner, struct uhmm_mm *mm)
{
	struct testdev_event x = testdev_rec_get(r, i);

	assert_int_equal(x.event, ev);
	assert_int_equal(x.start, start);
	assert_int_equal(x.end, end);
	assert_ptr_equal(x.owner, owner);
	assert_ptr_equal(x.mm, mm);
}

/* Migrate [start, start+n) of @mm to the device declining @decline; return the recorder's count. */
static void migrate_declining(struct env *e, unsigned long start, unsigned long n, const bool *decline)
{
	unsigned long src[MAXP], dst[MAXP];
	struct uhmm_migrate_vma m;

	uhmm_mmap_read_lock(e->mm);
	init_args(&m, e->mm, e->dev, start, n, SEL_SYS, src, dst);
	assert_int_equal(uhmm_migrate_vma_setup(&m), 0);
	testdev_fill_dst(e->dev, src, dst, n, true, decline);
	uhmm_migrate_vma_pages(&m);
	uhmm_migrate_vma_finalize(&m);
	uhmm_mmap_read_unlock(e->mm);
}

static void test_notifier_migrate_events(void **state)
{
	enum { N = 4 };
	struct testdev_recorder rec;
	unsigned long addr, b;
	struct env e;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE, 16);
	addr = testdev_mmap(e.mm, N, RW, MAP_PRIVATE);
	testdev_fill(e.mm, addr, N, 51);
	assert_int_equal(testdev_rec_insert(&rec, e.mm, addr, N * P), 0);

	/* all pages present: exactly one MIGRATE over the requested range, owner = pgmap_owner */
	assert_int_equal(testdev_migrate_to_device(e.dev, e.mm, addr, N, NULL, NULL), 0);
	assert_int_equal(testdev_rec_n(&rec), 1);
	assert_event(&rec, 0, UHMM_MMU_NOTIFY_MIGRATE, addr, addr + N * P, e.dev, e.mm);
	/* and back: one MIGRATE again */
	testdev_rec_reset(&rec);
	assert_int_equal(testdev_migrate_to_ram(e.dev, e.mm, addr, N, NULL, NULL), 0);
	assert_int_equal(testdev_rec_n(&rec), 1);
	assert_event(&rec, 0, UHMM_MMU_NOTIFY_MIGRATE, addr, addr + N * P, e.dev, e.mm);
	/* a sub-range: exactly that range */
	testdev_rec_reset(&rec);
	assert_int_equal(testdev_migrate_to_device(e.dev, e.mm, addr + P, 2, NULL, NULL), 0);
	assert_int_equal(testdev_rec_n(&rec), 1);
	assert_event(&rec, 0, UHMM_MMU_NOTIFY_MIGRATE, addr + P, addr + 3 * P, e.dev, e.mm);
	testdev_rec_reset(&rec);
	assert_int_equal(testdev_migrate_to_ram(e.dev, e.mm, addr, N, NULL, NULL), 0);
	assert_int_equal(testdev_rec_n(&rec), 1);
	assert_event(&rec, 0, UHMM_MMU_NOTIFY_MIGRATE, addr, addr + N * P, e.dev, e.mm);
	testdev_assert_pattern(e.mm, addr, N, 51);
	testdev_rec_remove(&rec);

	/* holes at 1 and 3: a second MIGRATE from the first populated one to the end */
	b = testdev_mmap(e.mm, N, RW, MAP_PRIVATE);
	testdev_fill(e.mm, b, 1, 52);
	testdev_fill(e.mm, b + 2 * P, 1, 53);
	assert_int_equal(testdev_rec_insert(&rec, e.mm, b, N * P), 0);
	assert_int_equal(testdev_migrate_to_device(e.dev, e.mm, b, N, NULL, NULL), 0);
	assert_int_equal(testdev_rec_n(&rec), 2);
	assert_event(&rec, 0, UHMM_MMU_NOTIFY_MIGRATE, b, b + N * P, e.dev, e.mm);
	assert_event(&rec, 1, UHMM_MMU_NOTIFY_MIGRATE, b + P, b + N * P, e.dev, e.mm);
	assert_int_equal(testdev_migrate_to_ram(e.dev, e.mm, b, N, NULL, NULL), 0);
	testdev_assert_pattern(e.mm, b, 1, 52);
	testdev_assert_pattern(e.mm, b + 2 * P, 1, 53);
	testdev_assert_zero(e.mm, b + P, 1);
	assert_int_equal(uhmm_munmap(e.mm, b, N * P), 0);
	testdev_rec_remove(&rec);

	/* holes declined: no second MIGRATE (nothing populated) */
	b = testdev_mmap(e.mm, N, RW, MAP_PRIVATE);
	testdev_fill(e.mm, b, 1, 54);
	assert_int_equal(testdev_rec_insert(&rec, e.mm, b, N * P), 0);
	{
		const bool decline[N] = { false, true, true, true };

		migrate_declining(&e, b, N, decline);
	}
	assert_int_equal(testdev_rec_n(&rec), 1);
	assert_event(&rec, 0, UHMM_MMU_NOTIFY_MIGRATE, b, b + N * P, e.dev, e.mm);
	for (unsigned long i = 1; i < N; i++)
		assert_int_equal(testdev_pte(e.mm, b + i * P).kind, UHMM_PTE_NONE);
	/* only the last hole populated: the range starts there */
	testdev_rec_reset(&rec);
	{
		const bool decline[N] = { false, true, true, false };

		migrate_declining(&e, b, N, decline);
	}
	assert_int_equal(testdev_rec_n(&rec), 2);
	assert_event(&rec, 0, UHMM_MMU_NOTIFY_MIGRATE, b, b + N * P, e.dev, e.mm);
	assert_event(&rec, 1, UHMM_MMU_NOTIFY_MIGRATE, b + 3 * P, b + N * P, e.dev, e.mm);
	assert_int_equal(testdev_pte(e.mm, b + 3 * P).kind, UHMM_PTE_DEVICE_PRIVATE);
	assert_int_equal(testdev_pte(e.mm, b + P).kind, UHMM_PTE_NONE);
	testdev_rec_remove(&rec);

	/* a zero page counts as a hole */
	b = testdev_mmap(e.mm, 2, RW, MAP_PRIVATE);
	read_zero_page(e.mm, b);
	assert_int_equal(testdev_rec_insert(&rec, e.mm, b, 2 * P), 0);
	assert_int_equal(testdev_migrate_to_device(e.dev, e.mm, b, 2, NULL, NULL), 0);
	assert_int_equal(testdev_rec_n(&rec), 2);
	assert_event(&rec, 1, UHMM_MMU_NOTIFY_MIGRATE, b, b + 2 * P, e.dev, e.mm);
	testdev_rec_remove(&rec);
	env_fini(&e);
}

/* -------------------------------------------------------------- fork */

static void test_fork_clear_to_child(void **state)
{
	enum { N = 4 };
	unsigned long src[N], dst[N], pfn[N], dpfn[N], addr, i, ppfn0, cpfn0;
	struct testdev_recorder recp, recc;
	struct uhmm_migrate_vma m;
	struct uhmm_mm *child;
	struct env e;
	unsigned n;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE, 8);
	addr = testdev_mmap(e.mm, N, RW, MAP_PRIVATE);
	testdev_fill(e.mm, addr, N, 61);
	for (i = 0; i < N; i++)
		pfn[i] = testdev_pte(e.mm, addr + i * P).pfn;
	assert_int_equal(uhmm_mm_fork(e.mm, &child), 0);
	assert_int_equal(testdev_rec_insert(&recp, e.mm, addr, N * P), 0);
	assert_int_equal(testdev_rec_insert(&recc, child, addr, N * P), 0);

	uhmm_mmap_read_lock(e.mm);
	init_args(&m, e.mm, e.dev, addr, N, SEL_SYS, src, dst);
	assert_int_equal(uhmm_migrate_vma_setup(&m), 0);
	assert_int_equal(m.cpages, N);
	for (i = 0; i < N; i++) {
		/* fork write-protected the parent: no WRITE */
		assert_int_equal(src[i], uhmm_migrate_pfn(pfn[i]) | M_MIGRATE);
		/* the child's mapping went too, by rmap */
		assert_int_equal(testdev_pte(child, addr + i * P).kind, UHMM_PTE_MIGRATION);
	}
	assert_int_equal(testdev_fill_dst(e.dev, src, dst, N, true, NULL), N);
	uhmm_migrate_vma_pages(&m);
	uhmm_migrate_vma_finalize(&m);
	uhmm_mmap_read_unlock(e.mm);

	/* the parent: one MIGRATE over the range with the owner, then CLEARs only */
	n = testdev_rec_n(&recp);
	assert_true(n >= 1);
	assert_event(&recp, 0, UHMM_MMU_NOTIFY_MIGRATE, addr, addr + N * P, e.dev, e.mm);
	assert_int_equal(testdev_rec_count(&recp, UHMM_MMU_NOTIFY_MIGRATE), 1);
	assert_int_equal(testdev_rec_count(&recp, UHMM_MMU_NOTIFY_CLEAR), n - 1);
	/* the child: exactly one CLEAR (owner NULL) per page it maps */
	if (testdev_rec_n(&recc) != N)
		testdev_rec_dump(&recc, "child");
	assert_int_equal(testdev_rec_n(&recc), N);
	for (i = 0; i < N; i++)
		assert_event(&recc, i, UHMM_MMU_NOTIFY_CLEAR, addr + i * P, addr + (i + 1) * P, NULL, child);

	/* both see the device page, read-only, two mappings */
	for (i = 0; i < N; i++) {
		dpfn[i] = uhmm_migrate_pfn_to_pfn(dst[i]);
		assert_device_entry(e.mm, addr + i * P, dpfn[i], false, 2, 2);
		assert_device_entry(child, addr + i * P, dpfn[i], false, 2, 2);
	}
	assert_int_equal(used_pages(e.sys), 1);
	assert_int_equal(atomic_load(&e.dev->nr_migrate_to_ram), 0);

	/* a write by the child faults it back (fault_page set) and breaks COW */
	testdev_rec_reset(&recp);
	testdev_rec_reset(&recc);
	testdev_fill(child, addr, 1, 62);
	assert_int_equal(atomic_load(&e.dev->nr_migrate_to_ram), 1);
	assert_int_equal(atomic_load(&e.dev->nr_migrated_to_ram), 1);
	assert_ptr_equal(atomic_load(&e.dev->last_fault_page), uhmm_pfn_to_page(e.sys, dpfn[0]));
	assert_ptr_equal(atomic_load(&e.dev->last_fault_mm), child);
	assert_int_equal(atomic_load(&e.dev->last_fault_addr), addr);
	assert_int_equal(atomic_load(&e.dev->last_fault_write), 1);
	assert_int_equal(atomic_load(&e.dev->last_fault_page_locked), 1);
	assert_int_equal(atomic_load(&e.dev->last_fault_page_refcount), 3);	/* 2 mappings + the fault's */
	assert_int_equal(atomic_load(&e.dev->last_fault_setup_ret), 0);
	assert_int_equal(atomic_load(&e.dev->last_fault_cpages), 1);
	assert_int_equal(atomic_load(&e.dev->last_fault_src), uhmm_migrate_pfn(dpfn[0]) | M_MIGRATE);
	assert_int_equal(atomic_load(&e.dev->nr_page_free), 1);
	/* the child's migrate_to_ram: MIGRATE on the child; the parent's mapping: CLEAR */
	assert_int_equal(testdev_rec_count(&recc, UHMM_MMU_NOTIFY_MIGRATE), 1);
	assert_event(&recc, 0, UHMM_MMU_NOTIFY_MIGRATE, addr, addr + P, e.dev, child);
	assert_int_equal(testdev_rec_count(&recp, UHMM_MMU_NOTIFY_MIGRATE), 0);
	assert_true(testdev_rec_count(&recp, UHMM_MMU_NOTIFY_CLEAR) >= 1);
	for (i = 0; i < testdev_rec_n(&recp); i++) {
		assert_int_equal(testdev_rec_get(&recp, i).start, addr);
		assert_int_equal(testdev_rec_get(&recp, i).end, addr + P);
	}
	cpfn0 = testdev_pte(child, addr).pfn;
	ppfn0 = testdev_pte(e.mm, addr).pfn;
	assert_present(child, addr, cpfn0, true, 1, 1);
	assert_present(e.mm, addr, ppfn0, false, 1, 1);
	assert_int_not_equal(cpfn0, ppfn0);
	testdev_assert_pattern(child, addr, 1, 62);
	testdev_assert_pattern(e.mm, addr, 1, 61);
	/* the parent writes its page: reused, no copy, no device involvement */
	testdev_fill(e.mm, addr, 1, 63);
	assert_present(e.mm, addr, ppfn0, true, 1, 1);
	testdev_assert_pattern(e.mm, addr, 1, 63);
	testdev_assert_pattern(child, addr, 1, 62);

	/* a write by the parent on page 1: same, the other way round */
	testdev_fill(e.mm, addr + P, 1, 64);
	assert_int_equal(atomic_load(&e.dev->nr_migrate_to_ram), 2);
	assert_ptr_equal(atomic_load(&e.dev->last_fault_mm), e.mm);
	testdev_assert_pattern(child, addr + P, 1, 61);
	testdev_assert_pattern(e.mm, addr + P, 1, 64);
	assert_int_equal(atomic_load(&e.dev->nr_migrate_to_ram), 2);
	assert_int_not_equal(testdev_pte(child, addr + P).pfn, testdev_pte(e.mm, addr + P).pfn);

	/* pages 2, 3 still shared on the device: the last unmap frees them */
	assert_device_entry(child, addr + 2 * P, dpfn[2], false, 2, 2);
	testdev_rec_remove(&recc);
	testdev_rec_remove(&recp);
	uhmm_mm_put(child);
	assert_device_entry(e.mm, addr + 2 * P, dpfn[2], false, 1, 1);
	assert_int_equal(atomic_load(&e.dev->nr_page_free), 2);
	uhmm_mm_put(e.mm);
	e.mm = NULL;
	assert_int_equal(atomic_load(&e.dev->nr_page_free), 4);
	env_fini(&e);
}

/* ---------------------------------------------------- CPU fault path */

static void test_cpu_fault_migrates_back(void **state)
{
	enum { N = 2 };
	unsigned long addr, dpfn[N], i;
	struct env e;
	char byte;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE, 4);
	addr = testdev_mmap(e.mm, N, RW, MAP_PRIVATE);
	testdev_fill(e.mm, addr, N, 71);
	assert_int_equal(testdev_migrate_to_device(e.dev, e.mm, addr, N, NULL, NULL), 0);
	for (i = 0; i < N; i++)
		dpfn[i] = testdev_pte(e.mm, addr + i * P).pfn;

	/* a read: migrate_to_ram once, with the page referenced and locked */
	testdev_assert_pattern(e.mm, addr, 1, 71);
	assert_int_equal(atomic_load(&e.dev->nr_migrate_to_ram), 1);
	assert_ptr_equal(atomic_load(&e.dev->last_fault_page), uhmm_pfn_to_page(e.sys, dpfn[0]));
	assert_int_equal(atomic_load(&e.dev->last_fault_addr), addr);
	assert_ptr_equal(atomic_load(&e.dev->last_fault_mm), e.mm);
	assert_int_equal(atomic_load(&e.dev->last_fault_write), 0);
	assert_int_equal(atomic_load(&e.dev->last_fault_page_locked), 1);
	assert_int_equal(atomic_load(&e.dev->last_fault_page_refcount), 2);	/* mapping + fault */
	assert_int_equal(atomic_load(&e.dev->last_fault_setup_ret), 0);
	assert_int_equal(atomic_load(&e.dev->last_fault_cpages), 1);
	assert_int_equal(atomic_load(&e.dev->last_fault_src), uhmm_migrate_pfn(dpfn[0]) | M_MIGRATE | M_WRITE);
	assert_int_equal(atomic_load(&e.dev->nr_page_free), 1);
	assert_present(e.mm, addr, ~0UL, true, 1, 1);
	assert_device_entry(e.mm, addr + P, dpfn[1], true, 1, 1);
	/* again: RAM now, no call */
	testdev_assert_pattern(e.mm, addr, 1, 71);
	assert_int_equal(atomic_load(&e.dev->nr_migrate_to_ram), 1);

	/* a one-byte write to the other page */
	byte = 0x5c;
	assert_int_equal(uhmm_cpu_write(e.mm, addr + P + 100, &byte, 1), 0);
	assert_int_equal(atomic_load(&e.dev->nr_migrate_to_ram), 2);
	assert_int_equal(atomic_load(&e.dev->last_fault_write), 1);
	assert_int_equal(atomic_load(&e.dev->last_fault_addr), addr + P);
	assert_int_equal(atomic_load(&e.dev->nr_page_free), 2);
	byte = 0;
	assert_int_equal(uhmm_cpu_read(e.mm, addr + P + 100, &byte, 1), 0);
	assert_int_equal(byte, 0x5c);
	assert_present(e.mm, addr + P, ~0UL, true, 1, 1);
	env_fini(&e);
}

static void test_migrate_to_ram_failure(void **state)
{
	unsigned char buf[P], ref[P];
	unsigned long addr, dpfn;
	struct env e;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE, 4);
	addr = testdev_mmap(e.mm, 2, RW, MAP_PRIVATE);
	testdev_fill(e.mm, addr, 2, 81);
	assert_int_equal(testdev_migrate_to_device(e.dev, e.mm, addr + P, 1, NULL, NULL), 0);
	dpfn = testdev_pte(e.mm, addr + P).pfn;
	atomic_store(&e.dev->fail_migrate_to_ram, -EIO);

	memset(buf, 0xab, sizeof(buf));
	memcpy(ref, buf, sizeof(buf));
	assert_int_equal(uhmm_cpu_read(e.mm, addr + P, buf, P), -EFAULT);
	assert_memory_equal(buf, ref, P);	/* nothing copied */
	assert_int_equal(atomic_load(&e.dev->nr_migrate_to_ram), 1);
	assert_device_entry(e.mm, addr + P, dpfn, true, 1, 1);
	assert_false(uhmm_page_locked(uhmm_pfn_to_page(e.sys, dpfn)));
	assert_int_equal(uhmm_cpu_write(e.mm, addr + P + 8, buf, 8), -EFAULT);
	assert_int_equal(atomic_load(&e.dev->nr_migrate_to_ram), 2);
	assert_device_entry(e.mm, addr + P, dpfn, true, 1, 1);
	/* a positive "VM_FAULT" style code is a failure too */
	atomic_store(&e.dev->fail_migrate_to_ram, 2);
	assert_int_equal(uhmm_cpu_read(e.mm, addr + P, buf, 16), -EFAULT);
	assert_memory_equal(buf, ref, 16);
	assert_int_equal(atomic_load(&e.dev->nr_page_free), 0);

	atomic_store(&e.dev->fail_migrate_to_ram, 0);
	testdev_assert_pattern(e.mm, addr, 2, 81);
	assert_int_equal(atomic_load(&e.dev->nr_migrate_to_ram), 4);
	assert_int_equal(atomic_load(&e.dev->nr_page_free), 1);
	env_fini(&e);
}

struct fault_arg {
	struct uhmm_mm *mm;
	unsigned long addr;
	unsigned seed;
	pthread_barrier_t *bar;
	int ret;
};

static void *fault_thread(void *p)
{
	struct fault_arg *a = p;

	pthread_barrier_wait(a->bar);
	a->ret = testdev_check_pattern(a->mm, a->addr, 1, a->seed);
	return NULL;
}

static void test_concurrent_cpu_faults(void **state)
{
	enum { T = 8, NP = 4 };
	struct fault_arg args[T];
	pthread_barrier_t bar;
	pthread_t th[T];
	unsigned long addr;
	struct env e;
	int i;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE, 8);
	addr = testdev_mmap(e.mm, NP, RW, MAP_PRIVATE);
	testdev_fill(e.mm, addr, NP, 91);
	assert_int_equal(testdev_migrate_to_device(e.dev, e.mm, addr, NP, NULL, NULL), 0);
	atomic_store(&e.dev->migrate_to_ram_delay_ms, 20);

	/* all threads on the same page: exactly one migration */
	pthread_barrier_init(&bar, NULL, T);
	for (i = 0; i < T; i++) {
		args[i] = (struct fault_arg){ e.mm, addr, 91, &bar, -1 };
		assert_int_equal(pthread_create(&th[i], NULL, fault_thread, &args[i]), 0);
	}
	for (i = 0; i < T; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].ret, 0);
	}
	pthread_barrier_destroy(&bar);
	assert_int_equal(atomic_load(&e.dev->nr_migrate_to_ram), 1);
	assert_int_equal(atomic_load(&e.dev->nr_migrated_to_ram), 1);
	assert_int_equal(atomic_load(&e.dev->nr_page_free), 1);

	/* two threads on each of the other pages: one migration per page */
	pthread_barrier_init(&bar, NULL, 6);
	for (i = 0; i < 6; i++) {
		args[i] = (struct fault_arg){ e.mm, addr + (1 + i / 2) * P, 91, &bar, -1 };
		assert_int_equal(pthread_create(&th[i], NULL, fault_thread, &args[i]), 0);
	}
	for (i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].ret, 0);
	}
	pthread_barrier_destroy(&bar);
	assert_int_equal(atomic_load(&e.dev->nr_migrate_to_ram), NP);
	assert_int_equal(atomic_load(&e.dev->nr_migrated_to_ram), NP);
	assert_int_equal(testdev_nfree(e.dev), 8);
	testdev_assert_pattern(e.mm, addr, NP, 91);
	env_fini(&e);
}

/*
 * A CPU thread that hits a migration entry waits for the page lock without
 * holding a reference (put_and_wait_on_page_locked): a waiter's reference
 * would fail the migration's reference check. The waiter is started from the
 * child's CLEAR callback, i.e. after collect installed the parent's migration
 * entry and before migrate_device_unmap checks the references.
 */
struct hook {
	struct uhmm_mmu_interval_notifier sub;
	struct uhmm_mm *reader_mm;
	unsigned long reader_addr;
	pthread_t reader;
	atomic_int started, reader_ret;
};

static void *hook_reader(void *p)
{
	struct hook *h = p;

	atomic_store(&h->reader_ret, testdev_check_pattern(h->reader_mm, h->reader_addr, 1, 121));
	return NULL;
}

static void msleep(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts))
		;
}

static bool hook_invalidate(struct uhmm_mmu_interval_notifier *sub, const struct uhmm_mmu_notifier_range *range,
			    unsigned long cur_seq)
{
	struct hook *h = (struct hook *)sub;

	uhmm_mmu_interval_set_seq(sub, cur_seq);
	if (range->event == UHMM_MMU_NOTIFY_CLEAR && !atomic_exchange(&h->started, 1)) {
		if (pthread_create(&h->reader, NULL, hook_reader, h))
			atomic_store(&h->started, 2);
		else
			msleep(200);	/* let the reader reach the migration entry and sleep */
	}
	return true;
}

static const struct uhmm_mmu_interval_notifier_ops hook_ops = { .invalidate = hook_invalidate };

static void test_fault_waiter_holds_no_reference(void **state)
{
	unsigned long src[1], dst[1], addr, pfn;
	struct uhmm_migrate_vma m;
	struct uhmm_mm *child;
	struct hook h;
	struct env e;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE, 4);
	addr = testdev_mmap(e.mm, 1, RW, MAP_PRIVATE);
	testdev_fill(e.mm, addr, 1, 121);
	pfn = testdev_pte(e.mm, addr).pfn;
	assert_int_equal(uhmm_mm_fork(e.mm, &child), 0);
	memset(&h, 0, sizeof(h));
	h.reader_mm = e.mm;
	h.reader_addr = addr;
	atomic_store(&h.reader_ret, 1);
	assert_int_equal(uhmm_mmu_interval_notifier_insert(&h.sub, child, addr, P, &hook_ops), 0);

	uhmm_mmap_read_lock(e.mm);
	init_args(&m, e.mm, e.dev, addr, 1, SEL_SYS, src, dst);
	assert_int_equal(uhmm_migrate_vma_setup(&m), 0);
	assert_int_equal(atomic_load(&h.started), 1);
	/* the waiting reader did not make the page look pinned */
	assert_int_equal(m.cpages, 1);
	assert_int_equal(src[0], uhmm_migrate_pfn(pfn) | M_MIGRATE);
	assert_int_equal(atomic_load(&h.reader_ret), 1);	/* still waiting */
	assert_int_equal(testdev_fill_dst(e.dev, src, dst, 1, true, NULL), 1);
	uhmm_migrate_vma_pages(&m);
	uhmm_migrate_vma_finalize(&m);
	uhmm_mmap_read_unlock(e.mm);
	pthread_join(h.reader, NULL);
	/* the reader saw the data, through migrate_to_ram once the migration was done */
	assert_int_equal(atomic_load(&h.reader_ret), 0);
	assert_int_equal(atomic_load(&e.dev->nr_migrate_to_ram), 1);
	testdev_assert_pattern(child, addr, 1, 121);
	uhmm_mmu_interval_notifier_remove(&h.sub);
	uhmm_mm_put(child);
	env_fini(&e);
}

/* Overlapping migrations both ways and CPU readers at once: trylock-only collect, no deadlock, no corruption. */
struct churn_arg {
	struct env *e;
	unsigned long addr, npages;
	int kind;	/* 0: to device, 1: to RAM, 2: CPU reader, 3: range_fault snapshot */
	int iters;
	int err;
	unsigned long moved;	/* kinds 0 and 1: pages their migrations moved */
	pthread_barrier_t *start;	/* everyone starts together */
};

static bool churn_inv(struct uhmm_mmu_interval_notifier *sub, const struct uhmm_mmu_notifier_range *range,
		      unsigned long cur_seq)
{
	uhmm_mmu_interval_set_seq(sub, cur_seq);
	return true;
}

static const struct uhmm_mmu_interval_notifier_ops churn_ops = { .invalidate = churn_inv };

static void *churn_thread(void *p)
{
	struct churn_arg *a = p;
	struct uhmm_mmu_interval_notifier sub;
	unsigned long pfns[16];
	int i, r;

	memset(&sub, 0, sizeof(sub));
	if (a->kind == 3 && uhmm_mmu_interval_notifier_insert(&sub, a->e->mm, a->addr, a->npages * P, &churn_ops))
		a->err = -1;
	pthread_barrier_wait(a->start);
	if (a->err)
		return NULL;
	for (i = 0; i < a->iters && !a->err; i++) {
		switch (a->kind) {
		case 0:
		case 1: {
			unsigned long moved = 0;

			r = (a->kind ? testdev_migrate_to_ram : testdev_migrate_to_device)(a->e->dev, a->e->mm, a->addr,
											 a->npages, NULL, &moved);
			a->moved += moved;
			break;
		}
		case 2:
			r = testdev_check_pattern(a->e->mm, a->addr + (i % a->npages) * P, 1, 151);
			break;
		default: {
			struct uhmm_range range = { .notifier = &sub, .start = a->addr, .end = a->addr + a->npages * P,
						    .hmm_pfns = pfns, .default_flags = UHMM_PFN_REQ_FAULT,
						    .dev_private_owner = a->e->dev };

			do {
				range.notifier_seq = uhmm_mmu_interval_read_begin(&sub);
				uhmm_mmap_read_lock(a->e->mm);
				r = uhmm_range_fault(&range);
				uhmm_mmap_read_unlock(a->e->mm);
			} while (r == -EBUSY);
			break;
		}
		}
		if (r)
			a->err = r;
	}
	if (a->kind == 3)
		uhmm_mmu_interval_notifier_remove(&sub);
	return NULL;
}

static void test_concurrent_migrations(void **state)
{
	enum { N = 8, T = 6 };
	struct churn_arg args[T];
	pthread_barrier_t start;
	pthread_t th[T];
	unsigned long addr, moved = 0;
	struct env e;
	int i;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE, 2 * N);
	addr = testdev_mmap(e.mm, N, RW, MAP_PRIVATE);
	testdev_fill(e.mm, addr, N, 151);
	assert_int_equal(pthread_barrier_init(&start, NULL, T), 0);
	for (i = 0; i < T; i++) {
		static const int kinds[T] = { 0, 0, 1, 1, 2, 3 };

		args[i] = (struct churn_arg){ &e, addr, N, kinds[i], 150, 0, 0, &start };
		assert_int_equal(pthread_create(&th[i], NULL, churn_thread, &args[i]), 0);
	}
	for (i = 0; i < T; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].err, 0);
		moved += args[i].moved;
	}
	pthread_barrier_destroy(&start);
	/*
	 * Pages did move. Not nr_page_free: on a slow build the to-RAM threads
	 * can finish before the first page reaches the device, leaving every
	 * device page still in use at this point.
	 */
	assert_true(moved > 0);
	assert_int_equal(testdev_migrate_to_ram(e.dev, e.mm, addr, N, NULL, NULL), 0);
	assert_int_equal(testdev_nfree(e.dev), 2 * N);
	testdev_assert_pattern(e.mm, addr, N, 151);
	env_fini(&e);
}

/* ------------------------------------------------ eviction by pfn range */

static void test_evict_after_fork(void **state)
{
	enum { N = 4 };
	unsigned long addr, dpfn[N], ppfn, i;
	struct testdev_recorder recp, recc;
	struct uhmm_page *held;
	struct uhmm_mm *child;
	struct env e;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE, 8);
	addr = testdev_mmap(e.mm, N, RW, MAP_PRIVATE);
	testdev_fill(e.mm, addr, N, 101);
	assert_int_equal(testdev_migrate_to_device(e.dev, e.mm, addr, N, NULL, NULL), 0);
	for (i = 0; i < N; i++)
		dpfn[i] = testdev_pte(e.mm, addr + i * P).pfn;
	assert_int_equal(uhmm_mm_fork(e.mm, &child), 0);
	for (i = 0; i < N; i++) {
		/* fork shares the device page read-only, parent too */
		assert_device_entry(e.mm, addr + i * P, dpfn[i], false, 2, 2);
		assert_device_entry(child, addr + i * P, dpfn[i], false, 2, 2);
	}
	assert_int_equal(testdev_rec_insert(&recp, e.mm, addr, N * P), 0);
	assert_int_equal(testdev_rec_insert(&recc, child, addr, N * P), 0);
	held = testdev_alloc_page(e.dev);	/* in use but locked by us: skipped */

	assert_int_equal(testdev_evict(e.dev), N);
	assert_int_equal(atomic_load(&e.dev->nr_page_free), N);
	assert_int_equal(dev_used(e.sys), 1);
	assert_int_equal(atomic_load(&e.dev->nr_migrate_to_ram), 0);
	/* every mapping in both processes went through CLEAR, never MIGRATE */
	assert_int_equal(testdev_rec_count(&recp, UHMM_MMU_NOTIFY_MIGRATE), 0);
	assert_int_equal(testdev_rec_count(&recc, UHMM_MMU_NOTIFY_MIGRATE), 0);
	assert_int_equal(testdev_rec_n(&recp), N);
	assert_int_equal(testdev_rec_n(&recc), N);
	for (i = 0; i < N; i++) {
		assert_event(&recp, i, UHMM_MMU_NOTIFY_CLEAR, addr + i * P, addr + (i + 1) * P, NULL, e.mm);
		assert_event(&recc, i, UHMM_MMU_NOTIFY_CLEAR, addr + i * P, addr + (i + 1) * P, NULL, child);
	}
	for (i = 0; i < N; i++) {
		ppfn = testdev_pte(e.mm, addr + i * P).pfn;
		assert_present(e.mm, addr + i * P, ppfn, false, 2, 2);
		assert_present(child, addr + i * P, ppfn, false, 2, 2);
		assert_false(uhmm_is_zone_device_page(uhmm_pfn_to_page(e.sys, ppfn)));
	}
	assert_int_equal(used_pages(e.sys), 1 + N);
	testdev_assert_pattern(e.mm, addr, N, 101);
	testdev_assert_pattern(child, addr, N, 101);
	/* still copy-on-write */
	testdev_fill(child, addr, 1, 102);
	testdev_assert_pattern(e.mm, addr, N, 101);
	testdev_assert_pattern(child, addr, 1, 102);
	assert_int_equal(atomic_load(&e.dev->nr_migrate_to_ram), 0);

	/* evicting an idle device: nothing */
	uhmm_unlock_page(held);
	uhmm_put_page(held);
	assert_int_equal(testdev_evict(e.dev), 0);
	testdev_rec_remove(&recc);
	testdev_rec_remove(&recp);
	uhmm_mm_put(child);
	env_fini(&e);
}

static void test_migrate_device_range_steps(void **state)
{
	enum { D = 4 };
	unsigned long src[D], dst[D], addr, dpfn[2], first, i;
	struct uhmm_page *held, *dp[2];
	struct testdev_recorder rec;
	struct env e;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE, D);
	first = e.dev->pgmap.pfn_first;
	addr = testdev_mmap(e.mm, 2, RW, MAP_PRIVATE);
	testdev_fill(e.mm, addr, 2, 131);
	assert_int_equal(testdev_migrate_to_device(e.dev, e.mm, addr, 2, NULL, NULL), 0);
	for (i = 0; i < 2; i++) {
		dpfn[i] = testdev_pte(e.mm, addr + i * P).pfn;
		dp[i] = uhmm_pfn_to_page(e.sys, dpfn[i]);
	}
	held = testdev_alloc_page(e.dev);	/* in use, locked by the driver */
	assert_int_equal(testdev_rec_insert(&rec, e.mm, addr, 2 * P), 0);

	memset(src, 0xff, sizeof(src));
	assert_int_equal(uhmm_migrate_device_range(e.sys, src, first, D), 0);
	for (i = 0; i < D; i++) {
		if (first + i == dpfn[0] || first + i == dpfn[1])
			assert_int_equal(src[i], uhmm_migrate_pfn(first + i) | M_MIGRATE);	/* no WRITE */
		else
			assert_int_equal(src[i], 0);	/* free, or locked by someone */
	}
	for (i = 0; i < 2; i++) {
		struct uhmm_pte_info pi = testdev_pte(e.mm, addr + i * P);

		assert_int_equal(pi.kind, UHMM_PTE_MIGRATION);
		assert_true(pi.write);
		assert_int_equal(uhmm_page_refcount(dp[i]), 1);	/* migration's own */
		assert_int_equal(uhmm_page_mapcount(dp[i]), 0);
		assert_true(uhmm_page_locked(dp[i]));
	}
	/* unmapped by rmap: CLEAR, not MIGRATE */
	assert_int_equal(testdev_rec_n(&rec), 2);
	assert_int_equal(testdev_rec_count(&rec, UHMM_MMU_NOTIFY_CLEAR), 2);
	assert_int_equal(uhmm_page_refcount(held), 1);
	assert_true(uhmm_page_locked(held));
	memset(dst, 0, sizeof(dst));
	assert_int_equal(testdev_fill_dst(e.dev, src, dst, D, false, NULL), 2);
	uhmm_migrate_device_pages(e.sys, src, dst, D);
	for (i = 0; i < D; i++)
		assert_int_equal(!!(src[i] & M_MIGRATE), first + i == dpfn[0] || first + i == dpfn[1]);
	uhmm_migrate_device_finalize(e.sys, src, dst, D);
	assert_int_equal(atomic_load(&e.dev->nr_page_free), 2);
	for (i = 0; i < 2; i++) {
		struct uhmm_pte_info pi = testdev_pte(e.mm, addr + i * P);

		assert_present(e.mm, addr + i * P, pi.pfn, true, 1, 1);
		assert_false(uhmm_is_zone_device_page(uhmm_pfn_to_page(e.sys, pi.pfn)));
		assert_false(uhmm_page_locked(uhmm_pfn_to_page(e.sys, pi.pfn)));
	}
	testdev_assert_pattern(e.mm, addr, 2, 131);
	assert_int_equal(atomic_load(&e.dev->nr_migrate_to_ram), 0);
	uhmm_unlock_page(held);
	uhmm_put_page(held);
	testdev_rec_remove(&rec);
	env_fini(&e);
}

static void test_migrate_device_range_invalid(void **state)
{
	unsigned long src[4];
	struct uhmm_system_stats st;
	struct env e;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE, 4);
	assert_int_equal(uhmm_system_get_stats(e.sys, &st), 0);
	assert_int_equal(uhmm_migrate_device_range(NULL, src, e.dev->pgmap.pfn_first, 4), -EINVAL);
	assert_int_equal(uhmm_migrate_device_range(e.sys, NULL, e.dev->pgmap.pfn_first, 4), -EINVAL);
	assert_int_equal(uhmm_migrate_device_range(e.sys, src, e.dev->pgmap.pfn_first, 0), -EINVAL);
	assert_int_equal(uhmm_migrate_device_range(e.sys, src, 1, 4), -EINVAL);	/* RAM */
	assert_int_equal(uhmm_migrate_device_range(e.sys, src, e.dev->pgmap.pfn_first + 1, 4), -EINVAL);
	assert_int_equal(uhmm_migrate_device_range(e.sys, src, st.ram_pages + 5, 1), -EINVAL);
	/* a valid range of free pages: 0, src all 0 */
	memset(src, 0xff, sizeof(src));
	assert_int_equal(uhmm_migrate_device_range(e.sys, src, e.dev->pgmap.pfn_first, 4), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(src[i], 0);
	uhmm_migrate_device_pages(e.sys, src, src, 4);
	uhmm_migrate_device_finalize(e.sys, src, src, 4);
	env_fini(&e);
}

/*
 * migrate_device_pfns (6.15): the pages of an arbitrary pfn list, in the
 * list's order; free and foreign-locked pages give 0; the rest are unmapped
 * from every address space (CLEAR) and come back to RAM at their addresses.
 */
static void test_migrate_device_pfns_steps(void **state)
{
	enum { D = 6, N = 3, L = 5 };
	unsigned long src[L], dst[L], addr, dpfn[N], first, i;
	struct uhmm_page *held;
	struct testdev_recorder rec;
	struct env e;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE, D);
	first = e.dev->pgmap.pfn_first;
	addr = testdev_mmap(e.mm, N, RW, MAP_PRIVATE);
	testdev_fill(e.mm, addr, N, 137);
	assert_int_equal(testdev_migrate_to_device(e.dev, e.mm, addr, N, NULL, NULL), 0);
	for (i = 0; i < N; i++)
		dpfn[i] = testdev_pte(e.mm, addr + i * P).pfn;
	held = testdev_alloc_page(e.dev);	/* in use, locked by the driver */
	assert_int_equal(testdev_rec_insert(&rec, e.mm, addr, N * P), 0);

	/* not contiguous, not sorted; page 1 of the buffer stays on the device */
	src[0] = dpfn[2];
	src[1] = uhmm_page_to_pfn(held);
	src[2] = first + D - 1;			/* free */
	src[3] = dpfn[0];
	src[4] = dpfn[2];			/* listed twice: the second finds it locked */
	assert_int_equal(uhmm_migrate_device_pfns(e.sys, src, L), 0);
	assert_int_equal(src[0], uhmm_migrate_pfn(dpfn[2]) | M_MIGRATE);
	assert_int_equal(src[1], 0);
	assert_int_equal(src[2], 0);
	assert_int_equal(src[3], uhmm_migrate_pfn(dpfn[0]) | M_MIGRATE);
	assert_int_equal(src[4], 0);
	assert_int_equal(testdev_pte(e.mm, addr).kind, UHMM_PTE_MIGRATION);
	assert_device_entry(e.mm, addr + P, dpfn[1], true, 1, 1);
	assert_int_equal(testdev_pte(e.mm, addr + 2 * P).kind, UHMM_PTE_MIGRATION);
	assert_int_equal(testdev_rec_n(&rec), 2);
	assert_int_equal(testdev_rec_count(&rec, UHMM_MMU_NOTIFY_CLEAR), 2);

	memset(dst, 0, sizeof(dst));
	assert_int_equal(testdev_fill_dst(e.dev, src, dst, L, false, NULL), 2);
	uhmm_migrate_device_pages(e.sys, src, dst, L);
	assert_true(src[0] & M_MIGRATE);
	assert_true(src[3] & M_MIGRATE);
	uhmm_migrate_device_finalize(e.sys, src, dst, L);
	assert_int_equal(atomic_load(&e.dev->nr_page_free), 2);
	assert_present(e.mm, addr, ~0UL, true, 1, 1);
	assert_device_entry(e.mm, addr + P, dpfn[1], true, 1, 1);
	assert_present(e.mm, addr + 2 * P, ~0UL, true, 1, 1);
	assert_true(uhmm_page_locked(held));
	assert_int_equal(uhmm_page_refcount(held), 1);
	assert_int_equal(atomic_load(&e.dev->nr_migrate_to_ram), 0);
	testdev_assert_pattern(e.mm, addr, N, 137);	/* page 1 through migrate_to_ram */
	uhmm_unlock_page(held);
	uhmm_put_page(held);
	testdev_rec_remove(&rec);
	env_fini(&e);
}

static void test_migrate_device_pfns_invalid(void **state)
{
	unsigned long src[3], addr, first;
	struct uhmm_system_stats st;
	struct env e;
	int i;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE, 4);
	first = e.dev->pgmap.pfn_first;
	addr = testdev_mmap(e.mm, 1, RW, MAP_PRIVATE);
	testdev_fill(e.mm, addr, 1, 139);
	assert_int_equal(testdev_migrate_to_device(e.dev, e.mm, addr, 1, NULL, NULL), 0);
	assert_int_equal(uhmm_system_get_stats(e.sys, &st), 0);
	src[0] = testdev_pte(e.mm, addr).pfn;
	assert_int_equal(uhmm_migrate_device_pfns(NULL, src, 1), -EINVAL);
	assert_int_equal(uhmm_migrate_device_pfns(e.sys, NULL, 1), -EINVAL);
	assert_int_equal(uhmm_migrate_device_pfns(e.sys, src, 0), -EINVAL);
	/* one bad pfn anywhere: nothing is taken, the list is left as it was */
	src[1] = 1;			/* RAM */
	src[2] = first + 1;
	assert_int_equal(uhmm_migrate_device_pfns(e.sys, src, 3), -EINVAL);
	src[1] = st.ram_pages + 5;	/* a hole in the pfn space */
	assert_int_equal(uhmm_migrate_device_pfns(e.sys, src, 3), -EINVAL);
	assert_int_equal(src[0], testdev_pte(e.mm, addr).pfn);
	assert_int_equal(src[1], st.ram_pages + 5);
	assert_int_equal(src[2], first + 1);
	assert_device_entry(e.mm, addr, src[0], true, 1, 1);
	assert_false(uhmm_page_locked(uhmm_pfn_to_page(e.sys, src[0])));
	/* free pages only: 0, all words 0 */
	src[0] = first + 3;
	src[1] = first + 2;
	assert_int_equal(uhmm_migrate_device_pfns(e.sys, src, 2), 0);
	for (i = 0; i < 2; i++)
		assert_int_equal(src[i], 0);
	uhmm_migrate_device_pages(e.sys, src, src, 2);
	uhmm_migrate_device_finalize(e.sys, src, src, 2);
	testdev_assert_pattern(e.mm, addr, 1, 139);
	env_fini(&e);
}

static void test_munmap_frees_device_pages(void **state)
{
	enum { N = 4 };
	unsigned long addr;
	struct env e;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE, 4);
	addr = testdev_mmap(e.mm, N, RW, MAP_PRIVATE);
	testdev_fill(e.mm, addr, N, 111);
	assert_int_equal(testdev_migrate_to_device(e.dev, e.mm, addr, N, NULL, NULL), 0);
	assert_int_equal(testdev_nfree(e.dev), 0);
	/* MADV_DONTNEED and munmap drop the entries' references: page_free */
	assert_int_equal(uhmm_madvise(e.mm, addr, P, MADV_DONTNEED), 0);
	assert_int_equal(atomic_load(&e.dev->nr_page_free), 1);
	testdev_assert_zero(e.mm, addr, 1);
	assert_int_equal(uhmm_munmap(e.mm, addr + P, 2 * P), 0);
	assert_int_equal(atomic_load(&e.dev->nr_page_free), 3);
	assert_int_equal(atomic_load(&e.dev->last_free_refcount), 0);
	assert_int_equal(atomic_load(&e.dev->nr_migrate_to_ram), 0);
	/* exit frees the last one */
	uhmm_mm_put(e.mm);
	e.mm = NULL;
	assert_int_equal(atomic_load(&e.dev->nr_page_free), 4);
	env_fini(&e);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_setup_invalid_args),
	cmocka_unit_test(test_private_roundtrip_refcounts),
	cmocka_unit_test(test_private_data_via_cpu),
	cmocka_unit_test(test_coherent_roundtrip),
	cmocka_unit_test(test_select_owner),
	cmocka_unit_test(test_holes_and_zero_page),
	cmocka_unit_test(test_holes_readonly_vma),
	cmocka_unit_test(test_back_to_ram_holes),
	cmocka_unit_test(test_pinned_page_refused),
	cmocka_unit_test(test_extra_reference_restored),
	cmocka_unit_test(test_reference_after_setup_to_device),
	cmocka_unit_test(test_reference_after_setup_to_ram),
	cmocka_unit_test(test_reference_after_setup_fault_page),
	cmocka_unit_test(test_reference_after_setup_device_pages),
	cmocka_unit_test(test_locked_page_skipped),
	cmocka_unit_test(test_shared_vma_not_migrated),
	cmocka_unit_test(test_dst_declined),
	cmocka_unit_test(test_notifier_migrate_events),
	cmocka_unit_test(test_fork_clear_to_child),
	cmocka_unit_test(test_cpu_fault_migrates_back),
	cmocka_unit_test(test_migrate_to_ram_failure),
	cmocka_unit_test(test_concurrent_cpu_faults),
	cmocka_unit_test(test_fault_waiter_holds_no_reference),
	cmocka_unit_test(test_concurrent_migrations),
	cmocka_unit_test(test_evict_after_fork),
	cmocka_unit_test(test_migrate_device_range_steps),
	cmocka_unit_test(test_migrate_device_range_invalid),
	cmocka_unit_test(test_migrate_device_pfns_steps),
	cmocka_unit_test(test_migrate_device_pfns_invalid),
	cmocka_unit_test(test_munmap_frees_device_pages),
};

int main(int argc, char **argv)
{
	return testdev_run("test_migrate", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
