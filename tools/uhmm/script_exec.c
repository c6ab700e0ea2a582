/* SPDX-License-Identifier: MIT */
/* script_exec.c - run a parsed uhmm script against libuhmm.
 *
 * Every library call records its result. A call that fails must be checked
 * by the next statement ('expect error ERRNO' or 'expect ok'); otherwise the
 * script stops there, naming the call and its errno. Assertions that do not
 * hold stop the script with the line, what was expected and what was seen.
 * Either way the exit status is 1 and everything created is torn down.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "script.h"

#define PG UHMM_PAGE_SIZE

/* ------------------------------------------------------------ helpers */
static int record(struct script *s, const struct stmt *st, const char *call, int r)
{
	s->last_err = r;
	s->last_call = call;
	s->ncalls++;
	s->pending_line = r ? (int)(st - s->stmts) + 1 : 0;
	return CLI_OK;
}

static int need_system(struct script *s, const struct stmt *st)
{
	struct uhmm_system_opts o = { .ram_bytes = s->ram_mib << 20, .thp = s->thp };
	int r;

	if (s->sys)
		return CLI_OK;
	r = uhmm_system_create(&o, &s->sys);
	if (r)
		return script_failed(s, st, "uhmm_system_create: %s", strerror(-r));
	return CLI_OK;
}

/* The live address space of symbol @i (the implicit "main" is created on
 * first use); NULL after printing why not. */
static struct uhmm_mm *mm_of(struct script *s, const struct stmt *st, int i)
{
	struct sym *m;
	int r;

	if (i < 0)
		i = s->cur_mm >= 0 ? s->cur_mm : s->main_mm;
	m = &s->syms[i];
	if (m->exited) {
		script_failed(s, st, "address space '%s' has exited", m->name);
		return NULL;
	}
	if (!m->mm) {
		if (i != s->main_mm) {
			script_failed(s, st, "address space '%s' does not exist (its creation failed)", m->name);
			return NULL;
		}
		if (need_system(s, st))
			return NULL;
		r = uhmm_mm_create(s->sys, &m->mm);
		if (r) {
			script_failed(s, st, "uhmm_mm_create: %s", strerror(-r));
			return NULL;
		}
		trace_json_label(m->mm, m->name);
	}
	return m->mm;
}

/* An address expression's value; its pattern base in *base. 0 on error. */
static int addr_of(struct script *s, const struct stmt *st, const struct addr_expr *a, unsigned long *addr,
		   unsigned long *base)
{
	unsigned long b;

	*addr = 0;
	if (base)
		*base = 0;
	if (a->sym < 0) {
		*addr = a->literal + (unsigned long)a->off_pages * PG;
		if (base)
			*base = a->literal;
		return CLI_OK;
	}
	b = s->syms[a->sym].addr;
	if (!b)
		return script_failed(s, st, "'%s' has no address (its mmap failed)", s->syms[a->sym].name);
	*addr = b + (unsigned long)a->off_pages * PG;
	if (base)
		*base = b;
	return CLI_OK;
}

/* "buf+0x2010" for an address inside a named mapping, else hex. */
static const char *where(const struct script *s, const struct addr_expr *a, unsigned long addr, char *buf,
			 size_t len)
{
	if (a->sym >= 0)
		snprintf(buf, len, "%s+%#lx", s->syms[a->sym].name, addr - s->syms[a->sym].addr);
	else
		snprintf(buf, len, "%#lx", addr);	/* literal (+ offset): the address itself */
	return buf;
}

static int data_mismatch(struct script *s, const struct stmt *st, const struct addr_expr *a,
			 const struct pattern *p, unsigned long addr, long k, int want, int got, const char *what)
{
	char w[64];

	return script_failed(s, st, "%s at %s (int %ld of the range): expected %d (pattern %s), saw %d", what,
			     where(s, a, addr + (unsigned long)k * sizeof(int), w, sizeof(w)), k, want, p->text,
			     got);
}

/* ------------------------------------------------------- address spaces */
int x_system(struct script *s, struct stmt *st)
{
	s->ram_mib = st->n;
	s->thp = (enum uhmm_thp_mode)st->advice;
	return need_system(s, st);
}

