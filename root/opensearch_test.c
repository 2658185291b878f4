/*
 * opensearch_test.c - unit tests for the REST handlers of the
 * OpenSearch-compatible layer (opensearch.c) that need no cluster: the
 * request parser (URL parameters and body; its query compared as a tree
 * with the tree trawl's parser makes of the trawl query it stands for),
 * source filtering, index expressions, the rendering of a search
 * response, and a schema told as a mapping (root/mapping.c) and back. The
 * query DSL itself is dsl_test.c's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/aggs.h"
#include "common/qtree.h"
#include "index/query.h"
#include "root/mapping.h"
#include "root/opensearch.h"
#include "trawl/trawl.h"

static json_t *load(const char *s)
{
	json_error_t je;
	json_t *j = json_loads(s, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (!j)
		fail_msg("bad test JSON: %s: %s", s, je.text);
	return j;
}

/* ---- search requests ---- */

static int parse_req(const char *qs, const char *body, int count_only, os_search_req *r,
                     os_error *e)
{
	return os_parse_search(count_only ? "/i/_count" : "/i/_search", qs, (const uint8_t *)body,
	                       body ? strlen(body) : 0, count_only, r, e);
}

/* assert_query: r's query is the tree trawl's parser makes of `want` with
 * default operator op. */
static void assert_query(const os_search_req *r, const char *want, int op)
{
	char got[1024], exp[1024], err[256];
	qt_node *w = NULL;
	assert_int_equal(r->qerr, 0);
	assert_non_null(r->tree);
	if (idx_query_parse(want, strlen(want), op, &w, err, sizeof err))
		fail_msg("cannot parse [%s]: %s", want, err);
	qt_dump(r->tree, got, sizeof got);
	qt_dump(w, exp, sizeof exp);
	if (strcmp(got, exp))
		fail_msg("got %s\nwant %s (the tree of [%s])", got, exp, want);
	qt_free(w);
}

