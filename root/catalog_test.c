/*
 * catalog_test.c - the catalog of indexes (root/catalog.h): index
 * expressions resolved against a brute-force reading of OpenSearch's
 * rules over random catalogs, writes through aliases, creating and
 * deleting through a host that records what it was asked, a delete that
 * waits for the requests holding the index, and alias actions applied all
 * or none (a failed action or a failed save changes nothing).
 */
#include <fnmatch.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "root/catalog.h"

/* A host that makes nothing: its roots are NULL, its data a counter. */
typedef struct fake_host {
	int created, dropped;
	int fail_save;
	char saved[4096];
	int holder_done; /* set by the thread holding an index when it let go */
	int drop_saw_holder_done;
} fake_host;

static int fh_create(void *ctx, const char *name, const char *schema, size_t len, uint32_t n,
                     root **r, void **data, char *err, size_t errlen)
{
	(void)schema, (void)len, (void)n, (void)err, (void)errlen;
	fake_host *h = ctx;
	if (!strcmp(name, "fails"))
		return snprintf(err, errlen, "cannot make it"), TRAWL_EIO;
	h->created++;
	*r = NULL;
	*data = h;
	return TRAWL_OK;
}

static int fh_drop(void *ctx, const char *name, root *r, void *data, char *err, size_t errlen)
{
	(void)name, (void)r, (void)data, (void)err, (void)errlen;
	fake_host *h = ctx;
	h->dropped++;
	h->drop_saw_holder_done = h->holder_done;
	return TRAWL_OK;
}

static int fh_save(void *ctx, const char *json, size_t len, char *err, size_t errlen)
{
	fake_host *h = ctx;
	if (h->fail_save)
		return snprintf(err, errlen, "disk full"), TRAWL_ENOSPC;
	snprintf(h->saved, sizeof h->saved, "%.*s", (int)len, json);
	return TRAWL_OK;
}

static catalog *open_with(fake_host *h)
{
	cat_host host = {h, fh_create, fh_drop, fh_save, NULL};
	catalog *c;
	assert_int_equal(cat_open(&c, &host, "test"), TRAWL_OK);
	return c;
}

/* The names of a set, comma-joined. */
static const char *names(const cat_set *s, char *buf, size_t cap)
{
	buf[0] = 0;
	for (uint32_t i = 0; i < s->n; i++)
		snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s", i ? "," : "",
		         cat_name(s->ix[i]));
	return buf;
}

static void expect(catalog *c, const char *expr, unsigned flags, int rc, const char *want)
{
	cat_set s;
	char err[512], missing[300], got[1024];
	int r = cat_resolve(c, expr, flags, &s, missing, sizeof missing, err, sizeof err);
	if (r != rc)
		fail_msg("%s: rc %d, wanted %d (%s)", expr, r, rc, err);
	if (!r && strcmp(names(&s, got, sizeof got), want))
		fail_msg("%s: [%s], wanted [%s]", expr, got, want);
	if (r == TRAWL_ENOTFOUND && strcmp(missing, want))
		fail_msg("%s: missing [%s], wanted [%s]", expr, missing, want);
	cat_set_release(&s);
}

static void add_alias(catalog *c, const char *index, const char *alias, int is_write)
{
	cat_alias_action a = {CAT_ALIAS_ADD, index, alias, is_write, 0};
	char err[512];
	int rc = cat_aliases_apply(c, &a, 1, err, sizeof err);
	if (rc)
		fail_msg("add %s -> %s: %s", alias, index, err);
}

