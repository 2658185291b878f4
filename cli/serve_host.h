/*
 * serve_host.h - the indexes of `trawl serve`: each a leaf, an indexer and
 * a root in this process, found, created and removed under a data
 * directory (issue #12, "many indexes"), and the catalog
 * (root/catalog.h) the HTTP API resolves index names with.
 *
 *   DATA_DIR/<name>/               an index directory, as `trawl index` makes
 *   DATA_DIR/_trawl/aliases.json   the aliases (root/catalog.h's form)
 *   DATA_DIR/_trawl/lock           held by the process that manages the indexes
 *   DATA_DIR/_trawl/new-PID-N/     an index being made (removed at start)
 *   DATA_DIR/_trawl/old-PID-N/     an index being removed (removed at start)
 *
 * No index name starts with '_' (OpenSearch's rule), so the host's files
 * never meet an index; one process manages a data directory (the lock): a
 * second one, or one started --read-only, serves its indexes and refuses
 * to create, delete or alias them.
 *
 * A directory that is itself an index (it holds CURRENT) is served as the
 * one index of a fixed catalog, as before data directories: `trawl serve
 * INDEX_DIR` keeps working, and refuses to create or delete indexes.
 */
#ifndef TRAWL_CLI_SERVE_HOST_H
#define TRAWL_CLI_SERVE_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "root/catalog.h"

typedef struct serve_host_config {
	const char *name; /* INDEX_DIR's index name (NULL: its base name) */
	unsigned workers; /* a leaf's workers, per index */
	unsigned queue;   /* a leaf's queue, per index (0: the default) */
	int64_t scrub;    /* leaf_config.scrub_bytes_per_s */
	unsigned scrub_period;
	long cache_mb;        /* each root's result cache */
	long refresh_ms;      /* each indexer's refresh interval */
	uint64_t max_backlog; /* each indexer's trawl_indexer_opts.backlog_ops (0: default) */
	unsigned flood_pct;   /* each indexer's trawl_indexer_opts.flood_pct (0: default) */
	int read_only;        /* no indexers: writes are refused */
	int writes_normal;    /* each indexer at the caller's CPU priority (else
	                         trawl_indexer_opts.low_priority) */
	int quiet;
} serve_host_config;

typedef struct serve_host serve_host;

/*
 * serve_host_open serves dir: the index it is, or every index under it
 * (made if missing). *cat is the catalog to give the HTTP API (the host's:
 * serve_host_close frees it). Errors name the directory and what failed.
 */
int serve_host_open(serve_host **out, const char *dir, const serve_host_config *cfg, catalog **cat,
                    char *err, size_t errlen);
/* serve_host_banner: one line on what is served, for the log. */
void serve_host_banner(serve_host *h, char *buf, size_t cap);
/* serve_host_close stops every index (after the HTTP API stopped). */
void serve_host_close(serve_host *h);

#endif
