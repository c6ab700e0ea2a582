/* SPDX-License-Identifier: MIT */
/* interval.c - interval notifiers: the per-mm interval index and its collision-retry sequence.
 *
 * Counterpart of the mmu_interval_notifier half of mm/mmu_notifier.c
 * (mn_itree_*, mmu_interval_notifier_insert/remove, mmu_interval_read_begin).
 * Left out: nothing of the protocol; lockdep annotations become comments.
 * Different: the kernel's interval rbtree, threaded through the notifiers,
 * becomes a B+-tree index of their intervals (lib/interval_index.c), which
 * allocates; see "Allocation" below.
 *
 * The protocol
 * ------------
 * subs->invalidate_seq is a sequence count that many writers (invalidations)
 * may hold at once. Interval notifiers always store odd values; the global
 * value is even when idle and starts at 2. active_invalidate_ranges counts
 * every invalidation between its start and its end (classic and interval:
 * one counter, see notifier.c). States, all read and changed under subs->lock:
 *
 *   idle          active == 0, seq even. Tree and deferred list may change;
 *                 the deferred list is empty; no invalidate() runs.
 *   partially     active > 0, seq even. Running invalidations hit no interval
 *   excluded      (so no invalidate() runs); the tree may still change. An
 *                 insert now forces seq odd: the new interval is assumed hit.
 *   fully         active > 0, seq odd. Some running invalidation hit at least
 *   excluded      one interval. invalidate() callbacks run outside the lock
 *                 and walk the tree, so the tree is frozen: inserts and
 *                 removes go on the deferred list.
 *   (active == 0 with seq odd exists only inside the last end's lock hold,
 *   which makes seq even and applies the deferred list before unlocking.)
 *
 * Operations (under the lock unless marked):
 *
 *   op            idle                partially excluded    fully excluded
 *   ------------  ------------------  --------------------  ------------------------
 *   start pass    active++; a hit     as idle               active++; cur_seq = seq;
 *                 makes seq odd                             hits call invalidate()
 *                                                           unlocked, in tree order
 *   end pass      -                   active--; at 0 wake   active--; at 0: seq++,
 *                                                           apply deferred, wake
 *   insert        reserve (-ENOMEM);  reserve (-ENOMEM);    reserve (-ENOMEM);
 *                 sub.seq = seq - 1;  seq |= 1;             sub.seq = seq;
 *                 insert              sub.seq = seq; insert defer the insert
 *   remove        erase               erase                 pending insert: drop it,
 *                                                           cancel its reservation;
 *                                                           else defer the erase and
 *                                                           sleep until seq != then
 *   read_begin    return sub.seq      return sub.seq        sleep while sub.seq == seq
 *
 * Allocation. The tree is an index with nodes of its own, so an insert may
 * need memory, yet a deferred insert is applied by the last end pass, which
 * cannot fail. So every insert first reserves index nodes under the lock
 * (the only step that can fail: -ENOMEM, nothing changed), whether it is
 * applied at once or deferred; applying consumes the reservation, and a
 * pending insert dropped by remove cancels it. Erasing never allocates.
 *
 * read_begin's subscription value equals the global one exactly when this
 * interval was invalidated (or inserted) in the current odd epoch, i.e. an
 * invalidation that may affect it has not ended: then the driver must wait.
 * Wrap-around is harmless: subscriptions hold odd values, idle global is even.
 *
 * The required interleaving (the driver lock is the driver's own mutex; the
 * callback takes it, read_retry is called under it):
 *
 *   invalidation (writer)                 driver fault path (reader)
 *   -------------------------------       ------------------------------------
 *                                         s = read_begin(sub)       sub 3, seq 4: s = 3
 *   start: lock; active++; hit:
 *          seq = 5; unlock
 *                                         hmm_range_fault(): old pages
 *   invalidate(sub, range, 5):
 *     lock(driver); set_seq(sub, 5)
 *     zap device PTEs; unlock(driver)
 *   CPU PTEs change
 *                                         lock(driver)
 *                                         read_retry(sub, 3): 5 != 3 -> RETRY  (required)
 *                                         unlock(driver)
 *                                         s = read_begin(sub)       5 == seq 5: sleeps
 *   end: lock; active--; seq = 6;
 *        wake; unlock                     ... s = 5
 *                                         hmm_range_fault(): new pages
 *                                         lock(driver); read_retry(sub, 5) false
 *                                         program device; unlock(driver)     (correct)
 *
 * and if the reader takes the driver lock before the callback does, it finds
 * read_retry false and programs the old pages - legal, because invalidate()
 * then waits for the driver lock and zaps them before the CPU PTEs change. The
 * outcome forbidden in every interleaving: a device mapping of a page the CPU
 * page table no longer maps, surviving past the invalidate() that covers it.
 */
