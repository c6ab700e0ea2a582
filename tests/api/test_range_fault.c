/* SPDX-License-Identifier: MIT */
/* tests/api/test_range_fault.c - hmm_range_fault: snapshots, faults, owners, flags, -EBUSY.
 *
 * Public API only, with the tiny test device for device-private pages (no
 * dmirror). Kernel analogue: mm/hmm.c as driven by lib/test_hmm.c (spec
 * section 5 and 10.9-10.10). Usage: test_range_fault [--list | CASE_NAME].
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
#define V UHMM_PFN_VALID
#define W UHMM_PFN_WRITE
#define ERR UHMM_PFN_ERROR
#define RF UHMM_PFN_REQ_FAULT
#define RWR UHMM_PFN_REQ_WRITE
#define MAXP 16

struct env {
	struct uhmm_system *sys;
	struct uhmm_mm *mm;
	struct testdev *dev;
	struct testdev_recorder rec;
	bool rec_on;
};

static void env_init(struct env *e, enum uhmm_memory_type type)
{
	memset(e, 0, sizeof(*e));
	e->sys = testdev_sys_create(4 << 20);
	assert_int_equal(uhmm_mm_create(e->sys, &e->mm), 0);
	assert_int_equal(testdev_create(e->sys, type, 8, &e->dev), 0);
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
	uhmm_mm_put(e->mm);
	testdev_destroy(e->dev);
	testdev_sys_destroy(e->sys);
}

static void init_range(struct uhmm_range *r, struct env *e, unsigned long start, unsigned long n, unsigned long *pfns,
		       unsigned long def, unsigned long mask, void *owner)
{
	memset(r, 0, sizeof(*r));
	r->notifier = &e->rec.sub;
	r->start = start;
	r->end = start + n * P;
	r->hmm_pfns = pfns;
	r->default_flags = def;
	r->pfn_flags_mask = mask;
	r->dev_private_owner = owner;
}

/* One try: read_begin, lock, fault, unlock. */
static int fault_once(struct env *e, struct uhmm_range *r)
{
	int ret;

	r->notifier_seq = uhmm_mmu_interval_read_begin(r->notifier);
	uhmm_mmap_read_lock(e->mm);
	ret = uhmm_range_fault(r);
	uhmm_mmap_read_unlock(e->mm);
	return ret;
}

/* The canonical driver loop: restart from read_begin (and the inputs) on -EBUSY. */
static int fault_loop(struct env *e, unsigned long start, unsigned long n, unsigned long *pfns, unsigned long def,
		      unsigned long mask, void *owner, int *tries)
{
	unsigned long in[MAXP];
	struct uhmm_range r;
	int ret, t = 0;

	assert_true(n <= MAXP);
	memcpy(in, pfns, n * sizeof(*pfns));
	init_range(&r, e, start, n, pfns, def, mask, owner);
	do {
		memcpy(pfns, in, n * sizeof(*pfns));
		ret = fault_once(e, &r);
		t++;
		assert_true(t < 100);
	} while (ret == -EBUSY);
	if (tries)
		*tries = t;
	return ret;
}

static unsigned long pte_pfn(struct uhmm_mm *mm, unsigned long addr)
{
	return testdev_pte(mm, addr).pfn;
}

static unsigned long zero_pfn(struct env *e)
{
	unsigned long a = testdev_mmap(e->mm, 1, PROT_READ, MAP_PRIVATE), pfn;
	char c;

	assert_int_equal(uhmm_cpu_read(e->mm, a, &c, 1), 0);
	assert_int_equal(testdev_pte(e->mm, a).kind, UHMM_PTE_ZERO);
	pfn = pte_pfn(e->mm, a);
	assert_int_equal(uhmm_munmap(e->mm, a, P), 0);
	return pfn;
}

static void fill_in(unsigned long *pfns, unsigned long n, unsigned long v)
{
	for (unsigned long i = 0; i < n; i++)
		pfns[i] = v;
}

/* ------------------------------------------------------------- snapshots */

