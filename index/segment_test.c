/*
 * segment_test.c - the read side of a generation of segments (issue #12):
 * a shard as a list of segments with delete sets, term statistics from the
 * two layers of gstats.h, block bounds made with older statistics, keyword
 * dictionaries that differ between segments. The brute force is a build
 * of the same live documents: a base and three batches of adds,
 * replacements and deletes, each built on its own, assembled by hand into
 * one generation (each phase's shard files as segments, every document a
 * later phase replaced or deleted in a delete set, the statistics of the
 * final documents as a base of the first phase's and a delta), must answer
 * every query exactly as one build of the final documents does: the same
 * ids in the same order, the same scores, totals, sort values and
 * aggregations. The batches' documents are longer than the base's, so the
 * average field length grows and the base segments' bounds must be scaled
 * (body has b = 1, where the length weighs most; without the scale the
 * best few of a word went wrong); their tags take new values, so the
 * keyword dictionaries differ. Each of these was checked by breaking it:
 * deletes not excluded, the segment dictionary's df, sort ordinals not
 * mapped, the filter cache keyed by shard instead of segment.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define TESTDIR_FILE "unused"
#include "delset.h"
#include "gen.h"
#include "gstats.h"
#include "handles.h"
#include "search.h"
#include "testdir.h"
#include "trawl/trawl.h"

static const char *const SCHEMA = "{\"fields\": {"
                                  " \"title\": {},"
                                  " \"body\": {\"k1\": 2.0, \"b\": 1.0},"
                                  " \"tag\": {\"type\": \"keyword\"},"
                                  " \"n\": {\"type\": \"long\"}}}";

#define NIDS 3000  /* ids d0 .. d2999 */
#define NBASE 2000 /* the base's documents: many blocks of postings */
#define NPHASES 4  /* the base and three batches */
#define BATCH 300  /* operations of a batch */

static const char *const WORDS[] = {
    "alpha", "beta",  "gamma", "delta",   "epsilon", "zeta",   "eta",     "theta",
    "iota",  "kappa", "lamda", "mu",      "nu",      "xi",     "omicron", "pi",
    "rho",   "sigma", "tau",   "upsilon", "phi",     "chi",    "psi",     "omega",
    "red",   "green", "blue",  "cyan",    "magenta", "yellow", "black",   "white",
};
#define NWORDS (sizeof WORDS / sizeof *WORDS)

typedef struct tdoc {
	char title[128];
	char body[1024];
	char tag[8]; /* "" : none */
	long n;
	int has_n;
} tdoc;

/* per id: its live version's phase (-1: none), and the versions */
static int g_live[NIDS];
static tdoc g_ver[NPHASES][NIDS];
static uint8_t g_written[NPHASES][NIDS];

static uint64_t g_rnd = 0x9e3779b97f4a7c15ull;
static uint32_t below(uint32_t n)
{
	g_rnd ^= g_rnd << 13;
	g_rnd ^= g_rnd >> 7;
	g_rnd ^= g_rnd << 17;
	return (uint32_t)(g_rnd % n);
}

/* A word, the first ones far more often (a few frequent terms, many rare). */
static const char *word(void)
{
	uint32_t r = below(NWORDS * NWORDS);
	uint32_t i = 0;
	while ((i + 1) * (i + 1) <= r)
		i++;
	return WORDS[NWORDS - 1 - i];
}

static void words(char *out, size_t cap, uint32_t n)
{
	size_t at = 0;
	out[0] = 0;
	for (uint32_t i = 0; i < n && at + 16 < cap; i++)
		at += (size_t)snprintf(out + at, cap - at, "%s%s", i ? " " : "", word());
}

/* A document of phase p: the batches' bodies are longer, and their tags
 * take values the base has none of. */
static void make_doc(tdoc *d, uint32_t p)
{
	words(d->title, sizeof d->title, 1 + below(4));
	words(d->body, sizeof d->body, p == 0 ? 3 + below(15) : 20 + below(60));
	if (below(5))
		snprintf(d->tag, sizeof d->tag, "t%02u", p == 0 ? below(8) : 4 + below(12));
	else
		d->tag[0] = 0;
	d->has_n = below(6) != 0;
	d->n = (long)below(100) - 20;
}

