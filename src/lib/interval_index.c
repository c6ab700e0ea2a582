/* SPDX-License-Identifier: MIT */
/* lib/interval_index.c - the interval B+-tree: lookup, insert, remove and the node reservations.
 *
 * All leaves are at the same depth. An inner node's slot i summarises its
 * child: min_start[i] is the child's first start (entries are sorted), and
 * max_last[i] the largest last anywhere below it.
 *
 * Height. Every node but the root holds at least ITIDX_MIN slots (a quarter
 * of the fanout: splits leave two halves, removal merges or borrows below
 * it), and an inner root holds at least two (a root left with one child is
 * replaced by it). A tree of height h >= 2 therefore holds at least
 * 2 * ITIDX_MIN^(h - 1) entries: h <= 1 + log_ITIDX_MIN(n / 2), of the
 * current count, however many entries came and went. Without the merges, removal could leave a tall tree of
 * near-empty nodes and lookups would cost the height of the past maximum.
 */
#include <limits.h>
#include <string.h>

#include "internal.h"
#include "lib/interval_index.h"

#define F UHMM_ITIDX_FANOUT
#define ITIDX_MIN UHMM_ITIDX_MIN
/*
 * Inserts that a root of two children absorbs before it can split: it splits
 * on gaining its (F + 1)th child, at most one child per insert, so F - 1; one
 * less for a margin. A root leaf starts with one entry and needs F inserts.
 */
#define ITIDX_ROOT_GROWTH (F - 2)

/* The fill count and max_last[] fill whole lines, so do the other arrays. */
_Static_assert((F + 1) % 8 == 0, "nr and max_last[] share whole cache lines");
_Static_assert(sizeof(struct uhmm_itidx_node) == 3 * 8 * (F + 1), "no padding but one word per array");
/* >= 2: an underfull node always has a neighbour; <= half: split halves respect the floor. */
_Static_assert(ITIDX_MIN >= 2 && ITIDX_MIN <= (F + 1) / 2, "fill floor");
_Static_assert(F < 256, "cursor positions are bytes");

struct itidx_path {
	struct uhmm_itidx_node *node[UHMM_ITIDX_MAX_HEIGHT];
	unsigned char pos[UHMM_ITIDX_MAX_HEIGHT];
};

/* ------------------------------------------------------------ nodes */

static struct uhmm_itidx_node *itidx_node_alloc(void)
{
	/* The hook first: failure injection must see every node allocation. */
	if (uhmm_should_fail_alloc())
		return NULL;
	return aligned_alloc(_Alignof(struct uhmm_itidx_node), sizeof(struct uhmm_itidx_node));
}

static void itidx_pool_put(struct uhmm_itidx *ix, struct uhmm_itidx_node *n)
{
	n->slot[0] = ix->spare;
	ix->spare = n;
	ix->nr_spare++;
}

static struct uhmm_itidx_node *itidx_pool_take(struct uhmm_itidx *ix)
{
	struct uhmm_itidx_node *n = ix->spare;

	/* Empty here means the reservation bound is wrong: no caller could recover. */
	if (unlikely(!n))
		UHMM_BUG("interval index: spare pool empty (%lu reserved)", ix->nr_reserved);
	ix->spare = n->slot[0];
	ix->nr_spare--;
	n->nr = 0;
	return n;
}

/* Move @cnt slots from src[si] to dst[di]; src and dst may be one node. */
static void node_copy(struct uhmm_itidx_node *dst, unsigned int di, const struct uhmm_itidx_node *src,
		      unsigned int si, unsigned int cnt)
{
	memmove(&dst->min_start[di], &src->min_start[si], cnt * sizeof(dst->min_start[0]));
	memmove(&dst->max_last[di], &src->max_last[si], cnt * sizeof(dst->max_last[0]));
	memmove(&dst->slot[di], &src->slot[si], cnt * sizeof(dst->slot[0]));
}

static void node_put(struct uhmm_itidx_node *n, unsigned int i, unsigned long start, unsigned long last,
		     void *slot)
{
	node_copy(n, i + 1, n, i, (unsigned int)n->nr - i);
	n->min_start[i] = start;
	n->max_last[i] = last;
	n->slot[i] = slot;
	n->nr++;
}

