/* uhmm/interval_types.h - node layouts embedded in public structures.
 *
 * The tree code lives in src/lib/; the node types are public only so that
 * struct uhmm_mmu_interval_notifier can be embedded by drivers. Do not touch
 * these fields.
 */
#ifndef UHMM_INTERVAL_TYPES_H
#define UHMM_INTERVAL_TYPES_H

struct uhmm_rb_node { struct uhmm_rb_node *parent, *left, *right; int red; };
struct uhmm_rb_root { struct uhmm_rb_node *node; };
struct uhmm_interval_node { struct uhmm_rb_node rb; unsigned long start, last, subtree_last; };
struct uhmm_interval_root { struct uhmm_rb_root rb; };

#endif
