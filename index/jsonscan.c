/*
 * jsonscan.c - streaming validation of one JSON object (see jsonscan.h).
 *
 * The strict mode (IDX_JSCAN_STRICT) keeps a hash set of the keys seen,
 * tagged with the object they belong to: a few slots on the stack, a
 * table on the heap for documents with many keys, so that a document of
 * a million keys costs a million lookups, not a million squared.
 */
#include "jsonscan.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "common/hash.h"
#include "trawl/trawl.h"

/* A key of the strict mode's set: its decoded bytes are at off in the
 * input (a key without escapes) or in the arena (arena set). */
typedef struct kslot {
	uint64_t hash;
	size_t off;
	uint32_t len;
	uint32_t obj; /* the object's number + 1; 0: an empty slot */
	int arena;
} kslot;

#define INLINE_SLOTS 64

typedef struct scanner {
	const char *s, *p, *end;
	const char *err_at;
	const char *reason;
	int code;
	int flags;
	char detail[96];
	/* the strict mode's keys: every object's, in one set */
	uint32_t nobj;
	kslot *slots; /* inline, or malloc()ed once grown */
	size_t cap, nkeys;
	tbuf arena; /* the decoded keys that had escapes */
	kslot inline_slots[INLINE_SLOTS];
} scanner;

static int fail(scanner *sc, const char *at, int code, const char *reason)
{
	if (!sc->reason) {
		sc->err_at = at;
		sc->code = code;
		sc->reason = reason;
	}
	return -1;
}

/* A failure whose message quotes the offending bytes. */
static int failf(scanner *sc, const char *at, int code, const char *fmt, unsigned long v);

static int failf(scanner *sc, const char *at, int code, const char *fmt, unsigned long v)
{
	if (!sc->reason) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		snprintf(sc->detail, sizeof sc->detail, fmt, v); /* fmt: a literal of this file */
#pragma GCC diagnostic pop
		fail(sc, at, code, sc->detail);
	}
	return -1;
}

