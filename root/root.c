/*
 * root.c - the root (see root.h): the cluster file, the result cache in
 * front of every search, and a search's three phases, each in its own
 * module: the SEARCH scatter (root/scatter.c, a state machine over the
 * replicas of root/replica.c), the merge of the hits (root/merge.c) and the
 * FETCH of the page's documents (root/fetch.c).
 */
#include "root.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/aggs.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/hash.h"
#include "common/qtree.h"
#include "common/wire.h"
#include "root/cache.h"
#include "root/fetch.h"
#include "root/merge.h"
#include "root/replica.h"
#include "root/scatter.h"
#include "trawl/trawl.h"

struct root {
	root_config cfg;
	replica_set rs;
	root_cache *cache;
	pthread_mutex_t schema_mu; /* the schema last fetched (root_schema) */
	char *schema;
	size_t schema_len;
	uint64_t schema_gen;
};

const root_writer *root_writer_of(const root *r)
{
	return r->cfg.writer;
}

int root_refresh(root *r, uint64_t seq, unsigned timeout_ms, char *err, size_t errlen)
{
	const root_writer *w = r->cfg.writer;
	uint64_t t0 = clock_mono_ms(), gen = 0;
	int rc = w ? w->refresh(w->ctx, seq, timeout_ms, &gen, err, errlen) : TRAWL_OK;
	if (rc)
		return rc;
	while (replicas_common_generation(&r->rs, r->cfg.nshards) < gen) {
		if (timeout_ms && clock_mono_ms() - t0 > timeout_ms)
			return errf(
			    err, errlen, TRAWL_EBUSY,
			    "generation %llu is served but this root has not seen it after %u ms",
			    (unsigned long long)gen, timeout_ms);
		replicas_ping_now(&r->rs);
		usleep(2000);
	}
	replicas_raise_floor(&r->rs, gen);
	/* and, for a while, until the other replicas switch too: another root
	 * asking one of them then meets gen (WIRE_F_NEWER); a replica still
	 * behind at the end is not waited for again until it catches up */
	uint64_t t1 = clock_mono_ms();
	while (replicas_lagging(&r->rs, r->cfg.nshards, gen) &&
	       clock_mono_ms() - t1 < LIMIT_REFRESH_REPLICAS_MS &&
	       !(timeout_ms && clock_mono_ms() - t0 > timeout_ms)) {
		replicas_ping_now(&r->rs);
		usleep(2000);
	}
	replicas_mark_lagging(&r->rs, r->cfg.nshards, gen);
	return TRAWL_OK;
}

int root_wait_ready(root *r, unsigned timeout_ms)
{
	uint64_t t0 = clock_mono_ms();
	while (!root_ready(r)) {
		if (clock_mono_ms() - t0 > timeout_ms)
			return TRAWL_EBUSY;
		replicas_ping_now(&r->rs);
		usleep(2000);
	}
	return TRAWL_OK;
}

/* ---- configuration ---- */

void root_config_fini(root_config *cfg)
{
	free(cfg->leaves);
	cfg->leaves = NULL;
	cfg->nleaves = 0;
}

/* n bytes of s and a NUL, malloc'ed (NULL: no memory). */
static char *dupn(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		if (n)
			memcpy(d, s, n);
		d[n] = 0;
	}
	return d;
}

/* ---- open and close ---- */

int root_open(root **out, const root_config *cfg, char *err, size_t errlen)
{
	*out = NULL;
	root *r = calloc(1, sizeof *r);
	if (!r)
		return TRAWL_ENOMEM;
	r->cfg = *cfg;
	if (!r->cfg.timeout_ms)
		r->cfg.timeout_ms = 2000;
	int rc = replicas_open(&r->rs, cfg, err, errlen);
	if (rc) {
		free(r);
		return rc;
	}
	pthread_mutex_init(&r->schema_mu, NULL);
	r->cfg.leaves = NULL; /* copied into the replicas */
	if (!cfg->no_cache) {
		r->cache = root_cache_new(cfg->cache_bytes ? cfg->cache_bytes : (size_t)64 << 20);
		if (!r->cache) {
			root_close(r);
			return TRAWL_ENOMEM;
		}
	}
	*out = r;
	return TRAWL_OK;
}

void root_close(root *r)
{
	if (!r)
		return;
	replicas_close(&r->rs);
	root_cache_free(r->cache);
	pthread_mutex_destroy(&r->schema_mu);
	free(r->schema);
	free(r);
}

/* ---- search ---- */

/* The coverage of a finished scatter into res; an error when it is less
 * than the query allows. */
