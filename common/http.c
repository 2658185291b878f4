/*
 * http.c - trawl's HTTP server boundary on libmicrohttpd (see http.h).
 *
 * This is the only file that includes microhttpd.h. A server is one
 * libmicrohttpd daemon with an internal epoll thread pool. Each request gets a
 * small state (req_state) from the URI callback, which also keeps the raw URI
 * for the query string; the access callback is called by libmicrohttpd once
 * when the headers are complete (the limits are checked there), once per
 * piece of body (buffered into a bounded tbuf), and once more at the end,
 * when the application's handler runs and its http_response is queued. The
 * completion callback frees the state, whatever happened to the request.
 *
 * Deferred requests: a handler that would block (a root's search waiting
 * on its leaves) asks for a worker with http_response_defer. The connection
 * is then suspended (libmicrohttpd stops polling it), the request goes on a
 * queue that the server's worker threads take from, a worker calls the
 * handler again and keeps its response in the request's state, and resumes
 * the connection; libmicrohttpd then calls the access callback once more,
 * on the event loop, which queues that response. Event loops therefore
 * never wait, and a request costs a thread handoff only when it must wait.
 *
 * Counters are C11 atomics with relaxed ordering: they are statistics, not
 * synchronisation. A few of them (connections refused on accept, and the
 * error responses that libmicrohttpd sends itself) are only visible through
 * libmicrohttpd's log messages, so they are counted by matching those.
 */
#include "http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "buf.h"
#include "common/clock.h"
#include "common/connguard.h"
#include "common/error.h"
#include "common/limits.h"
#include "trawl/trawl.h"

#define JSON_TYPE "application/json; charset=UTF-8"
#define ALLOWED_METHODS "GET, HEAD, POST, PUT, DELETE"
#define MAX_RESPONSE_HEADER_BYTES (8u << 10)
#define MAX_REASON_BYTES 1024u
#define MAX_THREADS 256u
#define MAX_WORKERS 1024u
#define MAX_CONNECTIONS_LIMIT (1u << 20)
#define MIN_HEADER_BYTES ((size_t)1 << 10)
#define MAX_HEADER_BYTES_LIMIT ((size_t)1 << 20)

typedef struct req_state req_state;

/* A FIFO of deferred requests and the workers that take from it: the
 * ordinary lane, and the background lane (http_response_defer_background)
 * whose workers run at a low CPU priority (LIMIT_WRITE_NICE). */
typedef struct lane {
	struct http_server *s;
	req_state *head, *tail;
	unsigned queued; /* in the FIFO */
	pthread_cond_t cv;
	unsigned nworkers;
	pthread_t *workers;
	int idle; /* the background lane: its workers run at LIMIT_WRITE_NICE */
} lane;

enum { LANE_ORDINARY = 0, LANE_BACKGROUND, LANES };

struct http_server {
	struct MHD_Daemon *daemon;
	http_handler fn;
	void *ctx;
	/* deferred requests: a FIFO of req_states per lane, taken by its
	 * workers (mu guards both lanes' FIFOs and stopping) */
	pthread_mutex_t mu;
	lane lanes[LANES];
	unsigned max_queue; /* a lane's FIFO's bound (0: none) */
	int stopping;
	atomic_int draining; /* http_server_drain: every response closes its connection */
	void (*log)(void *log_ctx, const char *msg);
	void *log_ctx;
	unsigned max_connections; /* soft: above it, 503 */
	size_t max_header_bytes;
	size_t max_body_bytes;
	size_t (*body_limit)(void *ctx, const char *method, const char *path);
	uint16_t port;
	/* Messages logged by the starting thread while MHD_start_daemon runs,
	 * to explain a failure. Only that thread writes or reads it. */
	pthread_t start_thread;
	atomic_int starting;
	char start_err[256];

	atomic_uint_fast64_t requests;
	atomic_uint_fast64_t by_class[6]; /* index status / 100; 0 unused */
	atomic_uint_fast64_t rejected;
	atomic_uint_fast64_t shed;
	atomic_uint_fast64_t refused;
	atomic_uint_fast64_t connections;
	atomic_uint_fast64_t connections_total;
	/* which connections keep their slot (connguard.h), and its clock */
	guard *guard;
	pthread_t ticker;
	int ticking;
	atomic_int ticker_stop;
};

struct http_response {
	int status;     /* 0: nothing set yet */
	int defer;      /* http_response_defer was called */
	int background; /* ...as http_response_defer_background */
	char *body;     /* malloc'd, handed to libmicrohttpd */
	size_t len;
	char *content_type;
	tbuf headers; /* "name\0value\0" pairs */
};

/* Where a request stands with respect to deferral. */
enum { REQ_LOOP = 0, REQ_DEFERRED, REQ_ANSWERED };

/* One request's state, from the URI callback to the completion callback. */
struct req_state {
	struct MHD_Connection *conn;
	char *uri;        /* raw request target, owned; NULL if unknown */
	int started;      /* the headers-complete call has been made */
	int too_large;    /* a chunked body went over max_body */
	size_t discarded; /* body bytes thrown away since then */
	size_t max_body;  /* this request's body limit (http_config.body_limit) */
	tbuf body;
	char client[INET6_ADDRSTRLEN];
	/* deferral: the request as the handler saw it (url and method point
	 * into libmicrohttpd's connection, valid until the request completes),
	 * the worker's response, and the queue link */
	int phase; /* REQ_LOOP, REQ_DEFERRED (queued or on a worker), REQ_ANSWERED */
	const char *url, *method;
	http_response resp;
	req_state *next;
};

/* ------------------------------------------------------------------ */
/* JSON strings                                                        */
/* ------------------------------------------------------------------ */

