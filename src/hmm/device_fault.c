/* SPDX-License-Identifier: MIT */
/* device_fault.c - CPU faults on device-private and device-exclusive entries, and making pages exclusive.
 *
 * Counterpart of the device parts of do_swap_page (mm/memory.c) and of
 * make_device_exclusive (mm/rmap.c, the single-page API of ~6.15). As in
 * current kernels the device page is locked before migrate_to_ram and the
 * exclusive restore notifies with CLEAR.
 */
#include "internal.h"

/* PTL held on entry, released here. */
int do_device_private_fault(struct uhmm_mm *mm, struct uhmm_vma *vma, unsigned long addr, struct pt_leaf *leaf,
			    pte_t pte, unsigned int fault_flags)
{
	struct uhmm_page *p = pfn_to_page(mm->sys, pte_pfn(pte));
	struct uhmm_vm_fault vmf;
	int r;

	/*
	 * Lock first, reference second, as the kernel (~6.15): a waiter holding a
	 * reference would fail the lock holder's reference check in
	 * migrate_vma_setup, so the holder's migrate_to_ram would move nothing and
	 * every faulting thread would retry forever. The wait holds no reference,
	 * so it must not touch @p once the PTL is dropped: the page can then be
	 * freed and its pgmap memunmapped (driver eviction), unmapping the struct
	 * page itself. migration_entry_wait_on_locked joins the wait queue under
	 * the PTL and never looks at @p after waking.
	 */
	if (!page_trylock(p)) {
		/* a migration of this page is under way: wait for it, then retry */
		migration_entry_wait_on_locked(p, leaf);	/* drops the PTL */
		return 0;
	}
	if (!page_get_unless_zero(p)) {
		page_unlock(p);
		ptl_unlock(leaf);
		return 0;
	}
	ptl_unlock(leaf);
	vmf.vma = vma;
	vmf.mm = mm;
	vmf.address = addr;
	vmf.page = p;
	vmf.write = fault_flags & FAULT_FLAG_WRITE;
	r = p->pgmap->ops->migrate_to_ram(&vmf);
	page_unlock(p);
	page_put(p);
	if (r)
		return r == -ENOMEM ? -ENOMEM : -EFAULT;	/* the SIGBUS case */
	return 0;
}

/*
 * Turn the device-exclusive entry @entry at @addr back into a present PTE
 * (restore_exclusive_pte of mm/memory.c, as kernels since the ~6.15 rework
 * have it; the CPU fault and fork both come here). @page is locked, the PTL
 * held, the caller has invalidated the device. The PTE is old and keeps the
 * entry's soft-dirty bit. Its permission comes from the VMA, not from the
 * entry: writable iff the VMA is and the page may be written without a fault
 * (can_change_pte_writable: the anonymous page is exclusively ours, and
 * soft-dirty tracking does not want the first write to fault), dirty then iff
 * the page is. The entry's page reference becomes the PTE's; the rmap, which
 * the entry dropped, comes back.
 */
pte_t restore_exclusive_pte(struct uhmm_vma *vma, struct uhmm_page *page, unsigned long addr,
			    struct pt_leaf *leaf, pte_t entry)
{
	pte_t pte = pte_soft_dirty_from_swp(mk_pte(page->pfn, 0), entry);

	if ((vma->flags & VM_WRITE) && page_test_flag(page, PG_ANON_EXCLUSIVE) && pte_swp_soft_dirty(entry)) {
		pte |= PTE_WRITE;
		if (page_test_flag(page, PG_DIRTY))
			pte |= PTE_DIRTY;
	}
	page_add_rmap(page);
	pte_set(leaf, addr, pte);
	return pte;
}

/* PTL held on entry, released here. Restore the CPU PTE of an exclusive entry. */
int do_device_exclusive_fault(struct uhmm_mm *mm, struct uhmm_vma *vma, unsigned long addr, struct pt_leaf *leaf,
			      pte_t pte)
{
	struct uhmm_page *p = pfn_to_page(mm->sys, pte_pfn(pte));
	struct uhmm_mmu_notifier_range range;

	if (!page_get_unless_zero(p)) {
		ptl_unlock(leaf);
		return 0;
	}
	ptl_unlock(leaf);
	page_lock(p);
	mn_range_init(&range, UHMM_MMU_NOTIFY_CLEAR, mm, addr, addr + PAGE_SIZE);
	mn_invalidate_range_start(&range);
	ptl_lock(leaf);
	if (pte_get(leaf, addr) == pte)
		restore_exclusive_pte(vma, p, addr, leaf, pte);
	ptl_unlock(leaf);
	mn_invalidate_range_end(&range);
	page_unlock(p);
	page_put(p);
	return 0;
}

int uhmm_make_device_exclusive(struct uhmm_mm *mm, unsigned long addr, void *owner, struct uhmm_page **pagep)
{
	struct uhmm_mmu_notifier_range range;
	struct uhmm_vma *vma;

	if (!mm || !pagep || !PAGE_ALIGNED(addr))
		return -EINVAL;
	vma = uhmm_find_vma(mm, addr);
	if (!vma)
		return -EFAULT;
	LOCKDEP_ASSERT_HELD(LR_MMAP, "uhmm_make_device_exclusive");
	if (!vma_is_anonymous(vma))
		return -EINVAL;	/* anonymous memory only, as current kernels */
	if (!(vma->flags & VM_WRITE))
		return -EFAULT;
	for (;;) {
		struct pt_leaf *leaf;
		struct uhmm_page *p;
		pte_t pte;
		int r;

		split_huge_pmd_address(mm, addr);	/* the entry is per page (GUP's FOLL_SPLIT_PMD) */
		leaf = pt_walk(mm, addr, false);
		pte = leaf ? pte_get(leaf, addr) : 0;

		if (!pte_present(pte) || !pte_write(pte)) {
			r = handle_mm_fault(mm, vma, addr, FAULT_FLAG_WRITE | FAULT_FLAG_REMOTE);
			if (r)
				return r;
			continue;
		}
		ptl_lock(leaf);
		pte = pte_get(leaf, addr);
		if (!pte_present(pte) || !pte_write(pte)) {
			ptl_unlock(leaf);
			continue;
		}
		p = pfn_to_page(mm->sys, pte_pfn(pte));
		if (page_is_device(p) || page_is_zero(p)) {
			ptl_unlock(leaf);
			return -EBUSY;
		}
		page_get(p);
		ptl_unlock(leaf);
		page_lock(p);
		mn_range_init_owner(&range, UHMM_MMU_NOTIFY_EXCLUSIVE, mm, addr, addr + PAGE_SIZE, owner);
		mn_invalidate_range_start(&range);
		ptl_lock(leaf);
		if (pte_get(leaf, addr) == pte) {
			pte_t e = pte_swp_soft_dirty_from_pte(make_writable_device_exclusive_entry(p->pfn), pte);

			if (pte & PTE_DIRTY)
				page_set_flag(p, PG_DIRTY);
			/* the PTE's reference stays with the entry; the rmap goes, as the kernel does */
			page_remove_rmap(p);
			pte_set(leaf, addr, e);
			ptl_unlock(leaf);
			mn_invalidate_range_end(&range);
			*pagep = p;
			return 0;
		}
		ptl_unlock(leaf);
		mn_invalidate_range_end(&range);
		page_unlock(p);
		page_put(p);
	}
}
