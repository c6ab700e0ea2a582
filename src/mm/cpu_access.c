/* SPDX-License-Identifier: MIT */
/* cpu_access.c - what a user thread's loads and stores do: walk, fault, copy; and GUP pinning.
 *
 * Counterpart of the user-access side of mm/memory.c and of mm/gup.c
 * (pin_user_pages). Permissions are checked over the whole range before a
 * byte moves, so a faulting access copies nothing (the SIGSEGV case).
 */
#include <string.h>

#include "mm/mm_internal.h"
#include "mm/pagewalk.h"

/* -EFAULT unless every byte of [addr, end) is in a VMA allowing the access. */
static int check_access(struct uhmm_mm *mm, unsigned long addr, unsigned long end, bool write)
{
	while (addr < end) {
		struct uhmm_vma *v = find_vma(mm, addr);

		if (!v || v->start > addr)
			return -EFAULT;
		if (!(v->flags & (write ? VM_WRITE : VM_READ)))
			return -EFAULT;
		addr = v->end;
	}
	return 0;
}

/*
 * Make the PTE at @addr satisfy the access and call @fn on the page under the
 * PTL (so the page cannot be unmapped and freed meanwhile).
 */
typedef void (*page_fn)(struct uhmm_page *p, pte_t pte, void *arg);

/*
 * A huge page mapped at @addr that allows the access: @fn on the base page
 * at @addr, under a reference on the head instead of the PTL. Returns true
 * when done; false to go the base-page way (nothing huge there, or a write
 * to a write-protected one, or @need_pte: the caller keeps the page, which
 * must then be a base page of its own).
 */
static bool access_huge_page(struct uhmm_mm *mm, unsigned long addr, bool write, bool need_pte, page_fn fn,
			     void *arg)
{
	pmd_t *pmd = pmd_offset_alloc(mm, addr, false);
	struct uhmm_page *head;
	pmdval_t v;

	if (!pmd)
		return false;
	v = pmdp_get(pmd);
	if (!pmd_leaf(v))
		return false;
	if (need_pte || (write && !pmd_write(v))) {
		split_huge_pmd(mm, pmd);
		return false;
	}
	head = huge_pmd_get_page(mm, pmd, v);
	if (!head)
		return false;	/* changed under us: the caller re-walks */
	fn(&head[(addr & ~PMD_MASK) >> PAGE_SHIFT], (pte_t)v, arg);
	page_put(head);
	return true;
}

static int access_page(struct uhmm_mm *mm, unsigned long addr, bool write, bool need_pte, page_fn fn, void *arg)
{
	for (;;) {
		struct pt_leaf *leaf;
		struct uhmm_vma *vma;
		int r;

		if (access_huge_page(mm, addr, write, need_pte, fn, arg))
			return 0;
		leaf = pt_walk(mm, addr, false);
		if (leaf) {
			pte_t pte;

			ptl_lock(leaf);
			pte = pte_get(leaf, addr);
			if (pte_present(pte) && (!write || pte_write(pte))) {
				pte_set(leaf, addr, pte | PTE_YOUNG | (write ? PTE_DIRTY | PTE_SOFT_DIRTY : 0));
				fn(pfn_to_page(mm->sys, pte_pfn(pte)), pte, arg);
				ptl_unlock(leaf);
				return 0;
			}
			ptl_unlock(leaf);
		}
		vma = uhmm_find_vma(mm, addr);
		if (!vma)
			return -EFAULT;
		r = handle_mm_fault(mm, vma, addr, write ? FAULT_FLAG_WRITE : 0);
		if (r)
			return r;
	}
}

struct copy_arg {
	unsigned char *buf;
	size_t off, len;
	bool write;
};

static void copy_fn(struct uhmm_page *p, pte_t pte, void *arg)
{
	struct copy_arg *c = arg;
	unsigned char *kaddr = page_address(p);

	(void)pte;
	if (c->write)
		memcpy(kaddr + c->off, c->buf, c->len);
	else
		memcpy(c->buf, kaddr + c->off, c->len);
}

static int cpu_rw(struct uhmm_mm *mm, unsigned long addr, void *buf, size_t len, bool write)
{
	unsigned long end = addr + len;
	unsigned char *b = buf;
	int r;

	if (!mm || (!buf && len))
		return -EINVAL;
	if (!len)
		return 0;
	if (end < addr || end > TASK_SIZE)
		return -EFAULT;
	uhmm_mmap_read_lock(mm);
	r = check_access(mm, addr, end, write);
	while (!r && addr < end) {
		unsigned long off = addr & ~PAGE_MASK;
		struct copy_arg c = { b, off, UHMM_MIN(PAGE_SIZE - off, end - addr), write };

		r = access_page(mm, addr & PAGE_MASK, write, false, copy_fn, &c);
		addr += c.len;
		b += c.len;
	}
	uhmm_mmap_read_unlock(mm);
	return r;
}