static int coverage(const scatter *sc, uint32_t nsc, const root_query *q, root_result *res,
                    char *err, size_t errlen)
{
	scatter sum = {0};
	for (uint32_t i = 0; i < nsc; i++) {
		sum.nshards += sc[i].nshards;
		sum.answered += sc[i].answered;
		sum.timed_out += sc[i].timed_out;
		sum.failed += sc[i].failed;
		sum.overloaded += sc[i].overloaded;
		sum.behind += sc[i].behind;
	}
	sc = &sum;
	res->shards_total = sc->nshards;
	res->shards_answered = sc->answered;
	res->shards_timed_out = sc->timed_out;
	res->shards_failed = sc->failed;
	if (sc->answered == sc->nshards)
		return TRAWL_OK;
	if (sc->overloaded)
		/* a shard left out because its replicas are overloaded: shedding
		 * load means refusing the search, not answering less of it */
		return errf(err, errlen, TRAWL_EBUSY,
		            "%u of %u shards could not be searched: every replica asked was "
		            "overloaded (its queue of searches full); try again later",
		            sc->overloaded, sc->nshards);
	res->partial = 1;
	res->total_exact = 0;
	double cov = (double)sc->answered / (double)sc->nshards;
	if (!q->allow_partial || cov < q->min_coverage || sc->answered == 0)
		return errf(err, errlen, TRAWL_EIO,
		            "%u of %u shards answered (%u timed out, %u failed%s)", sc->answered,
		            sc->nshards, sc->timed_out, sc->failed,
		            sc->behind ? "; replicas that answered were on a generation older than "
		                         "the one a refresh of this root waited for a moment ago"
		                       : "");
	return TRAWL_OK;
}

/* The page cut from the merged hits, with ids and, when the page needs
 * stored documents or snippets, a FETCH. The winners' ids came with the
 * hits when they could; their documents and snippets come from their
 * leaves, unless none was asked for or their shards store nothing but ids:
 * then the FETCH round trip is saved. */
static int make_page(root *r, const root_query *q, root_merge *m, root_result *res,
                     uint64_t fetch_deadline, char *err, size_t errlen)
{
	const merge_hit *page;
	uint32_t n;
	merge_page(m, q->offset, q->k, &page, &n);
	if (!(res->hits = calloc(n ? n : 1, sizeof *res->hits)))
		return TRAWL_ENOMEM;
	res->nhits = n;
	int need_fetch = 0;
	for (uint32_t i = 0; i < n; i++) {
		res->hits[i].score = page[i].h.score;
		res->hits[i].shard = page[i].h.shard;
		if (q->nsort && !(res->hits[i].sort = dupn(page[i].sv.json, page[i].sv.json_len)))
			return TRAWL_ENOMEM;
		need_fetch |= !page[i].id || ((q->fetch || q->snippet_field) && !page[i].no_store);
	}
	if (n && need_fetch)
		return fetch_page(&r->rs, q, page, res, fetch_deadline, err, errlen);
	for (uint32_t i = 0; i < n; i++)
		if (!(res->hits[i].id = dupn(page[i].id, page[i].id_len)))
			return TRAWL_ENOMEM;
	return TRAWL_OK;
}

/* One SEARCH and FETCH of q, within the deadlines from t0. With newer
 * not NULL, a SEARCH that met a newer generation than it was pinned to
 * stops there: *newer set, *out NULL, TRAWL_OK. */
static int search_once(root *r, const root_query *q, uint64_t t0, int *newer, root_result **out,
                       char *err, size_t errlen)
{
	*out = NULL;
	unsigned timeout = q->timeout_ms ? q->timeout_ms : r->cfg.timeout_ms;
	/* the SEARCH phase ends at four fifths of the time, so that a shard that
	 * times out still leaves the FETCH of the others time to answer */
	uint64_t fetch_deadline = t0 + (uint64_t)timeout * 1000u;
	uint64_t deadline = t0 + (uint64_t)timeout * 800u;
	root_result *res = calloc(1, sizeof *res);
	if (!res)
		return TRAWL_ENOMEM;
	root_merge m;
	merge_init(&m, q->count, q->sort, q->nsort);
	m.aggs = q->aggs;
	scatter sc;
	int rc = scatter_init(&sc, &r->rs, q, r->cfg.nshards, deadline, &m, err, errlen);
	if (!rc)
		rc = scatter_run(&sc);
	if (!rc && newer && sc.newer) {
		*newer = 1;
		scatter_fini(&sc);
		merge_fini(&m);
		root_result_free(res);
		return TRAWL_OK;
	}
	merge_result(&m, res);
	if (!rc)
		rc = coverage(&sc, 1, q, res, err, errlen);
	if (!rc)
		rc = make_page(r, q, &m, res, fetch_deadline, err, errlen);
	size_t aggs_len;
	if (!rc && q->aggs) /* the merged aggregations as Elasticsearch's "aggregations" */
		rc = aggs_render(q->aggs, m.agg, &res->aggs, &aggs_len, err, errlen);
	scatter_fini(&sc);
	merge_fini(&m);
	res->took_us = clock_unix_us() - t0;
	if (res->generation)
		replicas_saw_generation(&r->rs, res->generation);
	if (rc) {
		root_result_free(res);
		return rc;
	}
	*out = res;
	return TRAWL_OK;
}

