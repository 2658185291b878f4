/*
 * sortspec.h - the text form of a sort, as `trawl search --sort` and the
 * native HTTP API's sort= take it: keys separated by commas, each a field
 * name (or _score) followed by options after colons, in any order:
 *
 *   date:desc,_score          newest first, then by score
 *   size:asc:first:max        missing values first, arrays by their largest
 *
 * asc / desc (default asc; _score: desc), first / last (where documents
 * without a value go; default last), min / max (which value of an array
 * counts; default min ascending, max descending). The OpenSearch DSL's
 * "sort" is JSON and read by root/dsl.c into the same trawl_sort keys.
 */
#ifndef TRAWL_COMMON_SORTSPEC_H
#define TRAWL_COMMON_SORTSPEC_H

#include <stddef.h>
#include <stdint.h>

#include "trawl/trawl.h"

/*
 * sortspec_parse reads spec (NUL-terminated; modified: the field names in
 * out point into it) into out[0..*n) (room for TRAWL_MAX_SORT_KEYS).
 * TRAWL_OK; TRAWL_EINVAL or TRAWL_ELIMIT with err naming the key and what
 * is wrong. It does not check that the fields exist (the search does).
 */
int sortspec_parse(char *spec, trawl_sort *out, uint32_t *n, char *err, size_t errlen);

#endif
