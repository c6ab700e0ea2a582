/* SPDX-License-Identifier: MIT */
/* tests/unit/test_notifier.c - classic and interval mmu notifiers, and the per-mm SRCU.
 *
 * White-box (reads the subscriptions' sequence and counters); invalidations
 * are driven by hand through the public start/end calls. Kernel analogue: none
 * directly (mm/mmu_notifier.c is exercised through hmm-tests and KVM).
 * Usage: test_notifier [--list | CASE_NAME]. Seed from UHMM_SEED, printed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "notifier/notifier_internal.h"

#define P PAGE_SIZE

static uint64_t g_seed;

/* ------------------------------------------------------------ helpers */

static void msleep(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts))
		;
}

/* Wait up to 10 s for *f to become nonzero; false on timeout. */
static bool wait_flag(atomic_int *f)
{
	for (int i = 0; i < 10000; i++) {
		if (atomic_load(f))
			return true;
		msleep(1);
	}
	return false;
}

struct env {
	struct uhmm_system *sys;
	struct uhmm_mm *mm;
};

static void env_setup(struct env *e)
{
	struct uhmm_system_opts o = { .ram_bytes = 4u << 20 };

	assert_int_equal(uhmm_system_create(&o, &e->sys), 0);
	assert_int_equal(uhmm_mm_create(e->sys, &e->mm), 0);
}

/* @mm already put (or NULL): only check that every structure went away. */
static void env_teardown(struct env *e, bool put_mm)
{
	if (put_mm)
		uhmm_mm_put(e->mm);
	assert_int_equal(atomic_load(&e->sys->nr_mms), 0);
	uhmm_system_destroy(e->sys);
}

static unsigned long global_seq(struct uhmm_mm *mm)
{
	struct uhmm_mn_subscriptions *subs = mn_subscriptions(mm);
	unsigned long s;

	pthread_mutex_lock(&subs->lock);
	s = subs->invalidate_seq;
	pthread_mutex_unlock(&subs->lock);
	return s;
}

static unsigned long active_ranges(struct uhmm_mm *mm)
{
	struct uhmm_mn_subscriptions *subs = mn_subscriptions(mm);
	unsigned long a;

	pthread_mutex_lock(&subs->lock);
	a = subs->active_invalidate_ranges;
	pthread_mutex_unlock(&subs->lock);
	return a;
}

/* Index inserts reserved and not yet made: the pending deferred inserts. */
static unsigned long reserved(struct uhmm_mm *mm)
{
	struct uhmm_mn_subscriptions *subs = mn_subscriptions(mm);
	unsigned long r;

	pthread_mutex_lock(&subs->lock);
	r = subs->itree.nr_reserved;
	pthread_mutex_unlock(&subs->lock);
	return r;
}

/* ------------------------------------------------------------ the log */

enum what { L_START, L_END, L_RELEASE, L_INV };

struct logent {
	char id;
	enum what what;
	enum uhmm_mmu_notifier_event event;
	unsigned long start, end, seq;
	unsigned int flags;
	void *owner;
};

#define LOG_MAX 256
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static struct logent log_ents[LOG_MAX];
static int log_n;

static void log_add(char id, enum what what, const struct uhmm_mmu_notifier_range *r, unsigned long seq)
{
	pthread_mutex_lock(&log_lock);
	if (log_n < LOG_MAX) {
		struct logent *e = &log_ents[log_n++];

		e->id = id;
		e->what = what;
		e->seq = seq;
		if (r) {
			e->event = r->event;
			e->start = r->start;
			e->end = r->end;
			e->flags = r->flags;
			e->owner = r->owner;
		}
	}
	pthread_mutex_unlock(&log_lock);
}

static void log_reset(void)
{
	pthread_mutex_lock(&log_lock);
	log_n = 0;
	pthread_mutex_unlock(&log_lock);
}

/* "CS BS AS" style: id + S/E/R/I per entry, space separated. */
static const char *log_str(void)
{
	static char buf[LOG_MAX * 3 + 1];
	static const char w[] = { 'S', 'E', 'R', 'I' };
	char *p = buf;

	pthread_mutex_lock(&log_lock);
	for (int i = 0; i < log_n; i++) {
		if (i)
			*p++ = ' ';
		*p++ = log_ents[i].id;
		*p++ = w[log_ents[i].what];
	}
	*p = 0;
	pthread_mutex_unlock(&log_lock);
	return buf;
}

/* --------------------------------------------------- classic subscriber */

struct tsub {
	struct uhmm_mmu_notifier mn;
	char id;
	atomic_int starts, ends, releases;
	/* gate: start sets inside and sleeps until go */
	atomic_int gate, inside, go;
	/* stress: per-thread open starts (an end must find its start) */
	atomic_int open[8];
	atomic_int errors;
};

static struct tsub *to_tsub(struct uhmm_mmu_notifier *mn) { return container_of(mn, struct tsub, mn); }

static void t_release(struct uhmm_mmu_notifier *mn, struct uhmm_mm *mm)
{
	struct tsub *t = to_tsub(mn);

	if (mm != mn->mm)
		atomic_fetch_add(&t->errors, 1);
	atomic_fetch_add(&t->releases, 1);
	log_add(t->id, L_RELEASE, NULL, 0);
}

static int t_start(struct uhmm_mmu_notifier *mn, const struct uhmm_mmu_notifier_range *r)
{
	struct tsub *t = to_tsub(mn);

	atomic_fetch_add(&t->starts, 1);
	log_add(t->id, L_START, r, 0);
	if (atomic_load(&t->gate)) {
		atomic_store(&t->inside, 1);
		if (!wait_flag(&t->go))
			atomic_fetch_add(&t->errors, 1);
	}
	return 0;
}

static void t_end(struct uhmm_mmu_notifier *mn, const struct uhmm_mmu_notifier_range *r)
{
	struct tsub *t = to_tsub(mn);

	atomic_fetch_add(&t->ends, 1);
	log_add(t->id, L_END, r, 0);
}

/* Can fail a non-blockable start: so it has no end (the rule). */
static int t_start_may_fail(struct uhmm_mmu_notifier *mn, const struct uhmm_mmu_notifier_range *r)
{
	struct tsub *t = to_tsub(mn);

	atomic_fetch_add(&t->starts, 1);
	log_add(t->id, L_START, r, 0);
	return uhmm_mmu_notifier_range_blockable(r) ? 0 : -EAGAIN;
}

static const struct uhmm_mmu_notifier_ops t_ops = {
	.release = t_release, .invalidate_range_start = t_start, .invalidate_range_end = t_end,
};
static const struct uhmm_mmu_notifier_ops t_ops_fail = {
	.release = t_release, .invalidate_range_start = t_start_may_fail,
};

static void tsub_init(struct tsub *t, char id, const struct uhmm_mmu_notifier_ops *ops)
{
	memset(t, 0, sizeof(*t));
	t->id = id;
	t->mn.ops = ops;
}

/* --------------------------------------------------- interval subscriber */

struct isub {
	struct uhmm_mmu_interval_notifier mni;
	char id;
	pthread_mutex_t lock;		/* the "driver lock" */
	atomic_int calls;
	atomic_int fail_nonblock;
	atomic_int removed;		/* a callback after remove returned is a bug */
	atomic_int errors;
	atomic_ulong last_seq;
	bool inserted;			/* stress churner's own bookkeeping */
};

static bool i_invalidate(struct uhmm_mmu_interval_notifier *mni, const struct uhmm_mmu_notifier_range *r,
			 unsigned long cur_seq)
{
	struct isub *s = container_of(mni, struct isub, mni);

	if (atomic_load(&s->removed))
		atomic_fetch_add(&s->errors, 1);
	if ((cur_seq & 1) == 0)
		atomic_fetch_add(&s->errors, 1);
	if (uhmm_mmu_notifier_range_blockable(r))
		pthread_mutex_lock(&s->lock);
	else if (pthread_mutex_trylock(&s->lock))
		return false;
	atomic_fetch_add(&s->calls, 1);
	log_add(s->id, L_INV, r, cur_seq);
	if (!uhmm_mmu_notifier_range_blockable(r) && atomic_load(&s->fail_nonblock)) {
		pthread_mutex_unlock(&s->lock);
		return false;
	}
	uhmm_mmu_interval_set_seq(mni, cur_seq);
	atomic_store(&s->last_seq, cur_seq);
	pthread_mutex_unlock(&s->lock);
	return true;
}

