/*
 * tombs.c - the published deletes the ingest remembers (see tombs.h): a
 * chained hash table by id whose entries are also a list in the order they
 * were put, the oldest first, so that expiry and the count's bound drop
 * from the front in constant time each.
 */
#include "tombs.h"

#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/limits.h"
#include "trawl/trawl.h"

typedef struct tomb {
	struct tomb *next;          /* in its bucket */
	struct tomb *older, *newer; /* in the order of puts */
	uint64_t hash, seq, version, at_ms;
	uint32_t idlen;
	char id[];
} tomb;

struct idx_tombs {
	tomb **tab;
	size_t cap, n, max;
	uint64_t keep_ms;
	tomb *oldest, *newest;
};

idx_tombs *idx_tombs_new(uint64_t keep_ms, size_t max)
{
	idx_tombs *t = calloc(1, sizeof *t);
	if (!t || !(t->tab = calloc(64, sizeof *t->tab))) {
		free(t);
		return NULL;
	}
	t->cap = 64;
	t->keep_ms = keep_ms ? keep_ms : LIMIT_GC_DELETES_MS;
	t->max = max ? max : LIMIT_TOMBSTONES;
	return t;
}

void idx_tombs_free(idx_tombs *t)
{
	if (!t)
		return;
	for (tomb *e = t->oldest, *n; e; e = n) {
		n = e->newer;
		free(e);
	}
	free(t->tab);
	free(t);
}

static tomb **slot_of(idx_tombs *t, const char *id, uint32_t idlen, uint64_t h)
{
	tomb **p = &t->tab[h & (t->cap - 1)];
	while (*p && !((*p)->hash == h && (*p)->idlen == idlen && !memcmp((*p)->id, id, idlen)))
		p = &(*p)->next;
	return p;
}

/* Unlinks e (found at *p in its bucket) from both chains and frees it. */
static void drop(idx_tombs *t, tomb **p, tomb *e)
{
	*p = e->next;
	if (e->older)
		e->older->newer = e->newer;
	else
		t->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		t->newest = e->older;
	t->n--;
	free(e);
}

static void drop_oldest(idx_tombs *t)
{
	tomb *e = t->oldest;
	drop(t, slot_of(t, e->id, e->idlen, e->hash), e);
}

static void grow(idx_tombs *t)
{
	size_t cap = t->cap * 2;
	tomb **tab = calloc(cap, sizeof *tab);
	if (!tab)
		return; /* longer chains: still correct */
	for (tomb *e = t->oldest; e; e = e->newer) {
		e->next = tab[e->hash & (cap - 1)];
		tab[e->hash & (cap - 1)] = e;
	}
	free(t->tab);
	t->tab = tab;
	t->cap = cap;
}

int idx_tombs_put(idx_tombs *t, const char *id, uint32_t idlen, uint64_t seq, uint64_t version,
                  uint64_t now_ms)
{
	tomb *e = malloc(sizeof *e + idlen);
	if (!e)
		return TRAWL_ENOMEM;
	idx_tombs_del(t, id, idlen);
	while (t->n >= t->max)
		drop_oldest(t);
	if (t->n >= t->cap)
		grow(t);
	uint64_t h = th_hash64(id, idlen);
	*e = (tomb){.hash = h, .seq = seq, .version = version, .at_ms = now_ms, .idlen = idlen};
	memcpy(e->id, id, idlen);
	e->next = t->tab[h & (t->cap - 1)];
	t->tab[h & (t->cap - 1)] = e;
	e->older = t->newest;
	if (t->newest)
		t->newest->newer = e;
	else
		t->oldest = e;
	t->newest = e;
	t->n++;
	return TRAWL_OK;
}

void idx_tombs_del(idx_tombs *t, const char *id, uint32_t idlen)
{
	tomb **p = slot_of(t, id, idlen, th_hash64(id, idlen));
	if (*p)
		drop(t, p, *p);
}

int idx_tombs_get(idx_tombs *t, const char *id, uint32_t idlen, uint64_t now_ms, uint64_t *seq,
                  uint64_t *version)
{
	tomb *e = *slot_of(t, id, idlen, th_hash64(id, idlen));
	if (!e || now_ms - e->at_ms >= t->keep_ms)
		return 0;
	*seq = e->seq;
	*version = e->version;
	return 1;
}

void idx_tombs_expire(idx_tombs *t, uint64_t now_ms)
{
	while (t->oldest && now_ms - t->oldest->at_ms >= t->keep_ms)
		drop_oldest(t);
}

size_t idx_tombs_count(const idx_tombs *t)
{
	return t->n;
}
