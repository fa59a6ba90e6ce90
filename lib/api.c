/* api.c — EmProps API answers, cached, and discovery of the models they name. */
#include "api.h"
#include "http.h"
#include "log.h"
#include "paths.h"
#include "state.h"
#include "modeltype.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* One API request and its outcome. */
struct areq {
	char *path;       /* relative to the base: "workflows/name/x"; the cache key */
	char *url_path;   /* when the request path is not the cache key, or NULL */
	char *post;       /* a JSON body to POST, or NULL */
	int unsupported;  /* a POST answered 404, 405 or 501 */
	char *what;       /* for messages: "workflow 'x'" */
	cJSON *doc;       /* the envelope, owned */
	cJSON *data;      /* borrowed from doc */
	int rc;           /* 0, MM_EINPUT, MM_EUNAVAIL */
	int notfound;
	char msg[MM_ERRSZ];
};

char *mm_api_escape(const char *name)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(name), i, o = 0;
	char *s = mm_xmalloc(n * 3 + 1);
	/* "." and ".." would be path steps; any other dot is a plain character. */
	int dots_only = strspn(name, ".") == n;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '~' || (c == '.' && !dots_only)) {
			s[o++] = (char)c;
		} else {
			s[o++] = '%';
			s[o++] = hex[c >> 4];
			s[o++] = hex[c & 15];
		}
	}
	s[o] = '\0';
	return s;
}

