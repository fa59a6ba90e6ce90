/* auth.c — the hosts a token is bound to (auth.h). */
#include "auth.h"

#include <ctype.h>
#include <stdarg.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct binding {
	char *var;
	struct mm_list hosts;
	int from_spec;          /* named in MM_AUTH_HOSTS: its built-in hosts are gone */
};

struct mm_auth {
	struct binding *v;
	size_t n;
	int allow_http;
};

static const struct {
	const char *var;
	const char *hosts[3];
} builtin[] = {
	{"HF_TOKEN", {"huggingface.co", "hf.co", NULL}},
	{"CIVITAI_TOKEN", {"civitai.com", NULL, NULL}},
};

int mm_auth_var_ok(const char *s)
{
	const char *p;

	if (!s || !(isalpha((unsigned char)*s) || *s == '_'))
		return 0;
	for (p = s; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '_'))
			return 0;
	return p - s <= 128;
}

/* The lowercased host and scheme of url as libcurl parses it; 0 when it has none. */
static int url_parts(const char *url, char **scheme, char **host)
{
	CURLU *u = curl_url();
	char *s = NULL, *h = NULL;
	int ok = 0;

	*scheme = *host = NULL;
	if (!u)
		return 0;
	if (url && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &s, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK && *h) {
		char *p;

		*scheme = mm_xstrdup(s);
		*host = mm_xstrdup(h);
		for (p = *scheme; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		for (p = *host; *p; p++)
			if ((unsigned char)*p < 0x80)
				*p = (char)tolower((unsigned char)*p);
		ok = 1;
	}
	curl_free(s);
	curl_free(h);
	curl_url_cleanup(u);
	return ok;
}

static int is_ip(const char *h)
{
	if (*h == '[')
		return 1;
	for (; *h; h++)
		if (!isdigit((unsigned char)*h) && *h != '.')
			return 0;
	return 1;
}

int mm_auth_host_match(const char *host, const char *pattern)
{
	size_t hl, pl;
	size_t i;

	if (!host || !pattern || !*host || !*pattern)
		return 0;
	hl = strlen(host);
	pl = strlen(pattern);
	if (hl < pl)
		return 0;
	for (i = 0; i < pl; i++)
		if (tolower((unsigned char)host[hl - pl + i]) != tolower((unsigned char)pattern[i]))
			return 0;
	if (hl == pl)
		return 1;
	/* A subdomain: the suffix starts a label, and neither side is an address. */
	return host[hl - pl - 1] == '.' && !is_ip(host) && !is_ip(pattern);
}

/* A host name or address as MM_AUTH_HOSTS may give it, normalised as CURLU would. */
static char *host_norm(const char *s)
{
	size_t n = strlen(s), label = 0, i;
	char *url, *scheme, *host;

	if (n == 0 || n > 253)
		return NULL;
	if (s[0] == '[') {
		if (n < 3 || s[n - 1] != ']')
			return NULL;
		for (i = 1; i + 1 < n; i++)
			if (!isxdigit((unsigned char)s[i]) && s[i] != ':' && s[i] != '.')
				return NULL;
	} else {
		for (i = 0; i < n; i++) {
			if (s[i] == '.') {
				if (label == 0)
					return NULL;
				label = 0;
			} else if (isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '_') {
				if (++label > 63)
					return NULL;
			} else {
				return NULL;
			}
		}
		if (label == 0)
			return NULL;
	}
	url = mm_xasprintf("http://%s/", s);
	if (!url_parts(url, &scheme, &host))
		host = NULL;
	free(url);
	free(scheme);
	return host;
}

static struct binding *find(const struct mm_auth *a, const char *var)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		if (strcmp(a->v[i].var, var) == 0)
			return &a->v[i];
	return NULL;
}

static struct binding *get(struct mm_auth *a, const char *var)
{
	struct binding *b = find(a, var);

	if (b)
		return b;
	a->v = mm_xrealloc(a->v, (a->n + 1) * sizeof(*a->v));
	b = &a->v[a->n++];
	memset(b, 0, sizeof(*b));
	b->var = mm_xstrdup(var);
	return b;
}

