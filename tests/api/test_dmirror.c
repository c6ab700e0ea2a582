/* SPDX-License-Identifier: MIT */
/* tests/api/test_dmirror.c - the dmirror reference driver, through its public API.
 *
 * Mirrors the cases of tools/testing/selftests/mm/hmm-tests.c (spec section 7)
 * that apply without files, hugetlb, THP or gup_test, plus input validation,
 * the driver's statistics, device memory exhaustion, close/destroy safety and
 * threaded races. Every case ends with all devices destroyed and only the
 * zero page in use. Usage: test_dmirror [--list | CASE_NAME].
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uhmm/dmirror.h>
#include <uhmm/uhmm.h>

#define PS UHMM_PAGE_SIZE
#define NPAGES 1024UL		/* HMM_BUFFER_SIZE: 4 MiB */
#define INTS_PER_PAGE (PS / sizeof(int))
#define RW (PROT_READ | PROT_WRITE)
#define PRIV (MAP_PRIVATE | MAP_ANONYMOUS)
#define SENTINEL 0x5a5a5a5aUL

/* ------------------------------------------------------------- fixture */

struct fx {
	struct uhmm_system *sys;
	struct uhmm_mm *mm;
	struct uhmm_dmirror_device *dev[2];
	struct uhmm_dmirror *dm[2];
	int ndev;
};

static void fx_init_opts(struct fx *f, int ndev, const struct uhmm_dmirror_device_opts *opts)
{
	struct uhmm_system_opts so = { .ram_bytes = 64UL << 20 };
	int i;

	memset(f, 0, sizeof(*f));
	assert_int_equal(uhmm_system_create(&so, &f->sys), 0);
	assert_int_equal(uhmm_mm_create(f->sys, &f->mm), 0);
	f->ndev = ndev;
	for (i = 0; i < ndev; i++) {
		assert_int_equal(uhmm_dmirror_device_create(f->sys, opts, &f->dev[i]), 0);
		assert_int_equal(uhmm_dmirror_open(f->dev[i], f->mm, &f->dm[i]), 0);
	}
}

static void fx_init(struct fx *f, int ndev, enum uhmm_memory_type type)
{
	struct uhmm_dmirror_device_opts o = { .type = type };

	fx_init_opts(f, ndev, &o);
}

/* Close everything and check the leak invariant: only the zero page is in use. */
static void fx_fini(struct fx *f)
{
	struct uhmm_system_stats st;
	int i;

	for (i = 0; i < f->ndev; i++)
		uhmm_dmirror_close(f->dm[i]);
	if (f->mm)
		uhmm_mm_put(f->mm);
	for (i = 0; i < f->ndev; i++)
		uhmm_dmirror_device_destroy(f->dev[i]);
	assert_int_equal(uhmm_system_get_stats(f->sys, &st), 0);
	assert_int_equal(st.used_pages, 1);
	assert_int_equal(st.device_pages, 0);
	assert_int_equal(st.device_pages_used, 0);
	uhmm_system_destroy(f->sys);
}

static unsigned long map(struct fx *f, unsigned long npages, int prot, int flags)
{
	unsigned long addr;

	assert_int_equal(uhmm_mmap(f->mm, 0, npages * PS, prot, flags, &addr), 0);
	return addr;
}

/* ------------------------------------------------------------- helpers */

static int *ibuf(unsigned long npages)
{
	int *b = calloc(npages * INTS_PER_PAGE, sizeof(int));

	assert_non_null(b);
	return b;
}

static void ifill(int *b, unsigned long npages, int base, int sign)
{
	unsigned long i;

	for (i = 0; i < npages * INTS_PER_PAGE; i++)
		b[i] = sign * ((int)i + base);
}

static void icheck(const int *b, unsigned long npages, int base, int sign)
{
	unsigned long i;

	for (i = 0; i < npages * INTS_PER_PAGE; i++)
		if (b[i] != sign * ((int)i + base))
			fail_msg("int %lu: %d, want %d", i, b[i], sign * ((int)i + base));
}

/* CPU side: the address space holds int i = i + base at index i. */
static void cpu_fill(struct uhmm_mm *mm, unsigned long addr, unsigned long npages, int base)
{
	int *b = ibuf(npages);

	ifill(b, npages, base, 1);
	assert_int_equal(uhmm_cpu_write(mm, addr, b, npages * PS), 0);
	free(b);
}

static void cpu_check(struct uhmm_mm *mm, unsigned long addr, unsigned long npages, int base, int sign)
{
	int *b = ibuf(npages);

	assert_int_equal(uhmm_cpu_read(mm, addr, b, npages * PS), 0);
	icheck(b, npages, base, sign);
	free(b);
}

static int dmcmd(struct uhmm_dmirror *dm, unsigned int req, unsigned long addr, void *ptr, unsigned long npages,
		 struct uhmm_dmirror_cmd *out)
{
	struct uhmm_dmirror_cmd c = { .addr = addr, .ptr = ptr, .npages = npages, .cpages = SENTINEL,
				      .faults = SENTINEL };
	int r = uhmm_dmirror_ioctl(dm, req, &c);

	if (out)
		*out = c;
	return r;
}

static struct uhmm_dmirror_stats stats(struct uhmm_dmirror *dm)
{
	struct uhmm_dmirror_stats st;

	assert_int_equal(uhmm_dmirror_get_stats(dm, &st), 0);
	return st;
}

static struct uhmm_dmirror_device_stats dstats(struct uhmm_dmirror_device *dev)
{
	struct uhmm_dmirror_device_stats st;

	assert_int_equal(uhmm_dmirror_device_get_stats(dev, &st), 0);
	return st;
}

static enum uhmm_pte_kind pte_kind(struct uhmm_mm *mm, unsigned long addr)
{
	struct uhmm_pte_info info;

	assert_int_equal(uhmm_mm_query_pte(mm, addr, &info), 0);
	return info.kind;
}

static void expect_kind(struct uhmm_mm *mm, unsigned long addr, unsigned long npages, enum uhmm_pte_kind kind)
{
	unsigned long i;

	for (i = 0; i < npages; i++)
		if (pte_kind(mm, addr + i * PS) != kind)
			fail_msg("page %lu: pte kind %d, want %d", i, pte_kind(mm, addr + i * PS), kind);
}

/* -------------------------------------------------------------- cases */

static void test_open_close(void **state)
{
	struct fx f;
	struct uhmm_dmirror *second;
	struct uhmm_dmirror_device_stats ds;

	fx_init(&f, 1, 0);
	assert_ptr_equal(uhmm_dmirror_device_owner(f.dev[0]), f.dev[0]);
	/* a second file of the same device on the same mm */
	assert_int_equal(uhmm_dmirror_open(f.dev[0], f.mm, &second), 0);
	ds = dstats(f.dev[0]);
	assert_int_equal(ds.files, 2);
	assert_int_equal(ds.chunks, 0);		/* memory is created lazily */
	uhmm_dmirror_close(second);
	assert_int_equal(dstats(f.dev[0]).files, 1);
	uhmm_dmirror_close(NULL);
	uhmm_dmirror_device_destroy(NULL);
	assert_int_equal(uhmm_dmirror_open(NULL, f.mm, &second), -EINVAL);
	assert_int_equal(uhmm_dmirror_open(f.dev[0], NULL, &second), -EINVAL);
	assert_int_equal(uhmm_dmirror_open(f.dev[0], f.mm, NULL), -EINVAL);
	assert_int_equal(uhmm_dmirror_get_stats(NULL, NULL), -EINVAL);
	fx_fini(&f);
}

static void test_device_create_invalid(void **state)
{
	struct uhmm_system *sys;
	struct uhmm_dmirror_device *dev = NULL;
	struct uhmm_dmirror_device_opts o = { .type = (enum uhmm_memory_type)7 };

	assert_int_equal(uhmm_system_create(NULL, &sys), 0);
	assert_int_equal(uhmm_dmirror_device_create(NULL, NULL, &dev), -EINVAL);
	assert_int_equal(uhmm_dmirror_device_create(sys, NULL, NULL), -EINVAL);
	assert_int_equal(uhmm_dmirror_device_create(sys, &o, &dev), -EINVAL);
	assert_null(dev);
	o.type = UHMM_MEMORY_DEVICE_COHERENT;
	assert_int_equal(uhmm_dmirror_device_create(sys, &o, &dev), 0);
	uhmm_dmirror_device_destroy(dev);
	uhmm_system_destroy(sys);
}

/* hmm-tests anon_read: zero page, unpopulated page and data; one fault round. */
static void test_anon_read(void **state)
{
	struct fx f;
	struct uhmm_dmirror_cmd c;
	unsigned long addr, i;
	int *b, *mirror, val;

	fx_init(&f, 1, 0);
	addr = map(&f, NPAGES, RW, PRIV);
	b = ibuf(NPAGES);
	ifill(b, NPAGES, 0, 1);
	/* all but the first two pages */
	assert_int_equal(uhmm_cpu_write(f.mm, addr + 2 * PS, b + 2 * INTS_PER_PAGE, (NPAGES - 2) * PS), 0);
	assert_int_equal(uhmm_mprotect(f.mm, addr, NPAGES * PS, PROT_READ), 0);
	assert_int_equal(uhmm_cpu_read(f.mm, addr + PS, &val, sizeof(val)), 0);	/* page 1: zero page */
	assert_int_equal(val, 0);
	assert_int_equal(pte_kind(f.mm, addr), UHMM_PTE_NONE);
	assert_int_equal(pte_kind(f.mm, addr + PS), UHMM_PTE_ZERO);

	mirror = ibuf(NPAGES);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_READ, addr, mirror, NPAGES, &c), 0);
	assert_int_equal(c.cpages, NPAGES);
	assert_int_equal(c.faults, 1);
	for (i = 0; i < NPAGES * INTS_PER_PAGE; i++)
		assert_int_equal(mirror[i], i < 2 * INTS_PER_PAGE ? 0 : (int)i);
	assert_int_equal(stats(f.dm[0]).faults, 1);

	/* everything mapped now: a second READ needs no fault */
	memset(mirror, 0, NPAGES * PS);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_READ, addr, mirror, NPAGES, &c), 0);
	assert_int_equal(c.faults, 0);
	assert_int_equal(mirror[3 * INTS_PER_PAGE], 3 * INTS_PER_PAGE);
	free(b);
	free(mirror);
	fx_fini(&f);
}

/*
 * Issue 9: once a range is mapped, READ, WRITE, SNAPSHOT (after its first
 * use) and MIGRATE_TO_DEV of pages already on the device allocate nothing.
 * They used to malloc a bounce buffer the size of the command, which glibc
 * serves from 32 MiB on with a fresh mmap whose every page is a host fault.
 * Allocations are counted through the failure-injection hook, armed with an
 * N it never reaches.
 */
