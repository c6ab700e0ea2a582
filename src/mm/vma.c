/* SPDX-License-Identifier: MIT */
/* vma.c - the VMA tree of an address space, and the mappings (anon families, shmem objects) VMAs hang on.
 *
 * Counterpart of the maple-tree and anon_vma parts of mm/mmap.c and mm/rmap.c.
 * VMAs live in a red-black tree keyed by start (O(log n) lookup); every VMA is
 * also on its mapping's list so the reverse map can find it from a page.
 * Callers hold mmap_lock for write to change the tree, for read to look.
 */
#include <string.h>

#include "internal.h"

struct uhmm_vma *find_vma(struct uhmm_mm *mm, unsigned long addr)
{
	struct uhmm_rb_node *n = mm->vma_tree.node;
	struct uhmm_vma *best = NULL;

	while (n) {
		struct uhmm_vma *v = uhmm_rb_entry(n, struct uhmm_vma, rb);

		if (v->end > addr) {
			best = v;
			if (v->start <= addr)
				break;
			n = n->left;
		} else {
			n = n->right;
		}
	}
	return best;
}

struct uhmm_vma *vma_next(struct uhmm_vma *v)
{
	struct uhmm_rb_node *n = uhmm_rb_next(&v->rb);

	return n ? uhmm_rb_entry(n, struct uhmm_vma, rb) : NULL;
}

struct uhmm_vma *vma_prev(struct uhmm_vma *v)
{
	struct uhmm_rb_node *n = uhmm_rb_prev(&v->rb);

	return n ? uhmm_rb_entry(n, struct uhmm_vma, rb) : NULL;
}

struct uhmm_vma *uhmm_find_vma(struct uhmm_mm *mm, unsigned long addr)
{
	struct uhmm_vma *v;

	if (!mm)
		return NULL;
	v = find_vma(mm, addr);
	return v && v->start <= addr ? v : NULL;
}

void uhmm_vma_get_info(const struct uhmm_vma *vma, struct uhmm_vma_info *info)
{
	info->start = vma->start;
	info->end = vma->end;
	info->prot = (vma->flags & VM_READ ? PROT_READ : 0) | (vma->flags & VM_WRITE ? PROT_WRITE : 0) |
		     (vma->flags & VM_EXEC ? PROT_EXEC : 0);
	info->flags = vma->flags & VM_SHARED ? MAP_SHARED : MAP_PRIVATE;
	info->anonymous = vma_is_anonymous(vma);
}

unsigned long uhmm_mm_vma_count(struct uhmm_mm *mm)
{
	unsigned long n;

	uhmm_mmap_read_lock(mm);
	n = mm->nr_vmas;
	uhmm_mmap_read_unlock(mm);
	return n;
}

/* ------------------------------------------------------------- mappings */
struct uhmm_mapping *mapping_create(enum mapping_kind kind)
{
	struct uhmm_mapping *m = uhmm_calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->kind = kind;
	atomic_store(&m->refcount, 1);
	CHECK_PTHREAD(pthread_mutex_init(&m->lock, NULL));
	return m;
}

void mapping_get(struct uhmm_mapping *m)
{
	atomic_fetch_add(&m->refcount, 1);
}

void mapping_get_many(struct uhmm_mapping *m, int n)
{
	atomic_fetch_add(&m->refcount, n);
}

void mapping_put(struct uhmm_mapping *m)
{
	mapping_put_many(m, 1);
}

