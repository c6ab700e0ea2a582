/* SPDX-License-Identifier: MIT */
/* madvise.c - madvise: MADV_DONTNEED zaps, the pure hints are accepted.
 *
 * Counterpart of mm/madvise.c. MADV_DONTNEED emits a CLEAR invalidation per
 * VMA and drops the pages: private memory reads back as zeroes, shmem keeps
 * its contents. MADV_HUGEPAGE / MADV_NOHUGEPAGE mark VMAs for transparent
 * huge pages (mm/huge_memory.c); MADV_FREE cleans pages that uhmm, having no
 * reclaim, never discards; MADV_COLLAPSE copies a populated 2 MiB range into
 * a huge page now.
 */
#include "mm/mm_internal.h"
#include "mm/pagewalk.h"

/*
 * MADV_HUGEPAGE / MADV_NOHUGEPAGE: set the VMA flag over the range, splitting
 * VMAs at its ends as Linux's madvise_update_vma (mmap write lock). The
 * flags decide later faults; huge pages already mapped stay as they are.
 */
static void set_hugepage_flag(struct uhmm_vma *v, void *arg)
{
	int advice = *(int *)arg;

	v->flags &= ~(VM_HUGEPAGE | VM_NOHUGEPAGE);
	v->flags |= advice == MADV_HUGEPAGE ? VM_HUGEPAGE : VM_NOHUGEPAGE;
}

static int madvise_hugepage(struct uhmm_mm *mm, unsigned long start, unsigned long end, int advice)
{
	int r;

	uhmm_mmap_write_lock(mm);
	r = vma_range_covered(mm, start, end);
	if (!r)
		r = vma_modify(mm, start, end, set_hugepage_flag, &advice);
	uhmm_mmap_write_unlock(mm);
	return r;
}

/* @fn on each VMA piece of [start, end) (covered), inside one CLEAR invalidation of the piece. */
static void clear_each_piece(struct uhmm_mm *mm, unsigned long start, unsigned long end,
			     void (*fn)(struct uhmm_vma *v, unsigned long s, unsigned long e))
{
	unsigned long addr;

	for (addr = start; addr < end;) {
		struct uhmm_vma *v = find_vma(mm, addr);
		unsigned long s = UHMM_MAX(addr, v->start), e = UHMM_MIN(end, v->end);
		struct uhmm_mmu_notifier_range range;

		mn_range_init(&range, UHMM_MMU_NOTIFY_CLEAR, mm, s, e);
		mn_invalidate_range_start(&range);
		fn(v, s, e);
		mn_invalidate_range_end(&range);
		addr = e;
	}
}

/*
 * MADV_FREE (madvise_free_pte_range): the caller no longer needs the data,
 * but it may stay. Pages mapped only here get clean and old; Linux's reclaim
 * may then discard them (reads come back zero) until a write dirties them
 * again. uhmm has no reclaim, so nothing is ever discarded: reads return the
 * data, which is one of the outcomes Linux allows. Device and special
 * entries and the zero page are left alone.
 */
static int madvise_free_pte_entry(_Atomic pte_t *ptep, unsigned long addr, unsigned long next, struct mm_walk *walk)
{
	pte_t pte = ptep_get(ptep);
	struct uhmm_page *p;

	(void)addr;
	(void)next;
	if (!pte_present(pte))
		return 0;
	p = pfn_to_page(walk->mm->sys, pte_pfn(pte));
	if (!p || page_is_zero(p) || !page_is_anon(p) || atomic_load(&p->mapcount) != 1)
		return 0;
	page_clear_flag(p, PG_DIRTY);
	set_pte(ptep, pte & ~(PTE_DIRTY | PTE_YOUNG));
	return 0;
}

static const struct mm_walk_ops madvise_free_ops = { .pte_entry = madvise_free_pte_entry };

/* Private anonymous VMAs only (-EINVAL otherwise, nothing changed); one CLEAR per VMA piece. mmap read lock. */
static void madvise_free_piece(struct uhmm_vma *v, unsigned long s, unsigned long e)
{
	UHMM_WARN_ON(walk_page_range_vma(v, s, e, &madvise_free_ops, NULL));
}

static int madvise_free(struct uhmm_mm *mm, unsigned long start, unsigned long end)
{
	unsigned long addr;

	for (addr = start; addr < end;) {
		struct uhmm_vma *v = find_vma(mm, addr);

		if (!vma_is_anonymous(v))
			return -EINVAL;
		addr = v->end;
	}
	clear_each_piece(mm, start, end, madvise_free_piece);
	return 0;
}

/*
 * MADV_COLLAPSE: every aligned 2 MiB inside [start, end) becomes one huge
 * page now, whatever the THP mode (as Linux: the sysfs setting does not
 * apply), unless its VMA is not private anonymous, does not cover it whole,
 * or is advised MADV_NOHUGEPAGE (-EINVAL). The last failure is returned;
 * the other ranges are still collapsed. mmap write lock.
 */
static int madvise_collapse(struct uhmm_mm *mm, unsigned long start, unsigned long end)
{
	unsigned long haddr = (start + PMD_SIZE - 1) & PMD_MASK;
	int r, last = 0;

	uhmm_mmap_write_lock(mm);
	r = vma_range_covered(mm, start, end);
	for (; !r && haddr + PMD_SIZE <= end && haddr + PMD_SIZE > haddr; haddr += PMD_SIZE) {
		struct uhmm_vma *v = find_vma(mm, haddr);
		int one;

		if (!vma_is_anonymous(v) || (v->flags & VM_NOHUGEPAGE) || haddr + PMD_SIZE > v->end)
			one = -EINVAL;
		else
			one = collapse_huge_pmd(mm, v, haddr);
		if (one)
			last = one;
	}
	uhmm_mmap_write_unlock(mm);
	return r ? r : last;
}

int uhmm_madvise(struct uhmm_mm *mm, unsigned long start, size_t len, int advice)
{
	unsigned long end;
	int r;

	if (!mm || !PAGE_ALIGNED(start))
		return -EINVAL;
	switch (advice) {
	case MADV_NORMAL: case MADV_RANDOM: case MADV_SEQUENTIAL: case MADV_WILLNEED:
	case MADV_DONTNEED: case MADV_HUGEPAGE: case MADV_NOHUGEPAGE: case MADV_FREE: case UHMM_MADV_COLLAPSE:
		break;
	default:
		return -EINVAL;
	}
	if (!len)
		return 0;
	end = start + ((len + PAGE_SIZE - 1) & PAGE_MASK);
	if (end <= start)
		return -EINVAL;
	if (advice == MADV_HUGEPAGE || advice == MADV_NOHUGEPAGE)
		return madvise_hugepage(mm, start, end, advice);
	if (advice == UHMM_MADV_COLLAPSE)
		return madvise_collapse(mm, start, end);
	uhmm_mmap_read_lock(mm);
	r = vma_range_covered(mm, start, end);
	if (!r && advice == MADV_FREE)
		r = madvise_free(mm, start, end);
	else if (!r && advice == MADV_DONTNEED)
		clear_each_piece(mm, start, end, zap_pte_range);
	uhmm_mmap_read_unlock(mm);
	return r;
}