/* api/<path>.json beneath the state directory, long names replaced by their sha256. */
static char *cache_path(const char *path)
{
	const char *slash = strrchr(path, '/');
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	char hex[2 * EVP_MAX_MD_SIZE + 1];

	if (strlen(slash ? slash + 1 : path) <= 200)
		return mm_xasprintf(MM_STATE_API "/%s.json", path);
	EVP_Digest(path, strlen(path), md, &mdlen, EVP_sha256(), NULL);
	for (i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return mm_xasprintf(MM_STATE_API "/%.*s%s.json", slash ? (int)(slash - path + 1) : 0, path,
			    hex);
}

/* Store a good answer (state.h's rule); a cache that cannot be written is only a warning. */
static void cache_store(const struct mm_api *api, const char *path, const char *body, size_t len)
{
	char *rel = cache_path(path), *dir = mm_dirname(rel);
	struct mm_err e = { 0 };
	int dfd;

	if (api->state.fd < 0)
		goto out;
	dfd = mm_state_subdir(&api->state, dir, 1, &e);
	if (dfd < 0 || mm_state_write(dfd, mm_basename(rel), body, len, &e) != 0)
		mm_warnf("cannot cache the API answer in %s/%s: %s", api->state_dir, dir, e.msg);
	if (dfd >= 0)
		close(dfd);
out:
	free(dir);
	free(rel);
}

static void first_dup(void *arg, const char *where, const char *key)
{
	char *s = arg;

	snprintf(s, 300, "key '%.64s' is given twice%s%.200s", key, *where ? " in " : "", where);
}

/* Parse an envelope; 0 with r->doc/r->data set, or MM_EINPUT. */
static int parse_envelope(struct areq *r, const char *body, size_t len)
{
	size_t at;
	char why[128], dup[300];
	cJSON *doc, *e, *d;

	if (len == 0) {
		snprintf(r->msg, sizeof(r->msg), "the API answered %s with an empty body", r->what);
		return r->rc = MM_EINPUT;
	}
	if (mm_json_text_check(body, len, &at, why, sizeof(why)) < 0) {
		snprintf(r->msg, sizeof(r->msg), "the API's answer for %s is not valid JSON text: %s at byte %zu",
			 r->what, why, at);
		return r->rc = MM_EINPUT;
	}
	doc = cJSON_ParseWithLength(body, len);
	if (!doc) {
		snprintf(r->msg, sizeof(r->msg), "the API's answer for %s is not JSON", r->what);
		return r->rc = MM_EINPUT;
	}
	if (mm_json_dup_keys(doc, 1, first_dup, dup)) {
		snprintf(r->msg, sizeof(r->msg), "the API's answer for %s is ambiguous: %s", r->what, dup);
		cJSON_Delete(doc);
		return r->rc = MM_EINPUT;
	}
	if (!cJSON_IsObject(doc)) {
		snprintf(r->msg, sizeof(r->msg), "the API's answer for %s is not a JSON object", r->what);
		cJSON_Delete(doc);
		return r->rc = MM_EINPUT;
	}
	e = cJSON_GetObjectItemCaseSensitive(doc, "error");
	if (e && !cJSON_IsNull(e) && !cJSON_IsFalse(e)) {
		char *s = cJSON_IsString(e) ? NULL : cJSON_PrintUnformatted(e);

		snprintf(r->msg, sizeof(r->msg), "the API answered %s with an error: %.300s", r->what,
			 s ? s : e->valuestring);
		cJSON_free(s);
		cJSON_Delete(doc);
		return r->rc = MM_EINPUT;
	}
	d = cJSON_GetObjectItemCaseSensitive(doc, "data");
	if (!d || cJSON_IsNull(d)) {
		snprintf(r->msg, sizeof(r->msg), "the API's answer for %s has no data", r->what);
		cJSON_Delete(doc);
		return r->rc = MM_EINPUT;
	}
	r->doc = doc;
	r->data = d;
	return r->rc = 0;
}

/* Fall back to the cache; reason says why the API was not used. */
static void from_cache(struct mm_api *api, struct areq *r, const char *reason)
{
	char *rel = cache_path(r->path), *body = NULL;
	char *file = mm_xasprintf("%s/%s", api->state_dir, rel);
	int fd = api->state.fd < 0 ? -1 : mm_state_openat(api->state.fd, rel, O_RDONLY, 0);
	FILE *f = fd < 0 ? NULL : fdopen(fd, "rb");
	struct stat st;
	size_t len;

	if (!f) {
		if (api->offline)
			snprintf(r->msg, sizeof(r->msg), "offline, and no cached answer for %s", r->what);
		else
			snprintf(r->msg, sizeof(r->msg), "cannot reach the API for %s (%s), and no answer is cached",
				 r->what, reason);
		r->rc = MM_EUNAVAIL;
		goto out;
	}
	if (fstat(fileno(f), &st) < 0 || st.st_size > MM_API_MAX_ANSWER) {
		snprintf(r->msg, sizeof(r->msg), "the cached answer %s is unreadable or too large", file);
		r->rc = MM_EINPUT;
		goto out;
	}
	body = mm_xmalloc((size_t)st.st_size + 1);
	len = fread(body, 1, (size_t)st.st_size, f);
	body[len] = '\0';
	if (parse_envelope(r, body, len) == 0) {
		char when[32];

		mm_iso8601((long long)st.st_mtime, when);
		api->from_cache++;
		if (!api->offline)
			mm_warnf("the API is unreachable for %s (%s); using the answer cached at %s",
				 r->what, reason, when);
	} else {
		char m[MM_ERRSZ];

		snprintf(m, sizeof(m), "%s", r->msg);
		snprintf(r->msg, sizeof(r->msg), "cached answer %.200s: %.800s", file, m);
	}
out:
	if (f)
		fclose(f);
	else if (fd >= 0)
		close(fd);
	free(body);
	free(file);
	free(rel);
}

static void sleep_seconds(double s)
{
	struct timespec ts;

	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * Take one HTTP answer into q: its data, a 404 (q->notfound), an endpoint
 * the deployment lacks (q->unsupported) or a failure in q->msg.  Returns 1
 * when the failure is transient and the request is worth another try
 * (*reason says why).
 */
static int take_answer(struct mm_api *api, struct areq *q, const struct mm_http_get *b,
		       char **reason)
{
	enum mm_http_class c = mm_http_classify(b->code, b->status);
	char desc[300];

	mm_http_describe(b->code, b->status, b->error, desc, sizeof(desc));
	if (b->too_large) {
		snprintf(q->msg, sizeof(q->msg), "the API's answer for %s is larger than %ld MiB",
			 q->what, MM_API_MAX_ANSWER >> 20);
		q->rc = MM_EINPUT;
	} else if (q->post && b->code == CURLE_OK &&
		   (b->status == 404 || b->status == 405 || b->status == 501)) {
		/* A deployment without this endpoint. */
		q->unsupported = 1;
		q->rc = MM_EINPUT;
		snprintf(q->msg, sizeof(q->msg), "the API has no %s (HTTP %ld)", q->what, b->status);
	} else if (c == MM_HTTP_DONE) {
		if (parse_envelope(q, b->body, b->len) == 0)
			cache_store(api, q->path, b->body, b->len);
	} else if (b->code == CURLE_OK && b->status == 404) {
		struct areq tmp = *q;

		q->notfound = 1;
		q->rc = MM_EINPUT;
		/* Keep the API's own words when it gave some. */
		if (parse_envelope(&tmp, b->body, b->len) != 0 && strstr(tmp.msg, "with an error"))
			snprintf(q->msg, sizeof(q->msg), "unknown %s (HTTP 404; %s)", q->what,
				 strstr(tmp.msg, "error: ") + 7);
		else
			snprintf(q->msg, sizeof(q->msg), "unknown %s (HTTP 404)", q->what);
		if (tmp.doc)
			cJSON_Delete(tmp.doc);
	} else if (c == MM_HTTP_TRANSIENT) {
		free(*reason);
		*reason = mm_xstrdup(desc);
		return 1;
	} else {
		snprintf(q->msg, sizeof(q->msg), "the API request for %s failed: %s", q->what, desc);
		q->rc = MM_EINPUT;
	}
	return 0;
}

/* Resolve every request: API with retries, else the cache. */
static void api_get_all(struct mm_api *api, struct areq *r, size_t n)
{
	struct mm_http_policy pol = {0};
	struct mm_http_get *g;
	size_t *pending, npend = 0, i, k;
	int attempts = api->attempts > 0 ? api->attempts : 3, a;
	char **reason;

	for (i = 0; i < n; i++) {
		r[i].rc = 0;
		r[i].msg[0] = '\0';
	}
	if (api->offline || !api->base) {
		for (i = 0; i < n; i++)
			from_cache(api, &r[i], "offline");
		return;
	}
	pol.timeout = api->timeout > 0 ? api->timeout : 30;
	pol.connect_timeout = pol.timeout < 10 ? pol.timeout : 10;
	pol.accept_gzip = 1;
	pol.max_redirs = 5;
	g = mm_xcalloc(n ? n : 1, sizeof(*g));
	pending = mm_xcalloc(n ? n : 1, sizeof(*pending));
	reason = mm_xcalloc(n ? n : 1, sizeof(*reason));
	for (i = 0; i < n; i++) {
		const char *base = api->base;
		size_t bl = strlen(base);

		while (bl > 0 && base[bl - 1] == '/')
			bl--;
		g[i].url = mm_xasprintf("%.*s/%s", (int)bl, base, r[i].url_path ? r[i].url_path : r[i].path);
		pending[npend++] = i;
	}
	for (a = 1; a <= attempts && npend > 0; a++) {
		struct mm_http_get *batch = mm_xcalloc(npend, sizeof(*batch));
		struct mm_err err = {0};
		size_t still = 0;

		for (k = 0; k < npend; k++) {
			batch[k].url = g[pending[k]].url;
			batch[k].post = r[pending[k]].post;
		}
		if (mm_http_get_all(batch, npend, api->parallel > 0 ? api->parallel : 8,
				    MM_API_MAX_ANSWER, &pol, &err)) {
			for (k = 0; k < npend; k++) {
				struct areq *q = &r[pending[k]];

				q->rc = MM_EUSAGE;
				snprintf(q->msg, sizeof(q->msg), "EMPROPS_API_BASE_URL: %.900s", err.msg);
			}
			free(batch);
			npend = 0;
			break;
		}
		for (k = 0; k < npend; k++) {
			struct mm_http_get *b = &batch[k];

			if (take_answer(api, &r[pending[k]], b, &reason[pending[k]]))
				pending[still++] = pending[k];
			free(b->body);
		}
		free(batch);
		npend = still;
		if (npend > 0 && a < attempts)
			sleep_seconds(0.25 * (1 << (a - 1)));
	}
	for (k = 0; k < npend; k++)
		from_cache(api, &r[pending[k]], reason[pending[k]] ? reason[pending[k]] : "unreachable");
	for (i = 0; i < n; i++) {
		free(g[i].url);
		free(reason[i]);
	}
	free(reason);
	free(pending);
	free(g);
}

/* Free what r[0..n) hold, not the array. */
static void areq_release(struct areq *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(r[i].path);
		free(r[i].url_path);
		free(r[i].post);
		free(r[i].what);
		cJSON_Delete(r[i].doc);
	}
}

static void areq_clear(struct areq *r, size_t n)
{
	areq_release(r, n);
	free(r);
}

/* Keep the most telling failure: unreachable beats bad input beats usage. */
static void note_failure(struct mm_err *err, const struct areq *r, int *nfail)
{
	if (!r->rc)
		return;
	if (*nfail == 0 || (r->rc == MM_EUNAVAIL && err->code != MM_EUNAVAIL))
		mm_error(err, r->rc, "%s", r->msg);
	(*nfail)++;
}

/* A pending model: either an object to keep or a name to resolve. */
struct pending_model {
	cJSON *obj;         /* owned until added to the manifest */
	char *name;         /* when obj is NULL: resolve this */
	char *source;
};

struct collect {
	struct pending_model *v;
	size_t n;
	cJSON *nodes;       /* custom_nodes by source, passed through */
};

static void collect_add(struct collect *c, cJSON *obj, const char *name, const char *source)
{
	c->v = mm_xrealloc(c->v, (c->n + 1) * sizeof(*c->v));
	c->v[c->n].obj = obj;
	c->v[c->n].name = name ? mm_xstrdup(name) : NULL;
	c->v[c->n].source = mm_xstrdup(source);
	c->n++;
}

/* The models of one workflow answer, into c.  0 or MM_EINPUT. */
static int workflow_models(const struct areq *r, const char *source, struct collect *c,
			   struct mm_err *err)
{
	cJSON *models = cJSON_GetObjectItemCaseSensitive(r->data, "models"), *m, *nodes;
	int i = 0;

	if (!cJSON_IsObject(r->data))
		return mm_error(err, MM_EINPUT, "the API's answer for %s: data is not an object", r->what);
	if (!models || cJSON_IsNull(models))
		return mm_error(err, MM_EINPUT, "the API's answer for %s has no data.models", r->what);
	if (!cJSON_IsArray(models))
		return mm_error(err, MM_EINPUT, "the API's answer for %s: data.models is not an array", r->what);
	cJSON_ArrayForEach(m, models) {
		if (cJSON_IsObject(m))
			collect_add(c, cJSON_Duplicate(m, 1), NULL, source);
		else if (cJSON_IsString(m) && *m->valuestring)
			collect_add(c, NULL, m->valuestring, source);
		else
			return mm_error(err, MM_EINPUT,
					"the API's answer for %s: data.models[%d] is neither a model nor a model name",
					r->what, i);
		i++;
	}
	/* Not mm's job: kept as they came, for a custom-node installer. */
	nodes = cJSON_GetObjectItemCaseSensitive(r->data, "custom_nodes");
	if (nodes && !cJSON_IsNull(nodes)) {
		if (!c->nodes)
			c->nodes = cJSON_CreateObject();
		if (!cJSON_GetObjectItemCaseSensitive(c->nodes, source))
			cJSON_AddItemToObject(c->nodes, source, cJSON_Duplicate(nodes, 1));
	}
	return 0;
}

/* Workflow names of a collection answer (collection_node[] or components[]). */
static int collection_workflows(const struct areq *r, struct mm_list *names, struct mm_err *err)
{
	cJSON *nodes, *n;
	int i = 0;

	if (!cJSON_IsObject(r->data))
		return mm_error(err, MM_EINPUT, "the API's answer for %s: data is not an object", r->what);
	nodes = cJSON_GetObjectItemCaseSensitive(r->data, "collection_node");
	if (!nodes)
		nodes = cJSON_GetObjectItemCaseSensitive(r->data, "components");
	if (!cJSON_IsArray(nodes))
		return mm_error(err, MM_EINPUT,
				"the API's answer for %s has no collection_node or components array", r->what);
	cJSON_ArrayForEach(n, nodes) {
		cJSON *name = cJSON_IsObject(n) ? cJSON_GetObjectItemCaseSensitive(n, "name") : n;

		if (!cJSON_IsString(name) || !*name->valuestring)
			return mm_error(err, MM_EINPUT, "the API's answer for %s: entry %d has no workflow name",
					r->what, i);
		mm_list_push(names, name->valuestring);
		i++;
	}
	return 0;
}

static struct areq *make_reqs(const char *kind, const char *what, const struct mm_list *names,
			      const char *suffix)
{
	struct areq *r = mm_xcalloc(names->n ? names->n : 1, sizeof(*r));
	size_t i;

	for (i = 0; i < names->n; i++) {
		char *e = mm_api_escape(names->v[i]);

		r[i].path = mm_xasprintf("%s/%s%s", kind, e, suffix);
		r[i].what = mm_xasprintf("%s '%s'", what, names->v[i]);
		free(e);
	}
	return r;
}

static cJSON *string_array(const struct mm_list *l)
{
	cJSON *a = cJSON_CreateArray();
	size_t i;

	for (i = 0; i < l->n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(l->v[i]));
	return a;
}

/* 8-4-4-4-12 hex digits: an id, not a name. */
static int looks_like_uuid(const char *s)
{
	static const int groups[] = {8, 4, 4, 4, 12};
	size_t g;
	int k;

	for (g = 0; g < 5; g++) {
		for (k = 0; k < groups[g]; k++, s++)
			if (!isxdigit((unsigned char)*s))
				return 0;
		if (*s != (g < 4 ? '-' : '\0'))
			return 0;
		s++;
	}
	return 1;
}

/*
 * One batch request: POST {base}/{kind}/dependencies with body, its answer
 * cached under batch/{kind}/{items}.
 */
static void batch_req(struct areq *r, const char *kind, const struct mm_list *items, cJSON *body)
{
	char *joined = mm_xstrdup(""), *e, *t;
	size_t i;

	for (i = 0; i < items->n; i++) {
		t = mm_xasprintf("%s%s%s", joined, i ? "," : "", items->v[i]);
		free(joined);
		joined = t;
	}
	e = mm_api_escape(joined);
	r->path = mm_xasprintf("batch/%s/%s", kind, e);
	r->url_path = mm_xasprintf("%s/dependencies", kind);
	r->what = mm_xasprintf("POST /%s/dependencies", kind);
	t = cJSON_PrintUnformatted(body);
	r->post = mm_xstrdup(t);
	cJSON_free(t);
	cJSON_Delete(body);
	free(e);
	free(joined);
}

/* The entry of a batch answer for item, by id or by name; NULL when absent. */
static cJSON *batch_entry(const cJSON *data, const char *idkey, const char *namekey, const char *item)
{
	cJSON *e;
	int uuid = looks_like_uuid(item);

	cJSON_ArrayForEach(e, data) {
		cJSON *id = cJSON_GetObjectItemCaseSensitive(e, idkey);
		cJSON *nm = namekey ? cJSON_GetObjectItemCaseSensitive(e, namekey) : NULL;

		if (cJSON_IsString(id) && (uuid ? strcasecmp(id->valuestring, item) : strcmp(id->valuestring, item)) == 0)
			return e;
		if (cJSON_IsString(nm) && strcmp(nm->valuestring, item) == 0)
			return e;
	}
	return NULL;
}

/* The models of a workflow asked for directly (-w, or a legacy component). */
static int direct_models(const struct areq *r, const char *name, const struct mm_discover_req *req,
			 struct collect *col, struct mm_err *err)
{
	char *s;
	int nfail = 0;

	if (mm_list_has(&req->workflows, name)) {
		s = mm_xasprintf("workflow:%s", name);
		if (workflow_models(r, s, col, err))
			nfail++;
		free(s);
	}
	if (mm_list_has(&req->components, name)) {
		s = mm_xasprintf("%s:%s", req->components_as_workflows ? "workflow" : "component", name);
		if (!(req->components_as_workflows && mm_list_has(&req->workflows, name)) &&
		    workflow_models(r, s, col, err))
			nfail++;
		free(s);
	}
	return nfail;
}

/*
 * Round 0: the deployed API's batch endpoints, one request for every
 * workflow and one for every collection.  *wf_done / *coll_done say which
 * answered; a deployment without them (404, 405, 501), or an API that is
 * down with no batch answer cached, leaves the per-item endpoints to do it.
 */
static int batch_round(struct mm_api *api, const struct mm_discover_req *req,
		       const struct mm_list *direct, struct collect *col, int *wf_done,
		       int *coll_done, struct mm_err *err)
{
	struct areq r[2];
	size_t n = 0, k, i;
	int iw = -1, ic = -1, nfail = 0;

	memset(r, 0, sizeof(r));
	*wf_done = *coll_done = 0;
	if (direct->n) {
		cJSON *body = cJSON_CreateObject(), *names = cJSON_CreateArray(), *ids = cJSON_CreateArray();

		for (i = 0; i < direct->n; i++)
			cJSON_AddItemToArray(looks_like_uuid(direct->v[i]) ? ids : names,
					     cJSON_CreateString(direct->v[i]));
		if (cJSON_GetArraySize(names))
			cJSON_AddItemToObject(body, "workflow_names", names);
		else
			cJSON_Delete(names);
		if (cJSON_GetArraySize(ids))
			cJSON_AddItemToObject(body, "workflow_ids", ids);
		else
			cJSON_Delete(ids);
		batch_req(&r[n], "workflows", direct, body);
		iw = (int)n++;
	}
	if (req->collections.n) {
		cJSON *body = cJSON_CreateObject();

		cJSON_AddItemToObject(body, "collection_ids", string_array(&req->collections));
		batch_req(&r[n], "collections", &req->collections, body);
		ic = (int)n++;
	}
	api_get_all(api, r, n);
	for (k = 0; k < n; k++) {
		if (r[k].rc == 0 && !cJSON_IsArray(r[k].data)) {
			mm_error(err, MM_EINPUT, "the API's answer for %s: data is not an array", r[k].what);
			nfail++;
		} else if (r[k].rc == 0) {
			*((int)k == iw ? wf_done : coll_done) = 1;
		} else if (r[k].unsupported || r[k].rc == MM_EUNAVAIL) {
			mm_debugf("%s; asking for each %s instead", r[k].msg,
				  (int)k == iw ? "workflow" : "collection");
		} else {
			note_failure(err, &r[k], &nfail);
		}
	}
	for (i = 0; *wf_done && !nfail && i < direct->n; i++) {
		struct areq e = {0};

		e.what = mm_xasprintf("workflow '%s'", direct->v[i]);
		e.data = batch_entry(r[iw].data, "workflow_id", "workflow_name", direct->v[i]);
		if (!e.data) {
			mm_error(err, MM_EINPUT, "unknown workflow '%s' (not in the answer to %s)",
				 direct->v[i], r[iw].what);
			nfail++;
		} else {
			nfail += direct_models(&e, direct->v[i], req, col, err);
		}
		free(e.what);
	}
	for (i = 0; *coll_done && !nfail && i < req->collections.n; i++) {
		const char *id = req->collections.v[i];
		struct areq e = {0};

		e.what = mm_xasprintf("collection '%s'", id);
		e.data = batch_entry(r[ic].data, "collection_id", NULL, id);
		if (!e.data) {
			mm_error(err, MM_EINPUT, "unknown collection '%s' (not in the answer to %s)", id,
				 r[ic].what);
			nfail++;
		} else {
			char *s = mm_xasprintf("collection:%s", id);

			if (workflow_models(&e, s, col, err))
				nfail++;
			free(s);
		}
		free(e.what);
	}
	areq_release(r, n);
	return nfail;
}

/* A model object's name, in either spelling, or NULL. */
static const char *model_name(const cJSON *o)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, "name");

	if (!cJSON_IsString(n))
		n = cJSON_GetObjectItemCaseSensitive(o, "filename");
	return cJSON_IsString(n) && *n->valuestring ? n->valuestring : NULL;
}

