/*
 * cluster_test.c - the cluster file (root/cluster.h): the one-index form
 * as before, several indexes and their aliases read and loaded into a
 * catalog (writes through an alias's write index), a fixed catalog's
 * refusals with the cluster's reason, every limit at its edge, and bad
 * files refused naming the file and the key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "root/catalog.h"
#include "root/cluster.h"

static int parse(cluster_file *cf, const char *text, char *err, size_t errlen)
{
	return cluster_file_parse(cf, text, strlen(text), "c.json", "ix", err, errlen);
}

static void test_one_index(void **state)
{
	(void)state;
	cluster_file cf;
	char err[1024];
	assert_int_equal(parse(&cf,
	                       "{\"shards\": 2, \"indexer\": \"tcp://h:3\", \"leaves\": "
	                       "[{\"url\": \"tcp://a:1\", \"shards\": [0, 1]}, {\"url\": "
	                       "\"tcp://b:1\", \"shards\": [1]}], \"other\": 1}",
	                       err, sizeof err),
	                 0);
	assert_int_equal(cf.n, 1);
	assert_int_equal(cf.several, 0);
	assert_null(cf.aliases);
	assert_string_equal(cf.ix[0].name, "ix");
	assert_int_equal(cf.ix[0].cfg.nshards, 2);
	assert_int_equal(cf.ix[0].cfg.nleaves, 2);
	assert_string_equal(cf.ix[0].cfg.leaves[1].url, "tcp://b:1");
	assert_int_equal(cf.ix[0].cfg.leaves[0].nshards, 2);
	assert_string_equal(cf.ix[0].cfg.indexer_url, "tcp://h:3");
	cluster_file_fini(&cf);
	char name[LIMIT_INDEX_NAME_BYTES + 2];
	memset(name, 'a', sizeof name - 1);
	name[sizeof name - 1] = 0;
	static const char one[] =
	    "{\"shards\": 1, \"leaves\": [{\"url\": \"u\", \"shards\": [0]}]}";
	assert_int_equal(cluster_file_parse(&cf, one, strlen(one), "c.json", name, err, sizeof err),
	                 TRAWL_EINVAL);
	assert_non_null(strstr(err, "is over 255 bytes"));
	cluster_file_fini(&cf);
	name[LIMIT_INDEX_NAME_BYTES] = 0;
	assert_int_equal(cluster_file_parse(&cf, one, strlen(one), "c.json", name, err, sizeof err),
	                 0);
	assert_string_equal(cf.ix[0].name, name);
	cluster_file_fini(&cf);
}

static const char several[] =
    "{\"indexes\": {\"logs\": {\"shards\": 1, \"leaves\": [{\"url\": \"tcp://l:1\", "
    "\"shards\": [0]}]},"
    " \"books\": {\"shards\": 3, \"indexer\": \"tcp://bi:1\", \"leaves\": [{\"url\": "
    "\"tcp://b:1\", \"shards\": [0, 1, 2]}]}},"
    " \"aliases\": {\"library\": {\"indexes\": [\"books\"], \"write_index\": \"books\"},"
    " \"everything\": {\"indexes\": [\"logs\", \"books\"]},"
    " \"old\": {\"indexes\": [\"logs\"], \"write_index\": null}}}";

static void test_several(void **state)
{
	(void)state;
	cluster_file cf;
	char err[1024];
	assert_int_equal(parse(&cf, several, err, sizeof err), 0);
	assert_int_equal(cf.n, 2);
	assert_int_equal(cf.several, 1);
	assert_string_equal(cf.ix[0].name, "books"); /* name order */
	assert_int_equal(cf.ix[0].cfg.nshards, 3);
	assert_string_equal(cf.ix[0].cfg.indexer_url, "tcp://bi:1");
	assert_string_equal(cf.ix[1].name, "logs");
	assert_string_equal(cf.ix[1].cfg.indexer_url, "");
	assert_non_null(cf.aliases);

	/* the aliases into a catalog of the two */
	catalog *c;
	assert_int_equal(cat_open(&c, NULL, "north"), 0);
	for (uint32_t i = 0; i < cf.n; i++)
		assert_int_equal(cat_add(c, cf.ix[i].name, NULL, NULL, err, sizeof err), 0);
	assert_int_equal(cat_aliases_load(c, cf.aliases, cf.aliases_len, err, sizeof err), 0);
	cat_set s;
	char missing[256];
	assert_int_equal(
	    cat_resolve(c, "library", CAT_WRITE, &s, missing, sizeof missing, err, sizeof err), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(cat_name(s.ix[0]), "books");
	cat_set_release(&s);
	assert_int_equal(
	    cat_resolve(c, "old", CAT_WRITE, &s, missing, sizeof missing, err, sizeof err),
	    0); /* one index, no flag: written */
	assert_string_equal(cat_name(s.ix[0]), "logs");
	cat_set_release(&s);
	assert_int_equal(
	    cat_resolve(c, "everything", CAT_WRITE, &s, missing, sizeof missing, err, sizeof err),
	    TRAWL_EQUERY);
	assert_int_equal(
	    cat_resolve(c, "everything", 0, &s, missing, sizeof missing, err, sizeof err), 0);
	assert_int_equal(s.n, 2);
	cat_set_release(&s);

	/* fixed, with the cluster's reason */
	cat_fix(c, "defined by the cluster file");
	assert_int_equal(cat_create(c, "new", NULL, 0, 1, err, sizeof err), TRAWL_EINVAL);
	assert_string_equal(err, "defined by the cluster file");
	uint32_t n;
	assert_int_equal(cat_delete(c, "books", &n, err, sizeof err), TRAWL_EINVAL);
	assert_string_equal(err, "defined by the cluster file");
	cat_alias_action add = {CAT_ALIAS_ADD, "logs", "more", -1, 0};
	assert_int_equal(cat_aliases_apply(c, &add, 1, err, sizeof err), TRAWL_EINVAL);
	assert_string_equal(err, "defined by the cluster file");
	cat_all(c, &s);
	assert_int_equal(s.n, 2);
	cat_set_release(&s);
	cat_close(c);
	cluster_file_fini(&cf);
}

