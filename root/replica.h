/*
 * replica.h - the root's view of its leaves: for every replica, its
 * connection, its health (healthy, ejected, probation: active pings and
 * passive failures), its latency and load; the choice of a replica for a
 * shard; and the hedge budget. The scatter (root/scatter.c) and the fetch
 * (root/fetch.c) ask it which replica to use and tell it how each call
 * went; nothing else judges a replica.
 *
 * Health: healthy -> ejected after eject_after consecutive failures, or at
 * once when nng reports the connection lost; ejected -> probation on a
 * success; probation -> healthy after readmit_after successes, -> ejected
 * on a failure. A failure is a call with no usable answer, except one that
 * ran out of a deadline shorter than a ping's (the client's choice, not the
 * replica's fault: issue #13, finding 2).
 */
#ifndef TRAWL_ROOT_REPLICA_H
#define TRAWL_ROOT_REPLICA_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "common/rpc.h"
#include "root/root.h"

typedef struct replica {
	root_leaf_cfg cfg;
	uint8_t serves[TRAWL_MAX_SHARDS]; /* serves[s]: this leaf holds shard s */
	/* out[s]: the leaf's last pong left shard s out: it has taken it out of
	 * service (a damaged or rewritten file: leaf/shardguard.h) */
	atomic_uchar out[TRAWL_MAX_SHARDS];
	rpc_client *cli;
	pthread_mutex_t mu; /* state, fails, oks, the latency figures, generation,
	                       last_failure */
	enum root_state state;
	unsigned fails, oks; /* consecutive failures and successes */
	double ewma_us;      /* latency of its answers, EWMA */
	double ewmdev_us;    /* mean deviation of the latency, EWMA */
	uint64_t generation; /* the one its last pong named */
	/* a refresh's wait for generation lag_gen ended with it still behind:
	 * later refreshes do not wait for it until it reaches lag_gen */
	atomic_uint_fast64_t lag_gen;
	char last_failure[128]; /* how its last failure went ("": none yet) */
	atomic_uint outstanding;
	atomic_uint_fast64_t requests, failures, ejections, redials, dead_closed;
	/* the ping thread's own: pings unanswered in a row, and how many make
	 * it dial anew (replica_redial) */
	unsigned silent, redial_at;
	atomic_int no_store; /* its last SEARCH reply said WIRE_F_NO_STORE */
	/* Unix us: it refused a search as overloaded (TRAWL_EBUSY); until then,
	 * about one of its searches' time or its next good answer, a search
	 * for a shard whose every replica is so is refused by the root at once
	 * (replicas_overloaded) */
	atomic_uint_fast64_t busy_until;
	int quiet;
} replica;

typedef struct replica_set {
	replica *rep;
	uint32_t n;
	unsigned ping_ms, ping_timeout_ms, eject_after, readmit_after;
	int quiet;
	pthread_t pinger;
	int pinging;
	atomic_int stopping;
	atomic_int ping_now;            /* replicas_ping_now: the next round at once */
	atomic_uint_fast64_t rounds;    /* ping rounds finished */
	atomic_uint_fast64_t started;   /* ping rounds begun */
	pthread_mutex_t ping_mu;        /* with ping_cv: the ping thread's sleep */
	pthread_cond_t ping_cv;         /* signalled by replicas_ping_now and the close */
	atomic_uint_fast64_t next_id;   /* request ids of every message to a leaf; salts */
	atomic_uint_fast64_t known_gen; /* the newest generation a leaf reported */
	/* the generation a refresh of this root waited for (root_refresh):
	 * no search is answered from an older one (replicas_raise_floor),
	 * until floor_until (Unix us) */
	atomic_uint_fast64_t floor, floor_until;
	/* traffic: SEARCHes sent, hedges sent, hedges that answered first, and
	 * hedges sent beyond the budget because the call had stalled */
	atomic_uint_fast64_t searches, hedges, hedge_wins, hedges_stalled;
	atomic_uint_fast64_t overloaded; /* SEARCHes a leaf refused, its queue full */
	atomic_uint_fast64_t shed; /* searches the root refused at once (replicas_overloaded) */
	atomic_int_fast64_t hedge_tokens; /* thousandths of a hedge */
} replica_set;

