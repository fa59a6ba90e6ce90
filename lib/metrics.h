/*
 * metrics.h — Prometheus metrics for node_exporter's textfile collector.
 *
 * A registry holds one tool's samples (counters and gauges, each with at
 * most a few labels from small fixed sets: a source class, an outcome, a
 * reason; never a model name or a URL) and writes them in one go to
 * DIR/mm_<tool>.prom in the text exposition format: a temporary file in
 * DIR, then rename(), so the collector never reads half a file.
 *
 * Every family is declared once, in metrics.c's table, with its type and
 * help; mm_metrics_add() and mm_metrics_set() name a declared family (an
 * undeclared one is a programming error and is ignored).  Counters keep
 * counting across runs: a new registry starts each counter series (and the
 * few gauges declared "kept", such as the last publish time) from the value
 * in the file the last run left; only well-formed lines of declared
 * families are taken, and a missing or unreadable file is a counter reset,
 * as a restarted process would be.  Two runs of one tool
 * writing at the same moment may lose one run's increments, never the file.
 *
 * Every function takes a NULL registry (no MM_METRICS_DIR) and does nothing.
 * Ownership: mm_metrics_new()'s result is the caller's, for mm_metrics_free().
 */
#ifndef MM_METRICS_H
#define MM_METRICS_H

#include "mm.h"

struct mm_metrics;
struct mm_manifest;
struct mm_verify_stats;
struct mm_inv_model;
struct mm_inv_stats;

/* The directory: opt (--metrics-dir) when given, else MM_METRICS_DIR, else NULL. */
const char *mm_metrics_dir(const char *opt);

/*
 * A registry for tool ("mm-fetch"; the file is mm_fetch.prom) writing into
 * dir, with mm_build_info set; NULL when dir is NULL or empty.
 */
struct mm_metrics *mm_metrics_new(const char *tool, const char *dir);
void mm_metrics_free(struct mm_metrics *r);

/*
 * counter += v, or gauge = v, for the series of the labels given as
 * name/value pairs ending with NULL.
 */
void mm_metrics_add(struct mm_metrics *r, const char *family, double v, ...);
void mm_metrics_set(struct mm_metrics *r, const char *family, double v, ...);

/*
 * Write DIR/mm_<tool>.prom atomically.  0, or MM_EFAIL with err saying which
 * file and why (a missing or read-only DIR); the old file is then left as
 * it was.
 */
int mm_metrics_write(struct mm_metrics *r, struct mm_err *err);

/* The path written (borrowed), or NULL. */
const char *mm_metrics_path(const struct mm_metrics *r);

/*
 * A run ends: the time it ended, its seconds since t0 (mm_now()), its exit
 * status; then mm_metrics_write().
 */
int mm_metrics_finish(struct mm_metrics *r, double t0, int rc, struct mm_err *err);

/* "huggingface", "civitai" or "other", by the URL's host (auth.h's built-in hosts). */
const char *mm_metrics_source(const char *url);

/* The figures of each tool, from the results it already has. */
void mm_metrics_fetch(struct mm_metrics *r, const struct mm_manifest *m);
void mm_metrics_verify(struct mm_metrics *r, const struct mm_verify_stats *st);
void mm_metrics_discover(struct mm_metrics *r, const struct mm_manifest *m);
/*
 * A report sent (rc 0, with st) or not (rc its error): publish, heartbeat,
 * the models present, unverified (no digest proved them) and missing (in m, when given,
 * and not on the disk), and their bytes.
 */
void mm_metrics_report(struct mm_metrics *r, const struct mm_inv_model *recs, size_t n,
		       const struct mm_manifest *m, const struct mm_inv_stats *st, int rc);

#endif
