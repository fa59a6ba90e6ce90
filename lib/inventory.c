/* inventory.c — a machine's model inventory in Redis, one MULTI/EXEC a report. */
#include "inventory.h"
#include "log.h"
#include "manifest.h"
#include "rkeys.h"
#include "scan.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define MAX_ATTEMPTS 5

/*
 * A sorted, unique list of strings.  They are borrowed, or kept in block,
 * one allocation for them all.
 */
struct names {
	const char **v;
	size_t n;
	char *block;
};

struct mm_reporter {
	char *id;
	char *k_models, *k_names;
	int have_prev;
	char digest[65];
	struct names names;  /* what was last written, in a block of its own */
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void names_free(struct names *s)
{
	free(s->v);
	free(s->block);
	memset(s, 0, sizeof(*s));
}

static void names_sort_unique(struct names *s)
{
	size_t i, j = 0;

	if (!s->n)
		return;
	qsort(s->v, s->n, sizeof(*s->v), cmp_str);
	for (i = 1; i < s->n; i++)
		if (strcmp(s->v[i], s->v[j]) != 0)
			s->v[++j] = s->v[i];
	s->n = j + 1;
}

/* Copy s's borrowed strings into a block of its own. */
static void names_own(struct names *s)
{
	size_t i, len = 0;
	char *p;

	for (i = 0; i < s->n; i++)
		len += strlen(s->v[i]) + 1;
	p = s->block = mm_xmalloc(len ? len : 1);
	for (i = 0; i < s->n; i++) {
		size_t l = strlen(s->v[i]) + 1;

		memcpy(p, s->v[i], l);
		s->v[i] = p;
		p += l;
	}
}

static void names_from_reply(struct names *s, const redisReply *rep)
{
	size_t i;

	s->v = mm_xcalloc(rep->elements ? rep->elements : 1, sizeof(*s->v));
	s->n = 0;
	for (i = 0; i < rep->elements; i++)
		if (rep->element[i]->type == REDIS_REPLY_STRING)
			s->v[s->n++] = rep->element[i]->str;
	names_sort_unique(s);
	names_own(s);
}

/* dst borrows src's strings: it must not outlive them. */
static void names_borrow(struct names *dst, const struct names *src)
{
	dst->v = mm_xcalloc(src->n ? src->n : 1, sizeof(*dst->v));
	if (src->n)
		memcpy(dst->v, src->v, src->n * sizeof(*dst->v));
	dst->n = src->n;
	dst->block = NULL;
}

/*
 * Merge two sorted lists: names only in a go to only_a, only in b to only_b
 * (borrowed pointers).
 */
static void names_diff(const struct names *a, const struct names *b,
		       const char ***only_a, size_t *na, const char ***only_b, size_t *nb)
{
	size_t i = 0, j = 0;

	*only_a = mm_xcalloc(a->n ? a->n : 1, sizeof(**only_a));
	*only_b = mm_xcalloc(b->n ? b->n : 1, sizeof(**only_b));
	*na = *nb = 0;
	while (i < a->n || j < b->n) {
		int c = i == a->n ? 1 : j == b->n ? -1 : strcmp(a->v[i], b->v[j]);

		if (c < 0)
			(*only_a)[(*na)++] = a->v[i++];
		else if (c > 0)
			(*only_b)[(*nb)++] = b->v[j++];
		else
			i++, j++;
	}
}

/* Records sorted by saveTo then name, so equal inventories give equal JSON. */
static int cmp_model(const void *a, const void *b)
{
	const struct mm_inv_model *x = *(const struct mm_inv_model *const *)a;
	const struct mm_inv_model *y = *(const struct mm_inv_model *const *)b;
	int c = strcmp(x->save_to ? x->save_to : "", y->save_to ? y->save_to : "");

	return c ? c : strcmp(x->name, y->name);
}

/* A JSON string, escaped byte for byte as cJSON_Print escapes it. */
static void json_string(struct mm_buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)(s ? s : "");
	size_t run;

