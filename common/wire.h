/*
 * wire.h - every message between trawl's root and its leaves.
 *
 * The root and the leaves are separate processes, possibly of different
 * builds, that talk over nng sockets. This module is the one place that
 * defines the bytes they exchange (docs/WIRE.md describes each of them), so
 * that the format can be read, versioned, limited and fuzzed in one file. It
 * only turns structs into byte buffers and back: it does not include nng and
 * knows nothing of sockets, contexts or retries. A sender encodes into a tbuf
 * and hands the bytes to nng; a receiver decodes straight from the body of
 * the nng message it received.
 *
 * Every message is a 32-byte header followed by the body of its type. All
 * integers are little-endian and fixed-width, every variable-length item is
 * preceded by its length, and every length and count has a limit below.
 *
 * Conventions
 * - Functions return TRAWL_OK (0) or a trawl_err value. None blocks.
 * - Encoders (wire_encode_*) validate their input, then append one complete
 *   message to a tbuf. They write the message type themselves (the type
 *   field of the header they are given is ignored) and return TRAWL_ELIMIT
 *   when a count or length is above its limit (or the message would exceed
 *   LIMIT_MESSAGE_BYTES or the tbuf's own bound), TRAWL_EINVAL for any other
 *   invalid value (k = 0, a duplicate shard, a NULL pointer with a nonzero
 *   length, a NaN score, a query tree that breaks a rule or limit...) and
 *   TRAWL_ENOMEM. On failure the tbuf is left exactly as it was.
 * - Decoders (wire_decode_*) take the whole message, accept exactly what the
 *   encoders produce and refuse everything else with TRAWL_EINVAL: bad
 *   magic, an unknown version or type, a type other than the one expected, a
 *   nonzero reserved field, a value out of range, a message that ends early
 *   or that has bytes after its body. They never read outside [buf, buf+len)
 *   and the buffer need not be aligned. On failure, if err is not NULL and
 *   errlen > 0, a NUL-terminated message naming the message type, the field
 *   and the limit is written to err (truncated to errlen bytes), e.g.
 *   "SEARCH: tree is 70000 bytes; the limit is 65536"; the output structs
 *   are then unspecified. On success err is not touched. The query tree of
 *   SEARCH and FETCH is checked through (qt_validate): every rule and limit
 *   of common/qtree.h, so a receiver may decode it without surprises.
 * - Decoding is zero-copy. Strings (tree, errmsg, id, json, snippet...) and
 *   packed records (hits, document references) in a decoded struct point
 *   into buf: they are valid only while buf is, i.e. until the nng message
 *   they were read from is freed or reused. Strings are NOT NUL-terminated;
 *   use their lengths. Packed records may be unaligned: read them only
 *   through wire_search_reply_hit, wire_fetch_docref and wire_doc_iter_next,
 *   which copy.
 * - The same structs are used in both directions. Variable-length records
 *   (hits, document references, fetched documents) are given to an encoder
 *   as an array (hits, docs); a decoder sets that array to NULL and points
 *   the *_raw field at the packed records instead. An encoder given a NULL
 *   array reads the *_raw records, so a decoded message can be re-encoded
 *   (forwarded) as it is.
 *
 * Caveats
 * - A FETCH_REPLY carrying many large documents can exceed LIMIT_MESSAGE_BYTES
 *   even though each document is within LIMIT_STORED_DOC_BYTES; its encoder then fails
 *   with TRAWL_ELIMIT and the sender must answer with fewer documents.
 * - Statuses (SEARCH_REPLY, FETCH_REPLY and per document) carry trawl_err
 *   values. A decoder accepts any value, because newer builds add errors at
 *   the end of the enum; treat an unknown nonzero value as a failure.
 * - Flags not defined here are carried through decoding and re-encoding but
 *   mean nothing; a receiver must ignore them.
 */
#ifndef TRAWL_COMMON_WIRE_H
#define TRAWL_COMMON_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/limits.h"

/* ---- constants ---- */

