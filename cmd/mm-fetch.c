/*
 * mm-fetch — bring every model of a manifest onto the disk, verified, and
 * print the manifest with a "fetch" object per model.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fetch.h"
#include "http.h"
#include "log.h"
#include "manifest.h"
#include "metrics.h"
#include "progress.h"
#include "prologue.h"
#include "route.h"
#include "size.h"
#include "summary.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mm-fetch [-nqv] [-j n] [--attempts n] [--limit-rate rate] [--no-wait]\n"
		"                [--progress mode] [--retry-delay seconds] [--segment-min size]\n"
		"                [--metrics-dir dir] [--segments n] [--stall-timeout seconds]\n"
		"                [--state-dir dir] [--timeout minutes] [--verify-present] [file]\n"
		"\n"
		"  -j, --jobs n              files downloaded at once (MODEL_DOWNLOAD_CONCURRENCY; 3)\n"
		"      --segments n          connections for one large file, all at once\n"
		"                            (default: up to 4 when they prove faster; 1: never split)\n"
		"      --segment-min size    smallest file split into segments (64MB)\n"
		"      --attempts n          tries per file (MODEL_DOWNLOAD_RETRY_ATTEMPTS; 3)\n"
		"      --retry-delay seconds first wait before a retry, doubled each time (1)\n"
		"      --timeout minutes     limit for one file, fractions allowed\n"
		"                            (MODEL_DOWNLOAD_TIMEOUT_MINUTES; 30)\n"
		"      --stall-timeout secs  no data for this long is a failed try (60)\n"
		"      --limit-rate rate     bytes per second for all downloads (like 20M, 500K)\n"
		"      --verify-present      hash files already present too\n"
		"  -n, --dry-run             probe each missing file and check disk space only\n"
		"      --no-wait             fail a file another mm-fetch is downloading\n"
		"      --progress mode       auto, bar, plain or none\n"
		"      --state-dir dir       locks and verified cache (MM_STATE_DIR; $MM_ROOT/.mm)\n"
		"      --metrics-dir dir     write dir/mm_fetch.prom for Prometheus (MM_METRICS_DIR)\n"
		"  -q, --quiet               errors only\n"
		"  -v, --verbose             more detail on stderr\n"
		"  -h, --help                this help\n"
		"  -V, --version             print the version\n");
}

/* --limit-rate: a size (size.h) per second, 1 byte to 1 PB. */
static int parse_rate(const char *s, long long *out)
{
	long long v = mm_parse_size(s);

	if (v < 1 || v > 1000000000000000LL)
		return -1;
	*out = v;
	return 0;
}

/* The display of a run: the library reports (fetch.h), this shows. */
struct view {
	struct mm_progress *prog;
	int *bar;                       /* per model: its bar, or -1 */
	struct mm_fetch_event end;      /* the totals, once the run is over */
	int ended;
	struct mm_sources *sources;     /* whose peer leases the events renew and settle */
};

