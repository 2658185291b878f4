/*
 * search_test.c - the ranked search of the whole engine checked against a
 * brute-force scorer written here, on random corpora.
 *
 * Each corpus is generated from a seed: a vocabulary of made-up words drawn
 * with Zipf-like frequencies (so some terms are in one document and others
 * in thousands, with postings lists of up to ~36 blocks of 128), topic words
 * repeated within a document and a few documents repeating one word hundreds
 * of times (uneven block maxima, large term frequencies), random titles and
 * bodies (sometimes arrays of strings, sometimes absent or null; in the
 * English corpora also stop words, capitals and suffixes), built with the
 * public builder into 1 and 3 shards under a temporary directory.
 *
 * The brute force tokenizes every document with the same analyzers, keeps
 * its own term dictionary, document frequencies and field lengths, and
 * evaluates the parsed query tree directly: BM25 with the quantized field
 * lengths, global idf and per-field boost/k1/b; phrases (a quoted clause of
 * several tokens) by their positions, with the sum of the terms' idfs; an
 * unquoted word that analysis splits (wi-fi) as the alternatives of its
 * tokens; prefixes by the terms of the dictionary; MUST/SHOULD/NOT with
 * Lucene's semantics; and the compile-time rules (stop-word clauses dropped,
 * only-negative groups and empty queries refused).
 *
 * For several hundred random queries per corpus (single terms, ORs with very
 * common terms, +a +b, +a b c, a b -c, phrases taken from documents, field:,
 * prefix*, nested groups, keywords, unions narrowed by filters (#),
 * random mixtures; a quarter with the AND default operator), on both
 * layouts, with k = 3, 10, 50, a page at offset
 * 25 and sometimes k = 1000:
 *   - the pruned top-k (COUNT_NONE, where nothing forces a full pass) is the
 *     brute force's top-k by (score desc, XXH3_64(id) asc), scores within
 *     1e-4 relative; documents whose brute-force scores are within 1e-4 may
 *     trade places (float against double), but a document the brute force
 *     puts on the page and the engine leaves off must rank off the page by
 *     the engine's own scores (so exact float ties go by hash);
 *   - with pruning off (idx_search_exhaustive, index/testhooks.h) the same
 *     ids and bit-identical scores;
 *   - COUNT_EXACT gives the same hits and the brute force's number of
 *     matches; COUNT_ONLY that number and no hits;
 *   - the page at offset 25 is the same slice of the top 50;
 *   - 1 shard and 3 shards agree (ids, scores within 1e-6 relative).
 * Queries the brute force refuses must fail with TRAWL_EQUERY.
 *
 * TRAWL_SEARCH_SOAK=N[:SEED] adds N corpora of random shapes (a soak run).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/hash.h"
#include "index/analyze.h"
#include "index/codec.h"
#include "index/index_int.h"
#include "index/query.h"
#include "index/search.h"
#include "index/testhooks.h"
#include "trawl/trawl.h"

#define MAXF 4    /* text fields in the test schemas */
#define MAXK 1000 /* largest k asked for */
#define REL_TOL 1e-4
#define SHARD_TOL 1e-6

/* ---- configuration ---- */

static const char SCHEMA_PLAIN[] = "{\"fields\":{\"title\":{\"analyzer\":\"plain\",\"boost\":2.0},"
                                   "\"body\":{\"analyzer\":\"plain\",\"k1\":1.2,\"b\":0.75}}}";
static const char SCHEMA_MIXED[] =
    "{\"fields\":{\"title\":{\"analyzer\":\"plain\",\"boost\":2.0},"
    "\"body\":{\"analyzer\":\"plain\",\"k1\":1.2,\"b\":0.75},"
    "\"tags\":{\"analyzer\":\"english\",\"boost\":0.5,\"k1\":2.0,\"b\":1.0}}}";
static const char SCHEMA_EDGE[] =
    "{\"fields\":{\"title\":{\"analyzer\":\"english\",\"boost\":3.0,\"k1\":0.5,\"b\":1.0},"
    "\"body\":{\"analyzer\":\"plain\",\"k1\":2.0,\"b\":0.0}}}";

typedef struct cfg {
	const char *name;
	uint64_t seed;
	uint32_t ndocs;
	uint32_t nvocab;
	double zipf;        /* exponent of the word frequencies */
	const char *schema; /* NULL: the default (english) schema */
	int noise;          /* stop words, capitals and suffixes in the text */
	uint32_t nqueries;
} cfg;

static cfg cfgs[] = {
    {"tiny-plain", 7, 40, 30, 1.0, SCHEMA_PLAIN, 0, 300},
    {"small-plain", 11, 300, 120, 1.0, SCHEMA_PLAIN, 0, 500},
    {"mid-mixed", 22, 1000, 500, 1.0, SCHEMA_MIXED, 1, 500},
    {"large-plain", 33, 5000, 2000, 1.05, SCHEMA_PLAIN, 0, 500},
    {"english-default", 44, 2000, 800, 1.0, NULL, 1, 500},
    {"edge-params", 55, 800, 300, 0.9, SCHEMA_EDGE, 1, 400},
    {"dense-plain", 66, 1500, 40, 0.7, SCHEMA_PLAIN, 0, 400},
};

/* ---- random numbers (splitmix64) ---- */

typedef struct rng {
	uint64_t s;
} rng;

