/* SPDX-License-Identifier: MIT */
/* dmirror_migrate.c - dmirror's migrations: to device memory, back to RAM, and the CPU fault on a device page.
 *
 * Counterpart of dmirror_migrate_to_device / dmirror_migrate_to_system /
 * dmirror_devmem_fault in lib/test_hmm.c, after the seed patch ("mm/hmm/test:
 * use the new migration invalidation"). Left out: THP (compound) migration.
 *
 * The owner filter, from the migration side
 * -----------------------------------------
 * Every migrate_vma_setup emits one MIGRATE invalidation with range->owner =
 * pgmap_owner = this device, and dmirror_interval_invalidate() ignores it:
 * the device mappings of pages that do NOT move stay valid (that is the
 * point of the seed patch). So this file must itself update the device page
 * tables of the pages that DO move, in every file of the device mirroring
 * the mm (they all skipped the event):
 *
 *   to device:  before copying, erase the entries of the pages about to
 *               move (a device write through one would land in the old
 *               page and be lost); after migrate_vma_pages, map the new
 *               device page for every entry still flagged MIGRATE (before
 *               that, the migration may still fail and the old page would
 *               stay);
 *   to RAM:     before copying, erase the entries of the pages about to move,
 *               so the device cannot write a page whose contents are being
 *               copied away (its next access faults, hits the migration
 *               entry and waits for finalize).
 *
 * Both happen under the file's mutex, after bumping its migrate_seq: see
 * dmirror_fault_range() for the fault that raced with the migration.
 *
 * The device's simulated clock (dmirror_cost.c): an update that erased live
 * entries of a file costs one device TLB flush, as the callback's zap does;
 * each entry stored is one entry write; each batch's copy is one transfer.
 * So the filter pays for exactly the pages that move, and without it the
 * callback pays for the whole range.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dmirror/dmirror_internal.h"

/* ent[] value: erase this page's entry in every file (not a valid pointer). */
#define DMIRROR_PT_ERASE ((uintptr_t)DPT_TAG_MASK)

/* One bit per page of a batch (see dmirror_migrate_unmap_moving). */
_Static_assert(DMIRROR_RANGE_PAGES <= 64, "a batch's pages must fit a uint64_t mask");

static void lock(pthread_mutex_t *m)
{
	if (pthread_mutex_lock(m))
		abort();
}

static void unlock(pthread_mutex_t *m)
{
	if (pthread_mutex_unlock(m))
		abort();
}

/*
 * Update the page tables of every file of @dev that mirrors @mm for the
 * pages [start, start + npages pages) of a migration: ent[i] == 0 leaves
 * page i alone; DMIRROR_PT_ERASE erases it everywhere; any other value is the
 * new entry for @self (the file that migrates) and erases the page in the
 * others (they refault and find the same device page through
 * hmm_range_fault). @self_zap_seq (may be NULL): what @self's zap_seq was
 * before the migration began; if it moved, @self's new entries are not
 * stored (see zap_seq). @self_counted: pages of @self whose entry this
 * migration already erased and counted in ptes_migrated (the store replaces
 * it: one entry, counted once). Takes files_lock and each file's mutex; call
 * with no dmirror mutex held.
 */
static void dmirror_migrate_update_pts(struct uhmm_dmirror_device *dev, struct uhmm_mm *mm,
				       struct uhmm_dmirror *self, unsigned long start, unsigned long npages,
				       const uintptr_t *ent, const unsigned long *self_zap_seq,
				       uint64_t self_counted)
{
	unsigned long vpn0 = start >> DMIRROR_PAGE_SHIFT;
	struct uhmm_dmirror *d;

	lock(&dev->files_lock);
	for (d = dev->files; d; d = d->next) {
		unsigned long i, n = 0, stored = 0, erased = 0;
		bool zapped;

		if (d->mm != mm)
			continue;	/* another mm: its copy goes through the rmap walk (CLEAR) */
		/*
		 * Before taking the mutex: a fault of d that reads this bump under
		 * the mutex retries; one that does not see it takes the mutex
		 * before us, and we then overwrite what it stored.
		 */
		atomic_fetch_add_explicit(&d->migrate_seq, 1, memory_order_seq_cst);
		lock(&d->mutex);
		/* a zap since the migration began may have unmapped a new page already */
		zapped = d == self && self_zap_seq &&
			 atomic_load_explicit(&d->zap_seq, memory_order_relaxed) != *self_zap_seq;
		for (i = 0; i < npages; i++) {
			if (!ent[i])
				continue;
			if (d == self && ent[i] != DMIRROR_PT_ERASE && !zapped) {
				if (dpt_store(&d->pt, vpn0 + i, ent[i]) == 0) {
					stored++;
					n += !((self_counted >> i) & 1);
					continue;
				}
				/* -ENOMEM: an absent entry is always safe, a stale one never */
			}
			erased += dpt_erase(&d->pt, vpn0 + i);
		}
		unlock(&d->mutex);
		n += erased;
		atomic_fetch_add_explicit(&d->ptes_migrated, n, memory_order_relaxed);
		dmirror_sim_ptes(dev, stored);
		if (erased)
			dmirror_sim_flush(dev);
	}
	unlock(&dev->files_lock);
}

