/* t_vcache.c — the verified cache hits only while a file's identity holds. */
#include "tap.h"
#include "vcache.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/xattr.h>
#include <unistd.h>

static char dir[] = "/tmp/t_vcache.XXXXXX";
static char state[256];

static void write_file(const char *path, char fill, size_t n)
{
	char *buf = malloc(n);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	memset(buf, fill, n);
	if (fd < 0 || write(fd, buf, n) != (ssize_t)n)
		printf("# cannot write %s\n", path);
	close(fd);
	free(buf);
}

/* Open the cache of the state directory at path, as mm-verify does. */
static struct mm_vcache *vopen(const char *path, int flags)
{
	struct mm_state st;
	struct mm_vcache *vc;

	if (mm_state_open(&st, path, 1, NULL) != 0)
		return NULL;
	vc = mm_vcache_open(&st, flags, NULL);
	mm_state_close(&st);
	return vc;
}

/*
 * What mm-verify does for one file: look up, else hash and record.
 * Returns 1 on a cache hit, 0 when the file was hashed.
 */
static int verify(struct mm_vcache *vc, const char *path, char hex[MM_HASH_HEXMAX + 1])
{
	struct stat st;
	int fd = open(path, O_RDONLY), hit;

	fstat(fd, &st);
	hit = mm_vcache_lookup(vc, fd, &st, MM_HASH_SHA256, hex);
	if (!hit) {
		mm_hash_fd(fd, MM_HASH_SHA256, NULL, 0, hex, NULL, NULL);
		if (mm_vcache_record(vc, fd, &st, MM_HASH_SHA256, hex, NULL) != 0)
			printf("# not recorded\n");
	}
	close(fd);
	return hit;
}

/* A new run: load the record file, verify, save. */
static int run(const char *path, int flags, char hex[MM_HASH_HEXMAX + 1])
{
	struct mm_vcache *vc = vopen(state, flags);
	int hit = verify(vc, path, hex);

	mm_vcache_save(vc, NULL);
	mm_vcache_free(vc);
	return hit;
}

static void test_identity(int flags, const char *how)
{
	char f[300], g[300], hex[MM_HASH_HEXMAX + 1], hex2[MM_HASH_HEXMAX + 1];
	struct stat st;
	struct timespec times[2];

	snprintf(f, sizeof(f), "%s/model-%d.safetensors", dir, flags);
	snprintf(g, sizeof(g), "%s/model-%d.new", dir, flags);
	write_file(f, 'a', 100000);
	is_int(run(f, flags, hex), 0, "%s: first run hashes", how);
	is_str(hex, "6d1cf22d7cc09b085dfc25ee1a1f3ae0265804c607bc2074ad253bcc82fd81ee", "%s: the digest is right", how);
	is_int(run(f, flags, hex2), 1, "%s: second run is a cache hit", how);
	is_str(hex2, hex, "%s: the cached digest is the computed one", how);
	is_int(run(f, flags, hex2), 1, "%s: third run still hits", how);

	/* Same size, other bytes, and the old mtime put back: only ctime tells. */
	stat(f, &st);
	write_file(f, 'b', 100000);
	times[0] = st.st_atim;
	times[1] = st.st_mtim;
	utimensat(AT_FDCWD, f, times, 0);
	is_int(run(f, flags, hex2), 0, "%s: same-size rewrite with the old mtime misses", how);
	ok(strcmp(hex, hex2) != 0, "%s: and the new digest is reported", how);
	is_int(run(f, flags, hex2), 1, "%s: which is cached in turn", how);

	utimensat(AT_FDCWD, f, NULL, 0);
	is_int(run(f, flags, hex2), 0, "%s: touch misses", how);
	is_int(run(f, flags, hex2), 1, "%s: hit again after re-hashing", how);

	write_file(g, 'b', 100000);
	rename(g, f);
	is_int(run(f, flags, hex2), 0, "%s: a file renamed over it misses", how);
}

static void test_xattr(void)
{
	char f[300], hex[MM_HASH_HEXMAX + 1], val[256];
	ssize_t n;

	snprintf(f, sizeof(f), "%s/x.gguf", dir);
	write_file(f, 'x', 5000);
	run(f, 0, hex);
	n = getxattr(f, MM_VCACHE_XATTR, val, sizeof(val) - 1);
	if (n < 0) {
		ok(1, "# SKIP filesystem has no user xattrs");
		ok(1, "# SKIP filesystem has no user xattrs");
		ok(1, "# SKIP filesystem has no user xattrs");
		return;
	}
	val[n] = '\0';
	ok(strncmp(val, "mm2 5000 ", 9) == 0 && strstr(val, " sha256:") != NULL &&
		strstr(val, hex) != NULL, "the xattr holds the size, algorithm and digest: %s", val);
	is_int(run(f, 0, hex), 1, "hit with the xattr in place");
	removexattr(f, MM_VCACHE_XATTR);
	is_int(run(f, 0, hex), 0, "removing the xattr forces a re-hash");

	snprintf(f, sizeof(f), "%s/nox.gguf", dir);
	write_file(f, 'x', 5000);
	run(f, MM_VCACHE_NOXATTR, hex);
	ok(getxattr(f, MM_VCACHE_XATTR, val, sizeof(val)) < 0, "NOXATTR leaves no xattr");
}