static void test_request_ok(void **state)
{
	(void)state;
	os_search_req r;
	os_error e;
	/* defaults: every document, 10 hits, exact total, whole source */
	assert_int_equal(parse_req(NULL, NULL, 0, &r, &e), 0);
	assert_query(&r, "*:*", TRAWL_OP_OR);
	assert_null(r.text);
	assert_int_equal(r.size, 10);
	assert_int_equal(r.from, 0);
	assert_int_equal(r.track_total, 1);
	assert_true(r.track_limit == UINT64_MAX);
	assert_int_equal(r.source, 1);
	assert_int_equal(r.allow_partial, 1);
	os_search_req_fini(&r);

	assert_int_equal(parse_req("q=title:foo+bar&size=5&from=2&pretty", "  \n", 0, &r, &e), 0);
	assert_query(&r, "title:foo bar", TRAWL_OP_OR);
	assert_string_equal(r.text, "title:foo bar");
	assert_int_equal(r.size, 5);
	assert_int_equal(r.from, 2);
	assert_int_equal(r.pretty, 1);
	os_search_req_fini(&r);

	assert_int_equal(parse_req("q=a%20b&df=title&default_operator=AND", NULL, 0, &r, &e), 0);
	assert_query(&r, "title:(a b)", TRAWL_OP_AND);
	os_search_req_fini(&r);

	assert_int_equal(parse_req("q=a&df=*", NULL, 0, &r, &e), 0);
	assert_query(&r, "a", TRAWL_OP_OR);
	os_search_req_fini(&r);

	assert_int_equal(
	    parse_req("timeout=1s&preference=abc&allow_partial_search_results=false"
	              "&track_total_hits=100&rest_total_hits_as_int=true&search_type=dfs_query_"
	              "then_fetch",
	              "{\"query\": {\"match\": {\"title\": \"x y\"}}, \"from\": 3, \"size\": 0, "
	              "\"_source\": [\"title\"], \"sort\": [\"_score\", {\"_score\": {\"order\": "
	              "\"desc\"}}], \"explain\": false, \"track_scores\": true}",
	              0, &r, &e),
	    0);
	assert_query(&r, "title:(x y)", TRAWL_OP_OR);
	assert_int_equal(r.from, 3);
	assert_int_equal(r.size, 0);
	assert_int_equal(r.timeout_ms, 1000);
	assert_string_equal(r.preference, "abc");
	assert_int_equal(r.allow_partial, 0);
	assert_int_equal(r.track_total, 1);
	assert_true(r.track_limit == 100);
	assert_int_equal(r.rest_total_int, 1);
	assert_int_equal(r.nsort, 0); /* by _score, descending: the default order */
	assert_int_equal(r.source, 2);
	assert_int_equal(json_array_size(r.includes), 1);
	os_search_req_fini(&r);

	/* URL parameters win over the body */
	assert_int_equal(parse_req("size=7&_source=false",
	                           "{\"size\": 3, \"_source\": true, "
	                           "\"track_total_hits\": false, "
	                           "\"timeout\": \"5m\"}",
	                           0, &r, &e),
	                 0);
	assert_int_equal(r.size, 7);
	assert_int_equal(r.source, 0);
	assert_int_equal(r.track_total, 0);
	assert_int_equal(r.timeout_ms, 60000);
	os_search_req_fini(&r);

	assert_int_equal(parse_req("_source_includes=a,b&_source_excludes=c", NULL, 0, &r, &e), 0);
	assert_int_equal(r.source, 2);
	assert_int_equal(json_array_size(r.includes), 2);
	assert_int_equal(json_array_size(r.excludes), 1);
	os_search_req_fini(&r);

	assert_int_equal(parse_req(NULL,
	                           "{\"_source\": {\"includes\": \"t*\", \"excludes\": "
	                           "[\"x\"]}}",
	                           0, &r, &e),
	                 0);
	assert_int_equal(r.source, 2);
	assert_int_equal(json_array_size(r.includes), 1);
	assert_int_equal(json_array_size(r.excludes), 1);
	os_search_req_fini(&r);

	/* the top-level query_string's AND */
	assert_int_equal(parse_req(NULL,
	                           "{\"query\": {\"query_string\": {\"query\": \"a b\", "
	                           "\"default_operator\": \"AND\"}}}",
	                           0, &r, &e),
	                 0);
	assert_query(&r, "a b", TRAWL_OP_AND);
	os_search_req_fini(&r);

	/* _count */
	assert_int_equal(parse_req("q=x", NULL, 1, &r, &e), 0);
	assert_query(&r, "x", TRAWL_OP_OR);
	assert_int_equal(r.size, 0);
	assert_int_equal(r.track_total, 1);
	os_search_req_fini(&r);
	assert_int_equal(parse_req(NULL, "{\"query\": {\"term\": {\"tag\": \"a b\"}}}", 1, &r, &e),
	                 0);
	assert_query(&r, "tag:a\\ b", TRAWL_OP_OR);
	os_search_req_fini(&r);

	/* a query text that does not parse: not a bad request, but a query
	 * the engine refuses (the search answers it), with its text */
	assert_int_equal(parse_req("q=a%20AND&df=title", NULL, 0, &r, &e), 0);
	assert_null(r.tree);
	assert_int_equal(r.qerr, TRAWL_EQUERY);
	assert_string_equal(r.qreason, "column 3: expected a term after 'AND'");
	assert_string_equal(r.text, "a AND");
	os_search_req_fini(&r);
	assert_int_equal(parse_req(NULL,
	                           "{\"query\": {\"bool\": {\"must\": {\"query_string\": "
	                           "{\"query\": \"x -\"}}}}}",
	                           0, &r, &e),
	                 0);
	assert_null(r.tree);
	assert_int_equal(r.qerr, TRAWL_EQUERY);
	assert_string_equal(r.qreason, "column 3: expected a term after '-'");
	assert_string_equal(r.text, "x -");
	os_search_req_fini(&r);

	/* a sort by fields in every form, and search_after */
	assert_int_equal(parse_req(NULL,
	                           "{\"sort\": [{\"date\": \"desc\"}, \"author\", {\"size\": "
	                           "{\"order\": \"desc\", \"missing\": \"_first\", \"mode\": "
	                           "\"min\"}}, {\"_score\": {\"order\": \"asc\"}}], "
	                           "\"search_after\": [1, \"x\", null, 2.5, \"7\"]}",
	                           0, &r, &e),
	                 0);
	assert_int_equal(r.nsort, 4);
	assert_string_equal(r.sort[0].field, "date");
	assert_int_equal(r.sort[0].desc, 1);
	assert_string_equal(r.sort[1].field, "author");
	assert_int_equal(r.sort[1].desc, 0);
	assert_string_equal(r.sort[2].field, "size");
	assert_int_equal(r.sort[2].desc, 1);
	assert_int_equal(r.sort[2].missing_first, 1);
	assert_int_equal(r.sort[2].mode, TRAWL_SORT_MIN);
	assert_string_equal(r.sort[3].field, "_score");
	assert_int_equal(r.sort[3].desc, 0);
	assert_string_equal(r.search_after, "[1,\"x\",null,2.5,\"7\"]");
	os_search_req_fini(&r);
	/* aggregations, with size 0 */
	assert_int_equal(
	    parse_req(NULL,
	              "{\"size\": 0, \"aggregations\": {\"t\": {\"terms\": {\"field\": "
	              "\"tag\"}}, \"f\": {\"filter\": {\"term\": {\"tag\": \"x\"}}}}}",
	              0, &r, &e),
	    0);
	assert_non_null(r.aggs);
	assert_int_equal(r.aggs->nsubs, 2);
	assert_non_null(r.aggs_canon);
	assert_int_equal(strlen(r.aggs_canon), r.aggs_canon_len);
	assert_int_equal(r.size, 0);
	os_search_req_fini(&r);
	assert_int_equal(parse_req(NULL, "{\"sort\": \"_score\"}", 0, &r, &e), 0);
	assert_int_equal(r.nsort, 0);
	os_search_req_fini(&r);
	assert_int_equal(parse_req(NULL, "{\"sort\": {\"_score\": \"asc\"}}", 0, &r, &e), 0);
	assert_int_equal(r.nsort, 1);
	os_search_req_fini(&r);
}

