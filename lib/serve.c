/* serve.c — mm-serve's server: the rules are in serve.h. */
#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>

#include "hash.h"
#include "paths.h"
#include "rkeys.h"
#include "scan.h"
#include "state.h"
#include "vcache.h"

/* Bytes a paced body reads at once, at most. */
#define PACE_CHUNK (256 * 1024)
/* The pacing thread's tick. */
#define PACE_TICK_NS 10000000L

struct entry {
	char hex[65];
	char *rel;      /* saveTo, relative to MM_ROOT */
};

struct index {
	struct entry *v;
	size_t n;
	struct mm_vcache *vc;
};

/* A connection waiting for the bucket to fill. */
struct waiter {
	struct MHD_Connection *conn;
	struct waiter *next;
};

struct mm_server {
	char *root, *state_dir, *token_digest;
	char address[80];
	int wildcard;
	int rootfd, lfd;
	struct MHD_Daemon *d;
	void (*on_event)(void *cls, const struct mm_serve_event *ev);
	void *cls;

	pthread_rwlock_t lock;  /* guards idx */
	struct index idx;

	/* The token bucket, when rate > 0. */
	long long rate;
	pthread_mutex_t pace_lock;
	pthread_t pacer;
	int pacing, stopping;
	double tokens, burst;
	struct waiter *waiters;
};

/* One paced body. */
struct body {
	struct mm_server *s;
	struct MHD_Connection *conn;
	int fd;
	uint64_t off;
	struct waiter w;
};

/* ------------------------------------------------------------ small rules */

int mm_serve_path(const char *path, char hex[65])
{
	static const char prefix[] = "/sha256/";
	const char *h;

	if (!path || strncmp(path, prefix, sizeof(prefix) - 1) != 0)
		return 0;
	h = path + sizeof(prefix) - 1;
	if (strlen(h) != 64 || strspn(h, "0123456789abcdef") != 64)
		return 0;
	memcpy(hex, h, 65);
	return 1;
}

/* Digits only, no sign, no overflow; *p moves past them.  -1 when none. */
static int digits(const char **p, uint64_t *out)
{
	uint64_t v = 0;
	const char *s = *p;

	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*p = s;
	*out = v;
	return 0;
}

static const char *skip_ows(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

int mm_serve_range(const char *h, uint64_t size, uint64_t *off, uint64_t *len)
{
	uint64_t a, b;
	const char *p;

	if (!h)
		return 0;
	p = skip_ows(h);
	/* Another unit is ignored (RFC 9110, 14.2): the whole body. */
	if (strncasecmp(p, "bytes", 5) != 0)
		return 0;
	p = skip_ows(p + 5);
	if (*p != '=')
		return 0;
	p = skip_ows(p + 1);
	if (strchr(p, ','))
		return -1;
	if (*p == '-') {
		p++;
		if (digits(&p, &b) < 0 || *skip_ows(p) || b == 0 || size == 0)
			return -1;
		if (b > size)
			b = size;
		*off = size - b;
		*len = b;
		return 1;
	}
	if (digits(&p, &a) < 0 || *p != '-')
		return -1;
	p++;
	if (*skip_ows(p) == '\0') {
		b = UINT64_MAX;
	} else if (digits(&p, &b) < 0 || *skip_ows(p) || b < a) {
		return -1;
	}
	if (a >= size)
		return -1;
	if (b > size - 1)
		b = size - 1;
	*off = a;
	*len = b - a + 1;
	return 1;
}

int mm_serve_parse_listen(const char *s, char *host, size_t hostsz, int *port,
	struct mm_err *err)
{
	const char *colon, *h = s;
	size_t hl;
	long p;
	unsigned char buf[sizeof(struct in6_addr)];
	char tmp[64];

	if (!s || !*s)
		return mm_error(err, MM_EUSAGE, "empty listen address");
	if (*s == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return mm_error(err, MM_EUSAGE, "listen address '%s' is not [ADDR]:PORT", s);
		h = s + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return mm_error(err, MM_EUSAGE, "listen address '%s' is not ADDR:PORT", s);
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= sizeof(tmp) || hl >= hostsz)
		return mm_error(err, MM_EUSAGE, "listen address '%s' has no address", s);
	memcpy(tmp, h, hl);
	tmp[hl] = '\0';
	if (inet_pton(AF_INET, tmp, buf) != 1 && !(*s == '[' && inet_pton(AF_INET6, tmp, buf) == 1))
		return mm_error(err, MM_EUSAGE,
			"listen address '%s': '%s' is not a numeric IPv4 address or [IPv6] address", s, tmp);
	if (mm_parse_long(colon + 1, 0, 65535, &p) < 0)
		return mm_error(err, MM_EUSAGE, "listen address '%s': the port is not a number from 0 to 65535",
			s);
	memcpy(host, tmp, hl + 1);
	*port = (int)p;
	return 0;
}

/* ------------------------------------------------------------ the index */

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = strcmp(x->hex, y->hex);

	return c ? c : strcmp(x->rel, y->rel);
}

