/* SPDX-License-Identifier: MIT */
/* tests/api/test_misuse.c - the misuse catalogue, part 1: wrong calls that return an errno and change nothing.
 *
 * Each row of the table below is one ctest case and one row of the catalogue
 * (doc/misuse.md, printed by `test_misuse --catalogue`). A fixture world is
 * built - an address space with private, shared, read-only, untouched and
 * device-resident memory, a dmirror device with a file, and an interval
 * notifier counting every invalidation - and snapshotted: its VMAs, every
 * page-table entry (kind, pfn, write, refcount, mapcount), the bytes of
 * every present page, the frame counts, the invalidations seen. Then the
 * wrong call is made; its result must be the documented one and the
 * snapshot must not change. Rows flagged EXITED run on an address space
 * after its last uhmm_mm_put (the notifier keeps the structure): only what
 * stays valid is called. The misuses Linux treats as a kernel bug are in
 * test_misuse_fatal.c. Usage: test_misuse [--list | --catalogue | CASE_NAME].
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uhmm/dmirror.h>
#include <uhmm/uhmm.h>

#include "common/testdev.h"	/* testdev_run */

#define PG UHMM_PAGE_SIZE
#define RW (PROT_READ | PROT_WRITE)
#define PRIV (MAP_PRIVATE | MAP_ANONYMOUS)
#define SHARED (MAP_SHARED | MAP_ANONYMOUS)
#define TASK_TOP (1UL << 47)

/*
 * The fixture, in pages from BASE:
 *   A [0, 8)   private RW, written          B [8, 12)  shared RW, written
 *   C [12, 14) private read-only, read      D [14, 18) private RW, untouched
 *     [18, 20) hole                         E [20, 24) private RW, on the device
 *     [24, 32) hole
 */
#define BASE 0x600000000UL
#define P(n) (BASE + (unsigned long)(n) * PG)
#define NPG 32

enum {
	EXITED = 1 << 0,	/* the address space has exited (its structure is kept) */
	OWN_EVENTS = 1 << 1,	/* the case drives invalidations itself: not counted */
	MOVES = 1 << 2,		/* the case moves pages by design: only its own checks */
};

struct fx {
	struct uhmm_system *sys;
	struct uhmm_mm *mm;
	struct uhmm_dmirror_device *dev;
	struct uhmm_dmirror *dm;
	struct uhmm_mmu_interval_notifier rec;	/* counts every invalidation of the mm */
	atomic_ulong events;
	bool exited;
	unsigned long out;			/* preset; a failed call must not write it */
	unsigned char buf[8 * PG];		/* preset 0xee; a failed call must not write it */
};

static bool rec_invalidate(struct uhmm_mmu_interval_notifier *sub, const struct uhmm_mmu_notifier_range *range,
			   unsigned long cur_seq)
{
	struct fx *f = (struct fx *)((char *)sub - offsetof(struct fx, rec));

	(void)range;
	uhmm_mmu_interval_set_seq(sub, cur_seq);
	atomic_fetch_add(&f->events, 1);
	return true;
}

static const struct uhmm_mmu_interval_notifier_ops rec_ops = { .invalidate = rec_invalidate };

static unsigned char pat(unsigned seed, unsigned long a)
{
	return (unsigned char)((a * 2654435761UL >> 7) ^ seed) | 0x80;
}

static void fx_write(struct fx *f, int first, int n, unsigned seed)
{
	static unsigned char b[PG];

	for (int i = first; i < first + n; i++) {
		for (unsigned long k = 0; k < PG; k++)
			b[k] = pat(seed, P(i) + k);
		assert_int_equal(uhmm_cpu_write(f->mm, P(i), b, PG), 0);
	}
}

static int dmcmd(struct uhmm_dmirror *dm, unsigned req, unsigned long addr, void *ptr, unsigned long npages)
{
	struct uhmm_dmirror_cmd c = { .addr = addr, .ptr = ptr, .npages = npages };

	return uhmm_dmirror_ioctl(dm, req, &c);
}

static void fx_init(struct fx *f, unsigned flags)
{
	struct uhmm_system_opts so = { .ram_bytes = 8UL << 20 };
	struct uhmm_dmirror_device_opts o = { .memory_bytes = 64 * PG, .chunk_bytes = 16 * PG };
	unsigned long a;
	unsigned char b[PG];

	memset(f, 0, sizeof(*f));
	assert_int_equal(uhmm_system_create(&so, &f->sys), 0);
	assert_int_equal(uhmm_mm_create(f->sys, &f->mm), 0);
	assert_int_equal(uhmm_mmap(f->mm, P(0), 8 * PG, RW, PRIV | MAP_FIXED, &a), 0);
	assert_int_equal(uhmm_mmap(f->mm, P(8), 4 * PG, RW, SHARED | MAP_FIXED, &a), 0);
	assert_int_equal(uhmm_mmap(f->mm, P(12), 2 * PG, PROT_READ, PRIV | MAP_FIXED, &a), 0);
	assert_int_equal(uhmm_mmap(f->mm, P(14), 4 * PG, RW, PRIV | MAP_FIXED, &a), 0);
	assert_int_equal(uhmm_mmap(f->mm, P(20), 4 * PG, RW, PRIV | MAP_FIXED, &a), 0);
	fx_write(f, 0, 12, 1);
	fx_write(f, 20, 4, 3);
	assert_int_equal(uhmm_cpu_read(f->mm, P(12), b, PG), 0);
	assert_int_equal(uhmm_cpu_read(f->mm, P(13), b, PG), 0);
	assert_int_equal(uhmm_dmirror_device_create(f->sys, &o, &f->dev), 0);
	assert_int_equal(uhmm_dmirror_open(f->dev, f->mm, &f->dm), 0);
	assert_int_equal(dmcmd(f->dm, UHMM_DMIRROR_MIGRATE_TO_DEV, P(20), f->buf, 4), 0);
	assert_int_equal(uhmm_mmu_interval_notifier_insert(&f->rec, f->mm, 0, TASK_TOP, &rec_ops), 0);
	if (flags & EXITED) {
		uhmm_mm_put(f->mm);	/* the file and the notifier keep the structure */
		f->exited = true;
	}
	atomic_store(&f->events, 0);
	f->out = 0x1234;
	memset(f->buf, 0xee, sizeof(f->buf));
}

static void fx_fini(struct fx *f)
{
	struct uhmm_system_stats st;

	uhmm_dmirror_close(f->dm);
	if (!f->exited)
		uhmm_mm_put(f->mm);
	uhmm_mmu_interval_notifier_remove(&f->rec);
	uhmm_dmirror_device_destroy(f->dev);
	assert_int_equal(uhmm_system_get_stats(f->sys, &st), 0);
	assert_int_equal(st.used_pages, 1);
	assert_int_equal(st.device_pages, 0);
	assert_int_equal(st.device_pages_used, 0);
	uhmm_system_destroy(f->sys);
}

/* ----------------------------------------------------------- the snapshot */
struct snap {
	unsigned long nvmas, used, dev_pages, dev_used, events, invalidations;
	struct {
		bool mapped;
		struct uhmm_vma_info vi;
		struct uhmm_pte_info pte;
		unsigned char data[PG];
	} pg[NPG];
};

static void take(struct fx *f, struct snap *s)
{
	struct uhmm_system_stats st;
	struct uhmm_dmirror_stats ds;

	memset(s, 0, sizeof(*s));
	s->nvmas = uhmm_mm_vma_count(f->mm);
	assert_int_equal(uhmm_system_get_stats(f->sys, &st), 0);
	s->used = st.used_pages;
	s->dev_pages = st.device_pages;
	s->dev_used = st.device_pages_used;
	s->events = atomic_load(&f->events);
	assert_int_equal(uhmm_dmirror_get_stats(f->dm, &ds), 0);
	s->invalidations = ds.invalidations;
	for (int i = 0; i < NPG; i++) {
		struct uhmm_vma *v;

		uhmm_mmap_read_lock(f->mm);
		v = uhmm_find_vma(f->mm, P(i));
		s->pg[i].mapped = v != NULL;
		if (v)
			uhmm_vma_get_info(v, &s->pg[i].vi);
		uhmm_mmap_read_unlock(f->mm);
		assert_int_equal(uhmm_mm_query_pte(f->mm, P(i), &s->pg[i].pte), 0);
		/* the access bits move with the reads below: not part of the state compared */
		s->pg[i].pte.young = s->pg[i].pte.dirty = s->pg[i].pte.soft_dirty = false;
		/* present pages only: reading a device page would migrate it */
		if ((s->pg[i].pte.kind == UHMM_PTE_PRESENT || s->pg[i].pte.kind == UHMM_PTE_ZERO) &&
		    (s->pg[i].vi.prot & PROT_READ))
			assert_int_equal(uhmm_cpu_read(f->mm, P(i), s->pg[i].data, PG), 0);
	}
}