int x_mm(struct script *s, struct stmt *st)
{
	struct sym *m = &s->syms[st->sym];
	int r;

	if (m->mm && !m->exited)
		return script_failed(s, st, "address space '%s' already exists", m->name);
	if (need_system(s, st))
		return CLI_FAIL;
	m->mm = NULL;
	m->exited = false;
	r = uhmm_mm_create(s->sys, &m->mm);
	if (!r) {
		trace_json_label(m->mm, m->name);
		s->cur_mm = st->sym;
	}
	return record(s, st, "uhmm_mm_create", r);
}

int x_use(struct script *s, struct stmt *st)
{
	if (!mm_of(s, st, st->sym))
		return CLI_FAIL;
	s->cur_mm = st->sym;
	return CLI_OK;
}

int x_fork(struct script *s, struct stmt *st)
{
	struct uhmm_mm *parent = mm_of(s, st, st->sym2);
	struct sym *c = &s->syms[st->sym];
	int r;

	if (!parent)
		return CLI_FAIL;
	if (c->mm && !c->exited)
		return script_failed(s, st, "address space '%s' already exists", c->name);
	c->mm = NULL;
	c->exited = false;
	r = uhmm_mm_fork(parent, &c->mm);
	if (!r)
		trace_json_label(c->mm, c->name);
	return record(s, st, "uhmm_mm_fork", r);
}

int x_exit(struct script *s, struct stmt *st)
{
	struct uhmm_mm *mm = mm_of(s, st, st->sym);

	if (!mm)
		return CLI_FAIL;
	uhmm_mm_put(mm);
	s->syms[st->sym].exited = true;
	if (s->cur_mm == st->sym)
		s->cur_mm = -1;
	return record(s, st, "uhmm_mm_put", 0);
}

int x_mmap(struct script *s, struct stmt *st)
{
	struct uhmm_mm *mm = mm_of(s, st, -1);
	unsigned long hint = 0, out = 0;
	int r;

	if (!mm || (st->has_a2 && addr_of(s, st, &st->a, &hint, NULL)))
		return CLI_FAIL;
	r = uhmm_mmap(mm, hint, st->n * PG, st->prot, st->flags, &out);
	if (!r)
		s->syms[st->sym].addr = out;
	return record(s, st, "uhmm_mmap", r);
}

int x_munmap(struct script *s, struct stmt *st)
{
	struct uhmm_mm *mm = mm_of(s, st, -1);
	unsigned long a;

	if (!mm || addr_of(s, st, &st->a, &a, NULL))
		return CLI_FAIL;
	return record(s, st, "uhmm_munmap", uhmm_munmap(mm, a, st->n * PG));
}

int x_mprotect(struct script *s, struct stmt *st)
{
	struct uhmm_mm *mm = mm_of(s, st, -1);
	unsigned long a;

	if (!mm || addr_of(s, st, &st->a, &a, NULL))
		return CLI_FAIL;
	return record(s, st, "uhmm_mprotect", uhmm_mprotect(mm, a, st->n * PG, st->prot));
}

int x_madvise(struct script *s, struct stmt *st)
{
	struct uhmm_mm *mm = mm_of(s, st, -1);
	unsigned long a;

	if (!mm || addr_of(s, st, &st->a, &a, NULL))
		return CLI_FAIL;
	return record(s, st, "uhmm_madvise", uhmm_madvise(mm, a, st->n * PG, st->advice));
}

int x_mremap(struct script *s, struct stmt *st)
{
	struct uhmm_mm *mm = mm_of(s, st, -1);
	unsigned long a, na = 0, out = 0;
	int r;

	if (!mm || addr_of(s, st, &st->a, &a, NULL) || (st->has_a2 && addr_of(s, st, &st->a2, &na, NULL)))
		return CLI_FAIL;
	r = uhmm_mremap(mm, a, st->n * PG, st->n2 * PG, st->flags, na, &out);
	if (!r)
		s->syms[st->sym].addr = out;
	return record(s, st, "uhmm_mremap", r);
}

int x_write(struct script *s, struct stmt *st)
{
	struct uhmm_mm *mm = mm_of(s, st, -1);
	unsigned long a, base;
	void *buf;
	int r;

	if (!mm || addr_of(s, st, &st->a, &a, &base))
		return CLI_FAIL;
	buf = malloc(st->n * PG);
	if (!buf)
		return script_failed(s, st, "out of memory");
	pattern_fill(&st->pat, base, a, buf, st->n * PG);
	r = uhmm_cpu_write(mm, a, buf, st->n * PG);
	free(buf);
	return record(s, st, "uhmm_cpu_write", r);
}

