/*
 * analyze.c - text analysis: UTF-8 validation, tokenization, NFKC case
 * folding, the English stop list and Snowball stemming (see analyze.h).
 *
 * This file exists to keep utf8proc and libstemmer behind one small
 * interface, and to keep the hot loop of indexing fast: text is mostly
 * ASCII, so ASCII bytes are classified and lowercased 16 at a time with
 * SSE2 (or one table lookup each without it), and utf8proc is consulted
 * only for bytes >= 0x80. A token made only of ASCII letters and digits is
 * lowercased into a scratch buffer while it is scanned; any other token is
 * NFKC-case-folded by utf8proc into a scratch buffer the analyzer keeps, so
 * nothing is allocated per token. Stems are cached (see stem()).
 */
#include "analyze.h"

#include <stdlib.h>
#include <string.h>

#include <libstemmer.h>
#include <utf8proc.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "trawl/trawl.h"

/* NFKC case folding, as utf8proc_map would do it with these options. */
#define FOLD_OPTS (UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD)

/*
 * The longest canonical decomposition of one code point is 4 code points
 * (e.g. U+1F82), and every code point takes at least one byte in UTF-8, so
 * a folded string of at most n bytes comes from at most 4 * n decomposed
 * code points. Longer decompositions are refused before they are composed.
 */
#define MAX_CANON_DECOMP 4
#define FOLD_CPS_MAX(nbytes) ((nbytes)*MAX_CANON_DECOMP + MAX_CANON_DECOMP)

/* lower[] values: a separator, or "look at this byte with utf8proc". */
#define SEP 0
#define HI 0xff

/* For each byte: ASCII letters and digits map to their lowercase form,
 * other ASCII bytes to SEP, and bytes of multi-byte sequences to HI. */
/* clang-format off */
static const uint8_t lower[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 0, 0, 0, 0, 0, 0,
	0, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
	'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 0, 0, 0, 0, 0,
	0, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
	'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 0, 0, 0, 0, 0,
	HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI,
	HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI,
	HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI,
	HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI,
	HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI,
	HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI,
	HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI,
	HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI, HI,
};
/* clang-format on */

/*
 * Snowball costs roughly 100 ns a word, several times the rest of the
 * analysis, and word frequencies are skewed, so the english analyzer keeps
 * a direct-mapped cache of recent stems. Stemming is a pure function of the
 * word, so the cache changes nothing but speed.
 */
#define STEM_CACHE_SLOTS 32768 /* a power of two: 1 MiB */
#define STEM_CACHE_WORD 15     /* longest word (and stem) cached */

typedef struct stem_slot { /* 32 bytes: two to a cache line */
	uint8_t wlen;      /* 0: empty */
	uint8_t slen;
	uint8_t word[STEM_CACHE_WORD];
	uint8_t stem[STEM_CACHE_WORD];
} stem_slot;

struct idx_analyzer {
	idx_analyzer_kind kind;
	struct sb_stemmer *stemmer; /* english only */
	stem_slot *stems;           /* english only: STEM_CACHE_SLOTS */
	/* Fold scratch: the decomposed code points, then (in place) the UTF-8
	 * result. cpcap counts elements and is always one more than utf8proc
	 * may fill, for utf8proc_reencode's terminating NUL. */
	utf8proc_int32_t *cp;
	size_t cpcap;
	/* The lowercase bytes of the ASCII token being scanned, and slack for
	 * scan()'s 16-byte stores. */
	uint8_t tok[LIMIT_TOKEN_BYTES + 16];
};

/* A token found by scan(): bytes [start, end) of the input. */
typedef struct span {
	size_t start;
	size_t end;
	int ascii; /* only ASCII letters and digits; lowercased in a->tok */
} span;

enum { CL_SEP, CL_WORD, CL_MARK };

/* classify decodes the character at p (n > 0 bytes left, p[0] >= 0x80):
 * a letter or number (CL_WORD), a combining mark (CL_MARK) or anything else,
 * including an invalid byte (CL_SEP). *adv receives its length in bytes. */
