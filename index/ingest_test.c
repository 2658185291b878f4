/*
 * ingest_test.c - writes decided before they are logged (ingest.c),
 * against a brute-force model: thousands of random index, create, update
 * and delete requests (conditions right and wrong, upserts, noops,
 * generated ids) over a few ids give the model's status, result, _version
 * and _seq_no, and the realtime view equals the model's documents, across
 * publishes (the live generation taking over from the version map), log
 * trims and reopenings. Threads doing optimistic-concurrency increments
 * lose none; a failed commit leaves no trace; bad documents are refused
 * with OpenSearch's error types; with the build's check (which then is the
 * only parse), the same tricky documents are acknowledged as with jansson's
 * parse, for index and upsert alike.
 */
#include <jansson.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/limits.h"
#include "index/index_int.h"
#include "index/ingest.h"
#include "index/jsonscan.h"
#include "shard/sh.h"
#include "index/testhooks.h"
#include "index/testdir.h"
#include "index/wlog.h"
#include "trawl/trawl.h"

static char g_err[LIMIT_ERRMSG_BYTES];

/* req: a request without conditions */
static idx_wreq req(idx_wact act, const char *id, const char *doc)
{
	return (idx_wreq){.act = act,
	                  .id = id,
	                  .idlen = id ? (uint32_t)strlen(id) : 0,
	                  .doc = doc,
	                  .doclen = doc ? (uint32_t)strlen(doc) : 0,
	                  .if_seq_no = -1,
	                  .if_primary_term = -1};
}

/* open_both opens the log at g_path and an ingest over it. */
static void open_both(idx_wlog **w, idx_ingest **g, uint64_t applied, size_t max_doc,
                      idx_wlive_fn live, idx_wcheck_fn check)
{
	assert_int_equal(idx_wlog_open(w, g_path, 0, g_err, sizeof g_err), TRAWL_OK);
	assert_int_equal(
	    idx_ingest_open(g, *w, applied, max_doc, live, check, NULL, g_err, sizeof g_err),
	    TRAWL_OK);
}

static void close_both(idx_wlog *w, idx_ingest *g)
{
	idx_ingest_close(g);
	idx_wlog_close(w);
}

/* ---- the model ---- */

#define MAX_IDS 4096

typedef struct mstate {
	int exists;
	uint64_t version, seq;
	char *doc;
} mstate;

typedef struct mid {
	char id[32];
	mstate live; /* the live generation's (exists 0: missing) */
	int pending; /* the version map has an entry */
	mstate pend; /* its state (exists 0: deleted, version kept) */
} mid;

typedef struct model {
	mid ids[MAX_IDS];
	int n;
	uint64_t next; /* the log's next number */
	pthread_mutex_t mu;
} model;

static model M;

static mid *model_find(const char *id, int add)
{
	for (int i = 0; i < M.n; i++)
		if (!strcmp(M.ids[i].id, id))
			return &M.ids[i];
	if (!add || M.n == MAX_IDS)
		return NULL;
	mid *m = &M.ids[M.n++];
	memset(m, 0, sizeof *m);
	snprintf(m->id, sizeof m->id, "%s", id);
	return m;
}

static const mstate *model_cur(const mid *m)
{
	return m->pending ? &m->pend : &m->live;
}

/* the live generation, for the ingest's callback */
static int live_cb(void *ctx, const char *id, uint32_t idlen, idx_wlive *out, char *err,
                   size_t errlen)
{
	(void)ctx;
	(void)err;
	(void)errlen;
	char key[64];
	snprintf(key, sizeof key, "%.*s", (int)idlen, id);
	pthread_mutex_lock(&M.mu);
	mid *m = model_find(key, 0);
	*out = (idx_wlive){0};
	if (m && m->live.exists) {
		out->exists = 1;
		out->version = m->live.version;
		out->seq_no = m->live.seq;
		out->doc = strdup(m->live.doc);
		out->doclen = strlen(m->live.doc);
	}
	pthread_mutex_unlock(&M.mu);
	return 0;
}

/* the schema's check: it parses as a check must (idx_wcheck_fn: strictly),
 * and refuses a document with "bad" in it */
static int check_cb(void *ctx, const char *id, uint32_t idlen, const char *doc, size_t len,
                    char *err, size_t errlen)
{
	(void)ctx;
	(void)id;
	(void)idlen;
	tbuf keys;
	tbuf_init(&keys, len + 64);
	uint32_t col;
	char why[128];
	int rc =
	    idx_json_scan(doc, len, IDX_JSCAN_STRICT, NULL, NULL, &keys, &col, why, sizeof why);
	tbuf_fini(&keys);
	if (rc) {
		snprintf(err, errlen, "document:1:%u: %s", col, why);
		return rc;
	}
	if (memmem(doc, len, "\"bad\"", 5)) {
		snprintf(err, errlen, "field \"bad\" is not in the schema");
		return 1;
	}
	return 0;
}

static void set_state(mstate *s, int exists, uint64_t version, uint64_t seq, const char *doc)
{
	free(s->doc);
	s->exists = exists;
	s->version = version;
	s->seq = seq;
	s->doc = doc ? strdup(doc) : NULL;
}

