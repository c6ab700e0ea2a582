/* SPDX-License-Identifier: MIT */
/* dmirror_internal.h - structures shared by the files of the dmirror driver.
 *
 * Not installed. The driver is built from the public API only (<uhmm/uhmm.h>):
 * nothing here reaches into src/.
 *
 * Locks of the driver, and where they sit in uhmm's order (src/internal.h):
 *
 *   dev->chunk_lock     (mutex) serialises adding and detaching memory chunks;
 *                       uhmm_memremap_pages is called under it (that takes no
 *                       mm, page or notifier lock). Taken with the mmap lock
 *                       held for read and source pages locked (migration).
 *   dev->files_lock     (mutex) the device's list of open files; taken by the
 *                       migration paths to update the page tables of every
 *                       file that skipped their MIGRATE invalidation.
 *   dmirror->mutex      (mutex) "the driver lock": the device page table of
 *                       one file. Taken by the invalidate callback, so it is
 *                       innermost: never held across a uhmm call that can
 *                       invalidate, fault, migrate or sleep on the notifier
 *                       sequence (read_begin, range_fault, migrate_vma_*,
 *                       make_device_exclusive, interval notifier insert/remove).
 *   dev->alloc_lock     (mutex) leaf: the chunk list and each chunk's free
 *                       list, bump index, in_use and removed flag. Taken by
 *                       page_free, which the core calls from anywhere (under
 *                       the mmap lock, with pages locked, from a zap); nothing
 *                       is called under it.
 *
 * Order: chunk_lock -> alloc_lock; files_lock -> dmirror->mutex. None of them
 * is held while calling into uhmm except chunk_lock (memremap only).
 */
#ifndef DMIRROR_INTERNAL_H
#define DMIRROR_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uhmm/dmirror.h>
#include <uhmm/export.h>
#include <uhmm/uhmm.h>

#define DMIRROR_PAGE_SHIFT UHMM_PAGE_SHIFT
#define DMIRROR_PAGE_SIZE UHMM_PAGE_SIZE
#define DMIRROR_PAGE_MASK UHMM_PAGE_MASK

/* Pages per hmm_range_fault call, migrate_vma call and snapshot (6.1: 64). */
#define DMIRROR_RANGE_PAGES 64UL
/* How long the fault and snapshot loops retry collisions before -EBUSY. */
#define DMIRROR_RANGE_FAULT_TIMEOUT_MS 1000

#define DMIRROR_DEFAULT_MEMORY (256UL << 20)
#define DMIRROR_DEFAULT_CHUNK (16UL << 20)

#define dmirror_container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/*
 * The library's allocator (src/lib/util.c), the one exception to "public API
 * only": the driver is built into libuhmm, and as kmalloc is for a kernel
 * driver, every allocation it makes goes through the failure-injection hook
 * (uhmm_fail_nth) like the core's. Free with free().
 */
void *uhmm_malloc(size_t n);
void *uhmm_calloc(size_t n, size_t sz);
bool uhmm_should_fail_alloc(void);
#define DMIRROR_MIN(a, b) ((a) < (b) ? (a) : (b))

/* ------------------------------------------------------ device page table */
/*
 * The device page table: virtual page number -> tagged page pointer. A
 * four-level radix tree of 512-slot nodes (36 bits of VPN cover a 48-bit
 * address space), nodes allocated on first use and freed when they empty:
 * one allocation per 512 pages, O(1) lookup, range erase skips empty
 * subtrees. Entries hold NO page reference: an entry is valid only because
 * every change of the CPU mapping first erases it (invalidate callback, or
 * the migration code for the events the callback skips). All access is
 * under the owning file's mutex.
 *
 * An entry is the page pointer with a tag in its two low bits. The page is
 * the one the CPU maps: a RAM page, the zero page, a device-coherent page,
 * or one of this device's private pages (whose bytes live in a backing RAM
 * page, see dmirror_devmem.c).
 */
#define DPT_TAG_READ 0UL	/* device may read */
#define DPT_TAG_WRITE 1UL	/* device may read and write */
#define DPT_TAG_ATOMIC 2UL	/* device-exclusive (atomic) access; read-only for WRITE */
#define DPT_TAG_MASK 3UL
#define DPT_LEVELS 4
#define DPT_BITS 9
#define DPT_FANOUT (1UL << DPT_BITS)
#define DPT_MAX_VPN ((1UL << (DPT_LEVELS * DPT_BITS)) - 1)

struct dpt_node {
	unsigned long count;		/* non-zero slots */
	uintptr_t slot[DPT_FANOUT];	/* leaves: entries; inner: child nodes */
};

struct dmirror_pt {
	struct dpt_node *root;
	unsigned long nr_entries;
};