static void node_cut(struct uhmm_itidx_node *n, unsigned int i)
{
	node_copy(n, i, n, i + 1, (unsigned int)n->nr - i - 1);
	n->nr--;
}

static unsigned long node_max_last(const struct uhmm_itidx_node *n)
{
	unsigned long max = n->max_last[0];
	unsigned int i;

	for (i = 1; i < n->nr; i++)
		if (n->max_last[i] > max)
			max = n->max_last[i];
	return max;
}

/* Refresh slot @i of inner node @n from the child it points to. */
static void node_summarize(struct uhmm_itidx_node *n, unsigned int i)
{
	const struct uhmm_itidx_node *child = n->slot[i];

	n->min_start[i] = child->min_start[0];
	n->max_last[i] = node_max_last(child);
}

/* Refresh the summaries on the path above depth @d, bottom-up. */
static void itidx_fix_up(struct itidx_path *p, unsigned int d)
{
	while (d-- > 0)
		node_summarize(p->node[d], p->pos[d]);
}

/* ---------------------------------------------------- reservations */

/* The greatest height a tree of @n entries can have (see the top of the file). */
static unsigned long itidx_height_max(unsigned long n)
{
	unsigned long h = 1, least = 2 * ITIDX_MIN;	/* entries a tree of height h + 1 holds */

	if (n == 0)
		return 0;
	while (n >= least) {
		h++;
		if (least > ULONG_MAX / ITIDX_MIN)
			break;	/* height h + 1 would need more entries than fit in a long */
		least *= ITIDX_MIN;
	}
	return h;
}

/*
 * An insert into a tree of height h allocates at most h + 1 nodes: a split
 * at every level and a new root (or the first leaf, h = 0). Of several
 * inserts in a row the kth meets a tree that may have grown: before it at
 * most k - 1 more entries (bounding the height by the fill floor), and at
 * most 1 + (k - 2) / ITIDX_ROOT_GROWTH root splits (the first may come at
 * once, each later one waits for a fresh root to fill up; a root that a
 * removal exposes is older, and lower, than the one it replaces). Removals
 * in between never raise either bound. The later inserts are the costlier,
 * so @nr times the last one's bound covers them all.
 */
unsigned long uhmm_itidx_need(const struct uhmm_itidx *ix, unsigned long nr_inserts)
{
	unsigned long grow, h, hmax;

	if (nr_inserts == 0)
		return 0;
	grow = (nr_inserts - 1 + ITIDX_ROOT_GROWTH - 1) / ITIDX_ROOT_GROWTH;
	h = ix->height + grow;
	hmax = itidx_height_max(ix->count + nr_inserts - 1);
	if (hmax < h)
		h = hmax;
	return nr_inserts * (h + 1);
}

/*
 * Free the spare nodes that neither the outstanding reservations nor one
 * more insert need: the pool stays bounded, and the common churn (remove,
 * then insert) allocates nothing. Safe at any point of a reserved batch:
 * need() bounds the rest of the batch from the tree as it is now just as
 * well as it bounded the whole batch from the tree it was reserved on.
 */
static void itidx_trim(struct uhmm_itidx *ix)
{
	unsigned long keep = uhmm_itidx_need(ix, ix->nr_reserved + 1);

	while (ix->nr_spare > keep)
		free(itidx_pool_take(ix));
}

int uhmm_itidx_reserve(struct uhmm_itidx *ix)
{
	unsigned long need = uhmm_itidx_need(ix, ix->nr_reserved + 1), have;
	struct uhmm_itidx_node *got = NULL, *n;

	/* Into a private list first: a failure must leave the pool as it was. */
	for (have = ix->nr_spare; have < need; have++) {
		n = itidx_node_alloc();
		if (!n) {
			while ((n = got)) {
				got = n->slot[0];
				free(n);
			}
			return -ENOMEM;
		}
		n->slot[0] = got;
		got = n;
	}
	while ((n = got)) {
		got = n->slot[0];
		itidx_pool_put(ix, n);
	}
	ix->nr_reserved++;
	return 0;
}

void uhmm_itidx_cancel(struct uhmm_itidx *ix)
{
	UHMM_BUG_ON(ix->nr_reserved == 0);
	ix->nr_reserved--;
	itidx_trim(ix);
}

