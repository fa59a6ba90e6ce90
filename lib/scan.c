/* scan.c — walk model folders; the rules are in scan.h. */
#include "scan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"
#include "paths.h"

/* Deeper than any real model tree; stops pathological nesting. */
#define MAX_DEPTH 64

static const char *const model_ext[] = {
	".safetensors", ".sft", ".ckpt", ".pt", ".pt2", ".pth", ".bin", ".pkl",
	".gguf", ".onnx",
};

static const char *const partial_ext[] = {
	".part", ".tmp", ".aria2", ".crdownload", ".download", ".incomplete", MM_PART_SUFFIX,
};

/*
 * Every extension in both lists is one '.' and a word, so a name ends with
 * one exactly when its last '.' starts it (and is not the name's first byte).
 */
int mm_scan_is_model_name(const char *name)
{
	const char *dot;
	size_t n;

	if (!name || name[0] == '.' || name[0] == '\0')
		return 0;
	dot = strrchr(name, '.');
	if (!dot || dot == name)
		return 0;
	/* Only an extension of the same length can match. */
	n = strlen(dot);
	for (size_t i = 0; i < sizeof(partial_ext) / sizeof(partial_ext[0]); i++)
		if (strlen(partial_ext[i]) == n && strcasecmp(dot, partial_ext[i]) == 0)
			return 0;
	for (size_t i = 0; i < sizeof(model_ext) / sizeof(model_ext[0]); i++)
		if (strlen(model_ext[i]) == n && strcasecmp(dot, model_ext[i]) == 0)
			return 1;
	return 0;
}

struct walk {
	struct mm_scan *out;
	size_t cap;
	char **allowed;            /* real paths symlink targets may resolve into */
	size_t nallowed;
	struct stat state;         /* the state directory, if have_state */
	int have_state;
	const char *base;          /* what save_to is relative to */
	dev_t chain_dev[MAX_DEPTH + 1];
	ino_t chain_ino[MAX_DEPTH + 1];
	int depth;
	char *path;                /* the folder being walked, then "/<name>" while visiting */
	size_t plen, pcap;
};

/* Append "/name" to w->path; the caller restores w->plen afterwards. */
static void path_push(struct walk *w, const char *name)
{
	size_t n = strlen(name);

	if (w->plen + n + 2 > w->pcap) {
		w->pcap = (w->plen + n + 2) * 2;
		w->path = mm_xrealloc(w->path, w->pcap);
	}
	w->path[w->plen] = '/';
	memcpy(w->path + w->plen + 1, name, n + 1);
	w->plen += n + 1;
}

static void path_pop(struct walk *w, size_t len)
{
	w->plen = len;
	w->path[len] = '\0';
}

static int inside(const char *real, const char *dir)
{
	size_t n = strlen(dir);

	if (n == 1 && dir[0] == '/')
		return 1;
	return strncmp(real, dir, n) == 0 && (real[n] == '/' || real[n] == '\0');
}

/*
 * 1 when the symlink at path may be followed: its target resolves inside an
 * allowed directory and is not a folder that holds the link (a loop).
 */
static int allowed_target(struct walk *w, const char *dirpath, const char *path)
{
	char *real = realpath(path, NULL), *here = NULL;
	int ok = 0;

	if (!real)
		return 0;
	for (size_t i = 0; i < w->nallowed && !ok; i++)
		ok = inside(real, w->allowed[i]);
	here = ok ? realpath(dirpath, NULL) : NULL;
	if (here && inside(here, real)) {
		mm_debugf("skipping '%s': symlink loop", path);
		ok = -1;
	}
	free(here);
	free(real);
	return ok;
}

