/*
 * wmsg.h - the write messages between a cluster's roots and an index's
 * indexer (`trawl indexer DIR --listen URL`, issue #12 item 5): a root takes
 * a write over HTTP, sends it here, and answers with what the indexer
 * decided; a realtime GET, a refresh and the indexer's figures for /metrics
 * go the same way. Its own small protocol (docs/WIRE.md, "Write messages")
 * over nng REQ/REP (common/rpc.h), never met by a leaf: a 4-byte preamble
 * (magic 0x5857, "WX", version, type), then little-endian fields. Every
 * length is checked against what is left and against its limit before it
 * is read; a decoded message's strings point into its bytes.
 */
#ifndef TRAWL_COMMON_WMSG_H
#define TRAWL_COMMON_WMSG_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "trawl/trawl.h"

#define WMSG_MAGIC 0x5857u /* "WX" little-endian: never a wire.h message's 0x5457 */
#define WMSG_VERSION 1

enum wmsg_type {
	WMSG_WRITE = 1,         /* root -> indexer: writes decided in order, durable on reply */
	WMSG_WRITE_REPLY = 2,   /* each write's outcome */
	WMSG_GET = 3,           /* root -> indexer: a document's realtime state */
	WMSG_GET_REPLY = 4,     /* exists, version, seq_no, the document */
	WMSG_REFRESH = 5,       /* root -> indexer: wait until seq is in a published generation */
	WMSG_REFRESH_REPLY = 6, /* the generation */
	WMSG_STATS = 7,         /* root -> indexer: its figures */
	WMSG_STATS_REPLY = 8,
};

/* A decoded request. */
typedef struct wmsg_request {
	uint8_t type;
	uint32_t n;          /* WRITE: writes (1..LIMIT_WLOG_APPEND_OPS) */
	trawl_write *writes; /* WRITE: n, malloc'ed (wmsg_request_fini); strings point
	                        into the message */
	const char *id;      /* GET */
	uint32_t idlen;
	uint64_t seq;        /* REFRESH: 0: everything acknowledged */
	uint32_t timeout_ms; /* REFRESH */
} wmsg_request;

/* A decoded reply. status is a trawl_err of the call as a whole (then
 * errmsg says why and nothing else is set). */
typedef struct wmsg_reply {
	uint8_t type;
	uint16_t status;
	const char *errmsg;
	uint32_t errmsg_len;
	uint32_t n;                  /* WRITE_REPLY */
	trawl_write_result *results; /* WRITE_REPLY: n, malloc'ed (wmsg_reply_fini) */
	trawl_doc_state state;       /* GET_REPLY: doc points into the message */
	uint64_t generation;         /* REFRESH_REPLY */
	trawl_indexer_stats stats;   /* STATS_REPLY */
} wmsg_reply;

/* Encoders append one message to out: TRAWL_OK, TRAWL_ENOMEM, or
 * TRAWL_ELIMIT / TRAWL_EINVAL for what does not fit a limit. */
int wmsg_write(tbuf *out, const trawl_write *w, uint32_t n);
int wmsg_get(tbuf *out, const char *id, uint32_t idlen);
int wmsg_refresh(tbuf *out, uint64_t seq, uint32_t timeout_ms);
int wmsg_stats(tbuf *out);
int wmsg_write_reply(tbuf *out, const trawl_write_result *r, uint32_t n);
int wmsg_get_reply(tbuf *out, const trawl_doc_state *s);
int wmsg_refresh_reply(tbuf *out, uint64_t generation);
int wmsg_stats_reply(tbuf *out, const trawl_indexer_stats *st);
/* wmsg_error_reply: any request's failure as a whole (status a trawl_err). */
int wmsg_error_reply(tbuf *out, uint8_t type, int status, const char *msg);

/* Decoders: TRAWL_OK, TRAWL_ENOMEM, or TRAWL_ECORRUPT with *why (static
 * text) for bytes that are not such a message. Error types and results in
 * a WRITE_REPLY come back as the static strings trawl uses ("created",
 * "version_conflict_engine_exception"; an unknown type as "exception"). */
int wmsg_request_decode(const uint8_t *b, size_t len, wmsg_request *out, const char **why);
void wmsg_request_fini(wmsg_request *r);
int wmsg_reply_decode(const uint8_t *b, size_t len, uint8_t expect, wmsg_reply *out,
                      const char **why);
void wmsg_reply_fini(wmsg_reply *r);

#endif
