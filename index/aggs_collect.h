/*
 * aggs_collect.h - aggregations computed over one shard: the part of
 * design 11 that runs where the documents are. A spec (common/aggs.h) is
 * bound once to a schema (field names to typed fields, types checked,
 * literals read as the field's values); then, per shard, a collector is
 * opened on the shard's columns, fed the matching documents one at a time
 * in increasing order, and finished into the shard's partial result, which
 * the leaf merges with its other shards' and sends to the root
 * (aggs_merge, aggs_result_encode).
 *
 * The collector reads doc values only (index/columns.h): a keyword's
 * values are global ordinals, counted in an array indexed by ordinal when
 * the field's dictionary is small, in a hash table otherwise, and turned
 * into their strings once, when the partial is made (so that partials from
 * different generations or indexes still merge by value). Numbers, dates
 * and booleans are read as their column keys. Buckets and metrics are held
 * in flat arrays per aggregation, indexed by the parent bucket they belong
 * to: nothing is allocated per document, only when a new bucket or value
 * appears (amortised), within LIMIT_AGG_BUCKETS and LIMIT_AGG_VALUES.
 *
 * Filter and filters queries are not evaluated here: the caller's
 * filter_bits callback gives each query's documents in the shard as a
 * bitset (the leaf's query evaluation and filter cache).
 *
 * Threads: a bound spec is only read once made, by any number of threads;
 * a collector belongs to one thread.
 */
#ifndef TRAWL_INDEX_AGGS_COLLECT_H
#define TRAWL_INDEX_AGGS_COLLECT_H

#include <stddef.h>
#include <stdint.h>

#include "common/aggs.h"
#include "index/columns.h"
#include "index/index_int.h"

typedef struct aggc_bound aggc_bound;
typedef struct aggc aggc;

/*
 * aggc_bind binds spec (its root, from aggs_parse or aggs_spec_read) to
 * schema: every field named must be a typed field with doc values, of a
 * type the aggregation takes (terms: keyword, long, double, date or
 * boolean; range and histogram: long, double or date; date_range and
 * date_histogram: date; min, max, sum, avg, stats and percentiles: long,
 * double, date or boolean; value_count, cardinality and missing: any typed
 * field), and terms' missing, include and exclude values must be values of
 * the field (read as a query's literals: index/values.h). spec and schema
 * must outlive *out. TRAWL_OK with *out the caller's (aggc_bound_free);
 * TRAWL_EINVAL with err naming the aggregation's path, the field and its
 * type ("aggs.t.terms.field: terms takes a keyword, number, date or
 * boolean field; title is text: use its keyword twin title.raw");
 * TRAWL_ENOMEM.
 */
int aggc_bind(const aggs_spec *spec, const idx_schema *schema, aggc_bound **out, char *err,
              size_t errlen);

/* aggc_bound_free frees a bound spec (NULL: nothing); its collectors must
 * be closed first. */
void aggc_bound_free(aggc_bound *b);

/*
 * aggc_filter_bits gives the documents of one filter query in the shard
 * being collected: tree, len are the query's bytes as the spec holds them
 * (aggs_compile_fn's), ndocs the shard's documents. It returns a bitset of
 * (ndocs + 63) / 64 words (bit d of word d / 64: document d matches), owned
 * by the caller and valid until the collector is closed, or NULL when the
 * query cannot be evaluated (the collector then fails with TRAWL_EQUERY).
 */
typedef uint64_t *(*aggc_filter_bits)(void *ctx, const void *tree, size_t len, uint32_t ndocs);

/*
 * aggc_open makes a collector of b over one shard of ndocs documents whose
 * typed fields' columns are cols (as idx_sview.cols: indexed by typed
 * field number, read until aggc_close), asking filter_bits (may be NULL if
 * the spec has no filter) for each filter query's documents. TRAWL_OK with
 * *out the caller's (aggc_close); TRAWL_ECORRUPT (a field's column is
 * missing from the shard), TRAWL_EQUERY (a filter could not be evaluated)
 * or TRAWL_ENOMEM, with err set.
 */
int aggc_open(aggc **out, const aggc_bound *b, const idx_col *cols, uint32_t ndocs,
              aggc_filter_bits filter_bits, void *ctx, char *err, size_t errlen);

