/* SPDX-License-Identifier: MIT */
/* tests/api/test_exclusive.c - device-exclusive entries: creation, CPU restore, fork, mprotect.
 *
 * Public API only (the tiny test device only where device-private entries
 * are compared). Kernel analogue: make_device_exclusive (mm/rmap.c) and the
 * exclusive paths of do_swap_page, copy_nonpresent_pte and change_pte_range
 * (spec sections 2.1, 2.2). Usage: test_exclusive [--list | CASE_NAME].
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "common/testdev.h"

#define P UHMM_PAGE_SIZE
#define RW (PROT_READ | PROT_WRITE)

static int owner_token;	/* the "device" that takes pages exclusive */
#define OWNER ((void *)&owner_token)

struct env {
	struct uhmm_system *sys;
	struct uhmm_mm *mm;
	struct testdev_recorder rec;
	bool rec_on;
};

static void env_init(struct env *e)
{
	memset(e, 0, sizeof(*e));
	e->sys = testdev_sys_create(4 << 20);
	assert_int_equal(uhmm_mm_create(e->sys, &e->mm), 0);
}

static void watch(struct env *e, unsigned long start, unsigned long len)
{
	assert_int_equal(testdev_rec_insert(&e->rec, e->mm, start, len), 0);
	e->rec_on = true;
}

static void env_fini(struct env *e)
{
	if (e->rec_on)
		testdev_rec_remove(&e->rec);
	if (e->mm)
		uhmm_mm_put(e->mm);
	testdev_sys_destroy(e->sys);
}

static unsigned long used_pages(struct uhmm_system *sys)
{
	struct uhmm_system_stats st;

	assert_int_equal(uhmm_system_get_stats(sys, &st), 0);
	return st.used_pages;
}

static int make_excl(struct uhmm_mm *mm, unsigned long addr, void *owner, struct uhmm_page **pagep)
{
	int r;

	uhmm_mmap_read_lock(mm);
	r = uhmm_make_device_exclusive(mm, addr, owner, pagep);
	uhmm_mmap_read_unlock(mm);
	return r;
}

/* Make @addr exclusive, check the entry, release the page. Returns its pfn. */
static unsigned long make_excl_release(struct uhmm_mm *mm, unsigned long addr)
{
	struct uhmm_page *page = NULL;
	struct uhmm_pte_info pi;

	assert_int_equal(make_excl(mm, addr, OWNER, &page), 0);
	assert_non_null(page);
	uhmm_unlock_page(page);
	uhmm_put_page(page);
	pi = testdev_pte(mm, addr);
	assert_int_equal(pi.kind, UHMM_PTE_DEVICE_EXCLUSIVE);
	assert_int_equal(pi.pfn, uhmm_page_to_pfn(page));
	return pi.pfn;
}

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

