/*
 * api.c - the root's HTTP endpoints (docs/HTTP.md), and the dispatch to the
 * OpenSearch-compatible ones (root/opensearch.c) and to the search page
 * (root/ui.c). Requests are parsed and checked here (unknown parameters and
 * fields are errors, every number is bounded, and q and filter are parsed
 * into one query tree, so a syntax error never reaches a leaf), turned into
 * a root_query, and the result rendered as JSON.
 */
#include "api.h"
#include "auth.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/http.h"
#include "common/qtree.h"
#include "common/sortspec.h"
#include "index/query.h"
#include "root/dsl.h"
#include "root/cache.h"
#include "root/opensearch.h"
#include "root/ui.h"
#include "trawl/trawl.h"

/* Latency histogram buckets (seconds) of /metrics. */
static const double buckets[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025,
                                 0.05,   0.1,   0.25,  0.5,   1,    2.5};
#define NBUCKETS (sizeof buckets / sizeof buckets[0])

/* One event loop: it only does what never waits (health, metrics, cached
 * answers, about 75,000 a second on one core of the benchmark machine),
 * and leaves the other cores to the workers and leaves; on 2 cores shared
 * with the load generator, two loops served 1.14x nginx's requests but
 * with a p99 of 2.6 ms, one loop 0.89x at 1.5 ms (bench/RESULTS.md).
 * Workers run the searches that wait on leaves: one is held until its
 * leaves answer or the deadline passes, so there are enough for many slow
 * searches at once; more wait in the HTTP module's queue. */
#define API_LOOPS 1u
#define API_WORKERS 64u
/* writes at once on background workers (a write waiting for its fsync or
 * a refresh holds one) */
#define API_BACKGROUND_WORKERS 32u

struct api {
	catalog *cat;
	api_config cfg;
	http_server *http;
	atomic_uint_fast64_t searches, search_errors, partial;
	atomic_uint_fast64_t hist[NBUCKETS + 1];
	atomic_uint_fast64_t hist_sum_us;
	atomic_int draining; /* api_drain: /readyz 503 "draining" */
};

static void observe(api *a, uint64_t us)
{
	double s = (double)us / 1e6;
	size_t i = 0;
	while (i < NBUCKETS && s > buckets[i])
		i++;
	atomic_fetch_add(&a->hist[i], 1);
	atomic_fetch_add(&a->hist_sum_us, us);
}

/* A search refused because the cluster is overloaded (TRAWL_EBUSY):
 * OpenSearch's 429, with Retry-After: 1. */
static void too_many_requests(http_response *resp, const char *why)
{
	http_response_error(resp, 429, "rejected_execution_exception", "%s", why);
	http_response_header(resp, "Retry-After", "1");
}

static void send_json(http_response *resp, int status, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(7));
	json_decref(j);
	if (!s) {
		http_response_error(resp, 500, "internal_error", "out of memory");
		return;
	}
	http_response_json(resp, status, s, strlen(s));
	free(s);
}

/* ---- parameters ---- */

typedef struct params {
	root_query q;
	char *qbuf;                       /* owned copy of the query text */
	char *filters[LIMIT_API_FILTERS]; /* owned copies of the filters' texts */
	uint32_t nfilters;
	int and_default; /* parse it with the AND default */
	tbuf tree;       /* its query tree, encoded (q.tree points here) */
	char field[65];
	const char *k_by, *offset_by;           /* which of two names set k and offset */
	char sortbuf[LIMIT_API_SORT_BYTES + 1]; /* sort=: the field names point here */
	trawl_sort sort[TRAWL_MAX_SORT_KEYS];
	char *after;     /* search_after's JSON (owned) */
	aggs_spec *aggs; /* aggs= (owned), and its canonical text */
	char *aggs_canon;
	size_t aggs_canon_len;
	int k_zero; /* k (size) 0 was asked for: only with aggregations */
} params;

/* An alias given beside the name it stands for ("offset=1&from=2"): one of
 * the two would be silently ignored. *by remembers the first name. */
static int one_name(const char **by, const char *name, char *err, size_t errlen)
{
	if (*by && strcmp(*by, name))
		return snprintf(err, errlen, "%s and %s are one parameter: give one of them", *by,
		                name),
		       -1;
	*by = name;
	return 0;
}

static int parse_u32(const char *s, uint32_t max, uint32_t *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || !*s || *end || v > max || *s == '-')
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int parse_bool(const char *s, int *out)
{
	if (!strcmp(s, "true") || !strcmp(s, "1") || !*s)
		*out = 1;
	else if (!strcmp(s, "false") || !strcmp(s, "0"))
		*out = 0;
	else
		return -1;
	return 0;
}

static void params_defaults(params *p)
{
	memset(p, 0, sizeof *p);
	tbuf_init(&p->tree, TRAWL_MAX_QUERY_TREE_BYTES);
	p->q.k = 10;
	p->q.count = 1;
	p->q.allow_partial = 1;
	p->q.fetch = 1;
	p->q.snippet_chars = 200;
}

static void params_fini(params *p)
{
	free(p->qbuf);
	free(p->after);
	aggs_spec_free(p->aggs);
	free(p->aggs_canon);
	for (uint32_t i = 0; i < p->nfilters; i++)
		free(p->filters[i]);
	tbuf_fini(&p->tree);
}

/* blank: s is NULL or only white space. */
static int blank(const char *s)
{
	while (s && qt_is_space((unsigned char)*s))
		s++;
	return !s || !*s;
}

/* query_tree parses p's query text and its filters into one tree (the
 * query's clauses score, the filters' only narrow: qt_with_filter; a blank
 * query beside a filter is none), encoded in p->tree for p->q: TRAWL_OK, or
 * a parse error (err says "column N: ...", after "filter: " for a filter's,
 * "filter[2]: " for a list's second, "q and filter together: " for a limit
 * they reach together). */
static int query_tree(params *p, char *err, size_t errlen)
{
	qt_node *tree = NULL;
	int rc = TRAWL_OK;
	char why[768];
	if (!p->nfilters || !blank(p->qbuf))
		rc = idx_query_parse(p->qbuf ? p->qbuf : "", p->qbuf ? strlen(p->qbuf) : 0,
		                     p->and_default, &tree, err, errlen);
	for (uint32_t i = 0; !rc && i < p->nfilters; i++) {
		qt_node *f = NULL;
		char name[16] = "filter";
		if (p->nfilters > 1)
			snprintf(name, sizeof name, "filter[%u]", (unsigned)i + 1);
		if ((rc = idx_query_parse_filter(p->filters[i], strlen(p->filters[i]), &f, why,
		                                 sizeof why))) {
			snprintf(err, errlen, "%s: %s", name, why);
		} else if ((rc = qt_with_filter(tree, f, &tree, why, sizeof why))) {
			tree = NULL; /* both were freed */
			snprintf(err, errlen, "q and %s together: %s",
			         p->nfilters > 1 ? "filters" : "filter", why);
		}
	}
	if (!rc)
		rc = qt_encode(tree, &p->tree, err, errlen);
	qt_free(tree);
	p->q.tree = p->tree.data;
	p->q.tree_len = p->tree.len;
	return rc;
}

