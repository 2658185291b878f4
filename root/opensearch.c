/*
 * opensearch.c - the REST handlers of the OpenSearch-compatible subset of
 * the root's HTTP API (see opensearch.h and docs/HTTP.md).
 *
 * os_handle routes the REST paths, parses requests (unknown parameters and
 * body keys are errors, as in the native API), has the query DSL compiled
 * into a query tree by root/dsl.c (or parses the q= parameter into one),
 * calls root_search / root_get and renders OpenSearch-shaped responses and
 * errors.
 */
#include "root/opensearch.h"

#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdatomic.h>
#include <sys/random.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/utf8.h"
#include "index/query.h"
#include "root/bulk.h"
#include "root/dsl.h"
#include "root/mapping.h"
#include "root/rest.h"
#include "trawl/trawl.h"

/* Every document: the query of a search without one. */
#define MATCH_ALL "*:*"

/* ------------------------------------------------------------------------ */
/* URL parameters                                                           */
/* ------------------------------------------------------------------------ */

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	if (*s < '0' || *s > '9')
		return -1;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

/* An OpenSearch time value ("500ms", "2s", "1m", "-1") in ms, clamped to
 * 1..60000; 0 for "-1" (the root's default). */
static int parse_timeout(const char *s, unsigned *ms)
{
	if (!strcmp(s, "-1")) {
		*ms = 0;
		return 0;
	}
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || !(v >= 0) || *s == '-' || isinf(v))
		return -1;
	double f;
	if (!strcmp(end, "ms"))
		f = 1;
	else if (!strcmp(end, "s"))
		f = 1000;
	else if (!strcmp(end, "m"))
		f = 60000;
	else if (!strcmp(end, "h"))
		f = 3600000;
	else if (!strcmp(end, "d"))
		f = 86400000;
	else if (!strcmp(end, "micros"))
		f = 1e-3;
	else if (!strcmp(end, "nanos"))
		f = 1e-6;
	else
		return -1;
	double t = v * f;
	*ms = t < 1 ? 1 : t > 60000 ? 60000 : (unsigned)t;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Search requests                                                          */
/* ------------------------------------------------------------------------ */

void os_search_req_fini(os_search_req *r)
{
	if (!r)
		return;
	qt_free(r->tree);
	free(r->text);
	free(r->preference);
	free(r->search_after);
	aggs_spec_free(r->aggs);
	free(r->aggs_canon);
	json_decref(r->includes);
	json_decref(r->excludes);
	memset(r, 0, sizeof *r);
}

/* A comma-separated list as a JSON array of strings. */
static json_t *csv_array(const char *s)
{
	json_t *a = json_array();
	while (a && *s) {
		const char *c = strchr(s, ',');
		size_t n = c ? (size_t)(c - s) : strlen(s);
		if (n) {
			json_t *v = json_stringn(s, n);
			if (!v) {
				json_decref(a);
				return NULL;
			}
			json_array_append_new(a, v);
		}
		s = c ? c + 1 : s + n;
	}
	return a;
}

/* patterns: a string or an array of strings, as a new array; NULL if bad. */
static json_t *pattern_array(json_t *v)
{
	if (json_is_string(v))
		return json_pack("[O]", v);
	if (!json_is_array(v))
		return NULL;
	size_t i;
	json_t *e;
	json_array_foreach(v, i, e) if (!json_is_string(e)) return NULL;
	return json_incref(v);
}

/* The body's "_source": true, false, a pattern, patterns, or
 * {"includes": ..., "excludes": ...}. */
static int source_from_json(json_t *v, os_search_req *r, os_error *e)
{
	if (json_is_boolean(v)) {
		r->source = json_is_true(v);
		return 0;
	}
	if (json_is_object(v)) {
		const char *k;
		json_t *x;
		json_object_foreach(v, k, x)
		{
			int inc = !strcmp(k, "includes") || !strcmp(k, "include");
			int exc = !strcmp(k, "excludes") || !strcmp(k, "exclude");
			if (!inc && !exc)
				return os_set_err(e, 400, "parsing_exception",
				                  "Unknown key for a %s in [%.64s].",
				                  dsl_json_kind(x), k);
			json_t *a = pattern_array(x);
			if (!a)
				return os_set_err(
				    e, 400, "parsing_exception",
				    "[_source] [%s] must be a string or an array of strings", k);
			json_t **slot = inc ? &r->includes : &r->excludes;
			json_decref(*slot);
			*slot = a;
		}
		r->source = 2;
		return 0;
	}
	json_t *a = pattern_array(v);
	if (!a)
		return os_set_err(
		    e, 400, "parsing_exception",
		    "[_source] must be a boolean, a string, an array of strings or an object");
	json_decref(r->includes);
	r->includes = a;
	r->source = 2;
	return 0;
}

/* The URL's _source, _source_includes, _source_excludes. */
static int source_from_params(const qparams *qp, os_search_req *r, os_error *e)
{
	const char *s = qs_get(qp, "_source"), *inc = qs_get(qp, "_source_includes"),
	           *exc = qs_get(qp, "_source_excludes");
	int b;
	if (s && !os_parse_flag(s, &b)) {
		r->source = b;
	} else if (s) {
		json_decref(r->includes);
		r->includes = csv_array(s);
		r->source = 2;
	}
	if (inc) {
		json_decref(r->includes);
		r->includes = csv_array(inc);
		r->source = 2;
	}
	if (exc) {
		json_decref(r->excludes);
		r->excludes = csv_array(exc);
		if (r->source)
			r->source = 2;
	}
	if ((r->source == 2 && !r->includes && (s || inc)) || (exc && !r->excludes))
		return os_set_err(e, 500, "exception", "out of memory");
	return 0;
}

static int track_from_string(const char *s, os_search_req *r)
{
	int b;
	uint64_t v;
	if (!os_parse_flag(s, &b)) {
		r->track_total = b;
		r->track_limit = UINT64_MAX;
	} else if (!parse_u64(s, INT64_MAX, &v)) {
		r->track_total = 1;
		r->track_limit = v;
	} else {
		return -1;
	}
	return 0;
}

/* A body number: an integer, or a string of digits. */
static int body_uint(json_t *v, uint64_t max, uint64_t *out)
{
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);
		if (i < 0 || (uint64_t)i > max)
			return -1;
		*out = (uint64_t)i;
		return 0;
	}
	if (json_is_string(v))
		return parse_u64(json_string_value(v), max, out);
	return -1;
}

/* "sort" in Elasticsearch's forms (root/dsl.h: dsl_sort) into r, its
 * field names copied. A sort by _score alone, descending (once or more),
 * is the default order (hits without sort values). */
static int sort_from_json(json_t *v, os_search_req *r, os_error *e)
{
	dsl_error de;
	if (dsl_sort(v, r->sort, &r->nsort, &de))
		return os_set_err(e, 400, "parsing_exception", "%s", de.reason);
	for (uint32_t i = 0; i < r->nsort; i++) {
		snprintf(r->sort_names[i], sizeof r->sort_names[i], "%s", r->sort[i].field);
		r->sort[i].field = r->sort_names[i];
	}
	uint32_t by_score = 0;
	for (uint32_t i = 0; i < r->nsort; i++)
		by_score += !strcmp(r->sort[i].field, "_score") && r->sort[i].desc &&
		            !r->sort[i].missing_first && r->sort[i].mode == TRAWL_SORT_DEFAULT;
	if (by_score == r->nsort)
		r->nsort = 0;
	return 0;
}

static const char *const search_params[] = {"q",
                                            "df",
                                            "default_operator",
                                            "analyze_wildcard",
                                            "lenient",
                                            "from",
                                            "size",
                                            "_source",
                                            "_source_includes",
                                            "_source_excludes",
                                            "track_total_hits",
                                            "rest_total_hits_as_int",
                                            "timeout",
                                            "allow_partial_search_results",
                                            "preference",
                                            "search_type",
                                            "request_cache",
                                            "ignore_unavailable",
                                            "allow_no_indices",
                                            "expand_wildcards",
                                            "ignore_throttled",
                                            "typed_keys",
                                            "ccs_minimize_roundtrips",
                                            "batched_reduce_size",
                                            "max_concurrent_shard_requests",
                                            "pre_filter_shard_size",
                                            "track_scores",
                                            NULL};

static const char *const count_params[] = {"q",
                                           "df",
                                           "default_operator",
                                           "analyze_wildcard",
                                           "lenient",
                                           "preference",
                                           "ignore_unavailable",
                                           "allow_no_indices",
                                           "expand_wildcards",
                                           "ignore_throttled",
                                           NULL};

/* Body keys OpenSearch has and trawl does not. */
static const char *const unsupported_body[] = {"highlight",
                                               "post_filter",
                                               "suggest",
                                               "rescore",
                                               "collapse",
                                               "script_fields",
                                               "docvalue_fields",
                                               "stored_fields",
                                               "fields",
                                               "min_score",
                                               "indices_boost",
                                               "slice",
                                               "pit",
                                               "terminate_after",
                                               "ext",
                                               "runtime_mappings",
                                               "knn",
                                               "point_in_time",
                                               "search_pipeline",
                                               "derived",
                                               NULL};

/* Body keys that must be false (their true asks for what trawl lacks). */
static const char *const false_body[] = {"explain", "version", "seq_no_primary_term", "profile",
                                         NULL};

/* The query of the q parameter (trawl syntax) with default operator
 * and_op, in field df if given: the tree of q, or of df:( q ). A q that
 * does not parse is r->qerr. */
static int query_from_q(os_search_req *r, const char *q, const char *df, int and_op, os_error *e)
{
	size_t n = strlen(q), k = 0;
	while (k < n && qt_is_space((unsigned char)q[k]))
		k++;
	if (k == n)
		return os_set_err(e, 400, "illegal_argument_exception", "the q parameter is empty");
	const char *f = NULL;
	char fb[LIMIT_DSL_FIELD_BYTES + 1];
	dsl_error de;
	if (df && dsl_field("df", df, 0, fb, &f, &de))
		return os_set_err(e, 400, "illegal_argument_exception", "%s", de.reason);
	int depth, rc;
	const char *bad = f ? dsl_unbalanced(q, n, &depth) : NULL;
	if (bad)
		return os_set_err(e, 400, "query_shard_exception",
		                  "Failed to parse query [%.200s]: it has %s", q, bad);
	qt_node *g = NULL;
	if (!f) {
		rc = idx_query_parse(q, n, and_op, &r->tree, r->qreason, sizeof r->qreason);
	} else if (!(rc = idx_query_parse_group(q, n, and_op, f, &g, r->qreason,
	                                        sizeof r->qreason))) {
		/* the whole query is the group, as if q had been df:(q) */
		r->tree = qt_new(QT_BOOL, QT_MUST, 1);
		if (!r->tree || qt_add(r->tree, g)) {
			qt_free(g);
			rc = TRAWL_ENOMEM;
		}
	}
	if (!(r->text = strdup(q)) || rc == TRAWL_ENOMEM)
		return os_set_err(e, 500, "exception", "out of memory");
	r->qerr = rc;
	return 0;
}