static void index_free(struct index *ix)
{
	for (size_t i = 0; i < ix->n; i++)
		free(ix->v[i].rel);
	free(ix->v);
	mm_vcache_free(ix->vc);
	memset(ix, 0, sizeof(*ix));
}

/* Open rel beneath MM_ROOT for reading, the file itself never a symlink. */
static int open_model(const struct mm_server *s, const char *rel, struct stat *st)
{
	int fd = mm_openat_beneath(s->rootfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0);

	if (fd < 0)
		return -1;
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
		close(fd);
		return -1;
	}
	return fd;
}

int mm_server_refresh(struct mm_server *s, size_t *files, struct mm_err *err)
{
	struct mm_scan_opts so = { 0 };
	struct mm_scan scan = { 0 };
	struct mm_state state = { 0 };
	struct index nx = { 0 }, old;
	int rc;

	so.root = s->root;
	so.state_dir = s->state_dir;
	rc = mm_scan(&so, &scan, err);
	if (rc)
		return rc;
	/* Read only: the state directory is neither created nor written here. */
	if (mm_state_open(&state, s->state_dir, 0, err) == 0)
		nx.vc = mm_vcache_open(&state, MM_VCACHE_NOXATTR, err);
	mm_state_close(&state);
	nx.v = mm_xcalloc(scan.n ? scan.n : 1, sizeof(*nx.v));
	for (size_t i = 0; nx.vc && i < scan.n; i++) {
		char hex[MM_HASH_HEXMAX + 1];
		struct stat st;
		int fd = open_model(s, scan.v[i].save_to, &st);

		if (fd < 0)
			continue;
		if (mm_vcache_lookup(nx.vc, fd, &st, MM_HASH_SHA256, hex)) {
			memcpy(nx.v[nx.n].hex, hex, 65);
			nx.v[nx.n].rel = mm_xstrdup(scan.v[i].save_to);
			nx.n++;
		}
		close(fd);
	}
	mm_scan_free(&scan);
	qsort(nx.v, nx.n, sizeof(*nx.v), cmp_entry);
	if (files)
		*files = nx.n;
	pthread_rwlock_wrlock(&s->lock);
	old = s->idx;
	s->idx = nx;
	pthread_rwlock_unlock(&s->lock);
	index_free(&old);
	return 0;
}

/*
 * The first file indexed under hex that is still what the verified cache
 * says: an open descriptor and its size, or -1.
 */
static int open_by_hash(struct mm_server *s, const char *hex, uint64_t *size)
{
	int fd = -1;
	size_t lo = 0, hi;

	pthread_rwlock_rdlock(&s->lock);
	hi = s->idx.n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(s->idx.v[mid].hex, hex) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; fd < 0 && lo < s->idx.n && strcmp(s->idx.v[lo].hex, hex) == 0; lo++) {
		char got[MM_HASH_HEXMAX + 1];
		struct stat st;

		fd = open_model(s, s->idx.v[lo].rel, &st);
		if (fd < 0)
			continue;
		if (!mm_vcache_lookup(s->idx.vc, fd, &st, MM_HASH_SHA256, got) ||
		    strcmp(got, hex) != 0) {
			close(fd);
			fd = -1;
			continue;
		}
		*size = (uint64_t)st.st_size;
	}
	pthread_rwlock_unlock(&s->lock);
	return fd;
}

