/*
 * rpc.c - request/reply over nng (see rpc.h). nng's errors become trawl_err
 * values here.
 */
#include "rpc.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/error.h"
#include "trawl/trawl.h"

/* A local server's URL scheme (local calls, before rpc_server_start). */
#define LOCAL_SCHEME "local://"

struct rpc_batch;
static int local_start(rpc_server **out, const char *url, const rpc_server_opts *o, rpc_handler fn,
                       void *ctx, char *err, size_t errlen);
static void local_stop(rpc_server *s);
static unsigned local_present(const char *url);
static void local_call(struct rpc_batch *b, rpc_call *c);

static int fail(char *err, size_t errlen, int code, const char *what, const char *url, int nrc)
{
	return errf(err, errlen, code, "%s %s: %s", what, url, nng_strerror(nrc));
}

/* Reads a PEM file (at most 1 MiB) into a NUL-terminated string, or NULL. */
static char *read_pem(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = malloc((1u << 20) + 1);
	size_t n = buf ? fread(buf, 1, 1u << 20, f) : 0;
	int bad = ferror(f) || !feof(f);
	fclose(f);
	if (!buf || bad) {
		free(buf);
		return NULL;
	}
	buf[n] = 0;
	return buf;
}

/* Applies TLS settings to a dialer or listener when the URL asks for TLS. */
static int tls_setup(nng_tls_config **cfg, const char *url, const rpc_tls *tls, int server)
{
	*cfg = NULL;
	if (strncmp(url, "tls+", 4) != 0)
		return 0;
	int rc = nng_tls_config_alloc(cfg, server ? NNG_TLS_MODE_SERVER : NNG_TLS_MODE_CLIENT);
	if (rc)
		return rc;
	if (tls && tls->cert_file && tls->key_file) {
		char *cert = read_pem(tls->cert_file), *key = read_pem(tls->key_file);
		rc = cert && key ? nng_tls_config_own_cert(*cfg, cert, key, NULL) : NNG_ENOENT;
		free(cert);
		free(key);
		if (rc)
			return rc;
	}
	if (tls && tls->ca_file) {
		if ((rc = nng_tls_config_ca_file(*cfg, tls->ca_file)))
			return rc;
		if (!server) {
			/* verify the peer's name too: the host of tls+tcp://HOST:PORT */
			char host[256];
			const char *h = url + strlen("tls+tcp://");
			size_t n = strcspn(h, ":/");
			if (h[0] == '[') {
				h++;
				n = strcspn(h, "]");
			}
			if (n == 0 || n >= sizeof host)
				return NNG_EADDRINVAL;
			memcpy(host, h, n);
			host[n] = 0;
			/* mbedtls 2.28 cannot match an IP address in a certificate: for
			 * an IP literal only the CA is checked (docs/OPERATIONS.md) */
			unsigned char ip[16];
			int literal =
			    inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
			if (!literal && (rc = nng_tls_config_server_name(*cfg, host)))
				return rc;
		}
		rc = nng_tls_config_auth_mode(*cfg, NNG_TLS_AUTH_MODE_REQUIRED);
	} else {
		rc = nng_tls_config_auth_mode(*cfg, NNG_TLS_AUTH_MODE_NONE);
	}
	return rc;
}

/* ---- server ----
 *
 * The shape of nng's asynchronous server: a fixed set of slots, each a
 * state machine with its own context and aio, all on one REP socket. A
 * slot goes round
 *
 *   SLOT_RECV    a receive is posted on its context
 *   SLOT_QUEUED  a request is in hand, waiting in the queue for a worker
 *   SLOT_WORK    a worker thread runs the handler on it
 *   SLOT_SEND    the reply is with nng; the slot's callback sees it go
 *
 * and ends in SLOT_STOPPED when the server stops. The handler runs in
 * our worker threads, never in nng's; a worker hands the reply to nng and
 * goes on to the next request without waiting for the send. REP takes a
 * reply at once when its connection has nothing else in flight, and
 * queues it behind the one in flight otherwise: a slot stays in SLOT_SEND
 * only while its peer is not taking replies. A peer with
 * LIMIT_RPC_UNSENT replies queued so is cut off until they have gone: its
 * queued requests are dropped, and its requests read and dropped
 * unanswered without reaching a worker; one whose queued reply waits
 * LIMIT_RPC_SEND_MS is cut off (its replies dropped too) until it
 * disconnects or is seen reading again: only its pings are answered, one
 * at a time, and one pong that goes out lets it back (paroled_locked). It
 * holds some slots for a moment, never a worker (issue #13, finding 1: a
 * connection that never read its replies used to block every worker in
 * its send, for as long as it stayed open).
 *
 * A server told to refuse for overload (rpc_server_opts.cost) keeps at
 * most max_queue requests of nonzero cost waiting: one more is answered on
 * nng's thread with the refusal its refuse function writes, and goes
 * SLOT_RECV -> SLOT_WORK (the refusal written) -> SLOT_SEND without a
 * worker (shed_locked says which request is refused). Once it has refused
 * LIMIT_RPC_OVERLOAD_REFUSALS within overload_ms (LIMIT_RPC_OVERLOAD_MS),
 * the server is overloaded until overload_ms pass without a refusal, and
 * meanwhile keeps half as many waiting (s->standing): a burst may fill
 * the whole queue, a load beyond what the workers can do waits in a queue
 * half as long (queue_bound_locked, note_refusal_locked).
 *
 * A server with an express predicate keeps one more worker, the reserve,
 * that takes only the requests the predicate calls express (pings): the
 * one of those with the lowest tag. Every other worker takes the lowest
 * tag of all, express or not.
 *
 * Workers take requests in fair order, not in order of arrival: each
 * request gets a tag as it is queued, its connection's previous tag plus
 * one, or the tag of the request last taken if that is more (start-time
 * fair queuing with equal costs), and a
 * worker takes the lowest tag, the oldest of equals. Connections sending
 * at once are served in turn, one request each, however many each has
 * queued: a peer flooding the server with expensive requests delays a
 * root's request by one of them per worker, not by the whole queue (FIFO
 * put a root's search behind 126 of a flooder's, 2 s under ASan on a
 * loaded machine).
 *
 * The connection itself is left for the peer to close: closing it from
 * here (nng_pipe_close) while a message is half sent or half received
 * can leave nng 1.5.2's TCP transport waiting forever for an operation it
 * has already stopped, and every later connection's teardown behind it
 * (a stopped aio is restarted in tcptran_pipe_send_cb/recv_cb; seen with
 * a debug build of Debian's nng). Reading and dropping costs a peer's
 * requests their parsing by nng, nothing more.
 */

enum slot_state { SLOT_RECV, SLOT_QUEUED, SLOT_WORK, SLOT_SEND, SLOT_STOPPED };

typedef struct slot {
	rpc_server *s;
	nng_ctx ctx;
	nng_aio *aio;
	enum slot_state state;
	nng_msg *msg;      /* the request (SLOT_QUEUED, SLOT_WORK) */
	nng_pipe pipe;     /* the connection it came on */
	uint64_t tag;      /* its place in the fair order (SLOT_QUEUED) */
	int dropped;       /* its peer was cut off while it waited: not handled */
	int express;       /* the server's express predicate said so (SLOT_QUEUED) */
	int parole;        /* a ping of a peer cut off for good: its reply may go */
	unsigned cost;     /* its cost (SLOT_QUEUED): 0, never refused for overload */
	uint64_t deadline; /* Unix us after which no one waits for it (0: none) */
} slot;

typedef struct worker {
	rpc_server *s;
	unsigned no;
	pthread_t thread;
} worker;

/* A connection's last tag in the fair order (enqueue_locked). */
typedef struct rpc_flow {
	uint32_t pipe; /* 0: a free entry */
	uint64_t last;
} rpc_flow;

/* A connection kept: its pipe and its peer's address (an IPv4 address in
 * the first 4 bytes, an IPv6 one in 16; zeros for inproc:// and ipc://). */
typedef struct rpc_conn {
	uint32_t pipe;
	uint8_t addr[16];
} rpc_conn;

/* How a peer is cut off (cut_off), mildest first. */
enum cut_how {
	CUT_UNTIL_DRAINED = 1, /* LIMIT_RPC_UNSENT replies unread: until they have gone */
	CUT_UNTIL_READ,        /* a reply waited LIMIT_RPC_SEND_MS: until a pong goes out */
	CUT_FOR_GOOD           /* its handler said so: until it disconnects */
};

