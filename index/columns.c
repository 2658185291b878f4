/*
 * columns.c - typed fields' doc values, points and keyword dictionaries:
 * written by the build, checked and read by searchers (see columns.h; the
 * bytes are in docs/FORMAT.md, 6.9-6.11).
 */
#include "columns.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/error.h"

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static int64_t rd64(const uint8_t *p)
{
	int64_t v;
	memcpy(&v, p, 8);
	return v;
}

/* ---- a document's values ---- */

int idx_tvals_split(const idx_schema *s, const uint8_t *b, size_t len, idx_tvals *out)
{
	const uint8_t *p = b, *end = len ? b + len : b; /* b may be NULL when len is 0 */
	for (uint32_t t = 0; t < s->ntyped; t++) {
		out->count[t] = 0;
		out->at[t] = p;
		if (len == 0)
			continue;
		if (end - p < 4)
			return TRAWL_ECORRUPT;
		uint32_t n = rd32(p);
		p += 4;
		if (n > LIMIT_FIELD_VALUES)
			return TRAWL_ECORRUPT;
		out->at[t] = p;
		out->count[t] = n;
		int type = s->typed[t].type;
		for (uint32_t i = 0; i < n; i++) {
			if (type == IDX_KEYWORD) {
				if (end - p < 4)
					return TRAWL_ECORRUPT;
				uint32_t l = rd32(p);
				if (l > LIMIT_KEYWORD_BYTES || (size_t)(end - p - 4) < l)
					return TRAWL_ECORRUPT;
				p += 4 + l;
				continue;
			}
			if (end - p < 8)
				return TRAWL_ECORRUPT;
			int64_t v = rd64(p);
			p += 8;
			if (type == IDX_BOOLEAN && v != 0 && v != 1)
				return TRAWL_ECORRUPT;
			if (type == IDX_DOUBLE) {
				double d;
				memcpy(&d, &v, 8);
				if (!isfinite(d))
					return TRAWL_ECORRUPT;
			}
		}
	}
	return p == end ? TRAWL_OK : TRAWL_ECORRUPT;
}

const uint8_t *idx_tvals_keyword(const idx_tvals *v, uint32_t t, uint32_t i, uint32_t *len)
{
	const uint8_t *p = v->at[t];
	for (;; i--) {
		uint32_t l = rd32(p);
		if (i == 0) {
			*len = l;
			return p + 4;
		}
		p += 4 + l;
	}
}

int64_t idx_tvals_key(const idx_tvals *v, uint32_t t, int type, uint32_t i)
{
	int64_t k = rd64(v->at[t] + (size_t)i * 8);
	if (type == IDX_DOUBLE) {
		double d;
		memcpy(&d, &k, 8);
		return idx_double_key(d);
	}
	return k;
}

/* ---- keyword dictionaries ---- */

static int slice_cmp(const uint8_t *a, uint32_t al, const uint8_t *b, uint32_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	return c ? c : (al > bl) - (al < bl);
}

static int cmp_slice(const void *x, const void *y)
{
	const idx_kwslice *a = x, *b = y;
	return slice_cmp(a->p, a->len, b->p, b->len);
}

uint32_t idx_kwslices_sort(idx_kwslice *v, uint32_t n)
{
	if (n < 2)
		return n;
	qsort(v, n, sizeof *v, cmp_slice);
	uint32_t k = 1;
	for (uint32_t i = 1; i < n; i++)
		if (cmp_slice(&v[k - 1], &v[i]))
			v[k++] = v[i];
	return k;
}

int idx_kwdict_write(const idx_kwslice *v, uint32_t n, tbuf *out)
{
	uint64_t bytes = 0;
	for (uint32_t i = 0; i < n; i++)
		bytes += v[i].len;
	if (bytes > UINT32_MAX)
		return TRAWL_ELIMIT;
	int rc = tbuf_append(out, &n, 4);
	uint32_t off = 0;
	for (uint32_t i = 0; i <= n && !rc; i++) {
		rc = tbuf_append(out, &off, 4);
		if (i < n)
			off += v[i].len;
	}
	for (uint32_t i = 0; i < n && !rc; i++)
		rc = tbuf_append(out, v[i].p, v[i].len);
	return rc;
}

int idx_kwdict_open(idx_kwdict *d, const void *p, size_t len)
{
	const uint8_t *b = p;
	memset(d, 0, sizeof *d);
	if (len < 8)
		return TRAWL_ECORRUPT;
	uint32_t n = rd32(b);
	if ((uint64_t)n + 1 > (len - 4) / 4)
		return TRAWL_ECORRUPT;
	d->n = n;
	d->off = b + 4;
	d->bytes = b + 4 + ((size_t)n + 1) * 4;
	d->bytes_len = len - 4 - ((size_t)n + 1) * 4;
	if (rd32(d->off) != 0 || rd32(d->off + (size_t)n * 4) != d->bytes_len)
		return TRAWL_ECORRUPT;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t a = rd32(d->off + (size_t)i * 4), z = rd32(d->off + (size_t)i * 4 + 4);
		if (z < a || z - a > LIMIT_KEYWORD_BYTES)
			return TRAWL_ECORRUPT;
		if (i > 0) {
			uint32_t pa = rd32(d->off + (size_t)i * 4 - 4);
			if (slice_cmp(d->bytes + pa, a - pa, d->bytes + a, z - a) >= 0)
				return TRAWL_ECORRUPT;
		}
	}
	return TRAWL_OK;
}

