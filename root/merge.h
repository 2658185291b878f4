/*
 * merge.h - the gather half of scatter/gather: what the leaves' SEARCH
 * replies add up to. Every reply's hits go into one list, with the leaf
 * and generation they came from; totals, coverage of documents, partial
 * flags and generations add up beside them; at the end the list is sorted
 * by (score desc, id hash asc), exactly as inside a shard, so that any
 * shard layout ranks alike, and the page (offset, k) is cut from it.
 * Aggregations will merge here too, shard by shard, beside the hits.
 */
#ifndef TRAWL_ROOT_MERGE_H
#define TRAWL_ROOT_MERGE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "common/wire.h"
#include "root/result.h"

/* A hit's keyword sort values as their bytes (s[i] NULL: key i is no
 * keyword). The root merges keywords by them, not by the keys' numbers: a
 * leaf numbers a keyword's values by the dictionary of the segments it
 * holds, which a generation made by updates makes its own (the union of
 * its segments'), and indexes each have their own. */
typedef struct merge_kw {
	const char *s[LIMIT_SORT_KEYS];
	uint32_t len[LIMIT_SORT_KEYS];
} merge_kw;

/* One hit of one leaf's reply. */
typedef struct merge_hit {
	wire_hit h;
	uint32_t leaf;       /* the replica that answered */
	uint64_t generation; /* the generation it answered from */
	const char *id;      /* the external id, when the leaf sent it (WIRE_F_IDS):
	                        in a reply the merge keeps; else NULL */
	uint32_t id_len;
	int no_store;       /* the leaf's shards store only ids (WIRE_F_NO_STORE) */
	uint32_t source;    /* which index of a search over several (root_search_many) */
	wire_sortval sv;    /* a sort by fields: its values (json in a kept reply) */
	const merge_kw *kw; /* its keyword values (kept by the merge), or NULL: none */
} merge_hit;

typedef struct root_merge {
	merge_hit *hits;
	size_t n, cap;
	uint8_t **kept; /* replies that ids point into, freed by merge_fini */
	unsigned nkept, capkept;
	uint64_t total;
	int total_exact;
	int partial;
	uint64_t docs_searched;
	uint64_t generation, oldest_generation;
	const trawl_sort *sort; /* the search's sort by fields (nsort keys), or none */
	uint32_t nsort;
	const struct aggs_spec *aggs; /* the search's aggregations, or NULL: every reply
	                                 must then carry its partial (WIRE_F_AGGS) */
	struct aggs_result *agg;      /* the partials merged so far (NULL: none yet) */
	char why[256];                /* what merge_add refused, beyond ENOMEM */
	pthread_mutex_t *lock;        /* taken by merge_add when several scatters (one per
	                                 index, on threads of their own) add to one merge;
	                                 NULL: one scatter */
} root_merge;

/* merge_init: an empty merge (set m->aggs after it for aggregations); count_exact: the search asked
 * for an exact total (it stays exact while every reply's is); sort (nsort keys; NULL, 0: by score):
 * the order of the hits, whose replies must carry their sort values (a reply without them is an
 * error). */
void merge_init(root_merge *m, int count_exact, const trawl_sort *sort, uint32_t nsort);

/*
 * merge_add adds one decoded SEARCH reply (h, sr) of leaf (of the index
 * numbered source in a search over several; else 0). When the reply
 * carries ids, they point into its bytes: the merge then takes *reply (the
 * malloc'ed reply sr was decoded from; set to NULL) and frees it at the
 * end. Returns TRAWL_OK, TRAWL_ENOMEM, or (m->why says
 * what) TRAWL_EINVAL for a reply that lacks the sort values or the
 * aggregations' partial it was asked for, TRAWL_ECORRUPT for a partial that
 * does not decode, TRAWL_ELIMIT for merged aggregations over a limit.
 */
int merge_add(root_merge *m, const wire_header *h, const wire_search_reply *sr, uint32_t leaf,
              uint32_t source, uint8_t **reply);

/* merge_page sorts the hits (by score or by the sort's values, then the id
 * hash) and sets *page to the offset-th to
 * (offset + k)-th of them (fewer at the end), *n to their number. */
void merge_page(root_merge *m, uint32_t offset, uint32_t k, const merge_hit **page, uint32_t *n);

/* merge_result copies the totals, flags and generations into res. */
void merge_result(const root_merge *m, root_result *res);

void merge_fini(root_merge *m);

#endif
