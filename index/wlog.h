/*
 * wlog.h - an index's write log: the operations acknowledged to writers
 * and not yet in a published generation (docs/FORMAT.md §14, DESIGN 12).
 *
 * A write is acknowledged only once it is in the log, and it is in the log
 * only once the log's file has been fsynced: idx_wlog_append returns after
 * the commit that holds its operations is durable, so an acknowledged
 * write survives kill -9 and a power cut. Appends made at once by several
 * threads share one commit and one fsync (group commit): the first to find
 * no commit running writes every operation waiting, the others wait for it.
 * An append is all or nothing: its operations are in one commit, which
 * either lands whole or not at all (LMDB's commit is atomic).
 *
 * Each operation gets the next sequence number (1, 2, ...; never reused
 * once written, also after a trim or a restart; without gaps). The indexer reads them back in order
 * (idx_wlog_read), publishes a generation that holds them, and then drops
 * them (idx_wlog_trim). Every record carries an XXH3-64 of itself, checked
 * when it is read: LMDB keeps no checksum of its pages.
 *
 * One process owns a log (a second idx_wlog_open fails while the first
 * holds it); inside it every function may be called from any thread.
 */
#ifndef TRAWL_INDEX_WLOG_H
#define TRAWL_INDEX_WLOG_H

#include <stddef.h>
#include <stdint.h>

typedef struct idx_wlog idx_wlog;

/* What an operation does to the document with its id. */
typedef enum idx_wop_kind {
	IDX_WOP_INDEX = 1,  /* the document is doc (added, or replacing the one there) */
	IDX_WOP_DELETE = 2, /* the document is gone */
} idx_wop_kind;

typedef struct idx_wop {
	idx_wop_kind kind;
	const char *id; /* idlen bytes, 1..LIMIT_ID_BYTES */
	uint32_t idlen;
	const char *doc; /* INDEX: the whole document, doclen bytes (1..LIMIT_STORED_DOC_BYTES) */
	uint32_t doclen;
	uint64_t version; /* the document's version after the operation (_version) */
	uint64_t seq;     /* its sequence number: set by append, and by read */
} idx_wop;

/*
 * idx_wlog_open opens the log at path (a file, created when missing, and
 * path + "-lock" beside it). max_bytes bounds the bytes of the records it
 * holds (0: LIMIT_WLOG_BYTES; less than LIMIT_WLOG_MIN_BYTES: that); an
 * append that would pass it fails with TRAWL_ENOSPC, as one on a full disk
 * does, and reads and trims go on (the file may grow to about twice the
 * bound: LMDB's pages). Owned by the caller: idx_wlog_close.
 * Errors: TRAWL_EIO (unreadable, or in use by another process: err says
 * which), TRAWL_ECORRUPT (not a log, or a damaged one), TRAWL_EVERSION.
 */
int idx_wlog_open(idx_wlog **out, const char *path, uint64_t max_bytes, char *err, size_t errlen);

/* idx_wlog_close closes w. No call on w may be running. */
void idx_wlog_close(idx_wlog *w);

/*
 * idx_wlog_append appends ops[0..n) (1 <= n <= LIMIT_WLOG_APPEND_OPS), in
 * that order, with consecutive sequence numbers written to ops[i].seq, and
 * returns once they are durable: idx_wlog_submit, then idx_wlog_wait.
 * Nothing of an append that fails is in the log. The operations' bytes are
 * copied; the caller keeps them.
 * Errors: TRAWL_EINVAL or TRAWL_ELIMIT (err names the operation and the
 * limit: nothing was written), TRAWL_ENOSPC (the log's bound, the disk),
 * TRAWL_EIO.
 */
int idx_wlog_append(idx_wlog *w, idx_wop *ops, uint32_t n, char *err, size_t errlen);