static void test_make_exclusive(void **state)
{
	struct uhmm_page *page = NULL;
	struct uhmm_pte_info pi;
	unsigned long addr, pfn0, used;
	struct env e;

	env_init(&e);
	addr = testdev_mmap(e.mm, 2, RW, MAP_PRIVATE);
	testdev_fill(e.mm, addr, 2, 1);
	pfn0 = testdev_pte(e.mm, addr).pfn;
	used = used_pages(e.sys);
	watch(&e, addr, 2 * P);

	assert_int_equal(make_excl(e.mm, addr, OWNER, &page), 0);
	assert_int_equal(uhmm_page_to_pfn(page), pfn0);
	assert_true(uhmm_page_locked(page));
	assert_int_equal(uhmm_page_refcount(page), 2);	/* the entry's + ours */
	assert_int_equal(uhmm_page_mapcount(page), 0);	/* rmap dropped */
	/* exactly one EXCLUSIVE invalidation, tagged with the caller's owner */
	assert_int_equal(testdev_rec_n(&e.rec), 1);
	assert_event(&e.rec, 0, UHMM_MMU_NOTIFY_EXCLUSIVE, addr, addr + P, OWNER, e.mm);
	pi = testdev_pte(e.mm, addr);
	assert_int_equal(pi.kind, UHMM_PTE_DEVICE_EXCLUSIVE);
	assert_true(pi.write);
	assert_int_equal(pi.pfn, pfn0);
	assert_int_equal(pi.refcount, 2);
	assert_int_equal(pi.mapcount, 0);
	uhmm_unlock_page(page);
	uhmm_put_page(page);
	assert_int_equal(uhmm_page_refcount(page), 1);
	assert_int_equal(used_pages(e.sys), used);
	/* the neighbour is untouched */
	assert_int_equal(testdev_pte(e.mm, addr + P).kind, UHMM_PTE_PRESENT);
	/* again on an exclusive entry: restored (CLEAR), then exclusive again */
	testdev_rec_reset(&e.rec);
	assert_int_equal(make_excl_release(e.mm, addr), pfn0);
	assert_int_equal(testdev_rec_n(&e.rec), 2);
	assert_event(&e.rec, 0, UHMM_MMU_NOTIFY_CLEAR, addr, addr + P, NULL, e.mm);
	assert_event(&e.rec, 1, UHMM_MMU_NOTIFY_EXCLUSIVE, addr, addr + P, OWNER, e.mm);
	testdev_assert_pattern(e.mm, addr, 2, 1);
	env_fini(&e);
}

static void test_cpu_read_restores(void **state)
{
	struct uhmm_pte_info pi;
	unsigned long addr, pfn0;
	struct env e;

	env_init(&e);
	addr = testdev_mmap(e.mm, 1, RW, MAP_PRIVATE);
	testdev_fill(e.mm, addr, 1, 2);
	watch(&e, addr, P);
	pfn0 = make_excl_release(e.mm, addr);
	testdev_rec_reset(&e.rec);

	testdev_assert_pattern(e.mm, addr, 1, 2);
	assert_int_equal(testdev_rec_n(&e.rec), 1);
	assert_event(&e.rec, 0, UHMM_MMU_NOTIFY_CLEAR, addr, addr + P, NULL, e.mm);
	pi = testdev_pte(e.mm, addr);
	assert_int_equal(pi.kind, UHMM_PTE_PRESENT);
	assert_true(pi.write);	/* a writable exclusive entry restores writable */
	assert_int_equal(pi.pfn, pfn0);
	assert_int_equal(pi.refcount, 1);
	assert_int_equal(pi.mapcount, 1);
	/* nothing more to restore */
	testdev_assert_pattern(e.mm, addr, 1, 2);
	assert_int_equal(testdev_rec_n(&e.rec), 1);
	env_fini(&e);
}

static void test_cpu_write_restores(void **state)
{
	unsigned char before[P], after[P];
	struct uhmm_pte_info pi;
	unsigned long addr, pfn0;
	unsigned char b = 0xee;
	struct env e;

	env_init(&e);
	addr = testdev_mmap(e.mm, 1, RW, MAP_PRIVATE);
	testdev_fill(e.mm, addr, 1, 3);
	assert_int_equal(uhmm_cpu_read(e.mm, addr, before, P), 0);
	watch(&e, addr, P);
	pfn0 = make_excl_release(e.mm, addr);
	testdev_rec_reset(&e.rec);

	assert_int_equal(uhmm_cpu_write(e.mm, addr + 17, &b, 1), 0);
	assert_int_equal(testdev_rec_n(&e.rec), 1);
	assert_event(&e.rec, 0, UHMM_MMU_NOTIFY_CLEAR, addr, addr + P, NULL, e.mm);
	pi = testdev_pte(e.mm, addr);
	assert_int_equal(pi.kind, UHMM_PTE_PRESENT);
	assert_true(pi.write);
	assert_true(pi.dirty);
	assert_int_equal(pi.pfn, pfn0);
	assert_int_equal(pi.refcount, 1);
	assert_int_equal(pi.mapcount, 1);
	/* the byte written, the rest of the page intact */
	assert_int_equal(uhmm_cpu_read(e.mm, addr, after, P), 0);
	before[17] = 0xee;
	assert_memory_equal(before, after, P);
	assert_int_equal(testdev_rec_n(&e.rec), 1);
	env_fini(&e);
}

