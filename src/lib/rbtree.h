/* SPDX-License-Identifier: MIT */
/* lib/rbtree.h - intrusive red-black tree with optional augmentation.
 *
 * Counterpart of include/linux/rbtree.h and include/linux/rbtree_augmented.h
 * (written independently). Nodes live inside the caller's structures; the
 * tree never allocates.
 */
#ifndef UHMM_LIB_RBTREE_H
#define UHMM_LIB_RBTREE_H

#include <stdbool.h>
#include <stddef.h>

/* The node layouts live in a public header (see its comment). */
#include <uhmm/interval_types.h>

/*
 * Augmentation hook. recompute(n) must rebuild n's augmented value from n
 * itself and its (already correct) children only. The tree calls it on every
 * node whose subtree changed, always children before parents, so callers
 * never need to propagate anything themselves.
 */
struct uhmm_rb_augment {
	void (*recompute)(struct uhmm_rb_node *n);
};

#define UHMM_RB_ROOT ((struct uhmm_rb_root){ NULL })

#define uhmm_rb_entry(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

static inline bool uhmm_rb_empty_root(const struct uhmm_rb_root *root)
{
	return root->node == NULL;
}

/*
 * A node that is not in any tree points its parent at itself, so that
 * removal code can tell "never inserted / already erased" from "in a tree"
 * without a separate flag (the root's parent is NULL, never self).
 */
static inline void uhmm_rb_clear_node(struct uhmm_rb_node *n)
{
	n->parent = n;
}

static inline bool uhmm_rb_empty_node(const struct uhmm_rb_node *n)
{
	return n->parent == n;
}

/*
 * Insertion is two-step, as in Linux: the caller walks down from root->node
 * comparing keys, remembering the last node visited (@parent, NULL for an
 * empty tree) and the child slot it stopped at (@link, &root->node for an
 * empty tree), then calls uhmm_rb_link_node() followed by
 * uhmm_rb_insert_color().
 */
static inline void uhmm_rb_link_node(struct uhmm_rb_node *node,
				     struct uhmm_rb_node *parent,
				     struct uhmm_rb_node **link)
{
	node->parent = parent;
	node->left = node->right = NULL;
	node->red = 1;
	*link = node;
}

/*
 * Rebalance after uhmm_rb_link_node(). @aug may be NULL. When it is not,
 * insert_color itself recomputes the augmented value of @node and of every
 * ancestor up to the root (then of every rotated node), so the caller only
 * has to make @node's own fields valid before calling.
 */
void uhmm_rb_insert_color(struct uhmm_rb_node *node, struct uhmm_rb_root *root,
			  const struct uhmm_rb_augment *aug);

/*
 * Unlink @node in O(log n). @aug may be NULL; when given, every node whose
 * subtree changed is recomputed. @node's own fields are left stale; call
 * uhmm_rb_clear_node() on it if "not in tree" must be detectable later.
 */
void uhmm_rb_erase(struct uhmm_rb_node *node, struct uhmm_rb_root *root,
		   const struct uhmm_rb_augment *aug);

/*
 * Put @newn in @old's place without rebalancing. The caller guarantees the
 * ordering is unchanged and @newn carries @old's augmented value.
 */
void uhmm_rb_replace_node(struct uhmm_rb_node *old, struct uhmm_rb_node *newn,
			  struct uhmm_rb_root *root);

struct uhmm_rb_node *uhmm_rb_first(const struct uhmm_rb_root *root);
struct uhmm_rb_node *uhmm_rb_last(const struct uhmm_rb_root *root);
struct uhmm_rb_node *uhmm_rb_next(const struct uhmm_rb_node *node);
struct uhmm_rb_node *uhmm_rb_prev(const struct uhmm_rb_node *node);

#endif /* UHMM_LIB_RBTREE_H */
