/* SPDX-License-Identifier: MIT */
/* tests/conformance/conf_fixture.h - the fixtures of the kernel's hmm-tests.c, for uhmm.
 *
 * The conformance programs (tests/conformance/test_conf_*.c) replay the cases
 * of tools/testing/selftests/mm/hmm-tests.c (reference section 7) step by
 * step, with the same asserted values. This header is their harness, as
 * static inline functions (tests/common/ belongs to the other suites):
 *
 *   - the devices: hmm-tests opens /dev/hmm_dmirror0..3, where 0 and 1 are
 *     device-private and 2 and 3 device-coherent. Here a test's "unit" n is
 *     a dmirror device created on first use (conf_device), so "the child
 *     opens hmm_dmirror0" opens the same device 0 as the kernel's test does,
 *     whatever the variant;
 *   - FIXTURE(hmm) / FIXTURE(hmm2) and their four variants: one simulated
 *     machine (512 MiB of RAM), one address space (the test process), one
 *     or two open files (conf_setup); the teardown closes them, exits the
 *     address space, destroys the devices and checks that nothing leaked:
 *     only the zero page in use, no device page registered or in use;
 *   - struct conf_buffer and conf_cmd, the counterparts of struct hmm_buffer
 *     and hmm_dmirror_cmd(): ptr lives in the simulated address space,
 *     mirror is ordinary memory of this program (cmd.ptr);
 *   - CPU accesses as the test process makes them (uhmm_cpu_read/write),
 *     page by page, with int-pattern fill and check helpers;
 *   - conf_main: `--list` prints one case name per line and nothing else on
 *     stdout; `prog CASE` runs exactly that case; no argument runs all.
 *
 * Case names are <case>__<variant>; the build registers <program>.<name>.
 * A case that needs what uhmm does not model calls conf_skip(reason): cmocka
 * prints "[  SKIPPED ]", which ctest counts as skipped, never as passed.
 *
 * "A child process" is a forked address space (uhmm_mm_fork) whose steps run
 * in this process (in a thread when the case needs them concurrent); the
 * child's assertions are checked, unlike the kernel's harness which only
 * looks at the exit status. Its exit is uhmm_mm_put.
 */
#ifndef UHMM_TESTS_CONF_FIXTURE_H
#define UHMM_TESTS_CONF_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <uhmm/dmirror.h>
#include <uhmm/uhmm.h>

/* ------------------------------------------------------------ constants */

#define CONF_PAGE_SIZE UHMM_PAGE_SIZE
#define CONF_PAGE_SHIFT UHMM_PAGE_SHIFT
#define HMM_BUFFER_SIZE (1024UL << 12)	/* 4 MiB: 1024 pages */
#define TWOMEG (1UL << 21)
#define NTIMES 10
#define CONF_PMD_SIZE (1UL << 21)	/* read_pmd_pagesize(): 2 MiB as in 6.1 */
#define CONF_RAM_BYTES (512UL << 20)
#define CONF_NDEVICES 4			/* DMIRROR_NDEVICES */
#define CONF_ALIGN(x, a) (((x) + ((a) - 1)) & ~((a) - 1))
#define CONF_INTS_PER_PAGE (CONF_PAGE_SIZE / sizeof(int))

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

/* The snapshot bytes are Linux's HMM_DMIRROR_PROT_* values. */
_Static_assert(UHMM_DMIRROR_PROT_ERROR == 0xFF && UHMM_DMIRROR_PROT_NONE == 0x00 &&
		       UHMM_DMIRROR_PROT_READ == 0x01 && UHMM_DMIRROR_PROT_WRITE == 0x02 &&
		       UHMM_DMIRROR_PROT_PMD == 0x04 && UHMM_DMIRROR_PROT_PUD == 0x08 &&
		       UHMM_DMIRROR_PROT_ZERO == 0x10 && UHMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL == 0x20 &&
		       UHMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE == 0x30 &&
		       UHMM_DMIRROR_PROT_DEV_COHERENT_LOCAL == 0x40 &&
		       UHMM_DMIRROR_PROT_DEV_COHERENT_REMOTE == 0x50,
	       "HMM_DMIRROR_PROT_* values");
