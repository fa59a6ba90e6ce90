/*
 * auth.h — which hosts a token may be sent to, and over what.
 *
 * A token variable is bound to hosts; a host matches itself and its
 * subdomains, on any port (an IP address matches only itself).  Built in:
 * HF_TOKEN is bound to huggingface.co and hf.co, plus the host of
 * HF_ENDPOINT when it is set; CIVITAI_TOKEN to civitai.com.  MM_AUTH_HOSTS,
 * "VAR=host[,host...] [VAR=host...]", binds any other variable; an entry
 * for HF_TOKEN or CIVITAI_TOKEN replaces its built-in hosts (HF_ENDPOINT's
 * included), and a variable named twice gets the hosts of both entries.
 * A variable bound to no host is never sent anywhere.
 *
 * A URL's host is the one libcurl's URL parser finds (CURLU), never a piece
 * of the URL's text, so "http://127.0.0.1/mirror/.huggingface.co/x" and
 * "https://huggingface.co@evil.example/" are not Hugging Face.  A token
 * goes only over https unless allow_http (MM_ALLOW_HTTP_AUTH) is set.
 *
 * The rule never reads a token's value: it decides from the variable's name
 * and the URL alone.  Messages name the variable and hosts, never a value.
 */
#ifndef MM_AUTH_H
#define MM_AUTH_H

#include <stddef.h>

#include "config.h"
#include "mm.h"

struct mm_auth;

/*
 * The bindings from spec (MM_AUTH_HOSTS; may be NULL) and hf_endpoint
 * (HF_ENDPOINT; may be NULL) over the built-in ones.  MM_EUSAGE, with a
 * message saying which entry is wrong and how, when spec does not parse or
 * hf_endpoint is not an http(s) URL with a host.  *out is the caller's, freed
 * with mm_auth_free().
 */
int mm_auth_new(const char *spec, const char *hf_endpoint, int allow_http, struct mm_auth **out,
		struct mm_err *err);
void mm_auth_free(struct mm_auth *a);

/*
 * Bind var also to the host of url (CIVITAI_ENDPOINT for CIVITAI_TOKEN),
 * unless MM_AUTH_HOSTS named var (its hosts then are the only ones).
 * MM_EUSAGE naming what (the variable url came from) when url is not an
 * http(s) URL with a host; url is never shown.  NULL or empty: nothing.
 */
int mm_auth_bind_url(struct mm_auth *a, const char *var, const char *url, const char *what,
		     struct mm_err *err);

enum mm_auth_verdict {
	MM_AUTH_OK,         /* the token may go to this URL */
	MM_AUTH_BADURL,     /* the URL has no host libcurl can parse */
	MM_AUTH_UNBOUND,    /* the variable is bound to no host */
	MM_AUTH_HOST,       /* the URL's host is not one of the variable's */
	MM_AUTH_HTTP,       /* plain http, and http is not allowed */
};

/*
 * May the value of var be sent to url?  a NULL means the built-in bindings
 * only, https only.  Unless MM_AUTH_OK, why (may be NULL) gets a one-line
 * message naming var and what to set (MM_AUTH_HOSTS or MM_ALLOW_HTTP_AUTH).
 */
enum mm_auth_verdict mm_auth_check(const struct mm_auth *a, const char *var, const char *url,
				   char *why, size_t whysz);

/* The hosts var is bound to, or NULL when none.  Borrowed from a. */
const struct mm_list *mm_auth_hosts(const struct mm_auth *a, const char *var);

/*
 * The variable a URL's host suggests when a manifest names none:
 * "HF_TOKEN" or "CIVITAI_TOKEN" for their built-in hosts (static strings),
 * otherwise NULL.  Reads no environment.
 */
const char *mm_auth_guess(const char *url);

/*
 * True when host (as CURLU gives it) is pattern or a subdomain of it,
 * ignoring ASCII case; an IP address matches only itself.
 */
int mm_auth_host_match(const char *host, const char *pattern);

/* True for an environment variable name: [A-Za-z_][A-Za-z0-9_]*, at most 128. */
int mm_auth_var_ok(const char *name);

#endif