/* aggs (the value of aggs= or of a body's "aggs"): parsed, its filters'
 * queries compiled by the DSL's compiler. 0 or -1 (err says why). */
static int set_aggs(params *p, const json_t *j, char *err, size_t errlen)
{
	if (p->aggs)
		return snprintf(err, errlen, "aggs and aggregations are one parameter: give one"),
		       -1;
	char why[512];
	if (dsl_aggs(j, &p->aggs, &p->aggs_canon, &p->aggs_canon_len, why, sizeof why))
		return snprintf(err, errlen, "%s", why), -1;
	p->q.aggs = p->aggs;
	p->q.aggs_canon = p->aggs_canon;
	p->q.aggs_canon_len = p->aggs_canon_len;
	return 0;
}

/* sort, search_after and aggs: as set_param. */
static int set_order_param(params *p, const char *name, const char *val, char *err, size_t errlen)
{
	if (!strcmp(name, "sort")) {
		if (strlen(val) > LIMIT_API_SORT_BYTES)
			return snprintf(err, errlen, "sort is at most %d bytes",
			                LIMIT_API_SORT_BYTES),
			       -1;
		snprintf(p->sortbuf, sizeof p->sortbuf, "%s", val);
		char why[200];
		if (sortspec_parse(p->sortbuf, p->sort, &p->q.nsort, why, sizeof why))
			return snprintf(err, errlen, "sort: %s", why), -1;
		p->q.sort = p->sort;
		return 0;
	}
	if (!strcmp(name, "aggs") || !strcmp(name, "aggregations")) {
		json_error_t je;
		json_t *j = json_loads(val, JSON_REJECT_DUPLICATES, &je);
		if (!j)
			return snprintf(err, errlen, "%s: line %d, column %d: %s", name, je.line,
			                je.column, je.text),
			       -1;
		int rc = set_aggs(p, j, err, errlen);
		json_decref(j);
		return rc;
	}
	if (!strcmp(name, "search_after")) {
		json_t *a = strlen(val) <= LIMIT_SORT_JSON_BYTES ? json_loads(val, 0, NULL) : NULL;
		int ok = json_is_array(a) && json_array_size(a) > 0;
		json_decref(a);
		if (!ok)
			return snprintf(err, errlen,
			                "search_after must be a JSON array of a hit's sort values, "
			                "at most %d bytes",
			                LIMIT_SORT_JSON_BYTES),
			       -1;
		free(p->after);
		if (!(p->after = strdup(val)))
			return snprintf(err, errlen, "out of memory"), -1;
		p->q.search_after = p->after;
		p->q.search_after_len = strlen(val);
		return 0;
	}
	return -2;
}

/* One named parameter (from the query string or a JSON body); error text in
 * err. Returns 0, or -1 for a bad value, -2 for an unknown name. */
static int set_param(params *p, const char *name, const char *val, char *err, size_t errlen)
{
	uint32_t u;
	int b;
	if (!strcmp(name, "q")) {
		free(p->qbuf);
		p->qbuf = strdup(val);
		if (!p->qbuf)
			return -1;
		return 0;
	}
	if (!strcmp(name, "filter")) {
		if (p->nfilters == LIMIT_API_FILTERS)
			return snprintf(err, errlen, "at most %d filters", LIMIT_API_FILTERS), -1;
		if (!(p->filters[p->nfilters] = strdup(val)))
			return snprintf(err, errlen, "out of memory"), -1;
		p->nfilters++;
		return 0;
	}
	if (!strcmp(name, "k") || !strcmp(name, "size")) {
		if (one_name(&p->k_by, name, err, errlen))
			return -1;
		if (parse_u32(val, TRAWL_MAX_K, &u))
			return snprintf(err, errlen, "%s must be a number from 1 to %d", name,
			                TRAWL_MAX_K),
			       -1;
		p->q.k = u;
		p->k_zero = u == 0;
		return 0;
	}
	if (!strcmp(name, "offset") || !strcmp(name, "from")) {
		if (one_name(&p->offset_by, name, err, errlen))
			return -1;
		if (parse_u32(val, TRAWL_MAX_K, &u))
			return snprintf(err, errlen, "%s must be a number from 0 to %d", name,
			                TRAWL_MAX_K),
			       -1;
		p->q.offset = u;
		return 0;
	}
	if (!strcmp(name, "timeout_ms")) {
		if (parse_u32(val, LIMIT_TIMEOUT_MS, &u) || u == 0)
			return snprintf(err, errlen, "timeout_ms must be a number from 1 to %d",
			                LIMIT_TIMEOUT_MS),
			       -1;
		p->q.timeout_ms = u;
		return 0;
	}
	if (!strcmp(name, "min_coverage")) {
		char *end;
		double d = strtod(val, &end);
		if (*end || !(d >= 0 && d <= 1))
			return snprintf(err, errlen, "min_coverage must be a number from 0 to 1"),
			       -1;
		p->q.min_coverage = d;
		return 0;
	}
	int *flag = !strcmp(name, "allow_partial") ? &p->q.allow_partial
	            : !strcmp(name, "count")       ? &p->q.count
	            : !strcmp(name, "and")         ? &p->and_default
	            : !strcmp(name, "source")      ? &p->q.fetch
	                                           : NULL;
	if (flag) {
		if (parse_bool(val, &b))
			return snprintf(err, errlen, "%s must be true or false", name), -1;
		*flag = b;
		return 0;
	}
	if (!strcmp(name, "snippet")) {
		if (strlen(val) > LIMIT_FIELD_NAME_BYTES)
			return snprintf(err, errlen, "snippet names a field of at most 64 bytes"),
			       -1;
		snprintf(p->field, sizeof p->field, "%s", val);
		p->q.snippet_field = p->field[0] ? p->field : NULL;
		return 0;
	}
	if (!strcmp(name, "preference")) {
		if (strlen(val) > LIMIT_PREFERENCE_BYTES)
			return snprintf(err, errlen, "preference is at most %d bytes",
			                LIMIT_PREFERENCE_BYTES),
			       -1;
		p->q.preference = val; /* valid for the request */
		return 0;
	}
	return set_order_param(p, name, val, err, errlen);
}

