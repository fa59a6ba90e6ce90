/* fleet.c — every machine and every model of the fleet, in one round trip each. */
#include "fleet.h"
#include "rkeys.h"
#include "route.h"

#include <stdlib.h>
#include <string.h>

/* The fields mm_fleet returns after id, heartbeat and error, in its order. */
enum { F_LAST_UPDATED, F_TOTAL_MODELS, F_TOTAL_BYTES, F_TOTAL_SIZE_GB, F_UNVERIFIED,
       F_MISSING, F_COUNT };

static const char *const field_names[F_COUNT] = {
	"last_updated", "total_models", "total_bytes", "total_size_gb", "unverified_models",
	"missing_models",
};

/* One machine, judged: what the order looks at, and its answer. */
struct machine {
	const char *id;
	double age;                 /* seconds since the heartbeat */
	double missing, unverified; /* -1: not published */
	double liars;               /* peers' reports; -1: not known */
	int stale, problem;
	cJSON *o;
};

static const char *reply_str(const redisReply *e)
{
	return e && (e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS ||
		     e->type == REDIS_REPLY_ERROR) ? e->str : NULL;
}

/* Field f of a row, NULL when absent (an error row has none). */
static const redisReply *row_field(const redisReply *row, int f)
{
	return row->elements == 3 + F_COUNT ? row->element[3 + f] : NULL;
}

static void add_problem(struct mm_buf *b, const char *what)
{
	if (b->len)
		mm_buf_put(b, "; ", 2);
	mm_buf_put(b, what, strlen(what));
}

/*
 * A number field: the number, or null when absent; a value that is not a
 * count (or, for total_size_gb, not a size) is a problem, and null.
 */
static double add_count(cJSON *o, int f, const redisReply *e, struct mm_buf *problems)
{
	const char *s = reply_str(e);
	double v;

	if (!s) {
		cJSON_AddNullToObject(o, field_names[f]);
		return -1;
	}
	if (mm_parse_double(s, 0, 1e18, &v) < 0) {
		char *msg = mm_xasprintf("%s is not a number", field_names[f]);

		add_problem(problems, msg);
		free(msg);
		cJSON_AddNullToObject(o, field_names[f]);
		return -1;
	}
	cJSON_AddNumberToObject(o, field_names[f], v);
	return v;
}

/*
 * What peers reported of the machine (MM_RKEY_MACHINE_LIAR): liars, its
 * count (0 without reports), liar_last_by and liar_last_at.  l is the
 * machine's entry of mm_fleet's third element, NULL when the library is
 * older and did not give one: then all three are null.
 */
static void add_liars(struct machine *m, const redisReply *l, struct mm_buf *problems)
{
	const char *count = NULL, *by = NULL, *at = NULL;
	double v = 0, t = -1;
	char *key = mm_xasprintf(MM_RKEY_MACHINE_LIAR, m->id), *msg = NULL;

	m->liars = -1;
	if (l && l->type == REDIS_REPLY_ARRAY && l->elements == 3) {
		count = reply_str(l->element[0]);
		by = reply_str(l->element[1]);
		at = reply_str(l->element[2]);
		if (count && mm_parse_double(count, 0, 1e15, &v) < 0)
			msg = mm_xasprintf("%s: count is not a number", key);
		else
			m->liars = v;
		if (at && mm_parse_double(at, 0, 1e15, &t) < 0)
			t = -1;
	} else if (l) {
		msg = mm_xasprintf("cannot read %s: %s", key, reply_str(l) ? reply_str(l) : "not a hash");
	}
	if (msg)
		add_problem(problems, msg);
	if (m->liars >= 0)
		cJSON_AddNumberToObject(m->o, "liars", m->liars);
	else
		cJSON_AddNullToObject(m->o, "liars");
	if (m->liars >= 0 && by && *by)
		cJSON_AddStringToObject(m->o, "liar_last_by", by);
	else
		cJSON_AddNullToObject(m->o, "liar_last_by");
	if (m->liars >= 0 && t >= 0)
		cJSON_AddNumberToObject(m->o, "liar_last_at", t);
	else
		cJSON_AddNullToObject(m->o, "liar_last_at");
	free(msg);
	free(key);
}

