/* SPDX-License-Identifier: MIT */
/* tests/api/test_allocfail.c - every internal allocation failing in turn: -ENOMEM cleanly, nothing lost or leaked.
 *
 * SQLite's and the kernel's failslab habit: for N = 1, 2, ... make the Nth
 * internal allocation fail (uhmm_fail_nth; once, or from then on) during a
 * realistic sequence - create, mmap, write, pin, fork, write in the child,
 * mprotect, mremap, munmap, madvise, notifiers, exit - until the sequence runs
 * without reaching the Nth. Every call must succeed or return -ENOMEM; after
 * each -ENOMEM, with injection off, both address spaces must read back
 * exactly what a shadow model says (unmapped pages must fault); at the end,
 * after teardown, used_pages == 1 and ASan's leak checker sees no heap leak.
 * Usage: test_allocfail [--list | CASE_NAME].
 */
#include "common/mm_helpers.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BASE 0x300000000UL
#define P(n) (BASE + (unsigned long)(n) * PG)
#define UNIVERSE 128	/* pages from BASE that the model covers */
#define MAX_NTH 20000

/* ------------------------------------------------------------ the model */
struct mpage {
	unsigned long va, origin;	/* contents: pattern (origin, seed), or zero if seed 0 */
	unsigned seed;
	bool shared;			/* MAP_SHARED: the other mm sees writes at the same va */
};

struct model {
	struct mpage p[UNIVERSE];
	int n;
};

static struct mpage *mfind(struct model *m, unsigned long va)
{
	for (int i = 0; i < m->n; i++)
		if (m->p[i].va == va)
			return &m->p[i];
	return NULL;
}

static void mmap_model(struct model *m, unsigned long va, int n, bool shared)
{
	for (int i = 0; i < n; i++) {
		struct mpage *p = mfind(m, va + i * PG);

		if (!p) {
			assert_true(m->n < UNIVERSE);
			p = &m->p[m->n++];
		}
		*p = (struct mpage){ .va = va + i * PG, .origin = va + i * PG, .seed = 0, .shared = shared };
	}
}

static void munmap_model(struct model *m, unsigned long va, int n)
{
	for (int i = 0; i < m->n;)
		if (m->p[i].va >= va && m->p[i].va < va + n * PG)
			m->p[i] = m->p[--m->n];
		else
			i++;
}

static void mmove_model(struct model *m, unsigned long old, unsigned long new, int n)
{
	munmap_model(m, new, n);
	for (int i = 0; i < m->n; i++)
		if (m->p[i].va >= old && m->p[i].va < old + n * PG)
			m->p[i].va = m->p[i].va - old + new;
}

/* ------------------------------------------------------------- one run */
struct run {
	unsigned long nth;
	bool persistent;
	bool hit;		/* an injected failure was reached */
	struct uhmm_system *sys;
	struct uhmm_mm *mm, *child;
	struct model pm, cm;
	struct mh_recorder prec, prec2, crec;
	struct uhmm_page *pins[2];
	bool pinned;
	unsigned long c_at;	/* where C is */
	int c_pages;
};

static void verify_one(struct run *r, struct uhmm_mm *mm, struct model *m, const char *who, const char *after)
{
	unsigned char b;

	for (int i = 0; i < UNIVERSE; i++) {
		unsigned long va = P(i);
		struct mpage *p = mfind(m, va);
		int ret;

		if (p) {
			if (!mh_matches(mm, va, p->origin, PG, p->seed))
				fail_msg("nth %lu %s: after %s, %s page %#lx does not read back (seed %u)", r->nth,
					 r->persistent ? "persistent" : "transient", after, who, va, p->seed);
		} else if ((ret = uhmm_cpu_read(mm, va, &b, 1)) != -EFAULT) {
			fail_msg("nth %lu %s: after %s, %s page %#lx should be unmapped (read: %d)", r->nth,
				 r->persistent ? "persistent" : "transient", after, who, va, ret);
		}
	}
}

