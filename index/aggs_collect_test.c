/*
 * aggs_collect_test.c - aggregations over real shards (index/aggs_collect.h)
 * against brute force. Random documents with typed fields (keywords, a
 * keyword twin, multi-valued tags and numbers, missing values, negative
 * numbers, dates across month and year boundaries given with offsets,
 * booleans) are built through the public builder into a 1-shard and a
 * 3-shard index. Every request below runs over the matching documents of
 * each shard; the shards' partials go through their JSON text, are merged
 * and rendered, and must equal, to the byte, what this file computes from
 * the documents themselves, and each other: the aggregations of 3 shards
 * are those of 1. Also: binding errors naming the aggregation, field and
 * type; the limits met while collecting; dates read alike by the request
 * parser (common/aggs.c) and the documents' (index/values.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <math.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/aggs.h"
#include "index/aggs_collect.h"
#include "index/handles.h"
#include "index/values.h"

/* Allocations made to fail in turn (see common/aggs_test.c): the program
 * is linked with malloc, calloc and realloc wrapped (index/meson.build). */
static volatile long fail_at = -1, allocs;
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
static int fails(void)
{
	return fail_at >= 0 && allocs++ >= fail_at;
}
void *__wrap_malloc(size_t n)
{
	return fails() ? NULL : __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t m)
{
	return fails() ? NULL : __real_calloc(n, m);
}
void *__wrap_realloc(void *p, size_t n)
{
	return fails() ? NULL : __real_realloc(p, n);
}

static uint64_t rs = 0x853C49E6748FEA9Bull;
static uint64_t rnd(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return rs;
}

static uint32_t below(uint32_t n)
{
	return (uint32_t)(rnd() % n);
}

/* ---- the corpus ---- */

static const char *const SCHEMA = "{\"fields\": {"
                                  " \"title\": {\"fields\": {\"raw\": {\"type\": \"keyword\"}}},"
                                  " \"body\": {},"
                                  " \"section\": {\"type\": \"keyword\"},"
                                  " \"tags\": {\"type\": \"keyword\"},"
                                  " \"size\": {\"type\": \"long\"},"
                                  " \"big\": {\"type\": \"long\"},"
                                  " \"ratio\": {\"type\": \"double\"},"
                                  " \"date\": {\"type\": \"date\"},"
                                  " \"flag\": {\"type\": \"boolean\"},"
                                  " \"nodv\": {\"type\": \"long\", \"doc_values\": false}}}";

#define NDOCS 400
#define DOC_MAX 2048 /* bytes of a document's JSON */
#define MAXV 4

typedef struct tdoc {
	char title[24];
	char section[8]; /* "" : missing */
	uint32_t ntags;
	char tags[MAXV][8]; /* as given: may repeat */
	uint32_t nsize, nbig, nratio, ndate;
	int64_t size[MAXV], big[MAXV], date[MAXV];
	double ratio[MAXV];
	int flag; /* -1: missing, 0, 1 */
} tdoc;

static tdoc DOCS[NDOCS];

/* A date as ISO 8601 in zone tz (minutes east), from gmtime. */
static void iso(int64_t ms, int tz, int epoch, char *out)
{
	if (epoch) {
		snprintf(out, 48, "%lld", (long long)ms);
		return;
	}
	int64_t local = ms + (int64_t)tz * 60000;
	int64_t sec = local >= 0 ? local / 1000 : -((-local + 999) / 1000);
	int frac = (int)(local - sec * 1000);
	time_t t = (time_t)sec;
	struct tm tm;
	gmtime_r(&t, &tm);
	if (tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999) { /* as aggs_date_format */
		snprintf(out, 48, "%lld", (long long)ms);
		return;
	}
	int n = (int)strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	n += snprintf(out + n, 48 - (size_t)n, ".%03d", frac);
	if (tz == 0)
		snprintf(out + n, 48 - (size_t)n, "Z");
	else
		snprintf(out + n, 48 - (size_t)n, "%c%02d:%02d", tz < 0 ? '-' : '+', abs(tz) / 60,
		         abs(tz) % 60);
}

static void make_docs(void)
{
	/* dates from 2023-10-01 to 2024-03-31 (UTC), to the minute, with some at
	 * the turn of a month or the year */
	const int64_t from = 1696118400000LL, span = 183LL * 86400000;
	static const int64_t edges[] = {1704067200000LL, 1704067199999LL, 1701388800000LL,
	                                1706745600000LL, 1709251200000LL - 1};
	for (int i = 0; i < NDOCS; i++) {
		tdoc *d = &DOCS[i];
		memset(d, 0, sizeof *d);
		snprintf(d->title, sizeof d->title, "title %u", below(60));
		if (below(100) >= 15)
			snprintf(d->section, sizeof d->section, "s%u", below(6));
		d->ntags = below(4);
		for (uint32_t j = 0; j < d->ntags; j++)
			snprintf(d->tags[j], sizeof d->tags[j], "t%u", below(10));
		uint32_t r = below(10);
		d->nsize = r == 0 ? 0 : r < 8 ? 1 : 2 + below(2);
		for (uint32_t j = 0; j < d->nsize; j++)
			d->size[j] = j && below(4) == 0 ? d->size[j - 1] : (int64_t)below(101) - 50;
		d->nbig = below(3) == 0;
		if (d->nbig)
			d->big[0] = (below(2) ? 1 : -1) * (1000000000000LL + below(1000));
		d->nratio = below(5) == 0 ? 0 : 1 + (below(4) == 0);
		for (uint32_t j = 0; j < d->nratio; j++) {
			d->ratio[j] = ((double)below(161) - 80) / 4;
			if (d->ratio[j] == 0)
				d->ratio[j] = 0; /* never -0 */
		}
		d->ndate = below(10) == 0 ? 0 : 1 + (below(6) == 0);
		for (uint32_t j = 0; j < d->ndate; j++)
			d->date[j] =
			    below(8) == 0
			        ? edges[below(5)] + (int64_t)below(3) * 60000 - 60000
			        : from + (int64_t)(rnd() % (uint64_t)(span / 60000)) * 60000;
		d->flag = (int)below(3) - 1;
	}
}

static void doc_json(int i, char *out)
{
	const tdoc *d = &DOCS[i];
	int n =
	    snprintf(out, DOC_MAX, "{\"id\": \"d%d\", \"title\": \"%s\", \"body\": \"words of %d\"",
	             i, d->title, i);
	if (d->section[0])
		n += snprintf(out + n, DOC_MAX - (size_t)n, ", \"section\": \"%s\"", d->section);
	else if (below(2))
		n += snprintf(out + n, DOC_MAX - (size_t)n, ", \"section\": null");
	if (d->ntags || below(2)) {
		n += snprintf(out + n, DOC_MAX - (size_t)n, ", \"tags\": [");
		for (uint32_t j = 0; j < d->ntags; j++)
			n += snprintf(out + n, DOC_MAX - (size_t)n, "%s\"%s\"", j ? ", " : "",
			              d->tags[j]);
		n += snprintf(out + n, DOC_MAX - (size_t)n, "]");
	}
	if (d->nsize == 1 && below(2)) {
		n += snprintf(out + n, DOC_MAX - (size_t)n, ", \"size\": %lld",
		              (long long)d->size[0]);
	} else if (d->nsize) {
		n += snprintf(out + n, DOC_MAX - (size_t)n, ", \"size\": [");
		for (uint32_t j = 0; j < d->nsize; j++) {
			if (j && below(3) == 0) /* a long as a string */
				n += snprintf(out + n, DOC_MAX - (size_t)n, ", \"%lld\"",
				              (long long)d->size[j]);
			else
				n += snprintf(out + n, DOC_MAX - (size_t)n, "%s%lld", j ? ", " : "",
				              (long long)d->size[j]);
		}
		n += snprintf(out + n, DOC_MAX - (size_t)n, "]");
	}
	if (d->nbig)
		n +=
		    snprintf(out + n, DOC_MAX - (size_t)n, ", \"big\": %lld", (long long)d->big[0]);
	if (d->nratio) {
		n += snprintf(out + n, DOC_MAX - (size_t)n, ", \"ratio\": [");
		for (uint32_t j = 0; j < d->nratio; j++)
			n += snprintf(out + n, DOC_MAX - (size_t)n, "%s%.17g", j ? ", " : "",
			              d->ratio[j]);
		n += snprintf(out + n, DOC_MAX - (size_t)n, "]");
	}
	if (d->ndate) {
		static const int zones[] = {0, 60, -120, 330, -300, 840, -720};
		n += snprintf(out + n, DOC_MAX - (size_t)n, ", \"date\": [");
		for (uint32_t j = 0; j < d->ndate; j++) {
			char t[48];
			int epoch = below(4) == 0;
			iso(d->date[j], zones[below(7)], epoch, t);
			n += snprintf(out + n, DOC_MAX - (size_t)n, epoch ? "%s%s" : "%s\"%s\"",
			              j ? ", " : "", t);
		}
		n += snprintf(out + n, DOC_MAX - (size_t)n, "]");
	}
	if (d->flag >= 0)
		n += snprintf(out + n, DOC_MAX - (size_t)n,
		              below(4) ? ", \"flag\": %s" : ", \"flag\": \"%s\"",
		              d->flag ? "true" : "false");
	n += snprintf(out + n, DOC_MAX - (size_t)n, ", \"nodv\": %d}", i);
}

/* The documents a search matches: not every fifth. */
static int matches(int i)
{
	return i % 5 != 2;
}

