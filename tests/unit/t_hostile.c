/*
 * t_hostile.c — hostile manifests and values are refused whole, without a
 * crash or a read past the input; inputs the fuzz targets broke are kept
 * here as regression cases (run under ASan by make check).
 */
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "http.h"
#include "manifest.h"
#include "paths.h"
#include "redis.h"
#include "tap.h"

/* Parse exactly len bytes from a heap copy with no NUL after them. */
static int parse_exact(const char *text, size_t len, struct mm_err *err)
{
	struct mm_manifest *m = NULL;
	char *copy = malloc(len ? len : 1);
	int rc;

	memcpy(copy, text, len);
	rc = mm_manifest_parse(copy, len, "test", MM_MANIFEST_NEED_URL, &m, err);
	mm_manifest_free(m);
	free(copy);
	return rc;
}

static int parse_str(const char *text, struct mm_err *err)
{
	return parse_exact(text, strlen(text), err);
}

/* A manifest with one model whose saveTo is the raw JSON text given. */
static int save_to(const char *json_value)
{
	struct mm_err err = {0};
	char *text;
	int rc;

	if (asprintf(&text, "{\"models\":[{\"name\":\"x\",\"downloadUrl\":\"http://127.0.0.1/x\","
		     "\"saveTo\":%s}]}", json_value) < 0)
		return -1;
	rc = parse_str(text, &err);
	free(text);
	return rc;
}

static void test_fuzz_regressions(void)
{
	struct mm_err err = {0};
	char buf[300];

	/* fuzz_manifest: the "malformed JSON near" quote read past a buffer with no NUL. */
	memset(buf, '[', sizeof(buf));
	buf[0] = '{';
	is_int(parse_exact(buf, sizeof(buf), &err), MM_EINPUT,
	       "malformed JSON at the very end of an unterminated buffer is refused");
	ok(strstr(err.msg, "line 1") != NULL, "with its position: %s", err.msg);
}

static void test_traversal(void)
{
	static const char *const bad[] = {
		"\"../x\"", "\"models/../../etc/passwd\"", "\"/etc/passwd\"", "\"//etc/passwd\"",
		"\"models\\\\..\\\\..\\\\x\"", "\"models/x\\u0000.txt\"", "\"models/..\"",
		"\".\"", "\"models/./x\"", "\"models//x\"", "\"models/x/\"", "\"\"",
		"\"models/x\\r\\nX-Evil: 1\"", "\"models/\\u007f\"", "17", "null", "[\"a\"]",
		NULL,
	};
	char *longname, *longpath;
	size_t i;

	for (i = 0; bad[i]; i++)
		is_int(save_to(bad[i]), MM_EINPUT, "saveTo %s is refused", bad[i]);
	/* A name of 256 bytes, and a path of 4097. */
	longname = malloc(300);
	memset(longname, 'a', 258);
	longname[0] = '"';
	longname[257] = '"';
	longname[258] = '\0';
	is_int(save_to(longname), MM_EINPUT, "a component of 256 bytes is refused");
	longpath = malloc(5000);
	longpath[0] = '"';
	for (i = 1; i < 4099; i += 2)
		memcpy(longpath + i, "a/", 2);
	memcpy(longpath + 4099, "b\"", 3);
	is_int(save_to(longpath), MM_EINPUT, "a path over 4096 bytes is refused");
	free(longname);
	free(longpath);
	/* Percent-escapes are not decoded: "%2e%2e" is a plain name inside the root. */
	is_int(save_to("\"models/%2e%2e/x\""), 0, "'%%2e%%2e' is an ordinary name, not '..'");
}

