/*
 * wire_test.c - unit tests of the root-leaf wire format (wire.h).
 *
 * The wire format is a contract between processes of possibly different
 * builds, so besides random round trips of every message type these tests
 * pin the bytes of a SEARCH, a SEARCH_REPLY and a SCHEMA_REPLY against
 * hand-written hex, check that a SEARCH or FETCH whose query tree breaks a
 * rule is refused, decode every prefix of valid messages (each from a
 * buffer that ends where the prefix does, so that ASan sees any overread),
 * flip single bytes, and check that both the encoders and the decoders
 * refuse every limit violation, the decoders with a message naming the
 * field.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/qtree.h"
#include "common/wire.h"
#include "trawl/trawl.h"

/* The last message type: every loop over the types ends here (and skips
 * the numbers wire_type_known does not know). */
#define WIRE_LAST WIRE_FILE_READ_REPLY

/* splitmix64: a fixed-seed generator, so failures reproduce. */
static uint64_t rng_state = 0x5754010100000000u;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* rnd_below: uniform in [0, n) (n > 0). */
static uint32_t rnd_below(uint64_t n)
{
	return (uint32_t)(rnd() % n);
}

/* ---- random messages ---- */

#define POOL_BYTES (1u << 22)
static char *pool; /* random bytes that strings of random messages point into */

/* Arrays behind random messages (encode side). */
static wire_hit hits_store[TRAWL_MAX_K];
static wire_docref refs_store[TRAWL_MAX_K];
static const char *ids_store[TRAWL_MAX_K];
static uint32_t id_lens_store[TRAWL_MAX_K];
static wire_doc docs_store[TRAWL_MAX_K];

/* rnd_len: a length in [min, max], often at an edge, often small. */
static uint32_t rnd_len(uint32_t min, uint32_t max)
{
	switch (rnd_below(8)) {
	case 0:
		return min;
	case 1:
		return max;
	case 2:
		return max > min ? max - 1 : max;
	case 3:
	case 4:
		return rnd_below((uint64_t)max - min + 1) + min;
	default: {
		uint32_t small = max - min < 32 ? max - min : 32;
		return min + rnd_below((uint64_t)small + 1);
	}
	}
}

/* rnd_str: len bytes of pool (NULL sometimes when len is 0). */
static const char *rnd_str(uint32_t len)
{
	if (len == 0 && rnd_below(2))
		return NULL;
	return pool + rnd_below(POOL_BYTES - len + 1);
}

/* The query tree of "a" as the parser makes it: a root from column 1 holding
 * the word "a" from column 1. */
static const uint8_t TREE_A[] = {0x02, 0x00, 0x03, 0x01, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00,
                                 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 'a'};

/* Encoded query trees for random SEARCH and FETCH messages: trees[0] is big
 * (1024 words, near the 8192 bytes of text), the others small. */
#define NTREES 32
static tbuf trees[NTREES];

static qt_node *tree_leaf(qt_kind kind, qt_occur occur, const char *field, const char *text)
{
	qt_node *n = qt_new(kind, occur, rnd_below(100));
	assert_non_null(n);
	if (field)
		assert_int_equal(qt_set_field(n, field, strlen(field)), TRAWL_OK);
	if (text)
		assert_int_equal(qt_set_text(n, text, strlen(text)), TRAWL_OK);
	return n;
}

static void make_trees(void)
{
	static const char *const words[] = {"a", "solar eclipse", "\xc3\xa9t\xc3\xa9", "x*y"};
	for (int t = 0; t < NTREES; t++) {
		qt_node *root = qt_new(QT_BOOL, QT_MUST, 1);
		assert_non_null(root);
		uint32_t n = t ? 1 + rnd_below(2) : TRAWL_MAX_QUERY_TERMS;
		for (uint32_t i = 0; i < n; i++) {
			qt_kind kind = (qt_kind)rnd_below(3);
			const char *field = rnd_below(2) ? "title" : NULL;
			const char *text = t ? words[rnd_below(4)] : "abcdefg";
			if (kind == QT_PHRASE && !t)
				kind = QT_TERM;
			assert_int_equal(qt_add(root, tree_leaf(kind, (qt_occur)rnd_below(3),
			                                        t ? field : NULL, text)),
			                 TRAWL_OK);
		}
		char err[128];
		tbuf_init(&trees[t], TRAWL_MAX_QUERY_TREE_BYTES);
		if (qt_encode(root, &trees[t], err, sizeof err))
			fail_msg("tree %d: %s", t, err);
		qt_free(root);
	}
}

/* rnd_tree: one of the trees, small ones only with small set; none (NULL
 * or empty) sometimes when min is 0. */
static void rnd_tree(int small, uint32_t min, const uint8_t **tree, uint32_t *len)
{
	if (min == 0 && rnd_below(4) == 0) {
		*tree = rnd_below(2) ? NULL : TREE_A;
		*len = 0;
		return;
	}
	const tbuf *t = &trees[small || rnd_below(2) ? 1 + rnd_below(NTREES - 1) : 0];
	*tree = t->data;
	*len = (uint32_t)t->len;
}

static void rnd_shards(uint16_t *shards, uint16_t n)
{
	uint16_t all[TRAWL_MAX_SHARDS];
	for (int i = 0; i < TRAWL_MAX_SHARDS; i++)
		all[i] = (uint16_t)i;
	for (uint16_t i = 0; i < n; i++) {
		uint32_t j = i + rnd_below((uint64_t)TRAWL_MAX_SHARDS - i);
		uint16_t t = all[i];
		all[i] = all[j];
		all[j] = t;
		shards[i] = all[i];
	}
}

static float rnd_score(void)
{
	uint32_t bits;
	do
		bits = (uint32_t)rnd();
	while ((bits & 0x7f800000u) == 0x7f800000u);
	float f;
	memcpy(&f, &bits, sizeof f);
	return f;
}

/*
 * rnd_msg fills m with a valid random message of the given type. With small
 * set, every count and length stays small (for the O(n^2) prefix tests).
 */
static wire_sortval sorts_store[TRAWL_MAX_K];

/* A field name of 1..max characters of A-Z a-z 0-9 _ . - */
static const char *rnd_field(uint32_t len)
{
	static char buf[4][LIMIT_FIELD_NAME_BYTES + 1];
	static int at;
	static const char cs[] = "abcXYZ019_.-";
	char *b = buf[at++ & 3];
	for (uint32_t i = 0; i < len; i++)
		b[i] = cs[rnd_below(sizeof cs - 1)];
	b[len] = 0;
	return b;
}

static void rnd_msg(wire_msg *m, int type, int small)
{
	memset(m, 0, sizeof *m);
	m->h.type = (uint8_t)type;
	m->h.flags = (uint16_t)rnd();
	m->h.request_id = rnd();
	m->h.deadline_unix_us = rnd_below(2) ? 0 : rnd();
	m->h.generation = rnd_below(2) ? 0 : rnd();
	uint32_t cap_n = small ? 12 : TRAWL_MAX_K;
	uint32_t cap_s = small ? 40 : 0xffffffffu;
#define CAP(max) ((max) < cap_s ? (max) : cap_s)
	switch (type) {
	case WIRE_SEARCH: {
		wire_search *s = &m->u.search;
		s->k = rnd_len(1, TRAWL_MAX_K);
		s->nshards = (uint16_t)rnd_len(1, small ? 12 : TRAWL_MAX_SHARDS);
		rnd_shards(s->shards, s->nshards);
		rnd_tree(small, 1, &s->tree, &s->tree_len);
		if (m->h.flags & WIRE_F_SORT) {
			s->nsort = (uint8_t)rnd_len(1, LIMIT_SORT_KEYS);
			for (uint32_t i = 0; i < s->nsort; i++) {
				uint8_t f = (uint8_t)rnd_below(16);
				if ((f & WIRE_SORT_MIN) && (f & WIRE_SORT_MAX))
					f &= (uint8_t)~WIRE_SORT_MAX;
				s->sort[i].flags = f;
				s->sort[i].field_len =
				    (uint8_t)rnd_len(1, CAP(LIMIT_FIELD_NAME_BYTES));
				s->sort[i].field = rnd_field(s->sort[i].field_len);
			}
			s->after_len = rnd_len(0, CAP(LIMIT_SORT_JSON_BYTES));
			s->after = rnd_str(s->after_len);
		}
		if (m->h.flags & WIRE_F_AGGS) {
			s->aggs_len = rnd_len(1, CAP(65536));
			s->aggs = rnd_str(s->aggs_len);
		}
		break;
	}
	case WIRE_SEARCH_REPLY: {
		wire_search_reply *r = &m->u.search_reply;
		r->status = (uint16_t)rnd_below(16);
		r->total_relation = (uint8_t)rnd_below(2);
		r->total = rnd();
		r->docs_searched = rnd();
		r->queue_depth = (uint32_t)rnd();
		r->shards_answered = (uint16_t)rnd_len(0, TRAWL_MAX_SHARDS);
		r->nhits = rnd_below(4) ? rnd_len(0, 64 < cap_n ? 64 : cap_n) : rnd_len(0, cap_n);
		for (uint32_t i = 0; i < r->nhits; i++) {
			hits_store[i].score = rnd_score();
			hits_store[i].shard = (uint16_t)rnd_below(TRAWL_MAX_SHARDS);
			hits_store[i].doc = (uint32_t)rnd();
			hits_store[i].hash = rnd();
		}
		r->hits = r->nhits || rnd_below(2) ? hits_store : NULL;
		r->errmsg_len = rnd_len(0, CAP(LIMIT_ERRMSG_BYTES));
		r->errmsg = rnd_str(r->errmsg_len);
		if (m->h.flags & WIRE_F_IDS) {
			for (uint32_t i = 0; i < r->nhits; i++) {
				id_lens_store[i] = rnd_len(0, CAP(LIMIT_ID_BYTES));
				ids_store[i] = rnd_str(id_lens_store[i]);
			}
			r->ids = ids_store;
			r->id_lens = id_lens_store;
		}
		if (m->h.flags & WIRE_F_SORT) {
			r->nsort = (uint8_t)rnd_len(1, LIMIT_SORT_KEYS);
			for (uint32_t i = 0; i < r->nhits; i++) {
				wire_sortval *v = &sorts_store[i];
				memset(v, 0, sizeof *v);
				v->missing = (uint8_t)(rnd() & ((1u << r->nsort) - 1));
				for (uint32_t k = 0; k < r->nsort; k++)
					v->v[k] = (int64_t)rnd();
				v->json_len = (uint16_t)rnd_len(1, r->nhits > 8 ? 64 : CAP(LIMIT_SORT_JSON_BYTES));
				v->json = rnd_str(v->json_len);
			}
			r->sorts = sorts_store;
		}
		if (m->h.flags & WIRE_F_AGGS) {
			r->aggs_len = rnd_len(1, CAP(65536));
			r->aggs = rnd_str(r->aggs_len);
		}
		break;
	}
	case WIRE_FETCH: {
		wire_fetch *f = &m->u.fetch;
		f->ndocs = rnd_below(4) ? rnd_len(1, 64 < cap_n ? 64 : cap_n) : rnd_len(1, cap_n);
		for (uint32_t i = 0; i < f->ndocs; i++) {
			refs_store[i].shard = (uint16_t)rnd_below(TRAWL_MAX_SHARDS);
			refs_store[i].doc = (uint32_t)rnd();
		}
		f->docs = refs_store;
		rnd_tree(small, 0, &f->tree, &f->tree_len);
		f->field_len = rnd_len(0, CAP(LIMIT_FIELD_NAME_BYTES));
		f->field = rnd_str(f->field_len);
		f->pre_len = (uint16_t)rnd_len(0, CAP(LIMIT_MARK_BYTES));
		f->pre = rnd_str(f->pre_len);
		f->post_len = (uint16_t)rnd_len(0, CAP(LIMIT_MARK_BYTES));
		f->post = rnd_str(f->post_len);
		f->snippet_chars = rnd_len(0, LIMIT_SNIPPET_CHARS);
		break;
	}
	case WIRE_FETCH_REPLY: {
		wire_fetch_reply *r = &m->u.fetch_reply;
		r->status = (uint16_t)rnd_below(16);
		r->ndocs = rnd_below(4) ? rnd_len(0, 32 < cap_n ? 32 : cap_n) : rnd_len(0, cap_n);
		/* Larger documents only in short replies (the limits have their own tests). */
		uint32_t big = r->ndocs <= 4 ? 65536 : 64;
		for (uint32_t i = 0; i < r->ndocs; i++) {
			wire_doc *d = &docs_store[i];
			d->shard = (uint16_t)rnd_below(TRAWL_MAX_SHARDS);
			d->status = (uint16_t)rnd_below(16);
			d->doc = (uint32_t)rnd();
			d->id_len = rnd_len(0, CAP(LIMIT_ID_BYTES));
			d->id = rnd_str(d->id_len);
			d->json_len = rnd_len(0, CAP(big));
			d->json = rnd_str(d->json_len);
			d->snippet_len =
			    rnd_len(0, CAP(big < LIMIT_SNIPPET_BYTES ? big : LIMIT_SNIPPET_BYTES));
			d->snippet = rnd_str(d->snippet_len);
		}
		r->docs = r->ndocs || rnd_below(2) ? docs_store : NULL;
		r->errmsg_len = rnd_len(0, CAP(LIMIT_ERRMSG_BYTES));
		r->errmsg = rnd_str(r->errmsg_len);
		break;
	}
	case WIRE_PING:
		break;
	case WIRE_PONG: {
		wire_pong *p = &m->u.pong;
		p->generation = rnd();
		p->queue_depth = (uint32_t)rnd();
		p->nshards = (uint16_t)rnd_len(0, small ? 12 : TRAWL_MAX_SHARDS);
		rnd_shards(p->shards, p->nshards);
		p->ready = (uint8_t)rnd_below(2);
		break;
	}
	case WIRE_CANCEL:
		m->u.cancel.target_request_id = rnd();
		break;
	case WIRE_GET:
		m->u.get.shard = (uint16_t)rnd_below(TRAWL_MAX_SHARDS);
		m->u.get.id_len = rnd_len(1, CAP(LIMIT_ID_BYTES));
		m->u.get.id = rnd_str(m->u.get.id_len);
		break;
	case WIRE_SCHEMA:
		break;
	case WIRE_SCHEMA_REPLY: {
		wire_schema_reply *r = &m->u.schema_reply;
		r->status = (uint16_t)rnd_below(16);
		r->schema_len = rnd_len(0, CAP(LIMIT_SCHEMA_JSON_BYTES));
		r->schema = rnd_str(r->schema_len);
		r->errmsg_len = rnd_len(0, CAP(LIMIT_ERRMSG_BYTES));
		r->errmsg = rnd_str(r->errmsg_len);
		break;
	}
	case WIRE_FILES:
		break;
	case WIRE_FILES_REPLY: {
		wire_files_reply *r = &m->u.files_reply;
		r->status = (uint16_t)rnd_below(16);
		/* the pool holds 4 MiB: longer manifests in test_files */
		r->manifest_len = rnd_len(0, CAP(POOL_BYTES));
		r->manifest = rnd_str(r->manifest_len);
		r->sum_len = (uint8_t)rnd_len(0, WIRE_MANIFEST_SUM_BYTES);
		r->sum = rnd_str(r->sum_len);
		r->errmsg_len = rnd_len(0, CAP(LIMIT_ERRMSG_BYTES));
		r->errmsg = rnd_str(r->errmsg_len);
		break;
	}
	case WIRE_FILE_READ: {
		wire_file_read *f = &m->u.file_read;
		static char name[4][LIMIT_GEN_FILE_NAME_BYTES];
		static int at;
		char *nb = name[at++ & 3];
		f->offset = rnd_below(2) ? rnd() : rnd_below(1u << 30);
		f->max_len = rnd_len(1, LIMIT_FILE_READ_BYTES);
		f->name_len = (uint8_t)rnd_len(1, LIMIT_GEN_FILE_NAME_BYTES);
		/* any bytes but '/' and NUL, not starting with '.' */
		for (uint32_t i = 0; i < f->name_len; i++) {
			uint8_t c = (uint8_t)rnd_below(256);
			nb[i] = (char)(c == 0 || c == '/' || (i == 0 && c == '.') ? 'a' : c);
		}
		f->name = nb;
		break;
	}
	case WIRE_FILE_READ_REPLY: {
		wire_file_read_reply *r = &m->u.file_read_reply;
		r->status = (uint16_t)rnd_below(16);
		r->size = rnd();
		r->data_len = rnd_len(0, CAP(LIMIT_FILE_READ_BYTES));
		r->data = (const uint8_t *)rnd_str(r->data_len);
		r->errmsg_len = rnd_len(0, CAP(LIMIT_ERRMSG_BYTES));
		r->errmsg = rnd_str(r->errmsg_len);
		break;
	}
	}
#undef CAP
}

