/* SPDX-License-Identifier: MIT */
/* tests/conformance/test_conf_exclusive.c - hmm-tests.c: device-exclusive (atomic) access.
 *
 * Cases 25-27 of the catalogue (reference section 7): exclusive,
 * exclusive_mprotect, exclusive_cow; each for hmm_device_private and
 * hmm_device_coherent. The steps and asserted values are the kernel test's;
 * see conf_fixture.h. exclusive_cow runs the child in a thread, concurrently
 * with the parent as fork() would, and checks its result. Usage:
 * test_conf_exclusive [--list | CASE_NAME].
 */
#include "conf_fixture.h"

static unsigned long conf_npages(const struct conf *c)
{
	return CONF_ALIGN(HMM_BUFFER_SIZE, c->page_size) >> c->page_shift;
}

static struct conf_buffer *conf_filled_buffer(struct conf *c, unsigned long npages)
{
	unsigned long size = npages << c->page_shift;
	struct conf_buffer *buffer = conf_buffer_new(c->mm, size, size);

	buffer->ptr = conf_mmap(c->mm, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
	/* Initialize buffer in system memory. */
	conf_cpu_fill(c->mm, buffer->ptr, 0, size / sizeof(int), 0, 1);
	return buffer;
}

/* Assert that `ASSERT_EQ(ptr[i]++, i)` holds for every int of the buffer. */
#define conf_cpu_increment(mm, addr, nints) conf_cpu_increment_(mm, addr, nints, __FILE__, __LINE__)
static void conf_cpu_increment_(struct uhmm_mm *mm, unsigned long addr, unsigned long nints, const char *file,
				int line)
{
	char msg[160];

	if (conf_cpu_increment_ret(mm, addr, 0, nints, 0, 1, msg, sizeof(msg))) {
		print_error("%s:%d: increment-and-check: %s\n", file, line, msg);
		fail();
	}
}

/*
 * 25. exclusive: the device takes exclusive access; each page's first CPU
 * access restores it (and invalidates the device); CHECK_EXCLUSIVE then
 * proves no page is still mapped atomic.
 */
static void test_exclusive(void **state)
{
	struct conf *c = *state;
	unsigned long npages = conf_npages(c), size = npages << c->page_shift;
	struct conf_buffer *buffer = conf_filled_buffer(c, npages);

	/* Map memory exclusively for device access. */
	assert_int_equal(hmm_dmirror_cmd(c->fd, UHMM_DMIRROR_EXCLUSIVE, buffer, npages), 0);
	assert_int_equal(buffer->cpages, npages);

	/* Check what the device read. */
	conf_mem_check(buffer->mirror, 0, size / sizeof(int), 0, 1);

	/* Fault pages back to system memory and check them. */
	conf_cpu_increment(c->mm, buffer->ptr, size / sizeof(int));
	conf_cpu_check(c->mm, buffer->ptr, 0, size / sizeof(int), 1, 1);

	/* Check atomic access revoked */
	assert_int_equal(hmm_dmirror_cmd(c->fd, UHMM_DMIRROR_CHECK_EXCLUSIVE, buffer, npages), 0);

	hmm_buffer_free(buffer);
}

/* 26. exclusive_mprotect: after mprotect(PROT_READ), a device write is refused with -EPERM. */
static void test_exclusive_mprotect(void **state)
{
	struct conf *c = *state;
	unsigned long npages = conf_npages(c), size = npages << c->page_shift;
	struct conf_buffer *buffer = conf_filled_buffer(c, npages);

	/* Map memory exclusively for device access. */
	assert_int_equal(hmm_dmirror_cmd(c->fd, UHMM_DMIRROR_EXCLUSIVE, buffer, npages), 0);
	assert_int_equal(buffer->cpages, npages);

	/* Check what the device read. */
	conf_mem_check(buffer->mirror, 0, size / sizeof(int), 0, 1);

	assert_int_equal(uhmm_mprotect(c->mm, buffer->ptr, size, PROT_READ), 0);

	/* Simulate a device writing system memory. */
	assert_int_equal(hmm_dmirror_cmd(c->fd, UHMM_DMIRROR_WRITE, buffer, npages), -EPERM);

	hmm_buffer_free(buffer);
}

/* The child of exclusive_cow: increment-and-check, then check; its "exit status". */
struct cow_child {
	struct uhmm_mm *mm;
	unsigned long addr, nints;
	int status;		/* 0: _exit(0) */
	char msg[160];
};

static void *cow_child_main(void *arg)
{
	struct cow_child *ch = arg;

	ch->status = conf_cpu_increment_ret(ch->mm, ch->addr, 0, ch->nints, 0, 1, ch->msg, sizeof(ch->msg));
	if (!ch->status)
		ch->status = conf_cpu_check_ret(ch->mm, ch->addr, 0, ch->nints, 1, 1, ch->msg, sizeof(ch->msg));
	uhmm_mm_put(ch->mm);	/* _exit(0): the address space goes, concurrently with the parent */
	return NULL;
}

/*
 * 27. exclusive_cow: fork while pages are device-exclusive; child and parent
 * both increment every int (copy-on-write must keep them apart) and both
 * see their own i + 1. The child runs in a thread on the forked address
 * space, concurrently with the parent; the parent then waits for it and
 * requires exit status 0 (its check passed).
 */
static void test_exclusive_cow(void **state)
{
	struct conf *c = *state;
	unsigned long npages = conf_npages(c), size = npages << c->page_shift;
	struct conf_buffer *buffer = conf_filled_buffer(c, npages);
	struct cow_child ch;
	pthread_t child_thread;

	/* Map memory exclusively for device access. */
	assert_int_equal(hmm_dmirror_cmd(c->fd, UHMM_DMIRROR_EXCLUSIVE, buffer, npages), 0);
	assert_int_equal(buffer->cpages, npages);

	/* fork() */
	memset(&ch, 0, sizeof(ch));
	assert_int_equal(uhmm_mm_fork(c->mm, &ch.mm), 0);
	ch.addr = buffer->ptr;
	ch.nints = size / sizeof(int);
	ch.status = -1;
	assert_int_equal(pthread_create(&child_thread, NULL, cow_child_main, &ch), 0);

	/* Parent: also increment to verify COW works for both processes. */
	conf_cpu_increment(c->mm, buffer->ptr, size / sizeof(int));
	conf_cpu_check(c->mm, buffer->ptr, 0, size / sizeof(int), 1, 1);

	/* Parent: wait for child (waitpid, WIFEXITED, WEXITSTATUS == 0). */
	assert_int_equal(pthread_join(child_thread, NULL), 0);
	if (ch.status)
		print_error("child: %s\n", ch.msg);
	assert_int_equal(ch.status, 0);

	/* The parent's values survived the child's writes. */
	conf_cpu_check(c->mm, buffer->ptr, 0, size / sizeof(int), 1, 1);

	hmm_buffer_free(buffer);
}

static const struct CMUnitTest tests[] = {
	CONF_HMM_CASE(exclusive),
	CONF_HMM_CASE(exclusive_mprotect),
	CONF_HMM_CASE(exclusive_cow),
};

int main(int argc, char **argv)
{
	return conf_main("test_conf_exclusive", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
