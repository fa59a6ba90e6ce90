/* Secrets never reach a log line, nor do terminal escapes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "tap.h"

/* The stderr a block of code writes, in buf. */
#define CAPTURE_STDERR(buf, code) do { \
	FILE *tmp_ = tmpfile(); \
	int saved_ = dup(2); \
	size_t n_; \
	fflush(stderr); \
	dup2(fileno(tmp_), 2); \
	code; \
	fflush(stderr); \
	dup2(saved_, 2); \
	close(saved_); \
	rewind(tmp_); \
	n_ = fread(buf, 1, sizeof(buf) - 1, tmp_); \
	buf[n_] = '\0'; \
	fclose(tmp_); \
} while (0)

static char got[1024];
static int got_level = -2;

static void collect(int level, const char *line, void *data)
{
	strncat(got, line, sizeof(got) - strlen(got) - 1);
	got_level = level;
	*(int *)data += 1;
}

static void redacts(const char *in, const char *secret, const char *desc)
{
	char *out = mm_redact(in);

	ok(strstr(out, secret) == NULL, "%s: '%s'", desc, out);
	free(out);
}

int main(void)
{
	char *out;

	redacts("GET https://civitai.com/api/download/1?type=Model&token=abc123secret", "abc123secret",
		"a token= query parameter is masked");
	redacts("https://x.s3.amazonaws.com/f?X-Amz-Signature=deadbeef99&X-Amz-Credential=AKIAXYZ",
		"deadbeef99", "a presigned signature is masked");
	redacts("Authorization: Bearer hf_abcdefghijkl", "hf_abcdefghijkl", "a bearer token is masked");
	redacts("redis://user:s3cretpass@host:6379/0", "s3cretpass", "a URL password is masked");
	redacts("redis://:pa/ss1secret@host:6379", "ss1secret", "a URL password holding a slash is masked");
	redacts("redis://u:p@ss2secret@host", "ss2secret", "a URL password holding an @ is masked");
	redacts("rediss://u:x?y#z3secret@host", "z3secret", "a URL password holding ? and # is masked");
	out = mm_redact("cannot reach redis://user:pw/x@host:6379/0: refused");
	is_str(out, "cannot reach redis://user:***@host:6379/0: refused", "the host after the password stays");
	free(out);
	out = mm_redact("https://example.com:8443/model.safetensors");
	is_str(out, "https://example.com:8443/model.safetensors", "a port is not a password");
	free(out);
	mm_log_secret("hf_registeredtoken");
	redacts("failed with hf_registeredtoken in it", "hf_registeredtoken",
		"a registered secret is masked anywhere");
	out = mm_redact("https://example.com/model.safetensors?download=true");
	is_str(out, "https://example.com/model.safetensors?download=true", "ordinary URLs are left alone");
	free(out);
	out = mm_redact("token=abc&keep=1");
	is_str(out, "token=***&keep=1", "a leading token= is masked and other parameters stay");
	free(out);

	{
		/* The library never prints: with no sink, a message goes nowhere. */
		char buf[256] = "x";
		int calls = 0;

		mm_log_init("t_log");
		CAPTURE_STDERR(buf, (mm_errorf("no sink: %s", "lost"), mm_log_raw("raw\n")));
		is_str(buf, "", "with no sink installed, the library writes nothing on stderr");

		mm_log_set_sink(collect, &calls);
		CAPTURE_STDERR(buf, (mm_warnf("disk %s", "low"), mm_debugf("not at info level"),
				     mm_log_raw("raw token=abc\n")));
		is_str(buf, "", "with a sink of its own, still nothing on stderr");
		is_str(got, "t_log: warning: disk low\nraw token=***\n",
		       "the sink gets the finished lines, redacted, the level filter applied");
		ok(calls == 2, "one call per message (%d)", calls);
		ok(got_level == MM_LOG_ERROR, "raw text arrives as an error-level line");
		mm_log_set_sink(mm_log_stderr, NULL);
	}

	{
		/* What a log line and mm_log_raw really write to stderr. */
		FILE *tmp = tmpfile();
		int saved = dup(2);
		char buf[256] = "";
		size_t n;

		mm_log_init("t_log");
		fflush(stderr);
		dup2(fileno(tmp), 2);
		mm_errorf("%s: failed", "evil\033]0;pwned\007\033[2J\r.bin");
		mm_log_raw("WORKFLOW_IDS=a\033[2J,b\n");
		fflush(stderr);
		dup2(saved, 2);
		close(saved);
		rewind(tmp);
		n = fread(buf, 1, sizeof(buf) - 1, tmp);
		buf[n] = '\0';
		fclose(tmp);
		is_str(buf, "t_log: evil\\x1b]0;pwned\\x07\\x1b[2J\\r.bin: failed\n"
		       "WORKFLOW_IDS=a\\x1b[2J,b\n", "log lines show control characters escaped, newlines of raw text stay");
	}
	return done_testing();
}
