/* SPDX-License-Identifier: MIT */
/* bench_util.h - timing, medians of paired rounds, tables and CSV for bench/.
 *
 * Header-only, public API only. Every benchmark measures a subject and a
 * baseline in the same run, alternating them round by round, and reports the
 * medians and the median of the per-round ratios; numbers from different
 * runs are never compared (DESIGN-NOTES: timings vary up to 30 % per run).
 *
 * On a loaded machine a timed region longer than a scheduler slice is
 * likely to be preempted, so where the work divides, a round is several short
 * repetitions with subject and baseline interleaved, and the round's value
 * is the median of its repetitions (a preempted one is an outlier, not the
 * result).
 *
 * Common options: --quick (small sizes, < 5 s), --csv FILE (append rows
 * bench,subject,param,value,baseline,ratio), --rounds N (odd is best),
 * --strict (exit 1 when a gated row misses its goal; by default a MISS is
 * reported and the exit status stays 0: these machines are noisy).
 */
#ifndef UHMM_BENCH_UTIL_H
#define UHMM_BENCH_UTIL_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uhmm/uhmm.h>

#define BENCH_PAGE UHMM_PAGE_SIZE
#define BENCH_MAX_ROUNDS 101

struct bench_opts {
	const char *name;	/* "fault", "notifier", ... (the CSV bench column) */
	bool quick;
	bool strict;		/* exit 1 at the end if a gated row missed */
	const char *csv;	/* NULL: no CSV */
	int rounds;
};

/* Defeats dead-code elimination of baselines: results are folded into it. */
static volatile unsigned long bench_sink;

__attribute__((noreturn, format(printf, 1, 2), unused)) static void bench_die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("bench: FAILED: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* A uhmm call that must succeed for the run to mean anything. */
#define BENCH_CHECK(call)                                                                          \
	do {                                                                                       \
		long bench_r_ = (long)(call);                                                      \
		if (bench_r_)                                                                      \
			bench_die("%s:%d: %s = %ld (%s)", __FILE__, __LINE__, #call, bench_r_,     \
				  bench_r_ < 0 ? strerror((int)-bench_r_) : "?");                  \
	} while (0)

static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void bench_usage(const struct bench_opts *o, const char *extra)
{
	printf("usage: bench_%s [--quick] [--csv FILE] [--rounds N] [--strict]\n"
	       "  --quick      small sizes, a few seconds at most\n"
	       "  --csv FILE   append rows bench,subject,param,value,baseline,ratio\n"
	       "  --rounds N   paired rounds (default %d, %d with --quick)\n"
	       "  --strict     exit 1 if a row with a goal misses it (default: report MISS, exit 0)\n%s",
	       o->name, 9, 5, extra ? extra : "");
}

/* Rows whose goal was missed, and the program's name, for --strict. */
static int bench_missed;
static const char *bench_strict_name;

/*
 * --strict, at exit: a missed goal turns a normal exit into status 1. An
 * atexit handler so that no benchmark's main has to remember it; it may not
 * call exit() again, so it flushes and leaves with _exit().
 */
static void bench_strict_atexit(void)
{
	if (!bench_missed)
		return;
	fprintf(stderr, "bench_%s: %d row%s missed %s goal (--strict)\n", bench_strict_name, bench_missed,
		bench_missed == 1 ? "" : "s", bench_missed == 1 ? "its" : "their");
	fflush(NULL);
	_exit(1);
}

/* Parses the common options; exits 0 on --help, 2 on a bad option. */
__attribute__((unused)) static void bench_parse_args(int argc, char **argv, struct bench_opts *o, const char *name,
						     const char *usage_extra)
{
	int i, rounds = 0;

	memset(o, 0, sizeof(*o));
	o->name = name;
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			o->quick = true;
		} else if (!strcmp(argv[i], "--csv") && i + 1 < argc) {
			o->csv = argv[++i];
		} else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
			rounds = atoi(argv[++i]);
			if (rounds < 1 || rounds > BENCH_MAX_ROUNDS) {
				fprintf(stderr, "bench_%s: --rounds must be 1..%d\n", name, BENCH_MAX_ROUNDS);
				exit(2);
			}
		} else if (!strcmp(argv[i], "--strict")) {
			o->strict = true;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			bench_usage(o, usage_extra);
			exit(0);
		} else {
			fprintf(stderr, "bench_%s: unknown option '%s'\n", name, argv[i]);
			bench_usage(o, usage_extra);
			exit(2);
		}
	}
	o->rounds = rounds ? rounds : (o->quick ? 5 : 9);
	if (o->strict) {
		bench_strict_name = name;
		if (atexit(bench_strict_atexit))
			bench_die("atexit failed");
	}
}

