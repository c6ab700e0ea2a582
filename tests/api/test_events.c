/* SPDX-License-Identifier: MIT */
/* tests/api/test_events.c - which mmu-notifier events each VM operation emits, with what range, in what order.
 *
 * Kernel analogue: the emitters listed in include/linux/mmu_notifier.h (spec
 * section 1.6). An interval notifier over the whole address space and a classic
 * notifier log every callback (mm_helpers' recorder); each case asserts the
 * exact sequence, that owner is NULL, that ranges are blockable and that every
 * classic start has its end. Usage: test_events [--list | CASE_NAME].
 */
#include "common/mm_helpers.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define BASE 0x100000000UL

/* Every logged event belongs to @mm, has owner NULL, and classic starts pair with ends. */
static void check_log(struct mh_recorder *r, struct uhmm_mm *mm)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct mh_event *e = &r->ev[i];

		if (e->mm != mm || (e->src != MH_CLASSIC_RELEASE && e->owner != NULL)) {
			mh_rec_dump(r, "owner/mm");
			fail_msg("event %zu: mm %p (want %p), owner %p (want NULL)", i, (void *)e->mm, (void *)mm,
				 e->owner);
		}
	}
	assert_false(r->overflow);
	mh_rec_expect_balanced(r);
}

/* The interval and classic logs both hold exactly the given (event, start, end) list. */
struct ev { enum uhmm_mmu_notifier_event event; unsigned long start, end; };
#define expect_events(r, ...) expect_events_(r, (const struct ev[]){ __VA_ARGS__ }, \
	sizeof((const struct ev[]){ __VA_ARGS__ }) / sizeof(struct ev), __FILE__, __LINE__)
#define expect_none(r) expect_events_(r, NULL, 0, __FILE__, __LINE__)

static void expect_events_(struct mh_recorder *r, const struct ev *want, size_t n, const char *file, int line)
{
	mh_rec_expect_count_(r, MH_INTERVAL, n, file, line);
	mh_rec_expect_count_(r, MH_CLASSIC_START, n, file, line);
	mh_rec_expect_count_(r, MH_CLASSIC_END, n, file, line);
	for (size_t i = 0; i < n; i++) {
		mh_rec_expect_(r, MH_INTERVAL, i, want[i].event, want[i].start, want[i].end, file, line);
		mh_rec_expect_(r, MH_CLASSIC_START, i, want[i].event, want[i].start, want[i].end, file, line);
		mh_rec_expect_(r, MH_CLASSIC_END, i, want[i].event, want[i].start, want[i].end, file, line);
	}
	/* interval pass first, then the classic start, then its end, one operation at a time */
	for (size_t i = 0; i < 3 * n && i < r->n; i++) {
		enum mh_src want_src = i % 3 == 0 ? MH_INTERVAL : i % 3 == 1 ? MH_CLASSIC_START : MH_CLASSIC_END;

		if (r->ev[i].src != want_src) {
			mh_rec_dump(r, "order");
			_fail(file, line);
		}
	}
}

struct fx {
	struct uhmm_system *sys;
	struct uhmm_mm *mm;
	struct mh_recorder rec;
};

static void fx_setup(struct fx *f)
{
	f->sys = mh_system(0);
	f->mm = mh_mm(f->sys);
	mh_rec_init(&f->rec);
	mh_rec_attach(&f->rec, f->mm);
}

/* Exit, then detach (valid after exit), then the leak invariant. */
static void fx_done(struct fx *f)
{
	uhmm_mm_put(f->mm);
	check_log(&f->rec, f->mm);
	mh_rec_detach(&f->rec);
	mh_system_done(f->sys);
}

/* ------------------------------------------------------------------ UNMAP */

