/*
 * mm_verify (verify.h) on real files: each status a user can meet, the
 * statistics and the exit rule, and the size rule for models without a hash
 * (size.h, the one mm-fetch uses).
 */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "manifest.h"
#include "verify.h"
#include "tap.h"

static int rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

#define HELLO_SHA256 "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
#define HELLO_MD5 "b1946ac92492d2347c6235b4d2611184"
#define HELLO_SHA1 "f572d396fae9206628714fb2ce00f72e94f2258f"

static char root[64];

static void put(const char *rel, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static const char *status(struct mm_manifest *m, size_t i)
{
	const char *s = mm_model_stage_status(&m->models[i], "verify");

	return s ? s : "(none)";
}

static const char *field(struct mm_manifest *m, size_t i, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(m->models[i].obj, "verify");
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(v, key);

	return cJSON_IsString(f) ? f->valuestring : "";
}

static int run(const char *models, int require_hash, struct mm_manifest **out, struct mm_verify_stats *st)
{
	struct mm_verify_opts o;
	struct mm_err err = {0};
	char text[4096];

	snprintf(text, sizeof(text), "{\"models\":[%s]}", models);
	*out = NULL;
	if (mm_manifest_parse(text, strlen(text), "test", 0, out, &err) != 0) {
		ok(0, "the manifest parses: %s", err.msg);
		return -100;
	}
	memset(&o, 0, sizeof(o));
	o.root = root;
	o.jobs = 2;
	o.no_cache = 1;
	o.require_hash = require_hash;
	memset(st, 0, sizeof(*st));
	return mm_verify(*out, &o, st, &err);
}

int main(void)
{
	struct mm_manifest *m;
	struct mm_verify_stats st;
	char models[4096];
	int rc;

	mm_log_init("t_verify");
	mm_log_set_level(MM_LOG_QUIET);
	snprintf(root, sizeof(root), "/tmp/t_verify.XXXXXX");
	if (!mkdtemp(root)) {
		ok(0, "a temporary MM_ROOT");
		return done_testing();
	}
	{
		char d[128];

		snprintf(d, sizeof(d), "%s/models", root);
		mkdir(d, 0755);
		snprintf(d, sizeof(d), "%s/models/dir.bin", root);
		mkdir(d, 0755);
	}
	put("models/ok.bin", "hello\n");
	put("models/bad.bin", "hellO\n");
	put("models/plain.bin", "hello\n");
	put("models/md5.bin", "hello\n");
	put("models/sha1.bin", "hello\n");
	put("models/p1.bin", "hello\n");
	put("models/p2.bin", "hello\n");
	put("models/p3.bin", "hello\n");
	put("models/p4.bin", "hello\n");
	put("outside.bin", "hello\n");
	{
		char link[128];

		snprintf(link, sizeof(link), "%s/models/out.bin", root);
		if (symlink("/etc/hostname", link) != 0)
			ok(0, "plant a symlink");
	}

	snprintf(models, sizeof(models),
		 "{\"name\":\"ok\",\"saveTo\":\"models/ok.bin\",\"hash\":\"sha256:%s\"},"
		 "{\"name\":\"md5\",\"saveTo\":\"models/md5.bin\",\"hash\":\"md5:%s\"},"
		 "{\"name\":\"sha1\",\"saveTo\":\"models/sha1.bin\",\"hash\":\"sha1:%s\"},"
		 "{\"name\":\"bad\",\"saveTo\":\"models/bad.bin\",\"hash\":\"sha256:%s\"},"
		 "{\"name\":\"gone\",\"saveTo\":\"models/gone.bin\",\"hash\":\"sha256:%s\"},"
		 "{\"name\":\"nohash\",\"saveTo\":\"models/plain.bin\",\"sizeBytes\":6},"
		 "{\"name\":\"dir\",\"saveTo\":\"models/dir.bin\",\"hash\":\"sha256:%s\"},"
		 "{\"name\":\"out\",\"saveTo\":\"models/out.bin\",\"hash\":\"sha256:%s\"}",
		 HELLO_SHA256, HELLO_MD5, HELLO_SHA1, HELLO_SHA256, HELLO_SHA256, HELLO_SHA256, HELLO_SHA256);
	rc = run(models, 0, &m, &st);
	if (rc != -100) {
		is_int(rc, MM_EFAIL, "some failed: MM_EFAIL");
		is_str(status(m, 0), "ok", "sha256 matches: ok");
		is_str(field(m, 0, "digest"), HELLO_SHA256, "with the digest");
		is_str(status(m, 1), "ok", "md5 matches: ok");
		is_str(status(m, 2), "ok", "sha1 matches: ok");
		is_str(status(m, 3), "mismatch", "one byte differs: mismatch");
		is_str(field(m, 3, "expected"), HELLO_SHA256, "a mismatch names what was expected");
		is_str(status(m, 4), "missing", "no file: missing");
		is_str(status(m, 5), "unverified", "no hash, right size: unverified");
		is_str(status(m, 6), "unreadable", "a directory at saveTo: unreadable");
		is_str(status(m, 7), "unreadable", "a symlink out of MM_ROOT: unreadable, not followed");
		ok(strcmp(field(m, 7, "digest"), HELLO_SHA256) != 0, "and nothing of its target is hashed");
		is_int(st.ok, 3, "3 ok");
		is_int(st.mismatch, 1, "1 mismatch");
		is_int(st.missing, 1, "1 missing");
		is_int(st.unverified, 1, "1 unverified");
		is_int(st.unreadable, 2, "2 unreadable");
	}
	mm_manifest_free(m);

	/* Unverified passes, unless a hash is required. */
	rc = run("{\"name\":\"nohash\",\"saveTo\":\"models/plain.bin\",\"sizeBytes\":6}", 0, &m, &st);
	is_int(rc, 0, "unverified alone: 0");
	mm_manifest_free(m);
	rc = run("{\"name\":\"nohash\",\"saveTo\":\"models/plain.bin\",\"sizeBytes\":6}", 1, &m, &st);
	is_int(rc, MM_EFAIL, "unverified with require_hash: MM_EFAIL");
	mm_manifest_free(m);

	/* The size rule without a hash: exact byte counts, rounded hints. */
	rc = run("{\"name\":\"a\",\"saveTo\":\"models/p1.bin\",\"sizeBytes\":7},"
		 "{\"name\":\"b\",\"saveTo\":\"models/p2.bin\",\"fileSize\":\"6B\"},"
		 "{\"name\":\"c\",\"saveTo\":\"models/p3.bin\",\"fileSize\":\"1KB\"},"
		 "{\"name\":\"d\",\"saveTo\":\"models/p4.bin\",\"fileSize\":\"0.01KB\"}", 0, &m, &st);
	if (rc != -100) {
		is_str(status(m, 0), "mismatch", "7 bytes exact, 6 on disk: mismatch");
		is_str(status(m, 1), "unverified", "\"6B\" is exact and right");
		is_str(status(m, 2), "mismatch", "6 bytes are not about 1KB");
		is_str(status(m, 3), "unverified", "6 bytes are about 0.01KB");
	}
	mm_manifest_free(m);

	/* With a hash the hash decides, whatever the size says. */
	snprintf(models, sizeof(models),
		 "{\"name\":\"h\",\"saveTo\":\"models/ok.bin\",\"sizeBytes\":999,\"hash\":\"sha256:%s\"}", HELLO_SHA256);
	rc = run(models, 0, &m, &st);
	is_int(rc, 0, "a right hash and a wrong size: 0");
	if (rc != -100)
		is_str(status(m, 0), "ok", "ok");
	mm_manifest_free(m);
	nftw(root, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	return done_testing();
}
