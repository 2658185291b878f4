/*
 * query_test.c - unit tests for the query parser (query.c).
 *
 * The parser's behaviour is pinned down through qt_dump: tables of
 * queries and the canonical form they parse to under both default operators,
 * and tables of bad queries with the exact error code and message users will
 * see (columns counted in characters, so several cases put multi-byte
 * characters before the error). Then the limits, the tree's fields that the
 * dump does not show, allocation failures, and random token soups that must
 * parse or fail cleanly and whose dumps must read back unchanged.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/query.h"
#include "index/testhooks.h"
#include "trawl/trawl.h"

static void assert_tree_ok(const qt_node *r);

/* parse_dump parses q with op; on success the dump goes to out and the tree
 * is freed, on failure the message goes to out. Returns the error code. */
static int parse_dump(const char *q, size_t len, int op, char *out, size_t cap)
{
	qt_node *root = NULL;
	int rc = idx_query_parse(q, len, op, &root, out, cap);
	if (rc == TRAWL_OK) {
		assert_non_null(root);
		size_t need = qt_dump(root, out, cap);
		assert_true(need < cap);
		assert_int_equal(strlen(out), need);
		assert_tree_ok(root);
		qt_free(root);
	} else {
		assert_null(root);
	}
	return rc;
}

/* assert_tree_ok: r keeps the query tree's rules and limits, and its
 * encoding decodes to a tree with the same dump and the same bytes. */
static void assert_tree_ok(const qt_node *r)
{
	char err[256];
	if (qt_check(r, err, sizeof err) != TRAWL_OK)
		fail_msg("parser made a tree that breaks a rule: %s", err);
	tbuf b, b2;
	tbuf_init(&b, TRAWL_MAX_QUERY_TREE_BYTES);
	tbuf_init(&b2, TRAWL_MAX_QUERY_TREE_BYTES);
	assert_int_equal(qt_encode(r, &b, err, sizeof err), TRAWL_OK);
	qt_node *back = NULL;
	assert_int_equal(qt_decode(b.data, b.len, &back, err, sizeof err), TRAWL_OK);
	assert_int_equal(qt_encode(back, &b2, err, sizeof err), TRAWL_OK);
	assert_int_equal(b.len, b2.len);
	assert_memory_equal(b.data, b2.data, b.len);
	size_t n = qt_dump(r, NULL, 0);
	char *d1 = malloc(n + 1), *d2 = malloc(n + 1);
	qt_dump(r, d1, n + 1);
	assert_int_equal(qt_dump(back, d2, n + 1), n);
	assert_string_equal(d1, d2);
	free(d1);
	free(d2);
	qt_free(back);
	tbuf_fini(&b);
	tbuf_fini(&b2);
}

/* ---- valid queries ---- */

typedef struct ok_case {
	const char *q;
	const char *or_dump;  /* default_op 0 */
	const char *and_dump; /* default_op 1 */
} ok_case;

