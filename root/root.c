/*
 * root.c - scatter/gather over the leaves (see root.h).
 *
 * A query: pick one healthy replica per shard (power of two choices over
 * latency EWMA times outstanding requests, or a fixed choice for a session
 * preference), group the shards by chosen leaf, send every SEARCH at once
 * with one deadline, retry the shards of failed leaves once on another
 * replica while time remains, merge by (score desc, id hash asc) as inside
 * a shard, then FETCH only the winners from the leaves that returned them,
 * in the generation they were found in.
 */
#include "root.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/hash.h"
#include "common/wire.h"
#include "root/cache.h"
#include "trawl/trawl.h"

typedef struct replica {
	root_leaf_cfg cfg;
	uint8_t serves[256];
	rpc_client *cli;
	pthread_mutex_t mu;
	int state;
	unsigned fails, oks;
	double ewma_us;
	double ewmdev_us; /* mean deviation of the latency, EWMA */
	atomic_uint outstanding;
	uint64_t generation;
	atomic_uint_fast64_t requests, failures, ejections;
	atomic_int no_store; /* its last SEARCH reply said WIRE_F_NO_STORE */
	int quiet;
} replica;

struct root {
	root_config cfg;
	replica *rep;
	uint32_t nrep;
	pthread_t pinger;
	atomic_int stopping;
	atomic_uint_fast64_t next_id;
	atomic_uint_fast64_t searches, hedges, hedge_wins;
	atomic_int_fast64_t hedge_tokens; /* thousandths of a hedge */
	atomic_uint_fast64_t known_gen;   /* the newest generation a leaf reported */
	root_cache *cache;
};

static void saw_generation(root *r, uint64_t g)
{
	uint64_t cur = atomic_load(&r->known_gen);
	while (g > cur && !atomic_compare_exchange_weak(&r->known_gen, &cur, g))
		;
}

/* Hedged requests: at most this fraction of the SEARCHes sent. */
#define ROOT_HEDGE_BUDGET 0.05
#define ROOT_HEDGE_BURST 5

static int rerr(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int rerr(char *err, size_t errlen, int code, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- cluster file ---- */

int root_config_load(root_config *cfg, const char *path, char *err, size_t errlen)
{
	json_error_t je;
	json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!doc)
		return rerr(err, errlen, TRAWL_EINVAL, "%s: line %d, column %d: %s", path, je.line,
		            je.column, je.text);
	int rc = TRAWL_EINVAL;
	json_t *shards = json_object_get(doc, "shards"), *leaves = json_object_get(doc, "leaves");
	if (!json_is_integer(shards) || json_integer_value(shards) < 1 ||
	    json_integer_value(shards) > 256) {
		rerr(err, errlen, rc, "%s: \"shards\" must be a number from 1 to 256", path);
		goto out;
	}
	if (!json_is_array(leaves) || json_array_size(leaves) == 0 ||
	    json_array_size(leaves) > ROOT_MAX_LEAVES) {
		rerr(err, errlen, rc, "%s: \"leaves\" must be an array of 1 to %d leaves", path,
		     ROOT_MAX_LEAVES);
		goto out;
	}
	cfg->nshards = (uint32_t)json_integer_value(shards);
	cfg->nleaves = (uint32_t)json_array_size(leaves);
	cfg->leaves = calloc(cfg->nleaves, sizeof *cfg->leaves);
	if (!cfg->leaves) {
		rc = TRAWL_ENOMEM;
		goto out;
	}
	uint8_t covered[256] = {0};
	for (uint32_t i = 0; i < cfg->nleaves; i++) {
		json_t *l = json_array_get(leaves, i), *url = json_object_get(l, "url"),
		       *sh = json_object_get(l, "shards");
		if (!json_is_string(url) || json_string_length(url) >= ROOT_MAX_URL ||
		    !json_is_array(sh) || json_array_size(sh) == 0 || json_array_size(sh) > 256) {
			rerr(err, errlen, rc,
			     "%s: leaves[%u] needs a \"url\" string (< %d bytes) and "
			     "a \"shards\" array",
			     path, i, ROOT_MAX_URL);
			goto out;
		}
		root_leaf_cfg *lc = &cfg->leaves[i];
		snprintf(lc->url, sizeof lc->url, "%s", json_string_value(url));
		size_t j;
		json_t *v;
		json_array_foreach(sh, j, v)
		{
			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			    json_integer_value(v) >= (json_int_t)cfg->nshards) {
				rerr(err, errlen, rc,
				     "%s: leaves[%u].shards[%zu] is not a shard of 0..%u", path, i,
				     j, cfg->nshards - 1);
				goto out;
			}
			lc->shards[lc->nshards++] = (uint32_t)json_integer_value(v);
			covered[json_integer_value(v)] = 1;
		}
	}
	for (uint32_t s = 0; s < cfg->nshards; s++)
		if (!covered[s]) {
			rerr(err, errlen, rc, "%s: no leaf serves shard %u", path, s);
			goto out;
		}
	rc = TRAWL_OK;
out:
	json_decref(doc);
	if (rc) {
		free(cfg->leaves);
		cfg->leaves = NULL;
		cfg->nleaves = 0;
	}
	return rc;
}

void root_config_fini(root_config *cfg)
{
	free(cfg->leaves);
	cfg->leaves = NULL;
	cfg->nleaves = 0;
}

/* ---- health ---- */

