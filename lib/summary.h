/*
 * summary.h — what a run came to, counted once from its manifest: how many
 * models hold each "fetch" and each "verify" status (fetch.h, verify.h), the
 * bytes downloaded, what proved the downloads, and the models that are not
 * ready, each with why.  mm-fetch's closing line counts with it, and
 * mm-verify --summary writes it for mm-entrypoint, which reads it without
 * parsing JSON.
 *
 * A model is ready when its verify status says the file is there and right
 * ("ok", or "unverified": no hash to check), or, without a verify object,
 * when its fetch status is "present" or "downloaded" (the rule the
 * inventory follows, inventory.h).  Why one is not: its fetch error when
 * the fetch failed (it says why the file is missing), else its verify
 * status and error, else that it was neither fetched nor verified.
 *
 * Ownership: a struct mm_summary owns its copies of the failed models'
 * saveTo and reasons; mm_summary_free() frees them.  It does not refer to
 * the manifest it was counted from.
 */
#ifndef MM_SUMMARY_H
#define MM_SUMMARY_H

#include <stddef.h>

#include "fetch.h"
#include "manifest.h"
#include "upstream.h"
#include "verify.h"

struct mm_summary_failure {
	char *save_to;
	char *why;              /* "fetch failed: <error>", "verify mismatch: <error>", ... */
};

struct mm_summary {
	size_t models;
	size_t fetch[MM_FETCH_NSTATUS];         /* models by fetch status */
	size_t verify[MM_VERIFY_NSTATUS];       /* models by verify status */
	size_t cached;                          /* "ok" from the verified cache */
	size_t proved[MM_SRC_COMPUTED + 1];     /* downloads by what proved them (hashSource);
	                                           MM_SRC_NONE: none stated (a linked twin) */
	long long bytes;                        /* the downloads' bytes (fetch.bytes) */
	size_t nfailed;                         /* models not ready */
	struct mm_summary_failure *failed;      /* nfailed of them, in manifest order */
};

/* Count m into s (which the call initialises). */
void mm_summary_count(const struct mm_manifest *m, struct mm_summary *s);

/* The fetch statuses a model failed with: failed, unreachable, unauthorized. */
size_t mm_summary_fetch_failed(const struct mm_summary *s);

/*
 * s as lines for a shell's `read -r key value` (mm-verify(1), --summary):
 * the counts as "fetch.<status> N", "verify.<status> N", "cached N",
 * "bytes N", "failed N", then the lines mm-entrypoint shows:
 * "totals P present, D downloaded (SIZE, RATE/s), F failed" (the size and
 * rate only when bytes were downloaded, the rate only when fetch_seconds >
 * 0), "verify N ok (N from the verified cache), N without a hash", and one
 * "FAILED <saveTo>: <why>" per model not ready.  Sizes in size.h's one
 * spelling; saveTo and reasons through mm_visible(), so each stays one
 * line.  Caller frees.
 */
char *mm_summary_text(const struct mm_summary *s, double fetch_seconds);

void mm_summary_free(struct mm_summary *s);

#endif
