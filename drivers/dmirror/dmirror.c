/* SPDX-License-Identifier: MIT */
/* dmirror.c - the dmirror device and its files: the invalidate callback (owner check), faults, commands.
 *
 * Counterpart of lib/test_hmm.c (6.1+ semantics, with the per-page
 * EXCLUSIVE of ~6.15): a simulated device that mirrors a process address
 * space through hmm_range_fault and an interval notifier, and moves pages
 * in and out of its memory with migrate_vma. Memory management is in
 * dmirror_devmem.c, migrations in dmirror_migrate.c, the device page table
 * in dmirror_pt.c. Left out: the device file's mmap (mixed map) and THP.
 *
 * The three rules a mirroring driver lives by
 * -------------------------------------------
 * 1. The device page table holds no page references. An entry may be used
 *    (under the driver lock) only because every change of the CPU mapping
 *    erases it first: the core calls our invalidate callback before it
 *    changes a PTE or frees a page, and the callback takes the driver lock.
 * 2. Entries are created only by the read_begin / hmm_range_fault / driver
 *    lock / read_retry loop (dmirror_fault_range), which discards what
 *    hmm_range_fault saw if an invalidation ran meanwhile.
 * 3. The owner check (the seed patch): a MIGRATE invalidation whose owner is
 *    this device was caused by our own migration code, which updates the
 *    page table itself, exactly for the pages that move. The callback
 *    ignores it, so mappings of pages that stay where they are survive.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dmirror/dmirror_internal.h"

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

static unsigned long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long)ts.tv_sec * 1000000000UL + (unsigned long)ts.tv_nsec;
}

/* ------------------------------------------------------------ callback */

_Thread_local const struct uhmm_dmirror *dmirror_busy;
_Thread_local const struct uhmm_dmirror *dmirror_populating;

/*
 * Trace events (uhmm/trace.h), for `uhmm --trace` and the demo's counts: one
 * instant per callback with the event, its owner, the range, whether the
 * owner check skipped it and how many entries it zapped (value); a span per
 * device fault. Callers test uhmm_trace_enabled() first.
 */
static void dmirror_trace_invalidate(struct uhmm_dmirror *dmirror, const struct uhmm_mmu_notifier_range *range,
				     bool skipped, unsigned long zapped)
{
	struct uhmm_trace_event ev = {
		.phase = UHMM_TRACE_INSTANT, .name = "dmirror_invalidate", .cat = "device", .mm = range->mm,
		.start = range->start, .end = range->end, .event = (int)range->event,
		.skipped = skipped, .value = (long)zapped, .device = dmirror->dev,
	};

	/* range->owner means something only for these two events */
	if (range->event == UHMM_MMU_NOTIFY_MIGRATE || range->event == UHMM_MMU_NOTIFY_EXCLUSIVE)
		ev.owner = range->owner;
	uhmm_trace_emit(&ev);
}

static void dmirror_trace_fault(struct uhmm_dmirror *dmirror, enum uhmm_trace_phase ph, unsigned long start,
				unsigned long end, long r)
{
	struct uhmm_trace_event ev = {
		.phase = ph, .name = "dmirror_fault", .cat = "device", .mm = dmirror->mm, .start = start,
		.end = end, .event = -1, .value = r, .device = dmirror->dev,
	};

	uhmm_trace_emit(&ev);
}

/*
 * Does the device's filter policy skip this invalidation of @dmirror? Only
 * invalidations the migration or exclusive code answers itself for this
 * file may be skipped: own MIGRATE events (whichever thread or path raised
 * them, the migration code updates every file of the device mirroring the
 * mm), anything the thread running an ioctl migration of this device in
 * this file's mm raises, and own EXCLUSIVE events (the exclusive code maps
 * the page itself).
 */
static bool dmirror_filter_skips(const struct uhmm_dmirror *dmirror, const struct uhmm_mmu_notifier_range *range)
{
	const struct uhmm_dmirror_device *dev = dmirror->dev;
	/* range->owner means something only for MIGRATE and EXCLUSIVE: test the event first */
	bool own_migrate = range->event == UHMM_MMU_NOTIFY_MIGRATE && range->owner == dev;

	if (dev->filter_exclusive && range->event == UHMM_MMU_NOTIFY_EXCLUSIVE && range->owner == dev)
		return true;
	switch (dev->filter) {
	case UHMM_DMIRROR_FILTER_OWN_MIGRATE:
		return own_migrate;
	case UHMM_DMIRROR_FILTER_OWN_MIGRATE_POPULATING:
		return own_migrate && atomic_load_explicit(&dev->populating, memory_order_relaxed) > 0;
	case UHMM_DMIRROR_FILTER_THREAD:
		return dmirror_populating && dmirror_populating->dev == dev && dmirror_populating->mm == dmirror->mm;
	case UHMM_DMIRROR_FILTER_NONE:
	default:
		return false;
	}
}

/*
 * The interval notifier callback of a file (whole address space). Called by
 * the core before it changes CPU page-table entries of [start, end), or frees
 * their pages. range->owner is only meaningful for MIGRATE and EXCLUSIVE
 * events, so the event is tested first.
 */
