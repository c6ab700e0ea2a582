/* SPDX-License-Identifier: MIT */
/* script.c - parse and check a uhmm scenario script before running it.
 *
 * One statement per line; '#' starts a comment; tokens are separated by
 * blanks. Every line is checked here — command, argument count and syntax,
 * numbers and page counts in range, names declared before use with the
 * right kind — so a broken script is a usage error (exit 2) naming the line,
 * and nothing runs. The language is documented in doc/uhmm.1.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "script.h"

/* Longer words of a message (a 5000-character token echoed back) are cut to
 * their first SHORT_HEAD characters, "...", and the count left out. */
#define SHORT_MAX 48
#define SHORT_HEAD 32

static void put_shortened(FILE *f, const char *msg)
{
	const char *p = msg;

	while (*p) {
		size_t word = strcspn(p, " \t\n");

		if (word > SHORT_MAX) {
			fprintf(f, "%.*s...(%zu more)", SHORT_HEAD, p, word - SHORT_HEAD);
			p += word;
		} else {
			size_t blanks;

			fwrite(p, 1, word, f);
			p += word;
			blanks = strspn(p, " \t\n");
			fwrite(p, 1, blanks, f);
			p += blanks;
		}
	}
}

/* "FILE:LINE: error: " + the message, as compilers print it, so that editors'
 * quickfix lists jump to the line. */
static void vdiag(const char *file, int line, const char *text, const char *fmt, va_list ap)
{
	char *msg = NULL;

	fflush(stdout);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	fprintf(stderr, "%s:%d: error: ", file, line);
	if (text) {
		put_shortened(stderr, text);
		fputs(": ", stderr);
	}
	put_shortened(stderr, msg ? msg : "(out of memory formatting the message)");
	fputc('\n', stderr);
	free(msg);
}

int script_usage(const struct script *s, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(s->file, line, NULL, fmt, ap);
	va_end(ap);
	return CLI_USAGE;
}

int script_failed(const struct script *s, const struct stmt *st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(s->file, st->line, st->text, fmt, ap);
	va_end(ap);
	return CLI_FAIL;
}

/* Edit distance of two short words: insertions, deletions, substitutions and
 * transpositions of neighbours ("opne" is one edit from "open"). */
static int distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	int d[SCRIPT_NAME_MAX + 1][SCRIPT_NAME_MAX + 1];

	if (la > SCRIPT_NAME_MAX || lb > SCRIPT_NAME_MAX)
		return SCRIPT_NAME_MAX;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (int)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (int)j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);

			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[la][lb];
}

/* The candidate closest to @word when it is a plausible typo (at most 2
 * edits, and fewer than half the word), else NULL. */
static const char *closest(const char *word, const char *const *cand, size_t n)
{
	const char *best = NULL;
	int bd = 3;

	for (size_t i = 0; i < n; i++) {
		int d = distance(word, cand[i]);

		if (d < bd && 2 * d < (int)strlen(word)) {
			bd = d;
			best = cand[i];
		}
	}
	return best;
}

static const char *kind_name(enum sym_kind k)
{
	static const char *n[] = { "nothing", "an address", "an address space", "a device", "a device file" };

	return n[k];
}

/* ------------------------------------------------------------ symbols */
static int sym_find(const struct script *s, const char *name)
{
	for (int i = 0; i < s->nsyms; i++)
		if (!strcmp(s->syms[i].name, name))
			return i;
	return -1;
}

