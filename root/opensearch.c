/*
 * opensearch.c - the REST handlers of the OpenSearch-compatible subset of
 * the root's HTTP API (see opensearch.h and docs/HTTP.md).
 *
 * os_handle routes the REST paths, parses requests (unknown parameters and
 * body keys are errors, as in the native API), has the query DSL compiled
 * into a query tree by root/dsl.c (or parses the q= parameter into one),
 * calls root_search / root_get and renders OpenSearch-shaped responses and
 * errors.
 */
#include "root/opensearch.h"

#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdatomic.h>
#include <sys/random.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/utf8.h"
#include "index/query.h"
#include "root/bulk.h"
#include "root/dsl.h"
#include "root/mapping.h"
#include "trawl/trawl.h"

/* Every document: the query of a search without one. */
#define MATCH_ALL "*:*"

static int in_list(const char *const *list, const char *s)
{
	for (; list && *list; list++)
		if (!strcmp(*list, s))
			return 1;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Errors and responses                                                     */
/* ------------------------------------------------------------------------ */

static int set_err(os_error *e, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int set_err(os_error *e, int status, const char *type, const char *fmt, ...)
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
static json_t *jstr(const char *s)
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
static void send_text(http_response *resp, int status, char *s, int pretty)
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

static void send_json(http_response *resp, int status, json_t *j, int pretty)
{
	char *s =
	    j ? json_dumps(j, (pretty ? JSON_INDENT(2) : JSON_COMPACT) | JSON_REAL_PRECISION(8))
	      : NULL;
	json_decref(j);
	send_text(resp, status, s, pretty);
}

/* The OpenSearch error shape:
 * {"error":{"root_cause":[{type, reason[, index]}], type, reason[, index]}, "status": N} */
static void send_err(http_response *resp, const os_error *e, const char *index, int pretty)
{
	json_t *cause = json_object();
	json_object_set_new(cause, "type", json_string(e->type));
	json_object_set_new(cause, "reason", jstr(e->reason));
	if (index) {
		json_object_set_new(cause, "index", jstr(index));
		json_object_set_new(cause, "index_uuid", json_string("_na_"));
	}
	json_t *err = json_object();
	json_object_set_new(err, "root_cause", json_pack("[O]", cause));
	json_object_update(err, cause);
	json_decref(cause);
	send_json(resp, e->status, json_pack("{s:o, s:i}", "error", err, "status", e->status),
	          pretty);
}

static void send_errf(http_response *resp, int pretty, int status, const char *type,
                      const char *index, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static void send_errf(http_response *resp, int pretty, int status, const char *type,
                      const char *index, const char *fmt, ...)
{
	os_error e;
	e.status = status;
	snprintf(e.type, sizeof e.type, "%s", type);
	va_list ap;
	va_start(ap, fmt);
	verrf(e.reason, sizeof e.reason, 0, fmt, ap);
	va_end(ap);
	send_err(resp, &e, index, pretty);
}

/* ------------------------------------------------------------------------ */
/* URL parameters                                                           */
/* ------------------------------------------------------------------------ */

typedef struct qparams {
	size_t n;
	char *k[LIMIT_HTTP_PARAMS], *v[LIMIT_HTTP_PARAMS];
} qparams;

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

static void qs_free(qparams *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->k[i]);
		free(p->v[i]);
	}
	p->n = 0;
}

static int qs_parse(const char *qs, qparams *p, os_error *e)
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
				return set_err(e, 400, "illegal_argument_exception",
				               "more than %d URL parameters", LIMIT_HTTP_PARAMS);
			}
			int nul = 0;
			char *k = pct_decode(qs, kn, &nul);
			char *v = eq ? pct_decode(eq + 1, n - kn - 1, &nul) : strdup("");
			if (!k || !v || nul) {
				free(k);
				free(v);
				qs_free(p);
				return nul ? set_err(e, 400, "illegal_argument_exception",
				                     "a URL parameter contains a NUL byte")
				           : set_err(e, 500, "exception", "out of memory");
			}
			p->k[p->n] = k;
			p->v[p->n++] = v;
		}
		qs = amp ? amp + 1 : NULL;
	}
	return 0;
}

static const char *qs_get(const qparams *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->k[i], name))
			return p->v[i];
	return NULL;
}

/* Parameters every endpoint accepts (formatting only). */
static const char *const common_params[] = {"pretty", "human", "error_trace", "format", NULL};

static int qs_check(const qparams *p, const char *const *allowed, const char *path, os_error *e)
{
	for (size_t i = 0; i < p->n; i++)
		if (!in_list(allowed, p->k[i]) && !in_list(common_params, p->k[i]))
			return set_err(e, 400, "illegal_argument_exception",
			               "request [%.200s] contains unrecognized parameter: [%.64s]",
			               path, p->k[i]);
	return 0;
}

static int parse_flag(const char *s, int *out)
{
	if (!*s || !strcmp(s, "true"))
		*out = 1;
	else if (!strcmp(s, "false"))
		*out = 0;
	else
		return -1;
	return 0;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	if (*s < '0' || *s > '9')
		return -1;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

/* An OpenSearch time value ("500ms", "2s", "1m", "-1") in ms, clamped to
 * 1..60000; 0 for "-1" (the root's default). */
static int parse_timeout(const char *s, unsigned *ms)
{
	if (!strcmp(s, "-1")) {
		*ms = 0;
		return 0;
	}
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || !(v >= 0) || *s == '-' || isinf(v))
		return -1;
	double f;
	if (!strcmp(end, "ms"))
		f = 1;
	else if (!strcmp(end, "s"))
		f = 1000;
	else if (!strcmp(end, "m"))
		f = 60000;
	else if (!strcmp(end, "h"))
		f = 3600000;
	else if (!strcmp(end, "d"))
		f = 86400000;
	else if (!strcmp(end, "micros"))
		f = 1e-3;
	else if (!strcmp(end, "nanos"))
		f = 1e-6;
	else
		return -1;
	double t = v * f;
	*ms = t < 1 ? 1 : t > 60000 ? 60000 : (unsigned)t;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Search requests                                                          */
/* ------------------------------------------------------------------------ */

void os_search_req_fini(os_search_req *r)
{
	if (!r)
		return;
	qt_free(r->tree);
	free(r->text);
	free(r->preference);
	free(r->search_after);
	aggs_spec_free(r->aggs);
	free(r->aggs_canon);
	json_decref(r->includes);
	json_decref(r->excludes);
	memset(r, 0, sizeof *r);
}

/* A comma-separated list as a JSON array of strings. */
static json_t *csv_array(const char *s)
{
	json_t *a = json_array();
	while (a && *s) {
		const char *c = strchr(s, ',');
		size_t n = c ? (size_t)(c - s) : strlen(s);
		if (n) {
			json_t *v = json_stringn(s, n);
			if (!v) {
				json_decref(a);
				return NULL;
			}
			json_array_append_new(a, v);
		}
		s = c ? c + 1 : s + n;
	}
	return a;
}

/* patterns: a string or an array of strings, as a new array; NULL if bad. */
static json_t *pattern_array(json_t *v)
{
	if (json_is_string(v))
		return json_pack("[O]", v);
	if (!json_is_array(v))
		return NULL;
	size_t i;
	json_t *e;
	json_array_foreach(v, i, e) if (!json_is_string(e)) return NULL;
	return json_incref(v);
}

/* The body's "_source": true, false, a pattern, patterns, or
 * {"includes": ..., "excludes": ...}. */
static int source_from_json(json_t *v, os_search_req *r, os_error *e)
{
	if (json_is_boolean(v)) {
		r->source = json_is_true(v);
		return 0;
	}
	if (json_is_object(v)) {
		const char *k;
		json_t *x;
		json_object_foreach(v, k, x)
		{
			int inc = !strcmp(k, "includes") || !strcmp(k, "include");
			int exc = !strcmp(k, "excludes") || !strcmp(k, "exclude");
			if (!inc && !exc)
				return set_err(e, 400, "parsing_exception",
				               "Unknown key for a %s in [%.64s].", dsl_json_kind(x),
				               k);
			json_t *a = pattern_array(x);
			if (!a)
				return set_err(
				    e, 400, "parsing_exception",
				    "[_source] [%s] must be a string or an array of strings", k);
			json_t **slot = inc ? &r->includes : &r->excludes;
			json_decref(*slot);
			*slot = a;
		}
		r->source = 2;
		return 0;
	}
	json_t *a = pattern_array(v);
	if (!a)
		return set_err(
		    e, 400, "parsing_exception",
		    "[_source] must be a boolean, a string, an array of strings or an object");
	json_decref(r->includes);
	r->includes = a;
	r->source = 2;
	return 0;
}

/* The URL's _source, _source_includes, _source_excludes. */
static int source_from_params(const qparams *qp, os_search_req *r, os_error *e)
{
	const char *s = qs_get(qp, "_source"), *inc = qs_get(qp, "_source_includes"),
	           *exc = qs_get(qp, "_source_excludes");
	int b;
	if (s && !parse_flag(s, &b)) {
		r->source = b;
	} else if (s) {
		json_decref(r->includes);
		r->includes = csv_array(s);
		r->source = 2;
	}
	if (inc) {
		json_decref(r->includes);
		r->includes = csv_array(inc);
		r->source = 2;
	}
	if (exc) {
		json_decref(r->excludes);
		r->excludes = csv_array(exc);
		if (r->source)
			r->source = 2;
	}
	if ((r->source == 2 && !r->includes && (s || inc)) || (exc && !r->excludes))
		return set_err(e, 500, "exception", "out of memory");
	return 0;
}

static int track_from_string(const char *s, os_search_req *r)
{
	int b;
	uint64_t v;
	if (!parse_flag(s, &b)) {
		r->track_total = b;
		r->track_limit = UINT64_MAX;
	} else if (!parse_u64(s, INT64_MAX, &v)) {
		r->track_total = 1;
		r->track_limit = v;
	} else {
		return -1;
	}
	return 0;
}

/* A body number: an integer, or a string of digits. */
static int body_uint(json_t *v, uint64_t max, uint64_t *out)
{
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);
		if (i < 0 || (uint64_t)i > max)
			return -1;
		*out = (uint64_t)i;
		return 0;
	}
	if (json_is_string(v))
		return parse_u64(json_string_value(v), max, out);
	return -1;
}

