/*
 * fetch.h - the FETCH phase of a query: the stored documents and snippets
 * of the page's winners, asked only of the leaves that returned them, one
 * FETCH per leaf, in the generation each SEARCH ran on. A FETCH that brings
 * nothing back is retried once on another replica of that generation
 * (replicas of a generation hold the same files, so the same doc numbers
 * can be read there). The first try gets half the time left when a
 * retry is possible (all of it otherwise), the retry the rest.
 */
#ifndef TRAWL_ROOT_FETCH_H
#define TRAWL_ROOT_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "root/merge.h"
#include "root/replica.h"
#include "root/result.h"

/*
 * fetch_page fills res->hits[0..n) (allocated by the caller, n =
 * res->nhits) with the ids, stored documents and snippets of win[0..n),
 * by deadline (Unix us). Returns TRAWL_OK; TRAWL_EIO when a leaf did not
 * answer (err names it; "(deadline)" when time ran out), unless the query
 * allows a partial answer (q->allow_partial) and enough shards are left
 * (q->min_coverage): then the winners of that leaf leave the page, their
 * shards count as failed and res is partial (its coverage, total_exact 0
 * and nhits changed); TRAWL_ENOTFOUND when the generation the SEARCH ran
 * on is no longer served there (the caller may search again); TRAWL_ECORRUPT
 * when a winner's stored document failed its checksum at its leaf (err
 * names the leaf, the id, the shard and the doc); TRAWL_ENOMEM.
 */
int fetch_page(replica_set *rs, const root_query *q, const merge_hit *win, root_result *res,
               uint64_t deadline, char *err, size_t errlen);

#endif
