/*
 * cache.h - the root's result cache: an LRU of search results bounded in
 * bytes, keyed by a 128-bit hash of the normalised query and the live
 * generation, so a newly published generation never meets an old entry and
 * needs no purge. Identical queries that miss at the same time share one
 * scatter: the first becomes the leader, the others wait for its result.
 */
#ifndef TRAWL_ROOT_CACHE_H
#define TRAWL_ROOT_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "root/result.h"

typedef struct root_cache root_cache;

/* root_cache_new: a cache of at most max_bytes (0: a disabled cache). */
root_cache *root_cache_new(size_t max_bytes);
void root_cache_free(root_cache *c);

/*
 * root_cache_get returns a copy of the cached result for key (the caller
 * frees it with root_result_free), or NULL. On NULL with *leader set, the
 * caller computes the result and must then call root_cache_put or
 * root_cache_abandon with the same key; others asking for the key meanwhile
 * wait (at most wait_ms) for that. leader NULL: a peek, which returns a
 * stored result or NULL at once (it never leads, waits or counts a miss).
 */
root_result *root_cache_get(root_cache *c, const uint8_t key[16], int *leader, unsigned wait_ms);

/* root_cache_put stores a copy of res under key (a leader's result). */
void root_cache_put(root_cache *c, const uint8_t key[16], const root_result *res);

/* root_cache_abandon: the leader has no result to store (an error, partial). */
void root_cache_abandon(root_cache *c, const uint8_t key[16]);

typedef struct root_cache_stats {
	uint64_t hits, misses, evictions, shared; /* shared: misses that waited for a leader */
	uint64_t entries, bytes, max_bytes;
} root_cache_stats;

void root_cache_get_stats(root_cache *c, root_cache_stats *st);

#endif
