/* SPDX-License-Identifier: MIT */
/* tests/conformance/test_conf_anon.c - hmm-tests.c: device reads and writes of system memory.
 *
 * Cases 1-11, 19, 21 and 23 of the catalogue (reference section 7):
 * open_close, anon_read, anon_read_prot, anon_write, anon_write_prot,
 * anon_write_child, anon_write_child_shared, anon_write_huge,
 * anon_write_hugetlbfs, file_read, file_write, anon_read_multiple, mixedmap,
 * compound; each for hmm_device_private and hmm_device_coherent. The steps
 * and asserted values are the kernel test's; see conf_fixture.h for how
 * processes, devices and buffers are modelled. Usage:
 * test_conf_anon [--list | CASE_NAME].
 */
#include "conf_fixture.h"

/* npages = ALIGN(HMM_BUFFER_SIZE, page_size) >> page_shift */
static unsigned long conf_npages(const struct conf *c)
{
	return CONF_ALIGN(HMM_BUFFER_SIZE, c->page_size) >> c->page_shift;
}

/* 1. open_close: nothing beyond setup and teardown. */
static void test_open_close(void **state)
{
	struct conf *c = *state;

	assert_non_null(c->fd);
}

/* 2. anon_read: read private anonymous memory (pte_none, zero page, pages). */
static void test_anon_read(void **state)
{
	struct conf *c = *state;
	unsigned long npages = conf_npages(c), size = npages << c->page_shift;
	struct conf_buffer *buffer;
	int val;

	assert_int_not_equal(npages, 0);
	buffer = conf_buffer_new(c->mm, size, size);
	buffer->ptr = conf_mmap(c->mm, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);

	/* Initialize the buffer but leave the first two pages zero (pte_none and pfn_zero). */
	conf_cpu_fill(c->mm, buffer->ptr, 2 * c->page_size / sizeof(int), size / sizeof(int), 0, 1);

	/* Set buffer permission to read-only. */
	assert_int_equal(uhmm_mprotect(c->mm, buffer->ptr, size, PROT_READ), 0);

	/* Populate the CPU page table with the zero page. */
	val = conf_cpu_read_int(c->mm, buffer->ptr + c->page_size);
	assert_int_equal(val, 0);

	/* Simulate a device reading system memory. */
	assert_int_equal(hmm_dmirror_cmd(c->fd, UHMM_DMIRROR_READ, buffer, npages), 0);
	assert_int_equal(buffer->cpages, npages);
	assert_int_equal(buffer->faults, 1);

	/* Check what the device read. */
	conf_mem_check(buffer->mirror, 0, 2 * c->page_size / sizeof(int), 0, 0);
	conf_mem_check(buffer->mirror, 2 * c->page_size / sizeof(int), size / sizeof(int), 0, 1);

	hmm_buffer_free(buffer);
}

/* 3. anon_read_prot: a PROT_NONE buffer cannot be read; nothing is copied. */
static void test_anon_read_prot(void **state)
{
	struct conf *c = *state;
	unsigned long npages = conf_npages(c), size = npages << c->page_shift;
	struct conf_buffer *buffer;

	buffer = conf_buffer_new(c->mm, size, size);
	buffer->ptr = conf_mmap(c->mm, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);

	conf_cpu_fill(c->mm, buffer->ptr, 0, size / sizeof(int), 0, 1);
	/* Initialize the mirror so we can verify it is not written. */
	conf_mem_fill(buffer->mirror, 0, size / sizeof(int), 0, -1);

	/* Protect buffer from reading. */
	assert_int_equal(uhmm_mprotect(c->mm, buffer->ptr, size, PROT_NONE), 0);

	/* Simulate a device reading system memory. */
	assert_int_equal(hmm_dmirror_cmd(c->fd, UHMM_DMIRROR_READ, buffer, npages), -EFAULT);

	/* Allow the CPU to read the buffer so we can check it. */
	assert_int_equal(uhmm_mprotect(c->mm, buffer->ptr, size, PROT_READ), 0);
	conf_cpu_check(c->mm, buffer->ptr, 0, size / sizeof(int), 0, 1);

	/* Check what the device read: nothing. */
	conf_mem_check(buffer->mirror, 0, size / sizeof(int), 0, -1);

	hmm_buffer_free(buffer);
}

