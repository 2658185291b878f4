/*
 * qtree.h - the query tree: the one representation of a search query.
 *
 * Two front ends build it: the query language's parser (index/query.c, for
 * `trawl search`, the native HTTP API's q and OpenSearch's q= and
 * query_string) and the OpenSearch query DSL (root/dsl.c). The engine
 * compiles it (index/search.c), and between the root and a leaf it travels
 * in the canonical encoding defined here (SEARCH and FETCH carry it;
 * docs/WIRE.md gives every byte). So this module holds what all of them
 * share and nothing that needs an index or a socket: the node type, building
 * and freeing nodes, the rules and limits every tree keeps, the encoding,
 * and a canonical text dump for tests. It lives in common/ because the wire
 * module (services) and libtrawl (the engine) both link it.
 *
 * A tree is what the parser makes of a query string:
 * - The root is a BOOL with occur MUST and no field (so never FILTER).
 * - The groups are BOOL and CONST. A BOOL has at least one kid, a CONST
 *   exactly one. TERM, PREFIX, PHRASE and IDS have text: 1 or more bytes of
 *   valid UTF-8 without NUL (a PHRASE holds at least one word, a run of
 *   bytes other than white space; an IDS at most LIMIT_ID_BYTES, 512).
 *   ALL, EXISTS and CONST have no text. A RANGE has a bound or two
 *   (flags), each 0 or more bytes of valid UTF-8 without NUL: text is
 *   empty without QT_LO and hi without QT_HI, QT_LO_INC needs QT_LO and
 *   QT_HI_INC QT_HI, and no other flag bit is set; no other kind has hi or
 *   flags.
 * - A field is a name of [A-Za-z0-9_.-] not starting with '-'. NULL means
 *   every text field. A field applies to the node's whole subtree: every
 *   node below a node with a field has a field of its own (the parser
 *   copies a group's field to the clauses in it that name none). ALL and
 *   IDS never have one (so never sit below one); RANGE and EXISTS always
 *   have one.
 * - Limits (trawl.h): groups nest at most TRAWL_MAX_QUERY_DEPTH below the
 *   root; at most TRAWL_MAX_QUERY_TERMS words (a TERM, PREFIX, ALL, RANGE,
 *   EXISTS, IDS or CONST is one, a PHRASE counts its words, as the parser
 *   counts them); its texts (a RANGE's two bounds) and field names hold at
 *   most TRAWL_MAX_QUERY_BYTES bytes (a field counts where it is given,
 *   not in the nodes that inherit it); its encoding takes at most
 *   TRAWL_MAX_QUERY_TREE_BYTES. Every tree the parser makes from a query
 *   within the parser's limits keeps all four: its texts and field names
 *   are pieces of the query, and its encoding takes at most 10 + 8 x words
 *   + 4 x the query's bytes (docs/WIRE.md).
 *
 * Growing: kinds and occurs take the next free numbers, each kind with its
 * own payload in the encoding. An old decoder refuses a kind or occur it
 * does not know, and the tree's format and the wire version go up with any
 * change to the bytes (format 2, wire version 3: RANGE, EXISTS, IDS, CONST
 * and FILTER).
 *
 * Errors: TRAWL_OK or a trawl_err. Functions that take err write a
 * NUL-terminated message there (err may be NULL).
 */
#ifndef TRAWL_COMMON_QTREE_H
#define TRAWL_COMMON_QTREE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* Node kinds. The values are the encoding's; never renumbered. */
typedef enum qt_kind {
	QT_TERM = 0,   /* one word, searched as analysis cuts it; on a typed
	                  field: the one value text */
	QT_PREFIX = 1, /* every indexed term (keyword value) starting with text
	                  (not stemmed) */
	QT_PHRASE = 2, /* text's tokens next to each other, in order; on a
	                  keyword field: the one value text */
	QT_BOOL = 3,   /* a group: its kids combined by their occurs */
	QT_ALL = 4,    /* every document, score 1 */
	QT_RANGE = 5,  /* field's values between text (lo) and hi, as flags
	                  say; a value's text is read by the field's type */
	QT_EXISTS = 6, /* documents with at least one value in field */
	QT_IDS = 7,    /* the document whose external id is text */
	QT_CONST = 8,  /* a group of one kid: the documents it matches, each
	                  with score 1 */
} qt_kind;
#define QT_KIND_MAX QT_CONST

/* QT_RANGE's flags: which bounds there are, and whether each includes its
 * value. A range has at least one bound; text (hi) is empty without QT_LO
 * (QT_HI). */
#define QT_LO 1u
#define QT_LO_INC 2u
#define QT_HI 4u
#define QT_HI_INC 8u

/* How a node combines into its parent (the root: MUST). The values are the
 * encoding's; never renumbered. */
typedef enum qt_occur {
	QT_SHOULD = 0, /* optional; adds to the score */
	QT_MUST = 1,   /* required; adds to the score */
	QT_NOT = 2,    /* excluded; never scores */
	QT_FILTER = 3, /* required; never scores */
} qt_occur;
#define QT_OCCUR_MAX QT_FILTER

typedef struct qt_node qt_node;
struct qt_node {
	qt_kind kind;
	qt_occur occur;
	char *field; /* NUL-terminated, malloc'ed; NULL: every text field */
	char *text;  /* TERM, PREFIX, PHRASE, IDS; RANGE's lo: NUL-terminated,
	                malloc'ed */
	size_t len;  /* bytes in text */
	char *hi;    /* RANGE: the upper bound, NUL-terminated, malloc'ed */
	size_t hilen;
	uint32_t flags;  /* RANGE: QT_LO | QT_LO_INC | QT_HI | QT_HI_INC */
	uint32_t column; /* 1-based column (characters) in the query text the node
	                    was parsed from, for error messages; 0: none (built
	                    from JSON) */
	qt_node **kids;  /* BOOL: malloc'ed array of owned kids */
	uint32_t nkids;
	uint32_t capkids; /* room in kids (qt_add grows it) */
};

