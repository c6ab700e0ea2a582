/* SPDX-License-Identifier: MIT */
/* tests/common/mm_helpers.h - helpers for the memory-model API tests (public API only).
 *
 * Systems that check the leak invariant when they go, deterministic page
 * patterns written and read back through uhmm_cpu_*, page-table queries, an
 * event recorder (one interval and one classic notifier logging every
 * callback in order), and the --list / case-name main() every program shares.
 * Assertions report the caller's file and line.
 */
#ifndef UHMM_TESTS_MM_HELPERS_H
#define UHMM_TESTS_MM_HELPERS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <uhmm/uhmm.h>

#define PG UHMM_PAGE_SIZE

/* assert that @expr (an int errno-style result) equals @want, printing both signed. */
#define mh_assert_ret(expr, want) mh_assert_ret_((expr), (want), #expr, __FILE__, __LINE__)
void mh_assert_ret_(long got, long want, const char *what, const char *file, int line);

/* ------------------------------------------------------------ systems */
#define mh_system(ram) mh_system_(ram, __FILE__, __LINE__)
struct uhmm_system *mh_system_(size_t ram_bytes, const char *file, int line);
unsigned long mh_used_pages(struct uhmm_system *sys);
/* The leak invariant: used_pages == 1 (the zero page), then destroy. */
#define mh_system_done(sys) mh_system_done_(sys, __FILE__, __LINE__)
void mh_system_done_(struct uhmm_system *sys, const char *file, int line);

#define mh_mm(sys) mh_mm_(sys, __FILE__, __LINE__)
struct uhmm_mm *mh_mm_(struct uhmm_system *sys, const char *file, int line);
#define mh_fork(mm) mh_fork_(mm, __FILE__, __LINE__)
struct uhmm_mm *mh_fork_(struct uhmm_mm *mm, const char *file, int line);
/* mmap that must succeed; returns the address. */
#define mh_mmap(mm, addr, len, prot, flags) mh_mmap_(mm, addr, len, prot, flags, __FILE__, __LINE__)
unsigned long mh_mmap_(struct uhmm_mm *mm, unsigned long addr, size_t len, int prot, int flags,
		       const char *file, int line);
#define MH_RW (PROT_READ | PROT_WRITE)
#define MH_PRIV (MAP_PRIVATE | MAP_ANONYMOUS)
#define MH_SHARED (MAP_SHARED | MAP_ANONYMOUS)

/* ----------------------------------------------------------- contents */
/* The byte a pattern with @seed holds at virtual address @va (never 0 for seed != 0). */
static inline unsigned char mh_pattern_byte(unsigned long va, unsigned seed)
{
	uint64_t z = (uint64_t)va * 0x9e3779b97f4a7c15ULL + (uint64_t)seed * 0xbf58476d1ce4e5b9ULL;

	z ^= z >> 29;
	return (unsigned char)((z & 0x7f) | 0x80);
}
void mh_pattern(unsigned char *buf, size_t len, unsigned long va, unsigned seed);
/* Write / check the pattern of (@seed, @origin) into [addr, addr+len): origin is
 * the address the data was written at (mremap moves data, not patterns). */
#define mh_write(mm, addr, len, seed) mh_write_(mm, addr, len, seed, __FILE__, __LINE__)
void mh_write_(struct uhmm_mm *mm, unsigned long addr, size_t len, unsigned seed, const char *file, int line);
#define mh_check(mm, addr, len, seed) mh_check_at_(mm, addr, addr, len, seed, __FILE__, __LINE__)
#define mh_check_at(mm, addr, origin, len, seed) mh_check_at_(mm, addr, origin, len, seed, __FILE__, __LINE__)
void mh_check_at_(struct uhmm_mm *mm, unsigned long addr, unsigned long origin, size_t len, unsigned seed,
		  const char *file, int line);
/* seed 0 is "all zero". */
#define mh_check_zero(mm, addr, len) mh_check_at_(mm, addr, addr, len, 0, __FILE__, __LINE__)
/* True if [addr, addr+len) reads back as the pattern (no assertion). */
bool mh_matches(struct uhmm_mm *mm, unsigned long addr, unsigned long origin, size_t len, unsigned seed);

