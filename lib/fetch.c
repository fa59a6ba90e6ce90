/*
 * fetch.c — downloads on the multi interface, hashed while they stream.
 *
 * A file's pieces come from its sources (sources.h) at once: each new
 * piece from the usable peer or mirror with the fewest of its transfers,
 * from the origin only when none is left.  A source that fails is "gone"
 * for the rest of the file (source_gone); each piece has one writer
 * (split_piece), kept in memory in struct mm_piece.  A file that fails its
 * hash goes to find_liar(): the pieces are checked against other sources
 * (CHECK_*), and the one liar is named in name_liar(), the only place
 * that names one.
 */
#include "fetch.h"
#include "auth.h"
#include "config.h"
#include "diskspace.h"
#include "digests.h"
#include "hash.h"
#include "http.h"
#include "log.h"
#include "partfile.h"
#include "paths.h"
#include "state.h"
#include "size.h"
#include "streamhash.h"
#include "upstream.h"
#include "vcache.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_RESTARTS 3
#define STATE_EVERY 1.0                 /* seconds between resume-state saves */
#define PIECE_MIN (2LL << 20)
#define PIECE_MAX (64LL << 20)
#define PROBE_TIMEOUT 60L
#define RAMP_WINDOW 0.3                 /* seconds each connection count is measured */
#define RAMP_GAIN 1.5                   /* two connections must beat one by this much */
/* The validator of a part file whose bytes came from a peer or mirror: the sha256 is its identity. */
#define CAS_VALIDATOR "mm-content-addressed"

/*
 * How a piece's bytes are checked after a file of several sources failed
 * its hash (struct mm_piece's check): see find_liar().
 */
enum {
	CHECK_NONE,
	CHECK_PEER,     /* fetch it again from another source and compare */
	CHECK_ORIGIN,   /* that source (vs) disagreed at byte start + pos: the origin's byte decides */
	CHECK_OK,       /* two sources agree on it */
};

enum jstate {
	J_SKIP,         /* failed before starting, or no work */
	J_PRESENT,
	J_LINK,         /* gets its bytes from another job or a present file */
	J_QUEUED,
	J_LOCKWAIT,
	J_RUNNING,
	J_DONE,
	J_FAILED,
};

/* How many connections a segmented file may use: see ramp_step(). */
enum { RAMP_ONE, RAMP_SETTLE, RAMP_TWO, RAMP_DONE };

struct job {
	struct mm_model *model;
	int state;
	enum mm_fetch_status status;    /* what its "fetch" object says, once it has one */
	int has_hash;
	struct mm_hash_spec spec;
	char origin[MM_HASH_HEXMAX + 1];        /* the sha256 the origin publishes, or empty */
	enum mm_hash_source origin_src;
	char sha256[MM_HASH_HEXMAX + 1];        /* the file's, once downloaded and proved */
	enum mm_hash_source src;                /* what proved it */
	const char *token;
	int unauth;             /* the token may not go to this URL (auth.h) */
	long long hint;         /* manifest size or -1 */
	long long tol;          /* how far from hint a file may be (size.h); 0: exact */
	struct job *link_from;  /* J_LINK: where the bytes come from */

	char *dir, *base, *part, *sidecar, *sidecar_tmp;
	int dirfd, fd, lockfd;
	int started;            /* STARTED was reported */
	int lock_msg;
	double next_lock_try;

	/* What the server said. */
	long long size;         /* total bytes, -1 unknown */
	char validator[256];    /* strong ETag or Last-Modified, for If-Range */
	int resumable, segmented;

	struct mm_piece *pieces;
	size_t npieces, fcur;
	int nactive, want;
	int ramp;
	double ramp_t, rate_one;
	long long recv, ramp_recv;      /* body bytes received (flushed or not) */
	int failures, attempts, restarts;
	double not_before, t0, t1, last_save;
	long long bytes_run, resumed_from;
	char error[512];
	const char *reason;     /* why it failed, for metrics (metrics.h): a fixed word */

	/* Where the bytes come from (sources.h): nearest first, the origin last. */
	struct mm_source_list srcs;
	size_t cur;             /* the nearest source still used: the first request's */
	long long *sent;        /* bytes of the part file each source wrote since byte 0 */
	char *gone;             /* each source: left for the rest of this file */
	int rounds;             /* times its bytes were found wrong */
	size_t named;           /* j->liars.n when they last were */
	long long from[MM_SOURCE_KINDS];        /* bytes written, by kind of source */
	struct mm_list liars;   /* sources named for bytes that failed its hash */

	/* Followed by the hashing threads (streamhash.h). */
	struct mm_streamhash sh;
};

struct xfer {
	CURL *h;
	struct run *r;
	struct job *j;
	long piece;             /* -1: the first request, before the size is known */
	size_t src;             /* the job's source it asks (j->srcs) */
	long long off, end;     /* next byte to write; end exclusive or -1 */
	long long got;
	int checked, reached_end, restart, werr, probe, probe_get;
	int differs;            /* its bytes are not those on disk it was checking ... */
	long long diff;         /* ... from this offset on */
	char *cbuf;             /* the bytes on disk it compares with */
	long status;
	struct mm_http_answer ans;      /* what its headers said */
	int encoded;            /* a 2xx body came encoded: a failed try */
	struct curl_slist *hdrs;
	char errbuf[CURL_ERROR_SIZE];
	/* Body bytes gathered for one large pwrite (libcurl hands over 16 KiB at a time). */
	char *wbuf;
	size_t wlen, wcap;
	long long woff;
	struct xfer *next;
};

struct run {
	const struct mm_fetch_opts *o;
	struct mm_manifest *m;
	int rootfd;
	int lockdirfd;                  /* MM_STATE_DIR/locks; -1: none */
	struct job *jobs;
	size_t n;
	CURLM *multi;
	struct xfer *xfers;
	int nx;
	struct mm_shpool pool;
	struct mm_streamhash **shs;     /* each job's, for the pool */
	unsigned seed;                  /* for the jitter of retries */
	struct mm_vcache *vc;
	struct mm_digests *dg;          /* the sha256 of each saveTo, across runs (digests.h) */
	double t0;
	long long bytes;
	long long from[MM_SOURCE_KINDS];
	struct mm_list liars;           /* sources skipped for the rest of the run */
};

/* ------------------------------------------------------------ helpers */

static double jitter(struct run *r)
{
	return 0.5 + (double)rand_r(&r->seed) / RAND_MAX;
}

/* Report kind for j (NULL: the run) to the caller, who fills in the rest through ev. */
static void emit(struct run *r, struct job *j, enum mm_fetch_event_kind kind, struct mm_fetch_event *ev)
{
	struct mm_fetch_event none;

	if (!r->o->on_event)
		return;
	if (!ev) {
		memset(&none, 0, sizeof(none));
		ev = &none;
	}
	ev->kind = kind;
	ev->model = j ? j->model : NULL;
	ev->index = j ? (size_t)(j - r->jobs) : 0;
	r->o->on_event(ev, r->o->event_arg);
}

/* j stopped with j->error: tell the caller only. */
static void emit_failed_quietly(struct run *r, struct job *j)
{
	struct mm_fetch_event ev = { .text = j->error };

	emit(r, j, MM_FETCH_EV_FAILED, &ev);
}

/* j failed with j->error: tell the caller, and the log. */
static void said_failed(struct run *r, struct job *j)
{
	struct mm_fetch_event ev = { .text = j->error };

	emit(r, j, MM_FETCH_EV_FAILED, &ev);
	mm_errorf("%s: %s", j->model->name, j->error);
}

static int size_ok(const struct job *j, long long have)
{
	return mm_size_fits(j->hint, j->tol, have);
}

static void set_error(struct job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(struct job *j, const char *fmt, ...)
{
	va_list ap;
	char *r;

	va_start(ap, fmt);
	vsnprintf(j->error, sizeof(j->error), fmt, ap);
	va_end(ap);
	r = mm_redact(j->error);
	snprintf(j->error, sizeof(j->error), "%s", r);
	free(r);
}

/* ------------------------------------------------------------ sources */

/* Source k of j; NULL before the sources are planned (the origin). */
static const struct mm_source *src_at(const struct job *j, size_t k)
{
	return k < j->srcs.n ? &j->srcs.v[k] : NULL;
}

static const struct mm_source *cur_src(const struct job *j)
{
	return src_at(j, j->cur);
}

static int is_origin(const struct job *j, size_t k)
{
	const struct mm_source *s = src_at(j, k);

	return !s || s->kind == MM_SOURCE_ORIGIN;
}

static int from_origin(const struct job *j)
{
	return is_origin(j, j->cur);
}

/* The origin's place in j's sources: always the last. */
static size_t origin_of(const struct job *j)
{
	return j->srcs.n > 0 ? j->srcs.n - 1 : 0;
}

static const char *src_url(const struct job *j, size_t k)
{
	const struct mm_source *s = src_at(j, k);

	return s ? s->url : j->model->url;
}

static const char *src_label(const struct job *j, size_t k)
{
	const struct mm_source *s = src_at(j, k);

	return s ? s->label : "origin";
}

/* A source that lied is not asked again in this run; the origin always is. */
static int src_skipped(const struct run *r, const struct mm_source *s)
{
	return s->kind != MM_SOURCE_ORIGIN && mm_list_has(&r->liars, s->label);
}

/* Source k may still be asked for j's bytes. */
static int src_usable(const struct run *r, const struct job *j, size_t k)
{
	if (is_origin(j, k))
		return 1;
	return !(j->gone && j->gone[k]) && !src_skipped(r, &j->srcs.v[k]);
}

/* From source k on, the first one still usable (the origin, at worst). */
static size_t src_from(const struct run *r, const struct job *j, size_t k)
{
	while (k + 1 < j->srcs.n && !src_usable(r, j, k))
		k++;
	return k;
}

/* How many sources but the origin may still be asked for j's bytes. */
static int usable_peers(const struct run *r, const struct job *j)
{
	size_t k;
	int n = 0;

	for (k = 0; k + 1 < j->srcs.n; k++)
		n += src_usable(r, j, k);
	return n;
}

/* Transfers of j asking source k now. */
static int src_load(const struct run *r, const struct job *j, size_t k)
{
	const struct xfer *x;
	int n = 0;

	for (x = r->xfers; x; x = x->next)
		n += x->j == j && x->src == k;
	return n;
}

/*
 * The source for piece p of j: the usable one, the origin aside, with the
 * fewest transfers of j (the nearest on a tie), so a file's pieces spread
 * over its peers and mirrors.  Never the source whose bytes p is checked
 * against.  The origin when no other is left, or when it must settle a
 * disagreement.
 */
static size_t pick_src(const struct run *r, const struct job *j, const struct mm_piece *p)
{
	size_t k, best = origin_of(j);
	int load, best_load = 0;

	if (p->check == CHECK_ORIGIN)
		return best;
	for (k = 0; k + 1 < j->srcs.n; k++) {
		if (!src_usable(r, j, k) || (p->check == CHECK_PEER && (size_t)p->by == k + 1))
			continue;
		load = src_load(r, j, k);
		if (best == origin_of(j) || load < best_load) {
			best = k;
			best_load = load;
		}
	}
	return best;
}

/*
 * The token a transfer of j carries: peers get MM_SERVE_TOKEN alone; a
 * mirror gets the model's token only where auth.h binds it to the mirror's
 * host; the origin gets the model's.
 */
static const char *src_token(const struct run *r, const struct job *j, size_t k)
{
	const struct mm_source *s = src_at(j, k);
	char why[400];

	if (!s || s->kind == MM_SOURCE_ORIGIN)
		return j->token;
	if (s->kind == MM_SOURCE_PEER)
		return mm_sources_peer_token(r->o->sources);
	if (j->token && j->model->auth_env &&
	    mm_auth_check(r->o->auth, j->model->auth_env, s->url, why, sizeof(why)) == MM_AUTH_OK)
		return j->token;
	return NULL;
}

/* --------------------------------------------------------- hashing threads */

static void hash_forget(struct run *r, struct job *j, int dead)
{
	mm_streamhash_forget(&r->pool, &j->sh, dead);
}

/* Tell the hashing threads how far the file is contiguous on disk. */
static void publish(struct run *r, struct job *j)
{
	long long f;

	while (j->fcur < j->npieces && j->pieces[j->fcur].state == MM_PIECE_DONE)
		j->fcur++;
	if (j->npieces == 0)
		return;
	if (j->fcur < j->npieces)
		f = j->pieces[j->fcur].start + j->pieces[j->fcur].pos;
	else
		f = j->size;
	mm_streamhash_publish(&r->pool, &j->sh, f, j->fcur == j->npieces && j->size >= 0);
}

static void wake_multi(void *multi)
{
	curl_multi_wakeup(multi);
}

/* ------------------------------------------------------ resume state */

static void state_save(struct run *r, struct job *j)
{
	struct mm_partstate st;

	if (j->dirfd < 0 || !j->resumable || j->npieces == 0)
		return;
	memset(&st, 0, sizeof(st));
	st.size = j->size;
	snprintf(st.validator, sizeof(st.validator), "%s", j->validator);
	st.segmented = j->segmented;
	st.pieces = j->pieces;
	st.npieces = j->npieces;
	mm_partfile_save(j->dirfd, j->sidecar, j->sidecar_tmp, j->model->url, &st);
	j->last_save = mm_now();
	(void)r;
}

static void state_drop(struct job *j)
{
	if (j->dirfd >= 0)
		mm_partfile_drop(j->dirfd, j->sidecar);
}

/* Load the resume state; 0 when the part file can be continued. */
static int state_load(struct job *j, long long part_size)
{
	struct mm_partstate st;

	free(j->pieces);
	j->pieces = NULL;
	j->npieces = 0;
	if (mm_partfile_load(j->dirfd, j->sidecar, j->model->url, part_size, &st) != 0) {
		j->size = -1;
		j->validator[0] = '\0';
		j->segmented = 0;
		return -1;
	}
	j->size = st.size;
	snprintf(j->validator, sizeof(j->validator), "%s", st.validator);
	j->segmented = st.segmented;
	j->pieces = st.pieces;
	j->npieces = st.npieces;
	j->resumable = 1;
	return 0;
}

/* ------------------------------------------------------------ transfers */

static void xfer_free(struct xfer *x)
{
	if (x->h)
		curl_easy_cleanup(x->h);
	curl_slist_free_all(x->hdrs);
	free(x->wbuf);
	free(x->cbuf);
	free(x);
}

/*
 * A piece under check: 0 when the n gathered bytes are those on disk (they
 * count as checked, not written); 1 when they differ.
 */
static int xfer_compare(struct xfer *x, struct mm_piece *p, size_t n)
{
	struct job *j = x->j;
	size_t got = 0;

	if (!x->cbuf)
		x->cbuf = mm_xmalloc(x->wcap);
	while (got < n) {
		ssize_t k = pread(j->fd, x->cbuf + got, n - got, (off_t)(x->woff + (long long)got));

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			x->diff = x->woff;
			return 1;
		}
		got += (size_t)k;
	}
	if (memcmp(x->cbuf, x->wbuf, n) != 0) {
		for (got = 0; x->cbuf[got] == x->wbuf[got]; got++)
			;
		x->diff = x->woff + (long long)got;
		return 1;
	}
	p->pos += (long long)n;
	x->r->bytes += (long long)n;
	x->woff += (long long)n;
	return 0;
}

