/*
 * aggs_result.c - the partial results of aggregations (aggs.h): exact sums,
 * the merge of partials from shards and leaves, their JSON text between
 * processes, and the final rendering as Elasticsearch's "aggregations"
 * object. A partial holds every bucket, so the merge is plain addition and
 * union; the rendering is where size, order, min_doc_count, extended_bounds
 * and keyed are applied, once, on the whole.
 */
#include "common/aggs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/error.h"

/* root, filter and missing have one bucket; terms, range, date_range,
 * histogram, date_histogram and filters have many (they count against
 * LIMIT_AGG_BUCKETS). */
static int single_bucket(aggs_kind k)
{
	return k == AGGS_ROOT || k == AGGS_FILTER || k == AGGS_MISSING;
}

/* ---- building and freeing ---- */

static void bucket_fini(const aggs_spec *s, aggs_bucket *b)
{
	if (!b->borrowed)
		free(b->str);
	if (b->subs) {
		for (uint32_t i = 0; i < s->nsubs; i++)
			aggs_result_fini(&s->subs[i], &b->subs[i]);
		free(b->subs);
	}
	memset(b, 0, sizeof *b);
}

/* b->subs: the empty results of s's sub-aggregations. */
static int subs_init(const aggs_spec *s, aggs_bucket *b)
{
	b->subs = NULL;
	if (!s->nsubs)
		return TRAWL_OK;
	if (!(b->subs = calloc(s->nsubs, sizeof *b->subs)))
		return TRAWL_ENOMEM;
	for (uint32_t i = 0; i < s->nsubs; i++)
		if (aggs_result_init(&s->subs[i], &b->subs[i])) {
			for (uint32_t j = 0; j < i; j++)
				aggs_result_fini(&s->subs[j], &b->subs[j]);
			free(b->subs);
			b->subs = NULL;
			return TRAWL_ENOMEM;
		}
	return TRAWL_OK;
}

int aggs_result_init(const aggs_spec *s, aggs_result *r)
{
	memset(r, 0, sizeof *r);
	if (!single_bucket(s->kind))
		return TRAWL_OK;
	if (!(r->buckets = calloc(1, sizeof *r->buckets)))
		return TRAWL_ENOMEM;
	r->nbuckets = 1;
	if (subs_init(s, &r->buckets[0])) {
		free(r->buckets);
		memset(r, 0, sizeof *r);
		return TRAWL_ENOMEM;
	}
	return TRAWL_OK;
}

void aggs_result_fini(const aggs_spec *s, aggs_result *r)
{
	for (uint32_t i = 0; i < r->nbuckets; i++)
		bucket_fini(s, &r->buckets[i]);
	free(r->buckets);
	free(r->sum.p);
	free(r->keys);
	for (uint32_t i = 0; r->strs && i < r->nkeys; i++)
		if (!r->strs[i].borrowed)
			free(r->strs[i].p);
	free(r->strs);
	free(r->vals);
	memset(r, 0, sizeof *r);
}

aggs_result *aggs_result_empty(const aggs_spec *spec)
{
	aggs_result *r = malloc(sizeof *r);
	if (r && aggs_result_init(spec, r)) {
		free(r);
		return NULL;
	}
	return r;
}

void aggs_result_free(const aggs_spec *spec, aggs_result *r)
{
	if (!r)
		return;
	aggs_result_fini(spec, r);
	free(r);
}

/* ---- exact sums ---- */

int aggs_sum_add(aggs_sum *s, double x)
{
	if (s->inf || x == 0)
		return TRAWL_OK;
	if (s->n + 1 > s->cap) {
		uint32_t cap = s->cap ? 2 * s->cap : 4;
		double *p = realloc(s->p, cap * sizeof *p);
		if (!p)
			return TRAWL_ENOMEM;
		s->p = p;
		s->cap = cap;
	}
	uint32_t i = 0;
	for (uint32_t j = 0; j < s->n; j++) {
		double y = s->p[j];
		if (fabs(x) < fabs(y)) {
			double t = x;
			x = y;
			y = t;
		}
		double hi = x + y;
		double lo = y - (hi - x);
		if (lo != 0.0)
			s->p[i++] = lo;
		x = hi;
	}
	if (!isfinite(x)) {
		s->inf = 1;
		s->n = 0;
		return TRAWL_OK;
	}
	if (x != 0.0)
		s->p[i++] = x;
	s->n = i;
	return TRAWL_OK;
}

/* The exact total of the partials, rounded once (as Python's math.fsum). */
static double msum_total(const double *p, uint32_t n)
{
	double hi = 0, lo = 0;
	if (n == 0)
		return 0;
	hi = p[--n];
	while (n > 0) {
		double x = hi, y = p[--n];
		hi = x + y;
		double yr = hi - x;
		lo = y - yr;
		if (lo != 0.0)
			break;
	}
	if (n > 0 && ((lo < 0 && p[n - 1] < 0) || (lo > 0 && p[n - 1] > 0))) {
		double y = lo * 2, x = hi + y, yr = x - hi;
		if (y == yr)
			hi = x;
	}
	return hi;
}

double aggs_sum_value(const aggs_sum *s)
{
	if (s->inf)
		return NAN;
	double d = msum_total(s->p, s->n);
	return s->i ? d + (double)s->i : d;
}

static int sum_merge(aggs_sum *a, aggs_sum *b)
{
	a->i += b->i;
	b->i = 0;
	if (b->inf) {
		a->inf = 1;
		a->n = 0;
	}
	for (uint32_t j = 0; j < b->n; j++)
		if (aggs_sum_add(a, b->p[j]))
			return TRAWL_ENOMEM;
	return TRAWL_OK;
}

/* ---- merging ---- */

typedef struct mctx {
	char *err;
	size_t errlen;
} mctx;

static int kwcmp(const char *a, uint32_t an, const char *b, uint32_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);
	if (c)
		return c;
	return an < bn ? -1 : an > bn;
}

/* Bucket order in a partial: keyword values by bytes, the rest by key. */
static int bucket_cmp(const aggs_bucket *x, const aggs_bucket *y)
{
	if (x->str || y->str) {
		if (!x->str)
			return -1;
		if (!y->str)
			return 1;
		return kwcmp(x->str, x->len, y->str, y->len);
	}
	return x->key < y->key ? -1 : x->key > y->key;
}

static int merge_result(mctx *m, const aggs_spec *s, aggs_result *a, aggs_result *b);

static const char *vtype_name(int t)
{
	static const char *const n[] = {"unknown", "keyword", "long", "double", "date", "boolean"};
	return t >= 0 && t <= AGGS_V_BOOLEAN ? n[t] : "?";
}

static int merge_buckets(mctx *m, const aggs_spec *s, aggs_result *a, aggs_result *b)
{
	if (b->nbuckets == 0)
		return TRAWL_OK;
	if (a->nbuckets == 0) { /* the first partial: taken as it is */
		free(a->buckets);
		a->buckets = b->buckets;
		a->nbuckets = b->nbuckets;
		b->buckets = NULL;
		b->nbuckets = 0;
		return TRAWL_OK;
	}
	aggs_bucket *nb = malloc(((size_t)a->nbuckets + b->nbuckets) * sizeof *nb);
	if (!nb)
		return TRAWL_ENOMEM;
	uint32_t i = 0, j = 0, n = 0;
	int rc = TRAWL_OK;
	while (i < a->nbuckets || j < b->nbuckets) {
		int c = i == a->nbuckets   ? 1
		        : j == b->nbuckets ? -1
		                           : bucket_cmp(&a->buckets[i], &b->buckets[j]);
		if (c < 0) {
			nb[n++] = a->buckets[i++];
		} else if (c > 0) {
			nb[n++] = b->buckets[j++];
		} else {
			aggs_bucket *x = &a->buckets[i++], *y = &b->buckets[j++];
			x->doc_count += y->doc_count;
			for (uint32_t k = 0; k < s->nsubs && x->subs && y->subs; k++) {
				int r = merge_result(m, &s->subs[k], &x->subs[k], &y->subs[k]);
				if (r && !rc)
					rc = r;
			}
			bucket_fini(s, y);
			nb[n++] = *x;
		}
	}
	free(a->buckets);
	free(b->buckets);
	a->buckets = nb;
	a->nbuckets = n;
	b->buckets = NULL;
	b->nbuckets = 0;
	return rc;
}

