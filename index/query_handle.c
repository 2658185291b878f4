/*
 * query_handle.c - trawl_query_*: a query parsed once (or decoded from the
 * canonical bytes another process encoded) and searched many times, from
 * any thread; it holds a query tree (common/qtree.h).
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/hash.h"
#include "gen.h"
#include "handles.h"
#include "postings.h"
#include "search.h"

/* query_wrap hands tree to a new query in *out; TRAWL_ENOMEM frees it. */
static int query_wrap(qt_node *tree, trawl_query **out)
{
	*out = malloc(sizeof **out);
	if (!*out) {
		qt_free(tree);
		return TRAWL_ENOMEM;
	}
	(*out)->tree = tree;
	return TRAWL_OK;
}

int trawl_query_parse(trawl_query **out, const char *text, size_t len, int default_op, char *errbuf,
                      size_t errlen)
{
	qt_node *tree = NULL;
	*out = NULL;
	int rc = idx_query_parse(text, len, default_op, &tree, errbuf, errlen);
	if (!rc && (rc = query_wrap(tree, out)))
		errf(errbuf, errlen, rc, "out of memory");
	return rc;
}

int trawl_query_decode(trawl_query **out, const void *bytes, size_t len, char *errbuf,
                       size_t errlen)
{
	qt_node *tree = NULL;
	*out = NULL;
	int rc = qt_decode(bytes, len, &tree, errbuf, errlen);
	if (!rc && (rc = query_wrap(tree, out)))
		errf(errbuf, errlen, rc, "out of memory");
	return rc;
}

int trawl_query_encode(const trawl_query *q, void **bytes, size_t *len)
{
	tbuf b;
	tbuf_init(&b, TRAWL_MAX_QUERY_TREE_BYTES);
	*bytes = NULL;
	*len = 0;
	int rc = qt_encode(q->tree, &b, NULL, 0);
	if (rc) {
		tbuf_fini(&b);
		return rc;
	}
	*bytes = b.data; /* the caller's now, so b is not finalised */
	*len = b.len;
	return TRAWL_OK;
}

int trawl_query_parse_filter(trawl_query **out, const char *text, size_t len, char *errbuf,
                             size_t errlen)
{
	qt_node *tree = NULL;
	*out = NULL;
	int rc = idx_query_parse_filter(text, len, &tree, errbuf, errlen);
	if (!rc && (rc = query_wrap(tree, out)))
		errf(errbuf, errlen, rc, "out of memory");
	return rc;
}

int trawl_query_filter(trawl_query **q, const trawl_query *filter, char *errbuf, size_t errlen)
{
	/* on copies, so that *q is unchanged if it fails */
	qt_node *f = qt_copy(filter->tree), *base = *q ? qt_copy((*q)->tree) : NULL, *t = NULL;
	if (!f || (*q && !base)) {
		qt_free(f);
		qt_free(base);
		return errf(errbuf, errlen, TRAWL_ENOMEM, "out of memory");
	}
	int rc = qt_with_filter(base, f, &t, errbuf, errlen);
	if (rc)
		return rc;
	if (*q) {
		qt_free((*q)->tree);
		(*q)->tree = t;
		return TRAWL_OK;
	}
	if ((rc = query_wrap(t, q)))
		errf(errbuf, errlen, rc, "out of memory");
	return rc;
}

void trawl_query_free(trawl_query *q)
{
	if (q)
		qt_free(q->tree);
	free(q);
}
