/*
 * cluster.c - the cluster file (root/cluster.h): one index's shards,
 * leaves and indexer, or several indexes by name and their aliases,
 * checked whole before a root starts. Errors name the file and the key.
 */
#include "root/cluster.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "root/catalog.h"

/* Where an index is in the file, for errors: pre is its keys' prefix ("",
 * or "indexes.books."), at the index itself ("", or "indexes.books: "). */
typedef struct where {
	const char *path;
	char pre[LIMIT_INDEX_NAME_BYTES + 16];
	char at[LIMIT_INDEX_NAME_BYTES + 16];
} where;

static int only_keys(json_t *o, const char *const *keys, const char *path, const char *what,
                     const char *allowed, char *err, size_t errlen);

/* One leaf of an index: leaves[i] of w into lc, its shards marked in
 * covered. */
static int leaf_load(root_leaf_cfg *lc, json_t *l, uint32_t i, uint32_t nshards, const where *w,
                     uint8_t *covered, char *err, size_t errlen)
{
	static const char *const keys[] = {"url", "shards", NULL};
	char what[LIMIT_INDEX_NAME_BYTES + 48];
	snprintf(what, sizeof what, "%sleaves[%u].", w->pre, i);
	if (json_is_object(l) &&
	    only_keys(l, keys, w->path, what, "a leaf has \"url\" and \"shards\"", err, errlen))
		return TRAWL_EINVAL;
	json_t *url = json_object_get(l, "url"), *sh = json_object_get(l, "shards");
	if (!json_is_string(url) || json_string_length(url) >= LIMIT_URL_BYTES ||
	    !json_string_length(url) || !json_is_array(sh) || json_array_size(sh) == 0 ||
	    json_array_size(sh) > 256)
		return errf(err, errlen, TRAWL_EINVAL,
		            "%s: %sleaves[%u]: needs a \"url\" string (1 to %d bytes) and a "
		            "\"shards\" array (1 to 256 shard numbers)",
		            w->path, w->pre, i, LIMIT_URL_BYTES - 1);
	snprintf(lc->url, sizeof lc->url, "%s", json_string_value(url));
	size_t j;
	json_t *v;
	json_array_foreach(sh, j, v)
	{
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) >= (json_int_t)nshards)
			return errf(err, errlen, TRAWL_EINVAL,
			            "%s: %sleaves[%u].shards[%zu]: not a shard of 0..%u", w->path,
			            w->pre, i, j, nshards - 1);
		lc->shards[lc->nshards++] = (uint32_t)json_integer_value(v);
		covered[json_integer_value(v)] = 1;
	}
	return TRAWL_OK;
}

/* One index's object o into cfg (its leaves malloc'ed); *nleaves: the
 * leaves of the file so far (LIMIT_LEAVES over the whole file). */
