/* verify.c — check a manifest's files in parallel; see verify.h. */
#include "verify.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "digests.h"
#include "paths.h"
#include "scan.h"
#include "state.h"
#include "size.h"
#include "upstream.h"
#include "vcache.h"

/* verify.h's statuses, by their short names here. */
#define ST_OK MM_VERIFY_OK
#define ST_MISMATCH MM_VERIFY_MISMATCH
#define ST_MISSING MM_VERIFY_MISSING
#define ST_UNVERIFIED MM_VERIFY_UNVERIFIED
#define ST_UNREADABLE MM_VERIFY_UNREADABLE

static const char *const status_name[MM_VERIFY_NSTATUS] = {
	[ST_OK] = "ok", [ST_MISMATCH] = "mismatch", [ST_MISSING] = "missing",
	[ST_UNVERIFIED] = "unverified", [ST_UNREADABLE] = "unreadable",
};

const char *mm_verify_status_name(enum mm_verify_status s)
{
	return (size_t)s < MM_VERIFY_NSTATUS ? status_name[s] : "unreadable";
}

enum mm_verify_status mm_verify_status_from_name(const char *name)
{
	for (size_t i = 0; name && i < MM_VERIFY_NSTATUS; i++)
		if (strcmp(name, status_name[i]) == 0)
			return (enum mm_verify_status)i;
	return MM_VERIFY_NSTATUS;
}

/* One file to look at; the pool fills the results. */
struct task {
	const char *rel;             /* saveTo */
	const char *path;            /* set for scan entries: open this path as is */
	const struct stat *listed;   /* for scan entries: the file the scan saw */
	struct mm_hash_spec spec;    /* expected digest, or algo NONE */
	enum mm_hash_source source;  /* where spec came from (upstream.h) */
	enum mm_hash_algo algo;      /* what to compute; NONE: no hashing */
	long long want_size;         /* -1: unknown */
	long long size_tol;          /* 0: exact (size.h) */
	long long order;             /* sort key: size, largest hashed first */

	size_t index;                /* place in the manifest or the scan */
	enum mm_verify_status status;
	char digest[MM_HASH_HEXMAX + 1];
	int cached, hashed;
	int ran;                     /* finished (not abandoned at a stop) */
	int changed;                 /* changed while it was hashed: not cached */
	char *uncached;              /* why the digest was not cached, else NULL */
	long long size;
	dev_t dev;                   /* the file that was opened */
	ino_t ino;
	char *error;
	char *quarantined;
};

struct pool {
	const struct mm_verify_opts *o;
	struct task **tasks;
	size_t n, next;
	int rootfd;
	char *rroot;
	char **allowed;
	size_t nallowed;
	struct mm_vcache *vc;
	struct mm_state state;       /* fd -1: no state directory */
	pthread_mutex_t lock;
	pthread_cond_t idle;         /* signalled as each worker ends */
	int running;                 /* workers not yet ended */
	size_t done;                 /* tasks finished */
	uint64_t hashed;             /* bytes hashed so far (atomic) */
};

int mm_ncpu(void)
{
	cpu_set_t set;
	long n;

	/* The CPUs this process may run on (a container's cpuset), else all online. */
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set) > 256 ? 256 : CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

static int inside(const char *real, const char *dir)
{
	size_t n = strlen(dir);

	if (n == 1 && dir[0] == '/')
		return 1;
	return strncmp(real, dir, n) == 0 && (real[n] == '/' || real[n] == '\0');
}

/* 1 when the file open on fd really lies inside MM_ROOT or an allowed directory. */
static int fd_allowed(const struct pool *p, int fd)
{
	char link[64], real[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, real, sizeof(real) - 1);
	if (n <= 0)
		return -1;
	real[n] = '\0';
	if (p->rroot && inside(real, p->rroot))
		return 1;
	for (size_t i = 0; i < p->nallowed; i++)
		if (inside(real, p->allowed[i]))
			return 1;
	return 0;
}

