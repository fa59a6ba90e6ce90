/*
 * inventory.h — a machine's model inventory in Redis (DESIGN.md, "Redis
 * layout"): writing it in one MULTI/EXEC, deregistering, pruning stale
 * machines.
 *
 * Keys, for machine <id> (named in rkeys.h):
 *   machine:<id>:models        hash: machine_id, models (JSON array of
 * otherwise takes the manifest's name and hash, the sha256 and hashSource
 * its verify object (else its fetch) proved, and is verified when its
 * verify.status is "ok".  *out (caller frees with
 *   machine:<id>:model_names   set of names
 *   models:index:<name>        set of machine ids
 *   machines:models:heartbeat  zset id -> unix time (Redis's clock)
 *   machine:<id>:workflows     set of the workflows it can run (mm_inv_workflows)
 *   workflows:index:<name>     set of machine ids
 *
 * Ownership: a struct mm_reporter belongs to its caller (mm_reporter_free);
 * the records passed in are borrowed for the duration of a call only.
 */
#ifndef MM_INVENTORY_H
#define MM_INVENTORY_H

#include <stddef.h>
#include <stdio.h>

#include "mm.h"
#include "redis.h"

/* One model file present on the machine. */
struct mm_inv_model {
	const char *name;
	const char *save_to;
	long long size;      /* bytes */
	const char *hash;    /* as the manifest gives it, or NULL */
	const char *sha256;  /* the file's sha256 as verified or fetched, or NULL */
	const char *hash_source;  /* where the digest came from (upstream.h), or NULL */
	int verified;        /* 1: the manifest says a digest proved it (verify.status "ok") */
};

struct mm_scan;
struct mm_manifest;

/*
 * The records to report from a scan of the disk (the truth) and, when given,
 * the manifest that came down the pipe: a file whose saveTo the manifest
 * lists with verify.status "mismatch", "missing" or "unreadable" is left out; one it lists
 * otherwise takes the manifest's name and hash, the sha256 and hashSource
 * its verify object (else its fetch) proved, and is verified when its
 * verify.status is "ok".  *out (caller frees with
 * free(); the strings are borrowed from scan and manifest) gets one record
 * per scanned file kept; *left_out (may be NULL) the number left out.
 */
void mm_inv_from_disk(const struct mm_scan *scan, const struct mm_manifest *m,
		      struct mm_inv_model **out, size_t *n, size_t *left_out);

/*
 * How many of the manifest's models have no record among recs[0..n) (by
 * saveTo): not on the disk, left out by verification, or with no saveTo at
 * all; the machine wants them and lacks them.  -1 without a manifest.
 */
long long mm_inv_missing(const struct mm_manifest *m, const struct mm_inv_model *recs, size_t n);

/* What one report did, for logs and benchmarks. */
struct mm_inv_stats {
	size_t commands;     /* commands in the MULTI/EXEC, MULTI and EXEC included */
	size_t round_trips;  /* every round trip, the reads before the MULTI included */
	size_t added;        /* names newly in the set */
	size_t removed;      /* names no longer there */
	int models_written;  /* the models JSON was (re)written */
	int retries;         /* transactions retried after a concurrent change */
};

/*
 * A reporter remembers what it last wrote for one machine, so the next
 * report sends only what changed: the new and the gone names, and the models
 * JSON only when it differs.  Before each report it reads, under WATCH and in
 * one round trip, the digest and the size of the name set the server holds.
 * When the digest is that of the records being reported, or of what this
 * reporter last wrote, the server's names are known without reading them;
 * otherwise (Redis restarted, someone pruned the machine, the disk changed
 * since another process reported) a second read fetches the name set, unless
 * it is empty.  The write is then one MULTI/EXEC; when a watched key changed
 * meanwhile, the whole report is redone (up to five times).
 */
struct mm_reporter;

struct mm_reporter *mm_reporter_new(const char *machine_id);
void mm_reporter_free(struct mm_reporter *rep);

/* Forget what was last written (after a reconnect, say): the next report reads it back. */
void mm_reporter_forget(struct mm_reporter *rep);

/*
 * Write the inventory of models[0..n) in one MULTI/EXEC; missing is
 * mm_inv_missing()'s count (-1: unknown, the field is removed).  full: rewrite
 * every key and index entry whatever the server holds (repairs an index
 * that was edited by hand).  Names that are no longer present lose this
 * machine's entry in models:index:<name>.  Fails with MM_EUNAVAIL when the
 * connection broke (nothing half-written: Redis runs all of EXEC or
 * none), MM_EFAIL on an error reply (e.g. NOPERM).
 */
int mm_reporter_report(struct mm_reporter *rep, struct mm_redis *r,
		       const struct mm_inv_model *models, size_t n, long long missing, int full,
		       struct mm_inv_stats *st, struct mm_err *err);

/*
 * The commands of a full report, without connecting: what --dry-run shows.
 * now is the unix time for the heartbeat.  Names removed since the last
 * report cannot be known without reading Redis, so the dry run shows the
 * name set being replaced whole (DEL then SADD).  Caller frees the result.
 */
struct mm_rcmds *mm_inv_full_commands(const char *machine_id,
				      const struct mm_inv_model *models, size_t n,
				      long long missing, long long now);

/*
 * Remove a machine: its two keys, its heartbeat, and its id from the index
 * of every name it listed, in one MULTI/EXEC.
 */
int mm_inv_deregister(struct mm_redis *r, const char *machine_id, struct mm_err *err);

/*
 * Deregister every machine whose heartbeat is older than older_than seconds
 * (by Redis's clock).  Safe to run from anywhere while machines report: each
 * machine is removed under WATCH of its keys after checking its heartbeat
 * again, so a machine that reports meanwhile is left alone.  *pruned (may be
 * NULL) gets the number removed.
 */
int mm_inv_prune_stale(struct mm_redis *r, double older_than, size_t *pruned,
		       struct mm_err *err);

/*
 * The workflows this machine can run, sorted: those the manifest's sources
 * name ("workflow:W", "component:W", "collection:C/workflow:W") whose every
 * model is among recs[0..n) (on the disk) and has verify.status "ok".  None
 * without a manifest.  out is the caller's (mm_list_free).
 */
struct mm_list;
void mm_inv_workflows(const struct mm_manifest *m, const struct mm_inv_model *recs, size_t n,
		      struct mm_list *out);

/*
 * Publish them: the set machine:<id>:workflows, and id in
 * workflows:index:<W> for each (removed from the index of a workflow no
 * longer there), in one MULTI/EXEC, only when the set differs.
 */
int mm_inv_report_workflows(struct mm_redis *r, const char *id, const struct mm_list *wf,
			    struct mm_err *err);

/* The commands of a first workflows report, for --dry-run; caller frees. */
struct mm_rcmds *mm_inv_workflow_commands(const char *id, const struct mm_list *wf);

#endif
