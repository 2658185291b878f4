/*
 * http.h - trawl's HTTP server boundary.
 *
 * The root's search API and each leaf's small health/metrics port are served
 * through this module; it is the only code that includes microhttpd.h
 * (libmicrohttpd 0.9.75, Debian 12). A server runs its own threads; every
 * request is parsed, checked against the limits in http_config and fully
 * buffered before the application's handler sees it, and the handler fills
 * in an http_response that the module sends. Requests that break a limit are
 * answered here with an OpenSearch-shaped JSON error and never reach the
 * handler:
 *
 *   {"error":{"type":"...","reason":"..."},"status":N}
 *
 * Caveats
 * - The handler runs on the server's event-loop threads, several at once:
 *   it must be thread-safe, and it must not block there (each loop serves
 *   many connections). Work that waits (a root's search waiting on leaves)
 *   is deferred: the handler calls http_response_defer, and is called again
 *   for the same request on one of the server's worker threads, with
 *   req->deferred set, where it may block. Meanwhile the connection is
 *   suspended and the loops serve the others. It must not call
 *   http_server_stop on its own server.
 * - The idle timeout is an inactivity timeout (libmicrohttpd has no deadline
 *   for a whole request): a client that trickles a byte every few seconds
 *   keeps its connection, bounded only by max_header_bytes, max_body_bytes
 *   and max_per_ip.
 * - Some limits are enforced by libmicrohttpd itself, which answers (or
 *   refuses) without this module's JSON; each limit below says what the
 *   client sees. Requests libmicrohttpd cannot parse (a malformed request
 *   line or Content-Length, for instance) also get its own small HTML 400
 *   and a closed connection; the handler never sees them. (0.9.75 sends the
 *   header block of its 400 for a malformed Content-Length twice: it
 *   builds the answer, then its state machine goes on and builds it again.)
 * - Ambiguous framing is refused with a 400 and a closed connection: two
 *   Content-Length or Transfer-Encoding headers, or a header name that is
 *   not a token (request smuggling; see bad_framing in http.c).
 * - No global state: any number of servers may run in one process.
 */
#ifndef TRAWL_COMMON_HTTP_H
#define TRAWL_COMMON_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"

/* Defaults for http_config's fields left 0; the limits among them are in
 * common/limits.h (LIMIT_HTTP_*). */
#define HTTP_DEFAULT_THREADS 2u
/* A thread's stack: glibc's default, which a leaf's worker threads have,
 * since a worker of trawl serve runs its leaf's searches itself (local
 * calls, common/rpc.c). Address space only: a stack's pages are taken as
 * they are touched. */
#define HTTP_THREAD_STACK ((size_t)8 << 20)

/*
 * http_config - where to listen and the limits. A field left 0 (or NULL)
 * takes its default; limits cannot be switched off. http_server_start
 * refuses (TRAWL_EINVAL) more than 256 threads, more than 1048576
 * connections and max_header_bytes outside 1 KiB..1 MiB.
 */