struct rpc_server {
	nng_socket sock;
	nng_listener listener;
	nng_tls_config *tls;
	rpc_handler fn;
	rpc_express express; /* NULL: no reserve worker */
	rpc_cost cost;       /* NULL: nothing refused for overload */
	rpc_refuse refuse;
	rpc_deadline deadline; /* NULL: no request is known to be dead */
	unsigned max_queue;    /* requests of nonzero cost let wait: a burst's bound */
	unsigned standing;     /* ...and while overloaded: half of it, rounded up */
	uint64_t shed_us;      /* overloaded: when it last refused a request (0: never) */
	uint64_t overload_us;  /* how long the server is overloaded after it */
	uint64_t window_us;    /* when the window of refusals counted began */
	unsigned in_window;    /* refusals in it */
	void *ctx;
	unsigned nworkers; /* started, the reserve included */
	unsigned reserve;  /* the reserve's number (the workers asked for) */
	worker *w;
	unsigned nslots;
	slot *slots;
	pthread_mutex_t mu; /* slot states, the queue, stopping, ignored */
	pthread_cond_t cv;  /* a request was queued, or the server stops */
	pthread_cond_t rcv; /* an express request was queued (for the reserve) */
	unsigned nexpress;  /* express requests among the queued */
	unsigned nshed;     /* requests of nonzero cost among the queued, not dropped */
	slot **queue;       /* the qlen requests waiting for a worker, oldest first */
	unsigned qlen;
	uint64_t vtime;  /* the tag of the request taken last */
	rpc_flow *flows; /* nflows entries: as many as slots and workers */
	unsigned nflows;
	int stopping;
	rpc_conn *conns; /* the nconns connections kept (LIMIT_RPC_CONNECTIONS at most) */
	unsigned nconns;
	atomic_uint_fast64_t refused;        /* connections closed at once, over a bound */
	uint32_t ignored[LIMIT_RPC_IGNORED]; /* pipe ids of the peers cut off, oldest first */
	uint8_t cut_how[LIMIT_RPC_IGNORED];  /* enum cut_how, of each */
	unsigned nignored;
	atomic_uint busy;
	atomic_uint_fast64_t cut;  /* peers cut off */
	atomic_uint_fast64_t shed; /* requests refused for overload */
	/* a local:// server (local calls, below): no socket, slots or threads */
	char *local;                  /* its URL; NULL for an nng server */
	struct rpc_server *next;      /* in the list of local servers */
	uint8_t *held;                /* the worker numbers a caller holds now */
	unsigned lrun;                /* local calls between finding s and letting it go */
	struct lwaiter *lq, **lq_end; /* local callers waiting for a number, oldest first */
};

/* Posts a receive on sl, unless the server stops. Called without s->mu:
 * nng may complete the operation (and run slot_cb) before returning. */
static void slot_recv(slot *sl)
{
	rpc_server *s = sl->s;
	pthread_mutex_lock(&s->mu);
	int stop = s->stopping;
	sl->state = stop ? SLOT_STOPPED : SLOT_RECV;
	sl->msg = NULL;
	sl->dropped = 0;
	sl->parole = 0;
	pthread_mutex_unlock(&s->mu);
	if (stop)
		return;
	nng_aio_set_timeout(sl->aio, NNG_DURATION_INFINITE);
	nng_ctx_recv(sl->ctx, sl->aio);
}

/* The index of pipe id in s->ignored, or -1 (s->mu held). */
static int ignored_at(const rpc_server *s, uint32_t id)
{
	for (unsigned i = 0; i < s->nignored; i++)
		if (s->ignored[i] == id)
			return (int)i;
	return -1;
}

static void forget_locked(rpc_server *s, unsigned i)
{
	memmove(&s->ignored[i], &s->ignored[i + 1], (s->nignored - i - 1) * sizeof s->ignored[0]);
	memmove(&s->cut_how[i], &s->cut_how[i + 1], s->nignored - i - 1);
	s->nignored--;
}

/* nng calls this when a connection is gone: a peer cut off is forgotten,
 * and the connection leaves the count. */
static void pipe_gone(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	rpc_server *s = arg;
	(void)ev;
	pthread_mutex_lock(&s->mu);
	int i = ignored_at(s, p.id);
	if (i >= 0)
		forget_locked(s, (unsigned)i);
	for (unsigned k = 0; k < s->nconns; k++)
		if (s->conns[k].pipe == p.id) {
			s->conns[k] = s->conns[--s->nconns];
			break;
		}
	pthread_mutex_unlock(&s->mu);
}

/* nng calls this when a connection is made, before any message of it is
 * read: over LIMIT_RPC_CONNECTIONS in all, or LIMIT_RPC_PER_ADDRESS from
 * its address, it is closed (nng then never shows it to the socket). */
static void pipe_added(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	rpc_server *s = arg;
	(void)ev;
	rpc_conn c = {p.id, {0}};
	nng_sockaddr sa;
	if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) == 0) {
		if (sa.s_family == NNG_AF_INET)
			memcpy(c.addr, &sa.s_in.sa_addr, 4);
		else if (sa.s_family == NNG_AF_INET6)
			memcpy(c.addr, sa.s_in6.sa_addr, 16);
	}
	pthread_mutex_lock(&s->mu);
	unsigned same = 0;
	for (unsigned k = 0; k < s->nconns; k++)
		same += !memcmp(s->conns[k].addr, c.addr, sizeof c.addr);
	int keep = s->nconns < LIMIT_RPC_CONNECTIONS && same < LIMIT_RPC_PER_ADDRESS;
	if (keep)
		s->conns[s->nconns++] = c;
	pthread_mutex_unlock(&s->mu);
	if (!keep) {
		atomic_fetch_add(&s->refused, 1);
		nng_pipe_close(p);
	}
}

/* Cuts off the peer on pipe p (how: enum cut_how; a milder cut than the
 * one it has is ignored): its queued requests are dropped, and its
 * requests from now on dropped as they come. CUT_UNTIL_DRAINED
 * (LIMIT_RPC_UNSENT replies waiting) leaves its replies to go and lets it
 * back once the last has gone: a root that read a burst of replies a
 * little slowly (a replica catching up after a freeze answers a whole
 * queue at once) was otherwise ignored for as long as its connection
 * lasted, and its replica never came back. The others cancel its replies
 * still waiting in nng; CUT_UNTIL_READ (a reply of it waited
 * LIMIT_RPC_SEND_MS) lets it back when it is seen reading again
 * (paroled_locked), CUT_FOR_GOOD (its handler asked) when it disconnects.
 * Called without s->mu. */
static void cut_off(rpc_server *s, nng_pipe p, enum cut_how how)
{
	nng_aio *cancel[RPC_SLOTS(LIMIT_RPC_WORKERS + 1)]; /* the reserve too */
	unsigned ncancel = 0;
	pthread_mutex_lock(&s->mu);
	int at = ignored_at(s, p.id);
	if (s->stopping || (at >= 0 && how <= s->cut_how[at])) {
		pthread_mutex_unlock(&s->mu);
		return;
	}
	if (at >= 0) {
		s->cut_how[at] = (uint8_t)how;
	} else {
		if (s->nignored == LIMIT_RPC_IGNORED)
			forget_locked(s, 0);
		s->cut_how[s->nignored] = (uint8_t)how;
		s->ignored[s->nignored++] = p.id;
		atomic_fetch_add(&s->cut, 1);
	}
	for (unsigned i = 0; i < s->nslots; i++) {
		slot *sl = &s->slots[i];
		if (sl->pipe.id != p.id)
			continue;
		if (sl->state == SLOT_QUEUED && !sl->dropped) {
			/* it leaves the overload count at once: a worker takes it
			 * for nothing, but only when one is free */
			s->nshed -= sl->cost != 0;
			sl->dropped = 1;
		} else if (sl->state == SLOT_SEND && how > CUT_UNTIL_DRAINED)
			cancel[ncancel++] = sl->aio;
	}
	pthread_mutex_unlock(&s->mu);
	/* a slot may have moved on since: a receive cancelled is posted again */
	for (unsigned i = 0; i < ncancel; i++)
		nng_aio_cancel(cancel[i]);
}