static const char *const get_params[] = {"q",
                                         "filter",
                                         "k",
                                         "size",
                                         "offset",
                                         "from",
                                         "timeout_ms",
                                         "min_coverage",
                                         "allow_partial",
                                         "count",
                                         "and",
                                         "source",
                                         "snippet",
                                         "preference",
                                         "sort",
                                         "search_after",
                                         "aggs",
                                         NULL};

/* ---- rendering ----
 * The search response is written as text: stored documents are valid JSON
 * already (the build validated them), so they are copied in as they are
 * instead of being parsed and serialised again on every answer. */

/* Appends s as a JSON string (quoted and escaped). */
static void put_jstr(tbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	tbuf_putc(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
		if (*p == '"' || *p == '\\') {
			tbuf_putc(b, '\\');
			tbuf_putc(b, *p);
		} else if (*p < 0x20) {
			char e[7] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15], 0};
			tbuf_append(b, e, 6);
		} else {
			tbuf_putc(b, *p);
		}
	}
	tbuf_putc(b, '"');
}

static void render(const root_result *res, int cached, tbuf *b)
{
	tbuf_printf(b,
	            "{\"took_ms\":%.3f,\"cached\":%s,\"generation\":%llu,"
	            "\"total\":{\"value\":%llu,\"relation\":\"%s\"},"
	            "\"coverage\":{\"shards\":{\"total\":%u,\"answered\":%u,\"timed_out\":%u,"
	            "\"failed\":%u},\"docs_searched\":%llu,\"partial\":%s},\"hits\":[",
	            (double)res->took_us / 1000.0, cached ? "true" : "false",
	            (unsigned long long)res->generation, (unsigned long long)res->total,
	            res->total_exact ? "eq" : "gte", res->shards_total, res->shards_answered,
	            res->shards_timed_out, res->shards_failed,
	            (unsigned long long)res->docs_searched, res->partial ? "true" : "false");
	for (uint32_t i = 0; i < res->nhits; i++) {
		const root_hit *h = &res->hits[i];
		tbuf_append(b, i ? ",{\"id\":" : "{\"id\":", i ? 7 : 6);
		put_jstr(b, h->id ? h->id : "");
		tbuf_printf(b, ",\"score\":%.7g", h->score);
		if (h->doc) {
			tbuf_append(b, ",\"source\":", 10);
			tbuf_append(b, h->doc, h->doc_len);
		}
		if (h->snippet) {
			tbuf_append(b, ",\"snippet\":", 11);
			put_jstr(b, h->snippet);
		}
		if (h->sort) {
			tbuf_append(b, ",\"sort\":", 8);
			tbuf_append(b, h->sort, strlen(h->sort));
		}
		tbuf_putc(b, '}');
	}
	tbuf_putc(b, ']');
	if (res->aggs) {
		tbuf_append(b, ",\"aggregations\":", 16);
		tbuf_append(b, res->aggs, strlen(res->aggs));
	}
	tbuf_putc(b, '}');
}

/* ---- endpoints ---- */

/* On the event loop (deferred 0) only a cached answer is given; anything
 * else goes to a worker, where the search may wait on the leaves. */
static void run_search(api *a, root *r, params *p, int deferred, http_response *resp)
{
	if ((!p->qbuf || !p->qbuf[0]) && !p->nfilters) {
		http_response_error(resp, 400, "parse_exception",
		                    "q (the query) is missing or empty, and there is no filter");
		return;
	}
	if (p->k_zero && !p->q.aggs) {
		http_response_error(resp, 400, "illegal_argument_exception",
		                    "%s must be a number from 1 to %d (0 only with aggs)",
		                    p->k_by ? p->k_by : "k", TRAWL_MAX_K);
		return;
	}
	if (p->q.search_after && !p->q.nsort) {
		http_response_error(resp, 400, "illegal_argument_exception",
		                    "search_after needs a sort (the order it continues)");
		return;
	}
	char err[1024];
	root_result *res = NULL;
	p->q.cache_only = !deferred;
	int rc = query_tree(p, err, sizeof err);
	if (!rc)
		rc = root_search(r, &p->q, &res, err, sizeof err);
	if (rc == TRAWL_ENOTFOUND && !deferred) {
		http_response_defer(resp);
		return;
	}
	atomic_fetch_add(&a->searches, 1);
	if (rc) {
		atomic_fetch_add(&a->search_errors, 1);
		if (rc == TRAWL_EQUERY && p->q.nsort &&
		    (!strncmp(err, "cannot sort", 11) || !strncmp(err, "sort key", 8)))
			http_response_error(resp, 400, "illegal_argument_exception", "sort: %s",
			                    err);
		else if (rc == TRAWL_EQUERY || rc == TRAWL_EUTF8 || rc == TRAWL_ELIMIT)
			http_response_error(resp, 400, "query_parsing_exception", "%s", err);
		else if (rc == TRAWL_EIO)
			http_response_error(resp, 503, "search_phase_execution_exception", "%s",
			                    err);
		else if (rc == TRAWL_EBUSY)
			too_many_requests(resp, err);
		else
			http_response_error(resp, 500, "internal_error", "%s: %s",
			                    trawl_strerror(rc), err);
		return;
	}
	observe(a, res->took_us);
	if (res->partial)
		atomic_fetch_add(&a->partial, 1);
	tbuf b;
	tbuf_init(&b, (size_t)1 << 31);
	render(res, res->cached, &b);
	if (b.data)
		http_response_json(resp, 200, (const char *)b.data, b.len);
	else
		http_response_error(resp, 500, "internal_error", "out of memory");
	tbuf_fini(&b);
	root_result_free(res);
}

static void search_get(api *a, root *r, const http_request *req, http_response *resp)
{
	params p;
	params_defaults(&p);
	char err[256];
	/* reject unknown parameters, so that a typo is not silently ignored */
	const char *qs = req->query;
	while (qs && *qs) {
		const char *amp = strchr(qs, '&'), *eq = strchr(qs, '=');
		size_t n = amp ? (size_t)(amp - qs) : strlen(qs);
		size_t kn = eq && (!amp || eq < amp) ? (size_t)(eq - qs) : n;
		int known = 0;
		for (int i = 0; get_params[i] && !known; i++)
			known = strlen(get_params[i]) == kn && !strncmp(get_params[i], qs, kn);
		if (!known && kn) {
			http_response_error(resp, 400, "illegal_argument_exception",
			                    "unknown parameter \"%.*s\"", (int)(kn > 64 ? 64 : kn),
			                    qs);
			params_fini(&p);
			return;
		}
		qs = amp ? amp + 1 : NULL;
	}
	for (int i = 0; get_params[i]; i++) {
		const char *v = http_query_param(req, get_params[i]);
		if (v && set_param(&p, get_params[i], v, err, sizeof err) != 0) {
			http_response_error(resp, 400, "illegal_argument_exception", "%s", err);
			params_fini(&p);
			return;
		}
	}
	run_search(a, r, &p, req->deferred, resp);
	params_fini(&p);
}

