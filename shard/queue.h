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

/* A remote worker's lease is renewed by its heartbeats for at most this
 * long after the take; then it expires like a silent worker's. */
#define SH_LEASE_MAX_MS (10 * 60 * 1000)
/* Leases one remote peer (a connection) may hold at once. */
#define SH_PEER_LEASES LIMIT_BUILD_WORKERS
/* Expired remote leases after which an item is left to this process. */
#define SH_EXPIRIES_LOCAL 3

/* sh_queue_new: at most capacity items not done at once; a remote lease
 * lasts lease_ms unless renewed. */
int sh_queue_new(sh_queue **out, unsigned capacity, unsigned lease_ms);
void sh_queue_free(sh_queue *q);

/* sh_queue_push hands the item (and its bytes) to the queue, waiting while
 * it is full; tick(ctx) runs every 100 ms of waiting, on this thread.
 * Returns the queue's error once a worker failed (the item is freed). */
int sh_queue_push(sh_queue *q, sh_item *it, void (*tick)(void *), void *ctx);

enum { SH_Q_ITEM = 1, SH_Q_WAIT, SH_Q_OVER };

/* Who takes an item. */
enum {
	SH_TAKE_LOCAL,  /* a worker thread of this process: any item; its lease never
	                   expires (a thread does not die alone) */
	SH_TAKE_RESCUE, /* a thread started for the items left to this process
	                   (sh_queue_wants_rescue): only those */
	SH_TAKE_REMOTE, /* a build-worker process, by its connection's id: any item
	                   not left to this process, at most SH_PEER_LEASES at once;
	                   its lease runs out unless sh_queue_beat renews it */
};

/*
 * sh_queue_take leases the oldest waiting item that `who` may take, waiting
 * up to wait_ms for one: SH_Q_ITEM (*out set), SH_Q_WAIT (none yet),
 * SH_Q_OVER (every item is done, or the build failed). The item's bytes
 * are copied into copy (out->bytes points there): the queue frees its own
 * when the item is done, and another worker may finish it first. An item
 * whose remote lease expired SH_EXPIRIES_LOCAL times is left to this
 * process.
 */
int sh_queue_take(sh_queue *q, tbuf *copy, int who, uint32_t peer, int wait_ms, sh_item *out);

/*
 * sh_queue_claim: a run for item id came from elsewhere. If the item is not
 * done, copies it into copy and *out as sh_queue_take does, keeps its lease
 * from expiring while the run is checked, and returns 1 (follow with
 * sh_queue_complete or sh_queue_release); else returns 0.
 */
int sh_queue_claim(sh_queue *q, uint64_t id, tbuf *copy, sh_item *out);

/*
 * sh_queue_release ends a claim without completing the item. refused: the
 * run (or a failure report) from peer was not the item's work; if peer
 * held the item's lease, the item is taken from it and left to this
 * process from now on (a peer that was not given the item cannot take it
 * from the worker that was).
 */
void sh_queue_release(sh_queue *q, uint64_t id, uint32_t peer, int refused);

/* sh_queue_wants_rescue: 1 if an item left to this process waits. */
int sh_queue_wants_rescue(sh_queue *q);

/* sh_queue_beat renews the lease on item id, if peer holds it and it was
 * taken less than SH_LEASE_MAX_MS ago. */
void sh_queue_beat(sh_queue *q, uint64_t id, uint32_t peer);

/* sh_queue_complete: item id's run r is written; records its counts. A
 * second completion of an item is ignored. */
int sh_queue_complete(sh_queue *q, uint64_t id, const sh_run *r);

/* sh_queue_fail stops the build with rc and msg (the first failure wins). */
void sh_queue_fail(sh_queue *q, int rc, const char *msg);

/* sh_queue_error: the failure, if any (its message copied to err). */
int sh_queue_error(sh_queue *q, char *err, size_t errlen);

/* sh_queue_poll calls fn for every completion recorded since the last poll. */
void sh_queue_poll(sh_queue *q, void (*fn)(void *ctx, const sh_qdone *d), void *ctx);

/* sh_queue_notice keeps a message for the builder's thread (any thread may
 * call it; at most 64 wait, later ones are counted); sh_queue_notices
 * calls fn with each, on the calling thread. */
void sh_queue_notice(sh_queue *q, const char *msg);
void sh_queue_notices(sh_queue *q, void (*fn)(void *ctx, const char *msg), void *ctx);

/* sh_queue_drain: no more items will come; waits until every item is done
 * (tick every 100 ms) and returns TRAWL_OK or the failure. */
int sh_queue_drain(sh_queue *q, void (*tick)(void *), void *ctx);

void sh_queue_counts(sh_queue *q, uint64_t *taken, uint64_t *expired);

#endif
