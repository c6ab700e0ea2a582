/* SPDX-License-Identifier: MIT */
/* tests/api/test_thp.c - transparent huge pages through the public API.
 *
 * A fault in an eligible, aligned 2 MiB range of a private anonymous VMA maps
 * one huge page (order 9 in uhmm_mm_query_pte and hmm_range_fault, 512
 * present entries for uhmm_mm_count_ptes, 512 frames used); the three THP
 * modes and MADV_(NO)HUGEPAGE decide eligibility; a failed 2 MiB allocation
 * falls back to base pages; partial munmap, mprotect, MADV_DONTNEED, mremap,
 * fork, GUP pins, device-exclusive and migration split it with the data
 * intact and the events Linux emits; a full-range unmap frees the block whole.
 * Usage: test_thp [--list | CASE].
 */
#include "common/mm_helpers.h"
#include "common/testdev.h"

#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <string.h>

#define HPAGE (2UL << 20)
#define NR (HPAGE / PG)
#define BASE (64UL << 30)	/* 2 MiB aligned, far from other mappings */
#define RAM (32UL << 20)

static struct uhmm_system *thp_system(enum uhmm_thp_mode mode)
{
	struct uhmm_system_opts o = { .ram_bytes = RAM, .thp = mode };
	struct uhmm_system *sys = NULL;

	assert_int_equal(uhmm_system_create(&o, &sys), 0);
	return sys;
}

/* Two huge pages' worth at BASE, advised MADV_HUGEPAGE when @advise. */
static void map_huge(struct uhmm_mm *mm, unsigned long len, bool advise)
{
	mh_mmap(mm, BASE, len, MH_RW, MH_PRIV | MAP_FIXED);
	if (advise)
		mh_assert_ret(uhmm_madvise(mm, BASE, len, MADV_HUGEPAGE), 0);
}

static void assert_huge(struct uhmm_mm *mm, unsigned long addr)
{
	struct uhmm_pte_info pi = mh_pte(mm, addr), head = mh_pte(mm, addr & ~(HPAGE - 1));

	assert_int_equal(pi.kind, UHMM_PTE_PRESENT);
	assert_int_equal(pi.order, 9);
	assert_int_equal(pi.pfn, head.pfn + ((addr & (HPAGE - 1)) / PG));
	assert_int_equal(head.pfn % NR, 0);
	assert_int_equal(head.mapcount, 1);
}

static void assert_base(struct uhmm_mm *mm, unsigned long addr)
{
	struct uhmm_pte_info pi = mh_pte(mm, addr);

	assert_int_equal(pi.kind, UHMM_PTE_PRESENT);
	assert_int_equal(pi.order, 0);
}

static void test_write_fault_maps_huge_page(void **state)
{
	struct uhmm_system *sys = thp_system(UHMM_THP_MADVISE);
	struct uhmm_mm *mm = mh_mm(sys);
	unsigned long counts[6];

	(void)state;
	map_huge(mm, HPAGE, true);
	mh_write(mm, BASE + 5 * PG + 3, 100, 1);
	assert_huge(mm, BASE);
	assert_huge(mm, BASE + HPAGE - PG);
	assert_true(mh_pte(mm, BASE).write);
	assert_int_equal(mh_used_pages(sys), 1 + NR);
	assert_int_equal(uhmm_mm_count_ptes(mm, BASE, BASE + HPAGE, counts), 0);
	assert_int_equal(counts[UHMM_PTE_PRESENT], NR);
	mh_check(mm, BASE + 5 * PG + 3, 100, 1);
	mh_check_zero(mm, BASE, 5 * PG);	/* the rest of the huge page is zeroed */
	mh_check_zero(mm, BASE + 6 * PG, HPAGE - 6 * PG);
	/* a full-range unmap frees the 2 MiB block whole */
	mh_assert_ret(uhmm_munmap(mm, BASE, HPAGE), 0);
	assert_int_equal(mh_used_pages(sys), 1);
	uhmm_mm_put(mm);
	mh_system_done(sys);
}

