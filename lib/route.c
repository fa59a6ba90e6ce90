/* route.c — the `mm` function library and the operator's routing queries. */
#include "route.h"
#include "log.h"
#include "rkeys.h"

#include <stdlib.h>
#include <string.h>

int mm_route_install_functions(struct mm_redis *r, struct mm_err *err)
{
	const char *argv[] = {"FUNCTION", "LOAD", "REPLACE", mm_redis_lua};
	size_t lens[] = {8, 4, 7, mm_redis_lua_len};
	redisReply *rep = NULL;
	int rc;

	rc = mm_redis_cmdv(r, 4, argv, lens, &rep, err);
	if (rc)
		return mm_error_prefix(err, "loading the function library");
	freeReplyObject(rep);
	return 0;
}

/*
 * Call a function of the library; when the server does not know it (a fresh
 * server, or an older library), load ours and call again.
 */
static int fcall(struct mm_redis *r, int argc, const char **argv, redisReply **rep,
		 struct mm_err *err)
{
	int rc = mm_redis_cmdv(r, argc, argv, NULL, rep, err);

	if (rc == MM_EFAIL && err && strstr(err->msg, "Function not found")) {
		mm_infof("function library mm is not loaded on %s; loading it", mm_redis_address(r));
		rc = mm_route_install_functions(r, err);
		if (!rc)
			rc = mm_redis_cmdv(r, argc, argv, NULL, rep, err);
	}
	return rc;
}

int mm_route_fcall(struct mm_redis *r, int argc, const char **argv, redisReply **rep,
		   struct mm_err *err)
{
	return fcall(r, argc, argv, rep, err);
}

static cJSON *strings_of(const redisReply *rep)
{
	cJSON *a = cJSON_CreateArray();
	size_t i;

	if (rep->type == REDIS_REPLY_ARRAY)
		for (i = 0; i < rep->elements; i++)
			if (rep->element[i]->type == REDIS_REPLY_STRING ||
			    rep->element[i]->type == REDIS_REPLY_STATUS)
				cJSON_AddItemToArray(a, cJSON_CreateString(rep->element[i]->str));
	return a;
}

static int cmp_reply_str(const void *a, const void *b)
{
	return strcmp((*(redisReply *const *)a)->str, (*(redisReply *const *)b)->str);
}

/* SMEMBERS order is arbitrary; sort for stable output. */
static cJSON *sorted_strings_of(redisReply *rep)
{
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements > 1)
		qsort(rep->element, rep->elements, sizeof(*rep->element), cmp_reply_str);
	return strings_of(rep);
}

int mm_route_where(struct mm_redis *r, const char *const *names, size_t n, double stale_after,
		   cJSON **out, struct mm_err *err)
{
	const char **argv = mm_xcalloc(n + 5, sizeof(*argv));
	char stale[32];
	redisReply *rep = NULL;
	size_t i;
	int rc;

	*out = NULL;
	snprintf(stale, sizeof(stale), "%g", stale_after);
	argv[0] = "FCALL_RO";
	argv[1] = "mm_machines_with_models";
	argv[2] = "0";
	argv[3] = "--stale-after";
	argv[4] = stale;
	for (i = 0; i < n; i++)
		argv[5 + i] = names[i];
	rc = fcall(r, (int)(n + 5), argv, &rep, err);
	free(argv);
	if (rc)
		return rc;
	*out = strings_of(rep);
	freeReplyObject(rep);
	return 0;
}

static const char *field(const redisReply *h, const char *name)
{
	size_t i;

	if (h->type != REDIS_REPLY_ARRAY)
		return NULL;
	for (i = 0; i + 1 < h->elements; i += 2)
		if (h->element[i]->type == REDIS_REPLY_STRING && strcmp(h->element[i]->str, name) == 0 &&
		    h->element[i + 1]->type == REDIS_REPLY_STRING)
			return h->element[i + 1]->str;
	return NULL;
}

static void add_number_field(cJSON *o, const char *key, const char *s)
{
	double v;

	if (s && mm_parse_double(s, -1e18, 1e18, &v) == 0)
		cJSON_AddNumberToObject(o, key, v);
	else
		cJSON_AddNullToObject(o, key);
}

