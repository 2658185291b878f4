/*
 * queue.h - the work queue of a build (queue.c): items in, leases out,
 * completion records back to the builder's thread.
 */
#ifndef TRAWL_SHARD_QUEUE_H
#define TRAWL_SHARD_QUEUE_H

#include "sh.h"

typedef struct sh_queue sh_queue;

/* A finished item, as the builder's thread collects it. */
typedef struct sh_qdone {
	uint64_t item;
	uint64_t lines, bytes_in, rejected, docs;
	char *rejects; /* NUL-separated messages (owned by the queue) */
	size_t rejects_len;
} sh_qdone;

/* sh_queue_new: at most capacity items not done at once; a remote lease
 * lasts lease_ms unless renewed. */
int sh_queue_new(sh_queue **out, unsigned capacity, unsigned lease_ms);
void sh_queue_free(sh_queue *q);

/* sh_queue_push hands the item (and its bytes) to the queue, waiting while
 * it is full; tick(ctx) runs every 100 ms of waiting, on this thread.
 * Returns the queue's error once a worker failed (the item is freed). */
int sh_queue_push(sh_queue *q, sh_item *it, void (*tick)(void *), void *ctx);

enum { SH_Q_ITEM = 1, SH_Q_WAIT, SH_Q_OVER };

/*
 * sh_queue_take leases the oldest waiting item, waiting up to wait_ms for
 * one: SH_Q_ITEM (*out set), SH_Q_WAIT (none yet), SH_Q_OVER (every item is
 * done, or the build failed). The item's bytes are copied into copy
 * (out->bytes points there): the queue frees its own when the item is done,
 * and another worker may finish it first. With expires (a remote worker)
 * the lease runs out unless sh_queue_beat renews it; a thread of this
 * process does not die alone, and its lease never expires.
 */
int sh_queue_take(sh_queue *q, tbuf *copy, int expires, int wait_ms, sh_item *out);

/* sh_queue_item_hash: 1 and the item's hash if item id is queued or
 * leased (not done), else 0. */
int sh_queue_item_hash(sh_queue *q, uint64_t id, uint64_t *hash);

/* sh_queue_beat renews the lease on item id. */
void sh_queue_beat(sh_queue *q, uint64_t id);

/* sh_queue_complete: item id's run r is written; records its counts. A
 * second completion of an item is ignored. */
int sh_queue_complete(sh_queue *q, uint64_t id, const sh_run *r);

/* sh_queue_fail stops the build with rc and msg (the first failure wins). */
void sh_queue_fail(sh_queue *q, int rc, const char *msg);

/* sh_queue_error: the failure, if any (its message copied to err). */
int sh_queue_error(sh_queue *q, char *err, size_t errlen);

/* sh_queue_poll calls fn for every completion recorded since the last poll. */
void sh_queue_poll(sh_queue *q, void (*fn)(void *ctx, const sh_qdone *d), void *ctx);

/* sh_queue_drain: no more items will come; waits until every item is done
 * (tick every 100 ms) and returns TRAWL_OK or the failure. */
int sh_queue_drain(sh_queue *q, void (*tick)(void *), void *ctx);

void sh_queue_counts(sh_queue *q, uint64_t *taken, uint64_t *expired);

#endif
