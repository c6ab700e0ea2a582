/* SPDX-License-Identifier: MIT */
/* script.h - the uhmm scenario language: parsed statements and symbols.
 *
 * script.c parses and checks a whole script before anything runs (a bad
 * line is a usage error, exit 2, and nothing is executed); script_exec.c
 * runs the statements against libuhmm; pattern.c fills and checks data.
 * The language is documented in doc/uhmm.1.
 */
#ifndef UHMM_CLI_SCRIPT_H
#define UHMM_CLI_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <uhmm/dmirror.h>
#include <uhmm/uhmm.h>

#define SCRIPT_MAX_TOKENS 40
/* uhmm run warns when a file's notifier retried this many times in a row (issue 13). */
#define SCRIPT_RETRY_STREAK_WARN 16
#define SCRIPT_MAX_SYMS 256
#define SCRIPT_NAME_MAX 31
#define SCRIPT_MAX_MAP_PAGES (1UL << 24)	/* mmap and friends: 64 GiB of address space */
#define SCRIPT_MAX_IO_PAGES (1UL << 16)		/* data-moving commands: 256 MiB of host buffer */
#define SCRIPT_MAX_RAM_MIB (64UL << 10)

enum sym_kind { SYM_NONE, SYM_ADDR, SYM_MM, SYM_DEVICE, SYM_FILE };

struct sym {
	char name[SCRIPT_NAME_MAX + 1];
	enum sym_kind kind;
	/* parse time: the line of the statement that created the address space,
	 * device or open file while it exists (0: not created, exited, closed) */
	int live_line;
	/* runtime */
	unsigned long addr;			/* SYM_ADDR */
	struct uhmm_mm *mm;			/* SYM_MM: NULL until created */
	bool exited;				/* SYM_MM: its last user was put */
	struct uhmm_dmirror_device *dev;	/* SYM_DEVICE */
	struct uhmm_dmirror *file;		/* SYM_FILE: NULL until opened / after close */
	int file_mm;				/* SYM_FILE: the mm symbol it mirrors */
	struct uhmm_dmirror_stats base;		/* SYM_FILE: counters at the last 'reset' */
	struct uhmm_dmirror_device_stats dbase;	/* SYM_DEVICE: idem */
	/* SYM_FILE: the buffer of its last request (cmd.ptr) */
	unsigned char *buf;
	size_t buf_len;
	unsigned long buf_addr, buf_pages;
	unsigned int last_req;
	bool has_req;
};

/* An address: a symbol plus a page offset, or a literal. The pattern index
 * i of data at an address counts ints from the symbol's value (the start of
 * the mapping), or from the literal. */
struct addr_expr {
	int sym;		/* -1: literal */
	long off_pages;
	unsigned long literal;
};

enum pat_kind { PAT_INDEX, PAT_BYTE };
struct pattern {
	enum pat_kind kind;
	int sign;		/* PAT_INDEX: +1 for i, -1 for -i */
	long add;		/* PAT_INDEX: i + add */
	unsigned char byte;	/* PAT_BYTE */
	char text[24];
};

enum cmp_op { CMP_EQ, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE };

struct script;
struct stmt;
typedef int (*stmt_fn)(struct script *s, struct stmt *st);

struct stmt {
	int line;
	char *text;			/* the line, comments and outer blanks removed */
	int ntok;
	char *tok[SCRIPT_MAX_TOKENS];
	stmt_fn run;
	bool is_expect;			/* an assertion: may follow a failed call */
	bool checks_error;		/* 'expect ok' / 'expect error': consumes a failure */
	int creates;			/* symbol + 1 this statement creates, else 0 */
	/* arguments, by command */
	int sym, sym2, sym3;
	struct addr_expr a, a2;
	unsigned long n, n2;		/* page counts, values */
	int prot, flags, advice, kind;
	unsigned int req;
	bool has_pat, has_a2, flag;
	int policy;			/* device: enum uhmm_dmirror_filter */
	bool excl;			/* device: filter_exclusive */
	struct pattern pat;
	enum cmp_op cmp;
	long value;
	int err;			/* expected errno (positive), 0 for ok */
	unsigned char *bytes;		/* expected snapshot */
	size_t nbytes;
	const char *field;		/* counter name */
};

