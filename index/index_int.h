/*
 * index_int.h - what the files of index/ share with each other and nobody
 * else: the schema, the scoring formula, and the shard file's layout
 * constants. (SQLite's sqliteInt.h plays this part there.) Other folders use
 * include/trawl/trawl.h only.
 */
#ifndef TRAWL_INDEX_INT_H
#define TRAWL_INDEX_INT_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/limits.h"
#include "trawl/trawl.h"

/* ---- limits ---- */
#define IDX_FORMAT_VERSION 2 /* 2: typed fields' postings, columns, points */
#define IDX_FORMAT_OLDEST 1  /* 1 is 2 without typed fields: still read */
/* MANIFEST.json's format: 3 lists segments, delete sets and statistics
 * files; a generation without them is written as format 2 */
#define IDX_MANIFEST_VERSION 3
#define IDX_END UINT32_MAX      /* doc id of an exhausted iterator */

/* ---- schema ---- */

typedef struct idx_field {
	char name[LIMIT_FIELD_NAME_BYTES + 1];
	int analyzer; /* idx_analyzer_kind */
	float boost;
	float k1;
	float b;
} idx_field;

/* Field types. TEXT is analysed and scored; the others are typed fields,
 * whose values index/values.c parses. The values are the schema's order,
 * never renumbered. */
typedef enum idx_ftype {
	IDX_TEXT = 0,
	IDX_KEYWORD = 1, /* exact strings */
	IDX_LONG = 2,    /* int64 */
	IDX_DOUBLE = 3,  /* finite IEEE double */
	IDX_DATE = 4,    /* int64 milliseconds since the epoch, UTC */
	IDX_BOOLEAN = 5,
} idx_ftype;

/* idx_ftype_name: "text", "keyword", ...; idx_ftype_parse: the type of a
 * name, or -1. */
const char *idx_ftype_name(int type);
int idx_ftype_parse(const char *name);

/* A typed field: a top-level member of the document, or the keyword twin
 * of a text field ("title.raw", reading the member "title"). */
typedef struct idx_tfield {
	char name[LIMIT_FIELD_NAME_BYTES + 1];
	int type;              /* idx_ftype, never IDX_TEXT */
	int twin_of;           /* the text field it reads, or -1 */
	uint8_t index;         /* filterable */
	uint8_t doc_values;    /* sortable and aggregatable */
	uint8_t lowercase;     /* keyword: the "lowercase" normalizer */
	uint32_t ignore_above; /* keyword: longer values (characters) are
	                          skipped; 0: none */
} idx_tfield;

typedef struct idx_schema {
	uint32_t nfields; /* text fields; field id = index */
	idx_field fields[LIMIT_FIELDS];
	/* typed fields: the keyword twins first, in their text fields' order,
	 * then the others in the schema's order (so that the canonical JSON
	 * gives them back in the same order and with the same numbers) */
	uint32_t ntyped;
	idx_tfield typed[LIMIT_TYPED_FIELDS];
	int store_all;    /* store every field of the document */
	int store_none;   /* store nothing but the id */
	/* otherwise: store only these top-level fields (and the id) */
	uint32_t nstored;
	char stored[LIMIT_STORED_FIELDS][LIMIT_FIELD_NAME_BYTES + 1];
} idx_schema;

/* idx_schema_default fills s with the default schema: title (boost 0.5) and
 * body (boost 1), english, k1 0.9, b 0.4, every field stored. */
void idx_schema_default(idx_schema *s);

/* idx_schema_parse reads a schema from JSON text (docs/SCHEMA.md); errors name
 * the key. Returns TRAWL_OK or TRAWL_ESCHEMA with err set. */
int idx_schema_parse(idx_schema *s, const char *json, size_t len, char *err, size_t errlen);

/* idx_schema_to_json: a malloc'ed canonical JSON text of s (caller frees), NULL on ENOMEM. */
char *idx_schema_to_json(const idx_schema *s);

/* idx_field_name_ok: whether n may name a field: 1-LIMIT_FIELD_NAME_BYTES
 * characters of A-Z a-z 0-9 _ - ., not starting with '-' (a query would
 * read it as exclusion), not "id". */
int idx_field_name_ok(const char *n);

/* idx_schema_field: id of text field name, or -1. */
int idx_schema_field(const idx_schema *s, const char *name, size_t len);

/* idx_schema_typed: number of the typed field read from top-level member
 * name (not a twin), or -1. */
int idx_schema_typed(const idx_schema *s, const char *name, size_t len);

/* idx_schema_is_stored: whether top-level key name is stored. */
int idx_schema_is_stored(const idx_schema *s, const char *name);

/* ---- BM25 ----
 * score(doc, term in field f) = weight * tf * (k1 + 1) / (tf + K(dl))
 * weight = idf * boost, idf = ln(1 + (N - df + 0.5) / (df + 0.5)),
 * K(dl) = k1 * (1 - b + b * dl / avgdl), dl the field length decoded from its
 * one-byte norm. The build stores per block the maximum of the tf part, and
 * the query computes it with these same functions, so a stored bound is
 * never below a computed score. */
static inline float idx_bm25_k(float k1, float b, uint32_t dl, double avgdl)
{
	return (float)((double)k1 * (1.0 - (double)b + (double)b * (double)dl / (avgdl > 0 ? avgdl : 1.0)));
}

static inline float idx_bm25_tf(uint32_t tf, float k1, float kdl)
{
	float t = (float)tf;
	return t * (k1 + 1.0f) / (t + kdl);
}

static inline float idx_bm25_idf(uint64_t N, uint64_t df)
{
	double n = (double)N, d = (double)df;
	return (float)__builtin_log(1.0 + (n - d + 0.5) / (d + 0.5));
}

/* ---- global statistics, as written into every shard ("stats" in meta) ---- */
typedef struct idx_stats {
	uint64_t docs;                      /* documents in the whole generation */
	uint64_t sumlen[LIMIT_FIELDS];    /* total tokens per field, whole generation */
} idx_stats;

static inline double idx_avgdl(const idx_stats *st, uint32_t fid)
{
	return st->docs ? (double)st->sumlen[fid] / (double)st->docs : 1.0;
}

#endif