/* One key of a search request's JSON body into r (*query: the query, kept
 * for search_query). 0, or -1 with e set. */
static int body_key(const char *key, json_t *v, int count_only, os_search_req *r, json_t **query,
                    os_error *e)
{
	uint64_t u;
	if (!strcmp(key, "query")) {
		*query = v;
	} else if (count_only) {
		os_set_err(e, 400, "parsing_exception",
		           "request does not support [%.64s]; _count takes only [query]", key);
		return -1;
	} else if (!strcmp(key, "from") || !strcmp(key, "size")) {
		if (body_uint(v, TRAWL_MAX_K, &u)) {
			os_set_err(e, 400, "illegal_argument_exception",
			           "[%s] must be a number from 0 to %d", key, TRAWL_MAX_K);
			return -1;
		}
		*(key[0] == 'f' ? &r->from : &r->size) = (uint32_t)u;
	} else if (!strcmp(key, "_source")) {
		if (source_from_json(v, r, e))
			return -1;
	} else if (!strcmp(key, "track_total_hits")) {
		int bad = 0;
		if (json_is_boolean(v)) {
			r->track_total = json_is_true(v);
			r->track_limit = UINT64_MAX;
		} else if (json_is_integer(v) && json_integer_value(v) >= 0) {
			r->track_total = 1;
			r->track_limit = (uint64_t)json_integer_value(v);
		} else {
			bad = 1;
		}
		if (bad) {
			os_set_err(e, 400, "illegal_argument_exception",
			           "[track_total_hits] must be true, false or a number of hits");
			return -1;
		}
	} else if (!strcmp(key, "timeout")) {
		char tb[64];
		const char *ts = json_string_value(v);
		if (json_is_integer(v)) {
			snprintf(tb, sizeof tb, "%lldms", (long long)json_integer_value(v));
			ts = tb;
		}
		if (!ts || parse_timeout(ts, &r->timeout_ms)) {
			os_set_err(e, 400, "illegal_argument_exception",
			           "[timeout] must be a time value such as \"500ms\" or \"2s\"");
			return -1;
		}
	} else if (!strcmp(key, "sort")) {
		if (sort_from_json(v, r, e))
			return -1;
	} else if (!strcmp(key, "aggs") || !strcmp(key, "aggregations")) {
		char why[512];
		if (r->aggs) {
			os_set_err(e, 400, "illegal_argument_exception",
			           "[aggs] and [aggregations] are one field: give one");
			return -1;
		}
		int rc = dsl_aggs(v, &r->aggs, &r->aggs_canon, &r->aggs_canon_len, why, sizeof why);
		if (rc) {
			os_set_err(e, rc == TRAWL_ENOMEM ? 500 : 400,
			           rc == TRAWL_ENOMEM ? "exception" : "parsing_exception", "%s",
			           why);
			return -1;
		}
	} else if (!strcmp(key, "search_after")) {
		char *a =
		    json_is_array(v) && json_array_size(v) ? json_dumps(v, JSON_COMPACT) : NULL;
		if (!a || strlen(a) > LIMIT_SORT_JSON_BYTES) {
			free(a);
			os_set_err(
			    e, 400, "parsing_exception",
			    "[search_after] must be a non-empty array of the sort values of a hit "
			    "(at most %d bytes)",
			    LIMIT_SORT_JSON_BYTES);
			return -1;
		}
		free(r->search_after);
		r->search_after = a;
	} else if (!strcmp(key, "track_scores")) {
		if (!json_is_boolean(v)) {
			os_set_err(e, 400, "parsing_exception",
			           "[track_scores] must be true or false");
			return -1;
		}
		r->track_scores = json_is_true(v);
	} else if (!strcmp(key, "stats")) {
		/* stats groups are not kept */
	} else if (os_in_list(false_body, key)) {
		if (!json_is_false(v)) {
			os_set_err(e, 400, "parsing_exception",
			           "[%s] is not supported by trawl (only false)", key);
			return -1;
		}
	} else if (os_in_list(unsupported_body, key)) {
		os_set_err(e, 400, "parsing_exception", "[%s] is not supported by trawl", key);
		return -1;
	} else {
		os_set_err(e, 400, "parsing_exception", "Unknown key for a %s in [%.64s].",
		           dsl_json_kind(v), key);
		return -1;
	}
	return 0;
}

/* The URL parameters of a search into r; they win over the body's. 0, or
 * -1 with e set. */
static int url_params(const qparams *qp, int count_only, os_search_req *r, os_error *e)
{
	const char *s;
	uint64_t u;
	if (!count_only) {
		for (int i = 0; i < 2; i++) {
			const char *pn = i ? "size" : "from";
			if (!(s = qs_get(qp, pn)))
				continue;
			if (parse_u64(s, TRAWL_MAX_K, &u)) {
				os_set_err(e, 400, "illegal_argument_exception",
				           "[%s] must be a number from 0 to %d", pn, TRAWL_MAX_K);
				return -1;
			}
			*(i ? &r->size : &r->from) = (uint32_t)u;
		}
		if (source_from_params(qp, r, e))
			return -1;
		if ((s = qs_get(qp, "track_total_hits")) && track_from_string(s, r)) {
			os_set_err(e, 400, "illegal_argument_exception",
			           "[track_total_hits] must be true, false or a number of hits");
			return -1;
		}
		if ((s = qs_get(qp, "rest_total_hits_as_int"))) {
			if (os_parse_flag(s, &r->rest_total_int)) {
				os_set_err(e, 400, "illegal_argument_exception",
				           "[rest_total_hits_as_int] must be true or false");
				return -1;
			}
		}
		if ((s = qs_get(qp, "timeout")) && parse_timeout(s, &r->timeout_ms)) {
			os_set_err(e, 400, "illegal_argument_exception",
			           "[timeout] must be a time value such as 500ms or 2s");
			return -1;
		}
		if ((s = qs_get(qp, "track_scores")) && os_parse_flag(s, &r->track_scores)) {
			os_set_err(e, 400, "illegal_argument_exception",
			           "[track_scores] must be true or false");
			return -1;
		}
		if ((s = qs_get(qp, "allow_partial_search_results")) &&
		    os_parse_flag(s, &r->allow_partial)) {
			os_set_err(e, 400, "illegal_argument_exception",
			           "[allow_partial_search_results] must be true or false");
			return -1;
		}
		if (((s = qs_get(qp, "ignore_unavailable")) &&
		     os_parse_flag(s, &r->ignore_unavailable)) ||
		    ((s = qs_get(qp, "allow_no_indices")) &&
		     os_parse_flag(s, &r->allow_no_indices))) {
			os_set_err(e, 400, "illegal_argument_exception",
			           "[ignore_unavailable] and [allow_no_indices] are true or false");
			return -1;
		}
		if ((s = qs_get(qp, "search_type")) && strcmp(s, "query_then_fetch") &&
		    strcmp(s, "dfs_query_then_fetch")) {
			os_set_err(e, 400, "illegal_argument_exception",
			           "No search type for [%.64s]", s);
			return -1;
		}
		if ((uint64_t)r->from + r->size > TRAWL_MAX_K) {
			os_set_err(e, 400, "illegal_argument_exception",
			           "Result window is too large, from + size must be less than or "
			           "equal to: "
			           "[%d] but was [%llu]",
			           TRAWL_MAX_K, (unsigned long long)r->from + r->size);
			return -1;
		}
	}
	if ((s = qs_get(qp, "request_cache"))) {
		if (strcmp(s, "true") && strcmp(s, "false")) {
			os_set_err(e, 400, "illegal_argument_exception",
			           "[request_cache] is true or false, not [%.64s]", s);
			return -1;
		}
		r->no_cache = !strcmp(s, "false");
	}
	if ((s = qs_get(qp, "preference"))) {
		if (strlen(s) > LIMIT_PREFERENCE_BYTES) {
			os_set_err(e, 400, "illegal_argument_exception",
			           "[preference] is at most %d bytes", LIMIT_PREFERENCE_BYTES);
			return -1;
		}
		if (!(r->preference = strdup(s))) {
			os_set_err(e, 500, "exception", "out of memory");
			return -1;
		}
	}
	return 0;
}

/* The search's query into r->tree: from q (with df and default_operator),
 * from the body's query, or every document. 0, or -1 with e set. */
static int search_query(const qparams *qp, json_t *query, os_search_req *r, os_error *e)
{
	const char *q = qs_get(qp, "q"), *df = qs_get(qp, "df"),
	           *op = qs_get(qp, "default_operator");
	if (q && query) {
		os_set_err(e, 400, "illegal_argument_exception",
		           "a query was given both in the q parameter and in the request body");
		return -1;
	}
	if ((df || op) && !q) {
		os_set_err(e, 400, "illegal_argument_exception",
		           "[%s] applies only to the q parameter", df ? "df" : "default_operator");
		return -1;
	}
	int and_op = 0;
	if (op) {
		if (!strcasecmp(op, "and"))
			and_op = 1;
		else if (strcasecmp(op, "or")) {
			os_set_err(e, 400, "illegal_argument_exception",
			           "[default_operator] must be AND or OR");
			return -1;
		}
	}
	if (q) {
		if (query_from_q(r, q, df && strcmp(df, "*") && strcmp(df, "_all") ? df : NULL,
		                 and_op, e))
			return -1;
	} else if (query) {
		dsl_error de;
		const char *text = NULL;
		int rc = dsl_compile(query, &r->tree, &text, &de);
		if (!rc && text && !(r->text = strdup(text))) {
			os_set_err(e, 500, "exception", "out of memory");
			return -1;
		} else if (rc && de.in_text) {
			/* a query_string's text that does not parse: the engine's refusal */
			r->qerr = rc;
			snprintf(r->qreason, sizeof r->qreason, "%s", de.reason);
			if (!(r->text = strdup(de.text))) {
				os_set_err(e, 500, "exception", "out of memory");
				return -1;
			}
		} else if (rc) {
			int internal = rc == TRAWL_ENOMEM || rc == TRAWL_EINTERNAL;
			os_set_err(e, internal ? 500 : 400,
			           internal ? "exception" : "parsing_exception", "%s", de.reason);
			return -1;
		}
	} else if (idx_query_parse(MATCH_ALL, strlen(MATCH_ALL), 0, &r->tree, NULL, 0)) {
		os_set_err(e, 500, "exception", "out of memory");
		return -1;
	}
	return 0;
}

