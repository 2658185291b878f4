/*
 * scatter.h - the SEARCH phase of one query, as a state machine with named
 * states that a reader can follow from start to end:
 *
 *   SCATTER_PLAN     pin the query to one generation (the first time),
 *                    choose a replica for every shard still pending and
 *                    group the shards by leaf: one SEARCH per leaf
 *   SCATTER_SEND     send every group's SEARCH with the phase's deadline
 *   SCATTER_WAIT     sleep until each group has an answer or is due a
 *                    hedge; send hedges (a second replica) for the groups
 *                    slower than their replica's p95 (within the budget),
 *                    or still unanswered at half the phase (whatever it)
 *   SCATTER_COLLECT  judge every call (root/replica.c), give the winners'
 *                    hits to the merge (root/merge.c), mark each shard
 *                    answered, failed or timed out
 *   SCATTER_FINISH   count the shards into the coverage; back to PLAN once
 *                    when a shard's replica failed (or refused the search
 *                    as overloaded) and time remains, and again after a
 *                    wait for room at the replicas that refused when no
 *                    other replica of their shard is in service
 *   SCATTER_DONE
 *
 * Each shard is SHARD_PENDING until its group is collected. The FETCH of
 * the winners (root/fetch.c) comes after, on the merged page.
 */
#ifndef TRAWL_ROOT_SCATTER_H
#define TRAWL_ROOT_SCATTER_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/rpc.h"
#include "common/wire.h"
#include "root/merge.h"
#include "root/replica.h"

enum scatter_step {
	SCATTER_PLAN,
	SCATTER_SEND,
	SCATTER_WAIT,
	SCATTER_COLLECT,
	SCATTER_FINISH,
	SCATTER_DONE,
};

enum shard_state { SHARD_PENDING, SHARD_ANSWERED, SHARD_FAILED, SHARD_TIMED_OUT };

/* One SEARCH of a query: the shards sent to one leaf, and its hedge. */
typedef struct scatter_group {
	uint32_t leaf;
	int hedge_leaf; /* -1: not hedged */
	wire_header h;
	wire_search ws;
	tbuf msg;
	rpc_call call, hedge;
	rpc_call *winner;        /* the first good answer, once there is one */
	uint64_t hedge_at;       /* when to hedge (Unix us) */
	uint64_t last_chance_at; /* when to hedge even beyond the budget: half the phase */
	int given_ms[2];         /* the time the call and the hedge were given */
} scatter_group;

typedef struct scatter {
	replica_set *rs;
	const root_query *q;
	root_merge *merge; /* where the answers go (the caller's) */
	uint64_t deadline; /* of the SEARCH phase, Unix us */
	uint32_t nshards;
	enum scatter_step step;
	int attempt;         /* 0, then 1 for the retry of failed shards, and
	                        one more after each wait for room */
	uint64_t generation; /* every SEARCH asks for it (0: any); set by the first plan */
	uint64_t floor;      /* no answer older is believed (replicas_floor at the first plan) */
	enum shard_state *shard; /* [nshards] */
	int *chosen;             /* [nshards]: the replica planned, or -1 */
	uint8_t *excluded;       /* [replicas]: failed this query; not asked again */
	uint8_t *refused;        /* [replicas]: refused it as overloaded (TRAWL_EBUSY) */
	unsigned waits;          /* waits for room so far (wait_for_room) */
	uint8_t *busy;           /* [nshards]: calls refused as overloaded (TRAWL_EBUSY) */
	uint8_t *missed;         /* [nshards]: calls that brought no good answer, busy ones too */
	uint8_t *unpinned;       /* [nshards]: a replica lacked the generation: ask for any */
	scatter_group *groups;   /* [replicas] */
	unsigned ngroups;
	rpc_batch *batch;
	uint64_t salt;                        /* spreads the random choices of replicas */
	uint32_t source;                      /* the index's number in a search over several */
	uint32_t answered, timed_out, failed; /* shards, once finished */
	uint32_t overloaded; /* of the failed: refused as overloaded by every replica asked */
	int newer;           /* a replica that answered serves a newer generation (WIRE_F_NEWER) */
	uint32_t behind;     /* answers not believed: older than the floor */
	int rc;
	char *err;
	size_t errlen;
} scatter;

/*
 * scatter_init prepares the SEARCH phase of q over nshards shards, with
 * answers merged into m, until deadline (Unix us). Returns TRAWL_OK or
 * TRAWL_ENOMEM; either way scatter_fini releases sc.
 */
int scatter_init(scatter *sc, replica_set *rs, const root_query *q, uint32_t nshards,
                 uint64_t deadline, root_merge *m, char *err, size_t errlen);

/*
 * scatter_run runs the state machine to SCATTER_DONE (it blocks until the
 * answers are in or the deadline passed). Returns TRAWL_OK, or the error
 * that ended it: the leaves' refusal of the query (TRAWL_EQUERY,
 * TRAWL_ELIMIT, TRAWL_EUTF8; err has their message) or TRAWL_ENOMEM.
 * Shards that failed or timed out are not an error here: they are counted
 * in sc->answered, timed_out and failed (sc->overloaded of the failed ones
 * were refused as overloaded, TRAWL_EBUSY, by every replica asked: the
 * caller answers 429 rather than leave them out).
 */
int scatter_run(scatter *sc);

void scatter_fini(scatter *sc);

#endif