/* utf8_len returns the length of the valid UTF-8 sequence at s (at most n
 * bytes), or 0 if there is none (overlong forms and surrogates included). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xBF;
	size_t len;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else
		return 0;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return len;
}

/* json_string appends s as a quoted JSON string; invalid UTF-8 becomes
 * U+FFFD, so the output is always valid JSON. */
static int json_string(tbuf *b, const char *str, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	int rc = tbuf_putc(b, '"');
	for (size_t i = 0; i < n && rc == TRAWL_OK;) {
		unsigned char c = s[i];
		if (c >= 0x80) {
			size_t len = utf8_len(s + i, n - i);
			if (len) {
				rc = tbuf_append(b, s + i, len);
				i += len;
			} else {
				rc = tbuf_append(b, "\\ufffd", 6);
				i++;
			}
			continue;
		}
		i++;
		switch (c) {
		case '"':
			rc = tbuf_append(b, "\\\"", 2);
			break;
		case '\\':
			rc = tbuf_append(b, "\\\\", 2);
			break;
		case '\n':
			rc = tbuf_append(b, "\\n", 2);
			break;
		case '\r':
			rc = tbuf_append(b, "\\r", 2);
			break;
		case '\t':
			rc = tbuf_append(b, "\\t", 2);
			break;
		default:
			if (c < 0x20 || c == 0x7F) {
				char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
				rc = tbuf_append(b, u, sizeof u);
			} else
				rc = tbuf_putc(b, c);
		}
	}
	if (rc == TRAWL_OK)
		rc = tbuf_putc(b, '"');
	return rc;
}

/* error_body formats {"error":{"type":..,"reason":..},"status":N} into b. */
static int error_body(tbuf *b, int status, const char *type, const char *reason)
{
	int rc = tbuf_append(b, "{\"error\":{\"type\":", 17);
	if (rc == TRAWL_OK)
		rc = json_string(b, type, strlen(type));
	if (rc == TRAWL_OK)
		rc = tbuf_append(b, ",\"reason\":", 10);
	if (rc == TRAWL_OK)
		rc = json_string(b, reason, strlen(reason));
	if (rc == TRAWL_OK)
		rc = tbuf_printf(b, "},\"status\":%d}", status);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Responses                                                           */
/* ------------------------------------------------------------------ */

static int bad_header_text(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

static int set_body(http_response *resp, int status, const char *ctype, const void *data,
                    size_t len)
{
	if (status < 200 || status > 599 || !ctype || !*ctype || bad_header_text(ctype) ||
	    (!data && len))
		return TRAWL_EINVAL;
	char *body = malloc(len ? len : 1);
	char *ct = strdup(ctype);
	if (!body || !ct) {
		free(body);
		free(ct);
		return TRAWL_ENOMEM;
	}
	if (len)
		memcpy(body, data, len);
	free(resp->body);
	free(resp->content_type);
	resp->body = body;
	resp->len = len;
	resp->content_type = ct;
	resp->status = status;
	return TRAWL_OK;
}

int http_response_json(http_response *resp, int status, const char *json, size_t len)
{
	return set_body(resp, status, JSON_TYPE, json, len);
}

int http_response_text(http_response *resp, int status, const char *content_type, const void *data,
                       size_t len)
{
	return set_body(resp, status, content_type, data, len);
}

int http_response_header(http_response *resp, const char *name, const char *value)
{
	if (!name || !value || !*name || bad_header_text(name) || bad_header_text(value) ||
	    strchr(name, ':') || !strcasecmp(name, MHD_HTTP_HEADER_CONTENT_TYPE) ||
	    !strcasecmp(name, MHD_HTTP_HEADER_CONTENT_LENGTH))
		return TRAWL_EINVAL;
	size_t nl = strlen(name) + 1, vl = strlen(value) + 1;
	size_t before = resp->headers.len;
	int rc = tbuf_append(&resp->headers, name, nl);
	if (rc == TRAWL_OK)
		rc = tbuf_append(&resp->headers, value, vl);
	if (rc != TRAWL_OK)
		resp->headers.len = before;
	return rc;
}

int http_response_error(http_response *resp, int status, const char *type, const char *fmt, ...)
{
	if (status < 200 || status > 599 || !type || !fmt)
		return TRAWL_EINVAL;
	char reason[MAX_REASON_BYTES];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	if (n < 0)
		reason[0] = '\0';
	tbuf b;
	tbuf_init(&b, 64 + 6 * (strlen(type) + sizeof reason));
	int rc = error_body(&b, status, type, reason);
	if (rc == TRAWL_OK)
		rc = set_body(resp, status, JSON_TYPE, b.data, b.len);
	tbuf_fini(&b);
	return rc;
}

int http_response_defer(http_response *resp)
{
	resp->defer = 1;
	return TRAWL_OK;
}

int http_response_defer_background(http_response *resp)
{
	resp->defer = 1;
	resp->background = 1;
	return TRAWL_OK;
}

static void response_init(http_response *resp)
{
	memset(resp, 0, sizeof *resp);
	tbuf_init(&resp->headers, MAX_RESPONSE_HEADER_BYTES);
}

static void response_fini(http_response *resp)
{
	free(resp->body);
	free(resp->content_type);
	tbuf_fini(&resp->headers);
}

static void count_status(http_server *s, unsigned status)
{
	if (status >= 100 && status <= 599)
		atomic_fetch_add_explicit(&s->by_class[status / 100], 1, memory_order_relaxed);
}

/*
 * send_response hands resp to libmicrohttpd (the body's ownership moves to
 * it) and queues it on c. close_after adds "Connection: close".
 */
static enum MHD_Result send_response(http_server *s, struct MHD_Connection *c, http_response *resp,
                                     int close_after)
{
	struct MHD_Response *r;
	if (resp->len)
		r = MHD_create_response_from_buffer(resp->len, resp->body, MHD_RESPMEM_MUST_FREE);
	else
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	if (resp->len)
		resp->body = NULL; /* now libmicrohttpd's */
	int ok =
	    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type) == MHD_YES;
	for (size_t off = 0; ok && off < resp->headers.len;) {
		const char *name = (const char *)resp->headers.data + off;
		const char *value = name + strlen(name) + 1;
		off += strlen(name) + strlen(value) + 2;
		ok = MHD_add_response_header(r, name, value) == MHD_YES;
	}
	if (ok && close_after)
		ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close") == MHD_YES;
	enum MHD_Result q = MHD_NO;
	if (ok)
		q = MHD_queue_response(c, (unsigned)resp->status, r);
	MHD_destroy_response(r);
	if (q == MHD_YES)
		count_status(s, (unsigned)resp->status);
	return q;
}

/*
 * reject answers a request the module refuses (the handler never sees it)
 * with a JSON error and closes the connection afterwards. limit: count it in
 * http_stats.rejected.
 */
static enum MHD_Result reject(http_server *s, struct MHD_Connection *c, int status,
                              const char *type, int limit, const char *extra_name,
                              const char *extra_value, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));