static void test_json(void)
{
	struct mm_err err = {0};
	char *deep;
	size_t i;

	is_int(parse_str("{\"models\":[{\"name\":\"x\",\"downloadUrl\":\"http://h/x\","
			 "\"saveTo\":\"a/b\",\"saveTo\":\"../c\"}]}", &err), MM_EINPUT,
	       "a duplicate saveTo key is refused");
	is_int(parse_str("{\"models\":[{\"name\":\"x\",\"downloadUrl\":\"http://h/x\","
			 "\"saveTo\":\"a/\xc0\xaf\"}]}", &err), MM_EINPUT,
	       "an overlong UTF-8 '/' is refused");
	is_int(parse_str("{\"models\":[{\"name\":\"\xff\",\"downloadUrl\":\"http://h/x\","
			 "\"saveTo\":\"a/b\"}]}", &err), MM_EINPUT, "invalid UTF-8 is refused");
	{
		/* The whole text, NUL and all: sizeof - 1, not a length that cuts it short. */
		static const char nul[] = "{\"models\":[{\"name\":\"x\",\"downloadUrl\":\"http://h/x\","
					  "\"saveTo\":\"models/x.bin\0/../..\"}]}";
		static const char nul_name[] = "{\"models\":[{\"name\":\"x\0y\",\"downloadUrl\":\"http://h/x\","
					       "\"saveTo\":\"a/b\"}]}";

		is_int(parse_exact(nul, sizeof(nul) - 1, &err), MM_EINPUT,
		       "a raw NUL byte inside a saveTo is refused");
		ok(strstr(err.msg, "NUL") != NULL, "as a NUL byte: %s", err.msg);
		is_int(parse_exact(nul_name, sizeof(nul_name) - 1, &err), MM_EINPUT,
		       "a raw NUL byte inside a name is refused");
		is_int(parse_str("{\"models\":[{\"name\":\"x\",\"downloadUrl\":\"http://h/x\","
				 "\"saveTo\":\"models/x.bin\\u0000/../..\"}]}", &err), MM_EINPUT,
		       "an escaped NUL inside a saveTo is refused");
		is_int(parse_str("{\"models\":[],\"models\":[{\"name\":\"x\",\"downloadUrl\":\"http://h/x\","
				 "\"saveTo\":\"../x\"}]}", &err), MM_EINPUT,
		       "a second 'models' is refused, not read or skipped");
	}
	deep = malloc(200001);
	for (i = 0; i < 100000; i++) {
		deep[i] = '[';
		deep[200000 - 1 - i] = ']';
	}
	deep[200000] = '\0';
	is_int(parse_str(deep, &err), MM_EINPUT, "100000 levels of nesting are refused");
	free(deep);
	is_int(parse_str("{\"models\":[{\"name\":\"x\",\"downloadUrl\":\"http://h/x\","
			 "\"saveTo\":\"a/b\",\"sizeBytes\":1e400}]}", &err), MM_EINPUT,
	       "a sizeBytes beyond any double is refused");
	is_int(parse_str("{\"models\":[{\"name\":\"x\",\"downloadUrl\":\"http://h/x\","
			 "\"saveTo\":\"a/b\",\"sizeBytes\":-5}]}", &err), MM_EINPUT,
	       "a negative sizeBytes is refused");
	is_int(parse_str("{\"models\":[{\"name\":\"x\",\"downloadUrl\":\"http://h/x\","
			 "\"saveTo\":\"a/b\",\"isAuthReq\":true,\"authEnvVar\":\"A=B\"}]}", &err),
	       MM_EINPUT, "an authEnvVar that is no variable name is refused");
}

static void test_range(const char *v, int want, long long first, long long last, long long total,
		       const char *what)
{
	long long a = 0, b = 0, t = 0;
	int got = mm_http_content_range(v, &a, &b, &t);

	ok(got == want && a == first && b == last && t == total,
	   "Content-Range '%s': %s (got %d %lld-%lld/%lld)", v, what, got, a, b, t);
}