/* the publish: the live generation takes every pending state */
static void model_publish(void)
{
	for (int i = 0; i < M.n; i++) {
		mid *m = &M.ids[i];
		if (!m->pending)
			continue;
		if (m->pend.exists)
			set_state(&m->live, 1, m->pend.version, m->pend.seq, m->pend.doc);
		else /* the ingest remembers the delete (tombs.h): its version goes on */
			set_state(&m->live, 0, m->pend.version, m->pend.seq, NULL);
		set_state(&m->pend, 0, 0, 0, NULL);
		m->pending = 0;
	}
}

/* A restart forgets the published deletes (they are in memory only). */
static void model_restart(void)
{
	for (int i = 0; i < M.n; i++)
		if (!M.ids[i].live.exists)
			set_state(&M.ids[i].live, 0, 0, 0, NULL);
}

static void model_free(void)
{
	for (int i = 0; i < M.n; i++) {
		set_state(&M.ids[i].live, 0, 0, 0, NULL);
		set_state(&M.ids[i].pend, 0, 0, 0, NULL);
	}
	M.n = 0;
}

/* docs equal as JSON */
static int same_json(const char *a, size_t alen, const char *b)
{
	json_t *x = json_loadb(a, alen, 0, NULL), *y = json_loads(b, 0, NULL);
	int eq = x && y && json_equal(x, y);
	json_decref(x);
	json_decref(y);
	return eq;
}

/* The expected outcome of q, and the model changed as the ingest must. */
typedef struct expect {
	int status;
	const char *result; /* NULL: an error of type */
	const char *type;
	uint64_t version, seq;
} expect;

static int cond_fails(const idx_wreq *q, const mstate *c)
{
	if (q->if_seq_no < 0 && q->if_primary_term < 0)
		return 0;
	return !c->exists || (uint64_t)q->if_seq_no != c->seq || q->if_primary_term != 1;
}

static expect model_apply(const idx_wreq *q, const char *id)
{
	mid *m = model_find(id, 1);
	const mstate *c = model_cur(m);
	expect e = {0};
	const char *doc = NULL;
	char *merged = NULL;
	switch (q->act) {
	case IDX_WACT_CREATE:
		if (q->if_seq_no >= 0 || q->if_primary_term >= 0)
			return (expect){400, NULL, "action_request_validation_exception", 0, 0};
		if (c->exists)
			return (expect){409, NULL, "version_conflict_engine_exception", 0, 0};
		__attribute__((fallthrough));
	case IDX_WACT_INDEX:
		if (cond_fails(q, c))
			return (expect){409, NULL, "version_conflict_engine_exception", 0, 0};
		doc = q->doc;
		e = (expect){c->exists ? 200 : 201, c->exists ? "updated" : "created", NULL, 0, 0};
		break;
	case IDX_WACT_UPDATE:
		if ((q->upsert || q->doc_as_upsert) &&
		    (q->if_seq_no >= 0 || q->if_primary_term >= 0))
			return (expect){400, NULL, "action_request_validation_exception", 0, 0};
		if (!q->doc) /* OpenSearch: "script or doc is missing", also with an upsert */
			return (expect){400, NULL, "action_request_validation_exception", 0, 0};
		if (!c->exists) {
			doc = q->doc_as_upsert ? q->doc : q->upsert; /* doc_as_upsert: doc wins */
			if (!doc)
				return (expect){404, NULL, "document_missing_exception", 0, 0};
			e = (expect){201, "created", NULL, 0, 0};
			break;
		}
		if (cond_fails(q, c))
			return (expect){409, NULL, "version_conflict_engine_exception", 0, 0};
		{
			json_t *old = json_loads(c->doc, 0, NULL), *mj = json_deep_copy(old),
			       *part = json_loads(q->doc, 0, NULL);
			json_object_update_recursive(mj, part);
			int noop = !q->keep_noop && json_equal(mj, old);
			if (!noop)
				merged = json_dumps(mj, JSON_COMPACT);
			json_decref(old);
			json_decref(mj);
			json_decref(part);
			if (noop)
				return (expect){200, "noop", NULL, c->version, c->seq};
		}
		doc = merged;
		e = (expect){200, "updated", NULL, 0, 0};
		break;
	case IDX_WACT_DELETE:
		if (cond_fails(q, c))
			return (expect){409, NULL, "version_conflict_engine_exception", 0, 0};
		/* a tombstone either way (OpenSearch's): numbered, the next version */
		e = c->exists ? (expect){200, "deleted", NULL, 0, 0}
		              : (expect){404, "not_found", NULL, 0, 0};
		break;
	}
	e.version = c->version + 1;
	e.seq = M.next++;
	m->pending = 1;
	set_state(&m->pend, doc != NULL, e.version, e.seq, doc);
	free(merged);
	return e;
}

/* ---- random requests ---- */

static uint64_t g_rng = 88172645463325252ull;