int uhmm_cpu_read(struct uhmm_mm *mm, unsigned long addr, void *buf, size_t len)
{
	return cpu_rw(mm, addr, buf, len, false);
}

int uhmm_cpu_write(struct uhmm_mm *mm, unsigned long addr, const void *buf, size_t len)
{
	return cpu_rw(mm, addr, (void *)buf, len, true);
}

/* ------------------------------------------------------------------ GUP */
static void pin_fn(struct uhmm_page *p, pte_t pte, void *arg)
{
	(void)pte;
	page_get(p);
	atomic_fetch_add(&p->pincount, 1);
	*(struct uhmm_page **)arg = p;
}

int uhmm_pin_user_pages(struct uhmm_mm *mm, unsigned long addr, unsigned long npages, bool write,
			struct uhmm_page **pages)
{
	unsigned long i, end = addr + npages * PAGE_SIZE;
	int r;

	if (!mm || !pages || !npages || !PAGE_ALIGNED(addr) || npages > TASK_SIZE / PAGE_SIZE || end < addr)
		return -EINVAL;
	uhmm_mmap_read_lock(mm);
	r = check_access(mm, addr, end, write);
	for (i = 0; !r && i < npages; i++)
		r = access_page(mm, addr + i * PAGE_SIZE, write, true, pin_fn, &pages[i]);
	uhmm_mmap_read_unlock(mm);
	if (r && i)
		uhmm_unpin_user_pages(pages, r ? i - 1 : i);
	return r;
}

void uhmm_unpin_user_pages(struct uhmm_page **pages, unsigned long npages)
{
	unsigned long i;

	for (i = 0; pages && i < npages; i++) {
		struct uhmm_page *p = pages[i];

		if (!p)
			continue;
		if (unlikely(atomic_fetch_sub(&p->pincount, 1) <= 0))
			UHMM_BUG("unpin of a page that is not pinned (pfn %#lx)", uhmm_page_to_pfn(p));
		if (!page_is_zero(p))
			page_put(p);
		else
			atomic_fetch_sub(&p->refcount, 1);
	}
}

/* --------------------------------------------------------------- queries */
/* A huge page at @addr: the frame mapped there, order 9, the head's counts (as hmm_range_fault reports it). */
static bool query_huge_pte(struct uhmm_mm *mm, unsigned long addr, struct uhmm_pte_info *info)
{
	pmd_t *pmd = pmd_offset_alloc(mm, addr, false);
	struct uhmm_page *head;
	pmdval_t v;

	if (!pmd || !pmd_leaf(v = pmdp_get(pmd)))
		return false;
	head = huge_pmd_get_page(mm, pmd, v);
	if (!head)
		return false;	/* split or zapped meanwhile: the base-page answer is current */
	info->kind = UHMM_PTE_PRESENT;
	info->pfn = pmd_pfn(v) + ((addr & ~PMD_MASK) >> PAGE_SHIFT);
	info->order = HPAGE_ORDER;
	info->write = v & PTE_WRITE;
	info->dirty = v & PTE_DIRTY;
	info->young = v & PTE_YOUNG;
	info->soft_dirty = v & PTE_SOFT_DIRTY;
	info->refcount = atomic_load(&head->refcount) - 1;	/* not counting ours */
	info->mapcount = atomic_load(&head->mapcount);
	page_put(head);
	return true;
}