typedef struct req_err_case {
	const char *qs, *body;
	int count_only, status;
	const char *type, *reason;
} req_err_case;

static const req_err_case req_err_cases[] = {
    {"foo=1", NULL, 0, 400, "illegal_argument_exception",
     "request [/i/_search] contains unrecognized parameter: [foo]"},
    {"size=1", NULL, 1, 400, "illegal_argument_exception",
     "request [/i/_count] contains unrecognized parameter: [size]"},
    {"size=-1", NULL, 0, 400, "illegal_argument_exception",
     "[size] must be a number from 0 to 10000"},
    {"size=10001", NULL, 0, 400, "illegal_argument_exception",
     "[size] must be a number from 0 to 10000"},
    {"from=9995&size=10", NULL, 0, 400, "illegal_argument_exception",
     "Result window is too large, from + size must be less than or equal to: [10000] but was "
     "[10005]"},
    {NULL, "{\"from\": 9000, \"size\": 1001}", 0, 400, "illegal_argument_exception",
     "Result window is too large, from + size must be less than or equal to: [10000] but was "
     "[10001]"},
    {NULL, "{\"size\": \"x\"}", 0, 400, "illegal_argument_exception",
     "[size] must be a number from 0 to 10000"},
    {NULL, "{\"query\": ", 0, 400, "parse_exception",
     "request body: line 1, column 10: unexpected token near end of file"},
    {NULL, "[1]", 0, 400, "parse_exception", "request body must be a JSON object"},
    {NULL, "{\"size\": 1, \"size\": 2}", 0, 400, "parse_exception",
     "request body: line 1, column 18: duplicate object key near '\"size\"'"},
    {NULL, "{\"aggs\": {\"a\": {\"terms\": {\"field\": \"tag\", \"size\": -1}}}}", 0, 400,
     "parsing_exception", "@aggs.a.terms.size"},
    {NULL, "{\"aggs\": {\"a\": {\"filter\": {\"fuzzy\": {}}}}}", 0, 400, "parsing_exception",
     "@fuzzy"},
    {NULL, "{\"aggs\": {}, \"aggregations\": {}}", 0, 400, "illegal_argument_exception",
     "[aggs] and [aggregations] are one field: give one"},
    {NULL, "{\"highlight\": {}}", 0, 400, "parsing_exception",
     "[highlight] is not supported by trawl"},
    {NULL, "{\"sizee\": 1}", 0, 400, "parsing_exception",
     "Unknown key for a VALUE_NUMBER in [sizee]."},
    {NULL, "{\"explain\": true}", 0, 400, "parsing_exception",
     "[explain] is not supported by trawl (only false)"},
    {NULL, "{\"sort\": [{\"date\": \"down\"}]}", 0, 400, "parsing_exception",
     "[sort] [date]: the order must be \"asc\" or \"desc\""},
    {NULL, "{\"sort\": {\"date\": {\"missing\": 0}}}", 0, 400, "parsing_exception",
     "[sort] [date]: [missing] must be \"_first\" or \"_last\" (trawl takes no missing value)"},
    {NULL, "{\"sort\": {\"date\": {\"mode\": \"avg\"}}}", 0, 400, "parsing_exception",
     "[sort] [date]: [mode] must be \"min\" or \"max\""},
    {NULL, "{\"sort\": {\"date\": {\"unmapped_type\": \"long\"}}}", 0, 400, "parsing_exception",
     "[sort] [date]: unknown option [unmapped_type] (trawl takes order, missing and mode)"},
    {NULL, "{\"sort\": [\"a\", \"b\", \"c\", \"d\", \"e\"]}", 0, 400, "parsing_exception",
     "[sort] has at most 4 keys; this one has 5"},
    {NULL, "{\"sort\": []}", 0, 400, "parsing_exception", "[sort] is an empty list"},
    {NULL, "{\"sort\": [3]}", 0, 400, "parsing_exception",
     "[sort] key 0 must be a field name or an object of one field, not VALUE_NUMBER"},
    {NULL, "{\"sort\": [{\"a\": \"asc\", \"b\": \"asc\"}]}", 0, 400, "parsing_exception",
     "[sort] key 0 must be a field name or an object of one field, not START_OBJECT"},
    {NULL, "{\"search_after\": [1, \"2\"]}", 0, 400, "illegal_argument_exception",
     "[search_after] needs a [sort] by fields (the order it continues)"},
    {NULL, "{\"sort\": \"date\", \"search_after\": {}}", 0, 400, "parsing_exception",
     "[search_after] must be a non-empty array of the sort values of a hit (at most 32768 "
     "bytes)"},
    {NULL, "{\"track_total_hits\": \"yes\"}", 0, 400, "illegal_argument_exception",
     "[track_total_hits] must be true, false or a number of hits"},
    {NULL, "{\"timeout\": \"soon\"}", 0, 400, "illegal_argument_exception",
     "[timeout] must be a time value such as \"500ms\" or \"2s\""},
    {NULL, "{\"_source\": 3}", 0, 400, "parsing_exception",
     "[_source] must be a boolean, a string, an array of strings or an object"},
    {NULL, "{\"_source\": {\"include\": [1]}}", 0, 400, "parsing_exception",
     "[_source] [include] must be a string or an array of strings"},
    {NULL, "{\"_source\": {\"only\": []}}", 0, 400, "parsing_exception",
     "Unknown key for a START_ARRAY in [only]."},
    {NULL, "{\"query\": {\"match\": {\"title\": {\"query\": \"x\", \"fuzziness\": 1}}}}", 0, 400,
     "parsing_exception", "[match] query option [fuzziness] is not supported by trawl"},
    {NULL, "{\"query\": {\"match_all\": {}}, \"size\": 1}", 1, 400, "parsing_exception",
     "request does not support [size]; _count takes only [query]"},
    {"q=x", "{\"query\": {\"match_all\": {}}}", 0, 400, "illegal_argument_exception",
     "a query was given both in the q parameter and in the request body"},
    {"q=%20", NULL, 0, 400, "illegal_argument_exception", "the q parameter is empty"},
    {"df=title", NULL, 0, 400, "illegal_argument_exception",
     "[df] applies only to the q parameter"},
    {"q=a&default_operator=XOR", NULL, 0, 400, "illegal_argument_exception",
     "[default_operator] must be AND or OR"},
    {"q=a)+OR+(b&df=title", NULL, 0, 400, "query_shard_exception",
     "Failed to parse query [a) OR (b]: it has a ')' without its '('"},
    {"q=a&df=ti+tle", NULL, 0, 400, "illegal_argument_exception",
     "[df] [ti tle] is not a valid trawl field name (letters, digits, '_', '.' and '-', not "
     "starting with '-')"},
    {"q=a%00b", NULL, 0, 400, "illegal_argument_exception", "a URL parameter contains a NUL byte"},
    {"search_type=scan", NULL, 0, 400, "illegal_argument_exception", "No search type for [scan]"},
    {"rest_total_hits_as_int=maybe", NULL, 0, 400, "illegal_argument_exception",
     "[rest_total_hits_as_int] must be true or false"},
};

