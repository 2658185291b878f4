/*
 * rpc_test.c - unit tests of the nng boundary (rpc.h) over inproc://
 * (tests/serve_test.py covers TCP with real processes): calls answered, calls to a peer with no
 * connection (their send cannot be made from the caller's thread and waits in nng until the
 * deadline), a peer that appears later, batches that wait for n answers,
 * cancellation, and (over loopback TCP, with a raw socket speaking nng's
 * framing) a peer that sends requests and never reads its replies;
 * connections served in turn, whatever each has queued; and a ping served
 * by the reserve worker past a queue of others. And local:// servers,
 * whose handler runs on the caller's thread: worker numbers never shared,
 * the queue bound's refusal, a stop that waits for the calls in hand.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/wait.h>
#include <sys/time.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/tls/tls.h>

#include "common/clock.h"
#include "common/rpc.h"
#include "trawl/trawl.h"

/* A server with one worker, no reserve, the default request bound. */
static const rpc_server_opts one_worker = {NULL, 1, NULL, 0};

/* The server's handler: echoes the request with a '!' appended; a request
 * that starts with "sleep" waits 2 s first. */
static atomic_int handled;

static void echo(void *ctx, unsigned worker, const uint8_t *req, size_t len, tbuf *out)
{
	(void)ctx;
	(void)worker;
	if (len >= 5 && !memcmp(req, "sleep", 5))
		usleep(2000 * 1000);
	tbuf_append(out, req, len);
	tbuf_putc(out, '!');
	atomic_fetch_add(&handled, 1);
}

static void expect_echo(const rpc_call *c, const char *req)
{
	assert_int_equal(c->rc, TRAWL_OK);
	assert_int_equal(c->reply_len, strlen(req) + 1);
	assert_memory_equal(c->reply, req, strlen(req));
	assert_int_equal(c->reply[strlen(req)], '!');
}

/* An echo server with `workers` threads on url, and a client of it. */
static void pair_open(const char *url, unsigned workers, rpc_server **s, rpc_client **c)
{
	char err[256];
	assert_int_equal(rpc_server_start(s, url, &(rpc_server_opts){NULL, workers, NULL, 0}, echo,
	                                  NULL, err, sizeof err),
	                 TRAWL_OK);
	assert_int_equal(rpc_client_open(c, url, NULL, err, sizeof err), TRAWL_OK);
}

/* Many calls to two servers in one batch, several rounds on the same
 * clients: every reply belongs to its own request. */
static void test_calls_answered(void **state)
{
	(void)state;
	rpc_server *s1, *s2;
	rpc_client *c1, *c2;
	pair_open("inproc://rpc-test-1", 2, &s1, &c1);
	pair_open("inproc://rpc-test-2", 1, &s2, &c2);
	for (int round = 0; round < 50; round++) {
		char req[6][32];
		rpc_call calls[6];
		memset(calls, 0, sizeof calls);
		for (int i = 0; i < 6; i++) {
			snprintf(req[i], sizeof req[i], "round %d call %d", round, i);
			calls[i].peer = i % 2 ? c2 : c1;
			calls[i].req = (const uint8_t *)req[i];
			calls[i].len = strlen(req[i]);
		}
		rpc_call_many(calls, 6, 5000);
		for (int i = 0; i < 6; i++) {
			expect_echo(&calls[i], req[i]);
			rpc_call_fini(&calls[i]);
		}
	}
	rpc_client_close(c1);
	rpc_client_close(c2);
	rpc_server_stop(s1);
	rpc_server_stop(s2);
}

/* A peer nobody listens on: the call cannot be sent at once, waits in nng,
 * and fails at its deadline, neither before nor much after it. When the
 * server starts later, the same client's calls go through. */
static void test_peer_not_there_then_there(void **state)
{
	(void)state;
	char err[256];
	rpc_client *c;
	assert_int_equal(rpc_client_open(&c, "inproc://rpc-test-late", NULL, err, sizeof err),
	                 TRAWL_OK);
	rpc_call call = {.peer = c, .req = (const uint8_t *)"hello", .len = 5};
	uint64_t t0 = clock_mono_ms();
	rpc_call_many(&call, 1, 200);
	uint64_t took = clock_mono_ms() - t0;
	assert_int_not_equal(call.rc, TRAWL_OK);
	assert_true(call.timed_out);
	assert_true(took >= 150 && took < 5000);
	rpc_call_fini(&call);

	rpc_server *s;
	assert_int_equal(rpc_server_start(&s, "inproc://rpc-test-late", &one_worker, echo, NULL,
	                                  err, sizeof err),
	                 TRAWL_OK);
	int ok = 0;
	for (int i = 0; i < 100 && !ok; i++) { /* the dialer reconnects in the background */
		rpc_call again = {.peer = c, .req = (const uint8_t *)"hello", .len = 5};
		rpc_call_many(&again, 1, 100);
		if (again.rc == TRAWL_OK) {
			expect_echo(&again, "hello");
			ok = 1;
		}
		rpc_call_fini(&again);
	}
	assert_true(ok);
	rpc_client_close(c);
	rpc_server_stop(s);
}

/* A call made before its peer listens waits in nng and goes out when the
 * connection comes up: the request that reaches the server is intact (a
 * send that could not be made at once is made again by nng's threads). */
static rpc_server *late_server;

static void *start_late(void *arg)
{
	(void)arg;
	char err[256];
	usleep(150 * 1000);
	if (rpc_server_start(&late_server, "inproc://rpc-test-wait", &one_worker, echo, NULL, err,
	                     sizeof err) != TRAWL_OK)
		late_server = NULL;
	return NULL;
}

static void test_send_waits_for_connection(void **state)
{
	(void)state;
	char err[256];
	rpc_client *c;
	assert_int_equal(rpc_client_open(&c, "inproc://rpc-test-wait", NULL, err, sizeof err),
	                 TRAWL_OK);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, start_late, NULL), 0);
	rpc_call call = {.peer = c, .req = (const uint8_t *)"early bird", .len = 10};
	rpc_call_many(&call, 1, 5000);
	pthread_join(t, NULL);
	assert_non_null(late_server);
	expect_echo(&call, "early bird");
	rpc_call_fini(&call);
	rpc_client_close(c);
	rpc_server_stop(late_server);
}

/* A batch that asks for 2 answers of 3 wakes when the 2 fast ones are in,
 * not after the slow one; cancelling the slow one then ends it (the server
 * still finishes it: rpc_server_stop waits for that). */
static void ordered(void *ctx, unsigned worker, const uint8_t *req, size_t len, tbuf *out);
static void release_holds(int hold);

static void test_batch_wait_for_n(void **state)
{
	(void)state;
	rpc_server *fast, *slow;
	rpc_client *cf, *cs;
	char err[256];
	pair_open("inproc://rpc-test-fast", 2, &fast, &cf);
	/* the slow server holds its request until the test lets it go (a 2 s
	 * sleep could end before the cancel on a loaded machine) */
	release_holds(0);
	assert_int_equal(rpc_server_start(&slow, "inproc://rpc-test-slow", &one_worker, ordered,
	                                  NULL, err, sizeof err),
	                 TRAWL_OK);
	assert_int_equal(rpc_client_open(&cs, "inproc://rpc-test-slow", NULL, err, sizeof err),
	                 TRAWL_OK);
	rpc_batch *b = rpc_batch_new();
	assert_non_null(b);
	rpc_call a = {.peer = cf, .req = (const uint8_t *)"a", .len = 1};
	rpc_call z = {.peer = cs, .req = (const uint8_t *)"hold", .len = 4};
	rpc_call c = {.peer = cf, .req = (const uint8_t *)"c", .len = 1};
	assert_int_equal(rpc_batch_start(b, &a, 10000), TRAWL_OK);
	assert_int_equal(rpc_batch_start(b, &z, 10000), TRAWL_OK);
	assert_int_equal(rpc_batch_start(b, &c, 10000), TRAWL_OK);
	/* the slow one is held: the wait returns with it still running */
	unsigned left = rpc_batch_wait(b, 2, 10000);
	assert_int_equal(left, 1);
	assert_true(a.done && c.done && !z.done);
	expect_echo(&a, "a");
	expect_echo(&c, "c");
	rpc_batch_cancel(b, &z);
	left = rpc_batch_wait(b, 1, 5000);
	assert_int_equal(left, 0);
	assert_true(z.done);
	assert_int_not_equal(z.rc, TRAWL_OK);
	release_holds(1);
	rpc_batch_free(b);
	rpc_call_fini(&a);
	rpc_call_fini(&z);
	rpc_call_fini(&c);
	rpc_client_close(cf);
	rpc_client_close(cs);
	rpc_server_stop(fast);
	rpc_server_stop(slow);
}

/* A port on 127.0.0.1 that was free a moment ago, picked at random below
 * the kernel's ephemeral range (32768 and up): a port-0 pick comes from that
 * range, where any process's next connect() may take it before the server
 * here binds it (tests/netlib.py says more). */
