/*
 * bulk_test.c - _bulk bodies (root/bulk.c): OpenSearch's own example read
 * into the right write requests; each malformed or unsupported line fails
 * its item by line number while the others are read; what fails the whole
 * request (no newline at the end, nothing, too big, too many items); action
 * lines scanned (the usual ones) read as jansson reads them, errors and all,
 * over 20,000 generated lines; and
 * answers rendered as OpenSearch writes them, in the very bytes the
 * jansson-built answer had (its renderer is kept here, as the reference),
 * over thousands of random items.
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

#include "root/bulk.h"
#include "trawl/trawl.h"

static char g_err[LIMIT_ERRMSG_BYTES];

static void parse_ok(const char *body, const char *index, os_bulk *b)
{
	int status;
	int rc = os_bulk_parse(body, strlen(body), index, b, &status, g_err, sizeof g_err);
	if (rc)
		fail_msg("%s", g_err);
}

static void assert_bytes(const char *p, uint32_t n, const char *want)
{
	if (!p || n != strlen(want) || memcmp(p, want, n))
		fail_msg("\"%.*s\", wanted \"%s\"", (int)n, p ? p : "", want);
}

static void test_the_documentation_example(void **state)
{
	(void)state;
	/* OpenSearch's _bulk example, with an update's upsert and conditions */
	const char *body =
	    "{ \"index\" : { \"_index\" : \"movies\", \"_id\" : \"tt1979320\" } }\n"
	    "{ \"title\" : \"Rush\", \"year\" : 2013 }\n"
	    "{ \"create\" : { \"_index\" : \"movies\", \"_id\" : \"tt1392214\" } }\r\n"
	    "{ \"title\" : \"Prisoners\", \"year\" : 2013 }\r\n"
	    "\n"
	    "{ \"update\" : {\"_index\" : \"movies\", \"_id\" : \"tt0816711\", "
	    "\"if_seq_no\": 3, \"if_primary_term\": 1, \"retry_on_conflict\": 3} }\n"
	    "{ \"doc\" : {\"title\" : \"World War Z\", \"o\": {\"a\": [1, 2]}}, \"detect_noop\": "
	    "false }\n"
	    "{ \"delete\" : { \"_index\" : \"movies\", \"_id\" : 42 } }\n"
	    "{ \"index\" : {} }\n"
	    "{\"x\":1}\n"
	    "{ \"update\" : {\"_id\" : \"u\"} }\n"
	    "{ \"doc\" : {\"n\":1}, \"upsert\": {\"n\": 0}, \"doc_as_upsert\": true }\n";
	os_bulk b;
	parse_ok(body, "films", &b);
	assert_int_equal(b.n, 6);
	for (uint32_t i = 0; i < b.n; i++)
		if (b.items[i].failed)
			fail_msg("item %u: %s", i, b.items[i].reason);
	os_bulk_item *it = b.items;
	assert_int_equal(it[0].req.act, IDX_WACT_INDEX);
	assert_string_equal(it[0].index, "movies");
	assert_bytes(it[0].req.id, it[0].req.idlen, "tt1979320");
	assert_bytes(it[0].req.doc, it[0].req.doclen, "{ \"title\" : \"Rush\", \"year\" : 2013 }");
	assert_int_equal(it[0].req.if_seq_no, -1);
	assert_int_equal(it[0].line, 1);
	assert_int_equal(it[1].req.act, IDX_WACT_CREATE);
	assert_bytes(it[1].req.doc, it[1].req.doclen,
	             "{ \"title\" : \"Prisoners\", \"year\" : 2013 }"); /* without the \r */
	assert_int_equal(it[1].line, 3);
	assert_int_equal(it[2].req.act, IDX_WACT_UPDATE);
	assert_int_equal(it[2].line, 6); /* the blank line 5 counted */
	assert_int_equal(it[2].req.if_seq_no, 3);
	assert_int_equal(it[2].req.if_primary_term, 1);
	assert_int_equal(it[2].req.keep_noop, 1);
	assert_bytes(it[2].req.doc, it[2].req.doclen,
	             "{\"title\":\"World War Z\",\"o\":{\"a\":[1,2]}}");
	assert_null(it[2].req.upsert);
	assert_int_equal(it[3].req.act, IDX_WACT_DELETE);
	assert_bytes(it[3].req.id, it[3].req.idlen, "42"); /* a number as OpenSearch takes it */
	assert_null(it[3].req.doc);
	assert_int_equal(it[4].req.act, IDX_WACT_INDEX);
	assert_string_equal(it[4].index, "films"); /* the URL's */
	assert_null(it[4].req.id);                 /* to be generated */
	assert_int_equal(it[4].req.idlen, 0);
	assert_bytes(it[5].req.upsert, it[5].req.upsertlen, "{\"n\":0}");
	assert_int_equal(it[5].req.doc_as_upsert, 1);
	assert_int_equal(it[5].req.keep_noop, 0);
	os_bulk_free(&b);
}

