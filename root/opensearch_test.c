/*
 * opensearch_test.c - unit tests for the OpenSearch-compatible layer
 * (opensearch.c) that need no cluster.
 *
 * The query DSL translation is pinned down by tables: DSL in, the exact
 * trawl query out (and every output must parse with trawl's own parser,
 * index/query.c), or DSL in and the exact error code and reason out. Then
 * injection: hostile literals must come back from the parser as one literal
 * word, whatever characters they hold (a table of attacks, then random
 * strings over the syntax characters). Then the limits, the request parser
 * (URL parameters and body), source filtering, index expressions and the
 * rendering of a search response.
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

/* The query parser itself, to check that every translation parses and to
 * look at the tree it makes: libtrawl keeps idx_query_parse hidden, so the
 * test compiles its own copy. */
#include "index/query.c"
#include "root/opensearch.h"
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

/* The translated query must be valid trawl syntax (both default operators). */
static void assert_parses(const char *q)
{
	for (int op = 0; op < 2; op++) {
		qt_node *tree = NULL;
		char err[256];
		int rc = idx_query_parse(q, strlen(q), op, &tree, err, sizeof err);
		if (rc != TRAWL_OK)
			fail_msg("trawl cannot parse [%s]: %s", q, err);
		qt_free(tree);
	}
}

/* ---- translations ---- */

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
    {"{\"match\": {\"title\": \"e\\u0301t\\u00e9 x\\u2014y\"}}",
     "title:(e\xcc\x81t\xc3\xa9 x y)"},
    {"{\"match\": {\"title\": \"+a -b \\\"c\\\" (d) e:f g* h\\\\\"}}",
     "title:(a b c d e f g h)"},
    {"{\"match\": {\"title\": \"!!! ...\"}}", NONE},
    {"{\"match\": {\"title\": \"\"}}", NONE},
    {"{\"match\": {\"title\": {\"query\": \"--\", \"zero_terms_query\": \"all\"}}}", "*:*"},
    {"{\"match\": {\"title\": {\"query\": \"--\", \"zero_terms_query\": \"none\"}}}", NONE},
    {"{\"match\": {\"year\": 1999}}", "year:1999"},
    {"{\"match\": {\"score\": 2.5}}", "score:(2 5)"},
    {"{\"match\": {\"flag\": true}}", "flag:true"},
    {"{\"match\": {\"title\": {\"query\": \"x y\", \"minimum_should_match\": 1}}}",
     "title:(x y)"},
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
	char out[TRAWL_MAX_QUERY_BYTES + 1], reason[512];
	for (size_t i = 0; i < sizeof ok_cases / sizeof ok_cases[0]; i++) {
		json_t *j = load(ok_cases[i].dsl);
		int rc = os_build_query(j, out, sizeof out, reason, sizeof reason);
		if (rc != TRAWL_OK)
			fail_msg("case %zu %s: rc %d: %s", i, ok_cases[i].dsl, rc, reason);
		if (strcmp(out, ok_cases[i].want))
			fail_msg("case %zu %s:\n got [%s]\nwant [%s]", i, ok_cases[i].dsl, out,
			         ok_cases[i].want);
		assert_string_equal(reason, "");
		assert_parses(out);
		/* the _ex variant agrees, with the OR default */
		int and_default = 7;
		assert_int_equal(os_build_query_ex(j, out, sizeof out, &and_default, reason,
		                                   sizeof reason),
		                 TRAWL_OK);
		assert_string_equal(out, ok_cases[i].want);
		assert_int_equal(and_default, 0);
		json_decref(j);
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
    {"{\"bool\": {\"must\": \"x\"}}", EQ, "[bool] [must] must be a query object or an array of them"},
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
    {"{\"terms\": {\"tag\": \"x\"}}", EQ, "[terms] query requires an array of values for field [tag]"},
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
    {"{\"query_string\": {\"query\": \"a\", \"default_operator\": \"AND\"}}", EQ,
     "[query_string] default_operator AND is supported only for the top-level query; write + "
     "before the required terms instead"},
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
	char out[TRAWL_MAX_QUERY_BYTES + 1], reason[512];
	for (size_t i = 0; i < sizeof err_cases / sizeof err_cases[0]; i++) {
		json_t *j = load(err_cases[i].dsl);
		strcpy(out, "junk");
		int rc = os_build_query(j, out, sizeof out, reason, sizeof reason);
		if (rc != err_cases[i].rc || strcmp(reason, err_cases[i].reason))
			fail_msg("case %zu %s:\n got %d [%s]\nwant %d [%s]", i, err_cases[i].dsl, rc,
			         reason, err_cases[i].rc, err_cases[i].reason);
		assert_string_equal(out, "");
		json_decref(j);
	}
}

