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
#include <sys/types.h>

#include "analyze.h"
#include "columns.h"
#include "common/arena.h"
#include "common/clock.h"
#include "common/hash.h"
#include "delset.h"
#include "dict.h"
#include "docstore.h"
#include "index_int.h"
#include "query.h"
#include "store.h"

/* ---- the open index (shared by threads) ---- */

/* A segment of a shard as the open index holds it: an immutable shard file
 * (docs/FORMAT.md §5-7) and its deleted documents (§16). A shard's
 * documents are numbered across its segments: segment j's from the sum of
 * the earlier segments' counts (base), so hits, FETCH and the wire keep
 * (shard, doc). A generation a build wrote whole has one per shard. */
typedef struct idx_seg {
	idx_store *store;
	char path[LIMIT_PATH_BYTES];
	uint64_t bytes; /* the file's size and checksum, from the manifest */
	char xxh3_128[33];
	uint32_t ndocs; /* documents in the file, the deleted ones too */
	uint32_t no;    /* its shard's number in its generation */
	uint32_t nth;   /* its place in the shard's list (0: the oldest) */
	uint32_t base;  /* its first document's number in the shard */
	idx_delset del; /* del.count 0: none deleted (del.bits NULL) */
	uint64_t *vers; /* per document its _seq_no and _version (versions.h);
	                   NULL: a build's, 0 and 1 */
	/* The block bounds of its postings were made with the statistics of
	 * the build that wrote it; BM25's tf part grows when the average field
	 * length does, so a search scales the bounds by at least that
	 * (1 when the generation's average is not larger). */
	float bscale[LIMIT_FIELDS];
	/* keyword field t's ordinals in the file -> the index's (NULL: the
	 * file's dictionary is the index's) */
	uint32_t *gord[LIMIT_TYPED_FIELDS];
} idx_seg;

struct idx_gstats;

/* A file of the open generation, as checked at open: where it is on disk
 * and what the manifest said of it (trawl_open_opts.reuse trusts it
 * later), and who reads it (trawl_index_shard_files). */
typedef struct idx_vfile {
	dev_t dev;
	ino_t ino;
	uint64_t bytes;
	char xxh3_128[33];
	uint32_t shard; /* the shard that reads it; UINT32_MAX: every one */
	char *path;     /* owned */
} idx_vfile;

struct trawl_index {
	char *dir;
	uint64_t generation;
	idx_schema schema;
	char *schema_json;
	idx_stats stats;                    /* the generation's documents and token sums */
	struct idx_gstats *gstats;          /* the terms' frequencies (NULL: the shard files
	                                       hold the generation's, a build wrote them whole) */
	uint32_t total_shards;              /* shards in the generation */
	uint32_t nshards;                   /* shards open here */
	uint32_t nsegs;                     /* their segments */
	idx_seg *segs;                      /* by shard number; a shard's oldest first */
	int32_t local[TRAWL_MAX_SHARDS];    /* shard number -> its first segment in segs, or -1 */
	uint16_t nseg_of[TRAWL_MAX_SHARDS]; /* shard number -> its segments */
	uint64_t gen_deleted;               /* documents deleted in the generation, every shard's
	                                       (open here or not), by the manifest */
	/* a keyword field's dictionary across the segments open here, when they
	 * do not all hold the same (segments of updates); else has_kdict 0 */
	uint8_t has_kdict[LIMIT_TYPED_FIELDS];
	idx_kwdict kdict[LIMIT_TYPED_FIELDS];
	uint8_t *kdict_bytes[LIMIT_TYPED_FIELDS];
	uint64_t bytes;
	uint64_t terms;
	struct idx_fcache *fcache; /* the filter cache (NULL: none) */
	int unsummed; /* the generation has no MANIFEST.xxh3 (an older trawl wrote it) */
	/* the files checked at open (trawl_open_opts.reuse trusts them), and
	 * with their paths and shards (trawl_index_shard_files) */
	idx_vfile *vfiles;
	uint32_t nvfiles;
};

