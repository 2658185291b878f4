/*
 * index.c - trawl_index_*: opening the live generation (every shard file
 * checked against the manifest first), its statistics and schema, and the
 * full verification and content digest behind `trawl verify`.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/hash.h"
#include "fcache.h"
#include "gen.h"
#include "handles.h"
#include "postings.h"
#include "search.h"

int idx_read_meta(idx_rtxn *t, const char *key, const void **v, size_t *n)
{
	return idx_store_get(t, IDX_DB_META, key, strlen(key), v, n);
}

void trawl_index_close(trawl_index *idx)
{
	if (!idx)
		return;
	for (uint32_t i = 0; i < idx->nshards; i++)
		idx_store_close(idx->shards[i].store);
	free(idx->shards);
	idx_fcache_free(idx->fcache);
	free(idx->schema_json);
	free(idx->dir);
	free(idx);
}

int trawl_index_open(trawl_index **out, const char *dir, char *err, size_t errlen)
{
	return trawl_index_open_with(out, dir, NULL, err, errlen);
}

int trawl_index_open_with(trawl_index **out, const char *dir, const trawl_open_opts *opts,
                          char *err, size_t errlen)
{
	*out = NULL;
	uint64_t gen;
	int rc = idx_gen_current(dir, &gen, err, errlen);
	if (rc == TRAWL_ENOTFOUND)
		return errf(err, errlen, rc,
		            "%s: no index here (no CURRENT file); build one with "
		            "`trawl index %s FILE...`",
		            dir, dir);
	if (rc)
		return rc;
	char name[32], gendir[LIMIT_PATH_BYTES];
	idx_gen_dirname(name, gen);
	snprintf(gendir, sizeof gendir, "%s/%s", dir, name);
	idx_manifest *m = calloc(1, sizeof *m);
	trawl_index *idx = calloc(1, sizeof *idx);
	if (!m || !idx) {
		free(m);
		free(idx);
		return TRAWL_ENOMEM;
	}
	if ((rc = idx_manifest_read(gendir, m, err, errlen)) == TRAWL_ENOTFOUND)
		/* CURRENT names a generation that is not there: the index is damaged */
		rc = errf(err, errlen, TRAWL_ECORRUPT,
		          "%s/CURRENT names %s, but %s/MANIFEST.json "
		          "is missing",
		          dir, name, gendir);
	if (rc)
		goto fail;
	uint8_t want[TRAWL_MAX_SHARDS] = {0};
	uint32_t nwant = 0;
	if (opts && opts->shards) {
		for (uint32_t i = 0; i < opts->nshards; i++) {
			if (opts->shards[i] >= m->shards) {
				rc = errf(err, errlen, TRAWL_EINVAL,
				          "%s: shard %u asked for, but "
				          "generation %llu has %u shards",
				          dir, opts->shards[i], (unsigned long long)gen, m->shards);
				goto fail;
			}
			want[opts->shards[i]] = 1;
		}
	} else {
		memset(want, 1, m->shards);
	}
	for (uint32_t i = 0; i < m->shards; i++)
		nwant += want[i];
	if (nwant == 0) {
		rc = errf(err, errlen, TRAWL_EINVAL, "%s: no shards to open", dir);
		goto fail;
	}
	if ((rc = idx_manifest_verify(gendir, m, want, err, errlen)))
		goto fail;
	idx->dir = strdup(dir);
	idx->generation = gen;
	idx->unsummed = m->unsummed;
	idx->total_shards = m->shards;
	idx->shards = calloc(nwant, sizeof *idx->shards);
	idx->nshards = idx->shards ? nwant : 0; /* trawl_index_close walks them */
	for (uint32_t i = 0; i < TRAWL_MAX_SHARDS; i++)
		idx->local[i] = -1;
	idx->schema_json = m->schema_json;
	m->schema_json = NULL;
	if (!idx->dir || !idx->shards) {
		rc = TRAWL_ENOMEM;
		goto fail;
	}
	char msg[256];
	if ((rc = idx_schema_parse(&idx->schema, idx->schema_json, strlen(idx->schema_json), msg,
	                           sizeof msg))) {
		rc = errf(err, errlen, TRAWL_ECORRUPT, "%s/MANIFEST.json: %s", gendir, msg);
		goto fail;
	}
	for (uint32_t i = 0, j = 0; i < m->shards; i++) {
		if (!want[i])
			continue;
		idx_shard *sh = &idx->shards[j];
		idx->local[i] = (int16_t)j;
		sh->no = i;
		int first = j == 0;
		j++;
		const idx_mseg *g = &m->shard[i].segs[0];
		if (m->shard[i].nsegs != 1 || g->del.file[0] || m->stats_base.file[0]) {
			rc = errf(err, errlen, TRAWL_EVERSION,
			          "%s: a generation of segments; this trawl reads one segment per shard",
			          gendir);
			goto fail;
		}
		snprintf(sh->path, sizeof sh->path, "%s/%s", gendir, g->f.file);
		if ((rc = idx_store_open(&sh->store, sh->path, err, errlen)))
			goto fail;
		idx->bytes += g->f.bytes;
		sh->bytes = g->f.bytes;
		memcpy(sh->xxh3_128, g->f.xxh3_128, sizeof sh->xxh3_128);
		idx_rtxn *t;
		if ((rc = idx_rtxn_begin(sh->store, &t)))
			goto fail;
		const void *v;
		size_t n;
		uint32_t fmt = 0;
		if (idx_read_meta(t, "format", &v, &n) == 0 && n == 4)
			memcpy(&fmt, v, 4);
		if (fmt < IDX_FORMAT_OLDEST || fmt > IDX_FORMAT_VERSION) {
			idx_rtxn_end(t);
			rc = errf(err, errlen, TRAWL_EVERSION,
			          "%s: format version %u; this trawl reads %d to %d", sh->path, fmt,
			          IDX_FORMAT_OLDEST, IDX_FORMAT_VERSION);
			goto fail;
		}
		sh->ndocs = (uint32_t)g->docs;
		uint64_t nt = 0;
		if (idx_read_meta(t, "terms", &v, &n) == 0 && n == 8)
			memcpy(&nt, v, 8);
		idx->terms += nt;
		if (first) {
			uint32_t nf = 0;
			if (idx_read_meta(t, "stats", &v, &n) == 0 && n >= 12) {
				memcpy(&idx->stats.docs, v, 8);
				memcpy(&nf, (const uint8_t *)v + 8, 4);
			}
			if (nf != idx->schema.nfields || n != 12 + 8 * (size_t)nf) {
				idx_rtxn_end(t);
				rc = errf(err, errlen, TRAWL_ECORRUPT, "%s: bad statistics record",
				          sh->path);
				goto fail;
			}
			memcpy(idx->stats.sumlen, (const uint8_t *)v + 12, 8 * (size_t)nf);
		}
		idx_rtxn_end(t);
	}
	idx_manifest_fini(m);
	free(m);
	int64_t fcb =
	    opts && opts->filter_cache_bytes ? opts->filter_cache_bytes : TRAWL_FILTER_CACHE_BYTES;
	if (fcb > 0 && idx_fcache_new(&idx->fcache, (size_t)fcb)) {
		trawl_index_close(idx);
		return errf(err, errlen, TRAWL_ENOMEM, "out of memory");
	}
	/* a searcher checks the norms, dictionary and id tables: do it now, so
	 * that damage is reported here, with the file */
	trawl_searcher *probe;
	if ((rc = idx_searcher_open(&probe, idx, err, errlen))) {
		trawl_index_close(idx);
		return rc;
	}
	trawl_searcher_close(probe);
	*out = idx;
	return TRAWL_OK;
