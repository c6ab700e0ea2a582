/* SPDX-License-Identifier: MIT */
/* tests/common/testdev.c - a tiny device for API tests of the HMM core (see testdev.h).
 *
 * What a minimal driver does with the public API: a free list fed by
 * page_free, zone_device_page_init on allocation, migrate_vma with fault_page
 * from migrate_to_ram, migrate_device_* for eviction. No device page table:
 * the tests look at the CPU side only.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testdev.h"

#define TD_PAGE UHMM_PAGE_SIZE

static void td_page_free(struct uhmm_page *page);
static int td_migrate_to_ram(struct uhmm_vm_fault *vmf);

struct testdev *testdev_of_page(struct uhmm_page *page)
{
	struct uhmm_dev_pagemap *pgmap = page ? uhmm_page_pgmap(page) : NULL;

	if (!pgmap || !pgmap->ops || pgmap->ops->page_free != td_page_free)
		return NULL;
	return (struct testdev *)((char *)pgmap - offsetof(struct testdev, pgmap));
}

static unsigned long td_index(struct testdev *dev, struct uhmm_page *page)
{
	return uhmm_page_to_pfn(page) - dev->pgmap.pfn_first;
}

int testdev_create(struct uhmm_system *sys, enum uhmm_memory_type type, unsigned long npages,
		   struct testdev **out)
{
	struct testdev *dev = calloc(1, sizeof(*dev));
	unsigned long i;
	int r;

	if (!dev)
		return -ENOMEM;
	dev->sys = sys;
	dev->ops.page_free = td_page_free;
	if (type == UHMM_MEMORY_DEVICE_PRIVATE)
		dev->ops.migrate_to_ram = td_migrate_to_ram;
	dev->pgmap.type = type;
	dev->pgmap.ops = &dev->ops;
	dev->pgmap.owner = dev;
	dev->pgmap.nr_pages = npages;
	pthread_mutex_init(&dev->lock, NULL);
	dev->free_stack = calloc(npages ? npages : 1, sizeof(*dev->free_stack));
	if (type == UHMM_MEMORY_DEVICE_PRIVATE)
		dev->mem = calloc(npages ? npages : 1, TD_PAGE);
	if (!dev->free_stack || (type == UHMM_MEMORY_DEVICE_PRIVATE && !dev->mem)) {
		r = -ENOMEM;
		goto fail;
	}
	r = uhmm_memremap_pages(sys, &dev->pgmap);
	if (r)
		goto fail;
	dev->mapped = true;
	/* pop order: lowest index first */
	for (i = 0; i < npages; i++)
		dev->free_stack[i] = npages - 1 - i;
	dev->nfree = npages;
	*out = dev;
	return 0;
fail:
	pthread_mutex_destroy(&dev->lock);
	free(dev->free_stack);
	free(dev->mem);
	free(dev);
	return r;
}

unsigned long testdev_nfree(struct testdev *dev)
{
	unsigned long n;

	pthread_mutex_lock(&dev->lock);
	n = dev->nfree;
	pthread_mutex_unlock(&dev->lock);
	return n;
}

void testdev_destroy(struct testdev *dev)
{
	if (!dev)
		return;
	/* memunmap would wait forever for a page still in use: fail instead */
	assert_int_equal(testdev_nfree(dev), dev->pgmap.nr_pages);
	if (dev->mapped)
		uhmm_memunmap_pages(&dev->pgmap);
	pthread_mutex_destroy(&dev->lock);
	free(dev->free_stack);
	free(dev->mem);
	free(dev);
}

struct uhmm_page *testdev_alloc_page(struct testdev *dev)
{
	struct uhmm_page *page;
	unsigned long idx;

	pthread_mutex_lock(&dev->lock);
	if (!dev->nfree) {
		pthread_mutex_unlock(&dev->lock);
		return NULL;
	}
	idx = dev->free_stack[--dev->nfree];
	pthread_mutex_unlock(&dev->lock);
	page = uhmm_pfn_to_page(dev->sys, dev->pgmap.pfn_first + idx);
	assert_non_null(page);
	assert_int_equal(uhmm_page_refcount(page), 0);
	uhmm_zone_device_page_init(page);
	return page;
}