	mm_buf_put(b, "\"", 1);
	for (;;) {
		for (run = 0; u[run] > 31 && u[run] != '"' && u[run] != '\\'; run++)
			;
		mm_buf_put(b, (const char *)u, run);
		u += run;
		if (!*u)
			break;
		mm_buf_room(b, 6);
		b->p[b->len++] = '\\';
		switch (*u) {
		case '"': b->p[b->len++] = '"'; break;
		case '\\': b->p[b->len++] = '\\'; break;
		case '\b': b->p[b->len++] = 'b'; break;
		case '\f': b->p[b->len++] = 'f'; break;
		case '\n': b->p[b->len++] = 'n'; break;
		case '\r': b->p[b->len++] = 'r'; break;
		case '\t': b->p[b->len++] = 't'; break;
		default:
			memcpy(b->p + b->len, "u00", 3);
			b->p[b->len + 3] = hex[*u >> 4];
			b->p[b->len + 4] = hex[*u & 15];
			b->len += 5;
		}
		b->p[b->len] = '\0';
		u++;
	}
	mm_buf_put(b, "\"", 1);
}

/* v >= 0 in decimal at the end of buf[24]; returns where the digits start. */
static char *fmt_size(char buf[24], long long v)
{
	char *p = buf + 23;

	*p = '\0';
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	return p;
}

/* A size as cJSON prints a number: plain digits below 1e15, its own form above. */
static void json_size(struct mm_buf *b, long long v)
{
	char buf[24], *p;

	if (v >= 1000000000000000LL) {
		cJSON *n = cJSON_CreateNumber((double)v);
		char *s = n ? cJSON_PrintUnformatted(n) : NULL;

		mm_buf_put(b, s ? s : "0", s ? strlen(s) : 1);
		free(s);
		cJSON_Delete(n);
		return;
	}
	p = fmt_size(buf, v);
	mm_buf_put(b, p, (size_t)(buf + 23 - p));
}

/*
 * What a report writes, computed from the records: the names at once, the
 * order, digest and total size when first needed.  The digest is over the
 * sorted records themselves, so an unchanged disk is recognised without
 * building the models JSON; the JSON is built only when it must be sent.
 */
struct snapshot {
	const struct mm_inv_model *models;
	const struct mm_inv_model **sorted;  /* NULL until snapshot_order() */
	char digest[65];
	struct names names;                  /* borrowed from the records */
	long long bytes;
	long long missing;                   /* mm_inv_missing()'s, -1 unknown */
	size_t n, unverified;
};

static void snapshot_free(struct snapshot *s)
{
	free(s->sorted);
	names_free(&s->names);
}

/* 1 when v[0..n) is already in cmp order: the scan's order usually is. */
static int in_order(const void *v, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	const char *p = v;
	size_t i;

	for (i = 1; i < n; i++)
		if (cmp(p + (i - 1) * size, p + i * size) > 0)
			return 0;
	return 1;
}

static void snapshot_make(struct snapshot *s, const struct mm_inv_model *models, size_t n,
			  long long missing)
{
	size_t i;

	memset(s, 0, sizeof(*s));
	s->models = models;
	s->n = n;
	s->missing = missing;
	s->names.v = mm_xcalloc(n ? n : 1, sizeof(*s->names.v));
	for (i = 0; i < n; i++) {
		s->names.v[i] = models[i].name;
		s->unverified += !models[i].verified;
	}
	s->names.n = n;
	names_sort_unique(&s->names);
}

/* The records in saveTo order, their digest and total size: once. */
static void snapshot_order(struct snapshot *s)
{
	EVP_MD_CTX *ctx;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, k;
	struct mm_buf in = {0};
	size_t i, n = s->n;

	if (s->sorted)
		return;
	s->sorted = mm_xcalloc(n ? n : 1, sizeof(*s->sorted));
	for (i = 0; i < n; i++)
		s->sorted[i] = &s->models[i];
	if (!in_order(s->sorted, n, sizeof(*s->sorted), cmp_model))
		qsort(s->sorted, n, sizeof(*s->sorted), cmp_model);
	ctx = EVP_MD_CTX_new();
	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		mm_xmalloc((size_t)-1);  /* out of memory: abort as mm_x* do */
	/* The digest's input, each field NUL-terminated, fed in large pieces. */
	mm_buf_room(&in, 65536);
	for (i = 0; i < n; i++) {
		const struct mm_inv_model *m = s->sorted[i];
		const char *save_to = m->save_to ? m->save_to : "";
		const char *hash = m->hash ? m->hash : "";
		char size[24], *sz = fmt_size(size, m->size > 0 ? m->size : 0);

		mm_buf_put(&in, m->name, strlen(m->name) + 1);
		mm_buf_put(&in, save_to, strlen(save_to) + 1);
		mm_buf_put(&in, sz, strlen(sz) + 1);
		mm_buf_put(&in, hash, strlen(hash) + 1);
		if (m->sha256) {
			const char *src = m->hash_source ? m->hash_source : "";

			mm_buf_put(&in, m->sha256, strlen(m->sha256) + 1);
			mm_buf_put(&in, src, strlen(src) + 1);
		}
		if (in.len >= 65536) {
			EVP_DigestUpdate(ctx, in.p, in.len);
			in.len = 0;
		}
		if (m->size > 0)
			s->bytes += m->size;
	}
	EVP_DigestUpdate(ctx, in.p, in.len);
	free(in.p);
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	for (k = 0; k < mdlen && k < 32; k++)
		snprintf(s->digest + 2 * k, 3, "%02x", md[k]);
}

