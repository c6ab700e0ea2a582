/* SPDX-License-Identifier: MIT */
/* lib/interval_tree.h - interval tree over closed ranges [start, last].
 *
 * Counterpart of include/linux/interval_tree.h (and the generic
 * interval_tree_generic.h), written independently on top of lib/rbtree.h:
 * an rbtree keyed by start, augmented with the maximum 'last' per subtree.
 */
#ifndef UHMM_LIB_INTERVAL_TREE_H
#define UHMM_LIB_INTERVAL_TREE_H

#include <stdbool.h>
#include "lib/rbtree.h"

/* struct uhmm_interval_node { rb; start, last (closed); subtree_last (tree-owned) }
 * and struct uhmm_interval_root come from <uhmm/interval_types.h>. */

#define UHMM_INTERVAL_ROOT ((struct uhmm_interval_root){ { NULL } })

/* Nodes with equal start are kept in insertion order (ties go right). */
void uhmm_interval_insert(struct uhmm_interval_node *n,
			  struct uhmm_interval_root *root);
void uhmm_interval_remove(struct uhmm_interval_node *n,
			  struct uhmm_interval_root *root);

/*
 * Overlap iteration, in start order: the first node overlapping
 * [start, last], then each next one after @n. Each call is O(log n) and
 * pruned by subtree_last, so all k matches cost at most O((k + 1) log n)
 * and usually close to O(log n + k). The tree must not be modified
 * between calls except for removing the node just returned after fetching
 * its successor.
 */
struct uhmm_interval_node *uhmm_interval_iter_first(struct uhmm_interval_root *root,
						    unsigned long start,
						    unsigned long last);
struct uhmm_interval_node *uhmm_interval_iter_next(struct uhmm_interval_node *n,
						   unsigned long start,
						   unsigned long last);

static inline bool uhmm_interval_empty(const struct uhmm_interval_root *r)
{
	return r->rb.node == NULL;
}

#endif /* UHMM_LIB_INTERVAL_TREE_H */