int os_parse_search(const char *path, const char *qs, const uint8_t *body, size_t body_len,
                    int count_only, os_search_req *r, os_error *e)
{
	memset(r, 0, sizeof *r);
	memset(e, 0, sizeof *e);
	r->size = count_only ? 0 : 10;
	r->track_total = 1;
	r->track_limit = UINT64_MAX;
	r->source = 1;
	r->allow_partial = 1;
	r->allow_no_indices = 1;
	if (!path)
		path = count_only ? "/_count" : "/_search";
	qparams qp;
	if (qs_parse(qs, &qp, e))
		return -1;
	json_t *doc = NULL, *query = NULL;
	int b;
	const char *s;
	if (qs_check(&qp, count_only ? count_params : search_params, path, e))
		goto fail;
	if ((s = qs_get(&qp, "pretty")) && !os_parse_flag(s, &b))
		r->pretty = b;
	size_t k = 0;
	while (k < body_len && qt_is_space(body[k]))
		k++;
	if (k < body_len) {
		json_error_t je;
		doc = json_loadb((const char *)body, body_len, JSON_REJECT_DUPLICATES, &je);
		if (!doc) {
			os_set_err(e, 400, "parse_exception",
			           "request body: line %d, column %d: %s", je.line, je.column,
			           je.text);
			goto fail;
		}
		if (!json_is_object(doc)) {
			os_set_err(e, 400, "parse_exception", "request body must be a JSON object");
			goto fail;
		}
		const char *key;
		json_t *v;
		json_object_foreach(doc, key, v)
		{
			if (body_key(key, v, count_only, r, &query, e))
				goto fail;
		}
	}
	if (url_params(&qp, count_only, r, e) || search_query(&qp, query, r, e))
		goto fail;
	if (r->search_after && !r->nsort) {
		os_set_err(e, 400, "illegal_argument_exception",
		           "[search_after] needs a [sort] by fields (the order it continues)");
		goto fail;
	}
	qs_free(&qp);
	json_decref(doc);
	return 0;
fail:
	qs_free(&qp);
	json_decref(doc);
	int pretty = r->pretty;
	os_search_req_fini(r);
	r->pretty = pretty;
	return -1;
}

/* ------------------------------------------------------------------------ */
/* Source filtering                                                         */
/* ------------------------------------------------------------------------ */

static int any_match(json_t *patterns, const char *path)
{
	size_t i;
	json_t *p;
	json_array_foreach(patterns, i, p)
	{
		const char *s = json_string_value(p);
		if (s && fnmatch(s, path, 0) == 0)
			return 1;
	}
	return 0;
}

/* filter_value: v at path kept (new reference) or NULL to drop it. */
static json_t *filter_value(json_t *v, const char *path, json_t *inc, json_t *exc, int depth);

static json_t *filter_object(json_t *obj, const char *path, json_t *inc, json_t *exc, int depth)
{
	json_t *out = json_object();
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v)
	{
		size_t pl = path ? strlen(path) : 0, kl = strlen(k);
		char *sub = malloc(pl + kl + 2);
		if (!sub)
			continue;
		if (path)
			sprintf(sub, "%s.%s", path, k);
		else
			memcpy(sub, k, kl + 1);
		json_t *kept = filter_value(v, sub, inc, exc, depth + 1);
		free(sub);
		if (kept)
			json_object_set_new(out, k, kept);
	}
	return out;
}

static json_t *filter_value(json_t *v, const char *path, json_t *inc, json_t *exc, int depth)
{
	if (exc && any_match(exc, path))
		return NULL;
	int included = !inc || json_array_size(inc) == 0 || any_match(inc, path);
	if (depth > 64) /* deeper than anyone filters */
		return included ? json_incref(v) : NULL;
	if (json_is_object(v)) {
		/* an included object still loses its excluded members; one not
		 * included may hold included members */
		json_t *o = filter_object(v, path, included ? NULL : inc, exc, depth);
		if (!included && json_object_size(o) == 0) {
			json_decref(o);
			return NULL;
		}
		return o;
	}
	if (json_is_array(v)) {
		json_t *a = json_array();
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e)
		{
			if (json_is_object(e)) {
				json_t *o =
				    filter_object(e, path, included ? NULL : inc, exc, depth);
				if (included || json_object_size(o))
					json_array_append_new(a, o);
				else
					json_decref(o);
			} else if (included) {
				json_array_append(a, e);
			}
		}
		if (!included && json_array_size(a) == 0) {
			json_decref(a);
			return NULL;
		}
		return a;
	}
	return included ? json_incref(v) : NULL;
}

json_t *os_filter_source(json_t *src, json_t *includes, json_t *excludes)
{
	if (!json_is_object(src))
		return json_incref(src);
	if ((!includes || !json_array_size(includes)) && (!excludes || !json_array_size(excludes)))
		return json_incref(src);
	return filter_object(src, NULL, includes && json_array_size(includes) ? includes : NULL,
	                     excludes && json_array_size(excludes) ? excludes : NULL, 0);
}

/* ------------------------------------------------------------------------ */
/* Index names                                                              */
/* ------------------------------------------------------------------------ */

/* ------------------------------------------------------------------------ */
/* Rendering                                                                */
/* ------------------------------------------------------------------------ */

static json_t *shards_json(uint32_t total, uint32_t answered, uint32_t failed)
{
	return json_pack("{s:i, s:i, s:i, s:i}", "total", (int)total, "successful", (int)answered,
	                 "skipped", 0, "failed", (int)failed);
}

/* ---- raw JSON text inside a response ----
 * jansson writes every real of a dump at one precision. 8 significant
 * digits suit scores (floats), not a stored document's doubles, a double's
 * sort value (search_after must give back that very value: rounded, it
 * named another hit) or an aggregation's sum (a date's min of
 * 946477226000 came out as 9.4647723e11). Those are JSON text already
 * (the stored document, the leaves' sort values, the root's merged
 * aggregations), so they go into the tree as marks and come back, as they
 * are, when it is written. A mark is a string no document can hold: a
 * number drawn at random once per process, between two bytes 0x01. */
typedef struct raw_part_text {
	const char *text;
	size_t len;
	char *owned; /* text when made here (a filtered source), to free */
} raw_part_text;

typedef struct raw_parts {
	raw_part_text *p; /* per hit a source and a sort values; the aggregations */
	uint32_t n, cap;
	int failed; /* out of memory: raw_dump gives NULL */
} raw_parts;

static uint64_t raw_nonce(void)
{
	static _Atomic uint64_t nonce;
	uint64_t v = atomic_load(&nonce), r = 0;
	if (v)
		return v;
	if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
		r = clock_unix_us() * 0x9E3779B97F4A7C15ull;
	r |= 1;
	uint64_t zero = 0;
	atomic_compare_exchange_strong(&nonce, &zero, r);
	return atomic_load(&nonce);
}

/* The mark of text (len bytes of JSON; owned: freed with rp) in the tree. */
static json_t *raw_part(raw_parts *rp, const char *text, size_t len, char *owned)
{
	if (rp->n == rp->cap) {
		uint32_t cap = rp->cap ? 2 * rp->cap : 32;
		raw_part_text *np = realloc(rp->p, cap * sizeof *np);
		if (!np) {
			free(owned);
			rp->failed = 1;
			return json_null();
		}
		rp->p = np;
		rp->cap = cap;
	}
	char mark[48];
	snprintf(mark, sizeof mark, "\x01%016llx:%u\x01", (unsigned long long)raw_nonce(),
	         (unsigned)rp->n);
	rp->p[rp->n++] = (raw_part_text){text, len, owned};
	return json_string(mark);
}

static void raw_parts_fini(raw_parts *rp)
{
	for (uint32_t i = 0; i < rp->n; i++)
		free(rp->p[i].owned);
	free(rp->p);
	*rp = (raw_parts){0};
}

/* j written (its reference taken), indented when pretty, with the raw
 * parts put back in place of their marks. NULL: out of memory. */
static char *raw_dump(raw_parts *rp, json_t *j, int pretty)
{
	/* JSON_ENCODE_ANY: GET _source's answer is the document alone, a mark */
	size_t flags = (pretty ? JSON_INDENT(2) : JSON_COMPACT) | JSON_REAL_PRECISION(8);
	char *s = j ? json_dumps(j, flags | JSON_ENCODE_ANY) : NULL;
	json_decref(j);
	if (s && rp->failed) {
		free(s);
		return NULL;
	}
	if (!s || rp->n == 0)
		return s;
	char needle[40];
	int nl =
	    snprintf(needle, sizeof needle, "\"\\u0001%016llx:", (unsigned long long)raw_nonce());
	tbuf b;
	tbuf_init(&b, LIMIT_MESSAGE_BYTES * 2u);
	const char *p = s, *m;
	int rc = 0;
	while ((m = strstr(p, needle))) {
		char *end;
		unsigned long i = strtoul(m + nl, &end, 10);
		if (i >= rp->n || strncmp(end, "\\u0001\"", 7)) { /* cannot be: written here */
			rc |= tbuf_append(&b, p, (size_t)(m - p) + 1);
			p = m + 1;
			continue;
		}
		rc |= tbuf_append(&b, p, (size_t)(m - p));
		rc |= tbuf_append(&b, rp->p[i].text, rp->p[i].len);
		p = end + 7;
	}
	rc |= tbuf_append(&b, p, strlen(p) + 1);
	free(s);
	if (rc) { /* out of memory, or past the bound, on the way */
		tbuf_fini(&b);
		return NULL;
	}
	return (char *)b.data;
}

/* A hit's _source: the stored document as it was stored, or (sr->source
 * 2) the fields sr keeps, written at full precision. */
static json_t *hit_source(raw_parts *rp, const root_hit *h, const os_search_req *sr)
{
	if (sr->source != 2)
		return raw_part(rp, h->doc, h->doc_len, NULL);
	json_t *src = json_loadb(h->doc, h->doc_len, 0, NULL);
	if (!src)
		return json_null();
	json_t *f = os_filter_source(src, sr->includes, sr->excludes);
	json_decref(src);
	char *text = f ? json_dumps(f, JSON_COMPACT) : NULL;
	if (f && !text)
		rp->failed = 1;
	json_decref(f);
	return text ? raw_part(rp, text, strlen(text), text) : json_null();
}

/* Whether the hits' scores are shown: as OpenSearch, not when the hits
 * are sorted by fields without _score, unless track_scores asks. */
static int scores_shown(const os_search_req *sr)
{
	int shown = sr->nsort == 0 || sr->track_scores;
	for (uint32_t i = 0; i < sr->nsort; i++)
		shown |= !strcmp(sr->sort[i].field, "_score");
	return shown;
}

