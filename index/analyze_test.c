/*
 * analyze_test.c - unit tests for analyze.c: UTF-8 validation, tokenization,
 * positions and offsets, NFKC case folding, the English stop list and
 * stemmer, the over-long token rule, callback early stop, and a randomized
 * check of the invariants every caller relies on.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/analyze.h"
#include "trawl/trawl.h"

#define MAX_TOKS 4096

typedef struct rec_tok {
	char text[LIMIT_TOKEN_BYTES + 1];
	uint32_t len, pos, start, end;
} rec_tok;

typedef struct rec {
	rec_tok toks[MAX_TOKS];
	size_t n;
	int stop_after; /* nonzero: return stop_ret once n reaches it */
	int stop_ret;
} rec;

static int record(void *ctx, const idx_token *t)
{
	rec *r = ctx;
	assert_true(r->n < MAX_TOKS);
	assert_true(t->len >= 1 && t->len <= LIMIT_TOKEN_BYTES);
	rec_tok *o = &r->toks[r->n++];
	memcpy(o->text, t->text, t->len);
	o->text[t->len] = '\0';
	o->len = t->len;
	o->pos = t->pos;
	o->start = t->start;
	o->end = t->end;
	if (r->stop_after && r->n == (size_t)r->stop_after)
		return r->stop_ret;
	return 0;
}

/* run analyzes s with a fresh analyzer of kind, recording into *r. */
static int run(idx_analyzer_kind kind, const char *s, size_t len, uint32_t base, uint32_t *npos,
               rec *r)
{
	idx_analyzer *a;
	assert_int_equal(idx_analyzer_alloc(&a, kind), TRAWL_OK);
	r->n = 0;
	int rc = idx_analyze(a, s, len, base, npos, record, r);
	idx_analyzer_free(a);
	return rc;
}

static rec *new_rec(void)
{
	rec *r = calloc(1, sizeof(*r));
	assert_non_null(r);
	return r;
}

static void expect_tok(const rec *r, size_t i, const char *text, uint32_t pos, uint32_t start,
                       uint32_t end)
{
	assert_true(i < r->n);
	assert_string_equal(r->toks[i].text, text);
	assert_int_equal(r->toks[i].len, strlen(text));
	assert_int_equal(r->toks[i].pos, pos);
	assert_int_equal(r->toks[i].start, start);
	assert_int_equal(r->toks[i].end, end);
}

/* plain_one: s must give exactly one token; returns its text. */
static void expect_single(const char *s, const char *want)
{
	rec *r = new_rec();
	uint32_t npos;
	assert_int_equal(run(IDX_AN_PLAIN, s, strlen(s), 0, &npos, r), 0);
	assert_int_equal(npos, 1);
	assert_int_equal(r->n, 1);
	assert_string_equal(r->toks[0].text, want);
	free(r);
}

#define V(lit) idx_utf8_validate((lit), sizeof(lit) - 1)

static void test_validate(void **state)
{
	(void)state;
	assert_int_equal(idx_utf8_validate("", 0), 0);
	assert_int_equal(V("plain ascii text, longer than eight bytes"), 41);
	/* 2, 3 and 4 byte sequences, and the extremes of each range. */
	assert_int_equal(V("h\xc3\xa9llo \xe2\x82\xac \xf0\x9d\x84\x9e"), 15);
	assert_int_equal(
	    V("\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf"), 18);
	assert_int_equal(V("\xed\x9f\xbf\xee\x80\x80"), 6); /* U+D7FF, U+E000 */
	/* Overlongs. */
	assert_int_equal(V("ab\xc0\x80"), 2);
	assert_int_equal(V("\xc1\xbf"), 0);
	assert_int_equal(V("xyz\xe0\x80\xaf"), 3);
	assert_int_equal(V("\xf0\x8f\xbf\xbf"), 0);
	/* Surrogates. */
	assert_int_equal(V("abcd\xed\xa0\x80"), 4);
	assert_int_equal(V("\xed\xbf\xbf"), 0);
	/* Above U+10FFFF. */
	assert_int_equal(V("a\xf4\x90\x80\x80"), 1);
	assert_int_equal(V("\xf5\x80\x80\x80"), 0);
	assert_int_equal(V("\xff"), 0);
	/* Truncated sequences. */
	assert_int_equal(V("ab\xe2\x82"), 2);
	assert_int_equal(V("ab\xe2\x82z"), 2);
	assert_int_equal(V("\xf0\x9d\x84"), 0);
	assert_int_equal(V("\xc3"), 0);
	/* Stray continuation bytes. */
	assert_int_equal(V("a\x80"), 1);
	assert_int_equal(V("\xc3\xa9\xa9"), 2);
	/* The first error after an ASCII run longer than a word. */
	assert_int_equal(V("0123456789abcdefghi\x80xyz"), 19);
	assert_int_equal(V("0123456789abcdefghi\xc3\xa9 0123456789\xbf"), 32);
	/* NUL is valid. */
	assert_int_equal(idx_utf8_validate("a\0b", 3), 3);
}

