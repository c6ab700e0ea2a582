/* SPDX-License-Identifier: MIT */
/* tests/api/test_misuse_fatal.c - the misuse catalogue, part 2: wrong calls Linux treats as a kernel bug.
 *
 * Where Linux has a BUG_ON, an oops, a use-after-free or a deadlock (and
 * lockdep would splat), uhmm must stop with a message naming the broken rule
 * and where it was broken (file and line, and the caller's stack) - never
 * corrupt silently. Each case forks a real child process (fork(2); the
 * parent stays single-threaded, so this is safe under TSan too) that builds
 * what it needs and makes the wrong call with its stderr on a pipe; the
 * parent asserts the child died of SIGABRT and that what it printed holds
 * "broken rule" or "BUG" and the rule's own words. A child that returns from
 * the call, or hangs (alarm), fails the case.
 *
 * Lock-order and lock-held rules are checked by lockdep, which only debug
 * builds have (UHMM_DEBUG: the debug, asan and tsan presets): in release
 * builds those cases are skipped (exit 77 for ctest) with the reason. The
 * UHMM_BUG checks stop every build.
 * Usage: test_misuse_fatal [--list | --catalogue | CASE_NAME].
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uhmm/dmirror.h>
#include <uhmm/uhmm.h>

#include "common/testdev.h"	/* testdev_run */

#define PG UHMM_PAGE_SIZE
#define RW (PROT_READ | PROT_WRITE)
#define PRIV (MAP_PRIVATE | MAP_ANONYMOUS)
#define BASE 0x700000000UL

#ifdef UHMM_DEBUG
#define HAVE_LOCKDEP true
#else
#define HAVE_LOCKDEP false
#endif

/* ------------------------------------------------ the child's little world */
/* In the child: no cmocka assertions (they would longjmp into the parent's
 * copy of the runner); a setup failure exits with 3. */
#define CHILD_CHECK(c) do { if (!(c)) { fprintf(stderr, "child setup failed: %s\n", #c); _exit(3); } } while (0)

static struct uhmm_system *sys;
static struct uhmm_mm *mm;

static void world(void)
{
	struct uhmm_system_opts o = { .ram_bytes = 4UL << 20 };
	unsigned long a;

	CHILD_CHECK(uhmm_system_create(&o, &sys) == 0);
	CHILD_CHECK(uhmm_mm_create(sys, &mm) == 0);
	CHILD_CHECK(uhmm_mmap(mm, BASE, 8 * PG, RW, PRIV | MAP_FIXED, &a) == 0);
	CHILD_CHECK(uhmm_cpu_write(mm, BASE, "data", 5) == 0);
}

static bool nop_invalidate(struct uhmm_mmu_interval_notifier *sub, const struct uhmm_mmu_notifier_range *range,
			   unsigned long cur_seq)
{
	(void)range;
	uhmm_mmu_interval_set_seq(sub, cur_seq);
	return true;
}

static const struct uhmm_mmu_interval_notifier_ops nop_ops = { .invalidate = nop_invalidate };
static const struct uhmm_mmu_notifier_ops classic_nop_ops = { .release = NULL };

/* ------------------------------------------------------ UHMM_BUG, every build */
static void m_unlock_unlocked_page(void)
{
	struct uhmm_page *p;

	world();
	p = uhmm_alloc_page(sys);
	CHILD_CHECK(p);
	uhmm_unlock_page(p);
}

static void m_put_page_refcount_zero(void)
{
	struct uhmm_page *p;

	world();
	p = uhmm_alloc_page(sys);
	CHILD_CHECK(p);
	uhmm_put_page(p);	/* refcount 0: freed */
	uhmm_put_page(p);
}

static void m_get_free_page(void)
{
	struct uhmm_page *p;

	world();
	p = uhmm_alloc_page(sys);
	CHILD_CHECK(p);
	uhmm_put_page(p);
	uhmm_get_page(p);
}

static void m_unpin_unpinned(void)
{
	struct uhmm_page *p[1];

	world();
	CHILD_CHECK(uhmm_pin_user_pages(mm, BASE, 1, true, p) == 0);
	uhmm_unpin_user_pages(p, 1);
	uhmm_unpin_user_pages(p, 1);
}

/* An exited address space whose structure an interval notifier keeps. */
static struct uhmm_mmu_interval_notifier keeper;

static void exited_world(void)
{
	world();
	CHILD_CHECK(uhmm_mmu_interval_notifier_insert(&keeper, mm, 0, 1UL << 47, &nop_ops) == 0);
	uhmm_mm_put(mm);
}

