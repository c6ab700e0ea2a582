/* SPDX-License-Identifier: MIT */
/* mremap.c - mremap: shrink, grow in place, or move a mapping with its page-table entries.
 *
 * Counterpart of mm/mremap.c. Entries of every kind (present, device-private,
 * exclusive, migration) move as they are; the old range sees an UNMAP
 * invalidation for the move and another from the unmap that follows, as in
 * the kernel. Left out: MREMAP_DONTUNMAP.
 */
#include "mm/mm_internal.h"
#include "mm/pagewalk.h"

unsigned long get_unmapped_area(struct uhmm_mm *mm, unsigned long hint, unsigned long len);

/*
 * A move walks the source's leaf tables and cuts each into segments that
 * land in one destination table: [addr, seg_end) moves to
 * [addr + delta, seg_end + delta).
 */
struct move_walk {
	unsigned long delta;	/* new - old, modulo 2^64 */
	bool prealloc;		/* first pass: only allocate the destination tables */
};

static unsigned long move_segment_end(unsigned long addr, unsigned long end, unsigned long delta)
{
	unsigned long daddr = addr + delta;

	return addr + (pmd_addr_end(daddr, daddr + (end - addr)) - daddr);
}

static bool segment_empty(struct pt_leaf *src, unsigned long addr, unsigned long end)
{
	for (; addr < end; addr += PAGE_SIZE)
		if (!pte_none(pte_get(src, addr)))
			return false;
	return true;
}

/* Move [addr, seg_end) of @src to @dst, both PTLs held. */
static void move_segment(struct pt_leaf *src, struct pt_leaf *dst, unsigned long addr, unsigned long seg_end,
			 unsigned long delta)
{
	/* Two PTLs of one mm: lower table first, whichever way the move goes
	 * (the kernel's spin_lock_nested; the mmap write lock excludes
	 * another mover, this keeps the order one order). */
	struct pt_leaf *first = (uintptr_t)src < (uintptr_t)dst ? src : dst;

	ptl_lock(first);
	if (dst != src)
		ptl_lock_nested(first == src ? dst : src);
	for (; addr < seg_end; addr += PAGE_SIZE) {
		pte_t pte = pte_get(src, addr);

		if (pte_none(pte))
			continue;
		pte_set(src, addr, 0);
		pte_set(dst, addr + delta, pte);
	}
	if (dst != src)
		ptl_unlock(first == src ? dst : src);
	ptl_unlock(first);
}

/*
 * One source table, segment by segment: the first pass allocates the
 * destination tables that segments with entries need (so the move cannot
 * fail half-way), the second moves the entries.
 */
static int move_pmd_entry(pmd_t *pmd, unsigned long addr, unsigned long end, struct mm_walk *walk)
{
	struct move_walk *mv = walk->private;
	pmdval_t v = pmdp_get(pmd);
	struct pt_leaf *src = pmd_pgtable(v);

	if (pmd_leaf(v)) {
		/* entries move one by one: split a huge page first */
		split_huge_pmd(walk->mm, pmd);
		walk->action = ACTION_AGAIN;
		return 0;
	}
	walk->action = ACTION_CONTINUE;
	for (; addr < end; addr = move_segment_end(addr, end, mv->delta)) {
		unsigned long seg_end = move_segment_end(addr, end, mv->delta);

		/* the mmap write lock keeps empty entries empty: no fault can fill them */
		if (segment_empty(src, addr, seg_end))
			continue;
		if (mv->prealloc) {
			if (!pt_walk(walk->mm, addr + mv->delta, true))
				return -ENOMEM;
		} else {
			move_segment(src, pt_walk(walk->mm, addr + mv->delta, false), addr, seg_end, mv->delta);
		}
	}
	return 0;
}

static const struct mm_walk_ops move_walk_ops = { .pmd_entry = move_pmd_entry };

/* Move the entries of [old, old+len) to [new, new+len). mmap write lock held. */
static void move_page_tables(struct uhmm_mm *mm, unsigned long old, unsigned long new, unsigned long len)
{
	struct move_walk mv = { new - old, false };
	struct uhmm_mmu_notifier_range range;

	mn_range_init(&range, UHMM_MMU_NOTIFY_UNMAP, mm, old, old + len);
	mn_invalidate_range_start(&range);
	if (len)
		UHMM_WARN_ON(walk_page_range_novma(mm, old, old + len, &move_walk_ops, &mv));
	mn_invalidate_range_end(&range);
}

/* Allocate every leaf table of [addr, addr+len) that a move would need. */
static int prealloc_tables(struct uhmm_mm *mm, unsigned long old, unsigned long addr, unsigned long len)
{
	struct move_walk mv = { addr - old, true };

	if (!len)
		return 0;
	return walk_page_range_novma(mm, old, old + len, &move_walk_ops, &mv);
}

