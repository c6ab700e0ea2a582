/* SPDX-License-Identifier: MIT */
/* migrate_device.c - moving pages between RAM and device memory: migrate_vma and migrate_device.
 *
 * Counterpart of mm/migrate_device.c (6.1 and later): collect under one
 * MIGRATE invalidation tagged with the migrating driver's owner (the seed
 * patch), trylock only, migration entries, rmap unmapping of other mappings
 * with CLEAR, the reference check (at unmap and again at pages time, as
 * folio_migrate_mapping), hole insertion at pages time, finalize.
 * Left out: compound (THP) migration and LRU isolation.
 */
#include <string.h>

#include "internal.h"
#include "mm/pagewalk.h"
#include "lib/trace.h"

#define MPFN_VALID UHMM_MIGRATE_PFN_VALID
#define MPFN_MIGRATE UHMM_MIGRATE_PFN_MIGRATE
#define MPFN_WRITE UHMM_MIGRATE_PFN_WRITE

struct uhmm_page *uhmm_migrate_pfn_to_page(struct uhmm_system *sys, unsigned long mpfn)
{
	if (!sys || !(mpfn & MPFN_VALID))
		return NULL;
	return pfn_to_page(sys, uhmm_migrate_pfn_to_pfn(mpfn));
}

static struct uhmm_page *mpfn_page(struct uhmm_system *sys, unsigned long mpfn)
{
	return mpfn & MPFN_VALID ? pfn_to_page(sys, mpfn >> UHMM_MIGRATE_PFN_SHIFT) : NULL;
}

/* Migration entry for a PTE being unmapped, carrying its permission and bits. */
static pte_t make_migration_entry(struct uhmm_page *p, pte_t pte, bool writable)
{
	pte_t entry;

	if (writable)
		entry = make_writable_migration_entry(p->pfn);
	else if (page_test_flag(p, PG_ANON_EXCLUSIVE))
		entry = make_readable_exclusive_migration_entry(p->pfn);
	else
		entry = make_readable_migration_entry(p->pfn);
	if (!pte_present(pte))
		return pte_swp_soft_dirty(pte) ? pte_swp_mksoft_dirty(entry) : entry;
	if (pte & PTE_YOUNG)
		entry = pte_swp_mkyoung(entry);
	if (pte & PTE_DIRTY)
		entry = pte_swp_mkdirty(entry);
	return pte_swp_soft_dirty_from_pte(entry, pte);
}

/* ----------------------------------------------------------------- collect */
static unsigned long collect_one(struct uhmm_migrate_vma *m, struct uhmm_mm *mm, struct pt_leaf *leaf,
				 unsigned long addr, bool anon)
{
	pte_t pte = pte_get(leaf, addr);
	struct uhmm_page *p;
	unsigned long mpfn;
	bool writable;

	if (pte_none(pte))
		return anon ? MPFN_MIGRATE : 0;
	p = pfn_to_page(mm->sys, pte_pfn(pte));
	if (!pte_present(pte)) {
		if (!is_device_private_entry(pte))
			return 0;	/* migration, exclusive: not ours to move */
		if (!(m->flags & UHMM_MIGRATE_VMA_SELECT_DEVICE_PRIVATE) || p->pgmap->owner != m->pgmap_owner)
			return 0;
		writable = is_writable_swp_entry(pte);
	} else {
		if (page_is_zero(p))
			return (m->flags & UHMM_MIGRATE_VMA_SELECT_SYSTEM) && anon ? MPFN_MIGRATE : 0;
		if (!page_is_device(p) && !(m->flags & UHMM_MIGRATE_VMA_SELECT_SYSTEM))
			return 0;
		if (page_is_device_coherent(p) &&
		    (!(m->flags & UHMM_MIGRATE_VMA_SELECT_DEVICE_COHERENT) || p->pgmap->owner != m->pgmap_owner))
			return 0;
		writable = pte_write(pte);
	}
	if (!p->mapping)
		return 0;
	/*
	 * No reference of our own yet: under the PTL the mapping's reference
	 * keeps @p alive, and once the entry below replaces the mapping, that
	 * reference becomes the collect reference (Linux takes one and drops
	 * the mapping's: the same counts, two atomics fewer per page).
	 * Never block here: two migrations of overlapping ranges would
	 * deadlock (ABBA).
	 */
	if (p != m->fault_page && !page_trylock(p))
		return 0;
	if (atomic_load(&p->pincount) > 0) {
		/* a pinned page cannot become "maybe shared": leave it mapped */
		if (p != m->fault_page)
			page_unlock(p);
		return 0;
	}
	mpfn = uhmm_migrate_pfn(p->pfn) | MPFN_MIGRATE | (writable ? MPFN_WRITE : 0);
	if (pte_present(pte) && (pte & PTE_DIRTY) && !page_test_flag(p, PG_DIRTY))
		page_set_flag(p, PG_DIRTY);
	pte_set(leaf, addr, make_migration_entry(p, pte, writable));
	page_remove_rmap(p);
	return mpfn;
}