/* ---- comparisons ---- */

static void assert_bytes_eq(const char *a, uint32_t alen, const char *b, uint32_t blen)
{
	assert_int_equal(alen, blen);
	if (alen)
		assert_memory_equal(a, b, alen);
}

static void assert_msg_eq(const wire_msg *a, const wire_msg *b)
{
	assert_int_equal(a->h.type, b->h.type);
	assert_int_equal(a->h.flags, b->h.flags);
	assert_true(a->h.request_id == b->h.request_id);
	assert_true(a->h.deadline_unix_us == b->h.deadline_unix_us);
	assert_true(a->h.generation == b->h.generation);
	switch (a->h.type) {
	case WIRE_SEARCH: {
		const wire_search *x = &a->u.search, *y = &b->u.search;
		assert_int_equal(x->k, y->k);
		assert_int_equal(x->nshards, y->nshards);
		assert_memory_equal(x->shards, y->shards, x->nshards * sizeof x->shards[0]);
		assert_bytes_eq((const char *)x->tree, x->tree_len, (const char *)y->tree,
		                y->tree_len);
		if (a->h.flags & WIRE_F_SORT) {
			assert_int_equal(x->nsort, y->nsort);
			for (uint32_t i = 0; i < x->nsort; i++) {
				assert_int_equal(x->sort[i].flags, y->sort[i].flags);
				assert_bytes_eq(x->sort[i].field, x->sort[i].field_len,
				                y->sort[i].field, y->sort[i].field_len);
			}
			assert_bytes_eq(x->after, x->after_len, y->after, y->after_len);
		}
		if (a->h.flags & WIRE_F_AGGS)
			assert_bytes_eq(x->aggs, x->aggs_len, y->aggs, y->aggs_len);
		break;
	}
	case WIRE_SEARCH_REPLY: {
		const wire_search_reply *x = &a->u.search_reply, *y = &b->u.search_reply;
		assert_int_equal(x->status, y->status);
		assert_int_equal(x->total_relation, y->total_relation);
		assert_true(x->total == y->total);
		assert_true(x->docs_searched == y->docs_searched);
		assert_int_equal(x->queue_depth, y->queue_depth);
		assert_int_equal(x->shards_answered, y->shards_answered);
		assert_int_equal(x->nhits, y->nhits);
		for (uint32_t i = 0; i < x->nhits; i++) {
			wire_hit hx, hy;
			assert_int_equal(wire_search_reply_hit(x, i, &hx), TRAWL_OK);
			assert_int_equal(wire_search_reply_hit(y, i, &hy), TRAWL_OK);
			assert_memory_equal(&hx.score, &hy.score, sizeof hx.score);
			assert_int_equal(hx.shard, hy.shard);
			assert_int_equal(hx.doc, hy.doc);
			assert_true(hx.hash == hy.hash);
		}
		wire_hit h;
		assert_int_equal(wire_search_reply_hit(x, x->nhits, &h), TRAWL_EINVAL);
		assert_int_equal(wire_search_reply_hit(y, y->nhits, &h), TRAWL_EINVAL);
		assert_bytes_eq(x->errmsg, x->errmsg_len, y->errmsg, y->errmsg_len);
		if (a->h.flags & WIRE_F_AGGS)
			assert_bytes_eq(x->aggs, x->aggs_len, y->aggs, y->aggs_len);
		if (a->h.flags & WIRE_F_SORT) {
			assert_int_equal(x->nsort, y->nsort);
			wire_sortval *sx = malloc((x->nhits + 1) * sizeof *sx);
			wire_sortval *sy = malloc((x->nhits + 1) * sizeof *sy);
			assert_int_equal(wire_search_reply_sorts(x, sx), TRAWL_OK);
			assert_int_equal(wire_search_reply_sorts(y, sy), TRAWL_OK);
			for (uint32_t i = 0; i < x->nhits; i++) {
				assert_int_equal(sx[i].missing, sy[i].missing);
				assert_memory_equal(sx[i].v, sy[i].v, x->nsort * sizeof sx[i].v[0]);
				assert_bytes_eq(sx[i].json, sx[i].json_len, sy[i].json, sy[i].json_len);
			}
			free(sx);
			free(sy);
		}
		if (a->h.flags & WIRE_F_IDS) {
			const char **ix = malloc((x->nhits + 1) * sizeof *ix);
			const char **iy = malloc((x->nhits + 1) * sizeof *iy);
			uint32_t *lx = malloc((x->nhits + 1) * sizeof *lx);
			uint32_t *ly = malloc((x->nhits + 1) * sizeof *ly);
			assert_int_equal(wire_search_reply_ids(x, ix, lx), TRAWL_OK);
			assert_int_equal(wire_search_reply_ids(y, iy, ly), TRAWL_OK);
			for (uint32_t i = 0; i < x->nhits; i++)
				assert_bytes_eq(ix[i], lx[i], iy[i], ly[i]);
			free(ix);
			free(iy);
			free(lx);
			free(ly);
		} else {
			const char *id;
			uint32_t n;
			assert_true(x->ids == NULL && y->ids_raw == NULL);
			if (x->nhits == 0)
				assert_int_equal(wire_search_reply_ids(y, &id, &n),
				                 TRAWL_ENOTFOUND);
		}
		break;
	}
	case WIRE_FETCH: {
		const wire_fetch *x = &a->u.fetch, *y = &b->u.fetch;
		assert_int_equal(x->ndocs, y->ndocs);
		for (uint32_t i = 0; i < x->ndocs; i++) {
			wire_docref rx, ry;
			assert_int_equal(wire_fetch_docref(x, i, &rx), TRAWL_OK);
			assert_int_equal(wire_fetch_docref(y, i, &ry), TRAWL_OK);
			assert_int_equal(rx.shard, ry.shard);
			assert_int_equal(rx.doc, ry.doc);
		}
		wire_docref r;
		assert_int_equal(wire_fetch_docref(y, y->ndocs, &r), TRAWL_EINVAL);
		assert_bytes_eq((const char *)x->tree, x->tree_len, (const char *)y->tree,
		                y->tree_len);
		assert_bytes_eq(x->field, x->field_len, y->field, y->field_len);
		assert_bytes_eq(x->pre, x->pre_len, y->pre, y->pre_len);
		assert_bytes_eq(x->post, x->post_len, y->post, y->post_len);
		assert_int_equal(x->snippet_chars, y->snippet_chars);
		break;
	}
	case WIRE_FETCH_REPLY: {
		const wire_fetch_reply *x = &a->u.fetch_reply, *y = &b->u.fetch_reply;
		assert_int_equal(x->status, y->status);
		assert_int_equal(x->ndocs, y->ndocs);
		wire_doc_iter ix, iy;
		wire_doc_iter_init(&ix, x);
		wire_doc_iter_init(&iy, y);
		wire_doc dx, dy;
		uint32_t n = 0;
		while (wire_doc_iter_next(&ix, &dx)) {
			assert_int_equal(wire_doc_iter_next(&iy, &dy), 1);
			assert_int_equal(dx.shard, dy.shard);
			assert_int_equal(dx.status, dy.status);
			assert_int_equal(dx.doc, dy.doc);
			assert_bytes_eq(dx.id, dx.id_len, dy.id, dy.id_len);
			assert_bytes_eq(dx.json, dx.json_len, dy.json, dy.json_len);
			assert_bytes_eq(dx.snippet, dx.snippet_len, dy.snippet, dy.snippet_len);
			n++;
		}
		assert_int_equal(wire_doc_iter_next(&iy, &dy), 0);
		assert_int_equal(n, x->ndocs);
		assert_bytes_eq(x->errmsg, x->errmsg_len, y->errmsg, y->errmsg_len);
		break;
	}
	case WIRE_PING:
		break;
	case WIRE_PONG: {
		const wire_pong *x = &a->u.pong, *y = &b->u.pong;
		assert_true(x->generation == y->generation);
		assert_int_equal(x->queue_depth, y->queue_depth);
		assert_int_equal(x->nshards, y->nshards);
		assert_memory_equal(x->shards, y->shards, x->nshards * sizeof x->shards[0]);
		assert_int_equal(x->ready, y->ready);
		break;
	}
	case WIRE_CANCEL:
		assert_true(a->u.cancel.target_request_id == b->u.cancel.target_request_id);
		break;
	case WIRE_GET:
		assert_int_equal(a->u.get.shard, b->u.get.shard);
		assert_bytes_eq(a->u.get.id, a->u.get.id_len, b->u.get.id, b->u.get.id_len);
		break;
	case WIRE_SCHEMA:
		break;
	case WIRE_SCHEMA_REPLY: {
		const wire_schema_reply *x = &a->u.schema_reply, *y = &b->u.schema_reply;
		assert_int_equal(x->status, y->status);
		assert_bytes_eq(x->schema, x->schema_len, y->schema, y->schema_len);
		assert_bytes_eq(x->errmsg, x->errmsg_len, y->errmsg, y->errmsg_len);
		break;
	}
	case WIRE_FILES:
		break;
	case WIRE_FILES_REPLY: {
		const wire_files_reply *x = &a->u.files_reply, *y = &b->u.files_reply;
		assert_int_equal(x->status, y->status);
		assert_bytes_eq(x->manifest, x->manifest_len, y->manifest, y->manifest_len);
		assert_bytes_eq(x->sum, x->sum_len, y->sum, y->sum_len);
		assert_bytes_eq(x->errmsg, x->errmsg_len, y->errmsg, y->errmsg_len);
		break;
	}
	case WIRE_FILE_READ: {
		const wire_file_read *x = &a->u.file_read, *y = &b->u.file_read;
		assert_true(x->offset == y->offset);
		assert_int_equal(x->max_len, y->max_len);
		assert_bytes_eq(x->name, x->name_len, y->name, y->name_len);
		break;
	}
	case WIRE_FILE_READ_REPLY: {
		const wire_file_read_reply *x = &a->u.file_read_reply, *y = &b->u.file_read_reply;
		assert_int_equal(x->status, y->status);
		assert_true(x->size == y->size);
		assert_bytes_eq((const char *)x->data, x->data_len, (const char *)y->data,
		                y->data_len);
		assert_bytes_eq(x->errmsg, x->errmsg_len, y->errmsg, y->errmsg_len);
		break;
	}
	default:
		fail();
	}
}

