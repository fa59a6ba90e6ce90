/* sources.c — peers, mirrors, then the origin, for content known by its sha256. */
#include "sources.h"
#include "hash.h"
#include "http.h"
#include "log.h"
#include "partfile.h"
#include "redis.h"
#include "route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

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
	/* Leases (mm_sources_lease). */
	int lease_on, serving;
	double max_wait;
	volatile sig_atomic_t *stop;
	char **held;            /* the digests whose lease this run took */
	unsigned char *settled; /* held[i]: no longer renewed */
	size_t nheld;
	double next_renew;
	int renew_broken;
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
	for (i = 0; i < s->nheld; i++)
		free(s->held[i]);
	free(s->held);
	free(s->settled);
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

/* A row of mm_peers that makes sense, of another machine, with a URL mm-fetch may use. */
static int row_ok(const struct mm_sources *s, const redisReply *row)
{
	if (row->type != REDIS_REPLY_ARRAY || row->elements != 3 ||
	    row->element[0]->type != REDIS_REPLY_STRING || row->element[1]->type != REDIS_REPLY_STRING ||
	    row->element[2]->type != REDIS_REPLY_ARRAY)
		return 0;
	return !(s->self && strcmp(row->element[0]->str, s->self) == 0) &&
	       mm_http_url_ok(row->element[1]->str) && !strpbrk(row->element[1]->str, " \t\r\n?#");
}

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

		if (!row_ok(s, row))
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

/* A connection to ask about peers and leases, briefly: a machine boots without waiting on Redis. */
static int connect_briefly(const struct mm_sources *s, double connect_max, double command_max,
			   struct mm_redis **r, struct mm_err *err)
{
	struct mm_redis_opts ro;
	int rc = mm_redis_opts_from_env(&ro, err);

	if (rc)
		return rc;
	ro.retry_for = 0;
	if (ro.connect_timeout > connect_max)
		ro.connect_timeout = connect_max;
	if (ro.command_timeout > command_max)
		ro.command_timeout = command_max;
	return mm_redis_connect(s->redis_url, &ro, r, err);
}

/* FCALL_RO mm_peers for the n digests d; the reply into *rep. */
static int call_peers(const struct mm_sources *s, struct mm_redis *r, const char *const *d, size_t n,
		      redisReply **rep, struct mm_err *err)
{
	const char **argv = mm_xcalloc(n + 5, sizeof(*argv));
	char stale[32];
	int rc;

	snprintf(stale, sizeof(stale), "%g", s->stale_after);
	argv[0] = "FCALL_RO";
	argv[1] = "mm_peers";
	argv[2] = "0";
	argv[3] = s->self ? s->self : "";
	argv[4] = stale;
	memcpy(argv + 5, d, n * sizeof(*argv));
	rc = mm_route_fcall(r, (int)(n + 5), argv, rep, err);
	free(argv);
	return rc;
}

/* Which peers hold the n digests, into s->peers (what mm_sources_for uses). */
static int ask_peers(struct mm_sources *s, struct mm_redis *r, const char *const *sha256, size_t n,
		     struct mm_err *err)
{
	redisReply *rep = NULL;
	size_t i;
	int rc;

	forget_peers(s);
	s->asked = mm_xcalloc(n + 1, sizeof(*s->asked));
	for (i = 0; i < n; i++)
		s->asked[i] = mm_xstrdup(sha256[i]);
	s->nasked = n;
	rc = call_peers(s, r, (const char *const *)s->asked, n, &rep, err);
	if (rc == 0)
		take_rows(s, rep);
	freeReplyObject(rep);
	return rc;
}

/*
 * FCALL mm_peer_lease op for the n digests d: holder[i] the reply's string
 * for d[i] (take, peek: the holder, "" none), or NULL; caller frees each.
 */
static int lease_op(const struct mm_sources *s, struct mm_redis *r, const char *op, char *const *d,
		    size_t n, char **holder, struct mm_err *err)
{
	const char **argv = mm_xcalloc(n + 6, sizeof(*argv));
	redisReply *rep = NULL;
	char ttl[32];
	size_t i;
	int rc;

	snprintf(ttl, sizeof(ttl), "%d", MM_SOURCES_LEASE_TTL * 1000);
	argv[0] = "FCALL";
	argv[1] = "mm_peer_lease";
	argv[2] = "0";
	argv[3] = op;
	argv[4] = s->self ? s->self : "-";
	argv[5] = ttl;
	memcpy(argv + 6, d, n * sizeof(*argv));
	rc = mm_route_fcall(r, (int)(n + 6), argv, &rep, err);
	free(argv);
	if (rc == 0 && (rep->type != REDIS_REPLY_ARRAY || rep->elements != n))
		rc = mm_error(err, MM_EFAIL, "mm_peer_lease: an answer of the wrong shape");
	for (i = 0; rc == 0 && holder && i < n; i++) {
		const redisReply *e = rep->element[i];

		holder[i] = e->type == REDIS_REPLY_STRING ? mm_xstrdup(e->str) : NULL;
	}
	freeReplyObject(rep);
	return rc;
}

