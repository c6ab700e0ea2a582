/* SPDX-License-Identifier: MIT */
/* tests/unit/test_pagewalk.c - the page-table walker (src/mm/pagewalk.c).
 *
 * White-box: builds address spaces through the public API, then walks them
 * with hand-written ops and checks what each callback saw: holes of the span
 * of the empty level (PGD, PUD, PMD, no VMA), leaf tables, every PTE under
 * its PTL, walk actions, test_walk skips, and stops on a callback's return.
 * Usage: test_pagewalk [--list | CASE].
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/testdev.h"
#include "mm/pagewalk.h"

#define GiB (1UL << 30)

struct hole { unsigned long start, end; int depth; bool has_vma; };

struct rec {
	struct hole holes[600];
	int nholes;	/* all of them; the first 600 are kept */
	unsigned long pmd_calls, pte_calls, tests, ptes_present;
	unsigned long pmd_addr[16], pmd_next[16];
	unsigned long last_pte;
	bool ptl_seen_locked;
	bool fresh_table;	/* pmd_entry ran: the next PTE starts a new run */
	int stop_at_pte;	/* return this many ptes in: 7 */
	int again_left;		/* pmd_entry asks ACTION_AGAIN this many times */
	enum page_walk_action action;
	unsigned long skip_vma_start;
};

static int rec_hole(unsigned long a, unsigned long n, int depth, struct mm_walk *w)
{
	struct rec *r = w->private;

	if (r->nholes < 600)
		r->holes[r->nholes] = (struct hole){ a, n, depth, w->vma != NULL };
	r->nholes++;
	return 0;
}

static int rec_pmd(pmd_t *pmd, unsigned long a, unsigned long n, struct mm_walk *w)
{
	struct rec *r = w->private;

	assert_false(pmd_none(pmdp_get(pmd)));
	assert_true(n - a <= PMD_SIZE && ((a ^ (n - 1)) & PMD_MASK) == 0);
	if (r->pmd_calls < 16) {
		r->pmd_addr[r->pmd_calls] = a;
		r->pmd_next[r->pmd_calls] = n;
	}
	r->pmd_calls++;
	r->fresh_table = true;
	if (r->again_left > 0) {
		r->again_left--;
		w->action = ACTION_AGAIN;
		return 0;
	}
	w->action = r->action;
	return 0;
}

static int rec_pte(_Atomic pte_t *pte, unsigned long a, unsigned long n, struct mm_walk *w)
{
	struct rec *r = w->private;

	assert_int_equal(n, a + PAGE_SIZE);
	assert_ptr_equal(pte, pte_offset(w->ptl_leaf, a));
	/* the walker holds the PTL: a trylock from here must fail */
	if (pthread_mutex_trylock(&w->ptl_leaf->ptl) == 0)
		pthread_mutex_unlock(&w->ptl_leaf->ptl);
	else
		r->ptl_seen_locked = true;
	if (!r->fresh_table)	/* PTEs of one table come in address order, one by one */
		assert_int_equal(a, r->last_pte + PAGE_SIZE);
	r->fresh_table = false;
	r->last_pte = a;
	r->pte_calls++;
	if (pte_present(ptep_get(pte)))
		r->ptes_present++;
	if (r->stop_at_pte && r->pte_calls == (unsigned long)r->stop_at_pte)
		return 42;
	return 0;
}

static int rec_test(unsigned long a, unsigned long n, struct mm_walk *w)
{
	struct rec *r = w->private;

	(void)n;
	r->tests++;
	return a == r->skip_vma_start ? 1 : 0;
}

static const struct mm_walk_ops all_ops = {
	.pmd_entry = rec_pmd, .pte_entry = rec_pte, .pte_hole = rec_hole, .test_walk = rec_test,
};

struct env {
	struct uhmm_system *sys;
	struct uhmm_mm *mm;
};

static void env_up(struct env *e)
{
	assert_int_equal(uhmm_system_create(NULL, &e->sys), 0);
	assert_int_equal(uhmm_mm_create(e->sys, &e->mm), 0);
}

static void env_down(struct env *e)
{
	uhmm_mm_put(e->mm);
	uhmm_system_destroy(e->sys);
}

static unsigned long map_fixed(struct env *e, unsigned long addr, unsigned long len)
{
	unsigned long out;

	assert_int_equal(uhmm_mmap(e->mm, addr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
				   &out), 0);
	assert_int_equal(out, addr);
	return out;
}

static void touch(struct env *e, unsigned long addr)
{
	char c = 1;

	assert_int_equal(uhmm_cpu_write(e->mm, addr, &c, 1), 0);
}

