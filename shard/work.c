/*
 * work.c - a build worker: one work item in, one run out. The item's lines
 * are parsed (parse.c), every document is routed to its shard by
 * jump_consistent_hash(XXH3_64(id), S), its stored fields are compressed
 * with the build's zstd dictionary, and each shard's documents, in the
 * order of XXH3_64(id), are inverted into a sorted run (run.c writes the
 * bytes; docs/FORMAT.md, "Build runs").
 *
 * Inverting costs a hash-table probe per token; the table's slot and the
 * term's entry are prefetched a few tokens ahead (tokbatch below), which
 * made the inversion about a third faster on enwiki-passages.
 */
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/hash.h"
#include "index/analyze.h"
#include "index/codec.h"
#include "index/columns.h"
#include "index/docstore.h"
#include "sh.h"

#define RECORD_CHUNK (4u << 20) /* the arenas' chunks: records and keys are many */

/* ---- inversion ---- */

/* A term's postings are one list of numbers: per document its number, its
 * tf and its tf positions. One list rather than one of documents and one
 * of positions, because adding a token then touches one cache line at the
 * list's end instead of two far apart (the inverter waits on memory). */
typedef struct bterm {
	uint32_t *post;     /* doc, tf, positions; doc, tf, positions; ... */
	uint64_t kpre;      /* the key's first 8 bytes, zero-padded: most keys compare here */
	const uint8_t *key; /* field byte + term */
	uint32_t klen;
	uint32_t df;
	uint32_t last_doc;
	uint32_t len, cap; /* of post, in numbers */
	uint32_t tf_at;    /* where the last document's tf is */
} bterm;

/* A hash table slot: the high half of the key's hash and the term's index + 1
 * (0: empty), in one word so that a probe touches one cache line. */
typedef struct bslot {
	uint32_t hash;
	uint32_t term;
} bslot;

/* One inverter serves every section a worker makes: between sections it is
 * reset, not freed, and a term entry keeps its lists' memory for the next
 * term that takes its place (nalloc entries have lists), so that the
 * table, the entries and the lists stop growing after the first items. */
typedef struct inverter {
	bterm *terms;
	uint32_t nterms, capterms;
	uint32_t nalloc; /* entries whose post lists are allocated */
	bslot *table;
	uint32_t mask;
	arena keys;
	int failed; /* ENOMEM while inverting */
	uint32_t cur_doc;
	uint8_t cur_fid;
	uint32_t kept; /* tokens kept in the current field */
} inverter;

/* Empties v for a new section (first use: allocates its table). */
static int inv_reset(inverter *v)
{
	if (!v->table) {
		v->mask = (1u << 16) - 1;
		v->table = calloc((size_t)v->mask + 1, sizeof *v->table);
		if (!v->table)
			return TRAWL_ENOMEM;
	} else {
		memset(v->table, 0, ((size_t)v->mask + 1) * sizeof *v->table);
	}
	v->nterms = 0;
	v->failed = 0;
	arena_fini(&v->keys);
	v->keys.chunk = RECORD_CHUNK;
	v->keys.align = 8;
	return TRAWL_OK;
}

static void inv_fini(inverter *v)
{
	for (uint32_t i = 0; i < v->nalloc; i++) {
		free(v->terms[i].post);
	}
	free(v->terms);
	free(v->table);
	arena_fini(&v->keys);
	memset(v, 0, sizeof *v);
}

/* A key's hash, from its prefix word kp (key_prefix) and its text. Most
 * tokens are at most 7 bytes, so that kp is the whole key: those are
 * mixed from kp alone (murmur3's finaliser), the others hashed with XXH3,
 * which cost about 60 instructions a token when every key went through it. */
static inline uint64_t key_hash(uint64_t kp, const char *text, uint32_t len)
{
	if (len <= 7) {
		uint64_t h = kp ^ ((uint64_t)len << 59);
		h ^= h >> 33;
		h *= 0xff51afd7ed558ccdull;
		h ^= h >> 33;
		h *= 0xc4ceb9fe1a85ec53ull;
		return h ^ (h >> 33);
	}
	return th_hash64(text, len) ^ (kp & 0xff) * 0x9E3779B97F4A7C15ull;
}