static const char *model_id(const cJSON *o)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");

	return cJSON_IsString(id) && *id->valuestring ? id->valuestring : NULL;
}

/* The index in col of the model with this id, or -1. */
static long find_id(const struct collect *col, const char *id)
{
	size_t i;

	for (i = 0; i < col->n; i++) {
		const char *m = col->v[i].obj ? model_id(col->v[i].obj) : NULL;

		if (m && strcmp(m, id) == 0)
			return (long)i;
	}
	return -1;
}

/* The dependency ids of model i that are not in col yet, into want. */
static int missing_deps(const struct collect *col, size_t i, struct mm_list *want, struct mm_err *err)
{
	cJSON *deps = cJSON_GetObjectItemCaseSensitive(col->v[i].obj, "dependencies"), *d;
	const char *who = model_name(col->v[i].obj);

	if (!deps || cJSON_IsNull(deps))
		return 0;
	if (!cJSON_IsArray(deps))
		return mm_error(err, MM_EINPUT, "model %s: dependencies is not an array of model ids",
				who ? who : "(no name)");
	cJSON_ArrayForEach(d, deps) {
		if (!cJSON_IsString(d) || !*d->valuestring)
			return mm_error(err, MM_EINPUT, "model %s: dependencies is not an array of model ids",
					who ? who : "(no name)");
		if (find_id(col, d->valuestring) < 0)
			mm_list_push(want, d->valuestring);
	}
	return 0;
}