static void m_mm_get_after_exit(void)
{
	exited_world();
	uhmm_mm_get(mm);
}

static void m_mm_put_after_exit(void)
{
	exited_world();
	uhmm_mm_put(mm);
}

static void m_interval_remove_twice(void)
{
	static struct uhmm_mmu_interval_notifier sub;

	world();
	CHILD_CHECK(uhmm_mmu_interval_notifier_insert(&sub, mm, BASE, PG, &nop_ops) == 0);
	uhmm_mmu_interval_notifier_remove(&sub);
	uhmm_mmu_interval_notifier_remove(&sub);
}

static void m_interval_remove_never_inserted(void)
{
	static struct uhmm_mmu_interval_notifier sub;	/* zero-initialised, never inserted */

	world();
	uhmm_mmu_interval_notifier_remove(&sub);
}

static void m_read_begin_not_inserted(void)
{
	static struct uhmm_mmu_interval_notifier sub;

	world();
	CHILD_CHECK(uhmm_mmu_interval_notifier_insert(&sub, mm, BASE, PG, &nop_ops) == 0);
	uhmm_mmu_interval_notifier_remove(&sub);
	(void)uhmm_mmu_interval_read_begin(&sub);
}

static void m_classic_unregister_twice(void)
{
	static struct uhmm_mmu_notifier sub = { .ops = &classic_nop_ops };

	world();
	CHILD_CHECK(uhmm_mmu_notifier_register(&sub, mm) == 0);
	uhmm_mmu_notifier_unregister(&sub, mm);
	uhmm_mmu_notifier_unregister(&sub, mm);	/* the mm is alive: no use-after-free to hide behind */
}

static void m_classic_unregister_never_registered(void)
{
	static struct uhmm_mmu_notifier sub = { .ops = &classic_nop_ops };

	world();
	uhmm_mmu_notifier_unregister(&sub, mm);
}

static void dev_free(struct uhmm_page *p) { (void)p; }
static int dev_to_ram(struct uhmm_vm_fault *vmf) { (void)vmf; return -EFAULT; }
static const struct uhmm_dev_pagemap_ops dev_ops = { .page_free = dev_free, .migrate_to_ram = dev_to_ram };

static void m_zone_device_page_init_in_use(void)
{
	static struct uhmm_dev_pagemap pg = { .type = UHMM_MEMORY_DEVICE_PRIVATE, .ops = &dev_ops, .nr_pages = 4 };
	struct uhmm_page *p;

	world();
	pg.owner = &pg;
	CHILD_CHECK(uhmm_memremap_pages(sys, &pg) == 0);
	p = uhmm_pfn_to_page(sys, pg.pfn_first);
	CHILD_CHECK(p);
	uhmm_zone_device_page_init(p);
	uhmm_zone_device_page_init(p);	/* allocated twice */
}

static void m_zone_device_page_init_ram_page(void)
{
	struct uhmm_page *p;

	world();
	p = uhmm_alloc_page(sys);
	CHILD_CHECK(p);
	uhmm_put_page(p);
	uhmm_zone_device_page_init(p);
}

/* ------------------------------------------------- lockdep: debug builds */
static void m_mmap_read_lock_recursive(void)
{
	world();
	uhmm_mmap_read_lock(mm);
	uhmm_mmap_read_lock(mm);
}

static void m_mmap_write_lock_while_reading(void)
{
	world();
	uhmm_mmap_read_lock(mm);
	uhmm_mmap_write_lock(mm);
}

static void m_vm_call_holding_mmap_lock(void)
{
	world();
	uhmm_mmap_read_lock(mm);
	(void)uhmm_munmap(mm, BASE, PG);
}

static void m_cpu_access_holding_mmap_lock(void)
{
	char c;

	world();
	uhmm_mmap_write_lock(mm);
	(void)uhmm_cpu_read(mm, BASE, &c, 1);
}

static void m_fork_holding_mmap_lock(void)
{
	struct uhmm_mm *child;

	world();
	uhmm_mmap_read_lock(mm);
	(void)uhmm_mm_fork(mm, &child);
}

static void m_insert_holding_mmap_lock(void)
{
	static struct uhmm_mmu_interval_notifier sub;

	world();
	uhmm_mmap_read_lock(mm);
	/* the first interval notifier of an mm takes the mmap lock for write */
	(void)uhmm_mmu_interval_notifier_insert(&sub, mm, BASE, PG, &nop_ops);
}

