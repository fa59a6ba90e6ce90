/*
 * audit.h — `mm-route audit`: do the machines of the fleet agree on what
 * their model files are?
 *
 * Every live machine's inventory (machine:<id>:models, inventory.h) carries
 * each file's sha256 and where it came from (hashSource).  The audit lists
 *   disagreements  files with one saveTo (or one name, under several saveTo)
 *                  whose machines report different sha256 digests, each
 *                  digest with its machines and sources;
 *   unproved       files that a machine reports with no digest at all (no
 *                  sha256, no manifest hash): nothing proves them.
 * A manifest hash that is a sha256 counts as one; an md5 or AutoV2 alone
 * proves the file but cannot be compared, so it is not a disagreement.
 *
 * The answer: {"machines": [ids], "files": N, "disagreements": [...],
 * "unproved": [...], "clean": bool}; the caller owns it.
 */
#ifndef MM_AUDIT_H
#define MM_AUDIT_H

#include <stdio.h>

#include <cjson/cJSON.h>

#include "mm.h"
#include "redis.h"

int mm_route_audit(struct mm_redis *r, double stale_after, cJSON **out, struct mm_err *err);

/* 1 when the answer found nothing to report (exit 0), else 0. */
int mm_audit_clean(const cJSON *answer);

/* The answer as a table for people, to f (strings already made visible). */
void mm_audit_table(const cJSON *answer, FILE *f);

#endif
