/*
 * arena.c - the bump allocator (see arena.h).
 */
#include "common/arena.h"

#include <stdlib.h>
#include <string.h>

#include "trawl/trawl.h"

void *arena_alloc(arena *a, size_t n)
{
	size_t align = a->align ? a->align : 16, chunk = a->chunk ? a->chunk : ARENA_CHUNK;
	n = (n + align - 1) & ~(align - 1);
	if (a->nchunks == 0 || a->used + n > a->size) {
		size_t sz = n > chunk ? n : chunk;
		if (a->nchunks == a->cap) {
			uint32_t nc = a->cap ? a->cap * 2 : 8;
			uint8_t **p = realloc(a->chunks, nc * sizeof *p);
			if (!p)
				return NULL;
			a->chunks = p;
			a->cap = nc;
		}
		uint8_t *c = malloc(sz);
		if (!c)
			return NULL;
		if (a->nchunks == 0)
			a->first = sz;
		a->chunks[a->nchunks++] = c;
		a->used = 0;
		a->size = sz;
	}
	void *p = a->chunks[a->nchunks - 1] + a->used;
	a->used += n;
	return p;
}

void *arena_zalloc(arena *a, size_t n)
{
	void *p = arena_alloc(a, n);
	if (p)
		memset(p, 0, n);
	return p;
}

int arena_track(arena *a, void *p)
{
	if (a->nfrees == a->capfrees) {
		uint32_t nc = a->capfrees ? a->capfrees * 2 : 16;
		void **q = realloc(a->frees, nc * sizeof *q);
		if (!q)
			return TRAWL_ENOMEM;
		a->frees = q;
		a->capfrees = nc;
	}
	a->frees[a->nfrees++] = p;
	return TRAWL_OK;
}

void arena_reset(arena *a)
{
	for (uint32_t i = 0; i < a->nfrees; i++)
		free(a->frees[i]);
	a->nfrees = 0;
	for (uint32_t i = 1; i < a->nchunks; i++)
		free(a->chunks[i]);
	if (a->nchunks > 1)
		a->nchunks = 1;
	a->size = a->first;
	a->used = 0;
}

void arena_fini(arena *a)
{
	arena_reset(a);
	if (a->nchunks)
		free(a->chunks[0]);
	free(a->chunks);
	free(a->frees);
	size_t chunk = a->chunk;
	unsigned align = a->align;
	memset(a, 0, sizeof *a);
	a->chunk = chunk;
	a->align = align;
}
