/*
 * audit.c - the builder's check of a run that a `trawl build-worker` sent
 * back (remote.c): is it exactly the run of the work item it names, made
 * under this build's parameters? A worker is another process, perhaps on
 * another machine, perhaps not ours; the builder publishes its run only if,
 * from its own copy of the item, it finds nothing in the run that it would
 * not have written itself (issue #13, finding 3: a proxy that changed a
 * title in a run got the altered text published).
 *
 * Against the builder's own parse of the item (parse.c, as a worker runs it):
 *   - the header's counts (lines, bytes, rejected lines, documents) and every
 *     rejected line's message, byte for byte;
 *   - one document record per document of the item, in the section of its
 *     shard, in (hash, id, place) order, with its hash, place, delete flag
 *     and id; its stored record must be one zstd frame that decompresses to
 *     exactly the item's document (docstore.c: idx_zdec_matches); its kept
 *     tokens per field must be what the builder's analysis of the field
 *     gives;
 *   - the term records: keys strictly ascending, each of a field the schema
 *     has, with its document frequency and postings in canonical order
 *     (documents and positions strictly ascending, documents in the
 *     section). Each document's set of (key, position) pairs, which the run
 *     spreads over its term records, must equal the set the builder's
 *     analysis gives: the same count, and the same fingerprint (below),
 *     which a worker without the builder's random keys matches for a
 *     different set with probability at most 2^-60.
 *
 * So a run made from other documents, from altered text, or with terms
 * added, dropped or moved is refused, and nothing in an accepted run but
 * the zstd encoding of its stored documents can differ from what the
 * builder would have made (the documents themselves cannot). The work is a
 * parse, an analysis and a decompression of the item and one pass over the
 * run: no inversion, no sort, no compression (docs/OPERATIONS.md has the
 * cost).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/hash.h"
#include "index/analyze.h"
#include "index/columns.h"
#include "index/docstore.h"
#include "sh.h"

/* ---- SipHash-2-4 (Aumasson and Bernstein), 64-bit output ---- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
	do {                                                                                       \
		v0 += v1;                                                                          \
		v1 = ROTL(v1, 13);                                                                 \
		v1 ^= v0;                                                                          \
		v0 = ROTL(v0, 32);                                                                 \
		v2 += v3;                                                                          \
		v3 = ROTL(v3, 16);                                                                 \
		v3 ^= v2;                                                                          \
		v0 += v3;                                                                          \
		v3 = ROTL(v3, 21);                                                                 \
		v3 ^= v0;                                                                          \
		v2 += v1;                                                                          \
		v1 = ROTL(v1, 17);                                                                 \
		v1 ^= v2;                                                                          \
		v2 = ROTL(v2, 32);                                                                 \
	} while (0)

static uint64_t siphash(const uint64_t k[2], const uint8_t *in, size_t n)
{
	uint64_t v0 = 0x736f6d6570736575ull ^ k[0], v1 = 0x646f72616e646f6dull ^ k[1];
	uint64_t v2 = 0x6c7967656e657261ull ^ k[0], v3 = 0x7465646279746573ull ^ k[1];
	const uint8_t *end = in + (n & ~(size_t)7);
	for (; in != end; in += 8) {
		uint64_t m;
		memcpy(&m, in, 8);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	uint64_t b = (uint64_t)n << 56;
	for (size_t i = 0; i < (n & 7); i++)
		b |= (uint64_t)in[i] << (8 * i);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- the fingerprint of a document's terms ----
 *
 * A document's (key, position) pairs are summed as F(key) * G(position)
 * modulo the prime Q = 2^61 - 1, where F and G are SipHash-2-4 of the key
 * and of the position under two random keys of this process. Two different
 * sets of pairs give sums whose difference is a nonzero polynomial of
 * degree 2 in the values of F and G, so they agree with probability at most
 * 2/Q (Schwartz-Zippel) for a worker that chose them without the keys. The
 * product form lets the run's side take F once per term record and sum G
 * over a posting's positions, one table load each, instead of a hash per
 * pair. */

#define Q ((1ull << 61) - 1)
#define GTABLE 65536 /* G of the positions below this, computed once */

static uint64_t modq(uint64_t x)
{
	x = (x & Q) + (x >> 61);
	return x >= Q ? x - Q : x;
}