/* MADVISE needs the advice; ALWAYS does not but honours NOHUGEPAGE; NEVER never; unaligned ranges never. */
static void test_modes_and_advice(void **state)
{
	struct uhmm_system *sys;
	struct uhmm_mm *mm;

	(void)state;
	sys = thp_system(UHMM_THP_MADVISE);
	mm = mh_mm(sys);
	map_huge(mm, HPAGE, false);
	mh_write(mm, BASE, 1, 1);
	assert_base(mm, BASE);
	uhmm_mm_put(mm);
	mh_system_done(sys);

	sys = thp_system(UHMM_THP_ALWAYS);
	mm = mh_mm(sys);
	map_huge(mm, 2 * HPAGE, false);
	mh_assert_ret(uhmm_madvise(mm, BASE + HPAGE, HPAGE, MADV_NOHUGEPAGE), 0);
	mh_write(mm, BASE, 1, 1);
	mh_write(mm, BASE + HPAGE, 1, 1);
	assert_huge(mm, BASE);
	assert_base(mm, BASE + HPAGE);
	/* a VMA that does not cover an aligned 2 MiB range gets base pages */
	mh_mmap(mm, BASE + 8 * HPAGE + PG, HPAGE, MH_RW, MH_PRIV | MAP_FIXED);
	mh_write(mm, BASE + 8 * HPAGE + PG, 1, 1);
	assert_base(mm, BASE + 8 * HPAGE + PG);
	uhmm_mm_put(mm);
	mh_system_done(sys);

	sys = thp_system(UHMM_THP_NEVER);
	mm = mh_mm(sys);
	map_huge(mm, HPAGE, true);
	mh_write(mm, BASE, 1, 1);
	assert_base(mm, BASE);
	uhmm_mm_put(mm);
	mh_system_done(sys);

	/* bad input changes nothing */
	{
		struct uhmm_system_opts o = { .ram_bytes = RAM, .thp = (enum uhmm_thp_mode)7 };
		struct uhmm_system *bad = NULL;

		assert_int_equal(uhmm_system_create(&o, &bad), -EINVAL);
		assert_null(bad);
	}
}

/* No 2 MiB block: the fault falls back to a base page, as Linux's. */
static void test_fallback_when_no_block(void **state)
{
	struct uhmm_system *sys = thp_system(UHMM_THP_ALWAYS);
	struct uhmm_mm *mm = mh_mm(sys);

	(void)state;
	map_huge(mm, HPAGE, false);
	uhmm_fail_huge_alloc(1);
	mh_write(mm, BASE, PG, 2);
	uhmm_fail_huge_alloc(0);
	assert_base(mm, BASE);
	assert_int_equal(mh_used_pages(sys), 2);
	mh_check(mm, BASE, PG, 2);
	uhmm_mm_put(mm);
	mh_system_done(sys);
}

/* Partial munmap, mprotect, MADV_DONTNEED and mremap split the huge page; the data stays. */
static void test_partial_operations_split(void **state)
{
	struct uhmm_system *sys = thp_system(UHMM_THP_ALWAYS);
	struct uhmm_mm *mm = mh_mm(sys);
	unsigned long out;

	(void)state;
	map_huge(mm, 4 * HPAGE, false);
	mh_write(mm, BASE, 4 * HPAGE, 3);
	assert_huge(mm, BASE);
	assert_huge(mm, BASE + 3 * HPAGE);

	/* munmap of one page: one UNMAP of that page, the rest stays mapped as base pages */
	mh_assert_ret(uhmm_munmap(mm, BASE + 7 * PG, PG), 0);
	assert_base(mm, BASE);
	assert_int_equal(mh_pte(mm, BASE + 7 * PG).kind, UHMM_PTE_NONE);
	mh_check(mm, BASE, 7 * PG, 3);
	mh_check(mm, BASE + 8 * PG, HPAGE - 8 * PG, 3);
	assert_int_equal(mh_used_pages(sys), 1 + 4 * NR - 1);

	/* mprotect of a part: split, the part read-only */
	mh_assert_ret(uhmm_mprotect(mm, BASE + HPAGE, 4 * PG, PROT_READ), 0);
	assert_base(mm, BASE + HPAGE + 4 * PG);
	assert_false(mh_pte(mm, BASE + HPAGE).write);
	assert_true(mh_pte(mm, BASE + HPAGE + 4 * PG).write);
	mh_check(mm, BASE + HPAGE, HPAGE, 3);

	/* MADV_DONTNEED of a part: those pages read back as zeroes */
	mh_assert_ret(uhmm_madvise(mm, BASE + 2 * HPAGE + 10 * PG, 2 * PG, MADV_DONTNEED), 0);
	mh_check_zero(mm, BASE + 2 * HPAGE + 10 * PG, 2 * PG);
	mh_check(mm, BASE + 2 * HPAGE + 12 * PG, HPAGE - 12 * PG, 3);

	/* mremap of the last huge page to an unaligned place moves the data */
	mh_assert_ret(uhmm_mremap(mm, BASE + 3 * HPAGE, HPAGE, HPAGE, MREMAP_MAYMOVE | MREMAP_FIXED,
				  BASE + 9 * HPAGE + PG, &out), 0);
	assert_int_equal(out, BASE + 9 * HPAGE + PG);
	mh_check_at(mm, out, BASE + 3 * HPAGE, HPAGE, 3);
	assert_base(mm, out);
	uhmm_mm_put(mm);
	mh_system_done(sys);
}

