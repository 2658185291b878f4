/*
 * jsonscan_test.c - the scanner's strict mode (jsonscan.c,
 * IDX_JSCAN_STRICT) refuses exactly what the write path's jansson parse
 * refused: the write path acknowledges a document on the scanner's word
 * alone (index/ingest.c's accept), so a document the scanner takes and
 * jansson would refuse (a duplicate key, a NUL in a key, an integer beyond
 * 64 bits) would be logged, and one jansson takes and the scanner refuses
 * would be a new refusal. Tricky documents with their messages, then a
 * brute-force comparison over generated documents (duplicates at every
 * depth, escapes, bad UTF-8, numbers at jansson's limits, nesting around
 * the scanner's own limit, trailing text, byte mutations) against
 * json_loadb(JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL): an object nested at
 * most LIMIT_JSON_DEPTH deep.
 */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/limits.h"
#include "index/jsonscan.h"
#include "trawl/trawl.h"

/* scan: the strict (or not) scan of text; its code, column and reason */
static int scan(const char *text, size_t len, int flags, uint32_t *col, char *why, size_t whylen)
{
	tbuf keys;
	tbuf_init(&keys, len + 64);
	*col = 0;
	why[0] = 0;
	int rc = idx_json_scan(text, len, flags, NULL, NULL, &keys, col, why, whylen);
	tbuf_fini(&keys);
	return rc;
}

/* the deepest nesting of containers in j (a scalar: 0) */
static int depth_of(json_t *j)
{
	int d = 0;
	if (json_is_object(j)) {
		const char *k;
		json_t *v;
		json_object_foreach(j, k, v)
		{
			int x = depth_of(v);
			d = x > d ? x : d;
		}
		return d + 1;
	}
	if (json_is_array(j)) {
		size_t i;
		json_t *v;
		json_array_foreach(j, i, v)
		{
			int x = depth_of(v);
			d = x > d ? x : d;
		}
		return d + 1;
	}
	return 0;
}

/* the oracle: what the write path accepted with jansson, less nesting
 * deeper than the scanner's limit (a refusal the check made before too) */
static int jansson_accepts(const char *text, size_t len)
{
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
	int ok = j && json_is_object(j) && depth_of(j) <= LIMIT_JSON_DEPTH;
	json_decref(j);
	return ok;
}

static void show(char *out, size_t cap, const char *s, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 5 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		o +=
		    (size_t)snprintf(out + o, cap - o, c >= 0x20 && c < 0x7f ? "%c" : "\\x%02x", c);
	}
	out[o] = 0;
}

/* compare: the strict scan and the oracle agree on text; a refusal has a
 * documented code, a column inside the text and a reason. */
static void compare(const char *text, size_t len)
{
	uint32_t col;
	char why[128], shown[512];
	int rc = scan(text, len, IDX_JSCAN_STRICT, &col, why, sizeof why);
	int oracle = jansson_accepts(text, len);
	show(shown, sizeof shown, text, len);
	if ((rc == 0) != oracle)
		fail_msg("strict scan %s (%d: col %u %s), jansson %s: \"%s\"",
		         rc ? "refuses" : "accepts", rc, col, why, oracle ? "accepts" : "refuses",
		         shown);
	if (rc && ((rc != TRAWL_EJSON && rc != TRAWL_EUTF8) || col < 1 || col > len + 1 || !why[0]))
		fail_msg("refusal %d col %u \"%s\" of \"%s\"", rc, col, why, shown);
	/* the strict mode only adds refusals */
	uint32_t col2;
	char why2[128];
	if (rc == 0 && scan(text, len, 0, &col2, why2, sizeof why2) != 0)
		fail_msg("the lax scan refuses what the strict one took: \"%s\"", shown);
}

