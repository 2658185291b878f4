/*
 * bulk.h - OpenSearch's _bulk body, compiled: newline-delimited action and
 * document lines in, write requests (index/ingest.h) out; and the items of
 * the answer rendered from their outcomes. It knows nothing of HTTP or of
 * the root: the REST handler calls it (issue #12, being built), and so does
 * its test (root/bulk_test.c).
 *
 * Each action line is a JSON object with one key, index, create, update or
 * delete, whose value holds the item's metadata (_index, _id, if_seq_no,
 * if_primary_term, and for update retry_on_conflict); index and create are
 * followed by the document's line, update by a line with doc, upsert,
 * doc_as_upsert and detect_noop. An action with a bad or unsupported
 * parameter (routing, external versions, pipelines, scripts: never
 * silently ignored), or a bad update line, fails its own item, named by its
 * line number, and the rest of the body goes on; a bad document is the
 * ingest's to refuse, for its item alone. A line that is not an action
 * line at all refuses the whole request, as OpenSearch does: the line
 * after it could be read as an action (a delete of another document) and
 * every later item would be shifted. Blank lines are skipped.
 */
#ifndef TRAWL_ROOT_BULK_H
#define TRAWL_ROOT_BULK_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/limits.h"
#include "index/ingest.h"

typedef struct os_bulk_item {
	idx_wreq req;           /* points into the body, or at id, owned_doc, owned_upsert */
	const char *index;      /* its _index, or the URL's (NULL: none) */
	uint64_t line;          /* the action line's number, from 1 */
	int failed;             /* it failed while being read: */
	int status;             /*   its status, */
	const char *error_type; /* OpenSearch's error type */
	char *reason;           /*   and why (NULL: out of memory) */
	char *id;               /* the given id (NULL: none, one is generated) */
	char *index_owned;      /* a given _index */
	char *owned_doc;        /* update: doc and upsert, written out again */
	char *owned_upsert;
} os_bulk_item;

typedef struct os_bulk {
	os_bulk_item *items;
	uint32_t n;
} os_bulk;

/*
 * os_bulk_parse reads body (len bytes) for index default_index (the URL's;
 * NULL: none, and every item must name one). The whole request fails only
 * when it cannot be read at all: a body over LIMIT_BULK_BYTES, more than
 * LIMIT_WLOG_APPEND_OPS items, none, or not ending in a newline (status
 * 400 or 413 in *status, OpenSearch's reason in err). out is the caller's
 * (os_bulk_free), and points into body, which must outlive it.
 */
int os_bulk_parse(const char *body, size_t len, const char *default_index, os_bulk *out,
                  int *status, char *err, size_t errlen);

/* os_bulk_parse_jansson: the same, with every action line read by jansson
 * (os_bulk_parse scans the usual ones with index/jsonscan.c, and leaves the
 * others to jansson): the reference root/bulk_test.c holds it to. */
int os_bulk_parse_jansson(const char *body, size_t len, const char *default_index, os_bulk *out,
                          int *status, char *err, size_t errlen);
void os_bulk_free(os_bulk *b);

/* os_update_parse reads the body of POST /{index}/_update/{id} (doc,
 * upsert, doc_as_upsert, detect_noop), as a _bulk update's line is read,
 * into it->req (whose act, id and conditions the caller sets); it->failed,
 * status, error_type and reason say whether it failed and why.
 * os_bulk_item_fini frees what it made. */
void os_update_parse(const char *body, size_t len, os_bulk_item *it);
void os_bulk_item_fini(os_bulk_item *it);

/*
 * os_bulk_render: OpenSearch's answer to b, whose items that did not fail
 * while read have outcomes res[i], appended to out as compact JSON text:
 * {"took", "errors", "items": [{action: {_index, _id, _version, result,
 * _shards, _seq_no, _primary_term, status}} or {action: {_index, _id,
 * status, error: {type, reason, index}}}]}. Written directly, not built
 * with jansson (a fifth of a _bulk's cost was that), in the bytes jansson's
 * json_dumps(JSON_COMPACT) wrote (root/bulk_test.c compares them). TRAWL_OK
 * or TRAWL_ENOMEM.
 */
int os_bulk_render(tbuf *out, const os_bulk *b, const idx_wres *res, uint64_t took_ms);

/* os_bulk_render_item appends one item of that answer ({action: {...}}; r
 * NULL or ignored when it failed while read), so that a handler deciding a
 * large request in chunks renders each chunk's items as it goes; and
 * os_bulk_render_answer wraps the items so rendered (len bytes, joined by
 * commas) into the answer. */
int os_bulk_render_item(tbuf *out, const os_bulk_item *it, const idx_wres *r);
int os_bulk_render_answer(tbuf *out, uint64_t took_ms, int errors, const void *items, size_t len);

#endif