static int index_load(root_config *cfg, json_t *o, const where *w, uint32_t *nleaves, char *err,
                      size_t errlen)
{
	json_t *shards = json_object_get(o, "shards"), *leaves = json_object_get(o, "leaves");
	if (!json_is_integer(shards) || json_integer_value(shards) < 1 ||
	    json_integer_value(shards) > 256)
		return errf(err, errlen, TRAWL_EINVAL,
		            "%s: %sshards: must be a number from 1 to 256", w->path, w->pre);
	if (!json_is_array(leaves) || json_array_size(leaves) == 0 ||
	    json_array_size(leaves) > LIMIT_LEAVES)
		return errf(err, errlen, TRAWL_EINVAL,
		            "%s: %sleaves: must be an array of 1 to %d leaves", w->path, w->pre,
		            LIMIT_LEAVES);
	if (*nleaves + json_array_size(leaves) > LIMIT_LEAVES)
		return errf(err, errlen, TRAWL_EINVAL,
		            "%s: %sleaves: the file lists more than %d leaves in all", w->path,
		            w->pre, LIMIT_LEAVES);
	*nleaves += (uint32_t)json_array_size(leaves);
	cfg->nshards = (uint32_t)json_integer_value(shards);
	cfg->leaves = calloc(json_array_size(leaves), sizeof *cfg->leaves);
	if (!cfg->leaves)
		return errf(err, errlen, TRAWL_ENOMEM, "out of memory");
	cfg->nleaves = (uint32_t)json_array_size(leaves);
	uint8_t covered[256] = {0};
	for (uint32_t i = 0; i < cfg->nleaves; i++) {
		int rc = leaf_load(&cfg->leaves[i], json_array_get(leaves, i), i, cfg->nshards, w,
		                   covered, err, errlen);
		if (rc)
			return rc;
		/* one process listed twice would count as two replicas */
		for (uint32_t k = 0; k < i; k++)
			if (!strcmp(cfg->leaves[k].url, cfg->leaves[i].url))
				return errf(
				    err, errlen, TRAWL_EINVAL,
				    "%s: %sleaves[%u]: %s is leaves[%u] too (list a leaf once, "
				    "with all its shards)",
				    w->path, w->pre, i, cfg->leaves[i].url, k);
	}
	for (uint32_t s = 0; s < cfg->nshards; s++)
		if (!covered[s])
			return errf(err, errlen, TRAWL_EINVAL, "%s: %sno leaf serves shard %u",
			            w->path, w->at, s);
	json_t *ix = json_object_get(o, "indexer");
	if (ix && (!json_is_string(ix) || !json_string_length(ix) ||
	           json_string_length(ix) >= LIMIT_URL_BYTES))
		return errf(err, errlen, TRAWL_EINVAL,
		            "%s: %sindexer: must be the indexer's URL (1 to %d bytes)", w->path,
		            w->pre, LIMIT_URL_BYTES - 1);
	if (ix)
		snprintf(cfg->indexer_url, sizeof cfg->indexer_url, "%s", json_string_value(ix));
	return TRAWL_OK;
}

/* Refuses a key of o not in keys (NULL-terminated); what names o. */
static int only_keys(json_t *o, const char *const *keys, const char *path, const char *what,
                     const char *allowed, char *err, size_t errlen)
{
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v)
	{
		int known = 0;
		for (const char *const *p = keys; *p && !known; p++)
			known = !strcmp(*p, k);
		if (!known)
			return errf(err, errlen, TRAWL_EINVAL, "%s: %s%.200s: unknown key (%s)",
			            path, what, k, allowed);
	}
	return TRAWL_OK;
}

/* A leaf or an indexer serves one index directory: ci's URLs must not be
 * another index's of cf (those before it). */
static int own_urls(const cluster_file *cf, const cluster_index *ci, const where *w, char *err,
                    size_t errlen)
{
	for (const cluster_index *o = cf->ix; o < ci; o++) {
		if (ci->cfg.indexer_url[0] && !strcmp(ci->cfg.indexer_url, o->cfg.indexer_url))
			return errf(err, errlen, TRAWL_EINVAL,
			            "%s: %sindexer: %s is index [%s]'s indexer too (an indexer "
			            "writes one index)",
			            w->path, w->pre, ci->cfg.indexer_url, o->name);
		for (uint32_t i = 0; i < ci->cfg.nleaves; i++)
			for (uint32_t k = 0; k < o->cfg.nleaves; k++)
				if (!strcmp(ci->cfg.leaves[i].url, o->cfg.leaves[k].url))
					return errf(err, errlen, TRAWL_EINVAL,
					            "%s: %sleaves[%u]: %s is a leaf of index [%s] "
					            "too (a leaf serves one index)",
					            w->path, w->pre, i, ci->cfg.leaves[i].url,
					            o->name);
	}
	return TRAWL_OK;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const cluster_index *)a)->name, ((const cluster_index *)b)->name);
}