/* "sort" in Elasticsearch's forms (root/dsl.h: dsl_sort) into r, its
 * field names copied. A sort by _score alone, descending (once or more),
 * is the default order (hits without sort values). */
static int sort_from_json(json_t *v, os_search_req *r, os_error *e)
{
	dsl_error de;
	if (dsl_sort(v, r->sort, &r->nsort, &de))
		return set_err(e, 400, "parsing_exception", "%s", de.reason);
	for (uint32_t i = 0; i < r->nsort; i++) {
		snprintf(r->sort_names[i], sizeof r->sort_names[i], "%s", r->sort[i].field);
		r->sort[i].field = r->sort_names[i];
	}
	uint32_t by_score = 0;
	for (uint32_t i = 0; i < r->nsort; i++)
		by_score += !strcmp(r->sort[i].field, "_score") && r->sort[i].desc &&
		            !r->sort[i].missing_first && r->sort[i].mode == TRAWL_SORT_DEFAULT;
	if (by_score == r->nsort)
		r->nsort = 0;
	return 0;
}

static const char *const search_params[] = {"q",
                                            "df",
                                            "default_operator",
                                            "analyze_wildcard",
                                            "lenient",
                                            "from",
                                            "size",
                                            "_source",
                                            "_source_includes",
                                            "_source_excludes",
                                            "track_total_hits",
                                            "rest_total_hits_as_int",
                                            "timeout",
                                            "allow_partial_search_results",
                                            "preference",
                                            "search_type",
                                            "request_cache",
                                            "ignore_unavailable",
                                            "allow_no_indices",
                                            "expand_wildcards",
                                            "ignore_throttled",
                                            "typed_keys",
                                            "ccs_minimize_roundtrips",
                                            "batched_reduce_size",
                                            "max_concurrent_shard_requests",
                                            "pre_filter_shard_size",
                                            "track_scores",
                                            NULL};

static const char *const count_params[] = {"q",
                                           "df",
                                           "default_operator",
                                           "analyze_wildcard",
                                           "lenient",
                                           "preference",
                                           "ignore_unavailable",
                                           "allow_no_indices",
                                           "expand_wildcards",
                                           "ignore_throttled",
                                           NULL};

/* Body keys OpenSearch has and trawl does not. */
static const char *const unsupported_body[] = {"highlight",
                                               "post_filter",
                                               "suggest",
                                               "rescore",
                                               "collapse",
                                               "script_fields",
                                               "docvalue_fields",
                                               "stored_fields",
                                               "fields",
                                               "min_score",
                                               "indices_boost",
                                               "slice",
                                               "pit",
                                               "terminate_after",
                                               "ext",
                                               "runtime_mappings",
                                               "knn",
                                               "point_in_time",
                                               "search_pipeline",
                                               "derived",
                                               NULL};

/* Body keys that must be false (their true asks for what trawl lacks). */
static const char *const false_body[] = {"explain", "version", "seq_no_primary_term", "profile",
                                         NULL};

/* The query of the q parameter (trawl syntax) with default operator
 * and_op, in field df if given: the tree of q, or of df:( q ). A q that
 * does not parse is r->qerr. */
static int query_from_q(os_search_req *r, const char *q, const char *df, int and_op, os_error *e)
{
	size_t n = strlen(q), k = 0;
	while (k < n && qt_is_space((unsigned char)q[k]))
		k++;
	if (k == n)
		return set_err(e, 400, "illegal_argument_exception", "the q parameter is empty");
	const char *f = NULL;
	char fb[LIMIT_DSL_FIELD_BYTES + 1];
	dsl_error de;
	if (df && dsl_field("df", df, 0, fb, &f, &de))
		return set_err(e, 400, "illegal_argument_exception", "%s", de.reason);
	int depth, rc;
	const char *bad = f ? dsl_unbalanced(q, n, &depth) : NULL;
	if (bad)
		return set_err(e, 400, "query_shard_exception",
		               "Failed to parse query [%.200s]: it has %s", q, bad);
	qt_node *g = NULL;
	if (!f) {
		rc = idx_query_parse(q, n, and_op, &r->tree, r->qreason, sizeof r->qreason);
	} else if (!(rc = idx_query_parse_group(q, n, and_op, f, &g, r->qreason,
	                                        sizeof r->qreason))) {
		/* the whole query is the group, as if q had been df:(q) */
		r->tree = qt_new(QT_BOOL, QT_MUST, 1);
		if (!r->tree || qt_add(r->tree, g)) {
			qt_free(g);
			rc = TRAWL_ENOMEM;
		}
	}
	if (!(r->text = strdup(q)) || rc == TRAWL_ENOMEM)
		return set_err(e, 500, "exception", "out of memory");
	r->qerr = rc;
	return 0;
}

/* One key of a search request's JSON body into r (*query: the query, kept
 * for search_query). 0, or -1 with e set. */
static int body_key(const char *key, json_t *v, int count_only, os_search_req *r, json_t **query,
                    os_error *e)
{
	uint64_t u;
	if (!strcmp(key, "query")) {
		*query = v;
	} else if (count_only) {
		set_err(e, 400, "parsing_exception",
		        "request does not support [%.64s]; _count takes only [query]", key);
		return -1;
	} else if (!strcmp(key, "from") || !strcmp(key, "size")) {
		if (body_uint(v, TRAWL_MAX_K, &u)) {
			set_err(e, 400, "illegal_argument_exception",
			        "[%s] must be a number from 0 to %d", key, TRAWL_MAX_K);
			return -1;
		}
		*(key[0] == 'f' ? &r->from : &r->size) = (uint32_t)u;
	} else if (!strcmp(key, "_source")) {
		if (source_from_json(v, r, e))
			return -1;
	} else if (!strcmp(key, "track_total_hits")) {
		int bad = 0;
		if (json_is_boolean(v)) {
			r->track_total = json_is_true(v);
			r->track_limit = UINT64_MAX;
		} else if (json_is_integer(v) && json_integer_value(v) >= 0) {
			r->track_total = 1;
			r->track_limit = (uint64_t)json_integer_value(v);
		} else {
			bad = 1;
		}
		if (bad) {
			set_err(e, 400, "illegal_argument_exception",
			        "[track_total_hits] must be true, false or a number of hits");
			return -1;
		}
	} else if (!strcmp(key, "timeout")) {
		char tb[64];
		const char *ts = json_string_value(v);
		if (json_is_integer(v)) {
			snprintf(tb, sizeof tb, "%lldms", (long long)json_integer_value(v));
			ts = tb;
		}
		if (!ts || parse_timeout(ts, &r->timeout_ms)) {
			set_err(e, 400, "illegal_argument_exception",
			        "[timeout] must be a time value such as \"500ms\" or \"2s\"");
			return -1;
		}
	} else if (!strcmp(key, "sort")) {
		if (sort_from_json(v, r, e))
			return -1;
	} else if (!strcmp(key, "aggs") || !strcmp(key, "aggregations")) {
		char why[512];
		if (r->aggs) {
			set_err(e, 400, "illegal_argument_exception",
			        "[aggs] and [aggregations] are one field: give one");
			return -1;
		}
		int rc = dsl_aggs(v, &r->aggs, &r->aggs_canon, &r->aggs_canon_len, why, sizeof why);
		if (rc) {
			set_err(e, rc == TRAWL_ENOMEM ? 500 : 400,
			        rc == TRAWL_ENOMEM ? "exception" : "parsing_exception", "%s", why);
			return -1;
		}
	} else if (!strcmp(key, "search_after")) {
		char *a =
		    json_is_array(v) && json_array_size(v) ? json_dumps(v, JSON_COMPACT) : NULL;
		if (!a || strlen(a) > LIMIT_SORT_JSON_BYTES) {
			free(a);
			set_err(
			    e, 400, "parsing_exception",
			    "[search_after] must be a non-empty array of the sort values of a hit "
			    "(at most %d bytes)",
			    LIMIT_SORT_JSON_BYTES);
			return -1;
		}
		free(r->search_after);
		r->search_after = a;
	} else if (!strcmp(key, "track_scores")) {
		if (!json_is_boolean(v)) {
			set_err(e, 400, "parsing_exception",
			        "[track_scores] must be true or false");
			return -1;
		}
		r->track_scores = json_is_true(v);
	} else if (!strcmp(key, "stats")) {
		/* stats groups are not kept */
	} else if (in_list(false_body, key)) {
		if (!json_is_false(v)) {
			set_err(e, 400, "parsing_exception",
			        "[%s] is not supported by trawl (only false)", key);
			return -1;
		}
	} else if (in_list(unsupported_body, key)) {
		set_err(e, 400, "parsing_exception", "[%s] is not supported by trawl", key);
		return -1;
	} else {
		set_err(e, 400, "parsing_exception", "Unknown key for a %s in [%.64s].",
		        dsl_json_kind(v), key);
		return -1;
	}
	return 0;
}

/* The URL parameters of a search into r; they win over the body's. 0, or
 * -1 with e set. */
