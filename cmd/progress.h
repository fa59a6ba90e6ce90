/*
 * progress.h — download progress on stderr.
 *
 * Three displays: a live one for terminals (a bar per file with rate and
 * ETA, and a total line, redrawn in place at most a few times a second), a
 * plain one for logs (a line per file event and a total every
 * MM_PROGRESS_PLAIN_EVERY seconds), and none.  Event lines (started,
 * finished, failed) go through log.h, so they are redacted and follow
 * MM_LOG_FORMAT; the live bars are drawn only on a terminal and are erased
 * before any other line is printed through mm_progress_line().
 *
 * Ownership: mm_progress_new() returns a display the caller frees with
 * mm_progress_free().  Names passed in are copied.  Not thread-safe: call it
 * from the thread that runs the transfers.
 */
#ifndef MM_PROGRESS_H
#define MM_PROGRESS_H

enum mm_progress_mode {
	MM_PROGRESS_AUTO = 0,   /* bar on a terminal, plain otherwise */
	MM_PROGRESS_BAR,
	MM_PROGRESS_PLAIN,
	MM_PROGRESS_NONE,
};

#define MM_PROGRESS_PLAIN_EVERY 10.0

/* "auto", "bar", "plain", "none" → mode; -1 for anything else. */
int mm_progress_mode_parse(const char *s);

struct mm_progress;

/* AUTO is resolved here against isatty(stderr). */
struct mm_progress *mm_progress_new(enum mm_progress_mode mode);

/* The resolved mode. */
enum mm_progress_mode mm_progress_mode(const struct mm_progress *p);

/*
 * Register a file being downloaded; total is its size in bytes or -1.
 * Returns an id for the calls below.
 */
int mm_progress_add(struct mm_progress *p, const char *name, long long total);

/* done bytes of total (total may become known late; -1 keeps it). */
void mm_progress_update(struct mm_progress *p, int id, long long done, long long total);

/* The file finished: ok (1) or not (0); it leaves the live display. */
void mm_progress_end(struct mm_progress *p, int id, int ok);

/*
 * Print one informational line (already formatted, no prefix), erasing and
 * redrawing the bars around it.  Suppressed when the log level is quiet.
 */
void mm_progress_line(struct mm_progress *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Print one warning (a retry, a restart) the same way, in every mode: --progress
 * none hides progress, not trouble.  Suppressed by -q, like every warning.
 */
void mm_progress_warn(struct mm_progress *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Redraw the bars or print the periodic total, when it is time to (or force). */
void mm_progress_tick(struct mm_progress *p, int force);

/* Erase the live display (before the final summary). */
void mm_progress_clear(struct mm_progress *p);

void mm_progress_free(struct mm_progress *p);

#endif