static void note_result(root *r, replica *p, int ok, uint64_t micros)
{
	pthread_mutex_lock(&p->mu);
	if (ok) {
		double x = (double)micros;
		if (p->ewma_us == 0) {
			p->ewma_us = x;
		} else {
			p->ewmdev_us = 0.8 * p->ewmdev_us + 0.2 * fabs(x - p->ewma_us);
			p->ewma_us = 0.8 * p->ewma_us + 0.2 * x;
		}
		p->fails = 0;
		p->oks++;
		if (p->state == ROOT_EJECTED)
			p->state = ROOT_PROBATION;
		if (p->state == ROOT_PROBATION && p->oks >= r->cfg.readmit_after)
			p->state = ROOT_HEALTHY;
	} else {
		atomic_fetch_add(&p->failures, 1);
		p->oks = 0;
		p->fails++;
		if (p->state != ROOT_EJECTED &&
		    (p->fails >= r->cfg.eject_after || p->state == ROOT_PROBATION)) {
			p->state = ROOT_EJECTED;
			atomic_fetch_add(&p->ejections, 1);
			if (!r->cfg.quiet)
				fprintf(stderr, "trawl root: ejected %s after %u failures\n",
				        p->cfg.url, p->fails);
		}
	}
	pthread_mutex_unlock(&p->mu);
}

/* The connection to a leaf broke (its process died, or the network): eject
 * it now rather than after the next failed pings. */
static void replica_gone(void *arg)
{
	replica *p = arg;
	pthread_mutex_lock(&p->mu);
	p->oks = 0;
	if (p->state != ROOT_EJECTED) {
		p->state = ROOT_EJECTED;
		atomic_fetch_add(&p->ejections, 1);
		if (!p->quiet)
			fprintf(stderr, "trawl root: ejected %s: connection lost\n", p->cfg.url);
	}
	pthread_mutex_unlock(&p->mu);
}

/* A call that brought no usable answer (a transport error, a reply that
 * does not decode, or no reply by its deadline) counts against its
 * replica, except one that ran out of a deadline shorter than a ping's:
 * the root's own measure of a replica too slow to be healthy is a ping
 * unanswered for ping_timeout_ms, and a shorter deadline is the client's
 * choice (timeout_ms), not the replica's failure. Four searches with
 * timeout_ms=1 used to eject every replica of a cluster (issue #13,
 * finding 2). given_ms: the time the call was given. */
static void note_failure(root *r, replica *p, const rpc_call *c, int given_ms)
{
	if (c->timed_out && given_ms < (int)r->cfg.ping_timeout_ms)
		return;
	note_result(r, p, 0, 0);
}

static void *ping_main(void *arg)
{
	root *r = arg;
	rpc_call *calls = calloc(r->nrep, sizeof *calls);
	tbuf *msgs = calloc(r->nrep, sizeof *msgs);
	if (!calls || !msgs) {
		free(calls);
		free(msgs);
		return NULL;
	}
	for (uint32_t i = 0; i < r->nrep; i++)
		tbuf_init(&msgs[i], 4096);
	while (!atomic_load(&r->stopping)) {
		uint64_t cycle = now_us();
		for (uint32_t i = 0; i < r->nrep; i++) {
			wire_header h = {0};
			h.request_id = atomic_fetch_add(&r->next_id, 1);
			tbuf_reset(&msgs[i]);
			wire_encode_ping(&msgs[i], &h);
			calls[i] = (rpc_call){
			    .peer = r->rep[i].cli, .req = msgs[i].data, .len = msgs[i].len};
		}
		rpc_call_many(calls, r->nrep, (int)r->cfg.ping_timeout_ms);
		uint64_t newest = 0;
		for (uint32_t i = 0; i < r->nrep; i++) {
			wire_header h;
			wire_pong p;
			int ok = calls[i].rc == TRAWL_OK &&
			         wire_decode_pong(calls[i].reply, calls[i].reply_len, &h, &p, NULL,
			                          0) == TRAWL_OK &&
			         p.ready;
			if (ok) {
				pthread_mutex_lock(&r->rep[i].mu);
				r->rep[i].generation = p.generation;
				pthread_mutex_unlock(&r->rep[i].mu);
				if (p.generation > newest)
					newest = p.generation;
			}
			note_result(r, &r->rep[i], ok, calls[i].micros);
			rpc_call_fini(&calls[i]);
		}
		/* the generation the leaves serve now (it goes back on a rollback:
		 * cache keys then follow; replies can only move it forward) */
		if (newest)
			atomic_store(&r->known_gen, newest);
		/* a fixed period, start to start, however long the replies took */
		while (!atomic_load(&r->stopping) && now_us() < cycle + r->cfg.ping_ms * 1000ull)
			usleep(20 * 1000);
	}
	for (uint32_t i = 0; i < r->nrep; i++)
		tbuf_fini(&msgs[i]);
	free(msgs);
	free(calls);
	return NULL;
}

int root_open(root **out, const root_config *cfg, char *err, size_t errlen)
{
	*out = NULL;
	root *r = calloc(1, sizeof *r);
	if (!r)
		return TRAWL_ENOMEM;
	r->cfg = *cfg;
	if (!r->cfg.ping_ms)
		r->cfg.ping_ms = 1000;
	if (!r->cfg.ping_timeout_ms)
		r->cfg.ping_timeout_ms = 500;
	if (!r->cfg.eject_after)
		r->cfg.eject_after = 2;
	if (!r->cfg.readmit_after)
		r->cfg.readmit_after = 2;
	if (!r->cfg.timeout_ms)
		r->cfg.timeout_ms = 2000;
	r->nrep = cfg->nleaves;
	r->rep = calloc(r->nrep ? r->nrep : 1, sizeof *r->rep);
	if (!r->rep) {
		free(r);
		return TRAWL_ENOMEM;
	}
	atomic_store(&r->next_id, 1);
	for (uint32_t i = 0; i < r->nrep; i++) {
		replica *p = &r->rep[i];
		p->cfg = cfg->leaves[i];
		for (uint32_t j = 0; j < p->cfg.nshards; j++)
			p->serves[p->cfg.shards[j]] = 1;
		pthread_mutex_init(&p->mu, NULL);
		p->state = ROOT_PROBATION; /* until it answers */
		p->quiet = cfg->quiet;
		int rc = rpc_client_open(&p->cli, p->cfg.url, &cfg->tls, err, errlen);
		if (rc) {
			r->nrep = i;
			pthread_mutex_destroy(&p->mu);
			root_close(r);
			return rc;
		}
		rpc_client_on_disconnect(p->cli, replica_gone, p);
	}
	r->cfg.leaves = NULL; /* copied into the replicas */
	if (!cfg->no_cache) {
		r->cache = root_cache_new(cfg->cache_bytes ? cfg->cache_bytes : (size_t)64 << 20);
		if (!r->cache) {
			root_close(r);
			return TRAWL_ENOMEM;
		}
	}
	if (pthread_create(&r->pinger, NULL, ping_main, r) != 0) {
		root_close(r);
		return TRAWL_ENOMEM;
	}
	*out = r;
	return TRAWL_OK;
}