static const ok_case ok_cases[] = {
    /* clauses and prefixes */
    {"a", "(a)", "(+a)"},
    {"a b", "(a b)", "(+a +b)"},
    {"  a \t b\n", "(a b)", "(+a +b)"},
    {"+a -b c", "(+a -b c)", "(+a -b +c)"},
    {"-a", "(-a)", "(-a)"},
    {"wi-fi C++", "(wi-fi C++)", "(+wi-fi +C++)"},
    {"a+b a-", "(a+b a-)", "(+a+b +a-)"},
    {"++a --b", "(+\\+a -\\-b)", "(+\\+a -\\-b)"},
    {"+-a", "(+\\-a)", "(+\\-a)"},
    /* phrases */
    {"\"a b\"", "(\"a b\")", "(+\"a b\")"},
    {"\"a\"", "(\"a\")", "(+\"a\")"},
    {"-\"a b\" +\"c\"", "(-\"a b\" +\"c\")", "(-\"a b\" +\"c\")"},
    {"\"a \\\"quoted\\\" b\"", "(\"a \\\"quoted\\\" b\")", "(+\"a \\\"quoted\\\" b\")"},
    {"\"a\\\\b\"", "(\"a\\\\b\")", "(+\"a\\\\b\")"},
    {"\"\\a\\(\"", "(\"a(\")", "(+\"a(\")"},
    {"\"  a  \"", "(\"  a  \")", "(+\"  a  \")"},
    {"\"AND ( title:x* -y\"", "(\"AND ( title:x* -y\")", "(+\"AND ( title:x* -y\")"},
    {"a\"b c\"d", "(a \"b c\" d)", "(+a +\"b c\" +d)"},
    {"\"é ü\"", "(\"é ü\")", "(+\"é ü\")"},
    /* groups */
    {"(a)", "((a))", "(+(+a))"},
    {"(a b)", "((a b))", "(+(+a +b))"},
    {"((a))", "(((a)))", "(+(+(+a)))"},
    {"-(a b) c", "(-(a b) c)", "(-(+a +b) +c)"},
    {"+(a -b)", "(+(a -b))", "(+(+a -b))"},
    {"(a)(b)", "((a) (b))", "(+(+a) +(+b))"},
    {"x(y)z", "(x (y) z)", "(+x +(+y) +z)"},
    {"(a (b (c)))", "((a (b (c))))", "(+(+a +(+b +(+c))))"},
    /* fields */
    {"title:foo", "(title:foo)", "(+title:foo)"},
    {"+title:foo -body:bar", "(+title:foo -body:bar)", "(+title:foo -body:bar)"},
    {"a.b-c_D9:x", "(a.b-c_D9:x)", "(+a.b-c_D9:x)"},
    {"title:\"a b\"", "(title:\"a b\")", "(+title:\"a b\")"},
    {"title:foo*", "(title:foo*)", "(+title:foo*)"},
    {"title:(a b)", "(title:(title:a title:b))", "(+title:(+title:a +title:b))"},
    {"title:(a \"b c\" d*)", "(title:(title:a title:\"b c\" title:d*))",
     "(+title:(+title:a +title:\"b c\" +title:d*))"},
    {"title:(a body:b)", "(title:(title:a body:b))", "(+title:(+title:a +body:b))"},
    {"title:(a (b) body:(c))", "(title:(title:a title:(title:b) body:(body:c)))",
     "(+title:(+title:a +title:(+title:b) +body:(+body:c)))"},
    {"-title:(a -b)", "(-title:(title:a -title:b))", "(-title:(+title:a -title:b))"},
    {"f:g:x", "(g:x)", "(+g:x)"},
    {"f:g:(x)", "(g:(g:x))", "(+g:(+g:x))"},
    {"http://x", "(http://x)", "(+http://x)"},
    {"a::b", "(a:\\:b)", "(+a:\\:b)"},
    {"f:+x f:-y", "(f:\\+x f:\\-y)", "(+f:\\+x +f:\\-y)"},
    {"--x:y f:-x:y", "(-\\-x\\:y f:\\-x\\:y)", "(-\\-x\\:y +f:\\-x\\:y)"},
    {"+x-y:z", "(+x-y:z)", "(+x-y:z)"},
    {"title:AND", "(title:\\AND)", "(+title:\\AND)"},
    /* words with ':' that are not fields */
    {":a", "(\\:a)", "(+\\:a)"},
    {"é:x", "(é\\:x)", "(+é\\:x)"},
    {"a\\:b", "(a\\:b)", "(+a\\:b)"},
    {"ti\\tle:x", "(title\\:x)", "(+title\\:x)"},
    {"a\\ b:c", "(a\\ b\\:c)", "(+a\\ b\\:c)"},
    /* prefixes */
    {"foo*", "(foo*)", "(+foo*)"},
    {"-foo* bar", "(-foo* bar)", "(-foo* +bar)"},
    {"é*", "(é*)", "(+é*)"},
    {"a*b", "(a\\*b)", "(+a\\*b)"},
    {"a**", "(a\\**)", "(+a\\**)"},
    {"a\\*", "(a\\*)", "(+a\\*)"},
    {"\\**", "(\\**)", "(+\\**)"},
    {"a\\\\*", "(a\\\\*)", "(+a\\\\*)"},
    {"AND*", "(\\AND*)", "(+\\AND*)"},
    /* escapes */
    {"a\\ b", "(a\\ b)", "(+a\\ b)"},
    {"\\(a\\)", "(\\(a\\))", "(+\\(a\\))"},
    {"\\\"a", "(\\\"a)", "(+\\\"a)"},
    {"\\+a \\-b", "(\\+a \\-b)", "(+\\+a +\\-b)"},
    {"\\a\\b", "(ab)", "(+ab)"},
    {"\\é", "(é)", "(+é)"},
    {"\\\\", "(\\\\)", "(+\\\\)"},
    /* keywords */
    {"a AND b", "(+a +b)", "(+a +b)"},
    {"a OR b", "(a b)", "(a b)"},
    {"NOT a", "(-a)", "(-a)"},
    {"a NOT b", "(a -b)", "(+a -b)"},
    {"a AND b c", "(+a +b c)", "(+a +b +c)"},
    {"a b OR c", "(a b c)", "(+a b c)"},
    {"a OR b c", "(a b c)", "(a b +c)"},
    {"a AND b OR c", "(+a +b c)", "(+a +b c)"},
    {"a OR b AND c", "(a +b +c)", "(a +b +c)"},
    {"a AND b AND c", "(+a +b +c)", "(+a +b +c)"},
    {"a OR b OR c", "(a b c)", "(a b c)"},
    {"a AND -b", "(+a -b)", "(+a -b)"},
    {"-a AND b", "(-a +b)", "(-a +b)"},
    {"a AND NOT b", "(+a -b)", "(+a -b)"},
    {"NOT a AND b", "(-a +b)", "(-a +b)"},
    {"a OR NOT b", "(a -b)", "(a -b)"},
    {"-a OR b", "(-a b)", "(-a b)"},
    {"+a OR b", "(+a b)", "(+a b)"},
    {"a OR +b", "(a +b)", "(a +b)"},
    {"(a AND b) OR c", "((+a +b) c)", "((+a +b) c)"},
    {"a OR (b c)", "(a (b c))", "(a (+b +c))"},
    {"NOT(a)", "(-(a))", "(-(+a))"},
    {"(a)AND(b)", "(+(a) +(b))", "(+(+a) +(+b))"},
    {"a AND\"b c\"", "(+a +\"b c\")", "(+a +\"b c\")"},
    {"NOT title:x", "(-title:x)", "(-title:x)"},
    {"title:x OR body:x", "(title:x body:x)", "(title:x body:x)"},
    /* keywords only in upper case, as whole unescaped words */
    {"and or not", "(and or not)", "(+and +or +not)"},
    {"And Or Not", "(And Or Not)", "(+And +Or +Not)"},
    {"ANDROID NOTE ORB", "(ANDROID NOTE ORB)", "(+ANDROID +NOTE +ORB)"},
    {"\\AND \\OR \\NOT", "(\\AND \\OR \\NOT)", "(+\\AND +\\OR +\\NOT)"},
    {"A\\ND", "(\\AND)", "(+\\AND)"},
    {"+AND -OR", "(+\\AND -\\OR)", "(+\\AND -\\OR)"},
    {"AND:x", "(AND:x)", "(+AND:x)"},
    /* other scripts */
    {"日本語 テスト", "(日本語 テスト)", "(+日本語 +テスト)"},
    {"title:日本*", "(title:日本*)", "(+title:日本*)"},
};

