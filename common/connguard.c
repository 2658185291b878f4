/*
 * connguard.c - the HTTP server's connection guard (see connguard.h).
 *
 * WAITING connections are kept in a list ordered by the time they started
 * waiting (a connection joins at the tail, and time only moves forward), so
 * the oldest is at the head: guard_tick stops at the first connection still
 * within its deadline, and the victims that make room are taken from the
 * head. BUSY connections are in a list of their own. The number of
 * connections of each address is kept in a small chained hash table, one
 * entry per address with connections open.
 */
#include "common/connguard.h"

#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/clock.h"
#include "common/hash.h"

#define ADDR_BUCKETS 1024 /* a power of two */

/* How long a connection must have waited for its request before it may
 * be closed to make room. A client sends its request as soon as it has
 * connected (or has its previous answer), so a connection that old without
 * one is slow or idle.
 * - GUARD_OPEN_MS when a new connection comes: a newcomer has proved
 *   nothing yet, and a short wait would let connections that are closed
 *   and reconnect at once close one another in a chain.
 * - GUARD_ADMIT_MS when a request's headers are complete: that client has
 *   shown it is sending requests, and a connection without one after this
 *   long is not one that is merely slow to be read. */
#define GUARD_OPEN_MS 1000
#define GUARD_ADMIT_MS 100

typedef struct addr_count {
	char addr[INET6_ADDRSTRLEN];
	unsigned n;       /* its connections known */
	unsigned closing; /* of them, shut down by the guard already */
	struct addr_count *next;
} addr_count;

struct guard_conn {
	int fd;
	addr_count *a;
	int busy;       /* else WAITING */
	int admitted;   /* its request headers are complete: never a victim */
	int over;       /* opened past max_conns, with no room made for it yet */
	int over_ip;    /* opened past max_per_ip, with no room made for it yet */
	int closing;    /* shut down by the guard; guard_close comes next */
	uint64_t since; /* WAITING since (clock_mono_ms) */
	guard_conn *prev, *next;
};

typedef struct conn_list {
	guard_conn *head, *tail;
} conn_list;

struct guard {
	pthread_mutex_t mu;
	unsigned max_conns, max_per_ip, deadline_ms;
	conn_list waiting, busy;
	uint64_t open, closing;
	uint64_t expired, evicted, refused;
	addr_count *addrs[ADDR_BUCKETS];
};

static void list_append(conn_list *l, guard_conn *c)
{
	c->prev = l->tail;
	c->next = NULL;
	if (l->tail)
		l->tail->next = c;
	else
		l->head = c;
	l->tail = c;
}

static void list_remove(conn_list *l, guard_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		l->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		l->tail = c->prev;
	c->prev = c->next = NULL;
}

/* The count of address addr, created at 0 if need be (NULL: no memory). */
static addr_count *addr_get(guard *g, const char *addr)
{
	addr_count **b = &g->addrs[th_hash64(addr, strlen(addr)) & (ADDR_BUCKETS - 1)];
	for (addr_count *a = *b; a; a = a->next)
		if (!strcmp(a->addr, addr))
			return a;
	addr_count *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	strncpy(a->addr, addr, sizeof a->addr - 1);
	a->next = *b;
	*b = a;
	return a;
}

/* Forgets a once it has no connection. */
static void addr_release(guard *g, addr_count *a)
{
	if (a->n)
		return;
	addr_count **b = &g->addrs[th_hash64(a->addr, strlen(a->addr)) & (ADDR_BUCKETS - 1)];
	while (*b != a)
		b = &(*b)->next;
	*b = a->next;
	free(a);
}

guard *guard_new(unsigned max_conns, unsigned max_per_ip, unsigned deadline_ms)
{
	guard *g = calloc(1, sizeof *g);
	if (!g)
		return NULL;
	pthread_mutex_init(&g->mu, NULL);
	g->max_conns = max_conns;
	g->max_per_ip = max_per_ip;
	g->deadline_ms = deadline_ms;
	return g;
}

void guard_free(guard *g)
{
	if (!g)
		return;
	conn_list *lists[2] = {&g->waiting, &g->busy};
	for (int i = 0; i < 2; i++)
		while (lists[i]->head) {
			guard_conn *c = lists[i]->head;
			list_remove(lists[i], c);
			free(c);
		}
	for (unsigned b = 0; b < ADDR_BUCKETS; b++)
		while (g->addrs[b]) {
			addr_count *a = g->addrs[b];
			g->addrs[b] = a->next;
			free(a);
		}
	pthread_mutex_destroy(&g->mu);
	free(g);
}

/* Closes c: the HTTP library sees the connection end (g->mu held). */
static void shut(guard *g, guard_conn *c)
{
	c->closing = 1;
	c->a->closing++;
	g->closing++;
	shutdown(c->fd, SHUT_RDWR);
}

