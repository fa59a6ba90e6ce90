/* progress.c — bars on a terminal, lines in a log. */
#include "progress.h"
#include "size.h"
#include "log.h"
#include "mm.h"
#include "text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

struct slot {
	char *name;
	long long done, total;
	double t0;
	/* A short window for the current rate. */
	long long wbytes;
	double wtime, rate;
	int live;
};

struct mm_progress {
	enum mm_progress_mode mode;
	struct slot *s;
	size_t n;
	int drawn;              /* lines of the live display on screen */
	double last_draw, last_plain, t0;
	long long done_before;  /* bytes of files that left the display */
};

int mm_progress_mode_parse(const char *s)
{
	if (!strcmp(s, "auto"))
		return MM_PROGRESS_AUTO;
	if (!strcmp(s, "bar"))
		return MM_PROGRESS_BAR;
	if (!strcmp(s, "plain"))
		return MM_PROGRESS_PLAIN;
	if (!strcmp(s, "none"))
		return MM_PROGRESS_NONE;
	return -1;
}

struct mm_progress *mm_progress_new(enum mm_progress_mode mode)
{
	struct mm_progress *p = mm_xcalloc(1, sizeof(*p));

	if (mode == MM_PROGRESS_AUTO)
		mode = isatty(STDERR_FILENO) && !mm_log_is_json() ? MM_PROGRESS_BAR : MM_PROGRESS_PLAIN;
	if (mm_log_get_level() < MM_LOG_INFO)
		mode = MM_PROGRESS_NONE;
	p->mode = mode;
	p->t0 = p->last_plain = mm_now();
	return p;
}

enum mm_progress_mode mm_progress_mode(const struct mm_progress *p)
{
	return p->mode;
}

int mm_progress_add(struct mm_progress *p, const char *name, long long total)
{
	struct slot *s;

	p->s = mm_xrealloc(p->s, (p->n + 1) * sizeof(*p->s));
	s = &p->s[p->n];
	memset(s, 0, sizeof(*s));
	s->name = mm_visible(name);  /* drawn as it is on every redraw */
	s->total = total;
	s->t0 = s->wtime = mm_now();
	s->live = 1;
	return (int)p->n++;
}

void mm_progress_update(struct mm_progress *p, int id, long long done, long long total)
{
	struct slot *s = &p->s[id];
	double now = mm_now();

	if (total >= 0)
		s->total = total;
	s->done = done;
	if (now - s->wtime >= 1.0) {
		double r = (double)(done - s->wbytes) / (now - s->wtime);

		s->rate = s->rate > 0 ? 0.5 * s->rate + 0.5 * r : r;
		s->wbytes = done;
		s->wtime = now;
	}
}

static void erase(struct mm_progress *p)
{
	char buf[64];
	int i;

	if (p->mode != MM_PROGRESS_BAR || !p->drawn)
		return;
	/* Up to the first line of the display, clear to the end of the screen. */
	fputs("\r", stderr);
	for (i = 1; i < p->drawn; i++)
		fputs("\033[A", stderr);
	snprintf(buf, sizeof(buf), "\033[J");
	fputs(buf, stderr);
	p->drawn = 0;
}

static int term_width(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
		return ws.ws_col > 200 ? 200 : ws.ws_col;
	return 80;
}