/* decode_as calls the decoder of type on buf (m->h and the body). */
static int decode_as(int type, const void *buf, size_t len, wire_msg *m, char *err, size_t errlen)
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
	case WIRE_SCHEMA_REPLY:
		return wire_decode_schema_reply(buf, len, &m->h, &m->u.schema_reply, err, errlen);
	case WIRE_FILES:
		return wire_decode_files(buf, len, &m->h, err, errlen);
	case WIRE_FILES_REPLY:
		return wire_decode_files_reply(buf, len, &m->h, &m->u.files_reply, err, errlen);
	case WIRE_FILE_READ:
		return wire_decode_file_read(buf, len, &m->h, &m->u.file_read, err, errlen);
	case WIRE_FILE_READ_REPLY:
		return wire_decode_file_read_reply(buf, len, &m->h, &m->u.file_read_reply, err,
		                                   errlen);
	}
	return -1;
}

/* body_size: the body size docs/WIRE.md gives for m. */
static uint64_t body_size(const wire_msg *m)
{
	switch (m->h.type) {
	case WIRE_SEARCH: {
		const wire_search *s = &m->u.search;
		uint64_t n = 10 + 2 * (uint64_t)s->nshards + s->tree_len;
		if (m->h.flags & WIRE_F_SORT) {
			n += 1 + 4 + s->after_len; /* nsort; after's length and bytes */
			for (uint32_t i = 0; i < s->nsort; i++)
				n += 2 + s->sort[i].field_len; /* flags, length, name */
		}
		if (m->h.flags & WIRE_F_AGGS)
			n += 4 + (uint64_t)s->aggs_len; /* the spec's length and bytes */
		return n;
	}
	case WIRE_SEARCH_REPLY: {
		const wire_search_reply *r = &m->u.search_reply;
		uint64_t n = 36 + 20 * (uint64_t)r->nhits + r->errmsg_len;
		for (uint32_t i = 0; (m->h.flags & WIRE_F_IDS) && i < r->nhits; i++)
			n += 2 + (uint64_t)r->id_lens[i];
		if (m->h.flags & WIRE_F_SORT) {
			n += 1; /* nsort; per hit: missing, keys, json length and bytes */
			for (uint32_t i = 0; i < r->nhits; i++)
				n += 1 + 8 * (uint64_t)r->nsort + 2 + r->sorts[i].json_len;
		}
		if (m->h.flags & WIRE_F_AGGS)
			n += 4 + (uint64_t)r->aggs_len; /* the partial's length and bytes */
		return n;
	}
	case WIRE_FETCH: {
		const wire_fetch *f = &m->u.fetch;
		return 20 + 8 * (uint64_t)f->ndocs + f->tree_len + f->field_len + f->pre_len +
		       f->post_len;
	}
	case WIRE_FETCH_REPLY: {
		const wire_fetch_reply *r = &m->u.fetch_reply;
		uint64_t n = 12 + (uint64_t)r->errmsg_len;
		for (uint32_t i = 0; i < r->ndocs; i++)
			n += 20 + (uint64_t)r->docs[i].id_len + r->docs[i].json_len +
			     r->docs[i].snippet_len;
		return n;
	}
	case WIRE_PING:
		return 0;
	case WIRE_PONG:
		return 15 + 2 * (uint64_t)m->u.pong.nshards;
	case WIRE_CANCEL:
		return 8;
	case WIRE_GET:
		return 8 + (uint64_t)m->u.get.id_len;
	case WIRE_SCHEMA:
		return 0;
	case WIRE_SCHEMA_REPLY:
		return 12 + (uint64_t)m->u.schema_reply.schema_len + m->u.schema_reply.errmsg_len;
	case WIRE_FILES:
		return 0;
	case WIRE_FILES_REPLY:
		return 13 + (uint64_t)m->u.files_reply.manifest_len + m->u.files_reply.sum_len +
		       m->u.files_reply.errmsg_len;
	case WIRE_FILE_READ:
		return 13 + (uint64_t)m->u.file_read.name_len;
	case WIRE_FILE_READ_REPLY:
		return 20 + (uint64_t)m->u.file_read_reply.data_len +
		       m->u.file_read_reply.errmsg_len;
	}
	return 0;
}

/* ---- round trips ---- */

static void roundtrip(int type, int iterations)
{
	tbuf b, b2;
	tbuf_init(&b, LIMIT_MESSAGE_BYTES);
	tbuf_init(&b2, LIMIT_MESSAGE_BYTES);
	char err[256];
	for (int it = 0; it < iterations; it++) {
		wire_msg m, d, d2;
		rnd_msg(&m, type, 0);
		/* Encoders append: start behind some bytes already in the buffer. */
		tbuf_reset(&b);
		size_t pre = rnd_below(3);
		assert_int_equal(tbuf_append(&b, "xyz", pre), TRAWL_OK);
		int rc = wire_encode(&b, &m);
		assert_int_equal(rc, TRAWL_OK);
		const uint8_t *msg = b.data + pre;
		size_t len = b.len - pre;
		assert_true(len == WIRE_HEADER_BYTES + body_size(&m));
		assert_int_equal(msg[3], type);

		/* The type's own decoder, the dispatching one and the header alone agree. */
		err[0] = 0;
		rc = decode_as(type, msg, len, &d, err, sizeof err);
		if (rc != TRAWL_OK)
			fail_msg("%s: %s", wire_type_name(type), err);
		assert_msg_eq(&m, &d);
		assert_int_equal(wire_decode(msg, len, &d2, err, sizeof err), TRAWL_OK);
		assert_msg_eq(&m, &d2);
		wire_header h;
		assert_int_equal(wire_header_decode(msg, len, &h, err, sizeof err), TRAWL_OK);
		assert_int_equal(h.type, type);
		assert_int_equal(h.flags, m.h.flags);

		/* The encoding is canonical: the decoded message re-encodes to the same bytes. */
		tbuf_reset(&b2);
		assert_int_equal(wire_encode(&b2, &d), TRAWL_OK);
		assert_int_equal(b2.len, len);
		assert_memory_equal(b2.data, msg, len);

		/* Every other decoder refuses it, naming the type expected. */
		for (int t = WIRE_SEARCH; t <= WIRE_LAST; t++) {
			if (t == type || !wire_type_known(t))
				continue;
			err[0] = 0;
			assert_int_equal(decode_as(t, msg, len, &d2, err, sizeof err),
			                 TRAWL_EINVAL);
			assert_non_null(strstr(err, "expected a"));
		}
	}
	tbuf_fini(&b);
	tbuf_fini(&b2);
}

static void test_roundtrip_search(void **state)
{
	roundtrip(WIRE_SEARCH, 2000);
}

static void test_roundtrip_search_reply(void **state)
{
	roundtrip(WIRE_SEARCH_REPLY, 1000);
}

static void test_roundtrip_fetch(void **state)
{
	roundtrip(WIRE_FETCH, 1000);
}

static void test_roundtrip_fetch_reply(void **state)
{
	roundtrip(WIRE_FETCH_REPLY, 500);
}

static void test_roundtrip_ping_pong_cancel_get(void **state)
{
	roundtrip(WIRE_PING, 200);
	roundtrip(WIRE_PONG, 2000);
	roundtrip(WIRE_CANCEL, 200);
	roundtrip(WIRE_GET, 1000);
}

static void test_roundtrip_schema(void **state)
{
	roundtrip(WIRE_SCHEMA, 200);
	roundtrip(WIRE_SCHEMA_REPLY, 1000);
}

static void test_roundtrip_files(void **state)
{
	roundtrip(WIRE_FILES, 200);
	roundtrip(WIRE_FILES_REPLY, 500);
	roundtrip(WIRE_FILE_READ, 2000);
	roundtrip(WIRE_FILE_READ_REPLY, 500);
}

/* ---- truncation and damage ---- */

/* Every prefix of a valid message, and the message with one byte more, is
 * refused with a message; each is decoded from a buffer of exactly its size. */
static void test_truncation(void **state)
{
	tbuf b;
	tbuf_init(&b, LIMIT_MESSAGE_BYTES);
	char err[256];
	long decoded = 0;
	for (int type = WIRE_SEARCH; type <= WIRE_LAST; type++) {
		if (!wire_type_known(type))
			continue;
		for (int it = 0; it < 25; it++) {
			wire_msg m, d;
			rnd_msg(&m, type, 1);
			tbuf_reset(&b);
			assert_int_equal(wire_encode(&b, &m), TRAWL_OK);
			for (size_t n = 0; n < b.len; n++) {
				uint8_t *cut = malloc(n ? n : 1);
				assert_non_null(cut);
				memcpy(cut, b.data, n);
				err[0] = 0;
				assert_int_equal(decode_as(type, cut, n, &d, err, sizeof err),
				                 TRAWL_EINVAL);
				assert_true(err[0] != 0);
				assert_int_equal(wire_decode(cut, n, &d, err, sizeof err),
				                 TRAWL_EINVAL);
				free(cut);
				decoded++;
			}
			uint8_t *longer = malloc(b.len + 1);
			assert_non_null(longer);
			memcpy(longer, b.data, b.len);
			longer[b.len] = 0;
			err[0] = 0;
			assert_int_equal(decode_as(type, longer, b.len + 1, &d, err, sizeof err),
			                 TRAWL_EINVAL);
			assert_non_null(strstr(err, "the body ends at offset"));
			free(longer);
		}
	}
	assert_true(decoded > 1000);
	assert_int_equal(wire_decode(NULL, 0, &(wire_msg){0}, err, sizeof err), TRAWL_EINVAL);
	tbuf_fini(&b);
}

/* Every single-byte change of valid messages either is refused or decodes to
 * a message that encodes back to exactly the changed bytes. */
static void test_byte_flips(void **state)
{
	tbuf b, b2;
	tbuf_init(&b, LIMIT_MESSAGE_BYTES);
	tbuf_init(&b2, LIMIT_MESSAGE_BYTES);
	char err[64];
	for (int type = WIRE_SEARCH; type <= WIRE_LAST; type++) {
		if (!wire_type_known(type))
			continue;
		for (int it = 0; it < 6; it++) {
			wire_msg m, d;
			rnd_msg(&m, type, 1);
			tbuf_reset(&b);
			assert_int_equal(wire_encode(&b, &m), TRAWL_OK);
			uint8_t *copy = malloc(b.len);
			assert_non_null(copy);
			for (size_t i = 0; i < b.len; i++) {
				memcpy(copy, b.data, b.len);
				copy[i] ^= (uint8_t)(1u << rnd_below(8));
				if (rnd_below(4) == 0)
					copy[i] = (uint8_t)rnd();
				int rc = wire_decode(copy, b.len, &d, err, sizeof err);
				if (rc != TRAWL_OK) {
					assert_int_equal(rc, TRAWL_EINVAL);
					continue;
				}
				tbuf_reset(&b2);
				assert_int_equal(wire_encode(&b2, &d), TRAWL_OK);
				assert_int_equal(b2.len, b.len);
				assert_memory_equal(b2.data, copy, b.len);
			}
			free(copy);
		}
	}
	tbuf_fini(&b);
	tbuf_fini(&b2);
}

/* ---- golden bytes ---- */

static size_t unhex(const char *hex, uint8_t *out)
{
	size_t n = 0;
	for (const char *p = hex; *p; p++) {
		if (*p == ' ')
			continue;
		unsigned v;
		assert_int_equal(sscanf(p, "%2x", &v), 1);
		out[n++] = (uint8_t)v;
		p++;
	}
	return n;
}

static void test_golden_search(void **state)
{
	/* header: magic 'TW', version 3, type 1, flags COUNT, reserved,
	 * request id, deadline, generation; body: k 10, 2 shards (3, 17), the
	 * query tree of "new york": a root from column 1 with the words "new"
	 * (column 1) and "york" (column 5), both SHOULD. */
	static const char hex[] = "54 57 03 01 02 00 00 00"
	                          "08 07 06 05 04 03 02 01"
	                          "77 66 55 44 33 22 11 00"
	                          "07 00 00 00 00 00 00 00"
	                          "0a 00 00 00 02 00 03 00 11 00"
	                          "21 00 00 00"
	                          "02 00 03 01 01 00 00 00 02 00"
	                          "00 00 01 00 00 00 03 00 6e 65 77"
	                          "00 00 05 00 00 00 04 00 79 6f 72 6b";
	uint8_t want[128];
	size_t wantlen = unhex(hex, want);
	assert_int_equal(wantlen, 79);

	wire_header h = {.type = 99, /* ignored */
	                 .flags = WIRE_F_COUNT,
	                 .request_id = 0x0102030405060708u,
	                 .deadline_unix_us = 0x0011223344556677u,
	                 .generation = 7};
	wire_search s = {
	    .k = 10, .nshards = 2, .shards = {3, 17}, .tree = want + 46, .tree_len = 33};
	tbuf b;
	tbuf_init(&b, LIMIT_MESSAGE_BYTES);
	assert_int_equal(wire_encode_search(&b, &h, &s), TRAWL_OK);
	assert_int_equal(b.len, wantlen);
	assert_memory_equal(b.data, want, wantlen);

	wire_header dh;
	wire_search ds;
	char err[128];
	assert_int_equal(wire_decode_search(want, wantlen, &dh, &ds, err, sizeof err), TRAWL_OK);
	assert_int_equal(dh.type, WIRE_SEARCH);
	assert_int_equal(dh.flags, WIRE_F_COUNT);
	assert_true(dh.request_id == 0x0102030405060708u);
	assert_true(dh.deadline_unix_us == 0x0011223344556677u);
	assert_true(dh.generation == 7);
	assert_int_equal(ds.k, 10);
	assert_int_equal(ds.nshards, 2);
	assert_int_equal(ds.shards[0], 3);
	assert_int_equal(ds.shards[1], 17);
	assert_int_equal(ds.tree_len, 33);
	assert_ptr_equal(ds.tree, want + 46); /* zero-copy */
	qt_node *t = NULL;
	assert_int_equal(qt_decode(ds.tree, ds.tree_len, &t, err, sizeof err), TRAWL_OK);
	char d[64];
	qt_dump(t, d, sizeof d);
	assert_string_equal(d, "(new york)");
	qt_free(t);
	tbuf_fini(&b);
}

