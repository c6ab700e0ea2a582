/* SPDX-License-Identifier: MIT */
/* tests/api/test_allocfail_all.c - allocation failure at every site of every public entry point that allocates.
 *
 * SQLite's malloc-failure loops and the kernel's failslab, applied to each
 * call on its own: for N = 1, 2, ... a fresh world is built (injection off),
 * then the call runs with the Nth internal allocation failing once
 * (transient) or failing from the Nth on (persistent; uhmm_fail_nth), until
 * a run reaches no injected failure. After every run, with injection off:
 *   - an error is the documented one (-ENOMEM; for dmirror commands what the
 *     driver documents: -ENOENT when pages stayed in RAM, partial cpages for
 *     MIGRATE_TO_SYS), and an error without an injected failure is a bug;
 *   - the address space reads back exactly what a shadow model says
 *     (contents, permissions, what is mapped) - or, for calls that Linux
 *     also leaves half done (mprotect over several VMAs, multi-page writes),
 *     a prefix of the pages changed and the rest did not;
 *   - a retry without failures succeeds and leaves the expected state;
 *   - after teardown only the zero page is in use, no device page is
 *     registered or in use (and ASan's leak checker sees no heap leak).
 * Then a realistic scenario touching all of the calls runs under the same
 * loops, and device-memory and RAM exhaustion are tested for real.
 * Usage: test_allocfail_all [--list | CASE_NAME].
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uhmm/dmirror.h>
#include <uhmm/uhmm.h>

#include "common/testdev.h"	/* testdev_run: the --list / case-name main */

#define PG UHMM_PAGE_SIZE
#define RW (PROT_READ | PROT_WRITE)
#define PRIV (MAP_PRIVATE | MAP_ANONYMOUS)
#define SHARED (MAP_SHARED | MAP_ANONYMOUS)
#define NOREPLACE MAP_FIXED_NOREPLACE
#define MAX_NTH 4000UL

/*
 * The universe the shadow covers: window 0, 32 pages at BASE, and window 1,
 * 8 pages at FAR, under another top-level page-table entry (so a first fault
 * there allocates every level of the page table).
 *
 *   W0  [0, 8)   PRIV   private RW, written (seed 11)
 *       [8, 12)  SHR    shared RW, written (seed 12)
 *       [12, 14) RO     private read-only, read (zero page)
 *       [14, 18) UNT    private RW, never touched
 *       [18, 20)        hole
 *       [20, 24) DEV    private RW, written (seed 13); on the device with W_DEV/W_COH
 *       [24, 26) ZERO   private RW, read (zero page)
 *       [26, 32)        hole
 *   W1  [32, 40)        unmapped (cases map what they need there)
 */
#define BASE 0x500000000UL
#define FAR (BASE + (1UL << 39))
#define NW0 32
#define NSH 40
#define I_FAR 32

static unsigned long va(int i)
{
	return i < NW0 ? BASE + (unsigned long)i * PG : FAR + (unsigned long)(i - NW0) * PG;
}

/* --------------------------------------------------------------- contents */
static unsigned char pat(unsigned seed, unsigned long a)
{
	uint64_t z;

	if (!seed)
		return 0;
	z = (uint64_t)a * 0x9e3779b97f4a7c15ULL + (uint64_t)seed * 0xbf58476d1ce4e5b9ULL;
	z ^= z >> 29;
	return (unsigned char)((z & 0x7f) | 0x80);
}

static void fill(unsigned char *buf, unsigned seed, unsigned long origin, size_t len)
{
	for (size_t b = 0; b < len; b++)
		buf[b] = pat(seed, origin + b);
}

static bool same(const unsigned char *buf, unsigned seed, unsigned long origin, size_t len)
{
	for (size_t b = 0; b < len; b++)
		if (buf[b] != pat(seed, origin + b))
			return false;
	return true;
}

/* ----------------------------------------------------------------- shadow */
struct spg {
	bool mapped, shared;
	int prot;
	unsigned seed;		/* 0: zero */
	unsigned long origin;	/* the address the data was written at (mremap moves data) */
};

struct shadow {
	struct spg p[NSH];
};

static void sh_map(struct shadow *s, int first, int n, int prot, bool shared)
{
	for (int i = first; i < first + n; i++)
		s->p[i] = (struct spg){ .mapped = true, .shared = shared, .prot = prot, .seed = 0, .origin = va(i) };
}

static void sh_unmap(struct shadow *s, int first, int n)
{
	for (int i = first; i < first + n; i++)
		memset(&s->p[i], 0, sizeof(s->p[i]));
}

static void sh_write(struct shadow *s, int first, int n, unsigned seed)
{
	for (int i = first; i < first + n; i++) {
		s->p[i].seed = seed;
		s->p[i].origin = va(i);
	}
}

static void sh_prot(struct shadow *s, int first, int n, int prot)
{
	for (int i = first; i < first + n; i++)
		s->p[i].prot = prot;
}

/* The VMA at @a (under the mmap read lock). */
static bool vma_at(struct uhmm_mm *mm, unsigned long a, struct uhmm_vma_info *vi)
{
	struct uhmm_vma *v;

	uhmm_mmap_read_lock(mm);
	v = uhmm_find_vma(mm, a);
	if (v)
		uhmm_vma_get_info(v, vi);
	uhmm_mmap_read_unlock(mm);
	return v != NULL;
}

static enum uhmm_pte_kind kind(struct uhmm_mm *mm, unsigned long a)
{
	struct uhmm_pte_info pi;

	assert_int_equal(uhmm_mm_query_pte(mm, a, &pi), 0);
	return pi.kind;
}

/* True if the entry at @a maps a device page (private entry, or a coherent page's PTE). */
static bool on_device(struct uhmm_mm *mm, unsigned long a)
{
	struct uhmm_pte_info pi;

	assert_int_equal(uhmm_mm_query_pte(mm, a, &pi), 0);
	if (pi.kind == UHMM_PTE_DEVICE_PRIVATE)
		return true;
	return pi.kind == UHMM_PTE_PRESENT && uhmm_is_zone_device_page(uhmm_pfn_to_page(uhmm_mm_system(mm), pi.pfn));
}

/* What page i holds now, read through the CPU. 0: readable; -EFAULT etc. otherwise. */
static int read_page(struct uhmm_mm *mm, int i, unsigned char *buf)
{
	return uhmm_cpu_read(mm, va(i), buf, PG);
}

/* The address space matches the shadow: what is mapped, how, and what it holds. */
#define check_mm(mm, sh) check_mm_(mm, sh, __FILE__, __LINE__)
static void check_mm_(struct uhmm_mm *mm, const struct shadow *sh, const char *file, int line)
{
	static unsigned char buf[PG];

	for (int i = 0; i < NSH; i++) {
		const struct spg *s = &sh->p[i];
		struct uhmm_vma_info vi;
		bool m = vma_at(mm, va(i), &vi);
		int r;

		if (m != s->mapped)
			fail_msg("%s:%d: page %d (%#lx): %s, shadow says %s", file, line, i, va(i),
				 m ? "mapped" : "unmapped", s->mapped ? "mapped" : "unmapped");
		if (!m) {
			r = read_page(mm, i, buf);
			if (r != -EFAULT)
				fail_msg("%s:%d: page %d: read of an unmapped page returned %d", file, line, i, r);
			continue;
		}
		if (vi.prot != s->prot || (vi.flags == MAP_SHARED) != s->shared)
			fail_msg("%s:%d: page %d: prot %d shared %d, shadow prot %d shared %d", file, line, i, vi.prot,
				 vi.flags == MAP_SHARED, s->prot, s->shared);
		if (!(vi.prot & PROT_READ))
			continue;
		r = read_page(mm, i, buf);
		if (r)
			fail_msg("%s:%d: page %d: read returned %d", file, line, i, r);
		if (!same(buf, s->seed, s->origin, PG))
			fail_msg("%s:%d: page %d (%#lx): contents differ from seed %u origin %#lx (byte 0: %#x)", file,
				 line, i, va(i), s->seed, s->origin, buf[0]);
	}
}

/*
 * A write of seed @seed to pages [first, first + n) failed part way (the
 * calls copy page by page, in address order, as Linux's copy_to_user and
 * dmirror do): a prefix of the pages holds the new data, the rest the old.
 * Record what happened in the shadow.
 */
static void settle_prefix(struct uhmm_mm *mm, struct shadow *sh, int first, int n, unsigned seed)
{
	static unsigned char buf[PG];
	bool changed = true;

	for (int i = first; i < first + n; i++) {
		assert_int_equal(read_page(mm, i, buf), 0);
		if (changed && same(buf, seed, va(i), PG)) {
			sh_write(sh, i, 1, seed);
			continue;
		}
		changed = false;
		if (!same(buf, sh->p[i].seed, sh->p[i].origin, PG))
			fail_msg("page %d after a failed write: neither the new data nor the old, or not a prefix", i);
	}
}

/* --------------------------------------------------------------- the world */
enum {
	W_BARE = 1 << 0,	/* a system and an address space, nothing mapped */
	W_DEV = 1 << 1,		/* a device-private dmirror device and a file; DEV on it */
	W_COH = 1 << 2,		/* the same with device-coherent memory */
};

struct world {
	unsigned flags;
	bool persistent;
	unsigned long nth;
	struct uhmm_system *sys;
	struct uhmm_mm *mm;
	struct shadow sh;
	struct uhmm_dmirror_device *dev;
	struct uhmm_dmirror *dm;

