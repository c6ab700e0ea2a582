/* SPDX-License-Identifier: MIT */
/* internal.h - structures shared by src/mm, src/notifier and src/hmm.
 *
 * Not installed. The public API is include/uhmm/; everything here may change.
 *
 * Lock order (outermost first), as mm/rmap.c lists it in the kernel:
 *
 *   driver locks that call into uhmm (dmirror's mutex is never held across a
 *     call that can invalidate: it is innermost, below everything here)
 *   mm->mmap_lock                (rwlock; read: faults, hmm, migrate; write: VM calls)
 *     page lock (PG_LOCKED)      (migration holds src+dst from setup to finalize;
 *                                 always trylock while holding a PTL or another page lock;
 *                                 a huge page's head lock guards changes of its PMD entry)
 *       mapping->lock            (mutex: the VMA list of an anon family / shmem object,
 *                                 and the shmem page array)
 *         leaf->ptl              (mutex per leaf page table: its 512 PTEs)
 *                                 (two of one mm - mremap - lower table address first)
 *           sys free-list shard locks, page wait-queue bucket locks,
 *           sys->huge_lock (2 MiB block list)                   (leaf locks)
 *   subscriptions->lock          (notifier state; never held across a callback;
 *                                 taken inside mmap_lock and PTL-free)
 *
 * The notifier SRCU read side is held across callbacks; unregister/exit wait for
 * it, so nothing that waits for SRCU may be called from a callback.
 */
#ifndef UHMM_INTERNAL_H
#define UHMM_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <uhmm/uhmm.h>

#include "lib/interval_tree.h"
#include "lib/lockdep.h"
#include "lib/rbtree.h"

#define PAGE_SHIFT UHMM_PAGE_SHIFT
#define PAGE_SIZE UHMM_PAGE_SIZE
#define PAGE_MASK UHMM_PAGE_MASK
#define PAGE_ALIGNED(x) (((x) & ~PAGE_MASK) == 0)
#define TASK_SIZE (1UL << 47)	/* user half of a 48-bit address space */

#ifndef container_of
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#endif
#define UHMM_MIN(a, b) ((a) < (b) ? (a) : (b))
#define UHMM_MAX(a, b) ((a) > (b) ? (a) : (b))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* Environmental failures (a pthread call failing) and broken rules abort loudly. */
#define UHMM_BUG(...) uhmm_bug(__FILE__, __LINE__, __VA_ARGS__)
#define UHMM_BUG_ON(c) do { if (unlikely(c)) UHMM_BUG("BUG_ON(%s)", #c); } while (0)
#define UHMM_WARN_ON(c) uhmm_warn_on(!!(c), __FILE__, __LINE__, #c)
__attribute__((noreturn, format(printf, 3, 4))) void uhmm_bug(const char *file, int line, const char *fmt, ...);
bool uhmm_warn_on(bool cond, const char *file, int line, const char *what);
#define CHECK_PTHREAD(call) do { int e_ = (call); if (unlikely(e_)) UHMM_BUG("%s: %d", #call, e_); } while (0)

/* Every internal allocation goes through these (failure injection). */
void *uhmm_malloc(size_t n);
void *uhmm_calloc(size_t n, size_t sz);
bool uhmm_should_fail_alloc(void);
/* A lazily touched anonymous reservation (RAM, struct pages): MAP_FAILED on failure. */
void *uhmm_mmap_reserve(size_t len);

/* ------------------------------------------------------------------ pages */
enum {
	PG_LOCKED = 1u << 0,
	PG_WAITERS = 1u << 1,	/* someone sleeps on the page lock: unlock must wake */
	PG_DIRTY = 1u << 2,
	PG_ANON = 1u << 3,	/* mapping is an anon family (else shmem or none) */
	PG_ZONE_DEVICE = 1u << 4,
	PG_ZERO = 1u << 5,
	PG_ANON_EXCLUSIVE = 1u << 6,
	PG_HEAD = 1u << 7,	/* first frame of a 2 MiB block from page_alloc_huge */
	PG_TAIL = 1u << 8,	/* one of the other 511 while the block is one page: no references of its own */
};

