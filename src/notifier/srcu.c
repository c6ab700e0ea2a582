/* SPDX-License-Identifier: MIT */
/* srcu.c - grace periods for the per-mm sleepable RCU (see srcu.h).
 *
 * Counterpart of synchronize_srcu() in kernel/rcu/srcutree.c, reduced to one
 * epoch flip and a condition-variable sleep; no call_srcu, no expediting.
 */
#include "internal.h"
#include "notifier/srcu.h"

void uhmm_srcu_init(struct uhmm_srcu *s)
{
	atomic_init(&s->idx, 0);
	atomic_init(&s->ctr[0], 0);
	atomic_init(&s->ctr[1], 0);
	atomic_init(&s->waiting, 0);
	CHECK_PTHREAD(pthread_mutex_init(&s->gp_lock, NULL));
	CHECK_PTHREAD(pthread_mutex_init(&s->wait_lock, NULL));
	CHECK_PTHREAD(pthread_cond_init(&s->cond, NULL));
}

void uhmm_srcu_cleanup(struct uhmm_srcu *s)
{
	UHMM_WARN_ON(atomic_load(&s->ctr[0]) || atomic_load(&s->ctr[1]));
	CHECK_PTHREAD(pthread_cond_destroy(&s->cond));
	CHECK_PTHREAD(pthread_mutex_destroy(&s->wait_lock));
	CHECK_PTHREAD(pthread_mutex_destroy(&s->gp_lock));
}

/*
 * A reader dropped a counter to zero and saw waiting set. Taking wait_lock
 * before broadcasting closes the window between the writer's last check of
 * the counter and its pthread_cond_wait (the writer holds wait_lock there).
 */
void uhmm_srcu_wake(struct uhmm_srcu *s)
{
	CHECK_PTHREAD(pthread_mutex_lock(&s->wait_lock));
	CHECK_PTHREAD(pthread_cond_broadcast(&s->cond));
	CHECK_PTHREAD(pthread_mutex_unlock(&s->wait_lock));
}

/*
 * uhmm_synchronize_srcu - wait until every reader that entered before the
 * call has left. May sleep; must not be called inside a read-side section of
 * the same domain (it would wait for itself).
 */
void uhmm_synchronize_srcu(struct uhmm_srcu *s)
{
	unsigned old;

	CHECK_PTHREAD(pthread_mutex_lock(&s->gp_lock));
	old = atomic_load(&s->idx) & 1;
	atomic_store(&s->idx, old ^ 1);		/* W1: pairs with R2 in srcu_read_lock */

	CHECK_PTHREAD(pthread_mutex_lock(&s->wait_lock));
	/*
	 * Dekker pair with srcu_read_unlock: we store waiting then load the
	 * counter, the reader decrements the counter then loads waiting (all
	 * seq_cst), so either we see zero or the reader sees waiting and
	 * broadcasts - after we sleep, since it needs wait_lock.
	 */
	atomic_store(&s->waiting, 1);
	while (atomic_load(&s->ctr[old]) != 0)	/* W2: pairs with R1 and the unlock */
		CHECK_PTHREAD(pthread_cond_wait(&s->cond, &s->wait_lock));
	atomic_store(&s->waiting, 0);
	CHECK_PTHREAD(pthread_mutex_unlock(&s->wait_lock));

	CHECK_PTHREAD(pthread_mutex_unlock(&s->gp_lock));
}
