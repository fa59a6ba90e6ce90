/* log.c — diagnostics with secrets masked, handed to the caller's sink. */
#include "log.h"
#include "config.h"
#include "mm.h"
#include "text.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

static const char *prog = "mm";
static int level = MM_LOG_INFO;
static int json;
static mm_log_sink *sink;
static void *sink_data;

static pthread_mutex_t secrets_lock = PTHREAD_MUTEX_INITIALIZER;
static char **secrets;
static size_t nsecrets;

void mm_log_init(const char *progname)
{
	const char *f, *l, *slash;

	if (progname) {
		slash = strrchr(progname, '/');
		prog = slash ? slash + 1 : progname;
	}
	f = mm_env("MM_LOG_FORMAT", NULL);
	json = f && strcasecmp(f, "json") == 0;
	l = mm_env("MM_LOG_LEVEL", NULL);
	if (l) {
		if (!strcasecmp(l, "error") || !strcasecmp(l, "quiet"))
			level = MM_LOG_ERROR;
		else if (!strcasecmp(l, "warn") || !strcasecmp(l, "warning"))
			level = MM_LOG_WARN;
		else if (!strcasecmp(l, "info"))
			level = MM_LOG_INFO;
		else if (!strcasecmp(l, "debug"))
			level = MM_LOG_DEBUG;
	}
}

void mm_log_set_sink(mm_log_sink *fn, void *data)
{
	sink = fn;
	sink_data = data;
}

void mm_log_stderr(int l, const char *line, void *data)
{
	fputs(line, stderr);
}

static void deliver(int l, const char *line)
{
	if (sink)
		sink(l, line, sink_data);
}

const char *mm_progname(void)
{
	return prog;
}

void mm_log_set_level(int l)
{
	level = l < MM_LOG_QUIET ? MM_LOG_QUIET : l > MM_LOG_DEBUG ? MM_LOG_DEBUG : l;
}

int mm_log_get_level(void)
{
	return level;
}

int mm_log_is_json(void)
{
	return json;
}

void mm_log_secret(const char *value)
{
	size_t i;

	/* Short values would mask ordinary words; real tokens are long. */
	if (!value || strlen(value) < 4)
		return;
	pthread_mutex_lock(&secrets_lock);
	for (i = 0; i < nsecrets; i++)
		if (strcmp(secrets[i], value) == 0)
			goto out;
	secrets = mm_xrealloc(secrets, (nsecrets + 1) * sizeof(*secrets));
	secrets[nsecrets++] = mm_xstrdup(value);
out:
	pthread_mutex_unlock(&secrets_lock);
}

static const char *const secret_params[] = {
	"token", "access_token", "auth", "authorization", "api_key", "apikey", "key",
	"sig", "signature", "password", "passwd", "secret", "x-amz-signature",
	"x-amz-credential", "x-amz-security-token", "hf_token", NULL,
};

static int is_secret_param(const char *name, size_t n)
{
	const char *const *p;

	for (p = secret_params; *p; p++)
		if (strlen(*p) == n && strncasecmp(name, *p, n) == 0)
			return 1;
	return 0;
}

/* Mask query values, URL passwords and bearer tokens in s. */
static char *redact_patterns(const char *s)
{
	struct mm_buf b = {0};
	const char *p = s;

	while (*p) {
		/* name=value at the start, or after ?, &, ; or a space */
		if (p == s || strchr("?&; \t", p[-1])) {
			const char *eq = p;

			while (*eq && *eq != '=' && *eq != '&' && *eq != '#' && !isspace((unsigned char)*eq))
				eq++;
			if (*eq == '=' && eq > p && is_secret_param(p, (size_t)(eq - p))) {
				mm_buf_put(&b, p, (size_t)(eq - p + 1));
				mm_buf_put(&b, "***", 3);
				p = eq + 1;
				while (*p && *p != '&' && *p != '#' && !isspace((unsigned char)*p) &&
				       *p != '\'' && *p != '"')
					p++;
				continue;
			}
		}
		/*
		 * scheme://user:password@host.  A password may hold a raw '/',
		 * '?', '#' or '@' (a URL written by hand), so it runs to the
		 * last '@' of the word; masking too much beats showing it.
		 */
		if (p[0] == ':' && p[1] == '/' && p[2] == '/') {
			const char *u = p + 3, *q = u, *colon = NULL, *at = NULL;

			for (; *q && !isspace((unsigned char)*q) && *q != '\'' && *q != '"'; q++) {
				if (*q == ':' && !colon && !at)
					colon = q;
				else if (*q == '@')
					at = q;
			}
			if (at && colon && colon < at) {
				mm_buf_put(&b, p, (size_t)(colon - p + 1));
				mm_buf_put(&b, "***", 3);
				p = at;
				continue;
			}
		}
		/* Bearer <token> */
		if ((p == s || !isalnum((unsigned char)p[-1])) && strncasecmp(p, "bearer ", 7) == 0) {
			mm_buf_put(&b, p, 7);
			mm_buf_put(&b, "***", 3);
			p += 7;
			while (*p && !isspace((unsigned char)*p) && *p != '"' && *p != '\'')
				p++;
			continue;
		}
		mm_buf_put(&b, p, 1);
		p++;
	}
	if (!b.p)
		return mm_xstrdup("");
	return b.p;
}

