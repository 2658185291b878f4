/*
 * jsonscan.h - a streaming, validating reader of one JSON document for the
 * build's hot path.
 *
 * jansson (used everywhere else: schemas, manifests, stored subsets) builds
 * a tree with a hash table and an allocation per value; on enwiki-passages
 * that was a quarter of the build's time. The build needs only the id and
 * the text fields, so this reader validates the whole text (RFC 8259:
 * structure, strings, escapes, UTF-8, numbers, literals; nesting at most
 * LIMIT_JSON_DEPTH) without building anything, and hands over the
 * top-level members one at a time.
 */
#ifndef TRAWL_INDEX_JSONSCAN_H
#define TRAWL_INDEX_JSONSCAN_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/limits.h"

typedef enum idx_jkind {
	IDX_J_STRING,
	IDX_J_NUMBER,
	IDX_J_OBJECT,
	IDX_J_ARRAY,
	IDX_J_TRUE,
	IDX_J_FALSE,
	IDX_J_NULL,
} idx_jkind;

/* A top-level member's value: its kind and its bytes in the input. */
typedef struct idx_jvalue {
	idx_jkind kind;
	const char *start;  /* first byte of the value */
	size_t len;         /* bytes of the value */
	const char *key_at; /* the opening quote of its key */
} idx_jvalue;

/*
 * Called for each top-level member of the object, in order; key is
 * decoded (valid during the call). Return nonzero to stop (returned by
 * idx_json_scan).
 */
typedef int (*idx_jmember_cb)(void *ctx, const char *key, size_t klen, const idx_jvalue *v);

/*
 * IDX_JSCAN_STRICT: refuse, besides what RFC 8259 refuses, what jansson's
 * json_loadb(JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL) refuses, so that a
 * document the scanner takes is one jansson reads the same: a key twice in
 * one object (at any depth, compared decoded), a NUL character in a key
 * (\u0000 in a value is taken), an integer outside 64 bits, a number whose
 * double overflows. Nesting stays bounded by LIMIT_JSON_DEPTH, tighter than
 * jansson's. The write path's check runs in this mode, in place of a
 * jansson parse; the build does not (its input was checked, or is a file).
 */
#define IDX_JSCAN_STRICT 1

/*
 * idx_json_scan validates text (len bytes) as one JSON object and calls cb
 * for its members. Returns 0, the callback's nonzero value, or TRAWL_EJSON
 * / TRAWL_EUTF8 (TRAWL_ENOMEM in the strict mode) with *column (1-based, in
 * characters) and a reason in err. keybuf is scratch for decoding keys;
 * flags: 0 or IDX_JSCAN_STRICT.
 */
int idx_json_scan(const char *text, size_t len, int flags, idx_jmember_cb cb, void *ctx,
                  tbuf *keybuf, uint32_t *column, char *err, size_t errlen);

/*
 * idx_json_number reads a JSON number (RFC 8259's grammar) at p, before
 * end: returns where it stopped, with *ok set when a whole number ends
 * there (else it stopped at the first byte that breaks the grammar) and
 * *integral when it has neither a fraction nor an exponent.
 */
const char *idx_json_number(const char *p, const char *end, int *ok, int *integral);

/*
 * idx_json_string decodes a string value (as validated by idx_json_scan)
 * and appends its UTF-8 bytes to out. Returns TRAWL_OK, ENOMEM or ELIMIT.
 */
int idx_json_string(const idx_jvalue *v, tbuf *out);

/*
 * idx_json_strings appends every element of an array value, which must all
 * be strings, joined by sep (1 byte), to out: TRAWL_OK, TRAWL_EJSON when an
 * element is not a string, ENOMEM or ELIMIT.
 */
int idx_json_strings(const idx_jvalue *v, char sep, tbuf *out);

#endif
