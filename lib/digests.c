/* digests.c — the record of the sha256 each saveTo was proved by; see digests.h. */
#include "digests.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "manifest.h"
#include "paths.h"
#include "size.h"

#define HEADER "mm-digests 1"

struct rec {
	char *save_to;
	char sha[MM_HASH_HEXMAX + 1];   /* "" in a change: drop the record */
	enum mm_hash_source src;
	long long size;
	size_t seq;                     /* order of the changes: the last one wins */
};

struct table {
	struct rec *v;
	size_t n, cap;
};

struct mm_digests {
	char *dir;              /* for messages */
	int dirfd;              /* the state directory */
	struct table t;         /* as read */
	struct table chg;       /* this run's changes */
};

static void table_add(struct table *t, const struct rec *r)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->v = mm_xrealloc(t->v, t->cap * sizeof(*t->v));
	}
	t->v[t->n] = *r;
	t->v[t->n].save_to = mm_xstrdup(r->save_to);
	t->n++;
}

static void table_free(struct table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i].save_to);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

static int by_save_to(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;
	int c = strcmp(x->save_to, y->save_to);

	return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

static int source_ok(enum mm_hash_source s)
{
	return s == MM_SRC_HUGGINGFACE || s == MM_SRC_CIVITAI || s == MM_SRC_COMPUTED;
}

/* One line "<sha256> <source> <size> <saveTo>" (len bytes, no newline) into r: 0, or -1. */
static int parse_line(const char *line, size_t len, struct rec *r, char *buf)
{
	const char *p = line, *end = line + len, *sp;
	char word[16];
	long long size = 0;
	char why[128];

	if (memchr(line, '\0', len))
		return -1;
	if (len < 64 + 1 || p[64] != ' ' || strspn(p, "0123456789abcdef") < 64)
		return -1;
	memcpy(r->sha, p, 64);
	r->sha[64] = '\0';
	p += 65;
	sp = memchr(p, ' ', (size_t)(end - p));
	if (!sp || (size_t)(sp - p) >= sizeof(word))
		return -1;
	memcpy(word, p, (size_t)(sp - p));
	word[sp - p] = '\0';
	r->src = mm_hash_source_from_name(word);
	if (!source_ok(r->src))
		return -1;
	p = sp + 1;
	sp = memchr(p, ' ', (size_t)(end - p));
	if (!sp || sp == p || sp - p > 15)
		return -1;
	for (; p < sp; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		size = size * 10 + (*p - '0');
	}
	r->size = size;
	p = sp + 1;
	memcpy(buf, p, (size_t)(end - p));
	buf[end - p] = '\0';
	if (mm_path_check(buf, (size_t)(end - p), why, sizeof(why)) != 0)
		return -1;
	r->save_to = buf;
	return 0;
}

/*
 * The record file in dirfd into t, sorted, each saveTo once (one named
 * twice with different records is dropped).  A missing, foreign, odd or
 * headless file is an empty table; bad lines are counted in *bad.
 */
static void load(struct table *t, int dirfd, size_t *bad)
{
	struct stat st;
	struct mm_buf b = { 0 };
	char *line, *nl, *buf = NULL;
	size_t w, i, k;
	int fd;

	*bad = 0;
	fd = mm_state_openat(dirfd, MM_DIGESTS_FILE, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    st.st_size > MM_DIGESTS_MAX) {
		*bad = 1;
		close(fd);
		return;
	}
	for (;;) {
		ssize_t n;

		mm_buf_room(&b, 65536);
		n = read(fd, b.p + b.len, 65536);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		b.len += (size_t)n;
		if (b.len > (size_t)MM_DIGESTS_MAX)
			break;
	}
	close(fd);
	if (b.len > (size_t)MM_DIGESTS_MAX || b.len < sizeof(HEADER) ||
	    memcmp(b.p, HEADER "\n", sizeof(HEADER)) != 0) {
		*bad = b.len > 0;
		free(b.p);
		return;
	}
	buf = mm_xmalloc(b.len + 1);
	for (line = b.p + sizeof(HEADER); line < b.p + b.len; line = nl + 1) {
		struct rec r = { 0 };

		nl = memchr(line, '\n', (size_t)(b.p + b.len - line));
		if (!nl)        /* the last line may lack its newline: it is judged as any other */
			nl = b.p + b.len;
		if (parse_line(line, (size_t)(nl - line), &r, buf) != 0) {
			(*bad)++;
			continue;
		}
		r.seq = t->n;
		table_add(t, &r);
	}
	free(buf);
	free(b.p);
	if (t->n)
		qsort(t->v, t->n, sizeof(*t->v), by_save_to);
	/* A saveTo named twice: kept once if every record agrees, else dropped. */
	for (i = 0, w = 0; i < t->n; i = k) {
		int same = 1;

		for (k = i + 1; k < t->n && strcmp(t->v[k].save_to, t->v[i].save_to) == 0; k++)
			same &= strcmp(t->v[k].sha, t->v[i].sha) == 0 && t->v[k].src == t->v[i].src &&
				t->v[k].size == t->v[i].size;
		if (!same)
			(*bad)++;
		for (size_t x = i + 1; x < k; x++)
			free(t->v[x].save_to);
		if (same)
			t->v[w++] = t->v[i];
		else
			free(t->v[i].save_to);
	}
	t->n = w;
}

struct mm_digests *mm_digests_open(const struct mm_state *state, struct mm_err *err)
{
	struct mm_digests *d;
	size_t bad;
	int fd;

	fd = mm_state_dup(state, "digest record", err);
	if (fd < 0)
		return NULL;
	d = mm_xcalloc(1, sizeof(*d));
	d->dir = mm_xstrdup(state->path);
	d->dirfd = fd;
	load(&d->t, fd, &bad);
	if (bad)
		mm_warnf("%s/%s: %zu bad record%s ignored", d->dir, MM_DIGESTS_FILE, bad,
			 bad == 1 ? "" : "s");
	return d;
}

struct mm_digests *mm_digests_load(const char *state_dir, struct mm_err *err)
{
	struct mm_state st;
	struct mm_err e = { 0 };
	struct mm_digests *d;
	struct stat sb;

	if (err)
		err->code = 0;
	if (!state_dir || (lstat(state_dir, &sb) != 0 && errno == ENOENT))
		return NULL;
	if (mm_state_open(&st, state_dir, 0, &e) != 0) {
		if (err)
			*err = e;
		return NULL;
	}
	d = mm_digests_open(&st, err);
	mm_state_close(&st);
	return d;
}

static const struct rec *find(const struct table *t, const char *save_to)
{
	struct rec key = { .save_to = (char *)save_to };
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(t->v[mid].save_to, key.save_to);

		if (c == 0)
			return &t->v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int mm_digests_find(const struct mm_digests *d, const char *save_to, char sha[MM_HASH_HEXMAX + 1],
		    enum mm_hash_source *src, long long *size)
{
	const struct rec *r = d && save_to ? find(&d->t, save_to) : NULL;

	if (!r)
		return 0;
	memcpy(sha, r->sha, sizeof(r->sha));
	if (src)
		*src = r->src;
	if (size)
		*size = r->size;
	return 1;
}

enum mm_hash_source mm_digests_expected(const struct mm_digests *d, const struct mm_model *m,
					struct mm_hash_spec *spec)
{
	enum mm_hash_source src = mm_upstream_expected(m, spec);
	long long size;

	if (src != MM_SRC_NONE || m->hash)
		return src;
	if (!mm_digests_find(d, m->save_to, spec->hex, &src, &size))
		return MM_SRC_NONE;
	if (!mm_size_fits(m->size, m->size_tol, size)) {
		memset(spec, 0, sizeof(*spec));
		return MM_SRC_NONE;
	}
	spec->algo = MM_HASH_SHA256;
	return src;
}

void mm_digests_set(struct mm_digests *d, const char *save_to, const char *sha,
		    enum mm_hash_source src, long long size)
{
	struct rec r = { .save_to = (char *)save_to, .src = src, .size = size };

	if (!d || !save_to)
		return;
	if (sha) {
		if (strlen(sha) != 64 || strspn(sha, "0123456789abcdef") != 64 || !source_ok(src) ||
		    size < 0)
			return;
		memcpy(r.sha, sha, 65);
	}
	r.seq = d->chg.n;
	table_add(&d->chg, &r);
}

/* The record file: the disk's records, this run's changes over them (the last change of a saveTo wins). */
static int write_file(const struct table *disk, struct table *chg, int dirfd, struct mm_err *err)
{
	struct mm_buf b = { 0 };
	char line[64 + 32 + 32];
	size_t i = 0, k = 0;
	int rc;

	if (chg->n)
		qsort(chg->v, chg->n, sizeof(*chg->v), by_save_to);
	mm_buf_put(&b, HEADER "\n", sizeof(HEADER));
	while (i < disk->n || k < chg->n) {
		const struct rec *r;
		int c = i == disk->n ? 1 : k == chg->n ? -1 : strcmp(disk->v[i].save_to, chg->v[k].save_to);

		if (c < 0) {
			r = &disk->v[i++];
		} else {
			/* The last change of this saveTo; a record on disk it replaces is skipped. */
			while (k + 1 < chg->n && strcmp(chg->v[k + 1].save_to, chg->v[k].save_to) == 0)
				k++;
			r = &chg->v[k++];
			if (c == 0)
				i++;
			if (!r->sha[0])
				continue;
		}
		snprintf(line, sizeof(line), "%s %s %lld ", r->sha, mm_hash_source_name(r->src), r->size);
		mm_buf_put(&b, line, strlen(line));
		mm_buf_put(&b, r->save_to, strlen(r->save_to));
		mm_buf_put(&b, "\n", 1);
	}
	rc = mm_state_write(dirfd, MM_DIGESTS_FILE, b.p, b.len, err);
	free(b.p);
	return rc;
}

int mm_digests_save(struct mm_digests *d, struct mm_err *err)
{
	struct table disk = { 0 };
	size_t bad;
	int lfd, rc;

	if (!d || d->chg.n == 0)
		return 0;
	lfd = mm_state_openat(d->dirfd, MM_DIGESTS_FILE ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lfd < 0 || flock(lfd, LOCK_EX) != 0) {
		rc = mm_error(err, MM_EFAIL, "cannot lock '%s/%s.lock': %s", d->dir, MM_DIGESTS_FILE,
			      strerror(errno));
		if (lfd >= 0)
			close(lfd);
		return rc;
	}
	/* Another run may have saved since this one read: merge into what is there now. */
	load(&disk, d->dirfd, &bad);
	rc = write_file(&disk, &d->chg, d->dirfd, err);
	if (rc)
		mm_error_prefix(err, "%s", d->dir);
	else
		table_free(&d->chg);
	table_free(&disk);
	close(lfd);
	return rc;
}

size_t mm_digests_count(const struct mm_digests *d)
{
	return d ? d->t.n : 0;
}

void mm_digests_free(struct mm_digests *d)
{
	if (!d)
		return;
	table_free(&d->t);
	table_free(&d->chg);
	close(d->dirfd);
	free(d->dir);
	free(d);
}