#define HPAGE_ORDER 9
#define HPAGE_NR (1UL << HPAGE_ORDER)	/* frames in a 2 MiB block */

struct uhmm_mapping;

struct uhmm_page {
	atomic_int refcount;	/* all references; 0 = free */
	atomic_int mapcount;	/* present PTEs + device-private entries mapping it */
	atomic_int pincount;	/* uhmm_pin_user_pages references (also in refcount) */
	atomic_uint flags;	/* PG_* */
	/* Written at allocation / migration under the page lock or before publication
	 * in a PTE; read under PTL or page lock. */
	struct uhmm_mapping *mapping;
	unsigned long index;	/* page offset within mapping */
	struct uhmm_dev_pagemap *pgmap;	/* device pages: constant */
	union {
		void *zone_device_data;		/* device pages: the driver's */
		struct pt_leaf *pmd_deposit;	/* a mapped huge page's head: the table its split uses */
	};
	struct uhmm_page *free_next;	/* free-list linkage (RAM) */
	unsigned long pfn;	/* constant */
	unsigned char *addr;	/* constant: the frame's bytes (NULL for device-private) */
	struct uhmm_system *sys;	/* constant */
};

#define NR_FREE_SHARDS 8
#define PAGE_WAIT_BUCKETS 256
#define DEV_PFN_BASE (1UL << 36)
#define DEV_SECTION_SHIFT 16
#define DEV_NR_SECTIONS 65536

struct uhmm_free_shard {
	pthread_mutex_t lock;	/* protects head and count */
	struct uhmm_page *head;
	unsigned long count;
	/* Frames allocated minus frames freed by threads using this shard (may go
	 * negative); the sum over shards is RAM in use. Kept here, on a line the
	 * thread touches anyway, rather than in one global counter every fault
	 * would bounce between cores. */
	atomic_long nr_used;
} __attribute__((aligned(64)));

struct uhmm_page_waitq {
	pthread_mutex_t lock;	/* pairs with PG_WAITERS: set under it, woken under it */
	pthread_cond_t cond;
} __attribute__((aligned(64)));

struct uhmm_system {
	unsigned long nr_ram;		/* frames, pfn 0 is the zero page */
	unsigned char *ram;		/* nr_ram * PAGE_SIZE, one reservation, touched lazily */
	struct uhmm_page *pages;	/* nr_ram structs */
	struct uhmm_page *zero_page;
	/*
	 * Never-used frames: [bump, floor) with bump in the low 32 bits and
	 * floor in the high 32. 4 KiB allocations take them from the bottom
	 * (bump up), 2 MiB blocks from the top (floor down by HPAGE_NR, kept
	 * 512-aligned), both by compare-and-swap of this one word, so the two
	 * ends never cross. See mm/huge_alloc.c.
	 */
	atomic_ulong frontier;
	/* huge_lock protects huge_free (freed 2 MiB blocks, linked through the
	 * head's free_next) and nr_huge_free. A leaf lock: nothing is taken under
	 * it but a free-list shard lock (splitting a block for the 4 KiB path). */
	pthread_mutex_t huge_lock;
	struct uhmm_page *huge_free;
	unsigned long nr_huge_free;
	struct uhmm_free_shard shards[NR_FREE_SHARDS];
	struct uhmm_page_waitq waitq[PAGE_WAIT_BUCKETS];
	/* Device frames. dev_lock protects dev_next_section, pgmaps and section
	 * publication; sections are read lock-free (acquire) by pfn_to_page. It
	 * is a leaf lock: nothing else is taken under it. */
	pthread_mutex_t dev_lock;
	struct uhmm_page *_Atomic *sections;
	unsigned long dev_next_section;
	struct pgmap_priv *pgmaps;	/* every region memremapped, newest first */
	atomic_long dev_pages;
	atomic_long nr_mms;		/* live mm structures (leak report) */
	enum uhmm_thp_mode thp;		/* constant: transparent_hugepage/enabled */
};