#include "notifier/notifier_internal.h"

/* ------------------------------------------------------ start and end */

int mn_itree_invalidate_start(struct uhmm_mn_subscriptions *subs, const struct uhmm_mmu_notifier_range *range)
{
	bool blockable = uhmm_mmu_notifier_range_blockable(range);
	struct uhmm_mmu_interval_notifier *sub = NULL;
	struct uhmm_itidx_cursor cur;
	unsigned long cur_seq;

	subs_lock(subs);
	subs->active_invalidate_ranges++;
	if (range->end > range->start)
		sub = uhmm_itidx_first(&cur, &subs->itree, range->start, range->end - 1);
	if (sub) {
		subs->invalidate_seq |= 1;	/* fully excluded: the tree is frozen */
		/* The callback's set_seq writes there, typically a cache miss
		 * among thousands of notifiers: start it before the unlock. */
		__builtin_prefetch(&sub->invalidate_seq, 1);
	}
	cur_seq = subs->invalidate_seq;
	subs_unlock(subs);

	/*
	 * Unlocked tree walk, in start order: seq is odd and we are counted,
	 * so it stays odd until at least our own end; inserts and removes
	 * meanwhile only touch the deferred list, and the cursor's path stays
	 * valid. The lock hold above ordered every earlier tree change before
	 * this walk.
	 */
	for (; sub; sub = uhmm_itidx_next(&cur)) {
		bool ok;

		/* statistics only: relaxed, next to invalidate_seq (prefetched above) */
		atomic_fetch_add_explicit(&sub->stat_invalidations, 1, memory_order_relaxed);
		lockdep_callback_enter();
		ok = sub->ops->invalidate(sub, range, cur_seq);
		lockdep_callback_exit();
		if (ok)
			continue;
		if (UHMM_WARN_ON(blockable))
			continue;	/* only a non-blockable range may fail */
		mn_invalidate_end_count(subs);
		return -EAGAIN;
	}
	return 0;
}

/* Apply the deferred inserts and removes. Lock held, seq just went even. */
static void mn_itree_apply_deferred_locked(struct uhmm_mn_subscriptions *subs)
{
	struct uhmm_mmu_interval_notifier *sub;

	while ((sub = subs->deferred_list)) {
		subs->deferred_list = sub->deferred_next;
		sub->deferred_next = NULL;
		if (sub->deferred == MN_DEFER_INSERT) {
			/* Uses the reservation insert took: cannot fail. */
			uhmm_itidx_insert(&subs->itree, sub->interval.start, sub->interval.last, sub);
			sub->in_tree = 1;
		} else {
			uhmm_itidx_remove(&subs->itree, sub->interval.start, sub);
			sub->in_tree = 0;
		}
		sub->deferred = MN_DEFER_NONE;
		/* A remover may free @sub as soon as we unlock: no touch after. */
	}
}

void mn_invalidate_end_count(struct uhmm_mn_subscriptions *subs)
{
	subs_lock(subs);
	UHMM_BUG_ON(subs->active_invalidate_ranges == 0);
	if (--subs->active_invalidate_ranges == 0) {
		if (subs->invalidate_seq & 1) {
			subs->invalidate_seq++;		/* back to even: idle */
			mn_itree_apply_deferred_locked(subs);
		}
		/*
		 * Broadcast under the lock: once we unlock, a remover or an
		 * unregister may return and drop the last mm reference, freeing
		 * subs (the caller's own reference normally prevents that, but
		 * it costs nothing to not depend on it).
		 */
		CHECK_PTHREAD(pthread_cond_broadcast(&subs->wq));
	}
	subs_unlock(subs);
}