static enum MHD_Result reject(http_server *s, struct MHD_Connection *c, int status,
                              const char *type, int limit, const char *extra_name,
                              const char *extra_value, const char *fmt, ...)
{
	char reason[MAX_REASON_BYTES];
	va_list ap;
	va_start(ap, fmt);
	verrf(reason, sizeof reason, 0, fmt, ap);
	va_end(ap);
	http_response resp;
	response_init(&resp);
	int rc = http_response_error(&resp, status, type, "%s", reason);
	if (rc == TRAWL_OK && extra_name)
		rc = http_response_header(&resp, extra_name, extra_value);
	enum MHD_Result q = MHD_NO;
	if (rc == TRAWL_OK)
		q = send_response(s, c, &resp, 1);
	response_fini(&resp);
	if (q == MHD_YES && limit)
		atomic_fetch_add_explicit(&s->rejected, 1, memory_order_relaxed);
	return q;
}

/* overloaded answers a request that would wait behind `queued` others
 * (http_config.max_queue) with a 429, keeping the connection. */
static enum MHD_Result overloaded(http_server *s, struct MHD_Connection *c, unsigned queued,
                                  unsigned workers)
{
	http_response resp;
	response_init(&resp);
	int rc = http_response_error(&resp, 429, "rejected_execution_exception",
	                             "%u requests are waiting for the server's %u workers, the "
	                             "most it lets wait: try again later",
	                             queued, workers);
	if (rc == TRAWL_OK)
		rc = http_response_header(&resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	enum MHD_Result q =
	    rc == TRAWL_OK ? send_response(s, c, &resp, atomic_load(&s->draining)) : MHD_NO;
	response_fini(&resp);
	if (q == MHD_YES)
		atomic_fetch_add_explicit(&s->shed, 1, memory_order_relaxed);
	return q;
}

/* ------------------------------------------------------------------ */
/* The request target                                                  */
/* ------------------------------------------------------------------ */

static int hex_digit(int ch)
{
	return ch >= '0' && ch <= '9'   ? ch - '0'
	       : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
	       : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
	                                : -1;
}

/*
 * decode_part percent-decodes s[0..n) into out (cap bytes; '+' is a space
 * when plus is set, as in a query string) and checks what it decodes to.
 * Returns the decoded length, or -1 with why set: a malformed escape, a NUL
 * (which a C string would silently end at: "abc%00def" was searched as
 * "abc"), invalid UTF-8 ("/doc/%FF" was a 500), or more than cap bytes.
 */
static long decode_part(const char *s, size_t n, int plus, char *out, size_t cap, const char *what,
                        char *why, size_t whylen)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int ch = (unsigned char)s[i];
		if (ch == '%') {
			int hi = i + 2 < n ? hex_digit(s[i + 1]) : -1;
			int lo = i + 2 < n ? hex_digit(s[i + 2]) : -1;
			if (hi < 0 || lo < 0)
				return snprintf(why, whylen,
				                "%s: '%%' is not followed by two hex digits", what),
				       -1;
			ch = hi * 16 + lo;
			i += 2;
		} else if (ch == '+' && plus) {
			ch = ' ';
		}
		if (ch == 0)
			return snprintf(why, whylen, "%s contains a NUL byte (%%00)", what), -1;
		if (o == cap)
			return snprintf(why, whylen, "%s is over %zu bytes", what, cap), -1;
		out[o++] = (char)ch;
	}
	for (size_t i = 0; i < o;) {
		size_t k = (unsigned char)out[i] < 0x80
		               ? 1
		               : utf8_len((const unsigned char *)out + i, o - i);
		if (!k)
			return snprintf(why, whylen, "%s is not valid UTF-8 (byte %zu)", what,
			                i + 1),
			       -1;
		i += k;
	}
	return (long)o;
}

/*
 * check_target checks the raw request target (path, then the query string
 * after '?'): every percent-escape well formed, nothing that decodes to a
 * NUL or to invalid UTF-8, every query parameter with a name, no parameter
 * twice, at most LIMIT_HTTP_PARAMS of them. A handler then never sees a value cut
 * short, nor has to choose between two. Returns 0, or -1 with why set.
 */
