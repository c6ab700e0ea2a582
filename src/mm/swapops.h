/* SPDX-License-Identifier: MIT */
/* swapops.h - making, testing and changing non-present page-table entries.
 *
 * Counterpart of include/linux/swapops.h and the pte_swp_* helpers of the
 * arch pgtable headers. uhmm has no swap: its non-present entries are the
 * device-private, device-exclusive and migration kinds, each carrying a pfn
 * (the encoding is in internal.h). Code outside this file names the entry
 * it makes or the change it applies instead of masking bits by hand.
 * Included by internal.h; not for direct inclusion.
 */
#ifndef UHMM_MM_SWAPOPS_H
#define UHMM_MM_SWAPOPS_H

/* ------------------------------------------------------------ making */
static inline pte_t make_readable_device_private_entry(unsigned long pfn)
{
	return mk_swp_pte(SWP_DEVICE_READ, pfn, 0);
}
static inline pte_t make_writable_device_private_entry(unsigned long pfn)
{
	return mk_swp_pte(SWP_DEVICE_WRITE, pfn, 0);
}
static inline pte_t make_writable_device_exclusive_entry(unsigned long pfn)
{
	return mk_swp_pte(SWP_DEVICE_EXCLUSIVE_WRITE, pfn, 0);
}
static inline pte_t make_readable_migration_entry(unsigned long pfn)
{
	return mk_swp_pte(SWP_MIGRATION_READ, pfn, 0);
}
/* read-only, but the anonymous page was exclusively owned: may be remapped writable without COW */
static inline pte_t make_readable_exclusive_migration_entry(unsigned long pfn)
{
	return mk_swp_pte(SWP_MIGRATION_READ_EXCLUSIVE, pfn, 0);
}
static inline pte_t make_writable_migration_entry(unsigned long pfn)
{
	return mk_swp_pte(SWP_MIGRATION_WRITE, pfn, 0);
}

static inline bool is_writable_migration_entry(pte_t pte) { return pte_swp_type(pte) == SWP_MIGRATION_WRITE; }
static inline bool is_readable_exclusive_migration_entry(pte_t pte)
{
	return pte_swp_type(pte) == SWP_MIGRATION_READ_EXCLUSIVE;
}
static inline bool pte_swp_soft_dirty(pte_t pte) { return pte & SWP_SOFT_DIRTY; }
static inline bool pte_swp_young(pte_t pte) { return pte & SWP_YOUNG; }
static inline bool pte_swp_dirty(pte_t pte) { return pte & SWP_DIRTY; }

/* ---------------------------------------------------------- changing */
static inline pte_t pte_swp_mksoft_dirty(pte_t pte) { return pte | SWP_SOFT_DIRTY; }
static inline pte_t pte_swp_clear_soft_dirty(pte_t pte) { return pte & ~SWP_SOFT_DIRTY; }
static inline pte_t pte_swp_mkyoung(pte_t pte) { return pte | SWP_YOUNG; }
static inline pte_t pte_swp_mkdirty(pte_t pte) { return pte | SWP_DIRTY; }

/* The same entry with another type; pfn and the soft-dirty/young/dirty bits are kept. */
static inline pte_t pte_swp_retype(pte_t pte, enum swp_type t)
{
	return (pte & ~SWP_TYPE_MASK) | ((pte_t)t << SWP_TYPE_SHIFT);
}

/*
 * Write-protect a non-present entry, keeping its pfn and bits: a writable
 * device-private or device-exclusive entry becomes its readable variant; a
 * writable migration entry becomes readable-exclusive when @anon_exclusive
 * (the anonymous page stays exclusively owned) and readable otherwise. Any
 * other entry comes back unchanged.
 */
static inline pte_t pte_swp_clear_write(pte_t pte, bool anon_exclusive)
{
	switch (pte_swp_type(pte)) {
	case SWP_DEVICE_WRITE:
		return pte_swp_retype(pte, SWP_DEVICE_READ);
	case SWP_DEVICE_EXCLUSIVE_WRITE:
		return pte_swp_retype(pte, SWP_DEVICE_EXCLUSIVE_READ);
	case SWP_MIGRATION_WRITE:
		return pte_swp_retype(pte, anon_exclusive ? SWP_MIGRATION_READ_EXCLUSIVE : SWP_MIGRATION_READ);
	default:
		return pte;
	}
}

/* Soft-dirty carried from a present PTE to the entry that replaces it, and back. */
static inline pte_t pte_swp_soft_dirty_from_pte(pte_t entry, pte_t pte)
{
	return pte & PTE_SOFT_DIRTY ? pte_swp_mksoft_dirty(entry) : entry;
}
static inline pte_t pte_soft_dirty_from_swp(pte_t pte, pte_t entry)
{
	return pte_swp_soft_dirty(entry) ? pte | PTE_SOFT_DIRTY : pte;
}

#endif
