/*
 * do_query.c - trawl's engine for the Search Benchmark Game protocol:
 * `do_query [--dump] INDEX_DIR` reads COMMAND<TAB>QUERY lines and answers
 * one line each, flushed: COUNT -> the number of matches; TOP_k -> the
 * number of hits returned (min(k, matches)); TOP_k_COUNT -> the number of
 * matches; anything else -> UNSUPPORTED. With --dump, TOP_k answers
 * N<TAB>id1<TAB>score1... The protocol's query syntax (words, +required,
 * -excluded, "phrases") is a subset of trawl's, with the same meaning.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "trawl/trawl.h"

int main(int argc, char **argv)
{
	int dump = 0;
	const char *dir = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--dump"))
			dump = 1;
		else
			dir = argv[i];
	}
	if (!dir) {
		fprintf(stderr, "usage: do_query [--dump] INDEX_DIR\n");
		return EX_USAGE;
	}
	char err[1024];
	trawl_index *idx;
	trawl_searcher *s;
	if (trawl_index_open(&idx, dir, err, sizeof err)) {
		fprintf(stderr, "do_query: %s\n", err);
		return EX_NOINPUT;
	}
	if (trawl_searcher_open(&s, idx)) {
		fprintf(stderr, "do_query: cannot open a searcher\n");
		return EX_SOFTWARE;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	while ((len = getline(&line, &cap, stdin)) >= 0) {
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = 0;
		char *tab = strchr(line, '\t');
		trawl_search_opts o = {0};
		int ok = tab != NULL;
		if (ok) {
			*tab = 0;
			unsigned k = 0;
			char rest[16] = "";
			if (!strcmp(line, "COUNT"))
				o.count_mode = TRAWL_COUNT_ONLY;
			else if (sscanf(line, "TOP_%u%15s", &k, rest) >= 1 && k > 0 && k <= TRAWL_MAX_K &&
			         (!rest[0] || !strcmp(rest, "_COUNT"))) {
				o.k = k;
				o.count_mode = rest[0] ? TRAWL_COUNT_EXACT : TRAWL_COUNT_NONE;
			} else
				ok = 0;
		}
		trawl_results *r = NULL;
		if (ok && trawl_search(s, tab + 1, strlen(tab + 1), &o, &r) != 0)
			ok = 0;
		if (!ok) {
			puts("UNSUPPORTED");
		} else if (o.count_mode != TRAWL_COUNT_NONE) {
			printf("%llu\n", (unsigned long long)trawl_results_total(r));
		} else if (dump) {
			printf("%u", trawl_results_count(r));
			for (uint32_t i = 0; i < trawl_results_count(r); i++)
				printf("\t%s\t%.6f", trawl_results_id(r, i), trawl_results_score(r, i));
			putchar('\n');
		} else {
			printf("%u\n", trawl_results_count(r));
		}
		trawl_results_free(r);
		fflush(stdout);
	}
	free(line);
	trawl_searcher_close(s);
	trawl_index_close(idx);
	return 0;
}