	/* what the call under test creates, for the checks and the teardown */
	struct uhmm_system *sys2;
	struct uhmm_mm *mm2;
	struct shadow sh2;
	struct uhmm_dmirror_device *dev2;
	struct uhmm_dmirror *dm2;
	struct uhmm_mmu_notifier cn;
	bool cn_on;
	struct uhmm_mmu_interval_notifier in;
	bool in_on;
	atomic_ulong callbacks;
	struct uhmm_dev_pagemap pgmap;
	bool pgmap_on;
	struct uhmm_page *pages[16];
	unsigned long npinned;
	struct uhmm_page *xpage;	/* make_device_exclusive's page, locked and referenced */
	unsigned long pfns[16];
	struct uhmm_dmirror_cmd cmd;
	unsigned char *buf, *buf2;	/* 16 pages each */
	unsigned long out;
	/* a multi-page write that may have failed part way */
	int pend_first, pend_n;
	unsigned pend_seed;
	int step;			/* sub-call of the op that failed */
	bool rescued;			/* persistent injection ended by the rescuer (NOFAIL eviction) */
};

static const struct uhmm_mmu_notifier_ops cn_ops;
static const struct uhmm_mmu_interval_notifier_ops in_ops;

static void wr(struct uhmm_mm *mm, struct shadow *sh, int first, int n, unsigned seed)
{
	unsigned char *b = malloc((size_t)n * PG);

	assert_non_null(b);
	for (int i = 0; i < n; i++)
		fill(b + (size_t)i * PG, seed, va(first + i), PG);
	assert_int_equal(uhmm_cpu_write(mm, va(first), b, (size_t)n * PG), 0);
	free(b);
	if (sh)
		sh_write(sh, first, n, seed);
}

static void mapf(struct world *w, int first, int n, int prot, int flags)
{
	unsigned long out = 0;

	assert_int_equal(uhmm_mmap(w->mm, va(first), (size_t)n * PG, prot, flags | NOREPLACE, &out), 0);
	assert_int_equal(out, va(first));
	sh_map(&w->sh, first, n, prot, flags & MAP_SHARED);
}

static int dmcmd(struct uhmm_dmirror *dm, unsigned req, int first, int n, void *ptr, struct uhmm_dmirror_cmd *out)
{
	struct uhmm_dmirror_cmd c = { .addr = va(first), .ptr = ptr, .npages = (unsigned long)n };
	int r = uhmm_dmirror_ioctl(dm, req, &c);

	if (out)
		*out = c;
	return r;
}

static void world_init(struct world *w, unsigned flags)
{
	struct uhmm_system_opts so = { .ram_bytes = 8UL << 20 };
	unsigned char b[PG];

	memset(w, 0, sizeof(*w));
	w->flags = flags;
	w->buf = malloc(16 * PG);
	w->buf2 = malloc(16 * PG);
	assert_non_null(w->buf);
	assert_non_null(w->buf2);
	memset(w->buf, 0xee, 16 * PG);
	memset(w->buf2, 0xee, 16 * PG);
	assert_int_equal(uhmm_system_create(&so, &w->sys), 0);
	assert_int_equal(uhmm_mm_create(w->sys, &w->mm), 0);
	if (flags & W_BARE)
		return;
	mapf(w, 0, 8, RW, PRIV);
	wr(w->mm, &w->sh, 0, 8, 11);
	mapf(w, 8, 4, RW, SHARED);
	wr(w->mm, &w->sh, 8, 4, 12);
	mapf(w, 12, 2, PROT_READ, PRIV);
	assert_int_equal(uhmm_cpu_read(w->mm, va(12), b, PG), 0);
	assert_int_equal(uhmm_cpu_read(w->mm, va(13), b, PG), 0);
	mapf(w, 14, 4, RW, PRIV);
	mapf(w, 20, 4, RW, PRIV);
	wr(w->mm, &w->sh, 20, 4, 13);
	mapf(w, 24, 2, RW, PRIV);
	assert_int_equal(uhmm_cpu_read(w->mm, va(24), b, PG), 0);
	assert_int_equal(uhmm_cpu_read(w->mm, va(25), b, PG), 0);
	if (flags & (W_DEV | W_COH)) {
		struct uhmm_dmirror_device_opts o = {
			.type = flags & W_COH ? UHMM_MEMORY_DEVICE_COHERENT : UHMM_MEMORY_DEVICE_PRIVATE,
			.memory_bytes = 64 * PG, .chunk_bytes = 16 * PG,
		};

		assert_int_equal(uhmm_dmirror_device_create(w->sys, &o, &w->dev), 0);
		assert_int_equal(uhmm_dmirror_open(w->dev, w->mm, &w->dm), 0);
		assert_int_equal(dmcmd(w->dm, UHMM_DMIRROR_MIGRATE_TO_DEV, 20, 4, w->buf, NULL), 0);
		for (int i = 20; i < 24; i++)
			assert_true(on_device(w->mm, va(i)));
		memset(w->buf, 0xee, 16 * PG);
	}
}

#define assert_no_leaks(sys) assert_no_leaks_(sys, __FILE__, __LINE__)
static void assert_no_leaks_(struct uhmm_system *sys, const char *file, int line)
{
	struct uhmm_system_stats st;

	assert_int_equal(uhmm_system_get_stats(sys, &st), 0);
	if (st.used_pages != 1 || st.device_pages != 0 || st.device_pages_used != 0)
		fail_msg("%s:%d: leak: used_pages %lu (want 1), device_pages %lu, device_pages_used %lu", file, line,
			 st.used_pages, st.device_pages, st.device_pages_used);
}

static void world_fini(struct world *w)
{
	if (w->xpage) {
		uhmm_unlock_page(w->xpage);
		uhmm_put_page(w->xpage);
	}
	if (w->npinned)
		uhmm_unpin_user_pages(w->pages, w->npinned);
	if (w->dm2)
		uhmm_dmirror_close(w->dm2);
	if (w->dm)
		uhmm_dmirror_close(w->dm);
	if (w->mm2)
		uhmm_mm_put(w->mm2);
	uhmm_mm_put(w->mm);
	if (w->cn_on)
		uhmm_mmu_notifier_unregister(&w->cn, w->mm);
	if (w->in_on)
		uhmm_mmu_interval_notifier_remove(&w->in);
	if (w->dev2)
		uhmm_dmirror_device_destroy(w->dev2);
	if (w->dev)
		uhmm_dmirror_device_destroy(w->dev);
	if (w->pgmap_on)
		uhmm_memunmap_pages(&w->pgmap);
	assert_no_leaks(w->sys);
	uhmm_system_destroy(w->sys);
	if (w->sys2) {
		assert_no_leaks(w->sys2);
		uhmm_system_destroy(w->sys2);
	}
	free(w->buf);
	free(w->buf2);
}

/* ----------------------------------------------------- notifier callbacks */
static int cn_start(struct uhmm_mmu_notifier *sub, const struct uhmm_mmu_notifier_range *range)
{
	struct world *w = (struct world *)((char *)sub - offsetof(struct world, cn));

	(void)range;
	atomic_fetch_add(&w->callbacks, 1);
	return 0;
}

static const struct uhmm_mmu_notifier_ops cn_ops = { .invalidate_range_start = cn_start };

static bool in_invalidate(struct uhmm_mmu_interval_notifier *sub, const struct uhmm_mmu_notifier_range *range,
			  unsigned long cur_seq)
{
	struct world *w = (struct world *)((char *)sub - offsetof(struct world, in));

	(void)range;
	/* single-threaded test: the "driver lock" is not needed for set_seq */
	uhmm_mmu_interval_set_seq(sub, cur_seq);
	atomic_fetch_add(&w->callbacks, 1);
	return true;
}

static const struct uhmm_mmu_interval_notifier_ops in_ops = { .invalidate = in_invalidate };

/* ------------------------------------------------------------- the loop */
struct af_case {
	const char *name;
	unsigned flags;
	void (*prep)(struct world *w);		/* more setup, injection off */
	int (*op)(struct world *w);		/* the call(s) under test */
	int errs[3];				/* documented errors besides 0 (0-terminated) */
	void (*failed)(struct world *w, int r);	/* after an error; NULL: nothing changed */
	void (*done)(struct world *w, bool hit);/* after success: the effect, then release it */
	bool no_alloc;				/* the call allocates nothing (N = 1 succeeds) */
};

static bool allowed(const struct af_case *c, int r)
{
	for (int i = 0; i < 3 && c->errs[i]; i++)
		if (c->errs[i] == r)
			return true;
	return false;
}

static void af_run(const struct af_case *c, bool persistent)
{
	unsigned long n;

	for (n = 1; n <= MAX_NTH; n++) {
		struct world *w = malloc(sizeof(*w));
		bool hit;
		int r;

		assert_non_null(w);
		world_init(w, c->flags);
		w->persistent = persistent;
		w->nth = n;
		if (c->prep)
			c->prep(w);
		uhmm_fail_nth(n, persistent);
		r = c->op(w);
		hit = uhmm_fail_count() >= n || w->rescued;
		uhmm_fail_nth(0, 0);
		if (r) {
			if (!hit)
				fail_msg("%s N=%lu: returned %d without an injected failure", c->name, n, r);
			if (!allowed(c, r))
				fail_msg("%s N=%lu %s: returned %d, not a documented error", c->name, n,
					 persistent ? "persistent" : "transient", r);
			if (c->failed)
				c->failed(w, r);
			else
				check_mm(w->mm, &w->sh);
			r = c->op(w);
			if (r)
				fail_msg("%s N=%lu: retry without failures returned %d", c->name, n, r);
		}
		c->done(w, hit);
		world_fini(w);
		free(w);
		if (!hit)
			break;
	}
	if (n > MAX_NTH)
		fail_msg("%s: still failing after %lu allocations", c->name, MAX_NTH);
	if (c->no_alloc)
		assert_int_equal(n, 1);
	else if (n < 2)
		fail_msg("%s: no allocation reached: the case tests nothing", c->name);
	print_message("%s (%s): %lu allocation sites\n", c->name, persistent ? "persistent" : "transient", n - 1);
}