static const struct uhmm_mmu_interval_notifier_ops i_ops = { .invalidate = i_invalidate };

static void isub_init(struct isub *s, char id)
{
	memset(s, 0, sizeof(*s));
	s->id = id;
	pthread_mutex_init(&s->lock, NULL);
}

static int isub_insert(struct isub *s, struct uhmm_mm *mm, unsigned long start, unsigned long len)
{
	return uhmm_mmu_interval_notifier_insert(&s->mni, mm, start, len, &i_ops);
}

/* ------------------------------------------ a thread holding an invalidation */

struct holder {
	pthread_t th;
	struct uhmm_mmu_notifier_range range;
	atomic_int started, go, done;
};

static void *holder_fn(void *arg)
{
	struct holder *h = arg;

	uhmm_mmu_notifier_invalidate_range_start(&h->range);
	atomic_store(&h->started, 1);
	wait_flag(&h->go);
	uhmm_mmu_notifier_invalidate_range_end(&h->range);
	atomic_store(&h->done, 1);
	return NULL;
}

static void holder_begin(struct holder *h, struct uhmm_mm *mm, unsigned long start, unsigned long end)
{
	memset(h, 0, sizeof(*h));
	mn_range_init(&h->range, UHMM_MMU_NOTIFY_CLEAR, mm, start, end);
	assert_int_equal(pthread_create(&h->th, NULL, holder_fn, h), 0);
	assert_true(wait_flag(&h->started));
}

static void holder_finish(struct holder *h)
{
	atomic_store(&h->go, 1);
	pthread_join(h->th, NULL);
	assert_true(atomic_load(&h->done));
}

/* ================================================================ cases */

static void test_event_names(void **state)
{
	static const char *const want[] = {
		"UNMAP", "CLEAR", "PROTECTION_VMA", "PROTECTION_PAGE",
		"SOFT_DIRTY", "RELEASE", "MIGRATE", "EXCLUSIVE",
	};

	assert_int_equal(UHMM_MMU_NOTIFY_NR_EVENTS, 8);
	for (int i = 0; i < UHMM_MMU_NOTIFY_NR_EVENTS; i++)
		assert_string_equal(uhmm_mmu_notifier_event_name((enum uhmm_mmu_notifier_event)i), want[i]);
	assert_string_equal(uhmm_mmu_notifier_event_name((enum uhmm_mmu_notifier_event)8), "UNKNOWN");
	assert_string_equal(uhmm_mmu_notifier_event_name((enum uhmm_mmu_notifier_event)-1), "UNKNOWN");
}

/* No subscriptions: every hook is a no-op and nothing is allocated. */
static void test_no_subscriptions(void **state)
{
	struct uhmm_mmu_notifier_range r;
	struct env e;

	env_setup(&e);
	mn_range_init(&r, UHMM_MMU_NOTIFY_CLEAR, e.mm, 0, P);
	assert_int_equal(uhmm_mmu_notifier_invalidate_range_start(&r), 0);
	assert_true(r.flags & UHMM_MMU_NOTIFIER_RANGE_BLOCKABLE);
	uhmm_mmu_notifier_invalidate_range_end(&r);
	assert_int_equal(uhmm_mmu_notifier_invalidate_range_start_nonblock(&r), 0);
	assert_false(r.flags & UHMM_MMU_NOTIFIER_RANGE_BLOCKABLE);
	uhmm_mmu_notifier_invalidate_range_end(&r);
	assert_null(mn_subscriptions(e.mm));
	env_teardown(&e, true);
}

/* Newest subscriber first, start and end paired, the range passed through. */
static void test_classic_order(void **state)
{
	struct tsub a, b, c;
	struct uhmm_mmu_notifier_range r;
	int owner;
	struct env e;

	env_setup(&e);
	tsub_init(&a, 'A', &t_ops);
	tsub_init(&b, 'B', &t_ops);
	tsub_init(&c, 'C', &t_ops);
	assert_int_equal(uhmm_mmu_notifier_register(&a.mn, e.mm), 0);
	assert_int_equal(uhmm_mmu_notifier_register(&b.mn, e.mm), 0);
	assert_int_equal(uhmm_mmu_notifier_register(&c.mn, e.mm), 0);
	assert_ptr_equal(a.mn.mm, e.mm);
	assert_int_equal(global_seq(e.mm), 2);

	log_reset();
	mn_range_init_owner(&r, UHMM_MMU_NOTIFY_MIGRATE, e.mm, 3 * P, 7 * P, &owner);
	assert_int_equal(uhmm_mmu_notifier_invalidate_range_start(&r), 0);
	assert_int_equal(active_ranges(e.mm), 1);
	uhmm_mmu_notifier_invalidate_range_end(&r);
	assert_int_equal(active_ranges(e.mm), 0);
	assert_string_equal(log_str(), "CS BS AS CE BE AE");
	for (int i = 0; i < log_n; i++) {
		assert_int_equal(log_ents[i].event, UHMM_MMU_NOTIFY_MIGRATE);
		assert_int_equal(log_ents[i].start, 3 * P);
		assert_int_equal(log_ents[i].end, 7 * P);
		assert_ptr_equal(log_ents[i].owner, &owner);
		/* The private STARTED bit is never shown to a callback. */
		assert_int_equal(log_ents[i].flags, UHMM_MMU_NOTIFIER_RANGE_BLOCKABLE);
	}
	/* Classic-only invalidations never move the interval sequence. */
	assert_int_equal(global_seq(e.mm), 2);

	/* Unregister the middle one: the others keep their order. */
	uhmm_mmu_notifier_unregister(&b.mn, e.mm);
	assert_int_equal(atomic_load(&b.releases), 1);
	log_reset();
	mn_invalidate_range_start(&r);
	mn_invalidate_range_end(&r);
	assert_string_equal(log_str(), "CS AS CE AE");

	uhmm_mmu_notifier_unregister(&c.mn, e.mm);
	uhmm_mmu_notifier_unregister(&a.mn, e.mm);
	assert_int_equal(atomic_load(&a.releases), 1);
	assert_int_equal(atomic_load(&c.releases), 1);
	assert_null(atomic_load(&mn_subscriptions(e.mm)->list));

	/* A notifier can be registered again after unregister. */
	assert_int_equal(uhmm_mmu_notifier_register(&a.mn, e.mm), 0);
	uhmm_mmu_notifier_unregister(&a.mn, e.mm);
	assert_int_equal(atomic_load(&a.releases), 2);
	env_teardown(&e, true);
}

static void test_classic_register_errors(void **state)
{
	static const struct uhmm_mmu_notifier_ops no_ops;
	struct tsub a, b;
	struct uhmm_mmu_notifier bare = { 0 };
	struct env e;

	env_setup(&e);
	tsub_init(&a, 'A', &t_ops);
	tsub_init(&b, 'B', &t_ops);
	assert_int_equal(uhmm_mmu_notifier_register(NULL, e.mm), -EINVAL);
	assert_int_equal(uhmm_mmu_notifier_register(&a.mn, NULL), -EINVAL);
	assert_int_equal(uhmm_mmu_notifier_register(&bare, e.mm), -EINVAL);

	/* -ENOMEM changes nothing. */
	uhmm_fail_nth(1, 0);
	assert_int_equal(uhmm_mmu_notifier_register(&a.mn, e.mm), -ENOMEM);
	uhmm_fail_nth(0, 0);
	assert_null(mn_subscriptions(e.mm));
	assert_int_equal(a.mn.linked, 0);
	assert_int_equal(atomic_load(&e.mm->mm_count), 1);

	assert_int_equal(uhmm_mmu_notifier_register(&a.mn, e.mm), 0);
	assert_int_equal(uhmm_mmu_notifier_register(&a.mn, e.mm), -EINVAL);	/* twice */
	assert_int_equal(atomic_load(&e.mm->mm_count), 2);

	/* An ops table with no callbacks at all is fine. */
	bare.ops = &no_ops;
	assert_int_equal(uhmm_mmu_notifier_register(&bare, e.mm), 0);

	/* Exit: release once; registration refused; the structure lives on. */
	uhmm_mm_put(e.mm);
	assert_int_equal(atomic_load(&a.releases), 1);
	assert_int_equal(uhmm_mmu_notifier_register(&b.mn, e.mm), -EINVAL);
	assert_int_equal(atomic_load(&e.sys->nr_mms), 1);
	uhmm_mmu_notifier_unregister(&a.mn, e.mm);
	assert_int_equal(atomic_load(&a.releases), 1);	/* not again */
	uhmm_mmu_notifier_unregister(&bare, e.mm);
	env_teardown(&e, false);
}

