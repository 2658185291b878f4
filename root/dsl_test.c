/*
 * dsl_test.c - unit tests for the OpenSearch query DSL compiler (dsl.c).
 *
 * The compiler is pinned down by tables. DSL in, and the trawl query it
 * stands for out: the tree the compiler makes must be the tree trawl's own
 * parser (index/query.c) makes of that query, compared through their
 * canonical dumps (columns aside), so the tables are the string
 * translations this compiler replaced, and passing them shows that every
 * query keeps its meaning and its scores. DSL in, and the exact error code
 * and reason out. Then default_operator AND, injection (a literal from the
 * JSON stays one literal, whatever characters it holds: a table of attacks,
 * then random strings over the syntax characters), query_string texts that
 * do not parse, and the limits.
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

#include "common/qtree.h"
#include "index/query.h"
#include "common/clock.h"
#include "root/datemath.h"
#include "root/dsl.h"
#include "trawl/trawl.h"

#define NONE "(+*:* -*:*)"

static json_t *load(const char *s)
{
	json_error_t je;
	json_t *j = json_loads(s, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (!j)
		fail_msg("bad test JSON: %s: %s", s, je.text);
	return j;
}

/* dump_of: the dump of t in out (NUL-terminated, cap bytes). */
static const char *dump_of(const qt_node *t, char *out, size_t cap)
{
	assert_true(qt_dump(t, out, cap) < cap);
	return out;
}

/* assert_tree_is: tree (the compiler's, freed here) is the tree trawl's
 * parser makes of query `want` with default operator op; and it keeps every
 * rule and limit of a query tree, and round-trips through its encoding. */
static void assert_tree_is(qt_node *tree, const char *want, int op, const char *what)
{
	static char got[1 << 16], exp[1 << 16];
	qt_node *w = NULL;
	char err[256];
	if (idx_query_parse(want, strlen(want), op, &w, err, sizeof err))
		fail_msg("%s: trawl cannot parse [%s]: %s", what, want, err);
	dump_of(tree, got, sizeof got);
	dump_of(w, exp, sizeof exp);
	if (strcmp(got, exp))
		fail_msg("%s:\n got %s\nwant %s (the tree of [%s])", what, got, exp, want);
	if (qt_check(tree, err, sizeof err))
		fail_msg("%s: the tree breaks a rule: %s", what, err);
	tbuf b;
	tbuf_init(&b, TRAWL_MAX_QUERY_TREE_BYTES);
	assert_int_equal(qt_encode(tree, &b, err, sizeof err), TRAWL_OK);
	qt_node *back = NULL;
	assert_int_equal(qt_decode(b.data, b.len, &back, err, sizeof err), TRAWL_OK);
	assert_string_equal(dump_of(back, exp, sizeof exp), got);
	tbuf_fini(&b);
	qt_free(back);
	qt_free(w);
	qt_free(tree);
}

/* compile: the tree of DSL text s, which must compile. */
static qt_node *compile(const char *s)
{
	json_t *j = load(s);
	qt_node *t = NULL;
	dsl_error e;
	int rc = dsl_compile(j, &t, NULL, &e);
	if (rc != TRAWL_OK)
		fail_msg("%s: rc %d: %s", s, rc, e.reason);
	assert_non_null(t);
	json_decref(j);
	return t;
}

/* ---- compilations: the tree of the trawl query each DSL stands for ---- */

typedef struct ok_case {
	const char *dsl;
	const char *want;
} ok_case;

