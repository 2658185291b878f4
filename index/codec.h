/*
 * codec.h - the integer codecs of the shard format: LEB128 varints, bit
 * packing of blocks of up to 128 unsigned integers, and one-byte quantised
 * field-length norms. docs/FORMAT.md describes the bytes these produce.
 *
 * Every decoder takes the end of its input and never reads past it: shard
 * files are checksummed, but a decoder must still not crash on bad bytes.
 */
#ifndef TRAWL_INDEX_CODEC_H
#define TRAWL_INDEX_CODEC_H

#include <stddef.h>
#include <stdint.h>

#define IDX_BLOCK 128 /* documents per postings block */

/* ---- varints: little-endian base-128, at most 10 bytes for 64 bits ---- */

/* idx_varint_put writes v at p (room for 10 bytes needed); returns bytes written. */
size_t idx_varint_put(uint8_t *p, uint64_t v);

/* idx_varint_len: bytes idx_varint_put would write for v (inline: the
 * encoder's choice of a tf width asks it for every value of a block). */
static inline size_t idx_varint_len(uint64_t v)
{
	unsigned bits = 64 - (unsigned)__builtin_clzll(v | 1);
	return (bits + 6) / 7;
}

/* idx_varint_get_long: idx_varint_get for any length (out of line). */
const uint8_t *idx_varint_get_long(const uint8_t *p, const uint8_t *end, uint64_t *v);

/*
 * idx_varint_get decodes one varint from [p, end) into *v and returns the
 * byte after it, or NULL if the input is truncated or longer than 10 bytes.
 * Inline for the one-byte case: dictionary entries are mostly small
 * numbers, and a lookup decodes tens of them.
 */
static inline const uint8_t *idx_varint_get(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
	if (p < end && p[0] < 0x80) {
		*v = p[0];
		return p + 1;
	}
	return idx_varint_get_long(p, end, v);
}

/* ---- bit packing ---- */

/* idx_bits_for: bits needed for v (0 for 0, 32 for values >= 2^31). */
uint32_t idx_bits_for(uint32_t v);

/* idx_bits_max: bits needed for the largest of in[0..n). */
uint32_t idx_bits_max(const uint32_t *in, uint32_t n);

/* idx_packed_bytes: bytes that n values of `bits` bits take: ceil(n*bits/8). */
static inline size_t idx_packed_bytes(uint32_t n, uint32_t bits)
{
	return ((size_t)n * bits + 7) / 8;
}

/*
 * idx_pack writes in[0..n) (n <= IDX_BLOCK, each < 2^bits, bits <= 32) as a
 * little-endian bit stream: value i occupies bits [i*bits, (i+1)*bits).
 * Returns idx_packed_bytes(n, bits). Unused high bits of the last byte are 0.
 */
size_t idx_pack(uint8_t *out, const uint32_t *in, uint32_t n, uint32_t bits);

/*
 * idx_unpack decodes n values (n <= IDX_BLOCK, bits <= 32) from in, which
 * must hold idx_packed_bytes(n, bits) bytes; it reads no byte past them.
 */
void idx_unpack(uint32_t *out, const uint8_t *in, uint32_t n, uint32_t bits);

/* idx_unpack_one: value i of a packed stream (same layout and bounds). */
uint32_t idx_unpack_one(const uint8_t *in, uint32_t i, uint32_t bits);

/* ---- norms ---- */

/*
 * idx_norm_encode maps a field length (tokens) to one byte, monotonically:
 * lengths 0..40 exactly; above, geometric steps of 1/15, so the decoded
 * length is at most len/16 below the true one; 2^24 is reached at byte 239
 * and lengths above 53,200,893 saturate at 255.
 * idx_norm_decode gives the length a byte stands for (the smallest length
 * that encodes to it).
 */
uint8_t idx_norm_encode(uint32_t len);
uint32_t idx_norm_decode(uint8_t b);

#endif
