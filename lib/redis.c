/* redis.c — REDIS_URL, connections with retries, commands and pipelines. */
#include "redis.h"
#include "config.h"
#include "log.h"
#include "rconn.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include <openssl/crypto.h>

static void wipe_free(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

void mm_redis_url_free(struct mm_redis_url *u)
{
	if (!u)
		return;
	free(u->host);
	free(u->path);
	free(u->user);
	wipe_free(u->password);
	memset(u, 0, sizeof(*u));
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Percent-decode s[0..n) into a new string; NULL on a bad escape or a NUL. */
static char *pct_decode(const char *s, size_t n)
{
	char *out = mm_xmalloc(n + 1), *o = out;
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == '%') {
			int h, l;

			if (i + 2 >= n)
				goto bad;
			h = hexval((unsigned char)s[i + 1]);
			l = hexval((unsigned char)s[i + 2]);
			if (h < 0 || l < 0 || (h == 0 && l == 0))
				goto bad;
			*o++ = (char)(h * 16 + l);
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
bad:
	OPENSSL_cleanse(out, n + 1);
	free(out);
	return NULL;
}

/* Parse the query string "db=N"; other parameters are refused. */
static int parse_query(const char *q, struct mm_redis_url *u, struct mm_err *err)
{
	char *copy = mm_xstrdup(q), *save = NULL, *tok;
	int rc = 0;

	for (tok = strtok_r(copy, "&", &save); tok; tok = strtok_r(NULL, "&", &save)) {
		if (strncmp(tok, "db=", 3) == 0) {
			if (mm_parse_long(tok + 3, 0, INT_MAX, &u->db) < 0) {
				rc = mm_error(err, MM_EUSAGE,
					      "REDIS_URL: bad database number in ?db=, want a whole number from 0");
				break;
			}
		} else {
			char *eq = strchr(tok, '=');

			if (eq)
				*eq = '\0';
			rc = mm_error(err, MM_EUSAGE, "REDIS_URL: unknown parameter '%s'", tok);
			break;
		}
	}
	free(copy);
	return rc;
}

/* The "?db=N…" part at p, up to a '#', when p starts one; else nothing to do. */
static int parse_query_at(const char *p, struct mm_redis_url *u, struct mm_err *err)
{
	char *q;
	int rc;

	if (*p != '?')
		return 0;
	q = mm_xstrndup(p + 1, strcspn(p + 1, "#"));
	rc = parse_query(q, u, err);
	free(q);
	return rc;
}

/* Split "user:password" (already cut from before the '@'). */
static int parse_userinfo(const char *s, size_t n, struct mm_redis_url *u, struct mm_err *err)
{
	const char *colon = memchr(s, ':', n);

	if (!colon) {
		/*
		 * One word before the '@' is a password, as redis-cli and most
		 * clients read "redis://secret@host".
		 */
		u->password = pct_decode(s, n);
		if (!u->password)
			return mm_error(err, MM_EUSAGE, "REDIS_URL: bad percent-escape in the password");
	} else {
		if (colon > s) {
			u->user = pct_decode(s, (size_t)(colon - s));
			if (!u->user)
				return mm_error(err, MM_EUSAGE, "REDIS_URL: bad percent-escape in the user name");
		}
		u->password = pct_decode(colon + 1, (size_t)(s + n - colon - 1));
		if (!u->password)
			return mm_error(err, MM_EUSAGE, "REDIS_URL: bad percent-escape in the password");
	}
	if (u->password && !*u->password) {
		free(u->password);
		u->password = NULL;
	}
	if (u->user && !u->password)
		return mm_error(err, MM_EUSAGE, "REDIS_URL: user '%s' given without a password", u->user);
	mm_log_secret(u->password);
	return 0;
}

/*
 * The userinfo ends at the last '@': a password may hold '/', '?', '#', ':'
 * and '@' as they are, and nothing after the host holds an '@'.  Cutting the
 * host part at the first '/' before looking for the '@' would make part of
 * such a password the port or the database, and then part of a message.
 * For the same reason no message below quotes the host, port or database:
 * when the '@' is missing, they may be a mistyped password.
 */
static int parse_tcp(const char *rest, struct mm_redis_url *u, struct mm_err *err)
{
	const char *at = strrchr(rest, '@'), *end, *p, *hp;
	const char *hend, *portp = NULL;

	if (at && parse_userinfo(rest, (size_t)(at - rest), u, err))
		return err ? err->code : MM_EUSAGE;
	hp = at ? at + 1 : rest;
	end = hp + strcspn(hp, "/?#");
	if (*hp == '[') {
		hend = memchr(hp, ']', (size_t)(end - hp));
		if (!hend)
			return mm_error(err, MM_EUSAGE, "REDIS_URL: unterminated '[' in the host");
		u->host = mm_xstrndup(hp + 1, (size_t)(hend - hp - 1));
		hend++;
		if (hend < end && *hend != ':')
			return mm_error(err, MM_EUSAGE, "REDIS_URL: junk after the IPv6 address");
		if (hend < end)
			portp = hend + 1;
	} else {
		hend = memchr(hp, ':', (size_t)(end - hp));
		if (!hend)
			hend = end;
		else
			portp = hend + 1;
		u->host = mm_xstrndup(hp, (size_t)(hend - hp));
	}
	if (!*u->host) {
		free(u->host);
		u->host = mm_xstrdup("127.0.0.1");
	}
	for (p = u->host; *p; p++)
		if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p))
			return mm_error(err, MM_EUSAGE, "REDIS_URL: the host name holds a space or control character");
	u->port = 6379;
	if (portp) {
		char *ps = mm_xstrndup(portp, (size_t)(end - portp));
		long port;
		int bad = mm_parse_long(ps, 1, 65535, &port) < 0;

		OPENSSL_cleanse(ps, strlen(ps));
		free(ps);
		if (bad)
			return mm_error(err, MM_EUSAGE, "REDIS_URL: bad port, want a number from 1 to 65535");
		u->port = (int)port;
	}
	if (*end == '/') {
		const char *d = end + 1;
		size_t dn = strcspn(d, "?#");

		if (dn) {
			char *ds = mm_xstrndup(d, dn);
			int bad = mm_parse_long(ds, 0, INT_MAX, &u->db) < 0;

			OPENSSL_cleanse(ds, dn);
			free(ds);
			if (bad)
				return mm_error(err, MM_EUSAGE,
						"REDIS_URL: bad database number in the path, want a whole number from 0");
		}
		end = d + dn;
	}
	return parse_query_at(end, u, err);
}

