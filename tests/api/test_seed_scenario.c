/* SPDX-License-Identifier: MIT */
/* tests/api/test_seed_scenario.c - the seed patch's own scenario, with exact counts.
 *
 * "mm/notifier: add migration invalidation type": a device migrating a range
 * in which some pages are already in its memory must not lose the mappings
 * of those pages. Device A migrates; device B (another owner) mirrors the
 * same range. Each case runs with the owner filter (the default) and with
 * invalidate_own_migrations (the driver as it was before the patch).
 * Usage: test_seed_scenario [--list | CASE_NAME].
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uhmm/dmirror.h>
#include <uhmm/uhmm.h>

#define PS UHMM_PAGE_SIZE
#define N 1024UL			/* pages in the range */
#define CHUNKS (N / 64)			/* migrate_vma calls (and MIGRATE invalidations) per full-range migration */
#define INTS_PER_PAGE (PS / sizeof(int))

struct scen {
	struct uhmm_system *sys;
	struct uhmm_mm *mm;
	struct uhmm_dmirror_device *dev_a, *dev_b;
	struct uhmm_dmirror *a, *b;
	unsigned long addr;
	int *mirror;
	bool own;	/* invalidate_own_migrations on device A */
};

static void scen_init(struct scen *s, bool own)
{
	struct uhmm_system_opts so = { .ram_bytes = 64UL << 20 };
	struct uhmm_dmirror_device_opts oa = { .invalidate_own_migrations = own };
	int *b;
	unsigned long i;

	memset(s, 0, sizeof(*s));
	s->own = own;
	assert_int_equal(uhmm_system_create(&so, &s->sys), 0);
	assert_int_equal(uhmm_mm_create(s->sys, &s->mm), 0);
	assert_int_equal(uhmm_dmirror_device_create(s->sys, &oa, &s->dev_a), 0);
	assert_int_equal(uhmm_dmirror_device_create(s->sys, NULL, &s->dev_b), 0);
	assert_int_equal(uhmm_dmirror_open(s->dev_a, s->mm, &s->a), 0);
	assert_int_equal(uhmm_dmirror_open(s->dev_b, s->mm, &s->b), 0);
	assert_int_equal(uhmm_mmap(s->mm, 0, N * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, &s->addr),
			 0);
	b = malloc(N * PS);
	assert_non_null(b);
	for (i = 0; i < N * INTS_PER_PAGE; i++)
		b[i] = (int)i;
	assert_int_equal(uhmm_cpu_write(s->mm, s->addr, b, N * PS), 0);
	free(b);
	s->mirror = malloc(N * PS);
	assert_non_null(s->mirror);
}

static void scen_fini(struct scen *s)
{
	struct uhmm_system_stats st;

	uhmm_dmirror_close(s->a);
	uhmm_dmirror_close(s->b);
	uhmm_mm_put(s->mm);
	uhmm_dmirror_device_destroy(s->dev_a);
	uhmm_dmirror_device_destroy(s->dev_b);
	assert_int_equal(uhmm_system_get_stats(s->sys, &st), 0);
	assert_int_equal(st.used_pages, 1);
	assert_int_equal(st.device_pages, 0);
	uhmm_system_destroy(s->sys);
	free(s->mirror);
}

static int run(struct scen *s, struct uhmm_dmirror *dm, unsigned int req, unsigned long first_page,
	       unsigned long npages, struct uhmm_dmirror_cmd *c)
{
	memset(c, 0, sizeof(*c));
	c->addr = s->addr + first_page * PS;
	c->ptr = (char *)s->mirror + first_page * PS;
	c->npages = npages;
	return uhmm_dmirror_ioctl(dm, req, c);
}

static struct uhmm_dmirror_stats st(struct uhmm_dmirror *dm)
{
	struct uhmm_dmirror_stats x;

	assert_int_equal(uhmm_dmirror_get_stats(dm, &x), 0);
	return x;
}

/* The mirror buffer holds int i at index i for pages [first, first + n). */
static void check_mirror(struct scen *s, unsigned long first, unsigned long n)
{
	unsigned long i;

	for (i = first * INTS_PER_PAGE; i < (first + n) * INTS_PER_PAGE; i++)
		if (s->mirror[i] != (int)i)
			fail_msg("mirror int %lu: %d", i, s->mirror[i]);
}

static void check_cpu(struct scen *s)
{
	int *b = malloc(N * PS);
	unsigned long i;

	assert_non_null(b);
	assert_int_equal(uhmm_cpu_read(s->mm, s->addr, b, N * PS), 0);
	for (i = 0; i < N * INTS_PER_PAGE; i++)
		if (b[i] != (int)i)
			fail_msg("cpu int %lu: %d", i, b[i]);
	free(b);
}

static void expect_device_private(struct scen *s)
{
	struct uhmm_pte_info info;
	unsigned long i;

	for (i = 0; i < N; i++) {
		assert_int_equal(uhmm_mm_query_pte(s->mm, s->addr + i * PS, &info), 0);
		assert_int_equal(info.kind, UHMM_PTE_DEVICE_PRIVATE);
	}
}

