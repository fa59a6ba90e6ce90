/*
 * mm-discover — ask the EmProps API which models a machine needs and print
 * the manifest; or, with --validate, check a manifest from anywhere.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "config.h"
#include "log.h"
#include "manifest.h"
#include "prologue.h"
#include "metrics.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mm-discover [-qv] [-c ids] [-j n] [-w names] [--api url] [--components names]\n"
		"                   [--metrics-dir dir] [--offline] [--state-dir dir]\n"
		"                   [--timeout seconds]\n"
		"       mm-discover --validate [file]\n"
		"\n"
		"  -c, --collections ids   collection ids (COLLECTION_IDS, COLLECTIONS)\n"
		"  -w, --workflows names   workflow names (WORKFLOW_IDS)\n"
		"      --components names  legacy component names (COMPONENTS)\n"
		"      --api url           API base URL (EMPROPS_API_BASE_URL, EMPROPS_API_URL)\n"
		"      --metrics-dir dir   write dir/mm_discover.prom for Prometheus (MM_METRICS_DIR)\n"
		"      --offline           use cached API answers only\n"
		"      --state-dir dir     cache directory (MM_STATE_DIR; default $MM_ROOT/.mm)\n"
		"  -j, --jobs n            API requests at once (default 8)\n"
		"      --timeout seconds   per API request (default 30)\n"
		"      --validate [file]   check a manifest, print it normalised\n"
		"  -q, --quiet             errors only\n"
		"  -v, --verbose           more detail on stderr\n"
		"  -h, --help              this help\n"
		"  -V, --version           print the version\n");
}

static int validate(const char *file)
{
	struct mm_manifest *m = NULL;
	struct mm_err err = {0};
	int rc;

	rc = mm_manifest_load(file, 0, &m, &err);
	if (rc) {
		mm_manifest_log_problems(m, &err);
		mm_manifest_free(m);
		return rc;
	}
	rc = mm_manifest_write(m, stdout, &err);
	if (rc)
		mm_errorf("%s", err.msg);
	mm_manifest_free(m);
	return rc;
}

/* The WORKFLOW_IDS= line that replaces COMPONENTS (MIGRATE_TO_WORKFLOWS). */
static void migration_notice(const struct mm_discover_req *req)
{
	struct mm_list all = {0};
	size_t i;

	for (i = 0; i < req->workflows.n; i++)
		mm_list_push(&all, req->workflows.v[i]);
	for (i = 0; i < req->components.n; i++)
		mm_list_push(&all, req->components.v[i]);
	mm_warnf("COMPONENTS is deprecated and read as workflow names; set this instead:");
	mm_log_raw("WORKFLOW_IDS=");
	for (i = 0; i < all.n; i++) {
		if (i)
			mm_log_raw(",");
		mm_log_raw(all.v[i]);
	}
	mm_log_raw("\n");
	mm_list_free(&all);
}

/* One warning for each kind of gap in the API's data, naming the models. */
static void data_warnings(const struct mm_manifest *m)
{
	struct mm_list guessed = {0}, nourl = {0};
	size_t i, k;

	for (i = 0; i < m->n; i++) {
		const struct mm_model *v = &m->models[i];
		cJSON *st = cJSON_GetObjectItemCaseSensitive(v->obj, "status");

		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v->obj, "saveToGuessed")))
			mm_list_push(&guessed, v->save_to);
		if (!v->url)
			mm_list_push(&nourl, v->name);
		if (cJSON_IsString(st) && strcmp(st->valuestring, "active") != 0)
			mm_warnf("model %s has status '%.64s', not active; fetching it anyway, "
				 "since a workflow asks for it", v->name, st->valuestring);
	}
	if (guessed.n) {
		char *s = mm_xstrdup("");

		for (k = 0; k < guessed.n; k++) {
			char *t = mm_xasprintf("%s%s%s", s, k ? ", " : "", guessed.v[k]);

			free(s);
			s = t;
		}
		mm_warnf("the API gave no save_path and no known type for %zu model%s; saveTo guessed "
			 "from the name (\"saveToGuessed\": true), fix the API's data: %s",
			 guessed.n, guessed.n == 1 ? "" : "s", s);
		free(s);
	}
	for (k = 0; k < nourl.n; k++)
		mm_warnf("model %s has nothing to download from (no URL, no huggingface_id); "
			 "mm-fetch will report it failed", nourl.v[k]);
	mm_list_free(&guessed);
	mm_list_free(&nourl);
}

/* What the options say, beside what goes to the API's settings. */
struct args {
	const char *wf, *coll, *comp, *state, *metrics_dir;
	int validate;
};

