/*
 * query.h - the query language's parser: text in, syntax tree out.
 *
 * The parser knows nothing of the schema or the analyzers; it keeps words as
 * the user wrote them (unescaped). search.c analyses and compiles the tree.
 *
 * Grammar (docs/QUERY.md has the user's version):
 *   query   := clause*
 *   clause  := ['+' | '-'] primary | 'AND' | 'OR' | 'NOT'
 *   primary := '(' query ')' | FIELD ':' primary | '"' words '"' | word ['*'] | '*:*'
 * `*:*` (unescaped, standing alone) matches every document with score 1.
 * Unprefixed clauses are SHOULD (default OR) or MUST (default AND). The
 * uppercase keywords follow Lucene's classic parser: `a AND b` makes both
 * sides MUST, `a OR b` makes both SHOULD, `NOT a` excludes a. A backslash
 * escapes the next character. A word is a run of characters other than
 * white space, parentheses and double quotes.
 */
#ifndef TRAWL_INDEX_QUERY_H
#define TRAWL_INDEX_QUERY_H

#include <stddef.h>
#include <stdint.h>

typedef enum idx_qkind {
	IDX_Q_TERM = 0,   /* one word */
	IDX_Q_PREFIX = 1, /* word* (text without the '*') */
	IDX_Q_PHRASE = 2, /* "several words" (text is what stood between the quotes) */
	IDX_Q_BOOL = 3,   /* parenthesised group, or the whole query */
	IDX_Q_ALL = 4,    /* `*:*`: every document, score 1 */
} idx_qkind;

typedef enum idx_qoccur {
	IDX_Q_SHOULD = 0,
	IDX_Q_MUST = 1,
	IDX_Q_NOT = 2,
} idx_qoccur;

typedef struct idx_qnode idx_qnode;
struct idx_qnode {
	idx_qkind kind;
	idx_qoccur occur;  /* how this node combines into its parent (root: MUST) */
	char *field;       /* field name (NUL-terminated), NULL for all text fields;
	                      inherited by the children of a field:( ... ) group */
	char *text;        /* TERM, PREFIX, PHRASE: unescaped, NUL-terminated */
	size_t len;        /* bytes in text */
	uint32_t column;   /* 1-based column (in characters) where the clause starts */
	idx_qnode **kids;  /* BOOL: children */
	uint32_t nkids;
};

/*
 * idx_query_parse parses query q (len bytes, UTF-8) with default operator
 * default_op (0 OR, 1 AND; see trawl.h). On success *out owns the whole tree
 * (root is a BOOL) and is released with idx_query_free.
 * Errors: TRAWL_EQUERY (syntax; err says "column N: reason"), TRAWL_EUTF8
 * (invalid byte; column), TRAWL_ELIMIT (over TRAWL_MAX_QUERY_BYTES bytes,
 * TRAWL_MAX_QUERY_TERMS words or TRAWL_MAX_QUERY_DEPTH nesting; err names the
 * limit), TRAWL_ENOMEM. err (errlen bytes, NUL-terminated) may be NULL.
 * Empty queries (nothing but white space) are TRAWL_EQUERY "empty query".
 */
int idx_query_parse(const char *q, size_t len, int default_op, idx_qnode **out, char *err,
                    size_t errlen);

/* idx_query_free releases a tree from idx_query_parse; NULL is allowed. */
void idx_query_free(idx_qnode *n);

/* idx_query_dump writes a canonical, fully parenthesised form of n into buf
 * (for tests and debugging), e.g. (+title:foo "bar baz" -qux*). Returns the
 * length it needed (snprintf-style). */
size_t idx_query_dump(const idx_qnode *n, char *buf, size_t cap);

#endif
