/* sources.c — peers, mirrors, then the origin, for content known by its sha256. */
#include "sources.h"
#include "http.h"
#include "partfile.h"
#include "redis.h"
#include "route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

struct peer {
	char *id, *url;     /* url: the serving URL, without a final slash */
	unsigned char *has; /* has[i]: holds the i-th digest asked for */
};

struct mm_sources {
	char **mirrors;
	size_t nmirrors;
	int peers_on;
	char *redis_url, *self, *token;
	double stale_after;
	/* What mm_sources_find_peers learned. */
	char **asked;       /* the digests, in the order asked */
	size_t nasked;
	struct peer *peers;
	size_t npeers;
	/* The peers named for bytes that failed the hash (mm_sources_blame). */
	char **liars;
	size_t nliars;
};

static const char *const kind_name[] = {
	[MM_SOURCE_PEER] = "peer",
	[MM_SOURCE_MIRROR] = "mirror",
	[MM_SOURCE_ORIGIN] = "origin",
};

const char *mm_source_kind_name(enum mm_source_kind k)
{
	return (size_t)k < MM_SOURCE_KINDS ? kind_name[k] : "origin";
}

void mm_source_list_free(struct mm_source_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i].url);
		free(l->v[i].label);
		free(l->v[i].peer);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* ------------------------------------------------------------ mirrors */

/* Percent-encode s into b: all but RFC 3986's unreserved characters (and '/' when keep_slash). */
static void put_encoded(struct mm_buf *b, const char *s, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '.' || *p == '_' || *p == '~' || (keep_slash && *p == '/')) {
			mm_buf_put(b, (const char *)p, 1);
		} else {
			char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };

			mm_buf_put(b, e, 3);
		}
	}
}

char *mm_mirror_expand(const char *tmpl, const char *sha256, const char *name, const char *save_to,
		       struct mm_err *err)
{
	struct mm_buf b = { 0 };
	const char *p = tmpl, *open, *close;

	mm_buf_room(&b, strlen(tmpl) + 1);
	b.p[0] = '\0';
	while ((open = strchr(p, '{'))) {
		size_t n;

		mm_buf_put(&b, p, (size_t)(open - p));
		close = strchr(open, '}');
		if (!close) {
			free(b.p);
			mm_error(err, MM_EINPUT, "a '{' that is not closed");
			return NULL;
		}
		n = (size_t)(close - open - 1);
		if (n == 6 && strncmp(open + 1, "sha256", 6) == 0) {
			put_encoded(&b, sha256 ? sha256 : "", 0);
		} else if (n == 4 && strncmp(open + 1, "name", 4) == 0) {
			put_encoded(&b, name ? name : "", 0);
		} else if (n == 6 && strncmp(open + 1, "saveTo", 6) == 0) {
			put_encoded(&b, save_to ? save_to : "", 1);
		} else {
			free(b.p);
			/* The name only, cut short and made printable: the template may hold a secret. */
			mm_error(err, MM_EINPUT, "an unknown placeholder {%.*s}: only {sha256}, {name} and "
				 "{saveTo}", (int)(n > 20 ? 20 : n), open + 1);
			return NULL;
		}
		p = close + 1;
	}
	mm_buf_put(&b, p, strlen(p));
	return b.p;
}

/* A template mm-fetch can use; 0, or -1 with why. */
static int mirror_ok(const char *t, struct mm_err *err)
{
	const char *host, *slash, *brace;
	char *u;

	if (strncasecmp(t, "https://", 8) == 0)
		host = t + 8;
	else if (strncasecmp(t, "http://", 7) == 0)
		host = t + 7;
	else
		return mm_error(err, MM_EUSAGE, "is not an http or https URL");
	slash = strchr(host, '/');
	brace = strchr(t, '{');
	if (!brace)
		return mm_error(err, MM_EUSAGE, "names no file: it needs {sha256}, {name} or {saveTo}");
	if (!slash || brace < slash)
		return mm_error(err, MM_EUSAGE, "has a placeholder before its path: the host must be "
				"written out");
	if (slash == host)
		return mm_error(err, MM_EUSAGE, "has no host");
	if (strpbrk(t, " \t\r\n\"<>\\^`|"))
		return mm_error(err, MM_EUSAGE, "holds a character a URL cannot");
	u = mm_mirror_expand(t, "0", "n", "s", err);
	if (!u) {
		err->code = MM_EUSAGE;
		return -1;
	}
	free(u);
	return 0;
}

int mm_sources_new(const char *mirrors, struct mm_sources **out, struct mm_err *err)
{
	struct mm_sources *s = mm_xcalloc(1, sizeof(*s));
	const char *p = mirrors ? mirrors : "";

	*out = NULL;
	for (;;) {
		size_t n;
		char *t;
		struct mm_err e = { 0 };

		p += strspn(p, " \t\r\n");
		if (!*p)
			break;
		n = strcspn(p, " \t\r\n");
		t = mm_xstrndup(p, n);
		p += n;
		if (mirror_ok(t, &e) != 0) {
			free(t);
			mm_error(err, MM_EUSAGE, "MM_MIRRORS: entry %zu %s", s->nmirrors + 1, e.msg);
			mm_sources_free(s);
			return MM_EUSAGE;
		}
		s->mirrors = mm_xrealloc(s->mirrors, (s->nmirrors + 1) * sizeof(*s->mirrors));
		s->mirrors[s->nmirrors++] = t;
	}
	*out = s;
	return 0;
}