/* A NUL inside a string (jansson refuses it when parsing by default, but a
 * caller may build one). */
static void test_nul(void **state)
{
	(void)state;
	char out[256], reason[256];
	json_t *j = json_pack("{s:{s:o}}", "term", "tag", json_stringn("a\0b", 3));
	assert_int_equal(os_build_query(j, out, sizeof out, reason, sizeof reason), TRAWL_EQUERY);
	assert_string_equal(reason, "[term] [value] contains a NUL character");
	json_decref(j);
	j = json_pack("{s:{s:o}}", "query_string", "query", json_stringn("a\0b", 3));
	assert_int_equal(os_build_query(j, out, sizeof out, reason, sizeof reason), TRAWL_EQUERY);
	assert_string_equal(reason, "[query_string] Failed to parse query [a]: it has a NUL "
	                            "character");
	json_decref(j);
}

/* ---- query_string with default_operator AND ---- */

static void test_and_default(void **state)
{
	(void)state;
	char out[256], reason[256];
	int and_default = 0;
	json_t *j = load("{\"query_string\": {\"query\": \"a b\", \"default_operator\": \"AND\"}}");
	assert_int_equal(os_build_query_ex(j, out, sizeof out, &and_default, reason, sizeof reason),
	                 TRAWL_OK);
	assert_string_equal(out, "a b");
	assert_int_equal(and_default, 1);
	/* os_build_query has nowhere to say so: refused */
	assert_int_equal(os_build_query(j, out, sizeof out, reason, sizeof reason), TRAWL_EQUERY);
	/* NULL and_default: refused too */
	assert_int_equal(os_build_query_ex(j, out, sizeof out, NULL, reason, sizeof reason),
	                 TRAWL_EQUERY);
	json_decref(j);

	/* several fields: OR between them keeps each optional under AND */
	j = load("{\"query_string\": {\"query\": \"a b\", \"fields\": [\"title\", \"body\"], "
	         "\"default_operator\": \"and\"}}");
	assert_int_equal(os_build_query_ex(j, out, sizeof out, &and_default, reason, sizeof reason),
	                 TRAWL_OK);
	assert_string_equal(out, "title:(a b) OR body:(a b)");
	assert_int_equal(and_default, 1);
	qt_node *tree;
	assert_int_equal(idx_query_parse(out, strlen(out), 1, &tree, reason, sizeof reason), TRAWL_OK);
	qt_dump(tree, out, sizeof out);
	assert_string_equal(out, "(title:(+title:a +title:b) body:(+body:a +body:b))");
	qt_free(tree);
	json_decref(j);

	/* nested: refused, and and_default reset */
	and_default = 1;
	j = load("{\"bool\": {\"must\": {\"query_string\": {\"query\": \"a\", "
	         "\"default_operator\": \"AND\"}}}}");
	assert_int_equal(os_build_query_ex(j, out, sizeof out, &and_default, reason, sizeof reason),
	                 TRAWL_EQUERY);
	assert_int_equal(and_default, 0);
	assert_string_equal(out, "");
	json_decref(j);
}

/* ---- injection: a literal stays one literal ---- */

/* The translation of {"term": {"tag": value}} must parse to exactly one
 * TERM in field tag whose text is value. */
