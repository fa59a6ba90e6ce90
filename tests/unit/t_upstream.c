/* upstream.h: which X-Linked-Etag counts, what a Civitai URL selects, and its file's SHA256. */
#include "upstream.h"
#include "tap.h"

#include <stdlib.h>

#define SHA "29edf61ea0f7b08c181275bb5cb5f9ac71da85627c54951b8ad3ef72f113c468"
#define SHA_UP "29EDF61EA0F7B08C181275BB5CB5F9AC71DA85627C54951B8AD3EF72F113C468"
#define SHB "7c964ae807aeab2ce779747086725cced5efc7e91dccc2855da68853113c521d"

static int hf(const char *endpoint, const char *hop, const char *value, char *sha)
{
	struct mm_upstream u = { 0 };

	u.hf_endpoint = endpoint;
	return mm_upstream_hf_digest(&u, hop, value, sha);
}

static void linked_etag(void)
{
	char sha[MM_HASH_HEXMAX + 1];

	ok(hf(NULL, "https://huggingface.co/a/b/resolve/main/m.safetensors", "\"" SHA "\"", sha),
	   "a 64-hex X-Linked-Etag from huggingface.co counts");
	is_str(sha, SHA, "as the sha256");
	ok(hf(NULL, "https://hf.co/a/b/resolve/main/m", SHA_UP, sha), "from hf.co, unquoted, upper case");
	is_str(sha, SHA, "written lowercase");
	ok(!hf(NULL, "https://cdn-lfs.hf.co/repos/x?X-Amz-Signature=1", "\"" SHA "\"", sha),
	   "not from the CDN (a subdomain of hf.co)");
	is_str(sha, "", "and gives nothing");
	ok(!hf(NULL, "https://cas-bridge.xethub.hf.co/x", "\"" SHA "\"", sha), "not from the Xet bridge");
	ok(!hf(NULL, "https://cdn-lfs.huggingface.co/x", "\"" SHA "\"", sha),
	   "not from a subdomain of huggingface.co");
	ok(!hf(NULL, "http://huggingface.co/x", "\"" SHA "\"", sha), "not over plain http from the hub");
	ok(!hf(NULL, "https://huggingface.co.evil.example/x", "\"" SHA "\"", sha),
	   "not from a host that only starts like the hub");
	ok(!hf(NULL, "https://huggingface.co/x", "\"2faa4d2b8e9a5624f94343ec2c81f80d1428673a\"", sha),
	   "not a 40-hex git blob sha1");
	ok(!hf(NULL, "https://huggingface.co/x", "W/\"" SHA "\"", sha), "not a weak validator");
	ok(!hf(NULL, "https://huggingface.co/x", "\"" SHA "0\"", sha), "not 65 hex digits");
	ok(!hf(NULL, "https://huggingface.co/x", "\"" SHA "\" x", sha), "not with trailing text");
	ok(!hf(NULL, "https://huggingface.co/x", "", sha), "not empty");
	ok(hf("http://127.0.0.1:8080", "http://127.0.0.1:8080/a/b/resolve/main/m", SHA, sha),
	   "from HF_ENDPOINT's host");
	ok(!hf("http://127.0.0.1:8080", "http://127.0.0.2:9090/_cdn/m?sig=1", SHA, sha),
	   "not from another host with HF_ENDPOINT set");
	ok(hf("http://127.0.0.1:8080", "https://huggingface.co/m", SHA, sha),
	   "the hub itself still counts with HF_ENDPOINT set");
	ok(!hf(NULL, "not a url", SHA, sha), "not from a URL that does not parse");
}

static int ref(const char *endpoint, const char *url, struct mm_civitai_ref *r)
{
	struct mm_upstream u = { 0 };

	u.civitai_endpoint = endpoint;
	return mm_upstream_civitai_ref(&u, url, r);
}