/* ====================================================================== cases */

/* ---------------------------------------------------------- system, mm */
static int op_system_create(struct world *w)
{
	struct uhmm_system_opts o = { .ram_bytes = 1UL << 20 };

	return uhmm_system_create(&o, &w->sys2);
}

static void failed_system_create(struct world *w, int r)
{
	(void)r;
	assert_null(w->sys2);
}

static void done_system_create(struct world *w, bool hit)
{
	(void)hit;
	assert_non_null(w->sys2);
	assert_no_leaks(w->sys2);	/* world_fini destroys it */
}

static int op_mm_create(struct world *w)
{
	return uhmm_mm_create(w->sys, &w->mm2);
}

static void failed_mm_create(struct world *w, int r)
{
	(void)r;
	assert_null(w->mm2);
}

static void done_mm_create(struct world *w, bool hit)
{
	unsigned long a;

	(void)hit;
	assert_int_equal(uhmm_mmap(w->mm2, 0, PG, RW, PRIV, &a), 0);
	assert_int_equal(uhmm_cpu_write(w->mm2, a, "x", 1), 0);
}

/* ------------------------------------------------------------------ mmap */
static int op_mmap_private(struct world *w)
{
	return uhmm_mmap(w->mm, va(I_FAR), 4 * PG, RW, PRIV | NOREPLACE, &w->out);
}

static int op_mmap_shared(struct world *w)
{
	return uhmm_mmap(w->mm, va(I_FAR), 4 * PG, RW, SHARED | NOREPLACE, &w->out);
}

static void done_mmap(struct world *w, bool shared)
{
	assert_int_equal(w->out, va(I_FAR));
	sh_map(&w->sh, I_FAR, 4, RW, shared);
	check_mm(w->mm, &w->sh);
	wr(w->mm, &w->sh, I_FAR, 4, 21);
	check_mm(w->mm, &w->sh);
}

static void done_mmap_private(struct world *w, bool hit) { (void)hit; done_mmap(w, false); }
static void done_mmap_shared(struct world *w, bool hit) { (void)hit; done_mmap(w, true); }

/* No hint, no MAP_FIXED: the address comes from the top-down search. */
static int op_mmap_anywhere(struct world *w)
{
	w->out = 0;
	return uhmm_mmap(w->mm, 0, 3 * PG, RW, PRIV, &w->out);
}

static void done_mmap_anywhere(struct world *w, bool hit)
{
	unsigned char b[PG];

	(void)hit;
	assert_int_not_equal(w->out, 0);
	assert_int_equal(uhmm_cpu_read(w->mm, w->out + 2 * PG, b, PG), 0);
	assert_int_equal(b[0], 0);
	assert_int_equal(uhmm_munmap(w->mm, w->out, 3 * PG), 0);
	check_mm(w->mm, &w->sh);
}

/* MAP_FIXED over the middle of PRIV: two splits and a zap before the new VMA goes in. */
static int op_mmap_fixed_replace(struct world *w)
{
	return uhmm_mmap(w->mm, va(2), 4 * PG, RW, SHARED | MAP_FIXED, &w->out);
}

static void done_mmap_fixed_replace(struct world *w, bool hit)
{
	(void)hit;
	sh_map(&w->sh, 2, 4, RW, true);
	check_mm(w->mm, &w->sh);
	wr(w->mm, &w->sh, 2, 4, 22);
	check_mm(w->mm, &w->sh);
}

/* ------------------------------------------------------------- CPU access */
/* Sub-writes: (first page, pages, seed), run in order; each updates the shadow when it succeeds. */
struct subwrite {
	int first, n;
	unsigned seed;
};

static const struct subwrite cpu_writes[] = {
	{ 3, 1, 61 },		/* present and writable: no allocation */
	{ 14, 4, 62 },		/* never touched: anon family, four pages */
	{ 24, 1, 63 },		/* the zero page: COW to a new page */
	{ 21, 1, 64 },		/* on the device: migrate_to_ram, then the write */
	{ I_FAR, 1, 65 },	/* a new top-level region: every page-table level */
	{ I_FAR + 4, 2, 66 },	/* shared, untouched: shmem pages */
	{ 9, 1, 67 },		/* shared, present: no allocation */
};

static void prep_cpu_write(struct world *w)
{
	mapf(w, I_FAR, 2, RW, PRIV);
	mapf(w, I_FAR + 4, 2, RW, SHARED);
}

static int op_cpu_write(struct world *w)
{
	for (size_t k = 0; k < sizeof(cpu_writes) / sizeof(cpu_writes[0]); k++) {
		const struct subwrite *s = &cpu_writes[k];
		unsigned char *b = malloc((size_t)s->n * PG);
		int r;

		assert_non_null(b);
		for (int i = 0; i < s->n; i++)
			fill(b + (size_t)i * PG, s->seed, va(s->first + i), PG);
		r = uhmm_cpu_write(w->mm, va(s->first), b, (size_t)s->n * PG);
		free(b);
		if (r) {
			w->pend_first = s->first;
			w->pend_n = s->n;
			w->pend_seed = s->seed;
			return r;
		}
		sh_write(&w->sh, s->first, s->n, s->seed);
	}
	return 0;
}

static void failed_cpu_write(struct world *w, int r)
{
	(void)r;
	settle_prefix(w->mm, &w->sh, w->pend_first, w->pend_n, w->pend_seed);
	check_mm(w->mm, &w->sh);
}

static void done_check(struct world *w, bool hit)
{
	(void)hit;
	check_mm(w->mm, &w->sh);
}

/* Reads that bring device pages back (migrate_to_ram allocates the RAM page). */
static int op_cpu_read_dev(struct world *w)
{
	for (int i = 20; i < 24; i++) {
		int r = read_page(w->mm, i, w->buf + (size_t)(i - 20) * PG);

		if (r) {
			w->step = i;
			return r;
		}
	}
	return 0;
}

static void failed_cpu_read_dev(struct world *w, int r)
{
	(void)r;
	/* the page whose fault failed stayed on the device, unharmed */
	assert_int_equal(kind(w->mm, va(w->step)), UHMM_PTE_DEVICE_PRIVATE);
	check_mm(w->mm, &w->sh);
}

static void done_cpu_read_dev(struct world *w, bool hit)
{
	(void)hit;
	for (int i = 20; i < 24; i++) {
		assert_true(same(w->buf + (size_t)(i - 20) * PG, 13, va(i), PG));
		assert_int_equal(kind(w->mm, va(i)), UHMM_PTE_PRESENT);
	}
	check_mm(w->mm, &w->sh);
}

/* ------------------------------------------------------------------- fork */
/* A parent with a pinned page, an exclusive entry, device pages, shmem and a far region. */
static void prep_fork(struct world *w)
{
	mapf(w, I_FAR, 4, RW, PRIV);
	wr(w->mm, &w->sh, I_FAR, 4, 31);
	assert_int_equal(uhmm_pin_user_pages(w->mm, va(0), 1, true, w->pages), 0);
	w->npinned = 1;
	assert_int_equal(dmcmd(w->dm, UHMM_DMIRROR_EXCLUSIVE, 6, 1, w->buf, NULL), 0);
	assert_int_equal(kind(w->mm, va(6)), UHMM_PTE_DEVICE_EXCLUSIVE);
}

static int op_fork(struct world *w)
{
	return uhmm_mm_fork(w->mm, &w->mm2);
}

static void failed_fork(struct world *w, int r)
{
	(void)r;
	assert_null(w->mm2);
	check_mm(w->mm, &w->sh);
}

static void done_fork(struct world *w, bool hit)
{
	(void)hit;
	assert_non_null(w->mm2);
	w->sh2 = w->sh;
	check_mm(w->mm2, &w->sh2);
	check_mm(w->mm, &w->sh);
	/* copy-on-write both ways; shared memory shared */
	wr(w->mm2, &w->sh2, 0, 2, 32);
	wr(w->mm, &w->sh, 20, 1, 33);
	wr(w->mm2, &w->sh2, 8, 1, 34);
	sh_write(&w->sh, 8, 1, 34);
	check_mm(w->mm2, &w->sh2);
	check_mm(w->mm, &w->sh);
}

/* ---------------------------------------------------- mprotect, munmap */
/* [4, 10): the back of PRIV and the front of SHR, each needing a split. */
static int op_mprotect(struct world *w)
{
	return uhmm_mprotect(w->mm, va(4), 6 * PG, PROT_READ);
}

/* As Linux, VMAs before the one whose split failed keep the new protection. */
static void failed_mprotect(struct world *w, int r)
{
	bool changed = true;

	(void)r;
	for (int i = 4; i < 10; i++) {
		struct uhmm_vma_info vi;

		assert_true(vma_at(w->mm, va(i), &vi));
		if (changed && vi.prot == PROT_READ) {
			sh_prot(&w->sh, i, 1, PROT_READ);
			continue;
		}
		changed = false;
		assert_int_equal(vi.prot, RW);
	}
	check_mm(w->mm, &w->sh);
}

