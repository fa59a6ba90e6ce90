/* mm-report — tell the fleet, through Redis, which models this machine holds. */
#include "config.h"
#include "inventory.h"
#include "jobmatch.h"
#include "log.h"
#include "manifest.h"
#include "metrics.h"
#include "mm.h"
#include "prologue.h"
#include "redis.h"
#include "report.h"
#include "route.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mm-report [-qv] [--dry-run] [--full] [--machine-id ID] [--metrics-dir DIR] [FILE]\n"
		"       mm-report [-qv] --watch [--interval S] [--keep-on-exit] [--full]\n"
		"                 [--machine-id ID] [--metrics-dir DIR] [FILE]\n"
		"       mm-report [-qv] --prune-stale SECONDS\n"
		"       mm-report [-qv] --install-functions\n"
		"       mm-report [-qv] --install-job-matching | --restore-job-matching\n"
		"       mm-report [-qv] --deregister [--machine-id ID]\n"
		"       mm-report -h | --help | -V | --version\n");
}

struct opts {
	const char *machine_id;
	const char *input;       /* FILE, "-", or NULL */
	const char *root;
	char *state_dir;
	const char *metrics_dir;
	int dry_run, full, watch, keep_on_exit, deregister, install, prune, jm_install, jm_restore;
	double interval, prune_age;
};

/* The manifest from the pipe or FILE: its bytes, and the parsed view. */
struct input {
	char *text;
	size_t len;
	struct mm_manifest *m;
};

/*
 * Read FILE, or stdin when it is not a terminal.  Nothing at all on stdin
 * (a service started with </dev/null) means no manifest.
 */
static int load_input(const struct opts *o, struct input *in, struct mm_err *err)
{
	int rc;

	memset(in, 0, sizeof(*in));
	if (!o->input && isatty(STDIN_FILENO))
		return 0;
	rc = mm_manifest_read(o->input, &in->text, &in->len, err);
	if (!rc && in->len)
		rc = mm_manifest_parse(in->text, in->len, o->input ? o->input : "<stdin>", 0, &in->m, err);
	return rc;
}

/* Pass the manifest through, byte for byte. */
static int write_input(const struct input *in, struct mm_err *err)
{
	if (!in->len)
		return 0;
	if (fwrite(in->text, 1, in->len, stdout) != in->len || fflush(stdout) != 0)
		return mm_error(err, MM_EFAIL, "cannot write to stdout: %s", strerror(errno));
	return 0;
}

static int pass_input(void *arg, struct mm_err *err)
{
	return write_input(arg, err);
}

/* What the library's report functions need from the options. */
static void report_opts(const struct opts *o, const struct input *in,
			const struct mm_redis_opts *ropts, struct mm_report_opts *ro)
{
	memset(ro, 0, sizeof(*ro));
	ro->machine_id = o->machine_id;
	ro->root = o->root;
	ro->state_dir = o->state_dir;
	ro->m = in->m;
	ro->full = o->full;
	ro->redis_url = mm_config_redis_url();
	ro->ropts = ropts;
	ro->interval = o->interval;
	ro->keep_on_exit = o->keep_on_exit;
}

/* Count a report (sent or not); --watch rewrites the file each time, and says once when it cannot. */
static void metrics_note(void *arg, const struct mm_report_opts *ro, const struct mm_inv_model *recs,
			 size_t n, const struct mm_inv_stats *st, int rc)
{
	static int warned;
	struct mm_metrics *mx = arg;
	struct mm_err e;

	mm_metrics_report(mx, recs, n, ro->m, st, rc);
	if (!ro->stop || !mx)
		return;
	if (mm_metrics_write(mx, &e) == 0)
		warned = 0;
	else if (!warned++)
		mm_warnf("%s", e.msg);
}