static void td_page_free(struct uhmm_page *page)
{
	struct testdev *dev = testdev_of_page(page);

	atomic_store(&dev->last_free_refcount, uhmm_page_refcount(page));
	atomic_fetch_add(&dev->nr_page_free, 1);
	pthread_mutex_lock(&dev->lock);
	dev->free_stack[dev->nfree++] = td_index(dev, page);
	pthread_mutex_unlock(&dev->lock);
}

void *testdev_page_data(struct testdev *dev, struct uhmm_page *page)
{
	void *a = uhmm_page_address(page);

	if (a)
		return a;
	if (!dev || testdev_of_page(page) != dev)
		dev = testdev_of_page(page);
	if (!dev || !dev->mem)
		return NULL;
	return dev->mem + td_index(dev, page) * TD_PAGE;
}

unsigned long testdev_fill_dst(struct testdev *dev, const unsigned long *src, unsigned long *dst,
			       unsigned long npages, bool to_device, const bool *decline)
{
	unsigned long i, n = 0;

	for (i = 0; i < npages; i++) {
		struct uhmm_page *spage, *dpage;
		void *from;

		if (!(src[i] & UHMM_MIGRATE_PFN_MIGRATE) || (decline && decline[i]))
			continue;
		spage = uhmm_migrate_pfn_to_page(dev->sys, src[i]);
		if (!spage && !to_device)
			continue;	/* a hole on the way back: leave it a hole, as dmirror does */
		if (to_device) {
			dpage = testdev_alloc_page(dev);
		} else {
			dpage = uhmm_alloc_page(dev->sys);
			if (dpage)
				assert_true(uhmm_trylock_page(dpage));
		}
		if (!dpage)
			continue;
		from = spage ? testdev_page_data(NULL, spage) : NULL;
		if (from)
			memcpy(testdev_page_data(dev, dpage), from, TD_PAGE);
		else
			memset(testdev_page_data(dev, dpage), 0, TD_PAGE);
		dst[i] = uhmm_migrate_pfn(uhmm_page_to_pfn(dpage));
		n++;
	}
	return n;
}

static void td_msleep(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts))
		;
}

static unsigned long td_back_flags(struct testdev *dev)
{
	return dev->pgmap.type == UHMM_MEMORY_DEVICE_PRIVATE ? UHMM_MIGRATE_VMA_SELECT_DEVICE_PRIVATE
							     : UHMM_MIGRATE_VMA_SELECT_DEVICE_COHERENT;
}

/* Called with the mmap lock held for read and vmf->page referenced (and locked). */
static int td_migrate_to_ram(struct uhmm_vm_fault *vmf)
{
	struct testdev *dev = testdev_of_page(vmf->page);
	unsigned long src = 0, dst = 0;
	struct uhmm_page *extra;
	struct uhmm_migrate_vma m;
	int r, fail;

	atomic_fetch_add(&dev->nr_migrate_to_ram, 1);
	atomic_store(&dev->last_fault_page, vmf->page);
	atomic_store(&dev->last_fault_addr, vmf->address);
	atomic_store(&dev->last_fault_write, vmf->write);
	atomic_store(&dev->last_fault_mm, vmf->mm);
	atomic_store(&dev->last_fault_page_locked, uhmm_page_locked(vmf->page));
	atomic_store(&dev->last_fault_page_refcount, uhmm_page_refcount(vmf->page));
	if (atomic_load(&dev->migrate_to_ram_delay_ms))
		td_msleep(atomic_load(&dev->migrate_to_ram_delay_ms));
	fail = atomic_load(&dev->fail_migrate_to_ram);
	if (fail)
		return fail;

	memset(&m, 0, sizeof(m));
	m.vma = vmf->vma;
	m.start = vmf->address;
	m.end = vmf->address + TD_PAGE;
	m.src = &src;
	m.dst = &dst;
	m.pgmap_owner = dev;
	m.flags = td_back_flags(dev);
	m.fault_page = vmf->page;
	r = uhmm_migrate_vma_setup(&m);
	atomic_store(&dev->last_fault_setup_ret, r);
	atomic_store(&dev->last_fault_cpages, m.cpages);
	atomic_store(&dev->last_fault_src, src);
	if (r)
		return r;
	if (!m.cpages)
		return 0;	/* someone else already moved it */
	testdev_fill_dst(dev, &src, &dst, 1, false, NULL);
	extra = atomic_exchange(&dev->get_src_before_pages, 0) ? uhmm_migrate_pfn_to_page(dev->sys, src) : NULL;
	if (extra)
		uhmm_get_page(extra);
	uhmm_migrate_vma_pages(&m);
	if (extra)
		atomic_store(&dev->extra_ref_src_after_pages, src);
	if (src & UHMM_MIGRATE_PFN_MIGRATE)
		atomic_fetch_add(&dev->nr_migrated_to_ram, 1);
	uhmm_migrate_vma_finalize(&m);
	if (extra) {
		atomic_store(&dev->extra_ref_refcount_after_finalize, uhmm_page_refcount(extra));
		atomic_store(&dev->extra_ref_mapcount_after_finalize, uhmm_page_mapcount(extra));
		uhmm_put_page(extra);
	}
	/* a page the driver could not replace would be SIGBUS */
	return dst ? 0 : -ENOMEM;
}

