/*
 * fleet.h — the whole fleet in one answer: every machine that reported,
 * and every model it holds, each from one call of a read-only function of
 * the `mm` library (mm_fleet, mm_models), so one round trip whatever the
 * fleet's size.
 *
 * Each query returns a cJSON array the caller owns (cJSON_Delete); an empty
 * fleet is an empty array.
 */
#ifndef MM_FLEET_H
#define MM_FLEET_H

#include <cjson/cJSON.h>

#include "mm.h"
#include "redis.h"

/*
 * Every machine in machines:models:heartbeat, worst first, each
 * {machine_id, live, heartbeat, age_seconds, last_updated, total_models,
 * total_bytes, total_size_gb, unverified_models, missing_models, liars,
 * liar_last_by, liar_last_at, problem}: the counts as mm-report publishes
 * them in machine:<id>:models (null when it did not: an older mm-report, or
 * missing_models without a manifest); liars, how many times peers caught
 * the machine sending bytes that fail the hash in the last 7 days
 * (rkeys.h's MM_RKEY_MACHINE_LIAR: 0 without reports, null when the loaded
 * library is older and does not say), the last reporter and the unix time
 * of the report (null without); and problem, null or what is wrong with the
 * machine's keys (no inventory, a key of the wrong type, a field that is
 * not a number).
 *
 * Worst first: stale machines, then those with a problem, then the others;
 * within each, the most liar reports, the most wanted models missing, the
 * most unverified files, the oldest heartbeat, then by id.  A report is
 * what another machine said: the order shows it, nothing routes by it.
 */
int mm_route_fleet(struct mm_redis *r, double stale_after, cJSON **out, struct mm_err *err);

/* What mm_route_models counted the pending jobs over. */
struct mm_models_jobs {
	long long pending;  /* jobs in jobs:pending */
	long long scanned;  /* the first ones counted (max_scan at most) */
};

/*
 * Every model a machine that reported holds, and every model one of the
 * first max_scan pending jobs needs: {name, machines, live_machines,
 * pending_jobs}.  Sorted by live_machines, fewest first, then pending_jobs,
 * most first, then name: a model jobs wait for that no live machine holds
 * comes first.  jobs (may be NULL) gets how many jobs were counted.
 */
int mm_route_models(struct mm_redis *r, long max_scan, double stale_after, cJSON **out,
		    struct mm_models_jobs *jobs, struct mm_err *err);

#endif