/* Write the gathered bytes; only written bytes count as on disk. */
static int xfer_flush(struct xfer *x)
{
	struct job *j = x->j;
	struct mm_piece *p;
	size_t n = x->wlen;

	if (n == 0)
		return 0;
	x->wlen = 0;
	if (x->werr || x->differs)
		return -1;
	p = &j->pieces[x->piece];
	if (p->check == CHECK_PEER || p->check == CHECK_ORIGIN) {
		if (xfer_compare(x, p, n) == 0)
			return 0;
		x->differs = 1;
		return -1;
	}
	if (mm_part_pwrite(j->fd, x->wbuf, n, x->woff) < 0) {
		x->werr = errno;
		return -1;
	}
	p->pos += (long long)n;
	p->by = (int)x->src + 1;
	j->bytes_run += (long long)n;
	x->r->bytes += (long long)n;
	{
		enum mm_source_kind k = x->src < j->srcs.n ? j->srcs.v[x->src].kind : MM_SOURCE_ORIGIN;

		if (x->src < j->srcs.n)
			j->sent[x->src] += (long long)n;
		j->from[k] += (long long)n;
		x->r->from[k] += (long long)n;
	}
	x->woff += (long long)n;
	return 0;
}

static long long piece_size(const struct run *r, long long size)
{
	long long p = size / ((long long)r->o->segments * 4);

	if (p < PIECE_MIN)
		p = PIECE_MIN;
	if (p > PIECE_MAX)
		p = PIECE_MAX;
	return p;
}

/*
 * A segmented file starts on one connection unless --segments was given.
 * After RAMP_WINDOW a second one joins; once it is under way the two are
 * measured, and the rest of the connections open only if the two moved
 * RAMP_GAIN times the bytes one did.  A server or CDN that caps each
 * connection gains from every one; where the link as a whole or the CPU is
 * the limit (loopback, a saturated NIC) more connections only cost.
 */
static void ramp_start(struct run *r, struct job *j)
{
	j->want = r->o->segments;
	j->ramp = RAMP_DONE;
	/* Several sources: each gets pieces at once, whatever one connection does. */
	if (j->segmented && r->o->adaptive && r->o->segments > 1 && usable_peers(r, j) < 2) {
		j->want = 1;
		j->ramp = RAMP_ONE;
		j->ramp_t = 0;
	}
}

static void ramp_step(struct run *r, struct job *j, double now)
{
	double rate;

	if (j->ramp == RAMP_DONE || j->nactive == 0)
		return;
	if (j->ramp_t == 0 || now - j->ramp_t < RAMP_WINDOW) {
		if (j->ramp_t == 0) {
			j->ramp_t = now;
			j->ramp_recv = j->recv;
		}
		return;
	}
	rate = (double)(j->recv - j->ramp_recv) / (now - j->ramp_t);
	switch (j->ramp) {
	case RAMP_ONE:
		j->rate_one = rate;
		j->want = 2;
		j->ramp = RAMP_SETTLE;  /* the second connection's first window is its start */
		break;
	case RAMP_SETTLE:
		j->ramp = RAMP_TWO;
		break;
	default:
		j->want = rate >= RAMP_GAIN * j->rate_one ? r->o->segments : 1;
		j->ramp = RAMP_DONE;
		mm_debugf("%s: one connection %.1f MB/s, two %.1f MB/s: %d connection%s",
			  j->model->name, j->rate_one / 1e6, rate / 1e6, j->want, j->want == 1 ? "" : "s");
		break;
	}
	j->ramp_t = now;
	j->ramp_recv = j->recv;
}

/* The first answer told us the size: lay out the pieces. */
static void plan_pieces(struct run *r, struct job *j, struct xfer *x)
{
	const struct mm_fetch_opts *o = r->o;
	long long ps, s;

	j->size = x->ans.clen;
	j->validator[0] = '\0';
	if (!is_origin(j, x->src))
		snprintf(j->validator, sizeof(j->validator), "%s", CAS_VALIDATOR);
	else if (x->ans.etag[0] && strncmp(x->ans.etag, "W/", 2) != 0)
		snprintf(j->validator, sizeof(j->validator), "%s", x->ans.etag);
	else if (x->ans.lastmod[0])
		snprintf(j->validator, sizeof(j->validator), "%s", x->ans.lastmod);
	j->resumable = j->size > 0 && j->validator[0] && x->ans.ranges;
	j->segmented = j->resumable && o->segments > 1 && j->size >= o->segment_min;
	ramp_start(r, j);
	free(j->pieces);
	j->pieces = NULL;
	j->npieces = 0;
	j->fcur = 0;
	ps = j->segmented ? piece_size(r, j->size) : (j->size > 0 ? j->size : 0);
	if (j->size <= 0) {
		j->pieces = mm_xcalloc(1, sizeof(*j->pieces));
		j->pieces[0].end = j->size == 0 ? 0 : -1;
		j->npieces = 1;
	} else {
		j->npieces = (size_t)((j->size + ps - 1) / ps);
		j->pieces = mm_xcalloc(j->npieces, sizeof(*j->pieces));
		for (s = 0; s < (long long)j->npieces; s++) {
			j->pieces[s].start = s * ps;
			j->pieces[s].end = (s + 1) * ps < j->size ? (s + 1) * ps : j->size;
		}
	}
	j->pieces[0].state = MM_PIECE_ACTIVE;
	x->piece = 0;
	x->end = j->pieces[0].end;
	if (j->started) {
		struct mm_fetch_event ev = { .done = 0, .total = j->size };

		emit(r, j, MM_FETCH_EV_PROGRESS, &ev);
	}
	state_save(r, j);
}

/* Judge the answer once, before its first body byte; -1 aborts the transfer. */
static int check_response(struct run *r, struct xfer *x)
{
	struct job *j = x->j;

	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
	if (x->status < 200 || x->status >= 300)
		return 0;
	/* mm asked for the file as it is (identity): gzip of it is not it. */
	if (x->ans.cenc[0] && strcasecmp(x->ans.cenc, "identity") != 0) {
		x->encoded = 1;
		return -1;
	}
	if (x->piece < 0) {
		if (x->status != 200) {
			x->restart = 1;
			return -1;
		}
		/* A peer or mirror with a file of another size than the manifest's has another file. */
		if (!is_origin(j, x->src) && x->ans.clen >= 0 && !size_ok(j, x->ans.clen)) {
			x->restart = 1;
			return -1;
		}
		plan_pieces(r, j, x);
		return 0;
	}
	/* A ranged request: anything but the bytes asked for means the file changed. */
	if (x->status != 206 || x->ans.cr_start != x->off || (x->ans.cr_total >= 0 && x->ans.cr_total != j->size)) {
		x->restart = 1;
		return -1;
	}
	return 0;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb, use = n;

	if (x->probe) {
		/* A 1-byte ranged GET only wanted the headers. */
		x->reached_end = 1;
		return 0;
	}
	if (!x->checked) {
		x->checked = 1;
		if (check_response(x->r, x) < 0)
			return 0;
	}
	if (x->status < 200 || x->status >= 300)
		return n;               /* an error page: not part of the file */
	if (x->end >= 0 && x->off + (long long)n > x->end) {
		use = (size_t)(x->end - x->off);
		x->reached_end = 1;
	}
	if (!x->wbuf) {
		x->wbuf = mm_xmalloc(x->wcap);
		x->woff = x->off;
	}
	x->off += (long long)use;
	x->got += (long long)use;
	x->j->recv += (long long)use;
	while (use > 0) {
		size_t k = x->wcap - x->wlen < use ? x->wcap - x->wlen : use;

		memcpy(x->wbuf + x->wlen, data, k);
		x->wlen += k;
		data += k;
		use -= k;
		if (x->wlen == x->wcap && xfer_flush(x) < 0)
			return 0;
	}
	return x->reached_end ? 0 : n;
}

