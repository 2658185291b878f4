/*
 * aggs.h - aggregations as Elasticsearch's "aggs" asks for them, exact
 * across shards (docs/AGGREGATIONS.md; design 11). This module knows no
 * index and no schema: it is what a root and a leaf share about an
 * aggregation request and its results.
 *
 *  - The request: aggs_parse checks an "aggs" object (its shape, every
 *    parameter, every limit) and makes a spec tree. The queries of filter
 *    and filters are compiled by the caller's callback into opaque bytes (a
 *    root gives the query DSL's compiler, making encoded query trees); the
 *    spec keeps them. aggs_spec_write gives the spec's canonical JSON
 *    (the filters' bytes in hex) and aggs_spec_read reads it back, so that
 *    a root can send a spec to its leaves.
 *  - Partial results (aggs_result): a tree mirroring the spec, made per
 *    shard by index/aggs_collect.h, merged exactly (aggs_merge: counts add,
 *    sets unite, value lists join), carried as JSON text between processes
 *    (aggs_result_encode, aggs_result_decode), and rendered at the end as
 *    the JSON text of Elasticsearch's "aggregations" object (aggs_render),
 *    which applies size, order, min_doc_count, extended_bounds and keyed.
 *    Since every partial holds every bucket, the rendered answer of N
 *    shards is the answer of one shard, to the count:
 *    doc_count_error_upper_bound is 0 and sum_other_doc_count exact.
 *
 * Sums are exact too, so that their rounding does not depend on how the
 * documents were split into shards: a long, date or boolean field's sum is
 * a 128-bit integer, a double field's a list of non-overlapping doubles
 * whose exact total is rounded once at the end (Shewchuk's, as Python's
 * math.fsum). Percentiles are exact (every value is kept, up to
 * LIMIT_AGG_VALUES): the value at rank p / 100 x (n - 1) of the sorted
 * values, interpolated linearly between the two closest ranks (not
 * Elasticsearch's TDigest, whose answers on small sets differ slightly).
 *
 * Errors name the aggregation by its path of names and the parameter
 * ("aggs.by_section.terms.size: ...") and, at a limit, the limit. Every
 * function returns a trawl_err code and writes its message with errf.
 * Nothing here keeps state between calls: any number of threads may use
 * one spec at once (it is only read after aggs_parse or aggs_spec_read).
 */
#ifndef TRAWL_COMMON_AGGS_H
#define TRAWL_COMMON_AGGS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "common/limits.h"

/* ---- the request ---- */

typedef enum aggs_kind {
	AGGS_ROOT = 0, /* the tree's root: the request's top-level aggregations */
	/* bucket aggregations */
	AGGS_TERMS,
	AGGS_RANGE,
	AGGS_DATE_RANGE,
	AGGS_HISTOGRAM,
	AGGS_DATE_HISTOGRAM,
	AGGS_FILTER,
	AGGS_FILTERS,
	AGGS_MISSING,
	/* metrics */
	AGGS_MIN,
	AGGS_MAX,
	AGGS_SUM,
	AGGS_AVG,
	AGGS_STATS,
	AGGS_VALUE_COUNT,
	AGGS_CARDINALITY,
	AGGS_PERCENTILES,
	AGGS_KIND_COUNT
} aggs_kind;

/* aggs_kind_name: "terms", "date_histogram", ... ("" for AGGS_ROOT). */
const char *aggs_kind_name(aggs_kind k);

/* aggs_is_metric: whether k is a metric (no buckets, no sub-aggregations). */
static inline int aggs_is_metric(aggs_kind k)
{
	return k >= AGGS_MIN;
}

/* The type of the field an aggregation reads, for rendering its keys and
 * values. The numbers are index/index_int.h's idx_ftype (the collector
 * checks that they agree); NONE: not known (no shard answered). */
typedef enum aggs_vtype {
	AGGS_V_NONE = 0,
	AGGS_V_KEYWORD = 1,
	AGGS_V_LONG = 2,
	AGGS_V_DOUBLE = 3,
	AGGS_V_DATE = 4,
	AGGS_V_BOOLEAN = 5,
} aggs_vtype;

