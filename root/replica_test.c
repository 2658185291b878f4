/*
 * replica_test.c - the choice of a replica for a FETCH retry
 * (replica_fetch_alt), and of one for a SEARCH and its hedge under a
 * refresh's floor (replica_pick, replica_hedge_target), over a replica set built by hand: no
 * connections, only the states, generations and shards the choice reads.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "root/replica.h"

enum { NREP = 4 };

/* Four replicas of shards 0 and 1 (leaf i serves shard i / 2), healthy,
 * on generation 1. */
static void set_up(replica_set *rs, replica *rep)
{
	memset(rs, 0, sizeof *rs);
	memset(rep, 0, NREP * sizeof *rep);
	for (int i = 0; i < NREP; i++) {
		pthread_mutex_init(&rep[i].mu, NULL);
		rep[i].state = ROOT_HEALTHY;
		rep[i].generation = 1;
		rep[i].serves[i / 2] = 1;
	}
	rs->rep = rep;
	rs->n = NREP;
}

static void tear_down(replica *rep)
{
	for (int i = 0; i < NREP; i++)
		pthread_mutex_destroy(&rep[i].mu);
}

static void test_same_generation_first(void **state)
{
	(void)state;
	replica_set rs;
	replica rep[NREP];
	set_up(&rs, rep);
	uint16_t s0[] = {0}, s1[] = {1};
	assert_int_equal(replica_fetch_alt(&rs, 0, s0, 1, 1), 1);
	assert_int_equal(replica_fetch_alt(&rs, 1, s0, 1, 1), 0);
	assert_int_equal(replica_fetch_alt(&rs, 2, s1, 1, 1), 3);
	/* an ejected twin is no alternative; one on probation is */
	rep[1].state = ROOT_EJECTED;
	assert_int_equal(replica_fetch_alt(&rs, 0, s0, 1, 1), -1);
	rep[1].state = ROOT_PROBATION;
	assert_int_equal(replica_fetch_alt(&rs, 0, s0, 1, 1), 1);
	/* a twin that took the shard out of service is none either */
	atomic_store(&rep[1].out[0], 1);
	assert_int_equal(replica_fetch_alt(&rs, 0, s0, 1, 1), -1);
	tear_down(rep);
}

/* The twin switched to a generation published after the SEARCH: it keeps
 * the one before, so the retry goes there (the leaf fetches from the kept
 * generation, or says it is gone); a twin behind the SEARCH's generation
 * cannot hold it. Before, the retry found no replica and the page lost the
 * shard's hits (the multi-host leaf restart's partial answers). */
static void test_newer_generation_next(void **state)
{
	(void)state;
	replica_set rs;
	replica rep[NREP];
	set_up(&rs, rep);
	uint16_t s0[] = {0};
	rep[1].generation = 2;
	assert_int_equal(replica_fetch_alt(&rs, 0, s0, 1, 1), 1);
	/* the SEARCH ran on generation 2; the twin is still on 1 */
	rep[1].generation = 1;
	assert_int_equal(replica_fetch_alt(&rs, 0, s0, 1, 2), -1);
	/* of two twins, the one on the same generation first */
	rep[1].generation = 1;
	rep[2].serves[0] = 1;
	rep[2].generation = 2;
	rep[3].serves[0] = 1;
	rep[3].generation = 1;
	assert_int_equal(replica_fetch_alt(&rs, 0, s0, 1, 1), 1);
	rep[1].state = ROOT_EJECTED;
	assert_int_equal(replica_fetch_alt(&rs, 0, s0, 1, 1), 3);
	rep[3].state = ROOT_EJECTED;
	assert_int_equal(replica_fetch_alt(&rs, 0, s0, 1, 1), 2);
	tear_down(rep);
}

/* After a refresh=wait_for raised the floor to generation 3, a twin still
 * on 2 is asked only when nothing of 3 or newer is left, and never as a
 * hedge (its answer would not be believed); without a floor, either. */
static void test_floor(void **state)
{
	(void)state;
	replica_set rs;
	replica rep[NREP];
	set_up(&rs, rep);
	uint16_t s0[] = {0};
	uint8_t none[NREP] = {0}, not0[NREP] = {1, 0, 0, 0};
	rep[0].generation = 3;
	rep[1].generation = 2;
	int seen[2] = {0, 0};
	for (uint64_t salt = 0; salt < 64; salt++)
		seen[replica_pick(&rs, 0, NULL, none, salt, 0)]++;
	assert_true(seen[0] > 0 && seen[1] > 0);
	assert_int_equal(replica_hedge_target(&rs, 0, s0, 1, none, 0), 1);
	replicas_raise_floor(&rs, 3);
	replicas_raise_floor(&rs, 2); /* only forward */
	assert_int_equal(atomic_load(&rs.floor), 3);
	for (uint64_t salt = 0; salt < 64; salt++)
		assert_int_equal(replica_pick(&rs, 0, NULL, none, salt, 0), 0);
	assert_int_equal(replica_pick(&rs, 0, NULL, not0, 1, 3), 1); /* the last resort */
	assert_int_equal(replica_hedge_target(&rs, 0, s0, 1, none, 3), -1);
	assert_int_equal(replica_hedge_target(&rs, 0, s0, 1, none, 0), -1);
	rep[1].generation = 4; /* the twin switched past it: a candidate again */
	assert_int_equal(replica_hedge_target(&rs, 0, s0, 1, none, 3), 1);
	/* searches are held to the floor for LIMIT_REFRESH_FLOOR_MS only */
	assert_int_equal(replicas_floor(&rs), 3);
	atomic_store(&rs.floor_until, 1);
	assert_int_equal(replicas_floor(&rs), 0);
	/* a refresh's wait counts the replicas behind it once: one still
	 * behind at its end is not waited for until it catches up */
	rep[1].generation = 2;
	assert_int_equal(replicas_lagging(&rs, 1, 3), 1);
	replicas_mark_lagging(&rs, 1, 3);
	assert_int_equal(replicas_lagging(&rs, 1, 3), 0);
	assert_int_equal(replicas_lagging(&rs, 1, 4), 1); /* replica 0, on 3 */
	rep[1].generation = 3; /* caught up: counted again for newer ones */
	assert_int_equal(replicas_lagging(&rs, 1, 4), 2);
	tear_down(rep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_generation_first),
	    cmocka_unit_test(test_newer_generation_next),
	    cmocka_unit_test(test_floor),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