/*
 * unix:///path, or unix://userinfo@/path where, as in parse_tcp(), the
 * userinfo ends at the last '@' (an '@' in the path is then written %40).
 */
static int parse_unix(const char *rest, struct mm_redis_url *u, struct mm_err *err)
{
	const char *slash = rest;
	size_t n;

	if (!*rest)
		return mm_error(err, MM_EUSAGE, "REDIS_URL: unix:// needs an absolute socket path");
	if (*rest != '/') {
		const char *at = strrchr(rest, '@');

		if (!at || at[1] != '/')
			return mm_error(err, MM_EUSAGE, "REDIS_URL: unix:// takes no host, write unix:///path");
		if (parse_userinfo(rest, (size_t)(at - rest), u, err))
			return err ? err->code : MM_EUSAGE;
		slash = at + 1;
	}
	n = strcspn(slash, "?#");
	u->path = pct_decode(slash, n);
	if (!u->path)
		return mm_error(err, MM_EUSAGE, "REDIS_URL: bad percent-escape in the socket path");
	if (strlen(u->path) < 2)
		return mm_error(err, MM_EUSAGE, "REDIS_URL: unix:// needs an absolute socket path");
	u->is_unix = 1;
	return parse_query_at(slash + n, u, err);
}

int mm_redis_url_parse(const char *url, struct mm_redis_url *u, struct mm_err *err)
{
	int rc;

	memset(u, 0, sizeof(*u));
	if (!url || !*url)
		url = MM_REDIS_DEFAULT_URL;
	if (strncasecmp(url, "redis://", 8) == 0) {
		rc = parse_tcp(url + 8, u, err);
	} else if (strncasecmp(url, "rediss://", 9) == 0) {
		u->tls = 1;
		rc = parse_tcp(url + 9, u, err);
	} else if (strncasecmp(url, "unix://", 7) == 0) {
		rc = parse_unix(url + 7, u, err);
	} else {
		const char *colon = strstr(url, "://");

		if (colon)
			rc = mm_error(err, MM_EUSAGE, "REDIS_URL: unknown scheme '%.*s', want redis://, rediss:// or unix://",
				      (int)(colon - url), url);
		else
			rc = mm_error(err, MM_EUSAGE, "REDIS_URL: not a URL, want redis://host:port/db or unix:///path");
	}
	if (rc)
		mm_redis_url_free(u);
	return rc;
}

