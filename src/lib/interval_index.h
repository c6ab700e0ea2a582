/* SPDX-License-Identifier: MIT */
/* lib/interval_index.h - a B+-tree of closed intervals [start, last], for the interval notifiers.
 *
 * The kernel files mmu_interval_notifiers in an augmented rbtree whose nodes
 * live inside the drivers' structures; a lookup there costs a dependent
 * cache miss or two per level, ~16 levels deep at 64K notifiers, over
 * structures scattered through the heap. This index keeps {start, last, item}
 * in compact nodes of its own instead, each child summarised by its smallest
 * start and largest last, so a lookup reads about log20(n) nodes (at the
 * typical fill) and, in each, a sequential scan of one max_last array.
 *
 * Entries are ordered by start; equal starts are allowed, in no particular
 * order. Items are opaque pointers, found again by (start, item).
 *
 * Nodes come from a spare pool filled by uhmm_itidx_reserve(), the only call
 * that allocates (through the library's allocation hook) and the only one that
 * can fail. Every insert consumes one reservation and cannot fail; removal
 * never allocates. So a caller that must insert where failure is not an
 * option (the notifier's deferred inserts, applied when an invalidation
 * ends) reserves beforehand, where it can still return -ENOMEM.
 *
 * No locking: the caller serialises every call on one index. Lookups only
 * read, so they may run concurrently with each other while nothing modifies.
 */
#ifndef UHMM_LIB_INTERVAL_INDEX_H
#define UHMM_LIB_INTERVAL_INDEX_H

#include <stdbool.h>

/*
 * 31 children rather than 32: the fill count then shares the first cache
 * line with max_last[], so finding the child to descend into reads at most
 * four sequential lines (the hardware prefetches them as a run), and a node
 * is twelve lines. 15 would halve that but add a level: 65536 notifiers
 * need five levels at 15, four at 31, and on random lookups the extra level
 * costs more than the longer scans (bench/notifier.c, same runs: growth
 * t(65536)/t(16) 3.1-4.9 at 15, 2.8-4.2 at 31).
 */
#define UHMM_ITIDX_FANOUT 31
/* The fill floor of every node but the root: a quarter of the fanout, rounded up. */
#define UHMM_ITIDX_MIN ((UHMM_ITIDX_FANOUT + 3) / 4)
/* Deeper than any tree that fits in memory (see the height bound in the .c). */
#define UHMM_ITIDX_MAX_HEIGHT 32

/*
 * Leaves and inner nodes share one layout. In a leaf, slot i is an item and
 * [min_start[i], max_last[i]] its interval; in an inner node, slot i is a
 * child and min_start[i] / max_last[i] the smallest start / largest last
 * below it. Separate arrays keep each scan on consecutive lines.
 */
struct uhmm_itidx_node {
	_Alignas(64) unsigned long nr;		/* slots in use */
	unsigned long max_last[UHMM_ITIDX_FANOUT];
	_Alignas(64) unsigned long min_start[UHMM_ITIDX_FANOUT];
	_Alignas(64) void *slot[UHMM_ITIDX_FANOUT];
};

struct uhmm_itidx {
	struct uhmm_itidx_node *root;		/* NULL when empty */
	unsigned int height;			/* levels, leaves included; 0 when empty */
	unsigned long count;			/* entries */
	struct uhmm_itidx_node *spare;		/* the pool, linked through slot[0] */
	unsigned long nr_spare;
	unsigned long nr_reserved;		/* inserts reserved, not yet made */
};

/*
 * Overlap iteration state: the path from the root to the current entry.
 * Valid only while the index does not change.
 */
struct uhmm_itidx_cursor {
	unsigned long start, last;		/* the query */
	unsigned int depth;			/* levels on the path; 0 once exhausted */
	unsigned char pos[UHMM_ITIDX_MAX_HEIGHT];
	struct uhmm_itidx_node *node[UHMM_ITIDX_MAX_HEIGHT];
};

void uhmm_itidx_init(struct uhmm_itidx *ix);
/* Frees every node, the pool's included (entries left are dropped). */
void uhmm_itidx_destroy(struct uhmm_itidx *ix);

/*
 * Guarantee one more insert: 0, or -ENOMEM with the index unchanged.
 * uhmm_itidx_cancel() gives back one reservation that will not be used.
 */
int uhmm_itidx_reserve(struct uhmm_itidx *ix);
void uhmm_itidx_cancel(struct uhmm_itidx *ix);
/* Spare nodes that @nr_inserts inserts in a row may need, from the index as it is. */
unsigned long uhmm_itidx_need(const struct uhmm_itidx *ix, unsigned long nr_inserts);

/* Consumes a reservation (a BUG without one); never fails. start <= last. */
void uhmm_itidx_insert(struct uhmm_itidx *ix, unsigned long start, unsigned long last, void *item);
/* Removes the entry (start, item), which must be present. Never allocates. */
void uhmm_itidx_remove(struct uhmm_itidx *ix, unsigned long start, void *item);

/*
 * The entries overlapping [start, last], in start order: first() returns the
 * leftmost, next() the following one; NULL at the end. O(log n) each.
 */
void *uhmm_itidx_first(struct uhmm_itidx_cursor *c, const struct uhmm_itidx *ix,
		       unsigned long start, unsigned long last);
void *uhmm_itidx_next(struct uhmm_itidx_cursor *c);

static inline bool uhmm_itidx_empty(const struct uhmm_itidx *ix)
{
	return ix->count == 0;
}

#endif /* UHMM_LIB_INTERVAL_INDEX_H */
