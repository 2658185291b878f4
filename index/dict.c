/*
 * dict.c - the front-coded term dictionary (see dict.h and docs/FORMAT.md).
 *
 * An entry: varint shared prefix length (0 at a block start), varint suffix
 * length, the suffix, varint df, varint df_global - df, varint postings
 * length, varint positions length. Offsets are not stored: each term's data
 * follows the previous one's, so a scan adds lengths up from the block start.
 */
#include "dict.h"

#include <string.h>

#include "codec.h"
#include "trawl/trawl.h"

void idx_dictw_init(idx_dictw *w)
{
	memset(w, 0, sizeof *w);
	tbuf_init(&w->dict, (size_t)1 << 32);
	tbuf_init(&w->index, (size_t)1 << 32);
}

void idx_dictw_fini(idx_dictw *w)
{
	tbuf_fini(&w->dict);
	tbuf_fini(&w->index);
}

static int put_varint(tbuf *b, uint64_t v)
{
	uint8_t tmp[10];
	return tbuf_append(b, tmp, idx_varint_put(tmp, v));
}

int idx_dictw_add(idx_dictw *w, const uint8_t *key, uint32_t klen, uint32_t df, uint64_t df_global,
                  uint64_t post_len, uint64_t pos_len)
{
	if (klen == 0 || klen > LIMIT_KEY_BYTES || df_global < df)
		return TRAWL_EINVAL;
	uint32_t shared = 0;
	int rc;
	if (w->n % IDX_DICT_BLOCK == 0) {
		if (w->dict.len > UINT32_MAX)
			return TRAWL_ELIMIT;
		uint8_t e[IDX_DICT_INDEX_ENTRY];
		uint32_t off = (uint32_t)w->dict.len;
		memcpy(e, &off, 4);
		memcpy(e + 4, &w->post_off, 8);
		memcpy(e + 12, &w->pos_off, 8);
		if ((rc = tbuf_append(&w->index, e, sizeof e)))
			return rc;
	} else {
		uint32_t m = klen < w->prevlen ? klen : w->prevlen;
		while (shared < m && key[shared] == w->prev[shared])
			shared++;
	}
	if ((rc = put_varint(&w->dict, shared)) || (rc = put_varint(&w->dict, klen - shared)) ||
	    (rc = tbuf_append(&w->dict, key + shared, klen - shared)) ||
	    (rc = put_varint(&w->dict, df)) || (rc = put_varint(&w->dict, df_global - df)) ||
	    (rc = put_varint(&w->dict, post_len)) || (rc = put_varint(&w->dict, pos_len)))
		return rc;
	memcpy(w->prev, key, klen);
	w->prevlen = klen;
	w->post_off += post_len;
	w->pos_off += pos_len;
	w->n++;
	return TRAWL_OK;
}

/* ---- reading ---- */

/* A cursor in one block (idx_dict_iter's fields: the iterator walks from
 * block to block). */
typedef idx_dict_iter cursor;

static void block_start(const idx_dict *d, uint32_t b, uint32_t *off, uint64_t *po, uint64_t *xo)
{
	const uint8_t *e = d->index + (size_t)b * IDX_DICT_INDEX_ENTRY;
	memcpy(off, e, 4);
	memcpy(po, e + 4, 8);
	memcpy(xo, e + 12, 8);
}

static int cursor_at_block(cursor *c, const idx_dict *d, uint32_t b)
{
	uint32_t off;
	c->d = d;
	c->block = b;
	block_start(d, b, &off, &c->post_off, &c->pos_off);
	if (off > d->dict_len)
		return -1;
	c->p = d->dict + off;
	/* the block ends where the next one starts */
	if (b + 1 < d->nblocks) {
		uint32_t next;
		memcpy(&next, d->index + (size_t)(b + 1) * IDX_DICT_INDEX_ENTRY, 4);
		if (next < off || next > d->dict_len)
			return -1;
		c->end = d->dict + next;
	} else {
		c->end = d->dict + d->dict_len;
	}
	c->klen = 0;
	return 0;
}

/* Decodes the next entry: 1 ok, 0 end of block, -1 damaged. */
static int cursor_next(cursor *c)
{
	if (c->p >= c->end)
		return 0;
	uint64_t shared, suffix, df, extra, pl, xl;
	const uint8_t *p = c->p;
	if (!(p = idx_varint_get(p, c->end, &shared)) || !(p = idx_varint_get(p, c->end, &suffix)))
		return -1;
	if (shared > c->klen || shared + suffix > LIMIT_KEY_BYTES || shared + suffix == 0 ||
	    (uint64_t)(c->end - p) < suffix)
		return -1;
	memcpy(c->key + shared, p, suffix);
	c->klen = (uint32_t)(shared + suffix);
	p += suffix;
	if (!(p = idx_varint_get(p, c->end, &df)) || !(p = idx_varint_get(p, c->end, &extra)) ||
	    !(p = idx_varint_get(p, c->end, &pl)) || !(p = idx_varint_get(p, c->end, &xl)))
		return -1;
	const idx_dict *d = c->d;
	if (df == 0 || df > UINT32_MAX || extra > UINT64_MAX - df || c->post_off > d->post_len ||
	    pl > d->post_len - c->post_off || c->pos_off > d->pos_len ||
	    xl > d->pos_len - c->pos_off)
		return -1;
	c->t.df = (uint32_t)df;
	c->t.df_global = df + extra;
	c->t.post = d->post + c->post_off;
	c->t.post_len = pl;
	c->t.pos = d->pos + c->pos_off;
	c->t.pos_len = xl;
	c->post_off += pl;
	c->pos_off += xl;
	c->p = p;
	return 1;
}

