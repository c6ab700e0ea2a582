/* SPDX-License-Identifier: MIT */
/* page_alloc.c - the simulated machine's RAM: frames, their struct uhmm_page, allocation.
 *
 * Counterpart of mm/page_alloc.c and the zero page. RAM is one reservation
 * (MAP_NORESERVE) touched lazily. Free frames sit on sharded free lists so
 * faulting threads do not share one lock; never-used frames come from a bump
 * pointer. No per-page malloc. Left out: zones, NUMA, reclaim, swap.
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

#define DEFAULT_RAM (256UL << 20)
#define MIN_RAM_PAGES 16UL
#define MAX_RAM (64UL << 30)

static unsigned shard_of_thread(void)
{
	static _Thread_local unsigned shard_plus_one;
	static atomic_uint next;

	if (!shard_plus_one)
		shard_plus_one = atomic_fetch_add_explicit(&next, 1, memory_order_relaxed) % NR_FREE_SHARDS + 1;
	return shard_plus_one - 1;
}

static long ram_used(struct uhmm_system *sys)
{
	long n = 0;
	unsigned i;

	for (i = 0; i < NR_FREE_SHARDS; i++)
		n += atomic_load_explicit(&sys->shards[i].nr_used, memory_order_relaxed);
	return n;
}

int uhmm_system_create(const struct uhmm_system_opts *opts, struct uhmm_system **out)
{
	size_t ram = opts && opts->ram_bytes ? opts->ram_bytes : DEFAULT_RAM;
	struct uhmm_system *sys;
	unsigned long i, floor;

	if (!out)
		return -EINVAL;
	ram &= PAGE_MASK;
	if (ram / PAGE_SIZE < MIN_RAM_PAGES || ram > MAX_RAM)
		return -EINVAL;
	if (opts && (opts->thp < UHMM_THP_MADVISE || opts->thp > UHMM_THP_NEVER))
		return -EINVAL;
	sys = uhmm_calloc(1, sizeof(*sys));
	if (!sys)
		return -ENOMEM;
	sys->nr_ram = ram / PAGE_SIZE;
	sys->thp = opts ? opts->thp : UHMM_THP_MADVISE;
	sys->ram = uhmm_mmap_reserve(ram);
	if (sys->ram == MAP_FAILED)
		goto fail_sys;
	/* struct pages are touched at init; 72 bytes a frame is small next to the frame. */
	sys->pages = uhmm_mmap_reserve(sys->nr_ram * sizeof(struct uhmm_page));
	if (sys->pages == MAP_FAILED)
		goto fail_ram;
	sys->sections = uhmm_calloc(DEV_NR_SECTIONS, sizeof(*sys->sections));
	if (!sys->sections)
		goto fail_pages;
	for (i = 0; i < sys->nr_ram; i++) {
		struct uhmm_page *p = &sys->pages[i];

		p->pfn = i;
		p->sys = sys;
		p->addr = sys->ram + (i << PAGE_SHIFT);
	}
	for (i = 0; i < NR_FREE_SHARDS; i++)
		CHECK_PTHREAD(pthread_mutex_init(&sys->shards[i].lock, NULL));
	for (i = 0; i < PAGE_WAIT_BUCKETS; i++) {
		CHECK_PTHREAD(pthread_mutex_init(&sys->waitq[i].lock, NULL));
		CHECK_PTHREAD(pthread_cond_init(&sys->waitq[i].cond, NULL));
	}
	CHECK_PTHREAD(pthread_mutex_init(&sys->dev_lock, NULL));
	CHECK_PTHREAD(pthread_mutex_init(&sys->huge_lock, NULL));
	/* pfn 0 is the shared zero page: never freed, never written. */
	sys->zero_page = &sys->pages[0];
	atomic_store(&sys->zero_page->refcount, 1);
	atomic_store(&sys->zero_page->flags, PG_ZERO);
	/* 2 MiB blocks are carved below a 512-aligned floor; the frames above it go to the 4 KiB free list */
	floor = UHMM_MAX(sys->nr_ram & ~(HPAGE_NR - 1), 1UL);
	atomic_store(&sys->frontier, frontier_make(1, floor));
	for (i = sys->nr_ram; i-- > floor;) {
		sys->pages[i].free_next = sys->shards[0].head;
		sys->shards[0].head = &sys->pages[i];
		sys->shards[0].count++;
	}
	atomic_store(&sys->shards[0].nr_used, 1);	/* the zero page */
	*out = sys;
	return 0;