static void test_snapshot_kinds(void **state)
{
	enum { N = 8 };
	unsigned long pfns[MAXP], addr, zpfn, p1, p3, p5, i;
	unsigned n0;
	struct env e;
	char c;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE);
	zpfn = zero_pfn(&e);
	addr = testdev_mmap(e.mm, N, RW, MAP_PRIVATE);
	watch(&e, addr, N * P);
	testdev_fill(e.mm, addr + 3 * P, 1, 1);
	testdev_fill(e.mm, addr + 5 * P, 1, 1);
	testdev_fill(e.mm, addr + 7 * P, 1, 1);
	assert_int_equal(uhmm_clear_soft_dirty(e.mm), 0);	/* write-protects page 3 */
	testdev_fill(e.mm, addr + P, 1, 1);			/* page 1: writable */
	assert_int_equal(uhmm_cpu_read(e.mm, addr + 2 * P, &c, 1), 0);	/* page 2: zero page */
	assert_int_equal(uhmm_munmap(e.mm, addr + 4 * P, P), 0);	/* page 4: no VMA */
	assert_int_equal(uhmm_mprotect(e.mm, addr + 5 * P, 2 * P, PROT_READ), 0);	/* 5 present, 6 none */
	assert_int_equal(uhmm_mprotect(e.mm, addr + 7 * P, P, PROT_NONE), 0);	/* 7: no read permission */
	p1 = pte_pfn(e.mm, addr + P);
	p3 = pte_pfn(e.mm, addr + 3 * P);
	p5 = pte_pfn(e.mm, addr + 5 * P);
	assert_false(testdev_pte(e.mm, addr + 3 * P).write);
	n0 = testdev_rec_n(&e.rec);

	/* inputs are ignored with mask 0 and no default flags: a pure snapshot */
	fill_in(pfns, N, RF | RWR);
	assert_int_equal(fault_loop(&e, addr, N, pfns, 0, 0, NULL, NULL), 0);
	assert_int_equal(pfns[0], 0);
	assert_int_equal(pfns[1], p1 | V | W);
	assert_int_equal(pfns[2], zpfn | V);
	assert_int_equal(pfns[3], p3 | V);
	assert_int_equal(pfns[4], ERR);
	assert_int_equal(pfns[5], p5 | V);
	assert_int_equal(pfns[6], 0);
	assert_int_equal(pfns[7], ERR);
	for (i = 0; i < N; i++)
		assert_int_equal(uhmm_pfn_to_map_order(pfns[i]), 0);
	assert_int_equal(uhmm_pfn_to_pfn(pfns[1]), p1);
	/* nothing was faulted, nothing invalidated */
	assert_int_equal(testdev_pte(e.mm, addr).kind, UHMM_PTE_NONE);
	assert_int_equal(testdev_pte(e.mm, addr + 6 * P).kind, UHMM_PTE_NONE);
	assert_false(testdev_pte(e.mm, addr + 3 * P).write);
	assert_int_equal(testdev_rec_n(&e.rec), n0);

	/* a sub-range that is only a hole */
	assert_int_equal(fault_loop(&e, addr + 4 * P, 1, pfns, 0, 0, NULL, NULL), 0);
	assert_int_equal(pfns[0], ERR);
	env_fini(&e);
}

static void test_snapshot_migration_entry(void **state)
{
	unsigned long src[2], dst[2], pfns[2], addr;
	struct uhmm_migrate_vma m;
	struct uhmm_range r;
	struct env e;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE);
	addr = testdev_mmap(e.mm, 2, RW, MAP_PRIVATE);
	watch(&e, addr, 2 * P);
	testdev_fill(e.mm, addr, 2, 2);
	uhmm_mmap_read_lock(e.mm);
	memset(&m, 0, sizeof(m));
	m.vma = uhmm_find_vma(e.mm, addr);
	m.start = addr;
	m.end = addr + 2 * P;
	m.src = src;
	m.dst = dst;
	m.pgmap_owner = e.dev;
	m.flags = UHMM_MIGRATE_VMA_SELECT_SYSTEM;
	assert_int_equal(uhmm_migrate_vma_setup(&m), 0);
	assert_int_equal(testdev_pte(e.mm, addr).kind, UHMM_PTE_MIGRATION);
	/* a migration entry is "not present": 0 without a fault request */
	init_range(&r, &e, addr, 2, pfns, 0, 0, e.dev);
	r.notifier_seq = uhmm_mmu_interval_read_begin(r.notifier);
	assert_int_equal(uhmm_range_fault(&r), 0);
	assert_int_equal(pfns[0], 0);
	assert_int_equal(pfns[1], 0);
	uhmm_migrate_vma_pages(&m);
	uhmm_migrate_vma_finalize(&m);
	uhmm_mmap_read_unlock(e.mm);
	testdev_assert_pattern(e.mm, addr, 2, 2);
	env_fini(&e);
}