static void test_bad_lines_fail_their_items(void **state)
{
	(void)state;
	static char longid[LIMIT_ID_BYTES + 40];
	char big[LIMIT_ID_BYTES + 2];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = 0;
	snprintf(longid, sizeof longid, "{\"delete\":{\"_id\":\"%s\"}}\n", big);
	char body[4096];
	snprintf(body, sizeof body,
	         "{\"index\":{\"_id\":\"1\"}}\n"                     /* 1 */
	         "{\"a\":1}\n"                                       /* 2 */
	         "{\"delete\":{\"_id\":\"\"}}\n"                     /* 3 */
	         "{\"index\":{\"_id\":\"2\",\"routing\":\"r\"}}\n"   /* 4 */
	         "{\"a\":2}\n"                                       /* 5: skipped with 4 */
	         "{\"delete\":{\"_id\":\"3\",\"colour\":\"red\"}}\n" /* 6 */
	         "{\"update\":{\"_id\":\"4\"}}\n"                    /* 7 */
	         "{\"script\":{\"source\":\"ctx._source.n++\"}}\n"   /* 8 */
	         "{\"update\":{\"_id\":\"5\"}}\n"                    /* 9 */
	         "[1,2]\n"                                           /* 10 */
	         "%s"                                                /* 11 */
	         "{\"delete\":{\"_id\":\"6\",\"if_seq_no\":1}}\n"    /* 12 */
	         "{\"delete\":{\"_id\":\"7\",\"if_seq_no\":-1}}\n"   /* 13 */
	         "{\"create\":{\"_id\":\"8\",\"version\":3}}\n"      /* 14 */
	         "{\"b\":1}\n"                                       /* 15 */
	         "{\"delete\":{\"_id\":\"9\"}}\n"                    /* 16 */
	         "{\"index\":{\"_id\":\"10\"}}\n",                   /* 17 */
	         longid);
	os_bulk b;
	parse_ok(body, "t", &b);
	struct {
		uint64_t line;
		const char *why; /* NULL: read fine */
	} want[] = {
	    {1, NULL},
	    {3, "line 3: Validation Failed: 1: if _id is specified it must not be empty"},
	    {4, "line 4: [routing] is not supported by trawl"},
	    {6, "line 6: action [delete] has an unknown parameter [colour]"},
	    {7, "line 8: [script]: scripts are not supported by trawl"},
	    {9, "line 10: the update is not a JSON object"},
	    {11, "line 11: [_id] must be a string of at most 512 bytes"},
	    {12, "line 12: if_seq_no and if_primary_term must be given together"},
	    {13, "line 13: [if_seq_no] must be a number of 0 or more"},
	    {14, "line 14: [version] is not supported by trawl"},
	    {16, NULL},
	    {17, "line 17: the index action's document line is missing"},
	};
	assert_int_equal(b.n, sizeof want / sizeof want[0]);
	for (uint32_t i = 0; i < b.n; i++) {
		const os_bulk_item *it = &b.items[i];
		if (it->line != want[i].line)
			fail_msg("item %u at line %llu, wanted %llu", i,
			         (unsigned long long)it->line, (unsigned long long)want[i].line);
		if (!want[i].why) {
			if (it->failed)
				fail_msg("item %u: %s", i, it->reason);
			continue;
		}
		if (!it->failed || !strstr(it->reason, want[i].why))
			fail_msg("item %u: \"%s\", wanted \"%s\"", i, it->failed ? it->reason : "-",
			         want[i].why);
		assert_int_equal(it->status, 400);
	}
	assert_bytes(b.items[10].req.id, b.items[10].req.idlen, "9");
	os_bulk_free(&b);

	/* without an index in the URL, an item must name one */
	parse_ok("{\"delete\":{\"_id\":\"1\"}}\n{\"delete\":{\"_index\":\"i\",\"_id\":\"1\"}}\n",
	         NULL, &b);
	assert_int_equal(b.n, 2);
	assert_true(b.items[0].failed);
	assert_non_null(strstr(b.items[0].reason, "index is missing"));
	assert_false(b.items[1].failed);
	os_bulk_free(&b);
}