static int search_uncached(root *r, const root_query *q, root_result **out, char *err,
                           size_t errlen)
{
	*out = NULL;
	uint64_t t0 = clock_unix_us();
	uint32_t want = q->k + q->offset;
	if ((q->k == 0 && !q->aggs) || want > TRAWL_MAX_K)
		return errf(err, errlen, TRAWL_ELIMIT, "size + from is %u; the limit is %d", want,
		            TRAWL_MAX_K);
	/* pinned to a generation older than a replica serves: this root's view
	 * of the leaves is behind (a refresh through another root may have
	 * promised the newer one); once more after a ping round, if one comes
	 * in time */
	int newer = 0;
	int rc = search_once(r, q, t0, &newer, out, err, errlen);
	if (!rc && newer) {
		replicas_await_round(&r->rs, LIMIT_ROOT_VIEW_WAIT_MS);
		rc = search_once(r, q, t0, NULL, out, err, errlen);
	}
	/* the generation the SEARCH ran on was retired before its FETCH (two
	 * publishes within the query's life): once more, while time is left */
	if (rc == TRAWL_ENOTFOUND)
		rc = search_once(r, q, t0, NULL, out, err, errlen);
	return rc == TRAWL_ENOTFOUND ? TRAWL_EIO : rc;
}

/* ---- a search over several indexes ---- */

/* The type of field in the schema r serves ("" when absent), or -1 with
 * err when the schema cannot be had. */
static int field_type(root *r, const char *field, char *type, size_t cap, char *err, size_t errlen)
{
	char *schema = NULL;
	size_t len = 0;
	uint64_t gen = 0;
	int rc = root_schema(r, &schema, &len, &gen, err, errlen);
	if (rc)
		return rc;
	json_t *j = json_loadb(schema, len, 0, NULL);
	free(schema);
	json_t *t = json_object_get(json_object_get(json_object_get(j, "fields"), field), "type");
	snprintf(type, cap, "%s", json_is_string(t) ? json_string_value(t) : "");
	json_decref(j);
	return j ? TRAWL_OK : errf(err, errlen, TRAWL_ECORRUPT, "a schema does not parse");
}

/* Sort values merge across indexes only where they mean the same: a field
 * every index has, of one type (keywords merge by their bytes: merge.c). */
static int sort_comparable(root *const *rs, uint32_t n, const root_query *q, char *err,
                           size_t errlen)
{
	for (uint32_t k = 0; k < q->nsort; k++) {
		const char *f = q->sort[k].field;
		if (f[0] == '_')
			continue; /* _score */
		char first[32] = "", type[32];
		for (uint32_t i = 0; i < n; i++) {
			int rc = field_type(rs[i], f, type, sizeof type, err, errlen);
			if (rc)
				return rc;
			if (i == 0)
				snprintf(first, sizeof first, "%s", type);
			if (!*type || strcmp(type, first))
				return errf(err, errlen, TRAWL_EQUERY,
				            "cannot sort several indexes by [%.64s]: %s", f,
				            !*type ? "an index does not have the field"
				                   : "its type differs between them");
		}
	}
	return TRAWL_OK;
}

static void *run_scatter(void *arg)
{
	scatter *sc = arg;
	sc->rc = scatter_run(sc);
	return NULL;
}

/* Moves what a FETCH brought for one index's winners (sub, the page's
 * entries at[0..c)) into res; the winners a lost leaf took with it (sub
 * has fewer: every hit of their shards) are marked in gone. */
static void take_fetched(const merge_hit *page, const uint32_t *at, uint32_t c, root_result *sub,
                         root_result *res, uint8_t *gone)
{
	uint8_t kept[TRAWL_MAX_SHARDS] = {0};
	for (uint32_t k = 0; k < sub->nhits; k++)
		kept[sub->hits[k].shard] = 1;
	for (uint32_t j = 0, k = 0; j < c; j++) {
		if (sub->nhits < c && !kept[page[at[j]].h.shard]) {
			gone[at[j]] = 1;
			continue;
		}
		root_hit *to = &res->hits[at[j]], *from = &sub->hits[k++];
		to->id = from->id;
		to->doc = from->doc;
		to->doc_len = from->doc_len;
		to->snippet = from->snippet;
		from->id = from->doc = from->snippet = NULL;
	}
	res->shards_answered = sub->shards_answered;
	res->shards_failed = sub->shards_failed;
	res->partial |= sub->partial;
	res->total_exact &= sub->total_exact;
}

/* The page's winners of index s: their ids, and a FETCH from its leaves
 * when they need one. */