static void m_dmirror_ioctl_holding_mmap_lock(void)
{
	struct uhmm_dmirror_device *dev;
	struct uhmm_dmirror *dm;
	static char buf[PG];
	struct uhmm_dmirror_cmd c = { .addr = BASE, .ptr = buf, .npages = 1 };

	world();
	CHILD_CHECK(uhmm_dmirror_device_create(sys, NULL, &dev) == 0);
	CHILD_CHECK(uhmm_dmirror_open(dev, mm, &dm) == 0);
	uhmm_mmap_read_lock(mm);
	(void)uhmm_dmirror_ioctl(dm, UHMM_DMIRROR_READ, &c);
}

static void m_migrate_vma_setup_unlocked(void)
{
	static unsigned long src[1], dst[1];
	struct uhmm_migrate_vma args = { .src = src, .dst = dst, .start = BASE, .end = BASE + PG,
					 .flags = UHMM_MIGRATE_VMA_SELECT_SYSTEM };

	world();
	uhmm_mmap_read_lock(mm);
	args.vma = uhmm_find_vma(mm, BASE);
	uhmm_mmap_read_unlock(mm);
	CHILD_CHECK(args.vma);
	(void)uhmm_migrate_vma_setup(&args);
}

static void m_range_fault_unlocked(void)
{
	static struct uhmm_mmu_interval_notifier sub;
	unsigned long pfns[1];
	struct uhmm_range range = { .notifier = &sub, .start = BASE, .end = BASE + PG, .hmm_pfns = pfns,
				    .default_flags = UHMM_PFN_REQ_FAULT };

	world();
	CHILD_CHECK(uhmm_mmu_interval_notifier_insert(&sub, mm, BASE, PG, &nop_ops) == 0);
	range.notifier_seq = uhmm_mmu_interval_read_begin(&sub);
	(void)uhmm_range_fault(&range);
}

static void m_make_exclusive_unlocked(void)
{
	struct uhmm_page *p;

	world();
	(void)uhmm_make_device_exclusive(mm, BASE, NULL, &p);
}

static void m_mmap_read_unlock_not_held(void)
{
	world();
	uhmm_mmap_read_unlock(mm);
}

static void m_mmap_write_unlock_not_held(void)
{
	world();
	uhmm_mmap_read_lock(mm);
	uhmm_mmap_read_unlock(mm);
	uhmm_mmap_write_unlock(mm);
}

/* Callbacks that break the rules. */
static struct uhmm_mmu_interval_notifier bad_isub;
static struct uhmm_mmu_notifier bad_csub, other_csub;

static bool remove_self(struct uhmm_mmu_interval_notifier *sub, const struct uhmm_mmu_notifier_range *range,
			unsigned long cur_seq)
{
	(void)range;
	(void)cur_seq;
	uhmm_mmu_interval_notifier_remove(sub);
	return true;
}

static bool register_other(struct uhmm_mmu_interval_notifier *sub, const struct uhmm_mmu_notifier_range *range,
			   unsigned long cur_seq)
{
	(void)sub;
	(void)cur_seq;
	other_csub.ops = &classic_nop_ops;
	(void)uhmm_mmu_notifier_register(&other_csub, range->mm);
	return true;
}

static bool read_memory(struct uhmm_mmu_interval_notifier *sub, const struct uhmm_mmu_notifier_range *range,
			unsigned long cur_seq)
{
	char c;

	(void)sub;
	(void)cur_seq;
	(void)uhmm_cpu_read(range->mm, BASE + PG, &c, 1);
	return true;
}

static int unregister_self_start(struct uhmm_mmu_notifier *sub, const struct uhmm_mmu_notifier_range *range)
{
	uhmm_mmu_notifier_unregister(sub, range->mm);
	return 0;
}

static void unregister_self_release(struct uhmm_mmu_notifier *sub, struct uhmm_mm *m)
{
	uhmm_mmu_notifier_unregister(sub, m);
}

static void with_interval_callback(bool (*cb)(struct uhmm_mmu_interval_notifier *,
					       const struct uhmm_mmu_notifier_range *, unsigned long))
{
	static struct uhmm_mmu_interval_notifier_ops ops;

	ops.invalidate = cb;
	world();
	CHILD_CHECK(uhmm_mmu_interval_notifier_insert(&bad_isub, mm, BASE, 8 * PG, &ops) == 0);
	(void)uhmm_munmap(mm, BASE, PG);	/* UNMAP, under the mmap write lock */
}