#define WIRE_MAGIC 0x5754u /* bytes 'T' 'W' on the wire (u16 little-endian) */
#define WIRE_VERSION                                                                               \
	3 /* bumped for any change to the bytes (2: query trees; 3: typed filters in them) */
#define WIRE_HEADER_BYTES 32 /* size of the header at the start of every message */

/* Limits: common/limits.h (a message, an id, a field name, marks and
 * snippets, shards, a schema); TRAWL_MAX_K and TRAWL_MAX_QUERY_TREE_BYTES (trawl.h)
 * bound k, the number of hits and fetched documents, and the query tree;
 * the tree's own limits (common/qtree.h) bound what is inside it. */
#define WIRE_HIT_BYTES 20   /* one packed hit in SEARCH_REPLY */
#define WIRE_DOCREF_BYTES 8 /* one packed document reference in FETCH */

/* Message types (the header's type byte). Values are never reused. */
enum wire_type {
	WIRE_SEARCH = 1,        /* root -> leaf: top k of a query on some shards */
	WIRE_SEARCH_REPLY = 2,  /* leaf -> root */
	WIRE_FETCH = 3,         /* root -> leaf: stored documents and snippets */
	WIRE_FETCH_REPLY = 4,   /* leaf -> root */
	WIRE_PING = 5,          /* root -> leaf: health and load probe */
	WIRE_PONG = 6,          /* leaf -> root */
	WIRE_CANCEL = 7,        /* root -> leaf: give up an earlier request */
	WIRE_GET = 8,           /* root -> leaf: a stored document by id (FETCH_REPLY answers) */
	WIRE_SCHEMA = 9,        /* root -> leaf: the schema of a generation */
	WIRE_SCHEMA_REPLY = 10, /* leaf -> root */
	/* 11-18: the writes' messages (another branch) */
	WIRE_FILES = 19,          /* puller -> leaf or indexer: a generation's manifest */
	WIRE_FILES_REPLY = 20,    /* -> puller */
	WIRE_FILE_READ = 21,      /* puller -> leaf or indexer: bytes of a generation's file */
	WIRE_FILE_READ_REPLY = 22 /* -> puller */
};

/* MANIFEST.xxh3's bytes in a FILES_REPLY: 32 hex digits and a newline
 * (docs/FORMAT.md §3.1); fewer when the generation has none, or it is
 * malformed (the puller refuses it). */
#define WIRE_MANIFEST_SUM_BYTES 33

/* Header flags. Bits not listed are ignored by receivers. */
#define WIRE_F_PARTIAL 0x0001u /* reply: incomplete, the deadline was hit */
#define WIRE_F_COUNT 0x0002u   /* SEARCH: count matching documents exactly */
/* 0x0004 was WIRE_F_AND in version 1 (the query string's default operator);
 * a query tree's occurs say it now. The bit is not reused. */
#define WIRE_F_NO_SOURCE 0x0008u /* FETCH: ids (and snippets) only, no stored documents */
/* SEARCH: send each hit's external id. SEARCH_REPLY: the ids follow the
 * error message (a leaf that does not know the flag sends none; the root
 * then FETCHes the ids, as before the flag existed). */
#define WIRE_F_IDS 0x0010u
/* SEARCH_REPLY: the shards store no document fields, only ids, so a FETCH
 * would bring back nothing the ids do not already say. */
#define WIRE_F_NO_STORE 0x0020u
/* SEARCH: sort by fields: the sort keys and search_after follow the tree.
 * SEARCH_REPLY: each hit's sort values follow the ids. */
#define WIRE_F_SORT 0x0040u
/* SEARCH: aggregations: their spec in canonical form (common/aggs.h:
 * aggs_spec_write) follows the sort part. SEARCH_REPLY: the leaf's partial
 * result (trawl_results_aggs(r, 1)) follows the sort values. */
#define WIRE_F_AGGS 0x0080u
/* SEARCH_REPLY, FETCH_REPLY (an error): a shard asked for is out of service
 * at this leaf (a damaged or rewritten file: leaf/shardguard.h). The root
 * asks another replica and does not hold it against this one, whose next
 * PONG leaves the shard out. */