static void forget_peers(struct mm_sources *s)
{
	size_t i;

	for (i = 0; i < s->npeers; i++) {
		free(s->peers[i].id);
		free(s->peers[i].url);
		free(s->peers[i].has);
	}
	free(s->peers);
	s->peers = NULL;
	s->npeers = 0;
	for (i = 0; i < s->nasked; i++)
		free(s->asked[i]);
	free(s->asked);
	s->asked = NULL;
	s->nasked = 0;
}

void mm_sources_free(struct mm_sources *s)
{
	size_t i;

	if (!s)
		return;
	forget_peers(s);
	for (i = 0; i < s->nmirrors; i++)
		free(s->mirrors[i]);
	free(s->mirrors);
	for (i = 0; i < s->nliars; i++)
		free(s->liars[i]);
	free(s->liars);
	free(s->redis_url);
	free(s->self);
	if (s->token) {
		OPENSSL_cleanse(s->token, strlen(s->token));
		free(s->token);
	}
	free(s);
}

void mm_sources_use_peers(struct mm_sources *s, const char *redis_url, const char *self,
			  const char *token, double stale_after)
{
	s->peers_on = 1;
	s->redis_url = redis_url ? mm_xstrdup(redis_url) : NULL;
	s->self = self ? mm_xstrdup(self) : NULL;
	s->token = token ? mm_xstrdup(token) : NULL;
	s->stale_after = stale_after;
}

const char *mm_sources_peer_token(const struct mm_sources *s)
{
	return s ? s->token : NULL;
}

/* ------------------------------------------------------------ peers */

/* {id, url, {index, ...}} rows of mm_peers into s->peers; rows that make no sense are passed over. */
static void take_rows(struct mm_sources *s, const redisReply *rep)
{
	size_t i, k;

	if (rep->type != REDIS_REPLY_ARRAY)
		return;
	s->peers = mm_xcalloc(rep->elements + 1, sizeof(*s->peers));
	for (i = 0; i < rep->elements; i++) {
		const redisReply *row = rep->element[i];
		struct peer *p = &s->peers[s->npeers];
		size_t len;

		if (row->type != REDIS_REPLY_ARRAY || row->elements != 3 ||
		    row->element[0]->type != REDIS_REPLY_STRING || row->element[1]->type != REDIS_REPLY_STRING ||
		    row->element[2]->type != REDIS_REPLY_ARRAY)
			continue;
		if ((s->self && strcmp(row->element[0]->str, s->self) == 0) ||
		    !mm_http_url_ok(row->element[1]->str) || strpbrk(row->element[1]->str, " \t\r\n?#"))
			continue;
		p->id = mm_xstrdup(row->element[0]->str);
		p->url = mm_xstrdup(row->element[1]->str);
		len = strlen(p->url);
		while (len > 0 && p->url[len - 1] == '/')
			p->url[--len] = '\0';
		p->has = mm_xcalloc(s->nasked + 1, 1);
		for (k = 0; k < row->element[2]->elements; k++) {
			const redisReply *e = row->element[2]->element[k];

			if (e->type == REDIS_REPLY_INTEGER && e->integer >= 1 && (size_t)e->integer <= s->nasked)
				p->has[e->integer - 1] = 1;
		}
		s->npeers++;
	}
}

/* A machine boots without waiting on Redis: one try, briefly. */
static int connect_briefly(const struct mm_sources *s, struct mm_redis **r, struct mm_err *err)
{
	struct mm_redis_opts ro;
	int rc;

	rc = mm_redis_opts_from_env(&ro, err);
	if (rc)
		return rc;
	ro.retry_for = 0;
	if (ro.connect_timeout > 3)
		ro.connect_timeout = 3;
	if (ro.command_timeout > 10)
		ro.command_timeout = 10;
	return mm_redis_connect(s->redis_url, &ro, r, err);
}

int mm_sources_find_peers(struct mm_sources *s, const char *const *sha256, size_t n,
			  struct mm_err *err)
{
	struct mm_redis *r = NULL;
	redisReply *rep = NULL;
	const char **argv;
	char stale[32];
	size_t i;
	int rc;

	if (!s || !s->peers_on || n == 0)
		return 0;
	forget_peers(s);
	rc = connect_briefly(s, &r, err);
	if (rc)
		return rc;
	s->asked = mm_xcalloc(n + 1, sizeof(*s->asked));
	argv = mm_xcalloc(n + 5, sizeof(*argv));
	snprintf(stale, sizeof(stale), "%g", s->stale_after);
	argv[0] = "FCALL_RO";
	argv[1] = "mm_peers";
	argv[2] = "0";
	argv[3] = s->self ? s->self : "";
	argv[4] = stale;
	for (i = 0; i < n; i++) {
		s->asked[i] = mm_xstrdup(sha256[i]);
		argv[5 + i] = s->asked[i];
	}
	s->nasked = n;
	rc = mm_route_fcall(r, (int)(n + 5), argv, &rep, err);
	free(argv);
	if (rc == 0)
		take_rows(s, rep);
	freeReplyObject(rep);
	mm_redis_close(r);
	return rc;
}

