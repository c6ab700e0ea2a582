/* SPDX-License-Identifier: MIT */
/* trace_json.c - record uhmm trace events in memory, write Chrome trace-event JSON.
 *
 * The format is the one Perfetto (ui.perfetto.dev) and chrome://tracing open:
 * {"traceEvents": [...]} with B/E spans per thread, thread-scoped instants
 * and per-device counters. The tracer callback runs on uhmm's threads under
 * uhmm's locks, so it only appends to a chunked buffer under one leaf mutex
 * and never calls back into uhmm; the JSON is written at the end.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <uhmm/uhmm.h>

#include "cli.h"

#define CHUNK_EVENTS 8192
#define MAX_EVENTS (4UL << 20)	/* ~330 MB at most; later events are counted as dropped */
#define MAX_LABELS 64

struct rec {
	const char *name, *cat;
	uint64_t ts_ns, tid;
	struct uhmm_mm *mm;
	unsigned long start, end;
	void *owner;
	const void *device;
	long value;
	int event;
	unsigned char phase;
	bool skipped;
};

struct chunk {
	struct chunk *next;
	unsigned int n;
	struct rec recs[CHUNK_EVENTS];
};

static struct {
	pthread_mutex_t lock;	/* protects head/tail/count/dropped: a leaf lock, taken in the callback */
	struct chunk *head, *tail;
	unsigned long count, dropped;
	FILE *f;
	const char *path;
	char process[64];
	uint64_t t0, main_tid;
	bool active, installed;
	struct {
		const void *ptr;
		char label[24];
	} labels[MAX_LABELS];
	int nlabels;
} T = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void on_event(void *arg, const struct uhmm_trace_event *ev)
{
	struct rec *r;

	(void)arg;
	pthread_mutex_lock(&T.lock);
	if (T.count >= MAX_EVENTS) {
		T.dropped++;
		goto out;
	}
	if (!T.tail || T.tail->n == CHUNK_EVENTS) {
		struct chunk *c = malloc(sizeof(*c));

		if (!c) {
			T.dropped++;
			goto out;
		}
		c->next = NULL;
		c->n = 0;
		if (T.tail)
			T.tail->next = c;
		else
			T.head = c;
		T.tail = c;
	}
	r = &T.tail->recs[T.tail->n++];
	*r = (struct rec){ .name = ev->name ? ev->name : "?", .cat = ev->cat ? ev->cat : "uhmm",
			   .ts_ns = ev->ts_ns, .tid = ev->tid, .mm = ev->mm, .start = ev->start, .end = ev->end,
			   .owner = ev->owner, .device = ev->device, .value = ev->value, .event = ev->event,
			   .phase = (unsigned char)ev->phase, .skipped = ev->skipped };
	T.count++;
out:
	pthread_mutex_unlock(&T.lock);
}

static const struct uhmm_tracer tracer = { .event = on_event };

void trace_json_forward(const struct uhmm_trace_event *ev)
{
	if (T.active)
		on_event(NULL, ev);
}

int trace_json_start(const char *path, const char *process_name, bool install)
{
	if (T.active)
		return -EBUSY;
	T.f = fopen(path, "w");
	if (!T.f)
		return -errno;
	T.path = path;
	snprintf(T.process, sizeof(T.process), "%s", process_name);
	T.t0 = now_ns();
	T.main_tid = (uint64_t)syscall(SYS_gettid);
	T.active = true;
	T.installed = install;
	if (install)
		uhmm_trace_set(&tracer);
	return 0;
}

void trace_json_label(const void *ptr, const char *label)
{
	int i;

	if (!T.active || !ptr)
		return;
	for (i = 0; i < T.nlabels; i++)
		if (T.labels[i].ptr == ptr)
			break;
	if (i == MAX_LABELS)
		return;
	if (i == T.nlabels)
		T.nlabels++;
	T.labels[i].ptr = ptr;
	snprintf(T.labels[i].label, sizeof(T.labels[i].label), "%s", label);
}

static void emit_own(enum uhmm_trace_phase ph, const char *name)
{
	struct uhmm_trace_event ev = { .phase = ph, .name = name, .cat = "uhmm", .event = -1 };

	if (T.active)
		uhmm_trace_emit(&ev);
}

void trace_json_begin(const char *name) { emit_own(UHMM_TRACE_BEGIN, name); }
void trace_json_end(const char *name) { emit_own(UHMM_TRACE_END, name); }
void trace_json_mark(const char *name) { emit_own(UHMM_TRACE_INSTANT, name); }

unsigned long trace_json_events(void)
{
	unsigned long n;

	pthread_mutex_lock(&T.lock);
	n = T.count;
	pthread_mutex_unlock(&T.lock);
	return n;
}

/* A pointer's label, or its address as text. */
static const char *label_of(const void *ptr, char *buf, size_t len)
{
	for (int i = 0; i < T.nlabels; i++)
		if (T.labels[i].ptr == ptr)
			return T.labels[i].label;
	snprintf(buf, len, "%p", ptr);
	return buf;
}

