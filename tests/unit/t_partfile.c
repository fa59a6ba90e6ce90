/*
 * The resume state beside a part file (partfile.h).  Another run, or another
 * tenant of the machine, may have written it: whatever it holds, loading it
 * either gives pieces that tile [0, size) and claim no byte the part file
 * lacks, or gives nothing, and never crashes or reads past its input.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "partfile.h"
#include "tap.h"

static int rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

#define URL "https://example.com/model.safetensors"

static char state_head[256];

/* The header of a state of URL with the given size and validator. */
static const char *head(long long size, const char *validator)
{
	snprintf(state_head, sizeof(state_head), "mm-state 1\nurl %016llx\nsize %lld\nvalidator %s\nsegmented 1\n",
		 mm_fnv64(URL), size, validator);
	return state_head;
}

/* Parse text (NUL-terminated) for a part file of part bytes: 0 or -1. */
static int parse(const char *text, long long part, struct mm_partstate *st)
{
	return mm_partfile_parse(text, strlen(text), URL, part, st);
}

/* The promise: accepted pieces tile [0, size) and stay inside the part file. */
static int sane(const struct mm_partstate *st, long long part)
{
	long long at = 0;
	size_t i;

	if (st->size <= 0 || st->npieces == 0 || !st->validator[0])
		return 0;
	for (i = 0; i < st->npieces; i++) {
		const struct mm_piece *p = &st->pieces[i];

		if (p->start != at || p->end <= p->start || p->pos < 0 || p->pos > p->end - p->start)
			return 0;
		if (p->pos > 0 && p->start + p->pos > part)
			return 0;
		if ((p->state == MM_PIECE_DONE) != (p->pos == p->end - p->start))
			return 0;
		at = p->end;
	}
	return at == st->size;
}

static void refused(const char *text, long long part, const char *what)
{
	struct mm_partstate st;
	int rc = parse(text, part, &st);

	ok(rc == -1 && st.npieces == 0 && st.pieces == NULL && st.size == -1, "refused: %s", what);
	free(st.pieces);
}

