/*
 * fuzz_size_hash.c — the small parsers of a manifest's values: fileSize
 * (mm_parse_size) and hash (mm_hash_parse).  The first byte picks which.
 */
#include "fuzz.h"
#include "hash.h"
#include "manifest.h"

#include <ctype.h>

static void size_case(const char *s)
{
	long long n = mm_parse_size(s);
	char buf[32];

	FUZZ_ASSERT(n >= -1);
	FUZZ_ASSERT(n <= (1LL << 53));
	if (n >= 0) {
		/* A parsed size prints, and the printed form parses again. */
		mm_format_size(n, buf, sizeof(buf));
		FUZZ_ASSERT(mm_parse_size(buf) >= 0);
	}
}

static void hash_case(const char *s)
{
	struct mm_hash_spec spec;
	struct mm_err err = {0};
	size_t i, n;

	memset(&spec, 0x55, sizeof(spec));
	if (mm_hash_parse(s, &spec, &err) != 0) {
		FUZZ_ASSERT(err.code == MM_EINPUT && err.msg[0] != '\0');
		return;
	}
	/* Accepted: a known algorithm and exactly its digest, lowercase hex. */
	FUZZ_ASSERT(spec.algo != MM_HASH_NONE);
	n = mm_hash_hexlen(spec.algo);
	FUZZ_ASSERT(n > 0 && strlen(spec.hex) == n);
	for (i = 0; i < n; i++)
		FUZZ_ASSERT(isdigit((unsigned char)spec.hex[i]) ||
			    (spec.hex[i] >= 'a' && spec.hex[i] <= 'f'));
	FUZZ_ASSERT(strcmp(mm_hash_algo_name(spec.algo), "none") != 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1)
		return 0;
	s = fuzz_cstr(data + 1, size - 1);
	if (data[0] & 1)
		hash_case(s);
	else
		size_case(s);
	free(s);
	return 0;
}