static uint64_t rnext(rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t rbelow(rng *r, uint32_t n)
{
	return (uint32_t)(rnext(r) % n);
}

static double runit(rng *r)
{
	return (double)(rnext(r) >> 11) * (1.0 / 9007199254740992.0);
}

static int rchance(rng *r, double p)
{
	return runit(r) < p;
}

/* ---- a growing string ---- */

typedef struct sb {
	char *p;
	size_t n, cap;
} sb;

static void sb_add(sb *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 256;
		while (nc < b->n + n + 1)
			nc *= 2;
		b->p = realloc(b->p, nc);
		assert_non_null(b->p);
		b->cap = nc;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = 0;
}

static void sb_puts(sb *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void sb_printf(sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(sb *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < sizeof tmp);
	sb_add(b, tmp, (size_t)n);
}

static void sb_reset(sb *b)
{
	b->n = 0;
	if (b->p)
		b->p[0] = 0;
}

/* ---- the brute force's term dictionary: (field byte + term) -> postings ---- */

typedef struct term {
	uint8_t *key; /* field byte + folded/stemmed bytes */
	uint32_t klen;
	uint32_t df; /* documents of the whole corpus */
	uint32_t cap;
	uint32_t *docs, *tfs;
} term;

typedef struct dict {
	term *t;
	uint32_t n, cap;
	uint32_t *slots; /* term index + 1 */
	uint32_t mask;
} dict;

static int32_t dict_find(const dict *d, const uint8_t *key, uint32_t klen)
{
	if (!d->slots)
		return -1;
	uint32_t j = (uint32_t)th_hash64(key, klen) & d->mask;
	for (;;) {
		uint32_t s = d->slots[j];
		if (!s)
			return -1;
		const term *t = &d->t[s - 1];
		if (t->klen == klen && !memcmp(t->key, key, klen))
			return (int32_t)(s - 1);
		j = (j + 1) & d->mask;
	}
}

static void dict_rehash(dict *d, uint32_t nslots)
{
	free(d->slots);
	d->slots = calloc(nslots, sizeof *d->slots);
	assert_non_null(d->slots);
	d->mask = nslots - 1;
	for (uint32_t i = 0; i < d->n; i++) {
		uint32_t j = (uint32_t)th_hash64(d->t[i].key, d->t[i].klen) & d->mask;
		while (d->slots[j])
			j = (j + 1) & d->mask;
		d->slots[j] = i + 1;
	}
}

static uint32_t dict_add(dict *d, const uint8_t *key, uint32_t klen)
{
	int32_t f = dict_find(d, key, klen);
	if (f >= 0)
		return (uint32_t)f;
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 1024;
		d->t = realloc(d->t, d->cap * sizeof *d->t);
		assert_non_null(d->t);
	}
	term *t = &d->t[d->n++];
	memset(t, 0, sizeof *t);
	t->key = malloc(klen);
	assert_non_null(t->key);
	memcpy(t->key, key, klen);
	t->klen = klen;
	if (!d->slots || d->n * 2 > d->mask)
		dict_rehash(d, d->slots ? (d->mask + 1) * 2 : 4096);
	else {
		uint32_t j = (uint32_t)th_hash64(key, klen) & d->mask;
		while (d->slots[j])
			j = (j + 1) & d->mask;
		d->slots[j] = d->n;
	}
	return d->n - 1;
}

static void dict_free(dict *d)
{
	for (uint32_t i = 0; i < d->n; i++) {
		free(d->t[i].key);
		free(d->t[i].docs);
		free(d->t[i].tfs);
	}
	free(d->t);
	free(d->slots);
	memset(d, 0, sizeof *d);
}

/* ---- the corpus ---- */

typedef struct tfield {
	char *text;  /* the text as the engine analyses it (array elements joined by '\n') */
	int form;    /* 0 absent, 1 null, 2 string, 3 array */
	int32_t *at; /* term id at each position, -1 where a token was dropped */
	uint32_t npos;
	uint32_t kept; /* field length */
	float kdl;     /* K(decoded length) */
} tfield;

typedef struct tdoc {
	char id[32];
	uint64_t hash;
	tfield f[MAXF];
} tdoc;

typedef struct res {
	int rc;
	uint32_t n;
	uint64_t total;
	uint32_t doc[MAXK];
	double score[MAXK];
} res;

typedef struct corpus {
	const cfg *cfg;
	idx_schema schema;
	idx_analyzer *an[2];
	char **vocab;
	uint32_t nvocab;
	double *cdf;
	tdoc *docs;
	uint32_t ndocs;
	dict dict;
	uint64_t sumlen[MAXF];
	double avgdl[MAXF];
	char root[64];
	char path[2][128];
	trawl_index *idx[2];
	trawl_searcher *s[2];
	/* brute-force results of the current query */
	double *score;
	uint8_t *match;
	uint32_t *order; /* matching docs by rank */
	uint32_t nmatch;
	/* scratch */
	uint32_t *stamp;
	uint32_t stampv;
	res r[10];
	/* counters */
	uint64_t queries, searches, swaps, errors, empty, hits_checked, exact_shard;
	uint64_t shard_pairs;
	double max_err;    /* largest relative difference engine - brute force */
	double max_swap;   /* largest relative difference of two docs that traded places */
	const char *topic; /* the current document's topic word, repeated often (or NULL) */
	double topic_p;
	int spam; /* the current document's body repeats its topic hundreds of times */
} corpus;

static const uint32_t NSHARDS[2] = {1, 3};
static char g_root[64]; /* the temporary directory, for teardown after a failure */

static const char *const STOPS[] = {"the", "and", "of", "a", "to", "in", "is", "it", "with", "for"};

/* ---- vocabulary and documents ---- */

static void make_vocab(corpus *c, rng *r)
{
	static const char cons[] = "bcdfghjklmnprstvz";
	static const char vow[] = "aeiou";
	static const char *const suffix[] = {"s", "ing", "ed", "er", "ly", "ness"};
	uint32_t n = c->cfg->nvocab;
	c->vocab = calloc(n, sizeof *c->vocab);
	c->cdf = calloc(n, sizeof *c->cdf);
	assert_non_null(c->vocab);
	assert_non_null(c->cdf);
	dict seen = {0};
	for (uint32_t i = 0; i < n;) {
		char w[32];
		size_t l = 0;
		uint32_t syl = 2 + rbelow(r, 3);
		for (uint32_t s = 0; s < syl; s++) {
			w[l++] = cons[rbelow(r, sizeof cons - 1)];
			w[l++] = vow[rbelow(r, sizeof vow - 1)];
		}
		if (rchance(r, 0.3))
			w[l++] = cons[rbelow(r, sizeof cons - 1)];
		w[l] = 0;
		if (c->cfg->noise && rchance(r, 0.25)) {
			const char *sfx = suffix[rbelow(r, 6)];
			memcpy(w + l, sfx, strlen(sfx) + 1);
			l += strlen(sfx);
		}
		char *h = strdup(w); /* (on the heap: the hash reads whole words at a time) */
		assert_non_null(h);
		if (idx_is_stopword(h, l) ||
		    dict_find(&seen, (const uint8_t *)h, (uint32_t)l) >= 0) {
			free(h);
			continue;
		}
		dict_add(&seen, (const uint8_t *)h, (uint32_t)l);
		c->vocab[i++] = h;
	}
	dict_free(&seen);
	double sum = 0;
	for (uint32_t i = 0; i < n; i++) {
		sum += 1.0 / pow((double)i + 1.0, c->cfg->zipf);
		c->cdf[i] = sum;
	}
	for (uint32_t i = 0; i < n; i++)
		c->cdf[i] /= sum;
}

static uint32_t zipf_rank(corpus *c, rng *r)
{
	double u = runit(r);
	uint32_t lo = 0, hi = c->nvocab - 1;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (c->cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Appends one word of running text. */
static void text_word(corpus *c, rng *r, sb *t, const char *prev, uint32_t *noise_ctr)
{
	if (prev && rchance(r, 0.08)) {
		sb_puts(t, prev); /* bursts: higher term frequencies */
		return;
	}
	if (c->topic && rchance(r, c->topic_p)) {
		sb_puts(t, c->topic); /* uneven block maxima */
		return;
	}
	if (c->cfg->noise && rchance(r, 0.1)) {
		sb_puts(t, STOPS[rbelow(r, sizeof STOPS / sizeof STOPS[0])]);
		return;
	}
	if (rchance(r, 0.01)) {
		sb_printf(t, "qx%uzz", (*noise_ctr)++); /* a term of one document */
		return;
	}
	const char *w = c->vocab[zipf_rank(c, r)];
	if (c->cfg->noise && rchance(r, 0.08)) {
		char up[32];
		size_t l = strlen(w);
		memcpy(up, w, l + 1);
		if (rchance(r, 0.5))
			up[0] = (char)(up[0] - 'a' + 'A');
		else
			for (size_t i = 0; i < l; i++)
				up[i] = (char)(up[i] - 'a' + 'A');
		sb_puts(t, up);
		return;
	}
	sb_puts(t, w);
}

/* Generates the text of field name for one document. */
static void gen_field(corpus *c, rng *r, const char *name, tfield *f, uint32_t *noise_ctr)
{
	uint32_t nw;
	if (!strcmp(name, "title"))
		nw = rbelow(r, 7);
	else if (!strcmp(name, "body") && c->spam)
		nw = 50 + rbelow(r, 600);
	else if (!strcmp(name, "body"))
		nw = rchance(r, 0.04) ? 100 + rbelow(r, 201) : rbelow(r, 81);
	else
		nw = rbelow(r, 11);
	if (nw == 0) {
		uint32_t x = rbelow(r, 4);
		f->form = x == 0 ? 0 : x == 1 ? 1 : x == 2 ? 2 : 3;
		f->text = strdup("");
		assert_non_null(f->text);
		return;
	}
	int array = rchance(r, 0.2);
	f->form = array ? 3 : 2;
	sb t = {0};
	size_t prev_at = 0, prev_len = 0;
	for (uint32_t i = 0; i < nw; i++) {
		if (i) {
			if (array && rchance(r, 0.08)) {
				sb_puts(&t, "\n");
				if (rchance(r, 0.1))
					sb_puts(&t, "\n"); /* an empty element */
			} else {
				sb_puts(&t, " ");
			}
		}
		char prev[64] = "";
		if (i) {
			memcpy(prev, t.p + prev_at, prev_len);
			prev[prev_len] = 0;
		}
		size_t at = t.n;
		text_word(c, r, &t, i ? prev : NULL, noise_ctr);
		prev_at = at;
		prev_len = t.n - at;
		assert_true(prev_len < sizeof prev);
	}
	f->text = t.p;
}

/* JSON of one document. */
static void doc_json(corpus *c, const tdoc *d, sb *j)
{
	sb_reset(j);
	sb_printf(j, "{\"id\":\"%s\",\"n\":%u", d->id, (unsigned)(d - c->docs));
	for (uint32_t f = 0; f < c->schema.nfields; f++) {
		const tfield *tf = &d->f[f];
		if (tf->form == 0)
			continue;
		sb_printf(j, ",\"%s\":", c->schema.fields[f].name);
		if (tf->form == 1) {
			sb_puts(j, "null");
		} else if (tf->form == 2) {
			sb_puts(j, "\"");
			sb_puts(j, tf->text);
			sb_puts(j, "\"");
		} else {
			sb_puts(j, "[\"");
			for (const char *p = tf->text; *p; p++) {
				if (*p == '\n')
					sb_puts(j, "\",\"");
				else
					sb_add(j, p, 1);
			}
			sb_puts(j, "\"]");
		}
	}
	sb_puts(j, ",\"meta\":{\"x\":[1,2]}}");
}

/* ---- analysis ---- */

typedef struct toks {
	uint32_t n, cap;
	uint32_t *pos;
	int32_t *tid;
	dict *d;
	int add; /* add unknown terms to the dictionary (documents) or not (queries) */
	uint8_t fid;
} toks;

static int tok_cb(void *ctx, const idx_token *t)
{
	toks *k = ctx;
	if (k->n == k->cap) {
		k->cap = k->cap ? k->cap * 2 : 64;
		k->pos = realloc(k->pos, k->cap * sizeof *k->pos);
		k->tid = realloc(k->tid, k->cap * sizeof *k->tid);
		assert_non_null(k->pos);
		assert_non_null(k->tid);
	}
	uint8_t key[LIMIT_TOKEN_BYTES + 1];
	key[0] = k->fid;
	memcpy(key + 1, t->text, t->len);
	k->pos[k->n] = t->pos;
	k->tid[k->n] =
	    k->add ? (int32_t)dict_add(k->d, key, t->len + 1) : dict_find(k->d, key, t->len + 1);
	k->n++;
	return 0;
}

static void toks_free(toks *k)
{
	free(k->pos);
	free(k->tid);
}

static void analyze_corpus(corpus *c)
{
	uint32_t N = c->ndocs;
	for (uint32_t d = 0; d < N; d++)
		for (uint32_t f = 0; f < c->schema.nfields; f++) {
			tfield *tf = &c->docs[d].f[f];
			toks k = {.d = &c->dict, .add = 1, .fid = (uint8_t)f};
			uint32_t npos = 0;
			size_t len = strlen(tf->text);
			if (len)
				assert_int_equal(idx_analyze(c->an[c->schema.fields[f].analyzer],
				                             tf->text, len, 0, &npos, tok_cb, &k),
				                 0);
			tf->npos = npos;
			tf->kept = k.n;
			tf->at = malloc((npos ? npos : 1) * sizeof *tf->at);
			assert_non_null(tf->at);
			for (uint32_t p = 0; p < npos; p++)
				tf->at[p] = -1;
			for (uint32_t i = 0; i < k.n; i++) {
				assert_true(k.pos[i] < npos);
				tf->at[k.pos[i]] = k.tid[i];
			}
			c->sumlen[f] += k.n;
			toks_free(&k);
		}
	/* postings: (doc, tf) per term, docs ascending */
	uint32_t *cnt = calloc(c->dict.n, sizeof *cnt);
	uint32_t *list = malloc(((size_t)c->dict.n + 1) * sizeof *list);
	assert_non_null(cnt);
	assert_non_null(list);
	for (uint32_t d = 0; d < N; d++)
		for (uint32_t f = 0; f < c->schema.nfields; f++) {
			tfield *tf = &c->docs[d].f[f];
			uint32_t nl = 0;
			for (uint32_t p = 0; p < tf->npos; p++) {
				int32_t t = tf->at[p];
				if (t < 0)
					continue;
				if (cnt[t]++ == 0)
					list[nl++] = (uint32_t)t;
			}
			for (uint32_t i = 0; i < nl; i++) {
				term *t = &c->dict.t[list[i]];
				if (t->df == t->cap) {
					t->cap = t->cap ? t->cap * 2 : 4;
					t->docs = realloc(t->docs, t->cap * sizeof *t->docs);
					t->tfs = realloc(t->tfs, t->cap * sizeof *t->tfs);
					assert_non_null(t->docs);
					assert_non_null(t->tfs);
				}
				t->docs[t->df] = d;
				t->tfs[t->df] = cnt[list[i]];
				t->df++;
				cnt[list[i]] = 0;
			}
		}
	free(cnt);
	free(list);
	for (uint32_t f = 0; f < c->schema.nfields; f++)
		c->avgdl[f] = N ? (double)c->sumlen[f] / (double)N : 1.0;
	for (uint32_t d = 0; d < N; d++)
		for (uint32_t f = 0; f < c->schema.nfields; f++) {
			const idx_field *fd = &c->schema.fields[f];
			tfield *tf = &c->docs[d].f[f];
			tf->kdl = idx_bm25_k(
			    fd->k1, fd->b, idx_norm_decode(idx_norm_encode(tf->kept)), c->avgdl[f]);
		}
}

/* ---- building and cleaning up ---- */

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_tree(const char *dir)
{
	if (dir[0])
		nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void build_index(corpus *c, uint32_t which)
{
	trawl_build_opts o = {0};
	o.shards = NSHARDS[which];
	o.schema_json = c->cfg->schema;
	char err[512] = "";
	trawl_builder *b = NULL;
	int rc = trawl_builder_open(&b, c->path[which], &o, err, sizeof err);
	if (rc)
		fail_msg("trawl_builder_open: %s", err);
	sb j = {0};
	for (uint32_t d = 0; d < c->ndocs; d++) {
		doc_json(c, &c->docs[d], &j);
		rc = trawl_builder_add_json(b, j.p, j.n, "gen", d + 1);
		if (rc)
			fail_msg("add_json: %s (%s)", trawl_builder_errmsg(b), j.p);
	}
	free(j.p);
	trawl_build_report rep;
	rc = trawl_builder_commit(b, &rep);
	if (rc)
		fail_msg("commit: %s", trawl_builder_errmsg(b));
	assert_int_equal(rep.docs, c->ndocs);
	trawl_builder_close(b);
	rc = trawl_index_open(&c->idx[which], c->path[which], err, sizeof err);
	if (rc)
		fail_msg("trawl_index_open: %s", err);
	trawl_index_stats st;
	trawl_index_get_stats(c->idx[which], &st);
	assert_int_equal(st.docs, c->ndocs);
	assert_int_equal(st.shards, NSHARDS[which]);
	assert_int_equal(st.fields, c->schema.nfields);
	assert_int_equal(trawl_searcher_open(&c->s[which], c->idx[which]), TRAWL_OK);
}

static void corpus_free(corpus *c)
{
	for (int i = 0; i < 2; i++) {
		trawl_searcher_close(c->s[i]);
		trawl_index_close(c->idx[i]);
	}
	rm_tree(c->root);
	g_root[0] = 0;
	for (uint32_t d = 0; d < c->ndocs; d++)
		for (uint32_t f = 0; f < MAXF; f++) {
			free(c->docs[d].f[f].text);
			free(c->docs[d].f[f].at);
		}
	free(c->docs);
	for (uint32_t i = 0; i < c->nvocab; i++)
		free(c->vocab[i]);
	free(c->vocab);
	free(c->cdf);
	dict_free(&c->dict);
	idx_analyzer_free(c->an[0]);
	idx_analyzer_free(c->an[1]);
	free(c->score);
	free(c->match);
	free(c->order);
	free(c->stamp);
}

static void corpus_make(corpus *c, const cfg *g)
{
	memset(c, 0, sizeof *c);
	c->cfg = g;
	char err[256];
	if (g->schema)
		assert_int_equal(
		    idx_schema_parse(&c->schema, g->schema, strlen(g->schema), err, sizeof err),
		    TRAWL_OK);
	else
		idx_schema_default(&c->schema);
	assert_true(c->schema.nfields <= MAXF);
	assert_int_equal(idx_analyzer_alloc(&c->an[IDX_AN_PLAIN], IDX_AN_PLAIN), TRAWL_OK);
	assert_int_equal(idx_analyzer_alloc(&c->an[IDX_AN_ENGLISH], IDX_AN_ENGLISH), TRAWL_OK);
	rng r = {g->seed};
	c->nvocab = g->nvocab;
	make_vocab(c, &r);
	c->ndocs = g->ndocs;
	c->docs = calloc(c->ndocs, sizeof *c->docs);
	assert_non_null(c->docs);
	uint32_t noise_ctr = 0;
	for (uint32_t d = 0; d < c->ndocs; d++) {
		tdoc *doc = &c->docs[d];
		snprintf(doc->id, sizeof doc->id, "doc-%u", d);
		doc->hash = th_hash64(doc->id, strlen(doc->id));
		c->topic = rchance(&r, 0.3)
		               ? c->vocab[rbelow(&r, c->nvocab < 200 ? c->nvocab : 200)]
		               : NULL;
		c->topic_p = 0.03 + 0.3 * runit(&r);
		c->spam = rchance(&r, 0.005); /* term frequencies far above the block's others */
		if (c->spam) {
			c->topic = c->vocab[rbelow(&r, c->nvocab < 50 ? c->nvocab : 50)];
			c->topic_p = 0.9;
		}
		for (uint32_t f = 0; f < c->schema.nfields; f++)
			gen_field(c, &r, c->schema.fields[f].name, &doc->f[f], &noise_ctr);
		c->spam = 0;
	}
	analyze_corpus(c);
	c->score = calloc(c->ndocs, sizeof *c->score);
	c->match = calloc(c->ndocs, 1);
	c->order = calloc(c->ndocs, sizeof *c->order);
	c->stamp = calloc(c->ndocs, sizeof *c->stamp);
	assert_non_null(c->score);
	assert_non_null(c->match);
	assert_non_null(c->order);
	assert_non_null(c->stamp);
	snprintf(c->root, sizeof c->root, "/tmp/trawl-search-test-XXXXXX");
	assert_non_null(mkdtemp(c->root));
	snprintf(g_root, sizeof g_root, "%s", c->root);
	for (uint32_t i = 0; i < 2; i++) {
		snprintf(c->path[i], sizeof c->path[i], "%s/s%u", c->root, NSHARDS[i]);
		build_index(c, i);
	}
}

/* ---- brute force ---- */

/* Adds the contribution of term tid in field f to every document containing it. */
static void bf_term(corpus *c, uint32_t f, uint32_t tid, double *score, uint8_t *match)
{
	const idx_field *fd = &c->schema.fields[f];
	const term *t = &c->dict.t[tid];
	double w = (double)fd->boost * (double)idx_bm25_idf(c->ndocs, t->df);
	for (uint32_t i = 0; i < t->df; i++) {
		uint32_t d = t->docs[i];
		score[d] += w * (double)idx_bm25_tf(t->tfs[i], fd->k1, c->docs[d].f[f].kdl);
		match[d] = 1;
	}
}

/* A phrase: terms tid[0..n) at positions first + rel[i]. */
static void bf_phrase(corpus *c, uint32_t f, const int32_t *tid, const uint32_t *rel, uint32_t n,
                      double *score, uint8_t *match)
{
	const idx_field *fd = &c->schema.fields[f];
	double idf = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (tid[i] < 0)
			return; /* a term no document has */
		idf += (double)idx_bm25_idf(c->ndocs, c->dict.t[tid[i]].df);
	}
	double w = (double)fd->boost * idf;
	const term *t0 = &c->dict.t[tid[0]];
	for (uint32_t j = 0; j < t0->df; j++) {
		uint32_t d = t0->docs[j];
		const tfield *tf = &c->docs[d].f[f];
		uint32_t freq = 0;
		for (uint32_t p = 0; p < tf->npos; p++) {
			uint32_t i;
			for (i = 0; i < n; i++) {
				uint32_t q = p + rel[i];
				if (q >= tf->npos || tf->at[q] != tid[i])
					break;
			}
			if (i == n)
				freq++;
		}
		if (freq) {
			score[d] += w * (double)idx_bm25_tf(freq, fd->k1, tf->kdl);
			match[d] = 1;
		}
	}
}

/* A word, phrase or prefix clause: the sum over its target fields.
 * *present = 0 when it analyses to nothing in every field (dropped). */
static int bf_words(corpus *c, const qt_node *q, double *score, uint8_t *match, int *present)
{
	uint32_t fids[MAXF], nf = 0;
	if (q->field) {
		int f = idx_schema_field(&c->schema, q->field, strlen(q->field));
		if (f < 0)
			return TRAWL_EQUERY;
		fids[nf++] = (uint32_t)f;
	} else {
		for (uint32_t f = 0; f < c->schema.nfields; f++)
			fids[nf++] = f;
	}
	*present = 0;
	for (uint32_t i = 0; i < nf; i++) {
		uint32_t f = fids[i];
		idx_analyzer *an = c->an[c->schema.fields[f].analyzer];
		if (q->kind == QT_PREFIX) {
			char folded[LIMIT_TOKEN_BYTES];
			size_t fl = 0;
			int rc = idx_fold_term(an, q->text, q->len, folded, sizeof folded, &fl);
			if (rc == TRAWL_ELIMIT || (rc == TRAWL_OK && fl == 0))
				return TRAWL_EQUERY;
			assert_int_equal(rc, TRAWL_OK);
			*present = 1;
			for (uint32_t t = 0; t < c->dict.n; t++) {
				const term *tm = &c->dict.t[t];
				if (tm->key[0] == f && tm->klen - 1 >= fl &&
				    !memcmp(tm->key + 1, folded, fl))
					bf_term(c, f, t, score, match);
			}
			continue;
		}
		toks k = {.d = &c->dict, .add = 0, .fid = (uint8_t)f};
		assert_int_equal(idx_analyze(an, q->text, q->len, 0, NULL, tok_cb, &k), 0);
		if (k.n == 1) {
			*present = 1;
			if (k.tid[0] >= 0)
				bf_term(c, f, (uint32_t)k.tid[0], score, match);
		} else if (k.n > 1 && q->kind != QT_PHRASE) {
			/* an unquoted word that analysis split (wi-fi): its tokens are
			 * alternatives, each adding its score */
			*present = 1;
			for (uint32_t j = 0; j < k.n; j++)
				if (k.tid[j] >= 0)
					bf_term(c, f, (uint32_t)k.tid[j], score, match);
		} else if (k.n > 1) {
			*present = 1;
			for (uint32_t j = 1; j < k.n; j++)
				k.pos[j] -= k.pos[0];
			k.pos[0] = 0;
			bf_phrase(c, f, k.tid, k.pos, k.n, score, match);
		}
		toks_free(&k);
	}
	return TRAWL_OK;
}

static int bf_node(corpus *c, const qt_node *q, double *score, uint8_t *match, int *present);

/* A group: MUST all, NOT none, and at least one SHOULD if there is no MUST;
 * the score is the sum of the required and the matching optional clauses. */
static int bf_bool(corpus *c, const qt_node *q, double *score, uint8_t *match, int *present)
{
	uint32_t N = c->ndocs;
	double *ks = malloc(N * sizeof *ks);
	uint8_t *km = malloc(N);
	uint32_t *mcount = calloc(N, sizeof *mcount);
	uint8_t *anys = calloc(N, 1), *anyn = calloc(N, 1);
	double *sum = calloc(N, sizeof *sum);
	assert_true(ks && km && mcount && anys && anyn && sum);
	uint32_t nm = 0, ns = 0, nn = 0;
	int rc = TRAWL_OK;
	for (uint32_t i = 0; i < q->nkids && !rc; i++) {
		memset(ks, 0, N * sizeof *ks);
		memset(km, 0, N);
		int kp = 0;
		rc = bf_node(c, q->kids[i], ks, km, &kp);
		if (rc || !kp)
			continue;
		switch (q->kids[i]->occur) {
		case QT_MUST:
			nm++;
			for (uint32_t d = 0; d < N; d++)
				if (km[d]) {
					mcount[d]++;
					sum[d] += ks[d];
				}
			break;
		case QT_FILTER: /* required, never scores */
			nm++;
			for (uint32_t d = 0; d < N; d++)
				mcount[d] += km[d] != 0;
			break;
		case QT_SHOULD:
			ns++;
			for (uint32_t d = 0; d < N; d++)
				if (km[d]) {
					anys[d] = 1;
					sum[d] += ks[d];
				}
			break;
		case QT_NOT:
			nn++;
			for (uint32_t d = 0; d < N; d++)
				anyn[d] |= km[d];
			break;
		}
	}
	*present = 0;
	if (!rc && nm + ns == 0 && nn > 0)
		rc = TRAWL_EQUERY; /* only excluded clauses */
	if (!rc && nm + ns > 0) {
		*present = 1;
		for (uint32_t d = 0; d < N; d++) {
			int m = (nm ? mcount[d] == nm : anys[d]) && !anyn[d];
			if (m) {
				match[d] = 1;
				score[d] = sum[d];
			}
		}
	}
	free(ks);
	free(km);
	free(mcount);
	free(anys);
	free(anyn);
	free(sum);
	return rc;
}

static int bf_node(corpus *c, const qt_node *q, double *score, uint8_t *match, int *present)
{
	if (q->kind == QT_BOOL)
		return bf_bool(c, q, score, match, present);
	return bf_words(c, q, score, match, present);
}

static const corpus *g_sort_corpus;

static int cmp_rank(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	const corpus *c = g_sort_corpus;
	if (c->score[x] != c->score[y])
		return c->score[x] > c->score[y] ? -1 : 1;
	uint64_t hx = c->docs[x].hash, hy = c->docs[y].hash;
	return hx < hy ? -1 : hx > hy;
}

/* Evaluates query q; fills c->score, c->match, c->order, c->nmatch.
 * Returns TRAWL_OK or TRAWL_EQUERY (the engine must refuse the query too). */
static int brute_force(corpus *c, const char *q, int op)
{
	qt_node *tree = NULL;
	char err[256];
	int rc = idx_query_parse(q, strlen(q), op, &tree, err, sizeof err);
	if (rc)
		fail_msg("generated query [%s] does not parse: %s", q, err);
	memset(c->score, 0, c->ndocs * sizeof *c->score);
	memset(c->match, 0, c->ndocs);
	int present = 0;
	rc = bf_node(c, tree, c->score, c->match, &present);
	qt_free(tree);
	c->nmatch = 0;
	if (rc)
		return rc;
	if (!present)
		return TRAWL_EQUERY; /* nothing to search for */
	for (uint32_t d = 0; d < c->ndocs; d++)
		if (c->match[d]) {
			assert_true(c->score[d] > 0);
			c->order[c->nmatch++] = d;
		}
	g_sort_corpus = c;
	qsort(c->order, c->nmatch, sizeof *c->order, cmp_rank);
	return TRAWL_OK;
}

/* ---- running the engine ---- */

static void search(corpus *c, uint32_t which, const char *q, int op, uint32_t k, uint32_t off,
                   int mode, int exhaustive, res *out)
{
	idx_search_exhaustive = exhaustive;
	trawl_search_opts o = {k, off, mode, op};
	trawl_results *r = NULL;
	int rc = trawl_search(c->s[which], q, strlen(q), &o, &r);
	idx_search_exhaustive = 0;
	c->searches++;
	out->rc = rc;
	out->n = 0;
	out->total = 0;
	if (rc) {
		assert_null(r);
		return;
	}
	out->n = trawl_results_count(r);
	out->total = trawl_results_total(r);
	assert_true(out->n <= k);
	for (uint32_t i = 0; i < out->n; i++) {
		const char *id = trawl_results_id(r, i);
		unsigned d = 0;
		char tail = 0;
		if (!id || sscanf(id, "doc-%u%c", &d, &tail) != 1 || d >= c->ndocs ||
		    strcmp(id, c->docs[d].id))
			fail_msg("query [%s]: unknown id %s", q, id ? id : "(null)");
		out->doc[i] = d;
		out->score[i] = trawl_results_score(r, i);
	}
	trawl_results_free(r);
}

/*
 * search_tree runs q as a trawl_query: parsed, encoded, decoded (as a leaf
 * gets it from the root) and run with trawl_search_query, whose default_op
 * is set to the other operator to show that the tree alone decides.
 */
static void search_tree(corpus *c, uint32_t which, const char *q, int op, uint32_t k, int mode,
                        res *out)
{
	trawl_query *parsed = NULL, *decoded = NULL;
	char err[256];
	assert_int_equal(trawl_query_parse(&parsed, q, strlen(q), op, err, sizeof err), TRAWL_OK);
	void *bytes = NULL;
	size_t len = 0;
	assert_int_equal(trawl_query_encode(parsed, &bytes, &len), TRAWL_OK);
	assert_true(len > 0 && len <= TRAWL_MAX_QUERY_TREE_BYTES);
	assert_int_equal(trawl_query_decode(&decoded, bytes, len, err, sizeof err), TRAWL_OK);
	free(bytes);
	trawl_query_free(parsed);
	trawl_search_opts o = {k, 0, mode, !op};
	trawl_results *r = NULL;
	out->rc = trawl_search_query(c->s[which], decoded, &o, &r);
	trawl_query_free(decoded);
	out->n = out->rc ? 0 : trawl_results_count(r);
	out->total = out->rc ? 0 : trawl_results_total(r);
	for (uint32_t i = 0; i < out->n; i++) {
		unsigned d = 0;
		sscanf(trawl_results_id(r, i), "doc-%u", &d);
		out->doc[i] = d;
		out->score[i] = trawl_results_score(r, i);
	}
	trawl_results_free(r);
}

/* The text of a document, for failure reports. */
static void dump_doc(const corpus *c, uint32_t d)
{
	print_error("  %s:\n", c->docs[d].id);
	for (uint32_t f = 0; f < c->schema.nfields; f++) {
		const tfield *tf = &c->docs[d].f[f];
		print_error("    %s (%u tokens, norm %u): %.600s\n", c->schema.fields[f].name,
		            tf->kept, idx_norm_decode(idx_norm_encode(tf->kept)), tf->text);
	}
}

static void dump_expected(const corpus *c, uint32_t from, uint32_t n)
{
	for (uint32_t j = from; j < from + n && j < c->nmatch; j++) {
		uint32_t d = c->order[j];
		print_error("  expected #%u: %s %.9g hash %016llx\n", j, c->docs[d].id, c->score[d],
		            (unsigned long long)c->docs[d].hash);
	}
}

static void dump_res(const corpus *c, const res *r, uint32_t off)
{
	for (uint32_t i = 0; i < r->n; i++) {
		uint32_t d = r->doc[i];
		print_error("  got #%u: %s %.9g (brute force %.9g%s) hash %016llx\n", off + i,
		            c->docs[d].id, r->score[i], c->score[d],
		            c->match[d] ? "" : ", NO MATCH", (unsigned long long)c->docs[d].hash);
	}
}

#define QFAIL(c, q, op, which, k, off, ...)                                                        \
	do {                                                                                       \
		print_error("corpus %s (seed %llu), %u shard(s), query [%s]%s, k %u offset %u: ",  \
		            (c)->cfg->name, (unsigned long long)(c)->cfg->seed, NSHARDS[which],    \
		            (q), (op) ? " (default AND)" : "", (k), (off));                        \
		print_error(__VA_ARGS__);                                                          \
		print_error("\n");                                                                 \
	} while (0)

static int rel_close(double a, double b, double tol)
{
	double m = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
	return fabs(a - b) <= tol * (m > 1e-30 ? m : 1e-30);
}

/* The engine's score of doc d for query q: from page r if it is there, else
 * from the top MAXK; -1 if the engine does not rank it there. */
static double engine_score(corpus *c, uint32_t which, const char *q, int op, const res *r,
                           uint32_t d)
{
	for (uint32_t i = 0; i < r->n; i++)
		if (r->doc[i] == d)
			return r->score[i];
	res *x = malloc(sizeof *x);
	assert_non_null(x);
	search(c, which, q, op, MAXK, 0, TRAWL_COUNT_NONE, 0, x);
	double s = -1;
	for (uint32_t i = 0; i < x->n; i++)
		if (x->doc[i] == d)
			s = x->score[i];
	free(x);
	return s;
}

/* The engine's page [off, off + k) against the brute force. */
static void check_bf(corpus *c, uint32_t which, const char *q, int op, uint32_t k, uint32_t off,
                     const res *r)
{
	uint32_t want = c->nmatch > off ? c->nmatch - off : 0;
	if (want > k)
		want = k;
	int bad = 0;
	if (r->total != c->nmatch) {
		QFAIL(c, q, op, which, k, off, "total %llu, brute force counts %u",
		      (unsigned long long)r->total, c->nmatch);
		bad = 1;
	}
	if (r->n != want) {
		QFAIL(c, q, op, which, k, off, "%u hits, want %u", r->n, want);
		bad = 1;
	}
	c->stampv++;
	for (uint32_t i = 0; i < r->n && !bad; i++) {
		uint32_t d = r->doc[i], j = off + i;
		if (c->stamp[d] == c->stampv) {
			QFAIL(c, q, op, which, k, off, "%s returned twice", c->docs[d].id);
			bad = 1;
			break;
		}
		c->stamp[d] = c->stampv;
		if (!c->match[d]) {
			QFAIL(c, q, op, which, k, off, "hit #%u %s does not match", j,
			      c->docs[d].id);
			bad = 1;
			break;
		}
		double err = fabs(r->score[i] - c->score[d]) / c->score[d];
		if (err > c->max_err)
			c->max_err = err;
		if (!rel_close(r->score[i], c->score[d], REL_TOL)) {
			QFAIL(c, q, op, which, k, off, "hit #%u %s score %.9g, brute force %.9g", j,
			      c->docs[d].id, r->score[i], c->score[d]);
			bad = 1;
			break;
		}
		if (i && !(r->score[i - 1] > r->score[i] ||
		           (r->score[i - 1] == r->score[i] &&
		            c->docs[r->doc[i - 1]].hash < c->docs[d].hash))) {
			QFAIL(c, q, op, which, k, off, "hits #%u and #%u out of order", j - 1, j);
			bad = 1;
			break;
		}
		uint32_t e = c->order[j];
		if (e != d) {
			/* near ties (float against double) may trade places */
			if (!rel_close(c->score[d], c->score[e], REL_TOL)) {
				QFAIL(c, q, op, which, k, off,
				      "hit #%u is %s (%.9g), brute force ranks %s (%.9g) there", j,
				      c->docs[d].id, c->score[d], c->docs[e].id, c->score[e]);
				dump_doc(c, d);
				dump_doc(c, e);
				bad = 1;
				break;
			}
			c->swaps++;
			double sw = fabs(c->score[d] - c->score[e]) / c->score[e];
			if (sw > c->max_swap)
				c->max_swap = sw;
		}
		c->hits_checked++;
	}
	/* A document the brute force puts on this page but the engine does not must
	 * rank outside the page by the engine's own scores (float, then hash): so an
	 * exact float tie at the page's edge must go by hash. */
	for (uint32_t j = off; j < off + r->n && !bad; j++) {
		uint32_t e = c->order[j];
		if (c->stamp[e] == c->stampv)
			continue;
		double fe = engine_score(c, which, q, op, r, e);
		uint32_t first = r->doc[0], last = r->doc[r->n - 1];
		double sf = r->score[0], sl = r->score[r->n - 1];
		uint64_t he = c->docs[e].hash;
		int after = fe < sl || (fe == sl && he > c->docs[last].hash);
		int before = fe > sf || (fe == sf && he < c->docs[first].hash);
		if (fe < 0 || !(after || before)) {
			QFAIL(c, q, op, which, k, off,
			      "%s (brute force #%u, %.9g, engine %.9g) is missing from the page",
			      c->docs[e].id, j, c->score[e], fe);
			dump_doc(c, e);
			bad = 1;
		}
	}
	if (bad) {
		dump_res(c, r, off);
		dump_expected(c, off, k + 3);
		fail_msg("engine differs from the brute force");
	}
}

/* Two runs that must agree exactly: ids, bit-identical scores, totals. */
static void check_same(corpus *c, uint32_t which, const char *q, int op, uint32_t k, uint32_t off,
                       const res *a, const res *b, const char *what)
{
	int bad = a->rc != b->rc || a->n != b->n || a->total != b->total;
	for (uint32_t i = 0; i < a->n && !bad; i++)
		bad = a->doc[i] != b->doc[i] || memcmp(&a->score[i], &b->score[i], sizeof(double));
	if (bad) {
		QFAIL(c, q, op, which, k, off, "%s: rc %d/%d, n %u/%u, total %llu/%llu", what,
		      a->rc, b->rc, a->n, b->n, (unsigned long long)a->total,
		      (unsigned long long)b->total);
		print_error(" first:\n");
		dump_res(c, a, off);
		print_error(" second:\n");
		dump_res(c, b, off);
		dump_expected(c, off, k + 3);
		fail_msg("%s", what);
	}
}

/* 1 shard against 3 shards: same ids (ties within 1e-6 may swap), scores within 1e-6. */
static void check_shards(corpus *c, const char *q, int op, uint32_t k, uint32_t off, const res *a,
                         const res *b)
{
	int bad = a->n != b->n || a->total != b->total;
	for (uint32_t i = 0; i < a->n && !bad; i++) {
		if (!rel_close(a->score[i], b->score[i], SHARD_TOL))
			bad = 1;
		else if (a->doc[i] != b->doc[i] &&
		         !rel_close(c->score[a->doc[i]], c->score[b->doc[i]], SHARD_TOL))
			bad = 1;
		c->shard_pairs++;
		if (!bad && a->doc[i] == b->doc[i] && a->score[i] == b->score[i])
			c->exact_shard++;
	}
	if (bad) {
		QFAIL(c, q, op, 1, k, off, "1 shard and 3 shards differ: n %u/%u total %llu/%llu",
		      a->n, b->n, (unsigned long long)a->total, (unsigned long long)b->total);
		print_error(" 1 shard:\n");
		dump_res(c, a, off);
		print_error(" 3 shards:\n");
		dump_res(c, b, off);
		fail_msg("shard layouts differ");
	}
}

typedef struct kopt {
	uint32_t k, off;
} kopt;

/* Every check for one query. */
static void search_ok(corpus *c, uint32_t which, const char *q, int op, uint32_t k, uint32_t off,
                      int mode, int exhaustive, res *out)
{
	search(c, which, q, op, k, off, mode, exhaustive, out);
	if (out->rc) {
		QFAIL(c, q, op, which, k, off, "search (count mode %d%s) failed: %d %s", mode,
		      exhaustive ? ", exhaustive" : "", out->rc,
		      trawl_searcher_errmsg(c->s[which]));
		fail_msg("search failed");
	}
	uint64_t want = mode == TRAWL_COUNT_NONE ? 0 : c->nmatch;
	if (out->total != want || (mode == TRAWL_COUNT_ONLY && out->n)) {
		QFAIL(c, q, op, which, k, off,
		      "count mode %d%s: %u hits, total %llu; the brute force "
		      "counts %u",
		      mode, exhaustive ? ", exhaustive" : "", out->n,
		      (unsigned long long)out->total, c->nmatch);
		fail_msg("count differs");
	}
}

/* Every check for one query. Pruning only runs when the engine need not visit
 * every match to count them, so the hits are checked with COUNT_NONE, and
 * COUNT_EXACT (which may score every match) must give the same hits. */
static void check_query(corpus *c, rng *r, const char *q, int op)
{
	int bfrc = brute_force(c, q, op);
	c->queries++;
	if (bfrc) {
		c->errors++;
		for (uint32_t w = 0; w < 2; w++) {
			res *x = &c->r[0];
			search(c, w, q, op, 10, 0, TRAWL_COUNT_NONE, 0, x);
			if (x->rc != TRAWL_EQUERY) {
				QFAIL(c, q, op, w, 10, 0,
				      "the brute force refuses the query, the engine "
				      "returns %d (%s)",
				      x->rc, trawl_searcher_errmsg(c->s[w]));
				fail_msg("query should be refused");
			}
		}
		return;
	}
	if (c->nmatch == 0)
		c->empty++;
	kopt ks[5] = {{10, 0}, {50, 0}, {10, 25}, {3, 0}, {MAXK, 0}};
	uint32_t nk = rchance(r, 0.12) ? 5 : 4;
	res *bylayout[2][5];
	res *x = malloc(sizeof *x);
	assert_non_null(x);
	for (uint32_t w = 0; w < 2; w++) {
		for (uint32_t i = 0; i < nk; i++) {
			uint32_t k = ks[i].k, off = ks[i].off;
			res *p = &c->r[w * 5 + i];
			bylayout[w][i] = p;
			/* pruned top-k against the brute force */
			search_ok(c, w, q, op, k, off, TRAWL_COUNT_NONE, 0, p);
			p->total = c->nmatch;
			check_bf(c, w, q, op, k, off, p);
			/* pruned against exhaustive: bit-identical */
			search_ok(c, w, q, op, k, off, TRAWL_COUNT_NONE, 1, x);
			x->total = c->nmatch;
			check_same(c, w, q, op, k, off, p, x, "pruned and exhaustive differ");
			/* counting: the exact total and the same hits */
			search_ok(c, w, q, op, k, off, TRAWL_COUNT_EXACT, 0, x);
			check_same(c, w, q, op, k, off, p, x,
			           "COUNT_EXACT and COUNT_NONE hits differ");
			if (i == 0) {
				search_ok(c, w, q, op, k, off, TRAWL_COUNT_EXACT, 1, x);
				check_same(c, w, q, op, k, off, p, x,
				           "exhaustive COUNT_EXACT hits differ");
				search_tree(c, w, q, op, k, TRAWL_COUNT_EXACT, x);
				assert_int_equal(x->rc, TRAWL_OK);
				check_same(c, w, q, op, k, off, p, x,
				           "a decoded trawl_query and the query string differ");
				search_ok(c, w, q, op, k, off, TRAWL_COUNT_ONLY, 0, x);
			}
		}
		/* the page at offset 25 is a slice of the 50 best */
		res *p50 = bylayout[w][1], *pg = bylayout[w][2];
		x->rc = 0;
		x->total = p50->total;
		x->n = p50->n > 25 ? (p50->n - 25 < 10 ? p50->n - 25 : 10) : 0;
		for (uint32_t i = 0; i < x->n; i++) {
			x->doc[i] = p50->doc[25 + i];
			x->score[i] = p50->score[25 + i];
		}
		check_same(c, w, q, op, 10, 25, x, pg, "page at offset 25 and top 50 differ");
	}
	free(x);
	for (uint32_t i = 0; i < nk; i++)
		check_shards(c, q, op, ks[i].k, ks[i].off, bylayout[0][i], bylayout[1][i]);
}

/* ---- query generation ---- */

static void q_word(corpus *c, rng *r, sb *q)
{
	uint32_t x = rbelow(r, 100), rank;
	if (x < 30)
		rank = zipf_rank(c, r);
	else if (x < 50)
		rank = rbelow(r, 8 < c->nvocab ? 8 : c->nvocab);
	else if (x < 70)
		rank = rbelow(r, 100 < c->nvocab ? 100 : c->nvocab);
	else if (x < 95)
		rank = rbelow(r, c->nvocab);
	else {
		sb_printf(q, "zzq%u", rbelow(r, 1000)); /* in no document */
		return;
	}
	const char *w = c->vocab[rank];
	if (rchance(r, 0.1)) {
		char up[32];
		size_t l = strlen(w);
		memcpy(up, w, l + 1);
		up[0] = (char)(up[0] - 'a' + 'A');
		sb_puts(q, up);
		return;
	}
	sb_puts(q, w);
}

/* Two or three consecutive words of some document's field, or random words. */
static void q_phrase_words(corpus *c, rng *r, sb *q)
{
	for (int tries = 0; tries < 20 && rchance(r, 0.8); tries++) {
		const tdoc *d = &c->docs[rbelow(r, c->ndocs)];
		const tfield *tf = &d->f[rbelow(r, c->schema.nfields)];
		const char *s = tf->text;
		size_t len = strlen(s);
		uint32_t starts[400], nw = 0;
		for (size_t i = 0; i < len && nw < 400; i++)
			if (s[i] != ' ' && s[i] != '\n' &&
			    (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\n'))
				starts[nw++] = (uint32_t)i;
		if (nw < 2)
			continue;
		uint32_t n = 2 + rbelow(r, 2);
		if (n > nw)
			n = nw;
		uint32_t first = rbelow(r, nw - n + 1);
		for (uint32_t i = 0; i < n; i++) {
			if (i)
				sb_puts(q, " ");
			const char *w = s + starts[first + i];
			size_t l = strcspn(w, " \n");
			sb_add(q, w, l);
		}
		return;
	}
	uint32_t n = 2 + rbelow(r, 2);
	for (uint32_t i = 0; i < n; i++) {
		if (i)
			sb_puts(q, " ");
		if (rchance(r, 0.7))
			sb_puts(q, c->vocab[rbelow(r, c->nvocab < 12 ? c->nvocab : 12)]);
		else
			q_word(c, r, q);
	}
}

static void q_phrase(corpus *c, rng *r, sb *q)
{
	sb_puts(q, "\"");
	q_phrase_words(c, r, q);
	sb_puts(q, "\"");
}

static void q_prefix(corpus *c, rng *r, sb *q)
{
	const char *w = c->vocab[rchance(r, 0.5) ? zipf_rank(c, r) : rbelow(r, c->nvocab)];
	size_t l = strlen(w);
	size_t n = 1 + rbelow(r, (uint32_t)(l < 6 ? l : 6));
	if (n == 1 && rchance(r, 0.5))
		n = 2; /* one letter expands to many terms: keep some, not too many */
	if (n > l)
		n = l;
	sb_add(q, w, n);
	sb_puts(q, "*");
}

static void q_field(corpus *c, rng *r, sb *q)
{
	sb_puts(q, c->schema.fields[rbelow(r, c->schema.nfields)].name);
	sb_puts(q, ":");
}

static void q_clause(corpus *c, rng *r, sb *q, int depth);

static void q_soup(corpus *c, rng *r, sb *q, int depth, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		if (i)
			sb_puts(q, " ");
		uint32_t o = rbelow(r, 100);
		if (o < 25)
			sb_puts(q, "+");
		else if (o < 42)
			sb_puts(q, "-");
		q_clause(c, r, q, depth);
	}
}

static void q_clause(corpus *c, rng *r, sb *q, int depth)
{
	uint32_t t = rbelow(r, depth < 2 ? 12 : 10);
	switch (t) {
	case 0:
	case 1:
	case 2:
	case 3:
		q_word(c, r, q);
		break;
	case 4:
		q_phrase(c, r, q);
		break;
	case 5:
		q_prefix(c, r, q);
		break;
	case 6:
		q_field(c, r, q);
		q_word(c, r, q);
		break;
	case 7:
		q_field(c, r, q);
		if (rchance(r, 0.5))
			q_prefix(c, r, q);
		else
			q_phrase(c, r, q);
		break;
	case 8:
		q_word(c, r, q); /* a hyphenated word: two tokens, alternatives */
		sb_puts(q, "-");
		q_word(c, r, q);
		break;
	case 9:
		q_word(c, r, q);
		break;
	default:
		if (rchance(r, 0.3))
			q_field(c, r, q);
		sb_puts(q, "(");
		q_soup(c, r, q, depth + 1, 1 + rbelow(r, 3));
		sb_puts(q, ")");
		break;
	}
}

/* n words separated by spaces (an OR), three in ten of the commonest. */
static void q_union(corpus *c, rng *r, sb *q, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		if (i)
			sb_puts(q, " ");
		if (rchance(r, 0.3))
			sb_puts(q, c->vocab[rbelow(r, 4)]);
		else
			q_word(c, r, q);
	}
}

/* One random query of one of the shapes the brief lists. */
static void gen_query(corpus *c, rng *r, sb *q)
{
	sb_reset(q);
	uint32_t shape = rbelow(r, 24);
	switch (shape) {
	case 0:
	case 1:
		q_word(c, r, q);
		break;
	case 2:
	case 3: /* OR of 2-6 terms, often with very common ones */
		q_union(c, r, q, 2 + rbelow(r, 5));
		break;
	case 4:
		sb_puts(q, "+");
		q_word(c, r, q);
		sb_puts(q, " +");
		q_word(c, r, q);
		break;
	case 5:
		sb_puts(q, "+");
		q_word(c, r, q);
		sb_puts(q, " ");
		q_word(c, r, q);
		sb_puts(q, " ");
		q_word(c, r, q);
		break;
	case 6:
		q_word(c, r, q);
		sb_puts(q, " ");
		q_word(c, r, q);
		sb_puts(q, " -");
		q_word(c, r, q);
		break;
	case 7:
	case 8:
		q_phrase(c, r, q);
		break;
	case 9:
		q_field(c, r, q);
		q_word(c, r, q);
		break;
	case 10:
		q_prefix(c, r, q);
		break;
	case 11:
		q_word(c, r, q);
		sb_puts(q, " (+");
		q_word(c, r, q);
		sb_puts(q, " +");
		q_word(c, r, q);
		sb_puts(q, ")");
		break;
	case 12:
		q_field(c, r, q);
		q_prefix(c, r, q);
		break;
	case 13:
		q_field(c, r, q);
		q_phrase(c, r, q);
		break;
	case 14: /* AND of ORs */
		sb_puts(q, "+(");
		q_word(c, r, q);
		sb_puts(q, " ");
		q_word(c, r, q);
		sb_puts(q, ") +(");
		q_word(c, r, q);
		sb_puts(q, " ");
		q_prefix(c, r, q);
		sb_puts(q, ")");
		break;
	case 15:
		q_word(c, r, q);
		sb_puts(q, " ");
		q_word(c, r, q);
		sb_puts(q, " -(");
		q_word(c, r, q);
		sb_puts(q, " ");
		q_word(c, r, q);
		sb_puts(q, ")");
		break;
	case 16:
		q_word(c, r, q);
		sb_puts(q, " +");
		q_phrase(c, r, q);
		sb_puts(q, " ");
		q_prefix(c, r, q);
		break;
	case 17: { /* keywords */
		static const char *const kw[] = {" AND ", " OR ", " AND NOT ", " "};
		q_word(c, r, q);
		sb_puts(q, kw[rbelow(r, 4)]);
		q_word(c, r, q);
		sb_puts(q, kw[rbelow(r, 4)]);
		q_word(c, r, q);
		break;
	}
	case 18:
		sb_puts(q, "+");
		q_prefix(c, r, q);
		sb_puts(q, " ");
		q_word(c, r, q);
		sb_puts(q, " -");
		q_phrase(c, r, q);
		break;
	case 19:
		q_field(c, r, q);
		sb_puts(q, "(");
		q_word(c, r, q);
		sb_puts(q, " ");
		q_prefix(c, r, q);
		sb_puts(q, " ");
		q_phrase(c, r, q);
		sb_puts(q, ")");
		break;
	case 20:
	case 21: { /* a union narrowed by filters (#: required, scoring 0) */
		uint32_t nf = 1 + rbelow(r, 2);
		sb_puts(q, "+(");
		q_union(c, r, q, 2 + rbelow(r, 4));
		sb_puts(q, ")");
		for (uint32_t i = 0; i < nf; i++) {
			sb_puts(q, " #");
			double x = runit(r);
			if (x < 0.4)
				sb_puts(q, c->vocab[rbelow(r, 8)]);
			else if (x < 0.7)
				q_phrase(c, r, q); /* a filter that is a phrase */
			else
				q_word(c, r, q);
		}
		if (shape == 21) {
			sb_puts(q, " -");
			q_word(c, r, q);
		}
		break;
	}
	default:
		q_soup(c, r, q, 0, 1 + rbelow(r, 5));
		break;
	}
}

/* A few fixed queries for every corpus: the commonest terms, alone and together. */
static void fixed_queries(corpus *c, rng *r)
{
	sb q = {0};
	const char *v0 = c->vocab[0], *v1 = c->vocab[1], *v2 = c->vocab[2], *v3 = c->vocab[3];
	for (int op = 0; op < 2; op++) {
		sb_reset(&q);
		sb_printf(&q, "%s", v0);
		check_query(c, r, q.p, op);
		sb_reset(&q);
		sb_printf(&q, "%s %s %s %s", v0, v1, v2, v3);
		check_query(c, r, q.p, op);
		sb_reset(&q);
		sb_printf(&q, "+%s +%s", v0, v1);
		check_query(c, r, q.p, op);
		sb_reset(&q);
		sb_printf(&q, "+%s %s %s", v0, v1, v2);
		check_query(c, r, q.p, op);
		sb_reset(&q);
		sb_printf(&q, "%s %s -%s", v0, v1, v2);
		check_query(c, r, q.p, op);
		sb_reset(&q);
		sb_printf(&q, "\"%s %s\"", v0, v1);
		check_query(c, r, q.p, op);
		sb_reset(&q);
		sb_printf(&q, "%s (+%s +%s)", v3, v0, v1);
		check_query(c, r, q.p, op);
		sb_reset(&q);
		sb_printf(&q, "%.1s*", v0);
		check_query(c, r, q.p, op);
		sb_reset(&q);
		sb_printf(&q, "%s %s -%.2s*", v0, v1, v2);
		check_query(c, r, q.p, op);
		sb_reset(&q);
		sb_printf(&q, "+(%s %s %s) #%s", v0, v1, v2, v3);
		check_query(c, r, q.p, op);
		sb_reset(&q);
		sb_printf(&q, "+%s #\"%s %s\"", v0, v1, v2); /* a phrase as a filter */
		check_query(c, r, q.p, op);
	}
	free(q.p);
}

/* ---- the tests ---- */

static void run_cfg(const cfg *g)
{
	double t0 = clock_mono_s();
	corpus *c = calloc(1, sizeof *c);
	assert_non_null(c);
	corpus_make(c, g);
	double t1 = clock_mono_s();
	/* the corpus spans rare and very common terms */
	uint32_t maxdf = 0, ones = 0;
	for (uint32_t t = 0; t < c->dict.n; t++) {
		if (c->dict.t[t].df > maxdf)
			maxdf = c->dict.t[t].df;
		ones += c->dict.t[t].df == 1;
	}
	assert_true(ones > 0);
	if (c->ndocs >= 300)
		assert_true(maxdf > 128);
	rng r = {g->seed * 7919 + 1};
	fixed_queries(c, &r);
	sb q = {0};
	for (uint32_t i = 0; i < g->nqueries; i++) {
		gen_query(c, &r, &q);
		int op = rchance(&r, 0.25) ? TRAWL_OP_AND : TRAWL_OP_OR;
		check_query(c, &r, q.p, op);
	}
	free(q.p);
	double t2 = clock_mono_s();
	print_message("%-16s docs %u, terms %u (df 1: %u, max df %u = %u blocks), queries %llu "
	              "(%llu refused, %llu empty), searches %llu, hits checked %llu, tie swaps "
	              "%llu (max rel. difference %.2g), max rel. score error %.2g, 1 vs 3 shards "
	              "bit-identical %llu/%llu; build %.2fs, queries %.2fs\n",
	              g->name, c->ndocs, c->dict.n, ones, maxdf, (maxdf + 127) / 128,
	              (unsigned long long)c->queries, (unsigned long long)c->errors,
	              (unsigned long long)c->empty, (unsigned long long)c->searches,
	              (unsigned long long)c->hits_checked, (unsigned long long)c->swaps,
	              c->max_swap, c->max_err, (unsigned long long)c->exact_shard,
	              (unsigned long long)c->shard_pairs, t1 - t0, t2 - t1);
	assert_true(c->queries >= g->nqueries);
	assert_true(c->empty < c->queries / 2);
	corpus_free(c);
	free(c);
}

static void run_corpus(void **state)
{
	run_cfg(*state);
}

/* TRAWL_SEARCH_SOAK=N[:SEED] runs N more corpora of random sizes and schemas
 * (seeds SEED, SEED+1, ...; default 1000), for hunting rare failures. */
static void run_soak(void **state)
{
	(void)state;
	const char *env = getenv("TRAWL_SEARCH_SOAK");
	if (!env || !*env)
		return;
	unsigned long n = strtoul(env, NULL, 10);
	const char *colon = strchr(env, ':');
	uint64_t seed = colon ? strtoull(colon + 1, NULL, 10) : 1000;
	static const char *const schemas[] = {SCHEMA_PLAIN, SCHEMA_MIXED, SCHEMA_EDGE, NULL};
	for (unsigned long i = 0; i < n; i++, seed++) {
		rng r = {seed ^ 0x5eed};
		cfg g = {"soak", seed, 0, 0, 0, NULL, 0, 0};
		g.ndocs = 20 + rbelow(&r, rchance(&r, 0.3) ? 6000 : 1500);
		g.nvocab = 20 + rbelow(&r, g.ndocs < 2000 ? g.ndocs : 2000);
		g.zipf = 0.6 + 0.6 * runit(&r);
		g.schema = schemas[rbelow(&r, 4)];
		g.noise = rchance(&r, 0.5);
		g.nqueries = 200 + rbelow(&r, 300);
		print_message("soak seed %llu: %u docs, vocabulary %u, zipf %.2f, schema %s\n",
		              (unsigned long long)seed, g.ndocs, g.nvocab, g.zipf,
		              g.schema ? g.schema : "default");
		run_cfg(&g);
	}
}

/* The trawl_query handle without an index: errors and the round trip. */
static void test_query_handle(void **state)
{
	(void)state;
	trawl_query *q = (trawl_query *)&q;
	char err[256];
	assert_int_equal(trawl_query_parse(&q, "a (b", 4, TRAWL_OP_OR, err, sizeof err),
	                 TRAWL_EQUERY);
	assert_null(q);
	assert_string_equal(err, "column 3: unclosed '('");
	assert_int_equal(trawl_query_decode(&q, "\x02\x00\x00", 3, err, sizeof err), TRAWL_EINVAL);
	assert_null(q);
	assert_string_equal(err, "query tree, offset 2: the input ends inside a node (2 bytes "
	                         "needed, 1 left)");
	assert_int_equal(
	    trawl_query_parse(&q, "+title:\"a b\" -c*", 16, TRAWL_OP_AND, err, sizeof err),
	    TRAWL_OK);
	void *b1, *b2;
	size_t n1, n2;
	assert_int_equal(trawl_query_encode(q, &b1, &n1), TRAWL_OK);
	trawl_query *d = NULL;
	assert_int_equal(trawl_query_decode(&d, b1, n1, err, sizeof err), TRAWL_OK);
	assert_int_equal(trawl_query_encode(d, &b2, &n2), TRAWL_OK);
	assert_int_equal(n1, n2);
	assert_memory_equal(b1, b2, n1);
	free(b1);
	free(b2);
	trawl_query_free(d);
	trawl_query_free(q);
	trawl_query_free(NULL);
}

/* ---- a keyword filter whose postings are one block ---- */

/* The hits of q (ids, scores) from s; their number. */
static uint32_t kw_hits(trawl_searcher *s, const char *q, uint32_t k, int mode, char ids[][16],
                        float *scores)
{
	trawl_search_opts o = {k, 0, mode, TRAWL_OP_OR};
	trawl_results *r = NULL;
	int rc = trawl_search(s, q, strlen(q), &o, &r);
	if (rc)
		fail_msg("[%s]: %s", q, trawl_searcher_errmsg(s));
	uint32_t n = trawl_results_count(r);
	for (uint32_t i = 0; i < n; i++) {
		snprintf(ids[i], 16, "%s", trawl_results_id(r, i));
		scores[i] = trawl_results_score(r, i);
	}
	trawl_results_free(r);
	return n;
}

/* Index w (1 shard, or 3) of 300 documents: 60 tagged x (one block of
 * postings in any shard), whose scores for "rare" are spread over their
 * doc ids by their numbers of "rare" and of filler words. */
static void kw_build(int w, const char *path)
{
	static const char schema[] = "{\"fields\":{\"body\":{\"type\":\"text\",\"analyzer\":"
	                             "\"plain\"},\"tag\":{\"type\":\"keyword\"}}}";
	trawl_build_opts o = {0};
	o.shards = w ? 3 : 1;
	o.schema_json = schema;
	char err[512] = "", doc[512];
	trawl_builder *b = NULL;
	if (trawl_builder_open(&b, path, &o, err, sizeof err))
		fail_msg("trawl_builder_open: %s", err);
	for (uint32_t d = 0; d < 300; d++) {
		int n = snprintf(doc, sizeof doc,
		                 "{\"id\":\"doc-%03u\",\"tag\":\"%s\",\"body\":\"common", d,
		                 d % 5 ? "y" : "x");
		for (uint32_t i = 0; i < (d * 7) % 11; i++)
			n += snprintf(doc + n, sizeof doc - (size_t)n, " rare");
		for (uint32_t i = 0; i < (d * 3) % 13; i++)
			n += snprintf(doc + n, sizeof doc - (size_t)n, " filler");
		n += snprintf(doc + n, sizeof doc - (size_t)n, "\"}");
		if (trawl_builder_add_json(b, doc, (size_t)n, "gen", d + 1))
			fail_msg("add_json: %s", trawl_builder_errmsg(b));
	}
	if (trawl_builder_commit(b, NULL))
		fail_msg("commit: %s", trawl_builder_errmsg(b));
	trawl_builder_close(b);
}

/*
 * A keyword value in at most 128 documents of a shard has one block of
 * postings and no stored bound; the search once read that as the end of
 * its postings as soon as it pruned (theta 0 or more: a full heap, or the
 * floor another shard left). A text query filtered by it then kept its
 * first k matches in doc order instead of its best, and a constant-score
 * filter over several shards kept only the first shard's hits. Now k = 3
 * is the top 3 of k = 1000 (with a count and without) on 1 and 3 shards,
 * and 3 shards answer as 1.
 */
static void test_keyword_one_block(void **state)
{
	(void)state;
	snprintf(g_root, sizeof g_root, "/tmp/trawl-kwblock-XXXXXX");
	assert_non_null(mkdtemp(g_root));
	trawl_index *ix[2];
	trawl_searcher *s[2];
	char err[512] = "", path[128];
	for (int w = 0; w < 2; w++) {
		snprintf(path, sizeof path, "%s/ix%d", g_root, w);
		kw_build(w, path);
		if (trawl_index_open(&ix[w], path, err, sizeof err))
			fail_msg("trawl_index_open: %s", err);
		assert_int_equal(trawl_searcher_open(&s[w], ix[w]), TRAWL_OK);
	}
	static const char *const queries[] = {"rare #tag:x", "+rare #tag:x", "(#tag:x)^=1"};
	static char want[1000][16];
	char got[3][16], one[3][16];
	float wscore[1000], gscore[3], oscore[3];
	for (uint32_t q = 0; q < 3; q++)
		for (int mode = TRAWL_COUNT_EXACT; mode <= TRAWL_COUNT_NONE; mode++)
			for (int w = 0; w < 2; w++) {
				uint32_t nw = kw_hits(s[w], queries[q], 1000, mode, want, wscore);
				assert_true(nw >= 50);
				assert_int_equal(kw_hits(s[w], queries[q], 3, mode, got, gscore),
				                 3);
				for (int i = 0; i < 3; i++) {
					if (strcmp(got[i], want[i]) || gscore[i] != wscore[i])
						fail_msg("[%s] on %d shard(s), count mode %d: hit "
						         "%d is %s "
						         "(%g), the top 1000's is %s (%g)",
						         queries[q], w ? 3 : 1, mode, i, got[i],
						         (double)gscore[i], want[i],
						         (double)wscore[i]);
					if (w && (strcmp(got[i], one[i]) || gscore[i] != oscore[i]))
						fail_msg("[%s] count mode %d: hit %d is %s on 3 "
						         "shards, %s "
						         "on 1",
						         queries[q], mode, i, got[i], one[i]);
				}
				memcpy(one, got, sizeof one);
				memcpy(oscore, gscore, sizeof oscore);
			}
	for (int w = 0; w < 2; w++) {
		trawl_searcher_close(s[w]);
		trawl_index_close(ix[w]);
	}
	rm_tree(g_root);
	g_root[0] = 0;
}

/* ---- idx_view_find: the interpolation search by id hash ---- */

typedef struct hid {
	uint64_t h;
	char id[24];
} hid;

static int cmp_hid(const void *a, const void *b)
{
	const hid *x = a, *y = b;
	if (x->h != y->h)
		return x->h < y->h ? -1 : 1;
	return strcmp(x->id, y->id);
}

/* The reference: a binary search for the first hash >= h, then the ids. */
static uint32_t find_ref(const hid *v, uint32_t n, const char *id)
{
	uint64_t h = th_hash64(id, strlen(id));
	uint32_t lo = 0, hi = n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (v[mid].h < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < n && v[lo].h == h; lo++)
		if (!strcmp(v[lo].id, id))
			return lo;
	return IDX_END;
}

/* An id table ("extids") of v[0..n) in a view, as the builder lays it out. */
static void view_of(const hid *v, uint32_t n, idx_sview *sv, uint8_t **off, uint8_t **data)
{
	uint32_t nb = (n + IDX_EXTID_BLOCK - 1) / IDX_EXTID_BLOCK;
	*off = malloc(4 * ((size_t)nb + 1));
	*data = malloc((size_t)n * 40 + 1);
	assert_non_null(*off);
	assert_non_null(*data);
	uint32_t at = 0;
	for (uint32_t b = 0; b < nb; b++) {
		memcpy(*off + 4 * (size_t)b, &at, 4);
		uint32_t first = b * IDX_EXTID_BLOCK, end = first + IDX_EXTID_BLOCK;
		if (end > n)
			end = n;
		for (uint32_t i = first; i < end; i++)
			at += (uint32_t)idx_varint_put(*data + at, strlen(v[i].id));
		for (uint32_t i = first; i < end; i++) {
			memcpy(*data + at, v[i].id, strlen(v[i].id));
			at += (uint32_t)strlen(v[i].id);
		}
	}
	memcpy(*off + 4 * (size_t)nb, &at, 4);
	memset(sv, 0, sizeof *sv);
	sv->ndocs = n;
	sv->extoff = *off;
	sv->extdata = *data;
	sv->extdata_len = at;
}

/* Every id of tables of many sizes, and ids that are not there, are found
 * where a binary search finds them: ids spread evenly (as XXH3 spreads
 * them), and ids crowded into a 256th of the hashes with a few far out (a
 * guess from the spread is wrong there: the search must bisect). */
static void test_view_find(void **state)
{
	(void)state;
	static const uint32_t sizes[] = {0, 1, 2, 3, 63, 64, 65, 200, 4097, 30000};
	hid *v = malloc(30000 * sizeof *v);
	assert_non_null(v);
	for (int crowd = 0; crowd < 2; crowd++)
		for (size_t z = 0; z < sizeof sizes / sizeof *sizes; z++) {
			uint32_t n = sizes[z], k = 0;
			for (uint64_t c = 0; k < n; c++) {
				snprintf(v[k].id, sizeof v[k].id, "d%llu-%d", (unsigned long long)c,
				         crowd);
				v[k].h = th_hash64(v[k].id, strlen(v[k].id));
				/* crowded: hashes in [2^55, 2^56), and every 500th anywhere */
				if (!crowd || v[k].h >> 56 == 0x80 || c % 500 == 0)
					k++;
			}
			qsort(v, n, sizeof *v, cmp_hid);
			idx_sview sv;
			uint8_t *off, *data;
			view_of(v, n, &sv, &off, &data);
			for (uint32_t i = 0; i < n; i++)
				assert_int_equal(idx_view_find(&sv, (const uint8_t *)v[i].id,
				                               (uint32_t)strlen(v[i].id)),
				                 find_ref(v, n, v[i].id));
			for (uint32_t i = 0; i < n; i++)
				assert_int_equal(find_ref(v, n, v[i].id), i);
			for (int i = 0; i < 3000; i++) {
				char id[24];
				snprintf(id, sizeof id, "x%d-%d", i, crowd);
				assert_int_equal(
				    idx_view_find(&sv, (const uint8_t *)id, (uint32_t)strlen(id)),
				    IDX_END);
			}
			free(off);
			free(data);
		}
	free(v);
}

static int teardown(void **state)
{
	(void)state;
	idx_search_exhaustive = 0;
	rm_tree(g_root); /* after a failure: the corpus's directory */
	g_root[0] = 0;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_prestate_setup_teardown(run_corpus, NULL, teardown, &cfgs[0]),
	    cmocka_unit_test_prestate_setup_teardown(run_corpus, NULL, teardown, &cfgs[1]),
	    cmocka_unit_test_prestate_setup_teardown(run_corpus, NULL, teardown, &cfgs[2]),
	    cmocka_unit_test_prestate_setup_teardown(run_corpus, NULL, teardown, &cfgs[3]),
	    cmocka_unit_test_prestate_setup_teardown(run_corpus, NULL, teardown, &cfgs[4]),
	    cmocka_unit_test_prestate_setup_teardown(run_corpus, NULL, teardown, &cfgs[5]),
	    cmocka_unit_test_prestate_setup_teardown(run_corpus, NULL, teardown, &cfgs[6]),
	    cmocka_unit_test_teardown(run_soak, teardown),
	    cmocka_unit_test(test_query_handle),
	    cmocka_unit_test_teardown(test_keyword_one_block, teardown),
	    cmocka_unit_test(test_view_find),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
