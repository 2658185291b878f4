/*
 * query.h - the query language's parser: text in, query tree out.
 *
 * The parser knows nothing of the schema or the analyzers; it keeps words as
 * the user wrote them (unescaped), in the query tree of common/qtree.h, which
 * search.c analyses and compiles. Every tree it makes keeps that module's
 * rules and limits.
 *
 * Grammar (docs/QUERY.md has the user's version):
 *   query   := clause*
 *   clause  := ['+' | '-' | '#'] primary | 'AND' | 'OR' | 'NOT'
 *   primary := '(' query ')' ['^=1'] | FIELD ':' primary | '"' words '"'
 *            | word ['*'] | '*:*' | range | '_exists_:' FIELD | '_id:' value
 *   range   := ('[' | '{') bound 'TO' bound (']' | '}')
 *            | ('>' | '>=' | '<' | '<=') value
 *   bound   := '*' | '"' chars '"' | chars (no white space, []{}()")
 *   value   := '"' chars '"' | chars (no white space, ()")
 * `*:*` (unescaped, standing alone) matches every document with score 1.
 * Unprefixed clauses are SHOULD (default OR) or MUST (default AND); '+' is
 * MUST, '-' NOT, '#' FILTER (required, never scores). The uppercase
 * keywords follow Lucene's classic parser: `a AND b` makes both sides MUST,
 * `a OR b` makes both SHOULD, `NOT a` excludes a. A backslash escapes the
 * next character. A word is a run of characters other than white space,
 * parentheses and double quotes. A range (RANGE; [* TO *]: EXISTS) needs a
 * field, given or from its group; its bounds are kept as written, '*' being
 * an open bound; [ ] include their bound, { } do not, and TO is a keyword
 * only between the brackets. _exists_:f is EXISTS of field f; _id:x is
 * IDS (not inside a field's group). ( ... )^=1 is CONST: the group itself
 * when it holds one clause, else a CONST holding it as a FILTER clause.
 */
#ifndef TRAWL_INDEX_QUERY_H
#define TRAWL_INDEX_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "common/qtree.h"

/*
 * idx_query_parse parses query q (len bytes, UTF-8) with default operator
 * default_op (0 OR, 1 AND; see trawl.h). On success *out owns the whole tree
 * (root is a BOOL, column 1) and is released with qt_free.
 * Errors: TRAWL_EQUERY (syntax; err says "column N: reason"), TRAWL_EUTF8
 * (invalid byte; column), TRAWL_ELIMIT (over TRAWL_MAX_QUERY_BYTES bytes,
 * TRAWL_MAX_QUERY_TERMS words or TRAWL_MAX_QUERY_DEPTH nesting; err names the
 * limit), TRAWL_ENOMEM. err (errlen bytes, NUL-terminated) may be NULL.
 * Empty queries (nothing but white space) are TRAWL_EQUERY "empty query".
 */
int idx_query_parse(const char *q, size_t len, int default_op, qt_node **out, char *err,
                    size_t errlen);

/*
 * idx_query_parse_group parses q as the inside of the group `field:( q )`
 * (field NULL: `( q )`) would be parsed in a query: *out is that group, a
 * BOOL with the field (copied; it must be a valid field name), the occur an
 * unprefixed clause gets under default_op and column 0 (it is not in q),
 * whose kids are q's clauses. So q's clauses inherit the field, `*:*` in it
 * is a word when a field is given, and q's own parentheses may nest one
 * level less deep. Columns in the tree and in errors count from q's start.
 * Same errors as idx_query_parse.
 */
int idx_query_parse_group(const char *q, size_t len, int default_op, const char *field,
                          qt_node **out, char *err, size_t errlen);

/*
 * idx_query_parse_filter parses q as a filter: what it matches narrows a
 * search, and it never scores. q is parsed with the AND default
 * (idx_query_parse with default_op 1), then each required clause of its
 * top level becomes FILTER, excluded ones stay NOT, and optional ones (only
 * an explicit OR makes them) become one FILTER group of them, or FILTER
 * when alone: `a OR b` narrows to either, as (a OR b). An optional clause
 * beside required ones would only score in a query, so in a filter it is an
 * error naming its column. *out is a root whose clauses are all FILTER or
 * NOT, for qt_with_filter. Errors as idx_query_parse's.
 */
int idx_query_parse_filter(const char *q, size_t len, qt_node **out, char *err, size_t errlen);

#endif
