/* SPDX-License-Identifier: MIT */
/* migrate.c - migrate_vma throughput to and from device memory, against memcpy of the same pages.
 *
 * A minimal device written here with the public API: a DEVICE_PRIVATE
 * uhmm_dev_pagemap whose page i is backed by 4 KiB of a host buffer (the
 * "device memory", pre-faulted, reached through zone_device_data), a free
 * ring filled by page_free (first freed, first reused: a device allocator
 * hands back runs in the order they were released, so a sequential range
 * gets ascending device memory as memcpy's buffers are; a LIFO stack would
 * reverse every batch, and the host copy would measure that order instead
 * of uhmm), and a migrate_to_ram that migrates a faulting
 * page back. N pages (64 MiB; 16 MiB with --quick) move in 512-page batches,
 * in sequential and in shuffled batch order, to the device and back, each
 * direction timed separately. Baseline, same run: memcpy of N 4 KiB pages
 * between two pre-faulted buffers in the same batch order, each batch's
 * memcpy run next to its migration. Goal: uhmm throughput >= 0.70 of
 * memcpy's (GB/s from the median batch of each pass). A second table splits
 * a batch's time into its phases (setup = collect and unmap, the driver's
 * allocation and copy, pages, finalize), per page, medians over the timed
 * batches. A third row (issue 9 section 4) migrates the same 512 pages
 * there and back once as one batch and once as 512 one-page migrations:
 * the per-page cost of the batch over that of a single page shows whether
 * the fixed costs (notifier dispatch, VMA lookup, locks) are paid once per
 * batch; goal <= 0.10.
 */
#include <pthread.h>

#include "bench_util.h"

#define BATCH 512UL

/* ------------------------------------------------------------ the device */
static char owner_cookie;	/* pgmap owner: "this driver" */
static bool interleaved;	/* --interleaved: allocate and copy page by page */

static struct {
	struct uhmm_system *sys;
	struct uhmm_dev_pagemap pgmap;
	unsigned char *mem;		/* device memory: nr_pages * 4 KiB, host, pre-faulted */
	pthread_mutex_t lock;		/* protects free_list, free_head and nr_free */
	struct uhmm_page **free_list;	/* a ring of nr_pages slots: freed at the tail, allocated at the head */
	unsigned long nr_pages, free_head, nr_free;
	unsigned long to_ram_faults;	/* migrate_to_ram calls */
	bool skip_copy;			/* allocate destinations but copy nothing (measures uhmm alone) */
} dev;

static void *dev_bytes(struct uhmm_page *dpage)
{
	return uhmm_page_zone_device_data(dpage);
}

static void dev_page_free(struct uhmm_page *page)
{
	pthread_mutex_lock(&dev.lock);
	dev.free_list[(dev.free_head + dev.nr_free++) % dev.nr_pages] = page;
	pthread_mutex_unlock(&dev.lock);
}

/* A free device page, refcount 1 and locked; NULL when device memory is full. */
static struct uhmm_page *dev_alloc_page(void)
{
	struct uhmm_page *p = NULL;

	pthread_mutex_lock(&dev.lock);
	if (dev.nr_free) {
		p = dev.free_list[dev.free_head];
		dev.free_head = (dev.free_head + 1) % dev.nr_pages;
		dev.nr_free--;
	}
	pthread_mutex_unlock(&dev.lock);
	if (p)
		uhmm_zone_device_page_init(p);
	return p;
}

/*
 * Device -> RAM for the collected entries of @args: RAM pages (one
 * uhmm_alloc_pages_bulk for the batch), locked, with the device bytes copied
 * in. Returns the number of pages set up.
 *
 * Two passes, allocate then copy, as a device with a copy engine would:
 * the allocations' atomic RMWs (full barriers on x86) then do not wait for
 * the stores of the copy just before them to drain. A few percent here;
 * bench_migrate --interleaved measures the page-by-page variant.
 */
