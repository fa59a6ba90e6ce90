/* t_digests.c — the record of each saveTo's sha256: kept, merged, and never trusted when garbled. */
#include "tap.h"
#include "digests.h"
#include "manifest.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/t_digests.XXXXXX";
static char state[256], file[300];

static const char A[] = "29edf61ea0f7b08c181275bb5cb5f9ac71da85627c54951b8ad3ef72f113c468";
static const char B[] = "e1eacf7876628268d772a7d5bd8dcf8e28b5a53eb90ce0febdcb5fbcdb4a2a1c";

static struct mm_digests *dopen(void)
{
	struct mm_state st;
	struct mm_digests *d;

	if (mm_state_open(&st, state, 1, NULL) != 0)
		return NULL;
	d = mm_digests_open(&st, NULL);
	mm_state_close(&st);
	return d;
}

static void put(const char *text, size_t n)
{
	int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || write(fd, text, n) != (ssize_t)n)
		printf("# cannot write %s\n", file);
	close(fd);
}

/* The number of records read from the file as it now is. */
static size_t load_count(void)
{
	struct mm_digests *d = dopen();
	size_t n = mm_digests_count(d);

	mm_digests_free(d);
	return n;
}

static void test_roundtrip(void)
{
	struct mm_digests *d = dopen(), *e;
	char sha[MM_HASH_HEXMAX + 1];
	enum mm_hash_source src;
	long long size;

	ok(d != NULL, "an empty state directory is an empty record");
	is_int(mm_digests_count(d), 0, "with no records");
	mm_digests_set(d, "models/loras/a b.safetensors", A, MM_SRC_HUGGINGFACE, 3000000);
	mm_digests_set(d, "models/other/plain.bin", B, MM_SRC_COMPUTED, 15);
	mm_digests_set(d, "models/x.bin", A, MM_SRC_MANIFEST, 1);        /* not a source it keeps */
	mm_digests_set(d, "../out.bin", A, MM_SRC_COMPUTED, 1);           /* not a saveTo */
	mm_digests_set(d, "models/y.bin", "ABCDEF", MM_SRC_COMPUTED, 1);  /* not a sha256 */
	is_int(mm_digests_save(d, NULL), 0, "saved");
	mm_digests_free(d);
	d = dopen();
	is_int(mm_digests_count(d), 2, "two records read back (a manifest source, a bad sha are not kept)");
	ok(mm_digests_find(d, "models/loras/a b.safetensors", sha, &src, &size) && strcmp(sha, A) == 0 &&
	   src == MM_SRC_HUGGINGFACE && size == 3000000, "a saveTo with a space: sha256, source and size");
	ok(mm_digests_find(d, "models/other/plain.bin", sha, &src, &size) && strcmp(sha, B) == 0 &&
	   src == MM_SRC_COMPUTED && size == 15, "the computed one");
	ok(!mm_digests_find(d, "models/x.bin", sha, NULL, NULL), "none for a saveTo never recorded");
	ok(!mm_digests_find(d, "../out.bin", sha, NULL, NULL), "none for an unsafe path");

	/* Two runs at once: each merges into what the other saved. */
	e = dopen();
	mm_digests_set(d, "models/c.bin", A, MM_SRC_CIVITAI, 7);
	mm_digests_set(e, "models/d.bin", B, MM_SRC_COMPUTED, 8);
	mm_digests_set(e, "models/other/plain.bin", NULL, MM_SRC_NONE, 0);
	mm_digests_save(d, NULL);
	mm_digests_save(e, NULL);
	mm_digests_free(d);
	mm_digests_free(e);
	d = dopen();
	ok(mm_digests_find(d, "models/c.bin", sha, &src, NULL) && src == MM_SRC_CIVITAI,
	   "the first run's record survives the second run's save");
	ok(mm_digests_find(d, "models/d.bin", sha, NULL, NULL), "and the second's is there");
	ok(!mm_digests_find(d, "models/other/plain.bin", sha, NULL, NULL), "a dropped record is gone");
	ok(mm_digests_find(d, "models/loras/a b.safetensors", sha, NULL, NULL), "the untouched one stays");
	/* The last change of one saveTo wins. */
	mm_digests_set(d, "models/c.bin", B, MM_SRC_COMPUTED, 9);
	mm_digests_set(d, "models/c.bin", A, MM_SRC_HUGGINGFACE, 10);
	mm_digests_save(d, NULL);
	mm_digests_free(d);
	d = dopen();
	ok(mm_digests_find(d, "models/c.bin", sha, &src, &size) && strcmp(sha, A) == 0 &&
	   src == MM_SRC_HUGGINGFACE && size == 10, "the last change of a saveTo wins");
	mm_digests_free(d);
	mm_digests_free(NULL);
	ok(!mm_digests_find(NULL, "models/c.bin", sha, NULL, NULL), "a NULL record is empty");
}

