/* SPDX-License-Identifier: MIT */
/* pagewalk.h - the generic page-table range walker.
 *
 * Counterpart of include/linux/pagewalk.h. Every loop over a range of page
 * tables (zap, mprotect, soft-dirty, fork, mremap, hmm_range_fault, migrate
 * collect, the inspection calls) goes through walk_page_range() and its
 * variants, so a new kind of leaf (a PMD-level huge page) is taught to one
 * walker instead of to every loop.
 */
#ifndef UHMM_MM_PAGEWALK_H
#define UHMM_MM_PAGEWALK_H

#include "internal.h"

/*
 * Hole depths, as the kernel numbers its levels (uhmm has no P4D level):
 * -1 no VMA covers the range (walk_page_range only), 0 an empty PGD entry
 * (512 GiB), 2 an empty PUD entry (1 GiB), 3 an empty PMD entry (2 MiB).
 */
enum { WALK_DEPTH_NO_VMA = -1, WALK_DEPTH_PGD = 0, WALK_DEPTH_PUD = 2, WALK_DEPTH_PMD = 3 };

/* What the walker does after a pmd_entry call (walk->action). */
enum page_walk_action {
	ACTION_SUBTREE = 0,	/* walk the PTEs below (if there is a pte_entry) */
	ACTION_CONTINUE = 1,	/* skip them: pmd_entry handled the range */
	ACTION_AGAIN = 2,	/* call pmd_entry again for the same range */
};

struct mm_walk;

/*
 * Callbacks; each may be NULL. A callback's non-zero return stops the walk
 * and is what the walk returns (negative: an error; positive: the caller's
 * own "stop here" code) - except test_walk, whose positive return only skips
 * the VMA.
 *
 * pmd_entry   a present PMD entry over [addr, next): a leaf table
 *             (pmd_pgtable()) or a huge page (pmd_leaf()), which the callback
 *             handles or splits (then ACTION_AGAIN). Called without the PTL.
 *             Without a pmd_entry, a huge page is split before pte_entry.
 * pte_entry   one PTE, called with its table's PTL held (walk->ptl_leaf).
 * pte_hole    [addr, next) has no page table at @depth (WALK_DEPTH_*), or no
 *             VMA at all (WALK_DEPTH_NO_VMA, walk->vma NULL).
 * test_walk   walk_page_range only: decide for each VMA; 0 walk it, > 0
 *             skip it, < 0 stop with that error.
 */
struct mm_walk_ops {
	int (*pmd_entry)(pmd_t *pmd, unsigned long addr, unsigned long next, struct mm_walk *walk);
	int (*pte_entry)(_Atomic pte_t *pte, unsigned long addr, unsigned long next, struct mm_walk *walk);
	int (*pte_hole)(unsigned long addr, unsigned long next, int depth, struct mm_walk *walk);
	int (*test_walk)(unsigned long addr, unsigned long next, struct mm_walk *walk);
};

struct mm_walk {
	const struct mm_walk_ops *ops;
	struct uhmm_mm *mm;
	struct uhmm_vma *vma;		/* the VMA being walked; NULL for a novma walk or a no-VMA hole */
	struct pt_leaf *ptl_leaf;	/* pte_entry: the table whose PTL is held */
	enum page_walk_action action;	/* set by pmd_entry; reset to ACTION_SUBTREE before each call */
	void *private;
};

/*
 * Walk [start, end) of @mm VMA by VMA: the ranges between VMAs go to
 * pte_hole with WALK_DEPTH_NO_VMA, each VMA to test_walk and then down its
 * page tables. mmap lock held (read or write).
 */
int walk_page_range(struct uhmm_mm *mm, unsigned long start, unsigned long end, const struct mm_walk_ops *ops,
		    void *private);
/* [start, end) inside @vma only (walk->vma = vma, no test_walk). mmap lock held. */
int walk_page_range_vma(struct uhmm_vma *vma, unsigned long start, unsigned long end,
			const struct mm_walk_ops *ops, void *private);
static inline int walk_page_vma(struct uhmm_vma *vma, const struct mm_walk_ops *ops, void *private)
{
	return walk_page_range_vma(vma, vma->start, vma->end, ops, private);
}
/*
 * The page tables of [start, end) whatever the VMAs (walk->vma NULL). For
 * inspections that hold a user reference instead of the mmap lock (tables
 * are freed only at exit) and for moves under the mmap write lock.
 */
int walk_page_range_novma(struct uhmm_mm *mm, unsigned long start, unsigned long end,
			  const struct mm_walk_ops *ops, void *private);

#endif
