/*
 * build_index.c - trawl's engine for the Search Benchmark Game protocol
 * (../shared/peers): `build_index INDEX_DIR < corpus.jsonl`, where every
 * line is {"id": ..., "text": ...}. The index has one text field, `text`,
 * with the plain analyzer (folding, no stop words, no stemming), BM25 with
 * Lucene's k1 1.2 and b 0.75, and stores nothing but the ids, as the Lucene
 * peer does. One worker thread, like the single-threaded peers, unless
 * TRAWL_WORKERS says otherwise (bench/speed measures 1 and 2).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>

#include "trawl/trawl.h"

static const char schema[] =
	"{\"fields\":{\"text\":{\"type\":\"text\",\"analyzer\":\"plain\",\"k1\":1.2,\"b\":0.75}},"
	"\"store\":\"none\"}";

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: build_index INDEX_DIR < corpus.jsonl\n");
		return EX_USAGE;
	}
	trawl_build_opts o = {.shards = 1, .schema_json = schema, .workers = 1, .workers_set = 1};
	const char *w = getenv("TRAWL_WORKERS");
	if (w && atoi(w) >= 1 && atoi(w) <= 64)
		o.workers = (unsigned)atoi(w);
	char err[1024];
	trawl_builder *b;
	int rc = trawl_builder_open(&b, argv[1], &o, err, sizeof err);
	if (rc) {
		fprintf(stderr, "build_index: %s\n", err);
		return EX_SOFTWARE;
	}
	trawl_build_report rep;
	rc = trawl_builder_add_file(b, "-");
	if (rc == 0)
		rc = trawl_builder_commit(b, &rep);
	if (rc) {
		fprintf(stderr, "build_index: %s\n", trawl_builder_errmsg(b));
		trawl_builder_close(b);
		return EX_DATAERR;
	}
	fprintf(stderr, "build_index: %llu documents in %.2f s\n", (unsigned long long)rep.docs,
	        rep.seconds);
	trawl_builder_close(b);
	return 0;
}