/* CPU read of the statement's range; checks the pattern if @must or given. */
static int cpu_read_check(struct script *s, struct stmt *st, bool is_expect)
{
	struct uhmm_mm *mm = mm_of(s, st, -1);
	unsigned long a, base;
	int r, want, got, rc = CLI_OK;
	char d[96];
	void *buf;
	long k;

	if (!mm || addr_of(s, st, &st->a, &a, &base))
		return CLI_FAIL;
	buf = malloc(st->n * PG);
	if (!buf)
		return script_failed(s, st, "out of memory");
	r = uhmm_cpu_read(mm, a, buf, st->n * PG);
	if (is_expect && r)
		rc = script_failed(s, st, "uhmm_cpu_read: %s", errno_describe(r, d, sizeof(d)));
	else if (!is_expect)
		record(s, st, "uhmm_cpu_read", r);
	if (!r && (is_expect || st->has_pat)) {
		k = pattern_check(&st->pat, base, a, buf, st->n * PG, &want, &got);
		if (k >= 0)
			rc = data_mismatch(s, st, &st->a, &st->pat, a, k, want, got, "CPU data");
		else
			s->checks++;
	}
	free(buf);
	return rc;
}

int x_read(struct script *s, struct stmt *st) { return cpu_read_check(s, st, false); }
int x_expect_data(struct script *s, struct stmt *st) { return cpu_read_check(s, st, true); }

/* ------------------------------------------------------------- devices */
int x_device(struct script *s, struct stmt *st)
{
	struct uhmm_dmirror_device_opts o = {
		.type = (enum uhmm_memory_type)st->kind,
		.memory_bytes = st->n * PG,
		.filter = (enum uhmm_dmirror_filter)st->policy,
		.filter_exclusive = st->excl,
		.tlb_flush_ns = st->n2,
	};
	struct sym *d = &s->syms[st->sym];
	int r;

	if (d->dev)
		return script_failed(s, st, "device '%s' already exists", d->name);
	if (need_system(s, st))
		return CLI_FAIL;
	r = uhmm_dmirror_device_create(s->sys, &o, &d->dev);
	if (!r) {
		trace_json_label(d->dev, d->name);
		trace_json_label(uhmm_dmirror_device_owner(d->dev), d->name);
	}
	return record(s, st, "uhmm_dmirror_device_create", r);
}

int x_open(struct script *s, struct stmt *st)
{
	struct sym *f = &s->syms[st->sym], *d = &s->syms[st->sym2];
	struct uhmm_mm *mm;
	int r;

	if (!d->dev)
		return script_failed(s, st, "device '%s' does not exist (its creation failed)", d->name);
	if (f->file)
		return script_failed(s, st, "'%s' is already open; close it first", f->name);
	mm = mm_of(s, st, st->sym3);
	if (!mm)
		return CLI_FAIL;
	r = uhmm_dmirror_open(d->dev, mm, &f->file);
	if (!r) {
		f->file_mm = st->sym3 >= 0 ? st->sym3 : s->cur_mm >= 0 ? s->cur_mm : s->main_mm;
		f->dev = d->dev;
		memset(&f->base, 0, sizeof(f->base));
		trace_json_label(f->file, f->name);
	} else {
		f->file = NULL;
	}
	return record(s, st, "uhmm_dmirror_open", r);
}

static struct uhmm_dmirror *file_of(struct script *s, const struct stmt *st, int i)
{
	if (!s->syms[i].file)
		script_failed(s, st, "device file '%s' is not open", s->syms[i].name);
	return s->syms[i].file;
}

int x_close(struct script *s, struct stmt *st)
{
	struct uhmm_dmirror *f = file_of(s, st, st->sym);

	if (!f)
		return CLI_FAIL;
	uhmm_dmirror_close(f);
	s->syms[st->sym].file = NULL;
	return record(s, st, "uhmm_dmirror_close", 0);
}

static const char *req_call(unsigned int req)
{
	static const char *n[] = {
		"uhmm_dmirror_ioctl(READ)",	       "uhmm_dmirror_ioctl(WRITE)",
		"uhmm_dmirror_ioctl(MIGRATE_TO_DEV)",  "uhmm_dmirror_ioctl(MIGRATE_TO_SYS)",
		"uhmm_dmirror_ioctl(SNAPSHOT)",	       "uhmm_dmirror_ioctl(EXCLUSIVE)",
		"uhmm_dmirror_ioctl(CHECK_EXCLUSIVE)", "uhmm_dmirror_ioctl(RELEASE)",
		"uhmm_dmirror_ioctl(FLAGS)",
	};

	return req < sizeof(n) / sizeof(n[0]) ? n[req] : "uhmm_dmirror_ioctl(unknown request)";
}

