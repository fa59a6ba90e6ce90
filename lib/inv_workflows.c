/*
 * inv_workflows.c — the workflows a machine can run: those whose every model
 * (by the manifest's sources) is on the disk and verified; published as
 * machine:<id>:workflows and indexed in workflows:index:<name>.
 */
#include "inventory.h"
#include "config.h"
#include "manifest.h"
#include "rkeys.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The machine's workflow set made anew, and each workflow's index naming it. */
static void add_workflows(struct mm_rcmds *q, const char *key, const char *id,
			  const struct mm_list *wf)
{
	size_t i;

	mm_rcmds_add(q, "DEL", key, (char *)NULL);
	for (i = 0; i < wf->n; i++) {
		char *ik = mm_xasprintf(MM_RKEY_WORKFLOW_INDEX, wf->v[i]);

		mm_rcmds_add(q, "SADD", key, wf->v[i], (char *)NULL);
		mm_rcmds_add(q, "SADD", ik, id, (char *)NULL);
		free(ik);
	}
}

static int cmp_str_reply(const void *a, const void *b)
{
	return strcmp((*(redisReply *const *)a)->str, (*(redisReply *const *)b)->str);
}

/* The workflow a source names ("workflow:W", "component:W", "collection:C/workflow:W"), or NULL. */
static const char *workflow_of(const char *src)
{
	const char *p;

	if (strncmp(src, "workflow:", 9) == 0)
		return src + 9;
	if (strncmp(src, "component:", 10) == 0)
		return src + 10;
	if (strncmp(src, "collection:", 11) == 0 && (p = strstr(src, "/workflow:")))
		return p + 10;
	return NULL;
}

struct wf {
	const char *name;
	int complete;
};

void mm_inv_workflows(const struct mm_manifest *m, const struct mm_inv_model *recs, size_t n,
		      struct mm_list *out)
{
	const char **present = mm_xcalloc(n ? n : 1, sizeof(*present));
	struct wf *w = NULL;
	size_t i, j, np = 0, nw = 0;

	memset(out, 0, sizeof(*out));
	if (!m)
		goto done;
	for (i = 0; i < n; i++)
		if (recs[i].save_to)
			present[np++] = recs[i].save_to;
	qsort(present, np, sizeof(*present), cmp_str);
	for (i = 0; i < m->n; i++) {
		const struct mm_model *mod = &m->models[i];
		const cJSON *srcs = cJSON_GetObjectItemCaseSensitive(mod->obj, "sources");
		const char *st = mm_model_stage_status(mod, "verify");
		const cJSON *s;
		int good = mod->save_to && st && strcmp(st, "ok") == 0 &&
			   bsearch(&mod->save_to, present, np, sizeof(*present), cmp_str);

		cJSON_ArrayForEach(s, srcs) {
			const char *name = cJSON_IsString(s) ? workflow_of(s->valuestring) : NULL;

			if (!name || !*name)
				continue;
			for (j = 0; j < nw && strcmp(w[j].name, name) != 0; j++)
				;
			if (j == nw) {
				w = mm_xrealloc(w, (nw + 1) * sizeof(*w));
				w[nw].name = name;
				w[nw++].complete = 1;
			}
			w[j].complete &= good;
		}
	}
	for (j = 0; j < nw; j++)
		if (w[j].complete)
			mm_list_push(out, w[j].name);
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), cmp_str);
done:
	free(w);
	free(present);
}

int mm_inv_report_workflows(struct mm_redis *r, const char *id, const struct mm_list *wf,
			    struct mm_err *err)
{
	char *key = mm_xasprintf(MM_RKEY_MACHINE_WORKFLOWS, id);
	struct mm_rcmds *q = NULL;
	redisReply **reps = NULL, *old, *x = NULL;
	size_t i, j;
	int rc, same;

	/* Read what is there (one round trip); write only when it differs. */
	q = mm_rcmds_new();
	mm_rcmds_add(q, "WATCH", key, (char *)NULL);
	mm_rcmds_add(q, "SMEMBERS", key, (char *)NULL);
	rc = mm_redis_pipeline(r, q, &reps, err);
	mm_rcmds_free(q);
	q = NULL;
	if (rc)
		goto out;
	old = reps[1];
	if (old->elements > 1)
		qsort(old->element, old->elements, sizeof(*old->element), cmp_str_reply);
	same = old->type == REDIS_REPLY_ARRAY && old->elements == wf->n;
	for (i = 0; same && i < wf->n; i++)
		same = strcmp(old->element[i]->str, wf->v[i]) == 0;
	q = mm_rcmds_new();
	if (same) {
		/* Its reply is read, and dropped, by the next command. */
		mm_rcmds_add(q, "UNWATCH", (char *)NULL);
		rc = mm_redis_send(r, q, err);
		goto out;
	}
	mm_rcmds_add(q, "MULTI", (char *)NULL);
	for (i = 0; i < old->elements; i++) {
		int kept = 0;

		for (j = 0; j < wf->n && !kept; j++)
			kept = strcmp(old->element[i]->str, wf->v[j]) == 0;
		if (!kept) {
			char *ik = mm_xasprintf(MM_RKEY_WORKFLOW_INDEX, old->element[i]->str);

			mm_rcmds_add(q, "SREM", ik, id, (char *)NULL);
			free(ik);
		}
	}
	add_workflows(q, key, id, wf);
	mm_rcmds_add(q, "EXEC", (char *)NULL);
	rc = mm_redis_pipeline_last(r, q, &x, err);
	/* A concurrent report of the same machine wrote them: theirs is as good. */
out:
	if (rc)
		mm_error_prefix(err, "writing the workflows of %s", id);
	mm_redis_replies_free(reps, reps ? 2 : 0);
	if (x)
		freeReplyObject(x);
	mm_rcmds_free(q);
	free(key);
	return rc;
}

struct mm_rcmds *mm_inv_workflow_commands(const char *id, const struct mm_list *wf)
{
	struct mm_rcmds *q = mm_rcmds_new();
	char *key = mm_xasprintf(MM_RKEY_MACHINE_WORKFLOWS, id);

	mm_rcmds_add(q, "MULTI", (char *)NULL);
	add_workflows(q, key, id, wf);
	mm_rcmds_add(q, "EXEC", (char *)NULL);
	free(key);
	return q;
}
