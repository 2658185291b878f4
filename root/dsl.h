/*
 * dsl.h - the OpenSearch query DSL, compiled: a query object in (JSON,
 * through jansson), a query tree out (common/qtree.h). It knows nothing of
 * HTTP or of the root: the REST handlers (root/opensearch.c) call it, and so
 * does its test (root/dsl_test.c), which compares its trees with the trees
 * trawl's parser makes of the queries the DSL stands for.
 *
 * Each DSL query becomes the tree of a trawl query (docs/HTTP.md, "The query
 * DSL", lists them): {"match": {"title": "solar eclipse"}} gives the tree of
 * title:(solar eclipse), with the same meaning and the same scores. Values
 * from the JSON become the texts of nodes, never syntax, so no value can
 * change the structure of the query it is in; only query_string is trawl
 * syntax, parsed by idx_query_parse into the same kind of tree. What cannot
 * be compiled faithfully is refused with OpenSearch's kind of reason, naming
 * the query type or the option, never silently dropped.
 */
#ifndef TRAWL_ROOT_DSL_H
#define TRAWL_ROOT_DSL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/aggs.h"
#include "common/limits.h"
#include "common/qtree.h"
#include "trawl/trawl.h"

/* Query objects nest at most this deep (a bool inside a bool ...). */

/* The longest field name the DSL accepts. */

/* Why a query was refused. */
typedef struct dsl_error {
	int rc; /* the trawl_err returned */
	/* 1: the text of a query_string does not parse (reason is the parser's
	 * "column N: ...", counted in that text, and text points at it, inside
	 * the JSON). OpenSearch reports that as the engine refusing the query
	 * (query_shard_exception); 0: the DSL itself is at fault. */
	int in_text;
	const char *text; /* with in_text: the query_string's text (valid while the JSON is) */
	char reason[1024];
} dsl_error;

/*
 * dsl_compile compiles the query object `query` (the value of a search
 * body's "query") into a query tree. On success *out owns it (qt_free);
 * it keeps every rule and limit of the tree. If text is not NULL, *text is
 * then the query's own text when the whole query is one query_string (every
 * clause of the tree comes from it, and the columns of errors the engine
 * finds count in it), else NULL; it points into the JSON.
 *
 * Supported: match_all, match_none, match, match_phrase, multi_match
 * (best_fields, most_fields, phrase), bool (filter clauses as FILTER:
 * required, never scoring), term, terms, prefix, range (with format,
 * time_zone and date math), exists, ids, constant_score and query_string;
 * docs/HTTP.md lists every option. A query_string with default_operator
 * AND is accepted as the whole query only (its clauses are then required
 * unless marked otherwise). `now` in date math is the wall clock, read
 * once for the whole query (dsl_compile_at takes it instead), and every
 * date is resolved here into the canonical text of root/datemath.h, so
 * that every shard sees the same bounds.
 *
 * On failure *out is NULL and err says why: TRAWL_EQUERY (malformed,
 * unknown or unsupported query or option; or, with in_text, a query_string
 * that does not parse), TRAWL_ELIMIT (objects nested over LIMIT_DSL_DEPTH, or a
 * tree over its limits: groups nested over TRAWL_MAX_QUERY_DEPTH, more than
 * TRAWL_MAX_QUERY_TERMS words, TRAWL_MAX_QUERY_BYTES of words and field names
 * or TRAWL_MAX_QUERY_TREE_BYTES encoded), TRAWL_EUTF8 (in_text), TRAWL_ENOMEM
 * or TRAWL_EINTERNAL (a bug: the tree broke a rule). err may not be NULL.
 */
int dsl_compile(json_t *query, qt_node **out, const char **text, dsl_error *err);

/* dsl_compile_at is dsl_compile with now_ms (milliseconds since 1970) as
 * `now`. */
int dsl_compile_at(json_t *query, int64_t now_ms, qt_node **out, const char **text, dsl_error *err);

/*
 * dsl_field checks a field name f as every DSL query does, naming query
 * qname in its reasons. *out is f (copied into buf), or NULL for "_all" and
 * "*" (every text field). With allow_boost, a "^1" suffix is accepted (and
 * cut). TRAWL_OK or TRAWL_EQUERY with err->reason.
 */
int dsl_field(const char *qname, const char *f, int allow_boost,
              char buf[LIMIT_DSL_FIELD_BYTES + 1], const char **out, dsl_error *err);

/*
 * dsl_unbalanced returns NULL if trawl syntax s (n bytes) is balanced the
 * way the parser reads it (every '(' closed, no ')' without its '(',
 * quotes closed, no final backslash, no NUL), with the deepest nesting of
 * parentheses in *depth; else what is wrong ("an unclosed '('"). The DSL
 * refuses an unbalanced query_string with this reason before parsing it,
 * as it did when queries were spliced into strings, so that its reasons
 * stay the same.
 */
const char *dsl_unbalanced(const char *s, size_t n, int *depth);

/*
 * dsl_sort reads a search body's "sort" in Elasticsearch's forms: a key or
 * a list of at most TRAWL_MAX_SORT_KEYS keys, each "field" (ascending;
 * "_score" descending), {"field": "asc"|"desc"} or {"field": {"order":
 * "asc"|"desc", "missing": "_first"|"_last", "mode": "min"|"max"}} (any of
 * the three options). Fills keys[0..*n), whose field names point into v.
 * The fields are not checked here (the leaves do). TRAWL_OK, or
 * TRAWL_EQUERY / TRAWL_ELIMIT with err->reason naming the key and what is
 * wrong ("[sort] ...").
 */
int dsl_sort(json_t *v, trawl_sort *keys, uint32_t *n, dsl_error *err);

/*
 * dsl_aggs parses a search body's "aggs" (or "aggregations") value with
 * common/aggs.h's aggs_parse, the queries of filter and filters compiled by
 * dsl_compile into encoded query trees, and writes its canonical form (what
 * the leaves are sent and the result cache keys on). On success *spec
 * (aggs_spec_free) and *canon (*canon_len bytes, NUL-terminated; free()) are
 * the caller's; on failure both are NULL and err names the aggregation's
 * path: aggs_parse's errors.
 */
int dsl_aggs(const json_t *aggs, aggs_spec **spec, char **canon, size_t *canon_len, char *err,
             size_t errlen);

/* dsl_json_kind: the token name OpenSearch's parser gives v in its reasons
 * (START_OBJECT, VALUE_STRING, ...); a static string. */
const char *dsl_json_kind(const json_t *v);

#endif