static void test_tricky_documents(void **state)
{
	(void)state;
	struct {
		const char *text;
		size_t len; /* 0: strlen */
		int ok;
		uint32_t col; /* of a refusal */
		const char *why;
	} cases[] = {
	    {"{}", 0, 1, 0, NULL},
	    {" {\"a\":1} \n\t", 0, 1, 0, NULL},
	    {"{\"a\":1,\"a\":2}", 0, 0, 8, "duplicate key \"a\""},
	    {"{\"a\":1,\"\\u0061\":2}", 0, 0, 8, "duplicate key \"a\""},
	    {"{\"a\":{\"b\":1,\"c\":{},\"b\":2}}", 0, 0, 20, "duplicate key \"b\""},
	    {"{\"a\":[{\"b\":1},{\"b\":2},{\"c\":1,\"c\":1}]}", 0, 0, 30, "duplicate key \"c\""},
	    {"{\"a\":{\"a\":1},\"b\":{\"a\":1}}", 0, 1, 0, NULL}, /* same key, other objects */
	    {"{\"\\u00e9\":1,\"\xc3\xa9\":2}", 0, 0, 13, "duplicate key \"\xc3\xa9\""},
	    {"{\"a\":\"\\u0000\"}", 0, 1, 0, NULL},
	    {"{\"a\\u0000\":1}", 0, 0, 2, "NUL character in a key"},
	    {"{\"a\":{\"\\u0000\":1}}", 0, 0, 7, "NUL character in a key"},
	    {"{\"a\":9223372036854775807,\"b\":-9223372036854775808}", 0, 1, 0, NULL},
	    {"{\"a\":9223372036854775808}", 0, 0, 6, "integer above"},
	    {"{\"a\":[-9223372036854775809]}", 0, 0, 7, "integer below"},
	    {"{\"a\":123456789012345678901234567890}", 0, 0, 6, "integer above"},
	    {"{\"a\":1e308,\"b\":1e-400,\"c\":1.7976931348623157e308}", 0, 1, 0, NULL},
	    {"{\"a\":1e309}", 0, 0, 6, "too large for a double"},
	    {"{\"a\":-1.7976931348623159e308}", 0, 0, 6, "too large for a double"},
	    {"{\"a\":1234567890123456789012345678901234567890123456789012345678901234567890.5}", 0,
	     1, 0, NULL},
	    {"{\"a\":1}x", 0, 0, 8, "text after the end"},
	    {"{\"a\":1}{}", 0, 0, 8, "text after the end"},
	    {"[1,2]", 0, 0, 1, "must be a JSON object"},
	    {"\"a\"", 0, 0, 1, "must be a JSON object"},
	    {"", 0, 0, 1, "must be a JSON object"},
	    {"{\"a\":\"\xff\"}", 0, 0, 7, "invalid UTF-8"},
	    {"{\"a\":\"\xc3\"}", 0, 0, 7, "invalid UTF-8"},
	    {"{\"a\":\"\\udc00\"}", 0, 0, 7, "lone low surrogate"},
	    {"{\"a\":\"\\ud83d\\ude00\"}", 0, 1, 0, NULL},
	    {"{\"a\":\"\x01\"}", 0, 0, 7, "control character"},
	    {"{\"a\":1,}", 0, 0, 8, "expected a string key"},
	    {"{\"a\":01}", 0, 0, 7, "expected ','"},
	    {"{\"a\":1}\0", 8, 0, 8, "text after the end"},
	    {"{\"a\":\"x\0y\"}", 11, 0, 8, "control character"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].text);
		uint32_t col;
		char why[128];
		int rc = scan(cases[i].text, len, IDX_JSCAN_STRICT, &col, why, sizeof why);
		if ((rc == 0) != cases[i].ok ||
		    (!cases[i].ok && (col != cases[i].col || !strstr(why, cases[i].why))))
			fail_msg("case %zu: %d col %u \"%s\"", i, rc, col, why);
		compare(cases[i].text, len);
	}
	/* a key too long for the message is cut at a character's start */
	char doc[300];
	char key[100];
	for (int i = 0; i < 99; i++)
		key[i] = i % 3 == 0 ? 'k' : i % 3 == 1 ? '\xc3' : '\xa9';
	key[99] = 0;
	snprintf(doc, sizeof doc, "{\"%s\":1,\"%s\":2}", key, key);
	uint32_t col;
	char why[128];
	assert_int_equal(scan(doc, strlen(doc), IDX_JSCAN_STRICT, &col, why, sizeof why),
	                 TRAWL_EJSON);
	assert_non_null(strstr(why, "...\""));
	json_t *s = json_string(why); /* valid UTF-8 */
	assert_non_null(s);
	json_decref(s);
}