static void test_request_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof req_err_cases / sizeof req_err_cases[0]; i++) {
		const req_err_case *c = &req_err_cases[i];
		os_search_req r;
		os_error e;
		int rc = parse_req(c->qs, c->body, c->count_only, &r, &e);
		/* a reason starting with '@': the reason must contain the rest */
		int reason_ok = c->reason[0] == '@' ? strstr(e.reason, c->reason + 1) != NULL
		                                    : !strcmp(e.reason, c->reason);
		if (rc != -1 || e.status != c->status || strcmp(e.type, c->type) || !reason_ok)
			fail_msg("case %zu (%s | %s):\n got %d %d %s [%s]\nwant %d %s [%s]", i,
			         c->qs ? c->qs : "", c->body ? c->body : "", rc, e.status, e.type,
			         e.reason, c->status, c->type, c->reason);
		assert_null(r.tree);
		assert_null(r.text);
		assert_null(r.includes);
		assert_null(r.preference);
	}
	/* too many parameters */
	char qs[1024] = "";
	for (int i = 0; i < 65; i++)
		strcat(qs, "pretty&");
	os_search_req r;
	os_error e;
	assert_int_equal(parse_req(qs, NULL, 0, &r, &e), -1);
	assert_string_equal(e.reason, "more than 64 URL parameters");
}