#define WIRE_F_OUT_OF_SERVICE 0x0100u
/* SEARCH_REPLY: the leaf answered from the generation asked for, but it
 * serves a newer one: the root's view of the leaves is behind (its pings
 * are periodic), and a refresh through another root may have promised
 * that newer generation. The root pings at once and searches again
 * (root/root.c, search_uncached). */
#define WIRE_F_NEWER 0x0200u

/* A sort key's flags. */
#define WIRE_SORT_DESC 0x01u
#define WIRE_SORT_MISSING_FIRST 0x02u
#define WIRE_SORT_MIN 0x04u /* a multi-valued field by its smallest value */
#define WIRE_SORT_MAX 0x08u /* by its largest (neither: min ascending, max descending) */

/* SEARCH_REPLY total_relation */
enum wire_total_relation {
	WIRE_TOTAL_EQ = 0, /* total is exact */
	WIRE_TOTAL_GTE = 1 /* total is a lower bound */
};

/* ---- structs ---- */

/* wire_header - the 32 bytes at the start of every message. */
typedef struct wire_header {
	uint8_t type;        /* decode: enum wire_type; ignored by encoders */
	uint16_t flags;      /* WIRE_F_* */
	uint64_t request_id; /* chosen by the requester; a reply echoes its request's */
	/* absolute deadline in microseconds since the Unix epoch; 0: none */
	uint64_t deadline_unix_us;
	uint64_t generation; /* index generation wanted or served; 0: any */
} wire_header;

/* wire_sortkey - one key of a sort by fields (SEARCH with WIRE_F_SORT). */
typedef struct wire_sortkey {
	uint8_t flags;     /* WIRE_SORT_*; MIN and MAX not both */
	uint8_t field_len; /* 1..LIMIT_FIELD_NAME_BYTES */
	const char *field; /* a typed field or "_score"; not NUL-terminated */
} wire_sortkey;

/* wire_sortval - one hit's sort values (SEARCH_REPLY with WIRE_F_SORT): the
 * keys the root merges by (trawl_results_sort_keys: compare key by key, then
 * the hit's hash) and their JSON, which it answers with. */
typedef struct wire_sortval {
	uint8_t missing;            /* bit i: key i has no value (bits < nsort) */
	int64_t v[LIMIT_SORT_KEYS]; /* nsort keys */
	const char *json;           /* not NUL-terminated */
	uint16_t json_len;          /* 1..LIMIT_SORT_JSON_BYTES */
} wire_sortval;

/* wire_search - body of SEARCH. */
typedef struct wire_search {
	uint32_t k;       /* hits wanted, 1..TRAWL_MAX_K (k + offset at the root) */
	uint16_t nshards; /* 1..TRAWL_MAX_SHARDS */
	uint16_t shards[TRAWL_MAX_SHARDS]; /* global shard numbers (< 256, distinct) */
	const uint8_t *tree;               /* the query tree's canonical encoding
	                                      (common/qtree.h), checked by both sides */
	uint32_t tree_len;                 /* 1..TRAWL_MAX_QUERY_TREE_BYTES */
	/* with WIRE_F_SORT in the header: */
	uint8_t nsort; /* 1..LIMIT_SORT_KEYS */
	wire_sortkey sort[LIMIT_SORT_KEYS];
	const char *after;  /* search_after's JSON; not NUL-terminated */
	uint32_t after_len; /* 0 (none)..LIMIT_SORT_JSON_BYTES */
	/* with WIRE_F_AGGS in the header: */
	const char *aggs;  /* the aggregation spec's canonical JSON; not NUL-terminated */
	uint32_t aggs_len; /* 1..LIMIT_AGG_SPEC_BYTES */
} wire_search;

/* wire_hit - one hit of SEARCH_REPLY (packed in WIRE_HIT_BYTES on the wire). */
typedef struct wire_hit {
	float score;    /* finite (NaN and infinities are refused) */
	uint16_t shard; /* global shard number, < 256 */
	uint32_t doc;   /* document number within the shard */
	uint64_t hash;  /* 64-bit hash of the document's external id */
} wire_hit;

