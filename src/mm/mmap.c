/* SPDX-License-Identifier: MIT */
/* mmap.c - mmap, munmap, zapping page-table ranges, and exit_mmap.
 *
 * Counterpart of mm/mmap.c and zap_pte_range in mm/memory.c, for anonymous
 * memory (private, and MAP_SHARED|MAP_ANONYMOUS shmem). Address allocation is
 * top-down below TASK_SIZE, as the kernel's default layout.
 */
#include <string.h>

#include "mm/mm_internal.h"
#include "mm/pagewalk.h"

#define MMAP_BASE (TASK_SIZE - (1UL << 30))	/* leave room, like the stack gap */
#define MMAP_MIN_ADDR 0x10000UL
#define ZAP_BATCH 64

/* Drop one page-table entry's hold on its page. Called under the PTL. */
static struct uhmm_page *zap_one(struct uhmm_mm *mm, pte_t pte)
{
	struct uhmm_page *p;

	if (pte_present(pte)) {
		p = pfn_to_page(mm->sys, pte_pfn(pte));
		if (!p || page_is_zero(p))
			return NULL;
		if (pte & PTE_DIRTY)
			page_set_flag(p, PG_DIRTY);
		page_remove_rmap(p);
		return p;
	}
	p = pfn_to_page(mm->sys, pte_pfn(pte));
	if (is_device_private_entry(pte)) {
		page_remove_rmap(p);
		return p;
	}
	if (is_device_exclusive_entry(pte))
		return p;	/* the entry owns a reference but no rmap */
	return NULL;		/* migration entry: the migration holds the page */
}

/*
 * One leaf table's share of a zap: clear up to ZAP_BATCH entries under the
 * PTL, then drop their references after it (page_free callbacks may take
 * driver locks), until the range is done.
 */
static int zap_pmd_entry(pmd_t *pmd, unsigned long addr, unsigned long end, struct mm_walk *walk)
{
	pmdval_t v = pmdp_get(pmd);
	struct pt_leaf *leaf = pmd_pgtable(v);
	struct uhmm_page *batch[ZAP_BATCH];

	if (pmd_leaf(v)) {
		/* the whole huge page goes at once; a part of it is split first, then zapped as PTEs */
		if (end - addr == PMD_SIZE) {
			if (!zap_huge_pmd(walk->mm, pmd))
				walk->action = ACTION_AGAIN;
		} else {
			split_huge_pmd(walk->mm, pmd);
			walk->action = ACTION_AGAIN;
		}
		return 0;
	}

	while (addr < end) {
		unsigned n = 0, i;

		ptl_lock(leaf);
		for (; addr < end && n < ZAP_BATCH; addr += PAGE_SIZE) {
			pte_t pte = pte_get(leaf, addr);
			struct uhmm_page *p;

			if (pte_none(pte))
				continue;
			pte_set(leaf, addr, 0);
			p = zap_one(walk->mm, pte);
			if (p)
				batch[n++] = p;
		}
		ptl_unlock(leaf);
		for (i = 0; i < n; i++)
			page_put(batch[i]);
	}
	walk->action = ACTION_CONTINUE;
	return 0;
}

static const struct mm_walk_ops zap_walk_ops = { .pmd_entry = zap_pmd_entry };

/*
 * Clear every entry of [start, end) in @vma's address space and drop their
 * references. The caller emits the notifier invalidation around this.
 */
void zap_pte_range(struct uhmm_vma *vma, unsigned long start, unsigned long end)
{
	if (start < end)
		UHMM_WARN_ON(walk_page_range_vma(vma, start, end, &zap_walk_ops, NULL));
}

/* ------------------------------------------------------------- unmapping */
static void unmap_vma_range(struct uhmm_mm *mm, struct uhmm_vma *v)
{
	zap_pte_range(v, v->start, v->end);
	vma_tree_remove(mm, v);
	vma_free(v);
}

int do_munmap(struct uhmm_mm *mm, unsigned long start, unsigned long end)
{
	struct uhmm_mmu_notifier_range range;
	struct uhmm_vma *v = find_vma(mm, start), *last, *n;

	if (!v || v->start >= end)
		return 0;
	/* split first, so a failure leaves the mappings as they were */
	if (v->start < start) {
		if (vma_split(mm, v, start))
			return -ENOMEM;
		v = vma_next(v);
	}
	last = find_vma(mm, end - 1);
	if (last && last->start < end && last->end > end && vma_split(mm, last, end))
		return -ENOMEM;

	mn_range_init(&range, UHMM_MMU_NOTIFY_UNMAP, mm, start, end);
	mn_invalidate_range_start(&range);
	while (v && v->start < end) {
		n = vma_next(v);
		unmap_vma_range(mm, v);
		v = n;
	}
	mn_invalidate_range_end(&range);
	return 0;
}

void exit_mmap(struct uhmm_mm *mm)
{
	struct uhmm_mmu_notifier_range range;
	struct uhmm_rb_node *node;

	uhmm_mmap_write_lock(mm);
	if (mm->vma_tree.node) {
		mn_range_init(&range, UHMM_MMU_NOTIFY_UNMAP, mm, 0, ~0UL);
		mn_invalidate_range_start(&range);
		while ((node = uhmm_rb_first(&mm->vma_tree)))
			unmap_vma_range(mm, uhmm_rb_entry(node, struct uhmm_vma, rb));
		mn_invalidate_range_end(&range);
	}
	pt_free_all(mm);	/* free_pgtables: under the lock, walkers hold it for read */
	uhmm_mmap_write_unlock(mm);
}