static int check_target(const char *uri, char *why, size_t whylen)
{
	size_t n = strlen(uri), plen = strcspn(uri, "?");
	char *buf = malloc(n + 1);
	char names[LIMIT_HTTP_PARAMS][LIMIT_HTTP_PARAM_NAME_BYTES + 1];
	unsigned nnames = 0;
	int rc = buf ? 0 : (snprintf(why, whylen, "out of memory"), -1);
	if (!rc && decode_part(uri, plen, 0, buf, n, "the path", why, whylen) < 0)
		rc = -1;
	const char *q = uri[plen] == '?' ? uri + plen + 1 : uri + plen;
	while (!rc && *q) {
		size_t seg = strcspn(q, "&"), nl = strcspn(q, "=&");
		if (nl > seg)
			nl = seg;
		if (seg && !nl) {
			rc = (snprintf(why, whylen, "a query parameter has no name (\"%.*s\")",
			               (int)(seg > 32 ? 32 : seg), q),
			      -1);
		} else if (seg && nnames == LIMIT_HTTP_PARAMS) {
			rc = (snprintf(why, whylen, "more than %d query parameters",
			               LIMIT_HTTP_PARAMS),
			      -1);
		} else if (seg) {
			char *name = names[nnames];
			long len = decode_part(q, nl, 1, name, LIMIT_HTTP_PARAM_NAME_BYTES,
			                       "a query parameter's name", why, whylen);
			if (len < 0) {
				rc = -1;
				break;
			}
			name[len] = 0;
			for (unsigned i = 0; i < nnames && !rc; i++)
				if (!strcmp(names[i], name))
					rc = (snprintf(why, whylen,
					               "query parameter \"%s\" is given twice",
					               name),
					      -1);
			nnames++;
			char what[LIMIT_HTTP_PARAM_NAME_BYTES + 32];
			snprintf(what, sizeof what, "query parameter \"%s\"", name);
			if (!rc && nl < seg &&
			    decode_part(q + nl + 1, seg - nl - 1, 1, buf, n, what, why, whylen) < 0)
				rc = -1;
		}
		q += seg;
		if (*q == '&')
			q++;
	}
	free(buf);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

const char *http_query_param(const http_request *r, const char *name)
{
	const req_state *st = r->impl;
	const char *value = NULL;
	if (MHD_lookup_connection_value_n(st->conn, MHD_GET_ARGUMENT_KIND, name, strlen(name),
	                                  &value, NULL) != MHD_YES)
		return NULL;
	return value ? value : ""; /* "?pretty": present, without a value */
}

const char *http_header(const http_request *r, const char *name)
{
	const req_state *st = r->impl;
	return MHD_lookup_connection_value(st->conn, MHD_HEADER_KIND, name);
}

static void response_init(http_response *resp);
static void response_fini(http_response *resp);

static req_state *req_alloc(http_server *s, const char *uri)
{
	req_state *st = calloc(1, sizeof *st);
	if (!st)
		return NULL;
	if (uri && !(st->uri = strdup(uri))) {
		free(st);
		return NULL;
	}
	st->max_body = s->max_body_bytes;
	tbuf_init(&st->body, st->max_body);
	response_init(&st->resp);
	return st;
}

static void req_free(req_state *st)
{
	if (!st)
		return;
	tbuf_fini(&st->body);
	response_fini(&st->resp);
	free(st->uri);
	free(st);
}

/* on_uri: libmicrohttpd has parsed the request line; keep the raw target.
 * Its result becomes the request's *con_cls, freed by on_completed. */
static guard_conn *guarded(struct MHD_Connection *c);

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	(void)c;
	return req_alloc(cls, uri);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	http_server *s = cls;
	(void)toe;
	guard_waiting(s->guard, guarded(c)); /* for its next request, with a new deadline */
	req_free(*con_cls);
	*con_cls = NULL;
}

static void client_address(struct MHD_Connection *c, char *out, size_t outlen);

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
	http_server *s = cls;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		char addr[INET6_ADDRSTRLEN];
		client_address(c, addr, sizeof addr);
		/* NULL (no memory, or refused: the guard has shut it down): the
		 * connection goes on unguarded, or ends at once */
		*socket_context = ci ? guard_open(s->guard, ci->connect_fd, addr) : NULL;
		/* counted once the guard knows it: a test that sees n connections
		 * knows the guard's order of them */
		atomic_fetch_add_explicit(&s->connections, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&s->connections_total, 1, memory_order_relaxed);
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		/* before libmicrohttpd closes the descriptor (connguard.h) */
		guard_close(s->guard, *socket_context);
		*socket_context = NULL;
		atomic_fetch_sub_explicit(&s->connections, 1, memory_order_relaxed);
	}
}

/* The guard's record of connection c (NULL: unguarded). */
static guard_conn *guarded(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

/* Closes the connections that missed their deadline, ten times a second. */
static void *ticker_main(void *arg)
{
	http_server *s = arg;
	while (!atomic_load(&s->ticker_stop)) {
		guard_tick(s->guard);
		usleep(100 * 1000);
	}
	return NULL;
}

static int method_allowed(const char *m)
{
	static const char *const ok[] = {MHD_HTTP_METHOD_GET, MHD_HTTP_METHOD_HEAD,
	                                 MHD_HTTP_METHOD_POST, MHD_HTTP_METHOD_PUT,
	                                 MHD_HTTP_METHOD_DELETE};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		if (!strcmp(m, ok[i]))
			return 1;
	return 0;
}

/* te_is_chunked: the Transfer-Encoding value is exactly "chunked" (any case,
 * surrounding blanks allowed), the only coding libmicrohttpd decodes. */
static int te_is_chunked(const char *te)
{
	while (*te == ' ' || *te == '\t')
		te++;
	if (strncasecmp(te, "chunked", 7))
		return 0;
	te += 7;
	while (*te == ' ' || *te == '\t')
		te++;
	return *te == '\0';
}

/* What scan_header found among a request's headers. */
typedef struct header_scan {
	unsigned content_length, transfer_encoding; /* how many of each */
	const char *bad_name;                       /* the first name that is not a token */
} header_scan;

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
	header_scan *hs = cls;
	(void)kind;
	(void)value;
	if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH))
		hs->content_length++;
	if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING))
		hs->transfer_encoding++;
	int token = *key != 0;
	for (const unsigned char *k = (const unsigned char *)key; *k && token; k++)
		token = *k > 32 && *k < 127 && !strchr("\"(),/:;<=>?@[\\]{}", *k);
	if (!token && !hs->bad_name)
		hs->bad_name = key;
	return MHD_YES;
}