/*
 * Open t's file for reading.  Symlinks are followed, but the file opened
 * must lie inside MM_ROOT or an allowed directory (reading is harmless; the
 * rule keeps a verdict about a file ComfyUI would not be given from counting).
 * The common case, a path resolved beneath MM_ROOT, costs one openat2();
 * a path through a symlink it refuses (absolute, leading out, or a kernel
 * without openat2) is opened plainly and its real path checked.
 * A scan entry is opened once, not following a last symlink the scan did
 * not follow, and must be the very file the scan listed (open_listed()).
 * Returns an fd, or -1 with errno set (EXDEV: outside; ESTALE: not the
 * file the scan listed).
 */
static int open_listed(struct pool *p, const struct task *t, int flags)
{
	struct stat st;
	int fd = open(t->path, flags | O_NOFOLLOW);

	/* A symlink the scan followed: the file it leads to must be in bounds. */
	if (fd < 0 && errno == ELOOP) {
		fd = open(t->path, flags);
		if (fd >= 0 && fd_allowed(p, fd) != 1) {
			close(fd);
			errno = EXDEV;
			return -1;
		}
	}
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || st.st_dev != t->listed->st_dev ||
	    st.st_ino != t->listed->st_ino) {
		close(fd);
		errno = ESTALE;
		return -1;
	}
	return fd;
}

static int open_task(struct pool *p, const struct task *t)
{
	const int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	char *full;
	int fd, e;

	if (t->path)
		return open_listed(p, t, flags);
	fd = mm_openat_beneath(p->rootfd, t->rel, flags, 0);
	if (fd >= 0 || (errno != EXDEV && errno != ELOOP && errno != ENOTDIR))
		return fd;
	full = mm_xasprintf("%s/%s", p->o->root, t->rel);
	fd = open(full, flags);
	e = errno;
	free(full);
	if (fd < 0) {
		errno = e;
		return -1;
	}
	if (fd_allowed(p, fd) == 1)
		return fd;
	close(fd);
	errno = EXDEV;
	return -1;
}