int64_t idx_kwdict_find(const idx_kwdict *d, const uint8_t *value, uint32_t len)
{
	uint32_t lo = 0, hi = d->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2, ml;
		const uint8_t *m = idx_kwdict_value(d, mid, &ml);
		int c = slice_cmp(m, ml, value, len);
		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1 - (int64_t)lo;
}

/* ---- writing a field's column and points ---- */

static int cmp_i64(const void *x, const void *y)
{
	int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
	return (a > b) - (a < b);
}

static int cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	return (a > b) - (a < b);
}

typedef struct point {
	int64_t key;
	uint32_t doc;
} point;

static int cmp_point(const void *x, const void *y)
{
	const point *a = x, *b = y;
	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	return (a->doc > b->doc) - (a->doc < b->doc);
}

int idx_columns_write(const idx_schema *s, uint32_t t, uint32_t ndocs, const uint8_t *blob,
                      const uint64_t *off, const idx_kwdict *dict, tbuf *dv, tbuf *pts)
{
	int type = s->typed[t].type;
	uint64_t total = 0;
	idx_tvals v;
	for (uint32_t d = 0; d < ndocs; d++) {
		if (idx_tvals_split(s, blob + off[d], off[d + 1] - off[d], &v))
			return TRAWL_ECORRUPT;
		total += v.count[t];
	}
	if (total > UINT32_MAX)
		return TRAWL_ELIMIT;
	int rc = TRAWL_OK;
	int64_t keys[LIMIT_FIELD_VALUES];
	uint32_t ords[LIMIT_FIELD_VALUES];
	if (dv) {
		/* the header and the starts, then the values; a keyword's
		 * repeats are dropped (a set), a number's kept (a list) */
		size_t head = dv->len;
		uint32_t zero = 0;
		if ((rc = tbuf_append(dv, &ndocs, 4)) || (rc = tbuf_append(dv, &zero, 4)) ||
		    (rc = tbuf_reserve(dv, ((size_t)ndocs + 1) * 4)))
			return rc;
		size_t starts = dv->len;
		dv->len += ((size_t)ndocs + 1) * 4;
		uint32_t at = 0;
		for (uint32_t d = 0; d < ndocs && !rc; d++) {
			memcpy(dv->data + starts + (size_t)d * 4, &at, 4);
			(void)idx_tvals_split(s, blob + off[d], off[d + 1] - off[d], &v);
			uint32_t n = v.count[t];
			if (type == IDX_KEYWORD) {
				const uint8_t *p = v.at[t];
				for (uint32_t i = 0; i < n; i++) {
					uint32_t l = rd32(p);
					int64_t o = idx_kwdict_find(dict, p + 4, l);
					if (o < 0)
						return TRAWL_ECORRUPT;
					ords[i] = (uint32_t)o;
					p += 4 + l;
				}
				qsort(ords, n, 4, cmp_u32);
				uint32_t k = 0;
				for (uint32_t i = 0; i < n; i++)
					if (k == 0 || ords[k - 1] != ords[i])
						ords[k++] = ords[i];
				rc = tbuf_append(dv, ords, (size_t)k * 4);
				at += k;
			} else {
				for (uint32_t i = 0; i < n; i++)
					keys[i] = idx_tvals_key(&v, t, type, i);
				qsort(keys, n, 8, cmp_i64);
				rc = tbuf_append(dv, keys, (size_t)n * 8);
				at += n;
			}
		}
		if (rc)
			return rc;
		memcpy(dv->data + starts + (size_t)ndocs * 4, &at, 4);
		memcpy(dv->data + head + 4, &at, 4);
	}
	if (pts && type != IDX_KEYWORD) {
		point *pv = malloc((total ? total : 1) * sizeof *pv);
		if (!pv)
			return TRAWL_ENOMEM;
		uint32_t n = 0;
		for (uint32_t d = 0; d < ndocs; d++) {
			(void)idx_tvals_split(s, blob + off[d], off[d + 1] - off[d], &v);
			for (uint32_t i = 0; i < v.count[t]; i++)
				pv[n++] = (point){idx_tvals_key(&v, t, type, i), d};
		}
		qsort(pv, n, sizeof *pv, cmp_point);
		rc = tbuf_append(pts, &n, 4);
		if (!rc)
			rc = tbuf_reserve(pts, (size_t)n * 12);
		if (!rc) {
			for (uint32_t i = 0; i < n; i++)
				memcpy(pts->data + pts->len + (size_t)i * 8, &pv[i].key, 8);
			pts->len += (size_t)n * 8;
			for (uint32_t i = 0; i < n; i++)
				memcpy(pts->data + pts->len + (size_t)i * 4, &pv[i].doc, 4);
			pts->len += (size_t)n * 4;
		}
		free(pv);
	}
	return rc;
}

