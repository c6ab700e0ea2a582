/* SPDX-License-Identifier: MIT */
/* tests/api/test_badinput.c - wrong calls get Linux's errno and change nothing.
 *
 * Kernel analogue: the argument checks at the top of mm/mmap.c, mprotect.c,
 * madvise.c, mremap.c and mmu_notifier.c. Each table row is one ctest case:
 * a fixture address space is built, snapshotted (VMA count, the VMA and the
 * page-table entry of every page around it, used frames), the wrong call is
 * made, and the snapshot and the contents of the known mappings must be
 * unchanged. Then come RAM exhaustion, tiny systems and calls on an exited
 * address space. Usage: test_badinput [--list | CASE_NAME].
 */
#include "common/mm_helpers.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The fixture, in pages from BASE:
 *   [0, 8)    A  private RW, written (seed 1)
 *   [8, 10)   hole
 *   [10, 14)  B  shared RW, written (seed 2)
 *   [14, 16)  hole
 *   [16, 20)  C  private read-only, read (zero page)
 *   [20, 24)  D  private RW, never touched
 *   [24, ...) hole
 */
#define BASE 0x200000000UL
#define P(n) (BASE + (unsigned long)(n) * PG)
#define A P(0)
#define B P(10)
#define C P(16)
#define D P(20)
#define TASK_TOP (1UL << 47)
#define PROBE_FIRST (-2)
#define PROBE_LAST 40
#define NPROBE (PROBE_LAST - PROBE_FIRST)

struct fx {
	struct uhmm_system *sys;
	struct uhmm_mm *mm;
	unsigned long out;
};

