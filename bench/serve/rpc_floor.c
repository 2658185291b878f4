/*
 * rpc_floor.c - what one root-to-leaf round trip costs before any search:
 * an echo through common/rpc.c (nng REQ/REP, the code the root and the
 * leaves use) to 1, 2 and 4 leaf-like processes over loopback TCP, the
 * same echo over inproc:// inside one process (what `trawl serve` pays),
 * and a plain blocking TCP ping-pong between two processes (what the
 * kernel alone costs), also with both processes pinned to one CPU (what
 * it costs when no wake-up has to cross to another vCPU). bench/RESULTS.md quotes it to say how
 * much of the cluster's latency over `trawl serve` is the transport.
 *
 *   build/bench/serve/rpc_floor [CALLS] [BYTES]     # defaults 3000 and 200
 *
 * Each echo server is a child process forked before the parent touches
 * nng (nng's threads do not survive a fork), serving with one worker as a
 * leaf started with --workers 1 does. A round trip of the scatter is
 * rpc_call_many to every peer at once, as the root sends one SEARCH per
 * leaf; the figure is its wall time. Prints p50 / p90 / p99 in
 * microseconds over CALLS round trips after CALLS / 10 warm-up ones.
 */
/* sched_setaffinity and cpu_set_t: meson defines _GNU_SOURCE */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/rpc.h"

#define MAX_PEERS 4
#define MAX_BYTES 65536

/* The servers here: one worker, no reserve, the default request bound. */
static const rpc_server_opts one_worker = {NULL, 1, NULL, 0};

static double now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void report(const char *what, double *t, int n)
{
	qsort(t, (size_t)n, sizeof *t, cmp_double);
	printf("| %s | %.1f | %.1f | %.1f |\n", what, t[n / 2], t[n * 9 / 10], t[n * 99 / 100]);
}

static void echo(void *ctx, unsigned worker, const uint8_t *req, size_t len, tbuf *out)
{
	(void)ctx;
	(void)worker;
	tbuf_append(out, req, len);
}

/* A free loopback TCP port: bound to port 0, read back, released. */
static int free_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) ||
	    getsockname(s, (struct sockaddr *)&a, &al)) {
		perror("rpc_floor: free port");
		exit(71);
	}
	close(s);
	return ntohs(a.sin_port);
}

/* Forks a child running fn(port); returns when the child says it is ready. */
static pid_t spawn(void (*fn)(int port, int ready), int port)
{
	int p[2];
	if (pipe(p)) {
		perror("rpc_floor: pipe");
		exit(71);
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("rpc_floor: fork");
		exit(71);
	}
	if (pid == 0) {
		close(p[0]);
		fn(port, p[1]);
		_exit(0);
	}
	close(p[1]);
	char c;
	if (read(p[0], &c, 1) != 1) {
		fprintf(stderr, "rpc_floor: a server did not start\n");
		exit(71);
	}
	close(p[0]);
	return pid;
}

static void nng_server(int port, int ready)
{
	char url[64], err[256];
	snprintf(url, sizeof url, "tcp://127.0.0.1:%d", port);
	rpc_server *s;
	if (rpc_server_start(&s, url, &one_worker, echo, NULL, err, sizeof err)) {
		fprintf(stderr, "rpc_floor: %s\n", err);
		_exit(1);
	}
	if (write(ready, "r", 1) != 1)
		_exit(1);
	for (;;)
		pause();
}

/* Pins the calling thread to CPU 0 (the threads it starts later inherit
 * that); returns 0, or -1 on a one-CPU machine or an error. */
static int pin_cpu0(void)
{
	cpu_set_t all, one;
	if (sched_getaffinity(0, sizeof all, &all) || CPU_COUNT(&all) < 2)
		return -1;
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	return sched_setaffinity(0, sizeof one, &one);
}

static void tcp_server_pinned(int port, int ready);

static void tcp_server(int port, int ready)
{
	int one = 1, l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons((uint16_t)port),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1))
		_exit(1);
	if (write(ready, "r", 1) != 1)
		_exit(1);
	int c = accept(l, NULL, NULL);
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	static char buf[MAX_BYTES];
	for (;;) {
		ssize_t n = read(c, buf, sizeof buf);
		if (n <= 0 || write(c, buf, (size_t)n) != n)
			_exit(0);
	}
}

static void tcp_server_pinned(int port, int ready)
{
	pin_cpu0();
	tcp_server(port, ready);
}

/* CALLS ping-pongs of len bytes with the plain TCP echo server on port. */
static int ping_pong(const char *what, int port, const uint8_t *req, int bytes, int calls)
{
	int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons((uint16_t)port),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (connect(s, (struct sockaddr *)&a, sizeof a)) {
		perror("rpc_floor: connect");
		return 71;
	}
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	double *t = malloc((size_t)calls * sizeof *t);
	static uint8_t back[MAX_BYTES];
	for (int i = -calls / 10; i < calls; i++) {
		double t0 = now_us();
		if (write(s, req, (size_t)bytes) != bytes)
			return 70;
		for (int got = 0; got < bytes;) {
			ssize_t n = read(s, back + got, (size_t)(bytes - got));
			if (n <= 0)
				return 70;
			got += (int)n;
		}
		if (i >= 0)
			t[i] = now_us() - t0;
	}
	report(what, t, calls);
	free(t);
	close(s);
	return 0;
}

