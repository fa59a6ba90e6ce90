/* t_hash.c — algorithm detection, known digests, streaming and file hashing. */
#include "tap.h"
#include "hash.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static const struct {
	enum mm_hash_algo algo;
	const char *input;
	const char *want;
} vectors[] = {
	{ MM_HASH_MD5, "", "d41d8cd98f00b204e9800998ecf8427e" },
	{ MM_HASH_MD5, "abc", "900150983cd24fb0d6963f7d28e17f72" },
	{ MM_HASH_SHA1, "", "da39a3ee5e6b4b0d3255bfef95601890afd80709" },
	{ MM_HASH_SHA1, "abc", "a9993e364706816aba3e25717850c26c9cd0d89d" },
	{ MM_HASH_SHA256, "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
	{ MM_HASH_SHA256, "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
	{ MM_HASH_AUTOV2, "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
};

/* Digests of one million 'a' characters (FIPS 180 and RFC 1321 test data). */
static const char *million_a[] = {
	[MM_HASH_MD5] = "7707d6ae4e027c70eea2a935c2296f21",
	[MM_HASH_SHA1] = "34aa973cd4c4daa4f61eeb2bdbad27316534016f",
	[MM_HASH_SHA256] = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
	[MM_HASH_AUTOV2] = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
};

static void test_parse(void)
{
	struct mm_hash_spec s;
	struct mm_err err = { 0 };

	ok(mm_hash_parse("7FAC5935AD7B22C0E9147B26AE3F890B", &s, &err) == 0 &&
		s.algo == MM_HASH_MD5, "32 hex digits are md5");
	is_str(s.hex, "7fac5935ad7b22c0e9147b26ae3f890b", "hex is lowercased");
	ok(mm_hash_parse("a9993e364706816aba3e25717850c26c9cd0d89d", &s, &err) == 0 &&
		s.algo == MM_HASH_SHA1, "40 hex digits are sha1");
	ok(mm_hash_parse("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		&s, &err) == 0 && s.algo == MM_HASH_SHA256, "64 hex digits are sha256");
	ok(mm_hash_parse("BA7816BF8F", &s, &err) == 0 && s.algo == MM_HASH_AUTOV2,
		"10 hex digits are civitai AutoV2");
	is_str(s.hex, "ba7816bf8f", "AutoV2 lowercased");
	ok(mm_hash_parse("SHA256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		&s, &err) == 0 && s.algo == MM_HASH_SHA256, "SHA256: prefix, any case");
	ok(mm_hash_parse("md5:900150983cd24fb0d6963f7d28e17f72", &s, &err) == 0 &&
		s.algo == MM_HASH_MD5, "md5: prefix");
	ok(mm_hash_parse("sha1:a9993e364706816aba3e25717850c26c9cd0d89d", &s, &err) == 0 &&
		s.algo == MM_HASH_SHA1, "sha1: prefix");
	is_int(mm_hash_parse("sha256:900150983cd24fb0d6963f7d28e17f72", &s, &err), MM_EINPUT,
		"a prefix with the wrong length is refused");
	is_int(mm_hash_parse("blake3:900150983cd24fb0d6963f7d28e17f72", &s, &err), MM_EINPUT,
		"an unknown prefix is refused");
	ok(strstr(err.msg, "blake3") != NULL, "the message names the prefix: %s", err.msg);
	is_int(mm_hash_parse("900150983cd24fb0d6963f7d28e17f7g", &s, &err), MM_EINPUT,
		"a non-hex character is refused");
	is_int(mm_hash_parse("12345678901", &s, &err), MM_EINPUT, "11 digits name no algorithm");
	is_int(mm_hash_parse("", &s, &err), MM_EINPUT, "empty is refused");
	is_int(mm_hash_parse(" 900150983cd24fb0d6963f7d28e17f72", &s, &err), MM_EINPUT,
		"whitespace is refused");
	is_int(mm_hash_algo_from_name("SHA256"), MM_HASH_SHA256, "name lookup is case-insensitive");
	is_str(mm_hash_algo_name(MM_HASH_AUTOV2), "autov2", "AutoV2 name");
}

static void test_vectors(void)
{
	char hex[MM_HASH_HEXMAX + 1];

	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		int rc = mm_hash_buf(vectors[i].algo, vectors[i].input, strlen(vectors[i].input),
			hex, NULL);

		ok(rc == 0, "%s(\"%s\") computes", mm_hash_algo_name(vectors[i].algo),
			vectors[i].input);
		is_str(hex, vectors[i].want, "%s(\"%s\")", mm_hash_algo_name(vectors[i].algo),
			vectors[i].input);
	}
}

static void test_matches(void)
{
	struct mm_hash_spec s;
	const char *abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

	mm_hash_parse("BA7816BF8F", &s, NULL);
	ok(mm_hash_matches(&s, abc), "AutoV2 matches the sha256 prefix");
	mm_hash_parse("ba7816bf8e", &s, NULL);
	ok(!mm_hash_matches(&s, abc), "AutoV2 with one digit off does not match");
	mm_hash_parse(abc, &s, NULL);
	ok(mm_hash_matches(&s, abc), "sha256 matches itself");
	ok(!mm_hash_matches(&s, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
		"sha256 does not match another digest");
	ok(!mm_hash_matches(&s, "ba7816bf8f"), "a truncated digest does not match sha256");
}

static void test_streaming(void)
{
	char hex[MM_HASH_HEXMAX + 1];
	struct mm_hasher *h = mm_hasher_new(MM_HASH_SHA256, NULL);
	char chunk[1000];
	int rc = 0;

	ok(h != NULL, "hasher created");
	memset(chunk, 'a', sizeof(chunk));
	for (int i = 0; i < 1000; i++)
		rc |= mm_hasher_update(h, chunk, sizeof(chunk), NULL);
	rc |= mm_hasher_final(h, hex, NULL);
	ok(rc == 0, "1000 updates of 1000 bytes");
	is_int(mm_hasher_bytes(h), 1000000, "bytes counted");
	is_str(hex, million_a[MM_HASH_SHA256], "streamed sha256 of a million 'a'");
	ok(mm_hasher_reset(h, NULL) == 0 && mm_hasher_final(h, hex, NULL) == 0,
		"reset then final");
	is_str(hex, vectors[4].want, "a reset hasher starts over (empty sha256)");
	mm_hasher_free(h);
	ok(mm_hasher_new(MM_HASH_NONE, NULL) == NULL, "no hasher for no algorithm");
}

static void test_file(void)
{
	char path[] = "/tmp/t_hash.XXXXXX";
	char *data = malloc(1000000);
	char hex[MM_HASH_HEXMAX + 1];
	struct mm_err err = { 0 };
	uint64_t bytes = 0;
	int fd = mkstemp(path);
	static const size_t sizes[] = { 0, 7, 4096, MM_HASH_BUFSZ };

	memset(data, 'a', 1000000);
	ok(fd >= 0 && write(fd, data, 1000000) == 1000000, "wrote a million 'a' to a file");
	for (enum mm_hash_algo a = MM_HASH_MD5; a <= MM_HASH_AUTOV2; a++) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			char *buf = sizes[i] ? malloc(sizes[i]) : NULL;

			lseek(fd, 0, SEEK_SET);
			bytes = 0;
			ok(mm_hash_fd(fd, a, buf, sizes[i], hex, &bytes, &err) == 0 &&
				bytes == 1000000 && strcmp(hex, million_a[a]) == 0,
				"file %s with a %zu-byte buffer", mm_hash_algo_name(a), sizes[i]);
			free(buf);
		}
	}
	close(fd);
	fd = open(path, O_WRONLY);
	is_int(mm_hash_fd(fd, MM_HASH_SHA256, NULL, 0, hex, &bytes, &err), MM_EFAIL,
		"a read error is an error");
	ok(strstr(err.msg, "read error") != NULL, "and says so: %s", err.msg);
	close(fd);
	unlink(path);
	free(data);
}

/* What the progress callback does to the file after the first window. */
struct change {
	const char *path;
	off_t truncate_to;   /* >= 0: shrink the file to this size */
	const void *append;  /* append n bytes */
	size_t n;
	int calls;
};

static int change_file(void *arg, size_t n)
{
	struct change *c = arg;
	int fd;

	(void)n;
	if (c->calls++ != 0)
		return 0;
	if (c->truncate_to >= 0 && truncate(c->path, c->truncate_to) != 0)
		return 1;
	if (c->append) {
		fd = open(c->path, O_WRONLY | O_APPEND);
		if (fd < 0 || write(fd, c->append, c->n) != (ssize_t)c->n)
			return 1;
		close(fd);
	}
	return 0;
}

static int write_file(const char *path, const void *data, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int rc = fd >= 0 && write(fd, data, n) == (ssize_t)n ? 0 : -1;

	if (fd >= 0)
		close(fd);
	return rc;
}

static void test_mapped(void)
{
	char path[] = "/tmp/t_hash_map.XXXXXX";
	const size_t n = 2 * MM_HASH_MAPSZ + 12345, more = 1 << 20;
	unsigned char *data = malloc(n + more);
	char hex[MM_HASH_HEXMAX + 1], want[MM_HASH_HEXMAX + 1];
	struct mm_err err = { 0 };
	struct change c;
	uint64_t bytes = 0;
	int fd = mkstemp(path), pfd[2], status = 0;
	pid_t pid;

	for (size_t i = 0; i < n + more; i++)
		data[i] = (unsigned char)(i * 2654435761u >> 13);
	close(fd);
	ok(write_file(path, data, n) == 0, "wrote %zu bytes: windows and a ragged tail", n);

	{
		/* No process-wide handler until the caller asks: the file is read instead. */
		struct sigaction cur, before;

		/* A sanitizer runtime may have a handler of its own: it must stay. */
		sigaction(SIGBUS, NULL, &before);
		mm_hash_buf(MM_HASH_SHA256, data, n, want, NULL);
		fd = open(path, O_RDONLY);
		ok(mm_hash_fd_mapped(fd, MM_HASH_SHA256, NULL, 0, hex, &bytes, NULL, NULL, &err) == 0 &&
			bytes == n && strcmp(hex, want) == 0, "before mm_hash_catch_sigbus, the digest is right");
		close(fd);
		ok(sigaction(SIGBUS, NULL, &cur) == 0 && cur.sa_flags == before.sa_flags &&
			cur.sa_handler == before.sa_handler,
			"and SIGBUS keeps its disposition: the library installed nothing");
		ok(mm_hash_catch_sigbus() == 0, "the caller asks for the handler");
		ok(sigaction(SIGBUS, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
			cur.sa_sigaction != before.sa_sigaction, "which is then installed");
	}

	for (enum mm_hash_algo a = MM_HASH_MD5; a <= MM_HASH_SHA256; a++) {
		mm_hash_buf(a, data, n, want, NULL);
		fd = open(path, O_RDONLY);
		ok(mm_hash_fd_mapped(fd, a, NULL, 0, hex, &bytes, NULL, NULL, &err) == 0 &&
			bytes == n && strcmp(hex, want) == 0, "mapped %s of the file", mm_hash_algo_name(a));
		close(fd);
	}

	/* The file grows after the first window: the digest covers it to EOF. */
	mm_hash_buf(MM_HASH_SHA256, data, n + more, want, NULL);
	c = (struct change){ .path = path, .truncate_to = -1, .append = data + n, .n = more };
	fd = open(path, O_RDONLY);
	ok(mm_hash_fd_mapped(fd, MM_HASH_SHA256, NULL, 0, hex, &bytes, change_file, &c, &err) == 0 &&
		bytes == n + more && strcmp(hex, want) == 0,
		"a file that grows while it is hashed is hashed to its new end");
	close(fd);

	/* It shrinks under the windows still to come: an error, not a crash. */
	c = (struct change){ .path = path, .truncate_to = MM_HASH_MAPSZ + 100 };
	fd = open(path, O_RDONLY);
	is_int(mm_hash_fd_mapped(fd, MM_HASH_SHA256, NULL, 0, hex, &bytes, change_file, &c, &err),
		MM_EFAIL, "a file that shrinks while it is hashed is a read error");
	ok(strstr(err.msg, "shrank") != NULL, "which says so: %s", err.msg);
	close(fd);
	c = (struct change){ .path = path, .truncate_to = 0 };
	fd = open(path, O_RDONLY);
	is_int(mm_hash_fd_mapped(fd, MM_HASH_SHA256, NULL, 0, hex, &bytes, change_file, &c, &err),
		MM_EFAIL, "and so is one emptied while it is hashed");
	close(fd);

	fd = open(path, O_RDONLY);
	ok(mm_hash_fd_mapped(fd, MM_HASH_SHA256, NULL, 0, hex, &bytes, NULL, NULL, &err) == 0 &&
		bytes == 0 && strcmp(hex, vectors[4].want) == 0, "an empty file");
	close(fd);

	ok(pipe(pfd) == 0 && write(pfd[1], "abc", 3) == 3, "a pipe holding abc");
	close(pfd[1]);
	ok(mm_hash_fd_mapped(pfd[0], MM_HASH_SHA256, NULL, 0, hex, &bytes, NULL, NULL, &err) == 0 &&
		strcmp(hex, vectors[5].want) == 0, "what is not a regular file is read");
	close(pfd[0]);

	/* A SIGBUS outside a window still kills, as it would without the handler. */
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		volatile const char *m;

		signal(SIGBUS, SIG_DFL);
		fd = open(path, O_RDONLY);
		mm_hash_fd_mapped(fd, MM_HASH_SHA256, NULL, 0, hex, NULL, NULL, NULL, NULL);
		m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
		if (m != MAP_FAILED)
			(void)m[0];
		_exit(0);
	}
	ok(pid > 0 && waitpid(pid, &status, 0) == pid && WIFSIGNALED(status) &&
		WTERMSIG(status) == SIGBUS, "a SIGBUS that is not from a window still kills");
	unlink(path);
	free(data);
}

int main(void)
{
	test_parse();
	test_vectors();
	test_matches();
	test_streaming();
	test_file();
	test_mapped();
	return done_testing();
}
