/*
 * proto.h - what both programs of trawl's adapter for the structured-search
 * protocol (../../../shared/peers/structured/README.md: build_index and
 * do_query) read the same way: the protocol's schema file, its text
 * analysis and its dates. The protocol fixes them for every engine; trawl's
 * own analysis and date rules differ at the edges (non-ASCII letters,
 * a space for the T), so the adapter applies the protocol's rules itself
 * before trawl sees a byte.
 */
#ifndef TRAWL_BENCH_STRUCTURED_PROTO_H
#define TRAWL_BENCH_STRUCTURED_PROTO_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum ptype { P_TEXT, P_KEYWORD, P_KEYWORD_MULTI, P_INTEGER, P_DATE, P_BOOLEAN };

#define P_MAX_FIELDS 64

typedef struct pschema {
	char idfield[64];
	uint32_t n;
	char name[P_MAX_FIELDS][64];
	int type[P_MAX_FIELDS];
} pschema;

/* p_schema_load reads the protocol schema at path: 0, or -1 with a message
 * on stderr. */
int p_schema_load(pschema *s, const char *path);

/* p_field: the index of field name in s, or -1. */
int p_field(const pschema *s, const char *name);

/* p_text_append appends text's tokens to out (cap bytes, *len used), lower
 * case, separated by spaces: the protocol's analysis (a token is a run of
 * ASCII letters and digits; every other byte separates). 0, or -1 when out
 * is full. */
int p_text_append(const char *text, size_t n, char *out, size_t cap, size_t *len);

/* p_date reads a protocol date (a string: YYYY-MM-DD, or with THH:MM[:SS[.f]]
 * or a space for the T, then nothing, Z, +-HH:MM, +-HHMM or +-HH; or an
 * integer of epoch ms) into *ms. 0, or -1 when it is none. */
int p_date(const json_t *v, int64_t *ms);

/* The name trawl's schema gives the one text field (all of the protocol's
 * text fields, in schema order) and the id's keyword copy (the sort's last
 * tiebreaker: the protocol breaks ties by id ascending). */
#define P_TEXT_FIELD "_text"
#define P_ID_FIELD "_idk"

#endif
