/*
 * catalog.h - the indexes a root answers for, by name, and their aliases
 * (issue #12, "many indexes"). The HTTP layer resolves every index
 * expression of a request here ("logs", "logs-*,-logs-old", "_all", an
 * alias) to the indexes it names, each held by reference for the
 * request's life, so that an index deleted meanwhile is released only
 * when the last request using it is done.
 *
 * A catalog does not know how an index is made or removed: its host does
 * (cat_host). `trawl serve DATA_DIR` is a host (cli/serve_host.c: a leaf,
 * an indexer and a root per index, under a data directory); a cluster's
 * root's host only describes (cli/serve.c): its indexes and aliases are
 * its cluster file's (root/cluster.h), added at start and fixed. Aliases
 * live in the catalog and are handed to the host to keep (its data
 * directory's aliases.json).
 * Every function is thread-safe.
 */
#ifndef TRAWL_ROOT_CATALOG_H
#define TRAWL_ROOT_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"
#include "root/root.h"

typedef struct catalog catalog;
typedef struct cat_index cat_index;

/* What a host says of one of its indexes, for GET /_cat/indices (-1:
 * unknown). */
typedef struct cat_stats {
	int64_t docs;     /* live documents */
	int64_t deleted;  /* deleted documents still in segments */
	int64_t bytes;    /* bytes of the live generation's files */
	uint32_t nshards; /* primary shards */
	uint64_t generation;
} cat_stats;

typedef struct cat_host {
	void *ctx;
	/* create makes the empty index name with schema (trawl's canonical
	 * schema JSON, schema_len bytes) in nshards shards and starts serving
	 * it: *r its root, *data the host's own (given back to drop and
	 * describe). Called without the catalog's lock; the name is reserved
	 * meanwhile. */
	int (*create)(void *ctx, const char *name, const char *schema, size_t schema_len,
	              uint32_t nshards, root **r, void **data, char *err, size_t errlen);
	/* drop stops serving the index and removes its files; no request holds
	 * it any more. */
	int (*drop)(void *ctx, const char *name, root *r, void *data, char *err, size_t errlen);
	/* save makes the aliases (JSON, len bytes: cat_aliases_json's form)
	 * durable; NULL: aliases live as long as the process. */
	int (*save)(void *ctx, const char *json, size_t len, char *err, size_t errlen);
	/* describe fills *out for the index (NULL: everything unknown) */
	void (*describe)(void *ctx, void *data, cat_stats *out);
} cat_host;

/* cat_open makes an empty catalog; host may be NULL (a fixed set of
 * indexes: creating, deleting answer TRAWL_EUNSUPPORTED). name: the
 * cluster's name (GET /, _cluster/health). */
int cat_open(catalog **out, const cat_host *host, const char *name);
/* cat_close drops nothing: the host stops its indexes itself. */
void cat_close(catalog *c);
const char *cat_cluster_name(const catalog *c);
/* cat_fix: from now on the indexes are fixed (another process manages
 * them, or a cluster file defines them): creating, deleting and changing
 * aliases are refused (TRAWL_EINVAL, HTTP 405), with why as the message
 * when not NULL. Call before serving requests. */
void cat_fix(catalog *c, const char *why);
/* cat_can_create: whether indexes can be created and deleted here. */
int cat_can_create(const catalog *c);

/* cat_add registers an index that is already served (at start): r and
 * data are the host's. TRAWL_EINVAL for a name taken, TRAWL_ELIMIT
 * (LIMIT_INDEXES, a name over LIMIT_INDEX_NAME_BYTES). The name is not
 * held to cat_check_name's rules (`trawl serve INDEX_DIR` serves a
 * directory under its own name): a host that scans a data directory
 * checks the names it finds. */
int cat_add(catalog *c, const char *name, root *r, void *data, char *err, size_t errlen);

/* cat_check_name: 0 when name is a valid new index or alias name
 * (OpenSearch's rules: lowercase, 1-255 bytes, none of the characters
 * backslash, slash, star, ?, ", <, >, |, space, comma, # and colon, not
 * starting with _, - or +, not "." or ".."), else -1 with why in err. */
int cat_check_name(const char *name, char *err, size_t errlen);

/* A set of indexes, each held (cat_set_release lets them go). */
typedef struct cat_set {
	uint32_t n;
	cat_index *ix[LIMIT_INDEXES];
} cat_set;

enum {
	CAT_IGNORE_MISSING = 1, /* a name that is neither index nor alias is left out */
	CAT_NO_ALIASES = 2,     /* names must be indexes (DELETE /{index}) */
	CAT_WRITE = 4,          /* one index to write to: an index, or an alias with
	                           one index or a write index */
};

