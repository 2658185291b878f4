/*
 * fuzz_query.c - fuzz target for the query parser (index/query.c).
 *
 * Query strings come straight from users, so the parser must survive any
 * bytes. Each input is parsed whole with both default operators; besides
 * crashes, leaks and sanitizer reports, the target checks what it can cheaply
 * check: the error message is terminated inside its buffer, a failure leaves
 * no tree, dump's truncation behaves like snprintf's, the dump of a tree
 * reads back (with the OR default, where an unprefixed clause is SHOULD) to
 * the same dump, and the tree keeps the query tree's rules and limits
 * (common/qtree.h): it encodes, and the encoding decodes to a tree that
 * encodes to the same bytes. Each input is also parsed as a filter
 * (idx_query_parse_filter), which must give FILTER and NOT clauses that
 * combine (qt_with_filter) alone and with the input's own query tree.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/query.h"
#include "trawl/trawl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_query: %s\n", what);
		abort();
	}
}

static void one(const char *q, size_t len, int op, size_t errlen)
{
	char err[256];
	qt_node *root = (qt_node *)&root; /* must be overwritten */
	memset(err, 'x', sizeof err);
	int rc = idx_query_parse(q, len, op, &root, errlen ? err : NULL, errlen);
	if (errlen)
		check(memchr(err, '\0', errlen) != NULL, "err not terminated");
	if (rc != TRAWL_OK) {
		check(root == NULL, "tree left on failure");
		check(rc == TRAWL_EQUERY || rc == TRAWL_ELIMIT || rc == TRAWL_EUTF8 ||
		          rc == TRAWL_ENOMEM,
		      "unexpected error code");
		check(errlen < 2 || err[0] != '\0', "no message");
		return;
	}
	check(root && root->kind == QT_BOOL && root->nkids > 0, "bad root");

	/* The tree keeps the rules and limits, and its encoding is canonical. */
	tbuf b1, b2;
	tbuf_init(&b1, TRAWL_MAX_QUERY_TREE_BYTES);
	tbuf_init(&b2, TRAWL_MAX_QUERY_TREE_BYTES);
	qt_node *back = NULL;
	check(qt_encode(root, &b1, err, sizeof err) == TRAWL_OK, "parsed tree does not encode");
	check(qt_decode(b1.data, b1.len, &back, err, sizeof err) == TRAWL_OK,
	      "encoding does not decode");
	check(qt_encode(back, &b2, NULL, 0) == TRAWL_OK && b1.len == b2.len &&
	          memcmp(b1.data, b2.data, b1.len) == 0,
	      "encoding is not canonical");
	qt_free(back);
	tbuf_fini(&b1);
	tbuf_fini(&b2);

	/* Inherited fields can make a dump much longer than its query. */
	size_t need = qt_dump(root, NULL, 0);
	char *dump1 = malloc(need + 1), *dump2 = malloc(need + 1);
	check(dump1 && dump2, "out of memory");
	check(qt_dump(root, dump1, need + 1) == need && strlen(dump1) == need, "dump length");
	char small[7];
	check(qt_dump(root, small, sizeof small) == need, "truncated dump length");
	check(strncmp(small, dump1, sizeof small - 1) == 0 && strlen(small) < sizeof small,
	      "truncated dump");

	/* The dump reads back as one group holding the same tree. */
	qt_node *again = NULL;
	int rc2 = idx_query_parse(dump1, need, 0, &again, NULL, 0);
	if (rc2 == TRAWL_OK) {
		check(again->nkids == 1, "dump re-parsed to several clauses");
		check(qt_dump(again->kids[0], dump2, need + 1) == need && strcmp(dump1, dump2) == 0,
		      "dump does not round-trip");
	} else {
		/* Escapes, inherited fields and the extra parentheses may push a
		 * valid query over a limit, nothing else. */
		check(rc2 == TRAWL_ELIMIT, "dump does not parse");
	}
	qt_free(again);
	qt_free(root);
	free(dump1);
	free(dump2);
}

/* The same text as a filter (idx_query_parse_filter): a root of FILTER and
 * NOT clauses that keeps every rule, alone (qt_with_filter with no query)
 * and narrowing the text parsed as a query. */
static void as_filter(const char *q, size_t len)
{
	char err[256];
	qt_node *f = (qt_node *)&f, *t = (qt_node *)&t;
	int rc = idx_query_parse_filter(q, len, &f, err, sizeof err);
	if (rc != TRAWL_OK) {
		check(f == NULL, "filter left on failure");
		check(rc == TRAWL_EQUERY || rc == TRAWL_ELIMIT || rc == TRAWL_EUTF8 ||
		          rc == TRAWL_ENOMEM,
		      "unexpected filter error code");
		check(err[0] != '\0', "no filter message");
		return;
	}
	check(qt_check(f, err, sizeof err) == TRAWL_OK, "filter breaks a rule");
	for (uint32_t i = 0; i < f->nkids; i++)
		check(f->kids[i]->occur == QT_FILTER || f->kids[i]->occur == QT_NOT,
		      "filter clause neither FILTER nor NOT");
	qt_node *copy = qt_copy(f);
	check(copy != NULL, "out of memory");
	rc = qt_with_filter(NULL, copy, &t, err, sizeof err);
	check(rc == TRAWL_OK || rc == TRAWL_ELIMIT, "a filter alone does not combine");
	qt_free(t);
	qt_node *query = NULL;
	if (idx_query_parse(q, len, 0, &query, NULL, 0) == TRAWL_OK) {
		rc = qt_with_filter(query, f, &t, err, sizeof err);
		check(rc == TRAWL_OK || rc == TRAWL_ELIMIT, "query and filter do not combine");
		check(rc || qt_check(t, err, sizeof err) == TRAWL_OK,
		      "combined tree breaks a rule");
		qt_free(t);
	} else {
		qt_free(f);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *q = (const char *)data;
	one(q, size, 0, 256);
	one(q, size, 1, size % 24);
	as_filter(q, size);
	return 0;
}