static int dry_run(const struct opts *o, const struct input *in, struct mm_err *err)
{
	struct mm_report_opts ro;
	struct mm_scan scan = {0};
	struct mm_inv_model *recs = NULL;
	struct mm_rcmds *q;
	size_t n = 0;
	int rc;

	report_opts(o, in, NULL, &ro);
	rc = mm_report_collect(&ro, &scan, &recs, &n, err);
	if (rc)
		goto out;
	q = mm_inv_full_commands(o->machine_id, recs, n, mm_inv_missing(in->m, recs, n),
				 (long long)time(NULL));
	/* stdout carries the manifest when one came in; the commands then go to stderr. */
	if (mm_rcmds_render(q, in->len ? stderr : stdout) < 0)
		rc = mm_error(err, MM_EFAIL, "cannot write the commands: %s", strerror(errno));
	mm_rcmds_free(q);
	if (!rc) {
		struct mm_list wf;

		mm_inv_workflows(in->m, recs, n, &wf);
		q = mm_inv_workflow_commands(o->machine_id, &wf);
		if (mm_rcmds_render(q, in->len ? stderr : stdout) < 0)
			rc = mm_error(err, MM_EFAIL, "cannot write the commands: %s", strerror(errno));
		mm_rcmds_free(q);
		mm_list_free(&wf);
	}
out:
	free(recs);
	mm_scan_free(&scan);
	return rc;
}

/* --install-job-matching, --restore-job-matching over r: do it, say what was done. */
static int jm_over(const struct opts *o, struct mm_redis *r, struct mm_err *err)
{
	int outcome = -1, rc;
	const char *addr = mm_redis_address(r);

	if (o->jm_install)
		rc = mm_jobmatch_install(r, o->state_dir, &outcome, err);
	else
		rc = mm_jobmatch_restore(r, o->state_dir, &outcome, err);
	if (rc)
		return rc;
	switch (outcome) {
	case MM_JM_INSTALLED:
		mm_infof("loaded mm's jobMatching library into %s; there was none before "
			 "(saved that in %s and %s/%s)", addr, MM_JOBMATCH_SAVED_KEY, o->state_dir,
			 MM_JOBMATCH_DUMP_FILE);
		break;
	case MM_JM_REPLACED:
		mm_infof("loaded mm's jobMatching library into %s; the one it replaced is saved in %s "
			 "and %s/%s", addr, MM_JOBMATCH_SAVED_KEY, o->state_dir, MM_JOBMATCH_DUMP_FILE);
		break;
	case MM_JM_UPDATED:
		mm_infof("updated mm's jobMatching library on %s; the saved one is kept", addr);
		break;
	case MM_JM_UNCHANGED:
		mm_infof("mm's jobMatching library is already loaded on %s; nothing to do", addr);
		break;
	case MM_JM_RESTORED:
		mm_infof("put the saved jobMatching library back on %s", addr);
		break;
	case MM_JM_DELETED:
		mm_infof("deleted mm's jobMatching library from %s: there was none before it", addr);
		break;
	case MM_JM_NOTHING_SAVED:
		mm_infof("nothing saved to restore on %s or in %s; nothing to do", addr, o->state_dir);
		break;
	case MM_JM_NOT_OURS:
		mm_infof("the jobMatching library on %s is not mm's; left it alone", addr);
		break;
	}
	printf("{\"job_matching\":\"%s\"}\n", mm_jobmatch_outcome_name(outcome));
	return 0;
}

static int job_matching(const struct opts *o, const struct mm_redis_opts *ropts,
			struct mm_err *err)
{
	struct mm_redis *r = NULL;
	int rc = mm_redis_connect(mm_config_redis_url(), ropts, &r, err);

	if (!rc)
		rc = jm_over(o, r, err);
	mm_redis_close(r);
	return rc;
}

static char *default_machine_id(void)
{
	char host[256];

	if (gethostname(host, sizeof(host)) < 0)
		return NULL;
	host[sizeof(host) - 1] = '\0';
	return mm_xstrdup(host);
}

/*
 * The options, into o.  Returns -1 to go on, or the exit status (after
 * --help, --version, or a bad option).
 */
