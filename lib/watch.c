/* watch.c — inotify on a tree of model folders. */
#include "watch.h"
#include "log.h"
#include "scan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DEPTH 16
#define DIR_MASK (IN_CREATE | IN_DELETE | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | \
		  IN_DELETE_SELF | IN_MOVE_SELF)

struct wdir {
	int wd;
	char *path;
};

struct mm_dirwatch {
	int fd;
	int root_wd;
	struct wdir *v;
	size_t n, cap;
};

static const char *path_of(const struct mm_dirwatch *w, int wd)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		if (w->v[i].wd == wd)
			return w->v[i].path;
	return NULL;
}

/* Watch path and the folders below it; a folder already watched is not entered again. */
static void add_tree(struct mm_dirwatch *w, const char *path, int depth)
{
	DIR *d;
	struct dirent *de;
	int wd;

	if (depth > MAX_DEPTH)
		return;
	wd = inotify_add_watch(w->fd, path, DIR_MASK | IN_ONLYDIR);
	if (wd < 0) {
		if (errno == ENOSPC)
			mm_warnf("cannot watch '%s': inotify watch limit reached (fs.inotify.max_user_watches)",
				 path);
		else if (errno != ENOENT && errno != ENOTDIR)
			mm_debugf("cannot watch '%s': %s", path, strerror(errno));
		return;
	}
	if (path_of(w, wd))
		return;  /* the same folder by another path, or a loop */
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 16;
		w->v = mm_xrealloc(w->v, w->cap * sizeof(*w->v));
	}
	w->v[w->n].wd = wd;
	w->v[w->n].path = mm_xstrdup(path);
	w->n++;
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d))) {
		struct stat st;
		char *sub;

		if (de->d_name[0] == '.')
			continue;
		if (de->d_type != DT_DIR && de->d_type != DT_LNK && de->d_type != DT_UNKNOWN)
			continue;
		sub = mm_xasprintf("%s/%s", path, de->d_name);
		if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode))
			add_tree(w, sub, depth + 1);
		free(sub);
	}
	closedir(d);
}

int mm_dirwatch_open(const char *dir, struct mm_dirwatch **out, struct mm_err *err)
{
	struct mm_dirwatch *w;
	struct stat st;

	*out = NULL;
	if (stat(dir, &st) < 0) {
		int e = errno;

		mm_error(err, MM_EUSAGE, "cannot watch '%s': %s", dir, strerror(e));
		errno = e;
		return MM_EUSAGE;
	}
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return mm_error(err, MM_EUSAGE, "cannot watch '%s': not a directory", dir);
	}
	w = mm_xcalloc(1, sizeof(*w));
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0) {
		int e = errno;

		free(w);
		return mm_error(err, MM_EFAIL, "inotify: %s", strerror(e));
	}
	add_tree(w, dir, 0);
	if (!w->n) {
		mm_dirwatch_close(w);
		return mm_error(err, MM_EFAIL, "cannot watch '%s'", dir);
	}
	w->root_wd = w->v[0].wd;
	*out = w;
	return 0;
}

int mm_dirwatch_fd(const struct mm_dirwatch *w)
{
	return w->fd;
}

int mm_dirwatch_drain(struct mm_dirwatch *w)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	int changed = 0;

	for (;;) {
		ssize_t len = read(w->fd, buf, sizeof(buf));
		char *p;

		if (len <= 0)
			break;
		for (p = buf; p < buf + len;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			const char *name = ev->len ? ev->name : "";

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				changed = 1;
				continue;
			}
			if (ev->wd == w->root_wd && (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)))
				return -1;
			if (!*name || name[0] == '.')
				continue;
			if (ev->mask & IN_ISDIR) {
				changed = 1;
				if (ev->mask & (IN_CREATE | IN_MOVED_TO)) {
					const char *parent = path_of(w, ev->wd);

					if (parent) {
						char *sub = mm_xasprintf("%s/%s", parent, name);

						add_tree(w, sub, 1);
						free(sub);
					}
				}
			} else if (mm_scan_is_model_name(name)) {
				changed = 1;
			} else if (ev->mask & IN_CREATE) {
				/* A symlink to a folder shows as a file creation. */
				const char *parent = path_of(w, ev->wd);
				struct stat st;

				if (parent) {
					char *sub = mm_xasprintf("%s/%s", parent, name);

					if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode)) {
						add_tree(w, sub, 1);
						changed = 1;
					}
					free(sub);
				}
			}
		}
	}
	return changed;
}

void mm_dirwatch_close(struct mm_dirwatch *w)
{
	size_t i;

	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	for (i = 0; i < w->n; i++)
		free(w->v[i].path);
	free(w->v);
	free(w);
}
