/*
 * upstream.h — the sha256 a model's origin publishes, where the manifest
 * gives none (or only a weaker md5 or AutoV2).
 *
 * Hugging Face.  A resolve URL of an LFS file answers, on the hub's own hop
 * and before its redirect to the CDN or the Xet bridge, with
 * `X-Linked-Etag: "<64 hex>"`: the sha256 of the content.  It counts only
 * from a hop whose host is exactly huggingface.co or hf.co over https, or
 * exactly HF_ENDPOINT's host; never from a CDN hop (cdn-lfs.hf.co,
 * cas-bridge.xethub.hf.co and the like are subdomains, and do not count),
 * never a 40-hex value (a git blob's sha1 on a small file), never
 * X-Xet-Hash (not a sha256).  mm learns it from the headers its probe or
 * its download already sees: no extra request.
 *
 * Civitai.  https://civitai.com/api/download/models/<versionId>[?type=&format=]
 * (or CIVITAI_ENDPOINT's) redirects to a presigned R2 URL; the version's
 * files and their hashes are at <base>/api/v1/model-versions/<versionId>.
 * The file the download URL selects (its type, format, size and fp, else the
 * one marked primary) gives files[].hashes.SHA256.  One request per version
 * and run; a good answer is kept in MM_STATE_DIR/civitai/ and used from
 * there next time (a published version's files do not change).
 * CIVITAI_TOKEN goes with it only where auth.h allows.
 *
 * lib/ only: nothing here prints.  Messages never hold a token.
 */
#ifndef MM_UPSTREAM_H
#define MM_UPSTREAM_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "auth.h"
#include "hash.h"
#include "mm.h"

/* Where a model's digest came from: the verify object's "hashSource". */
enum mm_hash_source {
	MM_SRC_NONE = 0,
	MM_SRC_MANIFEST,
	MM_SRC_HUGGINGFACE,
	MM_SRC_CIVITAI,
	MM_SRC_COMPUTED,
};

/* "manifest", "huggingface", "civitai", "computed"; "none". */
const char *mm_hash_source_name(enum mm_hash_source s);
/* The inverse, exact; MM_SRC_NONE when unknown. */
enum mm_hash_source mm_hash_source_from_name(const char *name);

/*
 * The digest a model is checked against, into spec, and where it came from:
 * the manifest's sha256; else the sha256 its "fetch" object holds from the
 * origin (huggingface, civitai); else the manifest's weaker hash; else the
 * sha256 mm-fetch computed ("computed").  MM_SRC_NONE (spec algo NONE) when
 * there is none.
 */
struct mm_model;
enum mm_hash_source mm_upstream_expected(const struct mm_model *m, struct mm_hash_spec *spec);

struct mm_upstream {
	const char *hf_endpoint;        /* HF_ENDPOINT, or NULL */
	const char *civitai_endpoint;   /* CIVITAI_ENDPOINT, or NULL: https://civitai.com */
	const struct mm_auth *auth;     /* where CIVITAI_TOKEN may go; NULL: built-in */
	const char *state_dir;          /* cache; NULL: none */
	const char *civitai_token;      /* CIVITAI_TOKEN's value, or NULL */
};

/*
 * The sha256 (lowercase, 64 digits) in an X-Linked-Etag header value seen on
 * the hop whose URL is hop_url: 1 and sha filled when it counts (above),
 * else 0.
 */
int mm_upstream_hf_digest(const struct mm_upstream *u, const char *hop_url, const char *value,
			  char sha[MM_HASH_HEXMAX + 1]);

/* What a Civitai download URL names. */
struct mm_civitai_ref {
	char id[24];            /* the version id, digits */
	char type[32], format[32], size[16], fp[16];   /* query, or empty */
};

/*
 * 1 when url is a download URL of civitai.com (or CIVITAI_ENDPOINT's host
 * and port): <base>/api/download/models/<digits>; ref filled.  Else 0.
 */
int mm_upstream_civitai_ref(const struct mm_upstream *u, const char *url, struct mm_civitai_ref *ref);

/*
 * The file of a model-versions answer that ref selects, and its SHA256
 * (lowercase) into sha.  Returns 0; MM_EINPUT with a message when the answer
 * has no files, none matches, or the chosen one has no 64-hex SHA256.
 * *name (may be NULL) is borrowed from version.
 */
int mm_upstream_civitai_pick(const cJSON *version, const struct mm_civitai_ref *ref,
			     char sha[MM_HASH_HEXMAX + 1], const char **name, struct mm_err *err);

/* One Civitai lookup of mm_upstream_civitai(). */
struct mm_upstream_q {
	const char *url;                /* in: the model's downloadUrl */
	int civitai;                    /* out: it is a Civitai download URL */
	char sha256[MM_HASH_HEXMAX + 1];/* out: empty when not found */
	char error[300];                /* out: why not, for a Civitai URL */
};

/*
 * For every q that is a Civitai download URL, the SHA256 of the file it
 * selects: one request per version id (in parallel), from the cache when
 * it holds the version.  Never fails as a whole: each q says what it got.
 */
void mm_upstream_civitai(const struct mm_upstream *u, struct mm_upstream_q *q, size_t n);

#endif