static int free_port(void)
{
	static unsigned seed;
	if (!seed)
		seed = (unsigned)getpid() ^ (unsigned)time(NULL);
	for (int tries = 0; tries < 10000; tries++) {
		int port = 20000 + (int)(rand_r(&seed) % 12000);
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		assert_true(fd >= 0);
		struct sockaddr_in a = {.sin_family = AF_INET,
		                        .sin_port = htons((uint16_t)port),
		                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
		close(fd);
		if (ok)
			return port;
	}
	fail_msg("no free port on 127.0.0.1 in 20000-31999");
	return -1;
}

/* An echo server with `workers` threads on a free loopback TCP port, and a
 * client of it; returns the port. */
static int tcp_pair(unsigned workers, rpc_server **s, rpc_client **c)
{
	char url[64];
	int port = free_port();
	snprintf(url, sizeof url, "tcp://127.0.0.1:%d", port);
	pair_open(url, workers, s, c);
	return port;
}

static int gone_calls;
static void count_gone(void *arg)
{
	(void)arg;
	__atomic_add_fetch(&gone_calls, 1, __ATOMIC_SEQ_CST);
}

/* Waits up to 5 s for c to have `now` connections open and `made` made. */
static void wait_connections(rpc_client *c, unsigned now, uint64_t made)
{
	unsigned n = 0;
	uint64_t m = 0;
	for (int i = 0; i < 500; i++) {
		rpc_client_connections(c, &n, &m);
		if (n == now && m == made)
			break;
		usleep(10000);
	}
	assert_int_equal(n, now);
	assert_int_equal(m, made);
}

/* The connections a client counts, over TCP on loopback; a redial leaves
 * a connection alone, and gives a client without one a new dialer, which
 * connects when the server is back. */
static void test_connections_counted_and_redialled(void **state)
{
	(void)state;
	rpc_server *s;
	rpc_client *c;
	int port = tcp_pair(1, &s, &c);
	char url[64];
	snprintf(url, sizeof url, "tcp://127.0.0.1:%d", port);
	rpc_client_on_disconnect(c, count_gone, NULL);
	wait_connections(c, 1, 1);
	assert_int_equal(rpc_client_redial(c), TRAWL_EBUSY);
	/* a connection still connected is never closed as dead */
	assert_int_equal(rpc_client_close_dead(c), 0);
	wait_connections(c, 1, 1);
	rpc_server_stop(s);
	wait_connections(c, 0, 1);
	assert_int_equal(rpc_client_close_dead(c), 0);
	assert_int_equal(__atomic_load_n(&gone_calls, __ATOMIC_SEQ_CST), 1);
	assert_int_equal(rpc_client_redial(c), TRAWL_OK);
	char err[256];
	assert_int_equal(rpc_server_start(&s, url, &(rpc_server_opts){NULL, 1, NULL, 0}, echo, NULL,
	                                  err, sizeof err),
	                 TRAWL_OK);
	wait_connections(c, 1, 2);
	rpc_call call = {.peer = c, .req = (const uint8_t *)"again", .len = 5};
	rpc_call_many(&call, 1, 5000);
	expect_echo(&call, "again");
	rpc_call_fini(&call);
	rpc_client_close(c);
	rpc_server_stop(s);
}

/* The attacker of issue #13, finding 1: it connects as an nng REQ peer
 * (SP header, then frames of a u64 big-endian length, a request id with
 * the high bit set and the body), sends 64 KiB requests as fast as the
 * server takes them, and never reads a byte. */
static int attack_port;
static atomic_int attack_sent;

static void *non_reader(void *arg)
{
	(void)arg;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons((uint16_t)attack_port),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	struct timeval tv = {.tv_sec = 2}; /* a send that cannot proceed ends the attack */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	static const uint8_t hello[8] = {0, 'S', 'P', 0, 0, 0x30, 0, 0}; /* REQ v0 */
	size_t body = 64 << 10;
	uint8_t *frame = calloc(1, 12 + body);
	uint64_t len = 4 + body;
	for (int i = 0; i < 8; i++)
		frame[i] = (uint8_t)(len >> (56 - 8 * i));
	int ok = frame && send(fd, hello, sizeof hello, MSG_NOSIGNAL) == sizeof hello;
	for (uint32_t id = 1; ok && id <= 4000; id++) {
		uint32_t rid = htonl(id | 0x80000000u);
		memcpy(frame + 8, &rid, 4);
		ok = send(fd, frame, 12 + body, MSG_NOSIGNAL) == (ssize_t)(12 + body);
		if (ok)
			atomic_fetch_add(&attack_sent, 1);
	}
	free(frame);
	/* let the server read what was sent before the connection ends: nng
	 * 1.5.2 can hang a connection's teardown when it ends in the middle of
	 * a message nng is receiving (docs/RESILIENCE.md) */
	usleep(300 * 1000);
	close(fd);
	return NULL;
}

/* A peer that never reads its replies holds no worker: while it floods
 * the server, another client's calls are answered, each within a second
 * (before the fix every worker waited in its send to that peer, and they
 * timed out until it went away); the server cuts it off. */
static void test_peer_that_does_not_read_is_cut_off(void **state)
{
	(void)state;
	char url[64];
	attack_port = free_port();
	snprintf(url, sizeof url, "tcp://127.0.0.1:%d", attack_port);
	rpc_server *s;
	rpc_client *c;
	pair_open(url, 2, &s, &c);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, non_reader, NULL), 0);
	uint64_t t0 = clock_mono_ms(), worst = 0;
	unsigned calls = 0, failed = 0;
	while (clock_mono_ms() - t0 < 3000) {
		char req[32];
		snprintf(req, sizeof req, "call %u", calls);
		rpc_call call = {.peer = c, .req = (const uint8_t *)req, .len = strlen(req)};
		uint64_t c0 = clock_mono_ms();
		rpc_call_many(&call, 1, 1000);
		if (clock_mono_ms() - c0 > worst)
			worst = clock_mono_ms() - c0;
		if (call.rc == TRAWL_OK)
			expect_echo(&call, req);
		else
			failed++;
		calls++;
		rpc_call_fini(&call);
		usleep(5000);
	}
	pthread_join(t, NULL);
	print_message("non-reader sent %d requests; %u calls beside it, %u failed, slowest %llu "
	              "ms; peers cut off: %llu\n",
	              atomic_load(&attack_sent), calls, failed, (unsigned long long)worst,
	              (unsigned long long)rpc_server_cut(s));
	assert_int_equal(failed, 0);
	assert_true(atomic_load(&attack_sent) > LIMIT_RPC_UNSENT);
	assert_true(rpc_server_cut(s) >= 1);
	rpc_client_close(c);
	rpc_server_stop(s);
}

/* Reads exactly n bytes, or fails (0) at the socket's receive timeout. */
static int read_full(int fd, uint8_t *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = recv(fd, buf + got, n - got, 0);
		if (r <= 0)
			return 0;
		got += (size_t)r;
	}
	return 1;
}

/* One nng REQ frame: u64 length, request id (high bit set), body. */
static int send_frame(int fd, uint32_t id, const uint8_t *body, size_t len)
{
	uint8_t hdr[12];
	uint64_t n = 4 + len;
	for (int i = 0; i < 8; i++)
		hdr[i] = (uint8_t)(n >> (56 - 8 * i));
	uint32_t rid = htonl(id | 0x80000000u);
	memcpy(hdr + 8, &rid, 4);
	return send(fd, hdr, 12, MSG_NOSIGNAL) == 12 &&
	       send(fd, body, len, MSG_NOSIGNAL) == (ssize_t)len;
}

static int is_ping(const uint8_t *req, size_t len);

/* Reads one reply frame into buf (at most cap bytes of body): its request
 * id, and its body's length in *n. 0 at the socket's receive timeout. */
static int read_reply(int fd, uint8_t *buf, size_t cap, uint32_t *id, size_t *n)
{
	uint8_t hdr[12];
	if (!read_full(fd, hdr, 12))
		return 0;
	uint64_t len = 0;
	for (int i = 0; i < 8; i++)
		len = len << 8 | hdr[i];
	assert_true(len >= 4 && len - 4 <= cap);
	memcpy(id, hdr + 8, 4);
	*id = ntohl(*id) & 0x7fffffffu;
	*n = (size_t)(len - 4);
	return read_full(fd, buf, *n);
}

