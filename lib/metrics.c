/* metrics.c — one tool's Prometheus samples, written for node_exporter (metrics.h). */
#include "metrics.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "inventory.h"
#include "manifest.h"
#include "verify.h"

/* A kept gauge, like a counter, starts from the last file's value. */
enum { COUNTER, GAUGE, GAUGE_KEPT };

struct family {
	const char *name;
	int type;
	const char *help;
};

/*
 * Every family mm writes.  The ones without a tool prefix carry a "tool"
 * label and appear in every tool's file with the same help, which
 * node_exporter merges.
 */
static const struct family families[] = {
	{"mm_build_info", GAUGE, "The version of mm that wrote this file; always 1."},
	{"mm_last_run_timestamp_seconds", GAUGE, "When the tool's last run ended, in Unix time."},
	{"mm_last_run_seconds", GAUGE, "How long the tool's last run took."},
	{"mm_last_run_exit_code", GAUGE, "The exit status of the tool's last run (0 all good)."},
	{"mm_runs_total", COUNTER, "Runs of the tool, by exit status."},

	{"mm_fetch_downloaded_bytes_total", COUNTER, "Bytes downloaded, by source."},
	{"mm_fetch_resumed_bytes_total", COUNTER,
	 "Bytes a download did not fetch again because a part file held them, by source."},
	{"mm_fetch_downloads_total", COUNTER, "Models handled by mm-fetch, by source and outcome."},
	{"mm_fetch_failures_total", COUNTER, "Models mm-fetch failed, by source and reason."},
	{"mm_fetch_download_seconds_total", COUNTER, "Time spent downloading files, summed over files."},
	{"mm_fetch_bytes_from_total", COUNTER,
	 "Bytes downloaded, by the kind of source that sent them: peer, mirror or origin."},
	{"mm_fetch_liars_total", COUNTER,
	 "Peers and mirrors named for bytes that failed a model's hash, by kind."},

	{"mm_verify_results_total", COUNTER, "Models checked by mm-verify, by outcome."},
	{"mm_verify_cache_hits_total", COUNTER, "Files whose digest came from the verified cache."},
	{"mm_verify_hashed_files_total", COUNTER, "Files mm-verify hashed."},
	{"mm_verify_hashed_bytes_total", COUNTER, "Bytes mm-verify hashed."},
	{"mm_verify_hash_seconds_total", COUNTER, "Time mm-verify spent hashing."},
	{"mm_verify_quarantined_total", COUNTER, "Files mm-verify moved to quarantine."},

	{"mm_discover_models", GAUGE, "Models the configured workflows and collections need."},

	{"mm_models", GAUGE,
	 "Models at the last report: present (reported), unverified (present, no hash), "
	 "missing (wanted by the manifest, not on disk)."},
	{"mm_models_disk_bytes", GAUGE, "Bytes of the model files reported present."},
	{"mm_report_last_publish_timestamp_seconds", GAUGE_KEPT,
	 "When a report last changed the inventory in Redis, in Unix time."},
	{"mm_report_last_heartbeat_timestamp_seconds", GAUGE_KEPT,
	 "When the last report (each one is a heartbeat) reached Redis, in Unix time."},
	{"mm_report_publishes_total", COUNTER, "Reports that changed the inventory in Redis."},
	{"mm_report_heartbeats_total", COUNTER, "Reports that reached Redis."},
	{"mm_report_failures_total", COUNTER, "Reports that did not reach Redis, by reason."},
};

#define NFAM (sizeof(families) / sizeof(families[0]))

struct sample {
	size_t fam;
	char *labels;           /* "" or {k="v",...} */
	double v;
};

struct mm_metrics {
	char *tool, *path, *tmp_prefix;
	struct sample *s;
	size_t n, cap;
};

const char *mm_metrics_dir(const char *opt)
{
	const char *d = opt ? opt : mm_env("MM_METRICS_DIR", NULL);

	return d && *d ? d : NULL;
}

static int family_of(const char *name, size_t *out)
{
	for (size_t i = 0; i < NFAM; i++)
		if (strcmp(families[i].name, name) == 0) {
			*out = i;
			return 0;
		}
	return -1;
}

static struct sample *series(struct mm_metrics *r, size_t fam, const char *labels)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->s[i].fam == fam && strcmp(r->s[i].labels, labels) == 0)
			return &r->s[i];
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 32;
		r->s = mm_xrealloc(r->s, r->cap * sizeof(*r->s));
	}
	r->s[r->n].fam = fam;
	r->s[r->n].labels = mm_xstrdup(labels);
	r->s[r->n].v = 0;
	return &r->s[r->n++];
}