static const ok_case ok_cases[] = {
    /* match_all, match_none */
    {"{\"match_all\": {}}", "*:*"},
    {"{\"match_all\": {\"boost\": 1, \"_name\": \"all\"}}", "*:*"},
    {"{\"match_none\": {}}", NONE},

    /* match: one clause per token, OR by default */
    {"{\"match\": {\"title\": \"eclipse\"}}", "title:eclipse"},
    {"{\"match\": {\"title\": \"Solar Eclipse\"}}", "title:(Solar Eclipse)"},
    {"{\"match\": {\"title\": {\"query\": \"solar eclipse\"}}}", "title:(solar eclipse)"},
    {"{\"match\": {\"title\": {\"query\": \"solar eclipse\", \"operator\": \"and\"}}}",
     "title:(+solar +eclipse)"},
    {"{\"match\": {\"title\": {\"query\": \"solar eclipse\", \"operator\": \"AND\"}}}",
     "title:(+solar +eclipse)"},
    {"{\"match\": {\"title\": {\"query\": \"solar eclipse\", \"operator\": \"or\"}}}",
     "title:(solar eclipse)"},
    {"{\"match\": {\"title\": {\"query\": \"eclipse\", \"operator\": \"and\"}}}", "title:eclipse"},
    {"{\"match\": {\"_all\": \"solar eclipse\"}}", "(solar eclipse)"},
    {"{\"match\": {\"*\": \"eclipse\"}}", "eclipse"},
    {"{\"match\": {\"body\": \"wi-fi don't\"}}", "body:(wi fi don t)"},
    {"{\"match\": {\"body\": {\"query\": \"wi-fi\", \"operator\": \"and\"}}}", "body:(+wi +fi)"},
    {"{\"match\": {\"title\": \"AND OR NOT and or not ANDROID\"}}",
     "title:(\\AND \\OR \\NOT and or not ANDROID)"},
    {"{\"match\": {\"title\": \"Caf\\u00e9 na\\u00efve \\u4e1c\\u4eac\"}}",
     "title:(Caf\xc3\xa9 na\xc3\xafve \xe4\xb8\x9c\xe4\xba\xac)"},
    /* a combining mark stays with its letter; an em dash separates */
    {"{\"match\": {\"title\": \"e\\u0301t\\u00e9 x\\u2014y\"}}", "title:(e\xcc\x81t\xc3\xa9 x y)"},
    {"{\"match\": {\"title\": \"+a -b \\\"c\\\" (d) e:f g* h\\\\\"}}", "title:(a b c d e f g h)"},
    {"{\"match\": {\"title\": \"!!! ...\"}}", NONE},
    {"{\"match\": {\"title\": \"\"}}", NONE},
    {"{\"match\": {\"title\": {\"query\": \"--\", \"zero_terms_query\": \"all\"}}}", "*:*"},
    {"{\"match\": {\"title\": {\"query\": \"--\", \"zero_terms_query\": \"none\"}}}", NONE},
    {"{\"match\": {\"year\": 1999}}", "year:1999"},
    {"{\"match\": {\"score\": 2.5}}", "score:(2 5)"},
    {"{\"match\": {\"flag\": true}}", "flag:true"},
    {"{\"match\": {\"title\": {\"query\": \"x y\", \"minimum_should_match\": 1}}}", "title:(x y)"},
    {"{\"match\": {\"title\": {\"query\": \"x y\", \"minimum_should_match\": \"1\"}}}",
     "title:(x y)"},
    /* harmless options (they only matter with fuzziness or synonyms) */
    {"{\"match\": {\"title\": {\"query\": \"x\", \"lenient\": true, \"max_expansions\": 50, "
     "\"prefix_length\": 0, \"fuzzy_transpositions\": true, "
     "\"auto_generate_synonyms_phrase_query\": true, \"boost\": 1.0, \"_name\": \"n\"}}}",
     "title:x"},
    {"{\"match\": {\"a.b_c-d\": \"x\"}}", "a.b_c-d:x"},

    /* match_phrase: the tokens between quotes */
    {"{\"match_phrase\": {\"body\": \"state of the art\"}}", "body:\"state of the art\""},
    {"{\"match_phrase\": {\"body\": \"wi-fi \\\"x\\\" \\\\ y\"}}", "body:\"wi fi x y\""},
    {"{\"match_phrase\": {\"body\": {\"query\": \"a b\", \"slop\": 0}}}", "body:\"a b\""},
    {"{\"match_phrase\": {\"body\": \"AND\"}}", "body:\"AND\""},
    {"{\"match_phrase\": {\"*\": \"solar wind\"}}", "\"solar wind\""},
    {"{\"match_phrase\": {\"body\": \"  \"}}", NONE},
    {"{\"match_phrase\": {\"body\": {\"query\": \"\", \"zero_terms_query\": \"all\"}}}", "*:*"},

    /* multi_match: the sum over the fields */
    {"{\"multi_match\": {\"query\": \"solar eclipse\", \"fields\": [\"title\", \"body\"]}}",
     "(title:(solar eclipse) body:(solar eclipse))"},
    {"{\"multi_match\": {\"query\": \"solar eclipse\", \"fields\": [\"title\", \"body\"], "
     "\"operator\": \"and\", \"type\": \"most_fields\"}}",
     "(title:(+solar +eclipse) body:(+solar +eclipse))"},
    {"{\"multi_match\": {\"query\": \"solar eclipse\", \"fields\": [\"title\", \"body\"], "
     "\"type\": \"best_fields\", \"tie_breaker\": 0.3}}",
     "(title:(solar eclipse) body:(solar eclipse))"},
    {"{\"multi_match\": {\"query\": \"solar eclipse\", \"fields\": [\"title\", \"body\"], "
     "\"type\": \"phrase\"}}",
     "(title:\"solar eclipse\" body:\"solar eclipse\")"},
    {"{\"multi_match\": {\"query\": \"eclipse\", \"fields\": [\"title\"]}}", "title:eclipse"},
    {"{\"multi_match\": {\"query\": \"eclipse\", \"fields\": \"title\"}}", "title:eclipse"},
    {"{\"multi_match\": {\"query\": \"eclipse\", \"fields\": [\"title^1\", \"body^1.0\"]}}",
     "(title:eclipse body:eclipse)"},
    {"{\"multi_match\": {\"query\": \"a b\"}}", "(a b)"},
    {"{\"multi_match\": {\"query\": \"a b\", \"fields\": []}}", "(a b)"},
    {"{\"multi_match\": {\"query\": \"a b\", \"fields\": [\"title\", \"*\"]}}", "(a b)"},
    {"{\"multi_match\": {\"query\": \"?!\", \"fields\": [\"title\", \"body\"]}}", NONE},

    /* bool */
    {"{\"bool\": {}}", "*:*"},
    {"{\"bool\": {\"must\": {\"match\": {\"title\": \"a\"}}}}", "+title:a"},
    {"{\"bool\": {\"must\": [{\"match\": {\"title\": \"a\"}}], \"filter\": {\"match_phrase\": "
     "{\"body\": \"d e\"}}, \"should\": [{\"match\": {\"body\": \"b\"}}], \"must_not\": "
     "{\"term\": {\"body\": \"c\"}}}}",
     "+title:a #body:\"d e\" body:b -body:c"},
    {"{\"bool\": {\"should\": [{\"match\": {\"title\": \"x\"}}, {\"match\": {\"title\": "
     "\"y\"}}]}}",
     "title:x title:y"},
    {"{\"bool\": {\"must\": {\"bool\": {\"should\": [{\"match\": {\"title\": \"x\"}}, "
     "{\"match\": {\"title\": \"y\"}}]}}}}",
     "+(title:x title:y)"},
    {"{\"bool\": {\"must_not\": {\"match\": {\"title\": \"x\"}}}}", "+*:* -title:x"},
    {"{\"bool\": {\"must_not\": [{\"match\": {\"title\": \"x\"}}, {\"match\": {\"body\": "
     "\"y z\"}}]}}",
     "+*:* -title:x -body:(y z)"},
    {"{\"bool\": {\"must\": {\"bool\": {\"must_not\": {\"match\": {\"title\": \"x\"}}}}}}",
     "+(+*:* -title:x)"},
    {"{\"bool\": {\"must\": {\"match_all\": {}}, \"filter\": [{\"term\": {\"tag\": \"x\"}}]}}",
     "+*:* #tag:x"},
    {"{\"bool\": {\"should\": [{\"match_all\": {}}]}}", "*:*"},
    {"{\"bool\": {\"must\": {\"match\": {\"title\": \"a\"}}, \"should\": [{\"match\": "
     "{\"title\": \"b\"}}, {\"match\": {\"title\": \"c\"}}], \"minimum_should_match\": 1}}",
     "+title:a +(title:b title:c)"},
    {"{\"bool\": {\"filter\": {\"match\": {\"title\": \"a\"}}, \"should\": [{\"match\": "
     "{\"title\": \"b\"}}], \"minimum_should_match\": \"1\"}}",
     "#title:a +title:b"},
    {"{\"bool\": {\"must\": {\"match\": {\"title\": \"a\"}}, \"should\": [{\"match\": "
     "{\"title\": \"b\"}}], \"minimum_should_match\": 0}}",
     "+title:a title:b"},
    {"{\"bool\": {\"should\": [{\"match\": {\"title\": \"b\"}}, {\"match\": {\"title\": "
     "\"c\"}}], \"minimum_should_match\": 1}}",
     "title:b title:c"},
    {"{\"bool\": {\"must\": [], \"should\": [], \"must_not\": [], \"filter\": []}}", "*:*"},
    {"{\"bool\": {\"must\": {\"match_none\": {}}}}", "+" NONE},
    {"{\"bool\": {\"must\": {\"bool\": {\"must\": {\"bool\": {\"should\": {\"match\": "
     "{\"title\": \"deep\"}}}}}}, \"adjust_pure_negative\": true, \"boost\": 1}}",
     "+(+(title:deep))"},
    {"{\"bool\": {\"must\": {\"bool\": {}}}}", "+*:*"},

    /* term: one literal, every syntax character escaped */
    {"{\"term\": {\"tag\": \"x\"}}", "tag:x"},
    {"{\"term\": {\"tag\": \"New York\"}}", "tag:New\\ York"},
    {"{\"term\": {\"tag\": {\"value\": \"a+b-c(d):e*\\\\\\\"f\"}}}",
     "tag:a\\+b\\-c\\(d\\)\\:e\\*\\\\\\\"f"},
    {"{\"term\": {\"tag\": \"AND\"}}", "tag:\\AND"},
    {"{\"term\": {\"tag\": \"OR\"}}", "tag:\\OR"},
    {"{\"term\": {\"tag\": \"*:*\"}}", "tag:\\*\\:\\*"}, /* a keyword may be anything */
    {"{\"term\": {\"tag\": \"a*:*b\"}}", "tag:a\\*\\:\\*b"},
    {"{\"term\": {\"tag\": \"-x\"}}", "tag:\\-x"},
    {"{\"term\": {\"tag\": \"a\\tb\\nc\"}}", "tag:a\\\tb\\\nc"},
    {"{\"term\": {\"n\": 42}}", "n:42"},
    {"{\"term\": {\"n\": -7}}", "n:\\-7"},
    {"{\"term\": {\"b\": false}}", "b:false"},
    {"{\"term\": {\"tag\": \"\"}}", "tag:\"\""}, /* the empty value (a keyword's) */
    {"{\"term\": {\"tag\": \"()\"}}", "tag:\\(\\)"},
    {"{\"term\": {\"tags\": \"role::program\"}}", "tags:role\\:\\:program"},
    {"{\"term\": {\"_id\": \"x y\"}}", "_id:x\\ y"},
    {"{\"term\": {\"_id\": {\"value\": 12}}}", "_id:12"},
    {"{\"term\": {\"tag\": {\"value\": \"Moon\", \"case_insensitive\": true, \"boost\": 1}}}",
     "tag:Moon"},
    {"{\"term\": {\"_all\": \"x\"}}", "x"},

    /* terms: constant score, as in OpenSearch */
    {"{\"terms\": {\"tag\": [\"a\", \"b c\", \"\", 7]}}", "(#tag:(a b\\ c \"\" 7))^=1"},
    {"{\"terms\": {\"tag\": [\"only\"], \"boost\": 1}}", "(#tag:only)^=1"},
    {"{\"terms\": {\"tag\": []}}", NONE},
    {"{\"terms\": {\"tag\": [\"\"]}}", "(#tag:\"\")^=1"},
    {"{\"terms\": {\"_name\": \"t\", \"tag\": [\"a)\", \"(b\"]}}", "(#tag:(a\\) \\(b))^=1"},
    {"{\"terms\": {\"tag\": [\"!\", \"role::x\"]}}", "(#tag:(\\! role\\:\\:x))^=1"},
    {"{\"terms\": {\"_id\": [\"a\", \"b\"]}}", "(#(_id:a _id:b))^=1"},

    /* range: bounds as written, unless they are dates (format, time_zone,
     * date math: test_dates) */
    {"{\"range\": {\"year\": {\"gte\": 2000, \"lt\": 2010}}}", "year:[2000 TO 2010}"},
    {"{\"range\": {\"n\": {\"gt\": 1.5, \"lte\": -3}}}", "n:{1.5 TO -3]"},
    {"{\"range\": {\"k\": {\"gte\": \"a b\", \"lt\": \"z]\"}}}", "k:[\"a b\" TO z\\]}"},
    {"{\"range\": {\"k\": {\"gte\": \"\"}}}", "k:[\"\" TO *]"},
    {"{\"range\": {\"k\": {\"lt\": \"*\", \"gt\": \"TO\"}}}", "k:{\\TO TO \\*}"},
    {"{\"range\": {\"d\": {\"gte\": \"2024-01-01\"}}}", "d:[2024-01-01 TO *]"},
    {"{\"range\": {\"b\": {\"gte\": true}}}", "b:[true TO *]"},
    {"{\"range\": {\"k\": {\"gte\": \"nowhere\", \"lt\": \"now!\"}}}", "k:[nowhere TO now!}"},
    {"{\"range\": {\"n\": {\"from\": 1, \"to\": 5, \"include_upper\": false}}}", "n:[1 TO 5}"},
    {"{\"range\": {\"n\": {\"from\": 1, \"to\": null, \"include_lower\": false}}}", "n:{1 TO *}"},
    {"{\"range\": {\"n\": {\"from\": 1, \"to\": 2}}}", "n:[1 TO 2]"},
    {"{\"range\": {\"n\": {\"lte\": 2, \"gte\": null}}}", "n:[* TO 2]"},
    {"{\"range\": {\"n\": {\"from\": null, \"to\": null}}}", "_exists_:n"},
    {"{\"range\": {\"n\": {}}}", "_exists_:n"},
    {"{\"range\": {\"n\": {\"gte\": 1, \"relation\": \"INTERSECTS\", \"boost\": 1, "
     "\"_name\": \"r\"}}}",
     "n:[1 TO *]"},
    {"{\"range\": {\"a.b_c-d\": {\"gt\": \"x\"}}}", "a.b_c-d:>x"},

    /* exists, ids */
    {"{\"exists\": {\"field\": \"tags\"}}", "_exists_:tags"},
    {"{\"exists\": {\"field\": \"tags\", \"boost\": 1, \"_name\": \"e\"}}", "_exists_:tags"},
    {"{\"bool\": {\"must_not\": {\"exists\": {\"field\": \"tags\"}}}}", "+*:* -_exists_:tags"},
    {"{\"ids\": {\"values\": [\"a\", \"b c\"]}}", "(#(_id:a _id:b\\ c))^=1"},
    {"{\"ids\": {\"values\": [\"x\"]}}", "(#_id:x)^=1"},
    {"{\"ids\": {\"values\": [\"\", 7], \"type\": \"_doc\"}}", "(#_id:7)^=1"},
    {"{\"ids\": {\"values\": []}}", NONE},

    /* constant_score, and bool's filter clauses: required, never scoring */
    {"{\"constant_score\": {\"filter\": {\"term\": {\"tags\": \"x\"}}}}", "(#tags:x)^=1"},
    {"{\"constant_score\": {\"filter\": {\"bool\": {\"must\": [{\"match\": {\"t\": \"a\"}}, "
     "{\"range\": {\"n\": {\"gte\": 1}}}]}}, \"boost\": 1.0}}",
     "(#(+t:a +n:>=1))^=1"},
    {"{\"bool\": {\"must\": {\"constant_score\": {\"filter\": {\"match_all\": {}}}}}}",
     "+(#*:*)^=1"},
    {"{\"constant_score\": {\"filter\": {\"match\": {\"t\": \"a b\"}}}}", "(#t:(a b))^=1"},
    {"{\"bool\": {\"filter\": [{\"range\": {\"year\": {\"gte\": 2020}}}, {\"term\": "
     "{\"tags\": \"web\"}}]}}",
     "#year:>=2020 #tags:web"},
    {"{\"bool\": {\"must\": {\"match\": {\"body\": \"solar\"}}, \"filter\": {\"exists\": "
     "{\"field\": \"tags\"}}}}",
     "+body:solar #_exists_:tags"},
    {"{\"bool\": {\"must\": {\"bool\": {\"filter\": {\"term\": {\"t\": \"x\"}}}}}}", "+(#t:x)"},

    /* prefix */
    {"{\"prefix\": {\"title\": \"ecl\"}}", "title:ecl*"},
    {"{\"prefix\": {\"title\": {\"value\": \"a:b\", \"rewrite\": \"constant_score\"}}}",
     "title:a\\:b*"},
    {"{\"prefix\": {\"title\": \"x*\"}}", "title:x\\**"},

    /* query_string: trawl syntax, passed through, wrapped when not alone */
    {"{\"query_string\": {\"query\": \"title:solar AND eclipse\"}}", "title:solar AND eclipse"},
    {"{\"query_string\": {\"query\": \"a b\", \"default_field\": \"body\"}}", "body:(a b)"},
    {"{\"query_string\": {\"query\": \"a b\", \"default_field\": \"*\"}}", "a b"},
    {"{\"query_string\": {\"query\": \"a b\", \"fields\": [\"title\", \"body\"]}}",
     "title:(a b) OR body:(a b)"},
    {"{\"query_string\": {\"query\": \"a b\", \"fields\": [\"title\"], \"analyze_wildcard\": "
     "true, \"default_operator\": \"or\"}}",
     "title:(a b)"},
    {"{\"query_string\": {\"query\": \"\\\"a (b\\\" \\\\) c\"}}", "\"a (b\" \\) c"},
    {"{\"query_string\": {\"query\": \"   \"}}", NONE},
    {"{\"bool\": {\"must\": {\"query_string\": {\"query\": \"a OR b\"}}, \"filter\": "
     "{\"term\": {\"tag\": \"x\"}}}}",
     "+(a OR b) #tag:x"},
    {"{\"bool\": {\"should\": {\"query_string\": {\"query\": \"a\", \"fields\": [\"title\", "
     "\"body\"]}}}}",
     "(title:(a) OR body:(a))"},
    {"{\"query_string\": {\"query\": \"*:*\"}}", "*:*"},
};