char *mm_redis_url_display(const struct mm_redis_url *u)
{
	const char *user = u->user ? u->user : "";
	const char *at = u->user ? "@" : "";

	if (u->is_unix)
		return u->db ? mm_xasprintf("unix://%s%s%s?db=%ld", user, at, u->path, u->db)
			     : mm_xasprintf("unix://%s%s%s", user, at, u->path);
	if (strchr(u->host, ':'))
		return mm_xasprintf("%s://%s%s[%s]:%d/%ld", u->tls ? "rediss" : "redis", user, at,
				    u->host, u->port, u->db);
	return mm_xasprintf("%s://%s%s%s:%d/%ld", u->tls ? "rediss" : "redis", user, at,
			    u->host, u->port, u->db);
}

/* A file name from the environment: NULL when unset (an empty value is kept, and refused later). */
static const char *env_file(const char *name)
{
	return mm_env_raw(name);
}

static int env_seconds(const char *name, double *out, struct mm_err *err)
{
	return mm_env_seconds(name, 0, 86400, out, err);
}

int mm_redis_opts_from_env(struct mm_redis_opts *o, struct mm_err *err)
{
	o->connect_timeout = 5;
	o->command_timeout = 30;
	o->retry_for = 10;
	if (env_seconds("MM_REDIS_CONNECT_TIMEOUT", &o->connect_timeout, err) ||
	    env_seconds("MM_REDIS_TIMEOUT", &o->command_timeout, err) ||
	    env_seconds("MM_REDIS_RETRY_SECONDS", &o->retry_for, err))
		return MM_EUSAGE;
	if (o->connect_timeout <= 0)
		o->connect_timeout = 5;
	if (o->command_timeout <= 0)
		o->command_timeout = 30;
	o->ca_cert = env_file("REDIS_CA_CERT");
	o->client_cert = env_file("REDIS_CLIENT_CERT");
	o->client_key = env_file("REDIS_CLIENT_KEY");
	return 0;
}

/* Asked of the kernel as the socket's send buffer (it doubles the value). */
#define SEND_BUFFER (1 << 20)

struct mm_redis {
	struct mm_rconn *c;
	struct mm_rtls *tls;   /* rediss://: made once, shared by reconnects */
	struct mm_redis_url url;
	struct mm_redis_opts opts;
	char *addr;
	size_t unread;  /* replies to mm_redis_send() not read yet */
	int refused;    /* the TLS peer refused us or we it: no retry helps */
};

static void drop_context(struct mm_redis *r)
{
	if (r->c) {
		mm_rconn_close(r->c);
		r->c = NULL;
	}
	r->unread = 0;
}

/* After an I/O error the connection is useless: record the error, drop it. */
static int io_error(struct mm_redis *r, struct mm_err *err)
{
	const char *why = r->c && mm_rconn_error(r->c)[0] ? mm_rconn_error(r->c) : "connection lost";

	mm_error(err, MM_EUNAVAIL, "redis %s: %s", r->addr, why);
	if (r->c && mm_rconn_refused(r->c))
		r->refused = 1;
	drop_context(r);
	return MM_EUNAVAIL;
}