static void done_mprotect(struct world *w, bool hit)
{
	(void)hit;
	sh_prot(&w->sh, 4, 6, PROT_READ);
	check_mm(w->mm, &w->sh);
	assert_int_equal(uhmm_cpu_write(w->mm, va(5), "x", 1), -EFAULT);
	wr(w->mm, &w->sh, 3, 1, 35);
	wr(w->mm, &w->sh, 10, 1, 36);
	check_mm(w->mm, &w->sh);
}

static int op_munmap_middle(struct world *w)
{
	return uhmm_munmap(w->mm, va(2), 4 * PG);
}

static void done_munmap_middle(struct world *w, bool hit)
{
	(void)hit;
	sh_unmap(&w->sh, 2, 4);
	check_mm(w->mm, &w->sh);
}

static int op_munmap_across(struct world *w)
{
	return uhmm_munmap(w->mm, va(6), 4 * PG);
}

static void done_munmap_across(struct world *w, bool hit)
{
	(void)hit;
	sh_unmap(&w->sh, 6, 4);
	check_mm(w->mm, &w->sh);
}

/* ---------------------------------------------------------------- mremap */
/* All of PRIV to the far window: page tables there, a new VMA, then the old one goes. */
static int op_mremap_move(struct world *w)
{
	return uhmm_mremap(w->mm, va(0), 8 * PG, 8 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, va(I_FAR), &w->out);
}

static void sh_move(struct shadow *s, int from, int to, int n)
{
	struct spg tmp[NSH];

	memcpy(tmp, s->p, sizeof(tmp));
	sh_unmap(s, from, n);
	for (int i = 0; i < n; i++)
		s->p[to + i] = tmp[from + i];
}

static void done_mremap_move(struct world *w, bool hit)
{
	(void)hit;
	assert_int_equal(w->out, va(I_FAR));
	sh_move(&w->sh, 0, I_FAR, 8);
	check_mm(w->mm, &w->sh);
}

static int op_mremap_shrink(struct world *w)
{
	return uhmm_mremap(w->mm, va(0), 8 * PG, 3 * PG, 0, 0, &w->out);
}

static void done_mremap_shrink(struct world *w, bool hit)
{
	(void)hit;
	sh_unmap(&w->sh, 3, 5);
	check_mm(w->mm, &w->sh);
}

/* A shared mapping grows in place: the shmem object's page array grows. */
static void prep_mremap_grow_shared(struct world *w)
{
	mapf(w, I_FAR, 2, RW, SHARED);
	wr(w->mm, &w->sh, I_FAR, 2, 37);
}

static int op_mremap_grow_shared(struct world *w)
{
	return uhmm_mremap(w->mm, va(I_FAR), 2 * PG, 6 * PG, 0, 0, &w->out);
}

static void done_mremap_grow_shared(struct world *w, bool hit)
{
	(void)hit;
	sh_map(&w->sh, I_FAR + 2, 4, RW, true);
	check_mm(w->mm, &w->sh);
	wr(w->mm, &w->sh, I_FAR + 5, 1, 38);
	check_mm(w->mm, &w->sh);
}

/*
 * Part of a VMA moves: its unmap after the move needs two splits. Linux
 * (move_vma) ignores a failure there ("OOM: unable to split vma, just get
 * accounts right") and returns success with the old range still mapped and
 * empty; uhmm does the same (and warns).
 */
static int op_mremap_part(struct world *w)
{
	return uhmm_mremap(w->mm, va(2), 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, va(I_FAR), &w->out);
}

static void done_mremap_part(struct world *w, bool hit)
{
	struct uhmm_vma_info vi;

	sh_move(&w->sh, 2, I_FAR, 2);
	if (vma_at(w->mm, va(2), &vi)) {
		assert_true(hit);	/* only an allocation failure leaves it */
		sh_map(&w->sh, 2, 2, RW, false);
	}
	check_mm(w->mm, &w->sh);
}

/* --------------------------------------------------------------- madvise */
static int op_madvise(struct world *w)
{
	return uhmm_madvise(w->mm, va(0), 12 * PG, MADV_DONTNEED);
}

static void done_madvise(struct world *w, bool hit)
{
	(void)hit;
	sh_write(&w->sh, 0, 8, 0);	/* private: zero; shared keeps its contents */
	check_mm(w->mm, &w->sh);
}

/* ------------------------------------------------------------- notifiers */
static int op_register(struct world *w)
{
	memset(&w->cn, 0, sizeof(w->cn));
	w->cn.ops = &cn_ops;
	return uhmm_mmu_notifier_register(&w->cn, w->mm);
}

static void failed_notifier(struct world *w, int r)
{
	(void)r;
	assert_int_equal(uhmm_munmap(w->mm, va(0), PG), 0);	/* nobody is told */
	sh_unmap(&w->sh, 0, 1);
	assert_int_equal(atomic_load(&w->callbacks), 0);
	check_mm(w->mm, &w->sh);
}

static void done_register(struct world *w, bool hit)
{
	(void)hit;
	w->cn_on = true;
	assert_int_equal(uhmm_munmap(w->mm, va(1), PG), 0);
	sh_unmap(&w->sh, 1, 1);
	assert_int_equal(atomic_load(&w->callbacks), 1);
	check_mm(w->mm, &w->sh);
}

static int op_interval_insert(struct world *w)
{
	memset(&w->in, 0, sizeof(w->in));
	return uhmm_mmu_interval_notifier_insert(&w->in, w->mm, va(0), 8 * PG, &in_ops);
}

static void done_interval_insert(struct world *w, bool hit)
{
	(void)hit;
	w->in_on = true;
	assert_int_equal(uhmm_munmap(w->mm, va(1), PG), 0);
	sh_unmap(&w->sh, 1, 1);
	assert_int_equal(atomic_load(&w->callbacks), 1);
	check_mm(w->mm, &w->sh);
}

/* -------------------------------------------------------------- memremap */
static void pgmap_free(struct uhmm_page *page) { (void)page; }
static int pgmap_migrate_to_ram(struct uhmm_vm_fault *vmf) { (void)vmf; return -EFAULT; }
static const struct uhmm_dev_pagemap_ops pgmap_ops = { .page_free = pgmap_free,
						       .migrate_to_ram = pgmap_migrate_to_ram };

static int op_memremap(struct world *w, enum uhmm_memory_type type)
{
	memset(&w->pgmap, 0, sizeof(w->pgmap));
	w->pgmap.type = type;
	w->pgmap.ops = &pgmap_ops;
	w->pgmap.owner = w;
	w->pgmap.nr_pages = 64;
	return uhmm_memremap_pages(w->sys, &w->pgmap);
}

static int op_memremap_private(struct world *w) { return op_memremap(w, UHMM_MEMORY_DEVICE_PRIVATE); }
static int op_memremap_coherent(struct world *w) { return op_memremap(w, UHMM_MEMORY_DEVICE_COHERENT); }

static void failed_memremap(struct world *w, int r)
{
	struct uhmm_system_stats st;

	(void)r;
	assert_null(w->pgmap.priv_);
	assert_int_equal(uhmm_system_get_stats(w->sys, &st), 0);
	assert_int_equal(st.device_pages, 0);
}

static void done_memremap(struct world *w, bool hit)
{
	struct uhmm_system_stats st;
	struct uhmm_page *p;

	(void)hit;
	assert_int_equal(uhmm_system_get_stats(w->sys, &st), 0);
	assert_int_equal(st.device_pages, 64);
	p = uhmm_pfn_to_page(w->sys, w->pgmap.pfn_first + 63);
	assert_non_null(p);
	assert_ptr_equal(uhmm_page_pgmap(p), &w->pgmap);
	uhmm_memunmap_pages(&w->pgmap);
}

/* ------------------------------------------------------------------- pin */
static int op_pin(struct world *w)
{
	memset(w->pages, 0, sizeof(w->pages));
	return uhmm_pin_user_pages(w->mm, va(14), 4, true, w->pages);
}

static void failed_pin(struct world *w, int r)
{
	(void)r;
	/* nothing stays pinned: every faulted page is held by its mapping alone */
	for (int i = 14; i < 18; i++) {
		struct uhmm_pte_info pi;

		assert_int_equal(uhmm_mm_query_pte(w->mm, va(i), &pi), 0);
		if (pi.kind == UHMM_PTE_PRESENT)
			assert_int_equal(pi.refcount, pi.mapcount);
	}
	check_mm(w->mm, &w->sh);
}

static void done_pin(struct world *w, bool hit)
{
	(void)hit;
	for (int i = 14; i < 18; i++) {
		struct uhmm_pte_info pi;

		assert_int_equal(uhmm_mm_query_pte(w->mm, va(i), &pi), 0);
		assert_int_equal(pi.kind, UHMM_PTE_PRESENT);
		assert_int_equal(pi.refcount, 2);
		assert_ptr_equal(uhmm_pfn_to_page(w->sys, pi.pfn), w->pages[i - 14]);
	}
	w->npinned = 4;
	check_mm(w->mm, &w->sh);
}

/* -------------------------------------------------------- device-exclusive */
static int op_make_exclusive(struct world *w)
{
	int r;

	uhmm_mmap_read_lock(w->mm);
	r = uhmm_make_device_exclusive(w->mm, va(15), w, &w->xpage);
	uhmm_mmap_read_unlock(w->mm);
	if (r)
		w->xpage = NULL;
	return r;
}

static void done_make_exclusive(struct world *w, bool hit)
{
	(void)hit;
	assert_non_null(w->xpage);
	assert_int_equal(kind(w->mm, va(15)), UHMM_PTE_DEVICE_EXCLUSIVE);
	uhmm_unlock_page(w->xpage);
	uhmm_put_page(w->xpage);
	w->xpage = NULL;
	check_mm(w->mm, &w->sh);	/* the CPU access restores the PTE */
	assert_int_equal(kind(w->mm, va(15)), UHMM_PTE_PRESENT);
}