static void test_resolve(void **state)
{
	(void)state;
	fake_host h = {0};
	catalog *c = open_with(&h);
	char err[512];
	const char *ix[] = {"logs-2", "logs-1", "metrics", "docs"};
	for (int i = 0; i < 4; i++)
		assert_int_equal(cat_create(c, ix[i], "{}", 2, 1, err, sizeof err), TRAWL_OK);
	add_alias(c, "logs-*", "logs", -1);
	add_alias(c, "docs", "d", -1);
	expect(c, "docs", 0, TRAWL_OK, "docs");
	expect(c, NULL, 0, TRAWL_OK, "docs,logs-1,logs-2,metrics");
	expect(c, "_all", 0, TRAWL_OK, "docs,logs-1,logs-2,metrics");
	expect(c, "*,-logs-*", 0, TRAWL_OK, "docs,metrics");
	/* an exclusion only after a wildcard, as in OpenSearch: before, a name */
	expect(c, "docs,-metrics", 0, TRAWL_ENOTFOUND, "-metrics");
	expect(c, "-docs", 0, TRAWL_ENOTFOUND, "-docs");
	expect(c, "-docs,*", 0, TRAWL_ENOTFOUND, "-docs");
	expect(c, "d*,m*,-docs", 0, TRAWL_OK, "metrics");
	expect(c, "logs", 0, TRAWL_OK, "logs-1,logs-2");
	expect(c, "log*", 0, TRAWL_OK, "logs-1,logs-2"); /* the alias matches too */
	expect(c, "d,metrics", 0, TRAWL_OK, "docs,metrics");
	expect(c, "nope*", 0, TRAWL_OK, "");
	expect(c, "docs,nope", 0, TRAWL_ENOTFOUND, "nope");
	expect(c, "docs,nope", CAT_IGNORE_MISSING, TRAWL_OK, "docs");
	expect(c, "logs", CAT_NO_ALIASES, TRAWL_ENOTFOUND, "logs");
	/* writes: one index, an alias only with a write index */
	expect(c, "d", CAT_WRITE, TRAWL_OK, "docs");
	expect(c, "logs", CAT_WRITE, TRAWL_EQUERY, "");
	expect(c, "docs,metrics", CAT_WRITE, TRAWL_EQUERY, "");
	add_alias(c, "logs-2", "logs", 1);
	expect(c, "logs", CAT_WRITE, TRAWL_OK, "logs-2");
	expect(c, "logs", 0, TRAWL_OK, "logs-1,logs-2");
	/* an alias is not an index name, nor an index an alias's */
	assert_int_equal(cat_create(c, "logs", "{}", 2, 1, err, sizeof err), TRAWL_EINVAL);
	cat_alias_action bad = {CAT_ALIAS_ADD, "docs", "metrics", -1, 0};
	assert_int_equal(cat_aliases_apply(c, &bad, 1, err, sizeof err), TRAWL_EQUERY);
	cat_close(c);
}

/* ---- brute force: random catalogs and expressions ---- */

static const char *pool[] = {"a", "ab", "abc", "b", "ba", "c", "ca", "cab"};
static const char *apool[] = {"x", "xa", "y"};
static const char *pats[] = {"a*", "*b", "_all", "*", "c*", "x*", "*a*", "zz*"};

typedef struct model {
	int present[8];
	int member[3][8]; /* alias a names index i */
} model;

/* The set an expression names under the model, by OpenSearch's rules
 * read one item at a time; -1 when a name is missing. */
static int brute(const model *m, char items[][16], int n, int *sel)
{
	memset(sel, 0, 8 * sizeof *sel);
	int wildcard_seen = 0;
	for (int k = 0; k < n; k++) {
		const char *it = items[k];
		int on = 1;
		if (it[0] == '-' && wildcard_seen) { /* before a wildcard: a name */
			on = 0;
			it++;
		}
		int pattern = !strcmp(it, "_all") || strchr(it, '*');
		wildcard_seen |= pattern;
		int named = 0;
		for (int i = 0; i < 8; i++) {
			if (!m->present[i])
				continue;
			int hit = pattern ? (!strcmp(it, "_all") || !fnmatch(it, pool[i], 0))
			                  : !strcmp(it, pool[i]);
			for (int a = 0; a < 3 && strcmp(it, "_all"); a++) {
				int anyone = 0;
				for (int j = 0; j < 8; j++)
					anyone |= m->member[a][j] && m->present[j];
				if (!anyone)
					continue; /* an alias with no index does not exist */
				int ahit =
				    pattern ? !fnmatch(it, apool[a], 0) : !strcmp(it, apool[a]);
				if (ahit) {
					named = 1;
					if (m->member[a][i])
						hit = 1;
				}
			}
			if (hit) {
				sel[i] = on;
				named = 1;
			}
		}
		if (!named && on && !pattern)
			return -1;
	}
	return 0;
}

