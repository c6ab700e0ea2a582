/* SPDX-License-Identifier: MIT */
/* uhmm/hmm.h - hmm_range_fault: mirror a CPU address range into a device.
 *
 * Counterpart of include/linux/hmm.h and mm/hmm.c (6.1 flag layout).
 */
#ifndef UHMM_HMM_H
#define UHMM_HMM_H

#include <uhmm/memremap.h>
#include <uhmm/notifier.h>

#ifdef __cplusplus
extern "C" {
#endif

#define UHMM_PFN_VALID     (1UL << 63)
#define UHMM_PFN_WRITE     (1UL << 62)
#define UHMM_PFN_ERROR     (1UL << 61)
#define UHMM_PFN_ORDER_SHIFT 56
#define UHMM_PFN_FLAGS     (0xFFUL << 56)
#define UHMM_PFN_REQ_FAULT UHMM_PFN_VALID
#define UHMM_PFN_REQ_WRITE UHMM_PFN_WRITE

struct uhmm_range {
	struct uhmm_mmu_interval_notifier *notifier;
	unsigned long notifier_seq;
	unsigned long start, end;	/* page aligned, [start, end) */
	unsigned long *hmm_pfns;	/* (end - start) >> PAGE_SHIFT words */
	unsigned long default_flags;
	unsigned long pfn_flags_mask;
	void *dev_private_owner;
};

static inline unsigned long uhmm_pfn_to_pfn(unsigned long hmm_pfn) { return hmm_pfn & ~UHMM_PFN_FLAGS; }
static inline unsigned int uhmm_pfn_to_map_order(unsigned long hmm_pfn)
{
	return (hmm_pfn >> UHMM_PFN_ORDER_SHIFT) & 0x1F;
}

/*
 * uhmm_range_fault - fill range->hmm_pfns, faulting as requested. Call with
 * the mmap lock of notifier->mm held for read. 0; -EBUSY (the sequence
 * collided: go back to read_begin); -EFAULT; -EPERM (write to a read-only
 * VMA); -EINVAL (bad range); -ENOMEM.
 */
UHMM_API int uhmm_range_fault(struct uhmm_range *range);

#ifdef __cplusplus
}
#endif
#endif
