/*
 * values_test.c - typed field values (values.h) and the schema's typed
 * fields (schema.c): dates against glibc's timegm for random dates in every
 * year and offset, numbers at their edges, a document's values as the
 * build records them, and schemas that round-trip through their canonical
 * JSON with the same field numbers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "index/index_int.h"
#include "index/values.h"

static uint64_t rng = 0x9e3779b97f4a7c15u;
static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Random dates of years 1-9999 with times, fractions and offsets, written
 * every way the parser takes them: the same instant as timegm's. */
static void test_dates_against_timegm(void **state)
{
	(void)state;
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	for (int i = 0; i < 200000; i++) {
		int y = 1 + (int)(next() % 9999), mo = 1 + (int)(next() % 12);
		int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
		int d = 1 + (int)(next() % (unsigned)(mdays[mo - 1] + (mo == 2 && leap)));
		int h = (int)(next() % 24), mi = (int)(next() % 60), s = (int)(next() % 60);
		int ms = (int)(next() % 1000), off = (int)(next() % (2 * 18 * 60 + 1)) - 18 * 60;
		struct tm tm = {.tm_year = y - 1900,
		                .tm_mon = mo - 1,
		                .tm_mday = d,
		                .tm_hour = h,
		                .tm_min = mi,
		                .tm_sec = s};
		int64_t want = (int64_t)timegm(&tm) * 1000 + ms - (int64_t)off * 60000;
		char zone[16];
		int shape = (int)(next() % 3);
		if (off == 0 && shape == 0)
			snprintf(zone, sizeof zone, "Z");
		else if (shape == 1)
			snprintf(zone, sizeof zone, "%c%02d%02d", off < 0 ? '-' : '+',
			         abs(off) / 60, abs(off) % 60);
		else
			snprintf(zone, sizeof zone, "%c%02d:%02d", off < 0 ? '-' : '+',
			         abs(off) / 60, abs(off) % 60);
		char text[64];
		int n = snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03d%s", y, mo,
		                 d, h, mi, s, ms, zone);
		int64_t got = 0;
		if (idx_date_parse(text, (size_t)n, &got) != TRAWL_OK || got != want)
			fail_msg("%s: got %lld, want %lld", text, (long long)got, (long long)want);
		/* the day alone is its midnight, UTC; the canonical text reads back */
		n = snprintf(text, sizeof text, "%04d-%02d-%02d", y, mo, d);
		struct tm day = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d};
		assert_int_equal(idx_date_parse(text, (size_t)n, &got), TRAWL_OK);
		assert_int_equal(got, (int64_t)timegm(&day) * 1000);
		char canon[32];
		size_t cn = idx_date_format(want, canon);
		int64_t back = 0;
		if (want >= 0 && (idx_date_parse(canon, cn, &back) != TRAWL_OK || back != want))
			fail_msg("%s -> %s -> %lld", text, canon, (long long)back);
	}
}