/* wire_search_reply - body of SEARCH_REPLY. */
typedef struct wire_search_reply {
	uint16_t status;          /* trawl_err; TRAWL_OK when the search ran */
	uint8_t total_relation;   /* enum wire_total_relation */
	uint64_t total;           /* matching documents on the shards answered */
	uint64_t docs_searched;   /* documents in the shards answered */
	uint32_t queue_depth;     /* requests waiting at the leaf when this one finished */
	uint16_t shards_answered; /* 0..TRAWL_MAX_SHARDS */
	uint32_t nhits;           /* 0..TRAWL_MAX_K, best first */
	const wire_hit *hits;     /* nhits hits; NULL when decoded (see Conventions) */
	const uint8_t *hits_raw;  /* decoded: nhits packed hits inside the message */
	const char *errmsg;       /* detail of a nonzero status; not NUL-terminated */
	uint32_t errmsg_len;      /* 0..LIMIT_ERRMSG_BYTES */
	/* With WIRE_F_IDS in the header: each hit's external id, 0..LIMIT_ID_BYTES
	 * bytes, in the order of the hits (read them with wire_search_reply_ids). */
	const char *const *ids;  /* nhits ids, not NUL-terminated; NULL when decoded */
	const uint32_t *id_lens; /* their lengths; NULL when decoded */
	const uint8_t *ids_raw;  /* decoded: nhits packed ids (u16 length, bytes) */
	size_t ids_raw_len;      /* decoded: their total size in bytes */
	/* With WIRE_F_SORT in the header: nsort keys, and each hit's sort values
	 * (read them with wire_search_reply_sorts). */
	uint8_t nsort;             /* 1..LIMIT_SORT_KEYS */
	const wire_sortval *sorts; /* nhits; NULL when decoded */
	const uint8_t *sorts_raw;  /* decoded: nhits packed sort values */
	size_t sorts_raw_len;
	/* With WIRE_F_AGGS in the header: the partial aggregation result (JSON
	 * text, common/aggs.h: aggs_result_encode's), not NUL-terminated. */
	const char *aggs;
	uint32_t aggs_len; /* 1..LIMIT_AGG_PARTIAL_BYTES */
} wire_search_reply;

/* wire_docref - one document asked for by FETCH (WIRE_DOCREF_BYTES on the wire). */
typedef struct wire_docref {
	uint16_t shard; /* global shard number, < 256 */
	uint32_t doc;   /* document number within the shard */
} wire_docref;

/* wire_fetch - body of FETCH. Snippets are made when field_len > 0. */
typedef struct wire_fetch {
	uint32_t ndocs;          /* 1..TRAWL_MAX_K */
	const wire_docref *docs; /* ndocs references; NULL when decoded */
	const uint8_t *docs_raw; /* decoded: ndocs packed references inside the message */
	const uint8_t *tree;     /* the query tree, to highlight its terms (as in SEARCH) */
	uint32_t tree_len;       /* 0..TRAWL_MAX_QUERY_TREE_BYTES; 0: no query */
	const char *field;       /* text field to take snippets from */
	uint32_t field_len;      /* 0..LIMIT_FIELD_NAME_BYTES; 0: no snippets */
	const char *pre, *post;  /* inserted before and after each highlighted term */
	uint16_t pre_len;        /* 0..LIMIT_MARK_BYTES */
	uint16_t post_len;       /* 0..LIMIT_MARK_BYTES */
	uint32_t snippet_chars;  /* 0..LIMIT_SNIPPET_CHARS: snippet length wanted */
} wire_fetch;

/* wire_doc - one document of FETCH_REPLY. */
typedef struct wire_doc {
	uint16_t shard;       /* as asked for */
	uint16_t status;      /* trawl_err: TRAWL_OK, or e.g. TRAWL_ENOTFOUND, TRAWL_ECORRUPT */
	uint32_t doc;         /* as asked for */
	const char *id;       /* external id */
	uint32_t id_len;      /* 0..LIMIT_ID_BYTES */
	const char *json;     /* the stored document */
	uint32_t json_len;    /* 0..LIMIT_STORED_DOC_BYTES */
	const char *snippet;  /* highlighted snippet */
	uint32_t snippet_len; /* 0..LIMIT_SNIPPET_BYTES */
} wire_doc;