static void civitai_urls(void)
{
	struct mm_civitai_ref r;

	ok(ref(NULL, "https://civitai.com/api/download/models/128713", &r), "a Civitai download URL");
	is_str(r.id, "128713", "its version id");
	is_str(r.type, "", "no type");
	ok(ref(NULL, "https://civitai.com/api/download/models/128713?type=VAE&format=SafeTensor&fp=fp16",
	       &r), "with a query");
	is_str(r.type, "VAE", "its type");
	is_str(r.format, "SafeTensor", "its format");
	is_str(r.fp, "fp16", "its fp");
	ok(ref(NULL, "https://civitai.com/api/download/models/1?type=Pruned%20Model", &r) &&
	   !strcmp(r.type, "Pruned Model"), "a percent-encoded type is decoded");
	ok(!ref(NULL, "https://civitai.com/api/download/models/abc", &r), "not a non-numeric id");
	ok(!ref(NULL, "https://civitai.com/api/download/models/1/x", &r), "not a longer path");
	ok(!ref(NULL, "https://civitai.com/models/1", &r), "not a model page");
	ok(!ref(NULL, "https://evil.example/api/download/models/1", &r), "not another host");
	ok(!ref(NULL, "https://civitai.com.evil.example/api/download/models/1", &r),
	   "not a host that starts like Civitai");
	ok(!ref(NULL, "http://civitai.com/api/download/models/1", &r), "not plain http to civitai.com");
	ok(ref("http://127.0.0.1:8080", "http://127.0.0.1:8080/api/download/models/7", &r),
	   "CIVITAI_ENDPOINT's download URL");
	ok(!ref("http://127.0.0.1:8080", "http://127.0.0.1:8081/api/download/models/7", &r),
	   "not on another port of its host");
	ok(ref("http://127.0.0.1:8080/mirror/", "http://127.0.0.1:8080/mirror/api/download/models/7",
	       &r), "under CIVITAI_ENDPOINT's path");
	ok(!ref("http://127.0.0.1:8080/mirror", "http://127.0.0.1:8080/api/download/models/7", &r),
	   "not outside it");
}

static const char *version =
	"{\"id\": 7, \"files\": ["
	" {\"name\": \"m.safetensors\", \"type\": \"Model\", \"primary\": true,"
	"  \"metadata\": {\"format\": \"SafeTensor\", \"size\": \"pruned\", \"fp\": \"fp16\"},"
	"  \"hashes\": {\"AutoV2\": \"29EDF61EA0\", \"SHA256\": \"" SHA_UP "\","
	"   \"BLAKE3\": \"" SHB "\"}},"
	" {\"name\": \"m.ckpt\", \"type\": \"Model\", \"primary\": false,"
	"  \"metadata\": {\"format\": \"PickleTensor\", \"size\": \"full\", \"fp\": \"fp32\"},"
	"  \"hashes\": {\"SHA256\": \"" SHB "\"}},"
	" {\"name\": \"vae.safetensors\", \"type\": \"VAE\","
	"  \"metadata\": {\"format\": \"SafeTensor\"}, \"hashes\": {\"SHA256\": \"abc\"}}"
	"]}";

static int pick(const char *doc, const char *url, char *sha, const char **name, struct mm_err *e)
{
	struct mm_civitai_ref r;
	cJSON *v = cJSON_Parse(doc);
	int rc;

	if (!ref(NULL, url, &r))
		return -1;
	rc = mm_upstream_civitai_pick(v, &r, sha, name, e);
	if (name && *name) {
		static char keep[64];

		snprintf(keep, sizeof(keep), "%s", *name);
		*name = keep;
	}
	cJSON_Delete(v);
	return rc;
}