static void test_translate(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof ok_cases / sizeof ok_cases[0]; i++) {
		char what[64];
		snprintf(what, sizeof what, "case %zu %.40s", i, ok_cases[i].dsl);
		assert_tree_is(compile(ok_cases[i].dsl), ok_cases[i].want, TRAWL_OP_OR, what);
	}
}

/* ---- dates: format, time_zone, date math, rounding ---- */

/* `now` in these tests: 2024-03-15T10:30:45.123Z, a Friday. */
#define NOW 1710498645123LL

static const ok_case date_cases[] = {
    /* date math on now; gte and lt round down, gt and lte up */
    {"{\"range\": {\"d\": {\"gte\": \"now-1d/d\", \"lt\": \"now/d\"}}}",
     "d:[2024-03-14T00:00:00.000Z TO 2024-03-15T00:00:00.000Z}"},
    {"{\"range\": {\"d\": {\"gt\": \"now/d\"}}}", "d:{2024-03-15T23:59:59.999Z TO *}"},
    {"{\"range\": {\"d\": {\"lte\": \"now/d\"}}}", "d:{* TO 2024-03-15T23:59:59.999Z]"},
    {"{\"range\": {\"d\": {\"gte\": \"now\", \"lte\": \"now\"}}}",
     "d:[2024-03-15T10:30:45.123Z TO 2024-03-15T10:30:45.123Z]"},
    {"{\"range\": {\"d\": {\"gte\": \"now-1h\", \"lte\": \"now+30m\"}}}",
     "d:[2024-03-15T09:30:45.123Z TO 2024-03-15T11:00:45.123Z]"},
    {"{\"range\": {\"d\": {\"gte\": \"now-1d-2h+3s\"}}}", "d:>=2024-03-14T08:30:48.123Z"},
    {"{\"range\": {\"d\": {\"gte\": \"now-d\"}}}", "d:>=2024-03-14T10:30:45.123Z"},
    {"{\"range\": {\"d\": {\"gte\": \"now/w\", \"lte\": \"now/w\"}}}",
     "d:[2024-03-11T00:00:00.000Z TO 2024-03-17T23:59:59.999Z]"},
    {"{\"range\": {\"d\": {\"gte\": \"now/M\", \"lt\": \"now+1M/M\"}}}",
     "d:[2024-03-01T00:00:00.000Z TO 2024-04-01T00:00:00.000Z}"},
    {"{\"range\": {\"d\": {\"gte\": \"now/y\", \"lte\": \"now/y\"}}}",
     "d:[2024-01-01T00:00:00.000Z TO 2024-12-31T23:59:59.999Z]"},
    {"{\"range\": {\"d\": {\"gte\": \"now/H\", \"lte\": \"now/m\"}}}",
     "d:[2024-03-15T10:00:00.000Z TO 2024-03-15T10:30:59.999Z]"},
    {"{\"range\": {\"d\": {\"gt\": \"now/h\", \"lt\": \"now/s\"}}}",
     "d:{2024-03-15T10:59:59.999Z TO 2024-03-15T10:30:45.000Z}"},
    {"{\"range\": {\"d\": {\"gte\": \"now-1y/d\"}}}", "d:>=2023-03-15T00:00:00.000Z"},
    {"{\"range\": {\"d\": {\"gte\": \"now-1d/d\", \"format\": \"yyyy-MM-dd\"}}}",
     "d:>=2024-03-14T00:00:00.000Z"},
    /* date math on a date: the anchor is never rounded up */
    {"{\"range\": {\"d\": {\"gte\": \"2024-01-01||+1M/M\", \"lte\": \"2024-01-01||+1M/M\"}}}",
     "d:[2024-02-01T00:00:00.000Z TO 2024-02-29T23:59:59.999Z]"},
    {"{\"range\": {\"d\": {\"lt\": \"2024-01-31||+1M\"}}}", "d:<2024-02-29T00:00:00.000Z"},
    {"{\"range\": {\"d\": {\"lte\": \"2024-01-31||+1M\"}}}", "d:<=2024-02-29T00:00:00.000Z"},
    {"{\"range\": {\"d\": {\"gte\": \"2023-01-31||+1M-1d\"}}}", "d:>=2023-02-27T00:00:00.000Z"},
    {"{\"range\": {\"d\": {\"gte\": \"2024-02-29||+1y\"}}}", "d:>=2025-02-28T00:00:00.000Z"},
    {"{\"range\": {\"d\": {\"gte\": \"2024-01-01T10:00:00Z||/d\"}}}",
     "d:>=2024-01-01T00:00:00.000Z"},
    {"{\"range\": {\"d\": {\"gte\": \"1704067200000||-1d\"}}}", "d:>=2023-12-31T00:00:00.000Z"},
    /* time_zone: dates without a zone, and the rounding */
    {"{\"range\": {\"d\": {\"gte\": \"2024-01-01\", \"time_zone\": \"+01:00\"}}}",
     "d:>=2023-12-31T23:00:00.000Z"},
    {"{\"range\": {\"d\": {\"gte\": \"2024-01-01T00:00:00+02:00\", \"time_zone\": \"+01:00\"}}}",
     "d:>=2023-12-31T22:00:00.000Z"},
    {"{\"range\": {\"d\": {\"gte\": \"now/d\", \"time_zone\": \"-05:00\"}}}",
     "d:>=2024-03-15T05:00:00.000Z"},
    {"{\"range\": {\"d\": {\"gte\": \"now/d\", \"time_zone\": \"+14:00\"}}}",
     "d:>=2024-03-15T10:00:00.000Z"},
    {"{\"range\": {\"d\": {\"lte\": \"now/d\", \"time_zone\": \"UTC+01:00\"}}}",
     "d:<=2024-03-15T22:59:59.999Z"},
    {"{\"range\": {\"d\": {\"gte\": \"now\", \"time_zone\": \"-0800\"}}}",
     "d:>=2024-03-15T10:30:45.123Z"},
    {"{\"range\": {\"d\": {\"gte\": \"2024-06-01T12:00\", \"time_zone\": \"GMT-8\"}}}",
     "d:>=2024-06-01T20:00:00.000Z"},
    {"{\"range\": {\"d\": {\"gte\": 1704067200000, \"time_zone\": \"Z\"}}}",
     "d:>=2024-01-01T00:00:00.000Z"},
    /* format: the value's fields, missing ones filled as OpenSearch fills
     * them (round up: 23:59:59.999, month and day 1) */
    {"{\"range\": {\"d\": {\"gte\": \"2024-01-31\", \"lte\": \"2024-02-01\", \"format\": "
     "\"yyyy-MM-dd\"}}}",
     "d:[2024-01-31T00:00:00.000Z TO 2024-02-01T23:59:59.999Z]"},
    {"{\"range\": {\"d\": {\"gt\": \"2024-01-31\", \"lt\": \"2024-02-05\", \"format\": "
     "\"date\"}}}",
     "d:{2024-01-31T23:59:59.999Z TO 2024-02-05T00:00:00.000Z}"},
    {"{\"range\": {\"d\": {\"lte\": \"2099-12\", \"format\": \"yyyy-MM\"}}}",
     "d:<=2099-12-01T23:59:59.999Z"},
    {"{\"range\": {\"d\": {\"gte\": 1704067200000, \"format\": \"epoch_millis\"}}}",
     "d:>=2024-01-01T00:00:00.000Z"},
    {"{\"range\": {\"d\": {\"lt\": \"1704067200.5\", \"format\": \"epoch_second\"}}}",
     "d:<2024-01-01T00:00:00.500Z"},
    {"{\"range\": {\"d\": {\"gte\": \"31/01/2024 10:15\", \"format\": \"dd/MM/yyyy HH:mm\"}}}",
     "d:>=2024-01-31T10:15:00.000Z"},
    {"{\"range\": {\"d\": {\"gte\": \"20240131T101500.250+0100\", \"format\": "
     "\"basic_date_time\"}}}",
     "d:>=2024-01-31T09:15:00.250Z"},
    {"{\"range\": {\"d\": {\"gte\": \"2024-1-5\", \"format\": \"date_optional_time\"}}}",
     "d:>=2024-01-05T00:00:00.000Z"},
    {"{\"range\": {\"d\": {\"gte\": \"2024-01-01T10:00:00.5+0530\", \"format\": "
     "\"strict_date_optional_time\"}}}",
     "d:>=2024-01-01T04:30:00.500Z"},
    {"{\"range\": {\"d\": {\"gte\": 1704067200000, \"format\": "
     "\"strict_date_optional_time||epoch_millis\"}}}",
     "d:>=2024-01-01T00:00:00.000Z"},
    {"{\"range\": {\"d\": {\"gte\": \"2024\", \"format\": \"yyyy||epoch_millis\"}}}",
     "d:>=2024-01-01T00:00:00.000Z"},
    {"{\"range\": {\"d\": {\"gte\": \"2024-01-01T00:00:00Z\", \"format\": "
     "\"yyyy-MM-dd'T'HH:mm:ssX\"}}}",
     "d:>=2024-01-01T00:00:00.000Z"},
    /* outside years 0000-9999: milliseconds */
    {"{\"range\": {\"d\": {\"gte\": \"-62167219200001\", \"format\": \"epoch_millis\"}}}",
     "d:>=\\-62167219200001"},
    {"{\"range\": {\"d\": {\"lte\": \"9999-12-31||+1d\"}}}", "d:<=253402300800000"},
    /* now once: both clauses see the same instant */
    {"{\"bool\": {\"should\": [{\"range\": {\"a\": {\"gte\": \"now\"}}}, {\"range\": {\"b\": "
     "{\"lt\": \"now\"}}}]}}",
     "a:>=2024-03-15T10:30:45.123Z b:<2024-03-15T10:30:45.123Z"},
};