static int url_params(const qparams *qp, int count_only, os_search_req *r, os_error *e)
{
	const char *s;
	uint64_t u;
	if (!count_only) {
		for (int i = 0; i < 2; i++) {
			const char *pn = i ? "size" : "from";
			if (!(s = qs_get(qp, pn)))
				continue;
			if (parse_u64(s, TRAWL_MAX_K, &u)) {
				set_err(e, 400, "illegal_argument_exception",
				        "[%s] must be a number from 0 to %d", pn, TRAWL_MAX_K);
				return -1;
			}
			*(i ? &r->size : &r->from) = (uint32_t)u;
		}
		if (source_from_params(qp, r, e))
			return -1;
		if ((s = qs_get(qp, "track_total_hits")) && track_from_string(s, r)) {
			set_err(e, 400, "illegal_argument_exception",
			        "[track_total_hits] must be true, false or a number of hits");
			return -1;
		}
		if ((s = qs_get(qp, "rest_total_hits_as_int"))) {
			if (parse_flag(s, &r->rest_total_int)) {
				set_err(e, 400, "illegal_argument_exception",
				        "[rest_total_hits_as_int] must be true or false");
				return -1;
			}
		}
		if ((s = qs_get(qp, "timeout")) && parse_timeout(s, &r->timeout_ms)) {
			set_err(e, 400, "illegal_argument_exception",
			        "[timeout] must be a time value such as 500ms or 2s");
			return -1;
		}
		if ((s = qs_get(qp, "track_scores")) && parse_flag(s, &r->track_scores)) {
			set_err(e, 400, "illegal_argument_exception",
			        "[track_scores] must be true or false");
			return -1;
		}
		if ((s = qs_get(qp, "allow_partial_search_results")) &&
		    parse_flag(s, &r->allow_partial)) {
			set_err(e, 400, "illegal_argument_exception",
			        "[allow_partial_search_results] must be true or false");
			return -1;
		}
		if ((s = qs_get(qp, "search_type")) && strcmp(s, "query_then_fetch") &&
		    strcmp(s, "dfs_query_then_fetch")) {
			set_err(e, 400, "illegal_argument_exception", "No search type for [%.64s]",
			        s);
			return -1;
		}
		if ((uint64_t)r->from + r->size > TRAWL_MAX_K) {
			set_err(e, 400, "illegal_argument_exception",
			        "Result window is too large, from + size must be less than or "
			        "equal to: "
			        "[%d] but was [%llu]",
			        TRAWL_MAX_K, (unsigned long long)r->from + r->size);
			return -1;
		}
	}
	if ((s = qs_get(qp, "preference"))) {
		if (strlen(s) > LIMIT_PREFERENCE_BYTES) {
			set_err(e, 400, "illegal_argument_exception",
			        "[preference] is at most %d bytes", LIMIT_PREFERENCE_BYTES);
			return -1;
		}
		if (!(r->preference = strdup(s))) {
			set_err(e, 500, "exception", "out of memory");
			return -1;
		}
	}
	return 0;
}

/* The search's query into r->tree: from q (with df and default_operator),
 * from the body's query, or every document. 0, or -1 with e set. */
static int search_query(const qparams *qp, json_t *query, os_search_req *r, os_error *e)
{
	const char *q = qs_get(qp, "q"), *df = qs_get(qp, "df"),
	           *op = qs_get(qp, "default_operator");
	if (q && query) {
		set_err(e, 400, "illegal_argument_exception",
		        "a query was given both in the q parameter and in the request body");
		return -1;
	}
	if ((df || op) && !q) {
		set_err(e, 400, "illegal_argument_exception",
		        "[%s] applies only to the q parameter", df ? "df" : "default_operator");
		return -1;
	}
	int and_op = 0;
	if (op) {
		if (!strcasecmp(op, "and"))
			and_op = 1;
		else if (strcasecmp(op, "or")) {
			set_err(e, 400, "illegal_argument_exception",
			        "[default_operator] must be AND or OR");
			return -1;
		}
	}
	if (q) {
		if (query_from_q(r, q, df && strcmp(df, "*") && strcmp(df, "_all") ? df : NULL,
		                 and_op, e))
			return -1;
	} else if (query) {
		dsl_error de;
		const char *text = NULL;
		int rc = dsl_compile(query, &r->tree, &text, &de);
		if (!rc && text && !(r->text = strdup(text))) {
			set_err(e, 500, "exception", "out of memory");
			return -1;
		} else if (rc && de.in_text) {
			/* a query_string's text that does not parse: the engine's refusal */
			r->qerr = rc;
			snprintf(r->qreason, sizeof r->qreason, "%s", de.reason);
			if (!(r->text = strdup(de.text))) {
				set_err(e, 500, "exception", "out of memory");
				return -1;
			}
		} else if (rc) {
			int internal = rc == TRAWL_ENOMEM || rc == TRAWL_EINTERNAL;
			set_err(e, internal ? 500 : 400,
			        internal ? "exception" : "parsing_exception", "%s", de.reason);
			return -1;
		}
	} else if (idx_query_parse(MATCH_ALL, strlen(MATCH_ALL), 0, &r->tree, NULL, 0)) {
		set_err(e, 500, "exception", "out of memory");
		return -1;
	}
	return 0;
}

int os_parse_search(const char *path, const char *qs, const uint8_t *body, size_t body_len,
                    int count_only, os_search_req *r, os_error *e)
{
	memset(r, 0, sizeof *r);
	memset(e, 0, sizeof *e);
	r->size = count_only ? 0 : 10;
	r->track_total = 1;
	r->track_limit = UINT64_MAX;
	r->source = 1;
	r->allow_partial = 1;
	if (!path)
		path = count_only ? "/_count" : "/_search";
	qparams qp;
	if (qs_parse(qs, &qp, e))
		return -1;
	json_t *doc = NULL, *query = NULL;
	int b;
	const char *s;
	if (qs_check(&qp, count_only ? count_params : search_params, path, e))
		goto fail;
	if ((s = qs_get(&qp, "pretty")) && !parse_flag(s, &b))
		r->pretty = b;
	size_t k = 0;
	while (k < body_len && qt_is_space(body[k]))
		k++;
	if (k < body_len) {
		json_error_t je;
		doc = json_loadb((const char *)body, body_len, JSON_REJECT_DUPLICATES, &je);
		if (!doc) {
			set_err(e, 400, "parse_exception", "request body: line %d, column %d: %s",
			        je.line, je.column, je.text);
			goto fail;
		}
		if (!json_is_object(doc)) {
			set_err(e, 400, "parse_exception", "request body must be a JSON object");
			goto fail;
		}
		const char *key;
		json_t *v;
		json_object_foreach(doc, key, v)
		{
			if (body_key(key, v, count_only, r, &query, e))
				goto fail;
		}
	}
	if (url_params(&qp, count_only, r, e) || search_query(&qp, query, r, e))
		goto fail;
	if (r->search_after && !r->nsort) {
		set_err(e, 400, "illegal_argument_exception",
		        "[search_after] needs a [sort] by fields (the order it continues)");
		goto fail;
	}
	qs_free(&qp);
	json_decref(doc);
	return 0;
fail:
	qs_free(&qp);
	json_decref(doc);
	int pretty = r->pretty;
	os_search_req_fini(r);
	r->pretty = pretty;
	return -1;
}

/* ------------------------------------------------------------------------ */
/* Source filtering                                                         */
/* ------------------------------------------------------------------------ */

static int any_match(json_t *patterns, const char *path)
{
	size_t i;
	json_t *p;
	json_array_foreach(patterns, i, p)
	{
		const char *s = json_string_value(p);
		if (s && fnmatch(s, path, 0) == 0)
			return 1;
	}
	return 0;
}

/* filter_value: v at path kept (new reference) or NULL to drop it. */
static json_t *filter_value(json_t *v, const char *path, json_t *inc, json_t *exc, int depth);

static json_t *filter_object(json_t *obj, const char *path, json_t *inc, json_t *exc, int depth)
{
	json_t *out = json_object();
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v)
	{
		size_t pl = path ? strlen(path) : 0, kl = strlen(k);
		char *sub = malloc(pl + kl + 2);
		if (!sub)
			continue;
		if (path)
			sprintf(sub, "%s.%s", path, k);
		else
			memcpy(sub, k, kl + 1);
		json_t *kept = filter_value(v, sub, inc, exc, depth + 1);
		free(sub);
		if (kept)
			json_object_set_new(out, k, kept);
	}
	return out;
}

static json_t *filter_value(json_t *v, const char *path, json_t *inc, json_t *exc, int depth)
{
	if (exc && any_match(exc, path))
		return NULL;
	int included = !inc || json_array_size(inc) == 0 || any_match(inc, path);
	if (depth > 64) /* deeper than anyone filters */
		return included ? json_incref(v) : NULL;
	if (json_is_object(v)) {
		/* an included object still loses its excluded members; one not
		 * included may hold included members */
		json_t *o = filter_object(v, path, included ? NULL : inc, exc, depth);
		if (!included && json_object_size(o) == 0) {
			json_decref(o);
			return NULL;
		}
		return o;
	}
	if (json_is_array(v)) {
		json_t *a = json_array();
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e)
		{
			if (json_is_object(e)) {
				json_t *o =
				    filter_object(e, path, included ? NULL : inc, exc, depth);
				if (included || json_object_size(o))
					json_array_append_new(a, o);
				else
					json_decref(o);
			} else if (included) {
				json_array_append(a, e);
			}
		}
		if (!included && json_array_size(a) == 0) {
			json_decref(a);
			return NULL;
		}
		return a;
	}
	return included ? json_incref(v) : NULL;
}

