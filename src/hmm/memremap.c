/* SPDX-License-Identifier: MIT */
/* memremap.c - device memory regions (ZONE_DEVICE): creating device frames and freeing device pages.
 *
 * Counterpart of mm/memremap.c for DEVICE_PRIVATE and DEVICE_COHERENT. Device
 * pfns start at DEV_PFN_BASE, far above RAM, in 64 Ki-page sections so that
 * pfn_to_page stays O(1). Coherent frames get real bytes (the CPU can map
 * them); private frames have none.
 */
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "internal.h"
#include "lib/trace.h"

/* uhmm's private part of a dev_pagemap. */
struct pgmap_priv {
	struct uhmm_page *pages;
	unsigned char *data;	/* coherent only */
	unsigned long first_section, nr_sections;
	atomic_long in_use;	/* pages with refcount > 0 */
	struct pgmap_priv *next;	/* sys->pgmaps, under sys->dev_lock */
	pthread_mutex_t lock;	/* pairs with idle: memunmap waits for in_use == 0 */
	pthread_cond_t idle;
	atomic_bool dying;
};

int uhmm_memremap_pages(struct uhmm_system *sys, struct uhmm_dev_pagemap *pgmap)
{
	struct pgmap_priv *pv;
	unsigned long i, nsec;

	if (!sys || !pgmap || !pgmap->nr_pages)
		return -EINVAL;
	switch (pgmap->type) {
	case UHMM_MEMORY_DEVICE_PRIVATE:
		if (!pgmap->ops || !pgmap->ops->migrate_to_ram || !pgmap->ops->page_free || !pgmap->owner)
			return -EINVAL;
		break;
	case UHMM_MEMORY_DEVICE_COHERENT:
		if (!pgmap->ops || !pgmap->ops->page_free || !pgmap->owner)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	if (pgmap->nr_pages > (DEV_NR_SECTIONS / 4UL) << DEV_SECTION_SHIFT)
		return -EINVAL;
	nsec = (pgmap->nr_pages + (1UL << DEV_SECTION_SHIFT) - 1) >> DEV_SECTION_SHIFT;
	pv = uhmm_calloc(1, sizeof(*pv));
	if (!pv)
		return -ENOMEM;
	pv->pages = uhmm_mmap_reserve(pgmap->nr_pages * sizeof(struct uhmm_page));
	if (pv->pages == MAP_FAILED)
		goto fail_pv;
	if (pgmap->type == UHMM_MEMORY_DEVICE_COHERENT) {
		pv->data = uhmm_mmap_reserve(pgmap->nr_pages * PAGE_SIZE);
		if (pv->data == MAP_FAILED)
			goto fail_pages;
	}
	CHECK_PTHREAD(pthread_mutex_init(&pv->lock, NULL));
	CHECK_PTHREAD(pthread_cond_init(&pv->idle, NULL));

	CHECK_PTHREAD(pthread_mutex_lock(&sys->dev_lock));
	/* a fresh pfn range each time: pfns of an unmapped region are never reused */
	if (sys->dev_next_section + nsec > DEV_NR_SECTIONS) {
		CHECK_PTHREAD(pthread_mutex_unlock(&sys->dev_lock));
		goto fail_data;
	}
	pv->first_section = sys->dev_next_section;
	pv->nr_sections = nsec;
	sys->dev_next_section += nsec;
	pgmap->pfn_first = DEV_PFN_BASE + (pv->first_section << DEV_SECTION_SHIFT);
	pgmap->sys = sys;
	pgmap->priv_ = pv;
	for (i = 0; i < pgmap->nr_pages; i++) {
		struct uhmm_page *p = &pv->pages[i];

		p->pfn = pgmap->pfn_first + i;
		p->sys = sys;
		p->pgmap = pgmap;
		p->addr = pv->data ? pv->data + i * PAGE_SIZE : NULL;
		atomic_store_explicit(&p->flags, PG_ZONE_DEVICE, memory_order_relaxed);
	}
	pv->next = sys->pgmaps;
	sys->pgmaps = pv;
	for (i = 0; i < nsec; i++)
		/* release pairs with the acquire in pfn_to_page */
		atomic_store_explicit(&sys->sections[pv->first_section + i], pv->pages + (i << DEV_SECTION_SHIFT),
				      memory_order_release);
	CHECK_PTHREAD(pthread_mutex_unlock(&sys->dev_lock));
	atomic_fetch_add(&sys->dev_pages, (long)pgmap->nr_pages);
	return 0;

fail_data:
	pthread_mutex_destroy(&pv->lock);
	pthread_cond_destroy(&pv->idle);
	if (pv->data)
		munmap(pv->data, pgmap->nr_pages * PAGE_SIZE);
fail_pages:
	munmap(pv->pages, pgmap->nr_pages * sizeof(struct uhmm_page));
fail_pv:
	free(pv);
	return -ENOMEM;
}

void uhmm_memunmap_pages(struct uhmm_dev_pagemap *pgmap)
{
	struct pgmap_priv *pv, **pp;
	struct uhmm_system *sys;
	unsigned long i;

	if (!pgmap || !pgmap->priv_)
		return;
	pv = pgmap->priv_;
	sys = pgmap->sys;
	atomic_store(&pv->dying, true);
	CHECK_PTHREAD(pthread_mutex_lock(&pv->lock));
	while (atomic_load(&pv->in_use) > 0)
		CHECK_PTHREAD(pthread_cond_wait(&pv->idle, &pv->lock));
	CHECK_PTHREAD(pthread_mutex_unlock(&pv->lock));
	CHECK_PTHREAD(pthread_mutex_lock(&sys->dev_lock));
	for (pp = &sys->pgmaps; *pp != pv; pp = &(*pp)->next)
		;
	*pp = pv->next;
	for (i = 0; i < pv->nr_sections; i++)
		atomic_store_explicit(&sys->sections[pv->first_section + i], NULL, memory_order_release);
	CHECK_PTHREAD(pthread_mutex_unlock(&sys->dev_lock));
	atomic_fetch_sub(&sys->dev_pages, (long)pgmap->nr_pages);
	pthread_mutex_destroy(&pv->lock);
	pthread_cond_destroy(&pv->idle);
	if (pv->data)
		munmap(pv->data, pgmap->nr_pages * PAGE_SIZE);
	munmap(pv->pages, pgmap->nr_pages * sizeof(struct uhmm_page));
	free(pv);
	pgmap->priv_ = NULL;
}

void uhmm_zone_device_page_init(struct uhmm_page *page)
{
	struct pgmap_priv *pv;

	/* checked before page->pgmap is followed: a RAM page has none */
	if (unlikely(!page || !page_is_device(page)))
		UHMM_BUG("uhmm_zone_device_page_init of a page that is not a device page");
	if (unlikely(atomic_load(&page->refcount) != 0))
		UHMM_BUG("uhmm_zone_device_page_init of a device page that is in use (refcount %d, not 0)",
			 atomic_load(&page->refcount));
	pv = page->pgmap->priv_;
	UHMM_WARN_ON(atomic_load(&pv->dying));
	page->mapping = NULL;
	page->index = 0;
	/* relaxed: nobody can reach the page until the release store of its refcount */
	atomic_store_explicit(&page->mapcount, 0, memory_order_relaxed);
	atomic_store_explicit(&page->pincount, 0, memory_order_relaxed);
	/* per pgmap only: a system-wide counter would be one more shared line per page */
	if (trace_on())
		trace_counter("device_pages_in_use", atomic_fetch_add(&pv->in_use, 1) + 1, page->pgmap->owner);
	else
		atomic_fetch_add(&pv->in_use, 1);
	/*
	 * Locked for the migration it is about to join, before the refcount
	 * makes it reachable: a pfn walker (migrate_device_range) that takes a
	 * reference the moment it is 1 must find it locked, not lock it first.
	 * A fresh page nobody can see: no lock-order hazard, so lockdep does not
	 * count it (page_unlock's release of an uncounted page lock is harmless).
	 */
	UHMM_BUG_ON(atomic_fetch_or_explicit(&page->flags, PG_LOCKED, memory_order_relaxed) & PG_LOCKED);
	atomic_store_explicit(&page->refcount, 1, memory_order_release);
}

/* Subtract @n from *v unless that would take it to 0. Release: pairs with memunmap's load. */
static bool in_use_sub_unless_last(atomic_long *v, long n)
{
	long old = atomic_load_explicit(v, memory_order_relaxed);

	while (old > n)
		if (atomic_compare_exchange_weak_explicit(v, &old, old - n, memory_order_release,
							  memory_order_relaxed))
			return true;
	return false;
}

/* @n pages of @pgmap went back to its driver: count them out of in_use. */
static void pgmap_pages_freed(struct uhmm_dev_pagemap *pgmap, long n)
{
	struct pgmap_priv *pv = pgmap->priv_;

	if (trace_on())
		trace_counter("device_pages_in_use", atomic_load(&pv->in_use) - n, pgmap->owner);
	/*
	 * The last page out makes in_use 0 under pv->lock: memunmap checks in_use
	 * under that lock and then frees pv, so this thread must be done with pv
	 * (the dying test, the broadcast) before memunmap can see 0. Any other
	 * page only decrements, leaving in_use > 0, and never touches pv again.
	 */
	if (!in_use_sub_unless_last(&pv->in_use, n)) {
		CHECK_PTHREAD(pthread_mutex_lock(&pv->lock));
		if (atomic_fetch_sub(&pv->in_use, n) == n && atomic_load(&pv->dying))
			CHECK_PTHREAD(pthread_cond_broadcast(&pv->idle));
		CHECK_PTHREAD(pthread_mutex_unlock(&pv->lock));
	}
}

/*
 * refcount reached 0: hand the page back to its driver, as
 * free_zone_device_page. Returns the anon family whose reference the page
 * held (NULL if none): the caller drops it, after the page_free call.
 *
 * A device page holds a reference on its anon family while page->mapping is
 * set (taken in migrate_device.c): eviction by physical range
 * (migrate_device_range) runs without any mmap lock and may follow
 * page->mapping of a page whose last mapping, and with it the last VMA of the
 * family, went away meanwhile (Linux: rmap walkers without mmap_lock must
 * hold a reference keeping the anon_vma alive). A stale mapping would also
 * mislead the next migration that uses this page.
 */
static struct uhmm_mapping *device_page_release(struct uhmm_page *p)
{
	struct uhmm_mapping *map = p->mapping;

	UHMM_BUG_ON(atomic_load(&p->mapcount) != 0);
	page_clear_flag(p, PG_ANON | PG_ANON_EXCLUSIVE | PG_DIRTY);
	p->mapping = NULL;
	p->pgmap->ops->page_free(p);
	return map;
}

void page_free_device(struct uhmm_page *p)
{
	struct uhmm_dev_pagemap *pgmap = p->pgmap;
	struct uhmm_mapping *map = device_page_release(p);

	if (map)
		mapping_put(map);
	pgmap_pages_freed(pgmap, 1);
}

/*
 * As page_free_device, with the family reference and the in_use count left
 * in @b while consecutive pages share them (a batch's pages do): one atomic
 * each per run instead of per page, at page_free_batch_flush.
 */
void page_free_device_batched(struct uhmm_page *p, struct page_free_batch *b)
{
	struct uhmm_dev_pagemap *pgmap = p->pgmap;
	struct uhmm_mapping *map;

	if (pgmap != b->pgmap) {
		page_free_batch_flush_device(b);
		b->pgmap = pgmap;
	}
	map = device_page_release(p);
	b->pgmap_pages++;
	if (!map)
		return;
	if (map != b->map) {
		if (b->map)
			mapping_put_many(b->map, b->map_refs);
		b->map = map;
		b->map_refs = 0;
	}
	b->map_refs++;
}

void page_free_batch_flush_device(struct page_free_batch *b)
{
	if (b->map)
		mapping_put_many(b->map, b->map_refs);
	if (b->pgmap_pages)
		pgmap_pages_freed(b->pgmap, b->pgmap_pages);
	b->map = NULL;
	b->map_refs = 0;
	b->pgmap = NULL;
	b->pgmap_pages = 0;
}

/* Device pages in use in every region of @sys (uhmm_system_get_stats). */
long memremap_pages_in_use(struct uhmm_system *sys)
{
	struct pgmap_priv *pv;
	long n = 0;

	CHECK_PTHREAD(pthread_mutex_lock(&sys->dev_lock));
	for (pv = sys->pgmaps; pv; pv = pv->next)
		n += atomic_load(&pv->in_use);
	CHECK_PTHREAD(pthread_mutex_unlock(&sys->dev_lock));
	return n;
}

bool uhmm_is_zone_device_page(const struct uhmm_page *page) { return page && page_is_device(page); }
bool uhmm_is_device_private_page(const struct uhmm_page *page) { return page && page_is_device_private(page); }
bool uhmm_is_device_coherent_page(const struct uhmm_page *page) { return page && page_is_device_coherent(page); }
struct uhmm_dev_pagemap *uhmm_page_pgmap(const struct uhmm_page *page) { return page ? page->pgmap : NULL; }
void *uhmm_page_zone_device_data(const struct uhmm_page *page) { return page->zone_device_data; }
void uhmm_page_set_zone_device_data(struct uhmm_page *page, void *data) { page->zone_device_data = data; }
