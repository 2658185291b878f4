/*
 * arena.h - a bump allocator: many small allocations made one after another
 * and freed all at once. Memory is taken from malloc'ed chunks and never
 * moves, so what arena_alloc returns stays valid until arena_reset or
 * arena_fini. A query's scorers (index/search.c) and a build worker's
 * records (shard/work.c) live in arenas.
 *
 * A zeroed arena is ready to use: chunks of ARENA_CHUNK bytes, allocations
 * aligned to 16 bytes; set chunk and align before the first allocation to
 * change them. An allocation larger than a chunk gets a chunk of its own.
 * One thread at a time.
 */
#ifndef TRAWL_COMMON_ARENA_H
#define TRAWL_COMMON_ARENA_H

#include <stddef.h>
#include <stdint.h>

#define ARENA_CHUNK (64u * 1024)

typedef struct arena {
	size_t chunk;   /* bytes of a new chunk (0: ARENA_CHUNK) */
	unsigned align; /* alignment of allocations, a power of two (0: 16) */
	uint8_t **chunks;
	uint32_t nchunks, cap;
	size_t used, size; /* of the last chunk */
	size_t first;      /* the first chunk's size */
	void **frees;      /* malloc'ed blocks to free at reset (arena_track) */
	uint32_t nfrees, capfrees;
} arena;

/* arena_alloc: n bytes, aligned, or NULL (out of memory). */
void *arena_alloc(arena *a, size_t n);

/* arena_zalloc: arena_alloc, zeroed. */
void *arena_zalloc(arena *a, size_t n);

/* arena_track: p (malloc'ed) is freed at the next reset. TRAWL_OK, or
 * TRAWL_ENOMEM (p is then not tracked: the caller still owns it). */
int arena_track(arena *a, void *p);

/* arena_reset frees every allocation and tracked block; the first chunk is
 * kept for the next round. */
void arena_reset(arena *a);

/* arena_fini frees everything; a is ready for use again (chunk and align
 * kept). */
void arena_fini(arena *a);

#endif
