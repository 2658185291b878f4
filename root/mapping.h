/*
 * mapping.h - a trawl schema told as an OpenSearch mapping, for
 * GET /_mapping and GET /{index}/_mapping (root/opensearch.c): clients and
 * the search page (ui/) learn from it which fields there are and of which
 * type. It is the inverse of trawl_schema_from_mappings (index/mappings.c,
 * `trawl schema --from-mappings`): that function turns this mapping back
 * into the same fields with the same types and settings (docs/SCHEMA.md's
 * table, read from right to left). No HTTP, no root: JSON in, JSON out.
 */
#ifndef TRAWL_ROOT_MAPPING_H
#define TRAWL_ROOT_MAPPING_H

#include <jansson.h>
#include <stddef.h>

/*
 * mapping_from_schema translates a schema in canonical JSON (what a leaf
 * answers SCHEMA with: trawl_index_schema) into the "mappings" object of
 * OpenSearch's answer: {"properties": {...}} in the schema's order (text
 * fields first, then the typed ones), and "_source" when the schema
 * stores less than everything. Each field:
 *   text     {"type": "text"}, "analyzer": "english" (none for plain,
 *            which OpenSearch's default, standard, maps back to), and its
 *            keyword twins as multi-fields: "fields": {"raw": {...}}
 *   keyword  {"type": "keyword"}, "normalizer": "lowercase", "ignore_above"
 *   long, double, date, boolean  {"type": ...}
 * with "index": false and "doc_values": false where the schema says so.
 * BM25 settings (boost, k1, b) have no place in a mapping and are left out.
 * On TRAWL_OK *out is a new reference; otherwise TRAWL_ESCHEMA (the text is
 * not a schema this code knows: a field of an unknown type, say) with err
 * naming what, or TRAWL_ENOMEM.
 */
int mapping_from_schema(const char *schema, size_t len, json_t **out, char *err, size_t errlen);

#endif