/* ------------------------------------------------------ insert, remove */

static int mn_itree_insert(struct uhmm_mmu_interval_notifier *sub, struct uhmm_mm *mm,
			   unsigned long start, unsigned long last,
			   const struct uhmm_mmu_interval_notifier_ops *ops)
{
	struct uhmm_mn_subscriptions *subs = mn_subscriptions(mm);

	if (atomic_load(&mm->mm_users) <= 0)
		return -EINVAL;
	UHMM_BUG_ON(!subs);	/* the itree registration created it */

	subs_lock(subs);
	/* Taken now, applied now or at the last end pass: see "Allocation". */
	if (uhmm_itidx_reserve(&subs->itree)) {
		subs_unlock(subs);
		return -ENOMEM;
	}
	sub->interval.start = start;
	sub->interval.last = last;
	sub->ops = ops;
	sub->mm = mm;
	sub->deferred_next = NULL;
	sub->deferred = MN_DEFER_NONE;
	sub->in_tree = 0;
	/* statistics start at the insert (not yet published: relaxed) */
	atomic_store_explicit(&sub->stat_invalidations, 0, memory_order_relaxed);
	atomic_store_explicit(&sub->stat_retries, 0, memory_order_relaxed);
	atomic_store_explicit(&sub->stat_streak, 0, memory_order_relaxed);
	atomic_store_explicit(&sub->stat_max_streak, 0, memory_order_relaxed);
	mm_grab(mm);

	if (subs->active_invalidate_ranges) {
		/*
		 * Invalidations are running and may or may not cover the new
		 * range: treat it as hit. Its seq equals the (odd) global one,
		 * so read_begin waits for all of them to end.
		 */
		if (subs->invalidate_seq & 1) {
			sub->deferred = MN_DEFER_INSERT;	/* tree frozen */
			sub->deferred_next = subs->deferred_list;
			subs->deferred_list = sub;
		} else {
			subs->invalidate_seq |= 1;
			uhmm_itidx_insert(&subs->itree, start, last, sub);
			sub->in_tree = 1;
		}
		/* Relaxed: read under this lock by read_begin, or lock-free as a
		 * hint by check_retry. */
		atomic_store_explicit(&sub->invalidate_seq, subs->invalidate_seq, memory_order_relaxed);
	} else {
		UHMM_WARN_ON(subs->invalidate_seq & 1);
		/* Odd and != the global value: read_begin does not wait. */
		atomic_store_explicit(&sub->invalidate_seq, subs->invalidate_seq - 1, memory_order_relaxed);
		uhmm_itidx_insert(&subs->itree, start, last, sub);
		sub->in_tree = 1;
	}
	subs_unlock(subs);
	return 0;
}

static bool mn_has_itree(struct uhmm_mm *mm)
{
	struct uhmm_mn_subscriptions *subs = mn_subscriptions(mm);
	bool ret;

	if (!subs)
		return false;
	subs_lock(subs);
	ret = subs->has_itree;
	subs_unlock(subs);
	return ret;
}

static int mn_itree_check_args(struct uhmm_mmu_interval_notifier *sub, struct uhmm_mm *mm,
			       unsigned long start, unsigned long length,
			       const struct uhmm_mmu_interval_notifier_ops *ops, unsigned long *last)
{
	if (!sub || !mm || !ops || !ops->invalidate)
		return -EINVAL;
	if (length == 0 || __builtin_add_overflow(start, length - 1, last))
		return -EOVERFLOW;
	/* Already inserted (the caller zero-initialises, remove clears mm): as a
	 * classic notifier registered twice. Linux would corrupt its tree. */
	if (sub->mm)
		return -EINVAL;
	return 0;
}

