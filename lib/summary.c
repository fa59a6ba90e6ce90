/* summary.c — a run's totals from its manifest (summary.h). */
#include "summary.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "size.h"
#include "text.h"

static const char *str(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* "<stage> <status>[: <error>]": why a model is not ready, in its stage's words. */
static char *stage_why(const char *stage, const cJSON *o, const char *status)
{
	const char *e = str(o, "error");

	return mm_xasprintf("%s %s%s%s", stage, status, e && *e ? ": " : "", e && *e ? e : "");
}

static void add_failure(struct mm_summary *s, const struct mm_model *mo, char *why)
{
	s->failed = mm_xrealloc(s->failed, (s->nfailed + 1) * sizeof(*s->failed));
	s->failed[s->nfailed].save_to = mm_xstrdup(mo->save_to ? mo->save_to : mo->name ? mo->name : "");
	s->failed[s->nfailed].why = why;
	s->nfailed++;
}

void mm_summary_count(const struct mm_manifest *m, struct mm_summary *s)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; m && i < m->n; i++) {
		const struct mm_model *mo = &m->models[i];
		const cJSON *f = cJSON_GetObjectItemCaseSensitive(mo->obj, "fetch");
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(mo->obj, "verify");
		const char *fname = str(f, "status"), *vname = str(v, "status");
		enum mm_fetch_status fs = mm_fetch_status_from_name(fname);
		enum mm_verify_status vs = mm_verify_status_from_name(vname);
		int fetch_ok = fs == MM_FETCH_PRESENT || fs == MM_FETCH_DOWNLOADED;

		s->models++;
		if (fs != MM_FETCH_NSTATUS)
			s->fetch[fs]++;
		if (fs == MM_FETCH_DOWNLOADED) {
			const cJSON *b = cJSON_GetObjectItemCaseSensitive(f, "bytes");
			enum mm_hash_source src = mm_hash_source_from_name(str(f, "hashSource"));

			if (cJSON_IsNumber(b) && b->valuedouble > 0)
				s->bytes += (long long)b->valuedouble;
			s->proved[src]++;
		}
		if (vs != MM_VERIFY_NSTATUS)
			s->verify[vs]++;
		if (vs == MM_VERIFY_OK && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "cached")))
			s->cached++;

		/* Ready or not, and why (summary.h). */
		if (vname ? vs == MM_VERIFY_OK || vs == MM_VERIFY_UNVERIFIED : fetch_ok)
			continue;
		if (fname && !fetch_ok)
			add_failure(s, mo, stage_why("fetch", f, fname));
		else if (vname)
			add_failure(s, mo, stage_why("verify", v, vname));
		else
			add_failure(s, mo, mm_xstrdup("neither fetched nor verified (see the stages above)"));
	}
}

size_t mm_summary_fetch_failed(const struct mm_summary *s)
{
	return s->fetch[MM_FETCH_FAILED] + s->fetch[MM_FETCH_UNREACHABLE] +
	       s->fetch[MM_FETCH_UNAUTHORIZED];
}

static void put(struct mm_buf *b, char *line)
{
	mm_buf_put(b, line, strlen(line));
	free(line);
}

char *mm_summary_text(const struct mm_summary *s, double fetch_seconds)
{
	struct mm_buf b = { 0 };
	char size[32], rate[32], extra[80] = "";
	size_t i;

	for (i = 0; i < MM_FETCH_NSTATUS; i++)
		put(&b, mm_xasprintf("fetch.%s %zu\n", mm_fetch_status_name((enum mm_fetch_status)i),
				     s->fetch[i]));
	for (i = 0; i < MM_VERIFY_NSTATUS; i++)
		put(&b, mm_xasprintf("verify.%s %zu\n", mm_verify_status_name((enum mm_verify_status)i),
				     s->verify[i]));
	put(&b, mm_xasprintf("cached %zu\nbytes %lld\nfailed %zu\n", s->cached, s->bytes, s->nfailed));

	if (s->bytes > 0) {
		mm_format_size(s->bytes, size, sizeof(size));
		if (fetch_seconds > 0) {
			mm_format_size((long long)((double)s->bytes / fetch_seconds), rate, sizeof(rate));
			snprintf(extra, sizeof(extra), " (%s, %s/s)", size, rate);
		} else {
			snprintf(extra, sizeof(extra), " (%s)", size);
		}
	}
	put(&b, mm_xasprintf("totals %zu present, %zu downloaded%s, %zu failed\n",
			     s->fetch[MM_FETCH_PRESENT], s->fetch[MM_FETCH_DOWNLOADED], extra, s->nfailed));
	put(&b, mm_xasprintf("verify %zu ok (%zu from the verified cache), %zu without a hash\n",
			     s->verify[MM_VERIFY_OK], s->cached, s->verify[MM_VERIFY_UNVERIFIED]));
	for (i = 0; i < s->nfailed; i++) {
		char *to = mm_visible(s->failed[i].save_to), *why = mm_visible(s->failed[i].why);

		put(&b, mm_xasprintf("FAILED %s: %s\n", to, why));
		free(to);
		free(why);
	}
	if (!b.p)
		mm_buf_room(&b, 0);
	return b.p;
}

void mm_summary_free(struct mm_summary *s)
{
	for (size_t i = 0; i < s->nfailed; i++) {
		free(s->failed[i].save_to);
		free(s->failed[i].why);
	}
	free(s->failed);
	s->failed = NULL;
	s->nfailed = 0;
}
