/*
 * testdir.h - a temporary directory for the unit tests of files that live
 * on disk (wlog_test.c, ingest_test.c): cmocka's setup makes a new one for
 * each test, teardown removes it with all it holds. g_path names a file in
 * it (TESTDIR_FILE, default "wlog.mdb"); TESTDIR_TEST(f) is test f with
 * both. For test programs only: it defines
 * its variables and functions static, once per test program.
 */
#ifndef TRAWL_INDEX_TESTDIR_H
#define TRAWL_INDEX_TESTDIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#ifndef TESTDIR_FILE
#define TESTDIR_FILE "wlog.mdb"
/* A cmocka test with its own directory. */
#define TESTDIR_TEST(f) cmocka_unit_test_setup_teardown(f, testdir_setup, testdir_teardown)

#endif

static char g_dir[64];
static char g_path[128];

static int testdir_rm(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb;
	(void)flag;
	(void)f;
	return remove(p);
}

static int testdir_setup(void **state)
{
	(void)state;
	snprintf(g_dir, sizeof g_dir, "/tmp/trawl-test-XXXXXX");
	if (!mkdtemp(g_dir))
		return -1;
	snprintf(g_path, sizeof g_path, "%s/%s", g_dir, TESTDIR_FILE);
	return 0;
}

static int testdir_teardown(void **state)
{
	(void)state;
	nftw(g_dir, testdir_rm, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* A cmocka test with its own directory. */
#define TESTDIR_TEST(f) cmocka_unit_test_setup_teardown(f, testdir_setup, testdir_teardown)

#endif