static void fail(struct task *t, enum mm_verify_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fail(struct task *t, enum mm_verify_status st, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	t->status = st;
	free(t->error);
	t->error = mm_xstrdup(buf);
}

static void emit(const struct pool *p, struct mm_verify_event *ev)
{
	if (p->o->on_event)
		p->o->on_event(ev, p->o->event_arg);
}

/* A WARNING event about t (NULL: the run). */
static void warn(const struct pool *p, const struct task *t, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void warn(const struct pool *p, const struct task *t, const char *fmt, ...)
{
	struct mm_verify_event ev = { .kind = MM_VERIFY_EV_WARNING };
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (t) {
		ev.save_to = t->rel;
		ev.index = t->index;
	}
	ev.text = buf;
	emit(p, &ev);
}

static void check_size(struct task *t)
{
	long long want = t->want_size, got = t->size;

	if (want < 0)
		return;
	if (!mm_size_fits(want, t->size_tol, got))
		fail(t, ST_MISMATCH, "size is %lld bytes, expected %s%lld", got,
			t->size_tol ? "about " : "", want);
}

static int stopped(const struct pool *p)
{
	return p->o->stop && *p->o->stop;
}

static int count_bytes(void *arg, size_t n)
{
	struct pool *p = arg;

	__atomic_fetch_add(&p->hashed, (uint64_t)n, __ATOMIC_RELAXED);
	return stopped(p);
}

static void run_task(struct pool *p, struct task *t, void *buf)
{
	struct mm_err err = { 0 };
	struct stat st;
	uint64_t bytes = 0;
	int fd;

	t->ran = 1;
	fd = open_task(p, t);
	if (fd < 0) {
		if (errno == ENOENT)
			fail(t, ST_MISSING, "no file at %s", t->rel);
		else if (errno == EXDEV)
			fail(t, ST_UNREADABLE, "a symlink leads out of MM_ROOT (see --allow-dir)");
		else if (errno == ELOOP)
			fail(t, ST_UNREADABLE, "too many symlinks, or a symlink that is not followed");
		else if (errno == ESTALE)
			fail(t, ST_UNREADABLE, "replaced since the scan listed it; not hashed");
		else
			fail(t, ST_UNREADABLE, "cannot open: %s", strerror(errno));
		return;
	}
	if (fstat(fd, &st) != 0) {
		fail(t, ST_UNREADABLE, "cannot stat: %s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		fail(t, ST_UNREADABLE, "not a regular file");
		goto out;
	}
	t->size = (long long)st.st_size;
	t->dev = st.st_dev;
	t->ino = st.st_ino;
	if (t->algo == MM_HASH_NONE) {
		t->status = ST_UNVERIFIED;
		check_size(t);
		goto out;
	}
	if (p->vc && !p->o->rehash && mm_vcache_lookup(p->vc, fd, &st, t->algo, t->digest)) {
		t->cached = 1;
	} else {
		int rc = mm_hash_fd_mapped(fd, t->algo, buf, MM_HASH_BUFSZ, t->digest, &bytes,
			count_bytes, p, &err);

		if (rc == MM_EINT) {
			t->ran = 0;
			t->digest[0] = '\0';
			close(fd);
			return;
		}
		if (rc != 0) {
			fail(t, ST_UNREADABLE, "%s", err.msg);
			goto out;
		}
		t->hashed = 1;
		if (p->vc) {
			rc = mm_vcache_record(p->vc, fd, &st, t->algo, t->digest, &err);
			if (rc == 1)
				t->changed = 1;
			else if (rc)
				t->uncached = mm_xstrdup(err.msg);
		}
	}
	if (t->spec.algo == MM_HASH_NONE || mm_hash_matches(&t->spec, t->digest))
		t->status = ST_OK;
	else
		fail(t, ST_MISMATCH, "%s is %s, expected %s", mm_hash_algo_name(t->spec.algo),
			t->digest, t->spec.hex);
out:
	close(fd);
}

static void *worker(void *arg)
{
	struct pool *p = arg;
	void *buf = mm_xmalloc(MM_HASH_BUFSZ);

	int first = 1;

	for (;;) {
		size_t i;

		pthread_mutex_lock(&p->lock);
		if (!first)
			p->done++;
		first = 0;
		i = stopped(p) ? p->n : p->next++;
		if (i >= p->n) {
			p->running--;
			pthread_cond_signal(&p->idle);
			pthread_mutex_unlock(&p->lock);
			break;
		}
		pthread_mutex_unlock(&p->lock);
		run_task(p, p->tasks[i], buf);
	}
	free(buf);
	return NULL;
}

static int by_size_desc(const void *a, const void *b)
{
	const struct task *x = *(struct task *const *)a, *y = *(struct task *const *)b;

	return (x->order < y->order) - (x->order > y->order);
}

/*
 * 0, or MM_EUSAGE with err set when the state directory is refused (state.h).
 * One that cannot be made costs the cache and the quarantine, with a warning.
 */
static int pool_init(struct pool *p, const struct mm_verify_opts *o, struct mm_err *err)
{
	memset(p, 0, sizeof(*p));
	p->o = o;
	p->rootfd = -1;
	p->state.fd = -1;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->idle, NULL);
	p->allowed = mm_xcalloc(o->nallow + 1, sizeof(*p->allowed));
	for (size_t i = 0; i < o->nallow; i++) {
		char *r = realpath(o->allow_dirs[i], NULL);

		if (r)
			p->allowed[p->nallowed++] = r;
		else
			warn(p, NULL, "allowed directory '%s': %s", o->allow_dirs[i],
				strerror(errno));
	}
	if (o->state_dir && (!o->no_cache || o->quarantine)) {
		struct mm_err e = { 0 };
		int rc = mm_state_open(&p->state, o->state_dir, 1, &e);

		if (rc == MM_EUSAGE) {
			*err = e;
			return rc;
		}
		if (rc)
			warn(p, NULL, "%s: no verified cache%s", e.msg,
				o->quarantine ? " and no quarantine" : "");
	}
	if (p->state.fd >= 0 && !o->no_cache) {
		struct mm_err e = { 0 };

		p->vc = mm_vcache_open(&p->state, o->no_xattr ? MM_VCACHE_NOXATTR : 0, &e);
		if (!p->vc)
			warn(p, NULL, "verified cache disabled: %s", e.msg);
	}
	return 0;
}

/*
 * Hash every task with opts->jobs threads, biggest first, while this thread
 * says every MM_VERIFY_PROGRESS_EVERY seconds how far the run has come.
 */
static void pool_run(struct pool *p, struct task **tasks, size_t n)
{
	int jobs = p->o->jobs > 0 ? p->o->jobs : mm_ncpu();
	double t0 = mm_now();
	struct timespec next;
	pthread_t *th;
	int started = 0;

	p->tasks = tasks;
	p->n = n;
	p->next = 0;
	p->done = 0;
	qsort(tasks, n, sizeof(*tasks), by_size_desc);
	if ((size_t)jobs > n)
		jobs = n ? (int)n : 1;
	th = mm_xcalloc((size_t)jobs, sizeof(*th));
	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < jobs; i++)
		if (pthread_create(&th[i], NULL, worker, p) == 0)
			started++;
	p->running = started;
	clock_gettime(CLOCK_REALTIME, &next);
	next.tv_sec += MM_VERIFY_PROGRESS_EVERY;
	while (p->running > 0) {
		if (pthread_cond_timedwait(&p->idle, &p->lock, &next) == ETIMEDOUT) {
			struct mm_verify_event ev = { .kind = MM_VERIFY_EV_PROGRESS };

			ev.done = p->done;
			ev.total = p->n;
			ev.bytes = __atomic_load_n(&p->hashed, __ATOMIC_RELAXED);
			ev.seconds = mm_now() - t0;
			/* The workers go on while the caller shows it. */
			pthread_mutex_unlock(&p->lock);
			emit(p, &ev);
			pthread_mutex_lock(&p->lock);
			next.tv_sec += MM_VERIFY_PROGRESS_EVERY;
		}
	}
	pthread_mutex_unlock(&p->lock);
	if (!started) {
		/* No thread could be made: do the work here. */
		p->running = 1;
		worker(p);
	}
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	free(th);
}

static void pool_finish(struct pool *p)
{
	struct mm_err err = { 0 };

	if (p->vc && mm_vcache_save(p->vc, &err) != 0)
		warn(p, NULL, "verified cache not saved: %s", err.msg);
	mm_vcache_free(p->vc);
	mm_state_close(&p->state);
	if (p->rootfd >= 0)
		close(p->rootfd);
	for (size_t i = 0; i < p->nallowed; i++)
		free(p->allowed[i]);
	free(p->allowed);
	free(p->rroot);
	pthread_cond_destroy(&p->idle);
	pthread_mutex_destroy(&p->lock);
}

static void write_note(const struct pool *p, int dirfd, const char *base, const struct task *t)
{
	char now[32], *name = mm_xasprintf("%s.why", base), *note;
	struct mm_err err = { 0 };

	mm_iso8601_now(now);
	note = mm_xasprintf("saveTo: %s\nquarantined: %s\nreason: %s\n", t->rel, now,
		t->error ? t->error : status_name[t->status]);
	if (mm_state_write(dirfd, name, note, strlen(note), &err) != 0)
		warn(p, t, "%s: no note of why it was quarantined: %s", t->rel, err.msg);
	free(note);
	free(name);
}

/*
 * Move a failed file out of ComfyUI's reach; see verify.h.  The move is one
 * renameat() between the folder of the file beneath MM_ROOT and its folder
 * beneath the state directory's quarantine/, both opened without leaving
 * their roots, and only of the file that was verified (or a symlink there:
 * rename moves the link, never what it points to).
 */
static void quarantine(struct pool *p, struct task *t)
{
	char *dir = mm_dirname(t->rel), *qrel;
	const char *base = mm_basename(t->rel);
	struct mm_err err = { 0 };
	struct stat st;
	int pfd = -1, qfd = -1, in_state = 0;

	if (p->state.fd < 0)
		goto out;
	pfd = strcmp(dir, ".") == 0 ? dup(p->rootfd) :
		mm_openat_beneath(p->rootfd, dir, O_RDONLY | O_DIRECTORY, 0);
	if (pfd < 0) {
		warn(p, t, "cannot quarantine %s: %s", t->rel, strerror(errno));
		goto out;
	}
	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
	    (!S_ISLNK(st.st_mode) && (st.st_dev != t->dev || st.st_ino != t->ino))) {
		warn(p, t, "cannot quarantine %s: it is no longer the file that was verified", t->rel);
		goto out;
	}
	qrel = strcmp(dir, ".") == 0 ? mm_xstrdup(MM_STATE_QUARANTINE) :
		mm_xasprintf("%s/%s", MM_STATE_QUARANTINE, dir);
	qfd = mm_state_subdir(&p->state, qrel, 1, &err);
	free(qrel);
	if (qfd < 0) {
		warn(p, t, "cannot quarantine %s: %s", t->rel, err.msg);
		goto out;
	}
	if (renameat(pfd, base, qfd, base) == 0) {
		t->quarantined = mm_xasprintf("%s/%s", MM_STATE_QUARANTINE, t->rel);
		in_state = 1;
	} else if (errno == EXDEV) {
		char *hidden = mm_xasprintf(".%s" MM_QUARANTINED_SUFFIX, base);

		if (renameat(pfd, base, pfd, hidden) == 0)
			t->quarantined = strcmp(dir, ".") == 0 ? mm_xstrdup(hidden) :
				mm_xasprintf("%s/%s", dir, hidden);
		free(hidden);
		if (!t->quarantined)
			warn(p, t, "cannot quarantine %s: %s", t->rel, strerror(errno));
	} else {
		warn(p, t, "cannot quarantine %s: %s", t->rel, strerror(errno));
	}
	if (t->quarantined) {
		struct mm_verify_event ev = { .kind = MM_VERIFY_EV_QUARANTINED };

		write_note(p, qfd, base, t);
		ev.save_to = t->rel;
		ev.index = t->index;
		ev.text = t->quarantined;
		ev.state_dir = in_state;
		emit(p, &ev);
	}
out:
	if (pfd >= 0)
		close(pfd);
	if (qfd >= 0)
		close(qfd);
	free(dir);
}