static void test_resolve_brute(void **state)
{
	(void)state;
	srand(7);
	char err[512];
	for (int round = 0; round < 200; round++) {
		fake_host h = {0};
		catalog *c = open_with(&h);
		model m;
		memset(&m, 0, sizeof m);
		for (int i = 0; i < 8; i++)
			if ((m.present[i] = rand() % 3 != 0))
				assert_int_equal(
				    cat_create(c, pool[i], "{}", 2, 1, err, sizeof err), TRAWL_OK);
		for (int a = 0; a < 3; a++)
			for (int i = 0; i < 8; i++)
				if (m.present[i] && rand() % 3 == 0) {
					m.member[a][i] = 1;
					add_alias(c, pool[i], apool[a], -1);
				}
		for (int q = 0; q < 50; q++) {
			char items[3][16], expr[64] = "";
			int n = 1 + rand() % 3;
			for (int k = 0; k < n; k++) {
				int kind = rand() % 4;
				const char *base = kind == 0   ? pool[rand() % 8]
				                   : kind == 1 ? apool[rand() % 3]
				                               : pats[rand() % 8];
				snprintf(items[k], sizeof items[k], "%s%s",
				         rand() % 4 == 0 ? "-" : "", base);
				snprintf(expr + strlen(expr), sizeof expr - strlen(expr), "%s%s",
				         k ? "," : "", items[k]);
			}
			int sel[8];
			int want = brute(&m, items, n, sel);
			cat_set s;
			int rc = cat_resolve(c, expr, 0, &s, NULL, 0, err, sizeof err);
			if (want < 0) {
				if (rc != TRAWL_ENOTFOUND)
					fail_msg("%s: rc %d, wanted not found", expr, rc);
				continue;
			}
			if (rc)
				fail_msg("%s: rc %d: %s", expr, rc, err);
			char wantb[128] = "", got[128];
			for (int i = 0; i < 8; i++)
				if (sel[i]) /* pool is in name order */
					snprintf(wantb + strlen(wantb),
					         sizeof wantb - strlen(wantb), "%s%s",
					         *wantb ? "," : "", pool[i]);
			if (strcmp(names(&s, got, sizeof got), wantb))
				fail_msg("%s: [%s], wanted [%s]", expr, got, wantb);
			cat_set_release(&s);
		}
		cat_close(c);
	}
}

/* ---- deleting while a request holds the index ---- */

typedef struct holder {
	cat_set s;
	fake_host *h;
} holder;

static void *hold_then_release(void *arg)
{
	holder *x = arg;
	usleep(100 * 1000);
	x->h->holder_done = 1;
	cat_set_release(&x->s);
	return NULL;
}

static void test_delete_waits(void **state)
{
	(void)state;
	fake_host h = {0};
	catalog *c = open_with(&h);
	char err[512];
	assert_int_equal(cat_create(c, "one", "{}", 2, 1, err, sizeof err), TRAWL_OK);
	assert_int_equal(cat_create(c, "two", "{}", 2, 1, err, sizeof err), TRAWL_OK);
	add_alias(c, "one", "al", -1);
	holder x = {.h = &h};
	assert_int_equal(cat_resolve(c, "one", 0, &x.s, NULL, 0, err, sizeof err), TRAWL_OK);
	pthread_t t;
	pthread_create(&t, NULL, hold_then_release, &x);
	uint32_t n;
	assert_int_equal(cat_delete(c, "one", &n, err, sizeof err), TRAWL_OK);
	assert_int_equal(n, 1);
	assert_int_equal(h.dropped, 1);
	assert_true(h.drop_saw_holder_done); /* dropped only after the release */
	pthread_join(t, NULL);
	/* gone from the catalog and from its alias (the alias with it) */
	expect(c, "one", 0, TRAWL_ENOTFOUND, "one");
	expect(c, "al", 0, TRAWL_ENOTFOUND, "al");
	assert_string_equal(h.saved, "{}");
	/* an alias does not delete its index (OpenSearch's 400); unknown names
	 * are an error */
	add_alias(c, "two", "al2", -1);
	assert_int_equal(cat_delete(c, "al2", &n, err, sizeof err), TRAWL_EQUERY);
	assert_non_null(strstr(err, "matches an alias"));
	assert_int_equal(cat_delete(c, "nope", &n, err, sizeof err), TRAWL_ENOTFOUND);
	assert_int_equal(cat_delete(c, "t*", &n, err, sizeof err), TRAWL_OK);
	assert_int_equal(n, 1);
	assert_int_equal(h.dropped, 2);
	/* a failed creation leaves no trace; the name is free again */
	assert_int_equal(cat_create(c, "fails", "{}", 2, 1, err, sizeof err), TRAWL_EIO);
	expect(c, "fails", 0, TRAWL_ENOTFOUND, "fails");
	assert_int_equal(cat_create(c, "Bad", "{}", 2, 1, err, sizeof err), TRAWL_EQUERY);
	assert_int_equal(cat_create(c, "_x", "{}", 2, 1, err, sizeof err), TRAWL_EQUERY);
	cat_close(c);
}

