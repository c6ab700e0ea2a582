/* SPDX-License-Identifier: MIT */
/* tests/unit/test_huge_alloc.c - 2 MiB blocks of RAM (src/mm/huge_alloc.c).
 *
 * White-box: page_alloc_huge hands out 512 contiguous frames at a 512-aligned
 * pfn; blocks are carved from the top while 4 KiB frames come from the
 * bottom, and the two never overlap; a freed block is reused whole; the 4 KiB
 * path breaks a free block only when nothing else is left; exhaustion and
 * both failure hooks make page_alloc_huge return NULL with nothing changed.
 * A threaded case lets TSan watch the frontier and the block list.
 * Usage: test_huge_alloc [--list | CASE].
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "common/testdev.h"
#include "internal.h"

/* 8 MiB: 2048 frames, the zero page at pfn 0, room for 3 blocks (the 4th would cover pfn 0). */
#define SMALL_RAM (8UL << 20)

static struct uhmm_system *sys_with_ram(size_t bytes)
{
	struct uhmm_system_opts o = { .ram_bytes = bytes };
	struct uhmm_system *sys;

	assert_int_equal(uhmm_system_create(&o, &sys), 0);
	return sys;
}

static unsigned long used_pages(struct uhmm_system *sys)
{
	struct uhmm_system_stats st;

	assert_int_equal(uhmm_system_get_stats(sys, &st), 0);
	return st.used_pages;
}

static void test_block_shape(void **state)
{
	struct uhmm_system *sys = sys_with_ram(SMALL_RAM);
	struct uhmm_page *h = page_alloc_huge(sys);
	unsigned long i;

	(void)state;
	assert_non_null(h);
	assert_int_equal(h->pfn % HPAGE_NR, 0);
	assert_int_equal(h->pfn, 2048 - HPAGE_NR);	/* carved from the top */
	assert_true(page_test_flag(h, PG_HEAD));
	assert_int_equal(atomic_load(&h->refcount), 1);
	for (i = 1; i < HPAGE_NR; i++) {
		assert_ptr_equal(&h[i], pfn_to_page(sys, h->pfn + i));
		assert_ptr_equal(page_address(&h[i]), (unsigned char *)page_address(h) + i * PAGE_SIZE);
		assert_int_equal(atomic_load(&h[i].refcount), 0);
		assert_false(page_test_flag(&h[i], PG_HEAD));
	}
	assert_int_equal(used_pages(sys), 1 + HPAGE_NR);
	memset(page_address(h), 0xa5, HPAGE_NR * PAGE_SIZE);	/* every byte is ours (ASan would see) */
	page_put(h);
	assert_int_equal(used_pages(sys), 1);
	assert_false(page_test_flag(h, PG_HEAD));
	uhmm_system_destroy(sys);
}

/* Blocks from the top, frames from the bottom; exhaustion fails cleanly; a freed block comes back whole. */
static void test_exhaustion_and_reuse(void **state)
{
	struct uhmm_system *sys = sys_with_ram(SMALL_RAM);
	struct uhmm_page *h[4], *small[HPAGE_NR];
	unsigned long i, n;

	(void)state;
	for (i = 0; i < 3; i++) {
		h[i] = page_alloc_huge(sys);
		assert_non_null(h[i]);
		assert_int_equal(h[i]->pfn, 2048 - (i + 1) * HPAGE_NR);
	}
	assert_null(page_alloc_huge(sys));	/* pfn 0..511 holds the zero page */
	assert_int_equal(used_pages(sys), 1 + 3 * HPAGE_NR);
	/* the 4 KiB path still has pfn 1..511, and nothing of the blocks */
	n = page_alloc_bulk(sys, HPAGE_NR, small);
	assert_int_equal(n, HPAGE_NR - 1);
	for (i = 0; i < n; i++)
		assert_true(small[i]->pfn >= 1 && small[i]->pfn < HPAGE_NR);
	assert_null(page_alloc(sys));
	/* a freed block is handed out again whole */
	page_put(h[1]);
	h[3] = page_alloc_huge(sys);
	assert_ptr_equal(h[3], h[1]);
	assert_true(page_test_flag(h[3], PG_HEAD));
	for (i = 0; i < n; i++)
		page_put(small[i]);
	page_put(h[0]);
	page_put(h[2]);
	page_put(h[3]);
	assert_int_equal(used_pages(sys), 1);
	uhmm_system_destroy(sys);
}

/* With nothing else left, the 4 KiB path breaks a free block; the rest of it stays on a free list. */
static void test_small_path_breaks_free_block(void **state)
{
	struct uhmm_system *sys = sys_with_ram(SMALL_RAM);
	struct uhmm_page *h[3], *small[HPAGE_NR], *rest[HPAGE_NR], *p;
	unsigned long i, n, base;

	(void)state;
	for (i = 0; i < 3; i++)
		h[i] = page_alloc_huge(sys);
	n = page_alloc_bulk(sys, HPAGE_NR, small);
	assert_int_equal(n, HPAGE_NR - 1);
	base = h[2]->pfn;
	page_put(h[2]);
	p = page_alloc(sys);
	assert_non_null(p);
	assert_true(p->pfn >= base && p->pfn < base + HPAGE_NR);
	assert_false(page_test_flag(p, PG_HEAD));
	/* the block is gone as a block: no 2 MiB allocation can succeed now */
	assert_null(page_alloc_huge(sys));
	/* all 512 of its frames are allocatable, and then nothing is */
	page_put(p);
	assert_int_equal(page_alloc_bulk(sys, HPAGE_NR, rest), HPAGE_NR);
	for (i = 0; i < HPAGE_NR; i++)
		assert_true(rest[i]->pfn >= base && rest[i]->pfn < base + HPAGE_NR);
	assert_null(page_alloc(sys));
	for (i = 0; i < HPAGE_NR; i++)
		page_put(rest[i]);
	for (i = 0; i < n; i++)
		page_put(small[i]);
	page_put(h[0]);
	page_put(h[1]);
	assert_int_equal(used_pages(sys), 1);
	uhmm_system_destroy(sys);
}

