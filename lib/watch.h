/*
 * watch.h — notice when model files appear or go: inotify on a directory and
 * every folder below it (symlinked folders followed, as ComfyUI follows them).
 *
 * Only events a scan would see count: a model file (mm_scan_is_model_name)
 * created, written, moved or deleted, or a folder created, moved or deleted.
 * Hidden names (part files) are ignored, so a download in progress does not
 * cause a report per chunk.
 *
 * Ownership: the caller closes what mm_dirwatch_open() returns with
 * mm_dirwatch_close().
 */
#ifndef MM_WATCH_H
#define MM_WATCH_H

#include "mm.h"

struct mm_dirwatch;

/* Watch dir and its folders.  A missing dir is MM_EUSAGE (errno ENOENT kept). */
int mm_dirwatch_open(const char *dir, struct mm_dirwatch **out, struct mm_err *err);

/* The descriptor to poll for POLLIN. */
int mm_dirwatch_fd(const struct mm_dirwatch *w);

/*
 * Read the queued events without blocking; watch folders that appeared.
 * Returns 1 when something a scan would see changed, 0 otherwise, -1 when
 * the watched directory itself went away (reopen it later).
 */
int mm_dirwatch_drain(struct mm_dirwatch *w);

void mm_dirwatch_close(struct mm_dirwatch *w);

#endif
