/* SPDX-License-Identifier: MIT */
/* tests/api/test_mm.c - the memory model through the public API: every VM call and fault path.
 *
 * Kernel analogue: the mmap/mprotect/mremap/madvise/fork/soft-dirty parts of
 * tools/testing/selftests/mm. Every case writes data and reads it back, checks
 * the page tables with uhmm_mm_query_pte, and ends with the leak invariant
 * (used_pages == 1, the zero page). Usage: test_mm [--list | CASE_NAME].
 */
#include "common/mm_helpers.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fixed addresses well inside the user range, far from where addr 0 lands. */
#define BASE 0x100000000UL
#define TASK_TOP (1UL << 47)

static unsigned long vma_count(struct uhmm_mm *mm) { return uhmm_mm_vma_count(mm); }

static void expect_vma(struct uhmm_mm *mm, unsigned long addr, unsigned long start, unsigned long end, int prot,
		       int flags)
{
	struct uhmm_vma_info vi;

	assert_true(mh_vma_at(mm, addr, &vi));
	assert_int_equal(vi.start, start);
	assert_int_equal(vi.end, end);
	assert_int_equal(vi.prot, prot);
	assert_int_equal(vi.flags, flags);
	assert_int_equal(vi.anonymous, flags == MAP_PRIVATE);
}

static void expect_unmapped(struct uhmm_mm *mm, unsigned long addr, size_t len)
{
	unsigned char buf[8] = { 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a };
	unsigned long a;

	for (a = addr; a < addr + len; a += PG) {
		struct uhmm_vma_info vi;

		assert_false(mh_vma_at(mm, a, &vi));
		mh_assert_ret(uhmm_cpu_read(mm, a, buf, sizeof(buf)), -EFAULT);
		assert_int_equal(mh_pte(mm, a).kind, UHMM_PTE_NONE);
	}
	assert_int_equal(buf[0], 0x5a);
}

/* ------------------------------------------------------------------ mmap */

static void test_mmap_private_rw(void **state)
{
	struct uhmm_system *sys = mh_system(0);
	struct uhmm_mm *mm = mh_mm(sys);
	unsigned long a = mh_mmap(mm, 0, 8 * PG, MH_RW, MH_PRIV);

	assert_int_equal(a & (PG - 1), 0);
	assert_true(a >= 0x10000 && a + 8 * PG <= TASK_TOP);
	expect_vma(mm, a, a, a + 8 * PG, MH_RW, MAP_PRIVATE);
	assert_int_equal(vma_count(mm), 1);
	assert_int_equal(mh_used_pages(sys), 1);	/* mmap allocates no frame */

	/* unaligned, spanning four pages */
	mh_write(mm, a + 100, 3 * PG, 1);
	mh_check(mm, a + 100, 3 * PG, 1);
	mh_check_zero(mm, a, 100);
	mh_check_zero(mm, a + 100 + 3 * PG, 4 * PG - 100);
	assert_int_equal(mh_used_pages(sys), 1 + 4);
	for (int i = 0; i < 4; i++) {
		struct uhmm_pte_info pi = mh_pte(mm, a + i * PG);

		assert_int_equal(pi.kind, UHMM_PTE_PRESENT);
		assert_true(pi.write && pi.dirty && pi.young);
		assert_int_equal(pi.refcount, 1);
		assert_int_equal(pi.mapcount, 1);
	}
	uhmm_mm_put(mm);
	mh_system_done(sys);
}

static void test_mmap_shared_rw(void **state)
{
	struct uhmm_system *sys = mh_system(0);
	struct uhmm_mm *mm = mh_mm(sys);
	unsigned long a = mh_mmap(mm, 0, 4 * PG, MH_RW, MH_SHARED);
	struct uhmm_pte_info pi;
	unsigned long pfn;

	expect_vma(mm, a, a, a + 4 * PG, MH_RW, MAP_SHARED);

	/* A read fault on shmem allocates the object's page and maps it read-only. */
	mh_check_zero(mm, a, PG);
	pi = mh_pte(mm, a);
	assert_int_equal(pi.kind, UHMM_PTE_PRESENT);
	assert_false(pi.write);
	/* the object's reference and the mapping's */
	assert_int_equal(pi.refcount, 2);
	assert_int_equal(pi.mapcount, 1);
	pfn = pi.pfn;
	assert_int_equal(mh_used_pages(sys), 2);

	/* The first write makes it writable in place: no copy for a shared page. */
	mh_write(mm, a, 4 * PG, 3);
	mh_check(mm, a, 4 * PG, 3);
	pi = mh_pte(mm, a);
	assert_true(pi.write && pi.dirty);
	assert_int_equal(pi.pfn, pfn);
	assert_int_equal(mh_used_pages(sys), 1 + 4);

	uhmm_mm_put(mm);
	mh_system_done(sys);
}

static void test_mmap_fixed_replaces(void **state)
{
	struct uhmm_system *sys = mh_system(0);
	struct uhmm_mm *mm = mh_mm(sys);
	unsigned long out = 0;

	assert_int_equal(mh_mmap(mm, BASE, 8 * PG, MH_RW, MH_PRIV | MAP_FIXED), BASE);
	mh_write(mm, BASE, 8 * PG, 1);
	assert_int_equal(mh_used_pages(sys), 1 + 8);

	/* Same kind of mapping over the middle: old pages gone, and the result
	 * merges back into one VMA as in Linux. */
	mh_assert_ret(uhmm_mmap(mm, BASE + 2 * PG, 3 * PG, MH_RW, MH_PRIV | MAP_FIXED, &out), 0);
	assert_int_equal(out, BASE + 2 * PG);
	for (int i = 2; i < 5; i++)
		assert_int_equal(mh_pte(mm, BASE + i * PG).kind, UHMM_PTE_NONE);
	assert_int_equal(mh_used_pages(sys), 1 + 5);
	mh_check(mm, BASE, 2 * PG, 1);
	mh_check_zero(mm, BASE + 2 * PG, 3 * PG);
	mh_check(mm, BASE + 5 * PG, 3 * PG, 1);
	assert_int_equal(vma_count(mm), 1);
	expect_vma(mm, BASE, BASE, BASE + 8 * PG, MH_RW, MAP_PRIVATE);

	/* A different kind over one page: three VMAs. */
	mh_assert_ret(uhmm_mmap(mm, BASE + 6 * PG, PG, MH_RW, MH_SHARED | MAP_FIXED, &out), 0);
	assert_int_equal(vma_count(mm), 3);
	expect_vma(mm, BASE, BASE, BASE + 6 * PG, MH_RW, MAP_PRIVATE);
	expect_vma(mm, BASE + 6 * PG, BASE + 6 * PG, BASE + 7 * PG, MH_RW, MAP_SHARED);
	expect_vma(mm, BASE + 7 * PG, BASE + 7 * PG, BASE + 8 * PG, MH_RW, MAP_PRIVATE);
	mh_check_zero(mm, BASE + 6 * PG, PG);
	mh_check(mm, BASE + 5 * PG, PG, 1);
	mh_check(mm, BASE + 7 * PG, PG, 1);

	/* MAP_FIXED over a range spanning VMAs and a hole replaces all of it. */
	mh_assert_ret(uhmm_mmap(mm, BASE + 5 * PG, 6 * PG, PROT_READ, MH_PRIV | MAP_FIXED, &out), 0);
	assert_int_equal(vma_count(mm), 2);
	expect_vma(mm, BASE + 5 * PG, BASE + 5 * PG, BASE + 11 * PG, PROT_READ, MAP_PRIVATE);
	mh_check_zero(mm, BASE + 5 * PG, 6 * PG);
	mh_check(mm, BASE, 2 * PG, 1);
	assert_int_equal(mh_used_pages(sys), 1 + 2);

	uhmm_mm_put(mm);
	mh_system_done(sys);
}

static void test_mmap_fixed_noreplace(void **state)
{
	struct uhmm_system *sys = mh_system(0);
	struct uhmm_mm *mm = mh_mm(sys);
	unsigned long out = 0xdead;

	assert_int_equal(mh_mmap(mm, BASE, 4 * PG, MH_RW, MH_PRIV | MAP_FIXED_NOREPLACE), BASE);
	mh_write(mm, BASE, 4 * PG, 1);

	mh_assert_ret(uhmm_mmap(mm, BASE, 4 * PG, MH_RW, MH_PRIV | MAP_FIXED_NOREPLACE, &out), -EEXIST);
	mh_assert_ret(uhmm_mmap(mm, BASE + PG, PG, MH_RW, MH_SHARED | MAP_FIXED_NOREPLACE, &out), -EEXIST);
	/* overlapping only the first / last page */
	mh_assert_ret(uhmm_mmap(mm, BASE - 2 * PG, 3 * PG, MH_RW, MH_PRIV | MAP_FIXED_NOREPLACE, &out), -EEXIST);
	mh_assert_ret(uhmm_mmap(mm, BASE + 3 * PG, 3 * PG, MH_RW, MH_PRIV | MAP_FIXED_NOREPLACE, &out), -EEXIST);
	assert_int_equal(out, 0xdead);
	assert_int_equal(vma_count(mm), 1);
	mh_check(mm, BASE, 4 * PG, 1);

	/* Adjacent free ranges are fine, and merge like any mapping. */
	assert_int_equal(mh_mmap(mm, BASE + 4 * PG, 2 * PG, MH_RW, MH_PRIV | MAP_FIXED_NOREPLACE), BASE + 4 * PG);
	assert_int_equal(mh_mmap(mm, BASE - 2 * PG, 2 * PG, MH_RW, MH_PRIV | MAP_FIXED_NOREPLACE), BASE - 2 * PG);
	assert_int_equal(vma_count(mm), 1);
	expect_vma(mm, BASE, BASE - 2 * PG, BASE + 6 * PG, MH_RW, MAP_PRIVATE);
	mh_check(mm, BASE, 4 * PG, 1);
	mh_check_zero(mm, BASE - 2 * PG, 2 * PG);
	mh_check_zero(mm, BASE + 4 * PG, 2 * PG);

	uhmm_mm_put(mm);
	mh_system_done(sys);
}