/* No page table: holes migrate (the driver may populate them) only in anonymous VMAs. */
static int migrate_vma_collect_hole(unsigned long addr, unsigned long end, int depth, struct mm_walk *walk)
{
	struct uhmm_migrate_vma *m = walk->private;
	bool anon = vma_is_anonymous(walk->vma);
	unsigned long i = (addr - m->start) >> PAGE_SHIFT, last = (end - m->start) >> PAGE_SHIFT;

	(void)depth;
	for (; i < last; i++) {
		m->src[i] = anon ? MPFN_MIGRATE : 0;
		m->dst[i] = 0;
	}
	if (anon)
		m->cpages += last - ((addr - m->start) >> PAGE_SHIFT);
	return 0;
}

/* One leaf table, under its PTL: each entry becomes a migration entry or stays (migrate_vma_collect_pmd). */
static int migrate_vma_collect_pmd(pmd_t *pmd, unsigned long addr, unsigned long end, struct mm_walk *walk)
{
	struct uhmm_migrate_vma *m = walk->private;
	pmdval_t v = pmdp_get(pmd);
	struct pt_leaf *leaf = pmd_pgtable(v);
	bool anon = vma_is_anonymous(walk->vma);
	unsigned long i = (addr - m->start) >> PAGE_SHIFT;

	if (pmd_leaf(v)) {
		/*
		 * A huge page migrates as base pages: split it, then collect its
		 * PTEs (Linux before ~6.19). Trylock, as for every page here: this
		 * batch already holds page locks. A locked one stays out.
		 */
		if (split_huge_pmd_trylock(walk->mm, pmd)) {
			walk->action = ACTION_AGAIN;
			return 0;
		}
		walk->action = ACTION_CONTINUE;
		for (; addr < end; addr += PAGE_SIZE, i++)
			m->src[i] = m->dst[i] = 0;
		return 0;
	}
	walk->action = ACTION_CONTINUE;
	ptl_lock(leaf);
	for (; addr < end; addr += PAGE_SIZE, i++) {
		m->src[i] = collect_one(m, walk->mm, leaf, addr, anon);
		m->dst[i] = 0;
		if (m->src[i] & MPFN_MIGRATE)
			m->cpages++;
	}
	ptl_unlock(leaf);
	return 0;
}

static const struct mm_walk_ops migrate_vma_walk_ops = {
	.pmd_entry = migrate_vma_collect_pmd,
	.pte_hole = migrate_vma_collect_hole,
};

static void migrate_vma_collect(struct uhmm_migrate_vma *m)
{
	struct uhmm_mm *mm = m->vma->mm;
	struct uhmm_mmu_notifier_range range;

	/* The seed patch: one MIGRATE invalidation, tagged with the migrating owner. */
	mn_range_init_owner(&range, UHMM_MMU_NOTIFY_MIGRATE, mm, m->start, m->end, m->pgmap_owner);
	mn_invalidate_range_start(&range);
	UHMM_WARN_ON(walk_page_range_vma(m->vma, m->start, m->end, &migrate_vma_walk_ops, m));
	m->npages = (m->end - m->start) >> PAGE_SHIFT;
	mn_invalidate_range_end(&range);
}