int uhmm_mmu_interval_notifier_insert(struct uhmm_mmu_interval_notifier *sub, struct uhmm_mm *mm,
				      unsigned long start, unsigned long length,
				      const struct uhmm_mmu_interval_notifier_ops *ops)
{
	unsigned long last;
	int ret;

	ret = mn_itree_check_args(sub, mm, start, length, ops, &last);
	if (ret)
		return ret;
	if (!mn_has_itree(mm)) {
		/* First interval notifier of this mm: the NULL-subscriber registration. */
		uhmm_mmap_write_lock(mm);
		ret = mn_register_itree_locked(mm);
		uhmm_mmap_write_unlock(mm);
		if (ret)
			return ret;
	}
	return mn_itree_insert(sub, mm, start, last, ops);
}

int uhmm_mmu_interval_notifier_insert_locked(struct uhmm_mmu_interval_notifier *sub, struct uhmm_mm *mm,
					     unsigned long start, unsigned long length,
					     const struct uhmm_mmu_interval_notifier_ops *ops)
{
	unsigned long last;
	int ret;

	ret = mn_itree_check_args(sub, mm, start, length, ops, &last);
	if (ret)
		return ret;
	if (!mn_has_itree(mm)) {
		ret = mn_register_itree_locked(mm);	/* caller holds the mmap write lock */
		if (ret)
			return ret;
	}
	return mn_itree_insert(sub, mm, start, last, ops);
}

static void mn_deferred_unlink_locked(struct uhmm_mn_subscriptions *subs, struct uhmm_mmu_interval_notifier *sub)
{
	struct uhmm_mmu_interval_notifier **pp = &subs->deferred_list;

	while (*pp != sub) {
		UHMM_BUG_ON(!*pp);
		pp = &(*pp)->deferred_next;
	}
	*pp = sub->deferred_next;
	sub->deferred_next = NULL;
	sub->deferred = MN_DEFER_NONE;
}

void uhmm_mmu_interval_notifier_remove(struct uhmm_mmu_interval_notifier *sub)
{
	struct uhmm_mn_subscriptions *subs;
	unsigned long wait_seq = 0;	/* 0: no wait (a recorded seq is odd) */

	struct uhmm_mm *mm;

	LOCKDEP_NOT_IN_CALLBACK("uhmm_mmu_interval_notifier_remove");
	if (!sub)
		return;
	/* Linux follows the NULL mm (an oops); remove clears it, so twice lands here too. */
	if (unlikely(!sub->mm))
		UHMM_BUG("uhmm_mmu_interval_notifier_remove of a notifier not inserted (never, or removed twice)");
	mm = sub->mm;
	subs = mn_subscriptions(mm);

	subs_lock(subs);
	if (unlikely((!sub->in_tree && sub->deferred != MN_DEFER_INSERT) || sub->deferred == MN_DEFER_REMOVE))
		UHMM_BUG("uhmm_mmu_interval_notifier_remove of a notifier not inserted (two removes at once?)");
	if (subs->invalidate_seq & 1) {
		if (!sub->in_tree) {
			/* Insertion still pending: never in the tree, never called. */
			mn_deferred_unlink_locked(subs, sub);
			uhmm_itidx_cancel(&subs->itree);
		} else {
			/* Callbacks may be walking past it: erase at the last end. */
			sub->deferred = MN_DEFER_REMOVE;
			sub->deferred_next = subs->deferred_list;
			subs->deferred_list = sub;
			wait_seq = subs->invalidate_seq;
		}
	} else {
		/* Even: no invalidate() runs for any interval now. */
		uhmm_itidx_remove(&subs->itree, sub->interval.start, sub);
		sub->in_tree = 0;
	}
	/*
	 * The deferred removal happens in the end pass that moves seq past
	 * wait_seq; after it no callback can run for @sub. Wrap-around cannot
	 * bring seq back to wait_seq while we sleep in any realistic time.
	 */
	while (wait_seq && subs->invalidate_seq == wait_seq)
		CHECK_PTHREAD(pthread_cond_wait(&subs->wq, &subs->lock));
	/* As zero-initialised again: a second remove stops, a new insert works. */
	sub->mm = NULL;
	subs_unlock(subs);
	mm_drop(mm);	/* may free the mm and subs: last touch */
}

/* ------------------------------------------------- the driver's side */