/* @n references at once (a batch of device pages freed together). */
void mapping_put_many(struct uhmm_mapping *m, int n)
{
	unsigned long i;

	if (!m || atomic_fetch_sub_explicit(&m->refcount, n, memory_order_acq_rel) != n)
		return;
	for (i = 0; i < m->nr_pages; i++)
		if (m->pages[i])
			page_put(m->pages[i]);
	free(m->pages);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* Append @v to @m's VMA list (mapping lock held): see struct uhmm_mapping. */
static void link_locked(struct uhmm_mapping *m, struct uhmm_vma *v)
{
	v->map_next = NULL;
	v->map_prev = m->vmas_tail;
	if (m->vmas_tail)
		m->vmas_tail->map_next = v;
	else
		m->vmas = v;
	m->vmas_tail = v;
}

static void unlink_locked(struct uhmm_mapping *m, struct uhmm_vma *v)
{
	if (v->map_prev)
		v->map_prev->map_next = v->map_next;
	else
		m->vmas = v->map_next;
	if (v->map_next)
		v->map_next->map_prev = v->map_prev;
	else
		m->vmas_tail = v->map_prev;
	v->map_next = v->map_prev = NULL;
}

/* Link @v on its mapping's VMA list (the mapping must exist). */
void vma_link_mapping(struct uhmm_vma *v)
{
	struct uhmm_mapping *m = atomic_load(&v->mapping);

	if (!m)
		return;
	mapping_lock(m);
	link_locked(m, v);
	mapping_unlock(m);
}

void vma_unlink_mapping(struct uhmm_vma *v)
{
	struct uhmm_mapping *m = atomic_load(&v->mapping);

	if (!m)
		return;
	mapping_lock(m);
	unlink_locked(m, v);
	mapping_unlock(m);
}

/*
 * The anon family of a private VMA, created on its first fault (under the
 * mmap read lock, so racing faults serialise on anon_prepare_lock).
 */
struct uhmm_mapping *anon_vma_prepare(struct uhmm_vma *vma)
{
	struct uhmm_mapping *m = atomic_load_explicit(&vma->mapping, memory_order_acquire);

	if (likely(m))
		return m;
	lockdep_acquire(LR_ANON_PREPARE, false, __FILE__, __LINE__);
	CHECK_PTHREAD(pthread_mutex_lock(&vma->mm->anon_prepare_lock));
	m = atomic_load_explicit(&vma->mapping, memory_order_relaxed);
	if (!m) {
		m = mapping_create(MAPPING_ANON);
		if (m) {
			/*
			 * Link, then publish with one release store: the rmap
			 * finds this VMA as soon as a page points at @m, and a
			 * racing fault's acquire load sees @m initialised (an
			 * earlier relaxed store let it see the pointer first:
			 * a data race found by ThreadSanitizer in the torture).
			 */
			mapping_lock(m);
			link_locked(m, vma);
			mapping_unlock(m);
			atomic_store_explicit(&vma->mapping, m, memory_order_release);
		}
	}
	CHECK_PTHREAD(pthread_mutex_unlock(&vma->mm->anon_prepare_lock));
	lockdep_release(LR_ANON_PREPARE);
	return m;
}

/*
 * Change a VMA's range. The reverse map reads start/end/pgoff of VMAs of other
 * address spaces under the mapping lock only, so changes happen under it too.
 */
void vma_set_range(struct uhmm_vma *v, unsigned long start, unsigned long end, unsigned long pgoff)
{
	struct uhmm_mapping *m = atomic_load(&v->mapping);

	if (m)
		mapping_lock(m);
	v->start = start;
	v->end = end;
	v->pgoff = pgoff;
	if (m)
		mapping_unlock(m);
}

/* ------------------------------------------------------------------ tree */
struct uhmm_vma *vma_alloc(struct uhmm_mm *mm, unsigned long start, unsigned long end, unsigned long flags,
			   unsigned long pgoff, struct uhmm_mapping *m)
{
	struct uhmm_vma *v = uhmm_calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->mm = mm;
	v->start = start;
	v->end = end;
	v->flags = flags;
	v->pgoff = pgoff;
	atomic_store(&v->mapping, m);
	if (m)
		mapping_get(m);
	return v;
}

void vma_free(struct uhmm_vma *v)
{
	mapping_put(atomic_load(&v->mapping));
	free(v);
}

/* The VMA tree only (mmap lock held for write). */
static void vma_tree_insert_rb(struct uhmm_mm *mm, struct uhmm_vma *v)
{
	struct uhmm_rb_node **link = &mm->vma_tree.node, *parent = NULL;

	while (*link) {
		struct uhmm_vma *cur = uhmm_rb_entry(*link, struct uhmm_vma, rb);

		parent = *link;
		link = v->start < cur->start ? &parent->left : &parent->right;
	}
	uhmm_rb_link_node(&v->rb, parent, link);
	uhmm_rb_insert_color(&v->rb, &mm->vma_tree, NULL);
	mm->nr_vmas++;
}

static void vma_tree_remove_rb(struct uhmm_mm *mm, struct uhmm_vma *v)
{
	uhmm_rb_erase(&v->rb, &mm->vma_tree, NULL);
	mm->nr_vmas--;
}

void vma_tree_insert(struct uhmm_mm *mm, struct uhmm_vma *v)
{
	vma_tree_insert_rb(mm, v);
	vma_link_mapping(v);
}

void vma_tree_remove(struct uhmm_mm *mm, struct uhmm_vma *v)
{
	vma_unlink_mapping(v);
	vma_tree_remove_rb(mm, v);
}

/*
 * Split @v at @addr: @v keeps [start, addr), a new VMA takes [addr, end).
 * The start key of @v does not change, so the tree stays ordered. -ENOMEM.
 */
int vma_split(struct uhmm_mm *mm, struct uhmm_vma *v, unsigned long addr)
{
	struct uhmm_mapping *m = atomic_load(&v->mapping);
	struct uhmm_vma *n;

	UHMM_BUG_ON(addr <= v->start || addr >= v->end || !PAGE_ALIGNED(addr));
	/* a huge page cannot straddle two VMAs (vma_adjust_trans_huge) */
	if (addr & ~PMD_MASK)
		split_huge_pmd_address(mm, addr);
	n = vma_alloc(mm, addr, v->end, v->flags, vma_page_index(v, addr), m);
	if (!n)
		return -ENOMEM;
	/*
	 * Shrink @v and link @n under one hold of the mapping lock, as Linux
	 * holds the rmap locks across __split_vma: an rmap walk that runs
	 * without our mmap lock (eviction by physical range, a migration from
	 * another address space of the family) must find [addr, end) in one of
	 * them. Between two holds it found neither and left migration entries
	 * there behind (found by tests/stress/torture.c).
	 */
	if (m)
		mapping_lock(m);
	v->end = addr;
	if (m)
		link_locked(m, n);
	if (m)
		mapping_unlock(m);
	vma_tree_insert_rb(mm, n);
	return 0;
}

static bool mappings_mergeable(struct uhmm_vma *a, struct uhmm_vma *b)
{
	struct uhmm_mapping *ma = atomic_load(&a->mapping), *mb = atomic_load(&b->mapping);

	if (a->flags != b->flags || a->end != b->start)
		return false;
	if (vma_page_index(a, a->end) != b->pgoff)
		return false;
	if (a->flags & (VM_SHARED | VM_MIXEDMAP))
		return ma == mb && !(a->flags & VM_MIXEDMAP);
	/* As the kernel: anon VMAs merge when one has no anon family yet or both share it. */
	return !ma || !mb || ma == mb;
}

/* Merge @b into @a (a precedes b). @b is freed. */
static void vma_merge_pair(struct uhmm_mm *mm, struct uhmm_vma *a, struct uhmm_vma *b)
{
	struct uhmm_mapping *ma = atomic_load(&a->mapping), *mb = atomic_load(&b->mapping);
	struct uhmm_mapping *m = ma ? ma : mb;	/* mergeable: mb is ma or NULL, or ma is NULL */

	vma_tree_remove_rb(mm, b);
	/* One hold of the mapping lock, as in vma_split: b's range never
	 * disappears from an rmap walk's view. */
	if (m)
		mapping_lock(m);
	if (mb)
		unlink_locked(mb, b);
	if (!ma && mb) {
		/* b's pages carry b's pgoff, which continues a's: a adopts the family */
		mapping_get(mb);
		atomic_store(&a->mapping, mb);
		link_locked(mb, a);
	}
	a->end = b->end;
	if (m)
		mapping_unlock(m);
	vma_free(b);
}

/* Merge @v with its neighbours where the kernel would; returns the surviving VMA. */
struct uhmm_vma *vma_try_merge(struct uhmm_mm *mm, struct uhmm_vma *v)
{
	struct uhmm_vma *p = vma_prev(v), *n = vma_next(v);

	if (n && mappings_mergeable(v, n))
		vma_merge_pair(mm, v, n);
	if (p && mappings_mergeable(p, v)) {
		vma_merge_pair(mm, p, v);
		v = p;
	}
	return v;
}

void mm_sync_rmap_walkers(struct uhmm_mm *mm)
{
	struct uhmm_rb_node *node;

	for (node = uhmm_rb_first(&mm->vma_tree); node; node = uhmm_rb_next(node)) {
		struct uhmm_mapping *m = atomic_load(&uhmm_rb_entry(node, struct uhmm_vma, rb)->mapping);

		if (m) {
			mapping_lock(m);
			mapping_unlock(m);
		}
	}
}

int vma_range_covered(struct uhmm_mm *mm, unsigned long start, unsigned long end)
{
	unsigned long addr = start;

	while (addr < end) {
		struct uhmm_vma *v = find_vma(mm, addr);

		if (!v || v->start > addr)
			return -ENOMEM;
		addr = v->end;
	}
	return 0;
}

int vma_modify(struct uhmm_mm *mm, unsigned long start, unsigned long end, void (*fn)(struct uhmm_vma *v, void *arg),
	       void *arg)
{
	struct uhmm_vma *v = find_vma(mm, start);
	int r;

	if (v->start < start) {
		r = vma_split(mm, v, start);
		if (r)
			return r;
		v = vma_next(v);
	}
	while (v && v->start < end) {
		if (v->end > end) {
			r = vma_split(mm, v, end);
			if (r)
				return r;
		}
		fn(v, arg);
		v = vma_next(vma_try_merge(mm, v));
	}
	return 0;
}