static uint32_t rnd(uint32_t n)
{
	g_rng ^= g_rng << 13;
	g_rng ^= g_rng >> 7;
	g_rng ^= g_rng << 17;
	return (uint32_t)(g_rng % n);
}

static void random_doc(char *buf, size_t len, int partial)
{
	switch (rnd(partial ? 4 : 5)) {
	case 0:
		snprintf(buf, len, "{\"a\":%u}", rnd(3));
		break;
	case 1:
		snprintf(buf, len, "{\"o\":{\"x\":%u}}", rnd(3));
		break;
	case 2:
		snprintf(buf, len, "{\"o\":{\"y\":[%u,%u]},\"s\":\"t%u\"}", rnd(2), rnd(2), rnd(2));
		break;
	case 3:
		snprintf(buf, len, "{\"a\":%u,\"o\":{\"x\":%u,\"z\":null}}", rnd(2), rnd(2));
		break;
	default:
		snprintf(buf, len, "{\"s\":\"u%u\",\"n\":[1,{\"k\":%u}]}", rnd(3), rnd(2));
		break;
	}
}

static void check_state(idx_ingest *g, const char *id)
{
	mid *m = model_find(id, 0);
	const mstate *c = m ? model_cur(m) : NULL;
	idx_wlive got;
	assert_int_equal(idx_ingest_get(g, id, (uint32_t)strlen(id), &got, g_err, sizeof g_err),
	                 TRAWL_OK);
	int want = c && c->exists;
	if (got.exists != want)
		fail_msg("%s: exists %d, the model says %d", id, got.exists, want);
	if (want) {
		assert_int_equal(got.version, c->version);
		assert_int_equal(got.seq_no, c->seq);
		if (!same_json(got.doc, got.doclen, c->doc))
			fail_msg("%s: %.*s, the model says %s", id, (int)got.doclen, got.doc,
			         c->doc);
	}
	free(got.doc);
}

static void test_random_requests_equal_the_model(void **state)
{
	(void)state;
	pthread_mutex_init(&M.mu, NULL);
	model_free();
	M.next = 1;
	/* the live generation starts with four documents of a batch build */
	for (int i = 0; i < 4; i++) {
		char id[8], doc[64];
		snprintf(id, sizeof id, "d%d", i);
		snprintf(doc, sizeof doc, "{\"a\":%d,\"o\":{\"x\":1}}", i);
		set_state(&model_find(id, 1)->live, 1, 1, 0, doc);
	}
	idx_wlog *w;
	assert_int_equal(idx_wlog_open(&w, g_path, 0, g_err, sizeof g_err), TRAWL_OK);
	idx_ingest *g;
	uint64_t applied = 0;
	assert_int_equal(
	    idx_ingest_open(&g, w, applied, 0, live_cb, check_cb, NULL, g_err, sizeof g_err),
	    TRAWL_OK);
	int generated = 0, counts[6] = {0};
	for (int step = 0; step < 3000; step++) {
		char id[8], doc[128], up[128];
		snprintf(id, sizeof id, "d%u", rnd(8));
		random_doc(doc, sizeof doc, 0);
		random_doc(up, sizeof up, 0);
		idx_wreq q = {.act = (idx_wact)(1 + rnd(4)),
		              .id = id,
		              .idlen = (uint32_t)strlen(id),
		              .if_seq_no = -1,
		              .if_primary_term = -1};
		if (q.act != IDX_WACT_DELETE) {
			if (q.act == IDX_WACT_UPDATE)
				random_doc(doc, sizeof doc, 1);
			q.doc = doc;
			q.doclen = (uint32_t)strlen(doc);
		}
		if (q.act == IDX_WACT_UPDATE) {
			int u = (int)rnd(4);
			if (u == 1) {
				q.upsert = up;
				q.upsertlen = (uint32_t)strlen(up);
			}
			q.doc_as_upsert = u == 2 || (u == 1 && rnd(4) == 0); /* sometimes both */
			q.keep_noop = rnd(5) == 0;
			if (u == 1 && rnd(6) == 0) { /* an upsert alone */
				q.doc = NULL;
				q.doclen = 0;
			}
		}
		if (rnd(3) == 0) {
			mid *m = model_find(id, 0);
			const mstate *c = m ? model_cur(m) : NULL;
			uint64_t seq = c ? c->seq : 0;
			q.if_seq_no = (int64_t)(rnd(2) ? seq : seq + 1 + rnd(3));
			q.if_primary_term = rnd(8) ? 1 : 2;
		}
		if ((q.act == IDX_WACT_INDEX || q.act == IDX_WACT_CREATE) && rnd(20) == 0) {
			q.id = NULL;
			q.idlen = 0;
		}
		idx_wres r;
		assert_int_equal(idx_ingest_write(g, &q, 1, &r, g_err, sizeof g_err), TRAWL_OK);
		if (q.idlen == 0) {
			assert_int_equal(r.idlen, 20);
			assert_null(model_find(r.id, 0)); /* a new id every time */
			generated++;
		}
		expect e = model_apply(&q, r.id);
		if (r.status != e.status ||
		    (e.result && (!r.result || strcmp(r.result, e.result))) ||
		    (!e.result && (r.result || strcmp(r.error_type, e.type))))
			fail_msg("step %d (%d on %s): got %d %s %s (%s), the model says %d %s %s",
			         step, (int)q.act, r.id, r.status, r.result ? r.result : "-",
			         r.error_type ? r.error_type : "-", r.reason, e.status,
			         e.result ? e.result : "-", e.type ? e.type : "-");
		if (e.result) {
			assert_int_equal(r.version, e.version);
			assert_int_equal(r.seq_no, e.seq);
			assert_int_equal(r.primary_term, 1);
		}
		counts[e.result          ? (!strcmp(e.result, "noop")        ? 1
		                            : !strcmp(e.result, "not_found") ? 2
		                                                             : 0)
		       : e.status == 409 ? 3
		       : e.status == 404 ? 4
		                         : 5]++;
		if (step % 97 == 0)
			for (int i = 0; i < M.n; i++)
				check_state(g, M.ids[i].id);
		if (step % 250 == 249) { /* the indexer publishes, then trims the log */
			applied = M.next - 1;
			model_publish();
			idx_ingest_published(g, applied);
			assert_int_equal(idx_ingest_pending(g), 0);
			assert_int_equal(idx_wlog_trim(w, applied, g_err, sizeof g_err), TRAWL_OK);
		}
		if (step % 400 == 399) { /* a restart: the map is read from the log */
			idx_ingest_close(g);
			idx_wlog_close(w);
			assert_int_equal(idx_wlog_open(&w, g_path, 0, g_err, sizeof g_err),
			                 TRAWL_OK);
			assert_int_equal(idx_ingest_open(&g, w, applied, 0, live_cb, check_cb, NULL,
			                                 g_err, sizeof g_err),
			                 TRAWL_OK);
			model_restart();
			for (int i = 0; i < M.n; i++)
				check_state(g, M.ids[i].id);
		}
	}
	print_message("written %d, noop %d, not_found %d, conflicts %d, missing %d, invalid %d; "
	              "%d ids generated\n",
	              counts[0], counts[1], counts[2], counts[3], counts[4], counts[5], generated);
	/* every kind of outcome came up */
	for (int i = 0; i < 6; i++)
		assert_true(counts[i] > 0);
	for (int i = 0; i < M.n; i++)
		check_state(g, M.ids[i].id);
	close_both(w, g);
	model_free();
}