static void search_post(api *a, root *rt, const http_request *req, http_response *resp)
{
	json_error_t je;
	json_t *body =
	    json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
	if (!body || !json_is_object(body)) {
		http_response_error(resp, 400, "parse_exception",
		                    "request body: line %d, column %d: %s", body ? 1 : je.line,
		                    body ? 1 : je.column, body ? "must be a JSON object" : je.text);
		json_decref(body);
		return;
	}
	params p;
	params_defaults(&p);
	char err[256], num[64];
	const char *key;
	json_t *v;
	json_object_foreach(body, key, v)
	{
		const char *val = NULL;
		if (json_is_string(v))
			val = json_string_value(v);
		else if (json_is_integer(v))
			snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v)),
			    val = num;
		else if (json_is_real(v))
			snprintf(num, sizeof num, "%.17g", json_real_value(v)), val = num;
		else if (json_is_boolean(v))
			val = json_is_true(v) ? "true" : "false";
		if (!strcmp(key, "sort") && !json_is_string(v)) {
			/* Elasticsearch's form: a key object or a list of keys */
			dsl_error de;
			if (dsl_sort(v, p.sort, &p.q.nsort, &de)) {
				http_response_error(resp, 400, "illegal_argument_exception",
				                    "sort: %s", de.reason);
				goto out;
			}
			p.q.sort = p.sort;
			continue;
		}
		if ((!strcmp(key, "aggs") || !strcmp(key, "aggregations")) && json_is_object(v)) {
			if (set_aggs(&p, v, err, sizeof err)) {
				http_response_error(resp, 400, "illegal_argument_exception", "%s",
				                    err);
				goto out;
			}
			continue;
		}
		if (!strcmp(key, "search_after") && json_is_array(v)) {
			char *aj = json_dumps(v, JSON_COMPACT);
			if (!aj)
				snprintf(err, sizeof err, "out of memory");
			int r = aj ? set_param(&p, key, aj, err, sizeof err) : -1;
			free(aj);
			if (r) {
				http_response_error(resp, 400, "illegal_argument_exception", "%s",
				                    err);
				goto out;
			}
			continue;
		}
		if (!strcmp(key, "filter") && json_is_array(v)) {
			/* several filters: each narrows */
			size_t i;
			json_t *e;
			int r = 0;
			json_array_foreach(v, i, e)
			{
				if (!json_is_string(e)) {
					http_response_error(
					    resp, 400, "illegal_argument_exception",
					    "field \"filter\" is a string or an array of "
					    "strings");
					goto out;
				}
				if (!r)
					r = set_param(&p, key, json_string_value(e), err,
					              sizeof err);
			}
			if (r) {
				http_response_error(resp, 400, "illegal_argument_exception", "%s",
				                    err);
				goto out;
			}
			continue;
		}
		int r = val ? set_param(&p, key, val, err, sizeof err) : -1;
		if (r == -2 || (r == -1 && !val)) {
			http_response_error(resp, 400, "illegal_argument_exception",
			                    r == -2 ? "unknown field \"%.64s\""
			                            : "field \"%.64s\" has the "
			                              "wrong type",
			                    key);
			goto out;
		}
		if (r) {
			http_response_error(resp, 400, "illegal_argument_exception", "%s", err);
			goto out;
		}
	}
	run_search(a, rt, &p, req->deferred, resp);
out:
	params_fini(&p);
	json_decref(body);
}

static void get_doc(root *r, const char *id, http_response *resp)
{
	char err[512], *doc;
	size_t len;
	int rc = root_get(r, id, &doc, &len, err, sizeof err);
	if (rc == TRAWL_ENOTFOUND) {
		send_json(resp, 404, json_pack("{s:s, s:b}", "id", id, "found", 0));
		return;
	}
	if (rc == TRAWL_ECORRUPT) {
		http_response_error(resp, 500, "internal_error", "damaged data: %s", err);
		return;
	}
	if (rc) {
		http_response_error(resp, 503, "unavailable_shards_exception", "%s", err);
		return;
	}
	json_t *src = json_loadb(doc, len, 0, NULL);
	free(doc);
	send_json(
	    resp, 200,
	    json_pack("{s:s, s:b, s:o}", "id", id, "found", 1, "source", src ? src : json_null()));
}

static const char *state_name(int s)
{
	return s == ROOT_HEALTHY ? "healthy" : s == ROOT_EJECTED ? "ejected" : "probation";
}

/* One index's replicas, for /_trawl/cluster (NULL when out of memory). */
static json_t *replicas_json(root *r, const char *index)
{
	root_replica_info *info = calloc(LIMIT_LEAVES, sizeof *info);
	if (!info)
		return NULL;
	uint32_t n = root_replicas(r, info, LIMIT_LEAVES);
	json_t *arr = json_array();
	for (uint32_t i = 0; i < n && i < LIMIT_LEAVES; i++) {
		json_t *out = json_array();
		for (uint32_t s = 0; s < TRAWL_MAX_SHARDS; s++)
			if ((info[i].out[s / 64] >> (s % 64)) & 1)
				json_array_append_new(out, json_integer(s));
		json_array_append_new(
		    arr,
		    json_pack(
		        "{s:s, s:s, s:s, s:f, s:i, s:I, s:I, s:I, s:I, s:s, s:b, s:I, s:I, s:I, "
		        "s:o}",
		        "index", index, "url", info[i].url, "state", state_name(info[i].state),
		        "latency_ewma_ms", info[i].ewma_us / 1000.0, "outstanding",
		        (int)info[i].outstanding, "generation", (json_int_t)info[i].generation,
		        "requests", (json_int_t)info[i].requests, "failures",
		        (json_int_t)info[i].failures, "ejections", (json_int_t)info[i].ejections,
		        "last_failure", info[i].last_failure, "connected", info[i].connected > 0,
		        "connections_made", (json_int_t)info[i].connects, "redials",
		        (json_int_t)info[i].redials, "dead_connections_closed",
		        (json_int_t)info[i].dead_closed, "shards_out_of_service", out));
	}
	free(info);
	return arr;
}

