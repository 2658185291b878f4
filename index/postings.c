/*
 * postings.c - encoding and walking one term's postings (see postings.h and
 * docs/FORMAT.md, "terms" and "positions").
 */
#include "postings.h"

#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

static inline uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v; /* the format is little-endian; so is every supported host */
}

static inline float rdf32(const uint8_t *p)
{
	float v;
	memcpy(&v, p, 4);
	return v;
}

static inline void wr32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/* A block's maximum is stored as a bfloat16 (the high 16 bits of the float)
 * rounded up, so that it stays an upper bound. */
static inline uint16_t bf16_up(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	uint16_t h = (uint16_t)(u >> 16);
	if ((u & 0xffff) && h < 0x7f7f)
		h++;
	return h;
}

static inline float rdbf16(const uint8_t *p)
{
	uint16_t h;
	memcpy(&h, p, 2);
	uint32_t u = (uint32_t)h << 16;
	float f;
	memcpy(&f, &u, 4);
	return f;
}

int idx_plist_open(idx_plist *pl, uint32_t df, uint64_t df_global, const void *val, size_t vlen)
{
	const uint8_t *p = val, *end = p + vlen;
	if (df == 0 || df > LIMIT_DOCS_PER_SHARD || df_global < df)
		return TRAWL_ECORRUPT;
	uint32_t nb = (df + IDX_BLOCK - 1) / IDX_BLOCK;
	pl->df_global = df_global;
	pl->df = df;
	pl->nblocks = nb;
	pl->max_tf = -1; /* single block: computed from the block when needed */
	pl->skips = NULL;
	if (nb > 1) {
		if ((size_t)(end - p) < 4 + (size_t)nb * IDX_SKIP_ENTRY)
			return TRAWL_ECORRUPT;
		pl->max_tf = rdf32(p);
		p += 4;
		pl->skips = p;
		p += (size_t)nb * IDX_SKIP_ENTRY;
	}
	pl->blocks = p;
	pl->end = end;
	return TRAWL_OK;
}

int idx_plist_parse(const void *val, size_t vlen, idx_plist *pl)
{
	const uint8_t *p = val, *end = p + vlen;
	uint64_t dfg, df;
	if (!(p = idx_varint_get(p, end, &dfg)) || !(p = idx_varint_get(p, end, &df)) ||
	    df > LIMIT_DOCS_PER_SHARD)
		return TRAWL_ECORRUPT;
	return idx_plist_open(pl, (uint32_t)df, dfg, p, (size_t)(end - p));
}

/* ---- encoding ---- */

/* Appends the positions chunk of one block: the values in groups of 128,
 * each group a bits byte and the values packed with that width. A doc
 * keeps its first LIMIT_TF positions, as many as its stored tf says
 * (positions holds all tfs[i] of each, one doc after the other). */
static int encode_positions(tbuf *pos, const uint32_t *positions, const uint32_t *tfs, uint32_t n,
                            uint32_t *scratch, uint32_t scratch_cap)
{
	uint32_t total = 0;
	for (uint32_t i = 0; i < n; i++)
		total += tfs[i] < LIMIT_TF ? tfs[i] : LIMIT_TF;
	if (total > scratch_cap)
		return TRAWL_ELIMIT;
	uint32_t k = 0;
	for (uint32_t i = 0, from = 0; i < n; from += tfs[i], i++) {
		const uint32_t *p = positions + from;
		uint32_t m = tfs[i] < LIMIT_TF ? tfs[i] : LIMIT_TF;
		scratch[k] = p[0];
		for (uint32_t j = 1; j < m; j++)
			scratch[k + j] = p[j] - p[j - 1] - 1;
		k += m;
	}
	for (uint32_t g = 0; g < total; g += IDX_BLOCK) {
		uint32_t m = total - g < IDX_BLOCK ? total - g : IDX_BLOCK;
		uint32_t bits = idx_bits_max(scratch + g, m);
		int rc = tbuf_reserve(pos, 1 + idx_packed_bytes(m, bits));
		if (rc)
			return rc;
		pos->data[pos->len++] = (uint8_t)bits;
		pos->len += idx_pack(pos->data + pos->len, scratch + g, m, bits);
	}
	return TRAWL_OK;
}

/*
 * The width for a block's term frequencies (minus one), patched frame of
 * reference: values that do not fit become exceptions (index, high bits)
 * after the packed low bits, when that is smaller. Most frequencies are 1,
 * and one outlier would otherwise widen all 128.
 */
