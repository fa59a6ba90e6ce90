/* vcache.c — verified-result cache; the scheme and its reasons are in vcache.h. */
#include "vcache.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "state.h"

enum { SLOT_EMPTY, SLOT_LIVE, SLOT_DEAD };

/* One digest per computed algorithm, so md5 and sha256 users do not evict each other. */
#define NSLOTS 3
static const enum mm_hash_algo slot_algo[NSLOTS] = { MM_HASH_MD5, MM_HASH_SHA1, MM_HASH_SHA256 };

static int algo_slot(enum mm_hash_algo algo)
{
	for (int i = 0; i < NSLOTS; i++)
		if (slot_algo[i] == algo)
			return i;
	return -1;
}

struct rec {
	uint64_t dev, ino, size;
	int64_t mtime, ctime;
	unsigned char state, xattr, changed;
	char hex[NSLOTS][MM_HASH_HEXMAX + 1];   /* "" where not known */
};

struct table {
	struct rec *slot;
	size_t cap, used;       /* used counts LIVE and DEAD slots */
};

struct mm_vcache {
	char *dir;              /* for messages */
	int dirfd;              /* the state directory */
	int flags;
	struct table t;
	int dirty;
	pthread_mutex_t lock;
};

/* Room for the xattr value with every digest. */
#define XATTR_MAX 320