/* Credit @n moved pages to the statistics of every file of @dev mirroring @mm. */
static void dmirror_credit(struct uhmm_dmirror_device *dev, struct uhmm_mm *mm, bool to_dev, unsigned long n)
{
	struct uhmm_dmirror *d;

	if (!n)
		return;
	lock(&dev->files_lock);
	for (d = dev->files; d; d = d->next)
		if (d->mm == mm)
			atomic_fetch_add_explicit(to_dev ? &d->pages_to_dev : &d->pages_to_sys, n,
						  memory_order_relaxed);
	unlock(&dev->files_lock);
}

/* The FLAGS ioctl's one-shot allocation failure. */
static bool dmirror_fail_alloc_once(struct uhmm_dmirror *dmirror)
{
	return dmirror && (atomic_fetch_and(&dmirror->flags, ~UHMM_DMIRROR_FLAG_FAIL_ALLOC) &
			   UHMM_DMIRROR_FLAG_FAIL_ALLOC);
}

/* ------------------------------------------------------------ to device */

/*
 * Before the copy to the device: erase the device entries of the pages about
 * to move (ent[i] != 0) in every file of @dev mirroring @mm. They all skipped
 * the MIGRATE invalidation, so their entries still map the old pages, and a
 * device write through one during the copy would land in the old page and be
 * lost (found by tests/stress/torture.c;
 * tests/regress/test_dmirror_write_during_migration.c). A device access now
 * faults, finds the migration entry and waits for the migration to end, as
 * in the move to RAM. This is the invalidation the filter skipped, done for
 * exactly the pages that move. The migrate_seq bump makes a racing fault
 * that read the old PTE start over, as in dmirror_migrate_update_pts. The
 * entries erased count in ptes_migrated; returns those of @self, whose
 * replacement by finalize_and_map is then not counted again.
 */
static uint64_t dmirror_migrate_unmap_moving(struct uhmm_dmirror_device *dev, struct uhmm_mm *mm,
					     struct uhmm_dmirror *self, unsigned long start, unsigned long npages,
					     const uintptr_t *ent)
{
	unsigned long vpn0 = start >> DMIRROR_PAGE_SHIFT;
	struct uhmm_dmirror *d;
	uint64_t mask = 0;

	lock(&dev->files_lock);
	for (d = dev->files; d; d = d->next) {
		unsigned long i, n = 0;

		if (d->mm != mm)
			continue;
		atomic_fetch_add_explicit(&d->migrate_seq, 1, memory_order_seq_cst);
		lock(&d->mutex);
		for (i = 0; i < npages; i++) {
			if (!ent[i] || !dpt_erase(&d->pt, vpn0 + i))
				continue;
			n++;
			if (d == self)
				mask |= 1ULL << i;
		}
		unlock(&d->mutex);
		if (n) {
			atomic_fetch_add_explicit(&d->ptes_migrated, n, memory_order_relaxed);
			dmirror_sim_flush(dev);
		}
	}
	unlock(&dev->files_lock);
	return mask;
}

/*
 * Between setup and pages: allocate device pages and copy (sources are
 * locked and unmapped). Returns the pages whose entry in this file was
 * erased (see dmirror_migrate_unmap_moving).
 */
