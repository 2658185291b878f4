/*
 * analyze.h - text analysis: UTF-8 validation, tokenization, case folding,
 * stop words and stemming. The boundary to utf8proc and libstemmer: only
 * analyze.c includes their headers.
 *
 * A token is a maximal run of letters and digits (Unicode categories L* and
 * N*, plus combining marks M* that follow a letter or digit). Each token is
 * NFKC case-folded. Positions count every token, including the ones an
 * analyzer drops (stop words, over-long tokens), so phrase queries keep
 * their gaps. Two analyzers:
 *   plain    folding only;
 *   english  folding, the 33-word English stop list, Snowball English stems.
 */
#ifndef TRAWL_INDEX_ANALYZE_H
#define TRAWL_INDEX_ANALYZE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#include "common/limits.h"

/* Tokens longer than LIMIT_TOKEN_BYTES after folding are dropped but still
 * take a position. */

typedef enum idx_analyzer_kind {
	IDX_AN_PLAIN = 0,
	IDX_AN_ENGLISH = 1,
} idx_analyzer_kind;

typedef struct idx_token {
	const char *text; /* folded (and stemmed) bytes; valid during the callback only */
	uint32_t len;     /* bytes in text, 1..LIMIT_TOKEN_BYTES */
	uint32_t pos;     /* position: pos_base + index of the token in the text */
	uint32_t start;   /* byte offset of the token's first byte in the input */
	uint32_t end;     /* byte offset just past the token's last byte */
} idx_token;

/* Called once per kept token, in order. Return nonzero to stop; that value
 * is returned by idx_analyze. */
typedef int (*idx_token_cb)(void *ctx, const idx_token *tok);

typedef struct idx_analyzer idx_analyzer;

/*
 * idx_analyzer_alloc creates an analyzer of the given kind. It holds a
 * stemmer and scratch buffers, so it belongs to one thread at a time.
 * Returns TRAWL_OK, TRAWL_EINVAL (unknown kind) or TRAWL_ENOMEM.
 */
int idx_analyzer_alloc(idx_analyzer **out, idx_analyzer_kind kind);
void idx_analyzer_free(idx_analyzer *a);

/* idx_analyzer_kind_parse: "plain" or "english" to a kind; -1 if unknown. */
int idx_analyzer_kind_parse(const char *name);
const char *idx_analyzer_kind_name(idx_analyzer_kind kind);

/*
 * idx_utf8_validate returns len if s[0..len) is valid UTF-8 (no overlongs,
 * no surrogates, nothing above U+10FFFF), else the byte offset of the first
 * invalid sequence.
 */
size_t idx_utf8_validate(const char *s, size_t len);

/*
 * idx_analyze tokenizes text (len bytes, which must be valid UTF-8: callers
 * validate first; invalid bytes are treated as separators) and calls cb for
 * every kept token. Positions start at pos_base. *npos (may be NULL)
 * receives the number of positions used (kept and dropped tokens), so that
 * a caller can continue a field from pos_base + *npos. Returns 0 or the
 * nonzero value cb returned; TRAWL_ENOMEM if folding ran out of memory.
 */
int idx_analyze(idx_analyzer *a, const char *text, size_t len, uint32_t pos_base,
                uint32_t *npos, idx_token_cb cb, void *ctx);

/*
 * idx_fold_term folds one query word for prefix matching: NFKC case folding,
 * no stop list, no stemming; non-token characters are removed. Writes at
 * most cap bytes to out and the length to *outlen. Returns TRAWL_OK,
 * TRAWL_ELIMIT (longer than cap) or TRAWL_ENOMEM.
 */
int idx_fold_term(idx_analyzer *a, const char *word, size_t len, char *out, size_t cap,
                  size_t *outlen);

/*
 * idx_lowercase appends s (n bytes of valid UTF-8) to out with every code
 * point mapped to its lower case (Unicode's simple mapping, as utf8proc and
 * Lucene's LowerCaseFilter give it: no folding, no normalisation): the
 * keyword fields' "lowercase" normalizer. Returns TRAWL_OK, TRAWL_EUTF8 or
 * TRAWL_ENOMEM.
 */
int idx_lowercase(const char *s, size_t n, tbuf *out);

/* idx_is_stopword: whether the folded term is on the English stop list. */
int idx_is_stopword(const char *term, size_t len);

#endif