/* The traffic of every index's root, summed. */
static void counters_all(const cat_set *all, root_traffic *t)
{
	memset(t, 0, sizeof *t);
	for (uint32_t i = 0; i < all->n; i++) {
		root_traffic one;
		root_counters(cat_root(all->ix[i]), &one);
		t->searches += one.searches;
		t->hedges += one.hedges;
		t->hedge_wins += one.hedge_wins;
		t->hedges_stalled += one.hedges_stalled;
		t->overloaded += one.overloaded;
		t->shed += one.shed;
	}
}

/* Every index ready (serving: when partial), and at least... none needed:
 * an empty data directory is ready (it answers, and takes indexes). */
static int all_ready(catalog *cat, int partial)
{
	cat_set all;
	cat_all(cat, &all);
	int ready = 1;
	for (uint32_t i = 0; i < all.n; i++)
		ready &=
		    partial ? root_serving(cat_root(all.ix[i])) : root_ready(cat_root(all.ix[i]));
	cat_set_release(&all);
	return ready;
}

/* GET /_trawl/cluster: every index's replicas (each with its index's
 * name), the traffic summed, and per index whether it is ready. */
static void cluster_info(api *a, http_response *resp)
{
	cat_set all;
	cat_all(a->cat, &all);
	json_t *arr = json_array(), *per = json_object();
	int ready = 1;
	for (uint32_t i = 0; i < all.n; i++) {
		root *r = cat_root(all.ix[i]);
		json_t *one = replicas_json(r, cat_name(all.ix[i]));
		if (!one) {
			json_decref(arr);
			json_decref(per);
			cat_set_release(&all);
			http_response_error(resp, 500, "internal_error", "out of memory");
			return;
		}
		json_array_extend(arr, one);
		int rr = root_ready(r);
		ready &= rr;
		json_object_set_new(per, cat_name(all.ix[i]),
		                    json_pack("{s:b, s:o}", "ready", rr, "replicas", one));
	}
	root_traffic t;
	counters_all(&all, &t);
	cat_set_release(&all);
	send_json(resp, 200,
	          json_pack("{s:b, s:{s:I, s:I, s:I, s:I}, s:o, s:o}", "ready", ready, "searches",
	                    "sent", (json_int_t)t.searches, "hedged", (json_int_t)t.hedges,
	                    "hedge_wins", (json_int_t)t.hedge_wins, "hedged_stalled",
	                    (json_int_t)t.hedges_stalled, "replicas", arr, "indexes", per));
}

/* The replicas' lines of /metrics: each one's state, latency and
 * ejections (none when there is no memory to copy them). */
static void replica_metrics(const cat_set *all, tbuf *b)
{
	root_replica_info *info = calloc(LIMIT_LEAVES, sizeof *info);
	static const char *const help[3] = {
	    "# HELP trawl_replica_state Replica state: 0 healthy, 1 ejected, 2 probation.\n"
	    "# TYPE trawl_replica_state gauge\n",
	    "# HELP trawl_replica_latency_ewma_seconds Replica latency EWMA.\n"
	    "# TYPE trawl_replica_latency_ewma_seconds gauge\n",
	    "# HELP trawl_replica_ejections_total Times a replica was ejected.\n"
	    "# TYPE trawl_replica_ejections_total counter\n"};
	for (int kind = 0; kind < 3; kind++) {
		tbuf_printf(b, "%s", help[kind]);
		for (uint32_t x = 0; info && x < all->n; x++) {
			const char *ix = cat_name(all->ix[x]);
			uint32_t n = root_replicas(cat_root(all->ix[x]), info, LIMIT_LEAVES);
			for (uint32_t i = 0; i < n && i < LIMIT_LEAVES; i++) {
				if (kind == 0)
					tbuf_printf(
					    b,
					    "trawl_replica_state{index=\"%s\",replica=\"%s\"} %d\n",
					    ix, info[i].url, info[i].state);
				else if (kind == 1)
					tbuf_printf(b,
					            "trawl_replica_latency_ewma_seconds{index=\"%"
					            "s\",replica=\"%"
					            "s\"} %.6f\n",
					            ix, info[i].url, info[i].ewma_us / 1e6);
				else
					tbuf_printf(b,
					            "trawl_replica_ejections_total{index=\"%s\","
					            "replica=\"%s\"} "
					            "%llu\n",
					            ix, info[i].url,
					            (unsigned long long)info[i].ejections);
			}
		}
	}
	free(info);
}

/* s as a Prometheus label value (backslash, quote and newline escaped),
 * in buf. */
static const char *label(const char *s, char *buf, size_t cap)
{
	size_t n = 0;
	for (; *s && n + 3 < cap; s++) {
		if (*s == '\\' || *s == '"' || *s == '\n')
			buf[n++] = '\\';
		buf[n++] = *s == '\n' ? 'n' : *s;
	}
	buf[n] = 0;
	return buf;
}

/* The indexers' part of /metrics (issue #12): one line per index that
 * has one, labelled with its name. */
