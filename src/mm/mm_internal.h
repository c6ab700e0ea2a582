/* SPDX-License-Identifier: MIT */
/* mm_internal.h - helpers shared by the files of src/mm only. */
#ifndef UHMM_MM_INTERNAL_H
#define UHMM_MM_INTERNAL_H

#include "internal.h"

struct uhmm_mapping *mapping_create(enum mapping_kind kind);
void mapping_get(struct uhmm_mapping *m);
void vma_link_mapping(struct uhmm_vma *v);
void vma_unlink_mapping(struct uhmm_vma *v);
struct uhmm_vma *vma_alloc(struct uhmm_mm *mm, unsigned long start, unsigned long end, unsigned long flags,
			   unsigned long pgoff, struct uhmm_mapping *m);
void vma_free(struct uhmm_vma *v);
void vma_set_range(struct uhmm_vma *v, unsigned long start, unsigned long end, unsigned long pgoff);
void vma_tree_insert(struct uhmm_mm *mm, struct uhmm_vma *v);
void vma_tree_remove(struct uhmm_mm *mm, struct uhmm_vma *v);
int vma_split(struct uhmm_mm *mm, struct uhmm_vma *v, unsigned long addr);
/* -ENOMEM unless [start, end) is covered by VMAs without a hole. mmap lock held. */
int vma_range_covered(struct uhmm_mm *mm, unsigned long start, unsigned long end);
/*
 * Split the VMAs at @start and @end (covered: check first), call @fn on each
 * VMA inside, then merge it with its neighbours where it can (the kernel's
 * vma_modify). 0, or -ENOMEM from a split (the VMAs changed so far stay).
 * mmap write lock.
 */
int vma_modify(struct uhmm_mm *mm, unsigned long start, unsigned long end, void (*fn)(struct uhmm_vma *v, void *arg),
	       void *arg);
struct uhmm_vma *vma_try_merge(struct uhmm_mm *mm, struct uhmm_vma *v);

void mmap_write_lock_nested(struct uhmm_mm *mm);
/* Unmap [start, end) (page aligned) from the tree, with an UNMAP invalidation. mmap write lock. */
int do_munmap(struct uhmm_mm *mm, unsigned long start, unsigned long end);
/* Remove every VMA (exit), under one UNMAP invalidation of [0, ULONG_MAX). */
void exit_mmap(struct uhmm_mm *mm);

static inline unsigned long prot_to_vm(int prot)
{
	return (prot & PROT_READ ? VM_READ : 0) | (prot & PROT_WRITE ? VM_WRITE : 0) | (prot & PROT_EXEC ? VM_EXEC : 0);
}

#endif