static int td_migrate(struct testdev *dev, struct uhmm_mm *mm, unsigned long start, unsigned long npages,
		      bool to_device, unsigned long *cpages, unsigned long *migrated)
{
	unsigned long *src = calloc(npages ? npages : 1, sizeof(*src));
	unsigned long *dst = calloc(npages ? npages : 1, sizeof(*dst));
	struct uhmm_migrate_vma m;
	unsigned long i, n = 0;
	int r;

	assert_non_null(src);
	assert_non_null(dst);
	memset(&m, 0, sizeof(m));
	uhmm_mmap_read_lock(mm);
	m.vma = uhmm_find_vma(mm, start);
	m.start = start;
	m.end = start + npages * TD_PAGE;
	m.src = src;
	m.dst = dst;
	m.pgmap_owner = dev;
	m.flags = to_device ? UHMM_MIGRATE_VMA_SELECT_SYSTEM : td_back_flags(dev);
	r = uhmm_migrate_vma_setup(&m);
	if (r)
		goto out;
	if (cpages)
		*cpages = m.cpages;
	testdev_fill_dst(dev, src, dst, m.npages, to_device, NULL);
	uhmm_migrate_vma_pages(&m);
	for (i = 0; i < m.npages; i++)
		n += !!(src[i] & UHMM_MIGRATE_PFN_MIGRATE);
	uhmm_migrate_vma_finalize(&m);
	if (migrated)
		*migrated = n;
out:
	uhmm_mmap_read_unlock(mm);
	free(src);
	free(dst);
	return r;
}

int testdev_migrate_to_device(struct testdev *dev, struct uhmm_mm *mm, unsigned long start, unsigned long npages,
			      unsigned long *cpages, unsigned long *migrated)
{
	return td_migrate(dev, mm, start, npages, true, cpages, migrated);
}

int testdev_migrate_to_ram(struct testdev *dev, struct uhmm_mm *mm, unsigned long start, unsigned long npages,
			   unsigned long *cpages, unsigned long *migrated)
{
	return td_migrate(dev, mm, start, npages, false, cpages, migrated);
}

unsigned long testdev_evict(struct testdev *dev)
{
	unsigned long npages = dev->pgmap.nr_pages, i, n = 0;
	unsigned long *src = calloc(npages, sizeof(*src));
	unsigned long *dst = calloc(npages, sizeof(*dst));

	assert_non_null(src);
	assert_non_null(dst);
	assert_int_equal(uhmm_migrate_device_range(dev->sys, src, dev->pgmap.pfn_first, npages), 0);
	testdev_fill_dst(dev, src, dst, npages, false, NULL);
	uhmm_migrate_device_pages(dev->sys, src, dst, npages);
	for (i = 0; i < npages; i++)
		n += !!(src[i] & UHMM_MIGRATE_PFN_MIGRATE);
	uhmm_migrate_device_finalize(dev->sys, src, dst, npages);
	free(src);
	free(dst);
	return n;
}

