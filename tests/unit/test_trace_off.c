/* SPDX-License-Identifier: MIT */
/* tests/unit/test_trace_off.c - tracing costs nothing when it is off.
 *
 * White-box: uses the library's own hook (trace_on / TRACE_BEGIN from
 * src/lib/trace.h). Shows that (1) with no tracer installed no callback ever
 * runs, whatever the workload; (2) the hook compiles to one load and one
 * conditional branch with no call on the not-traced path — read from this
 * very executable's machine code with objdump, in optimised builds without
 * sanitizers (elsewhere the case is skipped: instrumentation adds code on
 * purpose); (3) uhmm_trace_enabled follows uhmm_trace_set.
 * Kernel analogue: static keys/tracepoints are a patched jump; ours is a
 * relaxed load + predicted-not-taken branch. Usage: test_trace_off [--list | CASE].
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uhmm/uhmm.h>

#include "lib/trace.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif

static atomic_ulong calls;

static void count_event(void *arg, const struct uhmm_trace_event *ev)
{
	(void)arg;
	(void)ev;
	atomic_fetch_add(&calls, 1);
}
static const struct uhmm_tracer counter = { .event = count_event };

/* Faults, COW, fork, mprotect, madvise, munmap, exit: hooks everywhere. */
static void workload(void)
{
	struct uhmm_system *sys;
	struct uhmm_mm *mm, *child;
	unsigned long addr;
	char buf[64] = "trace";

	assert_int_equal(uhmm_system_create(NULL, &sys), 0);
	assert_int_equal(uhmm_mm_create(sys, &mm), 0);
	assert_int_equal(uhmm_mmap(mm, 0, 16 * UHMM_PAGE_SIZE, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, &addr), 0);
	for (int i = 0; i < 16; i++)
		assert_int_equal(uhmm_cpu_write(mm, addr + (unsigned long)i * UHMM_PAGE_SIZE, buf, sizeof(buf)), 0);
	assert_int_equal(uhmm_mm_fork(mm, &child), 0);
	assert_int_equal(uhmm_cpu_write(child, addr, buf, sizeof(buf)), 0);
	assert_int_equal(uhmm_mprotect(mm, addr, UHMM_PAGE_SIZE, PROT_READ), 0);
	assert_int_equal(uhmm_madvise(mm, addr + UHMM_PAGE_SIZE, UHMM_PAGE_SIZE, MADV_DONTNEED), 0);
	assert_int_equal(uhmm_munmap(mm, addr + 2 * UHMM_PAGE_SIZE, UHMM_PAGE_SIZE), 0);
	uhmm_mm_put(child);
	uhmm_mm_put(mm);
	uhmm_system_destroy(sys);
}

static void test_no_callback_when_off(void **state)
{
	uhmm_trace_set(&counter);
	workload();
	uhmm_trace_set(NULL);
	assert_true(atomic_load(&calls) > 0);	/* the workload does hit hooks */

	atomic_store(&calls, 0);
	workload();
	assert_int_equal(atomic_load(&calls), 0);
}

static void test_enabled_follows_set(void **state)
{
	assert_false(uhmm_trace_enabled());
	uhmm_trace_set(&counter);
	assert_true(uhmm_trace_enabled());
	uhmm_trace_set(NULL);
	assert_false(uhmm_trace_enabled());
	/* emit with no tracer is a no-op */
	atomic_store(&calls, 0);
	uhmm_trace_emit(&(struct uhmm_trace_event){ .phase = UHMM_TRACE_INSTANT, .name = "x", .event = -1 });
	assert_int_equal(atomic_load(&calls), 0);
}

/* The hook exactly as the library writes it, in a function of its own. */
__attribute__((noinline, used)) int trace_off_probe(int x)
{
	TRACE_BEGIN("test", "probe", NULL, 0, 0);
	return x + 1;
}
int (*volatile trace_off_probe_ptr)(int) = trace_off_probe;

struct insn {
	unsigned long addr;
	char text[160];
};

/* Disassemble @sym from this executable into @out; the count, or -1 when
 * objdump cannot be used. */
