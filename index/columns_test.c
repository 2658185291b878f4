/*
 * columns_test.c - doc values, points and keyword dictionaries
 * (columns.c): random documents written and read back against the values
 * they came from, ranges against a scan, the order of double keys, and
 * damaged bytes refused by idx_col_open.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "index/columns.h"

static uint64_t rs = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return rs;
}

/* A schema of three typed fields: keyword, long, double. */
static void schema3(idx_schema *s)
{
	memset(s, 0, sizeof *s);
	s->ntyped = 3;
	int types[3] = {IDX_KEYWORD, IDX_LONG, IDX_DOUBLE};
	for (int t = 0; t < 3; t++) {
		snprintf(s->typed[t].name, sizeof s->typed[t].name, "f%d", t);
		s->typed[t].type = types[t];
		s->typed[t].twin_of = -1;
		s->typed[t].index = 1;
		s->typed[t].doc_values = 1;
	}
}

static const char *const WORDS[] = {"", "a", "ab", "abc", "b", "zz", "\xc3\xa9t\xc3\xa9", "a b"};
#define NWORDS (sizeof WORDS / sizeof *WORDS)

static void put32(tbuf *b, uint32_t v)
{
	assert_int_equal(tbuf_append(b, &v, 4), TRAWL_OK);
}

static void put64(tbuf *b, int64_t v)
{
	assert_int_equal(tbuf_append(b, &v, 8), TRAWL_OK);
}

/* ndocs random documents into blob/off; the truth in kw/lv/dv. */
typedef struct docs {
	uint32_t n;
	tbuf blob;
	uint64_t *off;
	uint32_t nkw[64], kw[64][8]; /* word indexes */
	uint32_t nl[64];
	int64_t l[64][8];
	uint32_t nd[64];
	double d[64][8];
} docs;

static void make_docs(docs *D, uint32_t n)
{
	memset(D, 0, sizeof *D);
	D->n = n;
	tbuf_init(&D->blob, 1 << 20);
	D->off = calloc(n + 1, sizeof *D->off);
	for (uint32_t i = 0; i < n; i++) {
		D->nkw[i] = (uint32_t)(rnd() % 4);
		put32(&D->blob, D->nkw[i]);
		for (uint32_t j = 0; j < D->nkw[i]; j++) {
			D->kw[i][j] = (uint32_t)(rnd() % NWORDS);
			const char *w = WORDS[D->kw[i][j]];
			put32(&D->blob, (uint32_t)strlen(w));
			assert_int_equal(tbuf_append(&D->blob, w, strlen(w)), TRAWL_OK);
		}
		D->nl[i] = (uint32_t)(rnd() % 3);
		put32(&D->blob, D->nl[i]);
		for (uint32_t j = 0; j < D->nl[i]; j++) {
			int64_t v = (int64_t)(rnd() % 21) - 10;
			if (rnd() % 10 == 0)
				v = rnd() % 2 ? INT64_MAX : INT64_MIN;
			D->l[i][j] = v;
			put64(&D->blob, v);
		}
		D->nd[i] = (uint32_t)(rnd() % 3);
		put32(&D->blob, D->nd[i]);
		for (uint32_t j = 0; j < D->nd[i]; j++) {
			static const double pick[] = {-1e300, -2.5, -0.0, 0.0, 1e-300, 2.5, 1e300};
			D->d[i][j] = pick[rnd() % 7];
			put64(&D->blob, 0);
			memcpy(D->blob.data + D->blob.len - 8, &D->d[i][j], 8);
		}
		D->off[i + 1] = D->blob.len;
	}
}

static void free_docs(docs *D)
{
	tbuf_fini(&D->blob);
	free(D->off);
}

static void test_double_keys_keep_order(void **state)
{
	const double v[] = {-1e308, -3.5, -1e-310, -0.0, 0.0, 1e-310, 2.0, 3.5, 1e308};
	for (size_t i = 0; i + 1 < sizeof v / sizeof *v; i++)
		assert_true(idx_double_key(v[i]) < idx_double_key(v[i + 1]));
	for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
		double back = idx_key_double(idx_double_key(v[i]));
		assert_memory_equal(&back, &v[i], 8);
	}
	/* consecutive keys are neighbouring doubles: an exclusive bound is key + 1 */
	assert_true(idx_key_double(idx_double_key(2.0) + 1) == nextafter(2.0, 3.0));
}

