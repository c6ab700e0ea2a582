/* SPDX-License-Identifier: MIT */
/* tests/unit/test_interval_index.c - unit tests for lib/interval_index (the notifiers' B+-tree).
 *
 * Randomised against a brute-force array model, with a full structural check
 * (order, summaries, fill, height) after the operations; and the reservation
 * contract: reserved inserts succeed with every allocation failing, a failed
 * reservation changes nothing, and the spare pool stays bounded. Seed from
 * UHMM_SEED or the clock, always printed.
 * Usage: test_interval_index [--list | CASE_NAME].
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uhmm/system.h>

#include "lib/interval_index.h"

#define F UHMM_ITIDX_FANOUT

static uint64_t g_seed;

/* splitmix64, as in test_rbtree.c: seedable and the same everywhere. */
struct rng {
	uint64_t s;
};

static void rng_init(struct rng *r, uint64_t salt)
{
	r->s = g_seed ^ (salt * 0x9e3779b97f4a7c15ULL);
}

static uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned long rng_below(struct rng *r, unsigned long n)
{
	return n ? (unsigned long)(rng_next(r) % n) : 0;
}

#define FAILF(...)                                                         \
	do {                                                               \
		print_error(__VA_ARGS__);                                  \
		print_error(" (seed %llu)\n", (unsigned long long)g_seed); \
		fail();                                                    \
	} while (0)

/* ---- the model ------------------------------------------------------------ */

struct ent {
	unsigned long start, last;
	bool in;
	unsigned long seen;	/* query stamp: catches an entry reported twice */
};

struct model {
	struct uhmm_itidx ix;
	struct ent *e;
	size_t n, in;
	unsigned long stamp;
};

static void model_init(struct model *m, size_t n)
{
	uhmm_itidx_init(&m->ix);
	m->e = calloc(n, sizeof(*m->e));
	assert_non_null(m->e);
	m->n = n;
	m->in = 0;
	m->stamp = 0;
}

static void model_destroy(struct model *m)
{
	uhmm_itidx_destroy(&m->ix);
	free(m->e);
}

static void model_insert(struct model *m, struct ent *e)
{
	assert_int_equal(uhmm_itidx_reserve(&m->ix), 0);
	uhmm_itidx_insert(&m->ix, e->start, e->last, e);
	e->in = true;
	m->in++;
}

static void model_remove(struct model *m, struct ent *e)
{
	uhmm_itidx_remove(&m->ix, e->start, e);
	e->in = false;
	m->in--;
}

static bool overlaps(const struct ent *e, unsigned long start, unsigned long last)
{
	return e->start <= last && start <= e->last;
}

/* The index's answer to [start, last] against a scan of every entry. */
static void check_query(struct model *m, unsigned long start, unsigned long last)
{
	struct uhmm_itidx_cursor c;
	unsigned long stamp = ++m->stamp, prev = 0;
	size_t got = 0, want = 0, i;
	struct ent *e;

	for (e = uhmm_itidx_first(&c, &m->ix, start, last); e; e = uhmm_itidx_next(&c)) {
		if (e < m->e || e >= m->e + m->n || !e->in)
			FAILF("query [%#lx,%#lx] returned an entry not in the index", start, last);
		if (!overlaps(e, start, last))
			FAILF("[%#lx,%#lx] reported for query [%#lx,%#lx]", e->start, e->last, start, last);
		if (e->seen == stamp)
			FAILF("[%#lx,%#lx] reported twice", e->start, e->last);
		if (got && e->start < prev)
			FAILF("query [%#lx,%#lx]: results out of start order", start, last);
		e->seen = stamp;
		prev = e->start;
		got++;
	}
	assert_null(uhmm_itidx_next(&c));	/* stays exhausted */
	for (i = 0; i < m->n; i++) {
		e = &m->e[i];
		if (!e->in || !overlaps(e, start, last))
			continue;
		want++;
		if (e->seen != stamp)
			FAILF("query [%#lx,%#lx] missed [%#lx,%#lx]", start, last, e->start, e->last);
	}
	if (got != want)
		FAILF("query [%#lx,%#lx]: %zu results, expected %zu", start, last, got, want);
}

