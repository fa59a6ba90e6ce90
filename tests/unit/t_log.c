/* Secrets never reach a log line. */
#include <stdlib.h>
#include <string.h>

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
	return done_testing();
}