static int merge_keys(aggs_result *a, aggs_result *b)
{
	if (b->nkeys == 0)
		return TRAWL_OK;
	if (a->nkeys == 0) { /* the first partial: taken as it is */
		free(a->keys);
		free(a->strs);
		a->keys = b->keys;
		a->strs = b->strs;
		a->nkeys = b->nkeys;
		b->keys = NULL;
		b->strs = NULL;
		b->nkeys = 0;
		return TRAWL_OK;
	}
	size_t cap = (size_t)a->nkeys + b->nkeys;
	int kw = a->strs || b->strs;
	int64_t *k = kw ? NULL : malloc(cap * sizeof *k);
	aggs_str *st = kw ? malloc(cap * sizeof *st) : NULL;
	if (kw ? !st : !k)
		return TRAWL_ENOMEM;
	uint32_t i = 0, j = 0, n = 0;
	while (i < a->nkeys || j < b->nkeys) {
		int c;
		if (i == a->nkeys)
			c = 1;
		else if (j == b->nkeys)
			c = -1;
		else if (kw)
			c = kwcmp(a->strs[i].p, a->strs[i].len, b->strs[j].p, b->strs[j].len);
		else
			c = a->keys[i] < b->keys[j] ? -1 : a->keys[i] > b->keys[j];
		if (kw) {
			if (c <= 0)
				st[n++] = a->strs[i++];
			else
				st[n++] = b->strs[j++];
			if (c == 0 && !b->strs[j].borrowed)
				free(b->strs[j].p);
			j += c == 0;
		} else {
			k[n++] = c <= 0 ? a->keys[i++] : b->keys[j++];
			if (c == 0)
				j++;
		}
	}
	if (kw) {
		free(a->strs);
		free(b->strs);
		a->strs = st;
		b->strs = NULL;
	} else {
		free(a->keys);
		a->keys = k;
	}
	a->nkeys = n;
	b->nkeys = 0;
	return TRAWL_OK;
}

static int merge_result(mctx *m, const aggs_spec *s, aggs_result *a, aggs_result *b)
{
	if (a->type == AGGS_V_NONE) {
		a->type = b->type;
	} else if (b->type != AGGS_V_NONE && b->type != a->type) {
		return errf(m->err, m->errlen, TRAWL_EINVAL,
		            "%s: partial results disagree on the type of field %s (%s and %s)",
		            s->path, s->field ? s->field : "?", vtype_name(a->type),
		            vtype_name(b->type));
	}
	if (!aggs_is_metric(s->kind))
		return merge_buckets(m, s, a, b);
	if (b->count) {
		if (!a->count || b->min < a->min)
			a->min = b->min;
		if (!a->count || b->max > a->max)
			a->max = b->max;
	}
	a->count += b->count;
	b->count = 0;
	int rc = sum_merge(&a->sum, &b->sum);
	if (rc)
		return rc;
	if ((rc = merge_keys(a, b)))
		return rc;
	if (b->nvals) {
		double *v = realloc(a->vals, (a->nvals + b->nvals) * sizeof *v);
		if (!v)
			return TRAWL_ENOMEM;
		memcpy(v + a->nvals, b->vals, b->nvals * sizeof *v);
		a->vals = v;
		a->nvals += b->nvals;
		b->nvals = 0;
	}
	return TRAWL_OK;
}

/* Buckets of multi-bucket aggregations and values held, in a whole tree. */
static void tree_size(const aggs_spec *s, const aggs_result *r, uint64_t *nb, uint64_t *nv)
{
	if (!single_bucket(s->kind))
		*nb += r->nbuckets;
	*nv += r->nkeys + r->nvals;
	for (uint32_t i = 0; i < r->nbuckets; i++)
		for (uint32_t k = 0; k < s->nsubs && r->buckets[i].subs; k++)
			tree_size(&s->subs[k], &r->buckets[i].subs[k], nb, nv);
}

uint64_t aggs_result_buckets(const aggs_spec *s, const aggs_result *r)
{
	uint64_t nb = 0, nv = 0;
	tree_size(s, r, &nb, &nv);
	return nb;
}

static int check_size(const aggs_spec *spec, const aggs_result *r, char *err, size_t errlen)
{
	uint64_t nb = 0, nv = 0;
	tree_size(spec, r, &nb, &nv);
	if (nb > LIMIT_AGG_BUCKETS)
		return errf(err, errlen, TRAWL_ELIMIT,
		            "aggs: more than %d buckets (LIMIT_AGG_BUCKETS, as Elasticsearch's "
		            "search.max_buckets): narrow the query or the aggregations",
		            LIMIT_AGG_BUCKETS);
	if (nv > LIMIT_AGG_VALUES)
		return errf(err, errlen, TRAWL_ELIMIT,
		            "aggs: percentiles and cardinality hold more than %d values "
		            "(LIMIT_AGG_VALUES); they are exact, never estimated: narrow the query",
		            LIMIT_AGG_VALUES);
	return TRAWL_OK;
}

int aggs_merge(const aggs_spec *spec, aggs_result *into, aggs_result *from, char *err,
               size_t errlen)
{
	mctx m = {err, errlen};
	int rc = merge_result(&m, spec, into, from);
	aggs_result_free(spec, from);
	if (rc == TRAWL_ENOMEM)
		return errf(err, errlen, rc, "aggs: out of memory merging partial results");
	if (rc)
		return rc;
	return check_size(spec, into, err, errlen);
}

/* ---- JSON text ---- */

/* The partials' encoding and the rendered answer write JSON text straight
 * into a growing buffer, with no tree between (a daily histogram of thirty
 * years spent half its time building a jansson tree of the answer, writing
 * it out and freeing it; 7% searching). The first failure (ENOMEM, or
 * ELIMIT past the buffer's bound) is kept in rc and ends the writing. */
typedef struct jw {
	tbuf b;
	int rc;
} jw;

static void w(jw *j, const char *s, size_t n)
{
	if (j->rc)
		return;
	if (n < j->b.cap - j->b.len && n <= j->b.max - j->b.len) { /* room (and the NUL's) */
		memcpy(j->b.data + j->b.len, s, n);
		j->b.len += n;
		return;
	}
	j->rc = tbuf_append(&j->b, s, n);
}

static void ws(jw *j, const char *s)
{
	w(j, s, strlen(s));
}

/* A string as jansson writes one (the answer's bytes were jansson's until
 * this writer replaced it): '"' and '\\' escaped, \b \f \n \r \t, other
 * control characters as \u00XX in upper case, everything else as it is. */
static void wstr(jw *j, const char *s, size_t n)
{
	static const char hx[] = "0123456789ABCDEF";
	size_t plain = 0;
	while (plain < n && (unsigned char)s[plain] >= 0x20 && s[plain] != '"' && s[plain] != '\\')
		plain++;
	if (plain == n && !j->rc && n + 2 < j->b.cap - j->b.len && n + 2 <= j->b.max - j->b.len) {
		/* nothing to escape, and room: in one copy (keys, dates) */
		char *d = (char *)j->b.data + j->b.len;
		d[0] = '"';
		memcpy(d + 1, s, n);
		d[n + 1] = '"';
		j->b.len += n + 2;
		return;
	}
	w(j, "\"", 1);
	size_t from = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		w(j, s + from, i - from);
		/* the short escapes, or 0: \u00XX */
		static const char brief[32] = {
		    ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't'};
		char e[6] = {'\\', c < 32 ? brief[c] : (char)c, '0', '0', hx[c >> 4], hx[c & 15]};
		if (!e[1])
			e[1] = 'u';
		w(j, e, e[1] == 'u' ? 6 : 2);
		from = i + 1;
	}
	w(j, s + from, n - from);
	w(j, "\"", 1);
}

/* v's decimal digits, written backwards to end: returns where they start. */
static char *digits_back(char *end, uint64_t v)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return end;
}

static void wu64(jw *j, uint64_t v)
{
	char b[24], *p = digits_back(b + sizeof b, v);
	w(j, p, (size_t)(b + sizeof b - p));
}

static void wi64(jw *j, int64_t v)
{
	char b[24], *p = digits_back(b + sizeof b, v < 0 ? -(uint64_t)v : (uint64_t)v);
	if (v < 0)
		*--p = '-';
	w(j, p, (size_t)(b + sizeof b - p));
}

/* A double of a partial: %.17g, read back exactly. */
static void wdbl(jw *j, double d)
{
	char b[40];
	if (d == 0)
		ws(j, signbit(d) ? "-0.0" : "0");
	else
		w(j, b, (size_t)snprintf(b, sizeof b, "%.17g", d));
}

/* A double of the answer, as jansson wrote a real: %.17g, ".0" after an
 * integer, the exponent without '+' or leading zeros ("1e17", "1.5e-5").
 * jansson could not make a real of NaN or an infinity, and the answer
 * failed as out of memory: so here (wnum writes them as null). */
