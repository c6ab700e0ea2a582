/* SPDX-License-Identifier: MIT */
/* tests/api/test_retry_stats.c - interval-notifier retry statistics (issue 13 section 4).
 *
 * No kernel analogue (Linux keeps no such counters). A deterministic
 * sequence forces N consecutive retries on one notifier: each round reads
 * the sequence, an invalidation (MADV_DONTNEED of the watched range) runs,
 * and read_retry reports the collision. Usage: test_retry_stats [--list | CASE].
 */
#include "common/mm_helpers.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define BASE (1UL << 30)

struct watcher {
	struct uhmm_mmu_interval_notifier sub;	/* first: container_of by cast */
	pthread_mutex_t lock;			/* the driver lock */
};

static bool watcher_invalidate(struct uhmm_mmu_interval_notifier *sub, const struct uhmm_mmu_notifier_range *range,
			       unsigned long cur_seq)
{
	struct watcher *w = (struct watcher *)sub;

	(void)range;
	pthread_mutex_lock(&w->lock);
	uhmm_mmu_interval_set_seq(sub, cur_seq);
	pthread_mutex_unlock(&w->lock);
	return true;
}

static const struct uhmm_mmu_interval_notifier_ops watcher_ops = { .invalidate = watcher_invalidate };

/* One read_begin .. read_retry round; @collide: an invalidation of the range runs in between. */
static bool round_trip(struct watcher *w, struct uhmm_mm *mm, bool collide, bool check)
{
	unsigned long seq = uhmm_mmu_interval_read_begin(&w->sub);
	bool retry;

	if (collide)
		mh_assert_ret(uhmm_madvise(mm, BASE, 4 * PG, MADV_DONTNEED), 0);
	pthread_mutex_lock(&w->lock);
	retry = check ? uhmm_mmu_interval_check_retry(&w->sub, seq) : uhmm_mmu_interval_read_retry(&w->sub, seq);
	pthread_mutex_unlock(&w->lock);
	return retry;
}

static void expect_stats(struct watcher *w, unsigned long inval, unsigned long retries, unsigned long streak)
{
	struct uhmm_mmu_interval_notifier_stats st;

	mh_assert_ret(uhmm_mmu_interval_notifier_get_stats(&w->sub, &st), 0);
	assert_int_equal(st.invalidations, inval);
	assert_int_equal(st.retries, retries);
	assert_int_equal(st.max_retry_streak, streak);
}

static void test_forced_streak(void **state)
{
	struct uhmm_system *sys = mh_system(0);
	struct uhmm_mm *mm = mh_mm(sys);
	struct watcher *w = calloc(1, sizeof(*w));
	const unsigned long n = 7;
	unsigned long i;

	(void)state;
	assert_non_null(w);
	pthread_mutex_init(&w->lock, NULL);
	mh_mmap(mm, BASE, 4 * PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_assert_ret(uhmm_mmu_interval_notifier_insert(&w->sub, mm, BASE, 4 * PG, &watcher_ops), 0);
	expect_stats(w, 0, 0, 0);

	/* N consecutive retries: one streak of N */
	for (i = 0; i < n; i++)
		assert_true(round_trip(w, mm, true, i & 1));
	expect_stats(w, n, n, n);
	/* a clean round ends the streak, the maximum stays */
	assert_false(round_trip(w, mm, false, false));
	expect_stats(w, n, n, n);
	/* a shorter streak: retries add up, the maximum is still N */
	assert_true(round_trip(w, mm, true, false));
	assert_true(round_trip(w, mm, true, true));
	assert_false(round_trip(w, mm, false, true));
	expect_stats(w, n + 2, n + 2, n);
	/* a longer one replaces it */
	for (i = 0; i < n + 3; i++)
		assert_true(round_trip(w, mm, true, false));
	expect_stats(w, 2 * n + 5, 2 * n + 5, n + 3);
	/* an invalidation outside the range is not this notifier's */
	mh_mmap(mm, BASE + 8 * PG, PG, MH_RW, MH_PRIV | MAP_FIXED);
	mh_assert_ret(uhmm_madvise(mm, BASE + 8 * PG, PG, MADV_DONTNEED), 0);
	expect_stats(w, 2 * n + 5, 2 * n + 5, n + 3);

	assert_int_equal(uhmm_mmu_interval_notifier_get_stats(NULL, NULL), -EINVAL);
	uhmm_mmu_interval_notifier_remove(&w->sub);
	pthread_mutex_destroy(&w->lock);
	free(w);
	uhmm_mm_put(mm);
	mh_system_done(sys);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_forced_streak),
};

int main(int argc, char **argv)
{
	return mh_main("test_retry_stats", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
