/*
 * wmsg.c - the write messages between roots and an indexer (wmsg.h;
 * docs/WIRE.md, "Write messages"). Encoders check every length against its
 * limit before writing; decoders check each length against what is left
 * before reading, and refuse a message with bytes after its last field, so
 * that whatever a peer sends is a request the indexer understands or a
 * refusal. Strings come back as pointers into the message; error types and
 * results as trawl's own static strings.
 */
#include "common/wmsg.h"

#include <stdlib.h>
#include <string.h>

#include "common/byteorder.h"
#include "common/limits.h"

/* The flags of one write. */
#define WF_DOC_AS_UPSERT 0x01u
#define WF_KEEP_NOOP 0x02u
#define WF_DOC 0x04u
#define WF_UPSERT 0x08u

/* results, by their code (0: none, an error) */
static const char *const results[] = {NULL, "created", "updated", "deleted", "not_found", "noop"};

/* error types a write's outcome may carry; another comes back as the last */
static const char *const error_types[] = {"action_request_validation_exception",
                                          "document_missing_exception",
                                          "es_rejected_execution_exception",
                                          "illegal_argument_exception",
                                          "index_not_found_exception",
                                          "mapper_parsing_exception",
                                          "rejected_execution_exception",
                                          "version_conflict_engine_exception",
                                          "write_log_full_exception",
                                          "exception"};

/* ---- encoding ---- */

typedef struct enc {
	tbuf *out;
	int rc;
} enc;

static void put(enc *e, const void *p, size_t n)
{
	if (!e->rc && n && tbuf_append(e->out, p, n))
		e->rc = TRAWL_ENOMEM;
}

static void put8(enc *e, uint8_t v)
{
	put(e, &v, 1);
}

static void put16(enc *e, uint16_t v)
{
	uint8_t b[2];
	le_put16(b, v);
	put(e, b, 2);
}

static void put32(enc *e, uint32_t v)
{
	uint8_t b[4];
	le_put32(b, v);
	put(e, b, 4);
}

static void put64(enc *e, uint64_t v)
{
	uint8_t b[8];
	le_put64(b, v);
	put(e, b, 8);
}

static void begin(enc *e, tbuf *out, uint8_t type)
{
	e->out = out;
	e->rc = TRAWL_OK;
	put16(e, WMSG_MAGIC);
	put8(e, WMSG_VERSION);
	put8(e, type);
}

/* A string of at most max bytes with a 1-, 2- or 4-byte length. */
static void putstr(enc *e, int lenbytes, const char *s, size_t n, size_t max)
{
	if (n > max) {
		e->rc = e->rc ? e->rc : TRAWL_ELIMIT;
		return;
	}
	if (lenbytes == 1)
		put8(e, (uint8_t)n);
	else if (lenbytes == 2)
		put16(e, (uint16_t)n);
	else
		put32(e, (uint32_t)n);
	put(e, s, n);
}

static int end(enc *e)
{
	if (!e->rc && e->out->len > LIMIT_MESSAGE_BYTES)
		e->rc = TRAWL_ELIMIT;
	return e->rc;
}

int wmsg_write(tbuf *out, const trawl_write *w, uint32_t n)
{
	if (n < 1 || n > LIMIT_WLOG_APPEND_OPS)
		return TRAWL_ELIMIT;
	enc e;
	begin(&e, out, WMSG_WRITE);
	put32(&e, n);
	for (uint32_t i = 0; i < n; i++) {
		const trawl_write *x = &w[i];
		uint8_t f = (x->doc_as_upsert ? WF_DOC_AS_UPSERT : 0) |
		            (x->keep_noop ? WF_KEEP_NOOP : 0) | (x->doc ? WF_DOC : 0) |
		            (x->upsert ? WF_UPSERT : 0);
		put8(&e, (uint8_t)x->act);
		put8(&e, f);
		put64(&e, (uint64_t)x->if_seq_no);
		put64(&e, (uint64_t)x->if_primary_term);
		putstr(&e, 2, x->id, x->id ? x->idlen : 0, LIMIT_ID_BYTES);
		if (x->doc)
			putstr(&e, 4, x->doc, x->doclen, LIMIT_STORED_DOC_BYTES);
		if (x->upsert)
			putstr(&e, 4, x->upsert, x->upsertlen, LIMIT_STORED_DOC_BYTES);
	}
	return end(&e);
}