/*
 * aggc_only_live makes terms with min_doc_count 0 list only the values that
 * a live document of the segment holds, deleted being its deleted
 * documents (bit d of word d / 64, as idx_delset's; NULL: none). Without
 * it they list every value of the column's dictionary (a build's is the
 * whole generation's) or keys, which is a full build's answer only while
 * no document of the generation is deleted. Call it before the first
 * aggc_collect; deleted is read until aggc_close.
 */
void aggc_only_live(aggc *c, const uint64_t *deleted);

/*
 * aggc_collect counts document doc (< ndocs; documents in increasing
 * order, each once) in every aggregation. Returns TRAWL_OK, or the first
 * error met (which every later call returns again, doing nothing):
 * TRAWL_ELIMIT (more than LIMIT_AGG_BUCKETS buckets or LIMIT_AGG_VALUES
 * values; a date beyond +-8.64e15 ms, a histogram value more than 2^53
 * intervals from its offset), TRAWL_EINVAL (a document out of order or
 * range), TRAWL_ENOMEM. The message is given by aggc_finish.
 */
int aggc_collect(aggc *c, uint32_t doc);

/* aggc_collect_docs counts the n documents of docs (increasing, each after
 * every document collected before) as n calls of aggc_collect would, each
 * aggregation over the whole block in turn. */
int aggc_collect_docs(aggc *c, const uint32_t *docs, uint32_t n);

/*
 * aggc_finish makes the shard's partial result of the documents collected
 * (the root's bucket counts them): TRAWL_OK with *out the caller's
 * (aggs_result_free with the spec's root), or the collector's error, or
 * TRAWL_ELIMIT / TRAWL_ENOMEM met while making it, with err naming the
 * aggregation and the limit. Call it once; then aggc_close.
 */
int aggc_finish(aggc *c, aggs_result **out, char *err, size_t errlen);

/* The message of a request past LIMIT_AGG_BUCKETS: a node's path, then the
 * limit. */
#define AGGC_OVER_BUCKETS                                                                          \
	"%s: more than %d buckets in the request (LIMIT_AGG_BUCKETS, as Elasticsearch's "          \
	"search.max_buckets): narrow the query or the aggregations"

/*
 * A terms aggregation with min_doc_count 0 lists, in each bucket of the
 * aggregation above it, every value of the field with count 0 where no
 * document has it: in a shard of one segment (a build's), the values of
 * that segment. A searcher gives a shard of several segments the same
 * answer (index/searcher.c, shard_fill) with these.
 *
 * aggc_keys makes *out the values such a node s lists in this segment, as
 * a partial of s: a bucket of count 0 per value, ascending, without
 * sub-aggregations (the live documents' values after aggc_only_live); it
 * reads no document collected, and may be called at any time before
 * aggc_close. *out is the caller's (aggs_result_free with s), its keyword
 * values borrowed from the segment's dictionary. TRAWL_OK, TRAWL_ELIMIT
 * (more than LIMIT_AGG_BUCKETS values), TRAWL_ENOMEM, TRAWL_EINVAL (s not
 * such a node of the collector, or the collector failed).
 *
 * aggc_bound_keyword: whether node s of the bound spec reads a keyword.
 *
 * aggc_zero makes *out the result spec node s (of the bound spec) has in a
 * bucket of no document, as aggc_finish makes it: empty metrics and
 * multi-bucket aggregations, a filter's or missing's bucket of count 0,
 * and for each terms with min_doc_count 0, below s or s itself, the values
 * keys gives for it (kw: the field is a keyword; NULL: more than the limit
 * allows), each with its sub-aggregations made so in turn. At most
 * LIMIT_AGG_BUCKETS buckets, else TRAWL_ELIMIT naming the node; TRAWL_ENOMEM.
 * *out is the caller's (aggs_result_free with s); keyword values borrowed
 * in keys' results stay borrowed.
 */
int aggc_keys(aggc *c, const aggs_spec *s, aggs_result **out, char *err, size_t errlen);
int aggc_bound_keyword(const aggc_bound *bound, const aggs_spec *s);
typedef const aggs_result *(*aggc_keys_fn)(void *arg, const aggs_spec *s, int kw);
int aggc_zero(const aggc_bound *bound, const aggs_spec *s, aggc_keys_fn keys, void *arg,
              aggs_result **out, char *err, size_t errlen);

/* aggc_close frees a collector (NULL: nothing). */
void aggc_close(aggc *c);

#endif
