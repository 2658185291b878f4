/*
 * postings_test.c - unit tests of a term's postings (postings.h): random
 * lists encoded by idx_postings_encode and read back through the cursor
 * by next, by advance to random targets, with tfs and positions; and a
 * document whose tf passes LIMIT_TF, whose positions must not shift the
 * positions of the documents after it. The cursor's block decoding is
 * vectorised, so the lists have all sorts of lengths around a block's 128,
 * dense and sparse ids, and ids up to 2^24 (the norms table of the test
 * bounds them).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "index/postings.h"

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

#define MAX_ID ((uint32_t)1 << 24)
static uint8_t *norms_table; /* MAX_ID bytes, shared by every list */

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* A list to encode, and the state the encoder needs. */
typedef struct list {
	uint32_t *docs, *tfs, *pos;
	uint32_t df;
	size_t npos;
	uint8_t *norms; /* one byte per doc id up to the largest */
	float ktab[256];
} list;

static void list_free(list *l)
{
	free(l->docs);
	free(l->tfs);
	free(l->pos);
	free(l->norms);
}

/* Encodes l; the caller frees post and pos with tbuf_fini. */
static void encode(const list *l, tbuf *post, tbuf *pos)
{
	tbuf_init(post, (size_t)1 << 32);
	tbuf_init(pos, (size_t)1 << 32);
	idx_postings_in in = {l->docs, l->tfs, l->pos, l->df, l->df, l->norms, l->ktab, 1.2f};
	assert_int_equal(idx_postings_encode(&in, post, pos), TRAWL_OK);
}

static void open_cursor(const list *l, const tbuf *post, const tbuf *pos, idx_pcur *c)
{
	idx_plist pl;
	assert_int_equal(idx_plist_open(&pl, l->df, l->df, post->data, post->len), TRAWL_OK);
	idx_pcur_init(c, &pl, pos->data, pos->len);
}

/* Checks the cursor's current doc against entry i of l. */
static void check_doc(const list *l, idx_pcur *c, uint32_t i, const size_t *first_pos)
{
	assert_int_equal(c->doc, l->docs[i]);
	uint32_t tf = idx_pcur_tf(c);
	assert_int_equal(tf, l->tfs[i]);
	uint32_t got[64];
	idx_pcur_prefetch_positions(c); /* moves nothing: the positions read back the same */
	uint32_t n = idx_pcur_positions(c, got, 64);
	assert_int_equal(n, tf);
	for (uint32_t j = 0; j < n && j < 64; j++)
		assert_int_equal(got[j], l->pos[first_pos[i] + j]);
	assert_false(c->corrupt);
}

