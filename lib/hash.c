/* hash.c — digests through OpenSSL EVP; see hash.h. */
#include "hash.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

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

int mm_hash_fd_progress(int fd, enum mm_hash_algo algo, void *buf, size_t bufsz,
	char hex[MM_HASH_HEXMAX + 1], uint64_t *bytes, mm_hash_progress_fn *progress,
	void *arg, struct mm_err *err)
{
	struct mm_hasher *h;
	void *own = NULL;
	int rc = 0;

	h = mm_hasher_new(algo, err);
	if (!h)
		return err ? err->code : MM_EFAIL;
	if (!buf || bufsz == 0) {
		bufsz = MM_HASH_BUFSZ;
		buf = own = mm_xmalloc(bufsz);
	}
	/* Doubles the read-ahead window: the hash, not the disk, should be the limit. */
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	for (;;) {
		ssize_t r = read(fd, buf, bufsz);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = mm_error(err, MM_EFAIL, "read error after %llu bytes: %s",
				(unsigned long long)mm_hasher_bytes(h), strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		rc = mm_hasher_update(h, buf, (size_t)r, err);
		if (rc)
			goto out;
		if (progress && progress(arg, (size_t)r) != 0) {
			rc = mm_error(err, MM_EINT, "interrupted");
			goto out;
		}
	}
	rc = mm_hasher_final(h, hex, err);
	if (rc == 0 && bytes)
		*bytes = mm_hasher_bytes(h);
out:
	free(own);
	mm_hasher_free(h);
	return rc;
}
