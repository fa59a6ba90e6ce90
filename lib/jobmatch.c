/* jobmatch.c — install mm's jobMatching library, and put the replaced one back. */
#include "jobmatch.h"
#include "log.h"
#include "state.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

/* One library of FUNCTION LIST WITHCODE; strings borrowed from the reply. */
struct lib {
	const char *name;
	const char *code;
	size_t len;
};

struct saved {
	char *dump;
	size_t len;
	int had_library;
	char **names;   /* the libraries the dump holds, each "name=sha256 of its code" */
	size_t nnames;
};

static void saved_free(struct saved *s)
{
	size_t i;

	free(s->dump);
	for (i = 0; i < s->nnames; i++)
		free(s->names[i]);
	free(s->names);
	memset(s, 0, sizeof(*s));
}

const char *mm_jobmatch_outcome_name(int outcome)
{
	switch (outcome) {
	case MM_JM_INSTALLED: return "installed";
	case MM_JM_REPLACED: return "replaced";
	case MM_JM_UPDATED: return "updated";
	case MM_JM_UNCHANGED: return "unchanged";
	case MM_JM_RESTORED: return "restored";
	case MM_JM_DELETED: return "deleted";
	case MM_JM_NOTHING_SAVED: return "nothing_saved";
	case MM_JM_NOT_OURS: return "not_mm";
	}
	return "unknown";
}

int mm_jobmatch_server_major(const char *info)
{
	const char *p = info ? strstr(info, "redis_version:") : NULL;
	long v = 0;
	int digits = 0;

	if (!p)
		return -1;
	for (p += 14; *p >= '0' && *p <= '9' && digits < 6; p++, digits++)
		v = v * 10 + (*p - '0');
	return digits ? (int)v : -1;
}

static int need_functions(struct mm_redis *r, const char *what, struct mm_err *err)
{
	redisReply *rep = NULL;
	int rc, major;

	rc = mm_redis_cmd(r, &rep, err, "INFO", "server", (char *)NULL);
	if (rc)
		return rc;
	major = mm_jobmatch_server_major(rep->type == REDIS_REPLY_STRING ? rep->str : NULL);
	freeReplyObject(rep);
	if (major < 7)
		return mm_error(err, MM_EUSAGE, "%s needs Redis 7 or later (functions); %s is %s", what,
				mm_redis_address(r), major < 0 ? "of an unknown version" : "older");
	return 0;
}

static int is_ours(const char *code, size_t len)
{
	return code && memmem(code, len, MM_JOBMATCH_MARK, strlen(MM_JOBMATCH_MARK)) != NULL;
}

/*
 * FUNCTION LIST WITHCODE (of every library, or of jobMatching only); *v
 * borrows from *rep, which the caller frees.
 */
static int list_libraries(struct mm_redis *r, int only_ours, redisReply **rep, struct lib **v,
			  size_t *n, struct mm_err *err)
{
	size_t i, j;
	int rc;

	*v = NULL;
	*n = 0;
	if (only_ours)
		rc = mm_redis_cmd(r, rep, err, "FUNCTION", "LIST", "LIBRARYNAME", MM_JOBMATCH_LIBRARY,
				  "WITHCODE", (char *)NULL);
	else
		rc = mm_redis_cmd(r, rep, err, "FUNCTION", "LIST", "WITHCODE", (char *)NULL);
	if (rc)
		return mm_error_prefix(err, "listing the function libraries");
	if ((*rep)->type != REDIS_REPLY_ARRAY)
		return 0;
	*v = mm_xcalloc((*rep)->elements ? (*rep)->elements : 1, sizeof(**v));
	for (i = 0; i < (*rep)->elements; i++) {
		const redisReply *e = (*rep)->element[i];
		struct lib l = {0};

		if (e->type != REDIS_REPLY_ARRAY)
			continue;
		for (j = 0; j + 1 < e->elements; j += 2) {
			const redisReply *k = e->element[j], *val = e->element[j + 1];

			if (k->type != REDIS_REPLY_STRING && k->type != REDIS_REPLY_STATUS)
				continue;
			if (strcmp(k->str, "library_name") == 0 && val->type == REDIS_REPLY_STRING)
				l.name = val->str;
			else if (strcmp(k->str, "library_code") == 0 && val->type == REDIS_REPLY_STRING) {
				l.code = val->str;
				l.len = val->len;
			}
		}
		/* LIBRARYNAME is a pattern: keep the exact name only. */
		if (l.name && (!only_ours || strcmp(l.name, MM_JOBMATCH_LIBRARY) == 0))
			(*v)[(*n)++] = l;
	}
	return 0;
}