void root_close(root *r)
{
	if (!r)
		return;
	if (!atomic_exchange(&r->stopping, 1) && r->pinger)
		pthread_join(r->pinger, NULL);
	for (uint32_t i = 0; i < r->nrep; i++) {
		rpc_client_close(r->rep[i].cli);
		pthread_mutex_destroy(&r->rep[i].mu);
	}
	root_cache_free(r->cache);
	free(r->rep);
	free(r);
}

/* ---- replica choice ---- */

static double load_of(replica *p)
{
	pthread_mutex_lock(&p->mu);
	double e = p->ewma_us > 0 ? p->ewma_us : 1000.0;
	pthread_mutex_unlock(&p->mu);
	return e * (1.0 + atomic_load(&p->outstanding));
}

static int usable(replica *p, int allow_probation)
{
	pthread_mutex_lock(&p->mu);
	int st = p->state;
	pthread_mutex_unlock(&p->mu);
	return st == ROOT_HEALTHY || (allow_probation && st == ROOT_PROBATION);
}

/* Picks a replica of shard s, not excluded[]; -1 if none is usable. */
static int pick(root *r, uint32_t s, const char *pref, const uint8_t *excluded, uint64_t salt)
{
	uint32_t cand[ROOT_MAX_LEAVES], n = 0;
	for (int allow = 0; allow < 2 && n == 0; allow++) /* healthy first, then probation */
		for (uint32_t i = 0; i < r->nrep; i++)
			if (r->rep[i].serves[s] && !excluded[i] && usable(&r->rep[i], allow))
				cand[n++] = i;
	if (n == 0)
		return -1;
	if (n == 1)
		return (int)cand[0];
	if (pref) {
		/* the same replica for the same session, as long as it is healthy */
		uint64_t h = th_hash64(pref, strlen(pref)) ^ ((uint64_t)s * 0x9E3779B97F4A7C15ull);
		return (int)cand[h % n];
	}
	uint64_t h = th_hash64(&salt, sizeof salt);
	uint32_t a = cand[h % n], b = cand[(h >> 32) % n];
	if (a == b)
		b = cand[(h % n + 1) % n];
	return (int)(load_of(&r->rep[a]) <= load_of(&r->rep[b]) ? a : b);
}

/* ---- search ---- */

typedef struct ghit {
	wire_hit h;
	uint32_t leaf;
	uint64_t generation;
	const char *id; /* the external id, when the leaf sent it (WIRE_F_IDS): in
	                   a SEARCH reply kept until the search ends; else NULL */
	uint32_t id_len;
	int no_store; /* the leaf's shards store only ids (WIRE_F_NO_STORE) */
} ghit;

static int fetch_alt(root *r, const ghit *win, uint32_t n, uint32_t l)
{
	uint64_t gen = 0;
	for (uint32_t i = 0; i < n; i++)
		if (win[i].leaf == l)
			gen = win[i].generation;
	for (uint32_t a = 0; a < r->nrep; a++) {
		if (a == l || !usable(&r->rep[a], 1))
			continue;
		pthread_mutex_lock(&r->rep[a].mu);
		int same = r->rep[a].generation == gen;
		pthread_mutex_unlock(&r->rep[a].mu);
		int all = same;
		for (uint32_t i = 0; all && i < n; i++)
			if (win[i].leaf == l)
				all = r->rep[a].serves[win[i].h.shard];
		if (all)
			return (int)a;
	}
	return -1;
}

static int cmp_ghit(const void *a, const void *b)
{
	const ghit *x = a, *y = b;
	if (x->h.score != y->h.score)
		return x->h.score > y->h.score ? -1 : 1;
	return (x->h.hash > y->h.hash) - (x->h.hash < y->h.hash);
}

void root_result_free(root_result *res)
{
	if (!res)
		return;
	for (uint32_t i = 0; i < res->nhits; i++) {
		free(res->hits[i].id);
		free(res->hits[i].doc);
		free(res->hits[i].snippet);
	}
	free(res->hits);
	free(res);
}

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

static int remaining_ms(uint64_t deadline)
{
	uint64_t now = now_us();
	return deadline > now ? (int)((deadline - now) / 1000) + 1 : 1;
}

/* Whether a FETCH call brought back a usable reply. */
static int fetch_ok(const rpc_call *c)
{
	wire_header h;
	wire_fetch_reply fr;
	return c->rc == TRAWL_OK && c->reply &&
	       wire_decode_fetch_reply(c->reply, c->reply_len, &h, &fr, NULL, 0) == TRAWL_OK &&
	       fr.status == TRAWL_OK;
}

/* Another usable replica serving every shard of the winners that leaf l
 * returned, at the same generation; -1 if none. */