/* 4. anon_write: the device writes private anonymous memory. */
static void test_anon_write(void **state)
{
	struct conf *c = *state;
	unsigned long npages = conf_npages(c), size = npages << c->page_shift;
	struct conf_buffer *buffer;

	buffer = conf_buffer_new(c->mm, size, size);
	buffer->ptr = conf_mmap(c->mm, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);

	/* Initialize data that the device will write to buffer->ptr. */
	conf_mem_fill(buffer->mirror, 0, size / sizeof(int), 0, 1);

	/* Simulate a device writing system memory. */
	assert_int_equal(hmm_dmirror_cmd(c->fd, UHMM_DMIRROR_WRITE, buffer, npages), 0);
	assert_int_equal(buffer->cpages, npages);
	assert_int_equal(buffer->faults, 1);

	/* Check what the device wrote. */
	conf_cpu_check(c->mm, buffer->ptr, 0, size / sizeof(int), 0, 1);

	hmm_buffer_free(buffer);
}

/* 5. anon_write_prot: a read-only mapping refuses device writes (-EPERM) until mprotect. */
static void test_anon_write_prot(void **state)
{
	struct conf *c = *state;
	unsigned long npages = conf_npages(c), size = npages << c->page_shift;
	struct conf_buffer *buffer;

	buffer = conf_buffer_new(c->mm, size, size);
	buffer->ptr = conf_mmap(c->mm, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS);

	/* Simulate a device reading a zero page of memory. */
	assert_int_equal(hmm_dmirror_cmd(c->fd, UHMM_DMIRROR_READ, buffer, 1), 0);
	assert_int_equal(buffer->cpages, 1);
	assert_int_equal(buffer->faults, 1);

	/* Initialize data that the device will write to buffer->ptr. */
	conf_mem_fill(buffer->mirror, 0, size / sizeof(int), 0, 1);

	/* Simulate a device writing system memory. */
	assert_int_equal(hmm_dmirror_cmd(c->fd, UHMM_DMIRROR_WRITE, buffer, npages), -EPERM);

	/* Check what the device wrote: nothing. */
	conf_cpu_check(c->mm, buffer->ptr, 0, size / sizeof(int), 0, 0);

	/* Now allow writing and see that the zero page is replaced. */
	assert_int_equal(uhmm_mprotect(c->mm, buffer->ptr, size, PROT_WRITE | PROT_READ), 0);

	/* Simulate a device writing system memory. */
	assert_int_equal(hmm_dmirror_cmd(c->fd, UHMM_DMIRROR_WRITE, buffer, npages), 0);
	assert_int_equal(buffer->cpages, npages);
	assert_int_equal(buffer->faults, 1);

	/* Check what the device wrote. */
	conf_cpu_check(c->mm, buffer->ptr, 0, size / sizeof(int), 0, 1);

	hmm_buffer_free(buffer);
}

/*
 * 6. anon_write_child: a device writing an anonymous private mapping in a
 * child copies on write; the parent keeps its values. The newer form of the
 * test: migrate in {0, 1} x use_thp in {0, 1}. use_thp takes a PMD-aligned,
 * PMD-sized window with MADV_HUGEPAGE: uhmm accepts the hint and maps base
 * pages (the hint's fallback in Linux), and the test asserts nothing that
 * depends on the page size.
 */