/* ------------------------------------------------------ device-private */

static void test_own_device_private(void **state)
{
	enum { N = 2 };
	unsigned long pfns[MAXP], addr, dpfn[N];
	struct env e;
	int tries;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE);
	addr = testdev_mmap(e.mm, N, RW, MAP_PRIVATE);
	watch(&e, addr, N * P);
	testdev_fill(e.mm, addr, N, 3);
	assert_int_equal(testdev_migrate_to_device(e.dev, e.mm, addr, N, NULL, NULL), 0);
	dpfn[0] = pte_pfn(e.mm, addr);
	dpfn[1] = pte_pfn(e.mm, addr + P);

	/* owner matches: reported, never faulted */
	assert_int_equal(fault_loop(&e, addr, N, pfns, 0, 0, e.dev, NULL), 0);
	assert_int_equal(pfns[0], dpfn[0] | V | W);
	assert_int_equal(pfns[1], dpfn[1] | V | W);
	assert_int_equal(fault_loop(&e, addr, N, pfns, RF | RWR, 0, e.dev, &tries), 0);
	assert_int_equal(tries, 1);
	assert_int_equal(pfns[0], dpfn[0] | V | W);
	assert_int_equal(pfns[1], dpfn[1] | V | W);

	/* mprotect downgrades device-private entries; the report follows, even with REQ_WRITE */
	assert_int_equal(uhmm_mprotect(e.mm, addr, N * P, RW), 0);
	assert_false(testdev_pte(e.mm, addr).write);
	assert_int_equal(fault_loop(&e, addr, N, pfns, RF | RWR, 0, e.dev, &tries), 0);
	assert_int_equal(tries, 1);
	assert_int_equal(pfns[0], dpfn[0] | V);
	assert_int_equal(pfns[1], dpfn[1] | V);
	assert_int_equal(atomic_load(&e.dev->nr_migrate_to_ram), 0);
	assert_int_equal(testdev_pte(e.mm, addr).kind, UHMM_PTE_DEVICE_PRIVATE);
	testdev_assert_pattern(e.mm, addr, N, 3);
	env_fini(&e);
}

static void test_other_owner_device_private(void **state)
{
	enum { N = 3 };
	unsigned long pfns[MAXP], addr, i;
	struct testdev *other;
	struct env e;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE);
	assert_int_equal(testdev_create(e.sys, UHMM_MEMORY_DEVICE_PRIVATE, 4, &other), 0);
	addr = testdev_mmap(e.mm, N, RW, MAP_PRIVATE);
	watch(&e, addr, N * P);
	testdev_fill(e.mm, addr, N, 4);
	assert_int_equal(testdev_migrate_to_device(e.dev, e.mm, addr, N, NULL, NULL), 0);
	/* page 2 read-only on the device */
	assert_int_equal(uhmm_mprotect(e.mm, addr + 2 * P, P, RW), 0);

	/* not ours, no fault requested: 0, nothing happens */
	assert_int_equal(fault_loop(&e, addr, N, pfns, 0, 0, other, NULL), 0);
	for (i = 0; i < N; i++)
		assert_int_equal(pfns[i], 0);
	assert_int_equal(fault_loop(&e, addr, N, pfns, 0, 0, NULL, NULL), 0);
	for (i = 0; i < N; i++)
		assert_int_equal(pfns[i], 0);
	assert_int_equal(atomic_load(&e.dev->nr_migrate_to_ram), 0);

	/* with REQ_FAULT: the owner's migrate_to_ram brings each page back */
	assert_int_equal(fault_loop(&e, addr, N, pfns, RF, 0, other, NULL), 0);
	assert_int_equal(atomic_load(&e.dev->nr_migrate_to_ram), N);
	assert_int_equal(atomic_load(&other->nr_migrate_to_ram), 0);
	for (i = 0; i < N; i++) {
		struct uhmm_pte_info pi = testdev_pte(e.mm, addr + i * P);

		assert_int_equal(pi.kind, UHMM_PTE_PRESENT);
		assert_false(uhmm_is_zone_device_page(uhmm_pfn_to_page(e.sys, pi.pfn)));
		/* writable iff the device entry was */
		assert_int_equal(pfns[i], pi.pfn | V | (i < 2 ? W : 0));
	}
	assert_int_equal(testdev_nfree(e.dev), 8);
	testdev_assert_pattern(e.mm, addr, N, 4);
	testdev_destroy(other);
	env_fini(&e);
}