/* A double's key: an int64 whose order is the double's (-0.0 before 0.0),
 * the mapping of index/columns.h's idx_double_key; the keys of a double
 * field's terms, cardinality, min and max are such keys. */
static inline int64_t aggs_double_key(double d)
{
	int64_t b;
	memcpy(&b, &d, 8);
	return b ^ (int64_t)((uint64_t)(b >> 63) >> 1);
}

static inline double aggs_key_double(int64_t k)
{
	int64_t b = k ^ (int64_t)((uint64_t)(k >> 63) >> 1);
	double d;
	memcpy(&d, &b, 8);
	return d;
}

/* A range of range or date_range: [from, to), either end open. */
typedef struct aggs_range {
	uint8_t has_from, has_to;
	double from, to; /* date_range: milliseconds since the epoch */
	char *key;       /* the request's key, or NULL: made of from and to */
} aggs_range;

/* One key of a bucket order. */
typedef enum aggs_order_by {
	AGGS_ORDER_COUNT = 0, /* _count */
	AGGS_ORDER_KEY,       /* _key (or _term) */
	AGGS_ORDER_METRIC,    /* a metric sub-aggregation's value */
} aggs_order_by;

typedef enum aggs_stat {
	AGGS_STAT_VALUE = 0, /* a single-value metric's value */
	AGGS_STAT_COUNT,
	AGGS_STAT_MIN,
	AGGS_STAT_MAX,
	AGGS_STAT_AVG,
	AGGS_STAT_SUM,
	AGGS_STAT_PERCENT, /* a percentiles' value at percents[pct] */
} aggs_stat;

typedef struct aggs_order {
	uint8_t by; /* aggs_order_by */
	uint8_t desc;
	uint8_t stat; /* AGGS_ORDER_METRIC: aggs_stat */
	uint32_t sub; /* AGGS_ORDER_METRIC: the sub-aggregation's index */
	uint32_t pct; /* AGGS_STAT_PERCENT: the index in its percents */
} aggs_order;

/* Calendar units of date_histogram's calendar_interval. */
typedef enum aggs_cal {
	AGGS_CAL_NONE = 0, /* a fixed interval */
	AGGS_CAL_MINUTE,
	AGGS_CAL_HOUR,
	AGGS_CAL_DAY,
	AGGS_CAL_WEEK, /* ISO weeks, from Monday */
	AGGS_CAL_MONTH,
	AGGS_CAL_QUARTER,
	AGGS_CAL_YEAR,
} aggs_cal;

/* A literal value from the request (terms' missing, include, exclude): its
 * text, as a query's literal (a JSON number's text, true or false, or the
 * string); the collector reads it for its field's type. */
typedef struct aggs_lit {
	char *text; /* NUL-terminated, len bytes (may hold a NUL) */
	uint32_t len;
} aggs_lit;

typedef struct aggs_spec aggs_spec;
struct aggs_spec {
	aggs_kind kind;
	char *name;  /* the aggregation's name ("" for the root) */
	char *path;  /* "aggs.by_section.aggs.avg_size", for messages ("aggs": the root) */
	char *field; /* the field read (NULL: none: root, filter, filters) */
	/* terms, histogram, date_histogram */
	uint32_t size;          /* terms: buckets shown (default 10) */
	uint64_t min_doc_count; /* default 1 (terms), 0 (histograms) */
	uint32_t norder;        /* 0: the default (terms _count desc, histograms _key asc) */
	aggs_order order[LIMIT_AGG_ORDER_KEYS];
	uint8_t show_term_doc_count_error;
	uint8_t has_missing; /* terms: documents without a value count as missing */
	aggs_lit missing;
	uint8_t has_include; /* terms: only these values (else all) */
	uint32_t ninclude, nexclude;
	aggs_lit *include, *exclude;
	/* range, date_range */
	uint32_t nranges;
	aggs_range *ranges; /* sorted by from, then to, as Elasticsearch does */
	uint8_t keyed;      /* range, histograms, filters, percentiles */
	/* histogram (doubles) and date_histogram (milliseconds) */
	double interval, offset;
	uint8_t has_bounds; /* extended_bounds */
	double bmin, bmax;
	uint8_t cal;       /* date_histogram: aggs_cal; AGGS_CAL_NONE: fixed_ms */
	int64_t fixed_ms;  /* date_histogram's fixed_interval */
	int64_t offset_ms; /* date_histogram's offset */
	int64_t bmin_ms, bmax_ms;
	int32_t tz_min; /* date_histogram, date_range: the time zone's offset (minutes east) */
	uint8_t epoch_format; /* dates shown as epoch_millis, not ISO 8601 */
	/* filter (one query), filters (nfilters named or anonymous queries) */
	uint32_t nfilters;
	char **fnames;    /* NULL: anonymous (an array of queries) */
	uint8_t **fbytes; /* each query, compiled (the callback's bytes) */
	size_t *flens;
	uint8_t other_bucket;
	char *other_key; /* default "_other_" */
	/* percentiles */
	uint32_t npercents;
	double *percents;
	/* sub-aggregations (the root's: the request's top level) */
	uint32_t nsubs;
	aggs_spec *subs;
};