static void set_rates(struct run *r)
{
	struct xfer *x;

	if (r->o->limit_rate <= 0 || r->nx == 0)
		return;
	for (x = r->xfers; x; x = x->next) {
		curl_off_t each = (curl_off_t)(r->o->limit_rate / r->nx);

		curl_easy_setopt(x->h, CURLOPT_MAX_RECV_SPEED_LARGE, each > 0 ? each : (curl_off_t)1);
	}
}

/* The answer's headers, and the sha256 a Hugging Face hop publishes (upstream.h). */
static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;
	static const char name[] = "x-linked-etag:";
	char value[128], *url = NULL;

	if (x->j && !x->j->origin[0] && n > sizeof(name) - 1 && n - (sizeof(name) - 1) < sizeof(value) &&
	    strncasecmp(data, name, sizeof(name) - 1) == 0) {
		memcpy(value, data + sizeof(name) - 1, n - (sizeof(name) - 1));
		value[n - (sizeof(name) - 1)] = '\0';
		/* Only this hop's URL says whether the header is the hub's (not the CDN's). */
		curl_easy_getinfo(x->h, CURLINFO_EFFECTIVE_URL, &url);
		if (mm_upstream_hf_digest(x->r->o->upstream, url, value, x->j->origin))
			x->j->origin_src = MM_SRC_HUGGINGFACE;
	}
	return mm_http_on_header(data, size, nmemb, &x->ans);
}

/* A transfer of j from source k. */
static struct xfer *xfer_new(struct run *r, struct job *j, size_t k)
{
	struct xfer *x = mm_xcalloc(1, sizeof(*x));
	struct mm_http_policy pol;