/* wire_fetch_reply - body of FETCH_REPLY. */
typedef struct wire_fetch_reply {
	uint16_t status;         /* trawl_err for the whole request */
	uint32_t ndocs;          /* 0..TRAWL_MAX_K, in the order asked for */
	const wire_doc *docs;    /* ndocs documents; NULL when decoded */
	const uint8_t *docs_raw; /* decoded: the ndocs records inside the message */
	size_t docs_raw_len;     /* decoded: their total size in bytes */
	const char *errmsg;      /* not NUL-terminated */
	uint32_t errmsg_len;     /* 0..LIMIT_ERRMSG_BYTES */
} wire_fetch_reply;

/* wire_pong - body of PONG. PING has no body. */
typedef struct wire_pong {
	uint64_t generation;               /* generation the leaf serves */
	uint32_t queue_depth;              /* requests waiting at the leaf */
	uint16_t nshards;                  /* 0..TRAWL_MAX_SHARDS */
	uint16_t shards[TRAWL_MAX_SHARDS]; /* shards the leaf serves (< 256, distinct) */
	uint8_t ready;                     /* 1: accepting searches; 0: loading or draining */
} wire_pong;

/* wire_cancel - body of CANCEL. */
typedef struct wire_cancel {
	uint64_t target_request_id; /* request_id of the request to give up */
} wire_cancel;

/* wire_get - body of GET: u16 shard, u16 reserved (0), u32 id_len, id. */
typedef struct wire_get {
	uint16_t shard;  /* the shard the id routes to (< 256) */
	const char *id;  /* not NUL-terminated */
	uint32_t id_len; /* 1..LIMIT_ID_BYTES */
} wire_get;

/* wire_schema_reply - body of SCHEMA_REPLY. SCHEMA has no body: its
 * header's generation names the generation asked for (0: the one the leaf
 * serves), and the reply's header names the one answered for. */
typedef struct wire_schema_reply {
	uint16_t status;     /* trawl_err; TRAWL_OK with the schema */
	const char *schema;  /* the generation's schema, canonical JSON
	                        (trawl_index_schema); not NUL-terminated */
	uint32_t schema_len; /* 0..LIMIT_SCHEMA_JSON_BYTES */
	const char *errmsg;  /* detail of a nonzero status; not NUL-terminated */
	uint32_t errmsg_len; /* 0..LIMIT_ERRMSG_BYTES */
} wire_schema_reply;

/* wire_files_reply - body of FILES_REPLY. FILES has no body: its header's
 * generation names the generation asked for (0: the live one), and the
 * reply's header names the one answered for. */
typedef struct wire_files_reply {
	uint16_t status;       /* trawl_err; TRAWL_OK with the manifest */
	const char *manifest;  /* MANIFEST.json's exact bytes; not NUL-terminated */
	uint32_t manifest_len; /* 0..LIMIT_MANIFEST_BYTES */
	const char *sum;       /* MANIFEST.xxh3's exact bytes */
	uint8_t sum_len;       /* 0..WIRE_MANIFEST_SUM_BYTES */
	const char *errmsg;    /* detail of a nonzero status; not NUL-terminated */
	uint32_t errmsg_len;   /* 0..LIMIT_ERRMSG_BYTES */
} wire_files_reply;

/* wire_file_read - body of FILE_READ: max_len bytes from offset of the file
 * name of the generation the header names (not 0). The name is one a
 * manifest could list: 1..LIMIT_GEN_FILE_NAME_BYTES bytes, no '/', no NUL,
 * not starting with '.' (so never "..": the decoders refuse any other); the
 * server still answers only for a name the generation's manifest lists. */
typedef struct wire_file_read {
	uint64_t offset;
	uint32_t max_len; /* 1..LIMIT_FILE_READ_BYTES */
	const char *name; /* not NUL-terminated */
	uint8_t name_len; /* 1..LIMIT_GEN_FILE_NAME_BYTES */
} wire_file_read;