json_t *os_filter_source(json_t *src, json_t *includes, json_t *excludes)
{
	if (!json_is_object(src))
		return json_incref(src);
	if ((!includes || !json_array_size(includes)) && (!excludes || !json_array_size(excludes)))
		return json_incref(src);
	return filter_object(src, NULL, includes && json_array_size(includes) ? includes : NULL,
	                     excludes && json_array_size(excludes) ? excludes : NULL, 0);
}

/* ------------------------------------------------------------------------ */
/* Index names                                                              */
/* ------------------------------------------------------------------------ */

int os_index_matches(const char *expr, const char *name, char *missing, size_t cap)
{
	int matched = 0;
	const char *s = expr;
	char item[256];
	if (missing && cap)
		missing[0] = 0;
	while (*s) {
		const char *c = strchr(s, ',');
		size_t n = c ? (size_t)(c - s) : strlen(s);
		if (n >= sizeof item) {
			if (missing && cap)
				snprintf(missing, cap, "%.*s", (int)n, s);
			return -1;
		}
		memcpy(item, s, n);
		item[n] = 0;
		s = c ? c + 1 : s + n;
		if (!n)
			continue;
		if (item[0] == '-' && n > 1) { /* exclusion */
			if (fnmatch(item + 1, name, 0) == 0)
				matched = 0;
		} else if (!strcmp(item, "_all") || strchr(item, '*')) {
			if (!strcmp(item, "_all") || fnmatch(item, name, 0) == 0)
				matched = 1;
		} else if (!strcmp(item, name)) {
			matched = 1;
		} else {
			if (missing && cap)
				snprintf(missing, cap, "%s", item);
			return -1;
		}
	}
	return matched;
}

/* ------------------------------------------------------------------------ */
/* Rendering                                                                */
/* ------------------------------------------------------------------------ */

static json_t *shards_json(uint32_t total, uint32_t answered, uint32_t failed)
{
	return json_pack("{s:i, s:i, s:i, s:i}", "total", (int)total, "successful", (int)answered,
	                 "skipped", 0, "failed", (int)failed);
}

/* ---- raw JSON text inside a response ----
 * jansson writes every real of a dump at one precision. 8 significant
 * digits suit scores (floats), not a stored document's doubles, a double's
 * sort value (search_after must give back that very value: rounded, it
 * named another hit) or an aggregation's sum (a date's min of
 * 946477226000 came out as 9.4647723e11). Those are JSON text already
 * (the stored document, the leaves' sort values, the root's merged
 * aggregations), so they go into the tree as marks and come back, as they
 * are, when it is written. A mark is a string no document can hold: a
 * number drawn at random once per process, between two bytes 0x01. */
typedef struct raw_part_text {
	const char *text;
	size_t len;
	char *owned; /* text when made here (a filtered source), to free */
} raw_part_text;

typedef struct raw_parts {
	raw_part_text *p; /* per hit a source and a sort values; the aggregations */
	uint32_t n, cap;
	int failed; /* out of memory: raw_dump gives NULL */
} raw_parts;

static uint64_t raw_nonce(void)
{
	static _Atomic uint64_t nonce;
	uint64_t v = atomic_load(&nonce), r = 0;
	if (v)
		return v;
	if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
		r = clock_unix_us() * 0x9E3779B97F4A7C15ull;
	r |= 1;
	uint64_t zero = 0;
	atomic_compare_exchange_strong(&nonce, &zero, r);
	return atomic_load(&nonce);
}

/* The mark of text (len bytes of JSON; owned: freed with rp) in the tree. */
static json_t *raw_part(raw_parts *rp, const char *text, size_t len, char *owned)
{
	if (rp->n == rp->cap) {
		uint32_t cap = rp->cap ? 2 * rp->cap : 32;
		raw_part_text *np = realloc(rp->p, cap * sizeof *np);
		if (!np) {
			free(owned);
			rp->failed = 1;
			return json_null();
		}
		rp->p = np;
		rp->cap = cap;
	}
	char mark[48];
	snprintf(mark, sizeof mark, "\x01%016llx:%u\x01", (unsigned long long)raw_nonce(),
	         (unsigned)rp->n);
	rp->p[rp->n++] = (raw_part_text){text, len, owned};
	return json_string(mark);
}

static void raw_parts_fini(raw_parts *rp)
{
	for (uint32_t i = 0; i < rp->n; i++)
		free(rp->p[i].owned);
	free(rp->p);
	*rp = (raw_parts){0};
}

/* j written (its reference taken), indented when pretty, with the raw
 * parts put back in place of their marks. NULL: out of memory. */
static char *raw_dump(raw_parts *rp, json_t *j, int pretty)
{
	/* JSON_ENCODE_ANY: GET _source's answer is the document alone, a mark */
	size_t flags = (pretty ? JSON_INDENT(2) : JSON_COMPACT) | JSON_REAL_PRECISION(8);
	char *s = j ? json_dumps(j, flags | JSON_ENCODE_ANY) : NULL;
	json_decref(j);
	if (s && rp->failed) {
		free(s);
		return NULL;
	}
	if (!s || rp->n == 0)
		return s;
	char needle[40];
	int nl =
	    snprintf(needle, sizeof needle, "\"\\u0001%016llx:", (unsigned long long)raw_nonce());
	tbuf b;
	tbuf_init(&b, LIMIT_MESSAGE_BYTES * 2u);
	const char *p = s, *m;
	int rc = 0;
	while ((m = strstr(p, needle))) {
		char *end;
		unsigned long i = strtoul(m + nl, &end, 10);
		if (i >= rp->n || strncmp(end, "\\u0001\"", 7)) { /* cannot be: written here */
			rc |= tbuf_append(&b, p, (size_t)(m - p) + 1);
			p = m + 1;
			continue;
		}
		rc |= tbuf_append(&b, p, (size_t)(m - p));
		rc |= tbuf_append(&b, rp->p[i].text, rp->p[i].len);
		p = end + 7;
	}
	rc |= tbuf_append(&b, p, strlen(p) + 1);
	free(s);
	if (rc) { /* out of memory, or past the bound, on the way */
		tbuf_fini(&b);
		return NULL;
	}
	return (char *)b.data;
}

/* A hit's _source: the stored document as it was stored, or (sr->source
 * 2) the fields sr keeps, written at full precision. */
static json_t *hit_source(raw_parts *rp, const root_hit *h, const os_search_req *sr)
{
	if (sr->source != 2)
		return raw_part(rp, h->doc, h->doc_len, NULL);
	json_t *src = json_loadb(h->doc, h->doc_len, 0, NULL);
	if (!src)
		return json_null();
	json_t *f = os_filter_source(src, sr->includes, sr->excludes);
	json_decref(src);
	char *text = f ? json_dumps(f, JSON_COMPACT) : NULL;
	if (f && !text)
		rp->failed = 1;
	json_decref(f);
	return text ? raw_part(rp, text, strlen(text), text) : json_null();
}

/* Whether the hits' scores are shown: as OpenSearch, not when the hits
 * are sorted by fields without _score, unless track_scores asks. */
static int scores_shown(const os_search_req *sr)
{
	int shown = sr->nsort == 0 || sr->track_scores;
	for (uint32_t i = 0; i < sr->nsort; i++)
		shown |= !strcmp(sr->sort[i].field, "_score");
	return shown;
}

static json_t *render_hits(raw_parts *rp, const root_result *res, const os_search_req *sr,
                           const char *name)
{
	json_t *hits = json_array();
	double max = 0;
	int have = 0, scored = scores_shown(sr);
	for (uint32_t i = 0; sr->size && i < res->nhits; i++) {
		const root_hit *h = &res->hits[i];
		json_t *hit = json_object();
		json_object_set_new(hit, "_index", jstr(name));
		json_object_set_new(hit, "_id", jstr(h->id ? h->id : ""));
		json_object_set_new(hit, "_score", scored ? json_real(h->score) : json_null());
		if (sr->source && h->doc)
			json_object_set_new(hit, "_source", hit_source(rp, h, sr));
		if (h->sort)
			json_object_set_new(hit, "sort",
			                    raw_part(rp, h->sort, strlen(h->sort), NULL));
		json_array_append_new(hits, hit);
		if (scored && (!have || h->score > max)) {
			max = h->score;
			have = 1;
		}
	}
	json_t *hobj = json_object();
	if (sr->track_total) {
		uint64_t v = res->total;
		int exact = res->total_exact;
		if (v > sr->track_limit) {
			v = sr->track_limit;
			exact = 0;
		}
		if (sr->rest_total_int)
			json_object_set_new(hobj, "total", json_integer((json_int_t)v));
		else
			json_object_set_new(hobj, "total",
			                    json_pack("{s:I, s:s}", "value", (json_int_t)v,
			                              "relation", exact ? "eq" : "gte"));
	}
	json_object_set_new(hobj, "max_score", have ? json_real(max) : json_null());
	json_object_set_new(hobj, "hits", hits);
	return hobj;
}

char *os_render_search(const root_result *res, const os_search_req *sr, const char *name,
                       int pretty)
{
	raw_parts rp = {0};
	json_t *out = json_object();
	json_object_set_new(out, "took", json_integer((json_int_t)(res->took_us / 1000)));
	json_object_set_new(out, "timed_out", json_boolean(res->shards_timed_out > 0));
	json_object_set_new(out, "_shards",
	                    shards_json(res->shards_total, res->shards_answered,
	                                res->shards_failed + res->shards_timed_out));
	json_object_set_new(out, "hits", render_hits(&rp, res, sr, name));
	if (res->aggs)
		json_object_set_new(out, "aggregations",
		                    raw_part(&rp, res->aggs, strlen(res->aggs), NULL));
	char *text = raw_dump(&rp, out, pretty);
	raw_parts_fini(&rp);
	return text;
}

/* ------------------------------------------------------------------------ */
/* Endpoints                                                                */
/* ------------------------------------------------------------------------ */