static int inv_grow(inverter *v)
{
	uint32_t nmask = v->mask * 2 + 1;
	bslot *t = calloc((size_t)nmask + 1, sizeof *t);
	if (!t)
		return TRAWL_ENOMEM;
	for (uint32_t i = 0; i < v->nterms; i++) {
		const bterm *bt = &v->terms[i];
		uint64_t h = key_hash(bt->kpre, (const char *)bt->key + 1, bt->klen - 1);
		uint32_t j = (uint32_t)h & nmask;
		while (t[j].term)
			j = (j + 1) & nmask;
		t[j] = (bslot){(uint32_t)(h >> 32), i + 1};
	}
	free(v->table);
	v->table = t;
	v->mask = nmask;
	return TRAWL_OK;
}

/* The key's first 8 bytes (field byte, then up to 7 of text, zero-padded)
 * as a little-endian word. text must have 8 readable bytes (the token
 * batch keeps that much slack): one load and a mask, because copying the
 * bytes one by one and reading them back as a word stalled on store
 * forwarding (a tenth of the worker's own time). */
static inline uint64_t key_prefix(uint8_t fid, const char *text, uint32_t len)
{
	uint64_t rest;
	memcpy(&rest, text, 8);
	if (len < 7)
		rest &= ((uint64_t)1 << (8 * len)) - 1;
	return (uint64_t)fid | (rest << 8);
}

/* Whether the first w and the last w bytes of x and y (n >= w bytes each)
 * are equal: two overlapping loads cover any length from w to 2w. */
static inline int ends_equal(const char *x, const char *y, uint32_t n, size_t w)
{
	uint64_t a = 0, b = 0, c = 0, d = 0;
	memcpy(&a, x, w);
	memcpy(&b, y, w);
	memcpy(&c, x + n - w, w);
	memcpy(&d, y + n - w, w);
	return ((a ^ b) | (c ^ d)) == 0;
}

/* Whether n bytes at x and y are equal; short ones without a call (the
 * common case of a lookup). */
static inline int same_bytes(const char *x, const char *y, uint32_t n)
{
	if (n >= 8 && n <= 16)
		return ends_equal(x, y, n, 8);
	if (n >= 4 && n < 8)
		return ends_equal(x, y, n, 4);
	if (n < 4)
		return x[0] == y[0] && x[n / 2] == y[n / 2] && x[n - 1] == y[n - 1];
	return !memcmp(x, y, n);
}

/* Finds or adds (fid, text); returns the term or NULL on ENOMEM. text is
 * in a token batch (8 readable bytes at least, see key_prefix). */
static bterm *inv_term(inverter *v, uint8_t fid, const char *text, uint32_t len, uint64_t kp,
                       uint64_t h)
{
	uint32_t hh = (uint32_t)(h >> 32), j = (uint32_t)h & v->mask;
	for (;;) {
		bslot sl = v->table[j];
		if (!sl.term)
			break;
		if (sl.hash == hh) {
			bterm *bt = &v->terms[sl.term - 1];
			if (bt->klen == len + 1 && bt->kpre == kp &&
			    (len <= 7 || same_bytes((const char *)bt->key + 8, text + 7, len - 7)))
				return bt;
		}
		j = (j + 1) & v->mask;
	}
	if (v->nterms == v->capterms) {
		uint32_t nc = v->capterms ? v->capterms * 2 : 4096;
		bterm *p = realloc(v->terms, (size_t)nc * sizeof *p);
		if (!p)
			return NULL;
		v->terms = p;
		v->capterms = nc;
	}
	uint8_t *k = arena_alloc(&v->keys, len + 1);
	if (!k)
		return NULL;
	k[0] = fid;
	memcpy(k + 1, text, len);
	bterm *bt = &v->terms[v->nterms++];
	if (v->nterms > v->nalloc) {
		memset(bt, 0, sizeof *bt);
		v->nalloc = v->nterms;
	} else {
		/* an entry of an earlier section: keep its lists' memory */
		bt->df = bt->len = 0;
	}
	bt->key = k;
	bt->klen = len + 1;
	bt->kpre = kp;
	bt->last_doc = IDX_END;
	v->table[j] = (bslot){hh, v->nterms};
	if (v->nterms * 2 > v->mask && inv_grow(v))
		return NULL;
	return &v->terms[v->nterms - 1];
}