int main(void)
{
	char tmpl[] = "/tmp/t_partfile.XXXXXX", *dir = mkdtemp(tmpl), text[4096];
	struct mm_partstate st, back;
	struct mm_piece pieces[3] = {
		{ .start = 0, .end = 100, .pos = 100, .state = MM_PIECE_DONE, .by = 2, .check = 1, .vs = 3 },
		{ .start = 100, .end = 200, .pos = 50, .state = MM_PIECE_TODO, .by = 1 },
		{ .start = 200, .end = 250, .pos = 0, .state = MM_PIECE_TODO },
	};
	int dfd, rc, accepted = 0;
	size_t i, n;

	if (!dir || (dfd = open(dir, O_RDONLY | O_DIRECTORY)) < 0) {
		ok(0, "a temporary directory");
		return done_testing();
	}

	/* What mm writes, mm reads back. */
	memset(&st, 0, sizeof(st));
	st.size = 250;
	snprintf(st.validator, sizeof(st.validator), "\"abc\"");
	st.segmented = 1;
	st.pieces = pieces;
	st.npieces = 3;
	is_int(mm_partfile_save(dfd, ".m.mm-state", ".m.mm-state.tmp", URL, &st), 0, "save");
	ok(faccessat(dfd, ".m.mm-state.tmp", F_OK, 0) != 0, "no temporary left behind");
	rc = mm_partfile_load(dfd, ".m.mm-state", URL, 150, &back);
	is_int(rc, 0, "load what was saved");
	is_int(back.size, 250, "size back");
	is_str(back.validator, "\"abc\"", "validator back");
	is_int(back.segmented, 1, "segmented back");
	is_int(back.npieces, 3, "three pieces back");
	ok(back.npieces == 3 && back.pieces[0].state == MM_PIECE_DONE && back.pieces[1].state == MM_PIECE_TODO &&
	   back.pieces[1].pos == 50, "pieces back, done and not");
	ok(back.npieces == 3 && back.pieces[0].by == 0 && back.pieces[0].check == 0 && back.pieces[0].vs == 0 &&
	   back.pieces[1].by == 0, "who wrote a piece is not saved: it comes back not known (zero)");
	free(back.pieces);
	is_int(mm_partfile_load(dfd, ".m.mm-state", "https://example.com/other", 150, &back), -1,
	       "a state for another URL is refused");
	is_int(mm_partfile_load(dfd, ".m.mm-state", URL, 120, &back), -1,
	       "a state claiming bytes the part file lacks is refused");
	is_int(mm_partfile_load(dfd, ".none", URL, 150, &back), -1, "no state file: nothing");
	ok(symlinkat(".m.mm-state", dfd, ".link.mm-state") == 0, "plant a symlink");
	is_int(mm_partfile_load(dfd, ".link.mm-state", URL, 150, &back), -1, "a symlink is not followed");
	ok(mkdirat(dfd, ".dir.mm-state", 0755) == 0, "plant a directory");
	is_int(mm_partfile_load(dfd, ".dir.mm-state", URL, 150, &back), -1, "a directory is no state");
	ok(mkfifoat(dfd, ".fifo.mm-state", 0644) == 0, "plant a FIFO");
	is_int(mm_partfile_load(dfd, ".fifo.mm-state", URL, 150, &back), -1, "a FIFO is no state, and does not block");
	mm_partfile_drop(dfd, ".m.mm-state");
	ok(faccessat(dfd, ".m.mm-state", F_OK, 0) != 0, "drop removes it");

	/* Every truncation of a good state: refused, or sane and claiming no more. */
	snprintf(text, sizeof(text), "%spiece 0 100 100\npiece 100 200 50\npiece 200 250 0\n", head(250, "\"abc\""));
	n = strlen(text);
	rc = 0;
	for (i = 0; i <= n; i++) {
		if (mm_partfile_parse(text, i, URL, 150, &st) == 0) {
			long long claim = 0;
			size_t k;

			accepted++;
			for (k = 0; k < st.npieces; k++)
				claim += st.pieces[k].pos;
			if (!sane(&st, 150) || claim > 150)
				rc++;
		} else if (st.npieces || st.pieces || st.size != -1) {
			rc++;
		}
		free(st.pieces);
	}
	is_int(rc, 0, "%zu truncations: refused or sane (%d accepted)", n + 1, accepted);
	ok(accepted >= 1 && accepted <= 3, "only cuts inside the last number or after it are accepted");

	/* Hostile contents. */
	refused("", 100, "empty");
	refused(head(100, "\"v\""), 100, "no pieces");
	snprintf(text, sizeof(text), "%spiece 0 100 0\n", head(100, ""));
	refused(text, 100, "empty validator");
	snprintf(text, sizeof(text), "%spiece 0 50 0\npiece 60 100 0\n", head(100, "\"v\""));
	refused(text, 100, "a gap between pieces");
	snprintf(text, sizeof(text), "%spiece 0 60 0\npiece 50 100 0\n", head(100, "\"v\""));
	refused(text, 100, "overlapping pieces");
	snprintf(text, sizeof(text), "%spiece 0 50 0\n", head(100, "\"v\""));
	refused(text, 100, "pieces short of the size");
	snprintf(text, sizeof(text), "%spiece 0 200 0\n", head(100, "\"v\""));
	refused(text, 100, "pieces past the size");
	snprintf(text, sizeof(text), "%spiece 0 100 101\n", head(100, "\"v\""));
	refused(text, 200, "pos past the piece");
	snprintf(text, sizeof(text), "%spiece 0 100 -1\n", head(100, "\"v\""));
	refused(text, 100, "negative pos");
	snprintf(text, sizeof(text), "%spiece 0 0 0\n", head(0, "\"v\""));
	refused(text, 100, "size 0");
	snprintf(text, sizeof(text), "%spiece 100 0 0\n", head(-100, "\"v\""));
	refused(text, 100, "negative size, backward piece");
	snprintf(text, sizeof(text), "%spiece 0 100 0\nrm -rf /\n", head(100, "\"v\""));
	refused(text, 100, "an unknown line");
	snprintf(text, sizeof(text), "mm-state 2\nurl %016llx\nsize 100\nvalidator x\npiece 0 100 0\n", mm_fnv64(URL));
	refused(text, 100, "another version");
	snprintf(text, sizeof(text), "%spiece 0 9223372036854775807 9223372036854775807\n",
		 head(9223372036854775807LL, "\"v\""));
	refused(text, 100, "a piece of LLONG_MAX bytes all on disk");
	snprintf(text, sizeof(text), "%spiece 0 99999999999999999999999 0\n", head(100, "\"v\""));
	refused(text, 100, "a number past long long");
	{
		/* An embedded NUL ends the text there. */
		char nul[256];
		int k = snprintf(nul, sizeof(nul), "%spiece 0 100 0\n", head(100, "\"v\""));

		nul[k - 5] = '\0';
		ok(mm_partfile_parse(nul, (size_t)k, URL, 100, &st) == -1 && st.pieces == NULL, "refused: embedded NUL");
	}
	{
		/* Huge: past MM_PARTFILE_MAX is refused unread; just under it parses. */
		size_t cap = MM_PARTFILE_MAX * 2, len;
		char *big = malloc(cap);
		long long np = 0;

		len = (size_t)snprintf(big, cap, "%s", head(0, "\"v\""));
		while (len < MM_PARTFILE_MAX + 100)
			len += (size_t)snprintf(big + len, cap - len, "piece %lld %lld 0\n", np, np + 1), np++;
		ok(mm_partfile_parse(big, len, URL, 0, &st) == -1 && st.pieces == NULL, "refused: %zu bytes", len);
		{
			int fd = openat(dfd, ".big.mm-state", O_WRONLY | O_CREAT | O_TRUNC, 0644);

			ok(fd >= 0 && write(fd, big, len) == (ssize_t)len, "write a huge state file");
			if (fd >= 0)
				close(fd);
			is_int(mm_partfile_load(dfd, ".big.mm-state", URL, 0, &st), -1, "a huge state file is refused");
			unlinkat(dfd, ".big.mm-state", 0);
		}
		free(big);
	}
	{
		/* Many small pieces within the limit: all kept. */
		size_t cap = MM_PARTFILE_MAX, len;
		char *many = malloc(cap);
		long long np = 0;

		len = (size_t)snprintf(many, cap, "mm-state 1\nurl %016llx\nsize 3000\nvalidator v\n", mm_fnv64(URL));
		for (np = 0; np < 3000; np++)
			len += (size_t)snprintf(many + len, cap - len, "piece %lld %lld 1\n", np, np + 1);
		rc = mm_partfile_parse(many, len, URL, 3000, &st);
		ok(rc == 0 && st.npieces == 3000 && sane(&st, 3000), "3000 pieces of a byte each");
		free(st.pieces);
		free(many);
	}
	{
		/* Garbage: never crashes, never accepts what is not sane. */
		unsigned seed = 17;
		int bad = 0, k;

		for (k = 0; k < 20000; k++) {
			char g[512];
			size_t len = (size_t)(rand_r(&seed) % sizeof(g)), q;

			snprintf(g, sizeof(g), "%spiece 0 50 10\npiece 50 100 0\n", head(100, "\"v\""));
			for (q = 0; q < 4; q++)
				g[rand_r(&seed) % (strlen(g) + 1)] = (char)(rand_r(&seed) % 256);
			if (k % 2)
				for (q = 0; q < len; q++)
					g[q] = (char)(rand_r(&seed) % 256);
			else
				len = strlen(g);
			if (mm_partfile_parse(g, len, URL, 60, &st) == 0 && !sane(&st, 60))
				bad++;
			free(st.pieces);
		}
		is_int(bad, 0, "20000 mangled states: none accepted that is not sane");
	}
	close(dfd);
	nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	return done_testing();
}