__attribute__((unused)) static int disasm(const char *sym, struct insn *out, int max)
{
	char exe[PATH_MAX], cmd[PATH_MAX + 128], line[512];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	FILE *p;
	int k = 0;

	if (n <= 0)
		return -1;
	exe[n] = 0;
	snprintf(cmd, sizeof(cmd), "objdump -d --no-show-raw-insn --disassemble=%s '%s' 2>/dev/null", sym, exe);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (fgets(line, sizeof(line), p) && k < max) {
		/* instruction lines: "    5420:\tmov    0x11dda(%rip),%rax   # 171d8 <sym>" */
		char *tab = strchr(line, '\t'), *end;
		unsigned long a = strtoul(line, &end, 16);

		if (!tab || *end != ':' || end > tab)
			continue;
		out[k].addr = a;
		snprintf(out[k].text, sizeof(out[k].text), "%s", tab + 1);
		out[k].text[strcspn(out[k].text, "\n")] = 0;
		k++;
	}
	pclose(p);
	return k > 0 ? k : -1;
}

/*
 * Walk the probe's machine code along the path taken when no tracer is set:
 * at the conditional branch on the tracer pointer, je/jz is taken (NULL) and
 * jne/jnz falls through. Count what that path executes.
 */
static void test_hook_is_one_branch(void **state)
{
	struct insn ins[128];
	int n, i, steps = 0, branches = 0, calls_seen = 0, loads = 0;

#if defined(UNDER_SANITIZER) || !defined(__OPTIMIZE__) || !defined(__x86_64__)
	(void)ins;
	(void)n;
	(void)i;
	(void)steps;
	(void)branches;
	(void)calls_seen;
	(void)loads;
	skip();	/* sanitizers and -O0 add code on purpose; the walk reads x86-64 */
#else
	if (system("command -v objdump >/dev/null 2>&1"))
		skip();
	assert_int_equal(trace_off_probe_ptr(1), 2);
	n = disasm("trace_off_probe", ins, 128);
	if (n < 0)
		skip();
	for (i = 0; i < n && steps < 64; steps++) {
		const char *t = ins[i].text;

		printf("  not traced: %s\n", t);
		if (strstr(t, "uhmm_tracer_current"))
			loads++;
		if (!strncmp(t, "call", 4))
			calls_seen++;
		if (!strncmp(t, "ret", 3))
			break;
		if (t[0] == 'j') {
			bool taken;
			unsigned long target = strtoul(strpbrk(t, " \t") ? strpbrk(t, " \t") : t, NULL, 16);
			int j;

			if (!strncmp(t, "jmp", 3)) {
				taken = true;
			} else {
				branches++;
				assert_true(!strncmp(t, "je", 2) || !strncmp(t, "jz", 2) || !strncmp(t, "jne", 3) ||
					    !strncmp(t, "jnz", 3));
				taken = !strncmp(t, "je", 2) || !strncmp(t, "jz", 2);
			}
			if (taken) {
				for (j = 0; j < n && ins[j].addr != target; j++)
					;
				if (j == n)
					break;	/* a tail jump out of the function */
				i = j;
				continue;
			}
		}
		i++;
	}
	/* load the tracer pointer, test it, one branch; no call; a handful of instructions */
	assert_int_equal(branches, 1);
	assert_int_equal(calls_seen, 0);
	assert_true(loads >= 1);
	assert_true(steps <= 16);	/* the hook plus the probe's own prologue and epilogue */
#endif
}

static const struct CMUnitTest all_tests[] = {
	cmocka_unit_test(test_no_callback_when_off),
	cmocka_unit_test(test_enabled_follows_set),
	cmocka_unit_test(test_hook_is_one_branch),
};
#define NTESTS (sizeof(all_tests) / sizeof(all_tests[0]))

int main(int argc, char **argv)
{
	struct CMUnitTest selected[NTESTS];
	size_t i, n = 0;

	if (argc > 1 && strcmp(argv[1], "--list") == 0) {
		for (i = 0; i < NTESTS; i++)
			printf("%s\n", all_tests[i].name);
		return 0;
	}
	for (i = 0; i < NTESTS; i++)
		if (argc < 2 || strcmp(argv[1], all_tests[i].name) == 0)
			selected[n++] = all_tests[i];
	if (n == 0) {
		fprintf(stderr, "test_trace_off: no test case named '%s'\n", argv[1]);
		return 2;
	}
	return _cmocka_run_group_tests("trace_off", selected, n, NULL, NULL);
}