static void test_whole_request_refusals(void **state)
{
	(void)state;
	os_bulk b;
	int status;
	assert_int_equal(os_bulk_parse("{\"delete\":{\"_id\":\"1\"}}", 22, "t", &b, &status, g_err,
	                               sizeof g_err),
	                 TRAWL_EINVAL);
	assert_int_equal(status, 400);
	assert_string_equal(g_err, "The bulk request must be terminated by a newline [\\n]");
	assert_int_equal(os_bulk_parse("", 0, "t", &b, &status, g_err, sizeof g_err), TRAWL_EINVAL);
	assert_string_equal(g_err, "request body is required");
	assert_int_equal(os_bulk_parse("\n \r\n\n", 5, "t", &b, &status, g_err, sizeof g_err),
	                 TRAWL_EINVAL);
	assert_string_equal(g_err, "request body is required");
	/* an action line that is not one refuses the request: its next line
	 * could be read as an action (a delete of another document) */
	const char *bad[] = {"{\"index\":{\"_id\":\"1\"}},\n{\"delete\":{\"_id\":\"victim\"}}\n",
	                     "{\"delete\":{\"_id\":\"1\"}}\nnot json\n",
	                     "{\"index\":{},\"delete\":{}}\n{}\n", "{\"upsert\":{}}\n{}\n",
	                     "{\"index\":[]}\n{}\n"};
	const char *where[] = {
	    "Malformed action/metadata line [1]", "Malformed action/metadata line [2]",
	    "Malformed action/metadata line [1]", "Malformed action/metadata line [1]",
	    "Malformed action/metadata line [1]"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(
		    os_bulk_parse(bad[i], strlen(bad[i]), "t", &b, &status, g_err, sizeof g_err),
		    TRAWL_EINVAL);
		assert_int_equal(status, 400);
		if (!strstr(g_err, where[i]))
			fail_msg("case %zu: \"%s\"", i, g_err);
		assert_null(b.items);
	}
	/* the size is checked before a byte is read */
	assert_int_equal(os_bulk_parse("x\n", (size_t)LIMIT_BULK_BYTES + 1, "t", &b, &status, g_err,
	                               sizeof g_err),
	                 TRAWL_ELIMIT);
	assert_int_equal(status, 413);
	/* one item more than an append holds */
	const char *del = "{\"delete\":{\"_id\":\"1\"}}\n";
	size_t dl = strlen(del), n = (size_t)LIMIT_WLOG_APPEND_OPS + 1;
	char *body = malloc(dl * n);
	for (size_t i = 0; i < n; i++)
		memcpy(body + i * dl, del, dl);
	assert_int_equal(os_bulk_parse(body, dl * n, "t", &b, &status, g_err, sizeof g_err),
	                 TRAWL_ELIMIT);
	assert_non_null(strstr(g_err, "more than 100000 items"));
	assert_int_equal(os_bulk_parse(body, dl * (n - 1), "t", &b, &status, g_err, sizeof g_err),
	                 TRAWL_OK);
	assert_int_equal(b.n, LIMIT_WLOG_APPEND_OPS);
	os_bulk_free(&b);
	free(body);
}

/* ---- action lines: scanned or read by jansson, the same items ---- */