static int classify(const uint8_t *p, size_t n, size_t *adv)
{
	utf8proc_int32_t c;
	utf8proc_ssize_t r = utf8proc_iterate(p, n > 4 ? 4 : (utf8proc_ssize_t)n, &c);
	if (r <= 0) {
		*adv = 1;
		return CL_SEP;
	}
	*adv = (size_t)r;
	utf8proc_category_t cat = utf8proc_category(c);
	if (cat >= UTF8PROC_CATEGORY_MN && cat <= UTF8PROC_CATEGORY_ME)
		return CL_MARK;
	if ((cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
	    (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO))
		return CL_WORD;
	return CL_SEP;
}

#ifdef __SSE2__
/*
 * word_mask16 classifies 16 bytes at once: bit k of the result is set if
 * p[k] is an ASCII letter or digit, and *lowv receives the bytes with
 * ASCII capitals lowercased. *himask gets the bits of bytes >= 0x80.
 */
static inline uint32_t word_mask16(const uint8_t *p, __m128i *lowv, uint32_t *himask)
{
	__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
	/* x in [lo, lo + n) as unsigned bytes: (x + 128 - lo) < -128 + n signed. */
	__m128i up = _mm_cmplt_epi8(_mm_add_epi8(v, _mm_set1_epi8((char)(128 - 'A'))),
	                            _mm_set1_epi8(-128 + 26));
	__m128i lo = _mm_cmplt_epi8(_mm_add_epi8(v, _mm_set1_epi8((char)(128 - 'a'))),
	                            _mm_set1_epi8(-128 + 26));
	__m128i dg = _mm_cmplt_epi8(_mm_add_epi8(v, _mm_set1_epi8((char)(128 - '0'))),
	                            _mm_set1_epi8(-128 + 10));
	*lowv = _mm_or_si128(v, _mm_and_si128(up, _mm_set1_epi8(0x20)));
	*himask = (uint32_t)_mm_movemask_epi8(v);
	return (uint32_t)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(up, lo), dg));
}
#endif

/*
 * scan finds the next token at or after *pi and stores it in *sp; it
 * returns 0 when the text has no more tokens. *pi moves past the token.
 * For a pure ASCII token the first LIMIT_TOKEN_BYTES lowercase bytes are
 * left in a->tok.
 */
static inline __attribute__((always_inline)) int scan(idx_analyzer *a, const uint8_t *p, size_t len,
                                                      size_t *pi, span *sp)
{
	size_t i = *pi, adv, k;
	uint8_t c = SEP;
	int more; /* the ASCII run stopped at a byte >= 0x80 */

	/* Skip separators up to the first letter or digit. */
	for (;;) {
#ifdef __SSE2__
		if (len - i >= 16) {
			__m128i lv;
			uint32_t hi, m = word_mask16(p + i, &lv, &hi);
			if (!(m | hi)) {
				i += 16;
				continue;
			}
			unsigned z = (unsigned)__builtin_ctz(m | hi);
			i += z;
			if (!((hi >> z) & 1))
				break;
		} else
#endif
		{
			while (i < len && (c = lower[p[i]]) == SEP)
				i++;
			if (i >= len) {
				*pi = i;
				return 0;
			}
			if (c != HI)
				break;
		}
		if (classify(p + i, len - i, &adv) == CL_WORD) {
			sp->start = i;
			i += adv;
			goto unicode;
		}
		i += adv;
	}

	/* An ASCII run, lowercased as it goes. */
	sp->start = i;
	k = 0;
	for (;;) {
#ifdef __SSE2__
		if (len - i >= 16) {
			__m128i lv;
			uint32_t hi, m = word_mask16(p + i, &lv, &hi);
			/* a->tok has 16 bytes of slack for this store. */
			if (k < LIMIT_TOKEN_BYTES)
				_mm_storeu_si128((__m128i *)(void *)(a->tok + k), lv);
			unsigned run = (unsigned)__builtin_ctz(~m); /* m < 1 << 16 */
			k += run;
			i += run;
			if (run < 16) {
				more = (hi >> run) & 1;
				break;
			}
			continue;
		}
#endif
		while (i < len && (c = lower[p[i]]) != SEP && c != HI) {
			if (k < LIMIT_TOKEN_BYTES)
				a->tok[k] = c;
			k++;
			i++;
		}
		more = i < len && c == HI;
		break;
	}
	if (!more || classify(p + i, len - i, &adv) == CL_SEP) {
		sp->end = i;
		sp->ascii = 1;
		*pi = i;
		return 1;
	}
	i += adv;

unicode:
	/* The token has a non-ASCII character: find its end; fold() does the rest. */
	while (i < len) {
		c = lower[p[i]];
		if (c == SEP)
			break;
		if (c != HI) {
			i++;
			continue;
		}
		if (classify(p + i, len - i, &adv) == CL_SEP)
			break;
		i += adv;
	}
	sp->end = i;
	sp->ascii = 0;
	*pi = i;
	return 1;
}

