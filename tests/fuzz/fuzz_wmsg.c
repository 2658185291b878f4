/*
 * fuzz_wmsg.c - fuzz target for the write messages between roots and an
 * indexer (common/wmsg.c): the indexer decodes what any peer on its port
 * sends, and a root what the indexer answers.
 *
 * Each input is decoded as a request and as a reply of every type, from a
 * copy of exactly its size (ASan catches an overread). What the decoders
 * promise is checked: a failure is TRAWL_ECORRUPT (or ENOMEM) with a reason;
 * a request or a reply that decodes re-encodes to bytes that decode again
 * to the same message (writes, ids, documents, outcomes and figures).
 *
 * Corpus (tests/fuzz/corpus/wmsg): one message of every type, as the
 * encoders write them, and a few damaged ones.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/limits.h"
#include "common/wmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_wmsg: %s\n", what);
		abort();
	}
}

static int same(const void *a, size_t na, const void *b, size_t nb)
{
	return na == nb && (!na || !memcmp(a, b, na));
}

static void request(const uint8_t *p, size_t n)
{
	wmsg_request q, q2;
	const char *why;
	int rc = wmsg_request_decode(p, n, &q, &why);
	if (rc) {
		check(rc == TRAWL_ECORRUPT || rc == TRAWL_ENOMEM,
		      "a request refused with another code");
		check(rc == TRAWL_ENOMEM || (why && *why), "a request refused without a reason");
		return;
	}
	tbuf b;
	tbuf_init(&b, LIMIT_MESSAGE_BYTES);
	int erc = q.type == WMSG_WRITE     ? wmsg_write(&b, q.writes, q.n)
	          : q.type == WMSG_GET     ? wmsg_get(&b, q.id, q.idlen)
	          : q.type == WMSG_REFRESH ? wmsg_refresh(&b, q.seq, q.timeout_ms)
	                                   : wmsg_stats(&b);
	check(erc == TRAWL_OK, "a decoded request does not encode");
	check(wmsg_request_decode(b.data, b.len, &q2, &why) == TRAWL_OK, "a re-encoded request "
	                                                                 "does not decode");
	check(q2.type == q.type && q2.n == q.n && q2.seq == q.seq && q2.timeout_ms == q.timeout_ms,
	      "a request changed in its round trip");
	check(same(q.id, q.idlen, q2.id, q2.idlen), "an id changed in its round trip");
	for (uint32_t i = 0; i < q.n; i++) {
		const trawl_write *a = &q.writes[i], *x = &q2.writes[i];
		check(a->act == x->act && same(a->id, a->idlen, x->id, x->idlen) &&
		          same(a->doc, a->doclen, x->doc, x->doclen) && !a->doc == !x->doc &&
		          same(a->upsert, a->upsertlen, x->upsert, x->upsertlen) &&
		          !a->upsert == !x->upsert && a->doc_as_upsert == x->doc_as_upsert &&
		          a->keep_noop == x->keep_noop && a->if_seq_no == x->if_seq_no &&
		          a->if_primary_term == x->if_primary_term,
		      "a write changed in its round trip");
	}
	wmsg_request_fini(&q2);
	wmsg_request_fini(&q);
	tbuf_fini(&b);
}

static void reply(const uint8_t *p, size_t n, uint8_t type)
{
	wmsg_reply r, r2;
	const char *why;
	int rc = wmsg_reply_decode(p, n, type, &r, &why);
	if (rc) {
		check(rc == TRAWL_ECORRUPT || rc == TRAWL_ENOMEM,
		      "a reply refused with another code");
		return;
	}
	if (r.status) {
		wmsg_reply_fini(&r);
		return;
	}
	tbuf b;
	tbuf_init(&b, LIMIT_MESSAGE_BYTES);
	int erc = type == WMSG_WRITE_REPLY     ? wmsg_write_reply(&b, r.results, r.n)
	          : type == WMSG_GET_REPLY     ? wmsg_get_reply(&b, &r.state)
	          : type == WMSG_REFRESH_REPLY ? wmsg_refresh_reply(&b, r.generation)
	                                       : wmsg_stats_reply(&b, &r.stats);
	check(erc == TRAWL_OK, "a decoded reply does not encode");
	check(wmsg_reply_decode(b.data, b.len, type, &r2, &why) == TRAWL_OK,
	      "a re-encoded reply does not decode");
	check(r2.n == r.n && r2.generation == r.generation && r2.state.exists == r.state.exists &&
	          r2.state.version == r.state.version &&
	          same(r.state.doc, r.state.doclen, r2.state.doc, r2.state.doclen) &&
	          !memcmp(&r.stats, &r2.stats, sizeof r.stats),
	      "a reply changed in its round trip");
	for (uint32_t i = 0; i < r.n; i++) {
		const trawl_write_result *a = &r.results[i], *x = &r2.results[i];
		check(a->status == x->status && a->result == x->result &&
		          a->error_type == x->error_type &&
		          same(a->id, a->idlen, x->id, x->idlen) && a->version == x->version &&
		          a->seq_no == x->seq_no && !strcmp(a->reason, x->reason),
		      "an outcome changed in its round trip");
	}
	wmsg_reply_fini(&r2);
	wmsg_reply_fini(&r);
	tbuf_fini(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *p = malloc(size ? size : 1);
	if (!p)
		return 0;
	memcpy(p, data, size);
	request(p, size);
	for (uint8_t t = WMSG_WRITE_REPLY; t <= WMSG_STATS_REPLY; t += 2)
		reply(p, size, t);
	free(p);
	return 0;
}