/* ---- source filtering ---- */

static void check_filter(const char *src, const char *inc, const char *exc, const char *want)
{
	json_t *s = load(src), *i = inc ? load(inc) : NULL, *x = exc ? load(exc) : NULL;
	json_t *got = os_filter_source(s, i, x);
	char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
	if (strcmp(g, want))
		fail_msg("filter %s inc %s exc %s:\n got %s\nwant %s", src, inc ? inc : "-",
		         exc ? exc : "-", g, want);
	free(g);
	json_decref(got);
	json_decref(s);
	json_decref(i);
	json_decref(x);
}

static void test_source_filter(void **state)
{
	(void)state;
	const char *doc = "{\"title\": \"t\", \"body\": \"b\", \"meta\": {\"a\": 1, \"b\": 2}, "
	                  "\"tags\": [{\"x\": 1, \"y\": 2}, {\"y\": 3}, 4]}";
	check_filter(
	    doc, NULL, NULL,
	    "{\"body\":\"b\",\"meta\":{\"a\":1,\"b\":2},\"tags\":[{\"x\":1,\"y\":2},{\"y\":3},"
	    "4],\"title\":\"t\"}");
	check_filter(
	    doc, "[]", "[]",
	    "{\"body\":\"b\",\"meta\":{\"a\":1,\"b\":2},\"tags\":[{\"x\":1,\"y\":2},{\"y\":3},"
	    "4],\"title\":\"t\"}");
	check_filter(doc, "[\"title\"]", NULL, "{\"title\":\"t\"}");
	check_filter(doc, "[\"title\", \"nothing\"]", NULL, "{\"title\":\"t\"}");
	check_filter(doc, "[\"meta.a\"]", NULL, "{\"meta\":{\"a\":1}}");
	check_filter(doc, "[\"meta\"]", "[\"meta.b\"]", "{\"meta\":{\"a\":1}}");
	check_filter(doc, NULL, "[\"body\", \"tags\"]",
	             "{\"meta\":{\"a\":1,\"b\":2},\"title\":\"t\"}");
	check_filter(doc, "[\"t*\"]", NULL,
	             "{\"tags\":[{\"x\":1,\"y\":2},{\"y\":3},4],\"title\":\"t\"}");
	check_filter(doc, "[\"tags.x\"]", NULL, "{\"tags\":[{\"x\":1}]}");
	check_filter(doc, "[\"*\"]", "[\"*.y\"]",
	             "{\"body\":\"b\",\"meta\":{\"a\":1,\"b\":2},\"tags\":[{\"x\":1},{},4],"
	             "\"title\":\"t\"}");
	check_filter(doc, "[\"nothing\"]", NULL, "{}");
	check_filter("[1, 2]", "[\"a\"]", NULL, "[1,2]");
}

/* ---- rendering ---- */

/* The answer os_render_search writes, parsed. */
static json_t *rendered(const root_result *res, const os_search_req *sr)
{
	char *s = os_render_search(res, sr, "wiki", 0);
	assert_non_null(s);
	json_t *j = load(s);
	free(s);
	return j;
}