/* Whether request sl, just received from pipe p, is a ping to answer
 * although its peer is cut off (s->mu held): a server with pings (an
 * express predicate) answers one ping at a time of a peer it cut off for
 * good, and lets the peer back when that pong goes out: the peer reads
 * again (nng takes a reply only when the one before it has gone into the
 * kernel, which never happens for a peer that does not read). Else a
 * root whose reply had waited LIMIT_RPC_SEND_MS because the leaf itself
 * had stalled (SIGSTOP, a starved machine: the timer runs on, and a reply
 * queued behind the one in flight times out on waking) stayed cut off for
 * as long as its connection lasted, and its replica was ejected for good
 * (resilience_test.py TestFrozenReplica, 1 run in about 20 under ASan; the
 * multi-host suite's leaf restart). A peer cut off by its handler
 * (rpc_request_cut_peer: the build coordinator's, which has no pings)
 * or for unread replies (CUT_UNTIL_DRAINED, which ends by itself) gets no
 * parole. */
static int paroled_locked(rpc_server *s, slot *sl, const uint8_t *req, size_t len, int at)
{
	if (!s->express || s->cut_how[at] != CUT_UNTIL_READ || !s->express(req, len))
		return 0;
	for (unsigned i = 0; i < s->nslots; i++) {
		const slot *o = &s->slots[i];
		if (o != sl && o->pipe.id == sl->pipe.id && (o->parole || o->state == SLOT_SEND) &&
		    (o->state == SLOT_QUEUED || o->state == SLOT_WORK || o->state == SLOT_SEND))
			return 0; /* one at a time, and none while a reply of it waits */
	}
	return 1;
}

/* Replies to pipe p that nng holds behind the one in flight (s->mu held). */
static unsigned unsent_locked(const rpc_server *s, nng_pipe p)
{
	unsigned n = 0;
	for (unsigned i = 0; i < s->nslots; i++)
		n += s->slots[i].state == SLOT_SEND && s->slots[i].pipe.id == p.id;
	return n;
}

/* Queues sl behind the requests waiting, with its tag (s->mu held): its
 * connection's last tag plus one, or the tag taken last if that is more.
 * A connection's last tag is kept after its request was taken (in
 * s->flows), so that a peer sending one request at a time cannot come
 * back at the tag being served and keep a tag above it waiting for ever.
 * A connection whose last tag is below the one taken last needs no entry
 * (it would get that tag anyway): free entries and such ones are reused
 * first, then the lowest, which costs its connection at most one turn. */
/* Whether entry e is a better one to reuse than cur: a free or stale one
 * (its connection would get the tag taken last anyway) over a live one,
 * else the lower last tag. */
static int better_spare(const rpc_flow *e, const rpc_flow *cur, uint64_t vtime)
{
	int e_free = e->pipe == 0 || e->last < vtime;
	int cur_free = cur->pipe == 0 || cur->last < vtime;
	if (e_free != cur_free)
		return e_free;
	return !e_free && e->last < cur->last;
}

static void enqueue_locked(rpc_server *s, slot *sl)
{
	uint32_t id = sl->pipe.id;
	uint64_t tag = s->vtime;
	s->queue[s->qlen++] = sl;
	if (sl->express) {
		/* a ping is served beside the order: it takes no turn of its
		 * connection's (its next search would wait one more otherwise) */
		sl->tag = tag;
		s->nexpress++;
		return;
	}
	rpc_flow *f = NULL, *spare = NULL;
	for (unsigned i = 0; i < s->nflows && !f; i++) {
		rpc_flow *e = &s->flows[i];
		if (e->pipe == id)
			f = e;
		else if (!spare || better_spare(e, spare, s->vtime))
			spare = e;
	}
	if (f && f->last + 1 > tag)
		tag = f->last + 1;
	if (!f)
		f = spare;
	f->pipe = id;
	f->last = tag;
	sl->tag = tag;
}

/* Takes sl out of the queue wherever it stands (s->mu held). */
static void unqueue_locked(rpc_server *s, slot *sl)
{
	for (unsigned i = 0; i < s->qlen; i++)
		if (s->queue[i] == sl) {
			memmove(&s->queue[i], &s->queue[i + 1],
			        (s->qlen - i - 1) * sizeof s->queue[0]);
			s->qlen--;
			s->nexpress -= sl->express != 0;
			s->nshed -= sl->cost != 0 && !sl->dropped;
			return;
		}
}

/* Requests of nonzero cost waiting from connection pipe (s->mu held). */
static unsigned waiting_locked(const rpc_server *s, uint32_t pipe)
{
	unsigned n = 0;
	for (unsigned i = 0; i < s->qlen; i++)
		n += s->queue[i]->cost && !s->queue[i]->dropped && s->queue[i]->pipe.id == pipe;
	return n;
}

/* The request to refuse when sl, of nonzero cost, has come to a full
 * queue (s->mu held; sl not queued yet): one whose sender no longer waits
 * for it (past its deadline), the oldest; else the costliest of those
 * waiting and sl; among equals, one of the connection with the most of
 * them waiting (sl counted with its own), the newest of it. sl, the
 * newest of all, whenever it ties. */
static slot *shed_locked(rpc_server *s, slot *sl)
{
	uint64_t now = s->deadline ? clock_unix_us() : 0;
	for (unsigned i = 0; i < s->qlen; i++) {
		slot *q = s->queue[i];
		if (q->cost && !q->dropped && q->deadline && q->deadline < now)
			return q;
	}
	slot *victim = sl;
	unsigned vn = waiting_locked(s, sl->pipe.id) + 1;
	for (unsigned i = 0; i < s->qlen; i++) {
		slot *q = s->queue[i];
		if (!q->cost || q->dropped || q->cost < victim->cost)
			continue;
		unsigned n = waiting_locked(s, q->pipe.id) + (q->pipe.id == sl->pipe.id);
		int better = q->cost > victim->cost || n > vn ||
		             (n == vn && victim != sl && q->pipe.id == victim->pipe.id &&
		              q->tag > victim->tag);
		if (better) {
			victim = q;
			vn = n;
		}
	}
	return victim;
}

/* Whether the server is overloaded at now (s->mu held): it has refused
 * LIMIT_RPC_OVERLOAD_REFUSALS requests within overload_ms, and overload_ms
 * have not passed since its last refusal. */
static int overloaded_locked(const rpc_server *s, uint64_t now)
{
	return s->shed_us && now - s->shed_us < s->overload_us;
}

/* How many requests of nonzero cost may wait now (s->mu held): max_queue,
 * or s->standing while the server is overloaded. A queue bounded by
 * count alone trades one thing for another: long, it lets the searches
 * admitted under a steady overload wait longer (a queue of 2 per worker
 * gave 2.8-3.9 times the unloaded p99 at twice the capacity, 1 per worker
 * 2.3 times); short, it refuses a burst that a moment would have cleared
 * (with 1 per worker, the hedges of a frozen replica's searches to its
 * twin were answered 429: 25 of 1,201 in resilience_test.py). A steady
 * overload refuses hundreds a second, a burst a few: only the first
 * halves the queue (a single refusal did, and 4 clients then overflowed a
 * frozen replica's twin every few runs of TestFrozenReplica). */
static unsigned queue_bound_locked(const rpc_server *s, uint64_t now)
{
	return overloaded_locked(s, now) ? s->standing : s->max_queue;
}

/* Counts a refusal at now (s->mu held), and makes the server overloaded,
 * or keeps it so, when it has refused enough (queue_bound_locked). */
static void note_refusal_locked(rpc_server *s, uint64_t now)
{
	if (now - s->window_us >= s->overload_us) {
		s->window_us = now;
		s->in_window = 0;
	}
	s->in_window++;
	if (overloaded_locked(s, now) || s->in_window >= LIMIT_RPC_OVERLOAD_REFUSALS)
		s->shed_us = now;
}

/* Takes the next request for a worker out of the queue (s->mu held; a
 * request the worker may take is queued): one dropped with its peer first
 * (it costs nothing), else the lowest tag, the oldest of equals. The
 * reserve (express_only) looks at express requests only, and leaves the
 * fair order's clock alone: it serves beside the order, not in it. */
static slot *dequeue_locked(rpc_server *s, int express_only)
{
	int best = -1;
	for (unsigned i = 0; i < s->qlen; i++) {
		const slot *q = s->queue[i];
		if (express_only && !q->express)
			continue;
		if (q->dropped) {
			best = (int)i;
			break;
		}
		if (best < 0 || q->tag < s->queue[best]->tag)
			best = (int)i;
	}
	slot *sl = s->queue[best];
	unqueue_locked(s, sl);
	if (!sl->dropped && !express_only)
		s->vtime = sl->tag;
	return sl;
}

static void reply_locked(rpc_server *s, slot *sl, nng_msg *msg, int ok);
static void refuse_one(rpc_server *s, slot *sl);

