/*
 * fuzz_http_header.c — response header values a server controls: Retry-After
 * (mm_http_retry_after), Content-Length and Content-Range, and the token and
 * URL checks that keep CR/LF out of request headers.  The first byte picks
 * which.
 */
#include "fuzz.h"
#include "http.h"

#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;
	long n;

	if (size < 1)
		return 0;
	s = fuzz_cstr(data + 1, size - 1);
	switch (data[0] % 5) {
	case 0:
		n = mm_http_retry_after(s);
		FUZZ_ASSERT(n >= -1 && n <= 86400L * 7);
		break;
	case 1:
		if (mm_http_token_ok(s)) {
			const char *p;

			for (p = s; *p; p++)
				FUZZ_ASSERT((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f);
		}
		break;
	case 2: {
		long long a = -2, b = -2, t = -2;

		FUZZ_ASSERT(mm_http_content_length(s) >= -1);
		if (mm_http_content_range(s, &a, &b, &t)) {
			FUZZ_ASSERT(t >= 0);
			FUZZ_ASSERT((a == -1 && b == -1) || (a >= 0 && a <= b && b < t));
		} else {
			FUZZ_ASSERT(a == -2 && b == -2 && t == -2);
		}
		break;
	}
	default:
		if (mm_http_url_ok(s))
			FUZZ_ASSERT(strncasecmp(s, "http", 4) == 0);
		break;
	}
	free(s);
	return 0;
}