static void test_render(void **state)
{
	(void)state;
	root_hit hits[2] = {
	    {"d1", 2.5, "{\"title\": \"One\", \"body\": \"x\"}", 29, NULL, 0},
	    {"d2", 1.25, NULL, 0, NULL, 1},
	};
	root_result res = {0};
	res.nhits = 2;
	res.hits = hits;
	res.total = 42;
	res.total_exact = 1;
	res.shards_total = 4;
	res.shards_answered = 3;
	res.shards_failed = 1;
	res.took_us = 2500;
	os_search_req sr = {0};
	sr.size = 10;
	sr.track_total = 1;
	sr.track_limit = UINT64_MAX;
	sr.source = 1;
	/* the stored document as it was stored */
	char *s = os_render_search(&res, &sr, "wiki", 0);
	assert_string_equal(
	    s, "{\"took\":2,\"timed_out\":false,\"_shards\":{\"total\":4,\"successful\":3,"
	       "\"skipped\":0,\"failed\":1},\"hits\":{\"total\":{\"value\":42,\"relation\":\"eq\"},"
	       "\"max_score\":2.5,\"hits\":[{\"_index\":\"wiki\",\"_id\":\"d1\",\"_score\":2.5,"
	       "\"_source\":{\"title\": \"One\", \"body\": "
	       "\"x\"}},{\"_index\":\"wiki\",\"_id\":\"d2\","
	       "\"_score\":1.25}]}}");
	free(s);

	/* a capped total, filtered source, a timed-out shard */
	sr.track_limit = 10;
	sr.source = 2;
	sr.includes = load("[\"title\"]");
	res.shards_timed_out = 1;
	res.shards_failed = 0;
	s = os_render_search(&res, &sr, "wiki", 0);
	assert_string_equal(
	    s,
	    "{\"took\":2,\"timed_out\":true,\"_shards\":{\"total\":4,\"successful\":3,"
	    "\"skipped\":0,\"failed\":1},\"hits\":{\"total\":{\"value\":10,\"relation\":\"gte\"},"
	    "\"max_score\":2.5,\"hits\":[{\"_index\":\"wiki\",\"_id\":\"d1\",\"_score\":2.5,"
	    "\"_source\":{\"title\":\"One\"}},{\"_index\":\"wiki\",\"_id\":\"d2\","
	    "\"_score\":1.25}]}}");
	free(s);
	json_decref(sr.includes);
	sr.includes = NULL;

	/* size 0, no total, integer total */
	sr.size = 0;
	sr.track_total = 0;
	s = os_render_search(&res, &sr, "wiki", 0);
	assert_string_equal(s,
	                    "{\"took\":2,\"timed_out\":true,\"_shards\":{\"total\":4,"
	                    "\"successful\":3,\"skipped\":0,\"failed\":1},\"hits\":{\"max_score\":"
	                    "null,\"hits\":[]}}");
	free(s);
	sr.track_total = 1;
	sr.track_limit = UINT64_MAX;
	sr.rest_total_int = 1;
	res.total_exact = 0;
	json_t *j = rendered(&res, &sr);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "hits"), "total")),
	                 42);
	json_decref(j);

	/* aggregations are rendered as they came */
	char aggv[] = "{\"t\":{\"buckets\":[]}}";
	res.aggs = aggv;
	j = rendered(&res, &sr);
	s = json_dumps(json_object_get(j, "aggregations"), JSON_COMPACT);
	assert_string_equal(s, aggv);
	free(s);
	json_decref(j);
	res.aggs = NULL;

	/* a sorted hit carries its sort values */
	char sortv[] = "[1700000000000,\"12345\"]";
	hits[1].sort = sortv;
	sr.size = 10;
	j = rendered(&res, &sr);
	json_t *h1 = json_array_get(json_object_get(json_object_get(j, "hits"), "hits"), 1);
	s = json_dumps(json_object_get(h1, "sort"), JSON_COMPACT);
	assert_string_equal(s, "[1700000000000,\"12345\"]");
	assert_null(json_object_get(
	    json_array_get(json_object_get(json_object_get(j, "hits"), "hits"), 0), "sort"));
	free(s);
	json_decref(j);
}

/* The text of a search answer: scores at 8 digits, the aggregations whole
 * (they were rounded to 8 digits too: a date's min of 946477226000 became
 * 9.4647723e11, an avg of 157.04291845493563 157.04292), compact and pretty. */
