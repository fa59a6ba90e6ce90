/*
 * digests.h — the sha256 each saveTo was proved by, kept across runs.
 *
 * mm-fetch proves a download by the manifest's hash, by the sha256 its
 * origin publishes (upstream.h), or, with neither, only computes a sha256
 * while it streams.  The manifest's hash comes back with every manifest;
 * the other two would live only in that run's "fetch" object, and the next
 * boot's manifest comes fresh from mm-discover without one.  So mm-fetch
 * keeps them in MM_STATE_DIR/digests (state.h), one line per saveTo:
 *
 *     mm-digests 1
 *     <sha256> <source> <size> <saveTo>
 *
 * sha256 is 64 lowercase hex digits; source is huggingface, civitai or
 * computed (a sha256 the manifest proved needs no record); size is the
 * file's length in bytes; saveTo runs to the end of the line and obeys the
 * manifest's rule (paths.h).  Lines are sorted by saveTo.
 *
 * Who writes it: mm-fetch, after a download is proved and renamed into
 * place (its record replaces the saveTo's old one; a download the manifest
 * proved drops it).
 * Who reads it: mm-verify, and mm-fetch's --verify-present, for a model
 * whose manifest gives no hash and whose "fetch" object no sha256
 * (mm_digests_expected()).  The manifest's hash always wins over a record,
 * and a record whose size does not fit the manifest's size is ignored.
 *
 * Trust.  The file lives in the state directory, which only the user mm
 * runs as can write (state.h refuses any other); so a record can make a
 * file pass only for that user, who could as well write the file itself.
 * A co-tenant who can write MM_ROOT (ComfyUI's custom nodes) cannot write
 * the record, and a model file they change is a mismatch.  The file is
 * read only when it is a regular file owned by that user, not a symlink,
 * at most MM_DIGESTS_MAX bytes, and begins with the header above; a line
 * that breaks the format, and a saveTo named twice with different digests,
 * are skipped.  A bad file is never fatal: its models are "unverified".
 * It is written to an O_EXCL temporary and renamed (mm_state_write()),
 * merged under an flock() of digests.lock so concurrent runs lose nothing.
 *
 * Ownership: mm_digests_open() and mm_digests_load() return a table the
 * caller frees with mm_digests_free() (which does not save).  A NULL table
 * is an empty one to every function.
 */
#ifndef MM_DIGESTS_H
#define MM_DIGESTS_H

#include "hash.h"
#include "mm.h"
#include "state.h"
#include "upstream.h"

#define MM_DIGESTS_FILE MM_STATE_DIGESTS
#define MM_DIGESTS_MAX (64L << 20)

struct mm_digests;
struct mm_model;

/*
 * Read the record file of the open state directory state (the table keeps
 * its own descriptor of it).  A missing or unreadable file is an empty
 * table; NULL with err set only when state is not open.
 */
struct mm_digests *mm_digests_open(const struct mm_state *state, struct mm_err *err);

/*
 * As mm_digests_open(), opening the state directory at state_dir (never
 * creating it) by the rule of state.h.  NULL with err set when it is
 * refused (MM_EUSAGE) or cannot be opened; NULL with err->code 0 when
 * state_dir is NULL or does not exist.
 */
struct mm_digests *mm_digests_load(const char *state_dir, struct mm_err *err);

/*
 * The record of save_to: 1 and sha (64 hex), *src and *size filled, or 0
 * when there is none.  src and size may be NULL.
 */
int mm_digests_find(const struct mm_digests *d, const char *save_to, char sha[MM_HASH_HEXMAX + 1],
		    enum mm_hash_source *src, long long *size);

/*
 * The digest model m is checked against, into spec, and its source: as
 * mm_upstream_expected() (the manifest, then its "fetch" object); when
 * that finds none, the record of its saveTo if its size fits the
 * manifest's.  MM_SRC_NONE when there is none.
 */
enum mm_hash_source mm_digests_expected(const struct mm_digests *d, const struct mm_model *m,
					struct mm_hash_spec *spec);

/*
 * Set save_to's record (sha 64 hex; src huggingface, civitai or computed;
 * size in bytes), or drop it (sha NULL).  Nothing reaches disk until
 * mm_digests_save().  Not thread-safe.
 */
void mm_digests_set(struct mm_digests *d, const char *save_to, const char *sha,
		    enum mm_hash_source src, long long size);

/* Merge this run's changes into the record file, if any.  0 or MM_EFAIL. */
int mm_digests_save(struct mm_digests *d, struct mm_err *err);

/* Number of records held (tests). */
size_t mm_digests_count(const struct mm_digests *d);

void mm_digests_free(struct mm_digests *d);

#endif
