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

/* Sizes are decimal; a byte count is a whole number. */
static void test_size_grammar(void)
{
	static const char *const bad[] = {
		"0x10", "0x1p4GB", "0X10MB", "inf", "infinity", "nan", "1e3", "1E3GB", "-5", "+5",
		"1.5", "1.5B", ".5GB", "5.GB", "1,5GB", "1 2GB", "12 XB", "0x", "\t", NULL,
	};
	const char *const *p;
	struct mm_err err = {0};
	struct mm_manifest *m;
	int rc;

	for (p = bad; *p; p++)
		is_int(mm_parse_size(*p), -1, "size '%s' is refused", *p);
	is_int(mm_parse_size("1.5KB"), 1536, "a fraction with a unit");
	is_int(mm_parse_size(" 1024B "), 1024, "bytes with a B and spaces");
	is_int(mm_parse_size("007MB"), 7340032, "leading zeros are decimal, not octal");
	m = parse("{\"models\":[{\"name\":\"a\",\"saveTo\":\"x\",\"fileSize\":1.5}]}", &rc, &err);
	is_int(rc, MM_EINPUT, "a numeric fileSize of 1.5 is refused");
	ok(rc && strstr(err.msg, "whole number"), "saying a byte count is whole: %s", err.msg);
	mm_manifest_free(m);
	m = parse("{\"models\":[{\"name\":\"a\",\"saveTo\":\"x\",\"fileSize\":2e3}]}", &rc, &err);
	ok(rc == 0 && m->models[0].size == 2000, "a numeric fileSize of 2e3 is 2000 bytes");
	mm_manifest_free(m);
}

/* Every file mm keeps beside a model, and its state directory, are no saveTo. */
static void test_reserved(void)
{
	static const char *const bad[] = {
		".x.bin.mm-part", "models/.x.bin.mm-part", "models/.x.bin" MM_STATE_SUFFIX,
		"models/.x.bin" MM_STATE_TMP_SUFFIX, "models/.x.bin" MM_QUARANTINED_SUFFIX,
		"models/.x.bin.mm-anything/y", ".mm", ".mm/verified", ".mm/api/workflows/name/w.json",
		"state", "state/locks/1.lock", NULL,
	};
	static const char *const good[] = {
		"models/x.bin", "models/x.bin.mm-part", "models/..mm-part", "models/.hidden",
		"models/.mm/x", ".mmx/y", "statex/y", "models/state/x", NULL,
	};
	const char *const *p;
	char why[160], *part, *rel;
	struct mm_err err = {0};
	struct mm_manifest *m;
	int rc;

	for (p = bad; *p; p++)
		ok(mm_path_reserved(*p, "state", why, sizeof(why)) < 0, "reserved: '%s' (%s)", *p, why);
	for (p = good; *p; p++)
		ok(mm_path_reserved(*p, "state", why, sizeof(why)) == 0, "not reserved: '%s'", *p);
	ok(mm_path_reserved("state/x", NULL, why, sizeof(why)) == 0, "no state_rel: only .mm is");
	part = mm_part_path("models/unet/x.bin");
	ok(mm_path_reserved(part, NULL, why, sizeof(why)) < 0, "mm_part_path's name is reserved");
	free(part);

	rel = mm_path_inside("/a/b", "/a/b/.mm");
	is_str(rel, ".mm", "the default state directory is inside the root");
	free(rel);
	rel = mm_path_inside("/a//b/", "/a/b/./st//x/");
	is_str(rel, "st/x", "compared without repeated slashes, '.' and a final slash");
	free(rel);
	rel = mm_path_inside("/", "/st");
	is_str(rel, "st", "a root of /");
	free(rel);
	ok(!mm_path_inside("/a/b", "/a/bc") && !mm_path_inside("/a/b", "/a/b") &&
	   !mm_path_inside("/a/b", "/elsewhere/.mm"), "a sibling, the root itself, elsewhere: not inside");

	setenv("MM_ROOT", "/srv/comfy", 1);
	setenv("MM_STATE_DIR", "/srv/comfy/var/mm", 1);
	m = parse("{\"models\":[{\"name\":\"a\",\"saveTo\":\"var/mm/api/x.json\"},"
		  "{\"name\":\"b\",\"saveTo\":\"models/.b.bin.mm-part\"},"
		  "{\"name\":\"c\",\"saveTo\":\"var/mmx\"}]}", &rc, &err);
	is_int(rc, MM_EINPUT, "MM_STATE_DIR inside MM_ROOT: a saveTo in it is refused");
	ok(m && m->nproblems == 2 && strstr(m->problems[0], "models[0] (a): saveTo 'var/mm/api/x.json' is inside") &&
	   strstr(m->problems[1], "models[1] (b): saveTo 'models/.b.bin.mm-part' names one of mm's own files"),
	   "with the rest of the problems, naming each model: %s", m && m->nproblems ? m->problems[0] : "");
	mm_manifest_free(m);
	mm_manifest_set_state_dir("/srv/comfy", "/srv/comfy/other");
	m = parse("{\"models\":[{\"name\":\"a\",\"saveTo\":\"var/mm/x\"},{\"name\":\"b\",\"saveTo\":\"other/x\"}]}",
		  &rc, &err);
	ok(rc == MM_EINPUT && m->nproblems == 1 && strstr(m->problems[0], "other/x"),
	   "a --state-dir given to mm_manifest_set_state_dir replaces MM_STATE_DIR");
	mm_manifest_free(m);
	unsetenv("MM_ROOT");
	unsetenv("MM_STATE_DIR");
}