/* Non-blockable: a failing start means -EAGAIN, every other subscriber still
 * called, those with end get it at once, the range is not started. */
static void test_classic_nonblock_eagain(void **state)
{
	struct tsub a, f, b;
	struct uhmm_mmu_notifier_range r;
	struct env e;

	env_setup(&e);
	tsub_init(&a, 'A', &t_ops);
	tsub_init(&f, 'F', &t_ops_fail);
	tsub_init(&b, 'B', &t_ops);
	assert_int_equal(uhmm_mmu_notifier_register(&a.mn, e.mm), 0);
	assert_int_equal(uhmm_mmu_notifier_register(&f.mn, e.mm), 0);
	assert_int_equal(uhmm_mmu_notifier_register(&b.mn, e.mm), 0);

	log_reset();
	mn_range_init(&r, UHMM_MMU_NOTIFY_UNMAP, e.mm, 0, 16 * P);
	assert_int_equal(uhmm_mmu_notifier_invalidate_range_start_nonblock(&r), -EAGAIN);
	assert_string_equal(log_str(), "BS FS AS BE AE");
	assert_int_equal(active_ranges(e.mm), 0);
	assert_false(r.flags & UHMM_RANGE_STARTED_);
	/* The caller must not call end; if it does anyway nothing happens. */
	uhmm_mmu_notifier_invalidate_range_end(&r);
	assert_int_equal(atomic_load(&a.ends), 1);
	assert_int_equal(atomic_load(&b.ends), 1);
	assert_int_equal(active_ranges(e.mm), 0);

	/* The same subscribers, blockable: all succeed, normal pairing. */
	log_reset();
	assert_int_equal(uhmm_mmu_notifier_invalidate_range_start(&r), 0);
	uhmm_mmu_notifier_invalidate_range_end(&r);
	assert_string_equal(log_str(), "BS FS AS BE AE");

	/* Without the failing one, non-blockable succeeds and pairs. */
	uhmm_mmu_notifier_unregister(&f.mn, e.mm);
	log_reset();
	assert_int_equal(uhmm_mmu_notifier_invalidate_range_start_nonblock(&r), 0);
	assert_int_equal(active_ranges(e.mm), 1);
	uhmm_mmu_notifier_invalidate_range_end(&r);
	assert_string_equal(log_str(), "BS AS BE AE");
	assert_int_equal(active_ranges(e.mm), 0);

	uhmm_mmu_notifier_unregister(&a.mn, e.mm);
	uhmm_mmu_notifier_unregister(&b.mn, e.mm);
	env_teardown(&e, true);
}

/* An interval callback refusing a non-blockable range: -EAGAIN, the interval
 * epoch is closed again, classic subscribers are not called at all. */
static void test_nonblock_interval_fail_skips_classic(void **state)
{
	struct isub i;
	struct tsub a;
	struct uhmm_mmu_notifier_range r;
	struct env e;

	env_setup(&e);
	isub_init(&i, 'I');
	tsub_init(&a, 'A', &t_ops);
	assert_int_equal(isub_insert(&i, e.mm, 4 * P, 4 * P), 0);
	assert_int_equal(uhmm_mmu_notifier_register(&a.mn, e.mm), 0);
	atomic_store(&i.fail_nonblock, 1);

	log_reset();
	mn_range_init(&r, UHMM_MMU_NOTIFY_UNMAP, e.mm, 0, 16 * P);
	assert_int_equal(uhmm_mmu_notifier_invalidate_range_start_nonblock(&r), -EAGAIN);
	assert_string_equal(log_str(), "II");
	assert_int_equal(atomic_load(&a.starts), 0);
	assert_int_equal(atomic_load(&a.ends), 0);
	assert_int_equal(active_ranges(e.mm), 0);
	assert_int_equal(global_seq(e.mm), 4);	/* 2 -> 3 (hit) -> 4 (undone) */

	/* The driver lock held elsewhere: the trylock fails the same way. */
	atomic_store(&i.fail_nonblock, 0);
	pthread_mutex_lock(&i.lock);
	assert_int_equal(uhmm_mmu_notifier_invalidate_range_start_nonblock(&r), -EAGAIN);
	pthread_mutex_unlock(&i.lock);
	assert_int_equal(atomic_load(&a.starts), 0);
	assert_int_equal(global_seq(e.mm), 6);

	/* Missing the interval: classic subscribers run and pair. */
	log_reset();
	mn_range_init(&r, UHMM_MMU_NOTIFY_UNMAP, e.mm, 8 * P, 16 * P);
	assert_int_equal(uhmm_mmu_notifier_invalidate_range_start_nonblock(&r), 0);
	uhmm_mmu_notifier_invalidate_range_end(&r);
	assert_string_equal(log_str(), "AS AE");
	assert_int_equal(global_seq(e.mm), 6);

	/* Non-blockable and the callback succeeds: both kinds, in that order. */
	log_reset();
	mn_range_init(&r, UHMM_MMU_NOTIFY_UNMAP, e.mm, 0, 16 * P);
	assert_int_equal(uhmm_mmu_notifier_invalidate_range_start_nonblock(&r), 0);
	uhmm_mmu_notifier_invalidate_range_end(&r);
	assert_string_equal(log_str(), "II AS AE");
	assert_int_equal(global_seq(e.mm), 8);
	assert_int_equal(atomic_load(&i.errors), 0);

	uhmm_mmu_interval_notifier_remove(&i.mni);
	uhmm_mmu_notifier_unregister(&a.mn, e.mm);
	env_teardown(&e, true);
}

struct reg_arg {
	struct tsub *t;
	struct uhmm_mm *mm;
	atomic_int done;
	int ret;
};

static void *register_fn(void *arg)
{
	struct reg_arg *ra = arg;

	ra->ret = uhmm_mmu_notifier_register(&ra->t->mn, ra->mm);
	atomic_store(&ra->done, 1);
	return NULL;
}

/* Registration waits for invalidations in flight (driven without the mmap
 * lock, as another mm's rmap walk would): no end without its start. */
