/* rconn.c — a Redis connection mm owns: socket, TLS, hiredis's reader. */
#include "rconn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct mm_rtls {
	SSL_CTX *ctx;
	int has_cert;
};

struct mm_rconn {
	int fd;
	SSL *ssl;
	redisReader *reader;
	double io_timeout;
	int failed;
	int client_cert;  /* a client certificate was offered */
	int refused;      /* the server sent a fatal TLS alert */
	int answered;     /* something was read since the handshake */
	char desc[32];
	char errstr[256];
	char buf[16384];
};

/* The reason of OpenSSL's oldest queued error, or fallback; empties the queue. */
static const char *ssl_reason(const char *fallback)
{
	unsigned long e = ERR_get_error();
	const char *s = e ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return s ? s : fallback;
}

/* A PEM pass phrase is never asked for on the terminal: an encrypted key is refused. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf; (void)size; (void)rwflag; (void)u;
	return 0;
}

/* A readable regular file, or MM_EUSAGE naming the variable. */
static int check_file(const char *var, const char *path, struct mm_err *err)
{
	struct stat st;
	int fd;

	if (!*path)
		return mm_error(err, MM_EUSAGE, "%s is set but empty", var);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return mm_error(err, MM_EUSAGE, "%s: cannot read %s: %s", var, path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return mm_error(err, MM_EUSAGE, "%s: %s is not a file", var, path);
	}
	close(fd);
	return 0;
}

