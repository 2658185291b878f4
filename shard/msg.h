/*
 * msg.h - the build messages between a builder and its `trawl build-worker`
 * processes (msg.c; docs/WIRE.md, "Build messages"): encoders, and
 * decoders that check every length against the message before reading and
 * borrow the message's bytes. Both ends decode what the other sent, so both
 * decoders take any bytes (tests/fuzz/fuzz_build.c).
 */
#ifndef TRAWL_SHARD_MSG_H
#define TRAWL_SHARD_MSG_H

#include "sh.h"

/* Requests (worker -> builder), by their first byte. */
enum {
	SH_MSG_NEXT = 'N', /* next item, please */
	SH_MSG_DONE = 'D', /* u64 item, the run's bytes: done; next item, please */
	SH_MSG_BEAT = 'B', /* u64 item: still working on it */
	SH_MSG_FAIL = 'F', /* u64 item, i32 trawl_err, message: it failed */
};

/* Replies (builder -> worker). */
enum {
	SH_MSG_ITEM = 'I',    /* a work item (sh_itemmsg) */
	SH_MSG_WAIT = 'W',    /* none yet: ask again */
	SH_MSG_OVER = 'O',    /* the build is over (or failed): exit */
	SH_MSG_NOTED = 'K',   /* noted */
	SH_MSG_REFUSED = 'X', /* the request (or the run in it) was refused: drop it
	                         and ask for the next item */
};

#define SH_MSG_FAIL_TEXT 1023 /* bytes of a failure's message kept */

/* A decoded request; run and text point into the message. */
typedef struct sh_request {
	int type; /* SH_MSG_NEXT, DONE, BEAT or FAIL */
	uint64_t item;
	const uint8_t *run; /* DONE: the run's bytes (not checked here: sh_run_check) */
	size_t run_len;
	int32_t code;     /* FAIL: a trawl_err, 1..TRAWL_EINTERNAL */
	const char *text; /* FAIL: the message, at most SH_MSG_FAIL_TEXT bytes, not
	                     NUL-terminated, not trusted */
	size_t text_len;
} sh_request;

/*
 * sh_request_decode decodes the len bytes at b. TRAWL_OK, or TRAWL_ECORRUPT
 * with why (a static string): empty, an unknown type, a length that does
 * not fit its type, a failure code out of range.
 */
int sh_request_decode(const uint8_t *b, size_t len, sh_request *out, const char **why);

/* An 'I' reply, decoded: the item and the build parameters it travels with
 * (every pointer into the message; source and schema are not NUL-terminated). */
typedef struct sh_itemmsg {
	sh_item it; /* it.source is NULL: see source */
	const char *source;
	size_t source_len;
	const char *schema_json;
	size_t schema_len;
	uint32_t nshards, max_doc;
	int skip_bad;
	const uint8_t *zdict;
	size_t zdict_len;
	uint64_t params_hash;
} sh_itemmsg;

/* sh_itemmsg_encode appends the 'I' reply for it under p to out. */
int sh_itemmsg_encode(tbuf *out, const sh_item *it, const sh_params *p);

/*
 * sh_itemmsg_decode decodes an 'I' reply (its first byte included).
 * TRAWL_OK, or TRAWL_ECORRUPT: short, a length past the end, a shard count,
 * document limit or dictionary out of range.
 */
int sh_itemmsg_decode(const uint8_t *b, size_t len, sh_itemmsg *out);

#endif