static uint64_t g_rng = 88172645463325252ull;

static uint32_t rnd(uint32_t n)
{
	g_rng ^= g_rng << 13;
	g_rng ^= g_rng >> 7;
	g_rng ^= g_rng << 17;
	return (uint32_t)(g_rng % n);
}

static int same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static int same_bytes(const char *a, uint32_t na, const char *b, uint32_t nb)
{
	return na == nb && (!na || (a && b && !memcmp(a, b, na))) && (!a) == (!b);
}

/* same_parse: os_bulk_parse and os_bulk_parse_jansson read body alike */
static void same_parse(const char *body, size_t len)
{
	os_bulk x, y;
	int sx = 0, sy = 0;
	char ex[LIMIT_ERRMSG_BYTES] = "", ey[LIMIT_ERRMSG_BYTES] = "";
	int rx = os_bulk_parse(body, len, "t", &x, &sx, ex, sizeof ex);
	int ry = os_bulk_parse_jansson(body, len, "t", &y, &sy, ey, sizeof ey);
	if (rx != ry || (rx && (sx != sy || strcmp(ex, ey))))
		fail_msg("%.*s: scanned %d %d \"%s\", jansson %d %d \"%s\"", (int)len, body, rx, sx,
		         ex, ry, sy, ey);
	if (rx)
		return;
	assert_int_equal(x.n, y.n);
	for (uint32_t i = 0; i < x.n; i++) {
		const os_bulk_item *a = &x.items[i], *b = &y.items[i];
		if (a->req.act != b->req.act || !same_str(a->index, b->index) ||
		    a->line != b->line || a->failed != b->failed || a->status != b->status ||
		    !same_str(a->error_type, b->error_type) || !same_str(a->reason, b->reason) ||
		    !same_bytes(a->req.id, a->req.idlen, b->req.id, b->req.idlen) ||
		    !same_bytes(a->req.doc, a->req.doclen, b->req.doc, b->req.doclen) ||
		    !same_bytes(a->id, a->id ? (uint32_t)strlen(a->id) : 0, b->id,
		                b->id ? (uint32_t)strlen(b->id) : 0) ||
		    a->req.if_seq_no != b->req.if_seq_no ||
		    a->req.if_primary_term != b->req.if_primary_term)
			fail_msg("%.*s: item %u: scanned %d [%s] [%.*s] %d \"%s\", jansson %d [%s] "
			         "[%.*s] %d \"%s\"",
			         (int)len, body, i, a->req.act, a->index ? a->index : "-",
			         (int)a->req.idlen, a->req.id ? a->req.id : "", a->status,
			         a->reason ? a->reason : "-", b->req.act, b->index ? b->index : "-",
			         (int)b->req.idlen, b->req.id ? b->req.id : "", b->status,
			         b->reason ? b->reason : "-");
	}
	os_bulk_free(&x);
	os_bulk_free(&y);
}

/* Generated action lines, usual and not (other keys, other values,
 * escapes, NUL, bad UTF-8, duplicates, long names, bad JSON): the scanned
 * path reads each as jansson does, errors and all. */
