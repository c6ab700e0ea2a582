/* SPDX-License-Identifier: MIT */
/* dmirror_devmem.c - dmirror's device memory: chunks of device pages, allocation, free, eviction.
 *
 * Counterpart of the dmirror_allocate_chunk / dmirror_devmem_alloc_page /
 * dmirror_devmem_free / dmirror_device_evict_chunk parts of lib/test_hmm.c.
 * Memory is added one chunk (one dev_pagemap) at a time when no free page is
 * left, up to the device's size. Left out: physical address ranges (uhmm
 * assigns device pfns itself) and large (THP) device folios.
 *
 * Where the bytes are: a device-private page has no CPU-addressable memory,
 * so each allocated private page gets a RAM "backing page" (held in its
 * zone_device_data, freed with it) standing for the device's VRAM. A
 * device-coherent page is CPU-addressable and holds its bytes itself.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dmirror/dmirror_internal.h"

static void lock(pthread_mutex_t *m)
{
	if (pthread_mutex_lock(m))
		abort();
}

static void unlock(pthread_mutex_t *m)
{
	if (pthread_mutex_unlock(m))
		abort();
}

static struct dmirror_chunk *page_chunk(struct uhmm_page *page)
{
	return dmirror_container_of(uhmm_page_pgmap(page), struct dmirror_chunk, pgmap);
}

void *dmirror_page_data(struct uhmm_page *page)
{
	if (uhmm_is_device_private_page(page))
		return uhmm_page_address(uhmm_page_zone_device_data(page));
	return uhmm_page_address(page);
}

/*
 * page_free: the page's last reference is gone (its CPU mapping was zapped,
 * or it was migrated away). No device page table maps it any more: every
 * path that drops a CPU mapping erased the device entries first. Called from
 * anywhere in the core, so only the leaf alloc_lock is taken.
 */
static void dmirror_devmem_free(struct uhmm_page *page)
{
	struct dmirror_chunk *chunk = page_chunk(page);
	struct uhmm_dmirror_device *dev = chunk->dev;
	struct uhmm_page *backing = NULL;

	if (dev->type == UHMM_MEMORY_DEVICE_PRIVATE)
		backing = uhmm_page_zone_device_data(page);
	lock(&dev->alloc_lock);
	chunk->in_use--;
	/* A chunk being evicted keeps its freed pages out of circulation. */
	if (!chunk->removed) {
		uhmm_page_set_zone_device_data(page, chunk->free);
		chunk->free = page;
	} else {
		uhmm_page_set_zone_device_data(page, NULL);
	}
	unlock(&dev->alloc_lock);
	atomic_fetch_sub_explicit(&dev->pages_in_use, 1, memory_order_relaxed);
	if (backing)
		uhmm_put_page(backing);
}

static const struct uhmm_dev_pagemap_ops dmirror_devmem_ops = {
	.page_free = dmirror_devmem_free,
	.migrate_to_ram = dmirror_devmem_fault,
};
/* Coherent memory is mapped by ordinary PTEs: the CPU never faults on it. */
static const struct uhmm_dev_pagemap_ops dmirror_coherent_ops = {
	.page_free = dmirror_devmem_free,
};

int dmirror_devmem_init(struct uhmm_dmirror_device *dev)
{
	dev->chunks = NULL;
	dev->attached_pages = 0;
	dev->nr_chunks = 0;
	if (pthread_mutex_init(&dev->chunk_lock, NULL))
		return -ENOMEM;
	if (pthread_mutex_init(&dev->alloc_lock, NULL)) {
		pthread_mutex_destroy(&dev->chunk_lock);
		return -ENOMEM;
	}
	return 0;
}

/* Take a free page of an attached chunk. alloc_lock held. */
static struct uhmm_page *take_free_page_locked(struct uhmm_dmirror_device *dev)
{
	struct dmirror_chunk *c;

	for (c = dev->chunks; c; c = c->next) {
		struct uhmm_page *page = c->free;

		if (page) {
			c->free = uhmm_page_zone_device_data(page);
		} else if (c->bump < c->pgmap.nr_pages) {
			page = uhmm_pfn_to_page(dev->sys, c->pgmap.pfn_first + c->bump);
			c->bump++;
		} else {
			continue;
		}
		c->in_use++;
		return page;
	}
	return NULL;
}

static bool have_free_page_locked(struct uhmm_dmirror_device *dev)
{
	struct dmirror_chunk *c;

	for (c = dev->chunks; c; c = c->next)
		if (c->free || c->bump < c->pgmap.nr_pages)
			return true;
	return false;
}

/*
 * Add one chunk unless some page became free meanwhile. 0 (retry the
 * allocation), -ENOSPC (the device is full), -ENOMEM.
 */
static int add_chunk(struct uhmm_dmirror_device *dev)
{
	struct dmirror_chunk *chunk;
	unsigned long room;
	bool have_free;
	int r;

	lock(&dev->chunk_lock);
	lock(&dev->alloc_lock);
	have_free = have_free_page_locked(dev);
	room = dev->capacity_pages - dev->attached_pages;
	unlock(&dev->alloc_lock);
	if (have_free) {
		unlock(&dev->chunk_lock);
		return 0;
	}
	if (!room) {
		unlock(&dev->chunk_lock);
		return -ENOSPC;
	}
	chunk = uhmm_calloc(1, sizeof(*chunk));
	if (!chunk) {
		unlock(&dev->chunk_lock);
		return -ENOMEM;
	}
	chunk->dev = dev;
	chunk->pgmap.type = dev->type;
	chunk->pgmap.ops = dev->type == UHMM_MEMORY_DEVICE_PRIVATE ? &dmirror_devmem_ops : &dmirror_coherent_ops;
	/* The owner: what the MIGRATE invalidations of our migrations carry. */
	chunk->pgmap.owner = dev;
	chunk->pgmap.nr_pages = DMIRROR_MIN(dev->chunk_pages, room);
	r = uhmm_memremap_pages(dev->sys, &chunk->pgmap);
	if (r) {
		free(chunk);
		unlock(&dev->chunk_lock);
		return r;
	}
	lock(&dev->alloc_lock);
	chunk->next = dev->chunks;
	dev->chunks = chunk;
	dev->attached_pages += chunk->pgmap.nr_pages;
	dev->nr_chunks++;
	unlock(&dev->alloc_lock);
	unlock(&dev->chunk_lock);
	return 0;
}