static int keycmp(const uint8_t *a, uint32_t al, const uint8_t *b, uint32_t bl)
{
	uint32_t n = al < bl ? al : bl;
	int r = memcmp(a, b, n);
	return r ? r : (al > bl) - (al < bl);
}

/* The first key of block b (a block starts with its full key). */
static int first_key(const idx_dict *d, uint32_t b, const uint8_t **key, uint64_t *klen)
{
	uint32_t off;
	uint64_t po, xo, shared;
	block_start(d, b, &off, &po, &xo);
	const uint8_t *end = d->dict + d->dict_len, *p = d->dict + off;
	if (off > d->dict_len || !(p = idx_varint_get(p, end, &shared)) || shared != 0 ||
	    !(p = idx_varint_get(p, end, klen)) || *klen > LIMIT_KEY_BYTES ||
	    (uint64_t)(end - p) < *klen)
		return -1;
	*key = p;
	return 0;
}

/* The last block whose first key is <= key, or -1 if key sorts first. */
static long find_block(const idx_dict *d, const uint8_t *key, uint32_t klen, int *damaged)
{
	long lo = 0, hi = (long)d->nblocks - 1, ans = -1;
	while (lo <= hi) {
		long mid = lo + (hi - lo) / 2;
		const uint8_t *fk;
		uint64_t fl;
		if (first_key(d, (uint32_t)mid, &fk, &fl)) {
			*damaged = 1;
			return -1;
		}
		if (keycmp(fk, (uint32_t)fl, key, klen) <= 0) {
			ans = mid;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	return ans;
}

int idx_dict_check(const idx_dict *d)
{
	if (!d->nblocks)
		return d->dict_len == 0 ? TRAWL_OK : TRAWL_ECORRUPT;
	uint32_t prev = 0;
	for (uint32_t b = 0; b < d->nblocks; b++) {
		uint32_t off;
		uint64_t po, xo;
		block_start(d, b, &off, &po, &xo);
		if (off > d->dict_len || off < prev || po > d->post_len || xo > d->pos_len ||
		    (b == 0 && off != 0))
			return TRAWL_ECORRUPT;
		prev = off;
	}
	return TRAWL_OK;
}

int idx_dict_get(const idx_dict *d, const uint8_t *key, uint32_t klen, idx_term *out)
{
	int damaged = 0;
	long b = find_block(d, key, klen, &damaged);
	if (damaged)
		return TRAWL_ECORRUPT;
	if (b < 0)
		return TRAWL_ENOTFOUND;
	cursor c;
	if (cursor_at_block(&c, d, (uint32_t)b))
		return TRAWL_ECORRUPT;
	int r;
	while ((r = cursor_next(&c)) == 1) {
		int cmp = keycmp(c.key, c.klen, key, klen);
		if (cmp == 0) {
			*out = c.t;
			return TRAWL_OK;
		}
		if (cmp > 0)
			return TRAWL_ENOTFOUND;
	}
	return r < 0 ? TRAWL_ECORRUPT : TRAWL_ENOTFOUND;
}

int idx_dict_scan(const idx_dict *d, const uint8_t *prefix, uint32_t plen, idx_dict_cb cb,
                  void *ctx)
{
	int damaged = 0;
	long b = plen ? find_block(d, prefix, plen, &damaged) : 0;
	if (damaged)
		return -TRAWL_ECORRUPT;
	if (b < 0)
		b = 0;
	for (; (uint32_t)b < d->nblocks; b++) {
		cursor c;
		if (cursor_at_block(&c, d, (uint32_t)b))
			return -TRAWL_ECORRUPT;
		int r;
		while ((r = cursor_next(&c)) == 1) {
			int cmp = plen ? memcmp(c.key, prefix, c.klen < plen ? c.klen : plen) : 0;
			if (cmp < 0 || (cmp == 0 && c.klen < plen))
				continue; /* before the prefix */
			if (cmp > 0)
				return 0; /* past it */
			int ret = cb(ctx, c.key, c.klen, &c.t);
			if (ret)
				return ret;
		}
		if (r < 0)
			return -TRAWL_ECORRUPT;
	}
	return 0;
}

void idx_dict_iter_init(idx_dict_iter *it, const idx_dict *d)
{
	memset(it, 0, sizeof *it);
	it->d = d;
	it->block = UINT32_MAX; /* none begun: the first call begins block 0 */
}

int idx_dict_iter_next(idx_dict_iter *it)
{
	const idx_dict *d = it->d;
	for (;;) {
		if (it->block != UINT32_MAX) {
			int r = cursor_next(it);
			if (r)
				return r;
		}
		/* the block is done: the next one, if any (after the last,
		 * block stays there and p at its end, so later calls return 0) */
		uint32_t b = it->block == UINT32_MAX ? 0 : it->block + 1;
		if (b >= d->nblocks)
			return 0;
		if (cursor_at_block(it, d, b))
			return -1;
	}
}