fail_pages:
	munmap(sys->pages, sys->nr_ram * sizeof(struct uhmm_page));
fail_ram:
	munmap(sys->ram, ram);
fail_sys:
	free(sys);
	return -ENOMEM;
}

void uhmm_system_destroy(struct uhmm_system *sys)
{
	unsigned long i;

	if (!sys)
		return;
	if (atomic_load(&sys->nr_mms))
		fprintf(stderr, "uhmm: system destroyed with %ld address spaces alive\n", atomic_load(&sys->nr_mms));
	if (ram_used(sys) != 1)
		fprintf(stderr, "uhmm: system destroyed with %ld RAM pages in use\n", ram_used(sys) - 1);
	if (atomic_load(&sys->dev_pages))
		fprintf(stderr, "uhmm: system destroyed with %ld device pages registered\n", atomic_load(&sys->dev_pages));
	for (i = 0; i < NR_FREE_SHARDS; i++)
		pthread_mutex_destroy(&sys->shards[i].lock);
	for (i = 0; i < PAGE_WAIT_BUCKETS; i++) {
		pthread_mutex_destroy(&sys->waitq[i].lock);
		pthread_cond_destroy(&sys->waitq[i].cond);
	}
	pthread_mutex_destroy(&sys->dev_lock);
	pthread_mutex_destroy(&sys->huge_lock);
	free(sys->sections);
	munmap(sys->pages, sys->nr_ram * sizeof(struct uhmm_page));
	munmap(sys->ram, sys->nr_ram * PAGE_SIZE);
	free(sys);
}

int uhmm_system_get_stats(struct uhmm_system *sys, struct uhmm_system_stats *st)
{
	if (!sys || !st)
		return -EINVAL;
	st->ram_pages = sys->nr_ram;
	st->used_pages = (unsigned long)ram_used(sys);
	st->free_pages = sys->nr_ram - st->used_pages;
	st->device_pages = atomic_load(&sys->dev_pages);
	st->device_pages_used = (unsigned long)memremap_pages_in_use(sys);
	return 0;
}

/* A fresh frame handed out: the fields a free frame may hold stale. */
static void page_init_allocated(struct uhmm_page *p)
{
	p->free_next = NULL;
	p->mapping = NULL;
	p->index = 0;
	atomic_store_explicit(&p->flags, 0, memory_order_relaxed);
	atomic_store_explicit(&p->mapcount, 0, memory_order_relaxed);
	atomic_store_explicit(&p->pincount, 0, memory_order_relaxed);
	atomic_store_explicit(&p->refcount, 1, memory_order_release);
}


/* Up to @nr frames off shard @s in one lock hold, in list order. */
static unsigned long shard_pop_many(struct uhmm_free_shard *s, struct uhmm_page **pages, unsigned long nr)
{
	unsigned long n = 0;

	CHECK_PTHREAD(pthread_mutex_lock(&s->lock));
	while (n < nr && s->head) {
		pages[n++] = s->head;
		s->head = s->head->free_next;
	}
	s->count -= n;
	CHECK_PTHREAD(pthread_mutex_unlock(&s->lock));
	return n;
}

/*
 * As page_alloc, @nr times, for one lock hold per shard and one counter
 * update instead of one each per page (Linux: alloc_pages_bulk). Each page
 * is one allocation for the failure hook, so an armed hook fails the Nth
 * page and the call returns the pages before it.
 */