int x_ioctl(struct script *s, struct stmt *st)
{
	struct sym *f = &s->syms[st->sym];
	struct uhmm_dmirror_cmd cmd = { 0 };
	unsigned long a, base;
	size_t len = 0;
	int r;

	if (!file_of(s, st, st->sym) || addr_of(s, st, &st->a, &a, &base))
		return CLI_FAIL;
	if (st->req == UHMM_DMIRROR_SNAPSHOT)
		len = st->n;	/* exactly npages bytes: an overrun shows under ASan */
	else if (st->req != UHMM_DMIRROR_FLAGS)
		len = st->n * PG;
	free(f->buf);
	f->buf = len ? malloc(len) : NULL;
	if (len && !f->buf)
		return script_failed(s, st, "out of memory");
	if (len) {
		if (st->has_pat)
			pattern_fill(&st->pat, base, a, f->buf, len);
		else
			memset(f->buf, 0, len);
	}
	f->buf_len = len;
	f->buf_addr = a;
	f->buf_pages = st->n;
	f->last_req = st->req;
	f->has_req = true;
	cmd.addr = a;
	cmd.ptr = f->buf;
	cmd.npages = st->n;
	r = uhmm_dmirror_ioctl(f->file, st->req, &cmd);
	s->last_file = st->sym;
	s->last_cmd = cmd;
	return record(s, st, req_call(st->req), r);
}

/* Counters that are levels, not totals: 'reset' does not rebase them. */
static bool is_gauge(const char *name)
{
	return !strcmp(name, "devmem_pages_in_use") || !strcmp(name, "chunks") || !strcmp(name, "pages_total") ||
	       !strcmp(name, "files") || !strcmp(name, "max_retry_streak");
}

static int read_counter(struct script *s, const struct stmt *st, int i, const char *name, unsigned long *v)
{
	struct sym *y = &s->syms[i];
	unsigned long b = 0;
	int r;

	if (y->kind == SYM_FILE) {
		struct uhmm_dmirror_stats now;

		if (!file_of(s, st, i))
			return CLI_FAIL;
		r = uhmm_dmirror_get_stats(y->file, &now);
		if (r)
			return script_failed(s, st, "uhmm_dmirror_get_stats: %s", strerror(-r));
		counter_file(name, &now, v);
		counter_file(name, &y->base, &b);
	} else {
		struct uhmm_dmirror_device_stats now;

		if (!y->dev)
			return script_failed(s, st, "device '%s' does not exist", y->name);
		r = uhmm_dmirror_device_get_stats(y->dev, &now);
		if (r)
			return script_failed(s, st, "uhmm_dmirror_device_get_stats: %s", strerror(-r));
		counter_device(name, &now, v);
		counter_device(name, &y->dbase, &b);
	}
	if (!is_gauge(name))
		*v -= b;
	return CLI_OK;
}

int x_reset(struct script *s, struct stmt *st)
{
	struct sym *y = &s->syms[st->sym];
	int r;

	if (y->kind == SYM_FILE) {
		if (!file_of(s, st, st->sym))
			return CLI_FAIL;
		r = uhmm_dmirror_get_stats(y->file, &y->base);
	} else {
		if (!y->dev)
			return script_failed(s, st, "device '%s' does not exist", y->name);
		r = uhmm_dmirror_device_get_stats(y->dev, &y->dbase);
	}
	if (r)
		return script_failed(s, st, "reading counters: %s", strerror(-r));
	return CLI_OK;
}

int x_stats(struct script *s, struct stmt *st)
{
	static const char *ff[] = { "invalidations", "invalidations_skipped", "ptes_zapped", "ptes_migrated",
				    "faults", "pages_to_dev", "pages_to_sys", "devmem_pages_in_use",
				    "max_retry_streak" };
	static const char *df[] = { "chunks", "pages_total", "devmem_pages_in_use", "pages_evicted",
				    "alloc_failures", "files" };
	struct sym *y = &s->syms[st->sym];
	const char **f = y->kind == SYM_FILE ? ff : df;
	int n = y->kind == SYM_FILE ? 9 : 6, col = 0;
	unsigned long v;

	printf("%s:", y->name);
	col = (int)strlen(y->name) + 1;
	for (int i = 0; i < n; i++) {
		char item[64];

		if (read_counter(s, st, st->sym, f[i], &v))
			return CLI_FAIL;
		snprintf(item, sizeof(item), " %s %lu", f[i], v);
		if (col + (int)strlen(item) > 96) {
			printf("\n   ");
			col = 3;
		}
		fputs(item, stdout);
		col += (int)strlen(item);
	}
	putchar('\n');
	return CLI_OK;
}

