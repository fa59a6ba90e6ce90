/* mm-route — ask Redis which machine holds which model and which job goes where. */
#include "audit.h"
#include "config.h"
#include "fleet.h"
#include "log.h"
#include "metrics.h"
#include "mm.h"
#include "prologue.h"
#include "redis.h"
#include "route.h"
#include "size.h"
#include "text.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Every string of the answer, keys too, with control characters escaped:
 * they come from Redis, where anyone who can plant a job or a machine's
 * inventory put them, and a table goes to a terminal as it is.
 */
static void make_visible(cJSON *o)
{
	cJSON *e;

	if (cJSON_IsString(o) && o->valuestring) {
		char *v = mm_visible(o->valuestring);

		cJSON_SetValuestring(o, v);
		free(v);
	}
	cJSON_ArrayForEach(e, o) {
		if (e->string && !(e->type & cJSON_StringIsConst)) {
			char *v = mm_visible(e->string), *k = cJSON_malloc(strlen(v) + 1);

			if (!k)
				abort();  /* out of memory, as mm_xmalloc would */
			memcpy(k, v, strlen(v) + 1);
			cJSON_free(e->string);
			e->string = k;
			free(v);
		}
		make_visible(e);
	}
}

static void print_strings(const cJSON *a, const char *sep)
{
	const cJSON *e;
	int first = 1;

	cJSON_ArrayForEach(e, a) {
		if (cJSON_IsString(e))
			printf("%s%s", first ? "" : sep, e->valuestring);
		first = 0;
	}
}

static void table_where(const cJSON *o)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, o)
		if (cJSON_IsString(e))
			printf("%s\n", e->valuestring);
}

static void table_machine(const cJSON *o)
{
	const cJSON *e, *models = cJSON_GetObjectItemCaseSensitive(o, "models");
	const cJSON *age = cJSON_GetObjectItemCaseSensitive(o, "age_seconds");
	const cJSON *lu = cJSON_GetObjectItemCaseSensitive(o, "last_updated");
	const cJSON *tm = cJSON_GetObjectItemCaseSensitive(o, "total_models");
	const cJSON *gb = cJSON_GetObjectItemCaseSensitive(o, "total_size_gb");

	printf("machine       %s\n", cJSON_GetObjectItemCaseSensitive(o, "machine_id")->valuestring);
	printf("live          %s\n", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "live")) ? "yes" : "no");
	if (cJSON_IsNumber(age))
		printf("heartbeat     %.0f s ago\n", age->valuedouble);
	else
		printf("heartbeat     never\n");
	printf("last_updated  %s\n", cJSON_IsString(lu) ? lu->valuestring : "-");
	if (cJSON_IsNumber(tm))
		printf("models        %.0f", tm->valuedouble);
	else
		printf("models        -");
	if (cJSON_IsNumber(gb))
		printf(" (%.2f GiB)", gb->valuedouble);
	printf("\n");
	if (!cJSON_IsArray(models) || cJSON_GetArraySize(models) == 0)
		return;
	printf("\n%-48s %14s  %s\n", "NAME", "SIZE", "SAVETO");
	cJSON_ArrayForEach(e, models) {
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "name");
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(e, "size");
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "saveTo");

		printf("%-48s %14.0f  %s\n", cJSON_IsString(n) ? n->valuestring : "?",
		       cJSON_IsNumber(s) ? s->valuedouble : 0.0, cJSON_IsString(p) ? p->valuestring : "");
	}
}

static void table_explain(const cJSON *o)
{
	const cJSON *models = cJSON_GetObjectItemCaseSensitive(o, "models");
	const cJSON *svc = cJSON_GetObjectItemCaseSensitive(o, "service_required");
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "status");
	const cJSON *missing = cJSON_GetObjectItemCaseSensitive(o, "missing"), *e;
	const cJSON *why = cJSON_GetObjectItemCaseSensitive(o, "never_matched");

	printf("job       %s (%s%s%s)\n", cJSON_GetObjectItemCaseSensitive(o, "job_id")->valuestring,
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "pending")) ? "pending" : "not pending",
	       cJSON_IsString(st) ? ", status " : "", cJSON_IsString(st) ? st->valuestring : "");
	printf("service   %s\n", cJSON_IsString(svc) ? svc->valuestring : "any");
	printf("needs     ");
	if (cJSON_IsString(models))
		printf("any models (all)");
	else if (cJSON_IsArray(models) && cJSON_GetArraySize(models) == 0)
		printf("no models");
	else if (cJSON_IsArray(models))
		print_strings(models, ", ");
	else
		printf("? (requirements are not valid)");
	if (cJSON_IsString(why))
		printf("\nskipped   never matched: %s", why->valuestring);
	printf("\ncan run   ");
	print_strings(cJSON_GetObjectItemCaseSensitive(o, "can_run"), " ");
	printf("\n");
	cJSON_ArrayForEach(e, missing) {
		printf("%-9s lacks ", e->string);
		print_strings(e, ", ");
		printf("\n");
	}
	e = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "find_matching_job"),
					     "reason");
	if (cJSON_IsString(e))
		printf("findMatchingJob: %s\n", e->valuestring);
}