static void add_held(struct mm_sources *s, const char *sha256)
{
	size_t i;

	for (i = 0; i < s->nheld; i++)
		if (strcmp(s->held[i], sha256) == 0) {
			s->settled[i] = 0;
			return;
		}
	s->held = mm_xrealloc(s->held, (s->nheld + 1) * sizeof(*s->held));
	s->settled = mm_xrealloc(s->settled, s->nheld + 1);
	s->held[s->nheld] = mm_xstrdup(sha256);
	s->settled[s->nheld++] = 0;
	if (s->next_renew == 0)
		s->next_renew = mm_now() + MM_SOURCES_LEASE_RENEW;
}

/* The digests still waited for, and the machine whose lease each waits on. */
struct waits {
	char **d, **who;
	size_t n;
};

static void waits_drop(struct waits *w, size_t i)
{
	free(w->who[i]);
	w->d[i] = w->d[w->n - 1];
	w->who[i] = w->who[w->n - 1];
	w->n--;
}

/*
 * Take or look at the leases of the waited-for digests: those now free (a
 * serving machine takes them) are waited for no longer.  -1 when Redis
 * cannot be asked.
 */
static int settle_leases(struct mm_sources *s, struct mm_redis *r, struct waits *w, int first)
{
	char **holder = mm_xcalloc(w->n + 1, sizeof(*holder));
	struct mm_err e = { 0 };
	size_t i, n = w->n;

	if (lease_op(s, r, s->serving ? "take" : "peek", w->d, w->n, holder, &e) != 0) {
		mm_debugf("peer leases: %s", e.msg);
		free(holder);
		return -1;
	}
	for (i = w->n; i-- > 0;) {
		const char *h = holder[i];

		if (h && *h && (!s->self || strcmp(h, s->self) != 0)) {
			if (s->max_wait > 0 && (first || strcmp(h, w->who[i]) != 0))
				mm_infof("waiting for %s, which is downloading sha256 %.12s (%g s at most)", h,
					 w->d[i], s->max_wait);
			free(w->who[i]);
			w->who[i] = mm_xstrdup(h);
			continue;
		}
		if (h && *h)
			add_held(s, w->d[i]);
		if (!first)
			mm_infof("sha256 %.12s: the lease of %s is gone; the next source", w->d[i], w->who[i]);
		waits_drop(w, i);
	}
	for (i = 0; i < n; i++)
		free(holder[i]);
	free(holder);
	return 0;
}

/* Forget the waited-for digests some peer now holds; 1 when there was one, -1 on an error. */
static int peers_came(struct mm_sources *s, struct mm_redis *r, struct waits *w)
{
	redisReply *rep = NULL;
	struct mm_err e = { 0 };
	unsigned char *found;
	size_t i, k;
	int any = 0;

	if (call_peers(s, r, (const char *const *)w->d, w->n, &rep, &e) != 0) {
		mm_debugf("peers: %s", e.msg);
		freeReplyObject(rep);
		return -1;
	}
	found = mm_xcalloc(w->n + 1, 1);
	for (i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
		const redisReply *row = rep->element[i];

		if (!row_ok(s, row))
			continue;
		for (k = 0; k < row->element[2]->elements; k++) {
			const redisReply *x = row->element[2]->element[k];

			if (x->type == REDIS_REPLY_INTEGER && x->integer >= 1 && (size_t)x->integer <= w->n)
				found[x->integer - 1] = 1;
		}
	}
	freeReplyObject(rep);
	for (i = w->n; i-- > 0;)
		if (found[i]) {
			mm_infof("sha256 %.12s: %s is done; taking it from the peers", w->d[i], w->who[i]);
			waits_drop(w, i);
			any = 1;
		}
	free(found);
	return any;
}

static int held_by_a_peer(const struct mm_sources *s, size_t i)
{
	size_t k;

	for (k = 0; k < s->npeers; k++)
		if (s->peers[k].has[i])
			return 1;
	return 0;
}

/*
 * The leases of the digests no peer holds: taken when this machine serves,
 * waited on when another machine holds them.  1 when a peer came meanwhile
 * (s->peers is then out of date).
 */