static void expect_same(const struct snap *a, const struct snap *b, const char *row, bool events)
{
	if (a->nvmas != b->nvmas)
		fail_msg("%s: VMA count %lu -> %lu", row, a->nvmas, b->nvmas);
	if (a->used != b->used || a->dev_pages != b->dev_pages || a->dev_used != b->dev_used)
		fail_msg("%s: frames used %lu/%lu/%lu -> %lu/%lu/%lu", row, a->used, a->dev_pages, a->dev_used,
			 b->used, b->dev_pages, b->dev_used);
	if (events && (a->events != b->events || a->invalidations != b->invalidations))
		fail_msg("%s: %lu invalidation(s) emitted", row, b->events - a->events);
	for (int i = 0; i < NPG; i++) {
		if (a->pg[i].mapped != b->pg[i].mapped || memcmp(&a->pg[i].vi, &b->pg[i].vi, sizeof(a->pg[i].vi)))
			fail_msg("%s: page %d: VMA changed", row, i);
		if (memcmp(&a->pg[i].pte, &b->pg[i].pte, sizeof(a->pg[i].pte)))
			fail_msg("%s: page %d: page-table entry changed (kind %d pfn %#lx ref %d map %d -> kind %d "
				 "pfn %#lx ref %d map %d)", row, i, a->pg[i].pte.kind, a->pg[i].pte.pfn,
				 a->pg[i].pte.refcount, a->pg[i].pte.mapcount, b->pg[i].pte.kind, b->pg[i].pte.pfn,
				 b->pg[i].pte.refcount, b->pg[i].pte.mapcount);
		if (memcmp(a->pg[i].data, b->pg[i].data, PG))
			fail_msg("%s: page %d: contents changed", row, i);
	}
}

/* ------------------------------------------------------------ helpers */
static long h_system_create(size_t ram)
{
	struct uhmm_system_opts o = { .ram_bytes = ram };
	struct uhmm_system *s = (struct uhmm_system *)(uintptr_t)0x5a;
	int r = uhmm_system_create(&o, &s);

	if (r == 0)
		uhmm_system_destroy(s);
	else
		assert_ptr_equal(s, (struct uhmm_system *)(uintptr_t)0x5a);	/* untouched */
	return r;
}

static long h_get_stats(struct fx *f)
{
	struct uhmm_system_stats st;
	long r = uhmm_system_get_stats(NULL, &st);

	assert_int_equal(uhmm_system_get_stats(f->sys, NULL), -EINVAL);
	return r;
}

static long h_mm_create(struct fx *f, bool null_sys)
{
	struct uhmm_mm *mm = (struct uhmm_mm *)(uintptr_t)0x5a;
	long r = uhmm_mm_create(null_sys ? NULL : f->sys, null_sys ? &mm : NULL);

	assert_ptr_equal(mm, (struct uhmm_mm *)(uintptr_t)0x5a);
	return r;
}

static long h_fork(struct fx *f, bool null_parent)
{
	struct uhmm_mm *child = NULL;
	long r = uhmm_mm_fork(null_parent ? NULL : f->mm, null_parent ? &child : NULL);

	assert_null(child);
	return r;
}

static long h_fork_exited(struct fx *f)
{
	struct uhmm_mm *child = NULL;
	long r = uhmm_mm_fork(f->mm, &child);

	assert_null(child);
	return r;
}

static long h_read(struct fx *f, unsigned long addr, size_t len)
{
	long r = uhmm_cpu_read(f->mm, addr, f->buf, len);

	for (size_t i = 0; r && i < sizeof(f->buf); i++)
		if (f->buf[i] != 0xee)
			fail_msg("a failed read copied into the buffer");
	return r;
}

static long h_write_span_ro(struct fx *f)
{
	memset(f->buf, 0x11, sizeof(f->buf));
	/* [11, 13): the last page of B (RW) and the first of C (read-only) */
	return uhmm_cpu_write(f->mm, P(11), f->buf, 2 * PG);
}

static long h_pin(struct fx *f, unsigned long addr, unsigned long n, bool write, bool null_pages)
{
	struct uhmm_page *pages[8];
	long r;

	for (int i = 0; i < 8; i++)
		pages[i] = (struct uhmm_page *)(uintptr_t)0x5a;
	r = uhmm_pin_user_pages(f->mm, addr, n, write, null_pages ? NULL : pages);
	if (r == 0)
		uhmm_unpin_user_pages(pages, n);
	return r;
}

static long h_query_pte(struct fx *f)
{
	struct uhmm_pte_info pi;

	return uhmm_mm_query_pte(f->mm, TASK_TOP, &pi);
}

static long h_count_ptes(struct fx *f)
{
	unsigned long c[6];

	return uhmm_mm_count_ptes(f->mm, P(0) + 1, P(4), c);
}

/* notifiers */
static const struct uhmm_mmu_notifier_ops cops = { .release = NULL };
static const struct uhmm_mmu_interval_notifier_ops no_invalidate_ops = { .invalidate = NULL };

static long h_register(struct fx *f, int what)
{
	struct uhmm_mmu_notifier sub;
	long r;

	memset(&sub, 0, sizeof(sub));
	sub.ops = what == 2 ? NULL : &cops;
	r = uhmm_mmu_notifier_register(what == 1 ? NULL : &sub, f->mm);
	if (r == 0)
		uhmm_mmu_notifier_unregister(&sub, f->mm);
	return r;
}

static long h_insert(struct fx *f, unsigned long start, unsigned long len,
		     const struct uhmm_mmu_interval_notifier_ops *ops)
{
	struct uhmm_mmu_interval_notifier sub;
	long r;

	memset(&sub, 0, sizeof(sub));
	r = uhmm_mmu_interval_notifier_insert(&sub, f->mm, start, len, ops);
	if (r == 0)
		uhmm_mmu_interval_notifier_remove(&sub);
	return r;
}

/* Counting classic subscriber. */
static atomic_ulong c_starts, c_releases;
static int c_start(struct uhmm_mmu_notifier *s, const struct uhmm_mmu_notifier_range *r)
{
	(void)s;
	(void)r;
	atomic_fetch_add(&c_starts, 1);
	return 0;
}
static void c_release(struct uhmm_mmu_notifier *s, struct uhmm_mm *mm)
{
	(void)s;
	(void)mm;
	atomic_fetch_add(&c_releases, 1);
}
static const struct uhmm_mmu_notifier_ops counting_ops = { .release = c_release, .invalidate_range_start = c_start };

/* Registered twice: refused, and still called once per invalidation. */
static long h_register_twice(struct fx *f)
{
	struct uhmm_mmu_notifier sub;
	struct uhmm_mmu_notifier_range range = { .mm = f->mm, .start = P(0), .end = P(1),
						 .event = UHMM_MMU_NOTIFY_CLEAR };
	long r;

	memset(&sub, 0, sizeof(sub));
	sub.ops = &counting_ops;
	atomic_store(&c_starts, 0);
	assert_int_equal(uhmm_mmu_notifier_register(&sub, f->mm), 0);
	r = uhmm_mmu_notifier_register(&sub, f->mm);
	uhmm_mmu_notifier_invalidate_range_start(&range);
	uhmm_mmu_notifier_invalidate_range_end(&range);
	assert_int_equal(atomic_load(&c_starts), 1);
	uhmm_mmu_notifier_unregister(&sub, f->mm);
	return r;
}

static atomic_ulong i_calls;
static bool i_invalidate(struct uhmm_mmu_interval_notifier *sub, const struct uhmm_mmu_notifier_range *range,
			 unsigned long cur_seq)
{
	(void)range;
	uhmm_mmu_interval_set_seq(sub, cur_seq);
	atomic_fetch_add(&i_calls, 1);
	return true;
}
static const struct uhmm_mmu_interval_notifier_ops counting_iops = { .invalidate = i_invalidate };

