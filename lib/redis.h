/*
 * redis.h — REDIS_URL parsing, connecting with timeouts, TLS, AUTH and
 * SELECT, single commands and pipelines.  The connection is mm's own (see
 * rconn.h): hiredis, 0.14 or 1.x, only formats commands and parses replies.
 *
 * Ownership: every `struct mm_redis_url`, `struct mm_redis` and
 * `struct mm_rcmds` belongs to the caller, who releases it with the matching
 * *_free()/mm_redis_close().  Replies handed out (redisReply *) belong to the
 * caller and are released with freeReplyObject(); arrays of replies from
 * mm_redis_pipeline() with mm_redis_replies_free().
 *
 * Errors follow mm.h: MM_EUNAVAIL when the server cannot be reached or the
 * connection broke (the context is thrown away; mm_redis_reconnect() makes a
 * new one), MM_EUSAGE for a bad URL, refused credentials or an error reply
 * about rights (NOPERM, NOAUTH, WRONGPASS), MM_EFAIL for any other error
 * reply (the message is then the server's own, e.g. "WRONGTYPE ...").
 *
 * OpenSSL writes to sockets with write(2): a program using this should
 * ignore SIGPIPE, or a TLS server that goes away kills it.
 *
 * The password is registered with mm_log_secret() as soon as it is parsed,
 * is never part of a message, and is wiped before it is freed.
 */
#ifndef MM_REDIS_H
#define MM_REDIS_H

#include <stddef.h>
#include <stdio.h>

#include <hiredis/hiredis.h>

#include "mm.h"

#define MM_REDIS_DEFAULT_URL "redis://127.0.0.1:6379/0"

struct mm_redis_url {
	int is_unix;     /* unix:///path */
	int tls;         /* rediss:// */
	char *host;      /* TCP host, without IPv6 brackets */
	int port;
	char *path;      /* socket path for unix:// */
	char *user;      /* ACL user, or NULL */
	char *password;  /* or NULL */
	long db;
};

/*
 * Parse url (NULL or "" means MM_REDIS_DEFAULT_URL) into *u:
 *   redis://[[user]:password@]host[:port][/db][?db=N]
 *   rediss://…   (TLS; see mm_redis_opts for the certificates)
 *   unix://[[user]:password@]/path[?db=N]
 * IPv6 hosts go in brackets; user and password are percent-decoded.  The
 * userinfo ends at the last '@' (unix://: the last '@', which a '/' must
 * follow), so a password may hold '/', '?', '#', ':' and '@' unencoded.
 * On error *u is left empty and MM_EUSAGE is returned; the message never
 * quotes the password, host, port or database.
 */
int mm_redis_url_parse(const char *url, struct mm_redis_url *u, struct mm_err *err);
void mm_redis_url_free(struct mm_redis_url *u);

/* The address for messages, never with the password ("redis://user@h:6379/0"). */
char *mm_redis_url_display(const struct mm_redis_url *u);

struct mm_redis_opts {
	double connect_timeout;  /* seconds per connect attempt */
	double command_timeout;  /* seconds a reply may take */
	double retry_for;        /* total seconds of connect retries; 0 = one try */
	/* rediss:// only; borrowed.  NULL: not set. */
	const char *ca_cert;      /* PEM CA file; NULL: the system's CA store */
	const char *client_cert;  /* PEM client certificate, with client_key */
	const char *client_key;
};

/*
 * Defaults (5 s, 30 s, 10 s), overridden by MM_REDIS_CONNECT_TIMEOUT,
 * MM_REDIS_TIMEOUT and MM_REDIS_RETRY_SECONDS; a malformed value is MM_EUSAGE.
 * The TLS files come from REDIS_CA_CERT, REDIS_CLIENT_CERT and
 * REDIS_CLIENT_KEY (checked when a rediss:// connection is first made).
 */
int mm_redis_opts_from_env(struct mm_redis_opts *o, struct mm_err *err);

struct mm_redis;