static void test_ascii_tokens(void **state)
{
	(void)state;
	rec *r = new_rec();
	uint32_t npos = 99;
	const char *s = "  Hello, World!\tfoo\nBAR";
	assert_int_equal(run(IDX_AN_PLAIN, s, strlen(s), 10, &npos, r), 0);
	assert_int_equal(npos, 4);
	assert_int_equal(r->n, 4);
	expect_tok(r, 0, "hello", 10, 2, 7);
	expect_tok(r, 1, "world", 11, 9, 14);
	expect_tok(r, 2, "foo", 12, 16, 19);
	expect_tok(r, 3, "bar", 13, 20, 23);

	/* No tokens; npos may be NULL. */
	assert_int_equal(run(IDX_AN_PLAIN, " ,.;-- ", 7, 5, &npos, r), 0);
	assert_int_equal(npos, 0);
	assert_int_equal(r->n, 0);
	assert_int_equal(run(IDX_AN_PLAIN, "", 0, 0, &npos, r), 0);
	assert_int_equal(npos, 0);
	assert_int_equal(run(IDX_AN_PLAIN, "one two", 7, 0, NULL, r), 0);
	assert_int_equal(r->n, 2);
	/* Only len bytes are read. */
	assert_int_equal(run(IDX_AN_PLAIN, "abc def", 5, 0, &npos, r), 0);
	assert_int_equal(npos, 2);
	expect_tok(r, 1, "d", 1, 4, 5);
	free(r);
}

/* Words of every length at every alignment, around the 16-byte steps of
 * the vectorized scanner, with and without a non-ASCII letter after them. */
static void test_ascii_runs(void **state)
{
	(void)state;
	rec *r = new_rec();
	char buf[400], want[300];
	uint32_t npos;
	for (size_t L = 1; L <= 270; L += (L < 40 ? 1 : 7)) {
		for (size_t off = 0; off < 18; off++) {
			for (int tail = 0; tail < 2; tail++) {
				size_t n = 0;
				memset(buf, ' ', off);
				n = off;
				for (size_t k = 0; k < L; k++) {
					char c =
					    (char)("aBcDeFgHiJ0123456789xYz"[(k * 7 + off) % 23]);
					buf[n++] = c;
					want[k] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
				}
				want[L] = '\0';
				if (tail) {
					memcpy(buf + n, "\xc3\x89", 2);
					n += 2;
					memcpy(want + L, "\xc3\xa9", 3);
				}
				memcpy(buf + n, ".z", 2);
				n += 2;
				assert_int_equal(run(IDX_AN_PLAIN, buf, n, 0, &npos, r), 0);
				assert_int_equal(npos, 2);
				size_t wl = strlen(want);
				if (wl > LIMIT_TOKEN_BYTES) {
					assert_int_equal(r->n, 1);
					expect_tok(r, 0, "z", 1, (uint32_t)n - 1, (uint32_t)n);
					continue;
				}
				assert_int_equal(r->n, 2);
				expect_tok(r, 0, want, 0, (uint32_t)off, (uint32_t)(n - 2));
				expect_tok(r, 1, "z", 1, (uint32_t)n - 1, (uint32_t)n);
			}
		}
	}
	free(r);
}

