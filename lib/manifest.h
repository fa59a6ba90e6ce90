/*
 * manifest.h — the manifest every tool reads and writes (mm-manifest(5)).
 *
 * A manifest is kept as the cJSON tree it was read from, so keys this code
 * does not know pass through untouched, plus an array of parsed views of its
 * models.  Parsing also normalises: snake_case keys become camelCase,
 * `sizeBytes` is derived from `fileSize`, `sources` from `source`, and
 * entries wanted twice for one saveTo are merged.
 *
 * Ownership: mm_manifest_* functions that return a manifest hand it to the
 * caller, who frees it with mm_manifest_free().  The strings in struct
 * mm_model are borrowed from the tree and live as long as the manifest.
 */
#ifndef MM_MANIFEST_H
#define MM_MANIFEST_H

#include <stdio.h>
#include <cjson/cJSON.h>

#include "mm.h"
#include "size.h"

struct mm_model {
	cJSON *obj;             /* this model's object in the tree */
	size_t index;           /* position in "models" after merging */
	const char *name;
	const char *url;        /* downloadUrl, or NULL */
	const char *save_to;
	const char *hash;       /* as given, or NULL */
	const char *auth_env;   /* authEnvVar when isAuthReq, or NULL */
	int auth_req;
	long long size;         /* sizeBytes, or -1 when unknown */
	long long size_tol;     /* 0: size is exact; else a rounded hint's slack (size.h) */
};

struct mm_manifest {
	cJSON *root;
	struct mm_model *models;
	size_t n;
	char **problems;        /* every schema problem found, in order */
	size_t nproblems;
};

/* Flags for parsing. */
enum {
	MM_MANIFEST_NEED_URL = 1 << 0,  /* every model must have a downloadUrl */
	MM_MANIFEST_FROM_API = 1 << 1,  /* an API answer: derive a missing URL and
					 * saveTo (modeltype.h) */
};

/* The largest manifest read from a file or stdin. */
#define MM_MANIFEST_MAX (256L << 20)

/*
 * Parse and normalise a manifest from text.  Malformed JSON is MM_EINPUT
 * with "line L, column C: ..." and *out NULL.  A manifest that breaks the
 * schema is MM_EINPUT with *out set and every problem in (*out)->problems,
 * err->msg holding the first; callers that only need the verdict free it.
 * origin names the input in messages ("<stdin>", a file name).
 */
int mm_manifest_parse(const char *text, size_t len, const char *origin, int flags,
		      struct mm_manifest **out, struct mm_err *err);

/* As mm_manifest_parse, taking ownership of an already built tree. */
int mm_manifest_from_json(cJSON *root, int flags, struct mm_manifest **out,
			  struct mm_err *err);

/*
 * Read all of path ("-" or NULL: stdin) into *text (NUL-terminated, the
 * caller's to free; *len bytes, 0 for an empty input).  A file that is not
 * there is MM_EUSAGE ("cannot open 'x'"); one that cannot be read, or is
 * larger than MM_MANIFEST_MAX, MM_EINPUT.
 */
int mm_manifest_read(const char *path, char **text, size_t *len, struct mm_err *err);

/* mm_manifest_read, then parse it; an empty input is MM_EINPUT. */
int mm_manifest_load(const char *path, int flags, struct mm_manifest **out,
		     struct mm_err *err);

void mm_manifest_free(struct mm_manifest *m);

/*
 * Log why a manifest was refused: every schema problem of m (which may be
 * NULL), with a count when there are several, or else err's message.
 */
void mm_manifest_log_problems(const struct mm_manifest *m, const struct mm_err *err);

/*
 * Recompute total_models and total_size_gb and return the manifest as
 * indented JSON with a final newline.  Caller frees.
 */
char *mm_manifest_print(struct mm_manifest *m);

/* Print to f and check the write; MM_EFAIL with a message when it failed. */
int mm_manifest_write(struct mm_manifest *m, FILE *f, struct mm_err *err);

/*
 * Replace model's stage object ("fetch", "verify") with a new empty object
 * and return it (borrowed) for the caller to fill.
 */
cJSON *mm_model_stage(struct mm_model *model, const char *stage);

/* The stage object's "status" string, or NULL. */
const char *mm_model_stage_status(const struct mm_model *model, const char *stage);

/*
 * Validate text as JSON-ready UTF-8 with no NUL byte, no escaped NUL
 * (\u0000) inside a string and no raw control character inside a string.
 * Returns 0, or -1 and the byte offset of the first problem in *at with a
 * reason in why.
 */
int mm_json_text_check(const char *text, size_t len, size_t *at, char *why, size_t whysz);

/*
 * Find every key given twice in one object, anywhere in v (JSON leaves the
 * meaning of a repeated key open: cJSON reads the first, jq and Python the
 * last).  found(arg, where, key) is called for each, at most max times;
 * where is the object's path ("" for v itself, "models[3]", "a.b").  Returns
 * how many were found (at most max).  Time n log n or better in v's size.
 */
size_t mm_json_dup_keys(const cJSON *v, size_t max,
			void (*found)(void *arg, const char *where, const char *key), void *arg);

/*
 * The state directory no saveTo may name (mm_path_reserved), for commands
 * whose --state-dir overrides MM_STATE_DIR.  Until it is called, parsing
 * uses MM_ROOT and MM_STATE_DIR from the environment.  Copies both.
 */
void mm_manifest_set_state_dir(const char *root, const char *state_dir);

#endif