static void test_exclusive_faults_in(void **state)
{
	struct uhmm_page *page;
	unsigned long addr, zpfn, pfn2;
	struct uhmm_pte_info pi;
	struct env e;
	char c;

	env_init(&e);
	addr = testdev_mmap(e.mm, 3, RW, MAP_PRIVATE);
	/* page 0: a hole; page 1: the zero page; page 2: write-protected (soft-dirty clear) */
	assert_int_equal(uhmm_cpu_read(e.mm, addr + P, &c, 1), 0);
	zpfn = testdev_pte(e.mm, addr + P).pfn;
	testdev_fill(e.mm, addr + 2 * P, 1, 4);
	assert_int_equal(uhmm_clear_soft_dirty(e.mm), 0);
	pfn2 = testdev_pte(e.mm, addr + 2 * P).pfn;
	assert_false(testdev_pte(e.mm, addr + 2 * P).write);

	assert_int_equal(make_excl(e.mm, addr, OWNER, &page), 0);
	assert_false(uhmm_is_zero_page(page));
	uhmm_unlock_page(page);
	uhmm_put_page(page);
	assert_int_equal(make_excl(e.mm, addr + P, OWNER, &page), 0);
	assert_int_not_equal(uhmm_page_to_pfn(page), zpfn);	/* COW of the zero page first */
	uhmm_unlock_page(page);
	uhmm_put_page(page);
	assert_int_equal(make_excl(e.mm, addr + 2 * P, OWNER, &page), 0);
	assert_int_equal(uhmm_page_to_pfn(page), pfn2);	/* exclusive anon page: reused */
	uhmm_unlock_page(page);
	uhmm_put_page(page);
	for (int i = 0; i < 3; i++) {
		pi = testdev_pte(e.mm, addr + i * P);
		assert_int_equal(pi.kind, UHMM_PTE_DEVICE_EXCLUSIVE);
		assert_true(pi.write);
		assert_int_equal(pi.refcount, 1);
		assert_int_equal(pi.mapcount, 0);
	}
	testdev_assert_zero(e.mm, addr, 2);
	testdev_assert_pattern(e.mm, addr + 2 * P, 1, 4);
	env_fini(&e);
}

static void test_exclusive_errors(void **state)
{
	struct uhmm_page *page = NULL, *cp;
	unsigned long addr, ro, sh, hole, co;
	struct testdev *coh;
	struct env e;

	env_init(&e);
	addr = testdev_mmap(e.mm, 1, RW, MAP_PRIVATE);
	ro = testdev_mmap(e.mm, 1, PROT_READ, MAP_PRIVATE);
	sh = testdev_mmap(e.mm, 1, RW, MAP_SHARED);
	hole = testdev_mmap(e.mm, 1, RW, MAP_PRIVATE);
	assert_int_equal(uhmm_munmap(e.mm, hole, P), 0);
	testdev_fill(e.mm, addr, 1, 5);
	testdev_fill(e.mm, sh, 1, 5);
	watch(&e, addr, P);

	assert_int_equal(make_excl(e.mm, addr + 1, OWNER, &page), -EINVAL);
	assert_int_equal(make_excl(e.mm, addr, OWNER, NULL), -EINVAL);
	assert_int_equal(uhmm_make_device_exclusive(NULL, addr, OWNER, &page), -EINVAL);
	assert_int_equal(make_excl(e.mm, hole, OWNER, &page), -EFAULT);
	assert_int_equal(make_excl(e.mm, ro, OWNER, &page), -EFAULT);
	assert_int_equal(make_excl(e.mm, sh, OWNER, &page), -EINVAL);
	assert_null(page);
	/* nothing changed */
	assert_int_equal(testdev_rec_n(&e.rec), 0);
	assert_int_equal(testdev_pte(e.mm, addr).kind, UHMM_PTE_PRESENT);
	assert_int_equal(testdev_pte(e.mm, sh).kind, UHMM_PTE_PRESENT);
	assert_int_equal(testdev_pte(e.mm, ro).kind, UHMM_PTE_NONE);

	/* device memory cannot be made exclusive */
	assert_int_equal(testdev_create(e.sys, UHMM_MEMORY_DEVICE_COHERENT, 2, &coh), 0);
	co = testdev_mmap(e.mm, 1, RW, MAP_PRIVATE);
	testdev_fill(e.mm, co, 1, 6);
	assert_int_equal(testdev_migrate_to_device(coh, e.mm, co, 1, NULL, NULL), 0);
	cp = testdev_pte_page(e.mm, co);
	assert_true(uhmm_is_device_coherent_page(cp));
	assert_int_equal(make_excl(e.mm, co, OWNER, &page), -EBUSY);
	assert_null(page);
	assert_int_equal(testdev_pte(e.mm, co).kind, UHMM_PTE_PRESENT);
	assert_false(uhmm_page_locked(cp));
	assert_int_equal(uhmm_page_refcount(cp), 1);
	assert_int_equal(testdev_migrate_to_ram(coh, e.mm, co, 1, NULL, NULL), 0);
	testdev_assert_pattern(e.mm, co, 1, 6);
	testdev_destroy(coh);
	env_fini(&e);
}