/* --------------------------------------------------------- page table */
#define mh_pte(mm, addr) mh_pte_(mm, addr, __FILE__, __LINE__)
struct uhmm_pte_info mh_pte_(struct uhmm_mm *mm, unsigned long addr, const char *file, int line);
/* The VMA at @addr (under the mmap read lock). False if none. */
bool mh_vma_at(struct uhmm_mm *mm, unsigned long addr, struct uhmm_vma_info *info);

/* ------------------------------------------------------- event recorder */
enum mh_src {
	MH_INTERVAL = 1,	/* interval notifier invalidate() */
	MH_CLASSIC_START,	/* classic invalidate_range_start */
	MH_CLASSIC_END,		/* classic invalidate_range_end */
	MH_CLASSIC_RELEASE,	/* classic release() */
};

struct mh_event {
	enum mh_src src;
	enum uhmm_mmu_notifier_event event;
	unsigned long start, end;
	void *owner;
	unsigned int flags;
	struct uhmm_mm *mm;
};

#define MH_MAX_EVENTS 256

/*
 * One interval notifier over [istart, istart+ilen) and one classic notifier,
 * both logging into ev[] in call order (one lock, so the log is a total
 * order). The callbacks never allocate, so the recorder is usable under
 * allocation-failure injection.
 */
struct mh_recorder {
	pthread_mutex_t lock;	/* ev, n, overflow; the "driver lock" of set_seq */
	struct uhmm_mmu_interval_notifier isub;
	struct uhmm_mmu_notifier csub;
	bool interval_on, classic_on;
	struct mh_event ev[MH_MAX_EVENTS];
	size_t n;
	bool overflow;
};

void mh_rec_init(struct mh_recorder *r);
/* Insert the interval notifier / register the classic one: return the API result. */
int mh_rec_insert_interval(struct mh_recorder *r, struct uhmm_mm *mm, unsigned long start, unsigned long len);
int mh_rec_register_classic(struct mh_recorder *r, struct uhmm_mm *mm);
/* Both at once, must succeed; the interval covers the whole address space. */
#define mh_rec_attach(r, mm) mh_rec_attach_(r, mm, __FILE__, __LINE__)
void mh_rec_attach_(struct mh_recorder *r, struct uhmm_mm *mm, const char *file, int line);
/* Remove / unregister whatever is attached (valid after exit). */
void mh_rec_detach(struct mh_recorder *r);
void mh_rec_clear(struct mh_recorder *r);
/* Number of logged events from @src (0: all). */
size_t mh_rec_count(struct mh_recorder *r, enum mh_src src);
/* The idx-th event from @src, or NULL. */
const struct mh_event *mh_rec_get(struct mh_recorder *r, enum mh_src src, size_t idx);
/* Print the log to stderr (on failure). */
void mh_rec_dump(struct mh_recorder *r, const char *why);
/* Assert the idx-th event of @src is (event, start, end) with owner NULL. */
#define mh_rec_expect(r, src, idx, ev, s, e) mh_rec_expect_(r, src, idx, ev, s, e, __FILE__, __LINE__)
void mh_rec_expect_(struct mh_recorder *r, enum mh_src src, size_t idx, enum uhmm_mmu_notifier_event ev,
		    unsigned long start, unsigned long end, const char *file, int line);
#define mh_rec_expect_count(r, src, want) mh_rec_expect_count_(r, src, want, __FILE__, __LINE__)
void mh_rec_expect_count_(struct mh_recorder *r, enum mh_src src, size_t want, const char *file, int line);
/* Every classic start has its end, with the same range, in LIFO order. */
#define mh_rec_expect_balanced(r) mh_rec_expect_balanced_(r, __FILE__, __LINE__)
void mh_rec_expect_balanced_(struct mh_recorder *r, const char *file, int line);

/* ---------------------------------------------------------------- main */
/*
 * The shared driver: `prog --list` prints one case name per line and nothing
 * else on stdout; `prog CASE` runs exactly that case; no argument runs all.
 */
int mh_main(const char *prog, const struct CMUnitTest *tests, size_t n, int argc, char **argv);

#endif