/* fork splits the parent's huge page (uhmm does not share it); both sides keep their data. */
static void test_fork(void **state)
{
	struct uhmm_system *sys = thp_system(UHMM_THP_ALWAYS);
	struct uhmm_mm *mm = mh_mm(sys), *child;

	(void)state;
	map_huge(mm, HPAGE, false);
	mh_write(mm, BASE, HPAGE, 4);
	assert_huge(mm, BASE);
	child = mh_fork(mm);
	assert_base(mm, BASE);
	assert_base(child, BASE);
	assert_false(mh_pte(mm, BASE).write);
	mh_check(child, BASE, HPAGE, 4);
	mh_write(child, BASE, PG, 5);	/* COW in the child only */
	mh_check(mm, BASE, HPAGE, 4);
	mh_check(child, BASE, PG, 5);
	uhmm_mm_put(child);
	uhmm_mm_put(mm);
	mh_system_done(sys);
}

/* hmm_range_fault reports a huge page with map order 9; a pin splits it. */
static void test_range_fault_order_and_pin(void **state)
{
	struct uhmm_system *sys = thp_system(UHMM_THP_ALWAYS);
	struct uhmm_mm *mm = mh_mm(sys);
	struct testdev_recorder rec = { 0 };
	struct uhmm_page *pinned;
	unsigned long pfns[4], head, i;
	struct uhmm_range r;
	int ret;

	(void)state;
	map_huge(mm, HPAGE, false);
	assert_int_equal(testdev_rec_insert(&rec, mm, BASE, HPAGE), 0);
	memset(&r, 0, sizeof(r));
	r.notifier = &rec.sub;
	r.start = BASE + 100 * PG;
	r.end = r.start + 4 * PG;
	r.hmm_pfns = pfns;
	r.default_flags = UHMM_PFN_REQ_FAULT | UHMM_PFN_REQ_WRITE;
	do {
		r.notifier_seq = uhmm_mmu_interval_read_begin(r.notifier);
		uhmm_mmap_read_lock(mm);
		ret = uhmm_range_fault(&r);
		uhmm_mmap_read_unlock(mm);
	} while (ret == -EBUSY);
	assert_int_equal(ret, 0);
	head = mh_pte(mm, BASE).pfn;
	for (i = 0; i < 4; i++) {
		assert_int_equal(uhmm_pfn_to_map_order(pfns[i]), 9);
		assert_int_equal(uhmm_pfn_to_pfn(pfns[i]), head + 100 + i);
		assert_true(pfns[i] & UHMM_PFN_WRITE);
	}
	assert_huge(mm, BASE);
	/* a pin needs a page of its own: the huge page is split, the pinned frame stays the same */
	mh_assert_ret(uhmm_pin_user_pages(mm, BASE + 100 * PG, 1, true, &pinned), 0);
	assert_base(mm, BASE + 100 * PG);
	assert_int_equal(uhmm_page_to_pfn(pinned), head + 100);
	assert_int_equal(uhmm_page_refcount(pinned), 2);
	uhmm_unpin_user_pages(&pinned, 1);
	testdev_rec_remove(&rec);
	uhmm_mm_put(mm);
	mh_system_done(sys);
}