static void test_valid(void **state)
{
	(void)state;
	char out[512];
	for (size_t i = 0; i < sizeof ok_cases / sizeof ok_cases[0]; i++) {
		const ok_case *c = &ok_cases[i];
		for (int op = 0; op < 2; op++) {
			const char *want = op ? c->and_dump : c->or_dump;
			int rc = parse_dump(c->q, strlen(c->q), op, out, sizeof out);
			if (rc != TRAWL_OK || strcmp(out, want) != 0)
				print_error("query [%s] op %d: rc %d, got [%s], want [%s]\n", c->q,
				            op, rc, out, want);
			assert_int_equal(rc, TRAWL_OK);
			assert_string_equal(out, want);
		}
	}
}

/* ---- invalid queries ---- */

typedef struct err_case {
	const char *q;
	size_t len; /* 0: strlen(q) */
	int rc;
	const char *msg;
} err_case;

static const err_case err_cases[] = {
    /* empty */
    {"", 0, TRAWL_EQUERY, "empty query"},
    {"   \t\r\n ", 0, TRAWL_EQUERY, "empty query"},
    /* + and - */
    {"+", 0, TRAWL_EQUERY, "column 1: expected a term after '+'"},
    {"-", 0, TRAWL_EQUERY, "column 1: expected a term after '-'"},
    {"a + b", 0, TRAWL_EQUERY, "column 3: expected a term after '+'"},
    {"a -", 0, TRAWL_EQUERY, "column 3: expected a term after '-'"},
    {"(a +)", 0, TRAWL_EQUERY, "column 4: expected a term after '+'"},
    {"日本 +", 0, TRAWL_EQUERY, "column 4: expected a term after '+'"},
    {"ü - x", 0, TRAWL_EQUERY, "column 3: expected a term after '-'"},
    /* quotes */
    {"\"abc", 0, TRAWL_EQUERY, "column 1: unterminated quote"},
    {"a \"b", 0, TRAWL_EQUERY, "column 3: unterminated quote"},
    {"\"a\" \"b", 0, TRAWL_EQUERY, "column 5: unterminated quote"},
    {"\"a\\\"", 0, TRAWL_EQUERY, "column 1: unterminated quote"},
    {"\"a\\", 0, TRAWL_EQUERY, "column 1: unterminated quote"},
    {"ü ü \"x", 0, TRAWL_EQUERY, "column 5: unterminated quote"},
    {"日本語\"x y", 0, TRAWL_EQUERY, "column 4: unterminated quote"},
    {"title:\"a", 0, TRAWL_EQUERY, "column 7: unterminated quote"},
    {"\"\"", 0, TRAWL_EQUERY, "column 1: empty phrase"},
    {"a \" \t \"", 0, TRAWL_EQUERY, "column 3: empty phrase"},
    {"é title:\"\"", 0, TRAWL_EQUERY, "column 9: empty phrase"},
    /* parentheses */
    {"(", 0, TRAWL_EQUERY, "column 1: unclosed '('"},
    {"(a", 0, TRAWL_EQUERY, "column 1: unclosed '('"},
    {"((a)", 0, TRAWL_EQUERY, "column 1: unclosed '('"},
    {"(a (b", 0, TRAWL_EQUERY, "column 4: unclosed '('"},
    {"é(a", 0, TRAWL_EQUERY, "column 2: unclosed '('"},
    {")", 0, TRAWL_EQUERY, "column 1: unexpected ')'"},
    {"a)", 0, TRAWL_EQUERY, "column 2: unexpected ')'"},
    {"(a))", 0, TRAWL_EQUERY, "column 4: unexpected ')'"},
    {"ééé )", 0, TRAWL_EQUERY, "column 5: unexpected ')'"},
    {"()", 0, TRAWL_EQUERY, "column 1: empty group"},
    {"a ( \t)", 0, TRAWL_EQUERY, "column 3: empty group"},
    {"(())", 0, TRAWL_EQUERY, "column 2: empty group"},
    {"-()", 0, TRAWL_EQUERY, "column 2: empty group"},
    /* fields */
    {"title:", 0, TRAWL_EQUERY, "column 1: expected a term after 'title:'"},
    {"a title: b", 0, TRAWL_EQUERY, "column 3: expected a term after 'title:'"},
    {"(title:)", 0, TRAWL_EQUERY, "column 2: expected a term after 'title:'"},
    {"f:g:", 0, TRAWL_EQUERY, "column 3: expected a term after 'g:'"},
    {"ü -f:", 0, TRAWL_EQUERY, "column 4: expected a term after 'f:'"},
    {"title:()", 0, TRAWL_EQUERY, "column 7: empty group"},
    {"title:(", 0, TRAWL_EQUERY, "column 7: unclosed '('"},
    /* prefixes */
    {"*", 0, TRAWL_EQUERY, "column 1: empty prefix"},
    {"a * b", 0, TRAWL_EQUERY, "column 3: empty prefix"},
    {"title:*", 0, TRAWL_EQUERY, "column 7: empty prefix"},
    {"-*", 0, TRAWL_EQUERY, "column 2: empty prefix"},
    {"\"a\"*", 0, TRAWL_EQUERY, "column 4: empty prefix"},
    {"日本 *", 0, TRAWL_EQUERY, "column 4: empty prefix"},
    /* backslashes */
    {"\\", 0, TRAWL_EQUERY, "column 1: trailing backslash"},
    {"a\\", 0, TRAWL_EQUERY, "column 2: trailing backslash"},
    {"é \\\\\\", 0, TRAWL_EQUERY, "column 5: trailing backslash"},
    {"title:\\", 0, TRAWL_EQUERY, "column 7: trailing backslash"},
    /* keywords */
    {"AND", 0, TRAWL_EQUERY, "column 1: expected a term before 'AND'"},
    {"OR", 0, TRAWL_EQUERY, "column 1: expected a term before 'OR'"},
    {"NOT", 0, TRAWL_EQUERY, "column 1: expected a term after 'NOT'"},
    {"AND a", 0, TRAWL_EQUERY, "column 1: expected a term before 'AND'"},
    {"OR b", 0, TRAWL_EQUERY, "column 1: expected a term before 'OR'"},
    {"a AND", 0, TRAWL_EQUERY, "column 3: expected a term after 'AND'"},
    {"a OR", 0, TRAWL_EQUERY, "column 3: expected a term after 'OR'"},
    {"a NOT", 0, TRAWL_EQUERY, "column 3: expected a term after 'NOT'"},
    {"a AND AND b", 0, TRAWL_EQUERY, "column 3: expected a term after 'AND'"},
    {"a OR AND b", 0, TRAWL_EQUERY, "column 3: expected a term after 'OR'"},
    {"NOT NOT a", 0, TRAWL_EQUERY, "column 1: expected a term after 'NOT'"},
    {"a NOT OR b", 0, TRAWL_EQUERY, "column 3: expected a term after 'NOT'"},
    {"NOT -a", 0, TRAWL_EQUERY, "column 1: expected a term after 'NOT'"},
    {"NOT +a", 0, TRAWL_EQUERY, "column 1: expected a term after 'NOT'"},
    {"(AND a)", 0, TRAWL_EQUERY, "column 2: expected a term before 'AND'"},
    {"(a OR)", 0, TRAWL_EQUERY, "column 4: expected a term after 'OR'"},
    {"(a AND", 0, TRAWL_EQUERY, "column 4: expected a term after 'AND'"},
    {"a (OR b)", 0, TRAWL_EQUERY, "column 4: expected a term before 'OR'"},
    {"ééé AND", 0, TRAWL_EQUERY, "column 5: expected a term after 'AND'"},
    {"(é) NOT)", 0, TRAWL_EQUERY, "column 5: expected a term after 'NOT'"},
    /* UTF-8 */
    {"\xff", 0, TRAWL_EUTF8, "column 1: invalid UTF-8"},
    {"ab\x80", 0, TRAWL_EUTF8, "column 3: invalid UTF-8"},
    {"é\xc3", 0, TRAWL_EUTF8, "column 2: invalid UTF-8"},
    {"日本 \xe6\x97", 0, TRAWL_EUTF8, "column 4: invalid UTF-8"},
    {"\xc3\x28", 0, TRAWL_EUTF8, "column 1: invalid UTF-8"},
    {"a \xc0\xaf", 0, TRAWL_EUTF8, "column 3: invalid UTF-8"},         /* overlong */
    {"a \xe0\x80\xaf", 0, TRAWL_EUTF8, "column 3: invalid UTF-8"},     /* overlong */
    {"a \xf0\x80\x80\xaf", 0, TRAWL_EUTF8, "column 3: invalid UTF-8"}, /* overlong */
    {"a \xe6\x97x", 0, TRAWL_EUTF8, "column 3: invalid UTF-8"},
    {"\xf0\x9f\x98(", 0, TRAWL_EUTF8, "column 1: invalid UTF-8"},
    {"a \xed\xa0\x80", 0, TRAWL_EUTF8, "column 3: invalid UTF-8"},     /* surrogate */
    {"a \xf4\x90\x80\x80", 0, TRAWL_EUTF8, "column 3: invalid UTF-8"}, /* > U+10FFFF */
    {"a \xf8\x88\x80\x80\x80", 0, TRAWL_EUTF8, "column 3: invalid UTF-8"},
    {"\"é\xff\"", 0, TRAWL_EUTF8, "column 3: invalid UTF-8"},
    {") \xff", 0, TRAWL_EUTF8, "column 3: invalid UTF-8"}, /* checked before syntax */
    {"a\0b", 3, TRAWL_EQUERY, "column 2: NUL character"},
};