/* ------------------------------------------------------------ liars */

int mm_sources_blame(struct mm_sources *s, const struct mm_source *src)
{
	size_t i;

	if (!s || !src || src->kind != MM_SOURCE_PEER || !src->peer || !*src->peer)
		return 0;
	for (i = 0; i < s->nliars; i++)
		if (strcmp(s->liars[i], src->peer) == 0)
			return 0;
	s->liars = mm_xrealloc(s->liars, (s->nliars + 1) * sizeof(*s->liars));
	s->liars[s->nliars++] = mm_xstrdup(src->peer);
	return 1;
}

const char *const *mm_sources_liars(const struct mm_sources *s, size_t *n)
{
	*n = s ? s->nliars : 0;
	return s ? (const char *const *)s->liars : NULL;
}

int mm_sources_report_liars(const struct mm_sources *s, struct mm_err *err)
{
	struct mm_redis *r = NULL;
	redisReply *rep = NULL;
	const char **argv;
	size_t i;
	int rc;

	if (!s || !s->peers_on || s->nliars == 0)
		return 0;
	rc = connect_briefly(s, &r, err);
	if (rc == 0) {
		argv = mm_xcalloc(s->nliars + 4, sizeof(*argv));
		argv[0] = "FCALL";
		argv[1] = "mm_report_liars";
		argv[2] = "0";
		argv[3] = s->self ? s->self : "";
		for (i = 0; i < s->nliars; i++)
			argv[4 + i] = s->liars[i];
		rc = mm_route_fcall(r, (int)(s->nliars + 4), argv, &rep, err);
		free(argv);
		freeReplyObject(rep);
		mm_redis_close(r);
	}
	if (rc)
		mm_error_prefix(err, "cannot report %zu lying peer%s to Redis", s->nliars,
				s->nliars == 1 ? "" : "s");
	return rc;
}

struct cand {
	const struct peer *p;
	unsigned long long key;
};

static int cmp_cand(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return strcmp(x->p->id, y->p->id);
}

static void add(struct mm_source_list *l, enum mm_source_kind kind, char *url, char *label)
{
	struct mm_source *v;

	l->v = mm_xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	v = &l->v[l->n++];
	memset(v, 0, sizeof(*v));
	v->kind = kind;
	v->url = url;
	v->label = label;
}

/* The peers that hold sha256, at most MM_SOURCES_PEERS, spread over the fleet. */
static void add_peers(const struct mm_sources *s, const char *sha256, struct mm_source_list *out)
{
	struct cand *c;
	size_t i, k, nc = 0;

	for (i = 0; i < s->nasked && strcmp(s->asked[i], sha256) != 0; i++)
		;
	if (i == s->nasked || s->npeers == 0)
		return;
	c = mm_xcalloc(s->npeers, sizeof(*c));
	for (k = 0; k < s->npeers; k++) {
		char *seed;

		if (!s->peers[k].has[i])
			continue;
		/* Each machine ranks the holders of each file its own way. */
		seed = mm_xasprintf("%s\n%s\n%s", s->self ? s->self : "", sha256, s->peers[k].id);
		c[nc].p = &s->peers[k];
		c[nc++].key = mm_fnv64(seed);
		free(seed);
	}
	qsort(c, nc, sizeof(*c), cmp_cand);
	for (k = 0; k < nc && k < MM_SOURCES_PEERS; k++) {
		add(out, MM_SOURCE_PEER, mm_xasprintf("%s/sha256/%s", c[k].p->url, sha256),
		    mm_xasprintf("peer %s", c[k].p->id));
		out->v[out->n - 1].peer = mm_xstrdup(c[k].p->id);
	}
	free(c);
}

static int is_sha256(const char *s)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[64] == '\0';
}

void mm_sources_for(const struct mm_sources *s, const char *sha256, const char *name,
		    const char *save_to, const char *origin_url, struct mm_source_list *out)
{
	size_t i;

	memset(out, 0, sizeof(*out));
	if (s && sha256 && is_sha256(sha256)) {
		add_peers(s, sha256, out);
		for (i = 0; i < s->nmirrors; i++) {
			char *u = mm_mirror_expand(s->mirrors[i], sha256, name, save_to, NULL);

			if (!u || !mm_http_url_ok(u)) {
				free(u);
				continue;
			}
			add(out, MM_SOURCE_MIRROR, u, mm_xasprintf("mirror %zu", i + 1));
			out->v[out->n - 1].mirror = (int)(i + 1);
		}
	}
	add(out, MM_SOURCE_ORIGIN, mm_xstrdup(origin_url ? origin_url : ""), mm_xstrdup("origin"));
}
