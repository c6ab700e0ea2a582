/* SPDX-License-Identifier: MIT */
/* tests/common/testdev.h - a tiny device for API tests of the HMM core, without dmirror.
 *
 * One uhmm_dev_pagemap per device (private or coherent), owner = the device.
 * page_free puts the page back on the device's free list; migrate_to_ram
 * migrates the faulting page back with fault_page set. Private pages keep their
 * bytes in a device-side array; coherent pages use their own frames. Helpers
 * migrate a range to the device and back, and evict the whole device.
 * An interval-notifier recorder logs every invalidation it sees.
 * Public API only (include/uhmm/).
 */
#ifndef UHMM_TESTS_TESTDEV_H
#define UHMM_TESTS_TESTDEV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <uhmm/uhmm.h>

struct testdev {
	struct uhmm_dev_pagemap pgmap;	/* pgmap.owner == this device */
	struct uhmm_dev_pagemap_ops ops;
	struct uhmm_system *sys;
	bool mapped;			/* memremap done, memunmap not yet */
	pthread_mutex_t lock;		/* protects free_stack / nfree */
	unsigned long *free_stack;	/* page indexes of free pages */
	unsigned long nfree;
	unsigned char *mem;		/* private: the device's bytes, nr_pages pages */

	/* statistics */
	atomic_ulong nr_page_free;	/* page_free callbacks */
	atomic_int last_free_refcount;	/* refcount seen inside page_free */
	atomic_ulong nr_migrate_to_ram;	/* migrate_to_ram calls */
	atomic_ulong nr_migrated_to_ram;/* pages migrate_to_ram actually moved */

	/* migrate_to_ram knobs and what the last call saw */
	atomic_int fail_migrate_to_ram;	/* non-zero: return it without migrating */
	atomic_int migrate_to_ram_delay_ms;	/* sleep in migrate_to_ram (races) */
	struct uhmm_page *_Atomic last_fault_page;
	atomic_ulong last_fault_addr;
	atomic_int last_fault_write;
	atomic_int last_fault_page_locked;	/* vmf->page locked on entry */
	atomic_int last_fault_page_refcount;	/* its refcount on entry */
	atomic_int last_fault_setup_ret;
	atomic_ulong last_fault_cpages;
	atomic_ulong last_fault_src;		/* src[0] after setup */
	struct uhmm_mm *_Atomic last_fault_mm;

	/*
	 * Non-zero: the next migrate_to_ram takes one reference on its source
	 * page between setup and pages (as a pin or a driver's get_page would)
	 * and drops it after finalize; the knob clears itself. What that call
	 * saw: src[0] after pages, and the source's refcount and mapcount after
	 * finalize (the extra reference still held).
	 */
	atomic_int get_src_before_pages;
	atomic_ulong extra_ref_src_after_pages;
	atomic_int extra_ref_refcount_after_finalize;
	atomic_int extra_ref_mapcount_after_finalize;
};

/* Create and memremap a device of @npages pages. 0 or the memremap error. */
int testdev_create(struct uhmm_system *sys, enum uhmm_memory_type type, unsigned long npages,
		   struct testdev **out);
/* Asserts every page is free (never hangs), memunmaps and frees. */
void testdev_destroy(struct testdev *dev);

unsigned long testdev_nfree(struct testdev *dev);
/* A free device page: refcount 1, locked (uhmm_zone_device_page_init). NULL if none. */
struct uhmm_page *testdev_alloc_page(struct testdev *dev);
/* The bytes of a page of any kind: RAM, coherent, or this device's private page. */
void *testdev_page_data(struct testdev *dev, struct uhmm_page *page);
struct testdev *testdev_of_page(struct uhmm_page *page);	/* NULL if not a testdev page */

/*
 * Driver phase: for every src entry flagged MIGRATE (not declined), allocate a
 * destination (a device page when @to_device, else a locked RAM page), copy the
 * source bytes (zero when there is no source page), set dst. Pageless entries
 * (holes) are populated only when @to_device. @decline: NULL or
 * npages flags, true = leave dst 0. Returns the number of dst entries set.
 */
