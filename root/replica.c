/*
 * replica.c - the replicas' health, the choice among them and the hedge
 * budget (see replica.h). One mutex per replica guards its state and
 * latency figures; counters are atomics. A thread pings every replica on a
 * fixed period, start to start.
 */
#include "root/replica.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/hash.h"
#include "common/wire.h"
#include "trawl/trawl.h"

/* Hedged requests: at most this fraction of the SEARCHes sent, and no
 * more than this many saved up by quiet times for a burst. */
#define ROOT_HEDGE_BUDGET 0.05
#define ROOT_HEDGE_BURST 5

/* A replica that has answered none of this many pings in a row (about as
 * many seconds) and has no connection gets a new dialer, in case nng's
 * dialer is what is stuck (replica_redial). A connection is never closed
 * for silence alone: nng 1.5.2 can hang closing one with a message half
 * through (common/rpc.c), and a root that did so during a link cut left a
 * leaf that could not stop (1 of 4 runs of the multi-host link faults, and
 * a 5th run during which the build was replaced; 0 of 8 without it). Only
 * one whose TCP connection has already ended is (replica_close_dead). */
#define ROOT_REDIAL_AFTER 5

/* ---- health ---- */

static void eject_locked(replica *p, const char *why)
{
	p->state = ROOT_EJECTED;
	atomic_fetch_add(&p->ejections, 1);
	if (!p->quiet)
		fprintf(stderr, "trawl root: ejected %s%s\n", p->cfg.url, why);
}

void replica_answered(replica_set *rs, replica *p, uint64_t micros)
{
	if (atomic_load(&p->busy_until))
		atomic_store(&p->busy_until, 0); /* it has room again */
	pthread_mutex_lock(&p->mu);
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
	if (p->state == ROOT_PROBATION && p->oks >= rs->readmit_after)
		p->state = ROOT_HEALTHY;
	pthread_mutex_unlock(&p->mu);
}

void replica_failed(replica_set *rs, replica *p, const char *why)
{
	pthread_mutex_lock(&p->mu);
	atomic_fetch_add(&p->failures, 1);
	p->oks = 0;
	p->fails++;
	snprintf(p->last_failure, sizeof p->last_failure, "%s", why);
	if (p->state != ROOT_EJECTED &&
	    (p->fails >= rs->eject_after || p->state == ROOT_PROBATION)) {
		char msg[160];
		snprintf(msg, sizeof msg, " after %u failures, the last: %s", p->fails, why);
		eject_locked(p, msg);
	}
	pthread_mutex_unlock(&p->mu);
}

void replica_note_failure(replica_set *rs, replica *p, const rpc_call *c, int given_ms)
{
	/* The root's own measure of a replica too slow to be healthy is a ping
	 * unanswered for ping_timeout_ms; a shorter deadline was the client's
	 * (timeout_ms), and says nothing against the replica. Four searches with
	 * timeout_ms=1 used to eject every replica of a cluster. */
	if (c->timed_out && given_ms < (int)rs->ping_timeout_ms)
		return;
	char why[96];
	if (c->timed_out)
		snprintf(why, sizeof why, "no answer within %d ms", given_ms);
	else if (c->rc == TRAWL_OK)
		snprintf(why, sizeof why, "a reply that does not decode");
	else
		snprintf(why, sizeof why, "call failed: %s", trawl_strerror(c->rc));
	replica_failed(rs, p, why);
}

/* nng lost the connection to a leaf (its process died, or the network):
 * eject it now rather than after the next failed pings. */
static void replica_gone(void *arg)
{
	replica *p = arg;
	pthread_mutex_lock(&p->mu);
	p->oks = 0;
	snprintf(p->last_failure, sizeof p->last_failure, "connection lost");
	if (p->state != ROOT_EJECTED)
		eject_locked(p, ": connection lost");
	pthread_mutex_unlock(&p->mu);
}

/* After a ping unanswered: a connection whose TCP connection has ended
 * although nng still counts it open (its TLS layer can miss the end:
 * rpc_client_close_dead) is closed and counts as gone at once (p ejected,
 * unconnected: nng dials again, or replica_redial gives p a new dialer);
 * one still established is left alone (ping thread). Before this, a
 * root never heard again from a leaf killed just after a reply to it, nor
 * from the one started in its place (the multi-host leaf restart, 2 of
 * about 8 loaded runs). */
