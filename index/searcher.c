/*
 * searcher.c - trawl_searcher_*, and the searches: trawl_search and
 * trawl_search_query (every shard's top-k, merged), trawl_fetch and
 * trawl_fetch_query (stored documents and snippets of given docs), and
 * trawl_get (a document by its id).
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
#include "handles.h"
#include "postings.h"
#include "aggs_collect.h"
#include "search.h"
#include "sort.h"
#include "testhooks.h"

int idx_serr(trawl_searcher *s, int code, const char *fmt, ...)
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
		for (uint32_t i = 0; i < s->idx->nsegs; i++) {
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

/* The typed fields' parts in shard i (docs/FORMAT.md 6.9-6.11): each one
 * the schema says the field has must be there and whole. */
static int open_columns(trawl_searcher *s, uint32_t i)
{
	const idx_seg *sh = &s->idx->segs[i];
	const idx_schema *sc = &s->idx->schema;
	idx_sview *v = &s->views[i];
	for (uint32_t t = 0; t < sc->ntyped; t++) {
		const idx_tfield *f = &sc->typed[t];
		const void *part[3] = {NULL, NULL, NULL};
		size_t len[3] = {0, 0, 0};
		int want[3] = {f->doc_values, f->index && f->type != IDX_KEYWORD,
		               f->doc_values && f->type == IDX_KEYWORD};
		static const char *const what[3] = {"dv", "pts", "ords"};
		for (int k = 0; k < 3; k++) {
			char key[32];
			snprintf(key, sizeof key, "%s.%u", what[k], t);
			if (want[k] && idx_read_meta(v->txn, key, &part[k], &len[k]))
				return idx_serr(s, TRAWL_ECORRUPT,
				                "%s: field \"%s\" has no \"%s\" (an index "
				                "built before typed fields were stored? build it "
				                "again)",
				                sh->path, f->name, key);
		}
		char why[160];
		if (idx_col_open(&v->cols[t], f->type, v->ndocs, part[0], len[0], part[1], len[1],
		                 part[2], len[2], why, sizeof why))
			return idx_serr(s, TRAWL_ECORRUPT, "%s: field \"%s\": %s", sh->path,
			                f->name, why);
		v->cols[t].gdict = s->idx->has_kdict[t] ? &s->idx->kdict[t] : &v->cols[t].dict;
		v->cols[t].gord = sh->gord[t];
	}
	return TRAWL_OK;
}

static int open_view(trawl_searcher *s, uint32_t i)
{
	const idx_seg *sh = &s->idx->segs[i];
	idx_sview *v = &s->views[i];
	int rc = idx_rtxn_begin(sh->store, &v->txn);
	if (rc)
		return idx_serr(s, rc, "%s: cannot begin a read transaction", sh->path);
	v->ndocs = sh->ndocs;
	v->deleted = sh->del.count ? sh->del.bits : NULL;
	v->ndeleted = sh->del.count;
	v->bscale = sh->bscale;
	const void *p;
	size_t n;
	for (uint32_t f = 0; f < s->idx->schema.nfields; f++) {
		char key[32];
		snprintf(key, sizeof key, "norms.%u", f);
		if (idx_read_meta(v->txn, key, &p, &n) || n != v->ndocs)
			return idx_serr(s, TRAWL_ECORRUPT,
			                "%s: norms of field %u missing or damaged", sh->path, f);
		v->norms[f] = p;
	}
	const void *dp, *ip, *pp, *xp;
	size_t dn, in, pn, xn;
	if (idx_read_meta(v->txn, "dict", &dp, &dn) ||
	    idx_read_meta(v->txn, "dict.index", &ip, &in) ||
	    idx_read_meta(v->txn, "postings", &pp, &pn) ||
	    idx_read_meta(v->txn, "positions", &xp, &xn) || in % IDX_DICT_INDEX_ENTRY)
		return idx_serr(s, TRAWL_ECORRUPT, "%s: term dictionary missing or damaged",
		                sh->path);
	v->dict = (idx_dict){dp, dn, ip, (uint32_t)(in / IDX_DICT_INDEX_ENTRY), pp, pn, xp, xn};
	if (idx_dict_check(&v->dict))
		return idx_serr(s, TRAWL_ECORRUPT, "%s: term dictionary damaged", sh->path);
	size_t nblk = ((size_t)v->ndocs + IDX_EXTID_BLOCK - 1) / IDX_EXTID_BLOCK;
	size_t offs = (nblk + 1) * 4;
	if (idx_read_meta(v->txn, "extids", &p, &n) || n < offs)
		return idx_serr(s, TRAWL_ECORRUPT, "%s: document ids missing or damaged", sh->path);
	v->extoff = p;
	v->extdata = (const uint8_t *)p + offs;
	v->extdata_len = n - offs;
	uint32_t last;
	memcpy(&last, v->extoff + nblk * 4, 4);
	if (last != v->extdata_len)
		return idx_serr(s, TRAWL_ECORRUPT, "%s: document ids damaged", sh->path);
	if (idx_read_meta(v->txn, "zdict", &p, &n) == 0) {
		v->zdict = p;
		v->zdict_len = n;
	}
	return open_columns(s, i);
}