/*
 * fold NFKC-case-folds the n bytes at s into the analyzer's scratch buffer:
 * *out and *outlen are valid until the next call. Returns TRAWL_OK,
 * TRAWL_ELIMIT (the result would be longer than max bytes), TRAWL_ENOMEM,
 * or TRAWL_EUTF8 (utf8proc refused the input; scan() never passes such).
 */
static int fold(idx_analyzer *a, const uint8_t *s, size_t n, size_t max, const uint8_t **out,
                size_t *outlen)
{
	size_t limit = max > (SIZE_MAX / sizeof(utf8proc_int32_t) - 16) / MAX_CANON_DECOMP
	                   ? SIZE_MAX / sizeof(utf8proc_int32_t) - 16
	                   : FOLD_CPS_MAX(max);
	/* Every input code point (at most 4 bytes) decomposes to one or more. */
	if (n / 4 > limit)
		return TRAWL_ELIMIT;
	utf8proc_ssize_t r;
	for (;;) {
		r = utf8proc_decompose(s, (utf8proc_ssize_t)n, a->cp,
		                       (utf8proc_ssize_t)(a->cpcap - 1), FOLD_OPTS);
		if (r < 0)
			return r == UTF8PROC_ERROR_NOMEM ? TRAWL_ENOMEM : TRAWL_EUTF8;
		if ((size_t)r <= a->cpcap - 1)
			break;
		if ((size_t)r > limit)
			return TRAWL_ELIMIT;
		utf8proc_int32_t *cp = realloc(a->cp, ((size_t)r + 1) * sizeof(*cp));
		if (!cp)
			return TRAWL_ENOMEM;
		a->cp = cp;
		a->cpcap = (size_t)r + 1;
	}
	r = utf8proc_reencode(a->cp, r, FOLD_OPTS);
	if (r < 0)
		return r == UTF8PROC_ERROR_NOMEM ? TRAWL_ENOMEM : TRAWL_EUTF8;
	if ((size_t)r > max)
		return TRAWL_ELIMIT;
	*out = (const uint8_t *)a->cp;
	*outlen = (size_t)r;
	return TRAWL_OK;
}

int idx_analyzer_alloc(idx_analyzer **out, idx_analyzer_kind kind)
{
	*out = NULL;
	if (kind != IDX_AN_PLAIN && kind != IDX_AN_ENGLISH)
		return TRAWL_EINVAL;
	idx_analyzer *a = calloc(1, sizeof(*a));
	if (!a)
		return TRAWL_ENOMEM;
	a->kind = kind;
	/* Big enough for any token idx_analyze keeps: it never grows there. */
	a->cpcap = FOLD_CPS_MAX(LIMIT_TOKEN_BYTES) + 1;
	a->cp = malloc(a->cpcap * sizeof(*a->cp));
	if (!a->cp)
		goto nomem;
	if (kind == IDX_AN_ENGLISH) {
		a->stemmer = sb_stemmer_new("english", "UTF_8");
		a->stems = aligned_alloc(64, STEM_CACHE_SLOTS * sizeof(*a->stems));
		if (!a->stemmer || !a->stems)
			goto nomem;
		memset(a->stems, 0, STEM_CACHE_SLOTS * sizeof(*a->stems));
	}
	*out = a;
	return TRAWL_OK;
nomem:
	idx_analyzer_free(a);
	return TRAWL_ENOMEM;
}

void idx_analyzer_free(idx_analyzer *a)
{
	if (!a)
		return;
	if (a->stemmer)
		sb_stemmer_delete(a->stemmer);
	free(a->stems);
	free(a->cp);
	free(a);
}