/*
 * aggs_compile_fn turns one query (the value of a filter, or of one of
 * filters' named queries) into bytes the leaves can evaluate: *out is
 * malloc'ed, *out_len bytes, and owned by the spec from then on (freed with
 * free()). On failure it returns a trawl_err code with err set, and *out is
 * not set.
 */
typedef int (*aggs_compile_fn)(void *ctx, json_t *query, void **out, size_t *out_len, char *err,
                               size_t errlen);

/*
 * aggs_parse reads the value of a search request's "aggs" (or
 * "aggregations") member into *out, a tree whose root is an AGGS_ROOT
 * holding the top-level aggregations. compile turns each filter's query
 * into bytes (NULL: a filter or filters is an error). aggs is only read.
 * Returns TRAWL_OK; TRAWL_EINVAL (a shape, a parameter, a value: err names
 * the path and what is wrong), TRAWL_ELIMIT (err names the limit),
 * TRAWL_ENOMEM, or compile's error. On success the caller owns *out
 * (aggs_spec_free); on failure *out is NULL.
 */
int aggs_parse(const json_t *aggs, aggs_compile_fn compile, void *ctx, aggs_spec **out, char *err,
               size_t errlen);

/*
 * aggs_spec_write gives the canonical JSON of spec: every parameter with
 * its value (defaults included, dates in milliseconds, the filters' bytes
 * as lower-case hex strings), so that equal specs give equal bytes. *out
 * is malloc'ed (caller frees), NUL-terminated, *len bytes without the NUL.
 * TRAWL_OK, TRAWL_ENOMEM, or TRAWL_ELIMIT (over LIMIT_AGG_SPEC_BYTES).
 */
int aggs_spec_write(const aggs_spec *spec, char **out, size_t *len);

/*
 * aggs_spec_read reads canonical JSON (len bytes) back into *out, checking
 * it as aggs_parse checks a request. Errors and ownership as aggs_parse's
 * (TRAWL_EJSON for text that is not JSON).
 */
int aggs_spec_read(const char *json, size_t len, aggs_spec **out, char *err, size_t errlen);

/* aggs_spec_free frees a tree from aggs_parse or aggs_spec_read (NULL: nothing). */
void aggs_spec_free(aggs_spec *spec);

/*
 * aggs_date_round: the key of the date_histogram bucket of s holding the
 * date ms (milliseconds since the epoch): the bucket's first millisecond,
 * counted in s's time zone and offset as Elasticsearch does. aggs_date_next:
 * the key of the bucket after the one whose key is key. For dates within
 * +-8.64e15 ms of the epoch (as the parser and the collector keep them),
 * no arithmetic overflows.
 */
int64_t aggs_date_round(const aggs_spec *s, int64_t ms);
int64_t aggs_date_next(const aggs_spec *s, int64_t key);

/*
 * aggs_date_parse reads a date as date_range and extended_bounds take it: ISO
 * 8601 (YYYY[-MM[-DD[THH[:MM[:SS[.F]]]]]] with Z, +HH, +HH:MM or +HHMM after a
 * time; the shapes of index/values.h's idx_date_parse, which documents take)
 * in the time zone tz_min (minutes east of UTC) when the text has none, or
 * else a decimal number of milliseconds since the epoch. TRAWL_OK or
 * TRAWL_EINVAL.
 */
