/* SPDX-License-Identifier: MIT */
/* mm.c - address-space lifetime: create, users and structure references, exit, the mmap lock.
 *
 * Counterpart of mm_alloc/mmput/mmdrop in kernel/fork.c and exit_mmap in
 * mm/mmap.c. Two counts, as the kernel: mm_users (the address space; its last
 * put is exit) and mm_count (the structure; notifiers hold it).
 */
#include <string.h>

#include "mm/mm_internal.h"

int uhmm_mm_create(struct uhmm_system *sys, struct uhmm_mm **out)
{
	pthread_rwlockattr_t attr;
	struct uhmm_mm *mm;

	if (!sys || !out)
		return -EINVAL;
	mm = uhmm_calloc(1, sizeof(*mm));
	if (!mm)
		return -ENOMEM;
	mm->pgd = uhmm_calloc(1, sizeof(struct pt_dir));
	if (!mm->pgd) {
		free(mm);
		return -ENOMEM;
	}
	mm->sys = sys;
	atomic_store(&mm->mm_users, 1);
	atomic_store(&mm->mm_count, 1);
	CHECK_PTHREAD(pthread_rwlockattr_init(&attr));
	/* glibc's default prefers readers, which starves munmap under a stream of faults */
	CHECK_PTHREAD(pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP));
	CHECK_PTHREAD(pthread_rwlock_init(&mm->mmap_lock, &attr));
	pthread_rwlockattr_destroy(&attr);
	CHECK_PTHREAD(pthread_mutex_init(&mm->anon_prepare_lock, NULL));
	atomic_fetch_add(&sys->nr_mms, 1);
	*out = mm;
	return 0;
}

struct uhmm_system *uhmm_mm_system(struct uhmm_mm *mm)
{
	return mm ? mm->sys : NULL;
}

void mm_grab(struct uhmm_mm *mm)
{
	atomic_fetch_add_explicit(&mm->mm_count, 1, memory_order_relaxed);
}

void mm_drop(struct uhmm_mm *mm)
{
	if (atomic_fetch_sub_explicit(&mm->mm_count, 1, memory_order_acq_rel) != 1)
		return;
	mn_subscriptions_destroy(mm);
	pthread_rwlock_destroy(&mm->mmap_lock);
	pthread_mutex_destroy(&mm->anon_prepare_lock);
	atomic_fetch_sub(&mm->sys->nr_mms, 1);
	free(mm->pgd);	/* emptied at exit */
	free(mm);
}

void uhmm_mm_get(struct uhmm_mm *mm)
{
	int old = atomic_fetch_add_explicit(&mm->mm_users, 1, memory_order_relaxed);

	if (unlikely(old <= 0))
		UHMM_BUG("uhmm_mm_get on an address space that has exited: use uhmm_mm_get_not_zero");
}

bool uhmm_mm_get_not_zero(struct uhmm_mm *mm)
{
	int old = mm ? atomic_load_explicit(&mm->mm_users, memory_order_relaxed) : 0;

	while (old > 0)
		if (atomic_compare_exchange_weak_explicit(&mm->mm_users, &old, old + 1, memory_order_acquire,
							  memory_order_relaxed))
			return true;
	return false;
}

/* Process exit: notifier release first, then every mapping goes (exit_mmap). */
void uhmm_mm_put(struct uhmm_mm *mm)
{
	int old;

	if (!mm)
		return;
	old = atomic_fetch_sub_explicit(&mm->mm_users, 1, memory_order_acq_rel);
	if (unlikely(old <= 0))
		UHMM_BUG("uhmm_mm_put on an address space that has already exited: more puts than gets");
	if (old != 1)
		return;
	mn_release(mm);
	exit_mmap(mm);
	mm_drop(mm);
}

/* A thread holding the mmap lock must not take it again, even for read: a
 * waiting writer has priority, so the second read would wait for a writer
 * that waits for the first. lockdep catches that in debug builds. */
void uhmm_mmap_read_lock(struct uhmm_mm *mm)
{
	lockdep_acquire(LR_MMAP, false, "uhmm_mmap_read_lock", 0);
	CHECK_PTHREAD(pthread_rwlock_rdlock(&mm->mmap_lock));
}

void uhmm_mmap_read_unlock(struct uhmm_mm *mm)
{
	LOCKDEP_ASSERT_HELD(LR_MMAP, "uhmm_mmap_read_unlock");
	CHECK_PTHREAD(pthread_rwlock_unlock(&mm->mmap_lock));
	lockdep_release(LR_MMAP);
}

void uhmm_mmap_write_lock(struct uhmm_mm *mm)
{
	lockdep_acquire(LR_MMAP, false, "uhmm_mmap_write_lock", 0);
	CHECK_PTHREAD(pthread_rwlock_wrlock(&mm->mmap_lock));
}

/* fork: the child's lock, taken while holding the parent's (nobody else knows the child) */
void mmap_write_lock_nested(struct uhmm_mm *mm)
{
	lockdep_acquire(LR_MMAP, true, "mmap_write_lock_nested", 0);
	CHECK_PTHREAD(pthread_rwlock_wrlock(&mm->mmap_lock));
}

void uhmm_mmap_write_unlock(struct uhmm_mm *mm)
{
	LOCKDEP_ASSERT_HELD(LR_MMAP, "uhmm_mmap_write_unlock");
	CHECK_PTHREAD(pthread_rwlock_unlock(&mm->mmap_lock));
	lockdep_release(LR_MMAP);
}
