/* modeltype.c — deployed model spellings, ComfyUI model folders, name guesses. */
#include "modeltype.h"
#include "config.h"
#include "manifest.h"
#include "mm.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * ComfyUI's model folders (folder_paths.py) and the type names that mean
 * them.  A type that is a folder's own name means that folder too.
 */
static const struct {
	const char *type, *folder;
} folders[] = {
	{"checkpoint", "checkpoints"},
	{"ckpt", "checkpoints"},
	{"diffusion", "diffusion_models"},
	{"diffusion_model", "diffusion_models"},
	{"unet", "unet"},
	{"vae", "vae"},
	{"lora", "loras"},
	{"clip", "clip"},
	{"text_encoder", "text_encoders"},
	{"clip_vision", "clip_vision"},
	{"controlnet", "controlnet"},
	{"upscale", "upscale_models"},
	{"upscaler", "upscale_models"},
	{"upscale_model", "upscale_models"},
	{"embedding", "embeddings"},
	{"textual_inversion", "embeddings"},
	{"ipadapter", "ipadapter"},
	{"ip_adapter", "ipadapter"},
	{"style_model", "style_models"},
	{"hypernetwork", "hypernetworks"},
	{"photomaker", "photomaker"},
	{"gligen", "gligen"},
	{"vae_approx", "vae_approx"},
	{"taesd", "vae_approx"},
};

const char *mm_modeltype_folder(const char *type)
{
	char t[64];
	size_t i, n;

	if (!type || !*type || strlen(type) >= sizeof(t))
		return NULL;
	for (n = 0; type[n]; n++)
		t[n] = type[n] == '-' || type[n] == ' ' ? '_' : (char)tolower((unsigned char)type[n]);
	t[n] = '\0';
	for (i = 0; i < sizeof(folders) / sizeof(folders[0]); i++)
		if (strcmp(t, folders[i].type) == 0 || strcmp(t, folders[i].folder) == 0)
			return folders[i].folder;
	return NULL;
}

const char *mm_modeltype_guess(const char *name)
{
	/* In this order, as the deployed component manager tries them. */
	static const struct {
		const char *part, *folder;
	} guesses[] = {
		{"vae", "vae"},
		{"clip", "clip"},
		{"t5xxl", "clip"},
		{"controlnet", "controlnet"},
		{"upscale", "upscale_models"},
		{"esrgan", "upscale_models"},
		{"lora", "loras"},
		{"embedding", "embeddings"},
	};
	size_t i;

	for (i = 0; name && i < sizeof(guesses) / sizeof(guesses[0]); i++)
		if (strcasestr(name, guesses[i].part))
			return guesses[i].folder;
	return "checkpoints";
}

const char *mm_auth_provider_env(const char *provider)
{
	if (!provider)
		return NULL;
	if (!strcasecmp(provider, "huggingface") || !strcasecmp(provider, "hf"))
		return "HF_TOKEN";
	if (!strcasecmp(provider, "civitai"))
		return "CIVITAI_TOKEN";
	return NULL;
}

char *mm_hf_url(const char *endpoint, const char *repo, const char *name)
{
	size_t n;

	if (!endpoint || !*endpoint)
		endpoint = "https://huggingface.co";
	n = strlen(endpoint);
	while (n > 0 && endpoint[n - 1] == '/')
		n--;
	return mm_xasprintf("%.*s/%s/resolve/main/%s", (int)n, endpoint, repo, name);
}

static int nonempty_string(const cJSON *v)
{
	return cJSON_IsString(v) && v->valuestring && *v->valuestring;
}

int mm_model_has_source(const cJSON *o)
{
	static const char *const keys[] = {"downloadUrl", "download_url", "url", "huggingface_id"};
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (nonempty_string(cJSON_GetObjectItemCaseSensitive(o, keys[i])))
			return 1;
	return 0;
}

struct rep {
	const char *label;
	void (*report)(void *ctx, const char *msg);
	void *ctx;
	int n;
};

static void say(struct rep *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct rep *r, const char *fmt, ...)
{
	char msg[600], full[1000];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "%s: %s", r->label, msg);
	r->report(r->ctx, full);
	r->n++;
}