/* The 6.1+ request numbers. */
_Static_assert(UHMM_DMIRROR_READ == 0 && UHMM_DMIRROR_WRITE == 1 && UHMM_DMIRROR_MIGRATE_TO_DEV == 2 &&
		       UHMM_DMIRROR_MIGRATE_TO_SYS == 3 && UHMM_DMIRROR_SNAPSHOT == 4 &&
		       UHMM_DMIRROR_EXCLUSIVE == 5 && UHMM_DMIRROR_CHECK_EXCLUSIVE == 6 &&
		       UHMM_DMIRROR_RELEASE == 7 && UHMM_DMIRROR_FLAGS == 8,
	       "HMM_DMIRROR_* request numbers");

/* ------------------------------------------------------------- variants */

enum conf_fixture_kind { CONF_HMM = 1, CONF_HMM2 = 2 };

/* The device numbers of hmm-tests.c: HMM_PRIVATE_DEVICE_ONE, ... */
enum {
	HMM_PRIVATE_DEVICE_ONE,
	HMM_PRIVATE_DEVICE_TWO,
	HMM_COHERENCE_DEVICE_ONE,
	HMM_COHERENCE_DEVICE_TWO,
};

struct conf_variant {
	const char *name;
	enum conf_fixture_kind kind;
	int device_number0;	/* hmm: device_number */
	int device_number1;	/* hmm2 only */
};

static const struct conf_variant conf_hmm_device_private = {
	"hmm_device_private", CONF_HMM, HMM_PRIVATE_DEVICE_ONE, -1,
};
static const struct conf_variant conf_hmm_device_coherent = {
	"hmm_device_coherent", CONF_HMM, HMM_COHERENCE_DEVICE_ONE, -1,
};
static const struct conf_variant conf_hmm2_device_private = {
	"hmm2_device_private", CONF_HMM2, HMM_PRIVATE_DEVICE_ONE, HMM_PRIVATE_DEVICE_TWO,
};
static const struct conf_variant conf_hmm2_device_coherent = {
	"hmm2_device_coherent", CONF_HMM2, HMM_COHERENCE_DEVICE_ONE, HMM_COHERENCE_DEVICE_TWO,
};

static inline bool hmm_is_coherent_type(int dev_num)
{
	return dev_num >= HMM_COHERENCE_DEVICE_ONE;
}

/* -------------------------------------------------------------- fixture */

struct conf {
	const struct conf_variant *variant;
	struct uhmm_system *sys;
	struct uhmm_mm *mm;			/* the test process */
	struct uhmm_dmirror_device *devices[CONF_NDEVICES];	/* /dev/hmm_dmirrorN, on first use */
	/* FIXTURE(hmm): fd (== fd0). FIXTURE(hmm2): fd0, fd1. */
	struct uhmm_dmirror *fd, *fd0, *fd1;
	unsigned int page_size, page_shift;
};

/*
 * The owner-filter policy of the devices (issue 13): UHMM_CONF_FILTER =
 * own-migrate (default), none, populating or thread. ctest runs the suite
 * under each (conf_policy.*); a case whose kernel counterpart expects the
 * filter asserts what the kernel would see under the policy.
 */
static inline enum uhmm_dmirror_filter conf_filter(void)
{
	static const char *const names[] = { "own-migrate", "none", "populating", "thread" };
	const char *e = getenv("UHMM_CONF_FILTER");
	int i;

	if (!e || !*e)
		return UHMM_DMIRROR_FILTER_OWN_MIGRATE;
	for (i = 0; i < 4; i++)
		if (!strcmp(e, names[i]))
			return (enum uhmm_dmirror_filter)i;
	fprintf(stderr, "UHMM_CONF_FILTER=%s: not own-migrate, none, populating or thread\n", e);
	abort();
}

