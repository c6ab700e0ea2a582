/* SPDX-License-Identifier: MIT */
/* mprotect.c - mprotect and soft-dirty clearing: changing the permissions the page tables grant.
 *
 * Counterpart of mm/mprotect.c (change_protection) and the clear_refs
 * soft-dirty writer of fs/proc/task_mmu.c. Bad input changes nothing: holes
 * are found before any VMA is touched.
 */
#include "mm/mm_internal.h"
#include "mm/pagewalk.h"

/*
 * Write-protect what the new protection no longer allows. Writable special
 * entries become read-only whatever the new protection, as the kernel does:
 * it cannot cheaply tell whether they may stay writable. A writable
 * migration entry of an anonymous page stays exclusive. A device-exclusive
 * entry's write bit goes too, though since the ~6.15 rework the kernel has
 * one exclusive type and restore_exclusive_pte asks the VMA, as ours does:
 * the bit only keeps uhmm_mm_query_pte from reporting more than the VMA
 * allows.
 */
static int change_pte_entry(_Atomic pte_t *ptep, unsigned long addr, unsigned long next, struct mm_walk *walk)
{
	struct uhmm_vma *vma = walk->vma;
	pte_t pte = ptep_get(ptep);

	(void)addr;
	(void)next;
	if (pte_none(pte))
		return 0;
	if (pte_present(pte)) {
		if (!(vma->flags & VM_WRITE) && pte_write(pte))
			set_pte(ptep, pte & ~PTE_WRITE);
		return 0;
	}
	if (is_writable_swp_entry(pte))
		set_pte(ptep, pte_swp_clear_write(pte, vma_is_anonymous(vma)));
	return 0;
}

static const struct mm_walk_ops change_protection_ops = { .pte_entry = change_pte_entry };

static void change_pte_range(struct uhmm_vma *vma, unsigned long start, unsigned long end)
{
	UHMM_WARN_ON(walk_page_range_vma(vma, start, end, &change_protection_ops, NULL));
}

static void mprotect_one(struct uhmm_vma *v, void *arg)
{
	unsigned long vm_prot = *(unsigned long *)arg;
	struct uhmm_mmu_notifier_range range;

	if ((v->flags & VM_PROT_MASK) != vm_prot) {
		mn_range_init(&range, UHMM_MMU_NOTIFY_PROTECTION_VMA, v->mm, v->start, v->end);
		mn_invalidate_range_start(&range);
		v->flags = (v->flags & ~VM_PROT_MASK) | vm_prot;
		change_pte_range(v, v->start, v->end);
		mn_invalidate_range_end(&range);
	} else {
		/* unchanged protection: the kernel still downgrades writable special entries */
		change_pte_range(v, v->start, v->end);
	}
}

int uhmm_mprotect(struct uhmm_mm *mm, unsigned long start, size_t len, int prot)
{
	unsigned long end, vm_prot;
	int r;

	if (!mm || !PAGE_ALIGNED(start) || (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)))
		return -EINVAL;
	if (!len)
		return 0;
	end = start + ((len + PAGE_SIZE - 1) & PAGE_MASK);
	if (end <= start)
		return -ENOMEM;
	vm_prot = prot_to_vm(prot);
	uhmm_mmap_write_lock(mm);
	r = vma_range_covered(mm, start, end);
	if (!r)
		r = vma_modify(mm, start, end, mprotect_one, &vm_prot);
	uhmm_mmap_write_unlock(mm);
	return r;
}

/* --------------------------------------------------------------- soft-dirty */
static int clear_soft_dirty_pte_entry(_Atomic pte_t *ptep, unsigned long addr, unsigned long next,
				      struct mm_walk *walk)
{
	pte_t pte = ptep_get(ptep);

	(void)addr;
	(void)next;
	(void)walk;
	if (pte_present(pte))
		/* write-protect so the next write faults and marks the page again */
		set_pte(ptep, pte & ~(PTE_SOFT_DIRTY | PTE_WRITE));
	else if (!pte_none(pte))
		set_pte(ptep, pte_swp_clear_soft_dirty(pte));
	return 0;
}

static const struct mm_walk_ops clear_soft_dirty_ops = { .pte_entry = clear_soft_dirty_pte_entry };

/*
 * As clear_refs_write: one SOFT_DIRTY invalidation over the whole address
 * space, [0, ULONG_MAX), around the walk of every VMA (not one per VMA).
 */
int uhmm_clear_soft_dirty(struct uhmm_mm *mm)
{
	struct uhmm_mmu_notifier_range range;
	struct uhmm_rb_node *node;

	if (!mm)
		return -EINVAL;
	uhmm_mmap_write_lock(mm);
	if (atomic_load(&mm->mm_users) <= 0) {
		/* exited (the structure lives on for its notifiers): nothing to clear */
		uhmm_mmap_write_unlock(mm);
		return -EINVAL;
	}
	mn_range_init(&range, UHMM_MMU_NOTIFY_SOFT_DIRTY, mm, 0, ~0UL);
	mn_invalidate_range_start(&range);
	for (node = uhmm_rb_first(&mm->vma_tree); node; node = uhmm_rb_next(node))
		UHMM_WARN_ON(walk_page_vma(uhmm_rb_entry(node, struct uhmm_vma, rb), &clear_soft_dirty_ops, NULL));
	mn_invalidate_range_end(&range);
	uhmm_mmap_write_unlock(mm);
	return 0;
}