unsigned long testdev_fill_dst(struct testdev *dev, const unsigned long *src, unsigned long *dst,
			       unsigned long npages, bool to_device, const bool *decline);

/*
 * Whole flows; they take the mmap lock for read. @flags 0 means the default
 * (SELECT_SYSTEM to the device; the device's own type back to RAM).
 * *cpages: cpages after setup; *migrated: entries still MIGRATE after pages.
 * Either may be NULL. Return 0 or the setup error.
 */
int testdev_migrate_to_device(struct testdev *dev, struct uhmm_mm *mm, unsigned long start, unsigned long npages,
			      unsigned long *cpages, unsigned long *migrated);
int testdev_migrate_to_ram(struct testdev *dev, struct uhmm_mm *mm, unsigned long start, unsigned long npages,
			   unsigned long *cpages, unsigned long *migrated);
/* Evict every in-use page of the device with migrate_device_range/_pages/_finalize.
 * Returns the number of pages migrated. */
unsigned long testdev_evict(struct testdev *dev);

/* Asserts: no RAM page but the zero page in use, no device page registered or in use. */
void testdev_assert_no_leaks(struct uhmm_system *sys);

/* ------------------------------------------------------- test plumbing */
/* A system with @ram_bytes of RAM (asserts). */
struct uhmm_system *testdev_sys_create(size_t ram_bytes);
/* testdev_assert_no_leaks, then destroy. */
void testdev_sys_destroy(struct uhmm_system *sys);
/* uhmm_mmap at any address (asserts success). */
unsigned long testdev_mmap(struct uhmm_mm *mm, unsigned long npages, int prot, int flags);
/* Write / check a pattern that depends on @seed and the virtual address (sub-ranges check alone). */
void testdev_fill(struct uhmm_mm *mm, unsigned long addr, unsigned long npages, unsigned seed);
void testdev_assert_pattern(struct uhmm_mm *mm, unsigned long addr, unsigned long npages, unsigned seed);
/* Like testdev_assert_pattern but 0/-errno instead of asserting (any thread). */
int testdev_check_pattern(struct uhmm_mm *mm, unsigned long addr, unsigned long npages, unsigned seed);
void testdev_assert_zero(struct uhmm_mm *mm, unsigned long addr, unsigned long npages);
/* uhmm_mm_query_pte (asserts success). */
struct uhmm_pte_info testdev_pte(struct uhmm_mm *mm, unsigned long addr);
/* The page a present PTE or special entry points at (asserts one is there). */
struct uhmm_page *testdev_pte_page(struct uhmm_mm *mm, unsigned long addr);

/*
 * main() of a test program: `--list` prints one case name per line; argv[1]
 * runs exactly that case; no argument runs them all. Exit 2 for an unknown name.
 */
struct CMUnitTest;
int testdev_run(const char *prog, const struct CMUnitTest *tests, size_t n, int argc, char **argv);

/* ------------------------------------------------------------ recorder */
#define TESTDEV_REC_MAX 512

struct testdev_event {
	enum uhmm_mmu_notifier_event event;
	unsigned long start, end;
	void *owner;
	struct uhmm_mm *mm;
};

struct testdev_recorder {
	struct uhmm_mmu_interval_notifier sub;
	pthread_mutex_t lock;	/* protects n and ev */
	unsigned n;
	struct testdev_event ev[TESTDEV_REC_MAX];
};

/* Watch [start, start + len) of @mm (do not hold the mmap lock). 0 or the insert error. */
int testdev_rec_insert(struct testdev_recorder *r, struct uhmm_mm *mm, unsigned long start, unsigned long len);
void testdev_rec_remove(struct testdev_recorder *r);
void testdev_rec_reset(struct testdev_recorder *r);
unsigned testdev_rec_count(struct testdev_recorder *r, enum uhmm_mmu_notifier_event ev);
/* Snapshot of event i (asserts i < n). */
struct testdev_event testdev_rec_get(struct testdev_recorder *r, unsigned i);
unsigned testdev_rec_n(struct testdev_recorder *r);
/* Print the log on stderr (debugging a failure). */
void testdev_rec_dump(struct testdev_recorder *r, const char *tag);

#endif
