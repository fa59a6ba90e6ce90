/*
 * verify.h — prove the files of a manifest intact (mm-verify(1)).
 *
 * mm_verify() looks at every model of a manifest under MM_ROOT and sets its
 * "verify" object (DESIGN.md, mm-manifest(5)):
 *
 *   status      "ok"          the digest matches `hash`
 *               "mismatch"    it does not (or, without a hash, the size is wrong)
 *               "missing"     nothing at MM_ROOT/saveTo
 *               "unverified"  no hash to check; the size, where known, is right
 *               "unreadable"  a file is there but could not be read (permissions,
 *                             I/O error, not a regular file, a symlink out of
 *                             MM_ROOT): "could not find out", not "no"
 *   algorithm   "md5" | "sha1" | "sha256" | "autov2", when there is a hash
 *   digest      the computed digest (the full sha256 for AutoV2)
 *   expected    the expected digest, on a mismatch
 *   cached      true when the digest came from the verified cache (vcache.h)
 *   size        the file's size in bytes, when there is a file
 *   error       why, for mismatch and unreadable
 *   quarantined where the file went, relative to MM_STATE_DIR, with --quarantine
 *
 * Sizes, for a model without a hash, follow size.h (the rule mm-fetch uses
 * too): a byte count must match exactly, a rounded hint such as "17.2GB"
 * within its tolerance.  With a hash, the hash alone decides.
 *
 * Files are hashed by a pool of opts->jobs threads, largest first, each
 * through one mapped window of MM_HASH_MAPSZ at a time (mm_hash_fd_mapped()),
 * with a read buffer of MM_HASH_BUFSZ for what cannot be mapped, so memory
 * stays flat whatever the sizes.
 *
 * Quarantine moves a file that failed (mismatch), if it is still the file
 * that was hashed, to MM_STATE_DIR/quarantine/<saveTo> by the rule of
 * state.h and writes <saveTo>.why beside it; when
 * the state directory is on another filesystem the file is instead renamed
 * in place to the hidden ".<name>.mm-quarantined", which ComfyUI does not
 * list.  Either way the next mm-fetch downloads it again.
 */
#ifndef MM_VERIFY_H
#define MM_VERIFY_H

#include <signal.h>
#include <stdint.h>

#include "hash.h"
#include "manifest.h"
#include "mm.h"

/* A model's "verify" status, as above, and its one spelling. */
enum mm_verify_status {
	MM_VERIFY_OK,
	MM_VERIFY_MISMATCH,
	MM_VERIFY_MISSING,
	MM_VERIFY_UNVERIFIED,
	MM_VERIFY_UNREADABLE,
	MM_VERIFY_NSTATUS
};

/* "ok", "mismatch", "missing", "unverified", "unreadable". */
const char *mm_verify_status_name(enum mm_verify_status s);
/* The inverse, exact; MM_VERIFY_NSTATUS when name is none of them (or NULL). */
enum mm_verify_status mm_verify_status_from_name(const char *name);

/*
 * What happened to which model: the library reports, the caller shows
 * (mm-verify turns each event into a line on stderr).  Every event comes
 * on the thread that called mm_verify() or mm_verify_scan(), never from a
 * hashing thread.
 */
enum mm_verify_event_kind {
	MM_VERIFY_EV_MODEL,       /* a model's outcome: status, cached; text: why, when not ok */
	MM_VERIFY_EV_PROGRESS,    /* every MM_VERIFY_PROGRESS_EVERY s of a run: done of total
	                             files, bytes hashed in seconds (no model) */
	MM_VERIFY_EV_NOT_CACHED,  /* the model's digest was not recorded in the cache; changed:
	                             the file changed while it was hashed, else text says why */
	MM_VERIFY_EV_QUARANTINED, /* text: where the file went, beneath MM_STATE_DIR (state_dir)
	                             or renamed in place beneath MM_ROOT */
	MM_VERIFY_EV_WARNING,     /* text: what the run goes on without (an allowed directory,
	                             the cache, a quarantine or its note); model when there is one */
};

#define MM_VERIFY_PROGRESS_EVERY 10

struct mm_verify_event {
	enum mm_verify_event_kind kind;
	const char *save_to;            /* the model's saveTo; NULL when there is no model */
	size_t index;                   /* its place in the manifest (or the scan) */
	enum mm_verify_status status;   /* MODEL */
	int cached;                     /* MODEL: the digest came from the verified cache */
	int changed;                    /* NOT_CACHED */
	int state_dir;                  /* QUARANTINED */
	const char *text;               /* valid during the call only; may be NULL */
	size_t done, total;             /* PROGRESS: files */
	uint64_t bytes;                 /* PROGRESS: bytes hashed so far */
	double seconds;                 /* PROGRESS: since hashing began */
};

typedef void mm_verify_event_fn(const struct mm_verify_event *ev, void *arg);

struct mm_verify_opts {
	const char *root;              /* MM_ROOT */
	const char *state_dir;         /* MM_STATE_DIR: cache and quarantine; NULL: neither;
	                                  refused by state.h's rule: MM_EUSAGE */
	const char *const *allow_dirs; /* symlink targets allowed outside MM_ROOT */
	size_t nallow;
	int jobs;                      /* hashing threads; <= 0: one per CPU */
	int rehash;                    /* ignore cached digests (still record new ones) */
	int no_cache;                  /* neither read nor write the cache */
	int no_xattr;                  /* keep cache records out of the files' xattrs */
	int require_hash;              /* "unverified" counts as a failure */
	int quarantine;                /* move mismatched files out of ComfyUI's reach */
	mm_verify_event_fn *on_event;  /* what happened to which model; NULL: nothing is said */
	void *event_arg;
	volatile sig_atomic_t *stop;   /* set to a signal number to stop; may be NULL */
};

struct mm_verify_stats {
	size_t ok, mismatch, missing, unverified, unreadable;
	size_t cached, hashed, quarantined;
	uint64_t bytes_hashed;
	double seconds;
};

/*
 * Verify every model of m and set its "verify" object.  Returns 0 when
 * every model is ok (or unverified, unless require_hash), MM_EFAIL when any
 * is not, MM_EUSAGE when MM_ROOT cannot be opened.  Per-file problems are in
 * the manifest and reported through opts->on_event; err is set only for
 * errors that stop the run.
 * When *opts->stop is set (by a signal handler), no new file is started and
 * a file being hashed is abandoned within one read: the models finished keep
 * their verify object and their digests are cached, the others get none,
 * and MM_EINT or MM_ETERM is returned.
 */
int mm_verify(struct mm_manifest *m, const struct mm_verify_opts *opts,
	struct mm_verify_stats *stats, struct mm_err *err);

/*
 * The scan of --scan as a manifest (name, saveTo, sizeBytes, fileSize) of
 * the files under dir (NULL: MM_ROOT/models; see scan.h).  With algo other
 * than MM_HASH_NONE each model also gets `hash` (bare hex for sha256 and
 * md5/sha1, "autov2" is not allowed) from the cache or by hashing.  Each
 * file is opened once, without following a last symlink the scan did not
 * follow, and hashed only when it is the very file (device, inode) the scan
 * listed; one swapped since is "unreadable" and gets no hash.  On success
 * *out is a manifest the caller frees.
 */
int mm_verify_scan(const char *dir, enum mm_hash_algo algo, const struct mm_verify_opts *opts,
	struct mm_manifest **out, struct mm_verify_stats *stats, struct mm_err *err);

/* The number of CPUs this process may run on (its affinity mask), at least 1. */
int mm_ncpu(void);

#endif