static void test_errors(void **state)
{
	(void)state;
	char out[512];
	for (size_t i = 0; i < sizeof err_cases / sizeof err_cases[0]; i++) {
		const err_case *c = &err_cases[i];
		size_t len = c->len ? c->len : strlen(c->q);
		for (int op = 0; op < 2; op++) {
			int rc = parse_dump(c->q, len, op, out, sizeof out);
			if (rc != c->rc || strcmp(out, c->msg) != 0)
				print_error("query [%s] op %d: rc %d [%s], want %d [%s]\n", c->q,
				            op, rc, out, c->rc, c->msg);
			assert_int_equal(rc, c->rc);
			assert_string_equal(out, c->msg);
		}
	}
}

/* ---- limits ---- */

/* words builds "a a a ..." with n words (n >= 1) in a new string. */
static char *words(size_t n, const char *open, const char *close)
{
	size_t cap = strlen(open) + 2 * n + strlen(close) + 1;
	char *s = malloc(cap);
	assert_non_null(s);
	size_t k = (size_t)snprintf(s, cap, "%s", open);
	for (size_t i = 0; i < n; i++) {
		s[k++] = 'a';
		s[k++] = ' ';
	}
	k--; /* no space after the last word */
	snprintf(s + k, cap - k, "%s", close);
	return s;
}

