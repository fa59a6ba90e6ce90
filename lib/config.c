/* config.c — environment settings and name lists. */
#include "config.h"
#include "auth.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *mm_env(const char *name, const char *alias)
{
	const char *v = getenv(name);

	if (v && *v)
		return v;
	if (alias) {
		v = getenv(alias);
		if (v && *v)
			return v;
	}
	return NULL;
}

const char *mm_env_raw(const char *name)
{
	return getenv(name);
}

int mm_env_long(const char *name, long min, long max, long *out, struct mm_err *err)
{
	const char *v = mm_env(name, NULL);

	if (!v)
		return 0;
	if (mm_parse_long(v, min, max, out) < 0)
		return mm_error(err, MM_EUSAGE, "%s must be a whole number from %ld to %ld, not '%s'",
				name, min, max, v);
	return 0;
}

int mm_env_seconds(const char *name, double min, double max, double *out, struct mm_err *err)
{
	const char *v = mm_env(name, NULL);

	if (!v)
		return 0;
	if (mm_parse_double(v, min, max, out) < 0)
		return mm_error(err, MM_EUSAGE, "%s: not a number of seconds: '%s'", name, v);
	return 0;
}

int mm_env_bool(const char *name)
{
	const char *v = mm_env(name, NULL);

	return v && (!strcasecmp(v, "1") || !strcasecmp(v, "true") ||
		     !strcasecmp(v, "yes") || !strcasecmp(v, "on"));
}

int mm_config_peers(struct mm_err *err)
{
	const char *v = mm_env("MM_PEERS", NULL);

	if (!v || !strcasecmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
	    !strcasecmp(v, "on"))
		return mm_config_redis_url() ? 1 : 0;
	if (!strcasecmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off"))
		return 0;
	mm_error(err, MM_EUSAGE, "MM_PEERS takes 1 or 0 (on or off), not '%.40s'", v);
	return -1;
}

int mm_config_peer_wait(double *out, struct mm_err *err)
{
	*out = MM_PEER_WAIT_DEFAULT;
	return mm_env_seconds("MM_PEER_WAIT", 0, 86400, out, err);
}

int mm_config_serving(void)
{
	const char *v = mm_env("MM_SERVE", NULL);

	/* The entrypoint's own test: it starts mm-serve for "1" alone. */
	return mm_env("MM_SERVE_URL", NULL) != NULL || (v && strcmp(v, "1") == 0);
}

const char *mm_config_root(void)
{
	const char *r = mm_env("MM_ROOT", "COMFYUI_PATH");

	return r ? r : "/workspace/ComfyUI";
}

char *mm_config_state_dir(const char *root)
{
	const char *s = mm_env("MM_STATE_DIR", NULL);

	if (s)
		return mm_xstrdup(s);
	return mm_xasprintf("%s/.mm", root);
}

const char *mm_config_redis_url(void)
{
	return mm_env("REDIS_URL", NULL);
}

const char *mm_config_ca_bundle(void)
{
	return mm_env("CURL_CA_BUNDLE", "SSL_CERT_FILE");
}

const char *mm_config_hf_endpoint(void)
{
	return mm_env("HF_ENDPOINT", NULL);
}

int mm_config_auth(struct mm_auth **out, struct mm_err *err)
{
	int rc = mm_auth_new(mm_env("MM_AUTH_HOSTS", NULL), mm_config_hf_endpoint(),
			     mm_env_bool("MM_ALLOW_HTTP_AUTH"), out, err);

	if (rc == 0 && (rc = mm_auth_bind_url(*out, "CIVITAI_TOKEN", mm_env("CIVITAI_ENDPOINT", NULL),
					      "CIVITAI_ENDPOINT", err)) != 0) {
		mm_auth_free(*out);
		*out = NULL;
	}
	return rc;
}

int mm_list_has(const struct mm_list *l, const char *s)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return 1;
	return 0;
}

void mm_list_push(struct mm_list *l, const char *item)
{
	if (mm_list_has(l, item))
		return;
	l->v = mm_xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = mm_xstrdup(item);
}

void mm_list_add(struct mm_list *l, const char *csv)
{
	const char *p = csv, *end;

	if (!csv)
		return;
	while (*p) {
		const char *s, *e;
		char *item;

		end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		s = p;
		e = end;
		while (s < e && isspace((unsigned char)*s))
			s++;
		while (e > s && isspace((unsigned char)e[-1]))
			e--;
		if (e > s) {
			item = mm_xstrndup(s, (size_t)(e - s));
			mm_list_push(l, item);
			free(item);
		}
		p = *end ? end + 1 : end;
	}
}

void mm_list_free(struct mm_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}
