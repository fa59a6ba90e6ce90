/*
 * sources.h — where a model's bytes may come from, nearest first: fleet
 * peers that hold its sha256, then the mirrors of MM_MIRRORS, then the
 * origin (its downloadUrl).  Every byte is proved by the hash whichever
 * source sent it, so a source needs no trust: a model whose sha256 is not
 * known (md5 or AutoV2 only) has its origin alone.
 *
 * Mirrors are URL templates: {sha256}, {name} and {saveTo} are replaced by
 * the model's, percent-encoded ({saveTo} keeps its slashes).  Peers are
 * live machines of the inventory (a heartbeat no older than stale_after)
 * that hold the sha256 and advertise a serving URL (serve.h's
 * MM_SERVE_FIELD), this machine excepted; a few are picked per file, in an
 * order that depends on this machine's id and the sha256, so new machines
 * do not all take the same file from the same peer.
 *
 * Ownership: struct mm_sources keeps copies of what it is given and frees
 * them in mm_sources_free(); a struct mm_source_list is the caller's, freed
 * with mm_source_list_free().  A source's url may hold a secret (a mirror's
 * query string): show its label, never its url.
 */
#ifndef MM_SOURCES_H
#define MM_SOURCES_H

#include <signal.h>
#include <stddef.h>

#include "mm.h"

enum mm_source_kind { MM_SOURCE_PEER, MM_SOURCE_MIRROR, MM_SOURCE_ORIGIN };
#define MM_SOURCE_KINDS 3

/* "peer", "mirror", "origin": the one spelling (manifest, metrics). */
const char *mm_source_kind_name(enum mm_source_kind k);

struct mm_source {
	enum mm_source_kind kind;
	char *url;        /* what to GET (may hold a secret: never shown) */
	char *label;      /* for messages: "peer gpu-7", "mirror 2", "origin" */
	char *peer;       /* a peer's machine id, else NULL */
	int mirror;       /* a mirror's place in MM_MIRRORS, from 1; else 0 */
};

struct mm_source_list {
	struct mm_source *v;
	size_t n;
};
void mm_source_list_free(struct mm_source_list *l);

/* How many peers are tried for one file, at most. */
#define MM_SOURCES_PEERS 3

struct mm_sources;

/*
 * Sources from MM_MIRRORS-like text (space-separated templates; NULL or
 * empty: none).  MM_EUSAGE, naming the entry by its place (its text may
 * hold a secret), for a template that is not an http(s) URL with a host, a
 * placeholder in its scheme or host, an unknown {placeholder}, an unclosed
 * brace, or none of the three placeholders.  *out is freed with
 * mm_sources_free().
 */
int mm_sources_new(const char *mirrors, struct mm_sources **out, struct mm_err *err);
void mm_sources_free(struct mm_sources *s);

/*
 * Ask peers too: through Redis at redis_url (redis.h; NULL: its default
 * address), skipping machine self (may be NULL), with token (MM_SERVE_TOKEN;
 * may be NULL) as the bearer for them, machines whose heartbeat is older
 * than stale_after seconds not counted.
 */
void mm_sources_use_peers(struct mm_sources *s, const char *redis_url, const char *self,
			  const char *token, double stale_after);

/*
 * Leases: a machine that serves (serving: config.h's mm_config_serving)
 * takes, for each file it is about to download that no peer holds yet, the
 * lease MM_RKEY_PEER_LEASE (rkeys.h), its machine id for
 * MM_SOURCES_LEASE_TTL seconds, renewed while it downloads
 * (mm_sources_lease_tick).  A machine that finds no peer holding a file but
 * a lease held by another waits in mm_sources_find_peers(), asking every
 * MM_SOURCES_WAIT_POLL seconds, until a peer holds it (it is then taken from
 * that peer) or the lease is gone (then the next source: a serving machine
 * takes the lease itself), max_wait seconds at most (0: never wait).  stop
 * (may be NULL) ends a wait when a signal sets it.  Redis out of reach: no
 * lease, no wait.
 */
#define MM_SOURCES_LEASE_TTL 15
#define MM_SOURCES_LEASE_RENEW 5
#define MM_SOURCES_WAIT_POLL 0.5
void mm_sources_lease(struct mm_sources *s, int serving, double max_wait,
		      volatile sig_atomic_t *stop);

/*
 * Renew the leases this run holds, every MM_SOURCES_LEASE_RENEW seconds
 * (call it as often as you like: from the fetch's event callback).  A
 * renewal that fails is not tried again: the leases then run out.
 */
void mm_sources_lease_tick(struct mm_sources *s);

/*
 * The download of the file with this hash (a manifest's "hash", any
 * spelling hash.h parses; not a sha256: nothing happens) is over.  ok: its
 * lease is no longer renewed and runs out within MM_SOURCES_LEASE_TTL, the
 * time this machine takes to report the file and serve it, so that waiters
 * still find it a peer; failed: the lease is dropped at once.
 */
void mm_sources_lease_done(struct mm_sources *s, const char *hash, int ok);

/* The bearer for peers, or NULL. */
const char *mm_sources_peer_token(const struct mm_sources *s);

/*
 * Which peers hold each of the n sha256 digests (64 lowercase hex), in one
 * round trip (the read-only function mm_peers of the `mm` library).  0
 * without peers to ask; MM_EUNAVAIL (or another code) with a message when
 * Redis cannot be asked: then no peer is used, and the caller goes on.
 * With leases (mm_sources_lease), it takes them and may wait for peers
 * already downloading some of the digests, as said there.
 */
int mm_sources_find_peers(struct mm_sources *s, const char *const *sha256, size_t n,
			  struct mm_err *err);

/*
 * src sent bytes that failed the hash (fetch.c names it a liar).  A peer's
 * machine id is recorded for mm_sources_report_liars(), once however many
 * files it spoiled; a mirror or the origin has no machine id and is left to
 * the log and the metrics.  1 when the id is recorded now, 0 otherwise (s
 * or src NULL, not a peer, or recorded before).  Not thread-safe: fetch.c
 * calls it from the thread that runs the transfers.
 */
int mm_sources_blame(struct mm_sources *s, const struct mm_source *src);

/* The machine ids recorded, in the order first blamed; *n gets how many.  Borrowed from s. */
const char *const *mm_sources_liars(const struct mm_sources *s, size_t *n);

/*
 * Tell the fleet about the peers recorded, in one round trip (the function
 * mm_report_liars of the `mm` library, which counts each in the key
 * MM_RKEY_MACHINE_LIAR of rkeys.h, this machine as the reporter).  Nothing
 * is sent, and 0 returned, without peers (MM_PEERS=0, no REDIS_URL) or
 * with none recorded.  A code with a message when Redis cannot be told:
 * a report lost, never the run's outcome.
 */
int mm_sources_report_liars(const struct mm_sources *s, struct mm_err *err);

/*
 * The URLs for one model, nearest first, into *out: its peers (those
 * mm_sources_find_peers found for sha256), the mirrors, and origin_url,
 * always last.  sha256 NULL (not known): origin_url alone.  s NULL: the
 * origin alone.
 */
void mm_sources_for(const struct mm_sources *s, const char *sha256, const char *name,
		    const char *save_to, const char *origin_url, struct mm_source_list *out);

/*
 * One mirror template expanded for a model, or NULL with err set
 * (MM_EINPUT: an unknown placeholder or an unclosed brace).  Caller frees.
 */
char *mm_mirror_expand(const char *tmpl, const char *sha256, const char *name, const char *save_to,
		       struct mm_err *err);

#endif