static inline void skip_ws(scanner *sc)
{
	while (sc->p < sc->end &&
	       (*sc->p == ' ' || *sc->p == '\n' || *sc->p == '\r' || *sc->p == '\t'))
		sc->p++;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Reads 4 hex digits at p; -1 if not. */
static long hex4(const char *p, const char *end)
{
	if (end - p < 4)
		return -1;
	long v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hexval(p[i]);
		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

/* Length of the valid UTF-8 sequence at p, or 0. */
static int utf8_seq(const unsigned char *p, const unsigned char *end)
{
	unsigned c = p[0];
	if (c < 0xC2 || c > 0xF4)
		return 0;
	int n = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
	if (end - p < n)
		return 0;
	for (int i = 1; i < n; i++)
		if ((p[i] & 0xC0) != 0x80)
			return 0;
	if (c == 0xE0 && p[1] < 0xA0)
		return 0; /* overlong */
	if (c == 0xED && p[1] >= 0xA0)
		return 0; /* surrogate */
	if (c == 0xF0 && p[1] < 0x90)
		return 0; /* overlong */
	if (c == 0xF4 && p[1] >= 0x90)
		return 0; /* above U+10FFFF */
	return n;
}

/* Validates a string starting at the opening quote; *plain: no escapes. */
static int scan_string(scanner *sc, int *plain)
{
	const char *p = sc->p + 1, *end = sc->end;
	int esc = 0;
	for (;;) {
		/* fast path over ordinary ASCII, sixteen bytes at a time: a signed
		 * compare with 0x20 catches control bytes and bytes >= 0x80 alike */
#ifdef __SSE2__
		const __m128i sp = _mm_set1_epi8(0x20), quote = _mm_set1_epi8('"'),
		              bs = _mm_set1_epi8('\\');
		for (; end - p >= 16; p += 16) {
			__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
			__m128i odd = _mm_or_si128(
			    _mm_cmplt_epi8(x, sp),
			    _mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bs)));
			if (_mm_movemask_epi8(odd))
				break;
		}
#endif
		while (p < end && (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x80 &&
		       *p != '"' && *p != '\\')
			p++;
		if (p >= end)
			return fail(sc, sc->p, TRAWL_EJSON, "unterminated string");
		unsigned char c = (unsigned char)*p;
		if (c == '"')
			break;
		if (c == '\\') {
			esc = 1;
			if (end - p < 2)
				return fail(sc, p, TRAWL_EJSON, "unterminated string");
			char e = p[1];
			if (e == 'u') {
				long v = hex4(p + 2, end);
				if (v < 0)
					return fail(sc, p, TRAWL_EJSON, "invalid \\u escape");
				p += 6;
				if (v >= 0xDC00 && v <= 0xDFFF)
					return failf(
					    sc, p - 6, TRAWL_EJSON,
					    "invalid Unicode escape \\u%04lx (lone low surrogate)",
					    (unsigned long)v);
				if (v >= 0xD800 && v <= 0xDBFF) {
					long lo = (end - p >= 2 && p[0] == '\\' && p[1] == 'u')
					              ? hex4(p + 2, end)
					              : -1;
					if (lo < 0xDC00 || lo > 0xDFFF)
						return failf(sc, p - 6, TRAWL_EJSON,
						             "invalid Unicode escape \\u%04lx "
						             "(high surrogate "
						             "without a low one)",
						             (unsigned long)v);
					p += 6;
				}
				continue;
			}
			if (!strchr("\"\\/bfnrt", e) || e == 0)
				return fail(sc, p, TRAWL_EJSON, "invalid escape in string");
			p += 2;
			continue;
		}
		if (c < 0x20)
			return failf(sc, p, TRAWL_EJSON, "control character 0x%02lx in a string",
			             c);
		int n = utf8_seq((const unsigned char *)p, (const unsigned char *)end);
		if (!n)
			return failf(sc, p, TRAWL_EUTF8, "invalid UTF-8: byte 0x%02lx", c);
		p += n;
	}
	sc->p = p + 1;
	*plain = !esc;
	return 0;
}

const char *idx_json_number(const char *p, const char *end, int *ok, int *integral)
{
	*ok = 0;
	*integral = 1;
	if (p < end && *p == '-')
		p++;
	if (p >= end || *p < '0' || *p > '9')
		return p;
	if (*p == '0')
		p++;
	else
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	if (p < end && *p == '.') {
		*integral = 0;
		if (++p >= end || *p < '0' || *p > '9')
			return p;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		*integral = 0;
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || *p < '0' || *p > '9')
			return p;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	*ok = 1;
	return p;
}

static const char *decode(const char *p, const char *end, tbuf *out, int *rc);

static const char *slot_key(const scanner *sc, const kslot *k)
{
	return k->arena ? (const char *)sc->arena.data + k->off : sc->s + k->off;
}

static int grow_keys(scanner *sc)
{
	size_t cap = sc->cap * 2;
	kslot *t = calloc(cap, sizeof *t);
	if (!t)
		return -1;
	for (size_t i = 0; i < sc->cap; i++) {
		if (!sc->slots[i].obj)
			continue;
		size_t j = sc->slots[i].hash & (cap - 1);
		while (t[j].obj)
			j = (j + 1) & (cap - 1);
		t[j] = sc->slots[i];
	}
	if (sc->slots != sc->inline_slots)
		free(sc->slots);
	sc->slots = t;
	sc->cap = cap;
	return 0;
}

/* note_key (strict mode) records the key whose opening quote is at kstart
 * (validated, ending before sc->p) as a member of object obj: a key that
 * object already has fails, as does a NUL character in a key (jansson
 * supports neither). */
static int note_key(scanner *sc, uint32_t obj, const char *kstart, int plain)
{
	const char *key = kstart + 1;
	size_t klen = (size_t)(sc->p - kstart) - 2, off = (size_t)(key - sc->s);
	int arena = !plain;
	if (arena) {
		int rc = TRAWL_OK;
		off = sc->arena.len;
		decode(kstart, sc->p, &sc->arena, &rc);
		if (rc)
			return fail(sc, kstart, rc, "out of memory");
		key = (const char *)sc->arena.data + off;
		klen = sc->arena.len - off;
		if (memchr(key, 0, klen))
			return fail(sc, kstart, TRAWL_EJSON, "NUL character in a key");
	}
	if (klen > UINT32_MAX)
		return fail(sc, kstart, TRAWL_EJSON, "key too long");
	uint64_t h = th_hash64(key, klen) ^ ((uint64_t)obj * 0x9E3779B97F4A7C15ull);
	size_t j = h & (sc->cap - 1);
	for (kslot *k; (k = &sc->slots[j])->obj; j = (j + 1) & (sc->cap - 1))
		if (k->hash == h && k->obj == obj + 1 && k->len == klen &&
		    memcmp(slot_key(sc, k), key, klen) == 0) {
			/* the key, cut at a character's start to fit the message */
			int n = klen > 60 ? 60 : (int)klen;
			while (n > 0 && n < (int)klen && ((unsigned char)key[n] & 0xC0) == 0x80)
				n--;
			if (!sc->reason) {
				snprintf(sc->detail, sizeof sc->detail, "duplicate key \"%.*s%s\"",
				         n, key, n < (int)klen ? "..." : "");
				fail(sc, kstart, TRAWL_EJSON, sc->detail);
			}
			return -1;
		}
	sc->slots[j] = (kslot){h, off, (uint32_t)klen, obj + 1, arena};
	if (++sc->nkeys * 2 > sc->cap && grow_keys(sc))
		return fail(sc, kstart, TRAWL_ENOMEM, "out of memory");
	return 0;
}

/* strict_number (strict mode): whether the number [s, e) fits what jansson
 * reads it into: an integer a 64-bit signed one, any other number a double
 * that does not overflow. */
static int strict_number(scanner *sc, const char *s, const char *e, int integral)
{
	int neg = *s == '-';
	size_t n = (size_t)(e - s), digits = n - (size_t)neg;
	if (integral) { /* JSON has no leading zeros: more digits is larger */
		if (digits < 19 ||
		    (digits == 19 &&
		     memcmp(s + neg, neg ? "9223372036854775808" : "9223372036854775807", 19) <= 0))
			return 0;
		return fail(sc, s, TRAWL_EJSON,
		            neg ? "integer below -2^63 (the least 64-bit integer)"
		                : "integer above 2^63-1 (the largest 64-bit integer)");
	}
	char small[64], *buf = small;
	if (n >= sizeof small && !(buf = malloc(n + 1)))
		return fail(sc, s, TRAWL_ENOMEM, "out of memory");
	memcpy(buf, s, n);
	buf[n] = 0;
	errno = 0;
	double v = strtod(buf, NULL);
	int over = (v == HUGE_VAL || v == -HUGE_VAL) && errno == ERANGE;
	if (buf != small)
		free(buf);
	return over ? fail(sc, s, TRAWL_EJSON, "number too large for a double") : 0;
}

static int scan_number(scanner *sc)
{
	int ok, integral;
	const char *p = idx_json_number(sc->p, sc->end, &ok, &integral);
	if (!ok)
		return fail(sc, *sc->p == '-' && p == sc->p + 1 ? sc->p : p, TRAWL_EJSON,
		            "invalid number");
	if ((sc->flags & IDX_JSCAN_STRICT) && strict_number(sc, sc->p, p, integral))
		return -1;
	sc->p = p;
	return 0;
}

static int scan_value(scanner *sc, int depth, idx_jkind *kind);

static int scan_container(scanner *sc, int depth, char close)
{
	if (depth >= LIMIT_JSON_DEPTH)
		return fail(sc, sc->p, TRAWL_EJSON, "nesting deeper than 64 levels");
	uint32_t obj = close == '}' ? ++sc->nobj : 0; /* the top level's is 0 */
	sc->p++;
	skip_ws(sc);
	if (sc->p < sc->end && *sc->p == close) {
		sc->p++;
		return 0;
	}
	for (;;) {
		idx_jkind k;
		if (close == '}') {
			int plain;
			const char *kstart = sc->p;
			if (sc->p >= sc->end || *sc->p != '"')
				return fail(sc, sc->p, TRAWL_EJSON, "expected a string key");
			if (scan_string(sc, &plain))
				return -1;
			if ((sc->flags & IDX_JSCAN_STRICT) && note_key(sc, obj, kstart, plain))
				return -1;
			skip_ws(sc);
			if (sc->p >= sc->end || *sc->p != ':')
				return fail(sc, sc->p, TRAWL_EJSON, "expected ':' after a key");
			sc->p++;
			skip_ws(sc);
		}
		if (scan_value(sc, depth + 1, &k))
			return -1;
		skip_ws(sc);
		if (sc->p < sc->end && *sc->p == ',') {
			sc->p++;
			skip_ws(sc);
			continue;
		}
		if (sc->p < sc->end && *sc->p == close) {
			sc->p++;
			return 0;
		}
		return fail(sc, sc->p, TRAWL_EJSON,
		            close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

static int literal(scanner *sc, const char *word, size_t n)
{
	if ((size_t)(sc->end - sc->p) < n || memcmp(sc->p, word, n))
		return fail(sc, sc->p, TRAWL_EJSON, "invalid literal");
	sc->p += n;
	return 0;
}

static int scan_value(scanner *sc, int depth, idx_jkind *kind)
{
	if (sc->p >= sc->end)
		return fail(sc, sc->p, TRAWL_EJSON, "unexpected end of input");
	int plain;
	switch (*sc->p) {
	case '"':
		*kind = IDX_J_STRING;
		return scan_string(sc, &plain);
	case '{':
		*kind = IDX_J_OBJECT;
		return scan_container(sc, depth, '}');
	case '[':
		*kind = IDX_J_ARRAY;
		return scan_container(sc, depth, ']');
	case 't':
		*kind = IDX_J_TRUE;
		return literal(sc, "true", 4);
	case 'f':
		*kind = IDX_J_FALSE;
		return literal(sc, "false", 5);
	case 'n':
		*kind = IDX_J_NULL;
		return literal(sc, "null", 4);
	default:
		*kind = IDX_J_NUMBER;
		if (*sc->p == '-' || (*sc->p >= '0' && *sc->p <= '9'))
			return scan_number(sc);
		if ((unsigned char)*sc->p > 0x20 && (unsigned char)*sc->p < 0x7f)
			return failf(sc, sc->p, TRAWL_EJSON, "invalid token '%c'",
			             (unsigned long)(unsigned char)*sc->p);
		return failf(sc, sc->p, TRAWL_EJSON, "invalid token (byte 0x%02lx)",
		             (unsigned long)(unsigned char)*sc->p);
	}
}

static void put_utf8(uint8_t *o, size_t *n, unsigned long cp)
{
	if (cp < 0x80) {
		o[(*n)++] = (uint8_t)cp;
	} else if (cp < 0x800) {
		o[(*n)++] = (uint8_t)(0xC0 | (cp >> 6));
		o[(*n)++] = (uint8_t)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		o[(*n)++] = (uint8_t)(0xE0 | (cp >> 12));
		o[(*n)++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
		o[(*n)++] = (uint8_t)(0x80 | (cp & 0x3F));
	} else {
		o[(*n)++] = (uint8_t)(0xF0 | (cp >> 18));
		o[(*n)++] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
		o[(*n)++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
		o[(*n)++] = (uint8_t)(0x80 | (cp & 0x3F));
	}
}

/* The first '"' or '\\' in [p, end), or end: sixteen bytes at a time
 * (document text is long runs of ordinary bytes). */
static const char *find_special(const char *p, const char *end)
{
#ifdef __SSE2__
	const __m128i quote = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\');
	for (; end - p >= 16; p += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
		unsigned m = (unsigned)_mm_movemask_epi8(
		    _mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bs)));
		if (m)
			return p + __builtin_ctz(m);
	}
#endif
	while (p < end && *p != '"' && *p != '\\')
		p++;
	return p;
}

/* Decodes the validated string whose opening quote is at p; returns the
 * byte after its closing quote. */
static const char *decode(const char *p, const char *end, tbuf *out, int *rc)
{
	p++;
	/* where it ends; decoded text is never longer than the escaped text */
	const char *q = p;
	for (;;) {
		q = find_special(q, end);
		if (q >= end || *q == '"')
			break;
		q += 2; /* an escape (validated: it is whole) */
	}
	if ((*rc = tbuf_reserve(out, (size_t)(q - p))))
		return NULL;
	uint8_t *o = out->data + out->len;
	size_t n = 0;
	while (p < q) {
		/* a run of ordinary bytes, then one escape */
		const char *s = find_special(p, q);
		memcpy(o + n, p, (size_t)(s - p));
		n += (size_t)(s - p);
		p = s;
		if (p >= q)
			break;
		char e = p[1];
		p += 2;
		switch (e) {
		case 'b':
			o[n++] = '\b';
			break;
		case 'f':
			o[n++] = '\f';
			break;
		case 'n':
			o[n++] = '\n';
			break;
		case 'r':
			o[n++] = '\r';
			break;
		case 't':
			o[n++] = '\t';
			break;
		case 'u': {
			unsigned long cp = (unsigned long)hex4(p, end);
			p += 4;
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				unsigned long lo = (unsigned long)hex4(p + 2, end);
				p += 6;
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			}
			put_utf8(o, &n, cp);
			break;
		}
		default:
			o[n++] = (uint8_t)e;
			break;
		}
	}
	out->len += n;
	return q + 1;
}

int idx_json_string(const idx_jvalue *v, tbuf *out)
{
	int rc = TRAWL_OK;
	decode(v->start, v->start + v->len, out, &rc);
	return rc;
}

int idx_json_strings(const idx_jvalue *v, char sep, tbuf *out)
{
	const char *p = v->start + 1, *end = v->start + v->len;
	int first = 1, rc = TRAWL_OK;
	for (;;) {
		while (p < end &&
		       (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t' || *p == ','))
			p++;
		if (p >= end || *p == ']')
			return TRAWL_OK;
		if (*p != '"')
			return TRAWL_EJSON;
		if (!first && (rc = tbuf_putc(out, (uint8_t)sep)))
			return rc;
		first = 0;
		p = decode(p, end, out, &rc);
		if (!p)
			return rc;
	}
}

int idx_json_scan(const char *text, size_t len, int flags, idx_jmember_cb cb, void *ctx,
                  tbuf *keybuf, uint32_t *column, char *err, size_t errlen)
{
	scanner sc;
	sc.s = sc.p = text;
	sc.end = text + len;
	sc.err_at = NULL;
	sc.reason = NULL;
	sc.code = 0;
	sc.flags = flags;
	sc.nobj = 0;
	sc.slots = sc.inline_slots;
	sc.cap = INLINE_SLOTS;
	sc.nkeys = 0;
	if (flags & IDX_JSCAN_STRICT)
		memset(sc.inline_slots, 0, sizeof sc.inline_slots);
	tbuf_init(&sc.arena, len + 64);
	int ret = 0;
	skip_ws(&sc);
	if (sc.p >= sc.end || *sc.p != '{') {
		fail(&sc, sc.p, TRAWL_EJSON, "a document must be a JSON object");
		goto error;
	}
	sc.p++;
	skip_ws(&sc);
	if (sc.p < sc.end && *sc.p == '}') {
		sc.p++;
	} else {
		for (;;) {
			int plain;
			if (sc.p >= sc.end || *sc.p != '"') {
				fail(&sc, sc.p, TRAWL_EJSON, "expected a string key");
				goto error;
			}
			const char *kstart = sc.p;
			if (scan_string(&sc, &plain))
				goto error;
			if ((flags & IDX_JSCAN_STRICT) && note_key(&sc, 0, kstart, plain))
				goto error;
			const char *key = kstart + 1;
			size_t klen = (size_t)(sc.p - kstart) - 2;
			if (!plain) {
				int rc = TRAWL_OK;
				tbuf_reset(keybuf);
				decode(kstart, sc.p, keybuf, &rc);
				if (rc) {
					ret = rc;
					goto done;
				}
				key = (const char *)keybuf->data;
				klen = keybuf->len;
			}
			skip_ws(&sc);
			if (sc.p >= sc.end || *sc.p != ':') {
				fail(&sc, sc.p, TRAWL_EJSON, "expected ':' after a key");
				goto error;
			}
			sc.p++;
			skip_ws(&sc);
			idx_jvalue v;
			v.start = sc.p;
			v.key_at = kstart;
			if (scan_value(&sc, 1, &v.kind))
				goto error;
			v.len = (size_t)(sc.p - v.start);
			if (cb && (ret = cb(ctx, key, klen, &v)) != 0)
				goto done;
			skip_ws(&sc);
			if (sc.p < sc.end && *sc.p == ',') {
				sc.p++;
				skip_ws(&sc);
				continue;
			}
			if (sc.p < sc.end && *sc.p == '}') {
				sc.p++;
				break;
			}
			fail(&sc, sc.p, TRAWL_EJSON, "expected ',' or '}'");
			goto error;
		}
	}
	skip_ws(&sc);
	if (sc.p < sc.end) {
		fail(&sc, sc.p, TRAWL_EJSON, "text after the end of the object");
		goto error;
	}
	goto done;
error:;
	uint32_t col = 1;
	for (const char *q = text; q < sc.err_at && q < sc.end; q++)
		col += ((unsigned char)*q & 0xC0) != 0x80;
	*column = col;
	if (err && errlen)
		snprintf(err, errlen, "%s", sc.reason);
	ret = sc.code;
done:
	if (sc.slots != sc.inline_slots)
		free(sc.slots);
	tbuf_fini(&sc.arena);
	return ret;
}
