/*
 * fetch.h — the download engine behind mm-fetch.
 *
 * mm_fetch_run() brings every model of a manifest to MM_ROOT/saveTo and
 * adds a "fetch" object to each (DESIGN.md): present files are left alone
 * without a request; missing ones are downloaded on libcurl's multi
 * interface, several files at once and large files over several ranged
 * connections.
 *
 * On disk, a download of dir/name lives in dir/.name.mm-part until it is
 * complete, hashed and fsync'd; only then is it renamed to dir/name, so a
 * final path never holds a partial or unverified file.  Beside the part
 * file, dir/.name.mm-state records the server's size and validator (ETag or
 * Last-Modified) and which byte ranges are on disk, so the next attempt or
 * the next run resumes with Range + If-Range.  Data is hashed as it
 * arrives: a hashing thread follows the contiguous prefix that is on disk,
 * reading it back from the page cache in bounded chunks, so verification
 * costs no second pass over the file and the network thread never waits
 * for the digest.
 *
 * A file whose sha256 is known before its download is taken from the
 * sources o->sources lists (sources.h): fleet peers, then mirrors, then its
 * URL.  Its pieces are spread over the peers and mirrors at once; the
 * origin gets pieces only when no other source is usable.  A source that
 * fails is left for the rest of that file and the others take over its
 * missing ranges, keeping the bytes on disk.  When the file fails its
 * hash, the pieces of the sources that wrote it are checked against each
 * other (the origin settling a disagreement), and the peer or mirror that
 * lied is named ("liars" in the fetch object), skipped for the rest of the
 * run, and its pieces fetched again from the others.  The part file's
 * validator is then CAS_VALIDATOR: no If-Range is sent, the hash decides.
 *
 * Every file operation happens through a directory descriptor opened
 * beneath MM_ROOT (paths.h), with O_NOFOLLOW on the last component, so a
 * symlink planted in MM_ROOT cannot redirect a write outside it.  A lock
 * file per saveTo in MM_STATE_DIR/locks keeps two runs from writing the
 * same file at once.
 *
 * Ownership: the manifest stays the caller's; the engine only adds "fetch"
 * objects to its models.
 */
#ifndef MM_FETCH_H
#define MM_FETCH_H

#include <signal.h>

#include "auth.h"
#include "sources.h"
#include "upstream.h"
#include "manifest.h"
#include "mm.h"

/* Defaults of mm-fetch(1). */
#define MM_FETCH_JOBS 3
#define MM_FETCH_ATTEMPTS 3
#define MM_FETCH_TIMEOUT_MIN 30
#define MM_FETCH_STALL 60
#define MM_FETCH_SEGMENTS 4
#define MM_FETCH_SEGMENT_MIN (64LL << 20)

/*
 * What happened to which model, as it happens: the library reports, the
 * caller shows (mm-fetch draws its progress from these).  Errors are also
 * logged (log.h).
 */
enum mm_fetch_event_kind {
	MM_FETCH_EV_WAITING,    /* another run is downloading the same file */
	MM_FETCH_EV_STARTED,    /* done: bytes kept from an earlier try; total: size, hint or -1;
				 * text: the source's label (sources.h) when not the origin */
	MM_FETCH_EV_PROGRESS,   /* done bytes on disk of total (-1: not known yet) */
	MM_FETCH_EV_RETRY,      /* text: why; delay: seconds until try number attempt */
	MM_FETCH_EV_RESTART,    /* text: why the download starts over from byte 0 */
	MM_FETCH_EV_SOURCE,     /* text: a source failed or lied, and which one takes over */
	MM_FETCH_EV_DOWNLOADED, /* done bytes in seconds; text: the hash that proved it, or NULL */
	MM_FETCH_EV_LINKED,     /* text: the saveTo whose bytes it shares */
	MM_FETCH_EV_FAILED,     /* text: the error */
	MM_FETCH_EV_TICK,       /* the run's loop turned (no model): time to redraw */
	MM_FETCH_EV_END,        /* the run is over (no model): done bytes received in seconds;
	                           the counts are the manifest's (summary.h) */
};

struct mm_fetch_event {
	enum mm_fetch_event_kind kind;
	const struct mm_model *model;   /* NULL for TICK and END */
	size_t index;                   /* model's place in the manifest */
	long long done, total;          /* bytes */
	int attempt;
	double delay, seconds;
	const char *text;               /* valid during the call only */
	long long from[MM_SOURCE_KINDS];        /* END: bytes by kind of source (sources.h) */
	int liars;                      /* END: sources named for bytes that failed the hash */
};

typedef void mm_fetch_event_fn(const struct mm_fetch_event *ev, void *arg);

struct mm_fetch_opts {
	const char *root;               /* MM_ROOT */
	const char *state_dir;          /* for locks; NULL: $root/.mm */
	int jobs;                       /* files downloaded at once */
	int segments;                   /* connections for one large file; 1: never split */
	int adaptive;                   /* open them only if two connections beat one */
	long long segment_min;          /* files smaller than this use one connection */
	int attempts;                   /* tries per file */
	long stall_timeout;             /* seconds without a byte: retry */
	long file_timeout;              /* seconds for a whole file; 0: none */
	long long limit_rate;           /* bytes per second for all transfers; 0: none */
	double backoff;                 /* first retry delay in seconds; 0: 1 */
	int verify_present;             /* hash files already present */
	int dry_run;                    /* probe, preflight, download nothing */
	int no_wait;                    /* a file locked by another run fails at once */
	mm_fetch_event_fn *on_event;    /* called on the calling thread; NULL: none */
	void *event_arg;
	volatile sig_atomic_t *stop;    /* set to a signal number to stop; may be NULL */
	const struct mm_auth *auth;     /* where tokens may go (auth.h); NULL: built-in, https */
	const struct mm_upstream *upstream;  /* the origins' sha256 (upstream.h); NULL: none */
	struct mm_sources *sources;     /* peers and mirrors (sources.h); NULL: the origin only */
};

/* A model's "fetch" status (DESIGN.md), and its one spelling. */
enum mm_fetch_status {
	MM_FETCH_PRESENT,               /* already there, left alone */
	MM_FETCH_DOWNLOADED,            /* downloaded (or linked from its twin) and proved */
	MM_FETCH_WOULD_DOWNLOAD,        /* dry run: it can be fetched */
	MM_FETCH_FAILED,
	MM_FETCH_UNREACHABLE,           /* dry run: the probe failed */
	MM_FETCH_UNAUTHORIZED,          /* the token is missing, refused or may not go there */
	MM_FETCH_NSTATUS
};

/* "present", "downloaded", "would-download", "failed", "unreachable", "unauthorized". */
const char *mm_fetch_status_name(enum mm_fetch_status s);
/* The inverse, exact; MM_FETCH_NSTATUS when name is none of them (or NULL). */
enum mm_fetch_status mm_fetch_status_from_name(const char *name);

/* Fill o with the defaults above (root and state_dir NULL). */
void mm_fetch_opts_init(struct mm_fetch_opts *o);

/*
 * Fetch every model of m as o says and record the outcome in each model's
 * "fetch" object.  Returns 0 when every model is present or downloaded (in
 * a dry run: would be downloaded), MM_EFAIL when some failed, MM_ENOSPACE
 * when the disk preflight found too little space (nothing was downloaded),
 * MM_EINT or MM_ETERM when *o->stop was set (part files are kept for
 * resume), MM_EUSAGE when MM_ROOT cannot be used.  err holds a message for
 * every non-zero return.
 */
int mm_fetch_run(struct mm_manifest *m, const struct mm_fetch_opts *o, struct mm_err *err);

#endif