static const char *const kinds[] = { "none", "present", "zero", "device-private", "device-exclusive",
				     "migration" };

int x_ptes(struct script *s, struct stmt *st)
{
	struct uhmm_mm *mm = mm_of(s, st, -1);
	unsigned long a, c[6];
	char w[64];
	int r;

	if (!mm || addr_of(s, st, &st->a, &a, NULL))
		return CLI_FAIL;
	r = uhmm_mm_count_ptes(mm, a, a + st->n * PG, c);
	if (r)
		return record(s, st, "uhmm_mm_count_ptes", r);
	printf("ptes %s (%lu pages):", where(s, &st->a, a, w, sizeof(w)), st->n);
	for (int k = 0; k < 6; k++)
		if (c[k] || k == UHMM_PTE_NONE)
			printf(" %s %lu", kinds[k], c[k]);
	putchar('\n');
	return record(s, st, "uhmm_mm_count_ptes", 0);
}

int x_print(struct script *s, struct stmt *st)
{
	const char *t = st->text + 5;

	(void)s;
	while (*t == ' ' || *t == '\t')
		t++;
	puts(t);
	return CLI_OK;
}

/* -------------------------------------------------------------- expect */
int x_expect_ok(struct script *s, struct stmt *st)
{
	char d[96];

	s->pending_line = 0;
	if (s->last_err)
		return script_failed(s, st, "%s returned %s", s->last_call ? s->last_call : "the last call",
				     errno_describe(s->last_err, d, sizeof(d)));
	s->checks++;
	return CLI_OK;
}

int x_expect_error(struct script *s, struct stmt *st)
{
	char d1[96], d2[96];

	s->pending_line = 0;
	if (s->last_err != -st->err)
		return script_failed(s, st, "expected %s, %s returned %s", errno_describe(-st->err, d1, sizeof(d1)),
				     s->last_call ? s->last_call : "the last call",
				     errno_describe(s->last_err, d2, sizeof(d2)));
	s->checks++;
	return CLI_OK;
}

static int check_num(struct script *s, const struct stmt *st, const char *what, long seen)
{
	if (!cmp_eval(st->cmp, seen, st->value))
		return script_failed(s, st, "expected %s %s %ld, saw %ld", what, cmp_text(st->cmp), st->value, seen);
	s->checks++;
	return CLI_OK;
}

int x_expect_cpages(struct script *s, struct stmt *st)
{
	if (s->last_file < 0)
		return script_failed(s, st, "no dmirror request has run yet");
	return check_num(s, st, "cpages", (long)s->last_cmd.cpages);
}

int x_expect_faults(struct script *s, struct stmt *st)
{
	if (s->last_file < 0)
		return script_failed(s, st, "no dmirror request has run yet");
	return check_num(s, st, "faults", (long)s->last_cmd.faults);
}

int x_expect_counter(struct script *s, struct stmt *st)
{
	unsigned long v;

	if (read_counter(s, st, st->sym, st->field, &v))
		return CLI_FAIL;
	return check_num(s, st, st->field, (long)v);
}

static void snap_text(unsigned int b, char *buf, size_t len)
{
	static const char *base[] = { [0x1] = "ZERO", [0x2] = "DEV_PRIVATE_LOCAL", [0x3] = "DEV_PRIVATE_REMOTE",
				      [0x4] = "DEV_COHERENT_LOCAL", [0x5] = "DEV_COHERENT_REMOTE" };
	const char *hi = (b >> 4) < 6 ? base[b >> 4] : NULL;

	if (b == UHMM_DMIRROR_PROT_ERROR) {
		snprintf(buf, len, "0xff ERROR");
		return;
	}
	if (b == 0) {
		snprintf(buf, len, "0x00 NONE");
		return;
	}
	snprintf(buf, len, "%#04x %s%s%s%s%s", b, hi ? hi : "", hi && (b & 0xf) ? "|" : "",
		 b & UHMM_DMIRROR_PROT_WRITE ? "WRITE" : b & UHMM_DMIRROR_PROT_READ ? "READ" : "",
		 b & UHMM_DMIRROR_PROT_PMD ? "|PMD" : "", b & UHMM_DMIRROR_PROT_PUD ? "|PUD" : "");
}