/* The device behind /dev/hmm_dmirror<unit>, created on first use. */
static inline struct uhmm_dmirror_device *conf_device(struct conf *c, int unit)
{
	struct uhmm_dmirror_device_opts o;

	assert_true(unit >= 0 && unit < CONF_NDEVICES);
	if (!c->devices[unit]) {
		memset(&o, 0, sizeof(o));
		o.filter = conf_filter();
		o.type = hmm_is_coherent_type(unit) ? UHMM_MEMORY_DEVICE_COHERENT : UHMM_MEMORY_DEVICE_PRIVATE;
		assert_int_equal(uhmm_dmirror_device_create(c->sys, &o, &c->devices[unit]), 0);
	}
	return c->devices[unit];
}

/* hmm_open(unit) by the process whose address space is @mm. */
static inline struct uhmm_dmirror *hmm_open(struct conf *c, int unit, struct uhmm_mm *mm)
{
	struct uhmm_dmirror *f = NULL;

	assert_int_equal(uhmm_dmirror_open(conf_device(c, unit), mm, &f), 0);
	assert_non_null(f);
	return f;
}

/* FIXTURE_SETUP(hmm) / FIXTURE_SETUP(hmm2). *state is the variant on entry. */
static inline int conf_setup(void **state)
{
	const struct conf_variant *v = *state;
	struct uhmm_system_opts so;
	struct conf *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	c->variant = v;
	c->page_size = CONF_PAGE_SIZE;
	c->page_shift = CONF_PAGE_SHIFT;
	memset(&so, 0, sizeof(so));
	so.ram_bytes = CONF_RAM_BYTES;
	assert_int_equal(uhmm_system_create(&so, &c->sys), 0);
	assert_int_equal(uhmm_mm_create(c->sys, &c->mm), 0);
	c->fd0 = hmm_open(c, v->device_number0, c->mm);
	c->fd = c->fd0;
	if (v->kind == CONF_HMM2)
		c->fd1 = hmm_open(c, v->device_number1, c->mm);
	*state = c;
	return 0;
}

/*
 * FIXTURE_TEARDOWN: close the files (close() must return 0 in the kernel's
 * test: here it returns nothing and must simply return), then the process
 * exits, the devices go, and nothing may be left: only the zero page in
 * RAM, no device page registered or in use.
 */
static inline int conf_teardown(void **state)
{
	struct conf *c = *state;
	struct uhmm_system_stats st;
	int i;

	if (!c)
		return 0;
	uhmm_dmirror_close(c->fd0);
	uhmm_dmirror_close(c->fd1);
	c->fd = c->fd0 = c->fd1 = NULL;
	if (c->mm)
		uhmm_mm_put(c->mm);
	for (i = 0; i < CONF_NDEVICES; i++)
		uhmm_dmirror_device_destroy(c->devices[i]);
	assert_int_equal(uhmm_system_get_stats(c->sys, &st), 0);
	assert_int_equal(st.used_pages, 1);
	assert_int_equal(st.device_pages, 0);
	assert_int_equal(st.device_pages_used, 0);
	uhmm_system_destroy(c->sys);
	free(c);
	*state = NULL;
	return 0;
}

/* ---------------------------------------------------------------- skips */

/* Report a case as SKIPPED (never passed), with the reason on stdout. */
#define conf_skip(...)                                                     \
	do {                                                               \
		print_message("[  REASON  ] ");                            \
		print_message(__VA_ARGS__);                                \
		print_message("\n");                                       \
		skip();                                                    \
	} while (0)

/* ------------------------------------------------------------- buffers */

/* struct hmm_buffer: ptr in the simulated address space, mirror here. */
struct conf_buffer {
	struct uhmm_mm *mm;
	unsigned long ptr;	/* 0 when not mapped */
	void *mirror;
	unsigned long size;
	unsigned long cpages;
	unsigned long faults;
};

static inline struct conf_buffer *conf_buffer_new(struct uhmm_mm *mm, unsigned long size, unsigned long mirror_size)
{
	struct conf_buffer *b = calloc(1, sizeof(*b));

	assert_non_null(b);
	b->mm = mm;
	b->size = size;
	b->mirror = malloc(mirror_size);
	assert_non_null(b->mirror);
	return b;
}