static bool dmirror_interval_invalidate(struct uhmm_mmu_interval_notifier *mni,
					const struct uhmm_mmu_notifier_range *range, unsigned long cur_seq)
{
	struct uhmm_dmirror *dmirror = dmirror_container_of(mni, struct uhmm_dmirror, notifier);
	struct uhmm_dmirror_device *dev = dmirror->dev;
	unsigned long zapped;

	atomic_fetch_add_explicit(&dmirror->invalidations, 1, memory_order_relaxed);

	/*
	 * THE OWNER CHECK. Our own migration (to the device or back, from an
	 * ioctl or a CPU fault) tagged this invalidation with our device. Skip
	 * it entirely: no lock, no set_seq, no page-table change. Pages in the
	 * range that do not migrate keep valid device mappings; the migration
	 * code (dmirror_migrate.c) replaces or erases the entries of the pages
	 * that do, under our lock, at the right moment of the migration. The
	 * migration holds the pages locked and referenced, so nothing is freed
	 * under us by skipping. Comparing with the device, not the file, means
	 * migrations by other files of this device are skipped too; that code
	 * updates their page tables as well. What skipping loses is set_seq: a
	 * fault racing with the migration cannot see it through read_retry, so
	 * the migration code bumps migrate_seq instead (dmirror_fault_range).
	 *
	 * The device's filter policy decides (dmirror_filter_skips): FILTER_NONE
	 * (invalidate_own_migrations) behaves as before the seed patch and
	 * loses every mapping in the range.
	 */
	if (dmirror_filter_skips(dmirror, range)) {
		atomic_fetch_add_explicit(&dmirror->invalidations_skipped, 1, memory_order_relaxed);
		if (uhmm_trace_enabled())
			dmirror_trace_invalidate(dmirror, range, true, 0);
		return true;
	}

	/* Sleeping is allowed only for blockable ranges. */
	if (uhmm_mmu_notifier_range_blockable(range))
		lock(&dmirror->mutex);
	else if (pthread_mutex_trylock(&dmirror->mutex))
		return false;

	/* Under the lock that read_retry is called under: a fault that read
	 * the CPU page table before this point will see the change and retry. */
	uhmm_mmu_interval_set_seq(mni, cur_seq);
	if (dmirror_busy != dmirror && range->event != UHMM_MMU_NOTIFY_EXCLUSIVE &&
	    (range->event != UHMM_MMU_NOTIFY_MIGRATE || range->owner != dev))
		atomic_fetch_add_explicit(&dmirror->zap_seq, 1, memory_order_relaxed);	/* see the field */
	zapped = dpt_erase_range(&dmirror->pt, range->start >> DMIRROR_PAGE_SHIFT,
				 (range->end - 1) >> DMIRROR_PAGE_SHIFT);
	if (zapped) {
		atomic_fetch_add_explicit(&dmirror->ptes_zapped, zapped, memory_order_relaxed);
		dmirror_sim_flush(dev);	/* the device may cache what we erased */
	}
	unlock(&dmirror->mutex);
	if (uhmm_trace_enabled())
		dmirror_trace_invalidate(dmirror, range, false, zapped);
	return true;
}

static const struct uhmm_mmu_interval_notifier_ops dmirror_mni_ops = {
	.invalidate = dmirror_interval_invalidate,
};

/* --------------------------------------------------------------- faults */

/* Store the result of a successful hmm_range_fault in the page table. Mutex held.
 * @own_only: nothing was faulted; map only the pages in this device's memory.
 * *stored counts the entries written. */
static int dmirror_map_range_locked(struct uhmm_dmirror *dmirror, const struct uhmm_range *range, bool own_only,
				    unsigned long *stored)
{
	unsigned long vpn = range->start >> DMIRROR_PAGE_SHIFT;
	unsigned long i, n = (range->end - range->start) >> DMIRROR_PAGE_SHIFT;

	for (i = 0; i < n; i++) {
		unsigned long hpfn = range->hmm_pfns[i];
		struct uhmm_page *page = uhmm_pfn_to_page(dmirror->sys, uhmm_pfn_to_pfn(hpfn));
		int r;

		if (own_only && (!(hpfn & UHMM_PFN_VALID) || (hpfn & UHMM_PFN_ERROR) || !page ||
				 !uhmm_is_zone_device_page(page) || uhmm_page_pgmap(page)->owner != dmirror->dev))
			continue;
		/* We asked for every page to be faulted in: valid, no error. */
		if (!(hpfn & UHMM_PFN_VALID) || (hpfn & UHMM_PFN_ERROR) || !page)
			return -EFAULT;
		r = dpt_store(&dmirror->pt, vpn + i,
			      dpt_mk_entry(page, hpfn & UHMM_PFN_WRITE ? DPT_TAG_WRITE : DPT_TAG_READ));
		if (r)
			return r;
		(*stored)++;
	}
	return 0;
}

/* True if a write was requested and some page came back read-only. */
static bool dmirror_write_denied(const struct uhmm_range *range, bool write)
{
	unsigned long i, n = (range->end - range->start) >> DMIRROR_PAGE_SHIFT;

	if (!write)
		return false;
	for (i = 0; i < n; i++)
		if (!(range->hmm_pfns[i] & UHMM_PFN_WRITE))
			return true;
	return false;
}

