/* SPDX-License-Identifier: MIT */
/* util.c - messages, errno names and strict number parsing for the uhmm CLI. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

const char *cli_prog = "uhmm";

static void vmsg(const char *fmt, va_list ap)
{
	fflush(stdout);
	fprintf(stderr, "%s: ", cli_prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int cli_usage(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	return CLI_USAGE;
}

int cli_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	return CLI_FAIL;
}

void cli_note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
}

int cli_fail_call(const char *call, int err)
{
	char d[96];

	return cli_fail("%s: %s", call, errno_describe(err < 0 ? err : -err, d, sizeof(d)));
}

static const struct {
	int err;
	const char *name;
} errnos[] = {
	{ EPERM, "EPERM" },	{ ENOENT, "ENOENT" },	{ ESRCH, "ESRCH" },	{ EINTR, "EINTR" },
	{ EIO, "EIO" },		{ ENXIO, "ENXIO" },	{ E2BIG, "E2BIG" },	{ EBADF, "EBADF" },
	{ EAGAIN, "EAGAIN" },	{ ENOMEM, "ENOMEM" },	{ EACCES, "EACCES" },	{ EFAULT, "EFAULT" },
	{ EBUSY, "EBUSY" },	{ EEXIST, "EEXIST" },	{ ENODEV, "ENODEV" },	{ EINVAL, "EINVAL" },
	{ ENOSPC, "ENOSPC" },	{ ERANGE, "ERANGE" },	{ ENOSYS, "ENOSYS" },	{ ENOTSUP, "ENOTSUP" },
	{ EOVERFLOW, "EOVERFLOW" }, { ETIMEDOUT, "ETIMEDOUT" }, { EHWPOISON, "EHWPOISON" },
};

const char *errno_name(int err)
{
	if (err < 0)
		err = -err;
	for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
		if (errnos[i].err == err)
			return errnos[i].name;
	return NULL;
}

int errno_parse(const char *s)
{
	long v;

	for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
		if (!strcmp(s, errnos[i].name) || (s[0] == '-' && !strcmp(s + 1, errnos[i].name)))
			return errnos[i].err;
	if (parse_long(s, -4095, 4095, &v) || v == 0)
		return -1;
	return (int)(v < 0 ? -v : v);
}

const char *errno_describe(int r, char *buf, size_t len)
{
	const char *n = errno_name(r);

	if (r == 0)
		snprintf(buf, len, "0 (success)");
	else if (n)
		snprintf(buf, len, "%s%s (%s)", r < 0 ? "-" : "", n, strerror(r < 0 ? -r : r));
	else
		snprintf(buf, len, "%d (%s)", r, strerror(r < 0 ? -r : r));
	return buf;
}

int parse_ulong(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || v < lo || v > hi)
		return -1;
	*out = (unsigned long)v;
	return 0;
}

int parse_long(const char *s, long lo, long hi, long *out)
{
	long long v;
	char *end;

	if (!s || !*s || *s == ' ')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 0);
	if (errno || *end || v < lo || v > hi)
		return -1;
	*out = (long)v;
	return 0;
}

int parse_double(const char *s, double lo, double hi, double *out)
{
	double v;
	char *end;

	if (!s || !*s || *s == ' ')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

const char *opt_value(int argc, char **argv, int *i, const char *name, bool *missing)
{
	size_t n = strlen(name);
	const char *a = argv[*i];

	*missing = false;
	if (strncmp(a, name, n))
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n])
		return NULL;
	if (*i + 1 >= argc) {
		*missing = true;
		return NULL;
	}
	return argv[++*i];
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