static void put(cJSON *o, const char *key, cJSON *v)
{
	if (cJSON_GetObjectItemCaseSensitive(o, key))
		cJSON_ReplaceItemInObjectCaseSensitive(o, key, v);
	else
		cJSON_AddItemToObject(o, key, v);
}

static const char *get_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return nonempty_string(v) ? v->valuestring : NULL;
}

/* save_path is relative to MM_ROOT/models; a trailing '/' is a folder. */
static void save_path(cJSON *o, struct rep *r)
{
	cJSON *sp = cJSON_GetObjectItemCaseSensitive(o, "save_path");
	const char *to = get_str(o, "saveTo"), *name = get_str(o, "name"), *p;
	char *want;

	if (!sp)
		return;
	if (cJSON_IsNull(sp)) {
		cJSON_DeleteItemFromObjectCaseSensitive(o, "save_path");
		return;
	}
	if (!nonempty_string(sp)) {
		say(r, "save_path must be a non-empty string");
		return;
	}
	p = sp->valuestring;
	if (p[strlen(p) - 1] == '/' && name)
		want = mm_xasprintf("models/%s%s", p, name);
	else
		want = mm_xasprintf("models/%s", p);
	if (to && strcmp(to, want) != 0)
		say(r, "saveTo '%.200s' and save_path '%.200s' (%.200s) disagree", to, p, want);
	else if (!to)
		put(o, "saveTo", cJSON_CreateString(want));
	free(want);
	cJSON_DeleteItemFromObjectCaseSensitive(o, "save_path");
}

/* A number of bytes, or a size string: bytes, or -1. */
static long long as_bytes(const cJSON *v)
{
	if (cJSON_IsNumber(v))
		return v->valuedouble >= 0 && v->valuedouble <= 9007199254740992.0 &&
		       v->valuedouble == floor(v->valuedouble) ? (long long)v->valuedouble : -1;
	if (cJSON_IsString(v))
		return mm_parse_size(v->valuestring);
	return -1;
}

/* Rounded sizes agree within 10% (or 1 MiB). */
static int roughly(long long a, long long b)
{
	long long d = a > b ? a - b : b - a, big = a > b ? a : b;

	return d <= (1LL << 20) || d * 10 <= big;
}

/* size (bytes) and file_size_gb become sizeBytes and fileSize. */
static void sizes(cJSON *o, struct rep *r)
{
	cJSON *sz = cJSON_GetObjectItemCaseSensitive(o, "size");
	cJSON *gb = cJSON_GetObjectItemCaseSensitive(o, "file_size_gb");
	cJSON *sb = cJSON_GetObjectItemCaseSensitive(o, "sizeBytes");
	cJSON *fs = cJSON_GetObjectItemCaseSensitive(o, "fileSize");
	long long exact = -1, rough = -1, v;

	/* What is known already: exact byte counts and rounded sizes. */
	if (sb && !cJSON_IsNull(sb))
		exact = as_bytes(sb);
	if (fs && !cJSON_IsNull(fs)) {
		if (cJSON_IsNumber(fs) && exact < 0)
			exact = as_bytes(fs);
		else if (cJSON_IsString(fs))
			rough = as_bytes(fs);
	}
	if (sz && !cJSON_IsNull(sz)) {
		int is_exact = cJSON_IsNumber(sz);

		v = as_bytes(sz);
		if (v < 0) {
			say(r, "size is not a number of bytes");
			return;
		}
		if (exact >= 0 && (is_exact ? v != exact : !roughly(v, exact))) {
			say(r, "size %lld and sizeBytes %lld disagree", v, exact);
			return;
		}
		if (rough >= 0 && !roughly(v, rough)) {
			say(r, "size %lld and fileSize '%.64s' disagree", v, fs->valuestring);
			return;
		}
		if (is_exact && exact < 0)
			put(o, "sizeBytes", cJSON_CreateNumber((double)(exact = v)));
		else if (!is_exact && rough < 0 && exact < 0)
			put(o, "fileSize", cJSON_Duplicate(sz, 1));
		if (!is_exact && rough < 0)
			rough = v;
	}
	if (sz)
		cJSON_DeleteItemFromObjectCaseSensitive(o, "size");
	if (gb && !cJSON_IsNull(gb)) {
		double g = cJSON_IsNumber(gb) ? gb->valuedouble : -1;

		if (!(g >= 0 && g < 8.0e6)) {
			say(r, "file_size_gb must be a number");
			return;
		}
		v = (long long)(g * 1073741824.0);
		if (exact >= 0 && !roughly(v, exact)) {
			say(r, "file_size_gb %g and a size of %lld bytes disagree", g, exact);
			return;
		}
		if (rough >= 0 && !roughly(v, rough)) {
			say(r, "file_size_gb %g and a size of %lld bytes disagree", g, rough);
			return;
		}
		if (rough < 0 && exact < 0 && !cJSON_GetObjectItemCaseSensitive(o, "fileSize")) {
			char buf[64];

			snprintf(buf, sizeof(buf), "%gGB", g);
			put(o, "fileSize", cJSON_CreateString(buf));
		}
	}
	if (gb)
		cJSON_DeleteItemFromObjectCaseSensitive(o, "file_size_gb");
}