/*
 * Fault [start, end) (at most DMIRROR_RANGE_PAGES) into the device page
 * table: the canonical loop of a mirroring driver.
 *
 *   seq = read_begin()         waits while an invalidation of the range runs
 *   mmap read lock; hmm_range_fault(); unlock
 *                              -EBUSY: the range changed during the walk
 *   driver lock
 *   read_retry(seq)?           an invalidation ran after read_begin: what
 *                              hmm_range_fault returned may already be gone
 *                              (freed, remapped): drop it and start over
 *   program the device         safe: any later invalidation needs our lock
 *   driver unlock
 *
 * The owner check adds one hole: our own migrations' MIGRATE invalidation
 * does not call set_seq, so read_retry cannot see them. The migration code
 * bumps migrate_seq before it updates our page table, and we check that
 * too. Gives up with -EBUSY after DMIRROR_RANGE_FAULT_TIMEOUT_MS.
 */
static int dmirror_fault_range(struct uhmm_dmirror *dmirror, unsigned long start, unsigned long end, bool write,
			       bool own_only)
{
	unsigned long pfns[DMIRROR_RANGE_PAGES];
	unsigned long deadline = now_ns() + DMIRROR_RANGE_FAULT_TIMEOUT_MS * 1000000UL, stored = 0;
	struct uhmm_range range;
	int r;

	memset(&range, 0, sizeof(range));
	range.notifier = &dmirror->notifier;
	range.start = start;
	range.end = end;
	range.hmm_pfns = pfns;
	range.default_flags = own_only ? 0 : UHMM_PFN_REQ_FAULT | (write ? UHMM_PFN_REQ_WRITE : 0);
	range.pfn_flags_mask = 0;	/* same request for every page */
	/* Our own device-private pages are returned as they are, not faulted back. */
	range.dev_private_owner = dmirror->dev;

	for (;;) {
		unsigned long mseq;

		if (now_ns() > deadline)
			return -EBUSY;
		mseq = atomic_load_explicit(&dmirror->migrate_seq, memory_order_seq_cst);
		/* May sleep: never with our mutex held (the callback takes it). */
		range.notifier_seq = uhmm_mmu_interval_read_begin(&dmirror->notifier);
		uhmm_mmap_read_lock(dmirror->mm);
		r = uhmm_range_fault(&range);
		uhmm_mmap_read_unlock(dmirror->mm);
		if (r == -EBUSY)
			continue;
		if (r)
			return r;

		lock(&dmirror->mutex);
		if (uhmm_mmu_interval_read_retry(&dmirror->notifier, range.notifier_seq) ||
		    atomic_load_explicit(&dmirror->migrate_seq, memory_order_seq_cst) != mseq) {
			unlock(&dmirror->mutex);
			continue;
		}
		/*
		 * A device-private page of ours comes back with its current
		 * permission even when we asked for write (fork and mprotect
		 * make such entries read-only). Linux's test_hmm fails with
		 * -EFAULT here; we instead fault the range again without claiming
		 * ownership, which brings the page back to RAM where the CPU
		 * fault path makes it writable (breaking COW if needed).
		 */
		if (dmirror_write_denied(&range, write)) {
			unlock(&dmirror->mutex);
			if (!range.dev_private_owner)
				return -EFAULT;
			range.dev_private_owner = NULL;
			continue;
		}
		break;
	}
	r = dmirror_map_range_locked(dmirror, &range, own_only, &stored);
	unlock(&dmirror->mutex);
	dmirror_sim_ptes(dmirror->dev, stored);
	return r;
}

static int dmirror_fault(struct uhmm_dmirror *dmirror, unsigned long start, unsigned long end, bool write)
{
	bool tracing = uhmm_trace_enabled();
	unsigned long addr, next;
	int r = 0;

	if (tracing)
		dmirror_trace_fault(dmirror, UHMM_TRACE_BEGIN, start, end, write);
	for (addr = start; addr < end; addr = next) {
		next = DMIRROR_MIN(end, addr + DMIRROR_RANGE_PAGES * DMIRROR_PAGE_SIZE);
		r = dmirror_fault_range(dmirror, addr, next, write, false);
		if (r)
			break;
	}
	if (tracing)
		dmirror_trace_fault(dmirror, UHMM_TRACE_END, 0, 0, r);
	return r;
}

int dmirror_map_own_pages(struct uhmm_dmirror *dmirror, unsigned long start, unsigned long end)
{
	unsigned long addr, next;
	int r = 0;

	for (addr = start; addr < end && !r; addr = next) {
		next = DMIRROR_MIN(end, addr + DMIRROR_RANGE_PAGES * DMIRROR_PAGE_SIZE);
		r = dmirror_fault_range(dmirror, addr, next, false, true);
	}
	return r;
}

/* ----------------------------------------------------- device accesses */

int dmirror_copy_out_locked(struct uhmm_dmirror *dmirror, unsigned long start, unsigned long end, char *buf,
			    unsigned long *missing)
{
	unsigned long addr;

	/* All or nothing: look every page up before the first byte moves. */
	for (addr = start; addr < end; addr += DMIRROR_PAGE_SIZE)
		if (!dpt_lookup(&dmirror->pt, addr >> DMIRROR_PAGE_SHIFT)) {
			*missing = addr;
			return -ENOENT;
		}
	for (addr = start; addr < end; addr += DMIRROR_PAGE_SIZE) {
		uintptr_t e = dpt_lookup(&dmirror->pt, addr >> DMIRROR_PAGE_SHIFT);

		memcpy(buf, dmirror_page_data(dpt_entry_page(e)), DMIRROR_PAGE_SIZE);
		buf += DMIRROR_PAGE_SIZE;
	}
	return 0;
}

