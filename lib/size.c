/* size.c — the size rule shared by mm-fetch and mm-verify (size.h). */
#include "size.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 1 when s is a byte count: digits, then optionally "B", spaces around. */
static int byte_count(const char *s)
{
	const char *d;

	while (isspace((unsigned char)*s))
		s++;
	for (d = s; isdigit((unsigned char)*d); d++)
		;
	if (d == s)
		return 0;
	while (isspace((unsigned char)*d))
		d++;
	if (*d == 'B' || *d == 'b')
		d++;
	while (isspace((unsigned char)*d))
		d++;
	return *d == '\0';
}

/* Half a unit of the last digit written in a hint such as "17.2GB". */
static long long half_digit(const char *s)
{
	double unit = 1;
	int decimals = 0, seen_dot = 0;

	while (isspace((unsigned char)*s))
		s++;
	for (; isdigit((unsigned char)*s) || *s == '.'; s++) {
		if (*s == '.')
			seen_dot = 1;
		else if (seen_dot)
			decimals++;
	}
	while (isspace((unsigned char)*s))
		s++;
	switch (toupper((unsigned char)*s)) {
	case 'K': unit = 1024.0; break;
	case 'M': unit = 1024.0 * 1024; break;
	case 'G': unit = 1024.0 * 1024 * 1024; break;
	case 'T': unit = 1024.0 * 1024 * 1024 * 1024; break;
	default: break;
	}
	while (decimals-- > 0)
		unit /= 10;
	return (long long)(unit / 2);
}

long long mm_size_tolerance(const cJSON *file_size, long long size)
{
	if (size < 0 || !cJSON_IsString(file_size) || !file_size->valuestring ||
	    byte_count(file_size->valuestring))
		return 0;
	return size / 100 * MM_SIZE_SLACK_PCT + size % 100 * MM_SIZE_SLACK_PCT / 100 +
	       half_digit(file_size->valuestring);
}

int mm_size_fits(long long want, long long tol, long long have)
{
	if (want < 0)
		return 1;
	if (have < 0)
		return 0;
	return have >= want - tol && have <= want + tol;
}

long long mm_parse_size(const char *s)
{
	const char *end;
	char num[64];
	double v, mult = 1;
	size_t n;
	int frac = 0;

	if (!s)
		return -1;
	while (isspace((unsigned char)*s))
		s++;
	/* Decimal only: digits, and a point with more digits; never strtod's hex, inf or 1e3. */
	for (end = s; isdigit((unsigned char)*end); end++)
		;
	if (end == s)
		return -1;
	if (*end == '.') {
		frac = 1;
		if (!isdigit((unsigned char)*++end))
			return -1;
		while (isdigit((unsigned char)*end))
			end++;
	}
	n = (size_t)(end - s);
	if (n >= sizeof(num))
		return -1;
	memcpy(num, s, n);
	num[n] = '\0';
	v = strtod(num, NULL);
	while (isspace((unsigned char)*end))
		end++;
	switch (toupper((unsigned char)*end)) {
	case 'K': mult = 1024.0; end++; break;
	case 'M': mult = 1024.0 * 1024; end++; break;
	case 'G': mult = 1024.0 * 1024 * 1024; end++; break;
	case 'T': mult = 1024.0 * 1024 * 1024 * 1024; end++; break;
	case 'B': case '\0': break;
	default: return -1;
	}
	if (mult > 1 && (*end == 'i' || *end == 'I'))
		end++;
	if (toupper((unsigned char)*end) == 'B')
		end++;
	while (isspace((unsigned char)*end))
		end++;
	if (*end || (frac && mult == 1))  /* a byte count is a whole number */
		return -1;
	v *= mult;
	if (v > 9007199254740992.0)  /* 2^53: exact in JSON */
		return -1;
	return (long long)v;
}

void mm_format_size(long long b, char *buf, size_t bufsz)
{
	static const char *const units[] = {"B", "KB", "MB", "GB", "TB"};
	double v = (double)b;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, bufsz, "%lldB", b);
	else
		snprintf(buf, bufsz, "%.*f%s", v < 10 ? 1 : v < 100 ? 1 : 0, v, units[u]);
}