/* ---- reading ---- */

int idx_col_open(idx_col *c, int type, uint32_t ndocs, const void *dv, size_t dvlen,
                 const void *pts, size_t ptslen, const void *dict, size_t dictlen, char *err,
                 size_t errlen)
{
	memset(c, 0, sizeof *c);
	c->type = type;
	c->ndocs = ndocs;
	size_t w = type == IDX_KEYWORD ? 4 : 8;
	if (dict) {
		if (idx_kwdict_open(&c->dict, dict, dictlen))
			return errf(err, errlen, TRAWL_ECORRUPT, "keyword dictionary damaged");
		c->has_dict = 1;
	}
	if (dv) {
		const uint8_t *b = dv;
		if (dvlen < 8 || rd32(b) != ndocs)
			return errf(err, errlen, TRAWL_ECORRUPT, "doc values: bad header");
		c->nvals = rd32(b + 4);
		if (((uint64_t)ndocs + 1) * 4 + (uint64_t)c->nvals * w + 8 != dvlen)
			return errf(err, errlen, TRAWL_ECORRUPT,
			            "doc values: %zu bytes, not what "
			            "%u documents and %u values take",
			            dvlen, ndocs, c->nvals);
		if (type == IDX_KEYWORD && !dict)
			return errf(err, errlen, TRAWL_ECORRUPT,
			            "keyword doc values without "
			            "their dictionary");
		c->start = b + 8;
		c->vals = c->start + ((size_t)ndocs + 1) * 4;
		c->has_dv = 1;
		uint32_t prev = 0;
		if (rd32(c->start) != 0 || rd32(c->start + (size_t)ndocs * 4) != c->nvals)
			return errf(err, errlen, TRAWL_ECORRUPT, "doc values: bad starts");
		for (uint32_t d = 0; d < ndocs; d++) {
			uint32_t a = rd32(c->start + (size_t)d * 4),
			         z = rd32(c->start + (size_t)d * 4 + 4);
			if (z < a || z - a > LIMIT_FIELD_VALUES || a < prev)
				return errf(err, errlen, TRAWL_ECORRUPT,
				            "doc values: bad start of "
				            "document %u",
				            d);
			prev = a;
			for (uint32_t i = a; i < z; i++) {
				int64_t k = idx_col_key(c, i);
				if (i > a && (type == IDX_KEYWORD ? k <= idx_col_key(c, i - 1)
				                                  : k < idx_col_key(c, i - 1)))
					return errf(err, errlen, TRAWL_ECORRUPT,
					            "doc values of "
					            "document %u out of order",
					            d);
				if ((type == IDX_KEYWORD && k >= c->dict.n) ||
				    (type == IDX_BOOLEAN && k != 0 && k != 1))
					return errf(err, errlen, TRAWL_ECORRUPT,
					            "doc value of "
					            "document %u out of range",
					            d);
			}
		}
	}
	if (pts) {
		const uint8_t *b = pts;
		if (type == IDX_KEYWORD || ptslen < 4)
			return errf(err, errlen, TRAWL_ECORRUPT, "points: bad header");
		c->npts = rd32(b);
		if ((uint64_t)c->npts * 12 + 4 != ptslen)
			return errf(err, errlen, TRAWL_ECORRUPT,
			            "points: %zu bytes, not what %u "
			            "points take",
			            ptslen, c->npts);
		c->pkeys = b + 4;
		c->pdocs = b + 4 + (size_t)c->npts * 8;
		c->has_pts = 1;
		for (uint32_t i = 0; i < c->npts; i++) {
			int64_t k = rd64(c->pkeys + (size_t)i * 8);
			uint32_t d = idx_col_point_doc(c, i);
			if (d >= ndocs)
				return errf(err, errlen, TRAWL_ECORRUPT,
				            "point %u: document out of "
				            "range",
				            i);
			if (i > 0) {
				int64_t pk = rd64(c->pkeys + (size_t)i * 8 - 8);
				if (pk > k || (pk == k && idx_col_point_doc(c, i - 1) > d))
					return errf(err, errlen, TRAWL_ECORRUPT,
					            "points out of order "
					            "at %u",
					            i);
			}
		}
	}
	return TRAWL_OK;
}

void idx_col_points(const idx_col *c, int64_t lo, int64_t hi, uint32_t *from, uint32_t *to)
{
	uint32_t a = 0, z = c->npts;
	while (a < z) { /* first key >= lo */
		uint32_t m = a + (z - a) / 2;
		if (rd64(c->pkeys + (size_t)m * 8) < lo)
			a = m + 1;
		else
			z = m;
	}
	*from = a;
	z = c->npts;
	while (a < z) { /* first key > hi */
		uint32_t m = a + (z - a) / 2;
		if (rd64(c->pkeys + (size_t)m * 8) <= hi)
			a = m + 1;
		else
			z = m;
	}
	*to = lo > hi ? *from : a;
}