static json_t *render_hits(raw_parts *rp, const root_result *res, const os_search_req *sr,
                           const char *const *names, uint32_t nnames)
{
	json_t *hits = json_array();
	double max = 0;
	int have = 0, scored = scores_shown(sr);
	for (uint32_t i = 0; sr->size && i < res->nhits; i++) {
		const root_hit *h = &res->hits[i];
		json_t *hit = json_object();
		json_object_set_new(hit, "_index",
		                    os_jstr(names[h->source < nnames ? h->source : 0]));
		json_object_set_new(hit, "_id", os_jstr(h->id ? h->id : ""));
		json_object_set_new(hit, "_score", scored ? json_real(h->score) : json_null());
		if (sr->source && h->doc)
			json_object_set_new(hit, "_source", hit_source(rp, h, sr));
		if (h->sort)
			json_object_set_new(hit, "sort",
			                    raw_part(rp, h->sort, strlen(h->sort), NULL));
		json_array_append_new(hits, hit);
		if (scored && (!have || h->score > max)) {
			max = h->score;
			have = 1;
		}
	}
	json_t *hobj = json_object();
	if (sr->track_total) {
		uint64_t v = res->total;
		int exact = res->total_exact;
		if (v > sr->track_limit) {
			v = sr->track_limit;
			exact = 0;
		}
		if (sr->rest_total_int)
			json_object_set_new(hobj, "total", json_integer((json_int_t)v));
		else
			json_object_set_new(hobj, "total",
			                    json_pack("{s:I, s:s}", "value", (json_int_t)v,
			                              "relation", exact ? "eq" : "gte"));
	}
	json_object_set_new(hobj, "max_score", have ? json_real(max) : json_null());
	json_object_set_new(hobj, "hits", hits);
	return hobj;
}

char *os_render_search(const root_result *res, const os_search_req *sr, const char *name,
                       int pretty)
{
	return os_render_search_many(res, sr, &name, 1, pretty);
}

char *os_render_search_many(const root_result *res, const os_search_req *sr,
                            const char *const *names, uint32_t nnames, int pretty)
{
	raw_parts rp = {0};
	json_t *out = json_object();
	json_object_set_new(out, "took", json_integer((json_int_t)(res->took_us / 1000)));
	json_object_set_new(out, "timed_out", json_boolean(res->shards_timed_out > 0));
	json_object_set_new(out, "_shards",
	                    shards_json(res->shards_total, res->shards_answered,
	                                res->shards_failed + res->shards_timed_out));
	json_object_set_new(out, "hits", render_hits(&rp, res, sr, names, nnames));
	if (res->aggs)
		json_object_set_new(out, "aggregations",
		                    raw_part(&rp, res->aggs, strlen(res->aggs), NULL));
	char *text = raw_dump(&rp, out, pretty);
	raw_parts_fini(&rp);
	return text;
}

/* ------------------------------------------------------------------------ */
/* Endpoints                                                                */
/* ------------------------------------------------------------------------ */

static void info(const char *index_name, http_response *resp, int pretty)
{
	char uuid[23];
	os_uuid(index_name, uuid);
	json_t *j = json_pack(
	    "{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:s}, s:s, s:s}", "name",
	    "trawl", "cluster_name", "trawl", "cluster_uuid", uuid, "version", "distribution",
	    "opensearch", "number", OS_COMPAT_VERSION, "build_type", "trawl", "build_hash",
	    "unknown", "build_date", "1970-01-01T00:00:00Z", "build_snapshot", 0, "lucene_version",
	    "9.7.0", "minimum_wire_compatibility_version", "7.10.0",
	    "minimum_index_compatibility_version", "7.0.0", "tagline",
	    "The OpenSearch Project: https://opensearch.org/", "trawl_version",
	    TRAWL_VERSION_STRING);
	os_send_json(resp, 200, j, pretty);
}

static const char *const health_params[] = {"level",
                                            "local",
                                            "timeout",
                                            "wait_for_status",
                                            "wait_for_nodes",
                                            "wait_for_events",
                                            "wait_for_active_shards",
                                            "wait_for_no_relocating_shards",
                                            "wait_for_no_initializing_shards",
                                            "cluster_manager_timeout",
                                            "master_timeout",
                                            "expand_wildcards",
                                            "awareness_attribute",
                                            NULL};

static int status_rank(const char *s)
{
	return !strcmp(s, "green") ? 0 : !strcmp(s, "yellow") ? 1 : !strcmp(s, "red") ? 2 : -1;
}

/* What one index's health adds up to: its replicas, healthy ones,
 * whether every shard has one, its shards and those that answer. */
typedef struct health_sum {
	uint32_t replicas, healthy, total, active;
	int ready;
} health_sum;

static void health_of(root *r, health_sum *h)
{
	root_replica_info *ri = calloc(LIMIT_LEAVES, sizeof *ri);
	uint32_t n = ri ? root_replicas(r, ri, LIMIT_LEAVES) : 0;
	for (uint32_t i = 0; i < n && i < LIMIT_LEAVES; i++)
		h->healthy += ri[i].state == ROOT_HEALTHY;
	h->replicas += n;
	free(ri);
	int ready = root_ready(r);
	h->ready &= ready;
	/* the number of shards and how many answer: a cheap probe of every shard */
	root_query pq = {0};
	tbuf tree;
	tbuf_init(&tree, TRAWL_MAX_QUERY_TREE_BYTES);
	char err[256];
	qt_node *all = NULL;
	if (!idx_query_parse(MATCH_ALL, strlen(MATCH_ALL), 0, &all, NULL, 0))
		qt_encode(all, &tree, NULL, 0);
	qt_free(all);
	pq.tree = tree.data;
	pq.tree_len = tree.len;
	pq.k = 1;
	pq.allow_partial = 1;
	pq.timeout_ms = 1000;
	root_result *res = NULL;
	if (pq.tree_len && root_search(r, &pq, &res, err, sizeof err) == TRAWL_OK) {
		uint32_t total = res->shards_total;
		/* ready: every shard has a healthy replica. Otherwise a fresh
		 * answer counts the shards that answered; a cached one (complete,
		 * from before the failure) only says that one shard at least has
		 * no healthy replica */
		h->total += total;
		h->active += ready          ? total
		             : !res->cached ? res->shards_answered
		             : total        ? total - 1
		                            : 0;
		root_result_free(res);
	}
	tbuf_fini(&tree);
}

static void health(catalog *c, const char *expr, const qparams *qp, const http_request *req,
                   http_response *resp, int pretty)
{
	os_error e;
	if (qs_check(qp, health_params, req->path, &e)) {
		os_send_err(resp, &e, NULL, pretty);
		return;
	}
	const char *want = qs_get(qp, "wait_for_status");
	if (want && status_rank(want) < 0) {
		os_send_errf(resp, pretty, 400, "illegal_argument_exception", NULL,
		             "unknown cluster health status [%.32s]", want);
		return;
	}
	char missing[LIMIT_INDEX_NAME_BYTES + 1], err[LIMIT_ERRMSG_BYTES];
	cat_set set;
	int rc = cat_resolve(c, expr, 0, &set, missing, sizeof missing, err, sizeof err);
	if (rc) {
		os_resolve_failed(resp, pretty, rc, missing, err);
		return;
	}
	health_sum h = {0, 0, 0, 0, 1};
	for (uint32_t i = 0; i < set.n; i++)
		health_of(cat_root(set.ix[i]), &h);
	uint32_t n = h.replicas, healthy = h.healthy, total = h.total, active = h.active;
	int ready = h.ready;
	cat_set_release(&set);
	const char *status = !ready ? "red" : healthy < n ? "yellow" : "green";
	int timed_out = want && status_rank(status) > status_rank(want);
	json_t *j = json_object();
	json_object_set_new(j, "cluster_name", json_string("trawl"));
	json_object_set_new(j, "status", json_string(status));
	json_object_set_new(j, "timed_out", json_boolean(timed_out));
	json_object_set_new(j, "number_of_nodes", json_integer(n));
	json_object_set_new(j, "number_of_data_nodes", json_integer(n));
	json_object_set_new(j, "discovered_master", json_true());
	json_object_set_new(j, "discovered_cluster_manager", json_true());
	json_object_set_new(j, "active_primary_shards", json_integer(active));
	json_object_set_new(j, "active_shards", json_integer(active));
	json_object_set_new(j, "relocating_shards", json_integer(0));
	json_object_set_new(j, "initializing_shards", json_integer(0));
	json_object_set_new(j, "unassigned_shards", json_integer(total - active));
	json_object_set_new(j, "delayed_unassigned_shards", json_integer(0));
	json_object_set_new(j, "number_of_pending_tasks", json_integer(0));
	json_object_set_new(j, "number_of_in_flight_fetch", json_integer(0));
	json_object_set_new(j, "task_max_waiting_in_queue_millis", json_integer(0));
	json_object_set_new(j, "active_shards_percent_as_number",
	                    json_real(total ? 100.0 * active / total : 0.0));
	json_object_set_new(j, "trawl_replicas_healthy", json_integer(healthy));
	os_send_json(resp, timed_out ? 408 : 200, j, pretty);
}

static const char *const mapping_params[] = {"local",
                                             "ignore_unavailable",
                                             "allow_no_indices",
                                             "expand_wildcards",
                                             "cluster_manager_timeout",
                                             "master_timeout",
                                             NULL};

/* GET /_mapping, GET /{index}/_mapping (expr NULL: every index): the
 * schema of the generation served, as OpenSearch's mapping
 * (root/mapping.h), under the index's name. */
int os_index_mapping(root *r, json_t **out, char *err, size_t errlen)
{
	char *schema = NULL;
	size_t len = 0;
	uint64_t gen = 0;
	int rc = root_schema(r, &schema, &len, &gen, err, errlen);
	if (!rc)
		rc = mapping_from_schema(schema, len, out, err, errlen);
	free(schema);
	return rc;
}

/* GET /{index}/_mapping, /_mapping: each index's schema as a mapping. */
static void mapping(catalog *c, const char *expr, const qparams *qp, const http_request *req,
                    http_response *resp, int pretty)
{
	cat_set set;
	if (os_begin(c, expr, mapping_params, qp, req, resp, pretty, &set))
		return;
	char err[LIMIT_ERRMSG_BYTES];
	int rc = TRAWL_OK;
	json_t *out = json_object();
	for (uint32_t i = 0; i < set.n && !rc; i++) {
		json_t *mp = NULL;
		if ((rc = os_index_mapping(cat_root(set.ix[i]), &mp, err, sizeof err)) == 0)
			json_object_set_new(out, cat_name(set.ix[i]),
			                    json_pack("{s:o}", "mappings", mp));
	}
	cat_set_release(&set);
	if (rc == TRAWL_EIO)
		os_send_errf(resp, pretty, 503, "unavailable_shards_exception", NULL, "%s", err);
	else if (rc)
		os_send_errf(resp, pretty, 500, "exception", NULL, "%s: %s", trawl_strerror(rc),
		             err);
	if (rc)
		json_decref(out);
	else
		os_send_json(resp, 200, out, pretty);
}

/* An empty answer: the index expression only held patterns that do not
 * match the index. */