/* ---- alias actions: all or none ---- */

static void test_aliases_atomic(void **state)
{
	(void)state;
	fake_host h = {0};
	catalog *c = open_with(&h);
	char err[512];
	assert_int_equal(cat_create(c, "old", "{}", 2, 1, err, sizeof err), TRAWL_OK);
	assert_int_equal(cat_create(c, "new", "{}", 2, 1, err, sizeof err), TRAWL_OK);
	add_alias(c, "old", "live", -1);
	/* the second action fails: the first is not applied */
	cat_alias_action acts[2] = {{CAT_ALIAS_ADD, "new", "live", -1, 0},
	                            {CAT_ALIAS_REMOVE, "old", "nothere", -1, 1}};
	assert_int_equal(cat_aliases_apply(c, acts, 2, err, sizeof err), TRAWL_ENOTFOUND);
	assert_non_null(strstr(err, "aliases [nothere] missing"));
	expect(c, "live", 0, TRAWL_OK, "old");
	/* a failed save changes nothing either */
	h.fail_save = 1;
	acts[1] = (cat_alias_action){CAT_ALIAS_REMOVE, "old", "live", -1, 0};
	assert_int_equal(cat_aliases_apply(c, acts, 2, err, sizeof err), TRAWL_ENOSPC);
	expect(c, "live", 0, TRAWL_OK, "old");
	h.fail_save = 0;
	/* the swap: add the new index, remove the old one, at once */
	assert_int_equal(cat_aliases_apply(c, acts, 2, err, sizeof err), TRAWL_OK);
	expect(c, "live", 0, TRAWL_OK, "new");
	/* two write indexes are refused */
	add_alias(c, "new", "w", 1);
	cat_alias_action two = {CAT_ALIAS_ADD, "old", "w", 1, 0};
	assert_int_equal(cat_aliases_apply(c, &two, 1, err, sizeof err), TRAWL_EQUERY);
	/* remove_index: the index goes with its aliases, in the same step */
	cat_alias_action ri[2] = {{CAT_ALIAS_ADD, "old", "live", -1, 0},
	                          {CAT_ALIAS_REMOVE_INDEX, "new", NULL, -1, 0}};
	assert_int_equal(cat_aliases_apply(c, ri, 2, err, sizeof err), TRAWL_OK);
	assert_int_equal(h.dropped, 1);
	expect(c, "live", 0, TRAWL_OK, "old");
	expect(c, "w", 0, TRAWL_ENOTFOUND, "w");
	/* the swap: an index replaced by an alias of its name, in one step */
	assert_int_equal(cat_create(c, "f", "{}", 2, 1, err, sizeof err), TRAWL_OK);
	cat_alias_action swap[2] = {{CAT_ALIAS_REMOVE_INDEX, "f", NULL, -1, 0},
	                            {CAT_ALIAS_ADD, "old", "f", -1, 0}};
	assert_int_equal(cat_aliases_apply(c, swap, 2, err, sizeof err), TRAWL_OK);
	assert_int_equal(h.dropped, 2);
	expect(c, "f", 0, TRAWL_OK, "old");
	expect(c, "f", CAT_NO_ALIASES, TRAWL_ENOTFOUND, "f");
	/* a delete whose aliases cannot be saved deletes nothing */
	h.fail_save = 1;
	uint32_t nd;
	assert_int_equal(cat_delete(c, "old", &nd, err, sizeof err), TRAWL_ENOSPC);
	assert_int_equal(nd, 0);
	expect(c, "old", 0, TRAWL_OK, "old");
	h.fail_save = 0;
	/* what was saved loads back the same */
	char saved[4096];
	snprintf(saved, sizeof saved, "%s", h.saved);
	assert_int_equal(cat_aliases_load(c, saved, strlen(saved), err, sizeof err), TRAWL_OK);
	size_t len;
	char *again = cat_aliases_json(c, &len);
	assert_string_equal(again, saved);
	free(again);
	assert_int_equal(cat_aliases_load(c, "{\"a\": 3}", 8, err, sizeof err), TRAWL_EQUERY);
	assert_int_equal(cat_aliases_load(c, "[", 1, err, sizeof err), TRAWL_EQUERY);
	expect(c, "live", 0, TRAWL_OK, "old"); /* a bad file changed nothing */
	cat_close(c);
}