/* mmap(NULL, size, prot, flags, -1, 0) in @mm; asserts success (ASSERT_NE(ptr, MAP_FAILED)). */
static inline unsigned long conf_mmap(struct uhmm_mm *mm, unsigned long size, int prot, int flags)
{
	unsigned long addr = 0;

	assert_int_equal(uhmm_mmap(mm, 0, size, prot, flags, &addr), 0);
	assert_true(addr != 0);
	return addr;
}

/* hmm_buffer_free: munmap(ptr, size) if mapped, free the mirror. */
static inline void hmm_buffer_free(struct conf_buffer *b)
{
	if (!b)
		return;
	if (b->ptr) {
		assert_int_equal(uhmm_munmap(b->mm, b->ptr, b->size), 0);
		b->ptr = 0;
	}
	free(b->mirror);
	free(b);
}

/*
 * hmm_dmirror_cmd(fd, request, buffer, npages): addr = buffer->ptr,
 * ptr = buffer->mirror; on success cpages and faults are copied back into the
 * buffer. Returns 0 or the negative errno (there is no EINTR here).
 */
static inline int hmm_dmirror_cmd(struct uhmm_dmirror *fd, unsigned int request, struct conf_buffer *b,
				  unsigned long npages)
{
	struct uhmm_dmirror_cmd cmd;
	int ret;

	memset(&cmd, 0, sizeof(cmd));
	cmd.addr = b->ptr;
	cmd.ptr = b->mirror;
	cmd.npages = npages;
	ret = uhmm_dmirror_ioctl(fd, request, &cmd);
	if (ret)
		return ret;
	b->cpages = cmd.cpages;
	b->faults = cmd.faults;
	return 0;
}

static inline int hmm_migrate_sys_to_dev(struct uhmm_dmirror *fd, struct conf_buffer *b, unsigned long npages)
{
	return hmm_dmirror_cmd(fd, UHMM_DMIRROR_MIGRATE_TO_DEV, b, npages);
}

static inline int hmm_migrate_dev_to_sys(struct uhmm_dmirror *fd, struct conf_buffer *b, unsigned long npages)
{
	return hmm_dmirror_cmd(fd, UHMM_DMIRROR_MIGRATE_TO_SYS, b, npages);
}

/* --------------------------------------------------------- int patterns */
/*
 * Patterns over int arrays: element i holds sign * ((int)i + base), the
 * kernel's `ptr[i] = i` (base 0, sign 1), `ptr[i] = -i` (sign -1) and
 * `ptr[i] = i + c` (base c).
 */
static inline int conf_pat(unsigned long i, int base, int sign)
{
	return sign * ((int)i + base);
}

/* Ordinary memory (the mirror): fill [first, last). */
static inline void conf_mem_fill(void *mem, unsigned long first, unsigned long last, int base, int sign)
{
	int *p = mem;
	unsigned long i;

	for (i = first; i < last; i++)
		p[i] = conf_pat(i, base, sign);
}