/* ---- structural invariants ------------------------------------------------- */

struct walk {
	unsigned long count, prev_start;
	bool have_prev;
};

/* Checks the subtree of @n at depth @d; returns its largest last. */
static unsigned long check_node(const struct uhmm_itidx *ix, const struct uhmm_itidx_node *n, unsigned int d,
				struct walk *w)
{
	bool leaf = d + 1 == ix->height, root = d == 0;
	unsigned long max = 0;
	unsigned int i;

	if (n->nr > F)
		FAILF("node at depth %u holds %lu slots", d, n->nr);
	if (!root && n->nr < UHMM_ITIDX_MIN)
		FAILF("non-root node at depth %u holds %lu slots, under the floor", d, n->nr);
	if (root && (n->nr < (leaf ? 1u : 2u)))
		FAILF("root holds %lu slots", n->nr);
	for (i = 0; i < n->nr; i++) {
		unsigned long last;

		if (leaf) {
			const struct ent *e = n->slot[i];

			if (e->start != n->min_start[i] || e->last != n->max_last[i] || !e->in)
				FAILF("leaf slot [%#lx,%#lx] does not match its item", n->min_start[i], n->max_last[i]);
			if (w->have_prev && n->min_start[i] < w->prev_start)
				FAILF("entries out of order: %#lx after %#lx", n->min_start[i], w->prev_start);
			w->have_prev = true;
			w->prev_start = n->min_start[i];
			w->count++;
			last = n->max_last[i];
		} else {
			const struct uhmm_itidx_node *child = n->slot[i];

			last = check_node(ix, child, d + 1, w);
			if (n->min_start[i] != child->min_start[0])
				FAILF("min_start at depth %u is %#lx, the child starts at %#lx", d, n->min_start[i],
				      child->min_start[0]);
			if (n->max_last[i] != last)
				FAILF("max_last at depth %u is %#lx, the child's largest is %#lx", d, n->max_last[i], last);
		}
		if (i == 0 || last > max)
			max = last;
	}
	return max;
}

static void check_index(const struct model *m)
{
	const struct uhmm_itidx *ix = &m->ix;
	struct walk w = { 0 };
	unsigned long least = 2 * UHMM_ITIDX_MIN;
	unsigned int h;

	if (ix->count != m->in)
		FAILF("index counts %lu entries, the model %zu", ix->count, m->in);
	if (!ix->root) {
		if (ix->height != 0 || ix->count != 0)
			FAILF("empty root with height %u, count %lu", ix->height, ix->count);
	} else {
		check_node(ix, ix->root, 0, &w);
		if (w.count != ix->count)
			FAILF("%lu entries in the leaves, count says %lu", w.count, ix->count);
	}
	/* The fill floor bounds the height by the current count. */
	for (h = 2; h <= ix->height; h++, least *= UHMM_ITIDX_MIN)
		if (ix->count < least)
			FAILF("height %u with only %lu entries", ix->height, ix->count);
	/* The pool holds little beyond what the reservations need (that it
	 * holds enough is what the failing-allocation cases show). */
	if (ix->nr_spare > uhmm_itidx_need(ix, ix->nr_reserved + 1))
		FAILF("%lu spare nodes kept for %lu reservations", ix->nr_spare, ix->nr_reserved);
}

/* ---- interval shapes ------------------------------------------------------- */

/* Points, short and long ranges, enclosing giants, clusters of equal starts,
 * and both ends of the address space. */