/*
 * The models JSON: [{name, saveTo, size, hash?}...] in saveTo order, the
 * bytes cJSON_PrintUnformatted would give.  It is written directly: with
 * thousands of models, a cJSON tree (a dozen allocations per model, and a
 * sprintf and sscanf per number) was most of a report's CPU time.
 * Returns a buffer the caller frees, and its length.
 */
static char *models_json(struct snapshot *s, size_t *len)
{
	struct mm_buf b = {0};
	size_t i;

	snapshot_order(s);
	mm_buf_room(&b, s->n * 96 + 2);
	mm_buf_put(&b, "[", 1);
	for (i = 0; i < s->n; i++) {
		const struct mm_inv_model *m = s->sorted[i];

		mm_buf_put(&b, i ? ",{\"name\":" : "{\"name\":", i ? 9 : 8);
		json_string(&b, m->name);
		mm_buf_put(&b, ",\"saveTo\":", 10);
		json_string(&b, m->save_to);
		mm_buf_put(&b, ",\"size\":", 8);
		json_size(&b, m->size > 0 ? m->size : 0);
		if (m->hash && *m->hash) {
			mm_buf_put(&b, ",\"hash\":", 8);
			json_string(&b, m->hash);
		}
		if (m->sha256) {
			mm_buf_put(&b, ",\"sha256\":", 10);
			json_string(&b, m->sha256);
			if (m->hash_source) {
				mm_buf_put(&b, ",\"hashSource\":", 14);
				json_string(&b, m->hash_source);
			}
		}
		mm_buf_put(&b, "}", 1);
	}
	mm_buf_put(&b, "]", 1);
	*len = b.len;
	return b.p;
}

/*
 * HSET of the models hash: every field, or only those that may change while
 * the records do not (freshness, and the counts the manifest decides).
 */
static void add_hset(struct mm_rcmds *q, const char *key, const char *id,
		     struct snapshot *s, long long now, int all_fields)
{
	char iso[32], *json;
	size_t len;

	mm_iso8601(now, iso);
	mm_rcmds_begin(q);
	mm_rcmds_arg(q, "HSET");
	mm_rcmds_arg(q, key);
	mm_rcmds_arg(q, "machine_id");
	mm_rcmds_arg(q, id);
	mm_rcmds_arg(q, "last_updated");
	mm_rcmds_arg(q, iso);
	if (all_fields) {
		snapshot_order(s);
		mm_rcmds_arg(q, "models");
		json = models_json(s, &len);
		mm_rcmds_argown(q, json, len);
		mm_rcmds_arg(q, "total_models");
		mm_rcmds_argf(q, "%zu", s->n);
		mm_rcmds_arg(q, "total_size_gb");
		mm_rcmds_argf(q, "%.2f", round((double)s->bytes / (1024.0 * 1024 * 1024) * 100) / 100);
		mm_rcmds_arg(q, "total_bytes");
		mm_rcmds_argf(q, "%lld", s->bytes);
		mm_rcmds_arg(q, "models_sha256");
		mm_rcmds_arg(q, s->digest);
	}
	mm_rcmds_arg(q, "unverified_models");
	mm_rcmds_argf(q, "%zu", s->unverified);
	if (s->missing >= 0) {
		mm_rcmds_arg(q, "missing_models");
		mm_rcmds_argf(q, "%lld", s->missing);
	}
	if (s->missing < 0)
		mm_rcmds_add(q, "HDEL", key, "missing_models", (char *)NULL);
}

/*
 * The set of proved sha256 digests, written whole with the models JSON:
 * mm_peers (scripts/redis/mm.lua) asks it, not the JSON, which it would
 * decode for every machine on every call.
 */