int aggs_date_parse(const char *s, size_t n, int32_t tz_min, int64_t *ms);

/* aggs_date_format writes ms as YYYY-MM-DDTHH:MM:SS.mmm and then Z (tz_min
 * 0) or the offset +HH:MM, in the time zone tz_min, as Elasticsearch's
 * strict_date_optional_time prints; outside the years 0000-9999, the
 * decimal milliseconds. out has room for 40 bytes; returns the length. */
size_t aggs_date_format(int64_t ms, int32_t tz_min, char *out);

/* ---- partial results ---- */

typedef struct aggs_result aggs_result;

/* A bucket. Its key: a keyword's value (str, len bytes), or else key: a
 * number's key (a long, a date's milliseconds, a boolean's 0 or 1, a
 * double's aggs_double_key), a histogram's bucket number (key = number x
 * interval + offset), a date_histogram's first millisecond, the index of a
 * range or a named query (filters' other bucket: nfilters), or 0 (filter,
 * missing, root). */
typedef struct aggs_bucket {
	int64_t key;
	char *str; /* len bytes, NUL-terminated unless borrowed; NULL unless a keyword */
	uint32_t len;
	uint8_t borrowed; /* str is a shard's dictionary's, not the result's (below) */
	uint64_t doc_count;
	aggs_result *subs; /* one result per sub-aggregation of the spec, in its order */
} aggs_bucket;

/* An exact sum (see the top of this file): a long, date or boolean field's in
 * i; a double field's as n non-overlapping doubles p (ascending magnitude)
 * whose exact total is the sum, or inf when a partial total went beyond
 * the doubles (rendered as null). */
typedef struct aggs_sum {
	__int128 i;
	uint32_t n, cap;
	double *p;
	uint8_t inf;
} aggs_sum;

/* A keyword value of a cardinality. */
typedef struct aggs_str {
	char *p; /* len bytes, NUL-terminated unless borrowed */
	uint32_t len;
	uint8_t borrowed; /* p is a shard's dictionary's, not the result's */
} aggs_str;

/*
 * A partial result: for a bucket aggregation its buckets (ascending by key;
 * keyword values by their bytes, shorter first; filter, missing and the
 * root have exactly one), for a metric its values. Every pointer is
 * malloc'ed and owned by the result, but keyword values marked borrowed:
 * a shard's collector points them at the shard's dictionary (a string per
 * bucket of a 35,000-value field cost a third of such a search), valid
 * while the shard is open; the searcher's results never outlive it, and a
 * leaf encodes its partial before it lets the shard go. A decoded partial
 * owns its strings. aggs_result_free frees the tree.
 * Results of a spec node are kept in arrays (a bucket's subs, the root).
 */
struct aggs_result {
	uint8_t type; /* aggs_vtype of the field read */
	uint32_t nbuckets;
	aggs_bucket *buckets;
	/* metrics */
	uint64_t count;   /* values seen (value_count, stats, avg ...) */
	int64_t min, max; /* their keys, when count > 0 */
	aggs_sum sum;
	uint32_t nkeys; /* cardinality: the distinct values, ascending: */
	int64_t *keys;  /* numbers' keys, or */
	aggs_str *strs; /* keyword values (when type is AGGS_V_KEYWORD) */
	uint64_t nvals; /* percentiles: every value, in no order */
	double *vals;
};

/* aggs_result_empty: a new partial of spec (the root) with no document:
 * the root's one bucket of count 0 and every single-bucket aggregation's
 * bucket. NULL: out of memory. Free it with aggs_result_free. */
aggs_result *aggs_result_empty(const aggs_spec *spec);

/* aggs_result_init makes *r the empty result of spec node s (count 0; one
 * bucket if s is a single-bucket aggregation, with its subs): TRAWL_OK or
 * TRAWL_ENOMEM (r then holds nothing). aggs_result_fini frees what *r
 * holds, for node s (and not r itself). */
