/* hash.c — digests through OpenSSL EVP; see hash.h. */
#include "hash.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/evp.h>

struct mm_hasher {
	enum mm_hash_algo algo;
	const EVP_MD *md;
	EVP_MD_CTX *ctx;
	uint64_t bytes;
};

static const struct {
	enum mm_hash_algo algo;
	const char *name;
	size_t hexlen;
} algos[] = {
	{ MM_HASH_MD5, "md5", 32 },
	{ MM_HASH_SHA1, "sha1", 40 },
	{ MM_HASH_SHA256, "sha256", 64 },
	{ MM_HASH_AUTOV2, "autov2", 10 },
};

#define NALGOS (sizeof(algos) / sizeof(algos[0]))

const char *mm_hash_algo_name(enum mm_hash_algo algo)
{
	for (size_t i = 0; i < NALGOS; i++)
		if (algos[i].algo == algo)
			return algos[i].name;
	return "none";
}

enum mm_hash_algo mm_hash_algo_from_name(const char *name)
{
	for (size_t i = 0; name && i < NALGOS; i++)
		if (strcasecmp(algos[i].name, name) == 0)
			return algos[i].algo;
	return MM_HASH_NONE;
}

size_t mm_hash_hexlen(enum mm_hash_algo algo)
{
	for (size_t i = 0; i < NALGOS; i++)
		if (algos[i].algo == algo)
			return algos[i].hexlen;
	return 0;
}

enum mm_hash_algo mm_hash_algo_computed(enum mm_hash_algo algo)
{
	return algo == MM_HASH_AUTOV2 ? MM_HASH_SHA256 : algo;
}

int mm_hash_parse(const char *s, struct mm_hash_spec *spec, struct mm_err *err)
{
	const char *hex = s;
	enum mm_hash_algo algo = MM_HASH_NONE;
	const char *colon;
	size_t n;

	memset(spec, 0, sizeof(*spec));
	if (!s || !*s)
		return mm_error(err, MM_EINPUT, "empty hash");
	colon = strchr(s, ':');
	if (colon) {
		size_t plen = (size_t)(colon - s);

		for (size_t i = 0; i < NALGOS; i++)
			if (algos[i].algo != MM_HASH_AUTOV2 &&
			    strlen(algos[i].name) == plen &&
			    strncasecmp(algos[i].name, s, plen) == 0)
				algo = algos[i].algo;
		if (algo == MM_HASH_NONE)
			return mm_error(err, MM_EINPUT,
				"unknown hash algorithm '%.*s' (expected md5, sha1 or sha256)",
				(int)(plen > 32 ? 32 : plen), s);
		hex = colon + 1;
	}
	n = strlen(hex);
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)hex[i]))
			return mm_error(err, MM_EINPUT,
				"hash is not hexadecimal: bad character at offset %zu",
				(size_t)(hex - s) + i);
	if (algo == MM_HASH_NONE) {
		switch (n) {
		case 32: algo = MM_HASH_MD5; break;
		case 40: algo = MM_HASH_SHA1; break;
		case 64: algo = MM_HASH_SHA256; break;
		case 10: algo = MM_HASH_AUTOV2; break;
		default:
			return mm_error(err, MM_EINPUT,
				"hash of %zu hex digits names no algorithm "
				"(32 md5, 40 sha1, 64 sha256, 10 AutoV2)", n);
		}
	} else if (n != mm_hash_hexlen(algo)) {
		return mm_error(err, MM_EINPUT, "%s hash must have %zu hex digits, not %zu",
			mm_hash_algo_name(algo), mm_hash_hexlen(algo), n);
	}
	spec->algo = algo;
	for (size_t i = 0; i < n; i++)
		spec->hex[i] = (char)tolower((unsigned char)hex[i]);
	spec->hex[n] = '\0';
	return 0;
}

int mm_hash_matches(const struct mm_hash_spec *spec, const char *actual)
{
	size_t n = mm_hash_hexlen(spec->algo);

	if (n == 0 || !actual || strlen(actual) < n)
		return 0;
	if (spec->algo != MM_HASH_AUTOV2 && strlen(actual) != n)
		return 0;
	return strncasecmp(spec->hex, actual, n) == 0;
}

static const EVP_MD *algo_md(enum mm_hash_algo algo)
{
	switch (mm_hash_algo_computed(algo)) {
	case MM_HASH_MD5: return EVP_md5();
	case MM_HASH_SHA1: return EVP_sha1();
	case MM_HASH_SHA256: return EVP_sha256();
	default: return NULL;
	}
}