static void test_register_waits_for_inflight(void **state)
{
	struct tsub a, b;
	struct holder h;
	struct reg_arg ra = { 0 };
	pthread_t th;
	struct uhmm_mmu_notifier_range r;
	struct env e;

	env_setup(&e);
	tsub_init(&a, 'A', &t_ops);
	tsub_init(&b, 'B', &t_ops);
	assert_int_equal(uhmm_mmu_notifier_register(&a.mn, e.mm), 0);

	holder_begin(&h, e.mm, 0, 8 * P);
	ra.t = &b;
	ra.mm = e.mm;
	assert_int_equal(pthread_create(&th, NULL, register_fn, &ra), 0);
	msleep(100);
	assert_false(atomic_load(&ra.done));
	holder_finish(&h);
	pthread_join(th, NULL);
	assert_int_equal(ra.ret, 0);
	assert_int_equal(atomic_load(&b.starts), 0);
	assert_int_equal(atomic_load(&b.ends), 0);	/* never an end without its start */
	assert_int_equal(atomic_load(&a.starts), 1);
	assert_int_equal(atomic_load(&a.ends), 1);

	mn_range_init(&r, UHMM_MMU_NOTIFY_CLEAR, e.mm, 0, P);
	mn_invalidate_range_start(&r);
	mn_invalidate_range_end(&r);
	assert_int_equal(atomic_load(&b.starts), 1);
	assert_int_equal(atomic_load(&b.ends), 1);

	/* A range started before the mm had any subscriptions is not counted,
	 * and its end reaches nobody. */
	{
		struct env e2;
		struct tsub c;

		env_setup(&e2);
		tsub_init(&c, 'C', &t_ops);
		mn_range_init(&r, UHMM_MMU_NOTIFY_CLEAR, e2.mm, 0, P);
		mn_invalidate_range_start(&r);
		assert_int_equal(uhmm_mmu_notifier_register(&c.mn, e2.mm), 0);
		mn_invalidate_range_end(&r);
		assert_int_equal(atomic_load(&c.ends), 0);
		assert_int_equal(active_ranges(e2.mm), 0);
		uhmm_mmu_notifier_unregister(&c.mn, e2.mm);
		env_teardown(&e2, true);
	}

	uhmm_mmu_notifier_unregister(&a.mn, e.mm);
	uhmm_mmu_notifier_unregister(&b.mn, e.mm);
	env_teardown(&e, true);
}

struct unreg_arg {
	struct tsub *t;
	struct uhmm_mm *mm;
	atomic_int done;
};

static void *unregister_fn(void *arg)
{
	struct unreg_arg *ua = arg;

	uhmm_mmu_notifier_unregister(&ua->t->mn, ua->mm);
	atomic_store(&ua->done, 1);
	return NULL;
}

/* Unregister calls release() once, at once, then waits for a callback that is
 * still running; exit afterwards does not call release() again. */
static void test_unregister_waits_for_callback(void **state)
{
	struct tsub a;
	struct holder h;
	struct unreg_arg ua = { 0 };
	pthread_t th;
	struct env e;

	env_setup(&e);
	tsub_init(&a, 'A', &t_ops);
	assert_int_equal(uhmm_mmu_notifier_register(&a.mn, e.mm), 0);
	atomic_store(&a.gate, 1);

	/* holder_begin returns once start returned; start it by hand instead. */
	memset(&h, 0, sizeof(h));
	mn_range_init(&h.range, UHMM_MMU_NOTIFY_CLEAR, e.mm, 0, P);
	assert_int_equal(pthread_create(&h.th, NULL, holder_fn, &h), 0);
	assert_true(wait_flag(&a.inside));

	ua.t = &a;
	ua.mm = e.mm;
	assert_int_equal(pthread_create(&th, NULL, unregister_fn, &ua), 0);
	for (int i = 0; i < 1000 && !atomic_load(&a.releases); i++)
		msleep(1);
	assert_int_equal(atomic_load(&a.releases), 1);
	msleep(100);
	assert_false(atomic_load(&ua.done));	/* the callback still runs */

	atomic_store(&a.go, 1);			/* let the callback return */
	pthread_join(th, NULL);
	assert_true(atomic_load(&ua.done));
	atomic_store(&h.go, 1);
	pthread_join(h.th, NULL);
	assert_int_equal(atomic_load(&a.releases), 1);
	assert_int_equal(atomic_load(&a.ends), 0);	/* unlinked before the end */
	assert_int_equal(atomic_load(&a.errors), 0);

	uhmm_mm_put(e.mm);
	assert_int_equal(atomic_load(&a.releases), 1);
	env_teardown(&e, false);
}

/* Exit: RELEASE over everything to interval notifiers first, then release()
 * once per classic subscriber (newest first); both kinds may be torn down
 * after the last put. */
static void test_exit_release(void **state)
{
	struct isub i;
	struct tsub a, b;
	struct env e;

	env_setup(&e);
	isub_init(&i, 'I');
	tsub_init(&a, 'A', &t_ops);
	tsub_init(&b, 'B', &t_ops);
	assert_int_equal(isub_insert(&i, e.mm, 16 * P, P), 0);
	assert_int_equal(uhmm_mmu_notifier_register(&a.mn, e.mm), 0);
	assert_int_equal(uhmm_mmu_notifier_register(&b.mn, e.mm), 0);

	log_reset();
	uhmm_mm_put(e.mm);
	assert_true(log_n >= 3);
	assert_int_equal(log_ents[0].id, 'I');
	assert_int_equal(log_ents[0].what, L_INV);
	assert_int_equal(log_ents[0].event, UHMM_MMU_NOTIFY_RELEASE);
	assert_int_equal(log_ents[0].start, 0);
	assert_int_equal(log_ents[0].end, ULONG_MAX);
	assert_int_equal(log_ents[0].flags, UHMM_MMU_NOTIFIER_RANGE_BLOCKABLE);
	assert_null(log_ents[0].owner);
	assert_int_equal(log_ents[1].id, 'B');
	assert_int_equal(log_ents[1].what, L_RELEASE);
	assert_int_equal(log_ents[2].id, 'A');
	assert_int_equal(log_ents[2].what, L_RELEASE);
	/* Anything after that is exit_mmap's UNMAP, to the interval only. */
	for (int k = 3; k < log_n; k++) {
		assert_int_equal(log_ents[k].id, 'I');
		assert_int_equal(log_ents[k].event, UHMM_MMU_NOTIFY_UNMAP);
	}

	assert_int_equal(atomic_load(&e.sys->nr_mms), 1);
	uhmm_mmu_notifier_unregister(&b.mn, e.mm);
	uhmm_mmu_notifier_unregister(&a.mn, e.mm);
	assert_int_equal(atomic_load(&a.releases), 1);
	assert_int_equal(atomic_load(&b.releases), 1);
	/* Inserting after exit is refused. */
	{
		struct isub j;

		isub_init(&j, 'J');
		assert_int_equal(isub_insert(&j, e.mm, 0, P), -EINVAL);
	}
	uhmm_mmu_interval_notifier_remove(&i.mni);
	assert_int_equal(atomic_load(&i.errors), 0);
	env_teardown(&e, false);
}

/* The sequence values themselves. */
static void test_interval_seq_values(void **state)
{
	struct isub i, j, k;
	struct uhmm_mmu_notifier_range r;
	struct env e;

	env_setup(&e);
	isub_init(&i, 'I');
	isub_init(&j, 'J');
	isub_init(&k, 'K');
	assert_int_equal(isub_insert(&i, e.mm, 0, 4 * P), 0);
	assert_true(mn_subscriptions(e.mm)->has_itree);
	assert_int_equal(global_seq(e.mm), 2);
	assert_int_equal(atomic_load(&i.mni.invalidate_seq), 1);
	assert_int_equal(uhmm_mmu_interval_read_begin(&i.mni), 1);

	/* A hit: odd while active, cur_seq odd, even after. */
	mn_range_init(&r, UHMM_MMU_NOTIFY_CLEAR, e.mm, 3 * P, 5 * P);
	mn_invalidate_range_start(&r);
	assert_int_equal(global_seq(e.mm), 3);
	assert_int_equal(atomic_load(&i.last_seq), 3);
	assert_int_equal(atomic_load(&i.mni.invalidate_seq), 3);
	assert_true(uhmm_mmu_interval_check_retry(&i.mni, 1));
	mn_invalidate_range_end(&r);
	assert_int_equal(global_seq(e.mm), 4);
	assert_int_equal(uhmm_mmu_interval_read_begin(&i.mni), 3);
	assert_false(uhmm_mmu_interval_read_retry(&i.mni, 3));
	assert_false(uhmm_mmu_interval_check_retry(&i.mni, 3));

	/* A miss, and an empty range: the sequence does not move. */
	mn_range_init(&r, UHMM_MMU_NOTIFY_CLEAR, e.mm, 4 * P, 8 * P);	/* [0,4P) is closed at 4P-1 */
	mn_invalidate_range_start(&r);
	assert_int_equal(global_seq(e.mm), 4);
	mn_invalidate_range_end(&r);
	mn_range_init(&r, UHMM_MMU_NOTIFY_CLEAR, e.mm, P, P);
	mn_invalidate_range_start(&r);
	mn_invalidate_range_end(&r);
	assert_int_equal(global_seq(e.mm), 4);
	assert_int_equal(atomic_load(&i.calls), 1);

	/* Idle insert: global - 1. */
	assert_int_equal(isub_insert(&j, e.mm, 8 * P, P), 0);
	assert_int_equal(atomic_load(&j.mni.invalidate_seq), 3);

	/* Partially excluded (active, nothing hit): insert forces odd, inserts now. */
	mn_range_init(&r, UHMM_MMU_NOTIFY_CLEAR, e.mm, 100 * P, 101 * P);
	mn_invalidate_range_start(&r);
	assert_int_equal(global_seq(e.mm), 4);
	assert_int_equal(isub_insert(&k, e.mm, 100 * P, P), 0);
	assert_int_equal(global_seq(e.mm), 5);
	assert_int_equal(atomic_load(&k.mni.invalidate_seq), 5);
	assert_true(k.mni.in_tree);
	assert_int_equal(k.mni.deferred, MN_DEFER_NONE);
	assert_int_equal(atomic_load(&k.calls), 0);	/* started before it existed */
	mn_invalidate_range_end(&r);
	assert_int_equal(global_seq(e.mm), 6);
	assert_int_equal(uhmm_mmu_interval_read_begin(&k.mni), 5);

	uhmm_mmu_interval_notifier_remove(&i.mni);
	uhmm_mmu_interval_notifier_remove(&j.mni);
	uhmm_mmu_interval_notifier_remove(&k.mni);
	assert_true(uhmm_itidx_empty(&mn_subscriptions(e.mm)->itree));
	env_teardown(&e, true);
}

