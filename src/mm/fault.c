/* SPDX-License-Identifier: MIT */
/* fault.c - the CPU page-fault handler: anonymous, shmem, COW, and the special entries.
 *
 * Counterpart of handle_mm_fault/do_anonymous_page/do_wp_page/do_swap_page in
 * mm/memory.c. Called with the mmap lock held for read; returns 0 when the
 * caller should re-walk (the fault was handled or raced), or -errno.
 * Device-private and device-exclusive entries are handed to src/hmm.
 */
#include <string.h>

#include "lib/trace.h"
#include "mm/mm_internal.h"

static pte_t new_pte_flags(struct uhmm_vma *vma, bool write)
{
	pte_t f = PTE_YOUNG | PTE_SOFT_DIRTY;

	if (write && (vma->flags & VM_WRITE))
		f |= PTE_WRITE | PTE_DIRTY;
	return f;
}

/* The shmem object's page at @index, created zeroed on first use; returned referenced. */
static struct uhmm_page *shmem_get_page(struct uhmm_system *sys, struct uhmm_mapping *m, unsigned long index)
{
	struct uhmm_page *p;

	mapping_lock(m);
	if (index >= m->nr_pages) {
		mapping_unlock(m);
		return NULL;	/* beyond the object: SIGBUS */
	}
	p = m->pages[index];
	if (!p) {
		p = page_alloc(sys);
		if (p) {
			memset(page_address(p), 0, PAGE_SIZE);
			p->mapping = m;
			p->index = index;
			m->pages[index] = p;	/* the object's own reference */
		}
	}
	if (p)
		page_get(p);
	mapping_unlock(m);
	return p;
}

static int do_anonymous_page(struct uhmm_mm *mm, struct uhmm_vma *vma, unsigned long addr, struct pt_leaf *leaf,
			     bool write)
{
	struct uhmm_mapping *m;
	struct uhmm_page *p;

	if (!write) {
		ptl_lock(leaf);
		if (pte_none(pte_get(leaf, addr)))
			pte_set(leaf, addr, mk_pte(mm->sys->zero_page->pfn, PTE_YOUNG | PTE_SOFT_DIRTY));
		ptl_unlock(leaf);
		return 0;
	}
	m = anon_vma_prepare(vma);
	if (!m)
		return -ENOMEM;
	p = page_alloc(mm->sys);
	if (!p)
		return -ENOMEM;
	memset(page_address(p), 0, PAGE_SIZE);
	p->mapping = m;
	p->index = vma_page_index(vma, addr);
	page_set_flag(p, PG_ANON | PG_ANON_EXCLUSIVE);
	ptl_lock(leaf);
	if (!pte_none(pte_get(leaf, addr))) {
		ptl_unlock(leaf);
		page_put(p);
		return 0;
	}
	page_add_rmap(p);
	pte_set(leaf, addr, mk_pte(p->pfn, new_pte_flags(vma, true)));
	ptl_unlock(leaf);
	return 0;
}

static int do_shared_page(struct uhmm_mm *mm, struct uhmm_vma *vma, unsigned long addr, struct pt_leaf *leaf,
			  bool write)
{
	struct uhmm_mapping *m = atomic_load(&vma->mapping);
	struct uhmm_page *p;

	if (!m || (vma->flags & VM_MIXEDMAP))
		return -EFAULT;
	p = shmem_get_page(mm->sys, m, vma_page_index(vma, addr));
	if (!p)
		return -ENOMEM;
	ptl_lock(leaf);
	if (!pte_none(pte_get(leaf, addr))) {
		ptl_unlock(leaf);
		page_put(p);
		return 0;
	}
	page_add_rmap(p);
	/* As the kernel: a read fault maps a shared page read-only, the first write marks it dirty. */
	pte_set(leaf, addr, mk_pte(p->pfn, new_pte_flags(vma, write)));
	ptl_unlock(leaf);
	return 0;
}

/* Write to a present read-only PTE: make it writable, reuse an exclusive anon page, or copy. */
static int do_wp_page(struct uhmm_mm *mm, struct uhmm_vma *vma, unsigned long addr, struct pt_leaf *leaf, pte_t pte)
{
	struct uhmm_mmu_notifier_range range;
	struct uhmm_page *old = pfn_to_page(mm->sys, pte_pfn(pte)), *new;
	struct uhmm_mapping *m;

	/* caller holds the PTL */
	if (vma->flags & VM_SHARED) {
		pte_set(leaf, addr, pte | PTE_WRITE | PTE_DIRTY | PTE_YOUNG | PTE_SOFT_DIRTY);
		ptl_unlock(leaf);
		return 0;
	}
	if (!page_is_zero(old) && page_is_anon(old) && atomic_load(&old->refcount) == 1 &&
	    atomic_load(&old->mapcount) == 1) {
		/* only this mapping holds the page: reuse it, no copy */
		page_set_flag(old, PG_ANON_EXCLUSIVE);
		pte_set(leaf, addr, pte | PTE_WRITE | PTE_DIRTY | PTE_YOUNG | PTE_SOFT_DIRTY);
		ptl_unlock(leaf);
		return 0;
	}
	if (!page_is_zero(old))
		page_get(old);
	ptl_unlock(leaf);

	m = anon_vma_prepare(vma);
	new = m ? page_alloc(mm->sys) : NULL;
	if (!new) {
		if (!page_is_zero(old))
			page_put(old);
		return -ENOMEM;
	}
	if (page_is_zero(old) || !page_address(old))
		memset(page_address(new), 0, PAGE_SIZE);
	else
		page_copy(new, old);
	new->mapping = m;
	new->index = vma_page_index(vma, addr);
	page_set_flag(new, PG_ANON | PG_ANON_EXCLUSIVE);

	mn_range_init(&range, UHMM_MMU_NOTIFY_CLEAR, mm, addr, addr + PAGE_SIZE);
	mn_invalidate_range_start(&range);
	ptl_lock(leaf);
	if (pte_get(leaf, addr) == pte) {
		pte_set(leaf, addr, mk_pte(new->pfn, new_pte_flags(vma, true)));
		page_add_rmap(new);
		if (!page_is_zero(old)) {
			page_remove_rmap(old);
			ptl_unlock(leaf);
			page_put(old);	/* the mapping's reference */
		} else {
			ptl_unlock(leaf);
		}
		new = NULL;
	} else {
		ptl_unlock(leaf);
	}
	mn_invalidate_range_end(&range);
	if (new)
		page_put(new);
	if (!page_is_zero(old))
		page_put(old);	/* our temporary reference */
	return 0;
}