static void test_action_lines_scanned_as_jansson_reads_them(void **state)
{
	(void)state;
	static const char *const names[] = {"index",  "create", "update", "delete", "\\u0069ndex",
	                                    "indexx", "",       "Index",  "deletes"};
	static const char *const strs[] = {
	    "\"t\"",
	    "\"films\"",
	    "\"\"",
	    "\"a\\u0000b\"",
	    "\"\\u00e9\"",
	    "\"\xc3\xa9\"",
	    "\"a\\\"b\"",
	    "\"\\ud800\"",
	    "\"x\\u0041\"",
	    "\"\xff\"",
	    "42",
	    "null",
	    "{}",
	    "\"0123456789012345678901234567890123456789012345678901234567890123456789012345"
	    "6789012345678901234567890123456789012345678901234567890123456789012345678901234567"
	    "8901234567890123456789012345678901234567890123456789012345678901234567890123456789"
	    "012345678901234567890123456789012345678901234567890123456789012345678901234567890"
	    "123456789012345678901234567890\""};
	static const char *const keys[] = {
	    "_index",          "_id",     "_id",           "_index", "if_seq_no",
	    "if_primary_term", "routing", "require_alias", "x",      "\\u005fid"};
	static const char *const after[] = {"", "", "", " ", "x", "}", ",", "{}"};
	char line[2048], body[4096];
	for (int it = 0; it < 20000; it++) {
		size_t n = 0;
		const char *name = names[rnd(sizeof names / sizeof *names)];
		n += (size_t)snprintf(line + n, sizeof line - n, "%s{\"%s\":%s", rnd(4) ? "" : " ",
		                      name, rnd(20) ? "{" : "[");
		int members = (int)rnd(4);
		for (int m = 0; m < members; m++) {
			const char *k = keys[rnd(sizeof keys / sizeof *keys)];
			const char *v = strs[rnd(sizeof strs / sizeof *strs)];
			if (!strcmp(k, "require_alias"))
				v = rnd(2) ? "false" : "true";
			else if (k[0] == 'i' && rnd(2))
				v = rnd(2) ? "3" : "-1";
			n += (size_t)snprintf(line + n, sizeof line - n, "%s\"%s\" : %s",
			                      m ? "," : "", k, v);
		}
		n += (size_t)snprintf(line + n, sizeof line - n, "}%s}%s",
		                      rnd(15) ? "" : ",\"delete\":{}",
		                      after[rnd(sizeof after / sizeof *after)]);
		if (rnd(12) == 0 && n) /* cut short */
			n = rnd((uint32_t)n);
		const char *doc = rnd(2) ? "{\"doc\":{\"a\":1}}" : "{\"a\":1}";
		int m = snprintf(body, sizeof body, "%.*s\n%s\n", (int)n, line, doc);
		same_parse(body, (size_t)m);
	}
	/* the usual lines themselves, with every action, are scanned right */
	const char *usual = "{\"index\":{\"_index\":\"t\",\"_id\":\"a\\u00e9\"}}\n{\"x\":1}\n"
	                    "{\"create\":{\"_id\":\"b\"}}\n{\"y\":2}\n"
	                    "{\"delete\":{\"_id\":\"c\",\"_index\":\"u\"}}\n"
	                    "{\"update\":{\"_id\":\"d\"}}\n{\"doc\":{\"z\":3}}\n"
	                    "{\"index\":{}}\n{\"w\":4}\n";
	same_parse(usual, strlen(usual));
	os_bulk b;
	parse_ok(usual, "t", &b);
	assert_int_equal(b.n, 5);
	assert_bytes(b.items[0].req.id, b.items[0].req.idlen, "a\xc3\xa9");
	assert_string_equal(b.items[2].index, "u");
	assert_int_equal(b.items[2].req.act, IDX_WACT_DELETE);
	assert_int_equal(b.items[4].req.idlen, 0);
	os_bulk_free(&b);
}

/* ---- the answer: its bytes, as jansson wrote them before ---- */

static const char *const g_actions[] = {NULL, "index", "create", "update", "delete"};

/* The answer's items as they were built with jansson (root/bulk.c until
 * the answer was written directly): the reference for its bytes. */
static json_t *jansson_item(const os_bulk_item *it, const idx_wres *r)
{
	if (it->failed)
		r = NULL;
	json_t *o = json_object();
	json_object_set_new(o, "_index", it->index ? json_string(it->index) : json_null());
	if (r)
		json_object_set_new(o, "_id", json_stringn(r->id, r->idlen));
	else
		json_object_set_new(o, "_id",
		                    it->id ? json_stringn(it->id, it->req.idlen) : json_null());
	if (r && r->result) {
		int wrote = strcmp(r->result, "noop") != 0;
		json_object_set_new(o, "_version", json_integer((json_int_t)r->version));
		json_object_set_new(o, "result", json_string(r->result));
		json_object_set_new(
		    o, "_shards",
		    json_pack("{s:i, s:i, s:i}", "total", wrote, "successful", wrote, "failed", 0));
		json_object_set_new(o, "_seq_no", json_integer((json_int_t)r->seq_no));
		json_object_set_new(o, "_primary_term", json_integer((json_int_t)r->primary_term));
		json_object_set_new(o, "status", json_integer(r->status));
	} else {
		const char *type = r ? r->error_type : it->error_type;
		json_object_set_new(o, "status", json_integer(r ? r->status : it->status));
		json_object_set_new(o, "error",
		                    json_pack("{s:s, s:s, s:s?}", "type", type ? type : "exception",
		                              "reason",
		                              r            ? r->reason
		                              : it->reason ? it->reason
		                                           : "",
		                              "index", it->index));
	}
	return json_pack("{s:o}", g_actions[it->req.act ? it->req.act : 1], o);
}