struct rb_arg {
	struct isub *s;
	atomic_int done;
	unsigned long seq;
};

static void *read_begin_fn(void *arg)
{
	struct rb_arg *a = arg;

	a->seq = uhmm_mmu_interval_read_begin(&a->s->mni);
	atomic_store(&a->done, 1);
	return NULL;
}

/* read_begin sleeps while an invalidation covering the interval runs;
 * read_retry catches a sequence taken before it. */
static void test_interval_read_begin_blocks(void **state)
{
	struct isub i;
	struct holder h;
	struct rb_arg a = { 0 };
	pthread_t th;
	unsigned long s;
	struct env e;

	env_setup(&e);
	isub_init(&i, 'I');
	assert_int_equal(isub_insert(&i, e.mm, 10 * P, 10 * P), 0);
	s = uhmm_mmu_interval_read_begin(&i.mni);
	assert_int_equal(s, 1);

	holder_begin(&h, e.mm, 15 * P, 30 * P);
	pthread_mutex_lock(&i.lock);
	assert_true(uhmm_mmu_interval_read_retry(&i.mni, s));
	pthread_mutex_unlock(&i.lock);
	assert_true(uhmm_mmu_interval_check_retry(&i.mni, s));

	a.s = &i;
	assert_int_equal(pthread_create(&th, NULL, read_begin_fn, &a), 0);
	msleep(100);
	assert_false(atomic_load(&a.done));
	holder_finish(&h);
	pthread_join(th, NULL);
	assert_true(atomic_load(&a.done));
	assert_int_equal(a.seq, 3);
	pthread_mutex_lock(&i.lock);
	assert_false(uhmm_mmu_interval_read_retry(&i.mni, a.seq));
	pthread_mutex_unlock(&i.lock);

	/* An invalidation elsewhere does not make read_begin wait. */
	holder_begin(&h, e.mm, 0, 10 * P);
	assert_int_equal(uhmm_mmu_interval_read_begin(&i.mni), 3);
	holder_finish(&h);

	uhmm_mmu_interval_notifier_remove(&i.mni);
	env_teardown(&e, true);
}

/* Insert while the tree is frozen: deferred, not called by the running
 * invalidations, in the tree after the last end, and read_begin waits. */
static void test_interval_insert_deferred(void **state)
{
	struct isub i, j;
	struct holder h;
	struct rb_arg a = { 0 };
	pthread_t th;
	struct uhmm_mmu_notifier_range r;
	struct env e;

	env_setup(&e);
	isub_init(&i, 'I');
	isub_init(&j, 'J');
	assert_int_equal(isub_insert(&i, e.mm, 0, P), 0);

	holder_begin(&h, e.mm, 0, 10 * P);		/* hits I: seq 3 */
	assert_int_equal(global_seq(e.mm), 3);
	assert_int_equal(isub_insert(&j, e.mm, P, P), 0);
	assert_int_equal(j.mni.deferred, MN_DEFER_INSERT);
	assert_false(j.mni.in_tree);
	assert_int_equal(atomic_load(&j.mni.invalidate_seq), 3);
	assert_int_equal(reserved(e.mm), 1);	/* the pending insert's nodes */

	/* A nested invalidation right over J does not reach it. */
	mn_range_init(&r, UHMM_MMU_NOTIFY_CLEAR, e.mm, P, 2 * P);
	mn_invalidate_range_start(&r);
	mn_invalidate_range_end(&r);
	assert_int_equal(atomic_load(&j.calls), 0);
	assert_int_equal(global_seq(e.mm), 3);	/* still odd: the holder runs */

	a.s = &j;
	assert_int_equal(pthread_create(&th, NULL, read_begin_fn, &a), 0);
	msleep(100);
	assert_false(atomic_load(&a.done));
	holder_finish(&h);
	pthread_join(th, NULL);
	assert_int_equal(a.seq, 3);
	assert_int_equal(global_seq(e.mm), 4);
	assert_true(j.mni.in_tree);
	assert_int_equal(j.mni.deferred, MN_DEFER_NONE);
	assert_int_equal(atomic_load(&j.calls), 0);
	assert_int_equal(reserved(e.mm), 0);

	mn_invalidate_range_start(&r);
	mn_invalidate_range_end(&r);
	assert_int_equal(atomic_load(&j.calls), 1);
	assert_int_equal(atomic_load(&j.last_seq), 5);

	uhmm_mmu_interval_notifier_remove(&i.mni);
	uhmm_mmu_interval_notifier_remove(&j.mni);
	env_teardown(&e, true);
}

struct rm_arg {
	struct isub *s;
	atomic_int done;
};

static void *remove_fn(void *arg)
{
	struct rm_arg *a = arg;

	uhmm_mmu_interval_notifier_remove(&a->s->mni);
	atomic_store(&a->s->removed, 1);
	atomic_store(&a->done, 1);
	return NULL;
}

/* Remove while the tree is frozen: deferred, and remove() sleeps until the
 * last end; a pending insert is simply dropped. */
static void test_interval_remove_deferred(void **state)
{
	struct isub i, j, k;
	struct holder h;
	struct rm_arg a = { 0 };
	pthread_t th;
	struct uhmm_mmu_notifier_range r;
	struct env e;

	env_setup(&e);
	isub_init(&i, 'I');
	isub_init(&j, 'J');
	isub_init(&k, 'K');
	assert_int_equal(isub_insert(&i, e.mm, 0, P), 0);
	assert_int_equal(isub_insert(&j, e.mm, 4 * P, P), 0);

	holder_begin(&h, e.mm, 0, P);			/* hits I only */
	a.s = &j;
	assert_int_equal(pthread_create(&th, NULL, remove_fn, &a), 0);
	msleep(100);
	assert_false(atomic_load(&a.done));
	{
		struct uhmm_mn_subscriptions *subs = mn_subscriptions(e.mm);

		pthread_mutex_lock(&subs->lock);
		assert_true(j.mni.in_tree);
		assert_int_equal(j.mni.deferred, MN_DEFER_REMOVE);
		pthread_mutex_unlock(&subs->lock);
	}
	/* Still in the (frozen) tree: a nested invalidation may still call it. */
	mn_range_init(&r, UHMM_MMU_NOTIFY_CLEAR, e.mm, 4 * P, 5 * P);
	mn_invalidate_range_start(&r);
	mn_invalidate_range_end(&r);
	assert_int_equal(atomic_load(&j.calls), 1);

	/* A pending insert removed before it lands: immediate, never called. */
	assert_int_equal(isub_insert(&k, e.mm, 8 * P, P), 0);
	assert_int_equal(k.mni.deferred, MN_DEFER_INSERT);
	assert_int_equal(reserved(e.mm), 1);
	uhmm_mmu_interval_notifier_remove(&k.mni);
	assert_int_equal(k.mni.deferred, MN_DEFER_NONE);
	assert_false(k.mni.in_tree);
	assert_int_equal(reserved(e.mm), 0);	/* its reservation went back */

	holder_finish(&h);
	pthread_join(th, NULL);
	assert_true(atomic_load(&a.done));
	assert_false(j.mni.in_tree);

	/* Nothing of J or K is left: only I is called now. */
	mn_range_init(&r, UHMM_MMU_NOTIFY_CLEAR, e.mm, 0, 16 * P);
	mn_invalidate_range_start(&r);
	mn_invalidate_range_end(&r);
	assert_int_equal(atomic_load(&j.calls), 1);
	assert_int_equal(atomic_load(&k.calls), 0);
	assert_int_equal(atomic_load(&i.calls), 2);
	assert_int_equal(atomic_load(&j.errors), 0);

	uhmm_mmu_interval_notifier_remove(&i.mni);
	assert_true(uhmm_itidx_empty(&mn_subscriptions(e.mm)->itree));
	env_teardown(&e, true);
}