static void eta(double secs, char *buf, size_t n)
{
	long s = (long)(secs + 0.5);

	if (secs < 0 || secs > 99 * 3600)
		snprintf(buf, n, "--:--");
	else if (s >= 3600)
		snprintf(buf, n, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
	else
		snprintf(buf, n, "%02ld:%02ld", s / 60, s % 60);
}

static void totals(struct mm_progress *p, long long *done, long long *total, double *rate, int *live)
{
	size_t i;

	*done = *total = 0;
	*rate = 0;
	*live = 0;
	for (i = 0; i < p->n; i++) {
		*done += p->s[i].done;
		if (p->s[i].total > 0)
			*total += p->s[i].total;
		if (p->s[i].live) {
			*rate += p->s[i].rate;
			(*live)++;
		}
	}
}

static void draw(struct mm_progress *p)
{
	int width = term_width(), lines = 0, live;
	long long done, total;
	double rate;
	char line[512], a[32], b[32], r[32], e[64];
	size_t i;

	erase(p);
	for (i = 0; i < p->n; i++) {
		struct slot *s = &p->s[i];
		int barw = width - 52, fill, k;
		char bar[256];

		if (!s->live)
			continue;
		if (barw > 40)
			barw = 40;
		if (barw < 10)
			barw = 10;
		fill = s->total > 0 ? (int)((double)s->done / (double)s->total * barw) : 0;
		if (fill > barw)
			fill = barw;
		for (k = 0; k < barw; k++)
			bar[k] = k < fill ? '#' : '-';
		bar[barw] = '\0';
		mm_format_size(s->done, a, sizeof(a));
		mm_format_size((long long)s->rate, r, sizeof(r));
		eta(s->rate > 0 && s->total > 0 ? (double)(s->total - s->done) / s->rate : -1, e, sizeof(e));
		snprintf(line, sizeof(line), "%-*.*s [%s] %9s %9s/s %s", width - barw - 36,
			 width - barw - 36, s->name, bar, a, r, e);
		fprintf(stderr, "%s%s", lines ? "\n" : "", line);
		lines++;
	}
	totals(p, &done, &total, &rate, &live);
	mm_format_size(done, a, sizeof(a));
	mm_format_size(total, b, sizeof(b));
	mm_format_size((long long)rate, r, sizeof(r));
	eta(rate > 0 && total > done ? (double)(total - done) / rate : -1, e, sizeof(e));
	snprintf(line, sizeof(line), "total: %s of %s, %s/s, %d active, ETA %s", a, b, r, live, e);
	fprintf(stderr, "%s%.*s", lines ? "\n" : "", width - 1, line);
	lines++;
	fflush(stderr);
	p->drawn = lines;
}

void mm_progress_end(struct mm_progress *p, int id, int ok)
{
	p->s[id].live = 0;
	p->s[id].rate = 0;
	(void)ok;
}

/* One log line at level, with the bars erased around it. */
static void say(struct mm_progress *p, int level, const char *fmt, va_list ap)
{
	erase(p);
	mm_vlog(level, fmt, ap);
	if (p->mode == MM_PROGRESS_BAR)
		draw(p);
}

void mm_progress_line(struct mm_progress *p, const char *fmt, ...)
{
	va_list ap;

	if (p->mode == MM_PROGRESS_NONE)
		return;
	va_start(ap, fmt);
	say(p, MM_LOG_INFO, fmt, ap);
	va_end(ap);
}

void mm_progress_warn(struct mm_progress *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(p, MM_LOG_WARN, fmt, ap);
	va_end(ap);
}

void mm_progress_tick(struct mm_progress *p, int force)
{
	double now = mm_now();

	if (p->mode == MM_PROGRESS_BAR) {
		if (force || now - p->last_draw >= 0.25) {
			draw(p);
			p->last_draw = now;
		}
	} else if (p->mode == MM_PROGRESS_PLAIN) {
		long long done, total;
		double rate;
		int live;
		char a[32], b[32], r[32];

		if (!force && now - p->last_plain < MM_PROGRESS_PLAIN_EVERY)
			return;
		p->last_plain = now;
		totals(p, &done, &total, &rate, &live);
		if (!live)
			return;
		mm_format_size(done, a, sizeof(a));
		mm_format_size(total, b, sizeof(b));
		mm_format_size((long long)rate, r, sizeof(r));
		mm_infof("progress: %s of %s, %s/s, %d file%s active", a, b, r, live,
			 live == 1 ? "" : "s");
	}
}

void mm_progress_clear(struct mm_progress *p)
{
	erase(p);
	fflush(stderr);
}

void mm_progress_free(struct mm_progress *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->n; i++)
		free(p->s[i].name);
	free(p->s);
	free(p);
}