int x_expect_snapshot(struct script *s, struct stmt *st)
{
	struct sym *f = s->last_file >= 0 ? &s->syms[s->last_file] : NULL;
	char w[48], g[48];

	if (!f || !f->has_req || f->last_req != UHMM_DMIRROR_SNAPSHOT)
		return script_failed(s, st, "the last dmirror request was not a snapshot");
	if (s->last_err)
		return script_failed(s, st, "the snapshot failed (%s)", strerror(-s->last_err));
	if (st->nbytes != f->buf_len)
		return script_failed(s, st, "expected %zu bytes, the snapshot has %zu", st->nbytes, f->buf_len);
	for (size_t i = 0; i < st->nbytes; i++)
		if (st->bytes[i] != f->buf[i]) {
			snap_text(st->bytes[i], w, sizeof(w));
			snap_text(f->buf[i], g, sizeof(g));
			return script_failed(s, st, "byte %zu: expected %s, saw %s", i, w, g);
		}
	s->checks++;
	return CLI_OK;
}

int x_expect_mirror(struct script *s, struct stmt *st)
{
	int fi = st->sym >= 0 ? st->sym : s->last_file;
	struct sym *f = fi >= 0 ? &s->syms[fi] : NULL;
	unsigned long a, base;
	int want, got;
	long k;

	if (!f || !f->has_req)
		return script_failed(s, st, "no dmirror request has run yet");
	if (f->last_req > UHMM_DMIRROR_EXCLUSIVE || f->last_req == UHMM_DMIRROR_MIGRATE_TO_SYS ||
	    f->last_req == UHMM_DMIRROR_SNAPSHOT)
		return script_failed(s, st, "the last request of '%s' moved no data into its buffer", f->name);
	if (addr_of(s, st, &st->a, &a, &base))
		return CLI_FAIL;
	if (a < f->buf_addr || a + st->n * PG > f->buf_addr + f->buf_pages * PG)
		return script_failed(s, st, "range outside the last request of '%s' (%#lx, %lu pages)", f->name,
				     f->buf_addr, f->buf_pages);
	k = pattern_check(&st->pat, base, a, f->buf + (a - f->buf_addr), st->n * PG, &want, &got);
	if (k >= 0)
		return data_mismatch(s, st, &st->a, &st->pat, a, k, want, got, "mirror data");
	s->checks++;
	return CLI_OK;
}

int x_expect_pte(struct script *s, struct stmt *st)
{
	struct uhmm_mm *mm = mm_of(s, st, -1);
	struct uhmm_pte_info info;
	unsigned long a;
	int r;

	if (!mm || addr_of(s, st, &st->a, &a, NULL))
		return CLI_FAIL;
	r = uhmm_mm_query_pte(mm, a, &info);
	if (r)
		return script_failed(s, st, "uhmm_mm_query_pte: %s", strerror(-r));
	if ((int)info.kind != st->kind || (st->value >= 0 && info.write != (st->value == 1)))
		return script_failed(s, st, "expected %s%s, saw %s%s", kinds[st->kind],
				     st->value < 0 ? "" : st->value ? " write" : " ro",
				     (unsigned)info.kind < 6 ? kinds[info.kind] : "?",
				     info.kind == UHMM_PTE_NONE ? "" : info.write ? " write" : " ro");
	s->checks++;
	return CLI_OK;
}

int x_expect_ptes(struct script *s, struct stmt *st)
{
	struct uhmm_mm *mm = mm_of(s, st, -1);
	unsigned long a, c[6];
	char what[48];
	int r;

	if (!mm || addr_of(s, st, &st->a, &a, NULL))
		return CLI_FAIL;
	r = uhmm_mm_count_ptes(mm, a, a + st->n * PG, c);
	if (r)
		return script_failed(s, st, "uhmm_mm_count_ptes: %s", strerror(-r));
	snprintf(what, sizeof(what), "%s ptes", kinds[st->kind]);
	return check_num(s, st, what, (long)c[st->kind]);
}

