/* audit.c — the fleet's digests compared (audit.h). */
#include "audit.h"
#include "hash.h"
#include "rkeys.h"

#include <stdlib.h>
#include <string.h>

/* One file a machine reports. */
struct rec {
	const char *machine, *name, *save_to, *source;
	char sha[MM_HASH_HEXMAX + 1];   /* empty: none */
	int proved;
};

static const char *str_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int by_save_to(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;
	int c = strcmp(x->save_to, y->save_to);

	return c ? c : strcmp(x->machine, y->machine);
}

static int by_name(const void *a, const void *b)
{
	const struct rec *x = *(const struct rec *const *)a, *y = *(const struct rec *const *)b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->save_to, y->save_to);
}

/* Append v to the string array a unless it is there. */
static void add_once(cJSON *a, const char *v)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, a)
		if (cJSON_IsString(e) && strcmp(e->valuestring, v) == 0)
			return;
	cJSON_AddItemToArray(a, cJSON_CreateString(v));
}

/* The records g[0..n) as one disagreement when their digests differ, else NULL. */
static cJSON *disagreement(struct rec **g, size_t n, const char *key, const char *value)
{
	cJSON *o, *digests;
	size_t i, k, distinct = 0;

	for (i = 0; i < n; i++) {
		if (!g[i]->sha[0])
			continue;
		for (k = 0; k < i && strcmp(g[k]->sha, g[i]->sha) != 0; k++)
			;
		if (k == i)
			distinct++;
	}
	if (distinct < 2)
		return NULL;
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, key, value);
	digests = cJSON_AddArrayToObject(o, "digests");
	for (i = 0; i < n; i++) {
		cJSON *d = NULL, *e;

		if (!g[i]->sha[0])
			continue;
		cJSON_ArrayForEach(e, digests)
			if (strcmp(str_of(e, "sha256"), g[i]->sha) == 0)
				d = e;
		if (!d) {
			d = cJSON_CreateObject();
			cJSON_AddStringToObject(d, "sha256", g[i]->sha);
			cJSON_AddArrayToObject(d, "machines");
			cJSON_AddArrayToObject(d, "sources");
			cJSON_AddArrayToObject(d, "saveTo");
			cJSON_AddItemToArray(digests, d);
		}
		add_once(cJSON_GetObjectItemCaseSensitive(d, "machines"), g[i]->machine);
		add_once(cJSON_GetObjectItemCaseSensitive(d, "sources"),
			 g[i]->source ? g[i]->source : "manifest");
		add_once(cJSON_GetObjectItemCaseSensitive(d, "saveTo"), g[i]->save_to);
	}
	return o;
}

static void compare(struct rec *v, size_t n, cJSON *out)
{
	struct rec **p = mm_xcalloc(n + 1, sizeof(*p));
	size_t i, j, k;
	cJSON *o;

	qsort(v, n, sizeof(*v), by_save_to);
	for (i = 0; i < n; i = j) {
		for (j = i; j < n && strcmp(v[j].save_to, v[i].save_to) == 0; j++)
			p[j - i] = &v[j];
		if ((o = disagreement(p, j - i, "saveTo", v[i].save_to)))
			cJSON_AddItemToArray(out, o);
	}
	/* One name under several saveTo: the saveTo groups above did not compare them. */
	for (i = 0; i < n; i++)
		p[i] = &v[i];
	qsort(p, n, sizeof(*p), by_name);
	for (i = 0; i < n; i = j) {
		int several = 0;

		for (j = i; j < n && strcmp(p[j]->name, p[i]->name) == 0; j++)
			several |= strcmp(p[j]->save_to, p[i]->save_to) != 0;
		if (!several)
			continue;
		for (k = i; k < j; k++) {
			size_t m;

			/* Any digest that differs from another saveTo's counts. */
			for (m = i; m < j; m++)
				if (p[k]->sha[0] && p[m]->sha[0] && strcmp(p[k]->sha, p[m]->sha) != 0 &&
				    strcmp(p[k]->save_to, p[m]->save_to) != 0)
					break;
			if (m < j)
				break;
		}
		if (k < j && (o = disagreement(p + i, j - i, "name", p[i]->name)))
			cJSON_AddItemToArray(out, o);
	}
	free(p);
}

/*
 * One machine's models (its inventory document, borrowed) into v: each
 * file's sha256 (from "sha256", or a sha256 "hash") and whether any hash
 * proved it.
 */
static void add_records(const cJSON *doc, const char *id, struct rec **v, size_t *n, size_t *cap)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, doc) {
		const char *name = str_of(e, "name"), *save_to = str_of(e, "saveTo");
		const char *sha = str_of(e, "sha256"), *hash = str_of(e, "hash");
		struct mm_hash_spec spec;
		struct rec *x;

		if (!cJSON_IsObject(e) || !save_to)
			continue;
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 256;
			*v = mm_xrealloc(*v, *cap * sizeof(**v));
		}
		x = &(*v)[(*n)++];
		memset(x, 0, sizeof(*x));
		x->machine = id;
		x->name = name ? name : save_to;
		x->save_to = save_to;
		x->source = str_of(e, "hashSource");
		if (sha && mm_hash_parse(sha, &spec, NULL) == 0 && spec.algo == MM_HASH_SHA256)
			memcpy(x->sha, spec.hex, sizeof(x->sha));
		else if (hash && mm_hash_parse(hash, &spec, NULL) == 0 &&
			 spec.algo == MM_HASH_SHA256)
			memcpy(x->sha, spec.hex, sizeof(x->sha));
		x->proved = x->sha[0] || (hash && mm_hash_parse(hash, &spec, NULL) == 0);
	}
}