unsigned long page_alloc_bulk(struct uhmm_system *sys, unsigned long nr, struct uhmm_page **pages)
{
	unsigned me = shard_of_thread();
	unsigned long n, i, want = nr;
	unsigned k;

	for (i = 0; i < nr; i++)
		if (uhmm_should_fail_alloc()) {
			want = i;
			break;
		}
	n = shard_pop_many(&sys->shards[me], pages, want);
	if (n < want) {
		/* never-used frames below the 2 MiB blocks' floor (huge_alloc.c) */
		unsigned long f = atomic_load_explicit(&sys->frontier, memory_order_relaxed), pfn, take;

		do {
			pfn = frontier_bump(f);
			take = UHMM_MIN(want - n, frontier_floor(f) - pfn);
		} while (take && !atomic_compare_exchange_weak_explicit(&sys->frontier, &f, f + take,
									memory_order_relaxed, memory_order_relaxed));
		for (i = 0; i < take; i++)
			pages[n++] = &sys->pages[pfn + i];
	}
	for (k = 1; n < want && k < NR_FREE_SHARDS; k++)
		n += shard_pop_many(&sys->shards[(me + k) % NR_FREE_SHARDS], pages + n, want - n);
	while (n < want) {
		unsigned long got = huge_split_for_small(sys, want - n, pages + n, &sys->shards[me]);

		if (!got)
			break;
		n += got;
	}
	for (i = 0; i < n; i++)
		page_init_allocated(pages[i]);
	if (n)
		atomic_fetch_add_explicit(&sys->shards[me].nr_used, (long)n, memory_order_relaxed);
	return n;
}

struct uhmm_page *page_alloc(struct uhmm_system *sys)
{
	struct uhmm_page *p;

	return page_alloc_bulk(sys, 1, &p) ? p : NULL;
}

/* A RAM page whose refcount reached 0 joins @b (page_free_batch_flush returns it). */
static void page_batch_add_ram(struct uhmm_page *p, struct page_free_batch *b)
{
	UHMM_BUG_ON(atomic_load(&p->mapcount) != 0);
	UHMM_BUG_ON(page_test_flag(p, PG_LOCKED));
	p->mapping = NULL;
	/* last freed, first reused (as the per-page free list): the hottest frame */
	p->free_next = b->head;
	if (!b->head)
		b->tail = p;
	b->head = p;
	b->count++;
}

void page_free_ram(struct uhmm_page *p)
{
	struct page_free_batch b = PAGE_FREE_BATCH_INIT;

	page_batch_add_ram(p, &b);
	page_free_batch_flush(p->sys, &b);
}

/* Drop a reference; true when it was the last one and the caller frees @p. */
static bool page_ref_dec_is_last(struct uhmm_page *p)
{
	/* acq_rel: the freeing thread must see every write made under earlier references. */
	int old = atomic_fetch_sub_explicit(&p->refcount, 1, memory_order_acq_rel);

	if (unlikely(old <= 0))
		UHMM_BUG("put of a page whose refcount is already %d (pfn %#lx): more puts than gets", old, p->pfn);
	if (old != 1)
		return false;
	UHMM_BUG_ON(page_is_zero(p));
	return true;
}

/*
 * page_put for a loop that drops many last references (migration finalize):
 * freed RAM pages gather in @b and go back to this thread's shard in one lock
 * hold at page_free_batch_flush, instead of a lock pair and a counter update
 * each. Device pages go back to their driver at once (page_free is per page),
 * but the family references and in_use counts they release are summed in @b
 * (page_free_device_batched).
 */
void page_put_batched(struct uhmm_page *p, struct page_free_batch *b)
{
	if (!page_ref_dec_is_last(p))
		return;
	if (unlikely(atomic_load_explicit(&p->flags, memory_order_relaxed) & PG_HEAD))
		page_free_huge(p);
	else if (page_is_device(p))
		page_free_device_batched(p, b);
	else
		page_batch_add_ram(p, b);
}

void page_free_batch_flush(struct uhmm_system *sys, struct page_free_batch *b)
{
	struct uhmm_free_shard *s = &sys->shards[shard_of_thread()];

	page_free_batch_flush_device(b);
	if (!b->count)
		return;
	CHECK_PTHREAD(pthread_mutex_lock(&s->lock));
	b->tail->free_next = s->head;
	s->head = b->head;
	s->count += b->count;
	CHECK_PTHREAD(pthread_mutex_unlock(&s->lock));
	atomic_fetch_sub_explicit(&s->nr_used, (long)b->count, memory_order_relaxed);
	b->head = b->tail = NULL;
	b->count = 0;
}

void page_get(struct uhmm_page *p)
{
	int old = atomic_fetch_add_explicit(&p->refcount, 1, memory_order_relaxed);

	if (unlikely(old <= 0))
		UHMM_BUG("get of a free page (pfn %#lx, refcount was %d): take references only on pages you hold",
			 p->pfn, old);
}

