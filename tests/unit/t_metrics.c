/* metrics.h: the source class of a URL, the file's format, counters carried
 * from the last file, and what a foreign or damaged file cannot inject. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"
#include "tap.h"

static char dir[] = "/tmp/mm-t_metrics.XXXXXX";

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s = calloc(1, 65536);

	if (f) {
		size_t n = fread(s, 1, 65535, f);

		s[n] = '\0';
		fclose(f);
	}
	return s;
}

static void spit(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void sources(void)
{
	is_str(mm_metrics_source("https://huggingface.co/a/b/resolve/main/x"), "huggingface", "huggingface.co");
	is_str(mm_metrics_source("https://hf.co/x"), "huggingface", "hf.co");
	is_str(mm_metrics_source("https://cdn-lfs.huggingface.co/x"), "huggingface", "a subdomain");
	is_str(mm_metrics_source("https://HuggingFace.CO/x"), "huggingface", "any case");
	is_str(mm_metrics_source("https://civitai.com/api/download/models/1"), "civitai", "civitai.com");
	is_str(mm_metrics_source("https://evilhuggingface.co/x"), "other", "a look-alike host");
	is_str(mm_metrics_source("https://huggingface.co.evil.example/x"), "other", "a longer host");
	is_str(mm_metrics_source("https://evil.example/huggingface.co/x"), "other", "the name in the path");
	is_str(mm_metrics_source("https://user@civitai.com.evil.example/"), "other", "userinfo and suffix");
	is_str(mm_metrics_source("not a url"), "other", "not a URL");
	is_str(mm_metrics_source(NULL), "other", "no URL");
}

static void format(void)
{
	struct mm_metrics *r = mm_metrics_new("mm-fetch", dir);
	struct mm_err err = {0};
	char *path, *s;

	ok(mm_metrics_new("mm-fetch", NULL) == NULL, "no directory: no registry");
	ok(mm_metrics_new("mm-fetch", "") == NULL, "an empty directory: no registry");
	ok(mm_metrics_write(NULL, &err) == 0, "writing no registry is nothing");
	path = strdup(mm_metrics_path(r));
	ok(strstr(path, "/mm_fetch.prom") != NULL, "the file is mm_fetch.prom");
	mm_metrics_add(r, "mm_fetch_downloaded_bytes_total", 17179869184.0, "source", "other", (char *)NULL);
	mm_metrics_add(r, "mm_fetch_downloaded_bytes_total", 1, "source", "other", (char *)NULL);
	mm_metrics_add(r, "mm_fetch_failures_total", 1, "source", "other", "reason", "a\"b\\c\nd",
		       (char *)NULL);
	mm_metrics_add(r, "mm_no_such_family_total", 1, (char *)NULL);
	mm_metrics_set(r, "mm_last_run_seconds", 0.25, "tool", "mm-fetch", (char *)NULL);
	ok(mm_metrics_write(r, &err) == 0, "written");
	s = slurp(path);
	ok(strstr(s, "# HELP mm_fetch_downloaded_bytes_total ") != NULL, "a HELP line");
	ok(strstr(s, "# TYPE mm_fetch_downloaded_bytes_total counter\n") != NULL, "a TYPE line");
	ok(strstr(s, "\nmm_fetch_downloaded_bytes_total{source=\"other\"} 17179869185\n") != NULL,
	   "a large count in full digits, added up");
	ok(strstr(s, "reason=\"a\\\"b\\\\c\\nd\"") != NULL, "label values escaped");
	ok(strstr(s, "mm_no_such_family") == NULL, "an undeclared family is not written");
	ok(strstr(s, "mm_last_run_seconds{tool=\"mm-fetch\"} 0.25\n") != NULL, "a gauge");
	ok(strstr(s, "mm_build_info{tool=\"mm-fetch\",version=\"" MM_VERSION "\"} 1\n") != NULL,
	   "mm_build_info");
	free(s);
	mm_metrics_free(r);

	/* The next registry goes on counting from the file; gauges start afresh. */
	r = mm_metrics_new("mm-fetch", dir);
	mm_metrics_add(r, "mm_fetch_downloaded_bytes_total", 5, "source", "other", (char *)NULL);
	ok(mm_metrics_write(r, &err) == 0, "written again");
	s = slurp(path);
	ok(strstr(s, "mm_fetch_downloaded_bytes_total{source=\"other\"} 17179869190\n") != NULL,
	   "the counter went on from the last file");
	ok(strstr(s, "mm_last_run_seconds") == NULL, "a gauge does not carry over");
	free(s);
	mm_metrics_free(r);

	/* A file that is not ours: nothing but our own well-formed counter lines is taken. */
	spit(path, "mm_fetch_downloaded_bytes_total{source=\"other\"} 10\n"
		   "mm_fetch_downloaded_bytes_total{source=\"x\"} -5\n"
		   "mm_fetch_downloaded_bytes_total{source=\"y\"} nan\n"
		   "mm_fetch_downloaded_bytes_total{source=\"z\"} 1e400\n"
		   "mm_fetch_downloaded_bytes_total{source=\"a b\"} 3\n"
		   "mm_fetch_downloaded_bytes_total{source=\"q\\\"} 3\n"
		   "evil_total{a=\"b\"} 7\n"
		   "mm_build_info{tool=\"x\"} 9\n"
		   "# TYPE evil gauge\n"
		   "mm_fetch_failures_total{source=\"other\",reason=\"timeout\"} 2");
	r = mm_metrics_new("mm-fetch", dir);
	ok(mm_metrics_write(r, &err) == 0, "written over a foreign file");
	s = slurp(path);
	ok(strstr(s, "mm_fetch_downloaded_bytes_total{source=\"other\"} 10\n") != NULL, "our line is kept");
	ok(strstr(s, "source=\"x\"") == NULL && strstr(s, "source=\"y\"") == NULL &&
	   strstr(s, "source=\"z\"") == NULL, "negative, NaN and infinite values are dropped");
	ok(strstr(s, "a b") == NULL && strstr(s, "source=\"q") == NULL, "odd labels are dropped");
	ok(strstr(s, "evil") == NULL, "other families are dropped");
	ok(strstr(s, "tool=\"x\"") == NULL, "gauges are not taken from the file");
	ok(strstr(s, "timeout") == NULL, "a cut last line is dropped");
	free(s);
	mm_metrics_free(r);

	/* A directory that is not there: an error naming the file. */
	r = mm_metrics_new("mm-verify", "/nonexistent-mm-dir");
	ok(mm_metrics_write(r, &err) == MM_EFAIL, "a missing directory fails");
	ok(strstr(err.msg, "'/nonexistent-mm-dir/mm_verify.prom'") != NULL, "naming the file: %s", err.msg);
	mm_metrics_free(r);
	unlink(path);
	free(path);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	sources();
	format();
	rmdir(dir);
	return done_testing();
}