static void wreal(jw *j, double d)
{
	if (!isfinite(d)) {
		if (!j->rc)
			j->rc = TRAWL_ENOMEM;
		return;
	}
	if (d == floor(d) && fabs(d) < 1e17) { /* whole: %.17g gives its digits */
		if (d == 0)
			ws(j, signbit(d) ? "-0.0" : "0.0");
		else {
			wi64(j, (int64_t)d);
			w(j, ".0", 2);
		}
		return;
	}
	char b[40];
	size_t n = (size_t)snprintf(b, sizeof b, "%.17g", d);
	char *e = strchr(b, 'e');
	if (!e && !strchr(b, '.')) {
		memcpy(b + n, ".0", 3);
		n += 2;
	}
	if (e) { /* "e+17" to "e17", "e-05" to "e-5" */
		char *from = e + 1, *to = e + 1;
		if (*from == '-')
			*to++ = *from++;
		while (*from == '+' || *from == '0')
			from++;
		memmove(to, from, (size_t)(b + n + 1 - from));
		n -= (size_t)(from - to);
	}
	w(j, b, n);
}

static void wnum(jw *j, double d)
{
	if (isfinite(d))
		wreal(j, d);
	else
		ws(j, "null");
}

/* An int128 in decimal: an integer when it fits int64, else a string. */
static void wi128(jw *j, __int128 v)
{
	if (v >= INT64_MIN && v <= INT64_MAX) {
		wi64(j, (int64_t)v);
		return;
	}
	char b[48];
	int n = 0, neg = v < 0;
	unsigned __int128 u = neg ? -(unsigned __int128)v : (unsigned __int128)v;
	do {
		b[sizeof b - 1 - n++] = (char)('0' + (int)(u % 10));
		u /= 10;
	} while (u);
	if (neg)
		b[sizeof b - 1 - n++] = '-';
	w(j, "\"", 1);
	w(j, b + sizeof b - n, (size_t)n);
	w(j, "\"", 1);
}

static void enc_node(jw *j, const aggs_spec *s, const aggs_result *r)
{
	ws(j, "{\"t\":");
	wi64(j, r->type);
	if (!aggs_is_metric(s->kind)) {
		ws(j, ",\"b\":[");
		for (uint32_t i = 0; i < r->nbuckets; i++) {
			const aggs_bucket *b = &r->buckets[i];
			ws(j, i ? ",[" : "[");
			if (b->str)
				wstr(j, b->str, b->len);
			else
				wi64(j, b->key);
			w(j, ",", 1);
			wu64(j, b->doc_count);
			if (s->nsubs) {
				ws(j, ",[");
				for (uint32_t k = 0; k < s->nsubs; k++) {
					if (k)
						w(j, ",", 1);
					enc_node(j, &s->subs[k], &b->subs[k]);
				}
				w(j, "]", 1);
			}
			w(j, "]", 1);
		}
		ws(j, "]}");
		return;
	}
	ws(j, ",\"c\":");
	wu64(j, r->count);
	if (r->count) {
		ws(j, ",\"mn\":");
		wi64(j, r->min);
		ws(j, ",\"mx\":");
		wi64(j, r->max);
	}
	if (r->sum.i) {
		ws(j, ",\"si\":");
		wi128(j, r->sum.i);
	}
	if (r->sum.n) {
		ws(j, ",\"sd\":[");
		for (uint32_t i = 0; i < r->sum.n; i++) {
			if (i)
				w(j, ",", 1);
			wdbl(j, r->sum.p[i]);
		}
		w(j, "]", 1);
	}
	if (r->sum.inf)
		ws(j, ",\"sinf\":1");
	if (r->nkeys) {
		ws(j, ",\"k\":[");
		for (uint32_t i = 0; i < r->nkeys; i++) {
			if (i)
				w(j, ",", 1);
			if (r->strs)
				wstr(j, r->strs[i].p, r->strs[i].len);
			else
				wi64(j, r->keys[i]);
		}
		w(j, "]", 1);
	}
	if (r->nvals) {
		ws(j, ",\"p\":[");
		for (uint64_t i = 0; i < r->nvals; i++) {
			if (i)
				w(j, ",", 1);
			wdbl(j, r->vals[i]);
		}
		w(j, "]", 1);
	}
	w(j, "}", 1);
}

int aggs_result_encode(const aggs_spec *spec, const aggs_result *r, char **out, size_t *len,
                       char *err, size_t errlen)
{
	*out = NULL;
	jw j = {{0}, 0};
	tbuf_init(&j.b, LIMIT_AGG_PARTIAL_BYTES);
	ws(&j, "{\"v\":1,\"r\":");
	enc_node(&j, spec, r);
	w(&j, "}", 1);
	if (!j.rc && !tbuf_cstr(&j.b))
		j.rc = TRAWL_ENOMEM;
	if (j.rc) {
		tbuf_fini(&j.b);
		if (j.rc == TRAWL_ELIMIT)
			return errf(
			    err, errlen, j.rc,
			    "aggs: a partial result of more than %u bytes "
			    "(LIMIT_AGG_PARTIAL_BYTES): narrow the query or the aggregations",
			    LIMIT_AGG_PARTIAL_BYTES);
		return errf(err, errlen, j.rc, "aggs: out of memory encoding a partial result");
	}
	*out = (char *)j.b.data;
	*len = j.b.len;
	return TRAWL_OK;
}

/* ---- decoding ---- */

typedef struct dctx {
	char *err;
	size_t errlen;
	uint64_t buckets, values;
} dctx;

static int bad(dctx *d, const aggs_spec *s, const char *what)
{
	return errf(d->err, d->errlen, TRAWL_ECORRUPT, "%s: bad partial result: %s", s->path, what);
}

static int get_i64(const json_t *v, int64_t *out)
{
	if (!json_is_integer(v))
		return 0;
	*out = json_integer_value(v);
	return 1;
}

static int get_dbl(const json_t *v, double *out)
{
	if (!json_is_number(v))
		return 0;
	*out = json_number_value(v);
	return isfinite(*out);
}

static int get_i128(const json_t *v, __int128 *out)
{
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 1;
	}
	if (!json_is_string(v))
		return 0;
	const char *s = json_string_value(v);
	size_t n = json_string_length(v), i = s[0] == '-';
	if (i == n || n - i > 38)
		return 0;
	__int128 x = 0;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		x = x * 10 + (s[i] - '0');
	}
	*out = s[0] == '-' ? -x : x;
	return 1;
}

static int dec_node(dctx *d, const aggs_spec *s, const json_t *j, aggs_result *r);

/* Whether bucket key k fits node s. */
static int key_ok(const aggs_spec *s, int64_t k)
{
	switch (s->kind) {
	case AGGS_ROOT:
	case AGGS_FILTER:
	case AGGS_MISSING:
		return k == 0;
	case AGGS_RANGE:
	case AGGS_DATE_RANGE:
		return k >= 0 && k < s->nranges;
	case AGGS_FILTERS:
		return k >= 0 && k < (int64_t)s->nfilters + s->other_bucket;
	default:
		return 1;
	}
}

static int dec_buckets(dctx *d, const aggs_spec *s, const json_t *a, aggs_result *r)
{
	if (!json_is_array(a))
		return bad(d, s, "buckets are not an array");
	size_t n = json_array_size(a);
	if (!single_bucket(s->kind)) {
		d->buckets += n;
		if (d->buckets > LIMIT_AGG_BUCKETS)
			return errf(
			    d->err, d->errlen, TRAWL_ELIMIT,
			    "aggs: a partial result of more than %d buckets (LIMIT_AGG_BUCKETS)",
			    LIMIT_AGG_BUCKETS);
	} else if (n != 1) {
		return bad(d, s, "a single-bucket aggregation without exactly one bucket");
	}
	if (n && !(r->buckets = calloc(n, sizeof *r->buckets)))
		return TRAWL_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const json_t *b = json_array_get(a, i);
		if (!json_is_array(b) || json_array_size(b) != (s->nsubs ? 3u : 2u))
			return bad(d, s, "a bucket is not [key, doc_count(, subs)]");
		aggs_bucket *x = &r->buckets[i];
		const json_t *k = json_array_get(b, 0);
		int64_t cnt;
		if (s->kind == AGGS_TERMS && json_is_string(k) != (r->type == AGGS_V_KEYWORD))
			return bad(d, s, "a key that does not fit the field's type");
		if (json_is_string(k)) {
			size_t len = json_string_length(k);
			if (len > LIMIT_KEYWORD_BYTES || !(x->str = malloc(len + 1)))
				return len > LIMIT_KEYWORD_BYTES
				           ? bad(d, s, "a keyword over its limit")
				           : TRAWL_ENOMEM;
			memcpy(x->str, json_string_value(k), len + 1);
			x->len = (uint32_t)len;
		} else if (!get_i64(k, &x->key) || !key_ok(s, x->key)) {
			r->nbuckets = (uint32_t)i + 1;
			return bad(d, s, "a bucket's key does not fit the aggregation");
		}
		r->nbuckets = (uint32_t)i + 1;
		if (!get_i64(json_array_get(b, 1), &cnt) || cnt < 0)
			return bad(d, s, "a bucket's doc_count is not a count");
		x->doc_count = (uint64_t)cnt;
		if (i && bucket_cmp(&r->buckets[i - 1], x) >= 0)
			return bad(d, s, "buckets out of order");
		if (s->nsubs) {
			const json_t *subs = json_array_get(b, 2);
			if (!json_is_array(subs) || json_array_size(subs) != s->nsubs)
				return bad(d, s, "a bucket without one result per sub-aggregation");
			if (!(x->subs = calloc(s->nsubs, sizeof *x->subs)))
				return TRAWL_ENOMEM;
			for (uint32_t k2 = 0; k2 < s->nsubs; k2++) {
				int rc = dec_node(d, &s->subs[k2], json_array_get(subs, k2),
				                  &x->subs[k2]);
				if (rc)
					return rc;
			}
		}
	}
	return TRAWL_OK;
}