/* Depth-first: 0 when no cycle runs through i; else the path in msg. */
static int dep_cycle(const struct collect *col, size_t i, int *mark, size_t *path, size_t depth,
		     struct mm_err *err)
{
	cJSON *deps = cJSON_GetObjectItemCaseSensitive(col->v[i].obj, "dependencies"), *d;

	if (mark[i] == 2)
		return 0;
	path[depth] = i;
	if (mark[i] == 1) {
		char buf[MM_ERRSZ / 2] = "";
		size_t k = 0, at;

		while (path[k] != i)
			k++;
		for (at = k; at <= depth; at++)
			snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s", at > k ? " -> " : "",
				 model_name(col->v[path[at]].obj) ? model_name(col->v[path[at]].obj)
								  : model_id(col->v[path[at]].obj));
		return mm_error(err, MM_EINPUT, "the models' dependencies form a cycle: %s", buf);
	}
	mark[i] = 1;
	cJSON_ArrayForEach(d, deps) {
		long j = cJSON_IsString(d) ? find_id(col, d->valuestring) : -1;

		if (j >= 0 && dep_cycle(col, (size_t)j, mark, path, depth + 1, err))
			return 1;
	}
	mark[i] = 2;
	return 0;
}

/*
 * Every model's dependencies (ids of other models) come too, once: an id
 * no answer listed is asked for with GET {base}/models/{id}, for as many
 * rounds as new dependencies appear.  An unknown id or a cycle is
 * MM_EINPUT.  Returns the number of failures.
 */
