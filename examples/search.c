/*
 * search.c - a complete program embedding libtrawl: builds an index from a
 * JSON Lines file, then answers one query with ids, scores and snippets.
 *
 *   cc search.c $(pkg-config --cflags --libs trawl) -o search
 *   ./search /tmp/idx docs.jsonl 'solar eclipse'
 */
#include <stdio.h>
#include <string.h>

#include <trawl/trawl.h>

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s INDEX_DIR DOCS.jsonl QUERY\n", argv[0]);
		return 64;
	}
	char err[1024];

	/* Build: the builder owns nothing of ours; commit publishes atomically. */
	trawl_builder *b;
	int rc = trawl_builder_open(&b, argv[1], NULL, err, sizeof err);
	if (rc) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	trawl_build_report rep;
	if ((rc = trawl_builder_add_file(b, argv[2])) || (rc = trawl_builder_commit(b, &rep))) {
		fprintf(stderr, "%s: %s\n", trawl_strerror(rc), trawl_builder_errmsg(b));
		trawl_builder_close(b);
		return 1;
	}
	trawl_builder_close(b);
	printf("indexed %llu documents\n", (unsigned long long)rep.docs);

	/* Search: one index, one searcher per thread, results freed by us. */
	trawl_index *idx;
	if ((rc = trawl_index_open(&idx, argv[1], err, sizeof err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	trawl_searcher *s;
	if ((rc = trawl_searcher_open(&s, idx))) {
		trawl_index_close(idx);
		return 1;
	}
	trawl_search_opts o = {.k = 5};
	trawl_results *r;
	rc = trawl_search(s, argv[3], strlen(argv[3]), &o, &r);
	if (rc) {
		fprintf(stderr, "%s: %s\n", trawl_strerror(rc), trawl_searcher_errmsg(s));
	} else {
		printf("%llu matches\n", (unsigned long long)trawl_results_total(r));
		for (uint32_t i = 0; i < trawl_results_count(r); i++) {
			const char *snip = trawl_results_snippet(r, i, "body", "[", "]", 120);
			printf("%-12s %8.4f  %s\n", trawl_results_id(r, i), trawl_results_score(r, i),
			       snip ? snip : "");
		}
		trawl_results_free(r);
	}
	trawl_searcher_close(s);
	trawl_index_close(idx);
	return rc ? 1 : 0;
}