static const char write_reason[] =
    "this trawl does not take this write: documents are written by the index's indexer "
    "(trawl serve, not --read-only, and not while another process owns the index's write "
    "log); index creation and deletion, mappings, and writes by query are not supported";

static void refuse_write(http_response *resp, int pretty)
{
	send_errf(resp, pretty, 405, "illegal_argument_exception", NULL, "%s", write_reason);
}

static void bad_method(http_response *resp, int pretty, const http_request *req,
                       const char *allowed)
{
	send_errf(resp, pretty, 405, "method_not_allowed", NULL,
	          "Incorrect HTTP method for uri [%.200s] and method [%s], allowed: [%s]",
	          req->path, req->method, allowed);
}

static void index_not_found(http_response *resp, int pretty, const char *index)
{
	send_errf(resp, pretty, 404, "index_not_found_exception", index, "no such index [%.200s]",
	          index);
}

/* A stable cluster_uuid-looking string from the index name. */
static void cluster_uuid(const char *name, char out[23])
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

static void info(const char *index_name, http_response *resp, int pretty)
{
	char uuid[23];
	cluster_uuid(index_name, uuid);
	json_t *j = json_pack(
	    "{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:s}, s:s, s:s}", "name",
	    "trawl", "cluster_name", "trawl", "cluster_uuid", uuid, "version", "distribution",
	    "opensearch", "number", OS_COMPAT_VERSION, "build_type", "trawl", "build_hash",
	    "unknown", "build_date", "1970-01-01T00:00:00Z", "build_snapshot", 0, "lucene_version",
	    "9.7.0", "minimum_wire_compatibility_version", "7.10.0",
	    "minimum_index_compatibility_version", "7.0.0", "tagline",
	    "The OpenSearch Project: https://opensearch.org/", "trawl_version",
	    TRAWL_VERSION_STRING);
	send_json(resp, 200, j, pretty);
}

static const char *const health_params[] = {"level",
                                            "local",
                                            "timeout",
                                            "wait_for_status",
                                            "wait_for_nodes",
                                            "wait_for_events",
                                            "wait_for_active_shards",
                                            "wait_for_no_relocating_shards",
                                            "wait_for_no_initializing_shards",
                                            "cluster_manager_timeout",
                                            "master_timeout",
                                            "expand_wildcards",
                                            "awareness_attribute",
                                            NULL};

static int status_rank(const char *s)
{
	return !strcmp(s, "green") ? 0 : !strcmp(s, "yellow") ? 1 : !strcmp(s, "red") ? 2 : -1;
}

static void health(root *r, const char *index_name, const char *expr, const qparams *qp,
                   const http_request *req, http_response *resp, int pretty)
{
	os_error e;
	if (qs_check(qp, health_params, req->path, &e)) {
		send_err(resp, &e, NULL, pretty);
		return;
	}
	const char *want = qs_get(qp, "wait_for_status");
	if (want && status_rank(want) < 0) {
		send_errf(resp, pretty, 400, "illegal_argument_exception", NULL,
		          "unknown cluster health status [%.32s]", want);
		return;
	}
	char missing[256];
	if (expr && os_index_matches(expr, index_name, missing, sizeof missing) < 0) {
		index_not_found(resp, pretty, missing);
		return;
	}
	root_replica_info *ri = calloc(LIMIT_LEAVES, sizeof *ri);
	if (!ri) {
		send_errf(resp, pretty, 500, "exception", NULL, "out of memory");
		return;
	}
	uint32_t n = root_replicas(r, ri, LIMIT_LEAVES), healthy = 0;
	for (uint32_t i = 0; i < n && i < LIMIT_LEAVES; i++)
		healthy += ri[i].state == ROOT_HEALTHY;
	free(ri);
	int ready = root_ready(r);
	/* the number of shards and how many answer: a cheap probe of every shard */
	uint32_t total = 0, active = 0;
	root_query pq = {0};
	tbuf tree;
	tbuf_init(&tree, TRAWL_MAX_QUERY_TREE_BYTES);
	char err[256];
	qt_node *all = NULL;
	if (!idx_query_parse(MATCH_ALL, strlen(MATCH_ALL), 0, &all, NULL, 0))
		qt_encode(all, &tree, NULL, 0);
	qt_free(all);
	pq.tree = tree.data;
	pq.tree_len = tree.len;
	pq.k = 1;
	pq.allow_partial = 1;
	pq.timeout_ms = 1000;
	root_result *res = NULL;
	if (pq.tree_len && root_search(r, &pq, &res, err, sizeof err) == TRAWL_OK) {
		total = res->shards_total;
		/* ready: every shard has a healthy replica. Otherwise a fresh
		 * answer counts the shards that answered; a cached one (complete,
		 * from before the failure) only says that one shard at least has
		 * no healthy replica */
		active = ready          ? total
		         : !res->cached ? res->shards_answered
		         : total        ? total - 1
		                        : 0;
		root_result_free(res);
	}
	tbuf_fini(&tree);
	const char *status = !ready ? "red" : healthy < n ? "yellow" : "green";
	int timed_out = want && status_rank(status) > status_rank(want);
	json_t *j = json_object();
	json_object_set_new(j, "cluster_name", json_string("trawl"));
	json_object_set_new(j, "status", json_string(status));
	json_object_set_new(j, "timed_out", json_boolean(timed_out));
	json_object_set_new(j, "number_of_nodes", json_integer(n));
	json_object_set_new(j, "number_of_data_nodes", json_integer(n));
	json_object_set_new(j, "discovered_master", json_true());
	json_object_set_new(j, "discovered_cluster_manager", json_true());
	json_object_set_new(j, "active_primary_shards", json_integer(active));
	json_object_set_new(j, "active_shards", json_integer(active));
	json_object_set_new(j, "relocating_shards", json_integer(0));
	json_object_set_new(j, "initializing_shards", json_integer(0));
	json_object_set_new(j, "unassigned_shards", json_integer(total - active));
	json_object_set_new(j, "delayed_unassigned_shards", json_integer(0));
	json_object_set_new(j, "number_of_pending_tasks", json_integer(0));
	json_object_set_new(j, "number_of_in_flight_fetch", json_integer(0));
	json_object_set_new(j, "task_max_waiting_in_queue_millis", json_integer(0));
	json_object_set_new(j, "active_shards_percent_as_number",
	                    json_real(total ? 100.0 * active / total : 0.0));
	json_object_set_new(j, "trawl_replicas_healthy", json_integer(healthy));
	send_json(resp, timed_out ? 408 : 200, j, pretty);
}

static const char *const mapping_params[] = {"local",
                                             "ignore_unavailable",
                                             "allow_no_indices",
                                             "expand_wildcards",
                                             "cluster_manager_timeout",
                                             "master_timeout",
                                             NULL};

/* GET /_mapping, GET /{index}/_mapping (expr NULL: every index): the
 * schema of the generation served, as OpenSearch's mapping
 * (root/mapping.h), under the index's name. */
static void mapping(root *r, const char *index_name, const char *expr, const qparams *qp,
                    const http_request *req, http_response *resp, int pretty)
{
	os_error e;
	if (qs_check(qp, mapping_params, req->path, &e)) {
		send_err(resp, &e, NULL, pretty);
		return;
	}
	char missing[256];
	int m = expr ? os_index_matches(expr, index_name, missing, sizeof missing) : 1;
	if (m < 0) {
		index_not_found(resp, pretty, missing);
		return;
	}
	if (m == 0) {
		send_json(resp, 200, json_object(), pretty);
		return;
	}
	char err[1024], *schema = NULL;
	size_t len = 0;
	uint64_t gen = 0;
	json_t *mp = NULL;
	int rc = root_schema(r, &schema, &len, &gen, err, sizeof err);
	if (!rc)
		rc = mapping_from_schema(schema, len, &mp, err, sizeof err);
	free(schema);
	if (rc == TRAWL_EIO)
		send_errf(resp, pretty, 503, "unavailable_shards_exception", NULL, "%s", err);
	else if (rc)
		send_errf(resp, pretty, 500, "exception", NULL, "%s: %s", trawl_strerror(rc), err);
	else
		send_json(resp, 200, json_pack("{s:{s:o}}", index_name, "mappings", mp), pretty);
}

/* An empty answer: the index expression only held patterns that do not
 * match the index. */
static void empty_search(http_response *resp, int count_only, const os_search_req *sr)
{
	if (count_only) {
		send_json(resp, 200,
		          json_pack("{s:i, s:o}", "count", 0, "_shards", shards_json(0, 0, 0)),
		          sr->pretty);
		return;
	}
	root_result res = {0};
	res.total_exact = 1;
	send_text(resp, 200, os_render_search(&res, sr, "", sr->pretty), sr->pretty);
}

