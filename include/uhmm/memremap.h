/* SPDX-License-Identifier: MIT */
/* uhmm/memremap.h - device memory: struct uhmm_dev_pagemap and device pages.
 *
 * Counterpart of include/linux/memremap.h and mm/memremap.c for the
 * DEVICE_PRIVATE and DEVICE_COHERENT types.
 */
#ifndef UHMM_MEMREMAP_H
#define UHMM_MEMREMAP_H

#include <stdbool.h>
#include <uhmm/system.h>

#ifdef __cplusplus
extern "C" {
#endif

struct uhmm_vma;
struct uhmm_mm;

enum uhmm_memory_type {
	/* 0 is reserved as "uninitialised" */
	UHMM_MEMORY_DEVICE_PRIVATE = 1,	/* not CPU-addressable: mapped by device-private entries */
	UHMM_MEMORY_DEVICE_COHERENT = 2,/* CPU-addressable: mapped by normal PTEs */
};

/* What the CPU fault hands to migrate_to_ram (the kernel's struct vm_fault). */
struct uhmm_vm_fault {
	struct uhmm_vma *vma;
	struct uhmm_mm *mm;
	unsigned long address;		/* page-aligned */
	struct uhmm_page *page;		/* the device-private page hit, referenced */
	bool write;
};

struct uhmm_dev_pagemap_ops {
	/* The page's refcount reached 0: the driver takes it back. */
	void (*page_free)(struct uhmm_page *page);
	/* Private memory only: bring vmf->page back to RAM (migrate_vma with
	 * fault_page = vmf->page). Return 0, or non-zero for SIGBUS. Called with
	 * the mmap lock held for read. */
	int (*migrate_to_ram)(struct uhmm_vm_fault *vmf);
};

struct uhmm_dev_pagemap {
	enum uhmm_memory_type type;
	const struct uhmm_dev_pagemap_ops *ops;
	void *owner;
	unsigned long nr_pages;		/* size of the region, in pages */
	/* Set by uhmm_memremap_pages: */
	unsigned long pfn_first;	/* first pfn of the region (never a RAM pfn) */
	struct uhmm_system *sys;
	void *priv_;			/* private to uhmm */
};

/*
 * uhmm_memremap_pages - create the device frames of @pgmap (refcount 0: free).
 * -EINVAL as Linux: nr_pages 0; PRIVATE without migrate_to_ram, page_free or
 * owner; COHERENT without page_free or owner; unknown type. -ENOMEM.
 */
UHMM_API int uhmm_memremap_pages(struct uhmm_system *sys, struct uhmm_dev_pagemap *pgmap);
/* Waits until every page of the region is free, then removes it. */
UHMM_API void uhmm_memunmap_pages(struct uhmm_dev_pagemap *pgmap);

/* Driver allocation of a free device page: refcount 1 and locked. */
UHMM_API void uhmm_zone_device_page_init(struct uhmm_page *page);

UHMM_API bool uhmm_is_device_private_page(const struct uhmm_page *page);
UHMM_API bool uhmm_is_device_coherent_page(const struct uhmm_page *page);
UHMM_API bool uhmm_is_zone_device_page(const struct uhmm_page *page);
UHMM_API bool uhmm_is_zero_page(const struct uhmm_page *page);

/* Page <-> pfn, and the per-page device fields. */
UHMM_API unsigned long uhmm_page_to_pfn(const struct uhmm_page *page);
UHMM_API struct uhmm_page *uhmm_pfn_to_page(struct uhmm_system *sys, unsigned long pfn);
UHMM_API struct uhmm_dev_pagemap *uhmm_page_pgmap(const struct uhmm_page *page);
UHMM_API void *uhmm_page_zone_device_data(const struct uhmm_page *page);
UHMM_API void uhmm_page_set_zone_device_data(struct uhmm_page *page, void *data);
/* The page's bytes: RAM and coherent frames only (NULL for device-private). */
UHMM_API void *uhmm_page_address(const struct uhmm_page *page);

/* References and the page lock (migration destinations must be locked). */
UHMM_API void uhmm_get_page(struct uhmm_page *page);
UHMM_API void uhmm_put_page(struct uhmm_page *page);
UHMM_API int uhmm_page_refcount(const struct uhmm_page *page);
UHMM_API int uhmm_page_mapcount(const struct uhmm_page *page);
UHMM_API void uhmm_lock_page(struct uhmm_page *page);
UHMM_API bool uhmm_trylock_page(struct uhmm_page *page);
UHMM_API void uhmm_unlock_page(struct uhmm_page *page);
UHMM_API bool uhmm_page_locked(const struct uhmm_page *page);

/*
 * uhmm_alloc_page - a RAM page for a driver (a migration destination, a
 * bounce page): refcount 1, contents undefined, not locked. NULL when RAM is
 * exhausted.
 */
UHMM_API struct uhmm_page *uhmm_alloc_page(struct uhmm_system *sys);
/*
 * uhmm_alloc_pages_bulk - up to @nr RAM pages into pages[0..n), as
 * uhmm_alloc_page each, for the lock and counter cost of one: what a driver
 * migrating a batch back to RAM wants. Returns n (0 when RAM is exhausted,
 * or @sys or @pages is NULL); fewer than @nr means RAM ran out.
 */
UHMM_API unsigned long uhmm_alloc_pages_bulk(struct uhmm_system *sys, unsigned long nr, struct uhmm_page **pages);

#ifdef __cplusplus
}
#endif
#endif