/* Keys given twice at every level, the large objects (a hash table) too. */
static void test_dup_keys(void)
{
	struct mm_err err = {0};
	struct mm_manifest *m;
	char *text, *p;
	size_t i;
	int rc;

	m = parse("{\"models\":[],\"models\":[{\"name\":\"a\",\"saveTo\":\"../x\"}]}", &rc, &err);
	is_int(rc, MM_EINPUT, "'models' twice at the top level is refused");
	ok(m && m->nproblems && strstr(m->problems[0], "key 'models' is given twice at the top level"), "saying so: %s", err.msg);
	mm_manifest_free(m);
	m = parse("{\"models\":[{\"name\":\"a\",\"saveTo\":\"x\",\"o\":{\"p\":[1,{\"q\":1,\"q\":1}]}}]}", &rc, &err);
	ok(rc == MM_EINPUT && strstr(err.msg, "models[0].o.p[1]: key 'q' is given twice"),
	   "a nested repeat, even of the same value, is refused with its path: %s", err.msg);
	mm_manifest_free(m);
	/* 2,000 keys in one model, the repeat at the end. */
	text = malloc(40000);
	p = text + sprintf(text, "{\"models\":[{\"name\":\"a\",\"saveTo\":\"x\"");
	for (i = 0; i < 2000; i++)
		p += sprintf(p, ",\"k%zu\":1", i);
	sprintf(p, ",\"k7\":2}]}");
	m = parse(text, &rc, &err);
	ok(rc == MM_EINPUT && strstr(err.msg, "models[0]: key 'k7' is given twice"),
	   "a repeat among 2,000 keys is found: %s", err.msg);
	mm_manifest_free(m);
	sprintf(p, "}]}");
	m = parse(text, &rc, &err);
	is_int(rc, 0, "and 2,000 different keys are fine");
	mm_manifest_free(m);
	free(text);
}

/* A big manifest with one saveTo wanted twice deep inside merges as it always did. */
static void test_large_merge(void)
{
	enum { N = 50000 };
	struct mm_err err = {0};
	struct mm_manifest *m;
	char *text, *p;
	cJSON *src;
	size_t i;
	int rc;

	text = malloc((size_t)N * 200 + 1000);
	for (int conflict = 0; conflict < 2; conflict++) {
		p = text + sprintf(text, "{\"models\":[");
		for (i = 0; i < N; i++)
			p += sprintf(p, "%s{\"name\":\"m%zu\",\"downloadUrl\":\"http://h/%zu\",\"saveTo\":\"models/m%zu\","
				     "\"source\":\"workflow:w%zu\"}", i ? "," : "", i, i, i, i);
		/* models/m123 again, from another workflow, deep inside. */
		p += sprintf(p, ",{\"name\":\"again\",\"downloadUrl\":\"http://h/%s\",\"saveTo\":\"models/m123\","
			     "\"source\":\"workflow:late\"}]}", conflict ? "other" : "123");
		m = parse(text, &rc, &err);
		if (!conflict) {
			is_int(rc, 0, "%d models with one saveTo twice parse", N + 1);
			is_int(m->n, N, "into %d entries", N);
			src = cJSON_GetObjectItem(m->models[123].obj, "sources");
			ok(cJSON_GetArraySize(src) == 2 &&
			   !strcmp(cJSON_GetArrayItem(src, 0)->valuestring, "workflow:w123") &&
			   !strcmp(cJSON_GetArrayItem(src, 1)->valuestring, "workflow:late"),
			   "the merged entry lists both askers, in order");
			ok(m->models[124].index == 124 && !strcmp(m->models[N - 1].name, "m49999"),
			   "and the others keep their places");
		} else {
			is_int(rc, MM_EINPUT, "two files for one saveTo deep inside are refused");
			ok(m && m->nproblems == 1 && strstr(err.msg, "models/m123") &&
			   strstr(err.msg, "workflow:w123") && strstr(err.msg, "workflow:late"),
			   "naming the saveTo and both askers: %s", err.msg);
		}
		mm_manifest_free(m);
	}
	free(text);

	/* Sources: those merged in are added once; repeats the first entry had stay. */
	m = parse("{\"models\":[{\"name\":\"a\",\"saveTo\":\"x\",\"sources\":[\"s1\",\"s1\"]},"
		  "{\"name\":\"a\",\"saveTo\":\"x\",\"sources\":[\"s2\",\"s1\",\"s2\"]},"
		  "{\"name\":\"a\",\"saveTo\":\"x\",\"source\":\"s3\"},{\"name\":\"a\",\"saveTo\":\"x\",\"source\":\"s2\"}]}",
		  &rc, &err);
	text = cJSON_PrintUnformatted(cJSON_GetObjectItem(m->models[0].obj, "sources"));
	is_str(text, "[\"s1\",\"s1\",\"s2\",\"s3\"]", "merged sources, in order, each added once");
	free(text);
	mm_manifest_free(m);
}

int main(void)
{
	test_sizes();
	test_size_grammar();
	test_paths();
	test_reserved();
	test_parse();
	test_dup_keys();
	test_large_merge();
	return done_testing();
}
