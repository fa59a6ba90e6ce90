/*
 * paths.h — where files may go: the saveTo safety rule and opening files
 * beneath MM_ROOT without ever following a symlink out of it.
 */
#ifndef MM_PATHS_H
#define MM_PATHS_H

#include <stddef.h>
#include <sys/types.h>

#include "mm.h"

#define MM_PATH_MAX 4096
#define MM_NAME_MAX 255

/*
 * Check that rel is a safe saveTo: non-empty, relative, '/'-separated, no
 * '..', '.' or empty components, no backslash, no control character, at most
 * MM_PATH_MAX bytes with components of at most MM_NAME_MAX.  len is the
 * string's real length (JSON strings may hold a NUL; a NUL is refused).
 * Returns 0, or -1 with a reason ("has a '..' component") in why.
 */
int mm_path_check(const char *rel, size_t len, char *why, size_t whysz);

/*
 * Open rel beneath the directory rootfd, resolving every component inside
 * it: a symlink or '..' that would leave the root fails with EXDEV (openat2
 * RESOLVE_BENEATH; on kernels without it, any symlink fails with ELOOP).
 * flags and mode as for openat(2).  Returns an fd or -1 with errno set.
 */
int mm_openat_beneath(int rootfd, const char *rel, int flags, mode_t mode);

/*
 * As mm_openat_beneath, but no symlink is followed at all, the last
 * component included: one fails with ELOOP (openat2 RESOLVE_NO_SYMLINKS,
 * or the O_NOFOLLOW walk).
 */
int mm_openat_nofollow(int rootfd, const char *rel, int flags, mode_t mode);

/*
 * Create the parent directories of rel beneath rootfd (mode 0755), with the
 * same containment as mm_openat_beneath.  Returns 0 or -1 with errno set.
 */
int mm_mkparents_beneath(int rootfd, const char *rel);

/*
 * The names mm keeps beside a model dir/name, all of them ".name.mm-WORD":
 * the download in progress, its resume state (and that file's temporary),
 * a file quarantined in place.  MM_STATE_DIR_DEFAULT is the state directory
 * under MM_ROOT when MM_STATE_DIR is not set.
 */
#define MM_PART_SUFFIX ".mm-part"
#define MM_STATE_SUFFIX ".mm-state"
#define MM_STATE_TMP_SUFFIX ".mm-state.tmp"
#define MM_QUARANTINED_SUFFIX ".mm-quarantined"
#define MM_RESERVED_INFIX ".mm-"
#define MM_STATE_DIR_DEFAULT ".mm"

/*
 * The temporary name a download of rel is written to before it is renamed
 * into place: same directory, hidden, ".<file>.mm-part".  Caller frees.
 */
char *mm_part_path(const char *rel);

/*
 * Check that rel (already safe by mm_path_check) names no file of mm's own:
 * no component is a hidden ".NAME.mm-WORD" (any of the suffixes above, and
 * any mm may add), and rel is neither MM_STATE_DIR_DEFAULT nor state_rel nor
 * beneath either.  state_rel is the state directory relative to MM_ROOT
 * (mm_path_inside), or NULL.  Returns 0, or -1 with a reason in why.
 */
int mm_path_reserved(const char *rel, const char *state_rel, char *why, size_t whysz);

/*
 * Where dir lies inside root, as a relative path ("state/mm"), or NULL when
 * it is not strictly inside.  Compared as written (repeated and trailing
 * slashes and "." components ignored) and, when both exist, after
 * realpath(3).  Caller frees.
 */
char *mm_path_inside(const char *root, const char *dir);

/* "dir/sub" of "dir/sub/file" (caller frees), or "." for a bare file name. */
char *mm_dirname(const char *rel);
/* The last component of rel (borrowed, points into rel). */
const char *mm_basename(const char *rel);

#endif