/*
 * Parse url and connect, AUTH and SELECT.  Connection failures are retried
 * with exponential backoff (0.1 s doubling to 2 s) for o->retry_for seconds,
 * then MM_EUNAVAIL naming the address.  Refused credentials, and TLS files
 * that cannot be used, are MM_EUSAGE at once.  A server certificate that
 * fails verification (unknown issuer, expired, not for the host) or a TLS
 * alert from the server (a client certificate wanted or refused) is
 * MM_EUNAVAIL at once, without retries, saying which.  On success *out is
 * a connection; on failure *out is NULL.
 */
int mm_redis_connect(const char *url, const struct mm_redis_opts *o,
		     struct mm_redis **out, struct mm_err *err);

/* Throw away the current context (if any) and connect again, with retries. */
int mm_redis_reconnect(struct mm_redis *r, struct mm_err *err);

/* 1 while the connection is usable (no I/O error since it was made). */
int mm_redis_connected(const struct mm_redis *r);

/* The address, without password, for messages; borrowed. */
const char *mm_redis_address(const struct mm_redis *r);

void mm_redis_close(struct mm_redis *r);

/*
 * Send one command given as NULL-terminated string arguments and wait for the
 * reply.  An error reply is MM_EFAIL (message: the server's error); on
 * success *reply (which may be REDIS_REPLY_NIL) is the caller's.
 */
int mm_redis_cmd(struct mm_redis *r, redisReply **reply, struct mm_err *err,
		 const char *arg0, ...) __attribute__((sentinel));

/* The same with counted arguments (binary safe). */
int mm_redis_cmdv(struct mm_redis *r, int argc, const char **argv,
		  const size_t *lens, redisReply **reply, struct mm_err *err);

/*
 * A list of commands, built in memory, then either sent as one pipeline
 * (mm_redis_pipeline) or rendered as text.
 */
struct mm_rcmds;

struct mm_rcmds *mm_rcmds_new(void);
void mm_rcmds_free(struct mm_rcmds *q);
size_t mm_rcmds_count(const struct mm_rcmds *q);

/* Append a command from NULL-terminated strings. */
void mm_rcmds_add(struct mm_rcmds *q, const char *arg0, ...) __attribute__((sentinel));

/* Build a command argument by argument: begin, then arg/argn/argf. */
void mm_rcmds_begin(struct mm_rcmds *q);
void mm_rcmds_arg(struct mm_rcmds *q, const char *s);
void mm_rcmds_argn(struct mm_rcmds *q, const char *s, size_t n);
/* An argument handed over, not copied: q frees s (from malloc) when freed. */
void mm_rcmds_argown(struct mm_rcmds *q, char *s, size_t n);
void mm_rcmds_argf(struct mm_rcmds *q, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Write the commands to f one a line, as they would be typed into
 * redis-cli: an argument with spaces, quotes or unprintable bytes is
 * double-quoted with backslash escapes.  Returns 0 or -1 on a write error.
 */
int mm_rcmds_render(const struct mm_rcmds *q, FILE *f);

/*
 * Send every command of q, then read every reply.  *replies
 * gets an array of mm_rcmds_count(q) replies (caller frees with
 * mm_redis_replies_free).  Any error reply — including one inside an EXEC
 * answer — makes the call fail with MM_EFAIL and the first error's text,
 * and *replies is then NULL.
 */
int mm_redis_pipeline(struct mm_redis *r, const struct mm_rcmds *q,
		      redisReply ***replies, struct mm_err *err);

/*
 * The same, keeping only the last reply (a MULTI/EXEC's answer) in *reply;
 * the others are checked as they arrive and freed.
 */
int mm_redis_pipeline_last(struct mm_redis *r, const struct mm_rcmds *q,
			   redisReply **reply, struct mm_err *err);

/*
 * Send q and return without reading its replies: the server works on the
 * first commands while the caller builds the rest.  The next call that
 * reads from r reads, checks and drops them first, so an error reply to
 * one of them fails that call.
 */
int mm_redis_send(struct mm_redis *r, const struct mm_rcmds *q, struct mm_err *err);
void mm_redis_replies_free(redisReply **replies, size_t n);

#endif