int mm_route_machine(struct mm_redis *r, const char *id, double stale_after,
		     cJSON **out, struct mm_err *err)
{
	struct mm_rcmds *q = mm_rcmds_new();
	char *k_models = mm_xasprintf(MM_RKEY_MACHINE_MODELS, id);
	char *k_names = mm_xasprintf(MM_RKEY_MACHINE_NAMES, id);
	redisReply **reps = NULL;
	const char *s;
	cJSON *o, *models = NULL;
	double hb = -1, now = 0;
	int rc;

	*out = NULL;
	mm_rcmds_add(q, "TIME", (char *)NULL);
	mm_rcmds_add(q, "HGETALL", k_models, (char *)NULL);
	mm_rcmds_add(q, "ZSCORE", MM_RKEY_HEARTBEAT, id, (char *)NULL);
	mm_rcmds_add(q, "SMEMBERS", k_names, (char *)NULL);
	rc = mm_redis_pipeline(r, q, &reps, err);
	mm_rcmds_free(q);
	free(k_models);
	free(k_names);
	if (rc)
		return rc;
	if (reps[1]->elements == 0 && reps[2]->type != REDIS_REPLY_STRING && reps[3]->elements == 0)
		goto out;  /* never reported, or deregistered */
	if (reps[0]->type == REDIS_REPLY_ARRAY && reps[0]->elements >= 1)
		mm_parse_double(reps[0]->element[0]->str, 0, 1e12, &now);
	if (reps[2]->type == REDIS_REPLY_STRING)
		mm_parse_double(reps[2]->str, 0, 1e12, &hb);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "machine_id", id);
	cJSON_AddBoolToObject(o, "live", hb >= 0 && now - hb <= stale_after);
	if (hb >= 0) {
		cJSON_AddNumberToObject(o, "heartbeat", hb);
		cJSON_AddNumberToObject(o, "age_seconds", now - hb);
	} else {
		cJSON_AddNullToObject(o, "heartbeat");
		cJSON_AddNullToObject(o, "age_seconds");
	}
	s = field(reps[1], "last_updated");
	if (s)
		cJSON_AddStringToObject(o, "last_updated", s);
	else
		cJSON_AddNullToObject(o, "last_updated");
	add_number_field(o, "total_models", field(reps[1], "total_models"));
	add_number_field(o, "total_size_gb", field(reps[1], "total_size_gb"));
	cJSON_AddItemToObject(o, "model_names", sorted_strings_of(reps[3]));
	s = field(reps[1], "models");
	if (s)
		models = cJSON_Parse(s);
	if (!cJSON_IsArray(models)) {
		cJSON_Delete(models);
		models = s ? cJSON_CreateString(s) : cJSON_CreateNull();
	}
	cJSON_AddItemToObject(o, "models", models);
	*out = o;
out:
	mm_redis_replies_free(reps, 4);
	return 0;
}

/*
 * What mm's jobMatching library (findMatchingJob) makes of the job, as
 * "find_matching_job"; nothing when that library is not loaded.
 */
static void add_job_matching(struct mm_redis *r, const char *job_id, const char *stale, cJSON *o)
{
	const char *argv[] = {"FCALL_RO", "jobMatchingExplain", "0", job_id, stale};
	struct mm_err e = {0};
	redisReply *rep = NULL;
	cJSON *jm;

	if (mm_redis_cmdv(r, 5, argv, NULL, &rep, &e))
		return;
	if (rep->type == REDIS_REPLY_STRING && (jm = cJSON_Parse(rep->str)))
		cJSON_AddItemToObject(o, "find_matching_job", jm);
	freeReplyObject(rep);
}