/* ---- threads: optimistic concurrency loses no increment ---- */

#define INC_THREADS 4
#define INC_EACH 60

typedef struct incer {
	idx_ingest *g;
	int conflicts;
} incer;

static void *inc_main(void *arg)
{
	incer *t = arg;
	char err[LIMIT_ERRMSG_BYTES];
	for (int done = 0; done < INC_EACH;) {
		idx_wlive cur;
		if (idx_ingest_get(t->g, "counter", 7, &cur, err, sizeof err) || !cur.exists)
			return NULL;
		json_t *j = json_loadb(cur.doc, cur.doclen, 0, NULL);
		long long n = json_integer_value(json_object_get(j, "n"));
		json_decref(j);
		free(cur.doc);
		char doc[64];
		snprintf(doc, sizeof doc, "{\"n\":%lld}", n + 1);
		idx_wreq q = {.act = IDX_WACT_INDEX,
		              .id = "counter",
		              .idlen = 7,
		              .doc = doc,
		              .doclen = (uint32_t)strlen(doc),
		              .if_seq_no = (int64_t)cur.seq_no,
		              .if_primary_term = 1};
		idx_wres r;
		if (idx_ingest_write(t->g, &q, 1, &r, err, sizeof err))
			return NULL;
		if (r.status == 200)
			done++;
		else if (r.status == 409)
			t->conflicts++;
		else
			return NULL;
	}
	return NULL;
}

static void test_threads_lose_no_increment(void **state)
{
	(void)state;
	idx_wlog *w;
	idx_ingest *g;
	open_both(&w, &g, 0, 0, NULL, NULL);
	idx_wreq q = req(IDX_WACT_CREATE, "counter", "{\"n\":0}");
	idx_wres r;
	assert_int_equal(idx_ingest_write(g, &q, 1, &r, g_err, sizeof g_err), TRAWL_OK);
	assert_int_equal(r.status, 201);
	pthread_t th[INC_THREADS];
	incer t[INC_THREADS];
	for (int i = 0; i < INC_THREADS; i++) {
		t[i] = (incer){.g = g};
		assert_int_equal(pthread_create(&th[i], NULL, inc_main, &t[i]), 0);
	}
	int conflicts = 0;
	for (int i = 0; i < INC_THREADS; i++) {
		pthread_join(th[i], NULL);
		conflicts += t[i].conflicts;
	}
	idx_wlive cur;
	assert_int_equal(idx_ingest_get(g, "counter", 7, &cur, g_err, sizeof g_err), TRAWL_OK);
	char want[32];
	snprintf(want, sizeof want, "{\"n\":%d}", INC_THREADS * INC_EACH);
	assert_true(same_json(cur.doc, cur.doclen, want));
	assert_int_equal(cur.version, 1 + INC_THREADS * INC_EACH);
	assert_int_equal(cur.seq_no, 1 + INC_THREADS * INC_EACH); /* only successes were logged */
	free(cur.doc);
	print_message("%d increments, %d conflicts retried\n", INC_THREADS * INC_EACH, conflicts);
	close_both(w, g);
}