unsigned long uhmm_mmu_interval_read_begin(struct uhmm_mmu_interval_notifier *sub)
{
	struct uhmm_mn_subscriptions *subs;
	unsigned long seq;

	if (unlikely(!sub || !sub->mm))
		UHMM_BUG("uhmm_mmu_interval_read_begin on a notifier that is not inserted");
	subs = mn_subscriptions(sub->mm);

	/*
	 * Under the lock: the subscription's seq is compared with the global
	 * one in one snapshot. Equal means an invalidation that covers @sub
	 * (or was running when @sub was inserted) has not ended: sleep until
	 * the epoch ends. A set_seq racing with us (callback running, global
	 * already odd) is caught later by read_retry under the driver lock.
	 */
	subs_lock(subs);
	seq = atomic_load_explicit(&sub->invalidate_seq, memory_order_relaxed);
	while (seq == subs->invalidate_seq)
		CHECK_PTHREAD(pthread_cond_wait(&subs->wq, &subs->lock));
	subs_unlock(subs);
	return seq;
}

/*
 * Retry statistics: a true answer of read_retry / check_retry is one retry
 * and extends the notifier's current streak; a false answer ends it. The
 * counters are statistics only (relaxed; racing callers may lose a streak
 * update); the fast path (no retry, no streak) is one relaxed load.
 */
static bool mn_itree_count_retry(struct uhmm_mmu_interval_notifier *sub, bool retry)
{
	unsigned long streak, max;

	if (!retry) {
		if (atomic_load_explicit(&sub->stat_streak, memory_order_relaxed))
			atomic_store_explicit(&sub->stat_streak, 0, memory_order_relaxed);
		return false;
	}
	atomic_fetch_add_explicit(&sub->stat_retries, 1, memory_order_relaxed);
	streak = atomic_fetch_add_explicit(&sub->stat_streak, 1, memory_order_relaxed) + 1;
	max = atomic_load_explicit(&sub->stat_max_streak, memory_order_relaxed);
	while (streak > max &&
	       !atomic_compare_exchange_weak_explicit(&sub->stat_max_streak, &max, streak, memory_order_relaxed,
						      memory_order_relaxed))
		;
	if (uhmm_trace_enabled()) {
		struct uhmm_trace_event ev = { .phase = UHMM_TRACE_INSTANT, .name = "interval_retry",
					       .cat = "notifier", .mm = sub->mm, .start = sub->interval.start,
					       .end = sub->interval.last + 1, .event = -1, .value = (long)streak };

		uhmm_trace_emit(&ev);
	}
	return true;
}

bool uhmm_mmu_interval_read_retry(struct uhmm_mmu_interval_notifier *sub, unsigned long seq)
{
	/* Relaxed: called under the driver lock that set_seq also holds. */
	return mn_itree_count_retry(sub, atomic_load_explicit(&sub->invalidate_seq, memory_order_relaxed) != seq);
}

bool uhmm_mmu_interval_check_retry(struct uhmm_mmu_interval_notifier *sub, unsigned long seq)
{
	/* Relaxed, lock-free: true is reliable, false only a hint. */
	return mn_itree_count_retry(sub, atomic_load_explicit(&sub->invalidate_seq, memory_order_relaxed) != seq);
}

int uhmm_mmu_interval_notifier_get_stats(struct uhmm_mmu_interval_notifier *sub,
					 struct uhmm_mmu_interval_notifier_stats *st)
{
	if (!sub || !st)
		return -EINVAL;
	st->invalidations = atomic_load_explicit(&sub->stat_invalidations, memory_order_relaxed);
	st->retries = atomic_load_explicit(&sub->stat_retries, memory_order_relaxed);
	st->max_retry_streak = atomic_load_explicit(&sub->stat_max_streak, memory_order_relaxed);
	return 0;
}

void uhmm_mmu_interval_set_seq(struct uhmm_mmu_interval_notifier *sub, unsigned long cur_seq)
{
	/* Relaxed: under the driver lock, which orders it with read_retry. */
	atomic_store_explicit(&sub->invalidate_seq, cur_seq, memory_order_relaxed);
}
