/* SPDX-License-Identifier: MIT */
/* fuzz/fuzz_uhmm.c - libFuzzer target: uhmm against a deliberately simple reference model.
 *
 * The input is a sequence of operations on a small arena: up to NMM address
 * spaces, two dmirror devices (device 0 private; device 1 private or, with
 * bit 0 of the first input byte, coherent; with bit 1, every address space
 * has a second file of each device, and bit 4 of an operation's d byte picks
 * it: sibling files skip the same MIGRATE events), and a window of WIN pages at
 * BASE in every address space, split in NSLOT slots of SLOT_PAGES pages that
 * mappings of up to 16 pages are made in (ranges may straddle slots and hit
 * the gaps between mappings: that is where the error paths are).
 *
 * Every operation runs on uhmm and on the model, which knows nothing of page
 * tables, devices or migration: for each address space and each page of the
 * window, a permission (unmapped, PROT_NONE, R, RW), whether it is shared,
 * and its bytes (private pages own theirs, copied on fork; shared pages point
 * at a shmem object's page). Device operations do not change data except
 * WRITE. The model predicts the result of every call (0 or which errno) and
 * every byte read back; any difference aborts with the decoded trace of the
 * operations so far on stderr.
 *
 * After every operation the page tables of the address spaces touched are
 * checked through the public inspection API (uhmm_mm_query_pte): entries only
 * where the model has a mapping, writable only where it allows writing,
 * mapped pages referenced, zero page only for zero private data, device
 * pages only on anonymous memory, no migration entry left behind, and the
 * bytes of every CPU-addressable page (RAM, zero page, device-coherent,
 * device-exclusive) equal to the model's. At the end every address space
 * exits, the devices are destroyed, and every RAM and device frame must be
 * free again.
 *
 * Where the model cannot know the answer, the accepted set is stated at the
 * operation (MIGRATE_TO_DEV's 0 vs -ENOENT depends on what the device page
 * table holds; mremap's -EFAULT for a range spanning two VMAs is decided
 * from uhmm's own VMA layout, which is checked against the model first).
 *
 * Build: fuzz/CMakeLists.txt (clang -fsanitize=fuzzer,address,undefined).
 * Without libFuzzer (-DUHMM_FUZZ_STANDALONE) a main() replays files and
 * directories given as arguments; UHMM_FUZZ_VERBOSE=1 prints the trace of
 * every input. Input format: byte 0 = configuration, then OP_BYTES bytes per
 * operation (opcode, then arguments a..e); see decode() and the op table.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <uhmm/dmirror.h>
#include <uhmm/uhmm.h>

#define PG UHMM_PAGE_SIZE
#define NMM 4
#define NSLOT 4
#define SLOT_PAGES 32
#define WIN (NSLOT * SLOT_PAGES)
#define MAXN 16
#define NDEV 2
#define BASE 0x40000000UL
#define MAX_OPS 256
#define OP_BYTES 6
#define NOBJ (MAX_OPS + 8)
#define NPIN 8
#define TRACE_LEN 224

/* ------------------------------------------------------------------ model */

struct mobj {				/* a shmem object: its pages' bytes */
	unsigned char **pg;		/* NULL entry: zero */
	unsigned long size;		/* pages, as the object's nr_pages */
	unsigned long cap;
};

struct mpage {
	signed char prot;		/* -1 unmapped, else PROT_NONE / PROT_READ / PROT_READ|PROT_WRITE */
	bool shared;
	unsigned short obj;		/* shared: object and page index */
	unsigned long idx;
	unsigned char *data;		/* private: bytes, NULL = zero */
};

struct mmodel {
	bool live;
	struct mpage pg[WIN];
};

/* ------------------------------------------------------------ uhmm side */

struct fnot {				/* the fuzzer's own interval notifier on an mm */
	struct uhmm_mmu_interval_notifier n;
	int mi;
	bool inserted;
	unsigned long start, end;
	unsigned long count;
};

struct fmm {
	struct uhmm_mm *mm;
	struct uhmm_dmirror *file[NDEV];
	struct uhmm_dmirror *sib[NDEV];	/* second files (configuration bit 1) */
	struct fnot nt;
};

struct pin {
	struct uhmm_page *pages[MAXN];
	unsigned long n;
};

static struct state {
	struct uhmm_system *sys;
	struct uhmm_dmirror_device *dev[NDEV];
	bool coherent1;
	bool siblings;			/* configuration bit 1 */
	bool cur_sib;			/* the current operation uses the second files */
	struct mmodel m[NMM];
	struct fmm u[NMM];
	struct mobj obj[NOBJ];
	int nobj;
	struct pin pins[NPIN];
	int npins;
	char trace[MAX_OPS + 16][TRACE_LEN];
	int ntrace;
	bool verbose;
} S;

static const unsigned char zero_page[PG];

/* ------------------------------------------------------------ reporting */

static void print_trace(void)
{
	int i;

	fprintf(stderr, "---- uhmm fuzz trace (config: device 1 %s%s) ----\n", S.coherent1 ? "coherent" : "private",
		S.siblings ? ", two files per device" : "");
	for (i = 0; i < S.ntrace; i++)
		fprintf(stderr, "%s\n", S.trace[i]);
	fprintf(stderr, "---- end of trace ----\n");
}

__attribute__((format(printf, 1, 2), noreturn)) static void fail(const char *fmt, ...)
{
	va_list ap;

	print_trace();
	fprintf(stderr, "uhmm fuzz: MISMATCH: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	fflush(stderr);
	abort();
}

/* Start a trace line; tracef appends to it. */
__attribute__((format(printf, 1, 2))) static void trace_new(const char *fmt, ...)
{
	va_list ap;
	char *t;

	if (S.ntrace >= (int)(sizeof(S.trace) / sizeof(S.trace[0])))
		return;
	t = S.trace[S.ntrace++];
	va_start(ap, fmt);
	vsnprintf(t, TRACE_LEN, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 1, 2))) static void tracef(const char *fmt, ...)
{
	va_list ap;
	char *t;
	size_t l;

	if (!S.ntrace)
		return;
	t = S.trace[S.ntrace - 1];
	l = strlen(t);
	if (l >= TRACE_LEN - 1)
		return;
	va_start(ap, fmt);
	vsnprintf(t + l, TRACE_LEN - l, fmt, ap);
	va_end(ap);
}

static const char *ename(int r)
{
	static char buf[32];

	switch (r) {
	case 0: return "0";
	case -EINVAL: return "-EINVAL";
	case -EFAULT: return "-EFAULT";
	case -ENOMEM: return "-ENOMEM";
	case -EPERM: return "-EPERM";
	case -ENOENT: return "-ENOENT";
	case -EBUSY: return "-EBUSY";
	case -EEXIST: return "-EEXIST";
	case -EOVERFLOW: return "-EOVERFLOW";
	default:
		snprintf(buf, sizeof(buf), "%d", r);
		return buf;
	}
}

static const char *pname(int prot)
{
	switch (prot) {
	case -1: return "unmapped";
	case PROT_NONE: return "NONE";
	case PROT_READ: return "R";
	case PROT_READ | PROT_WRITE: return "RW";
	default: return "?";
	}
}

/* Result must be @want. */
static void expect(const char *what, int got, int want)
{
	tracef(" -> %s", ename(got));
	if (got != want)
		fail("%s returned %s, the model expects %s", what, ename(got), ename(want));
}

/* Result must be one of two. */
static void expect2(const char *what, int got, int a, int b)
{
	tracef(" -> %s", ename(got));
	if (got != a && got != b)
		fail("%s returned %s, the model expects %s or %s", what, ename(got), ename(a), ename(b));
}

/* ---------------------------------------------------------- model pages */

static unsigned long A(int p)
{
	return BASE + (unsigned long)p * PG;
}

static unsigned char *obj_page(struct mobj *o, unsigned long idx, bool alloc)
{
	if (idx >= o->cap) {
		unsigned long ncap = o->cap ? o->cap : 16;
		unsigned char **n;

		if (!alloc)
			return NULL;
		while (ncap <= idx)
			ncap *= 2;
		n = realloc(o->pg, ncap * sizeof(*n));
		if (!n)
			abort();
		memset(n + o->cap, 0, (ncap - o->cap) * sizeof(*n));
		o->pg = n;
		o->cap = ncap;
	}
	if (!o->pg[idx] && alloc) {
		o->pg[idx] = calloc(1, PG);
		if (!o->pg[idx])
			abort();
	}
	return o->pg[idx];
}

/* The model's bytes of page @p of mm @mi. */
static const unsigned char *mbytes(int mi, int p)
{
	struct mpage *mp = &S.m[mi].pg[p];
	const unsigned char *b;

	if (mp->shared)
		b = obj_page(&S.obj[mp->obj], mp->idx, false);
	else
		b = mp->data;
	return b ? b : zero_page;
}