static inline void *page_address(const struct uhmm_page *p) { return p->addr; }
static inline bool page_is_device(const struct uhmm_page *p) { return atomic_load_explicit(&((struct uhmm_page *)p)->flags, memory_order_relaxed) & PG_ZONE_DEVICE; }
static inline bool page_is_device_private(const struct uhmm_page *p)
{
	return page_is_device(p) && p->pgmap->type == UHMM_MEMORY_DEVICE_PRIVATE;
}
static inline bool page_is_device_coherent(const struct uhmm_page *p)
{
	return page_is_device(p) && p->pgmap->type == UHMM_MEMORY_DEVICE_COHERENT;
}
static inline bool page_is_zero(const struct uhmm_page *p) { return p == p->sys->zero_page; }
static inline bool page_is_anon(const struct uhmm_page *p)
{
	return atomic_load_explicit(&((struct uhmm_page *)p)->flags, memory_order_relaxed) & PG_ANON;
}
static inline void page_set_flag(struct uhmm_page *p, unsigned f) { atomic_fetch_or(&p->flags, f); }
static inline void page_clear_flag(struct uhmm_page *p, unsigned f) { atomic_fetch_and(&p->flags, ~f); }
static inline bool page_test_flag(const struct uhmm_page *p, unsigned f)
{
	return atomic_load_explicit(&((struct uhmm_page *)p)->flags, memory_order_acquire) & f;
}

struct uhmm_page *pfn_to_page(struct uhmm_system *sys, unsigned long pfn);
struct uhmm_page *page_alloc(struct uhmm_system *sys);	/* refcount 1, not zeroed */
/*
 * A 2 MiB block: HPAGE_NR physically contiguous frames, the first one's pfn a
 * multiple of HPAGE_NR. Returns the head (refcount 1, PG_HEAD; the other
 * frames are initialised with refcount 0) or NULL when no block is free or
 * the failure hook says so; the caller then falls back to 4 KiB pages, as
 * Linux's THP fault does. Not zeroed. The head's last put frees the block.
 */
struct uhmm_page *page_alloc_huge(struct uhmm_system *sys);
void page_free_huge(struct uhmm_page *head);	/* refcount already 0 */
static inline bool page_is_tail(const struct uhmm_page *p)
{
	return atomic_load_explicit(&((struct uhmm_page *)p)->flags, memory_order_relaxed) & PG_TAIL;
}
/* A free 2 MiB block broken into HPAGE_NR 4 KiB frames for the 4 KiB path: how many went to @pages. */
unsigned long huge_split_for_small(struct uhmm_system *sys, unsigned long nr, struct uhmm_page **pages,
				   struct uhmm_free_shard *rest);
unsigned long frontier_bump(unsigned long f);
unsigned long frontier_floor(unsigned long f);
unsigned long frontier_make(unsigned long bump, unsigned long floor);
void page_get(struct uhmm_page *p);
bool page_get_unless_zero(struct uhmm_page *p);
void page_put(struct uhmm_page *p);
unsigned long page_alloc_bulk(struct uhmm_system *sys, unsigned long nr, struct uhmm_page **pages);
void page_free_ram(struct uhmm_page *p);	/* refcount already 0 */
struct page_free_batch {
	struct uhmm_page *head, *tail;	/* RAM pages, for their shard */
	unsigned long count;
	struct uhmm_mapping *map;	/* device pages: family references owed */
	int map_refs;
	struct uhmm_dev_pagemap *pgmap;	/* device pages: in_use count owed */
	long pgmap_pages;
};
#define PAGE_FREE_BATCH_INIT ((struct page_free_batch){ NULL, NULL, 0, NULL, 0, NULL, 0 })
void page_put_batched(struct uhmm_page *p, struct page_free_batch *b);
void page_free_batch_flush(struct uhmm_system *sys, struct page_free_batch *b);	/* before returning */
long memremap_pages_in_use(struct uhmm_system *sys);
void page_free_device_batched(struct uhmm_page *p, struct page_free_batch *b);
void page_free_batch_flush_device(struct page_free_batch *b);
void page_free_device(struct uhmm_page *p);	/* refcount already 0: page_free callback */
bool page_trylock(struct uhmm_page *p);
void page_lock(struct uhmm_page *p);
void page_unlock(struct uhmm_page *p);
void page_wait_unlocked(struct uhmm_page *p);	/* wait until the page lock is free */
void page_copy(struct uhmm_page *dst, struct uhmm_page *src);	/* RAM/coherent only */