static int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median of v[0..n) (v is left untouched). */
__attribute__((unused)) static double bench_median(const double *v, int n)
{
	double tmp[BENCH_MAX_ROUNDS];

	if (n <= 0)
		return 0;
	if (n > BENCH_MAX_ROUNDS)
		n = BENCH_MAX_ROUNDS;
	memcpy(tmp, v, (size_t)n * sizeof(*v));
	qsort(tmp, (size_t)n, sizeof(*tmp), bench_cmp_double);
	return n & 1 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

/* Median over rounds of a[r] / b[r]: the paired ratio. */
__attribute__((unused)) static double bench_median_ratio(const double *a, const double *b, int n)
{
	double r[BENCH_MAX_ROUNDS];
	int i;

	for (i = 0; i < n && i < BENCH_MAX_ROUNDS; i++)
		r[i] = b[i] != 0 ? a[i] / b[i] : 0;
	return bench_median(r, i);
}

/* Spread of a series, (max - min) / median, as a noise indicator. */
__attribute__((unused)) static double bench_spread(const double *v, int n)
{
	double lo = v[0], hi = v[0], m = bench_median(v, n);
	int i;

	for (i = 1; i < n; i++) {
		lo = v[i] < lo ? v[i] : lo;
		hi = v[i] > hi ? v[i] : hi;
	}
	return m != 0 ? (hi - lo) / m : 0;
}

/* xorshift64*: a small deterministic PRNG (seeded, printed). */
static inline uint64_t bench_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

__attribute__((unused)) static void bench_shuffle_ul(unsigned long *v, unsigned long n, uint64_t *seed)
{
	unsigned long i;

	for (i = n; i > 1; i--) {
		unsigned long j = bench_rand(seed) % i, t = v[i - 1];

		v[i - 1] = v[j];
		v[j] = t;
	}
}

/* ------------------------------------------------------------------ output */
/*
 * One table per benchmark, the same columns everywhere:
 *   subject | param | value | baseline | ratio | goal | result
 * value and baseline carry their unit; the ratio's meaning is stated in the
 * table title or the subject.
 */
#define BENCH_ROW_FMT "%-34s %-14s %14s %14s %9s %10s  %s\n"

__attribute__((unused)) static void bench_table_begin(const char *title)
{
	printf("\n%s\n", title);
	printf(BENCH_ROW_FMT, "subject", "param", "value", "baseline", "ratio", "goal", "result");
	printf("%.*s\n", 34 + 1 + 14 + 1 + 14 + 1 + 14 + 1 + 9 + 1 + 10 + 2 + 6,
	       "------------------------------------------------------------------------------------------"
	       "--------------------------------");
}

/* 1 = PASS, 0 = MISS, -1 = no goal. */
enum { BENCH_NOGOAL = -1, BENCH_MISS = 0, BENCH_PASS = 1 };

static void bench_csv_row(const struct bench_opts *o, const char *subject, const char *param, double value,
			  double baseline, double ratio)
{
	FILE *f;
	long pos;

	if (!o->csv)
		return;
	f = fopen(o->csv, "a");
	if (!f)
		bench_die("cannot open --csv file '%s': %s", o->csv, strerror(errno));
	fseek(f, 0, SEEK_END);
	pos = ftell(f);
	if (pos == 0)
		fputs("bench,subject,param,value,baseline,ratio\n", f);
	fprintf(f, "%s,\"%s\",\"%s\",%.6g,%.6g,%.6g\n", o->name, subject, param, value, baseline, ratio);
	if (fclose(f))
		bench_die("writing --csv file '%s': %s", o->csv, strerror(errno));
}

/*
 * Print one row and append it to the CSV. @unit is appended to value and
 * baseline (e.g. "ns/page"); @goal is a text such as "<= 3x" or NULL.
 */
__attribute__((unused)) static void bench_row(const struct bench_opts *o, const char *subject, const char *param,
					      double value, double baseline, const char *unit, double ratio,
					      const char *goal, int verdict)
{
	char v[32], b[32], r[32];

	snprintf(v, sizeof(v), "%.*f %s", value >= 100 ? 0 : value >= 10 ? 1 : 2, value, unit);
	if (baseline > 0)
		snprintf(b, sizeof(b), "%.*f %s", baseline >= 100 ? 0 : baseline >= 10 ? 1 : 2, baseline, unit);
	else
		snprintf(b, sizeof(b), "-");
	if (baseline > 0 || ratio != 0)
		snprintf(r, sizeof(r), "%.2fx", ratio);
	else
		snprintf(r, sizeof(r), "-");	/* a figure on its own */
	printf(BENCH_ROW_FMT, subject, param, v, b, r, goal ? goal : "-",
	       verdict == BENCH_PASS ? "PASS" : verdict == BENCH_MISS ? "MISS" : "-");
	bench_missed += verdict == BENCH_MISS;
	bench_csv_row(o, subject, param, value, baseline, ratio);
}

/* ------------------------------------------------------------- RAM warm-up */
/*
 * Touch every free RAM frame of @sys once, from the calling thread, so that
 * no timed region pays the host's first-touch fault (about 2.4 us a page):
 * map all free frames in a temporary address space, write a byte into each
 * page (the fault zeroes the whole frame) until RAM runs out, and unmap. The
 * frames go back to uhmm's free list (the calling thread's shard), not to the
 * host. Returns the number of frames touched.
 */
__attribute__((unused)) static unsigned long bench_prefault_ram(struct uhmm_system *sys)
{
	struct uhmm_system_stats st;
	struct uhmm_mm *mm;
	unsigned long addr, i, n;
	char one = 1;

	BENCH_CHECK(uhmm_system_get_stats(sys, &st));
	n = st.free_pages;
	BENCH_CHECK(uhmm_mm_create(sys, &mm));
	BENCH_CHECK(uhmm_mmap(mm, 0, n * BENCH_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, &addr));
	for (i = 0; i < n; i++) {
		int r = uhmm_cpu_write(mm, addr + i * BENCH_PAGE, &one, 1);

		if (r == -ENOMEM)
			break;
		if (r)
			bench_die("warm-up write: %d", r);
	}
	BENCH_CHECK(uhmm_munmap(mm, addr, n * BENCH_PAGE));
	uhmm_mm_put(mm);
	return i;
}

/* Touch a host buffer (write every page) so timed loops do not fault it in. */
__attribute__((unused)) static void *bench_alloc_touched(size_t bytes)
{
	void *p = NULL;

	if (posix_memalign(&p, 4096, bytes ? bytes : 1))
		bench_die("posix_memalign(%zu) failed", bytes);
	memset(p, 0x5a, bytes);
	return p;
}

__attribute__((unused)) static void bench_header(const struct bench_opts *o, const char *what)
{
	double load = -1;
	FILE *f = fopen("/proc/loadavg", "r");

	if (f) {
		if (fscanf(f, "%lf", &load) != 1)
			load = -1;
		fclose(f);
	}
	printf("bench_%s: %s\n", o->name, what);
	printf("  %s mode, %d paired rounds (subject and baseline alternate; medians; ratio = median of per-round "
	       "ratios)\n",
	       o->quick ? "quick" : "full", o->rounds);
	if (load >= 0)
		printf("  load average %.2f at start, %ld CPUs (a load near or above the CPU count makes timings noisy)\n",
		       load, sysconf(_SC_NPROCESSORS_ONLN));
}

/*
 * bench_progress - where a long untimed phase (populating a million pages)
 * is, on stderr, at most every 2 s: "  populate: 393216/1048576 pages (37%)".
 * Call it each iteration with done = 1..total; a phase shorter than 2 s
 * prints nothing, a longer one also prints its end.
 */
static inline void bench_progress(const char *phase, unsigned long done, unsigned long total)
{
	static uint64_t start, last;
	static const char *cur;
	uint64_t now;

	if (phase != cur) {		/* a new phase: start its clock */
		cur = phase;
		start = last = bench_now_ns();
	}
	if ((done & 1023) && done != total)
		return;
	now = bench_now_ns();
	if (now - last < 2000000000ull && (done != total || last == start))
		return;
	last = now;
	fprintf(stderr, "  %s: %lu/%lu pages (%lu%%), %.1f s\n", phase, done, total, total ? done * 100 / total : 100,
		(double)(now - start) / 1e9);
}

#endif
