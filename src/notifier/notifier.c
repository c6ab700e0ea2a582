/* SPDX-License-Identifier: MIT */
/* notifier.c - per-mm notifier state, classic subscriptions, range dispatch, exit release.
 *
 * Counterpart of mm/mmu_notifier.c (the interval-notifier half is interval.c).
 * Left out: the young/test_young/change_pte/invalidate_range (secondary TLB)
 * hooks, the get/put API with its call_srcu free, and mm_take_all_locks
 * (registration instead waits for active_invalidate_ranges to drain).
 */
#include <limits.h>

#include "lib/trace.h"
#include "notifier/notifier_internal.h"

static const char *const mn_event_names[UHMM_MMU_NOTIFY_NR_EVENTS] = {
	[UHMM_MMU_NOTIFY_UNMAP] = "UNMAP",
	[UHMM_MMU_NOTIFY_CLEAR] = "CLEAR",
	[UHMM_MMU_NOTIFY_PROTECTION_VMA] = "PROTECTION_VMA",
	[UHMM_MMU_NOTIFY_PROTECTION_PAGE] = "PROTECTION_PAGE",
	[UHMM_MMU_NOTIFY_SOFT_DIRTY] = "SOFT_DIRTY",
	[UHMM_MMU_NOTIFY_RELEASE] = "RELEASE",
	[UHMM_MMU_NOTIFY_MIGRATE] = "MIGRATE",
	[UHMM_MMU_NOTIFY_EXCLUSIVE] = "EXCLUSIVE",
};

const char *uhmm_mmu_notifier_event_name(enum uhmm_mmu_notifier_event ev)
{
	if ((unsigned)ev >= UHMM_MMU_NOTIFY_NR_EVENTS)
		return "UNKNOWN";
	return mn_event_names[ev];
}

/* ------------------------------------------------------ subscriptions */

struct uhmm_mn_subscriptions *mn_get_subscriptions_locked(struct uhmm_mm *mm)
{
	struct uhmm_mn_subscriptions *subs = mn_subscriptions(mm);

	if (subs)
		return subs;
	subs = uhmm_calloc(1, sizeof(*subs));
	if (!subs)
		return NULL;
	CHECK_PTHREAD(pthread_mutex_init(&subs->lock, NULL));
	CHECK_PTHREAD(pthread_cond_init(&subs->wq, NULL));
	atomic_init(&subs->list, NULL);
	subs->has_itree = false;
	/* Even is idle; 2 rather than 0 so that "global - 1" (the seq of a
	 * subscription inserted while idle) is odd and never 0 - see interval.c. */
	subs->invalidate_seq = 2;
	subs->active_invalidate_ranges = 0;
	uhmm_itidx_init(&subs->itree);
	subs->deferred_list = NULL;
	uhmm_srcu_init(&subs->srcu);
	/* Release: pairs with the acquire in mn_subscriptions(); everything above
	 * is visible to whoever sees the pointer. Serialised against another
	 * allocation by the mmap write lock. */
	atomic_store_explicit(&mm->notifier_subscriptions, subs, memory_order_release);
	/*
	 * An invalidation that started before the pointer was published told
	 * nobody and will end telling nobody - unless the registration below
	 * links a subscriber in between. The mm's own paths are excluded by the
	 * mmap write lock; rmap walks driven from other address spaces hold
	 * mapping locks across their start..end, so wait them out (the kernel's
	 * mm_take_all_locks does this job).
	 */
	mm_sync_rmap_walkers(mm);
	return subs;
}

/* The last mm_count reference is gone: every notifier was unregistered or
 * removed (each held one), and exit ran mn_release. */
void mn_subscriptions_destroy(struct uhmm_mm *mm)
{
	struct uhmm_mn_subscriptions *subs = mn_subscriptions(mm);

	if (!subs)
		return;
	UHMM_WARN_ON(atomic_load_explicit(&subs->list, memory_order_relaxed) != NULL);
	UHMM_WARN_ON(!uhmm_itidx_empty(&subs->itree));
	UHMM_WARN_ON(subs->itree.nr_reserved != 0);
	UHMM_WARN_ON(subs->deferred_list != NULL);
	UHMM_WARN_ON(subs->active_invalidate_ranges != 0);
	uhmm_itidx_destroy(&subs->itree);	/* the spare nodes */
	uhmm_srcu_cleanup(&subs->srcu);
	CHECK_PTHREAD(pthread_cond_destroy(&subs->wq));
	CHECK_PTHREAD(pthread_mutex_destroy(&subs->lock));
	atomic_store_explicit(&mm->notifier_subscriptions, NULL, memory_order_relaxed);
	free(subs);
}