static void test_dates(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof date_cases / sizeof date_cases[0]; i++) {
		char what[64];
		snprintf(what, sizeof what, "date case %zu %.40s", i, date_cases[i].dsl);
		json_t *j = load(date_cases[i].dsl);
		qt_node *t = NULL;
		dsl_error e;
		int rc = dsl_compile_at(j, NOW, &t, NULL, &e);
		if (rc != TRAWL_OK)
			fail_msg("%s: rc %d: %s", what, rc, e.reason);
		json_decref(j);
		assert_tree_is(t, date_cases[i].want, TRAWL_OP_OR, what);
	}
	/* dsl_compile reads the wall clock, once */
	json_t *j = load("{\"range\": {\"d\": {\"gte\": \"now\"}}}");
	qt_node *t = NULL;
	dsl_error e;
	int64_t before = (int64_t)(clock_unix_us() / 1000);
	assert_int_equal(dsl_compile(j, &t, NULL, &e), TRAWL_OK);
	int64_t after = (int64_t)(clock_unix_us() / 1000), got;
	dm_formats f;
	dm_default_formats(&f);
	char why[128];
	assert_int_equal(
	    dm_resolve(t->kids[0]->text, t->kids[0]->len, &f, 0, 0, 0, &got, why, sizeof why),
	    TRAWL_OK);
	assert_true(got >= before && got <= after);
	qt_free(t);
	json_decref(j);
	/* the canonical text round-trips through the default formats */
	static const int64_t ms[] = {0,
	                             1,
	                             -1,
	                             NOW,
	                             253402300799999LL,
	                             -62167219200000LL,
	                             253402300800000LL,
	                             -62167219200001LL};
	for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
		char text[32];
		size_t n = dm_format_ms(ms[i], text);
		assert_int_equal(dm_resolve(text, n, &f, 0, 1, 0, &got, why, sizeof why), TRAWL_OK);
		assert_true(got == ms[i]);
	}
}

/* ---- errors ---- */

typedef struct err_case {
	const char *dsl;
	int rc;
	const char *reason;
} err_case;

#define EQ TRAWL_EQUERY

