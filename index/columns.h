/*
 * columns.h - what a shard stores of its typed fields besides keyword
 * postings (docs/FORMAT.md, 6.9-6.11): a column of doc values per field
 * (sorting, aggregations, checking a range on a few documents), a sorted
 * points structure per indexed number field (ranges), and the keyword
 * dictionary of the generation that the join makes (global ordinals: every
 * shard numbers a value the same way, so a keyword column holds numbers and
 * the root can merge counts by them).
 *
 * The build writes them (shard/join.c through the writers here) and the
 * searcher reads them (idx_col_open checks every size and order first, so
 * that a damaged column is refused before a search reads it). One module
 * for both sides, so that the bytes are described once.
 *
 * A value as a column holds it is an int64 "key" whose order is the
 * value's order: a long, a date (milliseconds) or a boolean (0, 1) as
 * itself, a double by idx_double_key; a keyword column holds u32 global
 * ordinals, the value's rank in the generation's sorted dictionary.
 */
#ifndef TRAWL_INDEX_COLUMNS_H
#define TRAWL_INDEX_COLUMNS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/buf.h"
#include "index/index_int.h"

/* A keyword field's key byte in the term dictionary: after every text
 * field's number (limits.h checks that both fit a byte). */
#define IDX_KEYWORD_FID(t) ((uint8_t)(64u + (t)))

/* ---- a document's typed values (index/values.h's records) ---- */

/* One document's values of every typed field, split by field: field t has
 * count[t] values starting at at[t]. */
typedef struct idx_tvals {
	const uint8_t *at[LIMIT_TYPED_FIELDS];
	uint32_t count[LIMIT_TYPED_FIELDS];
} idx_tvals;

/* idx_tvals_split checks the len bytes at b (the records of every typed
 * field of s, in order, as idx_values_parse writes them; len 0: no value
 * in any field) and splits them into *out: TRAWL_OK, or TRAWL_ECORRUPT for
 * anything idx_values_parse would not write (a count over
 * LIMIT_FIELD_VALUES, a keyword over LIMIT_KEYWORD_BYTES, a double that is
 * not finite, a boolean other than 0 or 1, bytes left over). */
int idx_tvals_split(const idx_schema *s, const uint8_t *b, size_t len, idx_tvals *out);

/* The i-th value of field t of type `type` in v: a keyword's bytes (*len),
 * or a number's key. */
const uint8_t *idx_tvals_keyword(const idx_tvals *v, uint32_t t, uint32_t i, uint32_t *len);
int64_t idx_tvals_key(const idx_tvals *v, uint32_t t, int type, uint32_t i);

/* The order-keeping int64 of a double (-0.0 before 0.0), and back. */
static inline int64_t idx_double_key(double d)
{
	int64_t b;
	memcpy(&b, &d, 8);
	return b ^ (int64_t)((uint64_t)(b >> 63) >> 1);
}

static inline double idx_key_double(int64_t k)
{
	int64_t b = k ^ (int64_t)((uint64_t)(k >> 63) >> 1);
	double d;
	memcpy(&d, &b, 8);
	return d;
}

/* ---- writing (the build) ---- */

/* A keyword value: bytes somewhere the caller keeps alive. */
typedef struct idx_kwslice {
	const uint8_t *p;
	uint32_t len;
} idx_kwslice;

/* idx_kwslices_sort sorts n slices by bytes (memcmp, shorter first) and
 * drops repeats; returns how many are left. */
uint32_t idx_kwslices_sort(idx_kwslice *v, uint32_t n);

/* idx_kwdict_write appends the dictionary of n sorted, distinct values
 * ("ords.<t>"): TRAWL_OK, TRAWL_ENOMEM or TRAWL_ELIMIT (over 4 GiB). */
int idx_kwdict_write(const idx_kwslice *v, uint32_t n, tbuf *out);

/* A dictionary as written: n values, found by binary search. */
typedef struct idx_kwdict {
	uint32_t n;
	const uint8_t *off; /* u32[n + 1] */
	const uint8_t *bytes;
	size_t bytes_len;
} idx_kwdict;

/* idx_kwdict_open checks the bytes of a dictionary (offsets ascending,
 * values strictly ascending): TRAWL_OK or TRAWL_ECORRUPT. */
