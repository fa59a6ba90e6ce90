/*
 * rconn.h — the connection under lib/redis.c: a TCP or unix socket that mm
 * owns, TLS through OpenSSL on it for rediss://, and hiredis's reader to
 * parse what the server sends.  hiredis 0.14 has no TLS, so mm does not let
 * hiredis own the socket for any connection: plain and TLS take this one
 * path, with the same timeouts.
 *
 * Ownership: a `struct mm_rtls` and a `struct mm_rconn` belong to the caller
 * and are released with mm_rtls_free() and mm_rconn_close().  A reply handed
 * out is the caller's (freeReplyObject()).
 *
 * Messages never hold the address (the caller adds it) nor any secret.
 */
#ifndef MM_RCONN_H
#define MM_RCONN_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "mm.h"

/* What TLS needs beyond the URL; a NULL field is not configured. */
struct mm_rtls_files {
	const char *ca_file;    /* PEM CA certificates; NULL: the system store */
	const char *cert_file;  /* PEM client certificate (chain) */
	const char *key_file;   /* its PEM private key */
};

/*
 * The TLS settings shared by every connection of one client: TLS 1.2 or
 * newer, the server's certificate verified against f->ca_file or the system
 * store, and the client certificate when given.  A file that cannot be read
 * or used, or a certificate without its key, is MM_EUSAGE naming the
 * variable (REDIS_CA_CERT, REDIS_CLIENT_CERT, REDIS_CLIENT_KEY).
 */
struct mm_rtls;
int mm_rtls_new(const struct mm_rtls_files *f, struct mm_rtls **out, struct mm_err *err);
void mm_rtls_free(struct mm_rtls *t);

struct mm_rconn;

/*
 * Connect to host:port (path NULL) or to the unix socket path, within
 * connect_timeout seconds, then, when tls is not NULL, make the TLS session
 * with host as the name sent (SNI, not for an IP address) and checked
 * against the certificate (its DNS names or IP addresses).  io_timeout is
 * how long any later read or write may wait.  Returns 0 or MM_EUNAVAIL; on
 * a certificate the client refused (expired, wrong host, unknown issuer)
 * *permanent is set, as trying again cannot help.
 */
int mm_rconn_open(const char *host, int port, const char *path, struct mm_rtls *tls,
		  double connect_timeout, double io_timeout, struct mm_rconn **out,
		  int *permanent, struct mm_err *err);

/* Write all of buf; -1 on an error or a timeout (mm_rconn_error() says which). */
int mm_rconn_write(struct mm_rconn *c, const char *buf, size_t n);

/* Format one command with hiredis and write it; -1 as mm_rconn_write(). */
int mm_rconn_command(struct mm_rconn *c, int argc, const char **argv, const size_t *lens);

/* Read one whole reply into *reply; -1 on an error, a timeout or the end. */
int mm_rconn_read(struct mm_rconn *c, redisReply **reply);

/* Why the last call failed; "" while none has. */
const char *mm_rconn_error(const struct mm_rconn *c);

/*
 * 1 when a call failed because the server ended the TLS session with a
 * fatal alert (it wants a client certificate, or refused the one given):
 * connecting again cannot help.
 */
int mm_rconn_refused(const struct mm_rconn *c);

/* 1 while no call has failed. */
int mm_rconn_ok(const struct mm_rconn *c);

/* "TLS" or "plain", with the protocol version once TLS is up, for debug logs. */
const char *mm_rconn_describe(const struct mm_rconn *c);

/* Ask the kernel for a send buffer of n bytes (unix sockets; see redis.c). */
void mm_rconn_sndbuf(struct mm_rconn *c, int n);

void mm_rconn_close(struct mm_rconn *c);

#endif