static void test_device_private_fault_failure(void **state)
{
	unsigned long pfns[MAXP], addr;
	struct env e;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE);
	addr = testdev_mmap(e.mm, 2, RW, MAP_PRIVATE);
	watch(&e, addr, 2 * P);
	testdev_fill(e.mm, addr, 2, 5);
	assert_int_equal(testdev_migrate_to_device(e.dev, e.mm, addr + P, 1, NULL, NULL), 0);
	atomic_store(&e.dev->fail_migrate_to_ram, -EIO);
	/* SIGBUS from migrate_to_ram: -EFAULT */
	assert_int_equal(fault_loop(&e, addr, 2, pfns, RF, 0, NULL, NULL), -EFAULT);
	assert_int_equal(atomic_load(&e.dev->nr_migrate_to_ram), 1);
	assert_int_equal(testdev_pte(e.mm, addr + P).kind, UHMM_PTE_DEVICE_PRIVATE);
	atomic_store(&e.dev->fail_migrate_to_ram, 0);
	assert_int_equal(fault_loop(&e, addr, 2, pfns, RF, 0, NULL, NULL), 0);
	assert_int_equal(pfns[1], pte_pfn(e.mm, addr + P) | V | W);
	testdev_assert_pattern(e.mm, addr, 2, 5);
	env_fini(&e);
}

static void test_coherent_like_system(void **state)
{
	unsigned long pfns[MAXP], addr, cpfn;
	struct env e;
	int tries;

	env_init(&e, UHMM_MEMORY_DEVICE_COHERENT);
	addr = testdev_mmap(e.mm, 1, RW, MAP_PRIVATE);
	watch(&e, addr, P);
	testdev_fill(e.mm, addr, 1, 6);
	assert_int_equal(testdev_migrate_to_device(e.dev, e.mm, addr, 1, NULL, NULL), 0);
	cpfn = pte_pfn(e.mm, addr);
	assert_true(uhmm_is_device_coherent_page(uhmm_pfn_to_page(e.sys, cpfn)));
	/* a present PTE: reported whatever the owner, never faulted */
	assert_int_equal(fault_loop(&e, addr, 1, pfns, 0, 0, NULL, NULL), 0);
	assert_int_equal(pfns[0], cpfn | V | W);
	assert_int_equal(fault_loop(&e, addr, 1, pfns, RF | RWR, 0, NULL, &tries), 0);
	assert_int_equal(tries, 1);
	assert_int_equal(pfns[0], cpfn | V | W);
	assert_int_equal(pte_pfn(e.mm, addr), cpfn);
	assert_int_equal(testdev_migrate_to_ram(e.dev, e.mm, addr, 1, NULL, NULL), 0);
	testdev_assert_pattern(e.mm, addr, 1, 6);
	env_fini(&e);
}

/* ------------------------------------------------------------- faulting */