static void empty_search(http_response *resp, int count_only, const os_search_req *sr)
{
	if (count_only) {
		os_send_json(resp, 200,
		             json_pack("{s:i, s:o}", "count", 0, "_shards", shards_json(0, 0, 0)),
		             sr->pretty);
		return;
	}
	root_result res = {0};
	res.total_exact = 1;
	os_send_text(resp, 200, os_render_search(&res, sr, "", sr->pretty), sr->pretty);
}

/* The answer to a search that failed with rc (err: why), as OpenSearch
 * gives it: the query's fault 400, the cluster's 503 or 429, else 500. */
static void search_failed(http_response *resp, const os_search_req *sr, int count_only, int rc,
                          const char *err, const char *index_name, int several)
{
	if (rc == TRAWL_EQUERY && strstr(err, "has nothing to search for")) {
		/* only stop words or punctuation: OpenSearch finds nothing
		 * (zero_terms_query "none") where trawl's parser refuses */
		empty_search(resp, count_only, sr);
	} else if (rc == TRAWL_EQUERY && sr->nsort &&
	           (!strncmp(err, "cannot sort", 11) || !strncmp(err, "sort key", 8) ||
	            !strncmp(err, "search_after", 12))) {
		/* the sort or search_after, not the query, is at fault */
		os_send_errf(resp, sr->pretty, 400,
		             err[1] == 'e' ? "illegal_argument_exception" : "query_shard_exception",
		             err[1] == 'e' ? NULL : index_name, "%s%s",
		             err[1] == 'e' ? "" : "[sort] ", err);
	} else if (rc == TRAWL_EQUERY || rc == TRAWL_EUTF8 || rc == TRAWL_ELIMIT) {
		/* the query as the user wrote it, else as trawl syntax */
		char shown[320];
		if (sr->text)
			snprintf(shown, sizeof shown, "%s", sr->text);
		else
			qt_dump(sr->tree, shown, sizeof shown);
		os_send_errf(resp, sr->pretty, 400, "query_shard_exception", index_name,
		             "Failed to parse query [%.300s]: %s", shown, err);
	} else if ((rc == TRAWL_EINVAL || rc == TRAWL_ECORRUPT) && several) {
		/* the indexes' answers do not merge: an aggregation over a field
		 * whose type differs between them */
		os_send_errf(resp, sr->pretty, 400, "illegal_argument_exception", NULL,
		             "the indexes' answers cannot be merged: %s", err);
	} else if (rc == TRAWL_EIO) {
		os_send_errf(resp, sr->pretty, 503, "search_phase_execution_exception", NULL, "%s",
		             err);
	} else if (rc == TRAWL_EBUSY) { /* overloaded: the client backs off and retries */
		os_send_errf(resp, sr->pretty, 429, "rejected_execution_exception", NULL, "%s",
		             err);
		http_response_header(resp, "Retry-After", "1");
	} else {
		os_send_errf(resp, sr->pretty, 500, "exception", NULL, "%s: %s", trawl_strerror(rc),
		             err);
	}
}

/* GET|POST /{expr}/_search (count_only 0) and /{expr}/_count: the request
 * parsed, the indexes expr names resolved, one search over them all. */
static void search(catalog *c, const char *expr, const http_request *req, http_response *resp,
                   int count_only)
{
	os_search_req sr;
	os_error e;
	if (os_parse_search(req->path, req->query, req->body, req->body_len, count_only, &sr, &e)) {
		os_send_err(resp, &e, NULL, sr.pretty);
		return;
	}
	char missing[LIMIT_INDEX_NAME_BYTES + 1], err[1024];
	cat_set set;
	int rc = cat_resolve(c, expr, sr.ignore_unavailable ? CAT_IGNORE_MISSING : 0, &set, missing,
	                     sizeof missing, err, sizeof err);
	if (rc) {
		os_resolve_failed(resp, sr.pretty, rc, missing, err);
		os_search_req_fini(&sr);
		return;
	}
	if (set.n == 0 && !sr.allow_no_indices) {
		os_index_not_found(resp, sr.pretty, expr);
		os_search_req_fini(&sr);
		return;
	}
	if (set.n == 0) {
		empty_search(resp, count_only, &sr);
		os_search_req_fini(&sr);
		return;
	}
	if (set.n > 1 && sr.search_after) {
		/* its sort values do not say which index a hit of a tie came from */
		os_send_errf(resp, sr.pretty, 400, "illegal_argument_exception", NULL,
		             "search_after over several indexes is not supported: page each index, "
		             "or use from and size");
		cat_set_release(&set);
		os_search_req_fini(&sr);
		return;
	}
	root *rs[LIMIT_INDEXES];
	const char *names[LIMIT_INDEXES];
	for (uint32_t i = 0; i < set.n; i++) {
		rs[i] = cat_root(set.ix[i]);
		names[i] = cat_name(set.ix[i]);
	}
	/* an error names the index when there is one */
	const char *index_name = set.n == 1 ? names[0] : NULL;
	root_query q = {0};
	tbuf tree;
	tbuf_init(&tree, TRAWL_MAX_QUERY_TREE_BYTES);
	q.k = sr.size ? sr.size : 1;
	q.offset = sr.size ? sr.from : 0;
	q.count = sr.track_total;
	q.allow_partial = sr.allow_partial;
	q.timeout_ms = sr.timeout_ms;
	q.preference = sr.preference;
	q.no_cache = sr.no_cache;
	q.fetch = sr.size > 0 && sr.source; /* stored documents; ids always come back */
	q.sort = sr.nsort ? sr.sort : NULL;
	q.nsort = sr.nsort;
	q.search_after = sr.search_after;
	q.search_after_len = sr.search_after ? strlen(sr.search_after) : 0;
	q.aggs = sr.aggs;
	q.aggs_canon = sr.aggs_canon;
	q.aggs_canon_len = sr.aggs_canon_len;
	root_result *res = NULL;
	rc = sr.qerr; /* a query text that does not parse: as a leaf used to say */
	if (rc)
		snprintf(err, sizeof err, "%s", sr.qreason);
	else
		rc = qt_encode(sr.tree, &tree, err, sizeof err);
	q.tree = tree.data;
	q.tree_len = tree.len;
	if (!rc)
		rc = root_search_many(rs, set.n, &q, &res, err, sizeof err);
	if (rc) {
		search_failed(resp, &sr, count_only, rc, err, index_name, set.n > 1);
	} else {
		if (count_only)
			os_send_json(
			    resp, 200,
			    json_pack("{s:I, s:o}", "count", (json_int_t)res->total, "_shards",
			              shards_json(res->shards_total, res->shards_answered,
			                          res->shards_failed + res->shards_timed_out)),
			    sr.pretty);
		else
			os_send_text(resp, 200,
			             os_render_search_many(res, &sr, names, set.n, sr.pretty),
			             sr.pretty);
		root_result_free(res);
	}
	tbuf_fini(&tree);
	cat_set_release(&set);
	os_search_req_fini(&sr);
}

static const char *const get_params[] = {
    "_source", "_source_includes", "_source_excludes", "preference", "realtime", "refresh", NULL};

/* GET /{index}/_doc/{id} (source_only 0) and GET /{index}/_source/{id}. */
static void get_doc(root *r, const char *index_name, const char *index, const char *id,
                    const qparams *qp, const http_request *req, http_response *resp,
                    int source_only, int pretty)
{
	os_error e;
	os_search_req sr = {0};
	sr.source = 1;
	if (qs_check(qp, get_params, req->path, &e) || source_from_params(qp, &sr, &e)) {
		os_send_err(resp, &e, NULL, pretty);
		os_search_req_fini(&sr);
		return;
	}
	if (strcmp(index, index_name)) {
		os_index_not_found(resp, pretty, index);
		os_search_req_fini(&sr);
		return;
	}
	char err[LIMIT_ERRMSG_BYTES], *doc = NULL;
	size_t len = 0;
	uint64_t version = 1, seq_no = 0;
	/* realtime (OpenSearch's default): the writer's view, every write
	 * acknowledged included, with its version and sequence number */
	int realtime = 1, rc;
	const root_writer *w = root_writer_of(r);
	const char *rt = qs_get(qp, "realtime");
	if (rt && os_parse_flag(rt, &realtime)) {
		os_send_errf(resp, pretty, 400, "illegal_argument_exception", NULL,
		             "Failed to parse value [%.64s] as only [true] or [false] are allowed.",
		             rt);
		os_search_req_fini(&sr);
		return;
	}
	if (w && realtime && strlen(id) <= LIMIT_ID_BYTES) {
		idx_wlive st = {0};
		rc = w->get(w->ctx, id, (uint32_t)strlen(id), &st, err, sizeof err);
		if (rc == TRAWL_OK && !st.exists)
			rc = TRAWL_ENOTFOUND;
		else if (rc == TRAWL_OK && !st.doc)
			rc =
			    errf(err, sizeof err, TRAWL_ENOTFOUND,
			         "document \"%.80s\" exists but the index stores no documents", id);
		doc = st.doc;
		len = st.doclen;
		version = st.version;
		seq_no = st.seq_no;
	} else {
		rc = root_get(r, id, &doc, &len, err, sizeof err);
	}
	if (rc == TRAWL_ENOTFOUND) {
		if (source_only)
			os_send_errf(resp, pretty, 404, "resource_not_found_exception", NULL,
			             "Document not found [%.200s]/[%.200s]", index_name, id);
		else
			os_send_json(resp, 404,
			             json_pack("{s:o, s:o, s:b}", "_index", os_jstr(index_name),
			                       "_id", os_jstr(id), "found", 0),
			             pretty);
	} else if (rc == TRAWL_ECORRUPT) {
		os_send_errf(resp, pretty, 500, "exception", NULL, "%s: %s", trawl_strerror(rc),
		             err);
	} else if (rc) {
		os_send_errf(resp, pretty, 503, "unavailable_shards_exception", NULL, "%s", err);
	} else {
		root_hit h = {0};
		h.doc = doc;
		h.doc_len = len;
		raw_parts rp = {0};
		json_t *src = hit_source(&rp, &h, &sr);
		if (source_only) {
			os_send_text(resp, 200, raw_dump(&rp, src, pretty), pretty);
		} else {
			json_t *j = json_pack("{s:o, s:o, s:I, s:I, s:i, s:b}", "_index",
			                      os_jstr(index_name), "_id", os_jstr(id), "_version",
			                      (json_int_t)version, "_seq_no", (json_int_t)seq_no,
			                      "_primary_term", 1, "found", 1);
			if (sr.source)
				json_object_set_new(j, "_source", src);
			else
				json_decref(src);
			os_send_text(resp, 200, raw_dump(&rp, j, pretty), pretty);
		}
		raw_parts_fini(&rp);
	}
	free(doc);
	os_search_req_fini(&sr);
}

static int is(const char *a, const char *b)
{
	return a && !strcmp(a, b);
}
/* ------------------------------------------------------------------------ */
/* writes (issue #12): to the index's indexer (root_writer)                 */
/* ------------------------------------------------------------------------ */