/* nng calls this when a slot's receive or send completes. */
static void slot_cb(void *arg)
{
	slot *sl = arg;
	rpc_server *s = sl->s;
	int rc = nng_aio_result(sl->aio);
	nng_msg *msg = nng_aio_get_msg(sl->aio); /* a request, or a reply not sent */
	nng_aio_set_msg(sl->aio, NULL);
	pthread_mutex_lock(&s->mu);
	int was = sl->state, stop = s->stopping || rc == NNG_ECLOSED;
	if (was == SLOT_RECV && rc == 0 && !stop) {
		sl->pipe = nng_msg_get_pipe(msg);
		int at = ignored_at(s, sl->pipe.id);
		if (at >= 0 && paroled_locked(s, sl, nng_msg_body(msg), nng_msg_len(msg), at))
			sl->parole = 1;
		if (at < 0 || sl->parole) {
			sl->msg = msg;
			sl->state = SLOT_QUEUED;
			sl->express = s->express && s->express(nng_msg_body(msg), nng_msg_len(msg));
			sl->cost = !sl->express && s->cost
			               ? s->cost(nng_msg_body(msg), nng_msg_len(msg))
			               : 0;
			sl->deadline = sl->cost && s->deadline
			                   ? s->deadline(nng_msg_body(msg), nng_msg_len(msg))
			                   : 0;
			slot *refused = NULL;
			if (sl->cost) {
				uint64_t now = clock_mono_us();
				if (s->nshed >= queue_bound_locked(s, now)) {
					refused = shed_locked(s, sl);
					note_refusal_locked(s, now);
				}
			}
			if (refused != sl) {
				enqueue_locked(s, sl);
				s->nshed += sl->cost != 0;
				pthread_cond_signal(&s->cv);
				if (sl->express)
					pthread_cond_signal(&s->rcv);
			}
			if (refused) {
				if (refused != sl)
					unqueue_locked(s, refused);
				refused->state = SLOT_WORK;
			}
			pthread_mutex_unlock(&s->mu);
			if (refused)
				refuse_one(s, refused);
			return;
		}
	}
	if (stop)
		sl->state = SLOT_STOPPED;
	int at = was == SLOT_SEND && rc == 0 ? ignored_at(s, sl->pipe.id) : -1;
	if (at >= 0 && ((s->cut_how[at] == CUT_UNTIL_DRAINED && unsent_locked(s, sl->pipe) == 1) ||
	                (s->cut_how[at] == CUT_UNTIL_READ && sl->parole)))
		forget_locked(s, (unsigned)at); /* its last reply or its pong went: let it back */
	pthread_mutex_unlock(&s->mu);
	if (rc == 0 && was == SLOT_RECV) /* from a peer cut off, or while stopping */
		nng_msg_free(msg);
	if (rc != 0 && was == SLOT_SEND) /* on failure the reply is still ours */
		nng_msg_free(msg);
	if (rc == NNG_ETIMEDOUT && was == SLOT_SEND && !stop)
		cut_off(s, sl->pipe, CUT_UNTIL_READ); /* a reply waited LIMIT_RPC_SEND_MS */
	if (!stop)
		slot_recv(sl);
}

/* The request a worker thread is handling (rpc_request_peer). */
static _Thread_local slot *tl_request;

uint32_t rpc_request_peer(char *addr, size_t addrlen)
{
	slot *sl = tl_request;
	if (addr && addrlen)
		addr[0] = 0;
	if (!sl)
		return 0;
	nng_sockaddr sa;
	if (addr && addrlen && nng_pipe_get_addr(sl->pipe, NNG_OPT_REMADDR, &sa) == 0) {
		char ip[INET6_ADDRSTRLEN] = "";
		if (sa.s_family == NNG_AF_INET) {
			inet_ntop(AF_INET, &sa.s_in.sa_addr, ip, sizeof ip);
			snprintf(addr, addrlen, "%s:%u", ip, (unsigned)ntohs(sa.s_in.sa_port));
		} else if (sa.s_family == NNG_AF_INET6) {
			inet_ntop(AF_INET6, sa.s_in6.sa_addr, ip, sizeof ip);
			snprintf(addr, addrlen, "[%s]:%u", ip, (unsigned)ntohs(sa.s_in6.sa_port));
		}
	}
	return sl->pipe.id;
}

void rpc_request_cut_peer(void)
{
	if (tl_request)
		cut_off(tl_request->s, tl_request->pipe, CUT_FOR_GOOD);
}

/* A worker's turn with one request: the handler, then the reply handed to
 * nng (or the peer cut off). Called with s->mu held; returns with it held. */
static void serve_one(rpc_server *s, unsigned no, slot *sl, tbuf *out)
{
	sl->state = SLOT_WORK;
	pthread_mutex_unlock(&s->mu);
	nng_msg *msg = sl->msg;
	atomic_fetch_add(&s->busy, 1);
	tbuf_reset(out);
	tl_request = sl;
	s->fn(s->ctx, no, nng_msg_body(msg), nng_msg_len(msg), out);
	tl_request = NULL;
	atomic_fetch_sub(&s->busy, 1);
	nng_msg_clear(msg);
	int ok = nng_msg_append(msg, out->data, out->len) == 0;
	pthread_mutex_lock(&s->mu);
	reply_locked(s, sl, msg, ok);
}

/* Hands sl's reply (msg, or none when !ok) to nng, unless its peer is cut
 * off or has LIMIT_RPC_UNSENT replies unread (it is cut off then). Called
 * with s->mu held; returns with it held. */
static void reply_locked(rpc_server *s, slot *sl, nng_msg *msg, int ok)
{
	int over = ok && unsent_locked(s, sl->pipe) >= LIMIT_RPC_UNSENT;
	if (!ok || over || s->stopping || (ignored_at(s, sl->pipe.id) >= 0 && !sl->parole)) {
		/* no memory for the reply: the requester times out and retries
		 * elsewhere; a peer cut off gets nothing more */
		pthread_mutex_unlock(&s->mu);
		nng_msg_free(msg);
		if (over)
			cut_off(s, sl->pipe, CUT_UNTIL_DRAINED);
		slot_recv(sl);
		pthread_mutex_lock(&s->mu);
		return;
	}
	sl->state = SLOT_SEND;
	sl->msg = NULL;
	pthread_mutex_unlock(&s->mu);
	nng_aio_set_msg(sl->aio, msg);
	nng_aio_set_timeout(sl->aio, LIMIT_RPC_SEND_MS);
	nng_ctx_send(sl->ctx, sl->aio);
	pthread_mutex_lock(&s->mu);
}

/* Answers sl (out of the queue, in SLOT_WORK) with the server's overload
 * refusal, on the nng thread that calls it, without a worker. Called
 * without s->mu. */
static void refuse_one(rpc_server *s, slot *sl)
{
	nng_msg *msg = sl->msg;
	tbuf out;
	tbuf_init(&out, 4096); /* a header and an error message */
	s->refuse(s->ctx, nng_msg_body(msg), nng_msg_len(msg), &out);
	nng_msg_clear(msg);
	int ok = out.len && nng_msg_append(msg, out.data, out.len) == 0;
	tbuf_fini(&out);
	atomic_fetch_add(&s->shed, 1);
	pthread_mutex_lock(&s->mu);
	reply_locked(s, sl, msg, ok);
	pthread_mutex_unlock(&s->mu);
}

static void *worker_main(void *arg)
{
	worker *w = arg;
	rpc_server *s = w->s;
	tbuf out;
	tbuf_init(&out, LIMIT_MESSAGE_BYTES);
	int reserve = s->express && w->no == s->reserve;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->stopping && (reserve ? s->nexpress == 0 : s->qlen == 0))
			pthread_cond_wait(reserve ? &s->rcv : &s->cv, &s->mu);
		if (s->stopping)
			break;
		slot *sl = dequeue_locked(s, reserve);
		if (sl->dropped) {
			pthread_mutex_unlock(&s->mu);
			nng_msg_free(sl->msg);
			slot_recv(sl);
			pthread_mutex_lock(&s->mu);
			continue;
		}
		serve_one(s, w->no, sl, &out);
	}
	pthread_mutex_unlock(&s->mu);
	tbuf_fini(&out);
	return NULL;
}