static int dec_metric(dctx *d, const aggs_spec *s, const json_t *j, aggs_result *r)
{
	const char *key;
	json_t *v;
	int64_t c = -1;
	int has_mn = 0, has_mx = 0;
	json_object_foreach((json_t *)j, key, v)
	{
		if (!strcmp(key, "t")) {
			continue;
		} else if (!strcmp(key, "c")) {
			if (!get_i64(v, &c) || c < 0)
				return bad(d, s, "a count that is not a count");
		} else if (!strcmp(key, "mn")) {
			has_mn = get_i64(v, &r->min);
			if (!has_mn)
				return bad(d, s, "a minimum that is not a key");
		} else if (!strcmp(key, "mx")) {
			has_mx = get_i64(v, &r->max);
			if (!has_mx)
				return bad(d, s, "a maximum that is not a key");
		} else if (!strcmp(key, "si")) {
			if (!get_i128(v, &r->sum.i))
				return bad(d, s, "an integer sum that is not an integer");
		} else if (!strcmp(key, "sd")) {
			/* added again, so that the list keeps its invariant whatever it was */
			size_t n = json_array_size(v);
			if (!json_is_array(v) || n > 4096)
				return bad(d, s, "a sum that is not a list of doubles");
			for (size_t i = 0; i < n; i++) {
				double x;
				if (!get_dbl(json_array_get(v, i), &x))
					return bad(d, s, "a sum that is not a list of doubles");
				if (aggs_sum_add(&r->sum, x))
					return TRAWL_ENOMEM;
			}
		} else if (!strcmp(key, "sinf")) {
			r->sum.inf = 1;
		} else if (!strcmp(key, "k") && s->kind == AGGS_CARDINALITY) {
			size_t n = json_array_size(v);
			if (!json_is_array(v))
				return bad(d, s, "distinct values that are not a list");
			d->values += n;
			if (d->values > LIMIT_AGG_VALUES)
				return errf(d->err, d->errlen, TRAWL_ELIMIT,
				            "aggs: a partial result of more than %d values "
				            "(LIMIT_AGG_VALUES)",
				            LIMIT_AGG_VALUES);
			int kw = n && json_is_string(json_array_get(v, 0));
			if (n && (kw ? !(r->strs = calloc(n, sizeof *r->strs))
			             : !(r->keys = malloc(n * sizeof *r->keys))))
				return TRAWL_ENOMEM;
			for (size_t i = 0; i < n; i++) {
				const json_t *x = json_array_get(v, i);
				if (kw) {
					size_t len = json_string_length(x);
					if (!json_is_string(x) || len > LIMIT_KEYWORD_BYTES)
						return bad(d, s,
						           "a distinct keyword that is not one");
					if (!(r->strs[i].p = malloc(len + 1)))
						return TRAWL_ENOMEM;
					memcpy(r->strs[i].p, json_string_value(x), len + 1);
					r->strs[i].len = (uint32_t)len;
					r->nkeys = (uint32_t)i + 1;
					if (i && kwcmp(r->strs[i - 1].p, r->strs[i - 1].len,
					               r->strs[i].p, r->strs[i].len) >= 0)
						return bad(d, s, "distinct values out of order");
				} else {
					if (!get_i64(x, &r->keys[i]))
						return bad(d, s,
						           "a distinct value that is not a key");
					r->nkeys = (uint32_t)i + 1;
					if (i && r->keys[i - 1] >= r->keys[i])
						return bad(d, s, "distinct values out of order");
				}
			}
		} else if (!strcmp(key, "p") && s->kind == AGGS_PERCENTILES) {
			size_t n = json_array_size(v);
			if (!json_is_array(v))
				return bad(d, s, "values that are not a list");
			d->values += n;
			if (d->values > LIMIT_AGG_VALUES)
				return errf(d->err, d->errlen, TRAWL_ELIMIT,
				            "aggs: a partial result of more than %d values "
				            "(LIMIT_AGG_VALUES)",
				            LIMIT_AGG_VALUES);
			if (n && !(r->vals = malloc(n * sizeof *r->vals)))
				return TRAWL_ENOMEM;
			for (size_t i = 0; i < n; i++)
				if (!get_dbl(json_array_get(v, i), &r->vals[r->nvals++]))
					return bad(d, s, "a value that is not a finite number");
		} else {
			return bad(d, s, "an unknown member");
		}
	}
	if (c < 0)
		return bad(d, s, "no count");
	r->count = (uint64_t)c;
	if ((c > 0) != has_mn || (c > 0) != has_mx || (c > 0 && r->min > r->max))
		return bad(d, s, "a minimum and maximum that do not fit the count");
	if (s->kind == AGGS_PERCENTILES && r->nvals != r->count)
		return bad(d, s, "percentiles without one value per count");
	if (r->nkeys && (r->strs != NULL) != (r->type == AGGS_V_KEYWORD))
		return bad(d, s, "distinct values that do not fit the field's type");
	return TRAWL_OK;
}

static int dec_node(dctx *d, const aggs_spec *s, const json_t *j, aggs_result *r)
{
	memset(r, 0, sizeof *r);
	int64_t t;
	if (!json_is_object(j) || !get_i64(json_object_get(j, "t"), &t) || t < 0 ||
	    t > AGGS_V_BOOLEAN)
		return bad(d, s, "a result that is not an object with its type");
	r->type = (uint8_t)t;
	if (aggs_is_metric(s->kind))
		return dec_metric(d, s, j, r);
	if (json_object_size(j) != 2)
		return bad(d, s, "a bucket aggregation's result is {\"t\", \"b\"}");
	return dec_buckets(d, s, json_object_get(j, "b"), r);
}

int aggs_result_decode(const aggs_spec *spec, const char *json, size_t len, aggs_result **out,
                       char *err, size_t errlen)
{
	*out = NULL;
	if (len > LIMIT_AGG_PARTIAL_BYTES)
		return errf(
		    err, errlen, TRAWL_ELIMIT,
		    "aggs: a partial result of more than %u bytes (LIMIT_AGG_PARTIAL_BYTES)",
		    LIMIT_AGG_PARTIAL_BYTES);
	json_error_t je;
	json_t *j = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
	if (!j)
		return errf(err, errlen, TRAWL_ECORRUPT,
		            "aggs: a partial result that is not JSON: %s", je.text);
	dctx d = {err, errlen, 0, 0};
	aggs_result *r = calloc(1, sizeof *r);
	int rc = TRAWL_ENOMEM;
	int64_t v;
	if (!r)
		goto out;
	if (!json_is_object(j) || json_object_size(j) != 2 ||
	    !get_i64(json_object_get(j, "v"), &v) || v != 1) {
		rc = bad(&d, spec, "not a partial result of version 1");
		goto out;
	}
	rc = dec_node(&d, spec, json_object_get(j, "r"), r);
out:
	json_decref(j);
	if (rc == TRAWL_ENOMEM)
		errf(err, errlen, rc, "aggs: out of memory decoding a partial result");
	if (rc) {
		aggs_result_free(spec, r);
		return rc;
	}
	*out = r;
	return TRAWL_OK;
}

/* ---- rendering ---- */

/* The answer is written as JSON text (jw). It had been a jansson tree
 * dumped with JSON_COMPACT | JSON_PRESERVE_ORDER, and its bytes are those
 * still: the OpenSearch layer and the root splice it into their answers
 * as it is. */
