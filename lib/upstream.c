/* upstream.c — the sha256 Hugging Face and Civitai publish (upstream.h). */
#include "upstream.h"
#include "http.h"
#include "log.h"
#include "manifest.h"
#include "state.h"

#include <ctype.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define CIVITAI_BASE "https://civitai.com"
#define CIVITAI_DOWNLOAD "/api/download/models/"
#define CIVITAI_VERSIONS "/api/v1/model-versions/"
#define VERSION_MAX (4L << 20)          /* the largest model-versions answer read */

static const char *const source_names[] = {
	[MM_SRC_NONE] = "none",
	[MM_SRC_MANIFEST] = "manifest",
	[MM_SRC_HUGGINGFACE] = "huggingface",
	[MM_SRC_CIVITAI] = "civitai",
	[MM_SRC_COMPUTED] = "computed",
};

const char *mm_hash_source_name(enum mm_hash_source s)
{
	return (unsigned)s < sizeof(source_names) / sizeof(source_names[0]) ? source_names[s] : "none";
}

enum mm_hash_source mm_hash_source_from_name(const char *name)
{
	size_t i;

	for (i = 1; name && i < sizeof(source_names) / sizeof(source_names[0]); i++)
		if (strcmp(name, source_names[i]) == 0)
			return (enum mm_hash_source)i;
	return MM_SRC_NONE;
}

enum mm_hash_source mm_upstream_expected(const struct mm_model *m, struct mm_hash_spec *spec)
{
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(m->obj, "fetch");
	const cJSON *sha = cJSON_GetObjectItemCaseSensitive(f, "sha256");
	enum mm_hash_source fsrc = mm_hash_source_from_name(
		cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "hashSource")));
	struct mm_hash_spec fs;
	int have_m, have_f;

	memset(spec, 0, sizeof(*spec));
	have_m = m->hash && mm_hash_parse(m->hash, spec, NULL) == 0;
	if (!have_m)
		memset(spec, 0, sizeof(*spec));
	have_f = cJSON_IsString(sha) && fsrc != MM_SRC_NONE && fsrc != MM_SRC_MANIFEST &&
		 mm_hash_parse(sha->valuestring, &fs, NULL) == 0 && fs.algo == MM_HASH_SHA256;
	if (have_m && spec->algo == MM_HASH_SHA256)
		return MM_SRC_MANIFEST;
	if (have_f && (fsrc != MM_SRC_COMPUTED || !have_m)) {
		*spec = fs;
		return fsrc;
	}
	return have_m ? MM_SRC_MANIFEST : MM_SRC_NONE;
}

/* The lowercased scheme, host and port of url as libcurl parses it, and its path. */
struct parts {
	char *scheme, *host, *port, *path, *query;
};

static void parts_free(struct parts *p)
{
	curl_free(p->scheme);
	curl_free(p->host);
	curl_free(p->port);
	curl_free(p->path);
	curl_free(p->query);
	memset(p, 0, sizeof(*p));
}