static int move_vma(struct uhmm_mm *mm, struct uhmm_vma *vma, unsigned long old, unsigned long old_len,
		    unsigned long new, unsigned long new_len)
{
	struct uhmm_vma *nv;
	unsigned long moved = UHMM_MIN(old_len, new_len);
	int r;

	r = prealloc_tables(mm, old, new, moved);
	if (r)
		return r;
	nv = vma_alloc(mm, new, new + new_len, vma->flags, vma_page_index(vma, old), atomic_load(&vma->mapping));
	if (!nv)
		return -ENOMEM;
	vma_tree_insert(mm, nv);
	move_page_tables(mm, old, new, moved);
	r = do_munmap(mm, old, old + old_len);
	UHMM_WARN_ON(r);
	vma_try_merge(mm, nv);
	return 0;
}

/* Shmem objects grow with their mapping so new pages have somewhere to live. */
static int shmem_grow(struct uhmm_vma *vma, unsigned long new_end)
{
	struct uhmm_mapping *m = atomic_load(&vma->mapping);
	unsigned long need = vma_page_index(vma, new_end);
	struct uhmm_page **pages;

	if (!m || m->kind != MAPPING_SHMEM)
		return 0;
	mapping_lock(m);
	if (need > m->nr_pages) {
		pages = uhmm_calloc(need, sizeof(*pages));
		if (!pages) {
			mapping_unlock(m);
			return -ENOMEM;
		}
		for (unsigned long i = 0; i < m->nr_pages; i++)
			pages[i] = m->pages[i];
		free(m->pages);
		m->pages = pages;
		m->nr_pages = need;
	}
	mapping_unlock(m);
	return 0;
}

int uhmm_mremap(struct uhmm_mm *mm, unsigned long addr, size_t old_len, size_t new_len, int flags,
		unsigned long new_addr, unsigned long *out_addr)
{
	struct uhmm_vma *vma;
	unsigned long result = 0;
	int r;

	if (!mm || (flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED)) || !PAGE_ALIGNED(addr))
		return -EINVAL;
	if ((flags & MREMAP_FIXED) && !(flags & MREMAP_MAYMOVE))
		return -EINVAL;
	old_len = (old_len + PAGE_SIZE - 1) & PAGE_MASK;
	new_len = (new_len + PAGE_SIZE - 1) & PAGE_MASK;
	if (!new_len || !old_len)
		return -EINVAL;	/* old_len 0 duplicates shared mappings in the kernel: not modelled */
	if (addr + old_len < addr || addr + old_len > TASK_SIZE || new_len > TASK_SIZE)
		return -EINVAL;
	if (flags & MREMAP_FIXED) {
		if (!PAGE_ALIGNED(new_addr) || new_addr + new_len > TASK_SIZE || new_addr + new_len < new_addr)
			return -EINVAL;
		if (new_addr < addr + old_len && addr < new_addr + new_len)
			return -EINVAL;	/* overlapping ranges */
	}

	uhmm_mmap_write_lock(mm);
	vma = find_vma(mm, addr);
	if (!vma || vma->start > addr || addr + old_len > vma->end) {
		r = -EFAULT;
		goto out;
	}
	if (flags & MREMAP_FIXED) {
		r = do_munmap(mm, new_addr, new_addr + new_len);
		if (!r && new_len < old_len)
			r = do_munmap(mm, addr + new_len, addr + old_len);
		if (r)
			goto out;
		vma = find_vma(mm, addr);
		r = shmem_grow(vma, addr + new_len);
		if (!r)
			r = move_vma(mm, vma, addr, UHMM_MIN(old_len, new_len), new_addr, new_len);
		result = new_addr;
		goto out;
	}
	if (new_len <= old_len) {
		r = new_len < old_len ? do_munmap(mm, addr + new_len, addr + old_len) : 0;
		result = addr;
		goto out;
	}
	/* grow: in place when the VMA ends here and the space after it is free */
	if (addr + old_len == vma->end) {
		struct uhmm_vma *next = vma_next(vma);

		if ((!next || next->start >= addr + new_len) && addr + new_len <= TASK_SIZE) {
			r = shmem_grow(vma, addr + new_len);
			if (!r) {
				vma_set_range(vma, vma->start, addr + new_len, vma->pgoff);
				vma_try_merge(mm, vma);
			}
			result = addr;
			goto out;
		}
	}
	if (!(flags & MREMAP_MAYMOVE)) {
		r = -ENOMEM;
		goto out;
	}
	result = get_unmapped_area(mm, 0, new_len);
	if (!result) {
		r = -ENOMEM;
		goto out;
	}
	r = shmem_grow(vma, addr + new_len);
	if (!r)
		r = move_vma(mm, vma, addr, old_len, result, new_len);
out:
	uhmm_mmap_write_unlock(mm);
	if (!r && out_addr)
		*out_addr = result;
	return r;
}