static void test_steady_state_no_alloc(void **state)
{
	struct fx f;
	unsigned long addr;
	unsigned char snap[NPAGES];
	int *b;

	fx_init(&f, 1, 0);
	addr = map(&f, NPAGES, RW, PRIV);
	cpu_fill(f.mm, addr, NPAGES, 7);
	b = ibuf(NPAGES);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_MIGRATE_TO_DEV, addr, b, NPAGES, NULL), 0);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_SNAPSHOT, addr, snap, NPAGES, NULL), 0);

	uhmm_fail_nth(ULONG_MAX, 0);
	memset(b, 0, NPAGES * PS);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_READ, addr, b, NPAGES, NULL), 0);
	assert_int_equal(uhmm_fail_count(), 0);
	icheck(b, NPAGES, 7, 1);
	ifill(b, NPAGES, 9, 1);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_WRITE, addr, b, NPAGES, NULL), 0);
	assert_int_equal(uhmm_fail_count(), 0);
	memset(b, 0, NPAGES * PS);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_MIGRATE_TO_DEV, addr, b, NPAGES, NULL), 0);
	assert_int_equal(uhmm_fail_count(), 0);
	icheck(b, NPAGES, 9, 1);
	memset(snap, 0, sizeof(snap));
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_SNAPSHOT, addr, snap, NPAGES, NULL), 0);
	assert_int_equal(uhmm_fail_count(), 0);
	assert_int_equal(snap[NPAGES - 1], UHMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | UHMM_DMIRROR_PROT_WRITE);
	uhmm_fail_nth(0, 0);
	free(b);
	fx_fini(&f);
}

/* A READ that fails part way (a hole after mapped pages) leaves the caller's buffer untouched. */
static void test_read_fails_untouched(void **state)
{
	struct fx f;
	unsigned long addr, i;
	unsigned char *b;

	fx_init(&f, 1, 0);
	addr = map(&f, 8, RW, PRIV);
	cpu_fill(f.mm, addr, 8, 1);
	assert_int_equal(uhmm_munmap(f.mm, addr + 6 * PS, 2 * PS), 0);
	b = malloc(8 * PS);
	assert_non_null(b);
	/* pages 0-5 mapped in the device first, so the copy could start before the hole is found */
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_READ, addr, b, 6, NULL), 0);
	memset(b, 0xee, 8 * PS);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_READ, addr, b, 8, NULL), -EFAULT);
	for (i = 0; i < 8 * PS; i++)
		if (b[i] != 0xee)
			fail_msg("byte %lu written by a failed READ", i);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_MIGRATE_TO_DEV, addr, b, 8, NULL), -EINVAL);
	for (i = 0; i < 8 * PS; i++)
		if (b[i] != 0xee)
			fail_msg("byte %lu written by a failed MIGRATE_TO_DEV", i);
	free(b);
	fx_fini(&f);
}

static struct fx f_cost;

/* The simulated clock of @dev equals (copy, fault, flush, pte), and the total their sum. */
static void expect_sim(struct uhmm_dmirror_device *dev, unsigned long long copy, unsigned long long fault,
		       unsigned long long flush, unsigned long long pte)
{
	struct uhmm_dmirror_device_stats st = dstats(dev);

	if (st.sim_ns_copy != copy || st.sim_ns_fault != fault || st.sim_ns_flush != flush || st.sim_ns_pte != pte)
		fail_msg("sim ns copy %llu fault %llu flush %llu pte %llu, want %llu %llu %llu %llu", st.sim_ns_copy,
			 st.sim_ns_fault, st.sim_ns_flush, st.sim_ns_pte, copy, fault, flush, pte);
	assert_true(st.sim_ns_total == copy + fault + flush + pte);
}

/*
 * Issue 13: the device cost model advances each category by exactly the
 * modelled amount. One page crosses the link in 1000 ns (4096 bytes/us),
 * a transfer's setup is 100 ns, a fault round 10 us, a flush 1 us, an entry
 * write 10 ns. Nothing waits (realtime off): no timing is asserted.
 */
static void test_cost_model(void **state)
{
	const struct uhmm_dmirror_cost cost = { .copy_bytes_per_us = 4096, .copy_setup_ns = 100, .fault_ns = 10000,
						.tlb_flush_ns = 1000, .pte_write_ns = 10 };
	struct uhmm_dmirror_device_opts o = { .cost = &cost };
	struct uhmm_dmirror_device_opts off = { .cost = &cost, .invalidate_own_migrations = true };
	const unsigned long long xfer8 = 8 * 1000 + 100;	/* one transfer of 8 pages */
	struct uhmm_dmirror *d1;
	struct uhmm_dmirror_device *dev1;
	struct uhmm_dmirror_cmd c;
	unsigned long addr;
	int *b = ibuf(8);

	fx_init_opts(&f_cost, 1, &o);
	addr = map(&f_cost, 8, RW, PRIV);
	cpu_fill(f_cost.mm, addr, 8, 3);
	expect_sim(f_cost.dev[0], 0, 0, 0, 0);

	/* READ of 8 unmapped pages: one fault round storing 8 entries, then one transfer */
	assert_int_equal(dmcmd(f_cost.dm[0], UHMM_DMIRROR_READ, addr, b, 8, &c), 0);
	assert_int_equal(c.faults, 1);
	expect_sim(f_cost.dev[0], xfer8, 10000, 0, 80);
	/* WRITE of the same, all mapped writable: one transfer, nothing else */
	assert_int_equal(dmcmd(f_cost.dm[0], UHMM_DMIRROR_WRITE, addr, b, 8, &c), 0);
	expect_sim(f_cost.dev[0], 2 * xfer8, 10000, 0, 80);
	/* MIGRATE_TO_DEV (filter on): the callback skips; the driver erases the 8 moving
	 * entries (one flush), copies one batch, stores 8 entries, reads back */
	assert_int_equal(dmcmd(f_cost.dm[0], UHMM_DMIRROR_MIGRATE_TO_DEV, addr, b, 8, &c), 0);
	expect_sim(f_cost.dev[0], 4 * xfer8, 10000, 1000, 160);
	/* MIGRATE_TO_SYS: erase 8 (one flush), one batch copied back */
	assert_int_equal(dmcmd(f_cost.dm[0], UHMM_DMIRROR_MIGRATE_TO_SYS, addr, b, 8, &c), 0);
	assert_int_equal(c.cpages, 8);
	expect_sim(f_cost.dev[0], 5 * xfer8, 10000, 2000, 160);
	/* a zap by the CPU (MADV_DONTNEED) of mapped entries: the callback's flush, no write */
	assert_int_equal(dmcmd(f_cost.dm[0], UHMM_DMIRROR_READ, addr, b, 8, &c), 0);
	expect_sim(f_cost.dev[0], 6 * xfer8, 20000, 2000, 240);
	assert_int_equal(uhmm_madvise(f_cost.mm, addr, 8 * PS, MADV_DONTNEED), 0);
	expect_sim(f_cost.dev[0], 6 * xfer8, 20000, 3000, 240);

	/* Without the filter, on a second device: READ, then MIGRATE_TO_DEV whose own
	 * MIGRATE callback zaps the 8 entries (one flush); the driver erases nothing more */
	assert_int_equal(uhmm_dmirror_device_create(f_cost.sys, &off, &dev1), 0);
	assert_int_equal(uhmm_dmirror_open(dev1, f_cost.mm, &d1), 0);
	cpu_fill(f_cost.mm, addr, 8, 5);
	assert_int_equal(dmcmd(d1, UHMM_DMIRROR_READ, addr, b, 8, &c), 0);
	expect_sim(dev1, xfer8, 10000, 0, 80);
	assert_int_equal(dmcmd(d1, UHMM_DMIRROR_MIGRATE_TO_DEV, addr, b, 8, &c), 0);
	expect_sim(dev1, 3 * xfer8, 10000, 1000, 160);
	/* the first device lost its 8 entries to that migration: its callback flushed once */
	expect_sim(f_cost.dev[0], 6 * xfer8, 20000, 3000, 240);
	assert_int_equal(dmcmd(d1, UHMM_DMIRROR_MIGRATE_TO_SYS, addr, b, 8, &c), 0);
	uhmm_dmirror_close(d1);
	uhmm_dmirror_device_destroy(dev1);
	free(b);
	fx_fini(&f_cost);
}

/* No cost given: uhmm_dmirror_cost_default; the old tlb_flush_ns overrides its flush. */
static void test_cost_default(void **state)
{
	const struct uhmm_dmirror_cost *dc = &uhmm_dmirror_cost_default;
	struct uhmm_dmirror_device_opts o = { .tlb_flush_ns = 1 };	/* 1 ns: the spin is negligible */
	struct uhmm_dmirror_cmd c;
	unsigned long addr;
	unsigned long long copy8;
	int *b = ibuf(8);

	assert_true(dc->copy_bytes_per_us > 0 && dc->fault_ns > 0 && dc->tlb_flush_ns > 0 && dc->pte_write_ns > 0);
	assert_false(dc->realtime);
	copy8 = dc->copy_setup_ns + (8ULL * PS * 1000 + dc->copy_bytes_per_us - 1) / dc->copy_bytes_per_us;
	fx_init(&f_cost, 1, 0);
	addr = map(&f_cost, 8, RW, PRIV);
	cpu_fill(f_cost.mm, addr, 8, 3);
	assert_int_equal(dmcmd(f_cost.dm[0], UHMM_DMIRROR_READ, addr, b, 8, &c), 0);
	assert_int_equal(uhmm_madvise(f_cost.mm, addr, 8 * PS, MADV_DONTNEED), 0);
	expect_sim(f_cost.dev[0], copy8, dc->fault_ns, dc->tlb_flush_ns, 8 * dc->pte_write_ns);
	fx_fini(&f_cost);

	fx_init_opts(&f_cost, 1, &o);
	addr = map(&f_cost, 8, RW, PRIV);
	cpu_fill(f_cost.mm, addr, 8, 3);
	assert_int_equal(dmcmd(f_cost.dm[0], UHMM_DMIRROR_READ, addr, b, 8, &c), 0);
	assert_int_equal(uhmm_madvise(f_cost.mm, addr, 8 * PS, MADV_DONTNEED), 0);
	expect_sim(f_cost.dev[0], copy8, dc->fault_ns, 1, 8 * dc->pte_write_ns);
	free(b);
	fx_fini(&f_cost);
}

/*
 * Issue 13 section 3: what each owner-filter policy skips and processes.
 * @own, @cpu, @other: invalidations_skipped expected for A's own ioctl
 * migration, a CPU fault's migrate_to_ram and device B's migration (1 or 0:
 * each is one MIGRATE event here). The data stays right under every policy.
 */