static void assert_term_roundtrip(const char *value, size_t n)
{
	char out[TRAWL_MAX_QUERY_BYTES + 1], reason[256];
	json_t *j = json_pack("{s:{s:o}}", "term", "tag", json_stringn(value, n));
	assert_non_null(j);
	int rc = os_build_query(j, out, sizeof out, reason, sizeof reason);
	json_decref(j);
	assert_int_equal(rc, TRAWL_OK);
	if (!strcmp(out, NONE))
		return; /* nothing to search for in it */
	qt_node *tree = NULL;
	char err[256];
	rc = idx_query_parse(out, strlen(out), 0, &tree, err, sizeof err);
	if (rc != TRAWL_OK)
		fail_msg("[%.*s] -> [%s]: %s", (int)n, value, out, err);
	assert_int_equal(tree->nkids, 1);
	qt_node *t = tree->kids[0];
	if (t->kind != QT_TERM || !t->field || strcmp(t->field, "tag") || t->len != n ||
	    memcmp(t->text, value, n))
		fail_msg("[%.*s] -> [%s] is not one literal", (int)n, value, out);
	qt_free(tree);
}

/* The translation of {"match": {"title": text}}, in a bool next to a
 * filter, must parse to plain words in title and the filter intact. */
static void assert_match_contained(const char *text, size_t n)
{
	char out[TRAWL_MAX_QUERY_BYTES + 1], reason[256];
	json_t *j = json_pack("{s:{s:{s:{s:o}}, s:{s:{s:s}}}}", "bool", "must", "match", "title",
	                      json_stringn(text, n), "filter", "term", "tenant", "acme");
	assert_non_null(j);
	int rc = os_build_query(j, out, sizeof out, reason, sizeof reason);
	json_decref(j);
	assert_int_equal(rc, TRAWL_OK);
	qt_node *tree = NULL;
	char err[256];
	rc = idx_query_parse(out, strlen(out), 0, &tree, err, sizeof err);
	if (rc != TRAWL_OK)
		fail_msg("[%.*s] -> [%s]: %s", (int)n, text, out, err);
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
		assert_term_roundtrip(attacks[i], strlen(attacks[i]));
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
		assert_term_roundtrip(s, n);
		assert_match_contained(s, n);
	}
}

/* ---- limits ---- */

static void test_limits(void **state)
{
	(void)state;
	char out[TRAWL_MAX_QUERY_BYTES + 1], reason[512];
	/* 32 levels of query objects: fine; 33: refused */
	for (int levels = 31; levels <= 33; levels++) {
		char dsl[4096] = "";
		for (int i = 0; i < levels - 1; i++)
			strcat(dsl, "{\"bool\": {\"must\": ");
		strcat(dsl, "{\"match\": {\"title\": \"x\"}}");
		for (int i = 0; i < levels - 1; i++)
			strcat(dsl, "}}");
		json_t *j = load(dsl);
		int rc = os_build_query(j, out, sizeof out, reason, sizeof reason);
		if (levels <= 32) {
			assert_int_equal(rc, TRAWL_OK);
			assert_parses(out);
		} else {
			assert_int_equal(rc, TRAWL_ELIMIT);
			assert_string_equal(reason, "the query nests more than 32 levels deep; the limit is 32");
		}
		json_decref(j);
	}
	/* parentheses: a query_string's own plus the wrapping ones */
	{
		char qs[128] = "", dsl[512];
		for (int i = 0; i < 32; i++)
			strcat(qs, "(");
		strcat(qs, "x");
		for (int i = 0; i < 32; i++)
			strcat(qs, ")");
		snprintf(dsl, sizeof dsl, "{\"query_string\": {\"query\": \"%s\"}}", qs);
		json_t *j = load(dsl);
		assert_int_equal(os_build_query(j, out, sizeof out, reason, sizeof reason), TRAWL_OK);
		assert_parses(out);
		json_decref(j);
		snprintf(dsl, sizeof dsl, "{\"bool\": {\"must\": {\"query_string\": {\"query\": \"%s\"}}}}",
		         qs);
		j = load(dsl);
		assert_int_equal(os_build_query(j, out, sizeof out, reason, sizeof reason), TRAWL_ELIMIT);
		assert_string_equal(reason,
		                    "the query translates to parentheses nested 33 deep; the limit is 32");
		json_decref(j);
	}
	/* length: TRAWL_MAX_QUERY_BYTES */
	{
		size_t n = 5000;
		char *text = malloc(n * 2 + 1);
		for (size_t i = 0; i < n; i++)
			text[2 * i] = 'w', text[2 * i + 1] = ' ';
		text[2 * n] = 0;
		json_t *j = json_pack("{s:{s:s}}", "match", "body", text);
		assert_int_equal(os_build_query(j, out, sizeof out, reason, sizeof reason), TRAWL_ELIMIT);
		assert_string_equal(reason, "the query translates to more than 8192 bytes of trawl query; "
		                            "the limit is 8192 (TRAWL_MAX_QUERY_BYTES)");
		assert_string_equal(out, "");
		json_decref(j);
		/* exactly at the limit is fine: "body:(" + words + ")" */
		size_t words = (TRAWL_MAX_QUERY_BYTES - 7) / 2; /* "w " each, the last without ' ' */
		text[2 * words - 1] = 0;
		j = json_pack("{s:{s:s}}", "match", "body", text);
		assert_int_equal(os_build_query(j, out, sizeof out, reason, sizeof reason), TRAWL_OK);
		assert_true(strlen(out) <= TRAWL_MAX_QUERY_BYTES);
		json_decref(j);
		free(text);
	}
	/* a small buffer */
	{
		json_t *j = load("{\"match\": {\"title\": \"solar eclipse\"}}");
		char small[10];
		assert_int_equal(os_build_query(j, small, sizeof small, reason, sizeof reason),
		                 TRAWL_ELIMIT);
		assert_string_equal(reason, "the query translates to more than 9 bytes of trawl query; "
		                            "the limit is 8192 (TRAWL_MAX_QUERY_BYTES)");
		char fits[22];
		assert_int_equal(os_build_query(j, fits, sizeof fits, reason, sizeof reason), TRAWL_OK);
		assert_string_equal(fits, "title:(solar eclipse)");
		assert_int_equal(os_build_query(j, fits, 0, reason, sizeof reason), TRAWL_EINVAL);
		/* a reason buffer of any size, even none */
		char tiny[4];
		json_t *bad = load("{\"nope\": {}}");
		assert_int_equal(os_build_query(bad, fits, sizeof fits, tiny, sizeof tiny), TRAWL_EQUERY);
		assert_string_equal(tiny, "unk");
		assert_int_equal(os_build_query(bad, fits, sizeof fits, NULL, 0), TRAWL_EQUERY);
		json_decref(bad);
		json_decref(j);
	}
}

