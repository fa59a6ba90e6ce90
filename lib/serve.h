/*
 * serve.h — mm-serve: this machine's verified model files, read-only, over
 * HTTP, for fleet peers (libmicrohttpd).
 *
 * What is served.  Exactly one kind of URL: GET or HEAD of
 * /sha256/<64 lowercase hex digits>, with an optional single byte Range.
 * Everything else is refused: another method 405 (with Allow: GET, HEAD),
 * another path 404 (uppercase hex included: one spelling per file), two or
 * more ranges or a range that is malformed or lies past the end 416.  There
 * is no listing and no way to name a path.
 *
 * Which files.  An index maps each sha256 to the model files under
 * MM_ROOT/models (scan.h) whose verified-cache record (vcache.h) gives that
 * digest; it is rebuilt by mm_server_refresh().  Nothing is hashed here: a
 * file no mm-verify or mm-fetch proved is not served.  At every request the
 * file is opened again beneath MM_ROOT (openat2 RESOLVE_BENEATH, a symlink
 * that leaves MM_ROOT refused, and O_NOFOLLOW on the file itself), fstat()ed,
 * and looked up in the verified cache once more: a file changed since it was
 * verified (size, mtime, ctime, inode) no longer matches its record and is
 * 404.  Bytes changed while they are being sent cannot be caught here; the
 * peer proves every byte by the hash anyway.
 *
 * Limits.  max_conns (MHD_OPTION_CONNECTION_LIMIT) and per_client
 * (MHD_OPTION_PER_IP_CONNECTION_LIMIT): a connection past either is accepted
 * and closed at once, so idle connections cost no more than those limits;
 * timeout (MHD_OPTION_CONNECTION_TIMEOUT) closes an idle one.  rate caps the
 * bytes per second of all response bodies together.  libmicrohttpd has no
 * rate limit of its own: without a rate the body is sent with sendfile(2)
 * (MHD_create_response_from_fd_at_offset64); with one it is read by a
 * content-reader callback that takes its bytes from a shared token bucket
 * and, when the bucket is empty, suspends the connection until a pacing
 * thread (10 ms ticks) refills it.
 *
 * Token.  When token is set, every request must carry
 * "Authorization: Bearer <token>", or it gets 401; the comparison is of the
 * two strings' SHA-256 digests with CRYPTO_memcmp, in constant time.  The
 * token never reaches an event or a log.
 *
 * Ownership: mm_server_start() returns a server the caller stops with
 * mm_server_stop(); the options' strings are copied.
 */
#ifndef MM_SERVE_H
#define MM_SERVE_H

#include <stddef.h>
#include <stdint.h>

#include "mm.h"
#include "redis.h"

#define MM_SERVE_DEFAULT_LISTEN "0.0.0.0:8190"
#define MM_SERVE_DEFAULT_CONNS 64
#define MM_SERVE_DEFAULT_PER_CLIENT 4
#define MM_SERVE_DEFAULT_TIMEOUT 30
/* The field of machine:<id>:models (inventory.h) that holds the serving URL. */
#define MM_SERVE_FIELD "serve_url"

/* One answered request, for the command's access log. */
struct mm_serve_event {
	const char *client;   /* "127.0.0.1" */
	const char *method;   /* as the client sent it (untrusted) */
	const char *url;      /* decoded path, as the client sent it (untrusted) */
	int status;
	uint64_t bytes;       /* body length sent for it (0 for HEAD) */
};

struct mm_serve_opts {
	const char *root;         /* MM_ROOT */
	const char *state_dir;    /* MM_STATE_DIR */
	const char *listen;       /* "ADDR:PORT", "[ADDR6]:PORT"; port 0 picks one */
	long long rate;           /* bytes per second for all bodies; 0: no limit */
	unsigned max_conns, per_client, timeout;
	const char *token;        /* or NULL */
	void (*on_event)(void *cls, const struct mm_serve_event *ev);
	void *cls;
};

struct mm_server;

/*
 * Parse "ADDR:PORT" (numeric addresses only, IPv6 in brackets, port 0 to
 * 65535).  Returns 0, or MM_EUSAGE with a message naming s.
 */
int mm_serve_parse_listen(const char *s, char *host, size_t hostsz, int *port,
	struct mm_err *err);

/*
 * Bind, build the first index and start serving.  MM_EUSAGE for a bad
 * address or an MM_ROOT that cannot be opened, MM_EUNAVAIL when the address
 * cannot be bound.  A state directory that cannot be opened is not an
 * error: nothing is served until mm_server_refresh() finds it.
 */
int mm_server_start(const struct mm_serve_opts *o, struct mm_server **out, struct mm_err *err);

/* "ADDR:PORT" as bound (the real port when 0 was asked for); IPv6 in brackets. */
const char *mm_server_address(const struct mm_server *s);

/* 1 when bound to the any-address (0.0.0.0 or ::). */
int mm_server_wildcard(const struct mm_server *s);

/*
 * Rescan MM_ROOT/models and reload the verified cache; the new index
 * replaces the old at once.  *files (may be NULL) gets the number of files
 * indexed.  An error (err set) leaves the old index in place.
 */
int mm_server_refresh(struct mm_server *s, size_t *files, struct mm_err *err);

void mm_server_stop(struct mm_server *s);

/*
 * Range header value h for a body of size bytes: 0 when it is absent or not
 * a bytes range (send it all), 1 with *off and *len set for one satisfiable
 * range, -1 when it must be refused with 416 (malformed, several ranges,
 * or nothing of it inside the body).
 */
int mm_serve_range(const char *h, uint64_t size, uint64_t *off, uint64_t *len);

/* 1 when path is "/sha256/" and 64 lowercase hex digits (copied to hex). */
int mm_serve_path(const char *path, char hex[65]);

/*
 * Advertise url as machine_id's serving URL (HSET machine:<id>:models
 * serve_url) / withdraw it (HDEL, only while it is still url).
 */
int mm_serve_advertise(struct mm_redis *r, const char *machine_id, const char *url,
	struct mm_err *err);
int mm_serve_withdraw(struct mm_redis *r, const char *machine_id, const char *url,
	struct mm_err *err);

#endif