static void test_date_shapes(void **state)
{
	(void)state;
	/* the canonical text of extreme values: no overflow (UBSan checks) */
	char canon[32];
	assert_int_equal(idx_date_format(INT64_MIN, canon), strlen("-9223372036854775808"));
	assert_int_equal(idx_date_format(INT64_MAX, canon), strlen("9223372036854775807"));
	idx_date_format(-1, canon);
	assert_string_equal(canon, "1969-12-31T23:59:59.999Z");
	idx_date_format(-86400000, canon);
	assert_string_equal(canon, "1969-12-31T00:00:00.000Z");
	static const struct {
		const char *text;
		int64_t ms;
	} good[] = {
	    {"1970-01-01", 0},
	    {"1970", 0},
	    {"1970-02", 31LL * 86400000},
	    {"1970-01-01T00:00:00Z", 0},
	    {"1970-01-01T01", 3600000},
	    {"1970-01-01T00:01", 60000},
	    {"1970-01-01T00:00:01.5", 1500},
	    {"1970-01-01T00:00:01,25", 1250},
	    {"1970-01-01T00:00:00.123456789Z", 123},
	    {"1970-01-01T02:00:00+02:00", 0},
	    {"1970-01-01T02:00:00+02", 0},
	    {"1969-12-31T22:00:00-0200", 0},
	    {"2000-02-29", 951782400000LL},
	    {"1969-12-31T23:59:59.999Z", -1},
	    {"0000-01-01", -62167219200000LL},
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		int64_t ms = 42;
		if (idx_date_parse(good[i].text, strlen(good[i].text), &ms) != TRAWL_OK ||
		    ms != good[i].ms)
			fail_msg("%s: %lld, want %lld", good[i].text, (long long)ms,
			         (long long)good[i].ms);
	}
	static const char *const bad[] = {
	    "",
	    "197",
	    "19700",
	    "1970-1-01",
	    "1970-13-01",
	    "1970-00-01",
	    "1970-01-00",
	    "2023-02-29",
	    "2024-04-31",
	    "1900-02-29",
	    "1970-01-01T24:00",
	    "1970-01-01T10:60",
	    "1970-01-01T10:00:60",
	    "1970-01-01 10:00",
	    "1970-01T10:00",
	    "1970T10",
	    "1970-01-01Z",
	    "1970-01-01T10:00:00.",
	    "1970-01-01T10:00:00.1234567890",
	    "1970-01-01T10:00+19:00",
	    "1970-01-01T10:00+18:01",
	    "1970-01-01T10:00+02:",
	    "1970-01-01T10:00+2",
	    "1970-01-01T10:00Z ",
	    "+1970-01-01",
	    "now",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int64_t ms;
		if (idx_date_parse(bad[i], strlen(bad[i]), &ms) != TRAWL_EINVAL)
			fail_msg("%s: parsed as %lld", bad[i], (long long)ms);
	}
}

static void test_numbers(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		int ok;
		int64_t v;
	} longs[] = {
	    {"42", 1, 42},
	    {"-0", 1, 0},
	    {"1e3", 1, 1000},
	    {"4.0", 1, 4},
	    {"-2.5e1", 1, -25},
	    {"1.5", 0, 0},
	    {"9223372036854775807", 1, INT64_MAX},
	    {"-9223372036854775808", 1, INT64_MIN},
	    {"9223372036854775808", 0, 0},
	    {"1e300", 0, 0},
	    {"01", 0, 0},
	    {"+1", 0, 0},
	    {"1 ", 0, 0},
	    {"", 0, 0},
	    {"abc", 0, 0},
	    {"0x10", 0, 0},
	    {"9007199254740993.0", 1, 9007199254740993LL},
	    {"4.0000000000000001", 0, 0},
	    {"1e-400", 0, 0},
	    {"0e-400", 1, 0},
	    {"1e18", 1, 1000000000000000000LL},
	    {"9.223372036854775807e18", 1, INT64_MAX},
	    {"-9.223372036854775808e18", 1, INT64_MIN},
	    {"9.223372036854775808e18", 0, 0},
	    {"1e19", 0, 0},
	    {"120e-1", 1, 12},
	    {"125e-1", 0, 0},
	    {"-0.0e5", 1, 0},
	    {"00", 0, 0},
	};
	for (size_t i = 0; i < sizeof longs / sizeof longs[0]; i++) {
		int64_t v = 0;
		int rc = idx_long_parse(longs[i].text, strlen(longs[i].text), &v);
		if ((rc == TRAWL_OK) != longs[i].ok || (longs[i].ok && v != longs[i].v))
			fail_msg("long %s: rc %d, %lld", longs[i].text, rc, (long long)v);
	}
	static const struct {
		const char *text;
		int ok;
		double v;
	} doubles[] = {
	    {"1.5", 1, 1.5}, {"-0", 1, 0.0}, {"1e308", 1, 1e308}, {"2.5E-3", 1, 2.5e-3},
	    {"1e309", 0, 0}, {"NaN", 0, 0},  {"Infinity", 0, 0},  {".5", 0, 0},
	    {"5.", 0, 0},    {"-", 0, 0},    {"1e", 0, 0},        {"1e-400", 1, 0.0},
	};
	for (size_t i = 0; i < sizeof doubles / sizeof doubles[0]; i++) {
		double v = -1;
		int rc = idx_double_parse(doubles[i].text, strlen(doubles[i].text), &v);
		if ((rc == TRAWL_OK) != doubles[i].ok || (doubles[i].ok && v != doubles[i].v))
			fail_msg("double %s: rc %d, %g", doubles[i].text, rc, v);
	}
}

