/* http.c — libcurl under mm's rules. */
#include "http.h"
#include "config.h"
#include "log.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

void mm_http_init(void)
{
	pthread_once(&once, global_init);
}

int mm_http_url_ok(const char *url)
{
	const char *host;

	if (!url)
		return 0;
	if (strncasecmp(url, "https://", 8) == 0)
		host = url + 8;
	else if (strncasecmp(url, "http://", 7) == 0)
		host = url + 7;
	else
		return 0;
	return *host && *host != '/';
}

int mm_http_token_ok(const char *t)
{
	if (!t || !*t)
		return 0;
	for (; *t; t++)
		if ((unsigned char)*t <= 0x20 || (unsigned char)*t >= 0x7f)
			return 0;
	return 1;
}

int mm_http_setup(CURL *h, const char *url, const struct mm_http_policy *p, char *errbuf,
		  struct mm_err *err)
{
	const char *ca;
	int https;

	if (!mm_http_url_ok(url))
		return mm_error(err, MM_EINPUT, "'%.200s' is not an http or https URL", url);
	if (p->bearer && !mm_http_token_ok(p->bearer))
		return mm_error(err, MM_EINPUT,
				"the token has a space or control character and cannot be sent");
	https = strncasecmp(url, "https://", 8) == 0;
	errbuf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	/* Once on https, a redirect may not drop to plain http. */
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, https ? "https" : "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, p->max_redirs > 0 ? p->max_redirs : 10L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, p->connect_timeout > 0 ? p->connect_timeout : 15L);
	if (p->timeout > 0)
		curl_easy_setopt(h, CURLOPT_TIMEOUT, p->timeout);
	if (p->stall_timeout > 0) {
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, p->stall_timeout);
	}
	curl_easy_setopt(h, CURLOPT_USERAGENT, "mm/" MM_VERSION);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	if (p->accept_gzip)
		curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "gzip");
	if (p->bearer) {
		/*
		 * libcurl sends credentials set this way only to the host, port
		 * and protocol of the first request (UNRESTRICTED_AUTH stays off).
		 */
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
		curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, p->bearer);
		curl_easy_setopt(h, CURLOPT_UNRESTRICTED_AUTH, 0L);
	}
	/* Debian's libcurl ignores SSL_CERT_FILE by itself; the curl tool reads both. */
	ca = mm_config_ca_bundle();
	if (ca)
		curl_easy_setopt(h, CURLOPT_CAINFO, ca);
	return 0;
}

enum mm_http_class mm_http_classify(CURLcode rc, long status)
{
	switch (rc) {
	case CURLE_OK:
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_BAD_CONTENT_ENCODING:
		return MM_HTTP_TRANSIENT;
	default:
		return MM_HTTP_FATAL;
	}
	if (status >= 200 && status < 300)
		return MM_HTTP_DONE;
	if (status == 408 || status == 429 || status >= 500)
		return MM_HTTP_TRANSIENT;
	return MM_HTTP_FATAL;
}

const char *mm_http_reason(CURLcode rc, long status)
{
	switch (rc) {
	case CURLE_OK:
	case CURLE_HTTP_RETURNED_ERROR:
		if (status == 401 || status == 403)
			return "unauthorized";
		if (status == 404 || status == 410)
			return "not_found";
		return "http";
	case CURLE_OPERATION_TIMEDOUT:
		return "timeout";
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
		return "tls";
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_TOO_MANY_REDIRECTS:
		return "redirect";
	default:
		return "network";
	}
}

void mm_http_describe(CURLcode rc, long status, const char *errbuf, char *buf, size_t bufsz)
{
	char *r;

	if (rc == CURLE_OK) {
		snprintf(buf, bufsz, "HTTP %ld", status);
		return;
	}
	if (rc == CURLE_UNSUPPORTED_PROTOCOL)
		r = mm_xstrdup("refused: a redirect to a protocol other than http(s), "
			       "or from https to http");
	else if (rc == CURLE_TOO_MANY_REDIRECTS)
		r = mm_xstrdup("too many redirects");
	else
		r = mm_redact(errbuf && *errbuf ? errbuf : curl_easy_strerror(rc));
	snprintf(buf, bufsz, "%s", r);
	free(r);
}