typedef struct rctx {
	char *err;
	size_t errlen;
	uint64_t buckets; /* of multi-bucket aggregations, rendered so far */
	jw j;             /* the text; j.rc: the first failure */
} rctx;

/* A bucket as rendered: a partial's bucket, or an empty one (b NULL). */
typedef struct rbucket {
	const aggs_bucket *b;
	int64_t key;
	const char *str;
	uint32_t len;
	uint64_t doc_count;
	double ov[LIMIT_AGG_ORDER_KEYS]; /* the order's metric values (NaN: none) */
} rbucket;

/*
 * An object being written. Its keys are its own, but for a keyed object's
 * (a range's key, a percent, a filter's name may repeat) and for a bucket
 * whose sub-aggregation has the name of one of the bucket's members (or of
 * another, names being cut at a NUL): jansson, which made the answer
 * before, kept a repeated key at its first place with its last value. Such
 * an object is tracked (the offsets of its members kept) and mended so
 * when it closes; others are written straight.
 */
typedef struct robj {
	uint32_t n; /* members so far */
	int track;
	size_t start;         /* tracked: the offset of '{' */
	size_t (*at)[2], cap; /* tracked: each member's key and value offsets */
} robj;

static void obj_open(rctx *c, robj *o, int track)
{
	*o = (robj){0, track, c->j.b.len, NULL, 0};
	w(&c->j, "{", 1);
}

/* Writes the next member's key (its value follows). */
static void obj_key(rctx *c, robj *o, const char *k, size_t klen)
{
	if (o->n++)
		w(&c->j, ",", 1);
	if (o->track && !c->j.rc) {
		if (tgrow(&o->at, &o->cap, o->n, sizeof *o->at)) {
			c->j.rc = TRAWL_ENOMEM;
			return;
		}
		o->at[o->n - 1][0] = c->j.b.len;
	}
	wstr(&c->j, k, klen);
	w(&c->j, ":", 1);
	if (o->track && !c->j.rc)
		o->at[o->n - 1][1] = c->j.b.len;
}

static void obj_keys(rctx *c, robj *o, const char *k)
{
	obj_key(c, o, k, strlen(k));
}

/* obj_keys for a name that needs no escaping, given as the literal
 * ",\"name\":" (OBJ_KEY): one copy instead of a scan and three. */
static void obj_lit(rctx *c, robj *o, const char *lit, size_t len, const char *name)
{
	if (o->track) {
		obj_keys(c, o, name);
		return;
	}
	size_t first = o->n++ == 0; /* no comma before the first */
	w(&c->j, lit + first, len - first);
}

#define OBJ_KEY(c, o, name) obj_lit((c), (o), ",\"" name "\":", sizeof(",\"" name "\":") - 1, name)

/* Member i's key in the text: its quotes included, its ':' not. */
static const char *member_key(const rctx *c, const robj *o, uint32_t i, size_t *len)
{
	*len = o->at[i][1] - 1 - o->at[i][0];
	return (const char *)c->j.b.data + o->at[i][0];
}

static int member_cmp(const void *a, const void *b, void *arg)
{
	const void *const *ctx = arg;
	const rctx *c = ctx[0];
	const robj *o = ctx[1];
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	size_t xn, yn;
	const char *xk = member_key(c, o, x, &xn), *yk = member_key(c, o, y, &yn);
	int d = memcmp(xk, yk, xn < yn ? xn : yn);
	if (!d)
		d = xn < yn ? -1 : xn > yn;
	return d ? d : (x > y) - (x < y);
}

/* A tracked object's repeated keys: each at its first place, with the
 * value of its last. */
static void obj_mend(rctx *c, robj *o)
{
	uint32_t n = o->n, *ix = malloc(n * sizeof *ix), *use = malloc(n * sizeof *use);
	char *text = NULL;
	if (!ix || !use) {
		c->j.rc = TRAWL_ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < n; i++)
		ix[i] = use[i] = i;
	const void *ctx[2] = {c, o};
	qsort_r(ix, n, sizeof *ix, member_cmp, ctx);
	int repeated = 0;
	for (uint32_t i = 0, g; i < n; i = g) {
		for (g = i + 1; g < n; g++) {
			size_t an, bn;
			const char *a = member_key(c, o, ix[i], &an),
			           *b = member_key(c, o, ix[g], &bn);
			if (an != bn || memcmp(a, b, an))
				break;
			use[ix[g]] = UINT32_MAX; /* dropped */
			repeated = 1;
		}
		use[ix[i]] = ix[g - 1]; /* the first place, the last value */
	}
	if (!repeated)
		goto out;
	size_t end = c->j.b.len, from = o->start + 1, m = 0;
	if (!(text = malloc(end - from))) {
		c->j.rc = TRAWL_ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (use[i] == UINT32_MAX)
			continue;
		uint32_t v = use[i];
		size_t kn, vend = v + 1 < n ? o->at[v + 1][0] - 1 : end;
		const char *k = member_key(c, o, i, &kn);
		if (m)
			text[m++] = ',';
		memcpy(text + m, k, kn + 1); /* the key and its ':' */
		m += kn + 1;
		memcpy(text + m, c->j.b.data + o->at[v][1], vend - o->at[v][1]);
		m += vend - o->at[v][1];
	}
	memcpy(c->j.b.data + from, text, m);
	c->j.b.len = from + m;
out:
	free(text);
	free(ix);
	free(use);
}

static void obj_close(rctx *c, robj *o)
{
	if (o->track && o->n > 1 && !c->j.rc)
		obj_mend(c, o);
	free(o->at);
	o->at = NULL;
	w(&c->j, "}", 1);
}

/* Whether the objects of s's buckets (or of the root, for the root) may
 * repeat a key: a sub-aggregation with the name of a bucket's own member,
 * or two with one name. */
static int subs_clash(const aggs_spec *s)
{
	static const char *const own[] = {
	    "key",  "key_as_string",  "doc_count", "doc_count_error_upper_bound",
	    "from", "from_as_string", "to",        "to_as_string"};
	for (uint32_t i = 0; i < s->nsubs; i++) {
		for (size_t k = 0; k < sizeof own / sizeof *own; k++)
			if (!strcmp(s->subs[i].name, own[k]))
				return 1;
		for (uint32_t k = 0; k < i; k++)
			if (!strcmp(s->subs[i].name, s->subs[k].name))
				return 1;
	}
	return 0;
}

static void render_node(rctx *c, const aggs_spec *s, const aggs_result *r);

static int count_bucket(rctx *c, uint64_t n)
{
	c->buckets += n;
	if (c->buckets > LIMIT_AGG_BUCKETS && !c->j.rc)
		c->j.rc =
		    errf(c->err, c->errlen, TRAWL_ELIMIT,
		         "aggs: the answer would hold more than %d buckets (LIMIT_AGG_BUCKETS, as "
		         "Elasticsearch's search.max_buckets): narrow the query, the intervals or "
		         "the bounds",
		         LIMIT_AGG_BUCKETS);
	return c->j.rc;
}