int mm_route_explain(struct mm_redis *r, const char *job_id, double stale_after,
		     cJSON **out, struct mm_err *err)
{
	char stale[32];
	const char *argv[] = {"FCALL_RO", "mm_explain_job", "0", job_id, stale};
	redisReply *rep = NULL;
	cJSON *o, *missing;
	size_t i;
	int rc;

	*out = NULL;
	snprintf(stale, sizeof(stale), "%g", stale_after);
	rc = fcall(r, 5, argv, &rep, err);
	if (rc)
		return rc;
	if (rep->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(rep);
		return 0;  /* no such job */
	}
	if (rep->elements < 8) {
		freeReplyObject(rep);
		return mm_error(err, MM_EFAIL, "mm_explain_job: unexpected answer (an older library?)");
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "job_id", job_id);
	if (rep->element[7]->str && *rep->element[7]->str)
		cJSON_AddStringToObject(o, "status", rep->element[7]->str);
	else
		cJSON_AddNullToObject(o, "status");
	cJSON_AddBoolToObject(o, "pending", rep->element[1]->integer == 1);
	if (rep->element[2]->str && *rep->element[2]->str)
		cJSON_AddStringToObject(o, "service_required", rep->element[2]->str);
	else
		cJSON_AddNullToObject(o, "service_required");
	if (strcmp(rep->element[3]->str, "all") == 0)
		cJSON_AddStringToObject(o, "models", "all");
	else if (strcmp(rep->element[3]->str, "list") == 0)
		cJSON_AddItemToObject(o, "models", strings_of(rep->element[4]));
	else
		cJSON_AddNullToObject(o, "models");
	cJSON_AddBoolToObject(o, "requirements_valid", strcmp(rep->element[3]->str, "invalid") != 0);
	if (rep->elements >= 9 && rep->element[8]->type == REDIS_REPLY_STRING && *rep->element[8]->str)
		cJSON_AddStringToObject(o, "never_matched", rep->element[8]->str);
	else
		cJSON_AddNullToObject(o, "never_matched");
	cJSON_AddItemToObject(o, "can_run", strings_of(rep->element[5]));
	missing = cJSON_AddObjectToObject(o, "missing");
	for (i = 0; i < rep->element[6]->elements; i++) {
		redisReply *pair = rep->element[6]->element[i];

		if (pair->type == REDIS_REPLY_ARRAY && pair->elements == 2)
			cJSON_AddItemToObject(missing, pair->element[0]->str, strings_of(pair->element[1]));
	}
	freeReplyObject(rep);
	add_job_matching(r, job_id, stale, o);
	*out = o;
	return 0;
}

int mm_route_match(struct mm_redis *r, const char *machine, const char *worker,
		   const char *service, int claim, long max_scan, double stale_after,
		   cJSON **out, struct mm_err *err)
{
	char scan[32], stale[32];
	const char *argv[8];
	redisReply *rep = NULL;
	int argc = 0, rc;

	*out = NULL;
	snprintf(scan, sizeof(scan), "%ld", max_scan);
	snprintf(stale, sizeof(stale), "%g", stale_after);
	argv[argc++] = claim ? "FCALL" : "FCALL_RO";
	argv[argc++] = claim ? "mm_find_matching_job" : "mm_peek_matching_job";
	argv[argc++] = "0";
	argv[argc++] = machine;
	if (claim)
		argv[argc++] = worker;
	argv[argc++] = service;
	argv[argc++] = scan;
	argv[argc++] = stale;
	rc = fcall(r, argc, argv, &rep, err);
	if (rc)
		return rc;
	if (rep->type == REDIS_REPLY_STRING) {
		cJSON *fn = cJSON_Parse(rep->str);

		/*
		 * The function answers as the job queue's findMatchingJob does,
		 * {jobId, job}; mm-route's answers spell it as explain does.
		 */
		if (!cJSON_IsObject(fn)) {
			rc = mm_error(err, MM_EFAIL, "%s: answer is not a JSON object", argv[1]);
		} else {
			*out = cJSON_CreateObject();
			cJSON_AddItemToObject(*out, "job_id",
					      cJSON_DetachItemFromObjectCaseSensitive(fn, "jobId"));
			cJSON_AddItemToObject(*out, "job",
					      cJSON_DetachItemFromObjectCaseSensitive(fn, "job"));
		}
		cJSON_Delete(fn);
	}
	freeReplyObject(rep);
	return rc;
}