/* ------------------------------------------------------------- page tables */
/*
 * A PTE is 64 bits. pte == 0 is "none".
 *   present: bit 0 set; bits 1.. flags; pfn in bits 12..63.
 *   non-present: bit 0 clear, type in bits 1..4 (non-zero), bits 5..7 flags,
 *   pfn in bits 12..63 (the device-private / exclusive / migrating page).
 * Upper levels hold pointers to the next table; bit 0 of an upper entry is
 * reserved for a future PMD leaf (2 MiB page), tables are 4 KiB aligned.
 * Entries are made, tested and changed with the helpers of mm/swapops.h;
 * ranges of tables are walked with mm/pagewalk.h.
 */
typedef uint64_t pte_t;
#define PTE_PRESENT	(1ULL << 0)
#define PTE_WRITE	(1ULL << 1)
#define PTE_DIRTY	(1ULL << 2)
#define PTE_YOUNG	(1ULL << 3)
#define PTE_SOFT_DIRTY	(1ULL << 4)
#define PTE_PFN_SHIFT	12

#define SWP_TYPE_SHIFT	1
#define SWP_TYPE_MASK	(0xFULL << SWP_TYPE_SHIFT)
#define SWP_SOFT_DIRTY	(1ULL << 5)
#define SWP_YOUNG	(1ULL << 6)
#define SWP_DIRTY	(1ULL << 7)
enum swp_type {
	SWP_NONE = 0,
	SWP_DEVICE_READ, SWP_DEVICE_WRITE,
	SWP_DEVICE_EXCLUSIVE_READ, SWP_DEVICE_EXCLUSIVE_WRITE,
	SWP_MIGRATION_READ, SWP_MIGRATION_READ_EXCLUSIVE, SWP_MIGRATION_WRITE,
};

static inline bool pte_none(pte_t p) { return p == 0; }
static inline bool pte_present(pte_t p) { return p & PTE_PRESENT; }
static inline unsigned long pte_pfn(pte_t p) { return p >> PTE_PFN_SHIFT; }
static inline bool pte_write(pte_t p) { return p & PTE_WRITE; }
static inline pte_t mk_pte(unsigned long pfn, pte_t flags) { return ((pte_t)pfn << PTE_PFN_SHIFT) | PTE_PRESENT | flags; }
static inline enum swp_type pte_swp_type(pte_t p)
{
	return pte_present(p) ? SWP_NONE : (enum swp_type)((p & SWP_TYPE_MASK) >> SWP_TYPE_SHIFT);
}
static inline pte_t mk_swp_pte(enum swp_type t, unsigned long pfn, pte_t flags)
{
	return ((pte_t)pfn << PTE_PFN_SHIFT) | ((pte_t)t << SWP_TYPE_SHIFT) | flags;
}
static inline bool is_device_private_entry(pte_t p) { enum swp_type t = pte_swp_type(p); return t == SWP_DEVICE_READ || t == SWP_DEVICE_WRITE; }
static inline bool is_device_exclusive_entry(pte_t p) { enum swp_type t = pte_swp_type(p); return t == SWP_DEVICE_EXCLUSIVE_READ || t == SWP_DEVICE_EXCLUSIVE_WRITE; }
static inline bool is_migration_entry(pte_t p) { enum swp_type t = pte_swp_type(p); return t >= SWP_MIGRATION_READ && t <= SWP_MIGRATION_WRITE; }
static inline bool is_writable_swp_entry(pte_t p)
{
	enum swp_type t = pte_swp_type(p);
	return t == SWP_DEVICE_WRITE || t == SWP_DEVICE_EXCLUSIVE_WRITE || t == SWP_MIGRATION_WRITE;
}