/* An empty address space: one hole per empty PGD entry, of the PGD's span. */
static void test_holes_of_empty_levels(void **state)
{
	struct env e;
	struct rec r = { 0 };
	/* 1 GiB below a 512 GiB boundary to 1 GiB above it */
	unsigned long start = (1UL << 39) - GiB, end = (1UL << 39) + GiB;

	(void)state;
	env_up(&e);
	assert_int_equal(walk_page_range_novma(e.mm, start, end, &all_ops, &r), 0);
	assert_int_equal(r.nholes, 2);
	assert_int_equal(r.holes[0].start, start);
	assert_int_equal(r.holes[0].end, 1UL << 39);
	assert_int_equal(r.holes[0].depth, WALK_DEPTH_PGD);
	assert_int_equal(r.holes[1].start, 1UL << 39);
	assert_int_equal(r.holes[1].end, end);
	assert_int_equal(r.pmd_calls + r.pte_calls, 0);

	/* one page in the first 2 MiB of a 1 GiB: the rest of that PUD is PMD holes, then a PUD hole */
	map_fixed(&e, 4 * GiB, 4 * PAGE_SIZE);
	touch(&e, 4 * GiB + PAGE_SIZE);
	memset(&r, 0, sizeof(r));
	assert_int_equal(walk_page_range_novma(e.mm, 4 * GiB, 6 * GiB, &all_ops, &r), 0);
	assert_int_equal(r.pmd_calls, 1);
	assert_int_equal(r.pmd_addr[0], 4 * GiB);
	assert_int_equal(r.pmd_next[0], 4 * GiB + PMD_SIZE);
	assert_int_equal(r.pte_calls, 512);
	assert_int_equal(r.ptes_present, 1);
	assert_true(r.ptl_seen_locked);
	assert_int_equal(r.nholes, 511 + 1);
	assert_int_equal(r.holes[0].start, 4 * GiB + PMD_SIZE);
	assert_int_equal(r.holes[0].depth, WALK_DEPTH_PMD);
	assert_int_equal(r.holes[510].end, 5 * GiB);
	assert_int_equal(r.holes[511].start, 5 * GiB);
	assert_int_equal(r.holes[511].end, 6 * GiB);
	assert_int_equal(r.holes[511].depth, WALK_DEPTH_PUD);
	env_down(&e);
}

/* A range starting and ending inside leaf tables is clipped exactly. */
static void test_partial_tables(void **state)
{
	struct env e;
	struct rec r = { 0 };
	unsigned long base = 8 * GiB, start = base + PMD_SIZE - 3 * PAGE_SIZE, end = base + PMD_SIZE + 5 * PAGE_SIZE;
	unsigned long a;

	(void)state;
	env_up(&e);
	map_fixed(&e, base, 2 * PMD_SIZE);
	for (a = start; a < end; a += PAGE_SIZE)
		touch(&e, a);
	assert_int_equal(walk_page_range_novma(e.mm, start, end, &all_ops, &r), 0);
	assert_int_equal(r.pmd_calls, 2);
	assert_int_equal(r.pmd_addr[0], start);
	assert_int_equal(r.pmd_next[0], base + PMD_SIZE);
	assert_int_equal(r.pmd_addr[1], base + PMD_SIZE);
	assert_int_equal(r.pmd_next[1], end);
	assert_int_equal(r.pte_calls, 8);
	assert_int_equal(r.ptes_present, 8);
	assert_int_equal(r.last_pte, end - PAGE_SIZE);
	assert_int_equal(r.nholes, 0);
	env_down(&e);
}

/* ACTION_CONTINUE skips the PTEs; ACTION_AGAIN calls pmd_entry again. */
static void test_actions(void **state)
{
	struct env e;
	struct rec r = { 0 };
	unsigned long base = 8 * GiB;

	(void)state;
	env_up(&e);
	map_fixed(&e, base, PMD_SIZE);
	touch(&e, base);
	r.action = ACTION_CONTINUE;
	assert_int_equal(walk_page_range_novma(e.mm, base, base + PMD_SIZE, &all_ops, &r), 0);
	assert_int_equal(r.pmd_calls, 1);
	assert_int_equal(r.pte_calls, 0);

	memset(&r, 0, sizeof(r));
	r.again_left = 2;
	assert_int_equal(walk_page_range_novma(e.mm, base, base + PMD_SIZE, &all_ops, &r), 0);
	assert_int_equal(r.pmd_calls, 3);
	assert_int_equal(r.pte_calls, 512);
	env_down(&e);
}