/* The "indexes" object into cf->ix, in name order. */
static int indexes_load(cluster_file *cf, json_t *indexes, const char *path, char *err,
                        size_t errlen)
{
	static const char *const keys[] = {"shards", "leaves", "indexer", NULL};
	if (!json_is_object(indexes) || !json_object_size(indexes) ||
	    json_object_size(indexes) > LIMIT_INDEXES)
		return errf(err, errlen, TRAWL_EINVAL,
		            "%s: indexes: must be an object of 1 to %d indexes by name", path,
		            LIMIT_INDEXES);
	cf->ix = calloc(json_object_size(indexes), sizeof *cf->ix);
	if (!cf->ix)
		return errf(err, errlen, TRAWL_ENOMEM, "out of memory");
	uint32_t nleaves = 0;
	const char *name;
	json_t *o;
	json_object_foreach(indexes, name, o)
	{
		char why[256];
		if (cat_check_name(name, why, sizeof why))
			return errf(err, errlen, TRAWL_EINVAL,
			            "%s: indexes.%.200s: invalid index name %s", path, name, why);
		where w = {path, "", ""};
		snprintf(w.pre, sizeof w.pre, "indexes.%s.", name);
		snprintf(w.at, sizeof w.at, "indexes.%s: ", name);
		if (!json_is_object(o))
			return errf(
			    err, errlen, TRAWL_EINVAL,
			    "%s: indexes.%s: must be an object with \"shards\" and \"leaves\"",
			    path, name);
		int rc = only_keys(o, keys, path, w.pre, "an index has shards, leaves and indexer",
		                   err, errlen);
		cluster_index *ci = &cf->ix[cf->n++];
		snprintf(ci->name, sizeof ci->name, "%s", name);
		if (rc || (rc = index_load(&ci->cfg, o, &w, &nleaves, err, errlen)) ||
		    (rc = own_urls(cf, ci, &w, err, errlen)))
			return rc;
	}
	qsort(cf->ix, cf->n, sizeof *cf->ix, by_name);
	return TRAWL_OK;
}

static int index_named(const cluster_file *cf, const char *name)
{
	for (uint32_t i = 0; i < cf->n; i++)
		if (!strcmp(cf->ix[i].name, name))
			return 1;
	return 0;
}

/* One alias's object a into out (cat_aliases_load's form). */
static int alias_load(const cluster_file *cf, const char *name, json_t *a, json_t *out,
                      const char *path, char *err, size_t errlen)
{
	static const char *const keys[] = {"indexes", "write_index", NULL};
	char why[256], pre[LIMIT_INDEX_NAME_BYTES + 16];
	snprintf(pre, sizeof pre, "aliases.%s.", name);
	if (cat_check_name(name, why, sizeof why))
		return errf(err, errlen, TRAWL_EINVAL, "%s: aliases.%.200s: invalid alias name %s",
		            path, name, why);
	if (index_named(cf, name))
		return errf(err, errlen, TRAWL_EINVAL, "%s: aliases.%s: an index has that name",
		            path, name);
	json_t *ixs = json_is_object(a) ? json_object_get(a, "indexes") : NULL;
	if (!json_is_array(ixs) || !json_array_size(ixs) || json_array_size(ixs) > LIMIT_INDEXES)
		return errf(err, errlen, TRAWL_EINVAL,
		            "%s: %sindexes: must be an array of 1 to %d index names", path, pre,
		            LIMIT_INDEXES);
	int rc = only_keys(a, keys, path, pre, "an alias has indexes and write_index", err, errlen);
	if (rc)
		return rc;
	json_t *wi = json_object_get(a, "write_index");
	if (wi && !json_is_null(wi) && !json_is_string(wi))
		return errf(err, errlen, TRAWL_EINVAL,
		            "%s: %swrite_index: must be the name of one of its indexes", path, pre);
	const char *write = json_string_value(wi);
	json_t *names = json_array(), *flags = json_array();
	int has_write = 0;
	json_object_set_new(out, name,
	                    json_pack("{s:o, s:o}", "indexes", names, "is_write_index", flags));
	size_t i;
	json_t *v;
	json_array_foreach(ixs, i, v)
	{
		const char *ix = json_string_value(v);
		if (!ix || !index_named(cf, ix))
			return errf(err, errlen, TRAWL_EINVAL,
			            "%s: %sindexes[%zu]: not an index of the file's \"indexes\"",
			            path, pre, i);
		for (size_t k = 0; k < i; k++)
			if (!strcmp(ix, json_string_value(json_array_get(ixs, k))))
				return errf(err, errlen, TRAWL_EINVAL,
				            "%s: %sindexes[%zu]: [%s] is named twice", path, pre, i,
				            ix);
		int is_write = write && !strcmp(write, ix);
		has_write |= is_write;
		json_array_append_new(names, json_string(ix));
		json_array_append_new(flags, is_write ? json_true() : json_null());
	}
	if (write && !has_write)
		return errf(err, errlen, TRAWL_EINVAL,
		            "%s: %swrite_index: [%s] is not one of the alias's indexes", path, pre,
		            write);
	return TRAWL_OK;
}

