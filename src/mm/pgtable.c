/* SPDX-License-Identifier: MIT */
/* pgtable.c - 4-level page tables: 512 entries a level, 48-bit addresses, 4 KiB pages.
 *
 * Counterpart of the pgd/pud/pmd/pte allocation in mm/memory.c. Upper levels
 * are populated with a compare-and-swap so concurrent faults never take a
 * lock above the leaf; tables are only freed with the mm, which is what lets
 * hmm_range_fault walk them without locks. A PMD entry is a table or a huge
 * page (mm/huge_memory.c). Left out: PUD leaves.
 */
#include <string.h>

#include "internal.h"

static struct pt_dir *dir_alloc(void)
{
	return uhmm_calloc(1, sizeof(struct pt_dir));
}

static struct pt_leaf *leaf_alloc(void)
{
	struct pt_leaf *l = uhmm_calloc(1, sizeof(*l));

	if (l)
		CHECK_PTHREAD(pthread_mutex_init(&l->ptl, NULL));
	return l;
}

/* Get or install the upper-level table below @dir at @idx. */
static struct pt_dir *dir_child(struct pt_dir *dir, unsigned idx, bool allocate)
{
	uintptr_t cur = atomic_load_explicit(&dir->e[idx], memory_order_acquire);
	struct pt_dir *fresh;

	if (cur || !allocate)
		return (struct pt_dir *)cur;
	fresh = dir_alloc();
	if (!fresh)
		return NULL;
	/* release pairs with the acquire loads of walkers: they see a zeroed, initialised table. */
	if (atomic_compare_exchange_strong_explicit(&dir->e[idx], &cur, (uintptr_t)fresh, memory_order_acq_rel,
						    memory_order_acquire))
		return fresh;
	free(fresh);
	return (struct pt_dir *)cur;
}

pmd_t *pmd_offset_alloc(struct uhmm_mm *mm, unsigned long addr, bool allocate)
{
	struct pt_dir *pud, *pmd;

	pud = dir_child(mm->pgd, pt_index(addr, PT_SHIFT_PGD), allocate);
	if (!pud)
		return NULL;
	pmd = dir_child(pud, pt_index(addr, PT_SHIFT_PUD), allocate);
	if (!pmd)
		return NULL;
	return &pmd->e[pt_index(addr, PT_SHIFT_PMD)];
}

struct pt_leaf *pt_leaf_alloc(void)
{
	return leaf_alloc();
}

void pt_leaf_free(struct pt_leaf *l)
{
	pthread_mutex_destroy(&l->ptl);
	free(l);
}

struct pt_leaf *pt_walk(struct uhmm_mm *mm, unsigned long addr, bool allocate)
{
	pmd_t *pmd = pmd_offset_alloc(mm, addr, allocate);
	pmdval_t v;
	struct pt_leaf *fresh;

	if (!pmd)
		return NULL;
	v = pmdp_get(pmd);
	if (pmd_leaf(v))
		return NULL;	/* a huge page maps the whole 2 MiB: no table */
	if (v || !allocate)
		return pmd_pgtable(v);
	fresh = leaf_alloc();
	if (!fresh)
		return NULL;
	/* release pairs with the acquire loads of walkers: they see a zeroed, initialised table */
	if (atomic_compare_exchange_strong_explicit(pmd, &v, (pmdval_t)fresh, memory_order_acq_rel,
						    memory_order_acquire))
		return fresh;
	pt_leaf_free(fresh);
	return pmd_leaf(v) ? NULL : pmd_pgtable(v);	/* another fault's table, or a huge page */
}

static void free_level(struct pt_dir *dir, int level)
{
	unsigned i;

	for (i = 0; i < PT_ENTRIES; i++) {
		void *child = (void *)atomic_load_explicit(&dir->e[i], memory_order_relaxed);

		if (!child)
			continue;
		if (level == 2) {
			/* exit zapped every huge page first: only tables are left */
			if (!UHMM_WARN_ON(pmd_leaf((pmdval_t)child)))
				pt_leaf_free(child);
		} else {
			free_level(child, level - 1);
		}
	}
	free(dir);
}

/*
 * Exit (mmap lock held for write): free every table below the pgd and empty
 * it, so a walk of the exited address space - its structure lives on while
 * notifiers hold it - finds nothing. The pgd itself goes with the structure
 * (mm_drop), as the kernel frees it in __mmdrop.
 */
void pt_free_all(struct uhmm_mm *mm)
{
	unsigned i;

	while (mm->retired_tables) {
		struct pt_leaf *l = mm->retired_tables;

		mm->retired_tables = l->retired_next;
		pt_leaf_free(l);
	}
	for (i = 0; i < PT_ENTRIES; i++) {
		void *child = (void *)atomic_load_explicit(&mm->pgd->e[i], memory_order_relaxed);

		if (!child)
			continue;
		atomic_store_explicit(&mm->pgd->e[i], 0, memory_order_relaxed);
		free_level(child, 3);
	}
}
