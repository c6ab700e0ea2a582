/* SPDX-License-Identifier: MIT */
/* fork.c - uhmm_mm_fork: duplicate an address space, copy-on-write for private memory.
 *
 * Counterpart of dup_mmap in kernel/fork.c and copy_page_range /
 * copy_nonpresent_pte in mm/memory.c. Private (COW) ranges of the parent get
 * a PROTECTION_PAGE invalidation while their PTEs are write-protected.
 * Device-private entries become read-only in both processes; migration
 * entries are copied (read-only); device-exclusive entries are restored to
 * the parent's PTE first (restore_exclusive_pte, as the CPU fault does) and
 * then copied as ordinary pages.
 */
#include <string.h>

#include "mm/mm_internal.h"
#include "mm/pagewalk.h"

/*
 * Copy one entry. Returns 0 or -ENOMEM: memory ran out, or an exclusive
 * page's lock could not be taken without sleeping (copy_nonpresent_pte's
 * -EBUSY, which copy_pmd_range turns into -ENOMEM: fork itself fails, in
 * 6.1 and still in current kernels).
 */
static int copy_one_pte(struct uhmm_mm *dst_mm, struct uhmm_vma *src_vma,
			struct pt_leaf *sl, struct pt_leaf *dl, unsigned long addr, bool cow)
{
	struct uhmm_mm *src_mm = src_vma->mm;
	pte_t pte = pte_get(sl, addr);
	struct uhmm_page *p;

	if (pte_none(pte))
		return 0;
	p = pfn_to_page(src_mm->sys, pte_pfn(pte));
	if (!pte_present(pte)) {
		switch (pte_swp_type(pte)) {
		case SWP_MIGRATION_WRITE:
		case SWP_MIGRATION_READ_EXCLUSIVE:
			if (cow) {
				/* both sides read-only and no longer exclusive */
				pte = pte_swp_retype(pte, SWP_MIGRATION_READ);
				pte_set(sl, addr, pte);
			}
			pte_set(dl, addr, pte_swp_clear_soft_dirty(pte));
			return 0;
		case SWP_MIGRATION_READ:
			pte_set(dl, addr, pte_swp_clear_soft_dirty(pte));
			return 0;
		case SWP_DEVICE_WRITE:
			if (cow) {
				pte = pte_swp_clear_write(pte, false);
				pte_set(sl, addr, pte);
			}
			/* fallthrough */
		case SWP_DEVICE_READ:
			page_get(p);
			page_add_rmap(p);
			page_clear_flag(p, PG_ANON_EXCLUSIVE);
			pte_set(dl, addr, pte_swp_clear_soft_dirty(pte));
			return 0;
		case SWP_DEVICE_EXCLUSIVE_READ:
		case SWP_DEVICE_EXCLUSIVE_WRITE:
			if (!page_trylock(p))
				return -ENOMEM;
			/* the PROTECTION_PAGE invalidation around the copy covers the device */
			pte = restore_exclusive_pte(src_vma, p, addr, sl, pte);
			page_unlock(p);
			break;	/* now an ordinary present PTE: copy below */
		default:
			UHMM_BUG("bad swap PTE %#llx", (unsigned long long)pte);
		}
	}
	if (page_is_zero(p)) {
		pte_set(dl, addr, pte & ~PTE_SOFT_DIRTY);
		return 0;
	}
	if (cow && atomic_load(&p->pincount) > 0 && page_address(p)) {
		/* a pinned page must stay the parent's: the child gets its copy now, as the kernel does */
		struct uhmm_page *np = page_alloc(dst_mm->sys);

		if (!np)
			return -ENOMEM;
		page_copy(np, p);
		np->mapping = p->mapping;
		np->index = p->index;
		page_set_flag(np, PG_ANON | PG_ANON_EXCLUSIVE);
		page_add_rmap(np);
		pte_set(dl, addr, mk_pte(np->pfn, (pte & (PTE_WRITE | PTE_DIRTY))));
		return 0;
	}
	page_get(p);
	page_add_rmap(p);
	if (cow) {
		page_clear_flag(p, PG_ANON_EXCLUSIVE);
		if (pte_write(pte)) {
			pte &= ~PTE_WRITE;
			pte_set(sl, addr, pte);
		}
	}
	pte_set(dl, addr, pte & ~(PTE_YOUNG | PTE_SOFT_DIRTY));
	return 0;
}

