/* mm.c — errors, allocation and small conversions shared by all of libmm. */
#include "mm.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int mm_error(struct mm_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

int mm_error_prefix(struct mm_err *err, const char *fmt, ...)
{
	char old[MM_ERRSZ];
	size_t n;
	va_list ap;

	if (!err)
		return MM_EFAIL;
	memcpy(old, err->msg, sizeof(old));
	old[sizeof(old) - 1] = '\0';
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	n = strlen(err->msg);
	if (n + 2 < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", old);
	return err->code;
}

void mm_oom(size_t n)
{
	if (n)
		fprintf(stderr, "mm: out of memory allocating %zu bytes\n", n);
	else
		fprintf(stderr, "mm: out of memory\n");
	abort();
}

void *mm_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		mm_oom(n);
	return p;
}

void *mm_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		mm_oom(n * size);
	return p;
}

void *mm_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		mm_oom(n);
	return q;
}

char *mm_xstrdup(const char *s)
{
	return mm_xstrndup(s, strlen(s));
}

char *mm_xstrndup(const char *s, size_t n)
{
	char *p = mm_xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void mm_buf_room(struct mm_buf *b, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = mm_xrealloc(b->p, b->cap);
	}
}

void mm_buf_put(struct mm_buf *b, const char *s, size_t n)
{
	mm_buf_room(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

char *mm_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (n < 0)
		mm_oom(strlen(fmt));
	return p;
}

int mm_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int mm_parse_double(const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || end == s || !isfinite(v) || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

void mm_iso8601(long long secs, char buf[32])
{
	time_t t = (time_t)secs;
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, 32, "%lld", secs);
}

void mm_iso8601_now(char buf[32])
{
	mm_iso8601((long long)time(NULL), buf);
}

double mm_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