static void search(root *r, const char *index_name, const char *expr, const http_request *req,
                   http_response *resp, int count_only)
{
	os_search_req sr;
	os_error e;
	if (os_parse_search(req->path, req->query, req->body, req->body_len, count_only, &sr, &e)) {
		send_err(resp, &e, NULL, sr.pretty);
		return;
	}
	char missing[256], err[1024];
	int m = os_index_matches(expr, index_name, missing, sizeof missing);
	if (m < 0) {
		index_not_found(resp, sr.pretty, missing);
		os_search_req_fini(&sr);
		return;
	}
	if (m == 0) {
		empty_search(resp, count_only, &sr);
		os_search_req_fini(&sr);
		return;
	}
	root_query q = {0};
	tbuf tree;
	tbuf_init(&tree, TRAWL_MAX_QUERY_TREE_BYTES);
	q.k = sr.size ? sr.size : 1;
	q.offset = sr.size ? sr.from : 0;
	q.count = sr.track_total;
	q.allow_partial = sr.allow_partial;
	q.timeout_ms = sr.timeout_ms;
	q.preference = sr.preference;
	q.fetch = sr.size > 0 && sr.source; /* stored documents; ids always come back */
	q.sort = sr.nsort ? sr.sort : NULL;
	q.nsort = sr.nsort;
	q.search_after = sr.search_after;
	q.search_after_len = sr.search_after ? strlen(sr.search_after) : 0;
	q.aggs = sr.aggs;
	q.aggs_canon = sr.aggs_canon;
	q.aggs_canon_len = sr.aggs_canon_len;
	root_result *res = NULL;
	int rc = sr.qerr; /* a query text that does not parse: as a leaf used to say */
	if (rc)
		snprintf(err, sizeof err, "%s", sr.qreason);
	else
		rc = qt_encode(sr.tree, &tree, err, sizeof err);
	q.tree = tree.data;
	q.tree_len = tree.len;
	if (!rc)
		rc = root_search(r, &q, &res, err, sizeof err);
	if (rc == TRAWL_EQUERY && strstr(err, "has nothing to search for")) {
		/* only stop words or punctuation: OpenSearch finds nothing
		 * (zero_terms_query "none") where trawl's parser refuses */
		empty_search(resp, count_only, &sr);
	} else if (rc == TRAWL_EQUERY && sr.nsort &&
	           (!strncmp(err, "cannot sort", 11) || !strncmp(err, "sort key", 8) ||
	            !strncmp(err, "search_after", 12))) {
		/* the sort or search_after, not the query, is at fault */
		send_errf(resp, sr.pretty, 400,
		          err[1] == 'e' ? "illegal_argument_exception" : "query_shard_exception",
		          err[1] == 'e' ? NULL : index_name, "%s%s", err[1] == 'e' ? "" : "[sort] ",
		          err);
	} else if (rc == TRAWL_EQUERY || rc == TRAWL_EUTF8 || rc == TRAWL_ELIMIT) {
		/* the query as the user wrote it, else as trawl syntax */
		char shown[320];
		if (sr.text)
			snprintf(shown, sizeof shown, "%s", sr.text);
		else
			qt_dump(sr.tree, shown, sizeof shown);
		send_errf(resp, sr.pretty, 400, "query_shard_exception", index_name,
		          "Failed to parse query [%.300s]: %s", shown, err);
	} else if (rc == TRAWL_EIO) {
		send_errf(resp, sr.pretty, 503, "search_phase_execution_exception", NULL, "%s",
		          err);
	} else if (rc == TRAWL_EBUSY) { /* overloaded: the client backs off and retries */
		send_errf(resp, sr.pretty, 429, "rejected_execution_exception", NULL, "%s", err);
		http_response_header(resp, "Retry-After", "1");
	} else if (rc) {
		send_errf(resp, sr.pretty, 500, "exception", NULL, "%s: %s", trawl_strerror(rc),
		          err);
	} else {
		if (count_only)
			send_json(
			    resp, 200,
			    json_pack("{s:I, s:o}", "count", (json_int_t)res->total, "_shards",
			              shards_json(res->shards_total, res->shards_answered,
			                          res->shards_failed + res->shards_timed_out)),
			    sr.pretty);
		else
			send_text(resp, 200, os_render_search(res, &sr, index_name, sr.pretty),
			          sr.pretty);
		root_result_free(res);
	}
	tbuf_fini(&tree);
	os_search_req_fini(&sr);
}

static const char *const get_params[] = {
    "_source", "_source_includes", "_source_excludes", "preference", "realtime", "refresh", NULL};

/* GET /{index}/_doc/{id} (source_only 0) and GET /{index}/_source/{id}. */
static void get_doc(root *r, const char *index_name, const char *index, const char *id,
                    const qparams *qp, const http_request *req, http_response *resp,
                    int source_only, int pretty)
{
	os_error e;
	os_search_req sr = {0};
	sr.source = 1;
	if (qs_check(qp, get_params, req->path, &e) || source_from_params(qp, &sr, &e)) {
		send_err(resp, &e, NULL, pretty);
		os_search_req_fini(&sr);
		return;
	}
	if (strcmp(index, index_name)) {
		index_not_found(resp, pretty, index);
		os_search_req_fini(&sr);
		return;
	}
	char err[LIMIT_ERRMSG_BYTES], *doc = NULL;
	size_t len = 0;
	uint64_t version = 1, seq_no = 0;
	/* realtime (OpenSearch's default): the writer's view, every write
	 * acknowledged included, with its version and sequence number */
	int realtime = 1, rc;
	const root_writer *w = root_writer_of(r);
	const char *rt = qs_get(qp, "realtime");
	if (rt && parse_flag(rt, &realtime)) {
		send_errf(resp, pretty, 400, "illegal_argument_exception", NULL,
		          "Failed to parse value [%.64s] as only [true] or [false] are allowed.",
		          rt);
		os_search_req_fini(&sr);
		return;
	}
	if (w && realtime && strlen(id) <= LIMIT_ID_BYTES) {
		idx_wlive st = {0};
		rc = w->get(w->ctx, id, (uint32_t)strlen(id), &st, err, sizeof err);
		if (rc == TRAWL_OK && !st.exists)
			rc = TRAWL_ENOTFOUND;
		else if (rc == TRAWL_OK && !st.doc)
			rc =
			    errf(err, sizeof err, TRAWL_ENOTFOUND,
			         "document \"%.80s\" exists but the index stores no documents", id);
		doc = st.doc;
		len = st.doclen;
		version = st.version;
		seq_no = st.seq_no;
	} else {
		rc = root_get(r, id, &doc, &len, err, sizeof err);
	}
	if (rc == TRAWL_ENOTFOUND) {
		if (source_only)
			send_errf(resp, pretty, 404, "resource_not_found_exception", NULL,
			          "Document not found [%.200s]/[%.200s]", index_name, id);
		else
			send_json(resp, 404,
			          json_pack("{s:o, s:o, s:b}", "_index", jstr(index_name), "_id",
			                    jstr(id), "found", 0),
			          pretty);
	} else if (rc == TRAWL_ECORRUPT) {
		send_errf(resp, pretty, 500, "exception", NULL, "%s: %s", trawl_strerror(rc), err);
	} else if (rc) {
		send_errf(resp, pretty, 503, "unavailable_shards_exception", NULL, "%s", err);
	} else {
		root_hit h = {0};
		h.doc = doc;
		h.doc_len = len;
		raw_parts rp = {0};
		json_t *src = hit_source(&rp, &h, &sr);
		if (source_only) {
			send_text(resp, 200, raw_dump(&rp, src, pretty), pretty);
		} else {
			json_t *j =
			    json_pack("{s:o, s:o, s:I, s:I, s:i, s:b}", "_index", jstr(index_name),
			              "_id", jstr(id), "_version", (json_int_t)version, "_seq_no",
			              (json_int_t)seq_no, "_primary_term", 1, "found", 1);
			if (sr.source)
				json_object_set_new(j, "_source", src);
			else
				json_decref(src);
			send_text(resp, 200, raw_dump(&rp, j, pretty), pretty);
		}
		raw_parts_fini(&rp);
	}
	free(doc);
	os_search_req_fini(&sr);
}

static int is(const char *a, const char *b)
{
	return a && !strcmp(a, b);
}
/* ------------------------------------------------------------------------ */
/* writes (issue #12): to the index's indexer (root_writer)                 */
/* ------------------------------------------------------------------------ */

/* The refresh parameter: 0 "false" (or none), 1 "true" (or empty), 2
 * "wait_for"; -1 anything else. trawl has one way to make writes
 * searchable, the next generation, so true and wait_for both wait for it
 * (true asks for it at once, as wait_for does: the indexer makes one as
 * soon as a refresh waits). */
static int refresh_mode(const char *v)
{
	if (!v)
		return 0;
	if (!*v || !strcmp(v, "true"))
		return 1;
	if (!strcmp(v, "false"))
		return 0;
	if (!strcmp(v, "wait_for"))
		return 2;
	return -1;
}

/* The URL's if_seq_no and if_primary_term into w (-1 each: none). */
static int read_conditions(const qparams *qp, idx_wreq *w, os_error *e)
{
	const char *s = qs_get(qp, "if_seq_no"), *t = qs_get(qp, "if_primary_term");
	uint64_t v;
	w->if_seq_no = w->if_primary_term = -1;
	if (s) {
		if (parse_u64(s, INT64_MAX, &v))
			return set_err(e, 400, "illegal_argument_exception",
			               "if_seq_no must be a number from 0, not [%.64s]", s);
		w->if_seq_no = (int64_t)v;
	}
	if (t) {
		if (parse_u64(t, INT64_MAX, &v) || v == 0)
			return set_err(e, 400, "illegal_argument_exception",
			               "if_primary_term must be a number from 1, not [%.64s]", t);
		w->if_primary_term = (int64_t)v;
	}
	if (!s != !t)
		return set_err(e, 400, "action_request_validation_exception",
		               "Validation Failed: 1: if_seq_no and if_primary_term must be given "
		               "together;");
	return 0;
}

/* The checks every write makes first: a writer, the index, the refresh
 * parameter and the URL's parameters. Returns the refresh mode, or -1
 * with the error sent. */
static int write_prologue(root *r, const char *index_name, const char *index, const qparams *qp,
                          const char *const *allowed, const http_request *req, http_response *resp,
                          int pretty)
{
	os_error e;
	if (!root_writer_of(r)) {
		refuse_write(resp, pretty);
		return -1;
	}
	if (qs_check(qp, allowed, req->path, &e)) {
		send_err(resp, &e, NULL, pretty);
		return -1;
	}
	if (index && strcmp(index, index_name)) {
		index_not_found(resp, pretty, index);
		return -1;
	}
	int mode = refresh_mode(qs_get(qp, "refresh"));
	if (mode < 0)
		send_errf(resp, pretty, 400, "illegal_argument_exception", NULL,
		          "Unknown value for refresh: [%.64s].", qs_get(qp, "refresh"));
	return mode;
}