static void test_interval_insert_errors(void **state)
{
	static const struct uhmm_mmu_interval_notifier_ops no_cb;
	struct isub i, j;
	struct env e;

	env_setup(&e);
	isub_init(&i, 'I');
	isub_init(&j, 'J');
	assert_int_equal(isub_insert(&i, e.mm, 0, 0), -EOVERFLOW);
	assert_int_equal(isub_insert(&i, e.mm, ULONG_MAX - P + 1, 2 * P), -EOVERFLOW);
	assert_int_equal(isub_insert(&i, e.mm, ULONG_MAX, 2), -EOVERFLOW);
	assert_int_equal(uhmm_mmu_interval_notifier_insert(NULL, e.mm, 0, P, &i_ops), -EINVAL);
	assert_int_equal(uhmm_mmu_interval_notifier_insert(&i.mni, NULL, 0, P, &i_ops), -EINVAL);
	assert_int_equal(uhmm_mmu_interval_notifier_insert(&i.mni, e.mm, 0, P, NULL), -EINVAL);
	assert_int_equal(uhmm_mmu_interval_notifier_insert(&i.mni, e.mm, 0, P, &no_cb), -EINVAL);
	assert_null(mn_subscriptions(e.mm));	/* argument errors change nothing */

	/* -ENOMEM on the first insert changes nothing. */
	uhmm_fail_nth(1, 0);
	assert_int_equal(isub_insert(&i, e.mm, 0, P), -ENOMEM);
	uhmm_fail_nth(0, 0);
	assert_null(mn_subscriptions(e.mm));
	assert_int_equal(atomic_load(&e.mm->mm_count), 1);

	/* The very top of the address space is a valid interval. */
	assert_int_equal(isub_insert(&i, e.mm, ULONG_MAX - P + 1, P), 0);
	assert_int_equal(i.mni.interval.last, ULONG_MAX);

	/* The _locked variants, with the mmap lock held for write. */
	{
		struct tsub a;

		tsub_init(&a, 'A', &t_ops);
		uhmm_mmap_write_lock(e.mm);
		assert_int_equal(uhmm_mmu_interval_notifier_insert_locked(&j.mni, e.mm, 0, P, &i_ops), 0);
		assert_int_equal(uhmm_mmu_notifier_register_locked(&a.mn, e.mm), 0);
		uhmm_mmap_write_unlock(e.mm);
		uhmm_mmu_notifier_unregister(&a.mn, e.mm);
	}
	uhmm_mmu_interval_notifier_remove(&j.mni);

	uhmm_mm_put(e.mm);
	assert_int_equal(isub_insert(&j, e.mm, 0, P), -EINVAL);	/* exited */
	uhmm_mmu_interval_notifier_remove(&i.mni);
	env_teardown(&e, false);
}

/*
 * Inserts deferred while the tree is frozen are applied by the last end,
 * which cannot fail: they were paid for at insert time. Many of them at
 * once, over a tree big enough to split at several levels, with every
 * allocation failing by the time the end applies them; and an insert that
 * cannot reserve fails at once with -ENOMEM and leaves no trace.
 */
static void test_interval_deferred_inserts_never_fail(void **state)
{
	enum { N = 3000, D = 400 };
	struct isub *s = calloc(N + D + 1, sizeof(*s)), *late = &s[N + D];
	struct uhmm_mmu_notifier_range r;
	struct holder h;
	struct env e;
	long total = 0;

	assert_non_null(s);
	env_setup(&e);
	for (int k = 0; k < N; k++) {
		isub_init(&s[k], 'n');
		assert_int_equal(isub_insert(&s[k], e.mm, (unsigned long)(2 * k) * P, P), 0);
	}
	holder_begin(&h, e.mm, 0, P);			/* hits s[0]: frozen */
	assert_int_equal(global_seq(e.mm) & 1, 1);
	/* Into the gaps, so the leaves along the way split once they land. */
	for (int k = 0; k < D; k++) {
		isub_init(&s[N + k], 'd');
		assert_int_equal(isub_insert(&s[N + k], e.mm, (unsigned long)(2 * k + 1) * P, P), 0);
		assert_int_equal(s[N + k].mni.deferred, MN_DEFER_INSERT);
	}
	assert_int_equal(reserved(e.mm), D);

	isub_init(late, 'L');
	uhmm_fail_nth(1, 1);
	assert_int_equal(isub_insert(late, e.mm, 5 * P, P), -ENOMEM);
	assert_null(late->mni.mm);			/* as never inserted */
	assert_int_equal(reserved(e.mm), D);

	holder_finish(&h);				/* applies all D, allocating nothing */
	uhmm_fail_nth(0, 0);
	assert_int_equal(reserved(e.mm), 0);
	for (int k = 0; k < D; k++)
		assert_true(s[N + k].mni.in_tree);

	/* Every odd page up to 2D is now watched, the even ones as before. */
	mn_range_init(&r, UHMM_MMU_NOTIFY_CLEAR, e.mm, 0, (unsigned long)(2 * D) * P);
	mn_invalidate_range_start(&r);
	mn_invalidate_range_end(&r);
	for (int k = 0; k < N + D; k++)
		total += atomic_load(&s[k].calls);
	assert_int_equal(total, 1 + 2 * D);
	for (int k = 0; k < D; k++)
		assert_int_equal(atomic_load(&s[N + k].calls), 1);

	assert_int_equal(isub_insert(late, e.mm, 5 * P, P), 0);	/* memory is back */
	uhmm_mmu_interval_notifier_remove(&late->mni);
	for (int k = 0; k < N + D; k++)
		uhmm_mmu_interval_notifier_remove(&s[k].mni);
	assert_true(uhmm_itidx_empty(&mn_subscriptions(e.mm)->itree));
	env_teardown(&e, true);
	free(s);
}

/* First insert on an mm that is already exited: -EINVAL, nothing allocated. */
static void test_interval_first_insert_after_exit(void **state)
{
	struct isub i;
	struct tsub a;
	struct env e;

	env_setup(&e);
	isub_init(&i, 'I');
	tsub_init(&a, 'A', &t_ops);
	assert_int_equal(uhmm_mmu_notifier_register(&a.mn, e.mm), 0);	/* keeps the struct */
	uhmm_mm_put(e.mm);
	assert_int_equal(isub_insert(&i, e.mm, 0, P), -EINVAL);
	assert_false(mn_subscriptions(e.mm)->has_itree);
	uhmm_mmu_notifier_unregister(&a.mn, e.mm);
	env_teardown(&e, false);
}

