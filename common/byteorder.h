/*
 * byteorder.h - the one place that reads and writes fixed-width
 * little-endian integers in the files trawl writes (delete sets, versions,
 * the write log's records: docs/FORMAT.md): byte by byte, so that a file
 * means the same on any host and an unaligned field is never a problem.
 * Each file format had its own copy of these before (a `duplicates`
 * finding).
 */
#ifndef TRAWL_COMMON_BYTEORDER_H
#define TRAWL_COMMON_BYTEORDER_H

#include <stdint.h>

static inline void le_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void le_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void le_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t le_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t le_get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

#endif