/* Is this error reply a reason to try again (server starting up)? */
static int transient_reply(const char *s)
{
	return strncmp(s, "LOADING", 7) == 0 || strncmp(s, "BUSY", 4) == 0 ||
	       strncmp(s, "MASTERDOWN", 10) == 0;
}

/*
 * One attempt: connect, AUTH, SELECT.  Returns 0, MM_EUNAVAIL (worth
 * retrying) or MM_EUSAGE (credentials or database refused).
 */
static int connect_once(struct mm_redis *r, struct mm_err *err)
{
	redisReply *rep = NULL;
	int rc;

	drop_context(r);
	if (r->url.tls && !r->tls) {
		struct mm_rtls_files f = { r->opts.ca_cert, r->opts.client_cert, r->opts.client_key };

		rc = mm_rtls_new(&f, &r->tls, err);
		if (rc) {
			mm_error_prefix(err, "redis %s", r->addr);
			return rc;
		}
	}
	rc = mm_rconn_open(r->url.is_unix ? NULL : r->url.host, r->url.port,
			   r->url.is_unix ? r->url.path : NULL, r->url.tls ? r->tls : NULL,
			   r->opts.connect_timeout, r->opts.command_timeout, &r->c, &r->refused, err);
	if (rc) {
		mm_error_prefix(err, "redis %s", r->addr);
		return rc;
	}
	mm_debugf("redis %s: connected (%s)", r->addr, mm_rconn_describe(r->c));
	if (r->url.is_unix) {
		/*
		 * Room for a large pipeline in the socket: its first part is
		 * written without waiting for the server to read it, and the
		 * server works on it while the rest is built.  The kernel caps
		 * this at net.core.wmem_max; a smaller buffer only costs time.
		 * TCP sizes its own buffer, and setting one would stop that.
		 */
		mm_rconn_sndbuf(r->c, SEND_BUFFER);
	}
	if (r->url.password) {
		if (r->url.user)
			rc = mm_redis_cmd(r, &rep, err, "AUTH", r->url.user, r->url.password, (char *)NULL);
		else
			rc = mm_redis_cmd(r, &rep, err, "AUTH", r->url.password, (char *)NULL);
		if (rc == MM_EFAIL || rc == MM_EUSAGE) {
			char why[MM_ERRSZ];

			snprintf(why, sizeof(why), "%s", err ? err->msg : "");
			drop_context(r);
			if (transient_reply(why))
				return mm_error(err, MM_EUNAVAIL, "redis %s: %s", r->addr, why);
			return mm_error(err, MM_EUSAGE, "redis %s: authentication refused%s%s: %s", r->addr,
					r->url.user ? " for user " : "", r->url.user ? r->url.user : "", why);
		}
		if (rc)
			return rc;
		freeReplyObject(rep);
	}
	if (r->url.db) {
		char db[24];

		snprintf(db, sizeof(db), "%ld", r->url.db);
		rc = mm_redis_cmd(r, &rep, err, "SELECT", db, (char *)NULL);
		if (rc == MM_EFAIL || rc == MM_EUSAGE) {
			char why[MM_ERRSZ];

			snprintf(why, sizeof(why), "%s", err ? err->msg : "");
			drop_context(r);
			if (transient_reply(why))
				return mm_error(err, MM_EUNAVAIL, "redis %s: %s", r->addr, why);
			return mm_error(err, MM_EUSAGE, "redis %s: cannot select database %ld: %s",
					r->addr, r->url.db, why);
		}
		if (rc)
			return rc;
		freeReplyObject(rep);
	}
	if (r->url.tls && !r->url.password && !r->url.db) {
		/*
		 * With TLS 1.3 a server that wants a client certificate says so
		 * only after the handshake: ask something, so that shows here.
		 */
		rc = mm_redis_cmd(r, &rep, err, "PING", (char *)NULL);
		if (rc == MM_EFAIL)
			rc = MM_EUNAVAIL;
		if (rc)
			return rc;
		freeReplyObject(rep);
	}
	return 0;
}