fail:
	idx_manifest_fini(m);
	free(m);
	trawl_index_close(idx);
	return rc;
}

void trawl_index_get_stats(const trawl_index *idx, trawl_index_stats *st)
{
	st->generation = idx->generation;
	st->shards = idx->total_shards;
	st->shards_open = idx->nshards;
	st->docs_open = 0;
	for (uint32_t i = 0; i < idx->nshards; i++)
		st->docs_open += idx->shards[i].ndocs;
	st->docs = idx->stats.docs;
	st->terms = idx->terms;
	st->bytes = idx->bytes;
	st->fields = idx->schema.nfields;
	idx_fcache_stats fs;
	idx_fcache_get_stats(idx->fcache, &fs);
	st->filter_cache_hits = fs.hits;
	st->filter_cache_misses = fs.misses;
	st->filter_cache_entries = fs.entries;
	st->filter_cache_bytes = fs.bytes;
}

const char *trawl_index_schema(const trawl_index *idx)
{
	return idx->schema_json;
}

const char *trawl_index_text_field(const trawl_index *idx, uint32_t i)
{
	return i < idx->schema.nfields ? idx->schema.fields[i].name : NULL;
}

int trawl_index_stores_fields(const trawl_index *idx)
{
	return !idx->schema.store_none;
}

int trawl_index_shard_file(const trawl_index *idx, uint32_t shard, trawl_shard_file *f)
{
	int16_t li = shard < TRAWL_MAX_SHARDS ? idx->local[shard] : -1;
	if (li < 0)
		return TRAWL_ENOTFOUND;
	const idx_shard *sh = &idx->shards[li];
	*f = (trawl_shard_file){sh->path, sh->bytes, sh->xxh3_128};
	return TRAWL_OK;
}

/* ---- verify ---- */

typedef struct vctx {
	const char *path;
	uint32_t ndocs;
	char *err;
	size_t errlen;
	uint64_t terms;
	int rc;
} vctx;