static int page_of(root *r, uint32_t s, const root_query *q, const merge_hit *page, uint32_t np,
                   root_result *res, uint8_t *gone, uint64_t deadline, char *err, size_t errlen)
{
	uint32_t *at = malloc((np ? np : 1) * sizeof *at), c = 0;
	merge_hit *win = malloc((np ? np : 1) * sizeof *win);
	root_result sub = *res;
	sub.hits = calloc(np ? np : 1, sizeof *sub.hits);
	int rc = at && win && sub.hits ? TRAWL_OK : TRAWL_ENOMEM, need_fetch = 0;
	for (uint32_t i = 0; !rc && i < np; i++)
		if (page[i].source == s) {
			sub.hits[c].shard = page[i].h.shard;
			win[c] = page[i];
			at[c++] = i;
			need_fetch |=
			    !page[i].id || ((q->fetch || q->snippet_field) && !page[i].no_store);
		}
	sub.nhits = c;
	if (!rc && c && need_fetch) {
		rc = fetch_page(&r->rs, q, win, &sub, deadline, err, errlen);
		if (!rc)
			take_fetched(page, at, c, &sub, res, gone);
	}
	for (uint32_t j = 0; !rc && c && !need_fetch && j < c; j++)
		if (!(res->hits[at[j]].id = dupn(page[at[j]].id, page[at[j]].id_len)))
			rc = TRAWL_ENOMEM;
	sub.aggs = NULL;
	for (uint32_t k = 0; sub.hits && k < sub.nhits; k++) {
		free(sub.hits[k].id);
		free(sub.hits[k].doc);
		free(sub.hits[k].snippet);
		free(sub.hits[k].sort);
	}
	free(sub.hits);
	free(at);
	free(win);
	return rc;
}

/* The page cut from the hits of several indexes, each index's winners
 * fetched from its own leaves. */
static int page_many(root *const *rs, uint32_t n, const root_query *q, root_merge *m,
                     root_result *res, uint64_t deadline, char *err, size_t errlen)
{
	const merge_hit *page;
	uint32_t np;
	merge_page(m, q->offset, q->k, &page, &np);
	res->hits = calloc(np ? np : 1, sizeof *res->hits);
	uint8_t *gone = calloc(np ? np : 1, 1);
	int rc = res->hits && gone ? TRAWL_OK : TRAWL_ENOMEM;
	res->nhits = res->hits ? np : 0;
	for (uint32_t i = 0; !rc && i < np; i++) {
		res->hits[i].score = page[i].h.score;
		res->hits[i].shard = page[i].h.shard;
		res->hits[i].source = page[i].source;
		if (q->nsort && !(res->hits[i].sort = dupn(page[i].sv.json, page[i].sv.json_len)))
			rc = TRAWL_ENOMEM;
	}
	for (uint32_t s = 0; !rc && s < n; s++)
		rc = page_of(rs[s], s, q, page, np, res, gone, deadline, err, errlen);
	uint32_t kept = 0;
	for (uint32_t i = 0; i < res->nhits; i++) {
		if (!gone[i]) {
			res->hits[kept++] = res->hits[i];
			continue;
		}
		free(res->hits[i].sort);
	}
	res->nhits = kept;
	free(gone);
	return rc;
}

/* The leaves' refusals of the query, index by index. An index that has
 * no field the query names matches nothing there (as in OpenSearch: a
 * search over indexes of different mappings); its shards count as
 * answered. Any other refusal, or every index refusing, is the search's
 * error (err: the first one's message). */
static int refusals(scatter *sc, uint32_t n, char (*errs)[LIMIT_ERRMSG_BYTES], char *err,
                    size_t errlen)
{
	uint32_t skipped = 0;
	int rc = TRAWL_OK;
	for (uint32_t i = 0; i < n; i++) {
		if (!sc[i].rc)
			continue;
		if (sc[i].rc == TRAWL_EQUERY && strstr(errs[i], "unknown field")) {
			skipped++;
			sc[i].answered = sc[i].nshards;
			sc[i].failed = sc[i].timed_out = sc[i].overloaded = 0;
			if (skipped < n)
				continue;
		}
		if (!rc) {
			rc = sc[i].rc;
			snprintf(err, errlen, "%s", errs[i]);
		}
	}
	return rc;
}

/* search_many_once's answer when, with newer not NULL, a scatter met a
 * newer generation than it was pinned to (newer[i] set for its index):
 * nothing is fetched; not a TRAWL_* code. */
enum { SEARCH_AGAIN = -1 };

