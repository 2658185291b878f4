/*
 * values.h - the values of typed fields (keyword, long, double, date,
 * boolean), as documents give them in JSON, checked and put in canonical
 * form. This is the one place that decides what "2024-01-01", 1e3 or "42"
 * means for a field of a given type: the build reads every document's
 * typed fields through it (shard/parse.c), and the query languages are to
 * read their literals through it too, so that a filter and a document never
 * disagree about a value. docs/SCHEMA.md states the rules.
 */
#ifndef TRAWL_INDEX_VALUES_H
#define TRAWL_INDEX_VALUES_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "index/index_int.h"
#include "index/jsonscan.h"

/*
 * idx_date_parse reads a date as ISO 8601 with an optional time and zone:
 * YYYY[-MM[-DD[THH[:MM[:SS[.F]]]]]][Z|+HH|+HH:MM|+HHMM] (F: 1-9 digits,
 * kept to the millisecond; a zone only after a time; no zone means UTC;
 * years 0000-9999, offsets up to 18 hours), the shapes Elasticsearch's
 * strict_date_optional_time takes. *ms gets milliseconds since
 * 1970-01-01T00:00:00Z. Returns TRAWL_OK or TRAWL_EINVAL.
 */
int idx_date_parse(const char *s, size_t n, int64_t *ms);

/*
 * idx_date_format writes ms as YYYY-MM-DDTHH:MM:SS.mmmZ (24 bytes and a
 * NUL; out has room for 32) for years 0000-9999, or as the decimal number of
 * milliseconds outside them. Returns the length.
 */
size_t idx_date_format(int64_t ms, char *out);

/*
 * idx_long_parse reads a JSON number (or a string holding one) that is an
 * integer within int64: "42", "-7", "1e3", "4.0". A fraction is refused,
 * not truncated. idx_double_parse reads any finite JSON number. Both return
 * TRAWL_OK or TRAWL_EINVAL, and read s[0..n) whole.
 */
int idx_long_parse(const char *s, size_t n, int64_t *v);
int idx_double_parse(const char *s, size_t n, double *v);

/*
 * idx_values_parse appends the values of typed field f in a document, as
 * the JSON value v gives them, to out:
 *
 *   u32 count, then count values: a keyword as u32 length and its bytes
 *   (normalised as f says); a long, a date (ms UTC) or a boolean (0, 1) as
 *   int64; a double as its IEEE bits (u64); all little-endian.
 *
 * null, an empty array and nulls inside arrays are no value; arrays nest
 * and flatten, as in Elasticsearch; an object is an error. A keyword may
 * be given as a string, a number or a boolean (their JSON text); a number
 * as a number or a string holding one; a boolean as true, false, "true" or
 * "false"; a date as a string (idx_date_parse) or an integer number of
 * milliseconds since the epoch. A keyword longer than f->ignore_above
 * characters is skipped; one longer than LIMIT_KEYWORD_BYTES bytes, and
 * more than LIMIT_FIELD_VALUES values, are errors.
 *
 * Returns TRAWL_OK; TRAWL_EDOC with why set ("\"abc\" is not a long") and
 * *at at the value in error; TRAWL_ENOMEM. scratch is the caller's.
 */
int idx_values_parse(const idx_tfield *f, const idx_jvalue *v, tbuf *out, tbuf *scratch,
                     const char **at, char *why, size_t whylen);

/*
 * idx_value_literal reads a query's literal for field f (s, n bytes of
 * UTF-8, as the user wrote it, unescaped): a keyword is normalised as f
 * says into out (reset first; *key untouched); a long, date or boolean
 * becomes its value and a double its order-keeping key (idx_double_key) in
 * *key. The rules are the documents' (idx_values_parse): a date is ISO 8601
 * or epoch milliseconds, a boolean true or false. TRAWL_OK, TRAWL_EINVAL
 * with why saying what the literal is not, or TRAWL_ENOMEM.
 */
int idx_value_literal(const idx_tfield *f, const char *s, size_t n, tbuf *out, int64_t *key,
                      char *why, size_t whylen);

#endif