/* FETCH the winners: one call per leaf, in parallel. */
static int fetch_hits(root *r, const root_query *q, const ghit *win, root_result *res,
                      uint64_t deadline, char *err, size_t errlen)
{
	uint32_t n = res->nhits;
	uint32_t *byleaf = calloc(r->nrep, sizeof *byleaf);
	rpc_call *calls = calloc(r->nrep, sizeof *calls);
	tbuf *msgs = calloc(r->nrep, sizeof *msgs);
	uint32_t *callleaf = calloc(r->nrep, sizeof *callleaf);
	wire_docref *refs = calloc(n ? n : 1, sizeof *refs);
	int rc = byleaf && calls && msgs && callleaf && refs ? TRAWL_OK : TRAWL_ENOMEM;
	unsigned ncalls = 0;
	for (uint32_t i = 0; !rc && i < n; i++)
		byleaf[win[i].leaf]++;
	for (uint32_t l = 0; !rc && l < r->nrep; l++) {
		if (!byleaf[l])
			continue;
		uint32_t m = 0;
		uint64_t gen = 0;
		for (uint32_t i = 0; i < n; i++)
			if (win[i].leaf == l) {
				refs[m++] = (wire_docref){win[i].h.shard, win[i].h.doc};
				gen = win[i].generation;
			}
		wire_header h = {0};
		h.request_id = atomic_fetch_add(&r->next_id, 1);
		h.deadline_unix_us = deadline;
		h.generation = gen;
		h.flags = q->fetch ? 0 : WIRE_F_NO_SOURCE;
		wire_fetch f = {0};
		f.ndocs = m;
		f.docs = refs;
		f.tree = q->tree;
		f.tree_len = (uint32_t)q->tree_len;
		if (q->snippet_field) {
			f.field = q->snippet_field;
			f.field_len = (uint32_t)strlen(q->snippet_field);
			f.pre = q->pre ? q->pre : "<em>";
			f.pre_len = (uint16_t)strlen(f.pre);
			f.post = q->post ? q->post : "</em>";
			f.post_len = (uint16_t)strlen(f.post);
			f.snippet_chars = q->snippet_chars ? q->snippet_chars : 200;
		}
		tbuf_init(&msgs[ncalls], WIRE_MAX_MESSAGE);
		if ((rc = wire_encode_fetch(&msgs[ncalls], &h, &f)))
			break;
		calls[ncalls] = (rpc_call){
		    .peer = r->rep[l].cli, .req = msgs[ncalls].data, .len = msgs[ncalls].len};
		callleaf[ncalls++] = l;
	}
	/* replicas of a generation hold the same files, so the same doc numbers
	 * can be fetched from another one: the first try gets half the time
	 * left, a failed one is retried on another replica with the rest */
	rpc_call *again = calloc(ncalls ? ncalls : 1, sizeof *again);
	uint32_t *againleaf = calloc(ncalls ? ncalls : 1, sizeof *againleaf); /* who retried */
	if (!rc && (!again || !againleaf))
		rc = TRAWL_ENOMEM;
	if (!rc) {
		uint64_t now = now_us();
		int ms = deadline > now ? (int)((deadline - now) / 2000) + 1 : 1;
		rpc_call_many(calls, ncalls, ms);
		unsigned nagain = 0;
		rpc_call *batch = calloc(ncalls ? ncalls : 1, sizeof *batch);
		unsigned *which = calloc(ncalls ? ncalls : 1, sizeof *which);
		for (unsigned c = 0; batch && which && c < ncalls; c++) {
			uint32_t l = callleaf[c];
			if (fetch_ok(&calls[c]))
				continue;
			if (calls[c].rc !=
			    TRAWL_OK) /* no answer; an error answer is the leaf's word */
				note_failure(r, &r->rep[l], &calls[c], ms);
			int alt = fetch_alt(r, win, n, l);
			if (alt < 0)
				continue;
			batch[nagain] = (rpc_call){
			    .peer = r->rep[alt].cli, .req = msgs[c].data, .len = msgs[c].len};
			againleaf[c] = (uint32_t)alt;
			which[nagain++] = c;
		}
		if (nagain) {
			int ms2 = remaining_ms(deadline);
			rpc_call_many(batch, nagain, ms2);
			for (unsigned k = 0; k < nagain; k++) {
				if (batch[k].rc != TRAWL_OK)
					note_failure(r, &r->rep[againleaf[which[k]]], &batch[k],
					             ms2);
				again[which[k]] = batch[k];
			}
		}
		free(batch);
		free(which);
	}
	for (unsigned c = 0; c < ncalls; c++) {
		/* l: the leaf whose winners these are; from: the one that answered */
		uint32_t l = callleaf[c], from = l;
		wire_header h;
		wire_fetch_reply fr;
		char msg[256];
		if (!fetch_ok(&calls[c]) && fetch_ok(&again[c])) {
			rpc_call_fini(&calls[c]);
			calls[c] = again[c]; /* the retry's reply, in the same order */
			again[c] = (rpc_call){0};
			from = againleaf[c];
		}
		rpc_call_fini(&again[c]);
		if (!rc && calls[c].rc != TRAWL_OK) { /* judged above, once */
			rc = rerr(err, errlen, TRAWL_EIO, "fetching from %s failed%s",
			          r->rep[l].cfg.url, calls[c].timed_out ? " (deadline)" : "");
		} else if (!rc && wire_decode_fetch_reply(calls[c].reply, calls[c].reply_len, &h,
		                                          &fr, msg, sizeof msg) != TRAWL_OK) {
			rc = rerr(err, errlen, TRAWL_EIO, "%s: bad FETCH reply: %s",
			          r->rep[from].cfg.url, msg);
		} else if (!rc && fr.status != TRAWL_OK) {
			rc = rerr(err, errlen, fr.status == TRAWL_ENOTFOUND ? TRAWL_EIO : fr.status,
			          "%s: %.*s", r->rep[from].cfg.url, (int)fr.errmsg_len, fr.errmsg);
		} else if (!rc) {
			wire_doc_iter it;
			wire_doc d;
			wire_doc_iter_init(&it, &fr);
			uint32_t i = 0;
			while (wire_doc_iter_next(&it, &d) == 1) {
				while (i < n && win[i].leaf != l)
					i++;
				if (i >= n)
					break;
				if (d.status != TRAWL_OK && d.status != TRAWL_ENOTFOUND) {
					/* the leaf read the document and it failed its check:
					 * say so rather than answer without it */
					rc = rerr(
					    err, errlen,
					    d.status == TRAWL_ECORRUPT ? TRAWL_ECORRUPT : TRAWL_EIO,
					    "%s: stored document \"%.*s\" (shard %u, doc %u) %s",
					    r->rep[from].cfg.url, (int)d.id_len, d.id,
					    (unsigned)d.shard, (unsigned)d.doc,
					    d.status == TRAWL_ECORRUPT ? "fails its checksum"
					                               : trawl_strerror(d.status));
					break;
				}
				root_hit *rh = &res->hits[i];
				rh->id = dupn(d.id, d.id_len);
				if (d.json_len)
					rh->doc = dupn(d.json, d.json_len),
					rh->doc_len = d.json_len;
				if (d.snippet_len)
					rh->snippet = dupn(d.snippet, d.snippet_len);
				i++;
			}
		}
		rpc_call_fini(&calls[c]);
		tbuf_fini(&msgs[c]);
	}
	free(byleaf);
	free(calls);
	free(msgs);
	free(callleaf);
	free(refs);
	free(again);
	free(againleaf);
	return rc;
}