/* Inserted twice: refused, still in the tree once; after remove it can be inserted again. */
static long h_insert_twice(struct fx *f)
{
	struct uhmm_mmu_interval_notifier sub;
	struct uhmm_mmu_notifier_range range = { .mm = f->mm, .start = P(0), .end = P(1),
						 .event = UHMM_MMU_NOTIFY_CLEAR };
	long r;

	memset(&sub, 0, sizeof(sub));
	atomic_store(&i_calls, 0);
	assert_int_equal(uhmm_mmu_interval_notifier_insert(&sub, f->mm, P(0), 4 * PG, &counting_iops), 0);
	r = uhmm_mmu_interval_notifier_insert(&sub, f->mm, P(0), 8 * PG, &counting_iops);
	uhmm_mmu_notifier_invalidate_range_start(&range);
	uhmm_mmu_notifier_invalidate_range_end(&range);
	assert_int_equal(atomic_load(&i_calls), 1);
	uhmm_mmu_interval_notifier_remove(&sub);
	assert_int_equal(uhmm_mmu_interval_notifier_insert(&sub, f->mm, P(0), 4 * PG, &counting_iops), 0);
	uhmm_mmu_interval_notifier_remove(&sub);
	return r;
}

/* hmm_range_fault */
enum { RF_OK, RF_NULL_NOTIFIER, RF_NULL_PFNS, RF_STALE, RF_REMOVED };

static long h_range_fault(struct fx *f, unsigned long start, unsigned long end, unsigned long flags, int mode)
{
	struct uhmm_mmu_interval_notifier sub;
	unsigned long pfns[8];
	struct uhmm_range range = { .notifier = &f->rec, .start = start, .end = end, .hmm_pfns = pfns,
				    .default_flags = flags };
	long r;

	if (mode == RF_NULL_NOTIFIER)
		range.notifier = NULL;
	if (mode == RF_NULL_PFNS)
		range.hmm_pfns = NULL;
	if (mode == RF_REMOVED) {
		memset(&sub, 0, sizeof(sub));
		assert_int_equal(uhmm_mmu_interval_notifier_insert(&sub, f->mm, start, end - start, &counting_iops), 0);
		uhmm_mmu_interval_notifier_remove(&sub);
		range.notifier = &sub;
	}
	range.notifier_seq = uhmm_mmu_interval_read_begin(&f->rec);
	if (mode == RF_STALE) {
		/* an invalidation of the range after read_begin */
		struct uhmm_mmu_notifier_range inv = { .mm = f->mm, .start = start, .end = end,
						       .event = UHMM_MMU_NOTIFY_CLEAR };

		uhmm_mmu_notifier_invalidate_range_start(&inv);
		uhmm_mmu_notifier_invalidate_range_end(&inv);
	}
	uhmm_mmap_read_lock(f->mm);
	r = uhmm_range_fault(&range);
	uhmm_mmap_read_unlock(f->mm);
	return r;
}

/* migrate_vma_setup */
enum { MV_NULL_ARGS, MV_NULL_VMA, MV_NULL_SRC, MV_NULL_DST, MV_OUTSIDE, MV_MISALIGNED, MV_EMPTY, MV_RAM_FAULT_PAGE,
       MV_OTHER_VMA };

static long h_migrate(struct fx *f, int mode)
{
	unsigned long src[8], dst[8];
	struct uhmm_migrate_vma args = { .src = src, .dst = dst, .start = P(0), .end = P(4),
					 .pgmap_owner = f->dev, .flags = UHMM_MIGRATE_VMA_SELECT_SYSTEM };
	struct uhmm_pte_info pi;
	long r;

	for (int i = 0; i < 8; i++)
		src[i] = dst[i] = 0x5a;
	uhmm_mmap_read_lock(f->mm);
	args.vma = uhmm_find_vma(f->mm, P(0));
	switch (mode) {
	case MV_NULL_VMA: args.vma = NULL; break;
	case MV_NULL_SRC: args.src = NULL; break;
	case MV_NULL_DST: args.dst = NULL; break;
	case MV_OUTSIDE: args.start = P(6); args.end = P(10); break;	/* A ends at 8 */
	case MV_MISALIGNED: args.start = P(0) + 8; break;
	case MV_EMPTY: args.end = args.start; break;
	case MV_RAM_FAULT_PAGE:
		assert_int_equal(uhmm_mm_query_pte(f->mm, P(0), &pi), 0);
		args.fault_page = uhmm_pfn_to_page(f->sys, pi.pfn);
		args.flags = UHMM_MIGRATE_VMA_SELECT_DEVICE_PRIVATE;
		break;
	case MV_OTHER_VMA: args.vma = uhmm_find_vma(f->mm, P(14)); break;	/* D, not containing A's range */
	}
	r = uhmm_migrate_vma_setup(mode == MV_NULL_ARGS ? NULL : &args);
	uhmm_mmap_read_unlock(f->mm);
	for (int i = 0; i < 8; i++)
		assert_true(src[i] == 0x5a && dst[i] == 0x5a);	/* untouched */
	return r;
}

static long h_device_range(struct fx *f, int mode)
{
	unsigned long src[4];
	struct uhmm_pte_info pi;

	if (mode == 0) {
		assert_int_equal(uhmm_mm_query_pte(f->mm, P(0), &pi), 0);
		return uhmm_migrate_device_range(f->sys, src, pi.pfn, 1);	/* a RAM pfn */
	}
	assert_int_equal(uhmm_mm_query_pte(f->mm, P(20), &pi), 0);
	return uhmm_migrate_device_range(f->sys, src, pi.pfn, 0);
}

static long h_migrate_pfn_to_page(struct fx *f)
{
	struct uhmm_pte_info pi;

	assert_int_equal(uhmm_mm_query_pte(f->mm, P(0), &pi), 0);
	/* without MIGRATE_PFN_VALID there is no page; a pfn beyond RAM and devices has none either */
	if (uhmm_migrate_pfn_to_page(f->sys, pi.pfn << UHMM_MIGRATE_PFN_SHIFT) != NULL)
		return 1;
	if (uhmm_pfn_to_page(f->sys, 1UL << 34) != NULL)
		return 2;
	return 0;
}

/* memremap */
static void nop_free(struct uhmm_page *p) { (void)p; }
static int nop_to_ram(struct uhmm_vm_fault *vmf) { (void)vmf; return -EFAULT; }

static long h_memremap(struct fx *f, int mode)
{
	struct uhmm_dev_pagemap_ops ops = { .page_free = nop_free, .migrate_to_ram = nop_to_ram };
	struct uhmm_dev_pagemap pg = { .type = UHMM_MEMORY_DEVICE_PRIVATE, .ops = &ops, .owner = f, .nr_pages = 16 };
	long r;

	switch (mode) {
	case 0: pg.nr_pages = 0; break;
	case 1: ops.migrate_to_ram = NULL; break;
	case 2: pg.owner = NULL; break;
	case 3: pg.type = (enum uhmm_memory_type)7; break;
	case 4: pg.type = (enum uhmm_memory_type)0; break;
	case 5: ops.page_free = NULL; pg.type = UHMM_MEMORY_DEVICE_COHERENT; break;
	}
	r = uhmm_memremap_pages(f->sys, &pg);
	if (r == 0)
		uhmm_memunmap_pages(&pg);
	assert_null(pg.priv_);
	return r;
}

/* make_device_exclusive */
static long h_exclusive(struct fx *f, unsigned long addr, bool null_page)
{
	struct uhmm_page *p = (struct uhmm_page *)(uintptr_t)0x5a;
	long r;

	uhmm_mmap_read_lock(f->mm);
	r = uhmm_make_device_exclusive(f->mm, addr, f, null_page ? NULL : &p);
	uhmm_mmap_read_unlock(f->mm);
	if (r == 0) {
		uhmm_unlock_page(p);
		uhmm_put_page(p);
	} else {
		assert_ptr_equal(p, (struct uhmm_page *)(uintptr_t)0x5a);
	}
	return r;
}

/* dmirror */
static long h_dm_create(struct fx *f, int mode)
{
	struct uhmm_dmirror_device_opts o = { 0 };
	struct uhmm_dmirror_device *d = (struct uhmm_dmirror_device *)(uintptr_t)0x5a;
	long r;

	if (mode == 1)
		o.type = (enum uhmm_memory_type)9;
	if (mode == 2)
		o.memory_bytes = PG - 1;
	r = uhmm_dmirror_device_create(mode == 0 ? NULL : f->sys, &o, &d);
	assert_ptr_equal(d, (struct uhmm_dmirror_device *)(uintptr_t)0x5a);
	return r;
}

static long h_dm_open(struct fx *f, bool null_dev)
{
	struct uhmm_dmirror *d = (struct uhmm_dmirror *)(uintptr_t)0x5a;
	long r = uhmm_dmirror_open(null_dev ? NULL : f->dev, f->mm, &d);

	assert_ptr_equal(d, (struct uhmm_dmirror *)(uintptr_t)0x5a);
	return r;
}