static void policy_case(enum uhmm_dmirror_filter filter, unsigned long own, unsigned long cpu, unsigned long other)
{
	struct uhmm_dmirror_device_opts o = { .filter = filter };
	struct uhmm_dmirror_device *devb;
	struct uhmm_dmirror *fb;
	struct uhmm_dmirror_stats s0, s1;
	struct uhmm_dmirror_cmd c;
	unsigned long addr, addr2;
	int *b = ibuf(8), val;

	fx_init_opts(&f_cost, 1, &o);
	addr = map(&f_cost, 8, RW, PRIV);
	addr2 = map(&f_cost, 8, RW, PRIV);
	cpu_fill(f_cost.mm, addr, 8, 3);
	cpu_fill(f_cost.mm, addr2, 8, 100);
	assert_int_equal(dmcmd(f_cost.dm[0], UHMM_DMIRROR_READ, addr, b, 8, &c), 0);

	/* A's own migration (an ioctl: the driver is populating, on this thread) */
	s0 = stats(f_cost.dm[0]);
	assert_int_equal(dmcmd(f_cost.dm[0], UHMM_DMIRROR_MIGRATE_TO_DEV, addr, b, 8, &c), 0);
	s1 = stats(f_cost.dm[0]);
	assert_int_equal(s1.invalidations - s0.invalidations, 1);
	assert_int_equal(s1.invalidations_skipped - s0.invalidations_skipped, own);
	assert_int_equal(s1.ptes_zapped - s0.ptes_zapped, own ? 0 : 8);
	icheck(b, 8, 3, 1);

	/* the CPU touches page 2: migrate_to_ram raises a MIGRATE with A as owner */
	s0 = s1;
	assert_int_equal(uhmm_cpu_read(f_cost.mm, addr + 2 * PS, &val, sizeof(val)), 0);
	assert_int_equal(val, 2 * (int)INTS_PER_PAGE + 3);
	s1 = stats(f_cost.dm[0]);
	assert_int_equal(s1.invalidations - s0.invalidations, 1);
	assert_int_equal(s1.invalidations_skipped - s0.invalidations_skipped, cpu);
	/* either the callback zapped the entry or the migration code erased it */
	assert_int_equal(s1.ptes_zapped - s0.ptes_zapped, cpu ? 0 : 1);
	assert_int_equal(s1.ptes_migrated - s0.ptes_migrated, cpu ? 1 : 0);
	assert_int_equal(dmcmd(f_cost.dm[0], UHMM_DMIRROR_READ, addr, b, 8, &c), 0);
	icheck(b, 8, 3, 1);

	/* another device's migration: always processed */
	assert_int_equal(uhmm_dmirror_device_create(f_cost.sys, NULL, &devb), 0);
	assert_int_equal(uhmm_dmirror_open(devb, f_cost.mm, &fb), 0);
	assert_int_equal(dmcmd(f_cost.dm[0], UHMM_DMIRROR_READ, addr2, b, 8, &c), 0);
	s0 = stats(f_cost.dm[0]);
	assert_int_equal(dmcmd(fb, UHMM_DMIRROR_MIGRATE_TO_DEV, addr2, b, 8, &c), 0);
	s1 = stats(f_cost.dm[0]);
	assert_int_equal(s1.invalidations_skipped - s0.invalidations_skipped, other);
	assert_int_equal(s1.ptes_zapped - s0.ptes_zapped, 8);
	assert_int_equal(dmcmd(f_cost.dm[0], UHMM_DMIRROR_READ, addr2, b, 8, &c), 0);
	icheck(b, 8, 100, 1);
	assert_int_equal(dmcmd(fb, UHMM_DMIRROR_MIGRATE_TO_SYS, addr2, b, 8, &c), 0);
	uhmm_dmirror_close(fb);
	uhmm_dmirror_device_destroy(devb);
	free(b);
	fx_fini(&f_cost);
}

static void test_policy_own_migrate(void **state)
{
	policy_case(UHMM_DMIRROR_FILTER_OWN_MIGRATE, 1, 1, 0);
}

static void test_policy_none(void **state)
{
	policy_case(UHMM_DMIRROR_FILTER_NONE, 0, 0, 0);
}

static void test_policy_populating(void **state)
{
	policy_case(UHMM_DMIRROR_FILTER_OWN_MIGRATE_POPULATING, 1, 0, 0);
}

static void test_policy_thread(void **state)
{
	policy_case(UHMM_DMIRROR_FILTER_THREAD, 1, 0, 0);
}

/* filter_exclusive: our own EXCLUSIVE is tagged with our device and skipped; without it, processed. */
static void exclusive_case(bool filter_exclusive)
{
	struct uhmm_dmirror_device_opts o = { .filter_exclusive = filter_exclusive };
	struct uhmm_dmirror_stats s0, s1;
	struct uhmm_dmirror_cmd c;
	unsigned long addr;
	int *b = ibuf(4);

	fx_init_opts(&f_cost, 1, &o);
	addr = map(&f_cost, 4, RW, PRIV);
	cpu_fill(f_cost.mm, addr, 4, 9);
	assert_int_equal(dmcmd(f_cost.dm[0], UHMM_DMIRROR_READ, addr, b, 4, &c), 0);
	s0 = stats(f_cost.dm[0]);
	assert_int_equal(dmcmd(f_cost.dm[0], UHMM_DMIRROR_EXCLUSIVE, addr, b, 4, &c), 0);
	icheck(b, 4, 9, 1);
	s1 = stats(f_cost.dm[0]);
	assert_int_equal(s1.invalidations - s0.invalidations, 4);	/* one EXCLUSIVE per page */
	assert_int_equal(s1.invalidations_skipped - s0.invalidations_skipped, filter_exclusive ? 4 : 0);
	assert_int_equal(s1.ptes_zapped - s0.ptes_zapped, filter_exclusive ? 0 : 4);
	/* the CPU takes the pages back either way */
	cpu_check(f_cost.mm, addr, 4, 9, 1);
	assert_int_equal(dmcmd(f_cost.dm[0], UHMM_DMIRROR_CHECK_EXCLUSIVE, addr, NULL, 4, &c), 0);
	free(b);
	fx_fini(&f_cost);
}

static void test_filter_exclusive(void **state)
{
	exclusive_case(true);
}

static void test_no_filter_exclusive(void **state)
{
	exclusive_case(false);
}

/* hmm-tests anon_read_prot: PROT_NONE -> -EFAULT, nothing copied either way. */
static void test_anon_read_prot(void **state)
{
	struct fx f;
	struct uhmm_dmirror_cmd c;
	unsigned long addr;
	int *mirror;

	fx_init(&f, 1, 0);
	addr = map(&f, NPAGES, RW, PRIV);
	cpu_fill(f.mm, addr, NPAGES, 0);
	mirror = ibuf(NPAGES);
	ifill(mirror, NPAGES, 0, -1);
	assert_int_equal(uhmm_mprotect(f.mm, addr, NPAGES * PS, PROT_NONE), 0);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_READ, addr, mirror, NPAGES, &c), -EFAULT);
	assert_int_equal(c.cpages, SENTINEL);	/* not written back on error */
	assert_int_equal(c.faults, SENTINEL);
	assert_int_equal(uhmm_mprotect(f.mm, addr, NPAGES * PS, PROT_READ), 0);
	cpu_check(f.mm, addr, NPAGES, 0, 1);
	icheck(mirror, NPAGES, 0, -1);
	free(mirror);
	fx_fini(&f);
}

/* hmm-tests anon_write. */
static void test_anon_write(void **state)
{
	struct fx f;
	struct uhmm_dmirror_cmd c;
	unsigned long addr;
	int *mirror;

	fx_init(&f, 1, 0);
	addr = map(&f, NPAGES, RW, PRIV);
	mirror = ibuf(NPAGES);
	ifill(mirror, NPAGES, 0, 1);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_WRITE, addr, mirror, NPAGES, &c), 0);
	assert_int_equal(c.cpages, NPAGES);
	assert_int_equal(c.faults, 1);
	cpu_check(f.mm, addr, NPAGES, 0, 1);
	expect_kind(f.mm, addr, NPAGES, UHMM_PTE_PRESENT);
	free(mirror);
	fx_fini(&f);
}

/* hmm-tests anon_write_prot: WRITE to a read-only VMA is -EPERM and changes nothing. */
static void test_anon_write_prot(void **state)
{
	struct fx f;
	struct uhmm_dmirror_cmd c;
	unsigned long addr;
	int *mirror;

	fx_init(&f, 1, 0);
	addr = map(&f, NPAGES, PROT_READ, PRIV);
	mirror = ibuf(NPAGES);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_READ, addr, mirror, 1, &c), 0);
	assert_int_equal(c.cpages, 1);
	assert_int_equal(c.faults, 1);
	assert_int_equal(mirror[0], 0);

	ifill(mirror, NPAGES, 0, 1);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_WRITE, addr, mirror, NPAGES, &c), -EPERM);
	assert_int_equal(c.cpages, SENTINEL);
	cpu_check(f.mm, addr, NPAGES, 0, 0);	/* all zero */

	assert_int_equal(uhmm_mprotect(f.mm, addr, NPAGES * PS, RW), 0);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_WRITE, addr, mirror, NPAGES, &c), 0);
	assert_int_equal(c.cpages, NPAGES);
	assert_int_equal(c.faults, 1);
	cpu_check(f.mm, addr, NPAGES, 0, 1);
	free(mirror);
	fx_fini(&f);
}

/* hmm-tests anon_write_child(_shared): a child's device write stays in the child (COW), unless shared. */
static void write_child(int flags, int parent_sign)
{
	struct fx f;
	struct uhmm_dmirror_cmd c;
	struct uhmm_dmirror *cdm;
	struct uhmm_mm *child;
	unsigned long addr;
	int *mirror;

	fx_init(&f, 1, 0);
	addr = map(&f, NPAGES, RW, flags);
	cpu_fill(f.mm, addr, NPAGES, 0);
	/* the parent's device maps the pages too: fork must invalidate it */
	mirror = ibuf(NPAGES);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_READ, addr, mirror, NPAGES, &c), 0);
	assert_int_equal(uhmm_mm_fork(f.mm, &child), 0);
	cpu_check(child, addr, NPAGES, 0, 1);

	assert_int_equal(uhmm_dmirror_open(f.dev[0], child, &cdm), 0);
	ifill(mirror, NPAGES, 0, -1);
	assert_int_equal(dmcmd(cdm, UHMM_DMIRROR_WRITE, addr, mirror, NPAGES, &c), 0);
	assert_int_equal(c.cpages, NPAGES);
	assert_int_equal(c.faults, 1);
	cpu_check(child, addr, NPAGES, 0, -1);
	uhmm_dmirror_close(cdm);
	uhmm_mm_put(child);

	cpu_check(f.mm, addr, NPAGES, 0, parent_sign);
	/* and the parent's device sees what the parent's CPU sees */
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_READ, addr, mirror, NPAGES, &c), 0);
	icheck(mirror, NPAGES, 0, parent_sign);
	free(mirror);
	fx_fini(&f);
}