/* Ordinary memory: every int of [first, last) must match. */
#define conf_mem_check(mem, first, last, base, sign) \
	conf_mem_check_(mem, first, last, base, sign, #mem, __FILE__, __LINE__)
static inline void conf_mem_check_(const void *mem, unsigned long first, unsigned long last, int base, int sign,
				   const char *what, const char *file, int line)
{
	const int *p = mem;
	unsigned long i;

	for (i = first; i < last; i++)
		if (p[i] != conf_pat(i, base, sign)) {
			print_error("%s:%d: %s[%lu] == %d, want %d\n", file, line, what, i, p[i],
				    conf_pat(i, base, sign));
			fail();
		}
}

/* Ordinary memory: every byte of [0, n) equals @val. */
#define conf_mem_check_bytes(mem, n, val) conf_mem_check_bytes_(mem, n, val, #mem, __FILE__, __LINE__)
static inline void conf_mem_check_bytes_(const void *mem, unsigned long n, unsigned char val, const char *what,
					 const char *file, int line)
{
	const unsigned char *p = mem;
	unsigned long i;

	for (i = 0; i < n; i++)
		if (p[i] != val) {
			print_error("%s:%d: %s byte %lu == 0x%02x, want 0x%02x\n", file, line, what, i, p[i], val);
			fail();
		}
}

/*
 * The CPU of the process owning @mm writes ints [first, last) of the array
 * at @addr (element i at addr + i * sizeof(int)), page by page as a loop of
 * `ptr[i] = ...` faults them. 0 or the first uhmm_cpu_write error. Usable
 * from any thread (no assertion).
 */
static inline int conf_cpu_fill_ret(struct uhmm_mm *mm, unsigned long addr, unsigned long first, unsigned long last,
				    int base, int sign)
{
	int page[CONF_INTS_PER_PAGE];
	unsigned long i = first;

	while (i < last) {
		unsigned long pg_end = (i / CONF_INTS_PER_PAGE + 1) * CONF_INTS_PER_PAGE;
		unsigned long n = (pg_end < last ? pg_end : last) - i, k;
		int r;

		for (k = 0; k < n; k++)
			page[k] = conf_pat(i + k, base, sign);
		r = uhmm_cpu_write(mm, addr + i * sizeof(int), page, n * sizeof(int));
		if (r)
			return r;
		i += n;
	}
	return 0;
}

#define conf_cpu_fill(mm, addr, first, last, base, sign) \
	assert_int_equal(conf_cpu_fill_ret(mm, addr, first, last, base, sign), 0)

/*
 * The CPU reads ints [first, last) at @addr page by page and compares them
 * with the pattern. 0, the first uhmm_cpu_read error, or 1 on a mismatch
 * (described in @msg when not NULL). Usable from any thread.
 */
static inline int conf_cpu_check_ret(struct uhmm_mm *mm, unsigned long addr, unsigned long first, unsigned long last,
				     int base, int sign, char *msg, size_t msglen)
{
	int page[CONF_INTS_PER_PAGE];
	unsigned long i = first;

	while (i < last) {
		unsigned long pg_end = (i / CONF_INTS_PER_PAGE + 1) * CONF_INTS_PER_PAGE;
		unsigned long n = (pg_end < last ? pg_end : last) - i, k;
		int r = uhmm_cpu_read(mm, addr + i * sizeof(int), page, n * sizeof(int));

		if (r) {
			if (msg)
				snprintf(msg, msglen, "uhmm_cpu_read of int %lu: %d", i, r);
			return r;
		}
		for (k = 0; k < n; k++)
			if (page[k] != conf_pat(i + k, base, sign)) {
				if (msg)
					snprintf(msg, msglen, "ptr[%lu] == %d, want %d", i + k, page[k],
						 conf_pat(i + k, base, sign));
				return 1;
			}
		i += n;
	}
	return 0;
}

#define conf_cpu_check(mm, addr, first, last, base, sign) \
	conf_cpu_check_(mm, addr, first, last, base, sign, __FILE__, __LINE__)
static inline void conf_cpu_check_(struct uhmm_mm *mm, unsigned long addr, unsigned long first, unsigned long last,
				   int base, int sign, const char *file, int line)
{
	char msg[160];

	if (conf_cpu_check_ret(mm, addr, first, last, base, sign, msg, sizeof(msg))) {
		print_error("%s:%d: CPU check: %s\n", file, line, msg);
		fail();
	}
}

/* `val = *(int *)addr` by the CPU; asserts the access succeeds. */
static inline int conf_cpu_read_int(struct uhmm_mm *mm, unsigned long addr)
{
	int v = 0;

	assert_int_equal(uhmm_cpu_read(mm, addr, &v, sizeof(v)), 0);
	return v;
}

/* `*(int *)addr = val` by the CPU; asserts the access succeeds. */
static inline void conf_cpu_write_int(struct uhmm_mm *mm, unsigned long addr, int v)
{
	assert_int_equal(uhmm_cpu_write(mm, addr, &v, sizeof(v)), 0);
}

/*
 * `for (i...) ASSERT_EQ(ptr[i]++, old(i))` then the caller checks new values:
 * read-modify-write of every int in [first, last), page by page. 0, an access
 * error, or 1 on a mismatch (described in @msg). Usable from any thread.
 */
static inline int conf_cpu_increment_ret(struct uhmm_mm *mm, unsigned long addr, unsigned long first,
					 unsigned long last, int base, int sign, char *msg, size_t msglen)
{
	int page[CONF_INTS_PER_PAGE];
	unsigned long i = first;

	while (i < last) {
		unsigned long pg_end = (i / CONF_INTS_PER_PAGE + 1) * CONF_INTS_PER_PAGE;
		unsigned long n = (pg_end < last ? pg_end : last) - i, k;
		int r = uhmm_cpu_read(mm, addr + i * sizeof(int), page, n * sizeof(int));

		if (r) {
			if (msg)
				snprintf(msg, msglen, "uhmm_cpu_read of int %lu: %d", i, r);
			return r;
		}
		for (k = 0; k < n; k++) {
			if (page[k] != conf_pat(i + k, base, sign)) {
				if (msg)
					snprintf(msg, msglen, "ptr[%lu] == %d, want %d", i + k, page[k],
						 conf_pat(i + k, base, sign));
				return 1;
			}
			page[k]++;
		}
		r = uhmm_cpu_write(mm, addr + i * sizeof(int), page, n * sizeof(int));
		if (r) {
			if (msg)
				snprintf(msg, msglen, "uhmm_cpu_write of int %lu: %d", i, r);
			return r;
		}
		i += n;
	}
	return 0;
}

/* --------------------------------------------------------- randomness */

/* hmm_random(): a per-caller xorshift state, seeded from the clock. */
static inline unsigned int conf_random(unsigned long *state)
{
	unsigned long x = *state;

	if (!x) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		x = ((unsigned long)ts.tv_nsec << 1) ^ (unsigned long)ts.tv_sec ^ 0x9e3779b97f4a7c15UL;
		if (!x)
			x = 1;
	}
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return (unsigned int)(x >> 16);
}