static void add(struct walk *w, const char *path, size_t plen, const char *name,
		const struct stat *st)
{
	struct mm_scan_entry *e;
	size_t bl = strlen(w->base);
	const char *rel = path + bl + (path[bl] == '/');
	char why[128];

	/* A name no manifest could carry (a backslash, a control character) is left out. */
	if (mm_path_check(rel, plen - (size_t)(rel - path), why, sizeof(why)) != 0) {
		mm_warnf("skipping '%s': the path %s", path, why);
		return;
	}

	if (w->out->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 64;
		w->out->v = mm_xrealloc(w->out->v, w->cap * sizeof(*w->out->v));
	}
	/* One string: name and saveTo are both tails of the path. */
	e = &w->out->v[w->out->n++];
	e->path = mm_xstrndup(path, plen);
	e->save_to = e->path + (rel - path);
	e->name = e->path + plen - strlen(name);
	e->st = *st;
}

static void walk_dir(struct walk *w, int dfd);

/* Visit name in the folder w->path (open as dfd); w->path is as it was on return. */
static void visit(struct walk *w, int dfd, const char *name)
{
	struct stat lst, st;
	size_t dlen = w->plen;
	char *dirpath = NULL;
	int islink;

	if (name[0] == '.')
		return;
	if (fstatat(dfd, name, &lst, AT_SYMLINK_NOFOLLOW) != 0)
		return;
	islink = S_ISLNK(lst.st_mode);
	if (islink) {
		dirpath = mm_xstrdup(w->path);
		path_push(w, name);
		if (fstatat(dfd, name, &st, 0) != 0) {
			mm_debugf("skipping '%s': broken symlink", w->path);
			goto out;
		}
		switch (allowed_target(w, dirpath, w->path)) {
		case 1:
			break;
		case 0:
			mm_debugf("skipping '%s': symlink leads outside the allowed directories", w->path);
			/* fall through */
		default:
			goto out;
		}
	} else {
		st = lst;
		/* Most entries are model files or folders; anything else needs no path. */
		if (!S_ISDIR(st.st_mode) && !(S_ISREG(st.st_mode) && mm_scan_is_model_name(name)))
			return;
		path_push(w, name);
	}
	if (S_ISDIR(st.st_mode)) {
		int cfd;

		if (w->have_state && st.st_dev == w->state.st_dev && st.st_ino == w->state.st_ino)
			goto out;
		for (int i = 0; i <= w->depth; i++)
			if (w->chain_dev[i] == st.st_dev && w->chain_ino[i] == st.st_ino) {
				mm_debugf("skipping '%s': symlink loop", w->path);
				goto out;
			}
		if (w->depth >= MAX_DEPTH) {
			mm_warnf("skipping '%s': deeper than %d folders", w->path, MAX_DEPTH);
			goto out;
		}
		cfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (cfd < 0) {
			mm_warnf("cannot open folder '%s': %s", w->path, strerror(errno));
			goto out;
		}
		w->depth++;
		w->chain_dev[w->depth] = st.st_dev;
		w->chain_ino[w->depth] = st.st_ino;
		walk_dir(w, cfd);
		w->depth--;
	} else if (S_ISREG(st.st_mode) && mm_scan_is_model_name(name)) {
		add(w, w->path, w->plen, name, &st);
	}
out:
	path_pop(w, dlen);
	free(dirpath);
}

/* A folder entry as readdir gave it. */
struct dent {
	const char *name;
	unsigned char type;   /* DT_REG, DT_DIR, ... or DT_UNKNOWN */
};

/* A folder's entries; their names are kept one after another in pool. */
struct dents {
	struct dent *v;
	size_t n;
	char *pool;
};

static int dent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dent *)a)->name, ((const struct dent *)b)->name);
}

