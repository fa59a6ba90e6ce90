/* paths.c — saveTo safety and contained opens. */
#include "paths.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* A component that is neither empty, "." nor "..", nor too long. */
static int component_ok(const char *c, size_t n)
{
	return n > 0 && n <= MM_NAME_MAX && !(n == 1 && c[0] == '.') &&
	       !(n == 2 && c[0] == '.' && c[1] == '.');
}

/*
 * Every rule of mm_path_check() in one pass over the bytes: a scan checks
 * thousands of paths, nearly all good.  A bad one is looked at again to
 * say what is wrong with it.
 */
static int path_good(const char *rel, size_t len)
{
	/* 1: a byte no path may hold; 2: a slash. */
	static const unsigned char class[256] = {
		[0 ... 0x1f] = 1, ['\\'] = 1, [0x7f] = 1, ['/'] = 2,
	};
	size_t i, comp = 0;

	if (len == 0 || len > MM_PATH_MAX || rel[0] == '/')
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char k = class[(unsigned char)rel[i]];

		if (!k)
			continue;
		if (k == 1 || !component_ok(rel + comp, i - comp))
			return 0;
		comp = i + 1;
	}
	return component_ok(rel + comp, len - comp);
}

int mm_path_check(const char *rel, size_t len, char *why, size_t whysz)
{
	const char *p, *comp;
	size_t i, clen;

	if (rel && path_good(rel, len))
		return 0;

#define BAD(...) do { if (why) snprintf(why, whysz, __VA_ARGS__); return -1; } while (0)
	if (!rel || len == 0)
		BAD("is empty");
	if (memchr(rel, '\0', len))
		BAD("contains a NUL byte");
	if (len > MM_PATH_MAX)
		BAD("is longer than %d bytes", MM_PATH_MAX);
	if (rel[0] == '/')
		BAD("is an absolute path");
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)rel[i];

		if (c == '\\')
			BAD("contains a backslash");
		if (c < 0x20 || c == 0x7f)
			BAD("contains a control character");
	}
	p = rel;
	for (;;) {
		comp = p;
		while (*p && *p != '/')
			p++;
		clen = (size_t)(p - comp);
		if (clen == 0)
			BAD("has an empty component");
		if (clen == 1 && comp[0] == '.')
			BAD("has a '.' component");
		if (clen == 2 && comp[0] == '.' && comp[1] == '.')
			BAD("has a '..' component");
		if (clen > MM_NAME_MAX)
			BAD("has a component longer than %d bytes", MM_NAME_MAX);
		if (!*p)
			break;
		p++;
	}
#undef BAD
	return 0;
}

static int have_openat2 = 1;

