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
#include <sys/stat.h>

#include "common/buf.h"
#include "common/byteorder.h"
#include "common/error.h"
#include "common/hash.h"
#include "fcache.h"
#include "gstats.h"
#include "versions.h"
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
	for (uint32_t i = 0; i < idx->nsegs; i++) {
		idx_store_close(idx->segs[i].store);
		idx_delset_fini(&idx->segs[i].del);
		free(idx->segs[i].vers);
		for (uint32_t t = 0; t < LIMIT_TYPED_FIELDS; t++)
			free(idx->segs[i].gord[t]);
	}
	free(idx->segs);
	for (uint32_t t = 0; t < LIMIT_TYPED_FIELDS; t++)
		free(idx->kdict_bytes[t]);
	idx_gstats_close(idx->gstats);
	for (uint32_t i = 0; i < idx->nvfiles; i++)
		free(idx->vfiles[i].path);
	free(idx->vfiles);
	idx_fcache_free(idx->fcache);
	free(idx->schema_json);
	free(idx->dir);
	free(idx);
}

/* The statistics record of a shard file ("stats" in meta: docs, then per
 * text field the token sum) into *st. */
static int read_stats(idx_rtxn *t, const idx_schema *sc, idx_stats *st)
{
	const void *v;
	size_t n;
	uint32_t nf = 0;
	if (idx_read_meta(t, "stats", &v, &n) == 0 && n >= 12) {
		memcpy(&st->docs, v, 8);
		memcpy(&nf, (const uint8_t *)v + 8, 4);
	}
	if (nf != sc->nfields || n != 12 + 8 * (size_t)nf)
		return TRAWL_ECORRUPT;
	memcpy(st->sumlen, (const uint8_t *)v + 12, 8 * (size_t)nf);
	return TRAWL_OK;
}

/* Opens segment k of shard no (g, as the manifest lists it) into sg: its
 * file, format, term count, the statistics its bounds were made with (into
 * sg->bscale's place until scale_bounds; the generation's own when
 * take_stats: a generation a build wrote whole keeps them in every shard
 * file) and its delete set. */
static int open_seg(trawl_index *idx, idx_seg *sg, const char *gendir, const idx_mseg *g,
                    uint32_t no, uint32_t k, uint32_t base, int take_stats, char *err,
                    size_t errlen)
{
	sg->no = no;
	sg->nth = k;
	sg->base = base;
	sg->ndocs = (uint32_t)g->docs;
	sg->bytes = g->f.bytes;
	memcpy(sg->xxh3_128, g->f.xxh3_128, sizeof sg->xxh3_128);
	snprintf(sg->path, sizeof sg->path, "%s/%s", gendir, g->f.file);
	int rc = idx_store_open(&sg->store, sg->path, err, errlen);
	if (rc)
		return rc;
	idx->bytes += g->f.bytes;
	idx_rtxn *t;
	if ((rc = idx_rtxn_begin(sg->store, &t)))
		return errf(err, errlen, rc, "%s: cannot begin a read transaction", sg->path);
	const void *v;
	size_t n;
	uint32_t fmt = 0;
	if (idx_read_meta(t, "format", &v, &n) == 0 && n == 4)
		memcpy(&fmt, v, 4);
	if (fmt < IDX_FORMAT_OLDEST || fmt > IDX_FORMAT_VERSION) {
		idx_rtxn_end(t);
		return errf(err, errlen, TRAWL_EVERSION,
		            "%s: format version %u; this trawl reads %d to %d", sg->path, fmt,
		            IDX_FORMAT_OLDEST, IDX_FORMAT_VERSION);
	}
	uint64_t nt = 0;
	if (idx_read_meta(t, "terms", &v, &n) == 0 && n == 8)
		memcpy(&nt, v, 8);
	idx->terms += nt;
	idx_stats built = {0};
	rc = read_stats(t, &idx->schema, &built);
	idx_rtxn_end(t);
	if (rc)
		return errf(err, errlen, TRAWL_ECORRUPT, "%s: bad statistics record", sg->path);
	if (take_stats)
		idx->stats = built;
	/* until scale_bounds: the averages the bounds were made with */
	for (uint32_t f = 0; f < idx->schema.nfields; f++)
		sg->bscale[f] = (float)idx_avgdl(&built, f);
	char dp[LIMIT_PATH_BYTES];
	if (g->ver.file[0]) {
		snprintf(dp, sizeof dp, "%s/%s", gendir, g->ver.file);
		if ((rc = idx_versions_read(dp, sg->ndocs, &sg->vers, err, errlen)))
			return rc;
	}
	if (!g->del.file[0])
		return TRAWL_OK;
	snprintf(dp, sizeof dp, "%s/%s", gendir, g->del.file);
	if ((rc = idx_delset_read(dp, sg->ndocs, &sg->del, err, errlen)))
		return rc;
	if (sg->del.count != g->deleted)
		return errf(err, errlen, TRAWL_ECORRUPT,
		            "%s: %u documents deleted, the manifest says %llu", dp, sg->del.count,
		            (unsigned long long)g->deleted);
	return TRAWL_OK;
}