static int wait_for_peers(struct mm_sources *s, struct mm_redis *r)
{
	struct waits w = { 0 };
	double deadline;
	size_t i, k;
	int came = 0;

	w.d = mm_xcalloc(s->nasked + 1, sizeof(*w.d));
	w.who = mm_xcalloc(s->nasked + 1, sizeof(*w.who));
	for (i = 0; i < s->nasked; i++) {
		if (held_by_a_peer(s, i))
			continue;
		for (k = 0; k < w.n && strcmp(w.d[k], s->asked[i]) != 0; k++)
			;
		if (k == w.n) {
			w.d[w.n] = s->asked[i];
			w.who[w.n++] = mm_xstrdup("");
		}
	}
	if (w.n > 0 && settle_leases(s, r, &w, 1) < 0)
		goto out;
	deadline = mm_now() + s->max_wait;
	while (w.n > 0 && s->max_wait > 0) {
		double left = deadline - mm_now();
		struct timespec ts;
		int rc;

		if (s->stop && *s->stop)
			break;
		if (left <= 0) {
			mm_infof("waited %g s for peers downloading %zu file%s; the next source", s->max_wait,
				 w.n, w.n == 1 ? "" : "s");
			break;
		}
		if (left > MM_SOURCES_WAIT_POLL)
			left = MM_SOURCES_WAIT_POLL;
		ts.tv_sec = (time_t)left;
		ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
		nanosleep(&ts, NULL);
		rc = peers_came(s, r, &w);
		if (rc < 0)
			break;
		came |= rc;
		if (w.n > 0 && settle_leases(s, r, &w, 0) < 0)
			break;
	}
out:
	for (i = 0; i < w.n; i++)
		free(w.who[i]);
	free(w.d);
	free(w.who);
	return came;
}

int mm_sources_find_peers(struct mm_sources *s, const char *const *sha256, size_t n,
			  struct mm_err *err)
{
	struct mm_redis *r = NULL;
	int rc;

	if (!s || !s->peers_on || n == 0)
		return 0;
	forget_peers(s);
	rc = connect_briefly(s, 3, 10, &r, err);
	if (rc)
		return rc;
	rc = ask_peers(s, r, sha256, n, err);
	if (rc == 0 && s->lease_on && wait_for_peers(s, r)) {
		struct mm_err e = { 0 };

		/* Some peer came while we waited: who holds what, once more. */
		if (ask_peers(s, r, sha256, n, &e) != 0)
			mm_debugf("peers: %s", e.msg);
	}
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
	rc = connect_briefly(s, 3, 10, &r, err);
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

void mm_sources_lease(struct mm_sources *s, int serving, double max_wait, volatile sig_atomic_t *stop)
{
	if (!s)
		return;
	s->lease_on = 1;
	/* A lease names its holder: no machine id, no lease. */
	s->serving = serving && s->self && *s->self;
	s->max_wait = max_wait;
	s->stop = stop;
}

void mm_sources_lease_tick(struct mm_sources *s)
{
	struct mm_redis *r = NULL;
	struct mm_err e = { 0 };
	char **d;
	size_t i, n = 0;
	double now;

	if (!s || s->nheld == 0 || s->renew_broken)
		return;
	now = mm_now();
	if (now < s->next_renew)
		return;
	s->next_renew = now + MM_SOURCES_LEASE_RENEW;
	d = mm_xcalloc(s->nheld + 1, sizeof(*d));
	for (i = 0; i < s->nheld; i++)
		if (!s->settled[i])
			d[n++] = s->held[i];
	/* One try, briefly: the downloads wait meanwhile. */
	if (n > 0 && (connect_briefly(s, 1, 2, &r, &e) != 0 || lease_op(s, r, "renew", d, n, NULL, &e) != 0)) {
		mm_debugf("peer leases are not renewed: %s", e.msg);
		s->renew_broken = 1;
	}
	if (r)
		mm_redis_close(r);
	free(d);
}

void mm_sources_lease_done(struct mm_sources *s, const char *hash, int ok)
{
	struct mm_hash_spec spec;
	struct mm_redis *r = NULL;
	struct mm_err e = { 0 };
	size_t i;

	if (!s || s->nheld == 0 || !hash || mm_hash_parse(hash, &spec, NULL) != 0 ||
	    spec.algo != MM_HASH_SHA256)
		return;
	for (i = 0; i < s->nheld && strcmp(s->held[i], spec.hex) != 0; i++)
		;
	if (i == s->nheld || s->settled[i])
		return;
	s->settled[i] = 1;
	if (ok || s->renew_broken)
		return;
	if (connect_briefly(s, 1, 2, &r, &e) != 0 || lease_op(s, r, "drop", &s->held[i], 1, NULL, &e) != 0)
		mm_debugf("a peer lease is not dropped: %s", e.msg);
	if (r)
		mm_redis_close(r);
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