/* What qt_measure finds. */
typedef struct qt_size {
	uint32_t depth;      /* deepest BOOL below the root (the root is 0) */
	uint64_t words;      /* words, counted as the parser counts them */
	uint64_t text_bytes; /* texts, and field names where they are given */
	uint64_t nodes;
	uint64_t encoded; /* bytes of the encoding */
} qt_size;

/* ASCII white space, as the query language defines it. */
static inline int qt_is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* A character of a field name. */
static inline int qt_is_field_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

/* ---- building ---- */

/* qt_new returns a new node (no field, text or kids), owned by the caller,
 * or NULL without memory. */
qt_node *qt_new(qt_kind kind, qt_occur occur, uint32_t column);

/* qt_set_field, qt_set_text and qt_set_hi copy len bytes (and a NUL) into
 * n, replacing what was there; field NULL clears it. TRAWL_OK or
 * TRAWL_ENOMEM (n is then unchanged). None checks the rules: qt_check does.
 * A RANGE's flags are set directly. */
int qt_set_field(qt_node *n, const char *field, size_t len);
int qt_set_text(qt_node *n, const char *text, size_t len);
int qt_set_hi(qt_node *n, const char *hi, size_t len);

/* qt_add appends kid to group's kids. On TRAWL_OK group owns kid; on
 * TRAWL_ENOMEM the caller still does. */
int qt_add(qt_node *group, qt_node *kid);

/* qt_free releases n and everything below it; NULL is allowed. */
void qt_free(qt_node *n);

/* qt_copy returns a deep copy of n (columns included), owned by the caller,
 * or NULL without memory (or for NULL). */
qt_node *qt_copy(const qt_node *n);

/*
 * qt_with_filter narrows query by filter: *out is one root (BOOL, MUST)
 * holding the query's clauses, which score, and then the filter's, which
 * only narrow. filter is a root whose clauses are all FILTER or NOT (what
 * idx_query_parse_filter makes). It takes both trees: on success *out
 * owns what they held; on failure both are freed and *out is NULL.
 *
 * - query NULL: a filter alone. The root's first clause is ALL (MUST), so
 *   every document that passes the filter matches, each scoring 1.
 * - A query whose clauses are all optional (SHOULD; NOT aside) needs one
 *   of them to match only while nothing else is required (as in
 *   OpenSearch's bool), and the filter's clauses are required: so its one
 *   SHOULD becomes MUST, or its several SHOULDs move into one MUST BOOL
 *   (column 0) where the first stood. Otherwise the query's clauses stay as
 *   they are.
 * - Beside a query, the filter's columns are set to 0: they counted in
 *   another text, so an error the engine finds there names no column.
 * - filter NULL: *out is query (which must not be NULL then).
 *
 * TRAWL_EINVAL (not roots, or a filter clause that is not FILTER or NOT),
 * TRAWL_ELIMIT (together they break a limit of qt_check; err names it),
 * TRAWL_ENOMEM. err may be NULL.
 */
int qt_with_filter(qt_node *query, qt_node *filter, qt_node **out, char *err, size_t errlen);

/* ---- rules, limits, encoding ---- */

/* qt_measure walks root and fills *out. It needs no rule to hold. */
void qt_measure(const qt_node *root, qt_size *out);

/*
 * qt_check checks every rule and limit of the top of this file: TRAWL_OK,
 * TRAWL_ELIMIT (a limit; err names it and the value) or TRAWL_EINVAL (a
 * rule; err names the node by its preorder number and says what is wrong).
 */
int qt_check(const qt_node *root, char *err, size_t errlen);

/*
 * qt_encode appends the canonical encoding of root to out: equal trees
 * (columns included) give equal bytes, and qt_decode gives back an equal
 * tree. The tree is checked first (qt_check's errors); TRAWL_ENOMEM or
 * TRAWL_ELIMIT (out's own bound) from the tbuf. On failure out is unchanged.
 */
int qt_encode(const qt_node *root, tbuf *out, char *err, size_t errlen);

/*
 * qt_decode reads a whole encoding (len bytes at buf; no alignment needed)
 * into a new tree, owned by the caller (qt_free). Everything qt_encode would
 * not write is refused with TRAWL_EINVAL and err naming the offset and the
 * rule or limit; it never reads outside [buf, buf + len). TRAWL_ENOMEM.
 * On failure *out is NULL.
 */
int qt_decode(const void *buf, size_t len, qt_node **out, char *err, size_t errlen);

/* qt_validate is qt_decode without building the tree: the same checks and
 * errors, and it allocates nothing. */
int qt_validate(const void *buf, size_t len, char *err, size_t errlen);

/*
 * qt_dump writes a canonical, fully parenthesised form of n in the query
 * language into buf (cap bytes, NUL-terminated; buf may be NULL with cap 0),
 * for tests and messages, e.g. (+title:foo "bar baz" -qux* #year:[2020 TO *}
 * _exists_:tags _id:a\ b (#tags:x)^=1): every clause with its occur (+ MUST,
 * - NOT, # FILTER, none SHOULD) and field, a RANGE in brackets ([ ] include
 * their bound, { } do not, * is an open bound), a CONST as its kid in
 * parentheses followed by ^=1, words and bounds escaped so that the dump
 * parses back to the same clauses (docs/QUERY.md). Columns are not shown.
 * Returns the length it needed (snprintf-style).
 */
size_t qt_dump(const qt_node *n, char *buf, size_t cap);

#endif