/* One SEARCH of a query: the shards sent to one leaf, and its hedge. */
typedef struct group {
	uint32_t leaf;
	int hedge_leaf; /* -1: not hedged */
	wire_header h;
	wire_search ws;
	tbuf msg;
	rpc_call call, hedge;
	rpc_call *winner;
	uint64_t hedge_at; /* when to hedge (Unix us) */
	int given_ms[2];   /* the time the call and the hedge were given */
} group;

/* The replica's recent p95, estimated as its latency EWMA plus three mean
 * deviations; 2 ms at least. */
static uint64_t hedge_after(root *r, uint32_t l)
{
	replica *p = &r->rep[l];
	pthread_mutex_lock(&p->mu);
	double v = p->ewma_us > 0 ? p->ewma_us + 3 * p->ewmdev_us : 5000;
	pthread_mutex_unlock(&p->mu);
	return v < 2000 ? 2000 : (uint64_t)v;
}

/* A usable replica other than g's that serves every shard of g, or -1. */
static int hedge_target(root *r, const group *g, const uint8_t *excluded)
{
	int best = -1;
	double bl = 0;
	for (uint32_t i = 0; i < r->nrep; i++) {
		if (i == g->leaf || excluded[i] || !usable(&r->rep[i], 0))
			continue;
		int all = 1;
		for (uint32_t k = 0; k < g->ws.nshards && all; k++)
			all = r->rep[i].serves[g->ws.shards[k]];
		if (!all)
			continue;
		double l = load_of(&r->rep[i]);
		if (best < 0 || l < bl) {
			best = (int)i;
			bl = l;
		}
	}
	return best;
}

/* Hedges are capped at ROOT_HEDGE_BUDGET of the searches sent, over the
 * recent past: a token bucket that every search fills by the budget and
 * every hedge empties by one, holding at most ROOT_HEDGE_BURST, so quiet
 * times cannot bank hedges for a burst later. Token counts are in 1/1000. */
static int hedge_allowed(root *r)
{
	int64_t t = atomic_load(&r->hedge_tokens);
	while (t >= 1000) {
		if (atomic_compare_exchange_weak(&r->hedge_tokens, &t, t - 1000))
			return 1;
	}
	return 0;
}

static void hedge_earn(root *r)
{
	int64_t t = atomic_load(&r->hedge_tokens), n;
	do {
		n = t + (int64_t)(ROOT_HEDGE_BUDGET * 1000);
		if (n > ROOT_HEDGE_BURST * 1000)
			n = ROOT_HEDGE_BURST * 1000;
	} while (!atomic_compare_exchange_weak(&r->hedge_tokens, &t, n));
}