static void add_sha256s(struct mm_rcmds *q, const char *id, const struct snapshot *s)
{
	char *key = mm_xasprintf(MM_RKEY_MACHINE_SHA256S, id);
	size_t i, n = 0;

	mm_rcmds_add(q, "DEL", key, (char *)NULL);
	for (i = 0; i < s->n; i++) {
		const char *d = s->models[i].sha256;

		if (!d || !*d)
			continue;
		if (n++ % 1000 == 0) {
			mm_rcmds_begin(q);
			mm_rcmds_arg(q, "SADD");
			mm_rcmds_arg(q, key);
		}
		mm_rcmds_arg(q, d);
	}
	free(key);
}

/* One command with a fixed head and a list of members, e.g. SADD key a b c. */
static void add_members(struct mm_rcmds *q, const char *cmd, const char *key,
			const char *const *v, size_t n)
{
	size_t i;

	if (!n)
		return;
	mm_rcmds_begin(q);
	mm_rcmds_arg(q, cmd);
	mm_rcmds_arg(q, key);
	for (i = 0; i < n; i++)
		mm_rcmds_arg(q, v[i]);
}

static void add_index(struct mm_rcmds *q, const char *cmd, const char *id,
		      const char *const *v, size_t n)
{
	static const char prefix[] = MM_RKEY_MODEL_INDEX_PREFIX;
	struct mm_buf key = {0};
	size_t i;

	for (i = 0; i < n; i++) {
		key.len = 0;
		mm_buf_put(&key, prefix, sizeof(prefix) - 1);
		mm_buf_put(&key, v[i], strlen(v[i]));
		mm_rcmds_begin(q);
		mm_rcmds_arg(q, cmd);
		mm_rcmds_argn(q, key.p, key.len);
		mm_rcmds_arg(q, id);
	}
	free(key.p);
}

static void add_heartbeat(struct mm_rcmds *q, const char *id, long long now)
{
	mm_rcmds_begin(q);
	mm_rcmds_arg(q, "ZADD");
	mm_rcmds_arg(q, MM_RKEY_HEARTBEAT);
	mm_rcmds_argf(q, "%lld", now);
	mm_rcmds_arg(q, id);
}

struct mm_rcmds *mm_inv_full_commands(const char *id, const struct mm_inv_model *models,
				      size_t n, long long missing, long long now)
{
	struct mm_rcmds *q = mm_rcmds_new();
	struct snapshot s;
	char *k_models = mm_xasprintf(MM_RKEY_MACHINE_MODELS, id);
	char *k_names = mm_xasprintf(MM_RKEY_MACHINE_NAMES, id);

	snapshot_make(&s, models, n, missing);
	mm_rcmds_add(q, "MULTI", (char *)NULL);
	mm_rcmds_add(q, "DEL", k_names, (char *)NULL);
	add_members(q, "SADD", k_names, s.names.v, s.names.n);
	add_index(q, "SADD", id, s.names.v, s.names.n);
	add_hset(q, k_models, id, &s, now, 1);
	add_sha256s(q, id, &s);
	add_heartbeat(q, id, now);
	mm_rcmds_add(q, "EXEC", (char *)NULL);
	snapshot_free(&s);
	free(k_models);
	free(k_names);
	return q;
}

struct mm_reporter *mm_reporter_new(const char *machine_id)
{
	struct mm_reporter *rep = mm_xcalloc(1, sizeof(*rep));

	/*
	 * The digest is libcrypto's only use here, and reading openssl.cnf
	 * costs more than the digest itself: OpenSSL starts without it.  (A
	 * process that has set OpenSSL up already keeps what it has.)
	 */
	OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);

	rep->id = mm_xstrdup(machine_id);
	rep->k_models = mm_xasprintf(MM_RKEY_MACHINE_MODELS, machine_id);
	rep->k_names = mm_xasprintf(MM_RKEY_MACHINE_NAMES, machine_id);
	return rep;
}

void mm_reporter_forget(struct mm_reporter *rep)
{
	names_free(&rep->names);
	rep->have_prev = 0;
	rep->digest[0] = '\0';
}

void mm_reporter_free(struct mm_reporter *rep)
{
	if (!rep)
		return;
	mm_reporter_forget(rep);
	free(rep->id);
	free(rep->k_models);
	free(rep->k_names);
	free(rep);
}

static long long reply_time(const redisReply *t)
{
	long v;

	if (t->type == REDIS_REPLY_ARRAY && t->elements >= 1 &&
	    t->element[0]->type == REDIS_REPLY_STRING &&
	    mm_parse_long(t->element[0]->str, 0, 1L << 40, &v) == 0)
		return v;
	return (long long)time(NULL);
}