/* ---------------------------------------------------------- lookup */

/* From slot @i on, the first whose max_last reaches @start; n->nr if none. */
static inline unsigned int itidx_scan(const struct uhmm_itidx_node *n, unsigned int i, unsigned long start)
{
	while (i < n->nr && n->max_last[i] < start)
		i++;
	return i;
}

/*
 * Slot @i of @n, at depth @d, is the first slot from where the walk stands
 * whose max_last reaches c->start. Descend from it to the first overlapping
 * entry, or end the walk.
 *
 * Why one path is enough. Slots before i hold only intervals that end before
 * c->start: none overlaps. If min_start[i] > c->last, every entry from slot i
 * on starts after c->last (they are sorted): none overlaps, the walk is over.
 * Otherwise descend into i and repeat. If the descent ends that way below,
 * no entry after the walk's position overlaps either: the child holds an
 * interval e with e.last >= c->start (its max_last), which then does not
 * overlap only because e.start > c->last - and every later entry, in the
 * child or beyond it, starts at or after e.start. So a failed descent
 * proves there is nothing to backtrack to, and each call costs one path.
 */
static void *itidx_settle(struct uhmm_itidx_cursor *c, unsigned int d, struct uhmm_itidx_node *n, unsigned int i)
{
	for (;;) {
		if (n->min_start[i] > c->last) {
			c->depth = 0;
			return NULL;
		}
		c->node[d] = n;
		c->pos[d] = (unsigned char)i;
		if (d + 1 == c->depth)
			return n->slot[i];
		n = n->slot[i];
		d++;
		i = itidx_scan(n, 0, c->start);
		/* The parent's max_last[i] is this node's maximum: some slot reaches start. */
		if (unlikely(i == n->nr))
			UHMM_BUG("interval index: max_last of a child overstates it");
	}
}

void *uhmm_itidx_first(struct uhmm_itidx_cursor *c, const struct uhmm_itidx *ix,
		       unsigned long start, unsigned long last)
{
	unsigned int i;

	c->start = start;
	c->last = last;
	c->depth = 0;
	if (!ix->root)
		return NULL;
	i = itidx_scan(ix->root, 0, start);
	if (i == ix->root->nr)
		return NULL;
	c->depth = ix->height;
	return itidx_settle(c, 0, ix->root, i);
}

/*
 * Climb until a level has a later slot reaching c->start, then settle there.
 * Slots skipped on the way end before c->start, so an interval that encloses
 * many others does not make the walk visit them: each step is O(height).
 */
void *uhmm_itidx_next(struct uhmm_itidx_cursor *c)
{
	unsigned int d = c->depth;

	while (d-- > 0) {
		struct uhmm_itidx_node *n = c->node[d];
		unsigned int i = itidx_scan(n, c->pos[d] + 1u, c->start);

		if (i < n->nr)
			return itidx_settle(c, d, n, i);
	}
	c->depth = 0;
	return NULL;
}

/* ---------------------------------------------------------- insert */

/* The last child whose min_start is <= @start, or the first: where @start goes. */
static unsigned int itidx_route(const struct uhmm_itidx_node *n, unsigned long start)
{
	unsigned int i = 1;

	while (i < n->nr && n->min_start[i] <= start)
		i++;
	return i - 1;
}

/* The first slot whose min_start is > @start (after equal ones): n->nr if none. */
static unsigned int itidx_upper(const struct uhmm_itidx_node *n, unsigned long start)
{
	unsigned int i = 0;

	while (i < n->nr && n->min_start[i] <= start)
		i++;
	return i;
}

/*
 * Full node @n (F slots) takes one more at @i: it keeps the lower half and
 * @right, empty, gets the upper; both end with (F + 1) / 2 or more.
 */
static void itidx_split(struct uhmm_itidx_node *n, struct uhmm_itidx_node *right, unsigned int i,
			unsigned long start, unsigned long last, void *slot)
{
	unsigned int half = (F + 1) / 2, from = i < half ? half - 1 : half;

	node_copy(right, 0, n, from, F - from);
	right->nr = F - from;
	n->nr = from;
	if (i < half)
		node_put(n, i, start, last, slot);
	else
		node_put(right, i - from, start, last, slot);
}