static void replica_close_dead(replica *p)
{
	unsigned n = rpc_client_close_dead(p->cli);
	if (!n)
		return;
	atomic_fetch_add(&p->dead_closed, n);
	if (!p->quiet)
		fprintf(stderr,
		        "trawl root: %s: its connection had ended under nng (the socket says "
		        "not connected): closed it, dialling anew\n",
		        p->cfg.url);
}

/* After a ping unanswered: once ROOT_REDIAL_AFTER of them in a row have
 * gone unanswered since p was last dialled anew (or answered), p gets a
 * new dialer if it has no connection (ping thread). */
static void replica_redial(replica *p)
{
	unsigned fails = ++p->silent;
	if (fails < p->redial_at)
		return;
	p->redial_at = fails + ROOT_REDIAL_AFTER;
	int rc = rpc_client_redial(p->cli);
	if (rc == TRAWL_EBUSY)
		return; /* connected: the connection is left to TCP and the peer */
	atomic_fetch_add(&p->redials, 1);
	if (!p->quiet)
		fprintf(stderr,
		        "trawl root: %s answered none of %u pings in a row, unconnected: %s\n",
		        p->cfg.url, fails,
		        rc == TRAWL_OK ? "dialling it anew" : "could not dial it anew");
}

/* One round of pings: every replica at once, judged by its pong. */
static void ping_round(replica_set *rs, rpc_call *calls, tbuf *msgs)
{
	for (uint32_t i = 0; i < rs->n; i++) {
		wire_header h = {0};
		h.request_id = atomic_fetch_add(&rs->next_id, 1);
		tbuf_reset(&msgs[i]);
		wire_encode_ping(&msgs[i], &h);
		calls[i] =
		    (rpc_call){.peer = rs->rep[i].cli, .req = msgs[i].data, .len = msgs[i].len};
	}
	rpc_call_many(calls, rs->n, (int)rs->ping_timeout_ms);
	uint64_t newest = 0;
	for (uint32_t i = 0; i < rs->n; i++) {
		wire_header h;
		wire_pong p;
		int pong = calls[i].rc == TRAWL_OK &&
		           wire_decode_pong(calls[i].reply, calls[i].reply_len, &h, &p, NULL, 0) ==
		               TRAWL_OK;
		int ok = pong && p.ready;
		if (pong && p.generation) {
			/* the shards it lists are the ones it has in service */
			uint8_t listed[TRAWL_MAX_SHARDS] = {0};
			for (uint32_t k = 0; k < p.nshards; k++)
				listed[p.shards[k]] = 1;
			for (uint32_t s = 0; s < TRAWL_MAX_SHARDS; s++)
				atomic_store(&rs->rep[i].out[s],
				             rs->rep[i].serves[s] && !listed[s]);
		}
		if (ok) {
			pthread_mutex_lock(&rs->rep[i].mu);
			rs->rep[i].generation = p.generation;
			pthread_mutex_unlock(&rs->rep[i].mu);
			if (p.generation > newest)
				newest = p.generation;
		}
		if (pong) {
			rs->rep[i].silent = 0;
			rs->rep[i].redial_at = ROOT_REDIAL_AFTER;
		}
		if (ok)
			replica_answered(rs, &rs->rep[i], calls[i].micros);
		else if (pong)
			replica_failed(rs, &rs->rep[i], "its pong says not ready");
		else {
			replica_note_failure(rs, &rs->rep[i], &calls[i], (int)rs->ping_timeout_ms);
			replica_close_dead(&rs->rep[i]);
			replica_redial(&rs->rep[i]);
		}
		rpc_call_fini(&calls[i]);
	}
	/* the generation the leaves serve now (it goes back on a rollback: cache
	 * keys then follow; replies can only move it forward) */
	if (newest)
		atomic_store(&rs->known_gen, newest);
}

