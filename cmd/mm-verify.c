/*
 * mm-verify — prove every model of a manifest intact on disk, in parallel and
 * never twice; or, with --scan, list what the disk really holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "hash.h"
#include "log.h"
#include "manifest.h"
#include "prologue.h"
#include "metrics.h"
#include "state.h"
#include "summary.h"
#include "text.h"
#include "upstream.h"
#include "verify.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mm-verify [-qv] [-j n] [--allow-dir dir] [--fetch-seconds s]\n"
		"                 [--metrics-dir dir] [--no-cache] [--no-xattr] [--quarantine]\n"
		"                 [--rehash] [--require-hash] [--state-dir dir] [--summary file]\n"
		"                 [--table] [file]\n"
		"       mm-verify --scan [--hash[=algo]] [-qv] [-j n] [--allow-dir dir] [--table] [dir]\n"
		"\n"
		"      --allow-dir dir   follow symlinks into dir too (repeatable)\n"
		"      --fetch-seconds s the time the downloads took, for the rate in --summary\n"
		"      --hash[=algo]     with --scan: add each file's digest (sha256, sha1, md5)\n"
		"  -j, --jobs n          files hashed at once (default: number of CPUs)\n"
		"      --metrics-dir dir write dir/mm_verify.prom for Prometheus (MM_METRICS_DIR)\n"
		"      --no-cache        neither use nor record the verified cache\n"
		"      --no-xattr        keep cache records out of the files' extended attributes\n"
		"      --quarantine      move files that fail to MM_STATE_DIR/quarantine/\n"
		"      --rehash          hash every file even when its cached digest still holds\n"
		"      --require-hash    a model without a hash is a failure\n"
		"      --scan            list the model files under MM_ROOT/models (or dir)\n"
		"      --state-dir dir   cache and quarantine (MM_STATE_DIR; default $MM_ROOT/.mm)\n"
		"      --summary file    write the run's totals to file, for a shell to read\n"
		"      --table           a table for people on stdout instead of JSON\n"
		"  -q, --quiet           errors only\n"
		"  -v, --verbose         every file on stderr\n"
		"  -h, --help            this help\n"
		"  -V, --version         print the version\n");
}

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(it) ? it->valuestring : NULL;
}

/* One line per model: status, size, cached, saveTo (or size, hash, saveTo for a scan). */
static void print_table(const struct mm_manifest *m, int scan)
{
	if (scan)
		printf("%-10s %-64s %s\n", "SIZE", "HASH", "SAVETO");
	else
		printf("%-10s %-10s %-6s %-11s %s\n", "STATUS", "SIZE", "CACHED", "SOURCE", "SAVETO");
	for (size_t i = 0; i < m->n; i++) {
		const struct mm_model *mo = &m->models[i];
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(mo->obj, "verify");
		const cJSON *size = cJSON_GetObjectItemCaseSensitive(v, "size");
		char sz[32] = "-";
		/* The manifest and the disk are untrusted: no control character reaches the terminal. */
		char *save_to = mm_visible(mo->save_to), *hash = mm_visible(mo->hash ? mo->hash : "-");
		char *status = mm_visible(str(v, "status") ? str(v, "status") : "-");

		if (scan) {
			mm_format_size(mo->size, sz, sizeof(sz));
			printf("%-10s %-64s %s\n", sz, hash, save_to);
		} else {
			if (cJSON_IsNumber(size))
				mm_format_size((long long)size->valuedouble, sz, sizeof(sz));
			printf("%-10s %-10s %-6s %-11s %s\n", status, sz,
			       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "cached")) ? "yes" : "-",
			       str(v, "hashSource") ? mm_hash_source_name(mm_hash_source_from_name(
				       str(v, "hashSource"))) : "-", save_to);
		}
		free(save_to);
		free(hash);
		free(status);
	}
}

