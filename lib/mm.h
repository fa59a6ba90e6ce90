/*
 * mm.h — what every part of libmm shares: exit codes, error reporting,
 * allocation.
 *
 * Error convention (after git's api-error-handling): library functions never
 * print and never exit.  A function that can fail returns 0 on success or one
 * of the MM_E* codes below, and writes a one-line, lowercase, period-free
 * message into a caller-supplied `struct mm_err`.  The command decides what
 * to print and which exit status to use; the codes are the exit statuses of
 * DESIGN.md, so a command may simply return them.
 *
 * "Never print", exactly: no library function writes to stdout or stderr,
 * or to any stream or descriptor, on its own.  What it has to tell goes to
 * the caller: a return code and struct mm_err; an event callback in its
 * options, for what happened to which model (fetch.h, verify.h, report.h);
 * or a diagnostic through mm_log() (log.h), which reaches the sink the
 * caller installed and nothing at all without one.  A function writes to a
 * stream only when the caller hands it that stream (mm_manifest_write()).
 * prologue.h is the commands' own start-up kept here so every binary shares
 * it: it installs the stderr sink and prints --help and --version because
 * the command asks it to.  The one exception is mm_oom() below.  Likewise
 * nothing process-wide (a signal handler, srand()) is set but by a function
 * the caller calls for that purpose (mm_prologue_init(), mm_prologue_signals(),
 * mm_hash_catch_sigbus()).
 *
 * Ownership: a function returning a `char *` or a struct pointer hands it to
 * the caller, who frees it with the matching *_free() or free(); pointers
 * returned as `const` are borrowed and live as long as their owner.
 */
#ifndef MM_MM_H
#define MM_MM_H

#include <stddef.h>
#include <stdint.h>

#ifndef MM_VERSION
#define MM_VERSION "0.0.0"
#endif

enum {
	MM_OK = 0,
	MM_EFAIL = 1,      /* some items failed; the manifest says which */
	MM_EUSAGE = 2,     /* usage or configuration error */
	MM_EINPUT = 3,     /* bad input: JSON, schema, unsafe path, bad API answer */
	MM_EUNAVAIL = 4,   /* a service is unreachable */
	MM_ENOSPACE = 5,   /* not enough disk space */
	MM_EINT = 130,     /* SIGINT */
	MM_ETERM = 143,    /* SIGTERM */
};

#define MM_ERRSZ 1024

struct mm_err {
	int code;
	char msg[MM_ERRSZ];
};

/*
 * Fill err (may be NULL) with code and a printf-style message; returns code
 * so callers can write `return mm_error(err, MM_EINPUT, "...")`.
 */
int mm_error(struct mm_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefix an existing message: "context: old message". */
int mm_error_prefix(struct mm_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Allocation that cannot fail: on out-of-memory they print one line and
 * abort(), as git's xmalloc does — there is nothing sensible to return.
 * mm_oom() is that line and abort, for memory another library failed to
 * allocate (n: the bytes asked for, 0: not known).
 */
void mm_oom(size_t n) __attribute__((noreturn));
void *mm_xmalloc(size_t n);
void *mm_xcalloc(size_t n, size_t size);
void *mm_xrealloc(void *p, size_t n);
char *mm_xstrdup(const char *s);
char *mm_xstrndup(const char *s, size_t n);
char *mm_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A growing string, always NUL-terminated once written to; p is the caller's to free. */
struct mm_buf {
	char *p;
	size_t len, cap;
};

/* Room for n more bytes (and the NUL) after len. */
void mm_buf_room(struct mm_buf *b, size_t n);
void mm_buf_put(struct mm_buf *b, const char *s, size_t n);

/* Checked conversions: 0 on success, -1 when s is not a whole number in range. */
int mm_parse_long(const char *s, long min, long max, long *out);
int mm_parse_double(const char *s, double min, double max, double *out);

/* secs since the epoch as ISO 8601 UTC with seconds ("2026-01-12T10:30:00Z"). */
void mm_iso8601(long long secs, char buf[32]);
/* mm_iso8601 of the current time. */
void mm_iso8601_now(char buf[32]);

/* Monotonic seconds, for durations. */
double mm_now(void);

#endif