int uhmm_mm_query_pte(struct uhmm_mm *mm, unsigned long addr, struct uhmm_pte_info *info)
{
	struct pt_leaf *leaf;
	struct uhmm_page *p = NULL;
	bool zero = false;
	pte_t pte = 0;

	if (!mm || !info || addr >= TASK_SIZE)
		return -EINVAL;
	memset(info, 0, sizeof(*info));
	/*
	 * A user reference, not the mmap lock: page tables are freed only at
	 * exit, which cannot start while we hold one, and the PTL orders us with
	 * every update. So this inspection works with or without the mmap lock
	 * held, mid-migration included.
	 */
	if (!uhmm_mm_get_not_zero(mm))
		return 0;	/* exited: nothing mapped */
	if (query_huge_pte(mm, addr, info)) {
		uhmm_mm_put(mm);
		return 0;
	}
	leaf = pt_walk(mm, addr & PAGE_MASK, false);
	if (leaf) {
		ptl_lock(leaf);
		pte = pte_get(leaf, addr & PAGE_MASK);
		if (!pte_none(pte)) {
			p = pfn_to_page(mm->sys, pte_pfn(pte));
			info->pfn = pte_pfn(pte);
			if (p) {
				info->refcount = atomic_load(&p->refcount);
				info->mapcount = atomic_load(&p->mapcount);
				/* here: once the PTL is dropped a device page may be
				 * freed and its region unmapped, struct pages included */
				zero = page_is_zero(p);
			}
		}
		ptl_unlock(leaf);
	}
	uhmm_mm_put(mm);
	if (pte_none(pte)) {
		info->kind = UHMM_PTE_NONE;
	} else if (pte_present(pte)) {
		info->kind = zero ? UHMM_PTE_ZERO : UHMM_PTE_PRESENT;
		info->write = pte & PTE_WRITE;
		info->dirty = pte & PTE_DIRTY;
		info->young = pte & PTE_YOUNG;
		info->soft_dirty = pte & PTE_SOFT_DIRTY;
	} else {
		info->kind = is_device_private_entry(pte) ? UHMM_PTE_DEVICE_PRIVATE
			     : is_device_exclusive_entry(pte) ? UHMM_PTE_DEVICE_EXCLUSIVE
							      : UHMM_PTE_MIGRATION;
		info->write = is_writable_swp_entry(pte);
		info->soft_dirty = pte_swp_soft_dirty(pte);
		info->young = pte_swp_young(pte);
		info->dirty = pte_swp_dirty(pte);
	}
	return 0;
}

int uhmm_page_soft_dirty(struct uhmm_mm *mm, unsigned long addr)
{
	struct uhmm_pte_info info;
	int r = uhmm_mm_query_pte(mm, addr, &info);

	if (r)
		return r;
	if (info.kind == UHMM_PTE_NONE)
		return -EFAULT;
	return info.soft_dirty;
}

/* UHMM_PTE_* of a PTE, for counting (the zero page is pfn 0). */
static inline unsigned pte_kind(pte_t pte)
{
	if (pte_present(pte))
		return pte_pfn(pte) == 0 ? UHMM_PTE_ZERO : UHMM_PTE_PRESENT;
	if (pte_none(pte))
		return UHMM_PTE_NONE;
	if (is_device_private_entry(pte))
		return UHMM_PTE_DEVICE_PRIVATE;
	return is_device_exclusive_entry(pte) ? UHMM_PTE_DEVICE_EXCLUSIVE : UHMM_PTE_MIGRATION;
}

/* A lockless snapshot of one leaf table: every entry is an atomic, none is followed. */
static int count_pmd_entry(pmd_t *pmd, unsigned long addr, unsigned long next, struct mm_walk *walk)
{
	pmdval_t v = pmdp_get(pmd);
	struct pt_leaf *leaf = pmd_pgtable(v);
	unsigned long *counts = walk->private;
	unsigned i = pte_index(addr), last = i + (unsigned)((next - addr) >> PAGE_SHIFT);

	walk->action = ACTION_CONTINUE;
	if (pmd_leaf(v)) {	/* a huge page: 512 present entries' worth */
		counts[UHMM_PTE_PRESENT] += last - i;
		return 0;
	}
	for (; i < last; i++)
		counts[pte_kind(atomic_load_explicit(&leaf->pte[i], memory_order_relaxed))]++;
	return 0;
}

static int count_pte_hole(unsigned long addr, unsigned long next, int depth, struct mm_walk *walk)
{
	unsigned long *counts = walk->private;

	(void)depth;
	counts[UHMM_PTE_NONE] += (next - addr) >> PAGE_SHIFT;
	return 0;
}

static const struct mm_walk_ops count_ptes_ops = {
	.pmd_entry = count_pmd_entry,
	.pte_hole = count_pte_hole,
};

int uhmm_mm_count_ptes(struct uhmm_mm *mm, unsigned long start, unsigned long end, unsigned long counts[6])
{
	if (!mm || !counts || !PAGE_ALIGNED(start) || !PAGE_ALIGNED(end) || end < start || end > TASK_SIZE)
		return -EINVAL;
	memset(counts, 0, 6 * sizeof(*counts));
	if (!uhmm_mm_get_not_zero(mm)) {	/* as uhmm_mm_query_pte: a user, not the mmap lock */
		counts[UHMM_PTE_NONE] = (end - start) >> PAGE_SHIFT;
		return 0;
	}
	if (start < end)
		walk_page_range_novma(mm, start, end, &count_ptes_ops, counts);
	uhmm_mm_put(mm);
	return 0;
}