/* Injection off while checking (reads may fault in zero pages and tables). */
static void verify_all(struct run *r, const char *after)
{
	uhmm_fail_nth(0, 0);
	if (r->mm)
		verify_one(r, r->mm, &r->pm, "parent", after);
	if (r->child)
		verify_one(r, r->child, &r->cm, "child", after);
}

static void rearm(struct run *r)
{
	/* persistent: everything keeps failing; transient: the one failure is spent */
	uhmm_fail_nth(r->persistent ? 1 : 0, r->persistent);
}

static int step(struct run *r, const char *name, int ret)
{
	if (ret != 0 && ret != -ENOMEM)
		fail_msg("nth %lu %s: %s returned %d (want 0 or -ENOMEM)", r->nth,
			 r->persistent ? "persistent" : "transient", name, ret);
	if (ret == -ENOMEM) {
		r->hit = true;
		verify_all(r, name);
		rearm(r);
	}
	return ret;
}

static void write_page(struct run *r, struct uhmm_mm *mm, struct model *m, struct model *other,
		       unsigned long va, unsigned seed)
{
	unsigned char buf[PG];
	struct mpage *p = mfind(m, va), *q;

	if (!p)
		return;	/* not mapped in this run (its mmap failed) */
	mh_pattern(buf, PG, va, seed);
	if (step(r, "cpu_write", uhmm_cpu_write(mm, va, buf, PG)))
		return;
	p->seed = seed;
	p->origin = va;
	if (p->shared && other && (q = mfind(other, va)) && q->shared) {
		q->seed = seed;
		q->origin = va;
	}
}

static void write_range(struct run *r, struct uhmm_mm *mm, struct model *m, struct model *other,
			unsigned long va, int n, unsigned seed)
{
	for (int i = 0; i < n; i++)
		write_page(r, mm, m, other, va + i * PG, seed);
}

static void do_mmap(struct run *r, unsigned long va, int n, int flags)
{
	unsigned long out = 0;

	if (!step(r, "mmap", uhmm_mmap(r->mm, va, n * PG, MH_RW, flags | MAP_FIXED_NOREPLACE, &out))) {
		assert_int_equal(out, va);
		mmap_model(&r->pm, va, n, flags & MAP_SHARED);
	}
}