static uint64_t dmirror_migrate_alloc_and_copy(struct uhmm_dmirror *dmirror, struct uhmm_migrate_vma *args,
					       bool vma_writable)
{
	uintptr_t ent[DMIRROR_RANGE_PAGES];
	unsigned long i, copied = 0;
	uint64_t erased = 0;
	bool any = false;

	for (i = 0; i < args->npages; i++) {
		unsigned long src = args->src[i];
		struct uhmm_page *spage, *dpage;

		ent[i] = 0;
		if (!(src & UHMM_MIGRATE_PFN_MIGRATE))
			continue;
		spage = uhmm_migrate_pfn_to_page(dmirror->sys, src);
		/* SELECT_SYSTEM never selects device pages; be safe anyway. */
		if (spage && uhmm_is_zone_device_page(spage))
			continue;
		if (dmirror_fail_alloc_once(dmirror))
			continue;
		dpage = dmirror_devmem_alloc_page(dmirror->dev);
		if (!dpage)
			continue;	/* device full: the page stays in RAM (dst 0 declines it) */
		args->dst[i] = uhmm_migrate_pfn(uhmm_page_to_pfn(dpage));
		/* For our own bookkeeping (the core derives the CPU permission itself). */
		if ((src & UHMM_MIGRATE_PFN_WRITE) || (!spage && vma_writable))
			args->dst[i] |= UHMM_MIGRATE_PFN_WRITE;
		ent[i] = 1;
		any = true;
	}
	/* no device access may reach the old pages from here on */
	if (any)
		erased = dmirror_migrate_unmap_moving(dmirror->dev, dmirror->mm, dmirror, args->start, args->npages,
						      ent);
	for (i = 0; i < args->npages; i++) {
		struct uhmm_page *dpage = uhmm_migrate_pfn_to_page(dmirror->sys, args->dst[i]);
		struct uhmm_page *spage = uhmm_migrate_pfn_to_page(dmirror->sys, args->src[i]);

		if (!dpage)
			continue;
		if (spage) {
			memcpy(dmirror_page_data(dpage), uhmm_page_address(spage), DMIRROR_PAGE_SIZE);
			copied++;
		} else {
			/* hole or zero page: the device clears its own memory, nothing crosses the link */
			memset(dmirror_page_data(dpage), 0, DMIRROR_PAGE_SIZE);
		}
	}
	dmirror_sim_copy(dmirror->dev, copied * DMIRROR_PAGE_SIZE);	/* one transfer per batch */
	return erased;
}

/* Between pages and finalize: the migration is committed for entries still MIGRATE. */
static void dmirror_migrate_finalize_and_map(struct uhmm_dmirror *dmirror, struct uhmm_migrate_vma *args,
					     unsigned long zap_seq, uint64_t counted)
{
	uintptr_t ent[DMIRROR_RANGE_PAGES];
	unsigned long i, moved = 0;

	for (i = 0; i < args->npages; i++) {
		struct uhmm_page *dpage = uhmm_migrate_pfn_to_page(dmirror->sys, args->dst[i]);

		ent[i] = 0;
		if (!dpage || !(args->src[i] & UHMM_MIGRATE_PFN_MIGRATE))
			continue;
		ent[i] = dpt_mk_entry(dpage, args->dst[i] & UHMM_MIGRATE_PFN_WRITE ? DPT_TAG_WRITE : DPT_TAG_READ);
		moved++;
	}
	if (!moved)
		return;
	dmirror_migrate_update_pts(dmirror->dev, dmirror->mm, dmirror, args->start, args->npages, ent, &zap_seq,
				   counted);
	dmirror_credit(dmirror->dev, dmirror->mm, true, moved);
}