static void test_munmap_unmap(void **state)
{
	struct fx f;

	fx_setup(&f);
	mh_mmap(f.mm, BASE, 8 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_mmap(f.mm, BASE + 8 * PG, 4 * PG, MH_RW, MH_SHARED | MAP_FIXED);
	expect_none(&f.rec);	/* a new mapping over nothing invalidates nothing */
	mh_write(f.mm, BASE, 12 * PG, 1);
	expect_none(&f.rec);	/* neither do faults that fill empty entries */

	mh_assert_ret(uhmm_munmap(f.mm, BASE + 2 * PG, 3 * PG), 0);
	expect_events(&f.rec, { UHMM_MMU_NOTIFY_UNMAP, BASE + 2 * PG, BASE + 5 * PG });
	mh_rec_clear(&f.rec);

	/* a hole: nothing to unmap, no event */
	mh_assert_ret(uhmm_munmap(f.mm, BASE + 2 * PG, 3 * PG), 0);
	mh_assert_ret(uhmm_munmap(f.mm, 4 * BASE, 3 * PG), 0);
	expect_none(&f.rec);

	/* spanning a hole, a private and a shared VMA: one event over the requested range */
	mh_assert_ret(uhmm_munmap(f.mm, BASE + 3 * PG, 7 * PG), 0);
	expect_events(&f.rec, { UHMM_MMU_NOTIFY_UNMAP, BASE + 3 * PG, BASE + 10 * PG });
	mh_check(f.mm, BASE, 2 * PG, 1);
	mh_check(f.mm, BASE + 10 * PG, 2 * PG, 1);
	fx_done(&f);
}

static void test_map_fixed_unmap(void **state)
{
	struct fx f;

	fx_setup(&f);
	mh_mmap(f.mm, BASE, 8 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_write(f.mm, BASE, 8 * PG, 1);
	mh_rec_clear(&f.rec);

	/* MAP_FIXED over existing pages unmaps them first */
	mh_mmap(f.mm, BASE + 2 * PG, 2 * PG, PROT_READ, MH_SHARED | MAP_FIXED);
	expect_events(&f.rec, { UHMM_MMU_NOTIFY_UNMAP, BASE + 2 * PG, BASE + 4 * PG });
	mh_rec_clear(&f.rec);
	/* MAP_FIXED_NOREPLACE that fails, and MAP_FIXED over a hole: nothing */
	{
		unsigned long out;

		mh_assert_ret(uhmm_mmap(f.mm, BASE, PG, MH_RW, MH_PRIV | MAP_FIXED_NOREPLACE, &out), -EEXIST);
	}
	mh_mmap(f.mm, BASE + 16 * PG, 2 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	expect_none(&f.rec);
	fx_done(&f);
}

static void test_mremap_events(void **state)
{
	struct fx f;
	unsigned long out = 0, dst = BASE + 64 * PG;

	fx_setup(&f);
	mh_mmap(f.mm, BASE, 4 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_mmap(f.mm, BASE + 4 * PG, PG, PROT_READ, MH_PRIV | MAP_FIXED);	/* blocks growth */
	mh_write(f.mm, BASE, 4 * PG, 1);
	mh_rec_clear(&f.rec);

	/*
	 * Move: the old range gets UNMAP for the page-table move and UNMAP again
	 * for the unmap of the old VMA, as Linux's move_vma does (the two events
	 * are move_page_tables' and do_munmap's). Nothing on the new range.
	 */
	mh_assert_ret(uhmm_mremap(f.mm, BASE, 4 * PG, 8 * PG, MREMAP_MAYMOVE, 0, &out), 0);
	assert_true(out != BASE);
	expect_events(&f.rec, { UHMM_MMU_NOTIFY_UNMAP, BASE, BASE + 4 * PG },
			      { UHMM_MMU_NOTIFY_UNMAP, BASE, BASE + 4 * PG });
	mh_check_at(f.mm, out, BASE, 4 * PG, 1);
	mh_rec_clear(&f.rec);

	/* Grow in place: nothing is invalidated. */
	mh_assert_ret(uhmm_mremap(f.mm, out, 8 * PG, 10 * PG, 0, 0, &out), 0);
	expect_none(&f.rec);

	/* Shrink: UNMAP of the tail. */
	mh_assert_ret(uhmm_mremap(f.mm, out, 10 * PG, 3 * PG, 0, 0, &out), 0);
	expect_events(&f.rec, { UHMM_MMU_NOTIFY_UNMAP, out + 3 * PG, out + 10 * PG });
	mh_rec_clear(&f.rec);

	/* MREMAP_FIXED onto a mapping, shrinking: the destination is unmapped,
	 * then the old tail, then the old range twice (move and unmap). */
	mh_mmap(f.mm, dst, 4 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_write(f.mm, dst, 4 * PG, 2);
	mh_rec_clear(&f.rec);
	{
		unsigned long old = out;

		mh_assert_ret(uhmm_mremap(f.mm, old, 3 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, dst, &out), 0);
		assert_int_equal(out, dst);
		expect_events(&f.rec, { UHMM_MMU_NOTIFY_UNMAP, dst, dst + 2 * PG },
				      { UHMM_MMU_NOTIFY_UNMAP, old + 2 * PG, old + 3 * PG },
				      { UHMM_MMU_NOTIFY_UNMAP, old, old + 2 * PG },
				      { UHMM_MMU_NOTIFY_UNMAP, old, old + 2 * PG });
		mh_check_at(f.mm, dst, BASE, 2 * PG, 1);
		mh_check(f.mm, dst + 2 * PG, 2 * PG, 2);
	}
	fx_done(&f);
}

/* ---------------------------------------------------------------- exit */

static void test_exit_release_then_unmap(void **state)
{
	struct fx f;

	fx_setup(&f);
	mh_mmap(f.mm, BASE, 4 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_mmap(f.mm, BASE + 8 * PG, 4 * PG, MH_RW, MH_SHARED | MAP_FIXED);
	mh_write(f.mm, BASE, 4 * PG, 1);
	mh_write(f.mm, BASE + 8 * PG, 4 * PG, 1);
	mh_rec_clear(&f.rec);

	uhmm_mm_put(f.mm);
	/*
	 * Interval: RELEASE [0, ULONG_MAX) then UNMAP [0, ULONG_MAX). Classic:
	 * release() once, between them (mmu_notifier_release runs the interval
	 * pass, then the classic list, and unlinks it before exit_mmap).
	 */
	assert_int_equal(f.rec.n, 3);
	mh_rec_expect(&f.rec, MH_INTERVAL, 0, UHMM_MMU_NOTIFY_RELEASE, 0, ULONG_MAX);
	mh_rec_expect(&f.rec, MH_INTERVAL, 1, UHMM_MMU_NOTIFY_UNMAP, 0, ULONG_MAX);
	assert_int_equal(f.rec.ev[0].src, MH_INTERVAL);
	assert_int_equal(f.rec.ev[1].src, MH_CLASSIC_RELEASE);
	assert_int_equal(f.rec.ev[2].src, MH_INTERVAL);
	assert_ptr_equal(f.rec.ev[1].mm, f.mm);
	mh_rec_expect_count(&f.rec, MH_CLASSIC_START, 0);
	/* every page is already gone */
	assert_int_equal(mh_used_pages(f.sys), 1);

	/* The notifiers keep the structure alive: unregister and remove are valid
	 * now, and release() is not called again. */
	check_log(&f.rec, f.mm);
	mh_rec_detach(&f.rec);
	mh_rec_expect_count(&f.rec, MH_CLASSIC_RELEASE, 1);
	assert_int_equal(f.rec.n, 3);
	mh_system_done(f.sys);
}

static void test_exit_without_mappings(void **state)
{
	struct fx f;

	fx_setup(&f);
	uhmm_mm_put(f.mm);
	/* nothing mapped: RELEASE and release(), no UNMAP (exit_mmap returns early) */
	assert_int_equal(f.rec.n, 2);
	mh_rec_expect(&f.rec, MH_INTERVAL, 0, UHMM_MMU_NOTIFY_RELEASE, 0, ULONG_MAX);
	assert_int_equal(f.rec.ev[1].src, MH_CLASSIC_RELEASE);
	check_log(&f.rec, f.mm);
	mh_rec_detach(&f.rec);
	mh_system_done(f.sys);
}

static void test_unregister_before_exit(void **state)
{
	struct fx f;

	fx_setup(&f);
	mh_mmap(f.mm, BASE, 4 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_write(f.mm, BASE, 4 * PG, 1);

	/* unregister calls release() itself, once; remove calls nothing */
	uhmm_mmu_interval_notifier_remove(&f.rec.isub);
	f.rec.interval_on = false;
	uhmm_mmu_notifier_unregister(&f.rec.csub, f.mm);
	f.rec.classic_on = false;
	assert_int_equal(f.rec.n, 1);
	assert_int_equal(f.rec.ev[0].src, MH_CLASSIC_RELEASE);

	/* afterwards neither hears anything, exit included */
	mh_assert_ret(uhmm_munmap(f.mm, BASE, PG), 0);
	uhmm_mm_put(f.mm);
	assert_int_equal(f.rec.n, 1);
	mh_rec_detach(&f.rec);
	mh_system_done(f.sys);
}

/* One address space, several users: only the last put is exit. */
static void test_exit_is_last_put(void **state)
{
	struct fx f;

	fx_setup(&f);
	mh_mmap(f.mm, BASE, PG, MH_RW, MH_PRIV | MAP_FIXED);
	uhmm_mm_get(f.mm);
	uhmm_mm_put(f.mm);
	assert_int_equal(f.rec.n, 0);
	mh_write(f.mm, BASE, PG, 1);
	uhmm_mm_put(f.mm);
	assert_int_equal(f.rec.n, 3);
	mh_rec_expect(&f.rec, MH_INTERVAL, 0, UHMM_MMU_NOTIFY_RELEASE, 0, ULONG_MAX);
	mh_rec_expect(&f.rec, MH_INTERVAL, 1, UHMM_MMU_NOTIFY_UNMAP, 0, ULONG_MAX);
	check_log(&f.rec, f.mm);
	mh_rec_detach(&f.rec);
	mh_system_done(f.sys);
}

/* ------------------------------------------------------------------ CLEAR */

static void test_madvise_clear(void **state)
{
	struct fx f;

	fx_setup(&f);
	mh_mmap(f.mm, BASE, 4 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_mmap(f.mm, BASE + 4 * PG, 4 * PG, MH_RW, MH_SHARED | MAP_FIXED);
	mh_write(f.mm, BASE, 8 * PG, 1);
	mh_rec_clear(&f.rec);

	/* hints: nothing */
	mh_assert_ret(uhmm_madvise(f.mm, BASE, 8 * PG, MADV_NORMAL), 0);
	mh_assert_ret(uhmm_madvise(f.mm, BASE, 8 * PG, MADV_WILLNEED), 0);
	expect_none(&f.rec);

	/* DONTNEED: CLEAR, one per VMA, clipped to the request */
	mh_assert_ret(uhmm_madvise(f.mm, BASE + 2 * PG, 4 * PG, MADV_DONTNEED), 0);
	expect_events(&f.rec, { UHMM_MMU_NOTIFY_CLEAR, BASE + 2 * PG, BASE + 4 * PG },
			      { UHMM_MMU_NOTIFY_CLEAR, BASE + 4 * PG, BASE + 6 * PG });
	mh_check_zero(f.mm, BASE + 2 * PG, 2 * PG);
	mh_check(f.mm, BASE + 4 * PG, 2 * PG, 1);
	mh_rec_clear(&f.rec);

	/* over a hole: -ENOMEM and no event */
	mh_assert_ret(uhmm_madvise(f.mm, BASE + 6 * PG, 4 * PG, MADV_DONTNEED), -ENOMEM);
	expect_none(&f.rec);
	fx_done(&f);
}

static void test_cow_break_clear(void **state)
{
	struct fx f;
	struct mh_recorder crec;
	struct uhmm_mm *child;

	fx_setup(&f);
	mh_mmap(f.mm, BASE, 4 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_write(f.mm, BASE, 4 * PG, 1);
	child = mh_fork(f.mm);
	mh_rec_init(&crec);
	mh_rec_attach(&crec, child);
	mh_rec_clear(&f.rec);

	/* The child breaks COW on page 1: CLEAR of that one page, to the child only. */
	mh_write(child, BASE + PG + 5, 1, 2);
	expect_events(&crec, { UHMM_MMU_NOTIFY_CLEAR, BASE + PG, BASE + 2 * PG });
	expect_none(&f.rec);
	mh_rec_clear(&crec);

	/* The parent's page 1 is now its alone: reused, no event. */
	mh_write(f.mm, BASE + PG, PG, 3);
	expect_none(&f.rec);
	/* The parent breaks COW on page 2: CLEAR to the parent only. */
	mh_write(f.mm, BASE + 2 * PG, 1, 4);
	expect_events(&f.rec, { UHMM_MMU_NOTIFY_CLEAR, BASE + 2 * PG, BASE + 3 * PG });
	expect_none(&crec);
	mh_rec_clear(&f.rec);

	/* A write over the zero page copies it: CLEAR as well (wp_page_copy). */
	mh_mmap(f.mm, BASE + 8 * PG, PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_check_zero(f.mm, BASE + 8 * PG, PG);
	expect_none(&f.rec);
	mh_write(f.mm, BASE + 8 * PG, PG, 5);
	expect_events(&f.rec, { UHMM_MMU_NOTIFY_CLEAR, BASE + 8 * PG, BASE + 9 * PG });

	uhmm_mm_put(child);
	check_log(&crec, child);
	mh_rec_detach(&crec);
	fx_done(&f);
}

/* Faults that only fill or upgrade entries, pins and reads invalidate nothing. */
static void test_faults_emit_nothing(void **state)
{
	struct fx f;
	struct uhmm_page *pin[2];

	fx_setup(&f);
	mh_mmap(f.mm, BASE, 4 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_mmap(f.mm, BASE + 4 * PG, 4 * PG, MH_RW, MH_SHARED | MAP_FIXED);
	mh_write(f.mm, BASE, PG, 1);			/* none -> new page */
	mh_check_zero(f.mm, BASE + PG, PG);		/* none -> zero page */
	mh_check_zero(f.mm, BASE + 4 * PG, PG);		/* shmem read: read-only */
	mh_write(f.mm, BASE + 4 * PG, PG, 2);		/* shmem: made writable in place */
	mh_assert_ret(uhmm_pin_user_pages(f.mm, BASE + 2 * PG, 2, true, pin), 0);
	uhmm_unpin_user_pages(pin, 2);
	mh_check(f.mm, BASE, PG, 1);
	expect_none(&f.rec);
	fx_done(&f);
}

/* ------------------------------------------------------- PROTECTION_VMA */

static void test_mprotect_protection_vma(void **state)
{
	struct fx f;

	fx_setup(&f);
	mh_mmap(f.mm, BASE, 8 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_write(f.mm, BASE, 8 * PG, 1);
	mh_rec_clear(&f.rec);

	mh_assert_ret(uhmm_mprotect(f.mm, BASE + 2 * PG, 3 * PG, PROT_READ), 0);
	expect_events(&f.rec, { UHMM_MMU_NOTIFY_PROTECTION_VMA, BASE + 2 * PG, BASE + 5 * PG });
	mh_rec_clear(&f.rec);

	/* unchanged protection: no event */
	mh_assert_ret(uhmm_mprotect(f.mm, BASE + 3 * PG, PG, PROT_READ), 0);
	mh_assert_ret(uhmm_mprotect(f.mm, BASE, PG, MH_RW), 0);
	expect_none(&f.rec);

	/* over three VMAs: one event per VMA whose protection changes */
	mh_assert_ret(uhmm_mprotect(f.mm, BASE + PG, 6 * PG, PROT_NONE), 0);
	expect_events(&f.rec, { UHMM_MMU_NOTIFY_PROTECTION_VMA, BASE + PG, BASE + 2 * PG },
			      { UHMM_MMU_NOTIFY_PROTECTION_VMA, BASE + 2 * PG, BASE + 5 * PG },
			      { UHMM_MMU_NOTIFY_PROTECTION_VMA, BASE + 5 * PG, BASE + 7 * PG });
	mh_rec_clear(&f.rec);

	/* a hole in the range: -ENOMEM, nothing */
	mh_assert_ret(uhmm_mprotect(f.mm, BASE, 10 * PG, MH_RW), -ENOMEM);
	expect_none(&f.rec);
	mh_assert_ret(uhmm_mprotect(f.mm, BASE, 8 * PG, MH_RW), 0);
	mh_check(f.mm, BASE, 8 * PG, 1);
	fx_done(&f);
}

/* ------------------------------------------------------ PROTECTION_PAGE */

static void test_fork_protection_page(void **state)
{
	struct fx f;
	struct uhmm_mm *child;
	unsigned long p1 = BASE, p2 = BASE + 8 * PG, p3 = BASE + 16 * PG, s = BASE + 24 * PG, p4 = BASE + 32 * PG;

	fx_setup(&f);
	mh_mmap(f.mm, p1, 4 * PG, MH_RW, MH_PRIV | MAP_FIXED);	/* written */
	mh_mmap(f.mm, p2, 4 * PG, MH_RW, MH_PRIV | MAP_FIXED);	/* never touched */
	mh_mmap(f.mm, p3, 2 * PG, PROT_READ, MH_PRIV | MAP_FIXED);	/* only read: zero page */
	mh_mmap(f.mm, s, 2 * PG, MH_RW, MH_SHARED | MAP_FIXED);	/* shared, written */
	mh_mmap(f.mm, p4, 2 * PG, MH_RW, MH_PRIV | MAP_FIXED);	/* one page written */
	mh_write(f.mm, p1, 4 * PG, 1);
	mh_check_zero(f.mm, p3, 2 * PG);
	mh_write(f.mm, s, 2 * PG, 2);
	mh_write(f.mm, p4 + PG, PG, 3);
	mh_rec_clear(&f.rec);

	/* Only the parent's private ranges that have anonymous pages, each whole VMA. */
	child = mh_fork(f.mm);
	expect_events(&f.rec, { UHMM_MMU_NOTIFY_PROTECTION_PAGE, p1, p1 + 4 * PG },
			      { UHMM_MMU_NOTIFY_PROTECTION_PAGE, p4, p4 + 2 * PG });
	mh_check(child, p1, 4 * PG, 1);
	mh_check(child, s, 2 * PG, 2);
	mh_rec_clear(&f.rec);

	/* a fork of a fork: the child's own notifier hears about its COW ranges */
	{
		struct mh_recorder crec;
		struct uhmm_mm *gc;

		mh_rec_init(&crec);
		mh_rec_attach(&crec, child);
		gc = mh_fork(child);
		expect_events(&crec, { UHMM_MMU_NOTIFY_PROTECTION_PAGE, p1, p1 + 4 * PG },
				     { UHMM_MMU_NOTIFY_PROTECTION_PAGE, p4, p4 + 2 * PG });
		expect_none(&f.rec);
		uhmm_mm_put(gc);
		uhmm_mm_put(child);
		check_log(&crec, child);
		mh_rec_detach(&crec);
	}
	fx_done(&f);
}

/* ------------------------------------------------------------ SOFT_DIRTY */

static void test_soft_dirty_event(void **state)
{
	struct fx f;

	fx_setup(&f);
	mh_mmap(f.mm, BASE, 4 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_mmap(f.mm, BASE + 8 * PG, 4 * PG, MH_RW, MH_SHARED | MAP_FIXED);
	mh_write(f.mm, BASE, 4 * PG, 1);
	mh_rec_clear(&f.rec);

	/* Linux's clear_refs: one SOFT_DIRTY invalidation over [0, ULONG_MAX) around the walk. */
	mh_assert_ret(uhmm_clear_soft_dirty(f.mm), 0);
	expect_events(&f.rec, { UHMM_MMU_NOTIFY_SOFT_DIRTY, 0, ULONG_MAX });
	mh_rec_clear(&f.rec);
	/* the write that sets the bit again is a plain write fault: no event */
	mh_write(f.mm, BASE, PG, 2);
	expect_none(&f.rec);
	assert_int_equal(uhmm_page_soft_dirty(f.mm, BASE), 1);
	fx_done(&f);
}

/* ----------------------------------------------- interval range filtering */

static void test_interval_range_filter(void **state)
{
	struct uhmm_system *sys = mh_system(0);
	struct uhmm_mm *mm = mh_mm(sys);
	struct mh_recorder r;

	mh_rec_init(&r);
	/* interval notifier over [4, 8) only; no classic notifier */
	mh_assert_ret(mh_rec_insert_interval(&r, mm, BASE + 4 * PG, 4 * PG), 0);
	mh_mmap(mm, BASE, 16 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_write(mm, BASE, 16 * PG, 1);

	mh_assert_ret(uhmm_munmap(mm, BASE, 2 * PG), 0);
	mh_assert_ret(uhmm_mprotect(mm, BASE + 8 * PG, PG, PROT_READ), 0);
	mh_assert_ret(uhmm_madvise(mm, BASE + 3 * PG, PG, MADV_DONTNEED), 0);
	mh_assert_ret(uhmm_mprotect(mm, BASE + 12 * PG, 2 * PG, PROT_READ), 0);
	assert_int_equal(r.n, 0);

	/* overlapping by one page on either side: delivered with the full range */
	mh_assert_ret(uhmm_madvise(mm, BASE + 2 * PG, 3 * PG, MADV_DONTNEED), 0);
	mh_assert_ret(uhmm_munmap(mm, BASE + 7 * PG, 2 * PG), 0);
	mh_rec_expect_count(&r, MH_INTERVAL, 2);
	mh_rec_expect(&r, MH_INTERVAL, 0, UHMM_MMU_NOTIFY_CLEAR, BASE + 2 * PG, BASE + 5 * PG);
	mh_rec_expect(&r, MH_INTERVAL, 1, UHMM_MMU_NOTIFY_UNMAP, BASE + 7 * PG, BASE + 9 * PG);
	mh_rec_clear(&r);

	uhmm_mm_put(mm);
	mh_rec_expect_count(&r, MH_INTERVAL, 2);
	mh_rec_expect(&r, MH_INTERVAL, 0, UHMM_MMU_NOTIFY_RELEASE, 0, ULONG_MAX);
	mh_rec_expect(&r, MH_INTERVAL, 1, UHMM_MMU_NOTIFY_UNMAP, 0, ULONG_MAX);
	check_log(&r, mm);
	/* removal after exit */
	mh_rec_detach(&r);
	mh_system_done(sys);
}

/* Several notifiers of each kind: all hear the same events; classic newest first. */
static void test_many_notifiers(void **state)
{
	struct uhmm_system *sys = mh_system(0);
	struct uhmm_mm *mm = mh_mm(sys);
	struct mh_recorder r[3];

	for (int i = 0; i < 3; i++) {
		mh_rec_init(&r[i]);
		mh_rec_attach(&r[i], mm);
	}
	mh_mmap(mm, BASE, 2 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_write(mm, BASE, 2 * PG, 1);
	mh_assert_ret(uhmm_munmap(mm, BASE, PG), 0);
	for (int i = 0; i < 3; i++)
		expect_events(&r[i], { UHMM_MMU_NOTIFY_UNMAP, BASE, BASE + PG });
	/* unregister the middle one before exit: it gets release() from
	 * unregister, the others from exit; each exactly once */
	mh_rec_detach(&r[1]);
	mh_rec_expect_count(&r[1], MH_CLASSIC_RELEASE, 1);
	uhmm_mm_put(mm);
	for (int i = 0; i < 3; i += 2) {
		mh_rec_expect_count(&r[i], MH_CLASSIC_RELEASE, 1);
		mh_rec_expect(&r[i], MH_INTERVAL, 1, UHMM_MMU_NOTIFY_RELEASE, 0, ULONG_MAX);
		mh_rec_expect(&r[i], MH_INTERVAL, 2, UHMM_MMU_NOTIFY_UNMAP, 0, ULONG_MAX);
		check_log(&r[i], mm);
		mh_rec_detach(&r[i]);
		mh_rec_expect_count(&r[i], MH_CLASSIC_RELEASE, 1);
	}
	mh_rec_expect_count(&r[1], MH_INTERVAL, 1);
	mh_system_done(sys);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_munmap_unmap),
	cmocka_unit_test(test_map_fixed_unmap),
	cmocka_unit_test(test_mremap_events),
	cmocka_unit_test(test_exit_release_then_unmap),
	cmocka_unit_test(test_exit_without_mappings),
	cmocka_unit_test(test_unregister_before_exit),
	cmocka_unit_test(test_exit_is_last_put),
	cmocka_unit_test(test_madvise_clear),
	cmocka_unit_test(test_cow_break_clear),
	cmocka_unit_test(test_faults_emit_nothing),
	cmocka_unit_test(test_mprotect_protection_vma),
	cmocka_unit_test(test_fork_protection_page),
	cmocka_unit_test(test_soft_dirty_event),
	cmocka_unit_test(test_interval_range_filter),
	cmocka_unit_test(test_many_notifiers),
};

int main(int argc, char **argv)
{
	return mh_main("test_events", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
