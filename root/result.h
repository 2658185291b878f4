/*
 * result.h - what a search answers, as the root hands it to the HTTP layer
 * and keeps it in the result cache: the page of hits (ids, scores, stored
 * documents, snippets) and the coverage of the shards. Its own module so
 * that the cache (root/cache.c), which stores results, and the scatter
 * (root/root.c), which makes them, do not depend on each other.
 */
#ifndef TRAWL_ROOT_RESULT_H
#define TRAWL_ROOT_RESULT_H

#include <stddef.h>
#include <stdint.h>

typedef struct root_hit {
	char *id;
	double score;
	char *doc; /* stored JSON, NULL if not stored or not fetched */
	size_t doc_len;
	char *snippet;
	uint32_t shard;
	char *sort;      /* a sort by fields: the hit's sort values as JSON; else NULL */
	uint32_t source; /* of a search over several indexes: which (root_search_many) */
} root_hit;

typedef struct root_result {
	uint32_t nhits;
	root_hit *hits;
	uint64_t total;
	int total_exact; /* else a lower bound */
	uint32_t shards_total, shards_answered, shards_timed_out, shards_failed;
	uint64_t docs_searched;
	uint64_t generation;        /* of the replies (the largest if they differ) */
	uint64_t oldest_generation; /* the smallest among the replies */
	uint64_t took_us;
	int partial;
	int cached; /* served from the result cache */
	char *aggs; /* with aggregations: the "aggregations" object as JSON text; else NULL */
} root_result;

/* root_result_free releases res and everything its hits own; NULL is allowed. */
void root_result_free(root_result *res);

/* root_result_copy: a deep copy, owned by the caller (NULL on ENOMEM). */
root_result *root_result_copy(const root_result *r);

/* root_result_bytes: the bytes res owns, as the cache counts them. */
size_t root_result_bytes(const root_result *r);

#endif
