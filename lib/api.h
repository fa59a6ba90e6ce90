/*
 * api.h — the EmProps API client and model discovery.
 *
 * Answers come in an envelope {"data": …, "error": null}.  Every good answer
 * is cached under <state>/api/; when the API is down (connection trouble,
 * 5xx, 429, a timeout) the cached answer is used with a warning, and with no
 * cache the request fails with MM_EUNAVAIL.  In offline mode only the cache
 * is read.
 *
 * Discovery turns workflow names, collection ids and legacy component names
 * into a manifest: workflows are fetched, collections expand into their
 * workflows, model names are resolved to model objects, and every model is
 * tagged with who asked for it ("workflow:x", "collection:id/workflow:x",
 * "component:x").  Requests of one round run concurrently.
 */
#ifndef MM_API_H
#define MM_API_H

#include <cjson/cJSON.h>

#include "config.h"
#include "manifest.h"
#include "mm.h"
#include "state.h"

/* Answers larger than this are refused as bad input. */
#define MM_API_MAX_ANSWER (16L << 20)

struct mm_api {
	const char *base;       /* API base URL, no trailing slash needed; NULL offline */
	const char *state_dir;  /* answers are cached in <state_dir>/api */
	int offline;            /* read the cache only */
	int parallel;           /* requests at once; 0: 8 */
	long timeout;           /* seconds per request; 0: 30 */
	int attempts;           /* tries per request when the API is down; 0: 3 */
	int from_cache;         /* out: answers served from the cache */
	struct mm_state state;  /* internal: state_dir, open during mm_discover() */
};

/* What was asked for. */
struct mm_discover_req {
	struct mm_list workflows;
	struct mm_list collections;
	struct mm_list components;
	int components_as_workflows;  /* MIGRATE_TO_WORKFLOWS */
};

/*
 * Ask the API and build the manifest.  Errors: MM_EINPUT for an unknown
 * workflow or collection or an answer that makes no sense (the message
 * names it), MM_EUNAVAIL when the API cannot be reached and nothing is
 * cached.  A manifest that breaks the schema is MM_EINPUT with *out set and
 * its problems listed, as mm_manifest_from_json.
 */
int mm_discover(struct mm_api *api, const struct mm_discover_req *req,
		struct mm_manifest **out, struct mm_err *err);

/*
 * The percent-escaped form of a name used both in request paths and cache
 * file names: letters, digits, '-', '_', '~' and '.' stay, everything else
 * (slashes included) becomes %XX, and so do the dots of a name made only
 * of dots, which would otherwise be a path step.  Caller frees.
 */
char *mm_api_escape(const char *name);

#endif