static void civitai_pick(void)
{
	char sha[MM_HASH_HEXMAX + 1];
	const char *name;
	struct mm_err e;

	is_int(pick(version, "https://civitai.com/api/download/models/7", sha, &name, &e), 0,
	       "no query: the primary file");
	is_str(sha, SHA, "its SHA256, lowercase");
	is_str(name, "m.safetensors", "by name");
	is_int(pick(version, "https://civitai.com/api/download/models/7?type=Model&format=PickleTensor",
		    sha, &name, &e), 0, "type and format: the file they select");
	is_str(sha, SHB, "its SHA256");
	is_int(pick(version, "https://civitai.com/api/download/models/7?type=Model&fp=fp32", sha, &name,
		    &e), 0, "fp selects too");
	is_str(name, "m.ckpt", "the fp32 file");
	is_int(pick(version, "https://civitai.com/api/download/models/7?type=Model", sha, &name, &e), 0,
	       "several match: the primary one");
	is_str(name, "m.safetensors", "the primary file");
	is_int(pick(version, "https://civitai.com/api/download/models/7?type=VAE", sha, &name, &e),
	       MM_EINPUT, "a file whose SHA256 is not 64 hex gives none");
	ok(strstr(e.msg, "no SHA256") != NULL, "and says so: %s", e.msg);
	is_str(sha, "", "sha empty");
	is_int(pick(version, "https://civitai.com/api/download/models/7?type=Config", sha, &name, &e),
	       MM_EINPUT, "no file of that type");
	ok(strstr(e.msg, "version 7") != NULL, "the message names the version: %s", e.msg);
	is_int(pick("{\"files\": []}", "https://civitai.com/api/download/models/7", sha, &name, &e),
	       MM_EINPUT, "no files");
	is_int(pick("{\"files\": [{\"name\": \"a\", \"hashes\": {\"SHA256\": \"" SHA "\"}}]}",
		    "https://civitai.com/api/download/models/7", sha, &name, &e), 0,
	       "one file, none primary: that one");
	is_int(pick("[1]", "https://civitai.com/api/download/models/7", sha, &name, &e), MM_EINPUT,
	       "not an object");
	is_int(pick("{\"files\": [{\"hashes\": {\"SHA256\": 5}}, 3]}",
		    "https://civitai.com/api/download/models/7", sha, &name, &e), MM_EINPUT,
	       "wrong types: the one object file has no SHA256 string");
	is_str(sha, "", "so none");
}

static void bind_endpoint(void)
{
	struct mm_auth *a = NULL;
	struct mm_err e;

	memset(&e, 0, sizeof(e));
	ok(mm_auth_new(NULL, NULL, 1, &a, &e) == 0, "default bindings");
	is_int(mm_auth_bind_url(a, "CIVITAI_TOKEN", "http://127.0.0.1:9/civ", "CIVITAI_ENDPOINT", &e), 0,
	       "CIVITAI_ENDPOINT binds CIVITAI_TOKEN to its host");
	is_int(mm_auth_check(a, "CIVITAI_TOKEN", "http://127.0.0.1:5/api/download/models/1", NULL, 0),
	       MM_AUTH_OK, "so it goes there");
	is_int(mm_auth_check(a, "CIVITAI_TOKEN", "http://127.0.0.2:5/_r2/1/m?X-Amz-Signature=1", NULL, 0),
	       MM_AUTH_HOST, "and not to the R2 host");
	is_int(mm_auth_check(a, "CIVITAI_TOKEN", "https://civitai.com/x", NULL, 0), MM_AUTH_OK,
	       "civitai.com keeps it");
	is_int(mm_auth_check(a, "HF_TOKEN", "http://127.0.0.1:5/x", NULL, 0), MM_AUTH_HOST,
	       "HF_TOKEN is not bound by it");
	is_int(mm_auth_bind_url(a, "CIVITAI_TOKEN", "ftp://x/", "CIVITAI_ENDPOINT", &e), MM_EUSAGE,
	       "an ftp endpoint is refused");
	ok(strstr(e.msg, "CIVITAI_ENDPOINT") && !strstr(e.msg, "ftp"), "naming the variable, not the URL: %s",
	   e.msg);
	mm_auth_free(a);
	ok(mm_auth_new("CIVITAI_TOKEN=mirror.example", NULL, 1, &a, &e) == 0, "MM_AUTH_HOSTS names it");
	mm_auth_bind_url(a, "CIVITAI_TOKEN", "http://127.0.0.1:9/", "CIVITAI_ENDPOINT", &e);
	is_int(mm_auth_check(a, "CIVITAI_TOKEN", "http://127.0.0.1:9/x", NULL, 0), MM_AUTH_HOST,
	       "then CIVITAI_ENDPOINT adds no host, as MM_AUTH_HOSTS replaces HF_ENDPOINT's");
	mm_auth_free(a);
}

static void names(void)
{
	is_str(mm_hash_source_name(MM_SRC_HUGGINGFACE), "huggingface", "source names");
	is_int(mm_hash_source_from_name("civitai"), MM_SRC_CIVITAI, "and back");
	is_int(mm_hash_source_from_name("Civitai"), MM_SRC_NONE, "exactly");
	is_str(mm_hash_source_name((enum mm_hash_source)42), "none", "out of range");
}

int main(void)
{
	linked_etag();
	civitai_urls();
	civitai_pick();
	bind_endpoint();
	names();
	return done_testing();
}
