/*
 * cluster.h - a cluster file (docs/OPERATIONS.md, "The cluster file"): the
 * indexes a cluster's root serves, each with its shards, its leaves and
 * its indexer, and their aliases (issue #12, "many indexes"). Two forms:
 *
 *   one index, named by the root's --name:
 *     {"shards": 4, "leaves": [{"url": "tcp://10.0.0.5:7100", "shards": [0, 1]}, ...],
 *      "indexer": "tcp://10.0.0.9:7300"}          (optional: where writes go)
 *
 *   several indexes, named in the file, and aliases over them:
 *     {"indexes": {"books": {"shards": 4, "leaves": [...], "indexer": "..."},
 *                  "logs": {...}},
 *      "aliases": {"library": {"indexes": ["books"], "write_index": "books"}}}
 *
 * Everything is checked at load, bounded (LIMIT_INDEXES, LIMIT_ALIASES,
 * LIMIT_LEAVES over the whole file), and every error names the file and
 * the key ("cluster.json: indexes.books.leaves[2]: ...").
 */
#ifndef TRAWL_ROOT_CLUSTER_H
#define TRAWL_ROOT_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"
#include "root/root.h"

/* One index of the file: its name and its root's configuration (nshards,
 * nleaves, leaves and indexer_url filled; the rest left zero). */
typedef struct cluster_index {
	char name[LIMIT_INDEX_NAME_BYTES + 1];
	root_config cfg;
} cluster_index;

typedef struct cluster_file {
	uint32_t n;
	cluster_index *ix; /* n of them, in name order */
	int several;       /* the file has the "indexes" form */
	char *aliases;     /* the aliases in cat_aliases_load's form (malloc'ed JSON);
	                      NULL: none */
	size_t aliases_len;
} cluster_file;

/*
 * cluster_file_load reads the cluster file at path. name: the index's name
 * in the one-index form (the root's --name; at most LIMIT_INDEX_NAME_BYTES,
 * its characters not checked, as before).
 * TRAWL_EINVAL with err naming the file and the key for a bad file,
 * TRAWL_ENOMEM. Free with cluster_file_fini (also after a failure).
 */
int cluster_file_load(cluster_file *cf, const char *path, const char *name, char *err,
                      size_t errlen);
/* cluster_file_parse: the same over the file's text (len bytes); path
 * only names it in errors. */
int cluster_file_parse(cluster_file *cf, const char *text, size_t len, const char *path,
                       const char *name, char *err, size_t errlen);
void cluster_file_fini(cluster_file *cf);

#endif