static const err_case err_cases[] = {
    /* the shape of a query */
    {"[]", EQ, "[_na] query malformed, must start with start_object"},
    {"\"match_all\"", EQ, "[_na] query malformed, must start with start_object"},
    {"{}", EQ, "query malformed, empty clause found"},
    {"{\"match\": {\"a\": \"x\"}, \"term\": {\"b\": \"y\"}}", EQ,
     "[match] malformed query, expected [END_OBJECT] but found [FIELD_NAME] [term]"},
    {"{\"foo\": {}}", EQ, "unknown query [foo]"},
    {"{\"wildcard\": {\"title\": \"ecl*se\"}}", EQ,
     "[wildcard] queries are not supported by trawl; supported: match_all, match_none, match, "
     "match_phrase, multi_match, bool, term, terms, prefix, range, exists, ids, constant_score, "
     "query_string"},
    {"{\"dis_max\": {\"queries\": []}}", EQ,
     "[dis_max] queries are not supported by trawl; supported: match_all, match_none, match, "
     "match_phrase, multi_match, bool, term, terms, prefix, range, exists, ids, constant_score, "
     "query_string"},
    {"{\"match_all\": []}", EQ, "[match_all] query malformed, no start_object after query name"},
    {"{\"match_all\": {\"boost\": 2}}", EQ,
     "[match_all] query option [boost] is not supported: trawl weighs fields with the schema's "
     "boosts (only a boost of 1 is accepted)"},
    {"{\"match_all\": {\"x\": 1}}", EQ, "[match_all] query does not support [x]"},
    {"{\"match_all\": {\"_name\": 1}}", EQ, "[match_all] [_name] must be a string"},

    /* match */
    {"{\"match\": \"x\"}", EQ, "[match] query malformed, no start_object after query name"},
    {"{\"match\": {}}", EQ, "[match] query names no field"},
    {"{\"match\": {\"title\": \"x\", \"body\": \"y\"}}", EQ,
     "[match] query doesn't support multiple fields, found [title] and [body]"},
    {"{\"match\": {\"title\": {\"query\": \"x\", \"fuzziness\": \"AUTO\"}}}", EQ,
     "[match] query option [fuzziness] is not supported by trawl"},
    {"{\"match\": {\"title\": {\"query\": \"x\", \"analyzer\": \"standard\"}}}", EQ,
     "[match] query option [analyzer] is not supported by trawl"},
    {"{\"match\": {\"title\": {\"query\": \"x\", \"fuzzines\": 1}}}", EQ,
     "[match] query does not support [fuzzines]"},
    {"{\"match\": {\"title\": {\"operator\": \"and\"}}}", EQ, "[match] requires query value"},
    {"{\"match\": {\"title\": {\"query\": \"x\", \"operator\": \"xor\"}}}", EQ,
     "[match] [operator] must be \"or\" or \"and\""},
    {"{\"match\": {\"title\": {\"query\": \"x y\", \"minimum_should_match\": 2}}}", EQ,
     "[match] [minimum_should_match] VALUE_NUMBER is not supported: trawl accepts only 1 (or 0)"},
    {"{\"match\": {\"title\": {\"query\": \"x y\", \"minimum_should_match\": \"75%\"}}}", EQ,
     "[match] [minimum_should_match] \"75%\" is not supported: trawl accepts only 1 (or 0)"},
    {"{\"match\": {\"title\": {\"query\": \"x\", \"zero_terms_query\": \"some\"}}}", EQ,
     "[match] [zero_terms_query] must be \"none\" or \"all\""},
    {"{\"match\": {\"title\": {\"query\": \"x\", \"boost\": 3}}}", EQ,
     "[match] query option [boost] is not supported: trawl weighs fields with the schema's "
     "boosts (only a boost of 1 is accepted)"},
    {"{\"match\": {\"title\": null}}", EQ,
     "[match] [query] must be a string, a number or a boolean, not VALUE_NULL"},
    {"{\"match\": {\"title\": [\"x\"]}}", EQ,
     "[match] [query] must be a string, a number or a boolean, not START_ARRAY"},
    {"{\"match\": {\"ti tle\": \"x\"}}", EQ,
     "[match] [ti tle] is not a valid trawl field name (letters, digits, '_', '.' and '-', not "
     "starting with '-')"},
    {"{\"match\": {\"-title\": \"x\"}}", EQ,
     "[match] [-title] is not a valid trawl field name (letters, digits, '_', '.' and '-', not "
     "starting with '-')"},
    {"{\"match\": {\"a:b\": \"x\"}}", EQ,
     "[match] [a:b] is not a valid trawl field name (letters, digits, '_', '.' and '-', not "
     "starting with '-')"},
    {"{\"match\": {\"ti*\": \"x\"}}", EQ,
     "[match] field patterns such as [ti*] are not supported; name the fields, or use * for "
     "every text field"},
    {"{\"match\": {\"\": \"x\"}}", EQ, "[match] field name is empty"},
    {"{\"match\": {\"title^2\": \"x\"}}", EQ,
     "[match] [title^2] is not a valid trawl field name (letters, digits, '_', '.' and '-', not "
     "starting with '-')"},

    /* match_phrase */
    {"{\"match_phrase\": {\"body\": {\"query\": \"a b\", \"slop\": 2}}}", EQ,
     "[match_phrase] [slop] is not supported: trawl phrases match exactly (only 0)"},
    {"{\"match_phrase\": {\"body\": {\"query\": \"a b\", \"operator\": \"and\"}}}", EQ,
     "[match_phrase] query does not support [operator]"},

    /* multi_match */
    {"{\"multi_match\": {\"fields\": [\"title\"]}}", EQ, "[multi_match] requires query value"},
    {"{\"multi_match\": {\"query\": \"x\", \"fields\": [\"title^2\"]}}", EQ,
     "[multi_match] field boosts such as [title^2] are not supported: trawl weighs fields with "
     "the schema's boosts"},
    {"{\"multi_match\": {\"query\": \"x\", \"fields\": [\"title^\"]}}", EQ,
     "[multi_match] field [title^] has a malformed boost"},
    {"{\"multi_match\": {\"query\": \"x\", \"fields\": [\"tit*\"]}}", EQ,
     "[multi_match] field patterns such as [tit*] are not supported; name the fields, or use * "
     "for every text field"},
    {"{\"multi_match\": {\"query\": \"x\", \"fields\": [1]}}", EQ,
     "[multi_match] [fields] must be an array of strings"},
    {"{\"multi_match\": {\"query\": \"x\", \"fields\": {}}}", EQ,
     "[multi_match] [fields] must be an array of strings"},
    {"{\"multi_match\": {\"query\": \"x\", \"type\": \"cross_fields\"}}", EQ,
     "[multi_match] type [cross_fields] is not supported by trawl; use best_fields, most_fields "
     "or phrase"},
    {"{\"multi_match\": {\"query\": \"x\", \"type\": \"best\"}}", EQ,
     "[multi_match] query does not support type [best]"},
    {"{\"multi_match\": {\"query\": \"x\", \"fuzziness\": 1}}", EQ,
     "[multi_match] query option [fuzziness] is not supported by trawl"},

    /* bool */
    {"{\"bool\": []}", EQ, "[bool] query malformed, no start_object after query name"},
    {"{\"bool\": {\"must\": \"x\"}}", EQ,
     "[bool] [must] must be a query object or an array of them"},
    {"{\"bool\": {\"mustnot\": {}}}", EQ, "[bool] query does not support [mustnot]"},
    {"{\"bool\": {\"should\": [{\"match\": {\"a\": \"x\"}}], \"minimum_should_match\": 2}}", EQ,
     "[bool] [minimum_should_match] VALUE_NUMBER is not supported: trawl accepts only 1 (or 0)"},
    {"{\"bool\": {\"should\": [{\"match\": {\"a\": \"x\"}}], \"minimum_should_match\": "
     "\"2\"}}",
     EQ, "[bool] [minimum_should_match] \"2\" is not supported: trawl accepts only 1 (or 0)"},
    {"{\"bool\": {\"must\": [{\"match\": {\"a\": \"x\"}}, {\"nope\": {}}]}}", EQ,
     "unknown query [nope]"},
    {"{\"bool\": {\"must\": [{}]}}", EQ, "query malformed, empty clause found"},
    {"{\"bool\": {\"filter\": [1]}}", EQ, "[_na] query malformed, must start with start_object"},
    {"{\"bool\": {\"must\": {\"match\": {\"a\": \"x\"}}, \"boost\": 0.5}}", EQ,
     "[bool] query option [boost] is not supported: trawl weighs fields with the schema's "
     "boosts (only a boost of 1 is accepted)"},

    /* term, terms, prefix */
    {"{\"term\": {\"tag\": {\"value\": {\"x\": 1}}}}", EQ,
     "[term] [value] must be a string, a number or a boolean, not START_OBJECT"},
    {"{\"term\": {\"tag\": {\"val\": 1}}}", EQ, "[term] query does not support [val]"},
    {"{\"term\": {\"tag\": {\"boost\": 1}}}", EQ,
     "[term] query requires a [value] for field [tag]"},
    {"{\"terms\": {\"tag\": \"x\"}}", EQ,
     "[terms] query requires an array of values for field [tag]"},
    {"{\"terms\": {\"tag\": {\"index\": \"i\", \"id\": \"1\", \"path\": \"p\"}}}", EQ,
     "[terms] query option [lookup] is not supported by trawl"},
    {"{\"terms\": {\"tag\": [\"a\"], \"other\": [\"b\"]}}", EQ,
     "[terms] query doesn't support multiple fields, found [tag] and [other]"},
    {"{\"terms\": {\"tag\": [[1]]}}", EQ,
     "[terms] [value] must be a string, a number or a boolean, not START_ARRAY"},
    {"{\"prefix\": {\"title\": \"\"}}", EQ, "[prefix] the prefix [] has no letters or digits"},
    {"{\"prefix\": {\"title\": \"..\"}}", EQ, "[prefix] the prefix [..] has no letters or digits"},

    /* range */
    {"{\"range\": {\"d\": {\"gte\": \"now-1x\"}}}", EQ,
     "[range] [gte] [now-1x]: bad date math: the unit is one of y M w d h H m s"},
    {"{\"range\": {\"d\": {\"lt\": \"now+\"}}}", EQ,
     "[range] [lt] [now+]: bad date math: the unit is one of y M w d h H m s"},
    {"{\"range\": {\"d\": {\"gte\": \"now/1d\"}}}", EQ,
     "[range] [gte] [now/1d]: bad date math: the unit is one of y M w d h H m s"},
    {"{\"range\": {\"d\": {\"gte\": \"now*2\", \"format\": \"epoch_millis\"}}}", EQ,
     "[range] [gte] [now*2]: bad date math: expected +, - or / (now-1d/d, 2024-01-01||+1M/M)"},
    {"{\"range\": {\"d\": {\"gte\": \"now-\"}}}", EQ,
     "[range] [gte] [now-]: bad date math: the unit is one of y M w d h H m s"},
    {"{\"range\": {\"d\": {\"gte\": \"now-9999999999d\"}}}", EQ,
     "[range] [gte] [now-9999999999d]: bad date math: an amount over 999999999"},
    {"{\"range\": {\"d\": {\"gte\": \"now+999999999y\"}}}", EQ,
     "[range] [gte] [now+999999999y]: the date math goes out of range"},
    {"{\"range\": {\"d\": {\"gte\": \"now-999999999w-999999999w\"}}}", EQ,
     "[range] [gte] [now-999999999w-999999999w]: the date math goes out of range"},
    {"{\"range\": {\"d\": {\"gte\": \"junk||+1d\"}}}", EQ,
     "[range] [gte] [junk||+1d]: the date before || is not a date in the format"},
    {"{\"range\": {\"d\": {\"gte\": \"2024-13-01\", \"format\": \"yyyy-MM-dd\"}}}", EQ,
     "[range] [gte] [2024-13-01]: not a date in the format"},
    {"{\"range\": {\"d\": {\"gte\": \"2023-02-29\", \"format\": \"yyyy-MM-dd\"}}}", EQ,
     "[range] [gte] [2023-02-29]: not a date in the format"},
    {"{\"range\": {\"d\": {\"gte\": \"2024-01-01x\", \"time_zone\": \"Z\"}}}", EQ,
     "[range] [gte] [2024-01-01x]: not a date in the format"},
    {"{\"range\": {\"d\": {\"gte\": \"99999999999999999\", \"format\": \"epoch_millis\"}}}", EQ,
     "[range] [gte] [99999999999999999]: not a date in the format"},
    {"{\"range\": {\"d\": {\"gte\": \"1\", \"time_zone\": \"Europe/Paris\"}}}", EQ,
     "[range] [time_zone] [Europe/Paris]: named time zones are not supported; give an offset "
     "such as +01:00 (trawl has no zone database, so no daylight saving time)"},
    {"{\"range\": {\"d\": {\"gte\": \"1\", \"time_zone\": \"+19:00\"}}}", EQ,
     "[range] [time_zone] [+19:00]: a time zone is Z, UTC or an offset from -18:00 to +18:00 "
     "(+01:00, -0800)"},
    {"{\"range\": {\"d\": {\"gte\": \"1\", \"time_zone\": 1}}}", EQ,
     "[range] [time_zone] must be a string"},
    {"{\"range\": {\"d\": {\"gte\": \"1\", \"format\": \"EEE dd\"}}}", EQ,
     "[range] [format] [EEE dd]: a pattern letter other than y u M d H m s S X Z x (names of "
     "months and days, 12-hour clocks, weeks and days of the year are not supported)"},
    {"{\"range\": {\"d\": {\"gte\": \"1\", \"format\": \"yy-MM\"}}}", EQ,
     "[range] [format] [yy-MM]: a year of other than 4 letters (yyyy)"},
    {"{\"range\": {\"d\": {\"gte\": \"1\", \"format\": \"dd MMM yyyy\"}}}", EQ,
     "[range] [format] [dd MMM yyyy]: a pattern letter repeated more than twice (month names "
     "are not supported)"},
    {"{\"range\": {\"d\": {\"gte\": \"1\", \"format\": \"basic_ordinal_date\"}}}", EQ,
     "[range] [format] [basic_ordinal_date]: an unknown named format"},
    {"{\"range\": {\"d\": {\"gte\": \"1\", \"format\": \"yyyy||\"}}}", EQ,
     "[range] [format] [yyyy||]: an empty format"},
    {"{\"range\": {\"d\": {\"gte\": \"1\", \"format\": \"'T\"}}}", EQ,
     "[range] [format] ['T]: a pattern with an unclosed quote"},
    {"{\"range\": {\"d\": {\"gte\": \"1\", \"format\": 5}}}", EQ,
     "[range] [format] must be a string"},
    {"{\"range\": {\"d\": {\"gt\": 1, \"gte\": 2}}}", EQ,
     "[range] [gt] and [gte] both give the lower bound of [d]"},
    {"{\"range\": {\"d\": {\"lt\": 1, \"to\": 2}}}", EQ,
     "[range] [lt] and [to] both give the upper bound of [d]"},
    {"{\"range\": {\"d\": \"x\"}}", EQ,
     "[range] [d] must be an object of gt, gte, lt, lte (and format, time_zone)"},
    {"{\"range\": {}}", EQ, "[range] query names no field"},
    {"{\"range\": {\"a\": {}, \"b\": {}}}", EQ,
     "[range] query doesn't support multiple fields, found [a] and [b]"},
    {"{\"range\": {\"d\": {\"gte\": [1]}}}", EQ,
     "[range] [gte] must be a string, a number or a boolean, not START_ARRAY"},
    {"{\"range\": {\"d\": {\"gte\": 1, \"foo\": 2}}}", EQ, "[range] query does not support [foo]"},
    {"{\"range\": {\"d\": {\"gte\": 1, \"boost\": 2}}}", EQ,
     "[range] query option [boost] is not supported: trawl weighs fields with the schema's "
     "boosts (only a boost of 1 is accepted)"},
    {"{\"range\": {\"*\": {\"gte\": 1}}}", EQ, "[range] must name one field, not [*]"},
    {"{\"range\": {\"-d\": {\"gte\": 1}}}", EQ,
     "[range] [-d] is not a valid trawl field name (letters, digits, '_', '.' and '-', not "
     "starting with '-')"},
    {"{\"range\": {\"d\": {\"from\": 1, \"include_lower\": \"yes\"}}}", EQ,
     "[range] [include_lower] must be true or false"},
    {"{\"range\": {\"d\": {\"gt\": 1, \"include_lower\": true}}}", EQ,
     "[range] [include_lower] goes with [from], not [gt]"},
    {"{\"range\": {\"d\": {\"gte\": 1, \"relation\": \"disjoint\"}}}", EQ,
     "[range] [relation] must be intersects, contains or within"},

    /* exists, ids, constant_score */
    {"{\"exists\": {}}", EQ, "[exists] must be provided with a [field]"},
    {"{\"exists\": {\"field\": 1}}", EQ, "[exists] must be provided with a [field]"},
    {"{\"exists\": {\"field\": \"*\"}}", EQ, "[exists] [field] must name one field, not [*]"},
    {"{\"exists\": {\"field\": \"t\", \"x\": 1}}", EQ, "[exists] query does not support [x]"},
    {"{\"exists\": \"t\"}", EQ, "[exists] query malformed, no start_object after query name"},
    {"{\"ids\": {}}", EQ, "[ids] [values] must be an array of ids"},
    {"{\"ids\": {\"values\": \"a\"}}", EQ, "[ids] [values] must be an array of ids"},
    {"{\"ids\": {\"values\": [{}]}}", EQ,
     "[ids] [values] must be an array of ids (strings), not START_OBJECT"},
    {"{\"ids\": {\"values\": [\"a\"], \"foo\": 1}}", EQ, "[ids] query does not support [foo]"},
    {"{\"constant_score\": {}}", EQ, "[constant_score] requires a 'filter' element"},
    {"{\"constant_score\": {\"filter\": {\"match_all\": {}}, \"boost\": 2}}", EQ,
     "[constant_score] [boost] 2 is not supported: every document it matches scores 1 (only a "
     "boost of 1 is accepted)"},
    {"{\"constant_score\": {\"filter\": {\"nope\": {}}}}", EQ, "unknown query [nope]"},
    {"{\"constant_score\": {\"query\": {\"match_all\": {}}}}", EQ,
     "[constant_score] query does not support [query]"},
    {"{\"constant_score\": []}", EQ,
     "[constant_score] query malformed, no start_object after query name"},

    /* query_string */
    {"{\"query_string\": {}}", EQ, "[query_string] must be provided with a [query] string"},
    {"{\"query_string\": {\"query\": 1}}", EQ,
     "[query_string] must be provided with a [query] string"},
    {"{\"query_string\": {\"query\": \"a) OR (b\"}}", EQ,
     "[query_string] Failed to parse query [a) OR (b]: it has a ')' without its '('"},
    {"{\"query_string\": {\"query\": \"(a\"}}", EQ,
     "[query_string] Failed to parse query [(a]: it has an unclosed '('"},
    {"{\"query_string\": {\"query\": \"a \\\"b\"}}", EQ,
     "[query_string] Failed to parse query [a \"b]: it has an unterminated quote"},
    {"{\"query_string\": {\"query\": \"a\\\\\"}}", EQ,
     "[query_string] Failed to parse query [a\\]: it has a trailing backslash"},
    /* (default_operator AND: test_and_default) */
    {"{\"query_string\": {\"query\": \"a\", \"default_field\": \"t\", \"fields\": [\"b\"]}}", EQ,
     "[query_string] takes [default_field] or [fields], not both"},
    {"{\"query_string\": {\"query\": \"a\", \"fuzziness\": 2}}", EQ,
     "[query_string] query option [fuzziness] is not supported by trawl"},
    {"{\"query_string\": {\"query\": \"a\", \"type\": \"phrase\"}}", EQ,
     "[query_string] type [phrase] is not supported by trawl; use best_fields or most_fields"},
};