static uint32_t tf_width(const uint32_t *v, uint32_t n, uint32_t *nexc)
{
	uint32_t maxb = idx_bits_max(v, n), best = maxb;
	size_t best_size = idx_packed_bytes(n, maxb);
	*nexc = 0;
	if (maxb == 0)
		return 0;
	/* values by bit width: a value of width w is an exception at width b
	 * < w and costs its index byte and a varint of w - b bits */
	uint32_t width[33] = {0};
	for (uint32_t i = 0; i < n; i++)
		width[v[i] ? 32 - __builtin_clz(v[i]) : 0]++;
	for (uint32_t b = 0; b < maxb; b++) {
		size_t size = idx_packed_bytes(n, b) + 1;
		uint32_t e = 0;
		for (uint32_t w = b + 1; w <= maxb; w++) {
			size += (size_t)width[w] * (1 + (w - b + 6) / 7);
			e += width[w];
		}
		if (size < best_size) {
			best = b;
			best_size = size;
			*nexc = e;
		}
	}
	return best;
}

int idx_postings_encode(const idx_postings_in *in, tbuf *post, tbuf *pos)
{
	tbuf_reset(post);
	tbuf_reset(pos);
	uint32_t df = in->df, nb = (df + IDX_BLOCK - 1) / IDX_BLOCK;
	int rc;
	size_t max_at = 0, skip_at = 0;
	if (nb > 1) {
		float zero = 0;
		if ((rc = tbuf_append(post, &zero, 4)))
			return rc;
		skip_at = post->len;
		if ((rc = tbuf_reserve(post, (size_t)nb * IDX_SKIP_ENTRY)))
			return rc;
		memset(post->data + post->len, 0, (size_t)nb * IDX_SKIP_ENTRY);
		post->len += (size_t)nb * IDX_SKIP_ENTRY;
	}
	size_t blocks_at = post->len;
	uint32_t deltas[IDX_BLOCK], tfm1[IDX_BLOCK];
	static _Thread_local uint32_t scratch[IDX_BLOCK * 64];
	float list_max = 0;
	uint32_t prev = 0;
	size_t k = 0; /* index into positions */
	for (uint32_t b = 0; b < nb; b++) {
		uint32_t first = b * IDX_BLOCK, n = df - first < IDX_BLOCK ? df - first : IDX_BLOCK;
		float bmax = 0;
		for (uint32_t i = 0; i < n; i++) {
			uint32_t d = in->docs[first + i], tf = in->tfs[first + i];
			deltas[i] = (first + i == 0) ? d : d - prev - 1;
			prev = d;
			if (tf > LIMIT_TF)
				tf = LIMIT_TF;
			tfm1[i] = tf - 1;
			float s = idx_bm25_tf(tf, in->k1, in->ktab[in->norms[d]]);
			if (s > bmax)
				bmax = s;
		}
		if (bmax > list_max)
			list_max = bmax;
		uint32_t db = idx_bits_max(deltas, n), nexc = 0;
		uint32_t tb = tf_width(tfm1, n, &nexc);
		size_t need = 2 + idx_packed_bytes(n, db) + idx_packed_bytes(n, tb) + (nexc ? 1 : 0);
		for (uint32_t i = 0; i < n; i++)
			if (tb < 32 && (tfm1[i] >> tb))
				need += 1 + idx_varint_len(tfm1[i] >> tb);
		if ((rc = tbuf_reserve(post, need)))
			return rc;
		if (post->len - blocks_at > UINT32_MAX || pos->len > UINT32_MAX)
			return TRAWL_ELIMIT; /* skip entries hold 32-bit offsets */
		if (nb > 1) {
			uint8_t *e = post->data + skip_at + (size_t)b * IDX_SKIP_ENTRY;
			wr32(e, prev);
			wr32(e + 4, (uint32_t)(post->len - blocks_at));
			wr32(e + 8, (uint32_t)pos->len);
			uint16_t m = bf16_up(bmax);
			memcpy(e + 12, &m, 2);
		}
		uint8_t *w = post->data + post->len;
		w[0] = (uint8_t)db;
		w[1] = (uint8_t)(tb | (nexc ? IDX_TF_EXCEPTIONS : 0));
		w += 2;
		w += idx_pack(w, deltas, n, db);
		w += idx_pack(w, tfm1, n, tb); /* idx_pack keeps the low tb bits */
		if (nexc) {
			*w++ = (uint8_t)nexc;
			for (uint32_t i = 0; i < n; i++)
				if (tfm1[i] >> tb) {
					*w++ = (uint8_t)i;
					w += idx_varint_put(w, tfm1[i] >> tb);
				}
		}
		post->len += need;
		if (in->positions) {
			/* kept: at most LIMIT_TF a doc (< 2^31 a block); read: all */
			uint32_t tfs[IDX_BLOCK], kept = 0;
			uint64_t all = 0;
			for (uint32_t i = 0; i < n; i++) {
				tfs[i] = in->tfs[first + i];
				all += tfs[i];
				kept += tfs[i] < LIMIT_TF ? tfs[i] : LIMIT_TF;
			}
			uint32_t *buf = scratch, cap = sizeof scratch / sizeof scratch[0];
			uint32_t *big = NULL;
			if (kept > cap) {
				big = malloc((size_t)kept * sizeof *big);
				if (!big)
					return TRAWL_ENOMEM;
				buf = big;
				cap = kept;
			}
			rc = encode_positions(pos, in->positions + k, tfs, n, buf, cap);
			free(big);
			if (rc)
				return rc;
			k += all;
		}
	}
	if (nb > 1)
		memcpy(post->data + max_at, &list_max, 4);
	return TRAWL_OK;
}

