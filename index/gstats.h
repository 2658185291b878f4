/*
 * gstats.h - a generation's global statistics in two layers (issue #12,
 * plan item 4 in docs/ARCHITECTURE.md): the document frequency of every
 * dictionary key in the whole index, the number of documents and the
 * token totals per text field, so that BM25 stays exact while segments are
 * added and documents deleted, and an update costs what it changes, not
 * the index.
 *
 * A base file holds every key's frequency at the last rebase; it is shared,
 * unchanged, by the generations after it. A delta file holds the current
 * frequency of each key that changed since (and the current totals); each
 * generation writes its own, from the previous one and its batch's
 * changes: its size is the keys changed since the rebase. A key's
 * frequency is the delta's, else the base's, else 0. A rebase folds the
 * delta into a new base, when the delta has grown (the merge policy's
 * call). Both files are LMDB files written once, like shards, whose keys
 * are the term dictionary's format (dict.h) without postings: FORMAT.md
 * §15. Nothing calls this yet: the segments it is for are being built.
 */
#ifndef TRAWL_INDEX_GSTATS_H
#define TRAWL_INDEX_GSTATS_H

#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"

typedef struct idx_gstats idx_gstats;

/*
 * idx_gstats_open opens a base file and the delta file written on it
 * (delta_path NULL: none, the base alone), both already verified against
 * their generation's manifest. nfields: the schema's text fields, which
 * the files must have. Owned by the caller: idx_gstats_close. Errors:
 * TRAWL_ECORRUPT (a part missing or damaged, or a delta written on another
 * base), TRAWL_EIO, TRAWL_EVERSION.
 */
int idx_gstats_open(idx_gstats **out, const char *base_path, const char *delta_path,
                    uint32_t nfields, char *err, size_t errlen);
void idx_gstats_close(idx_gstats *g);

/* The documents of the index, and field f's kept tokens summed over them. */
uint64_t idx_gstats_docs(const idx_gstats *g);
uint64_t idx_gstats_sumlen(const idx_gstats *g, uint32_t f);

/* idx_gstats_df: key's document frequency (0 when no document has it).
 * TRAWL_OK or TRAWL_ECORRUPT. Any thread, at once. */
int idx_gstats_df(const idx_gstats *g, const uint8_t *key, uint32_t klen, uint64_t *df);

/* Keys held by the delta (how far it has grown since the rebase), and by
 * the base. */
uint64_t idx_gstats_delta_keys(const idx_gstats *g);
uint64_t idx_gstats_base_keys(const idx_gstats *g);

/* ---- writing ---- */

/* A base's keys, in strictly ascending order (memcmp, shorter first): the
 * iterator sets one key and its frequency per call and returns 1, 0 at the
 * end, or a negative trawl_err. */
typedef int (*idx_gkeys_fn)(void *ctx, const uint8_t **key, uint32_t *klen, uint64_t *df);

/* idx_gstats_write_base writes a base file at path (which must not exist):
 * docs, sumlen[0..nfields) and the keys next gives (those of frequency 0
 * are left out). */
int idx_gstats_write_base(const char *path, uint64_t docs, const uint64_t *sumlen, uint32_t nfields,
                          idx_gkeys_fn next, void *ctx, char *err, size_t errlen);

/* One key's change of frequency in a batch (documents added with it minus
 * documents deleted with it). */
typedef struct idx_gchange {
	const uint8_t *key;
	uint32_t klen;
	int64_t change;
} idx_gchange;

/*
 * idx_gstats_write_delta writes the delta at path of the generation after
 * cur: cur's statistics changed by a batch (docs_change documents,
 * sumlen_change[f] tokens, and changes[0..n), strictly ascending by key,
 * each key once). A key whose frequency comes back to the base's leaves
 * the delta. TRAWL_EINVAL (err names the key) when a change would take a
 * frequency or a total below 0: the batch does not fit cur.
 */
int idx_gstats_write_delta(const char *path, const idx_gstats *cur, int64_t docs_change,
                           const int64_t *sumlen_change, const idx_gchange *changes, size_t n,
                           char *err, size_t errlen);

/* idx_gstats_rebase writes at path a base holding cur's statistics (its
 * base with its delta folded in); the generation that uses it has no
 * delta. */
int idx_gstats_rebase(const char *path, const idx_gstats *cur, char *err, size_t errlen);

#endif