long mm_http_retry_after(const char *v)
{
	long n;
	time_t t;

	if (!v)
		return -1;
	while (*v == ' ')
		v++;
	if (mm_parse_long(v, 0, 86400 * 7, &n) == 0)
		return n;
	t = curl_getdate(v, NULL);
	if (t < 0)
		return -1;
	n = (long)(t - time(NULL));
	return n < 0 ? 0 : n > 86400 * 7 ? 86400 * 7 : n;
}

/* Plain decimal digits, at least one, that fit; *end after them.  -1 if not. */
static long long digits(const char *s, const char **end)
{
	long long n = 0;
	const char *p = s;

	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > (LLONG_MAX - (*p - '0')) / 10)
			return -1;
		n = n * 10 + (*p - '0');
	}
	if (p == s)
		return -1;
	*end = p;
	return n;
}

static const char *skip_ows(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

long long mm_http_content_length(const char *v)
{
	const char *end;
	long long n;

	if (!v)
		return -1;
	n = digits(skip_ows(v), &end);
	if (n < 0 || *skip_ows(end))
		return -1;
	return n;
}

int mm_http_content_range(const char *v, long long *first, long long *last, long long *total)
{
	long long a = -1, b = -1, t;
	const char *p;

	if (!v)
		return 0;
	v = skip_ows(v);
	if (strncasecmp(v, "bytes", 5) != 0 || (v[5] != ' ' && v[5] != '\t'))
		return 0;
	p = skip_ows(v + 5);
	if (*p == '*') {
		p++;
	} else {
		if ((a = digits(p, &p)) < 0 || *p++ != '-' || (b = digits(p, &p)) < 0 || b < a)
			return 0;
	}
	if (*p++ != '/' || (t = digits(p, &p)) < 0 || *skip_ows(p))
		return 0;
	if (a >= 0 && b >= t)
		return 0;
	*first = a;
	*last = b;
	*total = t;
	return 1;
}

struct getctx {
	struct mm_http_get *req;
	struct curl_slist *hdrs;  /* Content-Type of a POST */
	size_t max;
	size_t cap;
};

static void trim(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\r' || s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
}

void mm_http_answer_reset(struct mm_http_answer *x)
{
	x->clen = x->cr_start = x->cr_total = -1;
	x->ranges = 0;
	x->retry_after = -1;
	x->etag[0] = x->lastmod[0] = x->cenc[0] = '\0';
}

size_t mm_http_on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct mm_http_answer *x = arg;
	size_t n = size * nmemb;
	char line[1024], *v;

	if (n >= sizeof(line))
		return n;
	memcpy(line, data, n);
	line[n] = '\0';
	trim(line);
	if (!strncmp(line, "HTTP/", 5)) {
		/* A new response (after a redirect or a 100): forget the last one. */
		mm_http_answer_reset(x);
		return n;
	}
	v = strchr(line, ':');
	if (!v)
		return n;
	*v++ = '\0';
	while (*v == ' ' || *v == '\t')
		v++;
	if (!strcasecmp(line, "content-length")) {
		long long l = mm_http_content_length(v);

		if (l >= 0)
			x->clen = l;
	} else if (!strcasecmp(line, "content-range")) {
		long long a, b, t;

		if (mm_http_content_range(v, &a, &b, &t)) {
			x->cr_start = a;
			x->cr_total = t;
		}
	} else if (!strcasecmp(line, "accept-ranges")) {
		x->ranges = strstr(v, "bytes") != NULL;
	} else if (!strcasecmp(line, "etag")) {
		snprintf(x->etag, sizeof(x->etag), "%s", v);
	} else if (!strcasecmp(line, "last-modified")) {
		snprintf(x->lastmod, sizeof(x->lastmod), "%s", v);
	} else if (!strcasecmp(line, "retry-after")) {
		x->retry_after = mm_http_retry_after(v);
	} else if (!strcasecmp(line, "content-encoding")) {
		size_t k;

		/* Shown in an error: printable, and short. */
		for (k = 0; v[k] && k + 1 < sizeof(x->cenc); k++)
			x->cenc[k] = v[k] > 0x20 && v[k] < 0x7f ? v[k] : '?';
		x->cenc[k] = '\0';
	}
	return n;
}