static void test_fault_none(void **state)
{
	enum { N = 3 };
	unsigned long pfns[MAXP], addr, zpfn, i;
	struct env e;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE);
	zpfn = zero_pfn(&e);
	addr = testdev_mmap(e.mm, N, RW, MAP_PRIVATE);
	watch(&e, addr, N * P);
	/* read fault: the zero page */
	assert_int_equal(fault_loop(&e, addr, N, pfns, RF, 0, NULL, NULL), 0);
	for (i = 0; i < N; i++) {
		assert_int_equal(pfns[i], zpfn | V);
		assert_int_equal(testdev_pte(e.mm, addr + i * P).kind, UHMM_PTE_ZERO);
	}
	/* write fault: fresh pages, writable */
	assert_int_equal(fault_loop(&e, addr, N, pfns, RF | RWR, 0, NULL, NULL), 0);
	for (i = 0; i < N; i++) {
		struct uhmm_pte_info pi = testdev_pte(e.mm, addr + i * P);

		assert_int_equal(pi.kind, UHMM_PTE_PRESENT);
		assert_true(pi.write);
		assert_int_not_equal(pi.pfn, zpfn);
		assert_int_equal(pfns[i], pi.pfn | V | W);
	}
	testdev_assert_zero(e.mm, addr, N);
	env_fini(&e);
}

/*
 * A fault requested for one page of a range with no page table yet faults
 * the whole hole from its start, as Linux's hmm_vma_walk_hole: the pages
 * before the requested one come back valid (the zero page) too. Where the
 * table exists, a fault starts at the requesting entry: earlier empty
 * entries stay 0 and later ones come back valid.
 */
static void test_fault_hole_from_its_start(void **state)
{
	enum { N = 8, ASK = 5 };
	unsigned long pfns[MAXP], addr, zpfn, i;
	struct env e;
	char c = 7;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE);
	zpfn = zero_pfn(&e);
	/* far from every other mapping: no page table covers it */
	assert_int_equal(uhmm_mmap(e.mm, 1UL << 36, N * P, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, &addr), 0);
	watch(&e, addr, N * P);
	fill_in(pfns, N, 0);
	pfns[ASK] = RF;
	assert_int_equal(fault_loop(&e, addr, N, pfns, 0, RF | RWR, NULL, NULL), 0);
	for (i = 0; i < N; i++) {
		assert_int_equal(pfns[i], zpfn | V);
		assert_int_equal(testdev_pte(e.mm, addr + i * P).kind, UHMM_PTE_ZERO);
	}
	env_fini(&e);

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE);
	zpfn = zero_pfn(&e);
	addr = testdev_mmap(e.mm, N, RW, MAP_PRIVATE);
	watch(&e, addr, N * P);
	assert_int_equal(uhmm_cpu_write(e.mm, addr, &c, 1), 0);	/* the table now exists */
	fill_in(pfns, N, 0);
	pfns[ASK] = RF;
	assert_int_equal(fault_loop(&e, addr, N, pfns, 0, RF | RWR, NULL, NULL), 0);
	assert_int_equal(pfns[0], pte_pfn(e.mm, addr) | V | W);
	for (i = 1; i < ASK; i++) {
		assert_int_equal(pfns[i], 0);
		assert_int_equal(testdev_pte(e.mm, addr + i * P).kind, UHMM_PTE_NONE);
	}
	for (i = ASK; i < N; i++)
		assert_int_equal(pfns[i], zpfn | V);
	env_fini(&e);
}

static void test_write_fault_readonly(void **state)
{
	unsigned long pfns[MAXP], addr, b, pfn0, zpfn;
	struct env e;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE);
	zpfn = zero_pfn(&e);
	addr = testdev_mmap(e.mm, 2, PROT_READ, MAP_PRIVATE);
	watch(&e, addr, 2 * P);
	pfns[0] = pfns[1] = 0x1234;
	assert_int_equal(fault_loop(&e, addr, 2, pfns, RF | RWR, 0, NULL, NULL), -EPERM);
	assert_int_equal(testdev_pte(e.mm, addr).kind, UHMM_PTE_NONE);
	/* read is fine */
	assert_int_equal(fault_loop(&e, addr, 2, pfns, RF, 0, NULL, NULL), 0);
	assert_int_equal(pfns[0], zpfn | V);
	/* REQ_WRITE on one entry only, via the mask: still -EPERM */
	pfns[0] = 0;
	pfns[1] = RF | RWR;
	assert_int_equal(fault_loop(&e, addr, 2, pfns, 0, RF | RWR, NULL, NULL), -EPERM);
	testdev_rec_remove(&e.rec);
	e.rec_on = false;

	/* a read-only PTE in a writable VMA: the write fault makes it writable (reuse) */
	b = testdev_mmap(e.mm, 1, RW, MAP_PRIVATE);
	watch(&e, b, P);
	testdev_fill(e.mm, b, 1, 7);
	assert_int_equal(uhmm_clear_soft_dirty(e.mm), 0);
	pfn0 = pte_pfn(e.mm, b);
	assert_int_equal(fault_loop(&e, b, 1, pfns, RF, 0, NULL, NULL), 0);
	assert_int_equal(pfns[0], pfn0 | V);
	assert_int_equal(fault_loop(&e, b, 1, pfns, RF | RWR, 0, NULL, NULL), 0);
	assert_int_equal(pfns[0], pfn0 | V | W);
	assert_true(testdev_pte(e.mm, b).write);
	testdev_assert_pattern(e.mm, b, 1, 7);
	env_fini(&e);
}

