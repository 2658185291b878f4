/*
 * query_test.c - unit tests for the query parser (query.c).
 *
 * The parser's behaviour is pinned down through qt_dump: tables of
 * queries and the canonical form they parse to under both default operators,
 * and tables of bad queries with the exact error code and message users will
 * see (columns counted in characters, so several cases put multi-byte
 * characters before the error). Then the limits, the tree's fields that the
 * dump does not show, allocation failures, and random token soups that must
 * parse or fail cleanly and whose dumps must read back unchanged. The
 * typed filters (ranges, one-sided ranges, _exists_, _id, '#', ^=1) and
 * idx_query_parse_filter have tables of their own, every error with its
 * column, and a soup over their syntax.
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

    /* ranges: [ ] include their bound, { } do not, * is open */
    {"year:[2020 TO 2024]", "(year:[2020 TO 2024])", "(+year:[2020 TO 2024])"},
    {"year:{2020 TO 2024}", "(year:{2020 TO 2024})", "(+year:{2020 TO 2024})"},
    {"year:[2020 TO 2024}", "(year:[2020 TO 2024})", "(+year:[2020 TO 2024})"},
    {"year:{2020 TO 2024]", "(year:{2020 TO 2024])", "(+year:{2020 TO 2024])"},
    {"n:[* TO 5]", "(n:{* TO 5])", "(+n:{* TO 5])"},
    {"n:{5 TO *]", "(n:{5 TO *})", "(+n:{5 TO *})"},
    {"n:[5 TO *]", "(n:[5 TO *})", "(+n:[5 TO *})"},
    {"n:[* TO *]", "(_exists_:n)", "(+_exists_:n)"},
    {"n:{* TO *}", "(_exists_:n)", "(+_exists_:n)"},
    {"d:[\"2024-01-01T00:00:00Z\" TO *]", "(d:[2024-01-01T00:00:00Z TO *})",
     "(+d:[2024-01-01T00:00:00Z TO *})"},
    {"d:[2024-01-01T00:00:00Z TO 2024-02-01T00:00:00.5+01:00]",
     "(d:[2024-01-01T00:00:00Z TO 2024-02-01T00:00:00.5+01:00])",
     "(+d:[2024-01-01T00:00:00Z TO 2024-02-01T00:00:00.5+01:00])"},
    {"n:[-5 TO -1.5e3]", "(n:[-5 TO -1.5e3])", "(+n:[-5 TO -1.5e3])"},
    {"k:[\"a b\" TO \"c\\\"d\"]", "(k:[a\\ b TO c\\\"d])", "(+k:[a\\ b TO c\\\"d])"},
    {"k:[\"\" TO b]", "(k:[\"\" TO b])", "(+k:[\"\" TO b])"},
    {"k:[\"*\" TO \\*]", "(k:[\\* TO \\*])", "(+k:[\\* TO \\*])"},
    {"k:[ a \t TO\n b ]", "(k:[a TO b])", "(+k:[a TO b])"},
    {"k:[TO TO TO]", "(k:[\\TO TO \\TO])", "(+k:[\\TO TO \\TO])"},
    {"k:[a\\ b TO c\\]]", "(k:[a\\ b TO c\\]])", "(+k:[a\\ b TO c\\]])"},
    {"k:[a:b TO c*]", "(k:[a:b TO c*])", "(+k:[a:b TO c*])"},
    {"k:[\u00e9 TO \u65e5]", "(k:[\u00e9 TO \u65e5])", "(+k:[\u00e9 TO \u65e5])"},
    {"f:([1 TO 2] x)", "(f:(f:[1 TO 2] f:x))", "(+f:(+f:[1 TO 2] +f:x))"},
    {"f:g:[1 TO 2]", "(g:[1 TO 2])", "(+g:[1 TO 2])"},
    {"a:[1 TO 2]b", "(a:[1 TO 2] b)", "(+a:[1 TO 2] +b)"},
    /* one-sided */
    {"n:>5", "(n:{5 TO *})", "(+n:{5 TO *})"},
    {"n:>=5", "(n:[5 TO *})", "(+n:[5 TO *})"},
    {"n:<5", "(n:{* TO 5})", "(+n:{* TO 5})"},
    {"n:<=5", "(n:{* TO 5])", "(+n:{* TO 5])"},
    {"n:>-5", "(n:{-5 TO *})", "(+n:{-5 TO *})"},
    {"n:>=\\*", "(n:[\\* TO *})", "(+n:[\\* TO *})"},
    {"d:>=2024-01-01T10:00:00Z", "(d:[2024-01-01T10:00:00Z TO *})",
     "(+d:[2024-01-01T10:00:00Z TO *})"},
    {"d:>=\"2024-01-01 10:00\"", "(d:[2024-01-01\\ 10:00 TO *})", "(+d:[2024-01-01\\ 10:00 TO *})"},
    {"k:<a]b", "(k:{* TO a\\]b})", "(+k:{* TO a\\]b})"},
    {"f:(>=5 <10)", "(f:(f:[5 TO *} f:{* TO 10}))", "(+f:(+f:[5 TO *} +f:{* TO 10}))"},
    {"n:>5)", NULL, NULL},
    {"+year:[2020 TO *] -n:<3 #k:>a", "(+year:[2020 TO *} -n:{* TO 3} #k:{a TO *})",
     "(+year:[2020 TO *} -n:{* TO 3} #k:{a TO *})"},
    {"n:>=1 AND n:<=9", "(+n:[1 TO *} +n:{* TO 9])", "(+n:[1 TO *} +n:{* TO 9])"},
    {"NOT n:[1 TO 2]", "(-n:[1 TO 2])", "(-n:[1 TO 2])"},
    /* TO is a word outside brackets; brackets inside a word are letters */
    {"a TO b", "(a TO b)", "(+a +TO +b)"},
    {"a[1] x{y} a>b a<b k:]x k:}y", "(a[1] x{y} a>b a<b k:]x k:}y)",
     "(+a[1] +x{y} +a>b +a<b +k:]x +k:}y)"},
    {"\\[a \\{b \\>c \\<d \\#e", "(\\[a \\{b \\>c \\<d \\#e)", "(+\\[a +\\{b +\\>c +\\<d +\\#e)"},
    {"f:\\[a f:\\>b", "(f:\\[a f:\\>b)", "(+f:\\[a +f:\\>b)"},
    /* _exists_ and _id */
    {"_exists_:tags", "(_exists_:tags)", "(+_exists_:tags)"},
    {"-_exists_:a.b_c", "(-_exists_:a.b_c)", "(-_exists_:a.b_c)"},
    {"f:_exists_:g", "(_exists_:g)", "(+_exists_:g)"},
    {"f:(_exists_:g x)", "(f:(_exists_:g f:x))", "(+f:(+_exists_:g +f:x))"},
    {"(_exists_:g)", "((_exists_:g))", "(+(+_exists_:g))"},
    {"_id:abc", "(_id:abc)", "(+_id:abc)"},
    {"_id:\"a b\"", "(_id:a\\ b)", "(+_id:a\\ b)"},
    {"_id:AND", "(_id:\\AND)", "(+_id:\\AND)"},
    {"_id:a\\*", "(_id:a\\*)", "(+_id:a\\*)"},
    {"_id:x:y", "(_id:x\\:y)", "(+_id:x\\:y)"},
    {"_id:12-0 OR _id:13-0", "(_id:12-0 _id:13-0)", "(_id:12-0 _id:13-0)"},
    {"f:_id:x", "(_id:x)", "(+_id:x)"},
    {"f:[a TO b]]", "(f:[a TO b] ])", "(+f:[a TO b] +])"},
    {"_exists_ _id", "(_exists_ _id)", "(+_exists_ +_id)"},
    {"tags:\"role::program\"", "(tags:\"role::program\")", "(+tags:\"role::program\")"},
    /* the empty value, a keyword's (on a text field it matches nothing) */
    {"author:\"\"", "(author:\"\")", "(+author:\"\")"},
    {"tags:(a \"\")", "(tags:(tags:a tags:\"\"))", "(+tags:(+tags:a +tags:\"\"))"},
    /* '#': FILTER, required and never scoring */
    {"#a", "(#a)", "(#a)"},
    {"#(a b) c", "(#(a b) c)", "(#(+a +b) +c)"},
    {"a AND #b", "(+a #b)", "(+a #b)"},
    {"#a OR b", "(#a b)", "(#a b)"},
    {"C# a#b", "(C# a#b)", "(+C# +a#b)"},
    {"##a", "(#\\#a)", "(#\\#a)"},
    /* ^=1: a constant score */
    {"(a)^=1", "((a)^=1)", "(+(+a)^=1)"},
    {"(a b)^=1", "((#(a b))^=1)", "(+(#(+a +b))^=1)"},
    {"t:(x)^=1", "(t:(t:x)^=1)", "(+t:(+t:x)^=1)"},
    {"+(#tags:x)^=1 y", "(+(#tags:x)^=1 y)", "(+(#tags:x)^=1 +y)"},
    {"((a)^=1)^=1", "(((a)^=1)^=1)", "(+(+(+a)^=1)^=1)"},
    {"(a)^=1)", NULL, NULL},
    {"(a) ^=1 (b)^2 x^=1", "((a) ^=1 (b) ^2 x^=1)", "(+(+a) +^=1 +(+b) +^2 +x^=1)"},
};

