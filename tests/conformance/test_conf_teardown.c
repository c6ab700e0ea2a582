/* SPDX-License-Identifier: MIT */
/* tests/conformance/test_conf_teardown.c - hmm-tests.c anon_teardown, and races in its style.
 *
 * Case 20 of the catalogue (reference section 7), anon_teardown: NTIMES, a
 * thread sleeps a random time under 32 us and munmaps the second half of a
 * buffer while the device reads it; any error is acceptable, a success must
 * have read the right data; nothing may crash or hang. Then races of the
 * same shape that the kernel's catalogue does not have, for the other
 * device paths (issue 3 section 6):
 *
 *   anon_teardown_migrate         munmap during MIGRATE_TO_DEV
 *   anon_teardown_migrate_back    munmap during MIGRATE_TO_SYS and CPU faults
 *                                 of pages on the device
 *   anon_teardown_exclusive       munmap during EXCLUSIVE
 *   anon_teardown_storm           munmap while device reads (two files),
 *                                 migrations and CPU reads run together
 *   anon_teardown_exit            a forked child's exit (uhmm_mm_put) while
 *                                 its own device file reads and migrates
 *
 * Each returns only outcomes Linux can return for that command (listed per
 * case), never corrupts the half that stays mapped (checked by the CPU and
 * by the device after the race), and leaves nothing behind (the fixture's
 * teardown checks RAM and device pages). They run under ASan and TSan in
 * make check. Usage: test_conf_teardown [--list | CASE_NAME].
 */
#include "conf_fixture.h"

static unsigned long conf_npages(const struct conf *c)
{
	return CONF_ALIGN(HMM_BUFFER_SIZE, c->page_size) >> c->page_shift;
}

/* ---------------------------------------------------------- the unmapper */

/* unmap_buffer(): sleep @delay_ns, then munmap the second half of the buffer. */
struct unmapper {
	struct uhmm_mm *mm;
	unsigned long ptr, size;
	unsigned int delay_ns;
	int ret;
};

static void *unmap_buffer(void *arg)
{
	struct unmapper *u = arg;

	/* Delay for a bit and then unmap buffer while it is being read. */
	hmm_nanosleep(u->delay_ns);
	u->ret = uhmm_munmap(u->mm, u->ptr + u->size / 2, u->size / 2);
	return NULL;
}

static void unmapper_start(struct unmapper *u, pthread_t *t, struct uhmm_mm *mm, const struct conf_buffer *b,
			   unsigned long *rnd)
{
	u->mm = mm;
	u->ptr = b->ptr;
	u->size = b->size;
	u->delay_ns = conf_random(rnd) % 32000;
	u->ret = -1;
	assert_int_equal(pthread_create(t, NULL, unmap_buffer, u), 0);
}

static void unmapper_join(struct unmapper *u, pthread_t t)
{
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(u->ret, 0);
}

/* A new RW private buffer of @npages pages holding ptr[i] = i + cnt. */
static struct conf_buffer *race_buffer(struct conf *c, struct uhmm_mm *mm, unsigned long npages, unsigned long cnt)
{
	unsigned long size = npages << c->page_shift;
	struct conf_buffer *buffer = conf_buffer_new(mm, size, size);