/* A server of one index (trawl serve INDEX_DIR, a cluster's root): the
 * expressions clients send it. */
static void test_one_index(void **state)
{
	(void)state;
	catalog *c;
	char err[256];
	assert_int_equal(cat_open(&c, NULL, "one"), TRAWL_OK);
	assert_int_equal(cat_add(c, "trawl", NULL, NULL, err, sizeof err), TRAWL_OK);
	expect(c, "trawl", 0, TRAWL_OK, "trawl");
	expect(c, "_all", 0, TRAWL_OK, "trawl");
	expect(c, "*", 0, TRAWL_OK, "trawl");
	expect(c, "tr*", 0, TRAWL_OK, "trawl");
	expect(c, "x*", 0, TRAWL_OK, "");
	expect(c, "x*,trawl", 0, TRAWL_OK, "trawl");
	expect(c, "*,-trawl", 0, TRAWL_OK, "");
	expect(c, "*,-x*", 0, TRAWL_OK, "trawl");
	expect(c, "trawl,,", 0, TRAWL_OK, "trawl");
	expect(c, "other", 0, TRAWL_ENOTFOUND, "other");
	expect(c, "trawl,other", 0, TRAWL_ENOTFOUND, "other");
	expect(c, "Trawl", 0, TRAWL_ENOTFOUND, "Trawl");
	cat_close(c);
}

static void test_names(void **state)
{
	(void)state;
	char err[256];
	assert_int_equal(cat_check_name("logs-2026.12", err, sizeof err), 0);
	const char *bad[] = {"", ".", "..", "_x", "-x", "+x", "A", "a b", "a/b", "a*", "a:b", "a#"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (cat_check_name(bad[i], err, sizeof err) == 0)
			fail_msg("[%s] accepted", bad[i]);
	char longname[300];
	memset(longname, 'a', 256);
	longname[256] = 0;
	assert_int_equal(cat_check_name(longname, err, sizeof err), -1);
	/* a catalog without a host has fixed indexes */
	catalog *c;
	assert_int_equal(cat_open(&c, NULL, "fixed"), TRAWL_OK);
	assert_int_equal(cat_add(c, "Old_Dir", NULL, NULL, err, sizeof err), TRAWL_OK);
	assert_int_equal(cat_create(c, "x", "{}", 2, 1, err, sizeof err), TRAWL_EINVAL);
	uint32_t n;
	assert_int_equal(cat_delete(c, "Old_Dir", &n, err, sizeof err), TRAWL_EINVAL);
	expect(c, "_all", 0, TRAWL_OK, "Old_Dir");
	cat_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_resolve),      cmocka_unit_test(test_resolve_brute),
	    cmocka_unit_test(test_delete_waits), cmocka_unit_test(test_aliases_atomic),
	    cmocka_unit_test(test_one_index),    cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