/* The double a key stands for. */
static double key_value(int type, int64_t k)
{
	return type == AGGS_V_DOUBLE ? aggs_key_double(k) : (double)k;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The value at percent p of n sorted values: linear interpolation between
 * the closest ranks (docs/AGGREGATIONS.md). */
static double percentile(const double *v, uint64_t n, double p)
{
	if (n == 0)
		return NAN;
	double rank = p / 100.0 * (double)(n - 1);
	uint64_t lo = (uint64_t)floor(rank), hi = (uint64_t)ceil(rank);
	if (hi >= n)
		hi = n - 1;
	if (lo == hi)
		return v[lo];
	return v[lo] + (v[hi] - v[lo]) * (rank - (double)lo);
}

/* A metric's statistic (for orders and rendering); NaN when there is none.
 * sorted: the percentiles' values sorted, when stat is a percent. */
static double metric_stat(const aggs_spec *m, const aggs_result *r, int stat, uint32_t pct,
                          const double *sorted)
{
	uint64_t n = r ? r->count : 0;
	int t = r ? r->type : AGGS_V_NONE;
	double sum = r ? aggs_sum_value(&r->sum) : 0;
	if (stat == AGGS_STAT_VALUE) {
		switch (m->kind) {
		case AGGS_MIN:
			stat = AGGS_STAT_MIN;
			break;
		case AGGS_MAX:
			stat = AGGS_STAT_MAX;
			break;
		case AGGS_SUM:
			stat = AGGS_STAT_SUM;
			break;
		case AGGS_AVG:
			stat = AGGS_STAT_AVG;
			break;
		case AGGS_VALUE_COUNT:
			stat = AGGS_STAT_COUNT;
			break;
		case AGGS_CARDINALITY:
			return r ? (double)r->nkeys : 0;
		default:
			return NAN;
		}
	}
	switch (stat) {
	case AGGS_STAT_COUNT:
		return (double)n;
	case AGGS_STAT_MIN:
		return n ? key_value(t, r->min) : NAN;
	case AGGS_STAT_MAX:
		return n ? key_value(t, r->max) : NAN;
	case AGGS_STAT_AVG:
		return n ? sum / (double)n : NAN;
	case AGGS_STAT_SUM:
		return sum;
	case AGGS_STAT_PERCENT:
		return r && sorted ? percentile(sorted, r->nvals, m->percents[pct]) : NAN;
	default:
		return NAN;
	}
}

static double *sorted_copy(const aggs_result *r)
{
	if (!r || !r->nvals)
		return NULL;
	double *v = malloc(r->nvals * sizeof *v);
	if (v) {
		memcpy(v, r->vals, r->nvals * sizeof *v);
		qsort(v, r->nvals, sizeof *v, cmp_double);
	}
	return v;
}

/* Fills rb->ov with the order's metric values. */
static int order_values(const aggs_spec *s, rbucket *rb)
{
	for (uint32_t i = 0; i < s->norder; i++) {
		const aggs_order *o = &s->order[i];
		rb->ov[i] = NAN;
		if (o->by != AGGS_ORDER_METRIC)
			continue;
		const aggs_spec *m = &s->subs[o->sub];
		const aggs_result *r = rb->b ? &rb->b->subs[o->sub] : NULL;
		double *sorted = NULL;
		if (o->stat == AGGS_STAT_PERCENT && r && r->nvals && !(sorted = sorted_copy(r)))
			return TRAWL_ENOMEM;
		rb->ov[i] = metric_stat(m, r, o->stat, o->pct, sorted);
		free(sorted);
	}
	return TRAWL_OK;
}

static int rb_key_cmp(const rbucket *x, const rbucket *y)
{
	if (x->str || y->str)
		return kwcmp(x->str ? x->str : "", x->len, y->str ? y->str : "", y->len);
	return x->key < y->key ? -1 : x->key > y->key;
}

static int order_cmp(const void *a, const void *b, void *arg)
{
	const aggs_spec *s = arg;
	const rbucket *x = a, *y = b;
	for (uint32_t i = 0; i < s->norder; i++) {
		const aggs_order *o = &s->order[i];
		int c = 0;
		if (o->by == AGGS_ORDER_COUNT) {
			c = x->doc_count < y->doc_count ? -1 : x->doc_count > y->doc_count;
		} else if (o->by == AGGS_ORDER_KEY) {
			c = rb_key_cmp(x, y);
		} else {
			double u = x->ov[i], v = y->ov[i];
			if (isnan(u) || isnan(v)) { /* no value: last, whichever the direction */
				if (isnan(u) != isnan(v))
					return isnan(u) ? 1 : -1;
				continue;
			}
			c = (u > v) - (u < v);
		}
		if (c)
			return o->desc ? -c : c;
	}
	return rb_key_cmp(x, y); /* ties: by key, ascending */
}

static int sort_buckets(const aggs_spec *s, rbucket *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (order_values(s, &v[i]))
			return TRAWL_ENOMEM;
	qsort_r(v, n, sizeof *v, order_cmp, (void *)s);
	return TRAWL_OK;
}

/* Writes the sub-aggregations' results of bucket b (NULL: an empty one) into o. */
static void render_subs(rctx *c, const aggs_spec *s, const aggs_bucket *b, robj *o)
{
	for (uint32_t i = 0; i < s->nsubs && !c->j.rc; i++) {
		obj_keys(c, o, s->subs[i].name);
		render_node(c, &s->subs[i], b ? &b->subs[i] : NULL);
	}
}

/* The "buckets" of a bucket aggregation, in its object just opened: an
 * array, or (keyed) an object by the buckets' keys. */
typedef struct rlist {
	int keyed;
	int clash; /* the buckets' objects may repeat a key (subs_clash) */
	uint32_t n;
	robj o;
} rlist;

static void list_open(rctx *c, rlist *l, const aggs_spec *s, int keyed)
{
	l->keyed = keyed;
	l->clash = subs_clash(s);
	l->n = 0;
	ws(&c->j, "\"buckets\":");
	if (keyed)
		obj_open(c, &l->o, 1);
	else
		w(&c->j, "[", 1);
}

/* Before the next bucket: its key (k, klen) in a keyed list, a comma in an
 * array. */
static void list_next(rctx *c, rlist *l, const char *k, size_t klen)
{
	if (l->keyed)
		obj_key(c, &l->o, k, klen);
	else if (l->n++)
		w(&c->j, ",", 1);
}

/* The list's end, and the aggregation's object's. */
static void list_close(rctx *c, rlist *l)
{
	if (l->keyed)
		obj_close(c, &l->o);
	else
		w(&c->j, "]", 1);
	w(&c->j, "}", 1);
}

/* The rest of bucket x, whose own members are written: its doc_count (and
 * terms' doc_count_error_upper_bound), the results of its
 * sub-aggregations (b NULL: an empty bucket), its end. */
static void bucket_end(rctx *c, const aggs_spec *s, const aggs_bucket *b, uint64_t doc_count,
                       robj *x)
{
	OBJ_KEY(c, x, "doc_count");
	wi64(&c->j, (int64_t)doc_count);
	if (s->kind == AGGS_TERMS && s->show_term_doc_count_error) {
		OBJ_KEY(c, x, "doc_count_error_upper_bound");
		w(&c->j, "0", 1);
	}
	render_subs(c, s, b, x);
	obj_close(c, x);
}

/* The bucket of r whose key is i (a range's or a query's index), or NULL;
 * *k: where to look from (keys ascend). */
static const aggs_bucket *bucket_of(const aggs_result *r, int64_t i, uint32_t *k)
{
	while (r && *k < r->nbuckets && r->buckets[*k].key < i)
		++*k;
	return r && *k < r->nbuckets && r->buckets[*k].key == i ? &r->buckets[*k] : NULL;
}

/* A date as s shows it (ISO 8601, or epoch_millis) into buf (40 bytes): its length. */
static size_t date_string(const aggs_spec *s, int64_t ms, int32_t tz, char *buf)
{
	if (s->epoch_format)
		return (size_t)snprintf(buf, 40, "%lld", (long long)ms);
	return aggs_date_format(ms, tz, buf);
}

/* Heap of the best buckets so far, the worst of them (the last in
 * order_cmp's order) at v[0]: a bucket moves up while it comes after its
 * parent. */
static void heap_up(const aggs_spec *s, rbucket *v, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (order_cmp(&v[p], &v[i], (void *)s) >= 0)
			break;
		rbucket t = v[p];
		v[p] = v[i];
		v[i] = t;
		i = p;
	}
}

static void heap_down(const aggs_spec *s, rbucket *v, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, w = i;
		if (l < n && order_cmp(&v[l], &v[w], (void *)s) > 0)
			w = l;
		if (r < n && order_cmp(&v[r], &v[w], (void *)s) > 0)
			w = r;
		if (w == i)
			return;
		rbucket t = v[w];
		v[w] = v[i];
		v[i] = t;
		i = w;
	}
}

/* The first k of r's buckets with at least min_doc_count documents, in the
 * order's order, into v (k entries), with *nv of them and *all the
 * documents of every such bucket. A heap of k, not a sort of them all: a
 * terms aggregation on a field of 35,000 values shows 10. */
static int top_buckets(const aggs_spec *s, const aggs_result *r, size_t k, rbucket *v, size_t *nv,
                       uint64_t *all)
{
	size_t n = r ? r->nbuckets : 0, m = 0;
	/* ordered first by most documents: a bucket with fewer than the
	 * heap's worst cannot enter it (the commonest case, looked at alone) */
	int by_count = s->norder && s->order[0].by == AGGS_ORDER_COUNT && s->order[0].desc;
	*all = 0;
	for (size_t i = 0; i < n; i++) {
		const aggs_bucket *b = &r->buckets[i];
		if (b->doc_count < s->min_doc_count)
			continue;
		if (by_count && m == k && k && b->doc_count < v[0].doc_count) {
			*all += b->doc_count;
			continue;
		}
		rbucket x = {
		    .b = b, .key = b->key, .str = b->str, .len = b->len, .doc_count = b->doc_count};
		if (order_values(s, &x))
			return TRAWL_ENOMEM;
		*all += b->doc_count;
		if (m < k) {
			v[m] = x;
			heap_up(s, v, m++);
		} else if (k && order_cmp(&x, &v[0], (void *)s) < 0) {
			v[0] = x;
			heap_down(s, v, m, 0);
		}
	}
	qsort_r(v, m, sizeof *v, order_cmp, (void *)s);
	*nv = m;
	return TRAWL_OK;
}

