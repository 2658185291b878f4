/*
 * rpc.h - the boundary to nng: request/reply between the root and the
 * leaves. Only rpc.c includes nng.h. Messages are opaque bytes here; their
 * layout is common/wire.h's business.
 *
 * Server: one nng REP socket listening on a URL (tcp://, ipc://, inproc://,
 * tls+tcp://) with a fixed set of contexts, each a per-request state
 * machine as in nng's async demo (receive, queue, work, send), and a pool
 * of worker threads that run the handler. Workers never wait for a send:
 * a peer that does not take its replies is cut off (rpc.c says when).
 * Client: one nng REQ socket per peer; each call uses its own context, so
 * many calls to one peer run at once. rpc_call_many sends a batch of calls
 * to different peers in parallel and waits for all of them or the deadline.
 */
#ifndef TRAWL_COMMON_RPC_H
#define TRAWL_COMMON_RPC_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/limits.h"

/* A server's contexts: one per worker, and LIMIT_RPC_QUEUE more for the
 * requests taken in and waiting for a worker (beyond them, requests wait in
 * the connection). A peer with LIMIT_RPC_UNSENT replies unread, or one
 * waiting LIMIT_RPC_SEND_MS, is cut off (common/limits.h says why). */
#define RPC_SLOTS(workers) ((workers) + LIMIT_RPC_QUEUE)

/* TLS files for tls+tcp:// (all may be NULL for other transports). */
typedef struct rpc_tls {
	const char *cert_file; /* PEM certificate (server: required; client: optional) */
	const char *key_file;  /* PEM private key of cert_file */
	const char *ca_file;   /* PEM CA bundle to verify the peer; NULL: no verification */
} rpc_tls;

/* ---- server ---- */

/*
 * A handler answers one request: req (len bytes) in, reply appended to out
 * (empty on entry). worker is 0..workers-1 (per-worker state lives with the
 * caller). Called from the pool's threads, many at once.
 */
typedef void (*rpc_handler)(void *ctx, unsigned worker, const uint8_t *req, size_t len, tbuf *out);

/*
 * An express predicate says whether a request is a cheap one that must not
 * wait behind others (a health check): 1 for such a request. A server
 * given one keeps a reserve worker, numbered `workers`, that takes only
 * those, so that a ping is answered in microseconds however long the
 * queue of searches (issue #13: pings that queued behind a flood of
 * searches timed out and got a healthy replica ejected). The handler is
 * then called with worker == workers for a request it called express,
 * and only for one. Ordinary workers take express requests too, in turn.
 */
typedef int (*rpc_express)(const uint8_t *req, size_t len);

/*
 * Overload (issue #13, deliverable 4): a server given a cost function
 * and a refuse function keeps at most max_queue requests of nonzero cost
 * (sheddable ones: searches) waiting for a worker. When one more comes,
 * one of them or it is refused at once, on nng's thread, with the reply
 * refuse writes to out (an overload error the requester can decode): a
 * full queue answers in microseconds instead of growing a wait no deadline
 * can meet. The request refused is the costliest; among equals, one of
 * the connection with the most of them waiting, its newest (the one that
 * came, when it ties): expensive requests are refused before cheap ones,
 * and a connection sending a flood before one that sends a request now
 * and then. Requests of cost 0 (fetches of searches already admitted,
 * pings) are never refused for overload. After a refusal the server is
 * overloaded for overload_ms, each refusal starting it again, and lets
 * only half of max_queue wait meanwhile: the whole queue takes a burst in,
 * half of it bounds the wait of what is admitted under a steady overload.
 */
typedef unsigned (*rpc_cost)(const uint8_t *req, size_t len);
typedef void (*rpc_refuse)(void *ctx, const uint8_t *req, size_t len, tbuf *out);
/* The Unix time (microseconds) after which a request's sender no longer
 * waits for its reply, 0 for none: a full queue refuses such a request
 * first, whatever its cost (it is dead work: a replica that wakes from a
 * freeze finds its queue full of searches its roots gave up on). */
typedef uint64_t (*rpc_deadline)(const uint8_t *req, size_t len);

typedef struct rpc_server rpc_server;