/* ---- a failed commit, bad documents ---- */

static int g_fail_next;

static int fail_once(void)
{
	return g_fail_next ? g_fail_next-- : 0;
}

static void test_failed_commit_leaves_no_trace(void **state)
{
	(void)state;
	idx_wlog *w;
	idx_ingest *g;
	open_both(&w, &g, 0, 0, NULL, NULL);
	idx_wreq q = req(IDX_WACT_INDEX, "a", "{\"v\":1}");
	idx_wres r[2];
	assert_int_equal(idx_ingest_write(g, &q, 1, r, g_err, sizeof g_err), TRAWL_OK);
	assert_int_equal(r[0].seq_no, 1);

	/* two requests in one call; the commit fails: both fail, 507 */
	idx_wreq two[2] = {q, q};
	two[0].doc = "{\"v\":2}";
	two[1].act = IDX_WACT_DELETE;
	two[1].doc = NULL;
	two[1].doclen = 0;
	g_fail_next = 1;
	idx_wlog_commit_hook = fail_once;
	assert_int_equal(idx_ingest_write(g, two, 2, r, g_err, sizeof g_err), TRAWL_OK);
	idx_wlog_commit_hook = NULL;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(r[i].status, 507);
		assert_null(r[i].result);
		assert_string_equal(r[i].error_type, "write_log_full_exception");
	}
	/* the realtime view is back to the durable state */
	idx_wlive cur;
	assert_int_equal(idx_ingest_get(g, "a", 1, &cur, g_err, sizeof g_err), TRAWL_OK);
	assert_int_equal(cur.exists, 1);
	assert_int_equal(cur.version, 1);
	assert_true(same_json(cur.doc, cur.doclen, "{\"v\":1}"));
	free(cur.doc);
	/* and the next write is decided on it, numbered without a gap */
	q.act = IDX_WACT_UPDATE;
	q.doc = "{\"w\":3}";
	assert_int_equal(idx_ingest_write(g, &q, 1, r, g_err, sizeof g_err), TRAWL_OK);
	assert_int_equal(r[0].status, 200);
	assert_int_equal(r[0].version, 2);
	assert_int_equal(r[0].seq_no, 2);
	close_both(w, g);
}

/* ---- answers that rest on a write that fails ---- */

static idx_ingest *g_ing;
static idx_wlive g_seen;
static idx_wres g_noop;
static pthread_t g_reader, g_updater;

static void *read_x(void *arg)
{
	(void)arg;
	char err[LIMIT_ERRMSG_BYTES];
	if (idx_ingest_get(g_ing, "x", 1, &g_seen, err, sizeof err))
		g_seen.exists = -1;
	return NULL;
}

static void *update_x(void *arg)
{
	(void)arg;
	char err[LIMIT_ERRMSG_BYTES];
	idx_wreq q = req(IDX_WACT_UPDATE, "x", "{\"owner\":\"bob\"}");
	if (idx_ingest_write(g_ing, &q, 1, &g_noop, err, sizeof err))
		g_noop.status = -1;
	return NULL;
}

/* The commit of bob's write: a reader and a noop update come while it is
 * pending, and wait for it; then it fails. */
static int fail_after_readers(void)
{
	pthread_create(&g_reader, NULL, read_x, NULL);
	pthread_create(&g_updater, NULL, update_x, NULL);
	for (int i = 0;
	     i < 10000 && __atomic_load_n(&idx_wlog_durable_waiters, __ATOMIC_SEQ_CST) < 2; i++)
		usleep(1000);
	return 1;
}

static void test_answers_wait_for_what_they_rest_on(void **state)
{
	(void)state;
	idx_wlog *w;
	open_both(&w, &g_ing, 0, 0, NULL, NULL);
	idx_wreq q = req(IDX_WACT_INDEX, "x", "{\"owner\":\"alice\"}");
	idx_wres r;
	assert_int_equal(idx_ingest_write(g_ing, &q, 1, &r, g_err, sizeof g_err), TRAWL_OK);
	assert_int_equal(r.seq_no, 1);
	q.doc = "{\"owner\":\"bob\"}";
	q.doclen = (uint32_t)strlen(q.doc);
	idx_wlog_commit_hook = fail_after_readers;
	assert_int_equal(idx_ingest_write(g_ing, &q, 1, &r, g_err, sizeof g_err), TRAWL_OK);
	idx_wlog_commit_hook = NULL;
	assert_int_equal(r.status, 507);
	pthread_join(g_reader, NULL);
	pthread_join(g_updater, NULL);
	/* the reader saw alice, never bob (whose number 2 is given again) */
	assert_int_equal(g_seen.exists, 1);
	assert_int_equal(g_seen.seq_no, 1);
	assert_true(same_json(g_seen.doc, g_seen.doclen, "{\"owner\":\"alice\"}"));
	free(g_seen.doc);
	/* the update found nothing to change on top of bob: that answer waited
	 * for bob, and fails with him */
	assert_int_equal(g_noop.status, 500);
	assert_non_null(strstr(g_noop.reason, "a write it was decided on failed"));
	q.doc = "{\"owner\":\"carol\"}";
	q.doclen = (uint32_t)strlen(q.doc);
	assert_int_equal(idx_ingest_write(g_ing, &q, 1, &r, g_err, sizeof g_err), TRAWL_OK);
	assert_int_equal(r.seq_no, 2);
	assert_int_equal(r.version, 2);
	close_both(w, g_ing);
}