static void test_fault_no_vma(void **state)
{
	unsigned long pfns[MAXP], addr, zpfn;
	struct env e;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE);
	zpfn = zero_pfn(&e);
	addr = testdev_mmap(e.mm, 4, RW, MAP_PRIVATE);
	watch(&e, addr, 4 * P);
	assert_int_equal(uhmm_munmap(e.mm, addr + P, P), 0);
	assert_int_equal(uhmm_mprotect(e.mm, addr + 3 * P, P, PROT_NONE), 0);
	/* a fault on a hole with no VMA */
	assert_int_equal(fault_loop(&e, addr, 2, pfns, RF, 0, NULL, NULL), -EFAULT);
	assert_int_equal(fault_loop(&e, addr + P, 1, pfns, RF, 0, NULL, NULL), -EFAULT);
	/* on a VMA without read permission */
	assert_int_equal(fault_loop(&e, addr + 3 * P, 1, pfns, RF, 0, NULL, NULL), -EFAULT);
	/* per-entry: the hole and the PROT_NONE page not requested -> ERROR, no error */
	pfns[0] = RF;
	pfns[1] = 0;
	pfns[2] = RF;
	pfns[3] = 0;
	assert_int_equal(fault_loop(&e, addr, 4, pfns, 0, RF, NULL, NULL), 0);
	assert_int_equal(pfns[0], zpfn | V);
	assert_int_equal(pfns[1], ERR);
	assert_int_equal(pfns[2], zpfn | V);
	assert_int_equal(pfns[3], ERR);
	env_fini(&e);
}