/* ----------------------------------------------------------- range fault */
static void prep_range_fault(struct world *w)
{
	mapf(w, I_FAR, 8, RW, PRIV);
	memset(&w->in, 0, sizeof(w->in));
	assert_int_equal(uhmm_mmu_interval_notifier_insert(&w->in, w->mm, va(I_FAR), 8 * PG, &in_ops), 0);
	w->in_on = true;
}

static int op_range_fault(struct world *w)
{
	struct uhmm_range range = {
		.notifier = &w->in, .start = va(I_FAR), .end = va(I_FAR) + 8 * PG, .hmm_pfns = w->pfns,
		.default_flags = UHMM_PFN_REQ_FAULT | UHMM_PFN_REQ_WRITE,
	};
	int r;

	do {
		range.notifier_seq = uhmm_mmu_interval_read_begin(&w->in);
		uhmm_mmap_read_lock(w->mm);
		r = uhmm_range_fault(&range);
		uhmm_mmap_read_unlock(w->mm);
	} while (r == -EBUSY);
	return r;
}

static void done_range_fault(struct world *w, bool hit)
{
	(void)hit;
	for (int i = 0; i < 8; i++) {
		assert_true(w->pfns[i] & UHMM_PFN_VALID);
		assert_true(w->pfns[i] & UHMM_PFN_WRITE);
		assert_int_equal(kind(w->mm, va(I_FAR + i)), UHMM_PTE_PRESENT);
	}
	check_mm(w->mm, &w->sh);
}

/* ---------------------------------------------------------------- dmirror */
/* Private pages with data, then never-touched ones (holes: the insertion path). */
static int op_migrate_to_dev(struct world *w)
{
	int r = dmcmd(w->dm, UHMM_DMIRROR_MIGRATE_TO_DEV, 0, 8, w->buf, NULL);

	if (r)
		return r;
	return dmcmd(w->dm, UHMM_DMIRROR_MIGRATE_TO_DEV, 14, 4, w->buf2, NULL);
}

static void failed_migrate_to_dev(struct world *w, int r)
{
	(void)r;
	check_mm(w->mm, &w->sh);	/* every page intact, wherever it is */
}

static void done_migrate_to_dev(struct world *w, bool hit)
{
	(void)hit;
	for (int i = 0; i < 8; i++) {
		assert_true(on_device(w->mm, va(i)));
		assert_true(same(w->buf + (size_t)i * PG, 11, va(i), PG));
	}
	for (int i = 14; i < 18; i++)
		assert_true(on_device(w->mm, va(i)));
	assert_true(same(w->buf2, 0, 0, 4 * PG));
	check_mm(w->mm, &w->sh);
}

/* Back to RAM: a page that gets no RAM page stays on the device and cpages says so. */
static int op_migrate_to_sys(struct world *w)
{
	return dmcmd(w->dm, UHMM_DMIRROR_MIGRATE_TO_SYS, 20, 4, NULL, &w->cmd);
}

static void done_migrate_to_sys(struct world *w, bool hit)
{
	unsigned long in_ram = 0;

	for (int i = 20; i < 24; i++)
		in_ram += !on_device(w->mm, va(i));
	assert_int_equal(in_ram, w->cmd.cpages);
	if (!hit)
		assert_int_equal(w->cmd.cpages, 4);
	if (w->cmd.cpages < 4) {
		/* the retry, without failures, moves the rest */
		assert_int_equal(op_migrate_to_sys(w), 0);
		assert_int_equal(w->cmd.cpages, 4 - in_ram);
	}
	for (int i = 20; i < 24; i++)
		assert_false(on_device(w->mm, va(i)));
	check_mm(w->mm, &w->sh);
}

/* READ through the device: its own pages, the zero page, and a far region (new device PT nodes). */
static void prep_dm_read(struct world *w)
{
	mapf(w, I_FAR, 4, RW, PRIV);
	wr(w->mm, &w->sh, I_FAR, 4, 41);
}

static int op_dm_read(struct world *w)
{
	int r;

	w->step = 1;
	r = dmcmd(w->dm, UHMM_DMIRROR_READ, 20, 6, w->buf, &w->cmd);
	if (r)
		return r;
	w->step = 2;
	return dmcmd(w->dm, UHMM_DMIRROR_READ, I_FAR, 4, w->buf2, &w->cmd);
}

static void failed_dm_read(struct world *w, int r)
{
	unsigned char *b = w->step == 1 ? w->buf : w->buf2;

	(void)r;
	for (size_t i = 0; i < 6 * PG; i++)
		if (b[i] != 0xee)
			fail_msg("failed READ wrote the caller's buffer at byte %zu", i);
	check_mm(w->mm, &w->sh);
}

static void done_dm_read(struct world *w, bool hit)
{
	(void)hit;
	for (int i = 20; i < 26; i++)
		assert_true(same(w->buf + (size_t)(i - 20) * PG, w->sh.p[i].seed, va(i), PG));
	for (int i = 0; i < 4; i++)
		assert_true(same(w->buf2 + (size_t)i * PG, 41, va(I_FAR + i), PG));
	check_mm(w->mm, &w->sh);
}

static int op_dm_write(struct world *w)
{
	for (int i = 0; i < 4; i++)
		fill(w->buf + (size_t)i * PG, 51, va(14 + i), PG);
	w->pend_first = 14;
	w->pend_n = 4;
	w->pend_seed = 51;
	return dmcmd(w->dm, UHMM_DMIRROR_WRITE, 14, 4, w->buf, NULL);
}

static void done_dm_write(struct world *w, bool hit)
{
	(void)hit;
	sh_write(&w->sh, 14, 4, 51);
	check_mm(w->mm, &w->sh);
}

static int op_snapshot(struct world *w)
{
	return dmcmd(w->dm, UHMM_DMIRROR_SNAPSHOT, 0, 32, w->buf, NULL);
}

static void failed_snapshot(struct world *w, int r)
{
	(void)r;
	for (int i = 0; i < 32; i++)
		assert_int_equal(w->buf[i], 0xee);
	check_mm(w->mm, &w->sh);
}

/* The byte SNAPSHOT gives a page, from what the CPU page table holds now. */
static unsigned char snap_byte(struct world *w, int i)
{
	struct uhmm_vma_info vi;
	struct uhmm_pte_info pi;

	if (!vma_at(w->mm, va(i), &vi))
		return UHMM_DMIRROR_PROT_ERROR;
	assert_int_equal(uhmm_mm_query_pte(w->mm, va(i), &pi), 0);
	switch (pi.kind) {
	case UHMM_PTE_NONE:
		return UHMM_DMIRROR_PROT_NONE;
	case UHMM_PTE_ZERO:
		return UHMM_DMIRROR_PROT_ZERO | UHMM_DMIRROR_PROT_READ;
	case UHMM_PTE_PRESENT:
		return pi.write ? UHMM_DMIRROR_PROT_WRITE : UHMM_DMIRROR_PROT_READ;
	case UHMM_PTE_DEVICE_PRIVATE:
		return UHMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | (pi.write ? UHMM_DMIRROR_PROT_WRITE : UHMM_DMIRROR_PROT_READ);
	default:
		fail_msg("page %d: unexpected entry kind %d", i, pi.kind);
	}
	return 0;
}

static void done_snapshot(struct world *w, bool hit)
{
	(void)hit;
	for (int i = 0; i < 32; i++)
		if (w->buf[i] != snap_byte(w, i))
			fail_msg("SNAPSHOT byte %d: %#x, want %#x", i, w->buf[i], snap_byte(w, i));
	if (!hit) {
		/* the world as built: RAM RW, shmem RW, zero pages, never touched, holes, device */
		assert_int_equal(w->buf[0], UHMM_DMIRROR_PROT_WRITE);
		assert_int_equal(w->buf[9], UHMM_DMIRROR_PROT_WRITE);
		assert_int_equal(w->buf[12], UHMM_DMIRROR_PROT_ZERO | UHMM_DMIRROR_PROT_READ);
		assert_int_equal(w->buf[14], UHMM_DMIRROR_PROT_NONE);
		assert_int_equal(w->buf[18], UHMM_DMIRROR_PROT_ERROR);
		assert_int_equal(w->buf[20], UHMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | UHMM_DMIRROR_PROT_WRITE);
	}
	check_mm(w->mm, &w->sh);
}

static int op_dm_exclusive(struct world *w)
{
	return dmcmd(w->dm, UHMM_DMIRROR_EXCLUSIVE, 14, 4, w->buf, NULL);
}

static void done_dm_exclusive(struct world *w, bool hit)
{
	(void)hit;
	for (int i = 14; i < 18; i++)
		assert_int_equal(kind(w->mm, va(i)), UHMM_PTE_DEVICE_EXCLUSIVE);
	assert_true(same(w->buf, 0, 0, 4 * PG));
	assert_int_equal(dmcmd(w->dm, UHMM_DMIRROR_CHECK_EXCLUSIVE, 14, 4, NULL, NULL), -EPERM);
	check_mm(w->mm, &w->sh);	/* the CPU takes them back */
	assert_int_equal(dmcmd(w->dm, UHMM_DMIRROR_CHECK_EXCLUSIVE, 14, 4, NULL, NULL), 0);
}

/*
 * RELEASE evicts with __GFP_NOFAIL semantics, as Linux's
 * dmirror_device_evict_chunk: a page that gets no RAM page waits for the
 * next pass. Under persistent injection it would wait forever, so a rescuer
 * thread ends the injection once the eviction is seen spinning, as memory
 * coming back would.
 */
