/*
 * leaf.c - a leaf: shards of an index served over common/rpc (see leaf.h).
 *
 * Generations: `cur` is the generation new SEARCHes use and `prev` the one
 * before it, kept for the FETCHes of searches that ran on it. Each worker
 * keeps a searcher per generation it has used and drops it when that
 * generation is retired. A generation is closed when the last worker
 * releases it (reference counts under one mutex).
 */
#include "leaf.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/hash.h"
#include "common/http.h"
#include "common/wire.h"
#include "fileserve.h"
#include "index/gen.h"
#include "pull.h"
#include "shardguard.h"
#include "trawl/trawl.h"

typedef struct gen {
	trawl_index *idx;
	shard_guard *guard; /* its shard files, watched (shardguard.h) */
	/* a searcher per worker, opened with the generation: opening one reads
	 * every shard, which a request must not do once one is out of service */
	trawl_searcher **pre;
	unsigned npre;
	uint64_t no;
	int bare;      /* the schema stores only ids: a FETCH adds nothing */
	unsigned refs; /* workers holding a searcher on it, +1 while cur or prev */
} gen;

typedef struct wstate {
	gen *g[2]; /* generations this worker has searchers on */
	trawl_searcher *s[2];
} wstate;

struct leaf {
	leaf_config cfg;
	char *dir;
	uint32_t shards[256];
	uint32_t nshards;
	uint32_t total_shards; /* shards of the generation served first */
	pthread_mutex_t mu;
	gen *cur, *prev;
	wstate *ws;
	rpc_server *_Atomic srv; /* NULL until rpc_server_start returns: requests may
	                            arrive first (rpc_server_busy takes NULL) */
	http_server *http;
	atomic_uint_fast64_t delayed;
	pthread_t watcher, guarder, pull_thread;
	puller *pull; /* with cfg.pull_url */
	int pulling;  /* the pull thread runs */
	atomic_int stopping;
	atomic_int poked;             /* leaf_poke: look at CURRENT now */
	atomic_uint_fast64_t serving; /* cur's number (leaf_generation), without mu */
	atomic_uint_fast64_t searches, fetches, pings, errors, partial, switches;
	shard_guard_stats retired; /* the guards of generations no longer served (mu) */
};