static void test_bad_documents_refused(void **state)
{
	(void)state;
	idx_wlog *w;
	idx_ingest *g;
	open_both(&w, &g, 0, 64, NULL, check_cb);
	static char longid[LIMIT_ID_BYTES + 2];
	memset(longid, 'i', LIMIT_ID_BYTES + 1);
	struct {
		idx_wact act;
		const char *id, *doc;
		int status;
		const char *type, *why;
	} cases[] = {
	    {IDX_WACT_INDEX, "a", "{\"x\":", 400, "mapper_parsing_exception",
	     "failed to parse the document: document:1:6: unexpected end of input"},
	    {IDX_WACT_INDEX, "a", "[1,2]", 400, "mapper_parsing_exception",
	     "document:1:1: a document must be a JSON object"},
	    {IDX_WACT_INDEX, "a", "{\"x\":1,\"x\":2}", 400, "mapper_parsing_exception",
	     "document:1:8: duplicate key \"x\""},
	    {IDX_WACT_CREATE, "a",
	     "{\"x\":\"0123456789012345678901234567890123456789012345678901234567890\"}", 400,
	     "mapper_parsing_exception", "over the limit of 64"},
	    {IDX_WACT_INDEX, "a", "{\"bad\":1}", 400, "mapper_parsing_exception",
	     "field \"bad\" is not in the schema"},
	    {IDX_WACT_INDEX, longid, "{}", 400, "action_request_validation_exception",
	     "id is too long"},
	    {IDX_WACT_DELETE, "", NULL, 400, "action_request_validation_exception",
	     "id is missing"},
	    {IDX_WACT_UPDATE, "a", NULL, 400, "action_request_validation_exception",
	     "doc is missing"},
	    {IDX_WACT_UPDATE, "a", "{\"y\":1}", 404, "document_missing_exception",
	     "[a]: document missing"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		idx_wreq q = req(cases[i].act, cases[i].id, cases[i].doc);
		idx_wres r;
		assert_int_equal(idx_ingest_write(g, &q, 1, &r, g_err, sizeof g_err), TRAWL_OK);
		if (r.status != cases[i].status || !r.error_type ||
		    strcmp(r.error_type, cases[i].type) || !strstr(r.reason, cases[i].why))
			fail_msg("case %zu: %d %s \"%s\"", i, r.status,
			         r.error_type ? r.error_type : "-", r.reason);
	}
	/* an update whose merge the schema refuses is refused, the document kept */
	idx_wreq ok = req(IDX_WACT_INDEX, "a", "{\"x\":1}");
	idx_wres r;
	assert_int_equal(idx_ingest_write(g, &ok, 1, &r, g_err, sizeof g_err), TRAWL_OK);
	assert_int_equal(r.status, 201);
	ok.act = IDX_WACT_UPDATE;
	ok.doc = "{\"bad\":2}";
	ok.doclen = 9;
	assert_int_equal(idx_ingest_write(g, &ok, 1, &r, g_err, sizeof g_err), TRAWL_OK);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.reason, "updated document"));
	/* a partial document is parsed by jansson, for the merge */
	ok.doc = "{\"y\":1,\"y\":2}";
	ok.doclen = 13;
	assert_int_equal(idx_ingest_write(g, &ok, 1, &r, g_err, sizeof g_err), TRAWL_OK);
	assert_int_equal(r.status, 400);
	assert_non_null(
	    strstr(r.reason, "failed to parse the partial document: duplicate object key"));
	idx_wlog_info in;
	idx_wlog_stat(w, &in);
	assert_int_equal(in.ops, 1); /* only the good index was logged */
	close_both(w, g);
}

/* A log trimmed before the ingest was told of the publish: the read of a
 * durable document fails, never falling back to an older one. */
static int live_old(void *ctx, const char *id, uint32_t idlen, idx_wlive *out, char *err,
                    size_t errlen)
{
	(void)ctx;
	(void)id;
	(void)idlen;
	(void)err;
	(void)errlen;
	*out =
	    (idx_wlive){.exists = 1, .version = 1, .doc = strdup("{\"v\":\"old\"}"), .doclen = 11};
	return 0;
}

