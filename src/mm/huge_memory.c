/* SPDX-License-Identifier: MIT */
/* huge_memory.c - transparent huge pages: the anonymous PMD fault, split, zap and lookups.
 *
 * Counterpart of mm/huge_memory.c for private anonymous memory. A fault in
 * an eligible, aligned 2 MiB range maps a zeroed 2 MiB block with one PMD
 * entry. Whatever needs base pages (a partial unmap/mprotect/mremap, fork,
 * migration, GUP pins, device-exclusive, soft-dirty tracking) splits it first
 * into 512 PTEs of 512 independent base pages. Left out: the huge zero page
 * (a read fault allocates, as with transparent_hugepage/use_zero_page = 0),
 * sharing a huge page across fork, keeping it huge across a full-range
 * mprotect, khugepaged.
 *
 * Locking: a huge PMD is installed by compare-and-swap from empty (the fault
 * owns its new page), and changed afterwards (split, zap) only under its head
 * page's lock, after re-checking the entry. That lock is taken blocking only
 * by a thread holding no other page lock; migrate collect, which holds its
 * batch's, uses split_huge_pmd_trylock and leaves the range out on failure. Readers (CPU access, snapshots)
 * take no lock: a reference on the head, taken while the entry still maps
 * it, keeps the frames alive, as GUP-fast does.
 */
#include <string.h>

#include "lib/trace.h"
#include "mm/mm_internal.h"

bool thp_vma_allowable(struct uhmm_vma *vma, unsigned long addr)
{
	unsigned long haddr = addr & PMD_MASK;

	if (!vma_is_anonymous(vma) || (vma->flags & VM_NOHUGEPAGE))
		return false;
	switch (vma->mm->sys->thp) {
	case UHMM_THP_ALWAYS:
		break;
	case UHMM_THP_MADVISE:
		if (!(vma->flags & VM_HUGEPAGE))
			return false;
		break;
	default:
		return false;
	}
	return haddr >= vma->start && haddr + PMD_SIZE <= vma->end;
}

int do_huge_pmd_anonymous_page(struct uhmm_mm *mm, struct uhmm_vma *vma, unsigned long addr, pmd_t *pmd)
{
	unsigned long haddr = addr & PMD_MASK;
	struct uhmm_mapping *m = anon_vma_prepare(vma);
	struct uhmm_page *head;
	struct pt_leaf *table;
	pmdval_t expected = 0;

	if (!m)
		return -ENOMEM;
	head = page_alloc_huge(mm->sys);
	if (!head)
		return THP_FALLBACK;
	/* the table a later split will need, so that a split never fails (pgtable_trans_huge_deposit) */
	table = pt_leaf_alloc();
	if (!table) {
		page_put(head);
		return THP_FALLBACK;
	}
	memset(page_address(head), 0, PMD_SIZE);
	head->mapping = m;
	head->index = vma_page_index(vma, haddr);
	head->pmd_deposit = table;
	page_set_flag(head, PG_ANON | PG_ANON_EXCLUSIVE);
	page_add_rmap(head);
	/* release: a walker that sees the entry sees the zeroed frames and the head's fields */
	if (atomic_compare_exchange_strong_explicit(
		    pmd, &expected,
		    mk_pmd(head->pfn, PTE_YOUNG | PTE_DIRTY | PTE_SOFT_DIRTY | (vma->flags & VM_WRITE ? PTE_WRITE : 0)),
		    memory_order_release, memory_order_relaxed))
		return 0;
	/* another fault installed a table or a huge page first: re-walk */
	page_remove_rmap(head);
	head->pmd_deposit = NULL;
	pt_leaf_free(table);
	page_put(head);
	return 0;
}

/*
 * The head of the huge page *pmd maps, referenced and locked, with *pmd
 * still equal to the returned value; NULL if *pmd is not (or no longer) a
 * huge page.
 */
static struct uhmm_page *lock_huge_pmd(struct uhmm_mm *mm, pmd_t *pmd, pmdval_t *out, bool trylock)
{
	for (;;) {
		pmdval_t v = pmdp_get(pmd);
		struct uhmm_page *head;

		if (!pmd_leaf(v))
			return NULL;
		head = pfn_to_page(mm->sys, pmd_pfn(v));
		if (!page_get_unless_zero(head))
			continue;	/* its last mapping is going: the entry is about to change */
		if (trylock) {
			if (!page_trylock(head)) {
				page_put(head);
				return NULL;
			}
		} else {
			page_lock(head);
		}
		if (pmdp_get(pmd) == v) {
			*out = v;
			return head;
		}
		page_unlock(head);
		page_put(head);
	}
}