static unsigned char *mbytes_w(int mi, int p)
{
	struct mpage *mp = &S.m[mi].pg[p];

	if (mp->shared)
		return obj_page(&S.obj[mp->obj], mp->idx, true);
	if (!mp->data) {
		mp->data = calloc(1, PG);
		if (!mp->data)
			abort();
	}
	return mp->data;
}

static void mpage_unmap(int mi, int p)
{
	struct mpage *mp = &S.m[mi].pg[p];

	free(mp->data);
	memset(mp, 0, sizeof(*mp));
	mp->prot = -1;
}

static int obj_new(unsigned long size)
{
	struct mobj *o;

	if (S.nobj >= NOBJ)
		abort();	/* cannot happen: one object per operation at most */
	o = &S.obj[S.nobj];
	memset(o, 0, sizeof(*o));
	o->size = size;
	return S.nobj++;
}

static void model_reset(void)
{
	int i, p;

	for (i = 0; i < NMM; i++) {
		for (p = 0; p < WIN; p++)
			free(S.m[i].pg[p].data);
		memset(&S.m[i], 0, sizeof(S.m[i]));
		for (p = 0; p < WIN; p++)
			S.m[i].pg[p].prot = -1;
	}
	for (i = 0; i < S.nobj; i++) {
		unsigned long k;

		for (k = 0; k < S.obj[i].cap; k++)
			free(S.obj[i].pg[k]);
		free(S.obj[i].pg);
	}
	S.nobj = 0;
}

static unsigned char pattern(unsigned long addr, unsigned seed)
{
	uint32_t z = (uint32_t)(addr * 2654435761u) ^ (seed * 0x9e3779b9u);

	z ^= z >> 15;
	z *= 0x85ebca6bu;
	z ^= z >> 13;
	return (unsigned char)z;
}

/* --------------------------------------------------------- uhmm helpers */

static void *dev_owner(int d)
{
	return uhmm_dmirror_device_owner(S.dev[d]);
}

/* Which device owns @page, -1 if it is not a device page of ours. */
static int page_dev(struct uhmm_page *page)
{
	struct uhmm_dev_pagemap *pg;
	int d;

	if (!page || !uhmm_is_zone_device_page(page))
		return -1;
	pg = uhmm_page_pgmap(page);
	for (d = 0; d < NDEV; d++)
		if (pg && pg->owner == dev_owner(d))
			return d;
	return -1;
}

static const char *kname(enum uhmm_pte_kind k)
{
	static const char *n[] = { "NONE", "PRESENT", "ZERO", "DEVICE_PRIVATE", "DEVICE_EXCLUSIVE", "MIGRATION" };

	return (unsigned)k < 6 ? n[k] : "?";
}

static void query(int mi, int p, struct uhmm_pte_info *info)
{
	int r = uhmm_mm_query_pte(S.u[mi].mm, A(p), info);

	if (r)
		fail("uhmm_mm_query_pte(mm%d, page %d) = %s", mi, p, ename(r));
}

/*
 * Check one page of mm @mi against the model: the page-table entry is
 * possible for the model's mapping and, with @data, a CPU-addressable page
 * holds the model's bytes. Returns true if the bytes could be compared.
 */
static bool check_page(int mi, int p, bool data, const char *when)
{
	struct mpage *mp = &S.m[mi].pg[p];
	struct uhmm_pte_info in;
	struct uhmm_page *page = NULL;
	const unsigned char *bytes = NULL;

	query(mi, p, &in);
	if (in.kind != UHMM_PTE_NONE)
		page = uhmm_pfn_to_page(S.sys, in.pfn);
	if (mp->prot < 0) {
		if (in.kind != UHMM_PTE_NONE)
			fail("%s: mm%d page %d is unmapped in the model but its PTE is %s", when, mi, p, kname(in.kind));
		return true;
	}
	if (in.write && !(mp->prot & PROT_WRITE))
		fail("%s: mm%d page %d: %s PTE is writable, the mapping is %s", when, mi, p, kname(in.kind),
		     pname(mp->prot));
	switch (in.kind) {
	case UHMM_PTE_NONE:
		return false;
	case UHMM_PTE_ZERO:
		if (mp->shared)
			fail("%s: mm%d page %d: zero page mapped in a shared mapping", when, mi, p);
		if (in.write)
			fail("%s: mm%d page %d: writable zero page", when, mi, p);
		bytes = zero_page;
		break;
	case UHMM_PTE_PRESENT:
		if (!page)
			fail("%s: mm%d page %d: present PTE with no page (pfn %#lx)", when, mi, p, in.pfn);
		if (in.refcount <= 0 || in.mapcount <= 0 || in.refcount < in.mapcount)
			fail("%s: mm%d page %d: mapped page with refcount %d mapcount %d", when, mi, p, in.refcount,
			     in.mapcount);
		if (uhmm_is_zone_device_page(page)) {
			int d = page_dev(page);

			if (d < 0 || !uhmm_is_device_coherent_page(page) || (d == 1 && !S.coherent1) || d == 0)
				fail("%s: mm%d page %d: present PTE maps a device page that is not coherent", when, mi,
				     p);
			if (mp->shared)
				fail("%s: mm%d page %d: device page in a shared mapping", when, mi, p);
		}
		bytes = uhmm_page_address(page);
		break;
	case UHMM_PTE_DEVICE_PRIVATE:
		if (!page || !uhmm_is_device_private_page(page) || page_dev(page) < 0 ||
		    (page_dev(page) == 1 && S.coherent1))
			fail("%s: mm%d page %d: device-private entry without a private device page of ours", when, mi,
			     p);
		if (mp->shared)
			fail("%s: mm%d page %d: device-private entry in a shared mapping", when, mi, p);
		if (in.refcount <= 0 || in.mapcount <= 0 || in.refcount < in.mapcount)
			fail("%s: mm%d page %d: device-private page with refcount %d mapcount %d", when, mi, p,
			     in.refcount, in.mapcount);
		return false;	/* bytes are the driver's */
	case UHMM_PTE_DEVICE_EXCLUSIVE:
		if (!page || uhmm_is_zone_device_page(page) || uhmm_is_zero_page(page))
			fail("%s: mm%d page %d: device-exclusive entry on a non-RAM page", when, mi, p);
		if (mp->shared)
			fail("%s: mm%d page %d: device-exclusive entry in a shared mapping", when, mi, p);
		if (in.refcount <= 0)
			fail("%s: mm%d page %d: device-exclusive page with refcount %d", when, mi, p, in.refcount);
		bytes = uhmm_page_address(page);
		break;
	case UHMM_PTE_MIGRATION:
	default:
		fail("%s: mm%d page %d: %s entry left behind", when, mi, p, kname(in.kind));
	}
	if (!bytes)
		fail("%s: mm%d page %d: %s page has no address", when, mi, p, kname(in.kind));
	if (!data)
		return false;
	if (memcmp(bytes, mbytes(mi, p), PG)) {
		size_t i;

		for (i = 0; i < PG && bytes[i] == mbytes(mi, p)[i]; i++)
			;
		fail("%s: mm%d page %d (%s PTE, %s %s): byte %zu is %#x, the model has %#x", when, mi, p,
		     kname(in.kind), mp->shared ? "shared" : "private", pname(mp->prot), i, bytes[i],
		     mbytes(mi, p)[i]);
	}
	return true;
}

/* Structure of every page of @mi; bytes of pages [lo, hi). */
static void check_mm_range(int mi, int lo, int hi, const char *when)
{
	unsigned long counts[6], total = 0;
	int p, k, r;

	if (!S.m[mi].live)
		return;
	for (p = 0; p < WIN; p++)
		check_page(mi, p, p >= lo && p < hi, when);
	r = uhmm_mm_count_ptes(S.u[mi].mm, A(0), A(WIN), counts);
	if (r)
		fail("%s: uhmm_mm_count_ptes(mm%d) = %s", when, mi, ename(r));
	for (k = 0; k < 6; k++)
		total += counts[k];
	if (total != WIN || counts[UHMM_PTE_MIGRATION])
		fail("%s: uhmm_mm_count_ptes(mm%d): %lu entries, %lu migration", when, mi, total,
		     counts[UHMM_PTE_MIGRATION]);
}

static void check_mm(int mi, const char *when)
{
	check_mm_range(mi, 0, WIN, when);
}

static void check_all(const char *when)
{
	struct uhmm_system_stats st;
	int i;

	for (i = 0; i < NMM; i++)
		check_mm(i, when);
	if (uhmm_system_get_stats(S.sys, &st) || st.used_pages > st.ram_pages || st.used_pages < 1 ||
	    st.device_pages_used > st.device_pages)
		fail("%s: inconsistent system stats", when);
}

/* The bytes of a mapped, readable page: from the CPU-addressable page if
 * there is one, else through a CPU read (which may migrate it back: the
 * model does not care where a page lives). */