static void test_anon_write_child(void **state)
{
	write_child(PRIV, 1);
}

static void test_anon_write_child_shared(void **state)
{
	write_child(MAP_SHARED | MAP_ANONYMOUS, -1);
}

/* hmm-tests anon_read_multiple. */
static void test_anon_read_multiple(void **state)
{
	struct fx f;
	struct uhmm_dmirror_cmd c;
	int *mirror = ibuf(NPAGES);
	int i;

	fx_init(&f, 1, 0);
	for (i = 0; i < 10; i++) {
		unsigned long addr = map(&f, NPAGES, RW, PRIV);

		cpu_fill(f.mm, addr, NPAGES, i);
		assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_READ, addr, mirror, NPAGES, &c), 0);
		assert_int_equal(c.cpages, NPAGES);
		assert_int_equal(c.faults, 1);
		icheck(mirror, NPAGES, i, 1);
		assert_int_equal(uhmm_munmap(f.mm, addr, NPAGES * PS), 0);
	}
	free(mirror);
	fx_fini(&f);
}

/* hmm-tests migrate, extended: device reads need no fault, CPU reads fault pages back. */
static void migrate_and_fault_back(enum uhmm_memory_type type)
{
	struct fx f;
	struct uhmm_dmirror_cmd c;
	struct uhmm_dmirror_stats st;
	unsigned char *snap;
	unsigned long addr, i;
	int *mirror;
	bool coherent = type == UHMM_MEMORY_DEVICE_COHERENT;

	fx_init(&f, 1, type);
	addr = map(&f, NPAGES, RW, PRIV);
	cpu_fill(f.mm, addr, NPAGES, 0);
	mirror = ibuf(NPAGES);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_MIGRATE_TO_DEV, addr, mirror, NPAGES, &c), 0);
	assert_int_equal(c.cpages, NPAGES);
	icheck(mirror, NPAGES, 0, 1);
	expect_kind(f.mm, addr, NPAGES, coherent ? UHMM_PTE_PRESENT : UHMM_PTE_DEVICE_PRIVATE);
	st = stats(f.dm[0]);
	assert_int_equal(st.pages_to_dev, NPAGES);
	assert_int_equal(st.devmem_pages_in_use, NPAGES);
	assert_int_equal(st.ptes_zapped, 0);
	assert_int_equal(st.invalidations_skipped, NPAGES / 64);	/* one MIGRATE per 64-page chunk */

	/* already mapped by the migration: no fault */
	memset(mirror, 0, NPAGES * PS);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_READ, addr, mirror, NPAGES, &c), 0);
	assert_int_equal(c.cpages, NPAGES);
	assert_int_equal(c.faults, 0);
	icheck(mirror, NPAGES, 0, 1);

	snap = malloc(NPAGES);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_SNAPSHOT, addr, snap, NPAGES, &c), 0);
	assert_int_equal(c.cpages, NPAGES);
	for (i = 0; i < NPAGES; i++)
		assert_int_equal(snap[i], (coherent ? UHMM_DMIRROR_PROT_DEV_COHERENT_LOCAL
						    : UHMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL) |
						  UHMM_DMIRROR_PROT_WRITE);

	/* the CPU: private pages come back to RAM through migrate_to_ram */
	cpu_check(f.mm, addr, NPAGES, 0, 1);
	st = stats(f.dm[0]);
	if (coherent) {
		assert_int_equal(st.pages_to_sys, 0);
		assert_int_equal(st.devmem_pages_in_use, NPAGES);
	} else {
		assert_int_equal(st.pages_to_sys, NPAGES);
		assert_int_equal(st.devmem_pages_in_use, 0);
		expect_kind(f.mm, addr, NPAGES, UHMM_PTE_PRESENT);
	}
	free(snap);
	free(mirror);
	fx_fini(&f);
}

static void test_migrate(void **state)
{
	migrate_and_fault_back(UHMM_MEMORY_DEVICE_PRIVATE);
}

static void test_migrate_coherent(void **state)
{
	migrate_and_fault_back(UHMM_MEMORY_DEVICE_COHERENT);
}

/* MIGRATE_TO_SYS for both memory types; then the device maps RAM again. */
static void migrate_to_sys(enum uhmm_memory_type type)
{
	struct fx f;
	struct uhmm_dmirror_cmd c;
	unsigned long addr, i;
	unsigned char *snap;
	int *mirror;

	fx_init(&f, 1, type);
	addr = map(&f, NPAGES, RW, PRIV);
	cpu_fill(f.mm, addr, NPAGES, 7);
	mirror = ibuf(NPAGES);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_MIGRATE_TO_DEV, addr, mirror, NPAGES, &c), 0);
	assert_int_equal(c.cpages, NPAGES);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_MIGRATE_TO_SYS, addr, mirror, NPAGES, &c), 0);
	assert_int_equal(c.cpages, NPAGES);
	assert_int_equal(stats(f.dm[0]).pages_to_sys, NPAGES);
	assert_int_equal(stats(f.dm[0]).devmem_pages_in_use, 0);
	expect_kind(f.mm, addr, NPAGES, UHMM_PTE_PRESENT);
	snap = malloc(NPAGES);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_SNAPSHOT, addr, snap, NPAGES, &c), 0);
	for (i = 0; i < NPAGES; i++)
		assert_int_equal(snap[i], UHMM_DMIRROR_PROT_WRITE);
	/* the migration erased the device entries: READ faults once */
	memset(mirror, 0, NPAGES * PS);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_READ, addr, mirror, NPAGES, &c), 0);
	assert_int_equal(c.faults, 1);
	icheck(mirror, NPAGES, 7, 1);
	cpu_check(f.mm, addr, NPAGES, 7, 1);
	/* nothing left on the device: migrating back again moves nothing */
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_MIGRATE_TO_SYS, addr, mirror, NPAGES, &c), 0);
	assert_int_equal(c.cpages, 0);
	free(snap);
	free(mirror);
	fx_fini(&f);
}

static void test_migrate_to_sys(void **state)
{
	migrate_to_sys(UHMM_MEMORY_DEVICE_PRIVATE);
}

static void test_migrate_to_sys_coherent(void **state)
{
	migrate_to_sys(UHMM_MEMORY_DEVICE_COHERENT);
}

/*
 * hmm-tests migrate_fault: pages still on the device keep their entries
 * through the second migration (its own MIGRATE invalidation is skipped);
 * only the half the CPU faulted back migrates again.
 */
static void test_migrate_fault(void **state)
{
	struct fx f;
	struct uhmm_dmirror_cmd c;
	struct uhmm_dmirror_stats st0, st1;
	unsigned long addr;
	int *mirror;

	fx_init(&f, 1, 0);
	addr = map(&f, NPAGES, RW, PRIV);
	cpu_fill(f.mm, addr, NPAGES, 0);
	mirror = ibuf(NPAGES);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_MIGRATE_TO_DEV, addr, mirror, NPAGES, &c), 0);
	assert_int_equal(c.cpages, NPAGES);
	icheck(mirror, NPAGES, 0, 1);
	cpu_check(f.mm, addr, NPAGES / 2, 0, 1);	/* first half back to RAM */

	st0 = stats(f.dm[0]);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_MIGRATE_TO_DEV, addr, mirror, NPAGES, &c), 0);
	assert_int_equal(c.cpages, NPAGES);
	icheck(mirror, NPAGES, 0, 1);
	st1 = stats(f.dm[0]);
	assert_int_equal(st1.pages_to_dev - st0.pages_to_dev, NPAGES / 2);
	assert_int_equal(st1.ptes_zapped - st0.ptes_zapped, 0);
	assert_int_equal(st1.invalidations_skipped - st0.invalidations_skipped, NPAGES / 64);
	expect_kind(f.mm, addr, NPAGES, UHMM_PTE_DEVICE_PRIVATE);
	free(mirror);
	fx_fini(&f);
}

/* hmm-tests migrate_release: RELEASE evicts everything, data intact, memory re-created lazily. */
static void test_migrate_release(void **state)
{
	struct fx f;
	struct uhmm_dmirror_cmd c;
	struct uhmm_dmirror_device_stats ds;
	unsigned long addr;
	int *mirror;

	fx_init(&f, 1, 0);
	addr = map(&f, NPAGES, RW, PRIV);
	cpu_fill(f.mm, addr, NPAGES, 3);
	mirror = ibuf(NPAGES);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_MIGRATE_TO_DEV, addr, mirror, NPAGES, &c), 0);
	assert_int_equal(c.cpages, NPAGES);
	assert_true(dstats(f.dev[0]).chunks >= 1);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_RELEASE, addr, NULL, NPAGES, &c), 0);
	ds = dstats(f.dev[0]);
	assert_int_equal(ds.chunks, 0);
	assert_int_equal(ds.devmem_pages_in_use, 0);
	assert_int_equal(ds.pages_evicted, NPAGES);
	expect_kind(f.mm, addr, NPAGES, UHMM_PTE_PRESENT);
	/* the eviction's CLEAR invalidations dropped our entries */
	assert_int_equal(stats(f.dm[0]).ptes_zapped, NPAGES);
	cpu_check(f.mm, addr, NPAGES / 2, 3, 1);
	/* device memory comes back on demand */
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_MIGRATE_TO_DEV, addr, mirror, NPAGES, &c), 0);
	assert_int_equal(c.cpages, NPAGES);
	icheck(mirror, NPAGES, 3, 1);
	assert_true(dstats(f.dev[0]).chunks >= 1);
	cpu_check(f.mm, addr, NPAGES, 3, 1);
	free(mirror);
	fx_fini(&f);
}

/* hmm-tests migrate_shared: nothing selectable in a shared mapping -> -ENOENT. */
static void test_migrate_shared(void **state)
{
	struct fx f;
	struct uhmm_dmirror_cmd c;
	unsigned long addr;
	int *mirror;

	fx_init(&f, 1, 0);
	addr = map(&f, NPAGES, RW, MAP_SHARED | MAP_ANONYMOUS);
	mirror = ibuf(NPAGES);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_MIGRATE_TO_DEV, addr, mirror, NPAGES, &c), -ENOENT);
	assert_int_equal(c.cpages, SENTINEL);
	free(mirror);
	fx_fini(&f);
}