static bool do_split_huge_pmd(struct uhmm_mm *mm, pmd_t *pmd, bool trylock)
{
	struct uhmm_page *head;
	struct pt_leaf *table;
	unsigned excl;
	pmdval_t v;
	pte_t flags;
	unsigned long i;

	head = lock_huge_pmd(mm, pmd, &v, trylock);
	if (!head)
		return !pmd_leaf(pmdp_get(pmd));
	table = head->pmd_deposit;
	flags = (pte_t)v & (PTE_WRITE | PTE_DIRTY | PTE_YOUNG | PTE_SOFT_DIRTY);
	excl = page_test_flag(head, PG_ANON_EXCLUSIVE) ? PG_ANON_EXCLUSIVE : 0;
	/* the tails become base pages mapped once each; the head keeps its own counts */
	for (i = 1; i < HPAGE_NR; i++) {
		struct uhmm_page *p = &head[i];

		p->mapping = head->mapping;
		p->index = head->index + i;
		atomic_store_explicit(&p->flags, PG_ANON | excl, memory_order_relaxed);
		atomic_store_explicit(&p->mapcount, 1, memory_order_relaxed);
		atomic_store_explicit(&p->refcount, 1, memory_order_relaxed);
	}
	for (i = 0; i < HPAGE_NR; i++)
		atomic_store_explicit(&table->pte[i], mk_pte(head->pfn + i, flags), memory_order_relaxed);
	head->pmd_deposit = NULL;
	page_clear_flag(head, PG_HEAD);
	/* release pairs with the walkers' acquire: they see the filled table and the tails' counts */
	atomic_store_explicit(pmd, (pmdval_t)table, memory_order_release);
	page_unlock(head);
	page_put(head);
	return true;
}

void split_huge_pmd(struct uhmm_mm *mm, pmd_t *pmd)
{
	do_split_huge_pmd(mm, pmd, false);
}

bool split_huge_pmd_trylock(struct uhmm_mm *mm, pmd_t *pmd)
{
	return do_split_huge_pmd(mm, pmd, true);
}

bool zap_huge_pmd(struct uhmm_mm *mm, pmd_t *pmd)
{
	struct uhmm_page *head;
	struct pt_leaf *table;
	pmdval_t v;

	head = lock_huge_pmd(mm, pmd, &v, false);
	if (!head)
		return false;
	atomic_store_explicit(pmd, 0, memory_order_relaxed);
	table = head->pmd_deposit;
	head->pmd_deposit = NULL;
	if (v & PTE_DIRTY)
		page_set_flag(head, PG_DIRTY);
	page_remove_rmap(head);
	page_unlock(head);
	pt_leaf_free(table);
	page_put(head);	/* ours */
	page_put(head);	/* the mapping's: the last one frees the 2 MiB block */
	return true;
}

struct uhmm_page *huge_pmd_get_page(struct uhmm_mm *mm, pmd_t *pmd, pmdval_t v)
{
	struct uhmm_page *head = pfn_to_page(mm->sys, pmd_pfn(v));

	if (!page_get_unless_zero(head))
		return NULL;
	/* the entry still maps it: the reference was taken on the huge page, not a recycled frame */
	if (pmdp_get(pmd) == v)
		return head;
	page_put(head);
	return NULL;
}

void split_huge_pmd_address(struct uhmm_mm *mm, unsigned long addr)
{
	pmd_t *pmd = pmd_offset_alloc(mm, addr, false);

	if (pmd && pmd_leaf(pmdp_get(pmd)))
		split_huge_pmd(mm, pmd);
}

/*
 * The base pages under @table that a collapse may copy: present anonymous
 * RAM pages (shared with a fork child or not), the zero page, or none.
 * PTL held. 0, -EAGAIN (a pinned page, a migration in flight) or -EINVAL
 * (device-private or device-exclusive entries, other memory).
 */