static void m_interval_remove_in_callback(void) { with_interval_callback(remove_self); }
static void m_register_in_callback(void) { with_interval_callback(register_other); }
static void m_cpu_access_in_callback(void) { with_interval_callback(read_memory); }

static void m_classic_unregister_in_callback(void)
{
	static const struct uhmm_mmu_notifier_ops ops = { .invalidate_range_start = unregister_self_start };

	world();
	bad_csub.ops = &ops;
	CHILD_CHECK(uhmm_mmu_notifier_register(&bad_csub, mm) == 0);
	(void)uhmm_munmap(mm, BASE, PG);
}

static void m_classic_unregister_in_release(void)
{
	static const struct uhmm_mmu_notifier_ops ops = { .release = unregister_self_release };

	world();
	bad_csub.ops = &ops;
	CHILD_CHECK(uhmm_mmu_notifier_register(&bad_csub, mm) == 0);
	uhmm_mm_put(mm);	/* exit calls release() */
}

/* ==================================================================== the table */
struct fcase {
	const char *name;
	void (*fn)(void);
	bool lockdep;			/* needs UHMM_DEBUG */
	const char *call, *misuse;
	const char *rule;		/* words the message must hold */
	const char *release;		/* what a release build does (lockdep cases) */
	const char *linux_;
};

#define CALLBACK_RULE "called from inside an mmu notifier callback"
#define RECURSIVE_RULE "taking the mmap_lock while holding the mmap_lock"
#define DEADLOCK "deadlocks"
#define NOCHECK "works by chance (racy), no check"