/* fork from another thread: this one holds the page lock, as a device still
 * working on the page would (the same thread would break the lock order). */
struct fork_arg {
	struct uhmm_mm *parent, *child;
	int ret;
};

static void *fork_thread(void *p)
{
	struct fork_arg *a = p;

	a->ret = uhmm_mm_fork(a->parent, &a->child);
	return NULL;
}

static int fork_elsewhere(struct uhmm_mm *parent, struct uhmm_mm **child)
{
	struct fork_arg a = { parent, NULL, -1 };
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, fork_thread, &a), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	if (!a.ret)
		*child = a.child;
	return a.ret;
}

static void test_fork_restores_parent(void **state)
{
	struct uhmm_page *page = NULL;
	unsigned long addr, pfn0;
	struct uhmm_mm *child = NULL;
	struct uhmm_pte_info pi;
	struct env e;

	env_init(&e);
	addr = testdev_mmap(e.mm, 2, RW, MAP_PRIVATE);
	testdev_fill(e.mm, addr, 2, 7);

	/* the page lock held (a device still working on it): fork fails, in 6.1 and still today */
	assert_int_equal(make_excl(e.mm, addr, OWNER, &page), 0);
	pfn0 = uhmm_page_to_pfn(page);
	assert_int_equal(fork_elsewhere(e.mm, &child), -ENOMEM);
	assert_null(child);
	assert_int_equal(testdev_pte(e.mm, addr).kind, UHMM_PTE_DEVICE_EXCLUSIVE);
	uhmm_unlock_page(page);
	uhmm_put_page(page);

	/* unlocked: fork restores the parent's PTE, then copies it as a COW page */
	assert_int_equal(uhmm_mm_fork(e.mm, &child), 0);
	pi = testdev_pte(e.mm, addr);
	assert_int_equal(pi.kind, UHMM_PTE_PRESENT);
	assert_int_equal(pi.pfn, pfn0);
	assert_false(pi.write);
	assert_int_equal(pi.refcount, 2);
	assert_int_equal(pi.mapcount, 2);
	pi = testdev_pte(child, addr);
	assert_int_equal(pi.kind, UHMM_PTE_PRESENT);
	assert_int_equal(pi.pfn, pfn0);
	assert_false(pi.write);
	testdev_assert_pattern(e.mm, addr, 2, 7);
	testdev_assert_pattern(child, addr, 2, 7);
	/* and they are independent copies from now on */
	testdev_fill(e.mm, addr, 1, 8);
	testdev_assert_pattern(e.mm, addr, 1, 8);
	testdev_assert_pattern(child, addr, 1, 7);
	assert_int_equal(testdev_pte(child, addr).pfn, pfn0);
	assert_int_not_equal(testdev_pte(e.mm, addr).pfn, pfn0);
	uhmm_mm_put(child);
	env_fini(&e);
}

