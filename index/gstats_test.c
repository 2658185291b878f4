/*
 * gstats_test.c - a generation's global statistics in two layers
 * (gstats.c) against a recount: documents with random keys are added and
 * deleted in batches; after each batch the delta written from the
 * previous statistics and the batch's changes gives every key's frequency,
 * the document count and the field totals a recount of the live documents
 * gives, and holds exactly the keys whose frequency differs from the
 * base's; rebases fold it in. Bad changes and mismatched files are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/limits.h"
#include "index/gstats.h"
#include "index/testdir.h"
#include "trawl/trawl.h"

static char g_err[LIMIT_ERRMSG_BYTES];

#define NKEYS 600 /* the vocabulary */
#define MAXDOCS 4000
#define PER_DOC 6
#define NF 2

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(uint32_t n)
{
	g_rng ^= g_rng << 13;
	g_rng ^= g_rng >> 7;
	g_rng ^= g_rng << 17;
	return (uint32_t)(g_rng % n);
}

/* The vocabulary, sorted: key i is a field byte and a few letters. */
static uint8_t g_key[NKEYS][8];
static uint32_t g_klen[NKEYS];

static int cmp_key(const void *a, const void *b)
{
	const uint8_t *x = a, *y = b;
	uint32_t xl = x[7], yl = y[7];
	int c = memcmp(x, y, xl < yl ? xl : yl);
	return c ? c : (int)xl - (int)yl;
}

static void make_vocabulary(void)
{
	uint8_t tmp[NKEYS][8];
	for (int i = 0; i < NKEYS; i++) {
		for (;;) {
			uint32_t len = 2 + rnd(5);
			tmp[i][0] = (uint8_t)rnd(NF);
			for (uint32_t k = 1; k < len; k++)
				tmp[i][k] = (uint8_t)('a' + rnd(4));
			tmp[i][7] = (uint8_t)len;
			int dup = 0;
			for (int j = 0; j < i && !dup; j++)
				dup = !cmp_key(tmp[i], tmp[j]);
			if (!dup)
				break;
		}
	}
	qsort(tmp, NKEYS, 8, cmp_key);
	for (int i = 0; i < NKEYS; i++) {
		memcpy(g_key[i], tmp[i], 7);
		g_klen[i] = tmp[i][7];
	}
}

/* The documents: their keys (indexes into the vocabulary, distinct) and
 * field lengths; live or deleted. */
typedef struct doc {
	int live;
	uint16_t k[PER_DOC];
	uint32_t nk;
	uint32_t len[NF];
} doc;

static doc g_docs[MAXDOCS];
static uint32_t g_ndocs;

static void truth(uint64_t *df, uint64_t *docs, uint64_t *sumlen)
{
	memset(df, 0, NKEYS * sizeof *df);
	*docs = 0;
	memset(sumlen, 0, NF * sizeof *sumlen);
	for (uint32_t d = 0; d < g_ndocs; d++) {
		if (!g_docs[d].live)
			continue;
		++*docs;
		for (uint32_t i = 0; i < g_docs[d].nk; i++)
			df[g_docs[d].k[i]]++;
		for (int f = 0; f < NF; f++)
			sumlen[f] += g_docs[d].len[f];
	}
}

/* a batch's change of a document: its keys and lengths counted with sign */
static void count(const doc *d, int sign, int64_t *change, int64_t *docs, int64_t *sumlen)
{
	for (uint32_t i = 0; i < d->nk; i++)
		change[d->k[i]] += sign;
	*docs += sign;
	for (int f = 0; f < NF; f++)
		sumlen[f] += sign * (int64_t)d->len[f];
}

static void add_doc(int64_t *change, int64_t *docs, int64_t *sumlen)
{
	doc *d = &g_docs[g_ndocs++];
	d->live = 1;
	d->nk = 1 + rnd(PER_DOC);
	for (uint32_t i = 0; i < d->nk; i++) {
		int dup;
		do {
			/* a skewed vocabulary: low keys are common */
			uint32_t r = rnd(NKEYS);
			d->k[i] = (uint16_t)(rnd(2) ? r : r / 8);
			dup = 0;
			for (uint32_t j = 0; j < i; j++)
				dup |= d->k[j] == d->k[i];
		} while (dup);
	}
	for (int f = 0; f < NF; f++)
		d->len[f] = rnd(50);
	count(d, 1, change, docs, sumlen);
}

typedef struct base_iter {
	const uint64_t *df;
	int i;
} base_iter;

static int next_key(void *ctx, const uint8_t **key, uint32_t *klen, uint64_t *df)
{
	base_iter *b = ctx;
	if (b->i == NKEYS)
		return 0;
	*key = g_key[b->i];
	*klen = g_klen[b->i];
	*df = b->df[b->i++];
	return 1;
}