int wmsg_get(tbuf *out, const char *id, uint32_t idlen)
{
	enc e;
	begin(&e, out, WMSG_GET);
	putstr(&e, 2, id, idlen, LIMIT_ID_BYTES);
	return end(&e);
}

int wmsg_refresh(tbuf *out, uint64_t seq, uint32_t timeout_ms)
{
	enc e;
	begin(&e, out, WMSG_REFRESH);
	put64(&e, seq);
	put32(&e, timeout_ms);
	return end(&e);
}

int wmsg_stats(tbuf *out)
{
	enc e;
	begin(&e, out, WMSG_STATS);
	return end(&e);
}

/* A reply's start: the call's status and message. */
static void reply_head(enc *e, tbuf *out, uint8_t type, int status, const char *msg)
{
	begin(e, out, type);
	put16(e, (uint16_t)status);
	size_t n = msg ? strlen(msg) : 0;
	putstr(e, 4, msg, n < LIMIT_ERRMSG_BYTES ? n : LIMIT_ERRMSG_BYTES - 1, LIMIT_ERRMSG_BYTES);
}

int wmsg_error_reply(tbuf *out, uint8_t type, int status, const char *msg)
{
	enc e;
	reply_head(&e, out, type, status ? status : TRAWL_EINTERNAL, msg);
	return end(&e);
}

static uint8_t code_of(const char *s, const char *const *table, size_t n)
{
	for (size_t i = 1; s && i < n; i++)
		if (table[i] && !strcmp(table[i], s))
			return (uint8_t)i;
	return 0;
}

int wmsg_write_reply(tbuf *out, const trawl_write_result *r, uint32_t n)
{
	enc e;
	reply_head(&e, out, WMSG_WRITE_REPLY, TRAWL_OK, NULL);
	put32(&e, n);
	for (uint32_t i = 0; i < n; i++) {
		const trawl_write_result *x = &r[i];
		put16(&e, (uint16_t)x->status);
		put8(&e, code_of(x->result, results, sizeof results / sizeof *results));
		putstr(&e, 2, x->id, x->idlen, LIMIT_ID_BYTES);
		put64(&e, x->version);
		put64(&e, x->seq_no);
		put64(&e, x->primary_term);
		const char *t = x->error_type ? x->error_type : "";
		putstr(&e, 1, t, strlen(t), 255);
		size_t rl = strnlen(x->reason, sizeof x->reason);
		putstr(&e, 2, x->reason, rl, sizeof x->reason - 1);
	}
	return end(&e);
}

int wmsg_get_reply(tbuf *out, const trawl_doc_state *s)
{
	enc e;
	reply_head(&e, out, WMSG_GET_REPLY, TRAWL_OK, NULL);
	put8(&e, s->exists ? 1 : 0);
	put64(&e, s->version);
	put64(&e, s->seq_no);
	put8(&e, s->doc ? 1 : 0);
	if (s->doc)
		putstr(&e, 4, s->doc, s->doclen, LIMIT_STORED_DOC_BYTES);
	return end(&e);
}

int wmsg_refresh_reply(tbuf *out, uint64_t generation)
{
	enc e;
	reply_head(&e, out, WMSG_REFRESH_REPLY, TRAWL_OK, NULL);
	put64(&e, generation);
	return end(&e);
}

/* The figures of a STATS_REPLY, in order: each a u64 (doubles by their
 * bits). A reader takes as many as it knows and both sides send their
 * count, so that one appended later is read by new roots and skipped by
 * old ones. */
typedef struct stat_field {
	size_t off;
	int kind; /* 0 u64, 1 double, 2 u32 */
} stat_field;

#define SF(f, k)                                                                                   \
	{                                                                                          \
		offsetof(trawl_indexer_stats, f), k                                                \
	}
