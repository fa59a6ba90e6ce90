/* A run's totals from its manifest (summary.h): which models are ready,
 * why the others are not, and the lines mm-entrypoint reads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "summary.h"
#include "tap.h"

/* Count the manifest text into s; 0 when it parses. */
static int count(const char *text, struct mm_summary *s)
{
	struct mm_manifest *m = NULL;
	struct mm_err err = {0};

	memset(s, 0, sizeof(*s));
	if (mm_manifest_parse(text, strlen(text), "test", 0, &m, &err) != 0) {
		ok(0, "parses: %s", err.msg);
		mm_manifest_free(m);
		return -1;
	}
	mm_summary_count(m, s);
	mm_manifest_free(m);
	return 0;
}

static void test_names(void)
{
	size_t i;

	for (i = 0; i < MM_FETCH_NSTATUS; i++)
		is_int(mm_fetch_status_from_name(mm_fetch_status_name((enum mm_fetch_status)i)), (long long)i,
		       "fetch status %s reads back", mm_fetch_status_name((enum mm_fetch_status)i));
	for (i = 0; i < MM_VERIFY_NSTATUS; i++)
		is_int(mm_verify_status_from_name(mm_verify_status_name((enum mm_verify_status)i)),
		       (long long)i, "verify status %s reads back",
		       mm_verify_status_name((enum mm_verify_status)i));
	is_int(mm_fetch_status_from_name("Present"), MM_FETCH_NSTATUS, "fetch names are exact");
	is_int(mm_fetch_status_from_name(NULL), MM_FETCH_NSTATUS, "no fetch name");
	is_int(mm_verify_status_from_name("ok "), MM_VERIFY_NSTATUS, "verify names are exact");
}

/* Which models are ready: verify decides when it has spoken, else fetch. */
static void test_ready(void)
{
	struct mm_summary s;

	if (count("{\"models\":["
		  /* 0: fetch failed, but the file is there and proved since: ready. */
		  "{\"name\":\"a\",\"saveTo\":\"m/a\",\"fetch\":{\"status\":\"failed\",\"error\":\"busy\"},"
		  "\"verify\":{\"status\":\"ok\"}},"
		  /* 1: downloaded, not verified yet: ready. */
		  "{\"name\":\"b\",\"saveTo\":\"m/b\",\"fetch\":{\"status\":\"downloaded\",\"bytes\":10,"
		  "\"hashSource\":\"civitai\"}},"
		  /* 2: a dry run's would-download: not ready. */
		  "{\"name\":\"c\",\"saveTo\":\"m/c\",\"fetch\":{\"status\":\"would-download\",\"bytes\":99}},"
		  /* 3: a verify status no mm writes: not ready, in its words. */
		  "{\"name\":\"d\",\"saveTo\":\"m/d\",\"verify\":{\"status\":\"odd\"}},"
		  /* 4: nothing at all. */
		  "{\"name\":\"e\",\"saveTo\":\"m/e\"},"
		  /* 5: unverified, and a linked twin with no hashSource. */
		  "{\"name\":\"f\",\"saveTo\":\"m/f\",\"fetch\":{\"status\":\"downloaded\",\"bytes\":5},"
		  "\"verify\":{\"status\":\"unverified\"}},"
		  /* 6: fetch unauthorized, verify missing: fetch says why. */
		  "{\"name\":\"g\",\"saveTo\":\"m/g\",\"fetch\":{\"status\":\"unauthorized\","
		  "\"error\":\"HF_TOKEN is not set\"},\"verify\":{\"status\":\"missing\"}}"
		  "]}", &s) != 0)
		return;
	is_int(s.models, 7, "seven models");
	is_int(s.nfailed, 4, "four not ready");
	if (s.nfailed == 4) {
		is_str(s.failed[0].save_to, "m/c", "the would-download");
		is_str(s.failed[0].why, "fetch would-download", "with its status");
		is_str(s.failed[1].why, "verify odd", "an unknown verify status is not ready");
		is_str(s.failed[2].why, "neither fetched nor verified (see the stages above)", "nothing at all");
		is_str(s.failed[3].why, "fetch unauthorized: HF_TOKEN is not set", "fetch says why it is missing");
	}
	is_int(s.fetch[MM_FETCH_DOWNLOADED], 2, "two downloaded");
	is_int(s.bytes, 15, "their bytes, not the would-download's");
	is_int(s.proved[MM_SRC_CIVITAI], 1, "one proved by civitai");
	is_int(s.proved[MM_SRC_NONE], 1, "one with no hashSource");
	is_int(mm_summary_fetch_failed(&s), 2, "fetch failed: failed, unreachable, unauthorized");
	is_int(s.verify[MM_VERIFY_UNVERIFIED], 1, "one unverified");
	mm_summary_free(&s);
}

/* The text: one line an entry, whatever the names hold. */
static void test_text(void)
{
	struct mm_summary s;
	char *t;

	if (count("{\"models\":[{\"name\":\"a\",\"saveTo\":\"m/a\",\"fetch\":{\"status\":\"failed\","
		  "\"error\":\"line one\\nFAILED m/x: forged\"}}]}", &s) != 0)
		return;
	t = mm_summary_text(&s, 0);
	ok(strstr(t, "\nFAILED m/a: fetch failed: line one\\nFAILED m/x: forged\n") != NULL,
	   "a newline in an error is shown escaped, not a line of its own");
	ok(strstr(t, "\nFAILED m/x") == NULL, "so no FAILED line is forged");
	ok(strstr(t, "totals 0 present, 0 downloaded, 1 failed\n") != NULL, "no size when nothing was downloaded");
	free(t);
	mm_summary_free(&s);

	mm_summary_count(NULL, &s);
	t = mm_summary_text(&s, 3);
	ok(strstr(t, "failed 0\ntotals 0 present, 0 downloaded, 0 failed\n"
		     "verify 0 ok (0 from the verified cache), 0 without a hash\n") != NULL,
	   "no manifest: zeros");
	free(t);
	mm_summary_free(&s);

	if (count("{\"models\":[{\"name\":\"a\",\"saveTo\":\"m/a\",\"fetch\":{\"status\":\"downloaded\","
		  "\"bytes\":3221225472}}]}", &s) != 0)
		return;
	t = mm_summary_text(&s, 2);
	ok(strstr(t, "\nbytes 3221225472\n") != NULL, "bytes past 2^31");
	ok(strstr(t, "1 downloaded (3.0GB, 1.5GB/s)") != NULL, "size and rate in size.h's spelling");
	free(t);
	mm_summary_free(&s);
}

int main(void)
{
	test_names();
	test_ready();
	test_text();
	return done_testing();
}