#define DELTA(after, before, field) ((after).field - (before).field)

/*
 * The scenario of the seed series (hmm-tests migrate_fault, extended in v3
 * of the series for exactly this): all N pages go to A; the CPU touches the
 * first half, which faults it back to RAM; A migrates the whole range again.
 * B mirrors the range throughout.
 */
static void migrate_fault_scenario(bool own)
{
	struct uhmm_dmirror_stats a0, a1, b0, b1;
	struct uhmm_dmirror_cmd c;
	struct scen s;
	int r;

	scen_init(&s, own);

	/* B mirrors everything (RAM pages). */
	assert_int_equal(run(&s, s.b, UHMM_DMIRROR_READ, 0, N, &c), 0);
	assert_int_equal(c.cpages, N);
	assert_int_equal(c.faults, 1);

	/* 1. A migrates all N pages. */
	a0 = st(s.a);
	b0 = st(s.b);
	assert_int_equal(run(&s, s.a, UHMM_DMIRROR_MIGRATE_TO_DEV, 0, N, &c), 0);
	assert_int_equal(c.cpages, N);
	check_mirror(&s, 0, N);
	a1 = st(s.a);
	b1 = st(s.b);
	assert_int_equal(DELTA(a1, a0, invalidations), CHUNKS);
	assert_int_equal(DELTA(a1, a0, invalidations_skipped), own ? 0 : CHUNKS);
	assert_int_equal(DELTA(a1, a0, ptes_zapped), 0);	/* A mapped nothing yet */
	assert_int_equal(DELTA(a1, a0, pages_to_dev), N);
	assert_int_equal(DELTA(b1, b0, invalidations), CHUNKS);
	assert_int_equal(DELTA(b1, b0, invalidations_skipped), 0);
	assert_int_equal(DELTA(b1, b0, ptes_zapped), N);	/* B loses every page that moved */
	expect_device_private(&s);

	/* 2. The CPU reads the first half: N/2 migrate_to_ram, one MIGRATE each. */
	a0 = a1;
	b0 = b1;
	assert_int_equal(uhmm_cpu_read(s.mm, s.addr, s.mirror, N / 2 * PS), 0);
	check_mirror(&s, 0, N / 2);
	a1 = st(s.a);
	b1 = st(s.b);
	assert_int_equal(DELTA(a1, a0, invalidations), N / 2);
	assert_int_equal(DELTA(a1, a0, invalidations_skipped), own ? 0 : N / 2);
	/* the entries go either way: by the callback (own) or by the migration code */
	assert_int_equal(DELTA(a1, a0, ptes_zapped), own ? N / 2 : 0);
	assert_int_equal(DELTA(a1, a0, ptes_migrated), own ? 0 : N / 2);
	assert_int_equal(DELTA(a1, a0, pages_to_sys), N / 2);
	assert_int_equal(a1.devmem_pages_in_use, N / 2);
	assert_int_equal(DELTA(b1, b0, invalidations), N / 2);
	assert_int_equal(DELTA(b1, b0, ptes_zapped), 0);

	/* B mirrors the half that is in RAM again. */
	assert_int_equal(run(&s, s.b, UHMM_DMIRROR_READ, 0, N / 2, &c), 0);
	assert_int_equal(c.cpages, N / 2);
	assert_int_equal(c.faults, 1);

	/* 3. A migrates the whole range again: the measured step. */
	a0 = st(s.a);
	b0 = st(s.b);
	r = run(&s, s.a, UHMM_DMIRROR_MIGRATE_TO_DEV, 0, N, &c);
	a1 = st(s.a);
	b1 = st(s.b);
	assert_int_equal(DELTA(a1, a0, invalidations), CHUNKS);
	assert_int_equal(DELTA(a1, a0, pages_to_dev), N / 2);	/* only the RAM half moves */
	assert_int_equal(DELTA(a1, a0, ptes_migrated), N / 2);	/* ...and is mapped by the migration */
	assert_int_equal(a1.devmem_pages_in_use, N);
	if (!own) {
		/* The seed patch: A ignores its own MIGRATE, the device half keeps its mappings. */
		assert_int_equal(r, 0);
		assert_int_equal(c.cpages, N);
		check_mirror(&s, 0, N);
		assert_int_equal(DELTA(a1, a0, invalidations_skipped), CHUNKS);
		assert_int_equal(DELTA(a1, a0, ptes_zapped), 0);
	} else {
		/* Before the patch: the pages that stayed on A lost their mappings. */
		assert_int_equal(r, -ENOENT);
		assert_int_equal(DELTA(a1, a0, invalidations_skipped), 0);
		assert_int_equal(DELTA(a1, a0, ptes_zapped), N / 2);
	}
	/* B is another owner: invalidated either way, for the pages it mapped. */
	assert_int_equal(DELTA(b1, b0, invalidations), CHUNKS);
	assert_int_equal(DELTA(b1, b0, invalidations_skipped), 0);
	assert_int_equal(DELTA(b1, b0, ptes_zapped), N / 2);
	expect_device_private(&s);

	/* A device read: no fault with the filter; one fault round to re-map without. */
	memset(s.mirror, 0, N * PS);
	a0 = st(s.a);
	assert_int_equal(run(&s, s.a, UHMM_DMIRROR_READ, 0, N, &c), 0);
	assert_int_equal(c.cpages, N);
	assert_int_equal(c.faults, own ? 1 : 0);
	check_mirror(&s, 0, N);
	a1 = st(s.a);
	/* the fault found A's pages where they are: nothing moved */
	assert_int_equal(DELTA(a1, a0, pages_to_sys), 0);
	assert_int_equal(DELTA(a1, a0, invalidations), 0);
	expect_device_private(&s);

	check_cpu(&s);
	scen_fini(&s);
}

