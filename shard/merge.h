/*
 * merge.h - one shard's merger (merge.c), as join.c drives it: documents
 * first, then the terms in one or more key-range parts, then join.c writes
 * the dictionary with the global document frequencies and commits.
 */
#ifndef TRAWL_SHARD_MERGE_H
#define TRAWL_SHARD_MERGE_H

#include "index/columns.h"
#include "index/dict.h"
#include "index/store.h"
#include "sh.h"

#define SH_MAX_PARTS 16
#define SH_CHECKPOINT_BYTES (8u << 20) /* stored documents per LMDB transaction */

/* A part's postings (or positions), copied into LMDB at the end: in memory
 * up to SH_FOUT_MEM bytes, then in a temporary file. */
#define SH_FOUT_MEM (32u << 20)
typedef struct sh_fout {
	int fd;
	tbuf buf;
	uint64_t bytes; /* written so far, buffered included */
	char path[LIMIT_PATH_BYTES];
} sh_fout;

int sh_fout_open(sh_fout *f, const char *path); /* the file is made if needed */
int sh_fout_finish(sh_fout *f);               /* flushes */
int sh_fout_copy(sh_fout *f, uint8_t *dst);   /* reads the whole file into dst */
void sh_fout_close(sh_fout *f);               /* closes and removes the file */

/* A dictionary entry of a merged term. */
typedef struct sh_mterm {
	uint64_t key_off; /* in the part's keys */
	uint32_t klen;
	uint32_t df;
	uint64_t df_global;
	uint64_t post_len, pos_len;
} sh_mterm;

/* A key range of a shard's terms, merged by one thread: [lo, hi). */
typedef struct sh_mpart {
	uint8_t lo[LIMIT_KEY_BYTES], hi[LIMIT_KEY_BYTES];
	uint32_t lolen, hilen;
	int has_lo, has_hi;
	sh_fout post, pos;
	sh_mterm *terms;
	uint32_t nterms;
	size_t cap;
	tbuf keys;
} sh_mpart;

typedef struct sh_shardmerge {
	const sh_params *p;
	const sh_run *runs;
	uint32_t nruns;
	uint32_t shard;
	char path[LIMIT_PATH_BYTES]; /* the shard's LMDB file */
	idx_store *st;
	/* after sh_merge_docs */
	uint32_t ndocs;
	uint8_t *norms[LIMIT_FIELDS];
	uint64_t sumlen[LIMIT_FIELDS];
	uint32_t **map;    /* map[run][local doc]: doc id, or IDX_END if dropped */
	uint32_t *nlocal;  /* documents of each run in this shard */
	tbuf ids;          /* external ids, in doc id order, end to end */
	uint32_t *idlens;
	tbuf typed;          /* typed values (index/values.h), in doc id order */
	uint64_t *typed_off; /* doc d's are [typed_off[d], typed_off[d+1]) */
	uint8_t *zeros;      /* ndocs zero bytes: the norms of keyword postings */
	/* the join's: each keyword field's distinct values in this shard, sorted
	 * (slices of typed), for the generation's dictionaries */
	idx_kwslice *kw[LIMIT_TYPED_FIELDS];
	uint32_t nkw[LIMIT_TYPED_FIELDS];
	uint64_t duplicates, deleted;
	/* sh_merge_terms */
	uint32_t nparts;
	sh_mpart parts[SH_MAX_PARTS];
	char err[512];
} sh_shardmerge;

/* sh_merge_docs creates the shard's file at m->path and merges the documents. */
int sh_merge_docs(sh_shardmerge *m);

/* sh_merge_terms merges the terms of part (its range and files set up) with
 * the global statistics gs. Parts of one shard may run at once. */
int sh_merge_terms(sh_shardmerge *m, uint32_t part, const idx_stats *gs);

void sh_shardmerge_fini(sh_shardmerge *m);

#endif