/*
 * An append in two steps, for a caller that decides operations in an order
 * of its own (ingest: under its lock, on top of the operations it decided
 * before) and must not hold its lock through the fsync:
 *
 * idx_wlog_submit checks ops[0..n) as idx_wlog_append does, numbers them
 * (ops[i].seq) after every operation submitted before, queues them, and
 * returns at once: the numbers are the order in which operations reach the
 * log. idx_wlog_wait then returns when they are durable (TRAWL_OK) or have
 * failed. If a commit fails, every append submitted after it fails too
 * ("an earlier append failed: ...", since each may have been decided on
 * top of one that is not in the log), and the numbers go on from the
 * first that failed: the log's numbers never have a gap.
 *
 * wt is the caller's until idx_wlog_wait has returned; after a successful
 * submit the caller must call idx_wlog_wait. ops, and err, must live as
 * long. The fields are the log's.
 */
typedef struct idx_wlog_waiter {
	idx_wop *ops;
	uint32_t n;
	size_t bytes;
	int done, rc;
	char *err;
	size_t errlen;
	struct idx_wlog_waiter *next;
} idx_wlog_waiter;
int idx_wlog_submit(idx_wlog *w, idx_wop *ops, uint32_t n, idx_wlog_waiter *wt, char *err,
                    size_t errlen);
int idx_wlog_wait(idx_wlog *w, idx_wlog_waiter *wt);

/*
 * idx_wlog_epoch counts the commits that failed since the log was opened.
 * idx_wlog_submit_at is idx_wlog_submit that refuses (TRAWL_EBUSY, nothing
 * queued) when that count is no longer epoch: the caller decided its
 * operations on top of appends that have since failed, and must decide
 * them again. IDX_WLOG_ANY_EPOCH: no check (idx_wlog_submit).
 */
#define IDX_WLOG_ANY_EPOCH UINT64_MAX
uint64_t idx_wlog_epoch(idx_wlog *w);
int idx_wlog_submit_at(idx_wlog *w, uint64_t epoch, idx_wop *ops, uint32_t n, idx_wlog_waiter *wt,
                       char *err, size_t errlen);

/*
 * idx_wlog_wait_durable waits until the operation numbered seq at epoch
 * (what idx_wlog_epoch said when it was submitted) is durable (TRAWL_OK),
 * or was lost to a failed commit (TRAWL_EIO): for a caller that answered
 * something on top of another writer's operation, and must not let the
 * answer out before that operation is in the log. Numbers are given again
 * after a failure, so a number alone does not say which operation it is.
 */
int idx_wlog_wait_durable(idx_wlog *w, uint64_t seq, uint64_t epoch);

/*
 * idx_wlog_read calls cb(ctx, op) for the operations from sequence number
 * from on, in order, until max_ops were given, max_bytes of documents
 * passed (at least one operation is given), the log ends, or cb returns
 * nonzero (which is returned). op's bytes are valid during the call only.
 * Returns TRAWL_OK, cb's value, or TRAWL_ECORRUPT (err names the sequence
 * number whose record fails its checksum or its structure).
 */
typedef int (*idx_wlog_cb)(void *ctx, const idx_wop *op);
int idx_wlog_read(idx_wlog *w, uint64_t from, uint32_t max_ops, size_t max_bytes, idx_wlog_cb cb,
                  void *ctx, char *err, size_t errlen);

/* idx_wlog_trim drops the operations with a sequence number up to upto
 * (those a published generation holds). Sequence numbers go on from where
 * they were. */
int idx_wlog_trim(idx_wlog *w, uint64_t upto, char *err, size_t errlen);

/* What a log holds, for /metrics and tests. */
typedef struct idx_wlog_info {
	uint64_t first;   /* the oldest operation's sequence number (next: none) */
	uint64_t next;    /* the sequence number the next operation gets */
	uint64_t ops;     /* operations held */
	uint64_t bytes;   /* their records' bytes (bounded by the open's max_bytes) */
	uint64_t commits; /* commits made since open (each one fsync) */
	uint64_t appends; /* appends acknowledged since open */
} idx_wlog_info;
void idx_wlog_stat(idx_wlog *w, idx_wlog_info *out);

#endif