static void test_mmap_hint(void **state)
{
	struct uhmm_system *sys = mh_system(0);
	struct uhmm_mm *mm = mh_mm(sys);
	unsigned long a, b, c, d, e;

	/* A free, aligned hint is honoured. */
	a = mh_mmap(mm, BASE, 4 * PG, MH_RW, MH_PRIV);
	assert_int_equal(a, BASE);
	/* An occupied hint is not: the mapping goes elsewhere, without overlap. */
	b = mh_mmap(mm, BASE + PG, 4 * PG, MH_RW, MH_PRIV);
	assert_true(b + 4 * PG <= BASE || b >= BASE + 4 * PG);
	/* A misaligned hint lands on a page boundary next to it (x86 rounds down). */
	c = mh_mmap(mm, 2 * BASE + 123, PG, MH_RW, MH_PRIV);
	assert_int_equal(c & (PG - 1), 0);
	assert_true(c == 2 * BASE || c == 2 * BASE + PG);
	/* No hint: anywhere free in the user range; two of them do not overlap. */
	d = mh_mmap(mm, 0, 16 * PG, MH_RW, MH_PRIV);
	e = mh_mmap(mm, 0, 16 * PG, MH_RW, MH_SHARED);
	assert_true(d >= 0x10000 && d + 16 * PG <= TASK_TOP);
	assert_true(e >= 0x10000 && e + 16 * PG <= TASK_TOP);
	assert_true(d + 16 * PG <= e || e + 16 * PG <= d);
	/* A hint beyond the user range is ignored. */
	mh_assert_ret(uhmm_mmap(mm, TASK_TOP - PG, 4 * PG, MH_RW, MH_PRIV, &c), 0);
	assert_true(c + 4 * PG <= TASK_TOP);

	/* Each is a real, separate mapping. */
	mh_write(mm, a, 4 * PG, 1);
	mh_write(mm, b, 4 * PG, 2);
	mh_write(mm, d, 16 * PG, 3);
	mh_write(mm, e, 16 * PG, 4);
	mh_check(mm, a, 4 * PG, 1);
	mh_check(mm, b, 4 * PG, 2);
	mh_check(mm, d, 16 * PG, 3);
	mh_check(mm, e, 16 * PG, 4);

	uhmm_mm_put(mm);
	mh_system_done(sys);
}

/* ---------------------------------------------------------------- munmap */

