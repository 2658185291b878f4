/*
 * merge.c - a shard's merger: the runs' sections of one shard become the
 * shard's LMDB file. Two passes, with the join's global statistics in
 * between (join.c drives them):
 *
 *   documents  a k-way merge of the runs' documents in (XXH3_64(id), id,
 *              input order): of several documents with one id the last
 *              wins, and a _bulk delete removes the ones before it. Doc ids
 *              are given in that order; the stored records go to the "docs"
 *              database as they come; norms, field lengths and external ids
 *              are kept for the end.
 *   terms      a k-way merge of the runs' sorted terms; each term's postings
 *              are merged by doc id (dropped documents skipped), encoded in
 *              blocks (index/postings.c, whose block maxima need the global
 *              average field lengths) and appended to two temporary files.
 *              The key space can be cut into parts merged by separate
 *              threads, so that one shard uses every core.
 *
 * Memory: the runs are mapped, not read; a merger holds its shard's norms,
 * external ids and dictionary entries, and one term's postings at a time.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "index/codec.h"
#include "index/columns.h"
#include "index/postings.h"
#include "index/store.h"
#include "merge.h"

/* ---- buffered output to a temporary file ---- */

int sh_fout_open(sh_fout *f, const char *path)
{
	memset(f, 0, sizeof *f);
	f->fd = -1;
	snprintf(f->path, sizeof f->path, "%s", path);
	tbuf_init(&f->buf, SH_FOUT_MEM + (4u << 20));
	return TRAWL_OK;
}

