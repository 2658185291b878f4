/*
 * fuzz_wire.c - fuzz target for the root-leaf wire format (common/wire.c).
 *
 * Every byte a leaf or the root decodes comes from another process, possibly
 * a different build or a stray client, so the decoders must survive any
 * bytes. Each input is decoded as it is (through the header and through the
 * dispatching decoder) and then once as every message type, with the type
 * byte patched, so that every body decoder sees every input. The input is
 * copied into a buffer of exactly its size, so ASan catches any overread.
 *
 * Besides crashes and sanitizer reports, the target checks what a decoder
 * promises: a failure is TRAWL_EINVAL with a terminated, non-empty message;
 * the type decoder and the dispatcher agree; every hit and document can be
 * read through the accessors and points inside the input; the query tree of
 * a SEARCH or FETCH that decodes is one that qt_decode accepts (the wire
 * checked it through); and since the encoding is canonical, a message that
 * decodes re-encodes to exactly the input bytes, which decode again to the
 * same message. FILE_READ's name, once decoded, never leaves the
 * generation's directory (no '/', no NUL, no leading '.').
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/qtree.h"
#include "common/wire.h"
#include "trawl/trawl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_wire: %s\n", what);
		abort();
	}
}

/* inside: [p, p+n) lies within [buf, buf+len) (n = 0 with p NULL allowed). */
static int inside(const void *p, size_t n, const uint8_t *buf, size_t len)
{
	const uint8_t *q = p;
	if (n == 0)
		return 1;
	return q && q >= buf && q <= buf + len && n <= (size_t)(buf + len - q);
}

