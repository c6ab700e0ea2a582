/* SPDX-License-Identifier: MIT */
/* rmap.c - the reverse map: from a page to every (address space, address) that maps it.
 *
 * Counterpart of mm/rmap.c. A page records its mapping (anon family or shmem
 * object) and its index; the mapping lists every VMA that may map it, and
 * the address follows from the VMA's pgoff, as in the kernel's anon_vma and
 * i_mmap walks. mapcount counts present PTEs and device-private entries.
 */
#include "internal.h"

void page_add_rmap(struct uhmm_page *p)
{
	atomic_fetch_add_explicit(&p->mapcount, 1, memory_order_relaxed);
}

void page_remove_rmap(struct uhmm_page *p)
{
	int old = atomic_fetch_sub_explicit(&p->mapcount, 1, memory_order_relaxed);

	UHMM_BUG_ON(old <= 0);
}

/*
 * Call @fn for every VMA of the page's mapping whose range covers the page's
 * index. The page lock keeps page->mapping/index stable; the mapping lock
 * keeps VMAs from being unlinked (munmap and exit unlink before freeing).
 * @fn returns false to stop the walk.
 */
void rmap_walk(struct uhmm_page *page, rmap_one_fn fn, void *arg)
{
	struct uhmm_mapping *m = page->mapping;
	struct uhmm_vma *v;

	if (!m)
		return;
	mapping_lock(m);
	for (v = m->vmas; v; v = v->map_next) {
		unsigned long npages = (v->end - v->start) >> PAGE_SHIFT;

		if (page->index < v->pgoff || page->index >= v->pgoff + npages)
			continue;
		if (!fn(page, v, v->start + ((page->index - v->pgoff) << PAGE_SHIFT), arg))
			break;
	}
	mapping_unlock(m);
}
