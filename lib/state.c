/* state.c — the state directory, created, checked and written safely; the rule is in state.h. */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths.h"

/* Symlinks followed to reach the state directory itself, at most. */
#define MAX_LINKS 8

/* What already in the state directory must not be a symlink (or a lax folder). */
static const char *const known_dirs[] = { MM_STATE_API, MM_STATE_LOCKS, MM_STATE_QUARANTINE,
				       MM_STATE_CIVITAI };
static const char *const known_files[] = {
	MM_STATE_VERIFIED, MM_STATE_VERIFIED ".lock", MM_STATE_READY,
	MM_STATE_DIGESTS, MM_STATE_DIGESTS ".lock",
};

/* MM_EUSAGE with how to fix it when the folder open as fd (shown) breaks the rule; else 0. */
static int check_dir(int fd, const char *shown, struct mm_err *err)
{
	struct stat st;
	unsigned me = (unsigned)geteuid();

	if (fstat(fd, &st) != 0)
		return mm_error(err, MM_EFAIL, "cannot stat '%s': %s", shown, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return mm_error(err, MM_EUSAGE, "state directory '%s' is not a directory", shown);
	if ((unsigned)st.st_uid != me)
		return mm_error(err, MM_EUSAGE,
			"state directory '%s' is owned by uid %u, not by uid %u that mm runs as; "
			"move it aside and let mm make a new one: mv '%s' '%s.untrusted'",
			shown, (unsigned)st.st_uid, me, shown, shown);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return mm_error(err, MM_EUSAGE,
			"state directory '%s' is writable by others (mode %04o); run: chmod 700 '%s'",
			shown, (unsigned)(st.st_mode & 07777), shown);
	return 0;
}

static int refuse_link(struct mm_err *err, const char *shown)
{
	return mm_error(err, MM_EUSAGE,
		"'%s' is a symlink, and nothing in the state directory may be one; run: rm '%s'",
		shown, shown);
}

/* mkdir -p of path's parents (a configured path: plain paths, 0755). */
static void mkparents(const char *path)
{
	char *p = mm_xstrdup(path);

	for (char *s = p + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST)
			break;
		*s = '/';
	}
	free(p);
}

/*
 * Open the folder at path (depth symlinks followed so far) and check it.
 * The last component is opened with O_NOFOLLOW; a symlink there is
 * followed only when this user owns it, through its own descriptor, so the
 * link checked is the link read.
 */
static int open_top(const char *path, int create, int depth, int *out, struct mm_err *err)
{
	int fd, lfd, rc, tried = 0;
	struct stat st;
	char target[4096];
	ssize_t n;

	for (;;) {
		fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 || errno != ENOENT || !create || tried++)
			break;
		mkparents(path);
		if (mkdir(path, MM_STATE_MODE) != 0 && errno != EEXIST)
			return mm_error(err, MM_EFAIL, "cannot create the state directory '%s': %s",
				path, strerror(errno));
	}
	if (fd >= 0) {
		rc = check_dir(fd, path, err);
		if (rc) {
			close(fd);
			return rc;
		}
		*out = fd;
		return 0;
	}
	if (errno != ELOOP && errno != ENOTDIR)
		return mm_error(err, MM_EFAIL, "cannot open the state directory '%s': %s", path,
			strerror(errno));
	/* A symlink, or not a folder at all. */
	lfd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (lfd < 0)
		return mm_error(err, MM_EFAIL, "cannot open the state directory '%s': %s", path,
			strerror(errno));
	if (fstat(lfd, &st) != 0 || !S_ISLNK(st.st_mode)) {
		close(lfd);
		return mm_error(err, MM_EUSAGE, "state directory '%s' is not a directory", path);
	}
	if (st.st_uid != geteuid()) {
		close(lfd);
		return mm_error(err, MM_EUSAGE,
			"state directory '%s' is a symlink owned by uid %u, not by uid %u that mm runs as; "
			"run: rm '%s'", path, (unsigned)st.st_uid, (unsigned)geteuid(), path);
	}
	n = readlinkat(lfd, "", target, sizeof(target) - 1);
	close(lfd);
	if (n <= 0)
		return mm_error(err, MM_EFAIL, "cannot read the symlink '%s': %s", path,
			n < 0 ? strerror(errno) : "empty");
	target[n] = '\0';
	if (depth >= MAX_LINKS)
		return mm_error(err, MM_EUSAGE, "state directory '%s': too many symlinks", path);
	if (target[0] == '/') {
		rc = open_top(target, create, depth + 1, out, err);
	} else {
		char *dir = mm_dirname(path), *next;

		next = strcmp(dir, ".") == 0 && path[0] != '.' ? mm_xstrdup(target) :
			mm_xasprintf("%s/%s", dir, target);
		rc = open_top(next, create, depth + 1, out, err);
		free(next);
		free(dir);
	}
	return rc;
}

/* Open (creating if asked) the folder name in dfd; shown for messages. */
static int open_child(int dfd, const char *name, const char *shown, int create,
	struct mm_err *err)
{
	struct stat st;
	int fd, rc, tried = 0;