static int dmirror_do_write(struct uhmm_dmirror *dmirror, unsigned long start, unsigned long end, const char *buf,
			    unsigned long *cpages)
{
	unsigned long addr;

	for (addr = start; addr < end; addr += DMIRROR_PAGE_SIZE) {
		uintptr_t e = dpt_lookup(&dmirror->pt, addr >> DMIRROR_PAGE_SHIFT);

		/* Only a WRITE entry allows it (not READ, not ATOMIC). */
		if (!e || dpt_entry_tag(e) != DPT_TAG_WRITE)
			return -ENOENT;
		memcpy(dmirror_page_data(dpt_entry_page(e)), buf, DMIRROR_PAGE_SIZE);
		buf += DMIRROR_PAGE_SIZE;
		(*cpages)++;
	}
	return 0;
}

/*
 * READ: copy the range straight into the caller's buffer, under the mutex
 * (so no invalidation can complete during the copy), but only once every
 * page of it is mapped: the caller's buffer stays untouched on error, as
 * Linux's bounce buffer and copy_to_user keep it, without a bounce buffer
 * the size of the command (a fresh mmap, every page a host page fault, from
 * 32 MiB on: issue 9). Otherwise fault from the first page not mapped to the
 * end and look again. Each round that finds an entry missing is one fault
 * round (cmd->faults). Gives up with -EBUSY when invalidations keep erasing
 * entries faster than the rounds map them: DMIRROR_RANGE_FAULT_TIMEOUT_MS
 * without the first missing page moving forward.
 */
static int dmirror_read(struct uhmm_dmirror *dmirror, struct uhmm_dmirror_cmd *cmd)
{
	unsigned long end = cmd->addr + cmd->npages * DMIRROR_PAGE_SIZE, missing, last = 0;
	unsigned long deadline = now_ns() + DMIRROR_RANGE_FAULT_TIMEOUT_MS * 1000000UL;
	int r;

	for (;;) {
		lock(&dmirror->mutex);
		r = dmirror_copy_out_locked(dmirror, cmd->addr, end, cmd->ptr, &missing);
		unlock(&dmirror->mutex);
		if (r != -ENOENT)
			break;
		if (missing > last) {
			last = missing;
			deadline = now_ns() + DMIRROR_RANGE_FAULT_TIMEOUT_MS * 1000000UL;
		} else if (now_ns() > deadline) {
			r = -EBUSY;
			break;
		}
		r = dmirror_fault(dmirror, missing, end, false);
		if (r)
			break;
		cmd->faults++;
		dmirror_sim_fault(dmirror->dev);
	}
	if (!r) {
		cmd->cpages = cmd->npages;
		dmirror_sim_copy(dmirror->dev, cmd->npages * DMIRROR_PAGE_SIZE);	/* device -> host */
	}
	return r;
}

/*
 * WRITE: copy the caller's buffer straight into the pages the page table
 * maps writable, under the mutex; at the first page not mapped so, fault
 * from there to the end and go on. The caller's buffer is only read, so no
 * bounce buffer: on error the device has written a prefix, as in Linux.
 */
static int dmirror_write(struct uhmm_dmirror *dmirror, struct uhmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr, end = cmd->addr + cmd->npages * DMIRROR_PAGE_SIZE;
	const char *src = cmd->ptr;
	unsigned long cpages = 0;
	int r;

	for (;;) {
		unsigned long before = cpages;

		lock(&dmirror->mutex);
		r = dmirror_do_write(dmirror, start, end, src + (start - cmd->addr), &cpages);
		unlock(&dmirror->mutex);
		dmirror_sim_copy(dmirror->dev, (cpages - before) * DMIRROR_PAGE_SIZE);	/* host -> device */
		if (r != -ENOENT)
			break;
		start = cmd->addr + (cpages << DMIRROR_PAGE_SHIFT);
		r = dmirror_fault(dmirror, start, end, true);
		if (r)
			break;
		cmd->faults++;
		dmirror_sim_fault(dmirror->dev);
	}
	if (!r)
		cmd->cpages = cpages;
	return r;
}

/* ------------------------------------------------------------- snapshot */

/* A temporary notifier over exactly one snapshot chunk. */
struct dmirror_interval {
	struct uhmm_mmu_interval_notifier notifier;
	struct uhmm_dmirror *dmirror;
};

/* Any invalidation of the chunk spoils the whole snapshot: only set_seq. */
static bool dmirror_snapshot_invalidate(struct uhmm_mmu_interval_notifier *mni,
					const struct uhmm_mmu_notifier_range *range, unsigned long cur_seq)
{
	struct dmirror_interval *dmi = dmirror_container_of(mni, struct dmirror_interval, notifier);
	struct uhmm_dmirror *dmirror = dmi->dmirror;

	if (uhmm_mmu_notifier_range_blockable(range))
		lock(&dmirror->mutex);
	else if (pthread_mutex_trylock(&dmirror->mutex))
		return false;
	uhmm_mmu_interval_set_seq(mni, cur_seq);
	unlock(&dmirror->mutex);
	return true;
}

static const struct uhmm_mmu_interval_notifier_ops dmirror_snapshot_ops = {
	.invalidate = dmirror_snapshot_invalidate,
};