/* ------------------------------------------------------------ pacing */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *pacer_main(void *arg)
{
	struct mm_server *s = arg;
	double last = now_s();

	for (;;) {
		struct timespec tick = { 0, PACE_TICK_NS };
		double t;

		nanosleep(&tick, NULL);
		t = now_s();
		pthread_mutex_lock(&s->pace_lock);
		if (s->stopping) {
			pthread_mutex_unlock(&s->pace_lock);
			return NULL;
		}
		s->tokens += (t - last) * (double)s->rate;
		if (s->tokens > s->burst)
			s->tokens = s->burst;
		last = t;
		if (s->tokens >= 1) {
			while (s->waiters) {
				struct waiter *w = s->waiters;

				s->waiters = w->next;
				MHD_resume_connection(w->conn);
			}
		}
		pthread_mutex_unlock(&s->pace_lock);
	}
}

static ssize_t paced_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct body *b = cls;
	struct mm_server *s = b->s;
	size_t n = max < PACE_CHUNK ? max : PACE_CHUNK;
	ssize_t got;

	pthread_mutex_lock(&s->pace_lock);
	if (s->stopping) {
		pthread_mutex_unlock(&s->pace_lock);
		return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	if (s->tokens < 1) {
		/* Resumed by the pacer: it takes pace_lock first, so it cannot miss this. */
		b->w.conn = b->conn;
		b->w.next = s->waiters;
		s->waiters = &b->w;
		MHD_suspend_connection(b->conn);
		pthread_mutex_unlock(&s->pace_lock);
		return 0;
	}
	if ((double)n > s->tokens)
		n = (size_t)s->tokens;
	s->tokens -= (double)n;
	pthread_mutex_unlock(&s->pace_lock);
	got = pread(b->fd, buf, n, (off_t)(b->off + pos));
	if (got <= 0)   /* the file shrank or cannot be read: cut the body short */
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if ((size_t)got < n) {
		pthread_mutex_lock(&s->pace_lock);
		s->tokens += (double)(n - (size_t)got);
		pthread_mutex_unlock(&s->pace_lock);
	}
	return got;
}

static void paced_free(void *cls)
{
	struct body *b = cls;

	close(b->fd);
	free(b);
}

/* ------------------------------------------------------------ requests */

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, struct MHD_Response *r)
{
	enum MHD_Result ok = MHD_queue_response(c, status, r);

	MHD_destroy_response(r);
	return ok;
}

/* A short text answer: 401, 404, 405, 416. */
static enum MHD_Result refuse(struct MHD_Connection *c, unsigned status, const char *text,
	const char *hname, const char *hval)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text,
		MHD_RESPMEM_PERSISTENT);

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (hname)
		MHD_add_response_header(r, hname, hval);
	return answer(c, status, r);
}

static void event(struct mm_server *s, struct MHD_Connection *c, const char *method,
	const char *url, int status, uint64_t bytes)
{
	const union MHD_ConnectionInfo *ci;
	struct mm_serve_event ev = { 0 };
	char addr[INET6_ADDRSTRLEN] = "?";

	if (!s->on_event)
		return;
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;

		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
				addr, sizeof(addr));
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
				addr, sizeof(addr));
	}
	ev.client = addr;
	ev.method = method;
	ev.url = url;
	ev.status = status;
	ev.bytes = bytes;
	s->on_event(s->cls, &ev);
}