static void table_match(const cJSON *o)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "job_id");
	const cJSON *job = cJSON_GetObjectItemCaseSensitive(o, "job"), *e;

	printf("job %s\n", cJSON_IsString(id) ? id->valuestring : "?");
	cJSON_ArrayForEach(e, job)
		if (cJSON_IsString(e))
			printf("  %-18s %s\n", e->string, e->valuestring);
}

/* "45s", "12m", "3h", "2d": how long ago, for a column. */
static void age_str(double s, char *buf, size_t n)
{
	if (s < 0)
		snprintf(buf, n, "-");
	else if (s < 120)
		snprintf(buf, n, "%.0fs", s);
	else if (s < 7200)
		snprintf(buf, n, "%.0fm", s / 60);
	else if (s < 172800)
		snprintf(buf, n, "%.0fh", s / 3600);
	else
		snprintf(buf, n, "%.0fd", s / 86400);
}

/* A count column: the number, or "-" when not known. */
static void count_str(const cJSON *o, const char *key, char *buf, size_t n)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (cJSON_IsNumber(v))
		snprintf(buf, n, "%.0f", v->valuedouble);
	else
		snprintf(buf, n, "-");
}

/* The width of the widest string under key, between lo and hi. */
static int column_width(const cJSON *a, const char *key, int lo, int hi)
{
	const cJSON *e;
	int w = lo;

	cJSON_ArrayForEach(e, a) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, key);
		int len = cJSON_IsString(v) ? (int)strlen(v->valuestring) : 0;

		if (len > w)
			w = len;
	}
	return w < hi ? w : hi;
}

/* One line a machine, in the answer's order (worst first). */
static void table_fleet(const cJSON *o)
{
	int w = column_width(o, "machine_id", 7, 40);
	const cJSON *e;

	printf("%-*s %-5s %9s %6s %10s %10s %7s %5s  %-24s %s\n", w, "MACHINE", "STATE", "HEARTBEAT",
	       "MODELS", "SIZE", "UNVERIFIED", "MISSING", "LIARS", "LAST REPORT", "PROBLEM");
	cJSON_ArrayForEach(e, o) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "machine_id");
		const cJSON *age = cJSON_GetObjectItemCaseSensitive(e, "age_seconds");
		const cJSON *bytes = cJSON_GetObjectItemCaseSensitive(e, "total_bytes");
		const cJSON *gb = cJSON_GetObjectItemCaseSensitive(e, "total_size_gb");
		const cJSON *lu = cJSON_GetObjectItemCaseSensitive(e, "last_updated");
		const cJSON *pr = cJSON_GetObjectItemCaseSensitive(e, "problem");
		char a[16], models[24], size[32], unv[24], miss[24], liars[24];

		age_str(cJSON_IsNumber(age) ? age->valuedouble : -1, a, sizeof(a));
		count_str(e, "total_models", models, sizeof(models));
		count_str(e, "unverified_models", unv, sizeof(unv));
		count_str(e, "missing_models", miss, sizeof(miss));
		count_str(e, "liars", liars, sizeof(liars));
		if (cJSON_IsNumber(bytes))
			mm_format_size((long long)bytes->valuedouble, size, sizeof(size));
		else if (cJSON_IsNumber(gb))
			mm_format_size((long long)(gb->valuedouble * 1073741824.0), size, sizeof(size));
		else
			snprintf(size, sizeof(size), "-");
		printf("%-*s %-5s %9s %6s %10s %10s %7s %5s  %-*s%s%s\n", w,
		       cJSON_IsString(id) ? id->valuestring : "?",
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "live")) ? "live" : "stale", a,
		       models, size, unv, miss, liars, cJSON_IsString(pr) ? 24 : 0,
		       cJSON_IsString(lu) ? lu->valuestring : "-", cJSON_IsString(pr) ? " " : "",
		       cJSON_IsString(pr) ? pr->valuestring : "");
	}
}

/* One line a model, in the answer's order. */
static void table_models(const cJSON *o)
{
	int w = column_width(o, "name", 5, 60);
	const cJSON *e;

	printf("%-*s %5s %8s %7s\n", w, "MODEL", "LIVE", "MACHINES", "PENDING");
	cJSON_ArrayForEach(e, o) {
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
		char live[24], all[24], pending[24];

		count_str(e, "live_machines", live, sizeof(live));
		count_str(e, "machines", all, sizeof(all));
		count_str(e, "pending_jobs", pending, sizeof(pending));
		printf("%-*s %5s %8s %7s\n", w, cJSON_IsString(name) ? name->valuestring : "?", live,
		       all, pending);
	}
}