static unsigned long dev_alloc_and_copy_to_ram(struct uhmm_migrate_vma *args)
{
	struct uhmm_page *rpages[BATCH];
	unsigned long i, n = 0, want = 0;

	for (i = 0; i < args->npages; i++)
		want += uhmm_migrate_pfn_to_page(dev.sys, args->src[i]) && (args->src[i] & UHMM_MIGRATE_PFN_MIGRATE);
	if (want > BATCH || uhmm_alloc_pages_bulk(dev.sys, want, rpages) != want)
		bench_die("RAM exhausted migrating back");
	for (i = 0; i < args->npages; i++) {
		struct uhmm_page *spage = uhmm_migrate_pfn_to_page(dev.sys, args->src[i]), *rpage;

		if (!spage || !(args->src[i] & UHMM_MIGRATE_PFN_MIGRATE))
			continue;
		rpage = rpages[n++];
		uhmm_lock_page(rpage);
		if (interleaved)
			memcpy(uhmm_page_address(rpage), dev_bytes(spage), BENCH_PAGE);
		args->dst[i] = uhmm_migrate_pfn(uhmm_page_to_pfn(rpage)) | UHMM_MIGRATE_PFN_WRITE;
	}
	for (i = 0; i < args->npages && !interleaved && !dev.skip_copy; i++) {
		if (!args->dst[i])
			continue;
		memcpy(uhmm_page_address(uhmm_migrate_pfn_to_page(dev.sys, args->dst[i])),
		       dev_bytes(uhmm_migrate_pfn_to_page(dev.sys, args->src[i])), BENCH_PAGE);
	}
	return n;
}

/* CPU fault on one of our pages: bring that page back (mmap lock held for read). */
static int dev_migrate_to_ram(struct uhmm_vm_fault *vmf)
{
	unsigned long src = 0, dst = 0;
	struct uhmm_migrate_vma args = {
		.vma = vmf->vma,
		.src = &src,
		.dst = &dst,
		.start = vmf->address,
		.end = vmf->address + BENCH_PAGE,
		.pgmap_owner = &owner_cookie,
		.flags = UHMM_MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
		.fault_page = vmf->page,
	};
	int r = uhmm_migrate_vma_setup(&args);

	if (r)
		return r;
	dev.to_ram_faults++;
	dev_alloc_and_copy_to_ram(&args);
	uhmm_migrate_vma_pages(&args);
	uhmm_migrate_vma_finalize(&args);
	return 0;
}

static const struct uhmm_dev_pagemap_ops dev_ops = {
	.page_free = dev_page_free,
	.migrate_to_ram = dev_migrate_to_ram,
};

static void dev_create(struct uhmm_system *sys, unsigned long nr_pages)
{
	unsigned long i;

	dev.sys = sys;
	dev.mem = bench_alloc_touched(nr_pages * BENCH_PAGE);
	dev.free_list = calloc(nr_pages, sizeof(*dev.free_list));
	if (!dev.free_list)
		bench_die("out of memory");
	pthread_mutex_init(&dev.lock, NULL);
	dev.pgmap.type = UHMM_MEMORY_DEVICE_PRIVATE;
	dev.pgmap.ops = &dev_ops;
	dev.pgmap.owner = &owner_cookie;
	dev.pgmap.nr_pages = nr_pages;
	BENCH_CHECK(uhmm_memremap_pages(sys, &dev.pgmap));
	/* the ring starts in ascending pfn order */
	dev.nr_pages = nr_pages;
	for (i = 0; i < nr_pages; i++) {
		struct uhmm_page *p = uhmm_pfn_to_page(sys, dev.pgmap.pfn_first + i);

		if (!p)
			bench_die("device pfn %lu has no page", dev.pgmap.pfn_first + i);
		uhmm_page_set_zone_device_data(p, dev.mem + i * BENCH_PAGE);
		dev.free_list[dev.nr_free++] = p;
	}
}