	memset(&pol, 0, sizeof(pol));
	pol.bearer = src_token(r, j, k);
	pol.stall_timeout = r->o->stall_timeout;
	x->r = r;
	x->j = j;
	x->piece = -1;
	x->end = -1;
	x->src = k;
	mm_http_answer_reset(&x->ans);
	x->h = curl_easy_init();
	mm_http_setup(x->h, src_url(j, k), &pol, x->errbuf, NULL);
	/* mm-serve never redirects: a peer that does is a failed source. */
	if (src_at(j, k) && src_at(j, k)->kind == MM_SOURCE_PEER)
		curl_easy_setopt(x->h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(x->h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(x->h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
	/* A model file's bytes, as they are: no server may compress them. */
	x->hdrs = curl_slist_append(NULL, "Accept-Encoding: identity");
	curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hdrs);
	return x;
}

static void xfer_add(struct run *r, struct xfer *x)
{
	x->next = r->xfers;
	r->xfers = x;
	r->nx++;
	if (x->j)
		x->j->nactive++;
	curl_multi_add_handle(r->multi, x->h);
	set_rates(r);
}

static void xfer_remove(struct run *r, struct xfer *x)
{
	struct xfer **pp;

	for (pp = &r->xfers; *pp; pp = &(*pp)->next)
		if (*pp == x) {
			*pp = x->next;
			break;
		}
	r->nx--;
	if (x->j)
		x->j->nactive--;
	curl_multi_remove_handle(r->multi, x->h);
	set_rates(r);
}

/*
 * Piece i holds bytes of one source and another is to write the rest: the
 * rest becomes a piece of its own, so each piece has one writer.
 */
static void split_piece(struct run *r, struct job *j, size_t i)
{
	struct mm_piece *p;
	struct xfer *x;

	j->pieces = mm_xrealloc(j->pieces, (j->npieces + 1) * sizeof(*j->pieces));
	memmove(&j->pieces[i + 2], &j->pieces[i + 1], (j->npieces - i - 1) * sizeof(*j->pieces));
	j->npieces++;
	p = &j->pieces[i];
	j->pieces[i + 1] = (struct mm_piece){ .start = p->start + p->pos, .end = p->end,
					      .state = MM_PIECE_TODO, .not_before = p->not_before };
	p->end = p->start + p->pos;
	p->state = MM_PIECE_DONE;
	for (x = r->xfers; x; x = x->next)
		if (x->j == j && x->piece > (long)i)
			x->piece++;
}

/* Start a request for piece i of j, or the first request when i < 0. */
static void start_piece(struct run *r, struct job *j, long i)
{
	size_t k = i >= 0 ? pick_src(r, j, &j->pieces[i]) : j->cur;
	struct xfer *x;
	/* libcurl 7.88 does not hold --limit-rate with large receive buffers. */
	long bufsz = r->o->segments * r->o->jobs > 32 || r->o->limit_rate > 0 ? 64L << 10 : 256L << 10;
	long long wcap = (8LL << 20) / ((long long)r->o->segments * r->o->jobs);

	if (i >= 0) {
		struct mm_piece *p = &j->pieces[i];

		if (p->check == CHECK_NONE && p->pos > 0 && p->by > 0 && (size_t)p->by != k + 1 &&
		    p->end > 0 && j->resumable)
			split_piece(r, j, (size_t)i++);
	}
	x = xfer_new(r, j, k);
	/* Memory stays bounded however many transfers run: 8 MiB of buffers in all. */
	x->wcap = (size_t)(wcap < (64 << 10) ? (64 << 10) : wcap > (512 << 10) ? (512 << 10) : wcap);
	curl_easy_setopt(x->h, CURLOPT_BUFFERSIZE, bufsz);
	if (i >= 0) {
		struct mm_piece *p = &j->pieces[i];
		char range[64], *hdr;

		x->piece = i;
		x->off = p->start + p->pos;
		/* A disagreement: the origin's first byte that differs is enough. */
		x->end = p->check == CHECK_ORIGIN ? x->off + 1 : p->end;
		snprintf(range, sizeof(range), "%lld-%lld", x->off, x->end - 1);
		curl_easy_setopt(x->h, CURLOPT_RANGE, range);
		/* A validator is the origin's; other sources are asked by the sha256 (CAS_VALIDATOR). */
		if (is_origin(j, k) && j->validator[0] && strcmp(j->validator, CAS_VALIDATOR) != 0) {
			hdr = mm_xasprintf("If-Range: %s", j->validator);
			x->hdrs = curl_slist_append(x->hdrs, hdr);
			free(hdr);
			curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hdrs);
		}
		p->state = MM_PIECE_ACTIVE;
	}
	xfer_add(r, x);
}

/* Stop every transfer of j. */
static void abort_job(struct run *r, struct job *j)
{
	struct xfer *x, *next;

	for (x = r->xfers; x; x = next) {
		next = x->next;
		if (x->j != j)
			continue;
		if (x->piece >= 0 && (size_t)x->piece < j->npieces) {
			xfer_flush(x);
			if (j->pieces[x->piece].state == MM_PIECE_ACTIVE)
				j->pieces[x->piece].state = MM_PIECE_TODO;
		}
		xfer_remove(r, x);
		xfer_free(x);
	}
}

static long long on_disk(const struct job *j)
{
	long long b = 0;
	size_t i;

	for (i = 0; i < j->npieces; i++)
		b += j->pieces[i].pos;
	return b;
}

static void release(struct run *r, struct job *j)
{
	if (j->dirfd >= 0)
		close(j->dirfd);
	j->dirfd = -1;
	if (j->fd >= 0)
		close(j->fd);
	j->fd = j->sh.fd = -1;
	if (j->lockfd >= 0)
		close(j->lockfd);
	j->lockfd = -1;
	(void)r;
}

static void link_followers(struct run *r, struct job *src);

/* j failed: keep what can be resumed, drop what cannot. */
static void job_fail(struct run *r, struct job *j, int remove_part)
{
	abort_job(r, j);
	hash_forget(r, j, 1);
	if (j->dirfd >= 0) {
		if (!remove_part && j->resumable && on_disk(j) > 0) {
			state_save(r, j);
		} else {
			unlinkat(j->dirfd, j->part, 0);
			state_drop(j);
		}
	}
	release(r, j);
	j->state = J_FAILED;
	j->t1 = mm_now();
	said_failed(r, j);
	link_followers(r, j);
}

/* The server will not continue this part file: start it over. */
static void job_restart(struct run *r, struct job *j, const char *why)
{
	abort_job(r, j);
	hash_forget(r, j, 0);
	if (++j->restarts > MAX_RESTARTS) {
		set_error(j, "the server keeps changing the file or refusing ranges (%s)", why);
		j->reason = "http";
		job_fail(r, j, 1);
		return;
	}
	{
		struct mm_fetch_event ev = { .text = why };

		emit(r, j, MM_FETCH_EV_RESTART, &ev);
	}
	if (ftruncate(j->fd, 0) < 0) {
		set_error(j, "cannot truncate the part file: %s", strerror(errno));
		j->reason = "disk";
		job_fail(r, j, 1);
		return;
	}
	state_drop(j);
	free(j->pieces);
	j->pieces = NULL;
	j->npieces = 0;
	j->fcur = 0;
	j->size = -1;
	j->resumable = j->segmented = 0;
	j->resumed_from = 0;
	if (j->sent)
		memset(j->sent, 0, j->srcs.n * sizeof(*j->sent));
	mm_streamhash_revive(&r->pool, &j->sh);
}

/* Stop j's transfers from source k; keep: write what they gathered, else drop it. */
static void abort_src(struct run *r, struct job *j, size_t k, int keep)
{
	struct xfer *x, *next;

	for (x = r->xfers; x; x = next) {
		next = x->next;
		if (x->j != j || x->src != k)
			continue;
		if (x->piece >= 0 && (size_t)x->piece < j->npieces) {
			if (keep)
				xfer_flush(x);
			if (j->pieces[x->piece].state == MM_PIECE_ACTIVE)
				j->pieces[x->piece].state = MM_PIECE_TODO;
		}
		xfer_remove(r, x);
		xfer_free(x);
	}
}

/*
 * Source k of j failed (refused, stalled, dropped, redirected, answered
 * another size or range): it is left for the rest of the file and the
 * others take over its missing ranges, keeping the bytes on disk (the hash
 * proves them all at the end).
 */
static void source_gone(struct run *r, struct job *j, size_t k, const char *why)
{
	struct mm_fetch_event ev = { 0 };
	char text[600];
	size_t i;

	if (j->gone[k])
		return;
	abort_src(r, j, k, 1);
	j->gone[k] = 1;
	j->cur = src_from(r, j, 0);
	snprintf(text, sizeof(text), "%s: %s; next: %s", src_label(j, k), why, src_label(j, j->cur));
	ev.text = text;
	emit(r, j, MM_FETCH_EV_SOURCE, &ev);
	mm_debugf("%s: %s", j->model->name, text);
	j->failures = 0;
	j->not_before = 0;
	for (i = 0; i < j->npieces; i++)
		j->pieces[i].not_before = 0;
	if (j->npieces > 0 && !j->resumable) {
		/* Nothing the next source can continue: from byte 0. */
		job_restart(r, j, "the next source starts from byte 0");
		j->restarts--;
	} else if (j->npieces > 0) {
		if (!from_origin(j))
			snprintf(j->validator, sizeof(j->validator), "%s", CAS_VALIDATOR);
		state_save(r, j);
	}
}

/* The hashing threads start over from byte 0 (pieces before the frontier change). */
static void hash_again(struct run *r, struct job *j)
{
	hash_forget(r, j, 0);
	j->fcur = 0;
}

/*
 * Source k of j sent bytes that are not the file's.  The one place a liar
 * is named: once per file, skipped for the rest of the run, and its bytes
 * that no other source confirmed are fetched again from the others.
 */
static void name_liar(struct run *r, struct job *j, size_t k)
{
	const struct mm_source *s = src_at(j, k);
	struct mm_fetch_event ev = { 0 };
	struct xfer *x, *next;
	char text[400];
	size_t i;

	if (!s || s->kind == MM_SOURCE_ORIGIN || mm_list_has(&j->liars, s->label))
		return;
	if (!mm_list_has(&r->liars, s->label))
		mm_list_push(&r->liars, s->label);
	mm_list_push(&j->liars, s->label);
	mm_sources_blame(r->o->sources, s);
	j->gone[k] = 1;
	mm_errorf("%s: %s sent bytes that fail the hash: it is skipped for the rest of the run",
		  j->model->name, s->label);
	abort_src(r, j, k, 0);
	for (i = 0; i < j->npieces; i++) {
		struct mm_piece *p = &j->pieces[i];

		if ((size_t)p->by != k + 1 && p->check != CHECK_PEER &&
		    !(p->check == CHECK_ORIGIN && (size_t)p->vs == k + 1))
			continue;
		if ((size_t)p->by == k + 1 && p->check == CHECK_OK)
			continue;
		/* Another source may be comparing with these bytes: that stops. */
		for (x = r->xfers; x; x = next) {
			next = x->next;
			if (x->j == j && x->piece == (long)i) {
				xfer_remove(r, x);
				xfer_free(x);
			}
		}
		if ((size_t)p->by != k + 1) {
			/*
			 * Another's bytes, still waiting for a check or doubted by
			 * the liar alone: kept as they are on disk, for the hash.
			 */
			p->pos = p->end - p->start;
			p->state = MM_PIECE_DONE;
			p->check = p->vs = 0;
			continue;
		}
		j->sent[k] -= p->check == CHECK_NONE ? p->pos : p->end - p->start;
		p->pos = 0;
		p->by = p->check = p->vs = 0;
		p->state = MM_PIECE_TODO;
	}
	hash_again(r, j);
	j->cur = src_from(r, j, 0);
	snprintf(text, sizeof(text), "%s sent bytes that fail the hash; its pieces come from %s",
		 s->label, src_label(j, j->cur));
	ev.text = text;
	emit(r, j, MM_FETCH_EV_SOURCE, &ev);
	if (!from_origin(j))
		snprintf(j->validator, sizeof(j->validator), "%s", CAS_VALIDATOR);
	state_save(r, j);
}

/*
 * j's bytes fail its hash.  The origin is the reference.  When one source
 * besides it wrote bytes, that one lied.  When several did, each of their
 * pieces is fetched again from another source and compared with what is
 * on disk; where two disagree, the origin compares too and the one it
 * contradicts is named (xfer_flush, piece_settled): a liar costs the
 * pieces it lied in, and an honest source is never named.  0 when none
 * but the origin wrote any bytes, or checking found no liar (the caller
 * fails j).
 */
static int find_liar(struct run *r, struct job *j)
{
	size_t i, who = 0;
	int n = 0;
	char *wrote = mm_xcalloc(j->srcs.n + 1, 1);
	struct mm_fetch_event ev = { 0 };
	char text[200];

	for (i = 0; i < j->npieces; i++) {
		size_t k = (size_t)j->pieces[i].by;

		if (k > 0 && !is_origin(j, k - 1) && !wrote[k - 1]) {
			wrote[k - 1] = 1;
			who = k - 1;
			n++;
		}
	}
	free(wrote);
	/* A check that named no one will not name anyone the next time either. */
	if (n == 0 || (j->rounds > 0 && j->liars.n == j->named) || j->rounds > (int)j->srcs.n)
		return 0;
	j->rounds++;
	j->named = j->liars.n;
	if (n == 1) {
		name_liar(r, j, who);
		return 1;
	}
	abort_job(r, j);
	for (i = 0; i < j->npieces; i++) {
		struct mm_piece *p = &j->pieces[i];

		p->vs = 0;
		p->check = CHECK_NONE;
		if (p->by > 0 && !is_origin(j, (size_t)p->by - 1)) {
			p->check = CHECK_PEER;
			p->pos = 0;
			p->state = MM_PIECE_TODO;
		}
	}
	hash_again(r, j);
	j->failures = 0;
	snprintf(text, sizeof(text), "bytes from %d sources fail the hash: their pieces are checked "
		 "against each other", n);
	ev.text = text;
	emit(r, j, MM_FETCH_EV_SOURCE, &ev);
	state_save(r, j);
	return 1;
}

/* Piece p of j is whole again: a check of it found another source agrees. */
static void piece_settled(struct job *j, struct mm_piece *p)
{
	if (p->check == CHECK_PEER)
		p->check = CHECK_OK;
	(void)j;
}

static void describe(struct xfer *x, CURLcode rc, char *buf, size_t n)
{
	struct job *j = x->j;
	char d[300];

	if (rc == CURLE_OPERATION_TIMEDOUT && strstr(x->errbuf, "too slow")) {
		snprintf(buf, n, "stalled: no data for %ld s", x->r->o->stall_timeout);
		return;
	}
	mm_http_describe(rc, x->status, x->errbuf, d, sizeof(d));
	if (rc == CURLE_OK && (x->status == 401 || x->status == 403)) {
		if (j->model->auth_env)
			snprintf(buf, n, "%s: check %s", d, j->model->auth_env);
		else
			snprintf(buf, n, "%s: the server wants a token and the manifest names no authEnvVar", d);
	} else {
		snprintf(buf, n, "%s", d);
	}
}

static void xfer_done(struct run *r, struct xfer *x, CURLcode rc)
{
	struct job *j = x->j;
	enum mm_http_class cls;
	struct mm_piece *p;
	char why[400];

	xfer_remove(r, x);
	if (!x->checked && rc == CURLE_OK) {
		x->checked = 1;
		check_response(r, x);
	}
	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
	p = x->piece >= 0 ? &j->pieces[x->piece] : NULL;
	if (p)
		xfer_flush(x);
	if (p && p->state == MM_PIECE_ACTIVE)
		p->state = MM_PIECE_TODO;
	if (p && x->differs) {
		if (is_origin(j, x->src)) {
			/* The origin's bytes are not the writer's: the writer lied. */
			name_liar(r, j, (size_t)p->by - 1);
		} else {
			/* Two sources disagree here: the origin's byte decides which one lied. */
			p->check = CHECK_ORIGIN;
			p->vs = (int)x->src + 1;
			p->pos = x->diff - p->start;
		}
		goto out;
	}
	if (p && p->check == CHECK_ORIGIN && x->reached_end && p->vs > 0) {
		/* The origin's byte is the writer's: the source that disagreed lied. */
		name_liar(r, j, (size_t)p->vs - 1);
		goto out;
	}
	if (x->werr) {
		set_error(j, "cannot write '%s': %s", j->model->save_to, strerror(x->werr));
		j->reason = "disk";
		job_fail(r, j, x->werr == ENOSPC || x->werr == EDQUOT);
		goto out;
	}
	if ((x->restart || (p && x->status == 416)) && !is_origin(j, x->src)) {
		source_gone(r, j, x->src, x->status == 416 ? "refused the range (416)" :
			    "answered with another size or range");
		goto out;
	}
	if (x->restart || (p && x->status == 416)) {
		job_restart(r, j, x->status == 416 ? "the server refused to continue the part file (416)"
				  : "the file changed on the server");
		goto out;
	}
	if (x->reached_end && rc == CURLE_WRITE_ERROR)
		rc = CURLE_OK;
	cls = x->encoded ? MM_HTTP_TRANSIENT : mm_http_classify(rc, x->status);
	if (cls == MM_HTTP_DONE && p) {
		if (p->end < 0) {
			/* No Content-Length: the body ended where the file ends. */
			p->end = p->start + p->pos;
			j->size = p->end;
		}
		if (p->start + p->pos == p->end) {
			p->state = MM_PIECE_DONE;
			j->failures = 0;
			piece_settled(j, p);
			goto out;
		}
		/* A short body without an error: try the rest again. */
		cls = MM_HTTP_TRANSIENT;
		snprintf(x->errbuf, sizeof(x->errbuf), "the body ended early");
		rc = CURLE_PARTIAL_FILE;
	}
	if (cls == MM_HTTP_DONE)
		cls = MM_HTTP_TRANSIENT;
	describe(x, rc, why, sizeof(why));
	if (x->encoded)
		snprintf(why, sizeof(why), "the server sent the file encoded (Content-Encoding: %s), "
			 "not as it is", x->ans.cenc);
	if (!is_origin(j, x->src)) {
		source_gone(r, j, x->src, why);
		goto out;
	}
	j->reason = x->encoded ? "http" : mm_http_reason(rc, x->status);
	if (cls == MM_HTTP_FATAL) {
		set_error(j, "%s", why);
		job_fail(r, j, 0);
		goto out;
	}
	/* Bytes that a later try can keep are progress; others are not. */
	if (x->got > 0 && j->resumable)
		j->failures = 0;
	j->failures++;
	if (j->failures >= r->o->attempts) {
		set_error(j, "%s (after %d attempt%s)", why, j->attempts, j->attempts == 1 ? "" : "s");
		job_fail(r, j, 0);
		goto out;
	}
	j->attempts++;
	if (p && !j->resumable) {
		/* Nothing to continue from: the next try starts at byte 0. */
		job_restart(r, j, "the server cannot resume");
		j->restarts--;
		p = NULL;
	}
	{
		double delay = r->o->backoff * pow(2, j->failures - 1);

		if (delay > 60)
			delay = 60;
		delay *= jitter(r);
		if (x->ans.retry_after >= 0 && (x->status == 429 || x->status == 503)) {
			/*
			 * Honour the server, but let no answer hold a machine's boot
			 * hostage: at most a minute, and at most half the time the
			 * file has left, so a retry still happens inside the limit.
			 */
			delay = (double)x->ans.retry_after;
			if (delay > 60)
				delay = 60;
			if (r->o->file_timeout > 0) {
				double left = (double)r->o->file_timeout - (mm_now() - j->t0);

				if (delay > left / 2)
					delay = left > 0 ? left / 2 : 0;
			}
		}
		if (p)
			p->not_before = mm_now() + delay;
		else
			j->not_before = mm_now() + delay;
		{
			struct mm_fetch_event ev = { .text = why, .delay = delay, .attempt = j->attempts };

			emit(r, j, MM_FETCH_EV_RETRY, &ev);
		}
	}
out:
	xfer_free(x);
}

/* ------------------------------------------------------------ finishing */

static const char *const status_name[] = {
	[MM_FETCH_PRESENT] = "present",
	[MM_FETCH_DOWNLOADED] = "downloaded",
	[MM_FETCH_WOULD_DOWNLOAD] = "would-download",
	[MM_FETCH_FAILED] = "failed",
	[MM_FETCH_UNREACHABLE] = "unreachable",
	[MM_FETCH_UNAUTHORIZED] = "unauthorized",
};

const char *mm_fetch_status_name(enum mm_fetch_status s)
{
	return (size_t)s < sizeof(status_name) / sizeof(status_name[0]) ? status_name[s] : "failed";
}

enum mm_fetch_status mm_fetch_status_from_name(const char *name)
{
	for (size_t i = 0; name && i < MM_FETCH_NSTATUS; i++)
		if (strcmp(name, status_name[i]) == 0)
			return (enum mm_fetch_status)i;
	return MM_FETCH_NSTATUS;
}

/* A new "fetch" object for j saying status. */
static cJSON *stage(struct job *j, enum mm_fetch_status status)
{
	cJSON *f = mm_model_stage(j->model, "fetch");

	j->status = status;
	cJSON_AddStringToObject(f, "status", status_name[status]);
	return f;
}

/* The source that wrote most of j's bytes. */
static const struct mm_source *main_src(const struct job *j)
{
	size_t k, best = j->cur;

	for (k = 0; j->sent && k < j->srcs.n; k++)
		if (best >= j->srcs.n || j->sent[k] > j->sent[best])
			best = k;
	return src_at(j, best);
}

static void fetch_obj(struct job *j, enum mm_fetch_status status)
{
	cJSON *f = stage(j, status);

	if (j->sha256[0]) {
		cJSON_AddStringToObject(f, "sha256", j->sha256);
		cJSON_AddStringToObject(f, "hashSource", mm_hash_source_name(j->src));
	}
	cJSON_AddNumberToObject(f, "bytes", (double)j->bytes_run);
	if (j->t0 > 0 && j->t1 == 0)
		j->t1 = mm_now();
	cJSON_AddNumberToObject(f, "seconds", j->t0 > 0 ? round((j->t1 - j->t0) * 1000) / 1000 : 0);
	cJSON_AddNumberToObject(f, "attempts", j->attempts);
	if (j->resumed_from > 0)
		cJSON_AddNumberToObject(f, "resumedFrom", (double)j->resumed_from);
	if (j->link_from)
		cJSON_AddStringToObject(f, "linkedFrom", j->link_from->model->save_to);
	if (j->srcs.n > 1 || j->from[MM_SOURCE_PEER] || j->from[MM_SOURCE_MIRROR]) {
		cJSON *b = cJSON_AddObjectToObject(f, "bytesFrom");
		int k;

		for (k = 0; k < MM_SOURCE_KINDS; k++)
			cJSON_AddNumberToObject(b, mm_source_kind_name((enum mm_source_kind)k), (double)j->from[k]);
		if (status == MM_FETCH_DOWNLOADED && main_src(j))
			cJSON_AddStringToObject(f, "source", main_src(j)->label);
	}
	if (j->liars.n > 0) {
		cJSON *a = cJSON_AddArrayToObject(f, "liars");
		size_t k;

		for (k = 0; k < j->liars.n; k++)
			cJSON_AddItemToArray(a, cJSON_CreateString(j->liars.v[k]));
	}
	if (j->error[0])
		cJSON_AddStringToObject(f, "error", j->error);
	if (status == MM_FETCH_FAILED)
		cJSON_AddStringToObject(f, "reason", j->reason ? j->reason : "other");
}

/* Open (creating the directories) the directory of j beneath MM_ROOT. */
static int open_dir(struct run *r, struct job *j)
{
	if (j->dirfd >= 0)
		return 0;
	if (strcmp(j->dir, ".") != 0) {
		if (mm_mkparents_beneath(r->rootfd, j->model->save_to) < 0)
			return -1;
		j->dirfd = mm_openat_beneath(r->rootfd, j->dir, O_RDONLY | O_DIRECTORY, 0);
	} else {
		j->dirfd = dup(r->rootfd);
	}
	return j->dirfd < 0 ? -1 : 0;
}

/* The sha256 the download computed: its digest, or the second one beside a manifest's md5 or sha1. */
static const char *sha256_of(const struct job *j)
{
	if ((!j->has_hash || mm_hash_algo_computed(j->spec.algo) == MM_HASH_SHA256) &&
	    strlen(j->sh.digest) == 64)
		return j->sh.digest;
	return j->sh.hasher2 && strlen(j->sh.digest2) == 64 ? j->sh.digest2 : NULL;
}

/*
 * This process wrote and hashed the file: its current identity is the one.
 * Every digest computed is recorded, so the next check of either is a hit.
 */
static void record_vcache(struct run *r, struct job *j, int fd)
{
	struct mm_err e;
	const char *d = sha256_of(j);

	if (!r->vc)
		return;
	if (j->has_hash && j->sh.digest[0] && d != j->sh.digest &&
	    mm_vcache_record(r->vc, fd, NULL, j->spec.algo, j->sh.digest, &e) == MM_EFAIL)
		mm_debugf("%s: %s", j->model->name, e.msg);
	if (d && mm_vcache_record(r->vc, fd, NULL, MM_HASH_SHA256, d, &e) == MM_EFAIL)
		mm_debugf("%s: %s", j->model->name, e.msg);
}

/* The origin's sha256, when there is one and a sha256 was computed, matches. */
static int origin_ok(const struct job *j)
{
	const char *d = sha256_of(j);

	return !j->origin[0] || !d || strcmp(d, j->origin) == 0;
}

/* What proved the file: the origin's sha256, the manifest's hash, or nothing but its own. */
static void proved_by(struct job *j)
{
	const char *d = sha256_of(j);

	j->src = j->origin[0] && d ? j->origin_src : j->has_hash ? MM_SRC_MANIFEST : MM_SRC_COMPUTED;
	snprintf(j->sha256, sizeof(j->sha256), "%s", d ? d : "");
}

/*
 * The file at j's saveTo is now the one j proved: its record (digests.h)
 * holds the origin's or the computed sha256, or goes when the manifest
 * proved it (the manifest will say so again).
 */
static void keep_digest(struct run *r, const struct job *j)
{
	if (j->sha256[0] && j->src != MM_SRC_MANIFEST)
		mm_digests_set(r->dg, j->model->save_to, j->sha256, j->src, j->size);
	else
		mm_digests_set(r->dg, j->model->save_to, NULL, MM_SRC_NONE, 0);
}

/*
 * The manifest's hash and the origin's sha256 were both checked and one (or
 * both) does not hold: say which source said what, and what the file is.
 */
static void sources_error(struct job *j, int manifest_ok)
{
	const char *d = sha256_of(j);
	const char *what = manifest_ok || origin_ok(j) ? "the hash sources disagree" : "hash mismatch";

	if (mm_hash_algo_computed(j->spec.algo) == MM_HASH_SHA256)
		set_error(j, "%s: the manifest says %s %s, %s says sha256 %s; the file's sha256 is %s",
			  what, mm_hash_algo_name(j->spec.algo), j->spec.hex,
			  mm_hash_source_name(j->origin_src), j->origin, d ? d : "unknown");
	else
		set_error(j, "%s: the manifest says %s %s, %s says sha256 %s; the file's %s is %s "
			  "and its sha256 is %s", what, mm_hash_algo_name(j->spec.algo), j->spec.hex,
			  mm_hash_source_name(j->origin_src), j->origin, mm_hash_algo_name(j->spec.algo),
			  j->sh.digest, d ? d : "unknown");
}

static void finish(struct run *r, struct job *j)
{
	struct stat st;
	char a[32], why[96];
	double secs;
	int manifest_ok;

	abort_job(r, j);
	if (j->sh.fin_rc != 0) {
		set_error(j, "%s", j->sh.fin_err);
		j->reason = "disk";
		job_fail(r, j, 0);
		return;
	}
	j->reason = "mismatch";
	if (fstat(j->fd, &st) < 0 || st.st_size != j->size) {
		set_error(j, "the part file holds %lld bytes, the server announced %lld",
			  (long long)st.st_size, j->size);
		job_fail(r, j, 1);
		return;
	}
	/* With a hash the hash decides; without one, the size rule (size.h). */
	if (!j->has_hash && !size_ok(j, j->size)) {
		set_error(j, "size mismatch: the manifest says %s%lld bytes, the server sent %lld",
			  j->tol ? "about " : "", j->hint, j->size);
		job_fail(r, j, 1);
		return;
	}
	manifest_ok = !j->has_hash || mm_hash_matches(&j->spec, j->sh.digest);
	if ((!manifest_ok || !origin_ok(j)) && j->resumed_from > 0) {
		/* The part file may be what was wrong (a power loss zeroes blocks): once, from byte 0. */
		mm_format_size(j->resumed_from, a, sizeof(a));
		snprintf(why, sizeof(why), "hash mismatch after resuming from %s", a);
		job_restart(r, j, why);
		j->restarts--;
		return;
	}
	/* Bytes from peers or mirrors: the liar is found and named, and the others finish. */
	if ((!manifest_ok || !origin_ok(j)) && find_liar(r, j))
		return;
	/* Both a manifest hash and the origin's sha256: both must hold. */
	if (j->has_hash && j->origin[0] && (!manifest_ok || !origin_ok(j))) {
		sources_error(j, manifest_ok);
		job_fail(r, j, 1);
		return;
	}
	if (!manifest_ok) {
		set_error(j, "hash mismatch: expected %s %s, got %.*s", mm_hash_algo_name(j->spec.algo),
			  j->spec.hex, (int)mm_hash_hexlen(j->spec.algo), j->sh.digest);
		job_fail(r, j, 1);
		return;
	}
	if (!origin_ok(j)) {
		set_error(j, "hash mismatch: %s says sha256 %s, got %s", mm_hash_source_name(j->origin_src),
			  j->origin, sha256_of(j));
		job_fail(r, j, 1);
		return;
	}
	proved_by(j);
	if (renameat(j->dirfd, j->part, j->dirfd, j->base) < 0) {
		set_error(j, "cannot rename the part file into place: %s", strerror(errno));
		j->reason = "disk";
		job_fail(r, j, 0);
		return;
	}
	state_drop(j);
	fsync(j->dirfd);
	record_vcache(r, j, j->fd);
	keep_digest(r, j);
	hash_forget(r, j, 1);
	release(r, j);
	j->state = J_DONE;
	j->t1 = mm_now();
	secs = j->t1 - j->t0;
	{
		struct mm_fetch_event ev = { .done = j->size, .seconds = secs,
					     .text = j->has_hash ? mm_hash_algo_name(j->spec.algo) : NULL };

		emit(r, j, MM_FETCH_EV_DOWNLOADED, &ev);
	}
	link_followers(r, j);
}

static int copy_fd(int in, int out)
{
	char buf[1 << 16];

	for (;;) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);