int dmirror_migrate_to_device(struct uhmm_dmirror *dmirror, struct uhmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr, end = cmd->addr + cmd->npages * DMIRROR_PAGE_SIZE;
	unsigned long src[DMIRROR_RANGE_PAGES], dst[DMIRROR_RANGE_PAGES];
	unsigned long addr, next, missing;
	struct uhmm_mm *mm = dmirror->mm;
	int r = 0;

	/* The mmap lock (read) is held from setup to finalize, as migrate_vma requires. */
	uhmm_mmap_read_lock(mm);
	for (addr = start; addr < end; addr = next) {
		struct uhmm_vma *vma = uhmm_find_vma(mm, addr);
		struct uhmm_migrate_vma args;
		struct uhmm_vma_info info;
		unsigned long zap_seq;
		uint64_t counted;

		if (!vma) {
			r = -EINVAL;
			break;
		}
		uhmm_vma_get_info(vma, &info);
		if (!(info.prot & PROT_READ)) {
			r = -EINVAL;
			break;
		}
		/* sample, then let invalidations under way finish: see zap_seq */
		zap_seq = atomic_load_explicit(&dmirror->zap_seq, memory_order_relaxed);
		(void)uhmm_mmu_interval_read_begin(&dmirror->notifier);
		/* 64 pages at a time, never across a VMA boundary */
		next = DMIRROR_MIN(end, DMIRROR_MIN(info.end, addr + DMIRROR_RANGE_PAGES * DMIRROR_PAGE_SIZE));

		memset(&args, 0, sizeof(args));
		args.vma = vma;
		args.src = src;
		args.dst = dst;
		args.start = addr;
		args.end = next;
		args.pgmap_owner = dmirror->dev;	/* tags the MIGRATE invalidation as ours */
		args.flags = UHMM_MIGRATE_VMA_SELECT_SYSTEM;
		dmirror_busy = dmirror;	/* our own rmap CLEARs are no zap: see zap_seq */
		r = uhmm_migrate_vma_setup(&args);
		if (r) {
			dmirror_busy = NULL;
			break;
		}
		counted = dmirror_migrate_alloc_and_copy(dmirror, &args, info.prot & PROT_WRITE);
		uhmm_migrate_vma_pages(&args);
		dmirror_busy = NULL;
		dmirror_migrate_finalize_and_map(dmirror, &args, zap_seq, counted);
		uhmm_migrate_vma_finalize(&args);
	}
	uhmm_mmap_read_unlock(mm);
	if (r)
		return r;

	/*
	 * Read the range back from the device page table, without faulting,
	 * straight into the caller's buffer and all or nothing (no bounce
	 * buffer: issue 9): a page that did not end up mapped (not anonymous,
	 * on another device, device memory full) makes it -ENOENT, and the
	 * buffer is left untouched.
	 */
	lock(&dmirror->mutex);
	r = dmirror_copy_out_locked(dmirror, start, end, cmd->ptr, &missing);
	unlock(&dmirror->mutex);
	if (r == -ENOENT && dmirror->dev->filter != UHMM_DMIRROR_FILTER_NONE) {
		/*
		 * A page already in our memory is on the device too, but its
		 * entry may be gone: an invalidation (fork, mprotect) erased it,
		 * or storing it failed (-ENOMEM) in an earlier pass. Map those,
		 * and only those, and read again; otherwise a retry could never
		 * succeed, since migrate_vma does not select them again. Not in
		 * the pre-seed-patch mode: there the -ENOENT of pages whose
		 * entries our own MIGRATE invalidation erased is the symptom the
		 * mode exists to show.
		 */
		r = dmirror_map_own_pages(dmirror, start, end);
		if (!r) {
			lock(&dmirror->mutex);
			r = dmirror_copy_out_locked(dmirror, start, end, cmd->ptr, &missing);
			unlock(&dmirror->mutex);
		}
	}
	if (!r) {
		cmd->cpages = cmd->npages;
		dmirror_sim_copy(dmirror->dev, cmd->npages * DMIRROR_PAGE_SIZE);	/* the read-back */
	}
	return r;
}

/* --------------------------------------------------------------- to RAM */

/*
 * Between setup and pages, device -> RAM: allocate and lock RAM pages, erase
 * the device entries of the pages about to move, then copy. Returns the
 * number of pages that could not get a RAM page. @dmirror may be NULL (CPU
 * fault).
 */
static unsigned long dmirror_devmem_to_ram_copy(struct uhmm_dmirror_device *dev, struct uhmm_dmirror *dmirror,
						struct uhmm_mm *mm, struct uhmm_migrate_vma *args)
{
	uintptr_t ent[DMIRROR_RANGE_PAGES];
	unsigned long i, failed = 0, copied = 0;
	bool any = false;

	for (i = 0; i < args->npages; i++) {
		unsigned long src = args->src[i];
		struct uhmm_page *spage = uhmm_migrate_pfn_to_page(dev->sys, src), *rpage;

		ent[i] = 0;
		if (!spage || !(src & UHMM_MIGRATE_PFN_MIGRATE))
			continue;
		rpage = dmirror_fail_alloc_once(dmirror) ? NULL : uhmm_alloc_page(dev->sys);
		if (!rpage) {
			failed++;
			continue;
		}
		uhmm_lock_page(rpage);	/* migration destinations must be locked */
		args->dst[i] = uhmm_migrate_pfn(uhmm_page_to_pfn(rpage)) | (src & UHMM_MIGRATE_PFN_WRITE);
		ent[i] = DMIRROR_PT_ERASE;
		any = true;
	}
	if (!any)
		return failed;
	/* The invalidation we skipped, done here: before the copy. */
	dmirror_migrate_update_pts(dev, mm, NULL, args->start, args->npages, ent, NULL, 0);
	for (i = 0; i < args->npages; i++) {
		struct uhmm_page *rpage = uhmm_migrate_pfn_to_page(dev->sys, args->dst[i]);

		if (!rpage)
			continue;
		memcpy(uhmm_page_address(rpage), dmirror_page_data(uhmm_migrate_pfn_to_page(dev->sys, args->src[i])),
		       DMIRROR_PAGE_SIZE);
		copied++;
	}
	dmirror_sim_copy(dev, copied * DMIRROR_PAGE_SIZE);	/* one transfer per batch */
	return failed;
}