static void test_random_lists(void **state)
{
	(void)state;
	for (int round = 0; round < 400; round++) {
		list l = {0};
		l.df = round < 300 ? 1 + (uint32_t)(rnd() % 700) : 1 + (uint32_t)(rnd() % 5000);
		/* sparse or dense ids, some near 2^31 */
		uint32_t gap = rnd() % 3 == 0 ? 1u << (rnd() % 11) : 1 + (uint32_t)(rnd() % 8);
		uint64_t span = (uint64_t)l.df * gap + 16;
		uint32_t base = rnd() % 4 == 0 && span < MAX_ID ? MAX_ID - (uint32_t)span : 0;
		l.docs = malloc(l.df * sizeof *l.docs);
		l.tfs = malloc(l.df * sizeof *l.tfs);
		size_t *first = malloc(l.df * sizeof *first);
		assert_true(l.docs && l.tfs && first);
		uint32_t d = base;
		for (uint32_t i = 0; i < l.df; i++) {
			d += i ? 1 + (uint32_t)(rnd() % gap) : (uint32_t)(rnd() % 16);
			l.docs[i] = d;
			l.tfs[i] = rnd() % 8 == 0 ? 1 + (uint32_t)(rnd() % 60) : 1 + (uint32_t)(rnd() % 3);
			l.npos += l.tfs[i];
		}
		l.pos = malloc(l.npos * sizeof *l.pos);
		assert_non_null(l.pos);
		size_t k = 0;
		for (uint32_t i = 0; i < l.df; i++) {
			first[i] = k;
			uint32_t p = (uint32_t)(rnd() % 50);
			for (uint32_t j = 0; j < l.tfs[i]; j++, k++) {
				l.pos[k] = p;
				p += 1 + (uint32_t)(rnd() % (rnd() % 4 == 0 ? 5000 : 9));
			}
		}
		assert_true(l.docs[l.df - 1] < MAX_ID);
		l.norms = norms_table; /* not the list's: list_free leaves it */
		for (int i = 0; i < 256; i++)
			l.ktab[i] = 0.5f + (float)i / 64.0f;

		tbuf post, pos;
		encode(&l, &post, &pos);

		/* every doc by next */
		idx_pcur c;
		open_cursor(&l, &post, &pos, &c);
		for (uint32_t i = 0; i < l.df; i++) {
			check_doc(&l, &c, i, first);
			idx_pcur_next(&c);
		}
		assert_int_equal(c.doc, IDX_END);

		/* random forward seeks, some landing on docs, some between */
		open_cursor(&l, &post, &pos, &c);
		uint32_t i = 0;
		while (i < l.df) {
			uint32_t skip = (uint32_t)(rnd() % (rnd() % 3 == 0 ? 400 : 4));
			i += skip;
			if (i >= l.df)
				break;
			uint32_t target = l.docs[i];
			if (rnd() % 2 && target > (i ? l.docs[i - 1] + 1 : 0))
				target -= 1 + (uint32_t)(rnd() % (target - (i ? l.docs[i - 1] : 0)));
			if (target < c.doc)
				target = c.doc;
			uint32_t got = idx_pcur_advance(&c, target);
			/* the first doc >= target */
			uint32_t want = 0;
			while (want < l.df && l.docs[want] < target)
				want++;
			assert_int_equal(got, l.docs[want]);
			check_doc(&l, &c, want, first);
			i = want + 1;
		}
		assert_int_equal(idx_pcur_advance(&c, l.docs[l.df - 1] + 1), IDX_END);

		tbuf_fini(&post);
		tbuf_fini(&pos);
		free(first);
		l.norms = NULL;
		list_free(&l);
	}
}

/* A doc with more than LIMIT_TF occurrences keeps LIMIT_TF of them,
 * and the docs after it keep their own positions. */
static void test_tf_over_cap(void **state)
{
	(void)state;
	list l = {0};
	l.df = 3;
	uint32_t docs[3] = {2, 5, 9}, tfs[3] = {3, LIMIT_TF + 7, 2};
	l.docs = malloc(sizeof docs);
	l.tfs = malloc(sizeof tfs);
	memcpy(l.docs, docs, sizeof docs);
	memcpy(l.tfs, tfs, sizeof tfs);
	l.npos = (size_t)tfs[0] + tfs[1] + tfs[2];
	l.pos = malloc(l.npos * sizeof *l.pos);
	l.norms = calloc(16, 1);
	assert_true(l.docs && l.tfs && l.pos && l.norms);
	size_t k = 0;
	for (uint32_t i = 0; i < 3; i++)
		for (uint32_t j = 0; j < tfs[i]; j++)
			l.pos[k++] = 10 * i + j;
	for (int i = 0; i < 256; i++)
		l.ktab[i] = 1;
	tbuf post, pos;
	encode(&l, &post, &pos);
	idx_pcur c;
	open_cursor(&l, &post, &pos, &c);
	uint32_t got[8];
	assert_int_equal(idx_pcur_positions(&c, got, 8), 3);
	assert_int_equal(got[2], 2);
	assert_int_equal(idx_pcur_next(&c), 5);
	assert_int_equal(idx_pcur_tf(&c), LIMIT_TF);
	assert_int_equal(idx_pcur_positions(&c, got, 8), LIMIT_TF);
	assert_int_equal(got[0], 10);
	assert_int_equal(got[7], 17);
	assert_int_equal(idx_pcur_next(&c), 9);
	assert_int_equal(idx_pcur_positions(&c, got, 8), 2);
	assert_int_equal(got[0], 20);
	assert_int_equal(got[1], 21);
	assert_false(c.corrupt);
	tbuf_fini(&post);
	tbuf_fini(&pos);
	list_free(&l);
}

int main(void)
{
	norms_table = malloc(MAX_ID);
	if (!norms_table)
		return 1;
	for (uint32_t i = 0; i < MAX_ID; i++)
		norms_table[i] = (uint8_t)(i * 2654435761u >> 24);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_lists),
		cmocka_unit_test(test_tf_over_cap),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	free(norms_table);
	return rc;
}