static void test_golden_search_reply(void **state)
{
	/* One hit: score 1.5 (0x3fc00000), shard 5, doc 0x01020304, hash
	 * 0x1122334455667788; the reply is partial and its total a lower bound. */
	static const char hex[] = "54 57 03 02 01 00 00 00"
	                          "2a 00 00 00 00 00 00 00"
	                          "00 00 00 00 00 00 00 00"
	                          "00 00 00 00 00 00 00 00"
	                          "00 00 01 00"             /* status, total_relation, reserved */
	                          "2a 00 00 00 00 00 00 00" /* total 42 */
	                          "e8 03 00 00 00 00 00 00" /* docs_searched 1000 */
	                          "03 00 00 00 02 00 00 00" /* queue_depth 3, shards_answered 2 */
	                          "01 00 00 00"             /* nhits */
	                          "00 00 c0 3f 05 00 00 00 04 03 02 01"
	                          "88 77 66 55 44 33 22 11"
	                          "02 00 00 00 6f 6b"; /* errmsg "ok" */
	uint8_t want[128];
	size_t wantlen = unhex(hex, want);
	assert_int_equal(wantlen, 32 + 36 + 20 + 2);
	wire_header h = {.flags = WIRE_F_PARTIAL, .request_id = 42};
	wire_hit hit = {.score = 1.5f, .shard = 5, .doc = 0x01020304u, .hash = 0x1122334455667788u};
	wire_search_reply r = {.total_relation = WIRE_TOTAL_GTE,
	                       .total = 42,
	                       .docs_searched = 1000,
	                       .queue_depth = 3,
	                       .shards_answered = 2,
	                       .nhits = 1,
	                       .hits = &hit,
	                       .errmsg = "ok",
	                       .errmsg_len = 2};
	tbuf b;
	tbuf_init(&b, LIMIT_MESSAGE_BYTES);
	assert_int_equal(wire_encode_search_reply(&b, &h, &r), TRAWL_OK);
	assert_int_equal(b.len, wantlen);
	assert_memory_equal(b.data, want, wantlen);

	/* Decoded from an odd address: hits are read with memcpy, not in place. */
	uint8_t *odd = malloc(wantlen + 1);
	assert_non_null(odd);
	memcpy(odd + 1, want, wantlen);
	wire_search_reply d;
	assert_int_equal(wire_decode_search_reply(odd + 1, wantlen, &h, &d, NULL, 0), TRAWL_OK);
	assert_null(d.hits);
	wire_hit got;
	assert_int_equal(wire_search_reply_hit(&d, 0, &got), TRAWL_OK);
	assert_true(got.score == 1.5f && got.shard == 5 && got.doc == 0x01020304u &&
	            got.hash == 0x1122334455667788u);
	free(odd);
	tbuf_fini(&b);
}

/* ---- limits: encoders ---- */

/* enc_fails: encoding m fails with rc and leaves the buffer unchanged. */
static void enc_fails(const wire_msg *m, int rc)
{
	tbuf b;
	tbuf_init(&b, LIMIT_MESSAGE_BYTES);
	assert_int_equal(tbuf_append(&b, "keep", 4), TRAWL_OK);
	assert_int_equal(wire_encode(&b, m), rc);
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, "keep", 4);
	tbuf_fini(&b);
}

static void enc_ok(const wire_msg *m)
{
	tbuf b;
	tbuf_init(&b, LIMIT_MESSAGE_BYTES);
	assert_int_equal(wire_encode(&b, m), TRAWL_OK);
	wire_msg d;
	char err[256];
	int rc = wire_decode(b.data, b.len, &d, err, sizeof err);
	if (rc != TRAWL_OK)
		fail_msg("%s", err);
	tbuf_fini(&b);
}

static wire_msg base_search(void)
{
	wire_msg m = {.h = {.type = WIRE_SEARCH}};
	m.u.search =
	    (wire_search){.k = 10, .nshards = 1, .tree = TREE_A, .tree_len = sizeof TREE_A};
	return m;
}

static void test_encode_limits_search(void **state)
{
	wire_msg m = base_search();
	enc_ok(&m);
	m.u.search.k = 0;
	enc_fails(&m, TRAWL_EINVAL);
	m.u.search.k = TRAWL_MAX_K + 1;
	enc_fails(&m, TRAWL_ELIMIT);
	m.u.search.k = TRAWL_MAX_K;
	enc_ok(&m);

	m = base_search();
	m.u.search.nshards = 0;
	enc_fails(&m, TRAWL_EINVAL);
	m.u.search.nshards = TRAWL_MAX_SHARDS + 1;
	enc_fails(&m, TRAWL_ELIMIT);
	m.u.search.nshards = TRAWL_MAX_SHARDS;
	for (int i = 0; i < TRAWL_MAX_SHARDS; i++)
		m.u.search.shards[i] = (uint16_t)(TRAWL_MAX_SHARDS - 1 - i);
	enc_ok(&m);
	m.u.search.shards[200] = m.u.search.shards[10];
	enc_fails(&m, TRAWL_EINVAL);
	m.u.search.nshards = 2;
	m.u.search.shards[0] = 5;
	m.u.search.shards[1] = 256;
	enc_fails(&m, TRAWL_EINVAL);

	static uint8_t q[TRAWL_MAX_QUERY_TREE_BYTES + 1];
	m = base_search();
	m.u.search.tree = trees[0].data; /* the big one */
	m.u.search.tree_len = (uint32_t)trees[0].len;
	enc_ok(&m);
	memcpy(q, TREE_A, sizeof TREE_A);
	m.u.search.tree = q;
	m.u.search.tree_len = TRAWL_MAX_QUERY_TREE_BYTES + 1;
	enc_fails(&m, TRAWL_ELIMIT);
	m.u.search.tree_len = TRAWL_MAX_QUERY_TREE_BYTES; /* bytes after the tree */
	enc_fails(&m, TRAWL_EINVAL);
	m.u.search.tree_len = 0;
	enc_fails(&m, TRAWL_EINVAL);
	m.u.search.tree_len = sizeof TREE_A;
	enc_ok(&m);
	q[10] = 9; /* the word's kind: none such */
	enc_fails(&m, TRAWL_EINVAL);
	m.u.search.tree = NULL;
	m.u.search.tree_len = 3;
	enc_fails(&m, TRAWL_EINVAL);

	/* A tbuf with a smaller bound than the message. */
	m = base_search();
	tbuf b;
	tbuf_init(&b, 40);
	assert_int_equal(wire_encode(&b, &m), TRAWL_ELIMIT);
	assert_int_equal(b.len, 0);
	tbuf_fini(&b);
	/* An unknown type. */
	m.h.type = 8;
	enc_fails(&m, TRAWL_EINVAL);
}

static void test_encode_limits_replies(void **state)
{
	static char big[LIMIT_ERRMSG_BYTES + 1];
	memset(big, 'e', sizeof big);
	wire_hit hit = {.score = 1, .shard = 1, .doc = 1};

	wire_msg m = {.h = {.type = WIRE_SEARCH_REPLY}};
	m.u.search_reply.errmsg = big;
	m.u.search_reply.errmsg_len = LIMIT_ERRMSG_BYTES;
	enc_ok(&m);
	m.u.search_reply.errmsg_len = LIMIT_ERRMSG_BYTES + 1;
	enc_fails(&m, TRAWL_ELIMIT);
	m.u.search_reply.errmsg_len = 0;
	m.u.search_reply.nhits = TRAWL_MAX_K + 1;
	m.u.search_reply.hits = hits_store;
	enc_fails(&m, TRAWL_ELIMIT);
	m.u.search_reply.nhits = 1;
	m.u.search_reply.hits = NULL;
	enc_fails(&m, TRAWL_EINVAL);
	m.u.search_reply.hits = &hit;
	enc_ok(&m);
	hit.shard = TRAWL_MAX_SHARDS;
	enc_fails(&m, TRAWL_EINVAL);
	hit.shard = 0;
	uint32_t nan = 0x7fc00000u, inf = 0x7f800000u;
	memcpy(&hit.score, &nan, 4);
	enc_fails(&m, TRAWL_EINVAL);
	memcpy(&hit.score, &inf, 4);
	enc_fails(&m, TRAWL_EINVAL);
	hit.score = -0.0f;
	enc_ok(&m);
	/* ids (WIRE_F_IDS): required with the flag, each at most LIMIT_ID_BYTES bytes */
	static char bigid[LIMIT_ID_BYTES + 1];
	memset(bigid, 'i', sizeof bigid);
	const char *idp = bigid;
	uint32_t idlen = LIMIT_ID_BYTES;
	m.h.flags = WIRE_F_IDS;
	enc_fails(&m, TRAWL_EINVAL);
	m.u.search_reply.ids = &idp;
	m.u.search_reply.id_lens = &idlen;
	enc_ok(&m);
	idlen = LIMIT_ID_BYTES + 1;
	enc_fails(&m, TRAWL_ELIMIT);
	idp = NULL;
	idlen = 1;
	enc_fails(&m, TRAWL_EINVAL);
	m.h.flags = 0; /* without the flag the ids are not looked at */
	enc_ok(&m);
	/* a decoded reply is forwarded only if its packed ids match nhits */
	{
		wire_hit two[2] = {hit, hit};
		const char *pair[2] = {"a", "bc"};
		uint32_t pair_lens[2] = {1, 2};
		wire_msg f = {.h = {.type = WIRE_SEARCH_REPLY, .flags = WIRE_F_IDS}};
		f.u.search_reply.nhits = 2;
		f.u.search_reply.hits = two;
		f.u.search_reply.ids = pair;
		f.u.search_reply.id_lens = pair_lens;
		tbuf fb;
		tbuf_init(&fb, 1 << 16);
		assert_int_equal(wire_encode(&fb, &f), TRAWL_OK);
		wire_msg d;
		assert_int_equal(wire_decode(fb.data, fb.len, &d, NULL, 0), TRAWL_OK);
		enc_ok(&d);
		d.u.search_reply.nhits = 1; /* one id too many for nhits */
		enc_fails(&d, TRAWL_EINVAL);
		d.u.search_reply.nhits = 2;
		d.u.search_reply.ids_raw_len -= 1; /* the last id cut short */
		enc_fails(&d, TRAWL_EINVAL);
		tbuf_fini(&fb);
	}
	m.u.search_reply.ids = NULL;
	m.u.search_reply.id_lens = NULL;
	m.u.search_reply.total_relation = 2;
	enc_fails(&m, TRAWL_EINVAL);
	m.u.search_reply.total_relation = 1;
	m.u.search_reply.shards_answered = TRAWL_MAX_SHARDS + 1;
	enc_fails(&m, TRAWL_ELIMIT);

	/* FETCH_REPLY: id, json, snippet and the whole message. */
	static char id[LIMIT_ID_BYTES + 1];
	wire_doc d = {.shard = 1, .id = id, .id_len = LIMIT_ID_BYTES};
	m = (wire_msg){.h = {.type = WIRE_FETCH_REPLY}};
	m.u.fetch_reply.ndocs = 1;
	m.u.fetch_reply.docs = &d;
	enc_ok(&m);
	d.id_len = LIMIT_ID_BYTES + 1;
	enc_fails(&m, TRAWL_ELIMIT);
	d.id_len = 0;
	d.shard = 300;
	enc_fails(&m, TRAWL_EINVAL);
	d.shard = 0;
	m.u.fetch_reply.ndocs = TRAWL_MAX_K + 1;
	enc_fails(&m, TRAWL_ELIMIT);
	m.u.fetch_reply.ndocs = 1;
	m.u.fetch_reply.errmsg = big;
	m.u.fetch_reply.errmsg_len = LIMIT_ERRMSG_BYTES + 1;
	enc_fails(&m, TRAWL_ELIMIT);
	m.u.fetch_reply.errmsg_len = 0;

	char *doc = calloc(1, LIMIT_STORED_DOC_BYTES + 1);
	assert_non_null(doc);
	wire_doc two[2] = {{.json = doc,
	                    .json_len = LIMIT_STORED_DOC_BYTES,
	                    .snippet = doc,
	                    .snippet_len = LIMIT_SNIPPET_BYTES},
	                   {.json = doc, .json_len = LIMIT_STORED_DOC_BYTES}};
	m.u.fetch_reply.docs = two;
	enc_ok(&m); /* one document at both limits */
	two[0].json_len = LIMIT_STORED_DOC_BYTES + 1;
	enc_fails(&m, TRAWL_ELIMIT);
	two[0].json_len = LIMIT_STORED_DOC_BYTES;
	two[0].snippet_len = LIMIT_SNIPPET_BYTES + 1;
	enc_fails(&m, TRAWL_ELIMIT);
	two[0].snippet_len = 0;
	two[0].snippet = NULL;
	two[0].json = NULL;
	enc_fails(&m, TRAWL_EINVAL);
	two[0].json = doc;
	/* Two documents at LIMIT_STORED_DOC_BYTES: each within its limit, together over the
	 * message's. */
	m.u.fetch_reply.ndocs = 2;
	enc_fails(&m, TRAWL_ELIMIT);
	free(doc);

	/* PONG */
	m = (wire_msg){.h = {.type = WIRE_PONG}};
	enc_ok(&m); /* no shards is fine for a PONG */
	m.u.pong.nshards = TRAWL_MAX_SHARDS + 1;
	enc_fails(&m, TRAWL_ELIMIT);
	m.u.pong.nshards = 3;
	m.u.pong.shards[0] = 1;
	m.u.pong.shards[1] = 2;
	m.u.pong.shards[2] = 1;
	enc_fails(&m, TRAWL_EINVAL);
	m.u.pong.shards[2] = 3;
	enc_ok(&m);
	m.u.pong.ready = 2;
	enc_fails(&m, TRAWL_EINVAL);
}