/* The expected digest: the manifest's wins, then the fetch object, then the record if its size fits. */
static void test_expected(void)
{
	struct mm_digests *d;
	struct mm_manifest *m = NULL;
	struct mm_hash_spec spec;
	struct mm_err err;
	const char *json =
		"{\"models\": ["
		"{\"name\": \"a\", \"saveTo\": \"models/c.bin\", \"downloadUrl\": \"http://x/a\"},"
		"{\"name\": \"b\", \"saveTo\": \"models/c.bin2\", \"downloadUrl\": \"http://x/b\"},"
		"{\"name\": \"c\", \"saveTo\": \"models/d.bin\", \"downloadUrl\": \"http://x/c\","
		" \"hash\": \"00112233445566778899aabbccddeeff\"},"
		"{\"name\": \"d\", \"saveTo\": \"models/loras/a b.safetensors\", \"downloadUrl\": \"http://x/d\","
		" \"sizeBytes\": 2999999},"
		"{\"name\": \"e\", \"saveTo\": \"models/loras/a b.safetensors2\", \"downloadUrl\": \"http://x/e\","
		" \"fetch\": {\"status\": \"downloaded\", \"sha256\": \"" "e1eacf7876628268d772a7d5bd8dcf8e28b5a53eb90ce0febdcb5fbcdb4a2a1c"
		"\", \"hashSource\": \"civitai\"}}"
		"]}";

	put("mm-digests 1\n", 13);
	d = dopen();
	mm_digests_set(d, "models/c.bin", A, MM_SRC_HUGGINGFACE, 10);
	mm_digests_set(d, "models/d.bin", B, MM_SRC_COMPUTED, 8);
	mm_digests_set(d, "models/loras/a b.safetensors", A, MM_SRC_COMPUTED, 3000000);
	mm_digests_set(d, "models/loras/a b.safetensors2", A, MM_SRC_COMPUTED, 3000000);
	mm_digests_save(d, NULL);
	mm_digests_free(d);
	d = dopen();
	if (mm_manifest_parse(json, strlen(json), "test", 0, &m, &err) != 0 || !m || m->n != 5) {
		ok(0, "the test manifest parses: %s", err.msg);
		mm_digests_free(d);
		return;
	}
	for (size_t i = 0; i < m->n; i++) {
		const struct mm_model *x = &m->models[i];
		enum mm_hash_source s = mm_digests_expected(d, x, &spec);

		if (strcmp(x->name, "a") == 0)
			ok(s == MM_SRC_HUGGINGFACE && spec.algo == MM_HASH_SHA256 && strcmp(spec.hex, A) == 0,
			   "no hash, no fetch object: the record's sha256 and source");
		else if (strcmp(x->name, "b") == 0)
			ok(s == MM_SRC_NONE && spec.algo == MM_HASH_NONE, "no record: none");
		else if (strcmp(x->name, "c") == 0)
			ok(s == MM_SRC_MANIFEST && spec.algo == MM_HASH_MD5, "the manifest's md5 wins over the record");
		else if (strcmp(x->name, "d") == 0)
			ok(s == MM_SRC_NONE && spec.algo == MM_HASH_NONE,
			   "a record whose size is not the manifest's is ignored");
		else
			ok(s == MM_SRC_CIVITAI && strcmp(spec.hex, B) == 0, "the fetch object's sha256 wins over the record");
	}
	mm_manifest_free(m);
	mm_digests_free(d);
}

static unsigned seed = 12345;

static unsigned rnd(void)
{
	seed = seed * 1103515245 + 12345;
	return (seed >> 8) & 0xffffff;
}