/* ---- local calls ----
 *
 * A server on a local://NAME URL (trawl serve's leaf, for its own root)
 * has no socket and no threads of its own: a client of the same URL in the
 * same process runs the handler on the calling thread. A request through
 * nng's inproc transport is handed from thread to thread four times (to
 * nng's, to a worker, the reply to nng's, back to the caller); on a busy
 * machine each hand-off may wait out another thread's time slice, and a
 * query's SEARCH and FETCH made 8 of them (bench/journal, session 23).
 * What the workers' pool gave mostly stays: a caller takes one of the
 * worker numbers (the handler's per-worker state), waiting in line, in
 * arrival order, while all are held; an express request takes the
 * reserve's if it is free; a request of nonzero cost that finds the line
 * at the queue bound is refused at once with the server's refusal (the
 * one arriving: not the costliest, nor a dead one, as the nng server
 * chooses), and one whose sender's deadline passes while it waits leaves
 * the line refused. A call being handled cannot be cancelled: the handler
 * keeps the request's own deadline. */

/* A server's settings from o (an nng server's and a local one's). */
static void settings(rpc_server *s, const rpc_server_opts *o, rpc_handler fn, void *ctx)
{
	s->fn = fn;
	s->express = o->express;
	s->cost = o->cost;
	s->refuse = o->refuse;
	s->deadline = o->deadline;
	s->max_queue = o->max_queue;
	s->standing = (o->max_queue + 1) / 2;
	s->overload_us = 1000ull * (o->overload_ms ? o->overload_ms : LIMIT_RPC_OVERLOAD_MS);
	s->reserve = o->workers;
	s->ctx = ctx;
}

static pthread_mutex_t local_mu = PTHREAD_MUTEX_INITIALIZER;
static rpc_server *local_list; /* under local_mu */

static rpc_server *local_find_locked(const char *url)
{
	rpc_server *s = local_list;
	while (s && strcmp(s->local, url))
		s = s->next;
	return s;
}

static int local_start(rpc_server **out, const char *url, const rpc_server_opts *o, rpc_handler fn,
                       void *ctx, char *err, size_t errlen)
{
	rpc_server *s = calloc(1, sizeof *s);
	unsigned n = o->workers + (o->express != NULL);
	if (!s || !(s->local = strdup(url)) || !(s->held = calloc(n, 1))) {
		if (s)
			free(s->local);
		free(s);
		return TRAWL_ENOMEM;
	}
	settings(s, o, fn, ctx);
	s->nworkers = n;
	s->lq_end = &s->lq;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_cond_init(&s->rcv, NULL);
	pthread_mutex_lock(&local_mu);
	int taken = local_find_locked(url) != NULL;
	if (!taken) {
		s->next = local_list;
		local_list = s;
	}
	pthread_mutex_unlock(&local_mu);
	if (taken) {
		local_stop(s);
		return fail(err, errlen, TRAWL_EINVAL, "listen on", url, NNG_EADDRINUSE);
	}
	*out = s;
	return TRAWL_OK;
}

/* Out of the list (no new call finds it), then the calls in hand end. */
static void local_stop(rpc_server *s)
{
	pthread_mutex_lock(&local_mu);
	for (rpc_server **p = &local_list; *p; p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			break;
		}
	pthread_mutex_unlock(&local_mu);
	pthread_mutex_lock(&s->mu);
	s->stopping = 1;
	pthread_cond_broadcast(&s->cv);
	while (s->lrun)
		pthread_cond_wait(&s->rcv, &s->mu);
	pthread_mutex_unlock(&s->mu);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	pthread_cond_destroy(&s->rcv);
	free(s->held);
	free(s->local);
	free(s);
}

static unsigned local_present(const char *url)
{
	pthread_mutex_lock(&local_mu);
	unsigned n = local_find_locked(url) != NULL;
	pthread_mutex_unlock(&local_mu);
	return n;
}

/* A local caller waiting for a worker number, in s->lq (on its stack). */
typedef struct lwaiter {
	struct lwaiter *next;
} lwaiter;

/* A free ordinary worker number, or -1 (s->mu held). */
static int local_take_locked(rpc_server *s)
{
	for (unsigned i = 0; i < s->reserve; i++)
		if (!s->held[i]) {
			s->held[i] = 1;
			return (int)i;
		}
	return -1;
}

/* The reserve's number for an express request, or -1 (s->mu held). */
static int local_reserve_locked(rpc_server *s, int express)
{
	if (!express || !s->express || s->held[s->reserve])
		return -1;
	s->held[s->reserve] = 1;
	return (int)s->reserve;
}

/* w leaves the line (s->mu held); whoever is first now may take a number. */
static void local_leave_locked(rpc_server *s, lwaiter *w)
{
	lwaiter **p = &s->lq;
	while (*p != w)
		p = &(*p)->next;
	*p = w->next;
	if (!*p)
		s->lq_end = p;
	pthread_cond_broadcast(&s->cv);
}

/* A worker number for c's request (s->mu held): the reserve's for an
 * express one if free, else the first free one in arrival order, waiting
 * in line; -1 if s stops, or if the request is refused (*refused): at
 * arrival, when it is sheddable and the line is at the queue bound, or
 * later, when its sender's deadline passes while it waits. */
static int local_number_locked(rpc_server *s, int express, unsigned cost, uint64_t deadline,
                               int *refused)
{
	int no = local_reserve_locked(s, express);
	if (no >= 0 || s->stopping)
		return no;
	if (!s->lq && (no = local_take_locked(s)) >= 0)
		return no;
	uint64_t now = clock_mono_us();
	if (cost && s->nshed >= queue_bound_locked(s, now)) {
		note_refusal_locked(s, now);
		*refused = 1;
		return -1;
	}
	lwaiter w = {NULL};
	*s->lq_end = &w;
	s->lq_end = &w.next;
	s->qlen++;
	s->nshed += cost != 0;
	struct timespec until = {(time_t)(deadline / 1000000u), (long)(deadline % 1000000u) * 1000};
	for (;;) {
		if (s->stopping)
			break;
		if (s->lq == &w && ((no = local_reserve_locked(s, express)) >= 0 ||
		                    (no = local_take_locked(s)) >= 0))
			break;
		if (deadline && clock_unix_us() >= deadline) {
			*refused = 1; /* no one waits for its answer any more */
			break;
		}
		if (deadline)
			pthread_cond_timedwait(&s->cv, &s->mu, &until);
		else
			pthread_cond_wait(&s->cv, &s->mu);
	}
	s->qlen--;
	s->nshed -= cost != 0;
	local_leave_locked(s, &w);
	return no;
}

/* Runs c's request on s (found, s->lrun counted) on this thread: its reply
 * in c (TRAWL_EIO if s stops meanwhile). */
static void local_serve(rpc_server *s, rpc_call *c)
{
	int express = s->express && s->express(c->req, c->len);
	unsigned cost = !express && s->cost ? s->cost(c->req, c->len) : 0;
	uint64_t deadline = cost && s->deadline ? s->deadline(c->req, c->len) : 0;
	int refused = 0;
	pthread_mutex_lock(&s->mu);
	int no = local_number_locked(s, express, cost, deadline, &refused);
	pthread_mutex_unlock(&s->mu);
	if (no < 0 && !refused)
		return; /* stopping: c->rc stays TRAWL_EIO */
	tbuf out;
	tbuf_init(&out, LIMIT_MESSAGE_BYTES);
	if (refused) {
		s->refuse(s->ctx, c->req, c->len, &out);
		atomic_fetch_add(&s->shed, 1);
	} else {
		atomic_fetch_add(&s->busy, 1);
		s->fn(s->ctx, (unsigned)no, c->req, c->len, &out);
		atomic_fetch_sub(&s->busy, 1);
		pthread_mutex_lock(&s->mu);
		s->held[no] = 0;
		if (s->lq)
			pthread_cond_broadcast(&s->cv); /* the first in line takes it */
		pthread_mutex_unlock(&s->mu);
	}
	if (!out.data && !(out.data = malloc(1))) {
		c->rc = TRAWL_ENOMEM;
		return;
	}
	c->reply = out.data; /* the buffer is the reply's now */
	c->reply_len = out.len;
	c->rc = TRAWL_OK;
}

