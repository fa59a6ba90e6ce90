/* mm.c: the one ISO-8601 formatter, and the checked conversions. */
#include <regex.h>
#include <string.h>
#include <time.h>

#include "mm.h"
#include "tap.h"

int main(void)
{
	char buf[32];
	long l = 7;
	double d = 0;
	regex_t re;

	mm_iso8601(0, buf);
	is_str(buf, "1970-01-01T00:00:00Z", "the epoch");
	mm_iso8601(1768213800LL, buf);
	is_str(buf, "2026-01-12T10:30:00Z", "a time of DESIGN's example");
	mm_iso8601_now(buf);
	ok(regcomp(&re, "^20[0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z$",
		   REG_EXTENDED | REG_NOSUB) == 0 && regexec(&re, buf, 0, NULL, 0) == 0,
	   "now is the same format: %s", buf);
	regfree(&re);
	{
		char want[32];
		long long t = (long long)time(NULL);

		mm_iso8601(t, want);
		mm_iso8601_now(buf);
		/* The second may turn between the two calls. */
		ok(strcmp(buf, want) >= 0 && strncmp(buf, want, 16) == 0,
		   "mm_iso8601_now is mm_iso8601 of time(NULL)");
	}

	ok(mm_parse_long("42", 0, 100, &l) == 0 && l == 42, "a whole number");
	ok(mm_parse_long("4x", 0, 100, &l) < 0 && l == 42, "trailing junk is refused, out untouched");
	ok(mm_parse_long("101", 0, 100, &l) < 0, "out of range");
	ok(mm_parse_double("0.5", 0, 1, &d) == 0 && d == 0.5, "a fraction");
	ok(mm_parse_double("nan", 0, 1, &d) < 0, "nan is refused");
	return done_testing();
}