		if (n == 0)
			return 0;
		if (n > 0)
			continue;
		if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP)
			return -1;
		break;
	}
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));

		if (n == 0)
			return 0;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (mm_part_pwrite(out, buf, (size_t)n, lseek(out, 0, SEEK_CUR)) < 0 ||
		    lseek(out, n, SEEK_CUR) < 0)
			return -1;
	}
}

/* Give j the bytes of src: a hard link, or a copy across filesystems. */
static void do_link(struct run *r, struct job *j, struct job *src)
{
	int sdir = -1, sfd = -1, dfd = -1, rc = -1;
	struct stat st;

	if (open_dir(r, j) < 0) {
		set_error(j, "cannot create the directory of '%s': %s", j->model->save_to, strerror(errno));
		goto out;
	}
	unlinkat(j->dirfd, j->part, 0);
	sdir = strcmp(src->dir, ".") ? mm_openat_beneath(r->rootfd, src->dir, O_RDONLY | O_DIRECTORY, 0)
				      : dup(r->rootfd);
	if (sdir >= 0 && fstatat(sdir, src->base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
	    linkat(sdir, src->base, j->dirfd, j->part, 0) == 0) {
		rc = 0;
	} else {
		sfd = mm_openat_beneath(r->rootfd, src->model->save_to, O_RDONLY, 0);
		dfd = openat(j->dirfd, j->part, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (sfd >= 0 && dfd >= 0 && copy_fd(sfd, dfd) == 0 && fsync(dfd) == 0)
			rc = 0;
		else
			unlinkat(j->dirfd, j->part, 0);
	}
	if (rc == 0 && renameat(j->dirfd, j->part, j->dirfd, j->base) < 0) {
		unlinkat(j->dirfd, j->part, 0);
		rc = -1;
	}
	if (rc < 0)
		set_error(j, "cannot link or copy '%s' to '%s': %s", src->model->save_to,
			  j->model->save_to, strerror(errno));
	else
		fsync(j->dirfd);
out:
	release(r, j);
	if (sdir >= 0)
		close(sdir);
	if (sfd >= 0)
		close(sfd);
	if (dfd >= 0)
		close(dfd);
	j->link_from = src;
	j->state = rc == 0 ? J_DONE : J_FAILED;
	/* The same bytes, proved as its source was (twins share a manifest hash). */
	j->src = src->src ? src->src : MM_SRC_MANIFEST;
	memcpy(j->sha256, src->sha256, sizeof(j->sha256));
	if (rc == 0) {
		j->size = src->size;
		keep_digest(r, j);
	}
	if (rc == 0) {
		struct mm_fetch_event ev = { .text = src->model->save_to };

		emit(r, j, MM_FETCH_EV_LINKED, &ev);
	} else {
		said_failed(r, j);
	}
}

static void link_followers(struct run *r, struct job *src)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		struct job *j = &r->jobs[i];

		if (j->state != J_LINK || j->link_from != src)
			continue;
		if (src->state == J_DONE || src->state == J_PRESENT) {
			do_link(r, j, src);
		} else {
			set_error(j, "not downloaded: '%s' (the same file) failed", src->model->save_to);
			j->reason = src->reason;
			j->state = J_FAILED;
			said_failed(r, j);
		}
	}
}

