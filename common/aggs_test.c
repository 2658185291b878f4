/*
 * aggs_test.c - the aggregations' requests and partial results
 * (common/aggs.h): parse errors with their exact messages and every limit,
 * the canonical form round-tripping, the dates and Java's double strings,
 * exact sums in any order, merges in any order giving one answer, partials
 * round-tripping through their JSON and damaged ones refused, and the
 * rendered answers against Elasticsearch's shapes written out by hand.
 * index/aggs_collect_test.c checks the results against brute force on
 * real shards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/aggs.h"
#include "trawl/trawl.h"

/* Allocations made to fail: the program is linked with --wrap for malloc,
 * calloc and realloc (common/meson.build), so that every allocation of the
 * module's code can fail in turn (fail_at: the number of allocations that
 * succeed first; -1: none fails). */
static volatile long fail_at = -1, allocs;
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
static int fails(void)
{
	return fail_at >= 0 && allocs++ >= fail_at;
}
void *__wrap_malloc(size_t n)
{
	return fails() ? NULL : __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t m)
{
	return fails() ? NULL : __real_calloc(n, m);
}
void *__wrap_realloc(void *p, size_t n)
{
	return fails() ? NULL : __real_realloc(p, n);
}

static uint64_t rs = 0x2545F4914F6CDD1Dull;
static uint64_t rnd(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return rs;
}

/* The test's query compiler: the query's compact JSON is its bytes; a
 * query with member "bad" fails. */
static int compile(void *ctx, json_t *q, void **out, size_t *len, char *err, size_t errlen)
{
	(void)ctx;
	if (json_object_get(q, "bad")) {
		snprintf(err, errlen, "[bad] is not a query");
		return TRAWL_EQUERY;
	}
	char *t = json_dumps(q, JSON_COMPACT | JSON_SORT_KEYS);
	if (!t)
		return TRAWL_ENOMEM;
	*out = t;
	*len = strlen(t);
	return TRAWL_OK;
}

static int parse_text(const char *text, aggs_spec **out, char *err, size_t errlen)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	if (!j)
		fail_msg("bad test JSON %s: %s", text, je.text);
	int rc = aggs_parse(j, compile, NULL, out, err, errlen);
	json_decref(j);
	return rc;
}

static aggs_spec *spec_of(const char *text)
{
	aggs_spec *s = NULL;
	char err[512] = "";
	if (parse_text(text, &s, err, sizeof err))
		fail_msg("%s: %s", text, err);
	return s;
}

/* ---- parse errors ---- */

typedef struct perr_case {
	const char *json;
	int code;
	const char *msg; /* exact, or a prefix when it ends with "..." */
} perr_case;

static void check_msg(const char *json, const char *want, const char *got)
{
	size_t n = strlen(want);
	if (n > 3 && !strcmp(want + n - 3, "...")) {
		if (strncmp(got, want, n - 3))
			fail_msg("%s:\n want %s\n got  %s", json, want, got);
	} else if (strcmp(got, want)) {
		fail_msg("%s:\n want %s\n got  %s", json, want, got);
	}
}