int idx_kwdict_open(idx_kwdict *d, const void *p, size_t len);

/* The i-th value (i < d->n). */
static inline const uint8_t *idx_kwdict_value(const idx_kwdict *d, uint32_t i, uint32_t *len)
{
	uint32_t a, b;
	memcpy(&a, d->off + (size_t)i * 4, 4);
	memcpy(&b, d->off + (size_t)i * 4 + 4, 4);
	*len = b - a;
	return d->bytes + a;
}

/* idx_kwdict_find: the ordinal of value (len bytes), or, when it is not
 * there, -1 - the ordinal it would have (the number of values before it). */
int64_t idx_kwdict_find(const idx_kwdict *d, const uint8_t *value, uint32_t len);

/*
 * idx_columns_write appends typed field t's doc-values column (dv, when
 * wanted; "dv.<t>") and points (pts, when wanted and the field is a
 * number, date or boolean; "pts.<t>") for a shard's ndocs documents:
 * document d's typed values are the bytes [off[d], off[d+1]) of blob
 * (checked by idx_tvals_split). A keyword's values become ordinals of dict,
 * which must hold every one of them. dv or pts NULL: not wanted. TRAWL_OK,
 * TRAWL_ENOMEM, TRAWL_ELIMIT (over 2^32 values), or TRAWL_ECORRUPT (bad
 * values, or a keyword missing from dict).
 */
int idx_columns_write(const idx_schema *s, uint32_t t, uint32_t ndocs, const uint8_t *blob,
                      const uint64_t *off, const idx_kwdict *dict, tbuf *dv, tbuf *pts);

/* ---- reading (a searcher's view of a shard) ---- */

typedef struct idx_col {
	int type; /* idx_ftype */
	uint32_t ndocs;
	/* doc values: doc d's values are vals[start[d] .. start[d+1]) */
	int has_dv;
	uint32_t nvals;
	const uint8_t *start; /* u32[ndocs + 1] */
	const uint8_t *vals;  /* int64 keys, or u32 ordinals for a keyword */
	/* points: npts (key, doc) pairs by key, then doc */
	int has_pts;
	uint32_t npts;
	const uint8_t *pkeys; /* int64[npts] */
	const uint8_t *pdocs; /* u32[npts] */
	/* a keyword field with doc values: the file's dictionary (the
	 * generation's, in a file a whole build wrote) */
	int has_dict;
	idx_kwdict dict;
	/* the dictionary sort values number by, the same across the
	 * segments open here (&dict, or the index's), and the file's ordinals
	 * in it (NULL: the same) */
	const idx_kwdict *gdict;
	const uint32_t *gord;
} idx_col;

/*
 * idx_col_open checks and maps one field's stored parts (any may be NULL:
 * absent) for a shard of ndocs documents: TRAWL_OK, or TRAWL_ECORRUPT with
 * err saying what is wrong (a size, an order, a doc or ordinal out of
 * range). Reads every byte once.
 */
int idx_col_open(idx_col *c, int type, uint32_t ndocs, const void *dv, size_t dvlen,
                 const void *pts, size_t ptslen, const void *dict, size_t dictlen, char *err,
                 size_t errlen);

/* Doc d's values: [*from, *to) indexes into the column. */
static inline void idx_col_range(const idx_col *c, uint32_t d, uint32_t *from, uint32_t *to)
{
	memcpy(from, c->start + (size_t)d * 4, 4);
	memcpy(to, c->start + (size_t)d * 4 + 4, 4);
}

/* The i-th value of the column: a key, or an ordinal. */
static inline int64_t idx_col_key(const idx_col *c, uint32_t i)
{
	if (c->type == IDX_KEYWORD) {
		uint32_t o;
		memcpy(&o, c->vals + (size_t)i * 4, 4);
		return o;
	}
	int64_t k;
	memcpy(&k, c->vals + (size_t)i * 8, 8);
	return k;
}

/* idx_col_points: the points with keys in [lo, hi]: indexes [*from, *to). */
void idx_col_points(const idx_col *c, int64_t lo, int64_t hi, uint32_t *from, uint32_t *to);

static inline uint32_t idx_col_point_doc(const idx_col *c, uint32_t i)
{
	uint32_t d;
	memcpy(&d, c->pdocs + (size_t)i * 4, 4);
	return d;
}

#endif