int idx_analyzer_kind_parse(const char *name)
{
	if (!name)
		return -1;
	if (strcmp(name, "plain") == 0)
		return IDX_AN_PLAIN;
	if (strcmp(name, "english") == 0)
		return IDX_AN_ENGLISH;
	return -1;
}

const char *idx_analyzer_kind_name(idx_analyzer_kind kind)
{
	switch (kind) {
	case IDX_AN_PLAIN:
		return "plain";
	case IDX_AN_ENGLISH:
		return "english";
	}
	return "unknown";
}

size_t idx_utf8_validate(const char *s, size_t len)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t i = 0;

	while (i < len) {
		/* ASCII, eight bytes at a time, then byte by byte. */
		while (len - i >= 8) {
			uint64_t w;
			memcpy(&w, p + i, 8);
			if (w & UINT64_C(0x8080808080808080))
				break;
			i += 8;
		}
		while (i < len && p[i] < 0x80)
			i++;
		if (i >= len)
			break;

		/* One multi-byte sequence; the second byte's range excludes
		 * overlongs, surrogates and code points above U+10FFFF. */
		uint8_t c = p[i], lo = 0x80, hi = 0xbf;
		size_t need;
		if (c < 0xc2) {
			return i; /* continuation byte, or overlong C0/C1 */
		} else if (c < 0xe0) {
			need = 1;
		} else if (c < 0xf0) {
			need = 2;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f;
		} else if (c < 0xf5) {
			need = 3;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		} else {
			return i;
		}
		if (len - i - 1 < need)
			return i;
		if (p[i + 1] < lo || p[i + 1] > hi)
			return i;
		for (size_t k = 2; k <= need; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				return i;
		i += need + 1;
	}
	return len;
}

int idx_lowercase(const char *s, size_t n, tbuf *out)
{
	const uint8_t *p = (const uint8_t *)s, *end = p + n;
	while (p < end) {
		if (*p < 0x80) { /* ASCII: the common case */
			int rc = tbuf_putc(out, (uint8_t)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p));
			if (rc)
				return rc;
			p++;
			continue;
		}
		utf8proc_int32_t cp;
		utf8proc_ssize_t k = utf8proc_iterate(p, end - p, &cp);
		if (k <= 0)
			return TRAWL_EUTF8;
		uint8_t enc[4];
		utf8proc_ssize_t m = utf8proc_encode_char(utf8proc_tolower(cp), enc);
		int rc = m > 0 ? tbuf_append(out, enc, (size_t)m) : TRAWL_EUTF8;
		if (rc)
			return rc;
		p += k;
	}
	return TRAWL_OK;
}

int idx_is_stopword(const char *term, size_t len)
{
	const char *t = term;

#define IS(w) (memcmp(t, (w), sizeof(w) - 1) == 0)
	switch (len) {
	case 1:
		return t[0] == 'a';
	case 2:
		switch (t[0]) {
		case 'a':
			return t[1] == 'n' || t[1] == 's' || t[1] == 't';
		case 'b':
			return t[1] == 'e' || t[1] == 'y';
		case 'i':
			return t[1] == 'f' || t[1] == 'n' || t[1] == 's' || t[1] == 't';
		case 'n':
			return t[1] == 'o';
		case 'o':
			return t[1] == 'f' || t[1] == 'n' || t[1] == 'r';
		case 't':
			return t[1] == 'o';
		}
		return 0;
	case 3:
		switch (t[0]) {
		case 'a':
			return IS("and") || IS("are");
		case 'b':
			return IS("but");
		case 'f':
			return IS("for");
		case 'n':
			return IS("not");
		case 't':
			return IS("the");
		case 'w':
			return IS("was");
		}
		return 0;
	case 4:
		switch (t[0]) {
		case 'i':
			return IS("into");
		case 's':
			return IS("such");
		case 't':
			return IS("that") || IS("then") || IS("they") || IS("this");
		case 'w':
			return IS("will") || IS("with");
		}
		return 0;
	case 5:
		return t[0] == 't' && (IS("their") || IS("there") || IS("these"));
	}
	return 0;
#undef IS
}

/*
 * stem returns the Snowball English stem of the n bytes at w in *out and
 * *outlen (valid until the next call), from the cache when it can.
 * Returns TRAWL_OK or TRAWL_ENOMEM.
 */