typedef struct http_config {
	/* Numeric address to bind: "127.0.0.1", "0.0.0.0", "::1", "::" ...
	 * (no host names). NULL: "127.0.0.1". */
	const char *bind;
	/* TCP port; 0 picks a free ephemeral port (see http_server_port). */
	uint16_t port;
	/* Threads serving connections (default 2). Each runs an epoll loop,
	 * so a handler that blocks holds up every connection of its thread. */
	unsigned threads;
	/* Worker threads for deferred requests (default 0: none, and a handler
	 * that defers gets a 503). At most 1024, each with a stack of
	 * HTTP_THREAD_STACK bytes. Deferred requests wait in a FIFO for a free
	 * worker; their number is bounded by max_connections (a connection
	 * has one request at a time). A deferred request's connection is not
	 * subject to the idle timeout while it waits. */
	unsigned workers;
	/* Worker threads for requests deferred with
	 * http_response_defer_background (default 0: they go to the ordinary
	 * workers). They run at nice LIMIT_WRITE_NICE, so that work that can
	 * wait (writes) does not keep a search's threads waiting for a core.
	 * At most 1024; none without workers. max_queue bounds their FIFO as
	 * the other's. */
	unsigned background_workers;
	/* Deferred requests let wait for a worker (default 0: as many as there
	 * are connections). One more is answered 429 at once, with a JSON
	 * error of type rejected_execution_exception and Retry-After: 1, on a
	 * connection kept open (http_stats.shed): a wait that grows with the
	 * load becomes an answer the client can act on. */
	unsigned max_queue;
	/* Connections served at once (default 1024). A margin of
	 * max_connections/16 more (at least 4) is accepted only to be answered
	 * 503 with a JSON error, Retry-After: 1 and Connection: close, which
	 * frees the slot at once. When even the margin is full, libmicrohttpd
	 * stops accepting: new connections wait, unanswered, in the kernel's
	 * listen queue (the client's connect succeeds) until a slot frees, by a
	 * 503, a finished request or the idle timeout. (libmicrohttpd divides
	 * the total, margin included, between its threads.) */
	unsigned max_connections;
	/* Connections open at once from one IP address (default 256). A further
	 * connection from that address closes the address's oldest connection
	 * that is still waiting for its request (common/connguard.h); when all
	 * of them are busy, the new one is closed at once (no response: the
	 * client reads EOF or ECONNRESET; counted in http_stats.refused). */
	unsigned max_per_ip;
	/* Seconds a connection may stay silent (default 10): while its request
	 * is being received, while idle between keep-alive requests, and while
	 * the client does not read the response. The connection is then closed
	 * without a response. */
	unsigned idle_timeout_s;
	/* Seconds to receive a request whole, line, headers and body (default
	 * 10), counted from the connection's opening or its previous answer,
	 * whatever the client's pace: a connection that misses it is closed
	 * without a response (http_stats.expired). A request received whole
	 * has no deadline here while it is handled. */
	unsigned request_timeout_s;
	/* Bytes of request line plus headers (default 16 KiB). Over it: 431 with
	 * a JSON error, then the connection is closed. libmicrohttpd's memory for
	 * each connection (MHD_OPTION_CONNECTION_MEMORY_LIMIT) is twice this: a
	 * request that exhausts even that (a request line or header block over
	 * about 2x the limit, or thousands of tiny headers) is refused by
	 * libmicrohttpd itself with an HTML 431 (414 when the request line
	 * alone is too long), then the connection is closed. */
	size_t max_header_bytes;
	/* Bytes of request body, after chunked decoding (default 1 MiB). A
	 * Content-Length over it is answered 413 at once, without reading the
	 * body or sending 100 Continue, then the connection is closed. A chunked
	 * body that grows past it is read and thrown away to its end and then
	 * answered 413, unless it runs past twice the limit: then the
	 * connection is closed without a response. */
	size_t max_body_bytes;
	/* A request's own body limit, asked once its headers are in (ctx is
	 * the handler's, path the decoded path without the query): 0 keeps
	 * max_body_bytes. A write endpoint takes larger bodies than a search
	 * (a _bulk request: LIMIT_BULK_BYTES). NULL: max_body_bytes for all.
	 * Called on the event loop: must not block. */
	size_t (*body_limit)(void *ctx, const char *method, const char *path);
	/* Where libmicrohttpd's messages go (connection refused, malformed
	 * request, bind failure), one line each, without a newline. NULL: to
	 * stderr prefixed "trawl http: ". May be called from any server thread,
	 * concurrently; msg is valid during the call. */
	void (*log)(void *log_ctx, const char *msg);
	void *log_ctx;
} http_config;

typedef struct http_server http_server;
typedef struct http_request http_request;
typedef struct http_response http_response;

/*
 * http_request - one request, fully received. It and everything it points to
 * are owned by the module and valid only during the handler call.
 */
struct http_request {
	const char *method;  /* "GET", "HEAD", "POST", "PUT" or "DELETE" */
	const char *path;    /* percent-decoded, without the query string */
	const char *query;   /* raw query string after '?', not decoded; "" if none */
	const uint8_t *body; /* body bytes, NUL-terminated (not counted); never NULL */
	size_t body_len;
	const char *client; /* client's numeric address, e.g. "127.0.0.1" */
	int deferred;       /* 0: on an event loop (must not block); 1: on a worker */
	void *impl;         /* the module's; do not touch */
};

/*
 * http_handler - the application's entry point, called once per request
 * that passed every limit. It fills resp with one of the setters below; a
 * handler that sets nothing (or whose setters failed) produces a 500 JSON
 * error. For HEAD requests the handler answers as for GET: the module sends
 * the headers (Content-Length included) without the body.
 */
typedef void (*http_handler)(void *ctx, const http_request *req, http_response *resp);

