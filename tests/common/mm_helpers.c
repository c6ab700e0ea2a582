/* SPDX-License-Identifier: MIT */
/* tests/common/mm_helpers.c - helpers for the memory-model API tests (see mm_helpers.h). */
#include "common/mm_helpers.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef container_of
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#endif

void mh_assert_ret_(long got, long want, const char *what, const char *file, int line)
{
	if (got == want)
		return;
	print_error("%s returned %ld, expected %ld\n", what, got, want);
	_fail(file, line);
}

/* ------------------------------------------------------------ systems */
struct uhmm_system *mh_system_(size_t ram_bytes, const char *file, int line)
{
	struct uhmm_system_opts opts = { .ram_bytes = ram_bytes };
	struct uhmm_system *sys = NULL;

	mh_assert_ret_(uhmm_system_create(&opts, &sys), 0, "uhmm_system_create", file, line);
	_assert_true((uintptr_t)sys, "sys", file, line);
	return sys;
}

unsigned long mh_used_pages(struct uhmm_system *sys)
{
	struct uhmm_system_stats st;

	if (uhmm_system_get_stats(sys, &st))
		return ULONG_MAX;
	return st.used_pages;
}

void mh_system_done_(struct uhmm_system *sys, const char *file, int line)
{
	unsigned long used = mh_used_pages(sys);

	if (used != 1) {
		print_error("leak: %lu RAM pages in use at the end (want 1: the zero page)\n", used);
		_fail(file, line);
	}
	uhmm_system_destroy(sys);
}

struct uhmm_mm *mh_mm_(struct uhmm_system *sys, const char *file, int line)
{
	struct uhmm_mm *mm = NULL;

	mh_assert_ret_(uhmm_mm_create(sys, &mm), 0, "uhmm_mm_create", file, line);
	return mm;
}

struct uhmm_mm *mh_fork_(struct uhmm_mm *mm, const char *file, int line)
{
	struct uhmm_mm *child = NULL;

	mh_assert_ret_(uhmm_mm_fork(mm, &child), 0, "uhmm_mm_fork", file, line);
	return child;
}

unsigned long mh_mmap_(struct uhmm_mm *mm, unsigned long addr, size_t len, int prot, int flags,
		       const char *file, int line)
{
	unsigned long out = 0;

	mh_assert_ret_(uhmm_mmap(mm, addr, len, prot, flags, &out), 0, "uhmm_mmap", file, line);
	_assert_true(out != 0, "mmap address != 0", file, line);
	return out;
}

/* ----------------------------------------------------------- contents */
void mh_pattern(unsigned char *buf, size_t len, unsigned long va, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = seed ? mh_pattern_byte(va + i, seed) : 0;
}

void mh_write_(struct uhmm_mm *mm, unsigned long addr, size_t len, unsigned seed, const char *file, int line)
{
	unsigned char *buf = malloc(len);

	_assert_true((uintptr_t)buf, "malloc", file, line);
	mh_pattern(buf, len, addr, seed);
	mh_assert_ret_(uhmm_cpu_write(mm, addr, buf, len), 0, "uhmm_cpu_write", file, line);
	free(buf);
}

static long first_mismatch(struct uhmm_mm *mm, unsigned long addr, unsigned long origin, size_t len, unsigned seed,
			   int *err)
{
	unsigned char *got = malloc(len), *want = malloc(len);
	long bad = -1;
	size_t i;

	*err = (got && want) ? uhmm_cpu_read(mm, addr, got, len) : -ENOMEM;
	if (!*err) {
		mh_pattern(want, len, origin, seed);
		for (i = 0; i < len; i++)
			if (got[i] != want[i]) {
				bad = (long)i;
				break;
			}
	}
	free(got);
	free(want);
	return bad;
}

void mh_check_at_(struct uhmm_mm *mm, unsigned long addr, unsigned long origin, size_t len, unsigned seed,
		  const char *file, int line)
{
	int err;
	long bad = first_mismatch(mm, addr, origin, len, seed, &err);

	if (err) {
		print_error("uhmm_cpu_read(%#lx, %zu) returned %d\n", addr, len, err);
		_fail(file, line);
	}
	if (bad >= 0) {
		print_error("contents differ at %#lx (offset %ld of [%#lx, +%zu), seed %u)\n", addr + bad, bad, addr,
			    len, seed);
		_fail(file, line);
	}
}

bool mh_matches(struct uhmm_mm *mm, unsigned long addr, unsigned long origin, size_t len, unsigned seed)
{
	int err;
	long bad = first_mismatch(mm, addr, origin, len, seed, &err);

	return !err && bad < 0;
}

/* --------------------------------------------------------- page table */
struct uhmm_pte_info mh_pte_(struct uhmm_mm *mm, unsigned long addr, const char *file, int line)
{
	struct uhmm_pte_info info;

	mh_assert_ret_(uhmm_mm_query_pte(mm, addr, &info), 0, "uhmm_mm_query_pte", file, line);
	return info;
}