static void test_limit_bytes(void **state)
{
	(void)state;
	char out[128];
	char *q = malloc(TRAWL_MAX_QUERY_BYTES + 2);
	assert_non_null(q);
	memset(q, 'x', TRAWL_MAX_QUERY_BYTES + 1);
	q[TRAWL_MAX_QUERY_BYTES + 1] = '\0';
	assert_int_equal(parse_dump(q, TRAWL_MAX_QUERY_BYTES + 1, 0, out, sizeof out),
	                 TRAWL_ELIMIT);
	assert_string_equal(out, "query is 8193 bytes; the limit is 8192");
	/* Checked before anything else, even the UTF-8. */
	q[0] = (char)0xff;
	assert_int_equal(parse_dump(q, TRAWL_MAX_QUERY_BYTES + 1, 1, out, sizeof out),
	                 TRAWL_ELIMIT);
	assert_string_equal(out, "query is 8193 bytes; the limit is 8192");
	/* Exactly the limit is fine: one long word. */
	q[0] = 'x';
	qt_node *root = NULL;
	assert_int_equal(idx_query_parse(q, TRAWL_MAX_QUERY_BYTES, 0, &root, NULL, 0), TRAWL_OK);
	assert_int_equal(root->kids[0]->len, TRAWL_MAX_QUERY_BYTES);
	qt_free(root);
	free(q);
}

static void test_limit_terms(void **state)
{
	(void)state;
	char out[4096 * 2];
	char *q = words(TRAWL_MAX_QUERY_TERMS, "", "");
	assert_int_equal(parse_dump(q, strlen(q), 0, out, sizeof out), TRAWL_OK);
	free(q);

	q = words(TRAWL_MAX_QUERY_TERMS + 1, "", "");
	assert_int_equal(parse_dump(q, strlen(q), 1, out, sizeof out), TRAWL_ELIMIT);
	assert_string_equal(out, "column 2049: too many terms; the limit is 1024");
	free(q);

	/* Words inside phrases count. */
	q = words(TRAWL_MAX_QUERY_TERMS, "\"", "\"");
	assert_int_equal(parse_dump(q, strlen(q), 0, out, sizeof out), TRAWL_OK);
	free(q);
	q = words(TRAWL_MAX_QUERY_TERMS + 1, "\"", "\"");
	assert_int_equal(parse_dump(q, strlen(q), 0, out, sizeof out), TRAWL_ELIMIT);
	assert_string_equal(out, "column 1: too many terms; the limit is 1024");
	free(q);
	q = words(TRAWL_MAX_QUERY_TERMS, "b \"", "\"");
	assert_int_equal(parse_dump(q, strlen(q), 0, out, sizeof out), TRAWL_ELIMIT);
	assert_string_equal(out, "column 3: too many terms; the limit is 1024");
	free(q);

	/* Prefixes count too. */
	q = words(TRAWL_MAX_QUERY_TERMS, "", " b*");
	assert_int_equal(parse_dump(q, strlen(q), 0, out, sizeof out), TRAWL_ELIMIT);
	assert_string_equal(out, "column 2049: too many terms; the limit is 1024");
	free(q);
}