static void fx_setup(struct fx *f)
{
	f->sys = mh_system(0);
	f->mm = mh_mm(f->sys);
	f->out = 0x1234;
	mh_mmap(f->mm, A, 8 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_mmap(f->mm, B, 4 * PG, MH_RW, MH_SHARED | MAP_FIXED);
	mh_mmap(f->mm, C, 4 * PG, PROT_READ, MH_PRIV | MAP_FIXED);
	mh_mmap(f->mm, D, 4 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_write(f->mm, A, 8 * PG, 1);
	mh_write(f->mm, B, 4 * PG, 2);
	mh_check_zero(f->mm, C, 4 * PG);
	assert_int_equal(uhmm_mm_vma_count(f->mm), 4);
}

static void fx_check_contents(struct fx *f)
{
	mh_check(f->mm, A, 8 * PG, 1);
	mh_check(f->mm, B, 4 * PG, 2);
	mh_check_zero(f->mm, C, 4 * PG);
}

static void fx_done(struct fx *f)
{
	uhmm_mm_put(f->mm);
	mh_system_done(f->sys);
}

struct snap {
	unsigned long vmas, used;
	bool has_vma[NPROBE];
	struct uhmm_vma_info vma[NPROBE];
	struct uhmm_pte_info pte[NPROBE];
};

static void snap_take(struct fx *f, struct snap *s)
{
	memset(s, 0, sizeof(*s));
	s->vmas = uhmm_mm_vma_count(f->mm);
	s->used = mh_used_pages(f->sys);
	for (int i = 0; i < NPROBE; i++) {
		unsigned long a = BASE + (long)(i + PROBE_FIRST) * (long)PG;

		s->has_vma[i] = mh_vma_at(f->mm, a, &s->vma[i]);
		s->pte[i] = mh_pte(f->mm, a);
	}
}

static void snap_compare(const struct snap *x, const struct snap *y)
{
	assert_int_equal(x->vmas, y->vmas);
	assert_int_equal(x->used, y->used);
	for (int i = 0; i < NPROBE; i++) {
		const struct uhmm_vma_info *a = &x->vma[i], *b = &y->vma[i];
		const struct uhmm_pte_info *p = &x->pte[i], *q = &y->pte[i];
		long pg = i + PROBE_FIRST;

		if (x->has_vma[i] != y->has_vma[i] ||
		    (x->has_vma[i] && (a->start != b->start || a->end != b->end || a->prot != b->prot ||
				       a->flags != b->flags || a->anonymous != b->anonymous)))
			fail_msg("page %ld: VMA changed", pg);
		if (p->kind != q->kind || p->write != q->write || p->dirty != q->dirty || p->young != q->young ||
		    p->soft_dirty != q->soft_dirty || p->pfn != q->pfn || p->refcount != q->refcount ||
		    p->mapcount != q->mapcount)
			fail_msg("page %ld: PTE changed: kind %d->%d write %d->%d pfn %#lx->%#lx ref %d->%d map %d->%d",
				 pg, p->kind, q->kind, p->write, q->write, p->pfn, q->pfn, p->refcount, q->refcount,
				 p->mapcount, q->mapcount);
	}
}

/* ---------------------------------------------------------- row helpers */
#define BUF_MODIFIED 999999L

/* A read that must fail without touching the destination. */
static long read_keeps_buf(struct fx *f, unsigned long addr, size_t len)
{
	unsigned char *buf = malloc(len);
	long r;

	memset(buf, 0xa5, len);
	r = uhmm_cpu_read(f->mm, addr, buf, len);
	for (size_t i = 0; i < len; i++)
		if (buf[i] != 0xa5) {
			print_error("destination modified at offset %zu\n", i);
			r = BUF_MODIFIED;
			break;
		}
	free(buf);
	return r;
}

static long write_junk(struct fx *f, unsigned long addr, size_t len)
{
	unsigned char *buf = malloc(len);
	long r;

	memset(buf, 0xee, len);
	r = uhmm_cpu_write(f->mm, addr, buf, len);
	free(buf);
	return r;
}

/* A pin that must fail, leave the array alone and pin nothing (the snapshot's refcounts). */
static long pin_keeps_array(struct fx *f, unsigned long addr, unsigned long n, bool write)
{
	struct uhmm_page *pages[8];
	long r;

	for (int i = 0; i < 8; i++)
		pages[i] = (struct uhmm_page *)(uintptr_t)0x5a5a;
	r = uhmm_pin_user_pages(f->mm, addr, n, write, pages);
	for (int i = 0; i < 8; i++)
		if (pages[i] != (struct uhmm_page *)(uintptr_t)0x5a5a) {
			print_error("pages[%d] modified\n", i);
			r = BUF_MODIFIED;
		}
	return r;
}

static bool noop_invalidate(struct uhmm_mmu_interval_notifier *sub, const struct uhmm_mmu_notifier_range *range,
			    unsigned long cur_seq)
{
	uhmm_mmu_interval_set_seq(sub, cur_seq);
	return true;
}
static const struct uhmm_mmu_interval_notifier_ops iops = { .invalidate = noop_invalidate };
static const struct uhmm_mmu_interval_notifier_ops iops_empty = { .invalidate = NULL };
static const struct uhmm_mmu_notifier_ops cops = { .release = NULL };

static long interval(struct uhmm_mm *mm, unsigned long start, unsigned long len,
		     const struct uhmm_mmu_interval_notifier_ops *ops, bool null_sub)
{
	struct uhmm_mmu_interval_notifier sub;
	long r;

	memset(&sub, 0, sizeof(sub));
	r = uhmm_mmu_interval_notifier_insert(null_sub ? NULL : &sub, mm, start, len, ops);
	if (r == 0)
		uhmm_mmu_interval_notifier_remove(&sub);
	return r;
}

static long classic(struct uhmm_mm *mm, const struct uhmm_mmu_notifier_ops *ops, bool null_sub)
{
	struct uhmm_mmu_notifier sub;
	long r;

	memset(&sub, 0, sizeof(sub));
	sub.ops = ops;
	r = uhmm_mmu_notifier_register(null_sub ? NULL : &sub, mm);
	if (r == 0)
		uhmm_mmu_notifier_unregister(&sub, mm);
	return r;
}

static long classic_twice(struct fx *f)
{
	struct uhmm_mmu_notifier sub;
	long r;

	memset(&sub, 0, sizeof(sub));
	sub.ops = &cops;
	if (uhmm_mmu_notifier_register(&sub, f->mm))
		return 1;
	r = uhmm_mmu_notifier_register(&sub, f->mm);
	uhmm_mmu_notifier_unregister(&sub, f->mm);
	return r;
}

static long query_null_info(struct fx *f) { return uhmm_mm_query_pte(f->mm, A, NULL); }
static long query_beyond(struct fx *f)
{
	struct uhmm_pte_info pi;

	return uhmm_mm_query_pte(f->mm, TASK_TOP, &pi);
}
static long count_ptes(struct fx *f, unsigned long s, unsigned long e)
{
	unsigned long counts[6];

	return uhmm_mm_count_ptes(f->mm, s, e, counts);
}
static long fork_into(struct uhmm_mm *mm, bool null_out)
{
	struct uhmm_mm *child = NULL;
	long r = uhmm_mm_fork(mm, null_out ? NULL : &child);

	if (r == 0)
		uhmm_mm_put(child);
	return r;
}
static long mm_create(struct uhmm_system *sys, bool null_out)
{
	struct uhmm_mm *mm = NULL;
	long r = uhmm_mm_create(sys, null_out ? NULL : &mm);

	if (r == 0)
		uhmm_mm_put(mm);
	return r;
}
static long stats(struct uhmm_system *sys, bool null_st)
{
	struct uhmm_system_stats st;

	return uhmm_system_get_stats(sys, null_st ? NULL : &st);
}

/* ------------------------------------------------------------ the table */
#define PRIV MH_PRIV
#define RW MH_RW
#define MM f->mm
#define OUT (&f->out)

/* X(name, expected, call) */
#define ROWS(X)                                                                                             \
	/* mmap */                                                                                          \
	X(mmap_len_zero, -EINVAL, uhmm_mmap(MM, 0, 0, RW, PRIV, OUT))                                      \
	X(mmap_fixed_len_zero, -EINVAL, uhmm_mmap(MM, P(30), 0, RW, PRIV | MAP_FIXED, OUT))                \
	X(mmap_fixed_misaligned, -EINVAL, uhmm_mmap(MM, P(30) + 1, PG, RW, PRIV | MAP_FIXED, OUT))        \
	X(mmap_noreplace_misaligned, -EINVAL, uhmm_mmap(MM, P(30) + 8, PG, RW, PRIV | MAP_FIXED_NOREPLACE, OUT)) \
	X(mmap_fixed_misaligned_over_mapping, -EINVAL, uhmm_mmap(MM, A + 1, PG, RW, PRIV | MAP_FIXED, OUT)) \
	X(mmap_without_anonymous, -EINVAL, uhmm_mmap(MM, 0, PG, RW, MAP_PRIVATE, OUT))                     \
	X(mmap_fixed_without_anonymous, -EINVAL, uhmm_mmap(MM, A, PG, RW, MAP_PRIVATE | MAP_FIXED, OUT))   \
	X(mmap_shared_and_private, -EINVAL, uhmm_mmap(MM, 0, PG, RW, MAP_SHARED | MAP_PRIVATE | MAP_ANONYMOUS, OUT)) \
	X(mmap_neither_shared_nor_private, -EINVAL, uhmm_mmap(MM, 0, PG, RW, MAP_ANONYMOUS, OUT))          \
	X(mmap_neither_fixed_over_mapping, -EINVAL, uhmm_mmap(MM, A, PG, RW, MAP_ANONYMOUS | MAP_FIXED, OUT)) \
	X(mmap_bad_prot, -EINVAL, uhmm_mmap(MM, 0, PG, 0x100, PRIV, OUT))                                  \
	X(mmap_bad_prot_fixed, -EINVAL, uhmm_mmap(MM, A, PG, PROT_READ | 0x1000, PRIV | MAP_FIXED, OUT))  \
	X(mmap_noreplace_over_mapping, -EEXIST, uhmm_mmap(MM, A, 8 * PG, RW, PRIV | MAP_FIXED_NOREPLACE, OUT)) \
	X(mmap_noreplace_inside_mapping, -EEXIST, uhmm_mmap(MM, A + PG, PG, RW, MH_SHARED | MAP_FIXED_NOREPLACE, OUT)) \
	X(mmap_noreplace_hole_then_mapping, -EEXIST, uhmm_mmap(MM, P(8), 3 * PG, RW, PRIV | MAP_FIXED_NOREPLACE, OUT)) \
	X(mmap_noreplace_mapping_then_hole, -EEXIST, uhmm_mmap(MM, P(22), 4 * PG, RW, PRIV | MAP_FIXED_NOREPLACE, OUT)) \
	X(mmap_too_long, -ENOMEM, uhmm_mmap(MM, 0, 1UL << 48, RW, PRIV, OUT))                              \
	X(mmap_len_wraps, -ENOMEM, uhmm_mmap(MM, 0, ULONG_MAX - 10, RW, PRIV, OUT))                        \
	X(mmap_fixed_beyond_task_size, -ENOMEM, uhmm_mmap(MM, TASK_TOP - PG, 2 * PG, RW, PRIV | MAP_FIXED, OUT)) \
	X(mmap_null_mm, -EINVAL, uhmm_mmap(NULL, 0, PG, RW, PRIV, OUT))                                    \
	/* munmap */                                                                                        \
	X(munmap_misaligned, -EINVAL, uhmm_munmap(MM, A + 1, PG))                                          \
	X(munmap_len_zero, -EINVAL, uhmm_munmap(MM, A, 0))                                                 \
	X(munmap_hole, 0, uhmm_munmap(MM, P(8), 2 * PG))                                                   \
	X(munmap_far_hole, 0, uhmm_munmap(MM, P(100), 100 * PG))                                           \
	X(munmap_beyond_task_size, -EINVAL, uhmm_munmap(MM, TASK_TOP - PG, 2 * PG))                        \
	X(munmap_len_wraps, -EINVAL, uhmm_munmap(MM, A, ULONG_MAX - PG))                                   \
	X(munmap_null_mm, -EINVAL, uhmm_munmap(NULL, A, PG))                                               \
	/* mprotect */                                                                                      \
	X(mprotect_misaligned, -EINVAL, uhmm_mprotect(MM, A + 1, PG, PROT_READ))                           \
	X(mprotect_bad_prot, -EINVAL, uhmm_mprotect(MM, A, PG, 0x100))                                     \
	X(mprotect_hole, -ENOMEM, uhmm_mprotect(MM, P(8), 2 * PG, PROT_READ))                              \
	X(mprotect_mapping_then_hole, -ENOMEM, uhmm_mprotect(MM, A, 10 * PG, PROT_READ))                   \
	X(mprotect_hole_then_mapping, -ENOMEM, uhmm_mprotect(MM, P(8), 4 * PG, PROT_READ))                 \
	X(mprotect_hole_between_mappings, -ENOMEM, uhmm_mprotect(MM, A, 14 * PG, PROT_NONE))               \
	X(mprotect_len_zero, 0, uhmm_mprotect(MM, P(8), 0, PROT_READ))                                     \
	X(mprotect_len_wraps, -ENOMEM, uhmm_mprotect(MM, A, ULONG_MAX - PG, PROT_READ))                    \
	X(mprotect_null_mm, -EINVAL, uhmm_mprotect(NULL, A, PG, PROT_READ))                                \
	/* madvise */                                                                                       \
	X(madvise_misaligned, -EINVAL, uhmm_madvise(MM, A + 1, PG, MADV_DONTNEED))                         \
	X(madvise_unknown_advice, -EINVAL, uhmm_madvise(MM, A, PG, 12345))                                 \
	X(madvise_unknown_advice_negative, -EINVAL, uhmm_madvise(MM, A, PG, -1))                           \
	X(madvise_dontneed_hole, -ENOMEM, uhmm_madvise(MM, P(8), 2 * PG, MADV_DONTNEED))                   \
	X(madvise_dontneed_mapping_then_hole, -ENOMEM, uhmm_madvise(MM, A, 10 * PG, MADV_DONTNEED))        \
	X(madvise_dontneed_hole_between_mappings, -ENOMEM, uhmm_madvise(MM, A, 14 * PG, MADV_DONTNEED))    \
	X(madvise_normal_hole, -ENOMEM, uhmm_madvise(MM, P(8), 2 * PG, MADV_NORMAL))                       \
	X(madvise_len_zero, 0, uhmm_madvise(MM, P(8), 0, MADV_DONTNEED))                                   \
	X(madvise_len_wraps, -EINVAL, uhmm_madvise(MM, A, ULONG_MAX - 10, MADV_DONTNEED))                  \
	X(madvise_null_mm, -EINVAL, uhmm_madvise(NULL, A, PG, MADV_DONTNEED))                              \
	/* mremap */                                                                                        \
	X(mremap_bad_flags, -EINVAL, uhmm_mremap(MM, A, PG, 2 * PG, 8, 0, OUT))                            \
	X(mremap_fixed_without_maymove, -EINVAL, uhmm_mremap(MM, A, PG, PG, MREMAP_FIXED, P(30), OUT))     \
	X(mremap_misaligned_old, -EINVAL, uhmm_mremap(MM, A + 1, PG, 2 * PG, MREMAP_MAYMOVE, 0, OUT))      \
	X(mremap_new_len_zero, -EINVAL, uhmm_mremap(MM, A, PG, 0, MREMAP_MAYMOVE, 0, OUT))                 \
	X(mremap_old_not_mapped, -EFAULT, uhmm_mremap(MM, P(8), PG, 2 * PG, MREMAP_MAYMOVE, 0, OUT))       \
	X(mremap_old_past_vma_end, -EFAULT, uhmm_mremap(MM, P(6), 4 * PG, 8 * PG, MREMAP_MAYMOVE, 0, OUT)) \
	X(mremap_old_spans_two_vmas, -EFAULT, uhmm_mremap(MM, P(18), 4 * PG, 8 * PG, MREMAP_MAYMOVE, 0, OUT)) \
	X(mremap_old_not_mapped_fixed, -EFAULT,                                                            \
	  uhmm_mremap(MM, P(8), PG, PG, MREMAP_MAYMOVE | MREMAP_FIXED, P(20), OUT))                        \
	X(mremap_fixed_misaligned_new, -EINVAL,                                                            \
	  uhmm_mremap(MM, A, PG, PG, MREMAP_MAYMOVE | MREMAP_FIXED, P(30) + 1, OUT))                       \
	X(mremap_fixed_overlapping, -EINVAL,                                                               \
	  uhmm_mremap(MM, A, 8 * PG, 8 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, P(4), OUT))                    \
	X(mremap_fixed_beyond_task_size, -EINVAL,                                                          \
	  uhmm_mremap(MM, A, PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, TASK_TOP - PG, OUT))               \
	X(mremap_grow_no_room_no_maymove, -ENOMEM, uhmm_mremap(MM, A, 8 * PG, 12 * PG, 0, 0, OUT))         \
	X(mremap_grow_middle_no_maymove, -ENOMEM, uhmm_mremap(MM, A, 4 * PG, 5 * PG, 0, 0, OUT))           \
	X(mremap_null_mm, -EINVAL, uhmm_mremap(NULL, A, PG, 2 * PG, MREMAP_MAYMOVE, 0, OUT))               \
	/* CPU access */                                                                                    \
	X(cpu_read_hole, -EFAULT, read_keeps_buf(f, P(8), 16))                                             \
	X(cpu_read_mapping_then_hole, -EFAULT, read_keeps_buf(f, P(7) + 100, PG))                          \
	X(cpu_read_hole_then_mapping, -EFAULT, read_keeps_buf(f, P(10) - 8, 16))                           \
	X(cpu_read_beyond_task_size, -EFAULT, read_keeps_buf(f, TASK_TOP - 8, 16))                         \
	X(cpu_read_wraps, -EFAULT, read_keeps_buf(f, ULONG_MAX - 7, 16))                                   \
	X(cpu_read_null_buf, -EINVAL, uhmm_cpu_read(MM, A, NULL, 8))                                       \
	X(cpu_read_null_mm, -EINVAL, read_keeps_buf(&(struct fx){ 0 }, A, 8))                              \
	X(cpu_read_len_zero_hole, 0, read_keeps_buf(f, P(8), 0))                                           \
	X(cpu_write_hole, -EFAULT, write_junk(f, P(8), 16))                                                \
	X(cpu_write_mapping_then_hole, -EFAULT, write_junk(f, P(7), 2 * PG))                               \
	X(cpu_write_read_only, -EFAULT, write_junk(f, C + 10, 10))                                         \
	X(cpu_write_read_only_then_writable, -EFAULT, write_junk(f, P(19), 2 * PG))                        \
	X(cpu_write_shared_then_hole, -EFAULT, write_junk(f, P(13), 2 * PG))                               \
	X(cpu_write_null_buf, -EINVAL, uhmm_cpu_write(MM, A, NULL, 8))                                     \
	X(cpu_write_null_mm, -EINVAL, uhmm_cpu_write(NULL, A, "x", 1))                                     \
	/* pinning */                                                                                       \
	X(pin_hole, -EFAULT, pin_keeps_array(f, P(8), 1, false))                                           \
	X(pin_mapping_then_hole, -EFAULT, pin_keeps_array(f, P(6), 4, true))                               \
	X(pin_untouched_then_hole, -EFAULT, pin_keeps_array(f, P(22), 3, true))                            \
	X(pin_write_read_only, -EFAULT, pin_keeps_array(f, C, 1, true))                                    \
	X(pin_misaligned, -EINVAL, pin_keeps_array(f, A + 8, 1, false))                                    \
	X(pin_zero_pages, -EINVAL, pin_keeps_array(f, A, 0, false))                                        \
	X(pin_null_pages, -EINVAL, uhmm_pin_user_pages(MM, A, 1, false, NULL))                             \
	X(pin_null_mm, -EINVAL, uhmm_pin_user_pages(NULL, A, 1, false, (struct uhmm_page *[1]){ 0 }))      \
	/* queries */                                                                                       \
	X(query_pte_beyond_task_size, -EINVAL, query_beyond(f))                                            \
	X(query_pte_null_info, -EINVAL, query_null_info(f))                                                \
	X(count_ptes_misaligned, -EINVAL, count_ptes(f, A + 1, P(4)))                                      \
	X(count_ptes_reversed, -EINVAL, count_ptes(f, P(4), A))                                            \
	X(count_ptes_beyond_task_size, -EINVAL, count_ptes(f, A, TASK_TOP + PG))                           \
	X(soft_dirty_of_hole, -EFAULT, uhmm_page_soft_dirty(MM, P(8)))                                     \
	X(soft_dirty_of_untouched, -EFAULT, uhmm_page_soft_dirty(MM, D))                                   \
	X(clear_soft_dirty_null_mm, -EINVAL, uhmm_clear_soft_dirty(NULL))                                  \
	/* address spaces and systems */                                                                    \
	X(fork_null_parent, -EINVAL, fork_into(NULL, false))                                               \
	X(fork_null_child, -EINVAL, fork_into(MM, true))                                                   \
	X(mm_create_null_sys, -EINVAL, mm_create(NULL, false))                                             \
	X(mm_create_null_out, -EINVAL, mm_create(f->sys, true))                                            \
	X(system_stats_null_sys, -EINVAL, stats(NULL, false))                                              \
	X(system_stats_null_stats, -EINVAL, stats(f->sys, true))                                           \
	X(system_create_null_out, -EINVAL, uhmm_system_create(NULL, NULL))                                 \
	/* notifiers */                                                                                     \
	X(interval_len_zero, -EOVERFLOW, interval(MM, A, 0, &iops, false))                              \
	X(interval_overflow, -EOVERFLOW, interval(MM, ULONG_MAX - PG + 1, 2 * PG, &iops, false))        \
	X(interval_overflow_by_one, -EOVERFLOW, interval(MM, 2, ULONG_MAX, &iops, false))               \
	X(interval_null_ops, -EINVAL, interval(MM, A, PG, NULL, false))                                 \
	X(interval_ops_without_invalidate, -EINVAL, interval(MM, A, PG, &iops_empty, false))            \
	X(interval_null_mm, -EINVAL, interval(NULL, A, PG, &iops, false))                               \
	X(interval_null_sub, -EINVAL, interval(MM, A, PG, &iops, true))                                 \
	X(classic_null_sub, -EINVAL, classic(MM, &cops, true))                                             \
	X(classic_null_ops, -EINVAL, classic(MM, NULL, false))                                             \
	X(classic_null_mm, -EINVAL, classic(NULL, &cops, false))                                           \
	X(classic_registered_twice, -EINVAL, classic_twice(f))

#define DEF_ROW(name, want, call) static long row_##name(struct fx *f) { return (call); }
ROWS(DEF_ROW)

struct row {
	const char *name;
	long want;
	long (*call)(struct fx *f);
};

#define ROW_ENTRY(name, want, call) { #name, want, row_##name },
static const struct row rows[] = { ROWS(ROW_ENTRY) };
#define NROWS (sizeof(rows) / sizeof(rows[0]))

static void run_row(void **state)
{
	const struct row *row = *state;
	struct snap *before = malloc(sizeof(*before)), *after = malloc(sizeof(*after));
	struct fx f;
	long r;

	fx_setup(&f);
	snap_take(&f, before);
	r = row->call(&f);
	if (r != row->want)
		fail_msg("%s returned %ld, expected %ld", row->name, r, row->want);
	if (row->want != 0 && f.out != 0x1234)
		fail_msg("%s wrote its output address on failure", row->name);
	snap_take(&f, after);
	snap_compare(before, after);
	fx_check_contents(&f);
	/* and the fixture still works */
	mh_write(f.mm, D, PG, 3);
	mh_check(f.mm, D, PG, 3);
	free(before);
	free(after);
	fx_done(&f);
}

/* ------------------------------------------------------- other cases */

static void test_system_create_sizes(void **state)
{
	struct uhmm_system_opts o = { 0 };
	struct uhmm_system_stats st;
	struct uhmm_system *sys = (void *)0x1;

	o.ram_bytes = 15 * PG;
	mh_assert_ret(uhmm_system_create(&o, &sys), -EINVAL);
	o.ram_bytes = 16 * PG - 1;	/* rounded down to 15 pages */
	mh_assert_ret(uhmm_system_create(&o, &sys), -EINVAL);
	o.ram_bytes = 1;
	mh_assert_ret(uhmm_system_create(&o, &sys), -EINVAL);
	o.ram_bytes = (64UL << 30) + PG;
	mh_assert_ret(uhmm_system_create(&o, &sys), -EINVAL);
	assert_ptr_equal(sys, (void *)0x1);	/* untouched on failure */

	/* the smallest system: 16 frames, the zero page in use */
	o.ram_bytes = 16 * PG + 100;
	mh_assert_ret(uhmm_system_create(&o, &sys), 0);
	mh_assert_ret(uhmm_system_get_stats(sys, &st), 0);
	assert_int_equal(st.ram_pages, 16);
	assert_int_equal(st.used_pages, 1);
	assert_int_equal(st.free_pages, 15);
	assert_int_equal(st.device_pages, 0);
	mh_system_done(sys);

	/* NULL options: the default size */
	mh_assert_ret(uhmm_system_create(NULL, &sys), 0);
	mh_assert_ret(uhmm_system_get_stats(sys, &st), 0);
	assert_int_equal(st.ram_pages, (256UL << 20) / PG);
	mh_system_done(sys);
}

/* RAM runs out: -ENOMEM from every path that needs a frame, nothing else changes. */
static void test_ram_exhaustion(void **state)
{
	struct uhmm_system *sys = mh_system(64 * PG);
	struct uhmm_mm *mm = mh_mm(sys), *child;
	struct uhmm_page *pin[2] = { NULL, NULL };
	unsigned long a = mh_mmap(mm, BASE, 100 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	unsigned long s = mh_mmap(mm, BASE + 200 * PG, 4 * PG, MH_RW, MH_SHARED | MAP_FIXED);
	unsigned char junk[PG];
	int i;

	memset(junk, 0xee, sizeof(junk));
	/* 63 frames besides the zero page */
	for (i = 0; i < 63; i++)
		mh_write(mm, a + i * PG, PG, 1);
	assert_int_equal(mh_used_pages(sys), 64);
	mh_assert_ret(uhmm_cpu_write(mm, a + 63 * PG, junk, PG), -ENOMEM);
	assert_int_equal(mh_pte(mm, a + 63 * PG).kind, UHMM_PTE_NONE);
	mh_assert_ret(uhmm_cpu_write(mm, s, junk, 1), -ENOMEM);	/* shmem page */
	mh_assert_ret(uhmm_pin_user_pages(mm, a + 70 * PG, 1, true, pin), -ENOMEM);
	assert_null(pin[0]);
	assert_null(uhmm_alloc_page(sys));
	/* reads of untouched memory need no frame */
	mh_check_zero(mm, a + 80 * PG, 4 * PG);
	assert_int_equal(mh_pte(mm, a + 80 * PG).kind, UHMM_PTE_ZERO);
	/* a write over the zero page needs one */
	mh_assert_ret(uhmm_cpu_write(mm, a + 80 * PG, junk, 1), -ENOMEM);
	assert_int_equal(mh_pte(mm, a + 80 * PG).kind, UHMM_PTE_ZERO);
	mh_check(mm, a, 63 * PG, 1);

	/* fork needs no frame; a COW break does */
	child = mh_fork(mm);
	mh_assert_ret(uhmm_cpu_write(child, a + 5 * PG, junk, 8), -ENOMEM);
	mh_assert_ret(uhmm_cpu_write(mm, a + 6 * PG, junk, 8), -ENOMEM);
	mh_check(child, a, 63 * PG, 1);
	mh_check(mm, a, 63 * PG, 1);
	assert_int_equal(mh_pte(child, a + 5 * PG).refcount, 2);
	/* the child goes: still nothing free (the parent maps every frame) */
	uhmm_mm_put(child);
	assert_int_equal(mh_used_pages(sys), 64);
	mh_assert_ret(uhmm_cpu_write(mm, a + 63 * PG, junk, 8), -ENOMEM);

	/* free two frames: exactly two more writes succeed */
	mh_assert_ret(uhmm_madvise(mm, a, 2 * PG, MADV_DONTNEED), 0);
	assert_int_equal(mh_used_pages(sys), 62);
	mh_write(mm, a + 63 * PG, PG, 2);
	mh_write(mm, s, PG, 3);
	mh_assert_ret(uhmm_cpu_write(mm, a + 64 * PG, junk, 8), -ENOMEM);
	mh_check(mm, a + 63 * PG, PG, 2);
	mh_check(mm, s, PG, 3);
	mh_check(mm, a + 2 * PG, 61 * PG, 1);

	uhmm_mm_put(mm);
	mh_system_done(sys);
}

static bool never_called(struct uhmm_mmu_interval_notifier *sub, const struct uhmm_mmu_notifier_range *range,
			 unsigned long cur_seq)
{
	uhmm_mmu_interval_set_seq(sub, cur_seq);
	return true;
}
static const struct uhmm_mmu_interval_notifier_ops never_ops = { .invalidate = never_called };

/* An exited address space whose structure a notifier keeps: every call fails cleanly. */
static void test_exited_mm_calls(void **state)
{
	struct uhmm_system *sys = mh_system(0);
	struct uhmm_mm *mm = mh_mm(sys), *child = NULL;
	struct uhmm_mmu_interval_notifier isub;
	struct uhmm_mmu_notifier csub;
	struct mh_recorder rec;
	struct uhmm_page *pin[1] = { NULL };
	struct uhmm_pte_info pi;
	unsigned long out = 0, counts[6];
	unsigned char buf[8] = { 0 };

	mh_rec_init(&rec);
	mh_rec_attach(&rec, mm);
	mh_mmap(mm, BASE, 4 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_write(mm, BASE, 4 * PG, 1);
	uhmm_mm_put(mm);
	assert_int_equal(mh_used_pages(sys), 1);
	mh_rec_clear(&rec);

	assert_int_equal(uhmm_mm_vma_count(mm), 0);
	mh_assert_ret(uhmm_mmap(mm, 0, PG, MH_RW, MH_PRIV, &out), -EINVAL);
	mh_assert_ret(uhmm_mmap(mm, BASE, PG, MH_RW, MH_PRIV | MAP_FIXED, &out), -EINVAL);
	mh_assert_ret(uhmm_munmap(mm, BASE, PG), 0);
	mh_assert_ret(uhmm_mprotect(mm, BASE, PG, PROT_READ), -ENOMEM);
	mh_assert_ret(uhmm_madvise(mm, BASE, PG, MADV_DONTNEED), -ENOMEM);
	mh_assert_ret(uhmm_mremap(mm, BASE, PG, 2 * PG, MREMAP_MAYMOVE, 0, &out), -EFAULT);
	mh_assert_ret(uhmm_cpu_read(mm, BASE, buf, sizeof(buf)), -EFAULT);
	mh_assert_ret(uhmm_cpu_write(mm, BASE, buf, sizeof(buf)), -EFAULT);
	mh_assert_ret(uhmm_pin_user_pages(mm, BASE, 1, false, pin), -EFAULT);
	mh_assert_ret(uhmm_mm_query_pte(mm, BASE, &pi), 0);
	assert_int_equal(pi.kind, UHMM_PTE_NONE);
	mh_assert_ret(uhmm_mm_count_ptes(mm, BASE, BASE + 4 * PG, counts), 0);
	assert_int_equal(counts[UHMM_PTE_NONE], 4);
	mh_assert_ret(uhmm_page_soft_dirty(mm, BASE), -EFAULT);
	mh_assert_ret(uhmm_clear_soft_dirty(mm), -EINVAL);
	mh_assert_ret(uhmm_mm_fork(mm, &child), -EINVAL);
	assert_null(child);
	memset(&isub, 0, sizeof(isub));
	mh_assert_ret(uhmm_mmu_interval_notifier_insert(&isub, mm, BASE, PG, &never_ops), -EINVAL);
	memset(&csub, 0, sizeof(csub));
	csub.ops = &cops;
	mh_assert_ret(uhmm_mmu_notifier_register(&csub, mm), -EINVAL);
	/* none of it reached the notifiers */
	assert_int_equal(rec.n, 0);
	assert_int_equal(mh_used_pages(sys), 1);

	mh_rec_detach(&rec);
	mh_system_done(sys);
}

int main(int argc, char **argv)
{
	static const struct CMUnitTest others[] = {
		cmocka_unit_test(test_system_create_sizes),
		cmocka_unit_test(test_ram_exhaustion),
		cmocka_unit_test(test_exited_mm_calls),
	};
	struct CMUnitTest tests[NROWS + sizeof(others) / sizeof(others[0])];
	size_t n = 0, i;

	for (i = 0; i < NROWS; i++) {
		memset(&tests[n], 0, sizeof(tests[n]));
		tests[n].name = rows[i].name;
		tests[n].test_func = run_row;
		tests[n].initial_state = (void *)&rows[i];
		n++;
	}
	for (i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		tests[n++] = others[i];
	return mh_main("test_badinput", tests, n, argc, argv);
}