int mn_register_itree_locked(struct uhmm_mm *mm)
{
	struct uhmm_mn_subscriptions *subs;

	if (atomic_load(&mm->mm_users) <= 0)
		return -EINVAL;
	subs = mn_get_subscriptions_locked(mm);
	if (!subs)
		return -ENOMEM;
	subs_lock(subs);
	subs->has_itree = true;
	subs_unlock(subs);
	return 0;
}

/* ------------------------------------------------------------ classic */

int uhmm_mmu_notifier_register_locked(struct uhmm_mmu_notifier *sub, struct uhmm_mm *mm)
{
	struct uhmm_mn_subscriptions *subs;

	if (!sub || !mm || !sub->ops)
		return -EINVAL;
	/* The caller owns @sub: nothing else may touch linked until it is
	 * registered, so the unlocked read is only a misuse check. */
	if (sub->linked != MN_UNLINKED)
		return -EINVAL;
	if (atomic_load(&mm->mm_users) <= 0)
		return -EINVAL;
	subs = mn_get_subscriptions_locked(mm);
	if (!subs)
		return -ENOMEM;

	mm_grab(mm);
	sub->mm = mm;
	subs_lock(subs);
	/*
	 * A subscriber must never see an end without its start. This mm's own
	 * VM operations are excluded by the mmap write lock we hold, but an
	 * invalidation driven by another mm's reverse-map walk (migration, a
	 * COW page shared after fork) holds no lock of ours: wait until none
	 * is counted. Every start increments the counter under this lock, so a
	 * start after we link (below, same lock hold) sees @sub in its walk and
	 * its end does too.
	 */
	while (subs->active_invalidate_ranges)
		CHECK_PTHREAD(pthread_cond_wait(&subs->wq, &subs->lock));
	atomic_store_explicit(&sub->next, atomic_load_explicit(&subs->list, memory_order_relaxed),
			      memory_order_relaxed);
	sub->linked = MN_LINKED;
	/* Release: pairs with the acquire loads of the list walkers; sub->ops,
	 * sub->mm and sub->next are visible to whoever reaches @sub. */
	atomic_store_explicit(&subs->list, sub, memory_order_release);
	subs_unlock(subs);
	return 0;
}

int uhmm_mmu_notifier_register(struct uhmm_mmu_notifier *sub, struct uhmm_mm *mm)
{
	int ret;

	if (!sub || !mm)
		return -EINVAL;
	uhmm_mmap_write_lock(mm);
	ret = uhmm_mmu_notifier_register_locked(sub, mm);
	uhmm_mmap_write_unlock(mm);
	return ret;
}

/* Unlink @sub from the live list. Its own next stays intact so a reader
 * standing on it carries on to the rest of the list. */
static void mn_unlink_locked(struct uhmm_mn_subscriptions *subs, struct uhmm_mmu_notifier *sub)
{
	struct uhmm_mmu_notifier *_Atomic *pp = &subs->list;
	struct uhmm_mmu_notifier *cur;

	while ((cur = atomic_load_explicit(pp, memory_order_relaxed)) != sub) {
		UHMM_BUG_ON(!cur);
		pp = &cur->next;
	}
	/* Release: a walker that loads the successor through *pp must see it
	 * initialised; we saw it (under lock) after its registrar's release. */
	atomic_store_explicit(pp, atomic_load_explicit(&sub->next, memory_order_relaxed), memory_order_release);
}

/* Claim the single release() call of @sub. Under lock; true if ours. */
static bool mn_claim_release(struct uhmm_mn_subscriptions *subs, struct uhmm_mmu_notifier *sub)
{
	bool claimed;

	subs_lock(subs);
	claimed = sub->linked == MN_LINKED;
	if (claimed)
		sub->linked = MN_RELEASING;
	subs_unlock(subs);
	return claimed;
}