static int ossl_error(struct mm_err *err, const char *what)
{
	char buf[256];
	unsigned long e = ERR_get_error();

	ERR_clear_error();
	if (!e)
		return mm_error(err, MM_EFAIL, "%s failed", what);
	ERR_error_string_n(e, buf, sizeof(buf));
	return mm_error(err, MM_EFAIL, "%s: %s", what, buf);
}

struct mm_hasher *mm_hasher_new(enum mm_hash_algo algo, struct mm_err *err)
{
	struct mm_hasher *h;
	const EVP_MD *md = algo_md(algo);

	if (!md) {
		mm_error(err, MM_EUSAGE, "no digest for algorithm %s", mm_hash_algo_name(algo));
		return NULL;
	}
	h = mm_xcalloc(1, sizeof(*h));
	h->algo = algo;
	h->md = md;
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx) {
		mm_error(err, MM_EFAIL, "out of memory for a digest context");
		free(h);
		return NULL;
	}
	if (mm_hasher_reset(h, err) != 0) {
		mm_hasher_free(h);
		return NULL;
	}
	return h;
}

int mm_hasher_reset(struct mm_hasher *h, struct mm_err *err)
{
	h->bytes = 0;
	if (EVP_DigestInit_ex(h->ctx, h->md, NULL) != 1)
		return ossl_error(err, "digest init");
	return 0;
}

int mm_hasher_update(struct mm_hasher *h, const void *data, size_t n, struct mm_err *err)
{
	if (n == 0)
		return 0;
	if (EVP_DigestUpdate(h->ctx, data, n) != 1)
		return ossl_error(err, "digest update");
	h->bytes += n;
	return 0;
}

int mm_hasher_final(struct mm_hasher *h, char hex[MM_HASH_HEXMAX + 1], struct mm_err *err)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (EVP_DigestFinal_ex(h->ctx, md, &len) != 1)
		return ossl_error(err, "digest final");
	if (len * 2 > MM_HASH_HEXMAX)
		return mm_error(err, MM_EFAIL, "digest too long");
	for (unsigned int i = 0; i < len; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[2 * len] = '\0';
	return 0;
}

uint64_t mm_hasher_bytes(const struct mm_hasher *h)
{
	return h->bytes;
}

void mm_hasher_free(struct mm_hasher *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

int mm_hash_buf(enum mm_hash_algo algo, const void *data, size_t n,
	char hex[MM_HASH_HEXMAX + 1], struct mm_err *err)
{
	struct mm_hasher *h = mm_hasher_new(algo, err);
	int rc;

	if (!h)
		return err ? err->code : MM_EFAIL;
	rc = mm_hasher_update(h, data, n, err);
	if (rc == 0)
		rc = mm_hasher_final(h, hex, err);
	mm_hasher_free(h);
	return rc;
}

int mm_hash_fd(int fd, enum mm_hash_algo algo, void *buf, size_t bufsz,
	char hex[MM_HASH_HEXMAX + 1], uint64_t *bytes, struct mm_err *err)
{
	return mm_hash_fd_progress(fd, algo, buf, bufsz, hex, bytes, NULL, NULL, err);
}

/* Hash with read() into buf from fd's offset to EOF. */
static int hash_reads(int fd, struct mm_hasher *h, void *buf, size_t bufsz,
	mm_hash_progress_fn *progress, void *arg, struct mm_err *err)
{
	for (;;) {
		ssize_t r = read(fd, buf, bufsz);
		int rc;

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return mm_error(err, MM_EFAIL, "read error after %llu bytes: %s",
				(unsigned long long)mm_hasher_bytes(h), strerror(errno));
		}
		if (r == 0)
			return 0;
		rc = mm_hasher_update(h, buf, (size_t)r, err);
		if (rc)
			return rc;
		if (progress && progress(arg, (size_t)r) != 0)
			return mm_error(err, MM_EINT, "interrupted");
	}
}

/*
 * SIGBUS from a mapped window.  While a thread hashes a window, bus_jmp
 * points at where it goes on a fault and bus_lo..bus_hi is the window; a
 * SIGBUS anywhere else goes to the disposition this handler replaced.
 */
static __thread sigjmp_buf *bus_jmp;
static __thread const char *bus_lo, *bus_hi;
static struct sigaction bus_old;
static pthread_once_t bus_once = PTHREAD_ONCE_INIT;
static int bus_ready;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	const char *addr = si ? (const char *)si->si_addr : NULL;

	if (bus_jmp && addr >= bus_lo && addr < bus_hi)
		siglongjmp(*bus_jmp, 1);
	if ((bus_old.sa_flags & SA_SIGINFO) && bus_old.sa_sigaction) {
		bus_old.sa_sigaction(sig, si, uc);
	} else if (bus_old.sa_handler != SIG_DFL && bus_old.sa_handler != SIG_IGN) {
		bus_old.sa_handler(sig);
	} else {
		/* Returning re-runs the faulting access under the old disposition. */
		sigaction(SIGBUS, &bus_old, NULL);
	}
}

