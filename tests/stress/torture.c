/* SPDX-License-Identifier: MIT */
/* tests/stress/torture.c - a self-checking torture test of uhmm, in the spirit of rcutorture.
 *
 *   torture [--seconds N] [--threads N] [--seed S] [--stall S] [--coherent|--private] [--verbose] [--hold]
 *
 * One system, two root address spaces, two dmirror devices (device 0
 * private; device 1 coherent when the seed is odd, or as --coherent or
 * --private say), and --threads threads (default 4) running
 * random operations for --seconds (default 10): CPU reads and writes, device
 * reads and writes, migrations both ways, snapshots, device-exclusive,
 * mmap/munmap/mprotect/madvise/mremap, fork and exit of children, interval
 * notifier inserts and removes, hmm_range_fault, pinning, device RELEASE and
 * soft-dirty clearing. The seed is printed; --seed replays the same random
 * choices (not the same interleaving).
 *
 * What is checked, continuously and at the end:
 *
 * Data. Each thread owns a window of WIN pages in each root address space
 * (and in the children it forks) and shadows it exactly: permission, shared
 * or private, and every byte (private pages are copied on fork, shared ones
 * point at a shmem object). Every CPU or device read of its window must match
 * the shadow, and every call's result (0 or which errno) must be the one the
 * shadow predicts. Other threads may act on a window too, but only with
 * operations that must not change its contents ("neighbour" operations:
 * migrations to either device and back, snapshots, read pins; and device
 * RELEASE, fork and soft-dirty clearing, which touch everything), so the
 * shadow stays exact while real races happen. A shared window in each root
 * is a free-for-all for every thread, with structural checks only.
 *
 * Structure, through the public API: page-table entries (uhmm_mm_query_pte,
 * uhmm_mm_count_ptes) possible for the shadow (none where unmapped, writable
 * only where writing is allowed, zero page only over zeroes, device entries
 * only over private anonymous memory, no migration entry left behind), every
 * mapped page referenced with refcount >= mapcount > 0, CPU-addressable pages
 * (RAM, coherent, exclusive) holding the shadow's bytes, SNAPSHOT bytes
 * exactly those the CPU page table implies (a device page is "local" only on
 * its own device), CHECK_EXCLUSIVE's atomic entries backed by CPU exclusive
 * entries, uhmm's VMA layout matching the shadow, notifiers called for what
 * must invalidate them, pinned and hmm_range_fault'ed pages holding the
 * shadow's bytes. Those cross-checks run under two locks of this program:
 * a global rwlock that fork/RELEASE/soft-dirty take for writing, and a
 * per-owner rwlock that neighbours take for reading and the owner for writing.
 * At the end: every address space exits, the devices are destroyed, and
 * every RAM frame but the zero page and every device frame must be free.
 *
 * Liveness: a watchdog fails the run, printing every thread's current
 * operation, if a thread completes no operation for --stall seconds (default
 * 10 under sanitizers, 6 otherwise). Retry loops report their maxima.
 *
 * The summary lists, per operation kind, how many were done and how many
 * checked (they must be equal) and how many ended in an expected error.
 * Exit status 0 only if everything checked out.
 *
 * Under ThreadSanitizer, operations that would make the simulated CPU and
 * device touch the same bytes at once without a lock in common (CPU writes
 * vs device reads of one page: a hardware race, not a program bug, but TSan
 * cannot tell) are left out: no writes in the shared window, no neighbour
 * migration to a coherent device.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uhmm/dmirror.h>
#include <uhmm/uhmm.h>

#if defined(__SANITIZE_THREAD__)
#define TORTURE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TORTURE_TSAN 1
#endif
#endif
#ifndef TORTURE_TSAN
#define TORTURE_TSAN 0
#endif
#if defined(__SANITIZE_ADDRESS__) || TORTURE_TSAN
#define TORTURE_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TORTURE_SANITIZED 1
#endif
#endif
#ifndef TORTURE_SANITIZED
#define TORTURE_SANITIZED 0
#endif

#define PG UHMM_PAGE_SIZE
#define NDEV 2
#define NROOT 2
#define MAXCHILD 2
#define NREG (NROOT + MAXCHILD)
#define WIN 64			/* pages of a thread's window */
#define SLOT 16			/* mmap slots of the window */
#define MAXN 16			/* pages of one operation */
#define SHW 64			/* pages of the shared window */
#define MAXTHREADS 32
#define WIN_BASE 0x100000000UL
#define WIN_STRIDE (1UL << 28)
#define SHARED_BASE 0x80000000UL
#define LOGN 16
#define LOGLEN 160

/* ------------------------------------------------------------- options */

static struct {
	unsigned seconds, threads, stall;
	uint64_t seed;
	int dev1;		/* -1: by the seed; 0 private; 1 coherent */
	bool coherent, verbose, hold;
} opt = { 10, 4, 0, 0, -1, false, false, false };

/* ----------------------------------------------------------- op kinds */

enum kind {
	K_CPU_READ, K_CPU_WRITE, K_DEV_READ, K_DEV_WRITE, K_MIG_DEV, K_MIG_SYS, K_SNAPSHOT, K_EXCL, K_CHECK_EXCL,
	K_MMAP, K_MUNMAP, K_MPROTECT, K_MADVISE, K_MREMAP, K_PIN, K_RANGE_FAULT, K_NOTIFIER, K_CHECK, K_FORK,
	K_EXIT, K_RELEASE, K_SOFT_DIRTY, K_NEIGHBOUR, K_SHARED, NK
};

static const char *const kname[NK] = {
	"cpu_read", "cpu_write", "dev_read", "dev_write", "migrate_to_dev", "migrate_to_sys", "snapshot",
	"exclusive", "check_exclusive", "mmap", "munmap", "mprotect", "madvise", "mremap", "pin",
	"range_fault", "notifier", "check", "fork", "exit", "release", "soft_dirty", "neighbour", "shared",
};

/* relative frequencies */
static const unsigned weight[NK] = {
	[K_CPU_READ] = 12, [K_CPU_WRITE] = 12, [K_DEV_READ] = 8, [K_DEV_WRITE] = 8, [K_MIG_DEV] = 7,
	[K_MIG_SYS] = 5, [K_SNAPSHOT] = 4, [K_EXCL] = 3, [K_CHECK_EXCL] = 2, [K_MMAP] = 4, [K_MUNMAP] = 2,
	[K_MPROTECT] = 4, [K_MADVISE] = 3, [K_MREMAP] = 3, [K_PIN] = 2, [K_RANGE_FAULT] = 3, [K_NOTIFIER] = 2,
	[K_CHECK] = 3, [K_FORK] = 1, [K_EXIT] = 1, [K_RELEASE] = 1, [K_SOFT_DIRTY] = 1, [K_NEIGHBOUR] = 10,
	[K_SHARED] = 12,
};

/* -------------------------------------------------------------- model */

struct tobj {				/* a shmem object of a thread: its pages' bytes */
	unsigned char **pg;
	unsigned long cap;
	int refs;			/* shadow pages pointing at it; 0 = free slot */
};

struct mpage {
	signed char prot;		/* -1 unmapped, else PROT_NONE / PROT_READ / PROT_READ|PROT_WRITE */
	bool shared;
	int obj;
	unsigned long idx;
	unsigned char *data;		/* private bytes, NULL = zero */
};

struct region {
	bool live;
	struct uhmm_mm *mm;
	struct uhmm_dmirror *file[NDEV];	/* roots: the shared root files; children: their own */
	struct mpage pg[WIN];
};

struct tnot {				/* a thread's interval notifier over its window of a root */
	struct uhmm_mmu_interval_notifier n;
	int tid, root;
	bool inserted;
	unsigned long start, end;
	atomic_ulong count;
};

struct thread {
	int id;
	uint64_t rng;
	pthread_t th;
	struct region reg[NREG];
	struct tobj *objs;
	int nobjs;
	/* W: the owner's exact cross-checks; R: neighbours acting on the window */
	pthread_rwlock_t check_lock;
	struct uhmm_dmirror *nfile[NDEV][NROOT];	/* this thread's files, for neighbour operations */
	struct tnot nt[NROOT];

	/* progress, read by the watchdog */
	atomic_ulong last_ns;
	atomic_int cur_kind, cur_reg, cur_p0, cur_n, finished;
	atomic_ulong nops;

	/* counters */
	unsigned long done[NK], checked[NK], experr[NK];
	unsigned long max_faults, max_rf_tries, ebusy, max_ebusy_row, fork_enomem, excl_raced, neighbour_ops,
		shared_ops, final_pages;
	char log[LOGN][LOGLEN];
	unsigned logi;
};

static struct uhmm_system *sys;
static struct uhmm_dmirror_device *dev[NDEV];
static struct uhmm_mm *root[NROOT];
static struct uhmm_dmirror *rootfile[NDEV][NROOT];
static struct thread threads[MAXTHREADS];
static pthread_rwlock_t struct_lock;	/* W: fork of a root, RELEASE, soft-dirty; R: cross-checks */
static atomic_int stop;
static atomic_int failing;
static atomic_ulong main_progress_ns;
static atomic_int main_phase;		/* 0 running, 1 final checks, 2 teardown */
static const unsigned char zero_page[PG];
static __thread struct thread *self;

/* ------------------------------------------------------------ helpers */

/* The end of a failed run: exit, or with --hold wait for a debugger. */
__attribute__((noreturn)) static void die(void)
{
	fflush(stderr);
	if (opt.hold) {
		fprintf(stderr, "torture: --hold: pid %d waits for a debugger (gdb -p %d)\n", (int)getpid(),
			(int)getpid());
		for (;;)
			pause();
	}
	_exit(1);
}

static unsigned long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long)ts.tv_sec * 1000000000UL + (unsigned long)ts.tv_nsec;
}

