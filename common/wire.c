/*
 * wire.c - encoding and decoding of the messages between root and leaves
 * (contract in wire.h, bytes in docs/WIRE.md).
 *
 * Encoders validate the struct, compute the exact size of the message,
 * reserve it in the tbuf in one step and then write it, so a failure leaves
 * the tbuf untouched. Decoders read through a bounds-checked cursor; every
 * length and count is checked against its limit before the bytes it
 * announces are read. The range checks are shared by both directions (only
 * the error code differs: ELIMIT when encoding, EINVAL when decoding), so
 * that everything an encoder writes a decoder accepts and the other way
 * round. The encoding is canonical: decoding and re-encoding a message gives
 * back the same bytes.
 */
#include "wire.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/qtree.h"
#include "trawl/trawl.h"

#define TRY(x)                                                                                     \
	do {                                                                                       \
		int rc_ = (x);                                                                     \
		if (rc_ != TRAWL_OK)                                                               \
			return rc_;                                                                \
	} while (0)

/* ---- little-endian access (the buffer may be unaligned) ---- */

static uint16_t ld16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}

static uint32_t ld32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t ld64(const uint8_t *p)
{
	return (uint64_t)ld32(p) | (uint64_t)ld32(p + 4) << 32;
}

static uint8_t *st8(uint8_t *p, uint8_t v)
{
	*p = v;
	return p + 1;
}

static uint8_t *st16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	return p + 2;
}

static uint8_t *st32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return p + 4;
}

static uint8_t *st64(uint8_t *p, uint64_t v)
{
	st32(p, (uint32_t)v);
	return st32(p + 4, (uint32_t)(v >> 32));
}

static uint8_t *stbytes(uint8_t *p, const void *src, size_t n)
{
	if (n)
		memcpy(p, src, n);
	return p + n;
}

static uint32_t float_bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	return u;
}