static int dependencies(struct mm_api *api, struct collect *col, struct mm_err *err)
{
	size_t done = 0, i, k, n;
	int nfail = 0, *mark;
	size_t *path;

	while (done < col->n) {
		struct mm_list want = {0};
		struct mm_list from = {0};
		struct areq *r;

		for (n = col->n; done < n; done++) {
			size_t before = want.n;

			if (missing_deps(col, done, &want, err)) {
				mm_list_free(&want);
				mm_list_free(&from);
				return 1;
			}
			/* Who asked, for the source of what comes. */
			for (k = before; k < want.n; k++) {
				from.v = mm_xrealloc(from.v, (k + 1) * sizeof(*from.v));
				from.v[k] = mm_xstrdup(col->v[done].source);
				from.n = k + 1;
			}
		}
		if (!want.n)
			break;
		r = make_reqs("models", "model id", &want, "");
		api_get_all(api, r, want.n);
		for (k = 0; k < want.n; k++) {
			if (r[k].notfound)
				snprintf(r[k].msg, sizeof(r[k].msg),
					 "unknown model id '%.200s' (a dependency of a model asked for by %.200s)",
					 want.v[k], from.v[k]);
			note_failure(err, &r[k], &nfail);
			if (!r[k].rc && !cJSON_IsObject(r[k].data)) {
				mm_error(err, MM_EINPUT, "the API's answer for %s: data is not a model object",
					 r[k].what);
				nfail++;
			}
			if (!nfail) {
				cJSON *o = cJSON_Duplicate(r[k].data, 1);

				/* The id asked for is the id it is known by. */
				if (!model_id(o))
					cJSON_AddStringToObject(o, "id", want.v[k]);
				collect_add(col, o, NULL, from.v[k]);
			}
		}
		areq_clear(r, want.n);
		mm_list_free(&want);
		for (k = 0; k < from.n; k++)
			free(from.v[k]);
		free(from.v);
		if (nfail)
			return nfail;
	}
	mark = mm_xcalloc(col->n ? col->n : 1, sizeof(*mark));
	path = mm_xcalloc(col->n + 1, sizeof(*path));
	for (i = 0; i < col->n && !nfail; i++)
		if (col->v[i].obj && dep_cycle(col, i, mark, path, 0, err))
			nfail++;
	free(mark);
	free(path);
	return nfail;
}