/* wire_file_read_reply - body of FILE_READ_REPLY: the bytes read (fewer
 * than asked for at the end of the file; none at or past it). */
typedef struct wire_file_read_reply {
	uint16_t status;     /* trawl_err; TRAWL_OK with the bytes */
	uint64_t size;       /* the file's whole size */
	const uint8_t *data; /* the bytes from the offset asked for */
	uint32_t data_len;   /* 0..LIMIT_FILE_READ_BYTES */
	const char *errmsg;  /* detail of a nonzero status; not NUL-terminated */
	uint32_t errmsg_len; /* 0..LIMIT_ERRMSG_BYTES */
} wire_file_read_reply;

/* wire_msg - any decoded message (see wire_decode). */
typedef struct wire_msg {
	wire_header h;
	union {
		wire_search search;
		wire_search_reply search_reply;
		wire_fetch fetch;
		wire_fetch_reply fetch_reply;
		wire_pong pong;
		wire_cancel cancel;
		wire_get get;
		wire_schema_reply schema_reply;
		wire_files_reply files_reply;
		wire_file_read file_read;
		wire_file_read_reply file_read_reply;
	} u; /* the member named by h.type; nothing for PING, SCHEMA and FILES */
} wire_msg;

/* wire_doc_iter - a cursor over the documents of a FETCH_REPLY. */
typedef struct wire_doc_iter {
	const wire_fetch_reply *r;
	const uint8_t *p; /* next record in r->docs_raw */
	uint32_t i;       /* documents returned so far */
} wire_doc_iter;

/* ---- names and headers ---- */

/* wire_type_name returns "SEARCH", "FETCH_REPLY"... for type, or "unknown"
 * (static strings, never NULL). */
const char *wire_type_name(int type);

/*
 * wire_deadline is the deadline a leaf holds a request to, at now_us (both
 * in microseconds since the epoch): the one asked for, but at most
 * LIMIT_TIMEOUT_MS from now, and LIMIT_LEAF_DEADLINE_MS from now when
 * none was asked for (0). Every request runs to a deadline (issue #13,
 * finding 4: four requests for k 10,000 of *:* with none held a leaf's
 * workers for as long as they took).
 */
uint64_t wire_deadline(uint64_t asked_us, uint64_t now_us);

/*
 * wire_header_decode checks and decodes the header of the len-byte message
 * at buf into *h, without looking at the body: len must be 32..
 * LIMIT_MESSAGE_BYTES, the magic, version and type known and the reserved field
 * 0. Use it to dispatch on h->type, or call wire_decode. Errors: TRAWL_EINVAL
 * with a message in err, as for every decoder.
 */
int wire_header_decode(const void *buf, size_t len, wire_header *h, char *err, size_t errlen);

/* wire_type_known: 1 for a type this build decodes (1-10, 19-22). */
int wire_type_known(int type);

/*
 * wire_decode decodes a whole message of any type: the header into m->h and
 * the body into the member of m->u that m->h.type names. Same contract as
 * the wire_decode_* functions below (pointers into buf, TRAWL_EINVAL).
 */
int wire_decode(const void *buf, size_t len, wire_msg *m, char *err, size_t errlen);

/*
 * wire_encode appends the message m->h.type names, with the body from the
 * matching member of m->u (nothing for PING and SCHEMA). Same contract as the
 * wire_encode_* functions; TRAWL_EINVAL for an unknown type.
 */
int wire_encode(tbuf *out, const wire_msg *m);

/* ---- SEARCH ---- */

/* wire_encode_search appends a SEARCH message to out (see Conventions). */
int wire_encode_search(tbuf *out, const wire_header *h, const wire_search *s);

/* wire_decode_search decodes a SEARCH message; s->tree points into buf. */
int wire_decode_search(const void *buf, size_t len, wire_header *h, wire_search *s, char *err,
                       size_t errlen);

/* ---- SEARCH_REPLY ---- */

