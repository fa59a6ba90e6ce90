/* Secrets never reach a log line, nor do terminal escapes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "tap.h"

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