bool mh_vma_at(struct uhmm_mm *mm, unsigned long addr, struct uhmm_vma_info *info)
{
	struct uhmm_vma *v;

	uhmm_mmap_read_lock(mm);
	v = uhmm_find_vma(mm, addr);
	if (v)
		uhmm_vma_get_info(v, info);
	uhmm_mmap_read_unlock(mm);
	return v != NULL;
}

/* ------------------------------------------------------- event recorder */
static void rec_log(struct mh_recorder *r, enum mh_src src, const struct uhmm_mmu_notifier_range *range,
		    struct uhmm_mm *mm)
{
	struct mh_event *e;

	if (r->n == MH_MAX_EVENTS) {
		r->overflow = true;
		return;
	}
	e = &r->ev[r->n++];
	memset(e, 0, sizeof(*e));
	e->src = src;
	e->mm = mm;
	if (range) {
		e->event = range->event;
		e->start = range->start;
		e->end = range->end;
		e->owner = range->owner;
		e->flags = range->flags;
		e->mm = range->mm;
	}
}

static bool rec_invalidate(struct uhmm_mmu_interval_notifier *sub, const struct uhmm_mmu_notifier_range *range,
			   unsigned long cur_seq)
{
	struct mh_recorder *r = container_of(sub, struct mh_recorder, isub);

	if (uhmm_mmu_notifier_range_blockable(range))
		pthread_mutex_lock(&r->lock);
	else if (pthread_mutex_trylock(&r->lock))
		return false;
	uhmm_mmu_interval_set_seq(sub, cur_seq);
	rec_log(r, MH_INTERVAL, range, range->mm);
	pthread_mutex_unlock(&r->lock);
	return true;
}

static const struct uhmm_mmu_interval_notifier_ops rec_iops = { .invalidate = rec_invalidate };