static void sleep_for(double s)
{
	struct timespec ts;

	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int mm_redis_reconnect(struct mm_redis *r, struct mm_err *err)
{
	double deadline = mm_now() + r->opts.retry_for, delay = 0.1;
	int rc, tries = 0;

	for (;;) {
		double left;

		r->refused = 0;
		rc = connect_once(r, err);
		tries++;
		if (rc != MM_EUNAVAIL || r->refused)
			return rc;
		left = deadline - mm_now();
		if (left <= 0)
			break;
		mm_debugf("%s; retrying in %.1fs", err ? err->msg : "redis unreachable", delay);
		sleep_for(delay < left ? delay : left);
		delay = delay * 2 > 2 ? 2 : delay * 2;
	}
	if (tries > 1 && err)
		mm_error_prefix(err, "gave up after %d attempts in %.0fs", tries, r->opts.retry_for);
	return rc;
}

int mm_redis_connect(const char *url, const struct mm_redis_opts *o,
		     struct mm_redis **out, struct mm_err *err)
{
	struct mm_redis *r;
	int rc;

	*out = NULL;
	r = mm_xcalloc(1, sizeof(*r));
	rc = mm_redis_url_parse(url, &r->url, err);
	if (rc) {
		free(r);
		return rc;
	}
	r->addr = mm_redis_url_display(&r->url);
	if (o) {
		r->opts = *o;
	} else {
		r->opts.connect_timeout = 5;
		r->opts.command_timeout = 30;
		r->opts.retry_for = 10;
	}
	rc = mm_redis_reconnect(r, err);
	if (rc) {
		mm_redis_close(r);
		return rc;
	}
	*out = r;
	return 0;
}

int mm_redis_connected(const struct mm_redis *r)
{
	return r && r->c && mm_rconn_ok(r->c);
}

const char *mm_redis_address(const struct mm_redis *r)
{
	return r->addr;
}

void mm_redis_close(struct mm_redis *r)
{
	if (!r)
		return;
	drop_context(r);
	mm_rtls_free(r->tls);
	mm_redis_url_free(&r->url);
	free(r->addr);
	free(r);
}

/*
 * An error reply about rights or credentials is a configuration problem
 * (MM_EUSAGE); any other is MM_EFAIL.
 */
static int reply_error(const char *s, struct mm_err *err)
{
	int code = strncmp(s, "NOPERM", 6) == 0 || strncmp(s, "NOAUTH", 6) == 0 ||
		   strncmp(s, "WRONGPASS", 9) == 0 ? MM_EUSAGE : MM_EFAIL;

	return mm_error(err, code, "%s", s);
}

/* Fail on an error reply, also one inside an EXEC answer. */
static int check_reply(redisReply *rep, struct mm_err *err)
{
	size_t i;

	if (rep->type == REDIS_REPLY_ERROR)
		return reply_error(rep->str, err);
	if (rep->type == REDIS_REPLY_ARRAY)
		for (i = 0; i < rep->elements; i++)
			if (rep->element[i] && rep->element[i]->type == REDIS_REPLY_ERROR)
				return reply_error(rep->element[i]->str, err);
	return 0;
}

static int drain(struct mm_redis *r, struct mm_err *err);

int mm_redis_cmdv(struct mm_redis *r, int argc, const char **argv,
		  const size_t *lens, redisReply **reply, struct mm_err *err)
{
	redisReply *rep;

	*reply = NULL;
	if (!r->c)
		return mm_error(err, MM_EUNAVAIL, "redis %s: not connected", r->addr);
	if (r->unread) {
		int rc = drain(r, err);

		if (rc)
			return rc;
	}
	if (mm_rconn_command(r->c, argc, argv, lens) < 0 || mm_rconn_read(r->c, &rep) < 0)
		return io_error(r, err);
	if (rep->type == REDIS_REPLY_ERROR) {
		int rc = reply_error(rep->str, err);

		freeReplyObject(rep);
		return rc;
	}
	*reply = rep;
	return 0;
}

int mm_redis_cmd(struct mm_redis *r, redisReply **reply, struct mm_err *err,
		 const char *arg0, ...)
{
	const char *argv[64];
	int argc = 0;
	const char *a;
	va_list ap;

	va_start(ap, arg0);
	for (a = arg0; a && argc < 64; a = va_arg(ap, const char *))
		argv[argc++] = a;
	va_end(ap);
	return mm_redis_cmdv(r, argc, argv, NULL, reply, err);
}

/*
 * Commands are kept as argument vectors in one growing arena each for the
 * bytes and for the (offset, length) pairs, so a pipeline of thousands of
 * commands costs a handful of allocations.  An argument handed over whole
 * (mm_rcmds_argown) is not copied: its offset has ARG_REF set and indexes
 * refs instead.
 */
#define ARG_REF ((size_t)1 << (sizeof(size_t) * 8 - 1))

struct mm_rcmds {
	char *bytes;
	size_t nbytes, capbytes;
	size_t *argoff, *arglen;
	size_t nargs, capargs;
	char **refs;
	size_t nrefs, caprefs;
	size_t *cmdfirst;  /* index of the first argument of each command */
	size_t ncmds, capcmds;
};

struct mm_rcmds *mm_rcmds_new(void)
{
	return mm_xcalloc(1, sizeof(struct mm_rcmds));
}

void mm_rcmds_free(struct mm_rcmds *q)
{
	if (!q)
		return;
	free(q->bytes);
	free(q->argoff);
	free(q->arglen);
	for (size_t i = 0; i < q->nrefs; i++)
		free(q->refs[i]);
	free(q->refs);
	free(q->cmdfirst);
	free(q);
}

size_t mm_rcmds_count(const struct mm_rcmds *q)
{
	return q->ncmds;
}

void mm_rcmds_begin(struct mm_rcmds *q)
{
	if (q->ncmds == q->capcmds) {
		q->capcmds = q->capcmds ? q->capcmds * 2 : 64;
		q->cmdfirst = mm_xrealloc(q->cmdfirst, q->capcmds * sizeof(*q->cmdfirst));
	}
	q->cmdfirst[q->ncmds++] = q->nargs;
}

static const char *arg_bytes(const struct mm_rcmds *q, size_t i)
{
	if (q->argoff[i] & ARG_REF)
		return q->refs[q->argoff[i] & ~ARG_REF];
	return q->bytes + q->argoff[i];
}

static void arg_room(struct mm_rcmds *q)
{
	if (q->nargs == q->capargs) {
		q->capargs = q->capargs ? q->capargs * 2 : 256;
		q->argoff = mm_xrealloc(q->argoff, q->capargs * sizeof(*q->argoff));
		q->arglen = mm_xrealloc(q->arglen, q->capargs * sizeof(*q->arglen));
	}
}

void mm_rcmds_argown(struct mm_rcmds *q, char *s, size_t n)
{
	arg_room(q);
	if (q->nrefs == q->caprefs) {
		q->caprefs = q->caprefs ? q->caprefs * 2 : 4;
		q->refs = mm_xrealloc(q->refs, q->caprefs * sizeof(*q->refs));
	}
	q->refs[q->nrefs] = s;
	q->argoff[q->nargs] = ARG_REF | q->nrefs++;
	q->arglen[q->nargs++] = n;
}

void mm_rcmds_argn(struct mm_rcmds *q, const char *s, size_t n)
{
	arg_room(q);
	if (q->nbytes + n + 1 > q->capbytes) {
		q->capbytes = (q->nbytes + n + 1) * 2;
		q->bytes = mm_xrealloc(q->bytes, q->capbytes);
	}
	memcpy(q->bytes + q->nbytes, s, n);
	q->bytes[q->nbytes + n] = '\0';
	q->argoff[q->nargs] = q->nbytes;
	q->arglen[q->nargs] = n;
	q->nargs++;
	q->nbytes += n + 1;
}

void mm_rcmds_arg(struct mm_rcmds *q, const char *s)
{
	mm_rcmds_argn(q, s, strlen(s));
}

void mm_rcmds_argf(struct mm_rcmds *q, const char *fmt, ...)
{
	va_list ap;
	char buf[256], *s = NULL;
	int n;

	/* Most arguments fit on the stack: no allocation for each. */
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(buf)) {
		mm_rcmds_argn(q, buf, (size_t)n);
		return;
	}
	va_start(ap, fmt);
	if (n < 0 || vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (!s)
		s = mm_xstrdup("");
	mm_rcmds_arg(q, s);
	free(s);
}

void mm_rcmds_add(struct mm_rcmds *q, const char *arg0, ...)
{
	const char *a;
	va_list ap;

	mm_rcmds_begin(q);
	va_start(ap, arg0);
	for (a = arg0; a; a = va_arg(ap, const char *))
		mm_rcmds_arg(q, a);
	va_end(ap);
}

static size_t cmd_argc(const struct mm_rcmds *q, size_t i)
{
	size_t end = i + 1 < q->ncmds ? q->cmdfirst[i + 1] : q->nargs;

	return end - q->cmdfirst[i];
}

static int needs_quotes(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return 1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c >= 0x7f || c == '"' || c == '\'' || c == '\\')
			return 1;
	}
	return 0;
}

