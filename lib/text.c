/* text.c — untrusted text made safe to show on a terminal. */
#include "text.h"

#include <stdio.h>
#include <string.h>

/*
 * The length of the valid UTF-8 sequence at s (at most n bytes) and its code
 * point in *cp; 0 when it is not one (a stray continuation byte, an overlong
 * form, a surrogate, past U+10FFFF, or cut short).
 */
static size_t utf8_seq(const unsigned char *s, size_t n, unsigned long *cp)
{
	unsigned char c = s[0];
	size_t len, i;
	unsigned char lo = 0x80, hi = 0xbf;

	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		*cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		*cp = c & 0x0f;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		*cp = c & 0x07;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if (s[i] < (i == 1 ? lo : 0x80) || s[i] > (i == 1 ? hi : 0xbf))
			return 0;
		*cp = (*cp << 6) | (s[i] & 0x3f);
	}
	return len;
}

/* A character that steers a terminal or the direction of text. */
static int is_control_cp(unsigned long cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0x61c || cp == 0x200e || cp == 0x200f ||
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

void mm_visible_put(struct mm_buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	char esc[16];

	while (i < n) {
		size_t run = i, len;
		unsigned long cp;

		/* Printable ASCII goes out in runs. */
		while (run < n && p[run] >= 0x20 && p[run] < 0x7f)
			run++;
		if (run > i) {
			mm_buf_put(b, s + i, run - i);
			i = run;
			continue;
		}
		if (p[i] >= 0x80 && (len = utf8_seq(p + i, n - i, &cp)) > 0) {
			if (is_control_cp(cp)) {
				snprintf(esc, sizeof(esc), "\\u%04lx", cp);
				mm_buf_put(b, esc, strlen(esc));
			} else {
				mm_buf_put(b, s + i, len);
			}
			i += len;
			continue;
		}
		switch (p[i]) {
		case '\t': mm_buf_put(b, "\\t", 2); break;
		case '\n': mm_buf_put(b, "\\n", 2); break;
		case '\r': mm_buf_put(b, "\\r", 2); break;
		default:
			snprintf(esc, sizeof(esc), "\\x%02x", p[i]);
			mm_buf_put(b, esc, 4);
		}
		i++;
	}
}

char *mm_visible(const char *s)
{
	struct mm_buf b = {0};

	if (!s)
		s = "";
	mm_visible_put(&b, s, strlen(s));
	if (!b.p)
		return mm_xstrdup("");
	return b.p;
}