struct copy_walk {
	struct uhmm_mm *dst_mm;
	bool cow;
};

/* One leaf table of the parent: the child's table is allocated, both PTLs held across its entries. */
static int copy_pmd_entry(pmd_t *pmd, unsigned long addr, unsigned long end, struct mm_walk *walk)
{
	struct copy_walk *c = walk->private;
	struct pt_leaf *sl, *dl;
	int r = 0;

	if (pmd_leaf(pmdp_get(pmd))) {
		/* uhmm does not share huge pages across fork: the parent's is split, then copied as PTEs */
		split_huge_pmd(walk->mm, pmd);
		walk->action = ACTION_AGAIN;
		return 0;
	}
	sl = pmd_pgtable(pmdp_get(pmd));
	dl = pt_walk(c->dst_mm, addr, true);
	walk->action = ACTION_CONTINUE;
	if (!dl)
		return -ENOMEM;
	ptl_lock(sl);
	ptl_lock_nested(dl);	/* a new mm nobody else can see: no ordering issue */
	for (; !r && addr < end; addr += PAGE_SIZE)
		r = copy_one_pte(c->dst_mm, walk->vma, sl, dl, addr, c->cow);
	ptl_unlock(dl);
	ptl_unlock(sl);
	return r;
}

static const struct mm_walk_ops copy_walk_ops = { .pmd_entry = copy_pmd_entry };

static int copy_page_range(struct uhmm_mm *dst_mm, struct uhmm_mm *src_mm, struct uhmm_vma *vma)
{
	struct copy_walk c = { dst_mm, !(vma->flags & VM_SHARED) };
	struct uhmm_mmu_notifier_range range;
	int r;

	if (c.cow && !atomic_load(&vma->mapping))
		return 0;	/* never faulted: nothing to copy, no notification (as the kernel) */
	if (c.cow) {
		mn_range_init(&range, UHMM_MMU_NOTIFY_PROTECTION_PAGE, src_mm, vma->start, vma->end);
		mn_invalidate_range_start(&range);
	}
	r = walk_page_vma(vma, &copy_walk_ops, &c);
	if (c.cow)
		mn_invalidate_range_end(&range);
	return r;
}

int uhmm_mm_fork(struct uhmm_mm *parent, struct uhmm_mm **child)
{
	struct uhmm_rb_node *node;
	struct uhmm_mm *mm;
	int r;

	if (!parent || !child)
		return -EINVAL;
	r = uhmm_mm_create(parent->sys, &mm);
	if (r)
		return r;
	uhmm_mmap_write_lock(parent);
	if (atomic_load(&parent->mm_users) <= 0) {
		r = -EINVAL;
		goto out;
	}
	for (node = uhmm_rb_first(&parent->vma_tree); node; node = uhmm_rb_next(node)) {
		struct uhmm_vma *v = uhmm_rb_entry(node, struct uhmm_vma, rb), *nv;

		if (v->flags & VM_MIXEDMAP)
			continue;	/* driver-inserted pages are not inherited in this model */
		nv = vma_alloc(mm, v->start, v->end, v->flags, v->pgoff, atomic_load(&v->mapping));
		if (!nv) {
			r = -ENOMEM;
			break;
		}
		mmap_write_lock_nested(mm);
		vma_tree_insert(mm, nv);
		uhmm_mmap_write_unlock(mm);
		r = copy_page_range(mm, parent, v);
		if (r)
			break;
	}
out:
	uhmm_mmap_write_unlock(parent);
	if (r) {
		uhmm_mm_put(mm);
		return r;
	}
	*child = mm;
	return 0;
}