static void test_valid(void **state)
{
	(void)state;
	char out[512];
	for (size_t i = 0; i < sizeof ok_cases / sizeof ok_cases[0]; i++) {
		const ok_case *c = &ok_cases[i];
		if (!c->or_dump)
			continue; /* an error case's neighbour, kept in err_cases */
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
    {"é (\"\")", 0, TRAWL_EQUERY, "column 4: empty phrase"},
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
    /* ranges need a field */
    {"[a TO b]", 0, TRAWL_EQUERY, "column 1: a range needs a field (field:[a TO b], field:>a)"},
    {"x >5", 0, TRAWL_EQUERY, "column 3: a range needs a field (field:[a TO b], field:>a)"},
    {"é (a {b TO c})", 0, TRAWL_EQUERY,
     "column 6: a range needs a field (field:[a TO b], field:>a)"},
    {"a -<b", 0, TRAWL_EQUERY, "column 4: a range needs a field (field:[a TO b], field:>a)"},
    {"#[* TO *]", 0, TRAWL_EQUERY, "column 2: a range needs a field (field:[a TO b], field:>a)"},
    /* brackets */
    {"f:[a TO b", 0, TRAWL_EQUERY, "column 3: unclosed range"},
    {"f:[a", 0, TRAWL_EQUERY, "column 3: unclosed range"},
    {"f:[a ", 0, TRAWL_EQUERY, "column 3: unclosed range"},
    {"f:[a TO ", 0, TRAWL_EQUERY, "column 3: unclosed range"},
    {"f:[", 0, TRAWL_EQUERY, "column 3: unclosed range"},
    {"é f:{a TO", 0, TRAWL_EQUERY, "column 5: unclosed range"},
    {"f:[a b]", 0, TRAWL_EQUERY, "column 6: expected TO after the range's first bound"},
    {"f:[aTO b]", 0, TRAWL_EQUERY, "column 8: expected TO after the range's first bound"},
    {"f:[a TOb]", 0, TRAWL_EQUERY, "column 6: expected TO after the range's first bound"},
    {"f:[a to b]", 0, TRAWL_EQUERY, "column 6: expected TO after the range's first bound"},
    {"f:[a\"b\" TO c]", 0, TRAWL_EQUERY, "column 5: expected TO after the range's first bound"},
    {"f:[\"a\"TO c]", 0, TRAWL_EQUERY, "column 7: expected TO after the range's first bound"},
    {"f:[a TO]", 0, TRAWL_EQUERY, "column 8: expected a bound in the range"},
    {"f:[]", 0, TRAWL_EQUERY, "column 4: expected a bound in the range"},
    {"f:[a TO (b)]", 0, TRAWL_EQUERY, "column 9: expected a bound in the range"},
    {"f:[a TO b c]", 0, TRAWL_EQUERY, "column 11: expected ']' or '}' to close the range"},
    {"f:[a TO b)", 0, TRAWL_EQUERY, "column 10: expected ']' or '}' to close the range"},
    {"f:[a TO b[", 0, TRAWL_EQUERY, "column 10: expected ']' or '}' to close the range"},
    {"f:[\"a TO b]", 0, TRAWL_EQUERY, "column 4: unterminated quote"},
    {"f:[a TO \"b]", 0, TRAWL_EQUERY, "column 9: unterminated quote"},
    {"f:[a\\", 0, TRAWL_EQUERY, "column 5: trailing backslash"},
    {"_id:*", 0, TRAWL_EQUERY, "column 5: an id is not a prefix; escape its final '*' (\\*)"},
    /* one-sided */
    {"f:>", 0, TRAWL_EQUERY, "column 3: expected a value after '>'"},
    {"f:>= x", 0, TRAWL_EQUERY, "column 3: expected a value after '>='"},
    {"f:<*", 0, TRAWL_EQUERY, "column 3: expected a value after '<'"},
    {"f:<=)", 0, TRAWL_EQUERY, "column 3: expected a value after '<='"},
    {"(f:>)", 0, TRAWL_EQUERY, "column 4: expected a value after '>'"},
    {"f:>\"abc", 0, TRAWL_EQUERY, "column 4: unterminated quote"},
    {"f:>a\\", 0, TRAWL_EQUERY, "column 5: trailing backslash"},
    {"n:>5)", 0, TRAWL_EQUERY, "column 5: unexpected ')'"},
    /* _exists_ */
    {"_exists_:", 0, TRAWL_EQUERY, "column 1: expected a field name after '_exists_:'"},
    {"_exists_: f", 0, TRAWL_EQUERY, "column 1: expected a field name after '_exists_:'"},
    {"_exists_:-f", 0, TRAWL_EQUERY, "column 1: expected a field name after '_exists_:'"},
    {"_exists_:f*", 0, TRAWL_EQUERY, "column 1: expected a field name after '_exists_:'"},
    {"_exists_:f:g", 0, TRAWL_EQUERY, "column 1: expected a field name after '_exists_:'"},
    {"x _exists_:(f)", 0, TRAWL_EQUERY, "column 3: expected a field name after '_exists_:'"},
    {"_exists_:\"f\"", 0, TRAWL_EQUERY, "column 1: expected a field name after '_exists_:'"},
    /* _id */
    {"_id:", 0, TRAWL_EQUERY, "column 1: expected an id after '_id:'"},
    {"é _id: x", 0, TRAWL_EQUERY, "column 3: expected an id after '_id:'"},
    {"_id:(a)", 0, TRAWL_EQUERY, "column 1: expected an id after '_id:'"},
    {"_id:\"\"", 0, TRAWL_EQUERY, "column 5: empty id"},
    {"_id:ab*", 0, TRAWL_EQUERY, "column 5: an id is not a prefix; escape its final '*' (\\*)"},
    {"_id:[a TO b]", 0, TRAWL_EQUERY, "column 1: _id: takes one id, not a range"},
    {"_id:>a", 0, TRAWL_EQUERY, "column 1: _id: takes one id, not a range"},
    {"f:(_id:x)", 0, TRAWL_EQUERY, "column 4: _id: cannot be inside a field's group"},
    {"_id:\"abc", 0, TRAWL_EQUERY, "column 5: unterminated quote"},
    /* '#' */
    {"#", 0, TRAWL_EQUERY, "column 1: expected a term after '#'"},
    {"a # b", 0, TRAWL_EQUERY, "column 3: expected a term after '#'"},
    {"(a #)", 0, TRAWL_EQUERY, "column 4: expected a term after '#'"},
    {"NOT #a", 0, TRAWL_EQUERY, "column 1: expected a term after 'NOT'"},
    /* ^=1 */
    {"(a)^=2", 0, TRAWL_EQUERY, "column 4: only ^=1 is supported (a constant score of 1)"},
    {"(a)^=", 0, TRAWL_EQUERY, "column 4: only ^=1 is supported (a constant score of 1)"},
    {"(a)^=1x", 0, TRAWL_EQUERY, "column 4: only ^=1 is supported (a constant score of 1)"},
    {"(a)^=10", 0, TRAWL_EQUERY, "column 4: only ^=1 is supported (a constant score of 1)"},
    {"é (é)^=1.0", 0, TRAWL_EQUERY, "column 6: only ^=1 is supported (a constant score of 1)"},
    {"(a)^=1)", 0, TRAWL_EQUERY, "column 7: unexpected ')'"},
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
	    "f:[a TO \"b c\"} #g:>=d _exists_:h _id:\"x y\" (a b)^=1 (c)^=1 n:[* TO *]",
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
	/* the filter parser, whose alternatives get a group of their own */
	int succeeded = 0;
	for (unsigned long n = 1; n < 1000 && !succeeded; n++) {
		qt_node *r = (qt_node *)&r;
		char err[64];
		idx_query_fail_after = n;
		int rc = idx_query_parse_filter("a OR b OR c -d", 14, &r, err, sizeof err);
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
	/* the typed filters, as many as fit: each piece and its words */
	static const struct {
		const char *piece;
		int words;
	} typed[] = {{"f:[1 TO 2] ", 1}, {"f:>1 ", 1}, {"_id:x ", 1},    {"_exists_:f ", 1},
	             {"(a)^=1 ", 2},     {"#a ", 1},   {"(a b)^=1 ", 4}, {"f:[\\* TO \"\"] ", 1}};
	for (int shape = 0; shape < 6 + (int)(sizeof typed / sizeof typed[0]); shape++) {
		int used = 0;
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
			case 5: /* a long field over a group of words */
				if (i == 0)
					k += (size_t)sprintf(q + k, "%0*d:(", 4000, 0);
				if (i == TRAWL_MAX_QUERY_TERMS - 1)
					goto full;
				k += (size_t)sprintf(q + k, "b ");
				break;
			default:
				if (used + typed[shape - 6].words > TRAWL_MAX_QUERY_TERMS)
					goto full;
				used += typed[shape - 6].words;
				k += (size_t)sprintf(q + k, "%s", typed[shape - 6].piece);
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

/* ---- the typed filters ---- */

/* The nodes the typed syntax makes, with what the dump does not show. */
static void test_typed_tree(void **state)
{
	(void)state;
	const char *q = "y:[\"a b\" TO *} é n:<=5 _exists_:t -_id:\"x\" #(a b)^=1";
	qt_node *r = NULL;
	char err[128];
	assert_int_equal(idx_query_parse(q, strlen(q), 0, &r, err, sizeof err), TRAWL_OK);
	assert_int_equal(r->nkids, 6);
	qt_node *k = r->kids[0];
	assert_int_equal(k->kind, QT_RANGE);
	assert_int_equal(k->occur, QT_SHOULD);
	assert_string_equal(k->field, "y");
	assert_int_equal(k->flags, QT_LO | QT_LO_INC);
	assert_string_equal(k->text, "a b");
	assert_int_equal(k->len, 3);
	assert_null(k->hi);
	assert_int_equal(k->hilen, 0);
	assert_int_equal(k->column, 1);
	k = r->kids[2];
	assert_int_equal(k->kind, QT_RANGE);
	assert_int_equal(k->flags, QT_HI | QT_HI_INC);
	assert_null(k->text);
	assert_string_equal(k->hi, "5");
	assert_int_equal(k->hilen, 1);
	assert_int_equal(k->column, 18);
	k = r->kids[3];
	assert_int_equal(k->kind, QT_EXISTS);
	assert_string_equal(k->field, "t");
	assert_null(k->text);
	assert_int_equal(k->column, 24);
	k = r->kids[4];
	assert_int_equal(k->kind, QT_IDS);
	assert_int_equal(k->occur, QT_NOT);
	assert_null(k->field);
	assert_string_equal(k->text, "x");
	assert_int_equal(k->column, 35);
	k = r->kids[5];
	assert_int_equal(k->kind, QT_CONST);
	assert_int_equal(k->occur, QT_FILTER);
	assert_int_equal(k->column, 44);
	assert_int_equal(k->nkids, 1);
	assert_int_equal(k->kids[0]->kind, QT_BOOL);
	assert_int_equal(k->kids[0]->occur, QT_FILTER);
	assert_int_equal(k->kids[0]->nkids, 2);
	qt_size sz;
	qt_measure(r, &sz);
	assert_int_equal(sz.words, 8); /* 5 typed nodes, é, a, b */
	qt_free(r);
}

static void test_typed_limits(void **state)
{
	(void)state;
	char out[512];
	/* an id: 512 bytes at most */
	char q[1024] = "_id:";
	memset(q + 4, 'i', 512);
	q[516] = 'i';
	q[517] = 0;
	assert_int_equal(parse_dump(q, strlen(q), 0, out, sizeof out), TRAWL_ELIMIT);
	assert_string_equal(out, "column 5: the id is 513 bytes; the limit is 512");
	q[516] = 0;
	char big[600];
	assert_int_equal(parse_dump(q, strlen(q), 0, big, sizeof big), TRAWL_OK);
	/* each range, _exists_, _id and ^=1 is one term */
	static char long_dump[4 * TRAWL_MAX_QUERY_BYTES];
	char *w = words(TRAWL_MAX_QUERY_TERMS - 4, "", " f:[1 TO 2] f:>3 _exists_:f _id:x");
	assert_int_equal(parse_dump(w, strlen(w), 0, long_dump, sizeof long_dump), TRAWL_OK);
	free(w);
	w = words(TRAWL_MAX_QUERY_TERMS - 3, "", " (a)^=1 _id:x");
	assert_int_equal(parse_dump(w, strlen(w), 0, long_dump, sizeof long_dump), TRAWL_OK);
	free(w);
	w = words(TRAWL_MAX_QUERY_TERMS - 2, "", " (a)^=1 _id:x");
	assert_int_equal(parse_dump(w, strlen(w), 0, out, sizeof out), TRAWL_ELIMIT);
	assert_string_equal(out, "column 2052: too many terms; the limit is 1024");
	free(w);
	w = words(TRAWL_MAX_QUERY_TERMS - 2, "", " (a b)^=1");
	assert_int_equal(parse_dump(w, strlen(w), 0, out, sizeof out), TRAWL_ELIMIT);
	assert_string_equal(out, "column 2050: too many terms; the limit is 1024");
	free(w);
	w = words(TRAWL_MAX_QUERY_TERMS - 1, "", " f:[1 TO 2] x");
	assert_int_equal(parse_dump(w, strlen(w), 0, out, sizeof out), TRAWL_ELIMIT);
	assert_string_equal(out, "column 2058: too many terms; the limit is 1024");
	free(w);
	/* (a b)^=1 puts its group one level deeper */
	char d[256] = "";
	for (int i = 0; i < TRAWL_MAX_QUERY_DEPTH - 1; i++)
		strcat(d, "(");
	strcat(d, "(a b)^=1");
	for (int i = 0; i < TRAWL_MAX_QUERY_DEPTH - 1; i++)
		strcat(d, ")");
	assert_int_equal(parse_dump(d, strlen(d), 0, out, sizeof out), TRAWL_ELIMIT);
	assert_string_equal(out, "column 37: parentheses nested too deep; the limit is 32");
	memmove(d, d + 1, strlen(d)); /* one level less: fine */
	d[strlen(d) - 1] = 0;
	char *dump = malloc(1024);
	assert_int_equal(parse_dump(d, strlen(d), 0, dump, 1024), TRAWL_OK);
	free(dump);
	/* and so does a group of groups */
	strcpy(d, "");
	for (int i = 0; i < TRAWL_MAX_QUERY_DEPTH - 3; i++)
		strcat(d, "(");
	strcat(d, "((a) (b))^=1");
	for (int i = 0; i < TRAWL_MAX_QUERY_DEPTH - 3; i++)
		strcat(d, ")");
	dump = malloc(1024);
	assert_int_equal(parse_dump(d, strlen(d), 0, dump, 1024), TRAWL_OK);
	free(dump);
	memmove(d + 1, d, strlen(d) + 1);
	d[0] = '(';
	strcat(d, ")");
	assert_int_equal(parse_dump(d, strlen(d), 0, out, sizeof out), TRAWL_ELIMIT);
	assert_string_equal(out, "column 40: parentheses nested too deep; the limit is 32");
}

/* ---- filters ---- */

typedef struct filter_case {
	const char *q, *want; /* want: the dump, or the error */
	int rc;
} filter_case;

static const filter_case filter_cases[] = {
    {"a", "(#a)", 0},
    {"a b", "(#a #b)", 0},
    {"a -b", "(#a -b)", 0},
    {"+a #b NOT c", "(#a #b -c)", 0},
    {"year:[2020 TO *] tags:x", "(#year:[2020 TO *} #tags:x)", 0},
    {"a OR b", "(#(a b))", 0},
    {"a OR b -c", "(#(a b) -c)", 0},
    {"-c a OR b OR \"d e\"", "(-c #(a b \"d e\"))", 0},
    {"(a OR b) c", "(#(a b) #c)", 0},
    {"-a", "(-a)", 0},
    {"*:*", "(#*:*)", 0},
    {"_id:x OR _id:y", "(#(_id:x _id:y))", 0},
    {"(a)^=1", "(#(+a)^=1)", 0},
    {"a OR b c",
     "column 1: an optional clause beside required ones does not narrow a filter; "
     "group the alternatives: (a OR b)",
     TRAWL_EQUERY},
    {"c é OR \"b\"",
     "column 3: an optional clause beside required ones does not narrow a "
     "filter; group the alternatives: (a OR b)",
     TRAWL_EQUERY},
    {"#x a OR b",
     "column 4: an optional clause beside required ones does not narrow a "
     "filter; group the alternatives: (a OR b)",
     TRAWL_EQUERY},
    {"", "empty query", TRAWL_EQUERY},
    {"(", "column 1: unclosed '('", TRAWL_EQUERY},
    {"[1 TO 2]", "column 1: a range needs a field (field:[a TO b], field:>a)", TRAWL_EQUERY},
    {"\xff", "column 1: invalid UTF-8", TRAWL_EUTF8},
};

static void test_filter(void **state)
{
	(void)state;
	char out[512];
	for (size_t i = 0; i < sizeof filter_cases / sizeof filter_cases[0]; i++) {
		const filter_case *c = &filter_cases[i];
		qt_node *r = (qt_node *)&r;
		int rc = idx_query_parse_filter(c->q, strlen(c->q), &r, out, sizeof out);
		if (rc == TRAWL_OK) {
			assert_tree_ok(r);
			qt_dump(r, out, sizeof out);
			for (uint32_t k = 0; k < r->nkids; k++)
				assert_true(r->kids[k]->occur == QT_FILTER ||
				            r->kids[k]->occur == QT_NOT);
			qt_free(r);
		} else {
			assert_null(r);
		}
		if (rc != c->rc || strcmp(out, c->want))
			fail_msg("filter [%s]: rc %d [%s], want %d [%s]", c->q, rc, out, c->rc,
			         c->want);
	}
	/* the alternatives go one level deeper: at the limit, refused */
	char q[256] = "";
	for (int i = 0; i < TRAWL_MAX_QUERY_DEPTH; i++)
		strcat(q, "(");
	strcat(q, "a");
	for (int i = 0; i < TRAWL_MAX_QUERY_DEPTH; i++)
		strcat(q, ")");
	strcat(q, " OR b");
	qt_node *r = (qt_node *)&r;
	assert_int_equal(idx_query_parse_filter(q, strlen(q), &r, out, sizeof out), TRAWL_ELIMIT);
	assert_string_equal(out, "column 1: parentheses nested too deep; the limit is 32");
	assert_null(r);
	memmove(q, q + 1, strlen(q)); /* one level less */
	memmove(strstr(q, ")"), strstr(q, ")") + 1, strlen(strstr(q, ")")));
	assert_int_equal(idx_query_parse_filter(q, strlen(q), &r, out, sizeof out), TRAWL_OK);
	assert_tree_ok(r);
	qt_free(r);
}

/* A query and its filters, as the native API and the CLI combine them. */
static void test_query_with_filter(void **state)
{
	(void)state;
	static const struct {
		const char *q, *filter, *want;
	} cases[] = {
	    {"solar eclipse", "year:[2020 TO *]", "(+(solar eclipse) #year:[2020 TO *})"},
	    {"solar", "year:[2020 TO *]", "(+solar #year:[2020 TO *})"},
	    {"+solar eclipse", "-tags:x", "(+solar eclipse -tags:x)"},
	    {"solar -lunar", "tags:a OR tags:b", "(+solar -lunar #(tags:a tags:b))"},
	    {NULL, "tags:a -tags:b", "(+*:* #tags:a -tags:b)"},
	    {NULL, "-tags:b", "(+*:* -tags:b)"},
	};
	char out[512];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		qt_node *q = NULL, *f = NULL, *t = NULL;
		if (cases[i].q)
			assert_int_equal(
			    idx_query_parse(cases[i].q, strlen(cases[i].q), 0, &q, out, sizeof out),
			    TRAWL_OK);
		assert_int_equal(idx_query_parse_filter(cases[i].filter, strlen(cases[i].filter),
		                                        &f, out, sizeof out),
		                 TRAWL_OK);
		assert_int_equal(qt_with_filter(q, f, &t, out, sizeof out), TRAWL_OK);
		assert_tree_ok(t);
		qt_dump(t, out, sizeof out);
		if (strcmp(out, cases[i].want))
			fail_msg("q [%s] filter [%s]: got %s, want %s",
			         cases[i].q ? cases[i].q : "", cases[i].filter, out, cases[i].want);
		qt_free(t);
	}
}

/* soup parses iters random queries over alphabet (na pieces; the first
 * two are words, favoured): each parses or fails cleanly, and the dump of
 * each tree reads back as the same tree. Both outcomes must be common. */
static void soup(const char *const *alphabet, size_t na, int iters)
{
	char q[512], err[256], d1[4096], d2[4096];
	int ok = 0, bad = 0;
	for (int iter = 0; iter < iters; iter++) {
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
	assert_true(ok > iters / 50);
	assert_true(bad > iters / 50);
}

/* dump_query: the dump of a public trawl_query, through its encoding. */
static const char *dump_query(const trawl_query *q, char *out, size_t cap)
{
	void *b;
	size_t n;
	char err[256];
	assert_int_equal(trawl_query_encode(q, &b, &n), TRAWL_OK);
	qt_node *t = NULL;
	assert_int_equal(qt_decode(b, n, &t, err, sizeof err), TRAWL_OK);
	assert_true(qt_dump(t, out, cap) < cap);
	qt_free(t);
	free(b);
	return out;
}

/* The public API's filters (trawl_query_parse_filter, trawl_query_filter),
 * as trawl search --filter uses them. */
static void test_query_handle_filter(void **state)
{
	(void)state;
	char err[256], d[512];
	trawl_query *f1 = NULL, *f2 = NULL, *q = NULL, *bad = NULL;
	assert_int_equal(trawl_query_parse_filter(&f1, "year:>=2020 -tags:x", 19, err, sizeof err),
	                 TRAWL_OK);
	assert_int_equal(trawl_query_parse_filter(&f2, "a OR b", 6, err, sizeof err), TRAWL_OK);
	trawl_query *x = (trawl_query *)&x;
	assert_int_equal(trawl_query_parse_filter(&x, "a OR b c", 8, err, sizeof err),
	                 TRAWL_EQUERY);
	assert_null(x);
	assert_string_equal(err, "column 1: an optional clause beside required ones does not "
	                         "narrow a filter; group the alternatives: (a OR b)");
	/* a filter alone, then another */
	assert_int_equal(trawl_query_filter(&q, f1, err, sizeof err), TRAWL_OK);
	assert_string_equal(dump_query(q, d, sizeof d), "(+*:* #year:[2020 TO *} -tags:x)");
	assert_int_equal(trawl_query_filter(&q, f2, err, sizeof err), TRAWL_OK);
	assert_string_equal(dump_query(q, d, sizeof d), "(+*:* #year:[2020 TO *} -tags:x #(a b))");
	trawl_query_free(q);
	/* a query narrowed: its optional clauses stay required as a group */
	q = NULL;
	assert_int_equal(trawl_query_parse(&q, "solar eclipse", 13, TRAWL_OP_OR, err, sizeof err),
	                 TRAWL_OK);
	assert_int_equal(trawl_query_filter(&q, f1, err, sizeof err), TRAWL_OK);
	assert_string_equal(dump_query(q, d, sizeof d),
	                    "(+(solar eclipse) #year:[2020 TO *} -tags:x)");
	trawl_query_free(q);
	/* a query is not a filter: *q unchanged */
	assert_int_equal(trawl_query_parse(&bad, "a", 1, TRAWL_OP_OR, err, sizeof err), TRAWL_OK);
	q = NULL;
	assert_int_equal(trawl_query_filter(&q, bad, err, sizeof err), TRAWL_EINVAL);
	assert_null(q);
	assert_string_equal(err, "the filter's clause 1 is neither FILTER nor NOT");
	/* over a limit together: *q unchanged */
	char *w = words(TRAWL_MAX_QUERY_TERMS - 1, "", "");
	assert_int_equal(trawl_query_parse(&q, w, strlen(w), TRAWL_OP_AND, err, sizeof err),
	                 TRAWL_OK);
	free(w);
	trawl_query *before = q;
	assert_int_equal(trawl_query_filter(&q, f1, err, sizeof err), TRAWL_ELIMIT);
	assert_string_equal(err, "the query has 1025 terms; the limit is 1024");
	assert_ptr_equal(q, before);
	trawl_query *f3 = NULL;
	assert_int_equal(trawl_query_parse_filter(&f3, "c", 1, err, sizeof err), TRAWL_OK);
	assert_int_equal(trawl_query_filter(&q, f3, err, sizeof err), TRAWL_OK); /* 1024 */
	assert_true(q == before);
	trawl_query_free(f3);
	trawl_query_free(q);
	trawl_query_free(bad);
	trawl_query_free(f1);
	trawl_query_free(f2);
}

static void test_random(void **state)
{
	(void)state;
	static const char *const alphabet[] = {
	    "a", "b",  "+", "-",   "(",  ")",   "\"", ":",
	    "*", "\\", " ", "AND", "OR", "NOT", "é",  "title:",
	};
	soup(alphabet, sizeof alphabet / sizeof alphabet[0], 50000);
}

/* The same over the typed syntax: ranges, one-sided, _exists_, _id, '#',
 * ^=1, and the characters that open them inside words. */
static void test_random_typed(void **state)
{
	(void)state;
	static const char *const alphabet[] = {
	    "a", "2024", "f:", "[",  "]",  "{", "}",          " TO ", "*",   "\"",
	    " ", ">",    ">=", "<=", "<",  "#", "_exists_:",  "_id:", "^=1", ")^=1",
	    "(", ")",    "\\", "-",  "TO", "é", "f:[a TO b]", "OR",   ":",   "g:(",
	};
	soup(alphabet, sizeof alphabet / sizeof alphabet[0], 100000);
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
	    cmocka_unit_test(test_typed_tree),      cmocka_unit_test(test_typed_limits),
	    cmocka_unit_test(test_filter),          cmocka_unit_test(test_query_with_filter),
	    cmocka_unit_test(test_random_typed),    cmocka_unit_test(test_query_handle_filter),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