static void dev_destroy(void)
{
	uhmm_memunmap_pages(&dev.pgmap);
	pthread_mutex_destroy(&dev.lock);
	free(dev.free_list);
	free(dev.mem);
}

/* ------------------------------------------------------- phase timings */
enum { PH_SETUP, PH_DRIVER, PH_PAGES, PH_FINALIZE, NR_PHASES };
static const char *const phase_name[NR_PHASES] = { "setup (collect+unmap)", "driver alloc+copy", "pages",
						   "finalize" };
#define PHASE_SAMPLES 4096

/* With @on, every migration times its phases: one sample per batch, ns per page, by direction (0: to device). */
static struct {
	bool on;
	int n[2];
	double v[2][NR_PHASES][PHASE_SAMPLES];
} phases;

static void phase_record(int dir, const uint64_t *t, unsigned long npages)
{
	int k, i = phases.n[dir];

	if (i >= PHASE_SAMPLES)
		return;
	for (k = 0; k < NR_PHASES; k++)
		phases.v[dir][k][i] = (double)(t[k + 1] - t[k]) / (double)npages;
	phases.n[dir]++;
}

/* Median of the first @n samples (n may exceed BENCH_MAX_ROUNDS). */
static double phase_median(const double *v, int n)
{
	double *tmp = malloc((size_t)(n ? n : 1) * sizeof(*tmp)), m;

	if (!tmp)
		bench_die("out of memory");
	memcpy(tmp, v, (size_t)n * sizeof(*tmp));
	qsort(tmp, (size_t)n, sizeof(*tmp), bench_cmp_double);
	m = n ? (n & 1 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2) : 0;
	free(tmp);
	return m;
}

/* ------------------------------------------------------- migrate batches */
struct batch_ctx {
	struct uhmm_mm *mm;
	unsigned long addr;	/* start of the N-page range */
	unsigned long src[BATCH], dst[BATCH];
};

/* The device's copy engine: RAM page (or none: a hole, zero-filled) -> device page. */
static void copy_to_dev(unsigned long src_mpfn, struct uhmm_page *dpage)
{
	struct uhmm_page *spage = uhmm_migrate_pfn_to_page(dev.sys, src_mpfn);

	if (spage)
		memcpy(dev_bytes(dpage), uhmm_page_address(spage), BENCH_PAGE);
	else
		memset(dev_bytes(dpage), 0, BENCH_PAGE);
}

/* RAM -> device for pages [first, first + npages) of the range (npages <= BATCH). Returns pages moved. */
static unsigned long migrate_to_dev(struct batch_ctx *c, unsigned long first, unsigned long npages)
{
	struct uhmm_migrate_vma args = {
		.src = c->src,
		.dst = c->dst,
		.start = c->addr + first * BENCH_PAGE,
		.end = c->addr + (first + npages) * BENCH_PAGE,
		.pgmap_owner = &owner_cookie,
		.flags = UHMM_MIGRATE_VMA_SELECT_SYSTEM,
	};
	unsigned long i, moved = 0;
	uint64_t t[NR_PHASES + 1];

	t[0] = phases.on ? bench_now_ns() : 0;
	uhmm_mmap_read_lock(c->mm);
	args.vma = uhmm_find_vma(c->mm, args.start);
	if (!args.vma)
		bench_die("no VMA at %#lx", args.start);
	BENCH_CHECK(uhmm_migrate_vma_setup(&args));
	t[1] = phases.on ? bench_now_ns() : 0;
	/* allocate every destination, then copy (see dev_alloc_and_copy_to_ram) */
	for (i = 0; i < args.npages; i++) {
		struct uhmm_page *dpage;

		if (!(args.src[i] & UHMM_MIGRATE_PFN_MIGRATE))
			continue;
		dpage = dev_alloc_page();
		if (!dpage)
			break;	/* device full: the rest stays in RAM */
		args.dst[i] = uhmm_migrate_pfn(uhmm_page_to_pfn(dpage));
		if (args.src[i] & UHMM_MIGRATE_PFN_WRITE)
			args.dst[i] |= UHMM_MIGRATE_PFN_WRITE;
		if (interleaved)
			copy_to_dev(args.src[i], dpage);
	}
	for (i = 0; i < args.npages && !interleaved && !dev.skip_copy; i++)
		if (args.dst[i])
			copy_to_dev(args.src[i], uhmm_migrate_pfn_to_page(dev.sys, args.dst[i]));
	t[2] = phases.on ? bench_now_ns() : 0;
	uhmm_migrate_vma_pages(&args);
	t[3] = phases.on ? bench_now_ns() : 0;
	for (i = 0; i < args.npages; i++)
		moved += (args.src[i] & UHMM_MIGRATE_PFN_MIGRATE) && args.dst[i];
	uhmm_migrate_vma_finalize(&args);
	uhmm_mmap_read_unlock(c->mm);
	if (phases.on) {
		t[4] = bench_now_ns();
		phase_record(0, t, npages);
	}
	return moved;
}