static void put_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void put_range(FILE *f, const struct rec *r)
{
	if (r->end > r->start)
		fprintf(f, ",\"start\":\"%#lx\",\"end\":\"%#lx\",\"pages\":%lu", r->start, r->end,
			(r->end - r->start) >> UHMM_PAGE_SHIFT);
}

static void write_rec(FILE *f, const struct rec *r, int pid)
{
	char b1[32], b2[32], name[96];
	/* Relative microseconds with nanosecond digits; events before t0 clamp. */
	uint64_t rel = r->ts_ns > T.t0 ? r->ts_ns - T.t0 : 0;
	const char *ph = r->phase == UHMM_TRACE_BEGIN ? "B" : r->phase == UHMM_TRACE_END ? "E"
						: r->phase == UHMM_TRACE_INSTANT ? "i" : "C";

	if (r->phase == UHMM_TRACE_COUNTER) {
		snprintf(name, sizeof(name), "%s %s", r->name,
			 r->device ? label_of(r->device, b1, sizeof(b1)) : "");
		fputs(",\n{\"ph\":\"C\",\"name\":", f);
		put_str(f, name);
		/* dmirror's simulated device clock counts nanoseconds; the others pages */
		fprintf(f, ",\"cat\":\"%s\",\"ts\":%" PRIu64 ".%03u,\"pid\":%d,\"args\":{\"%s\":%ld}}", r->cat,
			rel / 1000, (unsigned)(rel % 1000), pid,
			r->name && !strcmp(r->name, "dmirror_device_ns") ? "ns" : "pages", r->value);
		return;
	}
	if (r->phase == UHMM_TRACE_INSTANT && r->event >= 0 && r->event < UHMM_MMU_NOTIFY_NR_EVENTS)
		snprintf(name, sizeof(name), "%s %s", r->name,
			 uhmm_mmu_notifier_event_name((enum uhmm_mmu_notifier_event)r->event));
	else
		snprintf(name, sizeof(name), "%s", r->name);
	fprintf(f, ",\n{\"ph\":\"%s\",", ph);
	if (r->phase == UHMM_TRACE_INSTANT)
		fputs("\"s\":\"t\",", f);
	fputs("\"name\":", f);
	put_str(f, name);
	fputs(",\"cat\":", f);
	put_str(f, r->cat);
	fprintf(f, ",\"ts\":%" PRIu64 ".%03u,\"pid\":%d,\"tid\":%" PRIu64 ",\"args\":{", rel / 1000,
		(unsigned)(rel % 1000), pid, r->tid);
	if (r->phase == UHMM_TRACE_END) {
		fprintf(f, "\"result\":%ld}}", r->value);
		return;
	}
	fprintf(f, "\"mm\":\"%s\"", r->mm ? label_of(r->mm, b1, sizeof(b1)) : "-");
	put_range(f, r);
	if (r->event >= 0 && r->event < UHMM_MMU_NOTIFY_NR_EVENTS) {
		fprintf(f, ",\"event\":\"%s\"",
			uhmm_mmu_notifier_event_name((enum uhmm_mmu_notifier_event)r->event));
		/* range->owner means something only for MIGRATE and EXCLUSIVE. */
		if (r->event == UHMM_MMU_NOTIFY_MIGRATE || r->event == UHMM_MMU_NOTIFY_EXCLUSIVE)
			fprintf(f, ",\"owner\":\"%s\"", r->owner ? label_of(r->owner, b2, sizeof(b2)) : "none");
	}
	if (r->device) {
		fprintf(f, ",\"device\":\"%s\"", label_of(r->device, b2, sizeof(b2)));
		if (r->phase == UHMM_TRACE_INSTANT && r->event >= 0)	/* a driver's callback */
			fprintf(f, ",\"skipped\":%s,\"zapped\":%ld", r->skipped ? "true" : "false", r->value);
	}
	fputs("}}", f);
}

int trace_json_finish(void)
{
	struct chunk *c, *next;
	int pid = (int)getpid(), err = 0;
	FILE *f = T.f;

	if (!T.active)
		return 0;
	if (T.installed)
		uhmm_trace_set(NULL);
	T.active = false;
	fprintf(f, "{\"displayTimeUnit\":\"ns\",\n\"otherData\":{\"tool\":\"uhmm %s\",\"events\":%lu,"
		   "\"dropped_events\":%lu},\n\"traceEvents\":[\n",
		UHMM_VERSION_STRING, T.count, T.dropped);
	fprintf(f, "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":%d,\"tid\":%" PRIu64 ",\"args\":{\"name\":", pid,
		T.main_tid);
	put_str(f, T.process);
	fprintf(f, "}},\n{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":%d,\"tid\":%" PRIu64
		   ",\"args\":{\"name\":\"main\"}}",
		pid, T.main_tid);
	for (c = T.head; c; c = next) {
		for (unsigned int i = 0; i < c->n; i++)
			write_rec(f, &c->recs[i], pid);
		next = c->next;
		free(c);
	}
	fputs("\n]}\n", f);
	if (ferror(f))
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	T.head = T.tail = NULL;
	T.count = T.dropped = 0;
	T.nlabels = 0;
	T.f = NULL;
	return err;
}