static int stem(idx_analyzer *a, const uint8_t *w, size_t n, const uint8_t **out, size_t *outlen)
{
	stem_slot *sl = NULL;
	if (n <= STEM_CACHE_WORD) {
		uint32_t h = 2166136261u; /* FNV-1a */
		for (size_t k = 0; k < n; k++)
			h = (h ^ w[k]) * 16777619u;
		sl = &a->stems[(h ^ (h >> 15)) & (STEM_CACHE_SLOTS - 1)];
		if (sl->wlen == n && memcmp(sl->word, w, n) == 0) {
			*out = sl->stem;
			*outlen = sl->slen;
			return TRAWL_OK;
		}
	}
	const sb_symbol *s = sb_stemmer_stem(a->stemmer, w, (int)n);
	if (!s)
		return TRAWL_ENOMEM;
	int sn = sb_stemmer_length(a->stemmer);
	*out = s;
	*outlen = sn > 0 ? (size_t)sn : 0;
	if (sl && *outlen <= STEM_CACHE_WORD) {
		sl->wlen = (uint8_t)n;
		sl->slen = (uint8_t)*outlen;
		memcpy(sl->word, w, n);
		memcpy(sl->stem, s, *outlen);
	}
	return TRAWL_OK;
}

int idx_analyze(idx_analyzer *a, const char *text, size_t len, uint32_t pos_base, uint32_t *npos,
                idx_token_cb cb, void *ctx)
{
	const uint8_t *p = (const uint8_t *)text;
	size_t i = 0;
	uint32_t n = 0; /* tokens seen */
	int rc = 0;
	span sp;

	/* Offsets are 32-bit; documents are far smaller. */
	if (len > UINT32_MAX) {
		rc = TRAWL_ELIMIT;
		goto out;
	}
	while (scan(a, p, len, &i, &sp)) {
		if (n > UINT32_MAX - pos_base) {
			rc = TRAWL_ELIMIT; /* positions would wrap */
			break;
		}
		uint32_t pos = pos_base + n++;
		const uint8_t *t;
		size_t tl;
		if (sp.ascii) {
			tl = sp.end - sp.start;
			if (tl > LIMIT_TOKEN_BYTES)
				continue;
			t = a->tok;
		} else {
			rc = fold(a, p + sp.start, sp.end - sp.start, LIMIT_TOKEN_BYTES, &t, &tl);
			if (rc == TRAWL_ENOMEM)
				break;
			if (rc != TRAWL_OK || tl == 0) {
				rc = 0; /* too long (or unfoldable): dropped */
				continue;
			}
		}
		if (a->kind == IDX_AN_ENGLISH) {
			if (idx_is_stopword((const char *)t, tl))
				continue;
			rc = stem(a, t, tl, &t, &tl);
			if (rc)
				break;
			if (tl == 0 || tl > LIMIT_TOKEN_BYTES)
				continue;
		}
		idx_token tok = {
		    .text = (const char *)t,
		    .len = (uint32_t)tl,
		    .pos = pos,
		    .start = (uint32_t)sp.start,
		    .end = (uint32_t)sp.end,
		};
		rc = cb(ctx, &tok);
		if (rc)
			break;
	}
out:
	if (npos)
		*npos = n;
	return rc;
}

int idx_fold_term(idx_analyzer *a, const char *word, size_t len, char *out, size_t cap,
                  size_t *outlen)
{
	const uint8_t *p = (const uint8_t *)word;
	size_t i = 0, o = 0;
	span sp;

	*outlen = 0;
	while (scan(a, p, len, &i, &sp)) {
		size_t n = sp.end - sp.start;
		if (sp.ascii) {
			if (n > cap - o)
				return TRAWL_ELIMIT;
			for (size_t k = 0; k < n; k++)
				out[o++] = (char)lower[p[sp.start + k]];
		} else {
			const uint8_t *t;
			size_t tl;
			int rc = fold(a, p + sp.start, n, cap - o, &t, &tl);
			if (rc == TRAWL_EUTF8)
				continue; /* cannot happen: scan() decoded every character */
			if (rc)
				return rc;
			memcpy(out + o, t, tl);
			o += tl;
		}
	}
	*outlen = o;
	return TRAWL_OK;
}