char *mm_redact(const char *s)
{
	char *out = redact_patterns(s ? s : "");
	size_t i;

	pthread_mutex_lock(&secrets_lock);
	for (i = 0; i < nsecrets; i++) {
		const char *sec = secrets[i];
		size_t sl = strlen(sec);
		char *hit;
		struct mm_buf b = {0};
		const char *p = out;

		if (!strstr(out, sec))
			continue;
		while ((hit = strstr(p, sec))) {
			mm_buf_put(&b, p, (size_t)(hit - p));
			mm_buf_put(&b, "***", 3);
			p = hit + sl;
		}
		mm_buf_put(&b, p, strlen(p));
		free(out);
		out = b.p;
	}
	pthread_mutex_unlock(&secrets_lock);
	return out;
}

int mm_finish_stdout(void)
{
	if (fflush(stdout) == EOF || ferror(stdout) || fclose(stdout) == EOF) {
		mm_log(MM_LOG_ERROR, "cannot write to standard output");
		return MM_EFAIL;
	}
	return 0;
}

void mm_log_raw(const char *text)
{
	char *r = mm_redact(text), *line, *nl;
	struct mm_buf b = {0};

	/* Its own newlines stay; any other control character is escaped. */
	for (line = r; (nl = strchr(line, '\n')); line = nl + 1) {
		mm_visible_put(&b, line, (size_t)(nl - line));
		mm_buf_put(&b, "\n", 1);
	}
	mm_visible_put(&b, line, strlen(line));
	if (b.p)
		deliver(MM_LOG_ERROR, b.p);
	free(b.p);
	free(r);
}

static const char *level_name(int l)
{
	switch (l) {
	case MM_LOG_ERROR: return "error";
	case MM_LOG_WARN: return "warn";
	case MM_LOG_INFO: return "info";
	default: return "debug";
	}
}

void mm_vlog(int l, const char *fmt, va_list ap)
{
	char msg[4096], *r, *out = NULL;

	if (l > level && !(l == MM_LOG_ERROR))
		return;
	if (level == MM_LOG_QUIET && l != MM_LOG_ERROR)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	r = mm_redact(msg);
	if (!json) {
		/* Names, URLs and servers' messages in it may hold terminal escapes. */
		char *v = mm_visible(r);

		free(r);
		r = v;
	}
	if (json) {
		cJSON *o = cJSON_CreateObject();
		struct timeval tv;
		struct tm tm;
		char ts[40], *line;

		gettimeofday(&tv, NULL);
		gmtime_r(&tv.tv_sec, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(ts + strlen(ts), sizeof(ts) - strlen(ts), ".%03ldZ", (long)(tv.tv_usec / 1000));
		cJSON_AddStringToObject(o, "time", ts);
		cJSON_AddStringToObject(o, "level", level_name(l));
		cJSON_AddStringToObject(o, "prog", prog);
		cJSON_AddStringToObject(o, "msg", r);
		line = cJSON_PrintUnformatted(o);
		if (line)
			out = mm_xasprintf("%s\n", line);
		free(line);
		cJSON_Delete(o);
	} else if (l == MM_LOG_WARN) {
		out = mm_xasprintf("%s: warning: %s\n", prog, r);
	} else if (l == MM_LOG_DEBUG) {
		out = mm_xasprintf("%s: debug: %s\n", prog, r);
	} else {
		out = mm_xasprintf("%s: %s\n", prog, r);
	}
	if (out)
		deliver(l, out);
	free(out);
	free(r);
}

void mm_log(int l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mm_vlog(l, fmt, ap);
	va_end(ap);
}
