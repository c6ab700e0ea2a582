/* madvise.c - madvise: MADV_DONTNEED zaps, the pure hints are accepted.
 *
 * Counterpart of mm/madvise.c. MADV_DONTNEED emits a CLEAR invalidation per
 * VMA and drops the pages: private memory reads back as zeroes, shmem keeps
 * its contents. Left out: MADV_FREE's lazy semantics, THP hints.
 */
#include "mm/mm_internal.h"

int uhmm_madvise(struct uhmm_mm *mm, unsigned long start, size_t len, int advice)
{
	unsigned long end, addr;
	int r = 0;

	if (!mm || !PAGE_ALIGNED(start))
		return -EINVAL;
	switch (advice) {
	case MADV_NORMAL: case MADV_RANDOM: case MADV_SEQUENTIAL: case MADV_WILLNEED:
	case MADV_DONTNEED: case MADV_HUGEPAGE: case MADV_NOHUGEPAGE:
		break;
	default:
		return -EINVAL;
	}
	if (!len)
		return 0;
	end = start + ((len + PAGE_SIZE - 1) & PAGE_MASK);
	if (end <= start)
		return -EINVAL;
	uhmm_mmap_read_lock(mm);
	for (addr = start; addr < end;) {
		struct uhmm_vma *v = find_vma(mm, addr);

		if (!v || v->start > addr) {
			r = -ENOMEM;
			goto out;
		}
		addr = v->end;
	}
	if (advice != MADV_DONTNEED)
		goto out;
	for (addr = start; addr < end;) {
		struct uhmm_vma *v = find_vma(mm, addr);
		unsigned long s = UHMM_MAX(addr, v->start), e = UHMM_MIN(end, v->end);
		struct uhmm_mmu_notifier_range range;

		mn_range_init(&range, UHMM_MMU_NOTIFY_CLEAR, mm, s, e);
		mn_invalidate_range_start(&range);
		zap_pte_range(v, s, e);
		mn_invalidate_range_end(&range);
		addr = e;
	}
out:
	uhmm_mmap_read_unlock(mm);
	return r;
}