static int same_bytes(const char *a, uint32_t alen, const char *b, uint32_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static int decode_as(int type, const uint8_t *buf, size_t len, wire_msg *m, char *err,
                     size_t errlen)
{
	switch (type) {
	case WIRE_SEARCH:
		return wire_decode_search(buf, len, &m->h, &m->u.search, err, errlen);
	case WIRE_SEARCH_REPLY:
		return wire_decode_search_reply(buf, len, &m->h, &m->u.search_reply, err, errlen);
	case WIRE_FETCH:
		return wire_decode_fetch(buf, len, &m->h, &m->u.fetch, err, errlen);
	case WIRE_FETCH_REPLY:
		return wire_decode_fetch_reply(buf, len, &m->h, &m->u.fetch_reply, err, errlen);
	case WIRE_PING:
		return wire_decode_ping(buf, len, &m->h, err, errlen);
	case WIRE_PONG:
		return wire_decode_pong(buf, len, &m->h, &m->u.pong, err, errlen);
	case WIRE_CANCEL:
		return wire_decode_cancel(buf, len, &m->h, &m->u.cancel, err, errlen);
	case WIRE_GET:
		return wire_decode_get(buf, len, &m->h, &m->u.get, err, errlen);
	case WIRE_SCHEMA:
		return wire_decode_schema(buf, len, &m->h, err, errlen);
	case WIRE_FILES:
		return wire_decode_files(buf, len, &m->h, err, errlen);
	case WIRE_FILES_REPLY:
		return wire_decode_files_reply(buf, len, &m->h, &m->u.files_reply, err, errlen);
	case WIRE_FILE_READ:
		return wire_decode_file_read(buf, len, &m->h, &m->u.file_read, err, errlen);
	case WIRE_FILE_READ_REPLY:
		return wire_decode_file_read_reply(buf, len, &m->h, &m->u.file_read_reply, err,
		                                   errlen);
	default:
		return wire_decode_schema_reply(buf, len, &m->h, &m->u.schema_reply, err, errlen);
	}
}

/* tree_ok: a query tree the wire let through decodes, and keeps every rule. */
static void tree_ok(const uint8_t *tree, uint32_t len)
{
	qt_node *t = NULL;
	char err[256];
	check(qt_decode(tree, len, &t, err, sizeof err) == TRAWL_OK,
	      "the wire let a bad tree through");
	check(qt_check(t, err, sizeof err) == TRAWL_OK, "a decoded tree breaks a rule");
	qt_free(t);
}

/* walk reads every variable-length record of m (decoded from buf) through the
 * accessors and checks that it lies inside buf and within its limits. */
static void walk(const wire_msg *m, const uint8_t *buf, size_t len)
{
	switch (m->h.type) {
	case WIRE_SEARCH: {
		const wire_search *s = &m->u.search;
		check(s->k >= 1 && s->k <= TRAWL_MAX_K, "k");
		check(s->nshards >= 1 && s->nshards <= TRAWL_MAX_SHARDS, "nshards");
		check(s->tree_len >= 1 && inside(s->tree, s->tree_len, buf, len), "tree");
		tree_ok(s->tree, s->tree_len);
		break;
	}
	case WIRE_SEARCH_REPLY: {
		const wire_search_reply *r = &m->u.search_reply;
		check(r->hits == NULL && r->nhits <= TRAWL_MAX_K, "nhits");
		check(inside(r->hits_raw, (size_t)r->nhits * WIRE_HIT_BYTES, buf, len), "hits_raw");
		for (uint32_t i = 0; i < r->nhits; i++) {
			wire_hit h;
			check(wire_search_reply_hit(r, i, &h) == TRAWL_OK, "hit accessor");
			check(h.shard < TRAWL_MAX_SHARDS, "hit shard");
			check(h.score == h.score, "hit score NaN");
		}
		wire_hit h;
		check(wire_search_reply_hit(r, r->nhits, &h) == TRAWL_EINVAL, "hit past the end");
		check(inside(r->errmsg, r->errmsg_len, buf, len), "errmsg");
		if (m->h.flags & WIRE_F_IDS) {
			static const char *ids[TRAWL_MAX_K];
			static uint32_t lens[TRAWL_MAX_K];
			check(inside(r->ids_raw, r->ids_raw_len, buf, len), "ids_raw");
			check(wire_search_reply_ids(r, ids, lens) == TRAWL_OK, "ids accessor");
			for (uint32_t i = 0; i < r->nhits; i++)
				check(lens[i] <= LIMIT_ID_BYTES &&
				          inside(ids[i], lens[i], buf, len),
				      "id");
		} else {
			check(r->ids_raw == NULL, "ids without WIRE_F_IDS");
		}
		break;
	}
	case WIRE_FETCH: {
		const wire_fetch *f = &m->u.fetch;
		check(f->docs == NULL && f->ndocs >= 1 && f->ndocs <= TRAWL_MAX_K, "ndocs");
		for (uint32_t i = 0; i < f->ndocs; i++) {
			wire_docref d;
			check(wire_fetch_docref(f, i, &d) == TRAWL_OK, "docref accessor");
			check(d.shard < TRAWL_MAX_SHARDS, "docref shard");
		}
		wire_docref d;
		check(wire_fetch_docref(f, f->ndocs, &d) == TRAWL_EINVAL, "docref past the end");
		check(inside(f->tree, f->tree_len, buf, len) &&
		          inside(f->field, f->field_len, buf, len) &&
		          inside(f->pre, f->pre_len, buf, len) &&
		          inside(f->post, f->post_len, buf, len),
		      "fetch strings");
		if (f->tree_len)
			tree_ok(f->tree, f->tree_len);
		break;
	}
	case WIRE_FETCH_REPLY: {
		const wire_fetch_reply *r = &m->u.fetch_reply;
		check(r->docs == NULL && r->ndocs <= TRAWL_MAX_K, "ndocs");
		check(inside(r->docs_raw, r->docs_raw_len, buf, len), "docs_raw");
		wire_doc_iter it;
		wire_doc d;
		uint32_t n = 0;
		wire_doc_iter_init(&it, r);
		while (wire_doc_iter_next(&it, &d)) {
			check(d.shard < TRAWL_MAX_SHARDS, "doc shard");
			check(d.id_len <= LIMIT_ID_BYTES && d.json_len <= LIMIT_STORED_DOC_BYTES &&
			          d.snippet_len <= LIMIT_SNIPPET_BYTES,
			      "doc lengths");
			check(inside(d.id, d.id_len, r->docs_raw, r->docs_raw_len) &&
			          inside(d.json, d.json_len, r->docs_raw, r->docs_raw_len) &&
			          inside(d.snippet, d.snippet_len, r->docs_raw, r->docs_raw_len),
			      "doc strings");
			n++;
		}
		check(n == r->ndocs, "iterator count");
		check(wire_doc_iter_next(&it, &d) == 0, "iterator past the end");
		check(inside(r->errmsg, r->errmsg_len, buf, len), "errmsg");
		break;
	}
	case WIRE_PONG:
		check(m->u.pong.nshards <= TRAWL_MAX_SHARDS && m->u.pong.ready <= 1, "pong");
		break;
	case WIRE_GET:
		check(m->u.get.shard < TRAWL_MAX_SHARDS && m->u.get.id_len >= 1 &&
		          m->u.get.id_len <= LIMIT_ID_BYTES &&
		          inside(m->u.get.id, m->u.get.id_len, buf, len),
		      "get");
		break;
	case WIRE_SCHEMA_REPLY: {
		const wire_schema_reply *r = &m->u.schema_reply;
		check(r->schema_len <= LIMIT_SCHEMA_JSON_BYTES &&
		          inside(r->schema, r->schema_len, buf, len) &&
		          r->errmsg_len <= LIMIT_ERRMSG_BYTES &&
		          inside(r->errmsg, r->errmsg_len, buf, len),
		      "schema reply");
		break;
	}
	case WIRE_FILES_REPLY: {
		const wire_files_reply *r = &m->u.files_reply;
		check(r->manifest_len <= LIMIT_MANIFEST_BYTES &&
		          inside(r->manifest, r->manifest_len, buf, len) &&
		          r->sum_len <= WIRE_MANIFEST_SUM_BYTES &&
		          inside(r->sum, r->sum_len, buf, len) &&
		          r->errmsg_len <= LIMIT_ERRMSG_BYTES &&
		          inside(r->errmsg, r->errmsg_len, buf, len),
		      "files reply");
		break;
	}
	case WIRE_FILE_READ: {
		const wire_file_read *f = &m->u.file_read;
		check(f->max_len >= 1 && f->max_len <= LIMIT_FILE_READ_BYTES && f->name_len >= 1 &&
		          f->name_len <= LIMIT_GEN_FILE_NAME_BYTES &&
		          inside(f->name, f->name_len, buf, len),
		      "file read");
		/* never a name that leaves the generation's directory */
		check(f->name[0] != '.' && !memchr(f->name, '/', f->name_len) &&
		          !memchr(f->name, 0, f->name_len),
		      "file read name");
		break;
	}
	case WIRE_FILE_READ_REPLY: {
		const wire_file_read_reply *r = &m->u.file_read_reply;
		check(r->data_len <= LIMIT_FILE_READ_BYTES &&
		          inside(r->data, r->data_len, buf, len) &&
		          r->errmsg_len <= LIMIT_ERRMSG_BYTES &&
		          inside(r->errmsg, r->errmsg_len, buf, len),
		      "file read reply");
		break;
	}
	}
}

/* same_msg: a and b (decoded from different buffers) hold the same message. */
static int same_msg(const wire_msg *a, const wire_msg *b)
{
	if (a->h.type != b->h.type || a->h.flags != b->h.flags ||
	    a->h.request_id != b->h.request_id || a->h.deadline_unix_us != b->h.deadline_unix_us ||
	    a->h.generation != b->h.generation)
		return 0;
	switch (a->h.type) {
	case WIRE_SEARCH: {
		const wire_search *x = &a->u.search, *y = &b->u.search;
		return x->k == y->k && x->nshards == y->nshards &&
		       memcmp(x->shards, y->shards, x->nshards * sizeof x->shards[0]) == 0 &&
		       same_bytes((const char *)x->tree, x->tree_len, (const char *)y->tree,
		                  y->tree_len);
	}
	case WIRE_SEARCH_REPLY: {
		const wire_search_reply *x = &a->u.search_reply, *y = &b->u.search_reply;
		if (x->status != y->status || x->total_relation != y->total_relation ||
		    x->total != y->total || x->docs_searched != y->docs_searched ||
		    x->queue_depth != y->queue_depth || x->shards_answered != y->shards_answered ||
		    x->nhits != y->nhits ||
		    !same_bytes(x->errmsg, x->errmsg_len, y->errmsg, y->errmsg_len))
			return 0;
		for (uint32_t i = 0; i < x->nhits; i++) {
			wire_hit hx, hy;
			wire_search_reply_hit(x, i, &hx);
			wire_search_reply_hit(y, i, &hy);
			if (memcmp(&hx.score, &hy.score, sizeof hx.score) != 0 ||
			    hx.shard != hy.shard || hx.doc != hy.doc || hx.hash != hy.hash)
				return 0;
		}
		return 1;
	}
	case WIRE_FETCH: {
		const wire_fetch *x = &a->u.fetch, *y = &b->u.fetch;
		if (x->ndocs != y->ndocs || x->snippet_chars != y->snippet_chars ||
		    !same_bytes((const char *)x->tree, x->tree_len, (const char *)y->tree,
		                y->tree_len) ||
		    !same_bytes(x->field, x->field_len, y->field, y->field_len) ||
		    !same_bytes(x->pre, x->pre_len, y->pre, y->pre_len) ||
		    !same_bytes(x->post, x->post_len, y->post, y->post_len))
			return 0;
		for (uint32_t i = 0; i < x->ndocs; i++) {
			wire_docref dx, dy;
			wire_fetch_docref(x, i, &dx);
			wire_fetch_docref(y, i, &dy);
			if (dx.shard != dy.shard || dx.doc != dy.doc)
				return 0;
		}
		return 1;
	}
	case WIRE_FETCH_REPLY: {
		const wire_fetch_reply *x = &a->u.fetch_reply, *y = &b->u.fetch_reply;
		if (x->status != y->status || x->ndocs != y->ndocs ||
		    !same_bytes(x->errmsg, x->errmsg_len, y->errmsg, y->errmsg_len))
			return 0;
		wire_doc_iter ix, iy;
		wire_doc dx, dy;
		wire_doc_iter_init(&ix, x);
		wire_doc_iter_init(&iy, y);
		while (wire_doc_iter_next(&ix, &dx)) {
			if (!wire_doc_iter_next(&iy, &dy) || dx.shard != dy.shard ||
			    dx.status != dy.status || dx.doc != dy.doc ||
			    !same_bytes(dx.id, dx.id_len, dy.id, dy.id_len) ||
			    !same_bytes(dx.json, dx.json_len, dy.json, dy.json_len) ||
			    !same_bytes(dx.snippet, dx.snippet_len, dy.snippet, dy.snippet_len))
				return 0;
		}
		return wire_doc_iter_next(&iy, &dy) == 0;
	}
	case WIRE_PING:
		return 1;
	case WIRE_PONG: {
		const wire_pong *x = &a->u.pong, *y = &b->u.pong;
		return x->generation == y->generation && x->queue_depth == y->queue_depth &&
		       x->nshards == y->nshards && x->ready == y->ready &&
		       memcmp(x->shards, y->shards, x->nshards * sizeof x->shards[0]) == 0;
	}
	case WIRE_CANCEL:
		return a->u.cancel.target_request_id == b->u.cancel.target_request_id;
	case WIRE_GET:
		return a->u.get.shard == b->u.get.shard &&
		       same_bytes(a->u.get.id, a->u.get.id_len, b->u.get.id, b->u.get.id_len);
	case WIRE_SCHEMA:
		return 1;
	case WIRE_SCHEMA_REPLY: {
		const wire_schema_reply *x = &a->u.schema_reply, *y = &b->u.schema_reply;
		return x->status == y->status &&
		       same_bytes(x->schema, x->schema_len, y->schema, y->schema_len) &&
		       same_bytes(x->errmsg, x->errmsg_len, y->errmsg, y->errmsg_len);
	}
	case WIRE_FILES:
		return 1;
	case WIRE_FILES_REPLY: {
		const wire_files_reply *x = &a->u.files_reply, *y = &b->u.files_reply;
		return x->status == y->status &&
		       same_bytes(x->manifest, x->manifest_len, y->manifest, y->manifest_len) &&
		       same_bytes(x->sum, x->sum_len, y->sum, y->sum_len) &&
		       same_bytes(x->errmsg, x->errmsg_len, y->errmsg, y->errmsg_len);
	}
	case WIRE_FILE_READ: {
		const wire_file_read *x = &a->u.file_read, *y = &b->u.file_read;
		return x->offset == y->offset && x->max_len == y->max_len &&
		       same_bytes(x->name, x->name_len, y->name, y->name_len);
	}
	case WIRE_FILE_READ_REPLY: {
		const wire_file_read_reply *x = &a->u.file_read_reply, *y = &b->u.file_read_reply;
		return x->status == y->status && x->size == y->size &&
		       same_bytes((const char *)x->data, x->data_len, (const char *)y->data,
		                  y->data_len) &&
		       same_bytes(x->errmsg, x->errmsg_len, y->errmsg, y->errmsg_len);
	}
	}
	return 0;
}

/* decoded: m came from buf; walk it, re-encode it and decode that again. */
static void decoded(const wire_msg *m, const uint8_t *buf, size_t len)
{
	walk(m, buf, len);
	tbuf out;
	tbuf_init(&out, LIMIT_MESSAGE_BYTES);
	check(wire_encode(&out, m) == TRAWL_OK, "a decoded message does not encode");
	check(out.len == len && memcmp(out.data, buf, len) == 0,
	      "re-encoding gives different bytes");
	wire_msg again;
	char err[256];
	check(wire_decode(out.data, out.len, &again, err, sizeof err) == TRAWL_OK,
	      "a re-encoded message does not decode");
	check(same_msg(m, &again), "re-decoded message differs");
	tbuf_fini(&out);
}

/* one decodes buf (len bytes, its own allocation) with the decoder of type. */
static void one(int type, const uint8_t *buf, size_t len, size_t errlen)
{
	char err[256], err2[256];
	wire_msg m, m2;
	memset(err, 'x', sizeof err);
	int rc = decode_as(type, buf, len, &m, errlen ? err : NULL, errlen);
	int rc2 = wire_decode(buf, len, &m2, err2, sizeof err2);
	int matches = len >= 4 && buf[3] == type;
	if (rc != TRAWL_OK) {
		check(rc == TRAWL_EINVAL, "unexpected error code");
		if (errlen) {
			check(memchr(err, '\0', errlen) != NULL, "err not terminated");
			check(errlen < 2 || err[0] != '\0', "no message");
		}
		if (matches)
			check(rc2 == TRAWL_EINVAL, "type decoder fails, dispatcher does not");
		return;
	}
	check(matches, "decoded a message of another type");
	check(rc2 == TRAWL_OK && same_msg(&m, &m2), "dispatcher disagrees");
	decoded(&m, buf, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1);
	check(buf != NULL, "out of memory");
	if (size)
		memcpy(buf, data, size);

	/* As it is: the header alone, then the whole message. */
	wire_header h;
	char err[64];
	int hrc = wire_header_decode(buf, size, &h, err, sizeof err);
	wire_msg m;
	int rc = wire_decode(buf, size, &m, err, sizeof err);
	if (hrc != TRAWL_OK)
		check(rc == TRAWL_EINVAL && hrc == TRAWL_EINVAL, "header refused, message not");
	if (rc == TRAWL_OK)
		decoded(&m, buf, size);

	/* As every type, with the type byte patched. */
	for (int type = WIRE_SEARCH; type <= WIRE_FILE_READ_REPLY; type++) {
		if (!wire_type_known(type))
			continue;
		if (size >= 4)
			buf[3] = (uint8_t)type;
		one(type, buf, size, type == WIRE_SEARCH ? size % 24 : 256);
	}
	free(buf);
	return 0;
}