static void logf_(leaf *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void logf_(leaf *l, const char *fmt, ...)
{
	if (l->cfg.quiet)
		return;
	char msg[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "trawl leaf %s: %s\n", l->cfg.listen_url, msg);
}

/* Reads DIR/CURRENT's generation number; 0 if unreadable. */
static uint64_t read_current(const char *dir)
{
	char path[4200], line[64] = {0};
	snprintf(path, sizeof path, "%s/CURRENT", dir);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(line, 1, sizeof line - 1, f);
	fclose(f);
	line[n] = 0;
	unsigned long long g = 0;
	if (sscanf(line, "gen-%llu", &g) != 1)
		return 0;
	return g;
}

static void guard_log(void *ctx, const char *msg)
{
	logf_(ctx, "%s", msg);
}

static void gen_free(gen *g)
{
	for (unsigned i = 0; i < g->npre; i++)
		trawl_searcher_close(g->pre[i]);
	free(g->pre);
	shard_guard_close(g->guard);
	trawl_index_close(g->idx);
	free(g);
}

static void gen_release(gen *g);

static int open_gen(leaf *l, gen **out, char *err, size_t errlen)
{
	gen *g = calloc(1, sizeof *g);
	if (!g)
		return TRAWL_ENOMEM;
	trawl_open_opts o = {l->cfg.shards ? l->shards : NULL, l->cfg.shards ? l->nshards : 0};
	/* the files it shares with the generation served now were checked
	 * when that one opened (an update's generation: most of them) */
	pthread_mutex_lock(&l->mu);
	gen *cur = l->cur;
	if (cur)
		cur->refs++;
	pthread_mutex_unlock(&l->mu);
	o.reuse = cur ? cur->idx : NULL;
	int rc = trawl_index_open_with(&g->idx, l->dir, &o, err, errlen);
	pthread_mutex_lock(&l->mu);
	gen_release(cur);
	pthread_mutex_unlock(&l->mu);
	if (rc) {
		free(g);
		return rc;
	}
	trawl_index_stats st;
	trawl_index_get_stats(g->idx, &st);
	g->no = st.generation;
	g->bare = !trawl_index_stores_fields(g->idx);
	g->refs = 1;
	uint32_t all[TRAWL_MAX_SHARDS], n = 0;
	for (uint32_t i = 0; i < st.shards && i < TRAWL_MAX_SHARDS; i++)
		all[n++] = i;
	int64_t rate = l->cfg.scrub_bytes_per_s;
	shard_guard_config gc = {
	    rate < 0 ? 0
	    : rate   ? (uint64_t)rate
	             : (uint64_t)LIMIT_SCRUB_BYTES_PER_S,
	    l->cfg.scrub_period_s ? l->cfg.scrub_period_s : LIMIT_SCRUB_PERIOD_S, guard_log, l};
	rc = shard_guard_open(&g->guard, g->idx, l->cfg.shards ? l->shards : all,
	                      l->cfg.shards ? l->nshards : n, &gc);
	if (!rc && !(g->pre = calloc(l->cfg.workers, sizeof *g->pre)))
		rc = TRAWL_ENOMEM;
	for (unsigned i = 0; !rc && i < l->cfg.workers; i++, g->npre++)
		rc = trawl_searcher_open(&g->pre[i], g->idx);
	if (rc) {
		gen_free(g);
		snprintf(err, errlen, "%s: %s", l->dir, trawl_strerror(rc));
		return rc;
	}
	*out = g;
	return TRAWL_OK;
}

/* Drops one reference (mutex held); closes the generation at zero. */
static void gen_release(gen *g)
{
	if (g && --g->refs == 0)
		gen_free(g);
}

/* The worker's searcher for the generation numbered want (0: the current
 * one), opening it if needed; NULL if that generation is gone. *gen_no,
 * *bare and *newer (may be NULL) say which generation, whether it stores
 * only ids, and whether it is older than the one served now. */
static trawl_searcher *worker_searcher(leaf *l, unsigned w, uint64_t want, uint64_t *gen_no,
                                       int *bare, shard_guard **gd, int *newer)
{
	wstate *ws = &l->ws[w];
	pthread_mutex_lock(&l->mu);
	gen *g = want == 0                        ? l->cur
	         : l->cur && l->cur->no == want   ? l->cur
	         : l->prev && l->prev->no == want ? l->prev
	                                          : NULL;
	/* retire searchers on generations that are neither cur nor prev */
	for (int i = 0; i < 2; i++)
		if (ws->g[i] && ws->g[i] != l->cur && ws->g[i] != l->prev) {
			trawl_searcher_close(ws->s[i]);
			gen_release(ws->g[i]);
			ws->g[i] = NULL;
			ws->s[i] = NULL;
		}
	trawl_searcher *s = NULL;
	if (g) {
		for (int i = 0; i < 2 && !s; i++)
			if (ws->g[i] == g)
				s = ws->s[i];
		if (!s) {
			int slot = !ws->g[0] ? 0 : !ws->g[1] ? 1 : (ws->g[0] == l->prev ? 0 : 1);
			if (ws->g[slot]) {
				trawl_searcher_close(ws->s[slot]);
				gen_release(ws->g[slot]);
			}
			ws->g[slot] = NULL;
			ws->s[slot] = NULL;
			/* the generation's own for this worker; a worker never needs a
			 * second one, as it keeps both cur and prev */
			if (w < g->npre && g->pre[w]) {
				s = g->pre[w];
				g->pre[w] = NULL;
				g->refs++;
				ws->g[slot] = g;
				ws->s[slot] = s;
			}
		}
		*gen_no = g->no;
		if (newer)
			*newer = g != l->cur;
		if (bare)
			*bare = g->bare;
		if (gd)
			*gd = g->guard;
	}
	pthread_mutex_unlock(&l->mu);
	return s;
}

/* ---- requests ---- */

/* An error reply to a SEARCH, with header flags (WIRE_F_OUT_OF_SERVICE, or 0). */
static void refuse_search(tbuf *out, const wire_header *h, uint64_t gen_no, int status,
                          const char *msg, uint16_t flags)
{
	wire_header rh = *h;
	rh.generation = gen_no;
	rh.flags = flags;
	wire_search_reply r = {0};
	r.status = (uint16_t)status;
	r.errmsg = msg;
	r.errmsg_len = (uint32_t)strnlen(msg, LIMIT_ERRMSG_BYTES);
	tbuf_reset(out);
	wire_encode_search_reply(out, &rh, &r);
}

static void reply_error_search(tbuf *out, const wire_header *h, uint64_t gen_no, int status,
                               const char *msg)
{
	refuse_search(out, h, gen_no, status, msg, 0);
}

static void search_in(leaf *l, trawl_searcher *s, const wire_header *h, const wire_search *q,
                      uint32_t *shards, uint64_t gen_no, int bare, int newer, tbuf *out);

/* The message for a request refused because shard is out of service. */
static void out_of_service(shard_guard *gd, int shard, char *msg, size_t len)
{
	char why[256] = "";
	shard_guard_status(gd, (uint32_t)shard, why, sizeof why);
	snprintf(msg, len, "shard %d is out of service on this leaf: %s", shard,
	         why[0] ? why : "it is not served here");
}

static void do_search(leaf *l, unsigned w, const wire_header *h, const wire_search *q, tbuf *out)
{
	uint64_t nth = atomic_fetch_add(&l->searches, 1);
	if (l->cfg.delay_ms && l->cfg.delay_fraction > 0) {
		/* deterministic spread: every (1/fraction)-th search waits */
		uint64_t every = (uint64_t)(1.0 / l->cfg.delay_fraction + 0.5);
		if (every && nth % every == every - 1) {
			atomic_fetch_add(&l->delayed, 1);
			usleep(l->cfg.delay_ms * 1000u);
		}
	}
	uint64_t gen_no = 0;
	int bare = 0, newer = 0;
	shard_guard *gd = NULL;
	trawl_searcher *s = worker_searcher(l, w, h->generation, &gen_no, &bare, &gd, &newer);
	if (!s) {
		atomic_fetch_add(&l->errors, 1);
		reply_error_search(out, h, gen_no, TRAWL_ENOTFOUND,
		                   "the generation asked for is not served here");
		return;
	}
	uint32_t shards[TRAWL_MAX_SHARDS];
	for (uint32_t i = 0; i < q->nshards; i++)
		shards[i] = q->shards[i];
	int down = shard_guard_enter(gd, shards, q->nshards);
	if (down >= 0) {
		char msg[400];
		out_of_service(gd, down, msg, sizeof msg);
		atomic_fetch_add(&l->errors, 1);
		refuse_search(out, h, gen_no, TRAWL_ECORRUPT, msg, WIRE_F_OUT_OF_SERVICE);
		return;
	}
	search_in(l, s, h, q, shards, gen_no, bare, newer, out);
	shard_guard_leave(gd, shards, q->nshards);
}

/* do_search's work, with the shards entered in the guard. */
static void search_in(leaf *l, trawl_searcher *s, const wire_header *h, const wire_search *q,
                      uint32_t *shards, uint64_t gen_no, int bare, int newer, tbuf *out)
{
	trawl_search_opts o = {0};
	o.k = q->k;
	o.count_mode = (h->flags & WIRE_F_COUNT) ? TRAWL_COUNT_EXACT : TRAWL_COUNT_NONE;
	o.deadline_us = h->deadline_unix_us;
	o.shards = shards;
	o.nshards = q->nshards;
	int sorted = (h->flags & WIRE_F_SORT) != 0;
	trawl_sort keys[TRAWL_MAX_SORT_KEYS];
	char names[TRAWL_MAX_SORT_KEYS][LIMIT_FIELD_NAME_BYTES + 1];
	for (uint32_t i = 0; sorted && i < q->nsort; i++) {
		const wire_sortkey *k = &q->sort[i];
		memcpy(names[i], k->field, k->field_len);
		names[i][k->field_len] = 0;
		keys[i] = (trawl_sort){names[i], (k->flags & WIRE_SORT_DESC) != 0,
		                       (k->flags & WIRE_SORT_MISSING_FIRST) != 0,
		                       k->flags & WIRE_SORT_MIN   ? TRAWL_SORT_MIN
		                       : k->flags & WIRE_SORT_MAX ? TRAWL_SORT_MAX
		                                                  : TRAWL_SORT_DEFAULT};
	}
	if (sorted) {
		o.sort = keys;
		o.nsort = q->nsort;
		o.search_after = q->after_len ? q->after : NULL;
		o.search_after_len = q->after_len;
	}
	/* the wire decoder has checked the tree: this only allocates it */
	trawl_query *tq = NULL;
	trawl_results *r = NULL;
	char qerr[256];
	const char *msg = qerr;
	/* aggregations: the root's canonical spec, parsed for this request */
	int with_aggs = (h->flags & WIRE_F_AGGS) != 0;
	trawl_aggs *ag = NULL;
	int rc = with_aggs ? trawl_aggs_parse(&ag, q->aggs, q->aggs_len, qerr, sizeof qerr) : 0;
	o.aggs = ag;
	if (!rc)
		rc = trawl_query_decode(&tq, q->tree, q->tree_len, qerr, sizeof qerr);
	if (!rc) {
		rc = trawl_search_query(s, tq, &o, &r);
		msg = trawl_searcher_errmsg(s);
	}
	trawl_query_free(tq);
	char *partial_aggs = NULL;
	if (!rc && with_aggs && !(partial_aggs = trawl_results_aggs(r, 1))) {
		trawl_results_free(r);
		rc = TRAWL_ENOMEM;
		msg = "out of memory (the aggregations' partial result)";
	}
	if (rc) {
		trawl_aggs_free(ag);
		atomic_fetch_add(&l->errors, 1);
		reply_error_search(out, h, gen_no, rc, msg);
		return;
	}
	uint32_t n = trawl_results_count(r);
	int with_ids = (h->flags & WIRE_F_IDS) != 0;
	wire_hit *hits = malloc((n ? n : 1) * sizeof *hits);
	const char **ids = with_ids ? malloc((n ? n : 1) * sizeof *ids) : NULL;
	uint32_t *id_lens = with_ids ? malloc((n ? n : 1) * sizeof *id_lens) : NULL;
	wire_sortval *sv = sorted ? calloc(n ? n : 1, sizeof *sv) : NULL;
	tbuf svjson;
	tbuf_init(&svjson, LIMIT_MESSAGE_BYTES);
	if (!hits || (with_ids && (!ids || !id_lens)) || (sorted && !sv)) {
		free(hits);
		free(ids);
		free(id_lens);
		free(sv);
		free(partial_aggs);
		trawl_results_free(r);
		trawl_aggs_free(ag);
		reply_error_search(out, h, gen_no, TRAWL_ENOMEM, "out of memory");
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		hits[i].score = (float)trawl_results_score(r, i);
		hits[i].shard = (uint16_t)trawl_results_shard(r, i);
		hits[i].doc = trawl_results_docno(r, i);
		hits[i].hash = trawl_results_hash(r, i);
		if (with_ids) {
			ids[i] = trawl_results_id(r, i);
			id_lens[i] = (uint32_t)strlen(ids[i]);
		}
		if (sorted) {
			/* every hit's JSON end to end in svjson; the pointers are set
			 * below, once it has stopped moving */
			trawl_results_sort_keys(r, i, sv[i].v, &sv[i].missing);
			size_t at = svjson.len;
			char buf[LIMIT_SORT_JSON_BYTES + 1];
			size_t jl = trawl_results_sort_json(r, i, buf, sizeof buf);
			if (jl == 0 || jl > LIMIT_SORT_JSON_BYTES ||
			    tbuf_append(&svjson, buf, jl)) {
				free(hits);
				free(ids);
				free(id_lens);
				free(sv);
				tbuf_fini(&svjson);
				free(partial_aggs);
				trawl_results_free(r);
				trawl_aggs_free(ag);
				reply_error_search(out, h, gen_no, TRAWL_ELIMIT,
				                   "a hit's sort values do not fit a reply");
				return;
			}
			sv[i].json = (const char *)(uintptr_t)at; /* an offset until then */
			sv[i].json_len = (uint16_t)jl;
		}
	}
	for (uint32_t i = 0; sorted && i < n; i++)
		sv[i].json = (const char *)svjson.data + (uintptr_t)sv[i].json;
	int partial = trawl_results_partial(r);
	if (partial)
		atomic_fetch_add(&l->partial, 1);
	wire_header rh = *h;
	rh.generation = gen_no;
	rh.flags = (uint16_t)((partial ? WIRE_F_PARTIAL : 0) | (with_ids ? WIRE_F_IDS : 0) |
	                      (bare ? WIRE_F_NO_STORE : 0) | (sorted ? WIRE_F_SORT : 0) |
	                      (with_aggs ? WIRE_F_AGGS : 0) | (newer ? WIRE_F_NEWER : 0));
	wire_search_reply rep = {0};
	rep.status = TRAWL_OK;
	rep.total_relation = partial || !(h->flags & WIRE_F_COUNT) ? WIRE_TOTAL_GTE : WIRE_TOTAL_EQ;
	rep.total = trawl_results_total(r);
	rep.docs_searched = trawl_results_docs_searched(r);
	rep.queue_depth = rpc_server_busy(l->srv);
	rep.shards_answered = q->nshards;
	rep.nhits = n;
	rep.hits = hits;
	rep.ids = ids;
	rep.id_lens = id_lens;
	rep.nsort = sorted ? q->nsort : 0;
	rep.sorts = sv;
	rep.aggs = partial_aggs;
	rep.aggs_len =
	    partial_aggs ? (uint32_t)strnlen(partial_aggs, LIMIT_AGG_PARTIAL_BYTES + 1) : 0;
	if (wire_encode_search_reply(out, &rh, &rep) != TRAWL_OK)
		reply_error_search(out, h, gen_no, TRAWL_ELIMIT,
		                   with_aggs ? "reply too large (the aggregations' partial result "
		                               "is limited to 96 MiB, LIMIT_AGG_PARTIAL_BYTES)"
		                             : "reply too large");
	free(partial_aggs);
	free(hits);
	free(ids);
	free(id_lens);
	free(sv);
	tbuf_fini(&svjson);
	trawl_results_free(r);
	trawl_aggs_free(ag);
}

/* A FETCH (or GET) refused: shard is out of service here (the root asks a
 * twin). */
static void refuse_fetch(leaf *l, shard_guard *gd, int shard, const wire_header *rh, tbuf *out)
{
	char msg[400];
	out_of_service(gd, shard, msg, sizeof msg);
	atomic_fetch_add(&l->errors, 1);
	wire_fetch_reply rep = {0};
	rep.status = TRAWL_ECORRUPT;
	rep.errmsg = msg;
	rep.errmsg_len = (uint32_t)strnlen(msg, LIMIT_ERRMSG_BYTES);
	wire_header h = *rh;
	h.flags = WIRE_F_OUT_OF_SERVICE;
	tbuf_reset(out);
	wire_encode_fetch_reply(out, &h, &rep);
}

static void do_fetch(leaf *l, unsigned w, const wire_header *h, const wire_fetch *f, tbuf *out)
{
	atomic_fetch_add(&l->fetches, 1);
	uint64_t gen_no = 0;
	shard_guard *gd = NULL;
	trawl_searcher *s = worker_searcher(l, w, h->generation, &gen_no, NULL, &gd, NULL);
	wire_header rh = *h;
	rh.generation = gen_no;
	rh.flags = 0;
	wire_fetch_reply rep = {0};
	if (!s) {
		atomic_fetch_add(&l->errors, 1);
		rep.status = TRAWL_ENOTFOUND;
		rep.errmsg = "the generation asked for is not served here";
		rep.errmsg_len = (uint32_t)strlen(rep.errmsg);
		wire_encode_fetch_reply(out, &rh, &rep);
		return;
	}
	trawl_docref *refs = malloc(f->ndocs * sizeof *refs);
	wire_doc *docs = calloc(f->ndocs, sizeof *docs);
	trawl_results *r = NULL;
	int rc = refs && docs ? TRAWL_OK : TRAWL_ENOMEM;
	uint32_t shards[TRAWL_MAX_SHARDS], nshards = 0;
	uint8_t seen[TRAWL_MAX_SHARDS] = {0};
	for (uint32_t i = 0; !rc && i < f->ndocs; i++) {
		wire_docref d;
		wire_fetch_docref(f, i, &d);
		refs[i] = (trawl_docref){d.shard, d.doc};
		if (d.shard < TRAWL_MAX_SHARDS && !seen[d.shard]++)
			shards[nshards++] = d.shard;
	}
	int down = rc ? -1 : shard_guard_enter(gd, shards, nshards), entered = !rc;
	if (down >= 0) {
		refuse_fetch(l, gd, down, &rh, out);
		free(refs);
		free(docs);
		return;
	}
	/* the query only serves the snippets */
	trawl_query *tq = NULL;
	char qerr[256] = "";
	if (!rc && f->field_len && f->tree_len)
		rc = trawl_query_decode(&tq, f->tree, f->tree_len, qerr, sizeof qerr);
	if (!rc)
		rc = trawl_fetch_query(s, tq, refs, f->ndocs, &r);
	trawl_query_free(tq);
	char field[LIMIT_FIELD_NAME_BYTES + 1], pre[LIMIT_MARK_BYTES + 1],
	    post[LIMIT_MARK_BYTES + 1];
	snprintf(field, sizeof field, "%.*s", (int)f->field_len, f->field ? f->field : "");
	snprintf(pre, sizeof pre, "%.*s", (int)f->pre_len, f->pre ? f->pre : "");
	snprintf(post, sizeof post, "%.*s", (int)f->post_len, f->post ? f->post : "");
	for (uint32_t i = 0; !rc && i < f->ndocs; i++) {
		wire_doc *d = &docs[i];
		d->shard = (uint16_t)refs[i].shard;
		d->doc = refs[i].doc;
		const char *id = trawl_results_id(r, i);
		if (!id) {
			d->status = TRAWL_ENOTFOUND;
			continue;
		}
		d->id = id;
		d->id_len = (uint32_t)strlen(id);
		size_t len = 0;
		int derr = 0;
		const char *json = (h->flags & WIRE_F_NO_SOURCE) && !f->field_len
		                       ? NULL
		                       : trawl_results_doc(r, i, &len, &derr);
		if (json && !(h->flags & WIRE_F_NO_SOURCE)) {
			d->json = json;
			d->json_len = (uint32_t)len;
		} else if (json == NULL && derr && derr != TRAWL_ENOTFOUND) {
			d->status = (uint16_t)derr; /* damaged: the root reports it */
		}
		if (f->field_len) {
			const char *sn =
			    trawl_results_snippet(r, i, field, pre, post, f->snippet_chars);
			if (sn) {
				d->snippet = sn;
				d->snippet_len = (uint32_t)strlen(sn);
			}
		}
	}
	if (rc) {
		atomic_fetch_add(&l->errors, 1);
		rep.status = (uint16_t)rc;
		rep.errmsg = qerr[0] ? qerr : trawl_searcher_errmsg(s);
		rep.errmsg_len = (uint32_t)strnlen(rep.errmsg, LIMIT_ERRMSG_BYTES);
	} else {
		rep.ndocs = f->ndocs;
		rep.docs = docs;
	}
	tbuf_reset(out);
	if (wire_encode_fetch_reply(out, &rh, &rep) != TRAWL_OK) {
		wire_fetch_reply e = {0};
		e.status = TRAWL_ELIMIT;
		e.errmsg = "reply too large";
		e.errmsg_len = (uint32_t)strlen(e.errmsg);
		tbuf_reset(out);
		wire_encode_fetch_reply(out, &rh, &e);
	}
	trawl_results_free(r);
	if (entered)
		shard_guard_leave(gd, shards, nshards);
	free(refs);
	free(docs);
}

static void do_get(leaf *l, unsigned w, const wire_header *h, const wire_get *g, tbuf *out)
{
	atomic_fetch_add(&l->fetches, 1);
	uint64_t gen_no = 0;
	shard_guard *gd = NULL;
	trawl_searcher *s = worker_searcher(l, w, 0, &gen_no, NULL, &gd, NULL);
	wire_header rh = *h;
	rh.generation = gen_no;
	rh.flags = 0;
	wire_fetch_reply rep = {0};
	wire_doc d = {0};
	char id[LIMIT_ID_BYTES + 1], *json = NULL;
	size_t len = 0;
	snprintf(id, sizeof id, "%.*s", (int)g->id_len, g->id);
	/* the shard trawl_get reads: the one the id routes to (none before
	 * the first generation) */
	uint32_t sh = s ? th_shard_of(id, strlen(id), l->total_shards) : 0;
	int down = s ? shard_guard_enter(gd, &sh, 1) : -1;
	if (down >= 0) {
		refuse_fetch(l, gd, down, &rh, out);
		return;
	}
	int rc = s ? trawl_get(s, id, &json, &len) : TRAWL_ENOTFOUND;
	if (s)
		shard_guard_leave(gd, &sh, 1);
	d.shard = g->shard;
	d.status = (uint16_t)rc;
	d.id = id;
	d.id_len = (uint32_t)strlen(id);
	if (!rc) {
		d.json = json;
		d.json_len = (uint32_t)len;
	}
	rep.ndocs = 1;
	rep.docs = &d;
	tbuf_reset(out);
	wire_encode_fetch_reply(out, &rh, &rep);
	free(json);
}

static void do_ping(leaf *l, const wire_header *h, tbuf *out)
{
	atomic_fetch_add(&l->pings, 1);
	wire_pong p = {0};
	pthread_mutex_lock(&l->mu);
	p.generation = l->cur ? l->cur->no : 0;
	/* the shards in service: a root sends the others to their replicas */
	for (uint32_t i = 0; l->cur && i < l->nshards; i++)
		if (shard_guard_status(l->cur->guard, l->shards[i], NULL, 0) == GUARD_SERVING)
			p.shards[p.nshards++] = (uint16_t)l->shards[i];
	p.ready = p.nshards > 0;
	pthread_mutex_unlock(&l->mu);
	p.queue_depth = rpc_server_busy(l->srv);
	wire_header rh = *h;
	rh.generation = p.generation;
	rh.flags = 0;
	wire_encode_pong(out, &rh, &p);
}

/* SCHEMA: the schema of the generation asked for (0: the current one),
 * copied under the mutex, which keeps that generation open meanwhile. */
static void do_schema(leaf *l, const wire_header *h, tbuf *out)
{
	pthread_mutex_lock(&l->mu);
	gen *g = h->generation == 0                        ? l->cur
	         : l->cur && l->cur->no == h->generation   ? l->cur
	         : l->prev && l->prev->no == h->generation ? l->prev
	                                                   : NULL;
	char *schema = g ? strdup(trawl_index_schema(g->idx)) : NULL;
	uint64_t gen_no = g ? g->no : 0;
	pthread_mutex_unlock(&l->mu);
	wire_header rh = *h;
	rh.generation = gen_no;
	rh.flags = 0;
	wire_schema_reply r = {0};
	r.status = !g ? TRAWL_ENOTFOUND : !schema ? TRAWL_ENOMEM : TRAWL_OK;
	r.errmsg = !g        ? "the generation asked for is not served here"
	           : !schema ? "out of memory"
	                     : "";
	r.errmsg_len = (uint32_t)strlen(r.errmsg);
	r.schema = schema;
	r.schema_len = schema ? (uint32_t)strnlen(schema, LIMIT_SCHEMA_JSON_BYTES + 1) : 0;
	if (r.status)
		atomic_fetch_add(&l->errors, 1);
	if (wire_encode_schema_reply(out, &rh, &r) != TRAWL_OK) {
		wire_schema_reply e = {.status = TRAWL_ELIMIT,
		                       .errmsg = "the schema is over LIMIT_SCHEMA_JSON_BYTES"};
		e.errmsg_len = (uint32_t)strlen(e.errmsg);
		tbuf_reset(out);
		wire_encode_schema_reply(out, &rh, &e);
	}
	free(schema);
}

/* The express requests (common/rpc.h): pings, and cancels (answered as
 * pings), which the root's health checks must get through at once however
 * many searches wait. */
static int is_ping(const uint8_t *req, size_t len)
{
	wire_header h;
	return wire_header_decode(req, len, &h, NULL, 0) == TRAWL_OK &&
	       (h.type == WIRE_PING || h.type == WIRE_CANCEL);
}

/* A request's cost for shedding (common/rpc.h): a search costs 1 + k / 100
 * (k its hits wanted, the u32 after the header), so that a full queue
 * refuses the searches for the most hits first; anything else costs 0 and
 * is never refused: a FETCH finishes a search already admitted, and a ping
 * must always pass. */
static unsigned search_cost(const uint8_t *req, size_t len)
{
	wire_header h;
	if (wire_header_decode(req, len, &h, NULL, 0) != TRAWL_OK || h.type != WIRE_SEARCH)
		return 0;
	if (len < WIRE_HEADER_BYTES + 4)
		return 1;
	const uint8_t *p = req + WIRE_HEADER_BYTES;
	uint32_t k =
	    (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
	return 1 + (k > 100u * 1000000u ? 1000000u : k / 100u);
}

/* A request's deadline, from its header (0: none sent): a full queue
 * refuses a search whose root has given up on it first (common/rpc.h). */
static uint64_t request_deadline(const uint8_t *req, size_t len)
{
	wire_header h;
	if (wire_header_decode(req, len, &h, NULL, 0) != TRAWL_OK)
		return 0;
	return h.deadline_unix_us;
}

/* A search refused because the queue is full: TRAWL_EBUSY, which the root
 * takes as "ask another replica", never as this replica's failure. Runs
 * on nng's thread, without a worker. */
static void refuse_busy(void *ctx, const uint8_t *req, size_t len, tbuf *out)
{
	leaf *l = ctx;
	wire_header h = {0};
	wire_header_decode(req, len, &h, NULL, 0);
	char msg[200];
	snprintf(msg, sizeof msg,
	         "this leaf is overloaded: %u searches wait for its %u workers (leaf --queue)",
	         l->cfg.queue, l->cfg.workers);
	refuse_search(out, &h, 0, TRAWL_EBUSY, msg, 0);
}

static void handle(void *ctx, unsigned worker, const uint8_t *req, size_t len, tbuf *out)
{
	leaf *l = ctx;
	/* a generation's files, for leaves that pull them */
	if (fileserve_answer(l->dir, req, len, out))
		return;
	wire_msg m;
	char err[256];
	if (wire_decode(req, len, &m, err, sizeof err) != TRAWL_OK) {
		/* a malformed request: answer with an error reply the root can decode */
		atomic_fetch_add(&l->errors, 1);
		wire_header h = {0};
		wire_header_decode(req, len, &h, NULL, 0);
		logf_(l, "bad request: %s", err);
		reply_error_search(out, &h, 0, TRAWL_EINVAL, err);
		return;
	}
	m.h.deadline_unix_us = wire_deadline(m.h.deadline_unix_us, clock_unix_us());
	if (worker >= l->cfg.workers && m.h.type != WIRE_PING && m.h.type != WIRE_CANCEL) {
		/* the reserve worker has no searcher: is_ping gives it pings only */
		reply_error_search(out, &m.h, 0, TRAWL_EINVAL,
		                   "the reserve worker answers PING only");
		return;
	}
	switch (m.h.type) {
	case WIRE_SEARCH:
		do_search(l, worker, &m.h, &m.u.search, out);
		break;
	case WIRE_FETCH:
		do_fetch(l, worker, &m.h, &m.u.fetch, out);
		break;
	case WIRE_GET:
		do_get(l, worker, &m.h, &m.u.get, out);
		break;
	case WIRE_SCHEMA:
		do_schema(l, &m.h, out);
		break;
	case WIRE_PING:
	case WIRE_CANCEL: /* requests run to their deadline; a cancel is acknowledged */
		do_ping(l, &m.h, out);
		break;
	default:
		atomic_fetch_add(&l->errors, 1);
		reply_error_search(out, &m.h, 0, TRAWL_EINVAL,
		                   "a leaf answers SEARCH, FETCH, GET, PING, CANCEL, SCHEMA, FILES "
		                   "and FILE_READ");
	}
}

/* ---- the health and metrics port ---- */

static void http_handle(void *ctx, const http_request *req, http_response *resp)
{
	leaf *l = ctx;
	leaf_stats st;
	leaf_get_stats(l, &st);
	if (!strcmp(req->path, "/livez")) {
		http_response_json(resp, 200, "{\"status\":\"ok\"}", 15);
	} else if (!strcmp(req->path, "/readyz")) {
		/* ready: a generation verified against its checksums is open, and
		 * one of its shards at least is in service */
		char body[160];
		int n = snprintf(body, sizeof body,
		                 "{\"status\":\"%s\",\"generation\":%llu,"
		                 "\"shards_out_of_service\":%u}",
		                 st.ready ? "ok" : "not ready", (unsigned long long)st.generation,
		                 st.files.out_of_service);
		http_response_json(resp, st.ready ? 200 : 503, body, (size_t)n);
	} else if (!strcmp(req->path, "/metrics")) {
		char body[6144 + 48 * 256];
		int n = snprintf(
		    body, sizeof body,
		    "# HELP trawl_leaf_generation Generation served.\n# TYPE trawl_leaf_generation "
		    "gauge\n"
		    "trawl_leaf_generation %llu\n"
		    "# HELP trawl_leaf_busy Requests being handled.\n# TYPE trawl_leaf_busy gauge\n"
		    "trawl_leaf_busy %u\n"
		    "# HELP trawl_leaf_queued Requests taken in and waiting for a worker.\n"
		    "# TYPE trawl_leaf_queued gauge\ntrawl_leaf_queued %u\n"
		    "# HELP trawl_leaf_requests_total Requests by type.\n"
		    "# TYPE trawl_leaf_requests_total counter\n"
		    "trawl_leaf_requests_total{type=\"search\"} %llu\n"
		    "trawl_leaf_requests_total{type=\"fetch\"} %llu\n"
		    "trawl_leaf_requests_total{type=\"ping\"} %llu\n"
		    "# HELP trawl_leaf_errors_total Requests answered with an error.\n"
		    "# TYPE trawl_leaf_errors_total counter\ntrawl_leaf_errors_total %llu\n"
		    "# HELP trawl_leaf_partial_total Searches cut short by their deadline.\n"
		    "# TYPE trawl_leaf_partial_total counter\ntrawl_leaf_partial_total %llu\n"
		    "# HELP trawl_leaf_generation_switches_total Generations switched to.\n"
		    "# TYPE trawl_leaf_generation_switches_total counter\n"
		    "trawl_leaf_generation_switches_total %llu\n"
		    "# HELP trawl_leaf_peers_cut_total Connections closed for not reading their "
		    "replies.\n"
		    "# TYPE trawl_leaf_peers_cut_total counter\ntrawl_leaf_peers_cut_total %llu\n"
		    "# HELP trawl_leaf_connections_refused_total Connections closed as they came, "
		    "over 1,024 in all or 64 from one address.\n"
		    "# TYPE trawl_leaf_connections_refused_total counter\n"
		    "trawl_leaf_connections_refused_total %llu\n"
		    "# HELP trawl_leaf_searches_shed_total Searches refused as overloaded, their "
		    "queue full (the root asks another replica).\n"
		    "# TYPE trawl_leaf_searches_shed_total counter\n"
		    "trawl_leaf_searches_shed_total %llu\n"
		    "# HELP trawl_leaf_queue_limit Searches let wait for a worker (--queue).\n"
		    "# TYPE trawl_leaf_queue_limit gauge\ntrawl_leaf_queue_limit %u\n"
		    "# HELP trawl_leaf_filter_cache_requests_total Typed clauses' document sets "
		    "looked up in the filter cache of the generation served, by result.\n"
		    "# TYPE trawl_leaf_filter_cache_requests_total counter\n"
		    "trawl_leaf_filter_cache_requests_total{result=\"hit\"} %llu\n"
		    "trawl_leaf_filter_cache_requests_total{result=\"miss\"} %llu\n"
		    "# HELP trawl_leaf_filter_cache_entries Document sets in the filter cache.\n"
		    "# TYPE trawl_leaf_filter_cache_entries gauge\n"
		    "trawl_leaf_filter_cache_entries %llu\n"
		    "# HELP trawl_leaf_filter_cache_bytes Bytes the filter cache holds.\n"
		    "# TYPE trawl_leaf_filter_cache_bytes gauge\ntrawl_leaf_filter_cache_bytes "
		    "%llu\n"
		    "# HELP trawl_leaf_scrub_bytes_total Bytes of shard files read again by the "
		    "scrub.\n"
		    "# TYPE trawl_leaf_scrub_bytes_total counter\ntrawl_leaf_scrub_bytes_total "
		    "%llu\n"
		    "# HELP trawl_leaf_scrub_passes_total Passes of the scrub over every shard "
		    "file.\n"
		    "# TYPE trawl_leaf_scrub_passes_total counter\ntrawl_leaf_scrub_passes_total "
		    "%llu\n"
		    "# HELP trawl_leaf_shard_file_writes_total Shard files opened for writing or "
		    "truncated by another process while served.\n"
		    "# TYPE trawl_leaf_shard_file_writes_total counter\n"
		    "trawl_leaf_shard_file_writes_total %llu\n"
		    "# HELP trawl_leaf_shard_files_damaged_total Shard files found to differ from "
		    "their manifest while served.\n"
		    "# TYPE trawl_leaf_shard_files_damaged_total counter\n"
		    "trawl_leaf_shard_files_damaged_total %llu\n"
		    "# HELP trawl_leaf_shard_files_unleased Shard files without a read lease "
		    "(watched by the scrub alone).\n"
		    "# TYPE trawl_leaf_shard_files_unleased gauge\n"
		    "trawl_leaf_shard_files_unleased %u\n"
		    "# HELP trawl_leaf_shard_in_service 1 for a shard in service, 0 for one taken "
		    "out (damaged, or being written to).\n"
		    "# TYPE trawl_leaf_shard_in_service gauge\n",
		    (unsigned long long)st.generation, st.busy, st.queued,
		    (unsigned long long)st.searches, (unsigned long long)st.fetches,
		    (unsigned long long)st.pings, (unsigned long long)st.errors,
		    (unsigned long long)st.partial, (unsigned long long)st.switches,
		    (unsigned long long)st.peers_cut, (unsigned long long)st.refused,
		    (unsigned long long)st.shed, st.queue, (unsigned long long)st.fc_hits,
		    (unsigned long long)st.fc_misses, (unsigned long long)st.fc_entries,
		    (unsigned long long)st.fc_bytes, (unsigned long long)st.files.scrubbed_bytes,
		    (unsigned long long)st.files.scrub_passes,
		    (unsigned long long)st.files.lease_breaks, (unsigned long long)st.files.damaged,
		    st.files.unleased);
		for (uint32_t i = 0; i < st.nshards && n > 0 && (size_t)n < sizeof body; i++)
			n += snprintf(body + n, sizeof body - (size_t)n,
			              "trawl_leaf_shard_in_service{shard=\"%u\"} %d\n",
			              st.shards[i], st.in_service[i]);
		if (st.pulling && n > 0 && (size_t)n < sizeof body)
			n += snprintf(
			    body + n, sizeof body - (size_t)n,
			    "# HELP trawl_leaf_pull_generations_total Generations pulled from the "
			    "source (--pull), checked and published.\n"
			    "# TYPE trawl_leaf_pull_generations_total counter\n"
			    "trawl_leaf_pull_generations_total %llu\n"
			    "# HELP trawl_leaf_pull_refused_total Generations refused: a file or "
			    "the "
			    "manifest received failed its check (the log says which).\n"
			    "# TYPE trawl_leaf_pull_refused_total counter\n"
			    "trawl_leaf_pull_refused_total %llu\n"
			    "# HELP trawl_leaf_pull_failures_total Pulls that failed otherwise (no "
			    "answer, a local error).\n"
			    "# TYPE trawl_leaf_pull_failures_total counter\n"
			    "trawl_leaf_pull_failures_total %llu\n"
			    "# HELP trawl_leaf_pull_bytes_total Bytes of files received.\n"
			    "# TYPE trawl_leaf_pull_bytes_total counter\n"
			    "trawl_leaf_pull_bytes_total %llu\n"
			    "# HELP trawl_leaf_pull_files_total Files of pulled generations, by "
			    "how "
			    "they came: downloaded, or hard-linked from a local generation.\n"
			    "# TYPE trawl_leaf_pull_files_total counter\n"
			    "trawl_leaf_pull_files_total{how=\"fetched\"} %llu\n"
			    "trawl_leaf_pull_files_total{how=\"linked\"} %llu\n"
			    "# HELP trawl_leaf_pull_source_generation The source's live "
			    "generation, "
			    "as last seen.\n"
			    "# TYPE trawl_leaf_pull_source_generation gauge\n"
			    "trawl_leaf_pull_source_generation %llu\n",
			    (unsigned long long)st.pull.pulled, (unsigned long long)st.pull.refused,
			    (unsigned long long)st.pull.failed, (unsigned long long)st.pull.bytes,
			    (unsigned long long)st.pull.files_fetched,
			    (unsigned long long)st.pull.files_linked,
			    (unsigned long long)st.pull.source_generation);
		if (n < 0 || (size_t)n >= sizeof body)
			n = (int)strlen(body);
		http_response_text(resp, 200, "text/plain; version=0.0.4", body, (size_t)n);
	} else {
		http_response_error(resp, 404, "not_found",
		                    "a leaf serves /livez, /readyz and /metrics");
	}
}

/* ---- generations ---- */

/* Adds the counters of a guard no longer ticked to the leaf's (mu held). */
static void retire_guard(leaf *l, shard_guard *gd)
{
	shard_guard_stats st;
	shard_guard_get_stats(gd, &st);
	l->retired.scrubbed_bytes += st.scrubbed_bytes;
	l->retired.scrub_passes += st.scrub_passes;
	l->retired.lease_breaks += st.lease_breaks;
	l->retired.damaged += st.damaged;
}

/* The guards of cur and prev, ticked every 20 ms (shardguard.h), in a
 * thread of their own: opening a generation (the watcher's work) reads
 * every byte of it, and a writer waits on the guard meanwhile. */
static void *guard_main(void *arg)
{
	leaf *l = arg;
	while (!atomic_load(&l->stopping)) {
		usleep(20 * 1000);
		pthread_mutex_lock(&l->mu);
		gen *g[2] = {l->cur, l->prev};
		for (int i = 0; i < 2; i++)
			if (g[i])
				g[i]->refs++;
		pthread_mutex_unlock(&l->mu);
		uint64_t now = clock_mono_us();
		for (int i = 0; i < 2; i++)
			if (g[i])
				shard_guard_tick(g[i]->guard, now);
		pthread_mutex_lock(&l->mu);
		gen_release(g[0]);
		gen_release(g[1]);
		pthread_mutex_unlock(&l->mu);
	}
	return NULL;
}

/* The layout of the first generation served (a pulling leaf may start
 * with none): its shard count, and its shards when none were asked for. */
static void first_layout(leaf *l, uint32_t shards)
{
	pthread_mutex_lock(&l->mu);
	if (!l->total_shards) {
		l->total_shards = shards;
		if (!l->cfg.shards)
			for (uint32_t i = 0; i < shards && i < 256; i++)
				l->shards[l->nshards++] = i;
	}
	pthread_mutex_unlock(&l->mu);
}

/* The pull thread (cfg.pull_url): a step of the puller every watch
 * interval, the watcher poked when it published; what went wrong is said
 * once until it changes. */
static void *pull_main(void *arg)
{
	leaf *l = arg;
	char last[1024] = "";
	unsigned slept = l->cfg.watch_ms; /* the first step at once */
	while (!atomic_load(&l->stopping)) {
		if (slept < l->cfg.watch_ms) {
			usleep(50 * 1000);
			slept += 50;
			continue;
		}
		slept = 0;
		char err[1024] = "";
		uint64_t pulled = 0;
		int rc = puller_step(l->pull, &pulled, err, sizeof err);
		if (atomic_load(&l->stopping))
			break;
		if (pulled) {
			pull_stats ps;
			puller_get_stats(l->pull, &ps);
			logf_(l,
			      "pulled generation %llu from %s (%llu bytes received so far, %llu "
			      "files fetched and %llu linked)",
			      (unsigned long long)pulled, l->cfg.pull_url,
			      (unsigned long long)ps.bytes, (unsigned long long)ps.files_fetched,
			      (unsigned long long)ps.files_linked);
			leaf_poke(l);
			last[0] = 0;
		} else if (rc && strcmp(err, last)) {
			logf_(l, "%s: %s", rc == TRAWL_ECORRUPT ? "not pulling" : "pull", err);
			snprintf(last, sizeof last, "%s", err);
		} else if (!rc) {
			last[0] = 0;
		}
	}
	return NULL;
}

static void *watch_main(void *arg)
{
	leaf *l = arg;
	unsigned slept = 0;
	uint64_t refused = 0; /* a generation found unusable */
	while (!atomic_load(&l->stopping)) {
		usleep(atomic_load(&l->poked) ? 2 * 1000 : 50 * 1000);
		slept += 50;
		if (slept < l->cfg.watch_ms && !atomic_exchange(&l->poked, 0))
			continue;
		slept = 0;
		uint64_t want = read_current(l->dir);
		pthread_mutex_lock(&l->mu);
		uint64_t have = l->cur ? l->cur->no : 0;
		pthread_mutex_unlock(&l->mu);
		if (want == 0 || want == have)
			continue;
		gen *g;
		char err[1024];
		if (refused == want)
			continue; /* said once already */
		if (open_gen(l, &g, err, sizeof err) != TRAWL_OK) {
			logf_(l, "not switching to generation %llu: %s", (unsigned long long)want,
			      err);
			refused = want;
			continue;
		}
		trawl_index_stats st;
		trawl_index_get_stats(g->idx, &st);
		if (!have)
			first_layout(l, st.shards);
		if (st.shards != l->total_shards) {
			/* another shard count routes documents differently: the roots'
			 * cluster file must change first; keep serving what we have */
			logf_(l,
			      "not switching to generation %llu: it has %u shards, this leaf "
			      "serves a generation of %u; restart it with the new layout",
			      (unsigned long long)want, st.shards, l->total_shards);
			gen_free(g);
			refused = want;
			continue;
		}
		pthread_mutex_lock(&l->mu);
		gen *old_prev = l->prev;
		l->prev = l->cur;
		l->cur = g;
		atomic_store(&l->serving, g->no);
		if (old_prev)
			retire_guard(l, old_prev->guard);
		gen_release(old_prev);
		pthread_mutex_unlock(&l->mu);
		atomic_fetch_add(&l->switches, 1);
		logf_(l, "serving generation %llu", (unsigned long long)g->no);
	}
	return NULL;
}

uint64_t leaf_generation(leaf *l)
{
	return atomic_load(&l->serving);
}

void leaf_poke(leaf *l)
{
	atomic_store(&l->poked, 1);
}

int leaf_start(leaf **out, const leaf_config *cfg, char *err, size_t errlen)
{
	*out = NULL;
	leaf *l = calloc(1, sizeof *l);
	if (!l)
		return TRAWL_ENOMEM;
	l->cfg = *cfg;
	if (!l->cfg.workers)
		l->cfg.workers = 2;
	if (!l->cfg.queue)
		l->cfg.queue = l->cfg.workers * LIMIT_LEAF_QUEUE_PER_WORKER;
	if (l->cfg.queue > LIMIT_RPC_MAX_QUEUE)
		l->cfg.queue = LIMIT_RPC_MAX_QUEUE;
	if (!l->cfg.watch_ms)
		l->cfg.watch_ms = 250;
	pthread_mutex_init(&l->mu, NULL);
	l->dir = strdup(cfg->index_dir);
	int rc = l->dir ? TRAWL_OK : TRAWL_ENOMEM;
	/* only the shards asked for are verified and opened */
	for (uint32_t i = 0; cfg->shards && i < cfg->nshards && i < 256; i++)
		l->shards[l->nshards++] = cfg->shards[i];
	if (!rc && cfg->pull_url) {
		pull_config pc = {.dir = l->dir,
		                  .url = cfg->pull_url,
		                  .tls = &cfg->tls,
		                  .shards = cfg->shards ? l->shards : NULL,
		                  .nshards = cfg->shards ? l->nshards : 0,
		                  .bytes_per_s = cfg->pull_bytes_per_s,
		                  .stop = &l->stopping};
		rc = puller_open(&l->pull, &pc, err, errlen);
	}
	uint64_t live = 0;
	char cerr[256];
	int none = l->pull && idx_gen_current(l->dir, &live, cerr, sizeof cerr) == TRAWL_ENOTFOUND;
	/* a pulling leaf's directory may have no generation yet: it serves
	 * none until its first pull */
	if (!rc && !none && (rc = open_gen(l, &l->cur, err, errlen)) == TRAWL_OK) {
		trawl_index_stats st;
		trawl_index_get_stats(l->cur->idx, &st);
		first_layout(l, st.shards);
	}
	if (!rc && !(l->ws = calloc(l->cfg.workers, sizeof *l->ws)))
		rc = TRAWL_ENOMEM;
	if (!rc) {
		rpc_server *srv = NULL;
		rpc_server_opts so = {.tls = &cfg->tls,
		                      .workers = l->cfg.workers,
		                      .express = is_ping,
		                      .max_request = LIMIT_LEAF_REQUEST_BYTES,
		                      .cost = search_cost,
		                      .refuse = refuse_busy,
		                      .max_queue = l->cfg.queue,
		                      .deadline = request_deadline};
		rc = rpc_server_start(&srv, cfg->listen_url, &so, handle, l, err, errlen);
		atomic_store(&l->srv, srv);
	}
	if (!rc && cfg->http_bind) {
		http_config hc = {0};
		hc.bind = cfg->http_bind;
		hc.port = cfg->http_port;
		hc.threads = 1;
		hc.max_connections = 64;
		rc = http_server_start(&l->http, &hc, http_handle, l, err, errlen);
	}
	if (!rc && pthread_create(&l->watcher, NULL, watch_main, l) != 0)
		rc = TRAWL_ENOMEM;
	if (!rc && pthread_create(&l->guarder, NULL, guard_main, l) != 0) {
		atomic_store(&l->stopping, 1);
		pthread_join(l->watcher, NULL);
		rc = TRAWL_ENOMEM;
	}
	if (!rc && l->pull) {
		if (pthread_create(&l->pull_thread, NULL, pull_main, l) != 0) {
			atomic_store(&l->stopping, 1);
			pthread_join(l->watcher, NULL);
			pthread_join(l->guarder, NULL);
			rc = TRAWL_ENOMEM;
		} else {
			l->pulling = 1;
		}
	}
	if (rc) {
		http_server_stop(l->http);
		if (l->srv)
			rpc_server_stop(l->srv);
		puller_close(l->pull);
		gen_release(l->cur);
		free(l->ws);
		free(l->dir);
		pthread_mutex_destroy(&l->mu);
		free(l);
		return rc;
	}
	if (l->cur)
		logf_(l, "serving generation %llu, %u shard%s", (unsigned long long)l->cur->no,
		      l->nshards, l->nshards == 1 ? "" : "s");
	else
		logf_(l, "no generation in %s yet: pulling one from %s", l->dir, cfg->pull_url);
	*out = l;
	return TRAWL_OK;
}

void leaf_stop(leaf *l)
{
	if (!l)
		return;
	atomic_store(&l->stopping, 1);
	if (l->pulling)
		pthread_join(l->pull_thread, NULL);
	pthread_join(l->watcher, NULL);
	pthread_join(l->guarder, NULL);
	http_server_stop(l->http);
	rpc_server_stop(l->srv);
	puller_close(l->pull);
	pthread_mutex_lock(&l->mu);
	for (unsigned w = 0; w < l->cfg.workers; w++)
		for (int i = 0; i < 2; i++)
			if (l->ws[w].g[i]) {
				trawl_searcher_close(l->ws[w].s[i]);
				gen_release(l->ws[w].g[i]);
			}
	gen_release(l->cur);
	gen_release(l->prev);
	pthread_mutex_unlock(&l->mu);
	pthread_mutex_destroy(&l->mu);
	free(l->ws);
	free(l->dir);
	free(l);
}

void leaf_get_stats(leaf *l, leaf_stats *st)
{
	memset(st, 0, sizeof *st);
	pthread_mutex_lock(&l->mu);
	st->generation = l->cur ? l->cur->no : 0;
	st->ready = l->cur != NULL;
	st->files = l->retired;
	for (int k = 0; k < 2; k++) {
		gen *g = k ? l->prev : l->cur;
		if (!g)
			continue;
		shard_guard_stats gs;
		shard_guard_get_stats(g->guard, &gs);
		st->files.scrubbed_bytes += gs.scrubbed_bytes;
		st->files.scrub_passes += gs.scrub_passes;
		st->files.lease_breaks += gs.lease_breaks;
		st->files.damaged += gs.damaged;
		if (g == l->cur) {
			st->files.out_of_service = gs.out_of_service;
			st->files.unleased = gs.unleased;
			st->ready = gs.out_of_service < l->nshards;
			for (uint32_t i = 0; i < l->nshards; i++)
				st->in_service[i] = shard_guard_status(g->guard, l->shards[i], NULL,
				                                       0) == GUARD_SERVING;
		}
	}
	if (l->cur) {
		trawl_index_stats is;
		trawl_index_get_stats(l->cur->idx, &is);
		st->docs = is.docs;
		st->bytes = is.bytes;
		st->docs_deleted = trawl_index_docs_deleted(l->cur->idx);
		st->fc_hits = is.filter_cache_hits;
		st->fc_misses = is.filter_cache_misses;
		st->fc_entries = is.filter_cache_entries;
		st->fc_bytes = is.filter_cache_bytes;
	}
	pthread_mutex_unlock(&l->mu);
	st->busy = rpc_server_busy(l->srv);
	st->queued = rpc_server_queued(l->srv);
	st->searches = atomic_load(&l->searches);
	st->fetches = atomic_load(&l->fetches);
	st->pings = atomic_load(&l->pings);
	st->errors = atomic_load(&l->errors);
	st->partial = atomic_load(&l->partial);
	st->switches = atomic_load(&l->switches);
	st->peers_cut = rpc_server_cut(l->srv);
	st->refused = rpc_server_refused(l->srv);
	st->shed = rpc_server_shed(l->srv);
	st->queue = l->cfg.queue;
	pthread_mutex_lock(&l->mu);
	st->nshards = l->nshards;
	memcpy(st->shards, l->shards, sizeof st->shards);
	pthread_mutex_unlock(&l->mu);
	if (l->pull) {
		st->pulling = 1;
		puller_get_stats(l->pull, &st->pull);
	}
}

uint16_t leaf_http_port(const leaf *l)
{
	return l->http ? http_server_port(l->http) : 0;
}
