/*
 * rest.c - the pieces every OpenSearch-compatible REST handler shares
 * (root/rest.h): the response and error shapes, URL parameters, and the
 * common refusals. root/opensearch.c (searches, documents, writes) and
 * root/indices.c (index management) both answer through them.
 */
#include "root/rest.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/utf8.h"

int os_in_list(const char *const *list, const char *s)
{
	for (; list && *list; list++)
		if (!strcmp(*list, s))
			return 1;
	return 0;
}

int os_set_err(os_error *e, int status, const char *type, const char *fmt, ...)
{
	e->status = status;
	snprintf(e->type, sizeof e->type, "%s", type);
	va_list ap;
	va_start(ap, fmt);
	verrf(e->reason, sizeof e->reason, 0, fmt, ap);
	va_end(ap);
	return -1;
}

/* A JSON string of s, with any invalid UTF-8 byte replaced by '?'. */
json_t *os_jstr(const char *s)
{
	json_t *j = json_string(s);
	if (j)
		return j;
	size_t n = strlen(s);
	char *t = malloc(n + 1);
	if (!t)
		return json_string("");
	for (size_t i = 0; i < n;) {
		size_t adv;
		if (utf8_next(s + i, n - i, &adv) == UINT32_MAX) {
			t[i++] = '?';
		} else {
			memcpy(t + i, s + i, adv);
			i += adv;
		}
	}
	t[n] = 0;
	j = json_string(t);
	free(t);
	return j ? j : json_string("");
}

/* Sends text s (JSON; freed here, NULL: out of memory), with a final
 * newline when pretty. */
void os_send_text(http_response *resp, int status, char *s, int pretty)
{
	if (!s) {
		http_response_error(resp, 500, "exception", "out of memory");
		return;
	}
	size_t n = strlen(s);
	if (pretty) {
		char *t = realloc(s, n + 2);
		if (t) {
			s = t;
			s[n++] = '\n';
			s[n] = 0;
		}
	}
	http_response_json(resp, status, s, n);
	free(s);
}

void os_send_json(http_response *resp, int status, json_t *j, int pretty)
{
	char *s =
	    j ? json_dumps(j, (pretty ? JSON_INDENT(2) : JSON_COMPACT) | JSON_REAL_PRECISION(8))
	      : NULL;
	json_decref(j);
	os_send_text(resp, status, s, pretty);
}

/* The OpenSearch error shape:
 * {"error":{"root_cause":[{type, reason[, index]}], type, reason[, index]}, "status": N} */
void os_send_err(http_response *resp, const os_error *e, const char *index, int pretty)
{
	json_t *cause = json_object();
	json_object_set_new(cause, "type", json_string(e->type));
	json_object_set_new(cause, "reason", os_jstr(e->reason));
	if (index) {
		json_object_set_new(cause, "index", os_jstr(index));
		json_object_set_new(cause, "index_uuid", json_string("_na_"));
	}
	json_t *err = json_object();
	json_object_set_new(err, "root_cause", json_pack("[O]", cause));
	json_object_update(err, cause);
	json_decref(cause);
	os_send_json(resp, e->status, json_pack("{s:o, s:i}", "error", err, "status", e->status),
	             pretty);
}

void os_send_errf(http_response *resp, int pretty, int status, const char *type, const char *index,
                  const char *fmt, ...)
{
	os_error e;
	e.status = status;
	snprintf(e.type, sizeof e.type, "%s", type);
	va_list ap;
	va_start(ap, fmt);
	verrf(e.reason, sizeof e.reason, 0, fmt, ap);
	va_end(ap);
	os_send_err(resp, &e, index, pretty);
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch |= 0x20;
	return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* pct_decode: '+' is a space, %XX a byte. NULL without memory; *nul is set
 * if the result holds a NUL byte. */
static char *pct_decode(const char *s, size_t n, int *nul)
{
	char *d = malloc(n + 1);
	size_t k = 0;
	if (!d)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int h, l;
		if (s[i] == '+') {
			d[k++] = ' ';
		} else if (s[i] == '%' && i + 2 < n && (h = hexval((unsigned char)s[i + 1])) >= 0 &&
		           (l = hexval((unsigned char)s[i + 2])) >= 0) {
			d[k] = (char)(h * 16 + l);
			*nul |= d[k] == 0;
			k++;
			i += 2;
		} else {
			d[k++] = s[i];
		}
	}
	d[k] = 0;
	return d;
}

void qs_free(qparams *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->k[i]);
		free(p->v[i]);
	}
	p->n = 0;
}