static void set_verify(struct mm_model *model, const struct task *t)
{
	cJSON *v = mm_model_stage(model, "verify");

	cJSON_AddStringToObject(v, "status", status_name[t->status]);
	if (t->spec.algo != MM_HASH_NONE) {
		cJSON_AddStringToObject(v, "algorithm", mm_hash_algo_name(t->spec.algo));
		cJSON_AddStringToObject(v, "hashSource", mm_hash_source_name(t->source));
	}
	if (t->digest[0]) {
		cJSON_AddStringToObject(v, "digest", t->digest);
		if (t->status == ST_MISMATCH)
			cJSON_AddStringToObject(v, "expected", t->spec.hex);
		cJSON_AddBoolToObject(v, "cached", t->cached);
	}
	if (t->status != ST_MISSING && t->size >= 0)
		cJSON_AddNumberToObject(v, "size", (double)t->size);
	if (t->error && t->status != ST_OK)
		cJSON_AddStringToObject(v, "error", t->error);
	if (t->quarantined)
		cJSON_AddStringToObject(v, "quarantined", t->quarantined);
}

static void count(struct mm_verify_stats *s, const struct task *t)
{
	switch (t->status) {
	case ST_OK: s->ok++; break;
	case ST_MISMATCH: s->mismatch++; break;
	case ST_MISSING: s->missing++; break;
	case ST_UNVERIFIED: s->unverified++; break;
	case ST_UNREADABLE: s->unreadable++; break;
	case MM_VERIFY_NSTATUS: break;
	}
	s->cached += t->cached;
	s->hashed += t->hashed;
	if (t->hashed)
		s->bytes_hashed += (uint64_t)t->size;
	s->quarantined += t->quarantined != NULL;
}

