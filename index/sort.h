/*
 * sort.h - sorting by fields at the edge of libtrawl: the options' keys and
 * search_after into the engine's idx_sort, and a hit's sort values out as
 * JSON (sort.c says how values are held).
 */
#ifndef TRAWL_INDEX_SORT_H
#define TRAWL_INDEX_SORT_H

#include <stddef.h>

#include "search.h"

/*
 * idx_sort_compile checks o's sort keys against idx's schema (each names
 * "_score" or a typed field with doc values) and reads its search_after
 * (JSON: one value per key, then the tiebreaker) into *out; v (any open
 * view, NULL: none) maps search_after's keywords to ordinals. TRAWL_OK, or
 * TRAWL_EINVAL / TRAWL_ELIMIT with err naming the key or the element.
 */
int idx_sort_compile(const trawl_index *idx, const idx_sview *v, const trawl_search_opts *o,
                     idx_sort *out, char *err, size_t errlen);

/*
 * idx_sort_json writes hit h's sort values under s as a JSON array to buf
 * (trawl_results_sort_json's contract); v: any open view (for keywords).
 */
size_t idx_sort_json(const trawl_index *idx, const idx_sview *v, const idx_sort *s,
                     const idx_hit *h, char *buf, size_t cap);

#endif