struct uhmm_page *dmirror_devmem_alloc_page(struct uhmm_dmirror_device *dev)
{
	struct uhmm_page *dpage, *backing = NULL;

	if (dev->type == UHMM_MEMORY_DEVICE_PRIVATE) {
		/* The "VRAM" of a private page: see the top of this file. */
		backing = uhmm_alloc_page(dev->sys);
		if (!backing)
			goto fail;
	}
	/* The device's allocator fails under injection too (uhmm_fail_nth), as alloc_page would. */
	if (uhmm_should_fail_alloc())
		goto fail;
	for (;;) {
		lock(&dev->alloc_lock);
		dpage = take_free_page_locked(dev);
		unlock(&dev->alloc_lock);
		if (dpage)
			break;
		if (add_chunk(dev))
			goto fail;
	}
	/* The page is ours alone until zone_device_page_init publishes it. */
	uhmm_page_set_zone_device_data(dpage, backing);
	uhmm_zone_device_page_init(dpage);	/* refcount 1, locked */
	atomic_fetch_add_explicit(&dev->pages_in_use, 1, memory_order_relaxed);
	return dpage;

fail:
	if (backing)
		uhmm_put_page(backing);
	atomic_fetch_add_explicit(&dev->alloc_failures, 1, memory_order_relaxed);
	return NULL;
}

/*
 * Move every page of @chunk that is in use back to RAM by physical range
 * (no VMA, no mmap lock): migrate_device_range unmaps each page from every
 * address space that maps it (CLEAR invalidations: every file's callback
 * drops its device entries), we copy, and finalize maps the RAM copies. A
 * page that is locked (a migration or CPU fault in flight) or pinned is
 * skipped; we come back for it until the chunk is empty, as memunmap would
 * wait for it anyway.
 */
static void evict_chunk(struct uhmm_dmirror_device *dev, struct dmirror_chunk *chunk)
{
	unsigned long src[DMIRROR_RANGE_PAGES], dst[DMIRROR_RANGE_PAGES];

	for (;;) {
		unsigned long in_use, limit, off, n, i;

		lock(&dev->alloc_lock);
		in_use = chunk->in_use;
		limit = chunk->bump;
		unlock(&dev->alloc_lock);
		if (!in_use)
			break;
		for (off = 0; off < limit; off += n) {
			n = DMIRROR_MIN(DMIRROR_RANGE_PAGES, limit - off);
			if (uhmm_migrate_device_range(dev->sys, src, chunk->pgmap.pfn_first + off, n))
				break;
			for (i = 0; i < n; i++) {
				struct uhmm_page *spage = uhmm_migrate_pfn_to_page(dev->sys, src[i]);
				struct uhmm_page *rpage;

				dst[i] = 0;
				if (!spage || !(src[i] & UHMM_MIGRATE_PFN_MIGRATE))
					continue;
				rpage = uhmm_alloc_page(dev->sys);
				if (!rpage)
					continue;	/* RAM full: this page waits for the next pass */
				uhmm_lock_page(rpage);
				memcpy(uhmm_page_address(rpage), dmirror_page_data(spage), DMIRROR_PAGE_SIZE);
				dst[i] = uhmm_migrate_pfn(uhmm_page_to_pfn(rpage)) |
					 (src[i] & UHMM_MIGRATE_PFN_WRITE);
			}
			uhmm_migrate_device_pages(dev->sys, src, dst, n);
			for (i = 0; i < n; i++)
				if ((src[i] & UHMM_MIGRATE_PFN_MIGRATE) && dst[i])
					atomic_fetch_add_explicit(&dev->pages_evicted, 1, memory_order_relaxed);
			uhmm_migrate_device_finalize(dev->sys, src, dst, n);
		}
		lock(&dev->alloc_lock);
		in_use = chunk->in_use;
		unlock(&dev->alloc_lock);
		if (in_use) {
			/* Someone holds a page lock or a pin: let them finish. */
			struct timespec ts = { 0, 200 * 1000 };

			nanosleep(&ts, NULL);
		}
	}
	uhmm_memunmap_pages(&chunk->pgmap);
}

void dmirror_devmem_release(struct uhmm_dmirror_device *dev)
{
	struct dmirror_chunk *detached, *c;

	/*
	 * Detach every chunk first, so that no new allocation comes from them
	 * and their freed pages stay out. Allocations meanwhile create new
	 * chunks (the detached ones no longer count against the size). The
	 * eviction itself runs without chunk_lock: it waits for migrations in
	 * flight, and those may need chunk_lock to allocate.
	 */
	lock(&dev->chunk_lock);
	lock(&dev->alloc_lock);
	detached = dev->chunks;
	for (c = detached; c; c = c->next) {
		c->removed = true;
		c->free = NULL;
	}
	dev->chunks = NULL;
	dev->attached_pages = 0;
	dev->nr_chunks = 0;
	unlock(&dev->alloc_lock);
	unlock(&dev->chunk_lock);

	while ((c = detached)) {
		detached = c->next;
		evict_chunk(dev, c);
		free(c);
	}
}