static void random_interval(struct rng *r, unsigned long *start, unsigned long *last)
{
	unsigned long s, len;

	switch (rng_below(r, 10)) {
	case 0:
		s = rng_below(r, 4);			/* at 0, many equal starts */
		len = rng_below(r, 3) == 0 ? ULONG_MAX : rng_below(r, 50);
		break;
	case 1:
		s = ULONG_MAX - rng_below(r, 40);	/* at the top */
		len = rng_below(r, 100);
		break;
	case 2:
		s = rng_below(r, 100000);		/* encloses many */
		len = 20000 + rng_below(r, 80000);
		break;
	case 3:
		s = 1000 * rng_below(r, 20);		/* duplicates of a few starts */
		len = rng_below(r, 3000);
		break;
	case 4:
		s = rng_below(r, 100000);		/* a point */
		len = 0;
		break;
	default:
		s = rng_below(r, 100000);
		len = rng_below(r, 300);
		break;
	}
	*start = s;
	*last = len > ULONG_MAX - s ? ULONG_MAX : s + len;
}

static void random_query(struct model *m, struct rng *r)
{
	unsigned long qs, ql;

	random_interval(r, &qs, &ql);
	check_query(m, qs, ql);
}

/* ---- cases ---------------------------------------------------------------- */

static void test_empty_and_one(void **state)
{
	struct uhmm_itidx_cursor c;
	struct model m;

	model_init(&m, 1);
	assert_true(uhmm_itidx_empty(&m.ix));
	assert_null(uhmm_itidx_first(&c, &m.ix, 0, ULONG_MAX));
	assert_null(uhmm_itidx_next(&c));
	check_index(&m);

	m.e[0] = (struct ent){ .start = 5, .last = 10 };
	model_insert(&m, &m.e[0]);
	assert_false(uhmm_itidx_empty(&m.ix));
	assert_int_equal(m.ix.height, 1);
	assert_ptr_equal(uhmm_itidx_first(&c, &m.ix, 0, ULONG_MAX), &m.e[0]);
	assert_null(uhmm_itidx_next(&c));
	assert_ptr_equal(uhmm_itidx_first(&c, &m.ix, 10, 10), &m.e[0]);
	assert_ptr_equal(uhmm_itidx_first(&c, &m.ix, 0, 5), &m.e[0]);
	assert_null(uhmm_itidx_first(&c, &m.ix, 0, 4));
	assert_null(uhmm_itidx_first(&c, &m.ix, 11, ULONG_MAX));
	check_index(&m);

	model_remove(&m, &m.e[0]);
	assert_true(uhmm_itidx_empty(&m.ix));
	assert_null(m.ix.root);
	assert_null(uhmm_itidx_first(&c, &m.ix, 0, ULONG_MAX));
	check_index(&m);	/* and the pool shrank back */
	model_destroy(&m);
}

/* Both ends of the address space, and the whole of it. */
static void test_extremes(void **state)
{
	static const unsigned long iv[][2] = {
		{ 0, 0 }, { 0, ULONG_MAX }, { ULONG_MAX, ULONG_MAX }, { 0, 1 },
		{ ULONG_MAX - 1, ULONG_MAX }, { 1, ULONG_MAX - 1 }, { 0, 0 }, { ULONG_MAX, ULONG_MAX },
	};
	enum { N = sizeof(iv) / sizeof(iv[0]) };
	struct model m;
	size_t i, j;

	model_init(&m, N);
	for (i = 0; i < N; i++) {
		m.e[i].start = iv[i][0];
		m.e[i].last = iv[i][1];
		model_insert(&m, &m.e[i]);
		check_index(&m);
		for (j = 0; j < N; j++)
			check_query(&m, iv[j][0], iv[j][1]);
		check_query(&m, 0, ULONG_MAX);
		check_query(&m, 2, ULONG_MAX - 2);
	}
	for (i = 0; i < N; i++) {
		model_remove(&m, &m.e[(i * 3) % N]);
		check_index(&m);
		check_query(&m, 0, 0);
		check_query(&m, ULONG_MAX, ULONG_MAX);
		check_query(&m, 0, ULONG_MAX);
	}
	model_destroy(&m);
}

#define RANDOM_ENTS 6000