static void *ping_main(void *arg)
{
	replica_set *rs = arg;
	rpc_call *calls = calloc(rs->n, sizeof *calls);
	tbuf *msgs = calloc(rs->n, sizeof *msgs);
	for (uint32_t i = 0; msgs && i < rs->n; i++)
		tbuf_init(&msgs[i], 4096);
	while (calls && msgs && !atomic_load(&rs->stopping)) {
		struct timespec next;
		clock_gettime(CLOCK_MONOTONIC, &next);
		atomic_fetch_add(&rs->started, 1);
		ping_round(rs, calls, msgs);
		atomic_fetch_add(&rs->rounds, 1);
		/* a fixed period, start to start, however long the replies took;
		 * a round at once when asked (replicas_ping_now wakes it: a search
		 * waiting for a fresh view waits for this round, not a poll's
		 * period) */
		next.tv_sec += (time_t)(rs->ping_ms / 1000);
		next.tv_nsec += (long)(rs->ping_ms % 1000) * 1000000L;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_sec++;
			next.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&rs->ping_mu);
		while (!atomic_load(&rs->stopping) && !atomic_exchange(&rs->ping_now, 0) &&
		       pthread_cond_timedwait(&rs->ping_cv, &rs->ping_mu, &next) != ETIMEDOUT)
			;
		pthread_mutex_unlock(&rs->ping_mu);
	}
	for (uint32_t i = 0; msgs && i < rs->n; i++)
		tbuf_fini(&msgs[i]);
	free(msgs);
	free(calls);
	return NULL;
}

int replicas_open(replica_set *rs, const root_config *cfg, char *err, size_t errlen)
{
	memset(rs, 0, sizeof *rs);
	pthread_mutex_init(&rs->ping_mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&rs->ping_cv, &ca);
	pthread_condattr_destroy(&ca);
	rs->ping_ms = cfg->ping_ms ? cfg->ping_ms : 1000;
	rs->ping_timeout_ms = cfg->ping_timeout_ms ? cfg->ping_timeout_ms : 500;
	rs->eject_after = cfg->eject_after ? cfg->eject_after : 2;
	rs->readmit_after = cfg->readmit_after ? cfg->readmit_after : 2;
	rs->quiet = cfg->quiet;
	atomic_store(&rs->next_id, 1);
	rs->rep = calloc(cfg->nleaves ? cfg->nleaves : 1, sizeof *rs->rep);
	if (!rs->rep)
		return TRAWL_ENOMEM;
	for (uint32_t i = 0; i < cfg->nleaves; i++) {
		replica *p = &rs->rep[i];
		p->cfg = cfg->leaves[i];
		for (uint32_t j = 0; j < p->cfg.nshards; j++)
			p->serves[p->cfg.shards[j]] = 1;
		pthread_mutex_init(&p->mu, NULL);
		p->state = ROOT_PROBATION; /* until it answers */
		p->quiet = cfg->quiet;
		p->redial_at = ROOT_REDIAL_AFTER;
		int rc = rpc_client_open(&p->cli, p->cfg.url, &cfg->tls, err, errlen);
		if (rc) {
			pthread_mutex_destroy(&p->mu);
			replicas_close(rs);
			return rc;
		}
		rpc_client_on_disconnect(p->cli, replica_gone, p);
		rs->n++;
	}
	if (pthread_create(&rs->pinger, NULL, ping_main, rs) != 0) {
		replicas_close(rs);
		return TRAWL_ENOMEM;
	}
	rs->pinging = 1;
	return TRAWL_OK;
}

void replicas_close(replica_set *rs)
{
	pthread_mutex_lock(&rs->ping_mu);
	atomic_store(&rs->stopping, 1);
	pthread_cond_signal(&rs->ping_cv);
	pthread_mutex_unlock(&rs->ping_mu);
	if (rs->pinging)
		pthread_join(rs->pinger, NULL);
	rs->pinging = 0;
	pthread_cond_destroy(&rs->ping_cv);
	pthread_mutex_destroy(&rs->ping_mu);
	for (uint32_t i = 0; i < rs->n; i++) {
		rpc_client_close(rs->rep[i].cli);
		pthread_mutex_destroy(&rs->rep[i].mu);
	}
	free(rs->rep);
	rs->rep = NULL;
	rs->n = 0;
}

/* ---- choice ---- */

static double load_of(replica *p)
{
	pthread_mutex_lock(&p->mu);
	double e = p->ewma_us > 0 ? p->ewma_us : 1000.0;
	pthread_mutex_unlock(&p->mu);
	return e * (1.0 + atomic_load(&p->outstanding));
}