/* The files no hash proved: [{machine, name, saveTo}]. */
static cJSON *unproved_of(const struct rec *v, size_t n)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; i < n; i++) {
		cJSON *u;

		if (v[i].proved)
			continue;
		u = cJSON_CreateObject();
		cJSON_AddStringToObject(u, "machine", v[i].machine);
		cJSON_AddStringToObject(u, "name", v[i].name);
		cJSON_AddStringToObject(u, "saveTo", v[i].save_to);
		cJSON_AddItemToArray(a, u);
	}
	return a;
}

int mm_route_audit(struct mm_redis *r, double stale_after, cJSON **out, struct mm_err *err)
{
	struct mm_rcmds *q = mm_rcmds_new();
	redisReply **reps = NULL, **mreps = NULL, *hb;
	cJSON **docs = NULL, *o, *machines, *dis, *unproved;
	struct rec *v = NULL;
	size_t i, nm = 0, n = 0, cap = 0;
	double now = 0;
	int rc;

	*out = NULL;
	mm_rcmds_add(q, "TIME", (char *)NULL);
	mm_rcmds_add(q, "ZRANGE", MM_RKEY_HEARTBEAT, "0", "-1", "WITHSCORES", (char *)NULL);
	rc = mm_redis_pipeline(r, q, &reps, err);
	mm_rcmds_free(q);
	if (rc)
		return rc;
	if (reps[0]->type == REDIS_REPLY_ARRAY && reps[0]->elements >= 1)
		mm_parse_double(reps[0]->element[0]->str, 0, 1e12, &now);
	hb = reps[1];
	o = cJSON_CreateObject();
	machines = cJSON_AddArrayToObject(o, "machines");
	q = mm_rcmds_new();
	for (i = 0; hb->type == REDIS_REPLY_ARRAY && i + 1 < hb->elements; i += 2) {
		double t = -1;

		if (hb->element[i]->type != REDIS_REPLY_STRING ||
		    mm_parse_double(hb->element[i + 1]->str, 0, 1e12, &t) < 0 || now - t > stale_after)
			continue;
		cJSON_AddItemToArray(machines, cJSON_CreateString(hb->element[i]->str));
		mm_rcmds_begin(q);
		mm_rcmds_arg(q, "HGET");
		mm_rcmds_argf(q, MM_RKEY_MACHINE_MODELS, hb->element[i]->str);
		mm_rcmds_arg(q, "models");
		nm++;
	}
	if (nm && (rc = mm_redis_pipeline(r, q, &mreps, err)) != 0) {
		mm_rcmds_free(q);
		mm_redis_replies_free(reps, 2);
		cJSON_Delete(o);
		return rc;
	}
	mm_rcmds_free(q);
	docs = mm_xcalloc(nm + 1, sizeof(*docs));
	for (i = 0; i < nm; i++) {
		const char *id = cJSON_GetArrayItem(machines, (int)i)->valuestring;

		if (mreps[i]->type != REDIS_REPLY_STRING)
			continue;
		docs[i] = cJSON_ParseWithLength(mreps[i]->str, mreps[i]->len);
		add_records(docs[i], id, &v, &n, &cap);
	}
	cJSON_AddNumberToObject(o, "files", (double)n);
	dis = cJSON_AddArrayToObject(o, "disagreements");
	compare(v, n, dis);
	unproved = unproved_of(v, n);
	cJSON_AddItemToObject(o, "unproved", unproved);
	cJSON_AddBoolToObject(o, "clean", cJSON_GetArraySize(dis) == 0 &&
			      cJSON_GetArraySize(unproved) == 0);
	free(v);
	for (i = 0; i < nm; i++)
		cJSON_Delete(docs[i]);
	free(docs);
	if (mreps)
		mm_redis_replies_free(mreps, nm);
	mm_redis_replies_free(reps, 2);
	*out = o;
	return 0;
}

int mm_audit_clean(const cJSON *answer)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(answer, "clean"));
}

static void strings(const cJSON *a, FILE *f)
{
	const cJSON *e;
	int first = 1;

	cJSON_ArrayForEach(e, a)
		if (cJSON_IsString(e)) {
			fprintf(f, "%s%s", first ? "" : ",", e->valuestring);
			first = 0;
		}
}

void mm_audit_table(const cJSON *o, FILE *f)
{
	const cJSON *dis = cJSON_GetObjectItemCaseSensitive(o, "disagreements");
	const cJSON *un = cJSON_GetObjectItemCaseSensitive(o, "unproved"), *e, *d;

	fprintf(f, "%d machines, %.0f files: %d disagreements, %d unproved\n",
		cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "machines")),
		cJSON_GetObjectItemCaseSensitive(o, "files")->valuedouble, cJSON_GetArraySize(dis),
		cJSON_GetArraySize(un));
	cJSON_ArrayForEach(e, dis) {
		const char *what = str_of(e, "saveTo");

		fprintf(f, "\nDISAGREE %s %s\n", what ? "saveTo" : "name", what ? what : str_of(e, "name"));
		cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(e, "digests")) {
			fprintf(f, "  %s  ", str_of(d, "sha256"));
			strings(cJSON_GetObjectItemCaseSensitive(d, "machines"), f);
			fprintf(f, "  (");
			strings(cJSON_GetObjectItemCaseSensitive(d, "sources"), f);
			fprintf(f, ")\n");
		}
	}
	if (cJSON_GetArraySize(un) > 0)
		fprintf(f, "\n%-24s %s\n", "UNPROVED ON", "SAVETO");
	cJSON_ArrayForEach(e, un)
		fprintf(f, "%-24s %s\n", str_of(e, "machine"), str_of(e, "saveTo"));
}