static void test_values(void)
{
	struct mm_hash_spec spec;
	struct mm_redis_url u;
	struct mm_err err = {0};

	is_int(mm_parse_size("1e999GB"), -1, "a size beyond range is refused");
	is_int(mm_parse_size("nan"), -1, "nan is not a size");
	is_int(mm_hash_parse("sha256:" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n",
			     &spec, &err), MM_EINPUT, "a hash with a newline is refused");
	ok(!mm_http_token_ok("hf_abc\r\nX-Injected: 1"), "a token with CR/LF is refused");
	ok(!mm_http_token_ok("hf abc"), "a token with a space is refused");
	ok(!mm_http_url_ok("file:///etc/passwd"), "a file:// URL is refused");
	ok(!mm_http_url_ok("gopher://127.0.0.1/"), "a gopher:// URL is refused");
	is_int(mm_http_retry_after("99999999999999999999"), -1, "an overlong Retry-After is ignored");
	is_int(mm_http_content_length("3000000"), 3000000, "Content-Length: digits");
	is_int(mm_http_content_length(" 12 "), 12, "Content-Length: with spaces around");
	is_int(mm_http_content_length("-1"), -1, "Content-Length: a sign is refused");
	is_int(mm_http_content_length("+5"), -1, "Content-Length: a plus is refused");
	is_int(mm_http_content_length("1,2"), -1, "Content-Length: a list is refused");
	is_int(mm_http_content_length("99999999999999999999"), -1, "Content-Length: an overflow is refused");
	is_int(mm_http_content_length(""), -1, "Content-Length: empty is refused");
	test_range("bytes 100-199/1000", 1, 100, 199, 1000, "a range");
	test_range("BYTES 0-0/1", 1, 0, 0, 1, "case does not matter");
	test_range("bytes */3000000", 1, -1, -1, 3000000, "a 416's unsatisfied range");
	test_range("bytes 100-199/*", 0, 0, 0, 0, "an unknown total is refused");
	test_range("bytes 200-100/1000", 0, 0, 0, 0, "last before first is refused");
	test_range("bytes 0-1000/1000", 0, 0, 0, 0, "last at the total is refused");
	test_range("bytes -5-10/100", 0, 0, 0, 0, "a negative first is refused");
	test_range("bytes 0-9223372036854775808/9223372036854775807", 0, 0, 0, 0, "an overflow is refused");
	test_range("bytes 1-2/3 junk", 0, 0, 0, 0, "trailing junk is refused");
	test_range("bytes=1-2/3", 0, 0, 0, 0, "a Range header's syntax is refused");
	test_range("items 1-2/3", 0, 0, 0, 0, "a unit but bytes is refused");
	is_int(mm_redis_url_parse("redis://h:70000/0", &u, &err), MM_EUSAGE, "a port out of range is refused");
	is_int(mm_redis_url_parse("redis://h/99999999999999999999", &u, &err), MM_EUSAGE,
	       "a database number out of range is refused");
}

/* fuzz_manifest: a printed manifest must parse again, to the same text. */
static void test_round_trip(void)
{
	static const char *const auth[] = {"\"\"", "null"};
	struct mm_manifest *m = NULL, *m2 = NULL;
	struct mm_err err = {0};
	char *text, *out, *out2;
	size_t i;

	for (i = 0; i < 2; i++) {
		if (asprintf(&text, "{\"models\":[{\"name\":\"x\",\"downloadUrl\":"
			     "\"https://huggingface.co/x/y.safetensors\",\"saveTo\":\"a/b\","
			     "\"isAuthReq\":true,\"authEnvVar\":%s}]}", auth[i]) < 0)
			return;
		is_int(mm_manifest_parse(text, strlen(text), "test", 0, &m, &err), 0,
		       "authEnvVar %s with a Hugging Face URL is accepted", auth[i]);
		out = mm_manifest_print(m);
		is_int(mm_manifest_parse(out, strlen(out), "printed", 0, &m2, &err), 0,
		       "and the manifest printed from it reads back (%s)", err.msg);
		ok(strstr(out, "\"authEnvVar\":\t\"HF_TOKEN\"") && !strstr(strstr(out, "authEnvVar") + 1, "authEnvVar"),
		   "with one authEnvVar, HF_TOKEN");
		out2 = m2 ? mm_manifest_print(m2) : NULL;
		is_str(out2, out, "printing it again changes nothing");
		free(out2);
		free(out);
		mm_manifest_free(m2);
		mm_manifest_free(m);
		m = m2 = NULL;
		free(text);
	}
}

int main(void)
{
	test_fuzz_regressions();
	test_round_trip();
	test_traversal();
	test_json();
	test_values();
	return done_testing();
}