static void test_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof err_cases / sizeof err_cases[0]; i++) {
		json_t *j = load(err_cases[i].dsl);
		qt_node *t = (qt_node *)&t;
		dsl_error e;
		int rc = dsl_compile(j, &t, NULL, &e);
		if (rc != err_cases[i].rc || e.rc != rc || strcmp(e.reason, err_cases[i].reason))
			fail_msg("case %zu %s:\n got %d [%s]\nwant %d [%s]", i, err_cases[i].dsl,
			         rc, e.reason, err_cases[i].rc, err_cases[i].reason);
		assert_null(t);
		assert_int_equal(e.in_text, 0);
		json_decref(j);
	}
}

/* A NUL inside a string (jansson refuses it when parsing by default, but a
 * caller may build one). */
static void test_nul(void **state)
{
	(void)state;
	qt_node *t;
	dsl_error e;
	json_t *j = json_pack("{s:{s:o}}", "term", "tag", json_stringn("a\0b", 3));
	assert_int_equal(dsl_compile(j, &t, NULL, &e), TRAWL_EQUERY);
	assert_string_equal(e.reason, "[term] [value] contains a NUL character");
	json_decref(j);
	j = json_pack("{s:{s:o}}", "query_string", "query", json_stringn("a\0b", 3));
	assert_int_equal(dsl_compile(j, &t, NULL, &e), TRAWL_EQUERY);
	assert_string_equal(e.reason, "[query_string] Failed to parse query [a]: it has a NUL "
	                              "character");
	json_decref(j);
}