/* Send q, return the replies; adds one round trip to st. */
static int send(struct mm_redis *r, const struct mm_rcmds *q, redisReply ***reps,
		struct mm_inv_stats *st, struct mm_err *err)
{
	st->round_trips++;
	return mm_redis_pipeline(r, q, reps, err);
}

/* Read the server's name set (still under WATCH). */
static int read_names(struct mm_redis *r, const char *key, struct names *out,
		      struct mm_inv_stats *st, struct mm_err *err)
{
	struct mm_rcmds *q = mm_rcmds_new();
	redisReply **reps;
	int rc;

	mm_rcmds_add(q, "SMEMBERS", key, (char *)NULL);
	rc = send(r, q, &reps, st, err);
	mm_rcmds_free(q);
	if (rc)
		return rc;
	names_from_reply(out, reps[0]);
	mm_redis_replies_free(reps, 1);
	return 0;
}

/*
 * Read what the server holds, under WATCH: its digest tells whether it is
 * what we last wrote (or what we are about to write), so the name set
 * itself is read only when neither holds and it is not empty.  Sets *old
 * (the names there), *now (the server's clock) and *write_models.
 */
static int read_server(struct mm_reporter *rep, struct mm_redis *r, struct snapshot *s, int full,
		       struct names *old, long long *now, int *write_models,
		       struct mm_inv_stats *st, struct mm_err *err)
{
	struct mm_rcmds *q = mm_rcmds_new();
	redisReply **reps = NULL;
	const char *server_digest;
	int same_prev, same_now, rc;
	long long scard = -1;

	mm_rcmds_add(q, "WATCH", rep->k_models, rep->k_names, (char *)NULL);
	mm_rcmds_add(q, "TIME", (char *)NULL);
	mm_rcmds_add(q, "HGET", rep->k_models, "models_sha256", (char *)NULL);
	mm_rcmds_add(q, "SCARD", rep->k_names, (char *)NULL);
	rc = send(r, q, &reps, st, err);
	mm_rcmds_free(q);
	if (rc)
		return rc;
	*now = reply_time(reps[1]);
	server_digest = reps[2]->type == REDIS_REPLY_STRING ? reps[2]->str : NULL;
	if (reps[3]->type == REDIS_REPLY_INTEGER)
		scard = reps[3]->integer;
	/*
	 * Without a digest on the server (a first report) ours is needed
	 * only for the write, so it is computed while the server works.
	 */
	if (server_digest)
		snapshot_order(s);
	same_now = server_digest && strcmp(server_digest, s->digest) == 0;
	same_prev = server_digest && rep->have_prev && strcmp(server_digest, rep->digest) == 0;
	if (same_now && !full)
		names_borrow(old, &s->names);
	else if (same_prev && !full)
		names_borrow(old, &rep->names);
	else if (scard == 0)
		names_borrow(old, &(struct names){ 0 });
	else
		rc = read_names(r, rep->k_names, old, st, err);
	*write_models = full || !server_digest || strcmp(server_digest, s->digest) != 0;
	mm_redis_replies_free(reps, 4);
	return rc;
}

/*
 * Write the difference from old in one MULTI/EXEC: the sets first (the
 * server queues those thousands of commands while the models JSON is
 * built), then the models hash and the heartbeat.  0, -1 when a watched
 * key changed since read_server() (read again), or an error code.
 */
static int write_server(struct mm_reporter *rep, struct mm_redis *r, struct snapshot *s, int full,
			const struct names *old, long long now, int write_models,
			struct mm_inv_stats *st, struct mm_err *err)
{
	struct mm_rcmds *q = mm_rcmds_new();
	redisReply *xrep = NULL;
	const char **added = NULL, **removed = NULL;
	size_t nadded = 0, nremoved = 0, nq;
	int rc;