int mm_rtls_new(const struct mm_rtls_files *f, struct mm_rtls **out, struct mm_err *err)
{
	struct mm_rtls *t;
	int rc = 0;

	*out = NULL;
	if (f->ca_file && (rc = check_file("REDIS_CA_CERT", f->ca_file, err)))
		return rc;
	if (f->cert_file && !f->key_file)
		return mm_error(err, MM_EUSAGE, "REDIS_CLIENT_CERT is set without REDIS_CLIENT_KEY");
	if (f->key_file && !f->cert_file)
		return mm_error(err, MM_EUSAGE, "REDIS_CLIENT_KEY is set without REDIS_CLIENT_CERT");
	if (f->cert_file && ((rc = check_file("REDIS_CLIENT_CERT", f->cert_file, err)) ||
			     (rc = check_file("REDIS_CLIENT_KEY", f->key_file, err))))
		return rc;
	ERR_clear_error();
	t = mm_xcalloc(1, sizeof(*t));
	t->ctx = SSL_CTX_new(TLS_client_method());
	if (!t->ctx) {
		free(t);
		return mm_error(err, MM_EUSAGE, "TLS: cannot set up OpenSSL: %s", ssl_reason("unknown error"));
	}
	SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
	SSL_CTX_set_default_passwd_cb(t->ctx, no_passphrase);
	if (f->ca_file) {
		if (SSL_CTX_load_verify_locations(t->ctx, f->ca_file, NULL) != 1)
			rc = mm_error(err, MM_EUSAGE, "REDIS_CA_CERT: no usable CA certificate in %s: %s",
				      f->ca_file, ssl_reason("not PEM"));
	} else if (SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
		rc = mm_error(err, MM_EUSAGE, "TLS: cannot load the system's CA certificates: %s",
			      ssl_reason("unknown error"));
	}
	if (!rc && f->cert_file) {
		if (SSL_CTX_use_certificate_chain_file(t->ctx, f->cert_file) != 1)
			rc = mm_error(err, MM_EUSAGE, "REDIS_CLIENT_CERT: no usable certificate in %s: %s",
				      f->cert_file, ssl_reason("not PEM"));
		else if (SSL_CTX_use_PrivateKey_file(t->ctx, f->key_file, SSL_FILETYPE_PEM) != 1 &&
			 ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH)
			rc = mm_error(err, MM_EUSAGE,
				      "REDIS_CLIENT_KEY: no usable private key in %s (PEM, not encrypted): %s",
				      f->key_file, ssl_reason("not PEM"));
		else if (SSL_CTX_check_private_key(t->ctx) != 1)
			rc = mm_error(err, MM_EUSAGE, "REDIS_CLIENT_KEY %s is not the key of REDIS_CLIENT_CERT %s",
				      f->key_file, f->cert_file);
		t->has_cert = 1;
	}
	ERR_clear_error();
	if (rc) {
		mm_rtls_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

void mm_rtls_free(struct mm_rtls *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

static int fail(struct mm_rconn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct mm_rconn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->errstr, sizeof(c->errstr), fmt, ap);
	va_end(ap);
	c->failed = 1;
	return -1;
}

/* Milliseconds left until deadline, at least 0, for poll(). */
static int ms_left(double deadline)
{
	double left = deadline - mm_now();

	if (left <= 0)
		return 0;
	if (left > INT_MAX / 1000 - 1)
		return INT_MAX - 1000;
	return (int)(left * 1000) + 1;
}

/* Wait until fd is ready for ev or deadline passes: 1 ready, 0 timed out, -1 error. */
static int wait_ready(int fd, short ev, double deadline)
{
	for (;;) {
		struct pollfd p = { fd, ev, 0 };
		int n = poll(&p, 1, ms_left(deadline));

		if (n > 0)
			return 1;
		if (n == 0)
			return mm_now() >= deadline ? 0 : 1;
		if (errno != EINTR)
			return -1;
	}
}

/* Wait for a read or write to be possible within the command timeout. */
static int io_wait(struct mm_rconn *c, short ev)
{
	int w = wait_ready(c->fd, ev, mm_now() + c->io_timeout);

	if (w > 0)
		return 0;
	if (w == 0)
		return fail(c, "no answer within %g s (MM_REDIS_TIMEOUT)", c->io_timeout);
	return fail(c, "%s", strerror(errno));
}

/*
 * A non-blocking connect to one address within the deadline; the socket or
 * -1 with why filled.
 */
static int connect_addr(const struct sockaddr *sa, socklen_t len, double deadline,
			char *why, size_t whylen)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int e = 0, w;
	socklen_t el = sizeof(e);

	if (fd < 0) {
		snprintf(why, whylen, "%s", strerror(errno));
		return -1;
	}
	if (connect(fd, sa, len) == 0)
		return fd;
	if (errno != EINPROGRESS && errno != EAGAIN && errno != EINTR) {
		snprintf(why, whylen, "%s", strerror(errno));
		close(fd);
		return -1;
	}
	w = wait_ready(fd, POLLOUT, deadline);
	if (w == 0) {
		snprintf(why, whylen, "connect timed out (MM_REDIS_CONNECT_TIMEOUT)");
		close(fd);
		return -1;
	}
	if (w < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
		e = errno;
	if (e) {
		snprintf(why, whylen, "%s", strerror(e));
		close(fd);
		return -1;
	}
	return fd;
}

static int connect_unix(const char *path, double deadline, char *why, size_t whylen)
{
	struct sockaddr_un sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(why, whylen, "the socket path is longer than %zu bytes", sizeof(sun.sun_path) - 1);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	return connect_addr((const struct sockaddr *)&sun, sizeof(sun), deadline, why, whylen);
}

/* Every address of host in turn, as hiredis does. */
static int connect_tcp(const char *host, int port, double deadline, char *why, size_t whylen)
{
	struct addrinfo hints, *res = NULL, *ai;
	char ps[16];
	int fd = -1, g;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(ps, sizeof(ps), "%d", port);
	g = getaddrinfo(host, ps, &hints, &res);
	if (g) {
		snprintf(why, whylen, "cannot resolve the host name: %s",
			 g == EAI_SYSTEM ? strerror(errno) : gai_strerror(g));
		return -1;
	}
	for (ai = res; ai && fd < 0; ai = ai->ai_next)
		fd = connect_addr(ai->ai_addr, ai->ai_addrlen, deadline, why, whylen);
	freeaddrinfo(res);
	if (fd >= 0) {
		int one = 1;

		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	return fd;
}

static int is_ip_literal(const char *host)
{
	unsigned char a[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

/*
 * Why OpenSSL failed, in words: a certificate the client refused is said
 * with OpenSSL's own reason ("certificate has expired", "hostname
 * mismatch", "unable to get local issuer certificate").
 */
static int tls_fail(struct mm_rconn *c, int ret, const char *what)
{
	int e = SSL_get_error(c->ssl, ret);
	unsigned long q = ERR_peek_error();

	if (e == SSL_ERROR_ZERO_RETURN ||
	    (e == SSL_ERROR_SYSCALL && !q && (ret == 0 || errno == 0)) ||
	    (q && ERR_GET_REASON(q) == SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
		ERR_clear_error();
		return fail(c, "server closed the connection%s", what);
	}
	if (e == SSL_ERROR_SYSCALL && !q) {
		/*
		 * With TLS 1.3 a server that refuses the client certificate
		 * closes after the handshake, and the reset can overtake its
		 * alert.
		 */
		if (!c->answered && !*what && (errno == ECONNRESET || errno == EPIPE))
			return fail(c, "%s right after the TLS handshake: %s", strerror(errno),
				    c->client_cert ? "the server may have refused the client certificate (REDIS_CLIENT_CERT)"
						   : "the server may require a client certificate (REDIS_CLIENT_CERT, REDIS_CLIENT_KEY)");
		return fail(c, "%s%s", strerror(errno), what);
	}
	if (q && ERR_GET_LIB(q) == ERR_LIB_SSL && ERR_GET_REASON(q) >= SSL_AD_REASON_OFFSET)
		c->refused = 1;
	if (q && ERR_GET_REASON(q) == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED && !c->client_cert) {
		ERR_clear_error();
		return fail(c, "TLS: the server requires a client certificate: set REDIS_CLIENT_CERT and REDIS_CLIENT_KEY");
	}
	return fail(c, "TLS: %s%s", ssl_reason("error"), what);
}

/* The TLS session over c->fd; -1 with *refused set when the certificate is bad. */
static int tls_start(struct mm_rconn *c, struct mm_rtls *t, const char *host, double deadline,
		     int *refused)
{
	ERR_clear_error();
	c->ssl = SSL_new(t->ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1)
		return fail(c, "TLS: %s", ssl_reason("cannot make a session"));
	c->client_cert = t->has_cert;
	SSL_set_hostflags(c->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (is_ip_literal(host)) {
		/* RFC 6066: no SNI for an address; the certificate must name the address. */
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), host) != 1)
			return fail(c, "TLS: cannot check the address %s", host);
	} else if (SSL_set_tlsext_host_name(c->ssl, host) != 1 || SSL_set1_host(c->ssl, host) != 1) {
		return fail(c, "TLS: cannot use the host name %s", host);
	}
	for (;;) {
		int ret, e, w;

		ERR_clear_error();
		ret = SSL_connect(c->ssl);
		if (ret == 1)
			break;
		e = SSL_get_error(c->ssl, ret);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			long v = SSL_get_verify_result(c->ssl);

			if (v != X509_V_OK) {
				*refused = 1;
				ERR_clear_error();
				if (v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH)
					return fail(c, "TLS: the server's certificate was refused: host name mismatch "
						    "(%s): the certificate is not for %s",
						    X509_verify_cert_error_string(v), host);
				return fail(c, "TLS: the server's certificate was refused: %s%s",
					    X509_verify_cert_error_string(v),
					    v == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
					    v == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
					    v == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ?
					    " (unable to verify it against REDIS_CA_CERT or the system's CA certificates)" : "");
			}
			if (ERR_GET_REASON(ERR_peek_error()) == SSL_R_WRONG_VERSION_NUMBER ||
			    ERR_GET_REASON(ERR_peek_error()) == SSL_R_PACKET_LENGTH_TOO_LONG) {
				ERR_clear_error();
				return fail(c, "TLS handshake failed: the server does not speak TLS on this port");
			}
			tls_fail(c, ret, " during the TLS handshake");
			*refused = c->refused;
			return -1;
		}
		w = wait_ready(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
		if (w == 0)
			return fail(c, "TLS handshake timed out (MM_REDIS_CONNECT_TIMEOUT)");
		if (w < 0)
			return fail(c, "%s", strerror(errno));
	}
	snprintf(c->desc, sizeof(c->desc), "%s", SSL_get_version(c->ssl));
	return 0;
}

int mm_rconn_open(const char *host, int port, const char *path, struct mm_rtls *tls,
		  double connect_timeout, double io_timeout, struct mm_rconn **out,
		  int *permanent, struct mm_err *err)
{
	double deadline = mm_now() + connect_timeout;
	struct mm_rconn *c;
	char why[256];

	*out = NULL;
	*permanent = 0;
	c = mm_xcalloc(1, sizeof(*c));
	c->io_timeout = io_timeout;
	snprintf(c->desc, sizeof(c->desc), "plain");
	c->fd = path ? connect_unix(path, deadline, why, sizeof(why))
		     : connect_tcp(host, port, deadline, why, sizeof(why));
	if (c->fd < 0) {
		free(c);
		return mm_error(err, MM_EUNAVAIL, "%s", why);
	}
	if (tls && tls_start(c, tls, host, deadline, permanent) < 0) {
		mm_error(err, MM_EUNAVAIL, "%s", c->errstr);
		mm_rconn_close(c);
		return MM_EUNAVAIL;
	}
	c->reader = redisReaderCreate();
	if (!c->reader)
		mm_oom(0);
	*out = c;
	return 0;
}

/*
 * After an SSL_read() or SSL_write() that returned ret <= 0: wait for what
 * OpenSSL wants (a renegotiation may read while writing, or write while
 * reading) and return 0 to call it again, or fail the connection: -1.
 */
static int tls_wait(struct mm_rconn *c, int ret)
{
	int e = SSL_get_error(c->ssl, ret);

	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return io_wait(c, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT) < 0 ? -1 : 0;
	return tls_fail(c, ret, "");
}

/*
 * After a send() or recv() that failed: an interruption or a full (empty)
 * socket waits for ev and returns 0 to try again; anything else fails the
 * connection: -1.
 */
static int sock_wait(struct mm_rconn *c, short ev)
{
	if (errno == EINTR)
		return 0;
	if (errno != EAGAIN && errno != EWOULDBLOCK)
		return fail(c, "%s", strerror(errno));
	return io_wait(c, ev) < 0 ? -1 : 0;
}

int mm_rconn_write(struct mm_rconn *c, const char *buf, size_t n)
{
	if (c->failed)
		return -1;
	while (n) {
		size_t k = n > INT_MAX ? INT_MAX : n;

		if (c->ssl) {
			int ret;

			ERR_clear_error();
			ret = SSL_write(c->ssl, buf, (int)k);
			if (ret > 0) {
				buf += ret;
				n -= (size_t)ret;
			} else if (tls_wait(c, ret) < 0) {
				return -1;
			}
		} else {
			ssize_t w = send(c->fd, buf, k, MSG_NOSIGNAL);

			if (w >= 0) {
				buf += w;
				n -= (size_t)w;
			} else if (sock_wait(c, POLLOUT) < 0) {
				return -1;
			}
		}
	}
	return 0;
}

int mm_rconn_command(struct mm_rconn *c, int argc, const char **argv, const size_t *lens)
{
	char *cmd = NULL;
	long long len = redisFormatCommandArgv(&cmd, argc, argv, lens);
	int rc;

	if (len < 0 || !cmd)
		mm_oom(0);
	rc = mm_rconn_write(c, cmd, (size_t)len);
	redisFreeCommand(cmd);
	return rc;
}

/* Read what the server sent into the reader: 0, or -1 (closed, error, timeout). */
static int fill(struct mm_rconn *c)
{
	for (;;) {
		ssize_t got;

		if (c->ssl) {
			int ret;

			ERR_clear_error();
			ret = SSL_read(c->ssl, c->buf, (int)sizeof(c->buf));
			if (ret <= 0) {
				if (tls_wait(c, ret) < 0)
					return -1;
				continue;
			}
			got = ret;
			c->answered = 1;
		} else {
			got = recv(c->fd, c->buf, sizeof(c->buf), 0);
			if (got == 0)
				return fail(c, "server closed the connection");
			if (got < 0) {
				if (sock_wait(c, POLLIN) < 0)
					return -1;
				continue;
			}
		}
		if (redisReaderFeed(c->reader, c->buf, (size_t)got) != REDIS_OK)
			return fail(c, "%s", c->reader->errstr[0] ? c->reader->errstr : "out of memory");
		return 0;
	}
}

int mm_rconn_read(struct mm_rconn *c, redisReply **reply)
{
	*reply = NULL;
	if (c->failed)
		return -1;
	for (;;) {
		void *p = NULL;

		if (redisReaderGetReply(c->reader, &p) != REDIS_OK)
			return fail(c, "bad reply from the server: %s", c->reader->errstr);
		if (p) {
			*reply = p;
			return 0;
		}
		if (fill(c) < 0)
			return -1;
	}
}

const char *mm_rconn_error(const struct mm_rconn *c)
{
	return c->errstr;
}

int mm_rconn_refused(const struct mm_rconn *c)
{
	return c->refused;
}

int mm_rconn_ok(const struct mm_rconn *c)
{
	return !c->failed;
}

const char *mm_rconn_describe(const struct mm_rconn *c)
{
	return c->desc;
}

void mm_rconn_sndbuf(struct mm_rconn *c, int n)
{
	(void)setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &n, sizeof(n));
}

void mm_rconn_close(struct mm_rconn *c)
{
	if (!c)
		return;
	if (c->ssl) {
		/* A close_notify when it can go without waiting; nothing is read back. */
		if (!c->failed) {
			ERR_clear_error();
			(void)SSL_shutdown(c->ssl);
		}
		SSL_free(c->ssl);
		ERR_clear_error();
	}
	if (c->fd >= 0)
		close(c->fd);
	if (c->reader)
		redisReaderFree(c->reader);
	free(c);
}