/*
 * http_server_start binds cfg->bind:cfg->port and starts serving with fn
 * (called with ctx). cfg may be NULL (all defaults). On success *out is
 * owned by the caller and released with http_server_stop. On failure *out
 * is NULL, the result is TRAWL_EINVAL (bad address or setting), TRAWL_ENOMEM
 * or TRAWL_EIO (cannot bind or start: the port is taken, for instance), and
 * a message naming the address and the reason is written to err (at most
 * errlen bytes, NUL-terminated; err may be NULL).
 */
int http_server_start(http_server **out, const http_config *cfg, http_handler fn, void *ctx,
                      char *err, size_t errlen);

/*
 * http_server_stop closes the listening socket and every open connection
 * (requests in progress are dropped, clients read EOF), waits for the
 * server's threads to finish, and frees s. Blocks until then, so it must
 * not be called from a handler. NULL is ignored.
 */
void http_server_stop(http_server *s);

/*
 * http_server_drain: from now on every response carries "Connection: close",
 * so that clients open their next request's connection afresh (to another
 * server, once a load balancer has taken this one out). Requests are still
 * answered as before. Thread-safe; called before http_server_stop when a
 * server is drained (root/api.h api_drain).
 */
void http_server_drain(http_server *s);

/* http_server_port returns the port s is bound to (the real one for port 0). */
uint16_t http_server_port(const http_server *s);

/*
 * http_stats - counters since start, for /metrics. Read without stopping the
 * server: each counter is exact, but they are read one after another.
 */
typedef struct http_stats {
	uint64_t requests;      /* requests received (headers complete) */
	uint64_t responses_2xx; /* responses queued, by class; includes the */
	uint64_t responses_3xx; /*   module's and libmicrohttpd's own errors */
	uint64_t responses_4xx;
	uint64_t responses_5xx;
	uint64_t rejected;          /* 413, 414, 431 and 503 answers for the limits */
	uint64_t shed;              /* 429 answers: the queue of deferred requests full */
	uint64_t refused;           /* connections closed on accept (max_per_ip) */
	uint64_t connections;       /* connections open now */
	uint64_t connections_total; /* connections accepted since start */
	uint64_t expired;           /* closed for not sending a request whole in time */
	uint64_t evicted;           /* closed, still waiting for a request, to make room */
} http_stats;

/* http_server_stats copies s's counters into *st. Thread-safe, never blocks. */
void http_server_stats(const http_server *s, http_stats *st);

/* http_query_param returns query parameter name, decoded ('+' and %XX), or
 * NULL if absent; "" for a name without '=' ("?pretty"). For a repeated
 * name, libmicrohttpd returns one of the values (the first, in 0.9.75). */
const char *http_query_param(const http_request *r, const char *name);

/* http_header returns request header name (case-insensitive), or NULL. */
const char *http_header(const http_request *r, const char *name);

/*
 * Response setters, for the handler only (resp is valid during its call).
 * Data is copied; a later body replaces an earlier one, headers accumulate.
 * They return TRAWL_OK, TRAWL_ENOMEM, TRAWL_EINVAL (status outside
 * 200..599; a header name that is empty or contains ':', CR or LF, or a
 * value with CR or LF) or TRAWL_ELIMIT (more than 8 KiB of extra headers).
 * On failure resp is unchanged; if no body is ever set, the client gets 500.
 */

/* http_response_json sets status and a body of Content-Type application/json. */
int http_response_json(http_response *resp, int status, const char *json, size_t len);

/* http_response_text sets status and a body of the given Content-Type. */
int http_response_text(http_response *resp, int status, const char *content_type, const void *data,
                       size_t len);

/*
 * http_response_defer: answer this request from a worker. The handler
 * returns without a body and is called again with req->deferred = 1 on a
 * worker thread, with the same request; that call must answer (it cannot
 * defer again: a request left without a body gets a 500). Ignored if a
 * body is set. Without workers (http_config.workers 0), or while the
 * server stops, the client gets a 503; when max_queue requests wait for a
 * worker already, a 429.
 */
int http_response_defer(http_response *resp);

/* http_response_defer_background: as http_response_defer, on a background
 * worker (http_config.background_workers; an ordinary one when there are
 * none). */
int http_response_defer_background(http_response *resp);

/* http_response_header adds a response header (Content-Type and
 * Content-Length are set by the body setters, not here). */
int http_response_header(http_response *resp, const char *name, const char *value);

/*
 * http_response_error sets status and an OpenSearch-style error body:
 * {"error":{"type":TYPE,"reason":REASON},"status":STATUS}, with REASON
 * formatted from fmt (truncated to 1 KiB) and both strings JSON-escaped.
 */
int http_response_error(http_response *resp, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