static inline uintptr_t dpt_mk_entry(struct uhmm_page *page, unsigned long tag)
{
	return (uintptr_t)page | tag;
}
static inline struct uhmm_page *dpt_entry_page(uintptr_t e)
{
	return (struct uhmm_page *)(e & ~DPT_TAG_MASK);
}
static inline unsigned long dpt_entry_tag(uintptr_t e)
{
	return e & DPT_TAG_MASK;
}

uintptr_t dpt_lookup(const struct dmirror_pt *pt, unsigned long vpn);
/* Store a non-zero entry (replacing any). 0 or -ENOMEM (nothing changed). */
int dpt_store(struct dmirror_pt *pt, unsigned long vpn, uintptr_t entry);
/* Erase one entry; true if there was one. */
bool dpt_erase(struct dmirror_pt *pt, unsigned long vpn);
/* Erase [first, last] (inclusive); returns the number of entries erased. */
unsigned long dpt_erase_range(struct dmirror_pt *pt, unsigned long first, unsigned long last);
/* True if some entry of [first, last] has @tag. */
bool dpt_range_has_tag(const struct dmirror_pt *pt, unsigned long first, unsigned long last, unsigned long tag);
void dpt_destroy(struct dmirror_pt *pt);

/* --------------------------------------------------------- device memory */
/*
 * One chunk of device memory: one dev_pagemap. Pages are handed out from a
 * bump index first (so a fresh chunk touches none of its struct pages), then
 * from the chunk's free list, linked through zone_device_data.
 */
/* The file whose migration or EXCLUSIVE this thread is running (see zap_seq). */
extern _Thread_local const struct uhmm_dmirror *dmirror_busy;
/* The file whose ioctl-driven migration (either direction) this thread runs:
 * the per-thread flag of UHMM_DMIRROR_FILTER_THREAD. */
extern _Thread_local const struct uhmm_dmirror *dmirror_populating;

struct dmirror_chunk {
	struct uhmm_dev_pagemap pgmap;	/* owner = the device; must not move */
	struct uhmm_dmirror_device *dev;
	struct dmirror_chunk *next;	/* dev->chunks, or a detached list */
	/* Under dev->alloc_lock: */
	struct uhmm_page *free;		/* freed pages, linked through zone_device_data */
	unsigned long bump;		/* pages [bump, nr_pages) never handed out */
	unsigned long in_use;		/* handed out and not yet freed */
	bool removed;			/* detached for eviction: freed pages stay out */
};

/* The categories of the simulated device clock (uhmm_dmirror_cost). */
enum dmirror_sim {
	DMIRROR_SIM_COPY,
	DMIRROR_SIM_FAULT,
	DMIRROR_SIM_FLUSH,
	DMIRROR_SIM_PTE,
	DMIRROR_SIM_NR
};

struct uhmm_dmirror_device {
	struct uhmm_system *sys;
	enum uhmm_memory_type type;
	enum uhmm_dmirror_filter filter;	/* the owner-filter policy */
	bool filter_exclusive;		/* owner of our EXCLUSIVE; skip those events */
	/* ioctl-driven migrations running (FILTER_OWN_MIGRATE_POPULATING). Relaxed:
	 * the migrating thread's own callbacks see it in program order; what other
	 * threads (a CPU fault) see is the policy's own approximation. */
	atomic_ulong populating;
	struct uhmm_dmirror_cost cost;	/* the model, copied at create */
	unsigned long spin_flush_ns;	/* opts->tlb_flush_ns: busy-wait per flush (superseded) */
	/* The simulated clock, per category (dmirror_cost.c); relaxed atomics. */
	atomic_ullong sim_ns[DMIRROR_SIM_NR];
	unsigned long capacity_pages;	/* memory_bytes in pages */
	unsigned long chunk_pages;

	pthread_mutex_t chunk_lock;	/* serialises chunk creation and detaching */
	pthread_mutex_t alloc_lock;	/* leaf: chunks list, attached_pages, nr_chunks, chunk free lists */
	struct dmirror_chunk *chunks;	/* attached chunks */
	unsigned long attached_pages;
	unsigned long nr_chunks;

	pthread_mutex_t files_lock;	/* protects files, nr_files */
	struct uhmm_dmirror *files;
	unsigned long nr_files;

	atomic_ulong pages_in_use;	/* device pages allocated, not freed */
	atomic_ulong pages_evicted;
	atomic_ulong alloc_failures;
};

/* ------------------------------------------------------------ open files */
struct dmirror_snapbuf {
	unsigned long size;		/* bytes in data[] */
	unsigned char data[];
};

struct uhmm_dmirror {
	/* Whole address space; its callback is dmirror_interval_invalidate. */
	struct uhmm_mmu_interval_notifier notifier;
	struct uhmm_dmirror_device *dev;
	struct uhmm_mm *mm;		/* the structure is kept by the notifier; may have exited */
	struct uhmm_system *sys;

	pthread_mutex_t mutex;		/* the driver lock: protects pt */
	struct dmirror_pt pt;