/* CALLS scatters of one request to each of peers[0..n-1]. */
static void scatter(const char *what, rpc_client **peers, int n, const uint8_t *req, size_t len,
                    int calls)
{
	double *t = malloc((size_t)calls * sizeof *t);
	for (int i = -calls / 10; i < calls; i++) {
		rpc_call c[MAX_PEERS];
		memset(c, 0, sizeof c);
		for (int p = 0; p < n; p++) {
			c[p].peer = peers[p];
			c[p].req = req;
			c[p].len = len;
		}
		double t0 = now_us();
		rpc_call_many(c, (unsigned)n, 5000);
		double dt = now_us() - t0;
		for (int p = 0; p < n; p++) {
			if (c[p].rc != 0 || c[p].reply_len != len) {
				fprintf(stderr, "rpc_floor: %s: call to peer %d failed (rc %d)\n",
				        what, p, c[p].rc);
				exit(70);
			}
			rpc_call_fini(&c[p]);
		}
		if (i >= 0)
			t[i] = dt;
	}
	report(what, t, calls);
	free(t);
}

int main(int argc, char **argv)
{
	int calls = argc > 1 ? atoi(argv[1]) : 3000;
	int bytes = argc > 2 ? atoi(argv[2]) : 200;
	if (calls < 10 || calls > 1000000 || bytes < 1 || bytes > MAX_BYTES) {
		fprintf(stderr, "usage: rpc_floor [CALLS 10..1000000] [BYTES 1..%d]\n", MAX_BYTES);
		return 64;
	}
	/* every child first: nng's threads must not exist at fork time */
	int ports[MAX_PEERS], tport = free_port(), tport_pinned = free_port();
	pid_t kids[MAX_PEERS + 2];
	for (int i = 0; i < MAX_PEERS; i++)
		kids[i] = spawn(nng_server, ports[i] = free_port());
	kids[MAX_PEERS] = spawn(tcp_server, tport);
	kids[MAX_PEERS + 1] = spawn(tcp_server_pinned, tport_pinned);

	uint8_t *req = calloc(1, (size_t)bytes);
	char err[256], url[64];
	printf("round trips of %d bytes, %d calls each (us)\n\n", bytes, calls);
	printf("| transport | p50 | p90 | p99 |\n|---|---|---|---|\n");

	/* plain TCP ping-pong: the scheduler may put the two processes on
	 * one CPU or on two (each wake-up then crosses vCPUs), so both are
	 * measured, the second with both pinned to CPU 0 */
	int rc =
	    ping_pong("plain TCP, 2 processes (blocking read/write)", tport, req, bytes, calls);
	cpu_set_t mask;
	if (!rc && sched_getaffinity(0, sizeof mask, &mask) == 0 && pin_cpu0() == 0) {
		rc = ping_pong("plain TCP, 2 processes, both on CPU 0", tport_pinned, req, bytes,
		               calls);
		sched_setaffinity(0, sizeof mask, &mask);
	}
	if (rc)
		return rc;

	/* nng over inproc://, server in this process (trawl serve's path) */
	rpc_server *local;
	if (rpc_server_start(&local, "inproc://rpc-floor", &one_worker, echo, NULL, err,
	                     sizeof err)) {
		fprintf(stderr, "rpc_floor: %s\n", err);
		return 71;
	}
	rpc_client *in;
	if (rpc_client_open(&in, "inproc://rpc-floor", NULL, err, sizeof err)) {
		fprintf(stderr, "rpc_floor: %s\n", err);
		return 71;
	}
	rpc_client *peers[MAX_PEERS];
	for (int i = 0; i < MAX_PEERS; i++) {
		snprintf(url, sizeof url, "tcp://127.0.0.1:%d", ports[i]);
		if (rpc_client_open(&peers[i], url, NULL, err, sizeof err)) {
			fprintf(stderr, "rpc_floor: %s\n", err);
			return 71;
		}
	}
	scatter("nng REQ/REP, inproc://, 1 peer (trawl serve)", &in, 1, req, (size_t)bytes, calls);
	scatter("nng REQ/REP, tcp loopback, 1 peer process", peers, 1, req, (size_t)bytes, calls);
	scatter("nng REQ/REP, tcp loopback, 2 peer processes", peers, 2, req, (size_t)bytes, calls);
	scatter("nng REQ/REP, tcp loopback, 4 peer processes", peers, 4, req, (size_t)bytes, calls);

	for (int i = 0; i < MAX_PEERS; i++)
		rpc_client_close(peers[i]);
	rpc_client_close(in);
	rpc_server_stop(local);
	for (int i = 0; i < MAX_PEERS + 2; i++) {
		kill(kids[i], SIGTERM);
		waitpid(kids[i], NULL, 0);
	}
	free(req);
	rpc_fini();
	return 0;
}