/* The refresh parameter: 0 "false" (or none), 1 "true" (or empty), 2
 * "wait_for"; -1 anything else. trawl has one way to make writes
 * searchable, the next generation, so true and wait_for both wait for it
 * (true asks for it at once, as wait_for does: the indexer makes one as
 * soon as a refresh waits). */
static int refresh_mode(const char *v)
{
	if (!v)
		return 0;
	if (!*v || !strcmp(v, "true"))
		return 1;
	if (!strcmp(v, "false"))
		return 0;
	if (!strcmp(v, "wait_for"))
		return 2;
	return -1;
}

/* The URL's if_seq_no and if_primary_term into w (-1 each: none). */
static int read_conditions(const qparams *qp, idx_wreq *w, os_error *e)
{
	const char *s = qs_get(qp, "if_seq_no"), *t = qs_get(qp, "if_primary_term");
	uint64_t v;
	w->if_seq_no = w->if_primary_term = -1;
	if (s) {
		if (parse_u64(s, INT64_MAX, &v))
			return os_set_err(e, 400, "illegal_argument_exception",
			                  "if_seq_no must be a number from 0, not [%.64s]", s);
		w->if_seq_no = (int64_t)v;
	}
	if (t) {
		if (parse_u64(t, INT64_MAX, &v) || v == 0)
			return os_set_err(e, 400, "illegal_argument_exception",
			                  "if_primary_term must be a number from 1, not [%.64s]",
			                  t);
		w->if_primary_term = (int64_t)v;
	}
	if (!s != !t)
		return os_set_err(
		    e, 400, "action_request_validation_exception",
		    "Validation Failed: 1: if_seq_no and if_primary_term must be given "
		    "together;");
	return 0;
}

/* The checks every write makes first: a writer, the index, the refresh
 * parameter and the URL's parameters. Returns the refresh mode, or -1
 * with the error sent. */
static int write_prologue(root *r, const char *index_name, const char *index, const qparams *qp,
                          const char *const *allowed, const http_request *req, http_response *resp,
                          int pretty)
{
	os_error e;
	if (!root_writer_of(r)) {
		os_refuse_write(resp, pretty);
		return -1;
	}
	if (qs_check(qp, allowed, req->path, &e)) {
		os_send_err(resp, &e, NULL, pretty);
		return -1;
	}
	if (index && strcmp(index, index_name)) {
		os_index_not_found(resp, pretty, index);
		return -1;
	}
	int mode = refresh_mode(qs_get(qp, "refresh"));
	if (mode < 0)
		os_send_errf(resp, pretty, 400, "illegal_argument_exception", NULL,
		             "Unknown value for refresh: [%.64s].", qs_get(qp, "refresh"));
	return mode;
}

/* Waits, for a refresh mode other than false, until operation seq is
 * searchable. The write is acknowledged whatever happens here: a refresh
 * that fails is said in a Warning header, never as a failed write (a
 * client would write again). */
static void write_refresh(root *r, int mode, uint64_t seq, json_t *answer, http_response *resp)
{
	if (!mode || !seq)
		return;
	char err[LIMIT_ERRMSG_BYTES];
	if (root_refresh(r, seq, LIMIT_REFRESH_WAIT_MS, err, sizeof err)) {
		char warn[LIMIT_ERRMSG_BYTES + 64];
		snprintf(warn, sizeof warn, "299 trawl \"written, not yet searchable: %s\"", err);
		for (char *c = warn; *c; c++)
			if (*c == '\n' || *c == '\r')
				*c = ' ';
		http_response_header(resp, "Warning", warn);
		return;
	}
	if (mode == 1 && answer)
		json_object_set_new(answer, "forced_refresh", json_true());
}

/* The status of a write that could not be decided: a full disk 507, an
 * indexer out of reach (a cluster's) 503, anything else 500. */
static int write_status(int rc)
{
	return rc == TRAWL_ENOSPC ? 507 : rc == TRAWL_EIO ? 503 : 500;
}

/* One document's answer: OpenSearch's index, delete and update response. */
static json_t *write_answer(const char *index_name, const idx_wres *w)
{
	int wrote = strcmp(w->result, "noop") != 0;
	return json_pack("{s:s, s:s%, s:I, s:s, s:{s:i, s:i, s:i}, s:I, s:I}", "_index", index_name,
	                 "_id", w->id, (size_t)w->idlen, "_version", (json_int_t)w->version,
	                 "result", w->result, "_shards", "total", wrote, "successful", wrote,
	                 "failed", 0, "_seq_no", (json_int_t)w->seq_no, "_primary_term",
	                 (json_int_t)w->primary_term);
}

/* form_encode appends s (n bytes) to out at *at (out must hold 3 * n more
 * bytes) as Java's URLEncoder.encode(s, "UTF-8") writes it, which
 * OpenSearch's DocWriteResponse.getLocation applies to the index and the id
 * of a 201's Location: letters, digits and ". - * _" as they are, a space
 * as '+', every other byte (UTF-8's included) as %XX. */
static void form_encode(char *out, size_t *at, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '-' || c == '*' || c == '_') {
			out[(*at)++] = (char)c;
		} else if (c == ' ') {
			out[(*at)++] = '+';
		} else {
			out[(*at)++] = '%';
			out[(*at)++] = hex[c >> 4];
			out[(*at)++] = hex[c & 15];
		}
	}
}

/* Runs one write request and answers it. */
static void write_one(root *r, const char *index_name, const idx_wreq *wr, int mode,
                      http_response *resp, int pretty)
{
	const root_writer *w = root_writer_of(r);
	idx_wres *res = calloc(1, sizeof *res);
	char err[LIMIT_ERRMSG_BYTES];
	if (!res) {
		os_send_errf(resp, pretty, 500, "exception", NULL, "out of memory");
		return;
	}
	int rc = w->write(w->ctx, wr, 1, res, err, sizeof err);
	if (rc == TRAWL_EBUSY) { /* the backlog's bound: the client backs off */
		os_send_errf(resp, pretty, 429, "es_rejected_execution_exception", index_name, "%s",
		             err);
		http_response_header(resp, "Retry-After", "1");
	} else if (rc) {
		os_send_errf(resp, pretty, write_status(rc), "exception", index_name, "%s", err);
	} else if (!res->result) {
		os_send_errf(resp, pretty, res->status,
		             res->error_type ? res->error_type : "exception", index_name, "%s",
		             res->reason);
	} else {
		json_t *a = write_answer(index_name, res);
		write_refresh(r, mode, res->seq_no, a, resp);
		if (res->status == 201) {
			char loc[(LIMIT_INDEX_NAME_BYTES + LIMIT_ID_BYTES) * 3 + 16];
			size_t at = 0, in = strnlen(index_name, LIMIT_INDEX_NAME_BYTES);
			loc[at++] = '/';
			form_encode(loc, &at, index_name, in);
			memcpy(loc + at, "/_doc/", 6);
			at += 6;
			form_encode(loc, &at, res->id,
			            res->idlen < LIMIT_ID_BYTES ? res->idlen : LIMIT_ID_BYTES);
			loc[at] = 0;
			http_response_header(resp, "Location", loc);
		}
		os_send_json(resp, res->status, a, pretty);
	}
	free(res);
}

static const char *const doc_write_params[] = {
    "refresh", "op_type", "if_seq_no", "if_primary_term", "timeout", "wait_for_active_shards",
    NULL};

/* PUT|POST /{index}/_doc/{id}, POST /{index}/_doc, PUT|POST
 * /{index}/_create/{id}, DELETE /{index}/_doc/{id}. */
static void doc_write(root *r, const char *index_name, const char *index, const char *id,
                      idx_wact act, const qparams *qp, const http_request *req, http_response *resp,
                      int pretty)
{
	int mode = write_prologue(r, index_name, index, qp, doc_write_params, req, resp, pretty);
	if (mode < 0)
		return;
	os_error e;
	idx_wreq w = {0};
	w.act = act;
	const char *op = qs_get(qp, "op_type");
	if (op && act == IDX_WACT_INDEX && !strcmp(op, "create"))
		w.act = IDX_WACT_CREATE;
	else if (op && !(act == IDX_WACT_INDEX && !strcmp(op, "index")) &&
	         !(act == IDX_WACT_CREATE && !strcmp(op, "create"))) {
		os_send_errf(resp, pretty, 400, "illegal_argument_exception", NULL,
		             "op_type must be [index] or [create], not [%.64s]", op);
		return;
	}
	if (read_conditions(qp, &w, &e)) {
		os_send_err(resp, &e, NULL, pretty);
		return;
	}
	if (w.act == IDX_WACT_CREATE && w.if_seq_no >= 0) {
		os_send_errf(
		    resp, pretty, 400, "action_request_validation_exception", NULL,
		    "Validation Failed: 1: create operations do not support compare and set. "
		    "use index instead;");
		return;
	}
	size_t idlen = id ? strlen(id) : 0;
	if (id && (idlen == 0 || idlen > LIMIT_ID_BYTES)) {
		os_send_errf(resp, pretty, 400, "illegal_argument_exception", NULL,
		             "an id is 1 to %d bytes; this one is %zu", LIMIT_ID_BYTES, idlen);
		return;
	}
	w.id = id;
	w.idlen = (uint32_t)idlen;
	if (act != IDX_WACT_DELETE) {
		if (req->body_len == 0) {
			os_send_errf(resp, pretty, 400, "action_request_validation_exception", NULL,
			             "Validation Failed: 1: source is missing;");
			return;
		}
		w.doc = (const char *)req->body;
		w.doclen = (uint32_t)req->body_len;
	}
	write_one(r, index_name, &w, mode, resp, pretty);
}

static const char *const update_params[] = {"refresh",
                                            "if_seq_no",
                                            "if_primary_term",
                                            "retry_on_conflict",
                                            "timeout",
                                            "wait_for_active_shards",
                                            NULL};

/* POST /{index}/_update/{id}: a partial document merged into the one there
 * (doc, upsert, doc_as_upsert, detect_noop). retry_on_conflict is
 * accepted: a conflict here comes only from if_seq_no, which a retry
 * would not change. */
static void doc_update(root *r, const char *index_name, const char *index, const char *id,
                       const qparams *qp, const http_request *req, http_response *resp, int pretty)
{
	int mode = write_prologue(r, index_name, index, qp, update_params, req, resp, pretty);
	if (mode < 0)
		return;
	os_error e;
	os_bulk_item it = {0};
	it.req.act = IDX_WACT_UPDATE;
	if (read_conditions(qp, &it.req, &e)) {
		os_send_err(resp, &e, NULL, pretty);
		return;
	}
	os_update_parse((const char *)req->body, req->body_len, &it);
	if (it.failed) {
		os_send_errf(resp, pretty, it.status, it.error_type ? it.error_type : "exception",
		             NULL, "%s", it.reason ? it.reason : "out of memory");
		os_bulk_item_fini(&it);
		return;
	}
	it.req.id = id;
	it.req.idlen = (uint32_t)strlen(id);
	if (it.req.idlen > LIMIT_ID_BYTES)
		os_send_errf(resp, pretty, 400, "illegal_argument_exception", NULL,
		             "an id is 1 to %d bytes; this one is %u", LIMIT_ID_BYTES,
		             it.req.idlen);
	else
		write_one(r, index_name, &it.req, mode, resp, pretty);
	os_bulk_item_fini(&it);
}