static void test_columns_read_back(void **state)
{
	idx_schema s;
	schema3(&s);
	for (int round = 0; round < 20; round++) {
		docs D;
		uint32_t n = 1 + (uint32_t)(rnd() % 64);
		make_docs(&D, n);
		/* the dictionary: every keyword value of the documents */
		idx_kwslice sl[64 * 8];
		uint32_t k = 0;
		for (uint32_t i = 0; i < n; i++)
			for (uint32_t j = 0; j < D.nkw[i]; j++)
				sl[k++] = (idx_kwslice){(const uint8_t *)WORDS[D.kw[i][j]],
				                        (uint32_t)strlen(WORDS[D.kw[i][j]])};
		k = idx_kwslices_sort(sl, k);
		tbuf dict, dv[3], pts[3];
		tbuf_init(&dict, 1 << 20);
		assert_int_equal(idx_kwdict_write(sl, k, &dict), TRAWL_OK);
		idx_kwdict kd;
		assert_int_equal(idx_kwdict_open(&kd, dict.data, dict.len), TRAWL_OK);
		assert_int_equal(kd.n, k);
		for (uint32_t w = 0; w < NWORDS; w++) {
			int64_t o = idx_kwdict_find(&kd, (const uint8_t *)WORDS[w],
			                            (uint32_t)strlen(WORDS[w]));
			int there = 0;
			for (uint32_t i = 0; i < k; i++)
				if (sl[i].len == strlen(WORDS[w]) &&
				    !memcmp(sl[i].p, WORDS[w], sl[i].len)) {
					there = 1;
					assert_int_equal(o, i);
				}
			if (!there)
				assert_true(o < 0);
		}
		for (uint32_t t = 0; t < 3; t++) {
			tbuf_init(&dv[t], 1 << 20);
			tbuf_init(&pts[t], 1 << 20);
			assert_int_equal(idx_columns_write(&s, t, n, D.blob.data, D.off, &kd,
			                                   &dv[t], t ? &pts[t] : NULL),
			                 TRAWL_OK);
			idx_col c;
			char err[160];
			assert_int_equal(idx_col_open(&c, s.typed[t].type, n, dv[t].data, dv[t].len,
			                              t ? pts[t].data : NULL, pts[t].len,
			                              t == 0 ? dict.data : NULL, dict.len, err,
			                              sizeof err),
			                 TRAWL_OK);
			for (uint32_t d = 0; d < n; d++) {
				uint32_t from, to;
				idx_col_range(&c, d, &from, &to);
				if (t == 0) {
					/* the document's distinct words, ascending */
					uint32_t want = 0;
					for (uint32_t o = 0; o < kd.n; o++) {
						uint32_t l;
						const uint8_t *v = idx_kwdict_value(&kd, o, &l);
						int has = 0;
						for (uint32_t j = 0; j < D.nkw[d]; j++)
							has |= strlen(WORDS[D.kw[d][j]]) == l &&
							       !memcmp(WORDS[D.kw[d][j]], v, l);
						if (has) {
							assert_true(from + want < to);
							assert_int_equal(
							    idx_col_key(&c, from + want), o);
							want++;
						}
					}
					assert_int_equal(to - from, want);
				} else {
					uint32_t cnt = t == 1 ? D.nl[d] : D.nd[d];
					assert_int_equal(to - from, cnt);
					int64_t want[8];
					for (uint32_t j = 0; j < cnt; j++)
						want[j] =
						    t == 1 ? D.l[d][j] : idx_double_key(D.d[d][j]);
					for (uint32_t j = 1; j < cnt; j++) /* insertion sort */
						for (uint32_t m = j; m > 0 && want[m] < want[m - 1];
						     m--) {
							int64_t x = want[m];
							want[m] = want[m - 1];
							want[m - 1] = x;
						}
					for (uint32_t j = 0; j < cnt; j++)
						assert_true(idx_col_key(&c, from + j) == want[j]);
				}
			}
			/* ranges from the points equal a scan of the documents */
			for (int q = 0; t && q < 30; q++) {
				int64_t lo = (int64_t)(rnd() % 25) - 12,
				        hi = lo + (int64_t)(rnd() % 10);
				if (t == 2) {
					lo = idx_double_key((double)lo);
					hi = idx_double_key((double)hi);
				}
				if (q == 0)
					lo = INT64_MIN, hi = INT64_MAX;
				uint32_t from, to, want = 0;
				idx_col_points(&c, lo, hi, &from, &to);
				for (uint32_t d = 0; d < n; d++)
					for (uint32_t j = 0; j < (t == 1 ? D.nl[d] : D.nd[d]);
					     j++) {
						int64_t key =
						    t == 1 ? D.l[d][j] : idx_double_key(D.d[d][j]);
						want += key >= lo && key <= hi;
					}
				assert_int_equal(to - from, want);
			}
			tbuf_fini(&dv[t]);
			tbuf_fini(&pts[t]);
		}
		tbuf_fini(&dict);
		free_docs(&D);
	}
}

