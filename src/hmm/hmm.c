/* SPDX-License-Identifier: MIT */
/* hmm.c - hmm_range_fault: snapshot (and optionally fault) a CPU range for a device mirror.
 *
 * Counterpart of mm/hmm.c (6.1 flag layout). The walk reads PTEs without the
 * PTL: the interval notifier's sequence, not a lock, tells the caller whether
 * what it read is still true. After a fault the walk restarts at the faulted
 * address; entries below it keep their outputs.
 */
#include "internal.h"
#include "mm/pagewalk.h"
#include "lib/trace.h"

#define NEED_FAULT 1u
#define NEED_WRITE_FAULT 2u
#define HMM_REWALK 1	/* internal: a fault happened, walk again from hmm->last */

struct hmm_walk {
	struct uhmm_range *range;
	unsigned long last;
	bool may_fault;	/* some entry can request a fault at all */
};

static unsigned need_fault(const struct hmm_walk *w, unsigned long in, unsigned long cpu_flags)
{
	unsigned long req;

	if (!w->may_fault)
		return 0;
	req = (in & w->range->pfn_flags_mask) | w->range->default_flags;
	if (!(req & UHMM_PFN_REQ_FAULT))
		return 0;
	if ((req & UHMM_PFN_REQ_WRITE) && !(cpu_flags & UHMM_PFN_WRITE))
		return NEED_FAULT | NEED_WRITE_FAULT;
	if (!(cpu_flags & UHMM_PFN_VALID))
		return NEED_FAULT;
	return 0;
}

/* Fault [addr, end) in @vma, then ask for a re-walk from @addr (hmm_vma_fault). */
static int hmm_vma_fault(struct hmm_walk *w, struct uhmm_mm *mm, struct uhmm_vma *vma, unsigned long addr,
			 unsigned long end, unsigned required)
{
	unsigned int flags = FAULT_FLAG_REMOTE;

	w->last = addr;
	if (required & NEED_WRITE_FAULT) {
		if (!(vma->flags & VM_WRITE))
			return -EPERM;
		flags |= FAULT_FLAG_WRITE;
	}
	for (; addr < end; addr += PAGE_SIZE) {
		int r = handle_mm_fault(mm, vma, addr, flags);

		if (r)
			return r == -ENOMEM ? -ENOMEM : -EFAULT;
	}
	return HMM_REWALK;
}

/* The request flags of @npages entries, OR-ed: the fault a range needs (hmm_range_need_fault). */
static unsigned range_need_fault(const struct hmm_walk *w, const unsigned long *pfns, unsigned long npages,
				 unsigned long cpu_flags)
{
	unsigned required = 0;
	unsigned long i;

	if (!w->may_fault)
		return 0;
	for (i = 0; i < npages && required != (NEED_FAULT | NEED_WRITE_FAULT); i++)
		required |= need_fault(w, pfns[i], cpu_flags);
	return required;
}

static void pfns_fill(unsigned long *pfns, unsigned long npages, unsigned long v)
{
	while (npages--)
		*pfns++ = v;
}

static unsigned long *range_pfns(struct uhmm_range *range, unsigned long addr)
{
	return range->hmm_pfns + ((addr - range->start) >> PAGE_SHIFT);
}

/*
 * No page table under [addr, end) (or no VMA at all). Inside a VMA a
 * required fault faults the whole hole from its start, as Linux's
 * hmm_vma_walk_hole: pages before the one that asked come back valid too.
 */
static int hmm_vma_walk_hole(unsigned long addr, unsigned long end, int depth, struct mm_walk *walk)
{
	struct hmm_walk *w = walk->private;
	unsigned long *pfns = range_pfns(w->range, addr), npages = (end - addr) >> PAGE_SHIFT;
	unsigned required = range_need_fault(w, pfns, npages, 0);

	(void)depth;
	if (!walk->vma) {
		if (required)
			return -EFAULT;
		pfns_fill(pfns, npages, UHMM_PFN_ERROR);
		return 0;
	}
	if (required)
		return hmm_vma_fault(w, walk->mm, walk->vma, addr, end, required);
	pfns_fill(pfns, npages, 0);
	return 0;
}

/* A VMA without read permission: an error if anything in it must be faulted, else ERROR entries. */
static int hmm_vma_walk_test(unsigned long start, unsigned long end, struct mm_walk *walk)
{
	struct hmm_walk *w = walk->private;
	unsigned long *pfns = range_pfns(w->range, start), npages = (end - start) >> PAGE_SHIFT;

	if (walk->vma->flags & VM_READ)
		return 0;
	if (range_need_fault(w, pfns, npages, 0))
		return -EFAULT;
	pfns_fill(pfns, npages, UHMM_PFN_ERROR);
	return 1;
}