int aggs_result_init(const aggs_spec *s, aggs_result *r);
void aggs_result_fini(const aggs_spec *s, aggs_result *r);

/* aggs_result_free frees a tree from aggs_result_empty, aggs_result_decode
 * or the collector (spec: its root; r NULL: nothing). */
void aggs_result_free(const aggs_spec *spec, aggs_result *r);

/* aggs_sum_add adds x (finite) to s exactly; aggs_sum_value is the sum
 * rounded once. TRAWL_OK or TRAWL_ENOMEM (s unchanged). */
int aggs_sum_add(aggs_sum *s, double x);
double aggs_sum_value(const aggs_sum *s);

/*
 * aggs_merge adds the partial from into into (both of spec's root): bucket
 * counts add, buckets unite by key, sub-results merge, metrics combine,
 * cardinality sets unite and percentile values join. from is consumed:
 * freed whatever the outcome. Exact and associative: any order of merging
 * the same partials gives the same result. TRAWL_OK; TRAWL_ELIMIT (the
 * merged result holds over LIMIT_AGG_BUCKETS buckets or LIMIT_AGG_VALUES
 * values); TRAWL_EINVAL (the two disagree on a field's type); TRAWL_ENOMEM.
 * On failure into is left valid (partly merged) for aggs_result_free.
 */
int aggs_merge(const aggs_spec *spec, aggs_result *into, aggs_result *from, char *err,
               size_t errlen);

/* aggs_result_buckets: the buckets of multi-bucket aggregations in r, a
 * result of spec node s, and below it (what LIMIT_AGG_BUCKETS bounds). */
uint64_t aggs_result_buckets(const aggs_spec *s, const aggs_result *r);

/*
 * aggs_result_encode writes partial r (of spec's root) as JSON text into
 * *out (malloc'ed, NUL-terminated, *len bytes): integers as JSON integers,
 * doubles as %.17g, so that decoding gives back exactly r. TRAWL_OK,
 * TRAWL_ENOMEM, or TRAWL_ELIMIT (over LIMIT_AGG_PARTIAL_BYTES, err naming
 * it).
 */
int aggs_result_encode(const aggs_spec *spec, const aggs_result *r, char **out, size_t *len,
                       char *err, size_t errlen);

/*
 * aggs_result_decode reads what aggs_result_encode wrote (len bytes) for the
 * same spec, checking all of it: its shape against the spec, every number,
 * keys ascending, the limits. TRAWL_OK with *out the caller's
 * (aggs_result_free); TRAWL_ECORRUPT with err saying what is wrong;
 * TRAWL_ELIMIT; TRAWL_ENOMEM.
 */
int aggs_result_decode(const aggs_spec *spec, const char *json, size_t len, aggs_result **out,
                       char *err, size_t errlen);

/*
 * aggs_render writes Elasticsearch's "aggregations" object for the merged
 * result r of spec's root (NULL: no shard answered: every aggregation
 * empty) as JSON text: per aggregation, its buckets cut to size in its
 * order, filtered by min_doc_count, histograms filled with empty buckets
 * between the first and the last (or extended_bounds), keyed or not, keys
 * as Elasticsearch shows them (dates as milliseconds and key_as_string,
 * booleans as 0 or 1 and "true" or "false"). The text is written straight,
 * with no tree between, and its bytes are those jansson gave before
 * (JSON_COMPACT, members in order, doubles as %.17g with ".0" after an
 * integer). *out is malloc'ed and NUL-terminated, *len bytes without the
 * NUL. TRAWL_OK; TRAWL_ELIMIT (the answer would hold over
 * LIMIT_AGG_BUCKETS buckets); TRAWL_ENOMEM.
 */
int aggs_render(const aggs_spec *spec, const aggs_result *r, char **out, size_t *len, char *err,
                size_t errlen);

/*
 * aggs_java_double writes d as Java's Double.toString does (the shortest
 * digits that read back as d; "100.0", "1.0E7", "1.5E-4"), which
 * Elasticsearch uses in range keys, keyed histograms and percentiles' keys.
 * out has room for 32 bytes; returns the length.
 */
size_t aggs_java_double(double d, char *out);

#endif