static float bits_float(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

/* NaN or an infinity: the exponent bits are all ones. */
static int bits_nonfinite(uint32_t u)
{
	return (u & 0x7f800000u) == 0x7f800000u;
}

/* ---- error context ---- */

typedef struct wctx {
	const char *what; /* message type, the first word of every error */
	char *err;
	size_t errlen;
	int over_rc; /* returned for a value above its limit: ELIMIT encoding, EINVAL decoding */
	/* decoding only: the message and the read position */
	const uint8_t *base, *p, *end;
} wctx;

static int fail(wctx *c, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(wctx *c, int rc, const char *fmt, ...)
{
	if (c->err && c->errlen) {
		int n = snprintf(c->err, c->errlen, "%s: ", c->what);
		if (n >= 0 && (size_t)n < c->errlen) {
			va_list ap;
			va_start(ap, fmt);
			verrf(c->err + n, c->errlen - (size_t)n, rc, fmt, ap);
			va_end(ap);
		}
	}
	return rc;
}

static void enc_ctx(wctx *c, int type)
{
	memset(c, 0, sizeof *c);
	c->what = wire_type_name(type);
	c->over_rc = TRAWL_ELIMIT;
}

/* ---- checks shared by encoders and decoders ---- */

/* check_count: a number of items, in [min, max]. */
static int check_count(wctx *c, const char *name, uint64_t v, uint64_t min, uint64_t max)
{
	if (v > max)
		return fail(c, c->over_rc, "%s is %" PRIu64 "; the limit is %" PRIu64, name, v,
		            max);
	if (v < min)
		return fail(c, TRAWL_EINVAL, "%s is %" PRIu64 "; it must be %" PRIu64 "..%" PRIu64,
		            name, v, min, max);
	return TRAWL_OK;
}

/* check_len: a length in bytes, in [min, max]. */
static int check_len(wctx *c, const char *name, uint64_t len, uint64_t min, uint64_t max)
{
	if (len > max)
		return fail(c, c->over_rc, "%s is %" PRIu64 " bytes; the limit is %" PRIu64, name,
		            len, max);
	if (len < min)
		return fail(c, TRAWL_EINVAL,
		            "%s is %" PRIu64 " bytes; it must have %" PRIu64 "..%" PRIu64 " bytes",
		            name, len, min, max);
	return TRAWL_OK;
}

/* check_ptr (encoding): data for a nonzero length. */
static int check_ptr(wctx *c, const char *name, const void *p, uint64_t len)
{
	if (!p && len)
		return fail(c, TRAWL_EINVAL, "%s is NULL but its length is %" PRIu64, name, len);
	return TRAWL_OK;
}

static int check_shard(wctx *c, const char *name, uint32_t i, uint32_t shard)
{
	if (shard >= TRAWL_MAX_SHARDS)
		return fail(c, TRAWL_EINVAL,
		            "%s[%" PRIu32 "] has shard %" PRIu32 "; shard numbers are 0..%d", name,
		            i, shard, TRAWL_MAX_SHARDS - 1);
	return TRAWL_OK;
}

/* check_shards: n shard numbers, each < TRAWL_MAX_SHARDS and distinct. */
static int check_shards(wctx *c, const uint16_t *shards, uint32_t n)
{
	uint8_t seen[TRAWL_MAX_SHARDS / 8] = {0};
	for (uint32_t i = 0; i < n; i++) {
		if (shards[i] >= TRAWL_MAX_SHARDS)
			return fail(c, TRAWL_EINVAL,
			            "shards[%" PRIu32 "] is %u; shard numbers are 0..%d", i,
			            (unsigned)shards[i], TRAWL_MAX_SHARDS - 1);
		uint8_t bit = (uint8_t)(1u << (shards[i] & 7));
		if (seen[shards[i] >> 3] & bit)
			return fail(c, TRAWL_EINVAL,
			            "shard %u is listed twice (again at shards[%" PRIu32 "])",
			            (unsigned)shards[i], i);
		seen[shards[i] >> 3] |= bit;
	}
	return TRAWL_OK;
}

static int check_score(wctx *c, uint32_t i, uint32_t bits)
{
	if (bits_nonfinite(bits))
		return fail(c, TRAWL_EINVAL,
		            "hits[%" PRIu32 "] has a score that is not finite (0x%08" PRIx32 ")", i,
		            bits);
	return TRAWL_OK;
}

static int check_bool(wctx *c, const char *name, unsigned v, const char *meaning)
{
	if (v > 1)
		return fail(c, TRAWL_EINVAL, "%s is %u; it must be 0 or 1 (%s)", name, v, meaning);
	return TRAWL_OK;
}

/* check_tree: a query tree of len bytes at tree (min 0: may be absent),
 * whose every rule and limit holds (common/qtree.h). */
static int check_tree(wctx *c, const uint8_t *tree, uint32_t len, uint32_t min)
{
	TRY(check_len(c, "tree", len, min, TRAWL_MAX_QUERY_TREE_BYTES));
	TRY(check_ptr(c, "tree", tree, len));
	char why[256];
	if (len && qt_validate(tree, len, why, sizeof why) != TRAWL_OK) {
		if (c->base) /* decoding: say where the tree starts */
			return fail(c, TRAWL_EINVAL, "the tree at offset %zu is not valid: %s",
			            (size_t)(tree - c->base), why);
		return fail(c, TRAWL_EINVAL, "the tree is not valid: %s", why);
	}
	return TRAWL_OK;
}

/* ---- decoding cursor ---- */

static void dec_ctx(wctx *c, int type, const void *buf, size_t len, char *err, size_t errlen)
{
	c->what = wire_type_name(type);
	c->err = err;
	c->errlen = errlen;
	c->over_rc = TRAWL_EINVAL;
	c->base = c->p = buf;
	c->end = buf ? c->base + len : c->base; /* NULL reads as an empty message */
}

static size_t offset(const wctx *c)
{
	return (size_t)(c->p - c->base);
}

/* need: n more bytes, holding `field`, must be in the message. */
static int need(wctx *c, uint64_t n, const char *field)
{
	if ((uint64_t)(c->end - c->p) < n)
		return fail(c, TRAWL_EINVAL,
		            "message ends inside %s (%" PRIu64
		            " byte%s needed at offset %zu; the message has %zu)",
		            field, n, n == 1 ? "" : "s", offset(c), (size_t)(c->end - c->base));
	return TRAWL_OK;
}

static int rd8(wctx *c, const char *field, uint8_t *v)
{
	TRY(need(c, 1, field));
	*v = *c->p++;
	return TRAWL_OK;
}

static int rd16(wctx *c, const char *field, uint16_t *v)
{
	TRY(need(c, 2, field));
	*v = ld16(c->p);
	c->p += 2;
	return TRAWL_OK;
}

static int rd32(wctx *c, const char *field, uint32_t *v)
{
	TRY(need(c, 4, field));
	*v = ld32(c->p);
	c->p += 4;
	return TRAWL_OK;
}

static int rd64(wctx *c, const char *field, uint64_t *v)
{
	TRY(need(c, 8, field));
	*v = ld64(c->p);
	c->p += 8;
	return TRAWL_OK;
}

/* rdbytes: n bytes of `field`, returned in place (no copy). */
static int rdbytes(wctx *c, const char *field, uint64_t n, const uint8_t **out)
{
	TRY(need(c, n, field));
	*out = c->p;
	c->p += n;
	return TRAWL_OK;
}

/* rdreserved: a u8 or u16 reserved field, which must be 0. */
static int rdreserved(wctx *c, int bytes)
{
	size_t at = offset(c);
	uint16_t v16 = 0;
	uint8_t v8 = 0;
	if (bytes == 1)
		TRY(rd8(c, "a reserved field", &v8));
	else
		TRY(rd16(c, "a reserved field", &v16));
	unsigned v = bytes == 1 ? v8 : v16;
	if (v != 0)
		return fail(c, TRAWL_EINVAL, "reserved field at offset %zu is 0x%x; it must be 0",
		            at, v);
	return TRAWL_OK;
}

/* rdstr: a length of lenbytes (1, 2 or 4), checked against [min, max], then the
 * bytes themselves. */
static int rdstr(wctx *c, const char *field, int lenbytes, uint32_t min, uint32_t max,
                 const char **s, uint32_t *len)
{
	char lenfield[64];
	snprintf(lenfield, sizeof lenfield, "the length of %s", field);
	uint32_t n;
	if (lenbytes == 1) {
		uint8_t n8;
		TRY(rd8(c, lenfield, &n8));
		n = n8;
	} else if (lenbytes == 2) {
		uint16_t n16;
		TRY(rd16(c, lenfield, &n16));
		n = n16;
	} else {
		TRY(rd32(c, lenfield, &n));
	}
	TRY(check_len(c, field, n, min, max));
	const uint8_t *p;
	TRY(rdbytes(c, field, n, &p));
	*s = (const char *)p;
	*len = n;
	return TRAWL_OK;
}

/* rdtree: a u32 length (min..TRAWL_MAX_QUERY_TREE_BYTES), then a query tree
 * of that many bytes, checked through. */
static int rdtree(wctx *c, uint32_t min, const uint8_t **tree, uint32_t *len)
{
	const char *s;
	TRY(rdstr(c, "tree", 4, min, TRAWL_MAX_QUERY_TREE_BYTES, &s, len));
	*tree = (const uint8_t *)s;
	return check_tree(c, *tree, *len, min);
}

/* finish: the body must end where the message does. */
static int finish(wctx *c)
{
	if (c->p != c->end)
		return fail(c, TRAWL_EINVAL,
		            "the body ends at offset %zu but the message has %zu bytes", offset(c),
		            (size_t)(c->end - c->base));
	return TRAWL_OK;
}

/* ---- header ---- */

uint64_t wire_deadline(uint64_t asked_us, uint64_t now_us)
{
	uint64_t most = now_us + (uint64_t)LIMIT_TIMEOUT_MS * 1000u;
	if (asked_us == 0)
		return now_us + (uint64_t)LIMIT_LEAF_DEADLINE_MS * 1000u;
	return asked_us < most ? asked_us : most;
}

const char *wire_type_name(int type)
{
	switch (type) {
	case WIRE_SEARCH:
		return "SEARCH";
	case WIRE_SEARCH_REPLY:
		return "SEARCH_REPLY";
	case WIRE_FETCH:
		return "FETCH";
	case WIRE_FETCH_REPLY:
		return "FETCH_REPLY";
	case WIRE_PING:
		return "PING";
	case WIRE_PONG:
		return "PONG";
	case WIRE_CANCEL:
		return "CANCEL";
	case WIRE_GET:
		return "GET";
	case WIRE_SCHEMA:
		return "SCHEMA";
	case WIRE_SCHEMA_REPLY:
		return "SCHEMA_REPLY";
	case WIRE_FILES:
		return "FILES";
	case WIRE_FILES_REPLY:
		return "FILES_REPLY";
	case WIRE_FILE_READ:
		return "FILE_READ";
	case WIRE_FILE_READ_REPLY:
		return "FILE_READ_REPLY";
	default:
		return "unknown";
	}
}

int wire_type_known(int type)
{
	return (type >= WIRE_SEARCH && type <= WIRE_SCHEMA_REPLY) ||
	       (type >= WIRE_FILES && type <= WIRE_FILE_READ_REPLY);
}

/* header_in reads and checks the header at c->p; the caller's context names
 * the message type expected (0: any). */
static int header_in(wctx *c, int expect, wire_header *h)
{
	const char *what = c->what;
	c->what = "header";
	size_t len = (size_t)(c->end - c->base);
	if (len > LIMIT_MESSAGE_BYTES)
		return fail(c, TRAWL_EINVAL, "the message is %zu bytes; the limit is %u", len,
		            LIMIT_MESSAGE_BYTES);
	if (len < WIRE_HEADER_BYTES)
		return fail(c, TRAWL_EINVAL, "the message is %zu byte%s; a header alone is %d", len,
		            len == 1 ? "" : "s", WIRE_HEADER_BYTES);
	uint16_t magic = ld16(c->p);
	uint8_t version = c->p[2], type = c->p[3];
	uint16_t reserved = ld16(c->p + 6);
	if (magic != WIRE_MAGIC)
		return fail(c, TRAWL_EINVAL,
		            "bad magic 0x%04x; a trawl message starts with 0x%04x ('TW')",
		            (unsigned)magic, WIRE_MAGIC);
	if (version != WIRE_VERSION)
		return fail(c, TRAWL_EINVAL,
		            "version %u is not supported; this build speaks version %d",
		            (unsigned)version, WIRE_VERSION);
	if (!wire_type_known(type))
		return fail(c, TRAWL_EINVAL, "unknown message type %u", (unsigned)type);
	if (reserved != 0)
		return fail(c, TRAWL_EINVAL, "reserved field is 0x%04x; it must be 0",
		            (unsigned)reserved);
	h->type = type;
	h->flags = ld16(c->p + 4);
	h->request_id = ld64(c->p + 8);
	h->deadline_unix_us = ld64(c->p + 16);
	h->generation = ld64(c->p + 24);
	c->p += WIRE_HEADER_BYTES;
	c->what = what;
	if (expect && type != expect)
		return fail(c, TRAWL_EINVAL, "expected a %s message, got %s (type %u)",
		            wire_type_name(expect), wire_type_name(type), (unsigned)type);
	return TRAWL_OK;
}

int wire_header_decode(const void *buf, size_t len, wire_header *h, char *err, size_t errlen)
{
	wctx c;
	dec_ctx(&c, 0, buf, len, err, errlen);
	return header_in(&c, 0, h);
}

/* ---- encoding frame ---- */

/*
 * enc_begin checks that a message with a body of `body` bytes fits, reserves
 * it in out and writes the header; *w is where the body goes.
 */
static int enc_begin(tbuf *out, int type, const wire_header *h, uint64_t body, uint8_t **w)
{
	if (!h)
		return TRAWL_EINVAL;
	uint64_t total = WIRE_HEADER_BYTES + body;
	if (total > LIMIT_MESSAGE_BYTES)
		return TRAWL_ELIMIT;
	TRY(tbuf_reserve(out, (size_t)total));
	uint8_t *p = out->data + out->len;
	p = st16(p, WIRE_MAGIC);
	p = st8(p, WIRE_VERSION);
	p = st8(p, (uint8_t)type);
	p = st16(p, h->flags);
	p = st16(p, 0);
	p = st64(p, h->request_id);
	p = st64(p, h->deadline_unix_us);
	p = st64(p, h->generation);
	*w = p;
	return TRAWL_OK;
}

/* enc_end commits the message whose body ends at w. */
static int enc_end(tbuf *out, uint64_t body, const uint8_t *w)
{
	size_t total = (size_t)(w - (out->data + out->len));
	if (total != WIRE_HEADER_BYTES + body)
		return TRAWL_EINTERNAL; /* a size computation disagrees with the writer */
	out->len += total;
	return TRAWL_OK;
}

/* ---- SEARCH ---- */

/* check_sortkey: key i's flags and field name. */
static int check_sortkey(wctx *c, uint32_t i, uint8_t flags, const char *field, uint32_t len)
{
	if (flags & ~0x0Fu || (flags & WIRE_SORT_MIN && flags & WIRE_SORT_MAX))
		return fail(c, TRAWL_EINVAL,
		            "sort[%" PRIu32 "] has flags 0x%02x; known are 0x0f, and not min "
		            "and max together",
		            i, (unsigned)flags);
	char name[32];
	snprintf(name, sizeof name, "sort[%" PRIu32 "].field", i);
	TRY(check_len(c, name, len, 1, LIMIT_FIELD_NAME_BYTES));
	TRY(check_ptr(c, name, field, len));
	for (uint32_t j = 0; j < len; j++)
		if (!qt_is_field_char((unsigned char)field[j]))
			return fail(c, TRAWL_EINVAL,
			            "%s has byte 0x%02x; field names are A-Z a-z 0-9 _ . -", name,
			            (unsigned)(unsigned char)field[j]);
	return TRAWL_OK;
}

static int search_check(wctx *c, uint16_t flags, const wire_search *s)
{
	TRY(check_count(c, "k", s->k, 1, TRAWL_MAX_K));
	TRY(check_count(c, "nshards", s->nshards, 1, TRAWL_MAX_SHARDS));
	TRY(check_shards(c, s->shards, s->nshards));
	TRY(check_tree(c, s->tree, s->tree_len, 1));
	if (!(flags & WIRE_F_SORT))
		return TRAWL_OK;
	TRY(check_count(c, "nsort", s->nsort, 1, LIMIT_SORT_KEYS));
	for (uint32_t i = 0; i < s->nsort; i++)
		TRY(check_sortkey(c, i, s->sort[i].flags, s->sort[i].field, s->sort[i].field_len));
	TRY(check_len(c, "search_after", s->after_len, 0, LIMIT_SORT_JSON_BYTES));
	return check_ptr(c, "search_after", s->after, s->after_len);
}

/* aggs_check: an aggregation spec or partial (WIRE_F_AGGS) of 1..max bytes. */
static int aggs_check(wctx *c, uint16_t flags, const char *name, const char *p, uint32_t len,
                      uint32_t max)
{
	if (!(flags & WIRE_F_AGGS))
		return TRAWL_OK;
	TRY(check_len(c, name, len, 1, max));
	return check_ptr(c, name, p, len);
}

int wire_encode_search(tbuf *out, const wire_header *h, const wire_search *s)
{
	wctx c;
	enc_ctx(&c, WIRE_SEARCH);
	if (!s)
		return TRAWL_EINVAL;
	uint16_t flags = h ? h->flags : 0;
	TRY(search_check(&c, flags, s));
	TRY(aggs_check(&c, flags, "aggs", s->aggs, s->aggs_len, LIMIT_AGG_SPEC_BYTES));
	uint64_t body = 4 + 2 + 2 * (uint64_t)s->nshards + 4 + s->tree_len;
	if (flags & WIRE_F_AGGS)
		body += 4 + (uint64_t)s->aggs_len;
	if (flags & WIRE_F_SORT) {
		body += 1 + 4 + s->after_len;
		for (uint32_t i = 0; i < s->nsort; i++)
			body += 2 + s->sort[i].field_len;
	}
	uint8_t *w;
	TRY(enc_begin(out, WIRE_SEARCH, h, body, &w));
	w = st32(w, s->k);
	w = st16(w, s->nshards);
	for (uint32_t i = 0; i < s->nshards; i++)
		w = st16(w, s->shards[i]);
	w = st32(w, s->tree_len);
	w = stbytes(w, s->tree, s->tree_len);
	if (flags & WIRE_F_SORT) {
		w = st8(w, s->nsort);
		for (uint32_t i = 0; i < s->nsort; i++) {
			w = st8(w, s->sort[i].flags);
			w = st8(w, s->sort[i].field_len);
			w = stbytes(w, s->sort[i].field, s->sort[i].field_len);
		}
		w = st32(w, s->after_len);
		w = stbytes(w, s->after, s->after_len);
	}
	if (flags & WIRE_F_AGGS) {
		w = st32(w, s->aggs_len);
		w = stbytes(w, s->aggs, s->aggs_len);
	}
	return enc_end(out, body, w);
}

static int search_in(wctx *c, uint16_t flags, wire_search *s)
{
	memset(s, 0, sizeof *s);
	TRY(rd32(c, "k", &s->k));
	TRY(check_count(c, "k", s->k, 1, TRAWL_MAX_K));
	TRY(rd16(c, "nshards", &s->nshards));
	TRY(check_count(c, "nshards", s->nshards, 1, TRAWL_MAX_SHARDS));
	TRY(need(c, 2 * (uint64_t)s->nshards, "shards"));
	for (uint32_t i = 0; i < s->nshards; i++)
		TRY(rd16(c, "shards", &s->shards[i]));
	TRY(check_shards(c, s->shards, s->nshards));
	TRY(rdtree(c, 1, &s->tree, &s->tree_len));
	if (flags & WIRE_F_SORT) {
		TRY(rd8(c, "nsort", &s->nsort));
		TRY(check_count(c, "nsort", s->nsort, 1, LIMIT_SORT_KEYS));
		for (uint32_t i = 0; i < s->nsort; i++) {
			wire_sortkey *k = &s->sort[i];
			TRY(rd8(c, "sort flags", &k->flags));
			const char *f;
			uint32_t n;
			TRY(rdstr(c, "sort field", 1, 1, LIMIT_FIELD_NAME_BYTES, &f, &n));
			TRY(check_sortkey(c, i, k->flags, f, n));
			k->field = f;
			k->field_len = (uint8_t)n;
		}
		TRY(rdstr(c, "search_after", 4, 0, LIMIT_SORT_JSON_BYTES, &s->after,
		          &s->after_len));
	}
	if (flags & WIRE_F_AGGS)
		TRY(rdstr(c, "aggs", 4, 1, LIMIT_AGG_SPEC_BYTES, &s->aggs, &s->aggs_len));
	return finish(c);
}

int wire_decode_search(const void *buf, size_t len, wire_header *h, wire_search *s, char *err,
                       size_t errlen)
{
	wctx c;
	dec_ctx(&c, WIRE_SEARCH, buf, len, err, errlen);
	TRY(header_in(&c, WIRE_SEARCH, h));
	return search_in(&c, h->flags, s);
}

/* ---- SEARCH_REPLY ---- */

/* Packed hit: f32 score, u16 shard, u16 reserved, u32 doc, u64 hash. */
static void hit_load(const uint8_t *p, wire_hit *out)
{
	out->score = bits_float(ld32(p));
	out->shard = ld16(p + 4);
	out->doc = ld32(p + 8);
	out->hash = ld64(p + 12);
}

/* A packed hit's sort values: u8 missing, nsort i64 keys, u16 length, JSON. */
static int sortval_check(wctx *c, uint32_t i, uint8_t nsort, uint8_t missing, uint32_t json_len)
{
	if (missing >> nsort)
		return fail(c, TRAWL_EINVAL,
		            "sorts[%" PRIu32
		            "] marks key bits 0x%02x missing; the sort has %u keys",
		            i, (unsigned)missing, (unsigned)nsort);
	char name[32];
	snprintf(name, sizeof name, "sorts[%" PRIu32 "].json", i);
	return check_len(c, name, json_len, 1, LIMIT_SORT_JSON_BYTES);
}

/* sorts_check (encoding): nsort and every hit's sort values; their bytes in
 * *bytes. */
static int sorts_check(wctx *c, const wire_search_reply *r)
{
	TRY(check_count(c, "nsort", r->nsort, 1, LIMIT_SORT_KEYS));
	if (r->sorts) {
		for (uint32_t i = 0; i < r->nhits; i++) {
			TRY(sortval_check(c, i, r->nsort, r->sorts[i].missing,
			                  r->sorts[i].json_len));
			TRY(check_ptr(c, "sorts.json", r->sorts[i].json, r->sorts[i].json_len));
		}
		return TRAWL_OK;
	}
	TRY(check_ptr(c, "sorts", r->sorts_raw, r->nhits));
	size_t at = 0, fixed = 1 + 8 * (size_t)r->nsort;
	for (uint32_t i = 0; i < r->nhits; i++) {
		if (r->sorts_raw_len - at < fixed + 2 ||
		    r->sorts_raw_len - at - fixed - 2 < ld16(r->sorts_raw + at + fixed))
			return fail(c, TRAWL_EINVAL,
			            "sorts_raw holds fewer than nhits sort values");
		at += fixed + 2 + ld16(r->sorts_raw + at + fixed);
	}
	if (at != r->sorts_raw_len)
		return fail(c, TRAWL_EINVAL, "sorts_raw has bytes after its sort values");
	return TRAWL_OK;
}

static uint64_t sorts_bytes(const wire_search_reply *r)
{
	if (!r->sorts)
		return 1 + r->sorts_raw_len;
	uint64_t b = 1;
	for (uint32_t i = 0; i < r->nhits; i++)
		b += 1 + 8 * (uint64_t)r->nsort + 2 + r->sorts[i].json_len;
	return b;
}

/* ids_bytes: the size of the packed ids (WIRE_F_IDS in flags). */
static int search_reply_check(wctx *c, uint16_t flags, const wire_search_reply *r,
                              uint64_t *ids_bytes)
{
	TRY(check_bool(c, "total_relation", r->total_relation, "0: exact, 1: lower bound"));
	TRY(check_count(c, "shards_answered", r->shards_answered, 0, TRAWL_MAX_SHARDS));
	TRY(check_count(c, "nhits", r->nhits, 0, TRAWL_MAX_K));
	TRY(check_ptr(c, "hits", r->hits ? (const void *)r->hits : r->hits_raw, r->nhits));
	for (uint32_t i = 0; i < r->nhits; i++) {
		wire_hit x = {0};
		wire_search_reply_hit(r, i, &x);
		TRY(check_shard(c, "hits", i, x.shard));
		TRY(check_score(c, i, float_bits(x.score)));
	}
	TRY(check_len(c, "errmsg", r->errmsg_len, 0, LIMIT_ERRMSG_BYTES));
	TRY(check_ptr(c, "errmsg", r->errmsg, r->errmsg_len));
	if (flags & WIRE_F_SORT)
		TRY(sorts_check(c, r));
	if (!(flags & WIRE_F_IDS))
		return TRAWL_OK;
	if (!r->ids) { /* a decoded reply, forwarded: nhits packed ids in ids_raw_len bytes */
		TRY(check_ptr(c, "ids", r->ids_raw, r->nhits));
		size_t at = 0;
		for (uint32_t i = 0; i < r->nhits; i++) {
			if (r->ids_raw_len - at < 2 || ld16(r->ids_raw + at) > LIMIT_ID_BYTES ||
			    r->ids_raw_len - at - 2 < ld16(r->ids_raw + at))
				return fail(c, TRAWL_EINVAL,
				            "ids_raw holds fewer than nhits (%" PRIu32 ") ids",
				            r->nhits);
			at += 2 + (size_t)ld16(r->ids_raw + at);
		}
		if (at != r->ids_raw_len)
			return fail(c, TRAWL_EINVAL,
			            "ids_raw has %zu bytes after its %" PRIu32 " ids",
			            r->ids_raw_len - at, r->nhits);
		return TRAWL_OK;
	}
	TRY(check_ptr(c, "id_lens", r->id_lens, r->nhits));
	*ids_bytes = 0;
	for (uint32_t i = 0; i < r->nhits; i++) {
		if (r->id_lens[i] > LIMIT_ID_BYTES || (!r->ids[i] && r->id_lens[i])) {
			char name[32];
			snprintf(name, sizeof name, "ids[%" PRIu32 "]", i);
			TRY(check_len(c, name, r->id_lens[i], 0, LIMIT_ID_BYTES));
			TRY(check_ptr(c, name, r->ids[i], r->id_lens[i]));
		}
		*ids_bytes += 2 + (uint64_t)r->id_lens[i];
	}
	return TRAWL_OK;
}

int wire_encode_search_reply(tbuf *out, const wire_header *h, const wire_search_reply *r)
{
	wctx c;
	enc_ctx(&c, WIRE_SEARCH_REPLY);
	if (!r)
		return TRAWL_EINVAL;
	uint64_t ids_bytes = 0;
	TRY(search_reply_check(&c, h ? h->flags : 0, r, &ids_bytes));
	TRY(aggs_check(&c, h ? h->flags : 0, "aggs", r->aggs, r->aggs_len,
	               LIMIT_AGG_PARTIAL_BYTES));
	int with_aggs = h && (h->flags & WIRE_F_AGGS);
	int with_ids = h && (h->flags & WIRE_F_IDS);
	if (with_ids && !r->ids)
		ids_bytes = r->ids_raw_len;
	int with_sort = h && (h->flags & WIRE_F_SORT);
	uint64_t body = 32 + (uint64_t)WIRE_HIT_BYTES * r->nhits + 4 + r->errmsg_len + ids_bytes +
	                (with_sort ? sorts_bytes(r) : 0) +
	                (with_aggs ? 4 + (uint64_t)r->aggs_len : 0);
	uint8_t *w;
	TRY(enc_begin(out, WIRE_SEARCH_REPLY, h, body, &w));
	w = st16(w, r->status);
	w = st8(w, r->total_relation);
	w = st8(w, 0);
	w = st64(w, r->total);
	w = st64(w, r->docs_searched);
	w = st32(w, r->queue_depth);
	w = st16(w, r->shards_answered);
	w = st16(w, 0);
	w = st32(w, r->nhits);
	for (uint32_t i = 0; i < r->nhits; i++) {
		wire_hit x = {0};
		wire_search_reply_hit(r, i, &x);
		w = st32(w, float_bits(x.score));
		w = st16(w, x.shard);
		w = st16(w, 0);
		w = st32(w, x.doc);
		w = st64(w, x.hash);
	}
	w = st32(w, r->errmsg_len);
	w = stbytes(w, r->errmsg, r->errmsg_len);
	if (with_ids && r->ids) {
		for (uint32_t i = 0; i < r->nhits; i++) {
			w = st16(w, (uint16_t)r->id_lens[i]);
			w = stbytes(w, r->ids[i], r->id_lens[i]);
		}
	} else if (with_ids) {
		w = stbytes(w, r->ids_raw, r->ids_raw_len);
	}
	if (with_sort) {
		w = st8(w, r->nsort);
		if (r->sorts) {
			for (uint32_t i = 0; i < r->nhits; i++) {
				const wire_sortval *v = &r->sorts[i];
				w = st8(w, v->missing);
				for (uint32_t k = 0; k < r->nsort; k++)
					w = st64(w, (uint64_t)v->v[k]);
				w = st16(w, v->json_len);
				w = stbytes(w, v->json, v->json_len);
			}
		} else {
			w = stbytes(w, r->sorts_raw, r->sorts_raw_len);
		}
	}
	if (with_aggs) {
		w = st32(w, r->aggs_len);
		w = stbytes(w, r->aggs, r->aggs_len);
	}
	return enc_end(out, body, w);
}

static int search_reply_in(wctx *c, uint16_t flags, wire_search_reply *r)
{
	memset(r, 0, sizeof *r);
	TRY(rd16(c, "status", &r->status));
	TRY(rd8(c, "total_relation", &r->total_relation));
	TRY(check_bool(c, "total_relation", r->total_relation, "0: exact, 1: lower bound"));
	TRY(rdreserved(c, 1));
	TRY(rd64(c, "total", &r->total));
	TRY(rd64(c, "docs_searched", &r->docs_searched));
	TRY(rd32(c, "queue_depth", &r->queue_depth));
	TRY(rd16(c, "shards_answered", &r->shards_answered));
	TRY(check_count(c, "shards_answered", r->shards_answered, 0, TRAWL_MAX_SHARDS));
	TRY(rdreserved(c, 2));
	TRY(rd32(c, "nhits", &r->nhits));
	TRY(check_count(c, "nhits", r->nhits, 0, TRAWL_MAX_K));
	TRY(rdbytes(c, "hits", (uint64_t)WIRE_HIT_BYTES * r->nhits, &r->hits_raw));
	for (uint32_t i = 0; i < r->nhits; i++) {
		const uint8_t *p = r->hits_raw + (size_t)i * WIRE_HIT_BYTES;
		TRY(check_score(c, i, ld32(p)));
		TRY(check_shard(c, "hits", i, ld16(p + 4)));
		if (ld16(p + 6) != 0)
			return fail(c, TRAWL_EINVAL,
			            "hits[%" PRIu32 "] has reserved field 0x%04x; it must be 0", i,
			            (unsigned)ld16(p + 6));
	}
	TRY(rdstr(c, "errmsg", 4, 0, LIMIT_ERRMSG_BYTES, &r->errmsg, &r->errmsg_len));
	if (flags & WIRE_F_IDS) {
		r->ids_raw = c->p;
		for (uint32_t i = 0; i < r->nhits; i++) {
			size_t left = (size_t)(c->end - c->p);
			uint16_t n = left >= 2 ? ld16(c->p) : 0;
			if (left >= 2 && n <= LIMIT_ID_BYTES && left - 2 >= n) {
				c->p += 2 + (size_t)n;
				continue;
			}
			char name[32]; /* the error names the id */
			const char *id;
			uint32_t n32;
			snprintf(name, sizeof name, "ids[%" PRIu32 "]", i);
			TRY(rdstr(c, name, 2, 0, LIMIT_ID_BYTES, &id, &n32));
		}
		r->ids_raw_len = (size_t)(c->p - r->ids_raw);
	}
	if (flags & WIRE_F_SORT) {
		TRY(rd8(c, "nsort", &r->nsort));
		TRY(check_count(c, "nsort", r->nsort, 1, LIMIT_SORT_KEYS));
		r->sorts_raw = c->p;
		for (uint32_t i = 0; i < r->nhits; i++) {
			uint8_t missing;
			const uint8_t *keys;
			const char *json;
			uint32_t jl;
			TRY(rd8(c, "sorts.missing", &missing));
			TRY(rdbytes(c, "sorts.keys", 8 * (uint64_t)r->nsort, &keys));
			TRY(rdstr(c, "sorts.json", 2, 1, LIMIT_SORT_JSON_BYTES, &json, &jl));
			TRY(sortval_check(c, i, r->nsort, missing, jl));
		}
		r->sorts_raw_len = (size_t)(c->p - r->sorts_raw);
	}
	if (flags & WIRE_F_AGGS)
		TRY(rdstr(c, "aggs", 4, 1, LIMIT_AGG_PARTIAL_BYTES, &r->aggs, &r->aggs_len));
	return finish(c);
}

int wire_decode_search_reply(const void *buf, size_t len, wire_header *h, wire_search_reply *r,
                             char *err, size_t errlen)
{
	wctx c;
	dec_ctx(&c, WIRE_SEARCH_REPLY, buf, len, err, errlen);
	TRY(header_in(&c, WIRE_SEARCH_REPLY, h));
	return search_reply_in(&c, h->flags, r);
}

int wire_search_reply_hit(const wire_search_reply *r, uint32_t i, wire_hit *out)
{
	if (i >= r->nhits)
		return TRAWL_EINVAL;
	if (r->hits) {
		*out = r->hits[i];
		return TRAWL_OK;
	}
	if (!r->hits_raw)
		return TRAWL_EINVAL;
	hit_load(r->hits_raw + (size_t)i * WIRE_HIT_BYTES, out);
	return TRAWL_OK;
}

int wire_search_reply_ids(const wire_search_reply *r, const char **ids, uint32_t *lens)
{
	if (r->ids) {
		for (uint32_t i = 0; i < r->nhits; i++) {
			ids[i] = r->ids[i];
			lens[i] = r->id_lens[i];
		}
		return TRAWL_OK;
	}
	if (!r->ids_raw)
		return TRAWL_ENOTFOUND;
	/* the decoder checked every length against the message */
	const uint8_t *p = r->ids_raw;
	for (uint32_t i = 0; i < r->nhits; i++) {
		lens[i] = ld16(p);
		ids[i] = (const char *)p + 2;
		p += 2 + lens[i];
	}
	return TRAWL_OK;
}

int wire_search_reply_sorts(const wire_search_reply *r, wire_sortval *out)
{
	if (!r->nsort || (!r->sorts && !r->sorts_raw))
		return TRAWL_EINVAL;
	if (r->sorts) {
		memcpy(out, r->sorts, (size_t)r->nhits * sizeof *out);
		return TRAWL_OK;
	}
	/* the decoder checked every length against the message */
	const uint8_t *p = r->sorts_raw;
	for (uint32_t i = 0; i < r->nhits; i++) {
		memset(&out[i], 0, sizeof out[i]);
		out[i].missing = *p++;
		for (uint32_t k = 0; k < r->nsort; k++, p += 8)
			out[i].v[k] = (int64_t)ld64(p);
		out[i].json_len = ld16(p);
		out[i].json = (const char *)p + 2;
		p += 2 + out[i].json_len;
	}
	return TRAWL_OK;
}

/* ---- FETCH ---- */

static int fetch_check(wctx *c, const wire_fetch *f)
{
	TRY(check_count(c, "ndocs", f->ndocs, 1, TRAWL_MAX_K));
	TRY(check_ptr(c, "docs", f->docs ? (const void *)f->docs : f->docs_raw, f->ndocs));
	for (uint32_t i = 0; i < f->ndocs; i++) {
		wire_docref x = {0};
		wire_fetch_docref(f, i, &x);
		TRY(check_shard(c, "docs", i, x.shard));
	}
	TRY(check_tree(c, f->tree, f->tree_len, 0));
	TRY(check_len(c, "field", f->field_len, 0, LIMIT_FIELD_NAME_BYTES));
	TRY(check_ptr(c, "field", f->field, f->field_len));
	TRY(check_len(c, "pre", f->pre_len, 0, LIMIT_MARK_BYTES));
	TRY(check_ptr(c, "pre", f->pre, f->pre_len));
	TRY(check_len(c, "post", f->post_len, 0, LIMIT_MARK_BYTES));
	TRY(check_ptr(c, "post", f->post, f->post_len));
	return check_count(c, "snippet_chars", f->snippet_chars, 0, LIMIT_SNIPPET_CHARS);
}

int wire_encode_fetch(tbuf *out, const wire_header *h, const wire_fetch *f)
{
	wctx c;
	enc_ctx(&c, WIRE_FETCH);
	if (!f)
		return TRAWL_EINVAL;
	TRY(fetch_check(&c, f));
	uint64_t body = 4 + (uint64_t)WIRE_DOCREF_BYTES * f->ndocs + 4 + f->tree_len + 4 +
	                f->field_len + 2 + f->pre_len + 2 + f->post_len + 4;
	uint8_t *w;
	TRY(enc_begin(out, WIRE_FETCH, h, body, &w));
	w = st32(w, f->ndocs);
	for (uint32_t i = 0; i < f->ndocs; i++) {
		wire_docref x = {0};
		wire_fetch_docref(f, i, &x);
		w = st16(w, x.shard);
		w = st16(w, 0);
		w = st32(w, x.doc);
	}
	w = st32(w, f->tree_len);
	w = stbytes(w, f->tree, f->tree_len);
	w = st32(w, f->field_len);
	w = stbytes(w, f->field, f->field_len);
	w = st16(w, f->pre_len);
	w = stbytes(w, f->pre, f->pre_len);
	w = st16(w, f->post_len);
	w = stbytes(w, f->post, f->post_len);
	w = st32(w, f->snippet_chars);
	return enc_end(out, body, w);
}

static int fetch_in(wctx *c, wire_fetch *f)
{
	memset(f, 0, sizeof *f);
	TRY(rd32(c, "ndocs", &f->ndocs));
	TRY(check_count(c, "ndocs", f->ndocs, 1, TRAWL_MAX_K));
	TRY(rdbytes(c, "docs", (uint64_t)WIRE_DOCREF_BYTES * f->ndocs, &f->docs_raw));
	for (uint32_t i = 0; i < f->ndocs; i++) {
		const uint8_t *p = f->docs_raw + (size_t)i * WIRE_DOCREF_BYTES;
		TRY(check_shard(c, "docs", i, ld16(p)));
		if (ld16(p + 2) != 0)
			return fail(c, TRAWL_EINVAL,
			            "docs[%" PRIu32 "] has reserved field 0x%04x; it must be 0", i,
			            (unsigned)ld16(p + 2));
	}
	TRY(rdtree(c, 0, &f->tree, &f->tree_len));
	TRY(rdstr(c, "field", 4, 0, LIMIT_FIELD_NAME_BYTES, &f->field, &f->field_len));
	uint32_t n;
	TRY(rdstr(c, "pre", 2, 0, LIMIT_MARK_BYTES, &f->pre, &n));
	f->pre_len = (uint16_t)n;
	TRY(rdstr(c, "post", 2, 0, LIMIT_MARK_BYTES, &f->post, &n));
	f->post_len = (uint16_t)n;
	TRY(rd32(c, "snippet_chars", &f->snippet_chars));
	TRY(check_count(c, "snippet_chars", f->snippet_chars, 0, LIMIT_SNIPPET_CHARS));
	return finish(c);
}

int wire_decode_fetch(const void *buf, size_t len, wire_header *h, wire_fetch *f, char *err,
                      size_t errlen)
{
	wctx c;
	dec_ctx(&c, WIRE_FETCH, buf, len, err, errlen);
	TRY(header_in(&c, WIRE_FETCH, h));
	return fetch_in(&c, f);
}

int wire_fetch_docref(const wire_fetch *f, uint32_t i, wire_docref *out)
{
	if (i >= f->ndocs)
		return TRAWL_EINVAL;
	if (f->docs) {
		*out = f->docs[i];
		return TRAWL_OK;
	}
	if (!f->docs_raw)
		return TRAWL_EINVAL;
	const uint8_t *p = f->docs_raw + (size_t)i * WIRE_DOCREF_BYTES;
	out->shard = ld16(p);
	out->doc = ld32(p + 4);
	return TRAWL_OK;
}

/* ---- FETCH_REPLY ---- */

static int doc_check(wctx *c, uint32_t i, const wire_doc *d)
{
	char name[48];
	TRY(check_shard(c, "docs", i, d->shard));
	snprintf(name, sizeof name, "docs[%" PRIu32 "].id", i);
	TRY(check_len(c, name, d->id_len, 0, LIMIT_ID_BYTES));
	TRY(check_ptr(c, name, d->id, d->id_len));
	snprintf(name, sizeof name, "docs[%" PRIu32 "].json", i);
	TRY(check_len(c, name, d->json_len, 0, LIMIT_STORED_DOC_BYTES));
	TRY(check_ptr(c, name, d->json, d->json_len));
	snprintf(name, sizeof name, "docs[%" PRIu32 "].snippet", i);
	TRY(check_len(c, name, d->snippet_len, 0, LIMIT_SNIPPET_BYTES));
	return check_ptr(c, name, d->snippet, d->snippet_len);
}

/* fetch_reply_check also adds the size of the documents' records to *body. */
static int fetch_reply_check(wctx *c, const wire_fetch_reply *r, uint64_t *body)
{
	TRY(check_count(c, "ndocs", r->ndocs, 0, TRAWL_MAX_K));
	TRY(check_ptr(c, "docs", r->docs ? (const void *)r->docs : r->docs_raw, r->ndocs));
	wire_doc_iter it;
	wire_doc d;
	wire_doc_iter_init(&it, r);
	for (uint32_t i = 0; i < r->ndocs; i++) {
		if (!wire_doc_iter_next(&it, &d))
			return fail(c, TRAWL_EINVAL, "docs_raw ends before docs[%" PRIu32 "]", i);
		TRY(doc_check(c, i, &d));
		*body += 20 + (uint64_t)d.id_len + d.json_len + d.snippet_len;
	}
	TRY(check_len(c, "errmsg", r->errmsg_len, 0, LIMIT_ERRMSG_BYTES));
	return check_ptr(c, "errmsg", r->errmsg, r->errmsg_len);
}

int wire_encode_fetch_reply(tbuf *out, const wire_header *h, const wire_fetch_reply *r)
{
	wctx c;
	enc_ctx(&c, WIRE_FETCH_REPLY);
	if (!r)
		return TRAWL_EINVAL;
	uint64_t body = 2 + 2 + 4 + 4 + (uint64_t)r->errmsg_len;
	TRY(fetch_reply_check(&c, r, &body));
	uint8_t *w;
	TRY(enc_begin(out, WIRE_FETCH_REPLY, h, body, &w));
	w = st16(w, r->status);
	w = st16(w, 0);
	w = st32(w, r->ndocs);
	wire_doc_iter it;
	wire_doc d;
	wire_doc_iter_init(&it, r);
	while (wire_doc_iter_next(&it, &d)) {
		w = st16(w, d.shard);
		w = st16(w, d.status);
		w = st32(w, d.doc);
		w = st32(w, d.id_len);
		w = stbytes(w, d.id, d.id_len);
		w = st32(w, d.json_len);
		w = stbytes(w, d.json, d.json_len);
		w = st32(w, d.snippet_len);
		w = stbytes(w, d.snippet, d.snippet_len);
	}
	w = st32(w, r->errmsg_len);
	w = stbytes(w, r->errmsg, r->errmsg_len);
	return enc_end(out, body, w);
}

/* doc_in reads document record i at c->p. */
static int doc_in(wctx *c, uint32_t i, wire_doc *d)
{
	char name[48];
	snprintf(name, sizeof name, "docs[%" PRIu32 "]", i);
	TRY(rd16(c, name, &d->shard));
	TRY(check_shard(c, "docs", i, d->shard));
	TRY(rd16(c, name, &d->status));
	TRY(rd32(c, name, &d->doc));
	snprintf(name, sizeof name, "docs[%" PRIu32 "].id", i);
	TRY(rdstr(c, name, 4, 0, LIMIT_ID_BYTES, &d->id, &d->id_len));
	snprintf(name, sizeof name, "docs[%" PRIu32 "].json", i);
	TRY(rdstr(c, name, 4, 0, LIMIT_STORED_DOC_BYTES, &d->json, &d->json_len));
	snprintf(name, sizeof name, "docs[%" PRIu32 "].snippet", i);
	return rdstr(c, name, 4, 0, LIMIT_SNIPPET_BYTES, &d->snippet, &d->snippet_len);
}

static int fetch_reply_in(wctx *c, wire_fetch_reply *r)
{
	memset(r, 0, sizeof *r);
	TRY(rd16(c, "status", &r->status));
	TRY(rdreserved(c, 2));
	TRY(rd32(c, "ndocs", &r->ndocs));
	TRY(check_count(c, "ndocs", r->ndocs, 0, TRAWL_MAX_K));
	r->docs_raw = c->p;
	for (uint32_t i = 0; i < r->ndocs; i++) {
		wire_doc d;
		TRY(doc_in(c, i, &d));
	}
	r->docs_raw_len = (size_t)(c->p - r->docs_raw);
	TRY(rdstr(c, "errmsg", 4, 0, LIMIT_ERRMSG_BYTES, &r->errmsg, &r->errmsg_len));
	return finish(c);
}

int wire_decode_fetch_reply(const void *buf, size_t len, wire_header *h, wire_fetch_reply *r,
                            char *err, size_t errlen)
{
	wctx c;
	dec_ctx(&c, WIRE_FETCH_REPLY, buf, len, err, errlen);
	TRY(header_in(&c, WIRE_FETCH_REPLY, h));
	return fetch_reply_in(&c, r);
}

void wire_doc_iter_init(wire_doc_iter *it, const wire_fetch_reply *r)
{
	it->r = r;
	it->p = r->docs_raw;
	it->i = 0;
}

int wire_doc_iter_next(wire_doc_iter *it, wire_doc *out)
{
	const wire_fetch_reply *r = it->r;
	if (it->i >= r->ndocs)
		return 0;
	if (r->docs) {
		*out = r->docs[it->i++];
		return 1;
	}
	if (!r->docs_raw)
		return 0;
	/* The records were checked by the decoder; reading them again through
	 * the bounded cursor keeps a misused iterator inside docs_raw too. */
	wctx c;
	dec_ctx(&c, WIRE_FETCH_REPLY, r->docs_raw, r->docs_raw_len, NULL, 0);
	c.p = it->p;
	if (c.p < c.base || c.p > c.end || doc_in(&c, it->i, out) != TRAWL_OK)
		return 0;
	it->p = c.p;
	it->i++;
	return 1;
}

/* ---- PING ---- */

/* A message that is a header alone (PING, SCHEMA). */
static int header_only_encode(tbuf *out, int type, const wire_header *h)
{
	uint8_t *w;
	TRY(enc_begin(out, type, h, 0, &w));
	return enc_end(out, 0, w);
}

static int header_only_decode(int type, const void *buf, size_t len, wire_header *h, char *err,
                              size_t errlen)
{
	wctx c;
	dec_ctx(&c, type, buf, len, err, errlen);
	TRY(header_in(&c, type, h));
	return finish(&c);
}

int wire_encode_ping(tbuf *out, const wire_header *h)
{
	return header_only_encode(out, WIRE_PING, h);
}

int wire_decode_ping(const void *buf, size_t len, wire_header *h, char *err, size_t errlen)
{
	return header_only_decode(WIRE_PING, buf, len, h, err, errlen);
}

/* ---- PONG ---- */

static int pong_check(wctx *c, const wire_pong *p)
{
	TRY(check_count(c, "nshards", p->nshards, 0, TRAWL_MAX_SHARDS));
	TRY(check_shards(c, p->shards, p->nshards));
	return check_bool(c, "ready", p->ready, "0: not ready, 1: ready");
}

int wire_encode_pong(tbuf *out, const wire_header *h, const wire_pong *p)
{
	wctx c;
	enc_ctx(&c, WIRE_PONG);
	if (!p)
		return TRAWL_EINVAL;
	TRY(pong_check(&c, p));
	uint64_t body = 8 + 4 + 2 + 2 * (uint64_t)p->nshards + 1;
	uint8_t *w;
	TRY(enc_begin(out, WIRE_PONG, h, body, &w));
	w = st64(w, p->generation);
	w = st32(w, p->queue_depth);
	w = st16(w, p->nshards);
	for (uint32_t i = 0; i < p->nshards; i++)
		w = st16(w, p->shards[i]);
	w = st8(w, p->ready);
	return enc_end(out, body, w);
}

static int pong_in(wctx *c, wire_pong *p)
{
	memset(p, 0, sizeof *p);
	TRY(rd64(c, "generation", &p->generation));
	TRY(rd32(c, "queue_depth", &p->queue_depth));
	TRY(rd16(c, "nshards", &p->nshards));
	TRY(check_count(c, "nshards", p->nshards, 0, TRAWL_MAX_SHARDS));
	TRY(need(c, 2 * (uint64_t)p->nshards, "shards"));
	for (uint32_t i = 0; i < p->nshards; i++)
		TRY(rd16(c, "shards", &p->shards[i]));
	TRY(check_shards(c, p->shards, p->nshards));
	TRY(rd8(c, "ready", &p->ready));
	TRY(check_bool(c, "ready", p->ready, "0: not ready, 1: ready"));
	return finish(c);
}

int wire_decode_pong(const void *buf, size_t len, wire_header *h, wire_pong *p, char *err,
                     size_t errlen)
{
	wctx c;
	dec_ctx(&c, WIRE_PONG, buf, len, err, errlen);
	TRY(header_in(&c, WIRE_PONG, h));
	return pong_in(&c, p);
}

/* ---- CANCEL ---- */

int wire_encode_cancel(tbuf *out, const wire_header *h, const wire_cancel *cn)
{
	if (!cn)
		return TRAWL_EINVAL;
	uint8_t *w;
	TRY(enc_begin(out, WIRE_CANCEL, h, 8, &w));
	w = st64(w, cn->target_request_id);
	return enc_end(out, 8, w);
}

static int cancel_in(wctx *c, wire_cancel *cn)
{
	TRY(rd64(c, "target_request_id", &cn->target_request_id));
	return finish(c);
}

int wire_decode_cancel(const void *buf, size_t len, wire_header *h, wire_cancel *cn, char *err,
                       size_t errlen)
{
	wctx c;
	dec_ctx(&c, WIRE_CANCEL, buf, len, err, errlen);
	TRY(header_in(&c, WIRE_CANCEL, h));
	return cancel_in(&c, cn);
}

/* ---- GET ---- */

static int get_check_shard(wctx *c, uint32_t shard)
{
	if (shard >= TRAWL_MAX_SHARDS)
		return fail(c, TRAWL_EINVAL, "shard is %" PRIu32 "; shard numbers are 0..%d", shard,
		            TRAWL_MAX_SHARDS - 1);
	return TRAWL_OK;
}

int wire_encode_get(tbuf *out, const wire_header *h, const wire_get *g)
{
	if (!g)
		return TRAWL_EINVAL;
	wctx c;
	enc_ctx(&c, WIRE_GET);
	TRY(get_check_shard(&c, g->shard));
	TRY(check_len(&c, "id", g->id_len, 1, LIMIT_ID_BYTES));
	TRY(check_ptr(&c, "id", g->id, g->id_len));
	uint64_t body = 8 + (uint64_t)g->id_len;
	uint8_t *w;
	TRY(enc_begin(out, WIRE_GET, h, body, &w));
	w = st16(w, g->shard);
	w = st16(w, 0);
	w = st32(w, g->id_len);
	w = stbytes(w, g->id, g->id_len);
	return enc_end(out, body, w);
}

static int get_in(wctx *c, wire_get *g)
{
	memset(g, 0, sizeof *g);
	TRY(rd16(c, "shard", &g->shard));
	TRY(get_check_shard(c, g->shard));
	TRY(rdreserved(c, 2));
	TRY(rdstr(c, "id", 4, 1, LIMIT_ID_BYTES, &g->id, &g->id_len));
	return finish(c);
}

int wire_decode_get(const void *buf, size_t len, wire_header *h, wire_get *g, char *err,
                    size_t errlen)
{
	wctx c;
	dec_ctx(&c, WIRE_GET, buf, len, err, errlen);
	TRY(header_in(&c, WIRE_GET, h));
	return get_in(&c, g);
}

/* ---- SCHEMA, SCHEMA_REPLY ---- */

int wire_encode_schema(tbuf *out, const wire_header *h)
{
	return header_only_encode(out, WIRE_SCHEMA, h);
}

int wire_decode_schema(const void *buf, size_t len, wire_header *h, char *err, size_t errlen)
{
	return header_only_decode(WIRE_SCHEMA, buf, len, h, err, errlen);
}

int wire_encode_schema_reply(tbuf *out, const wire_header *h, const wire_schema_reply *r)
{
	if (!r)
		return TRAWL_EINVAL;
	wctx c;
	enc_ctx(&c, WIRE_SCHEMA_REPLY);
	TRY(check_len(&c, "schema", r->schema_len, 0, LIMIT_SCHEMA_JSON_BYTES));
	TRY(check_ptr(&c, "schema", r->schema, r->schema_len));
	TRY(check_len(&c, "errmsg", r->errmsg_len, 0, LIMIT_ERRMSG_BYTES));
	TRY(check_ptr(&c, "errmsg", r->errmsg, r->errmsg_len));
	uint64_t body = 12 + (uint64_t)r->schema_len + r->errmsg_len;
	uint8_t *w;
	TRY(enc_begin(out, WIRE_SCHEMA_REPLY, h, body, &w));
	w = st16(w, r->status);
	w = st16(w, 0);
	w = st32(w, r->schema_len);
	w = stbytes(w, r->schema, r->schema_len);
	w = st32(w, r->errmsg_len);
	w = stbytes(w, r->errmsg, r->errmsg_len);
	return enc_end(out, body, w);
}

static int schema_reply_in(wctx *c, wire_schema_reply *r)
{
	memset(r, 0, sizeof *r);
	TRY(rd16(c, "status", &r->status));
	TRY(rdreserved(c, 2));
	TRY(rdstr(c, "schema", 4, 0, LIMIT_SCHEMA_JSON_BYTES, &r->schema, &r->schema_len));
	TRY(rdstr(c, "errmsg", 4, 0, LIMIT_ERRMSG_BYTES, &r->errmsg, &r->errmsg_len));
	return finish(c);
}

int wire_decode_schema_reply(const void *buf, size_t len, wire_header *h, wire_schema_reply *r,
                             char *err, size_t errlen)
{
	wctx c;
	dec_ctx(&c, WIRE_SCHEMA_REPLY, buf, len, err, errlen);
	TRY(header_in(&c, WIRE_SCHEMA_REPLY, h));
	return schema_reply_in(&c, r);
}

/* ---- FILES, FILES_REPLY, FILE_READ, FILE_READ_REPLY ---- */

int wire_encode_files(tbuf *out, const wire_header *h)
{
	return header_only_encode(out, WIRE_FILES, h);
}

int wire_decode_files(const void *buf, size_t len, wire_header *h, char *err, size_t errlen)
{
	return header_only_decode(WIRE_FILES, buf, len, h, err, errlen);
}

int wire_encode_files_reply(tbuf *out, const wire_header *h, const wire_files_reply *r)
{
	if (!r)
		return TRAWL_EINVAL;
	wctx c;
	enc_ctx(&c, WIRE_FILES_REPLY);
	TRY(check_len(&c, "manifest", r->manifest_len, 0, LIMIT_MANIFEST_BYTES));
	TRY(check_ptr(&c, "manifest", r->manifest, r->manifest_len));
	TRY(check_len(&c, "sum", r->sum_len, 0, WIRE_MANIFEST_SUM_BYTES));
	TRY(check_ptr(&c, "sum", r->sum, r->sum_len));
	TRY(check_len(&c, "errmsg", r->errmsg_len, 0, LIMIT_ERRMSG_BYTES));
	TRY(check_ptr(&c, "errmsg", r->errmsg, r->errmsg_len));
	uint64_t body = 13 + (uint64_t)r->manifest_len + r->sum_len + r->errmsg_len;
	uint8_t *w;
	TRY(enc_begin(out, WIRE_FILES_REPLY, h, body, &w));
	w = st16(w, r->status);
	w = st16(w, 0);
	w = st32(w, r->manifest_len);
	w = stbytes(w, r->manifest, r->manifest_len);
	w = st8(w, r->sum_len);
	w = stbytes(w, r->sum, r->sum_len);
	w = st32(w, r->errmsg_len);
	w = stbytes(w, r->errmsg, r->errmsg_len);
	return enc_end(out, body, w);
}

static int files_reply_in(wctx *c, wire_files_reply *r)
{
	memset(r, 0, sizeof *r);
	TRY(rd16(c, "status", &r->status));
	TRY(rdreserved(c, 2));
	TRY(rdstr(c, "manifest", 4, 0, LIMIT_MANIFEST_BYTES, &r->manifest, &r->manifest_len));
	uint32_t sum_len;
	TRY(rdstr(c, "sum", 1, 0, WIRE_MANIFEST_SUM_BYTES, &r->sum, &sum_len));
	r->sum_len = (uint8_t)sum_len;
	TRY(rdstr(c, "errmsg", 4, 0, LIMIT_ERRMSG_BYTES, &r->errmsg, &r->errmsg_len));
	return finish(c);
}

int wire_decode_files_reply(const void *buf, size_t len, wire_header *h, wire_files_reply *r,
                            char *err, size_t errlen)
{
	wctx c;
	dec_ctx(&c, WIRE_FILES_REPLY, buf, len, err, errlen);
	TRY(header_in(&c, WIRE_FILES_REPLY, h));
	return files_reply_in(&c, r);
}

/* check_file_name: a name a manifest could list (index/gen.c's rule): 1 to
 * LIMIT_GEN_FILE_NAME_BYTES bytes, no '/' and no NUL, not starting with
 * '.'; so neither "." nor ".." nor a path. */
static int check_file_name(wctx *c, const char *name, uint32_t len)
{
	TRY(check_len(c, "name", len, 1, LIMIT_GEN_FILE_NAME_BYTES));
	TRY(check_ptr(c, "name", name, len));
	if (name[0] == '.')
		return fail(c, TRAWL_EINVAL, "name starts with '.'; a generation's files do not");
	for (uint32_t i = 0; i < len; i++)
		if (name[i] == '/' || name[i] == 0)
			return fail(c, TRAWL_EINVAL,
			            "name has %s at byte %" PRIu32 "; a file name has none",
			            name[i] ? "a '/'" : "a NUL", i);
	return TRAWL_OK;
}

int wire_encode_file_read(tbuf *out, const wire_header *h, const wire_file_read *f)
{
	if (!f)
		return TRAWL_EINVAL;
	wctx c;
	enc_ctx(&c, WIRE_FILE_READ);
	TRY(check_len(&c, "max_len", f->max_len, 1, LIMIT_FILE_READ_BYTES));
	TRY(check_file_name(&c, f->name, f->name_len));
	uint64_t body = 13 + (uint64_t)f->name_len;
	uint8_t *w;
	TRY(enc_begin(out, WIRE_FILE_READ, h, body, &w));
	w = st64(w, f->offset);
	w = st32(w, f->max_len);
	w = st8(w, f->name_len);
	w = stbytes(w, f->name, f->name_len);
	return enc_end(out, body, w);
}

static int file_read_in(wctx *c, wire_file_read *f)
{
	memset(f, 0, sizeof *f);
	TRY(rd64(c, "offset", &f->offset));
	TRY(rd32(c, "max_len", &f->max_len));
	TRY(check_len(c, "max_len", f->max_len, 1, LIMIT_FILE_READ_BYTES));
	uint32_t n;
	TRY(rdstr(c, "name", 1, 1, LIMIT_GEN_FILE_NAME_BYTES, &f->name, &n));
	f->name_len = (uint8_t)n;
	TRY(check_file_name(c, f->name, n));
	return finish(c);
}

int wire_decode_file_read(const void *buf, size_t len, wire_header *h, wire_file_read *f, char *err,
                          size_t errlen)
{
	wctx c;
	dec_ctx(&c, WIRE_FILE_READ, buf, len, err, errlen);
	TRY(header_in(&c, WIRE_FILE_READ, h));
	return file_read_in(&c, f);
}

int wire_encode_file_read_reply(tbuf *out, const wire_header *h, const wire_file_read_reply *r)
{
	if (!r)
		return TRAWL_EINVAL;
	wctx c;
	enc_ctx(&c, WIRE_FILE_READ_REPLY);
	TRY(check_len(&c, "data", r->data_len, 0, LIMIT_FILE_READ_BYTES));
	TRY(check_ptr(&c, "data", r->data, r->data_len));
	TRY(check_len(&c, "errmsg", r->errmsg_len, 0, LIMIT_ERRMSG_BYTES));
	TRY(check_ptr(&c, "errmsg", r->errmsg, r->errmsg_len));
	uint64_t body = 20 + (uint64_t)r->data_len + r->errmsg_len;
	uint8_t *w;
	TRY(enc_begin(out, WIRE_FILE_READ_REPLY, h, body, &w));
	w = st16(w, r->status);
	w = st16(w, 0);
	w = st64(w, r->size);
	w = st32(w, r->data_len);
	w = stbytes(w, r->data, r->data_len);
	w = st32(w, r->errmsg_len);
	w = stbytes(w, r->errmsg, r->errmsg_len);
	return enc_end(out, body, w);
}

static int file_read_reply_in(wctx *c, wire_file_read_reply *r)
{
	memset(r, 0, sizeof *r);
	TRY(rd16(c, "status", &r->status));
	TRY(rdreserved(c, 2));
	TRY(rd64(c, "size", &r->size));
	const char *data;
	TRY(rdstr(c, "data", 4, 0, LIMIT_FILE_READ_BYTES, &data, &r->data_len));
	r->data = (const uint8_t *)data;
	TRY(rdstr(c, "errmsg", 4, 0, LIMIT_ERRMSG_BYTES, &r->errmsg, &r->errmsg_len));
	return finish(c);
}

int wire_decode_file_read_reply(const void *buf, size_t len, wire_header *h,
                                wire_file_read_reply *r, char *err, size_t errlen)
{
	wctx c;
	dec_ctx(&c, WIRE_FILE_READ_REPLY, buf, len, err, errlen);
	TRY(header_in(&c, WIRE_FILE_READ_REPLY, h));
	return file_read_reply_in(&c, r);
}

/* ---- any message ---- */

int wire_decode(const void *buf, size_t len, wire_msg *m, char *err, size_t errlen)
{
	wctx c;
	dec_ctx(&c, 0, buf, len, err, errlen);
	TRY(header_in(&c, 0, &m->h));
	c.what = wire_type_name(m->h.type);
	switch (m->h.type) {
	case WIRE_SEARCH:
		return search_in(&c, m->h.flags, &m->u.search);
	case WIRE_SEARCH_REPLY:
		return search_reply_in(&c, m->h.flags, &m->u.search_reply);
	case WIRE_FETCH:
		return fetch_in(&c, &m->u.fetch);
	case WIRE_FETCH_REPLY:
		return fetch_reply_in(&c, &m->u.fetch_reply);
	case WIRE_PING:
		return finish(&c);
	case WIRE_PONG:
		return pong_in(&c, &m->u.pong);
	case WIRE_CANCEL:
		return cancel_in(&c, &m->u.cancel);
	case WIRE_GET:
		return get_in(&c, &m->u.get);
	case WIRE_SCHEMA:
		return finish(&c);
	case WIRE_SCHEMA_REPLY:
		return schema_reply_in(&c, &m->u.schema_reply);
	case WIRE_FILES:
		return finish(&c);
	case WIRE_FILES_REPLY:
		return files_reply_in(&c, &m->u.files_reply);
	case WIRE_FILE_READ:
		return file_read_in(&c, &m->u.file_read);
	case WIRE_FILE_READ_REPLY:
		return file_read_reply_in(&c, &m->u.file_read_reply);
	default:
		return fail(&c, TRAWL_EINVAL, "unknown message type %u", (unsigned)m->h.type);
	}
}

int wire_encode(tbuf *out, const wire_msg *m)
{
	switch (m->h.type) {
	case WIRE_SEARCH:
		return wire_encode_search(out, &m->h, &m->u.search);
	case WIRE_SEARCH_REPLY:
		return wire_encode_search_reply(out, &m->h, &m->u.search_reply);
	case WIRE_FETCH:
		return wire_encode_fetch(out, &m->h, &m->u.fetch);
	case WIRE_FETCH_REPLY:
		return wire_encode_fetch_reply(out, &m->h, &m->u.fetch_reply);
	case WIRE_PING:
		return wire_encode_ping(out, &m->h);
	case WIRE_PONG:
		return wire_encode_pong(out, &m->h, &m->u.pong);
	case WIRE_CANCEL:
		return wire_encode_cancel(out, &m->h, &m->u.cancel);
	case WIRE_GET:
		return wire_encode_get(out, &m->h, &m->u.get);
	case WIRE_SCHEMA:
		return wire_encode_schema(out, &m->h);
	case WIRE_SCHEMA_REPLY:
		return wire_encode_schema_reply(out, &m->h, &m->u.schema_reply);
	case WIRE_FILES:
		return wire_encode_files(out, &m->h);
	case WIRE_FILES_REPLY:
		return wire_encode_files_reply(out, &m->h, &m->u.files_reply);
	case WIRE_FILE_READ:
		return wire_encode_file_read(out, &m->h, &m->u.file_read);
	case WIRE_FILE_READ_REPLY:
		return wire_encode_file_read_reply(out, &m->h, &m->u.file_read_reply);
	default:
		return TRAWL_EINVAL;
	}
}
