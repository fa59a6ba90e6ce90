/* fuzz_redis_url.c — REDIS_URL parsing, and the password kept out of its display and errors. */
#include "fuzz.h"
#include "redis.h"

/*
 * Letters no message of the parser holds: a password written in them (and
 * in the characters that delimit a URL) is found again in any text that
 * quotes a piece of it.
 */
#define MARKERS "QXZJKW"
static const char pw_alphabet[] = MARKERS "/?#@:%+=";

/*
 * The input as a password and the rest of a URL (which holds no marker
 * letter): whatever the rest, neither the error nor the display may hold
 * any piece of the password.
 */
static void password_kept_out(const uint8_t *data, size_t size)
{
	static const char *const pre[] = {"redis://:", "redis://user:", "unix://:"};
	struct mm_redis_url u;
	struct mm_err err = {0};
	const char *prefix;
	size_t pwlen, i;
	char *url, *o, *d;

	if (size < 2)
		return;
	prefix = pre[data[0] % 3];
	pwlen = data[1];
	data += 2;
	size -= 2;
	if (pwlen > size)
		pwlen = size;
	url = malloc(strlen(prefix) + size + 2);
	if (!url)
		abort();
	o = stpcpy(url, prefix);
	for (i = 0; i < pwlen; i++)
		*o++ = pw_alphabet[data[i] % (sizeof(pw_alphabet) - 1)];
	*o++ = '@';
	for (i = pwlen; i < size; i++) {
		char c = (char)data[i];

		if (!c)
			continue;
		*o++ = strchr(MARKERS, c) ? 'x' : c;
	}
	*o = '\0';
	if (mm_redis_url_parse(url, &u, &err) != 0) {
		FUZZ_ASSERT(strpbrk(err.msg, MARKERS) == NULL);
	} else {
		d = mm_redis_url_display(&u);
		FUZZ_ASSERT(strpbrk(d, MARKERS) == NULL);
		free(d);
		mm_redis_url_free(&u);
	}
	free(url);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mm_redis_url u;
	struct mm_err err = {0};
	char *s = fuzz_cstr(data, size), *d;

	password_kept_out(data, size);
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
