/*
 * delset_test.c - a segment's deleted documents (delset.c): random deletes
 * against a plain array, across generations that add to the previous set,
 * written and read back; every kind of damage refused, naming the file.
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
#include "index/delset.h"
#include "index/testdir.h"
#include "trawl/trawl.h"

static char g_err[LIMIT_ERRMSG_BYTES];

static uint64_t g_rng = 0x2545F4914F6CDD1Dull;

static uint32_t rnd(uint32_t n)
{
	g_rng ^= g_rng << 13;
	g_rng ^= g_rng >> 7;
	g_rng ^= g_rng << 17;
	return (uint32_t)(g_rng % n);
}

static void test_generations_of_deletes(void **state)
{
	(void)state;
	static const uint32_t sizes[] = {0, 1, 63, 64, 65, 1000, 70001};
	for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
		uint32_t n = sizes[s];
		uint8_t *truth = calloc(n ? n : 1, 1);
		uint32_t deleted = 0;
		idx_delset d;
		assert_int_equal(idx_delset_init(&d, n), TRAWL_OK);
		char path[200];
		for (int gen = 1; gen <= 4; gen++) {
			/* the next generation: the previous set read back, more added */
			for (uint32_t k = 0; n && k < n / 7 + 1; k++) {
				uint32_t doc = rnd(n);
				int was = truth[doc];
				assert_int_equal(idx_delset_add(&d, doc), !was);
				truth[doc] = 1;
				deleted += !was;
			}
			snprintf(path, sizeof path, "%s/del-%u-%d.bits", g_dir, n, gen);
			assert_int_equal(idx_delset_write(path, &d, g_err, sizeof g_err), TRAWL_OK);
			idx_delset_fini(&d);
			assert_int_equal(idx_delset_read(path, n, &d, g_err, sizeof g_err),
			                 TRAWL_OK);
			assert_int_equal(d.count, deleted);
			for (uint32_t doc = 0; doc < n; doc++)
				if (idx_delset_has(&d, doc) != truth[doc])
					fail_msg("%u documents, generation %d: doc %u", n, gen,
					         doc);
		}
		idx_delset_fini(&d);
		free(truth);
	}
}

/* write a set of 200 documents, 3 deleted, change byte at of its file */
static void damaged(const char *path, long at, int value)
{
	idx_delset d;
	assert_int_equal(idx_delset_init(&d, 200), TRAWL_OK);
	idx_delset_add(&d, 1);
	idx_delset_add(&d, 100);
	idx_delset_add(&d, 199);
	assert_int_equal(idx_delset_write(path, &d, g_err, sizeof g_err), TRAWL_OK);
	idx_delset_fini(&d);
	if (at < 0)
		return;
	FILE *f = fopen(path, "r+b");
	fseek(f, at, SEEK_SET);
	fputc(value, f);
	fclose(f);
}

static void test_damage_refused(void **state)
{
	(void)state;
	char path[200];
	snprintf(path, sizeof path, "%s/del.bits", g_dir);
	idx_delset d;
	damaged(path, -1, 0);
	assert_int_equal(idx_delset_read(path, 200, &d, g_err, sizeof g_err), TRAWL_OK);
	assert_int_equal(d.count, 3);
	idx_delset_fini(&d);
	/* another segment's size, a flipped bit, the magic, a short file */
	assert_int_equal(idx_delset_read(path, 201, &d, g_err, sizeof g_err), TRAWL_ECORRUPT);
	assert_non_null(strstr(g_err, "del.bits: for 200 documents, the segment has 201"));
	assert_int_equal(idx_delset_read(path, 300, &d, g_err, sizeof g_err), TRAWL_ECORRUPT);
	assert_non_null(strstr(g_err, "del.bits: 64 bytes, a delete set of 300 documents has 72"));
	damaged(path, 24 + 3, 0x40);
	assert_int_equal(idx_delset_read(path, 200, &d, g_err, sizeof g_err), TRAWL_ECORRUPT);
	assert_non_null(strstr(g_err, "del.bits: checksum mismatch"));
	damaged(path, 0, 'X');
	assert_int_equal(idx_delset_read(path, 200, &d, g_err, sizeof g_err), TRAWL_ECORRUPT);
	assert_non_null(strstr(g_err, "not a delete set"));
	assert_null(d.bits);
	/* whole files whose count or bits do not fit (checksums right) */
	idx_delset bad;
	assert_int_equal(idx_delset_init(&bad, 70), TRAWL_OK);
	idx_delset_add(&bad, 3);
	bad.count = 2;
	assert_int_equal(idx_delset_write(path, &bad, g_err, sizeof g_err), TRAWL_OK);
	assert_int_equal(idx_delset_read(path, 70, &d, g_err, sizeof g_err), TRAWL_ECORRUPT);
	assert_non_null(strstr(g_err, "says 2 deleted, its bits 1"));
	bad.count = 2;
	bad.bits[1] |= 1ull << 10; /* doc 74 of 70 */
	assert_int_equal(idx_delset_write(path, &bad, g_err, sizeof g_err), TRAWL_OK);
	assert_int_equal(idx_delset_read(path, 70, &d, g_err, sizeof g_err), TRAWL_ECORRUPT);
	assert_non_null(strstr(g_err, "some past the last document"));
	idx_delset_fini(&bad);
	FILE *f = fopen(path, "wb");
	fclose(f);
	assert_int_equal(idx_delset_read(path, 0, &d, g_err, sizeof g_err), TRAWL_ECORRUPT);
	char missing[220];
	snprintf(missing, sizeof missing, "%s/none.bits", g_dir);
	assert_int_equal(idx_delset_read(missing, 10, &d, g_err, sizeof g_err), TRAWL_EIO);
	assert_non_null(strstr(g_err, "none.bits"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    TESTDIR_TEST(test_generations_of_deletes),
	    TESTDIR_TEST(test_damage_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