/* ------------------------------------------------------- rmap-based steps */
/* Replace any other mapping of the page by a migration entry (try_to_migrate, CLEAR). */
static bool try_to_migrate_one(struct uhmm_page *page, struct uhmm_vma *vma, unsigned long addr, void *arg)
{
	struct uhmm_mmu_notifier_range range;
	struct pt_leaf *leaf = pt_walk(vma->mm, addr, false);
	struct uhmm_page *put = NULL;
	pte_t pte;

	(void)arg;
	if (!leaf)
		return true;
	mn_range_init(&range, UHMM_MMU_NOTIFY_CLEAR, vma->mm, addr, addr + PAGE_SIZE);
	mn_invalidate_range_start(&range);
	ptl_lock(leaf);
	pte = pte_get(leaf, addr);
	if (!pte_none(pte) && pte_pfn(pte) == page->pfn && (pte_present(pte) || is_device_private_entry(pte))) {
		bool w = pte_present(pte) ? pte_write(pte) : is_writable_swp_entry(pte);

		if (pte_present(pte) && (pte & PTE_DIRTY))
			page_set_flag(page, PG_DIRTY);
		pte_set(leaf, addr, make_migration_entry(page, pte, w));
		page_remove_rmap(page);
		put = page;
	}
	ptl_unlock(leaf);
	mn_invalidate_range_end(&range);
	if (put)
		page_put(put);	/* the caller's reference keeps it alive */
	return atomic_load(&page->mapcount) > 0;
}

struct remove_arg {
	struct uhmm_page *src, *new;
	bool give_ref;		/* one entry: the caller's reference and lock on new go to it */
	bool installed;		/* out: a mapping of new was installed */
};

/* Replace the migration entry of src at @addr, if still there, by a mapping of new. PTL held. */
static void restore_entry_locked(struct pt_leaf *leaf, unsigned long addr, struct remove_arg *a)
{
	struct uhmm_page *new = a->new;
	pte_t pte, npte;
	bool w;

	pte = pte_get(leaf, addr);
	if (!is_migration_entry(pte) || pte_pfn(pte) != a->src->pfn)
		return;
	/*
	 * The entry's type alone, as Linux's remove_migration_pte: mprotect
	 * turns writable migration entries read-only under the PTL. Reading
	 * vma->flags here raced with mprotect of another address space of the
	 * family, whose mmap lock a walk started elsewhere does not hold
	 * (found by ThreadSanitizer in tests/stress/torture.c).
	 */
	w = is_writable_migration_entry(pte);
	if (page_is_device_private(new)) {
		npte = w ? make_writable_device_private_entry(new->pfn) : make_readable_device_private_entry(new->pfn);
		if (pte_swp_soft_dirty(pte))
			npte = pte_swp_mksoft_dirty(npte);
	} else {
		npte = mk_pte(new->pfn, (pte_swp_young(pte) ? PTE_YOUNG : 0) | (pte_swp_dirty(pte) ? PTE_DIRTY : 0) |
					(w ? PTE_WRITE : 0));
		npte = pte_soft_dirty_from_swp(npte, pte);
	}
	if ((w || is_readable_exclusive_migration_entry(pte)) && !page_test_flag(new, PG_ANON_EXCLUSIVE))
		page_set_flag(new, PG_ANON_EXCLUSIVE);
	if (!a->give_ref)
		page_get(new);
	a->installed = true;
	page_add_rmap(new);
	pte_set(leaf, addr, npte);
	/*
	 * give_ref: the mapping now holds the caller's reference, so @new must
	 * be unlocked before the PTL is: once it is dropped a zap may put that
	 * reference, and a page is never freed locked.
	 */
	if (a->give_ref)
		page_unlock(new);
}

/* Replace migration entries of src by mappings of new (remove_migration_ptes). */
static bool remove_migration_pte(struct uhmm_page *page, struct uhmm_vma *vma, unsigned long addr, void *arg)
{
	struct pt_leaf *leaf = pt_walk(vma->mm, addr, false);

	(void)page;
	if (!leaf)
		return true;
	ptl_lock(leaf);
	restore_entry_locked(leaf, addr, arg);
	ptl_unlock(leaf);
	return true;
}

static void remove_migration_ptes(struct uhmm_page *src, struct uhmm_page *new)
{
	struct remove_arg a = { src, new, false, false };

	rmap_walk(src, remove_migration_pte, &a);
}

/* Release a collected page that will not migrate: restore its mappings, unlock, drop. */
static void restore_page(struct uhmm_page *p, struct uhmm_page *fault_page)
{
	remove_migration_ptes(p, p);
	if (p != fault_page)
		page_unlock(p);
	page_put(p);
}

