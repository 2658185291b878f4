/*
 * shardguard.h - the shard files a leaf serves, watched while it serves them.
 *
 * A leaf reads its shard files through LMDB's memory map. Verified once when
 * the generation opened, a file can still change under the map: truncated by
 * an operator's mistake (the next read of a page past the new end is a
 * SIGBUS that kills the leaf), or overwritten in place (the leaf would serve
 * wrong answers as 200). The guard keeps both from harming a client:
 *
 * - A read lease on every file (fcntl F_SETLEASE). Another process that
 *   opens the file for writing or truncates it is held by the kernel until
 *   the lease is given up; the guard first takes the shard out of service,
 *   waits for the requests reading it to finish, and only then lets go. Once
 *   the writer has closed the file, the guard re-reads it: the same bytes as
 *   the manifest says, and the shard is back in service; other bytes, and it
 *   stays out ("damaged") until the leaf switches generation.
 * - A scrub: the files are read again, end to end, at a bounded rate, and
 *   compared with the manifest's XXH3-128. It finds what no lease sees: a
 *   change to a file the leaf could not lease (a writer had it open when
 *   the guard started; another owner without CAP_LEASE; some network file
 *   systems). An unleased file is leased as soon as it can be.
 *
 * A shard out of service is refused by shard_guard_enter, so a request never reads
 * it; the leaf answers such a request with an error and leaves the shard out
 * of the shards its pongs list, so the roots send it to a replica.
 *
 * Threads: shard_guard_enter and shard_guard_leave from any worker;
 * shard_guard_tick from one thread (the leaf's guard thread), which also
 * does all logging; shard_guard_status and shard_guard_get_stats from any.
 */
#ifndef TRAWL_LEAF_SHARDGUARD_H
#define TRAWL_LEAF_SHARDGUARD_H

#include <stddef.h>
#include <stdint.h>

#include "trawl/trawl.h"

typedef enum shard_guard_state {
	GUARD_SERVING = 0, /* in service */
	GUARD_WITHDRAWN,   /* written to: out of service, lease still held until the
	                      requests reading it have left */
	GUARD_WAITING,     /* lease given up: out of service until the writer has closed
	                      the file and it has been read again */
	GUARD_DAMAGED,     /* its bytes differ from the manifest: out of service for
	                      the rest of this generation */
} shard_guard_state;

typedef struct shard_guard shard_guard;

typedef struct shard_guard_config {
	uint64_t scrub_bytes_per_s; /* 0: no scrub */
	uint64_t scrub_period_s;    /* a pass starts at most this often (0: at once) */
	/* a line for the leaf's log (called from shard_guard_tick only; may be NULL) */
	void (*log)(void *ctx, const char *msg);
	void *log_ctx;
} shard_guard_config;

/* shard_guard_open watches the shards of idx (which stays open longer than the
 * guard) and takes their leases. A file that cannot be leased is logged
 * and watched by the scrub alone. TRAWL_OK or TRAWL_ENOMEM. */
int shard_guard_open(shard_guard **out, const trawl_index *idx, const uint32_t *shards, uint32_t n,
                     const shard_guard_config *cfg);

/* shard_guard_close gives up the leases and frees g (NULL: nothing). No request may
 * be inside it. */
void shard_guard_close(shard_guard *g);

/* shard_guard_enter marks the n shards as read by a request. -1: all are in
 * service, and the request must call shard_guard_leave with the same shards when
 * it has stopped reading them; otherwise the number of the first shard out
 * of service (or not watched here), and nothing is held. */
int shard_guard_enter(shard_guard *g, const uint32_t *shards, uint32_t n);
void shard_guard_leave(shard_guard *g, const uint32_t *shards, uint32_t n);

/* shard_guard_tick advances the watch: leases broken by writers, shards withdrawn
 * once unread, writers gone, and scrub_bytes_per_s * elapsed bytes of
 * scrub. From one thread, every few tens of milliseconds. */
void shard_guard_tick(shard_guard *g, uint64_t now_us);

/* shard_guard_status: shard's state, and in why (may be NULL) the reason it is out
 * of service ("" when serving). -1 if the shard is not watched here. */
int shard_guard_status(shard_guard *g, uint32_t shard, char *why, size_t whylen);

typedef struct shard_guard_stats {
	uint64_t scrubbed_bytes; /* read by the scrub */
	uint64_t scrub_passes;   /* whole passes over every file */
	uint64_t lease_breaks;   /* files opened for writing or truncated by others */
	uint64_t damaged;        /* files found to differ from the manifest */
	uint32_t out_of_service; /* shards out of service now */
	uint32_t unleased;       /* files watched by the scrub alone */
} shard_guard_stats;

void shard_guard_get_stats(shard_guard *g, shard_guard_stats *st);

#endif