/* auth_provider names the token variable: authEnvVar. */
static void auth_provider(cJSON *o, struct rep *r)
{
	cJSON *ap = cJSON_GetObjectItemCaseSensitive(o, "auth_provider");
	const char *env = get_str(o, "authEnvVar"), *want;

	if (!ap)
		return;
	if (!cJSON_IsNull(ap)) {
		if (!cJSON_IsString(ap)) {
			say(r, "auth_provider must be a string or null");
			return;
		}
		want = mm_auth_provider_env(ap->valuestring);
		if (!want && !env) {
			say(r, "auth_provider '%.64s' is not one mm knows (huggingface, civitai): give authEnvVar",
			    ap->valuestring);
			return;
		}
		if (want && env && strcmp(want, env) != 0) {
			say(r, "auth_provider '%.64s' (%s) and authEnvVar '%.64s' disagree",
			    ap->valuestring, want, env);
			return;
		}
		if (want && !env)
			put(o, "authEnvVar", cJSON_CreateString(want));
	}
	cJSON_DeleteItemFromObjectCaseSensitive(o, "auth_provider");
}

/* API answers: a URL from huggingface_id, a saveTo from type or name. */
static void derive(cJSON *o, struct rep *r)
{
	const char *name = get_str(o, "name"), *repo = get_str(o, "huggingface_id");
	const char *folder;
	cJSON *t;

	if (!name)
		return;
	if (!get_str(o, "downloadUrl") && repo) {
		char *u = mm_hf_url(mm_config_hf_endpoint(), repo, name);

		put(o, "downloadUrl", cJSON_CreateString(u));
		free(u);
		/* The hub gates many repositories: HF_TOKEN is its token. */
		if (!cJSON_GetObjectItemCaseSensitive(o, "isAuthReq"))
			put(o, "isAuthReq", cJSON_CreateTrue());
		if (!get_str(o, "authEnvVar"))
			put(o, "authEnvVar", cJSON_CreateString("HF_TOKEN"));
	}
	if (cJSON_GetObjectItemCaseSensitive(o, "saveTo"))
		return;
	t = cJSON_GetObjectItemCaseSensitive(o, "type");
	if (t && !cJSON_IsNull(t) && !cJSON_IsString(t)) {
		say(r, "type must be a string");
		return;
	}
	folder = mm_modeltype_folder(cJSON_IsString(t) ? t->valuestring : NULL);
	if (!folder) {
		folder = mm_modeltype_guess(name);
		put(o, "saveToGuessed", cJSON_CreateTrue());
	}
	{
		char *to = mm_xasprintf("models/%s/%s", folder, name);

		put(o, "saveTo", cJSON_CreateString(to));
		free(to);
	}
}

int mm_model_spellings(cJSON *o, const char *label, int flags,
		       void (*report)(void *ctx, const char *msg), void *ctx)
{
	struct rep r = {label, report, ctx, 0};

	if (!cJSON_IsObject(o))
		return 0;
	save_path(o, &r);
	sizes(o, &r);
	auth_provider(o, &r);
	if (flags & MM_SPELL_DERIVE)
		derive(o, &r);
	return r.n;
}