static int search_uncached(root *r, const root_query *q, root_result **out, char *err,
                           size_t errlen)
{
	*out = NULL;
	uint64_t t0 = now_us();
	uint32_t want = q->k + q->offset;
	if (q->k == 0 || want > TRAWL_MAX_K)
		return rerr(err, errlen, TRAWL_ELIMIT, "size + from is %u; the limit is %d", want,
		            TRAWL_MAX_K);
	unsigned timeout = q->timeout_ms ? q->timeout_ms : r->cfg.timeout_ms;
	/* the SEARCH phase ends at four fifths of the time, so that a shard that
	 * times out still leaves the FETCH of the others time to answer */
	uint64_t fetch_deadline = t0 + (uint64_t)timeout * 1000u;
	uint64_t deadline = t0 + (uint64_t)timeout * 800u;
	uint32_t S = r->cfg.nshards;
	root_result *res = calloc(1, sizeof *res);
	int8_t *state = calloc(S, 1); /* 0 pending, 1 answered, 2 failed, 3 timed out */
	int *chosen = malloc(S * sizeof *chosen);
	uint8_t *excluded = calloc(r->nrep, 1);
	group *groups = calloc(r->nrep, sizeof *groups);
	ghit *all = NULL;
	size_t nall = 0, capall = 0;
	/* the winning SEARCH replies that carry ids (one per group and attempt),
	 * kept until the page's ids are copied out of them */
	uint8_t **kept = calloc(2 * (size_t)r->nrep, sizeof *kept);
	unsigned nkept = 0;
	int rc = res && state && chosen && excluded && groups && kept ? TRAWL_OK : TRAWL_ENOMEM;
	if (rc) {
		free(res);
		free(state);
		free(chosen);
		free(excluded);
		free(groups);
		free(kept);
		return rc;
	}
	res->shards_total = S;
	res->total_exact = q->count;
	uint64_t salt = atomic_fetch_add(&r->next_id, 1);
	for (int attempt = 0; !rc && attempt < 2; attempt++) {
		/* choose a replica for every shard still pending */
		unsigned ng = 0;
		for (uint32_t s = 0; s < S; s++)
			chosen[s] =
			    state[s] == 0 ? pick(r, s, q->preference, excluded, salt + s) : -1;
		for (uint32_t s = 0; s < S; s++)
			if (state[s] == 0 && chosen[s] < 0)
				state[s] = 2; /* no replica left */
		for (uint32_t l = 0; l < r->nrep && !rc; l++) {
			group *g = &groups[ng];
			memset(&g->ws, 0, sizeof g->ws);
			for (uint32_t s = 0; s < S; s++)
				if (state[s] == 0 && chosen[s] == (int)l)
					g->ws.shards[g->ws.nshards++] = (uint16_t)s;
			if (!g->ws.nshards)
				continue;
			g->leaf = l;
			g->hedge_leaf = -1;
			g->winner = NULL;
			g->ws.k = want;
			g->ws.tree = q->tree;
			g->ws.tree_len = (uint32_t)q->tree_len;
			g->h = (wire_header){0};
			g->h.request_id = atomic_fetch_add(&r->next_id, 1);
			g->h.deadline_unix_us = deadline;
			/* ids come back with the hits when they can spare the FETCH:
			 * nothing but ids is wanted, or the leaf stores nothing else */
			int ids =
			    (!q->fetch && !q->snippet_field) || atomic_load(&r->rep[l].no_store);
			g->h.flags =
			    (uint16_t)((q->count ? WIRE_F_COUNT : 0) | (ids ? WIRE_F_IDS : 0));
			tbuf_init(&g->msg, 1 << 20);
			if ((rc = wire_encode_search(&g->msg, &g->h, &g->ws))) {
				tbuf_fini(&g->msg);
				rerr(err, errlen, rc, "the query is too long for the wire");
				break;
			}
			ng++;
		}
		if (rc)
			break;
		rpc_batch *batch = rpc_batch_new();
		if (!batch) {
			rc = TRAWL_ENOMEM;
			for (unsigned i = 0; i < ng; i++)
				tbuf_fini(&groups[i].msg);
			break;
		}
		uint64_t started = now_us();
		for (unsigned i = 0; i < ng; i++) {
			group *g = &groups[i];
			g->call = (rpc_call){
			    .peer = r->rep[g->leaf].cli, .req = g->msg.data, .len = g->msg.len};
			g->hedge = (rpc_call){0};
			g->hedge.done = 1;
			g->hedge_at = started + hedge_after(r, g->leaf);
			atomic_fetch_add(&r->rep[g->leaf].outstanding, 1);
			atomic_fetch_add(&r->rep[g->leaf].requests, 1);
			atomic_fetch_add(&r->searches, 1);
			hedge_earn(r);
			g->given_ms[0] = remaining_ms(deadline);
			rpc_batch_start(batch, &g->call, g->given_ms[0]);
		}
		/* wait; hedge the groups slower than their replica's recent p95 */
		for (;;) {
			uint64_t now = now_us(), next = deadline;
			unsigned open = 0;
			for (unsigned i = 0; i < ng; i++) {
				group *g = &groups[i];
				if (g->winner)
					continue;
				if (g->call.done && g->call.rc == TRAWL_OK)
					g->winner = &g->call;
				else if (!g->hedge.done || g->hedge.rc != TRAWL_OK ||
				         g->hedge_leaf < 0)
					;
				else
					g->winner = &g->hedge;
				if (g->winner) {
					rpc_call *loser =
					    g->winner == &g->call ? &g->hedge : &g->call;
					if (!loser->done)
						rpc_batch_cancel(batch, loser); /* the slower one */
					if (g->winner == &g->hedge)
						atomic_fetch_add(&r->hedge_wins, 1);
					continue;
				}
				if (g->call.done && g->hedge.done)
					continue; /* both failed (or no hedge): settled */
				open++;
				if (g->hedge_leaf < 0 && !g->call.done && now >= g->hedge_at) {
					int alt = hedge_target(r, g, excluded);
					if (alt >= 0 && hedge_allowed(r)) {
						g->hedge_leaf = alt;
						g->hedge = (rpc_call){.peer = r->rep[alt].cli,
						                      .req = g->msg.data,
						                      .len = g->msg.len};
						atomic_fetch_add(&r->hedges, 1);
						atomic_fetch_add(&r->rep[alt].outstanding, 1);
						atomic_fetch_add(&r->rep[alt].requests, 1);
						g->given_ms[1] = remaining_ms(deadline);
						rpc_batch_start(batch, &g->hedge, g->given_ms[1]);
					} else {
						g->hedge_at = deadline; /* no hedge for this one */
					}
				}
				if (g->hedge_leaf < 0 && g->hedge_at < next)
					next = g->hedge_at;
			}
			if (open == 0 || now >= deadline)
				break;
			/* Each open group needs one more answer at least: sleep until as
			 * many came (the winners are then known) or a hedge is due. A
			 * hedged-away loser is thus cancelled at the next wake-up, not at
			 * once: the leaf may finish it, and the root ignores its answer. */
			int ms = next > now ? (int)((next - now + 999) / 1000) : 1;
			rpc_batch_wait(batch, open, ms);
		}
		rpc_batch_free(batch); /* cancels and reaps whatever is left */
		for (unsigned i = 0; i < ng; i++) {
			group *g = &groups[i];
			int leaves[2] = {(int)g->leaf, g->hedge_leaf};
			rpc_call *callsof[2] = {&g->call, &g->hedge};
			wire_header h;
			wire_search_reply sr;
			int ok = 0;
			for (int j = 0; j < 2; j++) {
				if (leaves[j] < 0)
					continue;
				replica *rp = &r->rep[leaves[j]];
				atomic_fetch_sub(&rp->outstanding, 1);
				rpc_call *c = callsof[j];
				char msg[256];
				int answered =
				    c->rc == TRAWL_OK &&
				    wire_decode_search_reply(c->reply, c->reply_len, &h, &sr, msg,
				                             sizeof msg) == TRAWL_OK;
				int good = answered;
				int refused = 0;
				if (good && sr.status != TRAWL_OK) {
					/* the leaf ran and refused: a query error is the caller's,
					 * and says nothing against the replica */
					refused = sr.status == TRAWL_EQUERY ||
					          sr.status == TRAWL_ELIMIT ||
					          sr.status == TRAWL_EUTF8 ||
					          sr.status == TRAWL_EINVAL;
					if (refused)
						rc = rerr(err, errlen,
						          sr.status == TRAWL_EINVAL ? TRAWL_EQUERY
						                                    : sr.status,
						          "%.*s", (int)sr.errmsg_len, sr.errmsg);
					good = 0;
				}
				if (refused || good)
					note_result(r, rp, 1, c->micros);
				else if (c != g->winner && g->winner && c->timed_out)
					; /* a hedged-away call, cancelled: nothing of its replica
					   */
				else if (answered)
					note_result(r, rp, 0, 0); /* the leaf failed it */
				else
					note_failure(r, rp, c, g->given_ms[j]);
				if (!good && !(g->winner && c != g->winner))
					excluded[leaves[j]] = 1;
				if (c == g->winner && good)
					ok = 1;
			}
			for (uint32_t k = 0; k < g->ws.nshards; k++) {
				uint32_t s = g->ws.shards[k];
				if (ok)
					state[s] = 1;
				else if (g->call.timed_out || now_us() >= deadline)
					state[s] = 3;
			}
			if (ok) {
				/* decode the winner again (h and sr may hold the loser's) */
				wire_decode_search_reply(g->winner->reply, g->winner->reply_len, &h,
				                         &sr, NULL, 0);
				uint32_t wl =
				    g->winner == &g->call ? g->leaf : (uint32_t)g->hedge_leaf;
				if (h.flags & WIRE_F_PARTIAL) {
					res->partial = 1;
					res->total_exact = 0;
				}
				if (sr.total_relation != WIRE_TOTAL_EQ)
					res->total_exact = 0;
				res->total += sr.total;
				res->docs_searched += sr.docs_searched;
				if (h.generation > res->generation)
					res->generation = h.generation;
				if (!res->oldest_generation ||
				    h.generation < res->oldest_generation)
					res->oldest_generation = h.generation;
				if (nall + sr.nhits > capall) {
					size_t nc = (nall + sr.nhits) * 2;
					ghit *gh = realloc(all, nc * sizeof *gh);
					if (!gh) {
						rc = TRAWL_ENOMEM;
					} else {
						all = gh;
						capall = nc;
					}
				}
				int no_store = (h.flags & WIRE_F_NO_STORE) != 0;
				atomic_store(&r->rep[wl].no_store, no_store);
				const char **ids = NULL;
				uint32_t *lens = NULL;
				if (!rc && sr.nhits && (h.flags & WIRE_F_IDS)) {
					ids = malloc(sr.nhits * sizeof *ids);
					lens = malloc(sr.nhits * sizeof *lens);
					if (!ids || !lens ||
					    wire_search_reply_ids(&sr, ids, lens) != TRAWL_OK) {
						free(ids);
						free(lens);
						ids = NULL; /* the winners' ids are then FETCHed */
						lens = NULL;
					}
				}
				for (uint32_t i2 = 0; !rc && i2 < sr.nhits; i2++) {
					ghit *gh = &all[nall];
					wire_search_reply_hit(&sr, i2, &gh->h);
					gh->leaf = wl;
					gh->generation = h.generation;
					gh->id = ids ? ids[i2] : NULL;
					gh->id_len = ids ? lens[i2] : 0;
					gh->no_store = no_store;
					nall++;
				}
				if (ids) { /* the ids point into the reply: keep it */
					kept[nkept++] = g->winner->reply;
					g->winner->reply = NULL;
				}
				free(ids);
				free(lens);
			}
			rpc_call_fini(&g->call);
			rpc_call_fini(&g->hedge);
			tbuf_fini(&g->msg);
		}
		/* shards whose replica failed go once more to another replica */
		int again = 0;
		for (uint32_t s = 0; s < S; s++)
			again |= state[s] == 0;
		if (!again || now_us() >= deadline)
			break;
	}
	for (uint32_t s = 0; s < S; s++) {
		if (state[s] == 1)
			res->shards_answered++;
		else if (state[s] == 3)
			res->shards_timed_out++;
		else
			res->shards_failed++;
	}
	if (!rc && res->shards_answered < S) {
		res->partial = 1;
		res->total_exact = 0;
		double cov = (double)res->shards_answered / (double)S;
		if (!q->allow_partial || cov < q->min_coverage || res->shards_answered == 0)
			rc = rerr(err, errlen, TRAWL_EIO,
			          "%u of %u shards answered (%u timed out, %u failed)",
			          res->shards_answered, S, res->shards_timed_out,
			          res->shards_failed);
	}
	if (!rc) {
		if (nall)
			qsort(all, nall, sizeof *all, cmp_ghit);
		uint32_t from = q->offset < nall ? q->offset : (uint32_t)nall;
		uint32_t n = (uint32_t)(nall - from) < q->k ? (uint32_t)(nall - from) : q->k;
		res->hits = calloc(n ? n : 1, sizeof *res->hits);
		if (!res->hits)
			rc = TRAWL_ENOMEM;
		for (uint32_t i = 0; !rc && i < n; i++) {
			res->hits[i].score = all[from + i].h.score;
			res->hits[i].shard = all[from + i].h.shard;
		}
		res->nhits = n;
		/* The winners' ids came with the hits. Their documents and snippets
		 * come from their leaves, unless none was asked for or their shards
		 * store nothing but ids: then the FETCH round trip is saved. */
		int need_fetch = 0;
		for (uint32_t i = 0; i < n; i++)
			need_fetch |= !all[from + i].id ||
			              ((q->fetch || q->snippet_field) && !all[from + i].no_store);
		if (!rc && n && need_fetch) {
			rc = fetch_hits(r, q, all + from, res, fetch_deadline, err, errlen);
		} else {
			for (uint32_t i = 0; !rc && i < n; i++)
				if (!(res->hits[i].id =
				          dupn(all[from + i].id, all[from + i].id_len)))
					rc = TRAWL_ENOMEM;
		}
	}
	for (unsigned i = 0; i < nkept; i++)
		free(kept[i]);
	free(kept);
	res->took_us = now_us() - t0;
	if (res->generation)
		saw_generation(r, res->generation);
	free(state);
	free(chosen);
	free(excluded);
	free(groups);
	free(all);
	if (rc) {
		root_result_free(res);
		return rc;
	}
	*out = res;
	return TRAWL_OK;
}