/* The values of one field of one document, as idx_values_parse records
 * them, printed: "3: a|b|c" or "2: 1|-5". */
static int values(const idx_tfield *f, const char *json, char *out, size_t cap, char *why)
{
	tbuf rec, scratch;
	tbuf_init(&rec, 1 << 24);
	tbuf_init(&scratch, 1 << 24);
	idx_jvalue v = {IDX_J_NULL, json, strlen(json), json};
	switch (json[0]) {
	case '"':
		v.kind = IDX_J_STRING;
		break;
	case '[':
		v.kind = IDX_J_ARRAY;
		break;
	case '{':
		v.kind = IDX_J_OBJECT;
		break;
	case 't':
		v.kind = IDX_J_TRUE;
		break;
	case 'f':
		v.kind = IDX_J_FALSE;
		break;
	case 'n':
		v.kind = IDX_J_NULL;
		break;
	default:
		v.kind = IDX_J_NUMBER;
	}
	const char *at = NULL;
	why[0] = 0;
	int rc = idx_values_parse(f, &v, &rec, &scratch, &at, why, 200);
	out[0] = 0;
	if (rc == TRAWL_OK) {
		const uint8_t *p = rec.data;
		uint32_t n;
		memcpy(&n, p, 4);
		p += 4;
		size_t o = (size_t)snprintf(out, cap, "%u:", n);
		for (uint32_t i = 0; i < n && o < cap; i++) {
			if (f->type == IDX_KEYWORD) {
				uint32_t len;
				memcpy(&len, p, 4);
				o += (size_t)snprintf(out + o, cap - o, "%s%.*s", i ? "|" : " ",
				                      (int)len, (const char *)p + 4);
				p += 4 + len;
			} else if (f->type == IDX_DOUBLE) {
				double d;
				memcpy(&d, p, 8);
				o += (size_t)snprintf(out + o, cap - o, "%s%g", i ? "|" : " ", d);
				p += 8;
			} else {
				int64_t x;
				memcpy(&x, p, 8);
				o += (size_t)snprintf(out + o, cap - o, "%s%lld", i ? "|" : " ",
				                      (long long)x);
				p += 8;
			}
		}
		assert_int_equal((size_t)(p - rec.data), rec.len);
	} else {
		assert_int_equal(rec.len, 0); /* nothing left behind */
	}
	tbuf_fini(&rec);
	tbuf_fini(&scratch);
	return rc;
}

