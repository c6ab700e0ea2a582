/* hmm.c - hmm_range_fault: snapshot (and optionally fault) a CPU range for a device mirror.
 *
 * Counterpart of mm/hmm.c (6.1 flag layout). The walk reads PTEs without the
 * PTL: the interval notifier's sequence, not a lock, tells the caller whether
 * what it read is still true. After a fault the walk restarts at the faulted
 * address; entries below it keep their outputs.
 */
#include "internal.h"
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

/* One leaf table's worth of [addr, end) inside @vma. */
static int walk_ptes(struct hmm_walk *w, struct uhmm_mm *mm, struct uhmm_vma *vma, unsigned long addr,
		     unsigned long end)
{
	struct uhmm_range *range = w->range;
	unsigned long *pfns = range->hmm_pfns + ((addr - range->start) >> PAGE_SHIFT);
	struct pt_leaf *leaf = pt_walk(mm, addr, false);
	unsigned long wflag;

	if (!leaf) {
		unsigned long a;

		for (a = addr; a < end; a += PAGE_SIZE, pfns++) {
			unsigned required = need_fault(w, *pfns, 0);

			if (required)
				return hmm_vma_fault(w, mm, vma, a, end, required);
			*pfns = 0;
		}
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

static int hmm_walk_range(struct hmm_walk *w, struct uhmm_mm *mm)
{
	struct uhmm_range *range = w->range;
	unsigned long addr = w->last;

	while (addr < range->end) {
		struct uhmm_vma *vma = find_vma(mm, addr);
		unsigned long vend, a;
		int r;

		if (!vma || vma->start > addr) {
			/* no VMA: an error unless nothing is requested */
			unsigned long hole_end = vma ? UHMM_MIN(vma->start, range->end) : range->end;

			for (a = addr; a < hole_end; a += PAGE_SIZE) {
				unsigned long *pfn = &range->hmm_pfns[(a - range->start) >> PAGE_SHIFT];

				if (need_fault(w, *pfn, 0))
					return -EFAULT;
				*pfn = UHMM_PFN_ERROR;
			}
			addr = hole_end;
			continue;
		}
		vend = UHMM_MIN(vma->end, range->end);
		if (!(vma->flags & VM_READ)) {
			for (a = addr; a < vend; a += PAGE_SIZE)
				if (need_fault(w, range->hmm_pfns[(a - range->start) >> PAGE_SHIFT], 0))
					return -EFAULT;
			for (a = addr; a < vend; a += PAGE_SIZE)
				range->hmm_pfns[(a - range->start) >> PAGE_SHIFT] = UHMM_PFN_ERROR;
			addr = vend;
			continue;
		}
		while (addr < vend) {
			unsigned long next = UHMM_MIN((addr + PMD_SIZE) & ~(PMD_SIZE - 1), vend);

			r = walk_ptes(w, mm, vma, addr, next);
			if (r)
				return r;
			addr = next;
		}
	}
	return 0;
}

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
		r = hmm_walk_range(&w, mm);
	} while (r == HMM_REWALK);
	TRACE_END("hmm", "hmm_range_fault", mm, r);
	return r;
}
