/* SPDX-License-Identifier: MIT */
/* lockdep.c - per-thread lock ranks; see lockdep.h. */
#ifdef UHMM_DEBUG
#include <execinfo.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "lib/lockdep.h"

static const char *const rank_name[LR_NR] = {
	[LR_MMAP] = "mmap_lock", [LR_PAGE] = "page lock", [LR_ANON_PREPARE] = "anon_prepare_lock",
	[LR_MAPPING] = "mapping lock", [LR_NOTIFIER] = "notifier subscriptions lock", [LR_PTL] = "page-table lock",
};

struct held {
	int count[LR_NR];
	const char *file[LR_NR];
	int line[LR_NR];
	int in_callback;
};

static _Thread_local struct held held;

__attribute__((noreturn)) static void violation(const char *rule, const char *file, int line)
{
	void *bt[32];
	int n = backtrace(bt, 32);

	fprintf(stderr, "uhmm: broken rule at %s:%d: %s\nuhmm: caller's stack:\n", file, line, rule);
	backtrace_symbols_fd(bt, n, STDERR_FILENO);
	abort();
}

void lockdep_acquire(enum lock_rank r, bool nested, const char *file, int line)
{
	char msg[512];
	int i;

	for (i = LR_NR - 1; i >= (int)r; i--) {
		if (!held.count[i])
			continue;
		if (i == (int)r && (nested || r == LR_PAGE))
			continue;	/* declared nesting; page locks of fresh or trylocked pages */
		snprintf(msg, sizeof(msg), "lock order: taking the %s while holding the %s (taken at %s:%d)%s",
			 rank_name[r], rank_name[i], held.file[i], held.line[i],
			 i == (int)r ? " - recursive, deadlocks against a waiting writer" : "");
		violation(msg, file, line);
	}
	held.count[r]++;
	held.file[r] = file;
	held.line[r] = line;
}

void lockdep_acquired_try(enum lock_rank r, const char *file, int line)
{
	/* a trylock never waits, so it cannot close a cycle: record it, check nothing */
	held.count[r]++;
	held.file[r] = file;
	held.line[r] = line;
}

void lockdep_release(enum lock_rank r)
{
	/* page locks may be released by another thread than the one that took them */
	if (held.count[r] > 0)
		held.count[r]--;
}

void lockdep_assert_held(enum lock_rank r, const char *what, const char *file, int line)
{
	char msg[256];

	if (held.count[r])
		return;
	snprintf(msg, sizeof(msg), "%s must be called with the %s held", what, rank_name[r]);
	violation(msg, file, line);
}

void lockdep_callback_enter(void) { held.in_callback++; }
void lockdep_callback_exit(void) { held.in_callback--; }

void lockdep_assert_not_in_callback(const char *what, const char *file, int line)
{
	char msg[256];

	if (!held.in_callback)
		return;
	snprintf(msg, sizeof(msg), "%s called from inside an mmu notifier callback (it waits for that callback)",
		 what);
	violation(msg, file, line);
}
#else
typedef int lockdep_compiled_out;
#endif
