/*
 * wmsg_test.c - the write messages between roots and an indexer
 * (common/wmsg.h): random writes, results, documents and figures round-trip
 * exactly; every message cut at every length and changed at every byte is
 * refused or read, never read past its end (ASan watches); counts that the
 * bytes cannot hold are refused before anything is allocated; encoders
 * refuse what is over a limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/limits.h"
#include "common/wmsg.h"

static uint64_t rng = 88172645463325252ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* A random string of at most max bytes, any byte value, into buf. */
static uint32_t rnd_bytes(char *buf, uint32_t max)
{
	uint32_t n = (uint32_t)(next() % (max + 1));
	for (uint32_t i = 0; i < n; i++)
		buf[i] = (char)next();
	return n;
}

typedef struct store {
	char ids[64][LIMIT_ID_BYTES];
	char docs[64][300];
	char ups[64][300];
} store;

static void random_writes(store *s, trawl_write *w, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		memset(&w[i], 0, sizeof w[i]);
		w[i].act = (trawl_write_action)(TRAWL_WRITE_INDEX + next() % 4);
		w[i].idlen = rnd_bytes(s->ids[i], i % 7 ? 40 : LIMIT_ID_BYTES);
		w[i].id = w[i].idlen ? s->ids[i] : NULL;
		if (next() % 4) {
			w[i].doclen = rnd_bytes(s->docs[i], 300);
			w[i].doc = s->docs[i];
		}
		if (next() % 3 == 0) {
			w[i].upsertlen = rnd_bytes(s->ups[i], 300);
			w[i].upsert = s->ups[i];
		}
		w[i].doc_as_upsert = (int)(next() % 2);
		w[i].keep_noop = (int)(next() % 2);
		w[i].if_seq_no = next() % 3 ? -1 : (int64_t)(next() % 100000);
		w[i].if_primary_term = next() % 3 ? -1 : 1;
	}
}

static void same_write(const trawl_write *a, const trawl_write *b)
{
	assert_int_equal(a->act, b->act);
	assert_int_equal(a->idlen, b->idlen);
	assert_true(!a->idlen || !memcmp(a->id, b->id, a->idlen));
	assert_int_equal(!a->doc, !b->doc);
	assert_int_equal(a->doclen, b->doclen);
	assert_true(!a->doclen || !memcmp(a->doc, b->doc, a->doclen));
	assert_int_equal(!a->upsert, !b->upsert);
	assert_int_equal(a->upsertlen, b->upsertlen);
	assert_true(!a->upsertlen || !memcmp(a->upsert, b->upsert, a->upsertlen));
	assert_int_equal(a->doc_as_upsert, b->doc_as_upsert);
	assert_int_equal(a->keep_noop, b->keep_noop);
	assert_int_equal(a->if_seq_no, b->if_seq_no);
	assert_int_equal(a->if_primary_term, b->if_primary_term);
}

static void test_write_round_trip(void **state)
{
	(void)state;
	static store s;
	trawl_write w[64];
	for (int round = 0; round < 300; round++) {
		uint32_t n = 1 + (uint32_t)(next() % 64);
		random_writes(&s, w, n);
		tbuf b;
		tbuf_init(&b, LIMIT_MESSAGE_BYTES);
		assert_int_equal(wmsg_write(&b, w, n), TRAWL_OK);
		wmsg_request r;
		const char *why;
		assert_int_equal(wmsg_request_decode(b.data, b.len, &r, &why), TRAWL_OK);
		assert_int_equal(r.type, WMSG_WRITE);
		assert_int_equal(r.n, n);
		for (uint32_t i = 0; i < n; i++)
			same_write(&w[i], &r.writes[i]);
		wmsg_request_fini(&r);
		tbuf_fini(&b);
	}
}

static const char *const results[] = {"created", "updated", "deleted", "not_found", "noop", NULL};
static const char *const types[] = {"version_conflict_engine_exception", "mapper_parsing_exception",
                                    "document_missing_exception", "something_new_exception"};

