/* Manifest parsing, normalisation, merging and the saveTo rule. */
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "paths.h"
#include "tap.h"

static struct mm_manifest *parse(const char *text, int *rc, struct mm_err *err)
{
	struct mm_manifest *m = NULL;

	*rc = mm_manifest_parse(text, strlen(text), "test", 0, &m, err);
	return m;
}

static void test_sizes(void)
{
	char buf[32];

	is_int(mm_parse_size("17.2GB"), 18468359372LL, "17.2GB is binary gigabytes");
	is_int(mm_parse_size("850MB"), 891289600LL, "850MB");
	is_int(mm_parse_size("0.3 GiB"), 322122547LL, "0.3 GiB with a space and an i");
	is_int(mm_parse_size("1024"), 1024, "bare number is bytes");
	is_int(mm_parse_size("12kb"), 12288, "units are case-insensitive");
	is_int(mm_parse_size("-1GB"), -1, "negative refused");
	is_int(mm_parse_size("12XB"), -1, "unknown unit refused");
	is_int(mm_parse_size(""), -1, "empty refused");
	is_int(mm_parse_size("1e400"), -1, "overflow refused");
	is_int(mm_parse_size("99999999999TB"), -1, "beyond 2^53 refused");
	mm_format_size(18468359372LL, buf, sizeof(buf));
	is_str(buf, "17.2GB", "17.2GB formats back");
}

static void test_paths(void)
{
	static const char *bad[] = {
		"../../etc/x", "/etc/passwd", "models/./x", "models//x", "models/x/",
		"models\\x", "", "a/../b", "..", "models/x\n", NULL,
	};
	const char **p;
	char why[128], big[5000];

	ok(mm_path_check("models/unet/flux.safetensors", 28, why, sizeof(why)) == 0,
	   "an ordinary saveTo is safe");
	ok(mm_path_check("models/..hidden/x", 17, why, sizeof(why)) == 0,
	   "a name that starts with two dots is not '..'");
	for (p = bad; *p; p++)
		ok(mm_path_check(*p, strlen(*p), why, sizeof(why)) < 0, "refused: '%s' (%s)", *p, why);
	ok(mm_path_check("a\0b", 3, why, sizeof(why)) < 0, "an embedded NUL is refused");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ok(mm_path_check(big, strlen(big), why, sizeof(why)) < 0, "an overlong path is refused");
	is_str(mm_basename("models/unet/x.bin"), "x.bin", "basename");
	{
		char *pp = mm_part_path("models/unet/x.bin");

		is_str(pp, "models/unet/.x.bin.mm-part", "part file is hidden beside the target");
		free(pp);
	}
}

static void test_parse(void)
{
	struct mm_err err = {0};
	struct mm_manifest *m;
	char *out;
	int rc;

	m = parse("{\"models\":[{\"name\":\"a\",\"download_url\":\"http://x/a\",\"save_to\":\"models/a\","
		  "\"file_size\":\"1KB\",\"is_auth_req\":\"true\",\"auth_env_var\":\"TOK\","
		  "\"source\":\"workflow:w1\",\"extra\":{\"k\":1}}]}", &rc, &err);
	is_int(rc, 0, "snake_case manifest parses");
	is_int(m->n, 1, "one model");
	is_str(m->models[0].url, "http://x/a", "download_url read as downloadUrl");
	is_int(m->models[0].size, 1024, "file_size parsed into sizeBytes");
	ok(m->models[0].auth_req && strcmp(m->models[0].auth_env, "TOK") == 0, "auth fields read");
	out = mm_manifest_print(m);
	ok(strstr(out, "\"downloadUrl\"") && !strstr(out, "download_url"), "written back in camelCase");
	ok(strstr(out, "\"extra\"") != NULL, "unknown keys pass through");
	ok(strstr(out, "\"sources\"") && strstr(out, "\"total_models\":\t1"), "sources and totals added");
	free(out);
	mm_manifest_free(m);

	m = parse("{\"models\":[{\"name\":\"a\",\"downloadUrl\":\"http://x/a\",\"saveTo\":\"m/a\",\"source\":\"workflow:w1\"},"
		  "{\"name\":\"a\",\"downloadUrl\":\"http://x/a\",\"saveTo\":\"m/a\",\"source\":\"collection:c/workflow:w1\",\"hash\":\"d41d8cd98f00b204e9800998ecf8427e\"}]}",
		  &rc, &err);
	is_int(rc, 0, "the same file wanted twice merges");
	is_int(m->n, 1, "into one entry");
	is_int(cJSON_GetArraySize(cJSON_GetObjectItem(m->models[0].obj, "sources")), 2, "whose sources list both askers");
	ok(m->models[0].hash != NULL, "and which keeps the hash one of them gave");
	mm_manifest_free(m);

	m = parse("{\"models\":[{\"name\":\"a\",\"downloadUrl\":\"http://x/a\",\"saveTo\":\"m/a\",\"source\":\"workflow:one\"},"
		  "{\"name\":\"b\",\"downloadUrl\":\"http://x/b\",\"saveTo\":\"m/a\",\"source\":\"workflow:two\"}]}",
		  &rc, &err);
	is_int(rc, MM_EINPUT, "two files for one saveTo is a conflict");
	ok(strstr(err.msg, "workflow:one") && strstr(err.msg, "workflow:two"), "naming both sources: %s", err.msg);
	mm_manifest_free(m);

	m = parse("{\"models\":[{\"name\":\"a\",\"saveTo\":\"../x\"},{\"saveTo\":\"/abs\"},7,"
		  "{\"name\":\"c\",\"saveTo\":\"ok\",\"hash\":\"zz\",\"fileSize\":\"big\"}]}", &rc, &err);
	is_int(rc, MM_EINPUT, "schema problems are bad input");
	ok(m && m->nproblems >= 5, "every problem is listed (%zu)", m ? m->nproblems : 0);
	ok(m && strstr(m->problems[0], "models[0] (a)"), "problems name the model by index and name: %s",
	   m ? m->problems[0] : "");
	mm_manifest_free(m);

	m = parse("{\"models\": [\n  {\"name\": \"a\",,}\n]}", &rc, &err);
	is_int(rc, MM_EINPUT, "malformed JSON is bad input");
	ok(m == NULL && strstr(err.msg, "line 2, column"), "with line and column: %s", err.msg);

	m = parse("{\"models\":[{\"name\":\"a\\u0000b\",\"saveTo\":\"x\"}]}", &rc, &err);
	is_int(rc, MM_EINPUT, "an escaped NUL is refused");
	mm_manifest_free(m);
	m = parse("{\"models\":[{\"name\":\"\xff\",\"saveTo\":\"x\"}]}", &rc, &err);
	is_int(rc, MM_EINPUT, "invalid UTF-8 is refused");
	mm_manifest_free(m);
	m = parse("{\"models\":[{\"name\":\"a\",\"saveTo\":\"x\",\"saveTo\":\"../y\"}]}", &rc, &err);
	is_int(rc, MM_EINPUT, "a duplicate key is refused");
	mm_manifest_free(m);
	m = parse("{\"models\":[]} x", &rc, &err);
	is_int(rc, MM_EINPUT, "trailing garbage is refused");
	mm_manifest_free(m);
	m = parse("[{\"name\":\"a\",\"saveTo\":\"x\"}]", &rc, &err);
	is_int(rc, 0, "a bare array of models is accepted");
	mm_manifest_free(m);
}

int main(void)
{
	test_sizes();
	test_paths();
	test_parse();
	return done_testing();
}