static long h_ioctl(struct fx *f, unsigned req, unsigned long addr, void *ptr, unsigned long npages)
{
	struct uhmm_dmirror_cmd c = { .addr = addr, .ptr = ptr, .npages = npages, .cpages = 77, .faults = 77 };
	long r = uhmm_dmirror_ioctl(f->dm, req, &c);

	if (r) {
		/* on error the command block is left as it was */
		assert_int_equal(c.cpages, 77);
		assert_int_equal(c.faults, 77);
	}
	return r;
}

static long h_ioctl_null(struct fx *f)
{
	struct uhmm_dmirror_cmd c = { .addr = P(0), .ptr = f->buf, .npages = 1 };

	assert_int_equal(uhmm_dmirror_ioctl(f->dm, UHMM_DMIRROR_READ, NULL), -EINVAL);
	return uhmm_dmirror_ioctl(NULL, UHMM_DMIRROR_READ, &c);
}

/* The device is asked for an atomic page: CHECK_EXCLUSIVE says -EPERM until the CPU takes it back. */
static long h_check_exclusive(struct fx *f)
{
	long r;

	assert_int_equal(h_ioctl(f, UHMM_DMIRROR_EXCLUSIVE, P(2), f->buf, 1), 0);
	r = h_ioctl(f, UHMM_DMIRROR_CHECK_EXCLUSIVE, P(0), NULL, 8);
	assert_int_equal(uhmm_cpu_read(f->mm, P(2), f->buf, PG), 0);	/* takes it back */
	assert_int_equal(h_ioctl(f, UHMM_DMIRROR_CHECK_EXCLUSIVE, P(0), NULL, 8), 0);
	memset(f->buf, 0xee, sizeof(f->buf));
	return r;
}

/* After RELEASE evicted everything, commands work on the RAM copies. */
static long h_after_release(struct fx *f)
{
	struct uhmm_dmirror_cmd c = { .addr = P(20), .ptr = f->buf, .npages = 4 };
	long r;

	assert_int_equal(h_ioctl(f, UHMM_DMIRROR_RELEASE, P(0), NULL, 1), 0);
	for (int i = 20; i < 24; i++) {
		struct uhmm_pte_info pi;

		assert_int_equal(uhmm_mm_query_pte(f->mm, P(i), &pi), 0);
		assert_int_equal(pi.kind, UHMM_PTE_PRESENT);
	}
	r = uhmm_dmirror_ioctl(f->dm, UHMM_DMIRROR_READ, &c);
	assert_int_equal(c.cpages, 4);
	for (unsigned long k = 0; k < 4 * PG; k++)
		if (f->buf[k] != pat(3, P(20) + k))
			fail_msg("RELEASE lost data at byte %lu", k);
	c.cpages = 0;
	assert_int_equal(uhmm_dmirror_ioctl(f->dm, UHMM_DMIRROR_MIGRATE_TO_SYS, &c), 0);
	assert_int_equal(c.cpages, 0);	/* nothing left on the device */
	return r;
}

/* exited address space */
static long h_get_not_zero(struct fx *f)
{
	if (uhmm_mm_get_not_zero(NULL))
		return 1;
	return uhmm_mm_get_not_zero(f->mm) ? 2 : 0;
}

static long h_classic_after_exit(struct fx *f)
{
	struct uhmm_mm *mm;
	struct uhmm_mmu_notifier sub;

	/* a classic subscriber of a second address space, unregistered after that one exits */
	assert_int_equal(uhmm_mm_create(f->sys, &mm), 0);
	memset(&sub, 0, sizeof(sub));
	sub.ops = &counting_ops;
	atomic_store(&c_releases, 0);
	assert_int_equal(uhmm_mmu_notifier_register(&sub, mm), 0);
	uhmm_mm_put(mm);
	assert_int_equal(atomic_load(&c_releases), 1);
	uhmm_mmu_notifier_unregister(&sub, mm);	/* frees the structure */
	return atomic_load(&c_releases) == 1 ? 0 : 1;	/* release() called once */
}

static long h_interval_after_exit(struct fx *f)
{
	struct uhmm_mm *mm;
	struct uhmm_mmu_interval_notifier sub;

	assert_int_equal(uhmm_mm_create(f->sys, &mm), 0);
	memset(&sub, 0, sizeof(sub));
	atomic_store(&i_calls, 0);
	assert_int_equal(uhmm_mmu_interval_notifier_insert(&sub, mm, 0, TASK_TOP, &counting_iops), 0);
	uhmm_mm_put(mm);
	assert_int_equal(atomic_load(&i_calls), 1);	/* RELEASE (exit unmapped nothing: no UNMAP) */
	uhmm_mmu_interval_notifier_remove(&sub);	/* frees the structure */
	return 0;
}

static long h_exited_insert(struct fx *f, bool classic)
{
	struct uhmm_mmu_interval_notifier isub;
	struct uhmm_mmu_notifier csub;

	memset(&isub, 0, sizeof(isub));
	memset(&csub, 0, sizeof(csub));
	csub.ops = &cops;
	if (classic)
		return uhmm_mmu_notifier_register(&csub, f->mm);
	return uhmm_mmu_interval_notifier_insert(&isub, f->mm, P(0), PG, &counting_iops);
}

static long h_exited_read_begin_range_fault(struct fx *f)
{
	/* the file's notifier is still inserted: the sequence protocol works, the walk finds no VMA */
	return h_range_fault(f, P(0), P(4), UHMM_PFN_REQ_FAULT, RF_OK);
}

static long h_release_exited(struct fx *f)
{
	struct uhmm_dmirror_device_stats ds;
	struct uhmm_system_stats st;
	long r = h_ioctl(f, UHMM_DMIRROR_RELEASE, P(0), NULL, 1);

	assert_int_equal(uhmm_dmirror_device_get_stats(f->dev, &ds), 0);
	assert_int_equal(ds.chunks, 0);
	assert_int_equal(ds.pages_evicted, 0);	/* exit freed the pages: nothing to move */
	assert_int_equal(uhmm_system_get_stats(f->sys, &st), 0);
	assert_int_equal(st.device_pages, 0);
	assert_int_equal(st.used_pages, 1);
	return r;
}

static long h_device_destroy_open_files(struct fx *f)
{
	struct uhmm_dmirror_device *d;
	struct uhmm_dmirror *a, *b;

	assert_int_equal(uhmm_dmirror_device_create(f->sys, NULL, &d), 0);
	assert_int_equal(uhmm_dmirror_open(d, f->mm, &a), 0);
	assert_int_equal(uhmm_dmirror_open(d, f->mm, &b), 0);
	uhmm_dmirror_device_destroy(d);	/* warns on stderr, closes both */
	uhmm_dmirror_close(NULL);
	uhmm_dmirror_device_destroy(NULL);
	return 0;
}

/* ================================================================ the table */
/*
 * X(case, call, misuse, outcome, Linux, expected, flags, expression)
 * An empty outcome means "<errno>; nothing changes" (written out by the
 * catalogue printer). The fixture's f is in scope.
 */