void replica_busy(replica_set *rs, replica *p)
{
	(void)rs;
	pthread_mutex_lock(&p->mu);
	double ewma = p->ewma_us;
	pthread_mutex_unlock(&p->mu);
	/* about the time one search of it takes, within [1 ms, 50 ms] */
	uint64_t hold = ewma < 1000 ? 1000 : ewma > 50000 ? 50000 : (uint64_t)ewma;
	atomic_store(&p->busy_until, clock_unix_us() + hold);
}

int replicas_overloaded(replica_set *rs, uint32_t nshards, uint32_t *shard)
{
	uint64_t now = 0;
	for (uint32_t s = 0; s < nshards; s++) {
		int busy = 0, free = 0;
		for (uint32_t i = 0; i < rs->n && !free; i++) {
			replica *p = &rs->rep[i];
			if (!replica_has(p, s))
				continue;
			uint64_t until = atomic_load(&p->busy_until);
			if (until && !now)
				now = clock_unix_us();
			if (until && until > now)
				busy = 1;
			else if (replica_usable(p, 1))
				free = 1;
		}
		if (busy && !free && !replicas_short(rs, s)) {
			*shard = s;
			return 1;
		}
	}
	return 0;
}

int replicas_short(replica_set *rs, uint32_t s)
{
	for (uint32_t i = 0; i < rs->n; i++) {
		replica *p = &rs->rep[i];
		if (p->serves[s] && !(replica_has(p, s) && replica_usable(p, 0)))
			return 1;
	}
	return 0;
}

int replica_usable(replica *p, int allow_probation)
{
	pthread_mutex_lock(&p->mu);
	enum root_state st = p->state;
	pthread_mutex_unlock(&p->mu);
	return st == ROOT_HEALTHY || (allow_probation && st == ROOT_PROBATION);
}

_Static_assert(TRAWL_MAX_SHARDS % 64 == 0, "out-of-service shards are words of bits");

int replica_has(replica *p, uint32_t s)
{
	return p->serves[s] && !atomic_load(&p->out[s]);
}

void replica_withdrawn(replica_set *rs, replica *p, const uint16_t *shards, uint32_t n)
{
	(void)rs;
	for (uint32_t k = 0; k < n; k++)
		atomic_store(&p->out[shards[k]], 1);
}

uint64_t replica_generation(replica *p)
{
	pthread_mutex_lock(&p->mu);
	uint64_t g = p->generation;
	pthread_mutex_unlock(&p->mu);
	return g;
}

void replicas_ping_now(replica_set *rs)
{
	pthread_mutex_lock(&rs->ping_mu);
	atomic_store(&rs->ping_now, 1);
	pthread_cond_signal(&rs->ping_cv);
	pthread_mutex_unlock(&rs->ping_mu);
}

int replicas_await_round(replica_set *rs, unsigned timeout_ms)
{
	/* a round under way may have asked before the call: then the one after */
	uint64_t done = atomic_load(&rs->rounds), t0 = clock_mono_ms();
	uint64_t want = done + (atomic_load(&rs->started) > done ? 2 : 1);
	replicas_ping_now(rs);
	while (atomic_load(&rs->rounds) < want) {
		if (clock_mono_ms() - t0 >= timeout_ms || atomic_load(&rs->stopping))
			return 0;
		if (atomic_load(&rs->rounds) == want - 1 && atomic_load(&rs->started) < want)
			replicas_ping_now(rs);
		usleep(200);
	}
	return 1;
}

/* Whether p serves one of shards [0, nshards). */
static int serves_some(replica *p, uint32_t nshards)
{
	for (uint32_t s = 0; s < nshards; s++)
		if (replica_has(p, s))
			return 1;
	return 0;
}

uint32_t replicas_lagging(replica_set *rs, uint32_t nshards, uint64_t gen)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < rs->n; i++) {
		uint64_t g = replica_generation(&rs->rep[i]),
		         lag = atomic_load(&rs->rep[i].lag_gen);
		n += serves_some(&rs->rep[i], nshards) && replica_usable(&rs->rep[i], 0) &&
		     g < gen &&
		     !(lag && g < lag); /* found behind by a refresh before, still behind */
	}
	return n;
}