static uint64_t mulq(uint64_t a, uint64_t b)
{
	unsigned __int128 m = (unsigned __int128)a * b;
	uint64_t lo = (uint64_t)m & Q, hi = (uint64_t)(m >> 61);
	return modq(lo + hi);
}

/* A position's G: each fits in 61 bits, so 2^67 of them sum in 128 bits. */
static uint64_t g_of(const uint64_t *gtab, const uint64_t k[2], uint32_t pos)
{
	if (pos < GTABLE)
		return gtab[pos];
	return modq(siphash(k, (const uint8_t *)&pos, 4));
}

/* F of the keys met lately, for the analysis side (most tokens are
 * frequent words): keys of at most 16 bytes, direct-mapped by their bytes.
 * A hit costs a few loads and compares instead of a SipHash. */
#define FCACHE 4096

typedef struct fslot {
	uint64_t w0, w1; /* the key's bytes, zero-padded */
	uint64_t f;
	uint32_t len; /* 0: empty */
} fslot;

/* ---- the auditor ---- */

/* One document of the run, by its index g in the run (section by section). */
typedef struct adoc {
	const uint8_t *rec;     /* its record in the run */
	const uint8_t *rec_end; /* the end of its section's document records */
	uint64_t want, got;     /* fingerprints: from the item, from the run */
	uint32_t want_n, got_n; /* and the pairs' counts */
	uint32_t section;
} adoc;

struct sh_auditor {
	uint64_t fkey[2], gkey[2]; /* SipHash keys of F and G: random, never sent */
	uint64_t *gtab;            /* G of 0..GTABLE-1 */
	fslot *fcache;             /* FCACHE entries */
	sh_parser parser;
	const sh_params *p; /* what parser and z were made for */
	uint64_t p_hash;
	idx_analyzer *an[2];
	idx_zdec *z;
	tbuf rec;   /* a stored document, decompressed */
	adoc *docs; /* by index in the run */
	size_t capdocs;
	uint32_t *byplace; /* place in the item -> index + 1 (0: none yet) */
	size_t capplace;
	/* the audit under way */
	const sh_run *run;
	uint64_t place;                     /* documents of the item met so far */
	size_t rej_at, rej_kept;            /* rejected-line messages matched, and kept */
	uint8_t key[LIMIT_KEY_BYTES];       /* the field byte, then a token or a keyword */
	idx_kwslice kw[LIMIT_FIELD_VALUES]; /* one keyword field's values of a document */
	uint64_t acc;
	uint32_t nacc;
	int nomem;
	char why[512]; /* the first difference ("" while none) */
};

int sh_auditor_new(sh_auditor **out)
{
	sh_auditor *a = calloc(1, sizeof *a);
	if (!a)
		return TRAWL_ENOMEM;
	if (getrandom(a->fkey, sizeof a->fkey, 0) != (ssize_t)sizeof a->fkey ||
	    getrandom(a->gkey, sizeof a->gkey, 0) != (ssize_t)sizeof a->gkey) {
		free(a);
		return TRAWL_EIO;
	}
	if (!(a->gtab = malloc(GTABLE * sizeof *a->gtab)) ||
	    !(a->fcache = calloc(FCACHE, sizeof *a->fcache))) {
		free(a->gtab);
		free(a);
		return TRAWL_ENOMEM;
	}
	for (uint32_t p = 0; p < GTABLE; p++)
		a->gtab[p] = modq(siphash(a->gkey, (const uint8_t *)&p, 4));
	tbuf_init(&a->rec, (size_t)LIMIT_STORED_DOC_BYTES * 2);
	if (idx_analyzer_alloc(&a->an[0], IDX_AN_PLAIN) ||
	    idx_analyzer_alloc(&a->an[1], IDX_AN_ENGLISH)) {
		sh_auditor_free(a);
		return TRAWL_ENOMEM;
	}
	*out = a;
	return TRAWL_OK;
}

void sh_auditor_free(sh_auditor *a)
{
	if (!a)
		return;
	if (a->p)
		sh_parser_fini(&a->parser);
	idx_analyzer_free(a->an[0]);
	idx_analyzer_free(a->an[1]);
	idx_zdec_free(a->z);
	tbuf_fini(&a->rec);
	free(a->docs);
	free(a->byplace);
	free(a->gtab);
	free(a->fcache);
	free(a);
}

static int differ(sh_auditor *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records the first difference; returns TRAWL_ECORRUPT. */
static int differ(sh_auditor *a, const char *fmt, ...)
{
	if (!a->why[0]) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(a->why, sizeof a->why, fmt, ap);
		va_end(ap);
	}
	return TRAWL_ECORRUPT;
}