/* Whether bit d of bits is set. */
static inline int idx_bit(const uint64_t *bits, uint32_t d)
{
	return (int)((bits[d >> 6] >> (d & 63)) & 1);
}

/* idx_seg_of: the segment of shard number no that holds its document doc
 * (*local: the number inside it), or -1. */
static inline int32_t idx_seg_of(const trawl_index *idx, uint32_t no, uint32_t doc, uint32_t *local)
{
	if (no >= TRAWL_MAX_SHARDS || idx->local[no] < 0)
		return -1;
	for (int32_t i = idx->local[no]; i < idx->local[no] + idx->nseg_of[no]; i++)
		if (doc >= idx->segs[i].base && doc - idx->segs[i].base < idx->segs[i].ndocs) {
			*local = doc - idx->segs[i].base;
			return i;
		}
	return -1;
}

/* ---- one searcher's view of one shard (valid while its txn lives) ---- */

typedef struct idx_sview {
	idx_rtxn *txn;
	uint32_t ndocs;
	const uint8_t *norms[LIMIT_FIELDS];
	idx_dict dict;          /* terms, postings and positions */
	const uint8_t *extoff;  /* u32 offset of each block of ids, and of the end */
	const uint8_t *extdata; /* the blocks */
	size_t extdata_len;
	const void *zdict;
	size_t zdict_len;
	idx_zdec *zdec;                   /* created on first document fetch */
	idx_col cols[LIMIT_TYPED_FIELDS]; /* the typed fields' columns and points */
	const uint64_t *deleted;          /* the segment's deleted documents (NULL: none) */
	uint32_t ndeleted;
	const float *bscale; /* its bounds' scale per field (idx_seg) */
} idx_sview;

/* ---- logical query ---- */

typedef enum idx_lkind {
	IDX_L_NONE = 0, /* matches nothing */
	IDX_L_TERM,
	IDX_L_PHRASE,
	IDX_L_PREFIX,
	IDX_L_OR,      /* sum of kids; a doc matches if any kid does */
	IDX_L_BOOL,    /* must / should / not kids */
	IDX_L_ALL,     /* every document, score 1 */
	IDX_L_KEYWORD, /* a keyword value's postings (key), each scoring its idf */
	IDX_L_SET,     /* documents found per shard (set below), each scoring 1 */
	IDX_L_CONST,   /* kids[0]'s documents, each scoring weight */
} idx_lkind;

/* What an IDX_L_SET holds. */
typedef enum idx_lset {
	IDX_SET_RANGE,      /* typed field t's values in [lo, hi] (keys; a keyword's
	                       ordinals), from its points, or its doc values */
	IDX_SET_EXISTS,     /* documents with a value in typed field t */
	IDX_SET_IDS,        /* the document whose external id is key */
	IDX_SET_KPREFIX,    /* keyword values starting with key (field byte + bytes) */
	IDX_SET_KEYWORD_DV, /* a keyword field without postings: value key + 1,
	                       found through its doc values */
} idx_lset;

