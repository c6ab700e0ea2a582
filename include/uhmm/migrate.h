/* SPDX-License-Identifier: MIT */
/* uhmm/migrate.h - migrate_vma and migrate_device: moving pages between RAM and device memory.
 *
 * Counterpart of include/linux/migrate.h and mm/migrate_device.c. Left out:
 * compound (THP) migration.
 */
#ifndef UHMM_MIGRATE_H
#define UHMM_MIGRATE_H

#include <uhmm/memremap.h>

#ifdef __cplusplus
extern "C" {
#endif

#define UHMM_MIGRATE_PFN_VALID   (1UL << 0)
#define UHMM_MIGRATE_PFN_MIGRATE (1UL << 1)
#define UHMM_MIGRATE_PFN_WRITE   (1UL << 3)
#define UHMM_MIGRATE_PFN_SHIFT   6

static inline unsigned long uhmm_migrate_pfn(unsigned long pfn)
{
	return (pfn << UHMM_MIGRATE_PFN_SHIFT) | UHMM_MIGRATE_PFN_VALID;
}
static inline unsigned long uhmm_migrate_pfn_to_pfn(unsigned long mpfn)
{
	return mpfn >> UHMM_MIGRATE_PFN_SHIFT;
}
/* NULL unless VALID. */
UHMM_API struct uhmm_page *uhmm_migrate_pfn_to_page(struct uhmm_system *sys, unsigned long mpfn);

enum uhmm_migrate_vma_direction {
	UHMM_MIGRATE_VMA_SELECT_SYSTEM = 1 << 0,
	UHMM_MIGRATE_VMA_SELECT_DEVICE_PRIVATE = 1 << 1,
	UHMM_MIGRATE_VMA_SELECT_DEVICE_COHERENT = 1 << 2,
};

struct uhmm_migrate_vma {
	struct uhmm_vma *vma;
	unsigned long *src;	/* >= npages words, filled by setup */
	unsigned long *dst;	/* >= npages words, filled by the driver */
	unsigned long npages;	/* out */
	unsigned long start;
	unsigned long end;
	unsigned long cpages;	/* out: entries still flagged MIGRATE after setup */
	void *pgmap_owner;
	unsigned long flags;	/* UHMM_MIGRATE_VMA_SELECT_* */
	struct uhmm_page *fault_page;	/* set from migrate_to_ram */
};

/*
 * uhmm_migrate_vma_setup - collect and unmap the pages of [start, end) inside
 * @args->vma. Emits one MIGRATE invalidation over the range with owner =
 * pgmap_owner. Call with the mmap lock held (read) until finalize.
 * -EINVAL: vma/src/dst NULL, start or end not page aligned, empty range,
 * range outside the VMA, fault_page not device-private. Otherwise 0, even if
 * nothing could be selected.
 */
UHMM_API int uhmm_migrate_vma_setup(struct uhmm_migrate_vma *args);

/*
 * uhmm_migrate_vma_pages - commit the migration. For each entry still
 * flagged MIGRATE that has a destination, move the page's metadata to it
 * (the driver has copied the data), or insert the new page where setup
 * found a hole or the zero page (one MIGRATE invalidation from the first
 * such address). An entry loses MIGRATE when it has no destination, when device
 * memory would receive a page that is not anonymous, when a hole can no
 * longer be filled, or when its page gained a reference since setup: as
 * Linux's folio_migrate_mapping, the count must be exactly the
 * migration's (plus the fault's for fault_page), since anyone else holding
 * the page may still read or write the old copy. Call with the mmap lock
 * still held; the driver may then update its device page table.
 */
UHMM_API void uhmm_migrate_vma_pages(struct uhmm_migrate_vma *args);
/*
 * uhmm_migrate_vma_finalize - end the migration. Map the destination of
 * every entry that migrated and the original page of every one that did
 * not, unlock both, and drop the migration's references (a migrated source
 * is freed).
 */
UHMM_API void uhmm_migrate_vma_finalize(struct uhmm_migrate_vma *args);

/* Eviction by physical range (no VMA). migrate_device_range always returns 0
 * for a valid device range (-EINVAL otherwise). */
UHMM_API int uhmm_migrate_device_range(struct uhmm_system *sys, unsigned long *src, unsigned long start_pfn,
				       unsigned long npages);

/*
 * uhmm_migrate_device_pfns - start evicting any set of device pages. This
 * is uhmm_migrate_device_range for a list (Linux 6.15's
 * migrate_device_pfns, with which xe evicts the pages of one buffer
 * wherever they lie). On entry @src_pfns holds @npages device
 * pfns in any order; on return it holds the src words as
 * migrate_device_range fills them: pfn|VALID|MIGRATE for a page that was in
 * use and could be trylocked (now locked, referenced and unmapped from every
 * address space, with CLEAR events), else 0 (free, locked by someone else,
 * listed twice, or holding an extra reference). Continue with
 * uhmm_migrate_device_pages and uhmm_migrate_device_finalize. May block
 * (rmap walks, notifier callbacks); needs no mmap lock; never waits for a
 * page lock. Returns 0, or -EINVAL when sys or src_pfns is NULL, npages is
 * 0 or a pfn is not a device page (then @src_pfns is left unchanged).
 */
UHMM_API int uhmm_migrate_device_pfns(struct uhmm_system *sys, unsigned long *src_pfns, unsigned long npages);

/*
 * uhmm_migrate_device_pages - the pages step of an eviction by pfn. The
 * eviction starts with uhmm_migrate_device_range or
 * uhmm_migrate_device_pfns; there is no VMA, so no hole insertion. As in
 * uhmm_migrate_vma_pages, an entry whose page gained a reference since it
 * was collected loses MIGRATE. uhmm_migrate_device_finalize is the finalize
 * step.
 */
UHMM_API void uhmm_migrate_device_pages(struct uhmm_system *sys, unsigned long *src, unsigned long *dst,
					unsigned long npages);
UHMM_API void uhmm_migrate_device_finalize(struct uhmm_system *sys, unsigned long *src, unsigned long *dst,
					   unsigned long npages);

/*
 * uhmm_make_device_exclusive - replace the CPU mapping at @addr by a
 * device-exclusive entry after an EXCLUSIVE invalidation with @owner; faults
 * the page in for write first. Returns the page referenced and locked in
 * *@pagep (unlock and put it when done). Call with the mmap lock held (read).
 * 0, -EINVAL, -EFAULT, -EBUSY, -ENOMEM.
 */
UHMM_API int uhmm_make_device_exclusive(struct uhmm_mm *mm, unsigned long addr, void *owner,
					struct uhmm_page **pagep);

#ifdef __cplusplus
}
#endif
#endif