static void test_damage_is_refused(void **state)
{
	idx_schema s;
	schema3(&s);
	docs D;
	make_docs(&D, 40);
	tbuf dv, pts;
	tbuf_init(&dv, 1 << 20);
	tbuf_init(&pts, 1 << 20);
	assert_int_equal(idx_columns_write(&s, 1, 40, D.blob.data, D.off, NULL, &dv, &pts),
	                 TRAWL_OK);
	char err[160];
	idx_col c;
	/* every single byte changed in the header and the starts, and a byte
	 * more or less, is refused or still consistent (never read out of range) */
	for (size_t i = 0; i < dv.len; i++) {
		dv.data[i] ^= 0x80;
		int rc = idx_col_open(&c, IDX_LONG, 40, dv.data, dv.len, NULL, 0, NULL, 0, err,
		                      sizeof err);
		if (i < 8 + 41 * 4)
			assert_int_equal(rc, TRAWL_ECORRUPT);
		dv.data[i] ^= 0x80;
	}
	assert_int_equal(
	    idx_col_open(&c, IDX_LONG, 40, dv.data, dv.len - 1, NULL, 0, NULL, 0, err, sizeof err),
	    TRAWL_ECORRUPT);
	assert_int_equal(
	    idx_col_open(&c, IDX_LONG, 41, dv.data, dv.len, NULL, 0, NULL, 0, err, sizeof err),
	    TRAWL_ECORRUPT);
	/* points: a document out of range, keys out of order */
	uint32_t np;
	memcpy(&np, pts.data, 4);
	if (np >= 2) {
		uint32_t bad = 40;
		memcpy(pts.data + 4 + (size_t)np * 8, &bad, 4);
		assert_int_equal(idx_col_open(&c, IDX_LONG, 40, NULL, 0, pts.data, pts.len, NULL, 0,
		                              err, sizeof err),
		                 TRAWL_ECORRUPT);
	}
	/* a keyword dictionary out of order */
	idx_kwslice sl[2] = {{(const uint8_t *)"b", 1}, {(const uint8_t *)"a", 1}};
	tbuf dict;
	tbuf_init(&dict, 1 << 10);
	assert_int_equal(idx_kwdict_write(sl, 2, &dict), TRAWL_OK);
	idx_kwdict kd;
	assert_int_equal(idx_kwdict_open(&kd, dict.data, dict.len), TRAWL_ECORRUPT);
	tbuf_fini(&dict);
	tbuf_fini(&dv);
	tbuf_fini(&pts);
	free_docs(&D);
}

static void test_values_split_refuses_bad_records(void **state)
{
	idx_schema s;
	schema3(&s);
	idx_tvals v;
	tbuf b;
	tbuf_init(&b, 1 << 12);
	put32(&b, 1);
	put32(&b, 2);
	tbuf_append(&b, "ab", 2);
	put32(&b, 0);
	put32(&b, 0);
	assert_int_equal(idx_tvals_split(&s, b.data, b.len, &v), TRAWL_OK);
	assert_int_equal(idx_tvals_split(&s, b.data, b.len - 1, &v), TRAWL_ECORRUPT);
	assert_int_equal(idx_tvals_split(&s, b.data, 0, &v), TRAWL_OK); /* no values */
	put32(&b, 0);
	assert_int_equal(idx_tvals_split(&s, b.data, b.len, &v), TRAWL_ECORRUPT); /* left over */
	tbuf_reset(&b);
	put32(&b, 0);
	put32(&b, 0);
	put32(&b, 1);
	double inf = __builtin_inf();
	tbuf_append(&b, &inf, 8);
	assert_int_equal(idx_tvals_split(&s, b.data, b.len, &v), TRAWL_ECORRUPT); /* not finite */
	tbuf_reset(&b);
	put32(&b, LIMIT_FIELD_VALUES + 1);
	assert_int_equal(idx_tvals_split(&s, b.data, b.len, &v), TRAWL_ECORRUPT);
	tbuf_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_double_keys_keep_order),
	    cmocka_unit_test(test_columns_read_back),
	    cmocka_unit_test(test_damage_is_refused),
	    cmocka_unit_test(test_values_split_refuses_bad_records),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
