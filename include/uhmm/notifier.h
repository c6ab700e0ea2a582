/* SPDX-License-Identifier: MIT */
/* uhmm/notifier.h - mmu notifiers: classic subscriptions and interval notifiers.
 *
 * Counterpart of include/linux/mmu_notifier.h and mm/mmu_notifier.c. Left out:
 * the young/test_young/change_pte hooks and the get/put API.
 */
#ifndef UHMM_NOTIFIER_H
#define UHMM_NOTIFIER_H

#include <stdbool.h>
#include <uhmm/export.h>
#include <uhmm/interval_types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct uhmm_mm;

enum uhmm_mmu_notifier_event {
	UHMM_MMU_NOTIFY_UNMAP = 0,	  /* munmap, mremap (old range), exit */
	UHMM_MMU_NOTIFY_CLEAR,		  /* MADV_DONTNEED, COW break, rmap unmap for migration */
	UHMM_MMU_NOTIFY_PROTECTION_VMA,	  /* mprotect */
	UHMM_MMU_NOTIFY_PROTECTION_PAGE,  /* fork: the parent's COW ranges */
	UHMM_MMU_NOTIFY_SOFT_DIRTY,	  /* uhmm_clear_soft_dirty */
	UHMM_MMU_NOTIFY_RELEASE,	  /* exit, interval notifiers only, [0, ULONG_MAX) */
	UHMM_MMU_NOTIFY_MIGRATE,	  /* migrate_vma collect and insertion; owner = pgmap_owner */
	UHMM_MMU_NOTIFY_EXCLUSIVE,	  /* device-exclusive creation; owner = caller's owner */
};
#define UHMM_MMU_NOTIFY_NR_EVENTS 8

#define UHMM_MMU_NOTIFIER_RANGE_BLOCKABLE (1u << 0)

struct uhmm_mmu_notifier_range {
	struct uhmm_mm *mm;
	unsigned long start, end;	/* [start, end) */
	unsigned int flags;
	enum uhmm_mmu_notifier_event event;
	void *owner;	/* meaningful only for MIGRATE and EXCLUSIVE (NULL otherwise) */
};

/* Human-readable event name ("UNMAP", "MIGRATE", ...). */
UHMM_API const char *uhmm_mmu_notifier_event_name(enum uhmm_mmu_notifier_event ev);

static inline bool uhmm_mmu_notifier_range_blockable(const struct uhmm_mmu_notifier_range *r)
{
	return r->flags & UHMM_MMU_NOTIFIER_RANGE_BLOCKABLE;
}

/* ---------------------------------------------------------------- classic */
struct uhmm_mmu_notifier;

struct uhmm_mmu_notifier_ops {
	/* Called once: from unregister, or at exit before any page is freed. */
	void (*release)(struct uhmm_mmu_notifier *sub, struct uhmm_mm *mm);
	/* Return 0, or -EAGAIN when the range is not blockable and sleeping would
	 * be needed. A subscriber whose start can fail must not implement end. */
	int (*invalidate_range_start)(struct uhmm_mmu_notifier *sub, const struct uhmm_mmu_notifier_range *range);
	void (*invalidate_range_end)(struct uhmm_mmu_notifier *sub, const struct uhmm_mmu_notifier_range *range);
};

/* Embeddable; zero-initialise, set ops, then register. */
struct uhmm_mmu_notifier {
	const struct uhmm_mmu_notifier_ops *ops;
	struct uhmm_mm *mm;			/* set by register */
	/* private */
	UHMM_ATOMIC(struct uhmm_mmu_notifier *) next;	/* subscriber list, RCU-style */
	int linked;				/* on the list (under the subscriptions lock) */
};

/*
 * uhmm_mmu_notifier_register - subscribe @sub to @mm. Takes the mmap lock for
 * write, so no invalidation is in flight: the first callback @sub sees is a
 * start, never an end. 0, -EINVAL (NULL, no ops, mm already exited, already
 * registered), -ENOMEM.
 */
UHMM_API int uhmm_mmu_notifier_register(struct uhmm_mmu_notifier *sub, struct uhmm_mm *mm);
/* Same, with the mmap lock already held for write. */
UHMM_API int uhmm_mmu_notifier_register_locked(struct uhmm_mmu_notifier *sub, struct uhmm_mm *mm);
/*
 * uhmm_mmu_notifier_unregister - calls release() if exit has not, unlinks, and
 * waits until no callback of @sub runs. Valid after the last uhmm_mm_put (the
 * registration keeps the structure alive). Never call it from a callback.
 */
UHMM_API void uhmm_mmu_notifier_unregister(struct uhmm_mmu_notifier *sub, struct uhmm_mm *mm);