/* How a server serves. */
typedef struct rpc_server_opts {
	const rpc_tls *tls;  /* may be NULL */
	unsigned workers;    /* worker threads, 1..LIMIT_RPC_WORKERS */
	rpc_express express; /* may be NULL: no reserve worker */
	size_t max_request;  /* bytes of a request; larger ones are refused on receipt,
	                        their connection closed (0: LIMIT_MESSAGE_BYTES) */
	rpc_cost cost;       /* may be NULL (with refuse): nothing refused for overload */
	rpc_refuse refuse;
	unsigned max_queue;    /* requests of nonzero cost let wait for a worker,
	                          1..LIMIT_RPC_MAX_QUEUE (0 with cost set: EINVAL);
	                          half of them (rounded up) while overloaded */
	unsigned overload_ms;  /* overloaded for this long after a refusal
	                          (0: LIMIT_RPC_OVERLOAD_MS) */
	rpc_deadline deadline; /* may be NULL: no request is known to be dead */
} rpc_server_opts;

/*
 * rpc_server_start listens on url and starts o->workers threads, and the
 * reserve worker when o->express is not NULL. Returns TRAWL_OK, or
 * TRAWL_EIO / TRAWL_EINVAL with err naming the URL and nng's reason. The
 * server owns nothing of the caller's but ctx's use (o is read at once).
 */
int rpc_server_start(rpc_server **out, const char *url, const rpc_server_opts *o, rpc_handler fn,
                     void *ctx, char *err, size_t errlen);

/* rpc_server_busy: requests being handled right now (0 for NULL). */
unsigned rpc_server_busy(const rpc_server *s);

/* rpc_server_queued: requests taken in and waiting for a worker (0 for
 * NULL). */
unsigned rpc_server_queued(rpc_server *s);

/* rpc_server_shed: requests refused for overload so far (0 for NULL). */
uint64_t rpc_server_shed(const rpc_server *s);

/* rpc_server_cut: peers cut off so far (for not taking their replies, or by
 * rpc_request_cut_peer). */
uint64_t rpc_server_cut(const rpc_server *s);

/* rpc_server_refused: connections closed as they came, over
 * LIMIT_RPC_CONNECTIONS or LIMIT_RPC_PER_ADDRESS (0 for NULL). */
uint64_t rpc_server_refused(const rpc_server *s);

/*
 * While a handler runs, its thread may ask about the request in hand:
 * rpc_request_peer returns the id of the connection it came on (nonzero;
 * 0 outside a handler) and, when addr is not NULL, writes the peer's
 * address ("10.0.0.5:41234", or "" when the transport has none) to addr.
 * rpc_request_cut_peer cuts that connection off as a peer that does not
 * read its replies is cut off: no reply to this request, and its later
 * requests are dropped unanswered until it disconnects (for a peer that
 * keeps sending what the handler refuses).
 */
uint32_t rpc_request_peer(char *addr, size_t addrlen);
void rpc_request_cut_peer(void);

/* rpc_server_stop joins the workers (each finishes the request it is
 * handling), then closes the socket; requests still queued are dropped. */
void rpc_server_stop(rpc_server *s);

/*
 * rpc_url_loopback: 1 if a listener on url is reachable from this machine
 * only: inproc:// and ipc://, or a tcp:// (tls+tcp://, ...) URL whose host
 * is a loopback address (127.0.0.0/8, ::1) or a name that resolves to
 * loopback addresses only (localhost); 0 for anything else, including a
 * wildcard host (0.0.0.0, ::, *, none) and a name that does not resolve.
 * For the warning a service prints when it listens beyond loopback without
 * TLS. May block on name resolution.
 */
int rpc_url_loopback(const char *url);

/* ---- client ---- */

typedef struct rpc_client rpc_client;

/*
 * rpc_client_open dials url (non-blocking: connects in the background and
 * reconnects forever). Owned by the caller.
 */
int rpc_client_open(rpc_client **out, const char *url, const rpc_tls *tls, char *err,
                    size_t errlen);
void rpc_client_close(rpc_client *c);

/* rpc_client_redial replaces c's dialer with a new one, which dials in the
 * background as rpc_client_open's does, when c has no connection open
 * (TRAWL_EBUSY if it has one: it is left alone): for a peer unreachable
 * for a while, in case the dialer is what is stuck. Not concurrently with
 * itself or rpc_client_close. */
