/*
 * docstore.h - stored documents: zstd compression with a dictionary trained
 * per shard (small documents compress poorly alone), and an XXH3-64 checksum
 * of every document. The boundary to zstd: only docstore.c includes zstd.h.
 *
 * A stored record is: u64 XXH3-64 of the document (little-endian), u32 its
 * length, then one zstd frame (docs/FORMAT.md).
 */
#ifndef TRAWL_INDEX_DOCSTORE_H
#define TRAWL_INDEX_DOCSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/limits.h"

#define IDX_ZDICT_MAX (112 * 1024)  /* dictionary size at most */
#define IDX_ZDICT_SAMPLE (8u << 20) /* bytes of documents sampled to train it */

/*
 * idx_zdict_train trains a dictionary from n samples laid end to end in
 * `samples` with sizes in `sizes`. Writes it to dict (cap bytes) and its
 * length to *dictlen; *dictlen is 0 when there was too little to train on
 * (records are then compressed without a dictionary). Returns TRAWL_OK or
 * TRAWL_ENOMEM.
 */
int idx_zdict_train(const void *samples, const size_t *sizes, unsigned n, void *dict, size_t cap,
                    size_t *dictlen);

typedef struct idx_zenc idx_zenc;
typedef struct idx_zdec idx_zdec;

/* idx_zenc_alloc prepares compression with dict (may be NULL/0); the dict is copied. */
int idx_zenc_alloc(idx_zenc **out, const void *dict, size_t dictlen, int level);
void idx_zenc_free(idx_zenc *z);

/* idx_zenc_record writes the stored record of doc (n bytes) to out (reset first). */
int idx_zenc_record(idx_zenc *z, const void *doc, size_t n, tbuf *out);

/* idx_zdec_alloc prepares decompression with dict (copied).
 */
int idx_zdec_alloc(idx_zdec **out, const void *dict, size_t dictlen);
void idx_zdec_free(idx_zdec *z);

/*
 * idx_zdec_record decompresses and checks a stored record. On success *doc
 * (NUL-terminated, *len bytes) is malloc'ed and owned by the caller.
 * TRAWL_ECORRUPT if the frame or the checksum is wrong.
 */
int idx_zdec_record(idx_zdec *z, const void *rec, size_t n, char **doc, size_t *len);

/*
 * idx_zdec_matches: 1 if the stored record rec (n bytes) is exactly one
 * zstd frame, nothing after it, that decompresses to the len bytes at doc,
 * with doc's hash and length in its header; 0 if not; -1 out of memory.
 * scratch holds the decompressed bytes. For a record made elsewhere (a
 * build worker's run): a frame's encoding is not compared, what it holds is.
 */
int idx_zdec_matches(idx_zdec *z, const void *rec, size_t n, const void *doc, size_t len,
                     tbuf *scratch);

/* ---- streaming decompression of input files (.zst) ---- */

typedef struct idx_zstream idx_zstream;

/* idx_zstream_alloc prepares to decompress one zstd stream (frames in a row). */
int idx_zstream_alloc(idx_zstream **out);
void idx_zstream_free(idx_zstream *z);

/*
 * idx_zstream_decompress consumes input from *in (*inlen bytes, advanced)
 * and writes at most cap bytes to out (*outlen). Returns TRAWL_OK or
 * TRAWL_ECORRUPT (not zstd data, or damaged).
 */
int idx_zstream_decompress(idx_zstream *z, const uint8_t **in, size_t *inlen, uint8_t *out,
                           size_t cap, size_t *outlen);

/* idx_zstream_complete: the data so far ends with a complete frame. */
int idx_zstream_complete(const idx_zstream *z);

#endif
