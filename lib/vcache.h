/*
 * vcache.h — the verified-result cache: a file hashed once is not hashed
 * again while it provably has not changed.
 *
 * A record says "the bytes of inode (dev, ino) with this size, mtime and
 * ctime have this digest".  It is trusted only while every one of those
 * identity fields is still what fstat() returns; a file rewritten in place
 * (mtime, usually size), touched (mtime and ctime), replaced by a rename
 * (another inode) or restored with an old mtime (ctime, which no user can
 * set) misses and is hashed again.
 *
 * Where records live, and why two places:
 *
 *   - An extended attribute on the file, "user.mm.verified", holding
 *     "mm2 <size> <mtime_ns> <dev> <ino> <algo>:<digest>…", where the
 *     filesystem and permissions allow it.  The digests travel with the
 *     inode, and `getfattr -n user.mm.verified FILE` shows them.
 *   - A record file, MM_STATE_DIR/verified, one line per inode:
 *     "<dev> <ino> <size> <mtime_ns> <ctime_ns> <xattr> <md5> <sha1> <sha256>"
 *     with "-" for a digest not known.
 *
 * The xattr cannot hold the file's ctime: setting an xattr changes the ctime,
 * so any ctime it stored would be stale the moment it was written, and a
 * second write to store the new one changes it again.  The ctime is therefore
 * read with fstat() *after* the xattr is written and kept in the record file.
 * A lookup succeeds only when the record file's entry matches the current
 * identity exactly, ctime included, and — when that entry says an xattr was
 * written — the xattr is still there and agrees.  On filesystems without
 * user xattrs (or files this process may not change) the record file alone
 * holds the record.  Without a usable MM_STATE_DIR there is no cache.
 *
 * A digest is recorded only if the file's identity did not change between
 * the fstat() before hashing and the one after (a file written to while it
 * was hashed is not cached).
 *
 * Known limit: on kernels whose timestamps are coarse (a clock tick of a few
 * milliseconds; Linux before multigrain timestamps, 6.13), a rewrite that
 * lands in the same tick as the record and then restores the old mtime would
 * keep every identity field.  That takes a deliberate writer racing the
 * verification; --rehash remains the answer to any doubt.
 *
 * Every digest the caller computed may be recorded, whether or not it
 * matched what a manifest expected: it is a fact about the bytes.  A record
 * keeps one digest per computed algorithm (md5, sha1, sha256) for the same
 * identity, so a sha256 scan does not evict the md5 a manifest asks for;
 * AutoV2 is served from the sha256.
 *
 * Concurrency: lookup and record may be called from several threads at once.
 * mm_vcache_save() merges this run's changes into the record file under an
 * flock(), so two processes sharing MM_STATE_DIR lose no records.
 *
 * Ownership: mm_vcache_open() returns a cache the caller frees with
 * mm_vcache_free() (which does not save).
 */
#ifndef MM_VCACHE_H
#define MM_VCACHE_H

#include <sys/stat.h>

#include "hash.h"
#include "mm.h"
#include "state.h"

#define MM_VCACHE_XATTR "user.mm.verified"
#define MM_VCACHE_FILE MM_STATE_VERIFIED

struct mm_vcache;

/* Flags for mm_vcache_open(). */
enum {
	MM_VCACHE_NOXATTR = 1 << 0,   /* never write the xattr: the record file alone */
};

/*
 * Load the record file from the state directory state (see state.h; the
 * cache keeps its own descriptor of it, so state may be closed after).
 * A missing or partly unreadable record file is an empty cache, not an
 * error; returns NULL with err set only when state is not open.  The file
 * is read and written beneath the state directory by the rule of state.h.
 */
struct mm_vcache *mm_vcache_open(const struct mm_state *state, int flags, struct mm_err *err);

/*
 * Look up the digest of the open file fd, whose fstat() the caller passes
 * in st, for algorithm algo (AutoV2 is looked up as sha256).  Returns 1 and
 * fills hex with the full digest of the computed algorithm on a hit, 0 on a
 * miss.  A record that no longer matches is dropped.
 */
int mm_vcache_lookup(struct mm_vcache *vc, int fd, const struct stat *st,
	enum mm_hash_algo algo, char hex[MM_HASH_HEXMAX + 1]);

/*
 * Record that fd's bytes have digest hex (of the computed algorithm of
 * algo).  before is the fstat() taken before hashing began; the record is
 * refused (1) when the file's identity changed since.  Call it once the file
 * is at its final path: a rename changes the ctime too, so a before taken
 * ahead of a rename never matches.  A caller that wrote and hashed the file
 * itself (a download renamed into place) may pass before = NULL: the current
 * fstat() is then taken as the identity the digest belongs to.  Writes the
 * xattr where possible, then fstat()s the file again for the identity to
 * keep.  Returns 0 when recorded, 1 when not (the file changed while it was
 * hashed), or MM_EFAIL with err set.  Nothing reaches disk outside the
 * xattr until mm_vcache_save().
 */
int mm_vcache_record(struct mm_vcache *vc, int fd, const struct stat *before,
	enum mm_hash_algo algo, const char *hex, struct mm_err *err);

/* Merge this run's records into the record file, if anything changed. */
int mm_vcache_save(struct mm_vcache *vc, struct mm_err *err);

/* Number of records held (for tests and debug output). */
size_t mm_vcache_count(const struct mm_vcache *vc);

void mm_vcache_free(struct mm_vcache *vc);

#endif
