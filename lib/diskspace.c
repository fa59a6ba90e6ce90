/* diskspace.c — the disk preflight of a run, and MM_ROOT's creation. */
#include "diskspace.h"
#include "paths.h"
#include "size.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

struct fsneed {
	dev_t dev;
	long long need, avail;
	char *path;
};

/* The deepest existing directory of dir, opened beneath MM_ROOT. */
static int existing_dir(int rootfd, const char *root, const char *dir, char **shown)
{
	char *d = mm_xstrdup(dir);
	int fd;

	if (rootfd < 0) {
		/* A dry run does not create MM_ROOT: ask its nearest ancestor. */
		free(d);
		d = mm_xstrdup(root);
		while ((fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 && strcmp(d, "/") && strcmp(d, ".")) {
			char *up = mm_dirname(d);

			free(d);
			d = *up ? up : (free(up), mm_xstrdup("/"));
		}
		*shown = d;
		return fd;
	}
	for (;;) {
		fd = strcmp(d, ".") ? mm_openat_beneath(rootfd, d, O_RDONLY | O_DIRECTORY, 0) : dup(rootfd);
		if (fd >= 0 || !strcmp(d, ".")) {
			*shown = strcmp(d, ".") ? mm_xasprintf("%s/%s", root, d) : mm_xstrdup(root);
			free(d);
			return fd;
		}
		{
			char *up = mm_dirname(d);

			free(d);
			d = up;
		}
	}
}

/* What the part file of save_to already holds on disk. */
static long long part_bytes(int rootfd, const char *save_to)
{
	char *p = mm_part_path(save_to);
	int fd = mm_openat_beneath(rootfd, p, O_RDONLY | O_NONBLOCK, 0);
	struct stat st;
	long long b = 0;

	free(p);
	if (fd >= 0) {
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
			b = (long long)st.st_blocks * 512;
		close(fd);
	}
	return b;
}

int mm_diskspace_preflight(int rootfd, const char *root, const struct mm_space_want *w, size_t n,
			   struct mm_err *err)
{
	struct fsneed *fs = NULL;
	size_t nfs = 0, i, k;
	int rc = 0;

	for (i = 0; i < n; i++) {
		long long need = w[i].size;
		struct stat st;
		struct statvfs sv;
		char *shown;
		int fd;

		if (need <= 0)
			continue;
		need -= part_bytes(rootfd, w[i].save_to);
		if (need <= 0)
			continue;
		fd = existing_dir(rootfd, root, w[i].dir, &shown);
		if (fd < 0 || fstat(fd, &st) < 0 || fstatvfs(fd, &sv) < 0) {
			if (fd >= 0)
				close(fd);
			free(shown);
			continue;
		}
		close(fd);
		for (k = 0; k < nfs; k++)
			if (fs[k].dev == st.st_dev)
				break;
		if (k == nfs) {
			fs = mm_xrealloc(fs, (nfs + 1) * sizeof(*fs));
			fs[k].dev = st.st_dev;
			fs[k].need = 0;
			fs[k].avail = (long long)sv.f_bavail * (long long)sv.f_frsize;
			fs[k].path = shown;
			nfs++;
		} else {
			free(shown);
		}
		fs[k].need += need;
	}
	for (k = 0; k < nfs; k++) {
		if (fs[k].need > fs[k].avail && rc == 0) {
			char a[32], b[32];

			mm_format_size(fs[k].need, a, sizeof(a));
			mm_format_size(fs[k].avail, b, sizeof(b));
			rc = mm_error(err, MM_ENOSPACE, "not enough disk space: need %s, %s free on %s", a, b,
				      fs[k].path);
		}
		free(fs[k].path);
	}
	free(fs);
	return rc;
}

int mm_mkdir_p(const char *path)
{
	char *p = mm_xstrdup(path), *s = p;
	int rc = 0;

	while ((s = strchr(s + 1, '/'))) {
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			rc = -1;
		*s = '/';
		if (rc < 0)
			break;
	}
	if (rc == 0 && mkdir(p, 0755) < 0 && errno != EEXIST)
		rc = -1;
	free(p);
	return rc;
}