static void on_event(const struct mm_fetch_event *ev, void *arg)
{
	struct view *v = arg;
	const char *name = ev->model ? ev->model->name : "";
	int *bar = ev->model ? &v->bar[ev->index] : NULL;
	char a[32];

	switch (ev->kind) {
	case MM_FETCH_EV_WAITING:
		mm_progress_line(v->prog, "%s: waiting for another mm-fetch downloading '%s'", name,
				 ev->model->save_to);
		break;
	case MM_FETCH_EV_STARTED:
		*bar = mm_progress_add(v->prog, name, ev->total);
		mm_progress_update(v->prog, *bar, ev->done, -1);
		if (ev->done > 0) {
			mm_format_size(ev->done, a, sizeof(a));
			mm_progress_line(v->prog, "%s: resuming after %s", name, a);
		} else {
			mm_progress_line(v->prog, "%s: downloading%s%s", name, ev->text ? " from " : "",
					 ev->text ? ev->text : "");
		}
		break;
	case MM_FETCH_EV_PROGRESS:
		if (*bar >= 0)
			mm_progress_update(v->prog, *bar, ev->done, ev->total);
		break;
	case MM_FETCH_EV_RETRY:
		mm_progress_warn(v->prog, "%s: %s; retrying in %.1f s", name, ev->text, ev->delay);
		break;
	case MM_FETCH_EV_RESTART:
		mm_progress_warn(v->prog, "%s: %s; starting over", name, ev->text);
		break;
	case MM_FETCH_EV_SOURCE:
		mm_progress_warn(v->prog, "%s: %s", name, ev->text);
		break;
	case MM_FETCH_EV_DOWNLOADED:
		mm_sources_lease_done(v->sources, ev->model->hash, 1);
		mm_progress_end(v->prog, *bar, 1);
		*bar = -1;
		mm_format_size(ev->done, a, sizeof(a));
		mm_progress_line(v->prog, "%s: downloaded %s in %.1f s%s%s%s", name, a, ev->seconds,
				 ev->text ? ", " : "", ev->text ? ev->text : "", ev->text ? " verified" : "");
		break;
	case MM_FETCH_EV_LINKED:
		mm_progress_line(v->prog, "%s: same file as '%s', linked", name, ev->text);
		break;
	case MM_FETCH_EV_FAILED:
		mm_sources_lease_done(v->sources, ev->model->hash, 0);
		/* The library logs the error; the bar goes first. */
		if (*bar >= 0) {
			mm_progress_end(v->prog, *bar, 0);
			mm_progress_clear(v->prog);
			*bar = -1;
		}
		break;
	case MM_FETCH_EV_TICK:
		mm_sources_lease_tick(v->sources);
		mm_progress_tick(v->prog, 0);
		break;
	case MM_FETCH_EV_END:
		mm_progress_clear(v->prog);
		v->end = *ev;
		v->ended = 1;
		break;
	}
}

/*
 * The run's summary line, after a run that downloaded (or tried to): the
 * counts are the manifest's (summary.h), the bytes and time the run's.
 */
static void summary(const struct view *v, const struct mm_manifest *m)
{
	const struct mm_fetch_event *e = &v->end;
	struct mm_summary s;
	char a[32], b[32];

	if (!v->ended || mm_progress_mode(v->prog) == MM_PROGRESS_NONE)
		return;
	mm_summary_count(m, &s);
	mm_format_size(e->done, a, sizeof(a));
	mm_format_size(e->seconds > 0 ? (long long)((double)e->done / e->seconds) : 0, b, sizeof(b));
	mm_infof("%zu downloaded, %zu present, %zu failed: %s in %.1f s (%s/s); proved by the manifest %zu, "
		 "by the origin %zu, by computed digest only %zu", s.fetch[MM_FETCH_DOWNLOADED],
		 s.fetch[MM_FETCH_PRESENT], mm_summary_fetch_failed(&s), a, e->seconds, b,
		 s.proved[MM_SRC_MANIFEST], s.proved[MM_SRC_HUGGINGFACE] + s.proved[MM_SRC_CIVITAI],
		 s.proved[MM_SRC_COMPUTED]);
	mm_summary_free(&s);
	if (e->from[MM_SOURCE_PEER] > 0 || e->from[MM_SOURCE_MIRROR] > 0 || e->liars > 0) {
		char peer[32], mirror[32], origin[32];

		mm_format_size(e->from[MM_SOURCE_PEER], peer, sizeof(peer));
		mm_format_size(e->from[MM_SOURCE_MIRROR], mirror, sizeof(mirror));
		mm_format_size(e->from[MM_SOURCE_ORIGIN], origin, sizeof(origin));
		mm_infof("bytes from peers %s, mirrors %s, origins %s; %d source%s named for bytes that "
			 "failed the hash", peer, mirror, origin, e->liars, e->liars == 1 ? "" : "s");
	}
}