	buffer->ptr = conf_mmap(mm, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
	/* Initialize buffer in system memory. */
	conf_cpu_fill(mm, buffer->ptr, 0, size / sizeof(int), (int)cnt, 1);
	return buffer;
}

/* After the race: the first half is intact (CPU), the second half is gone. */
static void check_halves(struct uhmm_mm *mm, const struct conf_buffer *buffer, unsigned long cnt)
{
	int v;

	conf_cpu_check(mm, buffer->ptr, 0, buffer->size / (2 * sizeof(int)), (int)cnt, 1);
	assert_int_equal(uhmm_cpu_read(mm, buffer->ptr + buffer->size / 2, &v, sizeof(v)), -EFAULT);
	assert_int_equal(uhmm_cpu_read(mm, buffer->ptr + buffer->size - sizeof(v), &v, sizeof(v)), -EFAULT);
}

/* The device still reads the first half correctly through @fd, after one fault round at most. */
static void check_device_first_half(struct uhmm_dmirror *fd, struct conf_buffer *buffer, unsigned long npages,
				    unsigned long cnt)
{
	assert_int_equal(hmm_dmirror_cmd(fd, UHMM_DMIRROR_READ, buffer, npages / 2), 0);
	assert_int_equal(buffer->cpages, npages / 2);
	assert_true(buffer->faults <= 1);
	conf_mem_check(buffer->mirror, 0, buffer->size / (2 * sizeof(int)), (int)cnt, 1);
}

/* The buffer's second half is unmapped already: free the first. */
static void free_half_unmapped(struct conf_buffer *buffer)
{
	assert_int_equal(uhmm_munmap(buffer->mm, buffer->ptr, buffer->size / 2), 0);
	buffer->ptr = 0;
	hmm_buffer_free(buffer);
}

struct outcomes {
	unsigned long ok, err;
};

static void outcome(struct outcomes *o, const char *what, int rc, const int *allowed, size_t nallowed)
{
	size_t i;

	if (rc == 0) {
		o->ok++;
		return;
	}
	for (i = 0; i < nallowed; i++)
		if (rc == allowed[i]) {
			o->err++;
			return;
		}
	print_error("%s returned %d, which Linux cannot return here\n", what, rc);
	fail();
}

static void report(const char *what, const struct outcomes *o)
{
	print_message("[   INFO   ] %s: %lu succeeded, %lu failed (allowed)\n", what, o->ok, o->err);
}

/* ------------------------------------------------------- anon_teardown */

/* 20. anon_teardown: try reading anonymous memory while it is being unmapped. */
static void test_anon_teardown(void **state)
{
	struct conf *c = *state;
	unsigned long npages = conf_npages(c), size = npages << c->page_shift, cnt, rnd = 0;
	struct outcomes o = { 0, 0 };

	for (cnt = 0; cnt < NTIMES; ++cnt) {
		struct conf_buffer *buffer = race_buffer(c, c->mm, npages, cnt);
		struct unmapper u;
		pthread_t thread;
		int rc;

		unmapper_start(&u, &thread, c->mm, buffer, &rnd);

		/* Simulate a device reading system memory. */
		rc = hmm_dmirror_cmd(c->fd, UHMM_DMIRROR_READ, buffer, npages);
		if (rc == 0) {
			assert_int_equal(buffer->cpages, npages);
			assert_int_equal(buffer->faults, 1);

			/* Check what the device read. */
			conf_mem_check(buffer->mirror, 0, size / sizeof(int), (int)cnt, 1);
		}
		/* The kernel accepts any error; READ of a range losing its VMA can only fault. */
		outcome(&o, "READ", rc, (const int[]){ -EFAULT }, 1);

		unmapper_join(&u, thread);
		check_halves(c->mm, buffer, cnt);
		free_half_unmapped(buffer);
	}
	report("READ", &o);
}

/* ------------------------------------------------- anon_teardown_migrate */

/*
 * munmap of the second half during MIGRATE_TO_DEV. Allowed: 0 (then cpages
 * == npages and the read-back is right), -EINVAL (a chunk found no VMA),
 * -ENOENT (some page was not on the device at read-back).
 */
static void test_anon_teardown_migrate(void **state)
{
	struct conf *c = *state;
	unsigned long npages = conf_npages(c), size = npages << c->page_shift, cnt, rnd = 0;
	struct outcomes o = { 0, 0 };

	for (cnt = 0; cnt < NTIMES; ++cnt) {
		struct conf_buffer *buffer = race_buffer(c, c->mm, npages, cnt);
		struct unmapper u;
		pthread_t thread;
		int rc;

		unmapper_start(&u, &thread, c->mm, buffer, &rnd);
		rc = hmm_migrate_sys_to_dev(c->fd, buffer, npages);
		if (rc == 0) {
			assert_int_equal(buffer->cpages, npages);
			conf_mem_check(buffer->mirror, 0, size / sizeof(int), (int)cnt, 1);
		}
		outcome(&o, "MIGRATE_TO_DEV", rc, (const int[]){ -EINVAL, -ENOENT }, 2);
		unmapper_join(&u, thread);

		check_device_first_half(c->fd, buffer, npages, cnt);
		check_halves(c->mm, buffer, cnt);
		free_half_unmapped(buffer);
	}
	report("MIGRATE_TO_DEV", &o);
}

/* -------------------------------------------- anon_teardown_migrate_back */

struct cpu_reader {
	struct uhmm_mm *mm;
	unsigned long ptr, nints;
	int base;
	int ret;		/* 0, or the first read error (-EFAULT once unmapped) */
	bool corrupt;		/* a read returned wrong data */
	char msg[160];
};

/* Read every int page by page; an unmapped page ends the walk, wrong data is corruption. */
static void *cpu_reader_main(void *arg)
{
	struct cpu_reader *r = arg;
	int rc = conf_cpu_check_ret(r->mm, r->ptr, 0, r->nints, r->base, 1, r->msg, sizeof(r->msg));

	r->corrupt = rc == 1;
	r->ret = rc == 1 ? 0 : rc;
	return NULL;
}

/*
 * The buffer is on the device; munmap of its second half races with
 * MIGRATE_TO_SYS (allowed: 0, or -EINVAL when a chunk lost its VMA) and with
 * a CPU thread reading the whole buffer (private: every read faults the page
 * back through migrate_to_ram; -EFAULT once the page is unmapped).
 */
static void test_anon_teardown_migrate_back(void **state)
{
	struct conf *c = *state;
	unsigned long npages = conf_npages(c), size = npages << c->page_shift, cnt, rnd = 0;
	struct outcomes o = { 0, 0 };

	for (cnt = 0; cnt < NTIMES; ++cnt) {
		struct conf_buffer *buffer = race_buffer(c, c->mm, npages, cnt);
		struct cpu_reader r;
		pthread_t reader;
		struct unmapper u;
		pthread_t thread;
		int rc;

		assert_int_equal(hmm_migrate_sys_to_dev(c->fd, buffer, npages), 0);
		assert_int_equal(buffer->cpages, npages);

		memset(&r, 0, sizeof(r));
		r.mm = c->mm;
		r.ptr = buffer->ptr;
		r.nints = size / sizeof(int);
		r.base = (int)cnt;
		assert_int_equal(pthread_create(&reader, NULL, cpu_reader_main, &r), 0);
		unmapper_start(&u, &thread, c->mm, buffer, &rnd);

		rc = hmm_migrate_dev_to_sys(c->fd, buffer, npages);
		if (rc == 0)
			assert_true(buffer->cpages <= npages);
		outcome(&o, "MIGRATE_TO_SYS", rc, (const int[]){ -EINVAL }, 1);

		unmapper_join(&u, thread);
		assert_int_equal(pthread_join(reader, NULL), 0);
		if (r.corrupt)
			print_error("CPU reader: %s\n", r.msg);
		assert_false(r.corrupt);
		assert_true(r.ret == 0 || r.ret == -EFAULT);

		check_halves(c->mm, buffer, cnt);
		check_device_first_half(c->fd, buffer, npages, cnt);
		free_half_unmapped(buffer);
	}
	report("MIGRATE_TO_SYS", &o);
}

/* ---------------------------------------------- anon_teardown_exclusive */

/*
 * munmap of the second half during EXCLUSIVE. Allowed: 0 (cpages ==
 * npages, right data), -EFAULT (make_device_exclusive found no VMA), -EBUSY,
 * -ENOENT (an entry was gone at read-back). Afterwards the CPU takes the
 * first half back and no page of the range may still be mapped atomic.
 */
static void test_anon_teardown_exclusive(void **state)
{
	struct conf *c = *state;
	unsigned long npages = conf_npages(c), size = npages << c->page_shift, cnt, rnd = 0;
	struct outcomes o = { 0, 0 };

	for (cnt = 0; cnt < NTIMES; ++cnt) {
		struct conf_buffer *buffer = race_buffer(c, c->mm, npages, cnt);
		struct unmapper u;
		pthread_t thread;
		int rc;

		unmapper_start(&u, &thread, c->mm, buffer, &rnd);
		rc = hmm_dmirror_cmd(c->fd, UHMM_DMIRROR_EXCLUSIVE, buffer, npages);
		if (rc == 0) {
			assert_int_equal(buffer->cpages, npages);
			conf_mem_check(buffer->mirror, 0, size / sizeof(int), (int)cnt, 1);
		}
		outcome(&o, "EXCLUSIVE", rc, (const int[]){ -EFAULT, -EBUSY, -ENOENT }, 3);
		unmapper_join(&u, thread);

		/* The CPU takes every surviving page back; then nothing is atomic any more. */
		check_halves(c->mm, buffer, cnt);
		assert_int_equal(hmm_dmirror_cmd(c->fd, UHMM_DMIRROR_CHECK_EXCLUSIVE, buffer, npages), 0);
		free_half_unmapped(buffer);
	}
	report("EXCLUSIVE", &o);
}

/* -------------------------------------------------- anon_teardown_storm */

struct device_op {
	struct uhmm_dmirror *fd;
	unsigned int request;
	struct conf_buffer buffer;	/* own mirror, shared ptr */
	unsigned long npages;
	int base;
	int rounds;
	const int *allowed;
	size_t nallowed;
	/* results */
	struct outcomes o;
	int bad_rc;		/* a return value outside the allowed set, or 0 */
	bool corrupt;		/* a successful command returned wrong data */
	char msg[160];
};

static bool mirror_matches(const struct device_op *op)
{
	const int *p = op->buffer.mirror;
	unsigned long i, n = op->npages * CONF_INTS_PER_PAGE;

	for (i = 0; i < n; i++)
		if (p[i] != conf_pat(i, op->base, 1))
			return false;
	return true;
}

/* Run @rounds commands; record outcomes; no assertion (not the test's thread). */
static void *device_op_main(void *arg)
{
	struct device_op *op = arg;
	int k;

	for (k = 0; k < op->rounds; k++) {
		int rc = hmm_dmirror_cmd(op->fd, op->request, &op->buffer, op->npages);
		size_t i;

		if (rc == 0) {
			op->o.ok++;
			/* MIGRATE_TO_SYS moves what is there and reads nothing back. */
			if (op->request == UHMM_DMIRROR_MIGRATE_TO_SYS) {
				if (op->buffer.cpages > op->npages) {
					op->corrupt = true;
					snprintf(op->msg, sizeof(op->msg), "MIGRATE_TO_SYS: cpages %lu > %lu",
						 op->buffer.cpages, op->npages);
				}
				continue;
			}
			if (op->buffer.cpages != op->npages || !mirror_matches(op)) {
				op->corrupt = true;
				snprintf(op->msg, sizeof(op->msg), "request %u: rc 0, cpages %lu, mirror %s",
					 op->request, op->buffer.cpages, mirror_matches(op) ? "ok" : "wrong");
			}
			continue;
		}
		for (i = 0; i < op->nallowed; i++)
			if (rc == op->allowed[i])
				break;
		if (i == op->nallowed)
			op->bad_rc = rc;
		op->o.err++;
	}
	return NULL;
}

static void device_op_init(struct device_op *op, struct uhmm_dmirror *fd, unsigned int request,
			   const struct conf_buffer *b, unsigned long npages, int base, int rounds, const int *allowed,
			   size_t nallowed)
{
	memset(op, 0, sizeof(*op));
	op->fd = fd;
	op->request = request;
	op->buffer.mm = b->mm;
	op->buffer.ptr = b->ptr;
	op->buffer.size = b->size;
	op->buffer.mirror = malloc(b->size);
	assert_non_null(op->buffer.mirror);
	op->npages = npages;
	op->base = base;
	op->rounds = rounds;
	op->allowed = allowed;
	op->nallowed = nallowed;
}

static void device_op_check(struct device_op *op, const char *what)
{
	if (op->corrupt)
		print_error("%s: %s\n", what, op->msg);
	assert_false(op->corrupt);
	if (op->bad_rc)
		print_error("%s returned %d, which Linux cannot return here\n", what, op->bad_rc);
	assert_int_equal(op->bad_rc, 0);
	free(op->buffer.mirror);
	op->buffer.mirror = NULL;
}

static const int read_errors[] = { -EFAULT };
static const int migrate_errors[] = { -EINVAL, -ENOENT };
static const int migrate_back_errors[] = { -EINVAL };

/*
 * Everything at once on one buffer, NTIMES: device reads through the
 * fixture's file and through a second file of the same device, migrations to
 * the device and back, a CPU reader, and the munmap of the second half.
 */
static void test_anon_teardown_storm(void **state)
{
	struct conf *c = *state;
	unsigned long npages = conf_npages(c), cnt, rnd = 0;
	struct uhmm_dmirror *fd2 = hmm_open(c, c->variant->device_number0, c->mm);
	struct outcomes reads = { 0, 0 }, migs = { 0, 0 }, backs = { 0, 0 };

	for (cnt = 0; cnt < NTIMES; ++cnt) {
		struct conf_buffer *buffer = race_buffer(c, c->mm, npages, cnt);
		struct device_op rd, rd2, mig, back;
		pthread_t t_rd, t_rd2, t_mig, t_back, t_cpu, t_unmap;
		struct cpu_reader r;
		struct unmapper u;

		device_op_init(&rd, c->fd, UHMM_DMIRROR_READ, buffer, npages, (int)cnt, 2, read_errors, 1);
		device_op_init(&rd2, fd2, UHMM_DMIRROR_READ, buffer, npages, (int)cnt, 2, read_errors, 1);
		device_op_init(&mig, fd2, UHMM_DMIRROR_MIGRATE_TO_DEV, buffer, npages, (int)cnt, 1, migrate_errors,
			       2);
		device_op_init(&back, c->fd, UHMM_DMIRROR_MIGRATE_TO_SYS, buffer, npages, (int)cnt, 1,
			       migrate_back_errors, 1);
		memset(&r, 0, sizeof(r));
		r.mm = c->mm;
		r.ptr = buffer->ptr;
		r.nints = buffer->size / sizeof(int);
		r.base = (int)cnt;

		assert_int_equal(pthread_create(&t_rd, NULL, device_op_main, &rd), 0);
		assert_int_equal(pthread_create(&t_mig, NULL, device_op_main, &mig), 0);
		assert_int_equal(pthread_create(&t_cpu, NULL, cpu_reader_main, &r), 0);
		assert_int_equal(pthread_create(&t_rd2, NULL, device_op_main, &rd2), 0);
		assert_int_equal(pthread_create(&t_back, NULL, device_op_main, &back), 0);
		unmapper_start(&u, &t_unmap, c->mm, buffer, &rnd);

		unmapper_join(&u, t_unmap);
		assert_int_equal(pthread_join(t_rd, NULL), 0);
		assert_int_equal(pthread_join(t_rd2, NULL), 0);
		assert_int_equal(pthread_join(t_mig, NULL), 0);
		assert_int_equal(pthread_join(t_back, NULL), 0);
		assert_int_equal(pthread_join(t_cpu, NULL), 0);

		device_op_check(&rd, "READ");
		device_op_check(&rd2, "READ (second file)");
		device_op_check(&mig, "MIGRATE_TO_DEV");
		device_op_check(&back, "MIGRATE_TO_SYS");
		if (r.corrupt)
			print_error("CPU reader: %s\n", r.msg);
		assert_false(r.corrupt);
		assert_true(r.ret == 0 || r.ret == -EFAULT);
		reads.ok += rd.o.ok + rd2.o.ok;
		reads.err += rd.o.err + rd2.o.err;
		migs.ok += mig.o.ok;
		migs.err += mig.o.err;
		backs.ok += back.o.ok;
		backs.err += back.o.err;

		check_device_first_half(c->fd, buffer, npages, cnt);
		check_device_first_half(fd2, buffer, npages, cnt);
		check_halves(c->mm, buffer, cnt);
		free_half_unmapped(buffer);
	}
	uhmm_dmirror_close(fd2);
	report("READ", &reads);
	report("MIGRATE_TO_DEV", &migs);
	report("MIGRATE_TO_SYS", &backs);
}

/* --------------------------------------------------- anon_teardown_exit */

struct exiter {
	struct uhmm_mm *mm;
	unsigned int delay_ns;
};

static void *exit_child(void *arg)
{
	struct exiter *e = arg;

	hmm_nanosleep(e->delay_ns);
	uhmm_mm_put(e->mm);	/* the child exits (SIGKILL) */
	return NULL;
}

/*
 * A forked child opens the device and reads and migrates its copy of the
 * buffer, while it exits (uhmm_mm_put from another thread). The file
 * outlives the address space, as in Linux: its commands then fail as on an
 * empty address space. Allowed: READ 0 / -EFAULT, MIGRATE_TO_DEV 0 / -EINVAL
 * / -ENOENT. The parent's buffer is never affected.
 */
static void test_anon_teardown_exit(void **state)
{
	struct conf *c = *state;
	unsigned long npages = conf_npages(c), cnt, rnd = 0;
	struct outcomes reads = { 0, 0 }, migs = { 0, 0 };

	for (cnt = 0; cnt < NTIMES; ++cnt) {
		struct conf_buffer *buffer = race_buffer(c, c->mm, npages, cnt);
		struct uhmm_dmirror *child_fd;
		struct device_op rd, mig;
		pthread_t t_rd, t_mig, t_exit;
		struct exiter e;
		struct uhmm_mm *child;

		/* Half of the parent's pages are on the device before fork. */
		assert_int_equal(hmm_migrate_sys_to_dev(c->fd, buffer, npages / 2), 0);
		assert_int_equal(buffer->cpages, npages / 2);

		assert_int_equal(uhmm_mm_fork(c->mm, &child), 0);
		child_fd = hmm_open(c, c->variant->device_number0, child);
		buffer->mm = child;
		device_op_init(&rd, child_fd, UHMM_DMIRROR_READ, buffer, npages, (int)cnt, 2, read_errors, 1);
		device_op_init(&mig, child_fd, UHMM_DMIRROR_MIGRATE_TO_DEV, buffer, npages, (int)cnt, 1,
			       migrate_errors, 2);
		buffer->mm = c->mm;
		e.mm = child;
		e.delay_ns = conf_random(&rnd) % 32000;

		assert_int_equal(pthread_create(&t_rd, NULL, device_op_main, &rd), 0);
		assert_int_equal(pthread_create(&t_mig, NULL, device_op_main, &mig), 0);
		assert_int_equal(pthread_create(&t_exit, NULL, exit_child, &e), 0);
		assert_int_equal(pthread_join(t_exit, NULL), 0);
		assert_int_equal(pthread_join(t_rd, NULL), 0);
		assert_int_equal(pthread_join(t_mig, NULL), 0);

		device_op_check(&rd, "child READ");
		device_op_check(&mig, "child MIGRATE_TO_DEV");
		reads.ok += rd.o.ok;
		reads.err += rd.o.err;
		migs.ok += mig.o.ok;
		migs.err += mig.o.err;

		/* After the exit, the child's file sees an empty address space. */
		assert_int_equal(hmm_dmirror_cmd(child_fd, UHMM_DMIRROR_READ, buffer, 1), -EFAULT);
		uhmm_dmirror_close(child_fd);

		/* The parent's data, on the device or in RAM, is intact. */
		assert_int_equal(hmm_dmirror_cmd(c->fd, UHMM_DMIRROR_READ, buffer, npages), 0);
		assert_int_equal(buffer->cpages, npages);
		conf_mem_check(buffer->mirror, 0, buffer->size / sizeof(int), (int)cnt, 1);
		conf_cpu_check(c->mm, buffer->ptr, 0, buffer->size / sizeof(int), (int)cnt, 1);
		hmm_buffer_free(buffer);
	}
	report("child READ", &reads);
	report("child MIGRATE_TO_DEV", &migs);
}

static const struct CMUnitTest tests[] = {
	CONF_HMM_CASE(anon_teardown),
	CONF_HMM_CASE(anon_teardown_migrate),
	CONF_HMM_CASE(anon_teardown_migrate_back),
	CONF_HMM_CASE(anon_teardown_exclusive),
	CONF_HMM_CASE(anon_teardown_storm),
	CONF_HMM_CASE(anon_teardown_exit),
};

int main(int argc, char **argv)
{
	return conf_main("test_conf_teardown", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