/* hmm-tests migrate_mixed (two devices). */
static void test_migrate_mixed(void **state)
{
	struct fx f;
	struct uhmm_dmirror_cmd c;
	unsigned long addr;
	int val, *mirror = ibuf(6);

	fx_init(&f, 2, 0);
	addr = map(&f, 6, PROT_NONE, PRIV);
	assert_int_equal(dmcmd(f.dm[1], UHMM_DMIRROR_MIGRATE_TO_DEV, addr, mirror, 6, &c), -EINVAL);
	assert_int_equal(uhmm_munmap(f.mm, addr + PS, PS), 0);
	assert_int_equal(dmcmd(f.dm[1], UHMM_DMIRROR_MIGRATE_TO_DEV, addr, mirror, 3, &c), -EINVAL);
	/* page 2: the zero page */
	assert_int_equal(uhmm_mprotect(f.mm, addr + 2 * PS, PS, PROT_READ), 0);
	assert_int_equal(uhmm_cpu_read(f.mm, addr + 2 * PS, &val, sizeof(val)), 0);
	assert_int_equal(val, 0);
	val = 3;
	/* page 3: data, read-only */
	assert_int_equal(uhmm_mprotect(f.mm, addr + 3 * PS, PS, RW), 0);
	assert_int_equal(uhmm_cpu_write(f.mm, addr + 3 * PS, &val, sizeof(val)), 0);
	assert_int_equal(uhmm_mprotect(f.mm, addr + 3 * PS, PS, PROT_READ), 0);
	/* pages 4-5: data, writable */
	assert_int_equal(uhmm_mprotect(f.mm, addr + 4 * PS, 2 * PS, RW), 0);
	assert_int_equal(uhmm_cpu_write(f.mm, addr + 4 * PS, &val, sizeof(val)), 0);
	assert_int_equal(uhmm_cpu_write(f.mm, addr + 5 * PS, &val, sizeof(val)), 0);
	assert_int_equal(dmcmd(f.dm[1], UHMM_DMIRROR_MIGRATE_TO_DEV, addr + 2 * PS, mirror, 4, &c), 0);
	assert_int_equal(c.cpages, 4);
	assert_int_equal(mirror[0], 0);
	assert_int_equal(mirror[INTS_PER_PAGE], 3);
	/* page 5 lives on device 1: device 0 cannot select it */
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_MIGRATE_TO_DEV, addr + 5 * PS, mirror, 1, &c), -ENOENT);
	free(mirror);
	fx_fini(&f);
}

/* hmm-tests migrate_multiple. */
static void migrate_multiple(enum uhmm_memory_type type)
{
	struct fx f;
	struct uhmm_dmirror_cmd c;
	int *mirror = ibuf(NPAGES);
	int i;

	fx_init(&f, 1, type);
	for (i = 0; i < 10; i++) {
		unsigned long addr = map(&f, NPAGES, RW, PRIV);

		cpu_fill(f.mm, addr, NPAGES, i);
		assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_MIGRATE_TO_DEV, addr, mirror, NPAGES, &c), 0);
		assert_int_equal(c.cpages, NPAGES);
		icheck(mirror, NPAGES, i, 1);
		if (type == UHMM_MEMORY_DEVICE_COHERENT) {
			assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_MIGRATE_TO_SYS, addr, mirror, NPAGES, &c), 0);
			assert_int_equal(c.cpages, NPAGES);
		}
		cpu_check(f.mm, addr, NPAGES, i, 1);
		assert_int_equal(uhmm_munmap(f.mm, addr, NPAGES * PS), 0);
	}
	assert_int_equal(stats(f.dm[0]).devmem_pages_in_use, 0);
	free(mirror);
	fx_fini(&f);
}

static void test_migrate_multiple(void **state)
{
	migrate_multiple(UHMM_MEMORY_DEVICE_PRIVATE);
}

static void test_migrate_multiple_coherent(void **state)
{
	migrate_multiple(UHMM_MEMORY_DEVICE_COHERENT);
}

/* hmm-tests snapshot (two devices): every byte of the encoding. */
static void snapshot(enum uhmm_memory_type type)
{
	struct fx f;
	struct uhmm_dmirror_cmd c;
	unsigned char snap[7];
	unsigned long addr;
	int val = 0, mirror[INTS_PER_PAGE];
	bool coherent = type == UHMM_MEMORY_DEVICE_COHERENT;

	fx_init(&f, 2, type);
	addr = map(&f, 7, PROT_NONE, PRIV);
	assert_int_equal(uhmm_munmap(f.mm, addr + PS, PS), 0);
	assert_int_equal(uhmm_mprotect(f.mm, addr + 2 * PS, PS, PROT_READ), 0);
	assert_int_equal(uhmm_cpu_read(f.mm, addr + 2 * PS, &val, sizeof(val)), 0);
	assert_int_equal(uhmm_mprotect(f.mm, addr + 3 * PS, PS, RW), 0);
	assert_int_equal(uhmm_cpu_write(f.mm, addr + 3 * PS, &val, sizeof(val)), 0);
	assert_int_equal(uhmm_mprotect(f.mm, addr + 3 * PS, PS, PROT_READ), 0);
	assert_int_equal(uhmm_mprotect(f.mm, addr + 4 * PS, 3 * PS, RW), 0);
	assert_int_equal(uhmm_cpu_write(f.mm, addr + 4 * PS, &val, sizeof(val)), 0);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_MIGRATE_TO_DEV, addr + 5 * PS, mirror, 1, &c), 0);
	assert_int_equal(c.cpages, 1);
	assert_int_equal(dmcmd(f.dm[1], UHMM_DMIRROR_MIGRATE_TO_DEV, addr + 6 * PS, mirror, 1, &c), 0);
	assert_int_equal(c.cpages, 1);
	memset(snap, 0xAB, sizeof(snap));
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_SNAPSHOT, addr, snap, 7, &c), 0);
	assert_int_equal(c.cpages, 7);
	assert_int_equal(snap[0], UHMM_DMIRROR_PROT_ERROR);	/* PROT_NONE VMA */
	assert_int_equal(snap[1], UHMM_DMIRROR_PROT_ERROR);	/* no VMA */
	assert_int_equal(snap[2], UHMM_DMIRROR_PROT_ZERO | UHMM_DMIRROR_PROT_READ);
	assert_int_equal(snap[3], UHMM_DMIRROR_PROT_READ);
	assert_int_equal(snap[4], UHMM_DMIRROR_PROT_WRITE);
	if (coherent) {
		assert_int_equal(snap[5], UHMM_DMIRROR_PROT_DEV_COHERENT_LOCAL | UHMM_DMIRROR_PROT_WRITE);
		assert_int_equal(snap[6], UHMM_DMIRROR_PROT_DEV_COHERENT_REMOTE | UHMM_DMIRROR_PROT_WRITE);
	} else {
		assert_int_equal(snap[5], UHMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | UHMM_DMIRROR_PROT_WRITE);
		assert_int_equal(snap[6], UHMM_DMIRROR_PROT_NONE);	/* other device: not faulted */
	}
	/* a snapshot faults nothing */
	assert_int_equal(pte_kind(f.mm, addr + 6 * PS), coherent ? UHMM_PTE_PRESENT : UHMM_PTE_DEVICE_PRIVATE);
	fx_fini(&f);
}

static void test_snapshot(void **state)
{
	snapshot(UHMM_MEMORY_DEVICE_PRIVATE);
}

static void test_snapshot_coherent(void **state)
{
	snapshot(UHMM_MEMORY_DEVICE_COHERENT);
}

/* hmm-tests double_map: device 1's migration invalidates device 0, whose fault pulls the pages back. */
static void test_double_map(void **state)
{
	struct fx f;
	struct uhmm_dmirror_cmd c;
	unsigned long addr;
	int *mirror = ibuf(6);

	fx_init(&f, 2, 0);
	addr = map(&f, 6, RW, PRIV);
	cpu_fill(f.mm, addr, 6, 0);
	assert_int_equal(uhmm_mprotect(f.mm, addr, 6 * PS, PROT_READ), 0);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_READ, addr, mirror, 6, &c), 0);
	assert_int_equal(c.cpages, 6);
	assert_int_equal(c.faults, 1);
	icheck(mirror, 6, 0, 1);
	assert_int_equal(dmcmd(f.dm[1], UHMM_DMIRROR_READ, addr, mirror, 6, &c), 0);
	assert_int_equal(c.faults, 1);
	assert_int_equal(dmcmd(f.dm[1], UHMM_DMIRROR_MIGRATE_TO_DEV, addr, mirror, 6, &c), 0);
	assert_int_equal(c.cpages, 6);
	/* device 0 is not the owner: its entries went with device 1's MIGRATE */
	assert_int_equal(stats(f.dm[0]).ptes_zapped, 6);
	assert_int_equal(stats(f.dm[0]).invalidations_skipped, 0);
	assert_int_equal(stats(f.dm[1]).ptes_zapped, 0);
	memset(mirror, 0, 6 * PS);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_READ, addr, mirror, 6, &c), 0);
	assert_int_equal(c.cpages, 6);
	assert_int_equal(c.faults, 1);
	icheck(mirror, 6, 0, 1);
	expect_kind(f.mm, addr, 6, UHMM_PTE_PRESENT);
	free(mirror);
	fx_fini(&f);
}

/* Two files of one device on one mm: a migration by one keeps the other coherent. */
static void test_sibling_files(void **state)
{
	struct fx f;
	struct uhmm_dmirror_cmd c;
	struct uhmm_dmirror *sib;
	unsigned long addr;
	int *mirror = ibuf(64);

	fx_init(&f, 1, 0);
	assert_int_equal(uhmm_dmirror_open(f.dev[0], f.mm, &sib), 0);
	addr = map(&f, 64, RW, PRIV);
	cpu_fill(f.mm, addr, 64, 11);
	assert_int_equal(dmcmd(sib, UHMM_DMIRROR_READ, addr, mirror, 64, &c), 0);
	/* sib skips the MIGRATE (same owner) but the migration erases its entries */
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_MIGRATE_TO_DEV, addr, mirror, 64, &c), 0);
	assert_int_equal(stats(sib).invalidations_skipped, 1);
	assert_int_equal(stats(sib).ptes_zapped, 0);
	assert_int_equal(stats(sib).ptes_migrated, 64);
	memset(mirror, 0, 64 * PS);
	assert_int_equal(dmcmd(sib, UHMM_DMIRROR_READ, addr, mirror, 64, &c), 0);
	assert_int_equal(c.faults, 1);	/* finds the device pages, no migration */
	icheck(mirror, 64, 11, 1);
	expect_kind(f.mm, addr, 64, UHMM_PTE_DEVICE_PRIVATE);
	/* sib writes through to the device pages; the CPU sees it after fault-back */
	ifill(mirror, 64, 5, -1);
	assert_int_equal(dmcmd(sib, UHMM_DMIRROR_WRITE, addr, mirror, 64, &c), 0);
	assert_int_equal(c.faults, 0);
	cpu_check(f.mm, addr, 64, 5, -1);
	assert_int_equal(stats(sib).pages_to_sys, 64);
	assert_int_equal(stats(f.dm[0]).pages_to_sys, 64);
	uhmm_dmirror_close(sib);
	free(mirror);
	fx_fini(&f);
}

