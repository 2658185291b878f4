/*
 * root.h - the root: scatters a query to one replica of every shard,
 * gathers and merges the ranked hits, fetches the winners' documents and
 * snippets from the leaves that hold them, and reports coverage. It keeps
 * every replica's health (active pings, passive failures) and picks
 * replicas by latency and load. The HTTP API (root/api.c) sits on top.
 */
#ifndef TRAWL_ROOT_ROOT_H
#define TRAWL_ROOT_ROOT_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/rpc.h"
#include "index/ingest.h"
#include "root/result.h"

/*
 * Where a root sends the index's writes (issue #12): its indexer, which
 * decides each against the document's current state, logs it durably and
 * makes it searchable in a later generation (shard/indexer.h). In `trawl
 * serve` the indexer runs in the same process. Every function may be
 * called from any thread.
 */
typedef struct root_writer {
	void *ctx;
	/* idx_ingest_write: reqs decided in order, durable on return */
	int (*write)(void *ctx, const idx_wreq *reqs, uint32_t n, idx_wres *res, char *err,
	             size_t errlen);
	/* idx_ingest_get: the realtime state of id (out->doc malloc'ed) */
	int (*get)(void *ctx, const char *id, uint32_t idlen, idx_wlive *out, char *err,
	           size_t errlen);
	/* returns once every operation up to seq (0: all acknowledged) is in
	 * a generation the leaves serve (*gen: its number), or TRAWL_EBUSY
	 * after timeout_ms */
	int (*refresh)(void *ctx, uint64_t seq, unsigned timeout_ms, uint64_t *gen, char *err,
	               size_t errlen);
	/* what the indexer has done, for /metrics (NULL: nothing to say) */
	void (*stats)(void *ctx, trawl_indexer_stats *out);
} root_writer;

/* One leaf of the cluster file: its address and the shards it serves. */
typedef struct root_leaf_cfg {
	char url[LIMIT_URL_BYTES];
	uint32_t nshards;
	uint32_t shards[TRAWL_MAX_SHARDS];
} root_leaf_cfg;

typedef struct root_config {
	uint32_t nshards; /* shards of the index */
	uint32_t nleaves;
	root_leaf_cfg *leaves; /* replicas: every leaf serving a shard */
	rpc_tls tls;
	unsigned ping_ms;         /* active health checks (default 1000) */
	unsigned ping_timeout_ms; /* a ping slower than this fails (default 500) */
	unsigned eject_after;     /* consecutive failures that eject (default 2; a lost
	                             connection ejects at once) */
	unsigned readmit_after;   /* consecutive successes that readmit (default 2) */
	unsigned timeout_ms;      /* default query deadline (default 2000) */
	size_t cache_bytes;       /* result cache size (default 64 MiB; 0 with
	                             no_cache set: no cache) */
	int no_cache;
	int quiet;
	const root_writer *writer;         /* where writes go (NULL: they are refused) */
	char indexer_url[LIMIT_URL_BYTES]; /* the cluster file's "indexer" ("": none): the
	                                      caller makes the writer (root/remote.h) */
} root_config;

/* A cluster file is read into root_configs by root/cluster.h.
 * root_config_fini frees cfg->leaves. */
void root_config_fini(root_config *cfg);

typedef struct root root;

/* root_writer_of: the writer r was configured with, or NULL. */
const root_writer *root_writer_of(const root *r);

/* root_refresh: writer's refresh up to seq, then waits until this root
 * searches that generation (its pings have seen every shard serve it):
 * a search sent after it returns sees every write up to seq. */
int root_refresh(root *r, uint64_t seq, unsigned timeout_ms, char *err, size_t errlen);

/* root_open dials every leaf and starts health checking. */
int root_open(root **out, const root_config *cfg, char *err, size_t errlen);
void root_close(root *r);

/* A search as the HTTP layer hands it over. */
typedef struct root_query {
	const uint8_t *tree; /* the query tree, canonically encoded (common/qtree.h) */
	size_t tree_len;     /* its bytes */
	uint32_t k, offset;
	int count;                 /* exact total */
	int allow_partial;         /* answer with what came back (else an error) */
	double min_coverage;       /* fraction of shards that must answer (0..1) */
	unsigned timeout_ms;       /* 0: the root's default */
	const char *preference;    /* session key: the same replicas every time; NULL */
	const char *snippet_field; /* NULL: no snippets */
	const char *pre, *post;    /* highlight marks */
	unsigned snippet_chars;
	int fetch;              /* return stored documents (ids always come back) */
	int cache_only;         /* answer from the result cache or not at all (no wait) */
	int no_cache;           /* neither from nor into the result cache */
	const trawl_sort *sort; /* nsort keys: a sort by fields (NULL: by score) */
	uint32_t nsort;
	const char *search_after; /* with a sort: the JSON sort values to continue after */
	size_t search_after_len;
	/* aggregations over every match (common/aggs.h; NULL: none), and the
	 * spec's canonical text (aggs_spec_write), which travels to the leaves
	 * and keys the cache. With aggregations k may be 0: only the total and
	 * the aggregations are answered. */
	const struct aggs_spec *aggs;
	const char *aggs_canon;
	size_t aggs_canon_len;
} root_query;