static const stat_field stat_fields[] = {
    SF(generation, 0),
    SF(applied_seq, 0),
    SF(acked_seq, 0),
    SF(log_ops, 0),
    SF(log_bytes, 0),
    SF(generations, 0),
    SF(ops_applied, 0),
    SF(failures, 0),
    SF(apply_seconds, 1),
    SF(last_apply_seconds, 1),
    SF(merges, 0),
    SF(merged_docs, 0),
    SF(merge_seconds, 1),
    SF(writes, 0),
    SF(segments, 0),
    SF(max_shard_segments, 2),
    SF(refresh_le[0], 0),
    SF(refresh_le[1], 0),
    SF(refresh_le[2], 0),
    SF(refresh_le[3], 0),
    SF(refresh_le[4], 0),
    SF(refresh_le[5], 0),
    SF(refresh_le[6], 0),
    SF(refresh_le[7], 0),
    SF(refresh_count, 0),
    SF(refresh_sum, 1),
    SF(docs, 0),
    SF(added, 0),
    SF(replaced, 0),
    SF(deleted, 0),
    SF(segments_written, 0),
    SF(rejected, 0),
    SF(flooded, 0),
    SF(merged_bytes, 0), /* figures are appended: a reader takes those it knows */
};
#define NSTAT (sizeof stat_fields / sizeof *stat_fields)

int wmsg_stats_reply(tbuf *out, const trawl_indexer_stats *st)
{
	enc e;
	reply_head(&e, out, WMSG_STATS_REPLY, TRAWL_OK, NULL);
	put32(&e, (uint32_t)NSTAT);
	for (size_t i = 0; i < NSTAT; i++) {
		const char *p = (const char *)st + stat_fields[i].off;
		uint64_t v;
		if (stat_fields[i].kind == 1) {
			double d;
			memcpy(&d, p, sizeof d);
			memcpy(&v, &d, sizeof v);
		} else if (stat_fields[i].kind == 2) {
			uint32_t u;
			memcpy(&u, p, sizeof u);
			v = u;
		} else {
			memcpy(&v, p, sizeof v);
		}
		put64(&e, v);
	}
	return end(&e);
}

/* ---- decoding ---- */

typedef struct dec {
	const uint8_t *p, *end;
	const char *why;
} dec;

static int need(dec *d, size_t n, const char *what)
{
	if (d->why)
		return 0;
	if ((size_t)(d->end - d->p) < n) {
		d->why = what;
		return 0;
	}
	return 1;
}

static uint8_t get8(dec *d, const char *what)
{
	if (!need(d, 1, what))
		return 0;
	return *d->p++;
}

static uint16_t get16(dec *d, const char *what)
{
	if (!need(d, 2, what))
		return 0;
	uint16_t v = (uint16_t)(d->p[0] | d->p[1] << 8);
	d->p += 2;
	return v;
}

static uint32_t get32(dec *d, const char *what)
{
	if (!need(d, 4, what))
		return 0;
	uint32_t v = le_get32(d->p);
	d->p += 4;
	return v;
}

static uint64_t get64(dec *d, const char *what)
{
	if (!need(d, 8, what))
		return 0;
	uint64_t v = le_get64(d->p);
	d->p += 8;
	return v;
}

/* A string with a lenbytes length of at most max bytes. */
static const char *getstr(dec *d, int lenbytes, size_t max, uint32_t *len, const char *what)
{
	uint32_t n = lenbytes == 1   ? get8(d, what)
	             : lenbytes == 2 ? get16(d, what)
	                             : get32(d, what);
	*len = 0;
	if (d->why)
		return NULL;
	if (n > max) {
		d->why = what;
		return NULL;
	}
	if (!need(d, n, what))
		return NULL;
	const char *s = (const char *)d->p;
	d->p += n;
	*len = n;
	return s;
}

/* The preamble: magic, version, type. */
static uint8_t preamble(dec *d, const uint8_t *b, size_t len)
{
	d->p = b;
	d->end = b + len;
	d->why = NULL;
	if (len > LIMIT_MESSAGE_BYTES) {
		d->why = "a write message over the message limit";
		return 0;
	}
	uint16_t magic = get16(d, "a message shorter than its preamble");
	uint8_t version = get8(d, "a message shorter than its preamble");
	uint8_t type = get8(d, "a message shorter than its preamble");
	if (!d->why && magic != WMSG_MAGIC)
		d->why = "not a write message (bad magic)";
	else if (!d->why && version != WMSG_VERSION)
		d->why = "a write message of another version";
	return type;
}