static void writer_metrics(const cat_set *all, tbuf *b)
{
	trawl_indexer_stats st[LIMIT_INDEXES];
	char names[LIMIT_INDEXES][2 * LIMIT_INDEX_NAME_BYTES + 1];
	uint32_t n = 0;
	for (uint32_t i = 0; i < all->n; i++) {
		const root_writer *w = root_writer_of(cat_root(all->ix[i]));
		if (!w || !w->stats)
			continue;
		w->stats(w->ctx, &st[n]);
		label(cat_name(all->ix[i]), names[n], sizeof names[n]);
		n++;
	}
	if (!n)
		return;
	static const struct {
		const char *name, *type, *help;
	} fam[] = {
	    {"trawl_indexer_writes_total", "counter",
	     "Writes acknowledged (durable in the write log)."},
	    {"trawl_indexer_log_operations", "gauge",
	     "Operations the write log holds (not yet trimmed)."},
	    {"trawl_indexer_log_bytes", "gauge", "Their bytes."},
	    {"trawl_indexer_unapplied_operations", "gauge",
	     "Acknowledged operations no published generation holds yet."},
	    {"trawl_indexer_generations_total", "counter", "Generations of writes published."},
	    {"trawl_indexer_apply_seconds_total", "counter", "Time spent making them."},
	    {"trawl_indexer_failures_total", "counter",
	     "Generations that could not be made (their writes stay in the log)."},
	    {"trawl_indexer_merges_total", "counter", "Merge steps (each a generation)."},
	    {"trawl_indexer_merged_documents_total", "counter", "Documents merges wrote again."},
	    {"trawl_indexer_merged_bytes_total", "counter",
	     "Bytes of the files merges wrote (segments, versions, delete sets, statistics)."},
	    {"trawl_indexer_merge_seconds_total", "counter", "Time spent merging."},
	    {"trawl_indexer_rejected_total", "counter",
	     "Write requests refused with 429 because too many writes were not yet searchable "
	     "(the backlog's bound)."},
	    {"trawl_indexer_flooded_total", "counter",
	     "Write requests refused with 507 because the disk holding the index was past its "
	     "flood stage (--flood-stage)."},
	    {"trawl_indexer_segments", "gauge", "Segments of the live generation."},
	    {"trawl_indexer_shard_segments_max", "gauge",
	     "Segments of the live generation's shard with the most."},
	};
	for (size_t f = 0; f < sizeof fam / sizeof fam[0]; f++) {
		tbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", fam[f].name, fam[f].help,
		            fam[f].name, fam[f].type);
		for (uint32_t i = 0; i < n; i++) {
			const trawl_indexer_stats *x = &st[i];
			const double v[] = {(double)x->writes,
			                    (double)x->log_ops,
			                    (double)x->log_bytes,
			                    (double)(x->acked_seq - x->applied_seq),
			                    (double)x->generations,
			                    x->apply_seconds,
			                    (double)x->failures,
			                    (double)x->merges,
			                    (double)x->merged_docs,
			                    (double)x->merged_bytes,
			                    x->merge_seconds,
			                    (double)x->rejected,
			                    (double)x->flooded,
			                    (double)x->segments,
			                    (double)x->max_shard_segments};
			_Static_assert(sizeof v / sizeof v[0] == sizeof fam / sizeof fam[0],
			               "a value per family");
			tbuf_printf(b, "%s{index=\"%s\"} %.17g\n", fam[f].name, names[i], v[f]);
		}
	}
	static const double le[8] = TRAWL_REFRESH_BUCKETS;
	tbuf_printf(b, "# HELP trawl_indexer_refresh_seconds Write to searchable: per generation "
	               "of writes, from its oldest write's acknowledgement to its publish.\n"
	               "# TYPE trawl_indexer_refresh_seconds histogram\n");
	for (uint32_t i = 0; i < n; i++) {
		for (int k = 0; k < 7; k++)
			tbuf_printf(
			    b,
			    "trawl_indexer_refresh_seconds_bucket{index=\"%s\",le=\"%g\"} %llu\n",
			    names[i], le[k], (unsigned long long)st[i].refresh_le[k]);
		tbuf_printf(b,
		            "trawl_indexer_refresh_seconds_bucket{index=\"%s\",le=\"+Inf\"} %llu\n"
		            "trawl_indexer_refresh_seconds_sum{index=\"%s\"} %.6f\n"
		            "trawl_indexer_refresh_seconds_count{index=\"%s\"} %llu\n",
		            names[i], (unsigned long long)st[i].refresh_count, names[i],
		            st[i].refresh_sum, names[i], (unsigned long long)st[i].refresh_count);
	}
}

static void metrics(api *a, http_response *resp)
{
	tbuf b;
	tbuf_init(&b, 1 << 20);
	http_stats hs;
	http_server_stats(a->http, &hs);
	tbuf_printf(&b,
	            "# HELP trawl_http_requests_total HTTP requests received.\n"
	            "# TYPE trawl_http_requests_total counter\ntrawl_http_requests_total %llu\n",
	            (unsigned long long)hs.requests);
	tbuf_printf(&b,
	            "# HELP trawl_http_responses_total HTTP responses by status class.\n"
	            "# TYPE trawl_http_responses_total counter\n"
	            "trawl_http_responses_total{class=\"2xx\"} %llu\n"
	            "trawl_http_responses_total{class=\"4xx\"} %llu\n"
	            "trawl_http_responses_total{class=\"5xx\"} %llu\n",
	            (unsigned long long)hs.responses_2xx, (unsigned long long)hs.responses_4xx,
	            (unsigned long long)hs.responses_5xx);
	tbuf_printf(
	    &b,
	    "# HELP trawl_http_queue_full_total Requests answered 429 at once: "
	    "LIMIT_ROOT_QUEUE requests were waiting for the root's workers.\n"
	    "# TYPE trawl_http_queue_full_total counter\ntrawl_http_queue_full_total %llu\n",
	    (unsigned long long)hs.shed);
	tbuf_printf(&b,
	            "# HELP trawl_http_connections Open HTTP connections.\n"
	            "# TYPE trawl_http_connections gauge\ntrawl_http_connections %llu\n",
	            (unsigned long long)hs.connections);
	tbuf_printf(&b,
	            "# HELP trawl_http_connections_closed_total Connections the server closed "
	            "without an answer: no request whole within the deadline (expired), closed "
	            "while waiting to make room for another (evicted), no room (refused).\n"
	            "# TYPE trawl_http_connections_closed_total counter\n"
	            "trawl_http_connections_closed_total{reason=\"expired\"} %llu\n"
	            "trawl_http_connections_closed_total{reason=\"evicted\"} %llu\n"
	            "trawl_http_connections_closed_total{reason=\"refused\"} %llu\n",
	            (unsigned long long)hs.expired, (unsigned long long)hs.evicted,
	            (unsigned long long)hs.refused);
	tbuf_printf(&b,
	            "# HELP trawl_searches_total Searches run.\n"
	            "# TYPE trawl_searches_total counter\ntrawl_searches_total %llu\n"
	            "# HELP trawl_search_errors_total Searches that failed.\n"
	            "# TYPE trawl_search_errors_total counter\ntrawl_search_errors_total %llu\n"
	            "# HELP trawl_search_partial_total Searches answered with partial coverage.\n"
	            "# TYPE trawl_search_partial_total counter\ntrawl_search_partial_total %llu\n",
	            (unsigned long long)atomic_load(&a->searches),
	            (unsigned long long)atomic_load(&a->search_errors),
	            (unsigned long long)atomic_load(&a->partial));
	tbuf_printf(&b, "# HELP trawl_search_latency_seconds Search latency at the root.\n"
	                "# TYPE trawl_search_latency_seconds histogram\n");
	uint64_t cum = 0;
	for (size_t i = 0; i < NBUCKETS; i++) {
		cum += atomic_load(&a->hist[i]);
		tbuf_printf(&b, "trawl_search_latency_seconds_bucket{le=\"%g\"} %llu\n", buckets[i],
		            (unsigned long long)cum);
	}
	cum += atomic_load(&a->hist[NBUCKETS]);
	tbuf_printf(&b,
	            "trawl_search_latency_seconds_bucket{le=\"+Inf\"} %llu\n"
	            "trawl_search_latency_seconds_sum %.6f\n"
	            "trawl_search_latency_seconds_count %llu\n",
	            (unsigned long long)cum, (double)atomic_load(&a->hist_sum_us) / 1e6,
	            (unsigned long long)cum);
	cat_set all;
	cat_all(a->cat, &all);
	root_cache_stats cs = {0};
	for (uint32_t i = 0; i < all.n; i++) {
		root_cache_stats one;
		root_cache_counters(cat_root(all.ix[i]), &one);
		cs.hits += one.hits;
		cs.misses += one.misses;
		cs.evictions += one.evictions;
		cs.shared += one.shared;
		cs.bytes += one.bytes;
	}
	tbuf_printf(&b,
	            "# HELP trawl_cache_hits_total Searches answered from the result cache.\n"
	            "# TYPE trawl_cache_hits_total counter\ntrawl_cache_hits_total %llu\n"
	            "# HELP trawl_cache_misses_total Searches the cache could not answer.\n"
	            "# TYPE trawl_cache_misses_total counter\ntrawl_cache_misses_total %llu\n"
	            "# HELP trawl_cache_evictions_total Results evicted from the cache.\n"
	            "# TYPE trawl_cache_evictions_total counter\ntrawl_cache_evictions_total %llu\n"
	            "# HELP trawl_cache_shared_total Misses that waited for an identical search.\n"
	            "# TYPE trawl_cache_shared_total counter\ntrawl_cache_shared_total %llu\n"
	            "# HELP trawl_cache_bytes Bytes held by the result cache.\n"
	            "# TYPE trawl_cache_bytes gauge\ntrawl_cache_bytes %llu\n",
	            (unsigned long long)cs.hits, (unsigned long long)cs.misses,
	            (unsigned long long)cs.evictions, (unsigned long long)cs.shared,
	            (unsigned long long)cs.bytes);
	root_traffic t;
	counters_all(&all, &t);
	tbuf_printf(
	    &b,
	    "# HELP trawl_leaf_searches_total SEARCH requests sent to leaves.\n"
	    "# TYPE trawl_leaf_searches_total counter\ntrawl_leaf_searches_total %llu\n"
	    "# HELP trawl_hedges_total Hedged SEARCH requests sent.\n"
	    "# TYPE trawl_hedges_total counter\ntrawl_hedges_total %llu\n"
	    "# HELP trawl_hedge_wins_total Hedged requests that answered first.\n"
	    "# TYPE trawl_hedge_wins_total counter\ntrawl_hedge_wins_total %llu\n"
	    "# HELP trawl_hedges_stalled_total Hedges sent beyond the budget: the first "
	    "call had stalled for half its time.\n"
	    "# TYPE trawl_hedges_stalled_total counter\ntrawl_hedges_stalled_total %llu\n"
	    "# HELP trawl_leaf_overloaded_total SEARCH requests a leaf refused as "
	    "overloaded (its queue full): asked of another replica, or answered 429.\n"
	    "# TYPE trawl_leaf_overloaded_total counter\ntrawl_leaf_overloaded_total %llu\n"
	    "# HELP trawl_searches_shed_total Searches answered 429 by the root at once, "
	    "unsent: every replica of a shard had refused one as overloaded a moment before.\n"
	    "# TYPE trawl_searches_shed_total counter\ntrawl_searches_shed_total %llu\n",
	    (unsigned long long)t.searches, (unsigned long long)t.hedges,
	    (unsigned long long)t.hedge_wins, (unsigned long long)t.hedges_stalled,
	    (unsigned long long)t.overloaded, (unsigned long long)t.shed);
	replica_metrics(&all, &b);
	writer_metrics(&all, &b);
	cat_set_release(&all);
	http_response_text(resp, 200, "text/plain; version=0.0.4", b.data ? b.data : (void *)"",
	                   b.len);
	tbuf_fini(&b);
}