/* An id for a message: printable ASCII, at most 64 bytes. */
static const char *show_id(const uint8_t *id, size_t n, char out[80])
{
	size_t o = 0;
	for (size_t i = 0; i < n && o < 64; i++)
		out[o++] = id[i] >= 0x20 && id[i] < 0x7f && id[i] != '"' ? (char)id[i] : '?';
	if (n > 64)
		out[o++] = '.', out[o++] = '.', out[o++] = '.';
	out[o] = 0;
	return out;
}

/* (Re)makes the parser and the compressor for p. */
static int prepare(sh_auditor *a, const sh_params *p)
{
	if (a->p == p && a->p_hash == p->hash)
		return TRAWL_OK;
	if (a->p)
		sh_parser_fini(&a->parser);
	sh_parser_init(&a->parser, &p->schema, p->max_doc);
	a->p = p;
	a->p_hash = p->hash;
	idx_zdec_free(a->z);
	a->z = NULL;
	return idx_zdec_alloc(&a->z, p->zdict, p->zdict_len);
}

/* Whether record x sorts before record y in a section: (hash, id, place). */
static int doc_before(const sh_rdoc *x, const sh_rdoc *y)
{
	if (x->hash != y->hash)
		return x->hash < y->hash;
	uint32_t n = x->id_len < y->id_len ? x->id_len : y->id_len;
	int c = memcmp(x->id, y->id, n);
	if (c)
		return c < 0;
	if (x->id_len != y->id_len)
		return x->id_len < y->id_len;
	return x->seq < y->seq;
}

/* Pass 1: every document record, in order, one per place in the item. */
static int read_docs(sh_auditor *a, const sh_run *r, uint32_t nf)
{
	uint64_t total = 0;
	for (uint32_t s = 0; s < r->nshards; s++) {
		sh_section sec;
		sh_run_section(r, s, &sec);
		total += sec.ndocs;
	}
	if (total != r->docs)
		return differ(a, "its sections hold %llu documents, its header says %llu",
		              (unsigned long long)total, (unsigned long long)r->docs);
	if (tgrow(&a->docs, &a->capdocs, total + 1, sizeof *a->docs) ||
	    tgrow(&a->byplace, &a->capplace, total + 1, sizeof *a->byplace)) {
		a->nomem = 1;
		return TRAWL_ENOMEM;
	}
	memset(a->byplace, 0, (total + 1) * sizeof *a->byplace);
	uint64_t g = 0;
	for (uint32_t s = 0; s < r->nshards; s++) {
		sh_section sec;
		sh_run_section(r, s, &sec);
		const uint8_t *p = sec.docs;
		sh_rdoc prev = {0}, d;
		for (uint32_t l = 0; l < sec.ndocs; l++, g++) {
			const uint8_t *at = p;
			if (sh_rdoc_next(&p, sec.docs_end, nf, &d))
				return differ(a, "shard %u: document record %u is damaged", s, l);
			if (d.seq >= total || a->byplace[d.seq])
				return differ(a, "shard %u: document record %u claims place %llu",
				              s, l, (unsigned long long)d.seq);
			if (l && !doc_before(&prev, &d))
				return differ(a, "shard %u: document record %u is out of order", s,
				              l);
			a->byplace[d.seq] = (uint32_t)g + 1;
			a->docs[g] = (adoc){at, sec.docs_end, 0, 0, 0, 0, s};
			prev = d;
		}
		if (p != sec.docs_end)
			return differ(a, "shard %u: bytes after its document records", s);
	}
	return TRAWL_OK;
}

/* F of the n bytes at a->key (the field byte and a token). */
static uint64_t f_of_key(sh_auditor *a, size_t n)
{
	if (n > 16)
		return modq(siphash(a->fkey, a->key, n));
	uint8_t pad[16] = {0};
	uint64_t w0, w1;
	memcpy(pad, a->key, n);
	memcpy(&w0, pad, 8);
	memcpy(&w1, pad + 8, 8);
	uint64_t h = (w0 * 0x9E3779B97F4A7C15ull) ^ (w1 * 0xC2B2AE3D27D4EB4Full) ^ n;
	fslot *sl = &a->fcache[(h ^ (h >> 29)) & (FCACHE - 1)];
	if (sl->len == n && sl->w0 == w0 && sl->w1 == w1)
		return sl->f;
	*sl = (fslot){w0, w1, modq(siphash(a->fkey, a->key, n)), (uint32_t)n};
	return sl->f;
}