/* A file of n indexes of leaves_each leaves, and aliases aliases each
 * naming the first per_alias indexes (malloc'ed). */
static char *big_file(unsigned n, unsigned leaves_each, unsigned aliases, unsigned per_alias)
{
	size_t cap =
	    64 + (size_t)n * (64 + leaves_each * 48) + (size_t)aliases * (48 + per_alias * 8);
	char *s = malloc(cap);
	size_t at = (size_t)snprintf(s, cap, "{\"indexes\": {");
	for (unsigned i = 0; i < n; i++) {
		at += (size_t)snprintf(s + at, cap - at, "%s\"i%u\": {\"shards\": 1, \"leaves\": [",
		                       i ? ", " : "", i);
		for (unsigned l = 0; l < leaves_each; l++)
			at += (size_t)snprintf(s + at, cap - at,
			                       "%s{\"url\": \"tcp://h%u:%u\", \"shards\": [0]}",
			                       l ? ", " : "", i, l);
		at += (size_t)snprintf(s + at, cap - at, "]}");
	}
	at += (size_t)snprintf(s + at, cap - at, "}, \"aliases\": {");
	for (unsigned a = 0; a < aliases; a++) {
		at += (size_t)snprintf(s + at, cap - at, "%s\"a%u\": {\"indexes\": [",
		                       a ? ", " : "", a);
		for (unsigned k = 0; k < per_alias; k++)
			at += (size_t)snprintf(s + at, cap - at, "%s\"i%u\"", k ? ", " : "", k);
		at += (size_t)snprintf(s + at, cap - at, "]}");
	}
	snprintf(s + at, cap - at, "}}");
	return s;
}

static void expect(const char *text, int rc, const char *msg)
{
	cluster_file cf;
	char err[1024];
	int got = parse(&cf, text, err, sizeof err);
	if (got != rc || (msg && !strstr(err, msg)))
		fail_msg("%.300s: got %d \"%s\", expected %d \"%s\"", text, got, got ? err : "", rc,
		         msg ? msg : "");
	cluster_file_fini(&cf);
}