/* Differential: grow, churn, drain, with queries and structure checks throughout. */
static void test_random_vs_model(void **state)
{
	struct model m;
	struct rng r;
	size_t ops, i;

	model_init(&m, RANDOM_ENTS);
	rng_init(&r, 1);
	for (ops = 0; ops < 8 * RANDOM_ENTS; ops++) {
		struct ent *e = &m.e[rng_below(&r, RANDOM_ENTS)];
		unsigned long phase = ops / (2 * RANDOM_ENTS);	/* 0,1: grow  2: churn  3: drain */
		bool want_in = phase < 2 ? rng_below(&r, 4) != 0 : phase == 2 ? rng_below(&r, 2) != 0
										 : rng_below(&r, 5) == 0;

		if (want_in && !e->in) {
			random_interval(&r, &e->start, &e->last);	/* values move around */
			model_insert(&m, e);
		} else if (!want_in && e->in) {
			model_remove(&m, e);
		}
		if (ops % 13 == 0)
			random_query(&m, &r);
		if (ops % 997 == 0)
			check_index(&m);
	}
	check_index(&m);
	check_query(&m, 0, ULONG_MAX);
	check_query(&m, 0, 0);
	check_query(&m, ULONG_MAX, ULONG_MAX);
	for (i = 0; i < 300; i++) {
		unsigned long p = rng_below(&r, 110000);

		check_query(&m, p, p);
	}
	for (i = 0; i < RANDOM_ENTS; i++)
		if (m.e[i].in) {
			model_remove(&m, &m.e[i]);
			if (m.in % 211 == 0)
				check_index(&m);
		}
	check_index(&m);
	assert_null(m.ix.root);
	model_destroy(&m);
}

/*
 * Many equal starts spread over several leaves: removal must find each by
 * its item wherever it sits, and queries return all of them.
 */
static void test_equal_starts(void **state)
{
	enum { N = 40 * F };
	struct model m;
	struct rng r;
	size_t i;

	model_init(&m, N);
	rng_init(&r, 2);
	for (i = 0; i < N; i++) {
		m.e[i].start = 100 + (i % 3 == 0 ? 0 : 100 * (i % 5));
		m.e[i].last = m.e[i].start + rng_below(&r, 1000);
		model_insert(&m, &m.e[i]);
	}
	check_index(&m);
	check_query(&m, 100, 100);
	check_query(&m, 0, 99);
	check_query(&m, 150, 250);
	/* In a scrambled order, checking as it shrinks. */
	for (i = 0; i < N; i++) {
		model_remove(&m, &m.e[(i * 7919) % N]);
		if (i % 17 == 0) {
			check_index(&m);
			check_query(&m, 100, 100);
			check_query(&m, 300, 400);
		}
	}
	check_index(&m);
	model_destroy(&m);
}

/* Ascending and descending runs hit the same split and merge cases over and over. */
static void test_sequential(void **state)
{
	enum { N = 5000 };
	struct model m;
	size_t i;

	model_init(&m, N);
	for (i = 0; i < N; i++) {
		m.e[i].start = 10 * i;
		m.e[i].last = 10 * i + 5;
		model_insert(&m, &m.e[i]);
	}
	check_index(&m);
	for (i = 0; i < N; i += 2)
		model_remove(&m, &m.e[i]);
	check_index(&m);
	check_query(&m, 0, 10 * N);
	for (i = N; i-- > 0;)
		if (m.e[i].in) {
			model_remove(&m, &m.e[i]);
			if (i % 101 == 1)
				check_index(&m);
		}
	assert_null(m.ix.root);
	for (i = N; i-- > 0;)
		model_insert(&m, &m.e[i]);
	check_index(&m);
	/* Always the first entry: the leftmost path underflows again and again. */
	for (i = 0; i < N; i++) {
		model_remove(&m, &m.e[i]);
		if (i % 97 == 0)
			check_index(&m);
	}
	check_index(&m);
	model_destroy(&m);
}

/*
 * One interval enclosing 200000 small ones: each point query has two
 * answers, and next() must skip the subtrees that end before the point
 * rather than scan the leaves (which would be O(n) per query: minutes).
 */
