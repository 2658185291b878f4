/*
 * fcache_test.c - the filter cache (fcache.c): hits give back exactly what
 * was put, the byte bound holds with the least recently used entry dropped
 * first, counts are right, and threads hammering it together lose nothing
 * (run under ASan and TSan-like stress: every hit's bits are checked).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "index/fcache.h"
#include "trawl/trawl.h"

#define WORDS 16 /* 1024 documents */

static void fill(uint64_t *b, uint32_t key)
{
	for (int i = 0; i < WORDS; i++)
		b[i] = (uint64_t)key * 0x9E3779B97F4A7C15ull + (uint64_t)i;
}

static void test_hit_miss_and_bound(void **state)
{
	idx_fcache *c;
	assert_int_equal(idx_fcache_new(&c, 0), TRAWL_OK);
	assert_null(c); /* no cache: every call a no-op */
	uint64_t b[WORDS], got[WORDS], n;
	assert_int_equal(idx_fcache_get(NULL, "k", 1, got, WORDS, &n), 0);
	/* room for about 3 entries */
	size_t one = idx_fcache_cost(4, WORDS);
	assert_int_equal(idx_fcache_new(&c, 3 * one + 10), TRAWL_OK);
	for (uint32_t k = 0; k < 3; k++) {
		fill(b, k);
		idx_fcache_put(c, &k, 4, b, WORDS, k + 100);
	}
	uint32_t k0 = 0, k3 = 3;
	assert_int_equal(idx_fcache_get(c, &k0, 4, got, WORDS, &n), 1); /* 0 is now the newest */
	fill(b, 0);
	assert_memory_equal(got, b, sizeof b);
	assert_int_equal(n, 100);
	fill(b, 3);
	idx_fcache_put(c, &k3, 4, b, WORDS, 103); /* drops 1, the least recently used */
	uint32_t k1 = 1, k2 = 2;
	assert_int_equal(idx_fcache_get(c, &k1, 4, got, WORDS, &n), 0);
	assert_int_equal(idx_fcache_get(c, &k2, 4, got, WORDS, &n), 1);
	assert_int_equal(idx_fcache_get(c, &k3, 4, got, WORDS, &n), 1);
	assert_memory_equal(got, b, sizeof b);
	/* another size of set under the same key (cannot happen in a shard) misses */
	assert_int_equal(idx_fcache_get(c, &k3, 4, got, WORDS - 1, &n), 0);
	idx_fcache_stats st;
	idx_fcache_get_stats(c, &st);
	assert_int_equal(st.hits, 3);
	assert_int_equal(st.misses, 2);
	assert_int_equal(st.entries, 3);
	assert_true(st.bytes <= st.max_bytes);
	/* an entry larger than the whole bound is not kept */
	uint64_t *big = calloc(4096, 8);
	idx_fcache_put(c, "big", 3, big, 4096, 0);
	assert_int_equal(idx_fcache_get(c, "big", 3, big, 4096, &n), 0);
	free(big);
	idx_fcache_free(c);
}

static idx_fcache *g_cache;

static void *hammer(void *arg)
{
	uint64_t seed = (uintptr_t)arg * 7919 + 1, b[WORDS], got[WORDS], n;
	for (int i = 0; i < 20000; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		uint32_t k = (uint32_t)(seed >> 33) % 64;
		if (idx_fcache_get(g_cache, &k, 4, got, WORDS, &n)) {
			fill(b, k);
			if (memcmp(got, b, sizeof b) || n != k)
				return (void *)1;
		} else {
			fill(b, k);
			idx_fcache_put(g_cache, &k, 4, b, WORDS, k);
		}
	}
	return NULL;
}

static void test_threads(void **state)
{
	assert_int_equal(idx_fcache_new(&g_cache, 20 * idx_fcache_cost(4, WORDS)), TRAWL_OK);
	pthread_t t[4];
	for (uintptr_t i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer, (void *)i), 0);
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(t[i], &r);
		assert_null(r);
	}
	idx_fcache_stats st;
	idx_fcache_get_stats(g_cache, &st);
	assert_int_equal(st.hits + st.misses, 4 * 20000);
	assert_true(st.bytes <= st.max_bytes);
	idx_fcache_free(g_cache);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hit_miss_and_bound),
	    cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
