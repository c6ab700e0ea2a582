/* SPDX-License-Identifier: MIT */
/* dmirror_pt.c - dmirror's device page table: a radix tree from virtual page number to tagged page.
 *
 * Counterpart of the xarray `pt` of lib/test_hmm.c. Four levels of 512 slots;
 * nodes are allocated on the first store below them and freed when their last
 * entry goes, so a sparse mirror costs one node per 512 mapped pages. Callers
 * hold the owning file's mutex; nothing here locks.
 */
#include <errno.h>
#include <stdlib.h>

#include "dmirror/dmirror_internal.h"

/* Slot index of @vpn at @level (0 = leaf). */
static inline unsigned long dpt_index(unsigned long vpn, int level)
{
	return (vpn >> (level * DPT_BITS)) & (DPT_FANOUT - 1);
}

uintptr_t dpt_lookup(const struct dmirror_pt *pt, unsigned long vpn)
{
	const struct dpt_node *n = pt->root;
	int level;

	if (vpn > DPT_MAX_VPN)
		return 0;
	for (level = DPT_LEVELS - 1; n && level > 0; level--)
		n = (const struct dpt_node *)n->slot[dpt_index(vpn, level)];
	return n ? n->slot[dpt_index(vpn, 0)] : 0;
}

int dpt_store(struct dmirror_pt *pt, unsigned long vpn, uintptr_t entry)
{
	struct dpt_node *path[DPT_LEVELS];
	struct dpt_node *n;
	int level, made = 0;
	unsigned long i;

	if (vpn > DPT_MAX_VPN || !entry)
		return -EINVAL;
	if (!pt->root) {
		pt->root = uhmm_calloc(1, sizeof(*pt->root));
		if (!pt->root)
			return -ENOMEM;
	}
	n = pt->root;
	for (level = DPT_LEVELS - 1; level > 0; level--) {
		struct dpt_node *child;

		path[level] = n;
		i = dpt_index(vpn, level);
		child = (struct dpt_node *)n->slot[i];
		if (!child) {
			child = uhmm_calloc(1, sizeof(*child));
			if (!child)
				goto nomem;
			n->slot[i] = (uintptr_t)child;
			n->count++;
			made++;
		}
		n = child;
	}
	i = dpt_index(vpn, 0);
	if (!n->slot[i]) {
		n->count++;
		pt->nr_entries++;
	}
	n->slot[i] = entry;
	return 0;

nomem:
	/* Undo the empty nodes made on the way down, deepest first. */
	for (level = level + 1; made > 0 && level < DPT_LEVELS; level++, made--) {
		struct dpt_node *p = path[level];
		unsigned long pi = dpt_index(vpn, level);

		free((void *)p->slot[pi]);
		p->slot[pi] = 0;
		p->count--;
	}
	return -ENOMEM;
}

/*
 * Erase [first, last] below @n, which covers VPNs from @base at @level.
 * Frees children that become empty. Returns the entries erased.
 */
static unsigned long dpt_erase_node(struct dmirror_pt *pt, struct dpt_node *n, int level, unsigned long base,
				    unsigned long first, unsigned long last)
{
	unsigned int shift = level * DPT_BITS;
	unsigned long i, i_last, erased = 0;

	i = first > base ? (first - base) >> shift : 0;
	i_last = (last - base) >> shift;
	if (i_last > DPT_FANOUT - 1)
		i_last = DPT_FANOUT - 1;
	for (; i <= i_last && n->count; i++) {
		struct dpt_node *child;
		unsigned long cbase, clast;

		if (!n->slot[i])
			continue;
		if (level == 0) {
			n->slot[i] = 0;
			n->count--;
			pt->nr_entries--;
			erased++;
			continue;
		}
		child = (struct dpt_node *)n->slot[i];
		cbase = base + (i << shift);
		clast = cbase + (1UL << shift) - 1;
		erased += dpt_erase_node(pt, child, level - 1, cbase, first > cbase ? first : cbase,
					 last < clast ? last : clast);
		if (!child->count) {
			free(child);
			n->slot[i] = 0;
			n->count--;
		}
	}
	return erased;
}

unsigned long dpt_erase_range(struct dmirror_pt *pt, unsigned long first, unsigned long last)
{
	/* Fast path: most invalidations hit a mirror with nothing mapped there. */
	if (!pt->root || !pt->nr_entries || first > DPT_MAX_VPN || first > last)
		return 0;
	if (last > DPT_MAX_VPN)
		last = DPT_MAX_VPN;
	return dpt_erase_node(pt, pt->root, DPT_LEVELS - 1, 0, first, last);
}

bool dpt_erase(struct dmirror_pt *pt, unsigned long vpn)
{
	return dpt_erase_range(pt, vpn, vpn) != 0;
}

static bool dpt_node_has_tag(const struct dpt_node *n, int level, unsigned long base, unsigned long first,
			     unsigned long last, unsigned long tag)
{
	unsigned int shift = level * DPT_BITS;
	unsigned long i, i_last;

	i = first > base ? (first - base) >> shift : 0;
	i_last = (last - base) >> shift;
	if (i_last > DPT_FANOUT - 1)
		i_last = DPT_FANOUT - 1;
	for (; i <= i_last; i++) {
		unsigned long cbase, clast;

		if (!n->slot[i])
			continue;
		if (level == 0) {
			if (dpt_entry_tag(n->slot[i]) == tag)
				return true;
			continue;
		}
		cbase = base + (i << shift);
		clast = cbase + (1UL << shift) - 1;
		if (dpt_node_has_tag((const struct dpt_node *)n->slot[i], level - 1, cbase,
				     first > cbase ? first : cbase, last < clast ? last : clast, tag))
			return true;
	}
	return false;
}

bool dpt_range_has_tag(const struct dmirror_pt *pt, unsigned long first, unsigned long last, unsigned long tag)
{
	if (!pt->root || !pt->nr_entries || first > DPT_MAX_VPN || first > last)
		return false;
	if (last > DPT_MAX_VPN)
		last = DPT_MAX_VPN;
	return dpt_node_has_tag(pt->root, DPT_LEVELS - 1, 0, first, last, tag);
}

static void dpt_free_node(struct dpt_node *n, int level)
{
	unsigned long i;

	if (level > 0)
		for (i = 0; i < DPT_FANOUT && n->count; i++)
			if (n->slot[i]) {
				dpt_free_node((struct dpt_node *)n->slot[i], level - 1);
				n->count--;
			}
	free(n);
}

void dpt_destroy(struct dmirror_pt *pt)
{
	if (pt->root)
		dpt_free_node(pt->root, DPT_LEVELS - 1);
	pt->root = NULL;
	pt->nr_entries = 0;
}