/* Writes n bytes at p to the file. */
static int write_all(sh_fout *f, const uint8_t *p, size_t n)
{
	for (size_t done = 0; done < n;) {
		ssize_t k = write(f->fd, p + done, n - done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 && (errno == ENOSPC || errno == EDQUOT) ? TRAWL_ENOSPC : TRAWL_EIO;
		done += (size_t)k;
	}
	return TRAWL_OK;
}

/* Output stays in memory up to SH_FOUT_MEM bytes; past that it spills to
 * the file, through the buffer in chunks of up to 4 MiB. */
static int fout_write(sh_fout *f, const void *p, size_t n)
{
	if (f->fd < 0 && f->buf.len + n <= SH_FOUT_MEM) {
		f->bytes += n;
		return tbuf_append(&f->buf, p, n);
	}
	if (f->fd < 0) {
		f->fd = open(f->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (f->fd < 0)
			return errno == ENOSPC ? TRAWL_ENOSPC : TRAWL_EIO;
	}
	int rc = TRAWL_OK;
	if (f->buf.len + n > (4u << 20)) {
		if ((rc = write_all(f, f->buf.data, f->buf.len)))
			return rc;
		tbuf_reset(&f->buf);
	}
	rc = n > (4u << 20) ? write_all(f, p, n) : tbuf_append(&f->buf, p, n);
	if (rc == TRAWL_OK)
		f->bytes += n;
	return rc;
}

int sh_fout_finish(sh_fout *f)
{
	if (f->fd < 0)
		return TRAWL_OK;
	int rc = write_all(f, f->buf.data, f->buf.len);
	tbuf_reset(&f->buf);
	return rc;
}

int sh_fout_copy(sh_fout *f, uint8_t *dst)
{
	if (f->fd < 0) {
		if (f->bytes)
			memcpy(dst, f->buf.data, f->bytes);
		return TRAWL_OK;
	}
	for (uint64_t done = 0; done < f->bytes;) {
		ssize_t n = pread(f->fd, dst + done, f->bytes - done, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return TRAWL_EIO;
		done += (uint64_t)n;
	}
	return TRAWL_OK;
}

void sh_fout_close(sh_fout *f)
{
	if (!f->path[0])
		return; /* never opened (or closed already) */
	if (f->fd >= 0) {
		close(f->fd);
		unlink(f->path);
	}
	tbuf_fini(&f->buf);
	memset(f, 0, sizeof *f);
	f->fd = -1;
}

/* ---- a binary min-heap of small indices under a comparison ---- */

typedef int (*heap_less)(void *ctx, uint32_t a, uint32_t b);

typedef struct heap {
	uint32_t *v;
	uint32_t n;
	heap_less less;
	void *ctx;
} heap;

static void heap_down(heap *h, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < h->n && h->less(h->ctx, h->v[l], h->v[m]))
			m = l;
		if (r < h->n && h->less(h->ctx, h->v[r], h->v[m]))
			m = r;
		if (m == i)
			return;
		uint32_t t = h->v[i];
		h->v[i] = h->v[m];
		h->v[m] = t;
		i = m;
	}
}

static void heap_build(heap *h)
{
	for (uint32_t i = h->n / 2; i-- > 0;)
		heap_down(h, i);
}

/* The top changed (advanced): restore; if it ended, drop it. */
static void heap_fix_top(heap *h, int ended)
{
	if (ended)
		h->v[0] = h->v[--h->n];
	if (h->n)
		heap_down(h, 0);
}

/* ---- pass 1: documents ---- */

typedef struct dcur {
	const uint8_t *p, *end;
	uint32_t left, local;
	uint64_t item;
	sh_rdoc d;
} dcur;

static int dcur_less(void *ctx, uint32_t a, uint32_t b)
{
	const dcur *c = ctx;
	const sh_rdoc *x = &c[a].d, *y = &c[b].d;
	if (x->hash != y->hash)
		return x->hash < y->hash;
	uint32_t n = x->id_len < y->id_len ? x->id_len : y->id_len;
	int k = memcmp(x->id, y->id, n);
	if (k)
		return k < 0;
	if (x->id_len != y->id_len)
		return x->id_len < y->id_len;
	if (c[a].item != c[b].item)
		return c[a].item < c[b].item;
	return x->seq < y->seq;
}

/* Moves to the next document: 0, 1 at the end, -1 if damaged. A run's
 * documents must come in strictly increasing (hash, id, place) order: the
 * merge and the doc ids depend on it, and a run may come from elsewhere. */
static int dcur_next(dcur *c, uint32_t nf)
{
	if (c->left == 0)
		return 1;
	c->left--;
	c->local++;
	sh_rdoc prev = c->d;
	if (sh_rdoc_next(&c->p, c->end, nf, &c->d))
		return -1;
	if (c->local > 0) {
		const sh_rdoc *x = &prev, *y = &c->d;
		int order = x->hash != y->hash ? (x->hash < y->hash ? -1 : 1) : 0;
		if (!order) {
			uint32_t n = x->id_len < y->id_len ? x->id_len : y->id_len;
			int k = memcmp(x->id, y->id, n);
			order = k ? k : (x->id_len > y->id_len) - (x->id_len < y->id_len);
		}
		if (!order)
			order = x->seq < y->seq ? -1 : (x->seq > y->seq);
		if (order >= 0)
			return -1;
	}
	return 0;
}

static int same_id(const sh_rdoc *a, const sh_rdoc *b)
{
	return a->hash == b->hash && a->id_len == b->id_len && !memcmp(a->id, b->id, a->id_len);
}

static int serr(sh_shardmerge *m, int rc, const char *what)
{
	if (!m->err[0])
		snprintf(m->err, sizeof m->err, "shard %u: %s: %s", m->shard, what, trawl_strerror(rc));
	return rc;
}

/* Writes the documents merged so far to the file (idx_store_checkpoint). */
static int checkpoint(sh_shardmerge *m)
{
	char why[256];
	int rc = idx_store_checkpoint(m->st, why, sizeof why);
	if (rc)
		snprintf(m->err, sizeof m->err, "%s: %s%s", m->path, why,
		         rc == TRAWL_EIO || rc == TRAWL_ENOSPC ? " (is the disk full?)" : "");
	return rc;
}

int sh_merge_docs(sh_shardmerge *m)
{
	const sh_params *p = m->p;
	uint32_t nf = p->schema.nfields, nr = m->nruns;
	/* The shard file holds what its run sections hold, encoded no larger
	 * (stored records as they are; bit-packed postings within their
	 * varints; keys front-coded), plus LMDB's pages: 4 times the sections
	 * and 256 MiB is ample, and reserves address space, not disk, so that
	 * 256 shards merge at once within a 47-bit address space. */
	uint64_t bytes = 0;
	for (uint32_t r = 0; r < nr; r++) {
		sh_section sec;
		sh_run_section(&m->runs[r], m->shard, &sec);
		bytes += (uint64_t)(sec.terms_end - sec.docs);
	}
	int rc = idx_store_create(&m->st, m->path, (size_t)(4 * bytes + (256u << 20)), m->err,
	                          sizeof m->err);
	if (rc)
		return rc;
	dcur *cur = calloc(nr ? nr : 1, sizeof *cur);
	uint32_t *hv = malloc((nr ? nr : 1) * sizeof *hv);
	m->map = calloc(nr ? nr : 1, sizeof *m->map);
	m->nlocal = calloc(nr ? nr : 1, sizeof *m->nlocal);
	if (!cur || !hv || !m->map || !m->nlocal) {
		rc = serr(m, TRAWL_ENOMEM, "merging documents");
		goto out;
	}
	uint64_t total = 0;
	heap h = {hv, 0, dcur_less, cur};
	for (uint32_t r = 0; r < nr; r++) {
		sh_section sec;
		sh_run_section(&m->runs[r], m->shard, &sec);
		total += sec.ndocs;
		m->nlocal[r] = sec.ndocs;
		if (!(m->map[r] = malloc(((size_t)sec.ndocs + 1) * sizeof **m->map))) {
			rc = serr(m, TRAWL_ENOMEM, "merging documents");
			goto out;
		}
		cur[r] = (dcur){sec.docs, sec.docs_end, sec.ndocs, UINT32_MAX, m->runs[r].item, {0}};
		int e = dcur_next(&cur[r], nf);
		if (e < 0) {
			rc = serr(m, TRAWL_ECORRUPT, "reading a run");
			goto out;
		}
		if (e == 0)
			hv[h.n++] = r;
	}
	if (total > LIMIT_DOCS_PER_SHARD) {
		snprintf(m->err, sizeof m->err, "shard %u: %llu documents; a shard holds at most %u",
		         m->shard, (unsigned long long)total, LIMIT_DOCS_PER_SHARD);
		rc = TRAWL_ELIMIT;
		goto out;
	}
	for (uint32_t f = 0; f < nf; f++)
		if (!(m->norms[f] = malloc(total ? total : 1))) {
			rc = serr(m, TRAWL_ENOMEM, "merging documents");
			goto out;
		}
	m->idlens = malloc((total ? total : 1) * sizeof *m->idlens);
	m->typed_off = calloc(total + 1, sizeof *m->typed_off);
	m->zeros = calloc(total ? total : 1, 1); /* the norms of keyword postings */
	if (!m->idlens || !m->typed_off || !m->zeros) {
		rc = serr(m, TRAWL_ENOMEM, "merging documents");
		goto out;
	}
	heap_build(&h);
	uint64_t dirty = 0; /* stored bytes since the last checkpoint */
	/* groups of equal ids come out together, oldest first */
	sh_rdoc prev = {0};
	uint32_t prev_r = 0, prev_local = 0;
	int have_prev = 0;
	for (;;) {
		int end = h.n == 0;
		uint32_t r = end ? 0 : h.v[0];
		if (have_prev && (end || !same_id(&prev, &cur[r].d))) {
			/* prev is the last of its group: it stands unless it is a delete */
			if (prev.tomb) {
				m->map[prev_r][prev_local] = IDX_END;
			} else {
				uint32_t doc = m->ndocs++;
				m->map[prev_r][prev_local] = doc;
				for (uint32_t f = 0; f < nf; f++) {
					m->norms[f][doc] = idx_norm_encode(prev.lens[f]);
					m->sumlen[f] += prev.lens[f];
				}
				m->idlens[doc] = prev.id_len;
				if ((rc = tbuf_append(&m->ids, prev.id, prev.id_len)) ||
				    (rc = tbuf_append(&m->typed, prev.typed, prev.typed_len))) {
					rc = serr(m, rc, "merging documents");
					goto out;
				}
				m->typed_off[doc + 1] = m->typed.len;
				idx_tvals tv;
				if (idx_tvals_split(&p->schema, prev.typed, prev.typed_len, &tv)) {
					rc = serr(m, TRAWL_ECORRUPT, "reading a run's typed values");
					goto out;
				}
				if (prev.rec_len) {
					uint8_t key[4] = {(uint8_t)(doc >> 24), (uint8_t)(doc >> 16),
					                  (uint8_t)(doc >> 8), (uint8_t)doc};
					if ((rc = idx_store_put(m->st, IDX_DB_DOCS, key, 4, prev.rec,
					                        prev.rec_len, 1))) {
						rc = serr(m, rc, m->path);
						goto out;
					}
					dirty += prev.rec_len;
					if (dirty > SH_CHECKPOINT_BYTES && (rc = checkpoint(m)))
						goto out;
					if (dirty > SH_CHECKPOINT_BYTES)
						dirty = 0;
				}
			}
			have_prev = 0;
		}
		if (end)
			break;
		if (have_prev) {
			/* prev is replaced by a later document with its id, or deleted */
			m->map[prev_r][prev_local] = IDX_END;
			if (!prev.tomb && !cur[r].d.tomb)
				m->duplicates++;
			else if (!prev.tomb && cur[r].d.tomb)
				m->deleted++;
		}
		prev = cur[r].d;
		prev_r = r;
		prev_local = cur[r].local;
		have_prev = 1;
		int e = dcur_next(&cur[r], nf);
		if (e < 0) {
			rc = serr(m, TRAWL_ECORRUPT, "reading a run");
			goto out;
		}
		heap_fix_top(&h, e == 1);
	}
	/* the documents go to the file now, not at the end of the merge */
	rc = checkpoint(m);
out:
	free(cur);
	free(hv);
	return rc;
}

/* ---- pass 2: terms ---- */

typedef struct tcur {
	const uint8_t *p, *end; /* the next term record */
	uint32_t left;          /* terms after the current one */
	const uint8_t *key;     /* the current term */
	uint64_t pre;           /* its first 8 bytes, big-endian, zero-padded */
	uint32_t klen, df;
	const uint8_t *post, *post_end;
} tcur;

static int key_cmp(const uint8_t *a, uint32_t al, const uint8_t *b, uint32_t bl)
{
	uint32_t n = al < bl ? al : bl;
	int c = memcmp(a, b, n);
	return c ? c : (al > bl) - (al < bl);
}

static int tcur_less(void *ctx, uint32_t a, uint32_t b)
{
	const tcur *c = ctx;
	if (c[a].pre != c[b].pre)
		return c[a].pre < c[b].pre;
	int k = key_cmp(c[a].key, c[a].klen, c[b].key, c[b].klen);
	return k ? k < 0 : a < b;
}


static inline int same_key(const tcur *c, const uint8_t *key, uint32_t klen, uint64_t pre)
{
	return c->pre == pre && c->klen == klen && (klen <= 8 || !memcmp(c->key + 8, key + 8, klen - 8));
}

/* Moves to the next term: 0, 1 at the end, -1 if damaged. */
static int tcur_next(tcur *c)
{
	if (c->left == 0)
		return 1;
	c->left--;
	uint64_t kl, df, pl;
	const uint8_t *p = c->p;
	if (sh_getv(&p, c->end, &kl) || kl == 0 || kl > LIMIT_KEY_BYTES || (uint64_t)(c->end - p) < kl)
		return -1;
	uint8_t b[8] = {0};
	memcpy(b, p, kl < 8 ? kl : 8);
	uint64_t pre;
	memcpy(&pre, b, 8);
	pre = __builtin_bswap64(pre);
	/* keys must strictly increase (the dictionary is written in order);
	 * most differ in their first 8 bytes */
	if (c->key && (pre < c->pre ||
	               (pre == c->pre && key_cmp(c->key, c->klen, p, (uint32_t)kl) >= 0)))
		return -1;
	c->key = p;
	c->klen = (uint32_t)kl;
	c->pre = pre;
	p += kl;
	/* a posting takes at least 3 bytes (delta, tf, a position) */
	if (sh_getv(&p, c->end, &df) || df == 0 || df > UINT32_MAX || sh_getv(&p, c->end, &pl) ||
	    (uint64_t)(c->end - p) < pl || df > pl / 3)
		return -1;
	c->df = (uint32_t)df;
	c->post = p;
	c->post_end = p + pl;
	c->p = p + pl;
	return 0;
}

/* A term's postings on their way through the merge, contributor after
 * contributor: doc ids, tfs, and where each one's positions start in pos.
 * With one contributor they are final as decoded; with several, keys
 * (doc id << 32 | index) are merged, and the postings gathered in that
 * order into the out_ lists. */
typedef struct tscratch {
	uint32_t *docs, *tfs, *at; /* decoded */
	size_t cap;
	uint64_t *ka, *kb;         /* keys, and room to merge them into */
	size_t kacap, kbcap;
	uint32_t *pos;             /* decoded positions, contributor by contributor */
	size_t poscap;
	uint32_t *out_docs, *out_tfs, *out_pos; /* merged, for the encoder */
	size_t odcap, otcap, opcap;
	uint32_t *bounds;          /* where each contributor's postings start */
	tbuf post, pos_out;
} tscratch;

static void scratch_fini(tscratch *sc)
{
	free(sc->docs);
	free(sc->tfs);
	free(sc->at);
	free(sc->ka);
	free(sc->kb);
	free(sc->pos);
	free(sc->out_docs);
	free(sc->out_tfs);
	free(sc->out_pos);
	free(sc->bounds);
	tbuf_fini(&sc->post);
	tbuf_fini(&sc->pos_out);
}

static int grow_posts(tscratch *sc, size_t need)
{
	size_t c1 = sc->cap, c2 = sc->cap;
	if (tgrow(&sc->docs, &sc->cap, need, 4) || tgrow(&sc->tfs, &c1, need, 4) ||
	    tgrow(&sc->at, &c2, need, 4))
		return -1;
	return 0;
}

/* Decodes one run's postings of a term, dropping replaced and deleted
 * documents: appends to the decoded lists from *n and to sc->pos from *np. */
static int decode_run(const uint8_t *p, const uint8_t *end, uint32_t df, const uint32_t *map,
                      uint32_t nlocal, tscratch *sc, uint32_t *n, uint32_t *np)
{
	uint32_t local = 0, k = *n, q = *np;
	for (uint32_t j = 0; j < df; j++) {
		uint64_t d, tf, x;
		/* documents strictly increase: a delta is 0 only for the first */
		if (sh_getv(&p, end, &d) || sh_getv(&p, end, &tf) || tf == 0 || tf > UINT32_MAX ||
		    d > UINT32_MAX || (uint64_t)local + d >= nlocal || (j > 0 && d == 0))
			return TRAWL_ECORRUPT;
		local += (uint32_t)d;
		uint32_t doc = map[local];
		if (doc == IDX_END) {
			for (uint64_t i = 0; i < tf; i++)
				if (sh_getv(&p, end, &x))
					return TRAWL_ECORRUPT;
			continue;
		}
		sc->docs[k] = doc;
		sc->tfs[k] = (uint32_t)tf;
		sc->at[k++] = q;
		uint64_t at = 0;
		for (uint64_t i = 0; i < tf; i++) {
			/* positions strictly increase within a document */
			if (sh_getv(&p, end, &x) || (i > 0 && x == 0) || at + x > UINT32_MAX)
				return TRAWL_ECORRUPT;
			at += x;
			sc->pos[q++] = (uint32_t)at;
		}
	}
	*n = k;
	*np = q;
	return TRAWL_OK;
}

/* Merges the sorted chunks of keys (starting at bounds[0..k), ending at n)
 * pairwise until one is left; returns the array that holds the result. */
static uint64_t *merge_chunks(tscratch *sc, uint32_t k, uint32_t n)
{
	uint64_t *src = sc->ka, *dst = sc->kb;
	uint32_t *bd = sc->bounds;
	while (k > 1) {
		uint32_t nk = 0;
		for (uint32_t c = 0; c < k; c += 2) {
			uint32_t lo = bd[c], mid = c + 1 < k ? bd[c + 1] : n, hi = c + 2 < k ? bd[c + 2] : n;
			uint32_t i = lo, j = mid, o = lo;
			/* without a branch on the comparison: documents of different
			 * runs interleave at random, so a branch would mispredict half
			 * the time (it was a fifth of the merge's time) */
			while (i < mid && j < hi) {
				uint64_t a = src[i], b = src[j];
				uint32_t t = a < b;
				dst[o++] = t ? a : b;
				i += t;
				j += 1 - t;
			}
			while (i < mid)
				dst[o++] = src[i++];
			while (j < hi)
				dst[o++] = src[j++];
			bd[nk++] = lo;
		}
		k = nk;
		uint64_t *t = src;
		src = dst;
		dst = t;
	}
	return src;
}

/* K(dl) of a keyword's postings: k1 for every norm byte (see encode_term). */
#define KEYWORD_K1 1.2f
static const float keyword_ktab[256] = {
#define K4 KEYWORD_K1, KEYWORD_K1, KEYWORD_K1, KEYWORD_K1
#define K32 K4, K4, K4, K4, K4, K4, K4, K4
    K32, K32, K32, K32, K32, K32, K32, K32
#undef K32
#undef K4
};

static int part_add_term(sh_mpart *pt, const uint8_t *key, uint32_t klen, uint32_t df,
                         uint64_t post_len, uint64_t pos_len)
{
	if (tgrow(&pt->terms, &pt->cap, (size_t)pt->nterms + 1, sizeof *pt->terms))
		return TRAWL_ENOMEM;
	sh_mterm *t = &pt->terms[pt->nterms++];
	t->key_off = pt->keys.len;
	t->klen = klen;
	t->df = df;
	t->df_global = df;
	t->post_len = post_len;
	t->pos_len = pos_len;
	return tbuf_append(&pt->keys, key, klen);
}

/* Encodes the postings of t's term (n docs: doc ids, tfs, positions) and
 * appends them to the part. */
static int encode_term(sh_shardmerge *m, sh_mpart *pt, const tcur *t, const uint32_t *docs,
                       const uint32_t *tfs, const uint32_t *pos, uint32_t n, tscratch *sc,
                       const float (*ktab)[256])
{
	uint8_t fid = t->key[0];
	const idx_schema *s = &m->p->schema;
	idx_postings_in in = {docs, tfs, pos, n, n, NULL, NULL, 0};
	if (fid < s->nfields) {
		in.norms = m->norms[fid];
		in.ktab = ktab[fid];
		in.k1 = s->fields[fid].k1;
	} else if (fid >= IDX_KEYWORD_FID(0) && fid < IDX_KEYWORD_FID(s->ntyped) &&
	           s->typed[fid - IDX_KEYWORD_FID(0)].type == IDX_KEYWORD &&
	           s->typed[fid - IDX_KEYWORD_FID(0)].index) {
		/* a keyword: no norms, every tf 1, so that every tf-part is
		 * (k1 + 1) / (1 + k1) = 1 (keyword_ktab) */
		for (uint32_t i = 0; i < n; i++)
			if (tfs[i] != 1)
				return TRAWL_ECORRUPT;
		in.norms = m->zeros;
		in.ktab = keyword_ktab;
		in.k1 = KEYWORD_K1;
	} else {
		return TRAWL_ECORRUPT;
	}
	int rc = idx_postings_encode(&in, &sc->post, &sc->pos_out);
	if (rc == TRAWL_OK && (rc = fout_write(&pt->post, sc->post.data, sc->post.len)) == TRAWL_OK &&
	    (rc = fout_write(&pt->pos, sc->pos_out.data, sc->pos_out.len)) == TRAWL_OK)
		rc = part_add_term(pt, t->key, t->klen, n, sc->post.len, sc->pos_out.len);
	return rc;
}

/* Merges the postings of one term from its contributors tc[who[0..k)]
 * (in run order). Each contributor's postings are sorted by doc id (a
 * run's documents are in the order that doc ids follow), so the term's
 * postings are k sorted chunks to merge. */
static int merge_term(sh_shardmerge *m, sh_mpart *pt, tcur *tc, const uint32_t *who, uint32_t k,
                      tscratch *sc, const float (*ktab)[256])
{
	uint64_t maxdf = 0, maxpos = 0;
	for (uint32_t i = 0; i < k; i++) {
		maxdf += tc[who[i]].df;
		maxpos += (uint64_t)(tc[who[i]].post_end - tc[who[i]].post); /* >= positions */
	}
	if (maxdf > LIMIT_DOCS_PER_SHARD || grow_posts(sc, maxdf) ||
	    tgrow(&sc->pos, &sc->poscap, maxpos, 4))
		return TRAWL_ENOMEM;
	uint32_t n = 0, np = 0, chunks = 0;
	for (uint32_t i = 0; i < k; i++) {
		const tcur *t = &tc[who[i]];
		uint32_t from = n;
		int rc = decode_run(t->post, t->post_end, t->df, m->map[who[i]], m->nlocal[who[i]], sc,
		                    &n, &np);
		if (rc)
			return rc;
		if (n > from)
			sc->bounds[chunks++] = from;
	}
	if (n == 0)
		return TRAWL_OK; /* every document with the term was replaced or deleted */
	if (chunks == 1) /* already in doc id order */
		return encode_term(m, pt, &tc[who[0]], sc->docs, sc->tfs, sc->pos, n, sc, ktab);
	if (tgrow(&sc->ka, &sc->kacap, n, 8) || tgrow(&sc->kb, &sc->kbcap, n, 8) ||
	    tgrow(&sc->out_docs, &sc->odcap, n, 4) || tgrow(&sc->out_tfs, &sc->otcap, n, 4) ||
	    tgrow(&sc->out_pos, &sc->opcap, np, 4))
		return TRAWL_ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		sc->ka[i] = (uint64_t)sc->docs[i] << 32 | i;
	const uint64_t *all = merge_chunks(sc, chunks, n);
	uint32_t q = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t x = (uint32_t)all[i], tf = sc->tfs[x];
		sc->out_docs[i] = (uint32_t)(all[i] >> 32);
		sc->out_tfs[i] = tf;
		memcpy(sc->out_pos + q, sc->pos + sc->at[x], (size_t)tf * 4);
		q += tf;
	}
	return encode_term(m, pt, &tc[who[0]], sc->out_docs, sc->out_tfs, sc->out_pos, n, sc, ktab);
}