/* Say why t's digest was not cached, if it was not (calling thread). */
static void report_uncached(const struct pool *p, struct task *t)
{
	struct mm_verify_event ev = { .kind = MM_VERIFY_EV_NOT_CACHED };

	if (!t->changed && !t->uncached)
		return;
	ev.save_to = t->rel;
	ev.index = t->index;
	ev.changed = t->changed;
	ev.text = t->uncached;
	emit(p, &ev);
	free(t->uncached);
	t->uncached = NULL;
}

static void report_task(const struct pool *p, const struct task *t)
{
	struct mm_verify_event ev = { .kind = MM_VERIFY_EV_MODEL };

	ev.save_to = t->rel;
	ev.index = t->index;
	ev.status = t->status;
	ev.cached = t->cached;
	ev.text = t->status == ST_OK ? NULL : t->error;
	emit(p, &ev);
}

static int open_root(struct pool *p, struct mm_err *err)
{
	p->rootfd = open(p->o->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->rootfd < 0)
		return mm_error(err, MM_EUSAGE, "cannot open MM_ROOT '%s': %s", p->o->root,
			strerror(errno));
	p->rroot = realpath(p->o->root, NULL);
	return 0;
}

int mm_verify(struct mm_manifest *m, const struct mm_verify_opts *o,
	struct mm_verify_stats *stats, struct mm_err *err)
{
	struct pool p;
	struct task *tasks, **order;
	struct mm_digests *dg;
	struct mm_err e = { 0 };
	double t0 = mm_now();
	int rc = 0;