/*
 * The references a collected page may carry beyond its mappings: the
 * migration's own, the fault path's on fault_page, and the shmem object's.
 * Anything more is someone else's (a pin, a driver's get_page) and makes the
 * page unmigratable (migrate_vma_check_page at unmap time, and again in
 * folio_migrate_mapping at pages time).
 */
static bool page_refs_ok(struct uhmm_page *p, struct uhmm_page *fault_page)
{
	int extra = 1 + (p == fault_page);

	if (p->mapping && p->mapping->kind == MAPPING_SHMEM)
		extra++;	/* the shmem object's own reference */
	return atomic_load(&p->refcount) - extra <= atomic_load(&p->mapcount);
}

/* Unmap what collect could not, check references, restore the failures (migrate_device_unmap). */
static unsigned long migrate_device_unmap(unsigned long *src, unsigned long npages, struct uhmm_page *fault_page,
					  struct uhmm_system *sys)
{
	unsigned long i, cpages = 0;

	for (i = 0; i < npages; i++) {
		struct uhmm_page *p = mpfn_page(sys, src[i]);

		if (!p) {
			cpages += !!(src[i] & MPFN_MIGRATE);
			continue;
		}
		if (!(src[i] & MPFN_MIGRATE))
			continue;
		if (atomic_load(&p->mapcount) > 0)
			rmap_walk(p, try_to_migrate_one, NULL);
		if (atomic_load(&p->mapcount) > 0 || !page_refs_ok(p, fault_page)) {
			src[i] &= ~MPFN_MIGRATE;
			restore_page(p, fault_page);
			src[i] = 0;
			continue;
		}
		cpages++;
	}
	return cpages;
}

int uhmm_migrate_vma_setup(struct uhmm_migrate_vma *args)
{
	struct uhmm_vma *vma;
	unsigned long nr;

	if (!args || !args->vma || !args->src || !args->dst)
		return -EINVAL;
	vma = args->vma;
	if (!PAGE_ALIGNED(args->start) || !PAGE_ALIGNED(args->end) || args->end <= args->start)
		return -EINVAL;
	if (args->start < vma->start || args->start >= vma->end || args->end > vma->end)
		return -EINVAL;
	if (vma->flags & VM_MIXEDMAP)
		return -EINVAL;	/* VM_SPECIAL */
	if (args->fault_page && !page_is_device_private(args->fault_page))
		return -EINVAL;
	LOCKDEP_ASSERT_HELD(LR_MMAP, "uhmm_migrate_vma_setup");
	nr = (args->end - args->start) >> PAGE_SHIFT;
	memset(args->src, 0, nr * sizeof(*args->src));
	memset(args->dst, 0, nr * sizeof(*args->dst));
	args->cpages = 0;
	args->npages = 0;
	TRACE_BEGIN("migrate", "migrate_vma_setup", vma->mm, args->start, args->end);
	migrate_vma_collect(args);
	if (args->cpages)
		args->cpages = migrate_device_unmap(args->src, args->npages, args->fault_page, vma->mm->sys);
	TRACE_END("migrate", "migrate_vma_setup", vma->mm, (long)args->cpages);
	return 0;
}

/* ------------------------------------------------------------------- pages */
/* Insert a new page where collect found a hole or the zero page (migrate_vma_insert_page). */
static bool migrate_vma_insert_page(struct uhmm_migrate_vma *m, unsigned long addr, struct uhmm_page *page)
{
	struct uhmm_vma *vma = m->vma;
	struct uhmm_mm *mm = vma->mm;
	struct uhmm_mapping *map;
	struct pt_leaf *leaf;
	bool vw = vma->flags & VM_WRITE;
	pte_t pte, npte;

	if (!vma_is_anonymous(vma))
		return false;
	if (page_is_device(page) && !page_is_device_private(page) && !page_is_device_coherent(page))
		return false;
	map = anon_vma_prepare(vma);
	leaf = map ? pt_walk(mm, addr, true) : NULL;
	if (!leaf)
		return false;
	page->mapping = map;
	if (page_is_device(page))
		mapping_get(map);	/* a device page keeps its family alive: see page_free_device */
	page->index = vma_page_index(vma, addr);
	page_set_flag(page, PG_ANON | PG_ANON_EXCLUSIVE);
	if (page_is_device_private(page))
		npte = pte_swp_mksoft_dirty(vw ? make_writable_device_private_entry(page->pfn)
						  : make_readable_device_private_entry(page->pfn));
	else
		npte = mk_pte(page->pfn, PTE_YOUNG | PTE_SOFT_DIRTY | (vw ? PTE_WRITE | PTE_DIRTY : 0));
	ptl_lock(leaf);
	pte = pte_get(leaf, addr);
	if (pte_present(pte)) {
		struct uhmm_page *cur = pfn_to_page(mm->sys, pte_pfn(pte));

		if (!page_is_zero(cur))
			goto abort;	/* someone faulted a real page in meanwhile: back off */
	} else if (!pte_none(pte)) {
		goto abort;
	}
	if (atomic_load(&mm->mm_users) <= 0)
		goto abort;
	page_get(page);
	page_add_rmap(page);
	pte_set(leaf, addr, npte);
	ptl_unlock(leaf);
	return true;
abort:
	ptl_unlock(leaf);
	if (page_is_device(page))
		mapping_put(map);
	page->mapping = NULL;
	page_clear_flag(page, PG_ANON | PG_ANON_EXCLUSIVE);
	return false;
}