static int collapse_check(struct uhmm_mm *mm, struct pt_leaf *table, unsigned long *populated)
{
	unsigned long i;

	*populated = 0;
	for (i = 0; i < HPAGE_NR; i++) {
		pte_t pte = atomic_load_explicit(&table->pte[i], memory_order_relaxed);
		struct uhmm_page *p;

		if (pte_none(pte))
			continue;
		if (is_migration_entry(pte))
			return -EAGAIN;
		if (!pte_present(pte))
			return -EINVAL;
		p = pfn_to_page(mm->sys, pte_pfn(pte));
		if (!p || page_is_device(p))
			return -EINVAL;
		if (page_is_zero(p))
			continue;
		if (!page_is_anon(p))
			return -EINVAL;
		if (atomic_load(&p->pincount) > 0 || page_test_flag(p, PG_LOCKED))
			return -EAGAIN;
		(*populated)++;
	}
	return 0;
}

/*
 * MADV_COLLAPSE of the aligned 2 MiB at @haddr in @vma (mmap write lock):
 * copy its base pages into a new huge page and map that with one PMD entry,
 * under one CLEAR invalidation of the 2 MiB (collapse_huge_page). 0 (also
 * when it is huge already), -ENOMEM (nothing populated there, or no 2 MiB
 * block), -EAGAIN or -EINVAL as collapse_check.
 */
int collapse_huge_pmd(struct uhmm_mm *mm, struct uhmm_vma *vma, unsigned long haddr)
{
	struct uhmm_mmu_notifier_range range;
	pmd_t *pmd = pmd_offset_alloc(mm, haddr, false);
	struct uhmm_page *head, *old[HPAGE_NR];
	struct uhmm_mapping *m;
	struct pt_leaf *table, *deposit;
	unsigned long i, populated, nold = 0;
	pmdval_t v = pmd ? pmdp_get(pmd) : 0;
	int r;

	if (pmd_leaf(v))
		return 0;
	if (pmd_none(v))
		return -ENOMEM;	/* nothing populated to collapse */
	table = pmd_pgtable(v);
	m = anon_vma_prepare(vma);
	head = m ? page_alloc_huge(mm->sys) : NULL;
	deposit = head ? pt_leaf_alloc() : NULL;
	if (!deposit) {
		if (head)
			page_put(head);
		return -ENOMEM;
	}
	mn_range_init(&range, UHMM_MMU_NOTIFY_CLEAR, mm, haddr, haddr + PMD_SIZE);
	mn_invalidate_range_start(&range);
	ptl_lock(table);
	r = collapse_check(mm, table, &populated);
	if (!r && !populated)
		r = -ENOMEM;	/* only holes and the zero page: nothing to collapse */
	if (r) {
		ptl_unlock(table);
		mn_invalidate_range_end(&range);
		pt_leaf_free(deposit);
		page_put(head);
		return r;
	}
	for (i = 0; i < HPAGE_NR; i++) {
		pte_t pte = atomic_load_explicit(&table->pte[i], memory_order_relaxed);
		unsigned char *dst = (unsigned char *)page_address(head) + i * PAGE_SIZE;
		struct uhmm_page *p = pte_none(pte) ? NULL : pfn_to_page(mm->sys, pte_pfn(pte));

		if (!p || page_is_zero(p)) {
			memset(dst, 0, PAGE_SIZE);
		} else {
			memcpy(dst, page_address(p), PAGE_SIZE);
			page_remove_rmap(p);
			old[nold++] = p;
		}
		atomic_store_explicit(&table->pte[i], 0, memory_order_relaxed);
	}
	head->mapping = m;
	head->index = vma_page_index(vma, haddr);
	head->pmd_deposit = deposit;
	page_set_flag(head, PG_ANON | PG_ANON_EXCLUSIVE);
	page_add_rmap(head);
	/* release: walkers that see the entry see the copied frames */
	atomic_store_explicit(pmd, mk_pmd(head->pfn, PTE_YOUNG | PTE_DIRTY | PTE_SOFT_DIRTY |
						     (vma->flags & VM_WRITE ? PTE_WRITE : 0)),
			      memory_order_release);
	ptl_unlock(table);
	/* a lock-free walker may still hold the old table: it is freed only at exit */
	table->retired_next = mm->retired_tables;
	mm->retired_tables = table;
	mn_invalidate_range_end(&range);
	for (i = 0; i < nold; i++)
		page_put(old[i]);
	return 0;
}
