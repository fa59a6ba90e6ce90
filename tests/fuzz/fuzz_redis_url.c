/* fuzz_redis_url.c — REDIS_URL parsing, and the password kept out of its display. */
#include "fuzz.h"
#include "redis.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mm_redis_url u;
	struct mm_err err = {0};
	char *s = fuzz_cstr(data, size), *d;

	if (mm_redis_url_parse(s, &u, &err) != 0) {
		FUZZ_ASSERT(err.code == MM_EUSAGE && err.msg[0] != '\0');
		FUZZ_ASSERT(!u.host && !u.path && !u.user && !u.password);
		free(s);
		return 0;
	}
	FUZZ_ASSERT(u.is_unix ? u.path != NULL && u.path[0] == '/' : u.host != NULL);
	FUZZ_ASSERT(u.is_unix || (u.port >= 1 && u.port <= 65535));
	FUZZ_ASSERT(u.db >= 0);
	/*
	 * The display is exactly what it would be without a password: the
	 * password may only appear in it where it is also part of the host,
	 * path or user name themselves.
	 */
	d = mm_redis_url_display(&u);
	{
		struct mm_redis_url nopw = u;
		char *d2;

		nopw.password = NULL;
		d2 = mm_redis_url_display(&nopw);
		FUZZ_ASSERT(strcmp(d, d2) == 0);
		free(d2);
	}
	free(d);
	mm_redis_url_free(&u);
	free(s);
	return 0;
}