/* The library reports (verify.h); here each event becomes a line on stderr. */
static void on_event(const struct mm_verify_event *ev, void *arg)
{
	const int *scan = arg;
	const char *st = mm_verify_status_name(ev->status);

	switch (ev->kind) {
	case MM_VERIFY_EV_MODEL:
		if (*scan) {
			if (ev->status != MM_VERIFY_OK)
				mm_errorf("%s: %s", ev->save_to, ev->text ? ev->text : st);
		} else if (ev->status == MM_VERIFY_OK) {
			mm_debugf("%s: ok%s", ev->save_to, ev->cached ? " (cached)" : "");
		} else if (ev->status == MM_VERIFY_UNVERIFIED) {
			mm_debugf("%s: unverified (no hash)", ev->save_to);
		} else if (ev->status == MM_VERIFY_MISSING) {
			mm_errorf("%s: missing", ev->save_to);
		} else {
			mm_errorf("%s: %s: %s", ev->save_to, st, ev->text);
		}
		break;
	case MM_VERIFY_EV_PROGRESS: {
		char got[32], rate[32];

		mm_format_size((long long)ev->bytes, got, sizeof(got));
		mm_format_size(ev->seconds > 0 ? (long long)((double)ev->bytes / ev->seconds) : 0,
			       rate, sizeof(rate));
		mm_infof("verifying: %zu of %zu files done, %s hashed in %.0f s (%s/s)",
			ev->done, ev->total, got, ev->seconds, rate);
		break;
	}
	case MM_VERIFY_EV_NOT_CACHED:
		if (ev->changed)
			mm_warnf("%s changed while it was hashed; its digest is not cached",
				ev->save_to);
		else
			mm_debugf("%s: not cached: %s", ev->save_to, ev->text);
		break;
	case MM_VERIFY_EV_QUARANTINED:
		mm_warnf("%s quarantined to %s/%s", ev->save_to,
			ev->state_dir ? "MM_STATE_DIR" : "MM_ROOT", ev->text);
		break;
	case MM_VERIFY_EV_WARNING:
		mm_warnf("%s", ev->text);
		break;
	}
}

/*
 * The totals of m for --summary (summary.h), replacing file at once: a
 * reader sees the whole summary or none, and a symlink at file is replaced,
 * not followed.
 */
static int write_summary(const char *file, const struct mm_manifest *m, double fetch_seconds)
{
	struct mm_summary s;
	struct mm_err err = { 0 };
	const char *slash = strrchr(file, '/');
	char *dir = slash ? mm_xstrndup(file, slash == file ? 1 : (size_t)(slash - file)) : NULL;
	char *text;
	int dfd, rc;

	dfd = open(dir ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		mm_errorf("cannot write the summary '%s': %s", file, strerror(errno));
		free(dir);
		return MM_EFAIL;
	}
	mm_summary_count(m, &s);
	text = mm_summary_text(&s, fetch_seconds);
	rc = mm_state_write(dfd, slash ? slash + 1 : file, text, strlen(text), &err);
	if (rc)
		mm_errorf("cannot write the summary '%s': %s", file, err.msg);
	free(text);
	mm_summary_free(&s);
	close(dfd);
	free(dir);
	return rc;
}

static void summary(const struct mm_verify_stats *s, size_t n)
{
	char hashed[32];

	mm_format_size((long long)s->bytes_hashed, hashed, sizeof(hashed));
	mm_infof("%zu models: %zu ok, %zu mismatch, %zu missing, %zu unverified, %zu unreadable; "
		"%zu cached, %zu hashed (%s in %.2f s%s)", n, s->ok, s->mismatch, s->missing,
		s->unverified, s->unreadable, s->cached, s->hashed, hashed, s->seconds,
		s->quarantined ? ", some quarantined" : "");
}

struct args {
	const char **allow, *state_dir, *metrics_dir, *summary_file;
	double fetch_seconds;
	enum mm_hash_algo algo;
	int scan, table;
};