/* One leaf table's worth of [addr, end): entries read without the PTL (hmm_vma_walk_pmd). */
static int hmm_vma_walk_pmd(pmd_t *pmd, unsigned long addr, unsigned long end, struct mm_walk *walk)
{
	struct hmm_walk *w = walk->private;
	struct uhmm_range *range = w->range;
	struct uhmm_mm *mm = walk->mm;
	struct uhmm_vma *vma = walk->vma;
	unsigned long *pfns = range_pfns(range, addr);
	pmdval_t v = pmdp_get(pmd);
	struct pt_leaf *leaf = pmd_pgtable(v);
	unsigned long wflag;

	walk->action = ACTION_CONTINUE;
	if (pmd_leaf(v)) {
		/* a huge page: every entry valid, with map order 9 (hmm_vma_handle_pmd) */
		unsigned long cpu = UHMM_PFN_VALID | (pmd_write(v) ? UHMM_PFN_WRITE : 0), npages = (end - addr) >> PAGE_SHIFT;
		unsigned long pfn = pmd_pfn(v) + ((addr & ~PMD_MASK) >> PAGE_SHIFT), i;
		unsigned required = range_need_fault(w, pfns, npages, cpu);

		if (required)
			return hmm_vma_fault(w, mm, vma, addr, end, required);
		for (i = 0; i < npages; i++)
			pfns[i] = (pfn + i) | cpu | ((unsigned long)HPAGE_ORDER << UHMM_PFN_ORDER_SHIFT);
		return 0;
	}
	for (; addr < end; addr += PAGE_SIZE, pfns++) {
		pte_t pte = pte_get(leaf, addr);
		unsigned long out, cpu;
		unsigned required;

		if (pte_present(pte)) {
			/* RAM, zero page and coherent pages alike: pfn, valid, and write if the PTE allows */
			wflag = pte_write(pte) ? UHMM_PFN_WRITE : 0;
			cpu = UHMM_PFN_VALID | wflag;
			out = pte_pfn(pte) | cpu;
		} else if (pte_none(pte)) {
			cpu = out = 0;
		} else if (is_device_private_entry(pte)) {
			struct uhmm_page *p;
			bool owned;

			/*
			 * The owner lives in the page's pgmap. A lockless read may be
			 * stale, and a stale entry's page may be gone with its pgmap
			 * (driver eviction then memunmap): look under the PTL, where a
			 * current entry holds the page and so the pgmap.
			 */
			ptl_lock(leaf);
			if (pte_get(leaf, addr) != pte) {
				ptl_unlock(leaf);
				w->last = addr;
				return HMM_REWALK;
			}
			p = pfn_to_page(mm->sys, pte_pfn(pte));
			owned = p && range->dev_private_owner && p->pgmap->owner == range->dev_private_owner;
			ptl_unlock(leaf);
			if (owned) {
				/* reported with its current permission, whatever was requested */
				*pfns = pte_pfn(pte) | UHMM_PFN_VALID |
					(is_writable_swp_entry(pte) ? UHMM_PFN_WRITE : 0);
				continue;
			}
			cpu = out = 0;
		} else if (is_migration_entry(pte)) {
			if (need_fault(w, *pfns, 0)) {
				struct uhmm_page *p = NULL;

				/* as a CPU fault: under the PTL, holding no reference while asleep;
				 * the page is looked up only once the entry is known current */
				ptl_lock(leaf);
				if (pte_get(leaf, addr) == pte)
					p = pfn_to_page(mm->sys, pte_pfn(pte));
				if (p)
					migration_entry_wait_on_locked(p, leaf);
				else
					ptl_unlock(leaf);
				w->last = addr;
				return HMM_REWALK;
			}
			cpu = out = 0;
		} else {
			cpu = out = 0;	/* device-exclusive: a fault restores it */
		}
		required = need_fault(w, *pfns, cpu);
		if (required)
			return hmm_vma_fault(w, mm, vma, addr, end, required);
		*pfns = out;
	}
	return 0;
}

static const struct mm_walk_ops hmm_walk_ops = {
	.pmd_entry = hmm_vma_walk_pmd,
	.pte_hole = hmm_vma_walk_hole,
	.test_walk = hmm_vma_walk_test,
};

int uhmm_range_fault(struct uhmm_range *range)
{
	struct hmm_walk w;
	struct uhmm_mm *mm;
	int r;

	if (!range || !range->notifier || !range->notifier->mm || !range->hmm_pfns)
		return -EINVAL;
	if (!PAGE_ALIGNED(range->start) || !PAGE_ALIGNED(range->end) || range->end <= range->start ||
	    range->end > TASK_SIZE)
		return -EINVAL;
	LOCKDEP_ASSERT_HELD(LR_MMAP, "uhmm_range_fault");
	mm = range->notifier->mm;
	w.range = range;
	w.last = range->start;
	w.may_fault = (range->default_flags | range->pfn_flags_mask) & UHMM_PFN_REQ_FAULT;
	TRACE_BEGIN("hmm", "hmm_range_fault", mm, range->start, range->end);
	do {
		/* a collided sequence sends the caller back to read_begin */
		if (uhmm_mmu_interval_check_retry(range->notifier, range->notifier_seq)) {
			r = -EBUSY;
			break;
		}
		r = walk_page_range(mm, w.last, range->end, &hmm_walk_ops, &w);
	} while (r == HMM_REWALK);
	TRACE_END("hmm", "hmm_range_fault", mm, r);
	return r;
}