/* Fallback when openat2 is missing: walk each component with O_NOFOLLOW. */
static int open_walk(int rootfd, const char *rel, int flags, mode_t mode)
{
	char *copy = mm_xstrdup(rel), *comp = copy, *slash;
	int dfd = rootfd, fd;

	while ((slash = strchr(comp, '/'))) {
		*slash = '\0';
		fd = openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno == ENOTDIR) {
			/* O_DIRECTORY reports a symlink as ENOTDIR; say what it is. */
			struct stat st;

			if (fstatat(dfd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
				errno = ELOOP;
			else
				errno = ENOTDIR;
		}
		if (dfd != rootfd) {
			int e = errno;

			close(dfd);
			errno = e;
		}
		if (fd < 0) {
			free(copy);
			return -1;
		}
		dfd = fd;
		comp = slash + 1;
	}
	fd = openat(dfd, comp, flags | O_NOFOLLOW | O_CLOEXEC, mode);
	if (dfd != rootfd) {
		int e = errno;

		close(dfd);
		errno = e;
	}
	free(copy);
	return fd;
}

static int openat_resolve(int rootfd, const char *rel, int flags, mode_t mode,
	unsigned long long resolve)
{
	if (have_openat2) {
		struct open_how how;
		long fd;

		memset(&how, 0, sizeof(how));
		how.flags = (unsigned long long)(flags | O_CLOEXEC);
		if (flags & (O_CREAT | O_TMPFILE))
			how.mode = mode;
		how.resolve = resolve;
		do {
			fd = syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
		} while (fd < 0 && errno == EAGAIN);
		if (fd >= 0 || errno != ENOSYS)
			return (int)fd;
		have_openat2 = 0;
	}
	return open_walk(rootfd, rel, flags, mode);
}

int mm_openat_beneath(int rootfd, const char *rel, int flags, mode_t mode)
{
	return openat_resolve(rootfd, rel, flags, mode, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
}

int mm_openat_nofollow(int rootfd, const char *rel, int flags, mode_t mode)
{
	return openat_resolve(rootfd, rel, flags | O_NOFOLLOW, mode,
		RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
}

int mm_mkparents_beneath(int rootfd, const char *rel)
{
	char *copy = mm_xstrdup(rel), *slash = copy;
	int rc = 0;

	while ((slash = strchr(slash, '/'))) {
		int fd;

		*slash = '\0';
		fd = mm_openat_beneath(rootfd, copy, O_RDONLY | O_DIRECTORY, 0);
		if (fd < 0 && errno == ENOENT) {
			/*
			 * Create the last component through its (contained)
			 * parent, never by path from the root.
			 */
			char *last = strrchr(copy, '/');
			int pfd = rootfd;

			if (last) {
				*last = '\0';
				pfd = mm_openat_beneath(rootfd, copy, O_RDONLY | O_DIRECTORY, 0);
				*last = '/';
				if (pfd < 0) {
					rc = -1;
					break;
				}
			}
			if (mkdirat(pfd, last ? last + 1 : copy, 0755) < 0 && errno != EEXIST)
				rc = -1;
			if (pfd != rootfd) {
				int e = errno;

				close(pfd);
				errno = e;
			}
			if (rc < 0)
				break;
			fd = mm_openat_beneath(rootfd, copy, O_RDONLY | O_DIRECTORY, 0);
		}
		if (fd < 0) {
			rc = -1;
			break;
		}
		close(fd);
		*slash++ = '/';
	}
	free(copy);
	return rc;
}

const char *mm_basename(const char *rel)
{
	const char *s = strrchr(rel, '/');

	return s ? s + 1 : rel;
}

char *mm_dirname(const char *rel)
{
	const char *s = strrchr(rel, '/');

	return s ? mm_xstrndup(rel, (size_t)(s - rel)) : mm_xstrdup(".");
}

char *mm_part_path(const char *rel)
{
	const char *base = mm_basename(rel);

	return mm_xasprintf("%.*s.%s" MM_PART_SUFFIX, (int)(base - rel), rel, base);
}

/* Whether rel is dir or lies beneath it. */
static int at_or_under(const char *rel, const char *dir)
{
	size_t n = strlen(dir);

	return n > 0 && strncmp(rel, dir, n) == 0 && (rel[n] == '\0' || rel[n] == '/');
}

int mm_path_reserved(const char *rel, const char *state_rel, char *why, size_t whysz)
{
	const char *comp = rel, *end;

	if (at_or_under(rel, MM_STATE_DIR_DEFAULT) || (state_rel && at_or_under(rel, state_rel))) {
		snprintf(why, whysz, "is inside mm's state directory (MM_STATE_DIR)");
		return -1;
	}
	for (; *comp; comp = *end ? end + 1 : end) {
		end = strchr(comp, '/');
		if (!end)
			end = comp + strlen(comp);
		/* ".NAME.mm-WORD": the infix after a non-empty NAME. */
		if (comp[0] == '.' && end - comp > 2 &&
		    memmem(comp + 2, (size_t)(end - comp - 2), MM_RESERVED_INFIX,
			   strlen(MM_RESERVED_INFIX))) {
			snprintf(why, whysz, "names one of mm's own files (.NAME" MM_RESERVED_INFIX
				 "*: a part, state or quarantined file)");
			return -1;
		}
	}
	return 0;
}

/* path made absolute, with "//", "/./" and a trailing '/' dropped.  Caller frees. */
static char *lexical(const char *path)
{
	char *cwd = NULL, *s, *o, *p;

	if (path[0] != '/') {
		cwd = getcwd(NULL, 0);
		if (!cwd)
			return NULL;
	}
	s = mm_xasprintf("%s/%s/", cwd ? cwd : "", path);
	free(cwd);
	for (p = o = s; *p; ) {
		if (p[0] == '/' && (p[1] == '/' || (p[1] == '.' && (p[2] == '/' || p[2] == '\0')))) {
			p += p[1] == '/' ? 1 : 2;
			continue;
		}
		*o++ = *p++;
	}
	while (o > s + 1 && o[-1] == '/')
		o--;
	*o = '\0';
	return s;
}

static char *inside(const char *root, const char *dir)
{
	size_t n = strlen(root);

	if (n == 1)     /* root is "/" */
		n = 0;
	if (strncmp(dir, root, n) == 0 && dir[n] == '/' && dir[n + 1])
		return mm_xstrdup(dir + n + 1);
	return NULL;
}

char *mm_path_inside(const char *root, const char *dir)
{
	char *r, *d, *rel = NULL;

	if (!root || !dir || !*root || !*dir)
		return NULL;
	r = lexical(root);
	d = lexical(dir);
	if (r && d)
		rel = inside(r, d);
	free(r);
	free(d);
	if (!rel) {
		r = realpath(root, NULL);
		d = realpath(dir, NULL);
		if (r && d)
			rel = inside(r, d);
		free(r);
		free(d);
	}
	return rel;
}
