/* SPDX-License-Identifier: MIT */
/* tests/conformance/test_conf_migrate.c - hmm-tests.c: migration to device memory and back, snapshots.
 *
 * Cases 12-18, 22, 24, 28 and 29 of the catalogue (reference section 7):
 * migrate, migrate_file_private, migrate_fault, migrate_release,
 * migrate_shared, migrate_multiple, hmm_gup_test, hmm_cow_in_device (hmm:
 * hmm_device_private, hmm_device_coherent) and migrate_mixed, snapshot,
 * double_map (hmm2: hmm2_device_private, hmm2_device_coherent). The steps
 * and asserted values are the kernel test's; see conf_fixture.h. Usage:
 * test_conf_migrate [--list | CASE_NAME].
 */
#include "conf_fixture.h"

static unsigned long conf_npages(const struct conf *c)
{
	return CONF_ALIGN(HMM_BUFFER_SIZE, c->page_size) >> c->page_shift;
}

/* A fresh npages-page private anonymous RW buffer with ptr[i] = i. */
static struct conf_buffer *conf_filled_buffer(struct conf *c, unsigned long npages)
{
	unsigned long size = npages << c->page_shift;
	struct conf_buffer *buffer = conf_buffer_new(c->mm, size, size);

	buffer->ptr = conf_mmap(c->mm, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
	/* Initialize buffer in system memory. */
	conf_cpu_fill(c->mm, buffer->ptr, 0, size / sizeof(int), 0, 1);
	return buffer;
}

/* 12. migrate: anonymous memory to device memory; the device reads it back. */
static void test_migrate(void **state)
{
	struct conf *c = *state;
	unsigned long npages = conf_npages(c), size = npages << c->page_shift;
	struct conf_buffer *buffer = conf_filled_buffer(c, npages);

	/* Migrate memory to device. */
	assert_int_equal(hmm_migrate_sys_to_dev(c->fd, buffer, npages), 0);
	assert_int_equal(buffer->cpages, npages);

	/* Check what the device read. */
	conf_mem_check(buffer->mirror, 0, size / sizeof(int), 0, 1);

	hmm_buffer_free(buffer);
}

/*
 * 13. migrate_file_private: a MAP_PRIVATE mapping of a tmpfile, every page
 * written (anonymous COW copies in a file VMA), migrated: 0, npages, mirror
 * == i, and no WARN at teardown. Needs a file-backed mapping.
 */
static void test_migrate_file_private(void **state)
{
	(void)state;
	conf_skip("file-backed mappings (MAP_PRIVATE of a tmpfile: anonymous COW pages in a "
		  "file VMA) are not modelled: uhmm_mmap supports MAP_ANONYMOUS only");
}

/*
 * 14. migrate_fault: migrate, fault the first half back with the CPU,
 * migrate again: cpages == npages, because the pages still on the device
 * keep their device mappings (the device skipped the MIGRATE invalidation
 * its own migration caused: the seed patch).
 */
static void test_migrate_fault(void **state)
{
	struct conf *c = *state;
	unsigned long npages = conf_npages(c), size = npages << c->page_shift;
	struct conf_buffer *buffer = conf_filled_buffer(c, npages);
	struct uhmm_dmirror_stats before, after;

	/* Migrate memory to device. */
	assert_int_equal(hmm_migrate_sys_to_dev(c->fd, buffer, npages), 0);
	assert_int_equal(buffer->cpages, npages);

	/* Check what the device read. */
	conf_mem_check(buffer->mirror, 0, size / sizeof(int), 0, 1);

	/* Fault half the pages back to system memory and check them. */
	conf_cpu_check(c->mm, buffer->ptr, 0, size / (2 * sizeof(int)), 0, 1);

	assert_int_equal(uhmm_dmirror_get_stats(c->fd, &before), 0);

	if (conf_filter() == UHMM_DMIRROR_FILTER_NONE) {
		/*
		 * What the kernel test saw before the seed patch: the device
		 * zaps the mappings of the pages that stayed on it, and the
		 * read-back fails (the negative control below, by policy).
		 */
		assert_int_equal(hmm_migrate_sys_to_dev(c->fd, buffer, npages), -ENOENT);
		assert_int_equal(uhmm_dmirror_get_stats(c->fd, &after), 0);
		assert_int_equal(after.invalidations_skipped, before.invalidations_skipped);
		assert_true(after.ptes_zapped > before.ptes_zapped);
		hmm_buffer_free(buffer);
		return;
	}

	/* Migrate memory to the device again. */
	assert_int_equal(hmm_migrate_sys_to_dev(c->fd, buffer, npages), 0);
	assert_int_equal(buffer->cpages, npages);

	/* Check what the device read. */
	conf_mem_check(buffer->mirror, 0, size / sizeof(int), 0, 1);

	/*
	 * Not in hmm-tests.c (uhmm addition): the reason cpages == npages is
	 * the owner filter, so check it directly. The migration's own MIGRATE
	 * invalidations were skipped and zapped no device entry; the pages
	 * that stayed on the device kept their mappings (cpages alone cannot
	 * tell, should the driver ever remap them after the fact).
	 */
	assert_int_equal(uhmm_dmirror_get_stats(c->fd, &after), 0);
	assert_true(after.invalidations_skipped > before.invalidations_skipped);
	assert_int_equal(after.ptes_zapped, before.ptes_zapped);

	hmm_buffer_free(buffer);
}

/*
 * migrate_fault as the kernel test failed before the seed patch (not a case
 * of hmm-tests.c: its negative control). A device created with
 * invalidate_own_migrations zaps its page table on its own MIGRATE
 * invalidations, as drivers did before MMU_NOTIFY_MIGRATE existed: the pages
 * that stayed on the device lose their device mappings, and the second
 * migration's read-back reports -ENOENT. This proves the case above really
 * exercises the owner filter.
 */
static void test_migrate_fault_without_owner_filter(void **state)
{
	struct conf *c = *state;
	unsigned long npages = conf_npages(c), size = npages << c->page_shift;
	struct uhmm_dmirror_device_opts o;
	struct uhmm_dmirror_device *dev;
	struct uhmm_dmirror *fd;
	struct conf_buffer *buffer = conf_filled_buffer(c, npages);

	memset(&o, 0, sizeof(o));
	o.type = hmm_is_coherent_type(c->variant->device_number0) ? UHMM_MEMORY_DEVICE_COHERENT
								   : UHMM_MEMORY_DEVICE_PRIVATE;
	o.invalidate_own_migrations = true;
	assert_int_equal(uhmm_dmirror_device_create(c->sys, &o, &dev), 0);
	assert_int_equal(uhmm_dmirror_open(dev, c->mm, &fd), 0);

	assert_int_equal(hmm_migrate_sys_to_dev(fd, buffer, npages), 0);
	assert_int_equal(buffer->cpages, npages);
	conf_mem_check(buffer->mirror, 0, size / sizeof(int), 0, 1);
	conf_cpu_check(c->mm, buffer->ptr, 0, size / (2 * sizeof(int)), 0, 1);

	/* Before the seed patch: the mappings of the pages left on the device are lost. */
	assert_int_equal(hmm_migrate_sys_to_dev(fd, buffer, npages), -ENOENT);

	/* Nothing is lost but the device mappings: the data is intact. */
	conf_cpu_check(c->mm, buffer->ptr, 0, size / sizeof(int), 0, 1);

	uhmm_dmirror_close(fd);
	uhmm_dmirror_device_destroy(dev);
	hmm_buffer_free(buffer);
}

/* 15. migrate_release: RELEASE evicts the device memory; the data survives. */
static void test_migrate_release(void **state)
{
	struct conf *c = *state;
	unsigned long npages = conf_npages(c), size = npages << c->page_shift;
	struct conf_buffer *buffer = conf_filled_buffer(c, npages);

	/* Migrate memory to device. */
	assert_int_equal(hmm_migrate_sys_to_dev(c->fd, buffer, npages), 0);
	assert_int_equal(buffer->cpages, npages);

	/* Check what the device read. */
	conf_mem_check(buffer->mirror, 0, size / sizeof(int), 0, 1);

	/* Release device memory. */
	assert_int_equal(hmm_dmirror_cmd(c->fd, UHMM_DMIRROR_RELEASE, buffer, npages), 0);

	/* Fault pages back to system memory and check them. */
	conf_cpu_check(c->mm, buffer->ptr, 0, size / (2 * sizeof(int)), 0, 1);

	hmm_buffer_free(buffer);
}

/* 16. migrate_shared: shared anonymous memory cannot migrate: -ENOENT. */
static void test_migrate_shared(void **state)
{
	struct conf *c = *state;
	unsigned long npages = conf_npages(c), size = npages << c->page_shift;
	struct conf_buffer *buffer = conf_buffer_new(c->mm, size, size);

	buffer->ptr = conf_mmap(c->mm, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);

	/* Migrate memory to device. */
	assert_int_equal(hmm_migrate_sys_to_dev(c->fd, buffer, npages), -ENOENT);

	hmm_buffer_free(buffer);
}

/* 17. migrate_mixed (hmm2): protections, holes, zero page, read-only and RW pages, another device's page. */
static void test_migrate_mixed(void **state)
{
	struct conf *c = *state;
	unsigned long npages = 6, size = npages << c->page_shift, p;
	struct conf_buffer *buffer = conf_buffer_new(c->mm, size, size);
	int val;

	/* Reserve a range of addresses. */
	buffer->ptr = conf_mmap(c->mm, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS);
	p = buffer->ptr;

	/* Migrating a protected area should be an error. */
	assert_int_equal(hmm_migrate_sys_to_dev(c->fd1, buffer, npages), -EINVAL);

	/* Punch a hole after the first page address. */
	assert_int_equal(uhmm_munmap(c->mm, buffer->ptr + c->page_size, c->page_size), 0);

	/* We expect an error if the vma doesn't cover the range. */
	assert_int_equal(hmm_migrate_sys_to_dev(c->fd1, buffer, 3), -EINVAL);

	/* Page 2 will be a read-only zero page. */
	assert_int_equal(uhmm_mprotect(c->mm, buffer->ptr + 2 * c->page_size, c->page_size, PROT_READ), 0);
	val = conf_cpu_read_int(c->mm, buffer->ptr + 2 * c->page_size) + 3;
	assert_int_equal(val, 3);

	/* Page 3 will be read-only. */
	assert_int_equal(uhmm_mprotect(c->mm, buffer->ptr + 3 * c->page_size, c->page_size,
				       PROT_READ | PROT_WRITE), 0);
	conf_cpu_write_int(c->mm, buffer->ptr + 3 * c->page_size, val);
	assert_int_equal(uhmm_mprotect(c->mm, buffer->ptr + 3 * c->page_size, c->page_size, PROT_READ), 0);

	/* Page 4-5 will be read-write. */
	assert_int_equal(uhmm_mprotect(c->mm, buffer->ptr + 4 * c->page_size, 2 * c->page_size,
				       PROT_READ | PROT_WRITE), 0);
	conf_cpu_write_int(c->mm, buffer->ptr + 4 * c->page_size, val);
	conf_cpu_write_int(c->mm, buffer->ptr + 5 * c->page_size, val);

	/* Now try to migrate pages 2-5 to device 1. */
	buffer->ptr = p + 2 * c->page_size;
	assert_int_equal(hmm_migrate_sys_to_dev(c->fd1, buffer, 4), 0);
	assert_int_equal(buffer->cpages, 4);

	/* Page 5 won't be migrated to device 0 because it's on device 1. */
	buffer->ptr = p + 5 * c->page_size;
	assert_int_equal(hmm_migrate_sys_to_dev(c->fd0, buffer, 1), -ENOENT);

	buffer->ptr = p;
	hmm_buffer_free(buffer);
}

/*
 * 18. migrate_multiple: NTIMES, a new buffer to the device and back (private:
 * by CPU faults; coherent: MIGRATE_TO_SYS, the CPU does not fault on it).
 */
static void test_migrate_multiple(void **state)
{
	struct conf *c = *state;
	unsigned long npages = conf_npages(c), size = npages << c->page_shift;
	unsigned long cnt;

	for (cnt = 0; cnt < NTIMES; cnt++) {
		struct conf_buffer *buffer = conf_filled_buffer(c, npages);

		/* Migrate memory to device. */
		assert_int_equal(hmm_migrate_sys_to_dev(c->fd, buffer, npages), 0);
		assert_int_equal(buffer->cpages, npages);

		/* Check what the device read. */
		conf_mem_check(buffer->mirror, 0, size / sizeof(int), 0, 1);

		/* Migrate back to system memory and check them. */
		if (hmm_is_coherent_type(c->variant->device_number0)) {
			assert_int_equal(hmm_migrate_dev_to_sys(c->fd, buffer, npages), 0);
			assert_int_equal(buffer->cpages, npages);
		}

		conf_cpu_check(c->mm, buffer->ptr, 0, size / sizeof(int), 0, 1);

		hmm_buffer_free(buffer);
	}
}

/* 22. snapshot (hmm2): what hmm_range_fault reports, byte by byte, without faulting. */
static void test_snapshot(void **state)
{
	struct conf *c = *state;
	unsigned long npages = 7, size = npages << c->page_shift, p;
	/*
	 * hmm-tests.c allocates npages bytes of mirror (one snapshot byte per
	 * page), but the MIGRATE_TO_DEV commands below copy a whole page back
	 * into it: a heap overflow in the kernel's test, silent there, caught
	 * by ASan here. The mirror gets size bytes.
	 */
	struct conf_buffer *buffer = conf_buffer_new(c->mm, size, size);
	unsigned char *m;
	int val;

	/* Reserve a range of addresses. */
	buffer->ptr = conf_mmap(c->mm, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS);
	p = buffer->ptr;

	/* Punch a hole after the first page address. */
	assert_int_equal(uhmm_munmap(c->mm, buffer->ptr + c->page_size, c->page_size), 0);

	/* Page 2 will be read-only zero page. */
	assert_int_equal(uhmm_mprotect(c->mm, buffer->ptr + 2 * c->page_size, c->page_size, PROT_READ), 0);
	val = conf_cpu_read_int(c->mm, buffer->ptr + 2 * c->page_size) + 3;
	assert_int_equal(val, 3);

	/* Page 3 will be read-only. */
	assert_int_equal(uhmm_mprotect(c->mm, buffer->ptr + 3 * c->page_size, c->page_size,
				       PROT_READ | PROT_WRITE), 0);
	conf_cpu_write_int(c->mm, buffer->ptr + 3 * c->page_size, val);
	assert_int_equal(uhmm_mprotect(c->mm, buffer->ptr + 3 * c->page_size, c->page_size, PROT_READ), 0);

	/* Page 4-6 will be read-write. */
	assert_int_equal(uhmm_mprotect(c->mm, buffer->ptr + 4 * c->page_size, 3 * c->page_size,
				       PROT_READ | PROT_WRITE), 0);
	conf_cpu_write_int(c->mm, buffer->ptr + 4 * c->page_size, val);

	/* Page 5 will be migrated to device 0. */
	buffer->ptr = p + 5 * c->page_size;
	assert_int_equal(hmm_migrate_sys_to_dev(c->fd0, buffer, 1), 0);
	assert_int_equal(buffer->cpages, 1);

	/* Page 6 will be migrated to device 1. */
	buffer->ptr = p + 6 * c->page_size;
	assert_int_equal(hmm_migrate_sys_to_dev(c->fd1, buffer, 1), 0);
	assert_int_equal(buffer->cpages, 1);

	/* Simulate a device snapshotting CPU pagetables. */
	buffer->ptr = p;
	assert_int_equal(hmm_dmirror_cmd(c->fd0, UHMM_DMIRROR_SNAPSHOT, buffer, npages), 0);
	assert_int_equal(buffer->cpages, npages);

	/* Check what the device saw. */
	m = buffer->mirror;
	assert_int_equal(m[0], UHMM_DMIRROR_PROT_ERROR);			/* 0xFF */
	assert_int_equal(m[1], UHMM_DMIRROR_PROT_ERROR);			/* 0xFF */
	assert_int_equal(m[2], UHMM_DMIRROR_PROT_ZERO | UHMM_DMIRROR_PROT_READ);	/* 0x11 */
	assert_int_equal(m[3], UHMM_DMIRROR_PROT_READ);				/* 0x01 */
	assert_int_equal(m[4], UHMM_DMIRROR_PROT_WRITE);			/* 0x02 */
	if (!hmm_is_coherent_type(c->variant->device_number0)) {
		assert_int_equal(m[5], UHMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | UHMM_DMIRROR_PROT_WRITE);	/* 0x22 */
		assert_int_equal(m[6], UHMM_DMIRROR_PROT_NONE);						/* 0x00 */
	} else {
		assert_int_equal(m[5], UHMM_DMIRROR_PROT_DEV_COHERENT_LOCAL | UHMM_DMIRROR_PROT_WRITE);	/* 0x42 */
		assert_int_equal(m[6], UHMM_DMIRROR_PROT_DEV_COHERENT_REMOTE | UHMM_DMIRROR_PROT_WRITE);	/* 0x52 */
	}

	hmm_buffer_free(buffer);
}

/*
 * 24. double_map (hmm2): two devices read the same memory; device 1's
 * migration invalidates device 0 (it is not device 0's own migration), whose
 * next read faults once and gets the pages from device 1's memory.
 */
static void test_double_map(void **state)
{
	struct conf *c = *state;
	unsigned long npages = 6, size = npages << c->page_shift;
	struct conf_buffer *buffer = conf_buffer_new(c->mm, size, size);

	/* Reserve a range of addresses. */
	buffer->ptr = conf_mmap(c->mm, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);

	/* Initialize buffer in system memory. */
	conf_cpu_fill(c->mm, buffer->ptr, 0, size / sizeof(int), 0, 1);

	/* Make region read-only. */
	assert_int_equal(uhmm_mprotect(c->mm, buffer->ptr, size, PROT_READ), 0);

	/* Simulate device 0 reading system memory. */
	assert_int_equal(hmm_dmirror_cmd(c->fd0, UHMM_DMIRROR_READ, buffer, npages), 0);
	assert_int_equal(buffer->cpages, npages);
	assert_int_equal(buffer->faults, 1);

	/* Check what the device read. */
	conf_mem_check(buffer->mirror, 0, size / sizeof(int), 0, 1);

	/* Simulate device 1 reading system memory. */
	assert_int_equal(hmm_dmirror_cmd(c->fd1, UHMM_DMIRROR_READ, buffer, npages), 0);
	assert_int_equal(buffer->cpages, npages);
	assert_int_equal(buffer->faults, 1);

	/* Check what the device read. */
	conf_mem_check(buffer->mirror, 0, size / sizeof(int), 0, 1);

	/* Migrate pages to device 1 and try to read from device 0. */
	assert_int_equal(hmm_migrate_sys_to_dev(c->fd1, buffer, npages), 0);
	assert_int_equal(buffer->cpages, npages);

	assert_int_equal(hmm_dmirror_cmd(c->fd0, UHMM_DMIRROR_READ, buffer, npages), 0);
	assert_int_equal(buffer->cpages, npages);
	assert_int_equal(buffer->faults, 1);

	/* Check what device 0 read. */
	conf_mem_check(buffer->mirror, 0, size / sizeof(int), 0, 1);

	hmm_buffer_free(buffer);
}

/*
 * 28. hmm_gup_test: get_user_pages / pin_user_pages (FOLL_LONGTERM) of
 * device pages through the gup_test debugfs module, then a snapshot:
 * private 0x02 x4; coherent 0x42, 0x42 (short-term GUP leaves coherent
 * pages in place), 0x02, 0x02 (long-term pins migrate them out). The setup
 * steps run; the gup_test ioctls are not modelled.
 */
static void test_hmm_gup_test(void **state)
{
	struct conf *c = *state;
	unsigned long npages = 4, size = npages << c->page_shift;
	struct conf_buffer *buffer = conf_filled_buffer(c, npages);

	/* Migrate memory to device. */
	assert_int_equal(hmm_migrate_sys_to_dev(c->fd, buffer, npages), 0);
	assert_int_equal(buffer->cpages, npages);
	/* Check what the device read. */
	conf_mem_check(buffer->mirror, 0, size / sizeof(int), 0, 1);

	hmm_buffer_free(buffer);
	conf_skip("the gup_test module (GUP_BASIC_TEST, GUP_FAST_BENCHMARK, PIN_FAST_BENCHMARK, "
		  "PIN_LONGTERM_BENCHMARK ioctls) and FOLL_LONGTERM migration of device-coherent "
		  "pages are not modelled");
}

/*
 * 29. hmm_cow_in_device: after fork, the parent writes pages that live on
 * the device: private pages come back to RAM (unmapping the child too) and
 * are then copied; coherent pages are copied from device memory. The child
 * "spins forever": a forked address space nobody touches, killed by
 * uhmm_mm_put after the parent's writes. SNAPSHOT: every byte 0x02.
 */
static void test_hmm_cow_in_device(void **state)
{
	struct conf *c = *state;
	unsigned long npages = 4, size = npages << c->page_shift, i;
	struct conf_buffer *buffer = conf_filled_buffer(c, npages);
	struct uhmm_mm *child;
	unsigned char *m;

	/* Migrate memory to device. */
	assert_int_equal(hmm_migrate_sys_to_dev(c->fd, buffer, npages), 0);
	assert_int_equal(buffer->cpages, npages);

	/* fork(); the child process waits for SIGKILL from the parent. */
	assert_int_equal(uhmm_mm_fork(c->mm, &child), 0);

	/*
	 * Parent process writes to COW pages(s) and gets a new copy in
	 * system. In case of device private pages, this write causes a
	 * migration to system mem first.
	 */
	conf_cpu_fill(c->mm, buffer->ptr, 0, size / sizeof(int), 0, 1);

	/* Terminate child and wait (kill(SIGKILL), waitpid, WIFSIGNALED). */
	uhmm_mm_put(child);

	/* Take snapshot to CPU pagetables */
	assert_int_equal(hmm_dmirror_cmd(c->fd, UHMM_DMIRROR_SNAPSHOT, buffer, npages), 0);
	assert_int_equal(buffer->cpages, npages);
	m = buffer->mirror;
	for (i = 0; i < npages; i++)
		assert_int_equal(m[i], UHMM_DMIRROR_PROT_WRITE);	/* 0x02 */

	hmm_buffer_free(buffer);
}

static const struct CMUnitTest tests[] = {
	CONF_HMM_CASE(migrate),
	CONF_HMM_CASE(migrate_file_private),
	CONF_HMM_CASE(migrate_fault),
	CONF_HMM_CASE(migrate_fault_without_owner_filter),
	CONF_HMM_CASE(migrate_release),
	CONF_HMM_CASE(migrate_shared),
	CONF_HMM2_CASE(migrate_mixed),
	CONF_HMM_CASE(migrate_multiple),
	CONF_HMM2_CASE(snapshot),
	CONF_HMM2_CASE(double_map),
	CONF_HMM_CASE(hmm_gup_test),
	CONF_HMM_CASE(hmm_cow_in_device),
};

int main(int argc, char **argv)
{
	return conf_main("test_conf_migrate", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