/* ------------------------------------------------------------ starting */

/*
 * 1 when MM_ROOT/saveTo is a regular file of the expected size, -1 when it
 * is a regular file of another size, 0 when there is none.
 */
static int is_present(struct run *r, struct job *j, struct stat *st)
{
	int fd = mm_openat_beneath(r->rootfd, j->model->save_to, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
	int ok;

	if (fd < 0)
		return 0;
	ok = fstat(fd, st) == 0 && S_ISREG(st->st_mode) ? (size_ok(j, st->st_size) ? 1 : -1) : 0;
	close(fd);
	return ok;
}

static int take_lock(struct run *r, struct job *j)
{
	char name[32];

	if (r->lockdirfd < 0)
		return 0;
	if (j->lockfd < 0) {
		snprintf(name, sizeof(name), "%016llx.lock", mm_fnv64(j->model->save_to));
		j->lockfd = mm_state_openat(r->lockdirfd, name, O_RDWR | O_CREAT, 0600);
		if (j->lockfd < 0)
			return 0;       /* no lock to be had: go on unlocked */
	}
	if (flock(j->lockfd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	/* Waiting holds no descriptor: thousands of models may wait. */
	close(j->lockfd);
	j->lockfd = -1;
	return -1;
}

static void start_job(struct run *r, struct job *j)
{
	struct stat st;
	long long psize = 0;

	if (take_lock(r, j) < 0) {
		if (r->o->no_wait) {
			set_error(j, "another mm-fetch is downloading '%s' (--no-wait)", j->model->save_to);
			j->reason = "busy";
			release(r, j);
			j->state = J_FAILED;
			said_failed(r, j);
			return;
		}
		if (!j->lock_msg++)
			emit(r, j, MM_FETCH_EV_WAITING, NULL);
		j->state = J_LOCKWAIT;
		j->next_lock_try = mm_now() + 0.5;
		return;
	}
	/* Another run may have finished it while we waited. */
	if (j->lock_msg && is_present(r, j, &st) > 0) {
		release(r, j);
		j->state = J_PRESENT;
		link_followers(r, j);
		return;
	}
	if (open_dir(r, j) < 0) {
		set_error(j, "cannot open the directory of '%s' beneath MM_ROOT: %s", j->model->save_to,
			  strerror(errno));
		goto fail;
	}
	j->fd = openat(j->dirfd, j->part, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	j->sh.fd = j->fd;
	if (j->fd < 0 || fstat(j->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		set_error(j, "cannot open the part file of '%s': %s", j->model->save_to, strerror(errno));
		goto fail;
	}
	psize = st.st_size;
	if (psize > 0 && state_load(j, psize) == 0) {
		j->resumed_from = on_disk(j);
		ramp_start(r, j);
	} else {
		state_drop(j);
		if (psize > 0 && ftruncate(j->fd, 0) < 0) {
			set_error(j, "cannot truncate the part file: %s", strerror(errno));
			goto fail;
		}
	}
	{
		struct mm_err e;

		enum mm_hash_algo a = j->has_hash ? mm_hash_algo_computed(j->spec.algo) : MM_HASH_SHA256;

		/*
		 * The manifest's hash, and a sha256 beside it when that is weaker
		 * (md5, sha1), in one pass: the origin's sha256 is checked, or the
		 * computed one recorded, whatever the manifest gives.
		 */
		j->sh.hasher = mm_hasher_new(a, &e);
		if (j->sh.hasher && a != MM_HASH_SHA256 && !j->sh.hasher2)
			j->sh.hasher2 = mm_hasher_new(MM_HASH_SHA256, &e);
		if (!j->sh.hasher || (a != MM_HASH_SHA256 && !j->sh.hasher2)) {
			set_error(j, "%s", e.msg);
			goto fail;
		}
	}
	j->t0 = mm_now();
	j->state = J_RUNNING;
	j->started = 1;
	j->cur = src_from(r, j, j->cur);
	if (!from_origin(j) && j->validator[0] && strcmp(j->validator, CAS_VALIDATOR) != 0)
		snprintf(j->validator, sizeof(j->validator), "%s", CAS_VALIDATOR);
	{
		struct mm_fetch_event ev = { .done = j->resumed_from, .total = j->size >= 0 ? j->size : j->hint,
					     .text = from_origin(j) ? NULL : cur_src(j)->label };

		emit(r, j, MM_FETCH_EV_STARTED, &ev);
	}
	return;
fail:
	j->state = J_RUNNING;
	j->reason = "disk";
	job_fail(r, j, 0);
}

/* Start what may start: files up to -j, pieces up to --segments. */
static void schedule(struct run *r)
{
	double now = mm_now();
	int running = 0;
	size_t i;

	for (i = 0; i < r->n; i++)
		if (r->jobs[i].state == J_RUNNING)
			running++;
	for (i = 0; i < r->n; i++) {
		struct job *j = &r->jobs[i];

		if ((j->state == J_QUEUED && running < r->o->jobs) ||
		    (j->state == J_LOCKWAIT && now >= j->next_lock_try && running < r->o->jobs)) {
			start_job(r, j);
			if (j->state == J_RUNNING)
				running++;
		}
		if (j->state != J_RUNNING || j->sh.fin)
			continue;
		if (j->npieces == 0) {
			if (j->nactive == 0 && now >= j->not_before)
				start_piece(r, j, -1);
		} else {
			int want = j->segmented ? j->want : 1;
			size_t k;

			for (k = j->fcur; k < j->npieces && j->nactive < want; k++) {
				struct mm_piece *p = &j->pieces[k];

				if (p->state == MM_PIECE_TODO && p->not_before <= now)
					start_piece(r, j, (long)k);
			}
		}
	}
}

/* ------------------------------------------------------------ probing */

/* HEAD (or a 1-byte GET) every job in want; results in the jobs. */
static void probe_all(struct run *r, struct job **want, size_t n, long *status, long long *size,
		      char (*errs)[400])
{
	size_t next = 0;
	int active = 0;

	while ((next < n || active > 0) && !(r->o->stop && *r->o->stop)) {
		CURLMsg *msg;
		int still, left;

		while (next < n && active < r->o->jobs * 2) {
			struct xfer *x = xfer_new(r, want[next], want[next]->cur);

			x->probe = 1;
			x->piece = (long)next++;
			curl_easy_setopt(x->h, CURLOPT_NOBODY, 1L);
			curl_easy_setopt(x->h, CURLOPT_TIMEOUT, PROBE_TIMEOUT);
			x->j = NULL;
			curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
			x->j = want[x->piece];
			curl_multi_add_handle(r->multi, x->h);
			active++;
		}
		curl_multi_perform(r->multi, &still);
		while ((msg = curl_multi_info_read(r->multi, &left))) {
			struct xfer *x;
			CURLcode rc;
			long i;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
			rc = msg->data.result;
			i = x->piece;
			curl_multi_remove_handle(r->multi, x->h);
			active--;
			curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
			if (x->reached_end && rc == CURLE_WRITE_ERROR)
				rc = CURLE_OK;
			if (!x->probe_get && rc == CURLE_OK &&
			    (x->status == 400 || x->status == 403 || x->status == 405 || x->status == 501)) {
				/* HEAD refused (S3 signs GET only): ask for one byte instead. */
				struct xfer *y = xfer_new(r, x->j, x->src);

				y->probe = y->probe_get = 1;
				y->piece = i;
				curl_easy_setopt(y->h, CURLOPT_RANGE, "0-0");
				curl_easy_setopt(y->h, CURLOPT_TIMEOUT, PROBE_TIMEOUT);
				curl_multi_add_handle(r->multi, y->h);
				active++;
				xfer_free(x);
				continue;
			}
			status[i] = rc == CURLE_OK ? x->status : 0;
			size[i] = x->status == 206 ? x->ans.cr_total : x->ans.clen;
			if (mm_http_classify(rc, x->status) != MM_HTTP_DONE)
				describe(x, rc, errs[i], sizeof(errs[i]));
			else
				errs[i][0] = '\0';
			xfer_free(x);
		}
		if (active > 0)
			curl_multi_poll(r->multi, NULL, 0, 100, NULL);
	}
}

/* ------------------------------------------------------------ preflight */

/* Room on disk for every queued file (diskspace.h); sizes[i] is job i's. */
static int preflight(struct run *r, const long long *sizes, struct mm_err *err)
{
	struct mm_space_want *w = mm_xcalloc(r->n + 1, sizeof(*w));
	size_t i, n = 0;
	int rc;

	for (i = 0; i < r->n; i++) {
		if (r->jobs[i].state != J_QUEUED)
			continue;
		w[n].save_to = r->jobs[i].model->save_to;
		w[n].dir = r->jobs[i].dir;
		w[n].size = sizes[i];
		n++;
	}
	rc = mm_diskspace_preflight(r->rootfd, r->o->root, w, n, err);
	free(w);
	return rc;
}

/* ------------------------------------------------------------ the run */

static void job_init(struct run *r, struct job *j, struct mm_model *m)
{
	char *part;

	memset(j, 0, sizeof(*j));
	j->model = m;
	j->dirfd = j->fd = j->lockfd = j->sh.fd = -1;
	j->size = -1;
	j->hint = m->size;
	j->tol = m->size_tol;
	j->attempts = 1;
	j->dir = mm_dirname(m->save_to);
	j->base = mm_xstrdup(mm_basename(m->save_to));
	part = mm_part_path(m->save_to);
	j->part = mm_xstrdup(mm_basename(part));
	free(part);
	j->sidecar = mm_xasprintf(".%s" MM_STATE_SUFFIX, j->base);
	j->sidecar_tmp = mm_xasprintf(".%s" MM_STATE_TMP_SUFFIX, j->base);
	j->state = J_QUEUED;
	if (m->hash) {
		struct mm_err e;

		j->has_hash = mm_hash_parse(m->hash, &j->spec, &e) == 0;
	}
	(void)r;
}

static void job_free(struct job *j)
{
	if (j->dirfd >= 0)
		close(j->dirfd);
	if (j->fd >= 0)
		close(j->fd);
	if (j->lockfd >= 0)
		close(j->lockfd);
	mm_hasher_free(j->sh.hasher);
	mm_source_list_free(&j->srcs);
	free(j->sent);
	free(j->gone);
	mm_list_free(&j->liars);
	mm_hasher_free(j->sh.hasher2);
	free(j->pieces);
	free(j->dir);
	free(j->base);
	free(j->part);
	free(j->sidecar);
	free(j->sidecar_tmp);
}

/* Refusals that need no request: a bad URL, a missing token. */
static void check_job(struct run *r, struct job *j)
{
	const struct mm_model *m = j->model;

	if (!m->url) {
		set_error(j, "no download URL");
		j->reason = "bad_url";
		j->state = J_FAILED;
	} else if (!mm_http_url_ok(m->url)) {
		/* By its scheme alone: the rest may hold user info. */
		size_t n = strspn(m->url, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.");

		if (n > 0 && n <= 16 && m->url[n] == ':')
			set_error(j, "refusing its %.*s:// URL: only http and https URLs are downloaded",
				  (int)n, m->url);
		else
			set_error(j, "refusing its URL, which has no scheme: only http and https URLs are "
				  "downloaded");
		j->reason = "bad_url";
		j->state = J_FAILED;
	} else if (m->auth_env) {
		char why[400];
		const char *t = NULL;

		/* Whether the token may go there is decided before its value is read. */
		if (mm_auth_check(r->o->auth, m->auth_env, m->url, why, sizeof(why)) != MM_AUTH_OK) {
			set_error(j, "%s", why);
			j->unauth = 1;
			j->state = J_FAILED;
			return;
		}
		t = mm_env(m->auth_env, NULL);
		if (!t) {
			set_error(j, "%s is not set (the model needs a token)", m->auth_env);
			j->state = J_FAILED;
		} else if (!mm_http_token_ok(t)) {
			set_error(j, "%s holds a space or control character and cannot be sent", m->auth_env);
			j->state = J_FAILED;
		} else {
			mm_log_secret(t);
			j->token = t;
		}
	}
	if (j->state == J_FAILED && !j->reason)
		j->reason = "unauthorized";
}

static int verify_present(struct run *r, struct job *j, int loud)
{
	char hex[MM_HASH_HEXMAX + 1];
	struct stat st;
	struct mm_err e;
	struct mm_hash_spec spec = j->spec;
	enum mm_hash_source src = MM_SRC_MANIFEST;
	long long rsize;
	int fd, ok = 0;

	/* Without a manifest hash, the sha256 a past download was proved by, if kept. */
	if (!j->has_hash) {
		if (!mm_digests_find(r->dg, j->model->save_to, spec.hex, &src, &rsize) ||
		    !size_ok(j, rsize))
			return 1;
		spec.algo = MM_HASH_SHA256;
	}
	fd = mm_openat_beneath(r->rootfd, j->model->save_to, O_RDONLY, 0);
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	if (r->vc && mm_vcache_lookup(r->vc, fd, &st, spec.algo, hex)) {
		ok = mm_hash_matches(&spec, hex);
	} else if (mm_hash_fd(fd, mm_hash_algo_computed(spec.algo), NULL, 0, hex, NULL, &e) == 0) {
		ok = mm_hash_matches(&spec, hex);
		if (r->vc)
			mm_vcache_record(r->vc, fd, &st, spec.algo, hex, &e);
	}
	close(fd);
	if (ok && !j->has_hash) {
		memcpy(j->sha256, spec.hex, sizeof(j->sha256));
		j->src = src;
	}
	if (!ok && loud)
		mm_warnf("%s: present but its %s does not match; downloading it again", j->model->name,
			 j->has_hash ? "hash" : "recorded sha256");
	return ok;
}

/* Present files, and files wanted twice (same hash): who links to whom. */
static void classify(struct run *r)
{
	size_t i, k;
	struct stat st;

	for (i = 0; i < r->n; i++) {
		struct job *j = &r->jobs[i];
		int have;

		if (j->state != J_QUEUED && j->state != J_FAILED)
			continue;
		have = is_present(r, j, &st);

		/*
		 * A file of another size is still the file when its hash says
		 * so: mm-verify judges it that way, and so does this.
		 */
		if ((have > 0 && (!r->o->verify_present || verify_present(r, j, 1))) ||
		    (have < 0 && j->has_hash && verify_present(r, j, 0))) {
			j->state = J_PRESENT;
			j->error[0] = '\0';
		}
	}
	for (i = 0; i < r->n; i++) {
		struct job *j = &r->jobs[i], *src = NULL;

		if (j->state != J_QUEUED || !j->has_hash)
			continue;
		for (k = 0; k < r->n; k++) {
			struct job *o = &r->jobs[k];

			if (k == i || !o->has_hash || o->spec.algo != j->spec.algo ||
			    strcmp(o->spec.hex, j->spec.hex) != 0)
				continue;
			if (o->state == J_PRESENT) {
				src = o;
				break;
			}
			if (!src && k < i && o->state == J_QUEUED)
				src = o;
		}
		if (src) {
			j->state = J_LINK;
			j->link_from = src;
		}
	}
}

/* The locks and the verified cache (state.h); MM_EUSAGE when the state directory is refused. */
static int make_lockdir(struct run *r, struct mm_err *err)
{
	char *path = r->o->state_dir ? mm_xstrdup(r->o->state_dir) : mm_config_state_dir(r->o->root);
	struct mm_err e = { 0 };
	struct mm_state st;
	int rc = mm_state_open(&st, path, 1, &e);

	free(path);
	if (rc == 0 && (r->lockdirfd = mm_state_subdir(&st, MM_STATE_LOCKS, 1, &e)) < 0)
		rc = e.code;
	if (rc == MM_EUSAGE) {
		mm_state_close(&st);
		return mm_error(err, rc, "%s", e.msg);
	}
	if (rc)
		mm_warnf("%s: downloads are not locked against other runs", e.msg);
	if (st.fd >= 0 && !r->vc)
		r->vc = mm_vcache_open(&st, 0, &e);
	if (st.fd >= 0 && !r->dg)
		r->dg = mm_digests_open(&st, &e);
	mm_state_close(&st);
	return 0;
}

/*
 * The sha256 Civitai publishes for the models about to be downloaded: one
 * request per version.  One that disagrees with the manifest's hash fails the
 * model before a byte is fetched.
 */
static void civitai_digests(struct run *r)
{
	struct mm_upstream_q *q;
	size_t i, n = 0;
	struct job **js;

	if (!r->o->upstream)
		return;
	q = mm_xcalloc(r->n + 1, sizeof(*q));
	js = mm_xcalloc(r->n + 1, sizeof(*js));
	for (i = 0; i < r->n; i++)
		if (r->jobs[i].state == J_QUEUED) {
			js[n] = &r->jobs[i];
			q[n++].url = r->jobs[i].model->url;
		}
	if (n)
		mm_upstream_civitai(r->o->upstream, q, n);
	for (i = 0; i < n; i++) {
		struct job *j = js[i];

		if (q[i].error[0])
			mm_warnf("%s: %s; its sha256 will be computed", j->model->name, q[i].error);
		if (!q[i].sha256[0])
			continue;
		memcpy(j->origin, q[i].sha256, sizeof(j->origin));
		j->origin_src = MM_SRC_CIVITAI;
		/* An md5 or sha1 is checked against the bytes, beside this sha256 (finish()). */
		if (j->has_hash && mm_hash_algo_computed(j->spec.algo) == MM_HASH_SHA256 &&
		    !mm_hash_matches(&j->spec, j->origin)) {
			set_error(j, "the hash sources disagree: the manifest says %s %s, civitai says sha256 %s",
				  mm_hash_algo_name(j->spec.algo), j->spec.hex, j->origin);
			mm_errorf("%s: %s", j->model->name, j->error);
			j->state = J_FAILED;
		}
	}
	free(q);
	free(js);
}

/* The sha256 j is known by before a byte is fetched (the manifest's or the origin's), or NULL. */
static const char *known_sha256(const struct job *j)
{
	if (j->has_hash && j->spec.algo == MM_HASH_SHA256)
		return j->spec.hex;
	/* The origin's: every download computes a sha256 to check it with (finish()). */
	if (j->origin[0] && strlen(j->origin) == 64)
		return j->origin;
	return NULL;
}

/*
 * Where each queued file comes from (sources.h): the peers of every known
 * sha256 in one round trip to Redis, then the mirrors, then the origin.
 * Redis out of reach costs the peers, never the run.
 */
static void plan_sources(struct run *r)
{
	const char **want = mm_xcalloc(r->n + 1, sizeof(*want));
	size_t i, n = 0;

	for (i = 0; i < r->n; i++)
		if (r->jobs[i].state == J_QUEUED && known_sha256(&r->jobs[i]))
			want[n++] = known_sha256(&r->jobs[i]);
	if (r->o->sources && n > 0) {
		struct mm_err e = { 0 };

		if (mm_sources_find_peers(r->o->sources, want, n, &e) != 0)
			mm_warnf("no peers: %s; the files come from mirrors and origins", e.msg);
	}
	free(want);
	for (i = 0; i < r->n; i++) {
		struct job *j = &r->jobs[i];

		if (j->state != J_QUEUED)
			continue;
		mm_sources_for(r->o->sources, known_sha256(j), j->model->name, j->model->save_to,
			       j->model->url, &j->srcs);
		j->sent = mm_xcalloc(j->srcs.n + 1, sizeof(*j->sent));
		j->gone = mm_xcalloc(j->srcs.n + 1, 1);
		j->cur = 0;
	}
}

static void dry_run(struct run *r, int *failed)
{
	struct job **want = mm_xcalloc(r->n + 1, sizeof(*want));
	long *status = mm_xcalloc(r->n + 1, sizeof(*status));
	long long *size = mm_xcalloc(r->n + 1, sizeof(*size));
	char (*errs)[400] = mm_xcalloc(r->n + 1, sizeof(*errs));
	size_t i, n = 0;

	for (i = 0; i < r->n; i++)
		if (r->jobs[i].state == J_QUEUED)
			want[n++] = &r->jobs[i];
	probe_all(r, want, n, status, size, errs);
	for (i = 0; i < n; i++) {
		struct job *j = want[i];
		cJSON *f;

		if (status[i] >= 200 && status[i] < 300) {
			f = stage(j, MM_FETCH_WOULD_DOWNLOAD);
			if (size[i] >= 0) {
				cJSON_AddNumberToObject(f, "bytes", (double)size[i]);
				j->size = size[i];
			}
			continue;
		}
		f = stage(j, status[i] == 401 || status[i] == 403 ? MM_FETCH_UNAUTHORIZED : MM_FETCH_UNREACHABLE);
		cJSON_AddStringToObject(f, "error", errs[i]);
		mm_errorf("%s: %s", j->model->name, errs[i]);
		j->state = J_SKIP;
		(*failed)++;
	}
	/* A twin gets its bytes from its source: it fares as the source will. */
	for (i = 0; i < r->n; i++) {
		struct job *j = &r->jobs[i], *src = j->link_from;
		cJSON *f;

		if (j->state != J_LINK || !src)
			continue;
		if (src->state != J_SKIP) {
			j->size = src->size;
			continue;
		}
		set_error(j, "not downloaded: '%s' (the same file) is %s", src->model->save_to,
			  status_name[src->status]);
		f = stage(j, src->status);
		cJSON_AddStringToObject(f, "error", j->error);
		mm_errorf("%s: %s", j->model->name, j->error);
		j->state = J_SKIP;
		(*failed)++;
	}
	free(want);
	free(status);
	free(size);
	free(errs);
}

void mm_fetch_opts_init(struct mm_fetch_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->jobs = MM_FETCH_JOBS;
	o->segments = MM_FETCH_SEGMENTS;
	o->adaptive = 1;
	o->segment_min = MM_FETCH_SEGMENT_MIN;
	o->attempts = MM_FETCH_ATTEMPTS;
	o->stall_timeout = MM_FETCH_STALL;
	o->file_timeout = MM_FETCH_TIMEOUT_MIN * 60L;
	o->backoff = 1.0;
}

static void run_loop(struct run *r)
{
	int nth = r->o->jobs;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t i;

	if (cpus > 0 && nth > cpus)
		nth = (int)cpus;
	r->shs = mm_xcalloc(r->n + 1, sizeof(*r->shs));
	for (i = 0; i < r->n; i++)
		r->shs[i] = &r->jobs[i].sh;
	mm_shpool_start(&r->pool, r->shs, r->n, nth < 1 ? 1 : nth, wake_multi, r->multi);
	for (;;) {
		CURLMsg *msg;
		int still, left, busy = 0, finished = 0;
		double now;

		if (r->o->stop && *r->o->stop)
			break;
		schedule(r);
		curl_multi_perform(r->multi, &still);
		while ((msg = curl_multi_info_read(r->multi, &left))) {
			struct xfer *x;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
			xfer_done(r, x, msg->data.result);
			finished = 1;   /* its job may want its next piece started now */
		}
		now = mm_now();
		for (i = 0; i < r->n; i++) {
			struct job *j = &r->jobs[i];
			int fin;

			if (j->state == J_QUEUED || j->state == J_LOCKWAIT || j->state == J_RUNNING)
				busy = 1;
			if (j->state != J_RUNNING)
				continue;
			if (r->o->file_timeout > 0 && now - j->t0 > (double)r->o->file_timeout) {
				set_error(j, "timed out: the file took longer than %ld s, the per-file limit",
					  r->o->file_timeout);
				j->reason = "timeout";
				job_fail(r, j, 0);
				finished = 1;
				continue;
			}
			publish(r, j);
			ramp_step(r, j, now);
			fin = mm_streamhash_done(&r->pool, &j->sh);
			if (fin) {
				finish(r, j);
				finished = 1;
				continue;
			}
			{
				struct mm_fetch_event ev = { .done = on_disk(j), .total = j->size };

				emit(r, j, MM_FETCH_EV_PROGRESS, &ev);
			}
			if (j->resumable && now - j->last_save >= STATE_EVERY)
				state_save(r, j);
		}
		if (!busy)
			break;
		emit(r, NULL, MM_FETCH_EV_TICK, NULL);
		/*
		 * A file or transfer that just finished may have been the last,
		 * or may free a slot for a queued one or the next piece: look
		 * again at once rather than waiting out the poll.
		 */
		if (!finished)
			curl_multi_poll(r->multi, NULL, 0, 100, NULL);
	}
	/* Interrupted: keep every part file resumable. */
	if (r->o->stop && *r->o->stop) {
		for (i = 0; i < r->n; i++) {
			struct job *j = &r->jobs[i];

			if (j->state == J_RUNNING || j->state == J_LOCKWAIT || j->state == J_QUEUED ||
			    j->state == J_LINK) {
				set_error(j, "interrupted");
				j->reason = "interrupted";
				if (j->state == J_RUNNING) {
					abort_job(r, j);
					hash_forget(r, j, 1);
					if (j->resumable)
						state_save(r, j);
					emit_failed_quietly(r, j);
				}
				release(r, j);
				j->state = J_FAILED;
			}
		}
	}
	mm_shpool_stop(&r->pool);
	free(r->shs);
	r->shs = NULL;
}

/* MM_ROOT (created unless a dry run), the locks, a job per model: 0 or MM_EUSAGE. */
static int run_open(struct run *r, struct mm_manifest *m, const struct mm_fetch_opts *o, struct mm_err *err)
{
	size_t i;

	memset(r, 0, sizeof(*r));
	r->lockdirfd = -1;
	r->o = o;
	r->m = m;
	r->t0 = mm_now();
	r->seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	mm_http_init();
	if (!o->dry_run && mm_mkdir_p(o->root) < 0)
		return mm_error(err, MM_EUSAGE, "cannot create MM_ROOT '%s': %s", o->root, strerror(errno));
	r->rootfd = open(o->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r->rootfd < 0 && !(o->dry_run && errno == ENOENT))
		return mm_error(err, MM_EUSAGE, "cannot open MM_ROOT '%s': %s", o->root, strerror(errno));
	if (!o->dry_run && make_lockdir(r, err) != 0) {
		close(r->rootfd);
		return MM_EUSAGE;
	}
	r->n = m->n;
	r->jobs = mm_xcalloc(r->n + 1, sizeof(*r->jobs));
	r->multi = curl_multi_init();
	/*
	 * One connection per transfer: CDNs cap the rate of each connection,
	 * so segments multiplexed over one HTTP/2 connection would gain nothing.
	 */
	curl_multi_setopt(r->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
	for (i = 0; i < r->n; i++)
		job_init(r, &r->jobs[i], &m->models[i]);
	return 0;
}

/* What needs no request: refusals, files present, twins. */
static void triage(struct run *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		check_job(r, &r->jobs[i]);
	classify(r);
	/* Refusals are said at once; a refused model already present is fine. */
	for (i = 0; i < r->n; i++)
		if (r->jobs[i].state == J_FAILED)
			mm_errorf("%s: %s", r->jobs[i].model->name, r->jobs[i].error);
}

/*
 * The bytes each job needs (sizes[i], -1 unknown): the manifest's, else a
 * HEAD's.  A dry run probes every queued job and fails the unreachable.
 */
static void size_up(struct run *r, long long *sizes, int *failed)
{
	struct job **want;
	long *st;
	long long *sz;
	char (*errs)[400];
	size_t i, n = 0;

	if (r->o->dry_run) {
		dry_run(r, failed);
		for (i = 0; i < r->n; i++)
			sizes[i] = r->jobs[i].size >= 0 ? r->jobs[i].size : r->jobs[i].hint;
		return;
	}
	want = mm_xcalloc(r->n + 1, sizeof(*want));
	st = mm_xcalloc(r->n + 1, sizeof(*st));
	sz = mm_xcalloc(r->n + 1, sizeof(*sz));
	errs = mm_xcalloc(r->n + 1, sizeof(*errs));
	for (i = 0; i < r->n; i++) {
		sizes[i] = r->jobs[i].hint;
		if (r->jobs[i].state == J_QUEUED && r->jobs[i].hint < 0)
			want[n++] = &r->jobs[i];
	}
	if (n)
		probe_all(r, want, n, st, sz, errs);
	for (i = 0; i < n; i++)
		if (sz[i] >= 0)
			sizes[want[i] - r->jobs] = sz[i];
	free(want);
	free(st);
	free(sz);
	free(errs);
}

/* Check the disk, then download (unless a dry run or stopped): 0 or MM_ENOSPACE. */
static int download(struct run *r, const long long *sizes, struct mm_err *err)
{
	const struct mm_fetch_opts *o = r->o;
	size_t i;
	int rc = preflight(r, sizes, err);

	if (rc == MM_ENOSPACE) {
		for (i = 0; i < r->n; i++)
			if (r->jobs[i].state == J_QUEUED || r->jobs[i].state == J_LINK) {
				set_error(&r->jobs[i], "%s", err->msg);
				r->jobs[i].reason = "disk";
				r->jobs[i].state = o->dry_run ? r->jobs[i].state : J_FAILED;
			}
	} else if (!o->dry_run && !(o->stop && *o->stop)) {
		/* Links to files already present need no download. */
		for (i = 0; i < r->n; i++)
			if (r->jobs[i].state == J_PRESENT)
				link_followers(r, &r->jobs[i]);
		run_loop(r);
	}
	return rc;
}

/* Each model's "fetch" object; counts what failed. */
static void record(struct run *r, int *failed)
{
	const struct mm_fetch_opts *o = r->o;
	size_t i;

	for (i = 0; i < r->n; i++) {
		struct job *j = &r->jobs[i];

		switch (j->state) {
		case J_PRESENT:
			fetch_obj(j, MM_FETCH_PRESENT);
			break;
		case J_DONE:
			fetch_obj(j, MM_FETCH_DOWNLOADED);
			break;
		case J_QUEUED:
		case J_LINK:
			if (o->dry_run) {
				cJSON *f = stage(j, MM_FETCH_WOULD_DOWNLOAD);

				if (j->size >= 0)
					cJSON_AddNumberToObject(f, "bytes", (double)j->size);
				/* The digest the download would be checked against, and whose it is. */
				if (j->origin[0] || j->has_hash) {
					cJSON_AddStringToObject(f, "expected", j->origin[0] ? j->origin :
								j->spec.hex);
					cJSON_AddStringToObject(f, "hashSource", mm_hash_source_name(
						j->origin[0] ? j->origin_src : MM_SRC_MANIFEST));
				}
				break;
			}
			/* fall through */
		case J_FAILED:
			if (!j->error[0] && o->stop && *o->stop) {
				set_error(j, "interrupted");
				j->reason = "interrupted";
			}
			if (j->unauth ||
			    (o->dry_run && j->state == J_FAILED && j->model->auth_env && !j->token)) {
				cJSON *f = stage(j, MM_FETCH_UNAUTHORIZED);

				cJSON_AddStringToObject(f, "error", j->error);
			} else {
				fetch_obj(j, MM_FETCH_FAILED);
			}
			(*failed)++;
			break;
		default:
			break;
		}
	}
}

static void run_close(struct run *r)
{
	size_t i;

	if (r->vc) {
		struct mm_err e;

		if (mm_vcache_save(r->vc, &e) != 0)
			mm_debugf("%s", e.msg);
		mm_vcache_free(r->vc);
	}
	if (r->dg) {
		struct mm_err e;

		if (mm_digests_save(r->dg, &e) != 0)
			mm_warnf("the digest record is not saved: %s", e.msg);
		mm_digests_free(r->dg);
	}
	for (i = 0; i < r->n; i++)
		job_free(&r->jobs[i]);
	free(r->jobs);
	mm_list_free(&r->liars);
	if (r->lockdirfd >= 0)
		close(r->lockdirfd);
	curl_multi_cleanup(r->multi);
	if (r->rootfd >= 0)
		close(r->rootfd);
}

int mm_fetch_run(struct mm_manifest *m, const struct mm_fetch_opts *o, struct mm_err *err)
{
	struct run r;
	int rc, failed = 0;
	long long *sizes;

	rc = run_open(&r, m, o, err);
	if (rc)
		return rc;
	triage(&r);
	civitai_digests(&r);
	sizes = mm_xcalloc(r.n + 1, sizeof(*sizes));
	size_up(&r, sizes, &failed);
	if (!o->dry_run)
		plan_sources(&r);
	rc = download(&r, sizes, err);
	free(sizes);
	record(&r, &failed);
	if (rc == 0 && o->stop && *o->stop)
		rc = mm_error(err, *o->stop == SIGINT ? MM_EINT : MM_ETERM, "interrupted");
	{
		struct mm_fetch_event ev = { .done = r.bytes, .seconds = mm_now() - r.t0,
					     .from = { r.from[0], r.from[1], r.from[2] }, .liars = (int)r.liars.n };

		emit(&r, NULL, MM_FETCH_EV_END, &ev);
	}
	if (rc == 0 && failed)
		rc = mm_error(err, MM_EFAIL, "%d of %zu model%s failed", failed, r.n, r.n == 1 ? "" : "s");
	run_close(&r);
	return rc;
}