static void test_reply_round_trip(void **state)
{
	(void)state;
	static trawl_write_result r[50];
	for (int round = 0; round < 200; round++) {
		uint32_t n = (uint32_t)(next() % 50);
		for (uint32_t i = 0; i < n; i++) {
			memset(&r[i], 0, sizeof r[i]);
			r[i].status = 200 + (int)(next() % 400);
			r[i].result = results[next() % 6];
			r[i].idlen = rnd_bytes(r[i].id, 60);
			r[i].version = next();
			r[i].seq_no = next();
			r[i].primary_term = 1;
			if (!r[i].result) {
				r[i].error_type = types[next() % 4];
				uint32_t rl = rnd_bytes(r[i].reason, sizeof r[i].reason - 1);
				r[i].reason[rl] = 0;
				for (uint32_t k = 0; k < rl; k++)
					r[i].reason[k] = r[i].reason[k] ? r[i].reason[k] : 'x';
			}
		}
		tbuf b;
		tbuf_init(&b, LIMIT_MESSAGE_BYTES);
		assert_int_equal(wmsg_write_reply(&b, r, n), TRAWL_OK);
		wmsg_reply o;
		const char *why;
		assert_int_equal(wmsg_reply_decode(b.data, b.len, WMSG_WRITE_REPLY, &o, &why),
		                 TRAWL_OK);
		assert_int_equal(o.n, n);
		for (uint32_t i = 0; i < n; i++) {
			const trawl_write_result *a = &r[i], *x = &o.results[i];
			assert_int_equal(a->status, x->status);
			assert_int_equal(!a->result, !x->result);
			if (a->result)
				assert_string_equal(a->result, x->result);
			assert_int_equal(a->idlen, x->idlen);
			assert_memory_equal(a->id, x->id, a->idlen);
			assert_int_equal(a->version, x->version);
			assert_int_equal(a->seq_no, x->seq_no);
			if (!a->result) {
				/* a type the root does not know reads as "exception" */
				assert_string_equal(x->error_type, strcmp(a->error_type, types[3])
				                                       ? a->error_type
				                                       : "exception");
				assert_string_equal(a->reason, x->reason);
			}
		}
		wmsg_reply_fini(&o);
		tbuf_fini(&b);
	}
}

static void test_small_messages(void **state)
{
	(void)state;
	tbuf b;
	tbuf_init(&b, LIMIT_MESSAGE_BYTES);
	wmsg_request q;
	wmsg_reply o;
	const char *why;
	/* get, refresh, stats and their replies */
	assert_int_equal(wmsg_get(&b, "doc-1", 5), TRAWL_OK);
	assert_int_equal(wmsg_request_decode(b.data, b.len, &q, &why), TRAWL_OK);
	assert_int_equal(q.type, WMSG_GET);
	assert_int_equal(q.idlen, 5);
	assert_memory_equal(q.id, "doc-1", 5);
	b.len = 0;
	assert_int_equal(wmsg_refresh(&b, 77, 1500), TRAWL_OK);
	assert_int_equal(wmsg_request_decode(b.data, b.len, &q, &why), TRAWL_OK);
	assert_int_equal(q.seq, 77);
	assert_int_equal(q.timeout_ms, 1500);
	b.len = 0;
	trawl_doc_state st = {1, 3, 9, (char *)"{\"a\":1}", 7};
	assert_int_equal(wmsg_get_reply(&b, &st), TRAWL_OK);
	assert_int_equal(wmsg_reply_decode(b.data, b.len, WMSG_GET_REPLY, &o, &why), TRAWL_OK);
	assert_int_equal(o.state.exists, 1);
	assert_int_equal(o.state.version, 3);
	assert_int_equal(o.state.seq_no, 9);
	assert_int_equal(o.state.doclen, 7);
	assert_memory_equal(o.state.doc, "{\"a\":1}", 7);
	/* the wrong reply type is refused */
	assert_int_equal(wmsg_reply_decode(b.data, b.len, WMSG_WRITE_REPLY, &o, &why),
	                 TRAWL_ECORRUPT);
	b.len = 0;
	trawl_indexer_stats s1, s2;
	memset(&s1, 0, sizeof s1);
	s1.generation = 5;
	s1.apply_seconds = 1.25;
	s1.max_shard_segments = 7;
	s1.refresh_le[7] = 11;
	s1.segments_written = 99;
	assert_int_equal(wmsg_stats_reply(&b, &s1), TRAWL_OK);
	assert_int_equal(wmsg_reply_decode(b.data, b.len, WMSG_STATS_REPLY, &o, &why), TRAWL_OK);
	s2 = o.stats;
	assert_int_equal(s2.generation, 5);
	assert_true(s2.apply_seconds == 1.25);
	assert_int_equal(s2.max_shard_segments, 7);
	assert_int_equal(s2.refresh_le[7], 11);
	assert_int_equal(s2.segments_written, 99);
	/* a failure as a whole */
	b.len = 0;
	assert_int_equal(wmsg_error_reply(&b, WMSG_REFRESH_REPLY, TRAWL_EBUSY, "not yet"),
	                 TRAWL_OK);
	assert_int_equal(wmsg_reply_decode(b.data, b.len, WMSG_REFRESH_REPLY, &o, &why), TRAWL_OK);
	assert_int_equal(o.status, TRAWL_EBUSY);
	assert_int_equal(o.errmsg_len, 7);
	/* limits on the way out */
	b.len = 0;
	char big[LIMIT_ID_BYTES + 1];
	memset(big, 'a', sizeof big);
	assert_int_equal(wmsg_get(&b, big, sizeof big), TRAWL_ELIMIT);
	trawl_write w = {TRAWL_WRITE_DELETE, "x", 1, NULL, 0, NULL, 0, 0, 0, -1, -1};
	assert_int_equal(wmsg_write(&b, &w, 0), TRAWL_ELIMIT);
	/* a count the bytes cannot hold: refused before any allocation */
	b.len = 0;
	assert_int_equal(wmsg_write(&b, &w, 1), TRAWL_OK);
	((uint8_t *)b.data)[4] = 0xff;
	((uint8_t *)b.data)[5] = 0xff;
	assert_int_equal(wmsg_request_decode(b.data, b.len, &q, &why), TRAWL_ECORRUPT);
	/* a wire.h message is not a write message */
	static const uint8_t tw[8] = {0x57, 0x54, 2, 1, 0, 0, 0, 0};
	assert_int_equal(wmsg_request_decode(tw, sizeof tw, &q, &why), TRAWL_ECORRUPT);
	assert_non_null(strstr(why, "magic"));
	tbuf_fini(&b);
}

