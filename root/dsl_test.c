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
     "+title:a +body:\"d e\" body:b -body:c"},
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
     "+*:* +tag:x"},
    {"{\"bool\": {\"should\": [{\"match_all\": {}}]}}", "*:*"},
    {"{\"bool\": {\"must\": {\"match\": {\"title\": \"a\"}}, \"should\": [{\"match\": "
     "{\"title\": \"b\"}}, {\"match\": {\"title\": \"c\"}}], \"minimum_should_match\": 1}}",
     "+title:a +(title:b title:c)"},
    {"{\"bool\": {\"filter\": {\"match\": {\"title\": \"a\"}}, \"should\": [{\"match\": "
     "{\"title\": \"b\"}}], \"minimum_should_match\": \"1\"}}",
     "+title:a +title:b"},
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
    {"{\"term\": {\"tag\": \"*:*\"}}", NONE}, /* no letters or digits: nothing to find */
    {"{\"term\": {\"tag\": \"a*:*b\"}}", "tag:a\\*\\:\\*b"},
    {"{\"term\": {\"tag\": \"-x\"}}", "tag:\\-x"},
    {"{\"term\": {\"tag\": \"a\\tb\\nc\"}}", "tag:a\\\tb\\\nc"},
    {"{\"term\": {\"n\": 42}}", "n:42"},
    {"{\"term\": {\"n\": -7}}", "n:\\-7"},
    {"{\"term\": {\"b\": false}}", "b:false"},
    {"{\"term\": {\"tag\": \"\"}}", NONE},
    {"{\"term\": {\"tag\": \"()\"}}", NONE},
    {"{\"term\": {\"tag\": {\"value\": \"Moon\", \"case_insensitive\": true, \"boost\": 1}}}",
     "tag:Moon"},
    {"{\"term\": {\"_all\": \"x\"}}", "x"},

    /* terms */
    {"{\"terms\": {\"tag\": [\"a\", \"b c\", \"\", 7]}}", "tag:(a b\\ c 7)"},
    {"{\"terms\": {\"tag\": [\"only\"], \"boost\": 1}}", "tag:only"},
    {"{\"terms\": {\"tag\": []}}", NONE},
    {"{\"terms\": {\"_name\": \"t\", \"tag\": [\"a)\", \"(b\"]}}", "tag:(a\\) \\(b)"},

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
     "+(a OR b) +tag:x"},
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
    {"{\"range\": {\"year\": {\"gte\": 2000}}}", EQ,
     "[range] queries are not supported by trawl; supported: match_all, match_none, match, "
     "match_phrase, multi_match, bool, term, terms, prefix, query_string"},
    {"{\"wildcard\": {\"title\": \"ecl*se\"}}", EQ,
     "[wildcard] queries are not supported by trawl; supported: match_all, match_none, match, "
     "match_phrase, multi_match, bool, term, terms, prefix, query_string"},
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
 * whose text is value (or, without letters or digits, to no document). */
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
	assert_int_equal(f->occur, QT_MUST);
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
};

static void test_injection(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof attacks / sizeof attacks[0]; i++) {
		assert_term_literal(attacks[i], strlen(attacks[i]));
		assert_match_contained(attacks[i], strlen(attacks[i]));
	}
	/* random strings over the syntax characters */
	static const char alphabet[] = "ab+-\"():*\\ \tANDORNOT()\"\\";
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