/* One HMM_DMIRROR_PROT_* byte for one hmm_range_fault output. Mutex held. */
static unsigned char dmirror_snapshot_byte(struct uhmm_dmirror *dmirror, unsigned long hpfn)
{
	struct uhmm_page *page;
	unsigned char perm;
	unsigned int order;

	if (hpfn & UHMM_PFN_ERROR)
		return UHMM_DMIRROR_PROT_ERROR;
	if (!(hpfn & UHMM_PFN_VALID))
		return UHMM_DMIRROR_PROT_NONE;
	page = uhmm_pfn_to_page(dmirror->sys, uhmm_pfn_to_pfn(hpfn));
	if (page && uhmm_is_device_private_page(page))
		perm = uhmm_page_pgmap(page)->owner == dmirror->dev ? UHMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL
								    : UHMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE;
	else if (page && uhmm_is_device_coherent_page(page))
		perm = uhmm_page_pgmap(page)->owner == dmirror->dev ? UHMM_DMIRROR_PROT_DEV_COHERENT_LOCAL
								    : UHMM_DMIRROR_PROT_DEV_COHERENT_REMOTE;
	else if (page && uhmm_is_zero_page(page))
		perm = UHMM_DMIRROR_PROT_ZERO;
	else
		perm = UHMM_DMIRROR_PROT_NONE;
	perm |= hpfn & UHMM_PFN_WRITE ? UHMM_DMIRROR_PROT_WRITE : UHMM_DMIRROR_PROT_READ;
	order = uhmm_pfn_to_map_order(hpfn);
	if (order + DMIRROR_PAGE_SHIFT == 21)
		perm |= UHMM_DMIRROR_PROT_PMD;
	else if (order + DMIRROR_PAGE_SHIFT == 30)
		perm |= UHMM_DMIRROR_PROT_PUD;
	return perm;
}

/* Snapshot [start, end) (at most DMIRROR_RANGE_PAGES) into perm[]. */
static int dmirror_range_snapshot(struct uhmm_dmirror *dmirror, unsigned long start, unsigned long end,
				  unsigned char *perm)
{
	unsigned long pfns[DMIRROR_RANGE_PAGES];
	unsigned long deadline = now_ns() + DMIRROR_RANGE_FAULT_TIMEOUT_MS * 1000000UL;
	unsigned long i, n = (end - start) >> DMIRROR_PAGE_SHIFT;
	struct dmirror_interval notifier;
	struct uhmm_range range;
	int r;

	memset(&notifier, 0, sizeof(notifier));
	notifier.dmirror = dmirror;
	r = uhmm_mmu_interval_notifier_insert(&notifier.notifier, dmirror->mm, start, end - start,
					      &dmirror_snapshot_ops);
	if (r)
		return r;

	memset(&range, 0, sizeof(range));
	range.notifier = &notifier.notifier;
	range.start = start;
	range.end = end;
	range.hmm_pfns = pfns;
	range.default_flags = 0;	/* snapshot: fault nothing */
	range.pfn_flags_mask = 0;
	range.dev_private_owner = dmirror->dev;
	for (;;) {
		if (now_ns() > deadline) {
			r = -EBUSY;
			goto out;
		}
		range.notifier_seq = uhmm_mmu_interval_read_begin(&notifier.notifier);
		uhmm_mmap_read_lock(dmirror->mm);
		r = uhmm_range_fault(&range);
		uhmm_mmap_read_unlock(dmirror->mm);
		if (r == -EBUSY)
			continue;
		if (r)
			goto out;
		lock(&dmirror->mutex);
		if (uhmm_mmu_interval_read_retry(&notifier.notifier, range.notifier_seq)) {
			unlock(&dmirror->mutex);
			continue;
		}
		break;
	}
	/* Pages are looked at under the mutex: none can be freed meanwhile. */
	for (i = 0; i < n; i++)
		perm[i] = dmirror_snapshot_byte(dmirror, pfns[i]);
	unlock(&dmirror->mutex);
out:
	uhmm_mmu_interval_notifier_remove(&notifier.notifier);
	return r;
}

/* Take the file's snapshot buffer, at least @size bytes: NULL on -ENOMEM. */
static struct dmirror_snapbuf *dmirror_snapbuf_get(struct uhmm_dmirror *dmirror, unsigned long size)
{
	struct dmirror_snapbuf *b = atomic_exchange(&dmirror->snapbuf, NULL);

	if (b && b->size >= size)
		return b;
	free(b);
	b = uhmm_malloc(sizeof(*b) + size);
	if (b)
		b->size = size;
	return b;
}

/* Give it back; of two buffers (a concurrent SNAPSHOT's), keep the larger. */
static void dmirror_snapbuf_put(struct uhmm_dmirror *dmirror, struct dmirror_snapbuf *b)
{
	struct dmirror_snapbuf *old = atomic_exchange(&dmirror->snapbuf, b);

	if (old && old->size > b->size)
		old = atomic_exchange(&dmirror->snapbuf, old);	/* frees what that displaces */
	free(old);
}

/*
 * SNAPSHOT: chunk by chunk into the file's staging buffer, copied to the
 * caller's buffer only when every chunk succeeded (a chunk is a separate
 * hmm_range_fault and may fail with -EBUSY after earlier ones succeeded).
 */
