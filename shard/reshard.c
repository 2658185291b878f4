/*
 * reshard.c - a new generation with another number of shards, built from
 * the stored documents of the live one: every document is read back (its
 * checksum verified), given to a builder as a _bulk index action with its
 * external id, and the pipeline does the rest. The original input is not
 * needed, but every text field must be stored, or the text is gone.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "sh.h"

#define FETCH_BATCH 256

int trawl_reshard(const char *dir, uint32_t shards, const trawl_build_opts *opts,
                  trawl_build_report *rep, char *errbuf, size_t errlen)
{
	trawl_index *idx = NULL;
	trawl_searcher *s = NULL;
	trawl_builder *b = NULL;
	int rc = trawl_index_open(&idx, dir, errbuf, errlen);
	if (rc)
		return rc;
	if ((rc = trawl_searcher_open(&s, idx))) {
		trawl_index_close(idx);
		return errf(errbuf, errlen, rc, "%s: %s", dir, trawl_strerror(rc));
	}
	trawl_index_stats st;
	trawl_index_get_stats(idx, &st);
	trawl_build_opts o = {0};
	if (opts)
		o = *opts;
	o.shards = shards;
	o.schema_path = NULL;
	o.schema_json = trawl_index_schema(idx);
	o.part_count = 0;
	if ((rc = trawl_builder_open(&b, dir, &o, errbuf, errlen)))
		goto out;
	if ((rc = sh_builder_check_stored(b, errbuf, errlen)))
		goto out;
	trawl_docref refs[FETCH_BATCH];
	for (uint32_t sh = 0; sh < st.shards && rc == TRAWL_OK; sh++) {
		for (uint32_t from = 0;; from += FETCH_BATCH) {
			for (uint32_t i = 0; i < FETCH_BATCH; i++)
				refs[i] = (trawl_docref){sh, from + i};
			trawl_results *r;
			if ((rc = trawl_fetch(s, "", 0, refs, FETCH_BATCH, &r))) {
				errf(errbuf, errlen, rc, "%s: shard %u: %s", dir, sh,
				     trawl_strerror(rc));
				break;
			}
			uint32_t n = trawl_results_count(r), got = 0;
			for (uint32_t i = 0; i < n && rc == TRAWL_OK; i++) {
				const char *id = trawl_results_id(r, i);
				if (!id)
					break;
				got++;
				size_t len = 0;
				int e = 0;
				const char *doc = trawl_results_doc(r, i, &len, &e);
				if (!doc) {
					rc = errf(errbuf, errlen, e ? e : TRAWL_ECORRUPT,
					          "%s: shard %u, document %u (\"%s\"): %s", dir, sh,
					          from + i, id,
					          trawl_strerror(e ? e : TRAWL_ECORRUPT));
					break;
				}
				if ((rc = sh_builder_add_indexed(b, id, strlen(id), doc, len)))
					errf(errbuf, errlen, rc, "%s", trawl_builder_errmsg(b));
			}
			trawl_results_free(r);
			if (rc || got < FETCH_BATCH)
				break;
		}
	}
	/* the old generation is read: let go of it before the publish */
	trawl_searcher_close(s);
	s = NULL;
	trawl_index_close(idx);
	idx = NULL;
	if (rc == TRAWL_OK && (rc = trawl_builder_commit(b, rep)))
		errf(errbuf, errlen, rc, "%s", trawl_builder_errmsg(b));
out:
	trawl_builder_close(b);
	trawl_searcher_close(s);
	trawl_index_close(idx);
	return rc;
}