	names_diff(&s->names, old, &added, &nadded, &removed, &nremoved);
	mm_rcmds_add(q, "MULTI", (char *)NULL);
	if (full) {
		mm_rcmds_add(q, "DEL", rep->k_names, (char *)NULL);
		add_members(q, "SADD", rep->k_names, s->names.v, s->names.n);
	} else {
		add_members(q, "SREM", rep->k_names, removed, nremoved);
		add_members(q, "SADD", rep->k_names, added, nadded);
	}
	add_index(q, "SREM", rep->id, removed, nremoved);
	if (full)
		add_index(q, "SADD", rep->id, s->names.v, s->names.n);
	else
		add_index(q, "SADD", rep->id, added, nadded);
	nq = mm_rcmds_count(q);
	rc = mm_redis_send(r, q, err);
	mm_rcmds_free(q);
	if (rc)
		goto out;
	q = mm_rcmds_new();
	add_hset(q, rep->k_models, rep->id, s, now, write_models);
	if (write_models)
		add_sha256s(q, rep->id, s);
	add_heartbeat(q, rep->id, now);
	mm_rcmds_add(q, "EXEC", (char *)NULL);
	nq += mm_rcmds_count(q);
	st->round_trips++;
	rc = mm_redis_pipeline_last(r, q, &xrep, err);
	mm_rcmds_free(q);
	if (rc)
		goto out;
	if (xrep->type == REDIS_REPLY_NIL) {
		/* A watched key changed between the read and EXEC: read again. */
		st->retries++;
		rc = -1;
		goto out;
	}
	st->commands = nq;
	st->added = nadded;
	st->removed = nremoved;
	st->models_written = write_models;
out:
	if (xrep)
		freeReplyObject(xrep);
	free(added);
	free(removed);
	return rc;
}

/* What the server holds now is s: the next report starts from it. */
static void remember(struct mm_reporter *rep, struct snapshot *s)
{
	mm_reporter_forget(rep);
	names_own(&s->names);
	rep->names = s->names;
	memset(&s->names, 0, sizeof(s->names));
	memcpy(rep->digest, s->digest, sizeof(rep->digest));
	rep->have_prev = 1;
}

int mm_reporter_report(struct mm_reporter *rep, struct mm_redis *r,
		       const struct mm_inv_model *models, size_t n, long long missing, int full,
		       struct mm_inv_stats *st, struct mm_err *err)
{
	struct mm_inv_stats dummy;
	struct snapshot s;
	int rc = 0, attempt;

	if (!st)
		st = &dummy;
	memset(st, 0, sizeof(*st));
	snapshot_make(&s, models, n, missing);
	for (attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
		struct names old = {0};
		long long now = 0;
		int write_models = 0;

		rc = read_server(rep, r, &s, full, &old, &now, &write_models, st, err);
		if (rc == 0)
			rc = write_server(rep, r, &s, full, &old, now, write_models, st, err);
		names_free(&old);
		if (rc == 0)
			remember(rep, &s);
		if (rc != -1)
			break;
		/* The server no longer holds what we think: read it back. */
		mm_reporter_forget(rep);
	}
	if (rc == -1)
		rc = mm_error(err, MM_EFAIL, "inventory of %s changed under us %d times in a row; gave up",
			      rep->id, MAX_ATTEMPTS);
	else if (rc)
		mm_error_prefix(err, "writing the inventory of %s", rep->id);
	snapshot_free(&s);
	return rc;
}

/*
 * Remove one machine in a MULTI under WATCH.  With cutoff >= 0, only when
 * its heartbeat is still older than cutoff.  Returns 0 and sets *done (1:
 * removed, 0: left alone), or an error; -1 means a watched key changed.
 */
static int remove_machine(struct mm_redis *r, const char *id, long long cutoff, int *done,
			  struct mm_err *err)
{
	char *k_models = mm_xasprintf(MM_RKEY_MACHINE_MODELS, id);
	char *k_names = mm_xasprintf(MM_RKEY_MACHINE_NAMES, id);
	char *k_wf = mm_xasprintf(MM_RKEY_MACHINE_WORKFLOWS, id);
	char *k_sha = mm_xasprintf(MM_RKEY_MACHINE_SHA256S, id);
	struct mm_rcmds *q = mm_rcmds_new();
	redisReply **reps = NULL, *xrep = NULL;
	struct names old = {0};
	size_t i;
	int rc;