static int dmirror_snapshot(struct uhmm_dmirror *dmirror, struct uhmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr, end = cmd->addr + cmd->npages * DMIRROR_PAGE_SIZE;
	struct dmirror_snapbuf *b = dmirror_snapbuf_get(dmirror, cmd->npages);
	unsigned long addr, next;
	int r = 0;

	if (!b)
		return -ENOMEM;
	for (addr = start; addr < end; addr = next) {
		next = DMIRROR_MIN(end, addr + DMIRROR_RANGE_PAGES * DMIRROR_PAGE_SIZE);
		r = dmirror_range_snapshot(dmirror, addr, next, b->data + ((addr - start) >> DMIRROR_PAGE_SHIFT));
		if (r)
			break;
	}
	if (!r) {
		memcpy(cmd->ptr, b->data, cmd->npages);
		cmd->cpages = cmd->npages;
	}
	dmirror_snapbuf_put(dmirror, b);
	return r;
}

/* ------------------------------------------------------------ exclusive */

/*
 * EXCLUSIVE: make each page device-exclusive (the CPU loses access until it
 * touches the page, which restores it and invalidates us with CLEAR), map it
 * ATOMIC, then read the range back. The page is mapped while still locked:
 * the CPU's restore needs that lock, so its invalidation comes after our
 * entry exists and erases it.
 */
static int dmirror_exclusive(struct uhmm_dmirror *dmirror, struct uhmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr, end = cmd->addr + cmd->npages * DMIRROR_PAGE_SIZE;
	unsigned long addr, missing;
	int r = 0;

	uhmm_mmap_read_lock(dmirror->mm);
	for (addr = start; addr < end; addr += DMIRROR_PAGE_SIZE) {
		struct uhmm_page *page;
		unsigned long zap_seq;

		/* sample, then let invalidations under way finish: see zap_seq */
		zap_seq = atomic_load_explicit(&dmirror->zap_seq, memory_order_relaxed);
		(void)uhmm_mmu_interval_read_begin(&dmirror->notifier);
		/* Owner NULL, as test_hmm; with filter_exclusive our device, as
		 * nouveau, and our callback then skips the EXCLUSIVE event. */
		dmirror_busy = dmirror;
		r = uhmm_make_device_exclusive(dmirror->mm, addr, dmirror->dev->filter_exclusive ? dmirror->dev : NULL,
					       &page);
		dmirror_busy = NULL;
		if (r)
			break;
		lock(&dmirror->mutex);
		/* a zap (MADV_DONTNEED) since may have unmapped the page: no entry then */
		if (atomic_load_explicit(&dmirror->zap_seq, memory_order_relaxed) == zap_seq) {
			r = dpt_store(&dmirror->pt, addr >> DMIRROR_PAGE_SHIFT, dpt_mk_entry(page, DPT_TAG_ATOMIC));
			if (!r)
				dmirror_sim_ptes(dmirror->dev, 1);
		}
		unlock(&dmirror->mutex);
		uhmm_unlock_page(page);
		uhmm_put_page(page);
		if (r)
			break;
	}
	uhmm_mmap_read_unlock(dmirror->mm);
	if (r)
		return r;

	/* all or nothing, straight into the caller's buffer */
	lock(&dmirror->mutex);
	r = dmirror_copy_out_locked(dmirror, start, end, cmd->ptr, &missing);
	unlock(&dmirror->mutex);
	if (!r) {
		cmd->cpages = cmd->npages;
		dmirror_sim_copy(dmirror->dev, cmd->npages * DMIRROR_PAGE_SIZE);
	}
	return r;
}

/* 0 once the CPU has taken back every page (no ATOMIC entry left), else -EPERM. */
static int dmirror_check_exclusive(struct uhmm_dmirror *dmirror, struct uhmm_dmirror_cmd *cmd)
{
	unsigned long first = cmd->addr >> DMIRROR_PAGE_SHIFT;
	bool atomic;

	lock(&dmirror->mutex);
	atomic = dpt_range_has_tag(&dmirror->pt, first, first + cmd->npages - 1, DPT_TAG_ATOMIC);
	unlock(&dmirror->mutex);
	return atomic ? -EPERM : 0;
}

/* --------------------------------------------------------------- ioctl */