static void migrate_pages_common(struct uhmm_system *sys, unsigned long *src, unsigned long *dst,
				 unsigned long npages, struct uhmm_migrate_vma *m)
{
	struct uhmm_mmu_notifier_range range;
	struct uhmm_mapping *owed = NULL;	/* family references the new device pages need */
	int owed_refs = 0;
	bool notified = false;
	unsigned long i;

	for (i = 0; i < npages; i++) {
		struct uhmm_page *newp = mpfn_page(sys, dst[i]), *p = mpfn_page(sys, src[i]);

		if (!newp) {
			src[i] &= ~MPFN_MIGRATE;
			continue;
		}
		if (!p) {
			unsigned long addr;

			if (!(src[i] & MPFN_MIGRATE))
				continue;
			if (!m) {
				src[i] &= ~MPFN_MIGRATE;
				continue;
			}
			addr = m->start + i * PAGE_SIZE;
			if (!notified) {
				notified = true;
				mn_range_init_owner(&range, UHMM_MMU_NOTIFY_MIGRATE, m->vma->mm, addr, m->end,
						    m->pgmap_owner);
				mn_invalidate_range_start(&range);
			}
			if (!migrate_vma_insert_page(m, addr, newp))
				src[i] &= ~MPFN_MIGRATE;
			continue;
		}
		if (!(src[i] & MPFN_MIGRATE))
			continue;
		if (page_is_device(newp) && p->mapping && p->mapping->kind != MAPPING_ANON) {
			/* device memory takes anonymous pages only */
			src[i] &= ~MPFN_MIGRATE;
			continue;
		}
		/*
		 * The reference check again, as folio_migrate_mapping does when
		 * it moves the mapping: a reference taken since setup (the page
		 * is locked and unmapped, but a pfn walker or a driver holding
		 * the struct page can still get one) means someone may still
		 * read or write the old page. Finalize restores it.
		 */
		if (!page_refs_ok(p, m ? m->fault_page : NULL)) {
			src[i] &= ~MPFN_MIGRATE;
			continue;
		}
		/* move the metadata; the driver already copied the data */
		newp->mapping = p->mapping;
		if (newp->mapping && page_is_device(newp)) {
			/*
			 * See page_free_device. Taken once per run of pages of
			 * one family, below: the family cannot go away before
			 * (the old pages and the VMA keep it) and nobody can
			 * reach the new page yet (locked, unmapped).
			 */
			if (newp->mapping != owed) {
				if (owed_refs)
					mapping_get_many(owed, owed_refs);
				owed = newp->mapping;
				owed_refs = 0;
			}
			owed_refs++;
		}
		newp->index = p->index;
		page_set_flag(newp, atomic_load(&p->flags) & (PG_ANON | PG_ANON_EXCLUSIVE | PG_DIRTY));
	}
	if (owed_refs)
		mapping_get_many(owed, owed_refs);
	if (notified)
		mn_invalidate_range_end(&range);
}

void uhmm_migrate_vma_pages(struct uhmm_migrate_vma *args)
{
	if (!args || !args->vma || !args->src || !args->dst)
		return;
	TRACE_BEGIN("migrate", "migrate_vma_pages", args->vma->mm, args->start, args->end);
	migrate_pages_common(args->vma->mm->sys, args->src, args->dst, args->npages, args);
	TRACE_END("migrate", "migrate_vma_pages", args->vma->mm, 0);
}