/* {k="v",...} from name/value pairs, escaped as the exposition format says. */
static char *labels_of(va_list ap)
{
	struct mm_buf b = {0};
	const char *k, *v;
	int first = 1;

	while ((k = va_arg(ap, const char *))) {
		v = va_arg(ap, const char *);
		mm_buf_put(&b, first ? "{" : ",", 1);
		first = 0;
		mm_buf_put(&b, k, strlen(k));
		mm_buf_put(&b, "=\"", 2);
		for (; v && *v; v++) {
			if (*v == '\\' || *v == '"')
				mm_buf_put(&b, "\\", 1);
			if (*v == '\n')
				mm_buf_put(&b, "\\n", 2);
			else
				mm_buf_put(&b, v, 1);
		}
		mm_buf_put(&b, "\"", 1);
	}
	if (!first)
		mm_buf_put(&b, "}", 1);
	mm_buf_put(&b, "", 1);
	return b.p;
}

static void update(struct mm_metrics *r, const char *family, double v, int add, va_list ap)
{
	struct sample *s;
	size_t fam;
	char *labels;

	if (!r || family_of(family, &fam) < 0 || !isfinite(v))
		return;
	labels = labels_of(ap);
	s = series(r, fam, labels);
	free(labels);
	if (add && families[fam].type == COUNTER)
		s->v += v;
	else
		s->v = v;
}

void mm_metrics_add(struct mm_metrics *r, const char *family, double v, ...)
{
	va_list ap;

	va_start(ap, v);
	update(r, family, v, 1, ap);
	va_end(ap);
}

void mm_metrics_set(struct mm_metrics *r, const char *family, double v, ...)
{
	va_list ap;

	va_start(ap, v);
	update(r, family, v, 0, ap);
	va_end(ap);
}

/* Our own sample lines only: a family we declare and keep, labels as we write them. */
static void load_counter(struct mm_metrics *r, char *line)
{
	char *sp = strrchr(line, ' '), *brace, *end;
	size_t fam;
	double v;

	if (!sp || line[0] == '#')
		return;
	*sp = '\0';
	v = strtod(sp + 1, &end);
	if (end == sp + 1 || *end || !isfinite(v) || v < 0)
		return;
	brace = strchr(line, '{');
	if (brace)
		*brace = '\0';
	if (family_of(line, &fam) < 0 || families[fam].type == GAUGE)
		return;
	if (brace) {
		*brace = '{';
		if (strspn(brace, "{}=\",_-.abcdefghijklmnopqrstuvwxyz"
				  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != strlen(brace) ||
		    brace[strlen(brace) - 1] != '}')
			return;
	}
	series(r, fam, brace ? brace : "")->v = v;
}

static void load_kept(struct mm_metrics *r)
{
	FILE *f = fopen(r->path, "re");
	char line[1024];

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);

		if (len == 0 || line[len - 1] != '\n')
			break;          /* too long to be ours, or the end of a cut file */
		line[len - 1] = '\0';
		load_counter(r, line);
	}
	fclose(f);
}

struct mm_metrics *mm_metrics_new(const char *tool, const char *dir)
{
	struct mm_metrics *r;
	const char *base = strncmp(tool, "mm-", 3) == 0 ? tool + 3 : tool;

	if (!dir || !*dir)
		return NULL;
	r = mm_xcalloc(1, sizeof(*r));
	r->tool = mm_xstrdup(tool);
	r->path = mm_xasprintf("%s/mm_%s.prom", dir, base);
	/* Not ending in .prom: the collector never reads a half-written file. */
	r->tmp_prefix = mm_xasprintf("%s/.mm_%s.prom.", dir, base);
	load_kept(r);
	mm_metrics_set(r, "mm_build_info", 1, "tool", tool, "version", MM_VERSION, (char *)NULL);
	return r;
}

void mm_metrics_free(struct mm_metrics *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		free(r->s[i].labels);
	free(r->s);
	free(r->tool);
	free(r->path);
	free(r->tmp_prefix);
	free(r);
}

const char *mm_metrics_path(const struct mm_metrics *r)
{
	return r ? r->path : NULL;
}

static int by_series(const void *a, const void *b)
{
	const struct sample *x = a, *y = b;

	if (x->fam != y->fam)
		return x->fam < y->fam ? -1 : 1;
	return strcmp(x->labels, y->labels);
}

static void put_value(struct mm_buf *b, double v)
{
	char num[64];

	if (v == floor(v) && fabs(v) < 9e15)
		snprintf(num, sizeof(num), "%.0f", v);
	else
		snprintf(num, sizeof(num), "%.10g", v);
	mm_buf_put(b, num, strlen(num));
}