static int add_token(void *ctx, const idx_token *tok)
{
	sh_auditor *a = ctx;
	memcpy(a->key + 1, tok->text, tok->len);
	uint64_t f = f_of_key(a, 1 + (size_t)tok->len);
	a->acc = modq(a->acc + mulq(f, g_of(a->gtab, a->gkey, tok->pos)));
	a->nacc++;
	return 0;
}

/* Pass 2, per document of the item (the parser's callback): its record in
 * the run must be what this document gives. A difference stops the parse
 * (TRAWL_ENOMEM, the one code sh_parse_item never takes for a bad line,
 * with a->why set). */
static int on_doc(void *ctx, const sh_doc *doc)
{
	sh_auditor *a = ctx;
	const sh_params *p = a->p;
	const sh_run *r = a->run;
	uint32_t nf = p->schema.nfields;
	uint64_t place = a->place++;
	char idbuf[80];
	const char *ids = show_id(doc->id, doc->id_len, idbuf);
	if (place >= r->docs) {
		differ(a, "document \"%s\" (place %llu) is missing", ids,
		       (unsigned long long)place);
		return TRAWL_ENOMEM;
	}
	uint32_t g1 = a->byplace[place];
	adoc *ad = &a->docs[g1 - 1];
	const uint8_t *at = ad->rec;
	sh_rdoc d;
	uint64_t hash = th_hash64(doc->id, doc->id_len);
	if (sh_rdoc_next(&at, ad->rec_end, nf, &d) || d.hash != hash ||
	    ad->section != th_jump_hash(hash, p->nshards) || d.id_len != doc->id_len ||
	    memcmp(d.id, doc->id, doc->id_len) || d.tomb != doc->tomb) {
		differ(a,
		       "document \"%s\" (place %llu): another id, hash, shard or kind in its place",
		       ids, (unsigned long long)place);
		return TRAWL_ENOMEM;
	}
	int same =
	    doc->tomb || p->schema.store_none
	        ? d.rec_len == 0
	        : idx_zdec_matches(a->z, d.rec, d.rec_len, doc->stored, doc->stored_len, &a->rec);
	if (same < 0) {
		a->nomem = 1;
		return TRAWL_ENOMEM;
	}
	if (!same) {
		differ(a, "document \"%s\": its stored document differs from the item's", ids);
		return TRAWL_ENOMEM;
	}
	uint64_t acc = 0;
	uint32_t nacc = 0;
	const uint8_t *t = doc->texts;
	for (uint32_t f = 0; f < nf; f++) {
		uint32_t len = 0;
		if (!doc->tomb) {
			memcpy(&len, t, 4);
			t += 4;
		}
		a->acc = 0;
		a->nacc = 0;
		a->key[0] = (uint8_t)f;
		if (len && idx_analyze(a->an[p->schema.fields[f].analyzer], (const char *)t, len, 0,
		                       NULL, add_token, a)) {
			a->nomem = 1;
			return TRAWL_ENOMEM;
		}
		if (len) /* t may be NULL for an empty field */
			t += len;
		if (d.lens[f] != a->nacc) {
			differ(a, "document \"%s\": field %u: %u tokens in the run, %u in the item",
			       ids, f, d.lens[f], a->nacc);
			return TRAWL_ENOMEM;
		}
		acc = modq(acc + a->acc);
		nacc += a->nacc;
	}
	/* the typed values, byte for byte, and the postings of the indexed
	 * keyword fields: one per distinct value, at position 0 */
	if (d.typed_len != doc->typed_len ||
	    (doc->typed_len && memcmp(d.typed, doc->typed, doc->typed_len))) {
		differ(a, "document \"%s\": its typed values differ from the item's", ids);
		return TRAWL_ENOMEM;
	}
	idx_tvals tv;
	if (idx_tvals_split(&p->schema, doc->typed, doc->typed_len, &tv)) {
		differ(a, "document \"%s\": its typed values are damaged", ids);
		return TRAWL_ENOMEM;
	}
	for (uint32_t ft = 0; ft < p->schema.ntyped; ft++) {
		const idx_tfield *f = &p->schema.typed[ft];
		if (f->type != IDX_KEYWORD || !f->index)
			continue;
		const uint8_t *v = tv.at[ft];
		for (uint32_t i = 0; i < tv.count[ft]; i++) {
			uint32_t l;
			memcpy(&l, v, 4);
			a->kw[i] = (idx_kwslice){v + 4, l};
			v += 4 + l;
		}
		uint32_t n = idx_kwslices_sort(a->kw, tv.count[ft]);
		for (uint32_t i = 0; i < n; i++) {
			a->key[0] = IDX_KEYWORD_FID(ft);
			memcpy(a->key + 1, a->kw[i].p, a->kw[i].len);
			uint64_t fk = f_of_key(a, 1 + (size_t)a->kw[i].len);
			acc = modq(acc + mulq(fk, g_of(a->gtab, a->gkey, 0)));
		}
		nacc += n;
	}
	ad->want = acc;
	ad->want_n = nacc;
	return TRAWL_OK;
}

