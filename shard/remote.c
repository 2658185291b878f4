/*
 * remote.c - work items over nng, for builds on many machines: the builder
 * listens (trawl_build_opts.listen) and `trawl build-worker` processes
 * connect, ask for an item, work it (work.c) and send its run back in the
 * request that asks for the next. REQ/REP through common/rpc.c, because a
 * run must be acknowledged: the builder writes it to the build directory
 * before it counts the item as done.
 *
 * A worker renews the lease on the item it works every second ('B'); one
 * that dies or hangs stops renewing, its lease runs out after 5 s and the
 * item goes to the next worker that asks (queue.c).
 *
 * The builder trusts no peer (issue #13, finding 3). Over tls+tcp:// with a
 * CA, a peer without a certificate signed by it is refused by the TLS
 * handshake, before any message is read (rpc.c). Whatever a connected peer
 * sends is decoded with bounds (msg.c); a message that does not decode is
 * answered 'X' and counted. A run is published only if audit.c finds it to
 * be exactly its item's work. That check runs on checker threads while the
 * worker goes on with its next item (when CHECKS runs wait already, in the
 * request's own thread: the worker waits, which bounds what waits in
 * memory). A refused run is logged and counted, and its item, if the
 * sender held it, left to this process's threads (a peer not given the
 * item cannot take it from the one that was). A report that an item failed
 * is believed only if the builder's own parse of the item fails too, and
 * then the build fails with the builder's message, not the worker's. A
 * connection that sends SH_PEER_MAX_BAD refused messages or runs is cut
 * off. Only the holder of a lease renews it.
 *
 * Messages: msg.h (docs/WIRE.md, "Build messages").
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/rpc.h"
#include "msg.h"
#include "queue.h"
#include "remote.h"

/* An 'N' waits up to NEXT_WAIT_MS for an item in a server thread; with
 * many idle workers that would hold every thread, and the heartbeats of
 * the busy ones would wait behind them: enough threads, short waits, and
 * at most PEER_WAITS waiting 'N's per connection (more are answered at
 * once), so that one connection cannot hold the threads. */
#define SERVER_THREADS 32
#define NEXT_WAIT_MS 200
#define PEER_WAITS 4
/* Refused messages, runs and failure reports after which a connection is
 * cut off. */
#define SH_PEER_MAX_BAD 3
/* Connections remembered (the least recently seen is forgotten). */
#define PEERS 256
/* Runs checked at once, at most: each takes a core and about 3 times its
 * item's size. Checks waiting for a checker thread: each holds a run and
 * its item. */
#define MAX_AUDITS 8
#define CHECKS(naud) ((naud) + 2)

typedef struct rpeer {
	uint32_t id; /* rpc_request_peer's; 0: a free entry */
	unsigned bad;
	int cut;          /* to be cut off at its next request */
	unsigned waiting; /* 'N's of it waiting for an item */
	uint64_t seen;    /* clock_mono_ms */
} rpeer;

/* A run waiting to be checked, with its item (sh_queue_claim'ed). */
typedef struct check {
	uint64_t item;
	uint32_t peer;
	char addr[64];
	uint8_t *run; /* malloc'ed */
	size_t run_len;
	sh_item it; /* it.bytes in bytes */
	tbuf bytes;
	struct check *next;
} check;

struct sh_remote {
	rpc_server *srv;
	sh_queue *q;
	const sh_params *p;
	const char *dir;           /* where runs go */
	atomic_ullong last_ms;     /* when the last request came */
	tbuf copy[SERVER_THREADS]; /* item bytes, per server thread */
	pthread_mutex_t mu;        /* peers, auditors */
	pthread_cond_t cv;         /* an auditor was given back */
	rpeer peers[PEERS];
	sh_auditor *aud[MAX_AUDITS];
	int aud_busy[MAX_AUDITS];
	unsigned naud;
	atomic_ullong runs_checked, runs_refused, failures_refused, bad_messages, peers_cut;
	atomic_ullong check_us;
	check *checks, **checks_tail; /* waiting for a checker thread (mu) */
	unsigned nchecks;
	int stopping;
	pthread_cond_t check_cv; /* a check waits, or the listener stops */
	pthread_t checker[MAX_AUDITS];
	unsigned ncheckers;
};