static void itidx_grow(struct uhmm_itidx *ix, struct uhmm_itidx_node *left, struct uhmm_itidx_node *right)
{
	struct uhmm_itidx_node *root;

	UHMM_BUG_ON(ix->height >= UHMM_ITIDX_MAX_HEIGHT);
	root = itidx_pool_take(ix);
	root->nr = 2;
	root->slot[0] = left;
	root->slot[1] = right;
	node_summarize(root, 0);
	node_summarize(root, 1);
	ix->root = root;
	ix->height++;
}

/* Put (start, last, slot) at @i of @n, the node at depth @d of @p, splitting upwards as needed. */
static void itidx_add(struct uhmm_itidx *ix, struct itidx_path *p, unsigned int d, struct uhmm_itidx_node *n,
		      unsigned int i, unsigned long start, unsigned long last, void *slot)
{
	for (;;) {
		struct uhmm_itidx_node *right, *parent;

		if (n->nr < F) {
			node_put(n, i, start, last, slot);
			itidx_fix_up(p, d);
			return;
		}
		right = itidx_pool_take(ix);
		itidx_split(n, right, i, start, last, slot);
		if (d == 0) {
			itidx_grow(ix, n, right);
			return;
		}
		/* The parent keeps @n, shrunk, and takes @right just after it. */
		parent = p->node[d - 1];
		i = p->pos[d - 1];
		node_summarize(parent, i);
		start = right->min_start[0];
		last = node_max_last(right);
		slot = right;
		n = parent;
		i++;
		d--;
	}
}

void uhmm_itidx_insert(struct uhmm_itidx *ix, unsigned long start, unsigned long last, void *item)
{
	struct itidx_path p;
	struct uhmm_itidx_node *n;
	unsigned int d;

	if (unlikely(ix->nr_reserved == 0))
		UHMM_BUG("interval index: insert without a reservation");
	UHMM_BUG_ON(last < start);
	if (!ix->root) {
		ix->root = itidx_pool_take(ix);
		ix->height = 1;
	}
	n = ix->root;
	for (d = 0; d + 1 < ix->height; d++) {
		p.node[d] = n;
		p.pos[d] = (unsigned char)itidx_route(n, start);
		n = n->slot[p.pos[d]];
	}
	itidx_add(ix, &p, d, n, itidx_upper(n, start), start, last, item);
	ix->count++;
	ix->nr_reserved--;
	itidx_trim(ix);
}

/* ---------------------------------------------------------- remove */

/* The last child whose min_start is < @start, or the first: where entries at @start begin. */
static unsigned int itidx_route_first(const struct uhmm_itidx_node *n, unsigned long start)
{
	unsigned int i = 1;

	while (i < n->nr && n->min_start[i] < start)
		i++;
	return i - 1;
}

/* The first slot whose min_start is >= @start: n->nr if none. */
static unsigned int itidx_lower(const struct uhmm_itidx_node *n, unsigned long start)
{
	unsigned int i = 0;

	while (i < n->nr && n->min_start[i] < start)
		i++;
	return i;
}

/* Step @p to the next leaf of a tree of height @height; NULL after the last. */
static struct uhmm_itidx_node *itidx_next_leaf(struct itidx_path *p, unsigned int height)
{
	unsigned int d = height - 1;
	struct uhmm_itidx_node *n;

	while (d > 0 && p->pos[d - 1] + 1u >= p->node[d - 1]->nr)
		d--;
	if (d == 0)
		return NULL;
	p->pos[d - 1]++;
	n = p->node[d - 1]->slot[p->pos[d - 1]];
	for (; d < height - 1; d++) {
		p->node[d] = n;
		p->pos[d] = 0;
		n = n->slot[0];
	}
	return n;
}