static size_t get_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct getctx *c = arg;
	size_t n = size * nmemb;

	if (c->req->len + n > c->max) {
		c->req->too_large = 1;
		return 0;
	}
	if (c->req->len + n + 1 > c->cap) {
		c->cap = (c->req->len + n + 1) * 2;
		if (c->cap > c->max + 1)
			c->cap = c->max + 1;
		c->req->body = mm_xrealloc(c->req->body, c->cap);
	}
	memcpy(c->req->body + c->req->len, data, n);
	c->req->len += n;
	c->req->body[c->req->len] = '\0';
	return n;
}

int mm_http_get_all(struct mm_http_get *reqs, size_t n, int parallel, size_t max_body,
		    const struct mm_http_policy *p, struct mm_err *err)
{
	CURLM *multi;
	struct getctx *ctx;
	size_t next = 0, active = 0, i;

	mm_http_init();
	if (parallel < 1)
		parallel = 1;
	/* Refuse bad requests before any transfer starts. */
	for (i = 0; i < n; i++) {
		if (!mm_http_url_ok(reqs[i].url))
			return mm_error(err, MM_EINPUT, "'%.200s' is not an http or https URL",
					reqs[i].url);
		if (reqs[i].bearer && !mm_http_token_ok(reqs[i].bearer))
			return mm_error(err, MM_EINPUT,
					"the token has a space or control character and cannot be sent");
	}
	multi = curl_multi_init();
	ctx = mm_xcalloc(n ? n : 1, sizeof(*ctx));
	for (i = 0; i < n; i++) {
		reqs[i].status = 0;
		reqs[i].code = CURLE_OK;
		reqs[i].body = NULL;
		reqs[i].len = 0;
		reqs[i].too_large = 0;
		reqs[i].error[0] = '\0';
	}
	while (next < n || active > 0) {
		CURLMsg *msg;
		int still, left;

		while (active < (size_t)parallel && next < n) {
			struct mm_http_policy pol = *p;
			CURL *h = curl_easy_init();

			i = next++;
			pol.bearer = reqs[i].bearer;
			ctx[i].req = &reqs[i];
			ctx[i].max = max_body;
			mm_http_setup(h, reqs[i].url, &pol, reqs[i].error, NULL);
			curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, get_write);
			curl_easy_setopt(h, CURLOPT_WRITEDATA, &ctx[i]);
			curl_easy_setopt(h, CURLOPT_PRIVATE, &ctx[i]);
			if (reqs[i].post) {
				ctx[i].hdrs = curl_slist_append(NULL, "Content-Type: application/json");
				curl_easy_setopt(h, CURLOPT_HTTPHEADER, ctx[i].hdrs);
				curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(reqs[i].post));
				curl_easy_setopt(h, CURLOPT_POSTFIELDS, reqs[i].post);
			}
			curl_multi_add_handle(multi, h);
			active++;
		}
		curl_multi_perform(multi, &still);
		while ((msg = curl_multi_info_read(multi, &left))) {
			struct getctx *c;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
			c->req->code = msg->data.result;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &c->req->status);
			curl_multi_remove_handle(multi, msg->easy_handle);
			curl_easy_cleanup(msg->easy_handle);
			curl_slist_free_all(c->hdrs);
			c->hdrs = NULL;
			active--;
		}
		if (active > 0)
			curl_multi_poll(multi, NULL, 0, 1000, NULL);
	}
	curl_multi_cleanup(multi);
	free(ctx);
	for (i = 0; i < n; i++)
		if (!reqs[i].body)
			reqs[i].body = mm_xstrdup("");
	return 0;
}