/* Random ASCII text against a byte-at-a-time reference tokenizer. */
static void test_ascii_reference(void **state)
{
	(void)state;
	rec *r = new_rec();
	enum { N = 600 };
	char buf[N];
	static const char alpha[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	                            " .,;-_'\"()[]{}!?\t\n\r@#$%^&*+=<>/\\|`~";
	srand(777);
	for (int iter = 0; iter < 3000; iter++) {
		size_t n = (size_t)(rand() % N);
		int sep_rate = 1 + rand() % 40; /* sometimes very long words */
		for (size_t k = 0; k < n; k++) {
			int sep = rand() % sep_rate == 0;
			buf[k] = sep ? alpha[62 + rand() % (int)(sizeof(alpha) - 63)]
			             : alpha[rand() % 62];
		}
		uint32_t npos;
		assert_int_equal(run(IDX_AN_PLAIN, buf, n, 5, &npos, r), 0);
		size_t i = 0, got = 0;
		uint32_t pos = 5;
		while (i < n) {
			while (i < n && !isalnum((unsigned char)buf[i]))
				i++;
			if (i >= n)
				break;
			size_t st = i;
			while (i < n && isalnum((unsigned char)buf[i]))
				i++;
			if (i - st <= LIMIT_TOKEN_BYTES) {
				assert_true(got < r->n);
				const rec_tok *t = &r->toks[got++];
				assert_int_equal(t->pos, pos);
				assert_int_equal(t->start, st);
				assert_int_equal(t->end, i);
				for (size_t k = st; k < i; k++)
					assert_int_equal(t->text[k - st],
					                 tolower((unsigned char)buf[k]));
			}
			pos++;
		}
		assert_int_equal(got, r->n);
		assert_int_equal(npos, pos - 5);
	}
	free(r);
}

static void test_punctuation(void **state)
{
	(void)state;
	rec *r = new_rec();
	uint32_t npos;
	const char *s = "wi-fi don't e-mail@x.com_y";
	assert_int_equal(run(IDX_AN_PLAIN, s, strlen(s), 0, &npos, r), 0);
	assert_int_equal(npos, 9);
	expect_tok(r, 0, "wi", 0, 0, 2);
	expect_tok(r, 1, "fi", 1, 3, 5);
	expect_tok(r, 2, "don", 2, 6, 9);
	expect_tok(r, 3, "t", 3, 10, 11);
	expect_tok(r, 4, "e", 4, 12, 13);
	expect_tok(r, 5, "mail", 5, 14, 18);
	expect_tok(r, 6, "x", 6, 19, 20);
	expect_tok(r, 7, "com", 7, 21, 24);
	expect_tok(r, 8, "y", 8, 25, 26);

	/* Non-ASCII punctuation and spaces separate too: em dash, NBSP, « ». */
	s = "a\u2014b\u00a0c \u00abd\u00bb";
	assert_int_equal(run(IDX_AN_PLAIN, s, strlen(s), 0, &npos, r), 0);
	assert_int_equal(npos, 4);
	expect_tok(r, 0, "a", 0, 0, 1);
	expect_tok(r, 1, "b", 1, 4, 5);
	expect_tok(r, 2, "c", 2, 7, 8);
	expect_tok(r, 3, "d", 3, 11, 12);
	free(r);
}

static void test_digits(void **state)
{
	(void)state;
	rec *r = new_rec();
	uint32_t npos;
	const char *s = "abc123 42 3.14";
	assert_int_equal(run(IDX_AN_PLAIN, s, strlen(s), 0, &npos, r), 0);
	assert_int_equal(npos, 4);
	expect_tok(r, 0, "abc123", 0, 0, 6);
	expect_tok(r, 1, "42", 1, 7, 9);
	expect_tok(r, 2, "3", 2, 10, 11);
	expect_tok(r, 3, "14", 3, 12, 14);
	/* Other Unicode numbers: Arabic-Indic digits (Nd), Roman numeral (Nl). */
	expect_single("\xd9\xa4\xd9\xa2", "\xd9\xa4\xd9\xa2");
	expect_single("\xe2\x85\xa2", "iii");
	free(r);
}

static void test_unicode(void **state)
{
	(void)state;
	rec *r = new_rec();
	uint32_t npos;

	expect_single("Stra\u00dfe", "strasse");
	expect_single("\u00c9COLE", "\u00e9cole");
	expect_single("\xef\xbc\xa1\xef\xbc\xa2\xef\xbc\xa3", "abc"); /* fullwidth ABC */
	expect_single("\ufb01x", "fix");                              /* U+FB01 fi ligature */
	expect_single("\xce\xa3\xce\x99\xce\xa3", "\xcf\x83\xce\xb9\xcf\x83"); /* ΣΙΣ -> σισ */

	/* A decomposed e + U+0301 composes and stays in one token. */
	const char *s = "cafe\u0301 ok";
	assert_int_equal(run(IDX_AN_PLAIN, s, strlen(s), 0, &npos, r), 0);
	assert_int_equal(npos, 2);
	expect_tok(r, 0, "caf\xc3\xa9", 0, 0, 6);
	expect_tok(r, 1, "ok", 1, 7, 9);

	/* A mark after a separator is a separator. */
	s = " \u0301abc";
	assert_int_equal(run(IDX_AN_PLAIN, s, strlen(s), 0, &npos, r), 0);
	assert_int_equal(npos, 1);
	expect_tok(r, 0, "abc", 0, 3, 6);

	/* CJK ideographs are letters; a run of them is one token. */
	s = "\xe4\xb8\xad\xe6\x96\x87\xe3\x80\x82\xe5\xad\x97 x";
	assert_int_equal(run(IDX_AN_PLAIN, s, strlen(s), 0, &npos, r), 0);
	assert_int_equal(npos, 3);
	expect_tok(r, 0, "\xe4\xb8\xad\xe6\x96\x87", 0, 0, 6);
	expect_tok(r, 1, "\xe5\xad\x97", 1, 9, 12);
	expect_tok(r, 2, "x", 2, 13, 14);

	/* An ASCII run continued by a non-ASCII letter is one token. */
	s = "Na\xc3\xafve-r\xc3\xa9sum\xc3\xa9";
	assert_int_equal(run(IDX_AN_PLAIN, s, strlen(s), 0, &npos, r), 0);
	assert_int_equal(npos, 2);
	expect_tok(r, 0, "na\xc3\xafve", 0, 0, 6);
	expect_tok(r, 1, "r\xc3\xa9sum\xc3\xa9", 1, 7, 15);

	/* Invalid bytes (callers should not pass them) are separators. */
	s = "ab\xffZd\xc3";
	assert_int_equal(run(IDX_AN_PLAIN, s, strlen(s), 0, &npos, r), 0);
	assert_int_equal(npos, 2);
	expect_tok(r, 0, "ab", 0, 0, 2);
	expect_tok(r, 1, "zd", 1, 3, 5);
	free(r);
}

static void test_english(void **state)
{
	(void)state;
	rec *r = new_rec();
	uint32_t npos;
	const char *s = "The United States of America";
	assert_int_equal(run(IDX_AN_ENGLISH, s, strlen(s), 0, &npos, r), 0);
	assert_int_equal(npos, 5);
	assert_int_equal(r->n, 3);
	expect_tok(r, 0, "unit", 1, 4, 10);
	expect_tok(r, 1, "state", 2, 11, 17);
	expect_tok(r, 2, "america", 4, 21, 28);

	s = "running studies THE cat's ponies";
	assert_int_equal(run(IDX_AN_ENGLISH, s, strlen(s), 100, &npos, r), 0);
	assert_int_equal(npos, 6);
	assert_int_equal(r->n, 5);
	expect_tok(r, 0, "run", 100, 0, 7);
	expect_tok(r, 1, "studi", 101, 8, 15);
	expect_tok(r, 2, "cat", 103, 20, 23);
	expect_tok(r, 3, "s", 104, 24, 25);
	expect_tok(r, 4, "poni", 105, 26, 32);

	/* Only stop words: every position is used, nothing is kept. */
	s = "to be or not to be";
	assert_int_equal(run(IDX_AN_ENGLISH, s, strlen(s), 0, &npos, r), 0);
	assert_int_equal(npos, 6);
	assert_int_equal(r->n, 0);

	/* Plain keeps stop words and does not stem. */
	s = "the running";
	assert_int_equal(run(IDX_AN_PLAIN, s, strlen(s), 0, &npos, r), 0);
	assert_int_equal(r->n, 2);
	expect_tok(r, 0, "the", 0, 0, 3);
	expect_tok(r, 1, "running", 1, 4, 11);

	/* Folded before the stop list and the stemmer. */
	s = "\xef\xbc\xb4\xef\xbc\xa8\xef\xbc\xa5 Caf\xc3\xa9s";
	assert_int_equal(run(IDX_AN_ENGLISH, s, strlen(s), 0, &npos, r), 0);
	assert_int_equal(npos, 2);
	assert_int_equal(r->n, 1);
	expect_tok(r, 0, "caf\xc3\xa9", 1, 10, 16);
	free(r);
}

static void test_stopwords(void **state)
{
	(void)state;
	static const char *const stop[] = {
	    "a",   "an",    "and",  "are",   "as",    "at",   "be",   "but", "by",  "for",  "if",
	    "in",  "into",  "is",   "it",    "no",    "not",  "of",   "on",  "or",  "such", "that",
	    "the", "their", "then", "there", "these", "they", "this", "to",  "was", "will", "with",
	};
	assert_int_equal(sizeof(stop) / sizeof(stop[0]), 33);
	for (size_t i = 0; i < 33; i++)
		assert_true(idx_is_stopword(stop[i], strlen(stop[i])));
	static const char *const keep[] = {
	    "",    "b",  "ab",  "ax",    "i",      "th",    "thes", "thee", "those",
	    "ann", "ar", "wit", "wills", "theirs", "such1", "On",   "tHe",  "x",
	};
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		assert_false(idx_is_stopword(keep[i], strlen(keep[i])));
	/* Only len bytes count. */
	assert_true(idx_is_stopword("there", 3));
	assert_false(idx_is_stopword("thing", 3));
}

static void test_long_token(void **state)
{
	(void)state;
	rec *r = new_rec();
	uint32_t npos;
	char buf[1200];

	/* 300 ASCII letters: dropped, position used. */
	memset(buf, 'A', 300);
	memcpy(buf + 300, " b", 2);
	assert_int_equal(run(IDX_AN_PLAIN, buf, 302, 0, &npos, r), 0);
	assert_int_equal(npos, 2);
	assert_int_equal(r->n, 1);
	expect_tok(r, 0, "b", 1, 301, 302);

	/* Exactly LIMIT_TOKEN_BYTES is kept; one more is not. */
	memset(buf, 'x', LIMIT_TOKEN_BYTES);
	assert_int_equal(run(IDX_AN_PLAIN, buf, LIMIT_TOKEN_BYTES, 0, &npos, r), 0);
	assert_int_equal(npos, 1);
	assert_int_equal(r->n, 1);
	assert_int_equal(r->toks[0].len, LIMIT_TOKEN_BYTES);
	memset(buf, 'x', LIMIT_TOKEN_BYTES + 1);
	assert_int_equal(run(IDX_AN_PLAIN, buf, LIMIT_TOKEN_BYTES + 1, 0, &npos, r), 0);
	assert_int_equal(npos, 1);
	assert_int_equal(r->n, 0);

	/* Non-ASCII: the limit applies after folding. 127 x "É" + "a" folds
	 * to 255 bytes; 128 x "É" to 256. */
	size_t n = 0;
	for (int i = 0; i < 127; i++) {
		buf[n++] = '\xc3';
		buf[n++] = '\x89';
	}
	buf[n++] = 'a';
	assert_int_equal(run(IDX_AN_PLAIN, buf, n, 0, &npos, r), 0);
	assert_int_equal(r->n, 1);
	assert_int_equal(r->toks[0].len, 255);
	buf[n - 1] = '\xc3';
	buf[n++] = '\x89';
	assert_int_equal(run(IDX_AN_PLAIN, buf, n, 0, &npos, r), 0);
	assert_int_equal(npos, 1);
	assert_int_equal(r->n, 0);

	/* Fullwidth letters shrink when folded: 100 of them (300 bytes) make a
	 * 100-byte token, which is kept. */
	n = 0;
	for (int i = 0; i < 100; i++) {
		memcpy(buf + n, "\xef\xbc\xa1", 3);
		n += 3;
	}
	assert_int_equal(run(IDX_AN_PLAIN, buf, n, 0, &npos, r), 0);
	assert_int_equal(r->n, 1);
	assert_int_equal(r->toks[0].len, 100);

	/* A very long non-ASCII token between two short ones. */
	size_t big = 300000;
	char *s = malloc(big + 4);
	assert_non_null(s);
	memcpy(s, "a ", 2);
	for (n = 2; n + 2 <= big; n += 2)
		memcpy(s + n, "\xc3\xa9", 2);
	memcpy(s + n, " z", 2);
	n += 2;
	assert_int_equal(run(IDX_AN_ENGLISH, s, n, 7, &npos, r), 0);
	assert_int_equal(npos, 3);
	assert_int_equal(r->n, 1); /* "a" is a stop word */
	expect_tok(r, 0, "z", 9, (uint32_t)n - 1, (uint32_t)n);
	free(s);
	free(r);
}

static void test_early_stop(void **state)
{
	(void)state;
	rec *r = new_rec();
	uint32_t npos = 0;
	r->stop_after = 2;
	r->stop_ret = 42;
	const char *s = "one two three four";
	assert_int_equal(run(IDX_AN_PLAIN, s, strlen(s), 0, &npos, r), 42);
	assert_int_equal(r->n, 2);
	assert_int_equal(npos, 2);
	r->stop_ret = -1;
	assert_int_equal(run(IDX_AN_ENGLISH, "the one two three", 17, 0, &npos, r), -1);
	assert_int_equal(r->n, 2);
	assert_int_equal(npos, 3);
	free(r);
}

static void test_fold_term(void **state)
{
	(void)state;
	idx_analyzer *a;
	char out[64];
	size_t n = 99;
	assert_int_equal(idx_analyzer_alloc(&a, IDX_AN_ENGLISH), TRAWL_OK);

	assert_int_equal(idx_fold_term(a, "Wi-Fi", 5, out, sizeof(out), &n), TRAWL_OK);
	assert_int_equal(n, 4);
	assert_memory_equal(out, "wifi", 4);
	/* No stop list, no stemming. */
	assert_int_equal(idx_fold_term(a, "The", 3, out, sizeof(out), &n), TRAWL_OK);
	assert_int_equal(n, 3);
	assert_memory_equal(out, "the", 3);
	assert_int_equal(idx_fold_term(a, "Running", 7, out, sizeof(out), &n), TRAWL_OK);
	assert_int_equal(n, 7);
	assert_memory_equal(out, "running", 7);
	/* NFKC case folding. */
	const char *w = "\u00c9COLE-Stra\u00dfe";
	assert_int_equal(idx_fold_term(a, w, strlen(w), out, sizeof(out), &n), TRAWL_OK);
	assert_int_equal(n, 13);
	assert_memory_equal(out, "\u00e9colestrasse", 13);
	/* Nothing left. */
	assert_int_equal(idx_fold_term(a, "--", 2, out, sizeof(out), &n), TRAWL_OK);
	assert_int_equal(n, 0);
	assert_int_equal(idx_fold_term(a, "", 0, out, sizeof(out), &n), TRAWL_OK);
	assert_int_equal(n, 0);
	/* Capacity: exactly enough, then one short (ASCII and not). */
	assert_int_equal(idx_fold_term(a, "ABCD", 4, out, 4, &n), TRAWL_OK);
	assert_int_equal(n, 4);
	assert_int_equal(idx_fold_term(a, "ABCD", 4, out, 3, &n), TRAWL_ELIMIT);
	assert_int_equal(idx_fold_term(a, "a-\xc3\x89", 4, out, 3, &n), TRAWL_OK);
	assert_int_equal(n, 3);
	assert_int_equal(idx_fold_term(a, "a-\xc3\x89", 4, out, 2, &n), TRAWL_ELIMIT);
	assert_int_equal(idx_fold_term(a, "\xc3\x89", 2, out, 0, &n), TRAWL_ELIMIT);

	/* Longer than the analyzer's own token limit is fine with room. */
	size_t big = 4000;
	char *in = malloc(big), *o = malloc(big);
	assert_non_null(in);
	assert_non_null(o);
	for (size_t i = 0; i < big; i += 2)
		memcpy(in + i, "\xc3\x89", 2);
	assert_int_equal(idx_fold_term(a, in, big, o, big, &n), TRAWL_OK);
	assert_int_equal(n, big);
	assert_memory_equal(o, "\xc3\xa9\xc3\xa9", 4);
	assert_int_equal(idx_fold_term(a, in, big, o, big - 1, &n), TRAWL_ELIMIT);
	free(in);
	free(o);
	idx_analyzer_free(a);
}

static void test_kinds(void **state)
{
	(void)state;
	assert_int_equal(idx_analyzer_kind_parse("plain"), IDX_AN_PLAIN);
	assert_int_equal(idx_analyzer_kind_parse("english"), IDX_AN_ENGLISH);
	assert_int_equal(idx_analyzer_kind_parse("English"), -1);
	assert_int_equal(idx_analyzer_kind_parse(""), -1);
	assert_int_equal(idx_analyzer_kind_parse(NULL), -1);
	assert_string_equal(idx_analyzer_kind_name(IDX_AN_PLAIN), "plain");
	assert_string_equal(idx_analyzer_kind_name(IDX_AN_ENGLISH), "english");

	idx_analyzer *a = (idx_analyzer *)&a;
	assert_int_equal(idx_analyzer_alloc(&a, (idx_analyzer_kind)7), TRAWL_EINVAL);
	assert_null(a);
	idx_analyzer_free(NULL);
}

/* A straightforward decoder, to check idx_utf8_validate against. */
static size_t ref_validate(const uint8_t *p, size_t len)
{
	size_t i = 0;
	while (i < len) {
		uint8_t c = p[i];
		size_t n;
		uint32_t cp, min;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 2, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 3, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n = 4, cp = c & 0x07, min = 0x10000;
		} else {
			return i;
		}
		if (len - i < n)
			return i;
		for (size_t k = 1; k < n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return i;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return i;
		i += n;
	}
	return len;
}

typedef struct inv {
	size_t len;
	uint32_t base;
	size_t n;
	int64_t last_pos;
	uint32_t last_end;
} inv;

static int check_invariants(void *ctx, const idx_token *t)
{
	inv *v = ctx;
	assert_true(t->len > 0 && t->len <= LIMIT_TOKEN_BYTES);
	assert_true(t->start < t->end);
	assert_true(t->end <= v->len);
	assert_true(t->start >= v->last_end);
	assert_true((int64_t)t->pos > v->last_pos);
	assert_true(t->pos >= v->base);
	assert_int_equal(idx_utf8_validate(t->text, t->len), t->len);
	v->last_pos = t->pos;
	v->last_end = t->end;
	v->n++;
	return 0;
}

/* Random strings built from ASCII, valid multi-byte characters of several
 * classes, and (sometimes) random bytes. */
static size_t random_text(uint8_t *buf, size_t cap)
{
	static const char *const pieces[] = {
	    "\xc3\xa9",         "\xc3\x89",
	    "\xc3\x9f",         "\xcc\x81",
	    "\xe2\x80\x94",     "\xc2\xa0",
	    "\xe4\xb8\xad",     "\xef\xbc\xa1",
	    "\xef\xac\x81",     "\xf0\x9d\x90\x80",
	    "\xe2\x85\xa2",     "\xd9\xa4",
	    "\xef\xb7\xba",     "\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8",
	    "\xce\xa3",         "\xe3\x80\x82",
	    "\xf0\x9f\x98\x80", "\xe1\xbe\x82",
	};
	size_t n = 0, want = (size_t)(rand() % (int)cap);
	int mode = rand() % 4;
	while (n < want) {
		int k = rand() % 10;
		if (mode == 0) {
			buf[n++] = (uint8_t)rand();
		} else if (k < 6) {
			static const char ascii[] = "abcXYZ019 ,.-'\t\n";
			buf[n++] = (uint8_t)ascii[rand() % (int)(sizeof(ascii) - 1)];
		} else if (k < 9 || mode == 1) {
			const char *p = pieces[rand() % (int)(sizeof(pieces) / sizeof(pieces[0]))];
			size_t l = strlen(p);
			if (n + l > cap)
				break;
			memcpy(buf + n, p, l);
			n += l;
		} else {
			buf[n++] = (uint8_t)(0x80 + rand() % 0x80);
		}
	}
	return n;
}

static void test_random(void **state)
{
	(void)state;
	idx_analyzer *an[2];
	assert_int_equal(idx_analyzer_alloc(&an[0], IDX_AN_PLAIN), TRAWL_OK);
	assert_int_equal(idx_analyzer_alloc(&an[1], IDX_AN_ENGLISH), TRAWL_OK);
	enum { CAP = 700 };
	uint8_t *buf = malloc(CAP);
	assert_non_null(buf);
	char out[CAP * 18];
	size_t valid = 0;
	srand(12345);
	for (int iter = 0; iter < 20000; iter++) {
		size_t n = random_text(buf, CAP);
		size_t v = idx_utf8_validate((const char *)buf, n);
		assert_int_equal(v, ref_validate(buf, n));
		/* The valid prefix is valid. */
		assert_int_equal(idx_utf8_validate((const char *)buf, v), v);
		if (v != n)
			continue;
		valid++;
		for (int k = 0; k < 2; k++) {
			inv st = {.len = n, .base = (uint32_t)iter, .last_pos = -1};
			uint32_t npos = 0;
			assert_int_equal(idx_analyze(an[k], (const char *)buf, n, st.base, &npos,
			                             check_invariants, &st),
			                 0);
			assert_true(st.n <= npos);
			assert_true(st.last_pos < (int64_t)st.base + npos);
		}
		size_t ol;
		assert_int_equal(idx_fold_term(an[0], (const char *)buf, n, out, sizeof(out), &ol),
		                 TRAWL_OK);
		assert_true(ol <= sizeof(out));
		assert_int_equal(idx_utf8_validate(out, ol), ol);
	}
	assert_true(valid > 5000);
	free(buf);
	idx_analyzer_free(an[0]);
	idx_analyzer_free(an[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_validate),    cmocka_unit_test(test_ascii_tokens),
	    cmocka_unit_test(test_ascii_runs),  cmocka_unit_test(test_ascii_reference),
	    cmocka_unit_test(test_punctuation), cmocka_unit_test(test_digits),
	    cmocka_unit_test(test_unicode),     cmocka_unit_test(test_english),
	    cmocka_unit_test(test_stopwords),   cmocka_unit_test(test_long_token),
	    cmocka_unit_test(test_early_stop),  cmocka_unit_test(test_fold_term),
	    cmocka_unit_test(test_kinds),       cmocka_unit_test(test_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