static void judge(struct machine *m, const redisReply *row, const redisReply *liars, double now,
		  double stale_after)
{
	struct mm_buf problems = {0};
	const char *err = reply_str(row->element[2]), *lu;
	double hb = -1;
	size_t f;

	m->id = reply_str(row->element[0]);
	mm_parse_double(reply_str(row->element[1]), -1e18, 1e18, &hb);
	m->age = now - hb;
	m->stale = m->age > stale_after;
	m->missing = m->unverified = -1;
	m->o = cJSON_CreateObject();
	cJSON_AddStringToObject(m->o, "machine_id", m->id);
	cJSON_AddBoolToObject(m->o, "live", !m->stale);
	cJSON_AddNumberToObject(m->o, "heartbeat", hb);
	cJSON_AddNumberToObject(m->o, "age_seconds", m->age);
	if (err && *err) {
		char *msg = mm_xasprintf("cannot read machine:%s:models: %s", m->id, err);

		add_problem(&problems, msg);
		free(msg);
	} else {
		int any = 0;

		for (f = 0; f < F_COUNT; f++)
			any |= reply_str(row_field(row, (int)f)) != NULL;
		if (!any)
			add_problem(&problems, "no inventory: machine:<id>:models is empty or gone");
	}
	lu = reply_str(row_field(row, F_LAST_UPDATED));
	if (lu)
		cJSON_AddStringToObject(m->o, "last_updated", lu);
	else
		cJSON_AddNullToObject(m->o, "last_updated");
	for (f = F_TOTAL_MODELS; f < F_COUNT; f++) {
		double v = add_count(m->o, (int)f, row_field(row, (int)f), &problems);

		if (f == F_MISSING)
			m->missing = v;
		else if (f == F_UNVERIFIED)
			m->unverified = v;
	}
	add_liars(m, liars, &problems);
	m->problem = problems.len > 0;
	if (m->problem) {
		mm_buf_put(&problems, "", 1);
		cJSON_AddStringToObject(m->o, "problem", problems.p);
	} else {
		cJSON_AddNullToObject(m->o, "problem");
	}
	free(problems.p);
}

static int cmp_desc(double a, double b)
{
	return a > b ? -1 : a < b ? 1 : 0;
}

/* Worst first: see fleet.h. */
static int cmp_machine(const void *pa, const void *pb)
{
	const struct machine *a = pa, *b = pb;
	int c;

	if (a->stale != b->stale)
		return b->stale - a->stale;
	if (a->problem != b->problem)
		return b->problem - a->problem;
	if ((c = cmp_desc(a->liars, b->liars)) || (c = cmp_desc(a->missing, b->missing)) ||
	    (c = cmp_desc(a->unverified, b->unverified)) || (c = cmp_desc(a->age, b->age)))
		return c;
	return strcmp(a->id, b->id);
}

/*
 * mm_fleet's answer has the shape mm.lua gives it: {now, rows}, and with
 * "liars" asked of a library that knows it, a third element of one entry a
 * row.
 */
static int fleet_shape_ok(const redisReply *rep)
{
	size_t i;

	if (rep->type != REDIS_REPLY_ARRAY || (rep->elements != 2 && rep->elements != 3) ||
	    rep->element[0]->type != REDIS_REPLY_INTEGER || rep->element[1]->type != REDIS_REPLY_ARRAY)
		return 0;
	if (rep->elements == 3 && (rep->element[2]->type != REDIS_REPLY_ARRAY ||
				   rep->element[2]->elements != rep->element[1]->elements))
		return 0;
	for (i = 0; i < rep->element[1]->elements; i++) {
		const redisReply *row = rep->element[1]->element[i];

		if (row->type != REDIS_REPLY_ARRAY ||
		    (row->elements != 3 && row->elements != 3 + F_COUNT) || !reply_str(row->element[0]) ||
		    !reply_str(row->element[1]))
			return 0;
	}
	return 1;
}