typedef struct idx_lnode idx_lnode;
struct idx_lnode {
	idx_lkind kind;
	qt_occur occur;
	uint8_t fid;
	uint32_t column;
	uint8_t *key; /* TERM, PREFIX: field byte + bytes */
	uint32_t klen;
	uint32_t nterms; /* PHRASE */
	uint8_t **keys;  /* PHRASE: nterms keys */
	uint32_t *klens;
	uint32_t *rel;    /* PHRASE: position of each term relative to the first */
	idx_lnode **kids; /* OR, BOOL, CONST */
	uint32_t nkids;
	/* SET */
	idx_lset set;
	uint32_t typed; /* the typed field */
	int64_t lo, hi; /* RANGE: inclusive bounds, as keys */
	float weight;   /* CONST: every document's score */
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

/* A sort by fields (and _score): the hits' order, then the id hash. */
typedef struct idx_sortkey {
	int32_t typed;         /* the typed field (with doc values); -1: _score */
	uint8_t desc;          /* descending */
	uint8_t missing_first; /* documents without a value first (default last) */
	uint8_t mode_max;      /* a multi-valued document sorts by its largest value
	                          (default: smallest ascending, largest descending) */
} idx_sortkey;

/* A hit's sort values: per key, an int64 whose order is the value's (a
 * number's key, 2 x a keyword's global ordinal, _score's idx_double_key),
 * or missing. */
typedef struct idx_sortval {
	int64_t v[LIMIT_SORT_KEYS];
	uint8_t missing; /* bit i: key i has no value */
} idx_sortval;

typedef struct idx_sort {
	uint32_t nkeys; /* 0: by score */
	idx_sortkey key[LIMIT_SORT_KEYS];
	int has_after; /* search_after: only hits after these values */
	idx_sortval after;
	uint64_t after_hash; /* and this id hash */
} idx_sort;

typedef struct idx_hit {
	float score;
	uint32_t doc;
	uint32_t shard;
	uint64_t hash;
	idx_sortval sv; /* when sorting by fields */
} idx_hit;

/* idx_sort_before: whether a comes before b in sort order (keys, then the
 * id hash; ties of hash, which only distinct ids can have, by shard and
 * doc). */
static inline int idx_sort_before(const idx_sort *s, const idx_hit *a, const idx_hit *b)
{
	for (uint32_t i = 0; i < s->nkeys; i++) {
		int ma = (a->sv.missing >> i) & 1, mb = (b->sv.missing >> i) & 1;
		if (ma != mb)
			return s->key[i].missing_first ? ma : mb;
		if (ma)
			continue;
		int64_t x = a->sv.v[i], y = b->sv.v[i];
		if (x != y)
			return s->key[i].desc ? x > y : x < y;
	}
	if (a->hash != b->hash)
		return a->hash < b->hash;
	return a->shard != b->shard ? a->shard < b->shard : a->doc < b->doc;
}

typedef struct idx_shard_ctx {
	idx_sview *view;
	const idx_schema *schema;
	const float (*ktab)[256]; /* K(dl) per field and norm byte */
	uint64_t global_docs;     /* N of the idf: documents in the generation */
	arena *arena;
	uint64_t *bitset; /* scratch of at least (ndocs + 63) / 64 words */
	char *err;
	size_t errlen;
	int exhaustive;       /* tests: no pruning */
	uint64_t deadline_us; /* absolute (Unix microseconds); 0: none */
	uint32_t ticks;       /* documents since the clock was last read */
	int timed_out;        /* the deadline passed: results are partial */
	/* The caller's top k so far, from other shards (0: none): the caller
	 * already holds k hits that score at least floor, so a hit that scores
	 * less cannot enter its top k and need not be found (one that scores
	 * exactly floor can, by its hash). Pruning starts from it. */
	float floor;
	const idx_sort *sort;            /* NULL or no keys: by score */
	struct idx_fcache *fcache;       /* typed clauses' document sets; NULL: none */
	struct aggc *aggc;               /* aggregations: every match is collected; NULL: none */
	uint32_t shard_no;               /* the shard's number in its generation */
	uint32_t seg;                    /* the segment's number in the open index (the
	                                    filter cache's entries are per segment) */
	const struct idx_gstats *gstats; /* the terms' frequencies (NULL: the dictionary's) */
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

/* idx_shard_bits sets in bits (zeroed, (ndocs + 63) / 64 words) the
 * documents of the shard that q matches (a filter aggregation's query). */
int idx_shard_bits(idx_shard_ctx *c, const idx_lquery *q, uint64_t *bits);

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

/* idx_view_find: the doc whose external id is id (len bytes), or IDX_END:
 * doc ids follow the id's hash (evenly spread), so an interpolation search
 * by hash, then the ids compared. */
uint32_t idx_view_find(const idx_sview *v, const uint8_t *id, uint32_t len);

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
