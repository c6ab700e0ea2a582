/* SPDX-License-Identifier: MIT */
/* huge_alloc.c - 2 MiB blocks of RAM (order 9) for transparent huge pages.
 *
 * Counterpart of the order-9 side of mm/page_alloc.c. Instead of a buddy
 * allocator, RAM is used from both ends: 4 KiB frames from the bottom, 2 MiB
 * blocks carved from the top, 512-aligned (so a block's frames are
 * physically contiguous and its pfn 2 MiB aligned). A freed block returns
 * whole to the block list; a freed 4 KiB frame returns to the 4 KiB free
 * lists. So the 4 KiB path never fragments a block it did not need: only when
 * it has nothing left does it break a free block into 512 frames, which then
 * stay 4 KiB frames (Linux would merge them back; uhmm does not compact).
 * When no block is free and the two ends have met, page_alloc_huge fails and
 * the caller falls back to 4 KiB pages, as Linux's THP fault does.
 */
#include "internal.h"

#define FRONTIER_SHIFT 32

unsigned long frontier_bump(unsigned long f) { return f & ((1UL << FRONTIER_SHIFT) - 1); }
unsigned long frontier_floor(unsigned long f) { return f >> FRONTIER_SHIFT; }
unsigned long frontier_make(unsigned long bump, unsigned long floor) { return bump | floor << FRONTIER_SHIFT; }

/* Fail every order-9 allocation while set, whatever uhmm_fail_nth says (tests). */
static atomic_int fail_huge;

void uhmm_fail_huge_alloc(int fail)
{
	atomic_store(&fail_huge, !!fail);
}

/* Take the 2 MiB block just below the floor, if the bump has not reached it. */
static struct uhmm_page *huge_carve(struct uhmm_system *sys)
{
	unsigned long f = atomic_load_explicit(&sys->frontier, memory_order_relaxed), floor;

	do {
		floor = frontier_floor(f);
		if (floor < HPAGE_NR || floor - HPAGE_NR < frontier_bump(f))
			return NULL;
	} while (!atomic_compare_exchange_weak_explicit(&sys->frontier, &f, frontier_make(frontier_bump(f), floor - HPAGE_NR),
							memory_order_relaxed, memory_order_relaxed));
	return &sys->pages[floor - HPAGE_NR];
}

static struct uhmm_page *huge_pop(struct uhmm_system *sys)
{
	struct uhmm_page *head;

	CHECK_PTHREAD(pthread_mutex_lock(&sys->huge_lock));
	head = sys->huge_free;
	if (head) {
		sys->huge_free = head->free_next;
		sys->nr_huge_free--;
	}
	CHECK_PTHREAD(pthread_mutex_unlock(&sys->huge_lock));
	return head;
}

static void frame_init(struct uhmm_page *p, int refcount, unsigned flags)
{
	p->free_next = NULL;
	p->mapping = NULL;
	p->index = 0;
	atomic_store_explicit(&p->flags, flags, memory_order_relaxed);
	atomic_store_explicit(&p->mapcount, 0, memory_order_relaxed);
	atomic_store_explicit(&p->pincount, 0, memory_order_relaxed);
	atomic_store_explicit(&p->refcount, refcount, memory_order_release);
}

struct uhmm_page *page_alloc_huge(struct uhmm_system *sys)
{
	struct uhmm_page *head;
	unsigned long i;

	if (atomic_load_explicit(&fail_huge, memory_order_relaxed) || uhmm_should_fail_alloc())
		return NULL;
	/* a freed block first: carving eats into what the 4 KiB path can still get */
	head = huge_pop(sys);
	if (!head)
		head = huge_carve(sys);
	if (!head)
		return NULL;
	for (i = 1; i < HPAGE_NR; i++)
		frame_init(&head[i], 0, PG_TAIL);
	frame_init(head, 1, PG_HEAD);
	atomic_fetch_add_explicit(&sys->shards[0].nr_used, (long)HPAGE_NR, memory_order_relaxed);
	return head;
}

void page_free_huge(struct uhmm_page *head)
{
	struct uhmm_system *sys = head->sys;

	UHMM_BUG_ON(!page_test_flag(head, PG_HEAD) || head->pfn % HPAGE_NR);
	UHMM_BUG_ON(atomic_load(&head->mapcount) != 0);
	UHMM_BUG_ON(page_test_flag(head, PG_LOCKED));
	page_clear_flag(head, PG_HEAD);
	head->mapping = NULL;
	CHECK_PTHREAD(pthread_mutex_lock(&sys->huge_lock));
	head->free_next = sys->huge_free;
	sys->huge_free = head;
	sys->nr_huge_free++;
	CHECK_PTHREAD(pthread_mutex_unlock(&sys->huge_lock));
	atomic_fetch_sub_explicit(&sys->shards[0].nr_used, (long)HPAGE_NR, memory_order_relaxed);
}

/*
 * The 4 KiB path found no free frame: break one free block. Up to @nr of its
 * frames go to @pages (the caller initialises and accounts them), the rest to
 * the free list @rest.
 */
unsigned long huge_split_for_small(struct uhmm_system *sys, unsigned long nr, struct uhmm_page **pages,
				   struct uhmm_free_shard *rest)
{
	struct uhmm_page *head = huge_pop(sys);
	unsigned long i, n;

	if (!head)
		return 0;
	n = UHMM_MIN(nr, HPAGE_NR);
	for (i = 0; i < n; i++)
		pages[i] = &head[i];
	if (n == HPAGE_NR)
		return n;
	for (i = n; i + 1 < HPAGE_NR; i++)
		head[i].free_next = &head[i + 1];
	CHECK_PTHREAD(pthread_mutex_lock(&rest->lock));
	head[HPAGE_NR - 1].free_next = rest->head;
	rest->head = &head[n];
	rest->count += HPAGE_NR - n;
	CHECK_PTHREAD(pthread_mutex_unlock(&rest->lock));
	return n;
}