/* Migration of a range holding a huge page splits it and migrates base pages both ways. */
static void test_migrate_splits(void **state)
{
	struct uhmm_system *sys = thp_system(UHMM_THP_ALWAYS);
	struct uhmm_mm *mm = mh_mm(sys);
	struct testdev *dev;
	unsigned long cpages, migrated;

	(void)state;
	assert_int_equal(testdev_create(sys, UHMM_MEMORY_DEVICE_PRIVATE, 64, &dev), 0);
	map_huge(mm, HPAGE, false);
	mh_write(mm, BASE, HPAGE, 6);
	assert_huge(mm, BASE);
	assert_int_equal(testdev_migrate_to_device(dev, mm, BASE + 16 * PG, 32, &cpages, &migrated), 0);
	assert_int_equal(cpages, 32);
	assert_int_equal(migrated, 32);
	assert_int_equal(mh_pte(mm, BASE + 16 * PG).kind, UHMM_PTE_DEVICE_PRIVATE);
	assert_base(mm, BASE);
	mh_check(mm, BASE, HPAGE, 6);	/* CPU faults bring the device pages back */
	assert_base(mm, BASE + 16 * PG);
	uhmm_mm_put(mm);
	testdev_destroy(dev);
	mh_system_done(sys);
}

/* The whole huge page zapped by MADV_DONTNEED: one CLEAR, the block freed whole, zeroes after. */
static void test_dontneed_whole(void **state)
{
	struct uhmm_system *sys = thp_system(UHMM_THP_ALWAYS);
	struct uhmm_mm *mm = mh_mm(sys);

	(void)state;
	map_huge(mm, HPAGE, false);
	mh_write(mm, BASE, HPAGE, 7);
	mh_assert_ret(uhmm_madvise(mm, BASE, HPAGE, MADV_DONTNEED), 0);
	assert_int_equal(mh_pte(mm, BASE).kind, UHMM_PTE_NONE);
	assert_int_equal(mh_used_pages(sys), 1);
	mh_check_zero(mm, BASE, HPAGE);	/* a read fault: a new (zeroed) huge page */
	assert_huge(mm, BASE);
	uhmm_mm_put(mm);
	mh_system_done(sys);
}

/* Two threads: one reads and writes a huge page while the other splits and zaps parts of it. */
struct racer {
	struct uhmm_mm *mm;
	int rounds;
};

static void *cpu_thread(void *arg)
{
	struct racer *r = arg;
	unsigned char buf[64];

	for (int i = 0; i < r->rounds; i++) {
		memset(buf, i, sizeof(buf));
		if (uhmm_cpu_write(r->mm, BASE + (unsigned long)(i % 500) * PG, buf, sizeof(buf)))
			return (void *)1;
		if (uhmm_cpu_read(r->mm, BASE + HPAGE - PG, buf, sizeof(buf)))
			return (void *)1;
	}
	return NULL;
}

static void test_threads_split_while_accessed(void **state)
{
	struct uhmm_system *sys = thp_system(UHMM_THP_ALWAYS);
	struct uhmm_mm *mm = mh_mm(sys);
	struct racer r = { mm, 2000 };
	pthread_t t;
	void *ret;

	(void)state;
	map_huge(mm, HPAGE, false);
	assert_int_equal(pthread_create(&t, NULL, cpu_thread, &r), 0);
	for (int i = 0; i < 50; i++) {
		mh_assert_ret(uhmm_madvise(mm, BASE + 300 * PG, PG, MADV_DONTNEED), 0);	/* splits */
		mh_assert_ret(uhmm_madvise(mm, BASE, HPAGE, MADV_DONTNEED), 0);	/* zaps whatever is there */
	}
	assert_int_equal(pthread_join(t, &ret), 0);
	assert_null(ret);
	mh_assert_ret(uhmm_munmap(mm, BASE, HPAGE), 0);
	assert_int_equal(mh_used_pages(sys), 1);
	uhmm_mm_put(mm);
	mh_system_done(sys);
}

/*
 * Every path that meets a huge page, at once: a CPU thread, a snapshot
 * thread (hmm_range_fault, lockless) and a migration thread against the
 * main thread's partial and full zaps, mprotect, fork and pins. Nothing may
 * fail but the documented races (-EBUSY from a snapshot is retried), and
 * everything is freed at the end. Run under TSan by make check.
 */
struct mixer {
	struct uhmm_mm *mm;
	struct testdev *dev;
	struct testdev_recorder *rec;
	atomic_int stop;
	int errors;
};