static void test_enclosing_is_pruned(void **state)
{
	enum { N = 200000, Q = 20000 };
	struct uhmm_itidx_cursor c;
	struct timespec t0, t1;
	struct model m;
	struct rng r;
	size_t i;

	model_init(&m, N + 1);
	rng_init(&r, 3);
	m.e[N].start = 0;
	m.e[N].last = ULONG_MAX;
	model_insert(&m, &m.e[N]);
	for (i = 0; i < N; i++) {
		m.e[i].start = 16 * i + 1;
		m.e[i].last = 16 * i + 8;
		model_insert(&m, &m.e[i]);
	}
	check_index(&m);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < Q; i++) {
		unsigned long k = rng_below(&r, N), p = 16 * k + 4;

		assert_ptr_equal(uhmm_itidx_first(&c, &m.ix, p, p), &m.e[N]);
		assert_ptr_equal(uhmm_itidx_next(&c), &m.e[k]);
		assert_null(uhmm_itidx_next(&c));
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* A linear leaf scan is ~10^9 steps here; the pruned walk is instant
	 * even under sanitizers. Loose bound, loaded machines included. */
	assert_true(t1.tv_sec - t0.tv_sec < 10);
	check_query(&m, 16 * 777 + 8, 16 * 778);	/* spans a gap: three answers */
	model_destroy(&m);
}

/*
 * The reservation contract under the worst insert patterns: reserve a batch
 * (allocations allowed), then make every allocation fail and insert the whole
 * batch - into a tree of full nodes, so splits cascade to the root, again and
 * again. uhmm_itidx_insert BUGs (aborts) if the pool runs dry.
 */
static void fill_tree_full(struct model *m, size_t n)
{
	size_t i;

	/* Ascending inserts leave half-full nodes; the odd keys then fill them. */
	for (i = 0; i < n; i += 2) {
		m->e[i].start = 4 * i;
		m->e[i].last = 4 * i + 1;
		model_insert(m, &m->e[i]);
	}
	for (i = 1; i < n; i += 2) {
		m->e[i].start = 4 * i;
		m->e[i].last = 4 * i + 1;
		model_insert(m, &m->e[i]);
	}
}

static void insert_batch_failing(struct model *m, struct ent *batch, size_t nb, struct rng *r, bool ascending)
{
	size_t i;

	for (i = 0; i < nb; i++)
		assert_int_equal(uhmm_itidx_reserve(&m->ix), 0);
	assert_true(m->ix.nr_spare >= uhmm_itidx_need(&m->ix, nb));
	uhmm_fail_nth(1, 1);	/* every allocation from here on fails */
	for (i = 0; i < nb; i++) {
		struct ent *e = &batch[i];

		e->start = ascending ? 4 * i + 2 : rng_below(r, 4 * m->n);
		e->last = e->start + rng_below(r, 3);
		uhmm_itidx_insert(&m->ix, e->start, e->last, e);
		e->in = true;
		m->in++;
		/* A removal between applied inserts (as the notifier's deferred list mixes them). */
		if (i % 7 == 3 && m->e[i].in)
			model_remove(m, &m->e[i]);
	}
	uhmm_fail_nth(0, 0);
	assert_int_equal(m->ix.nr_reserved, 0);
	check_index(m);
}

static void test_reserved_inserts_never_fail(void **state)
{
	static const size_t batches[] = { 1, 2, 3, 13, 14, 15, 16, 29, 64, 250, 1000 };
	struct rng r;
	size_t b;

	rng_init(&r, 4);
	for (b = 0; b < sizeof(batches) / sizeof(batches[0]); b++) {
		size_t nb = batches[b], sizes[] = { 0, 1, F, F + 1, 4 * F * F, 3000 };
		size_t s;

		for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			struct model m;

			model_init(&m, sizes[s] + nb);
			fill_tree_full(&m, sizes[s]);
			check_index(&m);
			insert_batch_failing(&m, m.e + sizes[s], nb, &r, s % 2 == 0);
			check_query(&m, 0, ULONG_MAX);
			model_destroy(&m);
		}
	}
}

/* Snapshot of everything that a failed reservation must leave alone. */
struct snap {
	struct uhmm_itidx ix;
	size_t nents;
	void *ents[64];
};

