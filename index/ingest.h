/*
 * ingest.h - writes decided before they are logged (issue #12, plan item
 * 2 in docs/ARCHITECTURE.md): OpenSearch's index, create, update and
 * delete of one document, each checked against the document's current
 * state and turned into an operation of the write log (wlog.h) that says
 * the whole outcome: the document to index, or a delete, with its next
 * _version. The indexer only replays those; it never decides.
 *
 * The current state of an id is that of the last operation logged for it
 * since the live generation (kept here in a version map, with its
 * document: OpenSearch's "realtime" view), else what the live generation
 * holds (asked of the caller's callback). Decisions are made one request
 * at a time under the ingest's lock and numbered by the log in that order
 * (idx_wlog_submit_at); the lock is not held through the fsync, so writers
 * share commits. An answer that rests on another writer's operation not
 * yet durable (a conflict, a noop, a realtime read) waits for it
 * (idx_wlog_wait_durable): nothing is told of a state that never was. If a
 * commit fails, the log fails every append behind it, the answers that
 * rested on them fail too, and the version map is read again from the log
 * before the next decision.
 */
#ifndef TRAWL_INDEX_INGEST_H
#define TRAWL_INDEX_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"
#include "trawl/trawl.h"
#include "wlog.h"

typedef struct idx_ingest idx_ingest;

/* The write actions, one write, its outcome and a document's state are
 * the public API's (trawl.h: trawl_write and its kin); these are their
 * names inside the library. */
typedef trawl_write_action idx_wact;
#define IDX_WACT_INDEX TRAWL_WRITE_INDEX
#define IDX_WACT_CREATE TRAWL_WRITE_CREATE
#define IDX_WACT_UPDATE TRAWL_WRITE_UPDATE
#define IDX_WACT_DELETE TRAWL_WRITE_DELETE
typedef trawl_write idx_wreq;
typedef trawl_write_result idx_wres;
typedef trawl_doc_state idx_wlive;

/* The caller's view of the live generation: fills *out for id (exists 0
 * when it has no such document); nonzero is an error (err set). */
typedef int (*idx_wlive_fn)(void *ctx, const char *id, uint32_t idlen, idx_wlive *out, char *err,
                            size_t errlen);

/* The caller's check of id's document against the index's schema (typed
 * values, sizes) before it is acknowledged, so that the indexer never meets
 * a document it cannot index (shard/sh.h's sh_check_doc is the build's own
 * parse); nonzero refuses it with err (400, mapper_parsing_exception).
 * When it is set, a document to index, create or upsert is parsed by it
 * alone: it must refuse whatever jansson's json_loadb(JSON_REJECT_DUPLICATES
 * | JSON_ALLOW_NUL) refuses or reads as no object (sh_check_doc does: its
 * scan is IDX_JSCAN_STRICT). NULL: the ingest parses each document with
 * jansson, and any JSON object passes. */
typedef int (*idx_wcheck_fn)(void *ctx, const char *id, uint32_t idlen, const char *doc, size_t len,
                             char *err, size_t errlen);

/*
 * idx_ingest_open starts an ingest over log (which it does not own) for an
 * index whose live generation holds every operation up to applied: the
 * version map is read from the log's operations after it. max_doc_bytes
 * bounds a document (0: TRAWL_MAX_DOC_BYTES; at most LIMIT_STORED_DOC_BYTES).
 * The version map keeps in memory the documents of the writes in flight
 * (decided, not yet durable); a durable one's document is read from the
 * log when an update or a realtime read needs it. Owned by the caller:
 * idx_ingest_close.
 */
int idx_ingest_open(idx_ingest **out, idx_wlog *log, uint64_t applied, size_t max_doc_bytes,
                    idx_wlive_fn live, idx_wcheck_fn check, void *ctx, char *err, size_t errlen);
void idx_ingest_close(idx_ingest *g);

/*
 * idx_ingest_write decides reqs[0..n) in order (a later request sees the
 * earlier ones), logs the operations of those that change something in one
 * append, and returns when they are durable: res[i] says each one's
 * outcome. A request that fails (a conflict, a missing document, a bad
 * document) fails alone; if the log fails, every request that would have
 * written fails with its error (507 for a full log, else 500). Returns
 * TRAWL_OK, or an error when nothing could be decided at all (err set).
 * Any number of threads may call it at once.
 */
int idx_ingest_write(idx_ingest *g, const idx_wreq *reqs, uint32_t n, idx_wres *res, char *err,
                     size_t errlen);

/*
 * idx_ingest_get: the current state of id, the realtime view (the version
 * map, else the live generation). out->doc is malloc()ed (the caller frees
 * it); exists 0 for a missing or deleted document.
 */
int idx_ingest_get(idx_ingest *g, const char *id, uint32_t idlen, idx_wlive *out, char *err,
                   size_t errlen);

/* idx_ingest_published: a generation holding every operation up to applied
 * is live; the version map forgets what it holds, but for its deletes,
 * remembered a while so that a write of the id continues the version
 * (index/tombs.h). The indexer's order:
 * publish, then this, then idx_wlog_trim up to applied (a trim before it
 * leaves the map naming operations the log no longer has: their reads
 * fail until this is called). */
void idx_ingest_published(idx_ingest *g, uint64_t applied);

/* Ids in the version map (operations logged, not yet published). */
uint64_t idx_ingest_pending(idx_ingest *g);

#endif
