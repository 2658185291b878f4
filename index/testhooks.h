/*
 * testhooks.h - switches that only the unit tests flip.
 *
 * They exist only in code compiled with -DTRAWL_TEST_HOOKS: index/meson.build
 * compiles the files that read one a second time, with it, into
 * trawl_index_test, which is what the tests link (index_dep). libtrawl and
 * the trawl tool are built without it and have neither the variables nor the
 * checks, so a test that sets a hook cannot link against them by mistake.
 * None is thread-safe: a test sets one, makes its calls, and clears it.
 */
#ifndef TRAWL_INDEX_TESTHOOKS_H
#define TRAWL_INDEX_TESTHOOKS_H

#ifdef TRAWL_TEST_HOOKS
/* query.c: when nonzero, each allocation of the query parser decrements it,
 * and the one that brings it to zero fails (query_test.c's ENOMEM cases). */
extern unsigned long idx_query_fail_after;

/* searcher.c: when nonzero, trawl_search evaluates every document, with no
 * pruning; the results must be the same, scores bit for bit (search_test.c
 * compares the two). */
extern int idx_search_exhaustive;

/* wlog.c: when set, the writer calls it before each commit, and a nonzero
 * return fails the commit as a full disk would (wlog_test.c submits more
 * appends from it, to see them fail behind the failed one). */
extern int (*idx_wlog_commit_hook)(void);

/* wlog.c: how many threads wait in idx_wlog_wait_durable now (a test
 * waits for its readers to be there before it lets a commit fail). */
extern int idx_wlog_durable_waiters;
#endif

#endif