/* hmm-tests exclusive: the CPU's first touch revokes the device's atomic access. */
static void test_exclusive(void **state)
{
	struct fx f;
	struct uhmm_dmirror_cmd c;
	unsigned long addr, i;
	int *mirror, *b;

	fx_init(&f, 1, 0);
	addr = map(&f, NPAGES, RW, PRIV);
	cpu_fill(f.mm, addr, NPAGES, 0);
	mirror = ibuf(NPAGES);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_EXCLUSIVE, addr, mirror, NPAGES, &c), 0);
	assert_int_equal(c.cpages, NPAGES);
	icheck(mirror, NPAGES, 0, 1);
	expect_kind(f.mm, addr, NPAGES, UHMM_PTE_DEVICE_EXCLUSIVE);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_CHECK_EXCLUSIVE, addr, NULL, NPAGES, &c), -EPERM);

	/* the CPU increments every int */
	b = ibuf(NPAGES);
	assert_int_equal(uhmm_cpu_read(f.mm, addr, b, NPAGES * PS), 0);
	icheck(b, NPAGES, 0, 1);
	for (i = 0; i < NPAGES * INTS_PER_PAGE; i++)
		b[i]++;
	assert_int_equal(uhmm_cpu_write(f.mm, addr, b, NPAGES * PS), 0);
	cpu_check(f.mm, addr, NPAGES, 1, 1);
	expect_kind(f.mm, addr, NPAGES, UHMM_PTE_PRESENT);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_CHECK_EXCLUSIVE, addr, NULL, NPAGES, &c), 0);
	free(b);
	free(mirror);
	fx_fini(&f);
}

/* hmm-tests exclusive_mprotect. */
static void test_exclusive_mprotect(void **state)
{
	struct fx f;
	struct uhmm_dmirror_cmd c;
	unsigned long addr;
	int *mirror;

	fx_init(&f, 1, 0);
	addr = map(&f, NPAGES, RW, PRIV);
	cpu_fill(f.mm, addr, NPAGES, 0);
	mirror = ibuf(NPAGES);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_EXCLUSIVE, addr, mirror, NPAGES, &c), 0);
	assert_int_equal(c.cpages, NPAGES);
	assert_int_equal(uhmm_mprotect(f.mm, addr, NPAGES * PS, PROT_READ), 0);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_WRITE, addr, mirror, NPAGES, &c), -EPERM);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_CHECK_EXCLUSIVE, addr, NULL, NPAGES, &c), 0);
	cpu_check(f.mm, addr, NPAGES, 0, 1);
	free(mirror);
	fx_fini(&f);
}

/* hmm-tests exclusive_cow: after fork both sides increment their own copy. */
static void test_exclusive_cow(void **state)
{
	struct fx f;
	struct uhmm_dmirror_cmd c;
	struct uhmm_mm *child;
	unsigned long addr, i;
	int *mirror, *b;

	fx_init(&f, 1, 0);
	addr = map(&f, NPAGES, RW, PRIV);
	cpu_fill(f.mm, addr, NPAGES, 0);
	mirror = ibuf(NPAGES);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_EXCLUSIVE, addr, mirror, NPAGES, &c), 0);
	assert_int_equal(uhmm_mm_fork(f.mm, &child), 0);
	b = ibuf(NPAGES);
	assert_int_equal(uhmm_cpu_read(child, addr, b, NPAGES * PS), 0);
	icheck(b, NPAGES, 0, 1);
	for (i = 0; i < NPAGES * INTS_PER_PAGE; i++)
		b[i]++;
	assert_int_equal(uhmm_cpu_write(child, addr, b, NPAGES * PS), 0);
	cpu_check(f.mm, addr, NPAGES, 0, 1);
	assert_int_equal(uhmm_cpu_write(f.mm, addr, b, NPAGES * PS), 0);
	cpu_check(child, addr, NPAGES, 1, 1);
	cpu_check(f.mm, addr, NPAGES, 1, 1);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_CHECK_EXCLUSIVE, addr, NULL, NPAGES, &c), 0);
	uhmm_mm_put(child);
	free(b);
	free(mirror);
	fx_fini(&f);
}

/* hmm-tests hmm_cow_in_device: the parent's write after fork brings the pages home, COW-broken. */
static void test_cow_in_device(void **state)
{
	struct fx f;
	struct uhmm_dmirror_cmd c;
	struct uhmm_mm *child;
	unsigned char snap[4];
	unsigned long addr;
	int *mirror = ibuf(4);
	int i;

	fx_init(&f, 1, 0);
	addr = map(&f, 4, RW, PRIV);
	cpu_fill(f.mm, addr, 4, 0);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_MIGRATE_TO_DEV, addr, mirror, 4, &c), 0);
	assert_int_equal(c.cpages, 4);
	assert_int_equal(uhmm_mm_fork(f.mm, &child), 0);
	cpu_fill(f.mm, addr, 4, 100);
	cpu_check(child, addr, 4, 0, 1);
	uhmm_mm_put(child);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_SNAPSHOT, addr, snap, 4, &c), 0);
	assert_int_equal(c.cpages, 4);
	for (i = 0; i < 4; i++)
		assert_int_equal(snap[i], UHMM_DMIRROR_PROT_WRITE);
	cpu_check(f.mm, addr, 4, 100, 1);
	free(mirror);
	fx_fini(&f);
}

/*
 * A WRITE to device-private pages that fork made read-only: instead of
 * Linux's -EFAULT the driver faults them back to RAM (breaking COW).
 */
static void test_write_readonly_device_page(void **state)
{
	struct fx f;
	struct uhmm_dmirror_cmd c;
	struct uhmm_mm *child;
	unsigned long addr;
	int *mirror = ibuf(64);

	fx_init(&f, 1, 0);
	addr = map(&f, 64, RW, PRIV);
	cpu_fill(f.mm, addr, 64, 0);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_MIGRATE_TO_DEV, addr, mirror, 64, &c), 0);
	assert_int_equal(uhmm_mm_fork(f.mm, &child), 0);
	ifill(mirror, 64, 9, -1);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_WRITE, addr, mirror, 64, &c), 0);
	assert_int_equal(c.cpages, 64);
	cpu_check(f.mm, addr, 64, 9, -1);
	cpu_check(child, addr, 64, 0, 1);
	uhmm_mm_put(child);
	free(mirror);
	fx_fini(&f);
}

/* Validation before dispatch, as Linux's dmirror_fops_unlocked_ioctl. */
static void test_bad_input(void **state)
{
	static const struct {
		unsigned int req;
		unsigned long addr_off;	/* added to a valid page-aligned address (ULONG_MAX: absolute) */
		unsigned long abs_addr;
		unsigned long npages;
		int want;
	} cases[] = {
		{ UHMM_DMIRROR_READ, 1, 0, 1, -EINVAL },		/* misaligned */
		{ UHMM_DMIRROR_READ, PS / 2, 0, 1, -EINVAL },
		{ UHMM_DMIRROR_READ, 0, 0, 0, -EINVAL },		/* npages 0 */
		{ UHMM_DMIRROR_WRITE, 0, 0, 0, -EINVAL },
		{ UHMM_DMIRROR_MIGRATE_TO_DEV, 0, 0, 0, -EINVAL },
		{ UHMM_DMIRROR_FLAGS, 0, 0, 0, -EINVAL },
		{ UHMM_DMIRROR_READ, ULONG_MAX, ULONG_MAX & UHMM_PAGE_MASK, 1, -EINVAL },	/* wraps to 0 */
		{ UHMM_DMIRROR_READ, ULONG_MAX, PS, ULONG_MAX / PS, -EINVAL },	/* overflow */
		{ UHMM_DMIRROR_SNAPSHOT, ULONG_MAX, PS, 1UL << 52, -EINVAL },	/* npages << 12 wraps */
		{ 0x09, 0, 0, 1, -EINVAL },				/* unknown requests */
		{ 0x100, 0, 0, 1, -EINVAL },
		{ ~0u, 0, 0, 1, -EINVAL },
		{ UHMM_DMIRROR_READ, 64 * PS, 0, 1, -EFAULT },		/* nothing mapped there */
		{ UHMM_DMIRROR_WRITE, 64 * PS, 0, 1, -EFAULT },
		{ UHMM_DMIRROR_MIGRATE_TO_DEV, 64 * PS, 0, 1, -EINVAL },
		{ UHMM_DMIRROR_MIGRATE_TO_SYS, 64 * PS, 0, 1, -EINVAL },
		{ UHMM_DMIRROR_MIGRATE_TO_DEV, 60 * PS, 0, 8, -EINVAL },	/* runs off the VMA */
		{ UHMM_DMIRROR_EXCLUSIVE, 64 * PS, 0, 1, -EFAULT },
	};
	struct fx f;
	struct uhmm_dmirror_cmd c;
	unsigned long addr;
	size_t i;
	int *mirror = ibuf(8);

	fx_init(&f, 1, 0);
	/* 64 pages mapped, the next 64 guaranteed free */
	addr = map(&f, 128, RW, PRIV);
	assert_int_equal(uhmm_munmap(f.mm, addr + 64 * PS, 64 * PS), 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned long a = cases[i].addr_off == ULONG_MAX ? cases[i].abs_addr : addr + cases[i].addr_off;
		int r = dmcmd(f.dm[0], cases[i].req, a, mirror, cases[i].npages, &c);

		if (r != cases[i].want)
			fail_msg("case %zu: request %#x addr %#lx npages %lu: %d, want %d", i, cases[i].req, a,
				 cases[i].npages, r, cases[i].want);
		/* on error the caller's block is untouched */
		assert_int_equal(c.cpages, SENTINEL);
		assert_int_equal(c.faults, SENTINEL);
	}
	assert_int_equal(uhmm_dmirror_ioctl(NULL, UHMM_DMIRROR_READ, &c), -EINVAL);
	assert_int_equal(uhmm_dmirror_ioctl(f.dm[0], UHMM_DMIRROR_READ, NULL), -EINVAL);
	/* a NULL buffer is a bad user pointer */
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_READ, addr, NULL, 1, &c), -EFAULT);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_SNAPSHOT, addr, NULL, 1, &c), -EFAULT);
	/* commands that need no buffer */
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_CHECK_EXCLUSIVE, addr, NULL, 1, &c), 0);
	assert_int_equal(c.cpages, 0);
	assert_int_equal(c.faults, 0);
	/* the "runs off the VMA" case migrated pages 60-63 before failing */
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_MIGRATE_TO_SYS, addr, NULL, 64, &c), 0);
	assert_int_equal(c.cpages, 4);
	free(mirror);
	fx_fini(&f);
}