static void peek_page(int mi, int p, unsigned char *buf)
{
	struct uhmm_pte_info in;
	struct uhmm_page *page;
	int r;

	query(mi, p, &in);
	if (in.kind == UHMM_PTE_PRESENT || in.kind == UHMM_PTE_ZERO || in.kind == UHMM_PTE_DEVICE_EXCLUSIVE) {
		page = uhmm_pfn_to_page(S.sys, in.pfn);
		if (page && uhmm_page_address(page)) {
			memcpy(buf, uhmm_page_address(page), PG);
			return;
		}
	}
	r = uhmm_cpu_read(S.u[mi].mm, A(p), buf, PG);
	if (r)
		fail("peek: uhmm_cpu_read(mm%d, page %d) = %s on a readable page", mi, p, ename(r));
}

/* ------------------------------------------------------------- notifier */

static bool fnot_invalidate(struct uhmm_mmu_interval_notifier *sub, const struct uhmm_mmu_notifier_range *range,
			    unsigned long cur_seq)
{
	struct fnot *f = (struct fnot *)((char *)sub - offsetof(struct fnot, n));

	if (range->start >= range->end || range->end <= f->start || range->start >= f->end)
		fail("notifier of mm%d [%#lx, %#lx) called for [%#lx, %#lx)", f->mi, f->start, f->end, range->start,
		     range->end);
	if ((unsigned)range->event >= UHMM_MMU_NOTIFY_NR_EVENTS)
		fail("notifier of mm%d: event %d", f->mi, (int)range->event);
	if (range->event == UHMM_MMU_NOTIFY_MIGRATE) {
		if (range->owner != dev_owner(0) && range->owner != dev_owner(1))
			fail("notifier of mm%d: MIGRATE with owner %p, not a device's", f->mi, range->owner);
	} else if (range->owner) {
		fail("notifier of mm%d: %s with owner %p", f->mi, uhmm_mmu_notifier_event_name(range->event),
		     range->owner);
	}
	uhmm_mmu_interval_set_seq(sub, cur_seq);
	f->count++;
	return true;
}

static const struct uhmm_mmu_interval_notifier_ops fnot_ops = { fnot_invalidate };

/* Whether the fuzzer's notifier of @mi overlaps pages [p0, p0+n) with any mapped page. */
static bool fnot_covers_mapped(int mi, int p0, int n)
{
	struct fnot *f = &S.u[mi].nt;
	int p;

	if (!f->inserted)
		return false;
	for (p = p0; p < p0 + n; p++)
		if (S.m[mi].pg[p].prot >= 0 && A(p) < f->end && A(p) + PG > f->start)
			return true;
	return false;
}

static void fnot_expect(int mi, unsigned long before, bool must, const char *what)
{
	if (must && S.u[mi].nt.count == before)
		fail("%s: the interval notifier of mm%d over [%#lx, %#lx) was not called", what, mi, S.u[mi].nt.start,
		     S.u[mi].nt.end);
}

/* ------------------------------------------------------------ operations */

enum op {
	OP_NEWMM, OP_FORK, OP_EXIT, OP_MMAP, OP_MUNMAP, OP_MPROTECT, OP_MADVISE, OP_MREMAP, OP_CPU_READ,
	OP_CPU_WRITE, OP_DEV_READ, OP_DEV_WRITE, OP_MIGRATE_TO_DEV, OP_MIGRATE_TO_SYS, OP_SNAPSHOT, OP_EXCLUSIVE,
	OP_CHECK_EXCLUSIVE, OP_RELEASE, OP_FAIL_ALLOC, OP_PIN, OP_UNPIN, OP_NOTIFIER, OP_RANGE_FAULT,
	OP_SOFT_DIRTY, OP_CHECK, OP_BADCALL, NR_OPS
};

static const char *const op_names[NR_OPS] = {
	"NEWMM", "FORK", "EXIT", "MMAP", "MUNMAP", "MPROTECT", "MADVISE", "MREMAP", "CPU_READ", "CPU_WRITE",
	"DEV_READ", "DEV_WRITE", "MIGRATE_TO_DEV", "MIGRATE_TO_SYS", "SNAPSHOT", "EXCLUSIVE", "CHECK_EXCLUSIVE",
	"RELEASE", "FAIL_ALLOC", "PIN", "UNPIN", "NOTIFIER", "RANGE_FAULT", "SOFT_DIRTY", "CHECK", "BADCALL",
};

struct args {
	int op;
	unsigned char a, b, c, d, e;
	int mi;			/* a live mm chosen by a, -1 if none */
	int p0, n;		/* page range: b, c */
	int dev;		/* d & 1 */
	int prot;		/* (d >> 1) % 3 */
	bool shared;		/* d & 8 */
};

static int prot_of(unsigned v)
{
	static const int prots[3] = { PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE };

	return prots[v % 3];
}

/* The @k-th live mm (mod their number), -1 if none. */
static int pick_mm(unsigned k)
{
	int live[NMM], n = 0, i;

	for (i = 0; i < NMM; i++)
		if (S.m[i].live)
			live[n++] = i;
	return n ? live[k % n] : -1;
}

static int free_mm_slot(void)
{
	int i;

	for (i = 0; i < NMM; i++)
		if (!S.m[i].live && !S.u[i].mm)
			return i;
	return -1;
}

/* Open both devices' files on mm @mi. */
static void open_files(int mi)
{
	int d, r;

	for (d = 0; d < NDEV; d++) {
		r = uhmm_dmirror_open(S.dev[d], S.u[mi].mm, &S.u[mi].file[d]);
		if (r)
			fail("uhmm_dmirror_open(dev%d, mm%d) = %s", d, mi, ename(r));
		if (S.siblings && (r = uhmm_dmirror_open(S.dev[d], S.u[mi].mm, &S.u[mi].sib[d])))
			fail("uhmm_dmirror_open(dev%d, mm%d) = %s", d, mi, ename(r));
	}
}

static void op_newmm(struct args *g)
{
	int mi = free_mm_slot(), r;

	(void)g;
	if (mi < 0) {
		tracef(" (no free slot)");
		return;
	}
	tracef(" mm%d", mi);
	r = uhmm_mm_create(S.sys, &S.u[mi].mm);
	expect("uhmm_mm_create", r, 0);
	S.m[mi].live = true;
	open_files(mi);
}

static void op_fork(struct args *g)
{
	int ci = free_mm_slot(), pi = g->mi, p, r;

	if (ci < 0) {
		tracef(" mm%d (no free slot)", pi);
		return;
	}
	tracef(" mm%d -> mm%d", pi, ci);
	r = uhmm_mm_fork(S.u[pi].mm, &S.u[ci].mm);
	expect("uhmm_mm_fork", r, 0);
	S.m[ci].live = true;
	for (p = 0; p < WIN; p++) {
		struct mpage *src = &S.m[pi].pg[p], *dst = &S.m[ci].pg[p];

		*dst = *src;
		if (!src->shared && src->data) {
			dst->data = malloc(PG);
			if (!dst->data)
				abort();
			memcpy(dst->data, src->data, PG);
		}
	}
	open_files(ci);
	check_mm(pi, "after fork (parent)");
	check_mm(ci, "after fork (child)");
}

static void unpin_one(int i)
{
	uhmm_unpin_user_pages(S.pins[i].pages, S.pins[i].n);
	memmove(&S.pins[i], &S.pins[i + 1], (size_t)(S.npins - i - 1) * sizeof(S.pins[0]));
	S.npins--;
}

static void unpin_all(void)
{
	while (S.npins)
		unpin_one(0);
}

/* Exit: the last put, files closed before or after, the notifier removed after. */
static void mm_exit(int mi, bool close_first)
{
	int d, p;

	if (close_first)
		for (d = 0; d < NDEV; d++) {
			uhmm_dmirror_close(S.u[mi].file[d]);
			uhmm_dmirror_close(S.u[mi].sib[d]);
			S.u[mi].file[d] = S.u[mi].sib[d] = NULL;
		}
	uhmm_mm_put(S.u[mi].mm);
	if (!close_first)
		for (d = 0; d < NDEV; d++) {
			uhmm_dmirror_close(S.u[mi].file[d]);
			uhmm_dmirror_close(S.u[mi].sib[d]);
			S.u[mi].file[d] = S.u[mi].sib[d] = NULL;
		}
	if (S.u[mi].nt.inserted) {
		uhmm_mmu_interval_notifier_remove(&S.u[mi].nt.n);
		S.u[mi].nt.inserted = false;
	}
	S.u[mi].mm = NULL;
	S.m[mi].live = false;
	for (p = 0; p < WIN; p++)
		mpage_unmap(mi, p);
}

static void op_exit(struct args *g)
{
	bool close_first = g->d & 1;

	tracef(" mm%d (files closed %s)", g->mi, close_first ? "first" : "after");
	mm_exit(g->mi, close_first);
}