static void render(struct mm_metrics *r, struct mm_buf *b)
{
	size_t i, last = (size_t)-1;

	qsort(r->s, r->n, sizeof(*r->s), by_series);
	for (i = 0; i < r->n; i++) {
		const struct family *f = &families[r->s[i].fam];

		if (r->s[i].fam != last) {
			char *h = mm_xasprintf("# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
					       f->type == COUNTER ? "counter" : "gauge");

			mm_buf_put(b, h, strlen(h));
			free(h);
			last = r->s[i].fam;
		}
		mm_buf_put(b, f->name, strlen(f->name));
		mm_buf_put(b, r->s[i].labels, strlen(r->s[i].labels));
		mm_buf_put(b, " ", 1);
		put_value(b, r->s[i].v);
		mm_buf_put(b, "\n", 1);
	}
}

int mm_metrics_write(struct mm_metrics *r, struct mm_err *err)
{
	struct mm_buf b = {0};
	char *tmp;
	int fd, rc = 0;
	size_t off = 0;

	if (!r)
		return 0;
	render(r, &b);
	tmp = mm_xasprintf("%sXXXXXX", r->tmp_prefix);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		rc = mm_error(err, MM_EFAIL, "cannot write metrics to '%s': %s", r->path, strerror(errno));
		goto out;
	}
	/* node_exporter often runs as another user: the file is world-readable, as a .prom is. */
	if (fchmod(fd, 0644) < 0)
		goto fail;
	while (off < b.len) {
		ssize_t w = write(fd, b.p + off, b.len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto fail;
		off += (size_t)w;
	}
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, r->path) < 0)
		goto fail;
	goto out;
fail:
	rc = mm_error(err, MM_EFAIL, "cannot write metrics to '%s': %s", r->path, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
out:
	free(tmp);
	free(b.p);
	return rc;
}

int mm_metrics_finish(struct mm_metrics *r, double t0, int rc, struct mm_err *err)
{
	char code[16];
	double now = mm_now();

	if (!r)
		return 0;
	snprintf(code, sizeof(code), "%d", rc);
	mm_metrics_set(r, "mm_last_run_timestamp_seconds", (double)time(NULL), "tool", r->tool,
		       (char *)NULL);
	mm_metrics_set(r, "mm_last_run_seconds", now > t0 ? now - t0 : 0, "tool", r->tool,
		       (char *)NULL);
	mm_metrics_set(r, "mm_last_run_exit_code", rc, "tool", r->tool, (char *)NULL);
	mm_metrics_add(r, "mm_runs_total", 1, "tool", r->tool, "code", code, (char *)NULL);
	return mm_metrics_write(r, err);
}

const char *mm_metrics_source(const char *url)
{
	const char *var = url ? mm_auth_guess(url) : NULL;

	if (var && strcmp(var, "HF_TOKEN") == 0)
		return "huggingface";
	if (var && strcmp(var, "CIVITAI_TOKEN") == 0)
		return "civitai";
	return "other";
}

static double num(const cJSON *o, const char *key)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(it) && it->valuedouble > 0 ? it->valuedouble : 0;
}

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(it) ? it->valuestring : NULL;
}

/* bytesFrom and liars of a fetch object (fetch.h): label values from a fixed set only. */
static void fetch_sources(struct mm_metrics *r, const cJSON *f)
{
	static const char *const kinds[] = {"peer", "mirror", "origin"};
	const cJSON *b = cJSON_GetObjectItemCaseSensitive(f, "bytesFrom");
	const cJSON *l = cJSON_GetObjectItemCaseSensitive(f, "liars"), *it;
	size_t k;

	/* Without bytesFrom, the origin was the only source. */
	for (k = 0; k < 3; k++)
		mm_metrics_add(r, "mm_fetch_bytes_from_total", cJSON_IsObject(b) ? num(b, kinds[k]) :
			       k == 2 ? num(f, "bytes") : 0, "from", kinds[k], (char *)NULL);
	if (!cJSON_IsArray(l))
		return;
	cJSON_ArrayForEach(it, l) {
		if (!cJSON_IsString(it))
			continue;
		for (k = 0; k < 2; k++)
			if (strncmp(it->valuestring, kinds[k], strlen(kinds[k])) == 0 &&
			    it->valuestring[strlen(kinds[k])] == ' ')
				mm_metrics_add(r, "mm_fetch_liars_total", 1, "kind", kinds[k], (char *)NULL);
	}
}