/*
 * A segment's bound scale per field (idx_seg): BM25's tf part is
 * tf (k1 + 1) / (tf + K), K = k1 (1 - b + b dl / avgdl). When avgdl grows
 * from a (the segment's build) to A, K shrinks by at most a / A, and the
 * tf part grows by at most A / a, which is the scale (with room for
 * float rounding); when it does not grow, 1. The bounds stay bounds and
 * pruning stays exact; only looser.
 */
static void scale_bounds(const trawl_index *idx, idx_seg *sg)
{
	for (uint32_t f = 0; f < LIMIT_FIELDS; f++) {
		double built = f < idx->schema.nfields ? (double)sg->bscale[f] : 0;
		double now = f < idx->schema.nfields ? idx_avgdl(&idx->stats, f) : 0;
		built = built > 0 ? built : 1.0; /* idx_bm25_k's own fallback */
		now = now > 0 ? now : 1.0;
		sg->bscale[f] = now > built ? (float)(now / built * (1.0 + 1e-5)) : 1.0f;
	}
}

/* The keyword dictionaries ("ords.<t>") of the segments open here: when
 * they are not all the same bytes (segments written by updates hold their
 * own values only), their union becomes the index's dictionary, and every
 * segment gets the map from its ordinals to the union's, so that sort
 * values number alike in every segment (Lucene's OrdinalMap). */