/* The entries of folder d, sorted by name, so output and warnings are stable. */
static void read_names(struct walk *w, DIR *d, struct dents *out)
{
	struct dirent *de;
	size_t len = 0, cap = 0, i, n = 0;
	char *p;

	/* Each entry into the pool as its type byte, then its name and NUL. */
	errno = 0;
	out->pool = NULL;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name) + 1;

		if (de->d_name[0] == '.')
			continue;
		if (len + l + 1 > cap) {
			cap = (len + l + 1) * 2 + 4096;
			out->pool = mm_xrealloc(out->pool, cap);
		}
		out->pool[len] = (char)de->d_type;
		memcpy(out->pool + len + 1, de->d_name, l);
		len += l + 1;
		n++;
	}
	if (errno)
		mm_warnf("cannot read folder '%s': %s", w->path, strerror(errno));
	out->v = mm_xcalloc(n ? n : 1, sizeof(*out->v));
	for (i = 0, p = out->pool; i < n; i++) {
		out->v[i].type = (unsigned char)p[0];
		out->v[i].name = p + 1;
		p += strlen(p + 1) + 2;
	}
	out->n = n;
	if (n > 1)
		qsort(out->v, n, sizeof(*out->v), dent_cmp);
}

static void free_names(struct dents *l)
{
	free(l->v);
	free(l->pool);
}

/* Visit one entry of the folder w->path (open as dfd). */
static void visit_dent(struct walk *w, int dfd, const struct dent *e)
{
	struct stat st;

	/*
	 * A regular file, as readdir types it, is stat()ed only when its name
	 * is a model's, and needs nothing more; folders, symlinks and untyped
	 * entries are visited.  One that is gone since readdir is skipped, one
	 * that changed type is looked at afresh.
	 */
	if (e->type != DT_REG) {
		visit(w, dfd, e->name);
	} else if (mm_scan_is_model_name(e->name) &&
		   fstatat(dfd, e->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISREG(st.st_mode)) {
			size_t dlen = w->plen;

			path_push(w, e->name);
			add(w, w->path, w->plen, e->name, &st);
			path_pop(w, dlen);
		} else {
			visit(w, dfd, e->name);
		}
	}
}

/* Walks and closes dfd, the folder w->path. */
static void walk_dir(struct walk *w, int dfd)
{
	DIR *d = fdopendir(dfd);
	struct dents l;

	if (!d) {
		close(dfd);
		return;
	}
	read_names(w, d, &l);
	for (size_t i = 0; i < l.n; i++)
		visit_dent(w, dirfd(d), &l.v[i]);
	free_names(&l);
	closedir(d);
}

/*
 * The top folder's entries, shared by two walkers.  Two threads stat()ing
 * in one folder gain nothing (they contend in the kernel), but in two
 * folders at once they nearly halve the time, and a model tree is a
 * folder per model type.
 */
struct top {
	const struct dent *names;
	size_t n;
	atomic_size_t next;
	int dfd;
};

struct walker {
	struct walk w;
	struct mm_scan out;
	struct top *top;
};

/* Visit the top folder's entries not yet taken by the other walker. */
static void walk_shared(struct walk *w, struct top *top)
{
	size_t i;

	while ((i = atomic_fetch_add(&top->next, 1)) < top->n)
		visit_dent(w, top->dfd, &top->names[i]);
}

static void *walk_top(void *arg)
{
	struct walker *k = arg;

	walk_shared(&k->w, k->top);
	return NULL;
}