typedef struct built {
	char dir[64];
	trawl_index *idx;
	trawl_searcher *s;
	int *map[8]; /* per shard: doc -> corpus document */
} built;

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void build(built *b, uint32_t shards)
{
	memset(b, 0, sizeof *b);
	snprintf(b->dir, sizeof b->dir, "/tmp/aggs_test.XXXXXX");
	assert_non_null(mkdtemp(b->dir));
	trawl_build_opts o = {0};
	o.shards = shards;
	o.schema_json = SCHEMA;
	o.workers = 1;
	o.workers_set = 1;
	char err[512] = "";
	trawl_builder *tb = NULL;
	if (trawl_builder_open(&tb, b->dir, &o, err, sizeof err))
		fail_msg("builder: %s", err);
	char json[DOC_MAX];
	for (int i = 0; i < NDOCS; i++) {
		doc_json(i, json);
		if (trawl_builder_add_json(tb, json, strlen(json), "gen", (uint64_t)i + 1))
			fail_msg("add: %s (%s)", trawl_builder_errmsg(tb), json);
	}
	trawl_build_report rep;
	if (trawl_builder_commit(tb, &rep))
		fail_msg("commit: %s", trawl_builder_errmsg(tb));
	trawl_builder_close(tb);
	if (trawl_index_open(&b->idx, b->dir, err, sizeof err))
		fail_msg("open: %s", err);
	if (idx_searcher_open(&b->s, b->idx, err, sizeof err))
		fail_msg("searcher: %s", err);
	assert_int_equal(b->idx->nshards, shards);
	for (uint32_t i = 0; i < shards; i++) {
		idx_sview *v = &b->s->views[i];
		b->map[i] = calloc(v->ndocs ? v->ndocs : 1, sizeof *b->map[i]);
		for (uint32_t d = 0; d < v->ndocs; d++) {
			char *id = idx_extid_dup(v, d);
			assert_non_null(id);
			b->map[i][d] = atoi(id + 1);
			free(id);
		}
	}
}

