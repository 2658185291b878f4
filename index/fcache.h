/*
 * fcache.h - the filter cache of an open index: the
 * document sets of typed clauses (ranges, exists, keyword prefixes), kept
 * per shard as bitsets so that a filter that repeats (the same section, the
 * same date range) costs a copy instead of a walk over points or postings.
 *
 * One cache per trawl_index, so per generation: a new generation starts
 * empty, and nothing is ever stale. Bounded in bytes (least recently used
 * entries go first); shared by every thread searching the index, under one
 * mutex held only to find, copy or insert. A hit copies the bits out, so an
 * entry can be dropped at any time without anyone holding it.
 */
#ifndef TRAWL_INDEX_FCACHE_H
#define TRAWL_INDEX_FCACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct idx_fcache idx_fcache;

/* idx_fcache_new: a cache of at most max_bytes of bitsets (0: no cache,
 * *out NULL, every call below a no-op). TRAWL_OK or TRAWL_ENOMEM. */
int idx_fcache_new(idx_fcache **out, size_t max_bytes);
void idx_fcache_free(idx_fcache *c);

/* idx_fcache_get: on a hit (returns 1) the cached bitset of key (klen bytes)
 * is copied into bits (words 64-bit words) and its population into *count;
 * 0 on a miss. Both are counted. */
int idx_fcache_get(idx_fcache *c, const void *key, size_t klen, uint64_t *bits, size_t words,
                   uint64_t *count);

/* idx_fcache_put keeps a copy of bits under key (if it fits the bound at
 * all; older entries are dropped to make room). Out of memory: not kept. */
void idx_fcache_put(idx_fcache *c, const void *key, size_t klen, const uint64_t *bits, size_t words,
                    uint64_t count);

/* What an entry of a klen-byte key and words words costs against the bound. */
size_t idx_fcache_cost(size_t klen, size_t words);

typedef struct idx_fcache_stats {
	uint64_t hits, misses, entries, bytes, max_bytes;
} idx_fcache_stats;

void idx_fcache_get_stats(idx_fcache *c, idx_fcache_stats *st);

#endif