/* A token waiting in a batch (see invert_batch). */
typedef struct btok {
	uint32_t off, len, pos; /* the token's bytes at text + off; its position */
	uint64_t kpre, hash;    /* key_prefix and key_hash, made by invert_batch */
} btok;

/* Adds token k (its bytes at text, its key's prefix word and hash made by
 * invert_batch) to v's current document and field. */
static int on_token(inverter *v, const char *text, const btok *k)
{
	bterm *t = inv_term(v, v->cur_fid, text, k->len, k->kpre, k->hash);
	if (!t) {
		v->failed = 1;
		return TRAWL_ENOMEM;
	}
	v->kept++;
	int first = t->last_doc != v->cur_doc;
	if (t->len + 3 > t->cap) {
		uint32_t nc = t->cap ? t->cap * 2 : 8;
		uint32_t *p = realloc(t->post, (size_t)nc * sizeof *p);
		if (!p) {
			v->failed = 1;
			return TRAWL_ENOMEM;
		}
		t->post = p;
		t->cap = nc;
	}
	if (first) {
		t->post[t->len] = v->cur_doc;
		t->post[t->len + 1] = 0;
		t->tf_at = t->len + 1;
		t->len += 2;
		t->df++;
		t->last_doc = v->cur_doc;
	}
	t->post[t->tf_at]++;
	t->post[t->len++] = k->pos;
	return 0;
}

/* Adds keyword value text (len bytes) of the field with key byte fid to
 * v's current document: one posting with tf 1 at position 0, however often
 * the document repeats the value; kept (the field length) is not counted. */
static int on_keyword(inverter *v, uint8_t fid, const uint8_t *text, uint32_t len)
{
	char pad[LIMIT_KEYWORD_BYTES + 8] = {0};
	memcpy(pad, text, len);
	uint64_t kp = key_prefix(fid, pad, len), h = key_hash(kp, pad, len);
	bterm *t = inv_term(v, fid, pad, len, kp, h);
	if (!t) {
		v->failed = 1;
		return TRAWL_ENOMEM;
	}
	if (t->last_doc == v->cur_doc)
		return 0;
	if (t->len + 3 > t->cap) {
		uint32_t nc = t->cap ? t->cap * 2 : 8;
		uint32_t *p = realloc(t->post, (size_t)nc * sizeof *p);
		if (!p) {
			v->failed = 1;
			return TRAWL_ENOMEM;
		}
		t->post = p;
		t->cap = nc;
	}
	t->post[t->len] = v->cur_doc;
	t->post[t->len + 1] = 1;
	t->post[t->len + 2] = 0;
	t->tf_at = t->len + 1;
	t->len += 3;
	t->df++;
	t->last_doc = v->cur_doc;
	return 0;
}

/* ---- batched inversion ----
 * Looking a token up costs a cache miss on its hash slot and another on its
 * term entry. A field's tokens are collected first, then inverted with the
 * slot of the token 16 ahead, the entry of the token 8 ahead and the end of
 * its list 4 ahead prefetched. */

#define BATCH_AHEAD 16

typedef struct tokbatch {
	char *text; /* token bytes, end to end */
	size_t tlen, tcap;
	btok *tok;
	uint32_t n, cap;
	int failed;
} tokbatch;

static void batch_fini(tokbatch *t)
{
	free(t->text);
	free(t->tok);
	memset(t, 0, sizeof *t);
}

/* Copies the first and the last w bytes of src (n >= w) to dst. */
static inline void copy_ends(char *dst, const char *src, uint32_t n, size_t w)
{
	uint64_t a, b;
	memcpy(&a, src, w);
	memcpy(&b, src + n - w, w);
	memcpy(dst, &a, w);
	memcpy(dst + n - w, &b, w);
}

/* Copies a token of n bytes: most are a few bytes long, and a call to
 * memcpy per token was a tenth of the worker's time. Short ones move as two
 * overlapping words, which reads and writes only the token's own bytes. */
static inline void copy_token(char *dst, const char *src, uint32_t n)
{
	if (n >= 16)
		memcpy(dst, src, n);
	else if (n >= 8)
		copy_ends(dst, src, n, 8);
	else if (n >= 4)
		copy_ends(dst, src, n, 4);
	else if (n) {
		dst[0] = src[0];
		dst[n / 2] = src[n / 2];
		dst[n - 1] = src[n - 1];
	}
}