static int parse_args(int argc, char **argv, struct opts *o)
{
	enum {
		OPT_DEREGISTER = 256, OPT_DRY_RUN, OPT_FULL, OPT_INSTALL, OPT_INTERVAL,
		OPT_KEEP, OPT_MACHINE, OPT_PRUNE, OPT_WATCH, OPT_JM_INSTALL, OPT_JM_RESTORE,
		OPT_METRICS,
	};
	static const struct option longopts[] = {
		{"deregister", no_argument, NULL, OPT_DEREGISTER},
		{"dry-run", no_argument, NULL, OPT_DRY_RUN},
		{"full", no_argument, NULL, OPT_FULL},
		{"help", no_argument, NULL, 'h'},
		{"install-functions", no_argument, NULL, OPT_INSTALL},
		{"install-job-matching", no_argument, NULL, OPT_JM_INSTALL},
		{"interval", required_argument, NULL, OPT_INTERVAL},
		{"keep-on-exit", no_argument, NULL, OPT_KEEP},
		{"machine-id", required_argument, NULL, OPT_MACHINE},
		{"metrics-dir", required_argument, NULL, OPT_METRICS},
		{"prune-stale", required_argument, NULL, OPT_PRUNE},
		{"quiet", no_argument, NULL, 'q'},
		{"restore-job-matching", no_argument, NULL, OPT_JM_RESTORE},
		{"verbose", no_argument, NULL, 'v'},
		{"version", no_argument, NULL, 'V'},
		{"watch", no_argument, NULL, OPT_WATCH},
		{NULL, 0, NULL, 0},
	};
	int c, rc;

	o->interval = 30;
	while ((c = getopt_long(argc, argv, "hqVv", longopts, NULL)) != -1) {
		if (mm_prologue_option(c, usage, &rc))
			return rc;
		switch (c) {
		case OPT_DEREGISTER: o->deregister = 1; break;
		case OPT_DRY_RUN: o->dry_run = 1; break;
		case OPT_FULL: o->full = 1; break;
		case OPT_INSTALL: o->install = 1; break;
		case OPT_JM_INSTALL: o->jm_install = 1; break;
		case OPT_JM_RESTORE: o->jm_restore = 1; break;
		case OPT_INTERVAL:
			if (mm_parse_double(optarg, 0.1, 86400, &o->interval) < 0) {
				mm_errorf("--interval: want seconds from 0.1 to 86400, not '%s'", optarg);
				return MM_EUSAGE;
			}
			break;
		case OPT_KEEP: o->keep_on_exit = 1; break;
		case OPT_MACHINE: o->machine_id = optarg; break;
		case OPT_METRICS: o->metrics_dir = optarg; break;
		case OPT_PRUNE:
			o->prune = 1;
			if (mm_parse_double(optarg, 1, 1e9, &o->prune_age) < 0) {
				mm_errorf("--prune-stale: want a number of seconds (at least 1), not '%s'", optarg);
				return MM_EUSAGE;
			}
			break;
		case OPT_WATCH: o->watch = 1; break;
		}
	}
	if (argc - optind > 1) {
		mm_errorf("one manifest at most");
		usage(stderr);
		return MM_EUSAGE;
	}
	o->input = optind < argc ? argv[optind] : NULL;
	if (o->dry_run + o->watch + o->deregister + (o->install || o->prune) + o->jm_install +
	    o->jm_restore > 1) {
		mm_errorf("--dry-run, --watch, --deregister, --install-functions/--prune-stale, "
			  "--install-job-matching and --restore-job-matching do not go together");
		return MM_EUSAGE;
	}
	return -1;
}