/* Device -> RAM for pages [first, first + npages) (npages <= BATCH). Returns pages moved. */
static unsigned long migrate_to_ram(struct batch_ctx *c, unsigned long first, unsigned long npages)
{
	struct uhmm_migrate_vma args = {
		.src = c->src,
		.dst = c->dst,
		.start = c->addr + first * BENCH_PAGE,
		.end = c->addr + (first + npages) * BENCH_PAGE,
		.pgmap_owner = &owner_cookie,
		.flags = UHMM_MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
	};
	unsigned long i, moved = 0;
	uint64_t t[NR_PHASES + 1];

	t[0] = phases.on ? bench_now_ns() : 0;
	uhmm_mmap_read_lock(c->mm);
	args.vma = uhmm_find_vma(c->mm, args.start);
	if (!args.vma)
		bench_die("no VMA at %#lx", args.start);
	BENCH_CHECK(uhmm_migrate_vma_setup(&args));
	t[1] = phases.on ? bench_now_ns() : 0;
	dev_alloc_and_copy_to_ram(&args);
	t[2] = phases.on ? bench_now_ns() : 0;
	uhmm_migrate_vma_pages(&args);
	t[3] = phases.on ? bench_now_ns() : 0;
	for (i = 0; i < args.npages; i++)
		moved += (args.src[i] & UHMM_MIGRATE_PFN_MIGRATE) && args.dst[i];
	uhmm_migrate_vma_finalize(&args);
	uhmm_mmap_read_unlock(c->mm);
	if (phases.on) {
		t[4] = bench_now_ns();
		phase_record(1, t, npages);
	}
	return moved;
}

static unsigned long migrate_batch_to_dev(struct batch_ctx *c, unsigned long first)
{
	return migrate_to_dev(c, first, BATCH);
}

static unsigned long migrate_batch_to_ram(struct batch_ctx *c, unsigned long first)
{
	return migrate_to_ram(c, first, BATCH);
}

/*
 * Pages [0, BATCH) to the device and back: as one migration each way when
 * @batched, else as BATCH one-page migrations each way. Returns the time.
 */
static double round_trip(struct batch_ctx *c, bool batched)
{
	unsigned long i, moved = 0, step = batched ? BATCH : 1;
	uint64_t t0 = bench_now_ns();

	for (i = 0; i < BATCH; i += step)
		moved += migrate_to_dev(c, i, step);
	for (i = 0; i < BATCH; i += step)
		moved += migrate_to_ram(c, i, step);
	t0 = bench_now_ns() - t0;
	if (moved != 2 * BATCH)
		bench_die("%s round trip moved %lu of %lu pages", batched ? "batched" : "one-page", moved, 2 * BATCH);
	return (double)t0;
}