/* Entry text safe to show: at most 80 characters, control characters as '?'. */
static void shown(const char *s, size_t n, char *out, size_t outsz)
{
	size_t i, k = 0;

	for (i = 0; i < n && k + 4 < outsz && i < 80; i++)
		out[k++] = (unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f ? '?' : s[i];
	if (i < n && k + 3 < outsz) {
		memcpy(out + k, "...", 3);
		k += 3;
	}
	out[k] = '\0';
}

/* One "VAR=host,host" entry of MM_AUTH_HOSTS, n bytes at s. */
static int parse_entry(struct mm_auth *a, const char *s, size_t n, int idx, struct mm_err *err)
{
	char show[96], *var, *list = NULL, *cur, *item;
	const char *eq = memchr(s, '=', n);
	struct binding *b;
	int rc = 0;

	shown(s, n, show, sizeof(show));
	if (!eq)
		return mm_error(err, MM_EUSAGE,
				"MM_AUTH_HOSTS: entry %d '%s' has no '=' (write VAR=host[,host...], "
				"entries separated by spaces)", idx, show);
	var = mm_xstrndup(s, (size_t)(eq - s));
	if (!mm_auth_var_ok(var)) {
		free(var);
		return mm_error(err, MM_EUSAGE,
				"MM_AUTH_HOSTS: entry %d '%s' does not start with a variable name", idx, show);
	}
	list = mm_xstrndup(eq + 1, n - (size_t)(eq + 1 - s));
	if (!*list) {
		rc = mm_error(err, MM_EUSAGE, "MM_AUTH_HOSTS: entry %d '%s' names no host", idx, show);
		goto out;
	}
	b = get(a, var);
	if (!b->from_spec) {
		mm_list_free(&b->hosts);
		b->from_spec = 1;
	}
	cur = list;
	while ((item = strsep(&cur, ",")) != NULL) {
		char *h, hs[96];

		h = host_norm(item);
		if (!h) {
			shown(item, strlen(item), hs, sizeof(hs));
			rc = mm_error(err, MM_EUSAGE,
				      "MM_AUTH_HOSTS: entry %d '%s': '%s' is not a host name (write the "
				      "host alone: no scheme, port, path or wildcard; it matches its "
				      "subdomains on any port)", idx, show, hs);
			goto out;
		}
		mm_list_push(&b->hosts, h);
		free(h);
	}
out:
	free(var);
	free(list);
	return rc;
}

int mm_auth_new(const char *spec, const char *hf_endpoint, int allow_http, struct mm_auth **out,
		struct mm_err *err)
{
	struct mm_auth *a = mm_xcalloc(1, sizeof(*a));
	const char *p = spec;
	size_t i, k;
	int idx = 0, rc = 0;

	*out = NULL;
	a->allow_http = allow_http;
	for (i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++) {
		struct binding *b = get(a, builtin[i].var);

		for (k = 0; builtin[i].hosts[k]; k++)
			mm_list_push(&b->hosts, builtin[i].hosts[k]);
	}
	if (hf_endpoint && *hf_endpoint) {
		char *scheme, *host;

		if (!url_parts(hf_endpoint, &scheme, &host) ||
		    (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0)) {
			free(scheme);
			free(host);
			mm_auth_free(a);
			/* HF_ENDPOINT may hold credentials: not shown. */
			return mm_error(err, MM_EUSAGE, "HF_ENDPOINT is not an http or https URL with a host");
		}
		mm_list_push(&get(a, "HF_TOKEN")->hosts, host);
		free(scheme);
		free(host);
	}
	while (p && *p && rc == 0) {
		const char *e;

		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		for (e = p; *e && !isspace((unsigned char)*e); e++)
			;
		rc = parse_entry(a, p, (size_t)(e - p), ++idx, err);
		p = e;
	}
	if (rc) {
		mm_auth_free(a);
		return rc;
	}
	*out = a;
	return 0;
}

int mm_auth_bind_url(struct mm_auth *a, const char *var, const char *url, const char *what,
		     struct mm_err *err)
{
	struct binding *b;
	char *scheme, *host;

	if (!url || !*url)
		return 0;
	if (!url_parts(url, &scheme, &host) ||
	    (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0)) {
		free(scheme);
		free(host);
		return mm_error(err, MM_EUSAGE, "%s is not an http or https URL with a host", what);
	}
	b = get(a, var);
	if (!b->from_spec)
		mm_list_push(&b->hosts, host);
	free(scheme);
	free(host);
	return 0;
}

void mm_auth_free(struct mm_auth *a)
{
	size_t i;

	if (!a)
		return;
	for (i = 0; i < a->n; i++) {
		free(a->v[i].var);
		mm_list_free(&a->v[i].hosts);
	}
	free(a->v);
	free(a);
}

const struct mm_list *mm_auth_hosts(const struct mm_auth *a, const char *var)
{
	const struct binding *b = a && var ? find(a, var) : NULL;

	return b && b->hosts.n ? &b->hosts : NULL;
}

static void say(char *why, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t n, const char *fmt, ...)
{
	va_list ap;

	if (!why || !n)
		return;
	va_start(ap, fmt);
	vsnprintf(why, n, fmt, ap);
	va_end(ap);
}

enum mm_auth_verdict mm_auth_check(const struct mm_auth *a, const char *var, const char *url,
				   char *why, size_t whysz)
{
	struct mm_auth *dflt = NULL;
	const struct mm_list *hosts;
	char *scheme = NULL, *host = NULL;
	enum mm_auth_verdict v = MM_AUTH_HOST;
	size_t i;

	if (!a) {
		struct mm_err e;

		if (mm_auth_new(NULL, NULL, 0, &dflt, &e) != 0)
			return MM_AUTH_UNBOUND;
		a = dflt;
	}
	hosts = mm_auth_hosts(a, var);
	if (!hosts) {
		say(why, whysz, "%s is bound to no host, so it is not sent "
		    "(MM_AUTH_HOSTS=\"%s=host\" binds it to a host and its subdomains)",
		    var ? var : "(null)", var ? var : "VAR");
		v = MM_AUTH_UNBOUND;
		goto out;
	}
	if (!url_parts(url, &scheme, &host)) {
		say(why, whysz, "%s is not sent: the URL has no host that can be parsed", var);
		v = MM_AUTH_BADURL;
		goto out;
	}
	for (i = 0; i < hosts->n; i++)
		if (mm_auth_host_match(host, hosts->v[i]))
			break;
	if (i == hosts->n) {
		char list[200];
		size_t k = 0;

		list[0] = '\0';
		for (i = 0; i < hosts->n && k + 1 < sizeof(list); i++) {
			int w = snprintf(list + k, sizeof(list) - k, "%s%s", i ? ", " : "", hosts->v[i]);

			if (w < 0 || (size_t)w >= sizeof(list) - k) {
				snprintf(list + k, sizeof(list) - k, ", ...");
				break;
			}
			k += (size_t)w;
		}
		say(why, whysz, "%s is not sent to '%.100s': it is bound to %s "
		    "(MM_AUTH_HOSTS binds a variable to other hosts)", var, host, list);
		v = MM_AUTH_HOST;
		goto out;
	}
	if (strcmp(scheme, "https") != 0 && !a->allow_http) {
		say(why, whysz, "%s is not sent over plain http (to '%.100s'): tokens go over https only; "
		    "MM_ALLOW_HTTP_AUTH=1 allows http", var, host);
		v = MM_AUTH_HTTP;
		goto out;
	}
	v = MM_AUTH_OK;
out:
	free(scheme);
	free(host);
	mm_auth_free(dflt);
	return v;
}

const char *mm_auth_guess(const char *url)
{
	char *scheme, *host;
	const char *var = NULL;
	size_t i, k;

	if (!url_parts(url, &scheme, &host))
		return NULL;
	for (i = 0; !var && i < sizeof(builtin) / sizeof(builtin[0]); i++)
		for (k = 0; !var && builtin[i].hosts[k]; k++)
			if (mm_auth_host_match(host, builtin[i].hosts[k]))
				var = builtin[i].var;
	free(scheme);
	free(host);
	return var;
}
