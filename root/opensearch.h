/*
 * opensearch.h - the REST handlers of the OpenSearch-compatible subset of
 * the root's HTTP API (docs/HTTP.md, "OpenSearch-compatible endpoints"), so
 * that existing OpenSearch clients can search a trawl cluster: GET /,
 * /_cluster/health, /{index}/_search, /{index}/_count, /{index}/_doc/{id},
 * /{index}/_mapping (root/mapping.h).
 * Writes are refused with 405: trawl indexes are built in batches (trawl
 * index). The query DSL itself is compiled by root/dsl.h.
 */
#ifndef TRAWL_ROOT_OPENSEARCH_H
#define TRAWL_ROOT_OPENSEARCH_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/http.h"
#include "common/qtree.h"
#include "root/root.h"

/* The OpenSearch version reported by GET /: clients check version.number
 * and version.distribution ("opensearch") before talking to a server. */
#define OS_COMPAT_VERSION "2.11.0"

/*
 * os_search_req - a _search or _count request, parsed from its URL
 * parameters and JSON body (os_parse_search).
 */
typedef struct os_search_req {
	qt_node *tree;        /* the query (owned), or NULL with qerr */
	char *text;           /* the query as its user wrote it, for messages (malloc'ed):
	                         the q parameter, a query_string that is the whole query
	                         or one that does not parse; NULL: a DSL query, shown as
	                         its tree's dump */
	int qerr;             /* the query's text does not parse: the trawl_err, which
	                         search answers as the engine refusing the query */
	char qreason[512];    /* why: "column N: ..." */
	uint32_t from, size;  /* size may be 0: no hits, only the total */
	int track_total;      /* 0: no total, 1: exact total */
	uint64_t track_limit; /* report at most this total ("gte" beyond it); UINT64_MAX: no cap */
	int rest_total_int;   /* rest_total_hits_as_int: hits.total as a number */
	int source;           /* 0: no _source, 1: all of it, 2: filtered */
	json_t *includes;     /* source filter patterns (arrays of strings), or NULL */
	json_t *excludes;
	unsigned timeout_ms; /* 0: the root's default */
	int allow_partial;   /* allow_partial_search_results (default true) */
	char *preference;    /* malloc'ed, or NULL */
	int pretty;
	int track_scores; /* show scores even when sorted by fields without _score */
	uint32_t nsort;   /* "sort" by fields (0: by score), its keys' names in sort_names */
	trawl_sort sort[TRAWL_MAX_SORT_KEYS];
	char sort_names[TRAWL_MAX_SORT_KEYS][LIMIT_FIELD_NAME_BYTES + 1];
	char *search_after;     /* "search_after" as JSON (malloc'ed), or NULL */
	struct aggs_spec *aggs; /* "aggs" / "aggregations" (owned), or NULL */
	char *aggs_canon;       /* its canonical text (malloc'ed) */
	size_t aggs_canon_len;
} os_search_req;

/* An error answer: HTTP status, OpenSearch error type and reason. */
typedef struct os_error {
	int status;
	char type[64];
	char reason[1024];
} os_error;

/*
 * os_parse_search parses a _search (count_only 0) or _count (count_only 1)
 * request: qs is the raw URL query string (not decoded; may be NULL), body
 * the request body (may be empty). On success fills *out (release with
 * os_search_req_fini) and returns 0: out->tree is the query (`*:*` when
 * none is given), or out->qerr says that its text does not parse (an answer
 * like a failed search's, not a bad request). On failure fills *err and
 * returns -1. path only names the endpoint in error messages.
 */
int os_parse_search(const char *path, const char *qs, const uint8_t *body, size_t body_len,
                    int count_only, os_search_req *out, os_error *err);
void os_search_req_fini(os_search_req *r);

/*
 * os_filter_source returns a new JSON value: src with only the keys that
 * match includes (glob patterns on dotted paths; NULL or empty: all) and
 * none of excludes (NULL: none). src is not changed.
 */
json_t *os_filter_source(json_t *src, json_t *includes, json_t *excludes);

/*
 * os_index_matches resolves an OpenSearch index expression (comma-separated
 * names and wildcard patterns; "_all" and "*" match everything; "-pattern"
 * excludes) against the one index served, name. Returns 1 if it names the
 * index, 0 if it only holds patterns that do not match (an empty result,
 * not an error), -1 if it names another index: missing (cap bytes) then
 * holds that name.
 */
int os_index_matches(const char *expr, const char *name, char *missing, size_t cap);

/*
 * os_render_search writes res as an OpenSearch search response for index
 * name and request sr (hits' _source filtered as sr asks), indented when
 * pretty: scores at 8 significant digits (they are floats); stored
 * documents, sort values and aggregations as the leaves and the root
 * wrote them, at full precision (a filtered _source too). The caller's
 * (free); NULL when out of memory.
 */
char *os_render_search(const root_result *res, const os_search_req *sr, const char *name,
                       int pretty);

/*
 * os_handle serves an OpenSearch-style request on r, whose index is called
 * index_name. Sets *handled to 1 if the path is one of this module's (resp
 * is then filled, possibly with an error), to 0 otherwise (resp untouched:
 * the caller answers 404). Thread-safe.
 */
void os_handle(root *r, const char *index_name, const http_request *req, http_response *resp,
               int *handled);

#endif