void mm_metrics_fetch(struct mm_metrics *r, const struct mm_manifest *m)
{
	if (!r || !m)
		return;
	for (size_t i = 0; i < m->n; i++) {
		const cJSON *f = cJSON_GetObjectItemCaseSensitive(m->models[i].obj, "fetch");
		const char *src = mm_metrics_source(m->models[i].url);
		const char *status = str(f, "status"), *reason = str(f, "reason");
		int dry = status && strcmp(status, "would-download") == 0;

		if (!status)
			continue;
		mm_metrics_add(r, "mm_fetch_downloads_total", 1, "source", src, "outcome", status,
			       (char *)NULL);
		if (dry)
			continue;       /* its bytes are the server's size, not a download */
		mm_metrics_add(r, "mm_fetch_downloaded_bytes_total", num(f, "bytes"), "source", src,
			       (char *)NULL);
		mm_metrics_add(r, "mm_fetch_resumed_bytes_total", num(f, "resumedFrom"), "source", src,
			       (char *)NULL);
		mm_metrics_add(r, "mm_fetch_download_seconds_total", num(f, "seconds"), "source", src,
			       (char *)NULL);
		fetch_sources(r, f);
		if (strcmp(status, "present") == 0 || strcmp(status, "downloaded") == 0)
			continue;
		if (!reason)
			reason = strcmp(status, "unauthorized") == 0 ? "unauthorized"
			       : strcmp(status, "unreachable") == 0 ? "network" : "other";
		mm_metrics_add(r, "mm_fetch_failures_total", 1, "source", src, "reason", reason,
			       (char *)NULL);
	}
}

void mm_metrics_verify(struct mm_metrics *r, const struct mm_verify_stats *st)
{
	size_t counts[MM_VERIFY_NSTATUS];

	if (!r || !st)
		return;
	counts[MM_VERIFY_OK] = st->ok;
	counts[MM_VERIFY_MISMATCH] = st->mismatch;
	counts[MM_VERIFY_MISSING] = st->missing;
	counts[MM_VERIFY_UNVERIFIED] = st->unverified;
	counts[MM_VERIFY_UNREADABLE] = st->unreadable;
	/* Every outcome, zeros included, so that a rate() has its series from the first run. */
	for (size_t i = 0; i < MM_VERIFY_NSTATUS; i++)
		mm_metrics_add(r, "mm_verify_results_total", (double)counts[i], "outcome",
			       mm_verify_status_name((enum mm_verify_status)i), (char *)NULL);
	mm_metrics_add(r, "mm_verify_cache_hits_total", (double)st->cached, (char *)NULL);
	mm_metrics_add(r, "mm_verify_hashed_files_total", (double)st->hashed, (char *)NULL);
	mm_metrics_add(r, "mm_verify_hashed_bytes_total", (double)st->bytes_hashed, (char *)NULL);
	mm_metrics_add(r, "mm_verify_hash_seconds_total", st->seconds, (char *)NULL);
	mm_metrics_add(r, "mm_verify_quarantined_total", (double)st->quarantined, (char *)NULL);
}

void mm_metrics_discover(struct mm_metrics *r, const struct mm_manifest *m)
{
	if (r && m)
		mm_metrics_set(r, "mm_discover_models", (double)m->n, (char *)NULL);
}

void mm_metrics_report(struct mm_metrics *r, const struct mm_inv_model *recs, size_t n,
		       const struct mm_manifest *m, const struct mm_inv_stats *st, int rc)
{
	double bytes = 0, now = (double)time(NULL);
	long long missing;
	size_t i, unverified = 0;

	if (!r)
		return;
	if (rc) {
		mm_metrics_add(r, "mm_report_failures_total", 1, "reason",
			       rc == MM_EUNAVAIL ? "unreachable" : "error", (char *)NULL);
		return;
	}
	/* The counts the inventory publishes (inventory.h), by the same rules. */
	for (i = 0; i < n; i++) {
		bytes += recs[i].size > 0 ? (double)recs[i].size : 0;
		unverified += !recs[i].verified;
	}
	missing = mm_inv_missing(m, recs, n);
	if (missing < 0)
		missing = 0;
	mm_metrics_set(r, "mm_models", (double)n, "state", "present", (char *)NULL);
	mm_metrics_set(r, "mm_models", (double)unverified, "state", "unverified", (char *)NULL);
	mm_metrics_set(r, "mm_models", (double)missing, "state", "missing", (char *)NULL);
	mm_metrics_set(r, "mm_models_disk_bytes", bytes, (char *)NULL);
	mm_metrics_set(r, "mm_report_last_heartbeat_timestamp_seconds", now, (char *)NULL);
	mm_metrics_add(r, "mm_report_heartbeats_total", 1, (char *)NULL);
	mm_metrics_add(r, "mm_report_publishes_total", 0, (char *)NULL);
	if (st && (st->added || st->removed || st->models_written)) {
		mm_metrics_set(r, "mm_report_last_publish_timestamp_seconds", now, (char *)NULL);
		mm_metrics_add(r, "mm_report_publishes_total", 1, (char *)NULL);
	}
}