static void test_limits(void **state)
{
	(void)state;
	char *s = big_file(LIMIT_INDEXES, 16, LIMIT_ALIASES, LIMIT_INDEXES); /* 1,024 leaves */
	expect(s, 0, NULL);
	free(s);
	s = big_file(LIMIT_INDEXES + 1, 1, 0, 0);
	expect(s, TRAWL_EINVAL, "c.json: indexes: must be an object of 1 to 64 indexes");
	free(s);
	s = big_file(2, LIMIT_LEAVES / 2 + 1, 0, 0); /* the second index's pass the bound */
	expect(s, TRAWL_EINVAL, ".leaves: the file lists more than 1024 leaves in all");
	free(s);
	s = big_file(1, LIMIT_LEAVES + 1, 0, 0);
	expect(s, TRAWL_EINVAL, "c.json: indexes.i0.leaves: must be an array of 1 to 1024");
	free(s);
	s = big_file(2, 1, LIMIT_ALIASES + 1, 1);
	expect(s, TRAWL_EINVAL, "c.json: aliases: must be an object of at most 256 aliases");
	free(s);
	s = big_file(2, 1, 1, 2);
	expect(s, 0, NULL);
	free(s);
}

/* Bad files: each with the message it gets (after "c.json: "). IX is one
 * good index "a", LEAF one good leaf. */
#define LEAF "{\"url\": \"tcp://a:1\", \"shards\": [0]}"
#define IX "\"indexes\": {\"a\": {\"shards\": 1, \"leaves\": [" LEAF "]}}"
static const char *const bad[][2] = {
    {"[1]", "not a JSON object"},
    {"{\"shards\": 1,", "line 1"},
    {"{\"shards\": 0}", "shards: must be a number from 1 to 256"},
    {"{\"shards\": 2, \"leaves\": [" LEAF "]}", "no leaf serves shard 1"},
    {"{\"shards\": 1, \"leaves\": [" LEAF "], \"indexer\": 3}",
     "indexer: must be the indexer's URL"},
    {"{\"shards\": 1, \"leaves\": [" LEAF "], \"aliases\": {}}", "aliases: go with \"indexes\""},
    {"{\"indexes\": {\"a\": {\"shards\": 1, \"leaves\": [" LEAF ", 7]}}}",
     "indexes.a.leaves[1]: needs a \"url\""},
    {"{" IX ", \"x\": 1}", "x: unknown key"},
    {"{\"indexes\": {\"_a\": {\"shards\": 1, \"leaves\": [" LEAF "]}}}",
     "indexes._a: invalid index name"},
    {"{\"indexes\": {\"a\": 1}}", "indexes.a: must be an object"},
    {"{" IX ", \"aliases\": {\"b\": {\"indexes\": [\"a\", \"a\"]}}}",
     "aliases.b.indexes[1]: [a] is named twice"},
    {"{" IX ", \"aliases\": {\"b\": {\"indexes\": [\"a\"], \"filter\": {}}}}",
     "aliases.b.filter: unknown key"},
    {"{" IX ", \"aliases\": {\"B\": {\"indexes\": [\"a\"]}}}", "aliases.B: invalid alias name"},
    {"{" IX ", \"aliases\": {\"b\": {\"indexes\": [\"a\"], \"write_index\": 1}}}",
     "aliases.b.write_index: must be the name"},
    {"{" IX ", \"aliases\": {\"b\": [\"a\"]}}", "aliases.b.indexes: must be an array"},
    {"{\"indexes\": {\"a\": {\"shards\": 1, \"leaves\": [" LEAF "]}, \"b\": {\"shards\": 1, "
     "\"leaves\": [{\"url\": \"tcp://b:1\", \"shards\": [0]}, " LEAF "]}}}",
     "indexes.b.leaves[1]: tcp://a:1 is a leaf of index [a] too"},
    {"{\"indexes\": {\"a\": {\"shards\": 1, \"indexer\": \"tcp://i:1\", \"leaves\": [" LEAF
     "]}, \"b\": {\"shards\": 1, \"indexer\": \"tcp://i:1\", \"leaves\": [{\"url\": "
     "\"tcp://b:1\", \"shards\": [0]}]}}}",
     "indexes.b.indexer: tcp://i:1 is index [a]'s indexer too"},
    {"{\"indexes\": {\"a\": {\"shards\": 1, \"leaves\": [{\"url\": \"tcp://a:1\", "
     "\"shards\": [0], \"shard\": [3]}]}}}",
     "indexes.a.leaves[0].shard: unknown key (a leaf has \"url\" and \"shards\")"},
    {"{\"shards\": 1, \"leaves\": [" LEAF ", " LEAF "]}",
     "leaves[1]: tcp://a:1 is leaves[0] too (list a leaf once, with all its shards)"},
};

static void test_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char want[256];
		snprintf(want, sizeof want, "c.json: %s", bad[i][1]);
		expect(bad[i][0], TRAWL_EINVAL, want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_one_index),
	    cmocka_unit_test(test_several),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