/* The rejected-line messages of the item, matched against the run's as a
 * worker keeps them (work.c: past 1 GiB of messages, the rest are dropped). */
static void on_reject(void *ctx, const char *msg)
{
	sh_auditor *a = ctx;
	size_t n = strlen(msg) + 1;
	if (a->rej_kept + n > ((size_t)1 << 30))
		return;
	a->rej_kept += n;
	if (a->rej_at + n > a->run->rejects_len || memcmp(a->run->rejects + a->rej_at, msg, n))
		differ(a, "its rejected lines differ from the item's");
	a->rej_at += n;
}

/* Pass 3: every term record of a section; each posting adds F(key) times
 * the sum of G over its positions to its document's fingerprint. */
static int read_terms(sh_auditor *a, const sh_run *r, uint32_t s, uint64_t base, uint32_t nf)
{
	const idx_schema *sc = &a->p->schema;
	sh_section sec;
	sh_run_section(r, s, &sec);
	const uint8_t *p = sec.terms, *end = sec.terms_end, *prev = NULL;
	uint64_t prevlen = 0;
	for (uint32_t t = 0; t < sec.nterms; t++) {
		uint64_t klen, df, plen;
		if (sh_getv(&p, end, &klen) || klen < 1 || klen > LIMIT_KEY_BYTES ||
		    (uint64_t)(end - p) < klen)
			return differ(a, "shard %u: term record %u is damaged", s, t);
		const uint8_t *key = p;
		p += klen;
		/* a text field's token (1 to LIMIT_TOKEN_BYTES bytes), or an
		 * indexed keyword field's value (every tf 1, at position 0) */
		int keyword = key[0] >= IDX_KEYWORD_FID(0) &&
		              key[0] < IDX_KEYWORD_FID(sc->ntyped) &&
		              sc->typed[key[0] - IDX_KEYWORD_FID(0)].type == IDX_KEYWORD &&
		              sc->typed[key[0] - IDX_KEYWORD_FID(0)].index;
		if (!keyword && (key[0] >= nf || klen < 2 || klen > 1 + LIMIT_TOKEN_BYTES))
			return differ(a, "shard %u: term record %u names field %u", s, t, key[0]);
		if (prev) {
			int c = memcmp(prev, key, prevlen < klen ? prevlen : klen);
			if (c > 0 || (c == 0 && prevlen >= klen))
				return differ(a, "shard %u: term record %u is out of order", s, t);
		}
		prev = key;
		prevlen = klen;
		if (sh_getv(&p, end, &df) || df == 0 || df > sec.ndocs || sh_getv(&p, end, &plen) ||
		    (uint64_t)(end - p) < plen)
			return differ(a, "shard %u: term record %u is damaged", s, t);
		const uint8_t *q = p, *qend = p + plen;
		p = qend;
		uint64_t f = modq(siphash(a->fkey, key, klen));
		uint64_t doc = 0;
		for (uint64_t i = 0; i < df; i++) {
			uint64_t delta, tf;
			if (sh_getv(&q, qend, &delta) || (i && delta == 0) ||
			    delta >= sec.ndocs - doc || sh_getv(&q, qend, &tf) || tf == 0 ||
			    tf > (uint64_t)(qend - q))
				return differ(
				    a, "shard %u: the postings of term record %u are damaged", s,
				    t);
			doc += delta;
			if (keyword && tf != 1)
				return differ(a,
				              "shard %u: keyword term record %u has a tf of %llu",
				              s, t, (unsigned long long)tf);
			adoc *ad = &a->docs[base + doc];
			uint64_t pos = 0;
			unsigned __int128 gsum = 0;
			for (uint64_t j = 0; j < tf; j++) {
				if (sh_getv(&q, qend, &delta) || (j && delta == 0) ||
				    delta > UINT32_MAX - pos)
					return differ(
					    a,
					    "shard %u: the positions of term record %u are damaged",
					    s, t);
				pos += delta;
				gsum += g_of(a->gtab, a->gkey, (uint32_t)pos);
			}
			/* 2^64 = 8 modulo Q; gsum < 2^93, so its high word times 8 fits */
			uint64_t gq =
			    modq(modq((uint64_t)(gsum >> 64) << 3) + modq((uint64_t)gsum));
			ad->got = modq(ad->got + mulq(f, gq));
			ad->got_n += (uint32_t)tf;
		}
		if (q != qend)
			return differ(a, "shard %u: bytes after the postings of term record %u", s,
			              t);
	}
	if (p != end)
		return differ(a, "shard %u: bytes after its term records", s);
	return TRAWL_OK;
}