/* ---- reading ---- */

static inline uint32_t skip_last(const idx_plist *pl, uint32_t b)
{
	return rd32(pl->skips + (size_t)b * IDX_SKIP_ENTRY);
}

static void set_end(idx_pcur *c)
{
	c->doc = IDX_END;
	c->blk_last = IDX_END;
	c->n = 0;
	c->i = 0;
}

static void set_corrupt(idx_pcur *c)
{
	c->corrupt = 1;
	c->blk = c->pl.nblocks;
	set_end(c);
}

/* Turns a block's n deltas into doc ids in place: v[0] += base, then
 * v[i] += v[i - 1] + 1. The caller has made sure that no sum passes 2^32.
 * Returns how many ids are below target: the seek that loaded the block
 * needs that, and counting as the sums are made saves reading them again. */
static uint32_t prefix_sum(uint32_t *v, uint32_t n, uint32_t base, uint32_t target)
{
	uint32_t i = 0, below = 0;
#ifdef __SSE2__
	/* four at a time: two shifted adds make each lane the sum of its
	 * group, and the carry (the previous group's last id) is added on;
	 * compared as signed after flipping the top bit */
	static const uint8_t ones[16] = {0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4};
	const __m128i flip = _mm_set1_epi32((int)0x80000000u);
	const __m128i t = _mm_set1_epi32((int)(target ^ 0x80000000u));
	__m128i carry = _mm_set1_epi32((int)(base - 1)), one = _mm_set1_epi32(1);
	for (; i + 4 <= n; i += 4) {
		__m128i x = _mm_add_epi32(_mm_loadu_si128((const __m128i *)(const void *)(v + i)), one);
		x = _mm_add_epi32(x, _mm_slli_si128(x, 4));
		x = _mm_add_epi32(x, _mm_slli_si128(x, 8));
		x = _mm_add_epi32(x, carry);
		_mm_storeu_si128((__m128i *)(void *)(v + i), x);
		carry = _mm_shuffle_epi32(x, 0xff);
		__m128i lt = _mm_cmplt_epi32(_mm_xor_si128(x, flip), t);
		below += ones[_mm_movemask_ps(_mm_castsi128_ps(lt))];
	}
	uint32_t prev = (uint32_t)_mm_cvtsi128_si32(carry);
#else
	uint32_t prev = base - 1;
#endif
	for (; i < n; i++) {
		prev = v[i] = prev + v[i] + 1;
		below += prev < target;
	}
	return below;
}

/* The index of the first of v[i..] that is >= target; one of them is, and
 * v[i] < target. */
static inline uint32_t first_geq(const uint32_t *v, uint32_t i, uint32_t target)
{
#ifdef __SSE2__
	/* four at a time, compared as signed after flipping the top bit; v has
	 * room for four reads past its last id (idx_pcur.docs is padded) */
	const __m128i flip = _mm_set1_epi32((int)0x80000000u);
	const __m128i t = _mm_set1_epi32((int)(target ^ 0x80000000u));
	for (;; i += 4) {
		__m128i x = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)(v + i)), flip);
		unsigned below = (unsigned)_mm_movemask_ps(_mm_castsi128_ps(_mm_cmplt_epi32(x, t)));
		if (below != 0xf)
			return i + (unsigned)__builtin_ctz(~below);
	}