static int doc_json(const tdoc *d, uint32_t id, char *out, size_t cap)
{
	int n = snprintf(out, cap, "{\"id\": \"d%u\", \"title\": \"%s\", \"body\": \"%s\"", id,
	                 d->title, d->body);
	if (d->tag[0])
		n += snprintf(out + n, cap - (size_t)n, ", \"tag\": \"%s\"", d->tag);
	if (d->has_n)
		n += snprintf(out + n, cap - (size_t)n, ", \"n\": %ld", d->n);
	n += snprintf(out + n, cap - (size_t)n, "}");
	return n;
}

/* The operations: the base writes d0 .. d299; each batch adds new ids,
 * replaces live ones and deletes live ones, each id once. */
static void make_history(void)
{
	memset(g_written, 0, sizeof g_written);
	for (uint32_t i = 0; i < NIDS; i++)
		g_live[i] = -1;
	for (uint32_t i = 0; i < NBASE; i++) {
		make_doc(&g_ver[0][i], 0);
		g_written[0][i] = 1;
		g_live[i] = 0;
	}
	snprintf(g_ver[0][0].tag, sizeof g_ver[0][0].tag, "zz0");
	g_ver[0][0].n = 900;
	g_ver[0][0].has_n = 1;
	uint32_t next = NBASE;
	for (uint32_t p = 1; p < NPHASES; p++) {
		uint8_t touched[NIDS] = {0};
		for (uint32_t k = 0; k < BATCH; k++) {
			uint32_t what = below(3), id;
			if (what == 0 && next < NIDS) { /* add */
				id = next++;
			} else { /* a live id, not yet touched by this batch */
				uint32_t tries = 0;
				do
					id = below(next);
				while ((id < 2 || g_live[id] < 0 || touched[id]) && ++tries < 1000);
				if (tries == 1000)
					continue;
			}
			touched[id] = 1;
			if (what == 2 && g_live[id] >= 0) { /* delete */
				g_live[id] = -1;
				continue;
			}
			make_doc(&g_ver[p][id], p);
			g_written[p][id] = 1;
			g_live[id] = (int)p;
		}
		/* values that only deleted documents hold: d0's (deleted by the
		 * first batch) and d1's first replacement (replaced by the second) */
		if (p == 1) {
			g_live[0] = -1;
			make_doc(&g_ver[1][1], 1);
			snprintf(g_ver[1][1].tag, sizeof g_ver[1][1].tag, "zz1");
			g_ver[1][1].n = 901;
			g_ver[1][1].has_n = 1;
			g_written[1][1] = 1;
			g_live[1] = 1;
		} else if (p == 2) {
			make_doc(&g_ver[2][1], 2);
			g_written[2][1] = 1;
			g_live[1] = 2;
		} else if (p == 3) {
			for (uint32_t id = 2; id < 14; id++) {
				make_doc(&g_ver[3][id], 3);
				g_ver[3][id].n = 700 + id;
				g_ver[3][id].has_n = 1;
				if (id == 2)
					snprintf(g_ver[3][id].tag, sizeof g_ver[3][id].tag, "uq");
				g_written[3][id] = 1;
				g_live[id] = 3;
			}
		}
	}
}

static char g_err[1024];

/* Builds the documents keep(p, id) says into dir, with shards shards. */
static void build(const char *dir, uint32_t shards, int phase)
{
	trawl_build_opts o = {0};
	o.shards = shards;
	o.schema_json = SCHEMA;
	trawl_builder *b;
	if (trawl_builder_open(&b, dir, &o, g_err, sizeof g_err))
		fail_msg("trawl_builder_open %s: %s", dir, g_err);
	char json[2048];
	for (uint32_t id = 0; id < NIDS; id++) {
		const tdoc *d;
		if (phase >= 0) {
			if (!g_written[phase][id])
				continue;
			d = &g_ver[phase][id];
		} else {
			if (g_live[id] < 0)
				continue;
			d = &g_ver[g_live[id]][id];
		}
		int n = doc_json(d, id, json, sizeof json);
		if (trawl_builder_add_json(b, json, (size_t)n, "test", id + 1))
			fail_msg("add %s: %s", json, trawl_builder_errmsg(b));
	}
	if (trawl_builder_commit(b, NULL))
		fail_msg("commit %s: %s", dir, trawl_builder_errmsg(b));
	trawl_builder_close(b);
}