/* Options that go only with others: 1 when these do. */
static int combination_ok(const struct args *a)
{
	if (a->algo != MM_HASH_NONE && !a->scan)
		mm_errorf("--hash goes with --scan");
	else if (a->fetch_seconds > 0 && !a->summary_file)
		mm_errorf("--fetch-seconds goes with --summary");
	else if (a->summary_file && a->scan)
		mm_errorf("--summary does not go with --scan");
	else
		return 1;
	return 0;
}

/* The options into o and a: 0 to go on, 1 to exit with *rc. */
static int parse_args(int argc, char **argv, struct mm_verify_opts *o, struct args *a, int *rc)
{
	enum {
		OPT_ALLOW = 256, OPT_HASH, OPT_NOCACHE, OPT_NOXATTR, OPT_QUARANTINE, OPT_REHASH,
		OPT_REQUIRE, OPT_SCAN, OPT_STATE, OPT_TABLE, OPT_METRICS, OPT_SUMMARY, OPT_FETCH_SECONDS,
	};
	static const struct option opts[] = {
		{"allow-dir", required_argument, NULL, OPT_ALLOW},
		{"fetch-seconds", required_argument, NULL, OPT_FETCH_SECONDS},
		{"hash", optional_argument, NULL, OPT_HASH},
		{"help", no_argument, NULL, 'h'},
		{"jobs", required_argument, NULL, 'j'},
		{"metrics-dir", required_argument, NULL, OPT_METRICS},
		{"no-cache", no_argument, NULL, OPT_NOCACHE},
		{"no-xattr", no_argument, NULL, OPT_NOXATTR},
		{"quarantine", no_argument, NULL, OPT_QUARANTINE},
		{"quiet", no_argument, NULL, 'q'},
		{"rehash", no_argument, NULL, OPT_REHASH},
		{"require-hash", no_argument, NULL, OPT_REQUIRE},
		{"scan", no_argument, NULL, OPT_SCAN},
		{"state-dir", required_argument, NULL, OPT_STATE},
		{"summary", required_argument, NULL, OPT_SUMMARY},
		{"table", no_argument, NULL, OPT_TABLE},
		{"verbose", no_argument, NULL, 'v'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	int c;
	long n;

	*rc = MM_EUSAGE;
	a->allow = mm_xcalloc((size_t)argc, sizeof(*a->allow));
	while ((c = getopt_long(argc, argv, "hj:qVv", opts, NULL)) != -1) {
		if (mm_prologue_option(c, usage, rc))
			return 1;
		switch (c) {
		case 'j':
			if (mm_prologue_number("-j", optarg, 1, 256, &n) < 0)
				return 1;
			o->jobs = (int)n;
			break;
		case OPT_ALLOW: a->allow[o->nallow++] = optarg; break;
		case OPT_HASH:
			a->algo = optarg ? mm_hash_algo_from_name(optarg) : MM_HASH_SHA256;
			if (a->algo == MM_HASH_NONE || a->algo == MM_HASH_AUTOV2) {
				mm_errorf("--hash takes sha256, sha1 or md5, not '%s'", optarg);
				return 1;
			}
			break;
		case OPT_NOCACHE: o->no_cache = 1; break;
		case OPT_NOXATTR: o->no_xattr = 1; break;
		case OPT_QUARANTINE: o->quarantine = 1; break;
		case OPT_REHASH: o->rehash = 1; break;
		case OPT_REQUIRE: o->require_hash = 1; break;
		case OPT_SCAN: a->scan = 1; break;
		case OPT_STATE: a->state_dir = optarg; break;
		case OPT_TABLE: a->table = 1; break;
		case OPT_METRICS: a->metrics_dir = optarg; break;
		case OPT_SUMMARY: a->summary_file = optarg; break;
		case OPT_FETCH_SECONDS:
			if (mm_parse_double(optarg, 0, 1e9, &a->fetch_seconds) < 0) {
				mm_errorf("--fetch-seconds takes a number of seconds, not '%s'", optarg);
				return 1;
			}
			break;
		}
	}
	if (argc - optind > 1) {
		mm_errorf("unexpected argument '%s'", argv[optind + 1]);
		usage(stderr);
		return 1;
	}
	if (!combination_ok(a)) {
		usage(stderr);
		return 1;
	}
	*rc = 0;
	return 0;
}

/*
 * Verify what the manifest (or the scan) lists into *m: the exit code.
 * *print is set when there is a manifest to print, however it went.
 */
static int run(const char *arg, const struct args *a, struct mm_verify_opts *o, struct mm_manifest **m,
	       struct mm_verify_stats *stats, struct mm_err *err, int *print)
{
	int rc;

	*print = 0;
	if (a->scan) {
		rc = mm_verify_scan(arg, a->algo, o, m, stats, err);
		if (!*m) {
			mm_errorf("%s", err->msg);
			return rc;
		}
		if (a->algo != MM_HASH_NONE)
			summary(stats, (*m)->n);
		*print = 1;
		return rc;
	}
	rc = mm_manifest_load(arg, 0, m, err);
	if (rc) {
		mm_manifest_log_problems(*m, err);
		return rc;
	}
	rc = mm_verify(*m, o, stats, err);
	if (rc == MM_EUSAGE) {
		mm_errorf("%s", err->msg);
		return rc;
	}
	if (rc == MM_EINT || rc == MM_ETERM)
		mm_errorf("interrupted: the models not yet verified have no verify object");
	summary(stats, (*m)->n);
	*print = 1;
	if (a->summary_file && write_summary(a->summary_file, *m, a->fetch_seconds) != 0 && rc == 0)
		rc = MM_EFAIL;
	return rc;
}

/* The manifest (or the table) on stdout: rc, or MM_EFAIL when it could not be written. */
static int output(struct mm_manifest *m, const struct args *a, int rc)
{
	struct mm_err err = { 0 };

	if (a->table) {
		print_table(m, a->scan);
	} else if (mm_manifest_write(m, stdout, &err) != 0) {
		mm_errorf("%s", err.msg);
		return MM_EFAIL;
	}
	if (mm_finish_stdout() != 0 && rc != MM_EINT && rc != MM_ETERM)
		rc = MM_EFAIL;
	return rc;
}

int main(int argc, char **argv)
{
	struct args a = { .algo = MM_HASH_NONE };
	struct mm_verify_opts o = { 0 };
	struct mm_verify_stats stats = { 0 };
	struct mm_manifest *m = NULL;
	struct mm_err err = { 0 };
	double t0 = mm_now();
	char *state_dir = NULL;
	int rc, print;

	mm_prologue_init(argv[0]);
	if (parse_args(argc, argv, &o, &a, &rc))
		goto out;
	o.root = mm_config_root();
	state_dir = a.state_dir ? mm_xstrdup(a.state_dir) : mm_config_state_dir(o.root);
	o.state_dir = state_dir;
	if (a.state_dir)
		mm_manifest_set_state_dir(o.root, a.state_dir);
	o.allow_dirs = a.allow;
	o.stop = mm_prologue_signals();
	o.on_event = on_event;
	o.event_arg = &a.scan;
	if (mm_hash_catch_sigbus() < 0)
		mm_debugf("no SIGBUS handler: files are read, not mapped");
	rc = run(optind < argc ? argv[optind] : NULL, &a, &o, &m, &stats, &err, &print);
	if (print)
		rc = output(m, &a, rc);
out:
	if (rc != MM_EUSAGE) {
		struct mm_metrics *mx = mm_metrics_new("mm-verify", mm_metrics_dir(a.metrics_dir));

		mm_metrics_verify(mx, m ? &stats : NULL);
		if (mm_metrics_finish(mx, t0, rc, &err))
			mm_warnf("%s", err.msg);
		mm_metrics_free(mx);
	}
	mm_manifest_free(m);
	free(state_dir);
	free(a.allow);
	return rc;
}