int rpc_server_start(rpc_server **out, const char *url, const rpc_server_opts *o, rpc_handler fn,
                     void *ctx, char *err, size_t errlen)
{
	*out = NULL;
	const rpc_tls *tls = o->tls;
	unsigned workers = o->workers;
	rpc_express express = o->express;
	if (!o->cost != !o->refuse ||
	    (o->cost && (o->max_queue < 1 || o->max_queue > LIMIT_RPC_MAX_QUEUE)))
		return fail(err, errlen, TRAWL_EINVAL, "overload settings for", url, NNG_EINVAL);
	size_t max_request = o->max_request ? o->max_request : LIMIT_MESSAGE_BYTES;
	if (workers == 0 || workers > LIMIT_RPC_WORKERS)
		return fail(err, errlen, TRAWL_EINVAL, "workers for", url, NNG_EINVAL);
	if (!strncmp(url, LOCAL_SCHEME, strlen(LOCAL_SCHEME)))
		return local_start(out, url, o, fn, ctx, err, errlen);
	rpc_server *s = calloc(1, sizeof *s);
	if (!s)
		return TRAWL_ENOMEM;
	settings(s, o, fn, ctx);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_cond_init(&s->rcv, NULL);
	int rc = nng_rep0_open(&s->sock);
	if (rc) {
		pthread_mutex_destroy(&s->mu);
		pthread_cond_destroy(&s->cv);
		pthread_cond_destroy(&s->rcv);
		free(s);
		return fail(err, errlen, TRAWL_EIO, "socket for", url, rc);
	}
	nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, max_request);
	if (!(s->conns = calloc(LIMIT_RPC_CONNECTIONS, sizeof *s->conns))) {
		nng_close(s->sock);
		pthread_mutex_destroy(&s->mu);
		pthread_cond_destroy(&s->cv);
		pthread_cond_destroy(&s->rcv);
		free(s);
		return TRAWL_ENOMEM;
	}
	nng_pipe_notify(s->sock, NNG_PIPE_EV_ADD_PRE, pipe_added, s);
	nng_pipe_notify(s->sock, NNG_PIPE_EV_REM_POST, pipe_gone, s);
	if ((rc = nng_listener_create(&s->listener, s->sock, url)) ||
	    (rc = tls_setup(&s->tls, url, tls, 1)) ||
	    (s->tls && (rc = nng_listener_set_ptr(s->listener, NNG_OPT_TLS_CONFIG, s->tls))) ||
	    (rc = nng_listener_start(s->listener, 0))) {
		int code = rc == NNG_EADDRINUSE || rc == NNG_EADDRINVAL || rc == NNG_ENOTSUP ||
		                   rc == NNG_EINVAL
		               ? TRAWL_EINVAL
		               : TRAWL_EIO;
		fail(err, errlen, code, "listen on", url, rc);
		rpc_server_stop(s);
		return code;
	}
	if (express)
		workers++; /* the reserve */
	unsigned nslots = RPC_SLOTS(workers);
	s->w = calloc(workers, sizeof *s->w);
	s->slots = calloc(nslots, sizeof *s->slots);
	s->queue = calloc(nslots, sizeof *s->queue);
	s->nflows = nslots + workers;
	s->flows = calloc(s->nflows, sizeof *s->flows);
	if (!s->w || !s->slots || !s->queue || !s->flows) {
		rpc_server_stop(s);
		return TRAWL_ENOMEM;
	}
	for (unsigned i = 0; i < nslots; i++) {
		slot *sl = &s->slots[i];
		sl->s = s;
		if ((rc = nng_ctx_open(&sl->ctx, s->sock)) ||
		    (rc = nng_aio_alloc(&sl->aio, slot_cb, sl))) {
			rpc_server_stop(s);
			return fail(err, errlen, TRAWL_EIO, "contexts for", url, rc);
		}
		s->nslots++;
	}
	for (unsigned i = 0; i < workers; i++) {
		worker *w = &s->w[i];
		w->s = s;
		w->no = i;
		if (pthread_create(&w->thread, NULL, worker_main, w)) {
			rpc_server_stop(s);
			return fail(err, errlen, TRAWL_EIO, "workers for", url, NNG_ENOMEM);
		}
		s->nworkers++;
	}
	for (unsigned i = 0; i < s->nslots; i++)
		slot_recv(&s->slots[i]);
	*out = s;
	return TRAWL_OK;
}

unsigned rpc_server_busy(const rpc_server *s)
{
	/* a worker may answer before rpc_server_start has returned the server */
	return s ? atomic_load(&s->busy) : 0;
}

unsigned rpc_server_queued(rpc_server *s)
{
	if (!s)
		return 0;
	pthread_mutex_lock(&s->mu);
	unsigned n = s->qlen;
	pthread_mutex_unlock(&s->mu);
	return n;
}

uint64_t rpc_server_shed(const rpc_server *s)
{
	return s ? atomic_load(&s->shed) : 0;
}

uint64_t rpc_server_cut(const rpc_server *s)
{
	return s ? atomic_load(&s->cut) : 0;
}

uint64_t rpc_server_refused(const rpc_server *s)
{
	return s ? atomic_load(&s->refused) : 0;
}

void rpc_server_stop(rpc_server *s)
{
	if (!s)
		return;
	if (s->local) {
		local_stop(s);
		return;
	}
	pthread_mutex_lock(&s->mu);
	s->stopping = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_cond_broadcast(&s->rcv);
	pthread_mutex_unlock(&s->mu);
	for (unsigned i = 0; i < s->nworkers; i++)
		pthread_join(s->w[i].thread, NULL); /* each finishes the request in hand */
	for (unsigned i = 0; i < s->nslots; i++)
		nng_aio_stop(s->slots[i].aio); /* cancels its receive or send, waits for slot_cb */
	for (unsigned i = 0; i < s->nslots; i++) {
		slot *sl = &s->slots[i];
		if (sl->msg) /* queued, never handled */
			nng_msg_free(sl->msg);
		/* a refusal sent on this slot by another slot's callback just as
		 * the server stopped: nng fails a send on a stopped aio without
		 * calling back, and the reply stays with the aio */
		nng_msg *left = nng_aio_get_msg(sl->aio);
		if (left)
			nng_msg_free(left);
		nng_ctx_close(sl->ctx);
		nng_aio_free(sl->aio);
	}
	nng_close(s->sock);
	if (s->tls)
		nng_tls_config_free(s->tls);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	pthread_cond_destroy(&s->rcv);
	free(s->queue);
	free(s->conns);
	free(s->flows);
	free(s->slots);
	free(s->w);
	free(s);
}

int rpc_url_loopback(const char *url)
{
	if (!strncmp(url, "inproc://", 9) || !strncmp(url, "ipc://", 6) ||
	    !strncmp(url, LOCAL_SCHEME, strlen(LOCAL_SCHEME)))
		return 1;
	const char *h = strstr(url, "://");
	if (!h)
		return 0;
	h += 3;
	size_t n;
	if (h[0] == '[') {
		h++;
		n = strcspn(h, "]");
	} else {
		n = strcspn(h, ":/");
	}
	char host[256];
	if (n == 0 || n >= sizeof host)
		return 0; /* no host: every interface */
	memcpy(host, h, n);
	host[n] = 0;
	struct addrinfo hints = {0}, *res = NULL;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
		return 0;
	int loop = 1;
	for (const struct addrinfo *a = res; a && loop; a = a->ai_next) {
		if (a->ai_family == AF_INET) {
			const struct sockaddr_in *v4 = (const struct sockaddr_in *)a->ai_addr;
			loop = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
		} else if (a->ai_family == AF_INET6) {
			const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)a->ai_addr;
			const uint8_t *b = v6->sin6_addr.s6_addr;
			static const uint8_t mapped[12] = {0, 0, 0, 0, 0,    0,
			                                   0, 0, 0, 0, 0xff, 0xff};
			loop = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr) ||
			       (!memcmp(b, mapped, 12) && b[12] == 127);
		} else {
			loop = 0;
		}
	}
	freeaddrinfo(res);
	return loop;
}

/* ---- client ---- */

/* The connections a client tracks, for rpc_client_close_dead: one dialer
 * makes one connection at a time, and a second only while nng has yet to
 * report the first gone. Beyond this, a connection is counted but not
 * tracked. */
#define RPC_CLIENT_PIPES 4
/* Connections closed by rpc_client_close_dead that nng has yet to report
 * gone (it may never: its teardown thread can be stuck), remembered so
 * that a late report is not counted twice. */
#define RPC_CLIENT_DROPPED 16

struct rpc_client {
	nng_socket sock;
	nng_dialer dialer;
	nng_tls_config *tls;
	void (*_Atomic on_gone)(void *arg); /* stored after gone_arg */
	void *gone_arg;
	atomic_uint connected;         /* connections open now (changed under mu) */
	atomic_uint_fast64_t connects; /* connections made, in all */
	char *url;                     /* what the dialer dials */
	pthread_mutex_t mu;            /* guards the pipes below, and connected's changes */
	nng_pipe pipes[RPC_CLIENT_PIPES];
	unsigned npipes, untracked;
	uint32_t dropped[RPC_CLIENT_DROPPED]; /* ids, a ring; 0: none */
	unsigned ndropped;
	int local; /* a local:// URL: no socket, calls run on the caller's thread */
};