struct script {
	const char *file;		/* for messages */
	char *source;			/* the whole text (owns tok/text storage) */
	struct stmt *stmts;
	int nstmts;
	struct sym syms[SCRIPT_MAX_SYMS];
	int nsyms;
	bool verbose;
	/* runtime */
	size_t ram_mib;
	enum uhmm_thp_mode thp;	/* system ... thp MODE */
	struct uhmm_system *sys;
	int cur_mm;			/* symbol index of the current mm, -1 none */
	int main_mm;			/* the implicit "main" mm symbol */
	int last_err;			/* result of the last call (0 or -errno) */
	const char *last_call;		/* its name, for messages */
	int pending_line;		/* a failed call not yet checked by expect, or 0 */
	unsigned long ncalls;		/* calls recorded so far (-v prints each result) */
	int last_file;			/* symbol of the last dmirror request, -1 none */
	struct uhmm_dmirror_cmd last_cmd;
	unsigned long checks;
};

/* script.c */
int script_parse(struct script *s, const char *file, char *source);	/* CLI_OK or CLI_USAGE */
void script_free(struct script *s);
__attribute__((format(printf, 3, 4))) int script_usage(const struct script *s, int line, const char *fmt, ...);
__attribute__((format(printf, 3, 4))) int script_failed(const struct script *s, const struct stmt *st,
							const char *fmt, ...);

/* script_exec.c: the statement handlers the parser points at. */
int script_run(struct script *s);	/* exit status */
int x_system(struct script *, struct stmt *);
int x_mm(struct script *, struct stmt *);
int x_use(struct script *, struct stmt *);
int x_fork(struct script *, struct stmt *);
int x_exit(struct script *, struct stmt *);
int x_mmap(struct script *, struct stmt *);
int x_munmap(struct script *, struct stmt *);
int x_mprotect(struct script *, struct stmt *);
int x_madvise(struct script *, struct stmt *);
int x_mremap(struct script *, struct stmt *);
int x_write(struct script *, struct stmt *);
int x_read(struct script *, struct stmt *);
int x_device(struct script *, struct stmt *);
int x_open(struct script *, struct stmt *);
int x_close(struct script *, struct stmt *);
int x_ioctl(struct script *, struct stmt *);
int x_reset(struct script *, struct stmt *);
int x_stats(struct script *, struct stmt *);
int x_ptes(struct script *, struct stmt *);
int x_print(struct script *, struct stmt *);
int x_expect_ok(struct script *, struct stmt *);
int x_expect_error(struct script *, struct stmt *);
int x_expect_cpages(struct script *, struct stmt *);
int x_expect_faults(struct script *, struct stmt *);
int x_expect_counter(struct script *, struct stmt *);
int x_expect_snapshot(struct script *, struct stmt *);
int x_expect_mirror(struct script *, struct stmt *);
int x_expect_data(struct script *, struct stmt *);
int x_expect_pte(struct script *, struct stmt *);
int x_expect_ptes(struct script *, struct stmt *);
int x_expect_vmas(struct script *, struct stmt *);
int x_expect_system(struct script *, struct stmt *);

/* pattern.c */
int pattern_parse(const char *s, struct pattern *p);	/* 0 or -1 */
/* Fill or check @len bytes at @addr with @p, i counting ints from @base. */
void pattern_fill(const struct pattern *p, unsigned long base, unsigned long addr, void *buf, size_t len);
/* Returns the index of the first mismatching int (its values in want, got), or -1. */
long pattern_check(const struct pattern *p, unsigned long base, unsigned long addr, const void *buf, size_t len,
		   int *want, int *got);

/* Counters by name: dmirror file counters and device counters. */
int counter_file(const char *name, const struct uhmm_dmirror_stats *st, unsigned long *out);	/* 0 / -1 */
int counter_device(const char *name, const struct uhmm_dmirror_device_stats *st, unsigned long *out);
bool cmp_eval(enum cmp_op op, long a, long b);
const char *cmp_text(enum cmp_op op);

#endif
