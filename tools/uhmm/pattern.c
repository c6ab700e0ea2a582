/* SPDX-License-Identifier: MIT */
/* pattern.c - checkable data patterns, counter names and comparisons for scripts.
 *
 * A pattern gives every int of a range a value, as hmm-tests' "fill(i)"
 * does: i (int number i holds i), -i, i+N, i-N, or every byte equal (zero,
 * 0xNN). i counts ints from the pattern's base address.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "script.h"

int pattern_parse(const char *s, struct pattern *p)
{
	unsigned long b;
	long add = 0;
	const char *q = s;

	memset(p, 0, sizeof(*p));
	if (strlen(s) >= sizeof(p->text))
		return -1;
	snprintf(p->text, sizeof(p->text), "%s", s);
	if (!strcmp(s, "zero")) {
		p->kind = PAT_BYTE;
		return 0;
	}
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		if (parse_ulong(s, 0, 0xff, &b))
			return -1;
		p->kind = PAT_BYTE;
		p->byte = (unsigned char)b;
		return 0;
	}
	p->kind = PAT_INDEX;
	p->sign = 1;
	if (*q == '-') {
		p->sign = -1;
		q++;
	}
	if (*q++ != 'i')
		return -1;
	if (*q == '+' || *q == '-') {
		if (parse_long(q + 1, 0, 1L << 30, &add))
			return -1;
		if (*q == '-')
			add = -add;
	} else if (*q) {
		return -1;
	}
	p->add = add;
	return 0;
}

static int value_at(const struct pattern *p, long idx)
{
	if (p->kind == PAT_BYTE)
		return (int)(0x01010101u * p->byte);
	return (int)(unsigned int)(p->sign * idx + p->add);
}

void pattern_fill(const struct pattern *p, unsigned long base, unsigned long addr, void *buf, size_t len)
{
	long first = (long)(addr - base) / (long)sizeof(int);
	int *v = buf;

	if (p->kind == PAT_BYTE) {
		memset(buf, p->byte, len);
		return;
	}
	for (size_t k = 0; k < len / sizeof(int); k++)
		v[k] = value_at(p, first + (long)k);
}

long pattern_check(const struct pattern *p, unsigned long base, unsigned long addr, const void *buf, size_t len,
		   int *want, int *got)
{
	long first = (long)(addr - base) / (long)sizeof(int);
	const int *v = buf;

	for (size_t k = 0; k < len / sizeof(int); k++) {
		int w = value_at(p, first + (long)k);

		if (v[k] != w) {
			*want = w;
			*got = v[k];
			return (long)k;
		}
	}
	return -1;
}

#define FIELD(type, f) { #f, offsetof(type, f) }

int counter_file(const char *name, const struct uhmm_dmirror_stats *st, unsigned long *out)
{
	static const struct {
		const char *name;
		size_t off;
	} f[] = {
		FIELD(struct uhmm_dmirror_stats, invalidations),
		FIELD(struct uhmm_dmirror_stats, invalidations_skipped),
		FIELD(struct uhmm_dmirror_stats, ptes_zapped),
		FIELD(struct uhmm_dmirror_stats, faults),
		FIELD(struct uhmm_dmirror_stats, pages_to_dev),
		FIELD(struct uhmm_dmirror_stats, pages_to_sys),
		FIELD(struct uhmm_dmirror_stats, devmem_pages_in_use),
		FIELD(struct uhmm_dmirror_stats, ptes_migrated),
		FIELD(struct uhmm_dmirror_stats, max_retry_streak),
	};

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (!strcmp(name, f[i].name)) {
			if (st)
				*out = *(const unsigned long *)((const char *)st + f[i].off);
			return 0;
		}
	return -1;
}

int counter_device(const char *name, const struct uhmm_dmirror_device_stats *st, unsigned long *out)
{
	static const struct {
		const char *name;
		size_t off;
	} f[] = {
		FIELD(struct uhmm_dmirror_device_stats, chunks),
		FIELD(struct uhmm_dmirror_device_stats, pages_total),
		FIELD(struct uhmm_dmirror_device_stats, devmem_pages_in_use),
		FIELD(struct uhmm_dmirror_device_stats, pages_evicted),
		FIELD(struct uhmm_dmirror_device_stats, alloc_failures),
		FIELD(struct uhmm_dmirror_device_stats, files),
	};

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (!strcmp(name, f[i].name)) {
			if (st)
				*out = *(const unsigned long *)((const char *)st + f[i].off);
			return 0;
		}
	return -1;
}

bool cmp_eval(enum cmp_op op, long a, long b)
{
	switch (op) {
	case CMP_EQ: return a == b;
	case CMP_NE: return a != b;
	case CMP_LT: return a < b;
	case CMP_LE: return a <= b;
	case CMP_GT: return a > b;
	case CMP_GE: return a >= b;
	}
	return false;
}

const char *cmp_text(enum cmp_op op)
{
	static const char *t[] = { "==", "!=", "<", "<=", ">", ">=" };

	return t[op];
}