/*
 * root_search runs q on the cluster. Returns TRAWL_OK with *out owned by the
 * caller (root_result_free), TRAWL_EQUERY / TRAWL_ELIMIT for a bad query
 * (err: the leaf's message), TRAWL_EIO when coverage fell below what the
 * query allows (err says which shards failed), or TRAWL_ECORRUPT when a
 * winner's stored document failed its check at its leaf (err names it),
 * or TRAWL_EBUSY when every replica of a shard refused it as overloaded
 * (the client should retry later: HTTP 429). With q->cache_only it never
 * blocks: TRAWL_OK for a stored result, TRAWL_EBUSY when a shard's
 * replicas all refused a search a moment ago (replicas_overloaded), else
 * TRAWL_ENOTFOUND.
 */
int root_search(root *r, const root_query *q, root_result **out, char *err, size_t errlen);

/* root_count_docs: the index's live documents, as a search for every
 * document counts them exactly (through the result cache, as any search);
 * -1 if that search fails. Blocks as root_search does. */
int64_t root_count_docs(root *r);

/*
 * root_search_many runs q over the indexes of rs[0..n) at once (n <=
 * LIMIT_INDEXES): one scatter per index, all sent together, into one merge
 * (hits by score or sort, ties by id hash, then by index order; totals,
 * coverage and aggregations summed as across shards), each winner fetched
 * from its own index's leaves. Scores are each index's own (its global
 * statistics). Hits carry their index's number (root_hit.source). No
 * result cache. A sort by a field is refused (TRAWL_EQUERY) unless every
 * index has it with one type that is not keyword. Otherwise as
 * root_search; n == 1 is root_search.
 */
int root_search_many(root *const *rs, uint32_t n, const root_query *q, root_result **out, char *err,
                     size_t errlen);

/* root_get fetches the stored document with external id from its shard:
 * TRAWL_OK (*json malloc'ed), TRAWL_ENOTFOUND, TRAWL_ECORRUPT (the leaf
 * found the stored record damaged; err names it), or TRAWL_EIO. */
int root_get(root *r, const char *id, char **json, size_t *len, char *err, size_t errlen);

/*
 * root_schema gives the index's schema in canonical JSON (*json, malloc'ed,
 * *len bytes, NUL-terminated) and the generation it belongs to (*gen):
 * from the root's copy when that is of the newest generation a leaf has
 * reported, else asked of one healthy replica (SCHEMA, docs/WIRE.md; a
 * second replica when the first does not answer) and kept. TRAWL_EIO when
 * no replica answered with one (err names the leaf and why), TRAWL_ENOMEM.
 * Blocks for at most twice the root's default query deadline.
 */
int root_schema(root *r, char **json, size_t *len, uint64_t *gen, char *err, size_t errlen);

/* Replica states, as /_trawl/cluster shows them. */
enum root_state { ROOT_HEALTHY = 0, ROOT_EJECTED = 1, ROOT_PROBATION = 2 };

typedef struct root_replica_info {
	const char *url;
	int state;
	double ewma_us;
	unsigned outstanding;
	uint64_t generation;
	uint64_t requests, failures, ejections;
	char last_failure[128];              /* how the replica's last failure went, "" if none */
	unsigned connected;                  /* connections to it open now (0 while redialling) */
	uint64_t connects;                   /* connections to it made since the root started */
	uint64_t redials;                    /* times it had no connection, answered none of 5
	                                        pings in a row and got a new dialer */
	uint64_t dead_closed;                /* connections to it the root closed because they
	                                        had ended under nng (rpc_client_close_dead) */
	uint64_t out[TRAWL_MAX_SHARDS / 64]; /* bit s: the leaf has taken shard s out of
	                                        service (leaf/shardguard.h) */
} root_replica_info;

/* root_replicas copies up to max replica infos; returns the number of leaves. */
uint32_t root_replicas(root *r, root_replica_info *out, uint32_t max);

/* root_cache_stats_get: the result cache's counters (zero without one). */
struct root_cache_stats;
void root_cache_counters(root *r, struct root_cache_stats *st);

/* root_traffic: what the root sent its leaves since it started. */
typedef struct root_traffic {
	uint64_t searches;       /* SEARCH requests */
	uint64_t hedges;         /* hedged SEARCH requests: a second replica asked */
	uint64_t hedge_wins;     /* hedges that answered first */
	uint64_t hedges_stalled; /* of the hedges, those sent beyond the budget because the
	                            first call had stalled for half the time it had */
	uint64_t overloaded;     /* SEARCH requests a leaf refused as overloaded (its
	                            queue full): asked of another replica, or a 429 */
	uint64_t shed;           /* searches the root answered 429 itself, at once: a
	                            shard's replicas had all just refused one */
} root_traffic;

void root_counters(root *r, root_traffic *t);

/* root_wait_ready pings the replicas until every shard has a healthy
 * one: TRAWL_OK, or TRAWL_EBUSY after timeout_ms (a new index answers at
 * once rather than after the next round of pings). */
int root_wait_ready(root *r, unsigned timeout_ms);

/* root_ready: every shard has at least one healthy replica. */
int root_ready(root *r);
/* root_serving: some shard has a healthy replica (searches answer, perhaps
 * partially: /readyz?allow_partial=true). */
int root_serving(root *r);

#endif