/* A byte written as itself inside double quotes. */
static int plain_in_quotes(unsigned char c)
{
	return c >= ' ' && c != 0x7f && c != '"' && c != '\\';
}

static void render_arg(FILE *f, const char *s, size_t n)
{
	size_t i;

	if (!needs_quotes(s, n)) {
		fwrite(s, 1, n, f);
		return;
	}
	putc('"', f);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t run = 0;

		/* Bytes that need no escape go out in runs, not one putc each. */
		while (i + run < n && plain_in_quotes((unsigned char)s[i + run]))
			run++;
		if (run) {
			fwrite(s + i, 1, run, f);
			i += run - 1;
			continue;
		}
		switch (c) {
		case '\\': fputs("\\\\", f); break;
		case '"': fputs("\\\"", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (c < ' ' || c == 0x7f)
				fprintf(f, "\\x%02x", c);
			else
				putc(c, f);
		}
	}
	putc('"', f);
}

int mm_rcmds_render(const struct mm_rcmds *q, FILE *f)
{
	size_t i, j;

	for (i = 0; i < q->ncmds; i++) {
		size_t first = q->cmdfirst[i], n = cmd_argc(q, i);

		for (j = 0; j < n; j++) {
			if (j)
				putc(' ', f);
			render_arg(f, arg_bytes(q, first + j), q->arglen[first + j]);
		}
		putc('\n', f);
	}
	return ferror(f) ? -1 : 0;
}