/*
 * Peers (MM_PEERS, REDIS_URL, MACHINE_ID, MM_SERVE_TOKEN), their leases
 * (MM_SERVE, MM_SERVE_URL, MM_PEER_WAIT) and mirrors (MM_MIRRORS) for the
 * run; MM_EUSAGE when one is malformed.
 */
static int sources_from_env(struct mm_sources **out, struct mm_err *err)
{
	const char *token = mm_env("MM_SERVE_TOKEN", NULL);
	int peers = mm_config_peers(err);
	double wait;

	if (peers < 0 || mm_config_peer_wait(&wait, err) != 0)
		return MM_EUSAGE;
	if (token && !mm_http_token_ok(token))
		return mm_error(err, MM_EUSAGE, "MM_SERVE_TOKEN holds a space or control character and "
				"cannot be sent");
	if (mm_sources_new(mm_env("MM_MIRRORS", NULL), out, err) != 0)
		return MM_EUSAGE;
	if (peers) {
		if (token)
			mm_log_secret(token);
		mm_sources_use_peers(*out, mm_config_redis_url(), mm_env("MACHINE_ID", NULL), token,
				     MM_ROUTE_DEFAULT_STALE);
		mm_sources_lease(*out, mm_config_serving(), wait, mm_prologue_signals());
	}
	return 0;
}

/* What the options say beside the library's options. */
struct args {
	int progress;                   /* MM_PROGRESS_* */
	long jobs, attempts, minutes;
	int have_jobs, have_attempts, have_minutes;
	long timeout_s;                 /* --timeout, in seconds */
	const char *metrics_dir;
};

