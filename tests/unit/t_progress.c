/*
 * mm-fetch's progress display (cmd/progress.h), drawn into a file in place
 * of the terminal: which mode says what, bars that show a name from a
 * manifest without letting it drive the terminal, and -q silencing it all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "mm.h"
#include "progress.h"
#include "tap.h"

static FILE *cap;

/* What was written to stderr since the last call. */
static char *grab(void)
{
	static char buf[65536];
	size_t n;

	fflush(stderr);
	rewind(cap);
	n = fread(buf, 1, sizeof(buf) - 1, cap);
	buf[n] = '\0';
	rewind(cap);
	if (ftruncate(fileno(cap), 0) != 0)
		buf[0] = '\0';
	return buf;
}

int main(void)
{
	struct mm_progress *p;
	const char *evil = "evil\033]0;owned\007\033[2J.bin";
	char *out;
	int id, k, hashes;

	mm_log_init("t_progress");
	mm_log_set_sink(mm_log_stderr, NULL);  /* as the prologue does for mm-fetch */
	is_int(mm_progress_mode_parse("auto"), MM_PROGRESS_AUTO, "auto");
	is_int(mm_progress_mode_parse("bar"), MM_PROGRESS_BAR, "bar");
	is_int(mm_progress_mode_parse("plain"), MM_PROGRESS_PLAIN, "plain");
	is_int(mm_progress_mode_parse("none"), MM_PROGRESS_NONE, "none");
	is_int(mm_progress_mode_parse("BAR"), -1, "modes are lower case");
	is_int(mm_progress_mode_parse(""), -1, "empty is no mode");
	is_int(mm_progress_mode_parse("plainly"), -1, "no prefix match");

	cap = tmpfile();
	if (!cap || dup2(fileno(cap), STDERR_FILENO) < 0) {
		ok(0, "capture stderr");
		return done_testing();
	}
	setvbuf(stderr, NULL, _IONBF, 0);

	/* Not a terminal: auto is plain. */
	p = mm_progress_new(MM_PROGRESS_AUTO);
	is_int(mm_progress_mode(p), MM_PROGRESS_PLAIN, "auto on a file is plain");
	id = mm_progress_add(p, "a.bin", 2 << 20);
	mm_progress_line(p, "%s: downloading", "a.bin");
	mm_progress_update(p, id, 1 << 20, -1);
	mm_progress_tick(p, 1);
	out = grab();
	ok(strstr(out, "t_progress: a.bin: downloading\n") != NULL, "plain: the line is logged");
	ok(strstr(out, "progress: 1.0MB of 2.0MB") != NULL, "plain: a total in the one size spelling");
	ok(strstr(out, "1 file active") != NULL, "plain: how many are active");
	mm_progress_tick(p, 0);
	is_str(grab(), "", "plain: no second total within the period");
	mm_progress_end(p, id, 1);
	mm_progress_tick(p, 1);
	is_str(grab(), "", "plain: nothing active, no total");
	mm_progress_free(p);

	/* Bars: a name from a manifest cannot drive the terminal. */
	p = mm_progress_new(MM_PROGRESS_BAR);
	id = mm_progress_add(p, evil, 1000);
	mm_progress_update(p, id, 500, -1);
	mm_progress_tick(p, 1);
	out = grab();
	ok(strstr(out, "\033]0;") == NULL && strstr(out, "\033[2J") == NULL && strchr(out, '\007') == NULL,
	   "bar: the name's escape sequences are not drawn");
	ok(strstr(out, "evil\\x1b]0;owned") != NULL, "bar: they are shown escaped");
	ok(strstr(out, "total: 500B of 1000B") != NULL, "bar: a total line");
	{
		const char *b = strchr(out, '['), *e = b ? strchr(b, ']') : NULL;

		for (hashes = 0, k = 0; b && e && b + 1 + k < e; k++)
			hashes += b[1 + k] == '#';
		ok(b && e && k >= 10 && hashes * 2 == k, "bar: half done is half filled (%d of %d)", hashes, k);
	}
	mm_progress_line(p, "%s: downloaded", "x");
	out = grab();
	ok(strstr(out, "\033[J") != NULL && strstr(out, "x: downloaded") != NULL &&
	   strstr(out, "x: downloaded") > strstr(out, "\033[J"), "bar: a line erases the bars first");
	mm_progress_clear(p);
	ok(strstr(grab(), "\033[J") != NULL, "bar: clear erases them");
	mm_progress_clear(p);
	is_str(grab(), "", "bar: clearing twice draws nothing");
	mm_progress_free(p);

	/* none: progress hidden, trouble not. */
	p = mm_progress_new(MM_PROGRESS_NONE);
	id = mm_progress_add(p, "a.bin", 10);
	mm_progress_line(p, "a.bin: downloading");
	mm_progress_update(p, id, 5, -1);
	mm_progress_tick(p, 1);
	is_str(grab(), "", "none: no line, no total");
	mm_progress_warn(p, "a.bin: HTTP 503; retrying in 1.0 s");
	ok(strstr(grab(), "warning: a.bin: HTTP 503; retrying") != NULL, "none: a warning still shows");

	/* -q: errors only. */
	mm_log_set_level(MM_LOG_QUIET);
	mm_progress_warn(p, "a.bin: retrying");
	is_str(grab(), "", "-q: no warning");
	mm_progress_free(p);
	p = mm_progress_new(MM_PROGRESS_PLAIN);
	mm_progress_line(p, "a.bin: downloading");
	is_str(grab(), "", "-q: no line");
	mm_progress_free(p);
	return done_testing();
}