/* --install-functions, --prune-stale, --deregister: do them, print what was done. */
static int admin(const struct opts *o, const struct mm_redis_opts *ropts, struct mm_err *err)
{
	struct mm_redis *r = NULL;
	size_t pruned = 0;
	cJSON *res;
	char *s;
	int rc;

	rc = mm_redis_connect(mm_config_redis_url(), ropts, &r, err);
	if (!rc && o->install) {
		rc = mm_route_install_functions(r, err);
		if (!rc)
			mm_infof("loaded function library mm into %s", mm_redis_address(r));
	}
	if (!rc && o->prune)
		rc = mm_inv_prune_stale(r, o->prune_age, &pruned, err);
	if (!rc && o->deregister)
		rc = mm_inv_deregister(r, o->machine_id, err);
	mm_redis_close(r);
	if (rc)
		return rc;
	res = cJSON_CreateObject();
	if (o->install)
		cJSON_AddBoolToObject(res, "functions_loaded", 1);
	if (o->prune)
		cJSON_AddNumberToObject(res, "pruned", (double)pruned);
	if (o->deregister)
		cJSON_AddStringToObject(res, "deregistered", o->machine_id);
	s = cJSON_PrintUnformatted(res);
	printf("%s\n", s ? s : "{}");
	free(s);
	cJSON_Delete(res);
	return 0;
}

/* The report itself: once, as a dry run, or --watch; the manifest passed on. */
static int report(const struct opts *o, const struct mm_redis_opts *ropts, struct mm_err *err)
{
	struct mm_report_opts ro;
	struct mm_metrics *mx = NULL;
	struct input in;
	double t0 = mm_now();
	int rc;

	rc = load_input(o, &in, err);
	if (rc)
		goto out;
	if (!o->dry_run)
		mx = mm_metrics_new("mm-report", mm_metrics_dir(o->metrics_dir));
	if (o->dry_run) {
		rc = dry_run(o, &in, err);
	} else if (o->watch) {
		report_opts(o, &in, ropts, &ro);
		ro.on_report = metrics_note;
		ro.report_arg = mx;
		ro.stop = mm_prologue_signals();
		ro.first_done = pass_input;
		ro.arg = &in;
		rc = mm_report_watch(&ro, err);
		goto out;
	} else {
		report_opts(o, &in, ropts, &ro);
		ro.on_report = metrics_note;
		ro.report_arg = mx;
		rc = mm_report_run(&ro, err);
	}
	if (!rc)
		rc = write_input(&in, err);
out:
	if (mx && rc != MM_EUSAGE) {
		struct mm_err e;

		if (mm_metrics_finish(mx, t0, rc, &e))
			mm_warnf("%s", e.msg);
	}
	mm_metrics_free(mx);
	mm_manifest_free(in.m);
	free(in.text);
	return rc;
}

int main(int argc, char **argv)
{
	struct opts o = {0};
	struct mm_redis_opts ropts;
	struct mm_err err = {0};
	char *host_id = NULL;
	int rc;

	mm_prologue_init(argv[0]);
	rc = parse_args(argc, argv, &o);
	if (rc >= 0)
		return rc;
	if (!o.machine_id)
		o.machine_id = mm_env("MACHINE_ID", NULL);
	if (!o.machine_id)
		o.machine_id = host_id = default_machine_id();
	if (!o.machine_id || !*o.machine_id) {
		mm_errorf("no machine id: set MACHINE_ID or use --machine-id");
		return MM_EUSAGE;
	}
	o.root = mm_config_root();
	o.state_dir = mm_config_state_dir(o.root);

	rc = mm_redis_opts_from_env(&ropts, &err);
	if (!rc && (o.jm_install || o.jm_restore))
		rc = job_matching(&o, &ropts, &err);
	else if (!rc && (o.install || o.prune || o.deregister))
		rc = admin(&o, &ropts, &err);
	else if (!rc)
		rc = report(&o, &ropts, &err);
	/* Interrupted, --watch said why as it stopped. */
	if (rc && rc != MM_EINT && rc != MM_ETERM)
		mm_errorf("%s", err.msg);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		mm_errorf("cannot write to stdout");
		if (!rc)
			rc = MM_EFAIL;
	}
	free(o.state_dir);
	free(host_id);
	return rc;
}