/* Once the bottom reaches the floor, blocks are refused; 4 KiB allocation never takes a block's frames. */
static void test_frontiers_meet(void **state)
{
	struct uhmm_system *sys = sys_with_ram(SMALL_RAM);
	struct uhmm_page *small[1024], *h;
	unsigned long n;

	(void)state;
	n = page_alloc_bulk(sys, 1024, small);	/* pfn 1..1024: past the third block's floor */
	assert_int_equal(n, 1024);
	h = page_alloc_huge(sys);
	assert_non_null(h);
	assert_int_equal(h->pfn, 2048 - HPAGE_NR);
	assert_null(page_alloc_huge(sys));	/* [1024, 1536) minus the bump at 1025 */
	page_put(h);
	for (n = 0; n < 1024; n++)
		page_put(small[n]);
	assert_int_equal(used_pages(sys), 1);
	uhmm_system_destroy(sys);
}

static void test_failure_hooks(void **state)
{
	struct uhmm_system *sys = sys_with_ram(SMALL_RAM);
	struct uhmm_page *p, *h;

	(void)state;
	uhmm_fail_huge_alloc(1);
	assert_null(page_alloc_huge(sys));
	p = page_alloc(sys);	/* 4 KiB allocations go on */
	assert_non_null(p);
	assert_int_equal(used_pages(sys), 2);
	uhmm_fail_huge_alloc(0);
	/* an order-9 allocation is one allocation for uhmm_fail_nth */
	uhmm_fail_nth(1, 0);
	assert_null(page_alloc_huge(sys));
	assert_int_equal(uhmm_fail_count(), 1);
	uhmm_fail_nth(0, 0);
	assert_int_equal(used_pages(sys), 2);
	h = page_alloc_huge(sys);
	assert_non_null(h);
	assert_int_equal(h->pfn, 2048 - HPAGE_NR);	/* the failures carved nothing */
	page_put(h);
	page_put(p);
	uhmm_system_destroy(sys);
}

/* RAM not a multiple of 2 MiB: the frames above the last aligned floor serve the 4 KiB path. */
static void test_unaligned_ram_tail(void **state)
{
	struct uhmm_system *sys = sys_with_ram(SMALL_RAM + 5 * PAGE_SIZE);
	struct uhmm_page *h, *p[5];
	unsigned long i;

	(void)state;
	h = page_alloc_huge(sys);
	assert_non_null(h);
	assert_int_equal(h->pfn, 2048 - HPAGE_NR);
	for (i = 0; i < 5; i++) {
		p[i] = page_alloc(sys);
		assert_non_null(p[i]);
	}
	for (i = 0; i < 5; i++)
		assert_true(p[i]->pfn >= 2048 && p[i]->pfn < 2053);
	for (i = 0; i < 5; i++)
		page_put(p[i]);
	page_put(h);
	assert_int_equal(used_pages(sys), 1);
	uhmm_system_destroy(sys);
}

/* Two threads allocate and free blocks and frames; each frame is written by its owner only. */
struct churn {
	struct uhmm_system *sys;
	unsigned char tag;
	unsigned long huge_ok;
};

static void *churn_thread(void *arg)
{
	struct churn *c = arg;
	int round;

	for (round = 0; round < 200; round++) {
		struct uhmm_page *h = page_alloc_huge(c->sys), *s[64];
		unsigned long n = page_alloc_bulk(c->sys, 64, s), i;

		if (h) {
			memset(page_address(h), c->tag, HPAGE_NR * PAGE_SIZE);
			c->huge_ok++;
		}
		for (i = 0; i < n; i++)
			memset(page_address(s[i]), c->tag, PAGE_SIZE);
		if (h) {
			for (i = 0; i < HPAGE_NR * PAGE_SIZE; i += PAGE_SIZE)
				if (((unsigned char *)page_address(h))[i] != c->tag)
					return (void *)1;
			page_put(h);
		}
		for (i = 0; i < n; i++) {
			if (*(unsigned char *)page_address(s[i]) != c->tag)
				return (void *)1;
			page_put(s[i]);
		}
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct uhmm_system *sys = sys_with_ram(SMALL_RAM);
	struct churn c[2] = { { sys, 1, 0 }, { sys, 2, 0 } };
	pthread_t t[2];
	void *ret;
	int i;

	(void)state;
	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, churn_thread, &c[i]), 0);
	for (i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(t[i], &ret), 0);
		assert_null(ret);
		assert_true(c[i].huge_ok > 0);
	}
	assert_int_equal(used_pages(sys), 1);
	uhmm_system_destroy(sys);
}

static const struct CMUnitTest all_tests[] = {
	cmocka_unit_test(test_block_shape),
	cmocka_unit_test(test_exhaustion_and_reuse),
	cmocka_unit_test(test_small_path_breaks_free_block),
	cmocka_unit_test(test_frontiers_meet),
	cmocka_unit_test(test_failure_hooks),
	cmocka_unit_test(test_unaligned_ram_tail),
	cmocka_unit_test(test_threads),
};

int main(int argc, char **argv)
{
	return testdev_run("test_huge_alloc", all_tests, sizeof(all_tests) / sizeof(all_tests[0]), argc, argv);
}