static int keyword_dicts(trawl_index *idx, char *err, size_t errlen)
{
	const idx_schema *sc = &idx->schema;
	if (idx->nsegs < 2)
		return TRAWL_OK;
	idx_rtxn **txn = calloc(idx->nsegs, sizeof *txn);
	idx_kwdict *d = calloc(idx->nsegs, sizeof *d);
	idx_kwslice *all = NULL;
	int rc = txn && d ? TRAWL_OK : TRAWL_ENOMEM;
	for (uint32_t j = 0; j < idx->nsegs && !rc; j++)
		if ((rc = idx_rtxn_begin(idx->segs[j].store, &txn[j])))
			rc = errf(err, errlen, rc, "%s: cannot begin a read transaction",
			          idx->segs[j].path);
	for (uint32_t t = 0; t < sc->ntyped && !rc; t++) {
		if (sc->typed[t].type != IDX_KEYWORD || !sc->typed[t].doc_values)
			continue;
		char key[32];
		snprintf(key, sizeof key, "ords.%u", t);
		const void *p0 = NULL;
		size_t n0 = 0, total = 0;
		int same = 1;
		for (uint32_t j = 0; j < idx->nsegs && !rc; j++) {
			const void *p;
			size_t n;
			if (idx_read_meta(txn[j], key, &p, &n) || idx_kwdict_open(&d[j], p, n)) {
				rc = errf(err, errlen, TRAWL_ECORRUPT,
				          "%s: field \"%s\": \"%s\" missing or damaged",
				          idx->segs[j].path, sc->typed[t].name, key);
				break;
			}
			if (j == 0) {
				p0 = p;
				n0 = n;
			} else if (n != n0 || memcmp(p, p0, n) != 0) {
				same = 0;
			}
			total += d[j].n;
		}
		if (rc || same)
			continue;
		/* the union: every value of every segment, sorted, once */
		free(all);
		if (!(all = malloc((total ? total : 1) * sizeof *all))) {
			rc = TRAWL_ENOMEM;
			break;
		}
		size_t m = 0;
		for (uint32_t j = 0; j < idx->nsegs; j++)
			for (uint32_t i = 0; i < d[j].n; i++, m++)
				all[m].p = idx_kwdict_value(&d[j], i, &all[m].len);
		if (m > UINT32_MAX) {
			rc = errf(err, errlen, TRAWL_ELIMIT,
			          "field \"%s\": more than 2^32 keyword values", sc->typed[t].name);
			break;
		}
		uint32_t nu = idx_kwslices_sort(all, (uint32_t)m);
		tbuf out;
		tbuf_init(&out, (size_t)1 << 34);
		if ((rc = idx_kwdict_write(all, nu, &out))) {
			tbuf_fini(&out);
			break;
		}
		idx->kdict_bytes[t] = out.data; /* owned from here */
		if ((rc = idx_kwdict_open(&idx->kdict[t], out.data, out.len)))
			break;
		idx->has_kdict[t] = 1;
		/* each segment's values into the union's numbers: a search each */
		for (uint32_t j = 0; j < idx->nsegs && !rc; j++) {
			uint32_t *map = malloc((d[j].n ? d[j].n : 1) * sizeof *map);
			if (!map) {
				rc = TRAWL_ENOMEM;
				break;
			}
			idx->segs[j].gord[t] = map;
			for (uint32_t i = 0; i < d[j].n; i++) {
				uint32_t la;
				const uint8_t *a = idx_kwdict_value(&d[j], i, &la);
				int64_t g = idx_kwdict_find(&idx->kdict[t], a, la);
				if (g < 0) {
					rc = errf(err, errlen, TRAWL_EINTERNAL,
					          "field \"%s\": a value lost in the union",
					          sc->typed[t].name);
					break;
				}
				map[i] = (uint32_t)g;
			}
		}
	}
	for (uint32_t j = 0; txn && j < idx->nsegs; j++)
		if (txn[j])
			idx_rtxn_end(txn[j]);
	free(txn);
	free(d);
	free(all);
	return rc == TRAWL_ENOMEM ? errf(err, errlen, rc, "out of memory") : rc;
}

/* idx_trusted_fn over an earlier index: the file is one it checked. */
static int trusted_file(void *ctx, const char *path, const idx_mfile *f)
{
	const trawl_index *prev = ctx;
	struct stat st;
	if (stat(path, &st) != 0)
		return 0;
	for (uint32_t i = 0; i < prev->nvfiles; i++) {
		const idx_vfile *v = &prev->vfiles[i];
		if (v->ino == st.st_ino && v->dev == st.st_dev && v->bytes == f->bytes &&
		    (uint64_t)st.st_size == f->bytes && !strcmp(v->xxh3_128, f->xxh3_128))
			return 1;
	}
	return 0;
}

/* Records file f of gendir, read by shard (UINT32_MAX: every one), as
 * checked (for a later open's reuse, and the leaf's guard). */
static void note_file(trawl_index *idx, const char *gendir, const idx_mfile *f, uint32_t shard,
                      uint32_t cap)
{
	char path[LIMIT_PATH_BYTES];
	struct stat st;
	snprintf(path, sizeof path, "%s/%s", gendir, f->file);
	if (idx->nvfiles >= cap || stat(path, &st) != 0)
		return;
	idx_vfile *v = &idx->vfiles[idx->nvfiles];
	if (!(v->path = strdup(path)))
		return;
	idx->nvfiles++;
	v->dev = st.st_dev;
	v->ino = st.st_ino;
	v->bytes = f->bytes;
	v->shard = shard;
	memcpy(v->xxh3_128, f->xxh3_128, sizeof v->xxh3_128);
}