static int done(dec *d, const char **why)
{
	if (!d->why && d->p != d->end)
		d->why = "bytes after the message's last field";
	*why = d->why;
	return d->why ? TRAWL_ECORRUPT : TRAWL_OK;
}

static void write_in(dec *d, trawl_write *x)
{
	memset(x, 0, sizeof *x);
	uint8_t act = get8(d, "a write cut short");
	uint8_t f = get8(d, "a write cut short");
	x->if_seq_no = (int64_t)get64(d, "a write cut short");
	x->if_primary_term = (int64_t)get64(d, "a write cut short");
	x->id = getstr(d, 2, LIMIT_ID_BYTES, &x->idlen, "a write's id over its limit or cut short");
	if (!x->idlen)
		x->id = NULL;
	if (f & WF_DOC)
		x->doc = getstr(d, 4, LIMIT_STORED_DOC_BYTES, &x->doclen,
		                "a write's document over its limit or cut short");
	if (f & WF_UPSERT)
		x->upsert = getstr(d, 4, LIMIT_STORED_DOC_BYTES, &x->upsertlen,
		                   "a write's upsert over its limit or cut short");
	if (!d->why && (act < TRAWL_WRITE_INDEX || act > TRAWL_WRITE_DELETE))
		d->why = "a write with an unknown action";
	if (!d->why && (f & ~(WF_DOC_AS_UPSERT | WF_KEEP_NOOP | WF_DOC | WF_UPSERT)))
		d->why = "a write with unknown flags";
	x->act = (trawl_write_action)act;
	x->doc_as_upsert = (f & WF_DOC_AS_UPSERT) != 0;
	x->keep_noop = (f & WF_KEEP_NOOP) != 0;
}

int wmsg_request_decode(const uint8_t *b, size_t len, wmsg_request *out, const char **why)
{
	memset(out, 0, sizeof *out);
	dec d;
	out->type = preamble(&d, b, len);
	switch (d.why ? 0 : out->type) {
	case 0:
		break;
	case WMSG_WRITE:
		out->n = get32(&d, "a write request cut short");
		if (!d.why && (out->n < 1 || out->n > LIMIT_WLOG_APPEND_OPS))
			d.why = "a write request with no writes or over the limit";
		/* each write is at least 20 bytes: a count the bytes cannot hold is
		 * refused before anything is allocated for it */
		if (!d.why && out->n > (size_t)(d.end - d.p) / 20)
			d.why = "a write request shorter than its count of writes";
		if (!d.why && !(out->writes = calloc(out->n, sizeof *out->writes)))
			return TRAWL_ENOMEM;
		for (uint32_t i = 0; !d.why && i < out->n; i++)
			write_in(&d, &out->writes[i]);
		break;
	case WMSG_GET:
		out->id = getstr(&d, 2, LIMIT_ID_BYTES, &out->idlen, "a get's id over its limit");
		if (!d.why && !out->idlen)
			d.why = "a get without an id";
		break;
	case WMSG_REFRESH:
		out->seq = get64(&d, "a refresh cut short");
		out->timeout_ms = get32(&d, "a refresh cut short");
		break;
	case WMSG_STATS:
		break;
	default:
		d.why = "an unknown write message type";
	}
	int rc = done(&d, why);
	if (rc)
		wmsg_request_fini(out);
	return rc;
}

void wmsg_request_fini(wmsg_request *r)
{
	free(r->writes);
	r->writes = NULL;
	r->n = 0;
}