static void test_mprotect_downgrades(void **state)
{
	unsigned long addr, pfn0, pfn1, dpfn;
	struct uhmm_pte_info pi;
	struct testdev *dev;
	struct env e;

	env_init(&e);
	assert_int_equal(testdev_create(e.sys, UHMM_MEMORY_DEVICE_PRIVATE, 4, &dev), 0);
	addr = testdev_mmap(e.mm, 3, RW, MAP_PRIVATE);
	testdev_fill(e.mm, addr, 3, 9);
	pfn0 = make_excl_release(e.mm, addr);
	pfn1 = make_excl_release(e.mm, addr + P);
	assert_int_equal(testdev_migrate_to_device(dev, e.mm, addr + 2 * P, 1, NULL, NULL), 0);
	dpfn = testdev_pte(e.mm, addr + 2 * P).pfn;
	assert_true(testdev_pte(e.mm, addr).write);
	assert_true(testdev_pte(e.mm, addr + 2 * P).write);

	/* the same protection still downgrades writable special entries */
	assert_int_equal(uhmm_mprotect(e.mm, addr, 3 * P, RW), 0);
	pi = testdev_pte(e.mm, addr);
	assert_int_equal(pi.kind, UHMM_PTE_DEVICE_EXCLUSIVE);
	assert_false(pi.write);
	assert_int_equal(pi.pfn, pfn0);
	pi = testdev_pte(e.mm, addr + 2 * P);
	assert_int_equal(pi.kind, UHMM_PTE_DEVICE_PRIVATE);
	assert_false(pi.write);
	assert_int_equal(pi.pfn, dpfn);
	/* and so does a real change */
	assert_int_equal(uhmm_mprotect(e.mm, addr + P, P, PROT_READ), 0);
	pi = testdev_pte(e.mm, addr + P);
	assert_int_equal(pi.kind, UHMM_PTE_DEVICE_EXCLUSIVE);
	assert_false(pi.write);
	assert_int_equal(uhmm_mprotect(e.mm, addr + P, P, RW), 0);
	assert_false(testdev_pte(e.mm, addr + P).write);

	/*
	 * A read restores the permission the VMA gives (~6.15 and later: the
	 * kernel has one exclusive type and asks the VMA), not the entry's:
	 * writable, in place.
	 */
	testdev_assert_pattern(e.mm, addr, 1, 9);
	pi = testdev_pte(e.mm, addr);
	assert_int_equal(pi.kind, UHMM_PTE_PRESENT);
	assert_true(pi.write);
	assert_int_equal(pi.pfn, pfn0);
	testdev_fill(e.mm, addr, 1, 10);
	pi = testdev_pte(e.mm, addr);
	assert_true(pi.write);
	assert_int_equal(pi.pfn, pfn0);
	/* a write on the exclusive entry: restore, then write */
	testdev_fill(e.mm, addr + P, 1, 11);
	pi = testdev_pte(e.mm, addr + P);
	assert_int_equal(pi.kind, UHMM_PTE_PRESENT);
	assert_true(pi.write);
	assert_int_equal(pi.pfn, pfn1);
	/* the read-only device-private entry: a write migrates it back, then writes */
	testdev_fill(e.mm, addr + 2 * P, 1, 12);
	assert_int_equal(atomic_load(&dev->nr_migrate_to_ram), 1);
	pi = testdev_pte(e.mm, addr + 2 * P);
	assert_int_equal(pi.kind, UHMM_PTE_PRESENT);
	assert_true(pi.write);
	assert_int_equal(pi.refcount, 1);
	assert_int_equal(pi.mapcount, 1);
	testdev_assert_pattern(e.mm, addr, 1, 10);
	testdev_assert_pattern(e.mm, addr + P, 1, 11);
	testdev_assert_pattern(e.mm, addr + 2 * P, 1, 12);
	uhmm_mm_put(e.mm);
	e.mm = NULL;
	testdev_destroy(dev);
	env_fini(&e);
}