static int search_many_once(root *const *rs, uint32_t n, const root_query *q, uint64_t t0,
                            uint8_t *newer, root_result **out, char *err, size_t errlen)
{
	*out = NULL;
	unsigned timeout = q->timeout_ms ? q->timeout_ms : rs[0]->cfg.timeout_ms;
	uint64_t fetch_deadline = t0 + (uint64_t)timeout * 1000u;
	uint64_t deadline = t0 + (uint64_t)timeout * 800u;
	root_result *res = calloc(1, sizeof *res);
	scatter *sc = calloc(n, sizeof *sc);
	pthread_t *th = calloc(n, sizeof *th);
	uint8_t *started = calloc(n, 1);
	/* each scatter's own message: they run at once */
	char(*errs)[LIMIT_ERRMSG_BYTES] = calloc(n, sizeof *errs);
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	root_merge m;
	merge_init(&m, q->count, q->sort, q->nsort);
	m.aggs = q->aggs;
	m.lock = &lock;
	int rc = res && sc && th && started && errs ? TRAWL_OK : TRAWL_ENOMEM;
	uint32_t inited = 0;
	for (; !rc && inited < n; inited++) {
		rc = scatter_init(&sc[inited], &rs[inited]->rs, q, rs[inited]->cfg.nshards,
		                  deadline, &m, errs[inited], sizeof errs[inited]);
		sc[inited].source = inited;
	}
	/* every index's SEARCH goes out at once: one scatter each, on threads
	 * of their own but the first */
	for (uint32_t i = 1; !rc && i < n; i++)
		started[i] = pthread_create(&th[i], NULL, run_scatter, &sc[i]) == 0;
	if (!rc)
		run_scatter(&sc[0]);
	for (uint32_t i = 1; !rc && i < n; i++) {
		if (started[i])
			pthread_join(th[i], NULL);
		else
			run_scatter(&sc[i]);
	}
	if (!rc)
		rc = refusals(sc, n, errs, err, errlen);
	int again = 0; /* as search_once: newer[i] for the indexes whose view was behind */
	for (uint32_t i = 0; !rc && newer && i < n; i++)
		again |= newer[i] = (uint8_t)sc[i].newer;
	if (again)
		rc = SEARCH_AGAIN;
	if (!rc) {
		merge_result(&m, res);
		rc = coverage(sc, n, q, res, err, errlen);
	}
	if (!rc)
		rc = page_many(rs, n, q, &m, res, fetch_deadline, err, errlen);
	size_t aggs_len;
	if (!rc && q->aggs)
		rc = aggs_render(q->aggs, m.agg, &res->aggs, &aggs_len, err, errlen);
	for (uint32_t i = 0; i < inited && sc; i++)
		scatter_fini(&sc[i]);
	merge_fini(&m);
	pthread_mutex_destroy(&lock);
	free(sc);
	free(th);
	free(started);
	free(errs);
	if (rc) {
		root_result_free(res);
		return rc;
	}
	res->took_us = clock_unix_us() - t0;
	*out = res;
	return TRAWL_OK;
}

int root_search_many(root *const *rs, uint32_t n, const root_query *q, root_result **out, char *err,
                     size_t errlen)
{
	*out = NULL;
	if (n == 1)
		return root_search(rs[0], q, out, err, errlen);
	if (n == 0 || n > LIMIT_INDEXES)
		return errf(err, errlen, TRAWL_EINVAL, "%u indexes to search", n);
	if (q->cache_only)
		return TRAWL_ENOTFOUND; /* not cached: searched on a worker */
	uint32_t want = q->k + q->offset;
	if ((q->k == 0 && !q->aggs) || want > TRAWL_MAX_K)
		return errf(err, errlen, TRAWL_ELIMIT, "size + from is %u; the limit is %d", want,
		            TRAWL_MAX_K);
	int rc = sort_comparable(rs, n, q, err, errlen);
	if (rc)
		return rc;
	uint64_t t0 = clock_unix_us();
	uint8_t newer[LIMIT_INDEXES] = {0};
	rc = search_many_once(rs, n, q, t0, newer, out, err, errlen);
	if (rc == SEARCH_AGAIN) { /* as root_search: a view behind, once more */
		/* every index's round at once, all within one wait's budget */
		for (uint32_t i = 0; i < n; i++)
			if (newer[i])
				replicas_ping_now(&rs[i]->rs);
		uint64_t until = clock_mono_ms() + LIMIT_ROOT_VIEW_WAIT_MS;
		for (uint32_t i = 0; i < n; i++) {
			uint64_t now = clock_mono_ms();
			if (newer[i] && now < until)
				replicas_await_round(&rs[i]->rs, (unsigned)(until - now));
		}
		rc = search_many_once(rs, n, q, t0, NULL, out, err, errlen);
	}
	if (rc == TRAWL_ENOTFOUND) /* a generation retired before its FETCH: once more */
		rc = search_many_once(rs, n, q, t0, NULL, out, err, errlen);
	return rc == TRAWL_ENOTFOUND ? TRAWL_EIO : rc;
}

