/* SPDX-License-Identifier: MIT */
/* trace.h - the library's trace hooks: one relaxed load and a branch when tracing is off. */
#ifndef UHMM_LIB_TRACE_H
#define UHMM_LIB_TRACE_H

#include <stdatomic.h>
#include <stddef.h>
#include <uhmm/notifier.h>
#include <uhmm/trace.h>

extern const struct uhmm_tracer *_Atomic uhmm_tracer_current;

static inline bool trace_on(void)
{
	return __builtin_expect(atomic_load_explicit(&uhmm_tracer_current, memory_order_relaxed) != NULL, 0);
}

void trace_span(enum uhmm_trace_phase ph, const char *cat, const char *name, struct uhmm_mm *mm,
		unsigned long start, unsigned long end, long value);
void trace_invalidate(const struct uhmm_mmu_notifier_range *r);
void trace_counter(const char *name, long value, const void *device);

#define TRACE_BEGIN(cat, name, mm, s, e) do { if (trace_on()) trace_span(UHMM_TRACE_BEGIN, cat, name, mm, s, e, 0); } while (0)
#define TRACE_END(cat, name, mm, v) do { if (trace_on()) trace_span(UHMM_TRACE_END, cat, name, mm, 0, 0, v); } while (0)

#endif