static double memcpy_batch(unsigned char *to, const unsigned char *from, unsigned long first)
{
	unsigned long i;
	uint64_t t0 = bench_now_ns();

	for (i = 0; i < BATCH; i++)
		memcpy(to + (first + i) * BENCH_PAGE, from + (first + i) * BENCH_PAGE, BENCH_PAGE);
	t0 = bench_now_ns() - t0;
	bench_sink += to[first * BENCH_PAGE];
	return (double)t0;
}

/*
 * One pass over the range in @order, one direction: each batch is migrated
 * and its memcpy twin (same pages, same direction) runs right before or
 * after it; the pass reports the median batch time of each (a batch hit by
 * preemption on this shared machine is an outlier, not the result).
 */
static void time_pass(struct batch_ctx *c, const unsigned long *order, unsigned long nbatches, bool to_dev,
		      unsigned char *a, unsigned char *b, int parity, double *sub, double *base)
{
	double ts[BENCH_MAX_ROUNDS], tb[BENCH_MAX_ROUNDS];
	unsigned long k;

	if (nbatches > BENCH_MAX_ROUNDS)
		bench_die("too many batches");
	for (k = 0; k < nbatches; k++) {
		unsigned long first = order[k] * BATCH, moved;
		int j;

		for (j = 0; j < 2; j++) {
			if ((j == 0) == ((k + (unsigned long)parity) % 2 == 0)) {
				uint64_t t0 = bench_now_ns();

				moved = to_dev ? migrate_batch_to_dev(c, first) : migrate_batch_to_ram(c, first);
				ts[k] = (double)(bench_now_ns() - t0);
				if (moved != BATCH)
					bench_die("migrated %lu of %lu pages %s", moved, BATCH,
						  to_dev ? "to the device" : "to RAM");
			} else {
				tb[k] = to_dev ? memcpy_batch(b, a, first) : memcpy_batch(a, b, first);
			}
		}
	}
	*sub = bench_median(ts, (int)nbatches);
	*base = bench_median(tb, (int)nbatches);
}

/* Write pages [first, first + n) of the range: each holds its index (first word), its complement (last) and a pattern. */
static void fill_range(struct batch_ctx *c, unsigned long first, unsigned long n)
{
	unsigned long i, buf[BENCH_PAGE / sizeof(unsigned long)];

	memset(buf, 0xa5, sizeof(buf));
	for (i = first; i < first + n; i++) {
		buf[0] = i;
		buf[BENCH_PAGE / sizeof(unsigned long) - 1] = ~i;
		BENCH_CHECK(uhmm_cpu_write(c->mm, c->addr + i * BENCH_PAGE, buf, BENCH_PAGE));
	}
}

