/*
 * api.c - the public search API of trawl.h: opening the live generation
 * (checksums first), searchers, the merge of the shards' top-k, results,
 * stored documents, snippets, and the full verification behind `trawl verify`.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/hash.h"
#include "gen.h"
#include "postings.h"
#include "search.h"
#include "testhooks.h"

/* ---- index ---- */

static int searcher_open(trawl_searcher **out, trawl_index *idx, char *err, size_t errlen);

static int read_meta(idx_rtxn *t, const char *key, const void **v, size_t *n)
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
	idx->total_shards = m->shards;
	idx->nshards = nwant;
	idx->shards = calloc(nwant, sizeof *idx->shards);
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
		snprintf(sh->path, sizeof sh->path, "%s/%s", gendir, m->shard[i].file);
		if ((rc = idx_store_open(&sh->store, sh->path, err, errlen)))
			goto fail;
		idx->bytes += m->shard[i].bytes;
		idx_rtxn *t;
		if ((rc = idx_rtxn_begin(sh->store, &t)))
			goto fail;
		const void *v;
		size_t n;
		uint32_t fmt = 0;
		if (read_meta(t, "format", &v, &n) == 0 && n == 4)
			memcpy(&fmt, v, 4);
		if (fmt != IDX_FORMAT_VERSION) {
			idx_rtxn_end(t);
			rc = errf(err, errlen, TRAWL_EVERSION,
			          "%s: format version %u; this trawl "
			          "reads %d",
			          sh->path, fmt, IDX_FORMAT_VERSION);
			goto fail;
		}
		sh->ndocs = (uint32_t)m->shard[i].docs;
		uint64_t nt = 0;
		if (read_meta(t, "terms", &v, &n) == 0 && n == 8)
			memcpy(&nt, v, 8);
		idx->terms += nt;
		if (first) {
			uint32_t nf = 0;
			if (read_meta(t, "stats", &v, &n) == 0 && n >= 12) {
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
	/* a searcher checks the norms, dictionary and id tables: do it now, so
	 * that damage is reported here, with the file */
	trawl_searcher *probe;
	if ((rc = searcher_open(&probe, idx, err, errlen))) {
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

/* ---- searcher ---- */

struct trawl_searcher {
	trawl_index *idx;
	idx_sview *views;
	idx_analyzer *an[2];
	float ktab[LIMIT_FIELDS][256];
	arena eval;
	uint64_t *bitset;
	idx_hit *hits;
	uint32_t caphits;
	char errmsg[1024];
};

static int serr(trawl_searcher *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int serr(trawl_searcher *s, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verrf(s->errmsg, sizeof s->errmsg, code, fmt, ap);
	va_end(ap);
	return code;
}

const char *trawl_searcher_errmsg(const trawl_searcher *s)
{
	return s ? s->errmsg : "no searcher";
}

void trawl_searcher_close(trawl_searcher *s)
{
	if (!s)
		return;
	if (s->views)
		for (uint32_t i = 0; i < s->idx->nshards; i++) {
			idx_zdec_free(s->views[i].zdec);
			idx_rtxn_end(s->views[i].txn);
		}
	free(s->views);
	idx_analyzer_free(s->an[0]);
	idx_analyzer_free(s->an[1]);
	arena_fini(&s->eval);
	free(s->bitset);
	free(s->hits);
	free(s);
}

static int open_view(trawl_searcher *s, uint32_t i)
{
	const idx_shard *sh = &s->idx->shards[i];
	idx_sview *v = &s->views[i];
	int rc = idx_rtxn_begin(sh->store, &v->txn);
	if (rc)
		return serr(s, rc, "%s: cannot begin a read transaction", sh->path);
	v->ndocs = sh->ndocs;
	const void *p;
	size_t n;
	for (uint32_t f = 0; f < s->idx->schema.nfields; f++) {
		char key[32];
		snprintf(key, sizeof key, "norms.%u", f);
		if (read_meta(v->txn, key, &p, &n) || n != v->ndocs)
			return serr(s, TRAWL_ECORRUPT, "%s: norms of field %u missing or damaged",
			            sh->path, f);
		v->norms[f] = p;
	}
	const void *dp, *ip, *pp, *xp;
	size_t dn, in, pn, xn;
	if (read_meta(v->txn, "dict", &dp, &dn) || read_meta(v->txn, "dict.index", &ip, &in) ||
	    read_meta(v->txn, "postings", &pp, &pn) || read_meta(v->txn, "positions", &xp, &xn) ||
	    in % IDX_DICT_INDEX_ENTRY)
		return serr(s, TRAWL_ECORRUPT, "%s: term dictionary missing or damaged", sh->path);
	v->dict = (idx_dict){dp, dn, ip, (uint32_t)(in / IDX_DICT_INDEX_ENTRY), pp, pn, xp, xn};
	if (idx_dict_check(&v->dict))
		return serr(s, TRAWL_ECORRUPT, "%s: term dictionary damaged", sh->path);
	size_t nblk = ((size_t)v->ndocs + IDX_EXTID_BLOCK - 1) / IDX_EXTID_BLOCK;
	size_t offs = (nblk + 1) * 4;
	if (read_meta(v->txn, "extids", &p, &n) || n < offs)
		return serr(s, TRAWL_ECORRUPT, "%s: document ids missing or damaged", sh->path);
	v->extoff = p;
	v->extdata = (const uint8_t *)p + offs;
	v->extdata_len = n - offs;
	uint32_t last;
	memcpy(&last, v->extoff + nblk * 4, 4);
	if (last != v->extdata_len)
		return serr(s, TRAWL_ECORRUPT, "%s: document ids damaged", sh->path);
	if (read_meta(v->txn, "zdict", &p, &n) == 0) {
		v->zdict = p;
		v->zdict_len = n;
	}
	return TRAWL_OK;
}

int trawl_searcher_open(trawl_searcher **out, trawl_index *idx)
{
	return searcher_open(out, idx, NULL, 0);
}

static int searcher_open(trawl_searcher **out, trawl_index *idx, char *err, size_t errlen)
{
	*out = NULL;
	trawl_searcher *s = calloc(1, sizeof *s);
	if (!s)
		return TRAWL_ENOMEM;
	s->idx = idx;
	s->views = calloc(idx->nshards, sizeof *s->views);
	uint32_t maxdocs = 0;
	for (uint32_t i = 0; i < idx->nshards; i++)
		if (idx->shards[i].ndocs > maxdocs)
			maxdocs = idx->shards[i].ndocs;
	s->bitset = malloc(((size_t)maxdocs + 64) / 64 * 8);
	int rc = TRAWL_ENOMEM;
	if (!s->views || !s->bitset || idx_analyzer_alloc(&s->an[0], IDX_AN_PLAIN) ||
	    idx_analyzer_alloc(&s->an[1], IDX_AN_ENGLISH))
		goto fail;
	for (uint32_t i = 0; i < idx->nshards; i++)
		if ((rc = open_view(s, i)))
			goto fail;
	for (uint32_t f = 0; f < idx->schema.nfields; f++) {
		const idx_field *fd = &idx->schema.fields[f];
		for (int b = 0; b < 256; b++)
			s->ktab[f][b] = idx_bm25_k(fd->k1, fd->b, idx_norm_decode((uint8_t)b),
			                           idx_avgdl(&idx->stats, f));
	}
	*out = s;
	return TRAWL_OK;
fail:
	if (err && errlen)
		snprintf(err, errlen, "%s", s->errmsg[0] ? s->errmsg : trawl_strerror(rc));
	trawl_searcher_close(s);
	return rc;
}

/* ---- results ---- */

typedef struct rhit {
	idx_hit h;
	char *id;
	char *doc;
	size_t doclen;
	int docerr;
	char *snip;
} rhit;

struct trawl_results {
	trawl_searcher *s;
	arena qa;
	idx_lquery lq;
	int has_query; /* lq is compiled (snippets can mark terms) */
	int partial;
	uint32_t n;
	uint64_t total;
	uint64_t searched;
	rhit *hits;
};

void trawl_results_free(trawl_results *r)
{
	if (!r)
		return;
	for (uint32_t i = 0; i < r->n; i++) {
		free(r->hits[i].id);
		free(r->hits[i].doc);
		free(r->hits[i].snip);
	}
	free(r->hits);
	arena_fini(&r->qa);
	free(r);
}

uint32_t trawl_results_count(const trawl_results *r)
{
	return r->n;
}

uint64_t trawl_results_total(const trawl_results *r)
{
	return r->total;
}

const char *trawl_results_id(const trawl_results *r, uint32_t i)
{
	return i < r->n ? r->hits[i].id : NULL;
}

double trawl_results_score(const trawl_results *r, uint32_t i)
{
	return i < r->n ? (double)r->hits[i].h.score : 0.0;
}

int trawl_results_partial(const trawl_results *r)
{
	return r->partial;
}

uint64_t trawl_results_docs_searched(const trawl_results *r)
{
	return r->searched;
}

uint32_t trawl_results_shard(const trawl_results *r, uint32_t i)
{
	return i < r->n ? r->hits[i].h.shard : 0;
}

uint32_t trawl_results_docno(const trawl_results *r, uint32_t i)
{
	return i < r->n ? r->hits[i].h.doc : 0;
}

uint64_t trawl_results_hash(const trawl_results *r, uint32_t i)
{
	return i < r->n ? r->hits[i].h.hash : 0;
}

static char *extid_dup(const idx_sview *v, uint32_t doc)
{
	uint32_t n;
	const uint8_t *id = idx_view_extid(v, doc, &n);
	char *s = malloc(n + 1);
	if (s) {
		if (n)
			memcpy(s, id, n);
		s[n] = 0;
	}
	return s;
}

static int cmp_hit(const void *a, const void *b)
{
	const idx_hit *x = a, *y = b;
	return idx_hit_before(x, y) ? -1 : idx_hit_before(y, x) ? 1 : 0;
}

#ifdef TRAWL_TEST_HOOKS
int idx_search_exhaustive;
#endif

/* Per-shard evaluation context for searcher s. In the tests' build,
 * idx_search_exhaustive turns pruning off (testhooks.h). */
static idx_shard_ctx shard_ctx(trawl_searcher *s, uint32_t shard)
{
	idx_shard_ctx c = {0};
	c.view = &s->views[shard];
	c.schema = &s->idx->schema;
	c.ktab = (const float(*)[256])s->ktab;
	c.global_docs = s->idx->stats.docs;
	c.arena = &s->eval;
	c.bitset = s->bitset;
	c.err = s->errmsg;
	c.errlen = sizeof s->errmsg;
#ifdef TRAWL_TEST_HOOKS
	c.exhaustive = idx_search_exhaustive;
#endif
	return c;
}

/* ---- queries ---- */

struct trawl_query {
	qt_node *tree; /* keeps common/qtree.h's rules and limits */
};

/* query_wrap hands tree to a new query in *out; TRAWL_ENOMEM frees it. */
static int query_wrap(qt_node *tree, trawl_query **out)
{
	*out = malloc(sizeof **out);
	if (!*out) {
		qt_free(tree);
		return TRAWL_ENOMEM;
	}
	(*out)->tree = tree;
	return TRAWL_OK;
}

int trawl_query_parse(trawl_query **out, const char *text, size_t len, int default_op, char *errbuf,
                      size_t errlen)
{
	qt_node *tree = NULL;
	*out = NULL;
	int rc = idx_query_parse(text, len, default_op, &tree, errbuf, errlen);
	if (!rc && (rc = query_wrap(tree, out)))
		errf(errbuf, errlen, rc, "out of memory");
	return rc;
}

int trawl_query_decode(trawl_query **out, const void *bytes, size_t len, char *errbuf,
                       size_t errlen)
{
	qt_node *tree = NULL;
	*out = NULL;
	int rc = qt_decode(bytes, len, &tree, errbuf, errlen);
	if (!rc && (rc = query_wrap(tree, out)))
		errf(errbuf, errlen, rc, "out of memory");
	return rc;
}

int trawl_query_encode(const trawl_query *q, void **bytes, size_t *len)
{
	tbuf b;
	tbuf_init(&b, TRAWL_MAX_QUERY_TREE_BYTES);
	*bytes = NULL;
	*len = 0;
	int rc = qt_encode(q->tree, &b, NULL, 0);
	if (rc) {
		tbuf_fini(&b);
		return rc;
	}
	*bytes = b.data; /* the caller's now, so b is not finalised */
	*len = b.len;
	return TRAWL_OK;
}

void trawl_query_free(trawl_query *q)
{
	if (q)
		qt_free(q->tree);
	free(q);
}

/* search_opts: opts (NULL: the defaults) with k filled in, in *o, or
 * TRAWL_ELIMIT for too deep a page. */
static int search_opts(trawl_searcher *s, const trawl_search_opts *opts, trawl_search_opts *o)
{
	*o = (trawl_search_opts){0};
	if (opts)
		*o = *opts;
	if (o->k == 0)
		o->k = 10;
	if ((uint64_t)o->k + o->offset > TRAWL_MAX_K)
		return serr(s, TRAWL_ELIMIT, "k + offset is %llu; the limit is %d",
		            (unsigned long long)o->k + o->offset, TRAWL_MAX_K);
	return TRAWL_OK;
}

int trawl_search(trawl_searcher *s, const char *query, size_t len, const trawl_search_opts *opts,
                 trawl_results **out)
{
	*out = NULL;
	s->errmsg[0] = 0;
	trawl_search_opts o;
	trawl_query q = {NULL};
	int rc = search_opts(s, opts, &o);
	if (!rc)
		rc =
		    idx_query_parse(query, len, o.default_op, &q.tree, s->errmsg, sizeof s->errmsg);
	if (!rc)
		rc = trawl_search_query(s, &q, &o, out);
	qt_free(q.tree);
	return rc;
}

int trawl_search_query(trawl_searcher *s, const trawl_query *q, const trawl_search_opts *opts,
                       trawl_results **out)
{
	*out = NULL;
	s->errmsg[0] = 0;
	trawl_search_opts o;
	if (search_opts(s, opts, &o))
		return TRAWL_ELIMIT;
	trawl_results *r = calloc(1, sizeof *r);
	if (!r)
		return serr(s, TRAWL_ENOMEM, "out of memory");
	r->s = s;
	int rc = idx_lq_compile(q->tree, &s->idx->schema, s->an, &r->qa, &r->lq, s->errmsg,
	                        sizeof s->errmsg);
	if (rc)
		goto fail;
	uint32_t want = o.k + o.offset, ns = s->idx->nshards;
	if ((size_t)want * ns > s->caphits) {
		idx_hit *h = realloc(s->hits, (size_t)want * ns * sizeof *h);
		if (!h) {
			rc = serr(s, TRAWL_ENOMEM, "out of memory");
			goto fail;
		}
		s->hits = h;
		s->caphits = want * ns;
	}
	r->has_query = 1;
	uint8_t only[TRAWL_MAX_SHARDS] = {0};
	for (uint32_t i = 0; o.shards && i < o.nshards; i++) {
		if (o.shards[i] >= TRAWL_MAX_SHARDS || s->idx->local[o.shards[i]] < 0) {
			rc = serr(s, TRAWL_EINVAL, "shard %u is not open here", o.shards[i]);
			goto fail;
		}
		only[o.shards[i]] = 1;
	}
	uint32_t total = 0;
	float floor = 0; /* the want-th best score so far, once there are want */
	for (uint32_t i = 0; i < ns; i++) {
		if (o.shards && !only[s->idx->shards[i].no])
			continue;
		idx_shard_ctx c = shard_ctx(s, i);
		c.deadline_us = o.deadline_us;
		c.floor = floor;
		if (o.deadline_us && clock_unix_us() >= o.deadline_us) {
			r->partial = 1; /* no time left for this shard */
			continue;
		}
		uint32_t n;
		uint64_t cnt = 0;
		rc = idx_shard_search(&c, &r->lq, o.count_mode == TRAWL_COUNT_ONLY ? 0 : want,
		                      s->hits + total, &n,
		                      o.count_mode == TRAWL_COUNT_NONE ? NULL : &cnt);
		r->total += cnt;
		arena_reset(&s->eval);
		if (rc)
			goto fail;
		for (uint32_t j = 0; j < n; j++)
			s->hits[total + j].shard = s->idx->shards[i].no;
		total += n;
		/* Keep the best want so far: the next shards need only beat the
		 * want-th of them (its score is their floor), which lets them prune
		 * from the start instead of filling a heap of their own first. */
		if (want && total >= want) {
			qsort(s->hits, total, sizeof *s->hits, cmp_hit);
			total = want;
			floor = s->hits[want - 1].score;
		}
		r->searched += s->idx->shards[i].ndocs;
		if (c.timed_out)
			r->partial = 1;
	}
	/* merge the shards' lists */
	qsort(s->hits, total, sizeof *s->hits, cmp_hit);
	uint32_t from = o.offset < total ? o.offset : total;
	uint32_t n = total - from < o.k ? total - from : o.k;
	r->hits = calloc(n ? n : 1, sizeof *r->hits);
	if (!r->hits) {
		rc = serr(s, TRAWL_ENOMEM, "out of memory");
		goto fail;
	}
	for (uint32_t i = 0; i < n; i++) {
		r->hits[i].h = s->hits[from + i];
		r->hits[i].id =
		    extid_dup(&s->views[s->idx->local[r->hits[i].h.shard]], r->hits[i].h.doc);
		r->n = i + 1;
		if (!r->hits[i].id) {
			rc = serr(s, TRAWL_ENOMEM, "out of memory");
			goto fail;
		}
	}
	*out = r;
	return TRAWL_OK;
fail:
	if (rc == TRAWL_ECORRUPT && !s->errmsg[0])
		serr(s, rc, "damaged index data");
	trawl_results_free(r);
	return rc;
}

/* Fetches and decompresses doc of shard i. */
static int fetch_doc(trawl_searcher *s, uint32_t i, uint32_t doc, char **out, size_t *len)
{
	idx_sview *v = &s->views[i];
	if (!v->zdec && idx_zdec_alloc(&v->zdec, v->zdict, v->zdict_len))
		return TRAWL_ENOMEM;
	uint8_t key[4] = {(uint8_t)(doc >> 24), (uint8_t)(doc >> 16), (uint8_t)(doc >> 8),
	                  (uint8_t)doc};
	const void *rec;
	size_t n;
	int rc = idx_store_get(v->txn, IDX_DB_DOCS, key, 4, &rec, &n);
	if (rc)
		return rc;
	return idx_zdec_record(v->zdec, rec, n, out, len);
}

const char *trawl_results_doc(trawl_results *r, uint32_t i, size_t *len, int *err)
{
	if (i >= r->n) {
		if (err)
			*err = TRAWL_EINVAL;
		return NULL;
	}
	rhit *h = &r->hits[i];
	if (!h->doc && !h->docerr) {
		int16_t li = r->s->idx->local[h->h.shard];
		if (!h->id || li < 0)
			h->docerr = TRAWL_ENOTFOUND;
		else
			h->docerr = fetch_doc(r->s, (uint32_t)li, h->h.doc, &h->doc, &h->doclen);
		if (h->docerr == TRAWL_ECORRUPT)
			serr(r->s, TRAWL_ECORRUPT, "%s: stored document %s fails its checksum",
			     r->s->idx->shards[li].path, h->id);
	}
	if (err)
		*err = h->docerr;
	if (len)
		*len = h->doclen;
	return h->doc;
}

const char *trawl_results_snippet(trawl_results *r, uint32_t i, const char *field, const char *pre,
                                  const char *post, size_t max_chars)
{
	size_t dlen;
	const char *doc = trawl_results_doc(r, i, &dlen, NULL);
	int fid = field ? idx_schema_field(&r->s->idx->schema, field, strlen(field)) : -1;
	if (!doc || fid < 0)
		return NULL;
	idx_lquery none = {0};
	const idx_lquery *lq = r->has_query ? &r->lq : &none;
	rhit *h = &r->hits[i];
	free(h->snip);
	h->snip = NULL;
	json_t *root = json_loadb(doc, dlen, 0, NULL);
	json_t *v = root ? json_object_get(root, field) : NULL;
	tbuf text, out;
	tbuf_init(&text, LIMIT_STORED_DOC_BYTES);
	tbuf_init(&out, LIMIT_STORED_DOC_BYTES);
	int ok = 0;
	if (json_is_string(v)) {
		ok = !tbuf_append(&text, json_string_value(v), json_string_length(v));
	} else if (json_is_array(v)) {
		size_t k;
		json_t *e;
		ok = 1;
		json_array_foreach(v, k, e)
		{
			if (json_is_string(e) &&
			    ((k && tbuf_putc(&text, '\n')) ||
			     tbuf_append(&text, json_string_value(e), json_string_length(e))))
				ok = 0;
		}
	}
	json_decref(root);
	if (ok && idx_snippet(r->s->an[r->s->idx->schema.fields[fid].analyzer], lq, (uint8_t)fid,
	                      (const char *)text.data ? (const char *)text.data : "", text.len,
	                      pre ? pre : "<em>", post ? post : "</em>",
	                      max_chars ? max_chars : 200, &out) == 0) {
		h->snip = strdup(tbuf_cstr(&out));
	}
	tbuf_fini(&text);
	tbuf_fini(&out);
	return h->snip;
}

int trawl_fetch(trawl_searcher *s, const char *query, size_t qlen, const trawl_docref *refs,
                uint32_t n, trawl_results **out)
{
	*out = NULL;
	s->errmsg[0] = 0;
	trawl_query q = {NULL};
	if (qlen) {
		int rc =
		    idx_query_parse(query, qlen, TRAWL_OP_OR, &q.tree, s->errmsg, sizeof s->errmsg);
		if (rc)
			return rc;
	}
	int rc = trawl_fetch_query(s, qlen ? &q : NULL, refs, n, out);
	qt_free(q.tree);
	return rc;
}

int trawl_fetch_query(trawl_searcher *s, const trawl_query *q, const trawl_docref *refs, uint32_t n,
                      trawl_results **out)
{
	*out = NULL;
	s->errmsg[0] = 0;
	if (n > TRAWL_MAX_K)
		return serr(s, TRAWL_ELIMIT, "%u documents to fetch; the limit is %d", n,
		            TRAWL_MAX_K);
	trawl_results *r = calloc(1, sizeof *r);
	if (!r || !(r->hits = calloc(n ? n : 1, sizeof *r->hits))) {
		free(r);
		return serr(s, TRAWL_ENOMEM, "out of memory");
	}
	r->s = s;
	if (q) {
		int rc = idx_lq_compile(q->tree, &s->idx->schema, s->an, &r->qa, &r->lq, s->errmsg,
		                        sizeof s->errmsg);
		if (rc) {
			trawl_results_free(r);
			return rc;
		}
		r->has_query = 1;
	}
	for (uint32_t i = 0; i < n; i++) {
		rhit *h = &r->hits[i];
		h->h.shard = refs[i].shard;
		h->h.doc = refs[i].doc;
		r->n = i + 1;
		int16_t li = refs[i].shard < TRAWL_MAX_SHARDS ? s->idx->local[refs[i].shard] : -1;
		if (li < 0 || refs[i].doc >= s->views[li].ndocs)
			continue; /* id stays NULL: no such document here */
		h->h.hash = idx_view_hash(&s->views[li], refs[i].doc);
		if (!(h->id = extid_dup(&s->views[li], refs[i].doc))) {
			trawl_results_free(r);
			return serr(s, TRAWL_ENOMEM, "out of memory");
		}
	}
	*out = r;
	return TRAWL_OK;
}

int trawl_get(trawl_searcher *s, const char *id, char **json, size_t *len)
{
	*json = NULL;
	size_t n = strlen(id);
	if (n == 0 || n > LIMIT_ID_BYTES)
		return serr(s, TRAWL_ENOTFOUND, "no document with id \"%.80s\"", id);
	uint32_t gsh = th_shard_of(id, n, s->idx->total_shards);
	if (s->idx->local[gsh] < 0)
		return serr(s, TRAWL_ENOTFOUND,
		            "document \"%.80s\" lives in shard %u, which is not "
		            "open here",
		            id, gsh);
	uint32_t sh = (uint32_t)s->idx->local[gsh];
	/* doc ids follow the hash of the id: binary search, then compare ids */
	const idx_sview *v = &s->views[sh];
	uint64_t h = th_hash64(id, n);
	uint32_t lo = 0, hi = v->ndocs;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (idx_view_hash(v, mid) < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	uint32_t doc = IDX_END;
	for (; lo < v->ndocs && idx_view_hash(v, lo) == h; lo++) {
		uint32_t l;
		const uint8_t *e = idx_view_extid(v, lo, &l);
		if (e && l == n && !memcmp(e, id, n)) {
			doc = lo;
			break;
		}
	}
	if (doc == IDX_END)
		return serr(s, TRAWL_ENOTFOUND, "no document with id \"%.80s\"", id);
	int rc;
	rc = fetch_doc(s, sh, doc, json, len);
	if (rc == TRAWL_ENOTFOUND)
		return serr(s, rc, "document \"%.80s\" exists but the index stores no documents",
		            id);
	if (rc == TRAWL_ECORRUPT)
		return serr(s, rc, "%s: stored document \"%.80s\" fails its checksum",
		            s->idx->shards[sh].path, id);
	return rc;
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
				rc = fetch_doc(s, i, d, &doc, &len);
				free(doc);
				if (rc) {
					char *id = extid_dup(&s->views[i], d);
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