#define E_SAME "same"
#define ROWS(X)                                                                                                   \
	/* ------------------------------------------------------------ system, address spaces */                  \
	X(system_create_null_out, "uhmm_system_create", "`out` NULL", "", "no counterpart (the machine)",            \
	  -EINVAL, 0, uhmm_system_create(NULL, NULL))                                                                  \
	X(system_create_too_small, "uhmm_system_create", "RAM below 16 pages", "`-EINVAL`, `*out` untouched",        \
	  "no counterpart", -EINVAL, 0, h_system_create(15 * PG))                                                      \
	X(system_create_too_large, "uhmm_system_create", "RAM above 64 GiB", "`-EINVAL`, `*out` untouched",          \
	  "no counterpart", -EINVAL, 0, h_system_create((64UL << 30) + PG))                                           \
	X(system_get_stats_null, "uhmm_system_get_stats", "`sys` or `st` NULL", "", "no counterpart", -EINVAL, 0,     \
	  h_get_stats(f))                                                                                              \
	X(mm_create_null_sys, "uhmm_mm_create", "`sys` NULL", "`-EINVAL`, `*out` untouched", "no counterpart",       \
	  -EINVAL, 0, h_mm_create(f, true))                                                                            \
	X(mm_create_null_out, "uhmm_mm_create", "`out` NULL", "", "no counterpart", -EINVAL, 0,                      \
	  h_mm_create(f, false))                                                                                       \
	X(fork_null_parent, "uhmm_mm_fork", "`parent` NULL", "`-EINVAL`, no child", "no counterpart", -EINVAL, 0,    \
	  h_fork(f, true))                                                                                             \
	X(fork_null_child, "uhmm_mm_fork", "`child` NULL", "", "no counterpart", -EINVAL, 0, h_fork(f, false))        \
	/* --------------------------------------------------------------------------- mmap */                      \
	X(mmap_null_mm, "uhmm_mmap", "`mm` NULL", "", "no counterpart", -EINVAL, 0,                                   \
	  uhmm_mmap(NULL, 0, PG, RW, PRIV, &f->out))                                                                   \
	X(mmap_len_zero, "uhmm_mmap", "length 0", "", E_SAME, -EINVAL, 0, uhmm_mmap(f->mm, 0, 0, RW, PRIV, &f->out)) \
	X(mmap_len_rounds_to_zero, "uhmm_mmap", "length `SIZE_MAX` (page-rounds to 0)", "", E_SAME, -ENOMEM, 0,       \
	  uhmm_mmap(f->mm, 0, SIZE_MAX, RW, PRIV, &f->out))                                                           \
	X(mmap_len_beyond_task_size, "uhmm_mmap", "length above the 47-bit user space", "", E_SAME, -ENOMEM, 0,      \
	  uhmm_mmap(f->mm, 0, TASK_TOP + PG, RW, PRIV, &f->out))                                                      \
	X(mmap_bad_prot, "uhmm_mmap", "unknown `PROT_*` bit", "",                                                     \
	  "ignored by `mmap` (only `mprotect` validates prot)", -EINVAL, 0,                                           \
	  uhmm_mmap(f->mm, 0, PG, RW | 0x100, PRIV, &f->out))                                                         \
	X(mmap_no_type, "uhmm_mmap", "neither `MAP_SHARED` nor `MAP_PRIVATE`", "", E_SAME, -EINVAL, 0,               \
	  uhmm_mmap(f->mm, 0, PG, RW, MAP_ANONYMOUS, &f->out))                                                        \
	X(mmap_not_anonymous, "uhmm_mmap", "no `MAP_ANONYMOUS` (there are no files)", "",                            \
	  "`-EBADF` (fd -1)", -EINVAL, 0, uhmm_mmap(f->mm, 0, PG, RW, MAP_PRIVATE, &f->out))                         \
	X(mmap_unknown_flag, "uhmm_mmap", "unknown `MAP_*` bit", "",                                                  \
	  "ignored unless `MAP_SHARED_VALIDATE` (`-EOPNOTSUPP`)", -EINVAL, 0,                                          \
	  uhmm_mmap(f->mm, 0, PG, RW, PRIV | 0x800000, &f->out))                                                     \
	X(mmap_fixed_misaligned, "uhmm_mmap", "`MAP_FIXED` at an unaligned address", "", E_SAME, -EINVAL, 0,         \
	  uhmm_mmap(f->mm, P(0) + 1, PG, RW, PRIV | MAP_FIXED, &f->out))                                              \
	X(mmap_fixed_wraps, "uhmm_mmap", "`MAP_FIXED` range wrapping past the top", "", E_SAME, -ENOMEM, 0,          \
	  uhmm_mmap(f->mm, -16 * PG, 32 * PG, RW, PRIV | MAP_FIXED, &f->out))                                         \
	X(mmap_fixed_beyond_task_size, "uhmm_mmap", "`MAP_FIXED` range ending above user space", "", E_SAME,         \
	  -ENOMEM, 0, uhmm_mmap(f->mm, TASK_TOP - PG, 2 * PG, RW, PRIV | MAP_FIXED, &f->out))                          \
	X(mmap_noreplace_over_mapping, "uhmm_mmap", "`MAP_FIXED_NOREPLACE` over a mapping", "", E_SAME, -EEXIST, 0,   \
	  uhmm_mmap(f->mm, P(6), 4 * PG, RW, PRIV | MAP_FIXED_NOREPLACE, &f->out))                                     \
	/* ------------------------------------------------------------------------- munmap */                      \
	X(munmap_misaligned, "uhmm_munmap", "unaligned address", "", E_SAME, -EINVAL, 0,                             \
	  uhmm_munmap(f->mm, P(0) + 8, PG))                                                                            \
	X(munmap_len_zero, "uhmm_munmap", "length 0", "", E_SAME, -EINVAL, 0, uhmm_munmap(f->mm, P(0), 0))           \
	X(munmap_wraps, "uhmm_munmap", "range wrapping past the top", "", E_SAME, -EINVAL, 0,                        \
	  uhmm_munmap(f->mm, P(0), -P(0)))                                                                             \
	X(munmap_hole, "uhmm_munmap", "a range with nothing mapped", "`0`, nothing changes", E_SAME, 0, 0,            \
	  uhmm_munmap(f->mm, P(24), 8 * PG))                                                                           \
	/* ----------------------------------------------------------------------- mprotect */                      \
	X(mprotect_misaligned, "uhmm_mprotect", "unaligned address", "", E_SAME, -EINVAL, 0,                         \
	  uhmm_mprotect(f->mm, P(0) + 1, PG, PROT_READ))                                                               \
	X(mprotect_bad_prot, "uhmm_mprotect", "unknown `PROT_*` bit", "", E_SAME, -EINVAL, 0,                        \
	  uhmm_mprotect(f->mm, P(0), PG, PROT_READ | 0x100))                                                           \
	X(mprotect_wraps, "uhmm_mprotect", "range wrapping past the top", "", E_SAME, -ENOMEM, 0,                    \
	  uhmm_mprotect(f->mm, P(0), -P(0), PROT_READ))                                                                \
	X(mprotect_hole, "uhmm_mprotect", "range with a hole", "`-ENOMEM`; nothing changes, not even before the hole", \
	  "`-ENOMEM`, but the VMAs before the hole keep the new protection", -ENOMEM, 0,                             \
	  uhmm_mprotect(f->mm, P(14), 8 * PG, PROT_READ))                                                              \
	X(mprotect_len_zero, "uhmm_mprotect", "length 0", "`0`, nothing changes", E_SAME, 0, 0,                       \
	  uhmm_mprotect(f->mm, P(0), 0, PROT_NONE))                                                                    \
	/* ------------------------------------------------------------------------ madvise */                      \
	X(madvise_unknown_advice, "uhmm_madvise", "unknown advice", "", E_SAME, -EINVAL, 0,                          \
	  uhmm_madvise(f->mm, P(0), PG, 12345))                                                                        \
	X(madvise_misaligned, "uhmm_madvise", "unaligned address", "", E_SAME, -EINVAL, 0,                           \
	  uhmm_madvise(f->mm, P(0) + 1, PG, MADV_DONTNEED))                                                            \
	X(madvise_wraps, "uhmm_madvise", "range wrapping past the top", "", E_SAME, -EINVAL, 0,                      \
	  uhmm_madvise(f->mm, P(0), -P(0) + PG, MADV_DONTNEED))                                                        \
	X(madvise_hole, "uhmm_madvise", "`MADV_DONTNEED` over a hole", "`-ENOMEM`; nothing is zapped",               \
	  "`-ENOMEM` after zapping the mapped parts", -ENOMEM, 0, uhmm_madvise(f->mm, P(14), 8 * PG, MADV_DONTNEED))  \
	/* ------------------------------------------------------------------------- mremap */                      \
	X(mremap_unknown_flag, "uhmm_mremap", "unknown `MREMAP_*` bit", "", E_SAME, -EINVAL, 0,                      \
	  uhmm_mremap(f->mm, P(0), PG, 2 * PG, 0x100, 0, &f->out))                                                    \
	X(mremap_fixed_without_maymove, "uhmm_mremap", "`MREMAP_FIXED` without `MREMAP_MAYMOVE`", "", E_SAME,        \
	  -EINVAL, 0, uhmm_mremap(f->mm, P(0), PG, PG, MREMAP_FIXED, P(26), &f->out))                                 \
	X(mremap_new_len_zero, "uhmm_mremap", "new length 0", "", E_SAME, -EINVAL, 0,                                \
	  uhmm_mremap(f->mm, P(0), PG, 0, MREMAP_MAYMOVE, 0, &f->out))                                                \
	X(mremap_old_unmapped, "uhmm_mremap", "old range not mapped", "", E_SAME, -EFAULT, 0,                        \
	  uhmm_mremap(f->mm, P(18), PG, 2 * PG, MREMAP_MAYMOVE, 0, &f->out))                                          \
	X(mremap_fixed_overlap, "uhmm_mremap", "`MREMAP_FIXED` target overlapping the source", "", E_SAME, -EINVAL,  \
	  0, uhmm_mremap(f->mm, P(0), 8 * PG, 8 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, P(4), &f->out))                  \
	X(mremap_grow_blocked, "uhmm_mremap", "grow in place into a mapping, no `MREMAP_MAYMOVE`", "", E_SAME,       \
	  -ENOMEM, 0, uhmm_mremap(f->mm, P(0), 8 * PG, 10 * PG, 0, 0, &f->out))                                       \
	/* --------------------------------------------------------------------- CPU access */                      \
	X(cpu_read_null_buf, "uhmm_cpu_read", "`buf` NULL, length > 0", "", "no counterpart (the kernel-side buffer)", \
	  -EINVAL, 0, uhmm_cpu_read(f->mm, P(0), NULL, 1))                                                             \
	X(cpu_read_len_zero, "uhmm_cpu_read", "length 0 (any `buf`)", "`0`, nothing changes", E_SAME, 0, 0,          \
	  uhmm_cpu_read(f->mm, P(18), NULL, 0))                                                                        \
	X(cpu_read_wraps, "uhmm_cpu_read", "range wrapping past the top", "`-EFAULT`, nothing copied",               \
	  "`-EFAULT` (`access_ok`)", -EFAULT, 0, h_read(f, -PG, 2 * PG))                                              \
	X(cpu_read_unmapped, "uhmm_cpu_read", "range reaching a hole", "`-EFAULT`, nothing copied",                   \
	  "`SIGSEGV` at the hole (bytes before it are copied)", -EFAULT, 0, h_read(f, P(16), 4 * PG))                 \
	X(cpu_write_readonly, "uhmm_cpu_write", "range reaching a read-only mapping", "`-EFAULT`, nothing written",   \
	  "`SIGSEGV` at the first read-only byte", -EFAULT, 0, h_write_span_ro(f))                                    \
	/* ------------------------------------------------------------------------ pinning */                      \
	X(pin_zero_pages, "uhmm_pin_user_pages", "0 pages", "", "returns 0 (nothing pinned)", -EINVAL, 0,            \
	  h_pin(f, P(0), 0, false, false))                                                                             \
	X(pin_null_array, "uhmm_pin_user_pages", "`pages` NULL", "", E_SAME " (`FOLL_PIN` needs `pages`)", -EINVAL, 0, \
	  h_pin(f, P(0), 1, false, true))                                                                              \
	X(pin_misaligned, "uhmm_pin_user_pages", "unaligned address", "", "rounds the address down", -EINVAL, 0,     \
	  h_pin(f, P(0) + 1, 1, false, false))                                                                         \
	X(pin_hole, "uhmm_pin_user_pages", "range reaching a hole", "`-EFAULT`, no page pinned",                     \
	  "the number pinned before the hole", -EFAULT, 0, h_pin(f, P(16), 4, false, false))                          \
	X(pin_write_readonly, "uhmm_pin_user_pages", "for write, on a read-only mapping", "`-EFAULT`, no page pinned",\
	  E_SAME, -EFAULT, 0, h_pin(f, P(12), 2, true, false))                                                        \
	/* ------------------------------------------------------------------- inspection */                        \
	X(query_pte_beyond_task_size, "uhmm_mm_query_pte", "address above user space", "", "no counterpart",        \
	  -EINVAL, 0, h_query_pte(f))                                                                                  \
	X(count_ptes_misaligned, "uhmm_mm_count_ptes", "unaligned start", "", "no counterpart", -EINVAL, 0,          \
	  h_count_ptes(f))                                                                                             \
	X(soft_dirty_unmapped, "uhmm_page_soft_dirty", "unmapped address", "", "`pagemap` reports 0", -EFAULT, 0,    \
	  uhmm_page_soft_dirty(f->mm, P(18)))                                                                          \
	/* ---------------------------------------------------------------------- notifiers */                      \
	X(register_null_sub, "uhmm_mmu_notifier_register", "`sub` NULL", "", "NULL dereference", -EINVAL, 0,         \
	  h_register(f, 1))                                                                                            \
	X(register_no_ops, "uhmm_mmu_notifier_register", "`sub->ops` NULL", "", "NULL dereference at the first event", \
	  -EINVAL, 0, h_register(f, 2))                                                                                \
	X(register_twice, "uhmm_mmu_notifier_register", "the same notifier twice (double insert)",                   \
	  "`-EINVAL`; registered once, called once per event", "list corruption", -EINVAL, OWN_EVENTS,              \
	  h_register_twice(f))   \
	X(insert_no_invalidate, "uhmm_mmu_interval_notifier_insert", "`ops->invalidate` NULL", "",                   \
	  "NULL dereference at the first event", -EINVAL, 0, h_insert(f, P(0), PG, &no_invalidate_ops))              \
	X(insert_null_ops, "uhmm_mmu_interval_notifier_insert", "`ops` NULL", "", "NULL dereference", -EINVAL, 0,     \
	  h_insert(f, P(0), PG, NULL))                                                                                 \
	X(insert_length_zero, "uhmm_mmu_interval_notifier_insert", "length 0", "", E_SAME, -EOVERFLOW, 0,            \
	  h_insert(f, P(0), 0, &counting_iops))                                                                        \
	X(insert_wraps, "uhmm_mmu_interval_notifier_insert", "range wrapping past the top", "", E_SAME, -EOVERFLOW,  \
	  0, h_insert(f, -PG, 2 * PG, &counting_iops))                                                                 \
	X(insert_twice, "uhmm_mmu_interval_notifier_insert", "the same notifier twice (double insert)",              \
	  "`-EINVAL`; in the tree once; after remove it inserts again", "interval-tree corruption", -EINVAL,         \
	  OWN_EVENTS, h_insert_twice(f))                                                                                           \
	/* -------------------------------------------------------------- hmm_range_fault */                        \
	X(range_fault_null_notifier, "uhmm_range_fault", "`range->notifier` NULL", "", "NULL dereference", -EINVAL,  \
	  0, h_range_fault(f, P(0), P(4), 0, RF_NULL_NOTIFIER))                                                       \
	X(range_fault_null_pfns, "uhmm_range_fault", "`range->hmm_pfns` NULL", "", "NULL dereference", -EINVAL, 0,   \
	  h_range_fault(f, P(0), P(4), 0, RF_NULL_PFNS))                                                              \
	X(range_fault_misaligned, "uhmm_range_fault", "unaligned start", "", "undefined (no check)", -EINVAL, 0,     \
	  h_range_fault(f, P(0) + 1, P(4), 0, RF_OK))                                                                 \
	X(range_fault_empty, "uhmm_range_fault", "`end <= start`", "", "undefined (no check)", -EINVAL, 0,           \
	  h_range_fault(f, P(4), P(4), 0, RF_OK))                                                                     \
	X(range_fault_beyond_task_size, "uhmm_range_fault", "range ending above user space", "", "`-EFAULT`",        \
	  -EINVAL, 0, h_range_fault(f, TASK_TOP - PG, TASK_TOP + PG, 0, RF_OK))                                       \
	X(range_fault_stale_seq, "uhmm_range_fault", "`notifier_seq` older than an invalidation",                    \
	  "`-EBUSY` (back to `read_begin`)", E_SAME, -EBUSY, OWN_EVENTS,                                              \
	  h_range_fault(f, P(0), P(4), UHMM_PFN_REQ_FAULT, RF_STALE))                                                 \
	X(range_fault_hole, "uhmm_range_fault", "`REQ_FAULT` on a hole", "", E_SAME, -EFAULT, 0,                     \
	  h_range_fault(f, P(18), P(20), UHMM_PFN_REQ_FAULT, RF_OK))                                                  \
	X(range_fault_write_readonly, "uhmm_range_fault", "`REQ_WRITE` on a read-only VMA", "", E_SAME, -EPERM, 0,   \
	  h_range_fault(f, P(12), P(14), UHMM_PFN_REQ_FAULT | UHMM_PFN_REQ_WRITE, RF_OK))                             \
	X(range_fault_removed_notifier, "uhmm_range_fault", "a notifier already removed", "",                        \
	  "use after free", -EINVAL, 0, h_range_fault(f, P(0), P(4), 0, RF_REMOVED))                                  \
	/* ---------------------------------------------------------------------- migrate */                        \
	X(migrate_null_args, "uhmm_migrate_vma_setup", "`args` NULL", "", "NULL dereference", -EINVAL, 0,           \
	  h_migrate(f, MV_NULL_ARGS))                                                                                  \
	X(migrate_null_vma, "uhmm_migrate_vma_setup", "`vma` NULL", "`-EINVAL`, `src`/`dst` untouched", E_SAME,      \
	  -EINVAL, 0, h_migrate(f, MV_NULL_VMA))                                                                       \
	X(migrate_null_src, "uhmm_migrate_vma_setup", "`src` missing", "`-EINVAL`, `dst` untouched", E_SAME,         \
	  -EINVAL, 0, h_migrate(f, MV_NULL_SRC))                                                                       \
	X(migrate_null_dst, "uhmm_migrate_vma_setup", "`dst` missing", "`-EINVAL`, `src` untouched", E_SAME,         \
	  -EINVAL, 0, h_migrate(f, MV_NULL_DST))                                                                       \
	X(migrate_outside_vma, "uhmm_migrate_vma_setup", "range running past the end of the VMA", "", E_SAME,        \
	  -EINVAL, 0, h_migrate(f, MV_OUTSIDE))                                                                        \
	X(migrate_other_vma, "uhmm_migrate_vma_setup", "a VMA that does not contain the range", "", E_SAME, -EINVAL, \
	  0, h_migrate(f, MV_OTHER_VMA))                                                                               \
	X(migrate_misaligned, "uhmm_migrate_vma_setup", "unaligned start", "", "rounds start down", -EINVAL, 0,      \
	  h_migrate(f, MV_MISALIGNED))                                                                                 \
	X(migrate_empty, "uhmm_migrate_vma_setup", "`end == start`", "", E_SAME, -EINVAL, 0, h_migrate(f, MV_EMPTY))  \
	X(migrate_fault_page_not_private, "uhmm_migrate_vma_setup", "`fault_page` not device-private", "", E_SAME,   \
	  -EINVAL, 0, h_migrate(f, MV_RAM_FAULT_PAGE))                                                                 \
	X(device_range_ram_pfn, "uhmm_migrate_device_range", "a RAM pfn", "", "no check: would migrate the RAM page",\
	  -EINVAL, 0, h_device_range(f, 0))                                                                            \
	X(device_range_zero_pages, "uhmm_migrate_device_range", "0 pages", "", "returns 0", -EINVAL, 0,             \
	  h_device_range(f, 1))                                                                                        \
	X(migrate_pfn_to_page_invalid, "uhmm_migrate_pfn_to_page / uhmm_pfn_to_page",                               \
	  "entry without `MIGRATE_PFN_VALID`; pfn of no frame", "NULL", "NULL / undefined", 0, 0,                    \
	  h_migrate_pfn_to_page(f))                                                                                    \
	/* --------------------------------------------------------------------- memremap */                       \
	X(memremap_zero_pages, "uhmm_memremap_pages", "0 pages", "", "`-EINVAL` (empty range)", -EINVAL, 0,         \
	  h_memremap(f, 0))                                                                                            \
	X(memremap_private_no_migrate_to_ram, "uhmm_memremap_pages", "private without `migrate_to_ram`", "",         \
	  "`WARN` + `-EINVAL`", -EINVAL, 0, h_memremap(f, 1))                                                         \
	X(memremap_no_owner, "uhmm_memremap_pages", "no `owner`", "", "`WARN` + `-EINVAL`", -EINVAL, 0,              \
	  h_memremap(f, 2))                                                                                            \
	X(memremap_unknown_type, "uhmm_memremap_pages", "unknown type", "", "`WARN` + `-EINVAL`", -EINVAL, 0,         \
	  h_memremap(f, 3))                                                                                            \
	X(memremap_type_zero, "uhmm_memremap_pages", "type 0 (uninitialised)", "", "`WARN` + `-EINVAL`", -EINVAL, 0, \
	  h_memremap(f, 4))                                                                                            \
	X(memremap_coherent_no_page_free, "uhmm_memremap_pages", "coherent without `page_free`", "",                \
	  "`WARN` + `-EINVAL`", -EINVAL, 0, h_memremap(f, 5))                                                         \
	/* ------------------------------------------------------------- device-exclusive */                        \
	X(exclusive_null_page, "uhmm_make_device_exclusive", "`pagep` NULL", "", "no counterpart", -EINVAL, 0,       \
	  h_exclusive(f, P(0), true))                                                                                  \
	X(exclusive_misaligned, "uhmm_make_device_exclusive", "unaligned address", "", "no counterpart", -EINVAL, 0, \
	  h_exclusive(f, P(0) + 1, false))                                                                             \
	X(exclusive_unmapped, "uhmm_make_device_exclusive", "unmapped address", "", "`-EFAULT` (GUP)", -EFAULT, 0,   \
	  h_exclusive(f, P(18), false))                                                                                \
	X(exclusive_readonly, "uhmm_make_device_exclusive", "read-only mapping", "", "`-EFAULT` (GUP for write)",     \
	  -EFAULT, 0, h_exclusive(f, P(12), false))                                                                    \
	X(exclusive_shared, "uhmm_make_device_exclusive", "shared (non-anonymous) mapping", "",                      \
	  "refused: anonymous memory only", -EINVAL, 0, h_exclusive(f, P(8), false))                                  \
	/* ---------------------------------------------------------------------- dmirror */                        \
	X(dmirror_create_null_sys, "uhmm_dmirror_device_create", "`sys` NULL", "`-EINVAL`, `*out` untouched",        \
	  "no counterpart", -EINVAL, 0, h_dm_create(f, 0))                                                            \
	X(dmirror_create_bad_type, "uhmm_dmirror_device_create", "unknown memory type", "`-EINVAL`, `*out` untouched",\
	  "module parameter rejected", -EINVAL, 0, h_dm_create(f, 1))                                                 \
	X(dmirror_create_tiny_memory, "uhmm_dmirror_device_create", "memory below one page",                         \
	  "`-EINVAL`, `*out` untouched", "no counterpart", -EINVAL, 0, h_dm_create(f, 2))                             \
	X(dmirror_open_null_dev, "uhmm_dmirror_open", "`dev` NULL", "`-EINVAL`, `*out` untouched", "no counterpart", \
	  -EINVAL, 0, h_dm_open(f, true))                                                                              \
	X(ioctl_null, "uhmm_dmirror_ioctl", "`dmirror` or `cmd` NULL", "", "`-EFAULT` (bad user pointer)", -EINVAL,  \
	  0, h_ioctl_null(f))                                                                                          \
	X(ioctl_unknown_request, "uhmm_dmirror_ioctl", "unknown request", "", "`-EINVAL`", -EINVAL, 0,               \
	  h_ioctl(f, 0x42, P(0), f->buf, 1))                                                                           \
	X(ioctl_misaligned, "uhmm_dmirror_ioctl", "unaligned `addr`", "`-EINVAL`; `cmd` unchanged", E_SAME, -EINVAL, \
	  0, h_ioctl(f, UHMM_DMIRROR_READ, P(0) + 8, f->buf, 1))                                                       \
	X(ioctl_npages_zero, "uhmm_dmirror_ioctl", "`npages` 0", "`-EINVAL`; `cmd` unchanged", E_SAME, -EINVAL, 0,   \
	  h_ioctl(f, UHMM_DMIRROR_READ, P(0), f->buf, 0))                                                              \
	X(ioctl_overflow, "uhmm_dmirror_ioctl", "`addr + npages` pages overflowing", "`-EINVAL`; `cmd` unchanged",   \
	  E_SAME, -EINVAL, 0, h_ioctl(f, UHMM_DMIRROR_READ, P(0), f->buf, ULONG_MAX / PG))                            \
	X(ioctl_read_null_ptr, "uhmm_dmirror_ioctl", "READ into `ptr` NULL", "`-EFAULT`; `cmd` unchanged",           \
	  "`-EFAULT` (`copy_to_user`)", -EFAULT, 0, h_ioctl(f, UHMM_DMIRROR_READ, P(0), NULL, 1))                    \
	X(ioctl_read_unmapped, "uhmm_dmirror_ioctl", "READ of a hole", "`-EFAULT`; buffer untouched", E_SAME,        \
	  -EFAULT, 0, h_ioctl(f, UHMM_DMIRROR_READ, P(18), f->buf, 2))                                                 \
	X(ioctl_write_readonly, "uhmm_dmirror_ioctl", "WRITE to a read-only mapping", "`-EPERM`", E_SAME, -EPERM, 0, \
	  h_ioctl(f, UHMM_DMIRROR_WRITE, P(12), f->buf, 2))                                                            \
	X(ioctl_migrate_unmapped, "uhmm_dmirror_ioctl", "MIGRATE_TO_DEV of a hole", "", E_SAME, -EINVAL, 0,          \
	  h_ioctl(f, UHMM_DMIRROR_MIGRATE_TO_DEV, P(18), f->buf, 2))                                                   \
	X(ioctl_migrate_to_sys_unmapped, "uhmm_dmirror_ioctl", "MIGRATE_TO_SYS of a hole", "", E_SAME, -EINVAL, 0,   \
	  h_ioctl(f, UHMM_DMIRROR_MIGRATE_TO_SYS, P(18), NULL, 2))                                                     \
	X(ioctl_exclusive_shared, "uhmm_dmirror_ioctl", "EXCLUSIVE on shared memory", "", "refused: anonymous only",  \
	  -EINVAL, 0, h_ioctl(f, UHMM_DMIRROR_EXCLUSIVE, P(8), f->buf, 1))                                             \
	X(ioctl_check_exclusive_held, "uhmm_dmirror_ioctl", "CHECK_EXCLUSIVE while the device holds a page atomic",  \
	  "`-EPERM` until the CPU takes it back", E_SAME, -EPERM, OWN_EVENTS, h_check_exclusive(f))                           \
	X(ioctl_after_release, "uhmm_dmirror_ioctl", "commands after RELEASE evicted the device",                    \
	  "`0`: the data is in RAM, READ sees it, MIGRATE_TO_SYS finds nothing", E_SAME, 0, MOVES,                  \
	  h_after_release(f))   \
	X(destroy_with_open_files, "uhmm_dmirror_device_destroy", "files still open; close/destroy of NULL",         \
	  "files closed with a warning on stderr; NULL is a no-op", "no counterpart (module unload)", 0, 0,          \
	  h_device_destroy_open_files(f))                                                                              \
	/* ------------------------------------------------- after the last uhmm_mm_put */                          \
	X(exited_get_not_zero, "uhmm_mm_get_not_zero", "after exit (and on NULL)", "`false`", "`mmget_not_zero`: false", \
	  0, EXITED, h_get_not_zero(f))                                                                                \
	X(exited_mmap, "uhmm_mmap", "after exit", "", "no counterpart (a dead process makes no calls)", -EINVAL,     \
	  EXITED, uhmm_mmap(f->mm, 0, PG, RW, PRIV, &f->out))                                                         \
	X(exited_fork, "uhmm_mm_fork", "after exit", "`-EINVAL`, no child", "no counterpart", -EINVAL, EXITED,        \
	  h_fork_exited(f))                                                                                            \
	X(exited_cpu_read, "uhmm_cpu_read", "after exit", "`-EFAULT`: nothing is mapped", "`access_remote_vm`: 0 bytes", \
	  -EFAULT, EXITED, h_read(f, P(0), PG))                                                                        \
	X(exited_interval_insert, "uhmm_mmu_interval_notifier_insert", "after exit", "", "`-EINVAL`", -EINVAL,       \
	  EXITED, h_exited_insert(f, false))                                                                           \
	X(exited_register, "uhmm_mmu_notifier_register", "after exit", "", "`-EINVAL` (`mmget_not_zero`)", -EINVAL,  \
	  EXITED, h_exited_insert(f, true))                                                                            \
	X(exited_range_fault, "uhmm_range_fault", "after exit, notifier still inserted", "`-EFAULT`: no VMA",         \
	  E_SAME, -EFAULT, EXITED, h_exited_read_begin_range_fault(f))                                                \
	X(exited_dmirror_open, "uhmm_dmirror_open", "on an exited address space", "", E_SAME, -EINVAL, EXITED,       \
	  h_dm_open(f, false))                                                                                         \
	X(exited_ioctl_read, "uhmm_dmirror_ioctl", "READ after the mm exited", "`-EFAULT`: no VMA",                   \
	  "loops forever (fault returns 0 without `mmget_not_zero`)", -EFAULT, EXITED,                               \
	  h_ioctl(f, UHMM_DMIRROR_READ, P(0), f->buf, 1))                                                              \
	X(exited_ioctl_migrate, "uhmm_dmirror_ioctl", "MIGRATE_TO_DEV after the mm exited", "", E_SAME, -EINVAL,     \
	  EXITED, h_ioctl(f, UHMM_DMIRROR_MIGRATE_TO_DEV, P(0), f->buf, 1))                                           \
	X(exited_ioctl_snapshot, "uhmm_dmirror_ioctl", "SNAPSHOT after the mm exited", "", E_SAME, -EINVAL, EXITED,  \
	  h_ioctl(f, UHMM_DMIRROR_SNAPSHOT, P(0), f->buf, 1))                                                          \
	X(exited_ioctl_exclusive, "uhmm_dmirror_ioctl", "EXCLUSIVE after the mm exited", "`-EFAULT`: no VMA",         \
	  "`-EINVAL` (`mmget_not_zero`)", -EFAULT, EXITED, h_ioctl(f, UHMM_DMIRROR_EXCLUSIVE, P(0), f->buf, 1))      \
	X(exited_ioctl_release, "uhmm_dmirror_ioctl", "RELEASE after the mm exited",                                 \
	  "`0`: nothing was left to evict; the device memory is unmapped", E_SAME, 0, EXITED | MOVES,               \
	  h_release_exited(f))                                                                                         \
	X(exited_classic_unregister, "uhmm_mmu_notifier_unregister", "after the mm's last put",                      \
	  "valid: `release()` was called once, at exit; the structure is freed", E_SAME, 0, 0,                       \
	  h_classic_after_exit(f))                                                                                     \
	X(exited_interval_remove, "uhmm_mmu_interval_notifier_remove", "after the mm's last put",                    \
	  "valid: RELEASE was seen at exit; the structure is freed", E_SAME, 0, 0, h_interval_after_exit(f))