/* Every prefix and every single-byte change of a few messages: decoded or
 * refused, nothing read past the end (ASan), nothing leaked. */
static void test_damage(void **state)
{
	(void)state;
	static store s;
	trawl_write w[5];
	random_writes(&s, w, 5);
	tbuf msgs[3];
	for (int i = 0; i < 3; i++)
		tbuf_init(&msgs[i], LIMIT_MESSAGE_BYTES);
	assert_int_equal(wmsg_write(&msgs[0], w, 5), TRAWL_OK);
	trawl_write_result r[2] = {
	    {201, "created", "a", 1, 1, 1, 1, NULL, ""},
	    {409, NULL, "b", 1, 2, 0, 1, "version_conflict_engine_exception", "conflict"}};
	assert_int_equal(wmsg_write_reply(&msgs[1], r, 2), TRAWL_OK);
	trawl_indexer_stats st;
	memset(&st, 0, sizeof st);
	assert_int_equal(wmsg_stats_reply(&msgs[2], &st), TRAWL_OK);
	static const uint8_t expect[3] = {0, WMSG_WRITE_REPLY, WMSG_STATS_REPLY};
	for (int m = 0; m < 3; m++) {
		uint8_t *copy = malloc(msgs[m].len);
		for (size_t cut = 0; cut <= msgs[m].len; cut++) {
			/* a copy of exactly cut bytes, so that ASan sees a read past it */
			uint8_t *p = malloc(cut ? cut : 1);
			memcpy(p, msgs[m].data, cut);
			const char *why;
			int rc;
			if (m == 0) {
				wmsg_request q;
				rc = wmsg_request_decode(p, cut, &q, &why);
				wmsg_request_fini(&q);
			} else {
				wmsg_reply o;
				rc = wmsg_reply_decode(p, cut, expect[m], &o, &why);
				wmsg_reply_fini(&o);
			}
			assert_int_equal(rc, cut == msgs[m].len ? TRAWL_OK : TRAWL_ECORRUPT);
			free(p);
		}
		for (size_t at = 0; at < msgs[m].len; at++)
			for (int v = 0; v < 4; v++) {
				memcpy(copy, msgs[m].data, msgs[m].len);
				copy[at] = (uint8_t)(v == 0   ? 0
				                     : v == 1 ? 0xff
				                              : copy[at] ^ (1u << (at % 8)));
				const char *why;
				if (m == 0) {
					wmsg_request q;
					if (wmsg_request_decode(copy, msgs[m].len, &q, &why) ==
					    TRAWL_OK)
						assert_true(q.n <= 5 || q.type != WMSG_WRITE);
					wmsg_request_fini(&q);
				} else {
					wmsg_reply o;
					wmsg_reply_decode(copy, msgs[m].len, expect[m], &o, &why);
					wmsg_reply_fini(&o);
				}
			}
		free(copy);
		tbuf_fini(&msgs[m]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_write_round_trip),
	    cmocka_unit_test(test_reply_round_trip),
	    cmocka_unit_test(test_small_messages),
	    cmocka_unit_test(test_damage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
