/* SPDX-License-Identifier: MIT */
/* lib/rbtree.c - red-black tree rebalancing, erase and in-order walking.
 *
 * Counterpart of lib/rbtree.c, written from the textbook (CLRS) algorithm;
 * augmentation simply recomputes the whole changed path plus rotated nodes,
 * trading a few callbacks for obvious correctness.
 */
#include "lib/rbtree.h"

static inline bool is_red(const struct uhmm_rb_node *n)
{
	return n && n->red;
}

static inline void recompute(const struct uhmm_rb_augment *aug,
			     struct uhmm_rb_node *n)
{
	if (aug && aug->recompute)
		aug->recompute(n);
}

/* From @n up to the root: every subtree on this path changed its contents. */
static void recompute_path(const struct uhmm_rb_augment *aug,
			   struct uhmm_rb_node *n)
{
	if (!aug || !aug->recompute)
		return;
	for (; n; n = n->parent)
		aug->recompute(n);
}

/* Make @newn occupy @old's slot in @old's parent (or the root). */
static void change_child(struct uhmm_rb_node *old, struct uhmm_rb_node *newn,
			 struct uhmm_rb_node *parent, struct uhmm_rb_root *root)
{
	if (!parent)
		root->node = newn;
	else if (parent->left == old)
		parent->left = newn;
	else
		parent->right = newn;
}

/*
 * A rotation keeps the set of nodes under the top position unchanged, so only
 * the two nodes that swapped levels need recomputing, lower one first; the
 * ancestors' augmented values stay valid.
 */
static void rotate_left(struct uhmm_rb_node *x, struct uhmm_rb_root *root,
			const struct uhmm_rb_augment *aug)
{
	struct uhmm_rb_node *y = x->right;

	x->right = y->left;
	if (y->left)
		y->left->parent = x;
	y->parent = x->parent;
	change_child(x, y, x->parent, root);
	y->left = x;
	x->parent = y;
	recompute(aug, x);
	recompute(aug, y);
}

static void rotate_right(struct uhmm_rb_node *x, struct uhmm_rb_root *root,
			 const struct uhmm_rb_augment *aug)
{
	struct uhmm_rb_node *y = x->left;

	x->left = y->right;
	if (y->right)
		y->right->parent = x;
	y->parent = x->parent;
	change_child(x, y, x->parent, root);
	y->right = x;
	x->parent = y;
	recompute(aug, x);
	recompute(aug, y);
}

void uhmm_rb_insert_color(struct uhmm_rb_node *node, struct uhmm_rb_root *root,
			  const struct uhmm_rb_augment *aug)
{
	struct uhmm_rb_node *parent, *gparent, *uncle;

	/*
	 * Bring the whole insertion path up to date first; the rotations below
	 * then only have to fix the nodes they move.
	 */
	recompute_path(aug, node);

	while ((parent = node->parent) && parent->red) {
		/* A red parent is never the root, so the grandparent exists. */
		gparent = parent->parent;
		if (parent == gparent->left) {
			uncle = gparent->right;
			if (is_red(uncle)) {
				/* Push blackness down from gparent; retry there. */
				parent->red = 0;
				uncle->red = 0;
				gparent->red = 1;
				node = gparent;
				continue;
			}
			if (node == parent->right) {
				/* Straighten the zig-zag so one rotation suffices. */
				rotate_left(parent, root, aug);
				node = parent;
				parent = node->parent;
			}
			parent->red = 0;
			gparent->red = 1;
			rotate_right(gparent, root, aug);
		} else {
			uncle = gparent->left;
			if (is_red(uncle)) {
				parent->red = 0;
				uncle->red = 0;
				gparent->red = 1;
				node = gparent;
				continue;
			}
			if (node == parent->left) {
				rotate_right(parent, root, aug);
				node = parent;
				parent = node->parent;
			}
			parent->red = 0;
			gparent->red = 1;
			rotate_left(gparent, root, aug);
		}
	}
	root->node->red = 0;
}

/*
 * Restore the black height after a black node was removed from the position
 * now held by @x (possibly NULL, hence @parent is passed explicitly). @x's
 * side of @parent is one black short.
 */
