/* mm-report — tell the fleet, through Redis, which models this machine holds. */
#include "config.h"
#include "inventory.h"
#include "jobmatch.h"
#include "log.h"
#include "manifest.h"
#include "mm.h"
#include "redis.h"
#include "route.h"
#include "scan.h"
#include "watch.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mm-report [-qv] [--dry-run] [--full] [--machine-id ID] [FILE]\n"
		"       mm-report [-qv] --watch [--interval S] [--keep-on-exit] [--full]\n"
		"                 [--machine-id ID] [FILE]\n"
		"       mm-report [-qv] --prune-stale SECONDS\n"
		"       mm-report [-qv] --install-functions\n"
		"       mm-report [-qv] --install-job-matching | --restore-job-matching\n"
		"       mm-report [-qv] --deregister [--machine-id ID]\n"
		"       mm-report -h | --help | --version\n");
}

struct opts {
	const char *machine_id;
	const char *input;       /* FILE, "-", or NULL */
	const char *root;
	char *state_dir;
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
static int read_input(const struct opts *o, struct input *in, struct mm_err *err)
{
	FILE *f = stdin;
	size_t cap = 0;
	int rc;

	memset(in, 0, sizeof(*in));
	if (!o->input && isatty(STDIN_FILENO))
		return 0;
	if (o->input && strcmp(o->input, "-") != 0) {
		f = fopen(o->input, "r");
		if (!f)
			return mm_error(err, MM_EINPUT, "cannot open '%s': %s", o->input, strerror(errno));
	}
	for (;;) {
		size_t got;

		if (in->len + 65536 + 1 > cap) {
			cap = (in->len + 65536 + 1) * 2;
			in->text = mm_xrealloc(in->text, cap);
		}
		got = fread(in->text + in->len, 1, cap - in->len - 1, f);
		in->len += got;
		if (in->len > (size_t)MM_MANIFEST_MAX) {
			rc = mm_error(err, MM_EINPUT, "%s: manifest larger than %ld bytes",
				      o->input ? o->input : "<stdin>", (long)MM_MANIFEST_MAX);
			goto out;
		}
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		rc = mm_error(err, MM_EINPUT, "cannot read '%s': %s", o->input ? o->input : "<stdin>",
			      strerror(errno));
		goto out;
	}
	in->text[in->len] = '\0';
	rc = 0;
	if (in->len)
		rc = mm_manifest_parse(in->text, in->len, o->input ? o->input : "<stdin>", 0, &in->m, err);
out:
	if (f != stdin)
		fclose(f);
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

/* Scan the disk and turn it into inventory records. */
static int collect(const struct opts *o, const struct input *in, struct mm_scan *scan,
		   struct mm_inv_model **recs, size_t *n, struct mm_err *err)
{
	struct mm_scan_opts so = {0};
	int rc;

	so.root = o->root;
	so.state_dir = o->state_dir;
	rc = mm_scan(&so, scan, err);
	if (rc)
		return rc;
	mm_inv_from_disk(scan, in->m, recs, n, NULL);
	return 0;
}

static int report_once(const struct opts *o, const struct input *in, struct mm_reporter *rep,
		       struct mm_redis *r, struct mm_err *err)
{
	struct mm_scan scan = {0};
	struct mm_inv_model *recs = NULL;
	struct mm_inv_stats st;
	size_t n = 0;
	int rc;

	rc = collect(o, in, &scan, &recs, &n, err);
	if (!rc)
		rc = mm_reporter_report(rep, r, recs, n, mm_inv_missing(in->m, recs, n), o->full, &st,
					err);
	if (!rc) {
		struct mm_list wf;

		mm_inv_workflows(in->m, recs, n, &wf);
		rc = mm_inv_report_workflows(r, o->machine_id, &wf, err);
		mm_list_free(&wf);
	}
	if (!rc)
		mm_debugf("reported %zu models for %s: +%zu -%zu, %zu commands, %zu round trips%s",
			  n, o->machine_id, st.added, st.removed, st.commands, st.round_trips,
			  st.models_written ? ", models rewritten" : "");
	free(recs);
	mm_scan_free(&scan);
	return rc;
}

static int dry_run(const struct opts *o, const struct input *in, struct mm_err *err)
{
	struct mm_scan scan = {0};
	struct mm_inv_model *recs = NULL;
	struct mm_rcmds *q;
	size_t n = 0;
	int rc;

	rc = collect(o, in, &scan, &recs, &n, err);
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

static void sleep_until(double t)
{
	while (!got_signal) {
		double left = t - mm_now();
		struct timespec ts;

		if (left <= 0)
			return;
		ts.tv_sec = (time_t)left;
		ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
		nanosleep(&ts, NULL);
	}
}

/*
 * --watch: report at once when the model folders change and every interval
 * as a heartbeat; when Redis goes away, keep trying with backoff.
 */
static int watch(const struct opts *o, const struct input *in, const struct mm_redis_opts *ropts,
		 struct mm_err *err)
{
	struct mm_redis_opts quick = *ropts;
	struct mm_reporter *rep = mm_reporter_new(o->machine_id);
	struct mm_dirwatch *dw = NULL;
	struct mm_redis *r = NULL;
	char *models_dir = mm_xasprintf("%s/models", o->root);
	double next = 0, backoff = 1;
	int rc = 0, down = 0, passed = 0;

	quick.retry_for = 0;
	while (!got_signal) {
		struct pollfd pfd;
		double now = mm_now();
		int changed = 0, pr;

		if (!dw && mm_dirwatch_open(models_dir, &dw, err) == 0)
			changed = 1;  /* new folder: look at it now */
		if (now >= next || changed) {
			if (!r) {
				rc = mm_redis_connect(getenv("REDIS_URL"), &quick, &r, err);
				if (rc == MM_EUSAGE)
					break;
			}
			if (r) {
				rc = report_once(o, in, rep, r, err);
				if (rc == MM_EUNAVAIL) {
					mm_redis_close(r);
					r = NULL;
					mm_reporter_forget(rep);
				}
			}
			if (!rc) {
				if (down)
					mm_infof("redis %s is back; reporting again", r ? mm_redis_address(r) : "");
				down = 0;
				backoff = 1;
				next = mm_now() + o->interval;
			} else if (rc == MM_EUNAVAIL) {
				if (!down)
					mm_warnf("%s; retrying", err->msg);
				down = 1;
				next = mm_now() + backoff;
				backoff = backoff * 2 > o->interval ? o->interval : backoff * 2;
			} else if (rc == MM_EUSAGE) {
				break;
			} else {
				/* A refused write or a scan problem: say so, try at the next beat. */
				mm_warnf("%s", err->msg);
				next = mm_now() + o->interval;
			}
		}
		if (!passed) {
			/* The pipe downstream need not wait for Redis. */
			int wrc = write_input(in, err);

			if (wrc) {
				rc = wrc;
				break;
			}
			passed = 1;
		}
		if (!dw) {
			sleep_until(next < mm_now() + 1 ? next : mm_now() + 1);
			continue;
		}
		pfd.fd = mm_dirwatch_fd(dw);
		pfd.events = POLLIN;
		now = mm_now();
		pr = poll(&pfd, 1, next > now ? (int)((next - now) * 1000) + 1 : 0);
		if (pr > 0) {
			int ch;

			/* Let a burst of changes (a folder copied in) settle first. */
			do {
				ch = mm_dirwatch_drain(dw);
				if (ch < 0) {
					mm_dirwatch_close(dw);
					dw = NULL;
					break;
				}
				changed |= ch;
			} while (!got_signal && poll(&pfd, 1, 300) > 0);
			if (changed)
				next = 0;
		}
	}
	if (got_signal && !o->keep_on_exit) {
		if (!r)
			mm_redis_connect(getenv("REDIS_URL"), &quick, &r, err);
		if (r && mm_inv_deregister(r, o->machine_id, err) == 0)
			mm_infof("deregistered %s", o->machine_id);
		else
			mm_warnf("could not deregister %s: %s", o->machine_id, err->msg);
	}
	if (!passed && in->len && got_signal)
		write_input(in, err);
	mm_dirwatch_close(dw);
	mm_redis_close(r);
	mm_reporter_free(rep);
	free(models_dir);
	if (got_signal)
		return got_signal == SIGINT ? MM_EINT : MM_ETERM;
	return rc;
}

/* --install-job-matching, --restore-job-matching: do it, say what was done. */
static int job_matching(const struct opts *o, struct mm_redis *r, struct mm_err *err)
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

static char *default_machine_id(void)
{
	char host[256];

	if (gethostname(host, sizeof(host)) < 0)
		return NULL;
	host[sizeof(host) - 1] = '\0';
	return mm_xstrdup(host);
}

int main(int argc, char **argv)
{
	enum {
		OPT_DEREGISTER = 256, OPT_DRY_RUN, OPT_FULL, OPT_INSTALL, OPT_INTERVAL,
		OPT_KEEP, OPT_MACHINE, OPT_PRUNE, OPT_VERSION, OPT_WATCH, OPT_JM_INSTALL, OPT_JM_RESTORE,
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
		{"prune-stale", required_argument, NULL, OPT_PRUNE},
		{"quiet", no_argument, NULL, 'q'},
		{"restore-job-matching", no_argument, NULL, OPT_JM_RESTORE},
		{"verbose", no_argument, NULL, 'v'},
		{"version", no_argument, NULL, OPT_VERSION},
		{"watch", no_argument, NULL, OPT_WATCH},
		{NULL, 0, NULL, 0},
	};
	struct opts o = {0};
	struct input in = {0};
	struct mm_redis_opts ropts;
	struct mm_redis *r = NULL;
	struct mm_err err = {0};
	char *host_id = NULL;
	int c, rc = 0;

	mm_log_init(argv[0]);
	signal(SIGPIPE, SIG_IGN);
	o.interval = 30;
	while ((c = getopt_long(argc, argv, "hqv", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_DEREGISTER:
			o.deregister = 1;
			break;
		case OPT_DRY_RUN:
			o.dry_run = 1;
			break;
		case OPT_FULL:
			o.full = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case OPT_INSTALL:
			o.install = 1;
			break;
		case OPT_JM_INSTALL:
			o.jm_install = 1;
			break;
		case OPT_JM_RESTORE:
			o.jm_restore = 1;
			break;
		case OPT_INTERVAL:
			if (mm_parse_double(optarg, 0.1, 86400, &o.interval) < 0) {
				mm_errorf("--interval: want seconds from 0.1 to 86400, not '%s'", optarg);
				return MM_EUSAGE;
			}
			break;
		case OPT_KEEP:
			o.keep_on_exit = 1;
			break;
		case OPT_MACHINE:
			o.machine_id = optarg;
			break;
		case OPT_PRUNE:
			o.prune = 1;
			if (mm_parse_double(optarg, 1, 1e9, &o.prune_age) < 0) {
				mm_errorf("--prune-stale: want a number of seconds (at least 1), not '%s'", optarg);
				return MM_EUSAGE;
			}
			break;
		case 'q':
			mm_log_set_level(MM_LOG_QUIET);
			break;
		case 'v':
			mm_log_set_level(mm_log_get_level() + 1);
			break;
		case OPT_VERSION:
			printf("mm-report %s\n", MM_VERSION);
			return 0;
		case OPT_WATCH:
			o.watch = 1;
			break;
		default:
			usage(stderr);
			return MM_EUSAGE;
		}
	}
	if (argc - optind > 1) {
		mm_errorf("one manifest at most");
		usage(stderr);
		return MM_EUSAGE;
	}
	o.input = optind < argc ? argv[optind] : NULL;
	if (o.dry_run + o.watch + o.deregister + (o.install || o.prune) + o.jm_install +
	    o.jm_restore > 1) {
		mm_errorf("--dry-run, --watch, --deregister, --install-functions/--prune-stale, "
			  "--install-job-matching and --restore-job-matching do not go together");
		return MM_EUSAGE;
	}
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
	if (rc)
		goto out;
	if (o.jm_install || o.jm_restore) {
		rc = mm_redis_connect(getenv("REDIS_URL"), &ropts, &r, &err);
		if (!rc)
			rc = job_matching(&o, r, &err);
		goto out;
	}
	if (o.install || o.prune || o.deregister) {
		size_t pruned = 0;
		cJSON *res;
		char *s;

		rc = mm_redis_connect(getenv("REDIS_URL"), &ropts, &r, &err);
		if (!rc && o.install) {
			rc = mm_route_install_functions(r, &err);
			if (!rc)
				mm_infof("loaded function library mm into %s", mm_redis_address(r));
		}
		if (!rc && o.prune)
			rc = mm_inv_prune_stale(r, o.prune_age, &pruned, &err);
		if (!rc && o.deregister)
			rc = mm_inv_deregister(r, o.machine_id, &err);
		if (rc)
			goto out;
		res = cJSON_CreateObject();
		if (o.install)
			cJSON_AddBoolToObject(res, "functions_loaded", 1);
		if (o.prune)
			cJSON_AddNumberToObject(res, "pruned", (double)pruned);
		if (o.deregister)
			cJSON_AddStringToObject(res, "deregistered", o.machine_id);
		s = cJSON_PrintUnformatted(res);
		printf("%s\n", s ? s : "{}");
		free(s);
		cJSON_Delete(res);
		goto out;
	}

	rc = read_input(&o, &in, &err);
	if (rc)
		goto out;
	if (o.dry_run) {
		rc = dry_run(&o, &in, &err);
		if (!rc)
			rc = write_input(&in, &err);
		goto out;
	}
	if (o.watch) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		rc = watch(&o, &in, &ropts, &err);
		if (rc == MM_EINT || rc == MM_ETERM)
			goto flush;
		goto out;
	}
	rc = mm_redis_connect(getenv("REDIS_URL"), &ropts, &r, &err);
	if (!rc) {
		struct mm_reporter *rep = mm_reporter_new(o.machine_id);
		int tries;

		/*
		 * A connection lost mid-report wrote nothing (EXEC never ran):
		 * connect again and send the whole report once more.
		 */
		for (tries = 1;; tries++) {
			rc = report_once(&o, &in, rep, r, &err);
			if (rc != MM_EUNAVAIL || tries == 3)
				break;
			mm_warnf("%s; reconnecting", err.msg);
			mm_reporter_forget(rep);
			rc = mm_redis_reconnect(r, &err);
			if (rc)
				break;
		}
		mm_reporter_free(rep);
	}
	if (!rc)
		rc = write_input(&in, &err);
out:
	if (rc)
		mm_errorf("%s", err.msg);
flush:
	if (fflush(stdout) != 0 || ferror(stdout)) {
		mm_errorf("cannot write to stdout");
		if (!rc)
			rc = MM_EFAIL;
	}
	mm_redis_close(r);
	mm_manifest_free(in.m);
	free(in.text);
	free(o.state_dir);
	free(host_id);
	return rc;
}