static const struct fcase cases[] = {
	/* ------------------------------------------------------------ every build */
	{ "unlock_unlocked_page", m_unlock_unlocked_page, false, "uhmm_unlock_page", "page not locked",
	  "unlock of a page that is not locked", NULL, "`VM_BUG_ON_FOLIO(!folio_test_locked)`" },
	{ "put_page_refcount_zero", m_put_page_refcount_zero, false, "uhmm_put_page", "page whose refcount is 0",
	  "more puts than gets", NULL, "`VM_BUG_ON_PAGE` (refcount underflow), else use after free" },
	{ "get_free_page", m_get_free_page, false, "uhmm_get_page", "a free page (refcount 0)", "get of a free page",
	  NULL, "`VM_BUG_ON_PAGE(page_ref_zero_or_close_to_overflow)`" },
	{ "unpin_unpinned", m_unpin_unpinned, false, "uhmm_unpin_user_pages", "a page not pinned (unpin twice)",
	  "unpin of a page that is not pinned", NULL, "refcount underflow (`VM_BUG_ON`), use after free" },
	{ "mm_get_after_exit", m_mm_get_after_exit, false, "uhmm_mm_get", "an address space after its last put",
	  "uhmm_mm_get on an address space that has exited", NULL, "`mmget` on `mm_users == 0`: use after free" },
	{ "mm_put_after_exit", m_mm_put_after_exit, false, "uhmm_mm_put", "more puts than gets",
	  "uhmm_mm_put on an address space that has already exited", NULL, "`mm_users` underflow: use after free" },
	{ "interval_remove_twice", m_interval_remove_twice, false, "uhmm_mmu_interval_notifier_remove",
	  "double remove", "not inserted (never, or removed twice)", NULL, "use after free / `mmdrop` underflow" },
	{ "interval_remove_never_inserted", m_interval_remove_never_inserted, false,
	  "uhmm_mmu_interval_notifier_remove", "a notifier never inserted", "not inserted", NULL,
	  "NULL dereference (oops)" },
	{ "read_begin_not_inserted", m_read_begin_not_inserted, false, "uhmm_mmu_interval_read_begin",
	  "a notifier removed (or never inserted)", "read_begin on a notifier that is not inserted", NULL,
	  "NULL dereference (oops)" },
	{ "classic_unregister_twice", m_classic_unregister_twice, false, "uhmm_mmu_notifier_unregister",
	  "double unregister", "not registered (unregistered twice?)", NULL, "`mmdrop` of a reference it does not own" },
	{ "classic_unregister_never_registered", m_classic_unregister_never_registered, false,
	  "uhmm_mmu_notifier_unregister", "a notifier never registered", "not registered on this mm", NULL,
	  "`mmdrop` of a reference it does not own" },
	{ "zone_device_page_init_in_use", m_zone_device_page_init_in_use, false, "uhmm_zone_device_page_init",
	  "a device page already in use", "device page that is in use", NULL,
	  "`lock_page` of a locked page: hangs" },
	{ "zone_device_page_init_ram_page", m_zone_device_page_init_ram_page, false, "uhmm_zone_device_page_init",
	  "a RAM page", "not a device page", NULL, "`page->pgmap` of a RAM page: garbage" },
	/* ---------------------------------------------------------- lockdep builds */
	{ "mmap_read_lock_recursive", m_mmap_read_lock_recursive, true, "uhmm_mmap_read_lock",
	  "taken again while held for read", "recursive, deadlocks against a waiting writer", NOCHECK,
	  "lockdep: possible recursive locking; deadlock with a waiting writer" },
	{ "mmap_write_lock_while_reading", m_mmap_write_lock_while_reading, true, "uhmm_mmap_write_lock",
	  "taken for write while held for read", RECURSIVE_RULE, DEADLOCK, "deadlock (lockdep splat)" },
	{ "vm_call_holding_mmap_lock", m_vm_call_holding_mmap_lock, true, "uhmm_munmap (any VM call)",
	  "with the mmap lock held", RECURSIVE_RULE, DEADLOCK, "deadlock (lockdep splat)" },
	{ "cpu_access_holding_mmap_lock", m_cpu_access_holding_mmap_lock, true, "uhmm_cpu_read / uhmm_cpu_write",
	  "with the mmap lock held for write", RECURSIVE_RULE, DEADLOCK, "deadlock (a fault under `mmap_lock`)" },
	{ "fork_holding_mmap_lock", m_fork_holding_mmap_lock, true, "uhmm_mm_fork", "with the mmap lock held",
	  RECURSIVE_RULE, DEADLOCK, "deadlock (lockdep splat)" },
	{ "insert_holding_mmap_lock", m_insert_holding_mmap_lock, true, "uhmm_mmu_interval_notifier_insert",
	  "first insert, with the mmap lock held (use `_insert_locked`)", RECURSIVE_RULE, DEADLOCK,
	  "deadlock (lockdep splat)" },
	{ "dmirror_ioctl_holding_mmap_lock", m_dmirror_ioctl_holding_mmap_lock, true, "uhmm_dmirror_ioctl",
	  "with the mmap lock held", RECURSIVE_RULE, "works by chance, deadlocks against a waiting writer",
	  "deadlock with a waiting writer (lockdep splat)" },
	{ "migrate_vma_setup_unlocked", m_migrate_vma_setup_unlocked, true, "uhmm_migrate_vma_setup",
	  "without the mmap lock", "uhmm_migrate_vma_setup must be called with the mmap_lock held", NOCHECK,
	  "`mmap_assert_locked` (lockdep), races with munmap" },
	{ "range_fault_unlocked", m_range_fault_unlocked, true, "uhmm_range_fault", "without the mmap lock",
	  "uhmm_range_fault must be called with the mmap_lock held", NOCHECK,
	  "`mmap_assert_locked` (lockdep), races with munmap" },
	{ "make_exclusive_unlocked", m_make_exclusive_unlocked, true, "uhmm_make_device_exclusive",
	  "without the mmap lock", "uhmm_make_device_exclusive must be called with the mmap_lock held", NOCHECK,
	  "`mmap_assert_locked` (lockdep)" },
	{ "mmap_read_unlock_not_held", m_mmap_read_unlock_not_held, true, "uhmm_mmap_read_unlock",
	  "a lock this thread does not hold", "uhmm_mmap_read_unlock must be called with the mmap_lock held",
	  "undefined (`pthread_rwlock_unlock` of an unlocked lock)", "lockdep: bad unlock balance" },
	{ "mmap_write_unlock_not_held", m_mmap_write_unlock_not_held, true, "uhmm_mmap_write_unlock",
	  "a lock this thread does not hold", "uhmm_mmap_write_unlock must be called with the mmap_lock held",
	  "undefined (`pthread_rwlock_unlock` of an unlocked lock)", "lockdep: bad unlock balance" },
	{ "interval_remove_in_callback", m_interval_remove_in_callback, true, "uhmm_mmu_interval_notifier_remove",
	  "from inside an invalidate callback", "uhmm_mmu_interval_notifier_remove " CALLBACK_RULE, DEADLOCK,
	  "deadlock: waits for the callback it runs in" },
	{ "classic_unregister_in_callback", m_classic_unregister_in_callback, true, "uhmm_mmu_notifier_unregister",
	  "from inside `invalidate_range_start`", "uhmm_mmu_notifier_unregister " CALLBACK_RULE, DEADLOCK,
	  "deadlock: `synchronize_srcu` inside the SRCU read side" },
	{ "classic_unregister_in_release", m_classic_unregister_in_release, true, "uhmm_mmu_notifier_unregister",
	  "from inside `release()` (at exit)", "uhmm_mmu_notifier_unregister " CALLBACK_RULE, DEADLOCK,
	  "deadlock: `synchronize_srcu` inside the SRCU read side" },
	{ "register_in_callback", m_register_in_callback, true, "uhmm_mmu_notifier_register",
	  "from inside a callback (munmap holds the mmap lock)", RECURSIVE_RULE, DEADLOCK,
	  "deadlock (lockdep splat)" },
	{ "cpu_access_in_callback", m_cpu_access_in_callback, true, "uhmm_cpu_read",
	  "from inside a callback (munmap holds the mmap lock)", RECURSIVE_RULE, DEADLOCK,
	  "deadlock (a fault under `mmap_lock`)" },
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* ------------------------------------------------------------- the parent */
static void run_case(void **state)
{
	const struct fcase *c = *state;
	char out[1 << 16];
	size_t n = 0;
	int pfd[2], status;
	pid_t pid;
	ssize_t k;

	if (c->lockdep && !HAVE_LOCKDEP) {
		print_message("skipped: '%s' is caught by lockdep, which only UHMM_DEBUG builds (debug, asan, tsan) "
			      "have; a release build %s\n", c->name, c->release);
		skip();
	}
	assert_int_equal(pipe(pfd), 0);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		dup2(pfd[1], STDERR_FILENO);
		close(pfd[1]);
		alarm(30);	/* a hang is a failure, not a stuck test */
		c->fn();
		fprintf(stderr, "MISUSE NOT CAUGHT: the call returned\n");
		_exit(0);
	}
	close(pfd[1]);
	while (n < sizeof(out) - 1 && (k = read(pfd[0], out + n, sizeof(out) - 1 - n)) != 0) {
		if (k < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		n += (size_t)k;
	}
	out[n] = '\0';
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
		fail_msg("%s: the child did not stop with SIGABRT (%s %d); its stderr:\n%s", c->name,
			 WIFSIGNALED(status) ? "signal" : "exit status",
			 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), out);
	if (!strstr(out, "broken rule") && !strstr(out, "BUG"))
		fail_msg("%s: no \"broken rule\" or \"BUG\" in the message:\n%s", c->name, out);
	if (!strstr(out, c->rule))
		fail_msg("%s: the message does not name the rule \"%s\":\n%s", c->name, c->rule, out);
	/* where: uhmm's file and line, and the caller's stack */
	if (!strstr(out, ".c:") && !strstr(out, "uhmm_mmap_"))
		fail_msg("%s: the message names no location:\n%s", c->name, out);
	if (!strstr(out, "caller's stack"))
		fail_msg("%s: no caller's stack in the message:\n%s", c->name, out);
	/* the first line, for the log */
	out[strcspn(out, "\n")] = '\0';
	print_message("child stopped as it should: %s\n", out);
}