static void op_mmap(struct args *g)
{
	int mi = g->mi, slot = g->b % NSLOT, p0 = slot * SLOT_PAGES + (g->b / NSLOT) % 16, n = 1 + g->c % MAXN;
	bool noreplace = g->e & 1;
	int flags = (g->shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS | (noreplace ? MAP_FIXED_NOREPLACE : MAP_FIXED);
	unsigned long out = 0;
	int want = 0, p, r, obj = -1;

	tracef(" mm%d pages [%d,+%d) %s %s%s", mi, p0, n, pname(g->prot), g->shared ? "shared" : "private",
	       noreplace ? " NOREPLACE" : "");
	if (noreplace)
		for (p = p0; p < p0 + n; p++)
			if (S.m[mi].pg[p].prot >= 0)
				want = -EEXIST;
	r = uhmm_mmap(S.u[mi].mm, A(p0), (size_t)n * PG, g->prot, flags, &out);
	expect("uhmm_mmap", r, want);
	if (r)
		return;
	if (out != A(p0))
		fail("uhmm_mmap placed a fixed mapping at %#lx, not %#lx", out, A(p0));
	g->p0 = p0;
	g->n = n;
	if (g->shared)
		obj = obj_new((unsigned long)n);
	for (p = p0; p < p0 + n; p++) {
		struct mpage *mp = &S.m[mi].pg[p];

		mpage_unmap(mi, p);
		mp->prot = (signed char)g->prot;
		mp->shared = g->shared;
		if (g->shared) {
			mp->obj = (unsigned short)obj;
			mp->idx = (unsigned long)(p - p0);
		}
	}
}

static void op_munmap(struct args *g)
{
	int mi = g->mi, p;
	unsigned long before = S.u[mi].nt.count;
	bool must = fnot_covers_mapped(mi, g->p0, g->n);
	int r;

	tracef(" mm%d pages [%d,+%d)", mi, g->p0, g->n);
	r = uhmm_munmap(S.u[mi].mm, A(g->p0), (size_t)g->n * PG);
	expect("uhmm_munmap", r, 0);
	for (p = g->p0; p < g->p0 + g->n; p++)
		mpage_unmap(mi, p);
	fnot_expect(mi, before, must, "munmap");
}

/* First page of [p0, p0+n) mapped (with any protection), or -1. */
static int first_mapped(int mi, int p0, int n)
{
	int p;

	for (p = p0; p < p0 + n; p++)
		if (S.m[mi].pg[p].prot >= 0)
			return p;
	return -1;
}

/* First page of [p0, p0+n) not mapped at all, or -1. */
static int first_unmapped(int mi, int p0, int n)
{
	int p;

	for (p = p0; p < p0 + n; p++)
		if (S.m[mi].pg[p].prot < 0)
			return p;
	return -1;
}

static void op_mprotect(struct args *g)
{
	int mi = g->mi, p, r, want = first_unmapped(mi, g->p0, g->n) >= 0 ? -ENOMEM : 0;
	unsigned long before = S.u[mi].nt.count;
	bool change = false;

	tracef(" mm%d pages [%d,+%d) %s", mi, g->p0, g->n, pname(g->prot));
	for (p = g->p0; p < g->p0 + g->n; p++)
		if (S.m[mi].pg[p].prot >= 0 && S.m[mi].pg[p].prot != g->prot && fnot_covers_mapped(mi, p, 1))
			change = true;
	r = uhmm_mprotect(S.u[mi].mm, A(g->p0), (size_t)g->n * PG, g->prot);
	expect("uhmm_mprotect", r, want);
	if (r)
		return;
	for (p = g->p0; p < g->p0 + g->n; p++)
		S.m[mi].pg[p].prot = (signed char)g->prot;
	fnot_expect(mi, before, change, "mprotect");
}

static void op_madvise(struct args *g)
{
	static const int advs[4] = { MADV_DONTNEED, MADV_DONTNEED, MADV_WILLNEED, MADV_NORMAL };
	int mi = g->mi, adv = advs[g->e % 4], p, r, want = first_unmapped(mi, g->p0, g->n) >= 0 ? -ENOMEM : 0;
	unsigned long before = S.u[mi].nt.count;
	bool must = adv == MADV_DONTNEED && !want && fnot_covers_mapped(mi, g->p0, g->n);

	tracef(" mm%d pages [%d,+%d) %s", mi, g->p0, g->n, adv == MADV_DONTNEED ? "DONTNEED" : "hint");
	r = uhmm_madvise(S.u[mi].mm, A(g->p0), (size_t)g->n * PG, adv);
	expect("uhmm_madvise", r, want);
	if (r || adv != MADV_DONTNEED)
		return;
	for (p = g->p0; p < g->p0 + g->n; p++) {
		struct mpage *mp = &S.m[mi].pg[p];

		if (!mp->shared) {	/* private memory reads back as zeroes; shmem keeps its data */
			free(mp->data);
			mp->data = NULL;
		}
	}
	fnot_expect(mi, before, must, "madvise(DONTNEED)");
}

/* uhmm's VMA at page @p, checked against the model: every page of it inside
 * the window is mapped with its protection and sharing. False if none. */
static bool vma_at(int mi, int p, struct uhmm_vma_info *info)
{
	struct uhmm_vma *v;
	int q;

	uhmm_mmap_read_lock(S.u[mi].mm);
	v = uhmm_find_vma(S.u[mi].mm, A(p));
	if (v)
		uhmm_vma_get_info(v, info);
	uhmm_mmap_read_unlock(S.u[mi].mm);
	if (!v) {
		if (S.m[mi].pg[p].prot >= 0)
			fail("mm%d page %d is mapped in the model but uhmm has no VMA there", mi, p);
		return false;
	}
	if (info->start < A(0) || info->end > A(WIN))
		fail("mm%d: VMA [%#lx, %#lx) reaches outside the window", mi, info->start, info->end);
	for (q = (int)((info->start - BASE) / PG); A(q) < info->end; q++) {
		struct mpage *mp = &S.m[mi].pg[q];

		if (mp->prot != (info->prot & (PROT_READ | PROT_WRITE)) ||
		    mp->shared != (info->flags == MAP_SHARED))
			fail("mm%d: VMA [%#lx, %#lx) %s %s, but the model has page %d %s %s", mi, info->start,
			     info->end, pname(info->prot), info->flags == MAP_SHARED ? "shared" : "private", q,
			     pname(mp->prot), mp->shared ? "shared" : "private");
	}
	return true;
}

/*
 * MREMAP: e%3 == 0: resize in place (shrink, or grow without MAYMOVE);
 * otherwise MAYMOVE|FIXED to page b2 = (a*7 + e) % WIN. New length: d.
 */
static void op_mremap(struct args *g)
{
	int mi = g->mi, o = g->p0, on = g->n, nn = 1 + g->d % MAXN, fixed = g->e % 3 != 0;
	int t = (g->a * 7 + g->e * 13) % WIN, want, r, i, p;
	struct uhmm_vma_info vi;
	bool have_vma;
	unsigned long out = 0, before = S.u[mi].nt.count;
	struct mpage moved[MAXN];
	bool must_notify;

	if (fixed && t + nn > WIN)
		nn = WIN - t;
	if (!fixed && o + nn > WIN)
		nn = WIN - o;
	tracef(" mm%d pages [%d,+%d) -> ", mi, o, on);
	if (fixed)
		tracef("FIXED [%d,+%d)", t, nn);
	else
		tracef("+%d in place", nn);

	have_vma = vma_at(mi, o, &vi);
	if (fixed && A(t) < A(o + on) && A(o) < A(t + nn))
		want = -EINVAL;		/* overlapping ranges */
	else if (!have_vma || A(o + on) > vi.end)
		want = -EFAULT;		/* the old range is not inside one VMA */
	else if (fixed || nn <= on)
		want = 0;
	else if (A(o + on) == vi.end && first_mapped(mi, o + on, nn - on) < 0)
		want = 0;		/* grows in place */
	else
		want = -ENOMEM;		/* would have to move, no MREMAP_MAYMOVE */
	if (fixed)
		must_notify = fnot_covers_mapped(mi, o, on) || fnot_covers_mapped(mi, t, nn);
	else
		must_notify = nn < on && fnot_covers_mapped(mi, o + nn, on - nn);
	must_notify &= want == 0;
	r = uhmm_mremap(S.u[mi].mm, A(o), (size_t)on * PG, (size_t)nn * PG, fixed ? MREMAP_MAYMOVE | MREMAP_FIXED : 0,
			fixed ? A(t) : 0, &out);
	expect("uhmm_mremap", r, want);
	if (r)
		return;
	if (out != (fixed ? A(t) : A(o)))
		fail("uhmm_mremap returned address %#lx", out);
	if (!fixed) {
		for (p = o + nn; p < o + on; p++)	/* shrink */
			mpage_unmap(mi, p);
		for (i = on; i < nn; i++) {		/* grow in place */
			struct mpage *mp = &S.m[mi].pg[o + i], *last = &S.m[mi].pg[o + on - 1];

			memset(mp, 0, sizeof(*mp));
			mp->prot = last->prot;
			mp->shared = last->shared;
			if (mp->shared) {
				mp->obj = last->obj;
				mp->idx = last->idx + 1 + (unsigned long)(i - on);
			}
		}
	} else {
		int keep = on < nn ? on : nn;
		struct mpage first = S.m[mi].pg[o];

		/* take the old pages out (data ownership moves with them) */
		for (i = 0; i < keep; i++) {
			moved[i] = S.m[mi].pg[o + i];
			S.m[mi].pg[o + i].data = NULL;
		}
		for (p = o; p < o + on; p++)
			mpage_unmap(mi, p);
		for (p = t; p < t + nn; p++)
			mpage_unmap(mi, p);
		for (i = 0; i < nn; i++) {
			struct mpage *mp = &S.m[mi].pg[t + i];

			if (i < keep) {
				*mp = moved[i];
				continue;
			}
			memset(mp, 0, sizeof(*mp));
			mp->prot = first.prot;
			mp->shared = first.shared;
			if (mp->shared) {
				mp->obj = first.obj;
				mp->idx = first.idx + (unsigned long)i;
			}
		}
	}
	fnot_expect(mi, before, must_notify, "mremap");
}

/* Byte range of CPU accesses: start page b, offset e*16, length from c,d. */
static void byte_range(struct args *g, unsigned long *addr, size_t *len)
{
	unsigned long start = A(g->b % WIN) + (unsigned long)g->e * 16;
	size_t l = 1 + (((size_t)g->c << 8 | g->d) % (MAXN * PG));

	if (start + l > A(WIN))
		l = A(WIN) - start;
	*addr = start;
	*len = l;
	/* the pages touched, for the checks after the operation */
	g->p0 = (int)((start - BASE) / PG);
	g->n = (int)((start + l - 1 - BASE) / PG) - g->p0 + 1;
}

/* -EFAULT unless every byte of [addr, addr+len) is mapped with @need. */
static int cpu_want(int mi, unsigned long addr, size_t len, int need)
{
	int p;

	for (p = (int)((addr - BASE) / PG); A(p) < addr + len; p++) {
		int prot = S.m[mi].pg[p].prot;

		if (prot < 0 || (prot & need) != need)
			return -EFAULT;
	}
	return 0;
}

static void op_cpu_read(struct args *g)
{
	unsigned long addr;
	size_t len, i;
	unsigned char *buf;
	int mi = g->mi, r, want;

	byte_range(g, &addr, &len);
	tracef(" mm%d [%#lx,+%zu)", mi, addr, len);
	want = cpu_want(mi, addr, len, PROT_READ);
	buf = malloc(len);
	if (!buf)
		abort();
	r = uhmm_cpu_read(S.u[mi].mm, addr, buf, len);
	expect("uhmm_cpu_read", r, want);
	for (i = 0; !r && i < len; i++) {
		unsigned long a = addr + i;
		int p = (int)((a - BASE) / PG);

		if (buf[i] != mbytes(mi, p)[a % PG])
			fail("uhmm_cpu_read(mm%d) at %#lx (page %d): %#x, the model has %#x", mi, a, p, buf[i],
			     mbytes(mi, p)[a % PG]);
	}
	free(buf);
}

static void op_cpu_write(struct args *g)
{
	unsigned long addr;
	size_t len, i;
	unsigned char *buf;
	int mi = g->mi, r, want;

	byte_range(g, &addr, &len);
	tracef(" mm%d [%#lx,+%zu) seed %#x", mi, addr, len, g->a);
	want = cpu_want(mi, addr, len, PROT_READ | PROT_WRITE);
	buf = malloc(len);
	if (!buf)
		abort();
	for (i = 0; i < len; i++)
		buf[i] = pattern(addr + i, g->a);
	r = uhmm_cpu_write(S.u[mi].mm, addr, buf, len);
	expect("uhmm_cpu_write", r, want);
	for (i = 0; !r && i < len; i++) {
		unsigned long a = addr + i;

		mbytes_w(mi, (int)((a - BASE) / PG))[a % PG] = buf[i];
	}
	free(buf);
}

/* Whether page @p of @mi is a device-private page of device @d (-1: none). */
static bool owned_by(int mi, int p, int d)
{
	struct uhmm_pte_info in;

	if (d < 0)
		return false;
	query(mi, p, &in);
	return in.kind == UHMM_PTE_DEVICE_PRIVATE && page_dev(uhmm_pfn_to_page(S.sys, in.pfn)) == d;
}

/*
 * What a device access (device @d) or hmm_range_fault (@d = -1: no
 * dev_private_owner) of [p0, p0+n) returns: the first page, in address
 * order, without a usable VMA decides: no VMA or PROT_NONE -EFAULT,
 * read-only when writing -EPERM. As in Linux, hmm_range_fault reports a
 * device-private page of the caller's own device as it is, whatever was
 * requested, so a read-only one does not stop the walk; dmirror then sees
 * it read-only and faults again without ownership, which ends in -EPERM.
 * *bad receives the deciding page.
 */
static int dev_want(int mi, int p0, int n, bool write, int d, int *bad)
{
	int p, first_ro = -1;

	for (p = p0; p < p0 + n; p++) {
		int prot = S.m[mi].pg[p].prot;

		*bad = p;
		if (prot < 0 || !(prot & PROT_READ))
			return -EFAULT;
		if (write && !(prot & PROT_WRITE)) {
			if (!owned_by(mi, p, d))
				return -EPERM;
			if (first_ro < 0)
				first_ro = p;
		}
	}
	*bad = first_ro >= 0 ? first_ro : p0 + n;
	return first_ro >= 0 ? -EPERM : 0;
}

static int ioctl_(int mi, int d, unsigned req, int p0, int n, void *buf, struct uhmm_dmirror_cmd *out)
{
	struct uhmm_dmirror_cmd cmd = { .addr = A(p0), .ptr = buf, .npages = (unsigned long)n };
	struct uhmm_dmirror *f = S.cur_sib && S.u[mi].sib[d] ? S.u[mi].sib[d] : S.u[mi].file[d];
	int r = uhmm_dmirror_ioctl(f, req, &cmd);

	if (out)
		*out = cmd;
	return r;
}

static void compare_pages(const char *what, int mi, int p0, int n, const unsigned char *buf)
{
	int i;

	for (i = 0; i < n; i++)
		if (memcmp(buf + (size_t)i * PG, mbytes(mi, p0 + i), PG)) {
			size_t k;

			for (k = 0; k < PG && buf[(size_t)i * PG + k] == mbytes(mi, p0 + i)[k]; k++)
				;
			fail("%s: mm%d page %d byte %zu is %#x, the model has %#x", what, mi, p0 + i, k,
			     buf[(size_t)i * PG + k], mbytes(mi, p0 + i)[k]);
		}
}

static void op_dev_read(struct args *g)
{
	int mi = g->mi, bad, want = dev_want(mi, g->p0, g->n, false, g->dev, &bad), r;
	unsigned char *buf = malloc((size_t)g->n * PG);

	if (!buf)
		abort();
	tracef(" dev%d mm%d pages [%d,+%d)", g->dev, mi, g->p0, g->n);
	r = ioctl_(mi, g->dev, UHMM_DMIRROR_READ, g->p0, g->n, buf, NULL);
	expect("dmirror READ", r, want);
	if (!r)
		compare_pages("dmirror READ", mi, g->p0, g->n, buf);
	free(buf);
}

static void op_dev_write(struct args *g)
{
	int mi = g->mi, bad, want = dev_want(mi, g->p0, g->n, true, g->dev, &bad), r, i;
	size_t len = (size_t)g->n * PG, k;
	unsigned char *buf = malloc(len), *now = malloc(PG);
	bool newer = true;

	if (!buf || !now)
		abort();
	for (k = 0; k < len; k++)
		buf[k] = pattern(A(g->p0) + k, g->a ^ 0x5a);
	tracef(" dev%d mm%d pages [%d,+%d) seed %#x", g->dev, mi, g->p0, g->n, g->a);
	r = ioctl_(mi, g->dev, UHMM_DMIRROR_WRITE, g->p0, g->n, buf, NULL);
	expect("dmirror WRITE", r, want);
	if (!r) {
		for (i = 0; i < g->n; i++)
			memcpy(mbytes_w(mi, g->p0 + i), buf + (size_t)i * PG, PG);
	} else {
		/*
		 * Linux's test_hmm writes what its page table already maps before
		 * it faults the rest, so on failure a prefix of the pages before
		 * the first bad one holds the new bytes, each page all or nothing.
		 */
		for (i = 0; g->p0 + i < bad; i++) {
			const unsigned char *nw = buf + (size_t)i * PG;

			peek_page(mi, g->p0 + i, now);
			if (!memcmp(now, nw, PG) && newer) {
				memcpy(mbytes_w(mi, g->p0 + i), nw, PG);
				tracef(" [page %d written]", g->p0 + i);
				continue;
			}
			newer = false;
			if (memcmp(now, mbytes(mi, g->p0 + i), PG))
				fail("failed dmirror WRITE: mm%d page %d holds neither its old bytes nor (after an "
				     "unwritten page) the new ones", mi, g->p0 + i);
		}
	}
	free(buf);
	free(now);
}

/* MIGRATE_TO_DEV / MIGRATE_TO_SYS: -EINVAL at the first page without a readable VMA. */
static int migrate_want(int mi, int p0, int n)
{
	int p;

	for (p = p0; p < p0 + n; p++)
		if (S.m[mi].pg[p].prot < 0 || !(S.m[mi].pg[p].prot & PROT_READ))
			return -EINVAL;
	return 0;
}

static void op_migrate_to_dev(struct args *g)
{
	int mi = g->mi, want = migrate_want(mi, g->p0, g->n), r;
	unsigned char *buf = malloc((size_t)g->n * PG);
	unsigned long before = S.u[mi].nt.count;

	if (!buf)
		abort();
	tracef(" dev%d mm%d pages [%d,+%d)", g->dev, mi, g->p0, g->n);
	r = ioctl_(mi, g->dev, UHMM_DMIRROR_MIGRATE_TO_DEV, g->p0, g->n, buf, NULL);
	/* -ENOENT: some page did not end up in the device page table (shared
	 * memory, on the other device, pinned): where pages are is not modelled. */
	if (want)
		expect("dmirror MIGRATE_TO_DEV", r, want);
	else
		expect2("dmirror MIGRATE_TO_DEV", r, 0, -ENOENT);
	if (!r)
		compare_pages("dmirror MIGRATE_TO_DEV read-back", mi, g->p0, g->n, buf);
	/* setup always emits one MIGRATE invalidation over the first piece */
	fnot_expect(mi, before, fnot_covers_mapped(mi, g->p0, 1) && !want, "MIGRATE_TO_DEV");
	free(buf);
}

static void op_migrate_to_sys(struct args *g)
{
	int mi = g->mi, want = migrate_want(mi, g->p0, g->n), r;
	unsigned long before = S.u[mi].nt.count;

	tracef(" dev%d mm%d pages [%d,+%d)", g->dev, mi, g->p0, g->n);
	r = ioctl_(mi, g->dev, UHMM_DMIRROR_MIGRATE_TO_SYS, g->p0, g->n, NULL, NULL);
	expect("dmirror MIGRATE_TO_SYS", r, want);
	fnot_expect(mi, before, fnot_covers_mapped(mi, g->p0, 1) && !want, "MIGRATE_TO_SYS");
}

/* The snapshot byte the CPU page table implies for page @p seen by device @d. */
static unsigned char snap_expected(int mi, int d, int p)
{
	struct mpage *mp = &S.m[mi].pg[p];
	struct uhmm_pte_info in;
	struct uhmm_page *page;

	if (mp->prot < 0 || !(mp->prot & PROT_READ))
		return UHMM_DMIRROR_PROT_ERROR;
	query(mi, p, &in);
	page = in.kind != UHMM_PTE_NONE ? uhmm_pfn_to_page(S.sys, in.pfn) : NULL;
	switch (in.kind) {
	case UHMM_PTE_ZERO:
		return UHMM_DMIRROR_PROT_ZERO | UHMM_DMIRROR_PROT_READ;
	case UHMM_PTE_PRESENT: {
		unsigned char b = in.write ? UHMM_DMIRROR_PROT_WRITE : UHMM_DMIRROR_PROT_READ;

		if (page && uhmm_is_device_coherent_page(page))
			b |= page_dev(page) == d ? UHMM_DMIRROR_PROT_DEV_COHERENT_LOCAL
						 : UHMM_DMIRROR_PROT_DEV_COHERENT_REMOTE;
		return b;
	}
	case UHMM_PTE_DEVICE_PRIVATE:
		if (page_dev(page) != d)
			return UHMM_DMIRROR_PROT_NONE;	/* not ours: not faulted, not reported */
		return UHMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL |
		       (in.write ? UHMM_DMIRROR_PROT_WRITE : UHMM_DMIRROR_PROT_READ);
	default:
		return UHMM_DMIRROR_PROT_NONE;
	}
}

static void op_snapshot(struct args *g)
{
	int mi = g->mi, r, i;
	unsigned char perm[MAXN];

	tracef(" dev%d mm%d pages [%d,+%d)", g->dev, mi, g->p0, g->n);
	r = ioctl_(mi, g->dev, UHMM_DMIRROR_SNAPSHOT, g->p0, g->n, perm, NULL);
	expect("dmirror SNAPSHOT", r, 0);
	for (i = 0; i < g->n; i++) {
		unsigned char want = snap_expected(mi, g->dev, g->p0 + i);

		if (perm[i] != want)
			fail("dmirror SNAPSHOT(dev%d) of mm%d page %d: %#x, the page table implies %#x", g->dev, mi,
			     g->p0 + i, perm[i], want);
	}
}

static void op_exclusive(struct args *g)
{
	int mi = g->mi, want = 0, r, p;
	bool maybe_busy = false;
	unsigned char *buf = malloc((size_t)g->n * PG);

	if (!buf)
		abort();
	tracef(" dev%d mm%d pages [%d,+%d)", g->dev, mi, g->p0, g->n);
	for (p = g->p0; p < g->p0 + g->n && !want; p++) {
		struct mpage *mp = &S.m[mi].pg[p];
		struct uhmm_pte_info in;

		if (mp->prot < 0)
			want = -EFAULT;
		else if (mp->shared)
			want = -EINVAL;	/* anonymous memory only */
		else if (!(mp->prot & PROT_WRITE))
			want = -EFAULT;
		if (want)
			break;
		/* a device-coherent page cannot become exclusive (-EBUSY),
		 * unless the write fault replaces it by a RAM copy */
		query(mi, p, &in);
		if (in.kind == UHMM_PTE_PRESENT && uhmm_is_device_coherent_page(uhmm_pfn_to_page(S.sys, in.pfn)))
			maybe_busy = true;
	}
	r = ioctl_(mi, g->dev, UHMM_DMIRROR_EXCLUSIVE, g->p0, g->n, buf, NULL);
	if (maybe_busy)
		expect2("dmirror EXCLUSIVE", r, want, -EBUSY);
	else
		expect("dmirror EXCLUSIVE", r, want);
	if (!r) {
		compare_pages("dmirror EXCLUSIVE read-back", mi, g->p0, g->n, buf);
		for (p = g->p0; p < g->p0 + g->n; p++) {
			struct uhmm_pte_info in;

			query(mi, p, &in);
			if (in.kind != UHMM_PTE_DEVICE_EXCLUSIVE)
				fail("dmirror EXCLUSIVE succeeded but mm%d page %d is %s", mi, p, kname(in.kind));
		}
	}
	free(buf);
}

static void op_check_exclusive(struct args *g)
{
	int mi = g->mi, r, p;
	bool any = false;

	tracef(" dev%d mm%d pages [%d,+%d)", g->dev, mi, g->p0, g->n);
	r = ioctl_(mi, g->dev, UHMM_DMIRROR_CHECK_EXCLUSIVE, g->p0, g->n, NULL, NULL);
	expect2("dmirror CHECK_EXCLUSIVE", r, 0, -EPERM);
	for (p = g->p0; p < g->p0 + g->n; p++) {
		struct uhmm_pte_info in;

		query(mi, p, &in);
		any |= in.kind == UHMM_PTE_DEVICE_EXCLUSIVE;
	}
	/* an atomic device entry lives only as long as the CPU's exclusive entry */
	if (r == -EPERM && !any)
		fail("CHECK_EXCLUSIVE(dev%d, mm%d) says atomic, but no page of the range is device-exclusive", g->dev,
		     mi);
}

static void op_release(struct args *g)
{
	int mi = g->mi, r;

	tracef(" dev%d (through mm%d's file)", g->dev, mi);
	/* Eviction waits for pinned device pages (as memunmap_pages does):
	 * drop our pins first, or it would wait for us forever. */
	if (g->dev == 1 && S.coherent1 && S.npins) {
		tracef(" [unpinned %d]", S.npins);
		unpin_all();
	}
	r = ioctl_(mi, g->dev, UHMM_DMIRROR_RELEASE, 0, 1, NULL, NULL);
	expect("dmirror RELEASE", r, 0);
	check_all("after RELEASE");
}

static void op_fail_alloc(struct args *g)
{
	struct uhmm_dmirror_cmd cmd = { .addr = 0, .npages = UHMM_DMIRROR_FLAG_FAIL_ALLOC };
	int r;

	tracef(" dev%d mm%d", g->dev, g->mi);
	r = uhmm_dmirror_ioctl(S.u[g->mi].file[g->dev], UHMM_DMIRROR_FLAGS, &cmd);
	expect("dmirror FLAGS", r, 0);
}

static void op_pin(struct args *g)
{
	int mi = g->mi, r, want, i;
	bool write = g->e & 1;
	struct pin *pn;

	want = cpu_want(mi, A(g->p0), (size_t)g->n * PG, write ? PROT_READ | PROT_WRITE : PROT_READ);
	tracef(" mm%d pages [%d,+%d) %s", mi, g->p0, g->n, write ? "write" : "read");
	if (S.npins == NPIN)
		unpin_one(0);
	pn = &S.pins[S.npins];
	memset(pn, 0, sizeof(*pn));
	r = uhmm_pin_user_pages(S.u[mi].mm, A(g->p0), (unsigned long)g->n, write, pn->pages);
	expect("uhmm_pin_user_pages", r, want);
	if (r)
		return;
	pn->n = (unsigned long)g->n;
	S.npins++;
	for (i = 0; i < g->n; i++) {
		const unsigned char *b = uhmm_page_address(pn->pages[i]);

		if (!b || uhmm_is_device_private_page(pn->pages[i]))
			fail("pinned mm%d page %d is not CPU-addressable", mi, g->p0 + i);
		if (memcmp(b, mbytes(mi, g->p0 + i), PG))
			fail("pinned mm%d page %d does not hold the model's bytes", mi, g->p0 + i);
	}
}

static void op_unpin(struct args *g)
{
	(void)g;
	tracef(" (%d pinned groups)", S.npins);
	if (S.npins)
		unpin_one(0);
}

static void op_notifier(struct args *g)
{
	struct fnot *f = &S.u[g->mi].nt;
	int r;

	if (f->inserted) {
		tracef(" mm%d remove", g->mi);
		uhmm_mmu_interval_notifier_remove(&f->n);
		f->inserted = false;
		return;
	}
	memset(f, 0, sizeof(*f));
	f->mi = g->mi;
	f->start = A(g->p0);
	f->end = A(g->p0 + g->n);
	tracef(" mm%d insert pages [%d,+%d)", g->mi, g->p0, g->n);
	r = uhmm_mmu_interval_notifier_insert(&f->n, S.u[g->mi].mm, f->start, f->end - f->start, &fnot_ops);
	expect("uhmm_mmu_interval_notifier_insert", r, 0);
	f->inserted = true;
}

/* A minimal mirror: the canonical read_begin / range_fault / lock / read_retry loop. */
struct mirror {
	struct uhmm_mmu_interval_notifier n;
	pthread_mutex_t lock;
};

static bool mirror_invalidate(struct uhmm_mmu_interval_notifier *sub, const struct uhmm_mmu_notifier_range *range,
			      unsigned long cur_seq)
{
	struct mirror *m = (struct mirror *)((char *)sub - offsetof(struct mirror, n));

	if (uhmm_mmu_notifier_range_blockable(range))
		pthread_mutex_lock(&m->lock);
	else if (pthread_mutex_trylock(&m->lock))
		return false;
	uhmm_mmu_interval_set_seq(sub, cur_seq);
	pthread_mutex_unlock(&m->lock);
	return true;
}

static const struct uhmm_mmu_interval_notifier_ops mirror_ops = { mirror_invalidate };

static void op_range_fault(struct args *g)
{
	int mi = g->mi, bad, r, i, tries = 0;
	bool write = g->e & 1;
	int want = dev_want(mi, g->p0, g->n, write, -1, &bad);
	unsigned long pfns[MAXN];
	struct mirror m;
	struct uhmm_range range;

	tracef(" mm%d pages [%d,+%d) %s", mi, g->p0, g->n, write ? "write" : "read");
	memset(&m, 0, sizeof(m));
	pthread_mutex_init(&m.lock, NULL);
	r = uhmm_mmu_interval_notifier_insert(&m.n, S.u[mi].mm, A(g->p0), (unsigned long)g->n * PG, &mirror_ops);
	if (r)
		fail("uhmm_mmu_interval_notifier_insert = %s", ename(r));
	memset(&range, 0, sizeof(range));
	range.notifier = &m.n;
	range.start = A(g->p0);
	range.end = A(g->p0 + g->n);
	range.hmm_pfns = pfns;
	range.default_flags = UHMM_PFN_REQ_FAULT | (write ? UHMM_PFN_REQ_WRITE : 0);
	for (;;) {
		if (++tries > 1000)
			fail("uhmm_range_fault: no progress after 1000 tries, single-threaded");
		range.notifier_seq = uhmm_mmu_interval_read_begin(&m.n);
		uhmm_mmap_read_lock(S.u[mi].mm);
		r = uhmm_range_fault(&range);
		uhmm_mmap_read_unlock(S.u[mi].mm);
		if (r == -EBUSY)
			continue;
		if (r)
			break;
		pthread_mutex_lock(&m.lock);
		if (uhmm_mmu_interval_read_retry(&m.n, range.notifier_seq)) {
			pthread_mutex_unlock(&m.lock);
			continue;
		}
		break;
	}
	expect("uhmm_range_fault", r, want);
	if (!r) {
		/* under the mirror's lock: nothing can change these pages */
		for (i = 0; i < g->n; i++) {
			struct uhmm_page *page = uhmm_pfn_to_page(S.sys, uhmm_pfn_to_pfn(pfns[i]));
			const unsigned char *b = page ? uhmm_page_address(page) : NULL;

			if (!(pfns[i] & UHMM_PFN_VALID) || (pfns[i] & UHMM_PFN_ERROR) || !b)
				fail("uhmm_range_fault: mm%d page %d: hmm_pfn %#lx", mi, g->p0 + i, pfns[i]);
			if (write && !(pfns[i] & UHMM_PFN_WRITE))
				fail("uhmm_range_fault for write: mm%d page %d not writable", mi, g->p0 + i);
			if (memcmp(b, mbytes(mi, g->p0 + i), PG))
				fail("uhmm_range_fault: mm%d page %d does not hold the model's bytes", mi, g->p0 + i);
		}
		pthread_mutex_unlock(&m.lock);
	}
	if (tries > 1)
		tracef(" (%d tries)", tries);
	uhmm_mmu_interval_notifier_remove(&m.n);
	pthread_mutex_destroy(&m.lock);
}

static void op_soft_dirty(struct args *g)
{
	int mi = g->mi, r, p;

	tracef(" mm%d", mi);
	r = uhmm_clear_soft_dirty(S.u[mi].mm);
	expect("uhmm_clear_soft_dirty", r, 0);
	for (p = 0; p < WIN; p++) {
		int sd = uhmm_page_soft_dirty(S.u[mi].mm, A(p));

		if (sd != 0 && sd != -EFAULT)
			fail("mm%d page %d soft-dirty (%d) right after clearing", mi, p, sd);
	}
}

static void op_check(struct args *g)
{
	int mi = g->mi, p;
	unsigned char *buf = malloc(PG);

	if (!buf)
		abort();
	tracef(" mm%d", mi);
	check_mm(mi, "CHECK");
	for (p = 0; p < WIN; p++) {
		struct mpage *mp = &S.m[mi].pg[p];
		int r;

		if (mp->prot < 0 || !(mp->prot & PROT_READ))
			continue;
		r = uhmm_cpu_read(S.u[mi].mm, A(p), buf, PG);
		if (r)
			fail("CHECK: uhmm_cpu_read(mm%d, page %d) = %s", mi, p, ename(r));
		if (memcmp(buf, mbytes(mi, p), PG))
			fail("CHECK: mm%d page %d does not read back as the model's bytes", mi, p);
	}
	free(buf);
}

/* Wrong calls: each must fail as documented and change nothing (the checks after the op see to that). */
static void op_badcall(struct args *g)
{
	int mi = g->mi, r;
	unsigned long out;
	struct uhmm_dmirror_cmd cmd;
	char c;

	switch (g->e % 10) {
	case 0:
		tracef(" munmap misaligned");
		r = uhmm_munmap(S.u[mi].mm, A(g->p0) + 1, PG);
		expect("uhmm_munmap", r, -EINVAL);
		break;
	case 1:
		tracef(" mprotect unknown prot bits");
		r = uhmm_mprotect(S.u[mi].mm, A(g->p0), PG, 0x100);
		expect("uhmm_mprotect", r, -EINVAL);
		break;
	case 2:
		tracef(" madvise unknown advice");
		r = uhmm_madvise(S.u[mi].mm, A(g->p0), PG, 12345);
		expect("uhmm_madvise", r, -EINVAL);
		break;
	case 3:
		tracef(" mremap unknown flags");
		r = uhmm_mremap(S.u[mi].mm, A(g->p0), PG, PG, 0x40, 0, &out);
		expect("uhmm_mremap", r, -EINVAL);
		break;
	case 4:
		tracef(" mmap length 0");
		r = uhmm_mmap(S.u[mi].mm, A(g->p0), 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, &out);
		expect("uhmm_mmap", r, -EINVAL);
		break;
	case 5:
		tracef(" dmirror unknown request");
		memset(&cmd, 0, sizeof(cmd));
		cmd.addr = A(g->p0);
		cmd.npages = 1;
		cmd.ptr = &c;
		r = uhmm_dmirror_ioctl(S.u[mi].file[g->dev], 0x77, &cmd);
		expect("dmirror ioctl", r, -EINVAL);
		break;
	case 6:
		tracef(" dmirror READ misaligned");
		memset(&cmd, 0, sizeof(cmd));
		cmd.addr = A(g->p0) + 8;
		cmd.npages = 1;
		cmd.ptr = &c;
		r = uhmm_dmirror_ioctl(S.u[mi].file[g->dev], UHMM_DMIRROR_READ, &cmd);
		expect("dmirror READ", r, -EINVAL);
		break;
	case 7:
		tracef(" dmirror MIGRATE_TO_DEV npages 0");
		r = ioctl_(mi, g->dev, UHMM_DMIRROR_MIGRATE_TO_DEV, g->p0, 0, &c, NULL);
		expect("dmirror MIGRATE_TO_DEV", r, -EINVAL);
		break;
	case 8:
		tracef(" cpu_read NULL buffer");
		r = uhmm_cpu_read(S.u[mi].mm, A(g->p0), NULL, 8);
		expect("uhmm_cpu_read", r, -EINVAL);
		break;
	default:
		tracef(" dmirror WRITE overflowing range");
		memset(&cmd, 0, sizeof(cmd));
		cmd.addr = A(g->p0);
		cmd.npages = ~0UL >> 12;
		cmd.ptr = &c;
		r = uhmm_dmirror_ioctl(S.u[mi].file[g->dev], UHMM_DMIRROR_WRITE, &cmd);
		expect("dmirror WRITE", r, -EINVAL);
		break;
	}
}

static void run_op(struct args *g)
{
	switch (g->op) {
	case OP_NEWMM: op_newmm(g); break;
	case OP_FORK: op_fork(g); break;
	case OP_EXIT: op_exit(g); break;
	case OP_MMAP: op_mmap(g); break;
	case OP_MUNMAP: op_munmap(g); break;
	case OP_MPROTECT: op_mprotect(g); break;
	case OP_MADVISE: op_madvise(g); break;
	case OP_MREMAP: op_mremap(g); break;
	case OP_CPU_READ: op_cpu_read(g); break;
	case OP_CPU_WRITE: op_cpu_write(g); break;
	case OP_DEV_READ: op_dev_read(g); break;
	case OP_DEV_WRITE: op_dev_write(g); break;
	case OP_MIGRATE_TO_DEV: op_migrate_to_dev(g); break;
	case OP_MIGRATE_TO_SYS: op_migrate_to_sys(g); break;
	case OP_SNAPSHOT: op_snapshot(g); break;
	case OP_EXCLUSIVE: op_exclusive(g); break;
	case OP_CHECK_EXCLUSIVE: op_check_exclusive(g); break;
	case OP_RELEASE: op_release(g); break;
	case OP_FAIL_ALLOC: op_fail_alloc(g); break;
	case OP_PIN: op_pin(g); break;
	case OP_UNPIN: op_unpin(g); break;
	case OP_NOTIFIER: op_notifier(g); break;
	case OP_RANGE_FAULT: op_range_fault(g); break;
	case OP_SOFT_DIRTY: op_soft_dirty(g); break;
	case OP_CHECK: op_check(g); break;
	case OP_BADCALL: op_badcall(g); break;
	default: break;
	}
}

static void decode(const uint8_t *b, int opno, struct args *g)
{
	memset(g, 0, sizeof(*g));
	g->op = b[0] % NR_OPS;
	g->a = b[1];
	g->b = b[2];
	g->c = b[3];
	g->d = b[4];
	g->e = b[5];
	g->mi = pick_mm(g->a);
	g->p0 = g->b % WIN;
	g->n = 1 + g->c % MAXN;
	if (g->p0 + g->n > WIN)
		g->n = WIN - g->p0;
	g->dev = g->d & 1;
	g->prot = prot_of(g->d >> 1);
	g->shared = g->d & 8;
	S.cur_sib = S.siblings && (g->d & 16) && g->op >= OP_DEV_READ && g->op <= OP_RELEASE;
	trace_new("#%-3d %-16s%s", opno, op_names[g->op], S.cur_sib ? "(2nd file) " : "");
}

/* ------------------------------------------------------------- one input */

static void setup(uint8_t config)
{
	struct uhmm_system_opts so = { .ram_bytes = 32UL << 20 };
	struct uhmm_dmirror_device_opts dopts[NDEV] = {
		{ .type = UHMM_MEMORY_DEVICE_PRIVATE, .memory_bytes = 4UL << 20, .chunk_bytes = 1UL << 20 },
		{ .type = UHMM_MEMORY_DEVICE_PRIVATE, .memory_bytes = 4UL << 20, .chunk_bytes = 1UL << 20 },
	};
	int d, r;

	memset(S.u, 0, sizeof(S.u));
	S.ntrace = 0;
	S.npins = 0;
	model_reset();
	S.coherent1 = config & 1;
	S.siblings = config & 2;
	if (S.coherent1)
		dopts[1].type = UHMM_MEMORY_DEVICE_COHERENT;
	r = uhmm_system_create(&so, &S.sys);
	if (r)
		fail("uhmm_system_create = %s", ename(r));
	for (d = 0; d < NDEV; d++) {
		r = uhmm_dmirror_device_create(S.sys, &dopts[d], &S.dev[d]);
		if (r)
			fail("uhmm_dmirror_device_create = %s", ename(r));
	}
	/* Every input starts with one address space. */
	trace_new("#--  setup            mm0");
	r = uhmm_mm_create(S.sys, &S.u[0].mm);
	if (r)
		fail("uhmm_mm_create = %s", ename(r));
	S.m[0].live = true;
	open_files(0);
}

static void teardown(void)
{
	struct uhmm_system_stats st;
	int i, d;

	trace_new("#--  teardown");
	check_all("final check");
	for (i = 0; i < NMM; i++) {
		struct args g;

		if (!S.m[i].live)
			continue;
		memset(&g, 0, sizeof(g));
		g.mi = i;
		op_check(&g);
	}
	unpin_all();
	for (i = 0; i < NMM; i++)
		if (S.m[i].live)
			mm_exit(i, i & 1);
	if (uhmm_system_get_stats(S.sys, &st))
		fail("uhmm_system_get_stats failed");
	if (st.device_pages_used)
		fail("leak: %lu device pages still in use after every address space exited", st.device_pages_used);
	for (d = 0; d < NDEV; d++) {
		uhmm_dmirror_device_destroy(S.dev[d]);
		S.dev[d] = NULL;
	}
	if (uhmm_system_get_stats(S.sys, &st))
		fail("uhmm_system_get_stats failed");
	if (st.used_pages != 1)
		fail("leak: %lu RAM pages in use at the end (only the zero page should be)", st.used_pages);
	if (S.verbose)
		print_trace();
	uhmm_system_destroy(S.sys);
	S.sys = NULL;
	model_reset();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t nops, i;
	int k;
	const char *v = getenv("UHMM_FUZZ_VERBOSE");

	S.verbose = v && *v && *v != '0';
	if (size < 1)
		return 0;
	nops = (size - 1) / OP_BYTES;
	if (nops > MAX_OPS)
		nops = MAX_OPS;
	setup(data[0]);
	for (i = 0; i < nops; i++) {
		struct args g;

		decode(data + 1 + i * OP_BYTES, (int)i, &g);
		if (g.op != OP_NEWMM && g.mi < 0) {
			tracef(" (no address space)");
			continue;
		}
		run_op(&g);
		/* the whole structure, and the bytes of what the operation touched
		 * (everything at FORK, RELEASE, CHECK and the end) */
		if (g.op == OP_EXIT || g.op == OP_NEWMM || g.op == OP_UNPIN)
			for (k = 0; k < NMM; k++)
				check_mm_range(k, 0, 0, "after the operation");
		else if (g.op == OP_MREMAP)
			check_mm(g.mi, "after the operation");
		else
			check_mm_range(g.mi, g.p0, g.p0 + g.n, "after the operation");
	}
	teardown();
	return 0;
}

#ifdef UHMM_FUZZ_STANDALONE
/* Replay files (or every file of directories) given as arguments. */
static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;
	long len;

	if (!f) {
		perror(path);
		return 1;
	}
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(len > 0 ? (size_t)len : 1);
	if (!buf || (len > 0 && fread(buf, 1, (size_t)len, f) != (size_t)len)) {
		fclose(f);
		free(buf);
		fprintf(stderr, "%s: read error\n", path);
		return 1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	int i, nfiles = 0, err = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...  (replays fuzz inputs; UHMM_FUZZ_VERBOSE=1 prints traces)\n",
			argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st)) {
			perror(argv[i]);
			return 1;
		}
		if (S_ISDIR(st.st_mode)) {
			struct dirent **ents;
			int n = scandir(argv[i], &ents, NULL, alphasort), k;

			if (n < 0) {
				perror(argv[i]);
				return 1;
			}
			for (k = 0; k < n; k++) {
				char path[4096];

				if (ents[k]->d_name[0] != '.') {
					snprintf(path, sizeof(path), "%s/%s", argv[i], ents[k]->d_name);
					err |= run_file(path);
					nfiles++;
				}
				free(ents[k]);
			}
			free(ents);
		} else {
			err |= run_file(argv[i]);
			nfiles++;
		}
	}
	printf("fuzz_uhmm: %d input%s replayed, no mismatch\n", nfiles, nfiles == 1 ? "" : "s");
	return err;
}
#endif
