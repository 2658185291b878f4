/*
 * scatter.c - the SEARCH phase of a query as a state machine (see
 * scatter.h): plan, send, wait and hedge, collect, finish. Each state is
 * one function that does its work and names the next state.
 */
#include "root/scatter.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/error.h"
#include "trawl/trawl.h"

static int fail(scatter *sc, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(scatter *sc, int rc, const char *fmt, ...)
{
	sc->rc = rc;
	if (sc->err && sc->errlen) {
		va_list ap;
		va_start(ap, fmt);
		verrf(sc->err, sc->errlen, rc, fmt, ap);
		va_end(ap);
	}
	return rc;
}

int scatter_init(scatter *sc, replica_set *rs, const root_query *q, uint32_t nshards,
                 uint64_t deadline, root_merge *m, char *err, size_t errlen)
{
	memset(sc, 0, sizeof *sc);
	sc->rs = rs;
	sc->q = q;
	sc->merge = m;
	sc->nshards = nshards;
	sc->deadline = deadline;
	sc->err = err;
	sc->errlen = errlen;
	sc->step = SCATTER_PLAN;
	sc->shard = calloc(nshards, sizeof *sc->shard); /* SHARD_PENDING */
	sc->chosen = malloc(nshards * sizeof *sc->chosen);
	sc->excluded = calloc(rs->n ? rs->n : 1, 1);
	sc->refused = calloc(rs->n ? rs->n : 1, 1);
	sc->busy = calloc(nshards ? nshards : 1, 1);
	sc->missed = calloc(nshards ? nshards : 1, 1);
	sc->unpinned = calloc(nshards ? nshards : 1, 1);
	sc->groups = calloc(rs->n ? rs->n : 1, sizeof *sc->groups);
	sc->salt = atomic_fetch_add(&rs->next_id, 1);
	if (!sc->shard || !sc->chosen || !sc->excluded || !sc->refused || !sc->busy ||
	    !sc->missed || !sc->unpinned || !sc->groups)
		return sc->rc = TRAWL_ENOMEM;
	return TRAWL_OK;
}

void scatter_fini(scatter *sc)
{
	free(sc->shard);
	free(sc->chosen);
	free(sc->excluded);
	free(sc->refused);
	free(sc->busy);
	free(sc->missed);
	free(sc->unpinned);
	free(sc->groups);
}

/* ---- SCATTER_PLAN ---- */

/* The SEARCH of group g: its header and message (the leaf's shards are set). */
static int encode_group(scatter *sc, scatter_group *g)
{
	const root_query *q = sc->q;
	replica_set *rs = sc->rs;
	g->hedge_leaf = -1;
	g->winner = NULL;
	g->ws.k = q->k + q->offset ? q->k + q->offset : 1; /* k 0: aggregations only */
	g->ws.tree = q->tree;
	g->ws.tree_len = (uint32_t)q->tree_len;
	g->h = (wire_header){0};
	g->h.request_id = atomic_fetch_add(&rs->next_id, 1);
	g->h.deadline_unix_us = sc->deadline;
	/* the query's generation, unless a replica of one of these shards
	 * lacked it: then whatever the leaf serves (one shard may then answer
	 * from another generation, the only alternative to no answer) */
	g->h.generation = sc->generation;
	for (uint32_t k = 0; k < g->ws.nshards; k++)
		if (sc->unpinned[g->ws.shards[k]])
			g->h.generation = 0;
	/* ids come back with the hits when they can spare the FETCH: nothing
	 * but ids is wanted, or the leaf stores nothing else */
	int ids = (!q->fetch && !q->snippet_field) || atomic_load(&rs->rep[g->leaf].no_store);
	g->h.flags = (uint16_t)((q->count ? WIRE_F_COUNT : 0) | (ids ? WIRE_F_IDS : 0) |
	                        (q->nsort ? WIRE_F_SORT : 0) | (q->aggs ? WIRE_F_AGGS : 0));
	g->ws.aggs = q->aggs ? q->aggs_canon : NULL;
	g->ws.aggs_len =
	    q->aggs ? (uint32_t)(q->aggs_canon_len > UINT32_MAX ? UINT32_MAX : q->aggs_canon_len)
	            : 0;
	if (q->nsort > LIMIT_SORT_KEYS)
		return fail(sc, TRAWL_ELIMIT,
		            "a sort has at most " LIMIT_STR(LIMIT_SORT_KEYS) " keys");
	g->ws.nsort = (uint8_t)q->nsort;
	for (uint32_t i = 0; i < q->nsort; i++) {
		const trawl_sort *k = &q->sort[i];
		size_t fl = strlen(k->field);
		g->ws.sort[i] =
		    (wire_sortkey){(uint8_t)((k->desc ? WIRE_SORT_DESC : 0) |
		                             (k->missing_first ? WIRE_SORT_MISSING_FIRST : 0) |
		                             (k->mode == TRAWL_SORT_MIN   ? WIRE_SORT_MIN
		                              : k->mode == TRAWL_SORT_MAX ? WIRE_SORT_MAX
		                                                          : 0)),
		                   (uint8_t)(fl > 255 ? 255 : fl), k->field};
	}
	g->ws.after = q->search_after;
	g->ws.after_len =
	    (uint32_t)(q->search_after_len > UINT32_MAX ? UINT32_MAX : q->search_after_len);
	tbuf_init(&g->msg, 1 << 20);
	int rc = wire_encode_search(&g->msg, &g->h, &g->ws);
	if (rc != TRAWL_OK) {
		tbuf_fini(&g->msg);
		return fail(sc, rc, "the query is too long for the wire");
	}
	return TRAWL_OK;
}

/* A shard whose every miss was a refusal as overloaded and that has no
 * replica left to ask, while another replica of it is out of service
 * (ejected: frozen, dead or cut off), waits for room at the replicas that
 * refused: until a search this root has in flight there comes back (at
 * most LIMIT_ROOT_ROOM_WAIT_MS, and only within the deadline), and asks
 * them again, up to LIMIT_ROOT_ROOM_WAITS times a query. The refusal then
 * comes from capacity the shard has just lost, and a burst (the searches
 * of a frozen replica, hedged to its twin at once) clears in that time:
 * resilience_test.py TestFrozenReplica saw a 429 in 1 run of 12 under
 * ASan on a loaded machine. A shard whose replicas all serve and all
 * refused is overloaded: 429 at once (replicas_short). Returns 1 when it
 * waited (the replicas are no longer excluded). */
static int wait_for_room(scatter *sc)
{
	replica_set *rs = sc->rs;
	unsigned *was = calloc(rs->n ? rs->n : 1, sizeof *was); /* outstanding + 1, or 0 */
	if (!was)
		return 0;
	int any = 0;
	for (uint32_t s = 0; s < sc->nshards; s++) {
		if (sc->shard[s] != SHARD_PENDING || !sc->busy[s] || sc->busy[s] != sc->missed[s] ||
		    !replicas_short(rs, s) ||
		    replica_pick(rs, s, NULL, sc->excluded, sc->salt + s, 0) >= 0)
			continue;
		for (uint32_t i = 0; i < rs->n; i++)
			if (sc->refused[i] && replica_has(&rs->rep[i], s) && !was[i]) {
				was[i] = (unsigned)atomic_load(&rs->rep[i].outstanding) + 1;
				any = 1;
			}
	}
	uint64_t now = clock_unix_us(), until = now + LIMIT_ROOT_ROOM_WAIT_MS * 1000ull;
	if (until > sc->deadline)
		until = sc->deadline;
	int waited = any && now < until;
	if (waited) {
		sc->waits++;
		for (int room = 0; !room && clock_unix_us() < until;) {
			struct timespec ts = {0, 1000 * 1000};
			nanosleep(&ts, NULL);
			for (uint32_t i = 0; i < rs->n && !room; i++)
				room = was[i] && atomic_load(&rs->rep[i].outstanding) + 1 < was[i];
		}
		for (uint32_t i = 0; i < rs->n; i++)
			if (was[i])
				sc->excluded[i] = 0;
	}
	free(was);
	return waited;
}

static enum scatter_step plan(scatter *sc)
{
	replica_set *rs = sc->rs;
	/* one generation for every shard: while a new one rolls out, the one
	 * every shard still has (a leaf that switched keeps the one before) */
	if (sc->attempt == 0) {
		/* never older than a refresh of this root waited for, as the
		 * floor stood when the search began (one raised meanwhile is for
		 * the searches after the refresh's answer) */
		sc->floor = replicas_floor(rs);
		sc->generation = replicas_common_generation(rs, sc->nshards);
		if (sc->generation && sc->generation < sc->floor)
			sc->generation = sc->floor;
	}
	for (uint32_t s = 0; s < sc->nshards; s++) {
		sc->chosen[s] = sc->shard[s] == SHARD_PENDING
		                    ? replica_pick(rs, s, sc->q->preference, sc->excluded,
		                                   sc->salt + s, sc->generation)
		                    : -1;
		if (sc->shard[s] == SHARD_PENDING && sc->chosen[s] < 0)
			sc->shard[s] = SHARD_FAILED; /* no replica left */
	}
	sc->ngroups = 0;
	for (uint32_t l = 0; l < rs->n; l++) {
		scatter_group *g = &sc->groups[sc->ngroups];
		memset(&g->ws, 0, sizeof g->ws);
		for (uint32_t s = 0; s < sc->nshards; s++)
			if (sc->shard[s] == SHARD_PENDING && sc->chosen[s] == (int)l)
				g->ws.shards[g->ws.nshards++] = (uint16_t)s;
		if (!g->ws.nshards)
			continue;
		g->leaf = l;
		if (encode_group(sc, g) != TRAWL_OK) {
			for (unsigned i = 0; i < sc->ngroups; i++)
				tbuf_fini(&sc->groups[i].msg);
			sc->ngroups = 0;
			return SCATTER_FINISH;
		}
		sc->ngroups++;
	}
	return sc->ngroups ? SCATTER_SEND : SCATTER_FINISH;
}

/* ---- SCATTER_SEND ---- */

static enum scatter_step send_all(scatter *sc)
{
	replica_set *rs = sc->rs;
	if (!(sc->batch = rpc_batch_new())) {
		fail(sc, TRAWL_ENOMEM, "out of memory");
		for (unsigned i = 0; i < sc->ngroups; i++)
			tbuf_fini(&sc->groups[i].msg);
		sc->ngroups = 0;
		return SCATTER_FINISH;
	}
	uint64_t started = clock_unix_us();
	for (unsigned i = 0; i < sc->ngroups; i++) {
		scatter_group *g = &sc->groups[i];
		replica *p = &rs->rep[g->leaf];
		g->call = (rpc_call){.peer = p->cli, .req = g->msg.data, .len = g->msg.len};
		g->hedge = (rpc_call){0};
		g->hedge.done = 1;
		g->hedge_at = started + replica_hedge_after(p);
		g->last_chance_at =
		    started + (sc->deadline > started ? (sc->deadline - started) / 2 : 0);
		atomic_fetch_add(&p->outstanding, 1);
		atomic_fetch_add(&p->requests, 1);
		atomic_fetch_add(&rs->searches, 1);
		hedge_earn(rs);
		g->given_ms[0] = clock_ms_until(sc->deadline);
		rpc_batch_start(sc->batch, &g->call, g->given_ms[0]);
	}
	return SCATTER_WAIT;
}

/* ---- SCATTER_WAIT ---- */

/* Whether call c has come back with a good answer: an error reply (a leaf
 * with the shard out of service, say) must not cancel its twin. */
static int answered_well(const scatter *sc, const rpc_call *c)
{
	wire_header h;
	wire_search_reply sr;
	return c->done && c->rc == TRAWL_OK &&
	       wire_decode_search_reply(c->reply, c->reply_len, &h, &sr, NULL, 0) == TRAWL_OK &&
	       sr.status == TRAWL_OK && h.generation >= sc->floor; /* not behind (judge) */
}

/* Group g's winner, once a call of it answered well; the slower call is
 * cancelled. Returns 1 when g needs nothing more. */
static int settle(scatter *sc, scatter_group *g)
{
	if (g->winner)
		return 1;
	if (answered_well(sc, &g->call))
		g->winner = &g->call;
	else if (g->hedge_leaf >= 0 && answered_well(sc, &g->hedge))
		g->winner = &g->hedge;
	if (g->winner) {
		rpc_call *loser = g->winner == &g->call ? &g->hedge : &g->call;
		if (!loser->done)
			rpc_batch_cancel(sc->batch, loser);
		if (g->winner == &g->hedge)
			atomic_fetch_add(&sc->rs->hedge_wins, 1);
		return 1;
	}
	return g->call.done && g->hedge.done; /* both failed (or no hedge) */
}

/* Sends g's hedge when it is due, to the least loaded other replica.
 * Within the budget, it is due at the replica's recent p95; beyond it, at
 * half the time the call was given: a call that slow is not the tail of a
 * healthy replica but most likely a stalled one, and waiting for its
 * deadline would cost a partial answer (issue #13, finding 10: a frozen
 * replica's searches in flight outran the budget). */
static void maybe_hedge(scatter *sc, scatter_group *g, uint64_t now)
{
	if (g->hedge_leaf >= 0 || g->call.done || now < g->hedge_at)
		return;
	replica_set *rs = sc->rs;
	int alt = replica_hedge_target(rs, g->leaf, g->ws.shards, g->ws.nshards, sc->excluded,
	                               g->h.generation);
	if (alt < 0) {
		g->hedge_at = sc->deadline; /* no hedge for this one */
		return;
	}
	if (now < g->last_chance_at && !hedge_allowed(rs)) {
		g->hedge_at = g->last_chance_at; /* over the budget: only if it stalls */
		return;
	}
	if (now >= g->last_chance_at)
		atomic_fetch_add(&rs->hedges_stalled, 1);
	g->hedge_leaf = alt;
	g->hedge = (rpc_call){.peer = rs->rep[alt].cli, .req = g->msg.data, .len = g->msg.len};
	atomic_fetch_add(&rs->hedges, 1);
	atomic_fetch_add(&rs->rep[alt].outstanding, 1);
	atomic_fetch_add(&rs->rep[alt].requests, 1);
	g->given_ms[1] = clock_ms_until(sc->deadline);
	rpc_batch_start(sc->batch, &g->hedge, g->given_ms[1]);
}

static enum scatter_step wait_and_hedge(scatter *sc)
{
	for (;;) {
		uint64_t now = clock_unix_us(), next = sc->deadline;
		unsigned open = 0;
		for (unsigned i = 0; i < sc->ngroups; i++) {
			scatter_group *g = &sc->groups[i];
			if (settle(sc, g))
				continue;
			open++;
			maybe_hedge(sc, g, now);
			if (g->hedge_leaf < 0 && g->hedge_at < next)
				next = g->hedge_at;
		}
		if (open == 0 || now >= sc->deadline)
			break;
		/* Each open group needs one more answer at least: sleep until as many
		 * came (the winners are then known) or a hedge is due. A hedged-away
		 * loser is thus cancelled at the next wake-up, not at once: the leaf
		 * may finish it, and the root ignores its answer. */
		int ms = next > now ? (int)((next - now + 999) / 1000) : 1;
		rpc_batch_wait(sc->batch, open, ms);
	}
	rpc_batch_free(sc->batch); /* cancels and reaps whatever is left */
	sc->batch = NULL;
	return SCATTER_COLLECT;
}

/* ---- SCATTER_COLLECT ---- */

/* Judges call j of g (0: the call, 1: the hedge) and tells its replica.
 * Returns 1 when it is g's winner with a good answer. A leaf that refused
 * the query (a query error is the caller's, and says nothing against the
 * replica) ends the search with that error. */
static int judge(scatter *sc, scatter_group *g, int j)
{
	int leaf = j == 0 ? (int)g->leaf : g->hedge_leaf;
	rpc_call *c = j == 0 ? &g->call : &g->hedge;
	replica *rp = &sc->rs->rep[leaf];
	atomic_fetch_sub(&rp->outstanding, 1);
	wire_header h;
	wire_search_reply sr;
	char msg[256];
	int answered =
	    c->rc == TRAWL_OK &&
	    wire_decode_search_reply(c->reply, c->reply_len, &h, &sr, msg, sizeof msg) == TRAWL_OK;
	int good = answered && sr.status == TRAWL_OK;
	/* an answer from a generation older than a refresh of this root waited
	 * for (asked for any, the replica had not switched yet): not believed,
	 * and that replica is not asked again for this query */
	int behind = good && h.generation < sc->floor;
	good &= !behind;
	sc->behind += (uint32_t)behind;
	/* it serves a newer generation than this root's pings have seen there:
	 * the root's view is behind (what it already knows tells nothing new:
	 * the pin is the oldest newest generation of every shard) */
	if (good && (h.flags & WIRE_F_NEWER) && replica_generation(rp) <= h.generation)
		sc->newer = 1;
	/* the pinned generation is not (or no longer) served there: not its
	 * fault; the retry asks for any generation, of it or another replica */
	int wrong_gen = answered && sr.status == TRAWL_ENOTFOUND && g->h.generation != 0;
	int refused = answered && (sr.status == TRAWL_EQUERY || sr.status == TRAWL_ELIMIT ||
	                           sr.status == TRAWL_EUTF8 || sr.status == TRAWL_EINVAL);
	if (refused)
		fail(sc, sr.status == TRAWL_EINVAL ? TRAWL_EQUERY : sr.status, "%.*s",
		     (int)sr.errmsg_len, sr.errmsg);
	int cancelled = !good && c != g->winner && g->winner && c->timed_out;
	if (!good && !cancelled)
		for (uint32_t k = 0; k < g->ws.nshards; k++)
			sc->missed[g->ws.shards[k]]++;
	if (refused || good || behind)
		replica_answered(sc->rs, rp, c->micros);
	else if (cancelled)
		; /* a hedged-away call, cancelled: nothing of its replica */
	else if (answered && (h.flags & WIRE_F_OUT_OF_SERVICE))
		replica_withdrawn(sc->rs, rp, g->ws.shards, g->ws.nshards);
	else if (wrong_gen)
		for (uint32_t k = 0; k < g->ws.nshards; k++)
			sc->unpinned[g->ws.shards[k]] = 1;
	else if (answered && sr.status == TRAWL_EBUSY) {
		/* its queue was full: another replica is asked, and nothing is
		 * held against this one, which answered at once */
		atomic_fetch_add(&sc->rs->overloaded, 1);
		replica_busy(sc->rs, rp);
		sc->refused[leaf] = 1;
		for (uint32_t k = 0; k < g->ws.nshards; k++)
			sc->busy[g->ws.shards[k]]++;
	} else if (answered)
		replica_failed(sc->rs, rp, "it failed a SEARCH"); /* with an error of its own */
	else
		replica_note_failure(sc->rs, rp, c, g->given_ms[j]);
	if (!good && !wrong_gen && !(g->winner && c != g->winner))
		sc->excluded[leaf] = 1;
	return c == g->winner && good;
}

/* The winner's hits and totals into the merge. */
static void take_answer(scatter *sc, scatter_group *g)
{
	wire_header h;
	wire_search_reply sr;
	wire_decode_search_reply(g->winner->reply, g->winner->reply_len, &h, &sr, NULL, 0);
	uint32_t wl = g->winner == &g->call ? g->leaf : (uint32_t)g->hedge_leaf;
	atomic_store(&sc->rs->rep[wl].no_store, (h.flags & WIRE_F_NO_STORE) != 0);
	int rc = merge_add(sc->merge, &h, &sr, wl, sc->source, &g->winner->reply);
	if (rc)
		fail(sc, rc, "%s", rc == TRAWL_ENOMEM ? "out of memory" : sc->merge->why);
}

static enum scatter_step collect(scatter *sc)
{
	for (unsigned i = 0; i < sc->ngroups; i++) {
		scatter_group *g = &sc->groups[i];
		int ok = judge(sc, g, 0);
		if (g->hedge_leaf >= 0)
			ok |= judge(sc, g, 1);
		for (uint32_t k = 0; k < g->ws.nshards; k++) {
			uint32_t s = g->ws.shards[k];
			if (ok)
				sc->shard[s] = SHARD_ANSWERED;
			else if (g->call.timed_out || clock_unix_us() >= sc->deadline)
				sc->shard[s] = SHARD_TIMED_OUT;
		}
		if (ok && !sc->rc)
			take_answer(sc, g);
		rpc_call_fini(&g->call);
		rpc_call_fini(&g->hedge);
		tbuf_fini(&g->msg);
	}
	sc->ngroups = 0;
	return SCATTER_FINISH;
}

/* ---- SCATTER_FINISH ---- */

static enum scatter_step finish(scatter *sc)
{
	int again = 0;
	for (uint32_t s = 0; s < sc->nshards; s++)
		again |= sc->shard[s] == SHARD_PENDING;
	/* shards whose replica failed go once more to another replica, and a
	 * shard short of replicas whose last ones refused waits for room */
	if (again && !sc->rc && clock_unix_us() < sc->deadline) {
		int waited = sc->waits < LIMIT_ROOT_ROOM_WAITS && wait_for_room(sc);
		if (sc->attempt == 0 || waited) {
			sc->attempt++;
			return SCATTER_PLAN;
		}
	}
	for (uint32_t s = 0; s < sc->nshards; s++) {
		if (sc->shard[s] == SHARD_ANSWERED)
			sc->answered++;
		else if (sc->shard[s] == SHARD_TIMED_OUT)
			sc->timed_out++;
		else {
			/* overloaded when every call that missed was refused so (a
			 * replica that failed otherwise makes it a failure) */
			sc->failed++;
			sc->overloaded += sc->busy[s] && sc->busy[s] == sc->missed[s];
		}
	}
	return SCATTER_DONE;
}

int scatter_run(scatter *sc)
{
	while (sc->step != SCATTER_DONE) {
		switch (sc->step) {
		case SCATTER_PLAN:
			sc->step = plan(sc);
			break;
		case SCATTER_SEND:
			sc->step = send_all(sc);
			break;
		case SCATTER_WAIT:
			sc->step = wait_and_hedge(sc);
			break;
		case SCATTER_COLLECT:
			sc->step = collect(sc);
			break;
		case SCATTER_FINISH:
			sc->step = finish(sc);
			break;
		case SCATTER_DONE:
			break;
		}
	}
	return sc->rc;
}
