/*
 * diskspace.h — is there room for a run's downloads, before any starts.
 *
 * mm_diskspace_preflight() adds up, per filesystem, what each file still
 * needs (its size less what its part file already holds) and compares it
 * with the space free to an unprivileged user there, so a run that cannot
 * fit fails at once with MM_ENOSPACE instead of filling the disk halfway.
 * A directory that does not exist yet is judged by its nearest existing
 * ancestor.
 */
#ifndef MM_DISKSPACE_H
#define MM_DISKSPACE_H

#include <stddef.h>

#include "mm.h"

/* One file a run wants to write. */
struct mm_space_want {
	const char *save_to;    /* relative to MM_ROOT */
	const char *dir;        /* its directory ("." for MM_ROOT itself) */
	long long size;         /* bytes; <= 0: unknown, not counted */
};

/*
 * 0 when every filesystem has room for the n files, MM_ENOSPACE (err says
 * how much is needed and free where) when one has not.  rootfd is MM_ROOT
 * opened, or -1 when it does not exist yet (a dry run): root's nearest
 * existing ancestor is asked then.
 */
int mm_diskspace_preflight(int rootfd, const char *root, const struct mm_space_want *w, size_t n,
			   struct mm_err *err);

/* mkdir -p, mode 0755, for MM_ROOT itself (a configured path, not a manifest's). */
int mm_mkdir_p(const char *path);

#endif