/* walk_dir() for the top folder: its subfolders are walked two at a time. */
static void walk_root(struct walk *w, int dfd)
{
	DIR *d = fdopendir(dfd);
	struct top top = { 0 };
	struct walker k;
	struct dents l;
	pthread_t th;
	size_t i, folders = 0;
	int helped;

	if (!d) {
		close(dfd);
		return;
	}
	read_names(w, d, &l);
	for (i = 0; i < l.n; i++)
		folders += l.v[i].type != DT_REG;
	top.names = l.v;
	top.n = l.n;
	top.dfd = dirfd(d);
	atomic_init(&top.next, 0);
	k.w = *w;
	k.w.out = &k.out;
	k.w.cap = 0;
	k.w.path = mm_xstrdup(w->path);
	k.w.pcap = w->plen + 1;
	memset(&k.out, 0, sizeof(k.out));
	k.top = &top;
	helped = folders >= 2 && pthread_create(&th, NULL, walk_top, &k) == 0;
	walk_shared(w, &top);
	if (helped) {
		pthread_join(th, NULL);
		if (k.out.n) {
			w->out->v = mm_xrealloc(w->out->v, (w->out->n + k.out.n) * sizeof(*w->out->v));
			memcpy(w->out->v + w->out->n, k.out.v, k.out.n * sizeof(*k.out.v));
			w->out->n += k.out.n;
			w->cap = w->out->n;
		}
		free(k.out.v);
	}
	free(k.w.path);
	free_names(&l);
	closedir(d);
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct mm_scan_entry *)a)->save_to,
		((const struct mm_scan_entry *)b)->save_to);
}

/* path without trailing slashes (keeps "/"); caller frees. */
static char *trim(const char *path)
{
	char *s = mm_xstrdup(path);
	size_t n = strlen(s);

	while (n > 1 && s[n - 1] == '/')
		s[--n] = '\0';
	return s;
}

int mm_scan(const struct mm_scan_opts *o, struct mm_scan *out, struct mm_err *err)
{
	struct walk w = { 0 };
	char *root = NULL, *dir = NULL, *rroot = NULL, *rdir = NULL;
	struct stat st;
	int dfd = -1, rc = 0;

	memset(out, 0, sizeof(*out));
	w.out = out;
	if (!o->root || !*o->root)
		return mm_error(err, MM_EUSAGE, "no MM_ROOT to scan");
	root = trim(o->root);
	dir = o->dir ? trim(o->dir) : mm_xasprintf("%s/models", root);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		if (!o->dir && errno == ENOENT)
			goto out;
		rc = mm_error(err, MM_EUSAGE, "cannot open '%s': %s", dir, strerror(errno));
		goto out;
	}
	rroot = realpath(root, NULL);
	rdir = realpath(dir, NULL);
	w.allowed = mm_xcalloc(o->nallow + 2, sizeof(*w.allowed));
	if (rroot)
		w.allowed[w.nallowed++] = mm_xstrdup(rroot);
	if (rdir)
		w.allowed[w.nallowed++] = mm_xstrdup(rdir);
	for (size_t i = 0; i < o->nallow; i++) {
		char *r = realpath(o->allow_dirs[i], NULL);

		if (r)
			w.allowed[w.nallowed++] = r;
		else
			mm_warnf("allowed directory '%s': %s", o->allow_dirs[i], strerror(errno));
	}
	if (o->state_dir && stat(o->state_dir, &w.state) == 0)
		w.have_state = 1;
	/*
	 * saveTo is relative to MM_ROOT when the directory is inside it, as
	 * written or once resolved; else relative to the directory itself.
	 */
	if (inside(dir, root)) {
		w.base = root;
	} else if (rroot && rdir && inside(rdir, rroot)) {
		free(dir);
		dir = mm_xstrdup(rdir);
		w.base = rroot;
	} else {
		w.base = dir;
	}
	if (fstat(dfd, &st) == 0) {
		w.chain_dev[0] = st.st_dev;
		w.chain_ino[0] = st.st_ino;
	}
	w.plen = strlen(dir);
	w.pcap = w.plen + 256;
	w.path = mm_xmalloc(w.pcap);
	memcpy(w.path, dir, w.plen + 1);
	walk_root(&w, dfd);
	dfd = -1;
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), entry_cmp);
out:
	if (dfd >= 0)
		close(dfd);
	for (size_t i = 0; i < w.nallowed; i++)
		free(w.allowed[i]);
	free(w.allowed);
	free(w.path);
	free(root);
	free(dir);
	free(rroot);
	free(rdir);
	return rc;
}

void mm_scan_free(struct mm_scan *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].path);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}
