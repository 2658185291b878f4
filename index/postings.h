/*
 * postings.h - one term's postings list: encoding at build time and the
 * block cursor that query evaluation walks. docs/FORMAT.md has the bytes.
 *
 * Documents come in blocks of IDX_BLOCK (128): doc-id deltas and term
 * frequencies bit-packed, one skip entry per block with its last doc id and
 * the largest BM25 tf-part in it (for block-max pruning). Positions live in
 * a separate value, read only when a phrase needs them.
 *
 * A cursor reads from memory owned by a read transaction (see store.h) and
 * is valid as long as that transaction. Cursors never read outside the
 * value they were given; damaged values make the cursor end and set
 * ->corrupt (files are checksummed at open, so this guards against bugs).
 */
#ifndef TRAWL_INDEX_POSTINGS_H
#define TRAWL_INDEX_POSTINGS_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "common/buf.h"
#include "index_int.h"

#define IDX_SKIP_ENTRY 14 /* u32 last doc, u32 block offset, u32 positions offset, bf16 max */
#define IDX_TF_EXCEPTIONS 0x80 /* in a block's tf-bits byte: exceptions follow */

/* A term's postings, ready to walk. */
typedef struct idx_plist {
	uint64_t df_global;    /* documents containing the term, whole generation */
	uint32_t df;           /* documents containing it in this shard */
	uint32_t nblocks;
	float max_tf;          /* largest tf-part over the list; -1: not stored
	                          (single block: see idx_plist_max) */
	const uint8_t *skips;  /* nblocks skip entries, NULL if nblocks == 1 */
	const uint8_t *blocks; /* first block */
	const uint8_t *end;    /* end of the value */
} idx_plist;

/* idx_plist_open prepares a term's postings value (vlen bytes) whose document
 * frequencies the dictionary gave: TRAWL_OK or TRAWL_ECORRUPT. */
int idx_plist_open(idx_plist *pl, uint32_t df, uint64_t df_global, const void *val, size_t vlen);

/* idx_plist_parse: idx_plist_open of a value prefixed with varint df_global
 * and varint df (a self-contained form for tests and the fuzz target). */
int idx_plist_parse(const void *val, size_t vlen, idx_plist *pl);

/* idx_plist_max: the largest tf-part of the list, computed from its block
 * with the field's norms when the value does not store it. */
float idx_plist_max(const idx_plist *pl, const uint8_t *norms, const float *ktab, float k1);

/* ---- building ---- */

typedef struct idx_postings_in {
	const uint32_t *docs;      /* df ascending doc ids */
	const uint32_t *tfs;       /* df term frequencies, each >= 1 */
	const uint32_t *positions; /* sum(tfs) positions, ascending within each doc */
	uint32_t df;
	uint64_t df_global;
	const uint8_t *norms;      /* field norm byte of every doc of the shard */
	const float *ktab;         /* K(dl) for each norm byte (256 entries) */
	float k1;
} idx_postings_in;

/*
 * idx_postings_encode writes the postings value to post and the positions
 * value to pos (both reset first); df and df_global go to the dictionary.
 * Returns TRAWL_OK, ENOMEM or ELIMIT.
 */
int idx_postings_encode(const idx_postings_in *in, tbuf *post, tbuf *pos);

/* ---- reading ---- */

typedef struct idx_pcur {
	idx_plist pl;
	uint32_t doc;      /* current doc id, IDX_END when exhausted */
	uint32_t blk;      /* current block */
	uint32_t n;        /* docs in the current block */
	uint32_t i;        /* index of doc in the block */
	uint32_t blk_last; /* last doc of the current block */
	const uint8_t *tfp;
	uint32_t tf_len;   /* bytes of packed tf low bits */
	uint8_t tf_bits;   /* width | IDX_TF_EXCEPTIONS */
	uint8_t tf_ready;
	uint8_t cum_n;     /* cum[0..cum_n] are made */
	uint8_t corrupt;
	const uint8_t *pos;     /* positions value, NULL if not loaded */
	const uint8_t *pos_end;
	uint32_t docs[IDX_BLOCK + 4]; /* + 4: room for a vector read past the last */
	uint32_t tfs[IDX_BLOCK];
	uint32_t cum[IDX_BLOCK + 1]; /* prefix sums of tfs, for positions */
} idx_pcur;

/* idx_pcur_init positions c on the first document of pl. pos/poslen: the
 * positions value (may be NULL/0 if no phrase needs it). */
void idx_pcur_init(idx_pcur *c, const idx_plist *pl, const void *pos, size_t poslen);

/* idx_pcur_next moves to the next document; returns it (IDX_END at the end). */
uint32_t idx_pcur_next(idx_pcur *c);

/* idx_pcur_advance moves to the first document >= target (never backwards). */
uint32_t idx_pcur_advance(idx_pcur *c, uint32_t target);

/* idx_pcur_tf: term frequency of the current document. */
uint32_t idx_pcur_tf(idx_pcur *c);

/*
 * idx_pcur_bound gives the largest tf-part of the documents from target to
 * *upto (the last doc of the block holding target) without moving c.
 * Returns -1 (and *upto = IDX_END) if no document >= target remains.
 */
float idx_pcur_bound(const idx_pcur *c, uint32_t target, uint32_t *upto);

/*
 * idx_pcur_positions writes the current document's positions (at most cap;
 * returns how many there are). Returns 0 if positions are missing or damaged.
 */
uint32_t idx_pcur_positions(idx_pcur *c, uint32_t *out, uint32_t cap);

/*
 * idx_pcur_prefetch_positions asks the CPU for the cache lines that
 * idx_pcur_positions will read for the current document (no-op without
 * positions). A phrase calls it for each of its terms before reading any,
 * so that their misses overlap instead of following one another: the walk
 * to a document's positions reads one group header after another.
 */
void idx_pcur_prefetch_positions(idx_pcur *c);

/* idx_pcur_each_block calls cb for every block's decoded doc ids (for counting
 * with a bitset). Returns nonzero if the list was damaged. */
int idx_pcur_each_block(const idx_plist *pl, void (*cb)(void *ctx, const uint32_t *docs, uint32_t n),
                        void *ctx);

#endif