#define PT_ENTRIES 512
#define PT_SHIFT_PGD 39
#define PT_SHIFT_PUD 30
#define PT_SHIFT_PMD 21
#define PMD_SIZE (1UL << PT_SHIFT_PMD)

/* A leaf page table: 512 PTEs and the lock that serialises their updates.
 * Readers that only need a snapshot (hmm_range_fault) load PTEs without it. */
struct pt_leaf {
	_Atomic pte_t pte[PT_ENTRIES];
	pthread_mutex_t ptl;	/* protects every update of pte[] */
	/* A table replaced by a huge page (MADV_COLLAPSE) may still be read by a
	 * lock-free walker: it waits on mm->retired_tables until exit. */
	struct pt_leaf *retired_next;
};
/* Upper levels: pointers published with release, read with acquire; a table
 * is never freed before its mm is destroyed, so lock-free walkers are safe. */
struct pt_dir {
	_Atomic(uintptr_t) e[PT_ENTRIES];
};

#include "mm/swapops.h"

static inline unsigned pt_index(unsigned long addr, int shift) { return (addr >> shift) & (PT_ENTRIES - 1); }
static inline unsigned pte_index(unsigned long addr) { return (addr >> PAGE_SHIFT) & (PT_ENTRIES - 1); }

#define PMD_MASK (~(PMD_SIZE - 1))
#define PUD_SIZE (1UL << PT_SHIFT_PUD)
#define PUD_MASK (~(PUD_SIZE - 1))
#define PGDIR_SIZE (1UL << PT_SHIFT_PGD)
#define PGDIR_MASK (~(PGDIR_SIZE - 1))
/* The end of the table entry covering @addr, or @end if that comes first (no overflow at the top). */
static inline unsigned long pt_addr_end(unsigned long addr, unsigned long end, unsigned long mask)
{
	unsigned long boundary = (addr + ~mask + 1) & mask;

	return boundary - 1 < end - 1 ? boundary : end;
}
static inline unsigned long pmd_addr_end(unsigned long addr, unsigned long end) { return pt_addr_end(addr, end, PMD_MASK); }
static inline unsigned long pud_addr_end(unsigned long addr, unsigned long end) { return pt_addr_end(addr, end, PUD_MASK); }
static inline unsigned long pgd_addr_end(unsigned long addr, unsigned long end) { return pt_addr_end(addr, end, PGDIR_MASK); }

/*
 * An upper-level entry (pgd, pud or pmd slot of a pt_dir): 0 or the address
 * of the next table. pmdval_t is its value, pmd_t the slot a walker hands to
 * pmd_entry, as the kernel's pmd_t *.
 */
typedef uintptr_t pmdval_t;
typedef _Atomic pmdval_t pmd_t;
static inline pmdval_t pmdp_get(pmd_t *pmd) { return atomic_load_explicit(pmd, memory_order_acquire); }
static inline bool pmd_none(pmdval_t v) { return v == 0; }
/* A huge page mapped by the PMD itself: encoded as a present PTE of its head
 * frame (bit 0 set; a table's address is 4 KiB aligned, bit 0 clear). */
static inline bool pmd_leaf(pmdval_t v) { return v & PTE_PRESENT; }
static inline unsigned long pmd_pfn(pmdval_t v) { return pte_pfn((pte_t)v); }
static inline bool pmd_write(pmdval_t v) { return v & PTE_WRITE; }
static inline pmdval_t mk_pmd(unsigned long pfn, pte_t flags) { return (pmdval_t)mk_pte(pfn, flags); }
static inline struct pt_leaf *pmd_pgtable(pmdval_t v) { return (struct pt_leaf *)v; }
/* A PTE slot handed to pte_entry. */
static inline pte_t ptep_get(_Atomic pte_t *ptep) { return atomic_load_explicit(ptep, memory_order_relaxed); }
static inline void set_pte(_Atomic pte_t *ptep, pte_t v) { atomic_store_explicit(ptep, v, memory_order_relaxed); }
static inline _Atomic pte_t *pte_offset(struct pt_leaf *l, unsigned long addr) { return &l->pte[pte_index(addr)]; }