static void sequence(struct run *r)
{
	struct model *pm = &r->pm, *cm = &r->cm;
	unsigned long out;

	if (step(r, "mm_create", uhmm_mm_create(r->sys, &r->mm))) {
		r->mm = NULL;
		return;
	}
	step(r, "classic register", mh_rec_register_classic(&r->prec, r->mm));
	step(r, "interval insert", mh_rec_insert_interval(&r->prec, r->mm, 0, ULONG_MAX));

	do_mmap(r, P(0), 16, MH_PRIV);		/* A */
	do_mmap(r, P(32), 8, MH_SHARED);	/* B */
	do_mmap(r, P(64), 8, MH_PRIV);		/* C */
	r->c_at = P(64);
	r->c_pages = 8;
	write_range(r, r->mm, pm, NULL, P(0), 16, 1);
	write_range(r, r->mm, pm, NULL, P(32), 8, 2);
	write_range(r, r->mm, pm, NULL, P(64), 8, 3);
	/* pin two pages: fork must give the child copies of them */
	if (mfind(pm, P(12)) && !step(r, "pin", uhmm_pin_user_pages(r->mm, P(12), 2, true, r->pins)))
		r->pinned = true;

	if (!step(r, "fork", uhmm_mm_fork(r->mm, &r->child)))
		*cm = *pm;
	else
		r->child = NULL;
	if (r->child) {
		step(r, "child interval insert", mh_rec_insert_interval(&r->crec, r->child, P(0), UNIVERSE * PG));
		write_range(r, r->child, cm, pm, P(0), 8, 4);	/* COW breaks */
		write_range(r, r->child, cm, pm, P(32), 2, 5);	/* shared: the parent sees it */
		write_page(r, r->child, cm, pm, P(12), 6);	/* its copy of a pinned page */
	}
	write_range(r, r->mm, pm, cm, P(8), 4, 7);	/* parent COW breaks */
	/* MAP_FIXED over one page in the middle of A: split, unmap, replace */
	if (mfind(pm, P(10)) &&
	    !step(r, "mmap fixed over A", uhmm_mmap(r->mm, P(10), PG, MH_RW, MH_SHARED | MAP_FIXED, &out)))
		mmap_model(pm, P(10), 1, true);
	write_page(r, r->mm, pm, cm, P(10), 11);

	if (mfind(pm, P(4))) {
		step(r, "mprotect ro", uhmm_mprotect(r->mm, P(4), 4 * PG, PROT_READ));
		step(r, "mprotect rw", uhmm_mprotect(r->mm, P(4), 4 * PG, MH_RW));
	}
	/* C: move and grow to a fixed place */
	if (mfind(pm, r->c_at) &&
	    !step(r, "mremap fixed", uhmm_mremap(r->mm, r->c_at, 8 * PG, 12 * PG, MREMAP_MAYMOVE | MREMAP_FIXED,
						 P(96), &out))) {
		assert_int_equal(out, P(96));
		mmove_model(pm, r->c_at, P(96), 8);
		mmap_model(pm, P(96) + 8 * PG, 4, false);
		r->c_at = P(96);
		r->c_pages = 12;
	}
	write_range(r, r->mm, pm, cm, r->c_at + 8 * PG, r->c_pages - 8, 8);
	/* A: shrink its tail (a failed mprotect may have left A split at 4 and 8) */
	if (mfind(pm, P(12)) && !step(r, "mremap shrink", uhmm_mremap(r->mm, P(12), 4 * PG, 2 * PG, 0, 0, &out)))
		munmap_model(pm, P(14), 2);
	/* B: a hole in the middle, then grow the tail in place (the shmem object grows) */
	if (mfind(pm, P(32))) {
		if (!step(r, "munmap", uhmm_munmap(r->mm, P(34), 2 * PG)))
			munmap_model(pm, P(34), 2);
		if (mfind(pm, P(36)) && !mfind(pm, P(34)) &&
		    !step(r, "mremap grow shared", uhmm_mremap(r->mm, P(36), 4 * PG, 6 * PG, 0, 0, &out)))
			mmap_model(pm, P(40), 2, true);
		write_range(r, r->mm, pm, cm, P(40), 2, 9);
	}
	/* A: drop two pages */
	if (mfind(pm, P(0)) && !step(r, "madvise", uhmm_madvise(r->mm, P(0), 2 * PG, MADV_DONTNEED)))
		for (int i = 0; i < 2; i++)
			mfind(pm, P(i))->seed = 0;
	step(r, "second interval insert", mh_rec_insert_interval(&r->prec2, r->mm, P(0), 8 * PG));
	step(r, "clear soft dirty", uhmm_clear_soft_dirty(r->mm));
	write_page(r, r->mm, pm, cm, P(3), 10);
	if (r->child) {
		/* the child moves its C, and punches a hole in its A */
		if (mfind(cm, P(64)) &&
		    !step(r, "child mremap", uhmm_mremap(r->child, P(64), 8 * PG, 8 * PG,
							  MREMAP_MAYMOVE | MREMAP_FIXED, P(112), &out)))
			mmove_model(cm, P(64), P(112), 8);
		if (!step(r, "child munmap", uhmm_munmap(r->child, P(1), PG)))
			munmap_model(cm, P(1), 1);
	}
}