static void *snapshot_thread(void *arg)
{
	struct mixer *m = arg;
	unsigned long pfns[64];

	while (!atomic_load(&m->stop)) {
		struct uhmm_range r;
		int ret;

		memset(&r, 0, sizeof(r));
		r.notifier = &m->rec->sub;
		r.start = BASE + 200 * PG;
		r.end = r.start + 64 * PG;
		r.hmm_pfns = pfns;
		r.notifier_seq = uhmm_mmu_interval_read_begin(r.notifier);
		uhmm_mmap_read_lock(m->mm);
		ret = uhmm_range_fault(&r);
		uhmm_mmap_read_unlock(m->mm);
		if (ret && ret != -EBUSY)
			m->errors++;
	}
	return NULL;
}

static void *migrate_thread(void *arg)
{
	struct mixer *m = arg;

	while (!atomic_load(&m->stop)) {
		int r1 = testdev_migrate_to_device(m->dev, m->mm, BASE + 400 * PG, 16, NULL, NULL);
		int r2 = testdev_migrate_to_ram(m->dev, m->mm, BASE + 400 * PG, 16, NULL, NULL);

		if (r1 || r2)
			m->errors++;
	}
	return NULL;
}

static void *writer_thread(void *arg)
{
	struct mixer *m = arg;
	unsigned char buf[32];
	unsigned i = 0;

	while (!atomic_load(&m->stop)) {
		memset(buf, (int)i, sizeof(buf));
		/* the range may be read-only for a moment (mprotect below): -EFAULT is the only allowed error */
		int r = uhmm_cpu_write(m->mm, BASE + (i++ % NR) * PG, buf, sizeof(buf));

		if (r && r != -EFAULT)
			m->errors++;
	}
	return NULL;
}