static void test_search_text(void **state)
{
	(void)state;
	root_hit hits[1] = {{0}};
	hits[0].id = "d1";
	hits[0].score = 14.926312f;
	root_result res = {0};
	res.nhits = 1;
	res.hits = hits;
	res.total = 3;
	res.total_exact = 1;
	res.shards_total = res.shards_answered = 1;
	char aggv[] = "{\"s\":{\"count\":3,\"min\":946477226000.0,\"avg\":157.04291845493563,"
	              "\"sum\":56310418267258000.0},\"h\":{\"buckets\":[{\"key\":1009152000000.0,"
	              "\"doc_count\":3}]}}";
	res.aggs = aggv;
	os_search_req sr = {0};
	sr.size = 10;
	sr.track_total = 1;
	sr.track_limit = UINT64_MAX;
	char *s = os_render_search(&res, &sr, "wiki", 0);
	assert_string_equal(
	    s,
	    "{\"took\":0,\"timed_out\":false,\"_shards\":{\"total\":1,\"successful\":1,"
	    "\"skipped\":0,\"failed\":0},\"hits\":{\"total\":{\"value\":3,\"relation\":\"eq\"},"
	    "\"max_score\":14.926312,\"hits\":[{\"_index\":\"wiki\",\"_id\":\"d1\","
	    "\"_score\":14.926312}]},\"aggregations\":{\"s\":{\"count\":3,\"min\":946477226000.0,"
	    "\"avg\":157.04291845493563,\"sum\":56310418267258000.0},\"h\":{\"buckets\":[{"
	    "\"key\":1009152000000.0,\"doc_count\":3}]}}}");
	free(s);
	/* pretty: the same JSON, indented one level deeper in the aggregations */
	s = os_render_search(&res, &sr, "wiki", 1);
	assert_non_null(strstr(s, "\n  \"aggregations\": {\"s\":{\"count\":3,"));
	json_t *p = load(s), *c = load(aggv);
	assert_true(json_equal(json_object_get(p, "aggregations"), c));
	json_decref(p);
	json_decref(c);
	free(s);
	/* a double's sort value and a stored document's doubles as they were
	 * written (at 8 digits, 0.123456789 came back as 0.12345679, and
	 * search_after with it named another hit) */
	res.aggs = NULL;
	char doc[] = "{\"ratio\": 0.123456789012, \"big\": 946477226000}";
	char sortv[] = "[0.123456789012,\"42\"]";
	hits[0].doc = doc;
	hits[0].doc_len = strlen(doc);
	hits[0].sort = sortv;
	sr.source = 1;
	s = os_render_search(&res, &sr, "wiki", 0);
	assert_non_null(
	    strstr(s, "\"_source\":{\"ratio\": 0.123456789012, \"big\": 946477226000}"));
	assert_non_null(strstr(s, "\"sort\":[0.123456789012,\"42\"]"));
	free(s);
	/* filtered, the kept fields at full precision */
	sr.source = 2;
	sr.includes = load("[\"ratio\"]");
	s = os_render_search(&res, &sr, "wiki", 1);
	assert_non_null(strstr(s, "\"_source\": {\"ratio\":0.123456789012}"));
	free(s);
	json_decref(sr.includes);
	sr.includes = NULL;
	/* a string that looks like a mark is a string */
	char tricky[] = "{\"t\": \"\\u0001ffffffffffffffff:0\\u0001\"}";
	hits[0].doc = tricky;
	hits[0].doc_len = strlen(tricky);
	sr.includes = load("[\"t\"]");
	s = os_render_search(&res, &sr, "wiki", 0);
	assert_non_null(strstr(s, "\"_source\":{\"t\":\"\\u0001ffffffffffffffff:0\\u0001\"}"));
	free(s);
	json_decref(sr.includes);
}

/* ---- the mapping of a schema (root/mapping.c) ---- */

static void on_warning(void *ctx, const char *msg)
{
	fail_msg("trawl_schema_from_mappings warned: %s", msg);
}

/* m's JSON text, compact (freed by the caller). */
static char *compact(const json_t *m)
{
	char *s = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER);
	assert_non_null(s);
	return s;
}

