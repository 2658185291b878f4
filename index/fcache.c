/*
 * fcache.c - the filter cache (fcache.h): a hash table of entries on a
 * doubly linked list in order of use, under one mutex.
 */
#include "fcache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "trawl/trawl.h"

typedef struct entry entry;
struct entry {
	entry *next_hash;
	entry *prev, *next; /* use order: head most recent */
	uint64_t hash;
	uint64_t count;
	size_t klen, words;
	uint8_t *key;   /* klen bytes */
	uint64_t *bits; /* words */
};

struct idx_fcache {
	pthread_mutex_t mu;
	entry **table;
	size_t nslots; /* a power of two */
	entry *head, *tail;
	size_t bytes, max_bytes;
	uint64_t hits, misses, entries;
};

size_t idx_fcache_cost(size_t klen, size_t words)
{
	return sizeof(entry) + klen + words * 8;
}
#define cost idx_fcache_cost

int idx_fcache_new(idx_fcache **out, size_t max_bytes)
{
	*out = NULL;
	if (max_bytes == 0)
		return TRAWL_OK;
	idx_fcache *c = calloc(1, sizeof *c);
	if (!c)
		return TRAWL_ENOMEM;
	c->nslots = 1024;
	c->table = calloc(c->nslots, sizeof *c->table);
	if (!c->table) {
		free(c);
		return TRAWL_ENOMEM;
	}
	c->max_bytes = max_bytes;
	pthread_mutex_init(&c->mu, NULL);
	*out = c;
	return TRAWL_OK;
}

static void unlink_use(idx_fcache *c, entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void push_front(idx_fcache *c, entry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
}

static void drop(idx_fcache *c, entry *e)
{
	entry **p = &c->table[e->hash & (c->nslots - 1)];
	while (*p != e)
		p = &(*p)->next_hash;
	*p = e->next_hash;
	unlink_use(c, e);
	c->bytes -= cost(e->klen, e->words);
	c->entries--;
	free(e->key);
	free(e->bits);
	free(e);
}

void idx_fcache_free(idx_fcache *c)
{
	if (!c)
		return;
	while (c->head)
		drop(c, c->head);
	free(c->table);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static entry *find(idx_fcache *c, uint64_t h, const void *key, size_t klen)
{
	for (entry *e = c->table[h & (c->nslots - 1)]; e; e = e->next_hash)
		if (e->hash == h && e->klen == klen && !memcmp(e->key, key, klen))
			return e;
	return NULL;
}

int idx_fcache_get(idx_fcache *c, const void *key, size_t klen, uint64_t *bits, size_t words,
                   uint64_t *count)
{
	if (!c)
		return 0;
	uint64_t h = th_hash64(key, klen);
	pthread_mutex_lock(&c->mu);
	entry *e = find(c, h, key, klen);
	int hit = e && e->words == words;
	if (hit) {
		memcpy(bits, e->bits, words * 8);
		*count = e->count;
		unlink_use(c, e);
		push_front(c, e);
		c->hits++;
	} else {
		c->misses++;
	}
	pthread_mutex_unlock(&c->mu);
	return hit;
}

void idx_fcache_put(idx_fcache *c, const void *key, size_t klen, const uint64_t *bits, size_t words,
                    uint64_t count)
{
	if (!c || cost(klen, words) > c->max_bytes)
		return;
	entry *n = calloc(1, sizeof *n);
	uint8_t *k = malloc(klen ? klen : 1);
	uint64_t *b = malloc(words ? words * 8 : 8);
	if (!n || !k || !b) {
		free(n);
		free(k);
		free(b);
		return;
	}
	memcpy(k, key, klen);
	memcpy(b, bits, words * 8);
	*n = (entry){.hash = th_hash64(key, klen),
	             .count = count,
	             .klen = klen,
	             .words = words,
	             .key = k,
	             .bits = b};
	pthread_mutex_lock(&c->mu);
	entry *old = find(c, n->hash, key, klen);
	if (old)
		drop(c, old); /* another thread put it first: keep the newer copy */
	while (c->tail && c->bytes + cost(klen, words) > c->max_bytes)
		drop(c, c->tail);
	entry **slot = &c->table[n->hash & (c->nslots - 1)];
	n->next_hash = *slot;
	*slot = n;
	push_front(c, n);
	c->bytes += cost(klen, words);
	c->entries++;
	pthread_mutex_unlock(&c->mu);
}

void idx_fcache_get_stats(idx_fcache *c, idx_fcache_stats *st)
{
	memset(st, 0, sizeof *st);
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	st->hits = c->hits;
	st->misses = c->misses;
	st->entries = c->entries;
	st->bytes = c->bytes;
	st->max_bytes = c->max_bytes;
	pthread_mutex_unlock(&c->mu);
}
