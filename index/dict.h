/*
 * dict.h - the term dictionary of a shard: every (field, term) key in
 * order, front-coded in blocks of IDX_DICT_BLOCK, with its document
 * frequencies and where its postings and positions lie in the shard's two
 * blobs. A small block index (the first key's offset and the blobs' offsets
 * at each block start) makes a lookup one binary search plus a scan of at
 * most one block.
 *
 * This replaces a B-tree of one LMDB key per term: at ~220,000 terms the
 * B-tree's per-key and per-page overhead was larger than the dictionary
 * itself (docs/ARCHITECTURE.md, "Departures").
 */
#ifndef TRAWL_INDEX_DICT_H
#define TRAWL_INDEX_DICT_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/limits.h"

#define IDX_DICT_BLOCK 64
#define IDX_DICT_INDEX_ENTRY 20 /* u32 dict offset, u64 postings offset, u64 positions offset */

/* ---- writing ---- */

typedef struct idx_dictw {
	tbuf dict;
	tbuf index;
	uint64_t n;
	uint64_t post_off, pos_off;
	uint8_t prev[LIMIT_KEY_BYTES];
	uint32_t prevlen;
} idx_dictw;

void idx_dictw_init(idx_dictw *w);
void idx_dictw_fini(idx_dictw *w);

/* idx_dictw_add appends a key (greater than the previous one) whose postings
 * (post_len bytes) and positions (pos_len bytes) follow the previous key's in
 * the blobs. */
int idx_dictw_add(idx_dictw *w, const uint8_t *key, uint32_t klen, uint32_t df, uint64_t df_global,
                  uint64_t post_len, uint64_t pos_len);

/* ---- reading ---- */

typedef struct idx_dict {
	const uint8_t *dict;
	size_t dict_len;
	const uint8_t *index;
	uint32_t nblocks;
	const uint8_t *post; /* postings blob */
	size_t post_len;
	const uint8_t *pos;  /* positions blob */
	size_t pos_len;
} idx_dict;

/* One term's entry: pointers into the blobs (valid as the blobs are). */
typedef struct idx_term {
	uint64_t df_global;
	uint32_t df;
	const uint8_t *post;
	size_t post_len;
	const uint8_t *pos;
	size_t pos_len;
} idx_term;

/* idx_dict_check validates the block index against the blobs' sizes. */
int idx_dict_check(const idx_dict *d);

/* idx_dict_get looks key up: TRAWL_OK, TRAWL_ENOTFOUND or TRAWL_ECORRUPT. */
int idx_dict_get(const idx_dict *d, const uint8_t *key, uint32_t klen, idx_term *out);

/*
 * idx_dict_scan calls cb for every key starting with prefix (plen may be 0:
 * every key), in order, until cb returns nonzero, which is returned.
 * TRAWL_ECORRUPT (negative: -TRAWL_ECORRUPT) if the dictionary is damaged.
 */
typedef int (*idx_dict_cb)(void *ctx, const uint8_t *key, uint32_t klen, const idx_term *t);
int idx_dict_scan(const idx_dict *d, const uint8_t *prefix, uint32_t plen, idx_dict_cb cb,
                  void *ctx);

/*
 * A walk over every key of a dictionary in order, one key per call, for a
 * caller that walks several at once (shard/update.c merges the keys of a
 * generation's shards): idx_dict_iter_init starts it at the first key (it
 * holds no memory; d must outlive it), idx_dict_iter_next steps to the
 * next key and returns 1 (it->key, it->klen and it->t are that key's until
 * the next call), 0 past the last, or -1 when the dictionary is damaged.
 */
typedef struct idx_dict_iter {
	const idx_dict *d;
	uint32_t block; /* the block being read */
	const uint8_t *p, *end;
	uint64_t post_off, pos_off;
	uint8_t key[LIMIT_KEY_BYTES];
	uint32_t klen;
	idx_term t;
} idx_dict_iter;

void idx_dict_iter_init(idx_dict_iter *it, const idx_dict *d);
int idx_dict_iter_next(idx_dict_iter *it);

#endif