static void test_document_values(void **state)
{
	(void)state;
	idx_tfield kw = {.name = "tags", .type = IDX_KEYWORD, .twin_of = -1, .index = 1};
	idx_tfield lower = kw, above = kw;
	lower.lowercase = 1;
	above.ignore_above = 3;
	idx_tfield lng = {.name = "n", .type = IDX_LONG, .twin_of = -1};
	idx_tfield dbl = {.name = "x", .type = IDX_DOUBLE, .twin_of = -1};
	idx_tfield date = {.name = "d", .type = IDX_DATE, .twin_of = -1};
	idx_tfield boo = {.name = "b", .type = IDX_BOOLEAN, .twin_of = -1};
	const struct {
		const idx_tfield *f;
		const char *json, *want; /* want NULL: an error whose reason contains err */
		const char *err;
	} cases[] = {
	    {&kw, "\"libs\"", "1: libs", NULL},
	    {&kw, "[\"a\", [\"b\", null, [\"c\"]], null]", "3: a|b|c", NULL},
	    {&kw, "[]", "0:", NULL},
	    {&kw, "null", "0:", NULL},
	    {&kw, "[1.50, true, \"x\\u00e9\"]", "3: 1.50|true|x\xc3\xa9", NULL},
	    {&kw, "{\"a\": 1}", NULL, "is not a value of a typed field"},
	    {&kw, "[\"a\", {\"b\": 1}]", NULL, "{\"b\": 1} is not"},
	    {&lower, "[\"LibS\", \"\xc3\x84Z\xc3\x9f\"]", "2: libs|\xc3\xa4z\xc3\x9f", NULL},
	    {&above, "[\"abc\", \"abcd\", \"\xc3\xa9\xc3\xa9\xc3\xa9\"]",
	     "2: abc|\xc3\xa9\xc3\xa9\xc3\xa9", NULL},
	    {&lng, "[1, \"2\", 3e2, -4]", "4: 1|2|300|-4", NULL},
	    {&lng, "\"abc\"", NULL, "\"abc\" is not a long"},
	    {&lng, "1.5", NULL, "1.5 is not a long"},
	    {&lng, "99999999999999999999", NULL, "is not a long"},
	    {&lng, "true", NULL, "true is not a long"},
	    {&dbl, "[1.5, \"-2\", 0]", "3: 1.5|-2|0", NULL},
	    {&dbl, "\"1,5\"", NULL, "\"1,5\" is not a double"},
	    {&date, "[\"1970-01-02\", 5, \"1970-01-01T00:00:01+00:00\"]", "3: 86400000|5|1000",
	     NULL},
	    {&date, "\"2023-02-29\"", NULL, "\"2023-02-29\" is not a date"},
	    {&date, "[\"1700000000000\", \"-86400000\", \"2024\"]",
	     "3: 1700000000000|-86400000|1704067200000", NULL},
	    {&date, "\"1700000000000.5\"", NULL, "is not a date"},
	    {&date, "\"12345x\"", NULL, "is not a date"},
	    {&date, "1.5", NULL, "1.5 is not a date"},
	    {&boo, "[true, false, \"true\", \"false\"]", "4: 1|0|1|0", NULL},
	    {&boo, "\"yes\"", NULL, "\"yes\" is not a boolean"},
	    {&boo, "1", NULL, "1 is not a boolean"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char got[512], why[256];
		int rc = values(cases[i].f, cases[i].json, got, sizeof got, why);
		if (cases[i].want) {
			if (rc != TRAWL_OK || strcmp(got, cases[i].want))
				fail_msg("%s: rc %d, \"%s\" (%s), want \"%s\"", cases[i].json, rc,
				         got, why, cases[i].want);
		} else if (rc != TRAWL_EDOC || !strstr(why, cases[i].err)) {
			fail_msg("%s: rc %d, \"%s\", want an error with \"%s\"", cases[i].json, rc,
			         why, cases[i].err);
		}
	}
	/* the limits: a keyword's bytes, a field's values */
	char *big = malloc(LIMIT_KEYWORD_BYTES + 16);
	big[0] = '"';
	memset(big + 1, 'k', LIMIT_KEYWORD_BYTES + 1);
	strcpy(big + LIMIT_KEYWORD_BYTES + 2, "\"");
	char got[64], why[256];
	assert_int_equal(values(&kw, big, got, sizeof got, why), TRAWL_EDOC);
	assert_non_null(strstr(why, "the limit is " LIMIT_STR(LIMIT_KEYWORD_BYTES)));
	big[LIMIT_KEYWORD_BYTES + 1] = '"';
	big[LIMIT_KEYWORD_BYTES + 2] = 0;
	assert_int_equal(values(&kw, big, got, sizeof got, why), TRAWL_OK);
	free(big);
	size_t cap = 4 * (LIMIT_FIELD_VALUES + 2) + 4;
	char *many = malloc(cap), *longs = malloc(cap * 1024);
	size_t o = 0;
	many[o++] = '[';
	for (int i = 0; i <= LIMIT_FIELD_VALUES; i++)
		o += (size_t)snprintf(many + o, cap - o, "%s1", i ? "," : "");
	strcpy(many + o, "]");
	assert_int_equal(values(&lng, many, longs, cap * 1024, why), TRAWL_EDOC);
	assert_non_null(strstr(why, "the limit is " LIMIT_STR(LIMIT_FIELD_VALUES)));
	strcpy(many + o - 2, "]"); /* one value fewer */
	assert_int_equal(values(&lng, many, longs, cap * 1024, why), TRAWL_OK);
	free(many);
	free(longs);
}

static void schema_ok(const char *json, idx_schema *s)
{
	char err[256];
	if (idx_schema_parse(s, json, strlen(json), err, sizeof err) != TRAWL_OK)
		fail_msg("%s: %s", json, err);
}

/* Typed fields and twins come back from the canonical JSON in the same
 * order, with the same settings, whatever order the schema gave them in. */
static void test_schema_typed_round_trip(void **state)
{
	(void)state;
	idx_schema a, b;
	schema_ok(
	    "{\"fields\": {\"size\": {\"type\": \"long\", \"doc_values\": false},"
	    " \"title\": {\"fields\": {\"raw\": {\"type\": \"keyword\", \"ignore_above\": 256}}},"
	    " \"section\": {\"type\": \"keyword\", \"normalizer\": \"lowercase\"},"
	    " \"body\": {\"type\": \"text\"},"
	    " \"when\": {\"type\": \"date\", \"index\": false},"
	    " \"ok\": {\"type\": \"boolean\"}, \"x\": {\"type\": \"double\"}},"
	    " \"store\": [\"title\", \"size\"]}",
	    &a);
	assert_int_equal(a.nfields, 2);
	assert_int_equal(a.ntyped, 6);
	static const char *const order[] = {"title.raw", "size", "section", "when", "ok", "x"};
	static const int types[] = {IDX_KEYWORD, IDX_LONG,    IDX_KEYWORD,
	                            IDX_DATE,    IDX_BOOLEAN, IDX_DOUBLE};
	for (int i = 0; i < 6; i++) {
		assert_string_equal(a.typed[i].name, order[i]);
		assert_int_equal(a.typed[i].type, types[i]);
	}
	assert_int_equal(a.typed[0].twin_of, 0);
	assert_int_equal(a.typed[0].ignore_above, 256);
	assert_int_equal(a.typed[1].doc_values, 0);
	assert_int_equal(a.typed[2].lowercase, 1);
	assert_int_equal(a.typed[3].index, 0);
	assert_int_equal(idx_schema_typed(&a, "section", 7), 2);
	assert_int_equal(idx_schema_typed(&a, "title.raw", 9), -1); /* a twin is no member */
	char *j1 = idx_schema_to_json(&a);
	schema_ok(j1, &b);
	char *j2 = idx_schema_to_json(&b);
	assert_string_equal(j1, j2);
	assert_int_equal(b.ntyped, 6);
	for (int i = 0; i < 6; i++)
		assert_string_equal(b.typed[i].name, order[i]);
	free(j1);
	free(j2);
	/* a text-only schema's canonical JSON is what it was before typed fields */
	idx_schema_default(&a);
	j1 = idx_schema_to_json(&a);
	assert_string_equal(j1,
	                    "{\"fields\":{\"title\":{\"type\":\"text\",\"analyzer\":\"english\","
	                    "\"boost\":0.5,\"k1\":0.9,\"b\":0.4},\"body\":{\"type\":\"text\","
	                    "\"analyzer\":\"english\",\"boost\":1.0,\"k1\":0.9,\"b\":0.4}},"
	                    "\"store\":\"all\"}");
	free(j1);
}

static void test_schema_typed_errors(void **state)
{
	(void)state;
	static const struct {
		const char *json, *err;
	} cases[] = {
	    {"{\"fields\": {\"t\": {}, \"a\": {\"type\": \"integer\"}}}", "fields.a.type must be"},
	    {"{\"fields\": {\"t\": {}, \"a\": {\"type\": 5}}}", "fields.a.type must be"},
	    {"{\"fields\": {\"t\": {}, \"a\": {\"type\": \"long\", \"normalizer\": "
	     "\"lowercase\"}}}",
	     "unknown key \"normalizer\" for a long field"},
	    {"{\"fields\": {\"t\": {}, \"a\": {\"type\": \"keyword\", \"normalizer\": \"upper\"}}}",
	     "fields.a.normalizer must be \"lowercase\""},
	    {"{\"fields\": {\"t\": {}, \"a\": {\"type\": \"keyword\", \"ignore_above\": 0}}}",
	     "ignore_above must be an integer from 1 to"},
	    {"{\"fields\": {\"t\": {}, \"a\": {\"type\": \"date\", \"index\": 1}}}",
	     "fields.a.index must be true or false"},
	    {"{\"fields\": {\"t\": {}, \"a\": {\"type\": \"date\", \"format\": \"yyyy\"}}}",
	     "unknown key \"format\" for a date field"},
	    {"{\"fields\": {\"t\": {\"fields\": {\"raw\": {\"type\": \"long\"}}}}}",
	     "a text field's twin must be a keyword"},
	    {"{\"fields\": {\"t\": {\"fields\": {}}}}", "non-empty object of keyword twins"},
	    {"{\"fields\": {\"t\": {\"fields\": {\"a.b\": {\"type\": \"keyword\"}}}}}",
	     "invalid twin name"},
	    {"{\"fields\": {\"t\": {\"fields\": {\"raw\": {\"type\": \"keyword\"}}},"
	     " \"t.raw\": {\"type\": \"keyword\"}}}",
	     "field \"t.raw\" is given twice"},
	    {"{\"fields\": {\"t\": {\"fields\": {\"raw\": {\"type\": \"keyword\"}}},"
	     " \"t.raw\": {}}}",
	     "field \"t.raw\" is given twice"},
	    {"{\"fields\": {\"t.raw\": {}, \"t\": {\"fields\": {\"raw\": {\"type\": "
	     "\"keyword\"}}}}}",
	     "field \"t.raw\" is given twice"},
	    {"{\"fields\": {\"t\": {\"fields\": {\"a b\": {\"type\": \"keyword\"}}}}}",
	     "invalid twin name"},
	    {"{\"fields\": {\"a\": {\"type\": \"keyword\"}}}", "no text fields"},
	    {"{\"fields\": {\"t\": {}, \"id\": {\"type\": \"keyword\"}}}", "invalid field name"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		idx_schema s;
		char err[512] = "";
		int rc =
		    idx_schema_parse(&s, cases[i].json, strlen(cases[i].json), err, sizeof err);
		if (rc != TRAWL_ESCHEMA || !strstr(err, cases[i].err))
			fail_msg("%s: rc %d, \"%s\", want \"%s\"", cases[i].json, rc, err,
			         cases[i].err);
	}
	/* at most LIMIT_TYPED_FIELDS typed fields */
	char json[8192];
	size_t o = (size_t)snprintf(json, sizeof json, "{\"fields\": {\"t\": {}");
	for (int i = 0; i <= LIMIT_TYPED_FIELDS; i++)
		o += (size_t)snprintf(json + o, sizeof json - o, ", \"f%d\": {\"type\": \"long\"}",
		                      i);
	snprintf(json + o, sizeof json - o, "}}");
	idx_schema s;
	char err[256];
	assert_int_equal(idx_schema_parse(&s, json, strlen(json), err, sizeof err), TRAWL_ESCHEMA);
	assert_non_null(strstr(err, "more than " LIMIT_STR(LIMIT_TYPED_FIELDS) " typed fields"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dates_against_timegm),
	    cmocka_unit_test(test_date_shapes),
	    cmocka_unit_test(test_numbers),
	    cmocka_unit_test(test_document_values),
	    cmocka_unit_test(test_schema_typed_round_trip),
	    cmocka_unit_test(test_schema_typed_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