struct uhmm_mm;
/*
 * The leaf table covering @addr, or NULL: none (allocate=false), -ENOMEM
 * (allocate=true), or a huge page maps the PMD (either way: see
 * pmd_offset_alloc and mm/huge_memory.c for that case).
 */
struct pt_leaf *pt_walk(struct uhmm_mm *mm, unsigned long addr, bool allocate);
/* The PMD slot covering @addr, allocating the upper levels if asked; NULL if absent / -ENOMEM. */
pmd_t *pmd_offset_alloc(struct uhmm_mm *mm, unsigned long addr, bool allocate);
struct pt_leaf *pt_leaf_alloc(void);	/* zeroed, PTL initialised; NULL on -ENOMEM */
void pt_leaf_free(struct pt_leaf *l);
void pt_free_all(struct uhmm_mm *mm);	/* exit: empty the pgd, free every table below it */
static inline pte_t pte_get(struct pt_leaf *l, unsigned long addr)
{
	return atomic_load_explicit(&l->pte[pte_index(addr)], memory_order_relaxed);
}
static inline void pte_set(struct pt_leaf *l, unsigned long addr, pte_t v)
{
	atomic_store_explicit(&l->pte[pte_index(addr)], v, memory_order_relaxed);
}
static inline void ptl_lock_at(struct pt_leaf *l, bool nested, const char *file, int line)
{
	lockdep_acquire(LR_PTL, nested, file, line);
	CHECK_PTHREAD(pthread_mutex_lock(&l->ptl));
}
#define ptl_lock(l) ptl_lock_at(l, false, __FILE__, __LINE__)
/* a second PTL of another table (fork: the child's; mremap: the destination) */
#define ptl_lock_nested(l) ptl_lock_at(l, true, __FILE__, __LINE__)
static inline void ptl_unlock(struct pt_leaf *l)
{
	CHECK_PTHREAD(pthread_mutex_unlock(&l->ptl));
	lockdep_release(LR_PTL);
}
/* A migration entry for @p is in @leaf (PTL held): sleep until @p is unlocked, holding no
 * reference; drops the PTL. Returns after one wakeup: the caller retries. */
void migration_entry_wait_on_locked(struct uhmm_page *p, struct pt_leaf *leaf);

/* ----------------------------------------------------------- VMAs, mappings */
#define VM_READ		0x1UL
#define VM_WRITE	0x2UL
#define VM_EXEC		0x4UL
#define VM_SHARED	0x8UL
#define VM_MIXEDMAP	0x10UL	/* pages inserted by a driver (dmirror mmap): not anonymous */
#define VM_HUGEPAGE	0x20UL	/* MADV_HUGEPAGE */
#define VM_NOHUGEPAGE	0x40UL	/* MADV_NOHUGEPAGE */
#define VM_PROT_MASK	(VM_READ | VM_WRITE | VM_EXEC)

enum mapping_kind { MAPPING_ANON = 1, MAPPING_SHMEM = 2 };

/*
 * An anon family (the kernel's anon_vma, one per private mapping and its fork
 * descendants) or a shmem object (a MAP_SHARED|MAP_ANONYMOUS region). It lists
 * every VMA that may map its pages so the reverse map can find (mm, address)
 * from (page->mapping, page->index): address = vma->start + (index - vma->pgoff) pages.
 */
struct uhmm_mapping {
	enum mapping_kind kind;
	atomic_int refcount;		/* VMAs pointing here */
	pthread_mutex_t lock;		/* protects vmas list and, for shmem, pages[] / nr_pages */
	/* Oldest first: a VMA that PTEs move or are copied to (mremap's new VMA,
	 * a fork child's) comes after its source, so an rmap walk that runs
	 * without the mmap lock sees each PTE in one place or the other. */
	struct uhmm_vma *vmas, *vmas_tail;
	/* shmem only: the object's pages, indexed by pgoff; each holds one reference. */
	struct uhmm_page **pages;
	unsigned long nr_pages;
};