void uhmm_migrate_device_pages(struct uhmm_system *sys, unsigned long *src, unsigned long *dst,
			       unsigned long npages)
{
	if (sys && src && dst)
		migrate_pages_common(sys, src, dst, npages, NULL);
}

/* ---------------------------------------------------------------- finalize */
/*
 * Drop the driver's reference on a destination before unlocking it when the
 * new mappings keep it alive: a CPU fault that trylocks the page the moment
 * it is unlocked must not find our reference still there, or its own
 * migration's reference check fails and it retries until we run again.
 * The last reference (the new mapping was zapped meanwhile) goes after the
 * unlock, since a page is never freed locked.
 */
static void unlock_and_put_dst(struct uhmm_page *p)
{
	int old = atomic_load_explicit(&p->refcount, memory_order_relaxed);

	while (old > 1)
		if (atomic_compare_exchange_weak_explicit(&p->refcount, &old, old - 1, memory_order_release,
							  memory_order_relaxed)) {
			page_unlock(p);
			return;
		}
	page_unlock(p);
	page_put(p);
}

/*
 * Whether @p can only be mapped by m->vma: its anon family lists that VMA and
 * no other. Then its one migration entry is at the address collect found it,
 * and finalize restores it there instead of walking the reverse map (a
 * mapping lock and a list walk per page). Stable while we hold the mmap lock:
 * a family grows only by fork or split of a member, and the only member is in
 * our address space. One lock per distinct family, cached in @cache.
 */
struct family_cache {
	struct uhmm_mapping *mapping;
	bool single;
};

static bool only_mapped_by(struct uhmm_migrate_vma *m, struct uhmm_page *p, struct family_cache *cache)
{
	struct uhmm_mapping *map = p->mapping;

	if (!m || !map || map->kind != MAPPING_ANON)
		return false;
	if (map != cache->mapping) {
		mapping_lock(map);
		cache->single = map->vmas == m->vma && !m->vma->map_next;
		mapping_unlock(map);
		cache->mapping = map;
	}
	return cache->single;
}

/*
 * The leaf table whose PTL finalize holds across consecutive pages restored
 * in place, and the old pages whose unlock and last put wait until it is
 * dropped (a put may call the driver's page_free, never under a PTL).
 */
struct held_leaf {
	struct pt_leaf *leaf;
	unsigned long base;		/* first address the leaf maps */
	unsigned n;
	struct uhmm_page *done[PT_ENTRIES];
};

static void held_leaf_release(struct held_leaf *h, struct uhmm_page *fault_page, struct page_free_batch *freed)
{
	unsigned k;

	if (!h->leaf)
		return;
	ptl_unlock(h->leaf);
	h->leaf = NULL;
	for (k = 0; k < h->n; k++) {
		if (h->done[k] != fault_page)
			page_unlock(h->done[k]);
		page_put_batched(h->done[k], freed);
	}
	h->n = 0;
}

/*
 * Restore @p's one migration entry at @addr (only_mapped_by said so) under
 * the held PTL, taking it if @addr is in another leaf. False if the entry was
 * gone and a new page is left to the caller; true when @p is queued in @h.
 */
static bool finalize_in_place(struct uhmm_migrate_vma *m, struct held_leaf *h, unsigned long addr,
			      struct uhmm_page *p, struct uhmm_page *newp, struct uhmm_page *fault_page,
			      struct page_free_batch *freed)
{
	/* one mapping's reference and lock move to the new page's mapping:
	 * the counts unlock_and_put_dst would leave, two atomics fewer */
	struct remove_arg a = { p, newp, newp != p, false };

	if (!h->leaf || (addr & ~(PMD_SIZE - 1)) != h->base) {
		held_leaf_release(h, fault_page, freed);
		h->leaf = pt_walk(m->vma->mm, addr, false);
		if (!h->leaf)
			return false;	/* no table, no entry: the caller's general path */
		ptl_lock(h->leaf);
		h->base = addr & ~(PMD_SIZE - 1);
	}
	restore_entry_locked(h->leaf, addr, &a);
	if (a.give_ref && !a.installed)
		return false;
	h->done[h->n++] = p;
	return true;
}

