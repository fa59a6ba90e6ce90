/* prologue.c — the start every command shares. */
#include "prologue.h"
#include "log.h"
#include "mm.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = sig;
}

void mm_prologue_init(const char *argv0)
{
	mm_log_init(argv0);
	mm_log_set_sink(mm_log_stderr, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* The jitter of retry delays (fetch.c), different in every process. */
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
}

int mm_prologue_number(const char *flag, const char *s, long min, long max, long *out)
{
	if (mm_parse_long(s, min, max, out) == 0)
		return 0;
	mm_errorf("%s takes a number from %ld to %ld, not '%s'", flag, min, max, s);
	return -1;
}

int mm_prologue_option(int c, void (*usage)(FILE *), int *rc)
{
	switch (c) {
	case 'h':
		usage(stdout);
		*rc = mm_finish_stdout();
		return 1;
	case 'V':
		printf("%s %s\n", mm_progname(), MM_VERSION);
		*rc = mm_finish_stdout();
		return 1;
	case 'q':
		mm_log_set_level(MM_LOG_QUIET);
		return 0;
	case 'v':
		mm_log_set_level(MM_LOG_DEBUG);
		return 0;
	case '?':
	case ':':
		usage(stderr);
		*rc = MM_EUSAGE;
		return 1;
	}
	return 0;
}

volatile sig_atomic_t *mm_prologue_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	return &stop;
}