/*
 * check_framing refuses (and closes) a request whose body could be framed
 * two ways: by a proxy in front reading it one way and by libmicrohttpd the
 * other, a request hidden in its body would run here (request smuggling).
 * So: one Content-Length at most (libmicrohttpd reads the first), one
 * Transfer-Encoding at most, and every header name a token (RFC 9110 5.1:
 * "Transfer-Encoding : chunked" is otherwise a header named
 * "Transfer-Encoding " that nothing reads, and the body it announces would
 * be read as the next request). Returns 0 when the framing is sound, else 1
 * with *q the result of queueing the 400.
 */
static int bad_framing(http_server *s, struct MHD_Connection *c, enum MHD_Result *q)
{
	header_scan hs = {0};
	MHD_get_connection_values(c, MHD_HEADER_KIND, scan_header, &hs);
	if (hs.bad_name)
		*q = reject(s, c, 400, "illegal_argument_exception", 0, NULL, NULL,
		            "header name \"%.64s\" is not a token (white space or a separator "
		            "in a header name is not allowed)",
		            hs.bad_name);
	else if (hs.content_length > 1)
		*q = reject(s, c, 400, "illegal_argument_exception", 0, NULL, NULL,
		            "a request may have one Content-Length header; this one has %u",
		            hs.content_length);
	else if (hs.transfer_encoding > 1)
		*q = reject(s, c, 400, "illegal_argument_exception", 0, NULL, NULL,
		            "a request may have one Transfer-Encoding header; this one has %u",
		            hs.transfer_encoding);
	else
		return 0;
	return 1;
}

/*
 * on_headers checks a request whose headers are complete against the limits.
 * It returns MHD_YES to go on receiving the body, or the result of queueing
 * a rejection (after which libmicrohttpd calls on_access no more).
 */
static enum MHD_Result on_headers(http_server *s, req_state *st, struct MHD_Connection *c,
                                  const char *url, const char *method)
{
	/* over the limit, connections still waiting for their request make
	 * room for this one, whose headers are complete; only when none can
	 * is it refused */
	if (!guard_admit(s->guard, guarded(c))) {
		uint64_t open = atomic_load_explicit(&s->connections, memory_order_relaxed);
		return reject(s, c, 503, "too_many_connections", 1, MHD_HTTP_HEADER_RETRY_AFTER,
		              "1", "the server has %llu connections open; its limit is %u",
		              (unsigned long long)open, s->max_connections);
	}

	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	if (ci && ci->header_size > s->max_header_bytes)
		return reject(s, c, 431, "request_header_fields_too_large", 1, NULL, NULL,
		              "the request line and headers take %zu bytes; the limit is %zu",
		              ci->header_size, s->max_header_bytes);

	if (!method_allowed(method))
		return reject(s, c, 405, "method_not_allowed", 0, MHD_HTTP_HEADER_ALLOW,
		              ALLOWED_METHODS,
		              "method %.64s is not allowed; use one of " ALLOWED_METHODS, method);

	enum MHD_Result q;
	if (bad_framing(s, c, &q))
		return q;

	const char *te =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
	const char *cl =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (te && cl)
		return reject(s, c, 400, "illegal_argument_exception", 0, NULL, NULL,
		              "a request may not have both Transfer-Encoding and Content-Length");
	if (te && !te_is_chunked(te))
		return reject(s, c, 400, "illegal_argument_exception", 0, NULL, NULL,
		              "Transfer-Encoding \"%.64s\" is not supported; only \"chunked\" is",
		              te);
	size_t lim = s->body_limit ? s->body_limit(s->ctx, method, url) : 0;
	if (lim && lim != st->max_body) {
		st->max_body = lim; /* the body is still empty */
		tbuf_fini(&st->body);
		tbuf_init(&st->body, lim);
	}
	if (cl) {
		/* libmicrohttpd has already refused a malformed Content-Length. */
		unsigned long long n = strtoull(cl, NULL, 10);
		if (n > st->max_body)
			return reject(s, c, 413, "content_too_long", 1, NULL, NULL,
			              "the request body is %llu bytes; the limit is %zu", n,
			              st->max_body);
	}
	return MHD_YES;
}

static void client_address(struct MHD_Connection *c, char *out, size_t outlen)
{
	snprintf(out, outlen, "unknown");
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!ci || !ci->client_addr)
		return;
	const struct sockaddr *sa = ci->client_addr;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
		          (socklen_t)outlen);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
		          out, (socklen_t)outlen);
}

/* call_handler runs the application's handler on st's request; deferred:
 * whether this is a worker's call. resp must be initialised. */
static void call_handler(http_server *s, req_state *st, int deferred, http_response *resp)
{
	const char *query = "";
	if (st->uri) {
		const char *q = strchr(st->uri, '?');
		if (q)
			query = q + 1;
	}
	http_request req = {
	    .method = st->method,
	    .path = st->url,
	    .query = query,
	    .body = (const uint8_t *)(st->body.len ? tbuf_cstr(&st->body) : ""),
	    .body_len = st->body.len,
	    .client = st->client,
	    .deferred = deferred,
	    .impl = st,
	};
	s->fn(s->ctx, &req, resp);
}

/* answer queues resp on c, or a 500 if the handler set nothing. */
static enum MHD_Result answer(http_server *s, req_state *st, struct MHD_Connection *c,
                              http_response *resp)
{
	if (resp->status)
		return send_response(s, c, resp, atomic_load(&s->draining));
	return reject(s, c, 500, "internal_server_error", 0, NULL, NULL,
	              "the handler for %.64s %.256s produced no response", st->method, st->url);
}

/* dispatch runs the application's handler on a complete request, on the
 * event loop; a deferred request is suspended and queued for a worker. */
