/*
 * alloc_sweep.c - every allocation of opening an index, searching it,
 * fetching from it and closing it, made to fail in turn (issue #13,
 * deliverable 9): each failure must come back as an error (never a crash,
 * never a result that pretends to be whole), and nothing may leak
 * (LeakSanitizer, in the ASan+UBSan build, checks after every run).
 *
 * The program is linked with -Wl,--wrap for malloc, calloc, realloc,
 * strdup and aligned_alloc, so that every call to them from trawl's own
 * code (the static libraries linked in) goes through the wrappers below;
 * the third-party libraries' own allocations (LMDB, zstd, jansson,
 * libstemmer, utf8proc: shared libraries) are not failed. A small index is
 * built first with nothing failing. Then run n fails the n-th allocation
 * of the scenario (n = 0, 1, ...) and the sweep ends with the first run in
 * which no allocation was failed: that run must have succeeded whole.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trawl/trawl.h"

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_LSAN 1
#endif
#endif
#ifdef HAVE_LSAN
#include <sanitizer/lsan_interface.h>
#endif

/* ---- the wrappers ---- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t m, size_t n);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
void *__real_aligned_alloc(size_t a, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t m, size_t n);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
void *__wrap_aligned_alloc(size_t a, size_t n);

static long countdown = -1; /* allocations to let through before failing one; -1: none */
static int failed;          /* an allocation was failed in this run */
static long seen;           /* allocations in this run */

static int fail_now(void)
{
	seen++;
	if (countdown < 0)
		return 0;
	if (countdown-- == 0) {
		failed = 1;
		return 1;
	}
	return 0;
}

void *__wrap_malloc(size_t n)
{
	return fail_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t m, size_t n)
{
	return fail_now() ? NULL : __real_calloc(m, n);
}

void *__wrap_realloc(void *p, size_t n)
{
	return fail_now() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
	return fail_now() ? NULL : __real_strdup(s);
}

void *__wrap_aligned_alloc(size_t a, size_t n)
{
	return fail_now() ? NULL : __real_aligned_alloc(a, n);
}

/* ---- the scenario ---- */

static const char *schema =
    "{\"fields\":{\"title\":{\"type\":\"text\"},\"body\":{\"type\":\"text\"},"
    "\"tag\":{\"type\":\"keyword\"},\"size\":{\"type\":\"long\"},"
    "\"date\":{\"type\":\"date\"}}}";

static const char *docs[] = {
    "{\"id\":\"a1\",\"tag\":[\"x\",\"y\"],\"size\":10,\"date\":\"2020-01-05\","
    "\"title\":\"The history of Europe\",\"body\":\"Wars and music shaped the "
    "states of Europe; new states rose from old empires.\"}",
    "{\"id\":\"a2\",\"tag\":\"x\",\"size\":20,\"date\":\"2021-03-01\",\"title\":\"Music of the "
    "Baroque\",\"body\":\"Bach and Handel wrote music "
    "for the churches and courts of German states.\"}",
    "{\"id\":\"a3\",\"tag\":\"y\",\"size\":35,\"date\":\"2021-07-09\",\"title\":\"New "
    "York\",\"body\":\"New York is a city of music, theatre "
    "and history, the largest of the United States.\"}",
    "{\"id\":\"a4\",\"tag\":\"z\",\"size\":5,\"title\":\"Volcanoes\",\"body\":\"A volcano is a "
    "rupture in the crust; "
    "glaciers on volcanoes melt when they erupt.\"}",
    "{\"id\":\"a5\",\"tag\":\"x\",\"size\":50,\"date\":\"2022-11-30\",\"title\":\"The war of the "
    "states\",\"body\":\"History remembers the war "
    "that divided the states, its music and its songs.\"}",
};

/* Open, search (with stored documents and snippets), fetch, get, close.
 * Returns 0 when every step succeeded, else the first error; *whole says
 * whether every answer was complete and right, *wrong whether a step that
 * returned success gave a wrong answer (a failed allocation taken for "no
 * match": never allowed). A NULL from trawl_results_doc or _snippet is
 * how those report a failed allocation: allowed, not whole. */
