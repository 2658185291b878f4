/*
 * tombs.h - the deletes the ingest remembers after their generation is
 * published (issue #12): OpenSearch keeps a deleted document's version in
 * its live version map for index.gc_deletes (60 s by default), so that an
 * index or create of the same id after the delete continues the version
 * (a delete at version N, then an index at N + 1) instead of starting again
 * at 1. The ingest's version map forgets what a generation holds when it is
 * published, and a generation holds no trace of a deleted document; this
 * table keeps those deletes: an id's _seq_no and _version, dropped
 * LIMIT_GC_DELETES_MS after the delete was published, or earlier, oldest
 * first, when more than LIMIT_TOMBSTONES are kept (a bound on memory that
 * OpenSearch does not have). Times are the caller's (milliseconds on the
 * monotonic clock), so that tests can move them. Not thread-safe: the
 * ingest calls it under its lock.
 */
#ifndef TRAWL_INDEX_TOMBS_H
#define TRAWL_INDEX_TOMBS_H

#include <stddef.h>
#include <stdint.h>

typedef struct idx_tombs idx_tombs;

/* idx_tombs_new: an empty table, kept keep_ms after each put and at most
 * max entries (0, 0: LIMIT_GC_DELETES_MS, LIMIT_TOMBSTONES). NULL without
 * memory. */
idx_tombs *idx_tombs_new(uint64_t keep_ms, size_t max);
void idx_tombs_free(idx_tombs *t);

/* idx_tombs_put records that id was deleted by operation seq at version,
 * published at now_ms (replacing an older record of id). TRAWL_OK, or
 * TRAWL_ENOMEM (the table is as it was: a create then restarts at 1). */
int idx_tombs_put(idx_tombs *t, const char *id, uint32_t idlen, uint64_t seq, uint64_t version,
                  uint64_t now_ms);

/* idx_tombs_del forgets id (an operation that wrote it again was
 * published). */
void idx_tombs_del(idx_tombs *t, const char *id, uint32_t idlen);

/* idx_tombs_get: 1 and id's delete's *seq and *version when it is kept at
 * now_ms, else 0. */
int idx_tombs_get(idx_tombs *t, const char *id, uint32_t idlen, uint64_t now_ms, uint64_t *seq,
                  uint64_t *version);

/* idx_tombs_expire drops the records older than keep_ms at now_ms. */
void idx_tombs_expire(idx_tombs *t, uint64_t now_ms);

/* Records kept. */
size_t idx_tombs_count(const idx_tombs *t);

#endif