/* ---- search requests ---- */

static int parse_req(const char *qs, const char *body, int count_only, os_search_req *r,
                     os_error *e)
{
	return os_parse_search(count_only ? "/i/_count" : "/i/_search", qs, (const uint8_t *)body,
	                       body ? strlen(body) : 0, count_only, r, e);
}

static void test_request_ok(void **state)
{
	(void)state;
	os_search_req r;
	os_error e;
	/* defaults: every document, 10 hits, exact total, whole source */
	assert_int_equal(parse_req(NULL, NULL, 0, &r, &e), 0);
	assert_string_equal(r.q, "*:*");
	assert_int_equal(r.qlen, 3);
	assert_int_equal(r.size, 10);
	assert_int_equal(r.from, 0);
	assert_int_equal(r.track_total, 1);
	assert_true(r.track_limit == UINT64_MAX);
	assert_int_equal(r.source, 1);
	assert_int_equal(r.allow_partial, 1);
	assert_int_equal(r.and_default, 0);
	os_search_req_fini(&r);

	assert_int_equal(parse_req("q=title:foo+bar&size=5&from=2&pretty", "  \n", 0, &r, &e), 0);
	assert_string_equal(r.q, "title:foo bar");
	assert_int_equal(r.size, 5);
	assert_int_equal(r.from, 2);
	assert_int_equal(r.pretty, 1);
	os_search_req_fini(&r);

	assert_int_equal(parse_req("q=a%20b&df=title&default_operator=AND", NULL, 0, &r, &e), 0);
	assert_string_equal(r.q, "title:(a b)");
	assert_int_equal(r.and_default, 1);
	os_search_req_fini(&r);

	assert_int_equal(parse_req("q=a&df=*", NULL, 0, &r, &e), 0);
	assert_string_equal(r.q, "a");
	os_search_req_fini(&r);

	assert_int_equal(
		parse_req("timeout=1s&preference=abc&allow_partial_search_results=false"
		          "&track_total_hits=100&rest_total_hits_as_int=true&search_type=dfs_query_then_fetch",
		          "{\"query\": {\"match\": {\"title\": \"x y\"}}, \"from\": 3, \"size\": 0, "
		          "\"_source\": [\"title\"], \"sort\": [\"_score\", {\"_score\": {\"order\": "
		          "\"desc\"}}], \"explain\": false, \"track_scores\": true}",
		          0, &r, &e),
		0);
	assert_string_equal(r.q, "title:(x y)");
	assert_int_equal(r.from, 3);
	assert_int_equal(r.size, 0);
	assert_int_equal(r.timeout_ms, 1000);
	assert_string_equal(r.preference, "abc");
	assert_int_equal(r.allow_partial, 0);
	assert_int_equal(r.track_total, 1);
	assert_true(r.track_limit == 100);
	assert_int_equal(r.rest_total_int, 1);
	assert_int_equal(r.source, 2);
	assert_int_equal(json_array_size(r.includes), 1);
	os_search_req_fini(&r);

	/* URL parameters win over the body */
	assert_int_equal(parse_req("size=7&_source=false", "{\"size\": 3, \"_source\": true, "
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

	assert_int_equal(parse_req(NULL, "{\"_source\": {\"includes\": \"t*\", \"excludes\": "
	                                 "[\"x\"]}}",
	                           0, &r, &e),
	                 0);
	assert_int_equal(r.source, 2);
	assert_int_equal(json_array_size(r.includes), 1);
	assert_int_equal(json_array_size(r.excludes), 1);
	os_search_req_fini(&r);

	/* the top-level query_string's AND */
	assert_int_equal(parse_req(NULL, "{\"query\": {\"query_string\": {\"query\": \"a b\", "
	                                 "\"default_operator\": \"AND\"}}}",
	                           0, &r, &e),
	                 0);
	assert_string_equal(r.q, "a b");
	assert_int_equal(r.and_default, 1);
	os_search_req_fini(&r);

	/* _count */
	assert_int_equal(parse_req("q=x", NULL, 1, &r, &e), 0);
	assert_string_equal(r.q, "x");
	assert_int_equal(r.size, 0);
	assert_int_equal(r.track_total, 1);
	os_search_req_fini(&r);
	assert_int_equal(parse_req(NULL, "{\"query\": {\"term\": {\"tag\": \"a b\"}}}", 1, &r, &e), 0);
	assert_string_equal(r.q, "tag:a\\ b");
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
    {"size=-1", NULL, 0, 400, "illegal_argument_exception", "[size] must be a number from 0 to 10000"},
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
    {NULL, "{\"aggs\": {}}", 0, 400, "parsing_exception", "[aggs] is not supported by trawl"},
    {NULL, "{\"highlight\": {}}", 0, 400, "parsing_exception",
     "[highlight] is not supported by trawl"},
    {NULL, "{\"sizee\": 1}", 0, 400, "parsing_exception",
     "Unknown key for a VALUE_NUMBER in [sizee]."},
    {NULL, "{\"explain\": true}", 0, 400, "parsing_exception",
     "[explain] is not supported by trawl (only false)"},
    {NULL, "{\"sort\": [{\"date\": \"desc\"}]}", 0, 400, "parsing_exception",
     "[sort] is not supported by trawl: hits are sorted by _score only"},
    {NULL, "{\"sort\": {\"_score\": \"asc\"}}", 0, 400, "parsing_exception",
     "[sort] is not supported by trawl: hits are sorted by _score only"},
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
    {"df=title", NULL, 0, 400, "illegal_argument_exception", "[df] applies only to the q parameter"},
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
		if (rc != -1 || e.status != c->status || strcmp(e.type, c->type) ||
		    strcmp(e.reason, c->reason))
			fail_msg("case %zu (%s | %s):\n got %d %d %s [%s]\nwant %d %s [%s]", i,
			         c->qs ? c->qs : "", c->body ? c->body : "", rc, e.status, e.type, e.reason,
			         c->status, c->type, c->reason);
		assert_null(r.q);
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
	check_filter(doc, NULL, NULL,
	             "{\"body\":\"b\",\"meta\":{\"a\":1,\"b\":2},\"tags\":[{\"x\":1,\"y\":2},{\"y\":3},"
	             "4],\"title\":\"t\"}");
	check_filter(doc, "[]", "[]",
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

/* ---- index expressions ---- */

static void test_index_matches(void **state)
{
	(void)state;
	char missing[64];
	assert_int_equal(os_index_matches("trawl", "trawl", missing, sizeof missing), 1);
	assert_int_equal(os_index_matches("_all", "trawl", missing, sizeof missing), 1);
	assert_int_equal(os_index_matches("*", "trawl", missing, sizeof missing), 1);
	assert_int_equal(os_index_matches("tr*", "trawl", missing, sizeof missing), 1);
	assert_int_equal(os_index_matches("x*", "trawl", missing, sizeof missing), 0);
	assert_int_equal(os_index_matches("x*,trawl", "trawl", missing, sizeof missing), 1);
	assert_int_equal(os_index_matches("*,-trawl", "trawl", missing, sizeof missing), 0);
	assert_int_equal(os_index_matches("*,-x*", "trawl", missing, sizeof missing), 1);
	assert_int_equal(os_index_matches("trawl,,", "trawl", missing, sizeof missing), 1);
	assert_int_equal(os_index_matches("other", "trawl", missing, sizeof missing), -1);
	assert_string_equal(missing, "other");
	assert_int_equal(os_index_matches("trawl,other", "trawl", missing, sizeof missing), -1);
	assert_string_equal(missing, "other");
	assert_int_equal(os_index_matches("Trawl", "trawl", missing, sizeof missing), -1);
	assert_string_equal(missing, "Trawl");
}

/* ---- rendering ---- */

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
	json_t *j = os_render_search(&res, &sr, "wiki");
	char *s = json_dumps(j, JSON_COMPACT);
	assert_string_equal(
		s, "{\"took\":2,\"timed_out\":false,\"_shards\":{\"total\":4,\"successful\":3,"
		   "\"skipped\":0,\"failed\":1},\"hits\":{\"total\":{\"value\":42,\"relation\":\"eq\"},"
		   "\"max_score\":2.5,\"hits\":[{\"_index\":\"wiki\",\"_id\":\"d1\",\"_score\":2.5,"
		   "\"_source\":{\"title\":\"One\",\"body\":\"x\"}},{\"_index\":\"wiki\",\"_id\":\"d2\","
		   "\"_score\":1.25}]}}");
	free(s);
	json_decref(j);

	/* a capped total, filtered source, a timed-out shard */
	sr.track_limit = 10;
	sr.source = 2;
	sr.includes = load("[\"title\"]");
	res.shards_timed_out = 1;
	res.shards_failed = 0;
	j = os_render_search(&res, &sr, "wiki");
	s = json_dumps(j, JSON_COMPACT);
	assert_string_equal(
		s, "{\"took\":2,\"timed_out\":true,\"_shards\":{\"total\":4,\"successful\":3,"
		   "\"skipped\":0,\"failed\":1},\"hits\":{\"total\":{\"value\":10,\"relation\":\"gte\"},"
		   "\"max_score\":2.5,\"hits\":[{\"_index\":\"wiki\",\"_id\":\"d1\",\"_score\":2.5,"
		   "\"_source\":{\"title\":\"One\"}},{\"_index\":\"wiki\",\"_id\":\"d2\","
		   "\"_score\":1.25}]}}");
	free(s);
	json_decref(j);
	json_decref(sr.includes);
	sr.includes = NULL;

	/* size 0, no total, integer total */
	sr.size = 0;
	sr.track_total = 0;
	j = os_render_search(&res, &sr, "wiki");
	s = json_dumps(j, JSON_COMPACT);
	assert_string_equal(s, "{\"took\":2,\"timed_out\":true,\"_shards\":{\"total\":4,"
	                       "\"successful\":3,\"skipped\":0,\"failed\":1},\"hits\":{\"max_score\":"
	                       "null,\"hits\":[]}}");
	free(s);
	json_decref(j);
	sr.track_total = 1;
	sr.track_limit = UINT64_MAX;
	sr.rest_total_int = 1;
	res.total_exact = 0;
	j = os_render_search(&res, &sr, "wiki");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "hits"), "total")), 42);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_translate),     cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_nul),           cmocka_unit_test(test_and_default),
	    cmocka_unit_test(test_injection),     cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_request_ok),    cmocka_unit_test(test_request_errors),
	    cmocka_unit_test(test_source_filter), cmocka_unit_test(test_index_matches),
	    cmocka_unit_test(test_render),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
