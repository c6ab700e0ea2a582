/* SPDX-License-Identifier: MIT */
/* pagewalk.c - walk the page tables of a range with per-level callbacks.
 *
 * Counterpart of mm/pagewalk.c: descend PGD -> PUD -> PMD -> PTE once per
 * range, report empty upper entries as holes of their whole span, and hand
 * each leaf table to pmd_entry and/or its PTEs, under the PTL, to pte_entry.
 * Tables are never freed before exit, so walking them needs no lock above
 * the leaf. A huge PMD goes to pmd_entry as it is, and is split before its
 * PTEs go to pte_entry. Left out: PUD leaves, page-table allocation (faults
 * use pt_walk), the kernel's VMA-lock modes.
 */
#include "mm/pagewalk.h"

static int walk_pte_range(struct pt_leaf *leaf, unsigned long addr, unsigned long end, struct mm_walk *walk)
{
	int (*pte_entry)(_Atomic pte_t *, unsigned long, unsigned long, struct mm_walk *) = walk->ops->pte_entry;
	int err = 0;

	ptl_lock(leaf);
	walk->ptl_leaf = leaf;
	for (; addr < end; addr += PAGE_SIZE) {
		err = pte_entry(pte_offset(leaf, addr), addr, addr + PAGE_SIZE, walk);
		if (err)
			break;
	}
	walk->ptl_leaf = NULL;
	ptl_unlock(leaf);
	return err;
}

static int walk_hole(unsigned long addr, unsigned long end, int depth, struct mm_walk *walk)
{
	return walk->ops->pte_hole ? walk->ops->pte_hole(addr, end, depth, walk) : 0;
}

static int walk_pmd_range(struct pt_dir *pmds, unsigned long addr, unsigned long end, struct mm_walk *walk)
{
	const struct mm_walk_ops *ops = walk->ops;
	unsigned long next;
	int err = 0;

	do {
		pmd_t *pmd = &pmds->e[pt_index(addr, PT_SHIFT_PMD)];
		pmdval_t v;

		next = pmd_addr_end(addr, end);
again:
		v = pmdp_get(pmd);
		if (pmd_none(v)) {
			err = walk_hole(addr, next, WALK_DEPTH_PMD, walk);
		} else {
			walk->action = ACTION_SUBTREE;
			if (ops->pmd_entry)
				err = ops->pmd_entry(pmd, addr, next, walk);
			if (!err && walk->action == ACTION_AGAIN)
				goto again;
			if (!err && walk->action == ACTION_SUBTREE && ops->pte_entry) {
				v = pmdp_get(pmd);
				if (pmd_leaf(v)) {
					/* PTE callbacks need PTEs: split the huge page, as the kernel's walker does */
					split_huge_pmd(walk->mm, pmd);
					goto again;
				}
				if (!pmd_none(v))
					err = walk_pte_range(pmd_pgtable(v), addr, next, walk);
			}
		}
		if (err)
			return err;
	} while (addr = next, addr != end);
	return 0;
}

static int walk_pud_range(struct pt_dir *puds, unsigned long addr, unsigned long end, struct mm_walk *walk)
{
	unsigned long next;
	int err;

	do {
		struct pt_dir *pmds = (struct pt_dir *)atomic_load_explicit(&puds->e[pt_index(addr, PT_SHIFT_PUD)],
									       memory_order_acquire);

		next = pud_addr_end(addr, end);
		err = pmds ? walk_pmd_range(pmds, addr, next, walk) : walk_hole(addr, next, WALK_DEPTH_PUD, walk);
		if (err)
			return err;
	} while (addr = next, addr != end);
	return 0;
}

static int walk_pgd_range(unsigned long addr, unsigned long end, struct mm_walk *walk)
{
	struct pt_dir *pgd = walk->mm->pgd;
	unsigned long next;
	int err;

	do {
		/* acquire pairs with the table's publication (pgtable.c dir_child) */
		struct pt_dir *puds = (struct pt_dir *)atomic_load_explicit(&pgd->e[pt_index(addr, PT_SHIFT_PGD)],
									       memory_order_acquire);

		next = pgd_addr_end(addr, end);
		err = puds ? walk_pud_range(puds, addr, next, walk) : walk_hole(addr, next, WALK_DEPTH_PGD, walk);
		if (err)
			return err;
	} while (addr = next, addr != end);
	return 0;
}

static bool walk_range_ok(unsigned long start, unsigned long end)
{
	return start < end && PAGE_ALIGNED(start) && PAGE_ALIGNED(end) && end <= TASK_SIZE;
}

int walk_page_range_novma(struct uhmm_mm *mm, unsigned long start, unsigned long end,
			  const struct mm_walk_ops *ops, void *private)
{
	struct mm_walk walk = { .ops = ops, .mm = mm, .private = private };

	if (!walk_range_ok(start, end))
		return -EINVAL;
	return walk_pgd_range(start, end, &walk);
}

int walk_page_range_vma(struct uhmm_vma *vma, unsigned long start, unsigned long end,
			const struct mm_walk_ops *ops, void *private)
{
	struct mm_walk walk = { .ops = ops, .mm = vma->mm, .vma = vma, .private = private };

	if (!walk_range_ok(start, end) || start < vma->start || end > vma->end)
		return -EINVAL;
	return walk_pgd_range(start, end, &walk);
}

int walk_page_range(struct uhmm_mm *mm, unsigned long start, unsigned long end, const struct mm_walk_ops *ops,
		    void *private)
{
	struct mm_walk walk = { .ops = ops, .mm = mm, .private = private };
	struct uhmm_vma *vma;
	unsigned long next;
	int err = 0;

	if (!walk_range_ok(start, end))
		return -EINVAL;
	vma = find_vma(mm, start);
	do {
		if (!vma || start < vma->start) {
			walk.vma = NULL;
			next = vma ? UHMM_MIN(end, vma->start) : end;
			err = walk_hole(start, next, WALK_DEPTH_NO_VMA, &walk);
		} else {
			walk.vma = vma;
			next = UHMM_MIN(end, vma->end);
			vma = vma_next(vma);
			err = ops->test_walk ? ops->test_walk(start, next, &walk) : 0;
			if (err > 0) {
				err = 0;
				continue;
			}
			if (!err)
				err = walk_pgd_range(start, next, &walk);
		}
		if (err)
			break;
	} while (start = next, start < end);
	return err;
}