struct uhmm_vma {
	struct uhmm_rb_node rb;		/* mm->vma_tree, by start (under mmap_lock write) */
	struct uhmm_mm *mm;
	unsigned long start, end;
	unsigned long flags;		/* VM_* */
	unsigned long pgoff;		/* anon: start >> PAGE_SHIFT at creation; shmem: offset in object */
	/* Private anon: NULL until the first page is faulted in (anon_vma_prepare),
	 * set once under mm->anon_prepare_lock. Shared: the shmem object. */
	struct uhmm_mapping *_Atomic mapping;
	struct uhmm_vma *map_next, *map_prev;	/* on mapping->vmas (under mapping->lock) */
};

static inline void mapping_lock_at(struct uhmm_mapping *m, const char *file, int line)
{
	lockdep_acquire(LR_MAPPING, false, file, line);
	CHECK_PTHREAD(pthread_mutex_lock(&m->lock));
}
#define mapping_lock(m) mapping_lock_at(m, __FILE__, __LINE__)
static inline void mapping_unlock(struct uhmm_mapping *m)
{
	CHECK_PTHREAD(pthread_mutex_unlock(&m->lock));
	lockdep_release(LR_MAPPING);
}

static inline bool vma_is_anonymous(const struct uhmm_vma *v) { return !(v->flags & (VM_SHARED | VM_MIXEDMAP)); }
static inline unsigned long vma_page_index(const struct uhmm_vma *v, unsigned long addr)
{
	return v->pgoff + ((addr - v->start) >> PAGE_SHIFT);
}

/* -------------------------------------------------------------------- mm */
struct uhmm_mn_subscriptions;

struct uhmm_mm {
	struct uhmm_system *sys;
	atomic_int mm_users;		/* address-space users; 0 = exited */
	atomic_int mm_count;		/* structure references (1 for all users + notifiers) */
	pthread_rwlock_t mmap_lock;	/* writer-preferring; protects the VMA tree and VMA fields */
	struct uhmm_rb_root vma_tree;
	unsigned long nr_vmas;
	struct pt_dir *pgd;		/* never changes */
	/* Leaf tables unlinked by MADV_COLLAPSE, freed at exit (pt_free_all). Under the mmap write lock. */
	struct pt_leaf *retired_tables;
	pthread_mutex_t anon_prepare_lock;	/* serialises vma->mapping creation under mmap read lock */
	/* Notifier state, allocated on the first registration, freed with the mm. */
	struct uhmm_mn_subscriptions *_Atomic notifier_subscriptions;
};

void mm_drop(struct uhmm_mm *mm);		/* drop an mm_count reference */
void mm_grab(struct uhmm_mm *mm);		/* take one */

struct uhmm_vma *find_vma(struct uhmm_mm *mm, unsigned long addr);	/* vma with end > addr, lowest */
struct uhmm_vma *vma_next(struct uhmm_vma *v);
struct uhmm_vma *vma_prev(struct uhmm_vma *v);
struct uhmm_mapping *anon_vma_prepare(struct uhmm_vma *vma);	/* NULL on -ENOMEM */
void mapping_get_many(struct uhmm_mapping *m, int n);
void mapping_put(struct uhmm_mapping *m);
void mapping_put_many(struct uhmm_mapping *m, int n);
void mapping_get(struct uhmm_mapping *m);
/* Take and drop every mapping lock of @mm's VMAs: rmap walks in flight finish. mmap write lock held. */
void mm_sync_rmap_walkers(struct uhmm_mm *mm);

/* Faults (mmap lock held for read). Return 0 or -errno; -EAGAIN means "retry the walk". */
#define FAULT_FLAG_WRITE	0x1
#define FAULT_FLAG_REMOTE	0x2
int handle_mm_fault(struct uhmm_mm *mm, struct uhmm_vma *vma, unsigned long addr, unsigned int fault_flags);

/* Transparent huge pages (mm/huge_memory.c). mmap lock held. */
#define THP_FALLBACK 1	/* do_huge_pmd_anonymous_page: no huge page, use base pages */
bool thp_vma_allowable(struct uhmm_vma *vma, unsigned long addr);
int do_huge_pmd_anonymous_page(struct uhmm_mm *mm, struct uhmm_vma *vma, unsigned long addr, pmd_t *pmd);
/* Split the huge page *pmd maps (if it still does) into 512 PTEs of base pages. Never fails.
 * Takes the head's page lock: hold no other page lock (else use the trylock form). */