/*
 * replicas_open dials every leaf of cfg (in the background) and starts the
 * pings. Defaults fill the config's zero fields (ping 1000 ms, ping
 * timeout 500 ms, eject after 2, readmit after 2). Every replica starts on
 * probation until it answers. Errors: a URL nng refuses (err names it),
 * TRAWL_ENOMEM. replicas_close stops the pings and closes everything.
 */
int replicas_open(replica_set *rs, const root_config *cfg, char *err, size_t errlen);
void replicas_close(replica_set *rs);

/* replica_answered: a call to p answered; micros is its latency. */
void replica_answered(replica_set *rs, replica *p, uint64_t micros);

/* replica_failed: a call to p failed; why says how: p's last_failure
 * (/_trawl/cluster), and the line that reports p ejected on standard error
 * if this failure ejects it. */
void replica_failed(replica_set *rs, replica *p, const char *why);

/* replica_note_failure: call c to p brought no usable answer; given_ms is the
 * time it was given. Held against p unless it timed out with less than a
 * ping's time. */
void replica_note_failure(replica_set *rs, replica *p, const rpc_call *c, int given_ms);

/* replica_busy: p refused a search as overloaded (its queue was full). */
void replica_busy(replica_set *rs, replica *p);

/* replicas_overloaded: 1 when some shard below nshards has replicas that
 * could answer and every one of them refused a search as overloaded a
 * moment ago (replica_busy, not answered well since): a search now would
 * only be refused again. *shard names it. 0 otherwise, also when a shard
 * has no usable replica at all (that is not overload), and when it is
 * short of replicas (replicas_short: the search may wait for room, see
 * root/scatter.c). Cheap: atomics, and a replica's lock only when it is
 * busy's alternative. */
int replicas_overloaded(replica_set *rs, uint32_t nshards, uint32_t *shard);

/* replicas_short: 1 when a replica configured for shard s is not healthy
 * (ejected, or on probation: back from a freeze, with a queue of searches
 * its roots gave up on) or has the shard withdrawn, so that the shard
 * lacks capacity it is meant to have. */
int replicas_short(replica_set *rs, uint32_t s);

/* replica_usable: p is healthy (or on probation, when allowed). */
int replica_usable(replica *p, int allow_probation);

/* replica_has: p serves shard s now (it holds it and has it in service). */
int replica_has(replica *p, uint32_t s);

/* replica_generation: the generation p's last pong named. */
uint64_t replica_generation(replica *p);

/* replica_withdrawn: p refused a request because one of the n shards is out
 * of service there (WIRE_F_OUT_OF_SERVICE): not its failure, but none of
 * them goes to p again until its next pong says which it serves. */
void replica_withdrawn(replica_set *rs, replica *p, const uint16_t *shards, uint32_t n);

/* replica_pick: a usable replica serving shard s and not excluded[] (healthy
 * ones that have not just refused a search as overloaded first, then any
 * healthy one, probation if none), among those serving generation gen
 * first when gen is not 0, then among those serving the floor or newer
 * (replicas_raise_floor), then any: for a session preference always the same one
 * among them, else the lighter of two chosen at random by salt (latency
 * EWMA times outstanding requests). -1 if none. */
int replica_pick(replica_set *rs, uint32_t s, const char *pref, const uint8_t *excluded,
                 uint64_t salt, uint64_t gen);

/* replicas_common_generation: the generation one query's SEARCHes are
 * pinned to, so that no answer mixes generations while a new one rolls out
 * leaf by leaf: for every shard the newest generation a usable replica of
 * it serves (as its last pong said), and the oldest of those. A leaf
 * that has switched still answers for the generation before (docs/
 * ARCHITECTURE.md, "Generations"). 0 (no pin) when some shard has no
 * usable replica that reported one. */
uint64_t replicas_common_generation(replica_set *rs, uint32_t nshards);
/* replicas_newest_generation: the newest generation a usable replica of
 * shard s serves (as its last pong said); 0 when none reported one. A GET
 * of one document asks a replica of it first, so that a replica still on
 * an older generation (it switches a moment later) does not answer one a
 * refresh=wait_for promised. */