static void check(const idx_gstats *g, const uint64_t *base_df)
{
	uint64_t df[NKEYS], docs, sumlen[NF];
	truth(df, &docs, sumlen);
	assert_int_equal(idx_gstats_docs(g), docs);
	for (int f = 0; f < NF; f++)
		assert_int_equal(idx_gstats_sumlen(g, (uint32_t)f), sumlen[f]);
	uint64_t differ = 0;
	for (int i = 0; i < NKEYS; i++) {
		uint64_t got;
		assert_int_equal(idx_gstats_df(g, g_key[i], g_klen[i], &got), TRAWL_OK);
		if (got != df[i])
			fail_msg("key %d: %llu documents, the recount says %llu", i,
			         (unsigned long long)got, (unsigned long long)df[i]);
		differ += df[i] != base_df[i];
	}
	/* the delta holds exactly the keys that moved away from the base */
	assert_int_equal(idx_gstats_delta_keys(g), differ);
	uint64_t absent;
	assert_int_equal(idx_gstats_df(g, (const uint8_t *)"\x01zzzzzzz", 8, &absent), TRAWL_OK);
	assert_int_equal(absent, 0);
}

static void test_batches_equal_a_recount(void **state)
{
	(void)state;
	make_vocabulary();
	g_ndocs = 0;
	int64_t change[NKEYS] = {0}, dd = 0, ds[NF] = {0};
	for (int i = 0; i < 500; i++)
		add_doc(change, &dd, ds);
	uint64_t base_df[NKEYS], docs, sumlen[NF];
	truth(base_df, &docs, sumlen);
	char base[160], next[160], delta[160];
	snprintf(base, sizeof base, "%s/base-0.mdb", g_dir);
	base_iter it = {base_df, 0};
	assert_int_equal(
	    idx_gstats_write_base(base, docs, sumlen, NF, next_key, &it, g_err, sizeof g_err),
	    TRAWL_OK);
	idx_gstats *g;
	assert_int_equal(idx_gstats_open(&g, base, NULL, NF, g_err, sizeof g_err), TRAWL_OK);
	check(g, base_df);
	int grew = 0;
	for (int batch = 1; batch <= 40; batch++) {
		memset(change, 0, sizeof change);
		dd = 0;
		memset(ds, 0, sizeof ds);
		uint32_t adds = rnd(60), dels = rnd(40);
		for (uint32_t i = 0; i < adds && g_ndocs < MAXDOCS; i++)
			add_doc(change, &dd, ds);
		for (uint32_t i = 0; i < dels; i++) {
			doc *d = &g_docs[rnd(g_ndocs)];
			if (d->live) {
				d->live = 0;
				count(d, -1, change, &dd, ds);
			}
		}
		idx_gchange ch[NKEYS];
		size_t n = 0;
		for (int k = 0; k < NKEYS; k++)
			if (change[k] || rnd(10) == 0) /* zero changes are allowed too */
				ch[n++] = (idx_gchange){g_key[k], g_klen[k], change[k]};
		snprintf(delta, sizeof delta, "%s/delta-%d.mdb", g_dir, batch);
		assert_int_equal(
		    idx_gstats_write_delta(delta, g, dd, ds, ch, n, g_err, sizeof g_err), TRAWL_OK);
		idx_gstats_close(g);
		assert_int_equal(idx_gstats_open(&g, base, delta, NF, g_err, sizeof g_err),
		                 TRAWL_OK);
		check(g, base_df);
		grew |= idx_gstats_delta_keys(g) > 0;
		if (batch % 8 == 0) { /* fold the delta into a new base */
			snprintf(next, sizeof next, "%s/base-%d.mdb", g_dir, batch);
			assert_int_equal(idx_gstats_rebase(next, g, g_err, sizeof g_err), TRAWL_OK);
			idx_gstats_close(g);
			memcpy(base, next, sizeof base);
			assert_int_equal(idx_gstats_open(&g, base, NULL, NF, g_err, sizeof g_err),
			                 TRAWL_OK);
			truth(base_df, &docs, sumlen);
			check(g, base_df);
			uint64_t nonzero = 0;
			for (int k = 0; k < NKEYS; k++)
				nonzero += base_df[k] != 0;
			assert_int_equal(idx_gstats_base_keys(g), nonzero); /* zeros left out */
		}
	}
	assert_true(grew);
	idx_gstats_close(g);
}