static enum MHD_Result dispatch(http_server *s, req_state *st, struct MHD_Connection *c,
                                const char *url, const char *method)
{
	client_address(c, st->client, sizeof st->client);
	char why[256];
	if (st->uri && check_target(st->uri, why, sizeof why))
		return reject(s, c, 400, "illegal_argument_exception", 0, NULL, NULL, "%s", why);
	st->url = url;
	st->method = method;
	http_response resp;
	response_init(&resp);
	call_handler(s, st, 0, &resp);
	if (resp.defer && !resp.status) {
		pthread_mutex_lock(&s->mu);
		/* a background request goes to the ordinary lane when its own has
		 * no workers */
		lane *ln = &s->lanes[resp.background && s->lanes[LANE_BACKGROUND].nworkers
		                         ? LANE_BACKGROUND
		                         : LANE_ORDINARY];
		if (ln->nworkers && !s->stopping && s->max_queue && ln->queued >= s->max_queue) {
			unsigned queued = ln->queued, workers = ln->nworkers;
			pthread_mutex_unlock(&s->mu);
			response_fini(&resp);
			return overloaded(s, c, queued, workers);
		}
		if (ln->nworkers && !s->stopping) {
			ln->queued++;
			st->phase = REQ_DEFERRED;
			MHD_suspend_connection(c);
			st->next = NULL;
			if (ln->tail)
				ln->tail->next = st;
			else
				ln->head = st;
			ln->tail = st;
			pthread_cond_signal(&ln->cv);
			pthread_mutex_unlock(&s->mu);
			response_fini(&resp);
			return MHD_YES;
		}
		int stopping = s->stopping;
		pthread_mutex_unlock(&s->mu);
		response_fini(&resp);
		return reject(s, c, 503, "service_unavailable", 0, MHD_HTTP_HEADER_RETRY_AFTER, "1",
		              "%s",
		              stopping ? "the server is stopping"
		                       : "no worker threads to answer "
		                         "this request");
	}
	enum MHD_Result q = answer(s, st, c, &resp);
	response_fini(&resp);
	return q;
}

/* A worker of a lane: takes its deferred requests, runs the handler on
 * each, and resumes its connection with the response in place. Leaves when
 * the server stops and the lane's queue is empty. A background worker
 * first lowers its own CPU priority (nice LIMIT_WRITE_NICE; no privilege
 * needed): whatever it runs, a search's threads are not kept waiting for
 * it. */
static void *worker_main(void *arg)
{
	lane *ln = arg;
	http_server *s = ln->s;
	if (ln->idle) {
		setpriority(PRIO_PROCESS, (id_t)gettid(),
		            LIMIT_WRITE_NICE); /* Linux: this thread */
	}
	pthread_setname_np(pthread_self(), ln->idle ? "http-background" : "http-worker");
	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!ln->head && !s->stopping)
			pthread_cond_wait(&ln->cv, &s->mu);
		req_state *st = ln->head;
		if (!st)
			break; /* stopping, and nothing left */
		ln->head = st->next;
		ln->queued--;
		if (!ln->head)
			ln->tail = NULL;
		pthread_mutex_unlock(&s->mu);
		call_handler(s, st, 1, &st->resp);
		/* the handler may not defer twice: an unanswered request gets a 500 */
		st->phase = REQ_ANSWERED;
		MHD_resume_connection(st->conn);
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
	http_server *s = cls;
	(void)version;
	req_state *st = *con_cls;
	if (!st) {
		/* on_uri failed to allocate (or was not called): no raw query. */
		if (!(st = req_alloc(s, NULL)))
			return MHD_NO;
		*con_cls = st;
	}
	st->conn = c;
	if (st->phase == REQ_ANSWERED) {
		/* resumed by a worker: send what it made */
		enum MHD_Result q = answer(s, st, c, &st->resp);
		st->phase = REQ_LOOP;
		return q;
	}
	if (st->phase == REQ_DEFERRED)
		return MHD_YES; /* not expected while suspended */
	if (!st->started) {
		st->started = 1;
		atomic_fetch_add_explicit(&s->requests, 1, memory_order_relaxed);
		return on_headers(s, st, c, url, method);
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (!st->too_large) {
			int rc = tbuf_append(&st->body, upload_data, n);
			if (rc == TRAWL_OK)
				return MHD_YES;
			if (rc != TRAWL_ELIMIT)
				return MHD_NO; /* out of memory: drop the connection */
			/* Only a chunked body gets here (a Content-Length was checked
			 * with the headers). A response cannot be queued while the
			 * body is arriving, so read it to its end and answer then. */
			st->too_large = 1;
			st->discarded = st->body.len;
			tbuf_fini(&st->body);
		}
		if (n > st->max_body * 2 - st->discarded)
			return MHD_NO; /* the limit is documented as twice max_body_bytes */
		st->discarded += n;
		return MHD_YES;
	}
	if (st->too_large)
		return reject(s, c, 413, "content_too_long", 1, NULL, NULL,
		              "the request body is over the limit of %zu bytes", st->max_body);
	guard_busy(s->guard, guarded(c)); /* received whole: no deadline while handled */
	return dispatch(s, st, c, url, method);
}

/* ------------------------------------------------------------------ */
/* libmicrohttpd's log                                                 */
/* ------------------------------------------------------------------ */

/* fmt is libmicrohttpd's own format string */
static void on_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void on_log(void *cls, const char *fmt, va_list ap)
{
	http_server *s = cls;
	char line[512];
	vsnprintf(line, sizeof line, fmt, ap);
	size_t n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';

	/* Events libmicrohttpd handles without telling the application. */
	if (strstr(line, "reached connection limit"))
		atomic_fetch_add_explicit(&s->refused, 1, memory_order_relaxed);
	const char *code = strstr(line, "HTTP response code is ");
	if (code) {
		unsigned status = (unsigned)strtoul(code + 22, NULL, 10);
		count_status(s, status);
		if (status == 413 || status == 414 || status == 431)
			atomic_fetch_add_explicit(&s->rejected, 1, memory_order_relaxed);
	}

	if (atomic_load(&s->starting) && pthread_equal(pthread_self(), s->start_thread))
		snprintf(s->start_err, sizeof s->start_err, "%s", line);
	if (s->log)
		s->log(s->log_ctx, line);
	else
		fprintf(stderr, "trawl http: %s\n", line);
}