/* What the options say, for the subcommands. */
struct route_opts {
	double stale;
	long max_scan;
	int claim;
};

static int run_where(struct mm_redis *r, char **args, int nargs, const struct route_opts *o,
		     cJSON **out, struct mm_err *err)
{
	return mm_route_where(r, (const char *const *)args, (size_t)nargs, o->stale, out, err);
}

static int run_machine(struct mm_redis *r, char **args, int nargs, const struct route_opts *o,
		       cJSON **out, struct mm_err *err)
{
	(void)nargs;
	return mm_route_machine(r, args[0], o->stale, out, err);
}

static int run_explain(struct mm_redis *r, char **args, int nargs, const struct route_opts *o,
		       cJSON **out, struct mm_err *err)
{
	(void)nargs;
	return mm_route_explain(r, args[0], o->stale, out, err);
}

static int run_match(struct mm_redis *r, char **args, int nargs, const struct route_opts *o,
		     cJSON **out, struct mm_err *err)
{
	(void)nargs;
	return mm_route_match(r, args[0], args[1], args[2], o->claim, o->max_scan, o->stale, out,
			      err);
}

static int run_fleet(struct mm_redis *r, char **args, int nargs, const struct route_opts *o,
		     cJSON **out, struct mm_err *err)
{
	(void)args;
	(void)nargs;
	return mm_route_fleet(r, o->stale, out, err);
}

static int run_models(struct mm_redis *r, char **args, int nargs, const struct route_opts *o,
		      cJSON **out, struct mm_err *err)
{
	struct mm_models_jobs jobs = {0};
	int rc;

	(void)args;
	(void)nargs;
	rc = mm_route_models(r, o->max_scan, o->stale, out, &jobs, err);
	if (!rc && jobs.scanned < jobs.pending)
		mm_infof("pending jobs counted: the first %lld of %lld (--max-scan)", jobs.scanned,
			 jobs.pending);
	return rc;
}

static int run_audit(struct mm_redis *r, char **args, int nargs, const struct route_opts *o,
		     cJSON **out, struct mm_err *err)
{
	(void)args;
	(void)nargs;
	return mm_route_audit(r, o->stale, out, err);
}

static void table_audit(const cJSON *o)
{
	mm_audit_table(o, stdout);
}

/* audit: 1 when machines disagree on a digest or hold a file no digest proves. */
static int audit_verdict(const cJSON *o)
{
	return !mm_audit_clean(o);
}

/*
 * The subcommands: a row each, with its arguments (max_args -1: no limit),
 * the options it takes besides the common ones (claims: --claim is its),
 * its query, its table, and its exit status when the answer decides it
 * (NULL: 1 when the answer is empty).  usage() is made from it.
 */
static const struct subcmd {
	const char *name, *args, *opts;
	int min_args, max_args, claims;
	int (*run)(struct mm_redis *r, char **args, int nargs, const struct route_opts *o,
		   cJSON **out, struct mm_err *err);
	void (*table)(const cJSON *o);
	int (*verdict)(const cJSON *o);
} subcmds[] = {
	{"where", "MODEL...", "", 1, -1, 0, run_where, table_where, NULL},
	{"machine", "MACHINE_ID", "", 1, 1, 0, run_machine, table_machine, NULL},
	{"explain", "JOB_ID", "", 1, 1, 0, run_explain, table_explain, NULL},
	{"match", "MACHINE_ID WORKER_ID SERVICE", "[--claim] [--max-scan N]", 3, 3,
	 1, run_match, table_match, NULL},
	{"fleet", "", "", 0, 0, 0, run_fleet, table_fleet, NULL},
	{"models", "", "[--max-scan N]", 0, 0, 0, run_models, table_models, NULL},
	{"audit", "", "", 0, 0, 0, run_audit, table_audit, audit_verdict},
};

static const struct subcmd *find_subcmd(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(subcmds) / sizeof(subcmds[0]); i++)
		if (strcmp(subcmds[i].name, name) == 0)
			return &subcmds[i];
	return NULL;
}