/*
 * cat_resolve resolves an index expression: comma-separated items, each
 * an index or alias name, a wildcard pattern (over indexes and aliases),
 * "_all" or "*" (every index), or "-pattern" (takes what matches out of
 * the indexes gathered so far; only after a wildcard item, as in
 * OpenSearch: before one, "-name" is a name). NULL or "" is "_all". The set is in
 * index name order, each index once. Returns TRAWL_OK (the set may be
 * empty when only patterns were given), TRAWL_ENOTFOUND (err: "no such
 * index [name]"; *missing, cap bytes, the name), TRAWL_EQUERY (with
 * CAT_WRITE: an alias with several indexes and no write index, or
 * several indexes named; err says which).
 */
int cat_resolve(catalog *c, const char *expr, unsigned flags, cat_set *out, char *missing,
                size_t cap, char *err, size_t errlen);
/* cat_all: every index, held. */
void cat_all(catalog *c, cat_set *out);
void cat_set_release(cat_set *s);

const char *cat_name(const cat_index *ix);
root *cat_root(const cat_index *ix);
/* cat_describe: what the host knows of the index (all -1 without one);
 * the live documents, when the host does not know them, counted by a
 * search through the index's root (blocks: call it from a worker). */
void cat_describe(catalog *c, const cat_index *ix, cat_stats *out);

/*
 * cat_create creates index name (see cat_host.create). TRAWL_EINVAL when
 * an index or alias has the name (or another request is creating it), or
 * without a host (err says which); TRAWL_ELIMIT past LIMIT_INDEXES;
 * TRAWL_EQUERY for a bad name; else the host's error.
 */
int cat_create(catalog *c, const char *name, const char *schema, size_t schema_len,
               uint32_t nshards, char *err, size_t errlen);
/*
 * cat_delete deletes the indexes expr names (resolved as by cat_resolve
 * with CAT_NO_ALIASES: an alias does not delete its indexes). They leave
 * the catalog and every alias at once, so that no new request finds them;
 * then each is dropped by the host once no request holds it (this waits
 * for those). *deleted: how many. TRAWL_EINVAL without a host,
 * TRAWL_EQUERY when expr names an alias (OpenSearch's 400: "specify the
 * corresponding concrete indices").
 */
int cat_delete(catalog *c, const char *expr, uint32_t *deleted, char *err, size_t errlen);

/* One step of POST /_aliases. */
typedef struct cat_alias_action {
	enum { CAT_ALIAS_ADD, CAT_ALIAS_REMOVE, CAT_ALIAS_REMOVE_INDEX } op;
	const char *index; /* an index expression (wildcards allowed) */
	const char *alias; /* an alias name, or a pattern for remove */
	int is_write;      /* add: -1 unset, 0 false, 1 true */
	int must_exist;    /* remove: fail when no such alias (default false) */
} cat_alias_action;

/*
 * cat_aliases_apply applies the actions all or none (OpenSearch's atomic
 * _aliases), then has the host save the result. TRAWL_ENOTFOUND for a
 * missing index or (must_exist) alias, TRAWL_EQUERY for a bad action
 * (an alias named like an index, two write indexes), TRAWL_ELIMIT
 * (LIMIT_ALIASES), or the save's error (then nothing changed). A
 * remove_index action deletes the indexes as cat_delete does.
 */
int cat_aliases_apply(catalog *c, const cat_alias_action *acts, uint32_t n, char *err,
                      size_t errlen);
/*
 * cat_aliases_load replaces the aliases with those of json (len bytes, the
 * form cat_aliases_json writes): at start, from the host's file. Aliases
 * of indexes not in the catalog are dropped. TRAWL_EQUERY for a bad file
 * (err names the key).
 */
int cat_aliases_load(catalog *c, const char *json, size_t len, char *err, size_t errlen);
/*
 * cat_aliases_json: the aliases as JSON, {"alias": {"indexes": [...],
 * "write_index": "name" or null}, ...} in name order (malloc'ed; NULL when
 * out of memory).
 */
char *cat_aliases_json(catalog *c, size_t *len);

/* cat_aliases_of: the aliases that name index, in name order, written
 * into names (each LIMIT_INDEX_NAME_BYTES + 1), at most max; *write[i]
 * whether the index is that alias's write index. Returns how many. */
uint32_t cat_aliases_of(catalog *c, const char *index, char (*names)[LIMIT_INDEX_NAME_BYTES + 1],
                        int *write, uint32_t max);

#endif