int x_expect_vmas(struct script *s, struct stmt *st)
{
	struct uhmm_mm *mm = mm_of(s, st, -1);

	if (!mm)
		return CLI_FAIL;
	return check_num(s, st, "vmas", (long)uhmm_mm_vma_count(mm));
}

int x_expect_system(struct script *s, struct stmt *st)
{
	static const char *names[] = { "ram_pages", "free_pages", "used_pages", "device_pages",
				       "device_pages_used" };
	struct uhmm_system_stats ss;
	unsigned long v[5];
	int r;

	if (need_system(s, st))
		return CLI_FAIL;
	r = uhmm_system_get_stats(s->sys, &ss);
	if (r)
		return script_failed(s, st, "uhmm_system_get_stats: %s", strerror(-r));
	v[0] = ss.ram_pages;
	v[1] = ss.free_pages;
	v[2] = ss.used_pages;
	v[3] = ss.device_pages;
	v[4] = ss.device_pages_used;
	return check_num(s, st, names[st->kind], (long)v[st->kind]);
}

/* -------------------------------------------------------------- driver */
static int unchecked(struct script *s)
{
	const struct stmt *bad = &s->stmts[s->pending_line - 1];
	const char *e = errno_name(s->last_err);
	char d[96];

	fflush(stdout);
	fprintf(stderr, "%s:%d: error: %s: %s failed: %s (not checked: add 'expect error %s' after it)\n",
		s->file, bad->line, bad->text, s->last_call, errno_describe(s->last_err, d, sizeof(d)),
		e ? e : "ERRNO");
	return CLI_FAIL;
}

static void teardown(struct script *s)
{
	for (int i = 0; i < s->nsyms; i++)
		if (s->syms[i].kind == SYM_FILE && s->syms[i].file) {
			struct uhmm_dmirror_stats st;

			/* a retry storm: the driver's notifier collided again and again */
			if (!uhmm_dmirror_get_stats(s->syms[i].file, &st) && st.max_retry_streak >= SCRIPT_RETRY_STREAK_WARN)
				fprintf(stderr,
					"%s: warning: file '%s': its interval notifier made the device fault retry %lu "
					"times in a row (warning threshold %d): a retry storm between the script's "
					"migrations and the notifier?\n",
					cli_prog, s->syms[i].name, st.max_retry_streak, SCRIPT_RETRY_STREAK_WARN);
			uhmm_dmirror_close(s->syms[i].file);
			s->syms[i].file = NULL;
		}
	for (int i = 0; i < s->nsyms; i++)
		if (s->syms[i].kind == SYM_MM && s->syms[i].mm && !s->syms[i].exited) {
			uhmm_mm_put(s->syms[i].mm);
			s->syms[i].exited = true;
		}
	for (int i = 0; i < s->nsyms; i++)
		if (s->syms[i].kind == SYM_DEVICE && s->syms[i].dev) {
			uhmm_dmirror_device_destroy(s->syms[i].dev);
			s->syms[i].dev = NULL;
		}
	if (s->sys)
		uhmm_system_destroy(s->sys);
	s->sys = NULL;
}

/* -v: what the statement did: the call's result, or that the check held. */
static void verbose_result(const struct script *s, const struct stmt *st, unsigned long calls_before)
{
	char d[96];

	if (s->ncalls != calls_before) {
		printf("      -> %s: %s", s->last_call, s->last_err ? errno_describe(s->last_err, d, sizeof(d)) : "0");
		if (!s->last_err && s->last_file >= 0 && !strncmp(s->last_call, "uhmm_dmirror_ioctl", 18))
			printf(" (cpages %lu, faults %lu)", s->last_cmd.cpages, s->last_cmd.faults);
		putchar('\n');
	} else if (st->is_expect) {
		printf("      -> holds\n");
	}
}

int script_run(struct script *s)
{
	int rc = CLI_OK;

	for (int i = 0; i < s->nstmts && rc == CLI_OK; i++) {
		struct stmt *st = &s->stmts[i];

		if (s->pending_line && !st->checks_error) {
			rc = unchecked(s);
			break;
		}
		unsigned long calls = s->ncalls;

		if (s->verbose)
			printf("%4d  %s\n", st->line, st->text);
		trace_json_begin(st->text);
		rc = st->run(s, st);
		trace_json_end(st->text);
		if (s->verbose && rc == CLI_OK)
			verbose_result(s, st, calls);
	}
	if (rc == CLI_OK && s->pending_line)
		rc = unchecked(s);
	teardown(s);
	return rc;
}