/* A non-zero return stops the walk where it is, and the PTL is released. */
static void test_stop_on_return(void **state)
{
	struct env e;
	struct rec r = { 0 };
	unsigned long base = 8 * GiB;
	struct uhmm_pte_info info;

	(void)state;
	env_up(&e);
	map_fixed(&e, base, 2 * PMD_SIZE);
	touch(&e, base);
	touch(&e, base + PMD_SIZE);
	r.stop_at_pte = 7;
	assert_int_equal(walk_page_range_novma(e.mm, base, base + 2 * PMD_SIZE, &all_ops, &r), 42);
	assert_int_equal(r.pte_calls, 7);
	assert_int_equal(r.pmd_calls, 1);
	/* the PTL was dropped: a query that takes it returns */
	assert_int_equal(uhmm_mm_query_pte(e.mm, base, &info), 0);
	assert_int_equal(info.kind, UHMM_PTE_PRESENT);
	env_down(&e);
}

/* walk_page_range: gaps between VMAs are depth -1 holes without a VMA; test_walk can skip a VMA. */
static void test_vma_iteration(void **state)
{
	struct env e;
	struct rec r = { 0 };
	unsigned long base = 16 * GiB;

	(void)state;
	env_up(&e);
	map_fixed(&e, base + PAGE_SIZE, 2 * PAGE_SIZE);		/* VMA 1 */
	map_fixed(&e, base + 8 * PAGE_SIZE, 2 * PAGE_SIZE);	/* VMA 2 */
	touch(&e, base + PAGE_SIZE);
	touch(&e, base + 9 * PAGE_SIZE);
	uhmm_mmap_read_lock(e.mm);
	r.skip_vma_start = ~0UL;
	assert_int_equal(walk_page_range(e.mm, base, base + 12 * PAGE_SIZE, &all_ops, &r), 0);
	assert_int_equal(r.tests, 2);
	assert_int_equal(r.nholes, 3);
	assert_int_equal(r.holes[0].start, base);
	assert_int_equal(r.holes[0].end, base + PAGE_SIZE);
	assert_int_equal(r.holes[0].depth, WALK_DEPTH_NO_VMA);
	assert_false(r.holes[0].has_vma);
	assert_int_equal(r.holes[1].start, base + 3 * PAGE_SIZE);
	assert_int_equal(r.holes[1].end, base + 8 * PAGE_SIZE);
	assert_int_equal(r.holes[2].start, base + 10 * PAGE_SIZE);
	assert_int_equal(r.holes[2].end, base + 12 * PAGE_SIZE);
	assert_int_equal(r.pte_calls, 4);	/* 2 + 2 pages, one leaf table, entered once per VMA */
	assert_int_equal(r.ptes_present, 2);

	memset(&r, 0, sizeof(r));
	r.skip_vma_start = base + PAGE_SIZE;
	assert_int_equal(walk_page_range(e.mm, base, base + 12 * PAGE_SIZE, &all_ops, &r), 0);
	assert_int_equal(r.tests, 2);
	assert_int_equal(r.pte_calls, 2);
	assert_int_equal(r.last_pte, base + 9 * PAGE_SIZE);
	uhmm_mmap_read_unlock(e.mm);
	env_down(&e);
}

/* Bad ranges are refused before any callback runs. */
static void test_bad_ranges(void **state)
{
	struct env e;
	struct rec r = { 0 };

	(void)state;
	env_up(&e);
	assert_int_equal(walk_page_range_novma(e.mm, PAGE_SIZE, PAGE_SIZE, &all_ops, &r), -EINVAL);
	assert_int_equal(walk_page_range_novma(e.mm, 1, PAGE_SIZE * 2, &all_ops, &r), -EINVAL);
	assert_int_equal(walk_page_range_novma(e.mm, 0, TASK_SIZE + PAGE_SIZE, &all_ops, &r), -EINVAL);
	assert_int_equal(r.nholes + r.pmd_calls + r.pte_calls, 0);
	/* the whole user address space: one hole per PGD entry below TASK_SIZE */
	assert_int_equal(walk_page_range_novma(e.mm, 0, TASK_SIZE, &all_ops, &r), 0);
	assert_int_equal(r.nholes, TASK_SIZE >> PT_SHIFT_PGD);
	assert_int_equal(r.holes[63].start, 63UL << PT_SHIFT_PGD);
	env_down(&e);
}

static const struct CMUnitTest all_tests[] = {
	cmocka_unit_test(test_holes_of_empty_levels),
	cmocka_unit_test(test_partial_tables),
	cmocka_unit_test(test_actions),
	cmocka_unit_test(test_stop_on_return),
	cmocka_unit_test(test_vma_iteration),
	cmocka_unit_test(test_bad_ranges),
};

int main(int argc, char **argv)
{
	return testdev_run("test_pagewalk", all_tests, sizeof(all_tests) / sizeof(all_tests[0]), argc, argv);
}