/* The entry of connection id (r->mu held), made if needed. */
static rpeer *peer_locked(sh_remote *r, uint32_t id)
{
	rpeer *free_e = NULL, *oldest = NULL;
	for (unsigned i = 0; i < PEERS; i++) {
		rpeer *e = &r->peers[i];
		if (e->id == id && id) {
			e->seen = clock_mono_ms();
			return e;
		}
		if (!e->id && !free_e)
			free_e = e;
		if (e->id && !e->waiting && (!oldest || e->seen < oldest->seen))
			oldest = e;
	}
	rpeer *e = free_e ? free_e : oldest;
	if (e)
		*e = (rpeer){id, 0, 0, 0, clock_mono_ms()};
	return e;
}

/* Copies at most 200 bytes of untrusted text, printable ASCII only. */
static void printable(char *out, size_t cap, const char *s, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 1 < cap && o < 200; i++)
		out[o++] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	out[o] = 0;
}

/* Counts a refused request against the connection it came on; cuts the
 * connection off at SH_PEER_MAX_BAD. what says what was refused. */
static void refused(sh_remote *r, uint32_t peer, const char *addr, const char *what)
{
	pthread_mutex_lock(&r->mu);
	rpeer *e = peer_locked(r, peer);
	int cut = e && ++e->bad == SH_PEER_MAX_BAD;
	if (cut)
		e->cut = 1;
	pthread_mutex_unlock(&r->mu);
	char msg[1024];
	snprintf(msg, sizeof msg, "build worker %s: refused %s", addr[0] ? addr : "(local)", what);
	sh_queue_notice(r->q, msg);
	if (cut) {
		/* now if this is its request, else (a checker thread) at its next */
		if (rpc_request_peer(NULL, 0) == peer)
			rpc_request_cut_peer();
		atomic_fetch_add(&r->peers_cut, 1);
		snprintf(msg, sizeof msg,
		         "build worker %s: cut off after %d refused requests; its requests are "
		         "dropped until it disconnects",
		         addr[0] ? addr : "(local)", SH_PEER_MAX_BAD);
		sh_queue_notice(r->q, msg);
	}
}

/* An auditor of the pool, waiting for one if all are busy. */
static sh_auditor *audit_take(sh_remote *r, unsigned *slot)
{
	pthread_mutex_lock(&r->mu);
	for (;;) {
		for (unsigned i = 0; i < r->naud; i++) {
			if (r->aud_busy[i])
				continue;
			if (!r->aud[i] && sh_auditor_new(&r->aud[i]))
				continue;
			r->aud_busy[i] = 1;
			*slot = i;
			pthread_mutex_unlock(&r->mu);
			return r->aud[i];
		}
		int any_busy = 0;
		for (unsigned i = 0; i < r->naud; i++)
			any_busy |= r->aud_busy[i];
		if (!any_busy) {
			pthread_mutex_unlock(&r->mu);
			return NULL; /* none could be made */
		}
		pthread_cond_wait(&r->cv, &r->mu);
	}
}