/* The oldest WAITING connection that has waited min_ms and may make room
 * (of address a, or of any when a is NULL), other than except; NULL if none
 * (g->mu held). */
static guard_conn *victim(guard *g, const addr_count *a, const guard_conn *except, uint64_t min_ms)
{
	uint64_t now = clock_mono_ms();
	for (guard_conn *c = g->waiting.head; c && c->since + min_ms <= now; c = c->next)
		if (c != except && !c->closing && !c->admitted && (!a || c->a == a))
			return c;
	return NULL;
}

/* Closes the oldest WAITING connection of address a (any address: a NULL)
 * that has waited min_ms; 1 if there was one (g->mu held). */
static int evict(guard *g, const addr_count *a, const guard_conn *except, uint64_t min_ms)
{
	guard_conn *v = victim(g, a, except, min_ms);
	if (v) {
		shut(g, v);
		g->evicted++;
	}
	return v != NULL;
}

/* Closes the oldest WAITING connections until no more than max_conns are
 * open; 1 when that holds (g->mu held). */
static int make_room(guard *g, const guard_conn *except, uint64_t min_ms)
{
	while (g->open - g->closing > g->max_conns)
		if (!evict(g, NULL, except, min_ms))
			return 0;
	return 1;
}

/* Connections of address a, not being closed (g->mu held). */
static unsigned live(const addr_count *a)
{
	return a->n - a->closing;
}

guard_conn *guard_open(guard *g, int fd, const char *addr)
{
	pthread_mutex_lock(&g->mu);
	addr_count *a = addr_get(g, addr);
	guard_conn *c = a ? calloc(1, sizeof *c) : NULL;
	/* over its address's limit: an old waiting connection of the address
	 * makes room, else the newcomer is let in on trial (up to twice the
	 * limit) and must send its request before one can be made */
	if (c && live(a) >= g->max_per_ip && !evict(g, a, NULL, GUARD_OPEN_MS)) {
		c->over_ip = 1;
		if (live(a) >= 2 * g->max_per_ip) {
			g->refused++;
			shutdown(fd, SHUT_RDWR);
			free(c);
			c = NULL;
		}
	}
	if (!c) {
		if (a)
			addr_release(g, a);
		pthread_mutex_unlock(&g->mu);
		return NULL;
	}
	c->fd = fd;
	c->a = a;
	a->n++;
	c->since = clock_mono_ms();
	list_append(&g->waiting, c);
	g->open++;
	c->over = !make_room(g, c, GUARD_OPEN_MS);
	pthread_mutex_unlock(&g->mu);
	return c;
}

void guard_close(guard *g, guard_conn *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&g->mu);
	list_remove(c->busy ? &g->busy : &g->waiting, c);
	if (c->closing) {
		g->closing--;
		c->a->closing--;
	}
	g->open--;
	c->a->n--;
	addr_release(g, c->a);
	pthread_mutex_unlock(&g->mu);
	free(c);
}

int guard_admit(guard *g, guard_conn *c)
{
	if (!c)
		return 1;
	pthread_mutex_lock(&g->mu);
	c->admitted = 1;
	/* a connection let in on trial gets its room now, from connections that
	 * have waited without a request; one that had its slot keeps it */
	if (c->over_ip && (live(c->a) <= g->max_per_ip || evict(g, c->a, c, GUARD_ADMIT_MS)))
		c->over_ip = 0;
	if (make_room(g, c, GUARD_ADMIT_MS))
		c->over = 0;
	int ok = !c->over && !c->over_ip;
	pthread_mutex_unlock(&g->mu);
	return ok;
}

void guard_busy(guard *g, guard_conn *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&g->mu);
	if (!c->busy) {
		list_remove(&g->waiting, c);
		c->busy = 1;
		list_append(&g->busy, c);
	}
	pthread_mutex_unlock(&g->mu);
}

void guard_waiting(guard *g, guard_conn *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&g->mu);
	list_remove(c->busy ? &g->busy : &g->waiting, c);
	c->busy = 0;
	c->admitted = 0;
	c->since = clock_mono_ms();
	list_append(&g->waiting, c);
	pthread_mutex_unlock(&g->mu);
}

unsigned guard_tick(guard *g)
{
	unsigned n = 0;
	pthread_mutex_lock(&g->mu);
	uint64_t now = clock_mono_ms();
	for (guard_conn *c = g->waiting.head; c && c->since + g->deadline_ms <= now; c = c->next)
		if (!c->closing) {
			shut(g, c);
			g->expired++;
			n++;
		}
	pthread_mutex_unlock(&g->mu);
	return n;
}

void guard_get_stats(guard *g, guard_stats *st)
{
	pthread_mutex_lock(&g->mu);
	st->open = g->open;
	st->expired = g->expired;
	st->evicted = g->evicted;
	st->refused = g->refused;
	pthread_mutex_unlock(&g->mu);
}