/* GET /readyz: 200 when every shard has a healthy replica; with
 * ?allow_partial=true when some shard has one (for a load balancer in front
 * of roots: every root sees the same leaves, so taking them all out for a
 * lost shard would turn partial answers into none); 503 while draining. */
static void readyz(api *a, const http_request *req, http_response *resp)
{
	const char *qs = req->query ? req->query : "";
	int partial = !strcmp(qs, "allow_partial=true");
	if (*qs && !partial && strcmp(qs, "allow_partial=false")) {
		http_response_error(resp, 400, "illegal_argument_exception",
		                    "/readyz takes one parameter: allow_partial=true or "
		                    "allow_partial=false");
		return;
	}
	int draining = atomic_load(&a->draining);
	int ready = !draining && all_ready(a->cat, partial);
	send_json(resp, ready ? 200 : 503,
	          json_pack("{s:s}", "status",
	                    ready      ? "ok"
	                    : draining ? "draining"
	                               : "not ready"));
}

/* The one index a native route names: index (an index, or an alias of
 * one), or with index NULL the server's only index. NULL, with resp
 * answered, when there is no such one. */
static int native_index(api *a, const char *index, size_t len, cat_set *s, http_response *resp)
{
	char name[LIMIT_INDEX_NAME_BYTES + 1], err[LIMIT_ERRMSG_BYTES];
	if (!index) {
		cat_all(a->cat, s);
		if (s->n == 1)
			return 1;
		cat_set_release(s);
		http_response_error(resp, 400, "illegal_argument_exception",
		                    "this server holds %u indexes: name one, /{index}/search or "
		                    "/{index}/doc/{id}",
		                    s->n);
		return 0;
	}
	if (len > LIMIT_INDEX_NAME_BYTES) {
		http_response_error(resp, 404, "index_not_found_exception",
		                    "no such index [%.64s...]", index);
		return 0;
	}
	snprintf(name, sizeof name, "%.*s", (int)len, index);
	int rc = strpbrk(name, "*,") ? TRAWL_EQUERY
	                             : cat_resolve(a->cat, name, 0, s, NULL, 0, err, sizeof err);
	if (rc == TRAWL_OK && s->n == 1)
		return 1;
	if (rc == TRAWL_OK)
		cat_set_release(s);
	if (rc == TRAWL_ENOTFOUND)
		http_response_error(resp, 404, "index_not_found_exception", "%s", err);
	else
		http_response_error(resp, 400, "illegal_argument_exception",
		                    "[%s] names several indexes: the native API searches one (the "
		                    "OpenSearch API's /{index}/_search takes several)",
		                    name);
	return 0;
}

/* The native routes: /search and /doc/{id} on the server's only index,
 * /{index}/search and /{index}/doc/{id} on a named one. Returns 0 when
 * the path is none of them. */