/* The files of the wanted shards and the statistics, as checked. */
static void note_files(trawl_index *idx, const char *gendir, const idx_manifest *m,
                       const uint8_t *want)
{
	uint32_t cap = 2;
	for (uint32_t i = 0; i < m->shards; i++)
		cap += want[i] ? 3 * m->shard[i].nsegs : 0;
	if (!(idx->vfiles = calloc(cap, sizeof *idx->vfiles)))
		return; /* nothing to reuse: a later open checks every file */
	for (uint32_t i = 0; i < m->shards; i++)
		for (uint32_t j = 0; want[i] && j < m->shard[i].nsegs; j++) {
			const idx_mseg *g = &m->shard[i].segs[j];
			note_file(idx, gendir, &g->f, i, cap);
			if (g->del.file[0])
				note_file(idx, gendir, &g->del, i, cap);
			if (g->ver.file[0])
				note_file(idx, gendir, &g->ver, i, cap);
		}
	if (m->stats_base.file[0])
		note_file(idx, gendir, &m->stats_base, UINT32_MAX, cap);
	if (m->stats_delta.file[0])
		note_file(idx, gendir, &m->stats_delta, UINT32_MAX, cap);
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
	const trawl_index *prev = opts ? opts->reuse : NULL;
	if ((rc = idx_manifest_verify_with(gendir, m, want, prev ? trusted_file : NULL,
	                                   (void *)prev, err, errlen)))
		goto fail;
	note_files(idx, gendir, m, want);
	idx->dir = strdup(dir);
	idx->generation = gen;
	idx->unsummed = m->unsummed;
	idx->total_shards = m->shards;
	for (uint32_t i = 0; i < m->shards; i++)
		for (uint32_t k = 0; k < m->shard[i].nsegs; k++)
			idx->gen_deleted += m->shard[i].segs[k].deleted;
	for (uint32_t i = 0; i < TRAWL_MAX_SHARDS; i++)
		idx->local[i] = -1;
	uint32_t nsegs = 0;
	for (uint32_t i = 0; i < m->shards; i++)
		nsegs += want[i] ? m->shard[i].nsegs : 0;
	idx->segs = calloc(nsegs, sizeof *idx->segs);
	idx->nsegs = idx->segs ? nsegs : 0; /* trawl_index_close walks them */
	idx->nshards = nwant;
	idx->schema_json = m->schema_json;
	m->schema_json = NULL;
	if (!idx->dir || !idx->segs) {
		rc = TRAWL_ENOMEM;
		goto fail;
	}
	char msg[256];
	if ((rc = idx_schema_parse(&idx->schema, idx->schema_json, strlen(idx->schema_json), msg,
	                           sizeof msg))) {
		rc = errf(err, errlen, TRAWL_ECORRUPT, "%s/MANIFEST.json: %s", gendir, msg);
		goto fail;
	}
	if (m->stats_base.file[0]) {
		char bp[LIMIT_PATH_BYTES], dp[LIMIT_PATH_BYTES];
		snprintf(bp, sizeof bp, "%s/%s", gendir, m->stats_base.file);
		snprintf(dp, sizeof dp, "%s/%s", gendir, m->stats_delta.file);
		if ((rc = idx_gstats_open(&idx->gstats, bp, m->stats_delta.file[0] ? dp : NULL,
		                          idx->schema.nfields, err, errlen)))
			goto fail;
		idx->stats.docs = idx_gstats_docs(idx->gstats);
		if (idx->stats.docs != m->docs) {
			rc = errf(err, errlen, TRAWL_ECORRUPT,
			          "%s: the statistics count %llu documents, the manifest %llu", bp,
			          (unsigned long long)idx->stats.docs, (unsigned long long)m->docs);
			goto fail;
		}
		for (uint32_t f = 0; f < idx->schema.nfields; f++)
			idx->stats.sumlen[f] = idx_gstats_sumlen(idx->gstats, f);
	} else {
		for (uint32_t i = 0; i < m->shards; i++)
			if (m->shard[i].nsegs != 1 || m->shard[i].segs[0].del.file[0]) {
				rc = errf(
				    err, errlen, TRAWL_ECORRUPT,
				    "%s/MANIFEST.json: shard %u has segments or deletes but the "
				    "generation lists no statistics files",
				    gendir, i);
				goto fail;
			}
	}
	for (uint32_t i = 0, j = 0; i < m->shards; i++) {
		if (!want[i])
			continue;
		idx->local[i] = (int32_t)j;
		idx->nseg_of[i] = (uint16_t)m->shard[i].nsegs;
		uint32_t base = 0;
		for (uint32_t k = 0; k < m->shard[i].nsegs; k++, j++) {
			if ((rc = open_seg(idx, &idx->segs[j], gendir, &m->shard[i].segs[k], i, k,
			                   base, !m->stats_base.file[0] && j == 0, err, errlen)))
				goto fail;
			base += idx->segs[j].ndocs;
		}
	}
	if (idx->gstats)
		for (uint32_t j = 0; j < idx->nsegs; j++)
			scale_bounds(idx, &idx->segs[j]);
	else
		for (uint32_t j = 0; j < idx->nsegs; j++)
			for (uint32_t f = 0; f < LIMIT_FIELDS; f++)
				idx->segs[j].bscale[f] = 1.0f;
	if ((rc = keyword_dicts(idx, err, errlen)))
		goto fail;
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
	for (uint32_t i = 0; i < idx->nsegs; i++)
		st->docs_open += idx->segs[i].ndocs - idx->segs[i].del.count;
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

uint64_t trawl_index_docs_deleted(const trawl_index *idx)
{
	uint64_t n = 0;
	for (uint32_t i = 0; i < idx->nsegs; i++)
		n += idx->segs[i].del.count;
	return n;
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
	int32_t li = shard < TRAWL_MAX_SHARDS ? idx->local[shard] : -1;
	if (li < 0)
		return TRAWL_ENOTFOUND;
	const idx_seg *sh = &idx->segs[li];
	*f = (trawl_shard_file){sh->path, sh->bytes, sh->xxh3_128};
	return TRAWL_OK;
}

int trawl_index_shard_files(const trawl_index *idx, uint32_t shard, uint32_t i, trawl_shard_file *f)
{
	if (shard >= TRAWL_MAX_SHARDS || idx->local[shard] < 0)
		return TRAWL_ENOTFOUND;
	for (uint32_t k = 0; k < idx->nvfiles; k++) {
		const idx_vfile *v = &idx->vfiles[k];
		if ((v->shard == shard || v->shard == UINT32_MAX) && i-- == 0) {
			*f = (trawl_shard_file){v->path, v->bytes, v->xxh3_128};
			return TRAWL_OK;
		}
	}
	return TRAWL_ENOTFOUND;
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
	for (uint32_t i = 0; i < idx->nsegs && !rc; i++) {
		vctx c = {idx->segs[i].path, idx->segs[i].ndocs, err, errlen, 0, 0};
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

/* digest_words adds a segment's delete set or versions: a tag, then n
 * words, little-endian. */
static void digest_words(XXH3_state_t *st, const char *tag, const uint64_t *w, size_t n)
{
	XXH3_128bits_update(st, tag, strlen(tag));
	for (size_t i = 0; i < n; i++) {
		uint8_t b[8];
		le_put64(b, w[i]);
		XXH3_128bits_update(st, b, 8);
	}
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
	for (uint32_t i = 0; i < idx->nsegs && !rc; i++) {
		idx_rtxn *t;
		if ((rc = idx_rtxn_begin(idx->segs[i].store, &t)))
			break;
		rc = idx_store_scan(t, IDX_DB_META, NULL, 0, 1, digest_entry, st);
		if (rc == TRAWL_OK)
			rc = idx_store_scan(t, IDX_DB_DOCS, NULL, 0, 1, digest_entry, st);
		idx_rtxn_end(t);
		/* what updates keep beside the file: its deleted documents, and
		 * its documents' _seq_no and _version (a build's have neither) */
		const idx_seg *g = &idx->segs[i];
		if (g->del.count)
			digest_words(st, "deleted", g->del.bits, ((size_t)g->ndocs + 63) / 64);
		if (g->vers)
			digest_words(st, "versions", g->vers, 2 * (size_t)g->ndocs);
	}
	if (rc == TRAWL_OK)
		th_hex128(XXH3_128bits_digest(st), hex);
	else
		errf(err, errlen, rc, "%s: %s", dir, trawl_strerror(rc));
	XXH3_freeState(st);
	trawl_index_close(idx);
	return rc;
}
