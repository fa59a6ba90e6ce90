/* manifest.c — parse, validate, normalise, merge and print manifests. */
#include "manifest.h"
#include "config.h"
#include "auth.h"
#include "hash.h"
#include "log.h"
#include "modeltype.h"
#include "paths.h"
#include "size.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#define MAX_PROBLEMS 1000

/*
 * Spellings seen in the wild (snake_case, the deployed API's), and the names
 * we write back.  Spellings that need more than a rename (save_path, size,
 * file_size_gb, auth_provider) are modeltype.c's.
 */
static const struct {
	const char *snake, *camel;
} aliases[] = {
	{"download_url", "downloadUrl"},
	{"save_to", "saveTo"},
	{"file_size", "fileSize"},
	{"size_bytes", "sizeBytes"},
	{"is_auth_req", "isAuthReq"},
	{"auth_env_var", "authEnvVar"},
	{"filename", "name"},
	{"url", "downloadUrl"},
	{"auth_required", "isAuthReq"},
	{"modelType", "type"},
};

static void problem(struct mm_manifest *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void problem(struct mm_manifest *m, const char *fmt, ...)
{
	va_list ap;
	char *s;

	if (m->nproblems >= MAX_PROBLEMS)
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = mm_xstrdup("out of memory");
	va_end(ap);
	m->problems = mm_xrealloc(m->problems, (m->nproblems + 1) * sizeof(*m->problems));
	m->problems[m->nproblems++] = s;
}

int mm_json_text_check(const char *text, size_t len, size_t *at, char *why, size_t whysz)
{
	size_t i = 0;
	int in_string = 0;

	while (i < len) {
		unsigned char c = (unsigned char)text[i];
		size_t n, k;
		unsigned int cp;

		if (c < 0x80) {
			if (in_string && c == '\\' && i + 1 < len) {
				if (text[i + 1] == 'u' && i + 5 < len &&
				    strncmp(text + i + 2, "0000", 4) == 0) {
					*at = i;
					snprintf(why, whysz, "a string contains an escaped NUL (\\u0000)");
					return -1;
				}
				i += 2;
				continue;
			}
			if (c == '"')
				in_string = !in_string;
			/* cJSON would keep a raw NUL and so cut the string short. */
			if (c == '\0' || (in_string && c < 0x20)) {
				*at = i;
				if (c)
					snprintf(why, whysz, "a string holds a raw control character (0x%02x)", c);
				else
					snprintf(why, whysz, "a raw NUL byte");
				return -1;
			}
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) { n = 1; cp = c & 0x1f; }
		else if ((c & 0xf0) == 0xe0) { n = 2; cp = c & 0x0f; }
		else if ((c & 0xf8) == 0xf0) { n = 3; cp = c & 0x07; }
		else goto bad;
		for (k = 1; k <= n; k++) {
			if (i + k >= len || ((unsigned char)text[i + k] & 0xc0) != 0x80)
				goto bad;
			cp = (cp << 6) | ((unsigned char)text[i + k] & 0x3f);
		}
		/* Overlong forms, surrogates, beyond U+10FFFF. */
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			goto bad;
		i += n + 1;
	}
	return 0;
bad:
	*at = i;
	snprintf(why, whysz, "invalid UTF-8");
	return -1;
}

static void line_col(const char *text, size_t off, size_t *line, size_t *col)
{
	size_t i;

	*line = 1;
	*col = 1;
	for (i = 0; i < off && text[i]; i++) {
		if (text[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

/* Rename snake_case keys; report the ones given twice with other values. */
static void normalise_keys(struct mm_manifest *m, cJSON *o, const char *label)
{
	size_t i;
	cJSON *a, *b;

	for (i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
		a = cJSON_GetObjectItemCaseSensitive(o, aliases[i].snake);
		if (!a)
			continue;
		b = cJSON_GetObjectItemCaseSensitive(o, aliases[i].camel);
		if (b) {
			if (!cJSON_Compare(a, b, 1))
				problem(m, "%s: both %s and %s are given, with different values",
					label, aliases[i].camel, aliases[i].snake);
			cJSON_DeleteItemFromObjectCaseSensitive(o, aliases[i].snake);
		} else {
			cJSON *d = cJSON_DetachItemFromObjectCaseSensitive(o, aliases[i].snake);

			cJSON_AddItemToObject(o, aliases[i].camel, d);
		}
	}
}

static void report_problem(void *m, const char *msg)
{
	problem(m, "%s", msg);
}

/*
 * A string table for lookups that must stay linear on 100,000 models: open
 * addressing, sized once for the most keys it will hold, its hash seeded at
 * random so that a manifest cannot be written to make its keys collide.
 * Keys are borrowed.
 */
struct strtab {
	const char **key;
	size_t *val;
	size_t mask;
	uint64_t seed;
};

static void strtab_init(struct strtab *t, size_t most)
{
	size_t cap = 16;

	while (cap < 2 * most)
		cap *= 2;
	t->key = mm_xcalloc(cap, sizeof(*t->key));
	t->val = mm_xcalloc(cap, sizeof(*t->val));
	t->mask = cap - 1;
	if (getrandom(&t->seed, sizeof(t->seed), GRND_NONBLOCK) != (ssize_t)sizeof(t->seed))
		t->seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)t->key;
}

static void strtab_free(struct strtab *t)
{
	free(t->key);
	free(t->val);
}

/* The value stored for key; or else store val for it and return SIZE_MAX. */
static size_t strtab_put(struct strtab *t, const char *key, size_t val)
{
	uint64_t h = t->seed ^ 0xcbf29ce484222325ULL;
	const unsigned char *p;
	size_t i;

	for (p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	for (i = (size_t)h & t->mask; t->key[i]; i = (i + 1) & t->mask)
		if (strcmp(t->key[i], key) == 0)
			return t->val[i];
	t->key[i] = key;
	t->val[i] = val;
	return SIZE_MAX;
}

/* Where a value is in the tree, for messages: its parent's frame and its own key or index. */
struct frame {
	const struct frame *up;
	const cJSON *item;
	size_t index;
};

static void frame_path(const struct frame *f, char *buf, size_t bufsz)
{
	size_t n;

	if (!f->up) {
		buf[0] = '\0';
		return;
	}
	frame_path(f->up, buf, bufsz);
	n = strlen(buf);
	if (f->item->string)
		snprintf(buf + n, bufsz - n, "%s%.64s", n ? "." : "", f->item->string);
	else
		snprintf(buf + n, bufsz - n, "[%zu]", f->index);
}

struct dups {
	size_t found, max;
	void (*fn)(void *arg, const char *where, const char *key);
	void *arg;
};

static void dup_report(struct dups *d, const struct frame *f, const char *key)
{
	char where[512];

	if (d->found >= d->max)
		return;
	frame_path(f, where, sizeof(where));
	d->fn(d->arg, where, key);
	d->found++;
}

static void dup_walk(struct dups *d, const struct frame *f)
{
	const cJSON *a, *b, *v = f->item;
	struct frame child = {f, NULL, 0};
	size_t k = 0;

	if (!cJSON_IsObject(v) && !cJSON_IsArray(v))
		return;
	if (cJSON_IsObject(v)) {
		for (a = v->child; a; a = a->next)
			k++;
		if (k <= 16) {
			for (a = v->child; a; a = a->next)
				for (b = a->next; b; b = b->next)
					if (a->string && b->string && strcmp(a->string, b->string) == 0) {
						dup_report(d, f, a->string);
						break;
					}
		} else {
			struct strtab t;

			strtab_init(&t, k);
			for (a = v->child; a; a = a->next)
				if (a->string && strtab_put(&t, a->string, 0) != SIZE_MAX)
					dup_report(d, f, a->string);
			strtab_free(&t);
		}
	}
	for (a = v->child; a && d->found < d->max; a = a->next, child.index++) {
		child.item = a;
		dup_walk(d, &child);
	}
}

size_t mm_json_dup_keys(const cJSON *v, size_t max,
			void (*found)(void *arg, const char *where, const char *key), void *arg)
{
	struct dups d = {0, max, found, arg};
	struct frame top = {NULL, v, 0};

	dup_walk(&d, &top);
	return d.found;
}

static const char *str_field(struct mm_manifest *m, cJSON *o, const char *key,
			     const char *label, int required)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!v || cJSON_IsNull(v)) {
		if (required)
			problem(m, "%s: %s is missing", label, key);
		return NULL;
	}
	if (!cJSON_IsString(v) || !v->valuestring) {
		problem(m, "%s: %s must be a string", label, key);
		return NULL;
	}
	if (required && !*v->valuestring) {
		problem(m, "%s: %s is empty", label, key);
		return NULL;
	}
	return v->valuestring;
}

/* o[key] = n, replacing what was there rather than adding a second key. */
static void set_item(cJSON *o, const char *key, cJSON *n)
{
	if (cJSON_GetObjectItemCaseSensitive(o, key))
		cJSON_ReplaceItemInObjectCaseSensitive(o, key, n);
	else
		cJSON_AddItemToObject(o, key, n);
}

/* Compare two hash strings by their hex, ignoring case and prefix. */
static const char *hash_hex(const char *h)
{
	const char *c = strchr(h, ':');

	return c ? c + 1 : h;
}

/* Validate and normalise one model object; fill view.  0 or -1. */
/* A whole number of bytes a JSON number can hold exactly into *out; 0, or -1. */
static int whole_bytes(const cJSON *it, long long *out)
{
	if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > 9007199254740992.0 ||
	    it->valuedouble != floor(it->valuedouble))
		return -1;
	*out = (long long)it->valuedouble;
	return 0;
}

/* name, downloadUrl, saveTo and hash, each checked. */
static void view_fields(struct mm_manifest *m, cJSON *o, int flags, const char *state_rel,
			const char *label, struct mm_model *v)
{
	char why[128];

	v->name = str_field(m, o, "name", label, 1);
	v->url = str_field(m, o, "downloadUrl", label, flags & MM_MANIFEST_NEED_URL);
	v->save_to = str_field(m, o, "saveTo", label, 1);
	v->hash = str_field(m, o, "hash", label, 0);
	if (v->hash && !*v->hash)
		v->hash = NULL;

	if (v->save_to && (mm_path_check(v->save_to, strlen(v->save_to), why, sizeof(why)) < 0 ||
			   mm_path_reserved(v->save_to, state_rel, why, sizeof(why)) < 0))
		problem(m, "%s: saveTo '%.256s' %s", label, v->save_to, why);
	if (v->url) {
		const char *p;

		for (p = v->url; *p; p++)
			if ((unsigned char)*p < 0x21 || *p == 0x7f)
				break;
		if (*p)
			problem(m, "%s: downloadUrl contains a space or control character", label);
	}
	if (v->hash) {
		struct mm_hash_spec spec;
		struct mm_err herr;

		if (mm_hash_parse(v->hash, &spec, &herr))
			problem(m, "%s: hash '%.80s': %s", label, v->hash, herr.msg);
	}
}

/* Sizes: sizeBytes wins; otherwise parse fileSize.  The tolerance follows size.h. */
static void view_size(struct mm_manifest *m, cJSON *o, const char *label, struct mm_model *v)
{
	cJSON *it = cJSON_GetObjectItemCaseSensitive(o, "sizeBytes");

	if (it && !cJSON_IsNull(it) && whole_bytes(it, &v->size) < 0)
		problem(m, "%s: sizeBytes must be a whole number of bytes", label);
	it = cJSON_GetObjectItemCaseSensitive(o, "fileSize");
	if (it && !cJSON_IsNull(it)) {
		long long sz = -1;

		if (whole_bytes(it, &sz) < 0 && cJSON_IsString(it))
			sz = mm_parse_size(it->valuestring);
		if (sz < 0)
			problem(m, "%s: fileSize is not a size (like \"17.2GB\" or a whole number of bytes)", label);
		else if (v->size < 0)
			v->size = sz;
	}
	if (v->size >= 0)
		set_item(o, "sizeBytes", cJSON_CreateNumber((double)v->size));
	v->size_tol = mm_size_tolerance(it, v->size);
}

/* isAuthReq and authEnvVar, guessed from the host where the seed system knew it. */
static void view_auth(struct mm_manifest *m, cJSON *o, const char *label, struct mm_model *v)
{
	cJSON *it = cJSON_GetObjectItemCaseSensitive(o, "isAuthReq");

	if (it && !cJSON_IsNull(it)) {
		if (cJSON_IsBool(it))
			v->auth_req = cJSON_IsTrue(it);
		else if (cJSON_IsNumber(it) && (it->valuedouble == 0 || it->valuedouble == 1))
			v->auth_req = it->valuedouble == 1;
		else if (cJSON_IsString(it) && (!strcasecmp(it->valuestring, "true") ||
						 !strcasecmp(it->valuestring, "false")))
			v->auth_req = !strcasecmp(it->valuestring, "true");
		else
			problem(m, "%s: isAuthReq must be true or false", label);
		set_item(o, "isAuthReq", cJSON_CreateBool(v->auth_req));
	}
	v->auth_env = str_field(m, o, "authEnvVar", label, 0);
	if (v->auth_env && !*v->auth_env)
		v->auth_env = NULL;
	if (v->auth_env && !mm_auth_var_ok(v->auth_env)) {
		problem(m, "%s: authEnvVar '%.64s' is not an environment variable name", label, v->auth_env);
		v->auth_env = NULL;
	}
	if (v->auth_req && !v->auth_env && v->url) {
		/* The hosts the seed system knew, by their usual variables (the parsed host). */
		const char *env = mm_auth_guess(v->url);

		if (env) {
			/* An empty or null authEnvVar is replaced. */
			set_item(o, "authEnvVar", cJSON_CreateString(env));
			v->auth_env = cJSON_GetObjectItemCaseSensitive(o, "authEnvVar")->valuestring;
		}
	}
	if (!v->auth_req)
		v->auth_env = NULL;
}

/* Sources: a list of every asker, seeded from "source". */
static void view_sources(struct mm_manifest *m, cJSON *o, const char *label)
{
	cJSON *src = cJSON_GetObjectItemCaseSensitive(o, "source");
	cJSON *srcs = cJSON_GetObjectItemCaseSensitive(o, "sources");

	if (src && !cJSON_IsNull(src) && !cJSON_IsString(src))
		problem(m, "%s: source must be a string", label);
	if (srcs && !cJSON_IsNull(srcs)) {
		cJSON *s;

		if (!cJSON_IsArray(srcs))
			problem(m, "%s: sources must be an array of strings", label);
		else
			cJSON_ArrayForEach(s, srcs)
				if (!cJSON_IsString(s))
					problem(m, "%s: sources must be an array of strings", label);
	} else if (cJSON_IsString(src)) {
		cJSON *a = cJSON_CreateArray();

		cJSON_AddItemToArray(a, cJSON_CreateString(src->valuestring));
		set_item(o, "sources", a);
	}
}

static int model_view(struct mm_manifest *m, cJSON *o, size_t i, int flags, const char *state_rel,
		      struct mm_model *v)
{
	char label[320];
	const char *name_s = NULL;
	cJSON *it;
	size_t before = m->nproblems;

	memset(v, 0, sizeof(*v));
	v->size = -1;
	if (!cJSON_IsObject(o)) {
		problem(m, "models[%zu]: not an object", i);
		return -1;
	}
	it = cJSON_GetObjectItemCaseSensitive(o, "name");
	if (!cJSON_IsString(it))
		it = cJSON_GetObjectItemCaseSensitive(o, "filename");
	if (cJSON_IsString(it) && it->valuestring && *it->valuestring)
		name_s = it->valuestring;
	if (name_s)
		snprintf(label, sizeof(label), "models[%zu] (%.256s)", i, name_s);
	else
		snprintf(label, sizeof(label), "models[%zu]", i);
	normalise_keys(m, o, label);
	mm_model_spellings(o, label, flags & MM_MANIFEST_FROM_API ? MM_SPELL_DERIVE : 0,
			   report_problem, m);

	v->obj = o;
	view_fields(m, o, flags, state_rel, label, v);
	view_size(m, o, label, v);
	view_auth(m, o, label, v);
	view_sources(m, o, label);
	return m->nproblems > before ? -1 : 0;
}

static const char *first_source(const struct mm_model *v)
{
	cJSON *s = cJSON_GetObjectItemCaseSensitive(v->obj, "source");

	return cJSON_IsString(s) ? s->valuestring : "(no source)";
}

/* Merge b into a (same saveTo).  0 merged, -1 conflict. */
static int merge(struct mm_manifest *m, struct mm_model *a, struct mm_model *b)
{
	cJSON *as, *bs, *s;

	if ((a->url && b->url && strcmp(a->url, b->url) != 0) ||
	    (a->hash && b->hash && strcasecmp(hash_hex(a->hash), hash_hex(b->hash)) != 0 &&
	     strlen(hash_hex(a->hash)) == strlen(hash_hex(b->hash)))) {
		problem(m, "saveTo '%.256s' is wanted as two different files: %s (%.256s) and %s (%.256s)",
			a->save_to, first_source(a), a->url ? a->url : "no url",
			first_source(b), b->url ? b->url : "no url");
		return -1;
	}
	if (!a->url && b->url) {
		cJSON_AddStringToObject(a->obj, "downloadUrl", b->url);
		a->url = cJSON_GetObjectItemCaseSensitive(a->obj, "downloadUrl")->valuestring;
	}
	if (!a->hash && b->hash) {
		cJSON_DeleteItemFromObjectCaseSensitive(a->obj, "hash");
		cJSON_AddStringToObject(a->obj, "hash", b->hash);
		a->hash = cJSON_GetObjectItemCaseSensitive(a->obj, "hash")->valuestring;
	}
	if (a->size < 0 && b->size >= 0) {
		cJSON *fs = cJSON_GetObjectItemCaseSensitive(b->obj, "fileSize");

		a->size = b->size;
		a->size_tol = b->size_tol;
		set_item(a->obj, "sizeBytes", cJSON_CreateNumber((double)a->size));
		/* The hint comes along, so the merged entry reads back as the same rule. */
		cJSON_DeleteItemFromObjectCaseSensitive(a->obj, "fileSize");
		if (fs)
			cJSON_AddItemToObject(a->obj, "fileSize", cJSON_Duplicate(fs, 1));
	}
	if (b->auth_req && !a->auth_req) {
		cJSON *e;

		a->auth_req = 1;
		set_item(a->obj, "isAuthReq", cJSON_CreateBool(1));
		if (b->auth_env && !a->auth_env)
			set_item(a->obj, "authEnvVar", cJSON_CreateString(b->auth_env));
		e = cJSON_GetObjectItemCaseSensitive(a->obj, "authEnvVar");
		a->auth_env = cJSON_IsString(e) ? e->valuestring : NULL;
	}
	as = cJSON_GetObjectItemCaseSensitive(a->obj, "sources");
	bs = cJSON_GetObjectItemCaseSensitive(b->obj, "sources");
	if (cJSON_IsArray(bs)) {
		if (!cJSON_IsArray(as)) {
			as = cJSON_CreateArray();
			cJSON_DeleteItemFromObjectCaseSensitive(a->obj, "sources");
			cJSON_AddItemToObject(a->obj, "sources", as);
		}
		/* Repeats are dropped by dedup_sources() once every entry is merged. */
		cJSON_ArrayForEach(s, bs)
			if (cJSON_IsString(s))
				cJSON_AddItemToArray(as, cJSON_CreateString(s->valuestring));
	}
	return 0;
}

/* Drop the sources merged in (from index kept on) that are listed already. */
static void dedup_sources(cJSON *as, size_t kept)
{
	struct strtab t;
	cJSON *s, *next;
	size_t i = 0;

	if (!cJSON_IsArray(as))
		return;
	strtab_init(&t, (size_t)cJSON_GetArraySize(as));
	for (s = as->child; s; s = next, i++) {
		next = s->next;
		if (cJSON_IsString(s) && strtab_put(&t, s->valuestring, 0) != SIZE_MAX && i >= kept)
			cJSON_Delete(cJSON_DetachItemViaPointer(as, s));
	}
	strtab_free(&t);
}

static void dup_problem(void *arg, const char *where, const char *key)
{
	struct mm_manifest *m = arg;

	if (*where)
		problem(m, "%s: key '%.64s' is given twice", where, key);
	else
		problem(m, "key '%.64s' is given twice at the top level", key);
}

static char *set_root, *set_state;
static int state_set;

void mm_manifest_set_state_dir(const char *root, const char *state_dir)
{
	free(set_root);
	free(set_state);
	set_root = root ? mm_xstrdup(root) : NULL;
	set_state = state_dir ? mm_xstrdup(state_dir) : NULL;
	state_set = 1;
}

/* The state directory relative to MM_ROOT, or NULL when it is elsewhere.  Caller frees. */
static char *state_rel(void)
{
	char *st, *rel;
	const char *root;

	if (state_set)
		return mm_path_inside(set_root, set_state);
	root = mm_config_root();
	st = mm_config_state_dir(root);
	rel = mm_path_inside(root, st);
	free(st);
	return rel;
}

int mm_manifest_from_json(cJSON *root, int flags, struct mm_manifest **out, struct mm_err *err)
{
	struct mm_manifest *m = mm_xcalloc(1, sizeof(*m));
	cJSON *models, *o, *next;
	struct strtab by_save_to = {0};
	size_t i, n, j, *kept = NULL;
	char *srel = NULL;

	*out = NULL;
	if (cJSON_IsArray(root)) {
		/* A bare array of models is a manifest with nothing else. */
		cJSON *w = cJSON_CreateObject();

		cJSON_AddItemToObject(w, "models", root);
		root = w;
	}
	m->root = root;
	if (!cJSON_IsObject(root)) {
		problem(m, "the manifest is not a JSON object");
		goto done;
	}
	mm_json_dup_keys(root, MAX_PROBLEMS, dup_problem, m);
	models = cJSON_GetObjectItemCaseSensitive(root, "models");
	if (!models) {
		problem(m, "the manifest has no \"models\" array");
		goto done;
	}
	if (!cJSON_IsArray(models)) {
		problem(m, "\"models\" is not an array");
		goto done;
	}
	n = (size_t)cJSON_GetArraySize(models);
	m->models = mm_xcalloc(n ? n : 1, sizeof(*m->models));
	kept = mm_xcalloc(n ? n : 1, sizeof(*kept));
	strtab_init(&by_save_to, n);
	srel = state_rel();
	i = 0;
	for (o = models->child; o; o = next) {
		struct mm_model v;

		next = o->next;
		if (model_view(m, o, i++, flags, srel, &v) < 0)
			continue;
		j = strtab_put(&by_save_to, v.save_to, m->n);
		if (j != SIZE_MAX) {
			cJSON *as = cJSON_GetObjectItemCaseSensitive(m->models[j].obj, "sources");

			/* kept[j]: how many sources entry j had before the first merge, plus one. */
			if (!kept[j])
				kept[j] = 1 + (cJSON_IsArray(as) ? (size_t)cJSON_GetArraySize(as) : 0);
			merge(m, &m->models[j], &v);
			/* v.save_to is borrowed from o: the table holds entry j's own. */
			cJSON_Delete(cJSON_DetachItemViaPointer(models, o));
			continue;
		}
		m->models[m->n++] = v;
	}
	for (j = 0; j < m->n; j++) {
		m->models[j].index = j;
		if (kept[j])
			dedup_sources(cJSON_GetObjectItemCaseSensitive(m->models[j].obj, "sources"),
				      kept[j] - 1);
	}
done:
	strtab_free(&by_save_to);
	free(kept);
	free(srel);
	*out = m;
	if (m->nproblems) {
		if (m->nproblems == 1)
			return mm_error(err, MM_EINPUT, "%s", m->problems[0]);
		return mm_error(err, MM_EINPUT, "%s (and %zu more problems)", m->problems[0],
				m->nproblems - 1);
	}
	return 0;
}

int mm_manifest_parse(const char *text, size_t len, const char *origin, int flags,
		      struct mm_manifest **out, struct mm_err *err)
{
	const char *end = NULL;
	size_t at, line, col;
	char why[128];
	cJSON *root;
	int rc;

	*out = NULL;
	if (mm_json_text_check(text, len, &at, why, sizeof(why)) < 0) {
		line_col(text, at, &line, &col);
		return mm_error(err, MM_EINPUT, "%s: line %zu, column %zu: %s", origin, line, col, why);
	}
	root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (!root) {
		size_t off = end && end >= text ? (size_t)(end - text) : 0;

		line_col(text, off, &line, &col);
		if (off >= len)
			return mm_error(err, MM_EINPUT, "%s: line %zu, column %zu: unexpected end of JSON",
					origin, line, col);
		/* text need not end in a NUL: quote at most what is left of it. */
		return mm_error(err, MM_EINPUT, "%s: line %zu, column %zu: malformed JSON near '%.*s'",
				origin, line, col, (int)(len - off < 20 ? len - off : 20), end);
	}
	/* Nothing but white space may follow the value. */
	if (end) {
		const char *p = end;

		while ((size_t)(p - text) < len && isspace((unsigned char)*p))
			p++;
		if ((size_t)(p - text) < len) {
			line_col(text, (size_t)(p - text), &line, &col);
			cJSON_Delete(root);
			return mm_error(err, MM_EINPUT, "%s: line %zu, column %zu: text after the JSON value",
					origin, line, col);
		}
	}
	rc = mm_manifest_from_json(root, flags, out, err);
	if (rc)
		mm_error_prefix(err, "%s", origin);
	return rc;
}

int mm_manifest_read(const char *path, char **text, size_t *len, struct mm_err *err)
{
	FILE *f;
	char *buf = NULL;
	size_t n = 0, cap = 0, r;
	const char *origin;
	int rc = 0;

	*text = NULL;
	*len = 0;
	if (!path || strcmp(path, "-") == 0) {
		f = stdin;
		origin = "<stdin>";
	} else {
		f = fopen(path, "rb");
		origin = path;
		if (!f)
			return mm_error(err, errno == ENOENT ? MM_EUSAGE : MM_EINPUT,
					"cannot open '%s': %s", path, strerror(errno));
	}
	for (;;) {
		if (cap - n < 65536) {
			cap = cap ? cap * 2 : 1 << 16;
			buf = mm_xrealloc(buf, cap + 1);
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (n > (size_t)MM_MANIFEST_MAX) {
			rc = mm_error(err, MM_EINPUT, "%s: larger than %ld MiB", origin,
				      MM_MANIFEST_MAX >> 20);
			goto out;
		}
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		rc = mm_error(err, MM_EINPUT, "cannot read %s: %s", origin, strerror(errno));
		goto out;
	}
	buf[n] = '\0';
out:
	if (f != stdin)
		fclose(f);
	if (rc) {
		free(buf);
		return rc;
	}
	*text = buf;
	*len = n;
	return 0;
}

int mm_manifest_load(const char *path, int flags, struct mm_manifest **out, struct mm_err *err)
{
	const char *origin = !path || strcmp(path, "-") == 0 ? "<stdin>" : path;
	char *buf;
	size_t len;
	int rc;

	*out = NULL;
	rc = mm_manifest_read(path, &buf, &len, err);
	if (rc)
		return rc;
	if (len == 0)
		rc = mm_error(err, MM_EINPUT, "%s: empty input, expected a manifest", origin);
	else
		rc = mm_manifest_parse(buf, len, origin, flags, out, err);
	free(buf);
	return rc;
}

void mm_manifest_free(struct mm_manifest *m)
{
	size_t i;

	if (!m)
		return;
	cJSON_Delete(m->root);
	free(m->models);
	for (i = 0; i < m->nproblems; i++)
		free(m->problems[i]);
	free(m->problems);
	free(m);
}

void mm_manifest_log_problems(const struct mm_manifest *m, const struct mm_err *err)
{
	size_t i;

	if (m && m->nproblems) {
		for (i = 0; i < m->nproblems; i++)
			mm_errorf("%s", m->problems[i]);
		if (m->nproblems > 1)
			mm_errorf("%zu problems found", m->nproblems);
	} else {
		mm_errorf("%s", err->msg);
	}
}

char *mm_manifest_print(struct mm_manifest *m)
{
	long long total = 0;
	size_t i, n;
	char *s, *out;

	for (i = 0; i < m->n; i++)
		if (m->models[i].size > 0)
			total += m->models[i].size;
	set_item(m->root, "total_models", cJSON_CreateNumber((double)m->n));
	set_item(m->root, "total_size_gb",
		 cJSON_CreateNumber(round((double)total / (1024.0 * 1024 * 1024) * 10) / 10));
	s = cJSON_Print(m->root);
	if (!s)
		return NULL;
	n = strlen(s);
	out = mm_xmalloc(n + 2);
	memcpy(out, s, n);
	out[n] = '\n';
	out[n + 1] = '\0';
	cJSON_free(s);
	return out;
}

int mm_manifest_write(struct mm_manifest *m, FILE *f, struct mm_err *err)
{
	char *s = mm_manifest_print(m);
	int rc = 0;

	if (!s)
		return mm_error(err, MM_EFAIL, "cannot render the manifest: out of memory");
	if (fputs(s, f) == EOF || fflush(f) == EOF || ferror(f))
		rc = mm_error(err, MM_EFAIL, "cannot write the manifest: %s", strerror(errno));
	free(s);
	return rc;
}

cJSON *mm_model_stage(struct mm_model *model, const char *stage)
{
	cJSON *o = cJSON_CreateObject();

	set_item(model->obj, stage, o);
	return o;
}

const char *mm_model_stage_status(const struct mm_model *model, const char *stage)
{
	cJSON *o = cJSON_GetObjectItemCaseSensitive(model->obj, stage);
	cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "status");

	return cJSON_IsString(s) ? s->valuestring : NULL;
}
