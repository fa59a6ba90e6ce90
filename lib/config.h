/*
 * config.h — settings from the environment, with the aliases of DESIGN.md.
 *
 * config.c is the only reader of the environment: every other file asks
 * here, so a variable's name, its alias and its default are written once.
 *
 * Precedence is flags over environment over defaults; the commands apply
 * their flags after calling these.  There is no global configuration struct:
 * each command keeps its own options and asks for what it needs.
 */
#ifndef MM_CONFIG_H
#define MM_CONFIG_H

#include "mm.h"

/*
 * The value of the first of name, alias (may be NULL) that is set and
 * non-empty, or NULL.  Borrowed from the environment.
 */
const char *mm_env(const char *name, const char *alias);
/* NAME as set, an empty value included (the caller refuses it); NULL when unset. */
const char *mm_env_raw(const char *name);

/*
 * A whole number from the environment: *out keeps its default when the
 * variable is unset; a value that is not a number in [min, max] is a
 * configuration error (MM_EUSAGE) naming the variable.
 */
int mm_env_long(const char *name, long min, long max, long *out, struct mm_err *err);

/* True for "1", "true", "yes", "on" (any case); false otherwise or unset. */
int mm_env_bool(const char *name);

/*
 * Whether mm-fetch asks fleet peers (sources.h): 1 when REDIS_URL is set and
 * MM_PEERS is unset or on (1, true, yes, on), 0 when either is not; -1 (err:
 * MM_EUSAGE) when MM_PEERS is neither on nor off (0, false, no, off).
 */
int mm_config_peers(struct mm_err *err);

/*
 * MM_PEER_WAIT: how many seconds mm-fetch may wait for a peer that is
 * already downloading a file (sources.h), fractions allowed, 0 never;
 * *out is 600 when it is unset.  MM_EUSAGE for a value that is not a number
 * of seconds from 0 to 86400.
 */
#define MM_PEER_WAIT_DEFAULT 600
int mm_config_peer_wait(double *out, struct mm_err *err);

/*
 * Whether this machine serves its models to peers (mm-serve(8)): MM_SERVE_URL
 * is set, or MM_SERVE is 1 (mm-entrypoint then starts mm-serve).
 */
int mm_config_serving(void);

/* MM_ROOT (alias COMFYUI_PATH), default /workspace/ComfyUI.  Borrowed. */
const char *mm_config_root(void);

/* MM_STATE_DIR, default $root/.mm.  Caller frees. */
char *mm_config_state_dir(const char *root);

/* REDIS_URL, or NULL (redis.h's default address).  Borrowed. */
const char *mm_config_redis_url(void);


/*
 * The CA bundle for HTTPS: CURL_CA_BUNDLE, else SSL_CERT_FILE (as the curl
 * tool reads them; Debian's libcurl ignores SSL_CERT_FILE), or NULL.
 */
const char *mm_config_ca_bundle(void);

/* HF_ENDPOINT: the Hugging Face hub's address, or NULL (huggingface.co). */
const char *mm_config_hf_endpoint(void);

/*
 * Seconds from the environment, fractions allowed: *out keeps its default
 * when the variable is unset; a value not in [min, max] is MM_EUSAGE.
 */
int mm_env_seconds(const char *name, double min, double max, double *out, struct mm_err *err);

/*
 * The token bindings of auth.h from MM_AUTH_HOSTS, HF_ENDPOINT and
 * MM_ALLOW_HTTP_AUTH.  MM_EUSAGE when MM_AUTH_HOSTS or HF_ENDPOINT is
 * malformed.  *out is freed with mm_auth_free().
 */
struct mm_auth;
int mm_config_auth(struct mm_auth **out, struct mm_err *err);

/*
 * A list of names, split at commas, each trimmed of white space, empty items
 * and repeats dropped, order kept.  mm_list_add appends one comma-separated
 * string (may be NULL) to the list.
 */
struct mm_list {
	char **v;
	size_t n;
};
void mm_list_add(struct mm_list *l, const char *csv);
/* Append one item as it is (no splitting), unless it is already there. */
void mm_list_push(struct mm_list *l, const char *item);
int mm_list_has(const struct mm_list *l, const char *s);
void mm_list_free(struct mm_list *l);

#endif
