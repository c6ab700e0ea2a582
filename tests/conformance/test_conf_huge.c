/* SPDX-License-Identifier: MIT */
/* tests/conformance/test_conf_huge.c - hmm-tests.c: the huge-page (THP) migration cases.
 *
 * Cases 30-38 of the catalogue (reference section 7, ~6.19):
 * migrate_anon_huge_empty, migrate_anon_huge_zero, migrate_anon_huge_free,
 * migrate_anon_huge_fault, migrate_partial_unmap_fault, migrate_remap_fault,
 * migrate_anon_huge_err, migrate_anon_huge_zero_err,
 * benchmark_thp_migration; each for hmm_device_private and
 * hmm_device_coherent.
 *
 * uhmm does not model transparent huge pages (map order is always 0) and
 * dmirror has no THP migration, so every case here ends SKIPPED, never
 * passed. Where the kernel's steps are expressible with base pages
 * (MADV_HUGEPAGE is only a hint), they run first with the kernel's asserted
 * values, and the case skips after them; where a step needs what uhmm lacks
 * (MADV_COLLAPSE, MADV_FREE, MREMAP_DONTUNMAP, /proc/self/pagemap, the
 * THP-to-base-page fallback), the case skips there. Usage:
 * test_conf_huge [--list | CASE_NAME].
 */
#include "conf_fixture.h"

#define THP_REASON "transparent huge pages are not modelled (map order is always 0, no THP migration in dmirror)"

/* A 2 x PMD mapping with @prot, and its PMD-aligned PMD-sized window (buffer->ptr). */
static struct conf_buffer *huge_window(struct conf *c, unsigned long size, int prot, int advice,
				       unsigned long *old_ptr)
{
	struct conf_buffer *buffer = conf_buffer_new(c->mm, 2 * size, size);
	unsigned long map;

	memset(buffer->mirror, 0xFF, size);
	buffer->ptr = conf_mmap(c->mm, 2 * size, prot, MAP_PRIVATE | MAP_ANONYMOUS);
	map = CONF_ALIGN(buffer->ptr, size);
	assert_int_equal(uhmm_madvise(c->mm, map, size, advice), 0);
	*old_ptr = buffer->ptr;
	buffer->ptr = map;
	return buffer;
}

/* 30. migrate_anon_huge_empty: an untouched PROT_READ window migrates as zeroes. */
static void test_migrate_anon_huge_empty(void **state)
{
	struct conf *c = *state;
	unsigned long size = CONF_PMD_SIZE, npages = size >> c->page_shift, old_ptr;
	struct conf_buffer *buffer = huge_window(c, size, PROT_READ, MADV_HUGEPAGE, &old_ptr);

	/* Migrate memory to device. */
	assert_int_equal(hmm_migrate_sys_to_dev(c->fd, buffer, npages), 0);
	assert_int_equal(buffer->cpages, npages);

	/* Check what the device read. */
	conf_mem_check(buffer->mirror, 0, size / sizeof(int), 0, 0);

	buffer->ptr = old_ptr;
	hmm_buffer_free(buffer);
	conf_skip(THP_REASON ": the steps passed on base pages (holes), the huge zero PMD is untested");
}

/* 31. migrate_anon_huge_zero: a window holding the (huge) zero page migrates as zeroes. */
static void test_migrate_anon_huge_zero(void **state)
{
	struct conf *c = *state;
	unsigned long size = CONF_PMD_SIZE, npages = size >> c->page_shift, old_ptr;
	struct conf_buffer *buffer = huge_window(c, size, PROT_READ, MADV_HUGEPAGE, &old_ptr);
	int val;

	/* Initialize a read-only zero huge page (here: the zero page of page 0). */
	val = conf_cpu_read_int(c->mm, buffer->ptr);
	assert_int_equal(val, 0);

	/* Migrate memory to device. */
	assert_int_equal(hmm_migrate_sys_to_dev(c->fd, buffer, npages), 0);
	assert_int_equal(buffer->cpages, npages);

	/* Check what the device read. */
	conf_mem_check(buffer->mirror, 0, size / sizeof(int), 0, 0);

	/* Fault pages back to system memory and check them. */
	conf_cpu_check(c->mm, buffer->ptr, 0, size / sizeof(int), 0, 0);

	buffer->ptr = old_ptr;
	hmm_buffer_free(buffer);
	conf_skip(THP_REASON ": the steps passed on base pages, the huge zero page is untested");
}