	for (;;) {
		fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 || errno != ENOENT || !create || tried++)
			break;
		if (mkdirat(dfd, name, MM_STATE_MODE) != 0 && errno != EEXIST) {
			mm_error(err, MM_EFAIL, "cannot create '%s': %s", shown, strerror(errno));
			return -1;
		}
	}
	if (fd < 0) {
		int e = errno;

		if ((e == ELOOP || e == ENOTDIR) &&
		    fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
			refuse_link(err, shown);
		else if (e == ENOTDIR)
			mm_error(err, MM_EUSAGE, "'%s' in the state directory is not a directory", shown);
		else
			mm_error(err, MM_EFAIL, "cannot open '%s': %s", shown, strerror(e));
		return -1;
	}
	rc = check_dir(fd, shown, err);
	if (rc) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The folders and files of state.h that exist must not be symlinks or lax folders. */
static int check_known(const struct mm_state *s, struct mm_err *err)
{
	struct stat st;

	for (size_t i = 0; i < sizeof(known_dirs) / sizeof(known_dirs[0]); i++) {
		char *shown = mm_xasprintf("%s/%s", s->path, known_dirs[i]);
		int fd = open_child(s->fd, known_dirs[i], shown, 0, err);

		free(shown);
		if (fd >= 0)
			close(fd);
		else if (err->code == MM_EUSAGE)
			return MM_EUSAGE;
	}
	for (size_t i = 0; i < sizeof(known_files) / sizeof(known_files[0]); i++)
		if (fstatat(s->fd, known_files[i], &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISLNK(st.st_mode)) {
			char *shown = mm_xasprintf("%s/%s", s->path, known_files[i]);

			refuse_link(err, shown);
			free(shown);
			return MM_EUSAGE;
		}
	return 0;
}

int mm_state_open(struct mm_state *s, const char *path, int create, struct mm_err *err)
{
	struct mm_err e = { 0 };
	int rc;

	s->path = NULL;
	s->fd = -1;
	if (!path || !*path)
		return mm_error(err, MM_EUSAGE, "no state directory");
	rc = open_top(path, create, 0, &s->fd, &e);
	if (rc == 0) {
		s->path = mm_xstrdup(path);
		rc = check_known(s, &e);
	}
	if (rc) {
		mm_state_close(s);
		if (err)
			*err = e;
	}
	return rc;
}

void mm_state_close(struct mm_state *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	free(s->path);
	s->path = NULL;
}

int mm_state_dup(const struct mm_state *s, const char *what, struct mm_err *err)
{
	int fd;

	if (!s || s->fd < 0)
		return mm_error(err, MM_EUSAGE, "no state directory for the %s", what), -1;
	fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return mm_error(err, MM_EFAIL, "%s: %s", s->path, strerror(errno)), -1;
	return fd;
}

int mm_state_subdir(const struct mm_state *s, const char *rel, int create, struct mm_err *err)
{
	struct mm_err e = { 0 };
	char *copy = mm_xstrdup(rel), *comp = copy, *slash;
	int dfd = s->fd, fd = -1;
	size_t plen = strlen(s->path);
	char *shown = mm_xasprintf("%s/%s", s->path, rel);

	for (;;) {
		slash = strchr(comp, '/');
		if (slash)
			*slash = '\0';
		/* Messages name the path up to this component. */
		shown[plen + 1 + (size_t)(comp - copy) + strlen(comp)] = '\0';
		fd = open_child(dfd, comp, shown, create, &e);
		if (dfd != s->fd)
			close(dfd);
		if (fd < 0 || !slash)
			break;
		shown[plen + 1 + (size_t)(slash - copy)] = '/';
		dfd = fd;
		comp = slash + 1;
	}
	if (fd < 0 && err)
		*err = e;
	free(shown);
	free(copy);
	return fd;
}

int mm_state_openat(int dirfd, const char *rel, int flags, mode_t mode)
{
	return mm_openat_nofollow(dirfd, rel, flags, mode);
}

int mm_state_write(int dirfd, const char *name, const void *data, size_t len,
	struct mm_err *err)
{
	static atomic_uint counter;
	const char *p = data;
	char *tmp = NULL;
	int fd = -1, rc = 0;

	for (int tries = 0; tries < 1000 && fd < 0; tries++) {
		free(tmp);
		tmp = mm_xasprintf("%s.%ld.%u.tmp", name, (long)getpid(),
			atomic_fetch_add(&counter, 1));
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		rc = mm_error(err, MM_EFAIL, "cannot create a temporary file for '%s': %s", name,
			strerror(errno));
		goto out;
	}
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = mm_error(err, MM_EFAIL, "cannot write '%s': %s", tmp,
				n < 0 ? strerror(errno) : "short write");
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	if (close(fd) != 0 && rc == 0)
		rc = mm_error(err, MM_EFAIL, "cannot write '%s': %s", tmp, strerror(errno));
	if (rc == 0 && renameat(dirfd, tmp, dirfd, name) != 0)
		rc = mm_error(err, MM_EFAIL, "cannot rename '%s' to '%s': %s", tmp, name,
			strerror(errno));
	if (rc)
		unlinkat(dirfd, tmp, 0);
out:
	free(tmp);
	return rc;
}