static void test_threads_every_path(void **state)
{
	struct uhmm_system *sys = thp_system(UHMM_THP_ALWAYS);
	struct uhmm_mm *mm = mh_mm(sys), *child;
	struct testdev_recorder rec = { 0 };
	struct mixer m = { .mm = mm, .rec = &rec };
	struct uhmm_page *pinned;
	pthread_t t[3];
	int i;

	(void)state;
	assert_int_equal(testdev_create(sys, UHMM_MEMORY_DEVICE_PRIVATE, 64, &m.dev), 0);
	map_huge(mm, HPAGE, false);
	assert_int_equal(testdev_rec_insert(&rec, mm, BASE, HPAGE), 0);
	assert_int_equal(pthread_create(&t[0], NULL, snapshot_thread, &m), 0);
	assert_int_equal(pthread_create(&t[1], NULL, migrate_thread, &m), 0);
	assert_int_equal(pthread_create(&t[2], NULL, writer_thread, &m), 0);
	for (i = 0; i < 40; i++) {
		mh_assert_ret(uhmm_madvise(mm, BASE, HPAGE, MADV_DONTNEED), 0);
		mh_write(mm, BASE + 7 * PG, 8, 1);	/* a new huge page, most of the time */
		switch (i % 4) {
		case 0:
			mh_assert_ret(uhmm_madvise(mm, BASE + 100 * PG, PG, MADV_DONTNEED), 0);
			break;
		case 1:
			mh_assert_ret(uhmm_mprotect(mm, BASE + 300 * PG, 2 * PG, PROT_READ), 0);
			mh_assert_ret(uhmm_mprotect(mm, BASE + 300 * PG, 2 * PG, MH_RW), 0);
			break;
		case 2:
			child = mh_fork(mm);
			uhmm_mm_put(child);
			break;
		case 3:
			mh_assert_ret(uhmm_pin_user_pages(mm, BASE + 50 * PG, 1, true, &pinned), 0);
			uhmm_unpin_user_pages(&pinned, 1);
			break;
		}
	}
	atomic_store(&m.stop, 1);
	for (i = 0; i < 3; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	assert_int_equal(m.errors, 0);
	testdev_rec_remove(&rec);
	mh_assert_ret(uhmm_munmap(mm, BASE, HPAGE), 0);
	assert_int_equal(mh_used_pages(sys), 1);
	uhmm_mm_put(mm);
	testdev_destroy(m.dev);
	mh_system_done(sys);
}

/*
 * UHMM_MADV_COLLAPSE: populated base pages become one huge page with the
 * same bytes under one CLEAR of the 2 MiB; the old frames are freed; empty
 * ranges, holes, pins, device entries and unsuitable VMAs fail with
 * Linux's errno and change nothing.
 */
static void test_collapse(void **state)
{
	struct uhmm_system *sys = thp_system(UHMM_THP_NEVER);	/* collapse ignores the mode */
	struct uhmm_mm *mm = mh_mm(sys), *child;
	struct testdev_recorder rec = { 0 };
	struct testdev *dev;
	struct uhmm_page *pinned;
	unsigned long sh;

	(void)state;
	assert_int_equal(testdev_create(sys, UHMM_MEMORY_DEVICE_PRIVATE, 8, &dev), 0);
	map_huge(mm, 3 * HPAGE, false);
	mh_assert_ret(uhmm_madvise(mm, BASE, HPAGE, UHMM_MADV_COLLAPSE), -ENOMEM);	/* nothing populated */
	mh_write(mm, BASE, HPAGE, 8);
	assert_base(mm, BASE);
	assert_int_equal(mh_used_pages(sys), 1 + NR);
	assert_int_equal(testdev_rec_insert(&rec, mm, BASE, 3 * HPAGE), 0);
	mh_assert_ret(uhmm_madvise(mm, BASE, HPAGE, UHMM_MADV_COLLAPSE), 0);
	assert_int_equal(testdev_rec_n(&rec), 1);
	assert_int_equal(testdev_rec_get(&rec, 0).event, UHMM_MMU_NOTIFY_CLEAR);
	assert_int_equal(testdev_rec_get(&rec, 0).start, BASE);
	assert_int_equal(testdev_rec_get(&rec, 0).end, BASE + HPAGE);
	assert_huge(mm, BASE);
	assert_int_equal(mh_used_pages(sys), 1 + NR);	/* the 512 base frames went back */
	mh_check(mm, BASE, HPAGE, 8);
	mh_assert_ret(uhmm_madvise(mm, BASE, HPAGE, UHMM_MADV_COLLAPSE), 0);	/* already huge */

	/* partly populated: the rest reads as zeroes; a page shared with a fork child is copied */
	mh_write(mm, BASE + HPAGE + 3 * PG, 2 * PG, 9);
	child = mh_fork(mm);	/* splits the first huge page in the parent */
	mh_assert_ret(uhmm_madvise(mm, BASE + HPAGE, HPAGE, UHMM_MADV_COLLAPSE), 0);
	assert_huge(mm, BASE + HPAGE);
	mh_check(mm, BASE + HPAGE + 3 * PG, 2 * PG, 9);
	mh_check_zero(mm, BASE + HPAGE, 3 * PG);
	mh_check_zero(mm, BASE + HPAGE + 5 * PG, HPAGE - 5 * PG);
	mh_write(mm, BASE + HPAGE + 3 * PG, PG, 10);	/* the parent's copy is its own */
	mh_check(child, BASE + HPAGE + 3 * PG, 2 * PG, 9);
	uhmm_mm_put(child);

	/* a pinned page: -EAGAIN, nothing changed */
	mh_write(mm, BASE + 2 * HPAGE, 4 * PG, 11);
	mh_assert_ret(uhmm_pin_user_pages(mm, BASE + 2 * HPAGE, 1, false, &pinned), 0);
	mh_assert_ret(uhmm_madvise(mm, BASE + 2 * HPAGE, HPAGE, UHMM_MADV_COLLAPSE), -EAGAIN);
	assert_base(mm, BASE + 2 * HPAGE);
	uhmm_unpin_user_pages(&pinned, 1);
	/* a device-private entry: -EINVAL */
	assert_int_equal(testdev_migrate_to_device(dev, mm, BASE + 2 * HPAGE + PG, 1, NULL, NULL), 0);
	mh_assert_ret(uhmm_madvise(mm, BASE + 2 * HPAGE, HPAGE, UHMM_MADV_COLLAPSE), -EINVAL);
	assert_int_equal(mh_pte(mm, BASE + 2 * HPAGE + PG).kind, UHMM_PTE_DEVICE_PRIVATE);
	mh_check(mm, BASE + 2 * HPAGE, 4 * PG, 11);	/* faults it back */
	/* no 2 MiB block: -ENOMEM */
	uhmm_fail_huge_alloc(1);
	mh_assert_ret(uhmm_madvise(mm, BASE + 2 * HPAGE, HPAGE, UHMM_MADV_COLLAPSE), -ENOMEM);
	uhmm_fail_huge_alloc(0);
	assert_base(mm, BASE + 2 * HPAGE);
	mh_assert_ret(uhmm_madvise(mm, BASE + 2 * HPAGE, HPAGE, UHMM_MADV_COLLAPSE), 0);
	assert_huge(mm, BASE + 2 * HPAGE);
	mh_check(mm, BASE + 2 * HPAGE, 4 * PG, 11);

	/* a hole, a shared mapping, MADV_NOHUGEPAGE */
	mh_assert_ret(uhmm_madvise(mm, BASE + 3 * HPAGE, HPAGE, UHMM_MADV_COLLAPSE), -ENOMEM);
	sh = BASE + 8 * HPAGE;
	mh_mmap(mm, sh, HPAGE, MH_RW, MH_SHARED | MAP_FIXED);
	mh_write(mm, sh, PG, 12);
	mh_assert_ret(uhmm_madvise(mm, sh, HPAGE, UHMM_MADV_COLLAPSE), -EINVAL);
	mh_assert_ret(uhmm_madvise(mm, BASE, HPAGE, MADV_DONTNEED), 0);
	mh_write(mm, BASE, PG, 13);
	mh_assert_ret(uhmm_madvise(mm, BASE, HPAGE, MADV_NOHUGEPAGE), 0);
	mh_assert_ret(uhmm_madvise(mm, BASE, HPAGE, UHMM_MADV_COLLAPSE), -EINVAL);
	assert_base(mm, BASE);

	testdev_rec_remove(&rec);
	uhmm_mm_put(mm);
	testdev_destroy(dev);
	mh_system_done(sys);
}

/*
 * A frame inside a huge page has no references of its own: a driver's
 * uhmm_get_page on one stops with a message (in a child process), while the
 * head takes references as any page.
 */
static void test_reference_on_tail_stops(void **state)
{
	struct uhmm_system *sys = thp_system(UHMM_THP_ALWAYS);
	struct uhmm_mm *mm = mh_mm(sys);
	struct uhmm_page *head, *tail;
	int status;
	pid_t pid;

	(void)state;
	map_huge(mm, HPAGE, false);
	mh_write(mm, BASE, 1, 1);
	head = uhmm_pfn_to_page(sys, mh_pte(mm, BASE).pfn);
	tail = uhmm_pfn_to_page(sys, mh_pte(mm, BASE + 7 * PG).pfn);
	assert_int_equal(uhmm_page_to_pfn(tail), uhmm_page_to_pfn(head) + 7);
	uhmm_get_page(head);
	assert_int_equal(uhmm_page_refcount(head), 2);
	uhmm_put_page(head);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (!freopen("/dev/null", "w", stderr))
			_exit(3);
		uhmm_get_page(tail);
		_exit(0);	/* must not get here */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	assert_int_equal(uhmm_page_refcount(head), 1);
	uhmm_mm_put(mm);
	mh_system_done(sys);
}

/*
 * Random operations on 2 x 2 MiB of huge-page-eligible memory against a
 * shadow copy of its bytes: writes, reads, partial and full DONTNEED,
 * MADV_FREE, MADV_COLLAPSE, mprotect, fork (the child checked then exited),
 * migrations to a device and back, pins. Whatever mix of huge and base
 * pages results, every byte must read back as the shadow says. The seed is
 * printed; THP_SEED=N replays it.
 */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void check_shadow(struct uhmm_mm *mm, const unsigned char *shadow, unsigned long len, uint64_t seed, int op)
{
	static unsigned char buf[2 * (2UL << 20)];
	unsigned long i;

	assert_int_equal(uhmm_cpu_read(mm, BASE, buf, len), 0);
	for (i = 0; i < len; i++)
		if (buf[i] != shadow[i]) {
			fprintf(stderr, "test_thp: seed %llu op %d: byte %#lx is %#x, expected %#x\n",
				(unsigned long long)seed, op, i, buf[i], shadow[i]);
			fail();
		}
}

static void test_random_ops(void **state)
{
	enum { OPS = 400 };
	static unsigned char shadow[2 * (2UL << 20)];
	struct uhmm_system *sys = thp_system(UHMM_THP_ALWAYS);
	struct uhmm_mm *mm = mh_mm(sys);
	const char *env = getenv("THP_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 0) : ((uint64_t)time(NULL) * 0x9E3779B97F4A7C15ULL ^ (uint64_t)getpid() << 20) | 1, s;
	unsigned long len = 2 * HPAGE;
	struct testdev *dev;
	bool ro = false;
	int op;

	(void)state;
	fprintf(stderr, "test_thp: random_ops seed %llu (THP_SEED=%llu replays it)\n", (unsigned long long)seed,
		(unsigned long long)seed);
	s = seed;
	assert_int_equal(testdev_create(sys, UHMM_MEMORY_DEVICE_PRIVATE, 64, &dev), 0);
	map_huge(mm, len, false);
	memset(shadow, 0, sizeof(shadow));
	for (op = 0; op < OPS; op++) {
		unsigned long a = rnd(&s) % len, n = 1 + rnd(&s) % (3 * PG), pg = (rnd(&s) % (len / PG)) * PG;
		unsigned long npg = 1 + rnd(&s) % 64;
		unsigned char v = (unsigned char)rnd(&s);

		if (a + n > len)
			n = len - a;
		if (pg + npg * PG > len)
			npg = (len - pg) / PG;
		switch (rnd(&s) % 10) {
		case 0: case 1: case 2:
			if (ro)
				break;
			{
				unsigned char buf[3 * 4096];

				memset(buf, v, n);
				assert_int_equal(uhmm_cpu_write(mm, BASE + a, buf, n), 0);
				memset(shadow + a, v, n);
			}
			break;
		case 3:
			mh_assert_ret(uhmm_madvise(mm, BASE + pg, npg * PG, MADV_DONTNEED), 0);
			memset(shadow + pg, 0, npg * PG);
			break;
		case 4: {
			unsigned long h = (rnd(&s) % 2) * HPAGE;

			if (rnd(&s) % 2) {
				mh_assert_ret(uhmm_madvise(mm, BASE + h, HPAGE, MADV_DONTNEED), 0);
				memset(shadow + h, 0, HPAGE);
			} else {
				mh_assert_ret(uhmm_madvise(mm, BASE + h, HPAGE, MADV_FREE), 0);	/* the bytes stay */
			}
			break;
		}
		case 5: {
			int r = uhmm_madvise(mm, BASE + (rnd(&s) % 2) * HPAGE, HPAGE, UHMM_MADV_COLLAPSE);

			assert_true(r == 0 || r == -ENOMEM || r == -EINVAL || r == -EAGAIN);
			break;
		}
		case 6:
			ro = !ro;
			mh_assert_ret(uhmm_mprotect(mm, BASE + pg, npg * PG, PROT_READ), 0);
			mh_assert_ret(uhmm_mprotect(mm, BASE, len, ro ? PROT_READ : MH_RW), 0);
			break;
		case 7: {
			struct uhmm_mm *child = mh_fork(mm);

			check_shadow(child, shadow, len, seed, op);
			uhmm_mm_put(child);
			break;
		}
		case 8: {
			unsigned long m = npg > 32 ? 32 : npg;

			assert_int_equal(testdev_migrate_to_device(dev, mm, BASE + pg, m, NULL, NULL), 0);
			if (rnd(&s) % 2)
				assert_int_equal(testdev_migrate_to_ram(dev, mm, BASE + pg, m, NULL, NULL), 0);
			break;
		}
		default: {
			struct uhmm_page *p;

			mh_assert_ret(uhmm_pin_user_pages(mm, BASE + pg, 1, false, &p), 0);
			uhmm_unpin_user_pages(&p, 1);
			break;
		}
		}
		if (op % 50 == 49)
			check_shadow(mm, shadow, len, seed, op);
	}
	check_shadow(mm, shadow, len, seed, OPS);
	uhmm_mm_put(mm);
	testdev_destroy(dev);
	mh_system_done(sys);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_write_fault_maps_huge_page),
	cmocka_unit_test(test_modes_and_advice),
	cmocka_unit_test(test_fallback_when_no_block),
	cmocka_unit_test(test_partial_operations_split),
	cmocka_unit_test(test_fork),
	cmocka_unit_test(test_range_fault_order_and_pin),
	cmocka_unit_test(test_migrate_splits),
	cmocka_unit_test(test_dontneed_whole),
	cmocka_unit_test(test_threads_split_while_accessed),
	cmocka_unit_test(test_threads_every_path),
	cmocka_unit_test(test_collapse),
	cmocka_unit_test(test_reference_on_tail_stops),
	cmocka_unit_test(test_random_ops),
};

int main(int argc, char **argv)
{
	return testdev_run("test_thp", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