static void print_catalogue(unsigned first)
{
	for (size_t i = 0; i < NCASES; i++) {
		const struct fcase *c = &cases[i];

		printf("| %zu | `%s` | %s | stops (SIGABRT): \"%s\"; ", first + i, c->call, c->misuse, c->rule);
		if (c->lockdep)
			printf("debug builds (lockdep); a release build %s", c->release);
		else
			printf("every build");
		printf(" | %s | `test_misuse_fatal.%s` |\n", c->linux_, c->name);
	}
}

int main(int argc, char **argv)
{
	struct CMUnitTest tests[NCASES];
	int r;

	if (argc > 1 && strcmp(argv[1], "--catalogue") == 0) {
		print_catalogue(argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 1);
		return 0;
	}
	for (size_t i = 0; i < NCASES; i++) {
		memset(&tests[i], 0, sizeof(tests[i]));
		tests[i].name = cases[i].name;
		tests[i].test_func = run_case;
		tests[i].initial_state = (void *)&cases[i];
	}
	r = testdev_run("test_misuse_fatal", tests, NCASES, argc, argv);
	/* one lockdep case run alone in a release build: tell ctest it was skipped */
	if (r == 0 && argc > 1 && !HAVE_LOCKDEP)
		for (size_t i = 0; i < NCASES; i++)
			if (cases[i].lockdep && strcmp(argv[1], cases[i].name) == 0)
				return 77;
	return r;
}