static const char *const bulk_params[] = {"refresh", "timeout", "wait_for_active_shards", NULL};

/* POST|PUT /_bulk and /{index}/_bulk: the body compiled (root/bulk.c) and
 * decided LIMIT_BULK_CHUNK items at a time, each chunk's items rendered as
 * it is done, so that a large request holds its outcomes a chunk at a
 * time. */
/* The indexes one _bulk request writes to: each item's _index (or the
 * URL's) resolved once to the index it writes (an alias's write index),
 * held for the request, with the last sequence number written there. */
typedef struct bulk_target {
	char name[LIMIT_INDEX_NAME_BYTES + 1]; /* as the items name it */
	cat_set set;                           /* the index (n 0: none, why in err) */
	int status;                            /* the refusal's: 404, 400, 405 */
	const char *type;
	char err[256];
	uint64_t last;
	struct bulk_target *same; /* another name of an index already a target: it */
} bulk_target;

typedef struct bulk_targets {
	catalog *c;
	uint32_t n;
	bulk_target t[LIMIT_INDEXES + 1];
} bulk_targets;

/* The target of an item naming index (NULL when the request names more
 * indexes than a server holds: the item fails). */
static bulk_target *target_of(bulk_targets *ts, const char *index)
{
	for (uint32_t i = 0; i < ts->n; i++)
		if (!strcmp(ts->t[i].name, index))
			return ts->t[i].same ? ts->t[i].same : &ts->t[i];
	if (ts->n == LIMIT_INDEXES + 1)
		return NULL;
	bulk_target *t = &ts->t[ts->n++];
	memset(t, 0, sizeof *t);
	snprintf(t->name, sizeof t->name, "%s", index);
	char missing[LIMIT_INDEX_NAME_BYTES + 1];
	/* one index: not a pattern, a list, an exclusion or _all */
	int one = !strpbrk(index, "*,") && index[0] != '-' && strcmp(index, "_all") && *index;
	int rc = !one ? TRAWL_EQUERY
	              : cat_resolve(ts->c, index, CAT_WRITE, &t->set, missing, sizeof missing,
	                            t->err, sizeof t->err);
	if (!rc && !t->set.n)
		rc = TRAWL_ENOTFOUND;
	t->status = rc == TRAWL_ENOTFOUND ? 404 : 400;
	t->type =
	    rc == TRAWL_ENOTFOUND ? "index_not_found_exception" : "illegal_argument_exception";
	if (rc == TRAWL_ENOTFOUND)
		snprintf(t->err, sizeof t->err, "no such index [%.200s]", index);
	else if (rc == TRAWL_EQUERY && !one)
		snprintf(t->err, sizeof t->err, "[%.200s]: a write goes to one index", index);
	/* the same index under another name (an alias and its write index):
	 * one target, so that its items stay in their order */
	for (uint32_t i = 0; !rc && i + 1 < ts->n; i++)
		if (!ts->t[i].same && ts->t[i].set.n && ts->t[i].set.ix[0] == t->set.ix[0]) {
			cat_set_release(&t->set);
			t->same = &ts->t[i];
			return t->same;
		}
	if (!rc && !root_writer_of(cat_root(t->set.ix[0]))) {
		t->status = 405;
		snprintf(t->err, sizeof t->err, "index [%.200s] does not take writes here",
		         cat_name(t->set.ix[0]));
		cat_set_release(&t->set);
	}
	return t;
}

/* Fails item it as its target says. */
static void fail_item(os_bulk_item *it, const bulk_target *t)
{
	it->failed = 1;
	it->status = t ? t->status : 400;
	it->error_type = t ? t->type : "illegal_argument_exception";
	free(it->reason);
	it->reason = NULL;
	if (asprintf(&it->reason, "%s",
	             t ? t->err : "the request names more indexes than a server holds") < 0)
		it->reason = NULL;
}

/* Decides one chunk's items [from, to) index by index (the items of one
 * index in their order), the outcomes in res by item. TRAWL_EBUSY (the
 * backlog's bound) or TRAWL_ENOSPC (the disk's flood stage) when an
 * indexer refused before any item was decided: the request is refused
 * whole. */
static int bulk_chunk(bulk_targets *ts, os_bulk *b, uint32_t from, uint32_t to, idx_wreq *reqs,
                      idx_wres *res, uint32_t *of, bulk_target **tgt, int *decided, char *err,
                      size_t errlen)
{
	for (uint32_t x = 0; x < ts->n; x++) {
		bulk_target *t = &ts->t[x];
		uint32_t n = 0;
		for (uint32_t i = from; i < to; i++)
			if (!b->items[i].failed && tgt[i - from] == t) {
				of[n] = i;
				reqs[n++] = b->items[i].req;
			}
		if (!n)
			continue;
		const root_writer *w = root_writer_of(cat_root(t->set.ix[0]));
		idx_wres *tmp = calloc(n, sizeof *tmp);
		int wrc = tmp ? w->write(w->ctx, reqs, n, tmp, err, errlen) : TRAWL_ENOMEM;
		if ((wrc == TRAWL_EBUSY || wrc == TRAWL_ENOSPC) && !*decided) {
			free(tmp);
			return wrc; /* nothing decided yet: the request is refused whole */
		}
		*decided |= !wrc;
		for (uint32_t k = 0; k < n; k++) {
			idx_wres *r = &res[of[k] - from];
			if (wrc) { /* nothing of it was decided: each item fails with why */
				*r = (idx_wres){0};
				r->status = wrc == TRAWL_EBUSY ? 429 : write_status(wrc);
				r->error_type = wrc == TRAWL_EBUSY
				                    ? "es_rejected_execution_exception"
				                    : "exception";
				snprintf(r->reason, sizeof r->reason, "%s",
				         wrc == TRAWL_ENOMEM && !tmp ? "out of memory" : err);
			} else {
				*r = tmp[k];
				if (r->result && r->seq_no > t->last)
					t->last = r->seq_no;
			}
		}
		free(tmp);
	}
	return TRAWL_OK;
}

/* POST /_bulk, /{index}/_bulk: items to any index of the catalog, each
 * item's _index (or the URL's) resolved to the index it writes. */
static void bulk(catalog *c, const char *expr, const qparams *qp, const http_request *req,
                 http_response *resp, int pretty)
{
	os_error e;
	if (qs_check(qp, bulk_params, req->path, &e)) {
		os_send_err(resp, &e, NULL, pretty);
		return;
	}
	int mode = refresh_mode(qs_get(qp, "refresh"));
	if (mode < 0) {
		os_send_errf(resp, pretty, 400, "illegal_argument_exception", NULL,
		             "Unknown value for refresh: [%.64s].", qs_get(qp, "refresh"));
		return;
	}
	uint64_t t0 = clock_mono_us();
	os_bulk b;
	int status = 400;
	char err[LIMIT_ERRMSG_BYTES];
	if (os_bulk_parse((const char *)req->body, req->body_len, expr, &b, &status, err,
	                  sizeof err)) {
		os_send_errf(resp, pretty, status,
		             status == 413 ? "content_too_long" : "illegal_argument_exception",
		             NULL, "%s", err);
		return;
	}
	bulk_targets *ts = calloc(1, sizeof *ts);
	idx_wreq *reqs = calloc(LIMIT_BULK_CHUNK, sizeof *reqs);
	idx_wres *res = calloc(LIMIT_BULK_CHUNK, sizeof *res);
	uint32_t *of = calloc(LIMIT_BULK_CHUNK, sizeof *of);
	bulk_target **tgt = calloc(LIMIT_BULK_CHUNK, sizeof *tgt);
	tbuf items, answer; /* written directly (os_bulk_render) */
	tbuf_init(&items, SIZE_MAX / 2);
	tbuf_init(&answer, SIZE_MAX / 2);
	if (!ts || !reqs || !res || !of || !tgt) {
		os_send_errf(resp, pretty, 500, "exception", NULL, "out of memory");
		goto out;
	}
	ts->c = c;
	int errors = 0, rc = TRAWL_OK, decided = 0;
	for (uint32_t from = 0; from < b.n;) {
		uint32_t to = from + LIMIT_BULK_CHUNK < b.n ? from + LIMIT_BULK_CHUNK : b.n;
		for (uint32_t i = from; i < to; i++) {
			os_bulk_item *it = &b.items[i];
			bulk_target *t = NULL;
			if (!it->failed && !it->index) {
				static const bulk_target none = {
				    .status = 400,
				    .type = "action_request_validation_exception",
				    .err = "Validation Failed: 1: index is missing;"};
				fail_item(it, &none);
			} else if (!it->failed && (!(t = target_of(ts, it->index)) || !t->set.n)) {
				fail_item(it, t);
				t = NULL;
			} else if (t) {
				it->index = cat_name(t->set.ix[0]); /* the answer names the index */
			}
			tgt[i - from] = t;
		}
		int brc =
		    bulk_chunk(ts, &b, from, to, reqs, res, of, tgt, &decided, err, sizeof err);
		if (brc == TRAWL_EBUSY) {
			/* the backlog's bound, before any item was decided: the
			 * request is refused whole, as OpenSearch's full write queue
			 * refuses it */
			os_send_errf(resp, pretty, 429, "es_rejected_execution_exception", NULL,
			             "%s", err);
			http_response_header(resp, "Retry-After", "1");
			goto out;
		}
		if (brc == TRAWL_ENOSPC) { /* the disk's flood stage, likewise */
			os_send_errf(resp, pretty, 507, "exception", NULL, "%s", err);
			goto out;
		}
		for (; from < to; from++) {
			const os_bulk_item *it = &b.items[from];
			const idx_wres *x = it->failed ? NULL : &res[from % LIMIT_BULK_CHUNK];
			errors |= !x || !x->result;
			if (!rc && from)
				rc = tbuf_putc(&items, ',');
			if (!rc)
				rc = os_bulk_render_item(&items, it, x);
		}
	}
	if (!rc)
		rc = os_bulk_render_answer(&answer, (clock_mono_us() - t0) / 1000, errors,
		                           items.data, items.len);
	for (uint32_t x = 0; x < ts->n; x++)
		if (ts->t[x].set.n)
			write_refresh(cat_root(ts->t[x].set.ix[0]), mode, ts->t[x].last, NULL,
			              resp);
	if (rc) /* the writes were made; only their answer could not be written */
		os_send_errf(resp, pretty, 500, "exception", NULL,
		             "out of memory writing the answer");
	else if (pretty) /* jansson indents it */
		os_send_json(
		    resp, 200,
		    json_loadb((const char *)answer.data, answer.len, JSON_ALLOW_NUL, NULL),
		    pretty);
	else
		http_response_json(resp, 200, (const char *)answer.data, answer.len);
out:
	for (uint32_t x = 0; ts && x < ts->n; x++)
		cat_set_release(&ts->t[x].set);
	tbuf_fini(&items);
	tbuf_fini(&answer);
	free(ts);
	free(reqs);
	free(res);
	free(of);
	free(tgt);
	os_bulk_free(&b);
}