/* The "aliases" object into cf->aliases. */
static int aliases_load(cluster_file *cf, json_t *aliases, const char *path, char *err,
                        size_t errlen)
{
	if (!json_is_object(aliases) || json_object_size(aliases) > LIMIT_ALIASES)
		return errf(err, errlen, TRAWL_EINVAL,
		            "%s: aliases: must be an object of at most %d aliases by name", path,
		            LIMIT_ALIASES);
	json_t *out = json_object();
	if (!out)
		return errf(err, errlen, TRAWL_ENOMEM, "out of memory");
	const char *name;
	json_t *a;
	int rc = TRAWL_OK;
	json_object_foreach(aliases, name, a)
	{
		if ((rc = alias_load(cf, name, a, out, path, err, errlen)))
			break;
	}
	if (!rc && !(cf->aliases = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS)))
		rc = errf(err, errlen, TRAWL_ENOMEM, "out of memory");
	if (!rc)
		cf->aliases_len = strlen(cf->aliases);
	json_decref(out);
	return rc;
}

static int doc_load(cluster_file *cf, json_t *doc, const char *path, const char *name, char *err,
                    size_t errlen)
{
	static const char *const keys[] = {"indexes", "aliases", NULL};
	json_t *indexes = json_object_get(doc, "indexes"),
	       *aliases = json_object_get(doc, "aliases");
	if (!indexes) {
		if (aliases)
			return errf(err, errlen, TRAWL_EINVAL,
			            "%s: aliases: go with \"indexes\" (a file naming its indexes), "
			            "not with one index's \"shards\" and \"leaves\"",
			            path);
		if (strlen(name) > LIMIT_INDEX_NAME_BYTES)
			return errf(err, errlen, TRAWL_EINVAL,
			            "the index name [%.64s...] is over %d bytes", name,
			            LIMIT_INDEX_NAME_BYTES);
		cf->ix = calloc(1, sizeof *cf->ix);
		if (!cf->ix)
			return errf(err, errlen, TRAWL_ENOMEM, "out of memory");
		cf->n = 1;
		snprintf(cf->ix[0].name, sizeof cf->ix[0].name, "%s", name);
		where w = {path, "", ""};
		uint32_t nleaves = 0;
		return index_load(&cf->ix[0].cfg, doc, &w, &nleaves, err, errlen);
	}
	cf->several = 1;
	int rc = only_keys(doc, keys, path, "",
	                   "with \"indexes\", the file has \"indexes\" and \"aliases\" only", err,
	                   errlen);
	if (!rc)
		rc = indexes_load(cf, indexes, path, err, errlen);
	if (!rc && aliases)
		rc = aliases_load(cf, aliases, path, err, errlen);
	return rc;
}

/* The file's JSON (NULL: it did not read, je says why) into cf. */
static int from_doc(cluster_file *cf, json_t *doc, const json_error_t *je, const char *path,
                    const char *name, char *err, size_t errlen)
{
	if (!doc)
		return errf(err, errlen, TRAWL_EINVAL, "%s: line %d, column %d: %s", path, je->line,
		            je->column, je->text);
	int rc = json_is_object(doc)
	             ? doc_load(cf, doc, path, name, err, errlen)
	             : errf(err, errlen, TRAWL_EINVAL, "%s: not a JSON object", path);
	json_decref(doc);
	return rc;
}

int cluster_file_parse(cluster_file *cf, const char *text, size_t len, const char *path,
                       const char *name, char *err, size_t errlen)
{
	memset(cf, 0, sizeof *cf);
	json_error_t je;
	json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	return from_doc(cf, doc, &je, path, name, err, errlen);
}

int cluster_file_load(cluster_file *cf, const char *path, const char *name, char *err,
                      size_t errlen)
{
	memset(cf, 0, sizeof *cf);
	json_error_t je;
	json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	return from_doc(cf, doc, &je, path, name, err, errlen);
}

void cluster_file_fini(cluster_file *cf)
{
	for (uint32_t i = 0; i < cf->n; i++)
		root_config_fini(&cf->ix[i].cfg);
	free(cf->ix);
	free(cf->aliases);
	memset(cf, 0, sizeof *cf);
}