#else
	while (v[i] < target)
		i++;
	return i;
#endif
}

/* Decodes block b's doc ids; leaves c at its first doc >= target (the
 * caller knows that the block has one: its last doc is >= target). */
static void load_block(idx_pcur *c, uint32_t b, uint32_t target)
{
	const idx_plist *pl = &c->pl;
	uint32_t off = 0;
	uint64_t base = 0;
	if (pl->skips) {
		const uint8_t *e = pl->skips + (size_t)b * IDX_SKIP_ENTRY;
		off = rd32(e + 4);
		if (b > 0)
			base = (uint64_t)skip_last(pl, b - 1) + 1;
	}
	const uint8_t *p = pl->blocks + off;
	uint32_t n = b + 1 < pl->nblocks ? IDX_BLOCK : pl->df - b * IDX_BLOCK;
	/* tf widths stop at 24 (tfs are capped at 2^24 - 1), which keeps the
	 * count of a block's positions (the sum of its tfs) within 31 bits */
	if (off > (size_t)(pl->end - pl->blocks) || pl->end - p < 2 || p[0] > 32 ||
	    (p[1] & ~IDX_TF_EXCEPTIONS) > 24) {
		set_corrupt(c);
		return;
	}
	size_t db = idx_packed_bytes(n, p[0]), tb = idx_packed_bytes(n, p[1] & ~IDX_TF_EXCEPTIONS);
	if ((size_t)(pl->end - p) < 2 + db + tb) {
		set_corrupt(c);
		return;
	}
	idx_unpack(c->docs, p + 2, n, p[0]);
	uint64_t d;
	uint32_t below = 0;
	/* damaged deltas must neither wrap around (ids would go backwards) nor
	 * reach IDX_END (the cursor would look exhausted): when the widest
	 * deltas could, the sum is taken in 64 bits */
	if (base + ((uint64_t)n << p[0]) < IDX_END) {
		below = prefix_sum(c->docs, n, (uint32_t)base, target);
		d = c->docs[n - 1];
	} else {
		d = base + c->docs[0];
		c->docs[0] = (uint32_t)d;
		below = d < target;
		for (uint32_t i = 1; i < n; i++) {
			d += (uint64_t)c->docs[i] + 1;
			c->docs[i] = (uint32_t)d;
			below += d < target;
		}
	}
	for (uint32_t i = n; i < n + 4; i++)
		c->docs[i] = IDX_END; /* what first_geq may read past the last */
	if (d >= IDX_END || (pl->skips && d != skip_last(pl, b)) || below >= n) {
		set_corrupt(c);
		return;
	}
	c->blk = b;
	c->n = n;
	c->i = below;
	c->tfp = p + 2 + db;
	c->tf_bits = p[1];
	c->tf_len = tb;
	c->tf_ready = 0;
	c->cum_n = 0;
	c->cum[0] = 0;
	c->blk_last = (uint32_t)d;
	c->doc = c->docs[below];
}

void idx_pcur_init(idx_pcur *c, const idx_plist *pl, const void *pos, size_t poslen)
{
	c->pl = *pl;
	c->corrupt = 0;
	c->pos = pos;
	c->pos_end = pos ? (const uint8_t *)pos + poslen : NULL;
	load_block(c, 0, 0);
}

uint32_t idx_pcur_next(idx_pcur *c)
{
	if (++c->i < c->n)
		return c->doc = c->docs[c->i];
	if (c->doc == IDX_END || c->blk + 1 >= c->pl.nblocks) {
		set_end(c);
		return IDX_END;
	}
	load_block(c, c->blk + 1, 0);
	return c->doc;
}