	memset(stats, 0, sizeof(*stats));
	if (pool_init(&p, o, err) != 0 || open_root(&p, err) != 0) {
		pool_finish(&p);
		return err->code;
	}
	/* Where neither the manifest nor its "fetch" object gives a sha256, the record may (digests.h). */
	dg = mm_digests_load(o->state_dir, &e);
	if (!dg && e.code)
		warn(&p, NULL, "%s: no digest record read", e.msg);
	tasks = mm_xcalloc(m->n, sizeof(*tasks));
	order = mm_xcalloc(m->n, sizeof(*order));
	for (size_t i = 0; i < m->n; i++) {
		struct task *t = &tasks[i];
		struct mm_model *model = &m->models[i];

		t->rel = model->save_to;
		t->index = i;
		t->size = -1;
		t->want_size = model->size;
		t->size_tol = model->size_tol;
		t->source = mm_digests_expected(dg, model, &t->spec);
		t->algo = t->spec.algo;
		/* Largest first keeps every thread busy to the end; the size hint is enough. */
		t->order = model->size;
		order[i] = t;
	}
	mm_digests_free(dg);
	pool_run(&p, order, m->n);
	for (size_t i = 0; i < m->n; i++) {
		struct task *t = &tasks[i];

		if (!t->ran)
			continue;
		report_uncached(&p, t);
		if (o->quarantine && t->status == ST_MISMATCH && o->state_dir)
			quarantine(&p, t);
		if (o->require_hash && t->status == ST_UNVERIFIED && !t->error)
			t->error = mm_xstrdup("no hash to verify against (--require-hash)");
		set_verify(&m->models[i], t);
		count(stats, t);
		report_task(&p, t);
		if (t->status == ST_MISMATCH || t->status == ST_MISSING ||
		    t->status == ST_UNREADABLE || (o->require_hash && t->status == ST_UNVERIFIED))
			rc = MM_EFAIL;
		free(t->error);
		free(t->quarantined);
	}
	free(tasks);
	free(order);
	pool_finish(&p);
	stats->seconds = mm_now() - t0;
	if (stopped(&p))
		rc = *o->stop == SIGTERM ? MM_ETERM : MM_EINT;
	return rc;
}

/*
 * The manifest of a scan: each file with its size and, where it was
 * hashed, its digest; each task is reported (report_task()) and counted.
 */
static cJSON *scan_json(const struct pool *p, const char *dir, const struct mm_scan *s,
			struct task *tasks, struct mm_verify_stats *stats)
{
	cJSON *root = cJSON_CreateObject(), *models, *src;
	char now[32];