bool page_get_unless_zero(struct uhmm_page *p)
{
	int old = atomic_load_explicit(&p->refcount, memory_order_relaxed);

	while (old > 0)
		if (atomic_compare_exchange_weak_explicit(&p->refcount, &old, old + 1, memory_order_acquire,
							  memory_order_relaxed))
			return true;
	return false;
}

void page_put(struct uhmm_page *p)
{
	if (!page_ref_dec_is_last(p))
		return;
	if (unlikely(atomic_load_explicit(&p->flags, memory_order_relaxed) & PG_HEAD))
		page_free_huge(p);
	else if (page_is_device(p))
		page_free_device(p);
	else
		page_free_ram(p);
}

void page_copy(struct uhmm_page *dst, struct uhmm_page *src)
{
	UHMM_BUG_ON(!dst->addr || !src->addr);
	memcpy(dst->addr, src->addr, PAGE_SIZE);
}

struct uhmm_page *pfn_to_page(struct uhmm_system *sys, unsigned long pfn)
{
	struct uhmm_page *base;

	if (pfn < sys->nr_ram)
		return &sys->pages[pfn];
	if (pfn < DEV_PFN_BASE || ((pfn - DEV_PFN_BASE) >> DEV_SECTION_SHIFT) >= DEV_NR_SECTIONS)
		return NULL;
	/* acquire pairs with the release store in memremap: the page structs are initialised. */
	base = atomic_load_explicit(&sys->sections[(pfn - DEV_PFN_BASE) >> DEV_SECTION_SHIFT], memory_order_acquire);
	if (!base)
		return NULL;
	/* a region's last section is only partly backed: bound by the region, never read past it */
	if (pfn - base->pgmap->pfn_first >= base->pgmap->nr_pages)
		return NULL;
	base += (pfn - DEV_PFN_BASE) & ((1UL << DEV_SECTION_SHIFT) - 1);
	return base->pfn == pfn ? base : NULL;
}

/* ---------------------------------------------------------- page lock */
static struct uhmm_page_waitq *page_waitq(struct uhmm_page *p)
{
	return &p->sys->waitq[(p->pfn * 0x9E3779B97F4A7C15ULL) >> 56 & (PAGE_WAIT_BUCKETS - 1)];
}

bool page_trylock(struct uhmm_page *p)
{
	/* Not tracked by lockdep: a trylock never waits, and migration batches
	 * hold hundreds of these across API calls (see page_lock). */
	return !(atomic_fetch_or_explicit(&p->flags, PG_LOCKED, memory_order_acquire) & PG_LOCKED);
}

/*
 * Sleep until @p is unlocked. PG_WAITERS is set under the bucket lock before
 * re-testing PG_LOCKED; unlock clears PG_LOCKED and reads PG_WAITERS in one
 * atomic, so either the waiter sees the page unlocked or the unlocker sees
 * the waiter and broadcasts under the bucket lock (which the waiter holds
 * until pthread_cond_wait releases it).
 */
void page_wait_unlocked(struct uhmm_page *p)
{
	struct uhmm_page_waitq *wq = page_waitq(p);

	CHECK_PTHREAD(pthread_mutex_lock(&wq->lock));
	while (atomic_fetch_or(&p->flags, PG_WAITERS) & PG_LOCKED)
		CHECK_PTHREAD(pthread_cond_wait(&wq->cond, &wq->lock));
	CHECK_PTHREAD(pthread_mutex_unlock(&wq->lock));
}

/*
 * migration_entry_wait_on_locked, as the kernel's: wait for a migrating page
 * without taking a reference. A sleeper's reference would make the page look
 * pinned to the migration's reference check, which then gives up on it. No
 * reference is needed: while the PTL is held and the migration entry is in
 * place the migration holds the page; we join the wait queue (PG_WAITERS set
 * under the bucket lock, which nests inside the PTL) before dropping the PTL,
 * and after waking we never touch @p again, since by then it may be freed (a
 * device page's pgmap even unmapped). So one wakeup, spurious or another
 * page's, ends the wait and the caller retries the access.
 */
