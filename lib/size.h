/*
 * size.h — the one rule for "is this file the size the manifest says".
 * mm-fetch (is a file present, may a download be placed) and mm-verify (a
 * model without a hash) both use it, so they never disagree.
 *
 * A size is exact when it is a byte count: `fileSize` as a JSON number, as
 * digits ("1048576") or digits and B ("1024B"), or `sizeBytes` with no
 * `fileSize` (absent or null).  An exact size must match to the byte.
 *
 * Any other `fileSize` ("17.2GB", "1KB", "0.3 GiB") is a rounded hint.  A
 * file fits it when it is within MM_SIZE_SLACK_PCT percent of the hint plus
 * half a unit of the hint's last digit: 10% because a hint written in
 * decimal units (as Hugging Face writes them) is up to 9% smaller than the
 * same number in binary ones (as mm reads them), and half a digit because
 * that is how far rounding moves it ("1KB" is 512 to 1535 bytes, "0.3GB"
 * 0.25 to 0.35 GB, "17.2GB" 17.15 to 17.25 GB).  So "1.5GB" takes files of
 * 1.5 GiB +- 204.8 MiB, "1KB" 1024 +- 614 bytes.
 *
 * With a hash, the hash alone decides whether a file is right; the size is
 * only how mm-fetch tells cheaply that a file is there.
 */
#ifndef MM_SIZE_H
#define MM_SIZE_H

#include <cjson/cJSON.h>

#define MM_SIZE_SLACK_PCT 10

/*
 * How far a file may be from size bytes and still fit a model whose
 * fileSize is file_size (the JSON item, or NULL): 0 when size is exact (or
 * unknown, size < 0), else the tolerance above in bytes.
 */
long long mm_size_tolerance(const cJSON *file_size, long long size);

/* 1 when have bytes fit want (-1: unknown, anything fits) give or take tol. */
int mm_size_fits(long long want, long long tol, long long have);

/*
 * Parse a size hint: "17.2GB", "850MB", "0.3 GiB", "1024" (bytes).  Units
 * are binary (1 GB = 2^30 bytes), as the API uses them.  The number is
 * decimal (no hex, exponent, inf or nan); without a unit, or with "B"
 * alone, it is a whole number of bytes.  Returns bytes, or -1 when s is not
 * a size.
 */
long long mm_parse_size(const char *s);

/*
 * Bytes as the API spells them, binary units, three significant digits at
 * most: "17.2GB", "850MB", "8.0MB", "12KB", "3B".  buf >= 32.  The one
 * spelling of a size in mm's output: messages, progress, tables and the
 * fileSize a scan writes.
 */
void mm_format_size(long long bytes, char *buf, size_t bufsz);

#endif