/* Device memory runs out: the rest stays in RAM and the read-back says -ENOENT. */
static void test_devmem_exhausted(void **state)
{
	struct uhmm_dmirror_device_opts o = { .memory_bytes = 64 * PS, .chunk_bytes = 16 * PS };
	struct uhmm_dmirror_device_stats ds;
	struct fx f;
	struct uhmm_dmirror_cmd c;
	unsigned long addr;
	int *mirror = ibuf(128);

	fx_init_opts(&f, 1, &o);
	addr = map(&f, 128, RW, PRIV);
	cpu_fill(f.mm, addr, 128, 0);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_MIGRATE_TO_DEV, addr, mirror, 128, &c), -ENOENT);
	ds = dstats(f.dev[0]);
	assert_int_equal(ds.chunks, 4);
	assert_int_equal(ds.pages_total, 64);
	assert_int_equal(ds.devmem_pages_in_use, 64);
	assert_int_equal(ds.alloc_failures, 64);
	expect_kind(f.mm, addr, 64, UHMM_PTE_DEVICE_PRIVATE);
	expect_kind(f.mm, addr + 64 * PS, 64, UHMM_PTE_PRESENT);
	/* the first 64 fit exactly */
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_MIGRATE_TO_DEV, addr, mirror, 64, &c), 0);
	icheck(mirror, 64, 0, 1);
	cpu_check(f.mm, addr, 128, 0, 1);
	/* all back in RAM: the memory is free for the second half */
	assert_int_equal(dstats(f.dev[0]).devmem_pages_in_use, 0);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_MIGRATE_TO_DEV, addr + 64 * PS, mirror, 64, &c), 0);
	icheck(mirror, 64, 64 * INTS_PER_PAGE, 1);
	assert_int_equal(dstats(f.dev[0]).chunks, 4);
	free(mirror);
	fx_fini(&f);
}

/* FLAGS(FAIL_ALLOC): exactly one allocation fails. */
static void test_flags_fail_alloc(void **state)
{
	struct fx f;
	struct uhmm_dmirror_cmd c;
	unsigned long addr;
	int *mirror = ibuf(64);

	fx_init(&f, 1, 0);
	addr = map(&f, 64, RW, PRIV);
	cpu_fill(f.mm, addr, 64, 0);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_FLAGS, 0, NULL, UHMM_DMIRROR_FLAG_FAIL_ALLOC, &c), 0);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_MIGRATE_TO_DEV, addr, mirror, 64, &c), -ENOENT);
	assert_int_equal(pte_kind(f.mm, addr), UHMM_PTE_PRESENT);
	assert_int_equal(stats(f.dm[0]).pages_to_dev, 63);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_MIGRATE_TO_DEV, addr, mirror, 64, &c), 0);
	icheck(mirror, 64, 0, 1);
	/* and on the way back */
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_FLAGS, 0, NULL, UHMM_DMIRROR_FLAG_FAIL_ALLOC, &c), 0);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_MIGRATE_TO_SYS, addr, NULL, 64, &c), 0);
	assert_int_equal(c.cpages, 63);
	assert_int_equal(pte_kind(f.mm, addr), UHMM_PTE_DEVICE_PRIVATE);
	cpu_check(f.mm, addr, 64, 0, 1);
	free(mirror);
	fx_fini(&f);
}

/* Closing the file leaves pages on the device; the CPU still gets them back intact. */
static void test_close_keeps_data(void **state)
{
	struct fx f;
	struct uhmm_dmirror_cmd c;
	unsigned long addr;
	int *mirror = ibuf(NPAGES);

	fx_init(&f, 1, 0);
	addr = map(&f, NPAGES, RW, PRIV);
	cpu_fill(f.mm, addr, NPAGES, 21);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_MIGRATE_TO_DEV, addr, mirror, NPAGES, &c), 0);
	uhmm_dmirror_close(f.dm[0]);
	f.ndev = 0;	/* the device is destroyed by hand below */
	assert_int_equal(dstats(f.dev[0]).devmem_pages_in_use, NPAGES);
	cpu_check(f.mm, addr, NPAGES / 2, 21, 1);
	assert_int_equal(dstats(f.dev[0]).devmem_pages_in_use, NPAGES / 2);
	/* destroying the device evicts the other half: still intact */
	uhmm_dmirror_device_destroy(f.dev[0]);
	expect_kind(f.mm, addr, NPAGES, UHMM_PTE_PRESENT);
	cpu_check(f.mm, addr, NPAGES, 21, 1);
	free(mirror);
	fx_fini(&f);
}

/* Device destroyed while files are open and pages are on it: closed, evicted, no loss. */
static void test_destroy_with_open_file(void **state)
{
	struct fx f;
	struct uhmm_dmirror_cmd c;
	unsigned long addr;
	int *mirror = ibuf(64);

	fx_init(&f, 1, UHMM_MEMORY_DEVICE_COHERENT);
	addr = map(&f, 64, RW, PRIV);
	cpu_fill(f.mm, addr, 64, 2);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_MIGRATE_TO_DEV, addr, mirror, 64, &c), 0);
	uhmm_dmirror_device_destroy(f.dev[0]);
	f.ndev = 0;
	cpu_check(f.mm, addr, 64, 2, 1);
	expect_kind(f.mm, addr, 64, UHMM_PTE_PRESENT);
	free(mirror);
	fx_fini(&f);
}

/*
 * The address space exits while the file is open (the file does not pin it):
 * RELEASE then UNMAP reach the callback, device pages are freed with the
 * mappings, and commands fail as on an empty address space.
 */
static void test_exit_with_open_file(void **state)
{
	struct uhmm_dmirror_stats st0, st1;
	struct uhmm_dmirror *late;
	struct fx f;
	struct uhmm_dmirror_cmd c;
	unsigned char snap[4];
	unsigned long addr;
	int *mirror = ibuf(128);

	fx_init(&f, 1, 0);
	addr = map(&f, 128, RW, PRIV);
	cpu_fill(f.mm, addr, 128, 0);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_READ, addr, mirror, 64, &c), 0);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_MIGRATE_TO_DEV, addr + 64 * PS, mirror, 64, &c), 0);
	assert_int_equal(stats(f.dm[0]).devmem_pages_in_use, 64);
	st0 = stats(f.dm[0]);
	uhmm_mm_put(f.mm);	/* exit */
	st1 = stats(f.dm[0]);
	assert_int_equal(st1.invalidations - st0.invalidations, 2);	/* RELEASE, UNMAP */
	assert_int_equal(st1.ptes_zapped - st0.ptes_zapped, 128);	/* all by RELEASE */
	assert_int_equal(st1.devmem_pages_in_use, 0);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_READ, addr, mirror, 1, &c), -EFAULT);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_WRITE, addr, mirror, 1, &c), -EFAULT);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_MIGRATE_TO_DEV, addr, mirror, 1, &c), -EINVAL);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_MIGRATE_TO_SYS, addr, mirror, 1, &c), -EINVAL);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_EXCLUSIVE, addr, mirror, 1, &c), -EFAULT);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_SNAPSHOT, addr, snap, 4, &c), -EINVAL);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_CHECK_EXCLUSIVE, addr, NULL, 4, &c), 0);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_RELEASE, addr, NULL, 1, &c), 0);
	assert_int_equal(uhmm_dmirror_open(f.dev[0], f.mm, &late), -EINVAL);
	uhmm_dmirror_close(f.dm[0]);	/* valid after exit; frees the mm structure */
	f.ndev = 0;
	f.mm = NULL;
	uhmm_dmirror_device_destroy(f.dev[0]);
	free(mirror);
	fx_fini(&f);
}

/* Statistics of the callback: counts, zaps (exact), and the simulated TLB flush. */
static void test_invalidation_stats(void **state)
{
	struct uhmm_dmirror_device_opts o = { .tlb_flush_ns = 2000000 };	/* 2 ms */
	struct uhmm_dmirror_stats st0, st1;
	struct timespec t0, t1;
	struct fx f;
	struct uhmm_dmirror_cmd c;
	unsigned long addr;
	int *mirror = ibuf(64);
	long ns;

	fx_init_opts(&f, 1, &o);
	addr = map(&f, 64, RW, PRIV);
	cpu_fill(f.mm, addr, 64, 0);
	assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_READ, addr, mirror, 64, &c), 0);
	st0 = stats(f.dm[0]);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(uhmm_munmap(f.mm, addr + 16 * PS, 16 * PS), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	st1 = stats(f.dm[0]);
	assert_int_equal(st1.invalidations - st0.invalidations, 1);
	assert_int_equal(st1.ptes_zapped - st0.ptes_zapped, 16);
	ns = (t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec);
	assert_true(ns >= 2000000);
	/* a callback that zaps nothing costs no flush, but still counts */
	assert_int_equal(uhmm_munmap(f.mm, addr + 16 * PS, 16 * PS), 0);
	assert_int_equal(stats(f.dm[0]).ptes_zapped, st1.ptes_zapped);
	/* mprotect: PROTECTION_VMA zaps the rest */
	assert_int_equal(uhmm_mprotect(f.mm, addr, 16 * PS, PROT_READ), 0);
	assert_int_equal(stats(f.dm[0]).ptes_zapped, st1.ptes_zapped + 16);
	free(mirror);
	fx_fini(&f);
}

/* ---------------------------------------------------------------- races */

struct unmapper {
	struct uhmm_mm *mm;
	unsigned long addr, len;
	unsigned delay_us;
	int ret;
};

static void *unmap_thread(void *arg)
{
	struct unmapper *u = arg;

	if (u->delay_us)
		usleep(u->delay_us);
	u->ret = uhmm_munmap(u->mm, u->addr, u->len);
	return NULL;
}

