/*
 * opensearch.h - the REST handlers of the OpenSearch-compatible subset of
 * the root's HTTP API (docs/HTTP.md, "OpenSearch-compatible endpoints"), so
 * that existing OpenSearch clients can search and write trawl indexes: GET
 * /, /_cluster/health, /{index}/_search, /{index}/_count, documents and
 * writes (/{index}/_doc, _create, _update, _bulk, _refresh), /{index}/_mapping
 * (root/mapping.h); index management is root/indices.c's. The indexes are a
 * catalog's (root/catalog.h); the query DSL itself is compiled by
 * root/dsl.h.
 */
#ifndef TRAWL_ROOT_OPENSEARCH_H
#define TRAWL_ROOT_OPENSEARCH_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/http.h"
#include "common/qtree.h"
#include "root/catalog.h"
#include "root/rest.h"
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
	unsigned timeout_ms;    /* 0: the root's default */
	int allow_partial;      /* allow_partial_search_results (default true) */
	int ignore_unavailable; /* a name that is no index is left out (default false) */
	int allow_no_indices;   /* patterns matching nothing answer empty (default true) */
	char *preference;       /* malloc'ed, or NULL */
	int no_cache;           /* request_cache=false: the root's result cache is not used */
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

/* os_index_mapping: the schema of the index r serves, as an OpenSearch
 * mapping (*out, a new reference). TRAWL_EIO when no replica answered. */
int os_index_mapping(root *r, json_t **out, char *err, size_t errlen);

/* os_indices_handle serves index management (root/indices.c): /{index}
 * (HEAD, GET, PUT, DELETE), /_cat/indices, /_aliases, /_alias and
 * /{index}/_alias. Returns 0 when the path is none of these (resp
 * untouched). a, b, rest: the path's first two segments and the rest. */
int os_indices_handle(catalog *c, const char *a, const char *b, const char *rest, const qparams *qp,
                      const http_request *req, http_response *resp, int pretty);

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
/* os_render_search_many: the same for a search over several indexes, each
 * hit's _index names[hit.source]. */
char *os_render_search_many(const root_result *res, const os_search_req *sr,
                            const char *const *names, uint32_t nnames, int pretty);

/*
 * os_handle serves an OpenSearch-style request on the indexes of c. Sets
 * *handled to 1 if the path is one of this module's (resp is then filled,
 * possibly with an error), to 0 otherwise (resp untouched: the caller
 * answers 404). Thread-safe.
 */
void os_handle(catalog *c, const http_request *req, http_response *resp, int *handled);

#endif
