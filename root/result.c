/*
 * result.c - freeing, copying and sizing search results (see result.h).
 */
#include "root/result.h"

#include <stdlib.h>
#include <string.h>

void root_result_free(root_result *res)
{
	if (!res)
		return;
	for (uint32_t i = 0; i < res->nhits; i++) {
		free(res->hits[i].id);
		free(res->hits[i].doc);
		free(res->hits[i].snippet);
		free(res->hits[i].sort);
	}
	free(res->hits);
	free(res->aggs);
	free(res);
}

/* n bytes of p and a NUL after them, or NULL (p NULL, or no memory). */
static void *dup_bytes(const void *p, size_t n)
{
	if (!p)
		return NULL;
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, p, n);
		d[n] = 0;
	}
	return d;
}

root_result *root_result_copy(const root_result *r)
{
	root_result *c = malloc(sizeof *c);
	if (!c)
		return NULL;
	*c = *r;
	c->hits = calloc(r->nhits ? r->nhits : 1, sizeof *c->hits);
	c->aggs = r->aggs ? dup_bytes(r->aggs, strlen(r->aggs)) : NULL;
	if (!c->hits || (r->aggs && !c->aggs)) {
		free(c->hits);
		free(c->aggs);
		free(c);
		return NULL;
	}
	for (uint32_t i = 0; i < r->nhits; i++) {
		const root_hit *h = &r->hits[i];
		root_hit *d = &c->hits[i];
		*d = *h;
		d->id = h->id ? dup_bytes(h->id, strlen(h->id)) : NULL;
		d->doc = h->doc ? dup_bytes(h->doc, h->doc_len) : NULL;
		d->snippet = h->snippet ? dup_bytes(h->snippet, strlen(h->snippet)) : NULL;
		d->sort = h->sort ? dup_bytes(h->sort, strlen(h->sort)) : NULL;
		if ((h->id && !d->id) || (h->doc && !d->doc) || (h->snippet && !d->snippet) ||
		    (h->sort && !d->sort)) {
			c->nhits = i + 1;
			root_result_free(c);
			return NULL;
		}
	}
	return c;
}

size_t root_result_bytes(const root_result *r)
{
	size_t n = sizeof *r + r->nhits * sizeof(root_hit) + (r->aggs ? strlen(r->aggs) + 1 : 0);
	for (uint32_t i = 0; i < r->nhits; i++)
		n += (r->hits[i].id ? strlen(r->hits[i].id) + 1 : 0) + r->hits[i].doc_len + 1 +
		     (r->hits[i].snippet ? strlen(r->hits[i].snippet) + 1 : 0) +
		     (r->hits[i].sort ? strlen(r->hits[i].sort) + 1 : 0);
	return n;
}