static int scenario(const char *dir, int *whole, int *wrong)
{
	char err[512];
	*whole = 0;
	*wrong = 0;
	trawl_index *idx = NULL;
	int rc = trawl_index_open(&idx, dir, err, sizeof err);
	if (rc)
		return rc;
	trawl_searcher *s = NULL;
	if ((rc = trawl_searcher_open(&s, idx))) {
		trawl_index_close(idx);
		return rc;
	}
	const char *q = "music states history";
	trawl_search_opts o = {.k = 10, .count_mode = TRAWL_COUNT_EXACT};
	trawl_results *r = NULL;
	rc = trawl_search(s, q, strlen(q), &o, &r);
	int good = 0;
	if (!rc) {
		good = trawl_results_count(r) == 4 && trawl_results_total(r) == 4;
		*wrong |= !good;
		for (uint32_t i = 0; i < trawl_results_count(r) && good; i++) {
			size_t len = 0;
			int derr = 0;
			const char *doc = trawl_results_doc(r, i, &len, &derr);
			const char *snip = trawl_results_snippet(r, i, "body", NULL, NULL, 80);
			if (!doc || !snip || !trawl_results_id(r, i))
				good = 0; /* an allocation failed inside: a NULL, not a crash */
		}
	}
	trawl_docref refs[2] = {{0, 0}, {0, 1}};
	trawl_results *f = NULL;
	if (!rc)
		rc = trawl_fetch(s, q, strlen(q), refs, 2, &f);
	if (!rc) {
		int ok =
		    trawl_results_count(f) == 2 && trawl_results_id(f, 0) && trawl_results_id(f, 1);
		*wrong |= !ok;
		good = good && ok;
	}
	char *json = NULL;
	size_t jlen = 0;
	if (!rc)
		rc = trawl_get(s, "a3", &json, &jlen);
	if (!rc) {
		int ok = json && strstr(json, "New York") != NULL;
		*wrong |= !ok;
		good = good && ok;
	}
	free(json);
	/* typed fields: a filter, a sort and aggregations */
	trawl_aggs *ag = NULL;
	const char *aspec = "{\"t\":{\"terms\":{\"field\":\"tag\"}},"
	                    "\"h\":{\"histogram\":{\"field\":\"size\",\"interval\":10}},"
	                    "\"d\":{\"date_histogram\":{\"field\":\"date\","
	                    "\"calendar_interval\":\"year\"}},"
	                    "\"s\":{\"stats\":{\"field\":\"size\"}}}";
	if (!rc)
		rc = trawl_aggs_parse(&ag, aspec, strlen(aspec), err, sizeof err);
	trawl_results *t = NULL;
	if (!rc) {
		const char *tq = "music #tag:x";
		trawl_sort by = {"size", 1, 0, TRAWL_SORT_DEFAULT};
		trawl_search_opts to = {
		    .k = 10, .count_mode = TRAWL_COUNT_EXACT, .sort = &by, .nsort = 1, .aggs = ag};
		rc = trawl_search(s, tq, strlen(tq), &to, &t);
	}
	if (!rc) {
		/* a5 (size 50), a2 (20), a1 (10): "music" and tag x, largest first */
		int ok = trawl_results_count(t) == 3 && trawl_results_total(t) == 3 &&
		         trawl_results_id(t, 0) && !strcmp(trawl_results_id(t, 0), "a5");
		*wrong |= !ok;
		good = good && ok;
		char *aj = trawl_results_aggs(t, 0);
		/* NULL when its allocation failed: reported, not whole */
		good = good && aj && strstr(aj, "\"doc_count\":3") != NULL;
		free(aj);
	}
	trawl_results_free(t);
	trawl_aggs_free(ag);
	trawl_results_free(f);
	trawl_results_free(r);
	trawl_searcher_close(s);
	trawl_index_close(idx);
	*whole = good;
	return rc;
}

static int build(const char *dir, const char *file)
{
	FILE *fp = fopen(file, "w");
	if (!fp)
		return 1;
	for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
		fprintf(fp, "%s\n", docs[i]);
	fclose(fp);
	char err[512];
	trawl_builder *b;
	trawl_build_opts bo = {0};
	bo.schema_json = schema;
	int rc = trawl_builder_open(&b, dir, &bo, err, sizeof err);
	if (rc) {
		fprintf(stderr, "alloc_sweep: %s\n", err);
		return 1;
	}
	trawl_build_report rep;
	if ((rc = trawl_builder_add_file(b, file)) || (rc = trawl_builder_commit(b, &rep)))
		fprintf(stderr, "alloc_sweep: %s\n", trawl_builder_errmsg(b));
	trawl_builder_close(b);
	return rc != 0;
}

int main(void)
{
	char tmp[] = "/tmp/trawl-alloc-sweep-XXXXXX";
	if (!mkdtemp(tmp)) {
		perror("alloc_sweep: mkdtemp");
		return 1;
	}
	char dir[600], file[600];
	snprintf(dir, sizeof dir, "%s/ix", tmp);
	snprintf(file, sizeof file, "%s/docs.jsonl", tmp);
	if (build(dir, file))
		return 1;
	int bad = 0, whole = 0, wrong = 0;
	long n, errors = 0;
	for (n = 0;; n++) {
		countdown = n;
		failed = 0;
		seen = 0;
		int rc = scenario(dir, &whole, &wrong);
		countdown = -1;
#ifdef HAVE_LSAN
		if (__lsan_do_recoverable_leak_check()) {
			fprintf(stderr, "alloc_sweep: a leak after failing allocation %ld\n", n);
			bad++;
		}
#endif
		if (wrong) {
			fprintf(stderr,
			        "alloc_sweep: allocation %ld failed and a step answered "
			        "success with a wrong answer\n",
			        n);
			bad++;
		}
		if (!failed) {
			/* nothing failed: the whole scenario must have worked */
			if (rc || !whole) {
				fprintf(stderr,
				        "alloc_sweep: with no allocation failed: %s, whole %d\n",
				        trawl_strerror(rc), whole);
				bad++;
			}
			break;
		}
		if (!rc && getenv("ALLOC_SWEEP_VERBOSE"))
			fprintf(stderr,
			        "alloc_sweep: allocation %ld failed, every step succeeded, "
			        "whole %d\n",
			        n, whole);
		if (rc) {
			errors++;
			if (rc != TRAWL_ENOMEM && rc != TRAWL_EIO && rc != TRAWL_EINTERNAL)
				/* any error is acceptable, but a failed allocation is best
				 * reported as such: show the others */
				fprintf(stderr, "alloc_sweep: allocation %ld failed -> %s\n", n,
				        trawl_strerror(rc));
		}
	}
	printf("alloc_sweep: %ld allocations in the scenario, each failed in turn: %ld runs "
	       "ended with an error, %ld ran on (a NULL taken in its stride), %d problems\n",
	       n, errors, n - errors, bad);
	char cmd[700];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
	if (system(cmd) != 0)
		fprintf(stderr, "alloc_sweep: could not remove %s\n", tmp);
	return bad ? 1 : 0;
}
