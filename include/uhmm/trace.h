/* SPDX-License-Identifier: MIT */
/* uhmm/trace.h - optional event tracing: spans, instants and counters from the library and drivers.
 *
 * Counterpart in spirit of the kernel's tracepoints. With no tracer set every
 * hook is one relaxed load and a predictable branch. The uhmm CLI turns the
 * events into Chrome trace-event JSON (Perfetto, chrome://tracing).
 */
#ifndef UHMM_TRACE_H
#define UHMM_TRACE_H

#include <stdbool.h>
#include <stdint.h>
#include <uhmm/export.h>

#ifdef __cplusplus
extern "C" {
#endif

struct uhmm_mm;

enum uhmm_trace_phase {
	UHMM_TRACE_BEGIN,	/* a span opens on this thread */
	UHMM_TRACE_END,		/* the innermost span of this thread closes */
	UHMM_TRACE_INSTANT,	/* a point event */
	UHMM_TRACE_COUNTER,	/* a counter's new value */
};

struct uhmm_trace_event {
	enum uhmm_trace_phase phase;
	const char *name;	/* static string: "cpu_fault", "migrate_vma_setup", "invalidate", ... */
	const char *cat;	/* "mm", "migrate", "hmm", "notifier", "device" */
	uint64_t ts_ns;		/* CLOCK_MONOTONIC, filled by uhmm_trace_emit */
	uint64_t tid;		/* the emitting thread, filled by uhmm_trace_emit */
	struct uhmm_mm *mm;
	unsigned long start, end;	/* an address range, when there is one */
	int event;		/* enum uhmm_mmu_notifier_event for invalidations, else -1 */
	void *owner;		/* invalidations: range->owner (MIGRATE/EXCLUSIVE) */
	bool skipped;		/* driver invalidations: ignored by the owner filter */
	long value;		/* counters; result codes for END */
	const void *device;	/* the device a driver event belongs to */
};

struct uhmm_tracer {
	/* Called on the emitting thread, possibly concurrently and under uhmm's
	 * locks: record and return; never call back into uhmm. */
	void (*event)(void *arg, const struct uhmm_trace_event *ev);
	void *arg;
};

/* Install (or with NULL remove) the process-wide tracer. The tracer must stay
 * valid until it is removed and no uhmm call is running. */
UHMM_API void uhmm_trace_set(const struct uhmm_tracer *tracer);

/* Drivers emit their own events through this (ts and tid are filled in). */
UHMM_API void uhmm_trace_emit(struct uhmm_trace_event *ev);

/* True when a tracer is installed: guard event construction with it. */
UHMM_API bool uhmm_trace_enabled(void);

#ifdef __cplusplus
}
#endif
#endif