uint64_t replicas_common_generation(replica_set *rs, uint32_t nshards)
{
	uint64_t common = 0;
	for (uint32_t s = 0; s < nshards; s++) {
		uint64_t newest = 0;
		for (uint32_t i = 0; i < rs->n; i++)
			if (replica_has(&rs->rep[i], s) && replica_usable(&rs->rep[i], 0)) {
				uint64_t g = replica_generation(&rs->rep[i]);
				newest = g > newest ? g : newest;
			}
		if (newest == 0)
			return 0;
		common = common == 0 || newest < common ? newest : common;
	}
	return common;
}

uint64_t replicas_newest_generation(replica_set *rs, uint32_t s)
{
	uint64_t newest = 0;
	for (uint32_t i = 0; i < rs->n; i++)
		if (replica_has(&rs->rep[i], s) && replica_usable(&rs->rep[i], 0)) {
			uint64_t g = replica_generation(&rs->rep[i]);
			newest = g > newest ? g : newest;
		}
	return newest;
}

/* Whether a replica of generation g is a candidate in pass 2 (of gen),
 * 1 (of the floor or newer) or 0 (any). */
static int gen_fits(uint64_t g, int pass, uint64_t gen, uint64_t floor)
{
	return pass == 2 ? g == gen : pass == 1 ? g >= floor : 1;
}

int replica_pick(replica_set *rs, uint32_t s, const char *pref, const uint8_t *excluded,
                 uint64_t salt, uint64_t gen)
{
	uint32_t cand[LIMIT_LEAVES], n = 0;
	uint64_t now = clock_unix_us();
	/* of generation gen first (when one is asked for): then, healthy ones
	 * that have not just refused a search as overloaded first, then
	 * healthy ones, then those on probation */
	uint64_t floor = atomic_load(&rs->floor);
	/* pass 2: of generation gen; 1: of the floor or newer; 0: any */
	for (int pass = gen != 0 ? 2 : 1; pass >= 0 && n == 0; pass--)
		for (int tier = 0; tier < 3 && n == 0; tier++)
			for (uint32_t i = 0; i < rs->n; i++)
				if (replica_has(&rs->rep[i], s) && !excluded[i] &&
				    (tier > 0 || atomic_load(&rs->rep[i].busy_until) <= now) &&
				    replica_usable(&rs->rep[i], tier == 2) &&
				    gen_fits(replica_generation(&rs->rep[i]), pass, gen, floor))
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
	return (int)(load_of(&rs->rep[a]) <= load_of(&rs->rep[b]) ? a : b);
}

uint64_t replica_hedge_after(replica *p)
{
	pthread_mutex_lock(&p->mu);
	double v = p->ewma_us > 0 ? p->ewma_us + 3 * p->ewmdev_us : 5000;
	pthread_mutex_unlock(&p->mu);
	return v < 2000 ? 2000 : (uint64_t)v;
}

static int serves_all(replica *p, const uint16_t *shards, uint32_t n)
{
	for (uint32_t k = 0; k < n; k++)
		if (!replica_has(p, shards[k]))
			return 0;
	return 1;
}

int replica_hedge_target(replica_set *rs, uint32_t leaf, const uint16_t *shards, uint32_t n,
                         const uint8_t *excluded, uint64_t gen)
{
	int best = -1;
	double bl = 0;
	uint64_t floor = atomic_load(&rs->floor);
	for (int pass = gen != 0 ? 2 : 1; pass >= 1 && best < 0; pass--)
		for (uint32_t i = 0; i < rs->n; i++) {
			if (i == leaf || excluded[i] || !replica_usable(&rs->rep[i], 0) ||
			    !serves_all(&rs->rep[i], shards, n) ||
			    !gen_fits(replica_generation(&rs->rep[i]), pass, gen, floor))
				continue;
			double l = load_of(&rs->rep[i]);
			if (best < 0 || l < bl) {
				best = (int)i;
				bl = l;
			}
		}
	return best;
}

int replica_fetch_alt(replica_set *rs, uint32_t leaf, const uint16_t *shards, uint32_t n,
                      uint64_t gen)
{
	/* the same generation first; then a newer one: a FETCH retried while
	 * the twin switched to a generation published since the SEARCH (the
	 * multi-host leaf restart: a killed leaf's FETCH retried as the build
	 * published) otherwise found no replica, and the page lost its hits */
	for (int same = 1; same >= 0; same--)
		for (uint32_t a = 0; a < rs->n; a++) {
			if (a == leaf || !replica_usable(&rs->rep[a], 1) ||
			    !serves_all(&rs->rep[a], shards, n))
				continue;
			uint64_t g = replica_generation(&rs->rep[a]);
			if (same ? g == gen : g > gen)
				return (int)a;
		}
	return -1;
}