void split_huge_pmd(struct uhmm_mm *mm, pmd_t *pmd);
/* As split_huge_pmd with a trylock of the head: false if it is locked (nothing changed). */
bool split_huge_pmd_trylock(struct uhmm_mm *mm, pmd_t *pmd);
void split_huge_pmd_address(struct uhmm_mm *mm, unsigned long addr);
/* Unmap the huge page *pmd maps; false if it no longer maps one (the caller re-reads *pmd). */
bool zap_huge_pmd(struct uhmm_mm *mm, pmd_t *pmd);
/* MADV_COLLAPSE of the aligned 2 MiB at @haddr (mmap write lock): 0, -ENOMEM, -EAGAIN, -EINVAL. */
int collapse_huge_pmd(struct uhmm_mm *mm, struct uhmm_vma *vma, unsigned long haddr);
/* A reference on the head of the huge page @v (read from *pmd), or NULL if *pmd changed. */
struct uhmm_page *huge_pmd_get_page(struct uhmm_mm *mm, pmd_t *pmd, pmdval_t v);

/* rmap */
void page_add_rmap(struct uhmm_page *p);
void page_remove_rmap(struct uhmm_page *p);
/* Walk every VMA that may map @page; for each (vma, address) call fn. Page locked. */
typedef bool (*rmap_one_fn)(struct uhmm_page *page, struct uhmm_vma *vma, unsigned long addr, void *arg);
void rmap_walk(struct uhmm_page *page, rmap_one_fn fn, void *arg);

/* Zap PTEs in [start, end) of vma (no notifier: callers wrap it). */
void zap_pte_range(struct uhmm_vma *vma, unsigned long start, unsigned long end);

/* ------------------------------------------------------------- notifiers */
/* Hooks called by the mm. All are cheap no-ops when the mm has no subscriptions. */
static inline bool mm_has_notifiers(struct uhmm_mm *mm)
{
	return atomic_load_explicit(&mm->notifier_subscriptions, memory_order_acquire) != NULL;
}
static inline void mn_range_init(struct uhmm_mmu_notifier_range *r, enum uhmm_mmu_notifier_event ev,
				 struct uhmm_mm *mm, unsigned long start, unsigned long end)
{
	r->mm = mm; r->start = start; r->end = end; r->flags = 0; r->event = ev; r->owner = NULL;
}
static inline void mn_range_init_owner(struct uhmm_mmu_notifier_range *r, enum uhmm_mmu_notifier_event ev,
				       struct uhmm_mm *mm, unsigned long start, unsigned long end, void *owner)
{
	mn_range_init(r, ev, mm, start, end);
	r->owner = owner;
}
void mn_invalidate_range_start(struct uhmm_mmu_notifier_range *r);	/* blockable, cannot fail */
void mn_invalidate_range_end(struct uhmm_mmu_notifier_range *r);
void mn_release(struct uhmm_mm *mm);		/* exit: before unmapping */
void mn_subscriptions_destroy(struct uhmm_mm *mm);	/* last mm_count */

/* ------------------------------------------------------------- hmm side */
/* migrate_to_ram path from the CPU fault (src/hmm/device.c). */
int do_device_private_fault(struct uhmm_mm *mm, struct uhmm_vma *vma, unsigned long addr, struct pt_leaf *leaf,
			    pte_t pte, unsigned int fault_flags);
int do_device_exclusive_fault(struct uhmm_mm *mm, struct uhmm_vma *vma, unsigned long addr, struct pt_leaf *leaf,
			      pte_t pte);
/* Exclusive entry back to a present PTE: page locked, PTL held (src/hmm/device_fault.c). */
pte_t restore_exclusive_pte(struct uhmm_vma *vma, struct uhmm_page *page, unsigned long addr,
			    struct pt_leaf *leaf, pte_t entry);

#endif