/*
 * restore_exclusive_pte (~6.15 and later) takes the permission from the VMA
 * and the page, not from the entry: writable iff the VMA is writable, the
 * page anon-exclusive and no soft-dirty write fault is wanted; the CPU
 * fault and fork restore the same way.
 */
static void test_restore_permission_from_vma(void **state)
{
	unsigned long addr, pfn0, pfn1;
	struct uhmm_pte_info pi;
	struct env e;

	env_init(&e);
	addr = testdev_mmap(e.mm, 2, RW, MAP_PRIVATE);
	testdev_fill(e.mm, addr, 2, 13);
	pfn0 = make_excl_release(e.mm, addr);
	pfn1 = make_excl_release(e.mm, addr + P);

	/* made read-only after the entry: the restored PTE is read-only */
	assert_int_equal(uhmm_mprotect(e.mm, addr, P, PROT_READ), 0);
	testdev_assert_pattern(e.mm, addr, 1, 13);
	pi = testdev_pte(e.mm, addr);
	assert_int_equal(pi.kind, UHMM_PTE_PRESENT);
	assert_int_equal(pi.pfn, pfn0);
	assert_false(pi.write);
	assert_int_equal(pi.mapcount, 1);
	/* writable again: a write reuses the page (still exclusively ours) */
	assert_int_equal(uhmm_mprotect(e.mm, addr, P, RW), 0);
	testdev_fill(e.mm, addr, 1, 14);
	pi = testdev_pte(e.mm, addr);
	assert_true(pi.write);
	assert_int_equal(pi.pfn, pfn0);

	/* soft-dirty cleared after the entry: restored read-only so the first write is seen */
	assert_int_equal(uhmm_clear_soft_dirty(e.mm), 0);
	assert_false(testdev_pte(e.mm, addr + P).soft_dirty);
	testdev_assert_pattern(e.mm, addr + P, 1, 13);
	pi = testdev_pte(e.mm, addr + P);
	assert_int_equal(pi.kind, UHMM_PTE_PRESENT);
	assert_int_equal(pi.pfn, pfn1);
	assert_false(pi.write);
	assert_false(pi.soft_dirty);
	testdev_fill(e.mm, addr + P, 1, 15);
	pi = testdev_pte(e.mm, addr + P);
	assert_true(pi.write);
	assert_true(pi.soft_dirty);
	assert_int_equal(pi.pfn, pfn1);
	testdev_assert_pattern(e.mm, addr, 1, 14);
	testdev_assert_pattern(e.mm, addr + P, 1, 15);
	env_fini(&e);
}

static void test_range_fault_restores(void **state)
{
	unsigned long addr, pfn0, pfns[2];
	struct uhmm_range r;
	struct env e;
	int ret, tries = 0;

	env_init(&e);
	addr = testdev_mmap(e.mm, 2, RW, MAP_PRIVATE);
	testdev_fill(e.mm, addr, 2, 13);
	watch(&e, addr, 2 * P);
	pfn0 = make_excl_release(e.mm, addr);
	testdev_rec_reset(&e.rec);

	memset(&r, 0, sizeof(r));
	r.notifier = &e.rec.sub;
	r.start = addr;
	r.end = addr + 2 * P;
	r.hmm_pfns = pfns;
	r.dev_private_owner = OWNER;
	/* snapshot: an exclusive entry is not present to anyone, whatever the owner */
	r.notifier_seq = uhmm_mmu_interval_read_begin(&e.rec.sub);
	uhmm_mmap_read_lock(e.mm);
	assert_int_equal(uhmm_range_fault(&r), 0);
	uhmm_mmap_read_unlock(e.mm);
	assert_int_equal(pfns[0], 0);
	assert_int_equal(pfns[1], testdev_pte(e.mm, addr + P).pfn | UHMM_PFN_VALID | UHMM_PFN_WRITE);
	assert_int_equal(testdev_rec_n(&e.rec), 0);
	assert_int_equal(testdev_pte(e.mm, addr).kind, UHMM_PTE_DEVICE_EXCLUSIVE);
	/* with REQ_FAULT: the fault restores it (CLEAR), so the first try collides */
	r.default_flags = UHMM_PFN_REQ_FAULT;
	do {
		r.notifier_seq = uhmm_mmu_interval_read_begin(&e.rec.sub);
		uhmm_mmap_read_lock(e.mm);
		ret = uhmm_range_fault(&r);
		uhmm_mmap_read_unlock(e.mm);
		tries++;
	} while (ret == -EBUSY && tries < 10);
	assert_int_equal(ret, 0);
	assert_int_equal(tries, 2);
	assert_int_equal(pfns[0], pfn0 | UHMM_PFN_VALID | UHMM_PFN_WRITE);
	assert_int_equal(testdev_rec_n(&e.rec), 1);
	assert_event(&e.rec, 0, UHMM_MMU_NOTIFY_CLEAR, addr, addr + P, NULL, e.mm);
	assert_int_equal(testdev_pte(e.mm, addr).kind, UHMM_PTE_PRESENT);
	testdev_assert_pattern(e.mm, addr, 2, 13);
	env_fini(&e);
}

