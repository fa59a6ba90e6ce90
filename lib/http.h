/*
 * http.h — the HTTP policy every mm tool shares, on libcurl.
 *
 * mm_http_setup() puts one easy handle under the rules of DESIGN.md: only
 * http and https, redirects bounded and never from https down to http, a
 * bearer token sent to the URL's own host and port only (libcurl drops it
 * when a redirect goes elsewhere), an error buffer, timeouts, the CA bundle
 * named by CURL_CA_BUNDLE or SSL_CERT_FILE.  HTTP status >= 400 is left to the
 * caller to judge (mm_http_classify), so it can read Retry-After first.
 *
 * mm_http_get_all() fetches a set of small bodies (API answers) concurrently
 * on the multi interface; a request with a JSON body is a POST.
 */
#ifndef MM_HTTP_H
#define MM_HTTP_H

#include <curl/curl.h>
#include <stddef.h>

#include "mm.h"

struct mm_http_policy {
	long connect_timeout;   /* seconds; 0: 15 */
	long timeout;           /* whole transfer, seconds; 0: none */
	long stall_timeout;     /* no bytes for this long is an error; 0: none.
				 * libcurl averages the rate over its last ~5 s,
				 * so a transfer that stops after receiving data
				 * is caught up to ~5 s later. */
	long max_redirs;        /* 0: 10 */
	const char *bearer;     /* token or NULL; validated by mm_http_token_ok */
	int accept_gzip;        /* ask for gzip (JSON answers, never model files) */
};

/* curl_global_init once; safe to call from every command. */
void mm_http_init(void);

/* True when url is http:// or https:// with a host. */
int mm_http_url_ok(const char *url);

/* True when a token can go into a header: visible ASCII, no space, CR or LF. */
int mm_http_token_ok(const char *token);

/*
 * Apply the policy to h for url.  errbuf (CURL_ERROR_SIZE bytes) becomes the
 * handle's error buffer and must outlive the transfer.  MM_EINPUT when the
 * URL's scheme is not http(s) or the token could inject a header.
 */
int mm_http_setup(CURL *h, const char *url, const struct mm_http_policy *p, char *errbuf,
		  struct mm_err *err);

/* How a finished transfer should be treated. */
enum mm_http_class {
	MM_HTTP_DONE,       /* 2xx */
	MM_HTTP_TRANSIENT,  /* connection trouble, timeout, 408, 429, 5xx: try again */
	MM_HTTP_FATAL,      /* other 4xx, a refused protocol, a bad answer: do not retry */
};
enum mm_http_class mm_http_classify(CURLcode rc, long status);

/*
 * Why a transfer failed, as a word for a metric's label: "unauthorized"
 * (401, 403), "not_found" (404, 410), "http" (another status), "timeout",
 * "tls", "redirect" (refused or too many) or "network".
 */
const char *mm_http_reason(CURLcode rc, long status);

/*
 * A message for a failed transfer, redacted: "HTTP 404 from host",
 * "connection refused (host:port)".  buf >= 256.
 */
void mm_http_describe(CURLcode rc, long status, const char *errbuf, char *buf, size_t bufsz);

/* Retry-After as seconds (a number or an HTTP date), or -1. */
long mm_http_retry_after(const char *value);

/* Content-Length: the byte count, or -1 for anything but plain digits. */
long long mm_http_content_length(const char *value);

/*
 * Content-Range: "bytes FIRST-LAST/TOTAL" sets all three (0 <= FIRST <= LAST
 * < TOTAL) and returns 1.  A 416's form, a star in place of FIRST-LAST, sets
 * *total and FIRST and LAST to -1 and returns 1.  Anything else, an unknown
 * TOTAL ("*") included, returns 0 and sets nothing.
 */
int mm_http_content_range(const char *value, long long *first, long long *last,
			  long long *total);

/*
 * What a download needs from a response's headers, gathered by
 * mm_http_on_header (a CURLOPT_HEADERFUNCTION; CURLOPT_HEADERDATA is the
 * struct mm_http_answer).  A new status line (after a redirect or a 100)
 * starts over.  Lines longer than 1 KiB are ignored.
 */
struct mm_http_answer {
	long long clen;         /* Content-Length, -1 none */
	long long cr_start;     /* Content-Range FIRST, -1 none */
	long long cr_total;     /* Content-Range TOTAL, -1 none */
	int ranges;             /* Accept-Ranges: bytes */
	long retry_after;       /* seconds, -1 none */
	char etag[256], lastmod[128];
	char cenc[64];          /* Content-Encoding, printable and short */
};

/* Forget every header: the state before the first one. */
void mm_http_answer_reset(struct mm_http_answer *a);

size_t mm_http_on_header(char *data, size_t size, size_t nmemb, void *answer);

/* One request of mm_http_get_all. */
struct mm_http_get {
	char *url;              /* in (owned by the caller) */
	const char *bearer;     /* in, may be NULL */
	const char *post;       /* in: a JSON body to POST, or NULL for a GET */
	long status;            /* out: HTTP status, 0 when none */
	CURLcode code;          /* out */
	char *body;             /* out: NUL-terminated, caller frees */
	size_t len;             /* out */
	int too_large;          /* out: the body passed max_body */
	char error[CURL_ERROR_SIZE];  /* out: libcurl's message, may be empty */
};

/*
 * Run every request, at most `parallel` at once; each ends with code,
 * status and body filled.  Bodies over max_body bytes are cut off with
 * too_large set.  Returns 0, or MM_EINPUT when a request could not be set up.
 */
int mm_http_get_all(struct mm_http_get *reqs, size_t n, int parallel, size_t max_body,
		    const struct mm_http_policy *p, struct mm_err *err);

#endif
