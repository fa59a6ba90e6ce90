/*
 * report.h — what mm-report does with Redis: scan the disk and report the
 * inventory once (reconnecting when the connection drops mid-report), or
 * keep reporting (--watch): at once when the model folders change, every
 * interval as a heartbeat, with backoff while Redis is away, and
 * deregistration when stopped by a signal.
 *
 * The loop logs through log.h (its sink is the command's) and never writes
 * to stdout: the command passes its manifest on through first_done.
 */
#ifndef MM_REPORT_H
#define MM_REPORT_H

#include <signal.h>

#include "inventory.h"
#include "manifest.h"
#include "mm.h"
#include "redis.h"
#include "scan.h"

struct mm_report_opts {
	const char *machine_id;
	const char *root;                 /* MM_ROOT: its models/ is scanned and watched */
	const char *state_dir;            /* left out of the scan */
	const struct mm_manifest *m;      /* the manifest, for names and workflows; may be NULL */
	int full;                         /* rewrite every key, not only what changed */
	const char *redis_url;            /* NULL: redis.h's default */
	const struct mm_redis_opts *ropts;
	/* --watch only: */
	double interval;                  /* seconds between heartbeats (and the longest backoff) */
	int keep_on_exit;                 /* stay in the inventory after a signal */
	const volatile sig_atomic_t *stop;/* set by a signal handler: the loop ends */
	/*
	 * Called once, after the first attempt to report, whether Redis answered
	 * or not (a pipe downstream need not wait for Redis), or as the loop ends
	 * if it never got that far.  A non-zero return ends the loop with that
	 * status.  May be NULL.
	 */
	int (*first_done)(void *arg, struct mm_err *err);
	void *arg;
	/*
	 * Called after each attempt to report, with its status: what was
	 * collected and the write's statistics when rc is 0, NULL and 0 when
	 * not (Redis away, a failed scan).  May be NULL.
	 */
	void (*on_report)(void *arg, const struct mm_report_opts *o, const struct mm_inv_model *recs,
			  size_t n, const struct mm_inv_stats *st, int rc);
	void *report_arg;
};

/*
 * Scan o->root's models and make the inventory records of what is there
 * (the manifest lends names).  *scan is the caller's (mm_scan_free), and
 * *recs (free), whose strings point into it.
 */
int mm_report_collect(const struct mm_report_opts *o, struct mm_scan *scan,
		      struct mm_inv_model **recs, size_t *n, struct mm_err *err);

/* Scan once and report with rep over r. */
int mm_report_once(const struct mm_report_opts *o, struct mm_reporter *rep, struct mm_redis *r,
		   struct mm_err *err);

/*
 * Connect and report once; a connection lost mid-report wrote nothing
 * (EXEC never ran), so it connects again and sends the whole report, up to
 * three times.  0 or an MM_E* code with err set.
 */
int mm_report_run(const struct mm_report_opts *o, struct mm_err *err);

/*
 * --watch: report until *o->stop is set.  Returns MM_EINT or MM_ETERM
 * after a signal, or MM_EUSAGE (a bad REDIS_URL) or first_done's status.
 */
int mm_report_watch(const struct mm_report_opts *o, struct mm_err *err);

#endif