int root_get(root *r, const char *id, char **json, size_t *len, char *err, size_t errlen)
{
	*json = NULL;
	size_t n = strlen(id);
	if (n == 0 || n > LIMIT_ID_BYTES)
		return errf(err, errlen, TRAWL_ENOTFOUND, "no document with id \"%.80s\"", id);
	uint32_t s = th_shard_of(id, n, r->cfg.nshards);
	uint8_t *excluded = calloc(r->rs.n ? r->rs.n : 1, 1);
	if (!excluded)
		return TRAWL_ENOMEM;
	int rc = TRAWL_EIO;
	errf(err, errlen, rc, "no replica of shard %u answered", s);
	/* a replica of the newest generation first (replica_pick falls back) */
	uint64_t newest = replicas_newest_generation(&r->rs, s);
	for (int attempt = 0; attempt < 2; attempt++) {
		int l = replica_pick(&r->rs, s, NULL, excluded, atomic_fetch_add(&r->rs.next_id, 1),
		                     newest);
		if (l < 0)
			break;
		wire_header h = {0};
		h.request_id = atomic_fetch_add(&r->rs.next_id, 1);
		h.deadline_unix_us = clock_unix_us() + (uint64_t)r->cfg.timeout_ms * 1000u;
		tbuf msg;
		tbuf_init(&msg, 1 << 16);
		wire_get g = {(uint16_t)s, id, (uint32_t)n};
		rpc_call c = {0};
		if (wire_encode_get(&msg, &h, &g) == TRAWL_OK) {
			c = (rpc_call){.peer = r->rs.rep[l].cli, .req = msg.data, .len = msg.len};
			rpc_call_many(&c, 1, (int)r->cfg.timeout_ms);
		}
		wire_fetch_reply fr;
		wire_doc d;
		wire_doc_iter it;
		int decoded =
		    c.rc == TRAWL_OK && c.reply &&
		    wire_decode_fetch_reply(c.reply, c.reply_len, &h, &fr, NULL, 0) == TRAWL_OK;
		if (decoded && fr.status != TRAWL_OK) {
			/* the leaf refused it (a shard out of service there, say): its
			 * twin, if any */
			uint16_t sh = (uint16_t)s;
			if (h.flags & WIRE_F_OUT_OF_SERVICE)
				replica_withdrawn(&r->rs, &r->rs.rep[l], &sh, 1);
			else
				replica_failed(&r->rs, &r->rs.rep[l], "it failed a FETCH");
			rc = errf(err, errlen, fr.status == TRAWL_ENOTFOUND ? TRAWL_EIO : fr.status,
			          "%s: %.*s", r->rs.rep[l].cfg.url, (int)fr.errmsg_len, fr.errmsg);
		} else if (decoded) {
			replica_answered(&r->rs, &r->rs.rep[l], c.micros);
			wire_doc_iter_init(&it, &fr);
			int got = wire_doc_iter_next(&it, &d) == 1;
			if (got && d.status == TRAWL_OK && d.json_len) {
				*json = dupn(d.json, d.json_len);
				*len = d.json_len;
				rc = *json ? TRAWL_OK : TRAWL_ENOMEM;
			} else if (got && d.status == TRAWL_ECORRUPT) {
				rc = errf(
				    err, errlen, TRAWL_ECORRUPT,
				    "%s: stored document \"%.80s\" (shard %u) fails its checksum",
				    r->rs.rep[l].cfg.url, id, s);
			} else if (got && d.status != TRAWL_OK && d.status != TRAWL_ENOTFOUND) {
				rc = errf(err, errlen, TRAWL_EIO,
				          "%s: reading document \"%.80s\": %s",
				          r->rs.rep[l].cfg.url, id, trawl_strerror(d.status));
			} else {
				rc = errf(err, errlen, TRAWL_ENOTFOUND,
				          "no document with id \"%.80s\"", id);
			}
			rpc_call_fini(&c);
			tbuf_fini(&msg);
			break;
		} else {
			replica_note_failure(&r->rs, &r->rs.rep[l], &c, (int)r->cfg.timeout_ms);
		}
		excluded[l] = 1;
		rpc_call_fini(&c);
		tbuf_fini(&msg);
	}
	free(excluded);
	return rc;
}

/* ---- the schema ---- */

/* One SCHEMA call to replica l: TRAWL_OK with its schema (*json, *len) and
 * generation, else an error whose message names the leaf. */