void mm_redis_replies_free(redisReply **replies, size_t n)
{
	size_t i;

	if (!replies)
		return;
	for (i = 0; i < n; i++)
		if (replies[i])
			freeReplyObject(replies[i]);
	free(replies);
}

/*
 * The commands go out through a buffer of SEND_CHUNK bytes, each formatted
 * by hiredis on its own: building the whole pipeline in one buffer first
 * would cost a copy of it in fresh memory.  A chunk at a time, the server
 * starts reading the first commands while later ones are formatted.
 */
#define SEND_CHUNK 65536

struct sender {
	struct mm_rconn *c;
	char *buf;
	size_t len;
};

static int send_flush(struct sender *s)
{
	if (!s->len)
		return 0;
	if (mm_rconn_write(s->c, s->buf, s->len) < 0)
		return -1;
	s->len = 0;
	return 0;
}

/* One formatted command: into the buffer, or straight out when it is large. */
static int send_put(struct sender *s, const char *p, size_t n)
{
	if (s->len + n > SEND_CHUNK && send_flush(s) < 0)
		return -1;
	if (n > SEND_CHUNK)
		return mm_rconn_write(s->c, p, n);
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	return 0;
}

/* Every command of q, formatted by hiredis. */
static int send_cmds(struct mm_redis *r, const struct mm_rcmds *q)
{
	struct sender s = { r->c, mm_xmalloc(SEND_CHUNK), 0 };
	const char **argv = NULL;
	size_t i, j, cap = 0;
	int rc = 0;

	for (i = 0; i < q->ncmds && !rc; i++) {
		size_t first = q->cmdfirst[i], n = cmd_argc(q, i);
		char *cmd = NULL;
		long long len;

		if (n > cap) {
			cap = n * 2;
			argv = mm_xrealloc(argv, cap * sizeof(*argv));
		}
		for (j = 0; j < n; j++)
			argv[j] = arg_bytes(q, first + j);
		len = redisFormatCommandArgv(&cmd, (int)n, argv, q->arglen + first);
		if (len < 0 || !cmd)
			mm_oom(0);
		rc = send_put(&s, cmd, (size_t)len);
		redisFreeCommand(cmd);
	}
	if (!rc)
		rc = send_flush(&s);
	free(argv);
	free(s.buf);
	return rc;
}