void uhmm_mmu_notifier_unregister(struct uhmm_mmu_notifier *sub, struct uhmm_mm *mm)
{
	struct uhmm_mn_subscriptions *subs;
	bool unregistered, claimed;

	int idx;

	LOCKDEP_NOT_IN_CALLBACK("uhmm_mmu_notifier_unregister");
	if (!sub || !mm)
		return;
	/* Linux drops a reference it does not own here (a use-after-free later): stop instead. */
	if (unlikely(sub->mm != mm))
		UHMM_BUG("uhmm_mmu_notifier_unregister of a notifier not registered on this mm");
	subs = mn_subscriptions(mm);
	if (unlikely(!subs))
		UHMM_BUG("uhmm_mmu_notifier_unregister of a notifier not registered on this mm");

	/*
	 * release() runs inside the srcu read side, entered before the claim:
	 * exit's synchronize_srcu (after it unlinked everything) then waits for
	 * it, so exit never frees pages while a release is still running.
	 */
	idx = srcu_read_lock(&subs->srcu);
	subs_lock(subs);
	unregistered = sub->linked == MN_UNLINKED;
	claimed = sub->linked == MN_LINKED;
	if (claimed)
		sub->linked = MN_RELEASING;
	subs_unlock(subs);
	if (claimed && sub->ops->release) {
		lockdep_callback_enter();
		sub->ops->release(sub, mm);
		lockdep_callback_exit();
	}
	srcu_read_unlock(&subs->srcu, idx);
	if (unlikely(unregistered))
		UHMM_BUG("uhmm_mmu_notifier_unregister of a notifier that is not registered (unregistered twice?)");

	subs_lock(subs);
	if (sub->linked == MN_LINKED || sub->linked == MN_RELEASING)
		mn_unlink_locked(subs, sub);
	/* else MN_EXITED: exit unlinked it and already waited for readers */
	sub->linked = MN_UNLINKED;
	subs_unlock(subs);

	/* No dispatcher still stands on @sub or is inside one of its callbacks. */
	synchronize_srcu(&subs->srcu);
	mm_drop(mm);	/* may free the mm and subs: last touch */
}

/*
 * Classic start pass. Every subscriber is called even after a failure; on any
 * failure every subscriber implementing end gets it at once (including those
 * whose start succeeded: they must tolerate that) and the error is returned.
 */
static int mn_classic_start(struct uhmm_mn_subscriptions *subs, const struct uhmm_mmu_notifier_range *range)
{
	bool blockable = uhmm_mmu_notifier_range_blockable(range);
	struct uhmm_mmu_notifier *sub;
	int ret = 0, idx;

	idx = srcu_read_lock(&subs->srcu);
	/* Acquire loads: pair with the release stores of register and unlink. */
	for (sub = atomic_load_explicit(&subs->list, memory_order_acquire); sub;
	     sub = atomic_load_explicit(&sub->next, memory_order_acquire)) {
		int r;

		if (!sub->ops->invalidate_range_start)
			continue;
		lockdep_callback_enter();
		r = sub->ops->invalidate_range_start(sub, range);
		lockdep_callback_exit();
		if (r) {
			/* Only a non-blockable range may fail, and only with -EAGAIN;
			 * a subscriber that can fail must not implement end. */
			UHMM_WARN_ON(blockable || r != -EAGAIN);
			UHMM_WARN_ON(sub->ops->invalidate_range_end != NULL);
			ret = r;
		}
	}
	if (ret) {
		for (sub = atomic_load_explicit(&subs->list, memory_order_acquire); sub;
		     sub = atomic_load_explicit(&sub->next, memory_order_acquire))
			if (sub->ops->invalidate_range_end) {
				lockdep_callback_enter();
				sub->ops->invalidate_range_end(sub, range);
				lockdep_callback_exit();
			}
	}
	srcu_read_unlock(&subs->srcu, idx);
	return ret;
}

static void mn_classic_end(struct uhmm_mn_subscriptions *subs, const struct uhmm_mmu_notifier_range *range)
{
	struct uhmm_mmu_notifier *sub;
	int idx;

	idx = srcu_read_lock(&subs->srcu);
	for (sub = atomic_load_explicit(&subs->list, memory_order_acquire); sub;
	     sub = atomic_load_explicit(&sub->next, memory_order_acquire))
		if (sub->ops->invalidate_range_end) {
			lockdep_callback_enter();
			sub->ops->invalidate_range_end(sub, range);
			lockdep_callback_exit();
		}
	srcu_read_unlock(&subs->srcu, idx);
}

/* ----------------------------------------------------------- dispatch */

/*
 * Start of an invalidation, BLOCKABLE already set or cleared by the caller.
 * Interval pass first; if it fails (non-blockable only) it has already undone
 * its count and classic subscribers are not called. 0 or -errno; on error the
 * range is not started and end must not be called (it would be a no-op).
 */
static int mn_invalidate_start(struct uhmm_mmu_notifier_range *range)
{
	struct uhmm_mn_subscriptions *subs;
	int ret;

	range->flags &= ~UHMM_RANGE_STARTED_;
	if (trace_on())
		trace_invalidate(range);
	subs = mn_subscriptions(range->mm);
	if (!subs)
		return 0;	/* fast path: nobody to tell, end will see no STARTED */

	ret = mn_itree_invalidate_start(subs, range);
	if (ret)
		return ret;
	ret = mn_classic_start(subs, range);
	if (ret) {
		/* The classic pass already delivered its ends; uncount as end would. */
		mn_invalidate_end_count(subs);
		return ret;
	}
	range->flags |= UHMM_RANGE_STARTED_;
	return 0;
}