/* 32. migrate_anon_huge_free: migrate a huge page, then MADV_FREE it. */
static void test_migrate_anon_huge_free(void **state)
{
	struct conf *c = *state;
	unsigned long size = CONF_PMD_SIZE, npages = size >> c->page_shift, old_ptr, map;
	struct conf_buffer *buffer = huge_window(c, size, PROT_READ | PROT_WRITE, MADV_HUGEPAGE, &old_ptr);
	int ret;

	map = buffer->ptr;
	/* Initialize buffer in system memory. */
	conf_cpu_fill(c->mm, buffer->ptr, 0, size / sizeof(int), 0, 1);

	/* Migrate memory to device. */
	assert_int_equal(hmm_migrate_sys_to_dev(c->fd, buffer, npages), 0);
	assert_int_equal(buffer->cpages, npages);

	/* Check what the device read. */
	conf_mem_check(buffer->mirror, 0, size / sizeof(int), 0, 1);

	/* Try freeing it. */
	ret = uhmm_madvise(c->mm, map, size, MADV_FREE);
	buffer->ptr = old_ptr;
	hmm_buffer_free(buffer);
	if (ret)
		conf_skip("MADV_FREE is not modelled (uhmm_madvise = %d), and " THP_REASON, ret);
	conf_skip(THP_REASON ": the steps passed on base pages");
}

