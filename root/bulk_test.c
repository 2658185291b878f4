/*
 * bulk_test.c - _bulk bodies (root/bulk.c): OpenSearch's own example read
 * into the right write requests; each malformed or unsupported line fails
 * its item by line number while the others are read; what fails the whole
 * request (no newline at the end, nothing, too big, too many items); and
 * answers rendered as OpenSearch writes them.
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
	json_t *got = os_bulk_render(&b, res, 12);
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
	got = os_bulk_render(&b, res, 0);
	assert_true(json_is_false(json_object_get(got, "errors")));
	json_decref(got);
	b.n = 5;
	os_bulk_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_the_documentation_example),
	    cmocka_unit_test(test_bad_lines_fail_their_items),
	    cmocka_unit_test(test_whole_request_refusals),
	    cmocka_unit_test(test_answer_rendered),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