/*
 * Send q, then read the replies owed by mm_redis_send() and q's own: q's
 * into *all, or only the very last into *last.  Every reply is checked;
 * one not kept is freed as it comes.
 */
static int pipeline(struct mm_redis *r, const struct mm_rcmds *q, redisReply ***all,
		    redisReply **last, struct mm_err *err)
{
	redisReply **reps = NULL, *kept = NULL;
	size_t i, skip, total;
	int rc = 0;

	if (!r->c)
		return mm_error(err, MM_EUNAVAIL, "redis %s: not connected", r->addr);
	if (send_cmds(r, q) < 0)
		return io_error(r, err);
	skip = r->unread;
	total = skip + q->ncmds;
	r->unread = 0;
	if (all)
		reps = mm_xcalloc(q->ncmds ? q->ncmds : 1, sizeof(*reps));
	for (i = 0; i < total; i++) {
		redisReply *p = NULL;

		if (mm_rconn_read(r->c, &p) < 0) {
			mm_redis_replies_free(reps, i > skip ? i - skip : 0);
			return io_error(r, err);
		}
		if (!rc && check_reply(p, err))
			rc = MM_EFAIL;
		if (all && i >= skip)
			reps[i - skip] = p;
		else if (!all && i + 1 == total)
			kept = p;
		else
			freeReplyObject(p);
	}
	if (rc) {
		mm_redis_replies_free(reps, q->ncmds);
		if (kept)
			freeReplyObject(kept);
		return err ? err->code : rc;
	}
	if (all)
		*all = reps;
	else
		*last = kept;
	return 0;
}

/* Read the replies still owed to mm_redis_send(). */
static int drain(struct mm_redis *r, struct mm_err *err)
{
	struct mm_rcmds none = { 0 };
	redisReply *last = NULL;
	int rc = pipeline(r, &none, NULL, &last, err);

	if (last)
		freeReplyObject(last);
	return rc;
}

int mm_redis_send(struct mm_redis *r, const struct mm_rcmds *q, struct mm_err *err)
{
	if (!r->c)
		return mm_error(err, MM_EUNAVAIL, "redis %s: not connected", r->addr);
	if (send_cmds(r, q) < 0)
		return io_error(r, err);
	r->unread += q->ncmds;
	return 0;
}

int mm_redis_pipeline(struct mm_redis *r, const struct mm_rcmds *q,
		      redisReply ***replies, struct mm_err *err)
{
	*replies = NULL;
	return pipeline(r, q, replies, NULL, err);
}

int mm_redis_pipeline_last(struct mm_redis *r, const struct mm_rcmds *q,
			   redisReply **reply, struct mm_err *err)
{
	*reply = NULL;
	return pipeline(r, q, NULL, reply, err);
}