/* The options into o and a: 0 to go on, 1 to exit with *rc. */
static int parse_args(int argc, char **argv, struct mm_fetch_opts *o, struct args *a, int *rc)
{
	enum {
		OPT_ATTEMPTS = 256, OPT_LIMIT, OPT_NOWAIT, OPT_PROGRESS, OPT_RETRY_DELAY,
		OPT_SEGMIN, OPT_SEGMENTS, OPT_STALL, OPT_STATE, OPT_TIMEOUT, OPT_VERIFY, OPT_METRICS,
	};
	static const struct option opts[] = {
		{"attempts", required_argument, NULL, OPT_ATTEMPTS},
		{"dry-run", no_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{"jobs", required_argument, NULL, 'j'},
		{"limit-rate", required_argument, NULL, OPT_LIMIT},
		{"metrics-dir", required_argument, NULL, OPT_METRICS},
		{"no-wait", no_argument, NULL, OPT_NOWAIT},
		{"progress", required_argument, NULL, OPT_PROGRESS},
		{"quiet", no_argument, NULL, 'q'},
		{"retry-delay", required_argument, NULL, OPT_RETRY_DELAY},
		{"segment-min", required_argument, NULL, OPT_SEGMIN},
		{"segments", required_argument, NULL, OPT_SEGMENTS},
		{"stall-timeout", required_argument, NULL, OPT_STALL},
		{"state-dir", required_argument, NULL, OPT_STATE},
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{"verbose", no_argument, NULL, 'v'},
		{"verify-present", no_argument, NULL, OPT_VERIFY},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	int c;
	long n;
	double d;
	long long ll;

	*rc = MM_EUSAGE;
	while ((c = getopt_long(argc, argv, "hj:nqVv", opts, NULL)) != -1) {
		if (mm_prologue_option(c, usage, rc))
			return 1;
		switch (c) {
		case 'j':
			if (mm_prologue_number("-j", optarg, 1, 256, &a->jobs) < 0)
				return 1;
			a->have_jobs = 1;
			break;
		case 'n': o->dry_run = 1; break;
		case OPT_ATTEMPTS:
			if (mm_prologue_number("--attempts", optarg, 1, 100, &a->attempts) < 0)
				return 1;
			a->have_attempts = 1;
			break;
		case OPT_LIMIT:
			if (parse_rate(optarg, &o->limit_rate) < 0) {
				mm_errorf("--limit-rate takes bytes per second like 20M or 500K, not '%s'", optarg);
				return 1;
			}
			break;
		case OPT_NOWAIT: o->no_wait = 1; break;
		case OPT_PROGRESS:
			a->progress = mm_progress_mode_parse(optarg);
			if (a->progress < 0) {
				mm_errorf("--progress takes auto, bar, plain or none, not '%s'", optarg);
				return 1;
			}
			break;
		case OPT_RETRY_DELAY:
			if (mm_parse_double(optarg, 0, 600, &d) < 0) {
				mm_errorf("--retry-delay takes seconds from 0 to 600, not '%s'", optarg);
				return 1;
			}
			o->backoff = d;
			break;
		case OPT_SEGMIN:
			ll = mm_parse_size(optarg);
			if (ll < 0) {
				mm_errorf("--segment-min takes a size like 64MB, not '%s'", optarg);
				return 1;
			}
			o->segment_min = ll;
			break;
		case OPT_SEGMENTS:
			if (mm_prologue_number("--segments", optarg, 1, 256, &n) < 0)
				return 1;
			o->segments = (int)n;
			o->adaptive = 0;
			break;
		case OPT_STALL:
			if (mm_prologue_number("--stall-timeout", optarg, 1, 86400, &n) < 0)
				return 1;
			o->stall_timeout = n;
			break;
		case OPT_STATE: o->state_dir = optarg; break;
		case OPT_TIMEOUT:
			/* Minutes, as the variable; fractions allowed ("0.5"). */
			if (mm_parse_double(optarg, 0.01, 100000, &d) < 0) {
				mm_errorf("--timeout takes minutes from 0.01 to 100000, not '%s'", optarg);
				return 1;
			}
			a->timeout_s = (long)(d * 60 + 0.5);
			a->have_minutes = 1;
			break;
		case OPT_VERIFY: o->verify_present = 1; break;
		case OPT_METRICS: a->metrics_dir = optarg; break;
		}
	}
	if (argc - optind > 1) {
		mm_errorf("unexpected argument '%s'", argv[optind + 1]);
		usage(stderr);
		return 1;
	}
	*rc = 0;
	return 0;
}

/*
 * The environment under the flags, the tokens (auth.h) and the origins'
 * hashes (upstream.h) into o: 0, or MM_EUSAGE with err set.
 */
static int configure(struct mm_fetch_opts *o, struct args *a, struct mm_auth **auth,
		     struct mm_sources **sources, struct mm_upstream *up, char **up_state,
		     struct mm_err *err)
{
	/* Flags win over the environment. */
	if ((!a->have_jobs && mm_env_long("MODEL_DOWNLOAD_CONCURRENCY", 1, 256, &a->jobs, err)) ||
	    (!a->have_attempts && mm_env_long("MODEL_DOWNLOAD_RETRY_ATTEMPTS", 1, 100, &a->attempts, err)) ||
	    (!a->have_minutes && mm_env_long("MODEL_DOWNLOAD_TIMEOUT_MINUTES", 1, 100000, &a->minutes, err)))
		return MM_EUSAGE;
	if (mm_config_auth(auth, err) != 0)
		return MM_EUSAGE;
	o->auth = *auth;
	if (sources_from_env(sources, err) != 0)
		return MM_EUSAGE;
	o->sources = *sources;
	up->hf_endpoint = mm_config_hf_endpoint();
	up->civitai_endpoint = mm_env("CIVITAI_ENDPOINT", NULL);
	up->civitai_token = mm_env("CIVITAI_TOKEN", NULL);
	up->auth = *auth;
	o->upstream = up;
	o->jobs = (int)a->jobs;
	o->attempts = (int)a->attempts;
	o->file_timeout = a->have_minutes ? a->timeout_s : a->minutes * 60;
	o->root = mm_config_root();
	if (!o->state_dir)
		o->state_dir = mm_env("MM_STATE_DIR", NULL);
	else
		mm_manifest_set_state_dir(o->root, o->state_dir);
	*up_state = o->state_dir ? NULL : mm_config_state_dir(o->root);
	up->state_dir = o->state_dir ? o->state_dir : *up_state;
	if (up->civitai_token)
		mm_log_secret(up->civitai_token);
	return 0;
}

/* Run the fetch, shown as progress (or not) and summed up after. */
static int run(struct mm_manifest *m, struct mm_fetch_opts *o, int progress, struct mm_err *err)
{
	struct view view = { 0 };
	int rc;

	view.prog = mm_progress_new(progress);
	view.bar = mm_xcalloc(m->n + 1, sizeof(*view.bar));
	for (size_t i = 0; i < m->n; i++)
		view.bar[i] = -1;
	view.sources = o->sources;
	o->on_event = on_event;
	o->event_arg = &view;
	rc = mm_fetch_run(m, o, err);
	if (!o->dry_run && rc != MM_ENOSPACE && rc != MM_EUSAGE)
		summary(&view, m);
	mm_progress_free(view.prog);
	free(view.bar);
	return rc;
}

int main(int argc, char **argv)
{
	struct args a = { .progress = MM_PROGRESS_AUTO, .jobs = MM_FETCH_JOBS,
			  .attempts = MM_FETCH_ATTEMPTS, .minutes = MM_FETCH_TIMEOUT_MIN };
	struct mm_fetch_opts o;
	struct mm_manifest *m = NULL;
	struct mm_auth *auth = NULL;
	struct mm_upstream up = { 0 };
	struct mm_sources *sources = NULL;
	char *up_state = NULL;
	struct mm_err err = {0};
	int rc;
	double t0 = mm_now();

	mm_prologue_init(argv[0]);
	mm_fetch_opts_init(&o);
	if (parse_args(argc, argv, &o, &a, &rc))
		return rc;
	rc = configure(&o, &a, &auth, &sources, &up, &up_state, &err);
	if (rc) {
		mm_errorf("%s", err.msg);
		goto out;
	}
	rc = mm_manifest_load(optind < argc ? argv[optind] : NULL, 0, &m, &err);
	if (rc) {
		mm_manifest_log_problems(m, &err);
		goto out;
	}
	o.stop = mm_prologue_signals();
	rc = run(m, &o, a.progress, &err);
	if (rc == MM_EUSAGE) {
		mm_errorf("%s", err.msg);
		goto out;
	}
	if (rc == MM_ENOSPACE || rc == MM_EINT || rc == MM_ETERM)
		mm_errorf("%s", err.msg);
	if (mm_manifest_write(m, stdout, &err) != 0) {
		mm_errorf("%s", err.msg);
		rc = rc ? rc : MM_EFAIL;
	} else if (mm_finish_stdout() != 0) {
		rc = rc ? rc : MM_EFAIL;
	}
	/* Only a report for the fleet view: Redis out of reach costs a warning. */
	if (mm_sources_report_liars(sources, &err) != 0) {
		mm_warnf("%s", err.msg);
	} else {
		size_t n;

		mm_sources_liars(sources, &n);
		if (n > 0)
			mm_infof("reported %zu lying peer%s to the fleet (mm-route fleet shows them)", n,
				 n == 1 ? "" : "s");
	}
	{
		struct mm_metrics *mx = mm_metrics_new("mm-fetch", mm_metrics_dir(a.metrics_dir));

		mm_metrics_fetch(mx, m);
		if (mm_metrics_finish(mx, t0, rc, &err))
			mm_warnf("%s", err.msg);
		mm_metrics_free(mx);
	}
out:
	mm_manifest_free(m);
	mm_auth_free(auth);
	mm_sources_free(sources);
	free(up_state);
	return rc;
}