static void pipe_added_client(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	rpc_client *c = arg;
	(void)ev;
	pthread_mutex_lock(&c->mu);
	if (c->npipes < RPC_CLIENT_PIPES)
		c->pipes[c->npipes++] = p;
	else
		c->untracked++;
	atomic_fetch_add(&c->connected, 1);
	pthread_mutex_unlock(&c->mu);
	atomic_fetch_add(&c->connects, 1);
}

/* Takes p out of c's tracked connections (c->mu held): 1 if it was there. */
static int untrack_locked(rpc_client *c, nng_pipe p)
{
	for (unsigned i = 0; i < c->npipes; i++)
		if (nng_pipe_id(c->pipes[i]) == nng_pipe_id(p)) {
			c->pipes[i] = c->pipes[--c->npipes];
			atomic_fetch_sub(&c->connected, 1);
			return 1;
		}
	return 0;
}

static void pipe_removed(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	rpc_client *c = arg;
	(void)ev;
	pthread_mutex_lock(&c->mu);
	int counted = untrack_locked(c, p), reported = 0;
	for (unsigned i = 0; !counted && i < RPC_CLIENT_DROPPED; i++)
		if (c->dropped[i] == (uint32_t)nng_pipe_id(p)) {
			c->dropped[i] = 0; /* rpc_client_close_dead counted and reported it */
			reported = 1;
			break;
		}
	if (!counted && !reported && c->untracked) {
		c->untracked--;
		atomic_fetch_sub(&c->connected, 1);
	}
	pthread_mutex_unlock(&c->mu);
	void (*fn)(void *) = atomic_load(&c->on_gone);
	if (fn && !reported)
		fn(c->gone_arg);
}

void rpc_client_on_disconnect(rpc_client *c, void (*fn)(void *arg), void *arg)
{
	c->gone_arg = arg;
	atomic_store(&c->on_gone, fn);
}

unsigned rpc_client_close_dead(rpc_client *c)
{
	if (c->local)
		return 0;
	nng_pipe open[RPC_CLIENT_PIPES];
	pthread_mutex_lock(&c->mu);
	unsigned n = c->npipes;
	memcpy(open, c->pipes, n * sizeof *open);
	pthread_mutex_unlock(&c->mu);
	/* asked without the lock: nng reports a connection gone (pipe_removed,
	 * which takes it) on its own thread; a pipe gone meanwhile answers
	 * NNG_ENOENT and is left alone, as is one whose transport has no
	 * address to give (NNG_ENOTSUP) */
	unsigned closed = 0;
	for (unsigned i = 0; i < n; i++) {
		nng_sockaddr sa;
		if (nng_pipe_get_addr(open[i], NNG_OPT_REMADDR, &sa) != NNG_ESYSERR + ENOTCONN ||
		    nng_pipe_close(open[i]) != 0)
			continue;
		/* counted gone now, and reported, unless nng has done so already:
		 * its report comes from one teardown thread, which an earlier
		 * teardown can keep waiting forever (docs/RESILIENCE.md); a
		 * client that waited for it would count the connection open, and
		 * never be given a new dialer (rpc_client_redial) */
		pthread_mutex_lock(&c->mu);
		int ours = untrack_locked(c, open[i]);
		if (ours) {
			c->dropped[c->ndropped] = (uint32_t)nng_pipe_id(open[i]);
			c->ndropped = (c->ndropped + 1) % RPC_CLIENT_DROPPED;
		}
		pthread_mutex_unlock(&c->mu);
		void (*fn)(void *) = atomic_load(&c->on_gone);
		if (ours && fn)
			fn(c->gone_arg);
		closed++;
	}
	return closed;
}

void rpc_client_connections(rpc_client *c, unsigned *now, uint64_t *made)
{
	if (c->local) {
		*now = local_present(c->url);
		*made = 1;
		return;
	}
	*now = atomic_load(&c->connected);
	*made = atomic_load(&c->connects);
}

int rpc_client_open(rpc_client **out, const char *url, const rpc_tls *tls, char *err, size_t errlen)
{
	*out = NULL;
	rpc_client *c = calloc(1, sizeof *c);
	if (!c)
		return TRAWL_ENOMEM;
	pthread_mutex_init(&c->mu, NULL);
	if (!strncmp(url, LOCAL_SCHEME, strlen(LOCAL_SCHEME))) {
		c->local = 1;
		if (!(c->url = strdup(url))) {
			pthread_mutex_destroy(&c->mu);
			free(c);
			return TRAWL_ENOMEM;
		}
		*out = c;
		return TRAWL_OK;
	}
	int rc = nng_req0_open(&c->sock);
	if (rc) {
		pthread_mutex_destroy(&c->mu);
		free(c);
		return fail(err, errlen, TRAWL_EIO, "socket for", url, rc);
	}
	nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, LIMIT_MESSAGE_BYTES);
	/* no automatic resend: the root retries on another replica itself */
	nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 50);
	nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 1000);
	/* before the dialer starts, so that no connection goes uncounted */
	nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_POST, pipe_added_client, c);
	nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, pipe_removed, c);
	if (!(c->url = strdup(url))) {
		nng_close(c->sock);
		pthread_mutex_destroy(&c->mu);
		free(c);
		return TRAWL_ENOMEM;
	}
	if ((rc = nng_dialer_create(&c->dialer, c->sock, url)) ||
	    (rc = tls_setup(&c->tls, url, tls, 0)) ||
	    (c->tls && (rc = nng_dialer_set_ptr(c->dialer, NNG_OPT_TLS_CONFIG, c->tls))) ||
	    (rc = nng_dialer_start(c->dialer, NNG_FLAG_NONBLOCK))) {
		int code = rc == NNG_EADDRINVAL || rc == NNG_ENOTSUP || rc == NNG_EINVAL
		               ? TRAWL_EINVAL
		               : TRAWL_EIO;
		fail(err, errlen, code, "dial", url, rc);
		nng_close(c->sock);
		if (c->tls)
			nng_tls_config_free(c->tls);
		pthread_mutex_destroy(&c->mu);
		free(c->url);
		free(c);
		return code;
	}
	*out = c;
	return TRAWL_OK;
}

int rpc_client_redial(rpc_client *c)
{
	/* a connection is never closed from here: closing one with a message
	 * half through can leave nng 1.5.2's transport waiting forever (the
	 * server's note above); a dialer without one has nothing to close */
	if (c->local || atomic_load(&c->connected))
		return TRAWL_EBUSY;
	/* the new dialer is made before the old one goes, so that a failure
	 * leaves the old one dialling */
	nng_dialer d = NNG_DIALER_INITIALIZER;
	if (nng_dialer_create(&d, c->sock, c->url))
		return TRAWL_EIO;
	if (c->tls && nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, c->tls)) {
		nng_dialer_close(d);
		return TRAWL_EIO;
	}
	nng_dialer_close(c->dialer);
	c->dialer = d;
	return nng_dialer_start(d, NNG_FLAG_NONBLOCK) ? TRAWL_EIO : TRAWL_OK;
}

void rpc_client_close(rpc_client *c)
{
	if (!c)
		return;
	if (!c->local)
		nng_close(c->sock);
	if (c->tls)
		nng_tls_config_free(c->tls);
	pthread_mutex_destroy(&c->mu);
	free(c->url);
	free(c);
}

/* The state of one call of a batch. */
typedef struct pending {
	rpc_call *call;
	struct rpc_batch *batch;
	nng_ctx ctx;
	nng_aio *aio;
	int sending;
	int has_ctx;
	atomic_int cancel; /* rpc_batch_cancel was called */
	uint64_t t0;       /* started (clock_mono_us) */
} pending;

struct rpc_batch {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned running;
	uint64_t finished; /* calls finished so far */
	uint64_t seen;     /* finished as of the last rpc_batch_wait */
	uint64_t target;   /* the waiter wants finished to reach this */
	pending **p;
	unsigned n, cap;
	nng_aio *send_aio; /* no callback: sends made from the caller's thread */
};

static void finish(pending *p, int rc)
{
	p->call->rc = rc;
	p->call->micros = clock_mono_us() - p->t0;
	pthread_mutex_lock(&p->batch->mu);
	p->call->done = 1;
	p->batch->running--;
	p->batch->finished++;
	/* wake the waiter only when what it waits for holds */
	if (p->batch->finished >= p->batch->target || p->batch->running == 0)
		pthread_cond_broadcast(&p->batch->cv);
	pthread_mutex_unlock(&p->batch->mu);
}