	/*
	 * Bumped (before taking mutex) by the migration code each time it
	 * updates pt for a migration whose MIGRATE invalidation this file
	 * skipped. The fault path samples it before hmm_range_fault and checks
	 * it with read_retry under the mutex: a skipped invalidation does not
	 * call set_seq, so read_retry alone would let a fault that read the
	 * CPU page table before the migration store a stale page after the
	 * migration code updated pt. See dmirror_fault_range().
	 */
	atomic_ulong migrate_seq;
	/*
	 * Bumped under mutex by the invalidate callback for every invalidation
	 * it applies, except this device's MIGRATE events, EXCLUSIVE events and
	 * the invalidations a migration or EXCLUSIVE of this file causes itself
	 * (its rmap CLEARs, the restore of an old exclusive entry: they run in
	 * the thread that does it, marked by dmirror_busy). The migration and
	 * EXCLUSIVE paths store entries outside the read_begin / read_retry
	 * loop: they sample it (then read_begin, so that invalidations already
	 * under way have finished their zaps) before they start, and store only
	 * if it has not moved. Otherwise a zap that needs only the mmap read
	 * lock (MADV_DONTNEED), or none of ours (rmap, eviction), could unmap
	 * the new page first and leave an entry for a page that is then freed.
	 */
	atomic_ulong zap_seq;
	atomic_ulong flags;		/* UHMM_DMIRROR_FLAG_* */
	/*
	 * SNAPSHOT's staging buffer (one byte per page), kept between commands
	 * and grown as needed so the steady state allocates nothing. A command
	 * takes it with an atomic exchange (a concurrent SNAPSHOT of the file
	 * then finds NULL and allocates its own) and puts it back the same way,
	 * freeing whichever buffer is smaller. Freed by close.
	 */
	_Atomic(struct dmirror_snapbuf *) snapbuf;

	struct uhmm_dmirror *next, *prev;	/* dev->files, under files_lock */

	/* Statistics (relaxed atomics: counters only). */
	atomic_ulong invalidations;
	atomic_ulong invalidations_skipped;
	atomic_ulong ptes_zapped;
	atomic_ulong ptes_migrated;
	atomic_ulong faults;
	atomic_ulong pages_to_dev;
	atomic_ulong pages_to_sys;
};

/* dmirror_cost.c: advance the device's simulated clock (any context, no lock). */
void dmirror_cost_init(struct uhmm_dmirror_device *dev, const struct uhmm_dmirror_device_opts *opts);
/* One transfer of @bytes across the link (setup + bytes / bandwidth); 0 bytes: nothing. */
void dmirror_sim_copy(struct uhmm_dmirror_device *dev, unsigned long bytes);
/* One device fault round. */
void dmirror_sim_fault(struct uhmm_dmirror_device *dev);
/* One device TLB flush. */
void dmirror_sim_flush(struct uhmm_dmirror_device *dev);
/* @n device page-table entries written; 0: nothing. */
void dmirror_sim_ptes(struct uhmm_dmirror_device *dev, unsigned long n);

/* dmirror_devmem.c */
int dmirror_devmem_init(struct uhmm_dmirror_device *dev);
/* A free device page, zone_device_page_init'ed (refcount 1, locked) with its
 * backing page set up. NULL when the device memory or RAM is exhausted. */
struct uhmm_page *dmirror_devmem_alloc_page(struct uhmm_dmirror_device *dev);
/* The bytes of a page the device reads or writes: a private page's backing
 * page, else the page itself (RAM, zero, coherent). */
void *dmirror_page_data(struct uhmm_page *page);
/* Evict every attached chunk back to RAM and unmap it (RELEASE, destroy). */
void dmirror_devmem_release(struct uhmm_dmirror_device *dev);

/* dmirror_migrate.c */
int dmirror_migrate_to_device(struct uhmm_dmirror *dmirror, struct uhmm_dmirror_cmd *cmd);
int dmirror_migrate_to_system(struct uhmm_dmirror *dmirror, struct uhmm_dmirror_cmd *cmd);
/* The pgmap's migrate_to_ram. */
int dmirror_devmem_fault(struct uhmm_vm_fault *vmf);

/* dmirror.c */
/* Copy [start, end) out of pt into buf, all or nothing (mutex held): 0, or
 * -ENOENT with *missing = the first page without an entry and buf untouched. */
int dmirror_copy_out_locked(struct uhmm_dmirror *dmirror, unsigned long start, unsigned long end, char *buf,
			    unsigned long *missing);
/* Map into the page table, without faulting anything, the pages of [start,
 * end) that are in this device's memory (private or coherent). 0, -EBUSY,
 * -ENOMEM. Do not hold the mutex or the mmap lock. */
int dmirror_map_own_pages(struct uhmm_dmirror *dmirror, unsigned long start, unsigned long end);

#endif