/* Nesting around the limit: objects and arrays, a duplicate at the bottom. */
static void test_deep_nesting(void **state)
{
	(void)state;
	for (int depth = LIMIT_JSON_DEPTH - 2; depth <= LIMIT_JSON_DEPTH + 2; depth++)
		for (int dup = 0; dup < 2; dup++) {
			tbuf b;
			tbuf_init(&b, 1 << 20);
			for (int i = 0; i < depth; i++)
				assert_int_equal(tbuf_printf(&b, i == 0 || i % 2 ? "{\"k\":" : "["),
				                 0);
			assert_int_equal(tbuf_printf(&b, "%s", dup ? "{\"x\":1,\"x\":1}" : "1"), 0);
			for (int i = depth - 1; i >= 0; i--)
				assert_int_equal(tbuf_printf(&b, i == 0 || i % 2 ? "}" : "]"), 0);
			compare((const char *)b.data, b.len);
			tbuf_fini(&b);
		}
}

/* Many keys: the set grows onto the heap; a duplicate at the end is found
 * (and quickly: a quadratic search would take minutes). */
static void test_many_keys(void **state)
{
	(void)state;
	tbuf b;
	tbuf_init(&b, 1 << 24);
	const int n = 200000;
	assert_int_equal(tbuf_printf(&b, "{"), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(tbuf_printf(&b, "\"k%d\":{\"k%d\":%d},", i, i, i), 0);
	size_t mark = b.len;
	assert_int_equal(tbuf_printf(&b, "\"k\\u0031\":0}"), 0); /* "k1" again */
	uint32_t col;
	char why[128];
	assert_int_equal(scan((const char *)b.data, b.len, IDX_JSCAN_STRICT, &col, why, sizeof why),
	                 TRAWL_EJSON);
	assert_string_equal(why, "duplicate key \"k1\"");
	assert_int_equal(col, mark + 1);
	b.len = mark;
	assert_int_equal(tbuf_printf(&b, "\"z\":0}"), 0);
	assert_int_equal(scan((const char *)b.data, b.len, IDX_JSCAN_STRICT, &col, why, sizeof why),
	                 0);
	tbuf_fini(&b);
}

/* ---- brute force against jansson ---- */

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(uint32_t n)
{
	g_rng ^= g_rng << 13;
	g_rng ^= g_rng >> 7;
	g_rng ^= g_rng << 17;
	return (uint32_t)(g_rng % n);
}

static const char *const g_keys[] = {
    "a",       "b",        "\\u0061",        "a\\u0000",         "",      "\\u0000", "id",
    "\\u00e9", "\xc3\xa9", "\\ud83d\\ude00", "\xf0\x9f\x98\x80", "a\\\"", "a\"",     "\\/",
    "/",       "\xff",     "\\udc00",
};
static const char *const g_strings[] = {
    "",
    "x",
    "\\u0000",
    "a\\u0000b",
    "\\n\\t",
    "\\ud83d\\ude00",
    "\\udc00",
    "\\ud83d",
    "\xc3\xa9",
    "\xc3",
    "\xed\xa0\x80",
    "\xf4\x90\x80\x80",
    "\xe0\x80\x80",
    "\x01",
    "\\x",
    "\\u12",
    "\x7f",
};
static const char *const g_numbers[] = {
    "0",
    "-0",
    "1.5",
    "-1.5e-3",
    "2E+3",
    "1e308",
    "1e309",
    "-1e309",
    "1e-400",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "99999999999999999999",
    "1.7976931348623157e308",
    "1.7976931348623159e308",
    "01",
    "1.",
    "-",
    ".5",
    "+1",
    "1e",
    "0x10",
    "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649"
    "017977587207096330286416692887910946555547851940402630657488671505820681908902000708383"
    "676273854845817711531764475730270069855571366959622842914819860834936475292719074168444"
    "365510704342711559699508093042880177904174497791.0",
};
static const char *const g_literals[] = {"true", "false", "null", "nul", "tru", "NaN"};

static void gen_value(tbuf *b, int depth);

static void gen_object(tbuf *b, int depth)
{
	tbuf_putc(b, '{');
	int n = (int)rnd(depth > 6 ? 2 : 5);
	for (int i = 0; i < n; i++) {
		if (i)
			tbuf_putc(b, ',');
		tbuf_printf(b, "\"%s\":", g_keys[rnd(sizeof g_keys / sizeof *g_keys)]);
		gen_value(b, depth + 1);
	}
	tbuf_putc(b, '}');
}

static void gen_value(tbuf *b, int depth)
{
	uint32_t k = rnd(depth > 8 ? 7 : 10);
	if (k < 2)
		tbuf_printf(b, "\"%s\"", g_strings[rnd(sizeof g_strings / sizeof *g_strings)]);
	else if (k < 4)
		tbuf_printf(b, "%s", g_numbers[rnd(sizeof g_numbers / sizeof *g_numbers)]);
	else if (k < 5)
		tbuf_printf(b, "%s", g_literals[rnd(sizeof g_literals / sizeof *g_literals)]);
	else if (k < 7 && rnd(4) == 0) { /* a chain around the depth limit */
		int chain = LIMIT_JSON_DEPTH - 3 - depth + (int)rnd(6);
		for (int i = 0; i < chain; i++)
			tbuf_printf(b, i % 2 ? "[" : "{\"a\":");
		gen_value(b, depth + (chain > 0 ? chain : 0) + 20);
		for (int i = chain - 1; i >= 0; i--)
			tbuf_putc(b, i % 2 ? ']' : '}');
	} else if (k < 6 || k >= 7) {
		gen_object(b, depth);
	} else {
		tbuf_putc(b, '[');
		int n = (int)rnd(4);
		for (int i = 0; i < n; i++) {
			if (i)
				tbuf_putc(b, ',');
			gen_value(b, depth + 1);
		}
		tbuf_putc(b, ']');
	}
}

static void test_brute_force_against_jansson(void **state)
{
	(void)state;
	static const char junk[] = "{}[]\",: \n\\u0x\xff\xc3\x00-e";
	int accepted = 0, total = 60000;
	for (int it = 0; it < total; it++) {
		tbuf b;
		tbuf_init(&b, 1 << 20);
		if (rnd(10) == 0)
			gen_value(&b, 1); /* not always an object */
		else
			gen_object(&b, 1);
		uint32_t m = rnd(8);
		if (m == 0 && b.len) { /* a byte changed */
			b.data[rnd((uint32_t)b.len)] = (uint8_t)junk[rnd(sizeof junk - 1)];
		} else if (m == 1 && b.len) { /* cut short */
			b.len = rnd((uint32_t)b.len);
		} else if (m == 2) { /* something after */
			tbuf_putc(&b, (uint8_t)junk[rnd(sizeof junk - 1)]);
		}
		if (b.len == 0)
			tbuf_putc(&b, ' ');
		compare((const char *)b.data, b.len);
		uint32_t col;
		char why[128];
		accepted +=
		    scan((const char *)b.data, b.len, IDX_JSCAN_STRICT, &col, why, sizeof why) == 0;
		tbuf_fini(&b);
	}
	/* both sides exercised */
	assert_true(accepted > total / 20);
	assert_true(accepted < total - total / 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tricky_documents),
	    cmocka_unit_test(test_deep_nesting),
	    cmocka_unit_test(test_many_keys),
	    cmocka_unit_test(test_brute_force_against_jansson),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
