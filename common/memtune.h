/*
 * memtune.h - how a trawl program asks glibc's malloc to keep the memory
 * it frees. A search allocates and frees buffers of a few hundred KB to a
 * few MB (an aggregation's buckets, a terms count per ordinal); by default
 * glibc maps blocks over its threshold fresh from the kernel and gives the
 * top of the heap back when 128 KB are free, so such a search paid for the
 * same pages again, as page faults, every time: a terms aggregation on a
 * field of 35,000 values took 4 to 16 ms of CPU, by the luck of where the
 * threshold had moved (bench/RESULTS.md, structured search). Blocks below
 * MEMTUNE_MMAP_BYTES come from the heap, and the heap is trimmed only past
 * MEMTUNE_TRIM_BYTES free at its top: a process keeps about its largest
 * search's memory for the next one. Programs call it at start (the `trawl`
 * command, the benchmark adapter); the library never does, since the
 * allocator belongs to the program that embeds it.
 */
#ifndef TRAWL_COMMON_MEMTUNE_H
#define TRAWL_COMMON_MEMTUNE_H

#include <malloc.h>

#define MEMTUNE_MMAP_BYTES (64 << 20)
#define MEMTUNE_TRIM_BYTES (256 << 20)

static inline void memtune_keep_freed(void)
{
#ifdef M_MMAP_THRESHOLD
	mallopt(M_MMAP_THRESHOLD, MEMTUNE_MMAP_BYTES);
	mallopt(M_TRIM_THRESHOLD, MEMTUNE_TRIM_BYTES);
#endif
}

#endif