/* The jobMatching the server has now: *have 1 and *out (borrowed from *rep, to free). */
static int current_library(struct mm_redis *r, redisReply **rep, struct lib *out, int *have,
			   struct mm_err *err)
{
	struct lib *v = NULL;
	size_t n = 0;
	int rc = list_libraries(r, 1, rep, &v, &n, err);

	*have = !rc && n;
	if (*have)
		*out = v[0];
	free(v);
	return rc;
}

/*
 * Write name in the state directory whole or not at all (state.c: created
 * 0700, held to its rule, a temporary file renamed into place, 0600).
 */
static int write_file(const char *dir, const char *name, const char *data, size_t len,
		      struct mm_err *err)
{
	struct mm_state st;
	int rc = mm_state_open(&st, dir, 1, err);

	if (!rc)
		rc = mm_state_write(st.fd, name, data, len, err);
	mm_state_close(&st);
	return rc;
}

/* name in the state directory, or NULL when it is not there or may not be read. */
static char *read_file(const char *dir, const char *name, size_t *len)
{
	struct mm_state st;
	char *buf = NULL;
	size_t cap = 0;
	FILE *f = NULL;
	int fd = -1;

	*len = 0;
	if (mm_state_open(&st, dir, 0, NULL) == 0)
		fd = mm_state_openat(st.fd, name, O_RDONLY | O_CLOEXEC, 0);
	mm_state_close(&st);
	if (fd >= 0 && !(f = fdopen(fd, "rb")))
		close(fd);
	if (!f)
		return NULL;
	for (;;) {
		size_t got;

		if (*len + 65536 + 1 > cap) {
			cap = (*len + 65536 + 1) * 2;
			buf = mm_xrealloc(buf, cap);
		}
		got = fread(buf + *len, 1, cap - *len - 1, f);
		*len += got;
		if (!got)
			break;
	}
	if (ferror(f)) {
		free(buf);
		buf = NULL;
	} else {
		buf[*len] = '\0';
	}
	fclose(f);
	return buf;
}

/* "name=sha256 of its code" for one library; caller frees. */
static char *lib_id(const struct lib *l)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, k;
	char hex[2 * EVP_MAX_MD_SIZE + 1] = "";

	if (EVP_Digest(l->code ? l->code : "", l->len, md, &mdlen, EVP_sha256(), NULL) != 1)
		mdlen = 0;
	for (k = 0; k < mdlen; k++)
		snprintf(hex + 2 * k, 3, "%02x", md[k]);
	return mm_xasprintf("%s=%s", l->name, hex);
}

/* "a=<sha256>,b=<sha256>" of the libraries: what the dump holds. */
static char *join_names(const struct lib *v, size_t n)
{
	struct mm_buf b = {0};
	size_t i;

	mm_buf_put(&b, "", 0);
	for (i = 0; i < n; i++) {
		char *id = lib_id(&v[i]);

		if (i)
			mm_buf_put(&b, ",", 1);
		mm_buf_put(&b, id, strlen(id));
		free(id);
	}
	return b.p;
}