/* The bearer token, compared by digest in constant time. */
static int authorized(const struct mm_server *s, struct MHD_Connection *c)
{
	const char *h;
	char got[MM_HASH_HEXMAX + 1];

	if (!s->token_digest)
		return 1;
	h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return 0;
	h = skip_ows(h + 7);
	if (mm_hash_buf(MM_HASH_SHA256, h, strlen(h), got, NULL) != 0)
		return 0;
	return CRYPTO_memcmp(got, s->token_digest, 64) == 0;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
	const char *method, const char *version, const char *upload_data,
	size_t *upload_data_size, void **con_cls)
{
	struct mm_server *s = cls;
	struct MHD_Response *r;
	char hex[65], cr[96], etag[72];
	uint64_t size = 0, off = 0, len;
	int fd, head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0, ranged;
	unsigned status;

	if (!head && strcmp(method, MHD_HTTP_METHOD_GET) != 0) {
		event(s, c, method, url, 405, 0);
		return refuse(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed: GET and HEAD only\n",
			MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	}
	if (!authorized(s, c)) {
		event(s, c, method, url, 401, 0);
		return refuse(c, MHD_HTTP_UNAUTHORIZED, "unauthorized\n",
			MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	}
	if (!mm_serve_path(url, hex)) {
		event(s, c, method, url, 404, 0);
		return refuse(c, MHD_HTTP_NOT_FOUND, "not found: the only path is /sha256/<64 lowercase hex digits>\n",
			NULL, NULL);
	}
	fd = open_by_hash(s, hex, &size);
	if (fd < 0) {
		event(s, c, method, url, 404, 0);
		return refuse(c, MHD_HTTP_NOT_FOUND, "not found: no verified file with that sha256 here\n",
			NULL, NULL);
	}
	ranged = mm_serve_range(MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE),
		size, &off, &len);
	if (ranged < 0) {
		close(fd);
		snprintf(cr, sizeof(cr), "bytes */%" PRIu64, size);
		event(s, c, method, url, 416, 0);
		return refuse(c, MHD_HTTP_RANGE_NOT_SATISFIABLE,
			"range not satisfiable: one range of bytes inside the file\n",
			MHD_HTTP_HEADER_CONTENT_RANGE, cr);
	}
	if (!ranged) {
		off = 0;
		len = size;
	}
	if (s->rate > 0) {
		struct body *b = mm_xcalloc(1, sizeof(*b));

		b->s = s;
		b->conn = c;
		b->fd = fd;
		b->off = off;
		r = MHD_create_response_from_callback(len, PACE_CHUNK, paced_read, b, paced_free);
		if (!r)
			paced_free(b);
	} else {
		/* MHD owns fd from here and sends it with sendfile(2). */
		r = MHD_create_response_from_fd_at_offset64(len, fd, off);
		if (!r)
			close(fd);
	}
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
	MHD_add_response_header(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
	snprintf(etag, sizeof(etag), "\"%s\"", hex);
	MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
	status = MHD_HTTP_OK;
	if (ranged) {
		snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, off, off + len - 1, size);
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
		status = MHD_HTTP_PARTIAL_CONTENT;
	}
	event(s, c, method, url, (int)status, head ? 0 : len);
	return answer(c, status, r);
}

/*
 * The path is left as the client sent it: the one path served has no '%',
 * so an encoded one ("%2e%2e", "%00", "%2f") is simply not it.
 */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *uri)
{
	return strlen(uri);
}

/* ------------------------------------------------------------ start, stop */

/* A listening socket, or -1 with err set. */
static int listen_on(const char *host, int port, char *shown, size_t shownsz, int *wildcard,
	struct mm_err *err)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sl;
	int fd, one = 1, v6 = strchr(host, ':') != NULL;
	char a[INET6_ADDRSTRLEN];

	if (v6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, host, &s6->sin6_addr);
		sl = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, host, &s4->sin_addr);
		sl = sizeof(*s4);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		mm_error(err, MM_EUNAVAIL, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 128) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
		int e = errno;

		close(fd);
		mm_error(err, MM_EUNAVAIL, "cannot listen on %s%s%s:%d: %s", v6 ? "[" : "", host,
			v6 ? "]" : "", port, strerror(e));
		return -1;
	}
	if (v6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(shown, shownsz, "[%s]:%d", a, ntohs(s6->sin6_port));
		*wildcard = IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr);
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(shown, shownsz, "%s:%d", a, ntohs(s4->sin_port));
		*wildcard = s4->sin_addr.s_addr == htonl(INADDR_ANY);
	}
	return fd;
}