int uhmm_munmap(struct uhmm_mm *mm, unsigned long addr, size_t len)
{
	unsigned long end;
	int r;

	if (!mm || !PAGE_ALIGNED(addr) || !len)
		return -EINVAL;
	end = addr + ((len + PAGE_SIZE - 1) & PAGE_MASK);
	if (end <= addr || end > TASK_SIZE)
		return -EINVAL;
	uhmm_mmap_write_lock(mm);
	r = do_munmap(mm, addr, end);
	uhmm_mmap_write_unlock(mm);
	return r;
}

/* --------------------------------------------------------------- mapping */
static bool range_free(struct uhmm_mm *mm, unsigned long addr, unsigned long len)
{
	struct uhmm_vma *v;

	if (addr < MMAP_MIN_ADDR || addr + len > TASK_SIZE || addr + len < addr)
		return false;
	v = find_vma(mm, addr);
	return !v || v->start >= addr + len;
}

/* Top-down search for a free gap of @len bytes below MMAP_BASE. 0 when none. */
unsigned long get_unmapped_area(struct uhmm_mm *mm, unsigned long hint, unsigned long len)
{
	struct uhmm_rb_node *node;
	unsigned long top = MMAP_BASE;

	if (hint && PAGE_ALIGNED(hint) && range_free(mm, hint, len))
		return hint;
	for (node = uhmm_rb_last(&mm->vma_tree); node; node = uhmm_rb_prev(node)) {
		struct uhmm_vma *v = uhmm_rb_entry(node, struct uhmm_vma, rb);

		if (v->start >= top)
			continue;
		if (v->end <= top && top - v->end >= len)
			return top - len;
		top = UHMM_MIN(top, v->start);
	}
	return top >= MMAP_MIN_ADDR + len ? top - len : 0;
}

#define MAP_KNOWN (MAP_SHARED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_FIXED_NOREPLACE | MAP_NORESERVE | \
		   MAP_POPULATE | MAP_LOCKED | MAP_NONBLOCK | MAP_STACK | MAP_GROWSDOWN | MAP_DENYWRITE | \
		   MAP_EXECUTABLE)

int uhmm_mmap(struct uhmm_mm *mm, unsigned long addr, size_t len, int prot, int flags, unsigned long *out_addr)
{
	unsigned long vm_flags, alen, pgoff;
	struct uhmm_mapping *m = NULL;
	struct uhmm_vma *v;
	int type = flags & (MAP_SHARED | MAP_PRIVATE);
	int r;

	if (!mm || !len || (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)))
		return -EINVAL;
	if (type != MAP_SHARED && type != MAP_PRIVATE)
		return -EINVAL;
	if (!(flags & MAP_ANONYMOUS))
		return -EINVAL;	/* no files yet: the kernel would say -EBADF for fd -1 */
	if ((flags & ~MAP_KNOWN) || (flags & MAP_GROWSDOWN))
		return -EINVAL;
	alen = (len + PAGE_SIZE - 1) & PAGE_MASK;
	if (!alen || alen > TASK_SIZE)
		return -ENOMEM;
	if ((flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) &&
	    (!PAGE_ALIGNED(addr)))
		return -EINVAL;
	if ((flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) && (addr + alen > TASK_SIZE || addr + alen < addr))
		return -ENOMEM;
	vm_flags = prot_to_vm(prot) | (type == MAP_SHARED ? VM_SHARED : 0);

	uhmm_mmap_write_lock(mm);
	if (atomic_load(&mm->mm_users) <= 0) {
		r = -EINVAL;
		goto out;
	}
	if (flags & MAP_FIXED_NOREPLACE) {
		struct uhmm_vma *o = find_vma(mm, addr);

		if (o && o->start < addr + alen) {
			r = -EEXIST;
			goto out;
		}
	} else if (!(flags & MAP_FIXED)) {
		addr = get_unmapped_area(mm, addr & PAGE_MASK, alen);
		if (!addr) {
			r = -ENOMEM;
			goto out;
		}
	}
	if (type == MAP_SHARED) {
		m = mapping_create(MAPPING_SHMEM);
		if (!m) {
			r = -ENOMEM;
			goto out;
		}
		m->nr_pages = alen >> PAGE_SHIFT;
		m->pages = uhmm_calloc(m->nr_pages, sizeof(*m->pages));
		if (!m->pages) {
			m->nr_pages = 0;
			mapping_put(m);
			r = -ENOMEM;
			goto out;
		}
		pgoff = 0;
	} else {
		pgoff = addr >> PAGE_SHIFT;
	}
	v = vma_alloc(mm, addr, addr + alen, vm_flags, pgoff, m);
	mapping_put(m);	/* the VMA holds its own reference */
	if (!v) {
		r = -ENOMEM;
		goto out;
	}
	if (flags & MAP_FIXED) {
		r = do_munmap(mm, addr, addr + alen);
		if (r) {
			vma_free(v);
			goto out;
		}
	}
	vma_tree_insert(mm, v);
	vma_try_merge(mm, v);
	if (out_addr)
		*out_addr = addr;
	r = 0;
out:
	uhmm_mmap_write_unlock(mm);
	return r;
}