void mn_invalidate_range_start(struct uhmm_mmu_notifier_range *r)
{
	r->flags |= UHMM_MMU_NOTIFIER_RANGE_BLOCKABLE;
	/* A blockable start "cannot fail": a subscriber that fails anyway was
	 * warned about, got its end, and the caller's end will be a no-op. */
	(void)mn_invalidate_start(r);
}

/*
 * End. Classic ends run before the range is counted out - the reverse of the
 * kernel, which ends the interval epoch first - because the count is what
 * keeps a concurrent classic registration from linking a subscriber that
 * would then receive this end without its start. Interval notifiers only see
 * their read_begin sleepers woken a few callbacks later.
 */
void mn_invalidate_range_end(struct uhmm_mmu_notifier_range *r)
{
	struct uhmm_mn_subscriptions *subs;

	if (!(r->flags & UHMM_RANGE_STARTED_))
		return;
	r->flags &= ~UHMM_RANGE_STARTED_;
	subs = mn_subscriptions(r->mm);
	mn_classic_end(subs, r);
	mn_invalidate_end_count(subs);
}

int uhmm_mmu_notifier_invalidate_range_start(struct uhmm_mmu_notifier_range *range)
{
	mn_invalidate_range_start(range);
	return 0;
}

int uhmm_mmu_notifier_invalidate_range_start_nonblock(struct uhmm_mmu_notifier_range *range)
{
	range->flags &= ~UHMM_MMU_NOTIFIER_RANGE_BLOCKABLE;
	return mn_invalidate_start(range);
}

void uhmm_mmu_notifier_invalidate_range_end(struct uhmm_mmu_notifier_range *range)
{
	mn_invalidate_range_end(range);
}

/* ---------------------------------------------------------------- exit */

/* RELEASE over the whole address space to every interval notifier. */
static void mn_itree_release(struct uhmm_mn_subscriptions *subs, struct uhmm_mm *mm)
{
	struct uhmm_mmu_notifier_range range;

	mn_range_init(&range, UHMM_MMU_NOTIFY_RELEASE, mm, 0, ULONG_MAX);
	range.flags = UHMM_MMU_NOTIFIER_RANGE_BLOCKABLE;
	/* Blockable: the pass cannot fail (a false return is warned about). */
	if (!UHMM_WARN_ON(mn_itree_invalidate_start(subs, &range)))
		mn_invalidate_end_count(subs);
}

static void mn_classic_release(struct uhmm_mn_subscriptions *subs, struct uhmm_mm *mm)
{
	struct uhmm_mmu_notifier *sub;
	int idx;

	idx = srcu_read_lock(&subs->srcu);
	for (sub = atomic_load_explicit(&subs->list, memory_order_acquire); sub;
	     sub = atomic_load_explicit(&sub->next, memory_order_acquire))
		if (mn_claim_release(subs, sub) && sub->ops->release) {
			lockdep_callback_enter();
			sub->ops->release(sub, mm);
			lockdep_callback_exit();
		}
	srcu_read_unlock(&subs->srcu, idx);

	/* Unlink everyone; a later unregister finds MN_EXITED and only waits. */
	subs_lock(subs);
	for (sub = atomic_load_explicit(&subs->list, memory_order_relaxed); sub;
	     sub = atomic_load_explicit(&sub->next, memory_order_relaxed))
		sub->linked = MN_EXITED;
	atomic_store_explicit(&subs->list, NULL, memory_order_release);
	subs_unlock(subs);

	/* Wait for callbacks still running, and for any release() that an
	 * unregister claimed before us: exit must not free pages under it. */
	synchronize_srcu(&subs->srcu);
}

/*
 * Process exit, before anything is unmapped: interval notifiers get RELEASE
 * (they stay in the tree and will also see exit's UNMAP), classic subscribers
 * get release() once and are unlinked.
 */
void mn_release(struct uhmm_mm *mm)
{
	struct uhmm_mn_subscriptions *subs = mn_subscriptions(mm);
	bool itree;

	if (!subs)
		return;
	subs_lock(subs);
	itree = subs->has_itree;
	subs_unlock(subs);
	if (itree)
		mn_itree_release(subs, mm);
	mn_classic_release(subs, mm);
}