int mm_server_start(const struct mm_serve_opts *o, struct mm_server **out, struct mm_err *err)
{
	struct mm_server *s;
	struct mm_err ignored = { 0 };
	char host[64];
	int port, rc;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME;

	*out = NULL;
	rc = mm_serve_parse_listen(o->listen ? o->listen : MM_SERVE_DEFAULT_LISTEN, host, sizeof(host),
		&port, err);
	if (rc)
		return rc;
	s = mm_xcalloc(1, sizeof(*s));
	s->lfd = -1;
	s->rootfd = -1;
	s->root = mm_xstrdup(o->root);
	s->state_dir = mm_xstrdup(o->state_dir);
	s->on_event = o->on_event;
	s->cls = o->cls;
	s->rate = o->rate;
	pthread_rwlock_init(&s->lock, NULL);
	pthread_mutex_init(&s->pace_lock, NULL);
	if (o->token) {
		char d[MM_HASH_HEXMAX + 1];

		mm_hash_buf(MM_HASH_SHA256, o->token, strlen(o->token), d, NULL);
		s->token_digest = mm_xstrdup(d);
	}
	s->rootfd = open(o->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->rootfd < 0) {
		rc = mm_error(err, MM_EUSAGE, "cannot open MM_ROOT '%s': %s", o->root, strerror(errno));
		goto fail;
	}
	/* A first index; a state directory not there yet is not an error. */
	if (mm_server_refresh(s, NULL, &ignored) != 0) {
		rc = mm_error(err, MM_EUSAGE, "%s", ignored.msg);
		goto fail;
	}
	s->lfd = listen_on(host, port, s->address, sizeof(s->address), &s->wildcard, err);
	if (s->lfd < 0) {
		rc = err->code;
		goto fail;
	}
	if (s->rate > 0) {
		s->burst = (double)s->rate / 10;
		if (s->burst < 16384)
			s->burst = 16384;
		s->tokens = s->burst;
		if (pthread_create(&s->pacer, NULL, pacer_main, s) != 0) {
			rc = mm_error(err, MM_EFAIL, "cannot start the pacing thread");
			goto fail;
		}
		s->pacing = 1;
	}
	s->d = MHD_start_daemon(flags, 0, NULL, NULL, handle, s,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)s->lfd,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)(o->max_conns ? o->max_conns : MM_SERVE_DEFAULT_CONNS),
		MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned)(o->per_client ? o->per_client : MM_SERVE_DEFAULT_PER_CLIENT),
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(o->timeout ? o->timeout : MM_SERVE_DEFAULT_TIMEOUT),
		MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL,
		MHD_OPTION_END);
	if (!s->d) {
		rc = mm_error(err, MM_EFAIL, "cannot start the HTTP server on %s", s->address);
		goto fail;
	}
	*out = s;
	return 0;
fail:
	mm_server_stop(s);
	return rc;
}

const char *mm_server_address(const struct mm_server *s)
{
	return s->address;
}

int mm_server_wildcard(const struct mm_server *s)
{
	return s->wildcard;
}

void mm_server_stop(struct mm_server *s)
{
	if (!s)
		return;
	/* Every suspended connection is resumed before the daemon stops (MHD requires it). */
	pthread_mutex_lock(&s->pace_lock);
	s->stopping = 1;
	while (s->waiters) {
		struct waiter *w = s->waiters;

		s->waiters = w->next;
		MHD_resume_connection(w->conn);
	}
	pthread_mutex_unlock(&s->pace_lock);
	if (s->pacing)
		pthread_join(s->pacer, NULL);
	if (s->d)
		MHD_stop_daemon(s->d);
	else if (s->lfd >= 0)
		close(s->lfd);
	if (s->rootfd >= 0)
		close(s->rootfd);
	index_free(&s->idx);
	pthread_rwlock_destroy(&s->lock);
	pthread_mutex_destroy(&s->pace_lock);
	free(s->token_digest);
	free(s->root);
	free(s->state_dir);
	free(s);
}

/* ------------------------------------------------------------ Redis */

int mm_serve_advertise(struct mm_redis *r, const char *machine_id, const char *url,
	struct mm_err *err)
{
	char *key = mm_xasprintf(MM_RKEY_MACHINE_MODELS, machine_id);
	redisReply *rep = NULL;
	int rc = mm_redis_cmd(r, &rep, err, "HSET", key, MM_SERVE_FIELD, url, (char *)NULL);

	if (rep)
		freeReplyObject(rep);
	free(key);
	return rc;
}

int mm_serve_withdraw(struct mm_redis *r, const char *machine_id, const char *url,
	struct mm_err *err)
{
	char *key = mm_xasprintf(MM_RKEY_MACHINE_MODELS, machine_id);
	redisReply *rep = NULL;
	int rc = mm_redis_cmd(r, &rep, err, "HGET", key, MM_SERVE_FIELD, (char *)NULL);

	/* Another server that advertised since keeps its URL. */
	if (!rc && rep && rep->type == REDIS_REPLY_STRING && strcmp(rep->str, url) == 0) {
		freeReplyObject(rep);
		rep = NULL;
		rc = mm_redis_cmd(r, &rep, err, "HDEL", key, MM_SERVE_FIELD, (char *)NULL);
	}
	if (rep)
		freeReplyObject(rep);
	free(key);
	return rc;
}
