/*
 * rkeys.h — every Redis key of DESIGN.md's layout, named once.
 *
 * A key with "%s" takes a machine id (or a model, workflow, job or worker
 * name) through mm_xasprintf(); a *_PREFIX is followed by a name of any
 * bytes.  The Lua libraries (scripts/redis/) spell the same keys as their
 * own literals; tests/integration/t0016-redis-keys.sh checks that the two
 * agree.
 */
#ifndef MM_RKEYS_H
#define MM_RKEYS_H

/* The inventory a machine reports (inventory.h). */
#define MM_RKEY_MACHINE_MODELS     "machine:%s:models"       /* hash */
#define MM_RKEY_MACHINE_NAMES      "machine:%s:model_names"  /* set of model names */
#define MM_RKEY_MACHINE_WORKFLOWS  "machine:%s:workflows"    /* set of workflow names */
#define MM_RKEY_MACHINE_SHA256S    "machine:%s:sha256s"      /* set of the proved sha256 digests */
#define MM_RKEY_MODEL_INDEX_PREFIX "models:index:"           /* + name: set of machine ids */
#define MM_RKEY_WORKFLOW_INDEX     "workflows:index:%s"      /* set of machine ids */
#define MM_RKEY_HEARTBEAT          "machines:models:heartbeat" /* zset id -> unix time */

/* What peers say of a machine (sources.h): a report, never trusted for routing. */
#define MM_RKEY_MACHINE_LIAR       "machine:%s:liar"         /* hash count, last_by, last_at; 7 days */

/* The job queue's (as deployed). */
#define MM_RKEY_JOBS_PENDING       "jobs:pending"            /* zset job id -> score */
#define MM_RKEY_JOB                "job:%s"                  /* hash */
#define MM_RKEY_JOBS_ACTIVE        "jobs:active:%s"          /* hash per worker */

/* mm's own: the jobMatching library it replaced (jobmatch.h). */
#define MM_RKEY_JOBMATCH_SAVED     "mm:jobmatching:saved"    /* hash */
/* A serving machine's lease on a file it downloads (sources.h): its id, with a TTL. */
#define MM_RKEY_PEER_LEASE         "mm:fetching:%s"          /* string per sha256 */

#endif