/* --------------------------------------------------------------- interval */
struct uhmm_mmu_interval_notifier;

struct uhmm_mmu_interval_notifier_ops {
	/* Under the driver lock: call uhmm_mmu_interval_set_seq(sub, cur_seq) and
	 * stop using the range. Return false only when the range is not blockable
	 * and the driver lock could not be taken. */
	bool (*invalidate)(struct uhmm_mmu_interval_notifier *sub, const struct uhmm_mmu_notifier_range *range,
			   unsigned long cur_seq);
};

/* Embeddable; zero-initialise. Fields are private. */
struct uhmm_mmu_interval_notifier {
	struct uhmm_interval_span interval;
	const struct uhmm_mmu_interval_notifier_ops *ops;
	struct uhmm_mm *mm;
	struct uhmm_mmu_interval_notifier *deferred_next;
	int deferred;		/* on the deferred list: 1 insert pending, 2 removal pending */
	int in_tree;
	UHMM_ATOMIC(unsigned long) invalidate_seq;
	/* Retry statistics (uhmm_mmu_interval_notifier_get_stats). */
	UHMM_ATOMIC(unsigned long) stat_invalidations;
	UHMM_ATOMIC(unsigned long) stat_retries;
	UHMM_ATOMIC(unsigned long) stat_streak;
	UHMM_ATOMIC(unsigned long) stat_max_streak;
};

/*
 * uhmm_mmu_interval_notifier_insert - watch [start, start + length) of @mm.
 * Takes the mmap lock for write on the first insert of an mm (do not hold it).
 * 0, -EOVERFLOW (length 0 or wrap-around), -EINVAL (NULL, mm exited), -ENOMEM.
 */
UHMM_API int uhmm_mmu_interval_notifier_insert(struct uhmm_mmu_interval_notifier *sub, struct uhmm_mm *mm,
					       unsigned long start, unsigned long length,
					       const struct uhmm_mmu_interval_notifier_ops *ops);
UHMM_API int uhmm_mmu_interval_notifier_insert_locked(struct uhmm_mmu_interval_notifier *sub, struct uhmm_mm *mm,
						      unsigned long start, unsigned long length,
						      const struct uhmm_mmu_interval_notifier_ops *ops);
/* Remove; sleeps until no callback can still run. Never from a callback. */
UHMM_API void uhmm_mmu_interval_notifier_remove(struct uhmm_mmu_interval_notifier *sub);

/* The collision-retry protocol (see src/notifier/interval.c). */
UHMM_API unsigned long uhmm_mmu_interval_read_begin(struct uhmm_mmu_interval_notifier *sub);
UHMM_API bool uhmm_mmu_interval_read_retry(struct uhmm_mmu_interval_notifier *sub, unsigned long seq);
UHMM_API bool uhmm_mmu_interval_check_retry(struct uhmm_mmu_interval_notifier *sub, unsigned long seq);
UHMM_API void uhmm_mmu_interval_set_seq(struct uhmm_mmu_interval_notifier *sub, unsigned long cur_seq);

/*
 * Drive an invalidation by hand (drivers' own tests, tools): start returns 0
 * or -EAGAIN for a non-blockable range (then do not call end). The range's
 * flags are set by the call (start = blockable, start_nonblock = not).
 */
UHMM_API int uhmm_mmu_notifier_invalidate_range_start(struct uhmm_mmu_notifier_range *range);
UHMM_API int uhmm_mmu_notifier_invalidate_range_start_nonblock(struct uhmm_mmu_notifier_range *range);
UHMM_API void uhmm_mmu_notifier_invalidate_range_end(struct uhmm_mmu_notifier_range *range);

/*
 * uhmm_mmu_interval_notifier_get_stats - retry statistics of an interval
 * notifier, to catch retry storms and livelocks between a driver's policy
 * and its notifier. @invalidations: callbacks of this notifier.
 * @retries: calls of uhmm_mmu_interval_read_retry or _check_retry that
 * returned true. @max_retry_streak: the longest run of consecutive retries
 * (a call that returns false ends the current run; runs are per notifier,
 * not per thread). Counted since the insert; a trace instant
 * (interval_retry) marks each retry. Any context, no lock.
 * Returns 0, or -EINVAL when @sub or @st is NULL.
 */
struct uhmm_mmu_interval_notifier_stats {
	unsigned long invalidations;
	unsigned long retries;
	unsigned long max_retry_streak;
};
UHMM_API int uhmm_mmu_interval_notifier_get_stats(struct uhmm_mmu_interval_notifier *sub,
						  struct uhmm_mmu_interval_notifier_stats *st);

#ifdef __cplusplus
}
#endif
#endif