static const char *const refresh_params[] = {"ignore_unavailable", "allow_no_indices",
                                             "expand_wildcards", NULL};

/* POST|GET /_refresh and /{index}/_refresh: every write acknowledged
 * before is searchable when it returns. */
static void refresh(catalog *c, const char *expr, const qparams *qp, const http_request *req,
                    http_response *resp, int pretty)
{
	cat_set set;
	if (os_begin(c, expr, refresh_params, qp, req, resp, pretty, &set))
		return;
	char err[LIMIT_ERRMSG_BYTES];
	int rc = TRAWL_OK;
	/* each index that takes writes makes what it acknowledged searchable */
	uint32_t shards = 0;
	const char *failed = NULL;
	for (uint32_t i = 0; i < set.n && !rc; i++) {
		root *r = cat_root(set.ix[i]);
		shards++;
		if (root_writer_of(r) &&
		    (rc = root_refresh(r, 0, LIMIT_REFRESH_WAIT_MS, err, sizeof err)))
			failed = cat_name(set.ix[i]);
	}
	if (rc)
		os_send_errf(resp, pretty, rc == TRAWL_EBUSY ? 503 : write_status(rc), "exception",
		             failed, "%s", err);
	else
		os_send_json(resp, 200,
		             json_pack("{s:{s:i, s:i, s:i}}", "_shards", "total", (int)shards,
		                       "successful", (int)shards, "failed", 0),
		             pretty);
	cat_set_release(&set);
}

/* The writes under /{index}/ (b the endpoint, rest the id or NULL):
 * 1 when handled (answered), 0 when the path is none of them. */
static int route_write(root *r, const char *index_name, const char *index, const char *b,
                       const char *rest, const qparams *qp, const http_request *req,
                       http_response *resp, int pretty)
{
	const char *m = req->method;
	int post = is(m, "POST"), put = is(m, "PUT");
	if (is(b, "_doc") && rest && (put || post))
		doc_write(r, index_name, index, rest, IDX_WACT_INDEX, qp, req, resp, pretty);
	else if (is(b, "_doc") && rest && is(m, "DELETE"))
		doc_write(r, index_name, index, rest, IDX_WACT_DELETE, qp, req, resp, pretty);
	else if (is(b, "_doc") && !rest && post)
		doc_write(r, index_name, index, NULL, IDX_WACT_INDEX, qp, req, resp, pretty);
	else if (is(b, "_doc") && !rest && (put || is(m, "DELETE")))
		os_bad_method(resp, pretty, req, "POST");
	else if (is(b, "_create") && rest)
		post || put
		    ? doc_write(r, index_name, index, rest, IDX_WACT_CREATE, qp, req, resp, pretty)
		    : os_bad_method(resp, pretty, req, "POST, PUT");
	else if (is(b, "_update") && rest)
		post ? doc_update(r, index_name, index, rest, qp, req, resp, pretty)
		     : os_bad_method(resp, pretty, req, "POST");
	else
		return 0;
	return 1;
}

/* Endpoints under /{index}/ that write. */
static const char *const write_endpoints[] = {"_create",          "_update",          "_bulk",
                                              "_update_by_query", "_delete_by_query", NULL};

/* The one index a route on a document or a write acts on: expr resolved
 * (flags: CAT_WRITE for writes) to exactly one index, held in *set.
 * 0, or -1 with resp answered. */
static int one_index(catalog *c, const char *expr, unsigned flags, cat_set *set,
                     http_response *resp, int pretty)
{
	char missing[LIMIT_INDEX_NAME_BYTES + 1], err[LIMIT_ERRMSG_BYTES];
	if (strpbrk(expr, "*,") || !strcmp(expr, "_all") || expr[0] == '-') {
		os_send_errf(resp, pretty, 400, "illegal_argument_exception", NULL,
		             "[%.200s]: this request acts on one index, not a pattern or a list",
		             expr);
		return -1;
	}
	int rc = cat_resolve(c, expr, flags, set, missing, sizeof missing, err, sizeof err);
	if (rc) {
		if (rc == TRAWL_ENOTFOUND && (flags & CAT_WRITE))
			os_send_errf(resp, pretty, 404, "index_not_found_exception", missing,
			             "no such index [%.200s]: trawl does not create an index on a "
			             "write; create it first (PUT /%.200s with its mappings)",
			             missing, missing);
		else
			os_resolve_failed(resp, pretty, rc, missing, err);
		return -1;
	}
	if (set->n != 1) {
		int none = set->n == 0;
		cat_set_release(set);
		if (none)
			os_index_not_found(resp, pretty, expr);
		else
			os_send_errf(
			    resp, pretty, 400, "illegal_argument_exception", NULL,
			    "alias [%.200s] has more than one index associated with it, can't "
			    "execute a single index op",
			    expr);
		return -1;
	}
	return 0;
}

/* A route on one index named by the path (expr): a document's GET, or a
 * write of one document. */
static void on_index(catalog *c, const char *expr, const char *b, const char *rest,
                     const qparams *qp, const http_request *req, http_response *resp, int pretty,
                     int *handled)
{
	const char *m = req->method;
	int get = is(m, "GET") || is(m, "HEAD");
	int doc = is(b, "_doc") || is(b, "_source");
	int has_rest = rest && *rest;
	int write_route = is(b, "_doc") || is(b, "_create") || is(b, "_update");
	if (!(doc && has_rest && get) && !write_route) {
		if (os_in_list(write_endpoints, b))
			os_refuse_write(resp, pretty);
		else
			*handled = 0;
		return;
	}
	cat_set set;
	int rc = one_index(c, expr, doc && has_rest && get ? 0 : CAT_WRITE, &set, resp, pretty);
	if (rc)
		return;
	root *r = cat_root(set.ix[0]);
	const char *name = cat_name(set.ix[0]);
	if (doc && has_rest && get)
		get_doc(r, name, name, rest, qp, req, resp, is(b, "_source"), pretty);
	else if (route_write(r, name, name, b, has_rest ? rest : NULL, qp, req, resp, pretty))
		; /* a write */
	else if (has_rest)
		os_bad_method(resp, pretty, req, "GET, HEAD");
	else
		*handled = 0;
	cat_set_release(&set);
}

void os_handle(catalog *c, const http_request *req, http_response *resp, int *handled)
{
	*handled = 1;
	const char *m = req->method;
	int get = is(m, "GET") || is(m, "HEAD"), post = is(m, "POST");
	int pretty = 0;
	qparams qp;
	os_error e;
	if (qs_parse(req->query, &qp, &e)) {
		os_send_err(resp, &e, NULL, 0);
		return;
	}
	const char *pv = qs_get(&qp, "pretty");
	if (pv && os_parse_flag(pv, &pretty))
		pretty = 0;

	/* the path as up to two segments and the rest: /a/b/rest... */
	const char *p = req->path ? req->path : "/";
	while (*p == '/')
		p++;
	char *copy = strdup(p);
	if (!copy) {
		os_send_errf(resp, pretty, 500, "exception", NULL, "out of memory");
		qs_free(&qp);
		return;
	}
	char *a = copy, *b = NULL, *rest = NULL, *sl;
	if ((sl = strchr(a, '/'))) {
		*sl = 0;
		b = sl + 1;
		if ((sl = strchr(b, '/'))) {
			*sl = 0;
			rest = sl + 1;
		}
	}
	if (b && !*b && !rest)
		b = NULL; /* a trailing slash */
	int has_rest = rest && *rest;

	if (!*a) {
		if (get)
			info(cat_cluster_name(c), resp, pretty);
		else
			os_bad_method(resp, pretty, req, "HEAD, GET");
	} else if (os_indices_handle(c, a, b, rest, &qp, req, resp, pretty)) {
		; /* index management: /{index}, _cat/indices, aliases */
	} else if (a[0] == '_' && strcmp(a, "_all")) {
		if ((is(a, "_search") || is(a, "_count")) && !b) {
			if (get || post)
				search(c, "_all", req, resp, is(a, "_count"));
			else
				os_bad_method(resp, pretty, req, "GET, POST");
		} else if (is(a, "_cluster") && is(b, "health") && !(rest && strchr(rest, '/'))) {
			if (get)
				health(c, has_rest ? rest : NULL, &qp, req, resp, pretty);
			else
				os_bad_method(resp, pretty, req, "GET");
		} else if (is(a, "_mapping") && !b) {
			if (get)
				mapping(c, NULL, &qp, req, resp, pretty);
			else
				os_bad_method(resp, pretty, req, "GET, HEAD");
		} else if (is(a, "_refresh") && !b) {
			if (post || is(m, "GET"))
				refresh(c, NULL, &qp, req, resp, pretty);
			else
				os_bad_method(resp, pretty, req, "POST, GET");
		} else if (is(a, "_bulk") && !b) {
			if (post || is(m, "PUT"))
				bulk(c, NULL, &qp, req, resp, pretty);
			else
				os_bad_method(resp, pretty, req, "POST, PUT");
		} else {
			*handled = 0;
		}
	} else if (!b) {
		*handled = 0; /* /{index} with a method os_indices_handle does not take */
	} else if ((is(b, "_search") || is(b, "_count")) && !has_rest) {
		if (get || post)
			search(c, a, req, resp, is(b, "_count"));
		else
			os_bad_method(resp, pretty, req, "GET, POST");
	} else if (is(b, "_mapping") && !has_rest) {
		if (get)
			mapping(c, a, &qp, req, resp, pretty);
		else if (is(m, "PUT") || post)
			os_refuse_write(resp, pretty); /* a mapping is the schema of a build */
		else
			os_bad_method(resp, pretty, req, "GET, HEAD");
	} else if (is(b, "_bulk") && !has_rest) {
		if (post || is(m, "PUT"))
			bulk(c, a, &qp, req, resp, pretty);
		else
			os_bad_method(resp, pretty, req, "POST, PUT");
	} else if (is(b, "_refresh") && !has_rest) {
		if (post || is(m, "GET"))
			refresh(c, a, &qp, req, resp, pretty);
		else
			os_bad_method(resp, pretty, req, "POST, GET");
	} else {
		on_index(c, a, b, rest, &qp, req, resp, pretty, handled);
	}
	free(copy);
	qs_free(&qp);
}