static void test_limit_depth(void **state)
{
	(void)state;
	char q[256], out[512];
	int d = TRAWL_MAX_QUERY_DEPTH;
	/* 32 levels parse. */
	int k = 0;
	for (int i = 0; i < d; i++)
		q[k++] = '(';
	q[k++] = 'a';
	for (int i = 0; i < d; i++)
		q[k++] = ')';
	q[k] = '\0';
	assert_int_equal(parse_dump(q, strlen(q), 0, out, sizeof out), TRAWL_OK);
	/* 33 do not, with the column of the 33rd '('. */
	k = 0;
	q[k++] = 'x';
	q[k++] = ' ';
	for (int i = 0; i <= d; i++)
		q[k++] = '(';
	q[k++] = 'a';
	for (int i = 0; i <= d; i++)
		q[k++] = ')';
	q[k] = '\0';
	assert_int_equal(parse_dump(q, strlen(q), 1, out, sizeof out), TRAWL_ELIMIT);
	assert_string_equal(out, "column 35: parentheses nested too deep; the limit is 32");
	/* Fields and signs in between do not hide the depth. */
	q[0] = '\0';
	for (int i = 0; i <= d; i++)
		strcat(q, i % 2 ? "-f:(" : "+(");
	strcat(q, "a");
	assert_int_equal(parse_dump(q, strlen(q), 0, out, sizeof out), TRAWL_ELIMIT);
	assert_string_equal(out, "column 98: parentheses nested too deep; the limit is 32");
	/* Much deeper still fails cleanly (no unbounded recursion). */
	char *deep = malloc(TRAWL_MAX_QUERY_BYTES);
	assert_non_null(deep);
	memset(deep, '(', TRAWL_MAX_QUERY_BYTES);
	assert_int_equal(parse_dump(deep, TRAWL_MAX_QUERY_BYTES, 0, out, sizeof out), TRAWL_ELIMIT);
	assert_string_equal(out, "column 33: parentheses nested too deep; the limit is 32");
	free(deep);
}

/* ---- the tree itself ---- */

static void test_tree(void **state)
{
	(void)state;
	const char *q = "+title:foo* \"x y\" -(b é:c) NOT body:(d) ü";
	qt_node *r = NULL;
	char err[64];
	assert_int_equal(idx_query_parse(q, strlen(q), 0, &r, err, sizeof err), TRAWL_OK);
	assert_int_equal(r->kind, QT_BOOL);
	assert_int_equal(r->occur, QT_MUST);
	assert_null(r->field);
	assert_int_equal(r->column, 1);
	assert_int_equal(r->nkids, 5);

	qt_node *k = r->kids[0];
	assert_int_equal(k->kind, QT_PREFIX);
	assert_int_equal(k->occur, QT_MUST);
	assert_string_equal(k->field, "title");
	assert_string_equal(k->text, "foo");
	assert_int_equal(k->len, 3);
	assert_int_equal(k->column, 1);
	assert_int_equal(k->nkids, 0);

	k = r->kids[1];
	assert_int_equal(k->kind, QT_PHRASE);
	assert_int_equal(k->occur, QT_SHOULD);
	assert_null(k->field);
	assert_string_equal(k->text, "x y");
	assert_int_equal(k->len, 3);
	assert_int_equal(k->column, 13);

	k = r->kids[2];
	assert_int_equal(k->kind, QT_BOOL);
	assert_int_equal(k->occur, QT_NOT);
	assert_null(k->text);
	assert_int_equal(k->column, 19);
	assert_int_equal(k->nkids, 2);
	assert_string_equal(k->kids[0]->text, "b");
	assert_int_equal(k->kids[0]->column, 21);
	assert_string_equal(k->kids[1]->text, "é:c");
	assert_int_equal(k->kids[1]->len, 4);
	assert_int_equal(k->kids[1]->column, 23);

	k = r->kids[3];
	assert_int_equal(k->kind, QT_BOOL);
	assert_int_equal(k->occur, QT_NOT);
	assert_string_equal(k->field, "body");
	assert_int_equal(k->column, 32); /* where the clause NOT binds starts */
	assert_int_equal(k->nkids, 1);
	assert_string_equal(k->kids[0]->field, "body");
	assert_true(k->kids[0]->field != k->field); /* each node owns its field */
	assert_int_equal(k->kids[0]->column, 38);

	k = r->kids[4];
	assert_int_equal(k->kind, QT_TERM);
	assert_string_equal(k->text, "ü");
	assert_int_equal(k->len, 2);
	assert_int_equal(k->column, 41);
	qt_free(r);
}

static void test_dump_truncation(void **state)
{
	(void)state;
	qt_node *r = NULL;
	assert_int_equal(idx_query_parse("a -b", 4, 0, &r, NULL, 0), TRAWL_OK);
	char buf[16];
	assert_int_equal(qt_dump(r, NULL, 0), 6);
	memset(buf, 'x', sizeof buf);
	assert_int_equal(qt_dump(r, buf, 0), 6);
	assert_int_equal(buf[0], 'x');
	assert_int_equal(qt_dump(r, buf, 1), 6);
	assert_string_equal(buf, "");
	assert_int_equal(qt_dump(r, buf, 4), 6);
	assert_string_equal(buf, "(a ");
	assert_int_equal(qt_dump(r, buf, 6), 6);
	assert_string_equal(buf, "(a -b");
	assert_int_equal(qt_dump(r, buf, 7), 6);
	assert_string_equal(buf, "(a -b)");
	/* A subtree dumps without its own occur. */
	assert_int_equal(qt_dump(r->kids[1], buf, sizeof buf), 1);
	assert_string_equal(buf, "b");
	assert_int_equal(qt_dump(NULL, buf, sizeof buf), 0);
	assert_string_equal(buf, "");
	qt_free(r);
	qt_free(NULL);
}