static void test_mapping(void **state)
{
	/* a canonical schema with every type and setting */
	const char *schema =
	    "{\"fields\":{\"title\":{\"type\":\"text\",\"analyzer\":\"english\",\"boost\":0.5,"
	    "\"k1\":0.9,\"b\":0.4,\"fields\":{\"raw\":{\"type\":\"keyword\",\"index\":true,"
	    "\"doc_values\":true,\"ignore_above\":256}}},\"sku\":{\"type\":\"text\",\"analyzer\":"
	    "\"plain\",\"boost\":2.0,\"k1\":0.9,\"b\":0.4},\"tag\":{\"type\":\"keyword\",\"index\":"
	    "true,\"doc_values\":true,\"normalizer\":\"lowercase\"},\"n\":{\"type\":\"long\","
	    "\"index\":false,\"doc_values\":true},\"x\":{\"type\":\"double\",\"index\":true,"
	    "\"doc_values\":false},\"d\":{\"type\":\"date\",\"index\":true,\"doc_values\":true},"
	    "\"ok\":{\"type\":\"boolean\",\"index\":true,\"doc_values\":true}},\"store\":\"all\"}";
	const char *want =
	    "{\"properties\":{\"title\":{\"type\":\"text\",\"analyzer\":\"english\",\"fields\":"
	    "{\"raw\":{\"type\":\"keyword\",\"ignore_above\":256}}},\"sku\":{\"type\":\"text\"},"
	    "\"tag\":{\"type\":\"keyword\",\"normalizer\":\"lowercase\"},\"n\":{\"type\":\"long\","
	    "\"index\":false},\"x\":{\"type\":\"double\",\"doc_values\":false},\"d\":{\"type\":"
	    "\"date\"},\"ok\":{\"type\":\"boolean\"}}}";
	json_t *m = NULL;
	char err[256];
	assert_int_equal(mapping_from_schema(schema, strlen(schema), &m, err, sizeof err),
	                 TRAWL_OK);
	char *got = compact(m);
	assert_string_equal(got, want);
	free(got);

	/* the inverse: trawl schema --from-mappings gives the same fields back,
	 * without a warning, and their mapping is the same again */
	char *answer = NULL, *back = NULL;
	json_t *wrapped = json_pack("{s:{s:O}}", "ix", "mappings", m);
	char *text = compact(wrapped);
	assert_int_equal(trawl_schema_from_mappings(text, strlen(text), &back, on_warning, NULL,
	                                            err, sizeof err),
	                 TRAWL_OK);
	json_t *m2 = NULL;
	assert_int_equal(mapping_from_schema(back, strlen(back), &m2, err, sizeof err), TRAWL_OK);
	answer = compact(m2);
	assert_string_equal(answer, want);
	free(answer);
	free(back);
	free(text);
	json_decref(wrapped);
	json_decref(m2);
	json_decref(m);

	/* what the schema stores: all (nothing said), none, a list */
	const char *none = "{\"fields\":{\"t\":{\"type\":\"text\"}},\"store\":\"none\"}";
	assert_int_equal(mapping_from_schema(none, strlen(none), &m, err, sizeof err), TRAWL_OK);
	got = compact(json_object_get(m, "_source"));
	assert_string_equal(got, "{\"enabled\":false}");
	free(got);
	json_decref(m);
	const char *list = "{\"fields\":{\"t\":{\"type\":\"text\"}},\"store\":[\"t\",\"url\"]}";
	assert_int_equal(mapping_from_schema(list, strlen(list), &m, err, sizeof err), TRAWL_OK);
	got = compact(json_object_get(m, "_source"));
	assert_string_equal(got, "{\"includes\":[\"t\",\"url\"]}");
	free(got);
	json_decref(m);

	/* what is not a schema this root knows is an error naming it */
	static const struct {
		const char *in, *err;
	} bad[] = {
	    {"{", "schema: "},
	    {"[]", "schema: no \"fields\" object"},
	    {"{\"fields\":{\"g\":{\"type\":\"geo_point\"}}}",
	     "schema: field g has the type \"geo_point\", which this root does not know"},
	    {"{\"fields\":{\"g\":{}}}", "schema: field g has the type \"\""},
	    {"{\"fields\":{\"t\":{\"type\":\"text\",\"fields\":{\"n\":{\"type\":\"long\"}}}}}",
	     "schema: the twin t.n is not a keyword field"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = 0;
		m = NULL;
		assert_int_equal(
		    mapping_from_schema(bad[i].in, strlen(bad[i].in), &m, err, sizeof err),
		    TRAWL_ESCHEMA);
		assert_null(m);
		if (strncmp(err, bad[i].err, strlen(bad[i].err)))
			fail_msg("%s: error \"%s\", want \"%s...\"", bad[i].in, err, bad[i].err);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_ok),    cmocka_unit_test(test_request_errors),
	    cmocka_unit_test(test_source_filter), cmocka_unit_test(test_render),
	    cmocka_unit_test(test_search_text),   cmocka_unit_test(test_mapping),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