int root_get(root *r, const char *id, char **json, size_t *len, char *err, size_t errlen)
{
	*json = NULL;
	size_t n = strlen(id);
	if (n == 0 || n > WIRE_MAX_ID)
		return rerr(err, errlen, TRAWL_ENOTFOUND, "no document with id \"%.80s\"", id);
	uint32_t s = th_shard_of(id, n, r->cfg.nshards);
	uint8_t *excluded = calloc(r->nrep, 1);
	if (!excluded)
		return TRAWL_ENOMEM;
	int rc = TRAWL_EIO;
	rerr(err, errlen, rc, "no replica of shard %u answered", s);
	for (int attempt = 0; attempt < 2; attempt++) {
		int l = pick(r, s, NULL, excluded, atomic_fetch_add(&r->next_id, 1));
		if (l < 0)
			break;
		wire_header h = {0};
		h.request_id = atomic_fetch_add(&r->next_id, 1);
		h.deadline_unix_us = now_us() + (uint64_t)r->cfg.timeout_ms * 1000u;
		tbuf msg;
		tbuf_init(&msg, 1 << 16);
		wire_get g = {(uint16_t)s, id, (uint32_t)n};
		rpc_call c = {0};
		if (wire_encode_get(&msg, &h, &g) == TRAWL_OK) {
			c = (rpc_call){.peer = r->rep[l].cli, .req = msg.data, .len = msg.len};
			rpc_call_many(&c, 1, (int)r->cfg.timeout_ms);
		}
		wire_fetch_reply fr;
		wire_doc d;
		wire_doc_iter it;
		if (c.rc == TRAWL_OK && c.reply &&
		    wire_decode_fetch_reply(c.reply, c.reply_len, &h, &fr, NULL, 0) == TRAWL_OK) {
			note_result(r, &r->rep[l], 1, c.micros);
			wire_doc_iter_init(&it, &fr);
			int got = fr.status == TRAWL_OK && wire_doc_iter_next(&it, &d) == 1;
			if (got && d.status == TRAWL_OK && d.json_len) {
				*json = dupn(d.json, d.json_len);
				*len = d.json_len;
				rc = *json ? TRAWL_OK : TRAWL_ENOMEM;
			} else if (got && d.status == TRAWL_ECORRUPT) {
				rc = rerr(
				    err, errlen, TRAWL_ECORRUPT,
				    "%s: stored document \"%.80s\" (shard %u) fails its checksum",
				    r->rep[l].cfg.url, id, s);
			} else if (got && d.status != TRAWL_OK && d.status != TRAWL_ENOTFOUND) {
				rc = rerr(err, errlen, TRAWL_EIO,
				          "%s: reading document \"%.80s\": %s", r->rep[l].cfg.url,
				          id, trawl_strerror(d.status));
			} else {
				rc = rerr(err, errlen, TRAWL_ENOTFOUND,
				          "no document with id \"%.80s\"", id);
			}
			rpc_call_fini(&c);
			tbuf_fini(&msg);
			break;
		}
		note_failure(r, &r->rep[l], &c, (int)r->cfg.timeout_ms);
		excluded[l] = 1;
		rpc_call_fini(&c);
		tbuf_fini(&msg);
	}
	free(excluded);
	return rc;
}