static void unbuild(built *b)
{
	for (int i = 0; i < 8; i++)
		free(b->map[i]);
	trawl_searcher_close(b->s);
	trawl_index_close(b->idx);
	nftw(b->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- queries of filter and filters: compiled to their JSON, evaluated on
 * the corpus's documents ---- */

static int compile(void *ctx, json_t *q, void **out, size_t *len, char *err, size_t errlen)
{
	(void)ctx;
	(void)err;
	(void)errlen;
	char *t = json_dumps(q, JSON_COMPACT | JSON_SORT_KEYS);
	*out = t;
	*len = strlen(t);
	return TRAWL_OK;
}

/* A value of a field of a document, as brute force sees it. */
typedef struct bval {
	int type; /* IDX_KEYWORD ... */
	int64_t i;
	double d;
	const char *s;
} bval;

static int field_type(const char *f)
{
	if (!strcmp(f, "title.raw") || !strcmp(f, "section") || !strcmp(f, "tags"))
		return IDX_KEYWORD;
	if (!strcmp(f, "ratio"))
		return IDX_DOUBLE;
	if (!strcmp(f, "date"))
		return IDX_DATE;
	if (!strcmp(f, "flag"))
		return IDX_BOOLEAN;
	return IDX_LONG;
}

static int bval_cmp(const bval *a, const bval *b)
{
	if (a->type == IDX_KEYWORD)
		return strcmp(a->s, b->s);
	if (a->type == IDX_DOUBLE)
		return (a->d > b->d) - (a->d < b->d);
	return (a->i > b->i) - (a->i < b->i);
}

static int bval_qcmp(const void *a, const void *b)
{
	return bval_cmp(a, b);
}

static double bval_double(const bval *v)
{
	return v->type == IDX_DOUBLE ? v->d : (double)v->i;
}

/* Document i's values of field f, as its column holds them (keywords
 * distinct, numbers all), ascending. */
static uint32_t values(int i, const char *f, bval *out)
{
	const tdoc *d = &DOCS[i];
	int t = field_type(f);
	uint32_t n = 0;
	if (!strcmp(f, "title.raw")) {
		out[n++] = (bval){t, 0, 0, d->title};
	} else if (!strcmp(f, "section")) {
		if (d->section[0])
			out[n++] = (bval){t, 0, 0, d->section};
	} else if (!strcmp(f, "tags")) {
		for (uint32_t j = 0; j < d->ntags; j++) {
			int dup = 0;
			for (uint32_t k = 0; k < n; k++)
				dup |= !strcmp(out[k].s, d->tags[j]);
			if (!dup)
				out[n++] = (bval){t, 0, 0, d->tags[j]};
		}
	} else if (!strcmp(f, "ratio")) {
		for (uint32_t j = 0; j < d->nratio; j++)
			out[n++] = (bval){t, 0, d->ratio[j], NULL};
	} else if (!strcmp(f, "flag")) {
		if (d->flag >= 0)
			out[n++] = (bval){t, d->flag, 0, NULL};
	} else {
		const int64_t *v = !strcmp(f, "size")  ? d->size
		                   : !strcmp(f, "big") ? d->big
		                                       : d->date;
		uint32_t m = !strcmp(f, "size") ? d->nsize : !strcmp(f, "big") ? d->nbig : d->ndate;
		for (uint32_t j = 0; j < m; j++)
			out[n++] = (bval){t, v[j], 0, NULL};
	}
	qsort(out, n, sizeof *out, bval_qcmp);
	return n;
}

/* Whether document i matches query q (the few kinds the requests use). */
static int query_match(int i, json_t *q)
{
	json_t *x;
	bval v[MAXV];
	if (json_object_get(q, "match_all"))
		return 1;
	if ((x = json_object_get(q, "exists")))
		return values(i, json_string_value(json_object_get(x, "field")), v) > 0;
	if ((x = json_object_get(q, "term"))) {
		const char *f;
		json_t *want;
		json_object_foreach(x, f, want)
		{
			uint32_t n = values(i, f, v);
			for (uint32_t j = 0; j < n; j++)
				if (!strcmp(v[j].s, json_string_value(want)))
					return 1;
		}
		return 0;
	}
	if ((x = json_object_get(q, "range"))) {
		const char *f;
		json_t *r;
		json_object_foreach(x, f, r)
		{
			uint32_t n = values(i, f, v);
			for (uint32_t j = 0; j < n; j++) {
				double a = bval_double(&v[j]);
				json_t *b;
				int ok = 1;
				if ((b = json_object_get(r, "gte")))
					ok &= a >= json_number_value(b);
				if ((b = json_object_get(r, "lt")))
					ok &= a < json_number_value(b);
				if (ok)
					return 1;
			}
		}
		return 0;
	}
	fail_msg("a query the test does not know");
	return 0;
}

static int bytes_match(int i, const void *p, size_t n)
{
	json_t *q = json_loadb(p, n, 0, NULL);
	assert_non_null(q);
	int m = query_match(i, q);
	json_decref(q);
	return m;
}

typedef struct fctx {
	const int *map;
	uint64_t *bits[1024];
	int nbits;
	int all; /* every query matches every document */
} fctx;

static uint64_t *filter_bits(void *ctx, const void *tree, size_t len, uint32_t ndocs)
{
	fctx *f = ctx;
	if (f->nbits == 1024)
		return NULL;
	long armed = fail_at; /* the caller's memory, not the collector's: never failed */
	fail_at = -1;
	uint64_t *b = calloc((ndocs + 63) / 64 + 1, 8);
	fail_at = armed;
	for (uint32_t d = 0; d < ndocs; d++)
		if (f->all || bytes_match(f->map[d], tree, len))
			b[d / 64] |= 1ull << (d % 64);
	f->bits[f->nbits++] = b;
	return b;
}

static void fctx_fini(fctx *f)
{
	for (int i = 0; i < f->nbits; i++)
		free(f->bits[i]);
	f->nbits = 0;
}

/* ---- brute force: the expected answer from the documents ---- */

typedef struct bdocs {
	int *d;
	int n;
} bdocs;

static json_t *bf_node(const aggs_spec *s, const bdocs *in);

static void bf_subs(json_t *o, const aggs_spec *s, const bdocs *in)
{
	for (uint32_t i = 0; i < s->nsubs; i++)
		json_object_set_new(o, s->subs[i].name, bf_node(&s->subs[i], in));
}

/* A bucket being built: its key, documents, and (rendering) order values. */
typedef struct bb {
	bval key;
	bdocs docs;
	double ov[LIMIT_AGG_ORDER_KEYS];
} bb;

typedef struct blist {
	bb *b;
	int n, cap;
} blist;

static bb *bl_find(blist *l, const bval *k, int add)
{
	for (int i = 0; i < l->n; i++)
		if (!bval_cmp(&l->b[i].key, k))
			return &l->b[i];
	if (!add)
		return NULL;
	if (l->n == l->cap) {
		l->cap = l->cap * 2 + 8;
		l->b = realloc(l->b, (size_t)l->cap * sizeof *l->b);
	}
	bb *b = &l->b[l->n++];
	memset(b, 0, sizeof *b);
	b->key = *k;
	b->docs.d = malloc(NDOCS * sizeof(int));
	return b;
}

static void bl_add(blist *l, const bval *k, int doc)
{
	bb *b = bl_find(l, k, 1);
	if (b->docs.n == 0 || b->docs.d[b->docs.n - 1] != doc)
		b->docs.d[b->docs.n++] = doc;
}

static void bl_free(blist *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->b[i].docs.d);
	free(l->b);
}

/* A literal of the request read for field type t. */
static bval lit(const aggs_lit *l, int t)
{
	bval v = {t, 0, 0, l->text};
	if (t == IDX_DOUBLE)
		v.d = strtod(l->text, NULL);
	else if (t == IDX_BOOLEAN)
		v.i = !strcmp(l->text, "true");
	else if (t != IDX_KEYWORD)
		v.i = strtoll(l->text, NULL, 10);
	return v;
}

static int bf_allowed(const aggs_spec *s, const bval *v)
{
	if (s->has_include) {
		int in = 0;
		for (uint32_t i = 0; i < s->ninclude; i++) {
			bval x = lit(&s->include[i], v->type);
			in |= !bval_cmp(&x, v);
		}
		if (!in)
			return 0;
	}
	for (uint32_t i = 0; i < s->nexclude; i++) {
		bval x = lit(&s->exclude[i], v->type);
		if (!bval_cmp(&x, v))
			return 0;
	}
	return 1;
}

/* The value of an order's metric in bucket b (NaN: none), from the
 * brute-force rendering of the sub-aggregation. */
static double bf_order_value(const aggs_spec *s, const aggs_order *o, const bdocs *docs)
{
	const aggs_spec *m = &s->subs[o->sub];
	json_t *j = bf_node(m, docs), *v;
	static const char *const st[] = {"value", "count", "min", "max", "avg", "sum"};
	if (o->stat == AGGS_STAT_PERCENT) {
		char k[32];
		aggs_java_double(m->percents[o->pct], k);
		v = json_object_get(json_object_get(j, "values"), k);
	} else {
		v = json_object_get(j, st[o->stat]);
	}
	double d = json_is_number(v) ? json_number_value(v) : NAN;
	json_decref(j);
	return d;
}

static const aggs_spec *g_order_spec;

static int bb_key_cmp(const bb *x, const bb *y)
{
	return bval_cmp(&x->key, &y->key);
}

static int bb_order_cmp(const void *a, const void *b)
{
	const aggs_spec *s = g_order_spec;
	const bb *x = a, *y = b;
	for (uint32_t i = 0; i < s->norder; i++) {
		const aggs_order *o = &s->order[i];
		int c;
		if (o->by == AGGS_ORDER_COUNT) {
			c = (x->docs.n > y->docs.n) - (x->docs.n < y->docs.n);
		} else if (o->by == AGGS_ORDER_KEY) {
			c = bb_key_cmp(x, y);
		} else {
			double u = x->ov[i], v = y->ov[i];
			if (isnan(u) || isnan(v)) {
				if (isnan(u) != isnan(v))
					return isnan(u) ? 1 : -1;
				continue;
			}
			c = (u > v) - (u < v);
		}
		if (c)
			return o->desc ? -c : c;
	}
	return bb_key_cmp(x, y);
}

static void bf_sort(const aggs_spec *s, blist *l)
{
	for (int i = 0; i < l->n; i++)
		for (uint32_t k = 0; k < s->norder; k++)
			l->b[i].ov[k] = s->order[k].by == AGGS_ORDER_METRIC
			                    ? bf_order_value(s, &s->order[k], &l->b[i].docs)
			                    : NAN;
	g_order_spec = s;
	if (l->n)
		qsort(l->b, (size_t)l->n, sizeof *l->b, bb_order_cmp);
}

static json_t *bf_terms(const aggs_spec *s, const bdocs *in)
{
	int t = field_type(s->field);
	blist l = {0};
	bval v[MAXV];
	for (int k = 0; k < in->n; k++) {
		uint32_t n = values(in->d[k], s->field, v);
		if (n == 0 && s->has_missing) {
			v[0] = lit(&s->missing, t);
			n = 1;
		}
		for (uint32_t j = 0; j < n; j++)
			if (bf_allowed(s, &v[j]))
				bl_add(&l, &v[j], in->d[k]);
	}
	if (s->min_doc_count == 0) /* every value of the index */
		for (int i = 0; i < NDOCS; i++) {
			uint32_t n = values(i, s->field, v);
			for (uint32_t j = 0; j < n; j++)
				if (bf_allowed(s, &v[j]))
					bl_find(&l, &v[j], 1);
		}
	blist keep = {0};
	for (int i = 0; i < l.n; i++)
		if ((uint64_t)l.b[i].docs.n >= s->min_doc_count) {
			bb *b = bl_find(&keep, &l.b[i].key, 1);
			memcpy(b->docs.d, l.b[i].docs.d, (size_t)l.b[i].docs.n * sizeof(int));
			b->docs.n = l.b[i].docs.n;
		}
	bf_sort(s, &keep);
	int64_t other = 0;
	json_t *o = json_object(), *a = json_array();
	for (int i = 0; i < keep.n; i++) {
		if ((uint32_t)i >= s->size) {
			other += keep.b[i].docs.n;
			continue;
		}
		bb *b = &keep.b[i];
		json_t *x = json_object();
		char buf[48];
		switch (t) {
		case IDX_KEYWORD:
			json_object_set_new(x, "key", json_string(b->key.s));
			break;
		case IDX_DOUBLE:
			json_object_set_new(x, "key", json_real(b->key.d));
			break;
		case IDX_DATE:
			json_object_set_new(x, "key", json_integer(b->key.i));
			iso(b->key.i, 0, 0, buf);
			json_object_set_new(x, "key_as_string", json_string(buf));
			break;
		case IDX_BOOLEAN:
			json_object_set_new(x, "key", json_integer(b->key.i));
			json_object_set_new(x, "key_as_string",
			                    json_string(b->key.i ? "true" : "false"));
			break;
		default:
			json_object_set_new(x, "key", json_integer(b->key.i));
		}
		json_object_set_new(x, "doc_count", json_integer(b->docs.n));
		if (s->show_term_doc_count_error)
			json_object_set_new(x, "doc_count_error_upper_bound", json_integer(0));
		bf_subs(x, s, &b->docs);
		json_array_append_new(a, x);
	}
	json_object_set_new(o, "doc_count_error_upper_bound", json_integer(0));
	json_object_set_new(o, "sum_other_doc_count", json_integer(other));
	json_object_set_new(o, "buckets", a);
	bl_free(&l);
	bl_free(&keep);
	return o;
}

/* date_histogram's buckets, from gmtime and timegm: the first millisecond
 * of the local unit holding ms. */
static int64_t bf_round(const aggs_spec *s, int64_t ms)
{
	int64_t tz = (int64_t)s->tz_min * 60000, t = ms - s->offset_ms + tz, start;
	if (s->cal == AGGS_CAL_NONE) {
		int64_t q = t / s->fixed_ms - (t % s->fixed_ms < 0);
		start = q * s->fixed_ms;
	} else {
		int64_t sec = t >= 0 ? t / 1000 : -((-t + 999) / 1000);
		time_t tt = (time_t)sec;
		struct tm tm;
		gmtime_r(&tt, &tm);
		tm.tm_sec = 0;
		if (s->cal >= AGGS_CAL_HOUR)
			tm.tm_min = 0;
		if (s->cal >= AGGS_CAL_DAY)
			tm.tm_hour = 0;
		if (s->cal == AGGS_CAL_WEEK)
			tm.tm_mday -= (tm.tm_wday + 6) % 7;
		if (s->cal >= AGGS_CAL_MONTH)
			tm.tm_mday = 1;
		if (s->cal == AGGS_CAL_QUARTER)
			tm.tm_mon -= tm.tm_mon % 3;
		if (s->cal == AGGS_CAL_YEAR)
			tm.tm_mon = 0;
		start = (int64_t)timegm(&tm) * 1000;
	}
	return start - tz + s->offset_ms;
}

static int64_t bf_next(const aggs_spec *s, int64_t key)
{
	/* the first key after key: round a moment past the end of its unit */
	int64_t step = s->cal == AGGS_CAL_NONE ? s->fixed_ms : 60000;
	int64_t k = key + step;
	while (bf_round(s, k) == key)
		k += s->cal >= AGGS_CAL_DAY ? 3600000 : step;
	return bf_round(s, k);
}

static json_t *bf_histogram(const aggs_spec *s, const bdocs *in)
{
	int date = s->kind == AGGS_DATE_HISTOGRAM;
	blist l = {0};
	bval v[MAXV];
	for (int k = 0; k < in->n; k++) {
		uint32_t n = values(in->d[k], s->field, v);
		for (uint32_t j = 0; j < n; j++) {
			bval key = {IDX_LONG, 0, 0, NULL};
			if (date)
				key.i = bf_round(s, v[j].i);
			else
				key.i =
				    (int64_t)floor((bval_double(&v[j]) - s->offset) / s->interval);
			bl_add(&l, &key, in->d[k]);
		}
	}
	if (l.n)
		qsort(l.b, (size_t)l.n, sizeof *l.b, bval_qcmp); /* bb starts with its key */
	blist show = {0};
	if (s->min_doc_count == 0 && (l.n || s->has_bounds)) {
		int64_t lo = l.n ? l.b[0].key.i : INT64_MAX,
		        hi = l.n ? l.b[l.n - 1].key.i : INT64_MIN;
		if (s->has_bounds) {
			int64_t blo = date ? bf_round(s, s->bmin_ms)
			                   : (int64_t)floor((s->bmin - s->offset) / s->interval);
			int64_t bhi = date ? bf_round(s, s->bmax_ms)
			                   : (int64_t)floor((s->bmax - s->offset) / s->interval);
			lo = blo < lo ? blo : lo;
			hi = bhi > hi ? bhi : hi;
		}
		for (int64_t k = lo; k <= hi; k = date ? bf_next(s, k) : k + 1) {
			bval key = {IDX_LONG, k, 0, NULL};
			bb *src = bl_find(&l, &key, 0), *b = bl_find(&show, &key, 1);
			if (src) {
				memcpy(b->docs.d, src->docs.d, (size_t)src->docs.n * sizeof(int));
				b->docs.n = src->docs.n;
			}
		}
	} else {
		for (int i = 0; i < l.n; i++)
			if ((uint64_t)l.b[i].docs.n >= s->min_doc_count) {
				bb *b = bl_find(&show, &l.b[i].key, 1);
				memcpy(b->docs.d, l.b[i].docs.d,
				       (size_t)l.b[i].docs.n * sizeof(int));
				b->docs.n = l.b[i].docs.n;
			}
	}
	bf_sort(s, &show);
	json_t *o = json_object(), *a = s->keyed ? json_object() : json_array();
	for (int i = 0; i < show.n; i++) {
		bb *b = &show.b[i];
		json_t *x = json_object();
		char buf[48];
		if (date) {
			iso(b->key.i, s->tz_min, s->epoch_format, buf);
			json_object_set_new(x, "key_as_string", json_string(buf));
			json_object_set_new(x, "key", json_integer(b->key.i));
		} else {
			double k = (double)b->key.i * s->interval + s->offset;
			aggs_java_double(k, buf);
			json_object_set_new(x, "key", json_real(k));
		}
		json_object_set_new(x, "doc_count", json_integer(b->docs.n));
		bf_subs(x, s, &b->docs);
		if (s->keyed)
			json_object_set_new(a, buf, x);
		else
			json_array_append_new(a, x);
	}
	json_object_set_new(o, "buckets", a);
	bl_free(&l);
	bl_free(&show);
	return o;
}

static json_t *bf_range(const aggs_spec *s, const bdocs *in)
{
	int dates = field_type(s->field) == IDX_DATE;
	json_t *o = json_object(), *a = s->keyed ? json_object() : json_array();
	bdocs got = {malloc(NDOCS * sizeof(int)), 0};
	bval v[MAXV];
	for (uint32_t r = 0; r < s->nranges; r++) {
		const aggs_range *g = &s->ranges[r];
		got.n = 0;
		for (int k = 0; k < in->n; k++) {
			uint32_t n = values(in->d[k], s->field, v);
			for (uint32_t j = 0; j < n; j++) {
				double x = bval_double(&v[j]);
				if ((!g->has_from || x >= g->from) && (!g->has_to || x < g->to)) {
					got.d[got.n++] = in->d[k];
					break;
				}
			}
		}
		char from[48] = "*", to[48] = "*", key[256];
		if (g->has_from) {
			if (dates)
				iso((int64_t)g->from, s->tz_min, 0, from);
			else
				aggs_java_double(g->from, from);
		}
		if (g->has_to) {
			if (dates)
				iso((int64_t)g->to, s->tz_min, 0, to);
			else
				aggs_java_double(g->to, to);
		}
		snprintf(key, sizeof key, "%s-%s", from, to);
		if (g->key)
			snprintf(key, sizeof key, "%s", g->key);
		json_t *x = json_object();
		if (!s->keyed)
			json_object_set_new(x, "key", json_string(key));
		if (g->has_from) {
			json_object_set_new(x, "from", json_real(g->from));
			if (dates)
				json_object_set_new(x, "from_as_string", json_string(from));
		}
		if (g->has_to) {
			json_object_set_new(x, "to", json_real(g->to));
			if (dates)
				json_object_set_new(x, "to_as_string", json_string(to));
		}
		json_object_set_new(x, "doc_count", json_integer(got.n));
		bf_subs(x, s, &got);
		if (s->keyed)
			json_object_set_new(a, key, x);
		else
			json_array_append_new(a, x);
	}
	free(got.d);
	json_object_set_new(o, "buckets", a);
	return o;
}

static json_t *bf_filters(const aggs_spec *s, const bdocs *in)
{
	json_t *o = json_object(), *a = s->fnames ? json_object() : json_array();
	bdocs got = {malloc(NDOCS * sizeof(int)), 0};
	uint8_t *any = calloc(NDOCS, 1);
	for (uint32_t f = 0; f <= s->nfilters; f++) {
		if (f == s->nfilters && !s->other_bucket)
			break;
		got.n = 0;
		for (int k = 0; k < in->n; k++) {
			int m = f < s->nfilters ? bytes_match(in->d[k], s->fbytes[f], s->flens[f])
			                        : !any[in->d[k]];
			if (m && f < s->nfilters)
				any[in->d[k]] = 1;
			if (m)
				got.d[got.n++] = in->d[k];
		}
		json_t *x = json_object();
		json_object_set_new(x, "doc_count", json_integer(got.n));
		bf_subs(x, s, &got);
		if (s->fnames)
			json_object_set_new(a, f < s->nfilters ? s->fnames[f] : s->other_key, x);
		else
			json_array_append_new(a, x);
	}
	free(any);
	free(got.d);
	json_object_set_new(o, "buckets", a);
	return o;
}

static json_t *bf_single(const aggs_spec *s, const bdocs *in)
{
	bdocs got = {malloc((size_t)(in->n + 1) * sizeof(int)), 0};
	bval v[MAXV];
	for (int k = 0; k < in->n; k++) {
		int m = s->kind == AGGS_FILTER ? bytes_match(in->d[k], s->fbytes[0], s->flens[0])
		                               : values(in->d[k], s->field, v) == 0;
		if (m)
			got.d[got.n++] = in->d[k];
	}
	json_t *o = json_object();
	json_object_set_new(o, "doc_count", json_integer(got.n));
	bf_subs(o, s, &got);
	free(got.d);
	return o;
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void bf_value(json_t *o, const char *k, double v, int t, int boolean_ok)
{
	if (isnan(v)) {
		json_object_set_new(o, k, json_null());
		return;
	}
	json_object_set_new(o, k, json_real(v));
	char name[64], buf[48];
	snprintf(name, sizeof name, "%s_as_string", k);
	if (t == IDX_DATE) {
		iso((int64_t)v, 0, 0, buf);
		json_object_set_new(o, name, json_string(buf));
	} else if (t == IDX_BOOLEAN && boolean_ok) {
		json_object_set_new(o, name, json_string(v != 0 ? "true" : "false"));
	}
}

static json_t *bf_metric(const aggs_spec *s, const bdocs *in)
{
	int t = field_type(s->field);
	double *all = malloc((size_t)(in->n + 1) * MAXV * sizeof *all);
	bval *dist = malloc((size_t)(in->n + 1) * MAXV * sizeof *dist);
	int n = 0, nd = 0;
	double sum = 0, mn = NAN, mx = NAN;
	bval v[MAXV];
	for (int k = 0; k < in->n; k++) {
		uint32_t m = values(in->d[k], s->field, v);
		for (uint32_t j = 0; j < m; j++) {
			double x = t == IDX_KEYWORD ? 0 : bval_double(&v[j]);
			all[n++] = x;
			sum += x; /* exact: the corpus's sums fit a double's 53 bits */
			if (isnan(mn) || x < mn)
				mn = x;
			if (isnan(mx) || x > mx)
				mx = x;
			int seen = 0;
			for (int q = 0; q < nd && !seen; q++)
				seen = !bval_cmp(&dist[q], &v[j]);
			if (!seen)
				dist[nd++] = v[j];
		}
	}
	json_t *o = json_object();
	switch (s->kind) {
	case AGGS_MIN:
		bf_value(o, "value", mn, t, 1);
		break;
	case AGGS_MAX:
		bf_value(o, "value", mx, t, 1);
		break;
	case AGGS_SUM:
		bf_value(o, "value", sum, t, 0);
		break;
	case AGGS_AVG:
		bf_value(o, "value", n ? sum / n : NAN, t, 0);
		break;
	case AGGS_VALUE_COUNT:
		json_object_set_new(o, "value", json_integer(n));
		break;
	case AGGS_CARDINALITY:
		json_object_set_new(o, "value", json_integer(nd));
		break;
	case AGGS_STATS:
		json_object_set_new(o, "count", json_integer(n));
		bf_value(o, "min", mn, t, 1);
		bf_value(o, "max", mx, t, 1);
		bf_value(o, "avg", n ? sum / n : NAN, t, 0);
		bf_value(o, "sum", sum, t, 0);
		break;
	case AGGS_PERCENTILES: {
		qsort(all, (size_t)n, sizeof *all, dbl_cmp);
		json_t *vals = s->keyed ? json_object() : json_array();
		for (uint32_t i = 0; i < s->npercents; i++) {
			double p = s->percents[i], r = NAN;
			if (n) { /* linear between the closest ranks */
				double rank = p / 100.0 * (double)(n - 1);
				int lo = (int)floor(rank), hi = (int)ceil(rank);
				r = lo == hi ? all[lo]
				             : all[lo] + (all[hi] - all[lo]) * (rank - (double)lo);
			}
			char key[32];
			aggs_java_double(p, key);
			if (s->keyed) {
				bf_value(vals, key, r, t, 0);
			} else {
				json_t *x = json_object();
				json_object_set_new(x, "key", json_real(p));
				bf_value(x, "value", r, t, 0);
				json_array_append_new(vals, x);
			}
		}
		json_object_set_new(o, "values", vals);
		break;
	}
	default:
		break;
	}
	free(all);
	free(dist);
	return o;
}

static json_t *bf_node(const aggs_spec *s, const bdocs *in)
{
	switch (s->kind) {
	case AGGS_TERMS:
		return bf_terms(s, in);
	case AGGS_HISTOGRAM:
	case AGGS_DATE_HISTOGRAM:
		return bf_histogram(s, in);
	case AGGS_RANGE:
	case AGGS_DATE_RANGE:
		return bf_range(s, in);
	case AGGS_FILTERS:
		return bf_filters(s, in);
	case AGGS_FILTER:
	case AGGS_MISSING:
		return bf_single(s, in);
	default:
		return bf_metric(s, in);
	}
}

/* ---- running requests over the shards ---- */

static aggs_spec *spec_of(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	if (!j)
		fail_msg("bad test JSON: %s: %s", je.text, text);
	aggs_spec *s = NULL;
	char err[512];
	if (aggs_parse(j, compile, NULL, &s, err, sizeof err))
		fail_msg("%s: %s", text, err);
	json_decref(j);
	return s;
}

/* The aggregations of the matching documents of b, each shard's partial
 * through its text, merged in the shards' order (rev: the reverse), as the
 * answer's text (*out, malloc'ed). */
static int run(built *b, const aggs_spec *s, const aggc_bound *bound, int rev, int all_match,
               char **out, char *err, size_t errlen)
{
	aggs_result *acc = aggs_result_empty(s);
	uint32_t ns = b->idx->nshards;
	int rc = TRAWL_OK;
	for (uint32_t k = 0; k < ns && !rc; k++) {
		uint32_t i = rev ? ns - 1 - k : k;
		idx_sview *v = &b->s->views[i];
		fctx f = {b->map[i], {0}, 0, 0};
		aggc *c;
		rc = aggc_open(&c, bound, v->cols, v->ndocs, filter_bits, &f, err, errlen);
		/* odd shards by blocks of 1 to 97 documents (aggc_collect_docs),
		 * even ones a document at a time: the same answers */
		uint32_t block[97], nb = 0, want = 1 + (i * 37) % 97;
		for (uint32_t d = 0; !rc && d < v->ndocs; d++) {
			if (!all_match && !matches(b->map[i][d]))
				continue;
			if (!(i & 1)) {
				rc = aggc_collect(c, d);
				continue;
			}
			block[nb++] = d;
			if (nb == want) {
				rc = aggc_collect_docs(c, block, nb);
				nb = 0;
			}
		}
		if (!rc && nb)
			rc = aggc_collect_docs(c, block, nb);
		aggs_result *r = NULL;
		if (!rc)
			rc = aggc_finish(c, &r, err, errlen);
		else if (c)
			aggc_finish(c, &r, err, errlen);
		aggc_close(c);
		fctx_fini(&f);
		if (rc)
			break;
		char *t;
		size_t len;
		assert_int_equal(aggs_result_encode(s, r, &t, &len, err, errlen), TRAWL_OK);
		aggs_result_free(s, r);
		if (aggs_result_decode(s, t, len, &r, err, errlen))
			fail_msg("decode: %s\n%.2000s", err, t);
		free(t);
		rc = aggs_merge(s, acc, r, err, errlen);
	}
	size_t len;
	if (!rc)
		rc = aggs_render(s, acc, out, &len, err, errlen);
	aggs_result_free(s, acc);
	return rc;
}

static built B1, B3;

static int setup(void **state)
{
	make_docs();
	build(&B1, 1);
	build(&B3, 3);
	return 0;
}

static int teardown(void **state)
{
	unbuild(&B1);
	unbuild(&B3);
	return 0;
}

static const char *const REQUESTS[] = {
    /* keywords three deep with metrics, dates by month in +05:30 */
    "{\"by_section\": {\"terms\": {\"field\": \"section\", \"size\": 4}, \"aggs\": {"
    " \"by_tag\": {\"terms\": {\"field\": \"tags\", \"order\": {\"_key\": \"asc\"}}, \"aggs\": {"
    "  \"by_month\": {\"date_histogram\": {\"field\": \"date\", \"calendar_interval\": \"month\","
    " \"time_zone\": \"+05:30\"}, \"aggs\": {\"st\": {\"stats\": {\"field\": \"size\"}},"
    " \"c\": {\"cardinality\": {\"field\": \"title.raw\"}}}}}},"
    " \"avg_ratio\": {\"avg\": {\"field\": \"ratio\"}}}}}",
    /* missing, include, exclude, min_doc_count 0, order by a metric */
    "{\"t\": {\"terms\": {\"field\": \"section\", \"missing\": \"(none)\", \"min_doc_count\": 0,"
    " \"size\": 20, \"exclude\": [\"s3\"], \"order\": [{\"mx\": \"desc\"}, {\"_count\": \"asc\"}]},"
    " \"aggs\": {\"mx\": {\"max\": {\"field\": \"size\"}}}},"
    " \"t2\": {\"terms\": {\"field\": \"tags\", \"include\": [\"t1\", \"t2\", \"t9\", \"zz\"],"
    " \"missing\": \"t1\"}},"
    " \"t3\": {\"terms\": {\"field\": \"tags\", \"missing\": \"t55\", \"size\": 3,"
    " \"order\": {\"_key\": \"desc\"}}, \"aggs\": {\"p\": {\"percentiles\": {\"field\": \"size\","
    " \"percents\": [50]}}}},"
    " \"t4\": {\"terms\": {\"field\": \"title.raw\", \"size\": 5, \"order\": {\"p.50\": \"asc\"}},"
    " \"aggs\": {\"p\": {\"percentiles\": {\"field\": \"ratio\", \"percents\": [50]}}}}}",
    /* terms on numbers, dates and booleans; multi-valued; min_doc_count 0 */
    "{\"l\": {\"terms\": {\"field\": \"size\", \"size\": 7, \"order\": {\"_key\": \"desc\"}}},"
    " \"d\": {\"terms\": {\"field\": \"ratio\", \"size\": 5, \"missing\": -1.5}},"
    " \"dt\": {\"terms\": {\"field\": \"date\", \"size\": 3, \"show_term_doc_count_error\": true}},"
    " \"b\": {\"terms\": {\"field\": \"flag\", \"min_doc_count\": 0}, \"aggs\": {\"s\": {\"sum\":"
    " {\"field\": \"size\"}}}},"
    " \"l0\": {\"terms\": {\"field\": \"size\", \"min_doc_count\": 0, \"size\": 5,"
    " \"include\": [-3, -2, -1, 0, 1, 2, 3, 999]}},"
    " \"bg\": {\"terms\": {\"field\": \"big\", \"missing\": 0, \"order\": {\"st.avg\": \"desc\"}},"
    " \"aggs\": {\"st\": {\"stats\": {\"field\": \"ratio\"}}}}}",
    /* histograms */
    "{\"h\": {\"histogram\": {\"field\": \"size\", \"interval\": 7, \"offset\": 2}, \"aggs\": {"
    " \"p\": {\"percentiles\": {\"field\": \"ratio\"}}}},"
    " \"hr\": {\"histogram\": {\"field\": \"ratio\", \"interval\": 2.5, \"min_doc_count\": 2,"
    " \"keyed\": true}},"
    " \"hb\": {\"histogram\": {\"field\": \"size\", \"interval\": 10, \"extended_bounds\":"
    " {\"min\": -200, \"max\": 200}, \"order\": {\"_count\": \"desc\"}}},"
    " \"hd\": {\"histogram\": {\"field\": \"date\", \"interval\": 604800000}},"
    " \"hbig\": {\"histogram\": {\"field\": \"big\", \"interval\": 1e11, \"min_doc_count\": 1}},"
    /* tallied in a window that grows both ways, and in hashed buckets
     * beyond it (minutes over years; +-10^12 one apart) */
    " \"hw\": {\"histogram\": {\"field\": \"date\", \"interval\": 60000, \"min_doc_count\": 1}},"
    " \"hb1\": {\"histogram\": {\"field\": \"big\", \"interval\": 1, \"min_doc_count\": 1}},"
    " \"hn\": {\"histogram\": {\"field\": \"size\", \"interval\": 3, \"offset\": -1}}}",
    /* date histograms: calendar units in zones, nested, bounds, fixed intervals */
    "{\"m\": {\"date_histogram\": {\"field\": \"date\", \"calendar_interval\": \"1M\","
    " \"time_zone\": \"-05:00\"}, \"aggs\": {\"w\": {\"date_histogram\": {\"field\": \"date\","
    " \"calendar_interval\": \"week\"}, \"aggs\": {\"v\": {\"value_count\": {\"field\": "
    "\"tags\"}}}}}},"
    " \"q\": {\"date_histogram\": {\"field\": \"date\", \"calendar_interval\": \"quarter\","
    " \"time_zone\": \"+01:00\", \"extended_bounds\": {\"min\": \"2023-01-01\", \"max\":"
    " \"2024-12-31\"}}},"
    " \"y\": {\"date_histogram\": {\"field\": \"date\", \"calendar_interval\": \"year\","
    " \"time_zone\": \"+14:00\", \"min_doc_count\": 1}},"
    " \"y2\": {\"date_histogram\": {\"field\": \"date\", \"calendar_interval\": \"year\","
    " \"time_zone\": \"-12:00\"}},"
    " \"f\": {\"date_histogram\": {\"field\": \"date\", \"fixed_interval\": \"36h\", \"offset\":"
    " \"+3h\", \"time_zone\": \"-03:30\", \"format\": \"epoch_millis\"}},"
    " \"dd\": {\"date_histogram\": {\"field\": \"date\", \"calendar_interval\": \"day\","
    " \"order\": {\"_count\": \"desc\"}, \"min_doc_count\": 1}},"
    " \"hh\": {\"date_histogram\": {\"field\": \"date\", \"calendar_interval\": \"hour\","
    " \"min_doc_count\": 1, \"keyed\": true}},"
    /* tallied by spans, dates on the months' first and last milliseconds */
    " \"mu\": {\"date_histogram\": {\"field\": \"date\", \"calendar_interval\": \"month\"}},"
    /* fixed widths tallied by bucket numbers */
    " \"wk\": {\"date_histogram\": {\"field\": \"date\", \"calendar_interval\": \"week\","
    " \"time_zone\": \"+05:30\", \"min_doc_count\": 1}},"
    " \"du\": {\"date_histogram\": {\"field\": \"date\", \"calendar_interval\": \"day\","
    " \"min_doc_count\": 1}}}",
    /* ranges */
    "{\"r\": {\"range\": {\"field\": \"size\", \"ranges\": [{\"to\": -10}, {\"from\": -10, \"to\":"
    " 10}, {\"from\": 0}, {\"from\": 5, \"to\": 6, \"key\": \"five\"}]}, \"aggs\": {\"mn\":"
    " {\"min\": {\"field\": \"ratio\"}}}},"
    " \"rd\": {\"range\": {\"field\": \"ratio\", \"keyed\": true, \"ranges\": [{\"to\": 0},"
    " {\"from\": 0}]}},"
    " \"rdate\": {\"range\": {\"field\": \"date\", \"ranges\": [{\"to\": 1704067200000}]}},"
    " \"dr\": {\"date_range\": {\"field\": \"date\", \"time_zone\": \"+02:00\", \"ranges\":"
    " [{\"to\": \"2024-01-01\"}, {\"from\": \"2024-01-01\", \"to\": \"2024-02-01T00:00:00Z\"},"
    " {\"from\": 1706745600000}]}, \"aggs\": {\"t\": {\"terms\": {\"field\": \"section\"}}}}}",
    /* filters, filter and missing */
    "{\"f\": {\"filter\": {\"term\": {\"section\": \"s1\"}}, \"aggs\": {\"inner\": {\"filters\":"
    " {\"filters\": {\"neg\": {\"range\": {\"size\": {\"lt\": 0}}}, \"pos\": {\"range\":"
    " {\"size\": {\"gte\": 0}}}}, \"other_bucket\": true}, \"aggs\": {\"c\": {\"cardinality\":"
    " {\"field\": \"size\"}}}}}},"
    " \"fa\": {\"filters\": {\"filters\": [{\"exists\": {\"field\": \"ratio\"}}, {\"term\":"
    " {\"tags\": \"t2\"}}]}},"
    " \"ms\": {\"missing\": {\"field\": \"ratio\"}, \"aggs\": {\"mt\": {\"missing\": {\"field\":"
    " \"section\"}}, \"vc\": {\"value_count\": {\"field\": \"date\"}}}}}",
    /* every metric at the top */
    "{\"mn\": {\"min\": {\"field\": \"date\"}}, \"mx\": {\"max\": {\"field\": \"big\"}},"
    " \"s\": {\"sum\": {\"field\": \"ratio\"}}, \"a\": {\"avg\": {\"field\": \"flag\"}},"
    " \"st\": {\"stats\": {\"field\": \"date\"}}, \"vc\": {\"value_count\": {\"field\": "
    "\"title.raw\"}},"
    " \"cd\": {\"cardinality\": {\"field\": \"tags\"}}, \"cr\": {\"cardinality\": {\"field\":"
    " \"ratio\"}},"
    " \"p\": {\"percentiles\": {\"field\": \"size\", \"percents\": [0, 10, 33.3, 50, 90, 100]}},"
    " \"pd\": {\"percentiles\": {\"field\": \"date\", \"percents\": [50], \"keyed\": false}},"
    " \"bmin\": {\"min\": {\"field\": \"flag\"}}, \"sb\": {\"sum\": {\"field\": \"big\"}},"
    " \"cb\": {\"cardinality\": {\"field\": \"flag\"}}}",
    /* five deep */
    "{\"a\": {\"terms\": {\"field\": \"section\"}, \"aggs\": {\"b\": {\"terms\": {\"field\":"
    " \"tags\", \"size\": 3}, \"aggs\": {\"c\": {\"terms\": {\"field\": \"flag\"}, \"aggs\":"
    " {\"d\": {\"histogram\": {\"field\": \"size\", \"interval\": 25}, \"aggs\": {\"e\": "
    "{\"stats\":"
    " {\"field\": \"ratio\"}}, \"e2\": {\"filter\": {\"exists\": {\"field\": \"date\"}}}}}}}}}}}}",
};

static void check_request(const char *req)
{
	aggs_spec *s = spec_of(req);
	aggc_bound *bound;
	char err[512] = "";
	if (aggc_bind(s, &B1.idx->schema, &bound, err, sizeof err))
		fail_msg("bind: %s", err);
	for (int all = 0; all < 2; all++) {
		bdocs in = {malloc(NDOCS * sizeof(int)), 0};
		for (int i = 0; i < NDOCS; i++)
			if (all || matches(i))
				in.d[in.n++] = i;
		json_t *want = json_object();
		bf_subs(want, s, &in);
		free(in.d);
		char *got[3];
		if (run(&B1, s, bound, 0, all, &got[0], err, sizeof err) ||
		    run(&B3, s, bound, 0, all, &got[1], err, sizeof err) ||
		    run(&B3, s, bound, 1, all, &got[2], err, sizeof err))
			fail_msg("%s: %s", req, err);
		/* byte for byte: the brute force's tree as jansson writes it */
		char *w = json_dumps(want, JSON_COMPACT | JSON_PRESERVE_ORDER);
		for (int k = 0; k < 3; k++) {
			if (strcmp(w, got[k])) {
				FILE *f = fopen("/tmp/aggs_collect_test.want.json", "w");
				fputs(w, f);
				fclose(f);
				f = fopen("/tmp/aggs_collect_test.got.json", "w");
				fputs(got[k], f);
				fclose(f);
				fail_msg("%s\n(%s, all %d): the answer differs from brute force "
				         "(written to "
				         "/tmp/aggs_collect_test.{want,got}.json)",
				         req, k == 0 ? "1 shard" : "3 shards", all);
			}
			free(got[k]);
		}
		free(w);
		json_decref(want);
	}
	aggc_bound_free(bound);
	aggs_spec_free(s);
}

static void test_against_brute_force(void **state)
{
	for (size_t i = 0; i < sizeof REQUESTS / sizeof *REQUESTS; i++)
		check_request(REQUESTS[i]);
}

/* ---- binding ---- */

static void test_bind_errors(void **state)
{
	static const struct {
		const char *req, *msg;
	} cases[] = {
	    {"{\"t\": {\"terms\": {\"field\": \"title\"}}}",
	     "aggs.t.terms.field: terms takes a keyword, number, date or boolean field; title is "
	     "text: use its keyword twin title.raw"},
	    {"{\"t\": {\"terms\": {\"field\": \"body\"}}}",
	     "aggs.t.terms.field: terms takes a keyword, number, date or boolean field; body is "
	     "text "
	     "and has no keyword twin (a schema can give it one: docs/SCHEMA.md)"},
	    {"{\"a\": {\"avg\": {\"field\": \"section\"}}}",
	     "aggs.a.avg.field: avg takes a number, date or boolean field; section is keyword"},
	    {"{\"a\": {\"terms\": {\"field\": \"section\"}, \"aggs\": {\"p\": {\"percentiles\": "
	     "{\"field\": \"tags\"}}}}}",
	     "aggs.a.aggs.p.percentiles.field: percentiles takes a number, date or boolean field; "
	     "tags is keyword"},
	    {"{\"x\": {\"min\": {\"field\": \"nope\"}}}",
	     "aggs.x.min.field: no field \"nope\" in the schema"},
	    {"{\"x\": {\"max\": {\"field\": \"nodv\"}}}",
	     "aggs.x.max.field: nodv has doc_values false in the schema: it cannot be aggregated"},
	    {"{\"h\": {\"date_histogram\": {\"field\": \"size\", \"fixed_interval\": \"1d\"}}}",
	     "aggs.h.date_histogram.field: date_histogram takes a date field; size is long"},
	    {"{\"h\": {\"histogram\": {\"field\": \"flag\", \"interval\": 1}}}",
	     "aggs.h.histogram.field: histogram takes a number or date field; flag is boolean"},
	    {"{\"r\": {\"range\": {\"field\": \"tags\", \"ranges\": [{\"to\": 1}]}}}",
	     "aggs.r.range.field: range takes a number or date field; tags is keyword"},
	    {"{\"r\": {\"date_range\": {\"field\": \"ratio\", \"ranges\": [{\"to\": 1}]}}}",
	     "aggs.r.date_range.field: date_range takes a date field; ratio is double"},
	    {"{\"c\": {\"cardinality\": {\"field\": \"title\"}}}",
	     "aggs.c.cardinality.field: cardinality takes a keyword, number, date or boolean "
	     "field; "
	     "title is text: use its keyword twin title.raw"},
	    {"{\"t\": {\"terms\": {\"field\": \"size\", \"missing\": \"abc\"}}}",
	     "aggs.t.terms.missing: ..."},
	    {"{\"t\": {\"terms\": {\"field\": \"flag\", \"include\": [\"yes\"]}}}",
	     "aggs.t.terms.include: ..."},
	    {"{\"t\": {\"terms\": {\"field\": \"date\", \"exclude\": [\"2024-02-30\"]}}}",
	     "aggs.t.terms.exclude: ..."},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		aggs_spec *s = spec_of(cases[i].req);
		aggc_bound *b = (aggc_bound *)1;
		char err[512] = "";
		assert_int_equal(aggc_bind(s, &B1.idx->schema, &b, err, sizeof err), TRAWL_EINVAL);
		assert_null(b);
		size_t n = strlen(cases[i].msg);
		if (!strcmp(cases[i].msg + n - 3, "...") ? strncmp(err, cases[i].msg, n - 3)
		                                         : strcmp(err, cases[i].msg))
			fail_msg("%s:\n want %s\n got  %s", cases[i].req, cases[i].msg, err);
		aggs_spec_free(s);
	}
}

/* ---- limits met while collecting ---- */

/* aggc_zero's keys in the test below: a node's from aggc_keys, or
 * synthetic numbers. */
typedef struct zkeys {
	const aggs_spec *node[4];
	aggs_result *keys[4];
	uint32_t n;
} zkeys;

static const aggs_result *zkeys_of(void *arg, const aggs_spec *s, int kw)
{
	(void)kw;
	zkeys *z = arg;
	for (uint32_t i = 0; i < z->n; i++)
		if (z->node[i] == s)
			return z->keys[i];
	return NULL;
}

/* The encoding of a root whose one bucket, of count 0, holds r only. */
static char *encode_alone(const aggs_spec *root, aggs_result *r)
{
	char err[512], *t = NULL;
	size_t len;
	aggs_bucket b = {.subs = r};
	aggs_result top = {.nbuckets = 1, .buckets = &b};
	if (aggs_result_encode(root, &top, &t, &len, err, sizeof err))
		fail_msg("%s", err);
	return t;
}

/* What aggc_zero makes of a node, from aggc_keys' values, is what
 * aggc_finish makes of it in a bucket of no document (here: a search that
 * collected nothing), nested terms, metrics and a filter included; over
 * LIMIT_AGG_BUCKETS buckets, or without the values (NULL), it refuses. */
static void test_zero_is_an_empty_bucket(void **state)
{
	(void)state;
	char err[512];
	aggs_spec *s =
	    spec_of("{\"t\": {\"terms\": {\"field\": \"section\", \"min_doc_count\": 0},"
	            " \"aggs\": {\"u\": {\"terms\": {\"field\": \"tags\", \"min_doc_count\": 0},"
	            "  \"aggs\": {\"s\": {\"sum\": {\"field\": \"date\"}},"
	            "   \"f\": {\"filter\": {\"match_all\": {}}, \"aggs\": {\"v\": {\"terms\":"
	            "    {\"field\": \"size\", \"min_doc_count\": 0}}}}}}}}}");
	const aggs_spec *t = &s->subs[0], *u = &t->subs[0], *v = &u->subs[1].subs[0];
	aggc_bound *b;
	assert_int_equal(aggc_bind(s, &B1.idx->schema, &b, err, sizeof err), TRAWL_OK);
	idx_sview *view = &B1.s->views[0];
	fctx f = {B1.map[0], {0}, 0, 1};
	aggc *c;
	assert_int_equal(
	    aggc_open(&c, b, view->cols, view->ndocs, filter_bits, &f, err, sizeof err), TRAWL_OK);
	aggs_result *r = NULL, *z = NULL;
	assert_int_equal(aggc_finish(c, &r, err, sizeof err), TRAWL_OK);
	zkeys k = {{t, u, v}, {NULL}, 3};
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(aggc_keys(c, k.node[i], &k.keys[i], err, sizeof err), TRAWL_OK);
	assert_true(k.keys[0]->nbuckets > 1 && k.keys[1]->nbuckets > 1 && k.keys[2]->nbuckets > 1);
	assert_int_equal(aggc_keys(c, &u->subs[0], &z, err, sizeof err), TRAWL_EINVAL);
	assert_int_equal(aggc_zero(b, t, zkeys_of, &k, &z, err, sizeof err), TRAWL_OK);
	char *want = encode_alone(s, &r->buckets[0].subs[0]), *got = encode_alone(s, z);
	assert_string_equal(got, want);
	free(want);
	free(got);
	aggs_result_free(t, z);
	/* without a node's values, and over the limit */
	k.n = 2;
	assert_int_equal(aggc_zero(b, t, zkeys_of, &k, &z, err, sizeof err), TRAWL_ELIMIT);
	assert_non_null(strstr(err, "aggs.t.aggs.u.aggs.f.aggs.v"));
	assert_null(z);
	k.n = 3;
	aggs_result *many = calloc(1, sizeof *many);
	assert_non_null(many && (many->buckets = calloc(300, sizeof *many->buckets)));
	for (many->nbuckets = 0; many->nbuckets < 300; many->nbuckets++)
		many->buckets[many->nbuckets].key = many->nbuckets;
	aggs_result_free(v, k.keys[2]);
	k.keys[2] = many; /* 300 tags x 300 numbers */
	aggs_result *tags = calloc(1, sizeof *tags);
	assert_non_null(tags && (tags->buckets = calloc(300, sizeof *tags->buckets)));
	for (tags->nbuckets = 0; tags->nbuckets < 300; tags->nbuckets++) {
		aggs_bucket *x = &tags->buckets[tags->nbuckets];
		assert_non_null(x->str = malloc(8));
		x->len = (uint32_t)snprintf(x->str, 8, "k%03u", tags->nbuckets);
	}
	tags->type = AGGS_V_KEYWORD;
	aggs_result_free(u, k.keys[1]);
	k.keys[1] = tags;
	assert_int_equal(aggc_zero(b, u, zkeys_of, &k, &z, err, sizeof err), TRAWL_ELIMIT);
	assert_non_null(strstr(err, "LIMIT_AGG_BUCKETS"));
	assert_int_equal(aggc_zero(b, v, zkeys_of, &k, &z, err, sizeof err), TRAWL_OK);
	assert_int_equal(z->nbuckets, 300);
	aggs_result_free(v, z);
	for (uint32_t i = 0; i < 3; i++)
		aggs_result_free(k.node[i], k.keys[i]);
	aggs_result_free(s, r);
	aggc_close(c);
	fctx_fini(&f);
	aggc_bound_free(b);
	aggs_spec_free(s);
}

static void test_collect_limits(void **state)
{
	char err[512];
	char *out = NULL;
	/* 256 ranges under each of 60 titles: 15,360 buckets, fine; under each of
	 * ~400 (title, tag) pairs, over LIMIT_AGG_BUCKETS */
	char *req = malloc(1 << 16);
	int n = snprintf(req, 1 << 16,
	                 "{\"t\": {\"terms\": {\"field\": \"title.raw\"}, \"aggs\": {\"g\": "
	                 "{\"terms\": {\"field\": \"tags\"}, \"aggs\": {\"r\": {\"range\": "
	                 "{\"field\": \"size\", \"ranges\": [");
	for (int i = 0; i < LIMIT_AGG_RANGES; i++)
		n += snprintf(req + n, (1 << 16) - (size_t)n, "%s{\"from\": %d}", i ? "," : "",
		              i - 128);
	snprintf(req + n, (1 << 16) - (size_t)n, "]}}}}}}}");
	aggs_spec *s = spec_of(req);
	aggc_bound *b;
	assert_int_equal(aggc_bind(s, &B1.idx->schema, &b, err, sizeof err), TRAWL_OK);
	assert_int_equal(run(&B1, s, b, 0, 1, &out, err, sizeof err), TRAWL_ELIMIT);
	assert_string_equal(err,
	                    "aggs.t.aggs.g.aggs.r: more than 65536 buckets in the request "
	                    "(LIMIT_AGG_BUCKETS, as Elasticsearch's search.max_buckets): narrow "
	                    "the query or the aggregations");
	aggc_bound_free(b);
	aggs_spec_free(s);
	/* every value 200 x 200 times over: beyond LIMIT_AGG_VALUES */
	n = snprintf(req, 1 << 16, "{\"f\": {\"filters\": {\"filters\": [");
	for (int i = 0; i < 200; i++)
		n +=
		    snprintf(req + n, (1 << 16) - (size_t)n, "%s{\"match_all\": {}}", i ? "," : "");
	n += snprintf(req + n, (1 << 16) - (size_t)n,
	              "]}, \"aggs\": {\"g\": {\"filters\": {\"filters\": [");
	for (int i = 0; i < 200; i++)
		n +=
		    snprintf(req + n, (1 << 16) - (size_t)n, "%s{\"match_all\": {}}", i ? "," : "");
	snprintf(req + n, (1 << 16) - (size_t)n,
	         "]}, \"aggs\": {\"p\": {\"percentiles\": {\"field\": \"size\"}}}}}}}");
	s = spec_of(req);
	assert_int_equal(aggc_bind(s, &B1.idx->schema, &b, err, sizeof err), TRAWL_OK);
	idx_sview *v = &B1.s->views[0];
	fctx f = {B1.map[0], {0}, 0, 1};
	aggc *c;
	assert_int_equal(aggc_open(&c, b, v->cols, v->ndocs, filter_bits, &f, err, sizeof err),
	                 TRAWL_OK);
	int rc = TRAWL_OK;
	for (uint32_t d = 0; d < v->ndocs && !rc; d++)
		rc = aggc_collect(c, d);
	assert_int_equal(rc, TRAWL_ELIMIT);
	assert_int_equal(aggc_collect(c, v->ndocs - 1), TRAWL_ELIMIT); /* sticky */
	aggs_result *r = NULL;
	assert_int_equal(aggc_finish(c, &r, err, sizeof err), TRAWL_ELIMIT);
	assert_null(r);
	assert_string_equal(err,
	                    "aggs.f.aggs.g.aggs.p: percentiles and cardinality hold more than "
	                    "1000000 values in the request (LIMIT_AGG_VALUES); they are exact, "
	                    "never estimated: narrow the query");
	aggc_close(c);
	fctx_fini(&f);
	aggc_bound_free(b);
	aggs_spec_free(s);
	/* a histogram on values too far from each other to fill: refused when
	 * rendered, naming the limit */
	s = spec_of("{\"h\": {\"histogram\": {\"field\": \"big\", \"interval\": 1}}}");
	assert_int_equal(aggc_bind(s, &B1.idx->schema, &b, err, sizeof err), TRAWL_OK);
	assert_int_equal(run(&B1, s, b, 0, 1, &out, err, sizeof err), TRAWL_ELIMIT);
	assert_true(strstr(err, "(LIMIT_AGG_BUCKETS") != NULL);
	aggc_bound_free(b);
	aggs_spec_free(s);
	/* documents out of order; a filter the caller cannot evaluate */
	s = spec_of("{\"f\": {\"filter\": {\"match_all\": {}}}}");
	assert_int_equal(aggc_bind(s, &B1.idx->schema, &b, err, sizeof err), TRAWL_OK);
	assert_int_equal(aggc_open(&c, b, v->cols, v->ndocs, NULL, NULL, err, sizeof err),
	                 TRAWL_EQUERY);
	assert_string_equal(err,
	                    "aggs.f: the query of filter could not be evaluated in this shard");
	f.all = 1;
	assert_int_equal(aggc_open(&c, b, v->cols, v->ndocs, filter_bits, &f, err, sizeof err),
	                 TRAWL_OK);
	assert_int_equal(aggc_collect(c, 5), TRAWL_OK);
	assert_int_equal(aggc_collect(c, 5), TRAWL_EINVAL);
	assert_int_equal(aggc_finish(c, &r, err, sizeof err), TRAWL_EINVAL);
	assert_string_equal(err,
	                    "aggs: document 5 collected out of order or beyond the shard's 400");
	aggc_close(c);
	fctx_fini(&f);
	aggc_bound_free(b);
	aggs_spec_free(s);
	free(req);
}

/* ---- one reading of dates and doubles ---- */

static void test_dates_read_alike(void **state)
{
	static const char *const fixed[] = {
	    "2024",
	    "2024-02",
	    "2024-02-29",
	    "2023-02-29",
	    "2024-02-30",
	    "2024-13-01",
	    "2024-01-01T",
	    "2024-01-01T24:00",
	    "2024-01-01T23:59:59.999999999Z",
	    "2024-01-01T00:00:00,5+01:00",
	    "2024-01-01T00:00:00+0130",
	    "2024-01-01T00:00:00+18:00",
	    "2024-01-01T00:00:00+18:01",
	    "2024-01-01T00:00:00.+01:00",
	    "2024-01-01T00:00Z",
	    "2024-01-01T00Z",
	    "2024-01-01Z",
	    "0000-01-01",
	    "9999-12-31T23:59:59.999Z",
	    "1969-12-31T23:59:59.999-00:01",
	    "2024-01-01T00:00:00.1234567890Z",
	    "2024-01-01T00:00:00-05",
	    " 2024",
	    "2024-1-01",
	    "20240101",
	};
	char buf[64];
	for (int round = 0; round < 20000; round++) {
		const char *t;
		if (round < (int)(sizeof fixed / sizeof *fixed)) {
			t = fixed[round];
		} else {
			/* a random date, then perhaps a byte changed */
			iso((int64_t)(rnd() % 400000000000000ull) - 62000000000000LL,
			    (int)below(1441) - 720, 0, buf);
			size_t n = strlen(buf);
			if (below(2)) {
				static const char pool[] = "0123456789-:T.Z+,";
				buf[below((uint32_t)n)] = pool[below(sizeof pool - 1)];
			}
			if (below(4) == 0)
				buf[below((uint32_t)n) + 1] = 0;
			t = buf;
		}
		int64_t a = 0, b = 0;
		int ra = aggs_date_parse(t, strlen(t), 0, &a),
		    rb = idx_date_parse(t, strlen(t), &b);
		/* aggs_date_parse also takes epoch milliseconds (digits alone) */
		size_t sign = t[0] == '-';
		int digits =
		    t[sign] && strspn(t + sign, "0123456789") == strlen(t + sign) && strlen(t) != 4;
		if (!digits && (ra != rb || (ra == TRAWL_OK && a != b)))
			fail_msg("\"%s\": aggs %d %lld, values %d %lld", t, ra, (long long)a, rb,
			         (long long)b);
	}
	for (int i = 0; i < 10000; i++) {
		uint64_t bits = rnd();
		double d;
		memcpy(&d, &bits, 8);
		if (!isfinite(d))
			continue;
		assert_true(aggs_double_key(d) == idx_double_key(d));
		int64_t k = (int64_t)rnd();
		double x = aggs_key_double(k), y = idx_key_double(k);
		assert_memory_equal(&x, &y, 8);
	}
}

/* Every allocation of binding, opening, collecting and finishing fails in
 * turn: TRAWL_ENOMEM, never a crash or a leak (ASan), and in the end the
 * answer of an undisturbed run. */
static void test_allocation_failures(void **state)
{
	/* every kind of node: terms by array and by hash, missing and include on
	 * keywords, histograms (nested and tallied), ranges, filters, every metric */
	static const char *const req =
	    "{\"t\": {\"terms\": {\"field\": \"tags\", \"missing\": \"zz\", \"min_doc_count\": 0, "
	    "\"exclude\": [\"t3\"]}, \"aggs\": {\"s\": {\"terms\": {\"field\": \"section\"}, "
	    "\"aggs\": {\"d\": {\"date_histogram\": {\"field\": \"date\", \"calendar_interval\": "
	    "\"month\"}, \"aggs\": {\"st\": {\"stats\": {\"field\": \"ratio\"}}}}}}}},"
	    " \"h\": {\"histogram\": {\"field\": \"size\", \"interval\": 10}, \"aggs\": {\"c\": "
	    "{\"cardinality\": {\"field\": \"title.raw\"}}, \"p\": {\"percentiles\": {\"field\": "
	    "\"size\"}}}},"
	    " \"tt\": {\"terms\": {\"field\": \"tags\", \"size\": 2}},"
	    " \"hw\": {\"histogram\": {\"field\": \"date\", \"interval\": 60000, "
	    "\"min_doc_count\": 1}},"
	    " \"dm\": {\"date_histogram\": {\"field\": \"date\", \"calendar_interval\": "
	    "\"month\"}},"
	    " \"r\": {\"range\": {\"field\": \"ratio\", \"ranges\": [{\"to\": 0}, {\"from\": 0}]}, "
	    "\"aggs\": {\"m\": {\"missing\": {\"field\": \"flag\"}, \"aggs\": {\"v\": {\"sum\": "
	    "{\"field\": \"size\"}}}}}},"
	    " \"f\": {\"filters\": {\"filters\": {\"a\": {\"match_all\": {}}}, \"other_bucket\": "
	    "true}, \"aggs\": {\"x\": {\"filter\": {\"exists\": {\"field\": \"ratio\"}}, \"aggs\": "
	    "{\"mn\": {\"min\": {\"field\": \"big\"}}, \"av\": {\"avg\": {\"field\": \"flag\"}}, "
	    "\"vc\": {\"value_count\": {\"field\": \"tags\"}}}}}}}";
	aggs_spec *s = spec_of(req);
	char err[512];
	aggc_bound *b0;
	assert_int_equal(aggc_bind(s, &B1.idx->schema, &b0, err, sizeof err), TRAWL_OK);
	char *want;
	assert_int_equal(run(&B1, s, b0, 0, 0, &want, err, sizeof err), TRAWL_OK);
	idx_sview *v = &B1.s->views[0];
	long n = 0;
	for (;; n++) {
		fctx f = {B1.map[0], {0}, 0, 0};
		aggc_bound *b = NULL;
		aggc *c = NULL;
		aggs_result *r = NULL;
		allocs = 0;
		fail_at = n;
		int rc = aggc_bind(s, &B1.idx->schema, &b, err, sizeof err);
		if (!rc)
			rc = aggc_open(&c, b, v->cols, v->ndocs, filter_bits, &f, err, sizeof err);
		for (uint32_t d = 0; !rc && d < v->ndocs; d++)
			if (matches(B1.map[0][d]))
				rc = aggc_collect(c, d);
		if (!rc)
			rc = aggc_finish(c, &r, err, sizeof err);
		fail_at = -1;
		if (rc != TRAWL_OK && rc != TRAWL_ENOMEM)
			fail_msg("allocation %ld: %d %s", n, rc, err);
		if (!rc) {
			char *got;
			size_t len;
			assert_int_equal(aggs_render(s, r, &got, &len, err, sizeof err), TRAWL_OK);
			assert_string_equal(got, want);
			free(got);
		}
		aggs_result_free(s, r);
		aggc_close(c);
		aggc_bound_free(b);
		fctx_fini(&f);
		if (!rc)
			break;
	}
	assert_true(n > 20);
	free(want);
	aggc_bound_free(b0);
	aggs_spec_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dates_read_alike),
	    cmocka_unit_test(test_bind_errors),
	    cmocka_unit_test(test_against_brute_force),
	    cmocka_unit_test(test_collect_limits),
	    cmocka_unit_test(test_zero_is_an_empty_bucket),
	    cmocka_unit_test(test_allocation_failures),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
