/*
 * state.h — MM_STATE_DIR, mm's own directory: the one place it is created,
 * checked and written.
 *
 * What lives there (names relative to the state directory):
 *   api/<path>.json   cached EmProps API answers (mm-discover)
 *   locks/<n>.lock    one flock per saveTo while it downloads (mm-fetch)
 *   civitai/<id>.json Civitai's model-versions answers (mm-fetch, upstream.h)
 *   verified          the verified-result cache (vcache.h), with verified.lock
 *   digests           the sha256 each saveTo was proved by when the manifest
 *                     gives none (digests.h), with digests.lock
 *   quarantine/<saveTo>, quarantine/<saveTo>.why
 *                     files that failed verification (mm-verify --quarantine)
 *   ready             written by mm-entrypoint once the models are in place
 *   jobmatching.dump, jobmatching.json
 *                     the jobMatching library mm replaced (jobmatch.h)
 *
 * The rule.  The state directory usually sits inside MM_ROOT ($MM_ROOT/.mm),
 * which ComfyUI and its custom nodes, often another uid, can write.  So:
 *   - mm creates it, and every folder beneath it, with mode 0700;
 *   - the directory is opened once, and everything beneath it is reached
 *     from that descriptor, never by a path that could follow a symlink
 *     (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, or an O_NOFOLLOW walk);
 *   - files are written to a temporary name created with O_EXCL, then
 *     renamed into place within the same folder;
 *   - a state directory, or a folder beneath it, that is not owned by the
 *     user mm runs as, is group- or world-writable, or is a symlink beneath
 *     the state directory, is refused (MM_EUSAGE) with a message that says
 *     how to fix it, the way ssh refuses a lax ~/.ssh.  The state directory
 *     itself may be a symlink only when the link is owned by that user; its
 *     target is held to the same rule.
 *
 * Ownership: struct mm_state is the caller's; mm_state_close() releases what
 * mm_state_open() took.  Descriptors returned by the functions below are the
 * caller's to close.
 */
#ifndef MM_STATE_H
#define MM_STATE_H

#include <stddef.h>
#include <sys/types.h>

#include "mm.h"

#define MM_STATE_MODE 0700

#define MM_STATE_API "api"
#define MM_STATE_LOCKS "locks"
#define MM_STATE_CIVITAI "civitai"
#define MM_STATE_VERIFIED "verified"
#define MM_STATE_DIGESTS "digests"
#define MM_STATE_QUARANTINE "quarantine"
#define MM_STATE_READY "ready"

struct mm_state {
	char *path;   /* as configured, for messages */
	int fd;       /* the directory, opened once; -1 when not open */
};

/*
 * Open the state directory at path, creating it (mode 0700; missing parent
 * folders 0755) when it does not exist and create is set, and check it and
 * the folders and files named above that already exist in it.  Returns 0;
 * MM_EUSAGE when it is refused by the rule above (err says how to fix it);
 * MM_EFAIL when it cannot be created or opened (err says why).  On failure
 * s->fd is -1.
 */
int mm_state_open(struct mm_state *s, const char *path, int create, struct mm_err *err);

/* Close what mm_state_open() opened; safe on a closed or zeroed-then-failed state. */
void mm_state_close(struct mm_state *s);

/*
 * A descriptor of its own of the open state directory s, for a module that
 * outlives s (what: the module's name, for the message).  Returns it, or -1
 * with err set (MM_EUSAGE when s is not open).
 */
int mm_state_dup(const struct mm_state *s, const char *what, struct mm_err *err);

/*
 * Open the folder rel ("quarantine/models/loras": one or more components)
 * beneath the state directory, each component a real folder held to the
 * rule, created 0700 when missing and create is set.  Returns a descriptor,
 * or -1 with err set (code MM_EUSAGE: refused; MM_EFAIL: cannot).
 */
int mm_state_subdir(const struct mm_state *s, const char *rel, int create, struct mm_err *err);

/*
 * openat(2) of rel beneath dirfd (the state directory or a folder from
 * mm_state_subdir()) without following any symlink, the last component
 * included: one fails with ELOOP (or EXDEV).  New files get mode.
 */
int mm_state_openat(int dirfd, const char *rel, int flags, mode_t mode);

/*
 * Replace the file name in the folder dirfd with data: written to a new
 * temporary "<name>.<pid>.<n>.tmp" created with O_EXCL (mode 0600; a name
 * already taken, by a symlink or anything else, is skipped for the next),
 * then renamed over name within dirfd.  Returns 0 or MM_EFAIL with err set.
 */
int mm_state_write(int dirfd, const char *name, const void *data, size_t len,
	struct mm_err *err);

#endif