struct row {
	const char *name, *call, *misuse, *outcome, *linux_;
	long want;
	unsigned flags;
	long (*fn)(struct fx *f);
};

#define X(nm, call, misuse, outcome, lx, want, fl, expr) \
	static long row_##nm(struct fx *f) { (void)f; return (long)(expr); }
ROWS(X)
#undef X

static const struct row rows[] = {
#define X(nm, call, misuse, outcome, lx, want, fl, expr) { #nm, call, misuse, outcome, lx, want, fl, row_##nm },
	ROWS(X)
#undef X
};
#define NROWS (sizeof(rows) / sizeof(rows[0]))

static void run_row(void **state)
{
	const struct row *row = *state;
	struct fx *f = malloc(sizeof(*f));
	struct snap *before = malloc(sizeof(*before)), *after = malloc(sizeof(*after));
	long r;

	assert_non_null(f);
	assert_non_null(before);
	assert_non_null(after);
	fx_init(f, row->flags);
	take(f, before);
	r = row->fn(f);
	if (r != row->want)
		fail_msg("%s: %s returned %ld, want %ld", row->name, row->call, r, row->want);
	if (row->want != 0 && f->out != 0x1234)
		fail_msg("%s: a failed call wrote its output", row->name);
	take(f, after);
	if (!(row->flags & MOVES))
		expect_same(before, after, row->name, !(row->flags & OWN_EVENTS));
	fx_fini(f);
	free(f);
	free(before);
	free(after);
}

