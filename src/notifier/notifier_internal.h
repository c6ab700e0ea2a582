/* SPDX-License-Identifier: MIT */
/* notifier_internal.h - the per-mm notifier state shared by notifier.c and interval.c.
 *
 * Counterpart of struct mmu_notifier_subscriptions in mm/mmu_notifier.c.
 * Only src/notifier (and white-box tests) include this.
 */
#ifndef UHMM_NOTIFIER_INTERNAL_H
#define UHMM_NOTIFIER_INTERNAL_H

#include "internal.h"
#include "lib/interval_index.h"
#include "notifier/srcu.h"

/*
 * Private bit in range->flags: set by a start that counted itself in
 * active_invalidate_ranges (the mm had subscriptions then), cleared by the end
 * that uncounts it, or by a failed start. End does nothing without it, so a
 * range started before the first registration never reaches a subscriber
 * with an end, and a caller that (wrongly) calls end after a failed start
 * does no harm. Never visible to callbacks as anything but a flag they ignore.
 */
#define UHMM_RANGE_STARTED_ (1u << 31)

/* uhmm_mmu_notifier.linked states (under the subscriptions lock). */
enum {
	MN_UNLINKED = 0,	/* never registered, or unregistered */
	MN_LINKED = 1,		/* on the list, release() not yet called */
	MN_RELEASING = 2,	/* on the list, release() claimed by unregister or exit */
	MN_EXITED = 3,		/* unlinked by exit; unregister still owed (it only waits) */
};

/* uhmm_mmu_interval_notifier.deferred values (under the subscriptions lock). */
enum {
	MN_DEFER_NONE = 0,
	MN_DEFER_INSERT = 1,
	MN_DEFER_REMOVE = 2,
};

struct uhmm_mn_subscriptions {
	/*
	 * lock (the kernel's spinlock; never held across a callback, taken
	 * inside mmap_lock and any PTL-free context) protects:
	 *   - changes to the classic list (readers walk it under srcu instead)
	 *     and every uhmm_mmu_notifier.linked;
	 *   - has_itree, invalidate_seq, active_invalidate_ranges;
	 *   - itree, whole: its nodes, spare pool and reservation count, and
	 *     the in_tree / deferred / deferred_next fields of every interval
	 *     notifier of this mm. The start pass also reads the nodes without
	 *     it, through a cursor, but only while invalidate_seq is odd - then
	 *     nothing modifies them, see interval.c;
	 *   - the deferred list. Each pending insert on it holds one itree
	 *     reservation, taken by insert (which could still fail) and used
	 *     by the end pass that applies it (which cannot).
	 * Interval notifiers' invalidate_seq are atomics: written under it by
	 * insert, and by set_seq under the driver's lock.
	 */
	pthread_mutex_t lock;
	/* Broadcast (after lock is dropped) whenever active_invalidate_ranges
	 * drops to zero, which is also the only time invalidate_seq goes even.
	 * Waiters: classic registration (active == 0), read_begin and remove
	 * (invalidate_seq changed). */
	pthread_cond_t wq;

	/*
	 * Classic subscribers, newest first. Written under lock with release
	 * stores; read under srcu with acquire loads (pairs with the release
	 * store that linked the node, so its ops and fields are visible).
	 * Unlinking leaves the node's own next intact, so a reader standing on
	 * it carries on; the node may be reused only after synchronize_srcu.
	 */
	struct uhmm_mmu_notifier *_Atomic list;

	bool has_itree;				/* an interval notifier was ever inserted */
	unsigned long invalidate_seq;		/* even idle, odd while a hit invalidation runs; starts at 2 */
	/* Every start between start and end (classic and interval alike). */
	unsigned long active_invalidate_ranges;
	/* The interval notifiers, by interval (items: the notifiers). */
	struct uhmm_itidx itree;
	/* Interval notifiers whose insertion (deferred == 1) or removal (2) waits
	 * for invalidate_seq to go even. Linked through deferred_next. */
	struct uhmm_mmu_interval_notifier *deferred_list;

	struct uhmm_srcu srcu;			/* classic callbacks run inside it */
};

static inline void subs_lock_at(struct uhmm_mn_subscriptions *subs, const char *file, int line)
{
	lockdep_acquire(LR_NOTIFIER, false, file, line);
	CHECK_PTHREAD(pthread_mutex_lock(&subs->lock));
}
#define subs_lock(subs) subs_lock_at(subs, __FILE__, __LINE__)
static inline void subs_unlock(struct uhmm_mn_subscriptions *subs)
{
	CHECK_PTHREAD(pthread_mutex_unlock(&subs->lock));
	lockdep_release(LR_NOTIFIER);
}


static inline struct uhmm_mn_subscriptions *mn_subscriptions(struct uhmm_mm *mm)
{
	/* Acquire: pairs with the release store in mn_get_subscriptions_locked,
	 * so the initialised mutex, condvar and srcu are visible. */
	return atomic_load_explicit(&mm->notifier_subscriptions, memory_order_acquire);
}

/* notifier.c */
/* The mm's subscriptions, allocated and published on first use. Caller holds
 * the mmap lock for write (it serialises the allocation). NULL on -ENOMEM. */
struct uhmm_mn_subscriptions *mn_get_subscriptions_locked(struct uhmm_mm *mm);
/* NULL-subscriber registration: switch on itree mode. mmap lock held for
 * write. 0, -EINVAL (mm exited), -ENOMEM. */
int mn_register_itree_locked(struct uhmm_mm *mm);

/* interval.c */
/* Count @range in, run the interval pass. 0, or -EAGAIN after undoing the
 * count (non-blockable range, a callback returned false). */
int mn_itree_invalidate_start(struct uhmm_mn_subscriptions *subs, const struct uhmm_mmu_notifier_range *range);
/* Count a range out; at the last one, end the odd epoch and apply the
 * deferred list, then wake every waiter. */
void mn_invalidate_end_count(struct uhmm_mn_subscriptions *subs);

#endif