int qs_parse(const char *qs, qparams *p, os_error *e)
{
	memset(p, 0, sizeof *p);
	while (qs && *qs) {
		const char *amp = strchr(qs, '&');
		size_t n = amp ? (size_t)(amp - qs) : strlen(qs);
		if (n) {
			const char *eq = memchr(qs, '=', n);
			size_t kn = eq ? (size_t)(eq - qs) : n;
			if (p->n == LIMIT_HTTP_PARAMS) {
				qs_free(p);
				return os_set_err(e, 400, "illegal_argument_exception",
				                  "more than %d URL parameters", LIMIT_HTTP_PARAMS);
			}
			int nul = 0;
			char *k = pct_decode(qs, kn, &nul);
			char *v = eq ? pct_decode(eq + 1, n - kn - 1, &nul) : strdup("");
			if (!k || !v || nul) {
				free(k);
				free(v);
				qs_free(p);
				return nul ? os_set_err(e, 400, "illegal_argument_exception",
				                        "a URL parameter contains a NUL byte")
				           : os_set_err(e, 500, "exception", "out of memory");
			}
			p->k[p->n] = k;
			p->v[p->n++] = v;
		}
		qs = amp ? amp + 1 : NULL;
	}
	return 0;
}

const char *qs_get(const qparams *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->k[i], name))
			return p->v[i];
	return NULL;
}

/* Parameters every endpoint accepts (formatting only). */
static const char *const common_params[] = {"pretty", "human", "error_trace", "format", NULL};

int qs_check(const qparams *p, const char *const *allowed, const char *path, os_error *e)
{
	for (size_t i = 0; i < p->n; i++)
		if (!os_in_list(allowed, p->k[i]) && !os_in_list(common_params, p->k[i]))
			return os_set_err(
			    e, 400, "illegal_argument_exception",
			    "request [%.200s] contains unrecognized parameter: [%.64s]", path,
			    p->k[i]);
	return 0;
}

int os_parse_flag(const char *s, int *out)
{
	if (!*s || !strcmp(s, "true"))
		*out = 1;
	else if (!strcmp(s, "false"))
		*out = 0;
	else
		return -1;
	return 0;
}

static const char write_reason[] =
    "this trawl does not take this write: documents are written by the index's indexer "
    "(trawl serve, not --read-only, and not while another process owns the index's write "
    "log); indexes are created and deleted by trawl serve DATA_DIR (not INDEX_DIR, not a "
    "cluster's root); mappings are not changed after creation, and writes by query are not "
    "supported";

void os_refuse_write(http_response *resp, int pretty)
{
	os_send_errf(resp, pretty, 405, "illegal_argument_exception", NULL, "%s", write_reason);
}

void os_bad_method(http_response *resp, int pretty, const http_request *req, const char *allowed)
{
	os_send_errf(resp, pretty, 405, "method_not_allowed", NULL,
	             "Incorrect HTTP method for uri [%.200s] and method [%s], allowed: [%s]",
	             req->path, req->method, allowed);
}

void os_index_not_found(http_response *resp, int pretty, const char *index)
{
	os_send_errf(resp, pretty, 404, "index_not_found_exception", index,
	             "no such index [%.200s]", index);
}

void os_resolve_failed(http_response *resp, int pretty, int rc, const char *missing,
                       const char *err)
{
	if (rc == TRAWL_ENOTFOUND)
		os_index_not_found(resp, pretty, missing && *missing ? missing : "?");
	else if (rc == TRAWL_EQUERY || rc == TRAWL_ELIMIT)
		os_send_errf(resp, pretty, 400, "illegal_argument_exception", NULL, "%s", err);
	else
		os_send_errf(resp, pretty, 500, "exception", NULL, "%s", err);
}

void os_uuid(const char *name, char out[23])
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	uint64_t h1 = 1469598103934665603ull, h2 = 0x9e3779b97f4a7c15ull;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		h1 = (h1 ^ *p) * 1099511628211ull;
		h2 = (h2 ^ *p) * 0x100000001b3ull + 0x7f4a7c15;
	}
	for (int i = 0; i < 22; i++) {
		uint64_t *h = i < 11 ? &h1 : &h2;
		out[i] = b64[*h & 63];
		*h >>= 6;
	}
	out[22] = 0;
}

int os_begin(catalog *c, const char *expr, const char *const *params, const qparams *qp,
             const http_request *req, http_response *resp, int pretty, cat_set *set)
{
	os_error e;
	if (qs_check(qp, params, req->path, &e)) {
		os_send_err(resp, &e, NULL, pretty);
		return -1;
	}
	char missing[LIMIT_INDEX_NAME_BYTES + 1], err[LIMIT_ERRMSG_BYTES];
	int rc = cat_resolve(c, expr, 0, set, missing, sizeof missing, err, sizeof err);
	if (rc) {
		os_resolve_failed(resp, pretty, rc, missing, err);
		return -1;
	}
	return 0;
}