static void test_changed_while_hashing(void)
{
	char f[300], hex[MM_HASH_HEXMAX + 1];
	struct mm_vcache *vc = vopen(state, 0);
	struct stat st;
	int fd;

	snprintf(f, sizeof(f), "%s/busy.pt", dir);
	write_file(f, 'c', 3000);
	fd = open(f, O_RDWR);
	fstat(fd, &st);
	mm_hash_fd(fd, MM_HASH_SHA256, NULL, 0, hex, NULL, NULL);
	if (pwrite(fd, "d", 1, 10) != 1)
		printf("# pwrite failed\n");
	is_int(mm_vcache_record(vc, fd, &st, MM_HASH_SHA256, hex, NULL), 1,
		"a file written to while it was hashed is not recorded");
	fstat(fd, &st);
	ok(!mm_vcache_lookup(vc, fd, &st, MM_HASH_SHA256, hex), "and is not a hit");
	close(fd);
	mm_vcache_free(vc);
}

/* What a downloader does: hash while writing, rename into place, record. */
static void test_after_rename(void)
{
	char part[300], f[300], hex[MM_HASH_HEXMAX + 1], got[MM_HASH_HEXMAX + 1];
	struct mm_vcache *vc = vopen(state, 0);
	struct stat st;
	int fd;

	snprintf(part, sizeof(part), "%s/.dl.safetensors.mm-part", dir);
	snprintf(f, sizeof(f), "%s/dl.safetensors", dir);
	write_file(part, 'd', 7000);
	fd = open(part, O_RDONLY);
	fstat(fd, &st);
	mm_hash_fd(fd, MM_HASH_SHA256, NULL, 0, hex, NULL, NULL);
	rename(part, f);
	is_int(mm_vcache_record(vc, fd, &st, MM_HASH_SHA256, hex, NULL), 1,
		"an identity taken before a rename is refused (the rename changed the ctime)");
	is_int(mm_vcache_record(vc, fd, NULL, MM_HASH_SHA256, hex, NULL), 0,
		"with no identity given, the current one is recorded");
	fstat(fd, &st);
	ok(mm_vcache_lookup(vc, fd, &st, MM_HASH_SHA256, got) && strcmp(got, hex) == 0,
		"and the renamed file is a hit");
	close(fd);
	mm_vcache_free(vc);
}

static void test_merge_and_algos(void)
{
	char f[300], g[300], hex[MM_HASH_HEXMAX + 1], md5[MM_HASH_HEXMAX + 1];
	char got[MM_HASH_HEXMAX + 1];
	struct mm_vcache *a = vopen(state, 0);
	struct mm_vcache *b = vopen(state, 0);
	struct mm_vcache *c;
	struct stat st;
	int fd;

	snprintf(f, sizeof(f), "%s/merge-a.bin", dir);
	snprintf(g, sizeof(g), "%s/merge-b.bin", dir);
	write_file(f, 'm', 4000);
	write_file(g, 'n', 4000);
	verify(a, f, hex);
	verify(b, g, hex);
	ok(mm_vcache_save(a, NULL) == 0 && mm_vcache_save(b, NULL) == 0, "two caches save");
	c = vopen(state, 0);
	fd = open(f, O_RDONLY);
	fstat(fd, &st);
	ok(mm_vcache_lookup(c, fd, &st, MM_HASH_SHA256, hex),
		"the second save merged the first one's record");
	close(fd);
	fd = open(g, O_RDONLY);
	fstat(fd, &st);
	ok(mm_vcache_lookup(c, fd, &st, MM_HASH_SHA256, hex), "the second one's record is there too");
	ok(mm_vcache_lookup(c, fd, &st, MM_HASH_AUTOV2, hex), "AutoV2 is served from a sha256 record");
	ok(!mm_vcache_lookup(c, fd, &st, MM_HASH_MD5, md5), "an md5 lookup misses a sha256 record");
	mm_hash_fd(fd, MM_HASH_MD5, NULL, 0, md5, NULL, NULL);
	is_int(mm_vcache_record(c, fd, NULL, MM_HASH_MD5, md5, NULL), 0, "an md5 is recorded too");
	fstat(fd, &st);
	ok(mm_vcache_lookup(c, fd, &st, MM_HASH_MD5, got) && strcmp(got, md5) == 0,
		"the md5 is a hit");
	ok(mm_vcache_lookup(c, fd, &st, MM_HASH_SHA256, hex), "and the sha256 is still one");
	close(fd);
	mm_vcache_free(a);
	mm_vcache_free(b);
	mm_vcache_free(c);
}

static void test_bad_file(void)
{
	char path[300];
	FILE *f;
	struct mm_vcache *vc;

	snprintf(path, sizeof(path), "%s/bad", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/bad/%s", dir, MM_VCACHE_FILE);
	f = fopen(path, "w");
	fputs("mm-verified 2\ngarbage\n1 2 3 4 5 0 - - abc\n1 2 3 4 5 0 - - -\n"
		"1 2 3 4 5 0 d41d8cd98f00b204e9800998ecf8427e - -\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/bad", dir);
	vc = vopen(path, 0);
	ok(vc != NULL, "a record file with bad lines still opens");
	is_int(mm_vcache_count(vc), 1, "only the well-formed line is kept");
	mm_vcache_free(vc);
	snprintf(path, sizeof(path), "%s/bad/%s", dir, MM_VCACHE_FILE);
	ok(vopen(path, 0) == NULL, "a state dir that is a file is an error");
}

int main(void)
{
	char cmd[300];

	if (!mkdtemp(dir))
		return 1;
	snprintf(state, sizeof(state), "%s/state/nested", dir);
	test_identity(0, "xattr");
	test_identity(MM_VCACHE_NOXATTR, "record file only");
	test_xattr();
	test_changed_while_hashing();
	test_after_rename();
	test_merge_and_algos();
	test_bad_file();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# cleanup failed\n");
	return done_testing();
}