static void expect_exit_events(struct mh_recorder *rec)
{
	size_t n = mh_rec_count(rec, MH_INTERVAL);
	const struct mh_event *e;

	if (!rec->interval_on)
		return;
	/* the last interval events are exit's: RELEASE, then UNMAP if anything was mapped */
	assert_true(n >= 1);
	e = mh_rec_get(rec, MH_INTERVAL, n - 1);
	if (e->event == UHMM_MMU_NOTIFY_UNMAP) {
		assert_int_equal(e->start, 0);
		assert_int_equal(e->end, ULONG_MAX);
		e = mh_rec_get(rec, MH_INTERVAL, n - 2);
	}
	assert_int_equal(e->event, UHMM_MMU_NOTIFY_RELEASE);
}

static bool one_run(unsigned long nth, bool persistent)
{
	struct run *r = calloc(1, sizeof(*r));
	bool hit;

	assert_non_null(r);
	r->nth = nth;
	r->persistent = persistent;
	r->sys = mh_system(8UL << 20);
	mh_rec_init(&r->prec);
	mh_rec_init(&r->prec2);
	mh_rec_init(&r->crec);

	uhmm_fail_nth(nth, persistent);
	sequence(r);
	/* still armed and the Nth was reached: a failure was injected (maybe absorbed) */
	if (!r->hit && uhmm_fail_count() >= nth)
		r->hit = true;
	verify_all(r, "the sequence");	/* also disarms */

	/* teardown allocates nothing and cannot fail */
	if (r->child)
		uhmm_mm_put(r->child);
	if (r->mm)
		uhmm_mm_put(r->mm);
	expect_exit_events(&r->prec);
	mh_rec_expect_balanced(&r->prec);
	mh_rec_detach(&r->prec);
	mh_rec_detach(&r->prec2);
	mh_rec_detach(&r->crec);
	if (r->pinned) {
		assert_true(mh_used_pages(r->sys) >= 3);	/* the pinned frames outlive the mm */
		uhmm_unpin_user_pages(r->pins, 2);
	}
	if (mh_used_pages(r->sys) != 1)
		fail_msg("nth %lu %s: %lu frames in use after teardown", nth, persistent ? "persistent" : "transient",
			 mh_used_pages(r->sys));
	mh_system_done(r->sys);
	hit = r->hit;
	free(r);
	return hit;
}

static void loop(bool persistent)
{
	unsigned long nth;

	for (nth = 1; nth < MAX_NTH; nth++)
		if (!one_run(nth, persistent))
			break;
	assert_true(nth < MAX_NTH);
	/* a clean run must have made dozens of allocations: the loop covered them all */
	assert_true(nth > 50);
	print_message("%s: %lu failure points covered\n", persistent ? "persistent" : "transient", nth - 1);
}

static void test_sequence_transient(void **state) { loop(false); }
static void test_sequence_persistent(void **state) { loop(true); }

/* System and address-space creation alone. */
static void test_create_transient_and_persistent(void **state)
{
	for (int persistent = 0; persistent < 2; persistent++) {
		unsigned long nth;

		for (nth = 1; nth < 100; nth++) {
			struct uhmm_system_opts o = { .ram_bytes = 1UL << 20 };
			struct uhmm_system *sys = NULL;
			struct uhmm_mm *mm = NULL;
			int r;
			bool hit;

			uhmm_fail_nth(nth, persistent);
			r = uhmm_system_create(&o, &sys);
			if (r == 0) {
				r = uhmm_mm_create(sys, &mm);
				hit = uhmm_fail_count() >= nth;
				uhmm_fail_nth(0, 0);
				if (r)
					mh_assert_ret(r, -ENOMEM);
				else
					uhmm_mm_put(mm);
				mh_system_done(sys);
			} else {
				hit = true;
				uhmm_fail_nth(0, 0);
				mh_assert_ret(r, -ENOMEM);
			}
			if (!hit)
				break;
		}
		assert_true(nth < 100 && nth > 2);
	}
}

int main(int argc, char **argv)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_transient_and_persistent),
		cmocka_unit_test(test_sequence_transient),
		cmocka_unit_test(test_sequence_persistent),
	};

	return mh_main("test_allocfail", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