static int rec_start(struct uhmm_mmu_notifier *sub, const struct uhmm_mmu_notifier_range *range)
{
	struct mh_recorder *r = container_of(sub, struct mh_recorder, csub);

	pthread_mutex_lock(&r->lock);
	rec_log(r, MH_CLASSIC_START, range, range->mm);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static void rec_end(struct uhmm_mmu_notifier *sub, const struct uhmm_mmu_notifier_range *range)
{
	struct mh_recorder *r = container_of(sub, struct mh_recorder, csub);

	pthread_mutex_lock(&r->lock);
	rec_log(r, MH_CLASSIC_END, range, range->mm);
	pthread_mutex_unlock(&r->lock);
}

static void rec_release(struct uhmm_mmu_notifier *sub, struct uhmm_mm *mm)
{
	struct mh_recorder *r = container_of(sub, struct mh_recorder, csub);

	pthread_mutex_lock(&r->lock);
	rec_log(r, MH_CLASSIC_RELEASE, NULL, mm);
	pthread_mutex_unlock(&r->lock);
}

static const struct uhmm_mmu_notifier_ops rec_cops = {
	.release = rec_release,
	.invalidate_range_start = rec_start,
	.invalidate_range_end = rec_end,
};

void mh_rec_init(struct mh_recorder *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	r->csub.ops = &rec_cops;
}

int mh_rec_insert_interval(struct mh_recorder *r, struct uhmm_mm *mm, unsigned long start, unsigned long len)
{
	int ret = uhmm_mmu_interval_notifier_insert(&r->isub, mm, start, len, &rec_iops);

	r->interval_on = ret == 0;
	return ret;
}

int mh_rec_register_classic(struct mh_recorder *r, struct uhmm_mm *mm)
{
	int ret = uhmm_mmu_notifier_register(&r->csub, mm);

	r->classic_on = ret == 0;
	return ret;
}

void mh_rec_attach_(struct mh_recorder *r, struct uhmm_mm *mm, const char *file, int line)
{
	/* [0, ULONG_MAX): the largest interval that does not overflow. */
	mh_assert_ret_(mh_rec_insert_interval(r, mm, 0, ULONG_MAX), 0, "interval insert", file, line);
	mh_assert_ret_(mh_rec_register_classic(r, mm), 0, "classic register", file, line);
}

void mh_rec_detach(struct mh_recorder *r)
{
	if (r->interval_on)
		uhmm_mmu_interval_notifier_remove(&r->isub);
	if (r->classic_on)
		uhmm_mmu_notifier_unregister(&r->csub, r->csub.mm);
	r->interval_on = r->classic_on = false;
}

void mh_rec_clear(struct mh_recorder *r)
{
	pthread_mutex_lock(&r->lock);
	r->n = 0;
	r->overflow = false;
	pthread_mutex_unlock(&r->lock);
}

size_t mh_rec_count(struct mh_recorder *r, enum mh_src src)
{
	size_t i, n = 0;

	pthread_mutex_lock(&r->lock);
	for (i = 0; i < r->n; i++)
		if (!src || r->ev[i].src == src)
			n++;
	pthread_mutex_unlock(&r->lock);
	return n;
}

const struct mh_event *mh_rec_get(struct mh_recorder *r, enum mh_src src, size_t idx)
{
	const struct mh_event *e = NULL;
	size_t i;

	pthread_mutex_lock(&r->lock);
	for (i = 0; i < r->n; i++)
		if ((!src || r->ev[i].src == src) && idx-- == 0) {
			e = &r->ev[i];
			break;
		}
	pthread_mutex_unlock(&r->lock);
	return e;
}

static const char *src_name(enum mh_src s)
{
	switch (s) {
	case MH_INTERVAL: return "interval";
	case MH_CLASSIC_START: return "classic-start";
	case MH_CLASSIC_END: return "classic-end";
	case MH_CLASSIC_RELEASE: return "classic-release";
	}
	return "?";
}

void mh_rec_dump(struct mh_recorder *r, const char *why)
{
	size_t i;

	print_error("event log (%s), %zu entries%s:\n", why, r->n, r->overflow ? " (overflowed)" : "");
	for (i = 0; i < r->n; i++) {
		const struct mh_event *e = &r->ev[i];

		if (e->src == MH_CLASSIC_RELEASE)
			print_error("  %2zu %-15s\n", i, src_name(e->src));
		else
			print_error("  %2zu %-15s %-15s [%#lx, %#lx) owner %p flags %#x\n", i, src_name(e->src),
				    uhmm_mmu_notifier_event_name(e->event), e->start, e->end, e->owner, e->flags);
	}
}

void mh_rec_expect_(struct mh_recorder *r, enum mh_src src, size_t idx, enum uhmm_mmu_notifier_event ev,
		    unsigned long start, unsigned long end, const char *file, int line)
{
	const struct mh_event *e = mh_rec_get(r, src, idx);

	if (!e) {
		print_error("no %s event #%zu (want %s [%#lx, %#lx))\n", src_name(src), idx,
			    uhmm_mmu_notifier_event_name(ev), start, end);
		goto fail;
	}
	if (e->event != ev || e->start != start || e->end != end || e->owner != NULL ||
	    !(e->flags & UHMM_MMU_NOTIFIER_RANGE_BLOCKABLE)) {
		print_error("%s event #%zu is %s [%#lx, %#lx) owner %p flags %#x; want %s [%#lx, %#lx) owner NULL, "
			    "blockable\n", src_name(src), idx, uhmm_mmu_notifier_event_name(e->event), e->start, e->end,
			    e->owner, e->flags, uhmm_mmu_notifier_event_name(ev), start, end);
		goto fail;
	}
	return;
fail:
	mh_rec_dump(r, "mismatch");
	_fail(file, line);
}

void mh_rec_expect_count_(struct mh_recorder *r, enum mh_src src, size_t want, const char *file, int line)
{
	size_t got = mh_rec_count(r, src);

	if (got == want && !r->overflow)
		return;
	print_error("%zu %s events, want %zu\n", got, src ? src_name(src) : "(any)", want);
	mh_rec_dump(r, "count");
	_fail(file, line);
}

void mh_rec_expect_balanced_(struct mh_recorder *r, const char *file, int line)
{
	size_t stack[MH_MAX_EVENTS], depth = 0, i;

	for (i = 0; i < r->n; i++) {
		const struct mh_event *e = &r->ev[i];

		if (e->src == MH_CLASSIC_START) {
			stack[depth++] = i;
		} else if (e->src == MH_CLASSIC_END) {
			const struct mh_event *s = depth ? &r->ev[stack[depth - 1]] : NULL;

			if (!s || s->event != e->event || s->start != e->start || s->end != e->end) {
				print_error("classic end #%zu without its start\n", i);
				goto fail;
			}
			depth--;
		}
	}
	if (depth) {
		print_error("%zu classic starts without an end\n", depth);
		goto fail;
	}
	return;
fail:
	mh_rec_dump(r, "unbalanced");
	_fail(file, line);
}

/* ---------------------------------------------------------------- main */
int mh_main(const char *prog, const struct CMUnitTest *tests, size_t n, int argc, char **argv)
{
	struct CMUnitTest *sel;
	size_t i, k = 0;
	int ret;

	if (argc > 1 && strcmp(argv[1], "--list") == 0) {
		for (i = 0; i < n; i++)
			printf("%s\n", tests[i].name);
		return 0;
	}
	sel = calloc(n ? n : 1, sizeof(*sel));
	if (!sel)
		return 1;
	for (i = 0; i < n; i++)
		if (argc < 2 || strcmp(argv[1], tests[i].name) == 0)
			sel[k++] = tests[i];
	if (k == 0) {
		fprintf(stderr, "%s: no test case named '%s'\n", prog, argv[1]);
		free(sel);
		return 2;
	}
	/* Exact-name selection by filtering the array ourselves (cmocka's filter globs). */
	ret = _cmocka_run_group_tests(prog, sel, k, NULL, NULL);
	free(sel);
	return ret;
}