static int64_t ns(struct timespec ts)
{
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static size_t key_hash(uint64_t dev, uint64_t ino)
{
	uint64_t h = ino * 0x9e3779b97f4a7c15ULL ^ (dev + 0x632be59bd9b4e019ULL);

	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 32;
	return (size_t)h;
}

/* The slot for (dev, ino): the one holding it, or the empty one to fill. */
static struct rec *table_slot(struct table *t, uint64_t dev, uint64_t ino)
{
	size_t i = key_hash(dev, ino) & (t->cap - 1);

	for (;;) {
		struct rec *r = &t->slot[i];

		if (r->state == SLOT_EMPTY || (r->dev == dev && r->ino == ino))
			return r;
		i = (i + 1) & (t->cap - 1);
	}
}

static void table_init(struct table *t, size_t cap)
{
	t->cap = cap;
	t->used = 0;
	t->slot = mm_xcalloc(cap, sizeof(*t->slot));
}

/* Insert or replace r; returns the stored copy. */
static struct rec *table_put(struct table *t, const struct rec *r)
{
	struct rec *s;

	if ((t->used + 1) * 2 > t->cap) {
		struct table n;

		table_init(&n, t->cap * 2);
		for (size_t i = 0; i < t->cap; i++)
			if (t->slot[i].state != SLOT_EMPTY) {
				*table_slot(&n, t->slot[i].dev, t->slot[i].ino) = t->slot[i];
				n.used++;
			}
		free(t->slot);
		*t = n;
	}
	s = table_slot(t, r->dev, r->ino);
	if (s->state == SLOT_EMPTY)
		t->used++;
	*s = *r;
	return s;
}

/* "mm2 <size> <mtime_ns> <dev> <ino> <algo>:<hex>…": everything but the ctime. */
static void xattr_value(const struct rec *r, char *buf, size_t n)
{
	size_t len = (size_t)snprintf(buf, n, "mm2 %" PRIu64 " %" PRId64 " %" PRIu64 " %" PRIu64,
		r->size, r->mtime, r->dev, r->ino);

	for (int i = 0; i < NSLOTS && len < n; i++)
		if (r->hex[i][0])
			len += (size_t)snprintf(buf + len, n - len, " %s:%s",
				mm_hash_algo_name(slot_algo[i]), r->hex[i]);
}

/* Read the record file in dirfd into t (which must be initialised); a bad line is skipped. */
static void load_file(struct table *t, int dirfd)
{
	int fd = mm_state_openat(dirfd, MM_VCACHE_FILE, O_RDONLY, 0);
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
	char *line = NULL;
	size_t cap = 0;
	int first = 1;

	if (!f) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while (getline(&line, &cap, f) > 0) {
		struct rec r = { 0 };
		char hex[NSLOTS][MM_HASH_HEXMAX + 2];
		int x, any = 0, bad = 0;

		if (first) {
			first = 0;
			if (strcmp(line, "mm-verified 2\n") != 0)
				break;
			continue;
		}
		if (sscanf(line, "%" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNd64 " %" SCNd64
			" %d %65s %65s %65s", &r.dev, &r.ino, &r.size, &r.mtime, &r.ctime,
			&x, hex[0], hex[1], hex[2]) != 5 + 1 + NSLOTS)
			continue;
		for (int i = 0; i < NSLOTS; i++) {
			if (strcmp(hex[i], "-") == 0)
				continue;
			if (strlen(hex[i]) != mm_hash_hexlen(slot_algo[i]) ||
			    strspn(hex[i], "0123456789abcdef") != strlen(hex[i]))
				bad = 1;
			memcpy(r.hex[i], hex[i], strlen(hex[i]) + 1);
			any = 1;
		}
		if (bad || !any)
			continue;
		r.xattr = x != 0;
		r.state = SLOT_LIVE;
		table_put(t, &r);
	}
	free(line);
	fclose(f);
}

struct mm_vcache *mm_vcache_open(const struct mm_state *state, int flags, struct mm_err *err)
{
	struct mm_vcache *vc;
	int fd;

	fd = mm_state_dup(state, "verified cache", err);
	if (fd < 0)
		return NULL;
	vc = mm_xcalloc(1, sizeof(*vc));
	vc->dir = mm_xstrdup(state->path);
	vc->dirfd = fd;
	vc->flags = flags;
	pthread_mutex_init(&vc->lock, NULL);
	table_init(&vc->t, 64);
	load_file(&vc->t, fd);
	return vc;
}

static int same_identity(const struct rec *r, const struct stat *st)
{
	return r->dev == (uint64_t)st->st_dev && r->ino == (uint64_t)st->st_ino &&
		r->size == (uint64_t)st->st_size && r->mtime == ns(st->st_mtim) &&
		r->ctime == ns(st->st_ctim);
}

static void drop(struct mm_vcache *vc, struct rec *r)
{
	r->state = SLOT_DEAD;
	r->changed = 1;
	vc->dirty = 1;
}

int mm_vcache_lookup(struct mm_vcache *vc, int fd, const struct stat *st,
	enum mm_hash_algo algo, char hex[MM_HASH_HEXMAX + 1])
{
	struct rec copy, *r;
	char want[XATTR_MAX], got[XATTR_MAX];
	ssize_t n;
	int slot;

	if (!vc)
		return 0;
	algo = mm_hash_algo_computed(algo);
	pthread_mutex_lock(&vc->lock);
	r = table_slot(&vc->t, (uint64_t)st->st_dev, (uint64_t)st->st_ino);
	if (r->state != SLOT_LIVE) {
		pthread_mutex_unlock(&vc->lock);
		return 0;
	}
	if (!same_identity(r, st)) {
		drop(vc, r);
		pthread_mutex_unlock(&vc->lock);
		return 0;
	}
	copy = *r;
	pthread_mutex_unlock(&vc->lock);
	slot = algo_slot(algo);
	if (slot < 0 || !copy.hex[slot][0])
		return 0;
	if (copy.xattr) {
		xattr_value(&copy, want, sizeof(want));
		n = fgetxattr(fd, MM_VCACHE_XATTR, got, sizeof(got) - 1);
		if (n < 0 || (size_t)n != strlen(want) || memcmp(got, want, (size_t)n) != 0)
			return 0;
	}
	memcpy(hex, copy.hex[slot], sizeof(copy.hex[slot]));
	return 1;
}

int mm_vcache_record(struct mm_vcache *vc, int fd, const struct stat *before,
	enum mm_hash_algo algo, const char *hex, struct mm_err *err)
{
	struct rec r = { 0 }, *old;
	struct stat st, st2;
	char val[XATTR_MAX];
	int slot, rc = 0;

	if (!vc)
		return 1;
	algo = mm_hash_algo_computed(algo);
	slot = algo_slot(algo);
	if (slot < 0 || strlen(hex) != mm_hash_hexlen(algo))
		return mm_error(err, MM_EFAIL, "not a %s digest", mm_hash_algo_name(algo));
	if (fstat(fd, &st) != 0)
		return mm_error(err, MM_EFAIL, "fstat: %s", strerror(errno));
	if (!before)
		before = &st;
	r.dev = (uint64_t)before->st_dev;
	r.ino = (uint64_t)before->st_ino;
	r.size = (uint64_t)before->st_size;
	r.mtime = ns(before->st_mtim);
	r.ctime = ns(before->st_ctim);
	if (!same_identity(&r, &st))
		return 1;
	/*
	 * Held across the xattr write and the fstat after it, so two threads
	 * recording one inode (hard links) cannot interleave the two.
	 */
	pthread_mutex_lock(&vc->lock);
	/* Other algorithms' digests of the very same bytes are kept. */
	old = table_slot(&vc->t, r.dev, r.ino);
	if (old->state == SLOT_LIVE && same_identity(old, before))
		memcpy(r.hex, old->hex, sizeof(r.hex));
	memcpy(r.hex[slot], hex, strlen(hex) + 1);
	r.state = SLOT_LIVE;
	r.changed = 1;
	xattr_value(&r, val, sizeof(val));
	/* Any failure (no xattr support, read-only, not ours) leaves the record file alone. */
	if (!(vc->flags & MM_VCACHE_NOXATTR) &&
	    fsetxattr(fd, MM_VCACHE_XATTR, val, strlen(val), 0) == 0) {
		if (fstat(fd, &st2) != 0) {
			rc = mm_error(err, MM_EFAIL, "fstat: %s", strerror(errno));
			goto out;
		}
		r.ctime = ns(st2.st_ctim);
		if (!same_identity(&r, &st2)) {
			rc = 1;
			goto out;
		}
		r.xattr = 1;
	}
	table_put(&vc->t, &r);
	vc->dirty = 1;
out:
	pthread_mutex_unlock(&vc->lock);
	return rc;
}

/* The record file, written beside the old one and renamed over it (state.h). */
static int write_file(const struct table *t, int dirfd, struct mm_err *err)
{
	struct mm_buf b = { 0 };
	char line[128 + NSLOTS * (MM_HASH_HEXMAX + 1)];
	int rc;

	mm_buf_put(&b, "mm-verified 2\n", 14);
	for (size_t i = 0; i < t->cap; i++) {
		const struct rec *r = &t->slot[i];
		int n;

		if (r->state != SLOT_LIVE)
			continue;
		n = snprintf(line, sizeof(line), "%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRId64
			" %" PRId64 " %d", r->dev, r->ino, r->size, r->mtime, r->ctime, r->xattr);
		for (int k = 0; k < NSLOTS; k++)
			n += snprintf(line + n, sizeof(line) - (size_t)n, " %s",
				r->hex[k][0] ? r->hex[k] : "-");
		line[n++] = '\n';
		mm_buf_put(&b, line, (size_t)n);
	}
	rc = mm_state_write(dirfd, MM_VCACHE_FILE, b.p, b.len, err);
	free(b.p);
	return rc;
}

int mm_vcache_save(struct mm_vcache *vc, struct mm_err *err)
{
	struct table disk;
	int lfd, rc;

	if (!vc)
		return 0;
	pthread_mutex_lock(&vc->lock);
	if (!vc->dirty) {
		pthread_mutex_unlock(&vc->lock);
		return 0;
	}
	lfd = mm_state_openat(vc->dirfd, MM_VCACHE_FILE ".lock", O_RDWR | O_CREAT, 0600);
	if (lfd < 0 || flock(lfd, LOCK_EX) != 0) {
		rc = mm_error(err, MM_EFAIL, "cannot lock '%s/%s.lock': %s", vc->dir, MM_VCACHE_FILE,
			strerror(errno));
		goto out;
	}
	/* Another process may have saved since we loaded: merge into its file. */
	table_init(&disk, 64);
	load_file(&disk, vc->dirfd);
	for (size_t i = 0; i < vc->t.cap; i++) {
		struct rec *r = &vc->t.slot[i];

		if (!r->changed)
			continue;
		if (r->state == SLOT_LIVE) {
			table_put(&disk, r);
		} else {
			struct rec *d = table_slot(&disk, r->dev, r->ino);

			if (d->state == SLOT_LIVE)
				d->state = SLOT_DEAD;
		}
	}
	rc = write_file(&disk, vc->dirfd, err);
	if (rc)
		mm_error_prefix(err, "%s", vc->dir);
	free(disk.slot);
	if (rc == 0) {
		for (size_t i = 0; i < vc->t.cap; i++)
			vc->t.slot[i].changed = 0;
		vc->dirty = 0;
	}
out:
	if (lfd >= 0)
		close(lfd);
	pthread_mutex_unlock(&vc->lock);
	return rc;
}

size_t mm_vcache_count(const struct mm_vcache *vc)
{
	size_t n = 0;

	for (size_t i = 0; vc && i < vc->t.cap; i++)
		n += vc->t.slot[i].state == SLOT_LIVE;
	return n;
}

void mm_vcache_free(struct mm_vcache *vc)
{
	if (!vc)
		return;
	pthread_mutex_destroy(&vc->lock);
	free(vc->t.slot);
	close(vc->dirfd);
	free(vc->dir);
	free(vc);
}