struct rescuer {
	pthread_t t;
	atomic_bool stop;
	struct world *w;
};

static void *rescue(void *arg)
{
	struct rescuer *rs = arg;
	struct timespec ts = { 0, 2 * 1000 * 1000 };
	int i;

	for (i = 0; i < 25 && !atomic_load(&rs->stop); i++)
		nanosleep(&ts, NULL);
	if (!atomic_load(&rs->stop) && uhmm_fail_count() >= rs->w->nth) {
		rs->w->rescued = true;
		uhmm_fail_nth(0, 0);
	}
	return NULL;
}

static int op_release(struct world *w)
{
	struct rescuer rs = { .w = w };

	atomic_init(&rs.stop, false);
	if (w->persistent)
		assert_int_equal(pthread_create(&rs.t, NULL, rescue, &rs), 0);
	dmcmd(w->dm, UHMM_DMIRROR_RELEASE, 0, 1, NULL, &w->cmd);
	if (w->persistent) {
		atomic_store(&rs.stop, true);
		pthread_join(rs.t, NULL);
	}
	return 0;
}

static void done_release(struct world *w, bool hit)
{
	struct uhmm_dmirror_device_stats ds;

	(void)hit;
	for (int i = 20; i < 24; i++)
		assert_false(on_device(w->mm, va(i)));
	assert_int_equal(uhmm_dmirror_device_get_stats(w->dev, &ds), 0);
	assert_int_equal(ds.devmem_pages_in_use, 0);
	assert_int_equal(ds.pages_evicted, 4);
	check_mm(w->mm, &w->sh);
}

static int op_device_create(struct world *w)
{
	return uhmm_dmirror_device_create(w->sys, NULL, &w->dev2);
}

static void failed_device_create(struct world *w, int r)
{
	(void)r;
	assert_null(w->dev2);
}

static void done_device_create(struct world *w, bool hit)
{
	struct uhmm_dmirror_device_stats ds;

	(void)hit;
	assert_int_equal(uhmm_dmirror_device_get_stats(w->dev2, &ds), 0);
	assert_int_equal(ds.files, 0);
}

static void prep_dmirror_open(struct world *w)
{
	assert_int_equal(uhmm_dmirror_device_create(w->sys, NULL, &w->dev2), 0);
}

static int op_dmirror_open(struct world *w)
{
	return uhmm_dmirror_open(w->dev2, w->mm, &w->dm2);
}

static void failed_dmirror_open(struct world *w, int r)
{
	struct uhmm_dmirror_device_stats ds;

	(void)r;
	assert_null(w->dm2);
	assert_int_equal(uhmm_dmirror_device_get_stats(w->dev2, &ds), 0);
	assert_int_equal(ds.files, 0);
	check_mm(w->mm, &w->sh);
}

static void done_dmirror_open(struct world *w, bool hit)
{
	(void)hit;
	assert_int_equal(dmcmd(w->dm2, UHMM_DMIRROR_READ, 0, 4, w->buf, NULL), 0);
	assert_true(same(w->buf, 11, va(0), 4 * PG));
	check_mm(w->mm, &w->sh);
}

/* ================================================================ table */
#define AF(nm, fl, pr, o, f, d, ...) \
	{ .name = nm, .flags = fl, .prep = pr, .op = o, .errs = { __VA_ARGS__ }, .failed = f, .done = d }

