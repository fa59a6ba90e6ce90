/*
 * prologue.h — what every command's main() does before its own work, once.
 *
 * This is the small core the commands borrow (as curl's tool borrows
 * libcurl's): a library user has no use for it.  It is the one place
 * that asks for process-wide things on the command's behalf: the stderr
 * log sink, SIGPIPE ignored, SIGINT and SIGTERM caught.
 *
 *	mm_prologue_init(argv[0]);
 *	while ((c = getopt_long(argc, argv, "hqVv...", opts, NULL)) != -1) {
 *		if (mm_prologue_option(c, usage, &rc))
 *			return rc;
 *		switch (c) { ...the command's own options... }
 *	}
 *
 * Every command takes -h/--help, -V/--version, -q/--quiet, -v/--verbose.
 */
#ifndef MM_PROLOGUE_H
#define MM_PROLOGUE_H

#include <signal.h>
#include <stdio.h>

/*
 * The program name and MM_LOG_FORMAT / MM_LOG_LEVEL for the log; library
 * messages go to stderr (log.h's mm_log_stderr); SIGPIPE is ignored, so a
 * closed pipe is a write error the command reports rather than a silent
 * death; rand() is seeded (the jitter of retry delays).
 */
void mm_prologue_init(const char *argv0);

/*
 * The shared options.  -q and -v set the log level and return 0 (go on).
 * -h prints usage(stdout), -V "NAME VERSION"; an option getopt refused
 * ('?' or ':') prints usage(stderr).  Those return 1 with *rc the exit
 * status: 0, or 1 when stdout could not be written (--help > /dev/full),
 * or 2 for the refused option.  Any other c returns 0 with *rc untouched:
 * the command handles it.
 */
int mm_prologue_option(int c, void (*usage)(FILE *), int *rc);

/*
 * A whole-number option's value s into *out: 0, or -1 after saying
 * "FLAG takes a number from MIN to MAX, not 'S'" (the command exits 2).
 */
int mm_prologue_number(const char *flag, const char *s, long min, long max, long *out);

/*
 * Catch SIGINT and SIGTERM: the flag returned holds the signal's number
 * once one came (the command stops at its next check and exits 128+n).
 */
volatile sig_atomic_t *mm_prologue_signals(void);

#endif