static void test_bad_changes_and_files_refused(void **state)
{
	(void)state;
	make_vocabulary();
	uint64_t df[NKEYS] = {0}, sumlen[NF] = {10, 20};
	df[3] = 2;
	df[5] = 1;
	char base[160], other[160], delta[160];
	snprintf(base, sizeof base, "%s/base.mdb", g_dir);
	snprintf(other, sizeof other, "%s/other.mdb", g_dir);
	snprintf(delta, sizeof delta, "%s/delta.mdb", g_dir);
	base_iter it = {df, 0};
	assert_int_equal(
	    idx_gstats_write_base(base, 2, sumlen, NF, next_key, &it, g_err, sizeof g_err),
	    TRAWL_OK);
	it.i = 0;
	assert_int_equal(
	    idx_gstats_write_base(other, 2, sumlen, NF, next_key, &it, g_err, sizeof g_err),
	    TRAWL_OK);
	idx_gstats *g;
	assert_int_equal(idx_gstats_open(&g, base, NULL, NF, g_err, sizeof g_err), TRAWL_OK);
	assert_int_equal(idx_gstats_base_keys(g), 2);
	/* below zero: a key, the documents, a field's tokens */
	idx_gchange ch[2] = {{g_key[3], g_klen[3], -3}, {g_key[5], g_klen[5], 1}};
	assert_int_equal(idx_gstats_write_delta(delta, g, 0, NULL, ch, 2, g_err, sizeof g_err),
	                 TRAWL_EINVAL);
	assert_non_null(strstr(g_err, "in 2 documents loses 3"));
	assert_int_equal(idx_gstats_write_delta(delta, g, -3, NULL, ch + 1, 1, g_err, sizeof g_err),
	                 TRAWL_EINVAL);
	assert_non_null(strstr(g_err, "3 documents less than the 2"));
	int64_t lose[NF] = {0, -21};
	assert_int_equal(idx_gstats_write_delta(delta, g, 0, lose, ch + 1, 1, g_err, sizeof g_err),
	                 TRAWL_EINVAL);
	assert_non_null(strstr(g_err, "field 1: 21 tokens less than its 20"));
	/* keys out of order */
	idx_gchange back[2] = {ch[1], {g_key[3], g_klen[3], 1}};
	assert_int_equal(idx_gstats_write_delta(delta, g, 0, NULL, back, 2, g_err, sizeof g_err),
	                 TRAWL_EINVAL);
	assert_non_null(strstr(g_err, "not strictly ascending"));
	/* a delta on one base is not read on another */
	ch[0].change = -2; /* key 3 leaves every document: 0, kept against the base's 2 */
	assert_int_equal(idx_gstats_write_delta(delta, g, 0, NULL, ch, 2, g_err, sizeof g_err),
	                 TRAWL_OK);
	idx_gstats_close(g);
	assert_int_equal(idx_gstats_open(&g, base, delta, NF, g_err, sizeof g_err), TRAWL_OK);
	uint64_t v;
	assert_int_equal(idx_gstats_df(g, g_key[3], g_klen[3], &v), TRAWL_OK);
	assert_int_equal(v, 0);
	assert_int_equal(idx_gstats_df(g, g_key[5], g_klen[5], &v), TRAWL_OK);
	assert_int_equal(v, 2);
	assert_int_equal(idx_gstats_delta_keys(g), 2);
	idx_gstats_close(g);
	assert_int_equal(idx_gstats_open(&g, other, delta, NF, g_err, sizeof g_err),
	                 TRAWL_ECORRUPT);
	assert_non_null(strstr(g_err, "written on base"));
	/* a base where a delta is wanted, the wrong number of fields, not a file of ours */
	assert_int_equal(idx_gstats_open(&g, base, other, NF, g_err, sizeof g_err), TRAWL_ECORRUPT);
	assert_non_null(strstr(g_err, "a base file where a delta is wanted"));
	assert_int_equal(idx_gstats_open(&g, base, NULL, NF + 1, g_err, sizeof g_err),
	                 TRAWL_ECORRUPT);
	assert_non_null(strstr(g_err, "field totals for 3 fields"));
	/* a base's keys out of order are refused */
	uint64_t one[NKEYS];
	for (int i = 0; i < NKEYS; i++)
		one[i] = 1;
	base_iter rev = {one, 0};
	char unordered[160];
	snprintf(unordered, sizeof unordered, "%s/unordered.mdb", g_dir);
	memcpy(g_key[1], g_key[0], 8); /* key 1 = key 0: not after it */
	g_klen[1] = g_klen[0];
	assert_int_equal(
	    idx_gstats_write_base(unordered, 1, sumlen, NF, next_key, &rev, g_err, sizeof g_err),
	    TRAWL_EINVAL);
	assert_non_null(strstr(g_err, "not after the one before it"));
	make_vocabulary();
	char junk[160];
	snprintf(junk, sizeof junk, "%s/junk.mdb", g_dir);
	FILE *f = fopen(junk, "wb");
	for (int i = 0; i < 8192; i++)
		fputc(i * 31 & 0xff, f);
	fclose(f);
	assert_int_not_equal(idx_gstats_open(&g, junk, NULL, NF, g_err, sizeof g_err), TRAWL_OK);
	assert_null(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    TESTDIR_TEST(test_batches_equal_a_recount),
	    TESTDIR_TEST(test_bad_changes_and_files_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