int sh_run_audit(sh_auditor *a, const sh_params *p, const sh_item *it, const sh_run *r,
                 int *item_bad, char *err, size_t errlen)
{
	*item_bad = 0;
	a->why[0] = 0;
	a->nomem = 0;
	a->run = r;
	a->place = 0;
	a->rej_at = a->rej_kept = 0;
	if (prepare(a, p))
		return errf(err, errlen, TRAWL_ENOMEM, "out of memory");
	uint32_t nf = p->schema.nfields;
	int rc = TRAWL_OK;
	if (!sh_run_fits(r, p, it->id, it->hash))
		rc = differ(a, "it was made for another item or other parameters");
	if (!rc)
		rc = read_docs(a, r, nf);
	sh_linecount count = {0};
	if (!rc) {
		rc = sh_parse_item(&a->parser, it, p->skip_bad, on_doc, on_reject, a, &count);
		if (rc && !a->why[0] && !a->nomem) {
			/* the item itself has a bad line (and skip_bad is off) */
			*item_bad = 1;
			return errf(err, errlen, rc, "%s", a->parser.errmsg);
		}
		if (!rc && a->why[0])
			rc = TRAWL_ECORRUPT; /* from on_reject */
	}
	if (!rc && a->place != r->docs)
		rc = differ(a, "it holds %llu documents, the item %llu",
		            (unsigned long long)r->docs, (unsigned long long)a->place);
	if (!rc && (count.lines != r->lines || count.bytes != r->bytes_in ||
	            count.rejected != r->rejected || a->rej_at != r->rejects_len))
		rc = differ(a, "its line counts differ from the item's");
	uint64_t base = 0;
	for (uint32_t s = 0; !rc && s < r->nshards; s++) {
		sh_section sec;
		sh_run_section(r, s, &sec);
		rc = read_terms(a, r, s, base, nf);
		base += sec.ndocs;
	}
	for (uint64_t g = 0; !rc && g < r->docs; g++) {
		const adoc *ad = &a->docs[g];
		if (ad->want != ad->got || ad->want_n != ad->got_n) {
			sh_rdoc d;
			const uint8_t *at = ad->rec;
			char idbuf[80] = "?";
			if (!sh_rdoc_next(&at, ad->rec_end, nf, &d))
				show_id(d.id, d.id_len, idbuf);
			rc = differ(
			    a,
			    "document \"%s\": its terms differ from its text (%u postings, %u "
			    "tokens)",
			    idbuf, ad->got_n, ad->want_n);
		}
	}
	if (a->nomem)
		return errf(err, errlen, TRAWL_ENOMEM, "out of memory");
	if (rc)
		return errf(err, errlen, TRAWL_ECORRUPT, "%s", a->why);
	return TRAWL_OK;
}

static int ignore_doc(void *ctx, const sh_doc *d)
{
	(void)ctx;
	(void)d;
	return TRAWL_OK;
}

int sh_item_audit(sh_auditor *a, const sh_params *p, const sh_item *it, char *err, size_t errlen)
{
	if (prepare(a, p))
		return errf(err, errlen, TRAWL_ENOMEM, "out of memory");
	sh_linecount count;
	int rc = sh_parse_item(&a->parser, it, p->skip_bad, ignore_doc, NULL, NULL, &count);
	return rc ? errf(err, errlen, rc, "%s", a->parser.errmsg) : TRAWL_OK;
}
