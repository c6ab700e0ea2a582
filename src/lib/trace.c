/* SPDX-License-Identifier: MIT */
/* trace.c - delivering trace events to the installed tracer.
 *
 * The tracer pointer is read with a relaxed load on every hook; it pairs with
 * the release store in uhmm_trace_set, which is all a tracer installed before
 * the traced work needs.
 */
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "lib/trace.h"

const struct uhmm_tracer *_Atomic uhmm_tracer_current;

void uhmm_trace_set(const struct uhmm_tracer *tracer)
{
	atomic_store_explicit(&uhmm_tracer_current, tracer, memory_order_release);
}

bool uhmm_trace_enabled(void)
{
	return trace_on();
}

void uhmm_trace_emit(struct uhmm_trace_event *ev)
{
	const struct uhmm_tracer *t = atomic_load_explicit(&uhmm_tracer_current, memory_order_acquire);
	static _Thread_local uint64_t tid;
	struct timespec ts;

	if (!t || !ev)
		return;
	if (!tid)
		tid = (uint64_t)syscall(SYS_gettid);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ev->ts_ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	ev->tid = tid;
	t->event(t->arg, ev);
}

void trace_span(enum uhmm_trace_phase ph, const char *cat, const char *name, struct uhmm_mm *mm,
		unsigned long start, unsigned long end, long value)
{
	struct uhmm_trace_event ev = { .phase = ph, .name = name, .cat = cat, .mm = mm, .start = start,
				       .end = end, .event = -1, .value = value };

	uhmm_trace_emit(&ev);
}

void trace_invalidate(const struct uhmm_mmu_notifier_range *r)
{
	struct uhmm_trace_event ev = { .phase = UHMM_TRACE_INSTANT, .name = "invalidate", .cat = "notifier",
				       .mm = r->mm, .start = r->start, .end = r->end, .event = (int)r->event,
				       .owner = r->owner };

	uhmm_trace_emit(&ev);
}

void trace_counter(const char *name, long value, const void *device)
{
	struct uhmm_trace_event ev = { .phase = UHMM_TRACE_COUNTER, .name = name, .cat = "device",
				       .event = -1, .value = value, .device = device };

	uhmm_trace_emit(&ev);
}