uint32_t root_replicas(root *r, root_replica_info *out, uint32_t max)
{
	for (uint32_t i = 0; i < r->nrep && i < max; i++) {
		replica *p = &r->rep[i];
		pthread_mutex_lock(&p->mu);
		out[i] = (root_replica_info){p->cfg.url,
		                             p->state,
		                             p->ewma_us,
		                             atomic_load(&p->outstanding),
		                             p->generation,
		                             atomic_load(&p->requests),
		                             atomic_load(&p->failures),
		                             atomic_load(&p->ejections)};
		pthread_mutex_unlock(&p->mu);
	}
	return r->nrep;
}

int root_ready(root *r)
{
	for (uint32_t s = 0; s < r->cfg.nshards; s++) {
		int ok = 0;
		for (uint32_t i = 0; i < r->nrep && !ok; i++)
			ok = r->rep[i].serves[s] && usable(&r->rep[i], 0);
		if (!ok)
			return 0;
	}
	return 1;
}

void root_counters(root *r, uint64_t *searches, uint64_t *hedges, uint64_t *hedge_wins)
{
	*searches = atomic_load(&r->searches);
	*hedges = atomic_load(&r->hedges);
	*hedge_wins = atomic_load(&r->hedge_wins);
}

/* The cache key: every field of q that can change the answer, and the
 * generation (timeouts and preferences cannot, except by making a result
 * partial, and partial results are not cached). */
static void cache_key(const root_query *q, uint64_t gen, uint8_t key[16])
{
	tbuf b;
	tbuf_init(&b, 2 * TRAWL_MAX_QUERY_TREE_BYTES); /* the tree and the fields above */
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
	th_hash128(b.data, b.len, key);
	tbuf_fini(&b);
}

int root_search(root *r, const root_query *q, root_result **out, char *err, size_t errlen)
{
	if (!r->cache || q->tree_len > TRAWL_MAX_QUERY_TREE_BYTES)
		return q->cache_only ? TRAWL_ENOTFOUND : search_uncached(r, q, out, err, errlen);
	uint64_t t0 = now_us();
	uint8_t key[16];
	uint64_t gen_at_key = atomic_load(&r->known_gen);
	cache_key(q, gen_at_key, key);
	int leader = 0;
	unsigned wait = q->timeout_ms ? q->timeout_ms : r->cfg.timeout_ms;
	root_result *hit = root_cache_get(r->cache, key, q->cache_only ? NULL : &leader, wait);
	if (!hit && q->cache_only)
		return TRAWL_ENOTFOUND;
	if (hit) {
		hit->cached = 1;
		hit->took_us = now_us() - t0;
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