static bool valid_name(const char *n)
{
	if (!isalpha((unsigned char)n[0]) && n[0] != '_')
		return false;
	for (const char *p = n; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return false;
	return strlen(n) <= SCRIPT_NAME_MAX;
}

/* Declare (or re-bind, same kind) a name. -1 after printing the error. */
static int declare(struct script *s, const struct stmt *st, const char *name, enum sym_kind kind)
{
	int i = sym_find(s, name);

	if (!valid_name(name)) {
		script_usage(s, st->line, "'%s' is not a valid name (letters, digits, _; at most %d)", name,
			     SCRIPT_NAME_MAX);
		return -1;
	}
	if (i >= 0) {
		if (s->syms[i].kind != kind) {
			script_usage(s, st->line, "'%s' is already %s", name, kind_name(s->syms[i].kind));
			return -1;
		}
		return i;
	}
	if (s->nsyms == SCRIPT_MAX_SYMS) {
		script_usage(s, st->line, "too many names (at most %d)", SCRIPT_MAX_SYMS);
		return -1;
	}
	i = s->nsyms++;
	memset(&s->syms[i], 0, sizeof(s->syms[i]));
	snprintf(s->syms[i].name, sizeof(s->syms[i].name), "%s", name);
	s->syms[i].kind = kind;
	s->syms[i].file_mm = -1;
	return i;
}

/* @st creates the address space, device or device file @sym: a usage error
 * if it already exists at this point of the script (found before anything
 * runs, instead of failing half-way). */
static int create(struct script *s, struct stmt *st, int sym)
{
	struct sym *y = &s->syms[sym];

	if (y->live_line) {
		if (y->kind == SYM_FILE)
			return script_usage(s, st->line, "'%s' is already open (line %d); close it first", y->name,
					    y->live_line);
		if (y->kind == SYM_MM)
			return script_usage(s, st->line, "address space '%s' already exists (line %d); 'exit %s' first",
					    y->name, y->live_line, y->name);
		return script_usage(s, st->line, "device '%s' already exists (line %d)", y->name, y->live_line);
	}
	y->live_line = st->line;
	st->creates = sym + 1;
	return 0;
}

/* A name that must already be declared with one of the kinds in @mask. */
static int ref(struct script *s, const struct stmt *st, const char *name, unsigned int mask)
{
	int i = sym_find(s, name);

	if (i < 0) {
		const char *names[SCRIPT_MAX_SYMS], *near;
		int n = 0;

		for (int k = 0; k < s->nsyms; k++)
			if (mask & (1u << s->syms[k].kind))
				names[n++] = s->syms[k].name;
		near = closest(name, names, (size_t)n);
		if (near)
			script_usage(s, st->line, "unknown name '%s'; did you mean '%s'?", name, near);
		else
			script_usage(s, st->line, "unknown name '%s'", name);
		return -1;
	}
	if (!(mask & (1u << s->syms[i].kind))) {
		script_usage(s, st->line, "'%s' is %s, not %s", name, kind_name(s->syms[i].kind),
			     kind_name((enum sym_kind)__builtin_ctz(mask)));
		return -1;
	}
	return i;
}
#define K(k) (1u << (k))

/* ------------------------------------------------------- argument kinds */
static int p_addr(struct script *s, const struct stmt *st, const char *t, struct addr_expr *a)
{
	char name[SCRIPT_NAME_MAX + 2];
	const char *op;
	unsigned long off = 0;
	size_t n;

	a->sym = -1;
	a->off_pages = 0;
	op = strpbrk(t, "+-");
	n = op ? (size_t)(op - t) : strlen(t);
	if (op && op[1] && parse_ulong(op + 1, 0, SCRIPT_MAX_MAP_PAGES, &off))
		return script_usage(s, st->line, "bad page offset in '%s' (0..%lu pages)", t, SCRIPT_MAX_MAP_PAGES);
	if (isdigit((unsigned char)t[0])) {
		/* a number, optionally +/- pages: the pattern base is the number */
		memcpy(name, t, n < sizeof(name) ? n : sizeof(name) - 1);
		name[n < sizeof(name) ? n : sizeof(name) - 1] = 0;
		if (n >= sizeof(name) || parse_ulong(name, 0, ~0UL, &a->literal) || (op && !op[1]))
			return script_usage(s, st->line, "'%s' is not an address", t);
		a->off_pages = op && *op == '-' ? -(long)off : (long)off;
		return 0;
	}
	if (n == 0 || n > SCRIPT_NAME_MAX)
		return script_usage(s, st->line, "'%s' is not an address (NAME, NAME+PAGES or a number)", t);
	memcpy(name, t, n);
	name[n] = 0;
	if (op && !op[1])
		return script_usage(s, st->line, "bad page offset in '%s' (0..%lu pages)", t, SCRIPT_MAX_MAP_PAGES);
	a->sym = ref(s, st, name, K(SYM_ADDR));
	if (a->sym < 0)
		return CLI_USAGE;
	a->off_pages = op && *op == '-' ? -(long)off : (long)off;
	return 0;
}

static int p_pages(struct script *s, const struct stmt *st, const char *t, unsigned long max, unsigned long *n)
{
	if (parse_ulong(t, 1, max, n))
		return script_usage(s, st->line, "page count '%s' out of range (1..%lu)", t, max);
	return 0;
}

static int p_prot(struct script *s, const struct stmt *st, const char *t, int *prot)
{
	*prot = PROT_NONE;
	if (!strcmp(t, "none"))
		return 0;
	for (const char *p = t; *p; p++) {
		int bit = *p == 'r' ? PROT_READ : *p == 'w' ? PROT_WRITE : *p == 'x' ? PROT_EXEC : 0;

		if (!bit || (*prot & bit))
			return script_usage(s, st->line, "bad protection '%s' (none, r, rw, rx, rwx, ...)", t);
		*prot |= bit;
	}
	if (!*t)
		return script_usage(s, st->line, "empty protection");
	return 0;
}

static int p_cmp_value(struct script *s, struct stmt *st, int i, long lo)
{
	static const char *ops[] = { "==", "!=", "<", "<=", ">", ">=" };

	st->cmp = CMP_EQ;
	if (i + 2 == st->ntok) {
		int k;

		for (k = 0; k < 6; k++)
			if (!strcmp(st->tok[i], ops[k]))
				break;
		if (k == 6)
			return script_usage(s, st->line, "bad comparison '%s' (==, !=, <, <=, >, >=)", st->tok[i]);
		st->cmp = (enum cmp_op)k;
		i++;
	} else if (i + 1 != st->ntok) {
		return script_usage(s, st->line, "expected [OP] NUMBER at the end of '%s'", st->text);
	}
	if (parse_long(st->tok[i], lo, 1L << 52, &st->value))
		return script_usage(s, st->line, "'%s' is not a number in range", st->tok[i]);
	return 0;
}

static int nargs(struct script *s, const struct stmt *st, int lo, int hi, const char *syn)
{
	int n = st->ntok - 1;

	if (n < lo || n > hi)
		return script_usage(s, st->line, "%s takes %s", st->tok[0], syn);
	return 0;
}

/* ----------------------------------------------------------- commands */
static int c_system(struct script *s, struct stmt *st)
{
	static const char *const thp[] = { "madvise", "always", "never" };	/* enum uhmm_thp_mode order */
	unsigned long mib;

	if (nargs(s, st, 2, 4, "'ram MIB [thp always|madvise|never]'"))
		return CLI_USAGE;
	if (strcmp(st->tok[1], "ram") || parse_ulong(st->tok[2], 1, SCRIPT_MAX_RAM_MIB, &mib))
		return script_usage(s, st->line, "system takes 'ram MIB' (1..%lu)", SCRIPT_MAX_RAM_MIB);
	st->advice = UHMM_THP_MADVISE;
	if (st->ntok > 3) {
		size_t k;

		if (st->ntok != 5 || strcmp(st->tok[3], "thp"))
			return script_usage(s, st->line, "system takes 'ram MIB [thp always|madvise|never]'");
		for (k = 0; k < 3 && strcmp(st->tok[4], thp[k]); k++)
			;
		if (k == 3)
			return script_usage(s, st->line, "thp is always, madvise or never, not '%s'", st->tok[4]);
		st->advice = (int)k;
	}
	if (st - s->stmts != 0)
		return script_usage(s, st->line, "'system' must be the first statement");
	st->n = mib;
	return 0;
}

static int c_mm(struct script *s, struct stmt *st)
{
	if (nargs(s, st, 1, 1, "a NAME"))
		return CLI_USAGE;
	st->sym = declare(s, st, st->tok[1], SYM_MM);
	return st->sym < 0 ? CLI_USAGE : create(s, st, st->sym);
}

static int c_use_exit(struct script *s, struct stmt *st)
{
	if (nargs(s, st, 1, 1, "an address space NAME"))
		return CLI_USAGE;
	st->sym = ref(s, st, st->tok[1], K(SYM_MM));
	if (st->sym >= 0 && !strcmp(st->tok[0], "exit"))
		s->syms[st->sym].live_line = 0;
	return st->sym < 0 ? CLI_USAGE : 0;
}

static int c_fork(struct script *s, struct stmt *st)
{
	if (nargs(s, st, 1, 2, "CHILD [PARENT]"))
		return CLI_USAGE;
	st->sym2 = -1;
	if (st->ntok == 3 && (st->sym2 = ref(s, st, st->tok[2], K(SYM_MM))) < 0)
		return CLI_USAGE;
	st->sym = declare(s, st, st->tok[1], SYM_MM);
	return st->sym < 0 ? CLI_USAGE : create(s, st, st->sym);
}

static int c_mmap(struct script *s, struct stmt *st)
{
	int i;

	if (nargs(s, st, 2, 8, "VAR PAGES [PROT] [private|shared] [at ADDR] [fixed|noreplace]") ||
	    p_pages(s, st, st->tok[2], SCRIPT_MAX_MAP_PAGES, &st->n))
		return CLI_USAGE;
	st->prot = PROT_READ | PROT_WRITE;
	st->flags = MAP_PRIVATE | MAP_ANONYMOUS;
	for (i = 3; i < st->ntok; i++) {
		const char *t = st->tok[i];

		if (!strcmp(t, "private") || !strcmp(t, "shared")) {
			st->flags &= ~(MAP_PRIVATE | MAP_SHARED);
			st->flags |= t[0] == 'p' ? MAP_PRIVATE : MAP_SHARED;
		} else if (!strcmp(t, "fixed")) {
			st->flags |= MAP_FIXED;
		} else if (!strcmp(t, "noreplace")) {
			st->flags |= MAP_FIXED_NOREPLACE;
		} else if (!strcmp(t, "at")) {
			if (i + 1 == st->ntok)
				return script_usage(s, st->line, "'at' needs an ADDR");
			if (p_addr(s, st, st->tok[++i], &st->a))
				return CLI_USAGE;
			st->has_a2 = true;
		} else if (i == 3) {
			if (p_prot(s, st, t, &st->prot))
				return CLI_USAGE;
		} else {
			return script_usage(s, st->line, "unexpected '%s' in mmap", t);
		}
	}
	if ((st->flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) && !st->has_a2)
		return script_usage(s, st->line, "fixed/noreplace need 'at ADDR'");
	/* Declared last: "mmap buf 4 at buf+8 fixed" may use the old value. */
	st->sym = declare(s, st, st->tok[1], SYM_ADDR);
	return st->sym < 0 ? CLI_USAGE : 0;
}

static int c_range(struct script *s, struct stmt *st)	/* munmap ADDR PAGES */
{
	if (nargs(s, st, 2, 2, "ADDR PAGES") || p_addr(s, st, st->tok[1], &st->a) ||
	    p_pages(s, st, st->tok[2], SCRIPT_MAX_MAP_PAGES, &st->n))
		return CLI_USAGE;
	return 0;
}

static int c_mprotect(struct script *s, struct stmt *st)
{
	if (nargs(s, st, 3, 3, "ADDR PAGES PROT") || p_addr(s, st, st->tok[1], &st->a) ||
	    p_pages(s, st, st->tok[2], SCRIPT_MAX_MAP_PAGES, &st->n) || p_prot(s, st, st->tok[3], &st->prot))
		return CLI_USAGE;
	return 0;
}

static int c_madvise(struct script *s, struct stmt *st)
{
	static const struct {
		const char *name;
		int advice;
	} adv[] = { { "normal", MADV_NORMAL },	   { "random", MADV_RANDOM },
		    { "sequential", MADV_SEQUENTIAL }, { "willneed", MADV_WILLNEED },
		    { "dontneed", MADV_DONTNEED }, { "free", MADV_FREE },
		    { "hugepage", MADV_HUGEPAGE }, { "nohugepage", MADV_NOHUGEPAGE },
		    { "collapse", UHMM_MADV_COLLAPSE } };
	long v;
	size_t k;

	if (nargs(s, st, 3, 3, "ADDR PAGES ADVICE") || p_addr(s, st, st->tok[1], &st->a) ||
	    p_pages(s, st, st->tok[2], SCRIPT_MAX_MAP_PAGES, &st->n))
		return CLI_USAGE;
	for (k = 0; k < sizeof(adv) / sizeof(adv[0]); k++)
		if (!strcmp(st->tok[3], adv[k].name)) {
			st->advice = adv[k].advice;
			return 0;
		}
	if (parse_long(st->tok[3], 0, 1000, &v))
		return script_usage(s, st->line, "unknown advice '%s' (dontneed, normal, random, sequential, "
						 "willneed, free, hugepage, nohugepage, collapse or a number)", st->tok[3]);
	st->advice = (int)v;
	return 0;
}

static int c_mremap(struct script *s, struct stmt *st)
{
	int i;

	if (nargs(s, st, 4, 7, "VAR ADDR OLDPAGES NEWPAGES [maymove] [fixed ADDR]") ||
	    p_addr(s, st, st->tok[2], &st->a) || p_pages(s, st, st->tok[3], SCRIPT_MAX_MAP_PAGES, &st->n) ||
	    p_pages(s, st, st->tok[4], SCRIPT_MAX_MAP_PAGES, &st->n2))
		return CLI_USAGE;
	for (i = 5; i < st->ntok; i++) {
		if (!strcmp(st->tok[i], "maymove")) {
			st->flags |= MREMAP_MAYMOVE;
		} else if (!strcmp(st->tok[i], "fixed") && i + 1 < st->ntok) {
			st->flags |= MREMAP_FIXED;
			if (p_addr(s, st, st->tok[++i], &st->a2))
				return CLI_USAGE;
			st->has_a2 = true;
		} else {
			return script_usage(s, st->line, "unexpected '%s' in mremap (maymove, fixed ADDR)", st->tok[i]);
		}
	}
	st->sym = declare(s, st, st->tok[1], SYM_ADDR);
	return st->sym < 0 ? CLI_USAGE : 0;
}

static int c_data(struct script *s, struct stmt *st)	/* write/read ADDR PAGES [PATTERN] */
{
	bool need = !strcmp(st->tok[0], "write");

	if (nargs(s, st, need ? 3 : 2, 3, need ? "ADDR PAGES PATTERN" : "ADDR PAGES [PATTERN]") ||
	    p_addr(s, st, st->tok[1], &st->a) || p_pages(s, st, st->tok[2], SCRIPT_MAX_IO_PAGES, &st->n))
		return CLI_USAGE;
	if (st->ntok == 4) {
		if (pattern_parse(st->tok[3], &st->pat))
			return script_usage(s, st->line, "bad pattern '%s' (i, -i, i+N, i-N, zero, 0xNN)", st->tok[3]);
		st->has_pat = true;
	}
	return 0;
}

static int c_device(struct script *s, struct stmt *st)
{
	int i;

	static const char *const policies[] = { "own-migrate", "none", "populating", "thread" };

	if (nargs(s, st, 1, 9,
		  "NAME [private|coherent] [memory PAGES] [filter on|off|own-migrate|none|populating|thread] "
		  "[filter-exclusive] [tlb-flush-ns N]"))
		return CLI_USAGE;
	st->kind = UHMM_MEMORY_DEVICE_PRIVATE;
	st->policy = UHMM_DMIRROR_FILTER_OWN_MIGRATE;	/* the owner filter */
	for (i = 2; i < st->ntok; i++) {
		const char *t = st->tok[i], *v = i + 1 < st->ntok ? st->tok[i + 1] : NULL;

		if (!strcmp(t, "private") || !strcmp(t, "coherent")) {
			st->kind = t[0] == 'p' ? UHMM_MEMORY_DEVICE_PRIVATE : UHMM_MEMORY_DEVICE_COHERENT;
		} else if (!strcmp(t, "memory") && v) {
			if (p_pages(s, st, v, SCRIPT_MAX_MAP_PAGES, &st->n))
				return CLI_USAGE;
			i++;
		} else if (!strcmp(t, "filter") && v) {
			int p;

			for (p = 0; p < 4 && strcmp(v, policies[p]); p++)
				;
			if (!strcmp(v, "on") || !strcmp(v, "off"))
				p = !strcmp(v, "on") ? UHMM_DMIRROR_FILTER_OWN_MIGRATE : UHMM_DMIRROR_FILTER_NONE;
			else if (p == 4)
				return script_usage(s, st->line, "unknown filter '%s' (on, off, own-migrate, none, "
								 "populating, thread)", v);
			st->policy = p;
			i++;
		} else if (!strcmp(t, "filter-exclusive")) {
			st->excl = true;
		} else if (!strcmp(t, "tlb-flush-ns") && v) {
			if (parse_ulong(v, 0, 1000000000UL, &st->n2))
				return script_usage(s, st->line, "tlb-flush-ns '%s' out of range (0..1e9)", v);
			i++;
		} else {
			return script_usage(s, st->line, "unexpected '%s' in device (private, coherent, memory, "
							 "filter, filter-exclusive, tlb-flush-ns)", t);
		}
	}
	st->sym = declare(s, st, st->tok[1], SYM_DEVICE);
	return st->sym < 0 ? CLI_USAGE : create(s, st, st->sym);
}

static int c_open(struct script *s, struct stmt *st)
{
	if (nargs(s, st, 2, 3, "FILE DEVICE [MM]") || (st->sym2 = ref(s, st, st->tok[2], K(SYM_DEVICE))) < 0)
		return CLI_USAGE;
	st->sym3 = -1;
	if (st->ntok == 4 && (st->sym3 = ref(s, st, st->tok[3], K(SYM_MM))) < 0)
		return CLI_USAGE;
	st->sym = declare(s, st, st->tok[1], SYM_FILE);
	return st->sym < 0 ? CLI_USAGE : create(s, st, st->sym);
}

static int c_close(struct script *s, struct stmt *st)
{
	if (nargs(s, st, 1, 1, "a device FILE"))
		return CLI_USAGE;
	st->sym = ref(s, st, st->tok[1], K(SYM_FILE));
	if (st->sym >= 0 && !strcmp(st->tok[0], "close"))
		s->syms[st->sym].live_line = 0;
	return st->sym < 0 ? CLI_USAGE : 0;
}

static const struct {
	const char *name;
	unsigned int req;
} requests[] = {
	{ "read", UHMM_DMIRROR_READ },
	{ "write", UHMM_DMIRROR_WRITE },
	{ "migrate", UHMM_DMIRROR_MIGRATE_TO_DEV },
	{ "migrate-to-dev", UHMM_DMIRROR_MIGRATE_TO_DEV },
	{ "migrate-to-sys", UHMM_DMIRROR_MIGRATE_TO_SYS },
	{ "snapshot", UHMM_DMIRROR_SNAPSHOT },
	{ "exclusive", UHMM_DMIRROR_EXCLUSIVE },
	{ "check-exclusive", UHMM_DMIRROR_CHECK_EXCLUSIVE },
	{ "release", UHMM_DMIRROR_RELEASE },
	{ "flags", UHMM_DMIRROR_FLAGS },
};

static int c_ioctl(struct script *s, struct stmt *st)
{
	unsigned long req;
	size_t k;

	if (nargs(s, st, 4, 5, "FILE REQUEST ADDR PAGES [PATTERN]") ||
	    (st->sym = ref(s, st, st->tok[1], K(SYM_FILE))) < 0)
		return CLI_USAGE;
	for (k = 0; k < sizeof(requests) / sizeof(requests[0]); k++)
		if (!strcmp(st->tok[2], requests[k].name))
			break;
	if (k < sizeof(requests) / sizeof(requests[0]))
		st->req = requests[k].req;
	else if (!parse_ulong(st->tok[2], 0, 0xffff, &req))
		st->req = (unsigned int)req;	/* a raw number: tests unknown requests */
	else
		return script_usage(s, st->line, "unknown request '%s' (read, write, migrate, migrate-to-sys, "
						 "snapshot, exclusive, ...)", st->tok[2]);
	if (p_addr(s, st, st->tok[3], &st->a))
		return CLI_USAGE;
	if (st->req == UHMM_DMIRROR_FLAGS) {
		if (parse_ulong(st->tok[4], 0, ~0UL, &st->n))
			return script_usage(s, st->line, "flags value '%s' is not a number", st->tok[4]);
	} else if (p_pages(s, st, st->tok[4], SCRIPT_MAX_IO_PAGES, &st->n)) {
		return CLI_USAGE;
	}
	if (st->ntok == 6) {
		if (pattern_parse(st->tok[5], &st->pat))
			return script_usage(s, st->line, "bad pattern '%s' (i, -i, i+N, i-N, zero, 0xNN)", st->tok[5]);
		st->has_pat = true;
	}
	return 0;
}

static int c_file_or_dev(struct script *s, struct stmt *st)	/* reset, stats */
{
	if (nargs(s, st, 1, 1, "a device FILE or DEVICE"))
		return CLI_USAGE;
	st->sym = ref(s, st, st->tok[1], K(SYM_FILE) | K(SYM_DEVICE));
	return st->sym < 0 ? CLI_USAGE : 0;
}

static int c_print(struct script *s, struct stmt *st)
{
	(void)s;
	(void)st;
	return 0;
}

/* ------------------------------------------------------------ expect */
static int c_expect_ok(struct script *s, struct stmt *st)
{
	st->checks_error = true;
	return nargs(s, st, 1, 1, "nothing");
}

static int c_expect_error(struct script *s, struct stmt *st)
{
	int e;

	st->checks_error = true;
	/* The statement before may be a creation that this expects to fail: from
	 * here on its name may be created again. */
	if (s->nstmts >= 2 && s->stmts[s->nstmts - 2].creates)
		s->syms[s->stmts[s->nstmts - 2].creates - 1].live_line = 0;
	if (nargs(s, st, 2, 2, "an ERRNO (EFAULT, -14, ... or 0)"))
		return CLI_USAGE;
	if (!strcmp(st->tok[2], "0")) {
		st->err = 0;
		return 0;
	}
	e = errno_parse(st->tok[2]);
	if (e < 0)
		return script_usage(s, st->line, "'%s' is not an errno name or number", st->tok[2]);
	st->err = e;
	return 0;
}

static int c_expect_num(struct script *s, struct stmt *st)	/* cpages, faults, vmas */
{
	if (st->ntok < 3)
		return script_usage(s, st->line, "expect %s takes [OP] NUMBER", st->tok[1]);
	return p_cmp_value(s, st, 2, 0);
}

static int c_expect_counter(struct script *s, struct stmt *st)
{
	if (st->ntok < 5)
		return script_usage(s, st->line, "expect counter takes FILE|DEVICE NAME [OP] NUMBER");
	st->sym = ref(s, st, st->tok[2], K(SYM_FILE) | K(SYM_DEVICE));
	if (st->sym < 0)
		return CLI_USAGE;
	st->field = st->tok[3];
	if (s->syms[st->sym].kind == SYM_FILE ? counter_file(st->field, NULL, NULL)
					      : counter_device(st->field, NULL, NULL))
		return script_usage(s, st->line, "no counter '%s' on %s (see uhmm(1), COUNTERS)", st->field,
				    kind_name(s->syms[st->sym].kind));
	return p_cmp_value(s, st, 4, 0);
}

static const struct {
	const char *name;
	unsigned int v;
} prot_names[] = {
	{ "ERROR", UHMM_DMIRROR_PROT_ERROR },
	{ "NONE", UHMM_DMIRROR_PROT_NONE },
	{ "READ", UHMM_DMIRROR_PROT_READ },
	{ "WRITE", UHMM_DMIRROR_PROT_WRITE },
	{ "PMD", UHMM_DMIRROR_PROT_PMD },
	{ "PUD", UHMM_DMIRROR_PROT_PUD },
	{ "ZERO", UHMM_DMIRROR_PROT_ZERO },
	{ "DEV_PRIVATE_LOCAL", UHMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL },
	{ "DEV_PRIVATE_REMOTE", UHMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE },
	{ "DEV_COHERENT_LOCAL", UHMM_DMIRROR_PROT_DEV_COHERENT_LOCAL },
	{ "DEV_COHERENT_REMOTE", UHMM_DMIRROR_PROT_DEV_COHERENT_REMOTE },
};

/* One snapshot byte: 0xNN or NAME|NAME..., optionally *COUNT. */
static int p_snap(const char *t, unsigned int *byte, unsigned long *count)
{
	char buf[128], *star, *part, *save;
	unsigned long v;

	if (strlen(t) >= sizeof(buf))
		return -1;
	strcpy(buf, t);
	*count = 1;
	star = strchr(buf, '*');
	if (star) {
		*star = 0;
		if (parse_ulong(star + 1, 1, SCRIPT_MAX_IO_PAGES, count))
			return -1;
	}
	*byte = 0;
	for (part = strtok_r(buf, "|", &save); part; part = strtok_r(NULL, "|", &save)) {
		size_t k;

		for (k = 0; k < sizeof(prot_names) / sizeof(prot_names[0]); k++)
			if (!strcasecmp(part, prot_names[k].name))
				break;
		if (k < sizeof(prot_names) / sizeof(prot_names[0]))
			*byte |= prot_names[k].v;
		else if (!parse_ulong(part, 0, 0xff, &v))
			*byte |= (unsigned int)v;
		else
			return -1;
	}
	return buf[0] ? 0 : -1;
}

static int c_expect_snapshot(struct script *s, struct stmt *st)
{
	size_t total = 0;
	int i;

	if (st->ntok < 3)
		return script_usage(s, st->line, "expect snapshot takes BYTE... (0xNN or NAME|NAME, each [*COUNT])");
	for (int pass = 0; pass < 2; pass++) {
		for (i = 2; i < st->ntok; i++) {
			unsigned int b;
			unsigned long c;

			if (p_snap(st->tok[i], &b, &c))
				return script_usage(s, st->line, "bad snapshot byte '%s' (0xNN or NAME|NAME, "
								 "optionally *COUNT)", st->tok[i]);
			if (pass == 0) {
				total += c;
				if (total > SCRIPT_MAX_IO_PAGES)
					return script_usage(s, st->line, "snapshot longer than %lu bytes",
							    SCRIPT_MAX_IO_PAGES);
				continue;
			}
			memset(st->bytes + st->nbytes, (int)b, c);
			st->nbytes += c;
		}
		if (pass == 0) {
			st->bytes = malloc(total);
			if (!st->bytes)
				return script_usage(s, st->line, "out of memory");
		}
	}
	return 0;
}

static int c_expect_mirror(struct script *s, struct stmt *st)
{
	int i = 2;

	st->sym = -1;
	if (st->ntok == 6) {
		if ((st->sym = ref(s, st, st->tok[2], K(SYM_FILE))) < 0)
			return CLI_USAGE;
		i = 3;
	} else if (st->ntok != 5) {
		return script_usage(s, st->line, "expect mirror takes [FILE] ADDR PAGES PATTERN");
	}
	if (p_addr(s, st, st->tok[i], &st->a) || p_pages(s, st, st->tok[i + 1], SCRIPT_MAX_IO_PAGES, &st->n))
		return CLI_USAGE;
	if (pattern_parse(st->tok[i + 2], &st->pat))
		return script_usage(s, st->line, "bad pattern '%s' (i, -i, i+N, i-N, zero, 0xNN)", st->tok[i + 2]);
	return 0;
}

static int c_expect_data(struct script *s, struct stmt *st)
{
	if (st->ntok != 5)
		return script_usage(s, st->line, "expect data takes ADDR PAGES PATTERN");
	if (p_addr(s, st, st->tok[2], &st->a) || p_pages(s, st, st->tok[3], SCRIPT_MAX_IO_PAGES, &st->n))
		return CLI_USAGE;
	if (pattern_parse(st->tok[4], &st->pat))
		return script_usage(s, st->line, "bad pattern '%s' (i, -i, i+N, i-N, zero, 0xNN)", st->tok[4]);
	return 0;
}

static const char *const pte_kinds[] = { "none", "present", "zero", "device-private", "device-exclusive",
					 "migration" };

static int p_pte_kind(struct script *s, struct stmt *st, const char *t)
{
	for (int k = 0; k < 6; k++)
		if (!strcmp(t, pte_kinds[k])) {
			st->kind = k;
			return 0;
		}
	return script_usage(s, st->line, "unknown PTE kind '%s' (none, present, zero, device-private, "
					 "device-exclusive, migration)", t);
}

static int c_expect_pte(struct script *s, struct stmt *st)
{
	if (st->ntok < 4 || st->ntok > 5)
		return script_usage(s, st->line, "expect pte takes ADDR KIND [write|ro]");
	if (p_addr(s, st, st->tok[2], &st->a) || p_pte_kind(s, st, st->tok[3]))
		return CLI_USAGE;
	st->value = -1;
	if (st->ntok == 5) {
		if (strcmp(st->tok[4], "write") && strcmp(st->tok[4], "ro"))
			return script_usage(s, st->line, "expected 'write' or 'ro', not '%s'", st->tok[4]);
		st->value = !strcmp(st->tok[4], "write");
	}
	return 0;
}

static int c_expect_ptes(struct script *s, struct stmt *st)
{
	if (st->ntok < 6)
		return script_usage(s, st->line, "expect ptes takes ADDR PAGES KIND [OP] NUMBER");
	if (p_addr(s, st, st->tok[2], &st->a) || p_pages(s, st, st->tok[3], SCRIPT_MAX_MAP_PAGES, &st->n) ||
	    p_pte_kind(s, st, st->tok[4]))
		return CLI_USAGE;
	return p_cmp_value(s, st, 5, 0);
}

static int c_expect_system(struct script *s, struct stmt *st)
{
	static const char *fields[] = { "ram_pages", "free_pages", "used_pages", "device_pages",
					"device_pages_used" };
	int k;

	if (st->ntok < 4)
		return script_usage(s, st->line, "expect system takes FIELD [OP] NUMBER");
	for (k = 0; k < 5; k++)
		if (!strcmp(st->tok[2], fields[k]))
			break;
	if (k == 5)
		return script_usage(s, st->line, "unknown system field '%s' (ram_pages, free_pages, used_pages, "
						 "device_pages, device_pages_used)", st->tok[2]);
	st->kind = k;
	return p_cmp_value(s, st, 3, 0);
}

static int c_ptes(struct script *s, struct stmt *st)
{
	if (nargs(s, st, 2, 2, "ADDR PAGES") || p_addr(s, st, st->tok[1], &st->a) ||
	    p_pages(s, st, st->tok[2], SCRIPT_MAX_MAP_PAGES, &st->n))
		return CLI_USAGE;
	return 0;
}

static const struct spec {
	const char *name;	/* "expect cpages": two words */
	int (*parse)(struct script *, struct stmt *);
	stmt_fn run;
} specs[] = {
	{ "system", c_system, x_system },
	{ "mm", c_mm, x_mm },
	{ "use", c_use_exit, x_use },
	{ "fork", c_fork, x_fork },
	{ "exit", c_use_exit, x_exit },
	{ "mmap", c_mmap, x_mmap },
	{ "munmap", c_range, x_munmap },
	{ "mprotect", c_mprotect, x_mprotect },
	{ "madvise", c_madvise, x_madvise },
	{ "mremap", c_mremap, x_mremap },
	{ "write", c_data, x_write },
	{ "read", c_data, x_read },
	{ "device", c_device, x_device },
	{ "open", c_open, x_open },
	{ "close", c_close, x_close },
	{ "ioctl", c_ioctl, x_ioctl },
	{ "reset", c_file_or_dev, x_reset },
	{ "stats", c_file_or_dev, x_stats },
	{ "ptes", c_ptes, x_ptes },
	{ "print", c_print, x_print },
	{ "expect ok", c_expect_ok, x_expect_ok },
	{ "expect error", c_expect_error, x_expect_error },
	{ "expect cpages", c_expect_num, x_expect_cpages },
	{ "expect faults", c_expect_num, x_expect_faults },
	{ "expect counter", c_expect_counter, x_expect_counter },
	{ "expect snapshot", c_expect_snapshot, x_expect_snapshot },
	{ "expect mirror", c_expect_mirror, x_expect_mirror },
	{ "expect data", c_expect_data, x_expect_data },
	{ "expect pte", c_expect_pte, x_expect_pte },
	{ "expect ptes", c_expect_ptes, x_expect_ptes },
	{ "expect vmas", c_expect_num, x_expect_vmas },
	{ "expect system", c_expect_system, x_expect_system },
};

static const struct spec *find_spec(const struct stmt *st)
{
	char two[64];

	if (!strcmp(st->tok[0], "expect")) {
		if (st->ntok < 2)
			return NULL;
		snprintf(two, sizeof(two), "expect %s", st->tok[1]);
	} else {
		snprintf(two, sizeof(two), "%s", st->tok[0]);
	}
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
		if (!strcmp(specs[i].name, two))
			return &specs[i];
	return NULL;
}

/* "unknown command" or "unknown check", with the nearest command if any. */
static int unknown_command(struct script *s, const struct stmt *st)
{
	const char *names[sizeof(specs) / sizeof(specs[0])], *near;
	char two[64];
	size_t n = 0;
	bool expect = !strcmp(st->tok[0], "expect");

	if (expect)
		snprintf(two, sizeof(two), "expect %s", st->ntok > 1 ? st->tok[1] : "");
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		bool is_expect = !strncmp(specs[i].name, "expect ", 7);

		if (is_expect == expect)
			names[n++] = expect ? specs[i].name + 7 : specs[i].name;
	}
	near = closest(expect ? (st->ntok > 1 ? st->tok[1] : "") : st->tok[0], names, n);
	if (expect)
		return near ? script_usage(s, st->line, "unknown check '%s'; did you mean 'expect %s'?", two, near)
			    : script_usage(s, st->line, "unknown check 'expect%s%s' (see uhmm(1), Checks)",
					   st->ntok > 1 ? " " : "", st->ntok > 1 ? st->tok[1] : "");
	return near ? script_usage(s, st->line, "unknown command '%s'; did you mean '%s'?", st->tok[0], near)
		    : script_usage(s, st->line, "unknown command '%s'", st->tok[0]);
}

