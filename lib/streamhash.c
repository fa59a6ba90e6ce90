/* streamhash.c — the hashing threads that follow a download (protocol in streamhash.h). */
#include "streamhash.h"
#include "mm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HASH_CHUNK (1 << 20)            /* bytes read back per hashing step */
#define WRITEBACK_EVERY (32LL << 20)    /* start writeback after this much hashed */

static int pick(struct mm_shpool *p, struct mm_streamhash **out)
{
	size_t i;

	for (i = 0; i < p->nfiles; i++) {
		struct mm_streamhash *j = p->files[i];

		/* frontier is set only once the part file is open (publish). */
		if (j->dead || j->busy || j->fin)
			continue;
		if (j->hashed < j->frontier || (j->complete && j->hashed == j->frontier)) {
			*out = j;
			return 1;
		}
	}
	return 0;
}

static void *hash_main(void *arg)
{
	struct mm_shpool *p = arg;
	char *buf = mm_xmalloc(HASH_CHUNK);

	pthread_mutex_lock(&p->mx);
	while (!p->quit) {
		struct mm_streamhash *j;
		unsigned gen;
		long long off, n;
		int fin_now, rc = 0;
		char err[256] = "";

		if (!pick(p, &j)) {
			pthread_cond_wait(&p->cv, &p->mx);
			continue;
		}
		j->busy = 1;
		gen = j->gen;
		off = j->hashed;
		n = j->frontier - off;
		if (n > HASH_CHUNK)
			n = HASH_CHUNK;
		fin_now = j->complete && off == j->frontier;
		pthread_mutex_unlock(&p->mx);

		if (j->hasher && j->hasher_gen != gen) {
			mm_hasher_reset(j->hasher, NULL);
			if (j->hasher2)
				mm_hasher_reset(j->hasher2, NULL);
			j->hasher_gen = gen;
		}
		if (fin_now) {
			struct mm_err e;

			/* One fsync per file, here, off the network thread. */
			if (fsync(j->fd) < 0) {
				snprintf(err, sizeof(err), "cannot fsync the part file: %s", strerror(errno));
				rc = -1;
			} else if ((j->hasher && mm_hasher_final(j->hasher, j->digest, &e) != 0) ||
				   (j->hasher && j->hasher2 && mm_hasher_final(j->hasher2, j->digest2, &e) != 0)) {
				snprintf(err, sizeof(err), "%.200s", e.msg);
				rc = -1;
			}
		} else {
			if (j->hasher) {
				long long done = 0;

				while (done < n) {
					ssize_t r = pread(j->fd, buf + done, (size_t)(n - done), (off_t)(off + done));

					if (r < 0 && errno == EINTR)
						continue;
					if (r <= 0) {
						snprintf(err, sizeof(err), "cannot read back the part file: %s",
							 r < 0 ? strerror(errno) : "it is shorter than written");
						rc = -1;
						break;
					}
					done += r;
				}
				if (rc == 0)
					mm_hasher_update(j->hasher, buf, (size_t)n, NULL);
				if (rc == 0 && j->hasher2)
					mm_hasher_update(j->hasher2, buf, (size_t)n, NULL);
			}
			/* Start writeback early so the final fsync has little left to do. */
			if (rc == 0 && off + n - j->synced >= WRITEBACK_EVERY) {
				sync_file_range(j->fd, (off_t)j->synced, (off_t)(off + n - j->synced),
						SYNC_FILE_RANGE_WRITE);
				j->synced = off + n;
			}
		}

		pthread_mutex_lock(&p->mx);
		j->busy = 0;
		if (gen == j->gen) {
			if (rc != 0 || fin_now) {
				j->fin = 1;
				j->fin_rc = rc;
				snprintf(j->fin_err, sizeof(j->fin_err), "%s", err);
			} else {
				j->hashed += n;
			}
		}
		pthread_cond_broadcast(&p->done);
		if (j->fin && p->wake)
			p->wake(p->wake_arg);
	}
	pthread_mutex_unlock(&p->mx);
	free(buf);
	return NULL;
}

void mm_shpool_start(struct mm_shpool *p, struct mm_streamhash **files, size_t n, int nth,
		     void (*wake)(void *), void *wake_arg)
{
	int i;

	pthread_mutex_init(&p->mx, NULL);
	pthread_cond_init(&p->cv, NULL);
	pthread_cond_init(&p->done, NULL);
	p->quit = 0;
	p->files = files;
	p->nfiles = n;
	p->wake = wake;
	p->wake_arg = wake_arg;
	p->nth = nth;
	p->th = mm_xcalloc((size_t)nth, sizeof(*p->th));
	for (i = 0; i < nth; i++)
		if (pthread_create(&p->th[i], NULL, hash_main, p) != 0)
			break;
	p->nth = i;
}

void mm_shpool_stop(struct mm_shpool *p)
{
	int i;

	pthread_mutex_lock(&p->mx);
	p->quit = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mx);
	for (i = 0; i < p->nth; i++)
		pthread_join(p->th[i], NULL);
	free(p->th);
	pthread_mutex_destroy(&p->mx);
	pthread_cond_destroy(&p->cv);
	pthread_cond_destroy(&p->done);
}

void mm_streamhash_forget(struct mm_shpool *p, struct mm_streamhash *j, int dead)
{
	pthread_mutex_lock(&p->mx);
	/*
	 * A chunk in flight is discarded when it comes back (its gen is old).
	 * Nothing is left to pick before the wait, not after it: the wait
	 * lets a thread that just returned a chunk pick j again, and a chunk
	 * of the new gen read from the old bytes would reset the hasher for
	 * good and leave those bytes in it.
	 */
	j->gen++;
	if (dead)
		j->dead = 1;
	j->hashed = 0;
	j->frontier = 0;
	j->complete = 0;
	j->fin = 0;
	while (j->busy)
		pthread_cond_wait(&p->done, &p->mx);
	j->synced = 0;
	pthread_mutex_unlock(&p->mx);
}

void mm_streamhash_publish(struct mm_shpool *p, struct mm_streamhash *j, long long f, int complete)
{
	pthread_mutex_lock(&p->mx);
	if (f != j->frontier || complete != j->complete) {
		j->frontier = f;
		j->complete = complete;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mx);
}

int mm_streamhash_done(struct mm_shpool *p, struct mm_streamhash *j)
{
	int fin;

	pthread_mutex_lock(&p->mx);
	fin = j->fin;
	pthread_mutex_unlock(&p->mx);
	return fin;
}

void mm_streamhash_revive(struct mm_shpool *p, struct mm_streamhash *j)
{
	pthread_mutex_lock(&p->mx);
	j->dead = 0;
	pthread_mutex_unlock(&p->mx);
}