/* Was this library, with this very code (lib_id), in the saved dump? */
static int saved_has(const struct saved *s, const char *id)
{
	size_t i;

	for (i = 0; i < s->nnames; i++)
		if (strcmp(s->names[i], id) == 0)
			return 1;
	return 0;
}

static void split_names(const char *s, struct saved *out)
{
	const char *p = s;

	while (p && *p) {
		const char *e = strchr(p, ',');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (l) {
			out->names = mm_xrealloc(out->names, (out->nnames + 1) * sizeof(*out->names));
			out->names[out->nnames++] = mm_xstrndup(p, l);
		}
		p = e ? e + 1 : NULL;
	}
}

static int load_ours(struct mm_redis *r, struct mm_err *err)
{
	const char *argv[] = {"FUNCTION", "LOAD", "REPLACE", mm_redis_jobmatching_lua};
	size_t lens[] = {8, 4, 7, mm_redis_jobmatching_lua_len};
	redisReply *rep = NULL;
	int rc = mm_redis_cmdv(r, 4, argv, lens, &rep, err);

	if (rc)
		return mm_error_prefix(err, "loading the jobMatching library");
	freeReplyObject(rep);
	return 0;
}

int mm_jobmatch_install(struct mm_redis *r, const char *state_dir, int *outcome,
			struct mm_err *err)
{
	redisReply *cur_rep = NULL, *all_rep = NULL, *dump = NULL, *x = NULL;
	struct lib cur_lib = {0}, *cur = NULL, *all = NULL;
	int have = 0;
	struct mm_rcmds *q = NULL;
	size_t nall = 0;
	char *names = NULL, *meta = NULL, iso[32];
	cJSON *m;
	int rc;

	rc = need_functions(r, "--install-job-matching", err);
	if (!rc)
		rc = current_library(r, &cur_rep, &cur_lib, &have, err);
	if (rc)
		goto out;
	cur = have ? &cur_lib : NULL;
	if (cur && cur->len == mm_redis_jobmatching_lua_len &&
	    memcmp(cur->code, mm_redis_jobmatching_lua, cur->len) == 0) {
		*outcome = MM_JM_UNCHANGED;
		goto out;
	}
	if (cur && is_ours(cur->code, cur->len)) {
		/* An older mm library: the saved one is still the job queue's. */
		rc = load_ours(r, err);
		*outcome = MM_JM_UPDATED;
		goto out;
	}

	/* Save what is there, in the state directory first, then in Redis with the load. */
	rc = mm_redis_cmd(r, &dump, err, "FUNCTION", "DUMP", (char *)NULL);
	if (!rc)
		rc = list_libraries(r, 0, &all_rep, &all, &nall, err);
	if (rc)
		goto out;
	if (dump->type != REDIS_REPLY_STRING) {
		rc = mm_error(err, MM_EFAIL, "FUNCTION DUMP gave no payload");
		goto out;
	}
	names = join_names(all, nall);
	mm_iso8601_now(iso);
	m = cJSON_CreateObject();
	cJSON_AddBoolToObject(m, "had_library", cur != NULL);
	cJSON_AddStringToObject(m, "libraries", names);
	cJSON_AddStringToObject(m, "saved_at", iso);
	cJSON_AddStringToObject(m, "server", mm_redis_address(r));
	meta = cJSON_PrintUnformatted(m);
	cJSON_Delete(m);
	rc = write_file(state_dir, MM_JOBMATCH_DUMP_FILE, dump->str, dump->len, err);
	if (!rc)
		rc = write_file(state_dir, MM_JOBMATCH_META_FILE, meta, strlen(meta), err);
	if (rc) {
		mm_error_prefix(err, "saving the function libraries before replacing them");
		goto out;
	}
	q = mm_rcmds_new();
	mm_rcmds_add(q, "MULTI", (char *)NULL);
	mm_rcmds_add(q, "DEL", MM_JOBMATCH_SAVED_KEY, (char *)NULL);
	mm_rcmds_begin(q);
	mm_rcmds_arg(q, "HSET");
	mm_rcmds_arg(q, MM_JOBMATCH_SAVED_KEY);
	mm_rcmds_arg(q, "dump");
	mm_rcmds_argn(q, dump->str, dump->len);
	mm_rcmds_arg(q, "had_library");
	mm_rcmds_arg(q, cur ? "1" : "0");
	mm_rcmds_arg(q, "libraries");
	mm_rcmds_arg(q, names);
	mm_rcmds_arg(q, "saved_at");
	mm_rcmds_arg(q, iso);
	mm_rcmds_begin(q);
	mm_rcmds_arg(q, "FUNCTION");
	mm_rcmds_arg(q, "LOAD");
	mm_rcmds_arg(q, "REPLACE");
	mm_rcmds_argn(q, mm_redis_jobmatching_lua, mm_redis_jobmatching_lua_len);
	mm_rcmds_add(q, "EXEC", (char *)NULL);
	rc = mm_redis_pipeline_last(r, q, &x, err);
	if (rc) {
		mm_error_prefix(err, "loading the jobMatching library");
		goto out;
	}
	*outcome = cur ? MM_JM_REPLACED : MM_JM_INSTALLED;
out:
	if (cur_rep)
		freeReplyObject(cur_rep);
	if (all_rep)
		freeReplyObject(all_rep);
	if (dump)
		freeReplyObject(dump);
	if (x)
		freeReplyObject(x);
	mm_rcmds_free(q);
	free(all);
	free(names);
	free(meta);
	return rc;
}