static void render_terms(rctx *c, const aggs_spec *s, const aggs_result *r)
{
	size_t n = r ? r->nbuckets : 0, shown = 0;
	size_t k = n < s->size ? n : s->size;
	rbucket *v = calloc(k ? k : 1, sizeof *v);
	uint64_t other = 0;
	if (!v || top_buckets(s, r, k, v, &shown, &other)) {
		free(v);
		c->j.rc = TRAWL_ENOMEM;
		return;
	}
	for (size_t i = 0; i < shown; i++)
		other -= v[i].doc_count;
	jw *j = &c->j;
	ws(j, "{\"doc_count_error_upper_bound\":0,\"sum_other_doc_count\":");
	wi64(j, (int64_t)other);
	w(j, ",", 1);
	rlist l;
	list_open(c, &l, s, 0);
	count_bucket(c, shown);
	int t = r ? r->type : AGGS_V_NONE;
	for (size_t i = 0; i < shown && !j->rc; i++) {
		robj b;
		list_next(c, &l, NULL, 0);
		obj_open(c, &b, l.clash);
		OBJ_KEY(c, &b, "key");
		if (v[i].str) {
			wstr(j, v[i].str, v[i].len);
		} else if (t == AGGS_V_DOUBLE) {
			wreal(j, aggs_key_double(v[i].key));
		} else {
			wi64(j, v[i].key);
			if (t == AGGS_V_DATE) {
				char buf[48];
				OBJ_KEY(c, &b, "key_as_string");
				wstr(j, buf, aggs_date_format(v[i].key, 0, buf));
			} else if (t == AGGS_V_BOOLEAN) {
				OBJ_KEY(c, &b, "key_as_string");
				ws(j, v[i].key ? "\"true\"" : "\"false\"");
			}
		}
		bucket_end(c, s, v[i].b, v[i].doc_count, &b);
	}
	list_close(c, &l);
	free(v);
}

/* The histogram bucket number of x, if it is one an int64 holds exactly
 * enough (|n| < 2^53). */
static int hist_index(const aggs_spec *s, double x, int64_t *k)
{
	double q = floor((x - s->offset) / s->interval);
	if (!(fabs(q) < 9007199254740992.0))
		return 0;
	*k = (int64_t)q;
	return 1;
}

/* A histogram's bucket without sub-aggregations in an array, as the
 * general way writes it ({"key_as_string":"...","key":ms,"doc_count":n}
 * for dates, {"key":k,"doc_count":n} for numbers; comma: one before it),
 * made in a buffer and written in one copy: a daily histogram writes
 * thousands. The date's text (ISO 8601 or digits) needs no escaping. */
static void plain_bucket(jw *j, int comma, int date, const char *ds, size_t dlen, int64_t ms,
                         double k, uint64_t doc_count)
{
	char t[192], *p = t;
	if (comma)
		*p++ = ',';
	if (date) {
		memcpy(p, "{\"key_as_string\":\"", 18);
		p += 18;
		memcpy(p, ds, dlen);
		p += dlen;
		memcpy(p, "\",\"key\":", 8);
		p += 8;
		char d[24], *q = digits_back(d + sizeof d, ms < 0 ? -(uint64_t)ms : (uint64_t)ms);
		if (ms < 0)
			*--q = '-';
		memcpy(p, q, (size_t)(d + sizeof d - q));
		p += d + sizeof d - q;
	} else {
		memcpy(p, "{\"key\":", 7);
		p += 7;
		w(j, t, (size_t)(p - t));
		wreal(j, k);
		p = t;
	}
	memcpy(p, ",\"doc_count\":", 13);
	p += 13;
	char d[24], *q = digits_back(d + sizeof d, doc_count);
	memcpy(p, q, (size_t)(d + sizeof d - q));
	p += d + sizeof d - q;
	*p++ = '}';
	w(j, t, (size_t)(p - t));
}

static void render_histogram(rctx *c, const aggs_spec *s, const aggs_result *r)
{
	int date = s->kind == AGGS_DATE_HISTOGRAM;
	size_t n = r ? r->nbuckets : 0;
	int64_t lo = 0, hi = 0;
	int have = 0;
	if (n) {
		lo = r->buckets[0].key;
		hi = r->buckets[n - 1].key;
		have = 1;
	}
	if (s->min_doc_count == 0 && s->has_bounds) {
		int64_t blo, bhi;
		if (date) {
			blo = aggs_date_round(s, s->bmin_ms);
			bhi = aggs_date_round(s, s->bmax_ms);
		} else if (!hist_index(s, s->bmin, &blo) || !hist_index(s, s->bmax, &bhi)) {
			c->j.rc =
			    errf(c->err, c->errlen, TRAWL_EINVAL,
			         "%s.histogram.extended_bounds: more than 2^53 intervals from the "
			         "offset",
			         s->path);
			return;
		}
		lo = have && lo < blo ? lo : blo;
		hi = have && hi > bhi ? hi : bhi;
		have = 1;
	}
	/* keys the collector makes are near the epoch (dates) or within 2^53
	 * intervals of the offset; a damaged partial's are refused */
	if (have && (date ? lo < -2 * 8640000000000000LL || hi > 2 * 8640000000000000LL
	                  : lo <= -9007199254740992LL || hi >= 9007199254740992LL)) {
		c->j.rc =
		    errf(c->err, c->errlen, TRAWL_EINVAL, "%s: a bucket key out of range", s->path);
		return;
	}
	/* the buckets to show: every one from lo to hi when min_doc_count is 0 */
	size_t cap = n, m = 0;
	if (s->min_doc_count == 0 && have) {
		uint64_t span = 0;
		if (date) {
			for (int64_t k = lo; k <= hi; k = aggs_date_next(s, k))
				if (++span > LIMIT_AGG_BUCKETS)
					break;
		} else {
			span = (uint64_t)(hi - lo) + 1; /* |lo|, |hi| < 2^53: no overflow */
		}
		if (count_bucket(c, span))
			return;
		cap = (size_t)span;
	}
	rbucket *v = calloc(cap ? cap : 1, sizeof *v);
	if (!v) {
		c->j.rc = TRAWL_ENOMEM;
		return;
	}
	if (s->min_doc_count == 0 && have) {
		size_t i = 0;
		for (int64_t k = lo; m < cap; k = date ? aggs_date_next(s, k) : k + 1) {
			rbucket *x = &v[m++];
			x->key = k;
			while (i < n && r->buckets[i].key < k)
				i++; /* not on the grid (a damaged partial): left out */
			if (i < n && r->buckets[i].key == k) {
				x->b = &r->buckets[i];
				x->doc_count = x->b->doc_count;
				i++;
			}
		}
	} else {
		for (size_t i = 0; i < n; i++)
			if (r->buckets[i].doc_count >= s->min_doc_count &&
			    r->buckets[i].doc_count > 0)
				v[m++] = (rbucket){.b = &r->buckets[i],
				                   .key = r->buckets[i].key,
				                   .doc_count = r->buckets[i].doc_count};
		if (count_bucket(c, m)) {
			free(v);
			return;
		}
	}
	if (!(s->norder == 1 && s->order[0].by == AGGS_ORDER_KEY && !s->order[0].desc) &&
	    sort_buckets(s, v, m)) {
		free(v);
		c->j.rc = TRAWL_ENOMEM;
		return;
	}
	jw *j = &c->j;
	rlist l;
	w(j, "{", 1);
	list_open(c, &l, s, s->keyed);
	for (size_t i = 0; i < m && !j->rc; i++) {
		char buf[48];
		size_t blen;
		double k = 0;
		if (date) {
			blen = date_string(s, v[i].key, s->tz_min, buf);
		} else { /* the key as text only names a keyed bucket */
			k = (double)v[i].key * s->interval + s->offset;
			blen = s->keyed ? aggs_java_double(k, buf) : 0;
		}
		if (!s->keyed && !s->nsubs && !j->rc) { /* the common bucket, in one copy */
			plain_bucket(j, l.n++ > 0, date, buf, blen, v[i].key, k, v[i].doc_count);
			continue;
		}
		list_next(c, &l, buf, blen);
		robj b;
		obj_open(c, &b, l.clash);
		if (date) {
			OBJ_KEY(c, &b, "key_as_string");
			wstr(j, buf, blen);
			OBJ_KEY(c, &b, "key");
			wi64(j, v[i].key);
		} else {
			OBJ_KEY(c, &b, "key");
			wreal(j, k);
		}
		bucket_end(c, s, v[i].b, v[i].doc_count, &b);
	}
	list_close(c, &l);
	free(v);
}