static void set_rcvtimeo(int fd, int secs)
{
	struct timeval tv = {.tv_sec = secs};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

/* A raw nng REQ peer of the server on 127.0.0.1:port: connected, the SP
 * headers exchanged, a receive timeout of 10 s. */
static int raw_peer(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons((uint16_t)port),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_true(fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
	static const uint8_t hello[8] = {0, 'S', 'P', 0, 0, 0x30, 0, 0}; /* REQ v0 */
	uint8_t peer_hello[8];
	assert_int_equal(send(fd, hello, 8, MSG_NOSIGNAL), 8);
	set_rcvtimeo(fd, 10);
	assert_true(read_full(fd, peer_hello, 8));
	return fd;
}

/* Sends requests of len bytes from fd, reading nothing, until s has cut
 * one more peer off (at most 2000, 20 s); returns how many were sent. */
static unsigned flood_until_cut(rpc_server *s, int fd, const uint8_t *req, size_t len)
{
	unsigned sent = 0;
	uint64_t t0 = clock_mono_ms(), cut = rpc_server_cut(s);
	while (rpc_server_cut(s) == cut && clock_mono_ms() - t0 < 20000 && sent < 2000)
		if (send_frame(fd, ++sent, req, len) == 0)
			break;
	assert_true(rpc_server_cut(s) > cut);
	return sent;
}

/* A peer cut off for letting LIMIT_RPC_UNSENT replies pile up is let back
 * once it has read them: a root that read a burst slowly (a replica
 * answering its whole queue after a freeze) was otherwise ignored for as
 * long as its connection lasted, and never saw its replica healthy again.
 * The peer here sends requests of 64 KiB without reading until the server
 * has cut it off, reads every reply that comes, then asks once more on the
 * same connection and is answered.
 *
 * That holds for a reader that starts reading within LIMIT_RPC_SEND_MS of
 * falling behind; one whose reply waited longer is a peer that does not
 * read (test_stalled_reader_is_let_back_by_a_ping), and this server has no
 * pings to let it back. On a loaded machine the flood alone can take that
 * long (a fresh-clone run: 180 requests sent, then never answered): such a
 * round proves nothing either way, and is tried again on a new
 * connection, at most 5 times. */
static int slow_reader_round(rpc_server *s, int port, uint8_t *req, uint8_t *reply, size_t body)
{
	int fd = raw_peer(port);
	uint64_t t0 = clock_mono_ms();
	unsigned sent = flood_until_cut(s, fd, req, body);
	if (clock_mono_ms() - t0 >= LIMIT_RPC_SEND_MS / 2) {
		print_message("slow reader: the flood took %llu ms, too near LIMIT_RPC_SEND_MS: "
		              "again\n",
		              (unsigned long long)(clock_mono_ms() - t0));
		close(fd);
		return 0;
	}
	/* read every reply that comes, until a second passes without one */
	set_rcvtimeo(fd, 1);
	unsigned replies = 0;
	uint8_t hdr[12];
	while (read_full(fd, hdr, 12)) {
		uint64_t n = 0;
		for (int i = 0; i < 8; i++)
			n = n << 8 | hdr[i];
		assert_true(n >= 4 && n - 4 <= body + 1);
		assert_true(read_full(fd, reply, (size_t)(n - 4)));
		replies++;
	}
	/* asked once more, on the same connection: answered */
	set_rcvtimeo(fd, 10);
	assert_true(send_frame(fd, 100000, (const uint8_t *)"again", 5));
	int answered = 0;
	while (!answered && read_full(fd, hdr, 12)) {
		uint64_t n = 0;
		for (int i = 0; i < 8; i++)
			n = n << 8 | hdr[i];
		uint32_t id;
		memcpy(&id, hdr + 8, 4);
		if (!read_full(fd, reply, (size_t)(n - 4)))
			break;
		answered = (ntohl(id) & 0x7fffffffu) == 100000 && n - 4 == 6 &&
		           !memcmp(reply, "again!", 6);
	}
	print_message("slow reader: %u requests sent before the cut, %u replies read, then "
	              "%s\n",
	              sent, replies, answered ? "answered" : "not answered");
	assert_true(answered);
	close(fd);
	return 1;
}

static void test_slow_reader_is_let_back(void **state)
{
	(void)state;
	rpc_server *s;
	rpc_client *c;
	int port = tcp_pair(2, &s, &c);
	size_t body = 64 << 10;
	uint8_t *req = calloc(1, body), *reply = malloc(body + 64);
	int done = 0;
	for (int round = 0; round < 5 && !done; round++)
		done = slow_reader_round(s, port, req, reply, body);
	assert_true(done);
	free(req);
	free(reply);
	rpc_client_close(c);
	rpc_server_stop(s);
}

/* A peer whose replies waited LIMIT_RPC_SEND_MS is cut off with its
 * replies, until it is seen reading again: its pings are still answered,
 * one at a time, and the first pong that goes out lets it back. A root
 * whose leaf had stalled (SIGSTOP) was otherwise ignored for as long as
 * its connection lasted: the leaf's timer ran on while it was frozen, and
 * a reply queued behind the one in flight timed out as it woke. The peer
 * here floods the server with 64 KiB requests, reads nothing for longer
 * than LIMIT_RPC_SEND_MS, then reads what comes: a request is dropped, a
 * ping answered, and the next request answered. */
static void test_stalled_reader_is_let_back_by_a_ping(void **state)
{
	(void)state;
	char url[64], err[256];
	int port = free_port();
	snprintf(url, sizeof url, "tcp://127.0.0.1:%d", port);
	rpc_server *s;
	assert_int_equal(rpc_server_start(&s, url, &(rpc_server_opts){NULL, 2, is_ping, 0}, echo,
	                                  NULL, err, sizeof err),
	                 TRAWL_OK);
	int fd = raw_peer(port);
	size_t body = 64 << 10;
	uint8_t *req = calloc(1, body), *reply = malloc(body + 64);
	unsigned sent = flood_until_cut(s, fd, req, body);
	/* stalled: nothing read while the replies waiting time out */
	usleep((LIMIT_RPC_SEND_MS + 1000) * 1000);
	set_rcvtimeo(fd, 1);
	uint32_t id;
	size_t n;
	unsigned drained = 0;
	while (read_reply(fd, reply, body + 1, &id, &n))
		drained++;
	/* reading again, but nothing told the server so: a request is dropped */
	assert_true(send_frame(fd, 100000, (const uint8_t *)"again", 5));
	int dropped = !read_reply(fd, reply, body + 1, &id, &n);
	/* a ping is answered, and lets the peer back */
	set_rcvtimeo(fd, 10);
	assert_true(send_frame(fd, 100001, (const uint8_t *)"ping", 4));
	int pong = 0;
	while (!pong && read_reply(fd, reply, body + 1, &id, &n))
		pong = id == 100001 && n == 5 && !memcmp(reply, "ping!", 5);
	assert_true(send_frame(fd, 100002, (const uint8_t *)"again", 5));
	int answered = 0;
	while (!answered && read_reply(fd, reply, body + 1, &id, &n))
		answered = id == 100002 && n == 6 && !memcmp(reply, "again!", 6);
	print_message("stalled reader: %u requests sent before the cut, %u replies read after "
	              "the stall; then a request %s, a ping %s, a request %s\n",
	              sent, drained, dropped ? "dropped" : "answered",
	              pong ? "answered" : "not answered", answered ? "answered" : "not answered");
	assert_true(dropped);
	assert_true(pong);
	assert_true(answered);
	close(fd);
	free(req);
	free(reply);
	rpc_server_stop(s);
}

/* The handler of the fairness test: records the order requests are
 * served in; "hold" waits until the test lets it go. */
static pthread_mutex_t order_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t order_cv = PTHREAD_COND_INITIALIZER;
static int holding, released;
static char order[64][8];
static unsigned norder;

static unsigned ping_worker; /* the worker that served the last "ping" */

static void ordered(void *ctx, unsigned worker, const uint8_t *req, size_t len, tbuf *out)
{
	(void)ctx;
	pthread_mutex_lock(&order_mu);
	if (len == 4 && !memcmp(req, "ping", 4))
		ping_worker = worker;
	if (len == 4 && !memcmp(req, "hold", 4)) {
		holding = 1;
		pthread_cond_broadcast(&order_cv);
		while (!released)
			pthread_cond_wait(&order_cv, &order_mu);
	}
	if (norder < 64 && len < sizeof order[0]) {
		memcpy(order[norder], req, len);
		order[norder++][len] = 0;
	}
	pthread_mutex_unlock(&order_mu);
	tbuf_append(out, req, len);
}

/* Lets every held request go (1), or arms the hold again (0). */
static void release_holds(int release)
{
	pthread_mutex_lock(&order_mu);
	released = release;
	if (!release)
		holding = 0, norder = 0;
	pthread_cond_broadcast(&order_cv);
	pthread_mutex_unlock(&order_mu);
}

/* A batch of calls sent from its own thread. */
typedef struct flood {
	rpc_call calls[20];
	char req[20][8];
	unsigned n;
	int joined;
	pthread_t t;
} flood;

static void *flood_main(void *arg)
{
	flood *f = arg;
	rpc_call_many(f->calls, f->n, 10000);
	return NULL;
}

static void flood_start(flood *f, rpc_client *c, const char *prefix, unsigned n)
{
	memset(f->calls, 0, sizeof f->calls);
	f->n = n;
	f->joined = 0;
	for (unsigned i = 0; i < n; i++) {
		snprintf(f->req[i], sizeof f->req[i], "%s%u", prefix, i);
		f->calls[i] = (rpc_call){
		    .peer = c, .req = (const uint8_t *)f->req[i], .len = strlen(f->req[i])};
	}
	assert_int_equal(pthread_create(&f->t, NULL, flood_main, f), 0);
}

/* Sends "hold" from c in fh's thread, and returns once a worker holds it. */
static void hold_worker(flood *fh, rpc_client *c)
{
	fh->n = 1;
	fh->joined = 0;
	fh->calls[0] = (rpc_call){.peer = c, .req = (const uint8_t *)"hold", .len = 4};
	assert_int_equal(pthread_create(&fh->t, NULL, flood_main, fh), 0);
	pthread_mutex_lock(&order_mu);
	while (!holding)
		pthread_cond_wait(&order_cv, &order_mu);
	pthread_mutex_unlock(&order_mu);
}

/* flood_join waits for f's calls and frees them, each answered; a test that
 * looks at the replies first calls flood_wait, then flood_join. */
static void flood_wait(flood *f)
{
	if (!f->joined)
		pthread_join(f->t, NULL);
	f->joined = 1;
}

static void flood_join(flood *f)
{
	flood_wait(f);
	for (unsigned i = 0; i < f->n; i++) {
		assert_int_equal(f->calls[i].rc, TRAWL_OK);
		rpc_call_fini(&f->calls[i]);
	}
}

static void wait_queued(rpc_server *s, unsigned n)
{
	uint64_t t0 = clock_mono_ms();
	while (rpc_server_queued(s) < n) {
		if (clock_mono_ms() - t0 > 10000)
			fail_msg("%u requests queued after 10 s, not %u", rpc_server_queued(s), n);
		usleep(1000);
	}
}

/* Workers take requests in turn by connection, not in order of arrival:
 * with one worker held, peer a queues 19 requests, then peer b one, then
 * peer c five; once the worker is let go, b's request is served first
 * (in order of arrival it came 20th), and a's and c's alternate with it
 * and each other while each has requests left. */
static void test_connections_served_in_turn(void **state)
{
	(void)state;
	release_holds(0);
	char err[256];
	rpc_server *s;
	rpc_client *a, *b, *c;
	assert_int_equal(rpc_server_start(&s, "inproc://rpc-test-fair", &one_worker, ordered, NULL,
	                                  err, sizeof err),
	                 TRAWL_OK);
	assert_int_equal(rpc_client_open(&a, "inproc://rpc-test-fair", NULL, err, sizeof err),
	                 TRAWL_OK);
	assert_int_equal(rpc_client_open(&b, "inproc://rpc-test-fair", NULL, err, sizeof err),
	                 TRAWL_OK);
	assert_int_equal(rpc_client_open(&c, "inproc://rpc-test-fair", NULL, err, sizeof err),
	                 TRAWL_OK);
	/* the one worker takes a's "hold" and waits in it */
	static flood fh, fa, fb, fc;
	hold_worker(&fh, a);
	flood_start(&fa, a, "a", 19);
	wait_queued(s, 19);
	flood_start(&fb, b, "b", 1);
	wait_queued(s, 20);
	flood_start(&fc, c, "c", 5);
	wait_queued(s, 25);
	pthread_mutex_lock(&order_mu);
	released = 1;
	pthread_cond_broadcast(&order_cv);
	pthread_mutex_unlock(&order_mu);
	flood_join(&fh);
	flood_join(&fa);
	flood_join(&fb);
	flood_join(&fc);
	/* tags: hold 0 (taken); a's 1-19 behind it; b0 0; c's 0-4. So: hold,
	 * b (the oldest at tag 0), c, then a and c in turn, then a alone */
	static const char want[] = "hbc"
	                           "acacacaca"
	                           "aaaaaaaaaaaaaa";
	assert_int_equal(norder, strlen(want));
	char got[sizeof want];
	for (unsigned i = 0; i < norder; i++)
		got[i] = order[i][0];
	got[norder] = 0;
	assert_string_equal(got, want);
	rpc_client_close(a);
	rpc_client_close(b);
	rpc_client_close(c);
	rpc_server_stop(s);
}

/* A raw TCP connection to 127.0.0.1:port that has sent nng's REQ header,
 * non-blocking; -1 if it could not connect. */
static int raw_req(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons((uint16_t)port),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	static const uint8_t hello[8] = {0, 'S', 'P', 0, 0, 0x30, 0, 0};
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
	    send(fd, hello, sizeof hello, 0) != (ssize_t)sizeof hello) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

/* Whether the server closed raw connection fd (past its 8-byte header). */
static int raw_closed(int fd)
{
	uint8_t buf[64];
	ssize_t n;
	while ((n = recv(fd, buf, sizeof buf, 0)) > 0)
		;
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/* A server keeps LIMIT_RPC_PER_ADDRESS connections from one address: with
 * a client connected, 6 more than the rest from 127.0.0.1 are closed as
 * they come (before any message is read) and counted; the client is still
 * answered; once they go, new connections are kept again. */
static void test_connections_per_address(void **state)
{
	(void)state;
	rpc_server *s;
	rpc_client *c;
	int port = tcp_pair(1, &s, &c);
	rpc_call call = {.peer = c, .req = (const uint8_t *)"first", .len = 5};
	rpc_call_many(&call, 1, 10000);
	expect_echo(&call, "first");
	rpc_call_fini(&call);
	enum { N = LIMIT_RPC_PER_ADDRESS + 6 };
	int fds[N];
	for (int i = 0; i < N; i++)
		assert_true((fds[i] = raw_req(port)) >= 0);
	uint64_t t0 = clock_mono_ms();
	while (rpc_server_refused(s) < 7 && clock_mono_ms() - t0 < 10000)
		usleep(10 * 1000);
	assert_int_equal(rpc_server_refused(s), 7);
	unsigned closed = 0;
	t0 = clock_mono_ms();
	do {
		usleep(20 * 1000);
		closed = 0;
		for (int i = 0; i < N; i++)
			closed += raw_closed(fds[i]);
	} while (closed < 7 && clock_mono_ms() - t0 < 10000);
	assert_int_equal(closed, 7);
	call = (rpc_call){.peer = c, .req = (const uint8_t *)"still", .len = 5};
	rpc_call_many(&call, 1, 10000);
	expect_echo(&call, "still");
	rpc_call_fini(&call);
	for (int i = 0; i < N; i++)
		close(fds[i]);
	/* their places are free again: a new one is kept */
	int fd = -1;
	t0 = clock_mono_ms();
	do {
		if (fd >= 0)
			close(fd);
		usleep(50 * 1000);
		fd = raw_req(port);
		usleep(100 * 1000);
	} while (fd >= 0 && raw_closed(fd) && clock_mono_ms() - t0 < 10000);
	assert_true(fd >= 0 && !raw_closed(fd));
	close(fd);
	rpc_client_close(c);
	rpc_server_stop(s);
}

static int is_ping(const uint8_t *req, size_t len)
{
	return len == 4 && !memcmp(req, "ping", 4);
}

/* A server with an express predicate answers a ping while its one worker
 * is held and ten requests wait, the ping's own connection's among them
 * (in the fair order it came last): the reserve worker (numbered 1, the
 * workers asked for) serves it. Without the reserve it waited for all
 * eleven. */
static void test_ping_passes_the_queue(void **state)
{
	(void)state;
	char err[256];
	const char *url = "inproc://rpc-test-express";
	rpc_server *s;
	rpc_client *a;
	release_holds(0);
	assert_int_equal(rpc_server_start(&s, url, &(rpc_server_opts){NULL, 1, is_ping, 0}, ordered,
	                                  NULL, err, sizeof err),
	                 TRAWL_OK);
	assert_int_equal(rpc_client_open(&a, url, NULL, err, sizeof err), TRAWL_OK);
	static flood fh, fa;
	hold_worker(&fh, a);
	flood_start(&fa, a, "a", 10);
	wait_queued(s, 10);
	rpc_call ping = {.peer = a, .req = (const uint8_t *)"ping", .len = 4};
	rpc_call_many(&ping, 1, 10000);
	pthread_mutex_lock(&order_mu);
	int still_held = !released, served = (int)norder;
	released = 1;
	pthread_cond_broadcast(&order_cv);
	pthread_mutex_unlock(&order_mu);
	assert_int_equal(ping.rc, TRAWL_OK);
	assert_int_equal(ping.reply_len, 4);
	assert_true(still_held);
	assert_int_equal(served, 1); /* the ping alone: the hold records itself when let go */
	assert_int_equal(ping_worker, 1);
	rpc_call_fini(&ping);
	flood_join(&fh);
	flood_join(&fa);
	assert_int_equal(norder, 12);
	assert_string_equal(order[0], "ping");
	assert_string_equal(order[1], "hold");
	rpc_client_close(a);
	rpc_server_stop(s);
}

/* Overload: requests starting with 'a' or 'b' may be refused (cost 1), and
 * those starting with 'x' (cost 10), with "busy " and the request. */
static unsigned shed_ab(const uint8_t *req, size_t len)
{
	if (len > 0 && req[0] == 'x')
		return 10;
	return len > 0 && (req[0] == 'a' || req[0] == 'b');
}

static void refuse_busy(void *ctx, const uint8_t *req, size_t len, tbuf *out)
{
	(void)ctx;
	tbuf_append(out, "busy ", 5);
	tbuf_append(out, req, len);
}

static void expect_reply(const rpc_call *c, const char *want)
{
	assert_int_equal(c->rc, TRAWL_OK);
	assert_int_equal(c->reply_len, strlen(want));
	assert_memory_equal(c->reply, want, strlen(want));
}

/* A server of one worker on url that lets 3 sheddable requests wait, and
 * two clients of it (b may be NULL: one client). */
static rpc_server *shed_server(const char *url, rpc_client **a, rpc_client **b)
{
	char err[256];
	rpc_server *s;
	release_holds(0);
	rpc_server_opts o = {NULL, 1, NULL, 0, shed_ab, refuse_busy, 3};
	assert_int_equal(rpc_server_start(&s, url, &o, ordered, NULL, err, sizeof err), TRAWL_OK);
	assert_int_equal(rpc_client_open(a, url, NULL, err, sizeof err), TRAWL_OK);
	if (b)
		assert_int_equal(rpc_client_open(b, url, NULL, err, sizeof err), TRAWL_OK);
	return s;
}

/* A server told to keep 3 sheddable requests waiting refuses the fourth
 * at once, while its one worker is held, with the refusal the caller gave;
 * a request that is not sheddable still queues, and every admitted request
 * is answered when the worker is let go. */
static void test_full_queue_refuses_at_once(void **state)
{
	(void)state;
	rpc_client *a;
	rpc_server *s = shed_server("inproc://rpc-test-shed", &a, NULL);
	static flood fh, fa, ff;
	hold_worker(&fh, a);
	flood_start(&fa, a, "a", 3);
	wait_queued(s, 3);
	rpc_call over = {.peer = a, .req = (const uint8_t *)"a9", .len = 2};
	rpc_call_many(&over, 1, 10000);
	expect_reply(&over, "busy a9");
	rpc_call_fini(&over);
	flood_start(&ff, a, "f", 1); /* not sheddable: waits with the rest */
	wait_queued(s, 4);
	pthread_mutex_lock(&order_mu);
	int still_held = !released;
	pthread_mutex_unlock(&order_mu);
	assert_true(still_held);
	assert_int_equal(rpc_server_shed(s), 1);
	release_holds(1);
	flood_wait(&fa);
	flood_wait(&ff);
	for (unsigned i = 0; i < 3; i++)
		expect_reply(&fa.calls[i], fa.req[i]);
	expect_reply(&ff.calls[0], "f0");
	flood_join(&fh);
	flood_join(&fa);
	flood_join(&ff);
	assert_int_equal(norder, 5); /* hold, a0-a2, f0; never a9 */
	assert_int_equal(rpc_server_shed(s), 1);
	rpc_client_close(a);
	rpc_server_stop(s);
}

/* With the queue full of one connection's requests, another connection's
 * request is admitted and one of the flooder's refused in its place (the
 * newest to arrive: nng may send a batch's calls in any order). */
static void test_flooder_refused_first(void **state)
{
	(void)state;
	rpc_client *a, *b;
	rpc_server *s = shed_server("inproc://rpc-test-shed-fair", &a, &b);
	static flood fh, fa, fb;
	hold_worker(&fh, a);
	flood_start(&fa, a, "a", 3);
	wait_queued(s, 3);
	flood_start(&fb, b, "b", 1);
	uint64_t t0 = clock_mono_ms();
	while (rpc_server_shed(s) < 1 && clock_mono_ms() - t0 < 10000)
		usleep(1000);
	assert_int_equal(rpc_server_shed(s), 1);
	assert_false(fb.calls[0].done);
	wait_queued(s, 3); /* b0 and two of a's */
	release_holds(1);
	flood_wait(&fa);
	flood_wait(&fb);
	unsigned busy = 0;
	for (unsigned i = 0; i < 3; i++) {
		char want[16];
		int refused = fa.calls[i].reply_len == 7;
		snprintf(want, sizeof want, "%s%s", refused ? "busy " : "", fa.req[i]);
		expect_reply(&fa.calls[i], want);
		busy += refused;
	}
	assert_int_equal(busy, 1);
	expect_reply(&fb.calls[0], "b0");
	flood_join(&fh);
	flood_join(&fa);
	flood_join(&fb);
	assert_int_equal(rpc_server_shed(s), 1);
	rpc_client_close(a);
	rpc_client_close(b);
	rpc_server_stop(s);
}

/* A costly request waiting is refused before a cheap one arriving, even
 * from a connection that has fewer waiting. */
static void test_costly_refused_first(void **state)
{
	(void)state;
	rpc_client *a, *b;
	rpc_server *s = shed_server("inproc://rpc-test-shed-cost", &a, &b);
	static flood fh, fx, fa, fb;
	hold_worker(&fh, a);
	flood_start(&fx, b, "x", 1); /* b: one costly request */
	wait_queued(s, 1);
	flood_start(&fa, a, "a", 2); /* a: two cheap ones, the queue full */
	wait_queued(s, 3);
	flood_start(&fb, a, "b", 1); /* a's third: the costly x0 goes instead */
	uint64_t t0 = clock_mono_ms();
	while (!fx.calls[0].done && clock_mono_ms() - t0 < 10000)
		usleep(1000);
	assert_true(fx.calls[0].done);
	assert_int_equal(rpc_server_shed(s), 1);
	release_holds(1);
	flood_wait(&fx);
	flood_wait(&fa);
	flood_wait(&fb);
	expect_reply(&fx.calls[0], "busy x0");
	expect_reply(&fa.calls[0], "a0");
	expect_reply(&fa.calls[1], "a1");
	expect_reply(&fb.calls[0], "b0");
	flood_join(&fh);
	flood_join(&fx);
	flood_join(&fa);
	flood_join(&fb);
	rpc_client_close(a);
	rpc_client_close(b);
	rpc_server_stop(s);
}

/* Requests starting with 'b' were sent with a deadline long past. */
static uint64_t past_b(const uint8_t *req, size_t len)
{
	return len > 0 && req[0] == 'b' ? 1 : 0;
}

/* A full queue refuses a request whose sender no longer waits for it (its
 * deadline past) before the newest of the connection with the most
 * waiting, which it refuses otherwise (test_flooder_refused_first): a
 * replica that wakes from a freeze finds its queue full of searches its
 * roots gave up on. */
static void test_dead_request_refused_first(void **state)
{
	(void)state;
	char err[256];
	const char *url = "inproc://rpc-test-dead";
	rpc_client *a;
	rpc_server *s;
	release_holds(0);
	rpc_server_opts o = {NULL, 1, NULL, 0, shed_ab, refuse_busy, 3, 0, past_b};
	assert_int_equal(rpc_server_start(&s, url, &o, ordered, NULL, err, sizeof err), TRAWL_OK);
	assert_int_equal(rpc_client_open(&a, url, NULL, err, sizeof err), TRAWL_OK);
	static flood fh, f1, f2, f3;
	hold_worker(&fh, a);
	flood_start(&f1, a, "a", 1);
	wait_queued(s, 1);
	flood_start(&f2, a, "b", 1); /* dead */
	wait_queued(s, 2);
	flood_start(&f3, a, "ab", 1);
	wait_queued(s, 3);
	rpc_call over = {.peer = a, .req = (const uint8_t *)"aa9", .len = 3};
	rpc_batch *b = rpc_batch_new();
	assert_non_null(b);
	assert_int_equal(rpc_batch_start(b, &over, 10000), TRAWL_OK);
	flood_wait(&f2); /* answered when aa9 came */
	expect_reply(&f2.calls[0], "busy b0");
	assert_false(over.done); /* admitted: waits for the worker */
	release_holds(1);
	assert_int_equal(rpc_batch_wait(b, 1, 10000), 0);
	expect_reply(&over, "aa9");
	flood_wait(&f1);
	flood_wait(&f3);
	expect_reply(&f1.calls[0], "a0");
	expect_reply(&f3.calls[0], "ab0");
	assert_int_equal(rpc_server_shed(s), 1);
	rpc_batch_free(b);
	rpc_call_fini(&over);
	flood_join(&fh);
	flood_join(&f1);
	flood_join(&f2);
	flood_join(&f3);
	rpc_client_close(a);
	rpc_server_stop(s);
}

/* Sends req from a, held in the queue or answered: 1 when it was refused. */
static int refused_now(rpc_client *a, const char *req, int ms)
{
	rpc_call c = {.peer = a, .req = (const uint8_t *)req, .len = strlen(req)};
	rpc_call_many(&c, 1, ms);
	int busy = c.rc == TRAWL_OK && c.reply_len > 5 && !memcmp(c.reply, "busy ", 5);
	rpc_call_fini(&c);
	return busy;
}

/* With its one worker held and 2 requests of prefix (sheddable: 'a' or
 * 'b') waiting, the server is sent one more: 1 when it was refused at once (a request admitted
 * would wait for the worker: the call gives up after 300 ms, its request
 * served when the worker is let go). */
static int third_refused(rpc_server *s, rpc_client *a, flood *fh, flood *f, const char *prefix)
{
	release_holds(0);
	hold_worker(fh, a);
	flood_start(f, a, prefix, 2);
	wait_queued(s, 2);
	int busy = refused_now(a, "a7", 300);
	release_holds(1);
	flood_join(fh);
	flood_join(f);
	return busy;
}

/* A server that has refused LIMIT_RPC_OVERLOAD_REFUSALS requests within
 * overload_ms is overloaded and lets half its queue wait (2 of 3, rounded
 * up), each refusal keeping it so; fewer refusals (a burst) leave it the
 * whole queue; once overload_ms pass without a refusal, the whole queue
 * again. */
static void test_overloaded_keeps_half_the_queue(void **state)
{
	(void)state;
	char err[256];
	const char *url = "inproc://rpc-test-overload";
	rpc_client *a;
	rpc_server *s;
	release_holds(0);
	rpc_server_opts o = {NULL, 1, NULL, 0, shed_ab, refuse_busy, 3, 2000};
	assert_int_equal(rpc_server_start(&s, url, &o, ordered, NULL, err, sizeof err), TRAWL_OK);
	assert_int_equal(rpc_client_open(&a, url, NULL, err, sizeof err), TRAWL_OK);
	static flood fh, fa, fb, fc, fd;
	/* the whole queue (3), then one refusal fewer than overloads it */
	hold_worker(&fh, a);
	flood_start(&fa, a, "a", 3);
	wait_queued(s, 3);
	uint64_t t0 = clock_mono_ms(); /* before the first refusal */
	for (unsigned i = 0; i + 1 < LIMIT_RPC_OVERLOAD_REFUSALS; i++)
		assert_true(refused_now(a, "a9", 10000));
	release_holds(1);
	flood_join(&fh);
	flood_join(&fa);
	/* a burst's worth of refusals: 3 may still wait, and the next is the
	 * last refusal it takes */
	int whole = !third_refused(s, a, &fh, &fb, "b");
	release_holds(0);
	hold_worker(&fh, a);
	flood_start(&fc, a, "bc", 3);
	wait_queued(s, 3);
	assert_true(refused_now(a, "a8", 10000));
	release_holds(1);
	flood_join(&fh);
	flood_join(&fc);
	/* overloaded now: 2 wait, the third is refused */
	int half = third_refused(s, a, &fh, &fd, "bd");
	int in_time = clock_mono_ms() - t0 < 1500; /* else a stalled machine: no verdict */
	/* 2 s without a refusal: 3 may wait again */
	usleep(2100 * 1000);
	int whole_again = !third_refused(s, a, &fh, &fd, "be");
	print_message("overload: a burst leaves %s, %u refusals make %s, 2 s later %s\n",
	              whole ? "the whole queue" : "half the queue", LIMIT_RPC_OVERLOAD_REFUSALS,
	              half ? "half the queue" : "the whole queue",
	              whole_again ? "the whole queue" : "half the queue");
	if (in_time) {
		assert_true(whole);
		assert_true(half);
	}
	assert_true(whole_again);
	rpc_client_close(a);
	rpc_server_stop(s);
	if (!in_time)
		skip();
}

/* Overload settings out of bounds are refused at start. */
static void test_shed_settings_checked(void **state)
{
	(void)state;
	char err[256];
	rpc_server *s = NULL;
	rpc_server_opts none = {NULL, 1, NULL, 0, shed_ab, refuse_busy, 0};
	rpc_server_opts many = {NULL, 1, NULL, 0, shed_ab, refuse_busy, LIMIT_RPC_MAX_QUEUE + 1};
	rpc_server_opts half = {NULL, 1, NULL, 0, shed_ab, NULL, 3};
	assert_int_equal(
	    rpc_server_start(&s, "inproc://rpc-test-bad", &none, ordered, NULL, err, sizeof err),
	    TRAWL_EINVAL);
	assert_int_equal(
	    rpc_server_start(&s, "inproc://rpc-test-bad", &many, ordered, NULL, err, sizeof err),
	    TRAWL_EINVAL);
	assert_int_equal(
	    rpc_server_start(&s, "inproc://rpc-test-bad", &half, ordered, NULL, err, sizeof err),
	    TRAWL_EINVAL);
	assert_null(s);
}

/* A client sending one request at a time, n times, from its own thread. */
typedef struct stepper {
	rpc_client *c;
	char prefix[4];
	unsigned n, failed;
	pthread_t t;
} stepper;

static void *stepper_main(void *arg)
{
	stepper *st = arg;
	for (unsigned i = 0; i < st->n; i++) {
		char req[8];
		snprintf(req, sizeof req, "%s%u", st->prefix, i);
		rpc_call call = {.peer = st->c, .req = (const uint8_t *)req, .len = strlen(req)};
		rpc_call_many(&call, 1, 10000);
		st->failed += call.rc != TRAWL_OK;
		rpc_call_fini(&call);
	}
	return NULL;
}

/* The order keeps each connection's last tag after its request is taken:
 * two clients sending one request at a time, at once, do not hold back a
 * third connection's second request (p1, tagged above the tag being
 * served). With the tag forgotten once a connection had nothing queued,
 * they kept coming back at the tag being served and p1 waited until they
 * stopped: served 42nd of 43 instead of 4th at the latest. */
static void test_one_at_a_time_does_not_starve(void **state)
{
	(void)state;
	char err[256];
	const char *url = "inproc://rpc-test-starve";
	rpc_server *s;
	rpc_client *x, *p, *a, *b;
	release_holds(0);
	assert_int_equal(rpc_server_start(&s, url, &one_worker, ordered, NULL, err, sizeof err),
	                 TRAWL_OK);
	rpc_client **cs[] = {&x, &p, &a, &b};
	for (int i = 0; i < 4; i++)
		assert_int_equal(rpc_client_open(cs[i], url, NULL, err, sizeof err), TRAWL_OK);
	static flood fh, fp;
	hold_worker(&fh, x);
	flood_start(&fp, p, "p", 2);
	wait_queued(s, 2);
	stepper sa = {a, "a", 20, 0, 0}, sb = {b, "b", 20, 0, 0};
	assert_int_equal(pthread_create(&sa.t, NULL, stepper_main, &sa), 0);
	assert_int_equal(pthread_create(&sb.t, NULL, stepper_main, &sb), 0);
	wait_queued(s, 4);
	pthread_mutex_lock(&order_mu);
	released = 1;
	pthread_cond_broadcast(&order_cv);
	pthread_mutex_unlock(&order_mu);
	pthread_join(sa.t, NULL);
	pthread_join(sb.t, NULL);
	flood_join(&fp);
	flood_join(&fh);
	assert_int_equal(sa.failed + sb.failed, 0);
	assert_int_equal(norder, 43);
	unsigned at = 0;
	while (at < norder && strcmp(order[at], "p1"))
		at++;
	if (at > 4) {
		char seen[64 * 4] = "";
		for (unsigned i = 0; i < norder && i < 12; i++)
			snprintf(seen + strlen(seen), sizeof seen - strlen(seen), " %s", order[i]);
		fail_msg("p1 served at %u of %u (after hold, p0, a0 and b0 it is next):%s", at,
		         norder, seen);
	}
	for (int i = 0; i < 4; i++)
		rpc_client_close(*cs[i]);
	rpc_server_stop(s);
}

/* Which listen URLs stay on this machine (the warning of a service that
 * listens beyond loopback without TLS). */
static void test_url_loopback(void **state)
{
	(void)state;
	static const char *const local[] = {
	    "tcp://127.0.0.1:7000",  "tcp://127.1.2.3:1",    "tcp://[::1]:7000",
	    "tls+tcp://127.0.0.1:7", "tcp://localhost:7000", "inproc://x",
	    "ipc:///tmp/sock",
	};
	static const char *const exposed[] = {
	    "tcp://0.0.0.0:7000",
	    "tcp://*:7000",
	    "tcp://:7000",
	    "tcp://[::]:7000",
	    "tls+tcp://0.0.0.0:7",
	    "tcp://10.0.0.5:7000",
	    "tcp://no-such-host.invalid:1",
	    "ws://",
	    "nonsense",
	};
	for (size_t i = 0; i < sizeof local / sizeof local[0]; i++)
		if (!rpc_url_loopback(local[i]))
			fail_msg("%s: not loopback?", local[i]);
	for (size_t i = 0; i < sizeof exposed / sizeof exposed[0]; i++)
		if (rpc_url_loopback(exposed[i]))
			fail_msg("%s: loopback?", exposed[i]);
}

/* ---- a TLS peer that ends just after a reply ---- */

static const char *self_path; /* this program, run again as a TLS peer */

/* The peer (rpc_test --tls-peer URL CERT KEY N): a bare nng REP socket on
 * tls+tcp that answers N+1 requests and ends within 300 us of sending the
 * last reply, so that its FIN follows the reply closely, as a leaf killed
 * under load does. Never returns. */
static void tls_peer_main(char **argv)
{
	nng_socket s;
	nng_listener l;
	nng_tls_config *cfg;
	unsigned after = (unsigned)atoi(argv[5]);
	FILE *f;
	char cert[8192] = "", key[8192] = "";
	size_t n;
	if (!(f = fopen(argv[3], "r")) || (n = fread(cert, 1, sizeof cert - 1, f)) == 0)
		_exit(3);
	cert[n] = 0;
	fclose(f);
	if (!(f = fopen(argv[4], "r")) || (n = fread(key, 1, sizeof key - 1, f)) == 0)
		_exit(3);
	key[n] = 0;
	fclose(f);
	if (nng_rep0_open(&s) || nng_listener_create(&l, s, argv[2]) ||
	    nng_tls_config_alloc(&cfg, NNG_TLS_MODE_SERVER) ||
	    nng_tls_config_own_cert(cfg, cert, key, NULL) ||
	    nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg) || nng_listener_start(l, 0))
		_exit(4);
	srand((unsigned)getpid());
	for (unsigned i = 0;; i++) {
		char *m;
		size_t len;
		if (nng_recv(s, &m, &len, NNG_FLAG_ALLOC))
			_exit(2);
		nng_send(s, m, len, 0);
		nng_free(m, len);
		if (i == after) {
			usleep((useconds_t)(rand() % 300));
			_exit(0);
		}
	}
}

/* rpc_client_close(c) within ms milliseconds: 1, or 0 if it is still
 * waiting then (left to wait). */
static void *close_thread(void *c)
{
	rpc_client_close(c);
	return NULL;
}

static int close_within(rpc_client *c, unsigned ms)
{
	pthread_t t;
	if (pthread_create(&t, NULL, close_thread, c))
		return 0;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	if (pthread_timedjoin_np(t, NULL, &until) == 0)
		return 1;
	pthread_detach(t);
	return 0;
}

/* A client whose TLS peer ends just after a reply counts no connection
 * within 3 s, given what the root does after each unanswered ping
 * (rpc_client_close_dead) once nng has not reported the end within 1 s.
 * nng 1.5.2's TLS layer misses the end of such a connection now and then
 * (3 of 180 peers on a loaded machine, 0 of 60 on a quiet one), and then
 * nng neither reports it gone nor dials again: without
 * rpc_client_close_dead this test fails whenever that happens. It says
 * how many of its runs needed it. */
static int dead_tls_main(void)
{
	char dir[] = "/tmp/trawl-rpc-tls-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char cert[96], key[96], cmd[512];
	snprintf(cert, sizeof cert, "%s/cert.pem", dir);
	snprintf(key, sizeof key, "%s/key.pem", dir);
	snprintf(cmd, sizeof cmd,
	         "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s -days 2 "
	         "-subj /CN=localhost >/dev/null 2>&1",
	         key, cert);
	if (system(cmd) != 0)
		fail_msg("openssl could not make a test certificate (scripts/deps.sh installs it)");
	extern char **environ;
	unsigned runs = 30, dead = 0;
	int stuck = 0;
	for (unsigned r = 0; r < runs; r++) {
		char url[64], after[16];
		snprintf(url, sizeof url, "tls+tcp://127.0.0.1:%d", free_port());
		snprintf(after, sizeof after, "%u", 3 + (r * 7) % 40);
		char *args[] = {(char *)self_path, "--tls-peer", url, cert, key, after, NULL};
		pid_t pid;
		assert_int_equal(posix_spawn(&pid, self_path, NULL, NULL, args, environ), 0);
		rpc_client *c;
		char err[256];
		assert_int_equal(rpc_client_open(&c, url, NULL, err, sizeof err), TRAWL_OK);
		int gone0 = __atomic_load_n(&gone_calls, __ATOMIC_SEQ_CST);
		rpc_client_on_disconnect(c, count_gone, NULL);
		/* calls until the peer has gone: the first waits for the peer to
		 * listen and the connection to be made; a call unanswered while
		 * the peer lives (a slow answer on a loaded machine: the peer has
		 * not had all its requests yet) is followed by another, within
		 * 60 s, not by a wait for a peer that waits for a request */
		unsigned answered = 0;
		int status, ended = 0;
		for (int tries = 0; !ended; tries++) {
			rpc_call call = {.peer = c, .req = (const uint8_t *)"ping", .len = 4};
			rpc_call_many(&call, 1, answered ? 300 : 5000);
			int ok = call.rc == TRAWL_OK;
			rpc_call_fini(&call);
			if (ok) {
				answered++;
				continue;
			}
			pid_t w = waitpid(pid, &status, WNOHANG);
			assert_true(w == 0 || w == pid);
			ended = w == pid;
			if (!ended && tries > 200) {
				kill(pid, SIGKILL);
				waitpid(pid, &status, 0);
				fail_msg("the TLS peer did not end after %u answers", answered);
			}
		}
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		assert_true(answered >= 3);
		/* nng reports the end within a second, or has missed it */
		unsigned now = 1;
		uint64_t made;
		for (int i = 0; i < 100 && now; i++) {
			rpc_client_connections(c, &now, &made);
			if (now)
				usleep(10000);
		}
		if (now) {
			/* what the root does after each unanswered ping: the
			 * connection counts as gone at once */
			dead++;
			assert_int_equal(rpc_client_close_dead(c), 1);
			rpc_client_connections(c, &now, &made);
		}
		assert_int_equal(now, 0);
		/* reported gone once, whether by nng or by rpc_client_close_dead,
		 * and not again when nng reports a closed one late */
		usleep(200000);
		assert_int_equal(__atomic_load_n(&gone_calls, __ATOMIC_SEQ_CST), gone0 + 1);
		if (!close_within(c, 5000)) {
			stuck = 1;
			break;
		}
	}
	printf("  %u of %u peers that ended just after a reply: nng missed the end, and "
	       "rpc_client_close_dead closed the connection\n",
	       dead, runs);
	if (stuck)
		printf("  after %u of them, nng_close waited on a connection's teardown for more "
		       "than 5 s (nng 1.5.2, docs/RESILIENCE.md known limits): left there\n",
		       dead);
	unlink(cert);
	unlink(key);
	rmdir(dir);
	fflush(stdout);
	_exit(0); /* nng is not finished: a stuck teardown would wait forever */
}

/* The test above in a process of its own (this program, run again): nng
 * 1.5.2 can leave the close of a client whose TLS connection it lost
 * waiting forever, and every teardown after it; that must not take the
 * other tests with it. Bounded at 150 s. */
static void test_dead_tls_connection_closed(void **state)
{
	(void)state;
	extern char **environ;
	char *args[] = {(char *)self_path, "--dead-tls", NULL};
	pid_t pid;
	int status = 0;
	assert_int_equal(posix_spawn(&pid, self_path, NULL, NULL, args, environ), 0);
	for (int i = 0; i < 1500; i++) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		assert_int_equal(w, 0);
		if (i == 1499) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fail_msg("the dead-TLS-connection test did not end within 150 s");
		}
		usleep(100000);
	}
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- local:// servers: the handler on the caller's thread ---- */

static pthread_t local_thread;     /* the thread the last call ran on */
static atomic_int local_in_use[4]; /* worker numbers held by a running call */
static atomic_int local_overlaps;  /* a number held by two calls at once */
static char local_order[8][8];     /* the requests handled, in order */
static atomic_uint local_norder;

/* Answers "w<worker>:" and the request; "slow" sleeps 1 ms first, "nap"
 * 50 ms, "hold" waits until release_holds(1). */
static void local_h(void *ctx, unsigned worker, const uint8_t *req, size_t len, tbuf *out)
{
	(void)ctx;
	local_thread = pthread_self();
	if (atomic_exchange(&local_in_use[worker], 1))
		atomic_fetch_add(&local_overlaps, 1);
	if (len >= 4 && !memcmp(req, "slow", 4))
		usleep(1000);
	if (len >= 3 && !memcmp(req, "nap", 3))
		usleep(50 * 1000);
	if (len >= 4 && !memcmp(req, "hold", 4)) {
		pthread_mutex_lock(&order_mu);
		while (!released)
			pthread_cond_wait(&order_cv, &order_mu);
		pthread_mutex_unlock(&order_mu);
	}
	atomic_store(&local_in_use[worker], 0);
	unsigned k = atomic_fetch_add(&local_norder, 1);
	if (k < 8)
		snprintf(local_order[k], sizeof local_order[k], "%.*s", (int)(len < 7 ? len : 7),
		         (const char *)req);
	tbuf_printf(out, "w%u:", worker);
	tbuf_append(out, req, len);
}

static void local_call1(rpc_client *c, const char *req, rpc_call *out)
{
	*out = (rpc_call){.peer = c, .req = (const uint8_t *)req, .len = strlen(req)};
	rpc_call_many(out, 1, 10000);
}

/* A local_h server on url with options o, and a client of it. */
static void local_open(const char *url, const rpc_server_opts *o, rpc_server **s, rpc_client **c)
{
	char err[256];
	assert_int_equal(rpc_server_start(s, url, o, local_h, NULL, err, sizeof err), TRAWL_OK);
	assert_int_equal(rpc_client_open(c, url, NULL, err, sizeof err), TRAWL_OK);
}

/* A call to a local:// server runs on the caller's thread and takes the
 * first free worker number (a ping the reserve's); the URL is taken once;
 * a client of a URL no server has gets TRAWL_EIO at once. */
static void test_local_calls(void **state)
{
	(void)state;
	char err[256];
	rpc_server *s, *dup;
	rpc_client *c, *none;
	assert_int_equal(rpc_server_start(&s, "local://rpc-test",
	                                  &(rpc_server_opts){NULL, 2, is_ping, 0}, local_h, NULL,
	                                  err, sizeof err),
	                 TRAWL_OK);
	assert_int_equal(
	    rpc_server_start(&dup, "local://rpc-test", &one_worker, local_h, NULL, err, sizeof err),
	    TRAWL_EINVAL);
	assert_non_null(strstr(err, "local://rpc-test"));
	assert_int_equal(rpc_client_open(&c, "local://rpc-test", NULL, err, sizeof err), TRAWL_OK);
	assert_int_equal(rpc_client_open(&none, "local://nobody", NULL, err, sizeof err), TRAWL_OK);
	rpc_call k;
	local_call1(c, "x", &k);
	expect_reply(&k, "w0:x");
	assert_true(pthread_equal(local_thread, pthread_self()));
	rpc_call_fini(&k);
	local_call1(c, "ping", &k);
	expect_reply(&k, "w2:ping");
	rpc_call_fini(&k);
	unsigned now;
	uint64_t made;
	rpc_client_connections(c, &now, &made);
	assert_int_equal(now, 1);
	rpc_client_connections(none, &now, &made);
	assert_int_equal(now, 0);
	local_call1(none, "x", &k);
	assert_int_equal(k.rc, TRAWL_EIO);
	assert_null(k.reply);
	assert_int_equal(rpc_client_close_dead(c), 0);
	assert_int_equal(rpc_url_loopback("local://rpc-test"), 1);
	assert_int_equal(rpc_server_busy(s), 0);
	rpc_client_close(none);
	rpc_client_close(c);
	rpc_server_stop(s);
}

typedef struct local_flood {
	rpc_client *c;
	int ok;
	pthread_t th;
} local_flood;

static void *local_flood_main(void *arg)
{
	local_flood *f = arg;
	for (int i = 0; i < 20; i++) {
		rpc_call k;
		local_call1(f->c, "slow", &k);
		f->ok += k.rc == TRAWL_OK && k.reply_len == 7 && !memcmp(k.reply + 2, ":slow", 5);
		rpc_call_fini(&k);
	}
	return NULL;
}

/* Six threads calling a server of two workers at once: every call is
 * answered, and no worker number is ever held by two calls (the
 * handler's per-worker state would be shared). */
static void test_local_worker_numbers_held_once(void **state)
{
	(void)state;
	rpc_server *s;
	rpc_client *c;
	local_open("local://rpc-test-many", &(rpc_server_opts){NULL, 2, NULL, 0}, &s, &c);
	atomic_store(&local_overlaps, 0);
	local_flood f[6];
	for (int i = 0; i < 6; i++) {
		f[i] = (local_flood){c, 0, 0};
		assert_int_equal(pthread_create(&f[i].th, NULL, local_flood_main, &f[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(f[i].th, NULL);
		assert_int_equal(f[i].ok, 20);
	}
	assert_int_equal(atomic_load(&local_overlaps), 0);
	rpc_client_close(c);
	rpc_server_stop(s);
}

typedef struct local_one {
	rpc_client *c;
	const char *req;
	rpc_call k;
	pthread_t th;
} local_one;

static void *local_one_main(void *arg)
{
	local_one *o = arg;
	local_call1(o->c, o->req, &o->k);
	return NULL;
}

static unsigned busy_of(rpc_server *s)
{
	return rpc_server_busy(s);
}

/* Waits (10 s at most) until get(s) is want. */
static void wait_until(unsigned (*get)(rpc_server *), rpc_server *s, unsigned want)
{
	for (int i = 0; i < 10000 && get(s) != want; i++)
		usleep(1000);
	assert_int_equal(get(s), want);
}

/* With its one worker held and one sheddable call waiting (max_queue 1),
 * a second sheddable call is refused at once with the server's refusal;
 * the waiting one is answered when the worker is let go. */
static void test_local_full_queue_refuses(void **state)
{
	(void)state;
	rpc_server *s;
	rpc_client *c;
	rpc_server_opts o = {NULL, 1, NULL, 0, shed_ab, refuse_busy, 1};
	local_open("local://rpc-test-shed", &o, &s, &c);
	release_holds(0);
	local_one h = {c, "hold"}, a = {c, "a1"};
	assert_int_equal(pthread_create(&h.th, NULL, local_one_main, &h), 0);
	wait_until(busy_of, s, 1);
	assert_int_equal(pthread_create(&a.th, NULL, local_one_main, &a), 0);
	wait_until(rpc_server_queued, s, 1);
	rpc_call over;
	local_call1(c, "a2", &over);
	expect_reply(&over, "busy a2");
	rpc_call_fini(&over);
	assert_int_equal(rpc_server_shed(s), 1);
	release_holds(1);
	pthread_join(h.th, NULL);
	pthread_join(a.th, NULL);
	expect_reply(&h.k, "w0:hold");
	expect_reply(&a.k, "w0:a1");
	rpc_call_fini(&h.k);
	rpc_call_fini(&a.k);
	rpc_client_close(c);
	rpc_server_stop(s);
}

/* Callers that wait for the one worker are served in the order they came;
 * a sheddable one whose deadline passes while it waits leaves the line
 * with the server's refusal, the others keep their places. */
static uint64_t local_deadline_us;

static uint64_t deadline_of_a(const uint8_t *req, size_t len)
{
	return len > 0 && req[0] == 'a' ? local_deadline_us : 0;
}

static void test_local_line_in_order(void **state)
{
	(void)state;
	rpc_server *s;
	rpc_client *c;
	rpc_server_opts o = {NULL, 1, NULL, 0, shed_ab, refuse_busy, 8};
	o.deadline = deadline_of_a;
	local_open("local://rpc-test-line", &o, &s, &c);
	release_holds(0);
	atomic_store(&local_norder, 0);
	local_one h = {c, "hold"}, w[3] = {{c, "b1"}, {c, "a2"}, {c, "b3"}};
	assert_int_equal(pthread_create(&h.th, NULL, local_one_main, &h), 0);
	wait_until(busy_of, s, 1);
	/* a2 gives up 300 ms from now; b1 and b3 wait as long as it takes */
	local_deadline_us = clock_unix_us() + 300 * 1000;
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(pthread_create(&w[i].th, NULL, local_one_main, &w[i]), 0);
		wait_until(rpc_server_queued, s, i + 1);
	}
	pthread_join(w[1].th, NULL); /* refused at its deadline, the hold still on */
	expect_reply(&w[1].k, "busy a2");
	assert_int_equal(rpc_server_queued(s), 2);
	release_holds(1);
	pthread_join(h.th, NULL);
	pthread_join(w[0].th, NULL);
	pthread_join(w[2].th, NULL);
	expect_reply(&w[0].k, "w0:b1");
	expect_reply(&w[2].k, "w0:b3");
	assert_int_equal(atomic_load(&local_norder), 3);
	assert_string_equal(local_order[0], "hold");
	assert_string_equal(local_order[1], "b1");
	assert_string_equal(local_order[2], "b3");
	for (unsigned i = 0; i < 3; i++)
		rpc_call_fini(&w[i].k);
	rpc_call_fini(&h.k);
	rpc_client_close(c);
	rpc_server_stop(s);
}

/* rpc_server_stop waits for a call in hand, which is answered; a call
 * after it finds no server. */
static void test_local_stop_waits_for_calls(void **state)
{
	(void)state;
	rpc_server *s;
	rpc_client *c;
	local_open("local://rpc-test-stop", &one_worker, &s, &c);
	local_one n = {c, "nap"};
	assert_int_equal(pthread_create(&n.th, NULL, local_one_main, &n), 0);
	wait_until(busy_of, s, 1);
	rpc_server_stop(s);
	assert_int_equal(n.k.done, 1); /* the nap (50 ms) ended before the stop returned */
	pthread_join(n.th, NULL);
	expect_reply(&n.k, "w0:nap");
	rpc_call_fini(&n.k);
	rpc_call k;
	local_call1(c, "x", &k);
	assert_int_equal(k.rc, TRAWL_EIO);
	rpc_client_close(c);
}

int main(int argc, char **argv)
{
	if (argc == 6 && !strcmp(argv[1], "--tls-peer"))
		tls_peer_main(argv);
	self_path = argv[0];
	if (argc == 2 && !strcmp(argv[1], "--dead-tls"))
		return dead_tls_main();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_url_loopback),
	    cmocka_unit_test(test_local_calls),
	    cmocka_unit_test(test_local_worker_numbers_held_once),
	    cmocka_unit_test(test_local_full_queue_refuses),
	    cmocka_unit_test(test_local_line_in_order),
	    cmocka_unit_test(test_local_stop_waits_for_calls),
	    cmocka_unit_test(test_calls_answered),
	    cmocka_unit_test(test_connections_counted_and_redialled),
	    cmocka_unit_test(test_dead_tls_connection_closed),
	    cmocka_unit_test(test_peer_not_there_then_there),
	    cmocka_unit_test(test_send_waits_for_connection),
	    cmocka_unit_test(test_batch_wait_for_n),
	    cmocka_unit_test(test_peer_that_does_not_read_is_cut_off),
	    cmocka_unit_test(test_connections_served_in_turn),
	    cmocka_unit_test(test_one_at_a_time_does_not_starve),
	    cmocka_unit_test(test_ping_passes_the_queue),
	    cmocka_unit_test(test_full_queue_refuses_at_once),
	    cmocka_unit_test(test_flooder_refused_first),
	    cmocka_unit_test(test_costly_refused_first),
	    cmocka_unit_test(test_overloaded_keeps_half_the_queue),
	    cmocka_unit_test(test_dead_request_refused_first),
	    cmocka_unit_test(test_shed_settings_checked),
	    cmocka_unit_test(test_connections_per_address),
	    cmocka_unit_test(test_slow_reader_is_let_back),
	    cmocka_unit_test(test_stalled_reader_is_let_back_by_a_ping),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	rpc_fini();
	return failed;
}