static int schema_call(root *r, int l, char **json, size_t *len, uint64_t *gen, char *err,
                       size_t errlen)
{
	replica *p = &r->rs.rep[l];
	wire_header h = {0};
	h.request_id = atomic_fetch_add(&r->rs.next_id, 1);
	h.deadline_unix_us = clock_unix_us() + (uint64_t)r->cfg.timeout_ms * 1000u;
	tbuf msg;
	tbuf_init(&msg, WIRE_HEADER_BYTES);
	rpc_call c = {0};
	if (wire_encode_schema(&msg, &h) == TRAWL_OK) {
		c = (rpc_call){.peer = p->cli, .req = msg.data, .len = msg.len};
		rpc_call_many(&c, 1, (int)r->cfg.timeout_ms);
	}
	wire_header rh;
	wire_schema_reply sr;
	wire_search_reply old;
	char why[256] = "";
	int rc;
	if (c.rc == TRAWL_OK && c.reply &&
	    wire_decode_schema_reply(c.reply, c.reply_len, &rh, &sr, why, sizeof why) == 0) {
		replica_answered(&r->rs, p, c.micros);
		if (sr.status == TRAWL_OK && sr.schema_len) {
			*json = dupn(sr.schema, sr.schema_len);
			*len = sr.schema_len;
			*gen = rh.generation;
			rc = *json ? TRAWL_OK : TRAWL_ENOMEM;
		} else {
			rc = errf(err, errlen, TRAWL_EIO, "%s: no schema: %s: %.*s", p->cfg.url,
			          trawl_strerror(sr.status), (int)sr.errmsg_len, sr.errmsg);
		}
	} else if (c.rc == TRAWL_OK && c.reply &&
	           wire_decode_search_reply(c.reply, c.reply_len, &rh, &old, NULL, 0) == 0) {
		/* a leaf of a build without SCHEMA refuses it as a bad request */
		replica_answered(&r->rs, p, c.micros);
		rc = errf(err, errlen, TRAWL_EIO,
		          "%s does not answer SCHEMA (a build older than the root?): %.*s",
		          p->cfg.url, (int)old.errmsg_len, old.errmsg);
	} else {
		replica_note_failure(&r->rs, p, &c, (int)r->cfg.timeout_ms);
		rc = errf(err, errlen, TRAWL_EIO, "%s: %s", p->cfg.url,
		          c.rc ? "no answer to SCHEMA" : why);
	}
	rpc_call_fini(&c);
	tbuf_fini(&msg);
	return rc;
}

int root_schema(root *r, char **json, size_t *len, uint64_t *gen, char *err, size_t errlen)
{
	*json = NULL;
	uint64_t newest = atomic_load(&r->rs.known_gen);
	pthread_mutex_lock(&r->schema_mu);
	if (r->schema && r->schema_gen == newest) {
		*json = dupn(r->schema, r->schema_len);
		*len = r->schema_len;
		*gen = r->schema_gen;
	}
	pthread_mutex_unlock(&r->schema_mu);
	if (*json)
		return TRAWL_OK;
	/* every shard's leaves hold the same schema: any replica will do */
	uint8_t *excluded = calloc(r->rs.n ? r->rs.n : 1, 1);
	if (!excluded)
		return TRAWL_ENOMEM;
	int rc = errf(err, errlen, TRAWL_EIO, "no replica is healthy");
	for (uint32_t attempt = 0; attempt < 2 && rc != TRAWL_OK && rc != TRAWL_ENOMEM; attempt++) {
		int l = replica_pick(&r->rs, attempt % r->cfg.nshards, NULL, excluded,
		                     atomic_fetch_add(&r->rs.next_id, 1), 0);
		if (l < 0)
			break;
		excluded[l] = 1;
		rc = schema_call(r, l, json, len, gen, err, errlen);
	}
	free(excluded);
	if (rc)
		return rc;
	replicas_saw_generation(&r->rs, *gen);
	pthread_mutex_lock(&r->schema_mu);
	if (!r->schema || *gen >= r->schema_gen) {
		char *copy = dupn(*json, *len);
		if (copy) {
			free(r->schema);
			r->schema = copy;
			r->schema_len = *len;
			r->schema_gen = *gen;
		}
	}
	pthread_mutex_unlock(&r->schema_mu);
	return TRAWL_OK;
}

uint32_t root_replicas(root *r, root_replica_info *out, uint32_t max)
{
	return replicas_info(&r->rs, out, max);
}

int root_ready(root *r)
{
	return replicas_ready(&r->rs, r->cfg.nshards);
}

int root_serving(root *r)
{
	return replicas_serving(&r->rs, r->cfg.nshards);
}

void root_counters(root *r, root_traffic *t)
{
	t->searches = atomic_load(&r->rs.searches);
	t->hedges = atomic_load(&r->rs.hedges);
	t->hedge_wins = atomic_load(&r->rs.hedge_wins);
	t->hedges_stalled = atomic_load(&r->rs.hedges_stalled);
	t->overloaded = atomic_load(&r->rs.overloaded);
	t->shed = atomic_load(&r->rs.shed);
}

/* The cache key: every field of q that can change the answer, and the
 * generation (timeouts and preferences cannot, except by making a result
 * partial, and partial results are not cached). */