	*done = 0;
	mm_rcmds_add(q, "WATCH", k_models, k_names, k_wf, (char *)NULL);
	mm_rcmds_add(q, "ZSCORE", MM_RKEY_HEARTBEAT, id, (char *)NULL);
	mm_rcmds_add(q, "SMEMBERS", k_names, (char *)NULL);
	mm_rcmds_add(q, "SMEMBERS", k_wf, (char *)NULL);
	rc = mm_redis_pipeline(r, q, &reps, err);
	mm_rcmds_free(q);
	q = NULL;
	if (rc)
		goto out;
	if (cutoff >= 0) {
		long score;

		if (reps[1]->type != REDIS_REPLY_STRING ||
		    mm_parse_long(reps[1]->str, 0, 1L << 40, &score) < 0 || score >= cutoff) {
			redisReply *u = NULL;

			/* It reported meanwhile (or is gone): leave it. */
			rc = mm_redis_cmd(r, &u, err, "UNWATCH", (char *)NULL);
			if (u)
				freeReplyObject(u);
			goto out;
		}
	}
	names_from_reply(&old, reps[2]);
	q = mm_rcmds_new();
	mm_rcmds_add(q, "MULTI", (char *)NULL);
	add_index(q, "SREM", id, old.v, old.n);
	for (i = 0; i < reps[3]->elements; i++) {
		char *ik = mm_xasprintf(MM_RKEY_WORKFLOW_INDEX, reps[3]->element[i]->str);

		mm_rcmds_add(q, "SREM", ik, id, (char *)NULL);
		free(ik);
	}
	mm_rcmds_add(q, "DEL", k_models, k_names, k_wf, k_sha, (char *)NULL);
	mm_rcmds_add(q, "ZREM", MM_RKEY_HEARTBEAT, id, (char *)NULL);
	mm_rcmds_add(q, "EXEC", (char *)NULL);
	rc = mm_redis_pipeline_last(r, q, &xrep, err);
	if (rc)
		goto out;
	if (xrep->type == REDIS_REPLY_NIL)
		rc = -1;
	else
		*done = 1;
out:
	mm_redis_replies_free(reps, reps ? 4 : 0);
	if (xrep)
		freeReplyObject(xrep);
	mm_rcmds_free(q);
	names_free(&old);
	free(k_models);
	free(k_names);
	free(k_wf);
	free(k_sha);
	return rc;
}

int mm_inv_deregister(struct mm_redis *r, const char *machine_id, struct mm_err *err)
{
	int attempt, rc = -1, done;

	for (attempt = 0; attempt < MAX_ATTEMPTS && rc == -1; attempt++)
		rc = remove_machine(r, machine_id, -1, &done, err);
	if (rc == -1)
		rc = mm_error(err, MM_EFAIL, "machine %s changed under us %d times in a row", machine_id,
			      MAX_ATTEMPTS);
	else if (rc)
		mm_error_prefix(err, "deregistering %s", machine_id);
	return rc;
}

int mm_inv_prune_stale(struct mm_redis *r, double older_than, size_t *pruned, struct mm_err *err)
{
	redisReply *t = NULL, *ids = NULL;
	char cut[32];
	long long cutoff;
	size_t i, count = 0;
	int rc;

	if (pruned)
		*pruned = 0;
	rc = mm_redis_cmd(r, &t, err, "TIME", (char *)NULL);
	if (rc)
		return rc;
	cutoff = reply_time(t) - (long long)ceil(older_than);
	freeReplyObject(t);
	snprintf(cut, sizeof(cut), "(%lld", cutoff);
	rc = mm_redis_cmd(r, &ids, err, "ZRANGEBYSCORE", MM_RKEY_HEARTBEAT, "-inf", cut, (char *)NULL);
	if (rc)
		return rc;
	for (i = 0; i < ids->elements && !rc; i++) {
		const char *id = ids->element[i]->str;
		int attempt, done = 0;

		if (ids->element[i]->type != REDIS_REPLY_STRING)
			continue;
		rc = -1;
		for (attempt = 0; attempt < MAX_ATTEMPTS && rc == -1; attempt++)
			rc = remove_machine(r, id, cutoff, &done, err);
		if (rc == -1)
			rc = 0;  /* it keeps changing, so it is alive */
		if (!rc && done) {
			count++;
			mm_infof("pruned stale machine %s", id);
		}
	}
	freeReplyObject(ids);
	if (pruned)
		*pruned = count;
	return rc;
}

static int cmp_model_save_to(const void *a, const void *b)
{
	const struct mm_model *x = *(const struct mm_model *const *)a;
	const struct mm_model *y = *(const struct mm_model *const *)b;

	return strcmp(x->save_to, y->save_to);
}