static json_t *jansson_answer(const os_bulk *b, const idx_wres *res, uint64_t took_ms)
{
	json_t *items = json_array();
	int errors = 0;
	for (uint32_t i = 0; i < b->n; i++) {
		const idx_wres *r = b->items[i].failed ? NULL : &res[i];
		errors |= !r || !r->result;
		json_array_append_new(items, jansson_item(&b->items[i], r));
	}
	return json_pack("{s:I, s:b, s:o}", "took", (json_int_t)took_ms, "errors", errors, "items",
	                 items);
}

/* render: os_bulk_render's answer, read back (it must be JSON) */
static json_t *render(const os_bulk *b, const idx_wres *res, uint64_t took_ms)
{
	tbuf out;
	tbuf_init(&out, SIZE_MAX / 2);
	assert_int_equal(os_bulk_render(&out, b, res, took_ms), TRAWL_OK);
	json_error_t je;
	json_t *j = json_loadb((const char *)out.data, out.len, JSON_ALLOW_NUL, &je);
	if (!j)
		fail_msg("%s: %.*s", je.text, (int)out.len, (const char *)out.data);
	tbuf_fini(&out);
	return j;
}

/* a string of valid UTF-8 (every ASCII byte, control characters among
 * them, and characters of 2, 3 and 4 bytes, U+007F and U+2028 too) */
static size_t random_text(char *out, size_t cap)
{
	static const char *const multi[] = {
	    "\xc3\xa9", "\xe2\x80\xa8", "\xf0\x9f\x98\x80", "\xef\xbf\xbf", "\x7f", "\"", "\\",
	    "/"};
	size_t n = 0, want = rnd(4) ? rnd(12) : rnd((uint32_t)cap - 8);
	while (n < want && n + 4 < cap) {
		if (rnd(3) == 0) {
			const char *m = multi[rnd(sizeof multi / sizeof *multi)];
			memcpy(out + n, m, strlen(m));
			n += strlen(m);
		} else {
			out[n++] = (char)(1 + rnd(127));
		}
	}
	out[n] = 0;
	return n;
}