static void test_arguments(void **state)
{
	(void)state;
	char err[64];
	qt_node *r = (qt_node *)&r;
	/* err may be NULL or tiny; the message is cut, never overrun. */
	assert_int_equal(idx_query_parse("(", 1, 0, &r, NULL, 0), TRAWL_EQUERY);
	assert_null(r);
	memset(err, 'x', sizeof err);
	assert_int_equal(idx_query_parse("(", 1, 0, &r, err, 5), TRAWL_EQUERY);
	assert_string_equal(err, "colu");
	assert_int_equal(err[5], 'x');
	memset(err, 'x', sizeof err);
	assert_int_equal(idx_query_parse("(", 1, 0, &r, err, 1), TRAWL_EQUERY);
	assert_string_equal(err, "");
	assert_int_equal(idx_query_parse("", 0, 0, &r, err, 6), TRAWL_EQUERY);
	assert_string_equal(err, "empty");
	/* A successful parse leaves err empty. */
	memset(err, 'x', sizeof err);
	assert_int_equal(idx_query_parse("a", 1, 0, &r, err, sizeof err), TRAWL_OK);
	assert_string_equal(err, "");
	qt_free(r);
	/* len, not the NUL, bounds the query. */
	assert_int_equal(idx_query_parse("a b(", 3, 1, &r, err, sizeof err), TRAWL_OK);
	assert_int_equal(r->nkids, 2);
	qt_free(r);
	/* Any nonzero default_op is AND. */
	assert_int_equal(idx_query_parse("a", 1, 7, &r, err, sizeof err), TRAWL_OK);
	assert_int_equal(r->kids[0]->occur, QT_MUST);
	qt_free(r);
	assert_int_equal(idx_query_parse(NULL, 0, 0, &r, err, sizeof err), TRAWL_EQUERY);
	assert_string_equal(err, "empty query");
	r = (qt_node *)&r;
	assert_int_equal(idx_query_parse(NULL, 1, 0, &r, err, sizeof err), TRAWL_EINVAL);
	assert_null(r);
	assert_int_equal(idx_query_parse("a", 1, 0, NULL, err, sizeof err), TRAWL_EINVAL);
}

/* ---- allocation failures ---- */

static void test_enomem(void **state)
{
	(void)state;
	static const char *const qs[] = {
	    "a",
	    "a b c d e f g h i j",
	    "+title:foo* \"x y\" -(b é:c) NOT body:(d (e f g h i)) ü",
	    "t:(a b (c d) \"e f\" g*) OR x AND y",
	};
	for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
		for (int op = 0; op < 2; op++) {
			int succeeded = 0;
			for (unsigned long n = 1; n < 1000 && !succeeded; n++) {
				qt_node *r = (qt_node *)&r;
				char err[64];
				idx_query_fail_after = n;
				int rc =
				    idx_query_parse(qs[i], strlen(qs[i]), op, &r, err, sizeof err);
				idx_query_fail_after = 0;
				if (rc == TRAWL_OK) {
					succeeded = 1;
					qt_free(r);
				} else {
					assert_int_equal(rc, TRAWL_ENOMEM);
					assert_null(r);
				}
			}
			assert_true(succeeded);
		}
	}
}

/* ---- random token soups ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 32);
}

/* The parser's biggest trees stay within the tree's limits (qtree.h):
 * queries at the limits of bytes, words and depth, each built to make as
 * many nodes, fields or bytes of encoding as it can. */
static void test_tree_limits(void **state)
{
	(void)state;
	char *q = malloc(TRAWL_MAX_QUERY_BYTES + 1);
	assert_non_null(q);
	for (int shape = 0; shape < 6; shape++) {
		size_t k = 0;
		for (int i = 0; k + 80 < TRAWL_MAX_QUERY_BYTES; i++) {
			switch (shape) {
			case 0: /* one-letter words */
				if (i == TRAWL_MAX_QUERY_TERMS)
					goto full;
				k += (size_t)sprintf(q + k, "a ");
				break;
			case 1: /* groups 32 deep around one word each */
				if (k + 70 > TRAWL_MAX_QUERY_BYTES)
					goto full;
				for (int d = 0; d < 32; d++)
					q[k++] = '(';
				q[k++] = 'a';
				for (int d = 0; d < 32; d++)
					q[k++] = ')';
				break;
			case 2: /* a group per word */
				if (i == TRAWL_MAX_QUERY_TERMS)
					goto full;
				k += (size_t)sprintf(q + k, "(a)");
				break;
			case 3: /* a new field per word */
				if (i == TRAWL_MAX_QUERY_TERMS)
					goto full;
				k += (size_t)sprintf(q + k, "f%d:a ", i);
				break;
			case 4: /* every document, over and over */
				if (i == TRAWL_MAX_QUERY_TERMS)
					goto full;
				k += (size_t)sprintf(q + k, "*:* ");
				break;
			default: /* a long field over a group of words */
				if (i == 0)
					k += (size_t)sprintf(q + k, "%0*d:(", 4000, 0);
				if (i == TRAWL_MAX_QUERY_TERMS - 1)
					goto full;
				k += (size_t)sprintf(q + k, "b ");
				break;
			}
		}
	full:
		if (shape == 5)
			q[k++] = ')';
		qt_node *r = NULL;
		char err[256];
		if (idx_query_parse(q, k, 0, &r, err, sizeof err) != TRAWL_OK)
			fail_msg("shape %d: %s", shape, err);
		qt_size sz;
		qt_measure(r, &sz);
		assert_true(sz.encoded <= 10 + 8 * sz.words + 4 * k);
		assert_tree_ok(r);
		qt_free(r);
	}
	free(q);
}