/*
 * Round 1: the collections, each answered by /collections/{id}/public or,
 * on some deployments, /collections/{id} with components[] instead; their
 * workflows go to per_coll[i] and fetch_wf.  Returns the failures.
 */
static int round_collections(struct mm_api *api, const struct mm_discover_req *req,
			     struct mm_list *per_coll, struct mm_list *fetch_wf, struct mm_err *err)
{
	struct areq *rc, *rc2 = NULL;
	struct mm_list retry = {0};
	size_t i, j;
	int nfail = 0;

	rc = make_reqs("collections", "collection", &req->collections, "/public");
	api_get_all(api, rc, req->collections.n);
	for (i = 0; i < req->collections.n; i++)
		if (rc[i].notfound)
			mm_list_push(&retry, req->collections.v[i]);
	if (retry.n) {
		rc2 = make_reqs("collections", "collection", &retry, "");
		api_get_all(api, rc2, retry.n);
		for (i = 0, j = 0; i < req->collections.n; i++) {
			if (!rc[i].notfound)
				continue;
			areq_release(&rc[i], 1);
			rc[i] = rc2[j];
			memset(&rc2[j], 0, sizeof(rc2[j]));
			if (rc[i].notfound)
				snprintf(rc[i].msg, sizeof(rc[i].msg), "unknown collection '%s' (HTTP 404)",
					 req->collections.v[i]);
			j++;
		}
	}
	for (i = 0; i < req->collections.n; i++) {
		note_failure(err, &rc[i], &nfail);
		if (rc[i].rc)
			continue;
		if (collection_workflows(&rc[i], &per_coll[i], err)) {
			nfail++;
			continue;
		}
		for (j = 0; j < per_coll[i].n; j++)
			mm_list_push(fetch_wf, per_coll[i].v[j]);
	}
	areq_clear(rc, req->collections.n);
	if (rc2)
		areq_clear(rc2, retry.n);
	mm_list_free(&retry);
	return nfail;
}