uint64_t replicas_newest_generation(replica_set *rs, uint32_t s);

/* replica_hedge_after: microseconds after which a call to p is slow: its
 * recent p95 (latency EWMA plus three mean deviations), 2 ms at least. */
uint64_t replica_hedge_after(replica *p);

/* replica_hedge_target: the least loaded healthy replica other than leaf,
 * not excluded, serving every one of shards[0..n), of generation gen first
 * when gen is not 0, else of the floor or newer; -1 if none (a hedge to a
 * replica behind the floor would only bring an answer the root refuses). */
int replica_hedge_target(replica_set *rs, uint32_t leaf, const uint16_t *shards, uint32_t n,
                         const uint8_t *excluded, uint64_t gen);

/* replica_fetch_alt: a usable replica other than leaf, serving every one of
 * shards[0..n) at generation gen (replicas of a generation hold the same
 * files: the same doc numbers can be fetched there), else one that has
 * moved on to a newer generation (a leaf keeps the one before it: it
 * fetches from that, or says the generation is gone); -1 if none. */
int replica_fetch_alt(replica_set *rs, uint32_t leaf, const uint16_t *shards, uint32_t n,
                      uint64_t gen);

/* Hedged requests are capped at ROOT_HEDGE_BUDGET of the SEARCHes sent:
 * hedge_earn is called for every SEARCH, hedge_allowed before every hedge
 * (it spends one when it says yes). */
void hedge_earn(replica_set *rs);
int hedge_allowed(replica_set *rs);

/* replicas_saw_generation: a reply named generation g (known_gen only moves
 * forward here; the pings set it to what the leaves serve now). */
void replicas_saw_generation(replica_set *rs, uint64_t g);

/* replicas_raise_floor: no search of this root is answered from a
 * generation older than g for LIMIT_REFRESH_FLOOR_MS from now (the
 * generation only moves forward; a restart forgets it, as a rollback
 * requires). Past that, replicas of g or newer are still asked first, but
 * one behind answers when no other can (availability over a promise no
 * client is still waiting on). root_refresh raises it to the
 * generation it waited for: a replica still on an older one (a pulling
 * leaf a moment behind its twin) is then neither asked first nor
 * believed (scatter's judge asks another), so a search after a
 * refresh=wait_for sees what the refresh promised even when the replica
 * that has it is slow. */
void replicas_raise_floor(replica_set *rs, uint64_t g);
/* replicas_floor: the floor searches beginning now are held to (0 once
 * LIMIT_REFRESH_FLOOR_MS have passed since it was last raised). */
uint64_t replicas_floor(replica_set *rs);
/* replicas_mark_lagging: the usable replicas of shards [0, nshards) still
 * behind gen are not counted by replicas_lagging until they reach it. */
void replicas_mark_lagging(replica_set *rs, uint32_t nshards, uint64_t gen);

/* replicas_await_round: asks for a ping round at once and waits, at most
 * timeout_ms, until one that started after the call has finished (the
 * replicas' generations are then at most that old). 1 if one did. */
int replicas_await_round(replica_set *rs, unsigned timeout_ms);

/* replicas_lagging: usable replicas of shards [0, nshards) whose last pong
 * named a generation older than gen, but for those a refresh already
 * found behind (replicas_mark_lagging) and that have not caught up. */
uint32_t replicas_lagging(replica_set *rs, uint32_t nshards, uint64_t gen);

/* replicas_ping_now: the ping thread starts its next round at once (a
 * writer made a new generation searchable: the root learns it). */
void replicas_ping_now(replica_set *rs);

/* replicas_ready: every shard of nshards has a healthy replica. */
int replicas_ready(replica_set *rs, uint32_t nshards);
/* replicas_serving: some shard of nshards has a healthy replica. */
int replicas_serving(replica_set *rs, uint32_t nshards);

/* replicas_info copies up to max replica infos; returns the number of leaves. */
uint32_t replicas_info(replica_set *rs, root_replica_info *out, uint32_t max);

#endif
