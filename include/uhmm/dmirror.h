/* SPDX-License-Identifier: MIT */
/* uhmm/dmirror.h - dmirror, the reference SVM device driver (a simulated device that mirrors an mm).
 *
 * Counterpart of lib/test_hmm.c and lib/test_hmm_uapi.h (6.1+ command
 * numbering). A device owns device memory (private or coherent) in chunks;
 * each open file (struct uhmm_dmirror) mirrors one address space through a
 * device page table kept coherent by an interval notifier. The driver uses
 * only the public API of <uhmm/uhmm.h> and is meant to be read: see
 * drivers/dmirror/dmirror.c. Left out: the mmap() hook of the device file
 * (the "mixedmap" selftest) and THP migration.
 */
#ifndef UHMM_DMIRROR_H
#define UHMM_DMIRROR_H

#include <stdbool.h>
#include <uhmm/uhmm.h>

#ifdef __cplusplus
extern "C" {
#endif

struct uhmm_dmirror_device;	/* one simulated device and its memory */
struct uhmm_dmirror;		/* one open file: a mirror of one address space */

/*
 * The device cost model: what the simulated device spends, in nanoseconds
 * of a per-device simulated clock (see uhmm_dmirror_device_stats.sim_ns_*).
 * The dmirror paths advance it; nothing sleeps or spins unless @realtime.
 * In a structure you pass, 0 means free.
 */
struct uhmm_dmirror_cost {
	/* Host <-> device copy bandwidth, bytes per microsecond (= MB/s); 0: copies cost nothing. */
	unsigned long copy_bytes_per_us;
	/* Fixed cost of one transfer: one migration batch, one command's data. */
	unsigned long copy_setup_ns;
	/* One device page-fault round (fault, handling, replay): each cmd->faults increment. */
	unsigned long fault_ns;
	/* One device TLB flush: after an update that dropped or downgraded live entries. */
	unsigned long tlb_flush_ns;
	/* Writing one device page-table entry (a zapped entry is not a write). */
	unsigned long pte_write_ns;
	/* Also busy-wait each modelled cost on the calling thread. */
	bool realtime;
};

/*
 * uhmm_dmirror_cost_default - the device cost model used when
 * uhmm_dmirror_device_opts.cost is NULL: a PCIe 4.0 x16 GPU (25 GB/s copies,
 * 10 us per transfer, 30 us per fault round, 2 us per TLB flush, 50 ns per
 * entry written, no realtime); README "Device cost model" cites each figure.
 */
UHMM_API extern const struct uhmm_dmirror_cost uhmm_dmirror_cost_default;

/*
 * Which invalidations a device's callback skips because its own migration
 * code updates its page table itself (reference section 9; issue 13). Every
 * policy is correct for dmirror, whose migration code always updates the
 * page tables of the pages that move; they differ in the device work.
 */
enum uhmm_dmirror_filter {
	/* Skip MIGRATE whose owner is this device (test_hmm, nouveau; the seed patch). */
	UHMM_DMIRROR_FILTER_OWN_MIGRATE = 0,
	/* Never skip (drivers before the patch; amdkfd). = invalidate_own_migrations. */
	UHMM_DMIRROR_FILTER_NONE,
	/* Skip own MIGRATE only while an ioctl-driven migration of this device
	 * runs; the MIGRATE of a CPU fault's migrate_to_ram is processed (AMD's
	 * drm_gpusvm RFC; both carry the same owner). */
	UHMM_DMIRROR_FILTER_OWN_MIGRATE_POPULATING,
	/* Skip every invalidation raised by the thread running this device's
	 * ioctl-driven migration of the file's mm, whatever its event (NVIDIA
	 * UVM's per-thread flag). */
	UHMM_DMIRROR_FILTER_THREAD,
};

struct uhmm_dmirror_device_opts {
	/* UHMM_MEMORY_DEVICE_PRIVATE or _COHERENT; 0 means private. */
	enum uhmm_memory_type type;
	/* Device memory in bytes (rounded down to pages); 0 = 256 MiB. Created
	 * lazily, chunk by chunk, when the free pages run out. */
	unsigned long memory_bytes;
	/* Size of one chunk (one uhmm_dev_pagemap) in bytes; 0 = 16 MiB.
	 * Clamped to memory_bytes. */
	unsigned long chunk_bytes;
	/* Behave as drivers did before the seed patch: never skip the
	 * MIGRATE invalidations this device causes itself (every callback
	 * zaps the device page table). */
	bool invalidate_own_migrations;
	/* Superseded by @cost. When non-zero: the model's tlb_flush_ns, and
	 * every flush also busy-waits this long (the old behaviour). */
	unsigned long tlb_flush_ns;
	/* The device cost model; NULL means uhmm_dmirror_cost_default. Copied. */
	const struct uhmm_dmirror_cost *cost;
	/* The owner-filter policy (invalidate_own_migrations = true means NONE). */
	enum uhmm_dmirror_filter filter;
	/* Pass this device as the owner to uhmm_make_device_exclusive (as
	 * nouveau) and skip EXCLUSIVE events whose owner is this device. */
	bool filter_exclusive;
};

/*
 * uhmm_dmirror_device_create - create a device on @sys.
 * @opts: NULL for a device-private device with the default memory size.
 * No device memory exists until it is first needed. 0, -EINVAL (sys or out
 * NULL, unknown type), -ENOMEM.
 */
UHMM_API int uhmm_dmirror_device_create(struct uhmm_system *sys, const struct uhmm_dmirror_device_opts *opts,
					struct uhmm_dmirror_device **out);
/*
 * uhmm_dmirror_device_destroy - evict every page still in device memory back
 * to RAM (no data is lost: mappings now point at RAM copies), unmap the
 * device memory and free the device. Close every file first (files still
 * open are closed with a warning on stderr). May block; takes no lock of the
 * caller's. NULL is a no-op.
 */
UHMM_API void uhmm_dmirror_device_destroy(struct uhmm_dmirror_device *dev);
/* The owner pointer of the device's memory: pgmap->owner, the pgmap_owner
 * of its migrations, the dev_private_owner of its hmm_range_fault calls and
 * the range->owner of the MIGRATE invalidations it causes. */
UHMM_API void *uhmm_dmirror_device_owner(struct uhmm_dmirror_device *dev);

struct uhmm_dmirror_device_stats {
	unsigned long chunks;			/* memory chunks currently attached */
	unsigned long pages_total;		/* device pages in attached chunks */
	unsigned long devmem_pages_in_use;	/* device pages allocated and not yet freed */
	unsigned long pages_evicted;		/* moved to RAM by RELEASE / destroy */
	unsigned long alloc_failures;		/* device page allocations that failed */
	unsigned long files;			/* open files */
	/* The simulated clock (ns, see struct uhmm_dmirror_cost): the total and
	 * its parts. Monotonic; never reset. */
	unsigned long long sim_ns_total;
	unsigned long long sim_ns_copy;		/* transfers: setup + bytes / bandwidth */
	unsigned long long sim_ns_fault;	/* device fault rounds */
	unsigned long long sim_ns_flush;	/* device TLB flushes */
	unsigned long long sim_ns_pte;		/* device page-table entries written */
};
/* 0 or -EINVAL. */
UHMM_API int uhmm_dmirror_device_get_stats(struct uhmm_dmirror_device *dev, struct uhmm_dmirror_device_stats *st);

/*
 * uhmm_dmirror_open - open a file of @dev mirroring @mm (as open() of
 * /dev/hmm_dmirrorN by a process whose mm is @mm). Inserts an interval
 * notifier over the whole address space (do not hold @mm's mmap lock). The
 * file keeps @mm's structure, not its address space: as in Linux the mm may
 * exit while the file is open (the file then sees RELEASE and UNMAP, and
 * commands fail as on an empty address space). 0, -EINVAL (NULL, mm
 * exited), -ENOMEM.
 */
UHMM_API int uhmm_dmirror_open(struct uhmm_dmirror_device *dev, struct uhmm_mm *mm, struct uhmm_dmirror **out);
/*
 * uhmm_dmirror_close - remove the notifier, free the device page table.
 * Valid after the mm exited. Pages the file migrated
 * stay in device memory, still mapped by the CPU: the device keeps serving
 * CPU faults on them until they are freed or the device is destroyed. No
 * command of this file may be running. NULL is a no-op.
 */
UHMM_API void uhmm_dmirror_close(struct uhmm_dmirror *dmirror);

/* The command block of every request (Linux's struct hmm_dmirror_cmd). */
struct uhmm_dmirror_cmd {
	unsigned long addr;	/* in: page-aligned start in the mirrored mm */
	void *ptr;		/* in: the caller's buffer (npages pages; SNAPSHOT: npages bytes) */
	unsigned long npages;	/* in: number of pages (FLAGS: the flags) */
	unsigned long cpages;	/* out: pages processed */
	unsigned long faults;	/* out: fault rounds (READ, WRITE) */
};

/* Requests (6.1+ numbering, as HMM_DMIRROR_*). */
#define UHMM_DMIRROR_READ		0x00u	/* device reads npages into ptr, faulting as needed */
#define UHMM_DMIRROR_WRITE		0x01u	/* device writes ptr into npages, faulting for write */
#define UHMM_DMIRROR_MIGRATE_TO_DEV	0x02u	/* migrate to device memory, then read back into ptr */
#define UHMM_DMIRROR_MIGRATE_TO_SYS	0x03u	/* migrate this device's pages back to RAM */
#define UHMM_DMIRROR_SNAPSHOT		0x04u	/* one UHMM_DMIRROR_PROT_* byte per page into ptr */
#define UHMM_DMIRROR_EXCLUSIVE		0x05u	/* make pages device-exclusive, then read back into ptr */
#define UHMM_DMIRROR_CHECK_EXCLUSIVE	0x06u	/* -EPERM while any page is still mapped atomic */
#define UHMM_DMIRROR_RELEASE		0x07u	/* evict all device memory of the device to RAM */
#define UHMM_DMIRROR_FLAGS		0x08u	/* set the file's flags to npages */

/* FLAGS bits. */
#define UHMM_DMIRROR_FLAG_FAIL_ALLOC	(1UL << 0)	/* the next page allocation of a migration fails once */

/* SNAPSHOT bytes (HMM_DMIRROR_PROT_*). */
#define UHMM_DMIRROR_PROT_ERROR			0xFF
#define UHMM_DMIRROR_PROT_NONE			0x00
#define UHMM_DMIRROR_PROT_READ			0x01
#define UHMM_DMIRROR_PROT_WRITE			0x02
#define UHMM_DMIRROR_PROT_PMD			0x04
#define UHMM_DMIRROR_PROT_PUD			0x08
#define UHMM_DMIRROR_PROT_ZERO			0x10
#define UHMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL	0x20
#define UHMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE	0x30
#define UHMM_DMIRROR_PROT_DEV_COHERENT_LOCAL	0x40
#define UHMM_DMIRROR_PROT_DEV_COHERENT_REMOTE	0x50

/*
 * uhmm_dmirror_ioctl - run one request, as ioctl() on the device file.
 *
 * Validation first, as Linux: dmirror or cmd NULL, addr not page aligned,
 * npages 0 or addr + npages pages overflowing, unknown request -> -EINVAL.
 * cpages and faults start at 0 and are written back only on success.
 * Takes the mm's mmap lock (do not hold it) and may block.
 *
 * READ/WRITE: 0, -EFAULT (no VMA, no permission), -EPERM (WRITE to a
 * read-only VMA), -EBUSY (invalidations kept colliding for 1 s), -ENOMEM.
 * MIGRATE_TO_DEV: 0, -EINVAL (a page without VMA or without PROT_READ),
 * -ENOENT (some page is not on the device afterwards: not anonymous, on
 * another device, device memory exhausted), -ENOMEM. MIGRATE_TO_SYS: 0,
 * -EINVAL as above, -ENOMEM. SNAPSHOT: 0, -EBUSY, -ENOMEM. EXCLUSIVE: 0, the
 * errors of uhmm_make_device_exclusive, -ENOENT. CHECK_EXCLUSIVE: 0, -EPERM.
 * RELEASE, FLAGS: 0.
 */
UHMM_API int uhmm_dmirror_ioctl(struct uhmm_dmirror *dmirror, unsigned int request, struct uhmm_dmirror_cmd *cmd);

/* Per-file counters (monotonic, except devmem_pages_in_use: the device's). */
struct uhmm_dmirror_stats {
	unsigned long invalidations;		/* callbacks of the file's interval notifier */
	unsigned long invalidations_skipped;	/* of those: skipped by the filter policy, any event */
	unsigned long ptes_zapped;		/* device PT entries erased by callbacks */
	unsigned long faults;			/* fault rounds (the sum of cmd->faults) */
	unsigned long pages_to_dev;		/* pages of the file's mm moved into this device's memory */
	unsigned long pages_to_sys;		/* pages of the file's mm moved out of it (ioctl or CPU fault) */
	unsigned long devmem_pages_in_use;	/* the device's allocated pages, now */
	unsigned long ptes_migrated;		/* device PT entries replaced or erased by the
						 * driver's own migration code (not callbacks) */
	unsigned long max_retry_streak;		/* longest run of read_retry collisions of the
						 * file's notifier (a maximum: never reset) */
};
/* 0 or -EINVAL. */
UHMM_API int uhmm_dmirror_get_stats(struct uhmm_dmirror *dmirror, struct uhmm_dmirror_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
