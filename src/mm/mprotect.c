/* mprotect.c - mprotect and soft-dirty clearing: changing the permissions the page tables grant.
 *
 * Counterpart of mm/mprotect.c (change_protection) and the clear_refs
 * soft-dirty writer of fs/proc/task_mmu.c. Bad input changes nothing: holes
 * are found before any VMA is touched.
 */
#include "mm/mm_internal.h"

/* -ENOMEM unless [start, end) is covered by VMAs without a hole. */
static int check_covered(struct uhmm_mm *mm, unsigned long start, unsigned long end)
{
	unsigned long addr = start;

	while (addr < end) {
		struct uhmm_vma *v = find_vma(mm, addr);

		if (!v || v->start > addr)
			return -ENOMEM;
		addr = v->end;
	}
	return 0;
}

/*
 * Write-protect what the new protection no longer allows. Writable special
 * entries become read-only whatever the new protection, as the kernel does:
 * it cannot cheaply tell whether they may stay writable.
 */
static void change_pte_range(struct uhmm_vma *vma, unsigned long start, unsigned long end)
{
	struct uhmm_mm *mm = vma->mm;
	unsigned long addr = start;

	while (addr < end) {
		unsigned long next = UHMM_MIN((addr + PMD_SIZE) & ~(PMD_SIZE - 1), end);
		struct pt_leaf *leaf = pt_walk(mm, addr, false);

		if (!leaf) {
			addr = next;
			continue;
		}
		ptl_lock(leaf);
		for (; addr < next; addr += PAGE_SIZE) {
			pte_t pte = pte_get(leaf, addr);

			if (pte_none(pte))
				continue;
			if (pte_present(pte)) {
				if (!(vma->flags & VM_WRITE) && pte_write(pte))
					pte_set(leaf, addr, pte & ~PTE_WRITE);
				continue;
			}
			switch (pte_swp_type(pte)) {
			case SWP_DEVICE_WRITE:
				pte = (pte & ~SWP_TYPE_MASK) | ((pte_t)SWP_DEVICE_READ << SWP_TYPE_SHIFT);
				break;
			case SWP_DEVICE_EXCLUSIVE_WRITE:
				pte = (pte & ~SWP_TYPE_MASK) | ((pte_t)SWP_DEVICE_EXCLUSIVE_READ << SWP_TYPE_SHIFT);
				break;
			case SWP_MIGRATION_WRITE:
				pte = (pte & ~SWP_TYPE_MASK) | ((pte_t)(vma_is_anonymous(vma) ? SWP_MIGRATION_READ_EXCLUSIVE
												 : SWP_MIGRATION_READ)
								<< SWP_TYPE_SHIFT);
				break;
			default:
				continue;
			}
			pte_set(leaf, addr, pte);
		}
		ptl_unlock(leaf);
	}
}

int uhmm_mprotect(struct uhmm_mm *mm, unsigned long start, size_t len, int prot)
{
	unsigned long end, vm_prot;
	struct uhmm_vma *v;
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
	r = check_covered(mm, start, end);
	if (r)
		goto out;
	v = find_vma(mm, start);
	if (v->start < start) {
		r = vma_split(mm, v, start);
		if (r)
			goto out;
		v = vma_next(v);
	}
	while (v && v->start < end) {
		struct uhmm_mmu_notifier_range range;

		if (v->end > end) {
			r = vma_split(mm, v, end);
			if (r)
				goto out;
		}
		if ((v->flags & VM_PROT_MASK) != vm_prot) {
			mn_range_init(&range, UHMM_MMU_NOTIFY_PROTECTION_VMA, mm, v->start, v->end);
			mn_invalidate_range_start(&range);
			v->flags = (v->flags & ~VM_PROT_MASK) | vm_prot;
			change_pte_range(v, v->start, v->end);
			mn_invalidate_range_end(&range);
		} else {
			/* unchanged protection: the kernel still downgrades writable special entries */
			change_pte_range(v, v->start, v->end);
		}
		v = vma_next(vma_try_merge(mm, v));
	}
out:
	uhmm_mmap_write_unlock(mm);
	return r;
}

/* --------------------------------------------------------------- soft-dirty */
static void clear_soft_dirty_range(struct uhmm_vma *vma)
{
	struct uhmm_mm *mm = vma->mm;
	unsigned long addr = vma->start;

	while (addr < vma->end) {
		unsigned long next = UHMM_MIN((addr + PMD_SIZE) & ~(PMD_SIZE - 1), vma->end);
		struct pt_leaf *leaf = pt_walk(mm, addr, false);

		if (!leaf) {
			addr = next;
			continue;
		}
		ptl_lock(leaf);
		for (; addr < next; addr += PAGE_SIZE) {
			pte_t pte = pte_get(leaf, addr);

			if (pte_present(pte))
				/* write-protect so the next write faults and marks the page again */
				pte_set(leaf, addr, pte & ~(PTE_SOFT_DIRTY | PTE_WRITE));
			else if (!pte_none(pte))
				pte_set(leaf, addr, pte & ~SWP_SOFT_DIRTY);
		}
		ptl_unlock(leaf);
	}
}

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
		clear_soft_dirty_range(uhmm_rb_entry(node, struct uhmm_vma, rb));
	mn_invalidate_range_end(&range);
	uhmm_mmap_write_unlock(mm);
	return 0;
}