void testdev_assert_no_leaks(struct uhmm_system *sys)
{
	struct uhmm_system_stats st;

	assert_int_equal(uhmm_system_get_stats(sys, &st), 0);
	assert_int_equal(st.used_pages, 1);
	assert_int_equal(st.device_pages, 0);
	assert_int_equal(st.device_pages_used, 0);
}

/* ------------------------------------------------------------ recorder */
static bool rec_invalidate(struct uhmm_mmu_interval_notifier *sub, const struct uhmm_mmu_notifier_range *range,
			   unsigned long cur_seq)
{
	struct testdev_recorder *r = (struct testdev_recorder *)((char *)sub - offsetof(struct testdev_recorder, sub));

	pthread_mutex_lock(&r->lock);
	uhmm_mmu_interval_set_seq(sub, cur_seq);
	if (r->n < TESTDEV_REC_MAX) {
		struct testdev_event *e = &r->ev[r->n];

		e->event = range->event;
		e->start = range->start;
		e->end = range->end;
		e->owner = range->owner;
		e->mm = range->mm;
	}
	r->n++;
	pthread_mutex_unlock(&r->lock);
	return true;
}

static const struct uhmm_mmu_interval_notifier_ops rec_ops = { .invalidate = rec_invalidate };

int testdev_rec_insert(struct testdev_recorder *r, struct uhmm_mm *mm, unsigned long start, unsigned long len)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	return uhmm_mmu_interval_notifier_insert(&r->sub, mm, start, len, &rec_ops);
}

void testdev_rec_remove(struct testdev_recorder *r)
{
	uhmm_mmu_interval_notifier_remove(&r->sub);
	pthread_mutex_destroy(&r->lock);
}

void testdev_rec_reset(struct testdev_recorder *r)
{
	pthread_mutex_lock(&r->lock);
	r->n = 0;
	pthread_mutex_unlock(&r->lock);
}

unsigned testdev_rec_n(struct testdev_recorder *r)
{
	unsigned n;

	pthread_mutex_lock(&r->lock);
	n = r->n;
	pthread_mutex_unlock(&r->lock);
	assert_true(n <= TESTDEV_REC_MAX);
	return n;
}

unsigned testdev_rec_count(struct testdev_recorder *r, enum uhmm_mmu_notifier_event ev)
{
	unsigned i, c = 0;

	pthread_mutex_lock(&r->lock);
	for (i = 0; i < r->n && i < TESTDEV_REC_MAX; i++)
		c += r->ev[i].event == ev;
	pthread_mutex_unlock(&r->lock);
	return c;
}

struct testdev_event testdev_rec_get(struct testdev_recorder *r, unsigned i)
{
	struct testdev_event e;

	pthread_mutex_lock(&r->lock);
	assert_true(i < r->n && i < TESTDEV_REC_MAX);
	e = r->ev[i];
	pthread_mutex_unlock(&r->lock);
	return e;
}

void testdev_rec_dump(struct testdev_recorder *r, const char *tag)
{
	unsigned i;

	pthread_mutex_lock(&r->lock);
	fprintf(stderr, "%s: %u events\n", tag, r->n);
	for (i = 0; i < r->n && i < TESTDEV_REC_MAX; i++)
		fprintf(stderr, "  %-10s [%#lx, %#lx) owner %p\n", uhmm_mmu_notifier_event_name(r->ev[i].event),
			r->ev[i].start, r->ev[i].end, r->ev[i].owner);
	pthread_mutex_unlock(&r->lock);
}

/* ------------------------------------------------------- test plumbing */
struct uhmm_system *testdev_sys_create(size_t ram_bytes)
{
	struct uhmm_system_opts o = { .ram_bytes = ram_bytes };
	struct uhmm_system *sys = NULL;

	assert_int_equal(uhmm_system_create(&o, &sys), 0);
	return sys;
}

void testdev_sys_destroy(struct uhmm_system *sys)
{
	testdev_assert_no_leaks(sys);
	uhmm_system_destroy(sys);
}

