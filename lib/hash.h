/*
 * hash.h — model digests: telling the algorithm from a manifest's `hash`,
 * hashing a stream as it arrives, and hashing a file from disk.
 *
 * Algorithms (DESIGN.md): an "md5:", "sha1:" or "sha256:" prefix names the
 * algorithm; bare hex is told by its length — 32 md5, 40 sha1, 64 sha256,
 * and 10 civitai's AutoV2, which is the first 10 hex digits of the sha256.
 * Case does not matter on input; digests are always written as lowercase hex.
 *
 * All hashing goes through OpenSSL's EVP interface, which uses the CPU's SHA
 * instructions where it has them.  AutoV2 is computed as a full sha256: the
 * hasher's result is the 64-digit sha256, and mm_hash_matches() compares its
 * first 10 digits with the expected value.
 *
 * Ownership: struct mm_hasher is allocated by mm_hasher_new() and freed by
 * mm_hasher_free(); everything else works on caller-owned buffers.  A hasher
 * is not shared between threads; use one per thread.
 */
#ifndef MM_HASH_H
#define MM_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "mm.h"

enum mm_hash_algo {
	MM_HASH_NONE = 0,
	MM_HASH_MD5,
	MM_HASH_SHA1,
	MM_HASH_SHA256,
	MM_HASH_AUTOV2,   /* civitai: first 10 hex digits of the sha256 */
};

/* Longest digest in hex (sha256), without the NUL. */
#define MM_HASH_HEXMAX 64

/* Default read size for mm_hash_fd(): large sequential reads, bounded memory. */
#define MM_HASH_BUFSZ (1024 * 1024)

/* An expected digest, as parsed from a manifest. */
struct mm_hash_spec {
	enum mm_hash_algo algo;
	char hex[MM_HASH_HEXMAX + 1];   /* lowercase, as long as the algorithm's digest */
};

/*
 * Parse a manifest `hash` value ("sha256:ABC…", "7fac…", …) into spec.
 * Returns 0, or MM_EINPUT with a message for an unknown prefix, a length
 * that names no algorithm, or a non-hex character.  Surrounding whitespace is
 * not accepted.
 */
int mm_hash_parse(const char *s, struct mm_hash_spec *spec, struct mm_err *err);

/* "md5", "sha1", "sha256", "autov2"; "none" for MM_HASH_NONE. */
const char *mm_hash_algo_name(enum mm_hash_algo algo);

/* The inverse of mm_hash_algo_name(), case-insensitive; MM_HASH_NONE if unknown. */
enum mm_hash_algo mm_hash_algo_from_name(const char *name);

/*
 * The algorithm that is actually computed for algo: AutoV2 is a sha256,
 * the others are themselves.
 */
enum mm_hash_algo mm_hash_algo_computed(enum mm_hash_algo algo);

/* Number of hex digits in a digest of algo (10 for AutoV2, 0 for none). */
size_t mm_hash_hexlen(enum mm_hash_algo algo);

/*
 * 1 when the computed digest `actual` (lowercase hex of the computed
 * algorithm, e.g. the full sha256 for AutoV2) satisfies spec, else 0.
 */
int mm_hash_matches(const struct mm_hash_spec *spec, const char *actual);

/* --- Streaming hasher: what mm-fetch feeds while a download arrives. --- */

struct mm_hasher;

/* A new hasher for algo (AutoV2 hashes sha256); NULL with err set on failure. */
struct mm_hasher *mm_hasher_new(enum mm_hash_algo algo, struct mm_err *err);

/* Add n bytes.  Returns 0 or MM_EFAIL. */
int mm_hasher_update(struct mm_hasher *h, const void *data, size_t n, struct mm_err *err);

/*
 * Finish and write the lowercase hex digest of the computed algorithm into
 * hex (NUL-terminated).  The hasher may then be reused with mm_hasher_reset().
 */
int mm_hasher_final(struct mm_hasher *h, char hex[MM_HASH_HEXMAX + 1], struct mm_err *err);

/* Start over, as if new (same algorithm). */
int mm_hasher_reset(struct mm_hasher *h, struct mm_err *err);

/* Bytes fed since the last new/reset. */
uint64_t mm_hasher_bytes(const struct mm_hasher *h);

void mm_hasher_free(struct mm_hasher *h);

/* --- Hashing a file. --- */

/*
 * Hash everything readable from fd, from its current offset to EOF, with
 * sequential read-ahead advice and reads of bufsz bytes into buf.  buf may
 * be NULL, in which case a buffer of MM_HASH_BUFSZ is allocated and freed
 * here; a worker thread passes its own to keep memory bounded and flat.
 * Never maps the file.  On success writes the hex digest of the computed
 * algorithm and, if bytes is not NULL, the number of bytes hashed.
 * A read error returns MM_EFAIL with strerror in the message.
 */
int mm_hash_fd(int fd, enum mm_hash_algo algo, void *buf, size_t bufsz,
	char hex[MM_HASH_HEXMAX + 1], uint64_t *bytes, struct mm_err *err);

/*
 * As mm_hash_fd(), calling progress(arg, n) after each n bytes hashed (from
 * the hashing thread; keep it cheap and thread-safe).  progress may be NULL.
 * When it returns non-zero, hashing stops and MM_EINT is returned.
 */
typedef int mm_hash_progress_fn(void *arg, size_t n);
int mm_hash_fd_progress(int fd, enum mm_hash_algo algo, void *buf, size_t bufsz,
	char hex[MM_HASH_HEXMAX + 1], uint64_t *bytes, mm_hash_progress_fn *progress,
	void *arg, struct mm_err *err);

/* Bytes of a file mapped at once by mm_hash_fd_mapped(): a multiple of 2 MiB. */
#define MM_HASH_MAPSZ (4 * 1024 * 1024)

/*
 * As mm_hash_fd_progress(), but a regular file is hashed where its pages lie
 * in the page cache, through windows of MM_HASH_MAPSZ mapped one after the
 * other, instead of being copied into buf: less CPU per byte, and at most
 * one window of the file is resident in this thread's mapping at a time.
 * Whatever lies past the size the file had when hashing began (it grew) is
 * then read with read() into buf, so the digest covers the file to EOF as
 * mm_hash_fd()'s does; anything that is not a regular file, or that cannot
 * be mapped, is read the same way.  fd is hashed from offset 0.
 *
 * A mapped page that cannot be read (the file shrank under the window, or an
 * I/O error) raises SIGBUS, so mapping needs a process-wide SIGBUS handler,
 * which only the caller may ask for: until it calls mm_hash_catch_sigbus(),
 * mm_hash_fd_mapped() reads with read() as mm_hash_fd_progress() does.
 */
int mm_hash_fd_mapped(int fd, enum mm_hash_algo algo, void *buf, size_t bufsz,
	char hex[MM_HASH_HEXMAX + 1], uint64_t *bytes, mm_hash_progress_fn *progress,
	void *arg, struct mm_err *err);

/*
 * Install, once, the SIGBUS handler that turns a fault raised while a thread
 * reads a mapped window into MM_EFAIL, and hands any other SIGBUS to the
 * disposition it replaced.  0, or -1 when it could not be installed (the
 * files are then read).
 */
int mm_hash_catch_sigbus(void);

/* Convenience: bytes in memory (tests, small inputs). */
int mm_hash_buf(enum mm_hash_algo algo, const void *data, size_t n,
	char hex[MM_HASH_HEXMAX + 1], struct mm_err *err);

#endif