/* ------------------------------------------------------------------ */
/* Servers                                                             */
/* ------------------------------------------------------------------ */

static void server_free(http_server *s);
static int start_workers(lane *ln, unsigned n);
static void stop_workers(http_server *s);

int http_server_start(http_server **out, const http_config *cfg, http_handler fn, void *ctx,
                      char *err, size_t errlen)
{
	static const http_config defaults = {0};
	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (!cfg)
		cfg = &defaults;
	if (!fn)
		return errf(err, errlen, TRAWL_EINVAL, "http: no handler");
	const char *bind = cfg->bind ? cfg->bind : "127.0.0.1";
	unsigned threads = cfg->threads ? cfg->threads : HTTP_DEFAULT_THREADS;
	unsigned workers = cfg->workers;
	unsigned max_conn = cfg->max_connections ? cfg->max_connections : LIMIT_HTTP_CONNECTIONS;
	unsigned per_ip = cfg->max_per_ip ? cfg->max_per_ip : LIMIT_HTTP_PER_IP;
	unsigned timeout = cfg->idle_timeout_s ? cfg->idle_timeout_s : LIMIT_HTTP_IDLE_S;
	unsigned deadline = cfg->request_timeout_s ? cfg->request_timeout_s : LIMIT_HTTP_REQUEST_S;
	size_t max_header = cfg->max_header_bytes ? cfg->max_header_bytes : LIMIT_HTTP_HEADER_BYTES;
	size_t max_body = cfg->max_body_bytes ? cfg->max_body_bytes : LIMIT_HTTP_BODY_BYTES;
	if (threads > MAX_THREADS)
		return errf(err, errlen, TRAWL_EINVAL, "http: threads is %u; at most %u", threads,
		            MAX_THREADS);
	if (workers > MAX_WORKERS || cfg->background_workers > MAX_WORKERS)
		return errf(err, errlen, TRAWL_EINVAL,
		            "http: workers is %u and background_workers %u; at most %u each",
		            workers, cfg->background_workers, MAX_WORKERS);
	if (max_conn > MAX_CONNECTIONS_LIMIT)
		return errf(err, errlen, TRAWL_EINVAL, "http: max_connections is %u; at most %u",
		            max_conn, MAX_CONNECTIONS_LIMIT);
	if (max_header < MIN_HEADER_BYTES || max_header > MAX_HEADER_BYTES_LIMIT)
		return errf(err, errlen, TRAWL_EINVAL,
		            "http: max_header_bytes is %zu; it must be between %zu and %zu",
		            max_header, MIN_HEADER_BYTES, MAX_HEADER_BYTES_LIMIT);
	if (max_body > SIZE_MAX / 4)
		return errf(err, errlen, TRAWL_EINVAL, "http: max_body_bytes is too large");

	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	struct sockaddr *sa;
	unsigned flags =
	    MHD_USE_ERROR_LOG | MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME;
	memset(&sin, 0, sizeof sin);
	memset(&sin6, 0, sizeof sin6);
	if (inet_pton(AF_INET, bind, &sin.sin_addr) == 1) {
		sin.sin_family = AF_INET;
		sin.sin_port = htons(cfg->port);
		sa = (struct sockaddr *)&sin;
	} else if (inet_pton(AF_INET6, bind, &sin6.sin6_addr) == 1) {
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons(cfg->port);
		sa = (struct sockaddr *)&sin6;
		flags |= MHD_USE_IPv6;
	} else
		return errf(err, errlen, TRAWL_EINVAL,
		            "http: bind address \"%.64s\" is not a numeric IPv4 or IPv6 address",
		            bind);

	http_server *s = calloc(1, sizeof *s);
	if (!s)
		return errf(err, errlen, TRAWL_ENOMEM, "http: out of memory");
	s->fn = fn;
	s->ctx = ctx;
	s->log = cfg->log;
	s->log_ctx = cfg->log_ctx;
	s->max_connections = max_conn;
	s->max_queue = cfg->max_queue;
	s->max_header_bytes = max_header;
	s->max_body_bytes = max_body;
	s->body_limit = cfg->body_limit;
	s->start_thread = pthread_self();
	atomic_store(&s->starting, 1);
	pthread_mutex_init(&s->mu, NULL);
	for (int i = 0; i < LANES; i++) {
		s->lanes[i].s = s;
		s->lanes[i].idle = i == LANE_BACKGROUND;
		pthread_cond_init(&s->lanes[i].cv, NULL);
	}
	if (!(s->guard = guard_new(max_conn, per_ip, deadline * 1000u))) {
		server_free(s);
		return errf(err, errlen, TRAWL_ENOMEM, "http: out of memory");
	}
	if (pthread_create(&s->ticker, NULL, ticker_main, s) != 0) {
		server_free(s);
		return errf(err, errlen, TRAWL_EIO,
		            "http: cannot start the connection guard's thread");
	}
	s->ticking = 1;
	/* the workers first: the daemon may defer a request the moment it
	 * listens, and a lane's nworkers does not change once it runs */
	unsigned want[LANES] = {workers, workers ? cfg->background_workers : 0};
	for (int i = 0; i < LANES; i++) {
		int wrc = start_workers(&s->lanes[i], want[i]);
		if (wrc) {
			unsigned started = s->lanes[i].nworkers;
			stop_workers(s);
			server_free(s);
			return wrc == TRAWL_ENOMEM
			           ? errf(err, errlen, TRAWL_ENOMEM, "http: out of memory")
			           : errf(err, errlen, TRAWL_EIO,
			                  "http: cannot start %sworker thread %u of %u",
			                  i ? "background " : "", started + 1, want[i]);
		}
	}

	/* Past max_connections, a margin of connections is still accepted so
	 * that they can be told 503 rather than left without an answer. */
	unsigned margin = max_conn / 16 < 4 ? 4 : max_conn / 16;
	unsigned hard = max_conn + margin;
	if (hard < threads)
		hard = threads;
	struct MHD_OptionItem opts[] = {
	    {MHD_OPTION_SOCK_ADDR, 0, sa},
	    {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)hard, NULL},
	    /* the guard keeps max_per_ip, and closes the oldest connection of an
	     * address still waiting for its request to make room for a new one */
	    {MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)hard, NULL},
	    {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)timeout, NULL},
	    /* libmicrohttpd keeps the request line, the headers and its read
	     * and write buffers in this pool: twice the header limit leaves
	     * room for the module to check that limit itself. */
	    {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)(max_header * 2), NULL},
	    {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, s},
	    {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s},
	    {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, s},
	    {MHD_OPTION_THREAD_STACK_SIZE, (intptr_t)HTTP_THREAD_STACK, NULL},
	    /* Last but one: with one thread there is no pool, and this item
	     * ends the list early instead. */
	    {threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, (intptr_t)threads, NULL},
	    {MHD_OPTION_END, 0, NULL},
	};
	s->daemon =
	    MHD_start_daemon(flags, cfg->port, NULL, NULL, on_access, s, MHD_OPTION_EXTERNAL_LOGGER,
	                     on_log, s, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	atomic_store(&s->starting, 0);
	if (!s->daemon) {
		int rc = errf(err, errlen, TRAWL_EIO, "http: cannot listen on %s%s%s:%u: %s",
		              sa->sa_family == AF_INET6 ? "[" : "", bind,
		              sa->sa_family == AF_INET6 ? "]" : "", (unsigned)cfg->port,
		              s->start_err[0] ? s->start_err : "libmicrohttpd failed to start");
		stop_workers(s);
		server_free(s);
		return rc;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	s->port = di ? di->port : cfg->port;
	*out = s;
	return TRAWL_OK;
}

/* Starts n workers on lane ln (before the daemon): TRAWL_OK, TRAWL_ENOMEM,
 * or TRAWL_EIO if a thread could not be created (ln->nworkers were). */
static int start_workers(lane *ln, unsigned n)
{
	if (!n)
		return TRAWL_OK;
	if (!(ln->workers = calloc(n, sizeof *ln->workers)))
		return TRAWL_ENOMEM;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, HTTP_THREAD_STACK);
	int rc = TRAWL_OK;
	for (; ln->nworkers < n; ln->nworkers++)
		if (pthread_create(&ln->workers[ln->nworkers], &attr, worker_main, ln) != 0) {
			rc = TRAWL_EIO;
			break;
		}
	pthread_attr_destroy(&attr);
	return rc;
}