static int native(api *a, const http_request *req, http_response *resp)
{
	const char *path = req->path, *m = req->method, *index = NULL, *rest = path;
	size_t ilen = 0;
	int get = !strcmp(m, "GET") || !strcmp(m, "HEAD");
	if (strcmp(path, "/search") && strncmp(path, "/doc/", 5)) {
		/* /{index}/search, /{index}/doc/{id} */
		const char *sl = path[0] == '/' && path[1] != '_' ? strchr(path + 1, '/') : NULL;
		if (!sl || (strcmp(sl, "/search") && strncmp(sl, "/doc/", 5)))
			return 0;
		index = path + 1;
		ilen = (size_t)(sl - index);
		rest = sl;
	}
	int search = !strcmp(rest, "/search");
	if (!search && !rest[5])
		return 0; /* /doc/ without an id */
	if (search && !index && !get && strcmp(m, "POST"))
		return 0; /* PUT, DELETE /search: the index named "search" (OpenSearch's API) */
	if (search && !get && strcmp(m, "POST")) {
		http_response_error(resp, 405, "method_not_allowed", "%s %s: use GET or POST", m,
		                    path);
		return 1;
	}
	if (!search && !get) {
		http_response_error(resp, 405, "method_not_allowed",
		                    "%s /doc/{id}: documents are written through the OpenSearch "
		                    "routes (PUT /{index}/_doc/{id}); use GET",
		                    m);
		return 1;
	}
	if (!search && !req->deferred) {
		http_response_defer(resp); /* a FETCH from a leaf */
		return 1;
	}
	cat_set s;
	if (!native_index(a, index, ilen, &s, resp))
		return 1;
	root *r = cat_root(s.ix[0]);
	if (!search)
		get_doc(r, rest + 5, resp);
	else if (get)
		search_get(a, r, req, resp);
	else
		search_post(a, r, req, resp);
	cat_set_release(&s);
	return 1;
}

/* A document write: a request other than GET or HEAD with a path segment
 * _bulk, _doc, _create, _update, _update_by_query or _delete_by_query. */
static int is_write(const char *method, const char *path)
{
	static const char *const segs[] = {
	    "_bulk", "_doc", "_create", "_update", "_update_by_query", "_delete_by_query"};
	if (!strcmp(method, "GET") || !strcmp(method, "HEAD"))
		return 0;
	for (const char *p = path; *p;) {
		while (*p == '/')
			p++;
		size_t n = strcspn(p, "/");
		for (size_t i = 0; i < sizeof segs / sizeof segs[0]; i++)
			if (n == strlen(segs[i]) && !memcmp(p, segs[i], n))
				return 1;
		p += n;
	}
	return 0;
}

static void handle(void *ctx, const http_request *req, http_response *resp)
{
	api *a = ctx;
	const char *m = req->method, *path = req->path;
	int get = !strcmp(m, "GET") || !strcmp(m, "HEAD");
	char why[160];
	int denied = auth_check(a->cfg.tokens, http_header(req, "Authorization"),
	                        auth_need_of(m, path), why, sizeof why);
	if (denied) {
		/* OpenSearch's security plugin answers so (type security_exception) */
		if (denied == 401)
			http_response_header(resp, "WWW-Authenticate", "Bearer realm=\"trawl\"");
		http_response_error(resp, denied, "security_exception", "%s: %s %.200s", why, m,
		                    path);
		return;
	}
	if (!strcmp(path, "/livez") && get) {
		send_json(resp, 200, json_pack("{s:s}", "status", "ok"));
	} else if (!strcmp(path, "/readyz") && get) {
		readyz(a, req, resp);
	} else if (!strcmp(path, "/healthz") && get) {
		int ready = all_ready(a->cat, 0);
		send_json(resp, 200, json_pack("{s:s}", "status", ready ? "green" : "red"));
	} else if (!strcmp(path, "/metrics") && get) {
		metrics(a, resp);
	} else if (!strcmp(path, "/_trawl/cluster") && get) {
		cluster_info(a, resp);
	} else if (ui_path(path)) {
		ui_serve(req, resp); /* the search page: static files */
	} else if (native(a, req, resp)) {
		; /* /search, /doc/{id}, /{index}/search, /{index}/doc/{id} */
	} else if (!req->deferred) {
		/* the OpenSearch-compatible endpoints search and fetch; a write
		 * can wait for a core a search wants */
		if (is_write(m, path))
			http_response_defer_background(resp);
		else
			http_response_defer(resp);
	} else {
		int handled = 0;
		os_handle(a->cat, req, resp, &handled);
		if (handled)
			return;
		http_response_error(resp, 404, "not_found", "no endpoint %s %.200s", m, path);
	}
}

/* http_config.body_limit: a _bulk request may carry LIMIT_BULK_BYTES when
 * the root has somewhere to send writes; everything else the default. */
static size_t body_limit(void *ctx, const char *method, const char *path)
{
	api *a = ctx;
	size_t n = strlen(path);
	int bulk = (n >= 6 && !strcmp(path + n - 6, "/_bulk")) ||
	           (n >= 7 && !strcmp(path + n - 7, "/_bulk/"));
	if (!bulk || !strcmp(method, "GET"))
		return 0;
	cat_set all;
	cat_all(a->cat, &all);
	int writes = 0;
	for (uint32_t i = 0; i < all.n; i++)
		writes |= root_writer_of(cat_root(all.ix[i])) != NULL;
	cat_set_release(&all);
	return writes ? LIMIT_BULK_BYTES : 0;
}

int api_start(api **out, catalog *cat, const api_config *cfg, char *err, size_t errlen)
{
	*out = NULL;
	api *a = calloc(1, sizeof *a);
	if (!a)
		return TRAWL_ENOMEM;
	a->cat = cat;
	a->cfg = *cfg;
	http_config hc = {0};
	hc.bind = cfg->bind;
	hc.port = cfg->port;
	/* health, metrics and cached answers on the event loops; a search that
	 * must wait on the leaves (or a fetch) on a worker, so that a slow
	 * shard never delays /livez or a cached hit */
	hc.threads = API_LOOPS;
	hc.workers = API_WORKERS;
	hc.background_workers = cfg->writes_normal ? 0 : API_BACKGROUND_WORKERS;
	hc.max_queue = LIMIT_ROOT_QUEUE;
	hc.body_limit = body_limit;
	int rc = http_server_start(&a->http, &hc, handle, a, err, errlen);
	if (rc) {
		free(a);
		return rc;
	}
	*out = a;
	return TRAWL_OK;
}

uint16_t api_port(const api *a)
{
	return http_server_port(a->http);
}

void api_drain(api *a)
{
	atomic_store(&a->draining, 1);
	http_server_drain(a->http);
}

void api_stop(api *a)
{
	if (!a)
		return;
	http_server_stop(a->http);
	free(a);
}