static void test_answer_rendered(void **state)
{
	(void)state;
	os_bulk b;
	parse_ok("{\"index\":{\"_id\":\"a\"}}\n{\"x\":1}\n"
	         "{\"delete\":{\"_id\":\"b\"}}\n"
	         "{\"update\":{\"_id\":\"c\"}}\n{\"doc\":{\"y\":2}}\n"
	         "{\"create\":{\"_id\":\"d\"}}\n{\"z\":3}\n"
	         "{\"delete\":{\"_id\":\"e\",\"routing\":\"x\"}}\n",
	         "t", &b);
	idx_wres res[5] = {
	    {.status = 201,
	     .result = "created",
	     .id = "a",
	     .idlen = 1,
	     .version = 1,
	     .seq_no = 7,
	     .primary_term = 1},
	    {.status = 404,
	     .result = "not_found",
	     .id = "b",
	     .idlen = 1,
	     .version = 1,
	     .primary_term = 1},
	    {.status = 200,
	     .result = "noop",
	     .id = "c",
	     .idlen = 1,
	     .version = 4,
	     .seq_no = 5,
	     .primary_term = 1},
	    {.status = 409,
	     .id = "d",
	     .idlen = 1,
	     .error_type = "version_conflict_engine_exception",
	     .reason = "[d]: version conflict, document already exists (current version [2])"},
	    {0},
	};
	json_t *got = render(&b, res, 12);
	json_t *want = json_loads(
	    "{\"took\":12,\"errors\":true,\"items\":["
	    "{\"index\":{\"_index\":\"t\",\"_id\":\"a\",\"_version\":1,\"result\":\"created\","
	    "\"_shards\":{\"total\":1,\"successful\":1,\"failed\":0},\"_seq_no\":7,"
	    "\"_primary_term\":1,\"status\":201}},"
	    "{\"delete\":{\"_index\":\"t\",\"_id\":\"b\",\"_version\":1,\"result\":\"not_found\","
	    "\"_shards\":{\"total\":1,\"successful\":1,\"failed\":0},\"_seq_no\":0,"
	    "\"_primary_term\":1,\"status\":404}},"
	    "{\"update\":{\"_index\":\"t\",\"_id\":\"c\",\"_version\":4,\"result\":\"noop\","
	    "\"_shards\":{\"total\":0,\"successful\":0,\"failed\":0},\"_seq_no\":5,"
	    "\"_primary_term\":1,\"status\":200}},"
	    "{\"create\":{\"_index\":\"t\",\"_id\":\"d\",\"status\":409,\"error\":{\"type\":"
	    "\"version_conflict_engine_exception\",\"reason\":\"[d]: version conflict, document "
	    "already exists (current version [2])\",\"index\":\"t\"}}},"
	    "{\"delete\":{\"_index\":\"t\",\"_id\":\"e\",\"status\":400,\"error\":{\"type\":"
	    "\"illegal_argument_exception\",\"reason\":\"line 8: [routing] is not supported by "
	    "trawl\",\"index\":\"t\"}}}]}",
	    0, NULL);
	assert_non_null(want);
	if (!json_equal(got, want)) {
		char *s = json_dumps(got, JSON_COMPACT);
		fail_msg("%s", s);
	}
	json_decref(got);
	json_decref(want);
	/* only a not_found and successes: no errors */
	b.n = 2;
	got = render(&b, res, 0);
	assert_true(json_is_false(json_object_get(got, "errors")));
	json_decref(got);
	b.n = 5;
	os_bulk_free(&b);
}

/* Thousands of random items of every shape, rendered both ways: the same
 * bytes, compact and indented (?pretty). */