static void cache_key(const root_query *q, uint64_t gen, uint8_t key[16])
{
	tbuf b;
	tbuf_init(&b,
	          2 * TRAWL_MAX_QUERY_TREE_BYTES +
	              LIMIT_AGG_SPEC_BYTES); /* the tree, the aggregations and the fields above */
	uint32_t nums[6] = {q->k,
	                    q->offset,
	                    (uint32_t)q->count,
	                    (uint32_t)q->allow_partial,
	                    (uint32_t)q->fetch,
	                    q->snippet_chars};
	double cov = q->min_coverage;
	tbuf_append(&b, &gen, 8);
	tbuf_append(&b, nums, sizeof nums);
	tbuf_append(&b, &cov, sizeof cov);
	const char *strs[3] = {q->snippet_field, q->pre, q->post};
	for (int i = 0; i < 3; i++) {
		uint32_t n = strs[i] ? (uint32_t)strlen(strs[i]) + 1 : 0;
		tbuf_append(&b, &n, 4);
		if (n)
			tbuf_append(&b, strs[i], n);
	}
	tbuf_append(&b, q->tree, q->tree_len); /* canonical: equal trees, equal bytes */
	for (uint32_t i = 0; i < q->nsort; i++) {
		int32_t k[3] = {q->sort[i].desc, q->sort[i].missing_first, q->sort[i].mode};
		tbuf_append(&b, k, sizeof k);
		tbuf_append(&b, q->sort[i].field, strlen(q->sort[i].field) + 1);
	}
	uint64_t gl = q->aggs ? q->aggs_canon_len : UINT64_MAX;
	tbuf_append(&b, &gl, 8);
	if (q->aggs)
		tbuf_append(&b, q->aggs_canon, q->aggs_canon_len);
	uint64_t al = q->search_after ? q->search_after_len : UINT64_MAX;
	tbuf_append(&b, &al, 8);
	if (q->search_after)
		tbuf_append(&b, q->search_after, q->search_after_len);
	th_hash128(b.data, b.len, key);
	tbuf_fini(&b);
}

/* What a cache_only search that the cache cannot answer gets: TRAWL_EBUSY
 * when a shard's replicas all refused a search as overloaded a moment ago
 * (then the caller answers 429 at once, on its event loop, without a
 * worker or a round trip to a leaf that would refuse it again), else
 * TRAWL_ENOTFOUND (search it). */
static int not_cached(root *r, char *err, size_t errlen)
{
	uint32_t s;
	if (!replicas_overloaded(&r->rs, r->cfg.nshards, &s))
		return TRAWL_ENOTFOUND;
	atomic_fetch_add(&r->rs.shed, 1);
	return errf(err, errlen, TRAWL_EBUSY,
	            "every replica of shard %u refused a search a moment ago, its queue of "
	            "searches full (overloaded); try again later",
	            s);
}

int root_search(root *r, const root_query *q, root_result **out, char *err, size_t errlen)
{
	if (!r->cache || q->no_cache || q->tree_len > TRAWL_MAX_QUERY_TREE_BYTES)
		return q->cache_only ? not_cached(r, err, errlen)
		                     : search_uncached(r, q, out, err, errlen);
	uint64_t t0 = clock_unix_us();
	uint8_t key[16];
	uint64_t gen_at_key = atomic_load(&r->rs.known_gen);
	cache_key(q, gen_at_key, key);
	int leader = 0;
	unsigned wait = q->timeout_ms ? q->timeout_ms : r->cfg.timeout_ms;
	root_result *hit = root_cache_get(r->cache, key, q->cache_only ? NULL : &leader, wait);
	if (!hit && q->cache_only)
		return not_cached(r, err, errlen);
	if (hit) {
		hit->cached = 1;
		hit->took_us = clock_unix_us() - t0;
		*out = hit;
		return TRAWL_OK;
	}
	int rc = search_uncached(r, q, out, err, errlen);
	if (leader) {
		/* only an answer wholly from the generation the key names is kept:
		 * during a rolling publish some leaves still answer from the old one */
		if (rc == TRAWL_OK && !(*out)->partial && (*out)->generation == gen_at_key &&
		    (*out)->oldest_generation == gen_at_key)
			root_cache_put(r->cache, key, *out);
		else
			root_cache_abandon(r->cache, key);
	}
	return rc;
}

void root_cache_counters(root *r, root_cache_stats *st)
{
	root_cache_get_stats(r->cache, st);
}

int64_t root_count_docs(root *r)
{
	/* the tree's root is a group (qtree.h): every document, in one */
	qt_node *q0 = qt_new(QT_BOOL, QT_MUST, 0), *all = qt_new(QT_ALL, QT_MUST, 0);
	tbuf tree;
	tbuf_init(&tree, TRAWL_MAX_QUERY_TREE_BYTES);
	char err[LIMIT_ERRMSG_BYTES];
	int64_t n = -1;
	int rc = q0 && all ? qt_add(q0, all) : TRAWL_ENOMEM;
	if (rc)
		qt_free(all);
	else
		rc = qt_encode(q0, &tree, err, sizeof err);
	if (!rc) {
		root_query q = {0};
		q.tree = tree.data;
		q.tree_len = tree.len;
		q.k = 1;
		q.count = 1;
		root_result *res = NULL;
		if (root_search(r, &q, &res, err, sizeof err) == TRAWL_OK && res->total_exact)
			n = (int64_t)res->total;
		root_result_free(res);
	}
	tbuf_fini(&tree);
	qt_free(q0);
	return n;
}
