/* SPDX-License-Identifier: MIT */
/* util.c - loud failures and the allocation hook every internal allocation goes through.
 *
 * The hook is the userspace counterpart of the kernel's fault injection
 * (failslab): tests make the Nth allocation fail, once or from then on.
 */
#include <execinfo.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

void uhmm_bug(const char *file, int line, const char *fmt, ...)
{
	void *bt[32];
	va_list ap;
	int n;

	fprintf(stderr, "uhmm: BUG at %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	/* the frames above uhmm's name the caller that broke the rule */
	fputs("uhmm: caller's stack:\n", stderr);
	n = backtrace(bt, 32);
	backtrace_symbols_fd(bt, n, STDERR_FILENO);
	abort();
}

bool uhmm_warn_on(bool cond, const char *file, int line, const char *what)
{
	if (unlikely(cond))
		fprintf(stderr, "uhmm: WARNING at %s:%d: %s\n", file, line, what);
	return cond;
}

/* fail_nth == 0: off. Counting is global; tests that use it are single-threaded
 * while it is armed, the atomics only keep TSan and concurrent users sane. */
/* Own cache line: every allocation reads fail_nth, and counting is done
 * only while injection is armed, so the fault path writes nothing shared. */
static _Alignas(64) atomic_ulong fail_nth;
static atomic_int fail_persistent;
static atomic_ulong alloc_count;

void uhmm_fail_nth(unsigned long nth, int persistent)
{
	atomic_store(&alloc_count, 0);
	atomic_store(&fail_persistent, persistent);
	atomic_store(&fail_nth, nth);
}

unsigned long uhmm_fail_count(void)
{
	return atomic_load(&alloc_count);
}

bool uhmm_should_fail_alloc(void)
{
	unsigned long nth = atomic_load_explicit(&fail_nth, memory_order_relaxed);
	unsigned long n;

	if (likely(nth == 0))
		return false;	/* disarmed: nothing counted (uhmm_fail_count is for armed runs) */
	n = atomic_fetch_add_explicit(&alloc_count, 1, memory_order_relaxed) + 1;
	if (atomic_load_explicit(&fail_persistent, memory_order_relaxed))
		return n >= nth;
	return n == nth;
}

void *uhmm_malloc(size_t n)
{
	if (uhmm_should_fail_alloc())
		return NULL;
	return malloc(n);
}

void *uhmm_calloc(size_t n, size_t sz)
{
	if (uhmm_should_fail_alloc())
		return NULL;
	return calloc(n, sz);
}

void *uhmm_mmap_reserve(size_t len)
{
	if (uhmm_should_fail_alloc())
		return MAP_FAILED;
	return mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
}