/* ---- query_string with default_operator AND ---- */

static void test_and_default(void **state)
{
	(void)state;
	/* the whole query: its clauses required */
	assert_tree_is(compile("{\"query_string\": {\"query\": \"a b\", \"default_operator\": "
	                       "\"AND\"}}"),
	               "a b", TRAWL_OP_AND, "AND");
	assert_tree_is(compile("{\"query_string\": {\"query\": \"a b\", \"default_field\": "
	                       "\"title\", \"default_operator\": \"and\"}}"),
	               "title:(a b)", TRAWL_OP_AND, "AND in a field");
	/* several fields: OR between them keeps each optional under AND */
	qt_node *t = compile("{\"query_string\": {\"query\": \"a b\", \"fields\": [\"title\", "
	                     "\"body\"], \"default_operator\": \"and\"}}");
	char d[256];
	assert_string_equal(dump_of(t, d, sizeof d),
	                    "(title:(+title:a +title:b) body:(+body:a +body:b))");
	assert_tree_is(t, "title:(a b) OR body:(a b)", TRAWL_OP_AND, "AND in two fields");

	/* nested: refused */
	json_t *j = load("{\"bool\": {\"must\": {\"query_string\": {\"query\": \"a\", "
	                 "\"default_operator\": \"AND\"}}}}");
	dsl_error e;
	t = (qt_node *)&t;
	assert_int_equal(dsl_compile(j, &t, NULL, &e), TRAWL_EQUERY);
	assert_null(t);
	assert_string_equal(e.reason, "[query_string] default_operator AND is supported only for "
	                              "the top-level query; write + before the required terms "
	                              "instead");
	json_decref(j);
}

/* The whole query's text: when the query is one query_string, every clause
 * of its tree comes from that text, and messages show the text. */