/* Makes room for one more token of len bytes (and 8 bytes of slack after
 * it, for key_prefix's load): 0, or 1 on ENOMEM. */
static int batch_grow(tokbatch *t, uint32_t len)
{
	if (t->n == t->cap) {
		uint32_t nc = t->cap ? t->cap * 2 : 1024;
		btok *k = realloc(t->tok, nc * sizeof *k);
		if (!k)
			return 1;
		t->tok = k;
		t->cap = nc;
	}
	if (t->tlen + len + 8 > t->tcap) {
		size_t nc = t->tcap ? t->tcap * 2 : 65536;
		while (nc < t->tlen + len + 8)
			nc *= 2;
		char *x = realloc(t->text, nc);
		if (!x)
			return 1;
		t->text = x;
		t->tcap = nc;
	}
	return 0;
}

static int collect(void *ctx, const idx_token *tok)
{
	tokbatch *t = ctx;
	if ((t->n == t->cap || t->tlen + tok->len + 8 > t->tcap) && batch_grow(t, tok->len)) {
		t->failed = 1;
		return 1;
	}
	copy_token(t->text + t->tlen, tok->text, tok->len);
	t->tok[t->n++] = (btok){(uint32_t)t->tlen, tok->len, tok->pos, 0, 0};
	t->tlen += tok->len;
	return 0;
}

/* Inverts a field's collected tokens into v (cur_doc and cur_fid set). */
static int invert_batch(inverter *v, tokbatch *t)
{
	uint8_t fid = v->cur_fid;
	for (uint32_t i = 0; i < t->n; i++) {
		btok *k = &t->tok[i];
		k->kpre = key_prefix(fid, t->text + k->off, k->len);
		k->hash = key_hash(k->kpre, t->text + k->off, k->len);
	}
	for (uint32_t i = 0; i < t->n; i++) {
		if (i + BATCH_AHEAD < t->n)
			__builtin_prefetch(
			    &v->table[(uint32_t)t->tok[i + BATCH_AHEAD].hash & v->mask]);
		if (i + BATCH_AHEAD / 2 < t->n) {
			bslot sl = v->table[(uint32_t)t->tok[i + BATCH_AHEAD / 2].hash & v->mask];
			if (sl.term)
				__builtin_prefetch(&v->terms[sl.term - 1]);
		}
		if (i + BATCH_AHEAD / 4 < t->n) {
			bslot sl = v->table[(uint32_t)t->tok[i + BATCH_AHEAD / 4].hash & v->mask];
			if (sl.term) {
				const bterm *bt = &v->terms[sl.term - 1];
				if (bt->post)
					__builtin_prefetch(&bt->post[bt->len], 1);
			}
		}
		if (on_token(v, t->text + t->tok[i].off, &t->tok[i]))
			return TRAWL_ENOMEM;
	}
	return TRAWL_OK;
}

/* ---- the item's documents ---- */

/* A document record of the item, in the arena: id, then the stored record
 * (compressed), then per text field a u32 length and the text. */
typedef struct wdoc {
	uint64_t hash;
	const uint8_t *rec;
	uint32_t seq; /* place in the item */
	uint32_t id_len;
	uint32_t rec_len; /* the stored record's bytes */
	uint32_t texts_len;
	uint32_t typed_len; /* the typed values' bytes, after the texts */
	uint32_t shard;
	uint8_t tomb;
} wdoc;

struct sh_worker {
	sh_parser parser;
	idx_analyzer *an[2];
	tokbatch batch;
	inverter inv;
	arena recs;
	wdoc *docs;
	uint32_t ndocs;
	size_t capdocs;
	wdoc **order;   /* one shard's documents, sorted */
	uint32_t *lens; /* tokens kept per doc and field, for one shard */
	size_t lens_cap;
	idx_zenc *z;
	uint64_t z_params; /* params hash z was made for */
	tbuf rec;          /* one compressed record */
	tbuf rejects;      /* messages of bad lines, NUL-separated */
	const sh_params *p;
	uint64_t item;
};