static void test_encode_limits_fetch(void **state)
{
	static char s[LIMIT_MARK_BYTES + 1];
	memset(s, 's', sizeof s);
	wire_docref ref = {.shard = 255, .doc = 9};
	wire_msg base = {.h = {.type = WIRE_FETCH}};
	base.u.fetch = (wire_fetch){.ndocs = 1,
	                            .docs = &ref,
	                            .tree = TREE_A,
	                            .tree_len = sizeof TREE_A,
	                            .field = s,
	                            .field_len = 64,
	                            .pre = s,
	                            .pre_len = 64,
	                            .post = s,
	                            .post_len = 64,
	                            .snippet_chars = 10000};
	wire_msg m = base;
	enc_ok(&m);
	m.u.fetch.ndocs = 0;
	enc_fails(&m, TRAWL_EINVAL);
	m.u.fetch.ndocs = TRAWL_MAX_K + 1;
	m.u.fetch.docs = refs_store;
	enc_fails(&m, TRAWL_ELIMIT);
	m = base;
	m.u.fetch.docs = NULL;
	enc_fails(&m, TRAWL_EINVAL);
	m = base;
	m.u.fetch.tree_len = TRAWL_MAX_QUERY_TREE_BYTES + 1;
	enc_fails(&m, TRAWL_ELIMIT);
	m = base;
	m.u.fetch.tree_len = sizeof TREE_A - 1; /* ends inside the word */
	enc_fails(&m, TRAWL_EINVAL);
	m = base;
	m.u.fetch.field_len = LIMIT_FIELD_NAME_BYTES + 1;
	enc_fails(&m, TRAWL_ELIMIT);
	m = base;
	m.u.fetch.pre_len = LIMIT_MARK_BYTES + 1;
	enc_fails(&m, TRAWL_ELIMIT);
	m = base;
	m.u.fetch.post_len = LIMIT_MARK_BYTES + 1;
	enc_fails(&m, TRAWL_ELIMIT);
	m = base;
	m.u.fetch.snippet_chars = LIMIT_SNIPPET_CHARS + 1;
	enc_fails(&m, TRAWL_ELIMIT);
	m = base;
	ref.shard = 256;
	enc_fails(&m, TRAWL_EINVAL);
	ref.shard = 0;
	m.u.fetch.tree_len = 0; /* no query, no snippets: fine */
	m.u.fetch.field_len = 0;
	m.u.fetch.tree = NULL;
	m.u.fetch.field = NULL;
	enc_ok(&m);
}

/* ---- limits: decoders ---- */

/* A tiny independent writer for hand-made (mostly invalid) messages. */
typedef struct mk {
	uint8_t *b;
	size_t len, cap;
} mk;

static void mk_bytes(mk *m, const void *p, size_t n)
{
	if (m->len + n > m->cap) {
		m->cap = (m->len + n) * 2 + 64;
		m->b = realloc(m->b, m->cap);
		assert_non_null(m->b);
	}
	if (n)
		memcpy(m->b + m->len, p, n);
	m->len += n;
}

static void mk_le(mk *m, uint64_t v, int bytes)
{
	uint8_t t[8];
	for (int i = 0; i < bytes; i++)
		t[i] = (uint8_t)(v >> (8 * i));
	mk_bytes(m, t, (size_t)bytes);
}

static void mk_fill(mk *m, int c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t x = (uint8_t)c;
		mk_bytes(m, &x, 1);
	}
}

static void mk_header(mk *m, int type)
{
	m->len = 0;
	mk_le(m, WIRE_MAGIC, 2);
	mk_le(m, WIRE_VERSION, 1);
	mk_le(m, (uint64_t)type, 1);
	mk_le(m, 0, 2); /* flags */
	mk_le(m, 0, 2); /* reserved */
	mk_le(m, 1, 8);
	mk_le(m, 0, 8);
	mk_le(m, 0, 8);
}

/* mk_search: a SEARCH with the given k and shards, and a tree of qlen
 * bytes: TREE_A when that is its length, else qlen bytes of 'q'. */
static void mk_search(mk *m, uint32_t k, const uint16_t *shards, uint32_t nshards, uint32_t qlen)
{
	mk_header(m, WIRE_SEARCH);
	mk_le(m, k, 4);
	mk_le(m, nshards, 2);
	for (uint32_t i = 0; i < nshards; i++)
		mk_le(m, shards[i], 2);
	mk_le(m, qlen, 4);
	if (qlen == sizeof TREE_A)
		mk_bytes(m, TREE_A, qlen);
	else
		mk_fill(m, 'q', qlen);
}

/* dec_fails: decoding the bytes fails with EINVAL and a message containing want. */
static void dec_fails(const mk *m, const char *want)
{
	uint8_t *copy = malloc(m->len ? m->len : 1);
	assert_non_null(copy);
	memcpy(copy, m->b, m->len);
	char err[256] = "";
	wire_msg d;
	assert_int_equal(wire_decode(copy, m->len, &d, err, sizeof err), TRAWL_EINVAL);
	if (!strstr(err, want))
		fail_msg("error \"%s\" does not contain \"%s\"", err, want);
	/* The type's own decoder says the same. */
	char err2[256] = "";
	if (m->len >= 4 && wire_type_known(m->b[3])) {
		assert_int_equal(decode_as(m->b[3], copy, m->len, &d, err2, sizeof err2),
		                 TRAWL_EINVAL);
		assert_string_equal(err, err2);
	}
	free(copy);
}

static void dec_ok(const mk *m)
{
	wire_msg d;
	char err[256] = "";
	if (wire_decode(m->b, m->len, &d, err, sizeof err) != TRAWL_OK)
		fail_msg("%s", err);
}

static void test_decode_limits_header(void **state)
{
	mk m = {0};
	mk_header(&m, WIRE_PING);
	dec_ok(&m);
	m.b[0] = 'X';
	dec_fails(&m, "header: bad magic 0x5758");
	mk_header(&m, WIRE_PING);
	m.b[2] = 1;
	dec_fails(&m, "header: version 1 is not supported; this build speaks version 3");
	m.b[2] = 2;
	dec_fails(&m, "header: version 2 is not supported; this build speaks version 3");
	m.b[2] = 4;
	dec_fails(&m, "header: version 4 is not supported");
	m.b[2] = 0;
	dec_fails(&m, "version 0");
	mk_header(&m, 0);
	dec_fails(&m, "header: unknown message type 0");
	mk_header(&m, WIRE_SCHEMA_REPLY + 1);
	dec_fails(&m, "unknown message type 11");
	mk_header(&m, WIRE_FILES - 1);
	dec_fails(&m, "unknown message type 18");
	mk_header(&m, WIRE_LAST + 1);
	dec_fails(&m, "unknown message type 23");
	mk_header(&m, 255);
	dec_fails(&m, "unknown message type 255");
	mk_header(&m, WIRE_PING);
	m.b[6] = 1;
	dec_fails(&m, "header: reserved field is 0x0001; it must be 0");
	/* Unknown flags are carried, not refused. */
	mk_header(&m, WIRE_PING);
	m.b[4] = 0xff;
	m.b[5] = 0xff;
	dec_ok(&m);
	m.len = 31;
	dec_fails(&m, "header: the message is 31 bytes; a header alone is 32");
	m.len = 0;
	dec_fails(&m, "the message is 0 bytes");
	/* Trailing bytes after each kind of body. */
	mk_header(&m, WIRE_PING);
	mk_le(&m, 0, 1);
	dec_fails(&m, "PING: the body ends at offset 32 but the message has 33 bytes");
	mk_header(&m, WIRE_CANCEL);
	mk_le(&m, 77, 8);
	dec_ok(&m);
	mk_le(&m, 0, 2);
	dec_fails(&m, "CANCEL: the body ends at offset 40 but the message has 42 bytes");
	/* Type mismatch. */
	mk_header(&m, WIRE_PONG);
	char err[128];
	wire_header h;
	wire_cancel c;
	assert_int_equal(wire_decode_cancel(m.b, m.len, &h, &c, err, sizeof err), TRAWL_EINVAL);
	assert_string_equal(err, "CANCEL: expected a CANCEL message, got PONG (type 6)");
	/* A message over LIMIT_MESSAGE_BYTES is refused before anything is read. */
	uint8_t *huge = calloc(1, (size_t)LIMIT_MESSAGE_BYTES + 1);
	assert_non_null(huge);
	memcpy(huge, m.b, 32);
	assert_int_equal(
	    wire_header_decode(huge, (size_t)LIMIT_MESSAGE_BYTES + 1, &h, err, sizeof err),
	    TRAWL_EINVAL);
	assert_string_equal(err, "header: the message is 134217729 bytes; the limit is 134217728");
	free(huge);
	/* A short err buffer gets a terminated prefix; NULL err is allowed. */
	mk_header(&m, WIRE_LAST + 1);
	char tiny[5] = "xxxx";
	assert_int_equal(wire_header_decode(m.b, m.len, &h, tiny, sizeof tiny), TRAWL_EINVAL);
	assert_string_equal(tiny, "head");
	assert_int_equal(wire_header_decode(m.b, m.len, &h, NULL, 0), TRAWL_EINVAL);
	free(m.b);
}

static void test_decode_limits_search(void **state)
{
	mk m = {0};
	uint16_t sh[TRAWL_MAX_SHARDS + 1];
	const uint32_t a = sizeof TREE_A;
	for (int i = 0; i <= TRAWL_MAX_SHARDS; i++)
		sh[i] = (uint16_t)i;
	mk_search(&m, 10, sh, 2, a);
	dec_ok(&m);
	mk_search(&m, 0, sh, 2, a);
	dec_fails(&m, "SEARCH: k is 0; it must be 1..10000");
	mk_search(&m, TRAWL_MAX_K + 1, sh, 2, a);
	dec_fails(&m, "SEARCH: k is 10001; the limit is 10000");
	mk_search(&m, TRAWL_MAX_K, sh, TRAWL_MAX_SHARDS, a);
	dec_ok(&m);
	mk_search(&m, 10, sh, 0, a);
	dec_fails(&m, "SEARCH: nshards is 0; it must be 1..256");
	mk_search(&m, 10, sh, TRAWL_MAX_SHARDS + 1, a);
	dec_fails(&m, "SEARCH: nshards is 257; the limit is 256");
	uint16_t dup[3] = {4, 9, 4};
	mk_search(&m, 10, dup, 3, a);
	dec_fails(&m, "SEARCH: shard 4 is listed twice (again at shards[2])");
	uint16_t out[2] = {4, 256};
	mk_search(&m, 10, out, 2, a);
	dec_fails(&m, "SEARCH: shards[1] is 256; shard numbers are 0..255");
	mk_search(&m, 10, sh, 2, 70000);
	dec_fails(&m, "SEARCH: tree is 70000 bytes; the limit is 65536");
	mk_search(&m, 10, sh, 2, 0);
	dec_fails(&m, "SEARCH: tree is 0 bytes; it must have 1..65536 bytes");
	/* The tree is checked through: its bytes, rules and limits. */
	mk_search(&m, 10, sh, 2, 9000);
	dec_fails(&m, "SEARCH: the tree at offset 46 is not valid: query tree, offset 0: format "
	              "113 is not supported; this build reads format 2");
	mk_search(&m, 10, sh, 2, a);
	m.b[46 + 10] = 9;
	dec_fails(&m, "SEARCH: the tree at offset 46 is not valid: query tree, offset 10: node 1 "
	              "has an unknown kind");
	mk_search(&m, 10, sh, 2, a);
	m.b[46 + 18] = 0xff;
	dec_fails(&m, "SEARCH: the tree at offset 46 is not valid: query tree, offset 18: node 1 "
	              "has a text that is not valid UTF-8");
	/* A length that promises more than the message has. */
	mk_search(&m, 10, sh, 2, a);
	m.len -= 1;
	dec_fails(&m, "SEARCH: message ends inside tree (19 bytes needed at offset 46; "
	              "the message has 64)");
	/* Huge counts are refused as limits before they are used. */
	mk_search(&m, 10, sh, 2, a);
	m.b[42] = 0xff;
	m.b[43] = 0xff;
	m.b[44] = 0xff;
	m.b[45] = 0xff;
	dec_fails(&m, "SEARCH: tree is 4294967295 bytes; the limit is 65536");
	mk_search(&m, 10, sh, 2, a);
	mk_le(&m, 0, 1);
	dec_fails(&m, "SEARCH: the body ends at offset 65 but the message has 66 bytes");
	free(m.b);
}

static void mk_search_reply(mk *m, uint32_t nhits, uint32_t errlen)
{
	mk_header(m, WIRE_SEARCH_REPLY);
	mk_le(m, 0, 2);
	mk_le(m, 1, 1);
	mk_le(m, 0, 1);
	mk_le(m, 5, 8);
	mk_le(m, 100, 8);
	mk_le(m, 0, 4);
	mk_le(m, 2, 2);
	mk_le(m, 0, 2);
	mk_le(m, nhits, 4);
	for (uint32_t i = 0; i < nhits; i++) {
		mk_le(m, 0x3f800000u, 4); /* 1.0f */
		mk_le(m, i % 256, 2);
		mk_le(m, 0, 2);
		mk_le(m, i, 4);
		mk_le(m, i * 7, 8);
	}
	mk_le(m, errlen, 4);
	mk_fill(m, 'e', errlen);
}