/* Tells the workers to stop once their queues are empty, and waits for
 * them. */
static void stop_workers(http_server *s)
{
	pthread_mutex_lock(&s->mu);
	s->stopping = 1;
	for (int i = 0; i < LANES; i++)
		pthread_cond_broadcast(&s->lanes[i].cv);
	pthread_mutex_unlock(&s->mu);
	for (int i = 0; i < LANES; i++)
		for (unsigned k = 0; k < s->lanes[i].nworkers; k++)
			pthread_join(s->lanes[i].workers[k], NULL);
}

static void server_free(http_server *s)
{
	atomic_store(&s->ticker_stop, 1);
	if (s->ticking)
		pthread_join(s->ticker, NULL);
	guard_free(s->guard); /* the daemon is stopped: every connection closed */
	pthread_mutex_destroy(&s->mu);
	for (int i = 0; i < LANES; i++) {
		pthread_cond_destroy(&s->lanes[i].cv);
		free(s->lanes[i].workers);
	}
	free(s);
}

void http_server_stop(http_server *s)
{
	if (!s)
		return;
	/* the workers answer what is queued (every suspended connection is
	 * resumed) and leave; libmicrohttpd refuses to stop with a connection
	 * still suspended, and no request is deferred once stopping is set */
	stop_workers(s);
	if (s->daemon)
		MHD_stop_daemon(s->daemon);
	server_free(s);
}

void http_server_drain(http_server *s)
{
	atomic_store(&s->draining, 1);
}

uint16_t http_server_port(const http_server *s)
{
	return s->port;
}

void http_server_stats(const http_server *s, http_stats *st)
{
	http_server *m = (http_server *)s; /* atomic loads take non-const pointers */
	st->requests = atomic_load_explicit(&m->requests, memory_order_relaxed);
	st->responses_2xx = atomic_load_explicit(&m->by_class[2], memory_order_relaxed);
	st->responses_3xx = atomic_load_explicit(&m->by_class[3], memory_order_relaxed);
	st->responses_4xx = atomic_load_explicit(&m->by_class[4], memory_order_relaxed);
	st->responses_5xx = atomic_load_explicit(&m->by_class[5], memory_order_relaxed);
	st->rejected = atomic_load_explicit(&m->rejected, memory_order_relaxed);
	st->shed = atomic_load_explicit(&m->shed, memory_order_relaxed);
	st->refused = atomic_load_explicit(&m->refused, memory_order_relaxed);
	st->connections = atomic_load_explicit(&m->connections, memory_order_relaxed);
	st->connections_total = atomic_load_explicit(&m->connections_total, memory_order_relaxed);
	guard_stats gs;
	guard_get_stats(m->guard, &gs);
	st->refused += gs.refused;
	st->expired = gs.expired;
	st->evicted = gs.evicted;
}