/* The saved libraries: from Redis, else from the state directory; *found 1 when there are. */
static int read_saved(struct mm_redis *r, const char *state_dir, struct saved *s, int *found,
		      struct mm_err *err)
{
	redisReply *rep = NULL;
	char *meta;
	size_t i, len;
	int rc;

	memset(s, 0, sizeof(*s));
	rc = mm_redis_cmd(r, &rep, err, "HGETALL", MM_JOBMATCH_SAVED_KEY, (char *)NULL);
	if (rc)
		return rc;
	for (i = 0; rep->type == REDIS_REPLY_ARRAY && i + 1 < rep->elements; i += 2) {
		const char *k = rep->element[i]->str;
		const redisReply *v = rep->element[i + 1];

		if (strcmp(k, "dump") == 0) {
			s->dump = mm_xmalloc(v->len + 1);
			memcpy(s->dump, v->str, v->len);
			s->len = v->len;
		} else if (strcmp(k, "had_library") == 0) {
			s->had_library = strcmp(v->str, "1") == 0;
		} else if (strcmp(k, "libraries") == 0) {
			split_names(v->str, s);
		}
	}
	freeReplyObject(rep);
	*found = 1;
	if (s->dump)
		return 0;
	saved_free(s);
	s->dump = read_file(state_dir, MM_JOBMATCH_DUMP_FILE, &s->len);
	meta = read_file(state_dir, MM_JOBMATCH_META_FILE, &len);
	if (s->dump && meta) {
		cJSON *m = cJSON_Parse(meta);
		const cJSON *libs = cJSON_GetObjectItemCaseSensitive(m, "libraries");

		s->had_library = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "had_library"));
		if (cJSON_IsString(libs))
			split_names(libs->valuestring, s);
		cJSON_Delete(m);
		free(meta);
		if (s->len) {
			mm_infof("the saved libraries are not in Redis; using %s/%s", state_dir,
				 MM_JOBMATCH_DUMP_FILE);
			return 0;
		}
	}
	free(meta);
	saved_free(s);
	*found = 0;
	return 0;
}

static void forget_files(const char *state_dir)
{
	struct mm_state st;

	if (mm_state_open(&st, state_dir, 0, NULL) == 0) {
		unlinkat(st.fd, MM_JOBMATCH_DUMP_FILE, 0);
		unlinkat(st.fd, MM_JOBMATCH_META_FILE, 0);
	}
	mm_state_close(&st);
}