static void test_exclusive_not_migrated_and_zapped(void **state)
{
	unsigned long addr, src[2], dst[2], used;
	struct uhmm_migrate_vma m;
	struct testdev *dev;
	struct env e;

	env_init(&e);
	assert_int_equal(testdev_create(e.sys, UHMM_MEMORY_DEVICE_PRIVATE, 4, &dev), 0);
	addr = testdev_mmap(e.mm, 2, RW, MAP_PRIVATE);
	testdev_fill(e.mm, addr, 2, 14);
	make_excl_release(e.mm, addr);
	/* migrate_vma does not touch exclusive entries */
	uhmm_mmap_read_lock(e.mm);
	memset(&m, 0, sizeof(m));
	m.vma = uhmm_find_vma(e.mm, addr);
	m.start = addr;
	m.end = addr + 2 * P;
	m.src = src;
	m.dst = dst;
	m.pgmap_owner = dev;
	m.flags = UHMM_MIGRATE_VMA_SELECT_SYSTEM;
	assert_int_equal(uhmm_migrate_vma_setup(&m), 0);
	assert_int_equal(m.cpages, 1);
	assert_int_equal(src[0], 0);
	assert_true(src[1] & UHMM_MIGRATE_PFN_MIGRATE);
	testdev_fill_dst(dev, src, dst, 2, true, NULL);
	uhmm_migrate_vma_pages(&m);
	uhmm_migrate_vma_finalize(&m);
	uhmm_mmap_read_unlock(e.mm);
	assert_int_equal(testdev_pte(e.mm, addr).kind, UHMM_PTE_DEVICE_EXCLUSIVE);
	assert_int_equal(testdev_pte(e.mm, addr + P).kind, UHMM_PTE_DEVICE_PRIVATE);
	/* munmap drops the exclusive entry's reference: the page is freed */
	used = used_pages(e.sys);
	assert_int_equal(uhmm_munmap(e.mm, addr, 2 * P), 0);
	assert_int_equal(used_pages(e.sys), used - 1);
	assert_int_equal(atomic_load(&dev->nr_page_free), 1);
	testdev_destroy(dev);
	env_fini(&e);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_make_exclusive),
	cmocka_unit_test(test_cpu_read_restores),
	cmocka_unit_test(test_cpu_write_restores),
	cmocka_unit_test(test_exclusive_faults_in),
	cmocka_unit_test(test_exclusive_errors),
	cmocka_unit_test(test_fork_restores_parent),
	cmocka_unit_test(test_mprotect_downgrades),
	cmocka_unit_test(test_restore_permission_from_vma),
	cmocka_unit_test(test_range_fault_restores),
	cmocka_unit_test(test_exclusive_not_migrated_and_zapped),
};

int main(int argc, char **argv)
{
	return testdev_run("test_exclusive", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