/* Waits, for a refresh mode other than false, until operation seq is
 * searchable. The write is acknowledged whatever happens here: a refresh
 * that fails is said in a Warning header, never as a failed write (a
 * client would write again). */
static void write_refresh(root *r, int mode, uint64_t seq, json_t *answer, http_response *resp)
{
	if (!mode || !seq)
		return;
	char err[LIMIT_ERRMSG_BYTES];
	if (root_refresh(r, seq, LIMIT_REFRESH_WAIT_MS, err, sizeof err)) {
		char warn[LIMIT_ERRMSG_BYTES + 64];
		snprintf(warn, sizeof warn, "299 trawl \"written, not yet searchable: %s\"", err);
		for (char *c = warn; *c; c++)
			if (*c == '\n' || *c == '\r')
				*c = ' ';
		http_response_header(resp, "Warning", warn);
		return;
	}
	if (mode == 1 && answer)
		json_object_set_new(answer, "forced_refresh", json_true());
}

/* One document's answer: OpenSearch's index, delete and update response. */
static json_t *write_answer(const char *index_name, const idx_wres *w)
{
	int wrote = strcmp(w->result, "noop") != 0;
	return json_pack("{s:s, s:s%, s:I, s:s, s:{s:i, s:i, s:i}, s:I, s:I}", "_index", index_name,
	                 "_id", w->id, (size_t)w->idlen, "_version", (json_int_t)w->version,
	                 "result", w->result, "_shards", "total", wrote, "successful", wrote,
	                 "failed", 0, "_seq_no", (json_int_t)w->seq_no, "_primary_term",
	                 (json_int_t)w->primary_term);
}

/* Runs one write request and answers it. */
static void write_one(root *r, const char *index_name, const idx_wreq *wr, int mode,
                      http_response *resp, int pretty)
{
	const root_writer *w = root_writer_of(r);
	idx_wres *res = calloc(1, sizeof *res);
	char err[LIMIT_ERRMSG_BYTES];
	if (!res) {
		send_errf(resp, pretty, 500, "exception", NULL, "out of memory");
		return;
	}
	int rc = w->write(w->ctx, wr, 1, res, err, sizeof err);
	if (rc == TRAWL_EBUSY) { /* the backlog's bound: the client backs off */
		send_errf(resp, pretty, 429, "es_rejected_execution_exception", index_name, "%s",
		          err);
		http_response_header(resp, "Retry-After", "1");
	} else if (rc) {
		send_errf(resp, pretty, rc == TRAWL_ENOSPC ? 507 : 500, "exception", index_name,
		          "%s", err);
	} else if (!res->result) {
		send_errf(resp, pretty, res->status,
		          res->error_type ? res->error_type : "exception", index_name, "%s",
		          res->reason);
	} else {
		json_t *a = write_answer(index_name, res);
		write_refresh(r, mode, res->seq_no, a, resp);
		if (res->status == 201) {
			char loc[LIMIT_ID_BYTES * 3 + 300];
			snprintf(loc, sizeof loc, "/%s/_doc/%.*s", index_name, (int)res->idlen,
			         res->id);
			http_response_header(resp, "Location", loc);
		}
		send_json(resp, res->status, a, pretty);
	}
	free(res);
}

static const char *const doc_write_params[] = {
    "refresh", "op_type", "if_seq_no", "if_primary_term", "timeout", "wait_for_active_shards",
    NULL};

/* PUT|POST /{index}/_doc/{id}, POST /{index}/_doc, PUT|POST
 * /{index}/_create/{id}, DELETE /{index}/_doc/{id}. */
static void doc_write(root *r, const char *index_name, const char *index, const char *id,
                      idx_wact act, const qparams *qp, const http_request *req, http_response *resp,
                      int pretty)
{
	int mode = write_prologue(r, index_name, index, qp, doc_write_params, req, resp, pretty);
	if (mode < 0)
		return;
	os_error e;
	idx_wreq w = {0};
	w.act = act;
	const char *op = qs_get(qp, "op_type");
	if (op && act == IDX_WACT_INDEX && !strcmp(op, "create"))
		w.act = IDX_WACT_CREATE;
	else if (op && !(act == IDX_WACT_INDEX && !strcmp(op, "index")) &&
	         !(act == IDX_WACT_CREATE && !strcmp(op, "create"))) {
		send_errf(resp, pretty, 400, "illegal_argument_exception", NULL,
		          "op_type must be [index] or [create], not [%.64s]", op);
		return;
	}
	if (read_conditions(qp, &w, &e)) {
		send_err(resp, &e, NULL, pretty);
		return;
	}
	if (w.act == IDX_WACT_CREATE && w.if_seq_no >= 0) {
		send_errf(resp, pretty, 400, "action_request_validation_exception", NULL,
		          "Validation Failed: 1: create operations do not support compare and set. "
		          "use index instead;");
		return;
	}
	size_t idlen = id ? strlen(id) : 0;
	if (id && (idlen == 0 || idlen > LIMIT_ID_BYTES)) {
		send_errf(resp, pretty, 400, "illegal_argument_exception", NULL,
		          "an id is 1 to %d bytes; this one is %zu", LIMIT_ID_BYTES, idlen);
		return;
	}
	w.id = id;
	w.idlen = (uint32_t)idlen;
	if (act != IDX_WACT_DELETE) {
		if (req->body_len == 0) {
			send_errf(resp, pretty, 400, "action_request_validation_exception", NULL,
			          "Validation Failed: 1: source is missing;");
			return;
		}
		w.doc = (const char *)req->body;
		w.doclen = (uint32_t)req->body_len;
	}
	write_one(r, index_name, &w, mode, resp, pretty);
}

static const char *const update_params[] = {"refresh",
                                            "if_seq_no",
                                            "if_primary_term",
                                            "retry_on_conflict",
                                            "timeout",
                                            "wait_for_active_shards",
                                            NULL};

/* POST /{index}/_update/{id}: a partial document merged into the one there
 * (doc, upsert, doc_as_upsert, detect_noop). retry_on_conflict is
 * accepted: a conflict here comes only from if_seq_no, which a retry
 * would not change. */
static void doc_update(root *r, const char *index_name, const char *index, const char *id,
                       const qparams *qp, const http_request *req, http_response *resp, int pretty)
{
	int mode = write_prologue(r, index_name, index, qp, update_params, req, resp, pretty);
	if (mode < 0)
		return;
	os_error e;
	os_bulk_item it = {0};
	it.req.act = IDX_WACT_UPDATE;
	if (read_conditions(qp, &it.req, &e)) {
		send_err(resp, &e, NULL, pretty);
		return;
	}
	os_update_parse((const char *)req->body, req->body_len, &it);
	if (it.failed) {
		send_errf(resp, pretty, it.status, it.error_type ? it.error_type : "exception",
		          NULL, "%s", it.reason ? it.reason : "out of memory");
		os_bulk_item_fini(&it);
		return;
	}
	it.req.id = id;
	it.req.idlen = (uint32_t)strlen(id);
	if (it.req.idlen > LIMIT_ID_BYTES)
		send_errf(resp, pretty, 400, "illegal_argument_exception", NULL,
		          "an id is 1 to %d bytes; this one is %u", LIMIT_ID_BYTES, it.req.idlen);
	else
		write_one(r, index_name, &it.req, mode, resp, pretty);
	os_bulk_item_fini(&it);
}

static const char *const bulk_params[] = {"refresh", "timeout", "wait_for_active_shards", NULL};

/* POST|PUT /_bulk and /{index}/_bulk: the body compiled (root/bulk.c) and
 * decided LIMIT_BULK_CHUNK items at a time, each chunk's items rendered as
 * it is done, so that a large request holds its outcomes a chunk at a
 * time. */