/*
 * Round 2: every workflow of fetch_wf, once; its models into col, as the
 * workflow named directly (direct) and as part of each collection that
 * lists it.  Returns the failures.
 */
static int round_workflows(struct mm_api *api, const struct mm_discover_req *req,
			   const struct mm_list *fetch_wf, const struct mm_list *per_coll, int direct,
			   struct collect *col, struct mm_err *err)
{
	struct areq *rw = make_reqs("workflows/name", "workflow", fetch_wf, "");
	size_t i, j;
	int nfail = 0;

	api_get_all(api, rw, fetch_wf->n);
	for (i = 0; i < fetch_wf->n; i++) {
		const char *name = fetch_wf->v[i];
		char *s;

		note_failure(err, &rw[i], &nfail);
		if (rw[i].rc)
			continue;
		if (direct)
			nfail += direct_models(&rw[i], name, req, col, err);
		for (j = 0; j < req->collections.n; j++) {
			if (!mm_list_has(&per_coll[j], name))
				continue;
			s = mm_xasprintf("collection:%s/workflow:%s", req->collections.v[j], name);
			if (workflow_models(&rw[i], s, col, err))
				nfail++;
			free(s);
		}
	}
	areq_clear(rw, fetch_wf->n);
	return nfail;
}

/* The names round 3 looks up: bare names, and objects without download details. */
static void names_to_resolve(struct collect *col, struct mm_list *names)
{
	for (size_t i = 0; i < col->n; i++) {
		const char *n = col->v[i].obj ? model_name(col->v[i].obj) : col->v[i].name;

		if (col->v[i].obj && (!n || mm_model_has_source(col->v[i].obj)))
			continue;
		if (col->v[i].obj) {
			free(col->v[i].name);
			col->v[i].name = mm_xstrdup(n);
		}
		mm_list_push(names, n);
	}
}

/* Each model of col that was looked up takes the answer rn[j] for its name. */
static void fill_by_name(struct collect *col, const struct mm_list *names, const struct areq *rn)
{
	size_t i, j;

	for (i = 0; i < col->n; i++) {
		if (!col->v[i].name || (col->v[i].obj && mm_model_has_source(col->v[i].obj)))
			continue;
		for (j = 0; j < names->n; j++)
			if (strcmp(names->v[j], col->v[i].name) == 0)
				break;
		if (j == names->n || rn[j].rc)
			continue;
		if (!col->v[i].obj) {
			col->v[i].obj = cJSON_Duplicate(rn[j].data, 1);
		} else {
			cJSON *f;

			/* What the model said itself wins; the lookup fills the gaps. */
			cJSON_ArrayForEach(f, rn[j].data)
				if (f->string && !cJSON_GetObjectItemCaseSensitive(col->v[i].obj, f->string))
					cJSON_AddItemToObject(col->v[i].obj, f->string, cJSON_Duplicate(f, 1));
		}
	}
}

/*
 * Round 3: model names to model objects, and models that came without
 * download details (no URL, no huggingface_id) filled in by name.
 * Returns the failures.
 */
static int round_names(struct mm_api *api, struct collect *col, struct mm_err *err)
{
	struct mm_list names = {0};
	struct areq *rn;
	size_t i, j;
	int nfail = 0;

	names_to_resolve(col, &names);
	rn = make_reqs("models/name", "model", &names, "");
	api_get_all(api, rn, names.n);
	for (i = 0; i < names.n; i++) {
		int by_name = 0;

		for (j = 0; j < col->n; j++)
			if (!col->v[j].obj && strcmp(col->v[j].name, names.v[i]) == 0)
				by_name = 1;
		/* A model object the API knows no more about stays as it came. */
		if (rn[i].notfound && !by_name)
			continue;
		note_failure(err, &rn[i], &nfail);
		if (!rn[i].rc && !cJSON_IsObject(rn[i].data)) {
			mm_error(err, MM_EINPUT, "the API's answer for %s: data is not a model object",
				 rn[i].what);
			nfail++;
		}
	}
	if (!nfail)
		fill_by_name(col, &names, rn);
	areq_clear(rn, names.n);
	mm_list_free(&names);
	return nfail;
}