/* 33. migrate_anon_huge_fault: MADV_COLLAPSE, migrate, snapshot 0x26 and pagemap (private), fault back. */
static void test_migrate_anon_huge_fault(void **state)
{
	struct conf *c = *state;
	unsigned long size = CONF_PMD_SIZE, map, old_ptr;
	struct conf_buffer *buffer = conf_buffer_new(c->mm, 2 * size, size);
	int ret;

	memset(buffer->mirror, 0xFF, size);
	buffer->ptr = conf_mmap(c->mm, 2 * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
	map = CONF_ALIGN(buffer->ptr, size);
	old_ptr = buffer->ptr;
	buffer->ptr = map;

	/* Initialize buffer in system memory. */
	conf_cpu_fill(c->mm, buffer->ptr, 0, size / sizeof(int), 0, 1);

	ret = uhmm_madvise(c->mm, map, size, MADV_COLLAPSE);
	buffer->ptr = old_ptr;
	hmm_buffer_free(buffer);
	conf_skip("MADV_COLLAPSE (uhmm_madvise = %d), PMD snapshot bytes (DEV_PRIVATE_LOCAL|WRITE|PMD = "
		  "0x26) and /proc/self/pagemap are not modelled: " THP_REASON, ret);
}

/*
 * 34. migrate_partial_unmap_fault: for use_thp in {0, 1} x offset in {0,
 * PMD/4, PMD/2}: migrate a window, munmap PMD/2 of it, fault the rest back.
 */
static void test_migrate_partial_unmap_fault(void **state)
{
	struct conf *c = *state;
	unsigned long size = CONF_PMD_SIZE, unmap_size = size / 2;
	unsigned long offsets[3] = { 0, size / 4, size / 2 };
	int use_thp, j;

	for (use_thp = 0; use_thp < 2; ++use_thp) {
		for (j = 0; j < 3; ++j) {
			unsigned long npages = size >> c->page_shift, old_ptr, i;
			struct conf_buffer *buffer = huge_window(c, size, PROT_READ | PROT_WRITE,
								 use_thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE, &old_ptr);

			/* Initialize buffer in system memory. */
			conf_cpu_fill(c->mm, buffer->ptr, 0, size / sizeof(int), 0, 1);

			/* Migrate memory to device. */
			assert_int_equal(hmm_migrate_sys_to_dev(c->fd, buffer, npages), 0);
			assert_int_equal(buffer->cpages, npages);

			/* Check what the device read. */
			conf_mem_check(buffer->mirror, 0, size / sizeof(int), 0, 1);

			assert_int_equal(uhmm_munmap(c->mm, buffer->ptr + offsets[j], unmap_size), 0);

			/* Fault pages back to system memory and check them. */
			i = offsets[j] / sizeof(int);
			conf_cpu_check(c->mm, buffer->ptr, 0, i, 0, 1);
			conf_cpu_check(c->mm, buffer->ptr, (offsets[j] + unmap_size) / sizeof(int), size / sizeof(int),
				       0, 1);

			buffer->ptr = old_ptr;
			hmm_buffer_free(buffer);
		}
	}
	conf_skip(THP_REASON ": all 6 iterations passed on base pages, splitting a device THP is untested");
}

/*
 * 35. migrate_remap_fault: for before, dont_unmap, use_thp in {0, 1} x 3
 * offsets: mremap a window before or after migrating it, fault it back at
 * the new address. MREMAP_DONTUNMAP is not modelled: those iterations are
 * left out.
 */
static void test_migrate_remap_fault(void **state)
{
	struct conf *c = *state;
	unsigned long size = CONF_PMD_SIZE;
	unsigned long offsets[3] = { 0, size / 4, size / 2 };
	int before, use_thp, j, ran = 0;

	for (before = 0; before < 2; ++before) {
		/* dont_unmap = 1 (MREMAP_DONTUNMAP) is not modelled. */
		for (use_thp = 0; use_thp < 2; ++use_thp) {
			for (j = 0; j < 3; ++j) {
				int flags = MREMAP_MAYMOVE | MREMAP_FIXED;
				unsigned long npages = size >> c->page_shift, map, old_ptr, new_ptr = 0;
				struct conf_buffer *buffer = conf_buffer_new(c->mm, 8 * size, size);

				memset(buffer->mirror, 0xFF, size);
				buffer->ptr = conf_mmap(c->mm, buffer->size, PROT_READ | PROT_WRITE,
							MAP_PRIVATE | MAP_ANONYMOUS);
				map = CONF_ALIGN(buffer->ptr, size);
				assert_int_equal(uhmm_madvise(c->mm, map, size,
							      use_thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE), 0);
				old_ptr = buffer->ptr;
				assert_int_equal(uhmm_munmap(c->mm, map + size, size * 2), 0);
				buffer->ptr = map;

				/* Initialize buffer in system memory. */
				conf_cpu_fill(c->mm, buffer->ptr, 0, size / sizeof(int), 0, 1);

				if (before) {
					assert_int_equal(uhmm_mremap(c->mm, map, size, size, flags,
								     map + size + offsets[j], &new_ptr), 0);
					assert_int_equal(new_ptr, map + size + offsets[j]);
					buffer->ptr = new_ptr;
				}

				/* Migrate memory to device. */
				assert_int_equal(hmm_migrate_sys_to_dev(c->fd, buffer, npages), 0);
				assert_int_equal(buffer->cpages, npages);

				/* Check what the device read. */
				conf_mem_check(buffer->mirror, 0, size / sizeof(int), 0, 1);

				if (!before) {
					assert_int_equal(uhmm_mremap(c->mm, map, size, size, flags,
								     map + size + offsets[j], &new_ptr), 0);
					assert_int_equal(new_ptr, map + size + offsets[j]);
					buffer->ptr = new_ptr;
				}

				/* Fault pages back to system memory and check them. */
				conf_cpu_check(c->mm, buffer->ptr, 0, size / sizeof(int), 0, 1);

				assert_int_equal(uhmm_munmap(c->mm, new_ptr, size), 0);
				buffer->ptr = old_ptr;
				hmm_buffer_free(buffer);
				ran++;
			}
		}
	}
	assert_int_equal(ran, 12);
	conf_skip("MREMAP_DONTUNMAP is not modelled (12 of 24 iterations left out) and " THP_REASON
		  ": the other 12 iterations passed on base pages");
}

/*
 * 36. migrate_anon_huge_err: FLAGS(FAIL_ALLOC) makes the device's THP
 * allocation fail once, and dmirror falls back to base pages: migrate -> 0,
 * all pages. On base pages the failed allocation leaves one page in RAM,
 * and the asserted values (cpages == all) do not apply.
 */
static void test_migrate_anon_huge_err(void **state)
{
	(void)state;
	conf_skip(THP_REASON ": FLAGS(FAIL_ALLOC) tests the THP-to-base-page fallback on both the "
		  "device and the RAM side");
}

/* 37. migrate_anon_huge_zero_err: as 36 with a PROT_READ (huge zero page) window. */
static void test_migrate_anon_huge_zero_err(void **state)
{
	(void)state;
	conf_skip(THP_REASON ": FLAGS(FAIL_ALLOC) tests the huge-zero-page fallback to base pages");
}

/* 38. benchmark_thp_migration: timed THP vs base-page migrations of PMD/4 .. 128 x PMD. */
static void test_benchmark_thp_migration(void **state)
{
	(void)state;
	conf_skip(THP_REASON ": a THP-versus-base-page migration benchmark (make bench measures "
		  "base-page migration)");
}

static const struct CMUnitTest tests[] = {
	CONF_HMM_CASE(migrate_anon_huge_empty),
	CONF_HMM_CASE(migrate_anon_huge_zero),
	CONF_HMM_CASE(migrate_anon_huge_free),
	CONF_HMM_CASE(migrate_anon_huge_fault),
	CONF_HMM_CASE(migrate_partial_unmap_fault),
	CONF_HMM_CASE(migrate_remap_fault),
	CONF_HMM_CASE(migrate_anon_huge_err),
	CONF_HMM_CASE(migrate_anon_huge_zero_err),
	CONF_HMM_CASE(benchmark_thp_migration),
};

int main(int argc, char **argv)
{
	return conf_main("test_conf_huge", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