/* The sha256 mm proved for a model, and its source: verify's, else fetch's. */
static void proved_sha256(const struct mm_model *mod, const char **sha, const char **source)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(mod->obj, "verify");
	const cJSON *alg = cJSON_GetObjectItemCaseSensitive(v, "algorithm");
	const cJSON *dig = cJSON_GetObjectItemCaseSensitive(v, "digest");
	const cJSON *src = cJSON_GetObjectItemCaseSensitive(v, "hashSource");
	const char *st = mm_model_stage_status(mod, "verify");

	*sha = *source = NULL;
	if (st && strcmp(st, "ok") == 0 && cJSON_IsString(alg) && cJSON_IsString(dig) &&
	    (strcmp(alg->valuestring, "sha256") == 0 || strcmp(alg->valuestring, "autov2") == 0) &&
	    strlen(dig->valuestring) == 64) {
		*sha = dig->valuestring;
		*source = cJSON_IsString(src) ? src->valuestring : "manifest";
		return;
	}
	if (st && strcmp(st, "ok") != 0 && strcmp(st, "unverified") != 0)
		return;
	v = cJSON_GetObjectItemCaseSensitive(mod->obj, "fetch");
	dig = cJSON_GetObjectItemCaseSensitive(v, "sha256");
	src = cJSON_GetObjectItemCaseSensitive(v, "hashSource");
	if (cJSON_IsString(dig) && strlen(dig->valuestring) == 64) {
		*sha = dig->valuestring;
		*source = cJSON_IsString(src) ? src->valuestring : NULL;
	}
}

void mm_inv_from_disk(const struct mm_scan *scan, const struct mm_manifest *m,
		      struct mm_inv_model **out, size_t *n, size_t *left_out)
{
	const struct mm_model **byp = NULL;
	struct mm_inv_model *v = mm_xcalloc(scan->n ? scan->n : 1, sizeof(*v));
	size_t i, k = 0, nm = 0, skipped = 0;

	if (m && m->n) {
		byp = mm_xcalloc(m->n, sizeof(*byp));
		for (i = 0; i < m->n; i++)
			if (m->models[i].save_to)
				byp[nm++] = &m->models[i];
		qsort(byp, nm, sizeof(*byp), cmp_model_save_to);
	}
	for (i = 0; i < scan->n; i++) {
		const struct mm_scan_entry *e = &scan->v[i];
		const struct mm_model *mod = NULL;
		const char *st = NULL;

		if (nm) {
			struct mm_model key = {0};
			const struct mm_model *kp = &key, **hit;

			key.save_to = e->save_to;
			hit = bsearch(&kp, byp, nm, sizeof(*byp), cmp_model_save_to);
			mod = hit ? *hit : NULL;
		}
		if (mod) {
			st = mm_model_stage_status(mod, "verify");
			if (st && (strcmp(st, "mismatch") == 0 || strcmp(st, "missing") == 0 ||
				   strcmp(st, "unreadable") == 0)) {
				mm_infof("not reporting %s: verification says %s", e->save_to, st);
				skipped++;
				continue;
			}
		}
		v[k].name = mod && mod->name ? mod->name : e->name;
		v[k].save_to = e->save_to;
		v[k].size = (long long)e->st.st_size;
		v[k].hash = mod ? mod->hash : NULL;
		if (mod)
			proved_sha256(mod, &v[k].sha256, &v[k].hash_source);
		v[k].verified = st && strcmp(st, "ok") == 0;
		k++;
	}
	free(byp);
	*out = v;
	*n = k;
	if (left_out)
		*left_out = skipped;
}

static int cmp_inv_save_to(const void *a, const void *b)
{
	const struct mm_inv_model *x = *(const struct mm_inv_model *const *)a;
	const struct mm_inv_model *y = *(const struct mm_inv_model *const *)b;

	return strcmp(x->save_to ? x->save_to : "", y->save_to ? y->save_to : "");
}

long long mm_inv_missing(const struct mm_manifest *m, const struct mm_inv_model *recs, size_t n)
{
	const struct mm_inv_model **by = NULL;
	long long missing = 0;
	size_t i;

	if (!m)
		return -1;
	by = mm_xcalloc(n ? n : 1, sizeof(*by));
	for (i = 0; i < n; i++)
		by[i] = &recs[i];
	qsort(by, n, sizeof(*by), cmp_inv_save_to);
	for (i = 0; i < m->n; i++) {
		struct mm_inv_model key = {0};
		const struct mm_inv_model *kp = &key;

		key.save_to = m->models[i].save_to;
		if (!key.save_to || !bsearch(&kp, by, n, sizeof(*by), cmp_inv_save_to))
			missing++;
	}
	free(by);
	return missing;
}