/* O(log n + k): with 10000 intervals only the overlapping ones are called. */
static void test_interval_dispatch_overlap_only(void **state)
{
	enum { N = 10000 };
	struct isub *s = calloc(N, sizeof(*s));
	struct uhmm_mmu_notifier_range r;
	struct env e;
	struct timespec t0, t1;
	long total = 0;

	assert_non_null(s);
	env_setup(&e);
	for (int k = 0; k < N; k++) {
		isub_init(&s[k], 'n');
		assert_int_equal(isub_insert(&s[k], e.mm, (unsigned long)k * P, P), 0);
	}
	mn_range_init(&r, UHMM_MMU_NOTIFY_CLEAR, e.mm, 5000 * P, 5010 * P);
	mn_invalidate_range_start(&r);
	mn_invalidate_range_end(&r);
	for (int k = 0; k < N; k++) {
		int c = atomic_load(&s[k].calls);

		total += c;
		assert_int_equal(c, k >= 5000 && k < 5010);
	}
	assert_int_equal(total, 10);

	/* A range inside one interval; and one straddling a boundary. */
	mn_range_init(&r, UHMM_MMU_NOTIFY_CLEAR, e.mm, 7000 * P + 1, 7000 * P + 2);
	mn_invalidate_range_start(&r);
	mn_invalidate_range_end(&r);
	assert_int_equal(atomic_load(&s[7000].calls), 1);
	mn_range_init(&r, UHMM_MMU_NOTIFY_CLEAR, e.mm, 8000 * P - 1, 8000 * P + 1);
	mn_invalidate_range_start(&r);
	mn_invalidate_range_end(&r);
	assert_int_equal(atomic_load(&s[7999].calls), 1);
	assert_int_equal(atomic_load(&s[8000].calls), 1);

	/* Cheap enough that 2000 single-node invalidations over 10000 nodes are
	 * nowhere near a linear scan's cost (loose bound: sanitizer builds). */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int k = 0; k < 2000; k++) {
		mn_range_init(&r, UHMM_MMU_NOTIFY_CLEAR, e.mm, (unsigned long)(k * 5) * P, (unsigned long)(k * 5) * P + 1);
		mn_invalidate_range_start(&r);
		mn_invalidate_range_end(&r);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	total = 0;
	for (int k = 0; k < N; k++)
		total += atomic_load(&s[k].calls);
	assert_int_equal(total, 10 + 1 + 2 + 2000);
	assert_true((t1.tv_sec - t0.tv_sec) < 5);

	for (int k = 0; k < N; k++)
		uhmm_mmu_interval_notifier_remove(&s[k].mni);
	env_teardown(&e, true);
	free(s);
}

/* ------------------------------------------------------------- srcu */

struct srcu_obj {
	int alive;		/* plain: a late reader is a data race (TSan) or 0 */
	long payload[4];
};

struct srcu_torture {
	struct uhmm_srcu srcu;
	struct srcu_obj *_Atomic cur;
	atomic_int stop, bad;
	atomic_long reads;
};

static void *srcu_reader(void *arg)
{
	struct srcu_torture *t = arg;

	while (!atomic_load_explicit(&t->stop, memory_order_relaxed)) {
		int idx = srcu_read_lock(&t->srcu);
		int idx2 = srcu_read_lock(&t->srcu);	/* nesting */
		struct srcu_obj *o = atomic_load_explicit(&t->cur, memory_order_acquire);

		if (o->alive != 1 || o->payload[3] != 42)
			atomic_fetch_add(&t->bad, 1);
		srcu_read_unlock(&t->srcu, idx2);
		if ((atomic_fetch_add(&t->reads, 1) & 63) == 0)
			sched_yield();		/* sometimes sit inside a little longer */
		if (o->alive != 1)
			atomic_fetch_add(&t->bad, 1);
		srcu_read_unlock(&t->srcu, idx);
	}
	return NULL;
}

static void *srcu_writer(void *arg)
{
	struct srcu_torture *t = arg;

	for (int k = 0; k < 500; k++) {
		struct srcu_obj *n = calloc(1, sizeof(*n)), *old;

		n->alive = 1;
		n->payload[3] = 42;
		old = atomic_exchange_explicit(&t->cur, n, memory_order_acq_rel);
		synchronize_srcu(&t->srcu);
		old->alive = 0;		/* no reader may still see it */
		free(old);
	}
	return NULL;
}

/* Readers never see an object after the grace period that retired it. Two
 * writers make grace periods overlap (they serialise). */
static void test_srcu_torture(void **state)
{
	enum { R = 4, W = 2 };
	struct srcu_torture t;
	pthread_t rd[R], wr[W];

	memset(&t, 0, sizeof(t));
	uhmm_srcu_init(&t.srcu);
	{
		struct srcu_obj *o = calloc(1, sizeof(*o));

		o->alive = 1;
		o->payload[3] = 42;
		atomic_store(&t.cur, o);
	}
	for (int k = 0; k < R; k++)
		assert_int_equal(pthread_create(&rd[k], NULL, srcu_reader, &t), 0);
	for (int k = 0; k < W; k++)
		assert_int_equal(pthread_create(&wr[k], NULL, srcu_writer, &t), 0);
	for (int k = 0; k < W; k++)
		pthread_join(wr[k], NULL);
	atomic_store(&t.stop, 1);
	for (int k = 0; k < R; k++)
		pthread_join(rd[k], NULL);
	assert_int_equal(atomic_load(&t.bad), 0);
	assert_true(atomic_load(&t.reads) > 0);
	/* Synchronize with no reader returns at once. */
	synchronize_srcu(&t.srcu);
	assert_int_equal(atomic_load(&t.srcu.ctr[0]) + atomic_load(&t.srcu.ctr[1]), 0);
	free(atomic_load(&t.cur));
	uhmm_srcu_cleanup(&t.srcu);
}

/* ------------------------------------------------------------- stress */

#define NINV 4

struct stress {
	struct uhmm_mm *mm;
	atomic_int stop;
	atomic_int errors;
	struct tsub classic[3];
	struct isub intervals[8];
};

struct inv_arg {
	struct stress *st;
	int tid;
	uint64_t rng;
};

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int s_start(struct uhmm_mmu_notifier *mn, const struct uhmm_mmu_notifier_range *r)
{
	struct tsub *t = to_tsub(mn);
	int tid = (int)(intptr_t)r->owner;

	if (atomic_fetch_add(&t->open[tid], 1) != 0)
		atomic_fetch_add(&t->errors, 1);	/* one open range per thread */
	return 0;
}

static void s_end(struct uhmm_mmu_notifier *mn, const struct uhmm_mmu_notifier_range *r)
{
	struct tsub *t = to_tsub(mn);
	int tid = (int)(intptr_t)r->owner;

	if (atomic_fetch_sub(&t->open[tid], 1) != 1)
		atomic_fetch_add(&t->errors, 1);	/* an end without its start */
}

static void s_release(struct uhmm_mmu_notifier *mn, struct uhmm_mm *mm)
{
	atomic_fetch_add(&to_tsub(mn)->releases, 1);
}

static const struct uhmm_mmu_notifier_ops s_ops = {
	.release = s_release, .invalidate_range_start = s_start, .invalidate_range_end = s_end,
};

static void *stress_invalidator(void *arg)
{
	struct inv_arg *a = arg;
	struct uhmm_mmu_notifier_range r;

	/*
	 * Thread 0 plays another mm's rmap walk: no mmap lock, so classic
	 * registration has to wait for it through active_invalidate_ranges,
	 * and it pauses between ranges as such walks do (registration needs a
	 * moment with nothing in flight; a storm of lock-free invalidations
	 * would starve it, as mm_take_all_locks would be starved in Linux).
	 * The others play this mm's own VM paths, under the mmap lock.
	 */
	bool rmap_like = a->tid == 0;

	while (!atomic_load(&a->st->stop)) {
		unsigned long s = rnd(&a->rng) % 64, l = 1 + rnd(&a->rng) % 8;

		if (!rmap_like)
			uhmm_mmap_read_lock(a->st->mm);
		/* owner carries the thread id to the callbacks (test only) */
		mn_range_init_owner(&r, UHMM_MMU_NOTIFY_MIGRATE, a->st->mm, s * P, (s + l) * P,
				    (void *)(intptr_t)a->tid);
		mn_invalidate_range_start(&r);
		if ((rnd(&a->rng) & 7) == 0)
			sched_yield();
		mn_invalidate_range_end(&r);
		if (!rmap_like)
			uhmm_mmap_read_unlock(a->st->mm);
		if (rmap_like)
			usleep(rnd(&a->rng) % 50);
	}
	return NULL;
}