/* Every record read from a mangled file is well formed; nothing crashes. */
static void test_mangled(void)
{
	char good[4096], buf[8192], sha[MM_HASH_HEXMAX + 1];
	int n = snprintf(good, sizeof(good), "mm-digests 1\n%s huggingface 3000000 models/a.bin\n"
			 "%s computed 15 models/other/b c.bin\n%s civitai 7 models/loras/c.safetensors\n", A, B, A);
	const char *names[] = { "models/a.bin", "models/other/b c.bin", "models/loras/c.safetensors" };
	int bad = 0, found = 0;

	for (int round = 0; round < 2000; round++) {
		int len = n, k = 1 + (int)(rnd() % 4);
		struct mm_digests *d;

		memcpy(buf, good, (size_t)n);
		while (k-- && len > 0) {
			int at = (int)(rnd() % (unsigned)len);

			switch (rnd() % 4) {
			case 0: buf[at] = (char)rnd(); break;                        /* a byte changed */
			case 1: len = at; break;                                     /* cut short */
			case 2: if (len < (int)sizeof(buf) - 1) {                    /* a byte inserted */
					memmove(buf + at + 1, buf + at, (size_t)(len - at));
					buf[at] = "\n 0a\0/."[rnd() % 7];
					len++;
				}
				break;
			default: memmove(buf + at, buf + at + 1, (size_t)(len - at - 1)); len--; break;
			}
		}
		put(buf, (size_t)len);
		d = dopen();
		for (size_t i = 0; i < 3; i++) {
			enum mm_hash_source src = MM_SRC_NONE;
			long long size = -1;

			if (!mm_digests_find(d, names[i], sha, &src, &size))
				continue;
			found++;
			if (strlen(sha) != 64 || strspn(sha, "0123456789abcdef") != 64 ||
			    (src != MM_SRC_HUGGINGFACE && src != MM_SRC_CIVITAI && src != MM_SRC_COMPUTED) || size < 0)
				bad++;
		}
		mm_digests_free(d);
	}
	is_int(bad, 0, "2,000 mangled record files: every record read is well formed (%d read)", found);
}

static void test_hostile(void)
{
	char big[400];
	int fd;

	/* Not the file mm wrote: another user's, a FIFO, a folder, too big, no header. */
	put("mm-digests 1\n", 13);
	{
		struct mm_digests *d = dopen();

		mm_digests_set(d, "models/a.bin", A, MM_SRC_COMPUTED, 1);
		mm_digests_save(d, NULL);
		mm_digests_free(d);
	}
	is_int(load_count(), 1, "a good record file is read");
	if (geteuid() == 0) {
		if (chown(file, 12345, 12345) != 0)
			printf("# cannot chown %s\n", file);
		is_int(load_count(), 0, "one owned by another user is not read");
		if (chown(file, 0, 0) != 0)
			printf("# cannot chown %s back\n", file);
	} else {
		ok(1, "# SKIP not root: cannot give the file away");
	}
	snprintf(big, sizeof(big), "%s", file);
	fd = open(big, O_WRONLY);
	if (fd < 0 || ftruncate(fd, MM_DIGESTS_MAX + 1) != 0)
		printf("# cannot grow %s\n", big);
	close(fd);
	is_int(load_count(), 0, "one bigger than MM_DIGESTS_MAX is not read");
	put("mm-digests 2\nxxx\n", 17);
	is_int(load_count(), 0, "one with another header is not read");
	unlink(file);
	if (mkfifo(file, 0600) != 0)
		printf("# cannot make a FIFO\n");
	is_int(load_count(), 0, "a FIFO is not read, and does not hang");
	unlink(file);
	if (mkdir(file, 0700) != 0)
		printf("# cannot make a folder\n");
	is_int(load_count(), 0, "a folder is not read");
	rmdir(file);
	if (symlink("digests.elsewhere", file) != 0)
		printf("# cannot make a symlink\n");
	{
		struct mm_state st;
		struct mm_err err = { 0 };

		is_int(mm_state_open(&st, state, 0, &err), MM_EUSAGE, "a symlink refuses the state directory");
		ok(strstr(err.msg, "digests' is a symlink") != NULL, "saying so: %s", err.msg);
		mm_state_close(&st);
	}
	unlink(file);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	snprintf(state, sizeof(state), "%s/state", dir);
	snprintf(file, sizeof(file), "%s/%s", state, MM_DIGESTS_FILE);
	test_roundtrip();
	test_expected();
	test_mangled();
	test_hostile();
	{
		char cmd[400];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			printf("# cannot remove %s\n", dir);
	}
	return done_testing();
}