static void erase_fixup(struct uhmm_rb_node *x, struct uhmm_rb_node *parent,
			struct uhmm_rb_root *root,
			const struct uhmm_rb_augment *aug)
{
	struct uhmm_rb_node *sib;

	while (x != root->node && !is_red(x)) {
		if (x == parent->left) {
			sib = parent->right;
			/* The short side is non-empty in black height terms on
			 * the other side, so a sibling always exists. */
			if (sib->red) {
				/* Turn into a case with a black sibling. */
				sib->red = 0;
				parent->red = 1;
				rotate_left(parent, root, aug);
				sib = parent->right;
			}
			if (!is_red(sib->left) && !is_red(sib->right)) {
				/* Remove one black from both sides; the
				 * deficit moves up to parent. */
				sib->red = 1;
				x = parent;
				parent = x->parent;
				continue;
			}
			if (!is_red(sib->right)) {
				/* Move the red nephew to the far side. */
				sib->left->red = 0;
				sib->red = 1;
				rotate_right(sib, root, aug);
				sib = parent->right;
			}
			sib->red = parent->red;
			parent->red = 0;
			sib->right->red = 0;
			rotate_left(parent, root, aug);
			x = root->node;
			break;
		} else {
			sib = parent->left;
			if (sib->red) {
				sib->red = 0;
				parent->red = 1;
				rotate_right(parent, root, aug);
				sib = parent->left;
			}
			if (!is_red(sib->left) && !is_red(sib->right)) {
				sib->red = 1;
				x = parent;
				parent = x->parent;
				continue;
			}
			if (!is_red(sib->left)) {
				sib->right->red = 0;
				sib->red = 1;
				rotate_left(sib, root, aug);
				sib = parent->left;
			}
			sib->red = parent->red;
			parent->red = 0;
			sib->left->red = 0;
			rotate_right(parent, root, aug);
			x = root->node;
			break;
		}
	}
	if (x)
		x->red = 0;
}

void uhmm_rb_erase(struct uhmm_rb_node *node, struct uhmm_rb_root *root,
		   const struct uhmm_rb_augment *aug)
{
	struct uhmm_rb_node *child, *xparent, *succ;
	bool removed_black;

	if (!node->left || !node->right) {
		/* At most one child: splice node out directly. */
		child = node->left ? node->left : node->right;
		xparent = node->parent;
		change_child(node, child, xparent, root);
		if (child)
			child->parent = xparent;
		removed_black = !node->red;
	} else {
		/*
		 * Two children: the in-order successor (leftmost of the right
		 * subtree, so it has no left child) takes node's place and
		 * node's colour; the colour actually lost is the successor's,
		 * at the successor's old position.
		 */
		succ = node->right;
		while (succ->left)
			succ = succ->left;
		child = succ->right;
		removed_black = !succ->red;

		if (succ->parent == node) {
			xparent = succ;
		} else {
			xparent = succ->parent;
			xparent->left = child;
			if (child)
				child->parent = xparent;
			succ->right = node->right;
			succ->right->parent = succ;
		}
		succ->left = node->left;
		succ->left->parent = succ;
		succ->parent = node->parent;
		succ->red = node->red;
		change_child(node, succ, node->parent, root);
	}

	/*
	 * Every subtree that lost a node lies on the path from xparent to the
	 * root (the successor, if it moved, is on that path too). Fix them
	 * before rebalancing, whose rotations keep ancestors' contents intact.
	 */
	recompute_path(aug, xparent);

	if (removed_black)
		erase_fixup(child, xparent, root, aug);
}

void uhmm_rb_replace_node(struct uhmm_rb_node *old, struct uhmm_rb_node *newn,
			  struct uhmm_rb_root *root)
{
	*newn = *old;
	if (old->left)
		old->left->parent = newn;
	if (old->right)
		old->right->parent = newn;
	change_child(old, newn, old->parent, root);
}

struct uhmm_rb_node *uhmm_rb_first(const struct uhmm_rb_root *root)
{
	struct uhmm_rb_node *n = root->node;

	if (!n)
		return NULL;
	while (n->left)
		n = n->left;
	return n;
}

struct uhmm_rb_node *uhmm_rb_last(const struct uhmm_rb_root *root)
{
	struct uhmm_rb_node *n = root->node;

	if (!n)
		return NULL;
	while (n->right)
		n = n->right;
	return n;
}

struct uhmm_rb_node *uhmm_rb_next(const struct uhmm_rb_node *node)
{
	const struct uhmm_rb_node *n = node;
	struct uhmm_rb_node *p;

	if (uhmm_rb_empty_node(node))
		return NULL;
	if (n->right) {
		p = n->right;
		while (p->left)
			p = p->left;
		return p;
	}
	/* Climb until we leave a left subtree; that parent comes next. */
	while ((p = n->parent) && n == p->right)
		n = p;
	return p;
}

struct uhmm_rb_node *uhmm_rb_prev(const struct uhmm_rb_node *node)
{
	const struct uhmm_rb_node *n = node;
	struct uhmm_rb_node *p;

	if (uhmm_rb_empty_node(node))
		return NULL;
	if (n->left) {
		p = n->left;
		while (p->right)
			p = p->right;
		return p;
	}
	while ((p = n->parent) && n == p->left)
		n = p;
	return p;
}