static void take_snap(const struct model *m, struct snap *s)
{
	struct uhmm_itidx_cursor c;
	void *e;

	s->ix = m->ix;
	s->nents = 0;
	for (e = uhmm_itidx_first(&c, &m->ix, 0, ULONG_MAX); e; e = uhmm_itidx_next(&c))
		s->ents[s->nents++] = e;
}

static void same_snap(const struct model *m, const struct snap *s)
{
	struct snap now;

	take_snap(m, &now);
	assert_ptr_equal(now.ix.root, s->ix.root);
	assert_int_equal(now.ix.height, s->ix.height);
	assert_int_equal(now.ix.count, s->ix.count);
	assert_ptr_equal(now.ix.spare, s->ix.spare);
	assert_int_equal(now.ix.nr_spare, s->ix.nr_spare);
	assert_int_equal(now.ix.nr_reserved, s->ix.nr_reserved);
	assert_int_equal(now.nents, s->nents);
	assert_memory_equal(now.ents, s->ents, s->nents * sizeof(s->ents[0]));
}

/* A reservation that cannot get its nodes fails with -ENOMEM and changes nothing. */
static void test_reserve_failure_changes_nothing(void **state)
{
	enum { N = 60 };
	struct snap before;
	struct model m;
	unsigned long nth;
	size_t i;
	int ret;

	model_init(&m, N);
	fill_tree_full(&m, N);
	/* Hold reservations until the next one must allocate several nodes. */
	while (m.ix.nr_spare >= uhmm_itidx_need(&m.ix, m.ix.nr_reserved + 1))
		assert_int_equal(uhmm_itidx_reserve(&m.ix), 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(uhmm_itidx_reserve(&m.ix), 0);
	assert_true(uhmm_itidx_need(&m.ix, m.ix.nr_reserved + 1) - m.ix.nr_spare >= 2);
	check_index(&m);

	/* Fail the 1st, 2nd, ... allocation of one reservation, then all of them. */
	for (nth = 1;; nth++) {
		take_snap(&m, &before);
		uhmm_fail_nth(nth, 0);
		ret = uhmm_itidx_reserve(&m.ix);
		uhmm_fail_nth(0, 0);
		if (ret == 0)
			break;
		assert_int_equal(ret, -ENOMEM);
		same_snap(&m, &before);
		check_index(&m);
	}
	assert_true(nth >= 3);	/* it did need several allocations */
	take_snap(&m, &before);
	uhmm_fail_nth(1, 1);
	assert_int_equal(uhmm_itidx_reserve(&m.ix), -ENOMEM);
	uhmm_fail_nth(0, 0);
	same_snap(&m, &before);

	/* Every reservation given back: the pool shrinks to one insert's worth. */
	while (m.ix.nr_reserved)
		uhmm_itidx_cancel(&m.ix);
	assert_true(m.ix.nr_spare <= uhmm_itidx_need(&m.ix, 1));
	check_index(&m);
	model_destroy(&m);
}

static bool rightmost_path_full(const struct uhmm_itidx *ix)
{
	const struct uhmm_itidx_node *n = ix->root;
	unsigned int d;

	for (d = 0; d < ix->height; d++) {
		if (n->nr != F)
			return false;
		if (d + 1 < ix->height)
			n = n->slot[n->nr - 1];
	}
	return ix->height > 0;
}

/*
 * Trimming the pool (after a removal, a cancel) must keep what the
 * outstanding reservations may still need. Ascending inserts until every
 * node on the rightmost path is full, so that the next insert at the right
 * end splits every level and the root: height + 1 nodes. Reserve it, then
 * remove and cancel (both trim), then make it with every allocation failing.
 */
static void test_trim_keeps_reserved(void **state)
{
	enum { N = 3 * F * F * F };
	unsigned int probe;

	for (probe = 0; probe < 2; probe++) {
		struct model m;
		unsigned int h;
		size_t i = 0;

		model_init(&m, N);
		while (!(rightmost_path_full(&m.ix) && m.ix.height >= 3)) {
			assert_true(i + 2 < N);
			m.e[i].start = m.e[i].last = 10 * i;
			model_insert(&m, &m.e[i++]);
		}
		h = m.ix.height;
		assert_int_equal(uhmm_itidx_reserve(&m.ix), 0);
		assert_int_equal(uhmm_itidx_reserve(&m.ix), 0);
		if (probe == 0) {
			model_remove(&m, &m.e[0]);	/* leftmost leaf: no merge reaches the right */
		} else {
			/* The last entry out and in again: remove and insert trim too. */
			assert_int_equal(uhmm_itidx_reserve(&m.ix), 0);
			model_remove(&m, &m.e[i - 1]);
			uhmm_fail_nth(1, 1);
			uhmm_itidx_insert(&m.ix, m.e[i - 1].start, m.e[i - 1].last, &m.e[i - 1]);
			uhmm_fail_nth(0, 0);
			m.e[i - 1].in = true;
			m.in++;
			assert_true(rightmost_path_full(&m.ix));
		}
		uhmm_itidx_cancel(&m.ix);
		check_index(&m);
		m.e[i].start = m.e[i].last = 10 * i;
		uhmm_fail_nth(1, 1);
		uhmm_itidx_insert(&m.ix, m.e[i].start, m.e[i].last, &m.e[i]);	/* BUGs if the pool is short */
		uhmm_fail_nth(0, 0);
		m.e[i].in = true;
		m.in++;
		assert_int_equal(m.ix.height, h + 1);
		check_index(&m);
		model_destroy(&m);
	}
}

/* Removal never allocates, and emptying the index leaves at most one spare node. */
static void test_remove_never_allocates(void **state)
{
	enum { N = 3000 };
	struct model m;
	struct rng r;
	size_t i;

	model_init(&m, N);
	rng_init(&r, 5);
	for (i = 0; i < N; i++) {
		random_interval(&r, &m.e[i].start, &m.e[i].last);
		model_insert(&m, &m.e[i]);
	}
	uhmm_fail_nth(1, 1);
	for (i = 0; i < N; i++) {
		model_remove(&m, &m.e[(i * 1543) % N]);
		if (i % 301 == 0)
			check_index(&m);
	}
	uhmm_fail_nth(0, 0);
	check_index(&m);
	assert_true(m.ix.nr_spare <= 1);
	model_destroy(&m);
}

/* ---- driver --------------------------------------------------------------- */

static const struct CMUnitTest all_tests[] = {
	cmocka_unit_test(test_empty_and_one),
	cmocka_unit_test(test_extremes),
	cmocka_unit_test(test_random_vs_model),
	cmocka_unit_test(test_equal_starts),
	cmocka_unit_test(test_sequential),
	cmocka_unit_test(test_enclosing_is_pruned),
	cmocka_unit_test(test_reserved_inserts_never_fail),
	cmocka_unit_test(test_reserve_failure_changes_nothing),
	cmocka_unit_test(test_trim_keeps_reserved),
	cmocka_unit_test(test_remove_never_allocates),
};

#define NTESTS (sizeof(all_tests) / sizeof(all_tests[0]))

int main(int argc, char **argv)
{
	struct CMUnitTest selected[NTESTS];
	const char *env = getenv("UHMM_SEED");
	size_t i, n = 0;

	if (argc > 1 && strcmp(argv[1], "--list") == 0) {
		for (i = 0; i < NTESTS; i++)
			printf("%s\n", all_tests[i].name);
		return 0;
	}

	for (i = 0; i < NTESTS; i++)
		if (argc < 2 || strcmp(argv[1], all_tests[i].name) == 0)
			selected[n++] = all_tests[i];
	if (n == 0) {
		fprintf(stderr, "test_interval_index: no test case named '%s'\n", argv[1]);
		return 2;
	}

	if (env && *env)
		g_seed = strtoull(env, NULL, 0);
	else
		g_seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	printf("test_interval_index: seed %llu (set UHMM_SEED to reproduce)\n", (unsigned long long)g_seed);
	fflush(stdout);

	/* Exact-name selection, rather than cmocka's glob filter. */
	return _cmocka_run_group_tests("interval_index", selected, n, NULL, NULL);
}
