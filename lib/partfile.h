/*
 * partfile.h — the part file and its resume state, as they are on disk.
 *
 * A download of dir/name is written to dir/.name.mm-part (paths.h).  Beside
 * it, dir/.name.mm-state says how far each piece of the part file got, so a
 * later try or a later run continues with Range + If-Range:
 *
 *	mm-state 1
 *	url 0123456789abcdef        (mm_fnv64 of the download URL)
 *	size 1048576                (the server's size, > 0)
 *	validator "etag"            (strong ETag or Last-Modified, not empty)
 *	segmented 1                 (downloaded over several connections)
 *	piece START END POS         (one line per piece, in order)
 *
 * Pieces cover [0, size) without gaps or overlap: each starts where the last
 * ended, END > START, 0 <= POS <= END - START, and bytes said to be on disk
 * lie inside the part file.  The state is written whole to a temporary name
 * and renamed over the old one.
 *
 * The state file sits in a directory other runs (and other tenants of the
 * machine) may write, so mm_partfile_parse() trusts nothing in it: any line
 * it does not know, any number out of place, a file over MM_PARTFILE_MAX
 * bytes, or a state for another URL makes the whole state unusable, and the
 * download starts from byte 0.
 */
#ifndef MM_PARTFILE_H
#define MM_PARTFILE_H

#include <stddef.h>

/* The largest state file read. */
#define MM_PARTFILE_MAX 65536

enum mm_piece_state { MM_PIECE_TODO, MM_PIECE_ACTIVE, MM_PIECE_DONE };

/* One byte range of a download. */
struct mm_piece {
	long long start, end;   /* [start, end); end -1 while the size is unknown */
	long long pos;          /* bytes on disk from start */
	int state;              /* enum mm_piece_state */
	double not_before;      /* no request for it before this time (mm_now) */
	/* In memory only (fetch.c), never in the state file; zero: not known. */
	int by;                 /* 1 + the source that wrote its bytes */
	int check;              /* how its bytes are being checked (fetch.c) */
	int vs;                 /* 1 + the source whose bytes disagreed with them */
};

/* What a state file says. */
struct mm_partstate {
	long long size;
	char validator[256];
	int segmented;
	struct mm_piece *pieces;        /* owned; free() */
	size_t npieces;
};

/*
 * Parse the n bytes at buf (need not be NUL-terminated) as the state of a
 * download of url whose part file holds part_size bytes.  0 and st filled
 * (pieces fully on disk MM_PIECE_DONE, the others MM_PIECE_TODO) when the
 * part file can be continued; -1 and st emptied (size -1, no pieces)
 * otherwise.
 */
int mm_partfile_parse(const char *buf, size_t n, const char *url, long long part_size,
		      struct mm_partstate *st);

/* Read dirfd/name (a regular file, never through a symlink) and parse it as above. */
int mm_partfile_load(int dirfd, const char *name, const char *url, long long part_size,
		     struct mm_partstate *st);

/*
 * Write st as the state of a download of url to dirfd/tmp, then rename it
 * to dirfd/name.  0, or -1 (nothing is left at tmp).
 */
int mm_partfile_save(int dirfd, const char *name, const char *tmp, const char *url,
		     const struct mm_partstate *st);

/* Remove dirfd/name. */
void mm_partfile_drop(int dirfd, const char *name);

/* pwrite(2) all n bytes at off, in slices the page cache takes well; -1 and errno. */
int mm_part_pwrite(int fd, const char *p, size_t n, long long off);

/* FNV-1a of s, 64 bits: the URL in a state file, the name of a lock file. */
unsigned long long mm_fnv64(const char *s);

#endif