unsigned long testdev_mmap(struct uhmm_mm *mm, unsigned long npages, int prot, int flags)
{
	unsigned long addr = 0;

	assert_int_equal(uhmm_mmap(mm, 0, npages * TD_PAGE, prot, flags | MAP_ANONYMOUS, &addr), 0);
	assert_int_not_equal(addr, 0);
	return addr;
}

/* Depends on the virtual address, so any sub-range can be checked on its own. */
static uint32_t td_word(unsigned seed, unsigned long va)
{
	uint64_t z = va * 0x9E3779B97F4A7C15ULL ^ ((uint64_t)seed << 32 | seed);

	return (uint32_t)(z ^ (z >> 29));
}

void testdev_fill(struct uhmm_mm *mm, unsigned long addr, unsigned long npages, unsigned seed)
{
	uint32_t buf[TD_PAGE / 4];
	unsigned long i, w;

	for (i = 0; i < npages; i++) {
		for (w = 0; w < TD_PAGE / 4; w++)
			buf[w] = td_word(seed, addr + i * TD_PAGE + w * 4);
		assert_int_equal(uhmm_cpu_write(mm, addr + i * TD_PAGE, buf, TD_PAGE), 0);
	}
}

int testdev_check_pattern(struct uhmm_mm *mm, unsigned long addr, unsigned long npages, unsigned seed)
{
	uint32_t buf[TD_PAGE / 4];
	unsigned long i, w;
	int r;

	for (i = 0; i < npages; i++) {
		r = uhmm_cpu_read(mm, addr + i * TD_PAGE, buf, TD_PAGE);
		if (r)
			return r;
		for (w = 0; w < TD_PAGE / 4; w++)
			if (buf[w] != td_word(seed, addr + i * TD_PAGE + w * 4))
				return -EILSEQ;
	}
	return 0;
}

void testdev_assert_pattern(struct uhmm_mm *mm, unsigned long addr, unsigned long npages, unsigned seed)
{
	assert_int_equal(testdev_check_pattern(mm, addr, npages, seed), 0);
}

void testdev_assert_zero(struct uhmm_mm *mm, unsigned long addr, unsigned long npages)
{
	static const unsigned char zero[TD_PAGE];
	unsigned char buf[TD_PAGE];
	unsigned long i;

	for (i = 0; i < npages; i++) {
		memset(buf, 0xcc, sizeof(buf));
		assert_int_equal(uhmm_cpu_read(mm, addr + i * TD_PAGE, buf, TD_PAGE), 0);
		assert_memory_equal(buf, zero, TD_PAGE);
	}
}

struct uhmm_pte_info testdev_pte(struct uhmm_mm *mm, unsigned long addr)
{
	struct uhmm_pte_info info;

	assert_int_equal(uhmm_mm_query_pte(mm, addr, &info), 0);
	return info;
}

struct uhmm_page *testdev_pte_page(struct uhmm_mm *mm, unsigned long addr)
{
	struct uhmm_pte_info info = testdev_pte(mm, addr);
	struct uhmm_page *p;

	assert_int_not_equal(info.kind, UHMM_PTE_NONE);
	p = uhmm_pfn_to_page(uhmm_mm_system(mm), info.pfn);
	assert_non_null(p);
	return p;
}

int testdev_run(const char *prog, const struct CMUnitTest *tests, size_t n, int argc, char **argv)
{
	struct CMUnitTest *sel = calloc(n ? n : 1, sizeof(*sel));
	size_t i, k = 0;
	int r;

	assert_non_null(sel);
	if (argc > 1 && strcmp(argv[1], "--list") == 0) {
		for (i = 0; i < n; i++)
			printf("%s\n", tests[i].name);
		free(sel);
		return 0;
	}
	for (i = 0; i < n; i++)
		if (argc < 2 || strcmp(argv[1], tests[i].name) == 0)
			sel[k++] = tests[i];
	if (!k) {
		fprintf(stderr, "%s: no test case named '%s'\n", prog, argv[1]);
		free(sel);
		return 2;
	}
	/* exact-name selection here rather than cmocka's glob filter */
	r = _cmocka_run_group_tests(prog, sel, k, NULL, NULL);
	free(sel);
	return r;
}