static void test_parse_errors(void **state)
{
	static const perr_case cases[] = {
	    {"[]", TRAWL_EINVAL, "aggs: expected an object of named aggregations, got an array"},
	    {"{\"a\": 3}", TRAWL_EINVAL,
	     "aggs.a: expected an object with the aggregation's type, as {\"terms\": {\"field\": "
	     "...}}, got a number"},
	    {"{\"a\": {}}", TRAWL_EINVAL,
	     "aggs.a: no aggregation type (as {\"terms\": {\"field\": ...}})"},
	    {"{\"a\": {\"termz\": {}}}", TRAWL_EINVAL,
	     "aggs.a: unknown aggregation type \"termz\" (terms..."},
	    {"{\"a\": {\"terms\": {\"field\": \"s\"}, \"meta\": {}}}", TRAWL_EINVAL,
	     "aggs.a: unknown aggregation type \"meta\" (meta is not supported)"},
	    {"{\"a\": {\"terms\": {\"field\": \"s\"}, \"range\": {}}}", TRAWL_EINVAL,
	     "aggs.a: two aggregation types, terms and range"},
	    {"{\"a\": {\"terms\": {}}}", TRAWL_EINVAL,
	     "aggs.a.terms: no field given (\"field\": ...)"},
	    {"{\"a\": {\"terms\": {\"field\": 3}}}", TRAWL_EINVAL,
	     "aggs.a.terms.field: expected a string, got a number"},
	    {"{\"a\": {\"terms\": {\"field\": \"s\", \"size\": 0}}}", TRAWL_EINVAL,
	     "aggs.a.terms.size: 0 is out of range: 1 to 65536 (LIMIT_AGG_BUCKETS)"},
	    {"{\"a\": {\"terms\": {\"field\": \"s\", \"size\": 65537}}}", TRAWL_ELIMIT,
	     "aggs.a.terms.size: 65537 is out of range: 1 to 65536 (LIMIT_AGG_BUCKETS)"},
	    {"{\"a\": {\"terms\": {\"field\": \"s\", \"size\": \"10\"}}}", TRAWL_EINVAL,
	     "aggs.a.terms.size: expected an integer, got a string"},
	    {"{\"a\": {\"terms\": {\"field\": \"s\", \"sise\": 3}}}", TRAWL_EINVAL,
	     "aggs.a.terms.sise: unknown parameter of terms"},
	    {"{\"a\": {\"terms\": {\"field\": \"s\", \"script\": \"x\"}}}", TRAWL_EINVAL,
	     "aggs.a.terms.script: scripts are not supported"},
	    {"{\"a\": {\"terms\": {\"field\": \"s\", \"include\": \"a.*\"}}}", TRAWL_EINVAL,
	     "aggs.a.terms.include: a regular expression is not supported: give an array of "
	     "values"},
	    {"{\"a\": {\"terms\": {\"field\": \"s\", \"missing\": null}}}", TRAWL_EINVAL,
	     "aggs.a.terms.missing: expected a string, number or boolean, got null"},
	    {"{\"a\": {\"terms\": {\"field\": \"s\", \"order\": {\"_count\": \"up\"}}}}",
	     TRAWL_EINVAL, "aggs.a.terms.order._count: expected \"asc\" or \"desc\""},
	    {"{\"a\": {\"terms\": {\"field\": \"s\", \"order\": {\"nope\": \"asc\"}}}}",
	     TRAWL_EINVAL,
	     "aggs.a.terms.order: \"nope\" is not _count, _key or a metric sub-aggregation"},
	    {"{\"a\": {\"terms\": {\"field\": \"s\", \"order\": {\"b\": \"asc\"}}, \"aggs\": "
	     "{\"b\": "
	     "{\"terms\": {\"field\": \"t\"}}}}}",
	     TRAWL_EINVAL,
	     "aggs.a.terms.order: \"b\" is a terms: an order names a metric sub-aggregation"},
	    {"{\"a\": {\"terms\": {\"field\": \"s\", \"order\": {\"b\": \"asc\"}}, \"aggs\": "
	     "{\"b\": "
	     "{\"stats\": {\"field\": \"t\"}}}}}",
	     TRAWL_EINVAL,
	     "aggs.a.terms.order: \"b\": name a statistic of the stats (b.count, .min, .max, .avg "
	     "or .sum)"},
	    {"{\"a\": {\"avg\": {\"field\": \"x\"}, \"aggs\": {\"b\": {\"min\": {\"field\": "
	     "\"y\"}}}}}",
	     TRAWL_EINVAL, "aggs.a: avg is a metric: it takes no sub-aggregations"},
	    {"{\"a\": {\"terms\": {\"field\": \"s\"}, \"aggs\": {\"b\": {\"histogram\": "
	     "{\"field\": "
	     "\"x\", \"interval\": 0}}}}}",
	     TRAWL_EINVAL, "aggs.a.aggs.b.histogram.interval: must be above 0"},
	    {"{\"h\": {\"histogram\": {\"field\": \"x\"}}}", TRAWL_EINVAL,
	     "aggs.h.histogram: no interval given (interval)"},
	    {"{\"h\": {\"histogram\": {\"field\": \"x\", \"interval\": 1, \"extended_bounds\": "
	     "{\"min\": 5, \"max\": 1}}}}",
	     TRAWL_EINVAL, "aggs.h.histogram.extended_bounds: min is after max"},
	    {"{\"d\": {\"date_histogram\": {\"field\": \"d\", \"interval\": \"month\"}}}",
	     TRAWL_EINVAL,
	     "aggs.d.date_histogram.interval: deprecated in Elasticsearch and not supported: use "
	     "fixed_interval or calendar_interval"},
	    {"{\"d\": {\"date_histogram\": {\"field\": \"d\"}}}", TRAWL_EINVAL,
	     "aggs.d.date_histogram: no interval given (fixed_interval or calendar_interval)"},
	    {"{\"d\": {\"date_histogram\": {\"field\": \"d\", \"calendar_interval\": \"2M\"}}}",
	     TRAWL_EINVAL,
	     "aggs.d.date_histogram.calendar_interval: \"2M\" is not a calendar unit..."},
	    {"{\"d\": {\"date_histogram\": {\"field\": \"d\", \"fixed_interval\": \"0s\"}}}",
	     TRAWL_EINVAL,
	     "aggs.d.date_histogram.fixed_interval: \"0s\" is not a positive duration (a number "
	     "and "
	     "ms, s, m, h or d: 30s, 5m, 12h, 7d)"},
	    {"{\"d\": {\"date_histogram\": {\"field\": \"d\", \"fixed_interval\": \"1M\"}}}",
	     TRAWL_EINVAL,
	     "aggs.d.date_histogram.fixed_interval: \"1M\" is not a positive duration..."},
	    {"{\"d\": {\"date_histogram\": {\"field\": \"d\", \"fixed_interval\": \"1h\", "
	     "\"calendar_interval\": \"day\"}}}",
	     TRAWL_EINVAL,
	     "aggs.d.date_histogram: give one of fixed_interval and calendar_interval"},
	    {"{\"d\": {\"date_histogram\": {\"field\": \"d\", \"calendar_interval\": \"day\", "
	     "\"time_zone\": \"Europe/Paris\"}}}",
	     TRAWL_EINVAL,
	     "aggs.d.date_histogram.time_zone: \"Europe/Paris\" is not supported: only fixed "
	     "offsets "
	     "are (+01:00, -05:30, UTC, Z; at most 18 hours), not time zone names"},
	    {"{\"d\": {\"date_histogram\": {\"field\": \"d\", \"calendar_interval\": \"day\", "
	     "\"time_zone\": \"+19:00\"}}}",
	     TRAWL_EINVAL, "aggs.d.date_histogram.time_zone: \"+19:00\" is not supported..."},
	    {"{\"d\": {\"date_histogram\": {\"field\": \"d\", \"calendar_interval\": \"day\", "
	     "\"format\": \"yyyy-MM\"}}}",
	     TRAWL_EINVAL,
	     "aggs.d.date_histogram.format: \"yyyy-MM\" is not supported: only "
	     "strict_date_optional_time and epoch_millis are"},
	    {"{\"r\": {\"range\": {\"field\": \"x\"}}}", TRAWL_EINVAL,
	     "aggs.r.range: no ranges given (\"ranges\": [{\"to\": ...}, ...])"},
	    {"{\"r\": {\"range\": {\"field\": \"x\", \"ranges\": []}}}", TRAWL_EINVAL,
	     "aggs.r.range.ranges: expected a non-empty array, got an empty array"},
	    {"{\"r\": {\"range\": {\"field\": \"x\", \"ranges\": [{\"from\": \"a\"}]}}}",
	     TRAWL_EINVAL, "aggs.r.range.ranges[0].from: expected a number, got a string"},
	    {"{\"r\": {\"range\": {\"field\": \"x\", \"ranges\": [{\"form\": 1}]}}}", TRAWL_EINVAL,
	     "aggs.r.range.ranges[0].form: unknown member of a range (from, to, key)"},
	    {"{\"r\": {\"date_range\": {\"field\": \"d\", \"ranges\": [{\"from\": \"now-1d\"}]}}}",
	     TRAWL_EINVAL, "aggs.r.date_range.ranges[0].from: \"now-1d\" is not a date..."},
	    {"{\"r\": {\"date_range\": {\"field\": \"d\", \"ranges\": [{\"from\": "
	     "\"2023-02-29\"}]}}}",
	     TRAWL_EINVAL, "aggs.r.date_range.ranges[0].from: \"2023-02-29\" is not a date..."},
	    {"{\"p\": {\"percentiles\": {\"field\": \"x\", \"percents\": [50, 101]}}}",
	     TRAWL_EINVAL, "aggs.p.percentiles.percents[1]: 101 is not within 0 to 100"},
	    {"{\"p\": {\"percentiles\": {\"field\": \"x\", \"percents\": []}}}", TRAWL_EINVAL,
	     "aggs.p.percentiles.percents: expected a non-empty array of numbers"},
	    {"{\"c\": {\"cardinality\": {\"field\": \"x\", \"precision_threshold\": -1}}}",
	     TRAWL_EINVAL,
	     "aggs.c.cardinality.precision_threshold: -1 is out of range: 0 to "
	     "9223372036854775807"},
	    {"{\"f\": {\"filter\": {\"bad\": 1}}}", TRAWL_EQUERY,
	     "aggs.f.filter: [bad] is not a query"},
	    {"{\"f\": {\"filter\": 3}}", TRAWL_EINVAL,
	     "aggs.f.filter: expected a query object, got a number"},
	    {"{\"f\": {\"filters\": {\"filters\": {\"x\": {\"bad\": 1}}}}}", TRAWL_EQUERY,
	     "aggs.f.filters.filters.x: [bad] is not a query"},
	    {"{\"f\": {\"filters\": {\"filters\": {}}}}", TRAWL_EINVAL,
	     "aggs.f.filters.filters: no query given"},
	    {"{\"f\": {\"filters\": {\"other\": true}}}", TRAWL_EINVAL,
	     "aggs.f.filters.other: unknown parameter of filters"},
	    {"{\"m\": {\"missing\": {\"field\": \"x\", \"missing\": 3}}}", TRAWL_EINVAL,
	     "aggs.m.missing.missing: unknown parameter of missing"},
	    {"{\"a>b\": {\"missing\": {\"field\": \"x\"}}}", TRAWL_EINVAL,
	     "aggs: the name \"a>b\" holds '[', ']' or '>', which aggregation names may not"},
	    {"{\"\": {\"missing\": {\"field\": \"x\"}}}", TRAWL_EINVAL,
	     "aggs: an aggregation has an empty name"},
	    {"{\"a\": {\"terms\": {\"field\": \"s\"}, \"aggs\": []}}", TRAWL_EINVAL,
	     "aggs.a.aggs: expected an object of named aggregations, got an array"},
	    {"{\"a\": {\"terms\": {\"field\": \"s\"}, \"aggs\": {}, \"aggregations\": {}}}",
	     TRAWL_EINVAL, "aggs.a: both aggs and aggregations"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		aggs_spec *s = (aggs_spec *)1;
		char err[1024] = "";
		int rc = parse_text(cases[i].json, &s, err, sizeof err);
		if (rc != cases[i].code)
			fail_msg("%s: code %d, want %d (%s)", cases[i].json, rc, cases[i].code,
			         err);
		assert_null(s);
		check_msg(cases[i].json, cases[i].msg, err);
	}
	/* a filter without a compiler */
	json_t *j = json_loads("{\"f\": {\"filter\": {\"match_all\": {}}}}", 0, NULL);
	aggs_spec *s = NULL;
	char err[512];
	assert_int_equal(aggs_parse(j, NULL, NULL, &s, err, sizeof err), TRAWL_EINVAL);
	assert_string_equal(err, "aggs.f.filter: queries in aggregations are not supported here");
	json_decref(j);
}

/* Nesting, node count, names and lists at their limits and one beyond. */
static void test_parse_limits(void **state)
{
	static char buf[8 << 20];
	char err[512];
	aggs_spec *s;
	for (int depth = LIMIT_AGG_DEPTH; depth <= LIMIT_AGG_DEPTH + 1; depth++) {
		size_t n = 0;
		for (int d = 0; d < depth; d++)
			n += (size_t)snprintf(
			    buf + n, sizeof buf - n,
			    "%s{\"l%d\": {\"terms\": {\"field\": \"s\"}, \"aggs\": ", d ? "" : "",
			    d);
		n += (size_t)snprintf(buf + n, sizeof buf - n, "{}");
		for (int d = 0; d < depth; d++)
			n += (size_t)snprintf(buf + n, sizeof buf - n, "}}");
		int rc = parse_text(buf, &s, err, sizeof err);
		if (depth == LIMIT_AGG_DEPTH) {
			assert_int_equal(rc, TRAWL_OK);
			aggs_spec_free(s);
		} else {
			assert_int_equal(rc, TRAWL_ELIMIT);
			check_msg(
			    buf,
			    "aggs.l0.aggs.l1.aggs.l2.aggs.l3.aggs.l4.aggs.l5.aggs.l6.aggs.l7: "
			    "aggregations nest more than 8 deep (LIMIT_AGG_DEPTH)",
			    err);
		}
	}
	for (int nodes = LIMIT_AGG_NODES; nodes <= LIMIT_AGG_NODES + 1; nodes++) {
		size_t n = (size_t)snprintf(buf, sizeof buf, "{");
		for (int i = 0; i < nodes; i++)
			n += (size_t)snprintf(buf + n, sizeof buf - n,
			                      "%s\"m%d\": {\"max\": {\"field\": \"x\"}}",
			                      i ? "," : "", i);
		snprintf(buf + n, sizeof buf - n, "}");
		int rc = parse_text(buf, &s, err, sizeof err);
		if (nodes == LIMIT_AGG_NODES) {
			assert_int_equal(rc, TRAWL_OK);
			assert_int_equal(s->nsubs, LIMIT_AGG_NODES);
			aggs_spec_free(s);
		} else {
			assert_int_equal(rc, TRAWL_ELIMIT);
			assert_string_equal(err, "aggs: more than 256 aggregations in the request "
			                         "(LIMIT_AGG_NODES)");
		}
	}
	/* a name of LIMIT_AGG_NAME_BYTES, and one byte more */
	for (int len = LIMIT_AGG_NAME_BYTES; len <= LIMIT_AGG_NAME_BYTES + 1; len++) {
		snprintf(buf, sizeof buf, "{\"%.*s\": {\"max\": {\"field\": \"x\"}}}", len,
		         "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
		         "nnnnnnn"
		         "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
		         "nnnnnnn");
		int rc = parse_text(buf, &s, err, sizeof err);
		assert_int_equal(rc, len == LIMIT_AGG_NAME_BYTES ? TRAWL_OK : TRAWL_ELIMIT);
		if (!rc)
			aggs_spec_free(s);
		else
			check_msg(buf, "aggs: the name \"nnn...", err);
	}
	/* ranges, percents, include values */
	struct {
		const char *head, *item, *tail;
		int limit;
		const char *msg;
	} lists[] = {
	    {"{\"r\": {\"range\": {\"field\": \"x\", \"ranges\": [", "{\"to\": %d}", "]}}}",
	     LIMIT_AGG_RANGES, "aggs.r.range.ranges: more than 256 ranges (LIMIT_AGG_RANGES)"},
	    {"{\"p\": {\"percentiles\": {\"field\": \"x\", \"percents\": [", "%d", "]}}}",
	     LIMIT_AGG_PERCENTS,
	     "aggs.p.percentiles.percents: more than 100 percents (LIMIT_AGG_PERCENTS)"},
	    {"{\"t\": {\"terms\": {\"field\": \"x\", \"include\": [", "%d", "]}}}",
	     LIMIT_AGG_TERMS_LIST,
	     "aggs.t.terms.include: more than 1024 values (LIMIT_AGG_TERMS_LIST)"},
	    {"{\"f\": {\"filters\": {\"filters\": [", "{\"term\": {\"x\": %d}}", "]}}}",
	     LIMIT_AGG_FILTERS,
	     "aggs.f.filters.filters: more than 256 queries (LIMIT_AGG_FILTERS)"},
	};
	for (size_t l = 0; l < sizeof lists / sizeof *lists; l++)
		for (int cnt = lists[l].limit; cnt <= lists[l].limit + 1; cnt++) {
			size_t n = (size_t)snprintf(buf, sizeof buf, "%s", lists[l].head);
			for (int i = 0; i < cnt; i++) {
				if (i)
					buf[n++] = ',';
				if (l == 0)
					n += (size_t)snprintf(buf + n, sizeof buf - n,
					                      "{\"to\": %d}", i % 100);
				else if (l == 3)
					n += (size_t)snprintf(buf + n, sizeof buf - n,
					                      "{\"term\": {\"x\": %d}}", i % 100);
				else
					n += (size_t)snprintf(buf + n, sizeof buf - n, "%d",
					                      i % 100);
			}
			snprintf(buf + n, sizeof buf - n, "%s", lists[l].tail);
			int rc = parse_text(buf, &s, err, sizeof err);
			if (cnt == lists[l].limit) {
				if (rc)
					fail_msg("%s", err);
				aggs_spec_free(s);
			} else {
				assert_int_equal(rc, TRAWL_ELIMIT);
				assert_string_equal(err, lists[l].msg);
			}
		}
	/* the canonical form's bound: big include lists in many terms */
	size_t n = (size_t)snprintf(buf, sizeof buf, "{");
	for (int t = 0; t < 8; t++) {
		n += (size_t)snprintf(buf + n, sizeof buf - n,
		                      "%s\"t%d\": {\"terms\": {\"field\": \"x\", \"include\": [",
		                      t ? "," : "", t);
		for (int i = 0; i < 700; i++)
			n += (size_t)snprintf(buf + n, sizeof buf - n, "%s\"%0900d\"", i ? "," : "",
			                      i);
		n += (size_t)snprintf(buf + n, sizeof buf - n, "]}}");
	}
	snprintf(buf + n, sizeof buf - n, "}");
	char *big = malloc(strlen(buf) * 2 + 1);
	strcpy(big, buf);
	/* 8 x 700 x 900 bytes = 5 MB > 4 MiB: refused, naming the limit */
	int rc = parse_text(big, &s, err, sizeof err);
	assert_int_equal(rc, TRAWL_ELIMIT);
	assert_string_equal(err, "aggs: the aggregations take more than 4194304 bytes in canonical "
	                         "form, their queries included (LIMIT_AGG_SPEC_BYTES)");
	free(big);
}

/* ---- the canonical form ---- */

static char *canon(const aggs_spec *s)
{
	char *t;
	size_t n;
	assert_int_equal(aggs_spec_write(s, &t, &n), TRAWL_OK);
	assert_int_equal(strlen(t), n);
	return t;
}

static const char *const FULL =
    "{\"by_section\": {\"terms\": {\"field\": \"section\", \"size\": 5, \"min_doc_count\": 0, "
    "\"order\": [{\"avg_size\": \"desc\"}, {\"_key\": \"asc\"}], \"missing\": \"none\", "
    "\"include\": [\"a\", 3, true, 2.5], \"exclude\": [\"b\"], \"shard_size\": 100, "
    "\"execution_hint\": \"map\", \"show_term_doc_count_error\": true},"
    " \"aggs\": {\"avg_size\": {\"avg\": {\"field\": \"size\"}},"
    "   \"st\": {\"stats\": {\"field\": \"size\"}},"
    "   \"months\": {\"date_histogram\": {\"field\": \"date\", \"calendar_interval\": \"1M\", "
    "\"time_zone\": \"-05:30\", \"offset\": \"+6h\", \"min_doc_count\": 1, \"extended_bounds\": "
    "{\"min\": \"2024-01-01\", \"max\": 1717200000000}, \"format\": \"epoch_millis\", "
    "\"keyed\": true, \"order\": {\"_count\": \"desc\"}},"
    "     \"aggs\": {\"pct\": {\"percentiles\": {\"field\": \"size\", \"percents\": [50, 99.9], "
    "\"keyed\": false, \"tdigest\": {\"compression\": 200}}}}}}},"
    " \"fixed\": {\"date_histogram\": {\"field\": \"date\", \"fixed_interval\": \"90m\"}},"
    " \"sizes\": {\"histogram\": {\"field\": \"size\", \"interval\": 2.5, \"offset\": -1, "
    "\"extended_bounds\": {\"min\": -10, \"max\": 10}}},"
    " \"ranges\": {\"range\": {\"field\": \"size\", \"keyed\": true, \"ranges\": [{\"from\": 10, "
    "\"key\": \"big\"}, {\"to\": 10}, {\"from\": 0, \"to\": 10}]}},"
    " \"dates\": {\"date_range\": {\"field\": \"date\", \"time_zone\": \"+01:00\", \"ranges\": "
    "[{\"to\": \"2024-01-01\"}, {\"from\": \"2024-01-01T00:00:00Z\"}, {\"from\": 1700000000000, "
    "\"to\": null}]}},"
    " \"f\": {\"filter\": {\"term\": {\"tag\": \"x\"}}, \"aggs\": {\"n\": {\"value_count\": "
    "{\"field\": \"tag\"}}}},"
    " \"fs\": {\"filters\": {\"filters\": {\"zz\": {\"match_all\": {}}, \"aa\": {\"term\": "
    "{\"a\": 1}}}, \"other_bucket_key\": \"rest\"}},"
    " \"anon\": {\"filters\": {\"filters\": [{\"match_all\": {}}]}},"
    " \"miss\": {\"missing\": {\"field\": \"tag\"}, \"aggregations\": {\"c\": {\"cardinality\": "
    "{\"field\": \"tag\", \"precision_threshold\": 100}}}},"
    " \"mn\": {\"min\": {\"field\": \"size\"}}, \"mx\": {\"max\": {\"field\": \"size\"}},"
    " \"sm\": {\"sum\": {\"field\": \"size\"}}}";

static void test_canonical_round_trip(void **state)
{
	/* a small request's canonical form, pinned */
	aggs_spec *s = spec_of("{\"a\": {\"terms\": {\"field\": \"s\"}}}");
	char *t = canon(s);
	assert_string_equal(t, "{\"a\":{\"terms\":{\"field\":\"s\",\"size\":10,\"min_doc_count\":1,"
	                       "\"order\":[{\"_count\":\"desc\"}],"
	                       "\"show_term_doc_count_error\":false}}}");
	free(t);
	aggs_spec_free(s);
	/* every kind and parameter: write, read, write again: the same bytes */
	s = spec_of(FULL);
	t = canon(s);
	aggs_spec *back = NULL;
	char err[512] = "";
	if (aggs_spec_read(t, strlen(t), &back, err, sizeof err))
		fail_msg("%s\n%s", err, t);
	char *t2 = canon(back);
	assert_string_equal(t, t2);
	/* what the parse made of the request */
	const aggs_spec *bs = &s->subs[0];
	assert_int_equal(bs->kind, AGGS_TERMS);
	assert_string_equal(bs->path, "aggs.by_section");
	assert_int_equal(bs->norder, 2);
	assert_int_equal(bs->order[0].by, AGGS_ORDER_METRIC);
	assert_int_equal(bs->ninclude, 4);
	assert_string_equal(bs->include[1].text, "3");
	assert_string_equal(bs->include[2].text, "true");
	assert_string_equal(bs->include[3].text, "2.5");
	const aggs_spec *mo = &bs->subs[2];
	assert_string_equal(mo->path, "aggs.by_section.aggs.months");
	assert_int_equal(mo->cal, AGGS_CAL_MONTH);
	assert_int_equal(mo->tz_min, -330);
	assert_int_equal(mo->offset_ms, 6 * 3600000);
	/* 2024-01-01 in -05:30 */
	assert_int_equal(mo->bmin_ms, 1704067200000LL + 330 * 60000);
	assert_int_equal(mo->subs[0].npercents, 2);
	const aggs_spec *fx = &s->subs[1];
	assert_int_equal(fx->fixed_ms, 90 * 60000);
	/* ranges sorted by from, then to; keys kept */
	const aggs_spec *rg = &s->subs[3];
	assert_false(rg->ranges[0].has_from);
	assert_true(rg->ranges[1].from == 0 && rg->ranges[2].from == 10);
	assert_string_equal(rg->ranges[2].key, "big");
	const aggs_spec *dr = &s->subs[4];
	assert_true(dr->ranges[0].has_to && dr->ranges[0].to == 1704067200000.0 - 3600000.0);
	assert_true(dr->ranges[1].from == 1700000000000.0 && !dr->ranges[1].has_to);
	assert_true(dr->ranges[2].from == 1704067200000.0);
	/* filters: bytes kept, named ones by name */
	const aggs_spec *f = &s->subs[5];
	assert_int_equal(f->flens[0], strlen("{\"term\":{\"tag\":\"x\"}}"));
	assert_memory_equal(f->fbytes[0], "{\"term\":{\"tag\":\"x\"}}", f->flens[0]);
	const aggs_spec *fs = &s->subs[6];
	assert_string_equal(fs->fnames[0], "aa");
	assert_string_equal(fs->fnames[1], "zz");
	assert_true(fs->other_bucket);
	assert_string_equal(fs->other_key, "rest");
	assert_memory_equal(back->subs[6].fbytes[0], fs->fbytes[0], fs->flens[0]);
	assert_null(s->subs[7].fnames);
	free(t);
	free(t2);
	aggs_spec_free(back);
	aggs_spec_free(s);
	/* damaged canonical forms are refused, never crash */
	assert_int_equal(aggs_spec_read("{", 1, &back, err, sizeof err), TRAWL_EJSON);
	assert_int_equal(aggs_spec_read("{\"f\":{\"filter\":\"abc\"}}", 22, &back, err, sizeof err),
	                 TRAWL_EINVAL);
	assert_string_equal(err, "aggs.f.filter: expected the query's bytes in hex");
	assert_int_equal(aggs_spec_read("{\"f\":{\"filter\":\"zz\"}}", 21, &back, err, sizeof err),
	                 TRAWL_EINVAL);
}

/* Random byte changes of requests: parsed or refused, never a crash or a
 * leak (ASan); what parses writes a canonical form that reads back. */
static void test_parse_survives_damage(void **state)
{
	size_t n = strlen(FULL);
	char *t = malloc(n + 1);
	for (int round = 0; round < 3000; round++) {
		memcpy(t, FULL, n + 1);
		int k = 1 + (int)(rnd() % 4);
		for (int i = 0; i < k; i++) {
			size_t at = rnd() % n;
			static const char pool[] = "{}[]\":,0123456789-.aetrsz ";
			t[at] = pool[rnd() % (sizeof pool - 1)];
		}
		json_t *j = json_loads(t, 0, NULL);
		if (!j)
			continue;
		aggs_spec *s = NULL;
		char err[512];
		if (aggs_parse(j, compile, NULL, &s, err, sizeof err) == TRAWL_OK) {
			char *c = canon(s);
			aggs_spec *b = NULL;
			if (aggs_spec_read(c, strlen(c), &b, err, sizeof err))
				fail_msg("%s\n%s", err, c);
			char *c2 = canon(b);
			assert_string_equal(c, c2);
			free(c);
			free(c2);
			aggs_spec_free(b);
			aggs_spec_free(s);
		} else {
			assert_true(strncmp(err, "aggs", 4) == 0);
		}
		json_decref(j);
	}
	free(t);
}

/* ---- dates, doubles, sums ---- */

static int64_t ms_of(const char *iso)
{
	int64_t ms;
	if (aggs_date_parse(iso, strlen(iso), 0, &ms))
		fail_msg("bad date %s", iso);
	return ms;
}

static void test_dates(void **state)
{
	char buf[48];
	assert_int_equal(aggs_date_format(0, 0, buf), 24);
	assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
	aggs_date_format(-1, 0, buf);
	assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
	aggs_date_format(1704063600000LL, 60, buf);
	assert_string_equal(buf, "2024-01-01T00:00:00.000+01:00");
	aggs_date_format(1704067200000LL, -330, buf);
	assert_string_equal(buf, "2023-12-31T18:30:00.000-05:30");
	aggs_date_format(253402300800000LL, 0, buf); /* year 10000 */
	assert_string_equal(buf, "253402300800000");
	int64_t ms;
	assert_int_equal(aggs_date_parse("2024-01-01T00:00:00", 19, 60, &ms), TRAWL_OK);
	assert_int_equal(ms, 1704063600000LL); /* no zone: the time zone given */
	assert_int_equal(aggs_date_parse("2024-01-01T00:00:00Z", 20, 60, &ms), TRAWL_OK);
	assert_int_equal(ms, 1704067200000LL);
	assert_int_equal(aggs_date_parse("-86400000", 9, 0, &ms), TRAWL_OK);
	assert_int_equal(ms, -86400000);
	assert_int_equal(aggs_date_parse("2024-13-01", 10, 0, &ms), TRAWL_EINVAL);
	assert_int_equal(aggs_date_parse("99999999999999999", 17, 0, &ms), TRAWL_EINVAL);
	assert_int_equal(aggs_date_parse("", 0, 0, &ms), TRAWL_EINVAL);

	/* calendar rounding across month, year and week boundaries, in zones */
	struct {
		const char *spec, *value, *key, *next;
	} cases[] = {
	    {"\"calendar_interval\": \"month\"", "2024-02-29T23:59:59.999Z", "2024-02-01T00:00:00Z",
	     "2024-03-01T00:00:00Z"},
	    {"\"calendar_interval\": \"month\", \"time_zone\": \"+01:00\"", "2024-01-31T23:30:00Z",
	     "2024-01-31T23:00:00Z", "2024-02-29T23:00:00Z"},
	    {"\"calendar_interval\": \"1y\", \"time_zone\": \"+01:00\"", "2023-12-31T23:30:00Z",
	     "2023-12-31T23:00:00Z", "2024-12-31T23:00:00Z"},
	    {"\"calendar_interval\": \"year\", \"time_zone\": \"-05:00\"", "2024-01-01T03:00:00Z",
	     "2023-01-01T05:00:00Z", "2024-01-01T05:00:00Z"},
	    {"\"calendar_interval\": \"quarter\"", "2024-05-15T10:00:00Z", "2024-04-01T00:00:00Z",
	     "2024-07-01T00:00:00Z"},
	    {"\"calendar_interval\": \"1q\"", "2023-12-31T00:00:00Z", "2023-10-01T00:00:00Z",
	     "2024-01-01T00:00:00Z"},
	    {"\"calendar_interval\": \"week\"", "2024-01-03T12:00:00Z", "2024-01-01T00:00:00Z",
	     "2024-01-08T00:00:00Z"},
	    {"\"calendar_interval\": \"1w\", \"time_zone\": \"-05:00\"", "2024-01-01T03:00:00Z",
	     "2023-12-25T05:00:00Z", "2024-01-01T05:00:00Z"},
	    {"\"calendar_interval\": \"week\"", "1969-12-31T00:00:00Z", "1969-12-29T00:00:00Z",
	     "1970-01-05T00:00:00Z"},
	    {"\"calendar_interval\": \"day\", \"time_zone\": \"+05:30\"", "2024-03-01T18:30:00Z",
	     "2024-03-01T18:30:00Z", "2024-03-02T18:30:00Z"},
	    {"\"calendar_interval\": \"day\", \"time_zone\": \"+05:30\"", "2024-03-01T18:29:59Z",
	     "2024-02-29T18:30:00Z", "2024-03-01T18:30:00Z"},
	    {"\"calendar_interval\": \"hour\"", "1960-06-01T10:59:59.999Z", "1960-06-01T10:00:00Z",
	     "1960-06-01T11:00:00Z"},
	    {"\"calendar_interval\": \"1m\"", "2024-06-01T10:20:30Z", "2024-06-01T10:20:00Z",
	     "2024-06-01T10:21:00Z"},
	    {"\"fixed_interval\": \"90m\"", "1970-01-01T02:59:00Z", "1970-01-01T01:30:00Z",
	     "1970-01-01T03:00:00Z"},
	    {"\"fixed_interval\": \"7d\"", "1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z",
	     "1970-01-08T00:00:00Z"},
	    {"\"fixed_interval\": \"1d\", \"offset\": \"+6h\"", "2024-01-01T05:00:00Z",
	     "2023-12-31T06:00:00Z", "2024-01-01T06:00:00Z"},
	    {"\"calendar_interval\": \"day\", \"offset\": \"-1h\", \"time_zone\": \"+02:00\"",
	     "2024-01-01T21:30:00Z", "2024-01-01T21:00:00Z", "2024-01-02T21:00:00Z"},
	    {"\"fixed_interval\": \"1h\", \"time_zone\": \"+05:30\"", "2024-01-01T10:10:00Z",
	     "2024-01-01T09:30:00Z", "2024-01-01T10:30:00Z"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char req[256];
		snprintf(req, sizeof req, "{\"d\": {\"date_histogram\": {\"field\": \"d\", %s}}}",
		         cases[i].spec);
		aggs_spec *s = spec_of(req);
		int64_t k = aggs_date_round(&s->subs[0], ms_of(cases[i].value));
		if (k != ms_of(cases[i].key)) {
			aggs_date_format(k, 0, buf);
			fail_msg("%s of %s: %s, want %s", cases[i].spec, cases[i].value, buf,
			         cases[i].key);
		}
		assert_int_equal(aggs_date_next(&s->subs[0], k), ms_of(cases[i].next));
		assert_int_equal(aggs_date_round(&s->subs[0], k), k);
		aggs_spec_free(s);
	}
}

static void test_java_doubles(void **state)
{
	struct {
		double d;
		const char *s;
	} cases[] = {
	    {100, "100.0"},
	    {0, "0.0"},
	    {-0.0, "-0.0"},
	    {1e7, "1.0E7"},
	    {9999999, "9999999.0"},
	    {0.001, "0.001"},
	    {0.0001, "1.0E-4"},
	    {1.5e-4, "1.5E-4"},
	    {123.456, "123.456"},
	    {-2.5, "-2.5"},
	    {0.1, "0.1"},
	    {1e21, "1.0E21"},
	    {1.2345678e10, "1.2345678E10"},
	    {1.0 / 3, "0.3333333333333333"},
	    {50, "50.0"},
	    {99.9, "99.9"},
	    {12345678.9, "1.23456789E7"},
	    {-1e-5, "-1.0E-5"},
	    {1, "1.0"},
	    {-7, "-7.0"},
	    {-9999999, "-9999999.0"},
	    {500000, "500000.0"},
	    {-1e7, "-1.0E7"},
	    {9999999.5, "9999999.5"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char buf[32];
		size_t n = aggs_java_double(cases[i].d, buf);
		assert_string_equal(buf, cases[i].s);
		assert_int_equal(n, strlen(cases[i].s));
	}
	/* whole numbers of plain notation: their digits and ".0" */
	for (int i = 0; i < 2000; i++) {
		long long v = (long long)(rnd() % 19999999) - 9999999;
		char buf[32], want[32];
		snprintf(want, sizeof want, "%lld.0", v);
		aggs_java_double((double)v, buf);
		assert_string_equal(buf, want);
	}
}

static void test_sums_are_exact(void **state)
{
	/* sums that float addition gets wrong, in every order the same */
	static const double v[] = {1e16, 1.0, -1e16, 3.25, 1e-3, -7.5, 1e300, -1e300, 0.1, 0.2};
	double want = 1.0 + 3.25 - 7.5; /* exact: -3.25 */
	for (int round = 0; round < 200; round++) {
		double x[10];
		memcpy(x, v, sizeof x);
		for (int i = 9; i > 0; i--) {
			int j = (int)(rnd() % (uint64_t)(i + 1));
			double t = x[i];
			x[i] = x[j];
			x[j] = t;
		}
		aggs_sum s = {0};
		for (int i = 0; i < 10; i++)
			assert_int_equal(aggs_sum_add(&s, x[i]), TRAWL_OK);
		/* the exact total: -3.25 + 0.001 + 0.1 + 0.2 rounded once */
		aggs_sum r = {0};
		aggs_sum_add(&r, want);
		aggs_sum_add(&r, 1e-3);
		aggs_sum_add(&r, 0.1);
		aggs_sum_add(&r, 0.2);
		double a = aggs_sum_value(&s), b = aggs_sum_value(&r);
		assert_memory_equal(&a, &b, 8);
		free(s.p);
		free(r.p);
	}
	aggs_sum s = {0};
	aggs_sum_add(&s, 0.1);
	aggs_sum_add(&s, 0.2);
	assert_true(aggs_sum_value(&s) == 0.30000000000000004);
	aggs_sum_add(&s, 1.7976931348623157e308);
	aggs_sum_add(&s, 1.7976931348623157e308);
	assert_true(s.inf);
	assert_true(aggs_sum_value(&s) != aggs_sum_value(&s)); /* NaN: rendered as null */
	free(s.p);
}

/* ---- rendering ---- */

typedef struct render_case {
	const char *spec, *partial, *want;
} render_case;

/* aggs_render's answer as a tree, once its text is checked to be what
 * jansson writes of that tree (compact, members in order, numbers as
 * jansson prints them, no key twice): the bytes the answer had when it was
 * a jansson tree. */
static int render_json(const aggs_spec *s, const aggs_result *r, json_t **out, char *err,
                       size_t errlen)
{
	char *t;
	size_t n;
	*out = NULL;
	int rc = aggs_render(s, r, &t, &n, err, errlen);
	if (rc) {
		assert_null(t);
		return rc;
	}
	assert_int_equal(strlen(t), n);
	json_error_t je;
	json_t *j = json_loadb(t, n, 0, &je);
	if (!j)
		fail_msg("the answer is not JSON (%s): %s", je.text, t);
	char *again = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (strcmp(again, t))
		fail_msg("the answer is not as jansson writes it:\n%s\n%s", t, again);
	free(again);
	free(t);
	*out = j;
	return TRAWL_OK;
}

static json_t *render_text(const char *spec_text, const char *partial, char *err, size_t errlen,
                           int *rc)
{
	aggs_spec *s = spec_of(spec_text);
	aggs_result *r = NULL;
	json_t *out = NULL;
	*rc = TRAWL_OK;
	if (partial && (*rc = aggs_result_decode(s, partial, strlen(partial), &r, err, errlen)))
		fail_msg("decode %s: %s", partial, err);
	*rc = render_json(s, r, &out, err, errlen);
	if (r) { /* the partial round-trips through its text */
		char *t;
		size_t n;
		assert_int_equal(aggs_result_encode(s, r, &t, &n, err, errlen), TRAWL_OK);
		aggs_result *r2;
		assert_int_equal(aggs_result_decode(s, t, n, &r2, err, errlen), TRAWL_OK);
		char *t2;
		assert_int_equal(aggs_result_encode(s, r2, &t2, &n, err, errlen), TRAWL_OK);
		assert_string_equal(t, t2);
		free(t);
		free(t2);
		aggs_result_free(s, r2);
	}
	aggs_result_free(s, r);
	aggs_spec_free(s);
	return out;
}

static void check_render(const render_case *c)
{
	char err[512] = "";
	int rc;
	json_t *got = render_text(c->spec, c->partial, err, sizeof err, &rc);
	if (rc)
		fail_msg("%s: %s", c->spec, err);
	json_error_t je;
	json_t *want = json_loads(c->want, 0, &je);
	if (!want)
		fail_msg("bad expected JSON %s: %s", c->want, je.text);
	if (!json_equal(got, want)) {
		char *g = json_dumps(got, JSON_COMPACT | JSON_REAL_PRECISION(17));
		fail_msg("%s\n want %s\n got  %s", c->spec, c->want, g);
	}
	json_decref(got);
	json_decref(want);
}

static void test_render_buckets(void **state)
{
	static const render_case cases[] = {
	    /* terms: count desc, ties by key; size cuts, the rest counted */
	    {"{\"t\": {\"terms\": {\"field\": \"s\", \"size\": 2}}}",
	     "{\"v\":1,\"r\":{\"t\":0,\"b\":[[0,10,[{\"t\":1,\"b\":[[\"a\",3],[\"b\",5],[\"c\",5],"
	     "[\"d\",1]]}]]]}}",
	     "{\"t\": {\"doc_count_error_upper_bound\": 0, \"sum_other_doc_count\": 4, "
	     "\"buckets\": "
	     "[{\"key\": \"b\", \"doc_count\": 5}, {\"key\": \"c\", \"doc_count\": 5}]}}"},
	    /* dates: key and key_as_string; min_doc_count; _key desc */
	    {"{\"t\": {\"terms\": {\"field\": \"d\", \"min_doc_count\": 2, \"order\": {\"_key\": "
	     "\"desc\"}}}}",
	     "{\"v\":1,\"r\":{\"t\":0,\"b\":[[0,6,[{\"t\":4,\"b\":[[0,1],[86400000,2],"
	     "[172800000,3]]}]]]}}",
	     "{\"t\": {\"doc_count_error_upper_bound\": 0, \"sum_other_doc_count\": 0, "
	     "\"buckets\": "
	     "[{\"key\": 172800000, \"key_as_string\": \"1970-01-03T00:00:00.000Z\", "
	     "\"doc_count\": "
	     "3}, {\"key\": 86400000, \"key_as_string\": \"1970-01-02T00:00:00.000Z\", "
	     "\"doc_count\": 2}]}}"},
	    /* booleans */
	    {"{\"t\": {\"terms\": {\"field\": \"b\", \"show_term_doc_count_error\": true}}}",
	     "{\"v\":1,\"r\":{\"t\":0,\"b\":[[0,10,[{\"t\":5,\"b\":[[0,4],[1,6]]}]]]}}",
	     "{\"t\": {\"doc_count_error_upper_bound\": 0, \"sum_other_doc_count\": 0, "
	     "\"buckets\": "
	     "[{\"key\": 1, \"key_as_string\": \"true\", \"doc_count\": 6, "
	     "\"doc_count_error_upper_bound\": 0}, {\"key\": 0, \"key_as_string\": \"false\", "
	     "\"doc_count\": 4, \"doc_count_error_upper_bound\": 0}]}}"},
	    /* by a metric, descending; no value last */
	    {"{\"t\": {\"terms\": {\"field\": \"s\", \"order\": {\"m\": \"desc\"}}, \"aggs\": "
	     "{\"m\": "
	     "{\"avg\": {\"field\": \"x\"}}}}}",
	     "{\"v\":1,\"r\":{\"t\":0,\"b\":[[0,4,[{\"t\":1,\"b\":[[\"a\",2,[{\"t\":2,\"c\":2,"
	     "\"mn\":1,"
	     "\"mx\":3,\"si\":4}]],[\"b\",1,[{\"t\":2,\"c\":1,\"mn\":10,\"mx\":10,\"si\":10}]],"
	     "[\"c\",1,[{\"t\":2,\"c\":0}]]]}]]]}}",
	     "{\"t\": {\"doc_count_error_upper_bound\": 0, \"sum_other_doc_count\": 0, "
	     "\"buckets\": "
	     "[{\"key\": \"b\", \"doc_count\": 1, \"m\": {\"value\": 10.0}}, {\"key\": \"a\", "
	     "\"doc_count\": 2, \"m\": {\"value\": 2.0}}, {\"key\": \"c\", \"doc_count\": 1, "
	     "\"m\": "
	     "{\"value\": null}}]}}"},
	    /* histogram: filled between the bounds; keys index x interval + offset */
	    {"{\"h\": {\"histogram\": {\"field\": \"x\", \"interval\": 5, \"offset\": 1, "
	     "\"extended_bounds\": {\"min\": -10, \"max\": 20}}}}",
	     "{\"v\":1,\"r\":{\"t\":0,\"b\":[[0,3,[{\"t\":2,\"b\":[[0,2],[2,1]]}]]]}}",
	     "{\"h\": {\"buckets\": [{\"key\": -14.0, \"doc_count\": 0}, {\"key\": -9.0, "
	     "\"doc_count\": 0}, {\"key\": -4.0, \"doc_count\": 0}, {\"key\": 1.0, \"doc_count\": "
	     "2}, "
	     "{\"key\": 6.0, \"doc_count\": 0}, {\"key\": 11.0, \"doc_count\": 1}, {\"key\": 16.0, "
	     "\"doc_count\": 0}]}}"},
	    {"{\"h\": {\"histogram\": {\"field\": \"x\", \"interval\": 2.5, \"keyed\": true, "
	     "\"min_doc_count\": 1}}}",
	     "{\"v\":1,\"r\":{\"t\":0,\"b\":[[0,4,[{\"t\":3,\"b\":[[-1,1],[1,0],[4,3]]}]]]}}",
	     "{\"h\": {\"buckets\": {\"-2.5\": {\"key\": -2.5, \"doc_count\": 1}, \"10.0\": "
	     "{\"key\": "
	     "10.0, \"doc_count\": 3}}}}"},
	    /* months in +01:00: January and March, February filled */
	    {"{\"d\": {\"date_histogram\": {\"field\": \"d\", \"calendar_interval\": \"month\", "
	     "\"time_zone\": \"+01:00\"}}}",
	     "{\"v\":1,\"r\":{\"t\":0,\"b\":[[0,3,[{\"t\":4,\"b\":[[1704063600000,2],"
	     "[1709247600000,1]]}]]]}}",
	     "{\"d\": {\"buckets\": [{\"key_as_string\": \"2024-01-01T00:00:00.000+01:00\", "
	     "\"key\": "
	     "1704063600000, \"doc_count\": 2}, {\"key_as_string\": "
	     "\"2024-02-01T00:00:00.000+01:00\", \"key\": 1706742000000, \"doc_count\": 0}, "
	     "{\"key_as_string\": \"2024-03-01T00:00:00.000+01:00\", \"key\": 1709247600000, "
	     "\"doc_count\": 1}]}}"},
	    /* epoch_millis keys, keyed */
	    {"{\"d\": {\"date_histogram\": {\"field\": \"d\", \"fixed_interval\": \"1d\", "
	     "\"format\": "
	     "\"epoch_millis\", \"keyed\": true}}}",
	     "{\"v\":1,\"r\":{\"t\":0,\"b\":[[0,1,[{\"t\":4,\"b\":[[86400000,1]]}]]]}}",
	     "{\"d\": {\"buckets\": {\"86400000\": {\"key_as_string\": \"86400000\", \"key\": "
	     "86400000, \"doc_count\": 1}}}}"},
	    /* ranges: sorted, keys made as Elasticsearch makes them */
	    {"{\"r\": {\"range\": {\"field\": \"x\", \"ranges\": [{\"from\": 100}, {\"to\": 100}, "
	     "{\"from\": 100, \"to\": 200, \"key\": \"mid\"}]}}}",
	     "{\"v\":1,\"r\":{\"t\":0,\"b\":[[0,5,[{\"t\":2,\"b\":[[0,2],[2,3]]}]]]}}",
	     "{\"r\": {\"buckets\": [{\"key\": \"*-100.0\", \"to\": 100.0, \"doc_count\": 2}, "
	     "{\"key\": \"mid\", \"from\": 100.0, \"to\": 200.0, \"doc_count\": 0}, {\"key\": "
	     "\"100.0-*\", \"from\": 100.0, \"doc_count\": 3}]}}"},
	    {"{\"dr\": {\"date_range\": {\"field\": \"d\", \"keyed\": true, \"ranges\": [{\"to\": "
	     "\"2024-01-01\"}, {\"from\": \"2024-01-01T00:00:00+01:00\"}]}}}",
	     "{\"v\":1,\"r\":{\"t\":0,\"b\":[[0,4,[{\"t\":4,\"b\":[[1,4]]}]]]}}",
	     "{\"dr\": {\"buckets\": {\"*-2024-01-01T00:00:00.000Z\": {\"to\": 1704067200000.0, "
	     "\"to_as_string\": \"2024-01-01T00:00:00.000Z\", \"doc_count\": 0}, "
	     "\"2023-12-31T23:00:00.000Z-*\": {\"from\": 1704063600000.0, \"from_as_string\": "
	     "\"2023-12-31T23:00:00.000Z\", \"doc_count\": 4}}}}"},
	    /* filters: named (by name), the other bucket; anonymous */
	    {"{\"f\": {\"filters\": {\"filters\": {\"b\": {\"match_all\": {}}, \"a\": "
	     "{\"match_all\": "
	     "{}}}, \"other_bucket_key\": \"rest\"}}}",
	     "{\"v\":1,\"r\":{\"t\":0,\"b\":[[0,4,[{\"t\":0,\"b\":[[0,3],[2,1]]}]]]}}",
	     "{\"f\": {\"buckets\": {\"a\": {\"doc_count\": 3}, \"b\": {\"doc_count\": 0}, "
	     "\"rest\": "
	     "{\"doc_count\": 1}}}}"},
	    {"{\"f\": {\"filters\": {\"filters\": [{\"match_all\": {}}, {\"match_all\": {}}]}}}",
	     "{\"v\":1,\"r\":{\"t\":0,\"b\":[[0,2,[{\"t\":0,\"b\":[[1,2]]}]]]}}",
	     "{\"f\": {\"buckets\": [{\"doc_count\": 0}, {\"doc_count\": 2}]}}"},
	    /* filter and missing, with sub-aggregations */
	    {"{\"f\": {\"filter\": {\"term\": {\"a\": \"b\"}}, \"aggs\": {\"c\": {\"value_count\": "
	     "{\"field\": \"x\"}}}}, \"m\": {\"missing\": {\"field\": \"x\"}}}",
	     "{\"v\":1,\"r\":{\"t\":0,\"b\":[[0,9,[{\"t\":0,\"b\":[[0,5,[{\"t\":2,\"c\":7,\"mn\":1,"
	     "\"mx\":9}]]]},{\"t\":2,\"b\":[[0,4]]}]]]}}",
	     "{\"f\": {\"doc_count\": 5, \"c\": {\"value\": 7}}, \"m\": {\"doc_count\": 4}}"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		check_render(&cases[i]);
}

static void test_render_metrics(void **state)
{
	static const render_case cases[] = {
	    {"{\"a\": {\"min\": {\"field\": \"d\"}}, \"b\": {\"max\": {\"field\": \"d\"}}, \"c\": "
	     "{\"avg\": {\"field\": \"d\"}}}",
	     "{\"v\":1,\"r\":{\"t\":0,\"b\":[[0,2,[{\"t\":4,\"c\":2,\"mn\":0,\"mx\":86400000},"
	     "{\"t\":4,\"c\":2,\"mn\":0,\"mx\":86400000},{\"t\":4,\"c\":2,\"mn\":0,\"mx\":86400000,"
	     "\"si\":86400000}]]]}}",
	     "{\"a\": {\"value\": 0.0, \"value_as_string\": \"1970-01-01T00:00:00.000Z\"}, \"b\": "
	     "{\"value\": 86400000.0, \"value_as_string\": \"1970-01-02T00:00:00.000Z\"}, \"c\": "
	     "{\"value\": 43200000.0, \"value_as_string\": \"1970-01-01T12:00:00.000Z\"}}"},
	    {"{\"s\": {\"stats\": {\"field\": \"x\"}}, \"e\": {\"stats\": {\"field\": \"x\"}}}",
	     "{\"v\":1,\"r\":{\"t\":0,\"b\":[[0,3,[{\"t\":2,\"c\":3,\"mn\":-5,\"mx\":10,\"si\":6},"
	     "{\"t\":2,\"c\":0}]]]}}",
	     "{\"s\": {\"count\": 3, \"min\": -5.0, \"max\": 10.0, \"avg\": 2.0, \"sum\": 6.0}, "
	     "\"e\": {\"count\": 0, \"min\": null, \"max\": null, \"avg\": null, \"sum\": 0.0}}"},
	    {"{\"s\": {\"sum\": {\"field\": \"x\"}}, \"c\": {\"cardinality\": {\"field\": \"k\"}}, "
	     "\"v\": {\"value_count\": {\"field\": \"k\"}}}",
	     "{\"v\":1,\"r\":{\"t\":0,\"b\":[[0,3,[{\"t\":3,\"c\":2,\"mn\":0,\"mx\":0,"
	     "\"sd\":[0.1,0.2]},{\"t\":1,\"c\":5,\"mn\":0,\"mx\":3,\"k\":[\"a\",\"b\",\"c\"]},"
	     "{\"t\":1,\"c\":9,\"mn\":0,\"mx\":3}]]]}}",
	     "{\"s\": {\"value\": 0.30000000000000004}, \"c\": {\"value\": 3}, \"v\": {\"value\": "
	     "9}}"},
	    {"{\"p\": {\"percentiles\": {\"field\": \"x\", \"percents\": [0, 50, 100]}}, \"q\": "
	     "{\"percentiles\": {\"field\": \"x\", \"percents\": [25], \"keyed\": false}}}",
	     "{\"v\":1,\"r\":{\"t\":0,\"b\":[[0,4,[{\"t\":2,\"c\":4,\"mn\":1,\"mx\":4,"
	     "\"p\":[4,1,3,2]},{\"t\":2,\"c\":5,\"mn\":1,\"mx\":9,\"p\":[9,1,3,2,5]}]]]}}",
	     "{\"p\": {\"values\": {\"0.0\": 1.0, \"50.0\": 2.5, \"100.0\": 4.0}}, \"q\": "
	     "{\"values\": [{\"key\": 25.0, \"value\": 2.0}]}}"},
	    {"{\"p\": {\"percentiles\": {\"field\": \"d\", \"percents\": [50]}}, \"e\": "
	     "{\"percentiles\": {\"field\": \"d\", \"percents\": [50]}}, \"b\": {\"min\": "
	     "{\"field\": "
	     "\"b\"}}}",
	     "{\"v\":1,\"r\":{\"t\":0,\"b\":[[0,4,[{\"t\":4,\"c\":1,\"mn\":0,\"mx\":0,\"p\":[0]},"
	     "{\"t\":4,\"c\":0},{\"t\":5,\"c\":2,\"mn\":1,\"mx\":1}]]]}}",
	     "{\"p\": {\"values\": {\"50.0\": 0.0, \"50.0_as_string\": "
	     "\"1970-01-01T00:00:00.000Z\"}}, "
	     "\"e\": {\"values\": {\"50.0\": null}}, \"b\": {\"value\": 1.0, \"value_as_string\": "
	     "\"true\"}}"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		check_render(&cases[i]);
}

/* The answer's bytes, where jansson's writing had its own ways: a key twice
 * in one object (a sub-aggregation named as a bucket's member, a keyed
 * range's key, a percent or a filter's name given twice: the first place,
 * the last value), escapes, and doubles' digits and exponents. */
static void test_render_text(void **state)
{
	static const render_case cases[] = {
	    {"{\"t\": {\"terms\": {\"field\": \"s\"}, \"aggs\": {\"doc_count\": {\"max\": "
	     "{\"field\": \"x\"}}, \"z\": {\"min\": {\"field\": \"x\"}}, \"key\": {\"sum\": "
	     "{\"field\": \"x\"}}}}}",
	     "{\"v\":1,\"r\":{\"t\":0,\"b\":[[0,2,[{\"t\":1,\"b\":[[\"a\",2,[{\"t\":2,\"c\":2,"
	     "\"mn\":1,\"mx\":3},{\"t\":2,\"c\":2,\"mn\":1,\"mx\":3},{\"t\":2,\"c\":2,\"mn\":1,"
	     "\"mx\":3,\"si\":4}]]]}]]]}}",
	     "{\"t\":{\"doc_count_error_upper_bound\":0,\"sum_other_doc_count\":0,"
	     "\"buckets\":[{\"key\":{\"value\":4.0},\"doc_count\":{\"value\":3.0},"
	     "\"z\":{\"value\":1.0}}]}}"},
	    {"{\"r\": {\"range\": {\"field\": \"x\", \"keyed\": true, \"ranges\": [{\"to\": 1, "
	     "\"key\": \"k\"}, {\"from\": 1, \"key\": \"k\"}, {\"from\": 5}]}}}",
	     "{\"v\":1,\"r\":{\"t\":0,\"b\":[[0,6,[{\"t\":2,\"b\":[[0,2],[1,3],[2,1]]}]]]}}",
	     "{\"r\":{\"buckets\":{\"k\":{\"from\":1.0,\"doc_count\":3},"
	     "\"5.0-*\":{\"from\":5.0,\"doc_count\":1}}}}"},
	    {"{\"p\": {\"percentiles\": {\"field\": \"d\", \"percents\": [50, 10, 50]}}, "
	     "\"f\": {\"filters\": {\"filters\": {\"a\": {\"match_all\": {}}, \"b\": "
	     "{\"match_all\": {}}}, \"other_bucket_key\": \"a\"}}}",
	     "{\"v\":1,\"r\":{\"t\":0,\"b\":[[0,4,[{\"t\":4,\"c\":2,\"mn\":0,\"mx\":86400000,"
	     "\"p\":[0,86400000]},{\"t\":0,\"b\":[[0,3],[1,1],[2,5]]}]]]}}",
	     "{\"p\":{\"values\":{\"50.0\":43200000.0,"
	     "\"50.0_as_string\":\"1970-01-01T12:00:00.000Z\",\"10.0\":8640000.0,"
	     "\"10.0_as_string\":\"1970-01-01T02:24:00.000Z\"}},"
	     "\"f\":{\"buckets\":{\"a\":{\"doc_count\":5},\"b\":{\"doc_count\":1}}}}"},
	    {"{\"t\": {\"terms\": {\"field\": \"s\"}}}",
	     "{\"v\":1,\"r\":{\"t\":0,\"b\":[[0,1,[{\"t\":1,\"b\":[[\"a\\u0001\\u001f\\b\\f\\n\\r"
	     "\\t\\\"\\\\/\\u007f\\u00e9\",1]]}]]]}}",
	     "{\"t\":{\"doc_count_error_upper_bound\":0,\"sum_other_doc_count\":0,"
	     "\"buckets\":[{\"key\":\"a\\u0001\\u001F\\b\\f\\n\\r\\t\\\"\\\\/\177\303\251\","
	     "\"doc_count\":1}]}}"},
	    {"{\"t\": {\"terms\": {\"field\": \"x\", \"order\": {\"_key\": \"asc\"}}}, \"s\": "
	     "{\"stats\": {\"field\": \"x\"}}, \"p\": {\"percentiles\": {\"field\": \"x\", "
	     "\"percents\": [0, 100]}}}",
	     "{\"v\":1,\"r\":{\"t\":0,\"b\":[[0,6,[{\"t\":3,\"b\":[[-124633661817958448,1],[-1,1],"
	     "[4504762867522569078,1],[4591870180066957722,1],[4683220279290232832,1],"
	     "[4906019910204099648,1]]},{\"t\":3,\"c\":2,\"mn\":-124633661817958448,"
	     "\"mx\":4906019910204099648,\"sd\":[1e20,1e17]},{\"t\":3,\"c\":2,\"mn\":0,\"mx\":0,"
	     "\"p\":[1.5e-7,1e300]}]]]}}",
	     "{\"t\":{\"doc_count_error_upper_bound\":0,\"sum_other_doc_count\":0,"
	     "\"buckets\":[{\"key\":-2.5e-300,\"doc_count\":1},{\"key\":-0.0,\"doc_count\":1},"
	     "{\"key\":1.4999999999999999e-7,\"doc_count\":1},{\"key\":0.10000000000000001,"
	     "\"doc_count\":1},{\"key\":123456.5,\"doc_count\":1},{\"key\":1e20,"
	     "\"doc_count\":1}]},\"s\":{\"count\":2,\"min\":-2.5e-300,\"max\":1e20,"
	     "\"avg\":5.005e19,\"sum\":1.001e20},"
	     "\"p\":{\"values\":{\"0.0\":1.4999999999999999e-7,"
	     "\"100.0\":1.0000000000000001e300}}}"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char err[512] = "", *got;
		size_t n;
		aggs_spec *s = spec_of(cases[i].spec);
		aggs_result *r = NULL;
		if (aggs_result_decode(s, cases[i].partial, strlen(cases[i].partial), &r, err,
		                       sizeof err))
			fail_msg("decode %s: %s", cases[i].partial, err);
		if (aggs_render(s, r, &got, &n, err, sizeof err))
			fail_msg("%s: %s", cases[i].spec, err);
		assert_string_equal(got, cases[i].want);
		free(got);
		aggs_result_free(s, r);
		aggs_spec_free(s);
	}
}

/* No shard answered: every aggregation empty, in its shape. */
static void test_render_empty(void **state)
{
	static const render_case c = {
	    "{\"t\": {\"terms\": {\"field\": \"s\"}, \"aggs\": {\"m\": {\"max\": {\"field\": "
	    "\"x\"}}}},"
	    " \"r\": {\"range\": {\"field\": \"x\", \"ranges\": [{\"to\": 1}]}, \"aggs\": {\"s\": "
	    "{\"sum\": {\"field\": \"x\"}}}},"
	    " \"h\": {\"histogram\": {\"field\": \"x\", \"interval\": 1, \"extended_bounds\": "
	    "{\"min\": 0, \"max\": 1}}},"
	    " \"f\": {\"filter\": {\"match_all\": {}}, \"aggs\": {\"c\": {\"cardinality\": "
	    "{\"field\": \"x\"}}}},"
	    " \"st\": {\"stats\": {\"field\": \"x\"}}}",
	    NULL,
	    "{\"t\": {\"doc_count_error_upper_bound\": 0, \"sum_other_doc_count\": 0, \"buckets\": "
	    "[]},"
	    " \"r\": {\"buckets\": [{\"key\": \"*-1.0\", \"to\": 1.0, \"doc_count\": 0, \"s\": "
	    "{\"value\": 0.0}}]},"
	    " \"h\": {\"buckets\": [{\"key\": 0.0, \"doc_count\": 0}, {\"key\": 1.0, "
	    "\"doc_count\": "
	    "0}]},"
	    " \"f\": {\"doc_count\": 0, \"c\": {\"value\": 0}},"
	    " \"st\": {\"count\": 0, \"min\": null, \"max\": null, \"avg\": null, \"sum\": 0.0}}"};
	check_render(&c);
	/* an empty partial renders alike */
	aggs_spec *s = spec_of(c.spec);
	aggs_result *r = aggs_result_empty(s);
	json_t *a, *b;
	char err[256];
	assert_int_equal(render_json(s, r, &a, err, sizeof err), TRAWL_OK);
	assert_int_equal(render_json(s, NULL, &b, err, sizeof err), TRAWL_OK);
	assert_true(json_equal(a, b));
	json_decref(a);
	json_decref(b);
	aggs_result_free(s, r);
	aggs_spec_free(s);
}

/* ---- merging ---- */

static const char *const MSPEC =
    "{\"k\": {\"terms\": {\"field\": \"kw\", \"size\": 3}, \"aggs\": {\"s\": {\"stats\": "
    "{\"field\": \"d\"}}, \"c\": {\"cardinality\": {\"field\": \"kw2\"}}}},"
    " \"h\": {\"histogram\": {\"field\": \"x\", \"interval\": 5}, \"aggs\": {\"p\": "
    "{\"percentiles\": {\"field\": \"x\"}}}},"
    " \"r\": {\"range\": {\"field\": \"x\", \"ranges\": [{\"to\": 0}, {\"from\": 0, \"to\": 10}, "
    "{\"from\": 10}]}, \"aggs\": {\"sum\": {\"sum\": {\"field\": \"d\"}}}},"
    " \"f\": {\"filters\": {\"filters\": {\"a\": {\"match_all\": {}}, \"b\": {\"match_all\": "
    "{}}}, \"other_bucket\": true}, \"aggs\": {\"m\": {\"max\": {\"field\": \"l\"}}}},"
    " \"mi\": {\"missing\": {\"field\": \"kw\"}, \"aggs\": {\"avg\": {\"avg\": {\"field\": "
    "\"l\"}}, \"n\": {\"cardinality\": {\"field\": \"l\"}}}}}";

typedef struct sb {
	char *p;
	size_t n, cap;
} sb;

static void sbf(sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sbf(sb *b, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int k = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
		va_end(ap);
		if ((size_t)k < b->cap - b->n) {
			b->n += (size_t)k;
			return;
		}
		b->cap = b->cap * 2 + (size_t)k + 64;
		b->p = realloc(b->p, b->cap);
	}
}

/* A random metric of the kind: count, min, max, the sum's members. */
static void rand_metric(sb *b, int kind, int type)
{
	uint64_t c = rnd() % 4;
	sbf(b, "{\"t\":%d,\"c\":%llu", type, (unsigned long long)c);
	if (!c) {
		sbf(b, "}");
		return;
	}
	int64_t lo = (int64_t)(rnd() % 21) - 10, hi = lo + (int64_t)(rnd() % 10);
	if (type == 3) { /* doubles: keys of multiples of 0.25 */
		sbf(b, ",\"mn\":%lld,\"mx\":%lld", (long long)aggs_double_key((double)lo / 4),
		    (long long)aggs_double_key((double)hi / 4));
		sbf(b, ",\"sd\":[%.17g]", (double)(int64_t)(rnd() % 1000) / 7.0);
	} else {
		sbf(b, ",\"mn\":%lld,\"mx\":%lld,\"si\":%lld", (long long)lo, (long long)hi,
		    (long long)(lo + hi));
	}
	if (kind == 'c') { /* distinct values, ascending */
		sbf(b, ",\"k\":[");
		int first = 1;
		for (int v = 0; v < 12; v++)
			if (rnd() % 3 == 0) {
				if (type == 1)
					sbf(b, "%s\"v%02d\"", first ? "" : ",", v);
				else
					sbf(b, "%s%d", first ? "" : ",", v - 6);
				first = 0;
			}
		sbf(b, "]");
		if (first) /* none: drop the empty list */
			b->n -= 7;
	}
	if (kind == 'p') {
		sbf(b, ",\"p\":[");
		for (uint64_t i = 0; i < c; i++)
			sbf(b, "%s%d", i ? "," : "", (int)(rnd() % 50) - 20);
		sbf(b, "]");
	}
	sbf(b, "}");
}

/* A random partial of MSPEC as JSON text. */
static char *rand_partial(void)
{
	sb b = {0};
	sbf(&b, "{\"v\":1,\"r\":{\"t\":0,\"b\":[[0,%llu,[", (unsigned long long)(rnd() % 100));
	/* k: terms on keywords */
	sbf(&b, "{\"t\":1,\"b\":[");
	int first = 1;
	for (int v = 0; v < 8; v++)
		if (rnd() % 2) {
			sbf(&b, "%s[\"w%d\",%llu,[", first ? "" : ",", v,
			    (unsigned long long)(1 + rnd() % 9));
			rand_metric(&b, 's', 3);
			sbf(&b, ",");
			rand_metric(&b, 'c', 1);
			sbf(&b, "]]");
			first = 0;
		}
	sbf(&b, "]},");
	/* h: histogram */
	sbf(&b, "{\"t\":2,\"b\":[");
	first = 1;
	for (int v = -3; v < 4; v++)
		if (rnd() % 2) {
			sbf(&b, "%s[%d,%llu,[", first ? "" : ",", v,
			    (unsigned long long)(1 + rnd() % 9));
			rand_metric(&b, 'p', 2);
			sbf(&b, "]]");
			first = 0;
		}
	sbf(&b, "]},");
	/* r: range */
	sbf(&b, "{\"t\":2,\"b\":[");
	first = 1;
	for (int v = 0; v < 3; v++)
		if (rnd() % 2) {
			sbf(&b, "%s[%d,%llu,[", first ? "" : ",", v,
			    (unsigned long long)(1 + rnd() % 9));
			rand_metric(&b, 's', 3);
			sbf(&b, "]]");
			first = 0;
		}
	sbf(&b, "]},");
	/* f: filters a, b and other */
	sbf(&b, "{\"t\":0,\"b\":[");
	first = 1;
	for (int v = 0; v < 3; v++)
		if (rnd() % 2) {
			sbf(&b, "%s[%d,%llu,[", first ? "" : ",", v,
			    (unsigned long long)(1 + rnd() % 9));
			rand_metric(&b, 'm', 2);
			sbf(&b, "]]");
			first = 0;
		}
	sbf(&b, "]},");
	/* mi: missing */
	sbf(&b, "{\"t\":1,\"b\":[[0,%llu,[", (unsigned long long)(rnd() % 5));
	rand_metric(&b, 'a', 2);
	sbf(&b, ",");
	rand_metric(&b, 'c', 2);
	sbf(&b, "]]]}");
	sbf(&b, "]]]}}");
	return b.p;
}

static aggs_result *decode(const aggs_spec *s, const char *t)
{
	aggs_result *r;
	char err[512];
	if (aggs_result_decode(s, t, strlen(t), &r, err, sizeof err))
		fail_msg("%s\n%s", err, t);
	return r;
}

static json_t *merged(const aggs_spec *s, char **parts, const int *order, int n)
{
	char err[512];
	aggs_result *acc = aggs_result_empty(s);
	for (int i = 0; i < n; i++)
		if (aggs_merge(s, acc, decode(s, parts[order[i]]), err, sizeof err))
			fail_msg("%s", err);
	json_t *out;
	assert_int_equal(render_json(s, acc, &out, err, sizeof err), TRAWL_OK);
	/* the merged partial round-trips too */
	char *t;
	size_t len;
	assert_int_equal(aggs_result_encode(s, acc, &t, &len, err, sizeof err), TRAWL_OK);
	aggs_result *back = decode(s, t);
	json_t *again;
	assert_int_equal(render_json(s, back, &again, err, sizeof err), TRAWL_OK);
	assert_true(json_equal(out, again));
	json_decref(again);
	aggs_result_free(s, back);
	free(t);
	aggs_result_free(s, acc);
	return out;
}

static void test_merge_any_order(void **state)
{
	aggs_spec *s = spec_of(MSPEC);
	for (int round = 0; round < 200; round++) {
		char *parts[4];
		for (int i = 0; i < 4; i++)
			parts[i] = rand_partial();
		static const int orders[][4] = {
		    {0, 1, 2, 3}, {3, 2, 1, 0}, {2, 0, 3, 1}, {1, 3, 0, 2}};
		json_t *first = merged(s, parts, orders[0], 4);
		for (int o = 1; o < 4; o++) {
			json_t *x = merged(s, parts, orders[o], 4);
			if (!json_equal(first, x)) {
				char *a = json_dumps(first, JSON_COMPACT | JSON_REAL_PRECISION(17));
				char *b = json_dumps(x, JSON_COMPACT | JSON_REAL_PRECISION(17));
				fail_msg("merge order %d differs:\n%s\n%s", o, a, b);
			}
			json_decref(x);
		}
		/* (a + b) + (c + d): partial merges first, as leaves then a root do */
		char err[512];
		aggs_result *ab = decode(s, parts[0]), *cd = decode(s, parts[2]);
		assert_int_equal(aggs_merge(s, ab, decode(s, parts[1]), err, sizeof err), TRAWL_OK);
		assert_int_equal(aggs_merge(s, cd, decode(s, parts[3]), err, sizeof err), TRAWL_OK);
		assert_int_equal(aggs_merge(s, cd, ab, err, sizeof err), TRAWL_OK);
		json_t *x;
		assert_int_equal(render_json(s, cd, &x, err, sizeof err), TRAWL_OK);
		assert_true(json_equal(first, x));
		json_decref(x);
		aggs_result_free(s, cd);
		json_decref(first);
		for (int i = 0; i < 4; i++)
			free(parts[i]);
	}
	aggs_spec_free(s);
}

/* Partials that disagree on a field's type, or would exceed the limits. */
static void test_merge_refusals(void **state)
{
	aggs_spec *s = spec_of("{\"t\": {\"terms\": {\"field\": \"x\"}}}");
	char err[512];
	aggs_result *a =
	    decode(s, "{\"v\":1,\"r\":{\"t\":0,\"b\":[[0,1,[{\"t\":2,\"b\":[[1,1]]}]]]}}");
	aggs_result *b =
	    decode(s, "{\"v\":1,\"r\":{\"t\":0,\"b\":[[0,1,[{\"t\":3,\"b\":[[1,1]]}]]]}}");
	assert_int_equal(aggs_merge(s, a, b, err, sizeof err), TRAWL_EINVAL);
	assert_string_equal(err, "aggs.t: partial results disagree on the type of field x (long "
	                         "and double)");
	aggs_result_free(s, a);
	/* two partials of 40,000 distinct buckets each: 80,000 > 65,536 */
	sb t1 = {0}, t2 = {0};
	sbf(&t1, "{\"v\":1,\"r\":{\"t\":0,\"b\":[[0,1,[{\"t\":2,\"b\":[");
	sbf(&t2, "{\"v\":1,\"r\":{\"t\":0,\"b\":[[0,1,[{\"t\":2,\"b\":[");
	for (int i = 0; i < 40000; i++) {
		sbf(&t1, "%s[%d,1]", i ? "," : "", 2 * i);
		sbf(&t2, "%s[%d,1]", i ? "," : "", 2 * i + 1);
	}
	sbf(&t1, "]}]]]}}");
	sbf(&t2, "]}]]]}}");
	a = decode(s, t1.p);
	assert_int_equal(aggs_merge(s, a, decode(s, t2.p), err, sizeof err), TRAWL_ELIMIT);
	assert_string_equal(err, "aggs: more than 65536 buckets (LIMIT_AGG_BUCKETS, as "
	                         "Elasticsearch's search.max_buckets): narrow the query or the "
	                         "aggregations");
	aggs_result_free(s, a);
	free(t1.p);
	free(t2.p);
	aggs_spec_free(s);
	/* a histogram filled beyond the limit by its bounds */
	s = spec_of("{\"h\": {\"histogram\": {\"field\": \"x\", \"interval\": 1, "
	            "\"extended_bounds\": {\"min\": 0, \"max\": 1000000}}}}");
	json_t *out = NULL;
	assert_int_equal(render_json(s, NULL, &out, err, sizeof err), TRAWL_ELIMIT);
	assert_null(out);
	assert_string_equal(err,
	                    "aggs: the answer would hold more than 65536 buckets "
	                    "(LIMIT_AGG_BUCKETS, as Elasticsearch's search.max_buckets): narrow "
	                    "the query, the intervals or the bounds");
	aggs_spec_free(s);
	s = spec_of("{\"h\": {\"date_histogram\": {\"field\": \"d\", \"calendar_interval\": "
	            "\"minute\", \"extended_bounds\": {\"min\": \"2000-01-01\", \"max\": "
	            "\"2024-01-01\"}}}}");
	assert_int_equal(render_json(s, NULL, &out, err, sizeof err), TRAWL_ELIMIT);
	aggs_spec_free(s);
}

/* Damaged partials are refused with ECORRUPT, never crash (ASan). */
static void test_decode_refuses_damage(void **state)
{
	aggs_spec *s = spec_of(MSPEC);
	char err[512];
	for (int round = 0; round < 30; round++) {
		char *t = rand_partial();
		size_t n = strlen(t);
		aggs_result *r;
		for (size_t cut = 0; cut < n; cut += 1 + rnd() % 5) {
			int rc = aggs_result_decode(s, t, cut, &r, err, sizeof err);
			assert_int_equal(rc, TRAWL_ECORRUPT);
			assert_null(r);
		}
		for (int k = 0; k < 200; k++) {
			char *u = strdup(t);
			size_t at = rnd() % n;
			static const char pool[] = "[]{},:\"0123456789-.eabtv";
			u[at] = pool[rnd() % (sizeof pool - 1)];
			if (aggs_result_decode(s, u, n, &r, err, sizeof err) == TRAWL_OK) {
				/* what decodes merges and renders */
				aggs_result *acc = aggs_result_empty(s);
				if (aggs_merge(s, acc, r, err, sizeof err) == TRAWL_OK) {
					json_t *o = NULL;
					if (render_json(s, acc, &o, err, sizeof err) == TRAWL_OK)
						json_decref(o);
				}
				aggs_result_free(s, acc);
			}
			free(u);
		}
		free(t);
	}
	static const char *const bad[] = {
	    "[]",
	    "{\"v\":2,\"r\":{}}",
	    "{\"v\":1,\"r\":{\"t\":0,\"b\":[]}}",
	    "{\"v\":1,\"r\":{\"t\":0,\"b\":[[1,1,[]]]}}",
	    "{\"v\":1,\"r\":{\"t\":9,\"b\":[[0,1,[]]]}}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		aggs_result *r;
		assert_int_equal(aggs_result_decode(s, bad[i], strlen(bad[i]), &r, err, sizeof err),
		                 TRAWL_ECORRUPT);
	}
	aggs_spec_free(s);
	/* keys out of order, a keyword key on a number field, a range beyond its ranges */
	s = spec_of(
	    "{\"t\": {\"terms\": {\"field\": \"x\"}}, \"r\": {\"range\": {\"field\": \"x\", "
	    "\"ranges\": [{\"to\": 1}]}}}");
	static const char *const bad2[] = {
	    "{\"v\":1,\"r\":{\"t\":0,\"b\":[[0,1,[{\"t\":2,\"b\":[[2,1],[1,1]]},{\"t\":2,\"b\":[]}]"
	    "]]}}",
	    "{\"v\":1,\"r\":{\"t\":0,\"b\":[[0,1,[{\"t\":2,\"b\":[[\"a\",1]]},{\"t\":2,\"b\":[]}]]]"
	    "}}",
	    "{\"v\":1,\"r\":{\"t\":0,\"b\":[[0,1,[{\"t\":1,\"b\":[[1,1]]},{\"t\":2,\"b\":[]}]]]}}",
	    "{\"v\":1,\"r\":{\"t\":0,\"b\":[[0,1,[{\"t\":2,\"b\":[]},{\"t\":2,\"b\":[[1,1]]}]]]}}",
	    "{\"v\":1,\"r\":{\"t\":0,\"b\":[[0,-1,[{\"t\":2,\"b\":[]},{\"t\":2,\"b\":[]}]]]}}",
	};
	for (size_t i = 0; i < sizeof bad2 / sizeof *bad2; i++) {
		aggs_result *r;
		assert_int_equal(
		    aggs_result_decode(s, bad2[i], strlen(bad2[i]), &r, err, sizeof err),
		    TRAWL_ECORRUPT);
	}
	aggs_spec_free(s);
}

static void arm(long n)
{
	allocs = 0;
	fail_at = n;
}

/* Every allocation of parsing, reading, decoding, merging, encoding and
 * rendering fails in turn: TRAWL_ENOMEM (or the operation's own error from
 * a callback), never a crash or a leak (ASan), and in the end success. */
static void test_allocation_failures(void **state)
{
	char err[512];
	json_t *req = json_loads(FULL, 0, NULL);
	aggs_spec *ms = spec_of(MSPEC);
	char *p1 = rand_partial(), *p2 = rand_partial();
	for (int op = 0; op < 6; op++) {
		long n = 0;
		for (;; n++) {
			aggs_spec *s = NULL;
			aggs_result *a = NULL, *b = NULL;
			char *t = NULL, *rendered = NULL;
			size_t len;
			int rc;
			if (op == 2 || op == 3 || op == 4 || op == 5) {
				a = decode(ms, p1);
				b = decode(ms, p2);
			}
			arm(n);
			switch (op) {
			case 0:
				rc = aggs_parse(req, compile, NULL, &s, err, sizeof err);
				break;
			case 1: {
				fail_at = -1;
				aggs_spec *x = spec_of(FULL);
				char *c = canon(x);
				aggs_spec_free(x);
				arm(n);
				rc = aggs_spec_read(c, strlen(c), &s, err, sizeof err);
				fail_at = -1;
				free(c);
				break;
			}
			case 2:
				rc = aggs_merge(ms, a, b, err, sizeof err);
				b = NULL;
				break;
			case 3:
				rc = aggs_result_encode(ms, a, &t, &len, err, sizeof err);
				break;
			case 4:
				rc = aggs_render(ms, a, &rendered, &len, err, sizeof err);
				break;
			default: {
				fail_at = -1;
				char *c;
				assert_int_equal(
				    aggs_result_encode(ms, a, &c, &len, err, sizeof err), TRAWL_OK);
				aggs_result *x = NULL;
				arm(n);
				rc = aggs_result_decode(ms, c, len, &x, err, sizeof err);
				fail_at = -1;
				if (rc)
					assert_null(x);
				aggs_result_free(ms, x);
				free(c);
			}
			}
			fail_at = -1;
			if (rc != TRAWL_OK && rc != TRAWL_ENOMEM)
				fail_msg("op %d, allocation %ld: %d %s", op, n, rc, err);
			aggs_spec_free(s);
			aggs_result_free(ms, a);
			aggs_result_free(ms, b);
			free(rendered);
			free(t);
			if (rc == TRAWL_OK)
				break;
			assert_true(n < 100000);
		}
		assert_true(n > 0); /* the operation allocates, and each allocation failed once */
	}
	free(p1);
	free(p2);
	aggs_spec_free(ms);
	json_decref(req);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_parse_limits),
	    cmocka_unit_test(test_canonical_round_trip),
	    cmocka_unit_test(test_parse_survives_damage),
	    cmocka_unit_test(test_dates),
	    cmocka_unit_test(test_java_doubles),
	    cmocka_unit_test(test_sums_are_exact),
	    cmocka_unit_test(test_render_buckets),
	    cmocka_unit_test(test_render_metrics),
	    cmocka_unit_test(test_render_empty),
	    cmocka_unit_test(test_render_text),
	    cmocka_unit_test(test_merge_any_order),
	    cmocka_unit_test(test_merge_refusals),
	    cmocka_unit_test(test_decode_refuses_damage),
	    cmocka_unit_test(test_allocation_failures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