static void test_munmap_partial(void **state)
{
	struct uhmm_system *sys = mh_system(0);
	struct uhmm_mm *mm = mh_mm(sys);

	mh_mmap(mm, BASE, 8 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_write(mm, BASE, 8 * PG, 1);

	mh_assert_ret(uhmm_munmap(mm, BASE + 2 * PG, 2 * PG), 0);
	assert_int_equal(vma_count(mm), 2);
	expect_vma(mm, BASE, BASE, BASE + 2 * PG, MH_RW, MAP_PRIVATE);
	expect_vma(mm, BASE + 4 * PG, BASE + 4 * PG, BASE + 8 * PG, MH_RW, MAP_PRIVATE);
	expect_unmapped(mm, BASE + 2 * PG, 2 * PG);
	assert_int_equal(mh_used_pages(sys), 1 + 6);
	mh_check(mm, BASE, 2 * PG, 1);
	mh_check(mm, BASE + 4 * PG, 4 * PG, 1);

	/* head and tail pages; a length that is not a page multiple rounds up */
	mh_assert_ret(uhmm_munmap(mm, BASE, 1), 0);
	mh_assert_ret(uhmm_munmap(mm, BASE + 7 * PG, PG), 0);
	expect_unmapped(mm, BASE, PG);
	expect_unmapped(mm, BASE + 7 * PG, PG);
	assert_int_equal(vma_count(mm), 2);
	mh_check(mm, BASE + PG, PG, 1);
	mh_check(mm, BASE + 4 * PG, 3 * PG, 1);
	assert_int_equal(mh_used_pages(sys), 1 + 4);

	uhmm_mm_put(mm);
	mh_system_done(sys);
}

static void test_munmap_spanning(void **state)
{
	struct uhmm_system *sys = mh_system(0);
	struct uhmm_mm *mm = mh_mm(sys);

	mh_mmap(mm, BASE, 4 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_mmap(mm, BASE + 4 * PG, 4 * PG, MH_RW, MH_SHARED | MAP_FIXED);
	mh_mmap(mm, BASE + 8 * PG, 4 * PG, PROT_READ, MH_PRIV | MAP_FIXED);
	mh_mmap(mm, BASE + 14 * PG, 2 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	assert_int_equal(vma_count(mm), 4);
	mh_write(mm, BASE, 8 * PG, 1);
	mh_check_zero(mm, BASE + 8 * PG, 4 * PG);
	mh_write(mm, BASE + 14 * PG, 2 * PG, 2);
	assert_int_equal(mh_used_pages(sys), 1 + 10);

	/* [2, 15): the tail of one VMA, two whole ones, a hole, the head of the last */
	mh_assert_ret(uhmm_munmap(mm, BASE + 2 * PG, 13 * PG), 0);
	assert_int_equal(vma_count(mm), 2);
	expect_vma(mm, BASE, BASE, BASE + 2 * PG, MH_RW, MAP_PRIVATE);
	expect_vma(mm, BASE + 15 * PG, BASE + 15 * PG, BASE + 16 * PG, MH_RW, MAP_PRIVATE);
	expect_unmapped(mm, BASE + 2 * PG, 13 * PG);
	mh_check(mm, BASE, 2 * PG, 1);
	mh_check(mm, BASE + 15 * PG, PG, 2);
	/* the shmem object went with its last mapping */
	assert_int_equal(mh_used_pages(sys), 1 + 3);

	uhmm_mm_put(mm);
	mh_system_done(sys);
}

static void test_munmap_hole(void **state)
{
	struct uhmm_system *sys = mh_system(0);
	struct uhmm_mm *mm = mh_mm(sys);

	mh_mmap(mm, BASE, 2 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_mmap(mm, BASE + 6 * PG, 2 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_write(mm, BASE, 2 * PG, 1);
	mh_write(mm, BASE + 6 * PG, 2 * PG, 2);

	mh_assert_ret(uhmm_munmap(mm, BASE + 2 * PG, 4 * PG), 0);
	mh_assert_ret(uhmm_munmap(mm, 3 * BASE, 100 * PG), 0);
	assert_int_equal(vma_count(mm), 2);
	mh_check(mm, BASE, 2 * PG, 1);
	mh_check(mm, BASE + 6 * PG, 2 * PG, 2);
	assert_int_equal(mh_used_pages(sys), 1 + 4);

	uhmm_mm_put(mm);
	mh_system_done(sys);
}

/* -------------------------------------------------------------- mprotect */

static void test_mprotect_split_merge(void **state)
{
	struct uhmm_system *sys = mh_system(0);
	struct uhmm_mm *mm = mh_mm(sys);
	unsigned char buf[2 * PG];
	unsigned long pfn2;

	mh_mmap(mm, BASE, 6 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_write(mm, BASE, 6 * PG, 1);
	pfn2 = mh_pte(mm, BASE + 2 * PG).pfn;

	mh_assert_ret(uhmm_mprotect(mm, BASE + 2 * PG, 2 * PG, PROT_READ), 0);
	assert_int_equal(vma_count(mm), 3);
	expect_vma(mm, BASE, BASE, BASE + 2 * PG, MH_RW, MAP_PRIVATE);
	expect_vma(mm, BASE + 2 * PG, BASE + 2 * PG, BASE + 4 * PG, PROT_READ, MAP_PRIVATE);
	expect_vma(mm, BASE + 4 * PG, BASE + 4 * PG, BASE + 6 * PG, MH_RW, MAP_PRIVATE);
	for (int i = 0; i < 6; i++)
		assert_int_equal(mh_pte(mm, BASE + i * PG).write, i < 2 || i >= 4);

	/* A write touching the read-only part copies nothing, not even the writable bytes. */
	memset(buf, 0xee, sizeof(buf));
	mh_assert_ret(uhmm_cpu_write(mm, BASE + PG, buf, sizeof(buf)), -EFAULT);
	mh_assert_ret(uhmm_cpu_write(mm, BASE + 3 * PG + 10, buf, 2), -EFAULT);
	mh_assert_ret(uhmm_cpu_write(mm, BASE + 4 * PG - 1, buf, 2), -EFAULT);
	mh_check(mm, BASE, 6 * PG, 1);
	/* pin for write is refused the same way */
	{
		struct uhmm_page *pages[1] = { NULL };

		mh_assert_ret(uhmm_pin_user_pages(mm, BASE + 2 * PG, 1, true, pages), -EFAULT);
		assert_null(pages[0]);
	}

	/* Back to read-write: one VMA again, same frames, writable without a copy. */
	mh_assert_ret(uhmm_mprotect(mm, BASE + 2 * PG, 2 * PG, MH_RW), 0);
	assert_int_equal(vma_count(mm), 1);
	expect_vma(mm, BASE, BASE, BASE + 6 * PG, MH_RW, MAP_PRIVATE);
	mh_write(mm, BASE + 2 * PG, PG, 2);
	mh_check(mm, BASE + 2 * PG, PG, 2);
	assert_int_equal(mh_pte(mm, BASE + 2 * PG).pfn, pfn2);
	assert_int_equal(mh_used_pages(sys), 1 + 6);

	/* PROT_NONE: no access at all; restoring brings the data back. */
	mh_assert_ret(uhmm_mprotect(mm, BASE, 6 * PG, PROT_NONE), 0);
	assert_int_equal(vma_count(mm), 1);
	mh_assert_ret(uhmm_cpu_read(mm, BASE, buf, 1), -EFAULT);
	mh_assert_ret(uhmm_mprotect(mm, BASE, 6 * PG, MH_RW), 0);
	mh_check(mm, BASE, 2 * PG, 1);
	mh_check(mm, BASE + 2 * PG, PG, 2);
	mh_check(mm, BASE + 3 * PG, 3 * PG, 1);

	/* An untouched neighbour with another protection merges when it matches. */
	mh_mmap(mm, BASE + 6 * PG, 2 * PG, PROT_READ, MH_PRIV | MAP_FIXED);
	assert_int_equal(vma_count(mm), 2);
	mh_assert_ret(uhmm_mprotect(mm, BASE + 6 * PG, 2 * PG, MH_RW), 0);
	assert_int_equal(vma_count(mm), 1);
	expect_vma(mm, BASE, BASE, BASE + 8 * PG, MH_RW, MAP_PRIVATE);
	mh_write(mm, BASE + 6 * PG, 2 * PG, 3);
	mh_check(mm, BASE + 6 * PG, 2 * PG, 3);

	uhmm_mm_put(mm);
	mh_system_done(sys);
}

/* --------------------------------------------------------------- madvise */

static void test_madvise_dontneed_private(void **state)
{
	struct uhmm_system *sys = mh_system(0);
	struct uhmm_mm *mm = mh_mm(sys);

	mh_mmap(mm, BASE, 4 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_write(mm, BASE, 4 * PG, 1);
	assert_int_equal(mh_used_pages(sys), 1 + 4);

	/* hints change nothing */
	mh_assert_ret(uhmm_madvise(mm, BASE, 4 * PG, MADV_NORMAL), 0);
	mh_assert_ret(uhmm_madvise(mm, BASE, 4 * PG, MADV_WILLNEED), 0);
	mh_assert_ret(uhmm_madvise(mm, BASE, 4 * PG, MADV_SEQUENTIAL), 0);
	mh_check(mm, BASE, 4 * PG, 1);
	assert_int_equal(mh_used_pages(sys), 1 + 4);

	mh_assert_ret(uhmm_madvise(mm, BASE + PG, 2 * PG, MADV_DONTNEED), 0);
	assert_int_equal(mh_pte(mm, BASE + PG).kind, UHMM_PTE_NONE);
	assert_int_equal(mh_pte(mm, BASE + 2 * PG).kind, UHMM_PTE_NONE);
	assert_int_equal(mh_used_pages(sys), 1 + 2);
	assert_int_equal(vma_count(mm), 1);
	mh_check(mm, BASE, PG, 1);
	mh_check_zero(mm, BASE + PG, 2 * PG);
	mh_check(mm, BASE + 3 * PG, PG, 1);
	assert_int_equal(mh_pte(mm, BASE + PG).kind, UHMM_PTE_ZERO);
	/* and the memory is usable again */
	mh_write(mm, BASE + PG, PG, 2);
	mh_check(mm, BASE + PG, PG, 2);

	uhmm_mm_put(mm);
	mh_system_done(sys);
}

/*
 * MADV_FREE: one CLEAR over each VMA piece; pages mapped only here become
 * clean and old but keep their data (uhmm has no reclaim to discard them);
 * a page shared with a fork child is left dirty; a write dirties again;
 * shared memory is -EINVAL with nothing changed.
 */
static void test_madvise_free(void **state)
{
	struct uhmm_system *sys = mh_system(0);
	struct uhmm_mm *mm = mh_mm(sys), *child;
	struct mh_recorder rec;
	unsigned long sh;

	mh_mmap(mm, BASE, 4 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_write(mm, BASE, 4 * PG, 1);
	sh = mh_mmap(mm, 0, PG, MH_RW, MH_SHARED);
	mh_write(mm, sh, PG, 3);
	mh_rec_init(&rec);
	mh_rec_attach(&rec, mm);

	mh_assert_ret(uhmm_madvise(mm, BASE + PG, 2 * PG, MADV_FREE), 0);
	mh_rec_expect_count(&rec, MH_INTERVAL, 1);
	mh_rec_expect(&rec, MH_INTERVAL, 0, UHMM_MMU_NOTIFY_CLEAR, BASE + PG, BASE + 3 * PG);
	assert_false(mh_pte(mm, BASE + PG).dirty);
	assert_false(mh_pte(mm, BASE + PG).young);
	assert_false(mh_pte(mm, BASE + 2 * PG).dirty);
	assert_true(mh_pte(mm, BASE).dirty);
	assert_true(mh_pte(mm, BASE + 3 * PG).dirty);
	mh_check(mm, BASE, 4 * PG, 1);	/* nothing was discarded */
	assert_int_equal(mh_used_pages(sys), 1 + 4 + 1);
	mh_write(mm, BASE + PG, 8, 2);	/* a write cancels it for that page */
	assert_true(mh_pte(mm, BASE + PG).dirty);

	/* a page a fork child also maps is not this process's to free */
	child = mh_fork(mm);
	mh_assert_ret(uhmm_madvise(mm, BASE + 3 * PG, PG, MADV_FREE), 0);
	assert_true(mh_pte(mm, BASE + 3 * PG).dirty);
	uhmm_mm_put(child);

	/* shared memory: -EINVAL, no event */
	mh_rec_clear(&rec);
	mh_assert_ret(uhmm_madvise(mm, sh, PG, MADV_FREE), -EINVAL);
	mh_rec_expect_count(&rec, MH_INTERVAL, 0);
	assert_true(mh_pte(mm, sh).dirty);
	mh_check(mm, sh, PG, 3);
	mh_rec_detach(&rec);
	uhmm_mm_put(mm);
	mh_system_done(sys);
}

/* DONTNEED drops only this address space's view of COW-shared pages. */
static void test_madvise_dontneed_after_fork(void **state)
{
	struct uhmm_system *sys = mh_system(0);
	struct uhmm_mm *mm = mh_mm(sys), *child;

	mh_mmap(mm, BASE, 4 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_write(mm, BASE, 4 * PG, 1);
	child = mh_fork(mm);
	mh_assert_ret(uhmm_madvise(mm, BASE, 2 * PG, MADV_DONTNEED), 0);
	mh_check_zero(mm, BASE, 2 * PG);
	mh_check(child, BASE, 4 * PG, 1);
	/* the child is now the only user of those frames: it writes without copying */
	{
		unsigned long pfn = mh_pte(child, BASE).pfn;

		assert_int_equal(mh_pte(child, BASE).refcount, 1);
		mh_write(child, BASE, PG, 2);
		assert_int_equal(mh_pte(child, BASE).pfn, pfn);
	}
	mh_assert_ret(uhmm_madvise(child, BASE + 2 * PG, 2 * PG, MADV_DONTNEED), 0);
	mh_check(mm, BASE + 2 * PG, 2 * PG, 1);
	mh_check_zero(child, BASE + 2 * PG, 2 * PG);
	assert_int_equal(mh_used_pages(sys), 1 + 4);
	uhmm_mm_put(child);
	uhmm_mm_put(mm);
	mh_system_done(sys);
}

static void test_madvise_dontneed_shared(void **state)
{
	struct uhmm_system *sys = mh_system(0);
	struct uhmm_mm *mm = mh_mm(sys);
	unsigned long pfn;

	mh_mmap(mm, BASE, 4 * PG, MH_RW, MH_SHARED | MAP_FIXED);
	mh_write(mm, BASE, 4 * PG, 1);
	pfn = mh_pte(mm, BASE).pfn;

	mh_assert_ret(uhmm_madvise(mm, BASE, 4 * PG, MADV_DONTNEED), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(mh_pte(mm, BASE + i * PG).kind, UHMM_PTE_NONE);
	/* the shmem object keeps its pages, and a fault maps the same ones */
	assert_int_equal(mh_used_pages(sys), 1 + 4);
	mh_check(mm, BASE, 4 * PG, 1);
	assert_int_equal(mh_pte(mm, BASE).pfn, pfn);

	uhmm_mm_put(mm);
	mh_system_done(sys);
}

/* ---------------------------------------------------------------- mremap */

static void pfns_of(struct uhmm_mm *mm, unsigned long addr, int n, unsigned long *pfns)
{
	for (int i = 0; i < n; i++) {
		struct uhmm_pte_info pi = mh_pte(mm, addr + i * PG);

		assert_int_equal(pi.kind, UHMM_PTE_PRESENT);
		pfns[i] = pi.pfn;
	}
}

static void test_mremap_shrink(void **state)
{
	struct uhmm_system *sys = mh_system(0);
	struct uhmm_mm *mm = mh_mm(sys);
	unsigned long out = 0;

	mh_mmap(mm, BASE, 8 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_write(mm, BASE, 8 * PG, 1);

	mh_assert_ret(uhmm_mremap(mm, BASE, 8 * PG, 3 * PG, 0, 0, &out), 0);
	assert_int_equal(out, BASE);
	expect_vma(mm, BASE, BASE, BASE + 3 * PG, MH_RW, MAP_PRIVATE);
	expect_unmapped(mm, BASE + 3 * PG, 5 * PG);
	mh_check(mm, BASE, 3 * PG, 1);
	assert_int_equal(mh_used_pages(sys), 1 + 3);

	/* same size: nothing happens */
	mh_assert_ret(uhmm_mremap(mm, BASE, 3 * PG, 3 * PG, 0, 0, &out), 0);
	assert_int_equal(out, BASE);
	mh_check(mm, BASE, 3 * PG, 1);

	uhmm_mm_put(mm);
	mh_system_done(sys);
}

static void test_mremap_grow_in_place(void **state)
{
	struct uhmm_system *sys = mh_system(0);
	struct uhmm_mm *mm = mh_mm(sys);
	unsigned long out = 0, pfns[4], now[4];

	mh_mmap(mm, BASE, 4 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_write(mm, BASE, 4 * PG, 1);
	pfns_of(mm, BASE, 4, pfns);

	mh_assert_ret(uhmm_mremap(mm, BASE, 4 * PG, 8 * PG, 0, 0, &out), 0);
	assert_int_equal(out, BASE);
	assert_int_equal(vma_count(mm), 1);
	expect_vma(mm, BASE, BASE, BASE + 8 * PG, MH_RW, MAP_PRIVATE);
	pfns_of(mm, BASE, 4, now);
	assert_memory_equal(pfns, now, sizeof(pfns));
	mh_check(mm, BASE, 4 * PG, 1);
	mh_check_zero(mm, BASE + 4 * PG, 4 * PG);
	mh_write(mm, BASE + 4 * PG, 4 * PG, 2);
	mh_check(mm, BASE + 4 * PG, 4 * PG, 2);

	/* A shared mapping grows its object too. */
	mh_mmap(mm, BASE + 16 * PG, 2 * PG, MH_RW, MH_SHARED | MAP_FIXED);
	mh_write(mm, BASE + 16 * PG, 2 * PG, 3);
	mh_assert_ret(uhmm_mremap(mm, BASE + 16 * PG, 2 * PG, 5 * PG, MREMAP_MAYMOVE, 0, &out), 0);
	assert_int_equal(out, BASE + 16 * PG);
	expect_vma(mm, out, out, out + 5 * PG, MH_RW, MAP_SHARED);
	mh_check(mm, out, 2 * PG, 3);
	mh_check_zero(mm, out + 2 * PG, 3 * PG);
	mh_write(mm, out + 2 * PG, 3 * PG, 4);
	mh_check(mm, out + 2 * PG, 3 * PG, 4);

	uhmm_mm_put(mm);
	mh_system_done(sys);
}

static void test_mremap_move_maymove(void **state)
{
	struct uhmm_system *sys = mh_system(0);
	struct uhmm_mm *mm = mh_mm(sys);
	unsigned long out = 0, pfns[4], now[4], used;

	mh_mmap(mm, BASE, 4 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_mmap(mm, BASE + 4 * PG, PG, PROT_READ, MH_PRIV | MAP_FIXED);	/* blocks growth */
	mh_write(mm, BASE, 4 * PG, 1);
	pfns_of(mm, BASE, 4, pfns);
	used = mh_used_pages(sys);

	/* no room and not allowed to move */
	mh_assert_ret(uhmm_mremap(mm, BASE, 4 * PG, 8 * PG, 0, 0, &out), -ENOMEM);
	mh_check(mm, BASE, 4 * PG, 1);

	mh_assert_ret(uhmm_mremap(mm, BASE, 4 * PG, 8 * PG, MREMAP_MAYMOVE, 0, &out), 0);
	assert_true(out != BASE);
	assert_true(out + 8 * PG <= BASE || out >= BASE + 5 * PG);
	expect_vma(mm, out, out, out + 8 * PG, MH_RW, MAP_PRIVATE);
	expect_unmapped(mm, BASE, 4 * PG);
	/* the pages moved, not copied */
	pfns_of(mm, out, 4, now);
	assert_memory_equal(pfns, now, sizeof(pfns));
	assert_int_equal(mh_used_pages(sys), used);
	mh_check_at(mm, out, BASE, 4 * PG, 1);
	mh_check_zero(mm, out + 4 * PG, 4 * PG);
	/* still a private, writable, exclusively owned mapping: writes do not copy */
	mh_write(mm, out, PG, 2);
	assert_int_equal(mh_pte(mm, out).pfn, pfns[0]);
	assert_int_equal(vma_count(mm), 2);

	/* A shared mapping keeps sharing its object with a fork child when it moves. */
	{
		unsigned long s = mh_mmap(mm, BASE + 32 * PG, 2 * PG, MH_RW, MH_SHARED | MAP_FIXED), s2;
		struct uhmm_mm *child;

		mh_mmap(mm, s + 2 * PG, PG, PROT_READ, MH_PRIV | MAP_FIXED);
		mh_write(mm, s, 2 * PG, 5);
		child = mh_fork(mm);
		mh_assert_ret(uhmm_mremap(mm, s, 2 * PG, 4 * PG, MREMAP_MAYMOVE, 0, &s2), 0);
		assert_true(s2 != s);
		mh_write(child, s, PG, 6);
		mh_check_at(mm, s2, s, PG, 6);
		mh_write(mm, s2 + PG, PG, 7);
		mh_check_at(child, s + PG, s2 + PG, PG, 7);
		uhmm_mm_put(child);
	}

	uhmm_mm_put(mm);
	mh_system_done(sys);
}

static void test_mremap_fixed(void **state)
{
	struct uhmm_system *sys = mh_system(0);
	struct uhmm_mm *mm = mh_mm(sys);
	unsigned long out = 0, dst = BASE + 64 * PG;

	mh_mmap(mm, BASE, 4 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_write(mm, BASE, 4 * PG, 1);
	/* something already at the destination: MREMAP_FIXED replaces it */
	mh_mmap(mm, dst + PG, 2 * PG, MH_RW, MH_SHARED | MAP_FIXED);
	mh_write(mm, dst + PG, 2 * PG, 9);
	assert_int_equal(mh_used_pages(sys), 1 + 6);

	mh_assert_ret(uhmm_mremap(mm, BASE, 4 * PG, 4 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, dst, &out), 0);
	assert_int_equal(out, dst);
	assert_int_equal(vma_count(mm), 1);
	expect_vma(mm, dst, dst, dst + 4 * PG, MH_RW, MAP_PRIVATE);
	expect_unmapped(mm, BASE, 4 * PG);
	mh_check_at(mm, dst, BASE, 4 * PG, 1);
	assert_int_equal(mh_used_pages(sys), 1 + 4);

	/* Move and shrink: only the head goes, the rest is unmapped. */
	mh_assert_ret(uhmm_mremap(mm, dst, 4 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, BASE, &out), 0);
	assert_int_equal(out, BASE);
	expect_vma(mm, BASE, BASE, BASE + 2 * PG, MH_RW, MAP_PRIVATE);
	expect_unmapped(mm, dst, 4 * PG);
	mh_check_at(mm, BASE, BASE, 2 * PG, 1);
	assert_int_equal(mh_used_pages(sys), 1 + 2);

	/* Move and grow, from the middle of a VMA (split on both sides). */
	mh_mmap(mm, BASE + 2 * PG, 4 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_write(mm, BASE + 2 * PG, 4 * PG, 2);
	assert_int_equal(vma_count(mm), 1);
	mh_assert_ret(uhmm_mremap(mm, BASE + 2 * PG, 2 * PG, 3 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, dst, &out), 0);
	assert_int_equal(vma_count(mm), 3);
	mh_check(mm, BASE, 2 * PG, 1);
	expect_unmapped(mm, BASE + 2 * PG, 2 * PG);
	mh_check(mm, BASE + 4 * PG, 2 * PG, 2);
	mh_check_at(mm, dst, BASE + 2 * PG, 2 * PG, 2);
	mh_check_zero(mm, dst + 2 * PG, PG);

	/* Source and destination inside one VMA: the destination's pages go,
	 * the source's take their place, the rest stays. */
	mh_assert_ret(uhmm_munmap(mm, BASE, 128 * PG), 0);
	mh_mmap(mm, BASE, 16 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_write(mm, BASE, 16 * PG, 3);
	mh_assert_ret(uhmm_mremap(mm, BASE, 4 * PG, 4 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, BASE + 8 * PG, &out), 0);
	assert_int_equal(out, BASE + 8 * PG);
	expect_unmapped(mm, BASE, 4 * PG);
	mh_check(mm, BASE + 4 * PG, 4 * PG, 3);
	mh_check_at(mm, BASE + 8 * PG, BASE, 4 * PG, 3);
	mh_check(mm, BASE + 12 * PG, 4 * PG, 3);
	assert_int_equal(mh_used_pages(sys), 1 + 12);

	uhmm_mm_put(mm);
	mh_system_done(sys);
}

/*
 * Moves between two leaf page tables, one way then back: the two page-table
 * locks must be taken in one order whatever the direction (TSan checks).
 */
static void test_mremap_across_page_tables(void **state)
{
	struct uhmm_system *sys = mh_system(0);
	struct uhmm_mm *mm = mh_mm(sys);
	unsigned long lo = BASE + 4 * PG, hi = BASE + (2UL << 20) + 8 * PG, out = 0;

	mh_mmap(mm, lo, 4 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_write(mm, lo, 4 * PG, 1);
	for (int round = 0; round < 3; round++) {
		mh_assert_ret(uhmm_mremap(mm, lo, 4 * PG, 4 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, hi, &out), 0);
		expect_unmapped(mm, lo, 4 * PG);
		mh_check_at(mm, hi, lo, 4 * PG, 1);
		mh_assert_ret(uhmm_mremap(mm, hi, 4 * PG, 4 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, lo, &out), 0);
		expect_unmapped(mm, hi, 4 * PG);
		mh_check(mm, lo, 4 * PG, 1);
	}
	/* straddling the boundary in both ranges */
	mh_assert_ret(uhmm_mremap(mm, lo, 4 * PG, 4 * PG, MREMAP_MAYMOVE | MREMAP_FIXED,
				  BASE + (2UL << 20) - 2 * PG, &out), 0);
	mh_check_at(mm, out, lo, 4 * PG, 1);
	mh_assert_ret(uhmm_mremap(mm, out, 4 * PG, 4 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, BASE - 2 * PG, &out), 0);
	mh_check_at(mm, BASE - 2 * PG, lo, 4 * PG, 1);
	assert_int_equal(mh_used_pages(sys), 1 + 4);
	uhmm_mm_put(mm);
	mh_system_done(sys);
}

/* ---------------------------------------------------------------- faults */

static void test_read_untouched_zero_page(void **state)
{
	struct uhmm_system *sys = mh_system(0);
	struct uhmm_mm *mm = mh_mm(sys);
	unsigned long a = mh_mmap(mm, 0, 4 * PG, MH_RW, MH_PRIV), counts[6];
	struct uhmm_pte_info pi;

	assert_int_equal(mh_pte(mm, a).kind, UHMM_PTE_NONE);
	mh_check_zero(mm, a, 4 * PG);
	for (int i = 0; i < 4; i++) {
		pi = mh_pte(mm, a + i * PG);
		assert_int_equal(pi.kind, UHMM_PTE_ZERO);
		assert_false(pi.write);
		assert_false(pi.dirty);
	}
	/* every page maps the one zero page, and no frame was allocated */
	assert_int_equal(mh_pte(mm, a + PG).pfn, pi.pfn);
	assert_int_equal(mh_used_pages(sys), 1);
	mh_assert_ret(uhmm_mm_count_ptes(mm, a, a + 4 * PG, counts), 0);
	assert_int_equal(counts[UHMM_PTE_ZERO], 4);
	assert_int_equal(counts[UHMM_PTE_PRESENT], 0);

	/* A write over the zero page gets a private zeroed copy. */
	mh_write(mm, a + PG + 8, 8, 1);
	pi = mh_pte(mm, a + PG);
	assert_int_equal(pi.kind, UHMM_PTE_PRESENT);
	assert_true(pi.write);
	assert_int_equal(pi.refcount, 1);
	assert_int_equal(pi.mapcount, 1);
	mh_check_zero(mm, a + PG, 8);
	mh_check(mm, a + PG + 8, 8, 1);
	mh_check_zero(mm, a + PG + 16, PG - 16);
	assert_int_equal(mh_pte(mm, a).kind, UHMM_PTE_ZERO);
	assert_int_equal(mh_used_pages(sys), 2);
	mh_assert_ret(uhmm_mm_count_ptes(mm, a, a + 4 * PG, counts), 0);
	assert_int_equal(counts[UHMM_PTE_ZERO], 3);
	assert_int_equal(counts[UHMM_PTE_PRESENT], 1);

	uhmm_mm_put(mm);
	mh_system_done(sys);
}

static void test_first_write_allocates(void **state)
{
	struct uhmm_system *sys = mh_system(0);
	struct uhmm_mm *mm = mh_mm(sys);
	unsigned long a = mh_mmap(mm, 0, 4 * PG, MH_RW, MH_PRIV);
	struct uhmm_pte_info pi;
	unsigned char one = 0x42, got = 0;

	mh_assert_ret(uhmm_cpu_write(mm, a + 2 * PG + 7, &one, 1), 0);
	pi = mh_pte(mm, a + 2 * PG);
	assert_int_equal(pi.kind, UHMM_PTE_PRESENT);
	assert_true(pi.write && pi.dirty && pi.young);
	assert_int_equal(pi.refcount, 1);
	assert_int_equal(pi.mapcount, 1);
	assert_int_equal(mh_used_pages(sys), 2);
	/* the neighbours are untouched */
	assert_int_equal(mh_pte(mm, a + PG).kind, UHMM_PTE_NONE);
	assert_int_equal(mh_pte(mm, a + 3 * PG).kind, UHMM_PTE_NONE);
	mh_assert_ret(uhmm_cpu_read(mm, a + 2 * PG + 7, &got, 1), 0);
	assert_int_equal(got, 0x42);
	mh_check_zero(mm, a + 2 * PG, 7);
	mh_check_zero(mm, a + 2 * PG + 8, PG - 8);
	/* a second write reuses it */
	mh_write(mm, a + 2 * PG, PG, 3);
	assert_int_equal(mh_pte(mm, a + 2 * PG).pfn, pi.pfn);
	assert_int_equal(mh_used_pages(sys), 2);

	uhmm_mm_put(mm);
	mh_system_done(sys);
}

/* ------------------------------------------------------------------ fork */

static void test_fork_cow_isolation(void **state)
{
	struct uhmm_system *sys = mh_system(0);
	struct uhmm_mm *mm = mh_mm(sys), *child;

	mh_mmap(mm, BASE, 4 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_write(mm, BASE, 4 * PG, 1);
	child = mh_fork(mm);
	assert_int_equal(vma_count(child), 1);
	expect_vma(child, BASE, BASE, BASE + 4 * PG, MH_RW, MAP_PRIVATE);
	mh_check(child, BASE, 4 * PG, 1);
	assert_int_equal(mh_used_pages(sys), 1 + 4);

	/* parent -> child: not seen */
	mh_write(mm, BASE, PG, 2);
	mh_check(mm, BASE, PG, 2);
	mh_check(child, BASE, PG, 1);
	/* child -> parent: not seen */
	mh_write(child, BASE + PG, PG, 3);
	mh_check(child, BASE + PG, PG, 3);
	mh_check(mm, BASE + PG, PG, 1);
	/* untouched by either: still shared content */
	mh_check(mm, BASE + 2 * PG, 2 * PG, 1);
	mh_check(child, BASE + 2 * PG, 2 * PG, 1);
	assert_int_equal(mh_used_pages(sys), 1 + 6);

	/* a grandchild sees its parent's (the child's) view */
	{
		struct uhmm_mm *gc = mh_fork(child);

		mh_check(gc, BASE, PG, 1);
		mh_check(gc, BASE + PG, PG, 3);
		mh_write(gc, BASE + 2 * PG, PG, 4);
		mh_check(child, BASE + 2 * PG, PG, 1);
		mh_check(mm, BASE + 2 * PG, PG, 1);
		uhmm_mm_put(gc);
	}
	/* the child exits: the parent's data is intact */
	uhmm_mm_put(child);
	mh_check(mm, BASE, PG, 2);
	mh_check(mm, BASE + PG, 3 * PG, 1);
	assert_int_equal(mh_used_pages(sys), 1 + 4);

	uhmm_mm_put(mm);
	mh_system_done(sys);
}

static void test_fork_shared_both_ways(void **state)
{
	struct uhmm_system *sys = mh_system(0);
	struct uhmm_mm *mm = mh_mm(sys), *child;

	mh_mmap(mm, BASE, 4 * PG, MH_RW, MH_SHARED | MAP_FIXED);
	mh_write(mm, BASE, 2 * PG, 1);	/* pages 2, 3 untouched at fork */
	child = mh_fork(mm);
	expect_vma(child, BASE, BASE, BASE + 4 * PG, MH_RW, MAP_SHARED);
	mh_check(child, BASE, 2 * PG, 1);

	mh_write(child, BASE, PG, 2);
	mh_check(mm, BASE, PG, 2);
	mh_write(mm, BASE + PG, PG, 3);
	mh_check(child, BASE + PG, PG, 3);
	/* pages first touched after fork are shared too */
	mh_write(child, BASE + 2 * PG, PG, 4);
	mh_check(mm, BASE + 2 * PG, PG, 4);
	mh_write(mm, BASE + 3 * PG, PG, 5);
	mh_check(child, BASE + 3 * PG, PG, 5);
	for (int i = 0; i < 4; i++)
		assert_int_equal(mh_pte(mm, BASE + i * PG).pfn, mh_pte(child, BASE + i * PG).pfn);
	assert_int_equal(mh_used_pages(sys), 1 + 4);

	/* the object outlives the parent's mapping */
	uhmm_mm_put(mm);
	mh_check(child, BASE, PG, 2);
	mh_check(child, BASE + 3 * PG, PG, 5);
	uhmm_mm_put(child);
	mh_system_done(sys);
}

static void test_fork_refcount_mapcount(void **state)
{
	struct uhmm_system *sys = mh_system(0);
	struct uhmm_mm *mm = mh_mm(sys), *child;
	struct uhmm_pte_info pp, pc;
	unsigned long pfn0, pfn1;

	mh_mmap(mm, BASE, 2 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_write(mm, BASE, 2 * PG, 1);
	pfn0 = mh_pte(mm, BASE).pfn;
	pfn1 = mh_pte(mm, BASE + PG).pfn;
	child = mh_fork(mm);

	/* one frame, two mappings, both write-protected */
	for (int i = 0; i < 2; i++) {
		pp = mh_pte(mm, BASE + i * PG);
		pc = mh_pte(child, BASE + i * PG);
		assert_int_equal(pp.pfn, i ? pfn1 : pfn0);
		assert_int_equal(pc.pfn, pp.pfn);
		assert_false(pp.write);
		assert_false(pc.write);
		assert_int_equal(pp.refcount, 2);
		assert_int_equal(pp.mapcount, 2);
	}
	assert_int_equal(mh_used_pages(sys), 1 + 2);

	/* The child breaks COW on page 0: it gets a copy, the parent keeps the frame alone. */
	mh_write(child, BASE, 8, 2);
	pc = mh_pte(child, BASE);
	pp = mh_pte(mm, BASE);
	assert_true(pc.pfn != pfn0);
	assert_true(pc.write);
	assert_int_equal(pc.refcount, 1);
	assert_int_equal(pc.mapcount, 1);
	assert_int_equal(pp.pfn, pfn0);
	assert_int_equal(pp.refcount, 1);
	assert_int_equal(pp.mapcount, 1);
	assert_int_equal(mh_used_pages(sys), 1 + 3);
	/* the copy has the rest of the page */
	mh_check(child, BASE + 8, PG - 8, 1);
	/* and the parent's next write reuses its frame (no second copy) */
	mh_write(mm, BASE, PG, 3);
	pp = mh_pte(mm, BASE);
	assert_int_equal(pp.pfn, pfn0);
	assert_true(pp.write);
	assert_int_equal(mh_used_pages(sys), 1 + 3);

	/* The parent breaks COW first on page 1: the parent copies, the child keeps it. */
	mh_write(mm, BASE + PG, 8, 4);
	pp = mh_pte(mm, BASE + PG);
	pc = mh_pte(child, BASE + PG);
	assert_true(pp.pfn != pfn1);
	assert_int_equal(pc.pfn, pfn1);
	assert_int_equal(pc.refcount, 1);
	assert_int_equal(pc.mapcount, 1);
	assert_int_equal(pp.refcount, 1);
	assert_int_equal(pp.mapcount, 1);
	mh_write(child, BASE + PG, PG, 5);
	assert_int_equal(mh_pte(child, BASE + PG).pfn, pfn1);
	assert_int_equal(mh_used_pages(sys), 1 + 4);
	mh_check(mm, BASE + PG + 8, PG - 8, 1);
	mh_check(child, BASE + PG, PG, 5);

	uhmm_mm_put(child);
	uhmm_mm_put(mm);
	mh_system_done(sys);
}

static void test_fork_untouched_and_zero(void **state)
{
	struct uhmm_system *sys = mh_system(0);
	struct uhmm_mm *mm = mh_mm(sys), *child;

	mh_mmap(mm, BASE, 2 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_check_zero(mm, BASE, PG);	/* page 0: zero page; page 1 never touched */
	child = mh_fork(mm);
	mh_check_zero(child, BASE, 2 * PG);
	mh_write(child, BASE, 2 * PG, 1);
	mh_check_zero(mm, BASE, 2 * PG);
	mh_write(mm, BASE, PG, 2);
	mh_check(child, BASE, 2 * PG, 1);
	assert_int_equal(mh_used_pages(sys), 1 + 3);
	uhmm_mm_put(mm);
	uhmm_mm_put(child);
	mh_system_done(sys);
}

/* -------------------------------------------------------------- pinning */

static void test_pin_unpin(void **state)
{
	struct uhmm_system *sys = mh_system(0);
	struct uhmm_mm *mm = mh_mm(sys);
	struct uhmm_page *pages[4] = { NULL };
	unsigned long a = mh_mmap(mm, 0, 4 * PG, MH_RW, MH_PRIV);

	mh_write(mm, a, 2 * PG, 1);	/* pages 2, 3: faulted by the pin */
	mh_assert_ret(uhmm_pin_user_pages(mm, a, 4, true, pages), 0);
	assert_int_equal(mh_used_pages(sys), 1 + 4);
	for (int i = 0; i < 4; i++) {
		struct uhmm_pte_info pi = mh_pte(mm, a + i * PG);

		assert_non_null(pages[i]);
		assert_int_equal(uhmm_page_to_pfn(pages[i]), pi.pfn);
		assert_int_equal(pi.refcount, 2);
		assert_int_equal(uhmm_page_refcount(pages[i]), 2);
		assert_int_equal(pi.mapcount, 1);
		assert_true(pi.write);
	}
	/* the pinned frame is the memory: writes through it are seen by the CPU */
	memset(uhmm_page_address(pages[3]), 0x77, 16);
	{
		unsigned char b[16], want[16];

		memset(want, 0x77, sizeof(want));
		mh_assert_ret(uhmm_cpu_read(mm, a + 3 * PG, b, sizeof(b)), 0);
		assert_memory_equal(b, want, sizeof(b));
	}
	uhmm_unpin_user_pages(pages, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(mh_pte(mm, a + i * PG).refcount, 1);
	mh_check(mm, a, 2 * PG, 1);

	/* A pin outlives the mapping: the frame stays until unpinned. */
	mh_assert_ret(uhmm_pin_user_pages(mm, a, 1, true, pages), 0);
	mh_assert_ret(uhmm_munmap(mm, a, 4 * PG), 0);
	assert_int_equal(mh_used_pages(sys), 1 + 1);
	assert_int_equal(uhmm_page_refcount(pages[0]), 1);
	assert_int_equal(uhmm_page_mapcount(pages[0]), 0);
	uhmm_unpin_user_pages(pages, 1);
	assert_int_equal(mh_used_pages(sys), 1);

	uhmm_mm_put(mm);
	mh_system_done(sys);
}

static void test_fork_pinned_page_copied(void **state)
{
	struct uhmm_system *sys = mh_system(0);
	struct uhmm_mm *mm = mh_mm(sys), *child;
	struct uhmm_page *pin[1] = { NULL };
	struct uhmm_pte_info pp, pc;
	unsigned long pfn0;

	mh_mmap(mm, BASE, 2 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_write(mm, BASE, 2 * PG, 1);
	pfn0 = mh_pte(mm, BASE).pfn;
	mh_assert_ret(uhmm_pin_user_pages(mm, BASE, 1, true, pin), 0);

	child = mh_fork(mm);
	/* The pinned page: the child has its own copy at once; the parent keeps
	 * its writable mapping of the pinned frame. */
	pp = mh_pte(mm, BASE);
	pc = mh_pte(child, BASE);
	assert_int_equal(pp.pfn, pfn0);
	assert_true(pp.write);
	assert_int_equal(pp.refcount, 2);	/* mapping + pin */
	assert_int_equal(pp.mapcount, 1);
	assert_true(pc.pfn != pfn0);
	assert_int_equal(pc.refcount, 1);
	assert_int_equal(pc.mapcount, 1);
	mh_check(child, BASE, PG, 1);
	/* the unpinned page is COW-shared as usual */
	pp = mh_pte(mm, BASE + PG);
	assert_int_equal(pp.refcount, 2);
	assert_int_equal(pp.mapcount, 2);
	assert_int_equal(mh_used_pages(sys), 1 + 3);

	/* DMA through the pin lands in the parent only, and no COW happens */
	memset(uhmm_page_address(pin[0]), 0x33, 64);
	mh_write(mm, BASE + 64, 64, 2);
	assert_int_equal(mh_pte(mm, BASE).pfn, pfn0);
	{
		unsigned char b[64], want[64];

		memset(want, 0x33, sizeof(want));
		mh_assert_ret(uhmm_cpu_read(mm, BASE, b, sizeof(b)), 0);
		assert_memory_equal(b, want, sizeof(b));
	}
	mh_check(child, BASE, PG, 1);
	mh_write(child, BASE, PG, 3);
	mh_check(mm, BASE + 64, 64, 2);
	assert_int_equal(mh_used_pages(sys), 1 + 3);

	uhmm_unpin_user_pages(pin, 1);
	assert_int_equal(mh_pte(mm, BASE).refcount, 1);
	uhmm_mm_put(child);
	uhmm_mm_put(mm);
	mh_system_done(sys);
}

/* ------------------------------------------------------------ soft-dirty */

static void test_soft_dirty(void **state)
{
	struct uhmm_system *sys = mh_system(0);
	struct uhmm_mm *mm = mh_mm(sys);
	unsigned long a = mh_mmap(mm, 0, 3 * PG, MH_RW, MH_PRIV);
	unsigned long s = mh_mmap(mm, 0, PG, MH_RW, MH_SHARED), pfn;

	mh_assert_ret(uhmm_page_soft_dirty(mm, a), -EFAULT);	/* nothing mapped yet */
	mh_write(mm, a, 2 * PG, 1);
	mh_write(mm, s, PG, 2);
	assert_int_equal(uhmm_page_soft_dirty(mm, a), 1);
	assert_int_equal(uhmm_page_soft_dirty(mm, a + PG), 1);
	assert_int_equal(uhmm_page_soft_dirty(mm, s), 1);
	pfn = mh_pte(mm, a).pfn;

	mh_assert_ret(uhmm_clear_soft_dirty(mm), 0);
	assert_int_equal(uhmm_page_soft_dirty(mm, a), 0);
	assert_int_equal(uhmm_page_soft_dirty(mm, a + PG), 0);
	assert_int_equal(uhmm_page_soft_dirty(mm, s), 0);
	mh_check(mm, a, 2 * PG, 1);
	mh_check(mm, s, PG, 2);
	/* reading does not set it */
	assert_int_equal(uhmm_page_soft_dirty(mm, a), 0);

	/* The next write sets it again, on that page only, without a copy. */
	mh_write(mm, a + 100, 1, 3);
	assert_int_equal(uhmm_page_soft_dirty(mm, a), 1);
	assert_int_equal(uhmm_page_soft_dirty(mm, a + PG), 0);
	assert_int_equal(mh_pte(mm, a).pfn, pfn);
	assert_true(mh_pte(mm, a).write);
	mh_write(mm, s, 1, 4);
	assert_int_equal(uhmm_page_soft_dirty(mm, s), 1);
	/* A page first faulted after the clear is soft-dirty too. */
	mh_write(mm, a + 2 * PG, PG, 5);
	assert_int_equal(uhmm_page_soft_dirty(mm, a + 2 * PG), 1);
	assert_int_equal(mh_used_pages(sys), 1 + 4);

	/* clearing twice is fine; data survives */
	mh_assert_ret(uhmm_clear_soft_dirty(mm), 0);
	mh_assert_ret(uhmm_clear_soft_dirty(mm), 0);
	mh_check(mm, a + 2 * PG, PG, 5);
	mh_check(mm, a + PG, PG, 1);

	uhmm_mm_put(mm);
	mh_system_done(sys);
}

/* ------------------------------------------------------------------ exit */

static void test_exit_frees_everything(void **state)
{
	struct uhmm_system *sys = mh_system(0);
	struct uhmm_mm *mm = mh_mm(sys), *child;
	struct uhmm_page *pin[2];
	unsigned long p = mh_mmap(mm, 0, 64 * PG, MH_RW, MH_PRIV);
	unsigned long s = mh_mmap(mm, 0, 16 * PG, MH_RW, MH_SHARED), out;

	mh_write(mm, p, 64 * PG, 1);
	mh_write(mm, s, 16 * PG, 2);
	child = mh_fork(mm);
	mh_write(child, p, 32 * PG, 3);	/* 32 COW copies */
	mh_assert_ret(uhmm_pin_user_pages(child, p, 2, true, pin), 0);
	uhmm_unpin_user_pages(pin, 2);
	mh_assert_ret(uhmm_mremap(child, p, 64 * PG, 128 * PG, MREMAP_MAYMOVE, 0, &out), 0);
	mh_write(child, out + 64 * PG, 64 * PG, 4);
	mh_check_zero(mm, mh_mmap(mm, 0, 8 * PG, PROT_READ, MH_PRIV), 8 * PG);
	mh_assert_ret(uhmm_madvise(mm, p, 8 * PG, MADV_DONTNEED), 0);
	assert_true(mh_used_pages(sys) > 1 + 64 + 16);

	/* an extra user: the first put is not exit */
	uhmm_mm_get(child);
	uhmm_mm_put(child);
	mh_check_at(child, out, p, 32 * PG, 3);
	uhmm_mm_put(child);
	/* parent: 56 private + 16 shared pages left */
	assert_int_equal(mh_used_pages(sys), 1 + 56 + 16);
	uhmm_mm_put(mm);
	mh_system_done(sys);
}

static void test_count_ptes(void **state)
{
	struct uhmm_system *sys = mh_system(0);
	struct uhmm_mm *mm = mh_mm(sys);
	unsigned long counts[6];

	/* straddle a 2 MiB leaf boundary */
	mh_mmap(mm, BASE - 4 * PG, 8 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_write(mm, BASE - 2 * PG, 3 * PG, 1);
	mh_check_zero(mm, BASE + 2 * PG, PG);
	mh_assert_ret(uhmm_mm_count_ptes(mm, BASE - 4 * PG, BASE + 4 * PG, counts), 0);
	assert_int_equal(counts[UHMM_PTE_NONE], 4);
	assert_int_equal(counts[UHMM_PTE_PRESENT], 3);
	assert_int_equal(counts[UHMM_PTE_ZERO], 1);
	assert_int_equal(counts[UHMM_PTE_DEVICE_PRIVATE] + counts[UHMM_PTE_DEVICE_EXCLUSIVE] +
			 counts[UHMM_PTE_MIGRATION], 0);
	/* a range with no page table at all */
	mh_assert_ret(uhmm_mm_count_ptes(mm, 4 * BASE, 4 * BASE + 1024 * PG, counts), 0);
	assert_int_equal(counts[UHMM_PTE_NONE], 1024);
	uhmm_mm_put(mm);
	mh_system_done(sys);
}

/* --------------------------------------------------------------- threads */

#define NFAULTERS 4
#define PRIV_PER_THREAD 16
#define OVERLAP_PAGES 32
#define CHURN_PAGES 16
#define T_ITERS 150

struct tctx {
	struct uhmm_mm *mm;
	unsigned long priv, overlap, churn;
	atomic_int failures;
	atomic_int stop;
	pthread_mutex_t msg_lock;
	char msg[256];
};

struct targ {
	struct tctx *c;
	int id;
};

static void tfail(struct tctx *c, const char *what, unsigned long addr, int r)
{
	if (atomic_fetch_add(&c->failures, 1) == 0) {
		pthread_mutex_lock(&c->msg_lock);
		snprintf(c->msg, sizeof(c->msg), "%s at %#lx: %d", what, addr, r);
		pthread_mutex_unlock(&c->msg_lock);
	}
}

/* One page: all zero or all the (addr, seed) pattern; nothing in between. */
static bool page_is_zero_or(const unsigned char *b, unsigned long addr, unsigned seed)
{
	bool zero = true, pat = true;

	for (size_t i = 0; i < PG && (zero || pat); i++) {
		zero &= b[i] == 0;
		pat &= b[i] == mh_pattern_byte(addr + i, seed);
	}
	return zero || pat;
}

static void *faulter(void *p)
{
	struct targ *t = p;
	struct tctx *c = t->c;
	unsigned char *buf = malloc(PG), *want = malloc(PG);
	unsigned long mine = c->priv + (unsigned long)t->id * PRIV_PER_THREAD * PG;

	for (int it = 0; it < T_ITERS && !atomic_load(&c->failures); it++) {
		unsigned long pa = mine + (unsigned long)(it % PRIV_PER_THREAD) * PG;
		/* overlap pages: every thread writes the same content, in a different order */
		unsigned long oa = c->overlap + (unsigned long)((it * (t->id + 1) * 7) % OVERLAP_PAGES) * PG;
		unsigned seed = (unsigned)(t->id << 16 | it) + 1;
		int r;

		mh_pattern(want, PG, pa, seed);
		if ((r = uhmm_cpu_write(c->mm, pa, want, PG)))
			tfail(c, "write private", pa, r);
		if ((r = uhmm_cpu_read(c->mm, pa, buf, PG)) || memcmp(buf, want, PG))
			tfail(c, "read private", pa, r);

		if ((r = uhmm_cpu_read(c->mm, oa, buf, PG)) || !page_is_zero_or(buf, oa, 7))
			tfail(c, "read overlap before write", oa, r);
		mh_pattern(want, PG, oa, 7);
		if ((r = uhmm_cpu_write(c->mm, oa, want, PG)))
			tfail(c, "write overlap", oa, r);
		if ((r = uhmm_cpu_read(c->mm, oa, buf, PG)) || memcmp(buf, want, PG))
			tfail(c, "read overlap", oa, r);

		/* drop one of our own pages now and then: zaps race with the others' faults */
		if (it % 16 == 15) {
			unsigned long da = mine + (unsigned long)((it / 16) % PRIV_PER_THREAD) * PG;

			if ((r = uhmm_madvise(c->mm, da, PG, MADV_DONTNEED)))
				tfail(c, "madvise", da, r);
			if ((r = uhmm_cpu_read(c->mm, da, buf, PG)) || !page_is_zero_or(buf, da, 0))
				tfail(c, "read after DONTNEED", da, r);
		}
	}
	free(buf);
	free(want);
	return NULL;
}

static void *churner(void *p)
{
	struct tctx *c = p;
	unsigned char *buf = malloc(CHURN_PAGES * PG), *want = malloc(CHURN_PAGES * PG);
	unsigned long x = c->churn, out;
	unsigned seed = 1000;

	while (!atomic_load(&c->stop) && !atomic_load(&c->failures)) {
		int r;

		seed++;
		if ((r = uhmm_mmap(c->mm, x, CHURN_PAGES * PG, MH_RW, MH_PRIV | MAP_FIXED_NOREPLACE, &out)) || out != x) {
			tfail(c, "churn mmap", x, r);
			break;
		}
		mh_pattern(want, CHURN_PAGES * PG, x, seed);
		if ((r = uhmm_cpu_write(c->mm, x, want, CHURN_PAGES * PG)))
			tfail(c, "churn write", x, r);
		if ((r = uhmm_mprotect(c->mm, x + 4 * PG, 4 * PG, PROT_READ)))
			tfail(c, "churn mprotect ro", x, r);
		if ((r = uhmm_cpu_write(c->mm, x + 5 * PG, want, 1)) != -EFAULT)
			tfail(c, "churn write to ro", x, r);
		if ((r = uhmm_cpu_read(c->mm, x, buf, CHURN_PAGES * PG)) || memcmp(buf, want, CHURN_PAGES * PG))
			tfail(c, "churn read", x, r);
		if ((r = uhmm_mprotect(c->mm, x + 4 * PG, 4 * PG, MH_RW)))
			tfail(c, "churn mprotect rw", x, r);
		if ((r = uhmm_munmap(c->mm, x + 8 * PG, 2 * PG)))
			tfail(c, "churn munmap middle", x, r);
		if ((r = uhmm_cpu_read(c->mm, x + 8 * PG, buf, 1)) != -EFAULT)
			tfail(c, "churn read unmapped", x, r);
		if ((r = uhmm_munmap(c->mm, x, CHURN_PAGES * PG)))
			tfail(c, "churn munmap", x, r);
	}
	free(buf);
	free(want);
	return NULL;
}

static void test_threads_fault_concurrently(void **state)
{
	struct uhmm_system *sys = mh_system(0);
	struct tctx c = { 0 };
	pthread_t th[NFAULTERS], ch;
	struct targ args[NFAULTERS];

	c.mm = mh_mm(sys);
	pthread_mutex_init(&c.msg_lock, NULL);
	/* one 2 MiB leaf table for everything, so faults, zaps and munmap share PTLs */
	c.priv = mh_mmap(c.mm, BASE, NFAULTERS * PRIV_PER_THREAD * PG, MH_RW, MH_PRIV | MAP_FIXED);
	c.overlap = mh_mmap(c.mm, BASE + 128 * PG, OVERLAP_PAGES * PG, MH_RW, MH_PRIV | MAP_FIXED);
	c.churn = BASE + 256 * PG;

	assert_int_equal(pthread_create(&ch, NULL, churner, &c), 0);
	for (int i = 0; i < NFAULTERS; i++) {
		args[i].c = &c;
		args[i].id = i;
		assert_int_equal(pthread_create(&th[i], NULL, faulter, &args[i]), 0);
	}
	for (int i = 0; i < NFAULTERS; i++)
		pthread_join(th[i], NULL);
	atomic_store(&c.stop, 1);
	pthread_join(ch, NULL);
	if (atomic_load(&c.failures)) {
		print_error("%d failures; first: %s\n", atomic_load(&c.failures), c.msg);
		fail();
	}

	/* Final contents: per private page, the thread's last write unless a later
	 * DONTNEED dropped it; the shared pattern on every overlap page written. */
	for (int t = 0; t < NFAULTERS; t++) {
		unsigned long mine = c.priv + (unsigned long)t * PRIV_PER_THREAD * PG;

		for (int idx = 0; idx < PRIV_PER_THREAD; idx++) {
			int last_write = -1, last_drop = -1;

			for (int it = 0; it < T_ITERS; it++) {
				if (it % PRIV_PER_THREAD == idx)
					last_write = it;
				if (it % 16 == 15 && (it / 16) % PRIV_PER_THREAD == idx)
					last_drop = it;
			}
			if (last_drop >= last_write)
				mh_check_zero(c.mm, mine + idx * PG, PG);
			else
				mh_check(c.mm, mine + idx * PG, PG, (unsigned)(t << 16 | last_write) + 1);
		}
	}
	for (int i = 0; i < OVERLAP_PAGES; i++) {
		struct uhmm_pte_info pi = mh_pte(c.mm, c.overlap + i * PG);

		if (pi.kind == UHMM_PTE_PRESENT)
			mh_check(c.mm, c.overlap + i * PG, PG, 7);
	}
	expect_unmapped(c.mm, c.churn, CHURN_PAGES * PG);
	assert_int_equal(vma_count(c.mm), 2);
	uhmm_mm_put(c.mm);
	pthread_mutex_destroy(&c.msg_lock);
	mh_system_done(sys);
}

/* Threads fault in a parent while another forks it and checks the children. */
static void *fork_checker(void *p)
{
	struct tctx *c = p;

	while (!atomic_load(&c->stop) && !atomic_load(&c->failures)) {
		struct uhmm_mm *child = NULL;
		unsigned char *buf = malloc(PG);
		int r = uhmm_mm_fork(c->mm, &child);

		if (r) {
			tfail(c, "fork", 0, r);
			free(buf);
			break;
		}
		/* the child's view is a snapshot: each page all zero or one thread's pattern */
		for (int i = 0; i < OVERLAP_PAGES; i++) {
			unsigned long oa = c->overlap + (unsigned long)i * PG;

			if ((r = uhmm_cpu_read(child, oa, buf, PG)) || !page_is_zero_or(buf, oa, 7))
				tfail(c, "child snapshot", oa, r);
		}
		/* and it is private: writing it does not disturb the parent */
		mh_pattern(buf, PG, c->overlap, 99);
		if ((r = uhmm_cpu_write(child, c->overlap, buf, PG)))
			tfail(c, "child write", c->overlap, r);
		uhmm_mm_put(child);
		free(buf);
	}
	return NULL;
}

static void test_threads_fault_while_fork(void **state)
{
	struct uhmm_system *sys = mh_system(0);
	struct tctx c = { 0 };
	pthread_t th[NFAULTERS], fk;
	struct targ args[NFAULTERS];

	c.mm = mh_mm(sys);
	pthread_mutex_init(&c.msg_lock, NULL);
	c.priv = mh_mmap(c.mm, BASE, NFAULTERS * PRIV_PER_THREAD * PG, MH_RW, MH_PRIV | MAP_FIXED);
	c.overlap = mh_mmap(c.mm, BASE + 128 * PG, OVERLAP_PAGES * PG, MH_RW, MH_PRIV | MAP_FIXED);

	assert_int_equal(pthread_create(&fk, NULL, fork_checker, &c), 0);
	for (int i = 0; i < NFAULTERS; i++) {
		args[i].c = &c;
		args[i].id = i;
		assert_int_equal(pthread_create(&th[i], NULL, faulter, &args[i]), 0);
	}
	for (int i = 0; i < NFAULTERS; i++)
		pthread_join(th[i], NULL);
	atomic_store(&c.stop, 1);
	pthread_join(fk, NULL);
	if (atomic_load(&c.failures)) {
		print_error("%d failures; first: %s\n", atomic_load(&c.failures), c.msg);
		fail();
	}
	for (int i = 0; i < OVERLAP_PAGES; i++)
		if (mh_pte(c.mm, c.overlap + i * PG).kind == UHMM_PTE_PRESENT)
			mh_check(c.mm, c.overlap + i * PG, PG, 7);
	uhmm_mm_put(c.mm);
	pthread_mutex_destroy(&c.msg_lock);
	mh_system_done(sys);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_mmap_private_rw),
	cmocka_unit_test(test_mmap_shared_rw),
	cmocka_unit_test(test_mmap_fixed_replaces),
	cmocka_unit_test(test_mmap_fixed_noreplace),
	cmocka_unit_test(test_mmap_hint),
	cmocka_unit_test(test_munmap_partial),
	cmocka_unit_test(test_munmap_spanning),
	cmocka_unit_test(test_munmap_hole),
	cmocka_unit_test(test_mprotect_split_merge),
	cmocka_unit_test(test_madvise_dontneed_private),
	cmocka_unit_test(test_madvise_free),
	cmocka_unit_test(test_madvise_dontneed_after_fork),
	cmocka_unit_test(test_madvise_dontneed_shared),
	cmocka_unit_test(test_mremap_shrink),
	cmocka_unit_test(test_mremap_grow_in_place),
	cmocka_unit_test(test_mremap_move_maymove),
	cmocka_unit_test(test_mremap_fixed),
	cmocka_unit_test(test_mremap_across_page_tables),
	cmocka_unit_test(test_read_untouched_zero_page),
	cmocka_unit_test(test_first_write_allocates),
	cmocka_unit_test(test_fork_cow_isolation),
	cmocka_unit_test(test_fork_shared_both_ways),
	cmocka_unit_test(test_fork_refcount_mapcount),
	cmocka_unit_test(test_fork_untouched_and_zero),
	cmocka_unit_test(test_pin_unpin),
	cmocka_unit_test(test_fork_pinned_page_copied),
	cmocka_unit_test(test_soft_dirty),
	cmocka_unit_test(test_exit_frees_everything),
	cmocka_unit_test(test_count_ptes),
	cmocka_unit_test(test_threads_fault_concurrently),
	cmocka_unit_test(test_threads_fault_while_fork),
};

int main(int argc, char **argv)
{
	return mh_main("test_mm", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