int sh_worker_new(sh_worker **out)
{
	sh_worker *w = calloc(1, sizeof *w);
	if (!w)
		return TRAWL_ENOMEM;
	w->recs.chunk = RECORD_CHUNK;
	w->recs.align = 8;
	tbuf_init(&w->rec, (size_t)LIMIT_STORED_DOC_BYTES * 2);
	tbuf_init(&w->rejects, (size_t)1 << 30);
	if (idx_analyzer_alloc(&w->an[0], IDX_AN_PLAIN) ||
	    idx_analyzer_alloc(&w->an[1], IDX_AN_ENGLISH)) {
		sh_worker_free(w);
		return TRAWL_ENOMEM;
	}
	*out = w;
	return TRAWL_OK;
}

void sh_worker_free(sh_worker *w)
{
	if (!w)
		return;
	if (w->p)
		sh_parser_fini(&w->parser);
	idx_analyzer_free(w->an[0]);
	idx_analyzer_free(w->an[1]);
	batch_fini(&w->batch);
	inv_fini(&w->inv);
	arena_fini(&w->recs);
	free(w->docs);
	free(w->order);
	free(w->lens);
	idx_zenc_free(w->z);
	tbuf_fini(&w->rec);
	tbuf_fini(&w->rejects);
	free(w);
}

static int on_doc(void *ctx, const sh_doc *d)
{
	sh_worker *w = ctx;
	if (tgrow(&w->docs, &w->capdocs, (size_t)w->ndocs + 1, sizeof *w->docs))
		return TRAWL_ENOMEM;
	tbuf_reset(&w->rec);
	if (!d->tomb && !w->p->schema.store_none &&
	    idx_zenc_record(w->z, d->stored, d->stored_len, &w->rec))
		return TRAWL_ENOMEM;
	uint8_t *r =
	    arena_alloc(&w->recs, d->id_len + w->rec.len + d->texts_len + d->typed_len + 1);
	if (!r)
		return TRAWL_ENOMEM;
	memcpy(r, d->id, d->id_len);
	if (w->rec.len)
		memcpy(r + d->id_len, w->rec.data, w->rec.len);
	if (d->texts_len)
		memcpy(r + d->id_len + w->rec.len, d->texts, d->texts_len);
	if (d->typed_len)
		memcpy(r + d->id_len + w->rec.len + d->texts_len, d->typed, d->typed_len);
	wdoc *wd = &w->docs[w->ndocs];
	wd->hash = th_hash64(d->id, d->id_len);
	wd->rec = r;
	wd->seq = w->ndocs;
	wd->id_len = (uint32_t)d->id_len;
	wd->rec_len = (uint32_t)w->rec.len;
	wd->texts_len = (uint32_t)d->texts_len;
	wd->typed_len = (uint32_t)d->typed_len;
	wd->shard = th_jump_hash(wd->hash, w->p->nshards);
	wd->tomb = (uint8_t)d->tomb;
	w->ndocs++;
	return TRAWL_OK;
}

static void on_reject(void *ctx, const char *msg)
{
	sh_worker *w = ctx;
	/* past 1 GiB of messages the rest are dropped; the count still holds */
	(void)tbuf_append(&w->rejects, msg, strlen(msg) + 1);
}