/* wire_encode_search_reply appends a SEARCH_REPLY message (hits from r->hits,
 * or r->hits_raw when r->hits is NULL). */
int wire_encode_search_reply(tbuf *out, const wire_header *h, const wire_search_reply *r);

/* wire_decode_search_reply decodes a SEARCH_REPLY message; r->hits_raw and
 * r->errmsg point into buf. Every hit is checked here. */
int wire_decode_search_reply(const void *buf, size_t len, wire_header *h, wire_search_reply *r,
                             char *err, size_t errlen);

/*
 * wire_search_reply_hit copies hit i of r into *out: from r->hits if set,
 * else from r->hits_raw (a decoded reply; buf must still be valid). Returns
 * TRAWL_OK, or TRAWL_EINVAL if i >= r->nhits or r has no hits to read.
 */
int wire_search_reply_hit(const wire_search_reply *r, uint32_t i, wire_hit *out);

/*
 * wire_search_reply_ids points ids[i] and lens[i] (arrays of r->nhits
 * entries, the caller's) at the external id of each hit: from r->ids if
 * set, else inside r->ids_raw (a decoded reply; buf must still be valid, and
 * the ids are not NUL-terminated). Returns TRAWL_OK, or TRAWL_ENOTFOUND when
 * r carries no ids (its header had no WIRE_F_IDS).
 */
int wire_search_reply_ids(const wire_search_reply *r, const char **ids, uint32_t *lens);

/*
 * wire_search_reply_sorts fills out[0..nhits) with the hits' sort values
 * (json pointing into the reply) when r carries them (WIRE_F_SORT), and
 * returns TRAWL_OK; TRAWL_EINVAL if it carries none.
 */
int wire_search_reply_sorts(const wire_search_reply *r, wire_sortval *out);

/* ---- FETCH ---- */

/* wire_encode_fetch appends a FETCH message (references from f->docs, or
 * f->docs_raw when f->docs is NULL). */
int wire_encode_fetch(tbuf *out, const wire_header *h, const wire_fetch *f);

/* wire_decode_fetch decodes a FETCH message; f->docs_raw and the strings
 * point into buf. */
int wire_decode_fetch(const void *buf, size_t len, wire_header *h, wire_fetch *f, char *err,
                      size_t errlen);

/* wire_fetch_docref copies reference i of f into *out, from f->docs if set,
 * else from f->docs_raw. TRAWL_OK, or TRAWL_EINVAL if i >= f->ndocs. */
int wire_fetch_docref(const wire_fetch *f, uint32_t i, wire_docref *out);

/* ---- FETCH_REPLY ---- */

/* wire_encode_fetch_reply appends a FETCH_REPLY message (documents from
 * r->docs, or r->docs_raw when r->docs is NULL). */
int wire_encode_fetch_reply(tbuf *out, const wire_header *h, const wire_fetch_reply *r);

/* wire_decode_fetch_reply decodes a FETCH_REPLY message; every document
 * record is checked here; r->docs_raw and r->errmsg point into buf. */
int wire_decode_fetch_reply(const void *buf, size_t len, wire_header *h, wire_fetch_reply *r,
                            char *err, size_t errlen);

/*
 * wire_doc_iter_init positions it before the first document of r, and
 * wire_doc_iter_next fills *out with the next one and returns 1, or returns 0
 * after the last. Documents come from r->docs if set, else from r->docs_raw
 * (records are variable-length, hence a cursor rather than an index); r must
 * then come from a successful wire_decode_fetch_reply and its buffer still be
 * valid, and out's strings point into that buffer.
 */
void wire_doc_iter_init(wire_doc_iter *it, const wire_fetch_reply *r);
int wire_doc_iter_next(wire_doc_iter *it, wire_doc *out);

/* ---- PING, PONG, CANCEL ---- */

/* wire_encode_ping appends a PING message (a header alone). */
int wire_encode_ping(tbuf *out, const wire_header *h);

/* wire_decode_ping decodes a PING message, which has an empty body. */
int wire_decode_ping(const void *buf, size_t len, wire_header *h, char *err, size_t errlen);

