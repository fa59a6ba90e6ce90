/*
 * jobmatch.h — installing mm's drop-in jobMatching library (compiled in from
 * scripts/redis/jobMatching.lua) in place of the job queue's, and putting
 * the job queue's back.
 *
 * Installing saves what it replaces first: the FUNCTION DUMP of the server's
 * libraries, kept in Redis (hash MM_JOBMATCH_SAVED_KEY: dump, had_library,
 * libraries, saved_at) and in the state directory (MM_JOBMATCH_DUMP_FILE,
 * MM_JOBMATCH_META_FILE), then loads ours with FUNCTION LOAD REPLACE in the
 * same MULTI/EXEC as the Redis copy.  Restoring puts the saved jobMatching
 * back with FUNCTION RESTORE, byte for byte, while every other library keeps
 * the code it has now.  Both need Redis 7 (MM_EUSAGE otherwise) and are
 * idempotent: *outcome says what was done.
 */
#ifndef MM_JOBMATCH_H
#define MM_JOBMATCH_H

#include <stddef.h>

#include "mm.h"
#include "redis.h"
#include "rkeys.h"

extern const char mm_redis_jobmatching_lua[];
extern const size_t mm_redis_jobmatching_lua_len;

#define MM_JOBMATCH_LIBRARY "jobMatching"
#define MM_JOBMATCH_SAVED_KEY MM_RKEY_JOBMATCH_SAVED
#define MM_JOBMATCH_DUMP_FILE "jobmatching.dump"
#define MM_JOBMATCH_META_FILE "jobmatching.json"
/* A line of the library's header that tells mm's library from another. */
#define MM_JOBMATCH_MARK "mm-jobmatching:"

enum mm_jobmatch_outcome {
	MM_JM_INSTALLED,     /* loaded; there was no jobMatching before */
	MM_JM_REPLACED,      /* loaded in place of another jobMatching, which is saved */
	MM_JM_UPDATED,       /* an older mm jobMatching replaced; the saved one kept */
	MM_JM_UNCHANGED,     /* this very library was loaded already */
	MM_JM_RESTORED,      /* the saved jobMatching is back */
	MM_JM_DELETED,       /* there was none before install: ours is deleted */
	MM_JM_NOTHING_SAVED, /* restore: nothing saved, nothing done */
	MM_JM_NOT_OURS,      /* restore: jobMatching is not mm's now; left alone */
};

/* What an outcome is called in mm-report's JSON ("installed", ...). */
const char *mm_jobmatch_outcome_name(int outcome);

/*
 * The major version in the text of INFO server (redis_version:7.0.15 -> 7),
 * or -1 when there is none.
 */
int mm_jobmatch_server_major(const char *info);

int mm_jobmatch_install(struct mm_redis *r, const char *state_dir, int *outcome,
			struct mm_err *err);
int mm_jobmatch_restore(struct mm_redis *r, const char *state_dir, int *outcome,
			struct mm_err *err);

#endif
