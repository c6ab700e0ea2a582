/* SPDX-License-Identifier: MIT */
/* uhmm/system.h - one simulated machine: its RAM and, later, its devices.
 *
 * Counterpart of the kernel's page allocator seen from outside (mm/page_alloc.c).
 */
#ifndef UHMM_SYSTEM_H
#define UHMM_SYSTEM_H

#include <stddef.h>
#include <stdint.h>
#include <uhmm/export.h>

#ifdef __cplusplus
extern "C" {
#endif

#define UHMM_PAGE_SHIFT 12
#define UHMM_PAGE_SIZE (1UL << UHMM_PAGE_SHIFT)
#define UHMM_PAGE_MASK (~(UHMM_PAGE_SIZE - 1))

struct uhmm_system;
struct uhmm_page;

/* The three settings of /sys/kernel/mm/transparent_hugepage/enabled. */
enum uhmm_thp_mode {
	UHMM_THP_MADVISE = 0,	/* huge pages only in ranges advised MADV_HUGEPAGE (the default) */
	UHMM_THP_ALWAYS,	/* in every eligible range not advised MADV_NOHUGEPAGE */
	UHMM_THP_NEVER,		/* never */
};

struct uhmm_system_opts {
	size_t ram_bytes;	/* simulated RAM; 0 means 256 MiB. Rounded down to pages. */
	enum uhmm_thp_mode thp;	/* transparent huge pages (see README "Huge pages") */
};

struct uhmm_system_stats {
	unsigned long ram_pages;	/* frames of RAM, the zero page included */
	unsigned long free_pages;	/* RAM frames on the free list or never used */
	unsigned long used_pages;	/* RAM frames allocated (zero page included) */
	unsigned long device_pages;	/* device frames created by uhmm_memremap_pages */
	unsigned long device_pages_used;/* device frames with a non-zero refcount */
};

/*
 * uhmm_system_create - create a simulated machine.
 * @opts: NULL for defaults.
 * @out: receives the system.
 * RAM is reserved once and touched lazily. Returns 0, -EINVAL (out NULL, RAM
 * smaller than 16 pages or larger than 64 GiB), -ENOMEM.
 */
UHMM_API int uhmm_system_create(const struct uhmm_system_opts *opts, struct uhmm_system **out);

/*
 * uhmm_system_destroy - free the machine. Every address space must be gone and
 * every device memory region unmapped first; a leak is reported on stderr.
 */
UHMM_API void uhmm_system_destroy(struct uhmm_system *sys);

/* uhmm_system_get_stats - frame counts. Returns 0 or -EINVAL. */
UHMM_API int uhmm_system_get_stats(struct uhmm_system *sys, struct uhmm_system_stats *st);

/*
 * Allocation-failure injection (tests): fail the Nth internal allocation from
 * now (1 = the next one). persistent=0 fails only that call, persistent=1 fails
 * every call from the Nth on. nth=0 disables. Counts are process-wide and
 * per-thread-safe (atomic). uhmm_fail_count() returns the number of internal
 * allocations made since the last uhmm_fail_nth() while injection was armed
 * (nth != 0); disarmed, nothing is counted, so the hot paths write nothing shared.
 */
UHMM_API void uhmm_fail_nth(unsigned long nth, int persistent);
UHMM_API unsigned long uhmm_fail_count(void);
/*
 * uhmm_fail_huge_alloc - while @fail is non-zero, every allocation of a 2 MiB
 * block (order 9) fails, and only those: 4 KiB allocations go on. Exercises
 * the fallbacks Linux takes when no huge page is free. Process-wide.
 */
UHMM_API void uhmm_fail_huge_alloc(int fail);

#ifdef __cplusplus
}
#endif
#endif