int trawl_searcher_open(trawl_searcher **out, trawl_index *idx)
{
	return idx_searcher_open(out, idx, NULL, 0);
}

int idx_searcher_open(trawl_searcher **out, trawl_index *idx, char *err, size_t errlen)
{
	*out = NULL;
	trawl_searcher *s = calloc(1, sizeof *s);
	if (!s)
		return TRAWL_ENOMEM;
	s->idx = idx;
	s->views = calloc(idx->nsegs ? idx->nsegs : 1, sizeof *s->views);
	uint32_t maxdocs = 0;
	for (uint32_t i = 0; i < idx->nsegs; i++)
		if (idx->segs[i].ndocs > maxdocs)
			maxdocs = idx->segs[i].ndocs;
	s->bitset = malloc(((size_t)maxdocs + 64) / 64 * 8);
	int rc = TRAWL_ENOMEM;
	if (!s->views || !s->bitset || idx_analyzer_alloc(&s->an[0], IDX_AN_PLAIN) ||
	    idx_analyzer_alloc(&s->an[1], IDX_AN_ENGLISH))
		goto fail;
	for (uint32_t i = 0; i < idx->nsegs; i++)
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

static int cmp_hit(const void *a, const void *b)
{
	const idx_hit *x = a, *y = b;
	return idx_hit_before(x, y) ? -1 : idx_hit_before(y, x) ? 1 : 0;
}

static int cmp_sorted(const void *a, const void *b, void *sort)
{
	const idx_hit *x = a, *y = b;
	return idx_sort_before(sort, x, y) ? -1 : idx_sort_before(sort, y, x) ? 1 : 0;
}

/* Sorts n hits in r's order: its sort by fields, or score. */
static void sort_hits(const trawl_results *r, idx_hit *h, uint32_t n)
{
	if (r->sort.nkeys)
		qsort_r(h, n, sizeof *h, cmp_sorted, (void *)&r->sort);
	else
		qsort(h, n, sizeof *h, cmp_hit);
}

#ifdef TRAWL_TEST_HOOKS
int idx_search_exhaustive;
#endif

/* The evaluation context of segment i for searcher s. In the tests'
 * build, idx_search_exhaustive turns pruning off (testhooks.h). */
static idx_shard_ctx shard_ctx(trawl_searcher *s, uint32_t i)
{
	idx_shard_ctx c = {0};
	c.view = &s->views[i];
	c.gstats = s->idx->gstats;
	c.schema = &s->idx->schema;
	c.ktab = (const float(*)[256])s->ktab;
	c.global_docs = s->idx->stats.docs;
	c.arena = &s->eval;
	c.bitset = s->bitset;
	c.fcache = s->idx->fcache;
	c.shard_no = s->idx->segs[i].no;
	c.seg = i;
	c.err = s->errmsg;
	c.errlen = sizeof s->errmsg;
#ifdef TRAWL_TEST_HOOKS
	c.exhaustive = idx_search_exhaustive;
#endif
	return c;
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
		return idx_serr(s, TRAWL_ELIMIT, "k + offset is %llu; the limit is %d",
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

/* ---- aggregations ---- */

/* What a filter aggregation's bitsets need: the shard's evaluation context
 * and the bitsets made so far (freed after the shard). */
typedef struct fbits_ctx {
	trawl_searcher *s;
	idx_shard_ctx *c;
	uint64_t **made;
	uint32_t nmade, capmade;
	arena qa; /* the filters' compiled queries */
} fbits_ctx;

/* aggc_filter_bits: the documents of one filter query in the shard. */
static uint64_t *filter_bits(void *ctx, const void *tree, size_t len, uint32_t ndocs)
{
	fbits_ctx *f = ctx;
	if (f->nmade == f->capmade) {
		uint32_t nc = f->capmade ? 2 * f->capmade : 8;
		uint64_t **m = realloc(f->made, nc * sizeof *m);
		if (!m)
			return NULL;
		f->made = m;
		f->capmade = nc;
	}
	uint64_t *bits = calloc(((size_t)ndocs + 63) / 64 + 1, 8);
	qt_node *t = NULL;
	idx_lquery lq;
	int ok = bits && qt_decode(tree, len, &t, NULL, 0) == TRAWL_OK &&
	         idx_lq_compile(t, &f->s->idx->schema, f->s->an, &f->qa, &lq, f->s->errmsg,
	                        sizeof f->s->errmsg) == TRAWL_OK &&
	         idx_shard_bits(f->c, &lq, bits) == TRAWL_OK;
	qt_free(t);
	if (!ok) {
		free(bits);
		return NULL;
	}
	f->made[f->nmade++] = bits;
	return bits;
}

static void fbits_reset(fbits_ctx *f)
{
	for (uint32_t i = 0; i < f->nmade; i++)
		free(f->made[i]);
	f->nmade = 0;
	arena_reset(&f->qa);
}

/* Segment i's aggregations into r->aggs (the collector fed by the search). */
static int shard_aggs_begin(trawl_searcher *s, const aggc_bound *bound, uint32_t i,
                            idx_shard_ctx *c, fbits_ctx *fb, aggc **ac)
{
	fb->s = s;
	fb->c = c;
	int rc = aggc_open(ac, bound, s->views[i].cols, s->views[i].ndocs, filter_bits, fb,
	                   s->errmsg, sizeof s->errmsg);
	const idx_delset *del = &s->idx->segs[i].del;
	if (!rc && s->idx->gen_deleted) /* values only deleted documents hold are gone */
		aggc_only_live(*ac, del->count ? del->bits : NULL);
	if (!rc)
		c->aggc = *ac;
	return rc;
}

/*
 * Terms aggregations with min_doc_count 0 (fill nodes) list every value of
 * their field with count 0 where no document has it, at the top and in
 * each bucket of the aggregation above them. A build's shard is one
 * segment, whose dictionary holds the generation's keyword values and
 * whose column the shard's numbers, and lists them all in every such
 * bucket; the segments that updates made list only their own, and only in
 * the buckets they have. So in a generation updates made, a search first
 * gathers each keyword fill node's values over the segments of the shards
 * it searches (gkeys, with aggc_keys), then keeps each shard's segments'
 * partials apart (res) with each number fill node's values over them
 * (keys); when the shard's last segment is done it merges, in every bucket
 * of res, each fill node's result in a bucket of no document (aggc_zero)
 * made of those values, and res joins the others. The shard's partial is
 * held to LIMIT_AGG_BUCKETS while it grows, as a build's one segment is;
 * values past the limit are an error only where a bucket needs them.
 */
typedef struct shard_fill {
	const aggs_spec *root;
	const aggs_spec **node;
	uint8_t *kw; /* per node: it reads a keyword */
	uint32_t n;
	aggs_result **gkeys; /* per keyword node: the shards searched's values (NULL: over) */
	int64_t shard;       /* the shard gathered (-1: none) */
	aggs_result *res;    /* its segments' partials, merged */
	aggs_result **keys;  /* per number node: its segments' values (NULL: over) */
} shard_fill;

/* Whether a terms with min_doc_count 0 is below spec node s. */
static int fill_below(const aggs_spec *s)
{
	for (uint32_t i = 0; i < s->nsubs; i++)
		if ((s->subs[i].kind == AGGS_TERMS && s->subs[i].min_doc_count == 0) ||
		    fill_below(&s->subs[i]))
			return 1;
	return 0;
}

/* The fill nodes below spec s, into out (when not NULL) from n on; their
 * number. At the top, one with none below needs nothing: the merge of
 * every shard's partial lists the values of every shard. */
static uint32_t fill_nodes(const aggs_spec *s, const aggs_spec **out, uint32_t n)
{
	for (uint32_t i = 0; i < s->nsubs; i++) {
		const aggs_spec *c = &s->subs[i];
		if (c->kind == AGGS_TERMS && c->min_doc_count == 0 &&
		    (s->kind != AGGS_ROOT || fill_below(c))) {
			if (out)
				out[n] = c;
			n++;
		}
		n = fill_nodes(c, out, n);
	}
	return n;
}

/* f set up for the search of spec root (sf.n 0: nothing to fill). */
static int fill_open(shard_fill *f, const aggs_spec *root, const aggc_bound *bound)
{
	memset(f, 0, sizeof *f);
	f->root = root;
	f->shard = -1;
	uint32_t n = fill_nodes(root, NULL, 0);
	if (!n)
		return TRAWL_OK;
	if (!(f->node = calloc(n, sizeof *f->node)) || !(f->kw = calloc(n, 1)) ||
	    !(f->gkeys = calloc(n, sizeof *f->gkeys)) || !(f->keys = calloc(n, sizeof *f->keys)))
		return TRAWL_ENOMEM;
	f->n = fill_nodes(root, f->node, 0);
	for (uint32_t j = 0; j < n; j++)
		f->kw[j] = (uint8_t)aggc_bound_keyword(bound, f->node[j]);
	return TRAWL_OK;
}

/* Drops the shard gathered. */
static void fill_drop(shard_fill *f)
{
	aggs_result_free(f->root, f->res);
	f->res = NULL;
	for (uint32_t j = 0; f->keys && j < f->n; j++) {
		aggs_result_free(f->node[j], f->keys[j]);
		f->keys[j] = NULL;
	}
	f->shard = -1;
}

static void fill_close(shard_fill *f)
{
	fill_drop(f);
	for (uint32_t j = 0; f->gkeys && j < f->n; j++)
		aggs_result_free(f->node[j], f->gkeys[j]);
	free(f->node);
	free(f->kw);
	free(f->gkeys);
	free(f->keys);
	memset(f, 0, sizeof *f);
	f->shard = -1;
}

/* Segment ac's values of fill node j merged into *into; past the limit
 * *into is dropped (NULL: an error only where a bucket needs them). */
static int fill_take(trawl_searcher *s, const shard_fill *f, uint32_t j, aggc *ac,
                     aggs_result **into)
{
	if (!*into)
		return TRAWL_OK; /* over the limit already */
	aggs_result *k = NULL;
	int rc = aggc_keys(ac, f->node[j], &k, s->errmsg, sizeof s->errmsg);
	if (!rc)
		rc = aggs_merge(f->node[j], *into, k, s->errmsg, sizeof s->errmsg);
	if (rc == TRAWL_ELIMIT) {
		aggs_result_free(f->node[j], *into);
		*into = NULL;
		s->errmsg[0] = 0;
		rc = TRAWL_OK;
	}
	return rc;
}

/* The zero-filled bits of a filter in a collector that collects nothing. */
static uint64_t *no_bits(void *ctx, const void *tree, size_t len, uint32_t ndocs)
{
	return ctx;
}

/* Every keyword fill node's values, over every segment of the shards
 * searched (only: NULL, every shard open here; a leaf reads no other,
 * leaf/shardguard.h). */
static int fill_gkeys(trawl_searcher *s, shard_fill *f, const aggc_bound *bound,
                      const uint8_t *only)
{
	uint32_t maxdocs = 0, any = 0;
	for (uint32_t j = 0; j < f->n; j++)
		any |= f->kw[j];
	for (uint32_t i = 0; i < s->idx->nsegs; i++)
		if (s->views[i].ndocs > maxdocs)
			maxdocs = s->views[i].ndocs;
	uint64_t *zero = any ? calloc((size_t)maxdocs / 64 + 2, 8) : NULL;
	if (any && !zero)
		return idx_serr(s, TRAWL_ENOMEM, "out of memory");
	for (uint32_t j = 0; j < f->n; j++)
		if (f->kw[j] && !(f->gkeys[j] = aggs_result_empty(f->node[j]))) {
			free(zero);
			return idx_serr(s, TRAWL_ENOMEM, "out of memory");
		}
	int rc = TRAWL_OK;
	for (uint32_t i = 0; any && !rc && i < s->idx->nsegs; i++) {
		if (only && !only[s->idx->segs[i].no])
			continue;
		aggc *ac = NULL;
		rc = aggc_open(&ac, bound, s->views[i].cols, s->views[i].ndocs, no_bits, zero,
		               s->errmsg, sizeof s->errmsg);
		const idx_delset *del = &s->idx->segs[i].del;
		if (!rc && s->idx->gen_deleted)
			aggc_only_live(ac, del->count ? del->bits : NULL);
		for (uint32_t j = 0; !rc && j < f->n; j++)
			if (f->kw[j])
				rc = fill_take(s, f, j, ac, &f->gkeys[j]);
		aggc_close(ac);
	}
	free(zero);
	return rc;
}

/* Starts gathering shard no. */
static int fill_start(trawl_searcher *s, shard_fill *f, uint32_t no)
{
	f->shard = no;
	if (!(f->res = aggs_result_empty(f->root)))
		return idx_serr(s, TRAWL_ENOMEM, "out of memory");
	for (uint32_t j = 0; j < f->n; j++)
		if (!f->kw[j] && !(f->keys[j] = aggs_result_empty(f->node[j])))
			return idx_serr(s, TRAWL_ENOMEM, "out of memory");
	return TRAWL_OK;
}

/* A segment's values of each number fill node into the shard's keys. */
static int fill_keys_add(trawl_searcher *s, shard_fill *f, aggc *ac)
{
	int rc = TRAWL_OK;
	for (uint32_t j = 0; !rc && j < f->n; j++)
		if (!f->kw[j])
			rc = fill_take(s, f, j, ac, &f->keys[j]);
	return rc;
}

/* aggc_zero's values for fill node s (NULL: over the limit). */
static const aggs_result *fill_keys_of(void *arg, const aggs_spec *s, int kw)
{
	const shard_fill *f = arg;
	for (uint32_t j = 0; j < f->n; j++)
		if (f->node[j] == s)
			return f->kw[j] ? f->gkeys[j] : f->keys[j];
	return NULL;
}

/* In every bucket of r (of spec node spec) and below, each fill node's
 * result in a bucket of no document merged in; *count: the shard's
 * buckets. A fill node's buckets of count 0 are complete already (every
 * value came with the same result). */
static int fill_walk(trawl_searcher *s, shard_fill *f, const aggc_bound *bound,
                     const aggs_spec *spec, aggs_result *r, int in_fill, uint64_t *count)
{
	for (uint32_t b = 0; b < r->nbuckets; b++) {
		aggs_bucket *bk = &r->buckets[b];
		if (!bk->subs || (in_fill && !bk->doc_count))
			continue;
		for (uint32_t k = 0; k < spec->nsubs; k++) {
			const aggs_spec *c = &spec->subs[k];
			int fill = 0, rc;
			for (uint32_t j = 0; j < f->n && !fill; j++)
				fill = f->node[j] == c;
			if (fill) {
				aggs_result *z = NULL;
				if ((rc = aggc_zero(bound, c, fill_keys_of, f, &z, s->errmsg,
				                    sizeof s->errmsg)))
					return rc;
				uint64_t before = aggs_result_buckets(c, &bk->subs[k]);
				if ((rc = aggs_merge(c, &bk->subs[k], z, s->errmsg,
				                     sizeof s->errmsg)))
					return rc;
				*count += aggs_result_buckets(c, &bk->subs[k]) - before;
				if (*count > LIMIT_AGG_BUCKETS)
					return idx_serr(s, TRAWL_ELIMIT, AGGC_OVER_BUCKETS, c->path,
					                LIMIT_AGG_BUCKETS);
			}
			if ((rc = fill_walk(s, f, bound, c, &bk->subs[k], fill, count)))
				return rc;
		}
	}
	return TRAWL_OK;
}

/* The shard gathered, completed, into the search's result. */
static int fill_flush(trawl_searcher *s, shard_fill *f, const aggc_bound *bound, trawl_results *r)
{
	if (f->shard < 0)
		return TRAWL_OK;
	uint64_t count = aggs_result_buckets(f->root, f->res);
	int rc = fill_walk(s, f, bound, f->root, f->res, 0, &count);
	if (!rc) {
		rc = aggs_merge(r->aggs_spec, r->aggs, f->res, s->errmsg, sizeof s->errmsg);
		f->res = NULL; /* consumed */
	}
	fill_drop(f);
	return rc;
}

static int shard_aggs_end(trawl_searcher *s, const trawl_results *r, aggc *ac, aggs_result *into)
{
	aggs_result *part = NULL;
	int rc = aggc_finish(ac, &part, s->errmsg, sizeof s->errmsg);
	if (!rc)
		rc = aggs_merge(r->aggs_spec, into, part, s->errmsg, sizeof s->errmsg);
	else
		aggs_result_free(r->aggs_spec, part);
	return rc;
}

/* The view of the first segment o searches (NULL: none): the keyword
 * dictionary sort values number by (idx_col's gdict) is the same in every
 * segment, and a leaf must not read a shard a request does not name
 * (leaf/shardguard.h). */
static const idx_sview *first_view(const trawl_searcher *s, const trawl_search_opts *o)
{
	if (!o->shards || !o->nshards)
		return s->idx->nsegs ? &s->views[0] : NULL;
	int32_t li = o->shards[0] < TRAWL_MAX_SHARDS ? s->idx->local[o->shards[0]] : -1;
	return li >= 0 ? &s->views[li] : NULL;
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
		return idx_serr(s, TRAWL_ENOMEM, "out of memory");
	r->s = s;
	int rc = idx_lq_compile(q->tree, &s->idx->schema, s->an, &r->qa, &r->lq, s->errmsg,
	                        sizeof s->errmsg);
	if (!rc)
		rc = idx_sort_compile(s->idx, first_view(s, &o), &o, &r->sort, s->errmsg,
		                      sizeof s->errmsg);
	aggc_bound *bound = NULL;
	fbits_ctx fb = {0};
	shard_fill sf = {.shard = -1};
	if (!rc && o.aggs) {
		r->aggs_spec = o.aggs->spec;
		if (!(r->aggs = aggs_result_empty(r->aggs_spec)))
			rc = idx_serr(s, TRAWL_ENOMEM, "out of memory");
		else
			rc = aggc_bind(o.aggs->spec, &s->idx->schema, &bound, s->errmsg,
			               sizeof s->errmsg);
		/* a generation updates made: min_doc_count 0 as a build's (shard_fill) */
		if (!rc && s->idx->gstats && fill_open(&sf, o.aggs->spec, bound))
			rc = idx_serr(s, TRAWL_ENOMEM, "out of memory");
	}
	if (rc)
		goto fail;
	/* the best want so far, and a segment's want beside them */
	uint32_t want = o.k + o.offset, ns = s->idx->nsegs;
	if ((size_t)want * 2 > s->caphits) {
		idx_hit *h = realloc(s->hits, (size_t)want * 2 * sizeof *h);
		if (!h) {
			rc = idx_serr(s, TRAWL_ENOMEM, "out of memory");
			goto fail;
		}
		s->hits = h;
		s->caphits = want * 2;
	}
	r->has_query = 1;
	uint8_t only[TRAWL_MAX_SHARDS] = {0};
	for (uint32_t i = 0; o.shards && i < o.nshards; i++) {
		if (o.shards[i] >= TRAWL_MAX_SHARDS || s->idx->local[o.shards[i]] < 0) {
			rc = idx_serr(s, TRAWL_EINVAL, "shard %u is not open here", o.shards[i]);
			goto fail;
		}
		only[o.shards[i]] = 1;
	}
	if (sf.n && (rc = fill_gkeys(s, &sf, bound, o.shards ? only : NULL)))
		goto fail;
	uint32_t total = 0;
	float floor = 0; /* the want-th best score so far, once there are want */
	for (uint32_t i = 0; i < ns; i++) {
		const idx_seg *sg = &s->idx->segs[i];
		if (sf.shard >= 0 && sf.shard != sg->no && (rc = fill_flush(s, &sf, bound, r)))
			goto fail;
		if (o.shards && !only[sg->no])
			continue;
		idx_shard_ctx c = shard_ctx(s, i);
		c.deadline_us = o.deadline_us;
		c.floor = floor;
		c.sort = &r->sort;
		if (o.deadline_us && clock_unix_us() >= o.deadline_us) {
			r->partial = 1; /* no time left for this shard */
			continue;
		}
		uint32_t n;
		uint64_t cnt = 0;
		aggc *ac = NULL;
		if (bound && (rc = shard_aggs_begin(s, bound, i, &c, &fb, &ac)))
			goto fail;
		/* each shard's partial apart while its segments come (shard_fill) */
		int gather = bound && sf.n;
		if (gather && sf.shard < 0 && (rc = fill_start(s, &sf, sg->no))) {
			aggc_close(ac);
			goto fail;
		}
		rc = idx_shard_search(&c, &r->lq, o.count_mode == TRAWL_COUNT_ONLY ? 0 : want,
		                      s->hits + total, &n,
		                      o.count_mode == TRAWL_COUNT_NONE ? NULL : &cnt);
		if (!rc && ac)
			rc = shard_aggs_end(s, r, ac, gather ? sf.res : r->aggs);
		if (!rc && gather)
			rc = fill_keys_add(s, &sf, ac);
		aggc_close(ac);
		fbits_reset(&fb);
		r->total += cnt;
		arena_reset(&s->eval);
		if (rc)
			goto fail;
		for (uint32_t j = 0; j < n; j++) {
			s->hits[total + j].shard = sg->no;
			s->hits[total + j].doc += sg->base; /* the shard's numbering */
		}
		total += n;
		/* Keep the best want so far: the next shards need only beat the
		 * want-th of them (its score is their floor), which lets them prune
		 * from the start instead of filling a heap of their own first. */
		if (want && total >= want) {
			sort_hits(r, s->hits, total);
			total = want;
			if (!r->sort.nkeys)
				floor = s->hits[want - 1].score;
		}
		r->searched += sg->ndocs - sg->del.count;
		if (c.timed_out)
			r->partial = 1;
	}
	if ((rc = fill_flush(s, &sf, bound, r)))
		goto fail;
	fill_close(&sf);
	/* merge the shards' lists */
	sort_hits(r, s->hits, total);
	uint32_t from = o.offset < total ? o.offset : total;
	uint32_t n = total - from < o.k ? total - from : o.k;
	r->hits = calloc(n ? n : 1, sizeof *r->hits);
	if (!r->hits) {
		rc = idx_serr(s, TRAWL_ENOMEM, "out of memory");
		goto fail;
	}
	for (uint32_t i = 0; i < n; i++) {
		r->hits[i].h = s->hits[from + i];
		uint32_t ld = 0;
		int32_t j = idx_seg_of(s->idx, r->hits[i].h.shard, r->hits[i].h.doc, &ld);
		r->hits[i].id = j >= 0 ? idx_extid_dup(&s->views[j], ld) : NULL;
		r->n = i + 1;
		if (!r->hits[i].id) {
			rc = idx_serr(s, TRAWL_ENOMEM, "out of memory");
			goto fail;
		}
	}
	aggc_bound_free(bound);
	free(fb.made);
	arena_fini(&fb.qa);
	*out = r;
	return TRAWL_OK;
fail:
	if (rc == TRAWL_ECORRUPT && !s->errmsg[0])
		idx_serr(s, rc, "damaged index data");
	fill_close(&sf);
	aggc_bound_free(bound);
	fbits_reset(&fb);
	free(fb.made);
	arena_fini(&fb.qa);
	trawl_results_free(r);
	return rc;
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
		return idx_serr(s, TRAWL_ELIMIT, "%u documents to fetch; the limit is %d", n,
		                TRAWL_MAX_K);
	trawl_results *r = calloc(1, sizeof *r);
	if (!r || !(r->hits = calloc(n ? n : 1, sizeof *r->hits))) {
		free(r);
		return idx_serr(s, TRAWL_ENOMEM, "out of memory");
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
		uint32_t ld = 0;
		int32_t li = idx_seg_of(s->idx, refs[i].shard, refs[i].doc, &ld);
		if (li < 0 || (s->views[li].deleted && idx_bit(s->views[li].deleted, ld)))
			continue; /* id stays NULL: no such document here */
		h->h.hash = idx_view_hash(&s->views[li], ld);
		if (!(h->id = idx_extid_dup(&s->views[li], ld))) {
			trawl_results_free(r);
			return idx_serr(s, TRAWL_ENOMEM, "out of memory");
		}
	}
	*out = r;
	return TRAWL_OK;
}

/* The segment and document of id's live document in shard number gsh
 * (searched newest first: an update's segment holds the newer copy, the
 * older one deleted), or -1. */
static int32_t find_live(trawl_searcher *s, uint32_t gsh, const char *id, uint32_t n, uint32_t *doc)
{
	int32_t first = s->idx->local[gsh];
	for (int32_t j = first + s->idx->nseg_of[gsh] - 1; j >= first; j--) {
		const idx_sview *v = &s->views[j];
		uint32_t d = idx_view_find(v, (const uint8_t *)id, n);
		if (d != IDX_END && !(v->deleted && idx_bit(v->deleted, d))) {
			*doc = d;
			return j;
		}
	}
	return -1;
}

int trawl_get(trawl_searcher *s, const char *id, char **json, size_t *len)
{
	*json = NULL;
	size_t n = strlen(id);
	if (n == 0 || n > LIMIT_ID_BYTES)
		return idx_serr(s, TRAWL_ENOTFOUND, "no document with id \"%.80s\"", id);
	uint32_t gsh = th_shard_of(id, n, s->idx->total_shards);
	if (s->idx->local[gsh] < 0)
		return idx_serr(s, TRAWL_ENOTFOUND,
		                "document \"%.80s\" lives in shard %u, which is not "
		                "open here",
		                id, gsh);
	uint32_t doc;
	int32_t j = find_live(s, gsh, id, (uint32_t)n, &doc);
	if (j < 0)
		return idx_serr(s, TRAWL_ENOTFOUND, "no document with id \"%.80s\"", id);
	int rc = idx_fetch_doc(s, (uint32_t)j, doc, json, len);
	if (rc == TRAWL_ENOTFOUND)
		return idx_serr(s, rc,
		                "document \"%.80s\" exists but the index stores no documents", id);
	if (rc == TRAWL_ECORRUPT)
		return idx_serr(s, rc, "%s: stored document \"%.80s\" fails its checksum",
		                s->idx->segs[j].path, id);
	return rc;
}

int idx_locate(trawl_searcher *s, const char *id, uint32_t idlen, uint32_t *shard, uint32_t *seg,
               uint32_t *doc)
{
	if (idlen == 0 || idlen > LIMIT_ID_BYTES)
		return TRAWL_ENOTFOUND;
	uint32_t gsh = th_shard_of(id, idlen, s->idx->total_shards);
	if (s->idx->local[gsh] < 0)
		return TRAWL_ENOTFOUND;
	int32_t j = find_live(s, gsh, id, idlen, doc);
	if (j < 0)
		return TRAWL_ENOTFOUND;
	*shard = gsh;
	*seg = s->idx->segs[j].nth;
	return TRAWL_OK;
}

int idx_shard_intact(const trawl_index *idx, uint32_t shard, char *err, size_t errlen)
{
	int32_t li = shard < TRAWL_MAX_SHARDS ? idx->local[shard] : -1;
	for (int32_t j = li; li >= 0 && j < li + idx->nseg_of[shard]; j++) {
		const idx_seg *g = &idx->segs[j];
		uint64_t now = 0;
		if (idx_store_size(g->store, &now))
			return errf(err, errlen, TRAWL_EIO, "%s: cannot stat the open file",
			            g->path);
		if (now != g->bytes)
			return errf(
			    err, errlen, TRAWL_EIO,
			    "%s: %llu bytes, the manifest says %llu: the file changed under "
			    "this process (truncated or written over); shard %u is not read "
			    "until it is restored or another generation is live",
			    g->path, (unsigned long long)now, (unsigned long long)g->bytes, shard);
	}
	return TRAWL_OK;
}

int idx_seg_version(trawl_searcher *s, uint32_t shard, uint32_t seg, uint32_t doc, uint64_t *seq,
                    uint64_t *version)
{
	int32_t li = shard < TRAWL_MAX_SHARDS ? s->idx->local[shard] : -1;
	if (li < 0 || seg >= s->idx->nseg_of[shard] || doc >= s->views[li + (int32_t)seg].ndocs)
		return TRAWL_EINVAL;
	const uint64_t *v = s->idx->segs[li + (int32_t)seg].vers;
	*seq = v ? v[2 * (size_t)doc] : 0;
	*version = v ? v[2 * (size_t)doc + 1] : 1;
	return TRAWL_OK;
}

int idx_seg_doc(trawl_searcher *s, uint32_t shard, uint32_t seg, uint32_t doc, char **out,
                size_t *len)
{
	*out = NULL;
	int32_t li = shard < TRAWL_MAX_SHARDS ? s->idx->local[shard] : -1;
	if (li < 0 || seg >= s->idx->nseg_of[shard] || doc >= s->views[li + (int32_t)seg].ndocs)
		return TRAWL_EINVAL;
	return idx_fetch_doc(s, (uint32_t)li + seg, doc, out, len);
}

/* ---- field statistics ---- */

typedef struct fsum {
	uint64_t terms, bytes;
} fsum;

static int sum_terms(void *ctx, const uint8_t *key, uint32_t klen, const idx_term *t)
{
	fsum *f = ctx;
	f->terms++;
	f->bytes += t->post_len + t->pos_len + klen;
	return 0;
}

int trawl_searcher_field_stats(trawl_searcher *s, uint32_t i, trawl_field_stats *out)
{
	const idx_schema *sc = &s->idx->schema;
	memset(out, 0, sizeof *out);
	if (i >= sc->nfields + sc->ntyped)
		return TRAWL_ENOTFOUND;
	int text = i < sc->nfields;
	uint32_t t = text ? 0 : i - sc->nfields;
	const idx_tfield *f = text ? NULL : &sc->typed[t];
	out->name = text ? sc->fields[i].name : f->name;
	out->type = idx_ftype_name(text ? IDX_TEXT : f->type);
	if (text)
		out->values = s->idx->stats.sumlen[i];
	int64_t lo = INT64_MAX, hi = INT64_MIN;
	/* a keyword's values live documents hold, by the index's ordinal: with
	 * deletes in the generation, its dictionaries hold others too */
	uint64_t *held = NULL;
	uint32_t nheld = 0;
	for (uint32_t sh = 0; sh < s->idx->nsegs; sh++) {
		const idx_sview *v = &s->views[sh];
		const idx_delset *ds = &s->idx->segs[sh].del;
		const uint64_t *del = ds->count ? ds->bits : NULL;
		fsum fs = {0, 0};
		if (text || (f->type == IDX_KEYWORD && f->index)) {
			uint8_t fb = text ? (uint8_t)i : IDX_KEYWORD_FID(t);
			if (idx_dict_scan(&v->dict, &fb, 1, sum_terms, &fs) < 0) {
				free(held);
				return idx_serr(s, TRAWL_ECORRUPT, "%s: term dictionary damaged",
				                s->idx->segs[sh].path);
			}
		}
		out->terms += fs.terms;
		out->bytes += fs.bytes;
		if (text) {
			for (uint32_t d = 0; d < v->ndocs; d++)
				out->docs += v->norms[i][d] != 0 && !(del && idx_bit(del, d));
			out->bytes += v->ndocs; /* the norms */
			continue;
		}
		const idx_col *c = &v->cols[t];
		size_t w = f->type == IDX_KEYWORD ? 4 : 8;
		if (c->has_dict && s->idx->gen_deleted && !held) {
			nheld = c->gdict->n;
			if (!(held = calloc((size_t)nheld / 64 + 1, 8)))
				return idx_serr(s, TRAWL_ENOMEM, "out of memory");
		}
		if (c->has_dv) {
			out->bytes += 8 + ((uint64_t)v->ndocs + 1) * 4 + (uint64_t)c->nvals * w;
			for (uint32_t d = 0; d < v->ndocs; d++) {
				if (del && idx_bit(del, d))
					continue;
				uint32_t a, z;
				idx_col_range(c, d, &a, &z);
				out->values += z - a;
				out->docs += z > a;
				if (z > a && f->type != IDX_KEYWORD) {
					int64_t x = idx_col_key(c, a), y = idx_col_key(c, z - 1);
					lo = x < lo ? x : lo;
					hi = y > hi ? y : hi;
				}
				for (uint32_t k = a; held && k < z; k++) {
					uint32_t o = (uint32_t)idx_col_key(c, k);
					o = c->gord ? c->gord[o] : o;
					if (o < nheld)
						held[o >> 6] |= 1ull << (o & 63);
				}
			}
		}
		if (c->has_pts) {
			out->bytes += 4 + (uint64_t)c->npts * 12;
			if (!c->has_dv) {
				/* by key: the first and last live points are the range */
				uint32_t first = UINT32_MAX, last = 0;
				for (uint32_t k = 0; k < c->npts; k++)
					if (!del || !idx_bit(del, idx_col_point_doc(c, k))) {
						out->values++;
						first = first == UINT32_MAX ? k : first;
						last = k;
					}
				if (first != UINT32_MAX) {
					int64_t x, y;
					memcpy(&x, c->pkeys + (size_t)first * 8, 8);
					memcpy(&y, c->pkeys + (size_t)last * 8, 8);
					lo = x < lo ? x : lo;
					hi = y > hi ? y : hi;
				}
			}
		}
		if (c->has_dict) {
			out->bytes += 8 + ((uint64_t)c->dict.n + 1) * 4 + c->dict.bytes_len;
			out->distinct = c->gdict->n;
		}
	}
	if (held) { /* the values live documents hold, not the dictionaries' */
		out->distinct = 0;
		for (uint32_t k = 0; k < nheld; k++)
			out->distinct += (held[k >> 6] >> (k & 63)) & 1;
		free(held);
	}
	if (!text && f->type != IDX_KEYWORD && lo <= hi) {
		out->has_range = 1;
		out->min = f->type == IDX_DOUBLE ? idx_key_double(lo) : (double)lo;
		out->max = f->type == IDX_DOUBLE ? idx_key_double(hi) : (double)hi;
	}
	return TRAWL_OK;
}