int mm_route_fleet(struct mm_redis *r, double stale_after, cJSON **out, struct mm_err *err)
{
	const char *argv[] = {"FCALL_RO", "mm_fleet", "0", "liars"};
	redisReply *rep = NULL, *rows;
	struct machine *v;
	size_t i, n;
	int rc;

	*out = NULL;
	rc = mm_route_fcall(r, 4, argv, &rep, err);
	if (rc)
		return rc;
	if (!fleet_shape_ok(rep)) {
		freeReplyObject(rep);
		return mm_error(err, MM_EFAIL, "mm_fleet: unexpected answer (an older library?)");
	}
	rows = rep->element[1];
	n = rows->elements;
	v = mm_xcalloc(n ? n : 1, sizeof(*v));
	for (i = 0; i < n; i++)
		judge(&v[i], rows->element[i], rep->elements == 3 ? rep->element[2]->element[i] : NULL,
		      (double)rep->element[0]->integer, stale_after);
	qsort(v, n, sizeof(*v), cmp_machine);
	*out = cJSON_CreateArray();
	for (i = 0; i < n; i++)
		cJSON_AddItemToArray(*out, v[i].o);
	free(v);
	freeReplyObject(rep);
	return 0;
}

/* One model of mm_models's answer. */
struct model {
	const char *name;
	long long machines, live, pending;
};

static int cmp_model(const void *pa, const void *pb)
{
	const struct model *a = pa, *b = pb;

	if (a->live != b->live)
		return a->live < b->live ? -1 : 1;
	if (a->pending != b->pending)
		return a->pending > b->pending ? -1 : 1;
	return strcmp(a->name, b->name);
}

int mm_route_models(struct mm_redis *r, long max_scan, double stale_after, cJSON **out,
		    struct mm_models_jobs *jobs, struct mm_err *err)
{
	char scan[32], stale[32];
	const char *argv[] = {"FCALL_RO", "mm_models", "0", scan, stale};
	redisReply *rep = NULL;
	struct model *v;
	size_t i, n;
	int rc;

	*out = NULL;
	snprintf(scan, sizeof(scan), "%ld", max_scan);
	snprintf(stale, sizeof(stale), "%g", stale_after);
	rc = mm_route_fcall(r, 5, argv, &rep, err);
	if (rc)
		return rc;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 2 || (rep->elements - 2) % 4 != 0) {
		freeReplyObject(rep);
		return mm_error(err, MM_EFAIL, "mm_models: unexpected answer (an older library?)");
	}
	for (i = 0; i < rep->elements; i++)
		if ((i < 2 || (i - 2) % 4 != 0) ? rep->element[i]->type != REDIS_REPLY_INTEGER :
						  !reply_str(rep->element[i])) {
			freeReplyObject(rep);
			return mm_error(err, MM_EFAIL, "mm_models: unexpected answer (an older library?)");
		}
	if (jobs) {
		jobs->pending = rep->element[0]->integer;
		jobs->scanned = rep->element[1]->integer;
	}
	n = (rep->elements - 2) / 4;
	v = mm_xcalloc(n ? n : 1, sizeof(*v));
	for (i = 0; i < n; i++) {
		redisReply **e = rep->element + 2 + 4 * i;

		v[i].name = e[0]->str;
		v[i].machines = e[1]->integer;
		v[i].live = e[2]->integer;
		v[i].pending = e[3]->integer;
	}
	qsort(v, n, sizeof(*v), cmp_model);
	*out = cJSON_CreateArray();
	for (i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "name", v[i].name);
		cJSON_AddNumberToObject(o, "machines", (double)v[i].machines);
		cJSON_AddNumberToObject(o, "live_machines", (double)v[i].live);
		cJSON_AddNumberToObject(o, "pending_jobs", (double)v[i].pending);
		cJSON_AddItemToArray(*out, o);
	}
	free(v);
	freeReplyObject(rep);
	return 0;
}
