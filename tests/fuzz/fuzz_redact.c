/*
 * fuzz_redact.c — mm_redact, which every log line passes through: a
 * registered token never survives it, whatever text surrounds it.
 */
#include "fuzz.h"
#include "log.h"

#define SECRET "hf_FuzzSecretToken42"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int once;
	char *s = fuzz_cstr(data, size), *r;

	if (!once) {
		mm_log_secret(SECRET);
		once = 1;
	}
	r = mm_redact(s);
	FUZZ_ASSERT(r != NULL);
	if (strstr(r, SECRET))
		fprintf(stderr, "in: %s\nout: %s\n", s, r);
	FUZZ_ASSERT(strstr(r, SECRET) == NULL);
	free(r);
	free(s);
	return 0;
}