int mm_jobmatch_restore(struct mm_redis *r, const char *state_dir, int *outcome,
			struct mm_err *err)
{
	redisReply *cur_rep = NULL, *all_rep = NULL, *x = NULL;
	struct lib cur_lib = {0}, *cur = NULL, *all = NULL;
	struct mm_rcmds *q = NULL;
	struct saved s = {0};
	size_t nall = 0, i, j;
	int rc, found = 0, have = 0;

	rc = need_functions(r, "--restore-job-matching", err);
	if (rc)
		return rc;
	rc = read_saved(r, state_dir, &s, &found, err);
	if (rc)
		return rc;
	if (!found) {
		*outcome = MM_JM_NOTHING_SAVED;
		return 0;
	}
	rc = current_library(r, &cur_rep, &cur_lib, &have, err);
	if (rc)
		goto out;
	cur = have ? &cur_lib : NULL;
	if (cur && !is_ours(cur->code, cur->len)) {
		*outcome = MM_JM_NOT_OURS;
		goto out;
	}
	q = mm_rcmds_new();
	mm_rcmds_add(q, "MULTI", (char *)NULL);
	if (!s.had_library) {
		if (cur)
			mm_rcmds_add(q, "FUNCTION", "DELETE", MM_JOBMATCH_LIBRARY, (char *)NULL);
	} else {
		/*
		 * The saved state whole, then every other library that changed
		 * since as it is now: jobMatching is the saved one byte for byte,
		 * the rest unchanged.  (A library loaded again changes the order
		 * of FUNCTION DUMP, so unchanged ones are not.)
		 */
		rc = list_libraries(r, 0, &all_rep, &all, &nall, err);
		if (rc)
			goto out;
		mm_rcmds_begin(q);
		mm_rcmds_arg(q, "FUNCTION");
		mm_rcmds_arg(q, "RESTORE");
		mm_rcmds_argn(q, s.dump, s.len);
		mm_rcmds_arg(q, "FLUSH");
		for (i = 0; i < nall; i++) {
			char *id = lib_id(&all[i]);
			int same = saved_has(&s, id);

			free(id);
			if (strcmp(all[i].name, MM_JOBMATCH_LIBRARY) == 0 || same)
				continue;
			mm_rcmds_begin(q);
			mm_rcmds_arg(q, "FUNCTION");
			mm_rcmds_arg(q, "LOAD");
			mm_rcmds_arg(q, "REPLACE");
			mm_rcmds_argn(q, all[i].code, all[i].len);
		}
		for (j = 0; j < s.nnames; j++) {
			char *name = mm_xstrdup(s.names[j]), *eq = strchr(name, '=');
			int now;

			if (eq)
				*eq = '\0';
			now = strcmp(name, MM_JOBMATCH_LIBRARY) == 0;
			for (i = 0; i < nall && !now; i++)
				now = strcmp(all[i].name, name) == 0;
			if (!now)
				mm_rcmds_add(q, "FUNCTION", "DELETE", name, (char *)NULL);
			free(name);
		}
	}
	mm_rcmds_add(q, "DEL", MM_JOBMATCH_SAVED_KEY, (char *)NULL);
	mm_rcmds_add(q, "EXEC", (char *)NULL);
	rc = mm_redis_pipeline_last(r, q, &x, err);
	if (rc) {
		mm_error_prefix(err, "restoring the saved jobMatching library");
		goto out;
	}
	forget_files(state_dir);
	*outcome = s.had_library ? MM_JM_RESTORED : MM_JM_DELETED;
out:
	if (cur_rep)
		freeReplyObject(cur_rep);
	if (all_rep)
		freeReplyObject(all_rep);
	if (x)
		freeReplyObject(x);
	mm_rcmds_free(q);
	free(all);
	saved_free(&s);
	return rc;
}