/* Total > F: share the slots of two neighbours evenly (both end above the floor). */
static void itidx_even(struct uhmm_itidx_node *left, struct uhmm_itidx_node *right)
{
	unsigned int total = (unsigned int)(left->nr + right->nr), want = total / 2, cnt;

	if (left->nr > want) {
		cnt = (unsigned int)left->nr - want;
		node_copy(right, cnt, right, 0, (unsigned int)right->nr);
		node_copy(right, 0, left, want, cnt);
	} else {
		cnt = want - (unsigned int)left->nr;
		node_copy(left, (unsigned int)left->nr, right, 0, cnt);
		node_copy(right, 0, right, cnt, (unsigned int)right->nr - cnt);
	}
	left->nr = want;
	right->nr = total - want;
}

/*
 * @n, at depth @d of @p, just lost a slot. Below the floor it merges with a
 * neighbour (then its parent lost a slot: repeat there) or, when both would
 * not fit in one node, borrows from it. A root left with one child gives way
 * to it, an empty root leaf empties the tree.
 */
static void itidx_rebalance(struct uhmm_itidx *ix, struct itidx_path *p, unsigned int d, struct uhmm_itidx_node *n)
{
	while (d > 0 && n->nr < ITIDX_MIN) {
		struct uhmm_itidx_node *parent = p->node[d - 1], *left, *right;
		/* Non-root inner nodes hold ITIDX_MIN >= 2 slots, an inner root two: a neighbour exists. */
		unsigned int i = p->pos[d - 1];

		if (i + 1u == parent->nr)
			i--;
		left = parent->slot[i];
		right = parent->slot[i + 1];
		p->pos[d - 1] = (unsigned char)i;
		if (left->nr + right->nr > F) {
			itidx_even(left, right);
			node_summarize(parent, i);
			node_summarize(parent, i + 1);
			n = parent;
			d--;
			break;
		}
		node_copy(left, (unsigned int)left->nr, right, 0, (unsigned int)right->nr);
		left->nr += right->nr;
		itidx_pool_put(ix, right);
		node_cut(parent, i + 1);
		node_summarize(parent, i);
		n = parent;
		d--;
	}
	if (d == 0) {
		if (n->nr == 0) {
			itidx_pool_put(ix, n);
			ix->root = NULL;
			ix->height = 0;
		} else if (ix->height > 1 && n->nr == 1) {
			ix->root = n->slot[0];
			ix->height--;
			itidx_pool_put(ix, n);
		}
		return;
	}
	itidx_fix_up(p, d);
}

/*
 * Entries with equal starts may sit in any order and across leaves: descend
 * to where they begin and walk leaf by leaf until @item. O(log n) plus the
 * number of entries sharing @start.
 */
void uhmm_itidx_remove(struct uhmm_itidx *ix, unsigned long start, void *item)
{
	struct itidx_path p;
	struct uhmm_itidx_node *n = ix->root;
	unsigned int d, i;

	if (unlikely(!n))
		UHMM_BUG("interval index: remove from an empty index");
	for (d = 0; d + 1 < ix->height; d++) {
		p.node[d] = n;
		p.pos[d] = (unsigned char)itidx_route_first(n, start);
		n = n->slot[p.pos[d]];
	}
	for (i = itidx_lower(n, start);; i++) {
		if (i == n->nr) {
			n = itidx_next_leaf(&p, ix->height);
			i = 0;
		}
		if (unlikely(!n || n->min_start[i] != start))
			UHMM_BUG("interval index: removing an entry (%#lx, %p) it does not hold", start, item);
		if (n->slot[i] == item)
			break;
	}
	node_cut(n, i);
	ix->count--;
	itidx_rebalance(ix, &p, d, n);
	itidx_trim(ix);
}

/* ------------------------------------------------------- lifetime */

void uhmm_itidx_init(struct uhmm_itidx *ix)
{
	memset(ix, 0, sizeof(*ix));
}

static void itidx_free_subtree(struct uhmm_itidx_node *n, unsigned int levels)
{
	unsigned int i;

	if (levels > 1)
		for (i = 0; i < n->nr; i++)
			itidx_free_subtree(n->slot[i], levels - 1);
	free(n);
}

void uhmm_itidx_destroy(struct uhmm_itidx *ix)
{
	if (ix->root)
		itidx_free_subtree(ix->root, ix->height);
	ix->root = NULL;
	ix->height = 0;
	ix->count = 0;
	ix->nr_reserved = 0;
	while (ix->nr_spare)
		free(itidx_pool_take(ix));
}
