/*
 * text.h — untrusted text made safe to show on a terminal.
 *
 * Model names, saveTo paths, URLs, job ids and server messages come from
 * manifests, API answers, Redis and remote servers.  A human view (a table,
 * a log line, a progress bar) shows them through mm_visible(), never as they
 * are, so that an escape sequence in a name cannot clear the screen, move
 * the cursor, retitle the terminal or hide the rest of a line.  JSON output
 * needs none of this: cJSON escapes control characters itself.
 */
#ifndef MM_TEXT_H
#define MM_TEXT_H

#include <stddef.h>

#include "mm.h"

/*
 * A copy of s (caller frees; NULL reads as "") in which every byte or
 * character a terminal would act on instead of showing is written as an
 * escape: \t, \n and \r; \xHH for the other C0 controls, DEL and any byte
 * that is not part of valid UTF-8; \uHHHH for the C1 controls (U+0080 to
 * U+009F) and the bidirectional controls (U+061C, U+200E, U+200F, U+202A
 * to U+202E, U+2066 to U+2069).  Everything else, valid UTF-8 in any
 * script and the backslash among it, passes unchanged.
 */
char *mm_visible(const char *s);

/* The same for the n bytes at s, appended to b. */
void mm_visible_put(struct mm_buf *b, const char *s, size_t n);

#endif