static void test_trim_before_publish_is_an_error(void **state)
{
	(void)state;
	idx_wlog *w;
	idx_ingest *g;
	open_both(&w, &g, 0, 0, live_old, NULL);
	idx_wreq q = req(IDX_WACT_INDEX, "a", "{\"v\":\"new\"}");
	idx_wres r;
	assert_int_equal(idx_ingest_write(g, &q, 1, &r, g_err, sizeof g_err), TRAWL_OK);
	assert_int_equal(r.status, 200); /* the live generation had "a" */
	assert_int_equal(idx_wlog_trim(w, r.seq_no, g_err, sizeof g_err), TRAWL_OK);
	idx_wlive cur;
	assert_int_equal(idx_ingest_get(g, "a", 1, &cur, g_err, sizeof g_err), TRAWL_EIO);
	assert_non_null(strstr(g_err, "no longer in the write log"));
	idx_wreq u = req(IDX_WACT_UPDATE, "a", "{\"w\":1}");
	assert_int_equal(idx_ingest_write(g, &u, 1, &r, g_err, sizeof g_err), TRAWL_OK);
	assert_int_equal(r.status, 500); /* not a merge onto the old document */
	/* once told, the live generation is the source again */
	idx_ingest_published(g, 1);
	assert_int_equal(idx_ingest_get(g, "a", 1, &cur, g_err, sizeof g_err), TRAWL_OK);
	assert_int_equal(cur.exists, 1);
	free(cur.doc);
	close_both(w, g);
}

/* ---- the schema's check is the build's own parse ---- */

static idx_schema g_schema;

static int build_check(void *ctx, const char *id, uint32_t idlen, const char *doc, size_t len,
                       char *err, size_t errlen)
{
	(void)ctx;
	return sh_check_doc(&g_schema, TRAWL_MAX_DOC_BYTES, doc, len, id, idlen, err, errlen);
}

static void test_documents_checked_as_a_build_would(void **state)
{
	(void)state;
	const char *schema = "{\"fields\": {\"title\": {\"type\": \"text\"}, "
	                     "\"n\": {\"type\": \"long\"}, \"tag\": {\"type\": \"keyword\"}}}";
	assert_int_equal(idx_schema_parse(&g_schema, schema, strlen(schema), g_err, sizeof g_err),
	                 TRAWL_OK);
	idx_wlog *w;
	idx_ingest *g;
	open_both(&w, &g, 0, 0, NULL, build_check);
	struct {
		const char *doc;
		int status;
		const char *why;
	} cases[] = {
	    {"{\"title\":\"a\",\"n\":3,\"tag\":\"x\"}", 201, NULL},
	    {"{\"n\":\"three\"}", 400, "\"n\""},
	    {"{\"title\":5}", 400, "field \"title\" must be a string"},
	    {"{\"n\":1.5}", 400, "\"n\""},
	    {"{\"tag\":[\"a\",\"b\"],\"n\":[1,2]}", 200, NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		idx_wreq q = req(IDX_WACT_INDEX, "k", cases[i].doc);
		idx_wres r;
		assert_int_equal(idx_ingest_write(g, &q, 1, &r, g_err, sizeof g_err), TRAWL_OK);
		if (r.status != cases[i].status ||
		    (cases[i].why &&
		     (!r.error_type || strcmp(r.error_type, "mapper_parsing_exception") ||
		      !strstr(r.reason, cases[i].why))))
			fail_msg("case %zu: %d %s \"%s\"", i, r.status,
			         r.error_type ? r.error_type : "-", r.reason);
	}
	/* an update whose merge the build would refuse is refused */
	idx_wreq u = req(IDX_WACT_UPDATE, "k", "{\"n\":{\"deep\":1}}");
	idx_wres r;
	assert_int_equal(idx_ingest_write(g, &u, 1, &r, g_err, sizeof g_err), TRAWL_OK);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.reason, "updated document"));
	idx_wlog_info in;
	idx_wlog_stat(w, &in);
	assert_int_equal(in.ops, 2); /* the two good ones only */
	close_both(w, g);
}

/* With the build's check, a document is parsed by the check alone (no
 * jansson): the same documents are acknowledged as with jansson's parse,
 * for index, create and upsert, except nesting deeper than the build
 * takes (which the check refused before as well). */
