/*
 * streamhash.h — hashing a file while it is being downloaded.
 *
 * The network thread writes a file's pieces wherever they land; a pool of
 * hashing threads follows the contiguous prefix that is on disk, reading it
 * back from the page cache HASH_CHUNK bytes at a time, so the digest is done
 * (and the file fsync'd) moments after its last byte arrives, with no second
 * pass and without the network thread ever waiting for a hasher.
 *
 * The protocol, all of it under the pool's mutex:
 *
 *   frontier, complete  written by the owner (mm_streamhash_publish): bytes
 *                       [0, frontier) are on disk; complete once frontier is
 *                       the file's size.
 *   hashed              written by the thread holding the file: bytes
 *                       [0, hashed) are in the hasher.
 *   busy                a thread holds the file (reads and hashes without the
 *                       mutex); no other thread picks it meanwhile.
 *   gen                 bumped by the owner (mm_streamhash_forget) to throw
 *                       away what the threads know: a chunk that comes back
 *                       with an old gen is discarded, and the first chunk of a
 *                       new gen resets the hasher before it is used.
 *   fin, fin_rc         the file is done: after complete, the last thread
 *                       fsyncs it and finishes the digest (fin_rc 0), or a
 *                       read, fsync or digest failed (fin_rc -1, fin_err).
 *                       The pool then calls wake() so the owner notices.
 *   dead                never pick the file again (until the owner clears it).
 *
 * A thread picks a file that is neither busy, dead nor fin and has bytes
 * below its frontier not yet hashed, or is complete and fully hashed (to
 * finish it).  The owner writes the file only beyond the frontier it
 * published, and rewinds only through mm_streamhash_forget(), which waits
 * until no thread holds the file.
 */
#ifndef MM_STREAMHASH_H
#define MM_STREAMHASH_H

#include <pthread.h>

#include "hash.h"

/*
 * One file followed by the pool.  Zero it, then set fd and hasher (and
 * hasher2 for a second digest of the same bytes, read once for both).
 */
struct mm_streamhash {
	int fd;                         /* the part file, open for reading */
	struct mm_hasher *hasher;       /* NULL: only fsync, no digest */
	struct mm_hasher *hasher2;      /* NULL, or a second algorithm fed the same bytes */
	/* Under the pool's mutex. */
	long long frontier, hashed;
	int complete, busy, dead, fin, fin_rc;
	unsigned gen, hasher_gen;
	char digest[MM_HASH_HEXMAX + 1];
	char digest2[MM_HASH_HEXMAX + 1];       /* hasher2's, when it has one */
	char fin_err[256];
	long long synced;               /* writeback started up to here */
};

struct mm_shpool {
	pthread_mutex_t mx;
	pthread_cond_t cv, done;
	pthread_t *th;
	int nth, quit;
	struct mm_streamhash **files;
	size_t nfiles;
	void (*wake)(void *);           /* a file reached fin; called under mx */
	void *wake_arg;
};

/* Start nth threads over the n files (the array must outlive the pool). */
void mm_shpool_start(struct mm_shpool *p, struct mm_streamhash **files, size_t n, int nth,
		     void (*wake)(void *), void *wake_arg);

/* Stop and join the threads. */
void mm_shpool_stop(struct mm_shpool *p);

/* Tell the threads that [0, frontier) of f is on disk; complete: that is all of it. */
void mm_streamhash_publish(struct mm_shpool *p, struct mm_streamhash *f, long long frontier,
			   int complete);

/*
 * Make the threads forget what they know of f's bytes, and wait until none
 * holds it; dead: and never pick it again.
 */
void mm_streamhash_forget(struct mm_shpool *p, struct mm_streamhash *f, int dead);

/* f->fin, read under the mutex. */
int mm_streamhash_done(struct mm_shpool *p, struct mm_streamhash *f);

/* Let the threads pick f again (after forget with dead). */
void mm_streamhash_revive(struct mm_shpool *p, struct mm_streamhash *f);

#endif
