/*
 * tombs_test.c - the published deletes the ingest remembers (tombs.c):
 * kept for the time given and no longer, the oldest dropped first past the
 * count, an id put again replacing its record, forgotten when deleted; and
 * random operations against a plain model (every id's record or none).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "index/tombs.h"
#include "trawl/trawl.h"

static int get(idx_tombs *t, const char *id, uint64_t now, uint64_t *version)
{
	uint64_t seq = 0;
	return idx_tombs_get(t, id, (uint32_t)strlen(id), now, &seq, version);
}

static void put(idx_tombs *t, const char *id, uint64_t version, uint64_t now)
{
	assert_int_equal(idx_tombs_put(t, id, (uint32_t)strlen(id), version * 10, version, now),
	                 TRAWL_OK);
}

static void kept_for_their_time(void **state)
{
	(void)state;
	idx_tombs *t = idx_tombs_new(1000, 100);
	assert_non_null(t);
	uint64_t v = 0, seq = 0;
	put(t, "a", 3, 5000);
	put(t, "b", 7, 5600);
	assert_true(idx_tombs_get(t, "a", 1, 5999, &seq, &v));
	assert_int_equal(seq, 30);
	assert_int_equal(v, 3);
	assert_false(get(t, "a", 6000, &v)); /* 1000 ms after its put */
	assert_true(get(t, "b", 6000, &v));
	idx_tombs_expire(t, 6000);
	assert_int_equal(idx_tombs_count(t), 1);
	put(t, "b", 9, 6500); /* again: the newer record, its own time */
	assert_int_equal(idx_tombs_count(t), 1);
	assert_true(get(t, "b", 7400, &v));
	assert_int_equal(v, 9);
	idx_tombs_del(t, "b", 1);
	assert_false(get(t, "b", 7400, &v));
	idx_tombs_del(t, "b", 1); /* absent: nothing */
	assert_int_equal(idx_tombs_count(t), 0);
	idx_tombs_free(t);
}

static void oldest_dropped_past_the_count(void **state)
{
	(void)state;
	idx_tombs *t = idx_tombs_new(60000, 3);
	uint64_t v;
	put(t, "a", 1, 1);
	put(t, "b", 1, 2);
	put(t, "c", 1, 3);
	put(t, "a", 2, 4); /* a is now the newest */
	put(t, "d", 1, 5); /* b goes */
	assert_int_equal(idx_tombs_count(t), 3);
	assert_false(get(t, "b", 6, &v));
	assert_true(get(t, "a", 6, &v));
	assert_int_equal(v, 2);
	assert_true(get(t, "c", 6, &v));
	assert_true(get(t, "d", 6, &v));
	idx_tombs_free(t);
	t = idx_tombs_new(0, 0); /* the defaults */
	put(t, "x", 4, 100);
	assert_true(get(t, "x", 100 + 59999, &v));
	assert_false(get(t, "x", 100 + 60000, &v));
	idx_tombs_free(t);
}

/* Takes id out of the model's list of ids by put, if it is there. */
static void unlist(uint64_t *order, uint64_t *n, uint64_t id)
{
	for (uint64_t i = 0; i < *n; i++)
		if (order[i] == id) {
			memmove(&order[i], &order[i + 1], (*n - i - 1) * sizeof *order);
			(*n)--;
			return;
		}
}

static void random_against_a_model(void **state)
{
	(void)state;
	enum { IDS = 500, MAX = 200, KEEP = 300 };
	idx_tombs *t = idx_tombs_new(KEEP, MAX);
	uint64_t at[IDS] = {0}, ver[IDS] = {0}; /* ver 0: no record */
	uint64_t order[IDS], norder = 0;        /* ids with records, by put */
	uint64_t rng = 0x9e3779b97f4a7c15ull, now = 1000;
	for (int step = 0; step < 200000; step++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		uint32_t id = (uint32_t)(rng % IDS), what = (uint32_t)(rng >> 32) % 8;
		char s[16];
		snprintf(s, sizeof s, "id-%u", id);
		now += (rng >> 40) % 3;
		if (what < 4) {
			put(t, s, (uint64_t)step + 1, now);
			unlist(order, &norder, id);
			if (norder == MAX) { /* the oldest goes */
				ver[order[0]] = 0;
				memmove(&order[0], &order[1], (norder - 1) * sizeof *order);
				norder--;
			}
			order[norder++] = id;
			ver[id] = (uint64_t)step + 1;
			at[id] = now;
		} else if (what == 4) {
			idx_tombs_del(t, s, (uint32_t)strlen(s));
			unlist(order, &norder, id);
			ver[id] = 0;
		} else if (what == 5) {
			idx_tombs_expire(t, now);
			uint64_t k = 0;
			for (uint64_t i = 0; i < norder; i++)
				if (now - at[order[i]] >= KEEP)
					ver[order[i]] = 0;
				else
					order[k++] = order[i];
			norder = k;
			assert_int_equal(idx_tombs_count(t), norder);
		} else {
			uint64_t v = 0;
			int want = ver[id] && now - at[id] < KEEP;
			assert_int_equal(get(t, s, now, &v), want);
			if (want)
				assert_int_equal(v, ver[id]);
		}
	}
	idx_tombs_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(kept_for_their_time),
	    cmocka_unit_test(oldest_dropped_past_the_count),
	    cmocka_unit_test(random_against_a_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