static void test_decode_limits_search_reply(void **state)
{
	mk m = {0};
	mk_search_reply(&m, 3, 4);
	dec_ok(&m);
	mk_search_reply(&m, TRAWL_MAX_K, LIMIT_ERRMSG_BYTES);
	dec_ok(&m);
	mk_search_reply(&m, TRAWL_MAX_K + 1, 0);
	dec_fails(&m, "SEARCH_REPLY: nhits is 10001; the limit is 10000");
	mk_search_reply(&m, 1, LIMIT_ERRMSG_BYTES + 1);
	dec_fails(&m, "SEARCH_REPLY: errmsg is 1025 bytes; the limit is 1024");
	mk_search_reply(&m, 1, 0);
	m.b[34] = 2;
	dec_fails(&m, "SEARCH_REPLY: total_relation is 2; it must be 0 or 1");
	mk_search_reply(&m, 1, 0);
	m.b[35] = 1;
	dec_fails(&m, "SEARCH_REPLY: reserved field at offset 35 is 0x1; it must be 0");
	mk_search_reply(&m, 1, 0);
	m.b[56] = 0x01; /* shards_answered 257 */
	m.b[57] = 0x01;
	dec_fails(&m, "SEARCH_REPLY: shards_answered is 257; the limit is 256");
	mk_search_reply(&m, 1, 0);
	m.b[58] = 1;
	dec_fails(&m, "reserved field at offset 58 is 0x1");
	/* Hit fields: score NaN, shard 256, reserved. */
	mk_search_reply(&m, 2, 0);
	m.b[64 + 20 + 3] = 0x7f;
	m.b[64 + 20 + 2] = 0xc0;
	dec_fails(&m, "SEARCH_REPLY: hits[1] has a score that is not finite (0x7fc00000)");
	mk_search_reply(&m, 2, 0);
	m.b[64 + 5] = 1;
	dec_fails(&m, "SEARCH_REPLY: hits[0] has shard 256; shard numbers are 0..255");
	mk_search_reply(&m, 2, 0);
	m.b[64 + 20 + 6] = 1;
	dec_fails(&m, "SEARCH_REPLY: hits[1] has reserved field 0x0001; it must be 0");
	/* nhits promising more hits than there are bytes */
	mk_search_reply(&m, 2, 0);
	m.b[60] = 200;
	dec_fails(&m, "SEARCH_REPLY: message ends inside hits");
	/* ids (WIRE_F_IDS): a length past the limit, a message ending inside an
	 * id, bytes after the last id, and the ids read back */
	mk_search_reply(&m, 2, 0);
	m.b[4] = WIRE_F_IDS;
	mk_le(&m, 3, 2);
	mk_fill(&m, 'a', 3);
	mk_le(&m, 0, 2); /* an empty id */
	dec_ok(&m);
	wire_header h;
	wire_search_reply r;
	assert_int_equal(wire_decode_search_reply(m.b, m.len, &h, &r, NULL, 0), TRAWL_OK);
	const char *ids[2];
	uint32_t lens[2];
	assert_int_equal(wire_search_reply_ids(&r, ids, lens), TRAWL_OK);
	assert_bytes_eq(ids[0], lens[0], "aaa", 3);
	assert_int_equal(lens[1], 0);
	mk_le(&m, 0, 1);
	dec_fails(&m, "SEARCH_REPLY: the body ends at offset");
	mk_search_reply(&m, 2, 0);
	m.b[4] = WIRE_F_IDS;
	mk_le(&m, 3, 2);
	mk_fill(&m, 'a', 3);
	dec_fails(&m, "SEARCH_REPLY: message ends inside the length of ids[1]");
	mk_le(&m, 5, 2);
	mk_fill(&m, 'b', 4);
	dec_fails(&m, "SEARCH_REPLY: message ends inside ids[1]");
	mk_search_reply(&m, 1, 0);
	m.b[4] = WIRE_F_IDS;
	mk_le(&m, LIMIT_ID_BYTES + 1, 2);
	mk_fill(&m, 'a', LIMIT_ID_BYTES + 1);
	dec_fails(&m, "SEARCH_REPLY: ids[0] is 513 bytes; the limit is 512");
	free(m.b);
}

/* mk_fetch_reply: one document with the given lengths. */
static void mk_fetch_reply(mk *m, uint32_t idlen, uint32_t jsonlen, uint32_t sniplen)
{
	mk_header(m, WIRE_FETCH_REPLY);
	mk_le(m, 0, 2);
	mk_le(m, 0, 2);
	mk_le(m, 1, 4);
	mk_le(m, 3, 2);
	mk_le(m, TRAWL_ENOTFOUND, 2);
	mk_le(m, 99, 4);
	mk_le(m, idlen, 4);
	mk_fill(m, 'i', idlen);
	mk_le(m, jsonlen, 4);
	mk_fill(m, 'j', jsonlen);
	mk_le(m, sniplen, 4);
	mk_fill(m, 's', sniplen);
	mk_le(m, 0, 4);
}

static void test_decode_limits_fetch_reply(void **state)
{
	mk m = {0};
	mk_fetch_reply(&m, LIMIT_ID_BYTES, 100, 100);
	dec_ok(&m);
	mk_fetch_reply(&m, LIMIT_ID_BYTES + 1, 100, 100);
	dec_fails(&m, "FETCH_REPLY: docs[0].id is 513 bytes; the limit is 512");
	mk_fetch_reply(&m, 1, 0, LIMIT_SNIPPET_BYTES + 1);
	dec_fails(&m, "FETCH_REPLY: docs[0].snippet is 1048577 bytes; the limit is 1048576");
	mk_fetch_reply(&m, 1, 0, 0);
	uint32_t big = LIMIT_STORED_DOC_BYTES + 1;
	memcpy(m.b + 52 + 1, &big, 4); /* the json length of docs[0] */
	dec_fails(&m, "FETCH_REPLY: docs[0].json is 67108865 bytes; the limit is 67108864");
	mk_fetch_reply(&m, 1, 0, 0);
	m.b[40] = 0; /* shard 256 */
	m.b[41] = 1;
	dec_fails(&m, "FETCH_REPLY: docs[0] has shard 256");
	mk_fetch_reply(&m, 1, 0, 0);
	m.b[34] = 1;
	dec_fails(&m, "FETCH_REPLY: reserved field at offset 34");
	mk_fetch_reply(&m, 1, 0, 0);
	m.b[36] = 0x11; /* ndocs 10001 = 0x2711 */
	m.b[37] = 0x27;
	dec_fails(&m, "FETCH_REPLY: ndocs is 10001; the limit is 10000");
	mk_fetch_reply(&m, 1, 0, 0);
	m.b[36] = 2;
	dec_fails(&m, "FETCH_REPLY: message ends inside docs[1]");
	free(m.b);
}

static void test_decode_limits_fetch_pong(void **state)
{
	mk m = {0};
	/* FETCH: one docref, then the strings. */
	mk_header(&m, WIRE_FETCH);
	mk_le(&m, 1, 4);
	mk_le(&m, 7, 2);
	mk_le(&m, 0, 2);
	mk_le(&m, 8, 4);
	size_t after_docs = m.len;
	mk_le(&m, 0, 4);
	mk_le(&m, 0, 4);
	mk_le(&m, 0, 2);
	mk_le(&m, 0, 2);
	mk_le(&m, 200, 4);
	dec_ok(&m);
	mk tmp = {0};
	mk_bytes(&tmp, m.b, m.len);
	tmp.b[32] = 0;
	dec_fails(&tmp, "FETCH: ndocs is 0; it must be 1..10000");
	memcpy(tmp.b, m.b, m.len);
	tmp.b[38] = 1;
	dec_fails(&tmp, "FETCH: docs[0] has reserved field 0x0001");
	memcpy(tmp.b, m.b, m.len);
	tmp.b[after_docs + 10] = 65; /* post_len */
	dec_fails(&tmp, "FETCH: post is 65 bytes; the limit is 64");
	memcpy(tmp.b, m.b, m.len);
	tmp.b[after_docs + 8] = 65; /* pre_len */
	dec_fails(&tmp, "FETCH: pre is 65 bytes; the limit is 64");
	memcpy(tmp.b, m.b, m.len);
	tmp.b[after_docs + 4] = 65; /* field_len */
	dec_fails(&tmp, "FETCH: field is 65 bytes; the limit is 64");
	memcpy(tmp.b, m.b, m.len);
	tmp.b[after_docs + 2] = 0x02; /* tree_len 131072 */
	dec_fails(&tmp, "FETCH: tree is 131072 bytes; the limit is 65536");
	memcpy(tmp.b, m.b, m.len);
	tmp.b[after_docs] = 4; /* tree_len 4, and 4 bytes that are no tree */
	dec_fails(&tmp, "FETCH: the tree at offset 48 is not valid: query tree, offset 0: format 0 "
	                "is not supported");
	memcpy(tmp.b, m.b, m.len);
	tmp.b[after_docs + 12] = 0x11; /* snippet_chars 10001 */
	tmp.b[after_docs + 13] = 0x27;
	dec_fails(&tmp, "FETCH: snippet_chars is 10001; the limit is 10000");
	free(tmp.b);

	/* PONG */
	mk_header(&m, WIRE_PONG);
	mk_le(&m, 3, 8);
	mk_le(&m, 0, 4);
	mk_le(&m, 2, 2);
	mk_le(&m, 0, 2);
	mk_le(&m, 255, 2);
	mk_le(&m, 1, 1);
	dec_ok(&m);
	m.b[m.len - 1] = 2;
	dec_fails(&m, "PONG: ready is 2; it must be 0 or 1");
	m.b[m.len - 1] = 1;
	m.b[46] = 255;
	dec_fails(&m, "PONG: shard 255 is listed twice");
	m.b[44] = 1;
	m.b[45] = 1;
	dec_fails(&m, "PONG: nshards is 257; the limit is 256");
	free(m.b);
}

static void test_limits_get(void **state)
{
	static char id[LIMIT_ID_BYTES + 1];
	memset(id, 'i', sizeof id);
	wire_msg m = {.h = {.type = WIRE_GET}};
	m.u.get = (wire_get){.shard = 255, .id = id, .id_len = LIMIT_ID_BYTES};
	enc_ok(&m);
	m.u.get.id_len = LIMIT_ID_BYTES + 1;
	enc_fails(&m, TRAWL_ELIMIT);
	m.u.get.id_len = 0;
	enc_fails(&m, TRAWL_EINVAL);
	m.u.get.id_len = 1;
	m.u.get.shard = 256;
	enc_fails(&m, TRAWL_EINVAL);

	mk b = {0};
	mk_header(&b, WIRE_GET);
	mk_le(&b, 9, 2);
	mk_le(&b, 0, 2);
	mk_le(&b, 3, 4);
	mk_fill(&b, 'x', 3);
	dec_ok(&b);
	b.b[34] = 1;
	dec_fails(&b, "GET: reserved field at offset 34 is 0x1; it must be 0");
	b.b[34] = 0;
	b.b[33] = 1; /* shard 265 */
	dec_fails(&b, "GET: shard is 265; shard numbers are 0..255");
	b.b[33] = 0;
	b.b[36] = 0;
	b.len = 40;
	dec_fails(&b, "GET: id is 0 bytes; it must have 1..512 bytes");
	mk_header(&b, WIRE_GET);
	mk_le(&b, 9, 2);
	mk_le(&b, 0, 2);
	mk_le(&b, LIMIT_ID_BYTES + 1, 4);
	mk_fill(&b, 'x', LIMIT_ID_BYTES + 1);
	dec_fails(&b, "GET: id is 513 bytes; the limit is 512");
	free(b.b);
}

/* SCHEMA is a header alone; SCHEMA_REPLY's schema and message are bounded
 * on both sides, and its bytes are pinned. */
static void test_schema(void **state)
{
	static char big[LIMIT_SCHEMA_JSON_BYTES + 1];
	memset(big, '{', sizeof big);
	wire_msg m = {.h = {.type = WIRE_SCHEMA_REPLY}};
	m.u.schema_reply =
	    (wire_schema_reply){.schema = big, .schema_len = LIMIT_SCHEMA_JSON_BYTES};
	enc_ok(&m);
	m.u.schema_reply.schema_len = LIMIT_SCHEMA_JSON_BYTES + 1;
	enc_fails(&m, TRAWL_ELIMIT);
	m.u.schema_reply.schema_len = 1;
	m.u.schema_reply.errmsg_len = LIMIT_ERRMSG_BYTES + 1;
	m.u.schema_reply.errmsg = big;
	enc_fails(&m, TRAWL_ELIMIT);
	m.u.schema_reply.errmsg_len = 0;
	m.u.schema_reply.schema = NULL;
	enc_fails(&m, TRAWL_EINVAL);

	/* golden: generation 7, request 2, status 0, the schema {"a":1} */
	tbuf b;
	tbuf_init(&b, 1 << 16);
	wire_header h = {.request_id = 2, .generation = 7};
	wire_schema_reply r = {.schema = "{\"a\":1}", .schema_len = 7};
	assert_int_equal(wire_encode_schema_reply(&b, &h, &r), TRAWL_OK);
	uint8_t want[64];
	size_t n = unhex("54 57 03 0a 00 00 00 00  02 00 00 00 00 00 00 00"
	                 "00 00 00 00 00 00 00 00  07 00 00 00 00 00 00 00"
	                 "00 00 00 00 07 00 00 00  7b 22 61 22 3a 31 7d 00 00 00 00",
	                 want);
	assert_int_equal(b.len, n);
	assert_memory_equal(b.data, want, n);
	tbuf_reset(&b);
	assert_int_equal(wire_encode_schema(&b, &h), TRAWL_OK);
	assert_int_equal(b.len, WIRE_HEADER_BYTES);
	assert_int_equal(b.data[3], WIRE_SCHEMA);
	tbuf_fini(&b);

	mk d = {0};
	mk_header(&d, WIRE_SCHEMA);
	dec_ok(&d);
	mk_le(&d, 0, 1);
	dec_fails(&d, "SCHEMA: the body ends at offset 32 but the message has 33 bytes");
	mk_header(&d, WIRE_SCHEMA_REPLY);
	mk_le(&d, TRAWL_ENOTFOUND, 2);
	mk_le(&d, 0, 2);
	mk_le(&d, 0, 4);
	mk_le(&d, 3, 4);
	mk_fill(&d, 'x', 3);
	dec_ok(&d);
	d.b[34] = 1;
	dec_fails(&d, "SCHEMA_REPLY: reserved field at offset 34 is 0x1; it must be 0");
	mk_header(&d, WIRE_SCHEMA_REPLY);
	mk_le(&d, 0, 4);
	mk_le(&d, LIMIT_SCHEMA_JSON_BYTES + 1, 4);
	dec_fails(&d, "SCHEMA_REPLY: schema is 65537 bytes; the limit is 65536");
	mk_header(&d, WIRE_SCHEMA_REPLY);
	mk_le(&d, 0, 4);
	mk_le(&d, 2, 4);
	mk_fill(&d, 'x', 2);
	mk_le(&d, LIMIT_ERRMSG_BYTES + 1, 4);
	dec_fails(&d, "SCHEMA_REPLY: errmsg is 1025 bytes; the limit is 1024");
	mk_header(&d, WIRE_SCHEMA_REPLY);
	mk_le(&d, 0, 4);
	mk_le(&d, 5, 4);
	mk_fill(&d, 'x', 2);
	dec_fails(&d, "SCHEMA_REPLY: message ends inside schema");
	free(d.b);
}