	mm_iso8601_now(now);
	cJSON_AddStringToObject(root, "timestamp", now);
	src = cJSON_AddObjectToObject(root, "source");
	if (dir) {
		cJSON_AddStringToObject(src, "scan", dir);
	} else {
		char *d = mm_xasprintf("%s/models", p->o->root);

		cJSON_AddStringToObject(src, "scan", d);
		free(d);
	}
	models = cJSON_AddArrayToObject(root, "models");
	for (size_t i = 0; i < s->n; i++) {
		cJSON *e = cJSON_CreateObject();
		char size[32];

		cJSON_AddStringToObject(e, "name", s->v[i].name);
		cJSON_AddStringToObject(e, "saveTo", s->v[i].save_to);
		mm_format_size((long long)s->v[i].st.st_size, size, sizeof(size));
		cJSON_AddStringToObject(e, "fileSize", size);
		cJSON_AddNumberToObject(e, "sizeBytes", (double)s->v[i].st.st_size);
		if (tasks) {
			struct task *t = &tasks[i];

			report_uncached(p, t);
			if (t->status == ST_OK)
				cJSON_AddStringToObject(e, "hash", t->digest);
			report_task(p, t);
			count(stats, t);
			free(t->error);
		}
		cJSON_AddItemToArray(models, e);
	}
	return root;
}

int mm_verify_scan(const char *dir, enum mm_hash_algo algo, const struct mm_verify_opts *o,
	struct mm_manifest **out, struct mm_verify_stats *stats, struct mm_err *err)
{
	struct mm_scan_opts so = { 0 };
	struct mm_scan s;
	struct pool p;
	struct task *tasks = NULL, **order = NULL;
	cJSON *root;
	double t0 = mm_now();
	int rc;

	memset(stats, 0, sizeof(*stats));
	*out = NULL;
	if (algo == MM_HASH_AUTOV2)
		return mm_error(err, MM_EUSAGE, "--hash takes md5, sha1 or sha256");
	so.root = o->root;
	so.dir = dir;
	so.state_dir = o->state_dir;
	so.allow_dirs = o->allow_dirs;
	so.nallow = o->nallow;
	/* A state directory that is refused is refused before anything is read. */
	rc = pool_init(&p, o, err);
	if (rc == 0)
		rc = mm_scan(&so, &s, err);
	if (rc) {
		pool_finish(&p);
		return rc;
	}
	/* A listed symlink's file must lie where the scan allowed it (open_listed()). */
	p.rroot = realpath(o->root, NULL);
	if (dir && (p.allowed[p.nallowed] = realpath(dir, NULL)))
		p.nallowed++;
	if (algo != MM_HASH_NONE) {
		tasks = mm_xcalloc(s.n, sizeof(*tasks));
		order = mm_xcalloc(s.n, sizeof(*order));
		for (size_t i = 0; i < s.n; i++) {
			tasks[i].rel = s.v[i].save_to;
			tasks[i].index = i;
			tasks[i].path = s.v[i].path;
			tasks[i].listed = &s.v[i].st;
			tasks[i].algo = algo;
			tasks[i].want_size = -1;
			tasks[i].order = (long long)s.v[i].st.st_size;
			order[i] = &tasks[i];
		}
		pool_run(&p, order, s.n);
		if (stopped(&p)) {
			rc = mm_error(err, *o->stop == SIGTERM ? MM_ETERM : MM_EINT, "interrupted");
			for (size_t i = 0; i < s.n; i++) {
				free(tasks[i].error);
				free(tasks[i].uncached);
			}
			free(tasks);
			free(order);
			pool_finish(&p);
			mm_scan_free(&s);
			return rc;
		}
	}
	root = scan_json(&p, dir, &s, tasks, stats);
	free(tasks);
	free(order);
	pool_finish(&p);
	mm_scan_free(&s);
	rc = mm_manifest_from_json(root, 0, out, err);
	if (rc == 0 && (stats->unreadable || stats->missing))
		rc = MM_EFAIL;
	stats->seconds = mm_now() - t0;
	return rc;
}