static void result_in(dec *d, trawl_write_result *x)
{
	memset(x, 0, sizeof *x);
	x->status = get16(d, "a result cut short");
	uint8_t rc = get8(d, "a result cut short");
	uint32_t n;
	const char *id = getstr(d, 2, LIMIT_ID_BYTES, &n, "a result's id over its limit");
	if (id) {
		memcpy(x->id, id, n);
		x->idlen = n;
	}
	x->version = get64(d, "a result cut short");
	x->seq_no = get64(d, "a result cut short");
	x->primary_term = get64(d, "a result cut short");
	uint32_t tl;
	const char *t = getstr(d, 1, 255, &tl, "a result's error type cut short");
	uint32_t rl;
	const char *r = getstr(d, 2, sizeof x->reason - 1, &rl, "a result's reason over its limit");
	if (d->why)
		return;
	if (rc >= sizeof results / sizeof *results) {
		d->why = "a result with an unknown outcome";
		return;
	}
	x->result = results[rc];
	if (r)
		memcpy(x->reason, r, rl);
	x->reason[rl] = 0;
	x->error_type = NULL;
	if (tl) {
		size_t nt = sizeof error_types / sizeof *error_types;
		x->error_type = error_types[nt - 1];
		for (size_t i = 0; i < nt; i++)
			if (strlen(error_types[i]) == tl && !memcmp(error_types[i], t, tl))
				x->error_type = error_types[i];
	}
	if (!x->result && !x->error_type)
		x->error_type = error_types[sizeof error_types / sizeof *error_types - 1];
}

int wmsg_reply_decode(const uint8_t *b, size_t len, uint8_t expect, wmsg_reply *out,
                      const char **why)
{
	memset(out, 0, sizeof *out);
	dec d;
	out->type = preamble(&d, b, len);
	if (!d.why && out->type != expect)
		d.why = "a reply of another type than the request's";
	out->status = get16(&d, "a reply cut short");
	out->errmsg = getstr(&d, 4, LIMIT_ERRMSG_BYTES, &out->errmsg_len, "a reply's message");
	if (!d.why && out->status) /* a failure as a whole: nothing follows */
		return done(&d, why);
	switch (d.why ? 0 : out->type) {
	case 0:
		break;
	case WMSG_WRITE_REPLY:
		out->n = get32(&d, "a write reply cut short");
		if (!d.why &&
		    (out->n > LIMIT_WLOG_APPEND_OPS || out->n > (size_t)(d.end - d.p) / 32))
			d.why = "a write reply with more results than it can hold";
		if (!d.why && out->n && !(out->results = calloc(out->n, sizeof *out->results)))
			return TRAWL_ENOMEM;
		for (uint32_t i = 0; !d.why && i < out->n; i++)
			result_in(&d, &out->results[i]);
		break;
	case WMSG_GET_REPLY: {
		out->state.exists = get8(&d, "a get reply cut short");
		out->state.version = get64(&d, "a get reply cut short");
		out->state.seq_no = get64(&d, "a get reply cut short");
		uint8_t has = get8(&d, "a get reply cut short");
		uint32_t n = 0;
		if (has)
			out->state.doc = (char *)getstr(&d, 4, LIMIT_STORED_DOC_BYTES, &n,
			                                "a get reply's document over its limit");
		out->state.doclen = n;
		break;
	}
	case WMSG_REFRESH_REPLY:
		out->generation = get64(&d, "a refresh reply cut short");
		break;
	case WMSG_STATS_REPLY: {
		uint32_t n = get32(&d, "a stats reply cut short");
		if (!d.why && n > (size_t)(d.end - d.p) / 8)
			d.why = "a stats reply shorter than its count";
		for (uint32_t i = 0; !d.why && i < n; i++) {
			uint64_t v = get64(&d, "a stats reply cut short");
			if (i >= NSTAT)
				continue; /* a figure this root does not know */
			char *p = (char *)&out->stats + stat_fields[i].off;
			if (stat_fields[i].kind == 2) {
				uint32_t u = (uint32_t)v;
				memcpy(p, &u, sizeof u);
			} else {
				memcpy(p, &v, sizeof v);
			}
		}
		break;
	}
	default:
		d.why = "an unknown write reply type";
	}
	int rc = done(&d, why);
	if (rc)
		wmsg_reply_fini(out);
	return rc;
}

void wmsg_reply_fini(wmsg_reply *r)
{
	free(r->results);
	r->results = NULL;
	r->n = 0;
}
