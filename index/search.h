/*
 * search.h - query evaluation inside one shard, and the types the public API
 * glue (index.c, searcher.c, results.c) shares with it.
 *
 * A query runs in three steps:
 *  1. idx_query_parse (query.c): text -> query tree (common/qtree.h), or a
 *     tree decoded from the wire, or built by the OpenSearch DSL;
 *  2. idx_lq_compile: query tree -> logical query, analysed with each
 *     field's analyzer and checked against the schema (shard-independent);
 *  3. idx_shard_topk / idx_shard_count: the logical query becomes a tree of
 *     scorers over one shard's postings and is evaluated document at a time.
 */
#ifndef TRAWL_INDEX_SEARCH_H
#define TRAWL_INDEX_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include "analyze.h"
#include "common/arena.h"
#include "common/clock.h"
#include "common/hash.h"
#include "dict.h"
#include "docstore.h"
#include "index_int.h"
#include "query.h"
#include "store.h"

/* ---- the open index (shared by threads) ---- */

typedef struct idx_shard {
	idx_store *store;
	char path[LIMIT_PATH_BYTES];
	uint32_t ndocs;
	uint32_t no; /* the shard's number in its generation */
} idx_shard;

struct trawl_index {
	char *dir;
	uint64_t generation;
	idx_schema schema;
	char *schema_json;
	idx_stats stats;
	uint32_t total_shards; /* shards in the generation */
	uint32_t nshards;      /* shards open here */
	idx_shard *shards;     /* nshards, ascending by number */
	int16_t local[TRAWL_MAX_SHARDS]; /* shard number -> index in shards, or -1 */
	uint64_t bytes;
	uint64_t terms;
};

/* ---- one searcher's view of one shard (valid while its txn lives) ---- */

typedef struct idx_sview {
	idx_rtxn *txn;
	uint32_t ndocs;
	const uint8_t *norms[LIMIT_FIELDS];
	idx_dict dict;         /* terms, postings and positions */
	const uint8_t *extoff;  /* u32 offset of each block of ids, and of the end */
	const uint8_t *extdata; /* the blocks */
	size_t extdata_len;
	const void *zdict;
	size_t zdict_len;
	idx_zdec *zdec;        /* created on first document fetch */
} idx_sview;

/* ---- logical query ---- */

typedef enum idx_lkind {
	IDX_L_NONE = 0, /* matches nothing */
	IDX_L_TERM,
	IDX_L_PHRASE,
	IDX_L_PREFIX,
	IDX_L_OR,   /* sum of kids; a doc matches if any kid does */
	IDX_L_BOOL, /* must / should / not kids */
	IDX_L_ALL,  /* every document, score 1 */
} idx_lkind;

typedef struct idx_lnode idx_lnode;
struct idx_lnode {
	idx_lkind kind;
	qt_occur occur;
	uint8_t fid;
	uint32_t column;
	uint8_t *key;  /* TERM, PREFIX: field byte + bytes */
	uint32_t klen;
	uint32_t nterms;     /* PHRASE */
	uint8_t **keys;      /* PHRASE: nterms keys */
	uint32_t *klens;
	uint32_t *rel;       /* PHRASE: position of each term relative to the first */
	idx_lnode **kids;    /* OR, BOOL */
	uint32_t nkids;
};

/* A query term for highlighting: field, folded bytes, prefix or not. */
typedef struct idx_hterm {
	uint8_t fid;
	uint8_t prefix;
	uint32_t len;
	const char *text;
} idx_hterm;

typedef struct idx_lquery {
	idx_lnode *root;
	idx_hterm *hterms;
	uint32_t nhterms, caphterms;
	uint32_t nleaves; /* analysed terms, one per prefix */
	uint32_t nprefix; /* prefixes among them (expanded per shard) */
} idx_lquery;

/*
 * idx_lq_compile analyses tree q with the schema's analyzers into *out
 * (memory from arena a). Errors: TRAWL_EQUERY (unknown field, nothing to
 * search for, only exclusions) or TRAWL_ELIMIT, with err "column N: ..."
 * (without the column for a clause that has none: column 0).
 */
int idx_lq_compile(const qt_node *q, const idx_schema *schema, idx_analyzer **an, arena *a,
                   idx_lquery *out, char *err, size_t errlen);

/* ---- evaluation in one shard ---- */

typedef struct idx_hit {
	float score;
	uint32_t doc;
	uint32_t shard;
	uint64_t hash;
} idx_hit;

typedef struct idx_shard_ctx {
	idx_sview *view;
	const idx_schema *schema;
	const float (*ktab)[256]; /* K(dl) per field and norm byte */
	uint64_t global_docs;     /* N of the idf: documents in the generation */
	arena *arena;
	uint64_t *bitset;         /* scratch of at least (ndocs + 63) / 64 words */
	char *err;
	size_t errlen;
	int exhaustive;           /* tests: no pruning */
	uint64_t deadline_us;     /* absolute (Unix microseconds); 0: none */
	uint32_t ticks;           /* documents since the clock was last read */
	int timed_out;            /* the deadline passed: results are partial */
	/* The caller's top k so far, from other shards (0: none): the caller
	 * already holds k hits that score at least floor, so a hit that scores
	 * less cannot enter its top k and need not be found (one that scores
	 * exactly floor can, by its hash). Pruning starts from it. */
	float floor;
} idx_shard_ctx;

/* idx_deadline_hit: whether c's deadline has passed; reads the clock once
 * every 1024 calls. Sets c->timed_out. */
static inline int idx_deadline_hit(idx_shard_ctx *c)
{
	if (!c->deadline_us || (++c->ticks & 1023))
		return c->timed_out;
	if (clock_unix_us() >= c->deadline_us)
		c->timed_out = 1;
	return c->timed_out;
}

/*
 * idx_shard_search writes the best k hits of q in the shard to hits (sorted
 * by score descending, then hash ascending) and their number to *n; with
 * count not NULL it also counts every match. k may be 0 (count only).
 */
int idx_shard_search(idx_shard_ctx *c, const idx_lquery *q, uint32_t k, idx_hit *hits, uint32_t *n,
                     uint64_t *count);

/* idx_hit_before: the ranking order of hits (score desc, hash asc). */
static inline int idx_hit_before(const idx_hit *a, const idx_hit *b)
{
	if (a->score != b->score)
		return a->score > b->score;
	return a->hash < b->hash;
}

/*
 * idx_view_extid returns doc's external id (not NUL-terminated, *len bytes),
 * or NULL with *len 0 if the id table is damaged. The table ("extids" in
 * docs/FORMAT.md) holds blocks of IDX_EXTID_BLOCK ids: varint lengths, then
 * the bytes.
 */
#define IDX_EXTID_BLOCK 64
const uint8_t *idx_view_extid(const idx_sview *v, uint32_t doc, uint32_t *len);

/* idx_view_hash: the XXH3_64 of doc's external id (doc ids are in its order). */
static inline uint64_t idx_view_hash(const idx_sview *v, uint32_t doc)
{
	uint32_t n;
	const uint8_t *id = idx_view_extid(v, doc, &n);
	return id ? th_hash64(id, n) : 0;
}

/*
 * idx_snippet builds a highlighted fragment of text (len bytes) for field
 * fid: the window of about max_chars characters with the most distinct query
 * terms. Appends to out. an: the field's analyzer.
 */
struct tbuf;
int idx_snippet(idx_analyzer *an, const idx_lquery *q, uint8_t fid, const char *text, size_t len,
                const char *pre, const char *post, size_t max_chars, struct tbuf *out);

#endif
