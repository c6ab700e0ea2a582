/* SPDX-License-Identifier: MIT */
/* uhmm/interval_types.h - small layouts that public structures embed.
 *
 * struct uhmm_mmu_interval_notifier embeds the interval it watches; the
 * per-mm interval index (src/lib/interval_index.c), which has nodes of its
 * own, files the notifier under it. The red-black node types belong to the
 * library's internal trees (lib/rbtree, lib/interval_tree), which embed them
 * in internal structures; they stay here because lib/rbtree.h takes them
 * from this header. Do not touch these fields.
 */
#ifndef UHMM_INTERVAL_TYPES_H
#define UHMM_INTERVAL_TYPES_H

struct uhmm_rb_node { struct uhmm_rb_node *parent, *left, *right; int red; };
struct uhmm_rb_root { struct uhmm_rb_node *node; };
struct uhmm_interval_node { struct uhmm_rb_node rb; unsigned long start, last, subtree_last; };
struct uhmm_interval_root { struct uhmm_rb_root rb; };
/* A closed interval [start, last]; fixed while its notifier is inserted. */
struct uhmm_interval_span { unsigned long start, last; };

#endif