static void test_whole_text(void **state)
{
	(void)state;
	static const struct {
		const char *dsl, *text;
	} cases[] = {
	    {"{\"query_string\": {\"query\": \"a -b\"}}", "a -b"},
	    {"{\"query_string\": {\"query\": \"a -b\", \"default_field\": \"*\"}}", "a -b"},
	    {"{\"query_string\": {\"query\": \"a\", \"default_operator\": \"AND\"}}", "a"},
	    {"{\"query_string\": {\"query\": \"a -b\", \"default_field\": \"title\"}}", "a -b"},
	    {"{\"query_string\": {\"query\": \"a\", \"fields\": [\"title\", \"body\"]}}", "a"},
	    {"{\"query_string\": {\"query\": \" \"}}", " "},
	    {"{\"bool\": {\"must\": {\"query_string\": {\"query\": \"a\"}}}}", NULL},
	    {"{\"match\": {\"title\": \"a\"}}", NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *j = load(cases[i].dsl);
		qt_node *t = NULL;
		const char *text = "junk";
		dsl_error e;
		assert_int_equal(dsl_compile(j, &t, &text, &e), TRAWL_OK);
		if (cases[i].text)
			assert_string_equal(text, cases[i].text);
		else
			assert_null(text);

		qt_free(t);
		json_decref(j);
	}
}

/* ---- query_string texts that do not parse ---- */

static void test_text_errors(void **state)
{
	(void)state;
	static const struct {
		const char *dsl;
		int rc;
		const char *text, *reason;
	} cases[] = {
	    {"{\"query_string\": {\"query\": \"a AND\"}}", TRAWL_EQUERY, "a AND",
	     "column 3: expected a term after 'AND'"},
	    /* columns count in the query_string's own text, field or not */
	    {"{\"query_string\": {\"query\": \"x AND\", \"default_field\": \"title\"}}",
	     TRAWL_EQUERY, "x AND", "column 3: expected a term after 'AND'"},
	    {"{\"bool\": {\"must\": {\"match\": {\"title\": \"x\"}}, \"should\": "
	     "{\"query_string\": {\"query\": \"()\", \"fields\": [\"a\", \"b\"]}}}}",
	     TRAWL_EQUERY, "()", "column 1: empty group"},
	    {"{\"query_string\": {\"query\": \"\\u00e9 \\\"\\\" x\"}}", TRAWL_EQUERY,
	     "\xc3\xa9 \"\" x", "column 3: empty phrase"},
	    /* the first of two */
	    {"{\"bool\": {\"should\": [{\"query_string\": {\"query\": \"+\"}}, "
	     "{\"query_string\": {\"query\": \"a OR\"}}]}}",
	     TRAWL_EQUERY, "+", "column 1: expected a term after '+'"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *j = load(cases[i].dsl);
		qt_node *t = (qt_node *)&t;
		dsl_error e;
		int rc = dsl_compile(j, &t, NULL, &e);
		if (rc != cases[i].rc || !e.in_text || strcmp(e.text, cases[i].text) ||
		    strcmp(e.reason, cases[i].reason))
			fail_msg("case %zu: got %d %d [%s] [%s]", i, rc, e.in_text, e.reason,
			         e.in_text ? e.text : "");
		assert_null(t);
		json_decref(j);
	}
	/* A fault of the DSL itself, or a limit, is reported first, even after
	 * the text that does not parse: trawl used to find it first. */
	json_t *j = load("{\"bool\": {\"should\": [{\"query_string\": {\"query\": \"(\"}}, "
	                 "{\"query_string\": {\"query\": \"a AND\"}}, {\"nope\": {}}]}}");
	qt_node *t;
	dsl_error e;
	assert_int_equal(dsl_compile(j, &t, NULL, &e), TRAWL_EQUERY);
	assert_string_equal(e.reason,
	                    "[query_string] Failed to parse query [(]: it has an unclosed "
	                    "'('");
	json_decref(j);
	j = load("{\"bool\": {\"should\": [{\"query_string\": {\"query\": \"a AND\"}}, "
	         "{\"nope\": {}}]}}");
	assert_int_equal(dsl_compile(j, &t, NULL, &e), TRAWL_EQUERY);
	assert_int_equal(e.in_text, 0);
	assert_string_equal(e.reason, "unknown query [nope]");
	json_decref(j);
}

/* ---- injection: a literal stays one literal ---- */

/* {"term": {"tag": value}} must compile to exactly one TERM in field tag
 * whose text is value (a keyword may hold any characters). */
static void assert_term_literal(const char *value, size_t n)
{
	json_t *j = json_pack("{s:{s:o}}", "term", "tag", json_stringn(value, n));
	assert_non_null(j);
	qt_node *t = NULL;
	dsl_error e;
	int rc = dsl_compile(j, &t, NULL, &e);
	json_decref(j);
	assert_int_equal(rc, TRAWL_OK);
	char d[256];
	if (!strcmp(dump_of(t, d, sizeof d), "(" NONE ")")) {
		qt_free(t);
		return; /* nothing to search for in it */
	}
	assert_int_equal(t->nkids, 1);
	qt_node *k = t->kids[0];
	if (k->kind != QT_TERM || !k->field || strcmp(k->field, "tag") || k->len != n ||
	    memcmp(k->text, value, n))
		fail_msg("[%.*s] -> %s is not one literal", (int)n, value, d);
	qt_free(t);
}

/* {"range": {"k": {"gte": value, "lt": value}}} and {"ids": {"values":
 * [value]}} keep value as one bound, one id (ids of 1..512 bytes). */
static void assert_range_and_id_literal(const char *value, size_t n)
{
	json_t *j = json_pack("{s:{s:{s:o, s:o}}}", "range", "k", "gte", json_stringn(value, n),
	                      "lt", json_stringn(value, n));
	qt_node *t = NULL;
	dsl_error e;
	int rc = dsl_compile_at(j, 0, &t, NULL, &e);
	json_decref(j);
	if (rc != TRAWL_OK) {
		/* only date math may be refused: now, now+..., or a || */
		assert_true(dm_looks_like_math(value, n));
	} else if (!dm_looks_like_math(value, n)) {
		qt_node *k = t->kids[0];
		assert_int_equal(k->kind, QT_RANGE);
		assert_int_equal(k->flags, QT_LO | QT_LO_INC | QT_HI);
		assert_int_equal(k->len, n);
		assert_memory_equal(k->text, value, n);
		assert_int_equal(k->hilen, n);
		assert_memory_equal(k->hi, value, n);
	}
	qt_free(t);
	j = json_pack("{s:{s:[o]}}", "ids", "values", json_stringn(value, n));
	assert_int_equal(dsl_compile(j, &t, NULL, &e), TRAWL_OK);
	json_decref(j);
	qt_node *k = t->kids[0]->kids[0];
	assert_int_equal(k->kind, QT_IDS);
	assert_int_equal(k->len, n);
	assert_memory_equal(k->text, value, n);
	qt_free(t);
}

/* {"match": {"title": text}} in a bool next to a filter must compile to
 * plain words in title and the filter intact. */
static void assert_match_contained(const char *text, size_t n)
{
	json_t *j = json_pack("{s:{s:{s:{s:o}}, s:{s:{s:s}}}}", "bool", "must", "match", "title",
	                      json_stringn(text, n), "filter", "term", "tenant", "acme");
	assert_non_null(j);
	qt_node *tree = NULL;
	dsl_error e;
	int rc = dsl_compile(j, &tree, NULL, &e);
	json_decref(j);
	assert_int_equal(rc, TRAWL_OK);
	assert_int_equal(tree->nkids, 2);
	qt_node *m = tree->kids[0], *f = tree->kids[1];
	assert_int_equal(m->occur, QT_MUST);
	assert_int_equal(f->occur, QT_FILTER);
	assert_int_equal(f->kind, QT_TERM);
	assert_string_equal(f->field, "tenant");
	assert_string_equal(f->text, "acme");
	if (m->kind == QT_BOOL && m->field) {
		assert_string_equal(m->field, "title");
		for (uint32_t i = 0; i < m->nkids; i++) {
			assert_int_equal(m->kids[i]->kind, QT_TERM);
			assert_int_equal(m->kids[i]->occur, QT_SHOULD);
			assert_string_equal(m->kids[i]->field, "title");
		}
	} else if (m->kind == QT_TERM) {
		assert_string_equal(m->field, "title");
	} else {
		/* no tokens: match nothing */
		assert_int_equal(m->kind, QT_BOOL);
		assert_null(m->field);
		assert_int_equal(m->nkids, 2);
		assert_int_equal(m->kids[0]->kind, QT_ALL);
		assert_int_equal(m->kids[1]->kind, QT_ALL);
		assert_int_equal(m->kids[1]->occur, QT_NOT);
	}
	qt_free(tree);
}

static const char *const attacks[] = {
    "x) OR (*:*",
    "*:*",
    "x\" OR \"y",
    "\\",
    "a\\",
    "\\\\\\",
    ")",
    "((((",
    "AND",
    "NOT",
    "OR",
    "-",
    "+",
    "-x",
    "+x",
    "title:secret",
    "x -tenant:acme",
    "x) -tenant:(acme",
    "\"",
    "\"\"",
    "a b c",
    "\t\n\r\v\f ",
    "x*",
    "*",
    "x\\*",
    ":",
    "a:b:c",
    "\xc3\xa9:\xe2\x80\x94)",
    "[a TO b]",
    "*] OR x:[*",
    "#x",
    "(x)^=1",
    "_id:x",
    "_exists_:x",
    ">=5",
    "a\" TO \"b",
    "now-1d||",
};

static void test_injection(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof attacks / sizeof attacks[0]; i++) {
		assert_term_literal(attacks[i], strlen(attacks[i]));
		assert_match_contained(attacks[i], strlen(attacks[i]));
		assert_range_and_id_literal(attacks[i], strlen(attacks[i]));
	}
	/* random strings over the syntax characters */
	static const char alphabet[] = "ab+-\"():*\\ \tANDORNOT()\"\\[]{}<>=#^1TO_";
	unsigned long seed = 12345;
	char s[40];
	for (int iter = 0; iter < 20000; iter++) {
		seed = seed * 6364136223846793005ul + 1442695040888963407ul;
		size_t n = 1 + (seed >> 33) % (sizeof s - 1);
		for (size_t k = 0; k < n; k++) {
			seed = seed * 6364136223846793005ul + 1442695040888963407ul;
			s[k] = alphabet[(seed >> 33) % (sizeof alphabet - 1)];
		}
		assert_term_literal(s, n);
		assert_match_contained(s, n);
		assert_range_and_id_literal(s, n);
	}
}

/* ---- limits ---- */

static void expect_limit(json_t *j, const char *reason, int prefix_only)
{
	qt_node *t = (qt_node *)&t;
	dsl_error e;
	assert_int_equal(dsl_compile(j, &t, NULL, &e), TRAWL_ELIMIT);
	assert_null(t);
	if (prefix_only ? strncmp(e.reason, reason, strlen(reason)) : strcmp(e.reason, reason))
		fail_msg("got [%s]\nwant [%s]", e.reason, reason);
	json_decref(j);
}

static void test_limits(void **state)
{
	(void)state;
	/* 32 levels of query objects: fine; 33: refused */
	for (int levels = 31; levels <= 33; levels++) {
		char dsl[4096] = "";
		for (int i = 0; i < levels - 1; i++)
			strcat(dsl, "{\"bool\": {\"must\": ");
		strcat(dsl, "{\"match\": {\"title\": \"x\"}}");
		for (int i = 0; i < levels - 1; i++)
			strcat(dsl, "}}");
		if (levels <= 32) {
			qt_free(compile(dsl));
			continue;
		}
		expect_limit(load(dsl), "the query nests more than 32 levels deep; the limit is 32",
		             0);
	}
	/* parentheses: a query_string's own plus the groups around it */
	{
		char qs[128] = "", dsl[512];
		for (int i = 0; i < 32; i++)
			strcat(qs, "(");
		strcat(qs, "x");
		for (int i = 0; i < 32; i++)
			strcat(qs, ")");
		snprintf(dsl, sizeof dsl, "{\"query_string\": {\"query\": \"%s\"}}", qs);
		assert_tree_is(compile(dsl), qs, TRAWL_OP_OR, "32 deep");
		snprintf(dsl, sizeof dsl,
		         "{\"bool\": {\"must\": {\"query_string\": {\"query\": "
		         "\"%s\"}}}}",
		         qs);
		expect_limit(load(dsl),
		             "the query translates to parentheses nested 33 deep; the limit is 32",
		             0);
		snprintf(dsl, sizeof dsl, "{\"query_string\": {\"query\": \"(%s)\"}}", qs);
		expect_limit(load(dsl),
		             "the query translates to parentheses nested 33 deep; the limit is 32",
		             0);
	}
	/* words: TRAWL_MAX_QUERY_TERMS */
	{
		char *text = malloc(2 * 1025 + 1);
		for (size_t i = 0; i < 1025; i++)
			text[2 * i] = 'w', text[2 * i + 1] = ' ';
		text[2 * 1024 - 1] = 0; /* 1024 words */
		json_t *j = json_pack("{s:{s:s}}", "match", "body", text);
		qt_node *t = NULL;
		dsl_error e;
		assert_int_equal(dsl_compile(j, &t, NULL, &e), TRAWL_OK);
		qt_free(t);
		json_decref(j);
		text[2 * 1024 - 1] = ' ';
		text[2 * 1025 - 1] = 0;
		expect_limit(json_pack("{s:{s:s}}", "match", "body", text),
		             "the query translates to 1025 terms; the limit is 1024 "
		             "(TRAWL_MAX_QUERY_TERMS)",
		             0);
		free(text);
	}
	/* words and field names: TRAWL_MAX_QUERY_BYTES */
	{
		json_t *values = json_array();
		for (int i = 0; i < 900; i++) {
			char v[16];
			snprintf(v, sizeof v, "value%05d", i);
			json_array_append_new(values, json_string(v));
		}
		expect_limit(
		    json_pack("{s:{s:o}}", "terms", "body", values),
		    "the query translates to 9004 bytes of words and field names; the limit "
		    "is 8192 (TRAWL_MAX_QUERY_BYTES)",
		    0);
	}
	/* the encoding: TRAWL_MAX_QUERY_TREE_BYTES (300 words 31 groups deep) */
	{
		json_t *should = json_array();
		for (int i = 0; i < 300; i++) {
			json_t *q = json_pack("{s:{s:s}}", "match", "title", "x");
			for (int d = 0; d < 30; d++)
				q = json_pack("{s:{s:o}}", "bool", "must", q);
			json_array_append_new(should, q);
		}
		expect_limit(json_pack("{s:{s:o}}", "bool", "should", should),
		             "the query translates to a tree of ", 1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_translate),   cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_nul),         cmocka_unit_test(test_and_default),
	    cmocka_unit_test(test_text_errors), cmocka_unit_test(test_injection),
	    cmocka_unit_test(test_limits),      cmocka_unit_test(test_whole_text),
	    cmocka_unit_test(test_dates),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
