/*
 * rest.h - what the OpenSearch-compatible REST handlers share: the error
 * and response shapes (errors as {"error": {"root_cause", "type",
 * "reason"[, "index"]}, "status"}), URL parameters decoded and checked
 * against each endpoint's list, and the common refusals. Kept apart so
 * that root/opensearch.c (searches, documents, writes) and root/indices.c
 * (index management) answer alike.
 */
#ifndef TRAWL_ROOT_REST_H
#define TRAWL_ROOT_REST_H

#include <jansson.h>
#include <stddef.h>

#include "common/http.h"
#include "common/limits.h"
#include "root/catalog.h"

/* An error answer: HTTP status, OpenSearch error type and reason. */
typedef struct os_error {
	int status;
	char type[64];
	char reason[1024];
} os_error;

/* os_in_list: whether s is one of the NULL-terminated list. */
int os_in_list(const char *const *list, const char *s);
/* os_set_err fills *e; returns -1. */
int os_set_err(os_error *e, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* os_jstr: a JSON string of s, any invalid UTF-8 byte replaced by '?'. */
json_t *os_jstr(const char *s);

/* os_send_text answers JSON text s (freed here; NULL: out of memory), with
 * a final newline when pretty. */
void os_send_text(http_response *resp, int status, char *s, int pretty);
/* os_send_json answers j (its reference taken), indented when pretty. */
void os_send_json(http_response *resp, int status, json_t *j, int pretty);
/* os_send_err answers the error e in OpenSearch's shape; index (may be
 * NULL) is named in it. */
void os_send_err(http_response *resp, const os_error *e, const char *index, int pretty);
void os_send_errf(http_response *resp, int pretty, int status, const char *type, const char *index,
                  const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* A request's URL parameters, decoded ('+' a space, %XX a byte). */
typedef struct qparams {
	size_t n;
	char *k[LIMIT_HTTP_PARAMS], *v[LIMIT_HTTP_PARAMS];
} qparams;

/* qs_parse decodes the raw query string qs (may be NULL) into *p (free
 * with qs_free); -1 with *e for more than LIMIT_HTTP_PARAMS or a NUL. */
int qs_parse(const char *qs, qparams *p, os_error *e);
void qs_free(qparams *p);
/* qs_get: the value of parameter name, or NULL. */
const char *qs_get(const qparams *p, const char *name);
/* qs_check: -1 with *e naming the first parameter neither in allowed nor
 * one every endpoint takes (pretty, human, error_trace, format). */
int qs_check(const qparams *p, const char *const *allowed, const char *path, os_error *e);
/* os_parse_flag: "" or "true" 1, "false" 0; -1 for anything else. */
int os_parse_flag(const char *s, int *out);

/* 405: this server does not take the write. */
void os_refuse_write(http_response *resp, int pretty);
/* 405 naming the methods the path allows. */
void os_bad_method(http_response *resp, int pretty, const http_request *req, const char *allowed);
/* 404 index_not_found_exception for index. */
void os_index_not_found(http_response *resp, int pretty, const char *index);
/* The answer to a failed cat_resolve (root/catalog.h): 404 for the
 * missing name, 400 for an expression that cannot be (a write to an
 * alias without a write index, too many items). */
void os_resolve_failed(http_response *resp, int pretty, int rc, const char *missing,
                       const char *err);

/* os_begin: the start of a handler on the indexes expr names: the URL's
 * parameters checked against params, expr resolved into *set (held:
 * cat_set_release). 0, or -1 with resp answered. */
int os_begin(catalog *c, const char *expr, const char *const *params, const qparams *qp,
             const http_request *req, http_response *resp, int pretty, cat_set *set);

/* os_uuid: a stable uuid-looking string (22 characters of base64url) made
 * from name: a cluster's or an index's uuid in the answers. */
void os_uuid(const char *name, char out[23]);

#endif