static int verify_term(void *ctx, const uint8_t *key, uint32_t klen, const idx_term *t)
{
	vctx *c = ctx;
	idx_plist pl;
	c->terms++;
	if (idx_plist_open(&pl, t->df, t->df_global, t->post, t->post_len)) {
		c->rc = errf(c->err, c->errlen, TRAWL_ECORRUPT,
		             "%s: postings of term #%llu are "
		             "damaged (header)",
		             c->path, (unsigned long long)c->terms);
		return 1;
	}
	idx_pcur cur;
	idx_pcur_init(&cur, &pl, t->pos, t->pos_len);
	uint32_t n = 0, prev = 0, buf[64];
	while (cur.doc != IDX_END) {
		if (cur.doc >= c->ndocs || (n && cur.doc <= prev))
			break;
		uint32_t tf = idx_pcur_tf(&cur);
		if (idx_pcur_positions(&cur, buf, 64) != tf)
			break;
		prev = cur.doc;
		n++;
		idx_pcur_next(&cur);
	}
	if (cur.corrupt || cur.doc != IDX_END || n != pl.df) {
		c->rc = errf(c->err, c->errlen, TRAWL_ECORRUPT,
		             "%s: postings of term #%llu are damaged (doc %u of %u)", c->path,
		             (unsigned long long)c->terms, n, pl.df);
		return 1;
	}
	return 0;
}

int trawl_index_verify(const char *dir, char *err, size_t errlen)
{
	trawl_index *idx;
	int rc = trawl_index_open(&idx, dir, err, errlen);
	if (rc)
		return rc;
	trawl_searcher *s;
	if ((rc = trawl_searcher_open(&s, idx))) {
		trawl_index_close(idx);
		return rc;
	}
	for (uint32_t i = 0; i < idx->nshards && !rc; i++) {
		vctx c = {idx->shards[i].path, idx->shards[i].ndocs, err, errlen, 0, 0};
		rc = idx_dict_scan(&s->views[i].dict, NULL, 0, verify_term, &c);
		if (rc < 0)
			rc = errf(err, errlen, TRAWL_ECORRUPT, "%s: term dictionary damaged",
			          c.path);
		if (c.rc)
			rc = c.rc;
		if (rc)
			break;
		if (!idx->schema.store_none)
			for (uint32_t d = 0; d < c.ndocs; d++) {
				char *doc;
				size_t len;
				rc = idx_fetch_doc(s, i, d, &doc, &len);
				free(doc);
				if (rc) {
					char *id = idx_extid_dup(&s->views[i], d);
					errf(err, errlen, TRAWL_ECORRUPT,
					     "%s: stored document \"%s\" (doc %u) %s", c.path,
					     id ? id : "?", d,
					     rc == TRAWL_ECORRUPT ? "fails its checksum"
					                          : "is missing");
					free(id);
					rc = TRAWL_ECORRUPT;
					break;
				}
			}
	}
	trawl_searcher_close(s);
	if (rc == TRAWL_OK && idx->unsummed) {
		char name[32];
		idx_gen_dirname(name, idx->generation);
		snprintf(err, errlen,
		         "%s/%s/MANIFEST.xxh3 is missing, so MANIFEST.json is covered by no "
		         "checksum (a generation written by an older trawl; the next build "
		         "writes one)",
		         dir, name);
	}
	trawl_index_close(idx);
	return rc;
}

/* ---- content digest ---- */

static int digest_entry(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	XXH3_state_t *st = ctx;
	/* "info" names the generation: two builds of equal content differ there */
	if (klen == 4 && !memcmp(key, "info", 4))
		return 0;
	uint64_t l[2] = {klen, vlen};
	XXH3_128bits_update(st, l, sizeof l);
	XXH3_128bits_update(st, key, klen);
	XXH3_128bits_update(st, val, vlen);
	return 0;
}

int trawl_index_digest(const char *dir, char hex[33], char *err, size_t errlen)
{
	trawl_index *idx;
	int rc = trawl_index_open(&idx, dir, err, errlen);
	if (rc)
		return rc;
	XXH3_state_t *st = XXH3_createState();
	if (!st) {
		trawl_index_close(idx);
		return errf(err, errlen, TRAWL_ENOMEM, "out of memory");
	}
	XXH3_128bits_reset(st);
	for (uint32_t i = 0; i < idx->nshards && !rc; i++) {
		idx_rtxn *t;
		if ((rc = idx_rtxn_begin(idx->shards[i].store, &t)))
			break;
		rc = idx_store_scan(t, IDX_DB_META, NULL, 0, 1, digest_entry, st);
		if (rc == TRAWL_OK)
			rc = idx_store_scan(t, IDX_DB_DOCS, NULL, 0, 1, digest_entry, st);
		idx_rtxn_end(t);
	}
	if (rc == TRAWL_OK)
		th_hex128(XXH3_128bits_digest(st), hex);
	else
		errf(err, errlen, rc, "%s: %s", dir, trawl_strerror(rc));
	XXH3_freeState(st);
	trawl_index_close(idx);
	return rc;
}