/* ---- the statistics of an index: every key's df, from its dictionaries ---- */

typedef struct kdf {
	uint8_t key[LIMIT_KEY_BYTES];
	uint32_t klen;
	uint64_t df;
} kdf;

typedef struct kdfs {
	kdf *v;
	size_t n, cap;
} kdfs;

static int collect_key(void *ctx, const uint8_t *key, uint32_t klen, const idx_term *t)
{
	kdfs *k = ctx;
	if (k->n == k->cap) {
		k->cap = k->cap ? 2 * k->cap : 1024;
		k->v = realloc(k->v, k->cap * sizeof *k->v);
		assert_non_null(k->v);
	}
	memcpy(k->v[k->n].key, key, klen);
	k->v[k->n].klen = klen;
	k->v[k->n].df = t->df_global;
	k->n++;
	return 0;
}

static int cmp_key(const uint8_t *a, uint32_t al, const uint8_t *b, uint32_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	return c ? c : (al > bl) - (al < bl);
}

static int cmp_kdf(const void *x, const void *y)
{
	const kdf *a = x, *b = y;
	return cmp_key(a->key, a->klen, b->key, b->klen);
}

/* Every key of the index at dir with its generation-wide df (each shard's
 * dictionary holds it for its keys), sorted, once each; and its totals. */
static void index_keys(const char *dir, kdfs *out, idx_stats *st)
{
	trawl_index *idx;
	trawl_searcher *s;
	if (trawl_index_open(&idx, dir, g_err, sizeof g_err))
		fail_msg("open %s: %s", dir, g_err);
	assert_int_equal(trawl_searcher_open(&s, idx), TRAWL_OK);
	memset(out, 0, sizeof *out);
	for (uint32_t i = 0; i < idx->nsegs; i++)
		assert_true(idx_dict_scan(&s->views[i].dict, NULL, 0, collect_key, out) >= 0);
	qsort(out->v, out->n, sizeof *out->v, cmp_kdf);
	size_t m = 0;
	for (size_t i = 0; i < out->n; i++)
		if (!m || cmp_kdf(&out->v[m - 1], &out->v[i])) {
			out->v[m++] = out->v[i];
		} else {
			assert_int_equal(out->v[m - 1].df, out->v[i].df);
		}
	out->n = m;
	*st = idx->stats;
	trawl_searcher_close(s);
	trawl_index_close(idx);
}

typedef struct kit {
	const kdfs *k;
	size_t i;
} kit;

static int next_key(void *ctx, const uint8_t **key, uint32_t *klen, uint64_t *df)
{
	kit *it = ctx;
	if (it->i == it->k->n)
		return 0;
	*key = it->k->v[it->i].key;
	*klen = it->k->v[it->i].klen;
	*df = it->k->v[it->i].df;
	it->i++;
	return 1;
}

/* ---- assembling the generation ---- */

static void mfile(const char *gendir, const char *name, idx_mfile *f)
{
	char path[LIMIT_PATH_BYTES];
	snprintf(path, sizeof path, "%s/%s", gendir, name);
	snprintf(f->file, sizeof f->file, "%s", name);
	assert_int_equal(idx_file_hash(path, f->xxh3_128, &f->bytes), TRAWL_OK);
}

/* The delete set of segment (phase p, shard s): its documents whose id's
 * live version is not phase p's. */
static void delete_set(const char *gendir, trawl_searcher *s, uint32_t seg, uint32_t p,
                       const char *name, idx_mseg *g)
{
	const idx_sview *v = &s->views[seg];
	idx_delset d;
	assert_int_equal(idx_delset_init(&d, v->ndocs), TRAWL_OK);
	for (uint32_t doc = 0; doc < v->ndocs; doc++) {
		uint32_t n;
		const uint8_t *id = idx_view_extid(v, doc, &n);
		assert_non_null(id);
		char idz[32];
		assert_true(n > 1 && n < sizeof idz);
		memcpy(idz, id, n);
		idz[n] = 0; /* the id table's bytes are not NUL-terminated */
		uint32_t num = (uint32_t)strtoul(idz + 1, NULL, 10);
		if (g_live[num] != (int)p)
			idx_delset_add(&d, doc);
	}
	if (d.count) {
		char path[LIMIT_PATH_BYTES];
		snprintf(path, sizeof path, "%s/%s", gendir, name);
		assert_int_equal(idx_delset_write(path, &d, g_err, sizeof g_err), TRAWL_OK);
		mfile(gendir, name, &g->del);
		g->deleted = d.count;
	}
	idx_delset_fini(&d);
}