/* Every page of the range holds its index (first word) and a pattern: check through the CPU. */
static void check_range(struct uhmm_mm *mm, unsigned long addr, unsigned long n, unsigned long step)
{
	unsigned long i, buf[BENCH_PAGE / sizeof(unsigned long)];

	for (i = 0; i < n; i += step) {
		BENCH_CHECK(uhmm_cpu_read(mm, addr + i * BENCH_PAGE, buf, BENCH_PAGE));
		if (buf[0] != i || buf[BENCH_PAGE / sizeof(unsigned long) - 1] != ~i)
			bench_die("page %lu: data lost in migration (%#lx, %#lx)", i, buf[0],
				  buf[BENCH_PAGE / sizeof(unsigned long) - 1]);
	}
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	struct uhmm_system_opts so = { 0 };
	struct uhmm_system *sys;
	struct batch_ctx *c;
	unsigned long n, nbatches, i, *seq, *shuf;
	unsigned char *a, *b;
	uint64_t seed = 0x2545f4914f6cdd1dULL;
	/* [order][direction] per round: subject and baseline times */
	double ts[2][2][BENCH_MAX_ROUNDS], tb[2][2][BENCH_MAX_ROUNDS];
	/* batching: [0 with copies, 1 without] per round */
	double tbatch[2][BENCH_MAX_ROUNDS], tsingle[2][BENCH_MAX_ROUNDS];
	int r, ord, dir, k;

	for (r = 1; r < argc; r++)
		if (!strcmp(argv[r], "--interleaved")) {
			interleaved = true;
			memmove(&argv[r], &argv[r + 1], (size_t)(argc - r) * sizeof(*argv));
			argc--;
			break;
		}
	bench_parse_args(argc, argv, &o, "migrate",
			 "  --interleaved  the device allocates and copies page by page (default: all\n"
			 "                 allocations of a batch first, then all copies)\n");
	n = o.quick ? 4096 : 16384;
	nbatches = n / BATCH;
	/* RAM for the range plus a margin; all of it touched once below */
	so.ram_bytes = (2 * n + 1024) * BENCH_PAGE;
	BENCH_CHECK(uhmm_system_create(&so, &sys));
	bench_header(&o, "migrate_vma of N pages in 512-page batches, RAM <-> device-private, vs memcpy");
	printf("  N=%lu pages (%lu MiB), %lu batches; shuffled order seed %#llx; device %s\n", n,
	       n * BENCH_PAGE >> 20, nbatches, (unsigned long long)seed,
	       interleaved ? "allocates and copies page by page" : "allocates a batch, then copies it");
	bench_prefault_ram(sys);
	dev_create(sys, n);

	c = calloc(1, sizeof(*c));
	if (!c)
		bench_die("out of memory");
	BENCH_CHECK(uhmm_mm_create(sys, &c->mm));
	BENCH_CHECK(uhmm_mmap(c->mm, 0, n * BENCH_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, &c->addr));
	fill_range(c, 0, n);
	a = bench_alloc_touched(n * BENCH_PAGE);
	b = bench_alloc_touched(n * BENCH_PAGE);
	seq = malloc(nbatches * sizeof(*seq));
	shuf = malloc(nbatches * sizeof(*shuf));
	if (!seq || !shuf)
		bench_die("out of memory");
	for (i = 0; i < nbatches; i++)
		seq[i] = shuf[i] = i;
	bench_shuffle_ul(shuf, nbatches, &seed);

	/* Correctness, untimed: everything to the device, one page back by a CPU
	 * fault (migrate_to_ram), the rest back by migration; data intact. */
	for (i = 0; i < nbatches; i++)
		if (migrate_batch_to_dev(c, i * BATCH) != BATCH)
			bench_die("batch %lu did not migrate to the device", i);
	{
		unsigned long counts[6];

		BENCH_CHECK(uhmm_mm_count_ptes(c->mm, c->addr, c->addr + n * BENCH_PAGE, counts));
		if (counts[UHMM_PTE_DEVICE_PRIVATE] != n)
			bench_die("%lu of %lu pages device-private after migration", counts[UHMM_PTE_DEVICE_PRIVATE], n);
	}
	check_range(c->mm, c->addr, 1, 1);	/* faults page 0 back to RAM */
	if (dev.to_ram_faults != 1)
		bench_die("expected one migrate_to_ram, got %lu", dev.to_ram_faults);
	{
		unsigned long moved = 0, bt;

		for (bt = 0; bt < nbatches; bt++)
			moved += migrate_batch_to_ram(c, bt * BATCH);
		if (moved != n - 1)
			bench_die("moved %lu pages back, expected %lu", moved, n - 1);
	}
	check_range(c->mm, c->addr, n, 1);
	if (dev.nr_free != n)
		bench_die("device has %lu of %lu pages free after the round trip", dev.nr_free, n);

	phases.on = true;
	for (r = 0; r < o.rounds; r++) {
		for (ord = 0; ord < 2; ord++) {
			const unsigned long *order = ord ? shuf : seq;

			/* the whole range to the device, then back; batch times, medians */
			for (dir = 0; dir < 2; dir++)
				time_pass(c, order, nbatches, dir == 0, a, b, r + ord, &ts[ord][dir][r], &tb[ord][dir][r]);
		}
	}
	phases.on = false;
	check_range(c->mm, c->addr, n, 257);

	/*
	 * Batching: the same 512 pages, one batch vs 512 single pages,
	 * alternating which goes first; then the same with a driver that
	 * allocates but does not copy (uhmm's own part; the bytes are
	 * rewritten afterwards).
	 */
	for (k = 0; k < 2; k++) {
		dev.skip_copy = k;
		for (r = 0; r < o.rounds; r++) {
			if (r & 1) {
				tsingle[k][r] = round_trip(c, false);
				tbatch[k][r] = round_trip(c, true);
			} else {
				tbatch[k][r] = round_trip(c, true);
				tsingle[k][r] = round_trip(c, false);
			}
		}
	}
	dev.skip_copy = false;
	fill_range(c, 0, BATCH);
	check_range(c->mm, c->addr, BATCH, 1);

	bench_table_begin("migrate: GB/s (ratio = uhmm throughput / memcpy throughput)");
	for (ord = 0; ord < 2; ord++) {
		for (dir = 0; dir < 2; dir++) {
			double bytes = (double)BATCH * BENCH_PAGE, gs, gb, ratio;
			char subject[48];

			gs = bytes / bench_median(ts[ord][dir], o.rounds);	/* bytes per ns = GB/s */
			gb = bytes / bench_median(tb[ord][dir], o.rounds);
			ratio = bench_median_ratio(tb[ord][dir], ts[ord][dir], o.rounds);
			snprintf(subject, sizeof(subject), "migrate %s, %s", dir == 0 ? "to device" : "to RAM",
				 ord == 0 ? "sequential" : "shuffled");
			bench_row(&o, subject, "512-pg batches", gs, gb, "GB/s", ratio, ">= 0.70x",
				  ratio >= 0.70 ? BENCH_PASS : BENCH_MISS);
		}
	}

	bench_table_begin("migrate: per-page cost of each phase, ns/page (median over the timed 512-page batches)");
	for (dir = 0; dir < 2; dir++) {
		for (int k = 0; k < NR_PHASES; k++) {
			char subject[64];

			snprintf(subject, sizeof(subject), "%s: %s", dir == 0 ? "to device" : "to RAM", phase_name[k]);
			bench_row(&o, subject, "512-pg batches", phase_median(phases.v[dir][k], phases.n[dir]), 0, "ns/pg",
				  0, NULL, BENCH_NOGOAL);
		}
	}

	bench_table_begin("migrate: batching (ratio = per-page cost of one 512-page batch / of 512 one-page "
			  "migrations)");
	{
		double ratio = bench_median_ratio(tbatch[0], tsingle[0], o.rounds);

		bench_row(&o, "512 pages there and back", "1x512 vs 512x1", bench_median(tbatch[0], o.rounds) / (2 * BATCH),
			  bench_median(tsingle[0], o.rounds) / (2 * BATCH), "ns/pg", ratio, "<= 0.10x",
			  ratio <= 0.10 ? BENCH_PASS : BENCH_MISS);
		ratio = bench_median_ratio(tbatch[1], tsingle[1], o.rounds);
		bench_row(&o, "  driver allocates, no copy", "1x512 vs 512x1",
			  bench_median(tbatch[1], o.rounds) / (2 * BATCH), bench_median(tsingle[1], o.rounds) / (2 * BATCH),
			  "ns/pg", ratio, NULL, BENCH_NOGOAL);
	}

	BENCH_CHECK(uhmm_munmap(c->mm, c->addr, n * BENCH_PAGE));
	uhmm_mm_put(c->mm);
	dev_destroy();
	uhmm_system_destroy(sys);
	free(c);
	free(a);
	free(b);
	free(seq);
	free(shuf);
	return 0;
}
