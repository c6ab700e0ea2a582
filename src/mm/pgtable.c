/* pgtable.c - 4-level page tables: 512 entries a level, 48-bit addresses, 4 KiB pages.
 *
 * Counterpart of the pgd/pud/pmd/pte allocation in mm/memory.c. Upper levels
 * are populated with a compare-and-swap so concurrent faults never take a
 * lock above the leaf; tables are only freed with the mm, which is what lets
 * hmm_range_fault walk them without locks. Left out: PMD/PUD leaves (THP).
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

/* Get or install the child of @dir at @idx. */
static void *dir_child(struct pt_dir *dir, unsigned idx, bool allocate, bool leaf)
{
	uintptr_t cur = atomic_load_explicit(&dir->e[idx], memory_order_acquire);
	void *fresh;

	if (cur || !allocate)
		return (void *)cur;
	fresh = leaf ? (void *)leaf_alloc() : (void *)dir_alloc();
	if (!fresh)
		return NULL;
	/* release pairs with the acquire loads of walkers: they see a zeroed, initialised table. */
	if (atomic_compare_exchange_strong_explicit(&dir->e[idx], &cur, (uintptr_t)fresh, memory_order_acq_rel,
						    memory_order_acquire))
		return fresh;
	if (leaf)
		pthread_mutex_destroy(&((struct pt_leaf *)fresh)->ptl);
	free(fresh);
	return (void *)cur;
}

struct pt_leaf *pt_walk(struct uhmm_mm *mm, unsigned long addr, bool allocate)
{
	struct pt_dir *pud, *pmd;

	pud = dir_child(mm->pgd, pt_index(addr, PT_SHIFT_PGD), allocate, false);
	if (!pud)
		return NULL;
	pmd = dir_child(pud, pt_index(addr, PT_SHIFT_PUD), allocate, false);
	if (!pmd)
		return NULL;
	return dir_child(pmd, pt_index(addr, PT_SHIFT_PMD), allocate, true);
}

static void free_level(struct pt_dir *dir, int level)
{
	unsigned i;

	for (i = 0; i < PT_ENTRIES; i++) {
		void *child = (void *)atomic_load_explicit(&dir->e[i], memory_order_relaxed);

		if (!child)
			continue;
		if (level == 2) {
			pthread_mutex_destroy(&((struct pt_leaf *)child)->ptl);
			free(child);
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

	for (i = 0; i < PT_ENTRIES; i++) {
		void *child = (void *)atomic_load_explicit(&mm->pgd->e[i], memory_order_relaxed);

		if (!child)
			continue;
		atomic_store_explicit(&mm->pgd->e[i], 0, memory_order_relaxed);
		free_level(child, 3);
	}
}