void migration_entry_wait_on_locked(struct uhmm_page *p, struct pt_leaf *leaf)
{
	struct uhmm_page_waitq *wq = page_waitq(p);

	CHECK_PTHREAD(pthread_mutex_lock(&wq->lock));
	if (!(atomic_fetch_or(&p->flags, PG_WAITERS) & PG_LOCKED)) {
		CHECK_PTHREAD(pthread_mutex_unlock(&wq->lock));
		ptl_unlock(leaf);
		return;
	}
	ptl_unlock(leaf);
	/* PG_WAITERS is set and we hold the bucket lock: page_unlock's broadcast cannot be missed */
	CHECK_PTHREAD(pthread_cond_wait(&wq->cond, &wq->lock));
	CHECK_PTHREAD(pthread_mutex_unlock(&wq->lock));
}

/*
 * Blocking page lock. lockdep checks the order (inside mmap_lock, outside the
 * mapping lock, the notifier lock and the PTL) and counts it until unlock;
 * page locks taken by trylock or by drivers through uhmm_lock_page (fresh
 * destination pages) are not counted, so lockdep cannot tell a migration
 * batch's pages from a page lock held across an mmap_lock acquisition.
 */
void page_lock(struct uhmm_page *p)
{
	lockdep_acquire(LR_PAGE, false, __FILE__, __LINE__);
	while (!page_trylock(p))
		page_wait_unlocked(p);
}

void page_unlock(struct uhmm_page *p)
{
	unsigned old = atomic_fetch_and_explicit(&p->flags, ~(unsigned)(PG_LOCKED | PG_WAITERS), memory_order_release);

	if (unlikely(!(old & PG_LOCKED)))
		UHMM_BUG("unlock of a page that is not locked (pfn %#lx)", p->pfn);
	lockdep_release(LR_PAGE);
	if (old & PG_WAITERS) {
		struct uhmm_page_waitq *wq = page_waitq(p);

		CHECK_PTHREAD(pthread_mutex_lock(&wq->lock));
		CHECK_PTHREAD(pthread_cond_broadcast(&wq->cond));
		CHECK_PTHREAD(pthread_mutex_unlock(&wq->lock));
	}
}

/* ------------------------------------------------------ public accessors */
struct uhmm_page *uhmm_alloc_page(struct uhmm_system *sys)
{
	return sys ? page_alloc(sys) : NULL;
}

unsigned long uhmm_alloc_pages_bulk(struct uhmm_system *sys, unsigned long nr, struct uhmm_page **pages)
{
	return sys && pages ? page_alloc_bulk(sys, nr, pages) : 0;
}
/*
 * A frame inside a huge page has no references of its own (uhmm keeps them
 * on the head and splits the page before handing out a base page): say so,
 * rather than report a get of a free page.
 */
void uhmm_get_page(struct uhmm_page *page)
{
	if (unlikely(page_is_tail(page)))
		UHMM_BUG("uhmm_get_page on frame %#lx inside a huge page: take the reference on its head (pfn %#lx), "
			 "or pin the page (uhmm_pin_user_pages splits it first)", page->pfn, page->pfn & ~(HPAGE_NR - 1));
	page_get(page);
}
void uhmm_put_page(struct uhmm_page *page) { page_put(page); }
int uhmm_page_refcount(const struct uhmm_page *page) { return atomic_load(&((struct uhmm_page *)page)->refcount); }
int uhmm_page_mapcount(const struct uhmm_page *page) { return atomic_load(&((struct uhmm_page *)page)->mapcount); }
void uhmm_lock_page(struct uhmm_page *page)
{
	while (!page_trylock(page))
		page_wait_unlocked(page);
}
bool uhmm_trylock_page(struct uhmm_page *page) { return page_trylock(page); }
void uhmm_unlock_page(struct uhmm_page *page) { page_unlock(page); }
bool uhmm_page_locked(const struct uhmm_page *page) { return page_test_flag(page, PG_LOCKED); }
unsigned long uhmm_page_to_pfn(const struct uhmm_page *page) { return page->pfn; }
struct uhmm_page *uhmm_pfn_to_page(struct uhmm_system *sys, unsigned long pfn) { return pfn_to_page(sys, pfn); }
void *uhmm_page_address(const struct uhmm_page *page) { return page_address(page); }
bool uhmm_is_zero_page(const struct uhmm_page *page) { return page && page_is_zero(page); }