static void test_pfn_flags_mask(void **state)
{
	enum { N = 4 };
	unsigned long pfns[MAXP], addr, b, zpfn, i;
	struct env e;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE);
	zpfn = zero_pfn(&e);
	addr = testdev_mmap(e.mm, N, RW, MAP_PRIVATE);
	watch(&e, addr, N * P);

	/* mask 0: per-entry requests are ignored */
	fill_in(pfns, N, RF | RWR);
	assert_int_equal(fault_loop(&e, addr, N, pfns, 0, 0, NULL, NULL), 0);
	for (i = 0; i < N; i++) {
		assert_int_equal(pfns[i], 0);
		assert_int_equal(testdev_pte(e.mm, addr + i * P).kind, UHMM_PTE_NONE);
	}
	/* per-entry requests through the mask: only the requested entry is faulted */
	pfns[0] = 0;
	pfns[1] = RWR;	/* write without fault: nothing */
	pfns[2] = 0;
	pfns[3] = RF;
	assert_int_equal(fault_loop(&e, addr, N, pfns, 0, RF | RWR, NULL, NULL), 0);
	assert_int_equal(pfns[0], 0);
	assert_int_equal(pfns[1], 0);
	assert_int_equal(pfns[2], 0);
	assert_int_equal(pfns[3], zpfn | V);
	for (i = 0; i < 3; i++)
		assert_int_equal(testdev_pte(e.mm, addr + i * P).kind, UHMM_PTE_NONE);
	assert_int_equal(testdev_pte(e.mm, addr + 3 * P).kind, UHMM_PTE_ZERO);
	/*
	 * A fault covers the rest of the walk chunk with the same flags, as the
	 * kernel's hmm_vma_fault(addr, end): entries after a faulted one are
	 * faulted too, whatever they asked for; entries before are not.
	 */
	pfns[0] = 0;
	pfns[1] = RF;
	pfns[2] = RF | RWR;
	pfns[3] = 0;
	assert_int_equal(fault_loop(&e, addr, N, pfns, 0, RF | RWR, NULL, NULL), 0);
	assert_int_equal(pfns[0], 0);
	assert_int_equal(pfns[1], zpfn | V);
	assert_int_equal(pfns[2], pte_pfn(e.mm, addr + 2 * P) | V | W);
	assert_int_equal(pfns[3], pte_pfn(e.mm, addr + 3 * P) | V | W);
	assert_int_equal(testdev_pte(e.mm, addr).kind, UHMM_PTE_NONE);
	assert_int_equal(testdev_pte(e.mm, addr + P).kind, UHMM_PTE_ZERO);
	for (i = 2; i < N; i++) {
		assert_int_equal(testdev_pte(e.mm, addr + i * P).kind, UHMM_PTE_PRESENT);
		assert_true(testdev_pte(e.mm, addr + i * P).write);
		assert_int_not_equal(pte_pfn(e.mm, addr + i * P), zpfn);
	}
	/* the mask filters bits: only REQ_FAULT passes, REQ_WRITE is dropped */
	b = testdev_mmap(e.mm, N, RW, MAP_PRIVATE);
	testdev_rec_remove(&e.rec);
	watch(&e, b, N * P);
	fill_in(pfns, N, RF | RWR);
	assert_int_equal(fault_loop(&e, b, N, pfns, 0, RF, NULL, NULL), 0);
	for (i = 0; i < N; i++)
		assert_int_equal(pfns[i], zpfn | V);
	/* default REQ_FAULT for all, REQ_WRITE per entry: the write fault at 2 covers 3 */
	pfns[0] = 0;
	pfns[1] = 0;
	pfns[2] = RWR;
	pfns[3] = 0;
	assert_int_equal(fault_loop(&e, b, N, pfns, RF, RWR, NULL, NULL), 0);
	assert_int_equal(pfns[0], zpfn | V);
	assert_int_equal(pfns[1], zpfn | V);
	assert_int_equal(pfns[2], pte_pfn(e.mm, b + 2 * P) | V | W);
	assert_int_equal(pfns[3], pte_pfn(e.mm, b + 3 * P) | V | W);
	assert_int_not_equal(pte_pfn(e.mm, b + 2 * P), zpfn);
	env_fini(&e);
}

/* ------------------------------------------------------------- -EBUSY */

static void test_ebusy_after_invalidation(void **state)
{
	enum { N = 4 };
	unsigned long pfns[MAXP], addr, pf[N], i;
	struct uhmm_range r;
	struct env e;
	int tries;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE);
	addr = testdev_mmap(e.mm, N, RW, MAP_PRIVATE);
	watch(&e, addr, N * P);
	testdev_fill(e.mm, addr, N, 8);
	for (i = 0; i < N; i++)
		pf[i] = pte_pfn(e.mm, addr + i * P);

	/* munmap between read_begin and range_fault */
	init_range(&r, &e, addr, 3, pfns, 0, 0, NULL);
	r.notifier_seq = uhmm_mmu_interval_read_begin(&e.rec.sub);
	assert_int_equal(uhmm_munmap(e.mm, addr + 3 * P, P), 0);
	assert_true(uhmm_mmu_interval_read_retry(&e.rec.sub, r.notifier_seq));
	fill_in(pfns, 3, 0x77);
	uhmm_mmap_read_lock(e.mm);
	assert_int_equal(uhmm_range_fault(&r), -EBUSY);
	uhmm_mmap_read_unlock(e.mm);
	for (i = 0; i < 3; i++)
		assert_int_equal(pfns[i], 0x77);	/* untouched */
	/* the canonical loop: read_begin again, then it works */
	assert_int_equal(fault_loop(&e, addr, 3, pfns, 0, 0, NULL, &tries), 0);
	assert_int_equal(tries, 1);
	for (i = 0; i < 3; i++)
		assert_int_equal(pfns[i], pf[i] | V | W);

	/* mprotect between read_begin and range_fault */
	init_range(&r, &e, addr, 3, pfns, 0, 0, NULL);
	r.notifier_seq = uhmm_mmu_interval_read_begin(&e.rec.sub);
	assert_int_equal(uhmm_mprotect(e.mm, addr, P, PROT_READ), 0);
	uhmm_mmap_read_lock(e.mm);
	assert_int_equal(uhmm_range_fault(&r), -EBUSY);
	uhmm_mmap_read_unlock(e.mm);
	r.notifier_seq = uhmm_mmu_interval_read_begin(&e.rec.sub);
	uhmm_mmap_read_lock(e.mm);
	assert_int_equal(uhmm_range_fault(&r), 0);
	assert_false(uhmm_mmu_interval_read_retry(&e.rec.sub, r.notifier_seq));
	uhmm_mmap_read_unlock(e.mm);
	assert_int_equal(pfns[0], pf[0] | V);
	assert_int_equal(pfns[1], pf[1] | V | W);
	/* write faults on write-protected pages inside the loop */
	fill_in(pfns, 3, 0);
	assert_int_equal(uhmm_mprotect(e.mm, addr, P, RW), 0);
	assert_int_equal(uhmm_clear_soft_dirty(e.mm), 0);
	assert_int_equal(fault_loop(&e, addr, 3, pfns, RF | RWR, 0, NULL, &tries), 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(pfns[i], pf[i] | V | W);
	testdev_assert_pattern(e.mm, addr, 3, 8);
	env_fini(&e);
}

