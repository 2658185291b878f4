/*
 * fetch.c - the FETCH phase of a query (see fetch.h): plan one FETCH per
 * leaf that returned winners, send them all, retry the ones that brought
 * nothing on another replica of the same generation, and copy what came
 * back into the page's hits. Winners that no replica could bring leave the
 * page, and the answer is partial, when the query allows it.
 */
#include "root/fetch.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/wire.h"
#include "trawl/trawl.h"

typedef struct fetch {
	replica_set *rs;
	const root_query *q;
	const merge_hit *win; /* the page's winners */
	uint32_t n;
	uint64_t deadline;
	/* one FETCH per leaf with winners: */
	unsigned ncalls;
	uint32_t *leaf; /* whose winners call i asks for */
	tbuf *msgs;
	rpc_call *calls;   /* the first try, to leaf[i] */
	rpc_call *again;   /* the retry, to again_leaf[i] */
	int *again_leaf;   /* -1: no retry */
	wire_docref *refs; /* scratch: the docs of one leaf */
	uint16_t *shards;  /* scratch: their shards */
	uint8_t *lost;     /* [replicas]: leaves whose winners no replica brought */
	char *err;
	size_t errlen;
} fetch;

static int ferr(fetch *f, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int ferr(fetch *f, int rc, const char *fmt, ...)
{
	if (f->err && f->errlen) {
		va_list ap;
		va_start(ap, fmt);
		verrf(f->err, f->errlen, rc, fmt, ap);
		va_end(ap);
	}
	return rc;
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

/* The winners that leaf l returned into f->refs and f->shards; returns
 * their number and sets *gen to the generation they were found in. */
static uint32_t winners_of(fetch *f, uint32_t l, uint64_t *gen)
{
	uint32_t m = 0;
	for (uint32_t i = 0; i < f->n; i++)
		if (f->win[i].leaf == l) {
			f->refs[m] = (wire_docref){f->win[i].h.shard, f->win[i].h.doc};
			f->shards[m++] = f->win[i].h.shard;
			*gen = f->win[i].generation;
		}
	return m;
}

/* The FETCH message for leaf l's winners into f->msgs[f->ncalls]. */
static int encode_fetch(fetch *f, uint32_t l)
{
	const root_query *q = f->q;
	wire_header h = {0};
	wire_fetch w = {0};
	w.ndocs = winners_of(f, l, &h.generation);
	w.docs = f->refs;
	w.tree = q->tree;
	w.tree_len = (uint32_t)q->tree_len;
	h.request_id = atomic_fetch_add(&f->rs->next_id, 1);
	h.deadline_unix_us = f->deadline;
	h.flags = q->fetch ? 0 : WIRE_F_NO_SOURCE;
	if (q->snippet_field) {
		w.field = q->snippet_field;
		w.field_len = (uint32_t)strlen(q->snippet_field);
		w.pre = q->pre ? q->pre : "<em>";
		w.pre_len = (uint16_t)strlen(w.pre);
		w.post = q->post ? q->post : "</em>";
		w.post_len = (uint16_t)strlen(w.post);
		w.snippet_chars = q->snippet_chars ? q->snippet_chars : 200;
	}
	tbuf *msg = &f->msgs[f->ncalls];
	tbuf_init(msg, LIMIT_MESSAGE_BYTES);
	int rc = wire_encode_fetch(msg, &h, &w);
	if (rc) {
		tbuf_fini(msg);
		return rc;
	}
	f->calls[f->ncalls] =
	    (rpc_call){.peer = f->rs->rep[l].cli, .req = msg->data, .len = msg->len};
	f->again_leaf[f->ncalls] = -1;
	f->leaf[f->ncalls++] = l;
	return TRAWL_OK;
}

static int plan(fetch *f)
{
	replica_set *rs = f->rs;
	size_t n1 = f->n ? f->n : 1, r1 = rs->n ? rs->n : 1;
	f->leaf = calloc(r1, sizeof *f->leaf);
	f->msgs = calloc(r1, sizeof *f->msgs);
	f->calls = calloc(r1, sizeof *f->calls);
	f->again = calloc(r1, sizeof *f->again);
	f->again_leaf = calloc(r1, sizeof *f->again_leaf);
	f->refs = calloc(n1, sizeof *f->refs);
	f->shards = calloc(n1, sizeof *f->shards);
	f->lost = calloc(r1, 1);
	uint8_t *has = calloc(r1, 1);
	int rc = f->leaf && f->msgs && f->calls && f->again && f->again_leaf && f->refs &&
	                 f->shards && f->lost && has
	             ? TRAWL_OK
	             : TRAWL_ENOMEM;
	for (uint32_t i = 0; !rc && i < f->n; i++)
		has[f->win[i].leaf] = 1;
	for (uint32_t l = 0; !rc && l < rs->n; l++)
		if (has[l])
			rc = encode_fetch(f, l);
	free(has);
	return rc;
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

/* Sends every FETCH at once: with half the time left when another replica
 * could take a retry, else with all of it (halving only buys the retry its
 * time). given[c] is the time call c was given. */
static int send_first(fetch *f, int *given)
{
	replica_set *rs = f->rs;
	rpc_batch *b = rpc_batch_new();
	if (!b)
		return TRAWL_ENOMEM;
	int all = clock_ms_until(f->deadline), half = all / 2 + 1;
	for (unsigned c = 0; c < f->ncalls; c++) {
		uint64_t gen = 0;
		uint32_t m = winners_of(f, f->leaf[c], &gen);
		given[c] = replica_fetch_alt(rs, f->leaf[c], f->shards, m, gen) >= 0 ? half : all;
		rpc_batch_start(b, &f->calls[c], given[c]);
	}
	while (rpc_batch_wait(b, f->ncalls, all) > 0)
		;
	rpc_batch_free(b);
	return TRAWL_OK;
}

/* Every FETCH at once; the ones that brought nothing again, on another
 * replica, with the time left. A call with no answer is judged against
 * its replica, once; an error answer is the leaf's word, not a failure. */
static int send_and_retry(fetch *f)
{
	replica_set *rs = f->rs;
	unsigned n1 = f->ncalls ? f->ncalls : 1, nagain = 0;
	int *given = calloc(n1, sizeof *given);
	rpc_call *batch = calloc(n1, sizeof *batch);
	unsigned *which = calloc(n1, sizeof *which);
	int rc = given && batch && which ? send_first(f, given) : TRAWL_ENOMEM;
	for (unsigned c = 0; !rc && c < f->ncalls; c++) {
		uint32_t l = f->leaf[c];
		if (fetch_ok(&f->calls[c]))
			continue;
		if (f->calls[c].rc != TRAWL_OK)
			replica_note_failure(rs, &rs->rep[l], &f->calls[c], given[c]);
		uint64_t gen = 0;
		uint32_t m = winners_of(f, l, &gen);
		int alt = replica_fetch_alt(rs, l, f->shards, m, gen);
		if (alt < 0)
			continue;
		batch[nagain] = (rpc_call){
		    .peer = rs->rep[alt].cli, .req = f->msgs[c].data, .len = f->msgs[c].len};
		f->again_leaf[c] = alt;
		which[nagain++] = c;
	}
	if (nagain) {
		int ms2 = clock_ms_until(f->deadline);
		rpc_call_many(batch, nagain, ms2);
		for (unsigned k = 0; k < nagain; k++) {
			if (batch[k].rc != TRAWL_OK)
				replica_note_failure(rs, &rs->rep[f->again_leaf[which[k]]],
				                     &batch[k], ms2);
			f->again[which[k]] = batch[k];
		}
	}
	free(given);
	free(batch);
	free(which);
	return rc;
}

/* The documents of one FETCH reply (fr, from replica `from`) into the hits
 * of the winners of leaf l, in the order they were asked for. */
static int take_docs(fetch *f, const wire_fetch_reply *fr, uint32_t l, uint32_t from,
                     root_result *res)
{
	wire_doc_iter it;
	wire_doc d;
	wire_doc_iter_init(&it, fr);
	uint32_t i = 0;
	while (wire_doc_iter_next(&it, &d) == 1) {
		while (i < f->n && f->win[i].leaf != l)
			i++;
		if (i >= f->n)
			break;
		if (d.status != TRAWL_OK && d.status != TRAWL_ENOTFOUND) {
			/* the leaf read the document and it failed its check: say so
			 * rather than answer without it */
			return ferr(f, d.status == TRAWL_ECORRUPT ? TRAWL_ECORRUPT : TRAWL_EIO,
			            "%s: stored document \"%.*s\" (shard %u, doc %u) %s",
			            f->rs->rep[from].cfg.url, (int)d.id_len, d.id,
			            (unsigned)d.shard, (unsigned)d.doc,
			            d.status == TRAWL_ECORRUPT ? "fails its checksum"
			                                       : trawl_strerror(d.status));
		}
		root_hit *rh = &res->hits[i];
		if (!(rh->id = dupn(d.id, d.id_len)))
			return TRAWL_ENOMEM;
		if (d.json_len && !(rh->doc = dupn(d.json, d.json_len)))
			return TRAWL_ENOMEM;
		rh->doc_len = d.json_len;
		if (d.snippet_len && !(rh->snippet = dupn(d.snippet, d.snippet_len)))
			return TRAWL_ENOMEM;
		i++;
	}
	return TRAWL_OK;
}

/* Call c's answer (the first try's, or the retry's when only it brought one). */
static int collect_one(fetch *f, unsigned c, root_result *res)
{
	uint32_t l = f->leaf[c], from = l;
	rpc_call *call = &f->calls[c];
	if (!fetch_ok(call) && fetch_ok(&f->again[c])) {
		call = &f->again[c];
		from = (uint32_t)f->again_leaf[c];
	}
	wire_header h;
	wire_fetch_reply fr;
	char msg[256];
	if (call->rc != TRAWL_OK) { /* judged in send_and_retry */
		f->lost[l] = 1;     /* the search may still answer without them */
		return ferr(f, TRAWL_EIO, "fetching from %s failed%s", f->rs->rep[l].cfg.url,
		            call->timed_out ? " (deadline)" : "");
	}
	if (wire_decode_fetch_reply(call->reply, call->reply_len, &h, &fr, msg, sizeof msg) !=
	    TRAWL_OK) {
		f->lost[l] = 1;
		return ferr(f, TRAWL_EIO, "%s: bad FETCH reply: %s", f->rs->rep[from].cfg.url, msg);
	}
	if (fr.status != TRAWL_OK) /* TRAWL_ENOTFOUND: the generation retired */
		return ferr(f, fr.status, "%s: %.*s", f->rs->rep[from].cfg.url, (int)fr.errmsg_len,
		            fr.errmsg);
	return take_docs(f, &fr, l, from, res);
}

/* The winners of leaves that no replica answered for (both tries failed or
 * ran out of time) leave the page, and their shards count as failed: the
 * answer is partial, as if those shards had not answered the SEARCH. An
 * error (f->err, set by collect_one) when that leaves less than the query's
 * min_coverage. */
static int drop_lost(fetch *f, root_result *res)
{
	uint8_t gone[TRAWL_MAX_SHARDS] = {0};
	uint32_t kept = 0, ngone = 0;
	for (uint32_t i = 0; i < f->n; i++) {
		root_hit *h = &res->hits[i];
		if (!f->lost[f->win[i].leaf]) {
			res->hits[kept++] = *h;
			continue;
		}
		ngone += !gone[h->shard];
		gone[h->shard] = 1;
		free(h->id);
		free(h->doc);
		free(h->snippet);
		free(h->sort);
	}
	res->nhits = kept;
	res->shards_answered -= ngone < res->shards_answered ? ngone : res->shards_answered;
	res->shards_failed += ngone;
	res->partial = 1;
	res->total_exact = 0;
	double cov = res->shards_total ? (double)res->shards_answered / res->shards_total : 0;
	if (res->shards_answered == 0 || cov < f->q->min_coverage)
		return TRAWL_EIO;
	return TRAWL_OK;
}

int fetch_page(replica_set *rs, const root_query *q, const merge_hit *win, root_result *res,
               uint64_t deadline, char *err, size_t errlen)
{
	fetch f = {.rs = rs,
	           .q = q,
	           .win = win,
	           .n = res->nhits,
	           .deadline = deadline,
	           .err = err,
	           .errlen = errlen};
	int rc = plan(&f), lost = 0;
	if (!rc)
		rc = send_and_retry(&f);
	for (unsigned c = 0; c < f.ncalls; c++) {
		if (!rc) {
			rc = collect_one(&f, c, res);
			if (rc == TRAWL_EIO && f.lost[f.leaf[c]] && q->allow_partial) {
				lost = 1; /* err names the last such leaf */
				rc = TRAWL_OK;
			}
		}
		rpc_call_fini(&f.calls[c]);
		rpc_call_fini(&f.again[c]);
	}
	if (!rc && lost)
		rc = drop_lost(&f, res);
	for (unsigned c = 0; c < f.ncalls; c++)
		tbuf_fini(&f.msgs[c]);
	free(f.leaf);
	free(f.msgs);
	free(f.calls);
	free(f.again);
	free(f.again_leaf);
	free(f.refs);
	free(f.shards);
	free(f.lost);
	return rc;
}
