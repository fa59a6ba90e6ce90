/* size.c — the size rule shared by mm-fetch and mm-verify (size.h). */
#include "size.h"

#include <ctype.h>
#include <stdlib.h>

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