static int parse(const char *url, struct parts *p)
{
	CURLU *u = curl_url();
	char *c;
	int ok;

	memset(p, 0, sizeof(*p));
	if (!u)
		return 0;
	ok = url && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	     curl_url_get(u, CURLUPART_SCHEME, &p->scheme, 0) == CURLUE_OK &&
	     curl_url_get(u, CURLUPART_HOST, &p->host, 0) == CURLUE_OK &&
	     curl_url_get(u, CURLUPART_PORT, &p->port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
	     curl_url_get(u, CURLUPART_PATH, &p->path, 0) == CURLUE_OK;
	if (ok && curl_url_get(u, CURLUPART_QUERY, &p->query, 0) != CURLUE_OK)
		p->query = NULL;
	curl_url_cleanup(u);
	if (!ok) {
		parts_free(p);
		return 0;
	}
	for (c = p->scheme; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	for (c = p->host; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return 1;
}

/* ------------------------------------------------------ Hugging Face */

/* The hub's own hop: exactly huggingface.co or hf.co over https, or HF_ENDPOINT's host. */
static int hf_hub(const struct mm_upstream *u, const struct parts *hop)
{
	struct parts e;
	int ok = 0;

	if (strcmp(hop->scheme, "https") == 0 &&
	    (strcmp(hop->host, "huggingface.co") == 0 || strcmp(hop->host, "hf.co") == 0))
		return 1;
	if (u && u->hf_endpoint && *u->hf_endpoint && parse(u->hf_endpoint, &e)) {
		ok = strcmp(e.host, hop->host) == 0;
		parts_free(&e);
	}
	return ok;
}

int mm_upstream_hf_digest(const struct mm_upstream *u, const char *hop_url, const char *value,
			  char sha[MM_HASH_HEXMAX + 1])
{
	struct parts hop;
	size_t n, i;
	int ok;

	sha[0] = '\0';
	if (!value)
		return 0;
	while (*value == ' ' || *value == '\t')
		value++;
	/* "<64 hex>", the quotes optional; a weak validator is no digest. */
	if (*value == '"')
		value++;
	n = strspn(value, "0123456789abcdefABCDEF");
	if (n != 64)
		return 0;
	for (i = 64; value[i] == '"' || value[i] == ' ' || value[i] == '\t' || value[i] == '\r' ||
		     value[i] == '\n'; i++)
		;
	if (value[i])
		return 0;
	if (!parse(hop_url, &hop))
		return 0;
	ok = hf_hub(u, &hop);
	parts_free(&hop);
	if (!ok)
		return 0;
	for (i = 0; i < 64; i++)
		sha[i] = (char)tolower((unsigned char)value[i]);
	sha[64] = '\0';
	return 1;
}

/* ------------------------------------------------------ Civitai */

static const char *civitai_base(const struct mm_upstream *u)
{
	return u && u->civitai_endpoint && *u->civitai_endpoint ? u->civitai_endpoint : CIVITAI_BASE;
}

/* The query value of key in a raw query string, decoded, into out; 1 when there. */
static int query_get(const char *query, const char *key, char *out, size_t outsz)
{
	const char *p = query;
	size_t kl = strlen(key);

	out[0] = '\0';
	while (p && *p) {
		const char *e = strchr(p, '&');
		size_t n = e ? (size_t)(e - p) : strlen(p);

		if (n > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
			int len = 0;
			char *v = curl_easy_unescape(NULL, p + kl + 1, (int)(n - kl - 1), &len);

			if (v && len >= 0 && (size_t)len < outsz && !memchr(v, '\0', (size_t)len)) {
				memcpy(out, v, (size_t)len);
				out[len] = '\0';
			}
			curl_free(v);
			return out[0] != '\0';
		}
		p = e ? e + 1 : NULL;
	}
	return 0;
}

int mm_upstream_civitai_ref(const struct mm_upstream *u, const char *url, struct mm_civitai_ref *ref)
{
	struct parts p, b;
	const char *path, *id;
	size_t plen, n;
	int ok = 0;

	memset(ref, 0, sizeof(*ref));
	if (!parse(url, &p))
		return 0;
	path = p.path;
	if (strcmp(p.scheme, "https") == 0 && strcmp(p.host, "civitai.com") == 0) {
		ok = 1;
	} else if (u && u->civitai_endpoint && *u->civitai_endpoint && parse(u->civitai_endpoint, &b)) {
		plen = strlen(b.path);
		while (plen && b.path[plen - 1] == '/')
			plen--;
		ok = strcmp(b.scheme, p.scheme) == 0 && strcmp(b.host, p.host) == 0 &&
		     strcmp(b.port, p.port) == 0 && strncmp(p.path, b.path, plen) == 0;
		if (ok)
			path = p.path + plen;
		parts_free(&b);
	}
	if (ok && strncmp(path, CIVITAI_DOWNLOAD, strlen(CIVITAI_DOWNLOAD)) == 0) {
		id = path + strlen(CIVITAI_DOWNLOAD);
		n = strspn(id, "0123456789");
		ok = n > 0 && n < sizeof(ref->id) && (id[n] == '\0' || (id[n] == '/' && !id[n + 1]));
		if (ok) {
			memcpy(ref->id, id, n);
			query_get(p.query, "type", ref->type, sizeof(ref->type));
			query_get(p.query, "format", ref->format, sizeof(ref->format));
			query_get(p.query, "size", ref->size, sizeof(ref->size));
			query_get(p.query, "fp", ref->fp, sizeof(ref->fp));
		}
	} else {
		ok = 0;
	}
	parts_free(&p);
	if (!ok)
		memset(ref, 0, sizeof(*ref));
	return ok;
}

/* A string member of o equal (case-insensitive) to want; an empty want always matches. */
static int field_is(const cJSON *o, const char *key, const char *want)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return !*want || (cJSON_IsString(v) && strcasecmp(v->valuestring, want) == 0);
}

static int selects(const cJSON *file, const struct mm_civitai_ref *ref)
{
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(file, "metadata");

	if (!field_is(file, "type", ref->type))
		return 0;
	if (!*ref->format && !*ref->size && !*ref->fp)
		return 1;
	return cJSON_IsObject(meta) && field_is(meta, "format", ref->format) &&
	       field_is(meta, "size", ref->size) && field_is(meta, "fp", ref->fp);
}

int mm_upstream_civitai_pick(const cJSON *version, const struct mm_civitai_ref *ref,
			     char sha[MM_HASH_HEXMAX + 1], const char **name, struct mm_err *err)
{
	const cJSON *files = cJSON_GetObjectItemCaseSensitive(version, "files");
	const cJSON *f, *pick = NULL, *first = NULL, *hashes, *h, *nm;
	int any = *ref->type || *ref->format || *ref->size || *ref->fp, count = 0;
	size_t i;

	sha[0] = '\0';
	if (name)
		*name = NULL;
	if (!cJSON_IsArray(files) || cJSON_GetArraySize(files) == 0)
		return mm_error(err, MM_EINPUT, "Civitai lists no files for model version %s", ref->id);
	cJSON_ArrayForEach(f, files) {
		const cJSON *primary = cJSON_GetObjectItemCaseSensitive(f, "primary");

		if (!cJSON_IsObject(f))
			continue;
		count++;
		if (!first)
			first = f;
		if (any ? selects(f, ref) : cJSON_IsTrue(primary)) {
			/* Several match: the primary one, else the first. */
			if (!pick || cJSON_IsTrue(primary))
				pick = f;
			if (cJSON_IsTrue(primary))
				break;
		}
	}
	if (!pick && !any && count == 1)
		pick = first;
	if (!pick)
		return mm_error(err, MM_EINPUT, "no file of Civitai model version %s is %s", ref->id,
				any ? "of the type and format the download URL asks for" : "marked primary");
	hashes = cJSON_GetObjectItemCaseSensitive(pick, "hashes");
	h = cJSON_IsObject(hashes) ? cJSON_GetObjectItemCaseSensitive(hashes, "SHA256") : NULL;
	nm = cJSON_GetObjectItemCaseSensitive(pick, "name");
	if (name && cJSON_IsString(nm))
		*name = nm->valuestring;
	if (!cJSON_IsString(h) || strlen(h->valuestring) != 64 ||
	    strspn(h->valuestring, "0123456789abcdefABCDEF") != 64)
		return mm_error(err, MM_EINPUT, "Civitai gives no SHA256 for the file of model version %s",
				ref->id);
	for (i = 0; i < 64; i++)
		sha[i] = (char)tolower((unsigned char)h->valuestring[i]);
	sha[64] = '\0';
	return 0;
}

/* One version to look up. */
struct ver {
	char id[24];
	cJSON *doc;
	char error[300];
};

static char *cache_read(int dfd, const char *name, size_t *len)
{
	int fd = mm_state_openat(dfd, name, O_RDONLY, 0);
	struct mm_buf b = { 0 };
	char tmp[65536];
	ssize_t r;

	*len = 0;
	if (fd < 0)
		return NULL;
	while ((r = read(fd, tmp, sizeof(tmp))) > 0 && b.len + (size_t)r <= (size_t)VERSION_MAX)
		mm_buf_put(&b, tmp, (size_t)r);
	close(fd);
	if (r != 0 || !b.p) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}

/* A model-versions answer worth keeping: an object with a files array. */
static cJSON *version_parse(const char *text, size_t len, const char *id)
{
	cJSON *doc = cJSON_ParseWithLength(text, len);
	const cJSON *vid = cJSON_GetObjectItemCaseSensitive(doc, "id");
	char want[32];

	snprintf(want, sizeof(want), "%s", id);
	if (!cJSON_IsObject(doc) || !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(doc, "files")) ||
	    (cJSON_IsNumber(vid) && (snprintf(want, sizeof(want), "%.0f", vid->valuedouble),
				     strcmp(want, id) != 0))) {
		cJSON_Delete(doc);
		return NULL;
	}
	return doc;
}

static void lookup(const struct mm_upstream *u, struct ver *v, size_t nv)
{
	struct mm_state st = { NULL, -1 };
	struct mm_http_get *g = mm_xcalloc(nv + 1, sizeof(*g));
	size_t *which = mm_xcalloc(nv + 1, sizeof(*which));
	struct mm_http_policy pol;
	struct mm_err e;
	int dfd = -1;
	size_t i, ng = 0;
	char base[512];

	snprintf(base, sizeof(base), "%s", civitai_base(u));
	for (i = strlen(base); i > 0 && base[i - 1] == '/'; i--)
		base[i - 1] = '\0';
	if (u->state_dir && mm_state_open(&st, u->state_dir, 1, &e) == 0) {
		dfd = mm_state_subdir(&st, MM_STATE_CIVITAI, 1, &e);
		if (dfd < 0)
			mm_debugf("civitai answers are not cached: %s", e.msg);
	}
	for (i = 0; i < nv; i++) {
		char name[40];
		size_t len;
		char *text;

		snprintf(name, sizeof(name), "%s.json", v[i].id);
		text = dfd >= 0 ? cache_read(dfd, name, &len) : NULL;
		if (text)
			v[i].doc = version_parse(text, len, v[i].id);
		free(text);
		if (v[i].doc)
			continue;
		g[ng].url = mm_xasprintf("%s" CIVITAI_VERSIONS "%s", base, v[i].id);
		if (u->civitai_token && *u->civitai_token &&
		    mm_auth_check(u->auth, "CIVITAI_TOKEN", g[ng].url, NULL, 0) == MM_AUTH_OK)
			g[ng].bearer = u->civitai_token;
		which[ng++] = i;
	}
	memset(&pol, 0, sizeof(pol));
	pol.timeout = 60;
	pol.accept_gzip = 1;
	if (ng && mm_http_get_all(g, ng, 4, (size_t)VERSION_MAX, &pol, &e) != 0) {
		for (i = 0; i < ng; i++)
			snprintf(v[which[i]].error, sizeof(v[which[i]].error), "CIVITAI_ENDPOINT: %.200s",
				 e.msg);
		ng = 0;
	}
	for (i = 0; i < ng; i++) {
		struct ver *w = &v[which[i]];
		char desc[300];

		if (mm_http_classify(g[i].code, g[i].status) != MM_HTTP_DONE || g[i].too_large) {
			mm_http_describe(g[i].code, g[i].status, g[i].error, desc, sizeof(desc));
			snprintf(w->error, sizeof(w->error), "Civitai's model version %s: %.200s", w->id,
				 g[i].too_large ? "the answer is too large" : desc);
		} else if (!(w->doc = version_parse(g[i].body, g[i].len, w->id))) {
			snprintf(w->error, sizeof(w->error),
				 "Civitai's answer for model version %s is not a version with files", w->id);
		} else if (dfd >= 0) {
			char name[40];

			snprintf(name, sizeof(name), "%s.json", w->id);
			if (mm_state_write(dfd, name, g[i].body, g[i].len, &e) != 0)
				mm_debugf("cannot cache Civitai's answer: %s", e.msg);
		}
	}
	for (i = 0; i < ng; i++) {
		free(g[i].url);
		free(g[i].body);
	}
	free(g);
	free(which);
	if (dfd >= 0)
		close(dfd);
	mm_state_close(&st);
}

void mm_upstream_civitai(const struct mm_upstream *u, struct mm_upstream_q *q, size_t n)
{
	struct mm_civitai_ref *refs = mm_xcalloc(n + 1, sizeof(*refs));
	struct ver *v = mm_xcalloc(n + 1, sizeof(*v));
	size_t i, k, nv = 0;

	for (i = 0; i < n; i++) {
		q[i].sha256[0] = q[i].error[0] = '\0';
		q[i].civitai = mm_upstream_civitai_ref(u, q[i].url, &refs[i]);
		if (!q[i].civitai)
			continue;
		for (k = 0; k < nv && strcmp(v[k].id, refs[i].id) != 0; k++)
			;
		if (k == nv)
			snprintf(v[nv++].id, sizeof(v[0].id), "%s", refs[i].id);
	}
	if (nv)
		lookup(u, v, nv);
	for (i = 0; i < n; i++) {
		struct mm_err e;

		if (!q[i].civitai)
			continue;
		for (k = 0; k < nv && strcmp(v[k].id, refs[i].id) != 0; k++)
			;
		if (!v[k].doc)
			snprintf(q[i].error, sizeof(q[i].error), "%s", v[k].error);
		else if (mm_upstream_civitai_pick(v[k].doc, &refs[i], q[i].sha256, NULL, &e) != 0)
			snprintf(q[i].error, sizeof(q[i].error), "%.290s", e.msg);
	}
	for (k = 0; k < nv; k++)
		cJSON_Delete(v[k].doc);
	free(v);
	free(refs);
}
