/* mm_visible: what a terminal would act on is shown escaped, the rest as it is. */
#include "tap.h"
#include "text.h"

#include <stdlib.h>

static void shows(const char *in, const char *want, const char *what)
{
	char *got = mm_visible(in);

	is_str(got, want, "%s", what);
	free(got);
}

/* Printable ASCII only. */
static int printable_ascii(const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p >= 0x7f)
			return 0;
	return 1;
}

int main(void)
{
	char all[256], *v;
	int i;

	shows("flux1-dev.safetensors", "flux1-dev.safetensors", "plain ASCII unchanged");
	shows("", "", "empty string");
	shows(NULL, "", "NULL reads as empty");
	shows("a\033[2Jb", "a\\x1b[2Jb", "ESC[2J (clear screen) escaped");
	shows("\033]0;pwned\007x", "\\x1b]0;pwned\\x07x", "OSC title sequence and its BEL escaped");
	shows("\033]8;;http://evil/\033\\link\033]8;;\033\\", "\\x1b]8;;http://evil/\\x1b\\link\\x1b]8;;\\x1b\\",
	      "OSC 8 hyperlink escaped");
	shows("ring\007", "ring\\x07", "BEL escaped");
	shows("real.bin\rfake.bin", "real.bin\\rfake.bin", "CR escaped: no overwriting the line");
	shows("a\nb\tc", "a\\nb\\tc", "newline and tab escaped");
	shows("del\177", "del\\x7f", "DEL escaped");
	shows("nul\001x", "nul\\x01x", "other C0 as \\xHH");
	shows("\233" "2J", "\\x9b2J", "a raw C1 CSI byte (not UTF-8) escaped");
	shows("\302\233" "2J", "\\u009b2J", "C1 CSI written in UTF-8 escaped");
	shows("\302\205x", "\\u0085x", "NEL (U+0085) escaped");
	shows("abc\342\200\256fdp.exe", "abc\\u202efdp.exe", "RIGHT-TO-LEFT OVERRIDE escaped");
	shows("\342\201\246x\342\201\251", "\\u2066x\\u2069", "bidi isolates escaped");
	shows("\330\234", "\\u061c", "ARABIC LETTER MARK escaped");
	shows("モデル-ü-λ.safetensors", "モデル-ü-λ.safetensors", "UTF-8 names print as they are");
	shows("emoji \360\237\230\200 ok", "emoji \360\237\230\200 ok", "4-byte UTF-8 unchanged");
	shows("\303(", "\\xc3(", "a cut-short sequence: its byte escaped");
	shows("\300\257", "\\xc0\\xaf", "overlong '/' escaped byte by byte");
	shows("\355\240\200", "\\xed\\xa0\\x80", "a UTF-16 surrogate is not UTF-8");
	shows("\364\220\200\200", "\\xf4\\x90\\x80\\x80", "past U+10FFFF is not UTF-8");
	shows("\342\202", "\\xe2\\x82", "a sequence cut by the end of the string");
	shows("C:\\models\\x.bin", "C:\\models\\x.bin", "a backslash stays");

	for (i = 1; i < 256; i++)
		all[i - 1] = (char)i;
	all[255] = '\0';
	v = mm_visible(all);
	ok(printable_ascii(v), "every byte value alone: all escaped, printable ASCII left");
	free(v);
	return done_testing();
}
