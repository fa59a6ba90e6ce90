/*
 * log.h — diagnostics, delivered through a sink the caller installs.
 *
 * The library never prints (mm.h says exactly what that means): it formats
 * each message and hands the line to the sink installed with
 * mm_log_set_sink(), as libcurl hands its debug output to
 * CURLOPT_DEBUGFUNCTION.  Without a sink a message goes nowhere.  The
 * commands install mm_log_stderr (prologue.h).  What happened to which
 * model is reported as an event (fetch.h, verify.h, report.h), for the
 * command to show as it likes; the log carries the rest (a cache a run goes
 * on without, a reconnect, a file the scan skips).
 *
 * Text lines look like git's and curl's: "mm-fetch: cannot open 'x': reason",
 * "mm-fetch: warning: ...".  With MM_LOG_FORMAT=json each message is one JSON
 * object a line: {"time","level","prog","msg"}.
 *
 * Every message passes through mm_redact() before it is written, so a token
 * that slipped into a URL or a header never reaches a log.  Tokens read from
 * the environment are registered with mm_log_secret(); any literal occurrence
 * of a registered secret is replaced by "***".  Text lines then show control
 * characters escaped (text.h), so a name or a server's message cannot steer
 * the terminal; JSON lines leave that to cJSON's escaping.
 */
#ifndef MM_LOG_H
#define MM_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum mm_log_level {
	MM_LOG_QUIET = -1,  /* nothing but errors; set by -q */
	MM_LOG_ERROR = 0,
	MM_LOG_WARN,
	MM_LOG_INFO,
	MM_LOG_DEBUG,
};

/* Set the program name and read MM_LOG_FORMAT / MM_LOG_LEVEL (config.h). */
void mm_log_init(const char *progname);

/*
 * A sink receives each message that passes the level, finished: redacted,
 * prefixed ("mm-fetch: warning: ...") or a JSON object, ending in a
 * newline.  mm_log_raw's text arrives as it is, with level MM_LOG_ERROR.
 * It may be called from any thread; data is the pointer given here.
 */
typedef void mm_log_sink(int level, const char *line, void *data);
void mm_log_set_sink(mm_log_sink *fn, void *data);

/* The sink that writes each line to stderr. */
void mm_log_stderr(int level, const char *line, void *data);
const char *mm_progname(void);

/* -q lowers, -v raises; default MM_LOG_INFO. */
void mm_log_set_level(int level);
int mm_log_get_level(void);
int mm_log_is_json(void);

void mm_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mm_vlog(int level, const char *fmt, va_list ap);

#define mm_errorf(...) mm_log(MM_LOG_ERROR, __VA_ARGS__)
#define mm_warnf(...)  mm_log(MM_LOG_WARN, __VA_ARGS__)
#define mm_infof(...)  mm_log(MM_LOG_INFO, __VA_ARGS__)
#define mm_debugf(...) mm_log(MM_LOG_DEBUG, __VA_ARGS__)

/* Remember a secret value (a token, a password) so no log line shows it. */
void mm_log_secret(const char *value);

/*
 * Return a copy of s (caller frees) with secrets masked: registered values,
 * the value of query parameters that carry credentials (token, access_token,
 * api_key, key, sig, signature, password, X-Amz-Signature, X-Amz-Credential,
 * …), the password of user:password@ in URLs, and "Bearer xxx".
 */
char *mm_redact(const char *s);

/*
 * Flush and close stdout, checking for a write error, so a truncated JSON
 * never exits 0.  Logs the error; returns 0 or MM_EFAIL (1).
 */
int mm_finish_stdout(void);

/*
 * Hand the whole of text to the sink, redacted, with no prefix; its newlines
 * stay, other control characters are escaped.
 */
void mm_log_raw(const char *text);

#endif
