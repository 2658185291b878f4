/*
 * fuzz_run.c - fuzz target for run files and the merge that reads them
 * (shard/run.c, shard/merge.c, shard/join.c).
 *
 * A run reaches the builder from a `trawl build-worker` process over the
 * network, so its bytes are outside input: the builder checks its checksum
 * and table (sh_run_check) and its parameters (sh_run_fits), and the merge
 * must then survive any content, ending with TRAWL_ECORRUPT rather than
 * reading outside the run. This target patches the run's checksum so that
 * mutations reach the decoders, and merges the run as the only item of a
 * build with the default schema and the run's own shard count (at most 4),
 * into a temporary generation directory that it removes.
 *
 * Corpus (tests/fuzz/corpus/run): runs of small builds, made with
 * `trawl index DIR data/fixtures/small.jsonl --partition 0/2 ...` and the
 * like, then kept from DIR/build/.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/hash.h"
#include "shard/sh.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char path[4200];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < SH_RUN_HEAD + 8 || size > (8u << 20))
		return 0;
	/* an exact-size copy, with its checksum made right */
	uint8_t *b = malloc(size);
	if (!b)
		return 0;
	memcpy(b, data, size);
	uint64_t sum = th_hash64(b, size - 8);
	memcpy(b + size - 8, &sum, 8);
	sh_run run;
	char err[512];
	if (sh_run_check(&run, b, size, err, sizeof err) || run.nshards > 4) {
		free(b);
		return 0;
	}
	sh_params p;
	memset(&p, 0, sizeof p);
	idx_schema_default(&p.schema);
	char *json = idx_schema_to_json(&p.schema);
	p.schema_json = json;
	p.nshards = run.nshards;
	p.max_doc = 1u << 20;
	sh_params_hash(&p);
	/* the header must agree with the parameters, as the builder requires */
	uint64_t h = p.hash;
	memcpy(b + 32, &h, 8);
	sum = th_hash64(b, size - 8);
	memcpy(b + size - 8, &sum, 8);
	if (json && sh_run_check(&run, b, size, err, sizeof err) == 0 &&
	    sh_run_fits(&run, &p, run.item, run.item_hash)) {
		char dir[] = "/tmp/fuzz_run.XXXXXX";
		if (mkdtemp(dir)) {
			sh_mergeopts mo = {&p, &run, 1, dir, 1, 2, err, sizeof err};
			sh_mergestats ms;
			(void)sh_merge_all(&mo, &ms);
			remove_tree(dir);
		}
	}
	free(json);
	free(b);
	return 0;
}
