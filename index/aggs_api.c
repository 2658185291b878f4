/*
 * aggs_api.c - trawl_aggs_*: an aggregation request parsed for libtrawl
 * (common/aggs.h holds the request and the partials, index/aggs_collect.h
 * the collecting; the search runs them: searcher.c). A filter or filters
 * aggregation's query is compiled by the OpenSearch DSL's compiler
 * (root/dsl.c, linked into libtrawl) into an encoded query tree, which each
 * shard evaluates into a bitset (idx_shard_bits).
 */
#include <stdlib.h>
#include <string.h>

#include "common/aggs.h"
#include "common/error.h"
#include "common/qtree.h"
#include "handles.h"
#include "root/dsl.h"

/* aggs_compile_fn: a DSL query into an encoded query tree. */
static int compile_dsl(void *ctx, json_t *query, void **out, size_t *out_len, char *err,
                       size_t errlen)
{
	(void)ctx;
	qt_node *t = NULL;
	const char *text = NULL;
	dsl_error de = {0};
	int rc = dsl_compile(query, &t, &text, &de);
	if (rc)
		return errf(err, errlen, rc, "%s", de.reason);
	tbuf b;
	tbuf_init(&b, TRAWL_MAX_QUERY_TREE_BYTES);
	rc = qt_encode(t, &b, err, errlen);
	qt_free(t);
	if (rc) {
		tbuf_fini(&b);
		return rc;
	}
	*out = b.data; /* the tbuf's buffer, malloc'ed: the spec frees it */
	*out_len = b.len;
	return TRAWL_OK;
}

int trawl_aggs_parse(trawl_aggs **out, const char *json, size_t len, char *err, size_t errlen)
{
	*out = NULL;
	trawl_aggs *a = calloc(1, sizeof *a);
	if (!a)
		return errf(err, errlen, TRAWL_ENOMEM, "out of memory");
	/* a root's canonical form first; then a user's request */
	if (aggs_spec_read(json, len, &a->spec, NULL, 0) == TRAWL_OK) {
		*out = a;
		return TRAWL_OK;
	}
	json_error_t je;
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		free(a);
		return errf(err, errlen, TRAWL_EINVAL, "aggs: not JSON: %s (line %d, column %d)",
		            je.text, je.line, je.column);
	}
	int rc = aggs_parse(root, compile_dsl, NULL, &a->spec, err, errlen);
	json_decref(root);
	if (rc) {
		free(a);
		return rc;
	}
	*out = a;
	return TRAWL_OK;
}

int trawl_aggs_write(const trawl_aggs *a, char **out, size_t *len)
{
	return aggs_spec_write(a->spec, out, len);
}

void trawl_aggs_free(trawl_aggs *a)
{
	if (!a)
		return;
	aggs_spec_free(a->spec);
	free(a);
}
