/*
 * handles.h - what the files of the public search API share: the handles'
 * structures (trawl_index's is in search.h, with the evaluation's) and the
 * helpers more than one of them calls. index.c implements trawl_index_*,
 * searcher.c trawl_searcher_* and the searches, results.c trawl_results_*,
 * query_handle.c trawl_query_*.
 */
#ifndef TRAWL_INDEX_HANDLES_H
#define TRAWL_INDEX_HANDLES_H

#include <stddef.h>
#include <stdint.h>

#include "common/aggs.h"
#include "common/arena.h"
#include "common/qtree.h"
#include "search.h"
#include "store.h"

struct trawl_searcher {
	trawl_index *idx;
	idx_sview *views;
	idx_analyzer *an[2];
	float ktab[LIMIT_FIELDS][256];
	arena eval;
	uint64_t *bitset;
	idx_hit *hits;
	uint32_t caphits;
	char errmsg[1024];
};

typedef struct rhit {
	idx_hit h;
	char *id;
	char *doc;
	size_t doclen;
	int docerr;
	char *snip;
} rhit;

struct trawl_results {
	trawl_searcher *s;
	arena qa;
	idx_lquery lq;
	int has_query; /* lq is compiled (snippets can mark terms) */
	int partial;
	uint32_t n;
	uint64_t total;
	uint64_t searched;
	rhit *hits;
	idx_sort sort;              /* by fields (nkeys 0: by score) */
	const aggs_spec *aggs_spec; /* the search's aggregations (the request's), or NULL */
	aggs_result *aggs;          /* their partial result over the shards searched */
};

struct trawl_aggs {
	aggs_spec *spec;
};

struct trawl_query {
	qt_node *tree; /* keeps common/qtree.h's rules and limits */
};

/* idx_searcher_open opens a searcher on idx; err (may be NULL) says what
 * failed. trawl_searcher_open is it without the message. */
int idx_searcher_open(trawl_searcher **out, trawl_index *idx, char *err, size_t errlen);

/* idx_serr writes s's errmsg and returns code. */
int idx_serr(trawl_searcher *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* idx_read_meta reads key of a shard's meta table (store.h's rules). */
int idx_read_meta(idx_rtxn *t, const char *key, const void **v, size_t *n);

/* idx_extid_dup: doc's external id, malloc'ed (NULL: no memory). */
char *idx_extid_dup(const idx_sview *v, uint32_t doc);

/* idx_locate finds id's live document in s's index: its shard number, its
 * segment (the place in the shard's list in MANIFEST.json, oldest first)
 * and its number inside that segment. TRAWL_ENOTFOUND when no live
 * document has the id, or its shard is not open here. */
int idx_locate(trawl_searcher *s, const char *id, uint32_t idlen, uint32_t *shard, uint32_t *seg,
               uint32_t *doc);

/* idx_seg_version: the _seq_no and _version of document doc of segment
 * seg of shard number shard (0 and 1 for a build's); TRAWL_EINVAL for no
 * such document. */
int idx_seg_version(trawl_searcher *s, uint32_t shard, uint32_t seg, uint32_t doc, uint64_t *seq,
                    uint64_t *version);

/* idx_seg_doc reads the stored document doc of segment seg of shard number
 * shard into *out (malloc'ed): TRAWL_OK, TRAWL_ENOTFOUND (nothing stored),
 * TRAWL_ECORRUPT, TRAWL_EINVAL (no such segment or document). */
int idx_seg_doc(trawl_searcher *s, uint32_t shard, uint32_t seg, uint32_t doc, char **out,
                size_t *len);

/* idx_shard_intact checks that the segment files shard number shard of idx
 * reads through its map still have the sizes the manifest gives (an fstat
 * each): TRAWL_OK, or TRAWL_EIO with err naming the first that has not. A
 * read of a page past the end of a file truncated under the map is a
 * SIGBUS that ends the process: a reader that no leaf's guard protects
 * (leaf/shardguard.h; the indexer's own reads of its live generation)
 * calls this before it reads the shard. A shard not open here is intact. */
int idx_shard_intact(const trawl_index *idx, uint32_t shard, char *err, size_t errlen);

/* idx_fetch_doc reads and decompresses doc of shard i into *out (malloc'ed). */
int idx_fetch_doc(trawl_searcher *s, uint32_t i, uint32_t doc, char **out, size_t *len);

#endif