/* ---- the hedge budget ----
 * A token bucket that every search fills by the budget and every hedge
 * empties by one, holding at most ROOT_HEDGE_BURST, so quiet times cannot
 * bank hedges for a burst later. Token counts are in 1/1000. */

int hedge_allowed(replica_set *rs)
{
	int64_t t = atomic_load(&rs->hedge_tokens);
	while (t >= 1000) {
		if (atomic_compare_exchange_weak(&rs->hedge_tokens, &t, t - 1000))
			return 1;
	}
	return 0;
}

void hedge_earn(replica_set *rs)
{
	int64_t t = atomic_load(&rs->hedge_tokens), n;
	do {
		n = t + (int64_t)(ROOT_HEDGE_BUDGET * 1000);
		if (n > ROOT_HEDGE_BURST * 1000)
			n = ROOT_HEDGE_BURST * 1000;
	} while (!atomic_compare_exchange_weak(&rs->hedge_tokens, &t, n));
}

/* ---- what the API shows ---- */

void replicas_raise_floor(replica_set *rs, uint64_t g)
{
	uint64_t cur = atomic_load(&rs->floor);
	while (g > cur && !atomic_compare_exchange_weak(&rs->floor, &cur, g))
		;
	atomic_store(&rs->floor_until, clock_unix_us() + (uint64_t)LIMIT_REFRESH_FLOOR_MS * 1000u);
}

uint64_t replicas_floor(replica_set *rs)
{
	return clock_unix_us() < atomic_load(&rs->floor_until) ? atomic_load(&rs->floor) : 0;
}

void replicas_mark_lagging(replica_set *rs, uint32_t nshards, uint64_t gen)
{
	for (uint32_t i = 0; i < rs->n; i++)
		if (serves_some(&rs->rep[i], nshards) && replica_generation(&rs->rep[i]) < gen)
			atomic_store(&rs->rep[i].lag_gen, gen);
}

void replicas_saw_generation(replica_set *rs, uint64_t g)
{
	uint64_t cur = atomic_load(&rs->known_gen);
	while (g > cur && !atomic_compare_exchange_weak(&rs->known_gen, &cur, g))
		;
}

/* Shards of nshards with a healthy replica. */
static uint32_t shards_served(replica_set *rs, uint32_t nshards)
{
	uint32_t n = 0;
	for (uint32_t s = 0; s < nshards; s++) {
		int ok = 0;
		for (uint32_t i = 0; i < rs->n && !ok; i++)
			ok = replica_has(&rs->rep[i], s) && replica_usable(&rs->rep[i], 0);
		n += (uint32_t)ok;
	}
	return n;
}

int replicas_ready(replica_set *rs, uint32_t nshards)
{
	return shards_served(rs, nshards) == nshards;
}

int replicas_serving(replica_set *rs, uint32_t nshards)
{
	return shards_served(rs, nshards) > 0;
}

uint32_t replicas_info(replica_set *rs, root_replica_info *out, uint32_t max)
{
	for (uint32_t i = 0; i < rs->n && i < max; i++) {
		replica *p = &rs->rep[i];
		pthread_mutex_lock(&p->mu);
		out[i] = (root_replica_info){p->cfg.url,
		                             (int)p->state,
		                             p->ewma_us,
		                             atomic_load(&p->outstanding),
		                             p->generation,
		                             atomic_load(&p->requests),
		                             atomic_load(&p->failures),
		                             atomic_load(&p->ejections)};
		snprintf(out[i].last_failure, sizeof out[i].last_failure, "%s", p->last_failure);
		pthread_mutex_unlock(&p->mu);
		rpc_client_connections(p->cli, &out[i].connected, &out[i].connects);
		out[i].redials = atomic_load(&p->redials);
		out[i].dead_closed = atomic_load(&p->dead_closed);
		for (uint32_t s = 0; s < TRAWL_MAX_SHARDS; s++)
			if (atomic_load(&p->out[s]))
				out[i].out[s / 64] |= 1ull << (s % 64);
	}
	return rs->n;
}