/* wire_encode_pong appends a PONG message. */
int wire_encode_pong(tbuf *out, const wire_header *h, const wire_pong *p);

/* wire_decode_pong decodes a PONG message. */
int wire_decode_pong(const void *buf, size_t len, wire_header *h, wire_pong *p, char *err,
                     size_t errlen);

/* wire_encode_cancel appends a CANCEL message. */
int wire_encode_cancel(tbuf *out, const wire_header *h, const wire_cancel *c);

/* wire_decode_cancel decodes a CANCEL message. */
int wire_decode_cancel(const void *buf, size_t len, wire_header *h, wire_cancel *c, char *err,
                       size_t errlen);

/* ---- GET ---- */

/* wire_encode_get appends a GET message. */
int wire_encode_get(tbuf *out, const wire_header *h, const wire_get *g);

/* wire_decode_get decodes a GET message; g->id points into buf. */
int wire_decode_get(const void *buf, size_t len, wire_header *h, wire_get *g, char *err,
                    size_t errlen);

/* ---- SCHEMA, SCHEMA_REPLY ---- */

/* wire_encode_schema appends a SCHEMA message (a header alone: its
 * generation is the one asked for, 0 for the leaf's current one). */
int wire_encode_schema(tbuf *out, const wire_header *h);

/* wire_decode_schema decodes a SCHEMA message, which has an empty body. */
int wire_decode_schema(const void *buf, size_t len, wire_header *h, char *err, size_t errlen);

/* wire_encode_schema_reply appends a SCHEMA_REPLY message. */
int wire_encode_schema_reply(tbuf *out, const wire_header *h, const wire_schema_reply *r);

/* wire_decode_schema_reply decodes a SCHEMA_REPLY message; r->schema and
 * r->errmsg point into buf. The schema's bytes are not checked here (the
 * receiver parses them as JSON). */
int wire_decode_schema_reply(const void *buf, size_t len, wire_header *h, wire_schema_reply *r,
                             char *err, size_t errlen);

/* ---- FILES, FILES_REPLY, FILE_READ, FILE_READ_REPLY ---- */

/* A generation's files, for a leaf that pulls generations over the network
 * (leaf/pull.c) from a leaf or indexer that has them (leaf/fileserve.c). */

/* wire_encode_files appends a FILES message (a header alone: its
 * generation is the one asked for, 0 for the live one). */
int wire_encode_files(tbuf *out, const wire_header *h);

/* wire_decode_files decodes a FILES message, which has an empty body. */
int wire_decode_files(const void *buf, size_t len, wire_header *h, char *err, size_t errlen);

/* wire_encode_files_reply appends a FILES_REPLY message. */
int wire_encode_files_reply(tbuf *out, const wire_header *h, const wire_files_reply *r);

/* wire_decode_files_reply decodes a FILES_REPLY message; r->manifest,
 * r->sum and r->errmsg point into buf. Their bytes are not checked here
 * (the puller checks the manifest against its checksum, and parses it). */
int wire_decode_files_reply(const void *buf, size_t len, wire_header *h, wire_files_reply *r,
                            char *err, size_t errlen);

/* wire_encode_file_read appends a FILE_READ message (TRAWL_EINVAL for a
 * name no manifest could list). */
int wire_encode_file_read(tbuf *out, const wire_header *h, const wire_file_read *f);

/* wire_decode_file_read decodes a FILE_READ message; f->name points into
 * buf, and is a name a manifest could list. */
int wire_decode_file_read(const void *buf, size_t len, wire_header *h, wire_file_read *f, char *err,
                          size_t errlen);

/* wire_encode_file_read_reply appends a FILE_READ_REPLY message. */
int wire_encode_file_read_reply(tbuf *out, const wire_header *h, const wire_file_read_reply *r);

/* wire_decode_file_read_reply decodes a FILE_READ_REPLY message; r->data
 * and r->errmsg point into buf. */
int wire_decode_file_read_reply(const void *buf, size_t len, wire_header *h,
                                wire_file_read_reply *r, char *err, size_t errlen);

#endif
