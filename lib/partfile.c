/* partfile.c — the part file's resume state: written by one run, read by the next. */
#include "partfile.h"
#include "mm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

unsigned long long mm_fnv64(const char *s)
{
	unsigned long long h = 1469598103934665603ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

/*
 * Gathered bytes go to the page cache WRITE_SLICE at a time.  The kernel
 * sizes page cache folios by the write, and a large folio takes a large free
 * block: on a virtual machine that hands free memory back to its host
 * (free page reporting) the first touch of such a block costs several times
 * that of small pages.  Measured here, 1 GiB written 512 KiB at a time cost
 * 0.2 to 2.1 s of system time from run to run; 64 KiB at a time, 0.26 to
 * 0.40 s, and 16 KiB (curl's writes) 0.4 s.
 */
#define WRITE_SLICE (64 << 10)

int mm_part_pwrite(int fd, const char *p, size_t n, long long off)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n > WRITE_SLICE ? WRITE_SLICE : n, (off_t)off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

int mm_partfile_save(int dirfd, const char *name, const char *tmp, const char *url,
		     const struct mm_partstate *st)
{
	char *buf;
	size_t len = 0, cap = 512 + st->npieces * 96, i;
	int fd, ok = 0;

	buf = mm_xmalloc(cap);
	len += (size_t)snprintf(buf + len, cap - len, "mm-state 1\nurl %016llx\nsize %lld\nvalidator %s\nsegmented %d\n",
				mm_fnv64(url), st->size, st->validator, st->segmented);
	for (i = 0; i < st->npieces; i++)
		len += (size_t)snprintf(buf + len, cap - len, "piece %lld %lld %lld\n",
					st->pieces[i].start, st->pieces[i].end, st->pieces[i].pos);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd >= 0) {
		ok = mm_part_pwrite(fd, buf, len, 0) == 0;
		close(fd);
		if (ok)
			ok = renameat(dirfd, tmp, dirfd, name) == 0;
		else
			unlinkat(dirfd, tmp, 0);
	}
	free(buf);
	return ok ? 0 : -1;
}

void mm_partfile_drop(int dirfd, const char *name)
{
	unlinkat(dirfd, name, 0);
}

static void empty(struct mm_partstate *st)
{
	free(st->pieces);
	memset(st, 0, sizeof(*st));
	st->size = -1;
}

int mm_partfile_parse(const char *data, size_t n, const char *url, long long part_size,
		      struct mm_partstate *st)
{
	char *buf, *line, *save = NULL;
	int ok = 0, version = 0;
	unsigned long long id = 0;
	long long expect = 0;

	memset(st, 0, sizeof(*st));
	st->size = -1;
	if (n == 0 || n >= MM_PARTFILE_MAX)
		return -1;
	buf = mm_xmalloc(n + 1);
	memcpy(buf, data, n);
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		long long a, b, c;

		if (sscanf(line, "mm-state %d", &version) == 1)
			continue;
		if (sscanf(line, "url %llx", &id) == 1)
			continue;
		if (sscanf(line, "size %lld", &st->size) == 1)
			continue;
		if (!strncmp(line, "validator ", 10)) {
			snprintf(st->validator, sizeof(st->validator), "%s", line + 10);
			continue;
		}
		if (sscanf(line, "segmented %d", &st->segmented) == 1)
			continue;
		if (sscanf(line, "piece %lld %lld %lld", &a, &b, &c) == 3) {
			if (a != expect || b <= a || c < 0 || c > b - a || (c > 0 && a + c > part_size))
				goto out;
			st->pieces = mm_xrealloc(st->pieces, (st->npieces + 1) * sizeof(*st->pieces));
			/* Whole, so the fields kept in memory only start at zero. */
			st->pieces[st->npieces] = (struct mm_piece){
				.start = a, .end = b, .pos = c,
				.state = c == b - a ? MM_PIECE_DONE : MM_PIECE_TODO,
			};
			st->npieces++;
			expect = b;
			continue;
		}
		goto out;
	}
	ok = version == 1 && id == mm_fnv64(url) && st->size > 0 && expect == st->size &&
	     st->validator[0] && st->npieces > 0;
out:
	free(buf);
	if (!ok) {
		empty(st);
		return -1;
	}
	return 0;
}

int mm_partfile_load(int dirfd, const char *name, const char *url, long long part_size,
		     struct mm_partstate *st)
{
	char buf[MM_PARTFILE_MAX];
	struct stat sb;
	ssize_t n;
	int fd;

	memset(st, 0, sizeof(*st));
	st->size = -1;
	/* Not a FIFO someone planted (it would block the run), nor a device. */
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return -1;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n <= 0)
		return -1;
	return mm_partfile_parse(buf, (size_t)n, url, part_size, st);
}