static void migrate_finalize_common(struct uhmm_system *sys, unsigned long *src, unsigned long *dst,
				    unsigned long npages, struct uhmm_page *fault_page, struct uhmm_migrate_vma *m)
{
	struct family_cache cache = { NULL, false };
	struct page_free_batch freed = PAGE_FREE_BATCH_INIT;
	struct held_leaf h;
	unsigned long i;

	h.leaf = NULL;
	h.n = 0;
	for (i = 0; i < npages; i++) {
		struct uhmm_page *newp = mpfn_page(sys, dst[i]), *p = mpfn_page(sys, src[i]);

		if (!p || !(src[i] & MPFN_MIGRATE) || !newp) {
			if (newp) {
				held_leaf_release(&h, fault_page, &freed);	/* the put may free it */
				page_unlock(newp);
				page_put(newp);
			}
			if (!p)
				continue;
			newp = p;
		}
		if (m && p->mapping != cache.mapping)
			held_leaf_release(&h, fault_page, &freed);	/* only_mapped_by takes the mapping lock */
		if (only_mapped_by(m, p, &cache)) {
			if (finalize_in_place(m, &h, m->start + i * PAGE_SIZE, p, newp, fault_page, &freed))
				continue;
			held_leaf_release(&h, fault_page, &freed);
		} else {
			held_leaf_release(&h, fault_page, &freed);
			remove_migration_ptes(p, newp);
		}
		if (p != fault_page)
			page_unlock(p);
		page_put_batched(p, &freed);
		if (newp != p)
			unlock_and_put_dst(newp);
	}
	held_leaf_release(&h, fault_page, &freed);
	page_free_batch_flush(sys, &freed);
}

void uhmm_migrate_vma_finalize(struct uhmm_migrate_vma *args)
{
	if (!args || !args->vma || !args->src || !args->dst)
		return;
	TRACE_BEGIN("migrate", "migrate_vma_finalize", args->vma->mm, args->start, args->end);
	migrate_finalize_common(args->vma->mm->sys, args->src, args->dst, args->npages, args->fault_page, args);
	TRACE_END("migrate", "migrate_vma_finalize", args->vma->mm, 0);
}

void uhmm_migrate_device_finalize(struct uhmm_system *sys, unsigned long *src, unsigned long *dst,
				  unsigned long npages)
{
	if (sys && src && dst)
		migrate_finalize_common(sys, src, dst, npages, NULL, NULL);
}

/* ------------------------------------------------------- by physical range */
/* Take a page in use for eviction: referenced and locked, or 0 (free, or someone else's lock). */
static unsigned long migrate_device_pfn_prepare(struct uhmm_page *p)
{
	if (!page_get_unless_zero(p))
		return 0;	/* free */
	if (!page_trylock(p)) {
		page_put(p);
		return 0;
	}
	return uhmm_migrate_pfn(p->pfn) | MPFN_MIGRATE;
}

static bool pfn_is_device(struct uhmm_system *sys, unsigned long pfn)
{
	struct uhmm_page *p = pfn_to_page(sys, pfn);

	return p && page_is_device(p);
}

int uhmm_migrate_device_range(struct uhmm_system *sys, unsigned long *src, unsigned long start_pfn,
			      unsigned long npages)
{
	unsigned long i;

	if (!sys || !src || !npages)
		return -EINVAL;
	for (i = 0; i < npages; i++)
		if (!pfn_is_device(sys, start_pfn + i))
			return -EINVAL;
	for (i = 0; i < npages; i++)
		src[i] = migrate_device_pfn_prepare(pfn_to_page(sys, start_pfn + i));
	migrate_device_unmap(src, npages, NULL, sys);
	return 0;
}

int uhmm_migrate_device_pfns(struct uhmm_system *sys, unsigned long *src_pfns, unsigned long npages)
{
	unsigned long i;

	if (!sys || !src_pfns || !npages)
		return -EINVAL;
	for (i = 0; i < npages; i++)
		if (!pfn_is_device(sys, src_pfns[i]))
			return -EINVAL;
	for (i = 0; i < npages; i++)
		src_pfns[i] = migrate_device_pfn_prepare(pfn_to_page(sys, src_pfns[i]));
	migrate_device_unmap(src_pfns, npages, NULL, sys);
	return 0;
}