static void render_range(rctx *c, const aggs_spec *s, const aggs_result *r)
{
	int dates = s->kind == AGGS_DATE_RANGE || (r && r->type == AGGS_V_DATE);
	if (count_bucket(c, s->nranges))
		return;
	jw *j = &c->j;
	rlist l;
	w(j, "{", 1);
	list_open(c, &l, s, s->keyed);
	uint32_t k = 0;
	for (uint32_t i = 0; i < s->nranges && !j->rc; i++) {
		const aggs_range *g = &s->ranges[i];
		const aggs_bucket *b = bucket_of(r, i, &k);
		char from[48] = "*", to[48] = "*", key[2 * 48 + LIMIT_AGG_NAME_BYTES + 2];
		size_t flen = 1, tlen = 1;
		if (g->has_from)
			flen = dates ? date_string(s, (int64_t)g->from, s->tz_min, from)
			             : aggs_java_double(g->from, from);
		if (g->has_to)
			tlen = dates ? date_string(s, (int64_t)g->to, s->tz_min, to)
			             : aggs_java_double(g->to, to);
		if (g->key)
			snprintf(key, sizeof key, "%s", g->key);
		else
			snprintf(key, sizeof key, "%s-%s", from, to);
		list_next(c, &l, key, strlen(key));
		robj x;
		obj_open(c, &x, l.clash);
		if (!s->keyed) {
			obj_keys(c, &x, "key");
			wstr(j, key, strlen(key));
		}
		if (g->has_from) {
			obj_keys(c, &x, "from");
			wreal(j, g->from);
			if (dates) {
				obj_keys(c, &x, "from_as_string");
				wstr(j, from, flen);
			}
		}
		if (g->has_to) {
			obj_keys(c, &x, "to");
			wreal(j, g->to);
			if (dates) {
				obj_keys(c, &x, "to_as_string");
				wstr(j, to, tlen);
			}
		}
		bucket_end(c, s, b, b ? b->doc_count : 0, &x);
	}
	list_close(c, &l);
}

static void render_filters(rctx *c, const aggs_spec *s, const aggs_result *r)
{
	uint32_t n = s->nfilters + s->other_bucket;
	if (count_bucket(c, n))
		return;
	rlist l;
	w(&c->j, "{", 1);
	list_open(c, &l, s, s->fnames != NULL);
	uint32_t k = 0;
	for (uint32_t i = 0; i < n && !c->j.rc; i++) {
		const aggs_bucket *b = bucket_of(r, i, &k);
		const char *name = !s->fnames        ? NULL
		                   : i < s->nfilters ? s->fnames[i]
		                                     : s->other_key;
		list_next(c, &l, name, name ? strlen(name) : 0);
		robj x;
		obj_open(c, &x, l.clash);
		bucket_end(c, s, b, b ? b->doc_count : 0, &x);
	}
	list_close(c, &l);
}

static void render_single(rctx *c, const aggs_spec *s, const aggs_result *r)
{
	const aggs_bucket *b = r && r->nbuckets ? &r->buckets[0] : NULL;
	robj o;
	obj_open(c, &o, subs_clash(s));
	bucket_end(c, s, b, b ? b->doc_count : 0, &o);
}

/* Member k of o: v (null when it is not a number) and its k_as_string
 * (dates, booleans' min and max). */
static void metric_value(rctx *c, robj *o, const char *k, double v, int type, int boolean_ok)
{
	obj_keys(c, o, k);
	wnum(&c->j, v);
	if (!isfinite(v))
		return;
	char name[64], buf[48];
	snprintf(name, sizeof name, "%s_as_string", k);
	if (type == AGGS_V_DATE && fabs(v) <= 8.64e15) {
		obj_keys(c, o, name);
		wstr(&c->j, buf, aggs_date_format((int64_t)v, 0, buf));
	} else if (type == AGGS_V_BOOLEAN && boolean_ok) {
		obj_keys(c, o, name);
		ws(&c->j, v != 0 ? "\"true\"" : "\"false\"");
	}
}

static void render_metric(rctx *c, const aggs_spec *s, const aggs_result *r)
{
	robj o;
	int t = r ? r->type : AGGS_V_NONE;
	obj_open(c, &o, 0);
	switch (s->kind) {
	case AGGS_MIN:
	case AGGS_MAX:
		metric_value(c, &o, "value", metric_stat(s, r, AGGS_STAT_VALUE, 0, NULL), t, 1);
		break;
	case AGGS_SUM:
	case AGGS_AVG:
		metric_value(c, &o, "value", metric_stat(s, r, AGGS_STAT_VALUE, 0, NULL), t, 0);
		break;
	case AGGS_VALUE_COUNT:
		obj_keys(c, &o, "value");
		wi64(&c->j, r ? (int64_t)r->count : 0);
		break;
	case AGGS_CARDINALITY:
		obj_keys(c, &o, "value");
		wi64(&c->j, r ? (int64_t)r->nkeys : 0);
		break;
	case AGGS_STATS: {
		obj_keys(c, &o, "count");
		wi64(&c->j, r ? (int64_t)r->count : 0);
		static const char *const k[] = {"min", "max", "avg", "sum"};
		for (int i = 0; i < 4; i++)
			metric_value(c, &o, k[i], metric_stat(s, r, AGGS_STAT_MIN + i, 0, NULL), t,
			             i < 2);
		break;
	}
	case AGGS_PERCENTILES: {
		double *sorted = sorted_copy(r);
		if (r && r->nvals && !sorted) {
			c->j.rc = TRAWL_ENOMEM;
			break;
		}
		robj vals;
		obj_keys(c, &o, "values");
		if (s->keyed)
			obj_open(c, &vals, 1);
		else
			w(&c->j, "[", 1);
		for (uint32_t i = 0; i < s->npercents; i++) {
			char key[40];
			aggs_java_double(s->percents[i], key);
			double v = percentile(sorted, r && sorted ? r->nvals : 0, s->percents[i]);
			if (s->keyed) {
				metric_value(c, &vals, key, v, t, 0);
			} else {
				robj x;
				if (i)
					w(&c->j, ",", 1);
				obj_open(c, &x, 0);
				obj_keys(c, &x, "key");
				wreal(&c->j, s->percents[i]);
				metric_value(c, &x, "value", v, t, 0);
				obj_close(c, &x);
			}
		}
		if (s->keyed)
			obj_close(c, &vals);
		else
			w(&c->j, "]", 1);
		free(sorted);
		break;
	}
	default:
		break;
	}
	obj_close(c, &o);
}

static void render_node(rctx *c, const aggs_spec *s, const aggs_result *r)
{
	if (c->j.rc)
		return;
	switch (s->kind) {
	case AGGS_TERMS:
		render_terms(c, s, r);
		break;
	case AGGS_HISTOGRAM:
	case AGGS_DATE_HISTOGRAM:
		render_histogram(c, s, r);
		break;
	case AGGS_RANGE:
	case AGGS_DATE_RANGE:
		render_range(c, s, r);
		break;
	case AGGS_FILTERS:
		render_filters(c, s, r);
		break;
	case AGGS_FILTER:
	case AGGS_MISSING:
		render_single(c, s, r);
		break;
	default:
		render_metric(c, s, r);
	}
}

int aggs_render(const aggs_spec *spec, const aggs_result *r, char **out, size_t *len, char *err,
                size_t errlen)
{
	*out = NULL;
	*len = 0;
	rctx c = {err, errlen, 0, {{0}, TRAWL_OK}};
	/* the answer is bounded by LIMIT_AGG_BUCKETS and LIMIT_AGG_VALUES, not
	 * by a count of bytes (nor was it as a tree) */
	tbuf_init(&c.j.b, SIZE_MAX);
	const aggs_bucket *b = r && r->nbuckets ? &r->buckets[0] : NULL;
	robj o;
	obj_open(&c, &o, subs_clash(spec));
	render_subs(&c, spec, b, &o);
	obj_close(&c, &o);
	if (!c.j.rc && !tbuf_cstr(&c.j.b))
		c.j.rc = TRAWL_ENOMEM;
	if (c.j.rc) {
		tbuf_fini(&c.j.b);
		if (c.j.rc == TRAWL_ENOMEM)
			errf(err, errlen, c.j.rc, "aggs: out of memory rendering the aggregations");
		return c.j.rc;
	}
	*out = (char *)c.j.b.data;
	*len = c.j.b.len;
	return TRAWL_OK;
}