/* A migration entry (PTL held): wait until the migrating page is unlocked, then let the caller retry. */
static int migration_entry_wait(struct uhmm_mm *mm, struct pt_leaf *leaf, unsigned long addr, pte_t pte)
{
	struct uhmm_page *p = pfn_to_page(mm->sys, pte_pfn(pte));

	(void)addr;
	if (p)
		migration_entry_wait_on_locked(p, leaf);	/* drops the PTL */
	else
		ptl_unlock(leaf);
	return 0;
}

static int do_handle_mm_fault(struct uhmm_mm *mm, struct uhmm_vma *vma, unsigned long addr, unsigned int fault_flags);

int handle_mm_fault(struct uhmm_mm *mm, struct uhmm_vma *vma, unsigned long addr, unsigned int fault_flags)
{
	int r;

	LOCKDEP_ASSERT_HELD(LR_MMAP, "handle_mm_fault");
	if (!trace_on())
		return do_handle_mm_fault(mm, vma, addr, fault_flags);
	trace_span(UHMM_TRACE_BEGIN, "mm", "cpu_fault", mm, addr & PAGE_MASK, (addr & PAGE_MASK) + PAGE_SIZE,
		   fault_flags);
	r = do_handle_mm_fault(mm, vma, addr, fault_flags);
	trace_span(UHMM_TRACE_END, "mm", "cpu_fault", mm, 0, 0, r);
	return r;
}

static int do_handle_mm_fault(struct uhmm_mm *mm, struct uhmm_vma *vma, unsigned long addr, unsigned int fault_flags)
{
	bool write = fault_flags & FAULT_FLAG_WRITE;
	struct pt_leaf *leaf;
	pmd_t *pmd;
	pmdval_t v;
	pte_t pte;

	addr &= PAGE_MASK;
	if (!(vma->flags & VM_READ) && !(vma->flags & VM_WRITE))
		return -EFAULT;
	if (write && !(vma->flags & VM_WRITE))
		return -EFAULT;
	pmd = pmd_offset_alloc(mm, addr, true);
	if (!pmd)
		return -ENOMEM;
	v = pmdp_get(pmd);
	if (pmd_none(v) && thp_vma_allowable(vma, addr)) {
		int r = do_huge_pmd_anonymous_page(mm, vma, addr, pmd);

		if (r != THP_FALLBACK)
			return r;
	} else if (pmd_leaf(v)) {
		if (!write || pmd_write(v))
			return 0;	/* the huge page satisfies the access */
		split_huge_pmd(mm, pmd);	/* write-protected: break it, then as a base page */
	}
	leaf = pt_walk(mm, addr, true);
	if (!leaf)
		return pmd_leaf(pmdp_get(pmd)) ? 0 : -ENOMEM;	/* a huge page raced in: re-walk */
	pte = pte_get(leaf, addr);
	if (pte_none(pte)) {
		if (vma_is_anonymous(vma))
			return do_anonymous_page(mm, vma, addr, leaf, write);
		return do_shared_page(mm, vma, addr, leaf, write);
	}
	ptl_lock(leaf);
	pte = pte_get(leaf, addr);
	if (pte_none(pte)) {
		ptl_unlock(leaf);
		return 0;	/* raced with a zap: re-walk */
	}
	if (pte_present(pte)) {
		if (write && !pte_write(pte))
			return do_wp_page(mm, vma, addr, leaf, pte);
		pte_set(leaf, addr, pte | PTE_YOUNG | (write ? PTE_DIRTY : 0));
		ptl_unlock(leaf);
		return 0;
	}
	if (is_migration_entry(pte))
		return migration_entry_wait(mm, leaf, addr, pte);
	if (is_device_private_entry(pte))
		return do_device_private_fault(mm, vma, addr, leaf, pte, fault_flags);
	if (is_device_exclusive_entry(pte))
		return do_device_exclusive_fault(mm, vma, addr, leaf, pte);
	ptl_unlock(leaf);
	UHMM_BUG("bad PTE %#llx at %#lx", (unsigned long long)pte, addr);
}