static void bulk(root *r, const char *index_name, const char *index, const qparams *qp,
                 const http_request *req, http_response *resp, int pretty)
{
	int mode = write_prologue(r, index_name, index, qp, bulk_params, req, resp, pretty);
	if (mode < 0)
		return;
	const root_writer *w = root_writer_of(r);
	uint64_t t0 = clock_mono_us();
	os_bulk b;
	int status = 400;
	char err[LIMIT_ERRMSG_BYTES];
	if (os_bulk_parse((const char *)req->body, req->body_len, index, &b, &status, err,
	                  sizeof err)) {
		send_errf(resp, pretty, status,
		          status == 413 ? "content_too_long" : "illegal_argument_exception", NULL,
		          "%s", err);
		return;
	}
	idx_wreq *reqs = calloc(LIMIT_BULK_CHUNK, sizeof *reqs);
	idx_wres *res = calloc(LIMIT_BULK_CHUNK, sizeof *res);
	uint32_t *of = calloc(LIMIT_BULK_CHUNK, sizeof *of);
	json_t *items = json_array();
	if (!reqs || !res || !of || !items) {
		send_errf(resp, pretty, 500, "exception", NULL, "out of memory");
		goto out;
	}
	int errors = 0, decided = 0;
	uint64_t last = 0;
	for (uint32_t from = 0; from < b.n;) {
		uint32_t n = 0, to = from;
		for (; to < b.n && n < LIMIT_BULK_CHUNK; to++) {
			os_bulk_item *it = &b.items[to];
			if (!it->failed && it->index && strcmp(it->index, index_name)) {
				it->failed = 1;
				it->status = 404;
				it->error_type = "index_not_found_exception";
				free(it->reason);
				it->reason = NULL;
				if (asprintf(&it->reason, "no such index [%.200s]", it->index) < 0)
					it->reason = NULL;
			}
			if (it->failed)
				continue;
			of[n] = to;
			reqs[n++] = it->req;
		}
		int rc = n ? w->write(w->ctx, reqs, n, res, err, sizeof err) : TRAWL_OK;
		if (rc == TRAWL_EBUSY && !decided) {
			/* the backlog's bound, before any item was decided: the
			 * request is refused whole, as OpenSearch's full write queue
			 * refuses it */
			send_errf(resp, pretty, 429, "es_rejected_execution_exception", NULL, "%s",
			          err);
			http_response_header(resp, "Retry-After", "1");
			goto out;
		}
		decided |= n && !rc;
		for (uint32_t i = 0; rc && i < n; i++) {
			/* nothing of the chunk was decided: each item fails with why */
			res[i] = (idx_wres){0};
			res[i].status = rc == TRAWL_ENOSPC ? 507 : rc == TRAWL_EBUSY ? 429 : 500;
			res[i].error_type =
			    rc == TRAWL_EBUSY ? "es_rejected_execution_exception" : "exception";
			snprintf(res[i].reason, sizeof res[i].reason, "%s", err);
		}
		for (uint32_t i = 0, k = 0; from < to; from++) {
			const os_bulk_item *it = &b.items[from];
			const idx_wres *x = NULL;
			if (!it->failed && k < n && of[k] == from)
				x = &res[k++];
			errors |= !x || !x->result;
			if (x && x->result && x->seq_no > last)
				last = x->seq_no;
			json_array_append_new(items, os_bulk_render_item(it, x));
			(void)i;
		}
	}
	json_t *a =
	    json_pack("{s:I, s:b, s:o}", "took", (json_int_t)((clock_mono_us() - t0) / 1000),
	              "errors", errors, "items", items);
	items = NULL;
	write_refresh(r, mode, last, NULL, resp);
	send_json(resp, 200, a, pretty);
out:
	json_decref(items);
	free(reqs);
	free(res);
	free(of);
	os_bulk_free(&b);
}

static const char *const refresh_params[] = {"ignore_unavailable", "allow_no_indices",
                                             "expand_wildcards", NULL};

/* POST|GET /_refresh and /{index}/_refresh: every write acknowledged
 * before is searchable when it returns. */
static void refresh(root *r, const char *index_name, const char *index, const qparams *qp,
                    const http_request *req, http_response *resp, int pretty)
{
	os_error e;
	if (qs_check(qp, refresh_params, req->path, &e)) {
		send_err(resp, &e, NULL, pretty);
		return;
	}
	char missing[256];
	if (index && os_index_matches(index, index_name, missing, sizeof missing) <= 0) {
		index_not_found(resp, pretty, missing[0] ? missing : index);
		return;
	}
	char err[LIMIT_ERRMSG_BYTES];
	int rc = root_refresh(r, 0, LIMIT_REFRESH_WAIT_MS, err, sizeof err);
	if (rc)
		send_errf(resp, pretty, rc == TRAWL_EBUSY ? 503 : 500, "exception", index_name,
		          "%s", err);
	else
		send_json(resp, 200,
		          json_pack("{s:{s:i, s:i, s:i}}", "_shards", "total", 1, "successful", 1,
		                    "failed", 0),
		          pretty);
}

/* The writes under /{index}/ (b the endpoint, rest the id or NULL):
 * 1 when handled (answered), 0 when the path is none of them. */
static int route_write(root *r, const char *index_name, const char *index, const char *b,
                       const char *rest, const qparams *qp, const http_request *req,
                       http_response *resp, int pretty)
{
	const char *m = req->method;
	int post = is(m, "POST"), put = is(m, "PUT");
	if (is(b, "_doc") && rest && (put || post))
		doc_write(r, index_name, index, rest, IDX_WACT_INDEX, qp, req, resp, pretty);
	else if (is(b, "_doc") && rest && is(m, "DELETE"))
		doc_write(r, index_name, index, rest, IDX_WACT_DELETE, qp, req, resp, pretty);
	else if (is(b, "_doc") && !rest && post)
		doc_write(r, index_name, index, NULL, IDX_WACT_INDEX, qp, req, resp, pretty);
	else if (is(b, "_doc") && !rest && (put || is(m, "DELETE")))
		bad_method(resp, pretty, req, "POST");
	else if (is(b, "_bulk") && !rest)
		post || put ? bulk(r, index_name, index, qp, req, resp, pretty)
		            : bad_method(resp, pretty, req, "POST, PUT");
	else if (is(b, "_refresh") && !rest)
		post || is(m, "GET") ? refresh(r, index_name, index, qp, req, resp, pretty)
		                     : bad_method(resp, pretty, req, "POST, GET");
	else if (is(b, "_create") && rest)
		post || put
		    ? doc_write(r, index_name, index, rest, IDX_WACT_CREATE, qp, req, resp, pretty)
		    : bad_method(resp, pretty, req, "POST, PUT");
	else if (is(b, "_update") && rest)
		post ? doc_update(r, index_name, index, rest, qp, req, resp, pretty)
		     : bad_method(resp, pretty, req, "POST");
	else
		return 0;
	return 1;
}

/* Endpoints under /{index}/ that write. */
static const char *const write_endpoints[] = {"_create",          "_update",          "_bulk",
                                              "_update_by_query", "_delete_by_query", NULL};

void os_handle(root *r, const char *index_name, const http_request *req, http_response *resp,
               int *handled)
{
	*handled = 1;
	const char *m = req->method;
	int get = is(m, "GET") || is(m, "HEAD"), post = is(m, "POST");
	int pretty = 0;
	qparams qp;
	os_error e;
	if (qs_parse(req->query, &qp, &e)) {
		send_err(resp, &e, NULL, 0);
		return;
	}
	const char *pv = qs_get(&qp, "pretty");
	if (pv && parse_flag(pv, &pretty))
		pretty = 0;

	/* the path as up to two segments and the rest: /a/b/rest... */
	const char *p = req->path ? req->path : "/";
	while (*p == '/')
		p++;
	char *copy = strdup(p);
	if (!copy) {
		send_errf(resp, pretty, 500, "exception", NULL, "out of memory");
		qs_free(&qp);
		return;
	}
	char *a = copy, *b = NULL, *rest = NULL, *sl;
	if ((sl = strchr(a, '/'))) {
		*sl = 0;
		b = sl + 1;
		if ((sl = strchr(b, '/'))) {
			*sl = 0;
			rest = sl + 1;
		}
	}
	if (b && !*b && !rest)
		b = NULL; /* a trailing slash */
	int has_rest = rest && *rest;

	if (!*a) {
		if (get)
			info(index_name, resp, pretty);
		else
			bad_method(resp, pretty, req, "HEAD, GET");
	} else if (a[0] == '_' && strcmp(a, "_all")) {
		if ((is(a, "_search") || is(a, "_count")) && !b) {
			if (get || post)
				search(r, index_name, "_all", req, resp, is(a, "_count"));
			else
				bad_method(resp, pretty, req, "GET, POST");
		} else if (is(a, "_cluster") && is(b, "health") && !(rest && strchr(rest, '/'))) {
			if (get)
				health(r, index_name, has_rest ? rest : NULL, &qp, req, resp,
				       pretty);
			else
				bad_method(resp, pretty, req, "GET");
		} else if (is(a, "_mapping") && !b) {
			if (get)
				mapping(r, index_name, NULL, &qp, req, resp, pretty);
			else
				bad_method(resp, pretty, req, "GET, HEAD");
		} else if ((is(a, "_bulk") || is(a, "_refresh")) && !b) {
			route_write(r, index_name, NULL, a, NULL, &qp, req, resp, pretty);
		} else {
			*handled = 0;
		}
	} else if (!b) {
		/* /{index}: exists (HEAD); creating or deleting an index is a write */
		char missing[256];
		if (is(m, "HEAD")) {
			int found = os_index_matches(a, index_name, missing, sizeof missing) > 0;
			if (found)
				send_json(resp, 200, json_object(), pretty);
			else
				index_not_found(resp, pretty, a);
		} else if (is(m, "PUT") || is(m, "DELETE")) {
			refuse_write(resp, pretty);
		} else {
			*handled = 0;
		}
	} else if ((is(b, "_search") || is(b, "_count")) && !has_rest) {
		if (get || post)
			search(r, index_name, a, req, resp, is(b, "_count"));
		else
			bad_method(resp, pretty, req, "GET, POST");
	} else if (is(b, "_doc") || is(b, "_source")) {
		if (has_rest && get)
			get_doc(r, index_name, a, rest, &qp, req, resp, is(b, "_source"), pretty);
		else if (is(b, "_doc") && route_write(r, index_name, a, b, has_rest ? rest : NULL,
		                                      &qp, req, resp, pretty))
			; /* a write */
		else if (has_rest)
			bad_method(resp, pretty, req, "GET, HEAD");
		else
			*handled = 0;
	} else if (is(b, "_mapping") && !has_rest) {
		if (get)
			mapping(r, index_name, a, &qp, req, resp, pretty);
		else if (is(m, "PUT") || post)
			refuse_write(resp, pretty); /* a mapping is the schema of a build */
		else
			bad_method(resp, pretty, req, "GET, HEAD");
	} else if (route_write(r, index_name, a, b, has_rest ? rest : NULL, &qp, req, resp,
	                       pretty)) {
		; /* a write */
	} else if (in_list(write_endpoints, b)) {
		refuse_write(resp, pretty);
	} else {
		*handled = 0;
	}
	free(copy);
	qs_free(&qp);
}
