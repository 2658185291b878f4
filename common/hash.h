/*
 * hash.h - the boundary to xxHash. Only this header includes xxhash.h.
 *
 * XXH3_64 routes documents to shards and breaks score ties; XXH3_128 checks
 * whole files against the manifest; XXH3_64 checks each stored document.
 */
#ifndef TRAWL_COMMON_HASH_H
#define TRAWL_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

static inline uint64_t th_hash64(const void *p, size_t n)
{
	return XXH3_64bits(p, n);
}

/* th_hash64_seeded: XXH3-64 of p with a seed. */
static inline uint64_t th_hash64_seeded(const void *p, size_t n, uint64_t seed)
{
	return XXH3_64bits_withSeed(p, n, seed);
}

/* th_hash128: the XXH3-128 of p, as 16 bytes (high half first). */
static inline void th_hash128(const void *p, size_t n, uint8_t out[16])
{
	XXH128_hash_t h = XXH3_128bits(p, n);
	for (int i = 0; i < 8; i++) {
		out[i] = (uint8_t)(h.high64 >> (56 - 8 * i));
		out[8 + i] = (uint8_t)(h.low64 >> (56 - 8 * i));
	}
}

/* th_jump_hash: Lamping & Veach's jump consistent hash of key into 0..buckets-1. */
static inline uint32_t th_jump_hash(uint64_t key, uint32_t buckets)
{
	int64_t b = -1, j = 0;
	while (j < (int64_t)buckets) {
		b = j;
		key = key * 2862933555777941757ULL + 1;
		j = (int64_t)((double)(b + 1) * ((double)(1LL << 31) / (double)((key >> 33) + 1)));
	}
	return (uint32_t)b;
}

/* th_shard_of: the shard (0..shards-1) that document id belongs to. */
static inline uint32_t th_shard_of(const char *id, size_t len, uint32_t shards)
{
	return th_jump_hash(th_hash64(id, len), shards);
}

/* th_hash128_hex writes the XXH3-128 of a streaming state as 32 hex digits + NUL. */
static inline void th_hex128(XXH128_hash_t h, char out[33])
{
	static const char hx[] = "0123456789abcdef";
	uint64_t w[2] = {h.high64, h.low64};
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 16; j++)
			out[i * 16 + j] = hx[(w[i] >> (60 - 4 * j)) & 15];
	out[32] = 0;
}

#endif
