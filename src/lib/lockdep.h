/* SPDX-License-Identifier: MIT */
/* lockdep.h - checking the documented lock order in debug and sanitizer builds.
 *
 * A much reduced counterpart of kernel/locking/lockdep.c: each lock class has
 * a rank (the order in src/internal.h), each thread counts the ranks it holds,
 * and a blocking acquisition of a rank below one already held stops the
 * program naming both locks and where they were taken. Also catches the
 * deadlocking calls from inside a notifier callback. Compiled out unless
 * UHMM_DEBUG is defined.
 */
#ifndef UHMM_LIB_LOCKDEP_H
#define UHMM_LIB_LOCKDEP_H

#include <stdbool.h>

enum lock_rank {
	LR_MMAP = 1,		/* mm->mmap_lock */
	LR_PAGE,		/* the page lock (PG_LOCKED) */
	LR_ANON_PREPARE,	/* mm->anon_prepare_lock */
	LR_MAPPING,		/* mapping->lock */
	LR_NOTIFIER,		/* the notifier subscriptions lock */
	LR_PTL,			/* a leaf page table's lock */
	LR_NR
};

#ifdef UHMM_DEBUG
void lockdep_acquire(enum lock_rank r, bool nested, const char *file, int line);
void lockdep_acquired_try(enum lock_rank r, const char *file, int line);
void lockdep_release(enum lock_rank r);
void lockdep_assert_held(enum lock_rank r, const char *what, const char *file, int line);
void lockdep_callback_enter(void);
void lockdep_callback_exit(void);
void lockdep_assert_not_in_callback(const char *what, const char *file, int line);
#define LOCKDEP_ASSERT_HELD(r, what) lockdep_assert_held(r, what, __FILE__, __LINE__)
#define LOCKDEP_NOT_IN_CALLBACK(what) lockdep_assert_not_in_callback(what, __FILE__, __LINE__)
#else
static inline void lockdep_acquire(enum lock_rank r, bool n, const char *f, int l) { (void)r; (void)n; (void)f; (void)l; }
static inline void lockdep_acquired_try(enum lock_rank r, const char *f, int l) { (void)r; (void)f; (void)l; }
static inline void lockdep_release(enum lock_rank r) { (void)r; }
static inline void lockdep_callback_enter(void) {}
static inline void lockdep_callback_exit(void) {}
#define LOCKDEP_ASSERT_HELD(r, what) ((void)0)
#define LOCKDEP_NOT_IN_CALLBACK(what) ((void)0)
#endif

#endif