static void *stress_classic_churn(void *arg)
{
	struct inv_arg *a = arg;
	struct stress *st = a->st;

	for (int k = 0; k < 300 && !atomic_load(&st->errors); k++) {
		struct tsub *t = &st->classic[rnd(&a->rng) % 3];

		if (t->mn.linked) {
			/* Opens from ranges this subscriber missed the end of are
			 * stale once it is unlinked: reset after unregister. */
			uhmm_mmu_notifier_unregister(&t->mn, st->mm);
			for (int i = 0; i < NINV; i++)
				atomic_store(&t->open[i], 0);
		} else if (uhmm_mmu_notifier_register(&t->mn, st->mm)) {
			atomic_fetch_add(&st->errors, 1);
		}
	}
	return NULL;
}

static void *stress_interval_churn(void *arg)
{
	struct inv_arg *a = arg;
	struct stress *st = a->st;

	/* intervals[7] is the reader's: churn 0..6 only */
	for (int k = 0; k < 1000; k++) {
		struct isub *s = &st->intervals[rnd(&a->rng) % 7];

		if (s->inserted) {
			uhmm_mmu_interval_notifier_remove(&s->mni);
			atomic_store(&s->removed, 1);
			s->inserted = false;
		} else {
			atomic_store(&s->removed, 0);
			if (isub_insert(s, st->mm, (rnd(&a->rng) % 64) * P, (1 + rnd(&a->rng) % 4) * P))
				atomic_fetch_add(&st->errors, 1);
			s->inserted = true;
		}
	}
	return NULL;
}

static void *stress_reader(void *arg)
{
	struct inv_arg *a = arg;
	struct stress *st = a->st;
	struct isub *s = &st->intervals[7];	/* kept inserted by the main thread */

	while (!atomic_load(&st->stop)) {
		unsigned long seq = uhmm_mmu_interval_read_begin(&s->mni);

		if (!(seq & 1))
			atomic_fetch_add(&st->errors, 1);
		pthread_mutex_lock(&s->lock);
		(void)uhmm_mmu_interval_read_retry(&s->mni, seq);
		pthread_mutex_unlock(&s->lock);
	}
	return NULL;
}

/* Everything at once; checks: no classic end without its start, no interval
 * callback after remove returned, sequences odd, counters back to idle. */
static void test_stress_concurrent(void **state)
{
	static struct stress st;
	struct inv_arg args[NINV + 3];
	pthread_t th[NINV + 3];
	struct tsub anchor;
	struct env e;

	env_setup(&e);
	memset(&st, 0, sizeof(st));
	st.mm = e.mm;
	for (int k = 0; k < 3; k++)
		tsub_init(&st.classic[k], 'a' + k, &s_ops);
	for (int k = 0; k < 7; k++)
		isub_init(&st.intervals[k], 'p' + k);
	/* intervals[7] is not churned: the reader thread uses it */
	isub_init(&st.intervals[7], 'z');
	assert_int_equal(isub_insert(&st.intervals[7], e.mm, 0, 64 * P), 0);
	tsub_init(&anchor, 'X', &s_ops);
	assert_int_equal(uhmm_mmu_notifier_register(&anchor.mn, e.mm), 0);

	for (int k = 0; k < NINV + 3; k++) {
		args[k].st = &st;
		args[k].tid = k;
		args[k].rng = g_seed + (uint64_t)k * 7919;
	}
	for (int k = 0; k < NINV; k++)
		assert_int_equal(pthread_create(&th[k], NULL, stress_invalidator, &args[k]), 0);
	assert_int_equal(pthread_create(&th[NINV], NULL, stress_reader, &args[NINV]), 0);
	assert_int_equal(pthread_create(&th[NINV + 1], NULL, stress_classic_churn, &args[NINV + 1]), 0);
	assert_int_equal(pthread_create(&th[NINV + 2], NULL, stress_interval_churn, &args[NINV + 2]), 0);
	pthread_join(th[NINV + 1], NULL);
	pthread_join(th[NINV + 2], NULL);
	atomic_store(&st.stop, 1);
	for (int k = 0; k < NINV + 1; k++)
		pthread_join(th[k], NULL);

	assert_int_equal(atomic_load(&st.errors), 0);
	assert_int_equal(atomic_load(&anchor.errors), 0);
	for (int k = 0; k < NINV; k++)
		assert_int_equal(atomic_load(&anchor.open[k]), 0);
	for (int k = 0; k < 3; k++)
		assert_int_equal(atomic_load(&st.classic[k].errors), 0);
	for (int k = 0; k < 8; k++)
		assert_int_equal(atomic_load(&st.intervals[k].errors), 0);
	assert_int_equal(active_ranges(e.mm), 0);
	assert_int_equal(global_seq(e.mm) & 1, 0);
	assert_null(mn_subscriptions(e.mm)->deferred_list);

	for (int k = 0; k < 3; k++)
		if (st.classic[k].mn.linked)
			uhmm_mmu_notifier_unregister(&st.classic[k].mn, e.mm);
	for (int k = 0; k < 7; k++)
		if (st.intervals[k].inserted)
			uhmm_mmu_interval_notifier_remove(&st.intervals[k].mni);
	uhmm_mmu_interval_notifier_remove(&st.intervals[7].mni);
	uhmm_mmu_notifier_unregister(&anchor.mn, e.mm);
	assert_true(uhmm_itidx_empty(&mn_subscriptions(e.mm)->itree));
	env_teardown(&e, true);
}

/* ---------------------------------------------------------------- driver */

static const struct CMUnitTest all_tests[] = {
	cmocka_unit_test(test_event_names),
	cmocka_unit_test(test_no_subscriptions),
	cmocka_unit_test(test_classic_order),
	cmocka_unit_test(test_classic_register_errors),
	cmocka_unit_test(test_classic_nonblock_eagain),
	cmocka_unit_test(test_nonblock_interval_fail_skips_classic),
	cmocka_unit_test(test_register_waits_for_inflight),
	cmocka_unit_test(test_unregister_waits_for_callback),
	cmocka_unit_test(test_exit_release),
	cmocka_unit_test(test_interval_seq_values),
	cmocka_unit_test(test_interval_read_begin_blocks),
	cmocka_unit_test(test_interval_insert_deferred),
	cmocka_unit_test(test_interval_remove_deferred),
	cmocka_unit_test(test_interval_insert_errors),
	cmocka_unit_test(test_interval_deferred_inserts_never_fail),
	cmocka_unit_test(test_interval_first_insert_after_exit),
	cmocka_unit_test(test_interval_dispatch_overlap_only),
	cmocka_unit_test(test_srcu_torture),
	cmocka_unit_test(test_stress_concurrent),
};

#define NTESTS (sizeof(all_tests) / sizeof(all_tests[0]))

int main(int argc, char **argv)
{
	struct CMUnitTest selected[NTESTS];
	const char *env = getenv("UHMM_SEED");
	size_t i, n = 0;

	if (argc > 1 && strcmp(argv[1], "--list") == 0) {
		for (i = 0; i < NTESTS; i++)
			printf("%s\n", all_tests[i].name);
		return 0;
	}
	for (i = 0; i < NTESTS; i++)
		if (argc < 2 || strcmp(argv[1], all_tests[i].name) == 0)
			selected[n++] = all_tests[i];
	if (n == 0) {
		fprintf(stderr, "test_notifier: no test case named '%s'\n", argv[1]);
		return 2;
	}
	if (env && *env)
		g_seed = strtoull(env, NULL, 0);
	else
		g_seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	printf("test_notifier: seed %llu (set UHMM_SEED to reproduce)\n", (unsigned long long)g_seed);
	fflush(stdout);
	return _cmocka_run_group_tests("notifier", selected, n, NULL, NULL);
}