/* The manifest's JSON: what was asked for, the custom nodes, col's models (taken). */
static cJSON *manifest_json(const struct mm_discover_req *req, struct collect *col)
{
	cJSON *root = cJSON_CreateObject(), *models, *src;
	char ts[32];
	size_t i;

	mm_iso8601_now(ts);
	cJSON_AddStringToObject(root, "timestamp", ts);
	src = cJSON_AddObjectToObject(root, "source");
	if (req->components_as_workflows) {
		struct mm_list all = {0};

		for (i = 0; i < req->workflows.n; i++)
			mm_list_push(&all, req->workflows.v[i]);
		for (i = 0; i < req->components.n; i++)
			mm_list_push(&all, req->components.v[i]);
		cJSON_AddItemToObject(src, "workflow_ids", string_array(&all));
		mm_list_free(&all);
	} else {
		cJSON_AddItemToObject(src, "workflow_ids", string_array(&req->workflows));
	}
	cJSON_AddItemToObject(src, "collection_ids", string_array(&req->collections));
	cJSON_AddItemToObject(src, "components",
			      req->components_as_workflows ? cJSON_CreateArray()
							   : string_array(&req->components));
	if (col->nodes) {
		cJSON_AddItemToObject(root, "custom_nodes", col->nodes);
		col->nodes = NULL;
	}
	models = cJSON_AddArrayToObject(root, "models");
	for (i = 0; i < col->n; i++) {
		cJSON *o = col->v[i].obj;

		col->v[i].obj = NULL;
		cJSON_DeleteItemFromObjectCaseSensitive(o, "source");
		cJSON_DeleteItemFromObjectCaseSensitive(o, "sources");
		cJSON_AddStringToObject(o, "source", col->v[i].source);
		cJSON_AddItemToArray(models, o);
	}
	return root;
}

static void collect_free(struct collect *col)
{
	for (size_t i = 0; i < col->n; i++) {
		cJSON_Delete(col->v[i].obj);
		free(col->v[i].name);
		free(col->v[i].source);
	}
	free(col->v);
	cJSON_Delete(col->nodes);
}

/*
 * The rounds of a discovery, each one request per name in parallel
 * (api_get_all()), each stopping the run on a failure: the batch answer
 * where the API has one, the collections, the workflows, the models by
 * name, their dependencies; then the manifest.
 */
static int discover(struct mm_api *api, const struct mm_discover_req *req,
		    struct mm_manifest **out, struct mm_err *err)
{
	struct mm_list fetch_wf = {0}, direct = {0};
	struct mm_list *per_coll;
	struct collect col = {0};
	size_t i;
	int nfail, rcode = 0, wf_batch = 0, coll_batch = 0;

	*out = NULL;
	memset(err, 0, sizeof(*err));
	for (i = 0; i < req->workflows.n; i++)
		mm_list_push(&direct, req->workflows.v[i]);
	for (i = 0; i < req->components.n; i++)
		mm_list_push(&direct, req->components.v[i]);
	per_coll = mm_xcalloc(req->collections.n ? req->collections.n : 1, sizeof(*per_coll));
	nfail = batch_round(api, req, &direct, &col, &wf_batch, &coll_batch, err);
	/* Round 1: the workflows and components named directly, and the collections. */
	if (!nfail && !wf_batch)
		for (i = 0; i < direct.n; i++)
			mm_list_push(&fetch_wf, direct.v[i]);
	if (!nfail && !coll_batch)
		nfail = round_collections(api, req, per_coll, &fetch_wf, err);
	if (!nfail)
		nfail = round_workflows(api, req, &fetch_wf, per_coll, !wf_batch, &col, err);
	if (!nfail)
		nfail = round_names(api, &col, err);
	/* Round 4: the models each model depends on, by id. */
	if (!nfail)
		nfail = dependencies(api, &col, err);
	if (!nfail)
		rcode = mm_manifest_from_json(manifest_json(req, &col), MM_MANIFEST_FROM_API, out, err);
	else
		rcode = err->code ? err->code : MM_EINPUT;
	if (nfail > 1)
		snprintf(err->msg + strlen(err->msg), sizeof(err->msg) - strlen(err->msg),
			 " (and %d more failures)", nfail - 1);
	collect_free(&col);
	for (i = 0; i < req->collections.n; i++)
		mm_list_free(&per_coll[i]);
	free(per_coll);
	mm_list_free(&fetch_wf);
	mm_list_free(&direct);
	return rcode;
}

int mm_discover(struct mm_api *api, const struct mm_discover_req *req,
		struct mm_manifest **out, struct mm_err *err)
{
	struct mm_err e = {0};
	int rc;

	/* The cache: refused by state.h's rule is an error, missing only a warning online. */
	*out = NULL;
	api->state.fd = -1;
	api->state.path = NULL;
	rc = api->state_dir ? mm_state_open(&api->state, api->state_dir, !api->offline, &e) : MM_EFAIL;
	if (rc == MM_EUSAGE) {
		memset(err, 0, sizeof(*err));
		return mm_error(err, rc, "%s", e.msg);
	}
	if (rc && api->state_dir && !api->offline)
		mm_warnf("%s: API answers are not cached", e.msg);
	rc = discover(api, req, out, err);
	mm_state_close(&api->state);
	return rc;
}