/* Entries that moved: a source page and still MIGRATE after migrate_vma_pages. */
static unsigned long dmirror_successful_migrated_pages(const struct uhmm_migrate_vma *args)
{
	unsigned long i, n = 0;

	for (i = 0; i < args->npages; i++)
		if ((args->src[i] & UHMM_MIGRATE_PFN_VALID) && (args->src[i] & UHMM_MIGRATE_PFN_MIGRATE))
			n++;
	return n;
}

int dmirror_migrate_to_system(struct uhmm_dmirror *dmirror, struct uhmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr, end = cmd->addr + cmd->npages * DMIRROR_PAGE_SIZE;
	unsigned long src[DMIRROR_RANGE_PAGES], dst[DMIRROR_RANGE_PAGES];
	struct uhmm_dmirror_device *dev = dmirror->dev;
	struct uhmm_mm *mm = dmirror->mm;
	unsigned long addr, next, cpages = 0;
	int r = 0;

	uhmm_mmap_read_lock(mm);
	for (addr = start; addr < end; addr = next) {
		struct uhmm_vma *vma = uhmm_find_vma(mm, addr);
		struct uhmm_migrate_vma args;
		struct uhmm_vma_info info;
		unsigned long moved;

		if (!vma) {
			r = -EINVAL;
			break;
		}
		uhmm_vma_get_info(vma, &info);
		if (!(info.prot & PROT_READ)) {
			r = -EINVAL;
			break;
		}
		next = DMIRROR_MIN(end, DMIRROR_MIN(info.end, addr + DMIRROR_RANGE_PAGES * DMIRROR_PAGE_SIZE));

		memset(&args, 0, sizeof(args));
		args.vma = vma;
		args.src = src;
		args.dst = dst;
		args.start = addr;
		args.end = next;
		args.pgmap_owner = dev;		/* select only our pages; tag the invalidation */
		args.flags = dev->type == UHMM_MEMORY_DEVICE_COHERENT ? UHMM_MIGRATE_VMA_SELECT_DEVICE_COHERENT
								      : UHMM_MIGRATE_VMA_SELECT_DEVICE_PRIVATE;
		r = uhmm_migrate_vma_setup(&args);
		if (r)
			break;
		/* A page that gets no RAM page stays on the device: cpages tells. */
		dmirror_devmem_to_ram_copy(dev, dmirror, mm, &args);
		uhmm_migrate_vma_pages(&args);
		moved = dmirror_successful_migrated_pages(&args);
		cpages += moved;
		dmirror_credit(dev, mm, false, moved);
		uhmm_migrate_vma_finalize(&args);
	}
	uhmm_mmap_read_unlock(mm);
	if (!r)
		cmd->cpages = cpages;
	return r;
}

/*
 * migrate_to_ram: the CPU touched one of our device-private pages. The core
 * holds the mmap lock for read (do not take it), a reference on vmf->page and
 * its page lock, and expects fault_page set so that collect and finalize
 * leave that lock to it. Exactly the faulting page moves. The file is found
 * through the page's pgmap owner (the device) and vmf->mm, not through a
 * pointer kept in the page: a closed file then cannot dangle, and every file
 * of the device mirroring this mm gets its entry erased.
 */
int dmirror_devmem_fault(struct uhmm_vm_fault *vmf)
{
	struct uhmm_dmirror_device *dev = uhmm_page_pgmap(vmf->page)->owner;
	unsigned long src = 0, dst = 0, failed;
	struct uhmm_migrate_vma args;

	memset(&args, 0, sizeof(args));
	args.vma = vmf->vma;
	args.src = &src;
	args.dst = &dst;
	args.start = vmf->address;
	args.end = vmf->address + DMIRROR_PAGE_SIZE;
	args.pgmap_owner = dev;
	args.flags = UHMM_MIGRATE_VMA_SELECT_DEVICE_PRIVATE;
	args.fault_page = vmf->page;
	if (uhmm_migrate_vma_setup(&args))
		return -EFAULT;		/* SIGBUS */
	/* Nothing selected: someone else already moved the page (or it is pinned). */
	if (!args.cpages)
		return 0;
	failed = dmirror_devmem_to_ram_copy(dev, NULL, vmf->mm, &args);
	uhmm_migrate_vma_pages(&args);
	dmirror_credit(dev, vmf->mm, false, dmirror_successful_migrated_pages(&args));
	uhmm_migrate_vma_finalize(&args);
	/* Out of RAM: fail the fault rather than retry it forever. */
	return failed ? -ENOMEM : 0;
}