static uint64_t rnd(struct thread *t)
{
	uint64_t z = (t->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned below(struct thread *t, unsigned n)
{
	return n ? (unsigned)(rnd(t) % n) : 0;
}

static const char *ename(int r)
{
	static __thread char buf[24];

	switch (r) {
	case 0: return "0";
	case -EINVAL: return "-EINVAL";
	case -EFAULT: return "-EFAULT";
	case -ENOMEM: return "-ENOMEM";
	case -EPERM: return "-EPERM";
	case -ENOENT: return "-ENOENT";
	case -EBUSY: return "-EBUSY";
	case -EEXIST: return "-EEXIST";
	default:
		snprintf(buf, sizeof(buf), "%d", r);
		return buf;
	}
}

static const char *pname(int prot)
{
	switch (prot) {
	case -1: return "unmapped";
	case PROT_NONE: return "NONE";
	case PROT_READ: return "R";
	case PROT_READ | PROT_WRITE: return "RW";
	default: return "?";
	}
}

/* PROT_NONE 1/8, read-only 2/8, read-write 5/8 */
static int rand_prot(struct thread *t)
{
	unsigned x = below(t, 8);

	return x == 0 ? PROT_NONE : x < 3 ? PROT_READ : PROT_READ | PROT_WRITE;
}

static const char *ptekind(enum uhmm_pte_kind k)
{
	static const char *n[] = { "NONE", "PRESENT", "ZERO", "DEVICE_PRIVATE", "DEVICE_EXCLUSIVE", "MIGRATION" };

	return (unsigned)k < 6 ? n[k] : "?";
}

static void dump_threads(void)
{
	unsigned long now = now_ns();
	unsigned i;

	for (i = 0; i < opt.threads; i++) {
		struct thread *t = &threads[i];

		fprintf(stderr, "  thread %u: %s, op %s region %d pages [%d,+%d), %lu ops, last progress %.3f s ago\n",
			i, atomic_load(&t->finished) ? "finished" : "running", kname[atomic_load(&t->cur_kind)],
			atomic_load(&t->cur_reg), atomic_load(&t->cur_p0), atomic_load(&t->cur_n),
			atomic_load(&t->nops), (double)(now - atomic_load(&t->last_ns)) / 1e9);
	}
}

__attribute__((format(printf, 1, 2), noreturn)) static void fail(const char *fmt, ...)
{
	va_list ap;
	unsigned k;

	if (atomic_exchange(&failing, 1)) {
		/* another thread is reporting: let it finish */
		for (;;)
			pause();
	}
	fprintf(stderr, "\ntorture: FAILED (seed %" PRIu64 ")", opt.seed);
	if (self)
		fprintf(stderr, " in thread %d", self->id);
	fprintf(stderr, ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	if (self) {
		fprintf(stderr, "  last operations of thread %d, oldest first:\n", self->id);
		for (k = 0; k < LOGN; k++) {
			const char *l = self->log[(self->logi + k) % LOGN];

			if (*l)
				fprintf(stderr, "    %s\n", l);
		}
	}
	fprintf(stderr, "  threads:\n");
	dump_threads();
	fprintf(stderr, "torture: reproduce the choices with --seed %" PRIu64 "\n", opt.seed);
	die();
}

__attribute__((format(printf, 2, 3))) static void tlog(struct thread *t, const char *fmt, ...)
{
	va_list ap;
	char *l = t->log[t->logi++ % LOGN];

	va_start(ap, fmt);
	vsnprintf(l, LOGLEN, fmt, ap);
	va_end(ap);
	if (opt.verbose)
		fprintf(stderr, "[%d] %s\n", t->id, l);
}

/* Append the result to the current log line. */
static void tres(struct thread *t, int r)
{
	char *l = t->log[(t->logi + LOGN - 1) % LOGN];
	size_t n = strlen(l);

	snprintf(l + n, LOGLEN - n, " -> %s", ename(r));
}

static void expect(const char *what, int got, int want)
{
	tres(self, got);
	if (got != want)
		fail("%s returned %s, the shadow expects %s", what, ename(got), ename(want));
}

static bool one_of(int r, const int *set, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (r == set[i])
			return true;
	return false;
}

#define EXPECT_ONE_OF(what, got, ...)                                                         \
	do {                                                                                  \
		const int _set[] = { __VA_ARGS__ };                                           \
		tres(self, (got));                                                            \
		if (!one_of((got), _set, (int)(sizeof(_set) / sizeof(_set[0]))))             \
			fail("%s returned %s, not one of the expected results", what, ename(got)); \
	} while (0)

static void wrlock(pthread_rwlock_t *l)
{
	if (pthread_rwlock_wrlock(l))
		abort();
}

static void rdlock(pthread_rwlock_t *l)
{
	if (pthread_rwlock_rdlock(l))
		abort();
}

static void rwunlock(pthread_rwlock_t *l)
{
	if (pthread_rwlock_unlock(l))
		abort();
}

static void rwlock_init(pthread_rwlock_t *l)
{
	pthread_rwlockattr_t a;

	pthread_rwlockattr_init(&a);
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	if (pthread_rwlock_init(l, &a))
		abort();
	pthread_rwlockattr_destroy(&a);
}

static void *xcalloc(size_t n, size_t s)
{
	void *p = calloc(n, s);

	if (!p) {
		fprintf(stderr, "torture: out of memory\n");
		exit(2);
	}
	return p;
}

static unsigned char pattern(unsigned long addr, unsigned seed)
{
	uint32_t z = (uint32_t)(addr * 2654435761u) ^ (seed * 0x9e3779b9u);

	z ^= z >> 15;
	z *= 0x85ebca6bu;
	z ^= z >> 13;
	return (unsigned char)z;
}

/* ------------------------------------------------------------ shadow */

static unsigned long wbase(int tid)
{
	return WIN_BASE + (unsigned long)tid * WIN_STRIDE;
}

static unsigned long A(struct thread *t, int p)
{
	return wbase(t->id) + (unsigned long)p * PG;
}

static int obj_new(struct thread *t)
{
	int i;

	for (i = 0; i < t->nobjs; i++)
		if (!t->objs[i].refs)
			break;
	if (i == t->nobjs) {
		struct tobj *n = realloc(t->objs, (size_t)(t->nobjs + 16) * sizeof(*n));

		if (!n)
			abort();
		memset(n + t->nobjs, 0, 16 * sizeof(*n));
		t->objs = n;
		t->nobjs += 16;
	}
	memset(&t->objs[i], 0, sizeof(t->objs[i]));
	return i;
}

static void obj_put(struct thread *t, int o)
{
	struct tobj *ob = &t->objs[o];
	unsigned long k;

	if (--ob->refs > 0)
		return;
	for (k = 0; k < ob->cap; k++)
		free(ob->pg[k]);
	free(ob->pg);
	memset(ob, 0, sizeof(*ob));
}

static unsigned char *obj_page(struct thread *t, int o, unsigned long idx, bool alloc)
{
	struct tobj *ob = &t->objs[o];

	if (idx >= ob->cap) {
		unsigned long ncap = ob->cap ? ob->cap : 16;
		unsigned char **n;

		if (!alloc)
			return NULL;
		while (ncap <= idx)
			ncap *= 2;
		n = realloc(ob->pg, ncap * sizeof(*n));
		if (!n)
			abort();
		memset(n + ob->cap, 0, (ncap - ob->cap) * sizeof(*n));
		ob->pg = n;
		ob->cap = ncap;
	}
	if (!ob->pg[idx] && alloc)
		ob->pg[idx] = xcalloc(1, PG);
	return ob->pg[idx];
}

static const unsigned char *mbytes(struct thread *t, struct region *rg, int p)
{
	struct mpage *mp = &rg->pg[p];
	const unsigned char *b = mp->shared ? obj_page(t, mp->obj, mp->idx, false) : mp->data;

	return b ? b : zero_page;
}

static unsigned char *mbytes_w(struct thread *t, struct region *rg, int p)
{
	struct mpage *mp = &rg->pg[p];

	if (mp->shared)
		return obj_page(t, mp->obj, mp->idx, true);
	if (!mp->data)
		mp->data = xcalloc(1, PG);
	return mp->data;
}

static void mpage_unmap(struct thread *t, struct mpage *mp)
{
	if (mp->shared && mp->prot >= 0)
		obj_put(t, mp->obj);
	free(mp->data);
	memset(mp, 0, sizeof(*mp));
	mp->prot = -1;
}

/* A fresh page of @prot; shared pages point at (@obj, @idx) and hold a reference. */
static void mpage_new(struct thread *t, struct mpage *mp, int prot, bool shared, int obj, unsigned long idx)
{
	mpage_unmap(t, mp);
	mp->prot = (signed char)prot;
	mp->shared = shared;
	if (shared) {
		mp->obj = obj;
		mp->idx = idx;
		t->objs[obj].refs++;
	}
}

static void region_clear(struct thread *t, struct region *rg)
{
	int p;

	for (p = 0; p < WIN; p++)
		mpage_unmap(t, &rg->pg[p]);
}

/* ------------------------------------------------------- uhmm helpers */

static void *dev_owner(int d)
{
	return uhmm_dmirror_device_owner(dev[d]);
}

static int page_dev(struct uhmm_page *page)
{
	struct uhmm_dev_pagemap *pg;
	int d;

	if (!page || !uhmm_is_zone_device_page(page))
		return -1;
	pg = uhmm_page_pgmap(page);
	for (d = 0; d < NDEV; d++)
		if (pg && pg->owner == dev_owner(d))
			return d;
	return -1;
}

static void query(struct region *rg, unsigned long addr, struct uhmm_pte_info *in)
{
	int r = uhmm_mm_query_pte(rg->mm, addr, in);

	if (r)
		fail("uhmm_mm_query_pte(%#lx) = %s", addr, ename(r));
}

static int ioctl_(struct uhmm_dmirror *f, unsigned req, unsigned long addr, int n, void *buf,
		  struct uhmm_dmirror_cmd *out)
{
	struct uhmm_dmirror_cmd cmd = { .addr = addr, .ptr = buf, .npages = (unsigned long)n };
	int r = uhmm_dmirror_ioctl(f, req, &cmd);

	if (out)
		*out = cmd;
	return r;
}

/* A dmirror request on our own window: -EBUSY (invalidations kept colliding
 * for a second) is retried and counted, and is no progress for the watchdog;
 * the fault rounds are recorded. */
static int ioctl_own(struct thread *t, struct uhmm_dmirror *f, unsigned req, unsigned long addr, int n, void *buf)
{
	struct uhmm_dmirror_cmd cmd;
	unsigned long row = 0;
	int r;

	for (;;) {
		r = ioctl_(f, req, addr, n, buf, &cmd);
		if (r != -EBUSY)
			break;
		t->ebusy++;
		if (++row > t->max_ebusy_row)
			t->max_ebusy_row = row;
	}
	if (!r && cmd.faults > t->max_faults)
		t->max_faults = cmd.faults;
	return r;
}

/*
 * Exact check of page @p of a region of thread @t (struct_lock read and the
 * owner's check_lock write held: nobody else changes these entries): the
 * entry is possible for the shadow, the page is referenced, and a
 * CPU-addressable page holds the shadow's bytes.
 */
static void check_page(struct thread *t, struct region *rg, int p, const char *when)
{
	struct mpage *mp = &rg->pg[p];
	struct uhmm_pte_info in;
	struct uhmm_page *page = NULL;
	const unsigned char *bytes = NULL;

	query(rg, A(t, p), &in);
	if (in.kind != UHMM_PTE_NONE)
		page = uhmm_pfn_to_page(sys, in.pfn);
	if (mp->prot < 0) {
		if (in.kind != UHMM_PTE_NONE)
			fail("%s: page %d is unmapped in the shadow but its PTE is %s", when, p, ptekind(in.kind));
		return;
	}
	if (in.write && !(mp->prot & PROT_WRITE))
		fail("%s: page %d: %s PTE is writable, the mapping is %s", when, p, ptekind(in.kind),
		     pname(mp->prot));
	switch (in.kind) {
	case UHMM_PTE_NONE:
		return;
	case UHMM_PTE_ZERO:
		if (mp->shared || in.write)
			fail("%s: page %d: zero page mapped %s in a %s mapping", when, p, in.write ? "writable" : "",
			     mp->shared ? "shared" : "private");
		bytes = zero_page;
		break;
	case UHMM_PTE_PRESENT:
		if (!page)
			fail("%s: page %d: present PTE without a page (pfn %#lx)", when, p, in.pfn);
		if (in.refcount <= 0 || in.mapcount <= 0 || in.refcount < in.mapcount)
			fail("%s: page %d: mapped page with refcount %d, mapcount %d", when, p, in.refcount,
			     in.mapcount);
		if (uhmm_is_zone_device_page(page) &&
		    (!uhmm_is_device_coherent_page(page) || page_dev(page) != 1 || !opt.coherent || mp->shared))
			fail("%s: page %d: present PTE maps a device page that is not ours/coherent/anonymous", when,
			     p);
		bytes = uhmm_page_address(page);
		break;
	case UHMM_PTE_DEVICE_PRIVATE:
		if (!page || !uhmm_is_device_private_page(page) || page_dev(page) < 0 ||
		    (page_dev(page) == 1 && opt.coherent) || mp->shared)
			fail("%s: page %d: device-private entry that is not a private page of ours on anonymous memory",
			     when, p);
		if (in.refcount <= 0 || in.mapcount <= 0 || in.refcount < in.mapcount)
			fail("%s: page %d: device-private page with refcount %d, mapcount %d", when, p, in.refcount,
			     in.mapcount);
		return;
	case UHMM_PTE_DEVICE_EXCLUSIVE:
		if (!page || uhmm_is_zone_device_page(page) || uhmm_is_zero_page(page) || mp->shared)
			fail("%s: page %d: device-exclusive entry on something else than anonymous RAM", when, p);
		if (in.refcount <= 0)
			fail("%s: page %d: device-exclusive page with refcount %d", when, p, in.refcount);
		bytes = uhmm_page_address(page);
		break;
	default: {
		/* a migration in flight holds the page locked; a stale entry does not */
		bool locked = page && uhmm_page_locked(page);
		struct uhmm_pte_info later;

		usleep(200 * 1000);
		query(rg, A(t, p), &later);
		fail("%s: page %d: %s entry (pfn %#lx, page %s, refcount %d, mapcount %d), 200 ms later %s", when, p,
		     ptekind(in.kind), in.pfn, !page ? "none" : locked ? "locked" : "unlocked", in.refcount,
		     in.mapcount, ptekind(later.kind));
	}
	}
	if (!bytes)
		fail("%s: page %d: %s page without an address", when, p, ptekind(in.kind));
	if (memcmp(bytes, mbytes(t, rg, p), PG)) {
		size_t i;

		for (i = 0; i < PG && bytes[i] == mbytes(t, rg, p)[i]; i++)
			;
		fail("%s: page %d (%s PTE, %s %s) byte %zu is %#x, the shadow has %#x", when, p, ptekind(in.kind),
		     mp->shared ? "shared" : "private", pname(mp->prot), i, bytes[i], mbytes(t, rg, p)[i]);
	}
}

static void check_region_locked(struct thread *t, struct region *rg, const char *when)
{
	unsigned long counts[6], total = 0;
	int p, k, r;

	for (p = 0; p < WIN; p++)
		check_page(t, rg, p, when);
	r = uhmm_mm_count_ptes(rg->mm, A(t, 0), A(t, WIN), counts);
	if (r)
		fail("%s: uhmm_mm_count_ptes = %s", when, ename(r));
	for (k = 0; k < 6; k++)
		total += counts[k];
	if (total != WIN || counts[UHMM_PTE_MIGRATION])
		fail("%s: uhmm_mm_count_ptes: %lu entries, %lu migration", when, total, counts[UHMM_PTE_MIGRATION]);
}

static void cross_lock(struct thread *t)
{
	rdlock(&struct_lock);
	wrlock(&t->check_lock);
}

static void cross_unlock(struct thread *t)
{
	rwunlock(&t->check_lock);
	rwunlock(&struct_lock);
}

/* ------------------------------------------------------------ notifier */

static bool tnot_invalidate(struct uhmm_mmu_interval_notifier *sub, const struct uhmm_mmu_notifier_range *range,
			    unsigned long cur_seq)
{
	struct tnot *n = (struct tnot *)((char *)sub - offsetof(struct tnot, n));

	if (range->start >= range->end || range->end <= n->start || range->start >= n->end)
		fail("notifier of thread %d over [%#lx, %#lx) called for [%#lx, %#lx)", n->tid, n->start, n->end,
		     range->start, range->end);
	if ((unsigned)range->event >= UHMM_MMU_NOTIFY_NR_EVENTS)
		fail("notifier of thread %d: event %d", n->tid, (int)range->event);
	if (range->mm != root[n->root])
		fail("notifier of thread %d: range of another address space", n->tid);
	if (range->event == UHMM_MMU_NOTIFY_MIGRATE) {
		if (range->owner != dev_owner(0) && range->owner != dev_owner(1))
			fail("notifier of thread %d: MIGRATE with owner %p", n->tid, range->owner);
	} else if (range->event != UHMM_MMU_NOTIFY_EXCLUSIVE && range->owner) {
		fail("notifier of thread %d: %s with owner %p", n->tid, uhmm_mmu_notifier_event_name(range->event),
		     range->owner);
	}
	uhmm_mmu_interval_set_seq(sub, cur_seq);
	atomic_fetch_add(&n->count, 1);
	return true;
}

static const struct uhmm_mmu_interval_notifier_ops tnot_ops = { tnot_invalidate };

/* Our notifier on root @ri overlaps a mapped page of [p0, p0+n). */
static bool tnot_covers(struct thread *t, int ri, int p0, int n)
{
	int p;

	if (ri >= NROOT || !t->nt[ri].inserted)
		return false;
	for (p = p0; p < p0 + n; p++)
		if (t->reg[ri].pg[p].prot >= 0 && A(t, p) >= t->nt[ri].start && A(t, p) < t->nt[ri].end)
			return true;
	return false;
}

/*
 * The callback count before an operation that must invalidate the notifier.
 * As a driver would, begin a read section first: a notifier inserted while
 * other threads' invalidations run waits on the deferred list (as in Linux)
 * and misses callbacks until they end, which read_begin waits for.
 */
static unsigned long tnot_count(struct thread *t, int ri)
{
	if (ri >= NROOT)
		return 0;
	if (t->nt[ri].inserted)
		(void)uhmm_mmu_interval_read_begin(&t->nt[ri].n);
	return atomic_load(&t->nt[ri].count);
}

static void tnot_expect(struct thread *t, int ri, unsigned long before, bool must, const char *what)
{
	if (must && tnot_count(t, ri) == before)
		fail("%s: our interval notifier on root %d was not called", what, ri);
}

/* ------------------------------------------------------------ own ops */

struct opctx {
	struct thread *t;
	int ri;			/* region index */
	struct region *rg;
	int p0, n;		/* page range */
	int d;			/* device */
};

static int first_state(struct region *rg, int p0, int n, bool mapped)
{
	int p;

	for (p = p0; p < p0 + n; p++)
		if ((rg->pg[p].prot >= 0) == mapped)
			return p;
	return -1;
}

static int cpu_want(struct thread *t, struct region *rg, unsigned long addr, size_t len, int need)
{
	int p;

	for (p = (int)((addr - A(t, 0)) / PG); A(t, p) < addr + len; p++)
		if (rg->pg[p].prot < 0 || (rg->pg[p].prot & need) != need)
			return -EFAULT;
	return 0;
}

/* A byte range inside the operation's pages: any offset, any length. */
static void byte_range(struct opctx *c, unsigned long *addr, size_t *len)
{
	struct thread *t = c->t;
	unsigned long off = below(t, 256) * 16;
	size_t room = (size_t)c->n * PG - off;

	*addr = A(t, c->p0) + off;
	*len = 1 + below(t, (unsigned)room);
}

static void op_cpu_read(struct opctx *c)
{
	struct thread *t = c->t;
	unsigned long addr;
	size_t len, i;
	unsigned char *buf;
	int r, want;

	byte_range(c, &addr, &len);
	tlog(t, "cpu_read region %d [%#lx,+%zu)", c->ri, addr, len);
	want = cpu_want(t, c->rg, addr, len, PROT_READ);
	buf = xcalloc(1, len);
	r = uhmm_cpu_read(c->rg->mm, addr, buf, len);
	expect("uhmm_cpu_read", r, want);
	if (r)
		t->experr[K_CPU_READ]++;
	for (i = 0; !r && i < len; i++) {
		unsigned long a = addr + i;
		int p = (int)((a - A(t, 0)) / PG);

		if (buf[i] != mbytes(t, c->rg, p)[a % PG])
			fail("uhmm_cpu_read at %#lx (page %d): %#x, the shadow has %#x", a, p, buf[i],
			     mbytes(t, c->rg, p)[a % PG]);
	}
	free(buf);
}

static void op_cpu_write(struct opctx *c)
{
	struct thread *t = c->t;
	unsigned long addr;
	size_t len, i;
	unsigned char *buf;
	unsigned seed = (unsigned)rnd(t);
	int r, want;

	byte_range(c, &addr, &len);
	tlog(t, "cpu_write region %d [%#lx,+%zu)", c->ri, addr, len);
	want = cpu_want(t, c->rg, addr, len, PROT_READ | PROT_WRITE);
	buf = xcalloc(1, len);
	for (i = 0; i < len; i++)
		buf[i] = pattern(addr + i, seed);
	r = uhmm_cpu_write(c->rg->mm, addr, buf, len);
	expect("uhmm_cpu_write", r, want);
	if (r)
		t->experr[K_CPU_WRITE]++;
	for (i = 0; !r && i < len; i++) {
		unsigned long a = addr + i;

		mbytes_w(t, c->rg, (int)((a - A(t, 0)) / PG))[a % PG] = buf[i];
	}
	free(buf);
}

static void compare_pages(struct opctx *c, const char *what, const unsigned char *buf)
{
	int i;

	for (i = 0; i < c->n; i++)
		if (memcmp(buf + (size_t)i * PG, mbytes(c->t, c->rg, c->p0 + i), PG)) {
			size_t k;

			for (k = 0; k < PG && buf[(size_t)i * PG + k] == mbytes(c->t, c->rg, c->p0 + i)[k]; k++)
				;
			fail("%s (device %d): page %d byte %zu is %#x, the shadow has %#x", what, c->d, c->p0 + i, k,
			     buf[(size_t)i * PG + k], mbytes(c->t, c->rg, c->p0 + i)[k]);
		}
}

/*
 * The result of a device access of [p0, p0+n): the first page without a
 * usable VMA decides (none or PROT_NONE -EFAULT, read-only when writing
 * -EPERM), except that hmm_range_fault passes over a read-only page that is
 * a device-private page of the same device (as Linux does) and dmirror then
 * answers -EPERM only if nothing worse follows. Neighbours move our pages
 * between devices at any time, so such a page may give either: *alt gets the
 * second acceptable result (or the first), *bad the first page that may not
 * have been written.
 */
static int dev_want(struct opctx *c, bool write, int *alt, int *bad)
{
	struct region *rg = c->rg;
	int p, first_ro = -1;
	bool ownable = !(c->d == 1 && opt.coherent);

	for (p = c->p0; p < c->p0 + c->n; p++) {
		int prot = rg->pg[p].prot;

		if (prot < 0 || !(prot & PROT_READ)) {
			*bad = first_ro >= 0 ? first_ro : p;
			*alt = first_ro >= 0 ? -EPERM : -EFAULT;
			return -EFAULT;
		}
		if (write && !(prot & PROT_WRITE)) {
			if (!ownable || rg->pg[p].shared) {
				*bad = first_ro >= 0 ? first_ro : p;
				*alt = -EPERM;
				return -EPERM;
			}
			if (first_ro < 0)
				first_ro = p;
		}
	}
	*bad = first_ro >= 0 ? first_ro : c->p0 + c->n;
	*alt = first_ro >= 0 ? -EPERM : 0;
	return *alt;
}

static void op_dev_read(struct opctx *c)
{
	struct thread *t = c->t;
	unsigned char *buf = xcalloc((size_t)c->n, PG);
	int alt, bad, want = dev_want(c, false, &alt, &bad), r;

	tlog(t, "dev_read dev %d region %d pages [%d,+%d)", c->d, c->ri, c->p0, c->n);
	r = ioctl_own(t, c->rg->file[c->d], UHMM_DMIRROR_READ, A(t, c->p0), c->n, buf);
	expect("dmirror READ", r, want);
	if (r)
		t->experr[K_DEV_READ]++;
	else
		compare_pages(c, "dmirror READ", buf);
	free(buf);
}

/* The bytes of a readable page of ours, through a CPU read. */
static void read_page(struct opctx *c, int p, unsigned char *buf)
{
	int r = uhmm_cpu_read(c->rg->mm, A(c->t, p), buf, PG);

	if (r)
		fail("uhmm_cpu_read of readable page %d = %s", p, ename(r));
}

static void op_dev_write(struct opctx *c)
{
	struct thread *t = c->t;
	size_t len = (size_t)c->n * PG, k;
	unsigned char *buf = xcalloc(1, len), *now = xcalloc(1, PG);
	unsigned seed = (unsigned)rnd(t);
	int alt, bad, want = dev_want(c, true, &alt, &bad), r, i;
	bool newer = true;

	for (k = 0; k < len; k++)
		buf[k] = pattern(A(t, c->p0) + k, seed);
	tlog(t, "dev_write dev %d region %d pages [%d,+%d)", c->d, c->ri, c->p0, c->n);
	r = ioctl_own(t, c->rg->file[c->d], UHMM_DMIRROR_WRITE, A(t, c->p0), c->n, buf);
	if (alt != want)
		EXPECT_ONE_OF("dmirror WRITE", r, want, alt);
	else
		expect("dmirror WRITE", r, want);
	if (!r) {
		for (i = 0; i < c->n; i++)
			memcpy(mbytes_w(t, c->rg, c->p0 + i), buf + (size_t)i * PG, PG);
	} else {
		/* dmirror writes what its page table already maps before it faults
		 * the rest: a prefix of the pages before @bad is new, page by page */
		t->experr[K_DEV_WRITE]++;
		for (i = 0; c->p0 + i < bad; i++) {
			const unsigned char *nw = buf + (size_t)i * PG;

			read_page(c, c->p0 + i, now);
			if (newer && !memcmp(now, nw, PG)) {
				memcpy(mbytes_w(t, c->rg, c->p0 + i), nw, PG);
				continue;
			}
			newer = false;
			if (memcmp(now, mbytes(t, c->rg, c->p0 + i), PG))
				fail("failed dmirror WRITE: page %d holds neither its old bytes nor (after an unwritten "
				     "page) the new ones", c->p0 + i);
		}
	}
	free(buf);
	free(now);
}

static int migrate_want(struct region *rg, int p0, int n)
{
	int p;

	for (p = p0; p < p0 + n; p++)
		if (rg->pg[p].prot < 0 || !(rg->pg[p].prot & PROT_READ))
			return -EINVAL;
	return 0;
}

static void op_mig_dev(struct opctx *c)
{
	struct thread *t = c->t;
	unsigned char *buf = xcalloc((size_t)c->n, PG);
	int want = migrate_want(c->rg, c->p0, c->n), r;
	unsigned long before = tnot_count(t, c->ri);

	tlog(t, "migrate_to_dev dev %d region %d pages [%d,+%d)", c->d, c->ri, c->p0, c->n);
	r = ioctl_(c->rg->file[c->d], UHMM_DMIRROR_MIGRATE_TO_DEV, A(t, c->p0), c->n, buf, NULL);
	/* -ENOENT: a page is not in the device page table afterwards (shared
	 * memory, on the other device, pinned or locked by a neighbour) */
	if (want)
		expect("dmirror MIGRATE_TO_DEV", r, want);
	else
		EXPECT_ONE_OF("dmirror MIGRATE_TO_DEV", r, 0, -ENOENT);
	if (r)
		t->experr[K_MIG_DEV]++;
	else
		compare_pages(c, "dmirror MIGRATE_TO_DEV read-back", buf);
	tnot_expect(t, c->ri, before, !want && tnot_covers(t, c->ri, c->p0, 1), "MIGRATE_TO_DEV");
	free(buf);
}

static void op_mig_sys(struct opctx *c)
{
	struct thread *t = c->t;
	int want = migrate_want(c->rg, c->p0, c->n), r;
	unsigned long before = tnot_count(t, c->ri);

	tlog(t, "migrate_to_sys dev %d region %d pages [%d,+%d)", c->d, c->ri, c->p0, c->n);
	r = ioctl_(c->rg->file[c->d], UHMM_DMIRROR_MIGRATE_TO_SYS, A(t, c->p0), c->n, NULL, NULL);
	expect("dmirror MIGRATE_TO_SYS", r, want);
	if (r)
		t->experr[K_MIG_SYS]++;
	tnot_expect(t, c->ri, before, !want && tnot_covers(t, c->ri, c->p0, 1), "MIGRATE_TO_SYS");
}

/* The SNAPSHOT byte the CPU page table implies for page @p on device @d. */
static unsigned char snap_expected(struct opctx *c, int p)
{
	struct mpage *mp = &c->rg->pg[p];
	struct uhmm_pte_info in;
	struct uhmm_page *page;

	if (mp->prot < 0 || !(mp->prot & PROT_READ))
		return UHMM_DMIRROR_PROT_ERROR;
	query(c->rg, A(c->t, p), &in);
	page = in.kind != UHMM_PTE_NONE ? uhmm_pfn_to_page(sys, in.pfn) : NULL;
	switch (in.kind) {
	case UHMM_PTE_ZERO:
		return UHMM_DMIRROR_PROT_ZERO | UHMM_DMIRROR_PROT_READ;
	case UHMM_PTE_PRESENT: {
		unsigned char b = in.write ? UHMM_DMIRROR_PROT_WRITE : UHMM_DMIRROR_PROT_READ;

		if (page && uhmm_is_device_coherent_page(page))
			b |= page_dev(page) == c->d ? UHMM_DMIRROR_PROT_DEV_COHERENT_LOCAL
						    : UHMM_DMIRROR_PROT_DEV_COHERENT_REMOTE;
		return b;
	}
	case UHMM_PTE_DEVICE_PRIVATE:
		if (page_dev(page) != c->d)
			return UHMM_DMIRROR_PROT_NONE;
		return UHMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL |
		       (in.write ? UHMM_DMIRROR_PROT_WRITE : UHMM_DMIRROR_PROT_READ);
	default:
		return UHMM_DMIRROR_PROT_NONE;
	}
}

static void op_snapshot(struct opctx *c)
{
	struct thread *t = c->t;
	unsigned char perm[MAXN];
	int r, i;

	tlog(t, "snapshot dev %d region %d pages [%d,+%d)", c->d, c->ri, c->p0, c->n);
	cross_lock(t);
	r = ioctl_own(t, c->rg->file[c->d], UHMM_DMIRROR_SNAPSHOT, A(t, c->p0), c->n, perm);
	if (r) {
		cross_unlock(t);
		expect("dmirror SNAPSHOT", r, 0);
	}
	for (i = 0; i < c->n; i++) {
		unsigned char want = snap_expected(c, c->p0 + i);

		if (perm[i] != want)
			fail("SNAPSHOT (device %d) of page %d: %#x, the CPU page table implies %#x", c->d, c->p0 + i,
			     perm[i], want);
	}
	cross_unlock(t);
	tres(t, 0);
}

static void op_excl(struct opctx *c)
{
	struct thread *t = c->t;
	unsigned char *buf = xcalloc((size_t)c->n, PG);
	int want = 0, r, p;

	for (p = c->p0; p < c->p0 + c->n && !want; p++) {
		struct mpage *mp = &c->rg->pg[p];

		if (mp->prot < 0)
			want = -EFAULT;
		else if (mp->shared)
			want = -EINVAL;
		else if (!(mp->prot & PROT_WRITE))
			want = -EFAULT;
	}
	tlog(t, "exclusive dev %d region %d pages [%d,+%d)", c->d, c->ri, c->p0, c->n);
	/* not ioctl_own: -EBUSY here is no collision but a coherent page */
	r = ioctl_(c->rg->file[c->d], UHMM_DMIRROR_EXCLUSIVE, A(t, c->p0), c->n, buf, NULL);
	/*
	 * -EBUSY: a page was on the coherent device (neighbours move pages
	 * there). -ENOENT: an invalidation not of this device (a fork, the other
	 * device's migration) erased an atomic entry before the read-back.
	 */
	if (want && opt.coherent)
		EXPECT_ONE_OF("dmirror EXCLUSIVE", r, want, -EBUSY);	/* a coherent page first */
	else if (want)
		expect("dmirror EXCLUSIVE", r, want);
	else if (opt.coherent)
		EXPECT_ONE_OF("dmirror EXCLUSIVE", r, 0, -EBUSY, -ENOENT);
	else
		EXPECT_ONE_OF("dmirror EXCLUSIVE", r, 0, -ENOENT);
	if (r)
		t->experr[K_EXCL]++;
	if (!want && r)
		t->excl_raced++;
	if (!r)
		compare_pages(c, "dmirror EXCLUSIVE read-back", buf);
	free(buf);
}

static void op_check_excl(struct opctx *c)
{
	struct thread *t = c->t;
	int r, p;
	bool any = false;

	tlog(t, "check_exclusive dev %d region %d pages [%d,+%d)", c->d, c->ri, c->p0, c->n);
	cross_lock(t);
	r = ioctl_(c->rg->file[c->d], UHMM_DMIRROR_CHECK_EXCLUSIVE, A(t, c->p0), c->n, NULL, NULL);
	for (p = c->p0; p < c->p0 + c->n; p++) {
		struct uhmm_pte_info in;

		query(c->rg, A(t, p), &in);
		any |= in.kind == UHMM_PTE_DEVICE_EXCLUSIVE;
	}
	cross_unlock(t);
	EXPECT_ONE_OF("dmirror CHECK_EXCLUSIVE", r, 0, -EPERM);
	if (r == -EPERM && !any)
		fail("CHECK_EXCLUSIVE (device %d): an atomic device entry without a CPU device-exclusive entry", c->d);
}

static void op_mmap(struct opctx *c)
{
	struct thread *t = c->t;
	int slot = (int)below(t, WIN / SLOT), p0 = slot * SLOT + (int)below(t, 4), n = 1 + (int)below(t, SLOT - 4);
	int prot = rand_prot(t);
	bool shared = below(t, 4) == 0, noreplace = below(t, 4) == 0;
	int flags = (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS | (noreplace ? MAP_FIXED_NOREPLACE : MAP_FIXED);
	unsigned long out = 0;
	int want = noreplace && first_state(c->rg, p0, n, true) >= 0 ? -EEXIST : 0, r, p, obj = -1;

	tlog(t, "mmap region %d pages [%d,+%d) %s %s%s", c->ri, p0, n, pname(prot), shared ? "shared" : "private",
	     noreplace ? " noreplace" : "");
	r = uhmm_mmap(c->rg->mm, A(t, p0), (size_t)n * PG, prot, flags, &out);
	expect("uhmm_mmap", r, want);
	if (r) {
		t->experr[K_MMAP]++;
		return;
	}
	if (out != A(t, p0))
		fail("uhmm_mmap placed a fixed mapping at %#lx", out);
	if (shared)
		obj = obj_new(t);
	for (p = p0; p < p0 + n; p++)
		mpage_new(t, &c->rg->pg[p], prot, shared, obj, (unsigned long)(p - p0));
}

static void op_munmap(struct opctx *c)
{
	struct thread *t = c->t;
	unsigned long before = tnot_count(t, c->ri);
	bool must = tnot_covers(t, c->ri, c->p0, c->n);
	int r, p;

	tlog(t, "munmap region %d pages [%d,+%d)", c->ri, c->p0, c->n);
	r = uhmm_munmap(c->rg->mm, A(t, c->p0), (size_t)c->n * PG);
	expect("uhmm_munmap", r, 0);
	for (p = c->p0; p < c->p0 + c->n; p++)
		mpage_unmap(t, &c->rg->pg[p]);
	tnot_expect(t, c->ri, before, must, "munmap");
}

static void op_mprotect(struct opctx *c)
{
	struct thread *t = c->t;
	int prot = rand_prot(t);
	int want = first_state(c->rg, c->p0, c->n, false) >= 0 ? -ENOMEM : 0, r, p;
	unsigned long before = tnot_count(t, c->ri);
	bool change = false;

	tlog(t, "mprotect region %d pages [%d,+%d) %s", c->ri, c->p0, c->n, pname(prot));
	/* PROTECTION_VMA covers the VMA pieces whose protection changes */
	for (p = c->p0; p < c->p0 + c->n; p++)
		if (c->rg->pg[p].prot >= 0 && c->rg->pg[p].prot != prot && tnot_covers(t, c->ri, p, 1))
			change = true;
	r = uhmm_mprotect(c->rg->mm, A(t, c->p0), (size_t)c->n * PG, prot);
	expect("uhmm_mprotect", r, want);
	if (r) {
		t->experr[K_MPROTECT]++;
		return;
	}
	for (p = c->p0; p < c->p0 + c->n; p++)
		c->rg->pg[p].prot = (signed char)prot;
	tnot_expect(t, c->ri, before, change, "mprotect");
}

static void op_madvise(struct opctx *c)
{
	struct thread *t = c->t;
	int want = first_state(c->rg, c->p0, c->n, false) >= 0 ? -ENOMEM : 0, r, p;
	unsigned long before = tnot_count(t, c->ri);
	bool must = !want && tnot_covers(t, c->ri, c->p0, c->n);

	tlog(t, "madvise(DONTNEED) region %d pages [%d,+%d)", c->ri, c->p0, c->n);
	r = uhmm_madvise(c->rg->mm, A(t, c->p0), (size_t)c->n * PG, MADV_DONTNEED);
	expect("uhmm_madvise", r, want);
	if (r) {
		t->experr[K_MADVISE]++;
		return;
	}
	for (p = c->p0; p < c->p0 + c->n; p++)
		if (!c->rg->pg[p].shared) {
			free(c->rg->pg[p].data);
			c->rg->pg[p].data = NULL;
		}
	tnot_expect(t, c->ri, before, must, "madvise(DONTNEED)");
}

/* uhmm's VMA at page @p, checked against the shadow. False if none. */
static bool vma_at(struct opctx *c, int p, struct uhmm_vma_info *info)
{
	struct thread *t = c->t;
	struct uhmm_vma *v;
	int q;

	uhmm_mmap_read_lock(c->rg->mm);
	v = uhmm_find_vma(c->rg->mm, A(t, p));
	if (v)
		uhmm_vma_get_info(v, info);
	uhmm_mmap_read_unlock(c->rg->mm);
	if (!v) {
		if (c->rg->pg[p].prot >= 0)
			fail("page %d is mapped in the shadow but uhmm has no VMA there", p);
		return false;
	}
	if (info->start < A(t, 0) || info->end > A(t, WIN))
		fail("VMA [%#lx, %#lx) reaches outside the window", info->start, info->end);
	for (q = (int)((info->start - A(t, 0)) / PG); A(t, q) < info->end; q++) {
		struct mpage *mp = &c->rg->pg[q];

		if (mp->prot != (info->prot & (PROT_READ | PROT_WRITE)) || mp->shared != (info->flags == MAP_SHARED))
			fail("VMA [%#lx, %#lx) is %s %s, but the shadow has page %d %s %s", info->start, info->end,
			     pname(info->prot), info->flags == MAP_SHARED ? "shared" : "private", q,
			     pname(mp->prot), mp->shared ? "shared" : "private");
	}
	return true;
}

static void op_mremap(struct opctx *c)
{
	struct thread *t = c->t;
	struct region *rg = c->rg;
	int o = c->p0, on = c->n, nn = 1 + (int)below(t, MAXN), t0 = (int)below(t, WIN), want, r, i, p;
	bool fixed = below(t, 2), must;
	struct uhmm_vma_info vi;
	bool have;
	unsigned long out = 0, before = tnot_count(t, c->ri);
	struct mpage moved[MAXN];

	if (fixed && t0 + nn > WIN)
		nn = WIN - t0;
	if (!fixed && o + nn > WIN)
		nn = WIN - o;
	if (fixed)
		tlog(t, "mremap region %d pages [%d,+%d) -> fixed [%d,+%d)", c->ri, o, on, t0, nn);
	else
		tlog(t, "mremap region %d pages [%d,+%d) -> +%d in place", c->ri, o, on, nn);
	have = vma_at(c, o, &vi);
	if (fixed && A(t, t0) < A(t, o + on) && A(t, o) < A(t, t0 + nn))
		want = -EINVAL;
	else if (!have || A(t, o + on) > vi.end)
		want = -EFAULT;
	else if (fixed || nn <= on)
		want = 0;
	else if (A(t, o + on) == vi.end && first_state(rg, o + on, nn - on, true) < 0)
		want = 0;
	else
		want = -ENOMEM;
	if (fixed)
		must = tnot_covers(t, c->ri, o, on) || tnot_covers(t, c->ri, t0, nn);
	else
		must = nn < on && tnot_covers(t, c->ri, o + nn, on - nn);
	must &= want == 0;
	r = uhmm_mremap(rg->mm, A(t, o), (size_t)on * PG, (size_t)nn * PG, fixed ? MREMAP_MAYMOVE | MREMAP_FIXED : 0,
			fixed ? A(t, t0) : 0, &out);
	expect("uhmm_mremap", r, want);
	if (r) {
		t->experr[K_MREMAP]++;
		return;
	}
	if (out != (fixed ? A(t, t0) : A(t, o)))
		fail("uhmm_mremap returned %#lx", out);
	if (!fixed) {
		struct mpage last = rg->pg[o + on - 1];

		for (p = o + nn; p < o + on; p++)
			mpage_unmap(t, &rg->pg[p]);
		for (i = on; i < nn; i++)
			mpage_new(t, &rg->pg[o + i], last.prot, last.shared, last.obj,
				  last.idx + 1 + (unsigned long)(i - on));
	} else {
		int keep = on < nn ? on : nn;
		struct mpage first = rg->pg[o];

		if (first.shared)
			t->objs[first.obj].refs++;	/* hold it while the old pages go */
		for (i = 0; i < keep; i++) {
			moved[i] = rg->pg[o + i];
			memset(&rg->pg[o + i], 0, sizeof(rg->pg[o + i]));	/* ownership moves */
			rg->pg[o + i].prot = -1;
		}
		for (p = o; p < o + on; p++)
			mpage_unmap(t, &rg->pg[p]);
		for (p = t0; p < t0 + nn; p++)
			mpage_unmap(t, &rg->pg[p]);
		for (i = 0; i < nn; i++) {
			if (i < keep)
				rg->pg[t0 + i] = moved[i];
			else
				mpage_new(t, &rg->pg[t0 + i], first.prot, first.shared, first.obj,
					  first.idx + (unsigned long)i);
		}
		if (first.shared)
			obj_put(t, first.obj);
	}
	tnot_expect(t, c->ri, before, must, "mremap");
}

static void op_pin(struct opctx *c)
{
	struct thread *t = c->t;
	struct uhmm_page *pages[MAXN];
	bool write = below(t, 2);
	int want = cpu_want(t, c->rg, A(t, c->p0), (size_t)c->n * PG, write ? PROT_READ | PROT_WRITE : PROT_READ);
	int r, i;

	tlog(t, "pin region %d pages [%d,+%d) %s", c->ri, c->p0, c->n, write ? "write" : "read");
	r = uhmm_pin_user_pages(c->rg->mm, A(t, c->p0), (unsigned long)c->n, write, pages);
	expect("uhmm_pin_user_pages", r, want);
	if (r) {
		t->experr[K_PIN]++;
		return;
	}
	for (i = 0; i < c->n; i++) {
		const unsigned char *b = uhmm_page_address(pages[i]);

		if (!b || uhmm_is_device_private_page(pages[i]))
			fail("pinned page %d is not CPU-addressable", c->p0 + i);
		if (memcmp(b, mbytes(t, c->rg, c->p0 + i), PG))
			fail("pinned page %d does not hold the shadow's bytes", c->p0 + i);
	}
	uhmm_unpin_user_pages(pages, (unsigned long)c->n);
}

/* A minimal mirror: the canonical read_begin / range_fault / lock / read_retry loop. */
struct mirror {
	struct uhmm_mmu_interval_notifier n;
	pthread_mutex_t lock;
};

static bool mirror_invalidate(struct uhmm_mmu_interval_notifier *sub, const struct uhmm_mmu_notifier_range *range,
			      unsigned long cur_seq)
{
	struct mirror *m = (struct mirror *)((char *)sub - offsetof(struct mirror, n));

	if (uhmm_mmu_notifier_range_blockable(range))
		pthread_mutex_lock(&m->lock);
	else if (pthread_mutex_trylock(&m->lock))
		return false;
	uhmm_mmu_interval_set_seq(sub, cur_seq);
	pthread_mutex_unlock(&m->lock);
	return true;
}

static const struct uhmm_mmu_interval_notifier_ops mirror_ops = { mirror_invalidate };

static void op_range_fault(struct opctx *c)
{
	struct thread *t = c->t;
	bool write = below(t, 2);
	int want = 0, r, i, p;
	unsigned long pfns[MAXN], tries = 0;
	struct mirror m;
	struct uhmm_range range;

	/* no dev_private_owner: every device-private page is faulted back */
	for (p = c->p0; p < c->p0 + c->n && !want; p++) {
		int prot = c->rg->pg[p].prot;

		if (prot < 0 || !(prot & PROT_READ))
			want = -EFAULT;
		else if (write && !(prot & PROT_WRITE))
			want = -EPERM;
	}
	tlog(t, "range_fault region %d pages [%d,+%d) %s", c->ri, c->p0, c->n, write ? "write" : "read");
	memset(&m, 0, sizeof(m));
	pthread_mutex_init(&m.lock, NULL);
	r = uhmm_mmu_interval_notifier_insert(&m.n, c->rg->mm, A(t, c->p0), (unsigned long)c->n * PG, &mirror_ops);
	if (r)
		fail("uhmm_mmu_interval_notifier_insert = %s", ename(r));
	memset(&range, 0, sizeof(range));
	range.notifier = &m.n;
	range.start = A(t, c->p0);
	range.end = A(t, c->p0 + c->n);
	range.hmm_pfns = pfns;
	range.default_flags = UHMM_PFN_REQ_FAULT | (write ? UHMM_PFN_REQ_WRITE : 0);
	for (;;) {
		tries++;
		range.notifier_seq = uhmm_mmu_interval_read_begin(&m.n);
		uhmm_mmap_read_lock(c->rg->mm);
		r = uhmm_range_fault(&range);
		uhmm_mmap_read_unlock(c->rg->mm);
		if (r == -EBUSY)
			continue;
		if (r)
			break;
		pthread_mutex_lock(&m.lock);
		if (uhmm_mmu_interval_read_retry(&m.n, range.notifier_seq)) {
			pthread_mutex_unlock(&m.lock);
			continue;
		}
		break;
	}
	if (tries > t->max_rf_tries)
		t->max_rf_tries = tries;
	if (r) {
		uhmm_mmu_interval_notifier_remove(&m.n);
		pthread_mutex_destroy(&m.lock);
		expect("uhmm_range_fault", r, want);
		t->experr[K_RANGE_FAULT]++;
		return;
	}
	/* under the mirror's lock: no invalidation of these pages can complete */
	for (i = 0; i < c->n; i++) {
		struct uhmm_page *page = uhmm_pfn_to_page(sys, uhmm_pfn_to_pfn(pfns[i]));
		const unsigned char *b = page ? uhmm_page_address(page) : NULL;

		if (!(pfns[i] & UHMM_PFN_VALID) || (pfns[i] & UHMM_PFN_ERROR) || !b)
			fail("uhmm_range_fault: page %d: hmm_pfn %#lx", c->p0 + i, pfns[i]);
		if (write && !(pfns[i] & UHMM_PFN_WRITE))
			fail("uhmm_range_fault for write: page %d not writable", c->p0 + i);
		if (memcmp(b, mbytes(t, c->rg, c->p0 + i), PG))
			fail("uhmm_range_fault: page %d does not hold the shadow's bytes", c->p0 + i);
	}
	pthread_mutex_unlock(&m.lock);
	uhmm_mmu_interval_notifier_remove(&m.n);
	pthread_mutex_destroy(&m.lock);
	expect("uhmm_range_fault", r, want);
}

static void op_notifier(struct opctx *c)
{
	struct thread *t = c->t;
	int ri = (int)below(t, NROOT), r;
	struct tnot *n = &t->nt[ri];

	if (n->inserted) {
		tlog(t, "notifier remove root %d", ri);
		uhmm_mmu_interval_notifier_remove(&n->n);
		n->inserted = false;
		tres(t, 0);
		return;
	}
	memset(&n->n, 0, sizeof(n->n));
	n->tid = t->id;
	n->root = ri;
	n->start = A(t, c->p0);
	n->end = A(t, c->p0 + c->n);
	tlog(t, "notifier insert root %d pages [%d,+%d)", ri, c->p0, c->n);
	r = uhmm_mmu_interval_notifier_insert(&n->n, root[ri], n->start, n->end - n->start, &tnot_ops);
	expect("uhmm_mmu_interval_notifier_insert", r, 0);
	n->inserted = true;
}

static void op_check(struct opctx *c)
{
	struct thread *t = c->t;

	tlog(t, "check region %d", c->ri);
	cross_lock(t);
	check_region_locked(t, c->rg, "check");
	cross_unlock(t);
	tres(t, 0);
}

/* ------------------------------------------------- fork, exit, global */

static void open_files(struct region *rg)
{
	int d, r;

	for (d = 0; d < NDEV; d++) {
		r = uhmm_dmirror_open(dev[d], rg->mm, &rg->file[d]);
		if (r)
			fail("uhmm_dmirror_open = %s", ename(r));
	}
}

static void child_exit(struct thread *t, int ci, bool close_first)
{
	struct region *rg = &t->reg[ci];
	int d;

	if (close_first)
		for (d = 0; d < NDEV; d++)
			uhmm_dmirror_close(rg->file[d]);
	uhmm_mm_put(rg->mm);
	if (!close_first)
		for (d = 0; d < NDEV; d++)
			uhmm_dmirror_close(rg->file[d]);
	memset(rg->file, 0, sizeof(rg->file));
	rg->mm = NULL;
	rg->live = false;
	region_clear(t, rg);
}

static void op_fork(struct thread *t)
{
	int ri = (int)below(t, NROOT), ci, p, r;
	struct region *child;

	for (ci = NROOT; ci < NREG && t->reg[ci].live; ci++)
		;
	if (ci == NREG)
		child_exit(t, ci = NROOT + (int)below(t, MAXCHILD), below(t, 2));
	child = &t->reg[ci];
	tlog(t, "fork root %d -> region %d", ri, ci);
	/* a fork write-protects and restores the exclusive entries of everyone's pages */
	wrlock(&struct_lock);
	r = uhmm_mm_fork(root[ri], &child->mm);
	rwunlock(&struct_lock);
	/* -ENOMEM: a device-exclusive page was locked by someone (as Linux) */
	EXPECT_ONE_OF("uhmm_mm_fork", r, 0, -ENOMEM);
	if (r) {
		t->fork_enomem++;
		t->experr[K_FORK]++;
		child->mm = NULL;
		return;
	}
	child->live = true;
	for (p = 0; p < WIN; p++) {
		struct mpage *src = &t->reg[ri].pg[p], *dst = &child->pg[p];

		*dst = *src;
		if (src->shared && src->prot >= 0)
			t->objs[src->obj].refs++;
		if (!src->shared && src->data) {
			dst->data = xcalloc(1, PG);
			memcpy(dst->data, src->data, PG);
		}
	}
	open_files(child);
	cross_lock(t);
	check_region_locked(t, &t->reg[ri], "after fork (parent)");
	check_region_locked(t, child, "after fork (child)");
	cross_unlock(t);
}

static bool op_exit(struct thread *t)
{
	int ci = NROOT + (int)below(t, MAXCHILD);
	bool first = below(t, 2);

	if (!t->reg[ci].live && !t->reg[ci ^ 1].live)
		return false;
	if (!t->reg[ci].live)
		ci = NROOT + ((ci - NROOT) ^ 1);
	tlog(t, "exit region %d (files closed %s)", ci, first ? "first" : "after");
	child_exit(t, ci, first);
	tres(t, 0);
	return true;
}

static void op_release(struct thread *t)
{
	int d = (int)below(t, NDEV), r;

	tlog(t, "release device %d", d);
	wrlock(&struct_lock);
	r = ioctl_(rootfile[d][0], UHMM_DMIRROR_RELEASE, 0, 1, NULL, NULL);
	rwunlock(&struct_lock);
	expect("dmirror RELEASE", r, 0);
}

static void op_soft_dirty(struct thread *t)
{
	int ri = (int)below(t, NROOT), r, p;

	tlog(t, "clear_soft_dirty root %d", ri);
	wrlock(&struct_lock);
	wrlock(&t->check_lock);
	r = uhmm_clear_soft_dirty(root[ri]);
	for (p = 0; !r && p < WIN; p++) {
		int sd = uhmm_page_soft_dirty(root[ri], A(t, p));

		if (sd != 0 && sd != -EFAULT)
			fail("page %d of root %d soft-dirty (%d) right after clearing", p, ri, sd);
	}
	rwunlock(&t->check_lock);
	rwunlock(&struct_lock);
	expect("uhmm_clear_soft_dirty", r, 0);
}

/* --------------------------------------------------------- neighbours */

/* Valid SNAPSHOT bytes: what dmirror_snapshot_byte can produce. */
static bool snap_valid(unsigned char b)
{
	unsigned char base = b & ~(UHMM_DMIRROR_PROT_READ | UHMM_DMIRROR_PROT_WRITE);
	unsigned char rw = b & (UHMM_DMIRROR_PROT_READ | UHMM_DMIRROR_PROT_WRITE);

	if (b == UHMM_DMIRROR_PROT_ERROR || b == UHMM_DMIRROR_PROT_NONE)
		return true;
	if (rw != UHMM_DMIRROR_PROT_READ && rw != UHMM_DMIRROR_PROT_WRITE)
		return false;
	if (base == UHMM_DMIRROR_PROT_ZERO)
		return rw == UHMM_DMIRROR_PROT_READ;
	return base == 0 || base == UHMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL ||
	       (opt.coherent && (base == UHMM_DMIRROR_PROT_DEV_COHERENT_LOCAL ||
				 base == UHMM_DMIRROR_PROT_DEV_COHERENT_REMOTE));
}

/* Content-preserving operations on another thread's window (its check_lock read-held). */
static void op_neighbour(struct thread *t)
{
	struct thread *v;
	int vi, ri = (int)below(t, NROOT), d = (int)below(t, NDEV), p0 = (int)below(t, WIN), n = 1 + (int)below(t, MAXN);
	unsigned what = below(t, 5), i;
	unsigned char perm[MAXN];
	unsigned char *buf;
	unsigned long addr;
	int r;

	if (opt.threads < 2)
		return;
	vi = (int)below(t, opt.threads - 1);
	vi += vi >= t->id;
	v = &threads[vi];
	/* 3 times in 4 inside what populate() mapped (we may not read v's shadow) */
	if (below(t, 4)) {
		p0 = (int)(below(t, WIN / SLOT) * SLOT + below(t, SLOT - 2));
		n = 1 + (int)below(t, (unsigned)(SLOT - 2 - p0 % SLOT));
	}
	if (p0 + n > WIN)
		n = WIN - p0;
	addr = wbase(vi) + (unsigned long)p0 * PG;
	/* under TSan: no migration to the coherent device (its pages stay
	 * CPU-writable while our read-back reads them: a hardware race) */
	if (what == 0 && TORTURE_TSAN && d == 1 && opt.coherent)
		what = 1;
	rdlock(&v->check_lock);
	switch (what) {
	case 0:
		tlog(t, "neighbour migrate_to_dev dev %d thread %d root %d pages [%d,+%d)", d, vi, ri, p0, n);
		buf = xcalloc((size_t)n, PG);
		r = ioctl_(t->nfile[d][ri], UHMM_DMIRROR_MIGRATE_TO_DEV, addr, n, buf, NULL);
		free(buf);
		EXPECT_ONE_OF("neighbour MIGRATE_TO_DEV", r, 0, -EINVAL, -ENOENT);
		break;
	case 1:
	case 2:
		tlog(t, "neighbour migrate_to_sys dev %d thread %d root %d pages [%d,+%d)", d, vi, ri, p0, n);
		r = ioctl_(t->nfile[d][ri], UHMM_DMIRROR_MIGRATE_TO_SYS, addr, n, NULL, NULL);
		EXPECT_ONE_OF("neighbour MIGRATE_TO_SYS", r, 0, -EINVAL);
		break;
	case 3:
		tlog(t, "neighbour snapshot dev %d thread %d root %d pages [%d,+%d)", d, vi, ri, p0, n);
		r = ioctl_(t->nfile[d][ri], UHMM_DMIRROR_SNAPSHOT, addr, n, perm, NULL);
		EXPECT_ONE_OF("neighbour SNAPSHOT", r, 0, -EBUSY);
		for (i = 0; !r && i < (unsigned)n; i++)
			if (!snap_valid(perm[i]))
				fail("neighbour SNAPSHOT: invalid byte %#x for page %d of thread %d", perm[i],
				     p0 + (int)i, vi);
		break;
	default: {
		struct uhmm_page *pages[MAXN];

		tlog(t, "neighbour pin thread %d root %d pages [%d,+%d)", vi, ri, p0, n);
		r = uhmm_pin_user_pages(root[ri], addr, (unsigned long)n, false, pages);
		EXPECT_ONE_OF("neighbour uhmm_pin_user_pages", r, 0, -EFAULT);
		if (!r)
			uhmm_unpin_user_pages(pages, (unsigned long)n);
		break;
	}
	}
	rwunlock(&v->check_lock);
	if (r)
		t->experr[K_NEIGHBOUR]++;
	t->neighbour_ops++;
}

/* ------------------------------------------------------ shared window */

static unsigned long SA(int p)
{
	return SHARED_BASE + (unsigned long)p * PG;
}

/* Structure of shared-window pages: whatever is mapped is referenced. */
static void shared_structure(int ri, int p0, int n)
{
	unsigned long counts[6], total = 0;
	int p, k, r;

	for (p = p0; p < p0 + n; p++) {
		struct uhmm_pte_info in;
		int q = uhmm_mm_query_pte(root[ri], SA(p), &in);

		if (q)
			fail("shared window: uhmm_mm_query_pte = %s", ename(q));
		if (in.kind != UHMM_PTE_NONE && in.kind != UHMM_PTE_ZERO && in.refcount <= 0)
			fail("shared window: root %d page %d: %s entry on a free page (refcount %d)", ri, p,
			     ptekind(in.kind), in.refcount);
		if ((in.kind == UHMM_PTE_PRESENT || in.kind == UHMM_PTE_DEVICE_PRIVATE) && in.mapcount <= 0)
			fail("shared window: root %d page %d: %s entry on an unmapped page (mapcount %d)", ri, p,
			     ptekind(in.kind), in.mapcount);
	}
	r = uhmm_mm_count_ptes(root[ri], SA(p0), SA(p0 + n), counts);
	for (k = 0; k < 6; k++)
		total += counts[k];
	if (r || total != (unsigned long)n)
		fail("shared window: uhmm_mm_count_ptes = %s, %lu entries for %d pages", ename(r), total, n);
}

static void op_shared(struct thread *t)
{
	int ri = (int)below(t, NROOT), d = (int)below(t, NDEV), p0 = (int)below(t, SHW), n = 1 + (int)below(t, MAXN);
	unsigned what = below(t, TORTURE_TSAN ? 12 : 15);
	unsigned char *buf;
	unsigned long out;
	int r, prot = (int[]){ PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE, PROT_READ | PROT_WRITE }[below(t, 4)];
	struct uhmm_dmirror *f = rootfile[d][ri];

	if (p0 + n > SHW)
		n = SHW - p0;
	if (what == 7 && below(t, 3))
		what = 6;	/* munmap a third as often as mmap: keep the window populated */
	buf = xcalloc((size_t)n, PG);
	switch (what) {
	case 0:
		tlog(t, "shared cpu_read root %d pages [%d,+%d)", ri, p0, n);
		r = uhmm_cpu_read(root[ri], SA(p0), buf, (size_t)n * PG);
		EXPECT_ONE_OF("shared uhmm_cpu_read", r, 0, -EFAULT);
		break;
	case 1:
		tlog(t, "shared dev_read dev %d root %d pages [%d,+%d)", d, ri, p0, n);
		r = ioctl_(f, UHMM_DMIRROR_READ, SA(p0), n, buf, NULL);
		EXPECT_ONE_OF("shared dmirror READ", r, 0, -EFAULT, -EBUSY);
		break;
	case 2:
		tlog(t, "shared migrate_to_dev dev %d root %d pages [%d,+%d)", d, ri, p0, n);
		r = ioctl_(f, UHMM_DMIRROR_MIGRATE_TO_DEV, SA(p0), n, buf, NULL);
		EXPECT_ONE_OF("shared dmirror MIGRATE_TO_DEV", r, 0, -EINVAL, -ENOENT);
		break;
	case 3:
		tlog(t, "shared migrate_to_sys dev %d root %d pages [%d,+%d)", d, ri, p0, n);
		r = ioctl_(f, UHMM_DMIRROR_MIGRATE_TO_SYS, SA(p0), n, NULL, NULL);
		EXPECT_ONE_OF("shared dmirror MIGRATE_TO_SYS", r, 0, -EINVAL);
		break;
	case 4: {
		unsigned char perm[MAXN];
		int i;

		tlog(t, "shared snapshot dev %d root %d pages [%d,+%d)", d, ri, p0, n);
		r = ioctl_(f, UHMM_DMIRROR_SNAPSHOT, SA(p0), n, perm, NULL);
		EXPECT_ONE_OF("shared dmirror SNAPSHOT", r, 0, -EBUSY);
		for (i = 0; !r && i < n; i++)
			if (!snap_valid(perm[i]))
				fail("shared SNAPSHOT: invalid byte %#x for page %d", perm[i], p0 + i);
		break;
	}
	case 5:
		tlog(t, "shared exclusive dev %d root %d pages [%d,+%d)", d, ri, p0, n);
		r = ioctl_(f, UHMM_DMIRROR_EXCLUSIVE, SA(p0), n, buf, NULL);
		EXPECT_ONE_OF("shared dmirror EXCLUSIVE", r, 0, -EFAULT, -EINVAL, -EBUSY, -ENOENT);
		break;
	case 6: {
		bool sh = below(t, 3) == 0;
		int slot = p0 / SLOT * SLOT;

		n = 1 + (int)below(t, SLOT);
		tlog(t, "shared mmap root %d pages [%d,+%d) %s %s", ri, slot, n, pname(prot), sh ? "shared" : "private");
		r = uhmm_mmap(root[ri], SA(slot), (size_t)n * PG, prot,
			      (sh ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS | MAP_FIXED, &out);
		expect("shared uhmm_mmap", r, 0);
		p0 = slot;
		break;
	}
	case 7:
		tlog(t, "shared munmap root %d pages [%d,+%d)", ri, p0, n);
		r = uhmm_munmap(root[ri], SA(p0), (size_t)n * PG);
		expect("shared uhmm_munmap", r, 0);
		break;
	case 8:
		tlog(t, "shared mprotect root %d pages [%d,+%d) %s", ri, p0, n, pname(prot));
		r = uhmm_mprotect(root[ri], SA(p0), (size_t)n * PG, prot);
		EXPECT_ONE_OF("shared uhmm_mprotect", r, 0, -ENOMEM);
		break;
	case 9:
		tlog(t, "shared madvise(DONTNEED) root %d pages [%d,+%d)", ri, p0, n);
		r = uhmm_madvise(root[ri], SA(p0), (size_t)n * PG, MADV_DONTNEED);
		EXPECT_ONE_OF("shared uhmm_madvise", r, 0, -ENOMEM);
		break;
	case 10: {
		int t0 = (int)below(t, SHW), nn = 1 + (int)below(t, MAXN);
		bool fixed = below(t, 2);

		if ((fixed ? t0 : p0) + nn > SHW)
			nn = SHW - (fixed ? t0 : p0);
		tlog(t, "shared mremap root %d pages [%d,+%d) -> %s [%d,+%d)", ri, p0, n, fixed ? "fixed" : "in place",
		     fixed ? t0 : p0, nn);
		r = uhmm_mremap(root[ri], SA(p0), (size_t)n * PG, (size_t)nn * PG,
				fixed ? MREMAP_MAYMOVE | MREMAP_FIXED : 0, fixed ? SA(t0) : 0, &out);
		EXPECT_ONE_OF("shared uhmm_mremap", r, 0, -EFAULT, -ENOMEM, -EINVAL);
		break;
	}
	case 11: {
		struct uhmm_page *pages[MAXN];

		tlog(t, "shared pin root %d pages [%d,+%d)", ri, p0, n);
		r = uhmm_pin_user_pages(root[ri], SA(p0), (unsigned long)n, false, pages);
		EXPECT_ONE_OF("shared uhmm_pin_user_pages", r, 0, -EFAULT);
		if (!r)
			uhmm_unpin_user_pages(pages, (unsigned long)n);
		break;
	}
	/* below: writes (not under TSan, see the top of the file) */
	case 12: {
		size_t k;

		for (k = 0; k < (size_t)n * PG; k++)
			buf[k] = (unsigned char)(k * 7 + (unsigned)t->id);
		tlog(t, "shared cpu_write root %d pages [%d,+%d)", ri, p0, n);
		r = uhmm_cpu_write(root[ri], SA(p0), buf, (size_t)n * PG);
		EXPECT_ONE_OF("shared uhmm_cpu_write", r, 0, -EFAULT);
		break;
	}
	default:
		tlog(t, "shared dev_write dev %d root %d pages [%d,+%d)", d, ri, p0, n);
		r = ioctl_(f, UHMM_DMIRROR_WRITE, SA(p0), n, buf, NULL);
		EXPECT_ONE_OF("shared dmirror WRITE", r, 0, -EFAULT, -EPERM, -EBUSY);
		break;
	}
	free(buf);
	if (r)
		t->experr[K_SHARED]++;
	shared_structure(ri, p0, n);
	t->shared_ops++;
}

/* ------------------------------------------------------------ threads */

/*
 * Most of the time (4 in 5), start the operation's range on a page that
 * suits it (mapped, with @need, private if @private_only) and extend it while
 * pages do; else keep the random range, holes and all (the error paths).
 */
static void pick_range(struct opctx *c, int need, bool private_only)
{
	struct thread *t = c->t;
	int tries, n, maxn;

	if (below(t, 5) == 0)
		return;
	for (tries = 0; tries < 16; tries++) {
		int p = (int)below(t, WIN);
		struct mpage *mp = &c->rg->pg[p];

		if (mp->prot < 0 || (mp->prot & need) != need || (private_only && mp->shared))
			continue;
		maxn = 1 + (int)below(t, MAXN);
		for (n = 1; n < maxn && p + n < WIN; n++) {
			mp = &c->rg->pg[p + n];
			if (mp->prot < 0 || (mp->prot & need) != need || (private_only && mp->shared))
				break;
		}
		c->p0 = p;
		c->n = n;
		return;
	}
}

static enum kind pick_kind(struct thread *t)
{
	unsigned total = 0, x, k;

	for (k = 0; k < NK; k++)
		total += weight[k];
	x = below(t, total);
	for (k = 0; k < NK; k++) {
		if (x < weight[k])
			return (enum kind)k;
		x -= weight[k];
	}
	return K_CPU_READ;
}

static void run_one(struct thread *t)
{
	enum kind k = pick_kind(t);
	struct opctx c;
	int live[NREG], nlive = 0, i;

	for (i = 0; i < NREG; i++)
		if (t->reg[i].live)
			live[nlive++] = i;
	memset(&c, 0, sizeof(c));
	c.t = t;
	c.ri = live[below(t, (unsigned)nlive)];
	c.rg = &t->reg[c.ri];
	c.p0 = (int)below(t, WIN);
	c.n = 1 + (int)below(t, MAXN);
	if (c.p0 + c.n > WIN)
		c.n = WIN - c.p0;
	c.d = (int)below(t, NDEV);
	if (k == K_EXIT && !t->reg[NROOT].live && !t->reg[NROOT + 1].live)
		k = K_FORK;
	switch (k) {
	case K_CPU_WRITE: case K_DEV_WRITE:
		pick_range(&c, PROT_READ | PROT_WRITE, false);
		break;
	case K_EXCL:
		pick_range(&c, PROT_READ | PROT_WRITE, true);
		break;
	case K_CPU_READ: case K_DEV_READ: case K_MIG_DEV: case K_MIG_SYS: case K_SNAPSHOT: case K_CHECK_EXCL:
	case K_PIN: case K_RANGE_FAULT:
		pick_range(&c, PROT_READ, false);
		break;
	case K_MUNMAP: case K_MPROTECT: case K_MADVISE: case K_MREMAP:
		pick_range(&c, 0, false);
		break;
	default:
		break;
	}
	atomic_store(&t->cur_kind, (int)k);
	atomic_store(&t->cur_reg, c.ri);
	atomic_store(&t->cur_p0, c.p0);
	atomic_store(&t->cur_n, c.n);
	t->done[k]++;
	switch (k) {
	case K_CPU_READ: op_cpu_read(&c); break;
	case K_CPU_WRITE: op_cpu_write(&c); break;
	case K_DEV_READ: op_dev_read(&c); break;
	case K_DEV_WRITE: op_dev_write(&c); break;
	case K_MIG_DEV: op_mig_dev(&c); break;
	case K_MIG_SYS: op_mig_sys(&c); break;
	case K_SNAPSHOT: op_snapshot(&c); break;
	case K_EXCL: op_excl(&c); break;
	case K_CHECK_EXCL: op_check_excl(&c); break;
	case K_MMAP: op_mmap(&c); break;
	case K_MUNMAP: op_munmap(&c); break;
	case K_MPROTECT: op_mprotect(&c); break;
	case K_MADVISE: op_madvise(&c); break;
	case K_MREMAP: op_mremap(&c); break;
	case K_PIN: op_pin(&c); break;
	case K_RANGE_FAULT: op_range_fault(&c); break;
	case K_NOTIFIER: op_notifier(&c); break;
	case K_CHECK: op_check(&c); break;
	case K_FORK: op_fork(t); break;
	case K_EXIT: op_exit(t); break;
	case K_RELEASE: op_release(t); break;
	case K_SOFT_DIRTY: op_soft_dirty(t); break;
	case K_NEIGHBOUR: op_neighbour(t); break;
	case K_SHARED: op_shared(t); break;
	default: break;
	}
	/* reaching here means the operation's checks passed */
	t->checked[k]++;
	atomic_fetch_add(&t->nops, 1);
	atomic_store(&t->last_ns, now_ns());
}

/* Start with every slot of both windows mapped (one shared) and written. */
static void populate(struct thread *t)
{
	unsigned char *buf = xcalloc(SLOT, PG);
	int ri, slot, p, r;

	for (ri = 0; ri < NROOT; ri++)
		for (slot = 0; slot < WIN / SLOT; slot++) {
			struct region *rg = &t->reg[ri];
			int p0 = slot * SLOT, n = SLOT - 2, obj = -1;
			bool shared = slot == WIN / SLOT - 1;
			unsigned long out;
			size_t k;

			tlog(t, "populate root %d pages [%d,+%d) %s", ri, p0, n, shared ? "shared" : "private");
			r = uhmm_mmap(rg->mm, A(t, p0), (size_t)n * PG, PROT_READ | PROT_WRITE,
				      (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS | MAP_FIXED, &out);
			expect("uhmm_mmap", r, 0);
			if (shared)
				obj = obj_new(t);
			for (k = 0; k < (size_t)n * PG; k++)
				buf[k] = pattern(A(t, p0) + k, (unsigned)(t->id * 31 + ri));
			r = uhmm_cpu_write(rg->mm, A(t, p0), buf, (size_t)n * PG);
			expect("uhmm_cpu_write", r, 0);
			for (p = p0; p < p0 + n; p++) {
				mpage_new(t, &rg->pg[p], PROT_READ | PROT_WRITE, shared, obj, (unsigned long)(p - p0));
				memcpy(mbytes_w(t, rg, p), buf + (size_t)(p - p0) * PG, PG);
			}
		}
	free(buf);
}

static void *thread_main(void *arg)
{
	struct thread *t = arg;
	int i, d;

	self = t;
	atomic_store(&t->last_ns, now_ns());
	populate(t);
	while (!atomic_load(&stop))
		run_one(t);
	/* leave: children exit, notifiers go */
	for (i = NROOT; i < NREG; i++)
		if (t->reg[i].live)
			child_exit(t, i, below(t, 2));
	for (i = 0; i < NROOT; i++)
		if (t->nt[i].inserted) {
			uhmm_mmu_interval_notifier_remove(&t->nt[i].n);
			t->nt[i].inserted = false;
		}
	for (d = 0; d < NDEV; d++)
		for (i = 0; i < NROOT; i++)
			uhmm_dmirror_close(t->nfile[d][i]);
	atomic_store(&t->last_ns, now_ns());
	atomic_store(&t->finished, 1);
	return NULL;
}

static void *watchdog_main(void *arg)
{
	unsigned long stall_ns = (unsigned long)opt.stall * 1000000000UL;

	(void)arg;
	for (;;) {
		unsigned long now;
		unsigned i;

		usleep(100 * 1000);
		if (atomic_load(&main_phase) == 3)
			return NULL;
		now = now_ns();
		for (i = 0; i < opt.threads; i++) {
			struct thread *t = &threads[i];

			unsigned long last = atomic_load(&t->last_ns);

			/* last may be later than now: the thread moved on since */
			if (!atomic_load(&t->finished) && last < now && now - last > stall_ns) {
				if (atomic_exchange(&failing, 1))
					return NULL;
				fprintf(stderr, "\ntorture: FAILED (seed %" PRIu64 "): liveness: thread %u made no "
					"progress for %u s\n", opt.seed, i, opt.stall);
				dump_threads();
				die();
			}
		}
		if (atomic_load(&main_phase) && atomic_load(&main_progress_ns) < now &&
		    now - atomic_load(&main_progress_ns) > 4 * stall_ns) {
			if (atomic_exchange(&failing, 1))
				return NULL;
			fprintf(stderr, "\ntorture: FAILED (seed %" PRIu64 "): liveness: the final %s made no progress "
				"for %u s\n", opt.seed, atomic_load(&main_phase) == 1 ? "checks" : "teardown",
				4 * opt.stall);
			die();
		}
	}
}

/* The run itself: wait --seconds, saying on stderr every PROGRESS_EVERY
 * seconds where it is (a long `make stress` run is not silent for minutes). */
#define PROGRESS_EVERY 5

static void run_with_progress(void)
{
	unsigned long t0 = now_ns(), end = t0 + (unsigned long)opt.seconds * 1000000000UL;
	unsigned long next = t0 + PROGRESS_EVERY * 1000000000UL, prev_ops = 0, prev_ns = t0;

	for (;;) {
		unsigned long now = now_ns(), ops = 0;
		unsigned i;

		if (now >= end)
			return;
		if (now < next) {
			unsigned long wait = (next < end ? next : end) - now;

			usleep((useconds_t)(wait / 1000 + 1));
			continue;
		}
		for (i = 0; i < opt.threads; i++)
			ops += atomic_load(&threads[i].nops);
		fprintf(stderr, "torture: %lu/%u s, %lu operations (%.0f/s), %lu s left\n", (now - t0) / 1000000000UL,
			opt.seconds, ops, (double)(ops - prev_ops) * 1e9 / (double)(now - prev_ns),
			(end - now + 999999999UL) / 1000000000UL);
		prev_ops = ops;
		prev_ns = now;
		next += PROGRESS_EVERY * 1000000000UL;
	}
}

/* ---------------------------------------------------------- final checks */

static void final_region(struct thread *t, int ri)
{
	struct region *rg = &t->reg[ri];
	struct opctx c = { .t = t, .ri = ri, .rg = rg, .p0 = 0, .n = 1 };
	unsigned char *buf = xcalloc(1, PG);
	int p, d, r;

	check_region_locked(t, rg, "final check");
	for (p = 0; p < WIN; p++) {
		if (rg->pg[p].prot < 0 || !(rg->pg[p].prot & PROT_READ))
			continue;
		c.p0 = p;
		read_page(&c, p, buf);
		c.d = -1;
		compare_pages(&c, "final CPU read", buf);
		for (d = 0; d < NDEV; d++) {
			c.d = d;
			r = ioctl_(rg->file[d], UHMM_DMIRROR_READ, A(t, p), 1, buf, NULL);
			if (r)
				fail("final dmirror READ (device %d) of page %d = %s", d, p, ename(r));
			compare_pages(&c, "final dmirror READ", buf);
		}
		t->final_pages++;
		atomic_store(&main_progress_ns, now_ns());
	}
	free(buf);
}

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [--seconds N] [--threads N] [--seed S] [--stall S] [--coherent|--private] [--verbose]\n"
		"  --seconds N   run for N seconds (default 10)\n"
		"  --threads N   worker threads (default 4, at most %d)\n"
		"  --seed S      seed of the random choices (default: time and pid; always printed)\n"
		"  --stall S     the watchdog fails the run after S seconds without progress\n"
		"                (default 10 under sanitizers, 6 otherwise)\n"
		"  --coherent    device 1 is device-coherent (default: when the seed is odd)\n"
		"  --private     device 1 is device-private, as device 0\n"
		"  --verbose     log every operation to stderr\n"
		"  --hold        on a failure, wait for a debugger instead of exiting\n",
		argv0, MAXTHREADS);
	exit(2);
}

static void parse(int argc, char **argv)
{
	int i;

	opt.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)now_ns();
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--coherent"))
			opt.dev1 = 1;
		else if (!strcmp(a, "--private"))
			opt.dev1 = 0;
		else if (!strcmp(a, "--verbose"))
			opt.verbose = true;
		else if (!strcmp(a, "--hold"))
			opt.hold = true;
		else if (v && !strcmp(a, "--seconds"))
			opt.seconds = (unsigned)strtoul(v, NULL, 0), i++;
		else if (v && !strcmp(a, "--threads"))
			opt.threads = (unsigned)strtoul(v, NULL, 0), i++;
		else if (v && !strcmp(a, "--seed"))
			opt.seed = strtoull(v, NULL, 0), i++;
		else if (v && !strcmp(a, "--stall"))
			opt.stall = (unsigned)strtoul(v, NULL, 0), i++;
		else
			usage(argv[0]);
	}
	if (!opt.threads || opt.threads > MAXTHREADS)
		usage(argv[0]);
	if (!opt.stall)
		opt.stall = TORTURE_SANITIZED ? 10 : 6;
	opt.coherent = opt.dev1 < 0 ? (opt.seed & 1) != 0 : opt.dev1 != 0;
}

int main(int argc, char **argv)
{
	struct uhmm_system_stats st;
	struct uhmm_dmirror_device_opts dopts = { .type = UHMM_MEMORY_DEVICE_PRIVATE, .memory_bytes = 64UL << 20,
						  .chunk_bytes = 4UL << 20 };
	unsigned long done[NK] = { 0 }, checked[NK] = { 0 }, experr[NK] = { 0 }, tdone = 0, tchecked = 0;
	unsigned long max_faults = 0, max_rf = 0, ebusy = 0, max_row = 0, fork_enomem = 0, excl_raced = 0;
	unsigned long neighbour = 0, shared = 0, final_pages = 0;
	pthread_t wd;
	unsigned i, k;
	int d, ri;
	bool ok = true;

	parse(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("torture: seed %" PRIu64 ", %u threads, %u s, devices: private + %s, stall limit %u s%s\n", opt.seed,
	       opt.threads, opt.seconds, opt.coherent ? "coherent" : "private", opt.stall,
	       TORTURE_TSAN ? " (TSan: no simulated hardware races)" : "");

	rwlock_init(&struct_lock);
	if (uhmm_system_create(NULL, &sys))
		fail("uhmm_system_create");
	for (d = 0; d < NDEV; d++) {
		dopts.type = d == 1 && opt.coherent ? UHMM_MEMORY_DEVICE_COHERENT : UHMM_MEMORY_DEVICE_PRIVATE;
		if (uhmm_dmirror_device_create(sys, &dopts, &dev[d]))
			fail("uhmm_dmirror_device_create");
	}
	for (ri = 0; ri < NROOT; ri++) {
		unsigned long out;
		unsigned char *buf = xcalloc(SHW, PG);
		size_t b;

		if (uhmm_mm_create(sys, &root[ri]))
			fail("uhmm_mm_create");
		for (d = 0; d < NDEV; d++)
			if (uhmm_dmirror_open(dev[d], root[ri], &rootfile[d][ri]))
				fail("uhmm_dmirror_open");
		/* the shared window: two private and two shared mappings, filled */
		for (k = 0; k < SHW / SLOT; k++)
			if (uhmm_mmap(root[ri], SA((int)(k * SLOT)), SLOT * PG, PROT_READ | PROT_WRITE,
				      (k & 1 ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS | MAP_FIXED, &out))
				fail("uhmm_mmap of the shared window");
		for (b = 0; b < SHW * PG; b++)
			buf[b] = (unsigned char)(b * 13 + (size_t)ri);
		if (uhmm_cpu_write(root[ri], SHARED_BASE, buf, SHW * PG))
			fail("filling the shared window");
		free(buf);
	}
	for (i = 0; i < opt.threads; i++) {
		struct thread *t = &threads[i];
		int p;

		t->id = (int)i;
		t->rng = opt.seed ^ ((uint64_t)(i + 1) * 0xd1b54a32d192ed03ULL);
		rwlock_init(&t->check_lock);
		for (ri = 0; ri < NREG; ri++)
			for (p = 0; p < WIN; p++)
				t->reg[ri].pg[p].prot = -1;
		for (ri = 0; ri < NROOT; ri++) {
			t->reg[ri].live = true;
			t->reg[ri].mm = root[ri];
			for (d = 0; d < NDEV; d++) {
				t->reg[ri].file[d] = rootfile[d][ri];
				if (uhmm_dmirror_open(dev[d], root[ri], &t->nfile[d][ri]))
					fail("uhmm_dmirror_open");
			}
		}
		atomic_store(&t->last_ns, now_ns());
	}
	if (pthread_create(&wd, NULL, watchdog_main, NULL))
		fail("pthread_create");
	for (i = 0; i < opt.threads; i++)
		if (pthread_create(&threads[i].th, NULL, thread_main, &threads[i]))
			fail("pthread_create");
	run_with_progress();
	atomic_store(&main_progress_ns, now_ns());
	atomic_store(&main_phase, 1);
	atomic_store(&stop, 1);
	for (i = 0; i < opt.threads; i++)
		pthread_join(threads[i].th, NULL);

	/* Final checks: every thread's window, exactly, through the CPU and both devices. */
	for (i = 0; i < opt.threads; i++) {
		self = &threads[i];
		for (ri = 0; ri < NROOT; ri++)
			final_region(&threads[i], ri);
	}
	self = NULL;

	/* Teardown: files, address spaces, devices; nothing may be left. */
	atomic_store(&main_phase, 2);
	atomic_store(&main_progress_ns, now_ns());
	for (ri = 0; ri < NROOT; ri++) {
		for (d = 0; d < NDEV; d++)
			uhmm_dmirror_close(rootfile[d][ri]);
		uhmm_mm_put(root[ri]);
	}
	if (uhmm_system_get_stats(sys, &st))
		fail("uhmm_system_get_stats");
	if (st.device_pages_used) {
		fprintf(stderr, "torture: leak: %lu device pages in use after every address space exited\n",
			st.device_pages_used);
		ok = false;
	}
	for (d = 0; d < NDEV; d++)
		uhmm_dmirror_device_destroy(dev[d]);
	if (uhmm_system_get_stats(sys, &st))
		fail("uhmm_system_get_stats");
	if (st.used_pages != 1) {
		fprintf(stderr, "torture: leak: %lu RAM pages in use at the end (the zero page only expected)\n",
			st.used_pages);
		ok = false;
	}
	atomic_store(&main_phase, 3);
	pthread_join(wd, NULL);
	uhmm_system_destroy(sys);

	/* Summary */
	for (i = 0; i < opt.threads; i++) {
		struct thread *t = &threads[i];

		for (k = 0; k < NK; k++) {
			done[k] += t->done[k];
			checked[k] += t->checked[k];
			experr[k] += t->experr[k];
		}
		max_faults = t->max_faults > max_faults ? t->max_faults : max_faults;
		max_rf = t->max_rf_tries > max_rf ? t->max_rf_tries : max_rf;
		max_row = t->max_ebusy_row > max_row ? t->max_ebusy_row : max_row;
		ebusy += t->ebusy;
		fork_enomem += t->fork_enomem;
		excl_raced += t->excl_raced;
		neighbour += t->neighbour_ops;
		shared += t->shared_ops;
		final_pages += t->final_pages;
		region_clear(t, &t->reg[0]);
		region_clear(t, &t->reg[1]);
		free(t->objs);
		pthread_rwlock_destroy(&t->check_lock);
	}
	printf("%-16s %10s %10s %12s\n", "operation", "done", "checked", "exp. errors");
	for (k = 0; k < NK; k++) {
		printf("%-16s %10lu %10lu %12lu%s\n", kname[k], done[k], checked[k], experr[k],
		       done[k] != checked[k] ? "   <-- MISMATCH" : "");
		ok &= done[k] == checked[k];
		tdone += done[k];
		tchecked += checked[k];
	}
	printf("%-16s %10lu %10lu\n", "total", tdone, tchecked);
	printf("neighbour ops %lu, shared-window ops %lu; retries: max dmirror fault rounds %lu, max range_fault "
	       "tries %lu, dmirror -EBUSY %lu (max %lu in a row), fork -ENOMEM %lu, exclusive raced %lu\n",
	       neighbour, shared, max_faults, max_rf, ebusy, max_row, fork_enomem, excl_raced);
	printf("final: %lu pages verified by the CPU and both devices; RAM pages in use %lu, device pages in use 0\n",
	       final_pages, st.used_pages);
	if (tdone != tchecked || !tdone)
		ok = false;
	printf("torture: %s (seed %" PRIu64 ")\n", ok ? "PASS" : "FAIL", opt.seed);
	pthread_rwlock_destroy(&struct_lock);
	return ok ? 0 : 1;
}