static void audit_give(sh_remote *r, unsigned slot)
{
	pthread_mutex_lock(&r->mu);
	r->aud_busy[slot] = 0;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

/* Answers 'N' (and the 'N' in 'D'): an item, wait, or over. */
static void next_item(sh_remote *r, unsigned worker, uint32_t peer, tbuf *out)
{
	pthread_mutex_lock(&r->mu);
	rpeer *e = peer_locked(r, peer);
	int wait = e && e->waiting < PEER_WAITS;
	if (wait)
		e->waiting++;
	pthread_mutex_unlock(&r->mu);
	sh_item it;
	int k = sh_queue_take(r->q, &r->copy[worker], SH_TAKE_REMOTE, peer, wait ? NEXT_WAIT_MS : 0,
	                      &it);
	if (wait) {
		pthread_mutex_lock(&r->mu);
		e->waiting--;
		pthread_mutex_unlock(&r->mu);
	}
	if (k == SH_Q_OVER)
		tbuf_putc(out, SH_MSG_OVER);
	else if (k != SH_Q_ITEM || sh_itemmsg_encode(out, &it, r->p)) {
		tbuf_reset(out); /* an item not sent: its lease runs out */
		tbuf_putc(out, SH_MSG_WAIT);
	}
	/* let the copy go: 32 threads must not each keep an item's worth */
	size_t max = r->copy[worker].max;
	tbuf_fini(&r->copy[worker]);
	tbuf_init(&r->copy[worker], max);
}

/* Checks a run against its item and acts on the verdict: written and
 * complete, refused (counted, and the item taken from its holder), or the
 * item's own bad line failing the build. Returns 0, or -1 when the run was
 * refused or the build failed. On any thread. */
static int check_run(sh_remote *r, check *c)
{
	char err[512];
	sh_run run;
	int item_bad = 0;
	int rc = sh_run_check(&run, c->run, c->run_len, err, sizeof err);
	if (rc == TRAWL_OK) {
		unsigned slot;
		sh_auditor *a = audit_take(r, &slot);
		uint64_t t0 = clock_mono_us();
		rc = a ? sh_run_audit(a, r->p, &c->it, &run, &item_bad, err, sizeof err)
		       : TRAWL_ENOMEM;
		atomic_fetch_add(&r->check_us, clock_mono_us() - t0);
		if (a)
			audit_give(r, slot);
	}
	if (item_bad) {
		/* the item has a bad line: the build fails as it would here */
		sh_queue_release(r->q, c->item, c->peer, 0);
		sh_queue_fail(r->q, rc, err);
		return -1;
	}
	if (rc == TRAWL_ENOMEM) {
		/* not the worker's fault: the item is handed out again */
		sh_queue_release(r->q, c->item, c->peer, 0);
		return -1;
	}
	if (rc) {
		atomic_fetch_add(&r->runs_refused, 1);
		sh_queue_release(r->q, c->item, c->peer, 1);
		char what[700];
		snprintf(what, sizeof what, "its run of item %llu (%s): %s",
		         (unsigned long long)c->item, c->it.source, err);
		refused(r, c->peer, c->addr, what);
		return -1;
	}
	atomic_fetch_add(&r->runs_checked, 1);
	rc = sh_run_write(r->dir, c->item, c->run, c->run_len, err, sizeof err);
	if (rc == TRAWL_OK)
		rc = sh_queue_complete(r->q, c->item, &run);
	if (rc) {
		sh_queue_release(r->q, c->item, c->peer, 0);
		sh_queue_fail(r->q, rc, err);
		return -1;
	}
	return 0;
}

static void check_free(check *c)
{
	if (!c)
		return;
	free(c->run);
	tbuf_fini(&c->bytes);
	free(c);
}

/* A checker thread: the checks waiting, one at a time; when the listener
 * stops, the ones left are released unchecked. */
static void *checker(void *arg)
{
	sh_remote *r = arg;
	pthread_mutex_lock(&r->mu);
	for (;;) {
		while (!r->checks && !r->stopping)
			pthread_cond_wait(&r->check_cv, &r->mu);
		check *c = r->checks;
		if (!c)
			break;
		r->checks = c->next;
		if (!r->checks)
			r->checks_tail = &r->checks;
		r->nchecks--;
		int stopping = r->stopping;
		pthread_mutex_unlock(&r->mu);
		if (stopping)
			sh_queue_release(r->q, c->item, c->peer, 0);
		else
			(void)check_run(r, c);
		check_free(c);
		pthread_mutex_lock(&r->mu);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* 'D': a run, checked against its item before it is written; the worker
 * gets its next item at once, unless CHECKS runs wait already. */
static void take_run(sh_remote *r, unsigned worker, uint32_t peer, const char *addr,
                     const sh_request *m, tbuf *out)
{
	check *c = calloc(1, sizeof *c);
	if (!c) {
		tbuf_putc(out, SH_MSG_WAIT); /* the item's lease runs out */
		return;
	}
	tbuf_init(&c->bytes, LIMIT_ITEM_BYTES);
	if (!sh_queue_claim(r->q, m->item, &c->bytes, &c->it)) {
		check_free(c);
		next_item(r, worker, peer, out); /* done already, by another worker */
		return;
	}
	c->item = m->item;
	c->peer = peer;
	snprintf(c->addr, sizeof c->addr, "%s", addr);
	pthread_mutex_lock(&r->mu);
	int queue =
	    r->ncheckers && r->nchecks < CHECKS(r->naud) && (c->run = malloc(m->run_len)) != NULL;
	if (queue) {
		memcpy(c->run, m->run, m->run_len);
		c->run_len = m->run_len;
		*r->checks_tail = c;
		r->checks_tail = &c->next;
		r->nchecks++;
		pthread_cond_signal(&r->check_cv);
	}
	pthread_mutex_unlock(&r->mu);
	if (queue) {
		next_item(r, worker, peer, out);
		return;
	}
	/* checked here: the worker waits for it */
	c->run = (uint8_t *)m->run;
	c->run_len = m->run_len;
	int rc = check_run(r, c);
	c->run = NULL; /* the request's */
	check_free(c);
	if (rc)
		tbuf_putc(out, sh_queue_error(r->q, NULL, 0) ? SH_MSG_OVER : SH_MSG_REFUSED);
	else
		next_item(r, worker, peer, out);
}

/* 'F': believed only if this process's own parse of the item fails. */
static void take_failure(sh_remote *r, unsigned worker, uint32_t peer, const char *addr,
                         const sh_request *m, tbuf *out)
{
	sh_item it;
	tbuf_putc(out, SH_MSG_OVER); /* a worker that failed exits */
	if (!sh_queue_claim(r->q, m->item, &r->copy[worker], &it))
		return;
	char err[1024];
	unsigned slot;
	sh_auditor *a = audit_take(r, &slot);
	int rc = a ? sh_item_audit(a, r->p, &it, err, sizeof err) : TRAWL_ENOMEM;
	if (a)
		audit_give(r, slot);
	if (rc && rc != TRAWL_ENOMEM) {
		sh_queue_release(r->q, m->item, peer, 0);
		sh_queue_fail(r->q, rc, err);
		return;
	}
	sh_queue_release(r->q, m->item, peer, rc == TRAWL_OK);
	if (rc == TRAWL_OK) {
		atomic_fetch_add(&r->failures_refused, 1);
		char text[256], what[600];
		printable(text, sizeof text, m->text, m->text_len);
		snprintf(what, sizeof what,
		         "its report that item %llu failed (%s: \"%s\"): the item parses here",
		         (unsigned long long)m->item, trawl_strerror(m->code), text);
		refused(r, peer, addr, what);
	}
}

static void handle(void *ctx, unsigned worker, const uint8_t *req, size_t len, tbuf *out)
{
	sh_remote *r = ctx;
	atomic_store(&r->last_ms, clock_mono_ms());
	char addr[64];
	uint32_t peer = rpc_request_peer(addr, sizeof addr);
	pthread_mutex_lock(&r->mu);
	rpeer *e = peer_locked(r, peer);
	int cut = e && e->cut;
	pthread_mutex_unlock(&r->mu);
	if (cut) {
		/* refused SH_PEER_MAX_BAD times, the last by a checker thread */
		rpc_request_cut_peer();
		return;
	}
	sh_request m;
	const char *why;
	if (sh_request_decode(req, len, &m, &why)) {
		atomic_fetch_add(&r->bad_messages, 1);
		refused(r, peer, addr, why);
		tbuf_putc(out, SH_MSG_REFUSED);
		return;
	}
	switch (m.type) {
	case SH_MSG_NEXT:
		next_item(r, worker, peer, out);
		return;
	case SH_MSG_BEAT:
		sh_queue_beat(r->q, m.item, peer);
		tbuf_putc(out, SH_MSG_NOTED);
		return;
	case SH_MSG_DONE:
		take_run(r, worker, peer, addr, &m, out);
		return;
	default:
		take_failure(r, worker, peer, addr, &m, out);
	}
}

int sh_remote_start(sh_remote **out, const char *url, const rpc_tls *tls, sh_queue *q,
                    const sh_params *p, const char *dir, char *err, size_t errlen)
{
	sh_remote *r = calloc(1, sizeof *r);
	if (!r)
		return errf(err, errlen, TRAWL_ENOMEM, "out of memory");
	r->q = q;
	r->p = p;
	r->dir = dir;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	pthread_cond_init(&r->check_cv, NULL);
	r->checks_tail = &r->checks;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	r->naud = cores < 1 ? 1 : cores > MAX_AUDITS ? MAX_AUDITS : (unsigned)cores;
	for (unsigned i = 0; i < r->naud; i++)
		if (pthread_create(&r->checker[r->ncheckers], NULL, checker, r) == 0)
			r->ncheckers++;
	for (int i = 0; i < SERVER_THREADS; i++)
		tbuf_init(&r->copy[i], LIMIT_ITEM_BYTES);
	char why[512];
	rpc_server_opts so = {tls, SERVER_THREADS, NULL, 0};
	int rc = rpc_server_start(&r->srv, url, &so, handle, r, why, sizeof why);
	if (rc) {
		sh_remote_stop(r);
		return errf(err, errlen, rc, "build: cannot listen: %s", why);
	}
	*out = r;
	return TRAWL_OK;
}

void sh_remote_counts(sh_remote *r, trawl_build_peers *out)
{
	memset(out, 0, sizeof *out);
	if (!r)
		return;
	out->runs_checked = atomic_load(&r->runs_checked);
	out->runs_refused = atomic_load(&r->runs_refused);
	out->failures_refused = atomic_load(&r->failures_refused);
	out->bad_messages = atomic_load(&r->bad_messages);
	out->peers_cut = atomic_load(&r->peers_cut);
	out->check_s = (double)atomic_load(&r->check_us) / 1e6;
}

void sh_remote_stop(sh_remote *r)
{
	if (!r)
		return;
	/* Every worker still connected asks at least every NEXT_WAIT_MS and is
	 * told the build is over: wait for a quiet spell so that they all hear
	 * it and exit, rather than retry until they give up. */
	for (uint64_t t0 = clock_mono_ms(); r->srv && clock_mono_ms() - t0 < 3000;) {
		if (clock_mono_ms() - atomic_load(&r->last_ms) > NEXT_WAIT_MS + 400)
			break;
		usleep(50000);
	}
	if (r->srv)
		rpc_server_stop(r->srv);
	pthread_mutex_lock(&r->mu);
	r->stopping = 1;
	pthread_cond_broadcast(&r->check_cv);
	pthread_mutex_unlock(&r->mu);
	for (unsigned i = 0; i < r->ncheckers; i++)
		pthread_join(r->checker[i], NULL);
	for (int i = 0; i < SERVER_THREADS; i++)
		tbuf_fini(&r->copy[i]);
	for (unsigned i = 0; i < MAX_AUDITS; i++)
		sh_auditor_free(r->aud[i]);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	pthread_cond_destroy(&r->check_cv);
	free(r);
}

/* ---- the worker process ---- */

typedef struct wstate {
	rpc_client *c;
	atomic_int over;
	atomic_int failed;
	unsigned give_up_ms;
	int tls; /* over tls+tcp:// */
	pthread_mutex_t mu;
	/* item + 1 held by each thread (worked, or its run being sent), 0 none */
	_Atomic uint64_t working[LIMIT_BUILD_WORKERS];
	unsigned nthreads;
	sh_params params; /* of the build, once known */
	uint8_t *zdict;
	char *schema_json;
	int have_params;
	char err[1024];
	int rc;
} wstate;

static void wfail(wstate *s, int rc, const char *msg)
{
	pthread_mutex_lock(&s->mu);
	if (!s->rc) {
		s->rc = rc;
		snprintf(s->err, sizeof s->err, "%s", msg);
	}
	pthread_mutex_unlock(&s->mu);
	atomic_store(&s->failed, 1);
}

/* One call, retried until it gets an answer or give_up_ms pass. */
static int call(wstate *s, const uint8_t *req, size_t len, uint8_t **reply, size_t *rlen)
{
	uint64_t start = clock_mono_ms();
	for (;;) {
		rpc_call c = {0};
		c.peer = s->c;
		c.req = req;
		c.len = len;
		uint64_t spent = clock_mono_ms() - start;
		uint64_t left = spent < s->give_up_ms ? s->give_up_ms - spent : 0;
		rpc_call_many(&c, 1, (int)(left > 100 ? left : 100));
		if (c.rc == TRAWL_OK && c.reply_len > 0) {
			*reply = c.reply;
			*rlen = c.reply_len;
			return TRAWL_OK;
		}
		rpc_call_fini(&c);
		if (clock_mono_ms() - start > s->give_up_ms)
			return TRAWL_EIO;
		usleep(200000);
	}
}

/* Reads an 'I' reply into it (bytes pointing into rep) and the build's
 * parameters into s (once). */
static int read_item(wstate *s, const uint8_t *rep, size_t len, sh_item *it, char **source)
{
	sh_itemmsg m;
	if (sh_itemmsg_decode(rep, len, &m))
		return TRAWL_ECORRUPT;
	*it = m.it;
	free(*source);
	if (!(*source = strndup(m.source, m.source_len)))
		return TRAWL_ENOMEM;
	it->source = *source;
	if (s->have_params && s->params.hash == m.params_hash)
		return TRAWL_OK;
	/* the build's parameters (the same for every item of one build) */
	if (s->have_params)
		return TRAWL_EINVAL;
	char why[512];
	if (idx_schema_parse(&s->params.schema, m.schema_json, m.schema_len, why, sizeof why))
		return TRAWL_ECORRUPT;
	s->schema_json = strndup(m.schema_json, m.schema_len);
	s->zdict = malloc(m.zdict_len ? m.zdict_len : 1);
	if (!s->schema_json || !s->zdict)
		return TRAWL_ENOMEM;
	memcpy(s->zdict, m.zdict, m.zdict_len);
	s->params.schema_json = s->schema_json;
	s->params.nshards = m.nshards;
	s->params.max_doc = m.max_doc;
	s->params.skip_bad = m.skip_bad;
	s->params.zdict = s->zdict;
	s->params.zdict_len = m.zdict_len;
	sh_params_hash(&s->params);
	if (s->params.hash != m.params_hash)
		return TRAWL_EVERSION; /* this worker encodes runs differently */
	s->have_params = 1;
	return TRAWL_OK;
}

typedef struct wthread {
	wstate *s;
	unsigned no;
} wthread;

static void *work_thread(void *arg)
{
	wthread *t = arg;
	wstate *s = t->s;
	sh_worker *w = NULL;
	tbuf req, run;
	tbuf_init(&req, LIMIT_MESSAGE_BYTES);
	tbuf_init(&run, LIMIT_MESSAGE_BYTES);
	char *source = NULL;
	char err[1024];
	if (sh_worker_new(&w)) {
		wfail(s, TRAWL_ENOMEM, "out of memory");
		goto out;
	}
	tbuf_putc(&req, SH_MSG_NEXT);
	while (!atomic_load(&s->over) && !atomic_load(&s->failed)) {
		uint8_t *rep = NULL;
		size_t rlen = 0;
		int crc = call(s, req.data, req.len, &rep, &rlen);
		atomic_store(&s->working[t->no], 0); /* the run (if any) was acknowledged */
		if (crc) {
			wfail(s, TRAWL_EIO,
			      s->tls ? "the builder stopped answering (or never did: a builder "
			               "with a CA "
			               "refuses a worker without a certificate it signed)"
			             : "the builder stopped answering");
			break;
		}
		/* whatever the answer, the run sent (if any) is not ours any more: 'X'
		 * (refused) drops it like the rest */
		tbuf_reset(&req);
		tbuf_putc(&req, SH_MSG_NEXT);
		if (rep[0] == SH_MSG_OVER) {
			atomic_store(&s->over, 1);
			free(rep);
			break;
		}
		if (rep[0] != SH_MSG_ITEM) {
			free(rep);
			usleep(50000);
			continue;
		}
		sh_item it;
		pthread_mutex_lock(&s->mu);
		int rc = read_item(s, rep, rlen, &it, &source);
		pthread_mutex_unlock(&s->mu);
		if (rc) {
			free(rep);
			wfail(s, rc,
			      rc == TRAWL_EVERSION
			          ? "this worker and the builder are different versions"
			          : "a malformed work item");
			break;
		}
		/* the lease is renewed until the run is acknowledged, not just made */
		atomic_store(&s->working[t->no], it.id + 1);
		rc = sh_work(w, &s->params, &it, &run, err, sizeof err);
		free(rep);
		if (rc) {
			atomic_store(&s->working[t->no], 0);
			/* a bad line (without skip_bad) fails the whole build */
			tbuf_reset(&req);
			tbuf_putc(&req, SH_MSG_FAIL);
			tbuf_append(&req, &it.id, 8);
			int32_t code = rc;
			tbuf_append(&req, &code, 4);
			tbuf_append(&req, err, strlen(err));
			if (call(s, req.data, req.len, &rep, &rlen) == TRAWL_OK)
				free(rep);
			wfail(s, rc, err);
			break;
		}
		tbuf_reset(&req);
		tbuf_putc(&req, SH_MSG_DONE);
		tbuf_append(&req, &it.id, 8);
		if (tbuf_append(&req, run.data, run.len)) {
			wfail(s, TRAWL_ELIMIT, "a run larger than a message may be");
			break;
		}
	}
out:
	sh_worker_free(w);
	tbuf_fini(&req);
	tbuf_fini(&run);
	free(source);
	return NULL;
}

/* Renews the leases of the items being worked, every second. */
static void *beat_thread(void *arg)
{
	wstate *s = arg;
	while (!atomic_load(&s->over) && !atomic_load(&s->failed)) {
		for (int i = 0; i < 10 && !atomic_load(&s->over) && !atomic_load(&s->failed); i++)
			usleep(100000);
		for (unsigned t = 0; t < s->nthreads; t++) {
			uint64_t w = atomic_load(&s->working[t]);
			if (!w)
				continue;
			uint8_t req[9] = {SH_MSG_BEAT};
			uint64_t id = w - 1;
			memcpy(req + 1, &id, 8);
			rpc_call c = {0};
			c.peer = s->c;
			c.req = req;
			c.len = 9;
			rpc_call_many(&c, 1, 2000);
			rpc_call_fini(&c);
		}
	}
	return NULL;
}

int trawl_build_worker(const char *url, unsigned threads, unsigned give_up_ms, char *errbuf,
                       size_t errlen)
{
	return trawl_build_worker_tls(url, NULL, threads, give_up_ms, errbuf, errlen);
}

int trawl_build_worker_tls(const char *url, const trawl_tls *tls, unsigned threads,
                           unsigned give_up_ms, char *errbuf, size_t errlen)
{
	int is_tls = !strncmp(url, "tls+", 4);
	if (tls && (tls->cert_file || tls->key_file || tls->ca_file) && !is_tls)
		return errf(errbuf, errlen, TRAWL_EINVAL,
		                "%s: certificates are for tls+tcp:// URLs only", url);
	if (tls && !tls->cert_file != !tls->key_file)
		return errf(errbuf, errlen, TRAWL_EINVAL,
		                "a certificate needs its key, and a key its certificate");
	rpc_tls rt = {tls ? tls->cert_file : NULL, tls ? tls->key_file : NULL,
	              tls ? tls->ca_file : NULL};
	wstate *s = calloc(1, sizeof *s);
	if (!s)
		return errf(errbuf, errlen, TRAWL_ENOMEM, "out of memory");
	if (!threads) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 ? (unsigned)n : 1;
	}
	if (threads > LIMIT_BUILD_WORKERS)
		threads = LIMIT_BUILD_WORKERS;
	s->nthreads = threads;
	s->give_up_ms = give_up_ms ? give_up_ms : 30000;
	s->tls = is_tls;
	pthread_mutex_init(&s->mu, NULL);
	char why[512];
	int rc = rpc_client_open(&s->c, url, &rt, why, sizeof why);
	if (rc) {
		errf(errbuf, errlen, rc, "%s: %s", url, why);
		pthread_mutex_destroy(&s->mu);
		free(s);
		return rc;
	}
	wthread wt[LIMIT_BUILD_WORKERS];
	pthread_t tid[LIMIT_BUILD_WORKERS], beat;
	unsigned started = 0;
	for (unsigned i = 0; i < threads; i++) {
		wt[i] = (wthread){s, i};
		if (pthread_create(&tid[started], NULL, work_thread, &wt[i]) == 0)
			started++;
	}
	int beating = pthread_create(&beat, NULL, beat_thread, s) == 0;
	for (unsigned i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	atomic_store(&s->over, 1);
	if (beating)
		pthread_join(beat, NULL);
	rpc_client_close(s->c);
	rc = started ? s->rc : TRAWL_ENOMEM;
	if (rc)
		errf(errbuf, errlen, rc, "%s", s->rc ? s->err : "cannot start threads");
	pthread_mutex_destroy(&s->mu);
	free(s->zdict);
	free(s->schema_json);
	free(s);
	return rc;
}