/* FILES is a header alone; FILES_REPLY's manifest, checksum and message,
 * FILE_READ's length and name, and FILE_READ_REPLY's bytes are bounded on
 * both sides; a name that could leave the generation's directory is
 * refused by both; the bytes are pinned. */
static void test_files(void **state)
{
	char *big = malloc((size_t)LIMIT_MANIFEST_BYTES + 1);
	assert_non_null(big);
	memset(big, 'x', (size_t)LIMIT_MANIFEST_BYTES + 1);
	wire_msg m = {.h = {.type = WIRE_FILES_REPLY}};
	m.u.files_reply = (wire_files_reply){.manifest = big,
	                                     .manifest_len = LIMIT_MANIFEST_BYTES,
	                                     .sum = big,
	                                     .sum_len = WIRE_MANIFEST_SUM_BYTES};
	enc_ok(&m);
	m.u.files_reply.manifest_len = LIMIT_MANIFEST_BYTES + 1;
	enc_fails(&m, TRAWL_ELIMIT);
	m.u.files_reply.manifest_len = 3;
	m.u.files_reply.sum_len = WIRE_MANIFEST_SUM_BYTES + 1;
	enc_fails(&m, TRAWL_ELIMIT);
	m.u.files_reply.sum_len = 0;
	m.u.files_reply.errmsg = big;
	m.u.files_reply.errmsg_len = LIMIT_ERRMSG_BYTES + 1;
	enc_fails(&m, TRAWL_ELIMIT);
	m.u.files_reply.errmsg_len = 0;
	m.u.files_reply.manifest = NULL;
	enc_fails(&m, TRAWL_EINVAL);

	m = (wire_msg){.h = {.type = WIRE_FILE_READ}};
	m.u.file_read = (wire_file_read){
	    .max_len = LIMIT_FILE_READ_BYTES, .name = "shard-000.mdb", .name_len = 13};
	enc_ok(&m);
	m.u.file_read.max_len = LIMIT_FILE_READ_BYTES + 1;
	enc_fails(&m, TRAWL_ELIMIT);
	m.u.file_read.max_len = 0;
	enc_fails(&m, TRAWL_EINVAL);
	m.u.file_read.max_len = 1;
	static const char *bad_names[] = {"../CURRENT", "..", ".", ".lock", "a/b", "/etc"};
	for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
		m.u.file_read.name = bad_names[i];
		m.u.file_read.name_len = (uint8_t)strlen(bad_names[i]);
		enc_fails(&m, TRAWL_EINVAL);
	}
	m.u.file_read.name = "a\0b";
	m.u.file_read.name_len = 3;
	enc_fails(&m, TRAWL_EINVAL);
	m.u.file_read.name = big;
	m.u.file_read.name_len = LIMIT_GEN_FILE_NAME_BYTES;
	enc_ok(&m);
	m.u.file_read.name_len = LIMIT_GEN_FILE_NAME_BYTES + 1;
	enc_fails(&m, TRAWL_ELIMIT);
	m.u.file_read.name_len = 0;
	enc_fails(&m, TRAWL_EINVAL);
	m.u.file_read.name = NULL;
	m.u.file_read.name_len = 2;
	enc_fails(&m, TRAWL_EINVAL);

	m = (wire_msg){.h = {.type = WIRE_FILE_READ_REPLY}};
	m.u.file_read_reply = (wire_file_read_reply){
	    .data = (const uint8_t *)big, .data_len = LIMIT_FILE_READ_BYTES, .size = 1ull << 40};
	enc_ok(&m);
	m.u.file_read_reply.data_len = LIMIT_FILE_READ_BYTES + 1;
	enc_fails(&m, TRAWL_ELIMIT);
	m.u.file_read_reply.data = NULL;
	m.u.file_read_reply.data_len = 1;
	enc_fails(&m, TRAWL_EINVAL);
	free(big);

	/* golden bytes: a FILES of generation 0 (the live one), a FILES_REPLY
	 * of generation 5 with "{}" and a 2-byte sum "a\n", a FILE_READ of 16
	 * bytes at 4096 of "s0", and its reply: file size 4100, "abcd" */
	tbuf b;
	tbuf_init(&b, 1 << 16);
	wire_header h = {.request_id = 3};
	uint8_t want[128];
	assert_int_equal(wire_encode_files(&b, &h), TRAWL_OK);
	size_t n = unhex("54 57 03 13 00 00 00 00  03 00 00 00 00 00 00 00"
	                 "00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00",
	                 want);
	assert_int_equal(b.len, n);
	assert_memory_equal(b.data, want, n);
	tbuf_reset(&b);
	h.generation = 5;
	wire_files_reply fr = {.manifest = "{}", .manifest_len = 2, .sum = "a\n", .sum_len = 2};
	assert_int_equal(wire_encode_files_reply(&b, &h, &fr), TRAWL_OK);
	n = unhex("54 57 03 14 00 00 00 00  03 00 00 00 00 00 00 00"
	          "00 00 00 00 00 00 00 00  05 00 00 00 00 00 00 00"
	          "00 00 00 00 02 00 00 00  7b 7d 02 61 0a 00 00 00 00",
	          want);
	assert_int_equal(b.len, n);
	assert_memory_equal(b.data, want, n);
	tbuf_reset(&b);
	wire_file_read rd = {.offset = 4096, .max_len = 16, .name = "s0", .name_len = 2};
	assert_int_equal(wire_encode_file_read(&b, &h, &rd), TRAWL_OK);
	n = unhex("54 57 03 15 00 00 00 00  03 00 00 00 00 00 00 00"
	          "00 00 00 00 00 00 00 00  05 00 00 00 00 00 00 00"
	          "00 10 00 00 00 00 00 00  10 00 00 00 02 73 30",
	          want);
	assert_int_equal(b.len, n);
	assert_memory_equal(b.data, want, n);
	tbuf_reset(&b);
	wire_file_read_reply rr = {.size = 4100, .data = (const uint8_t *)"abcd", .data_len = 4};
	assert_int_equal(wire_encode_file_read_reply(&b, &h, &rr), TRAWL_OK);
	n = unhex("54 57 03 16 00 00 00 00  03 00 00 00 00 00 00 00"
	          "00 00 00 00 00 00 00 00  05 00 00 00 00 00 00 00"
	          "00 00 00 00 04 10 00 00  00 00 00 00 04 00 00 00"
	          "61 62 63 64 00 00 00 00",
	          want);
	assert_int_equal(b.len, n);
	assert_memory_equal(b.data, want, n);
	tbuf_fini(&b);

	/* decoders: the same bounds, and names that leave the directory */
	mk d = {0};
	mk_header(&d, WIRE_FILES);
	dec_ok(&d);
	mk_le(&d, 0, 1);
	dec_fails(&d, "FILES: the body ends at offset 32 but the message has 33 bytes");
	mk_header(&d, WIRE_FILES_REPLY);
	mk_le(&d, 0, 4);
	mk_le(&d, LIMIT_MANIFEST_BYTES + 1, 4);
	dec_fails(&d, "FILES_REPLY: manifest is 33554433 bytes; the limit is 33554432");
	mk_header(&d, WIRE_FILES_REPLY);
	mk_le(&d, 0, 4);
	mk_le(&d, 1, 4);
	mk_fill(&d, '{', 1);
	mk_le(&d, WIRE_MANIFEST_SUM_BYTES + 1, 1);
	dec_fails(&d, "FILES_REPLY: sum is 34 bytes; the limit is 33");
	mk_header(&d, WIRE_FILES_REPLY);
	mk_le(&d, 0, 2);
	mk_le(&d, 1, 2);
	dec_fails(&d, "FILES_REPLY: reserved field at offset 34 is 0x1; it must be 0");
	mk_header(&d, WIRE_FILES_REPLY);
	mk_le(&d, 0, 4);
	mk_le(&d, 0, 4);
	mk_le(&d, 0, 1);
	mk_le(&d, LIMIT_ERRMSG_BYTES + 1, 4);
	dec_fails(&d, "FILES_REPLY: errmsg is 1025 bytes; the limit is 1024");
	static const struct {
		const char *name, *why;
	} refused[] = {{"../CURRENT", "name starts with '.'"},
	               {"..", "name starts with '.'"},
	               {"a/../b", "name has a '/' at byte 1"},
	               {"/etc/passwd", "name has a '/' at byte 0"}};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		mk_header(&d, WIRE_FILE_READ);
		mk_le(&d, 0, 8);
		mk_le(&d, 1, 4);
		mk_le(&d, strlen(refused[i].name), 1);
		mk_bytes(&d, refused[i].name, strlen(refused[i].name));
		dec_fails(&d, refused[i].why);
	}
	mk_header(&d, WIRE_FILE_READ);
	mk_le(&d, 0, 8);
	mk_le(&d, 1, 4);
	mk_le(&d, 3, 1);
	mk_bytes(&d, "a\0b", 3);
	dec_fails(&d, "FILE_READ: name has a NUL at byte 1");
	mk_header(&d, WIRE_FILE_READ);
	mk_le(&d, 0, 8);
	mk_le(&d, LIMIT_FILE_READ_BYTES + 1, 4);
	dec_fails(&d, "FILE_READ: max_len is 4194305 bytes; the limit is 4194304");
	mk_header(&d, WIRE_FILE_READ);
	mk_le(&d, 0, 8);
	mk_le(&d, 0, 4);
	dec_fails(&d, "FILE_READ: max_len is 0 bytes; it must have 1..4194304 bytes");
	mk_header(&d, WIRE_FILE_READ);
	mk_le(&d, 0, 8);
	mk_le(&d, 1, 4);
	mk_le(&d, 0, 1);
	dec_fails(&d, "FILE_READ: name is 0 bytes");
	mk_header(&d, WIRE_FILE_READ);
	mk_le(&d, 0, 8);
	mk_le(&d, 1, 4);
	mk_le(&d, LIMIT_GEN_FILE_NAME_BYTES + 1, 1);
	dec_fails(&d, "FILE_READ: name is 48 bytes; the limit is 47");
	mk_header(&d, WIRE_FILE_READ_REPLY);
	mk_le(&d, 0, 4);
	mk_le(&d, 9, 8);
	mk_le(&d, LIMIT_FILE_READ_BYTES + 1, 4);
	dec_fails(&d, "FILE_READ_REPLY: data is 4194305 bytes; the limit is 4194304");
	mk_header(&d, WIRE_FILE_READ_REPLY);
	mk_le(&d, 0, 4);
	mk_le(&d, 9, 8);
	mk_le(&d, 5, 4);
	mk_fill(&d, 'x', 4);
	dec_fails(&d, "FILE_READ_REPLY: message ends inside data");
	free(d.b);
}

/* Sorts: each rule of a sort key, search_after and a hit's sort values is
 * refused by the encoder (the struct) and by the decoder (the bytes). */