static void test_check_path_refuses_as_jansson(void **state)
{
	(void)state;
	const char *schema = "{\"fields\": {\"title\": {\"type\": \"text\"}}}";
	assert_int_equal(idx_schema_parse(&g_schema, schema, strlen(schema), g_err, sizeof g_err),
	                 TRAWL_OK);
	idx_wlog *wj, *wc;
	idx_ingest *gj, *gc;
	open_both(&wj, &gj, 0, 0, NULL, NULL); /* jansson's parse */
	char path2[sizeof g_path + 8];
	snprintf(path2, sizeof path2, "%s.check", g_path);
	assert_int_equal(idx_wlog_open(&wc, path2, 0, g_err, sizeof g_err), TRAWL_OK);
	assert_int_equal(
	    idx_ingest_open(&gc, wc, 0, 0, NULL, build_check, NULL, g_err, sizeof g_err), TRAWL_OK);
	static char deep[6 * LIMIT_JSON_DEPTH + 16];
	size_t o = 0;
	for (int i = 0; i <= LIMIT_JSON_DEPTH; i++) /* one object deeper than the build takes */
		o += (size_t)snprintf(deep + o, sizeof deep - o, "{\"a\":");
	deep[o++] = '1';
	for (int i = 0; i <= LIMIT_JSON_DEPTH; i++)
		deep[o++] = '}';
	static const struct {
		const char *doc;
		size_t len; /* 0: strlen */
	} docs[] = {
	    {"{\"title\":\"t\",\"x\":{\"y\":[1,{\"z\":null}]}}", 0},
	    {"{\"x\":1,\"x\":2}", 0},
	    {"{\"x\":1,\"\\u0078\":2}", 0},
	    {"{\"title\":\"a\",\"title\":\"b\"}", 0},
	    {"{\"x\":{\"y\":1,\"y\":1}}", 0},
	    {"{\"x\":[{\"y\":1},{\"y\":1,\"z\":{\"q\":0,\"q\":0}}]}", 0},
	    {"{\"x\":{\"y\":1},\"z\":{\"y\":1}}", 0},
	    {"{\"x\":\"\\u0000\",\"title\":\"a\\u0000b\"}", 0},
	    {"{\"x\\u0000\":1}", 0},
	    {"{\"x\":{\"\\u0000\":1}}", 0},
	    {"{\"x\":\"\xff\"}", 0},
	    {"{\"x\":\"\xe2\x82\"}", 0},
	    {"{\"x\":\"\xed\xa0\x80\"}", 0},
	    {"{\"x\":\"\\ud800\"}", 0},
	    {"{\"x\":1} x", 0},
	    {"{\"x\":1}\n", 0},
	    {"{\"x\":1}\0", 8},
	    {"[{\"x\":1}]", 0},
	    {"\"x\"", 0},
	    {"null", 0},
	    {"", 0},
	    {"{\"x\":9223372036854775807,\"y\":-9223372036854775808}", 0},
	    {"{\"x\":9223372036854775808}", 0},
	    {"{\"x\":-9223372036854775809}", 0},
	    {"{\"x\":1e308,\"y\":1e-999}", 0},
	    {"{\"x\":1e309}", 0},
	    {"{\"x\":[1,2,-1.7976931348623159e308]}", 0},
	    {"{\"x\":01}", 0},
	    {"{\"x\":1.}", 0},
	    {"{\"x\":tru}", 0},
	    {"{'x':1}", 0},
	    {"{\"x\":1,}", 0},
	    {deep, 0},
	};
	for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
		size_t len = docs[i].len ? docs[i].len : strlen(docs[i].doc);
		for (int up = 0; up < 2; up++) {
			/* an index, then an upsert of a missing id */
			idx_wreq q = req(up ? IDX_WACT_UPDATE : IDX_WACT_INDEX, up ? "u" : "k",
			                 up ? "{}" : docs[i].doc);
			if (up) {
				q.upsert = docs[i].doc;
				q.upsertlen = (uint32_t)len;
			} else {
				q.doclen = (uint32_t)len;
			}
			idx_wres rj, rc;
			assert_int_equal(idx_ingest_write(gj, &q, 1, &rj, g_err, sizeof g_err),
			                 TRAWL_OK);
			assert_int_equal(idx_ingest_write(gc, &q, 1, &rc, g_err, sizeof g_err),
			                 TRAWL_OK);
			int okj = rj.status / 100 == 2, okc = rc.status / 100 == 2;
			int too_deep = docs[i].doc == deep;
			if (okc != (okj && !too_deep) ||
			    (!okc && (rc.status != 400 ||
			              strcmp(rc.error_type, "mapper_parsing_exception") ||
			              !strstr(rc.reason, ": document:1:"))))
				fail_msg("doc %zu (%s): jansson %d \"%s\", check %d \"%s\"", i,
				         up ? "upsert" : "index", rj.status, rj.reason, rc.status,
				         rc.reason);
			if (up && okc) { /* missing again for the next upsert */
				idx_wreq d = req(IDX_WACT_DELETE, "u", NULL);
				assert_int_equal(
				    idx_ingest_write(gj, &d, 1, &rj, g_err, sizeof g_err),
				    TRAWL_OK);
				assert_int_equal(
				    idx_ingest_write(gc, &d, 1, &rc, g_err, sizeof g_err),
				    TRAWL_OK);
			}
		}
	}
	close_both(wj, gj);
	close_both(wc, gc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    TESTDIR_TEST(test_random_requests_equal_the_model),
	    TESTDIR_TEST(test_threads_lose_no_increment),
	    TESTDIR_TEST(test_failed_commit_leaves_no_trace),
	    TESTDIR_TEST(test_answers_wait_for_what_they_rest_on),
	    TESTDIR_TEST(test_bad_documents_refused),
	    TESTDIR_TEST(test_documents_checked_as_a_build_would),
	    TESTDIR_TEST(test_check_path_refuses_as_jansson),
	    TESTDIR_TEST(test_trim_before_publish_is_an_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
