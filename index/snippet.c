/*
 * snippet.c - the best-matching fragment of a text field, with the query's
 * terms marked. The field is analysed again with its own analyzer, so that
 * stems and folded forms match exactly what the query searched for.
 */
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "search.h"

typedef struct stok {
	uint32_t start, end;
	int term; /* index of the matched query term, or -1 */
} stok;

typedef struct sctx {
	const idx_lquery *q;
	uint8_t fid;
	stok *t;
	uint32_t n, cap;
	int failed;
} sctx;

static int match_term(const sctx *c, const idx_token *tok)
{
	for (uint32_t i = 0; i < c->q->nhterms; i++) {
		const idx_hterm *h = &c->q->hterms[i];
		if (h->fid != c->fid)
			continue;
		if (h->prefix ? tok->len >= h->len && !memcmp(tok->text, h->text, h->len)
		              : tok->len == h->len && !memcmp(tok->text, h->text, h->len))
			return (int)i;
	}
	return -1;
}

static int on_tok(void *ctx, const idx_token *tok)
{
	sctx *c = ctx;
	if (c->n == c->cap) {
		uint32_t nc = c->cap ? c->cap * 2 : 256;
		stok *p = realloc(c->t, nc * sizeof *p);
		if (!p) {
			c->failed = 1;
			return 1;
		}
		c->t = p;
		c->cap = nc;
	}
	c->t[c->n++] = (stok){tok->start, tok->end, match_term(c, tok)};
	return 0;
}

/* Bytes of the first max_chars UTF-8 characters of s[0..len). */
static size_t utf8_prefix(const char *s, size_t len, size_t max_chars)
{
	size_t i = 0, chars = 0;
	while (i < len && chars < max_chars) {
		i++;
		while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
			i++;
		chars++;
	}
	return i;
}

static size_t utf8_chars(const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xC0) != 0x80;
	return n;
}

int idx_snippet(idx_analyzer *an, const idx_lquery *q, uint8_t fid, const char *text, size_t len,
                const char *pre, const char *post, size_t max_chars, tbuf *out)
{
	sctx c = {q, fid, NULL, 0, 0, 0};
	int rc = idx_analyze(an, text, len, 0, NULL, on_tok, &c);
	if (c.failed || rc) {
		free(c.t);
		return TRAWL_ENOMEM;
	}
	/* best window of tokens spanning at most max_chars characters: most
	 * distinct terms, then most matches, then earliest */
	uint32_t best_lo = 0, best_hi = 0;
	long best = -1;
	uint64_t seen[16];
	for (uint32_t lo = 0, hi = 0; lo < c.n; lo++) {
		if (c.t[lo].term < 0 && lo > 0)
			continue; /* windows start at a match (or at the beginning) */
		if (hi < lo)
			hi = lo;
		while (hi + 1 < c.n &&
		       utf8_chars(text + c.t[lo].start, c.t[hi + 1].end - c.t[lo].start) <= max_chars)
			hi++;
		memset(seen, 0, sizeof seen);
		long distinct = 0, matches = 0;
		for (uint32_t i = lo; i <= hi; i++) {
			int t = c.t[i].term;
			if (t < 0)
				continue;
			matches++;
			uint32_t bit = (uint32_t)t % 1024;
			if (!(seen[bit / 64] & (1ull << (bit % 64)))) {
				seen[bit / 64] |= 1ull << (bit % 64);
				distinct++;
			}
		}
		long score = distinct * 100000 + matches;
		if (score > best) {
			best = score;
			best_lo = lo;
			best_hi = hi;
		}
	}
	if (c.n == 0 || best <= 0) {
		/* nothing matched: the field's beginning */
		size_t n = utf8_prefix(text, len, max_chars);
		rc = tbuf_append(out, text, n);
		if (!rc && n < len)
			rc = tbuf_append(out, "…", strlen("…"));
		free(c.t);
		return rc;
	}
	/* start the fragment at the window's first token, or at the field's start
	 * when that is close enough */
	size_t from = c.t[best_lo].start, to = c.t[best_hi].end;
	if (utf8_chars(text, to) <= max_chars)
		from = 0;
	if (from > 0)
		rc = tbuf_append(out, "…", strlen("…"));
	size_t at = from;
	for (uint32_t i = best_lo; i <= best_hi && !rc; i++) {
		if (c.t[i].term < 0 || c.t[i].start < from)
			continue;
		rc = tbuf_append(out, text + at, c.t[i].start - at);
		if (!rc)
			rc = tbuf_append(out, pre, strlen(pre));
		if (!rc)
			rc = tbuf_append(out, text + c.t[i].start, c.t[i].end - c.t[i].start);
		if (!rc)
			rc = tbuf_append(out, post, strlen(post));
		at = c.t[i].end;
	}
	if (!rc)
		rc = tbuf_append(out, text + at, to - at);
	if (!rc && to < len)
		rc = tbuf_append(out, "…", strlen("…"));
	free(c.t);
	return rc;
}