static void test_sort_refusals(void **state)
{
	tbuf b;
	tbuf_init(&b, LIMIT_MESSAGE_BYTES);
	char err[256];
	wire_header h = {.flags = WIRE_F_SORT, .request_id = 7};
	wire_search s = {.k = 10, .nshards = 1, .tree = trees[1].data,
	                 .tree_len = (uint32_t)trees[1].len, .nsort = 1};
	s.sort[0] = (wire_sortkey){WIRE_SORT_DESC, 4, "date"};
	assert_int_equal(wire_encode_search(&b, &h, &s), TRAWL_OK);
	wire_search d;
	wire_header hd;
	assert_int_equal(wire_decode_search(b.data, b.len, &hd, &d, err, sizeof err), TRAWL_OK);
	assert_int_equal(d.nsort, 1);
	assert_bytes_eq(d.sort[0].field, d.sort[0].field_len, "date", 4);
	/* the key's flags byte: before its length, its 4-byte name and after's
	 * u32 length (after is empty) */
	size_t flags_at = b.len - 4 - 4 - 1 - 1;
	assert_int_equal(b.data[flags_at], WIRE_SORT_DESC);
	wire_search x = s;
	x.sort[0].flags = WIRE_SORT_MIN | WIRE_SORT_MAX;
	tbuf_reset(&b);
	assert_int_equal(wire_encode_search(&b, &h, &x), TRAWL_EINVAL);
	x = s;
	x.sort[0].flags = 0x10;
	assert_int_equal(wire_encode_search(&b, &h, &x), TRAWL_EINVAL);
	x = s;
	x.nsort = 0;
	assert_int_equal(wire_encode_search(&b, &h, &x), TRAWL_EINVAL);
	x = s;
	x.nsort = LIMIT_SORT_KEYS + 1;
	assert_int_equal(wire_encode_search(&b, &h, &x), TRAWL_ELIMIT);
	x = s;
	x.sort[0].field = "da te";
	x.sort[0].field_len = 5;
	assert_int_equal(wire_encode_search(&b, &h, &x), TRAWL_EINVAL);
	x = s;
	x.after_len = LIMIT_SORT_JSON_BYTES + 1;
	x.after = rnd_str(x.after_len);
	assert_int_equal(wire_encode_search(&b, &h, &x), TRAWL_ELIMIT);
	/* the same in bytes */
	assert_int_equal(wire_encode_search(&b, &h, &s), TRAWL_OK);
	b.data[flags_at] = WIRE_SORT_MIN | WIRE_SORT_MAX;
	err[0] = 0;
	assert_int_equal(wire_decode_search(b.data, b.len, &hd, &d, err, sizeof err), TRAWL_EINVAL);
	assert_non_null(strstr(err, "sort[0] has flags 0x0c"));
	b.data[flags_at] = WIRE_SORT_DESC;
	b.data[flags_at + 2] = ' '; /* "date" -> " ate" */
	assert_int_equal(wire_decode_search(b.data, b.len, &hd, &d, err, sizeof err), TRAWL_EINVAL);
	assert_non_null(strstr(err, "sort[0].field has byte 0x20"));
	b.data[flags_at + 2] = 'd';
	b.data[flags_at - 1] = 0; /* nsort 0 */
	assert_int_equal(wire_decode_search(b.data, b.len, &hd, &d, err, sizeof err), TRAWL_EINVAL);
	assert_non_null(strstr(err, "nsort is 0"));

	/* a reply's sort values */
	wire_hit hit = {1.5f, 3, 42, 99};
	wire_sortval v = {.missing = 2, .v = {5, 0}, .json = "[5,null,\"99\"]", .json_len = 14};
	wire_search_reply r = {.nhits = 1, .hits = &hit, .nsort = 2, .sorts = &v};
	tbuf_reset(&b);
	assert_int_equal(wire_encode_search_reply(&b, &h, &r), TRAWL_OK);
	wire_search_reply rd;
	assert_int_equal(wire_decode_search_reply(b.data, b.len, &hd, &rd, err, sizeof err),
	                 TRAWL_OK);
	wire_sortval got;
	assert_int_equal(wire_search_reply_sorts(&rd, &got), TRAWL_OK);
	assert_int_equal(got.missing, 2);
	assert_true(got.v[0] == 5);
	assert_bytes_eq(got.json, got.json_len, v.json, v.json_len);
	wire_search_reply bad_r = r;
	wire_sortval bv = v;
	bad_r.sorts = &bv;
	bv.missing = 4; /* key 2 of a 2-key sort */
	assert_int_equal(wire_encode_search_reply(&b, &h, &bad_r), TRAWL_EINVAL);
	bv = v;
	bv.json_len = 0;
	assert_int_equal(wire_encode_search_reply(&b, &h, &bad_r), TRAWL_EINVAL);
	/* bytes: missing is 1 + 16 + 2 + 14 bytes from the end */
	tbuf_reset(&b);
	assert_int_equal(wire_encode_search_reply(&b, &h, &r), TRAWL_OK);
	b.data[b.len - 14 - 2 - 16 - 1] = 0x80;
	assert_int_equal(wire_decode_search_reply(b.data, b.len, &hd, &rd, err, sizeof err),
	                 TRAWL_EINVAL);
	assert_non_null(strstr(err, "sorts[0] marks key bits 0x80 missing"));
	/* without the flag a reply carries none */
	wire_search_reply plain = {.nhits = 1, .hits = &hit};
	assert_int_equal(wire_search_reply_sorts(&plain, &got), TRAWL_EINVAL);
	tbuf_fini(&b);
}

/* Aggregations: the spec after the sort part of SEARCH and the partial
 * after the sort values of SEARCH_REPLY round-trip; empty or oversized ones
 * and truncated bytes are refused. */
static void test_aggs(void **state)
{
	tbuf b;
	tbuf_init(&b, LIMIT_MESSAGE_BYTES);
	char err[256];
	const char *spec = "{\"a\":{\"terms\":{\"field\":\"tag\"}}}";
	wire_header h = {.flags = WIRE_F_SORT | WIRE_F_AGGS, .request_id = 9};
	wire_search s = {.k = 1,
	                 .nshards = 1,
	                 .tree = trees[1].data,
	                 .tree_len = (uint32_t)trees[1].len,
	                 .nsort = 1,
	                 .aggs = spec,
	                 .aggs_len = (uint32_t)strlen(spec)};
	s.sort[0] = (wire_sortkey){0, 4, "date"};
	assert_int_equal(wire_encode_search(&b, &h, &s), TRAWL_OK);
	wire_search d;
	wire_header hd;
	assert_int_equal(wire_decode_search(b.data, b.len, &hd, &d, err, sizeof err), TRAWL_OK);
	assert_bytes_eq(d.aggs, d.aggs_len, spec, strlen(spec));
	assert_int_equal(d.nsort, 1);
	/* the last 4 + len bytes are the spec */
	assert_int_equal(b.data[b.len - strlen(spec) - 4], (uint8_t)strlen(spec));
	/* without the flag: no spec read or written */
	wire_header h0 = {.request_id = 9};
	tbuf_reset(&b);
	assert_int_equal(wire_encode_search(&b, &h0, &s), TRAWL_OK);
	assert_int_equal(wire_decode_search(b.data, b.len, &hd, &d, err, sizeof err), TRAWL_OK);
	assert_null(d.aggs);
	/* refusals: empty, over the limit, truncated, a length past the end */
	wire_search x = s;
	x.aggs_len = 0;
	assert_int_equal(wire_encode_search(&b, &h, &x), TRAWL_EINVAL);
	x.aggs = NULL;
	x.aggs_len = 3;
	assert_int_equal(wire_encode_search(&b, &h, &x), TRAWL_EINVAL);
	x = s;
	x.aggs_len = LIMIT_AGG_SPEC_BYTES + 1; /* refused by its length: never read */
	assert_int_equal(wire_encode_search(&b, &h, &x), TRAWL_ELIMIT);
	tbuf_reset(&b);
	assert_int_equal(wire_encode_search(&b, &h, &s), TRAWL_OK);
	size_t at = b.len - strlen(spec) - 4;
	b.data[at] = 0;
	assert_int_equal(wire_decode_search(b.data, b.len, &hd, &d, err, sizeof err), TRAWL_EINVAL);
	b.data[at] = 0xff;
	assert_int_not_equal(wire_decode_search(b.data, b.len, &hd, &d, err, sizeof err), TRAWL_OK);
	b.data[at] = 0xff;
	b.data[at + 3] = 0x7f;
	err[0] = 0;
	assert_int_not_equal(wire_decode_search(b.data, b.len, &hd, &d, err, sizeof err), TRAWL_OK);
	assert_non_null(strstr(err, "aggs"));

	/* a reply's partial */
	const char *part = "{\"b\":[]}";
	wire_hit hit = {1.5f, 3, 42, 99};
	wire_header rh = {.flags = WIRE_F_AGGS, .request_id = 9};
	wire_search_reply r = {
	    .nhits = 1, .hits = &hit, .aggs = part, .aggs_len = (uint32_t)strlen(part)};
	tbuf_reset(&b);
	assert_int_equal(wire_encode_search_reply(&b, &rh, &r), TRAWL_OK);
	wire_search_reply rd;
	assert_int_equal(wire_decode_search_reply(b.data, b.len, &hd, &rd, err, sizeof err),
	                 TRAWL_OK);
	assert_bytes_eq(rd.aggs, rd.aggs_len, part, strlen(part));
	/* forwarded as decoded */
	tbuf c;
	tbuf_init(&c, LIMIT_MESSAGE_BYTES);
	assert_int_equal(wire_encode_search_reply(&c, &rh, &rd), TRAWL_OK);
	assert_int_equal(c.len, b.len);
	assert_memory_equal(c.data, b.data, b.len);
	tbuf_fini(&c);
	wire_search_reply br = r;
	br.aggs_len = 0;
	assert_int_equal(wire_encode_search_reply(&b, &rh, &br), TRAWL_EINVAL);
	br.aggs_len = LIMIT_AGG_PARTIAL_BYTES + 1;
	assert_int_equal(wire_encode_search_reply(&b, &rh, &br), TRAWL_ELIMIT);
	tbuf_reset(&b);
	assert_int_equal(wire_encode_search_reply(&b, &rh, &r), TRAWL_OK);
	assert_int_not_equal(wire_decode_search_reply(b.data, b.len - 1, &hd, &rd, err, sizeof err),
	                     TRAWL_OK);
	tbuf_fini(&b);
}

static void test_type_names(void **state)
{
	assert_string_equal(wire_type_name(WIRE_SEARCH), "SEARCH");
	assert_string_equal(wire_type_name(WIRE_SEARCH_REPLY), "SEARCH_REPLY");
	assert_string_equal(wire_type_name(WIRE_FETCH), "FETCH");
	assert_string_equal(wire_type_name(WIRE_FETCH_REPLY), "FETCH_REPLY");
	assert_string_equal(wire_type_name(WIRE_PING), "PING");
	assert_string_equal(wire_type_name(WIRE_PONG), "PONG");
	assert_string_equal(wire_type_name(WIRE_CANCEL), "CANCEL");
	assert_string_equal(wire_type_name(0), "unknown");
	assert_string_equal(wire_type_name(WIRE_GET), "GET");
	assert_string_equal(wire_type_name(WIRE_SCHEMA), "SCHEMA");
	assert_string_equal(wire_type_name(WIRE_SCHEMA_REPLY), "SCHEMA_REPLY");
	assert_string_equal(wire_type_name(WIRE_FILES), "FILES");
	assert_string_equal(wire_type_name(WIRE_FILES_REPLY), "FILES_REPLY");
	assert_string_equal(wire_type_name(WIRE_FILE_READ), "FILE_READ");
	assert_string_equal(wire_type_name(WIRE_FILE_READ_REPLY), "FILE_READ_REPLY");
	assert_string_equal(wire_type_name(WIRE_SCHEMA_REPLY + 1), "unknown");
	assert_string_equal(wire_type_name(WIRE_FILES - 1), "unknown");
	for (int t = -1; t < 300; t++)
		assert_int_equal(wire_type_known(t), strcmp(wire_type_name(t), "unknown") != 0);
	assert_string_equal(wire_type_name(WIRE_LAST + 1), "unknown");
	assert_string_equal(wire_type_name(-1), "unknown");
}

static int setup(void **state)
{
	pool = malloc(POOL_BYTES);
	if (!pool)
		return -1;
	for (size_t i = 0; i < POOL_BYTES; i += 8) {
		uint64_t v = rnd();
		memcpy(pool + i, &v, 8);
	}
	make_trees();
	return 0;
}

static int teardown(void **state)
{
	free(pool);
	for (int i = 0; i < NTREES; i++)
		tbuf_fini(&trees[i]);
	return 0;
}

/* Every request runs to a deadline: none asked for gets the leaf's
 * default from now, one further than LIMIT_TIMEOUT_MS is held to it, and
 * one sooner (even past) is kept. */
static void test_deadline(void **state)
{
	(void)state;
	uint64_t now = 1733400000000000ull, ms = 1000;
	assert_int_equal(wire_deadline(0, now), now + LIMIT_LEAF_DEADLINE_MS * ms);
	assert_int_equal(wire_deadline(UINT64_MAX, now), now + LIMIT_TIMEOUT_MS * ms);
	assert_int_equal(wire_deadline(now + LIMIT_TIMEOUT_MS * ms + 1, now),
	                 now + LIMIT_TIMEOUT_MS * ms);
	assert_int_equal(wire_deadline(now + 5 * ms, now), now + 5 * ms);
	assert_int_equal(wire_deadline(now - 5 * ms, now), now - 5 * ms);
	assert_int_equal(wire_deadline(1, now), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sort_refusals),
	    cmocka_unit_test(test_aggs),
	    cmocka_unit_test(test_type_names),
	    cmocka_unit_test(test_golden_search),
	    cmocka_unit_test(test_golden_search_reply),
	    cmocka_unit_test(test_roundtrip_search),
	    cmocka_unit_test(test_roundtrip_search_reply),
	    cmocka_unit_test(test_roundtrip_fetch),
	    cmocka_unit_test(test_roundtrip_fetch_reply),
	    cmocka_unit_test(test_roundtrip_ping_pong_cancel_get),
	    cmocka_unit_test(test_truncation),
	    cmocka_unit_test(test_byte_flips),
	    cmocka_unit_test(test_encode_limits_search),
	    cmocka_unit_test(test_encode_limits_fetch),
	    cmocka_unit_test(test_encode_limits_replies),
	    cmocka_unit_test(test_decode_limits_header),
	    cmocka_unit_test(test_decode_limits_search),
	    cmocka_unit_test(test_decode_limits_search_reply),
	    cmocka_unit_test(test_decode_limits_fetch_reply),
	    cmocka_unit_test(test_decode_limits_fetch_pong),
	    cmocka_unit_test(test_limits_get),
	    cmocka_unit_test(test_deadline),
	    cmocka_unit_test(test_roundtrip_schema),
	    cmocka_unit_test(test_schema),
	    cmocka_unit_test(test_roundtrip_files),
	    cmocka_unit_test(test_files),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
