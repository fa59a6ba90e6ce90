/*
 * mm_verify (verify.h) on real files: each status a user can meet, the
 * statistics and the exit rule, the size rule for models without a hash
 * (size.h, the one mm-fetch uses), and the events it reports instead of
 * printing: one per model, on the calling thread, and nothing on stderr.
 */
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
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

/* What on_event saw, one line per event. */
struct seen {
	char lines[32][300];
	int n, other_thread;
	pthread_t self;
};

static void record(const struct mm_verify_event *ev, void *arg)
{
	static const char *const kind[] = {
		[MM_VERIFY_EV_MODEL] = "model", [MM_VERIFY_EV_PROGRESS] = "progress",
		[MM_VERIFY_EV_NOT_CACHED] = "not-cached", [MM_VERIFY_EV_QUARANTINED] = "quarantined",
		[MM_VERIFY_EV_WARNING] = "warning",
	};
	struct seen *s = arg;

	if (!pthread_equal(pthread_self(), s->self))
		s->other_thread++;
	if (s->n < 32)
		snprintf(s->lines[s->n++], sizeof(s->lines[0]), "%s %zu %s %s%s%s %s", kind[ev->kind],
			ev->index, ev->save_to ? ev->save_to : "-",
			ev->kind == MM_VERIFY_EV_MODEL ? mm_verify_status_name(ev->status) : "",
			ev->cached ? " cached" : "", ev->state_dir ? " state" : "",
			ev->text ? ev->text : "-");
}

/* The line of s that starts with prefix, or "". */
static const char *line(const struct seen *s, const char *prefix)
{
	for (int i = 0; i < s->n; i++)
		if (strncmp(s->lines[i], prefix, strlen(prefix)) == 0)
			return s->lines[i];
	return "";
}

/*
 * Verify models with events into *seen, a state directory (cache and
 * quarantine) and allow_dir, while stderr goes to a file: returns how many
 * bytes the library wrote there.
 */
static long run_events(const char *models, const char *allow_dir, struct seen *seen,
	struct mm_manifest **out)
{
	struct mm_verify_opts o;
	struct mm_verify_stats st;
	struct mm_err err = {0};
	char text[4096], state[128], errpath[128];
	const char *allow[1] = { allow_dir };
	struct stat sb;
	int fd, saved;

	snprintf(text, sizeof(text), "{\"models\":[%s]}", models);
	snprintf(state, sizeof(state), "%s/.mm", root);
	snprintf(errpath, sizeof(errpath), "%s/stderr", root);
	*out = NULL;
	if (mm_manifest_parse(text, strlen(text), "test", 0, out, &err) != 0)
		return -1;
	memset(&o, 0, sizeof(o));
	memset(seen, 0, sizeof(*seen));
	seen->self = pthread_self();
	o.root = root;
	o.state_dir = state;
	o.jobs = 3;
	o.quarantine = 1;
	o.allow_dirs = allow;
	o.nallow = allow_dir != NULL;
	o.on_event = record;
	o.event_arg = seen;
	fflush(stderr);
	saved = dup(2);
	fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 2);
	close(fd);
	mm_verify(*out, &o, &st, &err);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	return stat(errpath, &sb) == 0 ? (long)sb.st_size : -1;
}

static void test_events(void)
{
	struct mm_manifest *m;
	struct seen seen;
	char models[2048], want[300];

	put("models/ev-ok.bin", "hello\n");
	put("models/ev-bad.bin", "hellO\n");
	snprintf(models, sizeof(models),
		 "{\"name\":\"ok\",\"saveTo\":\"models/ev-ok.bin\",\"hash\":\"sha256:%s\"},"
		 "{\"name\":\"bad\",\"saveTo\":\"models/ev-bad.bin\",\"hash\":\"sha256:%s\"},"
		 "{\"name\":\"gone\",\"saveTo\":\"models/ev-gone.bin\",\"hash\":\"sha256:%s\"},"
		 "{\"name\":\"nohash\",\"saveTo\":\"models/plain.bin\"}",
		 HELLO_SHA256, HELLO_SHA256, HELLO_SHA256);
	is_int(run_events(models, "/nonexistent-allowed", &seen, &m), 0,
		"the library writes nothing to stderr, warnings and failures included");
	is_int(seen.other_thread, 0, "every event comes on the calling thread");
	is_str(line(&seen, "warning 0 -"),
		"warning 0 -  allowed directory '/nonexistent-allowed': No such file or directory",
		"an allowed directory that is not there: a warning for the run");
	is_str(line(&seen, "model 0"), "model 0 models/ev-ok.bin ok -", "model 0: ok");
	is_str(line(&seen, "model 1"),
		"model 1 models/ev-bad.bin mismatch sha256 is "
		"0655937a5582c55b9ac610ed7ce474ed9be0a0fbefe9afcba31b36040be5530b, expected " HELLO_SHA256,
		"model 1: mismatch, with why");
	is_str(line(&seen, "quarantined 1"),
		"quarantined 1 models/ev-bad.bin  state quarantine/models/ev-bad.bin",
		"model 1 went to the quarantine beneath the state directory");
	is_str(line(&seen, "model 2"), "model 2 models/ev-gone.bin missing no file at models/ev-gone.bin",
		"model 2: missing");
	is_str(line(&seen, "model 3"), "model 3 models/plain.bin unverified -", "model 3: unverified");
	is_int(seen.n, 6, "one event per model, one quarantine, one warning: nothing more");
	mm_manifest_free(m);

	/* The second time the digest comes from the cache. */
	run_events(models, NULL, &seen, &m);
	snprintf(want, sizeof(want), "model 0 models/ev-ok.bin ok cached -");
	is_str(line(&seen, "model 0"), want, "the second run: ok from the cache");
	mm_manifest_free(m);

	/* A scan with --hash reports each file it hashed the same way. */
	{
		struct mm_verify_opts o;
		struct mm_verify_stats st;
		struct mm_err err = {0};
		char dir[128];

		snprintf(dir, sizeof(dir), "%s/models/evscan", root);
		mkdir(dir, 0755);
		put("models/evscan/a.safetensors", "hello\n");
		memset(&o, 0, sizeof(o));
		memset(&seen, 0, sizeof(seen));
		seen.self = pthread_self();
		o.root = root;
		o.jobs = 2;
		o.no_cache = 1;
		o.on_event = record;
		o.event_arg = &seen;
		m = NULL;
		is_int(mm_verify_scan(dir, MM_HASH_SHA256, &o, &m, &st, &err), 0, "the scan: 0");
		is_str(line(&seen, "model 0"), "model 0 models/evscan/a.safetensors ok -",
			"a scanned file: one ok event");
		is_int(seen.n, 1, "and nothing more");
		mm_manifest_free(m);
	}
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
	test_events();
	nftw(root, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	return done_testing();
}