/* nng calls this when the send, then the receive, completes. */
static void call_cb(void *arg)
{
	pending *p = arg;
	int rc = nng_aio_result(p->aio);
	if (p->sending) {
		if (rc) {
			nng_msg_free(nng_aio_get_msg(p->aio));
			p->call->timed_out = rc == NNG_ETIMEDOUT || rc == NNG_ECANCELED;
			finish(p, TRAWL_EIO);
			return;
		}
		p->sending = 0;
		nng_ctx_recv(p->ctx, p->aio);
		/* a cancel that came while this callback ran found no operation
		 * to stop: the receive just posted is stopped here instead (either
		 * this load sees the flag, or the canceller's nng_aio_cancel came
		 * after the receive was posted and stopped it). Without this, a
		 * hedged-away call could run to its deadline and rpc_batch_free
		 * wait for it. */
		if (atomic_load(&p->cancel))
			nng_aio_cancel(p->aio);
		return;
	}
	if (rc) {
		p->call->timed_out = rc == NNG_ETIMEDOUT || rc == NNG_ECANCELED;
		finish(p, TRAWL_EIO);
		return;
	}
	nng_msg *m = nng_aio_get_msg(p->aio);
	size_t n = nng_msg_len(m);
	p->call->reply = malloc(n ? n : 1);
	if (!p->call->reply) {
		nng_msg_free(m);
		finish(p, TRAWL_ENOMEM);
		return;
	}
	memcpy(p->call->reply, nng_msg_body(m), n);
	p->call->reply_len = n;
	nng_msg_free(m);
	finish(p, TRAWL_OK);
}

rpc_batch *rpc_batch_new(void)
{
	rpc_batch *b = calloc(1, sizeof *b);
	if (!b)
		return NULL;
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv, NULL);
	return b;
}

int rpc_batch_start(rpc_batch *b, rpc_call *c, int timeout_ms)
{
	c->rc = TRAWL_EIO;
	c->timed_out = 0;
	c->reply = NULL;
	c->reply_len = 0;
	c->micros = 0;
	c->done = 1; /* until it is really running */
	c->internal = NULL;
	if (c->peer->local) {
		local_call(b, c);
		return TRAWL_OK;
	}
	if (b->n == b->cap) {
		unsigned nc = b->cap ? b->cap * 2 : 16;
		pending **np = realloc(b->p, nc * sizeof *np);
		if (!np)
			return TRAWL_ENOMEM;
		b->p = np;
		b->cap = nc;
	}
	pending *p = calloc(1, sizeof *p);
	if (!p)
		return TRAWL_ENOMEM;
	b->p[b->n++] = p;
	p->call = c;
	p->batch = b;
	p->sending = 1;
	p->t0 = clock_mono_us();
	nng_msg *m = NULL;
	if (nng_ctx_open(&p->ctx, c->peer->sock) != 0)
		return TRAWL_EIO;
	p->has_ctx = 1;
	if (nng_aio_alloc(&p->aio, call_cb, p) != 0 || nng_msg_alloc(&m, 0) != 0 ||
	    nng_msg_append(m, c->req, c->len) != 0) {
		if (m)
			nng_msg_free(m);
		return TRAWL_ENOMEM;
	}
	c->internal = p;
	nng_aio_set_timeout(p->aio, timeout_ms > 0 ? timeout_ms : 1);
	pthread_mutex_lock(&b->mu);
	b->running++;
	c->done = 0;
	pthread_mutex_unlock(&b->mu);
	/* A REQ context takes a request at once when a connection to the peer
	 * is ready: send it from this thread, with no wait allowed, so that
	 * only the reply goes through nng's threads. That spares a completion
	 * callback and a few thread hand-offs per call (about 20 us on this
	 * VM: bench/RESULTS.md, issue #4 figure 2). Without a ready connection
	 * the send fails at once, and goes through call_cb as before. */
	if (b->send_aio || nng_aio_alloc(&b->send_aio, NULL, NULL) == 0) {
		nng_aio_set_timeout(b->send_aio, NNG_DURATION_ZERO);
		nng_aio_set_msg(b->send_aio, m);
		nng_ctx_send(p->ctx, b->send_aio);
		nng_aio_wait(b->send_aio);
		if (nng_aio_result(b->send_aio) == 0) {
			p->sending = 0;
			nng_ctx_recv(p->ctx, p->aio);
			return TRAWL_OK;
		}
		/* a failed send leaves the message ours, with the request id REQ
		 * put in its header; the send below puts its own there */
		m = nng_aio_get_msg(b->send_aio);
		nng_aio_set_msg(b->send_aio, NULL);
		if (m)
			nng_msg_header_clear(m);
		if (!m && (nng_msg_alloc(&m, 0) != 0 || nng_msg_append(m, c->req, c->len) != 0)) {
			if (m)
				nng_msg_free(m);
			nng_aio_set_msg(p->aio, NULL);
			finish(p, TRAWL_ENOMEM);
			return TRAWL_ENOMEM; /* c has finished with that error */
		}
	}
	nng_aio_set_msg(p->aio, m);
	nng_ctx_send(p->ctx, p->aio);
	return TRAWL_OK;
}

/* A call to a local:// server, made and finished here (local calls,
 * above): TRAWL_EIO when no server has the URL, as a peer that is down. */
static void local_call(rpc_batch *b, rpc_call *c)
{
	uint64_t t0 = clock_mono_us();
	pthread_mutex_lock(&local_mu);
	rpc_server *s = local_find_locked(c->peer->url);
	if (s) {
		pthread_mutex_lock(&s->mu);
		s->lrun++;
		pthread_mutex_unlock(&s->mu);
	}
	pthread_mutex_unlock(&local_mu);
	if (s) {
		local_serve(s, c);
		pthread_mutex_lock(&s->mu);
		if (--s->lrun == 0)
			pthread_cond_broadcast(&s->rcv);
		pthread_mutex_unlock(&s->mu);
	}
	c->micros = clock_mono_us() - t0;
	pthread_mutex_lock(&b->mu);
	c->done = 1;
	b->finished++;
	pthread_mutex_unlock(&b->mu);
}

unsigned rpc_batch_wait(rpc_batch *b, unsigned n, int ms)
{
	struct timespec until;
	clock_after(&until, CLOCK_REALTIME, (uint64_t)(ms > 0 ? ms : 0));
	pthread_mutex_lock(&b->mu);
	b->target = b->seen + (n ? n : 1);
	while (b->running > 0 && b->finished < b->target)
		if (pthread_cond_timedwait(&b->cv, &b->mu, &until) != 0)
			break;
	b->target = 0; /* rpc_batch_free waits for running == 0 */
	b->seen = b->finished;
	unsigned left = b->running;
	pthread_mutex_unlock(&b->mu);
	return left;
}

void rpc_batch_cancel(rpc_batch *b, rpc_call *c)
{
	pending *p = c->internal;
	if (p && !c->done) {
		atomic_store(&p->cancel, 1);
		nng_aio_cancel(p->aio);
	}
}

void rpc_batch_free(rpc_batch *b)
{
	if (!b)
		return;
	for (unsigned i = 0; i < b->n; i++)
		if (b->p[i]->aio && !b->p[i]->call->done) {
			atomic_store(&b->p[i]->cancel, 1);
			nng_aio_cancel(b->p[i]->aio);
		}
	pthread_mutex_lock(&b->mu);
	while (b->running > 0)
		pthread_cond_wait(&b->cv, &b->mu);
	pthread_mutex_unlock(&b->mu);
	for (unsigned i = 0; i < b->n; i++) {
		if (b->p[i]->aio)
			nng_aio_free(b->p[i]->aio);
		if (b->p[i]->has_ctx)
			nng_ctx_close(b->p[i]->ctx);
		b->p[i]->call->internal = NULL;
		free(b->p[i]);
	}
	free(b->p);
	if (b->send_aio)
		nng_aio_free(b->send_aio);
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->cv);
	free(b);
}

void rpc_call_many(rpc_call *calls, unsigned n, int timeout_ms)
{
	rpc_batch *b = rpc_batch_new();
	for (unsigned i = 0; i < n; i++) {
		if (!b) {
			calls[i].rc = TRAWL_ENOMEM;
			calls[i].done = 1;
			continue;
		}
		rpc_batch_start(b, &calls[i], timeout_ms);
	}
	while (b && rpc_batch_wait(b, n, 60000) > 0)
		;
	rpc_batch_free(b);
}

void rpc_call_fini(rpc_call *c)
{
	free(c->reply);
	c->reply = NULL;
	c->reply_len = 0;
}

void rpc_fini(void)
{
	nng_fini();
}