/* The options into a and api: 0 to go on, 1 to exit with *rc. */
static int parse_args(int argc, char **argv, struct args *a, struct mm_api *api, int *rc)
{
	enum {
		OPT_API = 256, OPT_COMPONENTS, OPT_OFFLINE, OPT_STATE, OPT_TIMEOUT, OPT_VALIDATE,
		OPT_METRICS,
	};
	static const struct option opts[] = {
		{"api", required_argument, NULL, OPT_API},
		{"collections", required_argument, NULL, 'c'},
		{"components", required_argument, NULL, OPT_COMPONENTS},
		{"help", no_argument, NULL, 'h'},
		{"jobs", required_argument, NULL, 'j'},
		{"metrics-dir", required_argument, NULL, OPT_METRICS},
		{"offline", no_argument, NULL, OPT_OFFLINE},
		{"quiet", no_argument, NULL, 'q'},
		{"state-dir", required_argument, NULL, OPT_STATE},
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{"validate", no_argument, NULL, OPT_VALIDATE},
		{"verbose", no_argument, NULL, 'v'},
		{"version", no_argument, NULL, 'V'},
		{"workflows", required_argument, NULL, 'w'},
		{NULL, 0, NULL, 0},
	};
	int c;
	long n;

	while ((c = getopt_long(argc, argv, "c:hj:qVvw:", opts, NULL)) != -1) {
		if (mm_prologue_option(c, usage, rc))
			return 1;
		switch (c) {
		case 'c': a->coll = optarg; break;
		case 'j':
			if (mm_prologue_number("-j", optarg, 1, 64, &n) < 0) {
				*rc = MM_EUSAGE;
				return 1;
			}
			api->parallel = (int)n;
			break;
		case 'w': a->wf = optarg; break;
		case OPT_API: api->base = optarg; break;
		case OPT_COMPONENTS: a->comp = optarg; break;
		case OPT_OFFLINE: api->offline = 1; break;
		case OPT_METRICS: a->metrics_dir = optarg; break;
		case OPT_STATE: a->state = optarg; break;
		case OPT_TIMEOUT:
			if (mm_parse_long(optarg, 1, 3600, &n) < 0) {
				mm_errorf("--timeout takes seconds from 1 to 3600, not '%s'", optarg);
				*rc = MM_EUSAGE;
				return 1;
			}
			api->timeout = n;
			break;
		case OPT_VALIDATE: a->validate = 1; break;
		}
	}
	return 0;
}

/* What to discover, from the options or the environment: 0 or MM_EUSAGE. */
static int make_request(const struct args *a, const struct mm_api *api,
			struct mm_discover_req *req)
{
	mm_list_add(&req->workflows, a->wf ? a->wf : mm_env("WORKFLOW_IDS", NULL));
	mm_list_add(&req->collections, a->coll ? a->coll : mm_env("COLLECTION_IDS", "COLLECTIONS"));
	mm_list_add(&req->components, a->comp ? a->comp : mm_env("COMPONENTS", NULL));
	req->components_as_workflows = mm_env_bool("MIGRATE_TO_WORKFLOWS");
	if (!req->workflows.n && !req->collections.n && !req->components.n) {
		mm_errorf("nothing to discover: set WORKFLOW_IDS, COLLECTION_IDS or COMPONENTS "
			  "(or -w, -c, --components)");
		return MM_EUSAGE;
	}
	if (!api->base && !api->offline) {
		mm_errorf("EMPROPS_API_BASE_URL is not set (or give --api URL, or --offline to use the cache)");
		return MM_EUSAGE;
	}
	if (req->components_as_workflows && req->components.n)
		migration_notice(req);
	return 0;
}

/* Discover, say what came of it, and print the manifest. */
static int run(struct mm_api *api, const struct mm_discover_req *req, struct mm_manifest **m)
{
	struct mm_err err = {0};
	int rc = mm_discover(api, req, m, &err);

	if (rc) {
		mm_manifest_log_problems(*m, &err);
		return rc;
	}
	data_warnings(*m);
	if (api->offline)
		mm_infof("%zu models from cached answers (offline)", (*m)->n);
	else
		mm_debugf("%zu models", (*m)->n);
	rc = mm_manifest_write(*m, stdout, &err);
	if (rc)
		mm_errorf("%s", err.msg);
	else
		rc = mm_finish_stdout();
	return rc;
}

int main(int argc, char **argv)
{
	struct args a = {0};
	double t0 = mm_now();
	struct mm_discover_req req = {0};
	struct mm_api api = {0};
	struct mm_manifest *m = NULL;
	struct mm_err err = {0};
	char *state_dir = NULL;
	int rc;

	mm_prologue_init(argv[0]);
	api.base = mm_env("EMPROPS_API_BASE_URL", "EMPROPS_API_URL");
	if (parse_args(argc, argv, &a, &api, &rc))
		return rc;
	if (a.state)
		mm_manifest_set_state_dir(mm_config_root(), a.state);
	if (a.validate) {
		if (argc - optind > 1) {
			usage(stderr);
			return MM_EUSAGE;
		}
		rc = validate(optind < argc ? argv[optind] : NULL);
		return rc ? rc : mm_finish_stdout();
	}
	if (optind < argc) {
		mm_errorf("unexpected argument '%s'", argv[optind]);
		usage(stderr);
		return MM_EUSAGE;
	}
	rc = make_request(&a, &api, &req);
	if (rc)
		goto out;
	state_dir = a.state ? mm_xstrdup(a.state) : mm_config_state_dir(mm_config_root());
	api.state_dir = state_dir;
	rc = run(&api, &req, &m);
out:
	if (rc != MM_EUSAGE) {
		struct mm_metrics *mx = mm_metrics_new("mm-discover", mm_metrics_dir(a.metrics_dir));

		mm_metrics_discover(mx, rc ? NULL : m);
		if (mm_metrics_finish(mx, t0, rc, &err))
			mm_warnf("%s", err.msg);
		mm_metrics_free(mx);
	}
	mm_manifest_free(m);
	mm_list_free(&req.workflows);
	mm_list_free(&req.collections);
	mm_list_free(&req.components);
	free(state_dir);
	return rc;
}
