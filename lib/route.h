/*
 * route.h — the routing side: the `mm` Redis function library (compiled in
 * from scripts/redis/mm.lua) and the questions an operator asks of it.
 *
 * Each query returns a cJSON tree the caller owns (cJSON_Delete), or NULL
 * with 0 when the answer is "nothing" (no such machine, job or match).
 * When the function library is missing from the server, the queries load it
 * (FUNCTION LOAD REPLACE) and try once more.
 */
#ifndef MM_ROUTE_H
#define MM_ROUTE_H

#include <cjson/cJSON.h>

#include "mm.h"
#include "redis.h"

/* The library source, and its name and version as FUNCTION LIST shows them. */
extern const char mm_redis_lua[];
extern const size_t mm_redis_lua_len;

#define MM_ROUTE_DEFAULT_STALE 120
#define MM_ROUTE_DEFAULT_MAX_SCAN 100

/* FUNCTION LOAD REPLACE the `mm` library. */
int mm_route_install_functions(struct mm_redis *r, struct mm_err *err);

/*
 * FCALL or FCALL_RO argv[0..argc) of the library, loading it first when
 * the server does not know the function.
 */
int mm_route_fcall(struct mm_redis *r, int argc, const char **argv, redisReply **rep,
		   struct mm_err *err);

/* Sorted array of the live machines that hold every one of names[0..n). */
int mm_route_where(struct mm_redis *r, const char *const *names, size_t n, double stale_after,
		   cJSON **out, struct mm_err *err);

/*
 * What machine id reports: {machine_id, live, heartbeat, age_seconds,
 * last_updated, total_models, total_size_gb, model_names, models}.
 */
int mm_route_machine(struct mm_redis *r, const char *id, double stale_after,
		     cJSON **out, struct mm_err *err);

/*
 * For job id: {job_id, status, pending, service_required, models ("all",
 * an array, or null when the requirements make no sense),
 * requirements_valid, never_matched (why the job is never matched, e.g.
 * more models than the library's limit, or null), can_run: [ids],
 * missing: {id: [names]}} over the live machines; when mm's jobMatching
 * library is loaded, also find_matching_job: what findMatchingJob makes of
 * the job ({model_count, model_limit, workflow_id, published_by, reason}).
 */
int mm_route_explain(struct mm_redis *r, const char *job_id, double stale_after,
		     cJSON **out, struct mm_err *err);

/*
 * The job machine would get for service: {job_id, job} (the function
 * itself answers {jobId, job}, as the job queue's findMatchingJob does).
 * With claim, it is claimed for worker (mm_find_matching_job); without,
 * nothing changes.
 */
int mm_route_match(struct mm_redis *r, const char *machine, const char *worker,
		   const char *service, int claim, long max_scan, double stale_after,
		   cJSON **out, struct mm_err *err);

#endif