int uhmm_dmirror_ioctl(struct uhmm_dmirror *dmirror, unsigned int request, struct uhmm_dmirror_cmd *ucmd)
{
	struct uhmm_dmirror_cmd cmd;
	int r;

	if (!dmirror || !ucmd)
		return -EINVAL;
	/* Work on a copy: the caller's block changes only on success. */
	cmd = *ucmd;
	if (cmd.addr & ~DMIRROR_PAGE_MASK)
		return -EINVAL;
	if (cmd.npages == 0 || cmd.npages > (ULONG_MAX - cmd.addr) >> DMIRROR_PAGE_SHIFT)
		return -EINVAL;
	cmd.cpages = 0;
	cmd.faults = 0;

	switch (request) {
	case UHMM_DMIRROR_READ:
	case UHMM_DMIRROR_WRITE:
	case UHMM_DMIRROR_MIGRATE_TO_DEV:
	case UHMM_DMIRROR_SNAPSHOT:
	case UHMM_DMIRROR_EXCLUSIVE:
		if (!cmd.ptr)
			return -EFAULT;	/* copy_to/from_user of a NULL buffer */
		break;
	default:
		break;
	}

	switch (request) {
	case UHMM_DMIRROR_READ:
		r = dmirror_read(dmirror, &cmd);
		break;
	case UHMM_DMIRROR_WRITE:
		r = dmirror_write(dmirror, &cmd);
		break;
	case UHMM_DMIRROR_MIGRATE_TO_DEV:
	case UHMM_DMIRROR_MIGRATE_TO_SYS:
		/* the driver's own populate: what FILTER_OWN_MIGRATE_POPULATING and _THREAD look for */
		atomic_fetch_add_explicit(&dmirror->dev->populating, 1, memory_order_relaxed);
		dmirror_populating = dmirror;
		if (request == UHMM_DMIRROR_MIGRATE_TO_DEV)
			r = dmirror_migrate_to_device(dmirror, &cmd);
		else
			r = dmirror_migrate_to_system(dmirror, &cmd);
		dmirror_populating = NULL;
		atomic_fetch_sub_explicit(&dmirror->dev->populating, 1, memory_order_relaxed);
		break;
	case UHMM_DMIRROR_SNAPSHOT:
		r = dmirror_snapshot(dmirror, &cmd);
		break;
	case UHMM_DMIRROR_EXCLUSIVE:
		r = dmirror_exclusive(dmirror, &cmd);
		break;
	case UHMM_DMIRROR_CHECK_EXCLUSIVE:
		r = dmirror_check_exclusive(dmirror, &cmd);
		break;
	case UHMM_DMIRROR_RELEASE:
		dmirror_devmem_release(dmirror->dev);
		r = 0;
		break;
	case UHMM_DMIRROR_FLAGS:
		atomic_store(&dmirror->flags, cmd.npages);
		r = 0;
		break;
	default:
		return -EINVAL;
	}
	atomic_fetch_add_explicit(&dmirror->faults, cmd.faults, memory_order_relaxed);
	if (r == 0)
		*ucmd = cmd;
	return r;
}

/* ---------------------------------------------------------- open, close */

int uhmm_dmirror_open(struct uhmm_dmirror_device *dev, struct uhmm_mm *mm, struct uhmm_dmirror **out)
{
	struct uhmm_dmirror *dmirror;
	int r;

	if (!dev || !mm || !out)
		return -EINVAL;
	dmirror = uhmm_calloc(1, sizeof(*dmirror));
	if (!dmirror)
		return -ENOMEM;
	dmirror->dev = dev;
	dmirror->mm = mm;
	dmirror->sys = dev->sys;
	if (pthread_mutex_init(&dmirror->mutex, NULL)) {
		free(dmirror);
		return -ENOMEM;
	}
	/* The whole address space (fails with -EINVAL if the mm has exited). */
	r = uhmm_mmu_interval_notifier_insert(&dmirror->notifier, mm, 0, ULONG_MAX & DMIRROR_PAGE_MASK,
					      &dmirror_mni_ops);
	if (r) {
		pthread_mutex_destroy(&dmirror->mutex);
		free(dmirror);
		return r == -EOVERFLOW ? -EINVAL : r;
	}
	/*
	 * No user reference, as Linux's file (mmgrab only, here through the
	 * notifier): the address space may exit while the file is open; the
	 * callback then gets RELEASE and UNMAP, and later commands find no VMA.
	 */

	lock(&dev->files_lock);
	dmirror->next = dev->files;
	if (dev->files)
		dev->files->prev = dmirror;
	dev->files = dmirror;
	dev->nr_files++;
	unlock(&dev->files_lock);
	*out = dmirror;
	return 0;
}

/*
 * Linux 6.1 evicts all of the device's memory when any file closes: its
 * fault handler finds the file through the backing page, which must not
 * outlive it. Ours finds the device through the page's pgmap owner, so pages
 * stay on the device, still mapped and faultable, and their data is safe.
 */
void uhmm_dmirror_close(struct uhmm_dmirror *dmirror)
{
	struct uhmm_dmirror_device *dev;

	if (!dmirror)
		return;
	dev = dmirror->dev;
	lock(&dev->files_lock);
	if (dmirror->prev)
		dmirror->prev->next = dmirror->next;
	else
		dev->files = dmirror->next;
	if (dmirror->next)
		dmirror->next->prev = dmirror->prev;
	dev->nr_files--;
	unlock(&dev->files_lock);

	/* Waits for callbacks in flight; none runs after. May drop the last
	 * reference to an exited mm's structure: no touching dmirror->mm after. */
	uhmm_mmu_interval_notifier_remove(&dmirror->notifier);
	dpt_destroy(&dmirror->pt);
	free(atomic_load(&dmirror->snapbuf));
	pthread_mutex_destroy(&dmirror->mutex);
	free(dmirror);
}

int uhmm_dmirror_get_stats(struct uhmm_dmirror *dmirror, struct uhmm_dmirror_stats *st)
{
	if (!dmirror || !st)
		return -EINVAL;
	st->invalidations = atomic_load_explicit(&dmirror->invalidations, memory_order_relaxed);
	st->invalidations_skipped = atomic_load_explicit(&dmirror->invalidations_skipped, memory_order_relaxed);
	st->ptes_zapped = atomic_load_explicit(&dmirror->ptes_zapped, memory_order_relaxed);
	st->faults = atomic_load_explicit(&dmirror->faults, memory_order_relaxed);
	st->pages_to_dev = atomic_load_explicit(&dmirror->pages_to_dev, memory_order_relaxed);
	st->pages_to_sys = atomic_load_explicit(&dmirror->pages_to_sys, memory_order_relaxed);
	st->devmem_pages_in_use = atomic_load_explicit(&dmirror->dev->pages_in_use, memory_order_relaxed);
	st->ptes_migrated = atomic_load_explicit(&dmirror->ptes_migrated, memory_order_relaxed);
	{
		struct uhmm_mmu_interval_notifier_stats ns;

		st->max_retry_streak = uhmm_mmu_interval_notifier_get_stats(&dmirror->notifier, &ns) ? 0
												    : ns.max_retry_streak;
	}
	return 0;
}