/* Split @line (modified in place) into st->tok; NUL bytes were rejected. */
static int tokenize(struct script *s, struct stmt *st, char *line)
{
	char *save, *t;

	st->ntok = 0;
	for (t = strtok_r(line, " \t\r\f\v", &save); t; t = strtok_r(NULL, " \t\r\f\v", &save)) {
		if (st->ntok == SCRIPT_MAX_TOKENS)
			return script_usage(s, st->line, "too many words (at most %d)", SCRIPT_MAX_TOKENS);
		st->tok[st->ntok++] = t;
	}
	return 0;
}

/* Errors reported in one pass before giving up, as compilers do. */
#define SCRIPT_MAX_ERRORS 20

int script_parse(struct script *s, const char *file, char *source)
{
	char *p = source, *nl;
	int line = 0, cap = 0, errors = 0;

	s->file = file;
	s->source = source;
	s->cur_mm = -1;
	s->last_file = -1;
	/* The implicit address space "main", created when first needed. */
	snprintf(s->syms[0].name, sizeof(s->syms[0].name), "main");
	s->syms[0].kind = SYM_MM;
	s->syms[0].file_mm = -1;
	s->nsyms = 1;
	s->main_mm = 0;
	for (; *p; p = *nl ? nl + 1 : nl) {
		struct stmt *st;
		char *hash, *end, *copy;
		const struct spec *sp;
		size_t len;

		line++;
		nl = strchr(p, '\n');
		if (!nl)
			nl = p + strlen(p);
		len = (size_t)(nl - p);
		hash = memchr(p, '#', len);
		end = hash ? hash : nl;
		while (end > p && isspace((unsigned char)end[-1]))
			end--;
		while (p < end && isspace((unsigned char)*p))
			p++;
		if (p == end)
			continue;
		if (s->nstmts == cap) {
			struct stmt *n = realloc(s->stmts, (size_t)(cap ? cap * 2 : 64) * sizeof(*n));

			if (!n)
				return script_usage(s, line, "out of memory");
			s->stmts = n;
			cap = cap ? cap * 2 : 64;
		}
		st = &s->stmts[s->nstmts];
		memset(st, 0, sizeof(*st));
		st->line = line;
		st->text = strndup(p, (size_t)(end - p));
		copy = strndup(p, (size_t)(end - p));
		if (!st->text || !copy) {
			free(st->text);
			free(copy);
			return script_usage(s, line, "out of memory");
		}
		s->nstmts++;
		st->tok[SCRIPT_MAX_TOKENS - 1] = NULL;
		/* tok[] points into copy, freed through tok[0] (the first token
		 * starts at copy[0]: leading blanks were trimmed). */
		/* A bad line is reported and skipped: every malformed line of the
		 * script is reported in one pass (up to SCRIPT_MAX_ERRORS). */
		if (tokenize(s, st, copy)) {
			free(copy);
			st->ntok = 0;
			errors++;
		} else if (!(sp = find_spec(st))) {
			unknown_command(s, st);
			errors++;
		} else {
			st->run = sp->run;
			st->is_expect = !strncmp(sp->name, "expect", 6);
			if (sp->parse(s, st))
				errors++;
		}
		if (errors >= SCRIPT_MAX_ERRORS) {
			fprintf(stderr, "%s:%d: error: too many errors (%d); stopping here\n", s->file, line, errors);
			return CLI_USAGE;
		}
	}
	if (errors)
		return CLI_USAGE;
	if (s->nstmts == 0)
		return script_usage(s, line ? line : 1, "the script has no statements");
	return CLI_OK;
}

void script_free(struct script *s)
{
	for (int i = 0; i < s->nstmts; i++) {
		free(s->stmts[i].text);
		if (s->stmts[i].ntok)
			free(s->stmts[i].tok[0]);
		free(s->stmts[i].bytes);
	}
	free(s->stmts);
	for (int i = 0; i < s->nsyms; i++)
		free(s->syms[i].buf);
	free(s->source);
}
