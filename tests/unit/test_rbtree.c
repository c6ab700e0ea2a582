/* SPDX-License-Identifier: MIT */
/* tests/unit/test_rbtree.c - unit tests for lib/rbtree and lib/interval_tree.
 *
 * Randomised against full invariant checks and brute force (kernel analogue:
 * lib/rbtree_test.c and lib/interval_tree_test.c). Seed from UHMM_SEED or
 * the clock, always printed. Usage: test_rbtree [--list | CASE_NAME].
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/interval_tree.h"
#include "lib/rbtree.h"

static uint64_t g_seed;

/* splitmix64: tiny, seedable, identical on every platform, unlike rand(). */
struct rng {
	uint64_t s;
};

static void rng_init(struct rng *r, uint64_t salt)
{
	/* Per-case salt so a single case run alone sees the same stream. */
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

/* ---- generic red-black invariant checker -------------------------------- */

typedef unsigned long (*key_fn)(const struct uhmm_rb_node *n);

struct rb_check {
	key_fn key;
	size_t count;
	bool have_prev;
	unsigned long prev_key;
};

/* Returns the black height of @n's subtree (NULL leaves count as 1). */
static int check_subtree(struct rb_check *c, const struct uhmm_rb_node *n,
			 const struct uhmm_rb_node *parent)
{
	int lh, rh;
	unsigned long k;

	if (!n)
		return 1;
	if (n->parent != parent)
		FAILF("parent pointer mismatch at node %p", (const void *)n);
	if (n->red && ((n->left && n->left->red) || (n->right && n->right->red)))
		FAILF("red node %p has a red child", (const void *)n);

	lh = check_subtree(c, n->left, n);

	k = c->key(n);
	if (c->have_prev && k < c->prev_key)
		FAILF("in-order keys not sorted: %lu after %lu", k, c->prev_key);
	c->have_prev = true;
	c->prev_key = k;
	c->count++;

	rh = check_subtree(c, n->right, n);
	if (lh != rh)
		FAILF("black height mismatch at %p: %d vs %d", (const void *)n, lh, rh);
	return lh + (n->red ? 0 : 1);
}

static void check_rb(const struct uhmm_rb_root *root, key_fn key, size_t expect)
{
	struct rb_check c = { .key = key };

	if (root->node) {
		if (root->node->parent)
			FAILF("root has a parent");
		if (root->node->red)
			FAILF("root is red");
	}
	check_subtree(&c, root->node, NULL);
	if (c.count != expect)
		FAILF("tree holds %zu nodes, expected %zu", c.count, expect);
}

/* ---- plain keyed nodes --------------------------------------------------- */

struct knode {
	struct uhmm_rb_node rb;
	unsigned long key;
	bool in_tree;
};

static unsigned long knode_key(const struct uhmm_rb_node *n)
{
	return uhmm_rb_entry(n, struct knode, rb)->key;
}

static void knode_insert(struct uhmm_rb_root *root, struct knode *k)
{
	struct uhmm_rb_node **link = &root->node, *parent = NULL;

	while (*link) {
		parent = *link;
		if (k->key < knode_key(parent))
			link = &parent->left;
		else
			link = &parent->right;
	}
	uhmm_rb_link_node(&k->rb, parent, link);
	uhmm_rb_insert_color(&k->rb, root, NULL);
	k->in_tree = true;
}

static void knode_erase(struct uhmm_rb_root *root, struct knode *k)
{
	uhmm_rb_erase(&k->rb, root, NULL);
	uhmm_rb_clear_node(&k->rb);
	k->in_tree = false;
}

/* ---- interval helpers ---------------------------------------------------- */

struct ival {
	struct uhmm_interval_node it;
	bool in_tree;
	unsigned long seen;	/* query stamp, catches duplicate reports */
};

static unsigned long inode_key(const struct uhmm_rb_node *n)
{
	return uhmm_rb_entry(n, struct uhmm_interval_node, rb)->start;
}

/* Recomputes subtree_last from scratch and compares with the stored one. */
static unsigned long check_subtree_last(const struct uhmm_rb_node *rb)
{
	const struct uhmm_interval_node *n;
	unsigned long max, l, r;

	if (!rb)
		return 0;
	n = uhmm_rb_entry(rb, struct uhmm_interval_node, rb);
	max = n->last;
	l = check_subtree_last(rb->left);
	r = check_subtree_last(rb->right);
	if (rb->left && l > max)
		max = l;
	if (rb->right && r > max)
		max = r;
	if (n->subtree_last != max)
		FAILF("subtree_last of [%lu,%lu] is %lu, expected %lu",
		      n->start, n->last, n->subtree_last, max);
	return max;
}

static void random_interval(struct rng *r, unsigned long *start,
			    unsigned long *last)
{
	unsigned long s, len;

	/* Mostly a dense small range so overlaps and equal starts are common;
	 * sometimes extreme values to exercise the top of the range. */
	switch (rng_below(r, 16)) {
	case 0:
		s = ULONG_MAX - rng_below(r, 1000);
		len = rng_below(r, 2000);
		break;
	case 1:
		s = rng_below(r, 100);
		len = ULONG_MAX;
		break;
	case 2:
		s = rng_below(r, 100000);
		len = 0;
		break;
	default:
		s = rng_below(r, 100000);
		len = rng_below(r, rng_below(r, 4) == 0 ? 20000 : 300);
		break;
	}
	*start = s;
	*last = (len > ULONG_MAX - s) ? ULONG_MAX : s + len;
}

static bool overlaps(const struct uhmm_interval_node *n, unsigned long start,
		     unsigned long last)
{
	return n->start <= last && start <= n->last;
}

/* Compare one query's tree answer with a linear scan over @pool. */
static void check_query(struct uhmm_interval_root *root, struct ival *pool,
			size_t npool, unsigned long start, unsigned long last,
			unsigned long stamp)
{
	struct uhmm_interval_node *n;
	size_t got = 0, want = 0, i;
	bool have_prev = false;
	unsigned long prev_start = 0;

	for (n = uhmm_interval_iter_first(root, start, last); n;
	     n = uhmm_interval_iter_next(n, start, last)) {
		struct ival *v = uhmm_rb_entry(n, struct ival, it);

		if (!v->in_tree)
			FAILF("query returned a node not in the tree");
		if (!overlaps(n, start, last))
			FAILF("[%lu,%lu] reported for query [%lu,%lu]",
			      n->start, n->last, start, last);
		if (v->seen == stamp)
			FAILF("[%lu,%lu] reported twice", n->start, n->last);
		if (have_prev && n->start < prev_start)
			FAILF("results out of start order");
		v->seen = stamp;
		have_prev = true;
		prev_start = n->start;
		got++;
	}
	for (i = 0; i < npool; i++)
		if (pool[i].in_tree && overlaps(&pool[i].it, start, last)) {
			want++;
			if (pool[i].seen != stamp)
				FAILF("query [%lu,%lu] missed [%lu,%lu]", start,
				      last, pool[i].it.start, pool[i].it.last);
		}
	if (got != want)
		FAILF("query [%lu,%lu]: %zu results, expected %zu", start, last,
		      got, want);
}

/* ---- cases --------------------------------------------------------------- */

static void test_empty_tree(void **state)
{
	struct uhmm_rb_root root = UHMM_RB_ROOT;
	struct uhmm_interval_root iroot = UHMM_INTERVAL_ROOT;
	struct uhmm_interval_node one = { .start = 5, .last = 10 };
	struct knode k = { .key = 1 };

	(void)state;
	assert_true(uhmm_rb_empty_root(&root));
	assert_null(uhmm_rb_first(&root));
	assert_null(uhmm_rb_last(&root));
	check_rb(&root, knode_key, 0);

	uhmm_rb_clear_node(&k.rb);
	assert_true(uhmm_rb_empty_node(&k.rb));
	assert_null(uhmm_rb_next(&k.rb));
	assert_null(uhmm_rb_prev(&k.rb));

	/* One node: it is first, last, root; removal empties the tree again. */
	knode_insert(&root, &k);
	assert_false(uhmm_rb_empty_node(&k.rb));
	assert_ptr_equal(uhmm_rb_first(&root), &k.rb);
	assert_ptr_equal(uhmm_rb_last(&root), &k.rb);
	assert_null(uhmm_rb_next(&k.rb));
	assert_null(uhmm_rb_prev(&k.rb));
	check_rb(&root, knode_key, 1);
	knode_erase(&root, &k);
	assert_true(uhmm_rb_empty_node(&k.rb));
	assert_null(root.node);

	assert_true(uhmm_interval_empty(&iroot));
	assert_null(uhmm_interval_iter_first(&iroot, 0, ULONG_MAX));
	uhmm_interval_insert(&one, &iroot);
	assert_false(uhmm_interval_empty(&iroot));
	assert_ptr_equal(uhmm_interval_iter_first(&iroot, 0, ULONG_MAX), &one);
	assert_ptr_equal(uhmm_interval_iter_first(&iroot, 10, 10), &one);
	assert_ptr_equal(uhmm_interval_iter_first(&iroot, 0, 5), &one);
	assert_null(uhmm_interval_iter_first(&iroot, 0, 4));
	assert_null(uhmm_interval_iter_first(&iroot, 11, ULONG_MAX));
	assert_null(uhmm_interval_iter_next(&one, 0, ULONG_MAX));
	uhmm_interval_remove(&one, &iroot);
	assert_true(uhmm_interval_empty(&iroot));
	assert_null(uhmm_interval_iter_first(&iroot, 0, ULONG_MAX));
}

#define RANDOM_NODES 10000

static void test_rb_random_insert_erase(void **state)
{
	struct uhmm_rb_root root = UHMM_RB_ROOT;
	struct knode *nodes = calloc(RANDOM_NODES, sizeof(*nodes));
	size_t in = 0, i, ops;
	struct rng r;

	(void)state;
	assert_non_null(nodes);
	rng_init(&r, 1);
	/* Narrow key range: plenty of duplicate keys exercise tie handling. */
	for (i = 0; i < RANDOM_NODES; i++)
		nodes[i].key = rng_below(&r, RANDOM_NODES / 4);

	/* Grow to full, churn, then drain: every phase sees checks. */
	for (ops = 0; ops < 6 * RANDOM_NODES; ops++) {
		struct knode *k = &nodes[rng_below(&r, RANDOM_NODES)];
		bool want_insert;

		if (ops < 2 * RANDOM_NODES)
			want_insert = rng_below(&r, 4) != 0;
		else if (ops < 4 * RANDOM_NODES)
			want_insert = rng_below(&r, 2) != 0;
		else
			want_insert = rng_below(&r, 4) == 0;

		if (want_insert && !k->in_tree) {
			knode_insert(&root, k);
			in++;
		} else if (!want_insert && k->in_tree) {
			knode_erase(&root, k);
			in--;
		}
		if (ops % 100 == 0)
			check_rb(&root, knode_key, in);
	}
	check_rb(&root, knode_key, in);

	for (i = 0; i < RANDOM_NODES; i++)
		if (nodes[i].in_tree) {
			knode_erase(&root, &nodes[i]);
			in--;
			if (in % 100 == 0)
				check_rb(&root, knode_key, in);
		}
	assert_null(root.node);
	free(nodes);
}

/* Monotonic inserts and erases hit the same rotation cases over and over. */
static void test_rb_sequential(void **state)
{
	struct uhmm_rb_root root = UHMM_RB_ROOT;
	enum { N = 4096 };
	struct knode *nodes = calloc(N, sizeof(*nodes));
	size_t i;

	(void)state;
	assert_non_null(nodes);
	for (i = 0; i < N; i++) {
		nodes[i].key = i;
		knode_insert(&root, &nodes[i]);
	}
	check_rb(&root, knode_key, N);
	for (i = 0; i < N; i += 2)
		knode_erase(&root, &nodes[i]);
	check_rb(&root, knode_key, N / 2);
	for (i = N; i-- > 0;)
		if (nodes[i].in_tree)
			knode_erase(&root, &nodes[i]);
	assert_null(root.node);

	for (i = N; i-- > 0;) {
		nodes[i].key = i;
		knode_insert(&root, &nodes[i]);
	}
	check_rb(&root, knode_key, N);
	/* Always erasing the root forces the two-children successor path. */
	for (i = N; i > 0; i--) {
		knode_erase(&root, uhmm_rb_entry(root.node, struct knode, rb));
		if (i % 64 == 0)
			check_rb(&root, knode_key, i - 1);
	}
	assert_null(root.node);
	free(nodes);
}

#define AUG_NODES 2000

static void test_augmented_every_op(void **state)
{
	struct uhmm_interval_root root = UHMM_INTERVAL_ROOT;
	struct ival *pool = calloc(AUG_NODES, sizeof(*pool));
	size_t in = 0, i, ops;
	struct rng r;

	(void)state;
	assert_non_null(pool);
	rng_init(&r, 2);
	for (i = 0; i < AUG_NODES; i++)
		random_interval(&r, &pool[i].it.start, &pool[i].it.last);

	for (ops = 0; ops < 5 * AUG_NODES; ops++) {
		struct ival *v = &pool[rng_below(&r, AUG_NODES)];

		if (v->in_tree) {
			uhmm_interval_remove(&v->it, &root);
			v->in_tree = false;
			in--;
		} else {
			/* Re-randomise on reinsert so values move around. */
			random_interval(&r, &v->it.start, &v->it.last);
			uhmm_interval_insert(&v->it, &root);
			v->in_tree = true;
			in++;
		}
		check_subtree_last(root.rb.node);
		if (ops % 50 == 0)
			check_rb(&root.rb, inode_key, in);
	}
	check_rb(&root.rb, inode_key, in);
	for (i = 0; i < AUG_NODES; i++)
		if (pool[i].in_tree) {
			uhmm_interval_remove(&pool[i].it, &root);
			pool[i].in_tree = false;
			check_subtree_last(root.rb.node);
		}
	assert_true(uhmm_interval_empty(&root));
	free(pool);
}

#define QUERY_NODES 3000

static void test_interval_vs_bruteforce(void **state)
{
	struct uhmm_interval_root root = UHMM_INTERVAL_ROOT;
	struct ival *pool = calloc(QUERY_NODES, sizeof(*pool));
	unsigned long stamp = 0, qs, ql;
	size_t i, ops;
	struct rng r;

	(void)state;
	assert_non_null(pool);
	rng_init(&r, 3);
	for (i = 0; i < QUERY_NODES; i++)
		random_interval(&r, &pool[i].it.start, &pool[i].it.last);

	for (ops = 0; ops < 4 * QUERY_NODES; ops++) {
		struct ival *v = &pool[rng_below(&r, QUERY_NODES)];

		if (v->in_tree) {
			uhmm_interval_remove(&v->it, &root);
			v->in_tree = false;
		} else {
			random_interval(&r, &v->it.start, &v->it.last);
			uhmm_interval_insert(&v->it, &root);
			v->in_tree = true;
		}
		if (ops % 7 == 0) {
			random_interval(&r, &qs, &ql);
			check_query(&root, pool, QUERY_NODES, qs, ql, ++stamp);
		}
	}
	/* Fixed edge queries: everything, nothing below, single points. */
	check_query(&root, pool, QUERY_NODES, 0, ULONG_MAX, ++stamp);
	check_query(&root, pool, QUERY_NODES, 0, 0, ++stamp);
	check_query(&root, pool, QUERY_NODES, ULONG_MAX, ULONG_MAX, ++stamp);
	for (i = 0; i < 200; i++) {
		qs = rng_below(&r, 100000);
		check_query(&root, pool, QUERY_NODES, qs, qs, ++stamp);
	}

	/* Removing each match right after fetching its successor is allowed. */
	for (i = 0; i < 50; i++) {
		struct uhmm_interval_node *n, *next;

		random_interval(&r, &qs, &ql);
		for (n = uhmm_interval_iter_first(&root, qs, ql); n; n = next) {
			next = uhmm_interval_iter_next(n, qs, ql);
			uhmm_interval_remove(n, &root);
			uhmm_rb_entry(n, struct ival, it)->in_tree = false;
		}
		assert_null(uhmm_interval_iter_first(&root, qs, ql));
		check_subtree_last(root.rb.node);
		check_query(&root, pool, QUERY_NODES, 0, ULONG_MAX, ++stamp);
	}
	free(pool);
}

static void test_iteration_next_prev(void **state)
{
	struct uhmm_rb_root root = UHMM_RB_ROOT;
	enum { N = 1000 };
	struct knode *nodes = calloc(N, sizeof(*nodes));
	struct knode **sorted = calloc(N, sizeof(*sorted));
	struct uhmm_rb_node *p;
	size_t i, j;
	struct rng r;

	(void)state;
	assert_non_null(nodes);
	assert_non_null(sorted);
	rng_init(&r, 4);
	/* Distinct keys in random order: a permutation of 0..N-1, times 3. */
	for (i = 0; i < N; i++)
		nodes[i].key = i * 3;
	for (i = N - 1; i > 0; i--) {
		unsigned long t;

		j = rng_below(&r, i + 1);
		t = nodes[i].key;
		nodes[i].key = nodes[j].key;
		nodes[j].key = t;
	}
	for (i = 0; i < N; i++) {
		knode_insert(&root, &nodes[i]);
		sorted[nodes[i].key / 3] = &nodes[i];
	}

	assert_ptr_equal(uhmm_rb_first(&root), &sorted[0]->rb);
	assert_ptr_equal(uhmm_rb_last(&root), &sorted[N - 1]->rb);

	for (i = 0, p = uhmm_rb_first(&root); p; p = uhmm_rb_next(p), i++) {
		assert_true(i < N);
		assert_ptr_equal(p, &sorted[i]->rb);
	}
	assert_int_equal(i, N);

	for (i = N, p = uhmm_rb_last(&root); p; p = uhmm_rb_prev(p)) {
		assert_true(i > 0);
		assert_ptr_equal(p, &sorted[--i]->rb);
	}
	assert_int_equal(i, 0);

	/* next(prev(x)) == x everywhere in the interior. */
	for (i = 1; i + 1 < N; i++) {
		p = &sorted[i]->rb;
		assert_ptr_equal(uhmm_rb_next(uhmm_rb_prev(p)), p);
		assert_ptr_equal(uhmm_rb_prev(uhmm_rb_next(p)), p);
	}

	/* Erasing every third node keeps the walk consistent. */
	for (i = 0; i < N; i += 3)
		knode_erase(&root, sorted[i]);
	for (i = 0, p = uhmm_rb_first(&root); p; p = uhmm_rb_next(p)) {
		while (!sorted[i]->in_tree)
			i++;
		assert_ptr_equal(p, &sorted[i]->rb);
		i++;
	}
	free(sorted);
	free(nodes);
}

static void test_replace_node(void **state)
{
	struct uhmm_rb_root root = UHMM_RB_ROOT;
	enum { N = 64 };
	struct knode nodes[N], spare;
	size_t i;

	(void)state;
	memset(nodes, 0, sizeof(nodes));
	for (i = 0; i < N; i++) {
		nodes[i].key = i;
		knode_insert(&root, &nodes[i]);
	}
	/* Swap out an interior node and the root for same-key replacements. */
	spare.key = nodes[10].key;
	uhmm_rb_replace_node(&nodes[10].rb, &spare.rb, &root);
	check_rb(&root, knode_key, N);
	assert_ptr_equal(uhmm_rb_next(&nodes[9].rb), &spare.rb);

	{
		struct knode *old = uhmm_rb_entry(root.node, struct knode, rb);

		nodes[10].key = old->key;
		uhmm_rb_replace_node(&old->rb, &nodes[10].rb, &root);
		assert_ptr_equal(root.node, &nodes[10].rb);
		check_rb(&root, knode_key, N);
	}
}

/* ---- driver -------------------------------------------------------------- */

static const struct CMUnitTest all_tests[] = {
	cmocka_unit_test(test_empty_tree),
	cmocka_unit_test(test_rb_random_insert_erase),
	cmocka_unit_test(test_rb_sequential),
	cmocka_unit_test(test_augmented_every_op),
	cmocka_unit_test(test_interval_vs_bruteforce),
	cmocka_unit_test(test_iteration_next_prev),
	cmocka_unit_test(test_replace_node),
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
		fprintf(stderr, "test_rbtree: no test case named '%s'\n", argv[1]);
		return 2;
	}

	if (env && *env)
		g_seed = strtoull(env, NULL, 0);
	else
		g_seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	printf("test_rbtree: seed %llu (set UHMM_SEED to reproduce)\n",
	       (unsigned long long)g_seed);
	fflush(stdout);

	/* Filtering the array ourselves keeps exact-name matching, rather
	 * than cmocka's glob filter. */
	return _cmocka_run_group_tests("rbtree", selected, n, NULL, NULL);
}