/* --------------------------------------------------------------- device */

int uhmm_dmirror_device_create(struct uhmm_system *sys, const struct uhmm_dmirror_device_opts *opts,
			       struct uhmm_dmirror_device **out)
{
	struct uhmm_dmirror_device *dev;
	unsigned long mem, chunk;

	if (!sys || !out)
		return -EINVAL;
	if (opts && opts->type != 0 && opts->type != UHMM_MEMORY_DEVICE_PRIVATE &&
	    opts->type != UHMM_MEMORY_DEVICE_COHERENT)
		return -EINVAL;
	if (opts && (unsigned int)opts->filter > (unsigned int)UHMM_DMIRROR_FILTER_THREAD)
		return -EINVAL;
	mem = (opts && opts->memory_bytes ? opts->memory_bytes : DMIRROR_DEFAULT_MEMORY) >> DMIRROR_PAGE_SHIFT;
	chunk = (opts && opts->chunk_bytes ? opts->chunk_bytes : DMIRROR_DEFAULT_CHUNK) >> DMIRROR_PAGE_SHIFT;
	if (!mem)
		return -EINVAL;
	if (!chunk)
		chunk = 1;
	dev = uhmm_calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	dev->sys = sys;
	dev->type = opts && opts->type ? opts->type : UHMM_MEMORY_DEVICE_PRIVATE;
	dev->filter = !opts ? UHMM_DMIRROR_FILTER_OWN_MIGRATE
		    : opts->invalidate_own_migrations ? UHMM_DMIRROR_FILTER_NONE : opts->filter;
	dev->filter_exclusive = opts && opts->filter_exclusive;
	dmirror_cost_init(dev, opts);
	dev->capacity_pages = mem;
	dev->chunk_pages = DMIRROR_MIN(chunk, mem);
	if (dmirror_devmem_init(dev)) {
		free(dev);
		return -ENOMEM;
	}
	if (pthread_mutex_init(&dev->files_lock, NULL)) {
		pthread_mutex_destroy(&dev->alloc_lock);
		pthread_mutex_destroy(&dev->chunk_lock);
		free(dev);
		return -ENOMEM;
	}
	*out = dev;
	return 0;
}

void uhmm_dmirror_device_destroy(struct uhmm_dmirror_device *dev)
{
	struct uhmm_dmirror *dmirror;

	if (!dev)
		return;
	for (;;) {
		lock(&dev->files_lock);
		dmirror = dev->files;
		unlock(&dev->files_lock);
		if (!dmirror)
			break;
		fprintf(stderr, "uhmm: dmirror device destroyed with open files; closing them\n");
		uhmm_dmirror_close(dmirror);
	}
	/* Nothing may be lost: move every page still on the device to RAM. */
	dmirror_devmem_release(dev);
	pthread_mutex_destroy(&dev->files_lock);
	pthread_mutex_destroy(&dev->alloc_lock);
	pthread_mutex_destroy(&dev->chunk_lock);
	free(dev);
}

void *uhmm_dmirror_device_owner(struct uhmm_dmirror_device *dev)
{
	return dev;
}

int uhmm_dmirror_device_get_stats(struct uhmm_dmirror_device *dev, struct uhmm_dmirror_device_stats *st)
{
	struct dmirror_chunk *c;

	if (!dev || !st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	lock(&dev->alloc_lock);
	st->chunks = dev->nr_chunks;
	for (c = dev->chunks; c; c = c->next)
		st->pages_total += c->pgmap.nr_pages;
	unlock(&dev->alloc_lock);
	lock(&dev->files_lock);
	st->files = dev->nr_files;
	unlock(&dev->files_lock);
	st->devmem_pages_in_use = atomic_load_explicit(&dev->pages_in_use, memory_order_relaxed);
	st->pages_evicted = atomic_load_explicit(&dev->pages_evicted, memory_order_relaxed);
	st->alloc_failures = atomic_load_explicit(&dev->alloc_failures, memory_order_relaxed);
	st->sim_ns_copy = atomic_load_explicit(&dev->sim_ns[DMIRROR_SIM_COPY], memory_order_relaxed);
	st->sim_ns_fault = atomic_load_explicit(&dev->sim_ns[DMIRROR_SIM_FAULT], memory_order_relaxed);
	st->sim_ns_flush = atomic_load_explicit(&dev->sim_ns[DMIRROR_SIM_FLUSH], memory_order_relaxed);
	st->sim_ns_pte = atomic_load_explicit(&dev->sim_ns[DMIRROR_SIM_PTE], memory_order_relaxed);
	st->sim_ns_total = st->sim_ns_copy + st->sim_ns_fault + st->sim_ns_flush + st->sim_ns_pte;
	return 0;
}