static void usage(FILE *f)
{
	size_t i;

	for (i = 0; i < sizeof(subcmds) / sizeof(subcmds[0]); i++) {
		const struct subcmd *sc = &subcmds[i];

		/* A row with options and arguments goes on two lines. */
		fprintf(f, "%s mm-route [-qv] [--stale-after S] [--table]%s%s%s%s%s%s\n",
			i ? "      " : "usage:", *sc->opts ? " " : "", sc->opts,
			*sc->opts && *sc->args ? "\n                " : " ", sc->name,
			*sc->args ? " " : "", sc->args);
	}
	fprintf(f, "       mm-route -h | --help | -V | --version\n"
		"Every command also takes --metrics-dir DIR (MM_METRICS_DIR): DIR/mm_route.prom.\n");
}

/* Print the answer; return 0 when there was one, 1 when there was none. */
static int print_answer(const struct subcmd *sc, cJSON *o, int table)
{
	int empty = !o || (cJSON_IsArray(o) && cJSON_GetArraySize(o) == 0);

	if (!table) {
		char *s = o ? cJSON_Print(o) : NULL;

		printf("%s\n", s ? s : "null");
		free(s);
	} else if (o) {
		make_visible(o);
		sc->table(o);
	}
	if (sc->verdict)
		return sc->verdict(o);
	return empty ? 1 : 0;
}

int main(int argc, char **argv)
{
	enum { OPT_CLAIM = 256, OPT_MAX_SCAN, OPT_METRICS, OPT_STALE, OPT_TABLE };
	static const struct option longopts[] = {
		{"claim", no_argument, NULL, OPT_CLAIM},
		{"help", no_argument, NULL, 'h'},
		{"max-scan", required_argument, NULL, OPT_MAX_SCAN},
		{"metrics-dir", required_argument, NULL, OPT_METRICS},
		{"quiet", no_argument, NULL, 'q'},
		{"stale-after", required_argument, NULL, OPT_STALE},
		{"table", no_argument, NULL, OPT_TABLE},
		{"verbose", no_argument, NULL, 'v'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct route_opts ro = {MM_ROUTE_DEFAULT_STALE, MM_ROUTE_DEFAULT_MAX_SCAN, 0};
	struct mm_redis_opts ropts;
	struct mm_redis *r = NULL;
	struct mm_err err = {0};
	const struct subcmd *sc;
	const char *metrics_dir = NULL;
	double t0 = mm_now();
	int table = 0, c, rc, nargs;
	cJSON *answer = NULL;

	mm_prologue_init(argv[0]);
	while ((c = getopt_long(argc, argv, "hqVv", longopts, NULL)) != -1) {
		if (mm_prologue_option(c, usage, &rc))
			return rc;
		switch (c) {
		case OPT_CLAIM:
			ro.claim = 1;
			break;
		case OPT_MAX_SCAN:
			if (mm_prologue_number("--max-scan", optarg, 1, 1000, &ro.max_scan) < 0)
				return MM_EUSAGE;
			break;
		case OPT_STALE:
			if (mm_parse_double(optarg, 0.001, 1e9, &ro.stale) < 0) {
				mm_errorf("--stale-after: want a positive number of seconds, not '%s'", optarg);
				return MM_EUSAGE;
			}
			break;
		case OPT_TABLE:
			table = 1;
			break;
		case OPT_METRICS:
			metrics_dir = optarg;
			break;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return MM_EUSAGE;
	}
	sc = find_subcmd(argv[optind]);
	if (!sc) {
		mm_errorf("unknown command '%s'", argv[optind]);
		usage(stderr);
		return MM_EUSAGE;
	}
	optind++;
	nargs = argc - optind;
	if (nargs < sc->min_args || (sc->max_args >= 0 && nargs > sc->max_args)) {
		mm_errorf("%s: wrong number of arguments", sc->name);
		usage(stderr);
		return MM_EUSAGE;
	}
	if (ro.claim && !sc->claims) {
		mm_errorf("--claim does not go with %s", sc->name);
		return MM_EUSAGE;
	}

	rc = mm_redis_opts_from_env(&ropts, &err);
	if (!rc)
		rc = mm_redis_connect(mm_config_redis_url(), &ropts, &r, &err);
	if (!rc)
		rc = sc->run(r, argv + optind, nargs, &ro, &answer, &err);
	mm_redis_close(r);
	if (rc) {
		/* An error reply (MM_EFAIL) exits 1: Redis was reached, 4 says it was not. */
		mm_errorf("%s", err.msg);
	} else {
		rc = print_answer(sc, answer, table);
		if (fflush(stdout) != 0 || ferror(stdout)) {
			mm_errorf("cannot write to stdout");
			rc = MM_EFAIL;
		}
	}
	cJSON_Delete(answer);
	if (rc != MM_EUSAGE) {
		struct mm_metrics *mx = mm_metrics_new("mm-route", mm_metrics_dir(metrics_dir));

		if (mm_metrics_finish(mx, t0, rc, &err))
			mm_warnf("%s", err.msg);
		mm_metrics_free(mx);
	}
	return rc;
}