static void test_invalid_range(void **state)
{
	unsigned long pfns[MAXP], addr;
	struct uhmm_range r, base;
	struct env e;

	env_init(&e, UHMM_MEMORY_DEVICE_PRIVATE);
	addr = testdev_mmap(e.mm, 4, RW, MAP_PRIVATE);
	watch(&e, addr, 4 * P);
	init_range(&base, &e, addr, 4, pfns, 0, 0, NULL);
	base.notifier_seq = uhmm_mmu_interval_read_begin(&e.rec.sub);
	uhmm_mmap_read_lock(e.mm);
	assert_int_equal(uhmm_range_fault(NULL), -EINVAL);
	r = base; r.notifier = NULL; assert_int_equal(uhmm_range_fault(&r), -EINVAL);
	r = base; r.hmm_pfns = NULL; assert_int_equal(uhmm_range_fault(&r), -EINVAL);
	r = base; r.start = addr + 1; assert_int_equal(uhmm_range_fault(&r), -EINVAL);
	r = base; r.end = addr + 4 * P - 8; assert_int_equal(uhmm_range_fault(&r), -EINVAL);
	r = base; r.end = addr; assert_int_equal(uhmm_range_fault(&r), -EINVAL);
	r = base; r.end = addr - P; assert_int_equal(uhmm_range_fault(&r), -EINVAL);
	r = base; r.start = (1UL << 47) - P; r.end = (1UL << 47) + P; assert_int_equal(uhmm_range_fault(&r), -EINVAL);
	r = base; r.start = 0; r.end = ~0UL & UHMM_PAGE_MASK; assert_int_equal(uhmm_range_fault(&r), -EINVAL);
	r = base; assert_int_equal(uhmm_range_fault(&r), 0);
	uhmm_mmap_read_unlock(e.mm);
	env_fini(&e);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_snapshot_kinds),
	cmocka_unit_test(test_snapshot_migration_entry),
	cmocka_unit_test(test_own_device_private),
	cmocka_unit_test(test_other_owner_device_private),
	cmocka_unit_test(test_device_private_fault_failure),
	cmocka_unit_test(test_coherent_like_system),
	cmocka_unit_test(test_fault_none),
	cmocka_unit_test(test_fault_hole_from_its_start),
	cmocka_unit_test(test_write_fault_readonly),
	cmocka_unit_test(test_fault_no_vma),
	cmocka_unit_test(test_pfn_flags_mask),
	cmocka_unit_test(test_ebusy_after_invalidation),
	cmocka_unit_test(test_invalid_range),
};

int main(int argc, char **argv)
{
	return testdev_run("test_range_fault", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