static const struct af_case cases[] = {
	AF("system_create", W_BARE, NULL, op_system_create, failed_system_create, done_system_create, -ENOMEM),
	AF("mm_create", W_BARE, NULL, op_mm_create, failed_mm_create, done_mm_create, -ENOMEM),
	AF("mmap_private", 0, NULL, op_mmap_private, NULL, done_mmap_private, -ENOMEM),
	AF("mmap_shared", 0, NULL, op_mmap_shared, NULL, done_mmap_shared, -ENOMEM),
	AF("mmap_anywhere", 0, NULL, op_mmap_anywhere, NULL, done_mmap_anywhere, -ENOMEM),
	AF("mmap_fixed_replace", 0, NULL, op_mmap_fixed_replace, NULL, done_mmap_fixed_replace, -ENOMEM),
	AF("cpu_write", W_DEV, prep_cpu_write, op_cpu_write, failed_cpu_write, done_check, -ENOMEM),
	AF("cpu_read_device_page", W_DEV, NULL, op_cpu_read_dev, failed_cpu_read_dev, done_cpu_read_dev, -ENOMEM),
	AF("fork", W_DEV, prep_fork, op_fork, failed_fork, done_fork, -ENOMEM),
	AF("mprotect_split", 0, NULL, op_mprotect, failed_mprotect, done_mprotect, -ENOMEM),
	AF("munmap_split", 0, NULL, op_munmap_middle, NULL, done_munmap_middle, -ENOMEM),
	AF("munmap_across", 0, NULL, op_munmap_across, NULL, done_munmap_across, -ENOMEM),
	AF("mremap_move", 0, NULL, op_mremap_move, NULL, done_mremap_move, -ENOMEM),
	AF("mremap_shrink", 0, NULL, op_mremap_shrink, NULL, done_mremap_shrink, -ENOMEM),
	AF("mremap_grow_shared", 0, prep_mremap_grow_shared, op_mremap_grow_shared, NULL, done_mremap_grow_shared,
	   -ENOMEM),
	AF("mremap_part", 0, NULL, op_mremap_part, NULL, done_mremap_part, -ENOMEM),
	{ .name = "madvise", .flags = W_DEV, .op = op_madvise, .done = done_madvise, .no_alloc = true },
	AF("notifier_register", 0, NULL, op_register, failed_notifier, done_register, -ENOMEM),
	AF("interval_notifier_insert", 0, NULL, op_interval_insert, failed_notifier, done_interval_insert, -ENOMEM),
	AF("memremap_private", 0, NULL, op_memremap_private, failed_memremap, done_memremap, -ENOMEM),
	AF("memremap_coherent", 0, NULL, op_memremap_coherent, failed_memremap, done_memremap, -ENOMEM),
	AF("pin_user_pages", 0, NULL, op_pin, failed_pin, done_pin, -ENOMEM),
	AF("make_device_exclusive", 0, NULL, op_make_exclusive, NULL, done_make_exclusive, -ENOMEM),
	AF("range_fault", 0, prep_range_fault, op_range_fault, NULL, done_range_fault, -ENOMEM),
	AF("dmirror_migrate_to_dev", W_DEV, NULL, op_migrate_to_dev, failed_migrate_to_dev, done_migrate_to_dev,
	   -ENOENT, -ENOMEM),
	AF("dmirror_migrate_to_dev_coherent", W_COH, NULL, op_migrate_to_dev, failed_migrate_to_dev,
	   done_migrate_to_dev, -ENOENT, -ENOMEM),
	/* never an error: "cpages tells" */
	AF("dmirror_migrate_to_sys", W_DEV, NULL, op_migrate_to_sys, NULL, done_migrate_to_sys, 0),
	AF("dmirror_migrate_to_sys_coherent", W_COH, NULL, op_migrate_to_sys, NULL, done_migrate_to_sys, 0),
	AF("dmirror_read", W_DEV, prep_dm_read, op_dm_read, failed_dm_read, done_dm_read, -ENOMEM),
	AF("dmirror_write", W_DEV, NULL, op_dm_write, failed_cpu_write, done_dm_write, -ENOMEM),
	AF("dmirror_snapshot", W_DEV, NULL, op_snapshot, failed_snapshot, done_snapshot, -ENOMEM),
	AF("dmirror_exclusive", W_DEV, NULL, op_dm_exclusive, NULL, done_dm_exclusive, -ENOMEM),
	/* never an error: eviction waits for memory (NOFAIL) */
	AF("dmirror_release", W_DEV, NULL, op_release, NULL, done_release, 0),
	AF("dmirror_device_create", 0, NULL, op_device_create, failed_device_create, done_device_create, -ENOMEM),
	AF("dmirror_open", 0, prep_dmirror_open, op_dmirror_open, failed_dmirror_open, done_dmirror_open, -ENOMEM),
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static void run_transient(void **state) { af_run(*state, false); }
static void run_persistent(void **state) { af_run(*state, true); }

/* ============================================================ the scenario */
/*
 * One realistic session, every entry point above in turn, on two address
 * spaces (a fork) and two devices. Each step updates the shadows when it
 * succeeds; the first step that fails (the injected one) must fail with its
 * documented error, leave both address spaces as the shadows say, and
 * succeed when retried without failures; the session then goes on.
 */
struct step {
	const char *name;
	int (*fn)(struct world *w);
	int errs[3];
	void (*failed)(struct world *w);	/* NULL: check both shadows */
};

static int s_open2(struct world *w) { return uhmm_dmirror_open(w->dev, w->mm, &w->dm2); }
static int s_insert(struct world *w)
{
	int r;

	memset(&w->in, 0, sizeof(w->in));
	r = uhmm_mmu_interval_notifier_insert(&w->in, w->mm, 0, 1UL << 47, &in_ops);
	if (!r)
		w->in_on = true;
	return r;
}
static int s_mmap_far(struct world *w)
{
	int r = uhmm_mmap(w->mm, va(I_FAR), 8 * PG, RW, PRIV | NOREPLACE, &w->out);

	if (!r)
		sh_map(&w->sh, I_FAR, 8, RW, false);
	return r;
}
static int s_write_far(struct world *w)
{
	int r;

	w->pend_first = I_FAR;
	w->pend_n = 4;
	w->pend_seed = 71;
	for (int i = 0; i < 4; i++)
		fill(w->buf + (size_t)i * PG, 71, va(I_FAR + i), PG);
	r = uhmm_cpu_write(w->mm, va(I_FAR), w->buf, 4 * PG);
	if (!r)
		sh_write(&w->sh, I_FAR, 4, 71);
	return r;
}
static void s_write_failed(struct world *w)
{
	settle_prefix(w->mm, &w->sh, w->pend_first, w->pend_n, w->pend_seed);
	check_mm(w->mm, &w->sh);
}
static int s_read_far(struct world *w)
{
	int r = dmcmd(w->dm, UHMM_DMIRROR_READ, I_FAR, 4, w->buf2, NULL);

	if (!r)
		assert_true(same(w->buf2, 71, va(I_FAR), 4 * PG));
	return r;
}
static int s_to_dev(struct world *w) { return dmcmd(w->dm, UHMM_DMIRROR_MIGRATE_TO_DEV, 0, 8, w->buf2, NULL); }
static int s_fork(struct world *w)
{
	int r = uhmm_mm_fork(w->mm, &w->mm2);

	if (!r)
		w->sh2 = w->sh;
	return r;
}
static int s_child_write(struct world *w)
{
	int r;

	fill(w->buf, 72, va(1), PG);
	r = uhmm_cpu_write(w->mm2, va(1), w->buf, PG);
	if (!r)
		sh_write(&w->sh2, 1, 1, 72);
	return r;
}
static int s_mprotect(struct world *w)
{
	/* one VMA, two splits: all or nothing */
	int r = uhmm_mprotect(w->mm, va(I_FAR + 5), PG, PROT_READ);

	if (!r)
		sh_prot(&w->sh, I_FAR + 5, 1, PROT_READ);
	return r;
}
static int s_exclusive(struct world *w) { return dmcmd(w->dm, UHMM_DMIRROR_EXCLUSIVE, 14, 2, w->buf2, NULL); }
static int s_snapshot(struct world *w) { return dmcmd(w->dm, UHMM_DMIRROR_SNAPSHOT, 0, 40, w->buf2, NULL); }
static int s_range_fault(struct world *w)
{
	struct uhmm_range range = {
		.notifier = &w->in, .start = va(I_FAR + 6), .end = va(I_FAR + 8), .hmm_pfns = w->pfns,
		.default_flags = UHMM_PFN_REQ_FAULT | UHMM_PFN_REQ_WRITE,
	};
	int r;

	do {
		range.notifier_seq = uhmm_mmu_interval_read_begin(&w->in);
		uhmm_mmap_read_lock(w->mm);
		r = uhmm_range_fault(&range);
		uhmm_mmap_read_unlock(w->mm);
	} while (r == -EBUSY);
	return r;
}
static int s_pin(struct world *w)
{
	int r = uhmm_pin_user_pages(w->mm, va(16), 2, true, w->pages);

	if (!r)
		uhmm_unpin_user_pages(w->pages, 2);
	return r;
}
static int s_make_exclusive(struct world *w)
{
	struct uhmm_page *p;
	int r;

	uhmm_mmap_read_lock(w->mm);
	r = uhmm_make_device_exclusive(w->mm, va(I_FAR + 4), w, &p);
	uhmm_mmap_read_unlock(w->mm);
	if (!r) {
		uhmm_unlock_page(p);
		uhmm_put_page(p);
	}
	return r;
}
static int s_mremap(struct world *w)
{
	/* DEV (device pages) to the hole at [28, 32) */
	int r = uhmm_mremap(w->mm, va(20), 4 * PG, 4 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, va(28), &w->out);
	struct uhmm_vma_info vi;

	if (!r) {
		sh_move(&w->sh, 20, 28, 4);
		/* the split after the move failed: Linux's "OOM" case, old range mapped and empty */
		if (vma_at(w->mm, va(20), &vi))
			sh_map(&w->sh, 20, 4, RW, false);
	}
	return r;
}
static int s_munmap(struct world *w)
{
	int r = uhmm_munmap(w->mm, va(2), PG);

	if (!r)
		sh_unmap(&w->sh, 2, 1);
	return r;
}
static int s_madvise(struct world *w)
{
	int r = uhmm_madvise(w->mm2, va(4), 2 * PG, MADV_DONTNEED);

	if (!r)
		sh_write(&w->sh2, 4, 2, 0);
	return r;
}
static int s_dm_write(struct world *w)
{
	int r;

	for (int i = 0; i < 2; i++)
		fill(w->buf + (size_t)i * PG, 73, va(24 + i), PG);
	w->pend_first = 24;
	w->pend_n = 2;
	w->pend_seed = 73;
	r = dmcmd(w->dm, UHMM_DMIRROR_WRITE, 24, 2, w->buf, NULL);
	if (!r)
		sh_write(&w->sh, 24, 2, 73);
	return r;
}
static int s_to_sys(struct world *w)
{
	/* never an error: a page that gets no RAM page stays on the device (cpages tells) */
	return dmcmd(w->dm, UHMM_DMIRROR_MIGRATE_TO_SYS, 3, 5, NULL, &w->cmd);
}
static int s_memremap(struct world *w)
{
	int r = op_memremap(w, UHMM_MEMORY_DEVICE_PRIVATE);

	if (!r)
		uhmm_memunmap_pages(&w->pgmap);
	return r;
}
static int s_device2(struct world *w)
{
	struct uhmm_dmirror_device_opts o = { .type = UHMM_MEMORY_DEVICE_COHERENT, .memory_bytes = 16 * PG };

	return uhmm_dmirror_device_create(w->sys, &o, &w->dev2);
}
static int s_open_child(struct world *w)
{
	struct uhmm_dmirror *d;
	int r = uhmm_dmirror_open(w->dev2, w->mm2, &d);

	if (!r)
		w->dm2 = d;	/* the parent's second file was closed above: reuse the slot */
	return r;
}
static int s_close2(struct world *w)
{
	uhmm_dmirror_close(w->dm2);
	w->dm2 = NULL;
	return 0;
}
static int s_child_to_dev(struct world *w)
{
	return dmcmd(w->dm2, UHMM_DMIRROR_MIGRATE_TO_DEV, I_FAR, 4, w->buf2, NULL);
}
static int s_child_register(struct world *w)
{
	int r;

	memset(&w->cn, 0, sizeof(w->cn));
	w->cn.ops = &cn_ops;
	r = uhmm_mmu_notifier_register(&w->cn, w->mm2);
	if (!r)
		uhmm_mmu_notifier_unregister(&w->cn, w->mm2);
	return r;
}
static int s_release(struct world *w) { return op_release(w); }

static const struct step steps[] = {
	{ .name = "open a second file", .fn = s_open2, .errs = { -ENOMEM } },
	{ .name = "interval notifier", .fn = s_insert, .errs = { -ENOMEM } },
	{ .name = "mmap far", .fn = s_mmap_far, .errs = { -ENOMEM } },
	{ .name = "cpu_write far", .fn = s_write_far, .errs = { -ENOMEM }, .failed = s_write_failed },
	{ .name = "dmirror READ", .fn = s_read_far, .errs = { -ENOMEM } },
	{ .name = "MIGRATE_TO_DEV", .fn = s_to_dev, .errs = { -ENOENT, -ENOMEM } },
	{ .name = "fork", .fn = s_fork, .errs = { -ENOMEM } },
	{ .name = "child write (migrate_to_ram, COW)", .fn = s_child_write, .errs = { -ENOMEM } },
	{ .name = "mprotect split", .fn = s_mprotect, .errs = { -ENOMEM } },
	{ .name = "EXCLUSIVE", .fn = s_exclusive, .errs = { -ENOMEM } },
	{ .name = "SNAPSHOT", .fn = s_snapshot, .errs = { -ENOMEM } },
	{ .name = "range_fault", .fn = s_range_fault, .errs = { -ENOMEM } },
	{ .name = "pin", .fn = s_pin, .errs = { -ENOMEM } },
	{ .name = "make_device_exclusive", .fn = s_make_exclusive, .errs = { -ENOMEM } },
	{ .name = "mremap device pages", .fn = s_mremap, .errs = { -ENOMEM } },
	{ .name = "munmap split", .fn = s_munmap, .errs = { -ENOMEM } },
	{ .name = "madvise in the child", .fn = s_madvise, .errs = { -ENOMEM } },
	{ .name = "dmirror WRITE", .fn = s_dm_write, .errs = { -ENOMEM }, .failed = s_write_failed },
	{ .name = "MIGRATE_TO_SYS", .fn = s_to_sys, .errs = { -ENOMEM } },
	{ .name = "memremap", .fn = s_memremap, .errs = { -ENOMEM } },
	{ .name = "close the second file", .fn = s_close2, .errs = { -ENOMEM } },
	{ .name = "a coherent device", .fn = s_device2, .errs = { -ENOMEM } },
	{ .name = "open it on the child", .fn = s_open_child, .errs = { -ENOMEM } },
	{ .name = "child MIGRATE_TO_DEV (coherent)", .fn = s_child_to_dev, .errs = { -ENOENT, -ENOMEM } },
	{ .name = "classic notifier on the child", .fn = s_child_register, .errs = { -ENOMEM } },
	{ .name = "RELEASE (NOFAIL)", .fn = s_release, .errs = { -ENOMEM } },
};
#define NSTEPS (sizeof(steps) / sizeof(steps[0]))

static void check_both(struct world *w)
{
	check_mm(w->mm, &w->sh);
	if (w->mm2)
		check_mm(w->mm2, &w->sh2);
}

static void scenario(bool persistent)
{
	unsigned long n;

	for (n = 1; n <= MAX_NTH; n++) {
		struct world *w = malloc(sizeof(*w));
		bool hit = false;

		assert_non_null(w);
		world_init(w, W_DEV);
		w->persistent = persistent;
		w->nth = n;
		uhmm_fail_nth(n, persistent);
		for (size_t k = 0; k < NSTEPS; k++) {
			const struct step *s = &steps[k];
			int r = s->fn(w), i;

			if (!r)
				continue;
			if (hit)
				fail_msg("scenario N=%lu step '%s': %d after the injected failure was handled", n,
					 s->name, r);
			hit = true;
			uhmm_fail_nth(0, 0);
			for (i = 0; i < 3 && s->errs[i] != r; i++)
				;
			if (i == 3)
				fail_msg("scenario N=%lu %s, step '%s': %d is not a documented error", n,
					 persistent ? "persistent" : "transient", s->name, r);
			if (s->failed)
				s->failed(w);
			check_both(w);
			r = s->fn(w);
			if (r)
				fail_msg("scenario N=%lu step '%s': retry returned %d", n, s->name, r);
		}
		hit = hit || w->rescued || uhmm_fail_count() >= n;
		uhmm_fail_nth(0, 0);
		check_both(w);
		world_fini(w);
		free(w);
		if (!hit)
			break;
	}
	if (n > MAX_NTH)
		fail_msg("scenario: still failing after %lu allocations", MAX_NTH);
	assert_true(n > 50);
	print_message("scenario (%s): %lu allocation sites\n", persistent ? "persistent" : "transient", n - 1);
}

static void test_scenario_transient(void **state) { scenario(false); }
static void test_scenario_persistent(void **state) { scenario(true); }

/* ======================================================= real exhaustion */
/*
 * Device memory runs out during MIGRATE_TO_DEV: the pages that found no
 * device page stay in RAM, the command says so (-ENOENT: not every page is on
 * the device), the device counts the failures, and every byte reads back.
 */
static void devmem_exhaustion(enum uhmm_memory_type type)
{
	struct uhmm_dmirror_device_opts o = { .type = type, .memory_bytes = 8 * PG, .chunk_bytes = 4 * PG };
	struct uhmm_dmirror_device_stats ds;
	struct world w;
	unsigned long ondev = 0;

	world_init(&w, W_BARE);
	assert_int_equal(uhmm_dmirror_device_create(w.sys, &o, &w.dev), 0);
	assert_int_equal(uhmm_dmirror_open(w.dev, w.mm, &w.dm), 0);
	mapf(&w, 0, 16, RW, PRIV);
	wr(w.mm, &w.sh, 0, 16, 81);
	assert_int_equal(dmcmd(w.dm, UHMM_DMIRROR_MIGRATE_TO_DEV, 0, 16, w.buf, NULL), -ENOENT);
	for (int i = 0; i < 16; i++) {
		enum uhmm_pte_kind k = kind(w.mm, va(i));

		if (on_device(w.mm, va(i)))
			ondev++;
		else
			assert_int_equal(k, UHMM_PTE_PRESENT);
	}
	assert_int_equal(ondev, 8);
	assert_memory_equal(w.buf, (unsigned char[16]){ [0 ... 15] = 0xee }, 16);	/* untouched on error */
	assert_int_equal(uhmm_dmirror_device_get_stats(w.dev, &ds), 0);
	assert_int_equal(ds.pages_total, 8);
	assert_int_equal(ds.devmem_pages_in_use, 8);
	assert_true(ds.alloc_failures >= 8);
	/* the device still reads all of it: its own pages and the RAM ones */
	assert_int_equal(dmcmd(w.dm, UHMM_DMIRROR_READ, 0, 16, w.buf, NULL), 0);
	assert_true(same(w.buf, 81, va(0), 16 * PG));
	check_mm(w.mm, &w.sh);
	/* capacity for 8: a migration of 8 succeeds (private pages came back with the CPU reads) */
	assert_int_equal(dmcmd(w.dm, UHMM_DMIRROR_MIGRATE_TO_DEV, 0, 8, w.buf, NULL), 0);
	assert_true(same(w.buf, 81, va(0), 8 * PG));
	check_mm(w.mm, &w.sh);
	world_fini(&w);
}

static void test_devmem_exhaustion_private(void **state) { devmem_exhaustion(UHMM_MEMORY_DEVICE_PRIVATE); }
static void test_devmem_exhaustion_coherent(void **state) { devmem_exhaustion(UHMM_MEMORY_DEVICE_COHERENT); }

/*
 * RAM runs out for real while pages are on the device: the CPU access that
 * needs migrate_to_ram fails with -ENOMEM (mm.h: RAM exhausted), the page
 * stays on the device untouched, and once RAM is freed the same access
 * succeeds with the right data.
 */
static void test_ram_exhaustion_migrate_to_ram(void **state)
{
	struct uhmm_system_opts so = { .ram_bytes = 128 * PG };
	struct uhmm_dmirror_device_opts o = { .memory_bytes = 16 * PG, .chunk_bytes = 16 * PG };
	struct uhmm_system_stats st;
	struct world w;
	unsigned long filler, i;
	unsigned char b[PG];
	int r = 0;

	memset(&w, 0, sizeof(w));
	w.buf = malloc(16 * PG);
	w.buf2 = malloc(16 * PG);
	assert_int_equal(uhmm_system_create(&so, &w.sys), 0);
	assert_int_equal(uhmm_mm_create(w.sys, &w.mm), 0);
	assert_int_equal(uhmm_dmirror_device_create(w.sys, &o, &w.dev), 0);
	assert_int_equal(uhmm_dmirror_open(w.dev, w.mm, &w.dm), 0);
	mapf(&w, 0, 4, RW, PRIV);
	wr(w.mm, &w.sh, 0, 4, 91);
	assert_int_equal(dmcmd(w.dm, UHMM_DMIRROR_MIGRATE_TO_DEV, 0, 4, w.buf, NULL), 0);
	/* eat every free RAM page */
	assert_int_equal(uhmm_mmap(w.mm, 0, 256 * PG, RW, PRIV, &filler), 0);
	for (i = 0; i < 256 && !r; i++)
		r = uhmm_cpu_write(w.mm, filler + i * PG, "f", 1);
	assert_int_equal(r, -ENOMEM);
	assert_int_equal(uhmm_system_get_stats(w.sys, &st), 0);
	assert_int_equal(st.free_pages, 0);

	memset(b, 0xcc, sizeof(b));
	assert_int_equal(uhmm_cpu_read(w.mm, va(1), b, PG), -ENOMEM);
	assert_int_equal(b[0], 0xcc);		/* nothing copied */
	assert_int_equal(kind(w.mm, va(1)), UHMM_PTE_DEVICE_PRIVATE);
	assert_int_equal(uhmm_cpu_write(w.mm, va(2), "z", 1), -ENOMEM);
	assert_int_equal(kind(w.mm, va(2)), UHMM_PTE_DEVICE_PRIVATE);
	/* the device still has the data */
	assert_int_equal(dmcmd(w.dm, UHMM_DMIRROR_READ, 0, 4, w.buf, NULL), 0);
	assert_true(same(w.buf, 91, va(0), 4 * PG));

	assert_int_equal(uhmm_munmap(w.mm, filler, 256 * PG), 0);
	check_mm(w.mm, &w.sh);
	for (i = 0; i < 4; i++)
		assert_int_equal(kind(w.mm, va(i)), UHMM_PTE_PRESENT);
	world_fini(&w);
}

/* The same with an injected failure instead: persistent, then memory comes back. */
static void test_injected_migrate_to_ram(void **state)
{
	struct world w;
	unsigned char b[PG];

	memset(b, 0x5a, sizeof(b));
	world_init(&w, W_DEV);
	uhmm_fail_nth(1, 1);
	assert_int_equal(uhmm_cpu_read(w.mm, va(22), b, PG), -ENOMEM);
	assert_int_equal(uhmm_cpu_write(w.mm, va(23), b, PG), -ENOMEM);
	uhmm_fail_nth(0, 0);
	assert_int_equal(kind(w.mm, va(22)), UHMM_PTE_DEVICE_PRIVATE);
	assert_int_equal(kind(w.mm, va(23)), UHMM_PTE_DEVICE_PRIVATE);
	check_mm(w.mm, &w.sh);
	world_fini(&w);
}

/* ================================================================== main */
int main(int argc, char **argv)
{
	static const struct CMUnitTest others[] = {
		cmocka_unit_test(test_scenario_transient),
		cmocka_unit_test(test_scenario_persistent),
		cmocka_unit_test(test_devmem_exhaustion_private),
		cmocka_unit_test(test_devmem_exhaustion_coherent),
		cmocka_unit_test(test_ram_exhaustion_migrate_to_ram),
		cmocka_unit_test(test_injected_migrate_to_ram),
	};
	static char names[2 * NCASES][64];
	struct CMUnitTest tests[2 * NCASES + sizeof(others) / sizeof(others[0])];
	size_t n = 0, i;

	for (i = 0; i < NCASES; i++) {
		for (int p = 0; p < 2; p++) {
			snprintf(names[n], sizeof(names[n]), "%s_%s", cases[i].name, p ? "persistent" : "transient");
			memset(&tests[n], 0, sizeof(tests[n]));
			tests[n].name = names[n];
			tests[n].test_func = p ? run_persistent : run_transient;
			tests[n].initial_state = (void *)&cases[i];
			n++;
		}
	}
	for (i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		tests[n++] = others[i];
	return testdev_run("test_allocfail_all", tests, n, argc, argv);
}