/* idx_query_parse_group reads q as the inside of field:( q ). */
static void test_parse_group(void **state)
{
	(void)state;
	static const struct {
		const char *q, *field, *as; /* as: the same group written in a query */
		int op;
	} cases[] = {
	    {"a b", "title", "title:(a b)", 0},
	    {"a b", "title", "title:(a b)", 1},
	    {"a body:b (c d)", "title", "title:(a body:b (c d))", 0},
	    {"*:* x", "title", "title:(*:* x)", 0},
	    {"*:* x", NULL, "(*:* x)", 0},
	    {"-a +b OR c", NULL, "(-a +b OR c)", 1},
	};
	char err[256], d1[256], d2[256];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		qt_node *g = NULL, *want = NULL;
		assert_int_equal(idx_query_parse_group(cases[i].q, strlen(cases[i].q), cases[i].op,
		                                       cases[i].field, &g, err, sizeof err),
		                 TRAWL_OK);
		assert_int_equal(idx_query_parse(cases[i].as, strlen(cases[i].as), cases[i].op,
		                                 &want, err, sizeof err),
		                 TRAWL_OK);
		qt_dump(g, d1, sizeof d1);
		qt_dump(want->kids[0], d2, sizeof d2);
		assert_string_equal(d1, d2);
		assert_int_equal(g->occur, want->kids[0]->occur);
		assert_int_equal(g->column, 0);
		qt_free(g);
		qt_free(want);
	}
	/* columns count from q; the group takes one level of parentheses */
	qt_node *g = (qt_node *)&g;
	assert_int_equal(idx_query_parse_group("a AND", 5, 0, "title", &g, err, sizeof err),
	                 TRAWL_EQUERY);
	assert_string_equal(err, "column 3: expected a term after 'AND'");
	assert_null(g);
	char q[128] = "";
	for (int i = 0; i < TRAWL_MAX_QUERY_DEPTH - 1; i++)
		strcat(q, "(");
	strcat(q, "a");
	for (int i = 0; i < TRAWL_MAX_QUERY_DEPTH - 1; i++)
		strcat(q, ")");
	assert_int_equal(idx_query_parse_group(q, strlen(q), 0, NULL, &g, err, sizeof err),
	                 TRAWL_OK);
	qt_free(g);
	memmove(q + 1, q, strlen(q) + 1);
	q[0] = '(';
	strcat(q, ")");
	assert_int_equal(idx_query_parse_group(q, strlen(q), 0, "t", &g, err, sizeof err),
	                 TRAWL_ELIMIT);
	assert_string_equal(err, "column 32: parentheses nested too deep; the limit is 32");
}

static void test_random(void **state)
{
	(void)state;
	static const char *const alphabet[] = {
	    "a", "b",  "+", "-",   "(",  ")",   "\"", ":",
	    "*", "\\", " ", "AND", "OR", "NOT", "é",  "title:",
	};
	const size_t na = sizeof alphabet / sizeof alphabet[0];
	char q[512], err[256], d1[4096], d2[4096];
	int ok = 0, bad = 0;
	for (int iter = 0; iter < 50000; iter++) {
		size_t n = 1 + rng() % 24, k = 0;
		for (size_t i = 0; i < n; i++) {
			const char *t = alphabet[rng() % na];
			/* Favour words so that more soups parse. */
			if (rng() % 3 == 0)
				t = alphabet[rng() % 2];
			memcpy(q + k, t, strlen(t));
			k += strlen(t);
		}
		q[k] = '\0';
		for (int op = 0; op < 2; op++) {
			qt_node *r = NULL;
			int rc = idx_query_parse(q, k, op, &r, err, sizeof err);
			if (rc != TRAWL_OK) {
				if (rc != TRAWL_EQUERY && rc != TRAWL_ELIMIT)
					print_error("[%s]: rc %d\n", q, rc);
				assert_true(rc == TRAWL_EQUERY || rc == TRAWL_ELIMIT);
				assert_null(r);
				assert_true(strncmp(err, "column ", 7) == 0 ||
				            strcmp(err, "empty query") == 0);
				bad++;
				continue;
			}
			ok++;
			assert_tree_ok(r);
			size_t need = qt_dump(r, d1, sizeof d1);
			assert_true(need < sizeof d1);
			/* The dump, read with the OR default, is one group equal to r. */
			qt_node *r2 = NULL;
			rc = idx_query_parse(d1, need, 0, &r2, err, sizeof err);
			if (rc != TRAWL_OK)
				print_error("[%s] op %d -> [%s] -> %s\n", q, op, d1, err);
			assert_int_equal(rc, TRAWL_OK);
			assert_int_equal(r2->nkids, 1);
			qt_dump(r2->kids[0], d2, sizeof d2);
			if (strcmp(d1, d2) != 0)
				print_error("[%s] op %d -> [%s] -> [%s]\n", q, op, d1, d2);
			assert_string_equal(d1, d2);
			qt_free(r2);
			qt_free(r);
		}
	}
	/* The soups exercise both outcomes. */
	assert_true(ok > 1000);
	assert_true(bad > 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid),           cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_limit_bytes),     cmocka_unit_test(test_limit_terms),
	    cmocka_unit_test(test_limit_depth),     cmocka_unit_test(test_tree),
	    cmocka_unit_test(test_dump_truncation), cmocka_unit_test(test_arguments),
	    cmocka_unit_test(test_enomem),          cmocka_unit_test(test_random),
	    cmocka_unit_test(test_tree_limits),     cmocka_unit_test(test_parse_group),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