static void test_seed_migrate_fault(void **state)
{
	migrate_fault_scenario(false);
}

static void test_seed_migrate_fault_invalidate_own(void **state)
{
	migrate_fault_scenario(true);
}

/*
 * The other reading of the scenario: A mirrors all N pages (READ), then
 * migrates the first half, then the whole range.
 */
static void half_migrated_scenario(bool own)
{
	struct uhmm_dmirror_stats a0, a1, b0, b1;
	struct uhmm_dmirror_cmd c;
	struct scen s;
	int r;

	scen_init(&s, own);
	assert_int_equal(run(&s, s.a, UHMM_DMIRROR_READ, 0, N, &c), 0);
	assert_int_equal(c.faults, 1);
	assert_int_equal(run(&s, s.b, UHMM_DMIRROR_READ, 0, N, &c), 0);
	assert_int_equal(c.faults, 1);

	/* A migrates the first half. */
	a0 = st(s.a);
	b0 = st(s.b);
	assert_int_equal(run(&s, s.a, UHMM_DMIRROR_MIGRATE_TO_DEV, 0, N / 2, &c), 0);
	assert_int_equal(c.cpages, N / 2);
	a1 = st(s.a);
	b1 = st(s.b);
	assert_int_equal(DELTA(a1, a0, pages_to_dev), N / 2);
	assert_int_equal(DELTA(a1, a0, ptes_zapped), own ? N / 2 : 0);	/* RAM entries, replaced anyway */
	assert_int_equal(DELTA(a1, a0, ptes_migrated), N / 2);
	assert_int_equal(DELTA(b1, b0, ptes_zapped), N / 2);

	/* A migrates the whole range. */
	a0 = a1;
	b0 = b1;
	r = run(&s, s.a, UHMM_DMIRROR_MIGRATE_TO_DEV, 0, N, &c);
	a1 = st(s.a);
	b1 = st(s.b);
	assert_int_equal(DELTA(a1, a0, invalidations), CHUNKS);
	assert_int_equal(DELTA(a1, a0, pages_to_dev), N / 2);
	if (!own) {
		assert_int_equal(r, 0);
		assert_int_equal(c.cpages, N);
		check_mirror(&s, 0, N);
		assert_int_equal(DELTA(a1, a0, invalidations_skipped), CHUNKS);
		assert_int_equal(DELTA(a1, a0, ptes_zapped), 0);
	} else {
		/* every entry went: N/2 of pages that moved (re-mapped), N/2 of pages that did not */
		assert_int_equal(r, -ENOENT);
		assert_int_equal(DELTA(a1, a0, invalidations_skipped), 0);
		assert_int_equal(DELTA(a1, a0, ptes_zapped), N);
	}
	assert_int_equal(DELTA(b1, b0, invalidations_skipped), 0);
	assert_int_equal(DELTA(b1, b0, ptes_zapped), N / 2);
	expect_device_private(&s);

	assert_int_equal(run(&s, s.a, UHMM_DMIRROR_READ, 0, N, &c), 0);
	assert_int_equal(c.faults, own ? 1 : 0);
	check_mirror(&s, 0, N);
	check_cpu(&s);
	scen_fini(&s);
}

static void test_seed_half_migrated(void **state)
{
	half_migrated_scenario(false);
}

static void test_seed_half_migrated_invalidate_own(void **state)
{
	half_migrated_scenario(true);
}

static const struct CMUnitTest all_tests[] = {
	cmocka_unit_test(test_seed_migrate_fault),
	cmocka_unit_test(test_seed_migrate_fault_invalidate_own),
	cmocka_unit_test(test_seed_half_migrated),
	cmocka_unit_test(test_seed_half_migrated_invalidate_own),
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
		fprintf(stderr, "test_seed_scenario: no test case named '%s'\n", argv[1]);
		return 2;
	}
	return _cmocka_run_group_tests("seed_scenario", selected, n, NULL, NULL);
}