int sh_merge_terms(sh_shardmerge *m, uint32_t part, const idx_stats *gs)
{
	sh_mpart *pt = &m->parts[part];
	const sh_params *p = m->p;
	uint32_t nr = m->nruns;
	float ktab[LIMIT_FIELDS][256];
	for (uint32_t f = 0; f < p->schema.nfields; f++)
		for (int n = 0; n < 256; n++)
			ktab[f][n] = idx_bm25_k(p->schema.fields[f].k1, p->schema.fields[f].b,
			                        idx_norm_decode((uint8_t)n), idx_avgdl(gs, f));
	tcur *tc = calloc(nr ? nr : 1, sizeof *tc);
	uint32_t *hv = malloc((nr ? nr : 1) * sizeof *hv);
	uint32_t *who = malloc((nr ? nr : 1) * sizeof *who);
	tscratch sc = {0};
	sc.bounds = malloc((nr ? nr : 1) * sizeof *sc.bounds);
	tbuf_init(&sc.post, (size_t)1 << 36);
	tbuf_init(&sc.pos_out, (size_t)1 << 36);
	int rc = TRAWL_OK;
	if (!tc || !hv || !who || !sc.bounds) {
		rc = serr(m, TRAWL_ENOMEM, "merging terms");
		goto out;
	}
	heap h = {hv, 0, tcur_less, tc};
	for (uint32_t r = 0; r < nr; r++) {
		sh_section sec;
		sh_run_section(&m->runs[r], m->shard, &sec);
		tc[r] = (tcur){sec.terms, sec.terms_end, sec.nterms, NULL, 0, 0, 0, NULL, NULL};
		int e;
		/* skip to the part's first key */
		while ((e = tcur_next(&tc[r])) == 0 && pt->has_lo &&
		       key_cmp(tc[r].key, tc[r].klen, pt->lo, pt->lolen) < 0)
			;
		if (e < 0) {
			rc = serr(m, TRAWL_ECORRUPT, "reading a run");
			goto out;
		}
		if (e == 0)
			hv[h.n++] = r;
	}
	heap_build(&h);
	while (h.n) {
		const tcur *top = &tc[h.v[0]];
		if (pt->has_hi && key_cmp(top->key, top->klen, pt->hi, pt->hilen) >= 0)
			break;
		/* every run at this key */
		uint32_t k = 0;
		const uint8_t *key = top->key;
		uint32_t klen = top->klen;
		uint64_t pre = top->pre;
		while (h.n && same_key(&tc[h.v[0]], key, klen, pre)) {
			who[k++] = h.v[0];
			/* take it off the heap; it comes back after the merge */
			h.v[0] = h.v[--h.n];
			if (h.n)
				heap_down(&h, 0);
		}
		/* contributors in run order: equal doc ids cannot happen (each
		 * document lives in one run), so the order only fixes the heap */
		if ((rc = merge_term(m, pt, tc, who, k, &sc, (const float(*)[256])ktab))) {
			rc = serr(m, rc, "merging terms");
			goto out;
		}
		for (uint32_t i = 0; i < k; i++) {
			int e = tcur_next(&tc[who[i]]);
			if (e < 0) {
				rc = serr(m, TRAWL_ECORRUPT, "reading a run");
				goto out;
			}
			if (e == 0) {
				/* push back */
				uint32_t j = h.n++;
				h.v[j] = who[i];
				while (j > 0) {
					uint32_t up = (j - 1) / 2;
					if (!h.less(h.ctx, h.v[j], h.v[up]))
						break;
					uint32_t t = h.v[j];
					h.v[j] = h.v[up];
					h.v[up] = t;
					j = up;
				}
			}
		}
	}
	if ((rc = sh_fout_finish(&pt->post)) || (rc = sh_fout_finish(&pt->pos)))
		rc = serr(m, rc, "writing postings");
out:
	free(tc);
	free(hv);
	free(who);
	scratch_fini(&sc);
	return rc;
}

void sh_shardmerge_fini(sh_shardmerge *m)
{
	if (m->st)
		idx_store_close(m->st);
	for (uint32_t f = 0; f < LIMIT_FIELDS; f++)
		free(m->norms[f]);
	if (m->map)
		for (uint32_t r = 0; r < m->nruns; r++)
			free(m->map[r]);
	free(m->map);
	free(m->nlocal);
	free(m->idlens);
	tbuf_fini(&m->ids);
	free(m->typed_off);
	free(m->zeros);
	for (uint32_t t = 0; t < LIMIT_TYPED_FIELDS; t++)
		free(m->kw[t]);
	tbuf_fini(&m->typed);
	for (uint32_t i = 0; i < m->nparts; i++) {
		sh_mpart *pt = &m->parts[i];
		sh_fout_close(&pt->post);
		sh_fout_close(&pt->pos);
		free(pt->terms);
		tbuf_fini(&pt->keys);
	}
	memset(m, 0, sizeof *m);
}