/* First block after the current one whose last doc is >= target, or nblocks. */
static uint32_t find_block(const idx_pcur *c, uint32_t target)
{
	const idx_plist *pl = &c->pl;
	uint32_t lo = c->blk + 1, nb = pl->nblocks;
	if (!pl->skips)
		return nb;
	/* gallop, then binary search */
	uint32_t step = 1, hi = lo;
	while (hi < nb && skip_last(pl, hi) < target) {
		lo = hi + 1;
		hi += step;
		step <<= 1;
	}
	if (hi > nb)
		hi = nb;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (skip_last(pl, mid) < target)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

uint32_t idx_pcur_advance(idx_pcur *c, uint32_t target)
{
	if (target <= c->doc)
		return c->doc;
	if (target > c->blk_last) {
		uint32_t b = find_block(c, target);
		if (b >= c->pl.nblocks) {
			c->blk = c->pl.nblocks;
			set_end(c);
			return IDX_END;
		}
		load_block(c, b, target);
		return c->doc;
	}
	uint32_t i = first_geq(c->docs, c->i, target);
	c->i = i;
	return c->doc = c->docs[i];
}

uint32_t idx_pcur_tf(idx_pcur *c)
{
	if (!c->tf_ready) {
		uint32_t bits = c->tf_bits & ~IDX_TF_EXCEPTIONS;
		idx_unpack(c->tfs, c->tfp, c->n, bits);
		if (c->tf_bits & IDX_TF_EXCEPTIONS) {
			const uint8_t *p = c->tfp + c->tf_len, *end = c->pl.end;
			uint32_t nexc = p < end ? *p++ : 0;
			for (uint32_t e = 0; e < nexc; e++) {
				uint64_t hi;
				uint32_t at = p < end ? *p : IDX_BLOCK;
				if (at >= c->n || bits >= 32 || !(p = idx_varint_get(p + 1, end, &hi)) ||
				    hi > (LIMIT_TF >> bits)) {
					c->corrupt = 1;
					break;
				}
				c->tfs[at] |= (uint32_t)hi << bits;
			}
		}
		for (uint32_t i = 0; i < c->n; i++)
			c->tfs[i] += 1;
		c->tf_ready = 1;
	}
	return c->tfs[c->i];
}

float idx_pcur_bound(const idx_pcur *c, uint32_t target, uint32_t *upto)
{
	if (c->doc == IDX_END) {
		*upto = IDX_END;
		return -1;
	}
	if (target <= c->blk_last) {
		*upto = c->blk_last;
		return c->pl.skips ? rdbf16(c->pl.skips + (size_t)c->blk * IDX_SKIP_ENTRY + 12)
		                   : c->pl.max_tf;
	}
	uint32_t b = find_block(c, target);
	if (b >= c->pl.nblocks) {
		*upto = IDX_END;
		return -1;
	}
	*upto = skip_last(&c->pl, b);
	return rdbf16(c->pl.skips + (size_t)b * IDX_SKIP_ENTRY + 12);
}

/* Value i of a packed group at in (bits wide; the group is whole before
 * end): one 8-byte load when 8 bytes are there to read, which they are
 * for all but the last few values of a positions value. */
static inline uint32_t unpack_at(const uint8_t *in, const uint8_t *end, uint32_t i, uint32_t bits)
{
	uint64_t o = (uint64_t)i * bits;
	const uint8_t *p = in + (o >> 3);
	if (bits == 0 || end - p < 8)
		return idx_unpack_one(in, i, bits);
	uint64_t v;
	memcpy(&v, p, 8);
	return (uint32_t)((v >> (o & 7)) & (((uint64_t)1 << bits) - 1));
}

/* Makes c->cum[0..upto] (upto <= c->n), the sums of the tfs before each
 * doc of the block, as far as they are not made yet. It cannot wrap: 128
 * tfs of at most 2^24. */
static void cum_upto(idx_pcur *c, uint32_t upto)
{
	if (c->cum_n < upto) {
		uint32_t k = c->cum_n, sum = c->cum[k];
		for (; k < upto; k++)
			c->cum[k + 1] = sum += c->tfs[k];
		c->cum_n = (uint8_t)k;
	}
}

void idx_pcur_prefetch_positions(idx_pcur *c)
{
	if (!c->pos || c->doc == IDX_END || !c->pl.skips)
		return;
	idx_pcur_tf(c);
	if (c->corrupt)
		return;
	const uint8_t *e = c->pl.skips + (size_t)c->blk * IDX_SKIP_ENTRY;
	size_t len = (size_t)(c->pos_end - c->pos);
	size_t off = rd32(e + 8);
	size_t next = c->blk + 1 < c->pl.nblocks ? rd32(e + IDX_SKIP_ENTRY + 8) : len;
	if (off >= len || next > len || next <= off)
		return; /* damaged: idx_pcur_positions says so */
	/* The block's positions are groups of 128 values of about equal size:
	 * fetch the header of each group the walk crosses and the lines of the
	 * doc's own values, where that size puts them. */
	cum_upto(c, c->n);
	uint32_t first = c->cum[c->i], npos = c->cum[c->n];
	size_t groups = (npos + IDX_BLOCK - 1) / IDX_BLOCK;
	size_t gsize = (next - off) / (groups ? groups : 1);
	size_t g = first / IDX_BLOCK;
	for (size_t k = 0; k <= g && k < 8; k++)
		__builtin_prefetch(c->pos + off + k * gsize);
	size_t at = off + g * gsize + 1 + (first % IDX_BLOCK) * (gsize - 1) / IDX_BLOCK;
	if (at < len) {
		__builtin_prefetch(c->pos + at);
		if (at + 64 < len)
			__builtin_prefetch(c->pos + at + 64);
	}
}

uint32_t idx_pcur_positions(idx_pcur *c, uint32_t *out, uint32_t cap)
{
	if (!c->pos || c->doc == IDX_END)
		return 0;
	idx_pcur_tf(c);
	if (c->corrupt)
		return 0;
	/* where the doc's positions start: the sum of the tfs before it, made
	 * as far as the cursor has gone (a phrase reads few docs of a block) */
	cum_upto(c, c->i + 1);
	uint32_t off = c->pl.skips ? rd32(c->pl.skips + (size_t)c->blk * IDX_SKIP_ENTRY + 8) : 0;
	if (off >= (size_t)(c->pos_end - c->pos))
		return 0;
	const uint8_t *g = c->pos + off;
	uint32_t first = c->cum[c->i], tf = c->tfs[c->i];
	/* Groups of 128 positions; the ones before the doc's first position,
	 * and any its positions run past, are whole: 1 + 16 * width bytes.
	 * Within a group, only the bytes up to the value read are checked. */
	uint32_t gstart = 0;
	while (first >= gstart + IDX_BLOCK) {
		if (g >= c->pos_end || g[0] > 32 ||
		    (size_t)(c->pos_end - g) < 1 + idx_packed_bytes(IDX_BLOCK, g[0]))
			return 0;
		g += 1 + idx_packed_bytes(IDX_BLOCK, g[0]);
		gstart += IDX_BLOCK;
	}
	uint32_t p = 0;
	for (uint32_t j = 0; j < tf && j < cap; j++) {
		uint32_t k = first + j;
		if (k == first || k == gstart + IDX_BLOCK) {
			if (k == gstart + IDX_BLOCK) { /* next group */
				g += 1 + idx_packed_bytes(IDX_BLOCK, g[0]);
				gstart += IDX_BLOCK;
			}
			/* the group's values this doc reads: up to last */
			uint32_t last = first + tf - 1 < gstart + IDX_BLOCK - 1 ? first + tf - 1
			                                                        : gstart + IDX_BLOCK - 1;
			if (g >= c->pos_end || g[0] > 32 ||
			    (size_t)(c->pos_end - g) < 1 + idx_packed_bytes(last - gstart + 1, g[0]))
				return 0;
		}
		uint32_t v = unpack_at(g + 1, c->pos_end, k - gstart, g[0]);
		p = j == 0 ? v : p + v + 1;
		out[j] = p;
	}
	return tf;
}

float idx_plist_max(const idx_plist *pl, const uint8_t *norms, const float *ktab, float k1)
{
	if (pl->max_tf >= 0)
		return pl->max_tf;
	idx_pcur c;
	idx_pcur_init(&c, pl, NULL, 0);
	float m = 0;
	if (c.doc == IDX_END)
		return 0;
	idx_pcur_tf(&c);
	for (uint32_t i = 0; i < c.n; i++) {
		float s = idx_bm25_tf(c.tfs[i], k1, ktab[norms[c.docs[i]]]);
		if (s > m)
			m = s;
	}
	return m;
}

int idx_pcur_each_block(const idx_plist *pl, void (*cb)(void *ctx, const uint32_t *docs, uint32_t n),
                        void *ctx)
{
	idx_pcur c;
	idx_pcur_init(&c, pl, NULL, 0);
	while (c.doc != IDX_END) {
		cb(ctx, c.docs, c.n);
		if (c.blk + 1 >= c.pl.nblocks)
			break;
		load_block(&c, c.blk + 1, 0);
	}
	return c.corrupt;
}