/* hmm-tests anon_teardown, plus the same race against MIGRATE_TO_DEV and MIGRATE_TO_SYS. */
static void teardown_race(unsigned int req)
{
	struct fx f;
	struct uhmm_dmirror_cmd c;
	int *mirror = ibuf(NPAGES);
	unsigned seed = (unsigned)time(NULL);
	int i, ok = 0;

	fx_init(&f, 1, 0);
	for (i = 0; i < 20; i++) {
		unsigned long addr = map(&f, NPAGES, RW, PRIV);
		struct unmapper u = { f.mm, addr + NPAGES / 2 * PS, NPAGES / 2 * PS, (unsigned)(rand_r(&seed) % 3000), -1 };
		pthread_t t;
		int r;

		cpu_fill(f.mm, addr, NPAGES, i);
		if (req == UHMM_DMIRROR_MIGRATE_TO_SYS)
			assert_int_equal(dmcmd(f.dm[0], UHMM_DMIRROR_MIGRATE_TO_DEV, addr, mirror, NPAGES, &c), 0);
		assert_int_equal(pthread_create(&t, NULL, unmap_thread, &u), 0);
		r = dmcmd(f.dm[0], req, addr, mirror, NPAGES, &c);
		if (r == 0) {
			ok++;
			assert_int_equal(c.cpages, NPAGES);
			if (req == UHMM_DMIRROR_READ)
				assert_int_equal(c.faults, 1);
			if (req != UHMM_DMIRROR_MIGRATE_TO_SYS)
				icheck(mirror, NPAGES, i, 1);
		} else {
			assert_true(r == -EFAULT || r == -EINVAL || r == -ENOENT || r == -EBUSY);
		}
		pthread_join(t, NULL);
		assert_int_equal(u.ret, 0);
		cpu_check(f.mm, addr, NPAGES / 2, i, 1);	/* the surviving half is intact */
		assert_int_equal(uhmm_munmap(f.mm, addr, NPAGES / 2 * PS), 0);
	}
	assert_int_equal(stats(f.dm[0]).devmem_pages_in_use, 0);
	print_message("%d of 20 commands completed before the unmap\n", ok);
	free(mirror);
	fx_fini(&f);
}

static void test_anon_teardown(void **state)
{
	teardown_race(UHMM_DMIRROR_READ);
}

static void test_migrate_teardown(void **state)
{
	teardown_race(UHMM_DMIRROR_MIGRATE_TO_DEV);
}

static void test_migrate_to_sys_teardown(void **state)
{
	teardown_race(UHMM_DMIRROR_MIGRATE_TO_SYS);
}

/*
 * Data integrity under concurrency: one thread migrates the range to the
 * device and back, one reads it with the CPU (faulting pages home), one
 * reads it through the device, one releases device memory now and then.
 * The contents never change, so every successful read must see them.
 */
#define STRESS_PAGES 256UL

struct stress {
	struct fx *f;
	struct uhmm_dmirror *dm[2];
	unsigned long addr;
	atomic_int stop;
	atomic_ulong errors;
	atomic_ulong migrations, enoent, dev_reads, cpu_reads, releases;
};

static void *stress_migrator(void *arg)
{
	struct stress *s = arg;
	int *mirror = ibuf(STRESS_PAGES);
	int i;

	for (i = 0; i < 40 && !s->stop; i++) {
		struct uhmm_dmirror_cmd c = { s->addr, mirror, STRESS_PAGES, 0, 0 };
		int r = uhmm_dmirror_ioctl(s->dm[0], UHMM_DMIRROR_MIGRATE_TO_DEV, &c);
		unsigned long k;

		/* -ENOENT: the CPU pulled a page back before the read-back */
		if (r && r != -ENOENT)
			atomic_fetch_add(&s->errors, 1);
		atomic_fetch_add(r ? &s->enoent : &s->migrations, 1);
		for (k = 0; r == 0 && k < STRESS_PAGES * INTS_PER_PAGE; k++)
			if (mirror[k] != (int)k)
				atomic_fetch_add(&s->errors, 1), k = STRESS_PAGES * INTS_PER_PAGE;
		c.cpages = 0;
		if (uhmm_dmirror_ioctl(s->dm[0], UHMM_DMIRROR_MIGRATE_TO_SYS, &c))
			atomic_fetch_add(&s->errors, 1);
	}
	free(mirror);
	return NULL;
}

static void *stress_cpu(void *arg)
{
	struct stress *s = arg;
	unsigned seed = 1;
	int v;

	while (!s->stop) {
		unsigned long k = rand_r(&seed) % (STRESS_PAGES * INTS_PER_PAGE);

		if (uhmm_cpu_read(s->f->mm, s->addr + k * sizeof(int), &v, sizeof(v)) || v != (int)k)
			atomic_fetch_add(&s->errors, 1);
		atomic_fetch_add(&s->cpu_reads, 1);
	}
	return NULL;
}

static void *stress_device_reader(void *arg)
{
	struct stress *s = arg;
	int *mirror = ibuf(STRESS_PAGES);

	while (!s->stop) {
		struct uhmm_dmirror_cmd c = { s->addr, mirror, STRESS_PAGES, 0, 0 };
		int r = uhmm_dmirror_ioctl(s->dm[1], UHMM_DMIRROR_READ, &c);
		unsigned long k;

		if (r == -EBUSY)
			continue;
		if (r) {
			atomic_fetch_add(&s->errors, 1);
			continue;
		}
		atomic_fetch_add(&s->dev_reads, 1);
		for (k = 0; k < STRESS_PAGES * INTS_PER_PAGE; k++)
			if (mirror[k] != (int)k) {
				atomic_fetch_add(&s->errors, 1);
				break;
			}
	}
	free(mirror);
	return NULL;
}

static void *stress_releaser(void *arg)
{
	struct stress *s = arg;

	while (!s->stop) {
		struct uhmm_dmirror_cmd c = { 0, NULL, 1, 0, 0 };

		usleep(2000);
		if (uhmm_dmirror_ioctl(s->dm[0], UHMM_DMIRROR_RELEASE, &c))
			atomic_fetch_add(&s->errors, 1);
		atomic_fetch_add(&s->releases, 1);
	}
	return NULL;
}

static void stress_run(bool sibling)
{
	struct fx f;
	struct stress s;
	struct uhmm_dmirror *sib = NULL;
	pthread_t t[4];
	int i;

	fx_init(&f, 1, 0);
	memset(&s, 0, sizeof(s));
	s.f = &f;
	s.addr = map(&f, STRESS_PAGES, RW, PRIV);
	cpu_fill(f.mm, s.addr, STRESS_PAGES, 0);
	s.dm[0] = f.dm[0];
	if (sibling) {
		/* a second file of the same device: skips the same MIGRATE events */
		assert_int_equal(uhmm_dmirror_open(f.dev[0], f.mm, &sib), 0);
		s.dm[1] = sib;
	} else {
		s.dm[1] = f.dm[0];
	}
	assert_int_equal(pthread_create(&t[0], NULL, stress_migrator, &s), 0);
	assert_int_equal(pthread_create(&t[1], NULL, stress_cpu, &s), 0);
	assert_int_equal(pthread_create(&t[2], NULL, stress_device_reader, &s), 0);
	assert_int_equal(pthread_create(&t[3], NULL, stress_releaser, &s), 0);
	pthread_join(t[0], NULL);
	s.stop = 1;
	for (i = 1; i < 4; i++)
		pthread_join(t[i], NULL);
	print_message("migrations %lu (-ENOENT %lu), device reads %lu, cpu reads %lu, releases %lu\n",
		      atomic_load(&s.migrations), atomic_load(&s.enoent), atomic_load(&s.dev_reads),
		      atomic_load(&s.cpu_reads), atomic_load(&s.releases));
	assert_int_equal(atomic_load(&s.errors), 0);
	cpu_check(f.mm, s.addr, STRESS_PAGES, 0, 1);
	if (sib)
		uhmm_dmirror_close(sib);
	fx_fini(&f);
}

static void test_stress_integrity(void **state)
{
	stress_run(false);
}

static void test_stress_integrity_sibling(void **state)
{
	stress_run(true);
}

/* ----------------------------------------------------------------- main */

static const struct CMUnitTest all_tests[] = {
	cmocka_unit_test(test_open_close),
	cmocka_unit_test(test_device_create_invalid),
	cmocka_unit_test(test_anon_read),
	cmocka_unit_test(test_anon_read_prot),
	cmocka_unit_test(test_steady_state_no_alloc),
	cmocka_unit_test(test_read_fails_untouched),
	cmocka_unit_test(test_cost_model),
	cmocka_unit_test(test_cost_default),
	cmocka_unit_test(test_policy_own_migrate),
	cmocka_unit_test(test_policy_none),
	cmocka_unit_test(test_policy_populating),
	cmocka_unit_test(test_policy_thread),
	cmocka_unit_test(test_filter_exclusive),
	cmocka_unit_test(test_no_filter_exclusive),
	cmocka_unit_test(test_anon_write),
	cmocka_unit_test(test_anon_write_prot),
	cmocka_unit_test(test_anon_write_child),
	cmocka_unit_test(test_anon_write_child_shared),
	cmocka_unit_test(test_anon_read_multiple),
	cmocka_unit_test(test_migrate),
	cmocka_unit_test(test_migrate_coherent),
	cmocka_unit_test(test_migrate_to_sys),
	cmocka_unit_test(test_migrate_to_sys_coherent),
	cmocka_unit_test(test_migrate_fault),
	cmocka_unit_test(test_migrate_release),
	cmocka_unit_test(test_migrate_shared),
	cmocka_unit_test(test_migrate_mixed),
	cmocka_unit_test(test_migrate_multiple),
	cmocka_unit_test(test_migrate_multiple_coherent),
	cmocka_unit_test(test_snapshot),
	cmocka_unit_test(test_snapshot_coherent),
	cmocka_unit_test(test_double_map),
	cmocka_unit_test(test_sibling_files),
	cmocka_unit_test(test_exclusive),
	cmocka_unit_test(test_exclusive_mprotect),
	cmocka_unit_test(test_exclusive_cow),
	cmocka_unit_test(test_cow_in_device),
	cmocka_unit_test(test_write_readonly_device_page),
	cmocka_unit_test(test_bad_input),
	cmocka_unit_test(test_devmem_exhausted),
	cmocka_unit_test(test_flags_fail_alloc),
	cmocka_unit_test(test_close_keeps_data),
	cmocka_unit_test(test_destroy_with_open_file),
	cmocka_unit_test(test_exit_with_open_file),
	cmocka_unit_test(test_invalidation_stats),
	cmocka_unit_test(test_anon_teardown),
	cmocka_unit_test(test_migrate_teardown),
	cmocka_unit_test(test_migrate_to_sys_teardown),
	cmocka_unit_test(test_stress_integrity),
	cmocka_unit_test(test_stress_integrity_sibling),
};

#define NTESTS (sizeof(all_tests) / sizeof(all_tests[0]))

int main(int argc, char **argv)
{
	struct CMUnitTest selected[NTESTS];
	size_t i, n = 0;

	if (argc > 1 && strcmp(argv[1], "--list") == 0) {
		for (i = 0; i < NTESTS; i++)
			printf("%s\n", all_tests[i].name);
		return 0;
	}
	for (i = 0; i < NTESTS; i++)
		if (argc < 2 || strcmp(argv[1], all_tests[i].name) == 0)
			selected[n++] = all_tests[i];
	if (n == 0) {
		fprintf(stderr, "test_dmirror: no test case named '%s'\n", argv[1]);
		return 2;
	}
	/* Exact-name selection by filtering the array ourselves (cmocka's filter globs). */
	return _cmocka_run_group_tests("dmirror", selected, n, NULL, NULL);
}