int rpc_client_redial(rpc_client *c);

/* rpc_client_close_dead closes c's connections whose TCP connection has
 * ended although nng still counts them open, and returns how many it
 * closed. nng 1.5.2's TLS layer can miss the end of a connection: when the
 * peer's last reply and its FIN arrive together, and the FIN is read while
 * no receive is waiting above it, the layer shuts the TCP connection down
 * and then leaves every later receive and send waiting forever, so the
 * connection is never reported gone and never dialled again (2 of about 85
 * peers killed just after a reply, on a loaded machine). Such a connection
 * is known by its socket: the kernel says it is no longer connected
 * (getpeername: ENOTCONN). A connection still established, however long
 * silent (a link cut: TCP retransmits), is left alone. A connection
 * closed here counts as gone at once, and is reported to
 * rpc_client_on_disconnect's fn (once, whether nng reports it later or
 * never: its reports come from one teardown thread, which can stay stuck
 * on an earlier teardown). Cheap (one system call per connection); call
 * it when the peer has gone silent. */
unsigned rpc_client_close_dead(rpc_client *c);

/* rpc_client_on_disconnect: fn(arg) runs (on an nng thread) whenever a
 * connection to the peer is lost, e.g. because its process died. */
void rpc_client_on_disconnect(rpc_client *c, void (*fn)(void *arg), void *arg);

/* rpc_client_connections: the connections to the peer open now (*now: 0 or
 * 1, while nng redials) and made since rpc_client_open (*made). */
void rpc_client_connections(rpc_client *c, unsigned *now, uint64_t *made);

/* One call of a batch: set peer and req before rpc_call_many; it fills rc
 * (TRAWL_OK; TRAWL_EIO for a transport error or a call that timed out at
 * the deadline or was cancelled, which also sets timed_out; TRAWL_ENOMEM),
 * the reply (owned by the call: free with rpc_call_fini) and the elapsed
 * microseconds. */
typedef struct rpc_call {
	rpc_client *peer;
	const uint8_t *req;
	size_t len;
	int rc;
	int timed_out;
	uint8_t *reply;
	size_t reply_len;
	uint64_t micros;
	volatile int done;
	void *internal;
} rpc_call;

/*
 * rpc_call_many sends every call at once and waits until each has a reply,
 * failed, or timeout_ms passed (the calls still pending then are cancelled:
 * rc TRAWL_EIO with timed_out set). Blocks the calling thread.
 */
void rpc_call_many(rpc_call *calls, unsigned n, int timeout_ms);

/*
 * A batch starts calls one by one and lets the caller react as each one
 * finishes: the basis of hedged requests. Calls belong to the caller and
 * must outlive the batch; one thread uses a batch.
 */
typedef struct rpc_batch rpc_batch;

rpc_batch *rpc_batch_new(void);

/* rpc_batch_start sends c (peer, req, len set) with a timeout; c->done is 0
 * until it finishes. Returns TRAWL_OK, or TRAWL_ENOMEM / TRAWL_EIO when c
 * could not be started (c is then done, with rc set). */
int rpc_batch_start(rpc_batch *b, rpc_call *c, int timeout_ms);

/* rpc_batch_wait blocks until n calls have finished since it last returned
 * (n = 1: any one), every call has, or ms pass; returns the number of calls
 * still running. The waiting thread is woken once, when that holds: each
 * wake-up of a sleeping thread costs tens of microseconds on a small VM, so
 * a caller that needs all of k answers asks for k, not for one k times. */
unsigned rpc_batch_wait(rpc_batch *b, unsigned n, int ms);

/* rpc_batch_cancel stops c if it is still running (it finishes with
 * TRAWL_EIO and timed_out set). */
void rpc_batch_cancel(rpc_batch *b, rpc_call *c);

/* rpc_batch_free cancels the calls still running, waits for them, frees b. */
void rpc_batch_free(rpc_batch *b);

/* rpc_call_fini frees a call's reply. */
void rpc_call_fini(rpc_call *c);

/* rpc_fini waits for nng to finish tearing down closed sockets and frees
 * its global state (nng_fini), so that a leak checker at exit sees no
 * connection half torn down. Call it last, with every server and client
 * stopped and closed; no rpc call may follow. */
void rpc_fini(void);

#endif