static void bus_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	bus_ready = sigaction(SIGBUS, &sa, &bus_old) == 0;
}

int mm_hash_catch_sigbus(void)
{
	pthread_once(&bus_once, bus_install);
	return bus_ready ? 0 : -1;
}

/*
 * Hash the first size bytes of fd through mapped windows.  Returns 0 with
 * *done set to the bytes hashed (less than size when a window could not be
 * mapped: the caller reads on from there), or an error.
 */
static int hash_mapped(int fd, struct mm_hasher *h, off_t size, off_t *done,
	mm_hash_progress_fn *progress, void *arg, struct mm_err *err)
{
	sigjmp_buf jb;
	char *volatile win = NULL;
	volatile size_t len = 0;
	volatile off_t off = 0;
	struct stat st;

	*done = 0;
	if (sigsetjmp(jb, 1) != 0) {
		bus_jmp = NULL;
		munmap(win, len);
		if (fstat(fd, &st) == 0 && st.st_size < off + (off_t)len)
			return mm_error(err, MM_EFAIL, "read error after %llu bytes: "
				"the file shrank to %lld bytes while it was read",
				(unsigned long long)off, (long long)st.st_size);
		return mm_error(err, MM_EFAIL, "read error after %llu bytes: %s",
			(unsigned long long)off, strerror(EIO));
	}
	while (off < size) {
		int rc;

		len = size - off < MM_HASH_MAPSZ ? (size_t)(size - off) : MM_HASH_MAPSZ;
		win = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, off);
		if (win == MAP_FAILED) {
			win = NULL;
			break;
		}
		bus_lo = win;
		bus_hi = win + len;
		bus_jmp = &jb;
		rc = mm_hasher_update(h, win, len, err);
		bus_jmp = NULL;
		munmap(win, len);
		win = NULL;
		if (rc)
			return rc;
		off += (off_t)len;
		*done = off;
		if (progress && progress(arg, len) != 0)
			return mm_error(err, MM_EINT, "interrupted");
	}
	return 0;
}

/* mm_hash_fd_progress, or with mapped set mm_hash_fd_mapped. */
static int hash_fd(int fd, enum mm_hash_algo algo, void *buf, size_t bufsz,
	char hex[MM_HASH_HEXMAX + 1], uint64_t *bytes, mm_hash_progress_fn *progress,
	void *arg, int mapped, struct mm_err *err)
{
	struct mm_hasher *h;
	struct stat st;
	off_t done = 0;
	void *own = NULL;
	int rc = 0;

	h = mm_hasher_new(algo, err);
	if (!h)
		return err ? err->code : MM_EFAIL;
	/* Doubles the read-ahead window: the hash, not the disk, should be the limit. */
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if (mapped && bus_ready && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
		rc = hash_mapped(fd, h, st.st_size, &done, progress, arg, err);
		if (rc == 0 && lseek(fd, done, SEEK_SET) != done)
			rc = mm_error(err, MM_EFAIL, "cannot seek: %s", strerror(errno));
	}
	if (rc == 0) {
		if (!buf || bufsz == 0) {
			bufsz = MM_HASH_BUFSZ;
			buf = own = mm_xmalloc(bufsz);
		}
		rc = hash_reads(fd, h, buf, bufsz, progress, arg, err);
	}
	if (rc == 0)
		rc = mm_hasher_final(h, hex, err);
	if (rc == 0 && bytes)
		*bytes = mm_hasher_bytes(h);
	free(own);
	mm_hasher_free(h);
	return rc;
}

int mm_hash_fd_progress(int fd, enum mm_hash_algo algo, void *buf, size_t bufsz,
	char hex[MM_HASH_HEXMAX + 1], uint64_t *bytes, mm_hash_progress_fn *progress,
	void *arg, struct mm_err *err)
{
	return hash_fd(fd, algo, buf, bufsz, hex, bytes, progress, arg, 0, err);
}

int mm_hash_fd_mapped(int fd, enum mm_hash_algo algo, void *buf, size_t bufsz,
	char hex[MM_HASH_HEXMAX + 1], uint64_t *bytes, mm_hash_progress_fn *progress,
	void *arg, struct mm_err *err)
{
	return hash_fd(fd, algo, buf, bufsz, hex, bytes, progress, arg, 1, err);
}
