/* SPDX-License-Identifier: MIT */
/* lib/interval_tree.c - insert, remove and overlap search for interval trees.
 *
 * Counterpart of lib/interval_tree.c / interval_tree_generic.h, written
 * independently. The subtree_last augmentation lets a search skip any
 * subtree whose intervals all end before the query starts.
 */
#include "lib/interval_tree.h"

static inline struct uhmm_interval_node *inode(struct uhmm_rb_node *rb)
{
	return rb ? uhmm_rb_entry(rb, struct uhmm_interval_node, rb) : NULL;
}

static void subtree_last_recompute(struct uhmm_rb_node *rb)
{
	struct uhmm_interval_node *n = inode(rb);
	unsigned long max = n->last;

	if (rb->left && inode(rb->left)->subtree_last > max)
		max = inode(rb->left)->subtree_last;
	if (rb->right && inode(rb->right)->subtree_last > max)
		max = inode(rb->right)->subtree_last;
	n->subtree_last = max;
}

static const struct uhmm_rb_augment subtree_last_aug = {
	.recompute = subtree_last_recompute,
};

void uhmm_interval_insert(struct uhmm_interval_node *n,
			  struct uhmm_interval_root *root)
{
	struct uhmm_rb_node **link = &root->rb.node, *parent = NULL;

	while (*link) {
		parent = *link;
		if (n->start < inode(parent)->start)
			link = &parent->left;
		else
			link = &parent->right;
	}
	n->subtree_last = n->last;
	uhmm_rb_link_node(&n->rb, parent, link);
	/* insert_color fixes subtree_last along the whole insertion path. */
	uhmm_rb_insert_color(&n->rb, &root->rb, &subtree_last_aug);
}

void uhmm_interval_remove(struct uhmm_interval_node *n,
			  struct uhmm_interval_root *root)
{
	uhmm_rb_erase(&n->rb, &root->rb, &subtree_last_aug);
}

/*
 * Leftmost node in the subtree at @n overlapping [start, last], given that
 * n->subtree_last >= start (some node here ends late enough).
 *
 * Descending left whenever the left subtree has a late enough end is safe:
 * such a node starts no later than n, so either it overlaps, or n and
 * everything to its right start after 'last' too and nothing here overlaps.
 */
static struct uhmm_interval_node *
subtree_search(struct uhmm_interval_node *n, unsigned long start,
	       unsigned long last)
{
	struct uhmm_interval_node *l, *r;

	for (;;) {
		l = inode(n->rb.left);
		if (l && l->subtree_last >= start) {
			n = l;
			continue;
		}
		/* Nothing on the left ends late enough; n is the candidate. */
		if (n->start > last)
			return NULL;	/* n and all to its right start too late */
		if (n->last >= start)
			return n;
		r = inode(n->rb.right);
		if (!r || r->subtree_last < start)
			return NULL;
		n = r;
	}
}

struct uhmm_interval_node *uhmm_interval_iter_first(struct uhmm_interval_root *root,
						    unsigned long start,
						    unsigned long last)
{
	struct uhmm_interval_node *n = inode(root->rb.node);

	if (!n || n->subtree_last < start)
		return NULL;
	return subtree_search(n, start, last);
}

struct uhmm_interval_node *uhmm_interval_iter_next(struct uhmm_interval_node *n,
						   unsigned long start,
						   unsigned long last)
{
	struct uhmm_rb_node *rb = n->rb.right, *prev;
	struct uhmm_interval_node *r;

	for (;;) {
		/*
		 * Successors inside n's right subtree come first. If the search
		 * there finds nothing although something ends late enough,
		 * that something starts after 'last', and so does every later
		 * node: stop.
		 */
		r = inode(rb);
		if (r && r->subtree_last >= start)
			return subtree_search(r, start, last);

		/* Climb to the first ancestor we reach from its left side. */
		do {
			prev = &n->rb;
			rb = prev->parent;
			if (!rb)
				return NULL;
			n = inode(rb);
			rb = n->rb.right;
		} while (rb == prev);

		/* Starts only grow from here on. */
		if (n->start > last)
			return NULL;
		if (n->last >= start)
			return n;
		/* n ends too early; try its right subtree (rb) next. */
	}
}