static void test_answer_bytes_as_jansson_wrote(void **state)
{
	(void)state;
	static const char *const results[] = {"created", "updated", "deleted", "not_found", "noop"};
	static const char *const types[] = {NULL, "mapper_parsing_exception",
	                                    "version_conflict_engine_exception"};
	static char indexes[4][64];
	for (int round = 0; round < 200; round++) {
		os_bulk b = {.n = 1 + rnd(40)};
		b.items = calloc(b.n, sizeof *b.items);
		idx_wres *res = calloc(b.n, sizeof *res);
		assert_non_null(b.items);
		assert_non_null(res);
		for (int i = 0; i < 4; i++)
			random_text(indexes[i], sizeof indexes[i]);
		for (uint32_t i = 0; i < b.n; i++) {
			os_bulk_item *it = &b.items[i];
			idx_wres *r = &res[i];
			it->req.act = (idx_wact)rnd(5); /* 0: shown as index */
			it->index = rnd(5) ? indexes[rnd(4)] : NULL;
			char id[LIMIT_ID_BYTES + 1];
			size_t idlen = random_text(id, sizeof id);
			uint32_t at = idlen ? rnd((uint32_t)idlen) : 0;
			if (idlen && rnd(8) == 0 && (unsigned char)id[at] < 0x80)
				id[at] = 0; /* a NUL inside (in place of an ASCII byte) */
			if (rnd(3) == 0) {  /* failed while read */
				it->failed = 1;
				it->status = rnd(2) ? 400 : 404;
				it->error_type = types[rnd(3)];
				char why[LIMIT_ERRMSG_BYTES];
				random_text(why, sizeof why);
				it->reason = rnd(6) ? strdup(why) : NULL;
				if (rnd(2)) {
					it->id = malloc(idlen + 1);
					memcpy(it->id, id, idlen + 1);
					it->req.idlen = (uint32_t)idlen;
				}
				continue;
			}
			memcpy(r->id, id, idlen + 1);
			r->idlen = (uint32_t)idlen;
			r->status = (int)rnd(600);
			if (rnd(3)) {
				r->result = results[rnd(5)];
				r->version = rnd(4) ? rnd(10) : (uint64_t)INT64_MAX - rnd(3);
				r->seq_no = rnd(4) ? rnd(1000) : ((uint64_t)1 << 62) + rnd(1000);
				r->primary_term = 1;
			} else {
				r->error_type = types[rnd(3)];
				random_text(r->reason, sizeof r->reason);
			}
		}
		uint64_t took = rnd(4) ? rnd(100000) : (uint64_t)INT64_MAX;
		json_t *old = jansson_answer(&b, res, took);
		char *want = json_dumps(old, JSON_COMPACT | JSON_REAL_PRECISION(8));
		tbuf got;
		tbuf_init(&got, SIZE_MAX / 2);
		assert_int_equal(os_bulk_render(&got, &b, res, took), TRAWL_OK);
		if (got.len != strlen(want) || memcmp(got.data, want, got.len)) {
			size_t at = 0;
			while (at < got.len && got.data[at] == (uint8_t)want[at])
				at++;
			size_t from = at > 40 ? at - 40 : 0;
			fail_msg("round %d, byte %zu:\n got %.80s\nwant %.80s", round, at,
			         (const char *)tbuf_cstr(&got) + from, want + from);
		}
		/* ?pretty: the handler has jansson indent the bytes it wrote */
		json_t *back = json_loadb((const char *)got.data, got.len, JSON_ALLOW_NUL, NULL);
		char *p1 = json_dumps(old, JSON_INDENT(2) | JSON_REAL_PRECISION(8));
		char *p2 = json_dumps(back, JSON_INDENT(2) | JSON_REAL_PRECISION(8));
		assert_non_null(p2);
		assert_string_equal(p1, p2);
		free(p1);
		free(p2);
		json_decref(back);
		free(want);
		json_decref(old);
		tbuf_fini(&got);
		for (uint32_t i = 0; i < b.n; i++)
			os_bulk_item_fini(&b.items[i]);
		free(b.items);
		free(res);
	}
}

/* Bytes that are not UTF-8 (jansson left such a member out of the answer):
 * each is written as '?', and the answer is still JSON. */
static void test_answer_with_bad_utf8(void **state)
{
	(void)state;
	os_bulk_item it = {.req.act = IDX_WACT_INDEX, .index = "ix\xff"};
	idx_wres r = {.status = 400, .error_type = "mapper_parsing_exception", .idlen = 3};
	memcpy(r.id, "a\xc3z", 4);
	snprintf(r.reason, sizeof r.reason, "cut in the middle: \xe2\x82");
	os_bulk b = {.items = &it, .n = 1};
	tbuf out;
	tbuf_init(&out, SIZE_MAX / 2);
	assert_int_equal(os_bulk_render(&out, &b, &r, 3), TRAWL_OK);
	const char *want = "{\"took\":3,\"errors\":true,\"items\":[{\"index\":{\"_index\":\"ix?\","
	                   "\"_id\":\"a?z\",\"status\":400,\"error\":{\"type\":"
	                   "\"mapper_parsing_exception\",\"reason\":\"cut in the middle: ??\","
	                   "\"index\":\"ix?\"}}}]}";
	assert_int_equal(out.len, strlen(want));
	assert_memory_equal(out.data, want, out.len);
	tbuf_fini(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_the_documentation_example),
	    cmocka_unit_test(test_bad_lines_fail_their_items),
	    cmocka_unit_test(test_whole_request_refusals),
	    cmocka_unit_test(test_action_lines_scanned_as_jansson_reads_them),
	    cmocka_unit_test(test_answer_rendered),
	    cmocka_unit_test(test_answer_bytes_as_jansson_wrote),
	    cmocka_unit_test(test_answer_with_bad_utf8),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
