/* SPDX-License-Identifier: MIT */
/* uhmm/mm.h - address spaces: VMAs, page tables, CPU access, the VM calls.
 *
 * Counterparts: mm/mmap.c, mm/memory.c, mm/mprotect.c, mm/madvise.c,
 * mm/mremap.c, kernel/fork.c. Only anonymous memory (private and shared).
 */
#ifndef UHMM_MM_H
#define UHMM_MM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/mman.h>
#include <uhmm/system.h>

/* <sys/mman.h> hides these without _GNU_SOURCE; the values are Linux's. */
#ifndef MREMAP_MAYMOVE
#define MREMAP_MAYMOVE 1
#endif
#ifndef MREMAP_FIXED
#define MREMAP_FIXED 2
#endif

#ifdef __cplusplus
extern "C" {
#endif

struct uhmm_mm;
struct uhmm_vma;

/* uhmm_mm_create - a new, empty address space with one user. 0, -EINVAL, -ENOMEM. */
UHMM_API int uhmm_mm_create(struct uhmm_system *sys, struct uhmm_mm **out);

/*
 * uhmm_mm_fork - duplicate @parent as fork() does: private mappings become
 * copy-on-write (a PROTECTION_PAGE invalidation over each such parent range),
 * shared mappings stay shared. 0, -EINVAL, -ENOMEM (parent unchanged).
 */
UHMM_API int uhmm_mm_fork(struct uhmm_mm *parent, struct uhmm_mm **child);

/* Take / drop a user of the address space. The last put is process exit:
 * notifier release (RELEASE to interval notifiers, release() to classic ones),
 * then every mapping is unmapped under one UNMAP invalidation. The structure
 * itself lives on while notifiers still hold it. */
UHMM_API void uhmm_mm_get(struct uhmm_mm *mm);
/* mmget_not_zero: take a user only if the address space has not exited. A
 * driver holding a notifier (which keeps only the structure) calls this before
 * touching the address space, and uhmm_mm_put after. */
UHMM_API bool uhmm_mm_get_not_zero(struct uhmm_mm *mm);
UHMM_API void uhmm_mm_put(struct uhmm_mm *mm);
/* Owning system of an address space. */
UHMM_API struct uhmm_system *uhmm_mm_system(struct uhmm_mm *mm);

/*
 * The VM calls. Flags and protections are the <sys/mman.h> constants.
 * uhmm_mmap: MAP_PRIVATE or MAP_SHARED, with MAP_ANONYMOUS (required),
 * optionally MAP_FIXED / MAP_FIXED_NOREPLACE. addr 0 picks an address.
 * Errors as Linux: -EINVAL (misaligned, zero length, bad flags), -ENOMEM (no
 * room), -EEXIST (MAP_FIXED_NOREPLACE over a mapping).
 * uhmm_munmap: a range with nothing mapped is 0. -EINVAL for misaligned/zero.
 * uhmm_mprotect / uhmm_madvise: -ENOMEM when part of the range is unmapped.
 * uhmm_madvise supports MADV_DONTNEED, MADV_HUGEPAGE, MADV_NOHUGEPAGE and
 * MADV_FREE (private anonymous memory only, else -EINVAL: pages mapped only
 * there become clean and old; uhmm has no reclaim, so their data stays) and
 * UHMM_MADV_COLLAPSE (Linux's MADV_COLLAPSE: each aligned 2 MiB inside the
 * range becomes one huge page now, whatever the THP mode; -ENOMEM when such a
 * range has nothing populated or no 2 MiB block is free, -EAGAIN for a
 * pinned or migrating page, -EINVAL for device entries, a VMA that is not
 * private anonymous, does not cover the 2 MiB whole or is advised
 * MADV_NOHUGEPAGE) (others: MADV_NORMAL etc. are 0, unknown -EINVAL).
 * uhmm_mremap: MREMAP_MAYMOVE, MREMAP_FIXED (as Linux).
 * All take the mmap lock for write; do not hold it when calling.
 */
/* MADV_COLLAPSE (Linux 6.1), which glibc before 2.37 does not name. */
#define UHMM_MADV_COLLAPSE 25

UHMM_API int uhmm_mmap(struct uhmm_mm *mm, unsigned long addr, size_t len, int prot, int flags,
		       unsigned long *out_addr);
UHMM_API int uhmm_munmap(struct uhmm_mm *mm, unsigned long addr, size_t len);
UHMM_API int uhmm_mprotect(struct uhmm_mm *mm, unsigned long addr, size_t len, int prot);
UHMM_API int uhmm_madvise(struct uhmm_mm *mm, unsigned long addr, size_t len, int advice);
UHMM_API int uhmm_mremap(struct uhmm_mm *mm, unsigned long old_addr, size_t old_len, size_t new_len,
			 int flags, unsigned long new_addr, unsigned long *out_addr);

/*
 * CPU access as a user thread makes it: faults pages in (zero page on read of
 * untouched anonymous memory, a zeroed page on write, COW break, device-private
 * pages migrated back through their owner's migrate_to_ram). -EFAULT when any
 * byte is unmapped or lacks permission (nothing is copied then), -ENOMEM when
 * RAM is exhausted, -EFAULT (the SIGBUS case) when migrate_to_ram fails.
 * Takes the mmap lock for read: do not hold it.
 */
UHMM_API int uhmm_cpu_read(struct uhmm_mm *mm, unsigned long addr, void *buf, size_t len);
UHMM_API int uhmm_cpu_write(struct uhmm_mm *mm, unsigned long addr, const void *buf, size_t len);

/* The mmap lock: a writer-preferring reader/writer lock per address space. */
UHMM_API void uhmm_mmap_read_lock(struct uhmm_mm *mm);
UHMM_API void uhmm_mmap_read_unlock(struct uhmm_mm *mm);
UHMM_API void uhmm_mmap_write_lock(struct uhmm_mm *mm);
UHMM_API void uhmm_mmap_write_unlock(struct uhmm_mm *mm);

/*
 * uhmm_find_vma - the VMA containing @addr, or NULL. Call with the mmap lock
 * held; the pointer is valid until it is dropped.
 */
UHMM_API struct uhmm_vma *uhmm_find_vma(struct uhmm_mm *mm, unsigned long addr);
struct uhmm_vma_info {
	unsigned long start, end;	/* [start, end) */
	int prot;			/* PROT_* */
	int flags;			/* MAP_PRIVATE or MAP_SHARED */
	bool anonymous;			/* private anonymous (MAP_SHARED|MAP_ANONYMOUS is shmem: false) */
};
UHMM_API void uhmm_vma_get_info(const struct uhmm_vma *vma, struct uhmm_vma_info *info);
/* Number of VMAs (tests). Takes the mmap lock for read. */
UHMM_API unsigned long uhmm_mm_vma_count(struct uhmm_mm *mm);

/*
 * Pinning (get_user_pages with FOLL_PIN): faults in @npages pages at @addr
 * (for write if @write), takes an extra reference on each and stores them in
 * @pages. A pinned page cannot be migrated. 0 or -EFAULT/-EINVAL/-ENOMEM (no
 * page stays pinned on error).
 */
UHMM_API int uhmm_pin_user_pages(struct uhmm_mm *mm, unsigned long addr, unsigned long npages, bool write,
				 struct uhmm_page **pages);
UHMM_API void uhmm_unpin_user_pages(struct uhmm_page **pages, unsigned long npages);

/* Soft-dirty: clear the bit in every PTE (SOFT_DIRTY invalidation) and read it. */
UHMM_API int uhmm_clear_soft_dirty(struct uhmm_mm *mm);
/* 1 if the page at @addr is soft-dirty, 0 if not, -EFAULT if not mapped. */
UHMM_API int uhmm_page_soft_dirty(struct uhmm_mm *mm, unsigned long addr);

/* Page-table inspection (tests, tools): what the CPU page table holds at @addr. */
enum uhmm_pte_kind {
	UHMM_PTE_NONE = 0, UHMM_PTE_PRESENT, UHMM_PTE_ZERO, UHMM_PTE_DEVICE_PRIVATE,
	UHMM_PTE_DEVICE_EXCLUSIVE, UHMM_PTE_MIGRATION,
};
struct uhmm_pte_info {
	enum uhmm_pte_kind kind;
	bool write, dirty, young, soft_dirty;
	unsigned long pfn;
	int refcount, mapcount;		/* of the page, when there is one (a huge page: its head's) */
	unsigned int order;		/* 0, or 9 for a 2 MiB huge page mapped by the PMD (pfn: the queried frame) */
};
/*
 * uhmm_mm_count_ptes - walk the page table over [start, end) (page aligned)
 * and count entries by kind into counts[UHMM_PTE_*] (array of 6). A plain
 * range walk: tools and the page-table benchmark. Lock-free reads of the
 * entries; does not take the mmap lock (holds a user reference instead), so it
 * may be called with or without it.
 */
UHMM_API int uhmm_mm_count_ptes(struct uhmm_mm *mm, unsigned long start, unsigned long end,
				unsigned long counts[6]);
/* Under the entry's page-table lock; does not take the mmap lock (holds a user
 * reference instead), so it may be called with or without it. 0 or -EINVAL. */
UHMM_API int uhmm_mm_query_pte(struct uhmm_mm *mm, unsigned long addr, struct uhmm_pte_info *info);

#ifdef __cplusplus
}
#endif
#endif