static void test_anon_write_child(void **state)
{
	struct conf *c = *state;
	int migrate, use_thp;

	for (migrate = 0; migrate < 2; ++migrate) {
		for (use_thp = 0; use_thp < 2; ++use_thp) {
			unsigned long npages, size, old_ptr;
			struct conf_buffer *buffer;
			struct uhmm_dmirror *child_fd;
			struct uhmm_mm *child;

			npages = CONF_ALIGN(use_thp ? CONF_PMD_SIZE : HMM_BUFFER_SIZE, c->page_size) >> c->page_shift;
			assert_int_not_equal(npages, 0);
			size = npages << c->page_shift;

			buffer = conf_buffer_new(c->mm, size * 2, size);
			buffer->ptr = conf_mmap(c->mm, size * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
			old_ptr = buffer->ptr;
			if (use_thp) {
				unsigned long map = CONF_ALIGN(buffer->ptr, size);

				assert_int_equal(uhmm_madvise(c->mm, map, size, MADV_HUGEPAGE), 0);
				buffer->ptr = map;
			}

			/* Initialize buffer->ptr so we can tell if it is written. */
			conf_cpu_fill(c->mm, buffer->ptr, 0, size / sizeof(int), 0, 1);
			/* Initialize data that the device will write to buffer->ptr. */
			conf_mem_fill(buffer->mirror, 0, size / sizeof(int), 0, -1);

			if (migrate) {
				assert_int_equal(hmm_migrate_sys_to_dev(c->fd, buffer, npages), 0);
				assert_int_equal(buffer->cpages, npages);
			}

			/* fork() */
			assert_int_equal(uhmm_mm_fork(c->mm, &child), 0);

			/* ---- the child (the parent is in waitpid meanwhile) ---- */
			buffer->mm = child;
			/* Check that we see the parent's values. */
			conf_cpu_check(child, buffer->ptr, 0, size / sizeof(int), 0, 1);
			if (!migrate)
				conf_mem_check(buffer->mirror, 0, size / sizeof(int), 0, -1);

			/* The child process needs its own mirror to its own mm. */
			child_fd = hmm_open(c, 0, child);

			/* Simulate a device writing system memory. */
			assert_int_equal(hmm_dmirror_cmd(child_fd, UHMM_DMIRROR_WRITE, buffer, npages), 0);
			assert_int_equal(buffer->cpages, npages);
			assert_int_equal(buffer->faults, 1);

			/* Check what the device wrote. */
			if (!migrate)
				conf_cpu_check(child, buffer->ptr, 0, size / sizeof(int), 0, -1);

			uhmm_dmirror_close(child_fd);
			uhmm_mm_put(child);	/* _exit(0) */
			buffer->mm = c->mm;

			/* ---- the parent: waitpid, WIFEXITED ---- */
			/* Check that the parent's buffer did not change. */
			conf_cpu_check(c->mm, buffer->ptr, 0, size / sizeof(int), 0, 1);

			buffer->ptr = old_ptr;
			hmm_buffer_free(buffer);
		}
	}
}

/* 7. anon_write_child_shared: a shared anonymous mapping is written in place (no COW). */
static void test_anon_write_child_shared(void **state)
{
	struct conf *c = *state;
	unsigned long npages = conf_npages(c), size = npages << c->page_shift;
	struct conf_buffer *buffer;
	struct uhmm_dmirror *child_fd;
	struct uhmm_mm *child;

	buffer = conf_buffer_new(c->mm, size, size);
	buffer->ptr = conf_mmap(c->mm, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);

	/* Initialize buffer->ptr so we can tell if it is written. */
	conf_cpu_fill(c->mm, buffer->ptr, 0, size / sizeof(int), 0, 1);
	/* Initialize data that the device will write to buffer->ptr. */
	conf_mem_fill(buffer->mirror, 0, size / sizeof(int), 0, -1);

	assert_int_equal(uhmm_mm_fork(c->mm, &child), 0);

	/* ---- the child ---- */
	/* Check that we see the parent's values. */
	conf_cpu_check(child, buffer->ptr, 0, size / sizeof(int), 0, 1);
	conf_mem_check(buffer->mirror, 0, size / sizeof(int), 0, -1);

	/* The child process needs its own mirror to its own mm. */
	child_fd = hmm_open(c, 0, child);

	/* Simulate a device writing system memory. */
	assert_int_equal(hmm_dmirror_cmd(child_fd, UHMM_DMIRROR_WRITE, buffer, npages), 0);
	assert_int_equal(buffer->cpages, npages);
	assert_int_equal(buffer->faults, 1);

	/* Check what the device wrote. */
	conf_cpu_check(child, buffer->ptr, 0, size / sizeof(int), 0, -1);

	uhmm_dmirror_close(child_fd);
	uhmm_mm_put(child);	/* _exit(0) */

	/* ---- the parent: waitpid, WIFEXITED ---- */
	/* Check that the parent's buffer did change. */
	conf_cpu_check(c->mm, buffer->ptr, 0, size / sizeof(int), 0, -1);

	hmm_buffer_free(buffer);
}

/*
 * 8. anon_write_huge: write a private anonymous huge page. The device's
 * write fault maps the advised window with one huge page; beyond the
 * kernel's asserts, uhmm checks that it did (order 9 at both ends).
 */
static void test_anon_write_huge(void **state)
{
	struct conf *c = *state;
	unsigned long npages, size, map, old_ptr;
	struct conf_buffer *buffer;

	size = 2 * CONF_PMD_SIZE;
	buffer = conf_buffer_new(c->mm, size, size);
	buffer->ptr = conf_mmap(c->mm, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);

	size /= 2;
	npages = size >> c->page_shift;
	map = CONF_ALIGN(buffer->ptr, size);
	assert_int_equal(uhmm_madvise(c->mm, map, size, MADV_HUGEPAGE), 0);
	old_ptr = buffer->ptr;
	buffer->ptr = map;

	/* Initialize data that the device will write to buffer->ptr. */
	conf_mem_fill(buffer->mirror, 0, size / sizeof(int), 0, 1);

	/* Simulate a device writing system memory. */
	assert_int_equal(hmm_dmirror_cmd(c->fd, UHMM_DMIRROR_WRITE, buffer, npages), 0);
	assert_int_equal(buffer->cpages, npages);
	assert_int_equal(buffer->faults, 1);

	/* Check what the device wrote. */
	conf_cpu_check(c->mm, buffer->ptr, 0, size / sizeof(int), 0, 1);

	/* uhmm: the window is one PMD-mapped huge page */
	{
		struct uhmm_pte_info first, last;

		assert_int_equal(uhmm_mm_query_pte(c->mm, map, &first), 0);
		assert_int_equal(uhmm_mm_query_pte(c->mm, map + size - c->page_size, &last), 0);
		assert_int_equal(first.order, 9);
		assert_int_equal(last.order, 9);
		assert_int_equal(last.pfn, first.pfn + npages - 1);
	}

	buffer->ptr = old_ptr;
	hmm_buffer_free(buffer);
}

/*
 * 9. anon_write_hugetlbfs: the kernel skips when no huge page can be
 * mapped; uhmm has no hugetlbfs (uhmm_mmap rejects MAP_HUGETLB).
 */
static void test_anon_write_hugetlbfs(void **state)
{
	struct conf *c = *state;
	unsigned long npages, size, addr = 0;
	struct conf_buffer *buffer;
	int ret;

	size = CONF_ALIGN(TWOMEG, CONF_PMD_SIZE);	/* default_huge_page_size(): 2 MiB */
	npages = size >> c->page_shift;

	ret = uhmm_mmap(c->mm, 0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, &addr);
	if (ret)
		conf_skip("hugetlbfs is not modelled: mmap(MAP_HUGETLB) = %d "
			  "(\"Huge page could not be allocated\")", ret);

	buffer = conf_buffer_new(c->mm, size, size);
	buffer->ptr = addr;

	/* Initialize data that the device will write to buffer->ptr. */
	conf_mem_fill(buffer->mirror, 0, size / sizeof(int), 0, 1);

	/* Simulate a device writing system memory. */
	assert_int_equal(hmm_dmirror_cmd(c->fd, UHMM_DMIRROR_WRITE, buffer, npages), 0);
	assert_int_equal(buffer->cpages, npages);
	assert_int_equal(buffer->faults, 1);

	/* Check what the device wrote. */
	conf_cpu_check(c->mm, buffer->ptr, 0, size / sizeof(int), 0, 1);

	hmm_buffer_free(buffer);
}

/*
 * 10. file_read: O_TMPFILE, pwrite ints i, mmap PROT_READ MAP_SHARED; READ ->
 * 0, cpages npages, faults 1; mirror == i. Needs a file-backed mapping.
 */
static void test_file_read(void **state)
{
	(void)state;
	conf_skip("file-backed mappings (page cache, tmpfile mmap) are not modelled: "
		  "uhmm_mmap supports MAP_ANONYMOUS only");
}

/*
 * 11. file_write: tmpfile mmap RW MAP_SHARED; WRITE -> 0, npages, 1; buffer
 * == i; pread of the file == i. Needs a file-backed mapping.
 */
static void test_file_write(void **state)
{
	(void)state;
	conf_skip("file-backed mappings (page cache, tmpfile mmap, pread) are not modelled: "
		  "uhmm_mmap supports MAP_ANONYMOUS only");
}

/* 19. anon_read_multiple: read anonymous memory NTIMES, each time a new buffer. */
static void test_anon_read_multiple(void **state)
{
	struct conf *c = *state;
	unsigned long npages = conf_npages(c), size = npages << c->page_shift;
	unsigned long cnt;

	for (cnt = 0; cnt < NTIMES; cnt++) {
		struct conf_buffer *buffer = conf_buffer_new(c->mm, size, size);

		buffer->ptr = conf_mmap(c->mm, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);

		/* Initialize buffer in system memory. */
		conf_cpu_fill(c->mm, buffer->ptr, 0, size / sizeof(int), (int)cnt, 1);

		/* Simulate a device reading system memory. */
		assert_int_equal(hmm_dmirror_cmd(c->fd, UHMM_DMIRROR_READ, buffer, npages), 0);
		assert_int_equal(buffer->cpages, npages);
		assert_int_equal(buffer->faults, 1);

		/* Check what the device read. */
		conf_mem_check(buffer->mirror, 0, size / sizeof(int), (int)cnt, 1);

		hmm_buffer_free(buffer);
	}
}

/*
 * 21. mixedmap: mmap of the device file itself (vm_insert_page of zeroed
 * kernel pages into a MAP_PRIVATE mapping), then SNAPSHOT 1 -> byte 0 ==
 * HMM_DMIRROR_PROT_READ. dmirror has no mmap of the device file.
 */
static void test_mixedmap(void **state)
{
	(void)state;
	conf_skip("dmirror has no mmap() of the device file (vm_insert_page mixed map), "
		  "and uhmm has no device-file mappings");
}

/*
 * 23. compound: a hugetlbfs buffer snapshots as WRITE|PMD (0x06), then
 * READ|PMD (0x05) after mprotect. 6.1 returns silently when no huge page
 * can be mapped; newer kernels skip.
 */
static void test_compound(void **state)
{
	struct conf *c = *state;
	unsigned long size = CONF_ALIGN(TWOMEG, CONF_PMD_SIZE), addr = 0;
	int ret;

	ret = uhmm_mmap(c->mm, 0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, &addr);
	if (ret)
		conf_skip("hugetlbfs is not modelled: mmap(MAP_HUGETLB) = %d; the PMD/PUD snapshot "
			  "levels (0x06/0x0A, 0x05/0x09) need a huge mapping", ret);
	assert_int_equal(uhmm_munmap(c->mm, addr, size), 0);
	conf_skip("hugetlbfs mapping accepted but map order is always 0: PMD snapshot bytes untestable");
}

static const struct CMUnitTest tests[] = {
	CONF_HMM_CASE(open_close),
	CONF_HMM_CASE(anon_read),
	CONF_HMM_CASE(anon_read_prot),
	CONF_HMM_CASE(anon_write),
	CONF_HMM_CASE(anon_write_prot),
	CONF_HMM_CASE(anon_write_child),
	CONF_HMM_CASE(anon_write_child_shared),
	CONF_HMM_CASE(anon_write_huge),
	CONF_HMM_CASE(anon_write_hugetlbfs),
	CONF_HMM_CASE(file_read),
	CONF_HMM_CASE(file_write),
	CONF_HMM_CASE(anon_read_multiple),
	CONF_HMM_CASE(mixedmap),
	CONF_HMM_CASE(compound),
};

int main(int argc, char **argv)
{
	return conf_main("test_conf_anon", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
