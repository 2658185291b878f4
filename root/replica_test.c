/*
 * replica_test.c - the choice of a replica for a FETCH retry
 * (replica_fetch_alt) over a replica set built by hand: no connections,
 * only the states, generations and shards the choice reads.
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_generation_first),
	    cmocka_unit_test(test_newer_generation_next),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
