/*
 * cache.c - the root's LRU result cache (see cache.h). One mutex guards a
 * chained hash table and a doubly linked recency list; entries hold deep
 * copies of results, and their size counts every byte they own.
 */
#include "cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"

typedef struct entry {
	uint8_t key[16];
	root_result *res; /* NULL while its leader computes it */
	size_t bytes;
	struct entry *hnext;
	struct entry *prev, *next; /* recency: head is the most recent */
} entry;

struct root_cache {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* a leader finished */
	entry **table;
	size_t nbuckets;
	entry *head, *tail;
	size_t bytes, max_bytes;
	uint64_t entries, hits, misses, evictions, shared;
};

static size_t result_bytes(const root_result *r)
{
	return sizeof(entry) + root_result_bytes(r);
}

root_cache *root_cache_new(size_t max_bytes)
{
	root_cache *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->nbuckets = 1u << 14;
	c->table = calloc(c->nbuckets, sizeof *c->table);
	if (!c->table) {
		free(c);
		return NULL;
	}
	c->max_bytes = max_bytes;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	return c;
}

static size_t bucket(const root_cache *c, const uint8_t key[16])
{
	uint64_t h;
	memcpy(&h, key, 8);
	return (size_t)(h & (c->nbuckets - 1));
}

static entry *find(root_cache *c, const uint8_t key[16])
{
	for (entry *e = c->table[bucket(c, key)]; e; e = e->hnext)
		if (!memcmp(e->key, key, 16))
			return e;
	return NULL;
}

static void unlink_lru(root_cache *c, entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else if (c->head == e)
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else if (c->tail == e)
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void push_front(root_cache *c, entry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
}

static void remove_entry(root_cache *c, entry *e)
{
	entry **pp = &c->table[bucket(c, e->key)];
	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	unlink_lru(c, e);
	c->bytes -= e->bytes;
	c->entries--;
	root_result_free(e->res);
	free(e);
}

/* Evicts from the tail until `need` more bytes fit; entries still being
 * computed are skipped. */
static void make_room(root_cache *c, size_t need)
{
	entry *e = c->tail;
	while (e && c->bytes + need > c->max_bytes) {
		entry *prev = e->prev;
		if (e->res) {
			remove_entry(c, e);
			c->evictions++;
		}
		e = prev;
	}
}

void root_cache_free(root_cache *c)
{
	if (!c)
		return;
	while (c->head)
		remove_entry(c, c->head);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c->table);
	free(c);
}

root_result *root_cache_get(root_cache *c, const uint8_t key[16], int *leader, unsigned wait_ms)
{
	if (leader)
		*leader = 0;
	if (!c || !c->max_bytes)
		return NULL;
	if (!leader) {
		/* a peek: a stored result or nothing, at once */
		pthread_mutex_lock(&c->mu);
		entry *e = find(c, key);
		root_result *copy = NULL;
		if (e && e->res) {
			unlink_lru(c, e);
			push_front(c, e);
			c->hits++;
			copy = root_result_copy(e->res);
		}
		pthread_mutex_unlock(&c->mu);
		return copy;
	}
	struct timespec until;
	clock_after(&until, CLOCK_REALTIME, wait_ms);
	pthread_mutex_lock(&c->mu);
	int waited = 0;
	for (;;) {
		entry *e = find(c, key);
		if (e && e->res) {
			unlink_lru(c, e);
			push_front(c, e);
			c->hits++;
			if (waited)
				c->shared++;
			root_result *copy = root_result_copy(e->res);
			pthread_mutex_unlock(&c->mu);
			return copy;
		}
		if (!e) {
			/* become the leader: a placeholder others will wait on */
			e = calloc(1, sizeof *e);
			if (e) {
				memcpy(e->key, key, 16);
				e->bytes = sizeof *e;
				size_t b = bucket(c, key);
				e->hnext = c->table[b];
				c->table[b] = e;
				push_front(c, e);
				c->bytes += e->bytes;
				c->entries++;
				*leader = 1;
			}
			c->misses++;
			pthread_mutex_unlock(&c->mu);
			return NULL;
		}
		/* someone computes it: wait for them */
		waited = 1;
		if (pthread_cond_timedwait(&c->cv, &c->mu, &until) != 0) {
			c->misses++;
			pthread_mutex_unlock(&c->mu);
			return NULL; /* too slow: compute our own, uncached */
		}
	}
}

void root_cache_put(root_cache *c, const uint8_t key[16], const root_result *res)
{
	if (!c || !c->max_bytes)
		return;
	root_result *copy = root_result_copy(res);
	size_t bytes = copy ? result_bytes(copy) : 0;
	pthread_mutex_lock(&c->mu);
	entry *e = find(c, key);
	if (e && !e->res && copy && bytes <= c->max_bytes / 4) {
		c->bytes -= e->bytes;
		unlink_lru(c, e); /* not evicted by make_room while we fill it */
		make_room(c, bytes);
		e->res = copy;
		e->bytes = bytes;
		c->bytes += bytes;
		push_front(c, e);
		copy = NULL;
	} else if (e && !e->res) {
		remove_entry(c, e); /* too big to cache, or out of memory */
	}
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	root_result_free(copy);
}

void root_cache_abandon(root_cache *c, const uint8_t key[16])
{
	if (!c || !c->max_bytes)
		return;
	pthread_mutex_lock(&c->mu);
	entry *e = find(c, key);
	if (e && !e->res)
		remove_entry(c, e);
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

void root_cache_get_stats(root_cache *c, root_cache_stats *st)
{
	memset(st, 0, sizeof *st);
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	st->hits = c->hits;
	st->misses = c->misses;
	st->evictions = c->evictions;
	st->shared = c->shared;
	st->entries = c->entries;
	st->bytes = c->bytes;
	st->max_bytes = c->max_bytes;
	pthread_mutex_unlock(&c->mu);
}
