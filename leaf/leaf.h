/*
 * leaf.h - a leaf serves shards of an index to roots: SEARCH (top-k doc
 * numbers and scores, counts, coverage), FETCH (stored documents and
 * snippets of the winners), PING, over common/rpc and common/wire.
 *
 * It follows the index directory's CURRENT: a newly published generation is
 * opened and verified in the background, then new requests use it while
 * requests already running finish on the old one, which stays open for
 * FETCHes of searches that began on it (one previous generation is kept).
 *
 * It also answers FILES and FILE_READ (leaf/fileserve.h) from its
 * directory, so that leaves without that file system can copy its
 * generations; with pull_url it is such a leaf itself (leaf/pull.h): its
 * directory is its own copy, kept up to date from pull_url, and may start
 * empty (the leaf is then not ready until its first pull).
 */
#ifndef TRAWL_LEAF_LEAF_H
#define TRAWL_LEAF_LEAF_H

#include <stdint.h>

#include "common/rpc.h"
#include "pull.h"
#include "shardguard.h"

typedef struct leaf_config {
	const char *index_dir;
	const uint32_t *shards; /* shard numbers to serve; NULL: all of the generation */
	uint32_t nshards;
	const char *listen_url; /* tcp://HOST:PORT, ipc://PATH, inproc://NAME, tls+tcp://... */
	rpc_tls tls;
	unsigned workers;          /* concurrent requests (default 2) */
	unsigned queue;            /* searches let wait for a worker; one more is refused
	                              as overloaded (TRAWL_EBUSY) at once. 0: the default,
	                              LIMIT_LEAF_QUEUE_PER_WORKER per worker; at most
	                              LIMIT_RPC_MAX_QUEUE */
	unsigned watch_ms;         /* how often CURRENT is checked (default 250) */
	const char *http_bind;     /* health and metrics port (/livez, /readyz, /metrics): */
	uint16_t http_port;        /* address and port; NULL: none */
	double delay_fraction;     /* fault injection for tests and benchmarks: delay this */
	unsigned delay_ms;         /* fraction of SEARCH answers by delay_ms (0: never) */
	int64_t scrub_bytes_per_s; /* the scrub's rate (shardguard.h); 0: the default,
	                              LIMIT_SCRUB_BYTES_PER_S; below 0: no scrub */
	unsigned scrub_period_s;   /* a pass starts at most every so many seconds;
	                              0: the default, LIMIT_SCRUB_PERIOD_S */
	int quiet;                 /* no log lines on stderr */
	const char *pull_url;      /* pull generations from this leaf or indexer (pull.h),
	                              over tls with tls's files for a tls+tcp:// URL;
	                              NULL: index_dir is shared with the indexer */
	uint64_t pull_bytes_per_s; /* the pull's download rate; 0: unbounded */
} leaf_config;

typedef struct leaf leaf;

/*
 * leaf_start opens and verifies the live generation, listens, and starts
 * the workers and the generation watcher. Errors name the file or URL.
 */
int leaf_start(leaf **out, const leaf_config *cfg, char *err, size_t errlen);

/* leaf_stop stops listening, finishes the requests in hand, closes all. */
void leaf_stop(leaf *l);

typedef struct leaf_stats {
	uint64_t generation;
	uint64_t docs, docs_deleted, bytes; /* of the generation served (trawl_index_get_stats) */
	int ready;       /* a verified generation is open, and one of its shards in service */
	unsigned busy;   /* requests being handled */
	unsigned queued; /* requests waiting for a worker (served in turn by connection) */
	uint64_t searches, fetches, pings, errors, partial;
	uint64_t switches;  /* generations switched to */
	uint64_t peers_cut; /* connections closed for not reading their replies */
	uint64_t refused;   /* connections closed as they came, over a bound */
	uint64_t shed;      /* searches refused as overloaded (the queue was full) */
	unsigned queue;     /* the queue's bound (leaf_config.queue) */
	/* the current generation's filter cache */
	uint64_t fc_hits, fc_misses, fc_entries, fc_bytes;
	uint32_t nshards;
	uint32_t shards[256];
	uint8_t in_service[256]; /* of shards[i], in the current generation */
	/* the shard files' guards (shardguard.h): counters of every generation
	 * served, gauges of the current one */
	shard_guard_stats files;
	/* with pull_url: the puller's counters (pull.h) */
	int pulling;
	pull_stats pull;
} leaf_stats;

void leaf_get_stats(leaf *l, leaf_stats *st);

/* leaf_poke: a new generation was published in the leaf's directory (by
 * an indexer in the same process): the leaf looks at CURRENT within a few
 * milliseconds instead of its watch interval. Any thread. */
void leaf_poke(leaf *l);

/* leaf_generation: the generation served now (0: none yet), read without
 * the leaf's lock: a writer waiting for its generation to be served polls
 * it, on a thread of low priority (--write-priority) that must not hold a
 * lock searches take. */
uint64_t leaf_generation(leaf *l);

/* leaf_http_port: the bound health port (0 if none). */
uint16_t leaf_http_port(const leaf *l);

#endif