static int cmp_wdoc(const void *a, const void *b)
{
	const wdoc *x = *(const wdoc *const *)a, *y = *(const wdoc *const *)b;
	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	uint32_t n = x->id_len < y->id_len ? x->id_len : y->id_len;
	int c = memcmp(x->rec, y->rec, n);
	if (c)
		return c;
	if (x->id_len != y->id_len)
		return x->id_len < y->id_len ? -1 : 1;
	return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

/* A term to sort: its key's first 8 bytes as a big-endian number (keys
 * hold no NUL byte, so zero padding sorts a shorter key first), which
 * decides almost every comparison without touching the key. */
typedef struct tsort {
	uint64_t pre;
	bterm *t;
} tsort;

static int cmp_term(const void *a, const void *b)
{
	const tsort *x = a, *y = b;
	if (x->pre != y->pre)
		return x->pre < y->pre ? -1 : 1;
	uint32_t xl = x->t->klen, yl = y->t->klen;
	if (xl > 8 && yl > 8) {
		int c = memcmp(x->t->key + 8, y->t->key + 8, (xl < yl ? xl : yl) - 8);
		if (c)
			return c;
	}
	return (xl > yl) - (xl < yl);
}

/*
 * Sorts terms by key: a least-significant-byte radix sort on the 8-byte
 * prefix (passes over bytes that are the same in every key are skipped),
 * then the few runs of equal prefixes among keys longer than 8 bytes by
 * comparison. Faster than qsort's comparisons at ~200,000 keys an item.
 */
static int sort_terms(tsort *a, uint32_t n)
{
	tsort *tmp = malloc((size_t)n * sizeof *tmp);
	if (!tmp)
		return TRAWL_ENOMEM;
	tsort *src = a, *dst = tmp;
	for (unsigned shift = 0; shift < 64; shift += 8) {
		uint32_t count[257] = {0};
		for (uint32_t i = 0; i < n; i++)
			count[((src[i].pre >> shift) & 0xff) + 1]++;
		int one = 0;
		for (int b = 1; b <= 256; b++)
			one |= count[b] == n;
		if (one)
			continue; /* every key has the same byte here */
		for (int b = 1; b <= 256; b++)
			count[b] += count[b - 1];
		for (uint32_t i = 0; i < n; i++)
			dst[count[(src[i].pre >> shift) & 0xff]++] = src[i];
		tsort *t = src;
		src = dst;
		dst = t;
	}
	if (src != a)
		memcpy(a, src, (size_t)n * sizeof *a);
	free(tmp);
	for (uint32_t i = 0; i < n;) {
		uint32_t j = i + 1;
		while (j < n && a[j].pre == a[i].pre)
			j++;
		if (j - i > 1)
			qsort(a + i, j - i, sizeof *a, cmp_term);
		i = j;
	}
	return TRAWL_OK;
}

/* idx_varint_put with the one-byte case inline: a run holds tens of
 * millions of small numbers (doc deltas, tfs, position deltas). */
static inline size_t putv(uint8_t *q, uint64_t v)
{
	if (v < 0x80) {
		*q = (uint8_t)v;
		return 1;
	}
	return idx_varint_put(q, v);
}

static int put_varint(tbuf *b, uint64_t v)
{
	if (b->cap - b->len < 10 && tbuf_reserve(b, 10))
		return TRAWL_ENOMEM;
	b->len += putv(b->data + b->len, v);
	return TRAWL_OK;
}

/* Adds the values of wd's indexed keyword fields (its typed values at tv)
 * to the current document's postings. */
static int invert_keywords(sh_worker *w, const wdoc *wd, const uint8_t *tv)
{
	const idx_schema *s = &w->p->schema;
	idx_tvals v;
	if (idx_tvals_split(s, tv, wd->typed_len, &v))
		return TRAWL_ECORRUPT; /* cannot happen: the parser wrote them */
	for (uint32_t t = 0; t < s->ntyped; t++) {
		if (s->typed[t].type != IDX_KEYWORD || !s->typed[t].index)
			continue;
		const uint8_t *p = v.at[t];
		for (uint32_t i = 0; i < v.count[t]; i++) {
			uint32_t l;
			memcpy(&l, p, 4);
			if (on_keyword(&w->inv, IDX_KEYWORD_FID(t), p + 4, l))
				return TRAWL_ENOMEM;
			p += 4 + l;
		}
	}
	return TRAWL_OK;
}

/* Inverts one shard's documents (order[0..n)) and appends its section. */
static int write_section(sh_worker *w, wdoc **order, uint32_t n, tbuf *out, size_t entry_at)
{
	const sh_params *p = w->p;
	uint32_t nf = p->schema.nfields;
	int rc = inv_reset(&w->inv);
	if (rc)
		return rc;
	if ((size_t)n * nf > w->lens_cap) {
		free(w->lens);
		w->lens_cap = (size_t)n * nf + 1024;
		if (!(w->lens = malloc(w->lens_cap * sizeof *w->lens)))
			return TRAWL_ENOMEM;
	}
	for (uint32_t d = 0; d < n; d++) {
		const wdoc *wd = order[d];
		w->inv.cur_doc = d;
		const uint8_t *t = wd->rec + wd->id_len + wd->rec_len;
		for (uint32_t f = 0; f < nf; f++) {
			uint32_t len = 0;
			if (!wd->tomb) {
				memcpy(&len, t, 4);
				t += 4;
			}
			w->inv.cur_fid = (uint8_t)f;
			w->inv.kept = 0;
			if (len) {
				w->batch.n = 0;
				w->batch.tlen = 0;
				rc = idx_analyze(w->an[p->schema.fields[f].analyzer],
				                 (const char *)t, len, 0, NULL, collect, &w->batch);
				if (rc || w->batch.failed || invert_batch(&w->inv, &w->batch) ||
				    w->inv.failed)
					return TRAWL_ENOMEM;
			}
			t += len;
			w->lens[(size_t)d * nf + f] = w->inv.kept;
		}
		if (wd->typed_len && (rc = invert_keywords(w, wd, t)))
			return rc;
	}
	uint64_t docs_off = out->len;
	for (uint32_t d = 0; d < n; d++) {
		const wdoc *wd = order[d];
		if ((rc = tbuf_append(out, &wd->hash, 8)) || (rc = put_varint(out, wd->seq)) ||
		    (rc = tbuf_putc(out, wd->tomb)) || (rc = put_varint(out, wd->id_len)) ||
		    (rc = tbuf_append(out, wd->rec, wd->id_len)))
			return rc;
		for (uint32_t f = 0; f < nf && !rc; f++)
			rc = put_varint(out, w->lens[(size_t)d * nf + f]);
		if (rc || (rc = put_varint(out, wd->rec_len)) ||
		    (rc = tbuf_append(out, wd->rec + wd->id_len, wd->rec_len)) ||
		    (rc = put_varint(out, wd->typed_len)) ||
		    (rc = tbuf_append(out, wd->rec + wd->id_len + wd->rec_len + wd->texts_len,
		                      wd->typed_len)))
			return rc;
	}
	uint64_t terms_off = out->len;
	tsort *sorted = NULL;
	if (w->inv.nterms) {
		if (!(sorted = malloc((size_t)w->inv.nterms * sizeof *sorted)))
			return TRAWL_ENOMEM;
		for (uint32_t i = 0; i < w->inv.nterms; i++)
			sorted[i] =
			    (tsort){__builtin_bswap64(w->inv.terms[i].kpre), &w->inv.terms[i]};
		if ((rc = sort_terms(sorted, w->inv.nterms))) {
			free(sorted);
			return rc;
		}
	}
	for (uint32_t i = 0; i < w->inv.nterms && !rc; i++) {
		const bterm *t = sorted[i].t;
		/* terms in key order are scattered in memory: fetch ahead */
		if (i + 4 < w->inv.nterms)
			__builtin_prefetch(sorted[i + 4].t);
		if (i + 2 < w->inv.nterms) {
			__builtin_prefetch(sorted[i + 2].t->post);
		}
		/* the postings' length comes first (so that a merger can skip
		 * terms), so they go to scratch first: 5 bytes per number at most */
		size_t worst = (size_t)t->len * 5;
		tbuf_reset(&w->rec);
		if ((rc = tbuf_reserve(&w->rec, worst)) ||
		    (rc = tbuf_reserve(out, 30 + t->klen + worst)))
			break;
		uint8_t *q = w->rec.data;
		uint32_t prev = 0;
		for (uint32_t j = 0; j < t->len;) {
			uint32_t doc = t->post[j], tf = t->post[j + 1];
			q += putv(q, doc - prev);
			prev = doc;
			q += putv(q, tf);
			uint32_t pp = 0;
			for (j += 2; tf--; j++) {
				q += putv(q, t->post[j] - pp);
				pp = t->post[j];
			}
		}
		size_t plen = (size_t)(q - w->rec.data);
		q = out->data + out->len;
		q += idx_varint_put(q, t->klen);
		memcpy(q, t->key, t->klen);
		q += t->klen;
		q += idx_varint_put(q, t->df);
		q += idx_varint_put(q, plen);
		memcpy(q, w->rec.data, plen);
		out->len = (size_t)(q + plen - out->data);
	}
	uint32_t nterms = w->inv.nterms;
	free(sorted);
	if (rc)
		return rc;
	uint64_t end = out->len;
	uint8_t *entry = out->data + entry_at; /* out may have moved */
	memcpy(entry, &n, 4);
	memcpy(entry + 4, &nterms, 4);
	memcpy(entry + 8, &docs_off, 8);
	memcpy(entry + 16, &terms_off, 8);
	memcpy(entry + 24, &end, 8);
	return TRAWL_OK;
}

int sh_work(sh_worker *w, const sh_params *p, const sh_item *it, tbuf *out, char *err,
            size_t errlen)
{
	if (w->p != p || (w->p && w->z_params != p->hash)) {
		if (w->p)
			sh_parser_fini(&w->parser);
		sh_parser_init(&w->parser, &p->schema, p->max_doc);
		idx_zenc_free(w->z);
		w->z = NULL;
		if (idx_zenc_alloc(&w->z, p->zdict, p->zdict_len, SH_ZSTD_LEVEL))
			return errf(err, errlen, TRAWL_ENOMEM, "out of memory");
		w->p = p;
		w->z_params = p->hash;
	}
	w->ndocs = 0;
	arena_fini(&w->recs);
	tbuf_reset(&w->rejects);
	tbuf_reset(out);
	w->item = it->id;
	sh_linecount count;
	int rc = sh_parse_item(&w->parser, it, p->skip_bad, on_doc, on_reject, w, &count);
	if (rc)
		return errf(err, errlen, rc, "%s", w->parser.errmsg);
	uint32_t ns = p->nshards;
	size_t table = (size_t)ns * 32;
	if ((rc = tbuf_reserve(out, SH_RUN_HEAD + table + w->rejects.len)))
		return errf(err, errlen, rc, "%s: item %llu: run too large", it->source,
		            (unsigned long long)it->id);
	memset(out->data, 0, SH_RUN_HEAD + table);
	out->len = SH_RUN_HEAD + table;
	tbuf_append(out, w->rejects.data, w->rejects.len);
	/* the documents of each shard, in (hash, id, place) order */
	if (w->ndocs) {
		wdoc **o = realloc(w->order, (size_t)w->ndocs * sizeof *o);
		if (!o)
			return errf(err, errlen, TRAWL_ENOMEM, "out of memory");
		w->order = o;
	}
	uint32_t *count_of = calloc(ns + 1, sizeof *count_of);
	if (!count_of)
		return errf(err, errlen, TRAWL_ENOMEM, "out of memory");
	for (uint32_t d = 0; d < w->ndocs; d++)
		count_of[w->docs[d].shard + 1]++;
	for (uint32_t s = 0; s < ns; s++)
		count_of[s + 1] += count_of[s];
	for (uint32_t d = 0; d < w->ndocs; d++)
		w->order[count_of[w->docs[d].shard]++] = &w->docs[d];
	/* count_of[s] is now the end of shard s, the start of shard s + 1 */
	for (uint32_t s = 0; s < ns && !rc; s++) {
		uint32_t from = s ? count_of[s - 1] : 0, n = count_of[s] - from;
		/* no documents: w->order may be NULL, and NULL + 0 is undefined */
		void *part = n ? (void *)(w->order + from) : NULL;
		if (n > 1)
			qsort(part, n, sizeof *w->order, cmp_wdoc);
		rc = write_section(w, part, n, out, SH_RUN_HEAD + (size_t)s * 32);
	}
	free(count_of);
	if (rc)
		return errf(err, errlen, rc, "%s: item %llu (from line %llu): %s", it->source,
		            (unsigned long long)it->id, (unsigned long long)it->first_line,
		            rc == TRAWL_ELIMIT ? "run larger than its limit" : "out of memory");
	/* the header, then the checksum of it all */
	uint8_t *h = out->data;
	uint32_t ver = SH_RUN_VERSION, nf = p->schema.nfields, rlen = (uint32_t)w->rejects.len;
	uint64_t ndocs = w->ndocs;
	memcpy(h, SH_RUN_MAGIC, 8);
	memcpy(h + 8, &ver, 4);
	memcpy(h + 12, &ns, 4);
	memcpy(h + 16, &it->id, 8);
	memcpy(h + 24, &it->hash, 8);
	memcpy(h + 32, &p->hash, 8);
	memcpy(h + 40, &count.lines, 8);
	memcpy(h + 48, &count.bytes, 8);
	memcpy(h + 56, &count.rejected, 8);
	memcpy(h + 64, &ndocs, 8);
	memcpy(h + 72, &nf, 4);
	memcpy(h + 76, &rlen, 4);
	uint64_t sum = th_hash64(out->data, out->len);
	if ((rc = tbuf_append(out, &sum, 8)))
		return errf(err, errlen, rc, "out of memory");
	return TRAWL_OK;
}