/* The generation at root/asm: per shard, the segments of the four phases. */
static void assemble(const char *root, uint32_t shards, const char *schema_json)
{
	char dir[256], gendir[300], path[600], src[600];
	snprintf(dir, sizeof dir, "%s/asm", root);
	snprintf(gendir, sizeof gendir, "%s/gen-000001", dir);
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(mkdir(gendir, 0755), 0);
	idx_manifest *m = calloc(1, sizeof *m);
	assert_non_null(m);
	m->generation = 1;
	m->shards = shards;
	m->applied_seq = 1;
	m->schema_json = (char *)schema_json;
	for (uint32_t s = 0; s < shards; s++)
		assert_int_equal(idx_manifest_set_segments(m, s, NPHASES), TRAWL_OK);
	for (uint32_t p = 0; p < NPHASES; p++) {
		char pdir[300];
		snprintf(pdir, sizeof pdir, "%s/p%u", root, p);
		trawl_index *idx;
		trawl_searcher *se;
		if (trawl_index_open(&idx, pdir, g_err, sizeof g_err))
			fail_msg("open %s: %s", pdir, g_err);
		assert_int_equal(trawl_searcher_open(&se, idx), TRAWL_OK);
		for (uint32_t s = 0; s < shards; s++) {
			idx_mseg *g = &m->shard[s].segs[p];
			char name[48];
			snprintf(name, sizeof name, "p%u-s%03u.mdb", p, s);
			snprintf(src, sizeof src, "%s/gen-000001/shard-%03u.mdb", pdir, s);
			snprintf(path, sizeof path, "%s/%s", gendir, name);
			assert_int_equal(link(src, path), 0);
			mfile(gendir, name, &g->f);
			g->docs = idx->segs[s].ndocs;
			snprintf(name, sizeof name, "p%u-s%03u.del", p, s);
			delete_set(gendir, se, s, p, name, g);
		}
		trawl_searcher_close(se);
		trawl_index_close(idx);
	}
	/* the statistics: the base phase's as the base layer, the final
	 * documents' as the delta on it */
	kdfs base, full;
	idx_stats bst, fst;
	snprintf(path, sizeof path, "%s/p0", root);
	index_keys(path, &base, &bst);
	snprintf(path, sizeof path, "%s/full", root);
	index_keys(path, &full, &fst);
	snprintf(path, sizeof path, "%s/stats.base", gendir);
	kit it = {&base, 0};
	assert_int_equal(idx_gstats_write_base(path, bst.docs, bst.sumlen, 2, next_key, &it, g_err,
	                                       sizeof g_err),
	                 TRAWL_OK);
	idx_gchange *ch = calloc(base.n + full.n + 1, sizeof *ch);
	size_t nch = 0, i = 0, j = 0;
	while (i < base.n || j < full.n) {
		int c = i == base.n ? 1 : j == full.n ? -1 : cmp_kdf(&base.v[i], &full.v[j]);
		if (c < 0) {
			ch[nch++] =
			    (idx_gchange){base.v[i].key, base.v[i].klen, -(int64_t)base.v[i].df};
			i++;
		} else if (c > 0) {
			ch[nch++] =
			    (idx_gchange){full.v[j].key, full.v[j].klen, (int64_t)full.v[j].df};
			j++;
		} else {
			if (base.v[i].df != full.v[j].df)
				ch[nch++] =
				    (idx_gchange){full.v[j].key, full.v[j].klen,
				                  (int64_t)full.v[j].df - (int64_t)base.v[i].df};
			i++, j++;
		}
	}
	idx_gstats *cur;
	assert_int_equal(idx_gstats_open(&cur, path, NULL, 2, g_err, sizeof g_err), TRAWL_OK);
	int64_t sl[2] = {(int64_t)fst.sumlen[0] - (int64_t)bst.sumlen[0],
	                 (int64_t)fst.sumlen[1] - (int64_t)bst.sumlen[1]};
	char dpath[600];
	snprintf(dpath, sizeof dpath, "%s/stats.delta", gendir);
	if (idx_gstats_write_delta(dpath, cur, (int64_t)fst.docs - (int64_t)bst.docs, sl, ch, nch,
	                           g_err, sizeof g_err))
		fail_msg("delta: %s", g_err);
	idx_gstats_close(cur);
	free(ch);
	free(base.v);
	free(full.v);
	mfile(gendir, "stats.base", &m->stats_base);
	mfile(gendir, "stats.delta", &m->stats_delta);
	m->docs = fst.docs;
	assert_int_equal(idx_manifest_write(gendir, m, g_err, sizeof g_err), TRAWL_OK);
	m->schema_json = NULL;
	idx_manifest_fini(m);
	free(m);
	snprintf(path, sizeof path, "%s/CURRENT", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("gen-000001\n", f);
	fclose(f);
}

/* ---- comparing ---- */

typedef struct side {
	trawl_index *idx;
	trawl_searcher *s;
} side;

/* Opens dir, only the shards oo names (NULL: all of them). */
static void side_open_with(side *x, const char *dir, const trawl_open_opts *oo)
{
	if (trawl_index_open_with(&x->idx, dir, oo, g_err, sizeof g_err))
		fail_msg("open %s: %s", dir, g_err);
	assert_int_equal(trawl_searcher_open(&x->s, x->idx), TRAWL_OK);
}

static void side_open(side *x, const char *dir)
{
	side_open_with(x, dir, NULL);
}

static void side_close(side *x)
{
	trawl_searcher_close(x->s);
	trawl_index_close(x->idx);
}

static int near(double a, double b)
{
	double d = a > b ? a - b : b - a;
	return d <= 1e-5 * (a > 1 ? a : 1);
}

/* The two answers to q with o must agree: totals, scores position by
 * position, ids wherever the score is not tied with a neighbour's, sort
 * values and aggregations. Returns the hits compared. */
static uint32_t compare(side *a, side *b, const char *q, const trawl_search_opts *o)
{
	trawl_results *ra, *rb;
	int ea = trawl_search(a->s, q, strlen(q), o, &ra);
	int eb = trawl_search(b->s, q, strlen(q), o, &rb);
	if (ea || eb)
		fail_msg("%s: %s / %s", q, trawl_searcher_errmsg(a->s),
		         trawl_searcher_errmsg(b->s));
	uint32_t n = trawl_results_count(ra);
	if (n != trawl_results_count(rb) || trawl_results_total(ra) != trawl_results_total(rb))
		fail_msg("%s (k %u): %u hits of %llu, a full build %u of %llu", q, o->k, n,
		         (unsigned long long)trawl_results_total(ra), trawl_results_count(rb),
		         (unsigned long long)trawl_results_total(rb));
	for (uint32_t i = 0; i < n; i++) {
		double sa = trawl_results_score(ra, i), sb = trawl_results_score(rb, i);
		if (!near(sa, sb))
			fail_msg("%s (k %u): hit %u scores %.9g (%s), a full build %.9g (%s)", q,
			         o->k, i, sa, trawl_results_id(ra, i), sb, trawl_results_id(rb, i));
		int tied = (i > 0 && near(sb, trawl_results_score(rb, i - 1))) ||
		           (i + 1 < n && near(sb, trawl_results_score(rb, i + 1)));
		if (!tied && !o->nsort && strcmp(trawl_results_id(ra, i), trawl_results_id(rb, i)))
			fail_msg("%s (k %u): hit %u is %s, a full build's %s", q, o->k, i,
			         trawl_results_id(ra, i), trawl_results_id(rb, i));
		if (o->nsort) {
			char ja[512], jb[512];
			trawl_results_sort_json(ra, i, ja, sizeof ja);
			trawl_results_sort_json(rb, i, jb, sizeof jb);
			if (strcmp(ja, jb) ||
			    strcmp(trawl_results_id(ra, i), trawl_results_id(rb, i)))
				fail_msg("%s sorted: hit %u is %s %s, a full build's %s %s", q, i,
				         trawl_results_id(ra, i), ja, trawl_results_id(rb, i), jb);
		}
		size_t la, lb;
		int da, db;
		const char *xa = trawl_results_doc(ra, i, &la, &da);
		const char *xb = trawl_results_doc(rb, i, &lb, &db);
		if (!o->nsort && !tied && (da || db || la != lb || memcmp(xa, xb, la)))
			fail_msg("%s: hit %u's stored document differs", q, i);
	}
	if (o->aggs) {
		char *ga = trawl_results_aggs(ra, 0), *gb = trawl_results_aggs(rb, 0);
		assert_non_null(ga);
		assert_non_null(gb);
		if (strcmp(ga, gb))
			fprintf(stderr, "aggregations differ:\n%s\na full build's:\n%s\n", ga, gb);
		if (strcmp(ga, gb))
			fail_msg("%s: aggregations\n%s\na full build's\n%s", q, ga, gb);
		free(ga);
		free(gb);
	}
	trawl_results_free(ra);
	trawl_results_free(rb);
	return n;
}

static const char *const QUERIES[] = {
    "alpha",
    "omega",
    "white black",
    "alpha beta gamma delta",
    "+alpha +beta",
    "\"white black\"",
    "title:omega",
    "title:(blue cyan) body:red",
    "omeg*",
    "alpha -white",
    "blue -\"black white\"",
    "tag:t03",
    "tag:t14",
    "tag:t14 white",
    "n:[10 TO 50]",
    "white +n:[0 TO 30]",
    "black +tag:t05",
    "_exists_:tag",
    "*:*",
    "white -tag:t02 -n:<0",
};
#define NQUERIES (sizeof QUERIES / sizeof *QUERIES)

static void check_all(const char *root)
{
	char path[300];
	side a, b;
	snprintf(path, sizeof path, "%s/asm", root);
	side_open(&a, path);
	snprintf(path, sizeof path, "%s/full", root);
	side_open(&b, path);
	/* documents: the live ones only, each as the full build has it */
	trawl_index_stats sa, sb;
	trawl_index_get_stats(a.idx, &sa);
	trawl_index_get_stats(b.idx, &sb);
	assert_int_equal(sa.docs, sb.docs);
	assert_int_equal(sa.docs_open, sb.docs_open);
	for (uint32_t id = 0; id < NIDS; id++) {
		char ids[16], *ja = NULL, *jb = NULL;
		size_t la = 0, lb = 0;
		snprintf(ids, sizeof ids, "d%u", id);
		int ea = trawl_get(a.s, ids, &ja, &la), eb = trawl_get(b.s, ids, &jb, &lb);
		assert_int_equal(ea, eb);
		assert_int_equal(ea, g_live[id] >= 0 ? TRAWL_OK : TRAWL_ENOTFOUND);
		if (!ea)
			assert_memory_equal(ja, jb, la);
		free(ja);
		free(jb);
	}
	/* each field's documents, values, distinct values and range: the live
	 * documents' (zz0, zz1, 900 and 901 are only deleted ones') */
	trawl_field_stats fa, fb;
	for (uint32_t i = 0; trawl_searcher_field_stats(a.s, i, &fa) == TRAWL_OK; i++) {
		assert_int_equal(trawl_searcher_field_stats(b.s, i, &fb), TRAWL_OK);
		if (fa.docs != fb.docs || fa.values != fb.values || fa.distinct != fb.distinct ||
		    fa.has_range != fb.has_range || fa.min != fb.min || fa.max != fb.max)
			fail_msg("field %s: docs %llu values %llu distinct %llu range %d %g..%g; a "
			         "full build's %llu %llu %llu %d %g..%g",
			         fa.name, (unsigned long long)fa.docs,
			         (unsigned long long)fa.values, (unsigned long long)fa.distinct,
			         fa.has_range, fa.min, fa.max, (unsigned long long)fb.docs,
			         (unsigned long long)fb.values, (unsigned long long)fb.distinct,
			         fb.has_range, fb.min, fb.max);
	}
	trawl_aggs *ag;
	/* min_doc_count 0 lists every value a live document holds, and no
	 * other: zz0, zz1, 900 and 901 are only deleted documents'; below
	 * buckets, a shard's numbers and every shard's keywords, as a build's
	 * segment does (uq and 700-713 are held in some shards only) */
	const char *aj =
	    "{\"tags\": {\"terms\": {\"field\": \"tag\", \"size\": 30}},"
	    " \"n\": {\"stats\": {\"field\": \"n\"}},"
	    " \"h\": {\"histogram\": {\"field\": \"n\", \"interval\": 10}},"
	    " \"t0\": {\"terms\": {\"field\": \"tag\", \"size\": 40, \"min_doc_count\": 0}},"
	    " \"n0\": {\"terms\": {\"field\": \"n\", \"size\": 200, \"min_doc_count\": 0}},"
	    " \"h0\": {\"histogram\": {\"field\": \"n\", \"interval\": 50},"
	    "  \"aggs\": {\"t\": {\"terms\": {\"field\": \"tag\", \"size\": 40, \"min_doc_count\": "
	    "0}}}},"
	    " \"tt\": {\"terms\": {\"field\": \"tag\", \"size\": 40},"
	    "  \"aggs\": {\"n0\": {\"terms\": {\"field\": \"n\", \"size\": 200, \"min_doc_count\": "
	    "0}}}},"
	    " \"nt\": {\"terms\": {\"field\": \"n\", \"size\": 300},"
	    "  \"aggs\": {\"t\": {\"terms\": {\"field\": \"tag\", \"size\": 40, \"min_doc_count\": "
	    "0}}}},"
	    " \"t0n\": {\"terms\": {\"field\": \"tag\", \"size\": 40, \"min_doc_count\": 0},"
	    "  \"aggs\": {\"n0\": {\"terms\": {\"field\": \"n\", \"size\": 200, \"min_doc_count\": "
	    "0}}}}}";
	if (trawl_aggs_parse(&ag, aj, strlen(aj), g_err, sizeof g_err))
		fail_msg("aggs: %s", g_err);
	static const trawl_sort by_tag[2] = {{"tag", 0, 0, 0}, {"n", 1, 0, 0}};
	static const trawl_sort by_n[1] = {{"n", 0, 1, 0}};
	uint32_t compared = 0;
	for (uint32_t q = 0; q < NQUERIES; q++) {
		static const uint32_t ks[] = {1, 3, 10, 1000};
		for (uint32_t k = 0; k < 4; k++) {
			trawl_search_opts o = {.k = ks[k]};
			compared += compare(&a, &b, QUERIES[q], &o);
		}
		trawl_search_opts o = {.k = 1000, .aggs = ag};
		compared += compare(&a, &b, QUERIES[q], &o);
		o = (trawl_search_opts){.k = 7, .sort = by_tag, .nsort = 2};
		compared += compare(&a, &b, QUERIES[q], &o);
		o = (trawl_search_opts){.k = 1000, .sort = by_n, .nsort = 1};
		compared += compare(&a, &b, QUERIES[q], &o);
		o = (trawl_search_opts){.k = 5, .offset = 4, .count_mode = TRAWL_COUNT_NONE};
		compared += compare(&a, &b, QUERIES[q], &o);
	}
	/* every word, and pairs, for the few best: where the bounds prune */
	for (uint32_t w = 0; w < NWORDS; w++)
		for (uint32_t k = 1; k <= 4; k++) {
			char q[64];
			trawl_search_opts o = {.k = k, .count_mode = TRAWL_COUNT_NONE};
			compared += compare(&a, &b, WORDS[w], &o);
			snprintf(q, sizeof q, "%s %s", WORDS[w], WORDS[(w * 7 + k) % NWORDS]);
			compared += compare(&a, &b, q, &o);
			snprintf(q, sizeof q, "title:%s body:%s", WORDS[w],
			         WORDS[(w * 5 + k) % NWORDS]);
			compared += compare(&a, &b, q, &o);
		}
	/* a search continued after a keyword the assembled index numbers
	 * through its union of dictionaries */
	const char *after = "[\"t07\", 10, \"0\"]";
	trawl_search_opts o = {.k = 1000,
	                       .sort = by_tag,
	                       .nsort = 2,
	                       .search_after = after,
	                       .search_after_len = strlen(after)};
	compared += compare(&a, &b, "*:*", &o);
	assert_true(compared > 1000);
	trawl_aggs_free(ag);
	side_close(&a);
	side_close(&b);
}

/* A leaf holding some of the shards of a generation updates made numbers
 * keyword values by its own segments' dictionaries (a root merges them by
 * their bytes, root/merge.c): its keyword sorts, search_after included,
 * answer as the same shards of a full build, whose numbers are global. */
static void partial_leaf(const char *root)
{
	char upd[300], full[300];
	snprintf(upd, sizeof upd, "%s/asm", root);
	snprintf(full, sizeof full, "%s/full", root);
	const uint32_t one[1] = {0};
	trawl_open_opts oo = {.shards = one, .nshards = 1};
	side a, b;
	side_open_with(&a, upd, &oo);
	side_open_with(&b, full, &oo);
	static const trawl_sort by_tag[2] = {{"tag", 0, 0, 0}, {"n", 1, 0, 0}},
	                        by_tag_desc[1] = {{"tag", 1, 0, 0}};
	trawl_search_opts o = {.k = 1000, .sort = by_tag, .nsort = 2};
	uint32_t compared = compare(&a, &b, "*:*", &o);
	o.sort = by_tag_desc;
	o.nsort = 1;
	compared += compare(&a, &b, "*:*", &o);
	const char *after = "[\"m\", \"0\"]"; /* between values: no value needs to be one */
	o.search_after = after;
	o.search_after_len = strlen(after);
	compared += compare(&a, &b, "*:*", &o);
	assert_true(compared > 100);
	side_close(&a);
	side_close(&b);
}

/* Whether aggregations aj of query q over shard k of x list keyword v. */
static int lists(side *x, const char *aj, const char *q, uint32_t k, const char *v)
{
	trawl_aggs *ag;
	if (trawl_aggs_parse(&ag, aj, strlen(aj), g_err, sizeof g_err))
		fail_msg("aggs: %s", g_err);
	const uint32_t one[1] = {k};
	trawl_search_opts o = {.k = 1, .shards = one, .nshards = 1, .aggs = ag};
	trawl_results *r;
	if (trawl_search(x->s, q, strlen(q), &o, &r))
		fail_msg("%s: %s", q, trawl_searcher_errmsg(x->s));
	char *j = trawl_results_aggs(r, 0), want[64];
	snprintf(want, sizeof want, "\"key\":\"%s\"", v);
	int found = j && strstr(j, want) != NULL;
	free(j);
	trawl_results_free(r);
	trawl_aggs_free(ag);
	return found;
}

/* A search of some shards reads no other (a leaf's rule, leaf/shardguard.h):
 * the keyword values it lists below buckets are those of the shards
 * searched. uq is held in one shard only. */
static void other_shards_unread(const char *root, uint32_t shards)
{
	char upd[300];
	snprintf(upd, sizeof upd, "%s/asm", root);
	side a;
	side_open(&a, upd);
	const char *below = "{\"f\": {\"filter\": {\"term\": {\"title\": \"nosuchword\"}},"
	                    " \"aggs\": {\"x\": {\"terms\": {\"field\": \"tag\", \"size\": 100,"
	                    " \"min_doc_count\": 0}}}}}";
	uint32_t holders = 0, others = 0;
	for (uint32_t k = 0; k < shards; k++) {
		int held = lists(&a, "{\"x\": {\"terms\": {\"field\": \"tag\", \"size\": 100}}}",
		                 "*:*", k, "uq");
		holders += held;
		if (held) {
			assert_true(lists(&a, below, "*:*", k, "uq"));
			continue;
		}
		others++;
		if (lists(&a, below, "*:*", k, "uq"))
			fail_msg("a search of shard %u lists uq, which only another shard holds",
			         k);
	}
	assert_int_equal(holders, 1);
	assert_true(others > 0);
	side_close(&a);
}

static void run(uint32_t shards)
{
	make_history();
	char path[300];
	for (int p = 0; p < NPHASES; p++) {
		snprintf(path, sizeof path, "%s/p%d", g_dir, p);
		build(path, shards, p);
	}
	snprintf(path, sizeof path, "%s/full", g_dir);
	build(path, shards, -1);
	/* the schema as the builds wrote it */
	trawl_index *idx;
	if (trawl_index_open(&idx, path, g_err, sizeof g_err))
		fail_msg("open %s: %s", path, g_err);
	char *schema = strdup(trawl_index_schema(idx));
	trawl_index_close(idx);
	assemble(g_dir, shards, schema);
	free(schema);
	check_all(g_dir);
	if (shards > 1) {
		partial_leaf(g_dir);
		other_shards_unread(g_dir, shards);
	}
}

static void segments_one_shard(void **state)
{
	(void)state;
	run(1);
}

static void segments_three_shards(void **state)
{
	(void)state;
	run(3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    TESTDIR_TEST(segments_one_shard),
	    TESTDIR_TEST(segments_three_shards),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
