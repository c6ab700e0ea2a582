/* SPDX-License-Identifier: MIT */
/* srcu.h - a small sleepable RCU, one domain per mm's notifier subscriptions.
 *
 * Why not liburcu: Debian 12 ships liburcu 0.13, which predates its TSan
 * annotations (0.14), and a per-mm domain means unregister on one mm never
 * waits for callbacks running on another. Counterpart of kernel/rcu/srcutree.c
 * in spirit only: no callbacks (call_srcu), no expedited or polled grace
 * periods, no per-CPU counters (two shared counters instead).
 *
 * Readers:  idx = srcu_read_lock(&s); ... srcu_read_unlock(&s, idx);
 *           may nest and may sleep; never call synchronize_srcu() inside.
 * Writers:  unpublish (release store), synchronize_srcu(&s), then free.
 */
#ifndef UHMM_NOTIFIER_SRCU_H
#define UHMM_NOTIFIER_SRCU_H

#include <pthread.h>
#include <stdatomic.h>

/*
 * Grace-period argument (one flip is enough, unlike the kernel's two, because
 * the reader re-checks the epoch after announcing itself):
 *
 *   reader                                  synchronize_srcu
 *   i = idx                                 idx = old ^ 1          (W1)
 *   ctr[i]++                     (R1)       wait for ctr[old] == 0 (W2)
 *   if (idx != i) { ctr[i]--; retry } (R2)
 *
 * All four accesses are seq_cst, so in their single total order either R2
 * reads W1's flip (the reader backs out and re-enters on the new epoch; it
 * started after synchronize began and need not be waited for, and W1 - a
 * seq_cst store read by a seq_cst load - makes everything the writer did
 * before synchronize visible to it), or R1 precedes W1 and so W2 sees the
 * reader's increment and waits for it. A reader that entered epoch i before
 * an earlier flip away from i was waited for by that earlier grace period
 * (grace periods are serialised by gp_lock), so ctr[new] holds only readers
 * that started after W1. The decrement in srcu_read_unlock is a release RMW
 * read (through the release sequence of ctr) by W2's acquire load, so every
 * access of a waited-for reader happens before synchronize_srcu returns.
 */
struct uhmm_srcu {
	atomic_uint idx;		/* current epoch in bit 0; flipped under gp_lock */
	atomic_long ctr[2];		/* readers inside, per epoch */
	/* Set by a writer sleeping in synchronize_srcu; read by the unlock that
	 * drops a counter to zero (Dekker pair with ctr, both seq_cst). */
	atomic_int waiting;
	pthread_mutex_t gp_lock;	/* serialises grace periods (the flip and the wait) */
	pthread_mutex_t wait_lock;	/* protects nothing but the sleep on cond */
	pthread_cond_t cond;		/* a counter reached zero while waiting was set */
};

void uhmm_srcu_init(struct uhmm_srcu *s);
void uhmm_srcu_cleanup(struct uhmm_srcu *s);	/* no reader may be inside */
void uhmm_srcu_wake(struct uhmm_srcu *s);	/* unlock slow path */
void uhmm_synchronize_srcu(struct uhmm_srcu *s);

static inline void srcu_read_unlock(struct uhmm_srcu *s, int idx)
{
	/* Release: the critical section happens before a writer that reads 0.
	 * seq_cst: Dekker with the writer's store to waiting (see uhmm_srcu_wake). */
	if (atomic_fetch_sub(&s->ctr[idx], 1) == 1 && atomic_load(&s->waiting))
		uhmm_srcu_wake(s);
}

static inline int srcu_read_lock(struct uhmm_srcu *s)
{
	for (;;) {
		int idx = (int)(atomic_load(&s->idx) & 1);

		atomic_fetch_add(&s->ctr[idx], 1);		/* R1: pairs with W2 */
		if ((int)(atomic_load(&s->idx) & 1) == idx)	/* R2: pairs with W1 */
			return idx;
		/* A grace period flipped the epoch under us: leave the old one. */
		srcu_read_unlock(s, idx);
	}
}

static inline void synchronize_srcu(struct uhmm_srcu *s)
{
	uhmm_synchronize_srcu(s);
}

#endif