/* -------------------------------------------------------------- catalogue */
static const char *errname(long e)
{
	static char buf[32];

	switch (e) {
	case 0: return "0";
	case -EINVAL: return "-EINVAL";
	case -ENOMEM: return "-ENOMEM";
	case -EFAULT: return "-EFAULT";
	case -EEXIST: return "-EEXIST";
	case -EPERM: return "-EPERM";
	case -EBUSY: return "-EBUSY";
	case -EOVERFLOW: return "-EOVERFLOW";
	}
	snprintf(buf, sizeof(buf), "%ld", e);
	return buf;
}

static void print_catalogue(void)
{
	for (size_t i = 0; i < NROWS; i++) {
		const struct row *r = &rows[i];
		const char *lx = strcmp(r->linux_, E_SAME) ? r->linux_ : NULL;

		printf("| %zu | `%s` | %s | ", i + 1, r->call, r->misuse);
		if (r->outcome[0])
			printf("%s", r->outcome);
		else
			printf("`%s`; nothing changes", errname(r->want));
		if (lx)
			printf(" | %s", lx);
		else
			printf(" | same: `%s`", errname(r->want));
		printf(" | `test_misuse.%s` |\n", r->name);
	}
}

int main(int argc, char **argv)
{
	struct CMUnitTest tests[NROWS];

	if (argc > 1 && strcmp(argv[1], "--catalogue") == 0) {
		print_catalogue();
		return 0;
	}
	for (size_t i = 0; i < NROWS; i++) {
		memset(&tests[i], 0, sizeof(tests[i]));
		tests[i].name = rows[i].name;
		tests[i].test_func = run_row;
		tests[i].initial_state = (void *)&rows[i];
	}
	return testdev_run("test_misuse", tests, NROWS, argc, argv);
}