static inline void hmm_nanosleep(unsigned int n)
{
	struct timespec t = { 0, (long)n };

	nanosleep(&t, NULL);
}

/* ----------------------------------------------------------------- main */

/* One hmm-fixture case, for both of its variants. */
#define CONF_HMM_CASE(fn)                                                                               \
	{ #fn "__hmm_device_private", test_##fn, conf_setup, conf_teardown,                            \
	  (void *)&conf_hmm_device_private },                                                           \
	{ #fn "__hmm_device_coherent", test_##fn, conf_setup, conf_teardown,                           \
	  (void *)&conf_hmm_device_coherent }

/* One hmm2-fixture case, for both of its variants. */
#define CONF_HMM2_CASE(fn)                                                                              \
	{ #fn "__hmm2_device_private", test_##fn, conf_setup, conf_teardown,                           \
	  (void *)&conf_hmm2_device_private },                                                          \
	{ #fn "__hmm2_device_coherent", test_##fn, conf_setup, conf_teardown,                          \
	  (void *)&conf_hmm2_device_coherent }

/*
 * `prog --list`: one case name per line, nothing else on stdout. `prog CASE`:
 * exactly that case (exit 2 if there is none). No argument: every case.
 */
static inline int conf_main(const char *prog, const struct CMUnitTest *tests, size_t n, int argc, char **argv)
{
	struct CMUnitTest *selected;
	size_t i, k = 0;
	int r;

	if (argc > 1 && strcmp(argv[1], "--list") == 0) {
		for (i = 0; i < n; i++)
			printf("%s\n", tests[i].name);
		return 0;
	}
	selected = calloc(n ? n : 1, sizeof(*selected));
	if (!selected)
		return 1;
	for (i = 0; i < n; i++)
		if (argc < 2 || strcmp(argv[1], tests[i].name) == 0)
			selected[k++] = tests[i];
	if (k == 0) {
		fprintf(stderr, "%s: no test case named '%s'\n", prog, argv[1]);
		free(selected);
		return 2;
	}
	r = _cmocka_run_group_tests(prog, selected, k, NULL, NULL);
	free(selected);
	return r;
}

#endif
