/*
 * codec.c - the integer codecs of the shard format (see codec.h).
 *
 * Postings are stored as blocks of 128 bit-packed doc-id deltas and
 * frequencies, term and block metadata as varints, and field lengths as
 * one-byte norms. Decoding these is most of the work of evaluating a query,
 * so idx_unpack has one fully unrolled routine per bit width for the common
 * case of a full block. Every decoder reads only the bytes its contract
 * gives it: inputs are memory-mapped shard files, and a byte past the end of
 * a mapping can fault.
 */
#include "codec.h"

#include <assert.h>
#include <string.h>

/* ---- loads of little-endian words ---- */

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define LE64(x) __builtin_bswap64(x)
#define LE32(x) __builtin_bswap32(x)
#else
#define LE64(x) (x)
#define LE32(x) (x)
#endif

#if defined(__GNUC__)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE inline
#endif

static ALWAYS_INLINE uint64_t load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof v);
	return LE64(v);
}

static ALWAYS_INLINE uint32_t load32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof v);
	return LE32(v);
}

static ALWAYS_INLINE void store32(uint8_t *p, uint32_t v)
{
	v = LE32(v);
	memcpy(p, &v, sizeof v);
}

/* ---- varints ---- */

size_t idx_varint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

const uint8_t *idx_varint_get_long(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
	uint64_t x = 0;
	for (unsigned i = 0; i < 10; i++) {
		if (p >= end)
			return NULL;
		uint8_t b = *p++;
		/* The 10th byte holds bit 63 only, and ends the varint. */
		if (i == 9 && b > 1)
			return NULL;
		x |= (uint64_t)(b & 0x7f) << (7 * i);
		if (b < 0x80) {
			*v = x;
			return p;
		}
	}
	return NULL; /* not reached: the 10th byte either ends it or fails */
}

/* ---- bit packing ---- */

uint32_t idx_bits_for(uint32_t v)
{
	return v ? 32 - (uint32_t)__builtin_clz(v) : 0;
}

uint32_t idx_bits_max(const uint32_t *in, uint32_t n)
{
	uint32_t acc = 0;
	for (uint32_t i = 0; i < n; i++)
		acc |= in[i];
	return idx_bits_for(acc); /* the OR has the same top bit as the maximum */
}

static ALWAYS_INLINE uint64_t mask_of(uint32_t bits)
{
	return ((uint64_t)1 << bits) - 1;
}

size_t idx_pack(uint8_t *out, const uint32_t *in, uint32_t n, uint32_t bits)
{
	assert(n <= IDX_BLOCK && bits <= 32);
	size_t total = idx_packed_bytes(n, bits);
	if (bits == 0)
		return 0;
	const uint64_t mask = mask_of(bits);
	uint64_t acc = 0;  /* pending bits, the lowest first */
	unsigned have = 0; /* < 32 between values, so acc never overflows */
	uint8_t *p = out;
	for (uint32_t i = 0; i < n; i++) {
		acc |= (in[i] & mask) << have;
		have += bits;
		if (have >= 32) {
			store32(p, (uint32_t)acc);
			p += 4;
			acc >>= 32;
			have -= 32;
		}
	}
	while (have > 0) {
		*p++ = (uint8_t)acc;
		acc >>= 8;
		have = have > 8 ? have - 8 : 0;
	}
	assert((size_t)(p - out) == total);
	return total;
}

/*
 * unpack64 decodes 64 values of b bits from the b little-endian 64-bit words
 * at in (8*b bytes). A value that straddles two words always ends inside the
 * group, so word k + 1 exists whenever it is read. Inlined into a routine
 * per constant b with the loops unrolled, every index, shift and branch below
 * is resolved at compile time.
 */
static ALWAYS_INLINE void unpack64(uint32_t *restrict out, const uint8_t *restrict in, unsigned b)
{
	const uint64_t mask = mask_of(b);
	uint64_t w[32];
#if defined(__GNUC__)
#pragma GCC unroll 32
#endif
	for (unsigned k = 0; k < b; k++)
		w[k] = load64(in + 8 * k);
#if defined(__GNUC__)
#pragma GCC unroll 64
#endif
	for (unsigned j = 0; j < 64; j++) {
		unsigned o = j * b, k = o / 64, s = o % 64;
		uint64_t v = w[k] >> s;
		if (s + b > 64)
			v |= w[k + 1] << (64 - s);
		out[j] = (uint32_t)(v & mask);
	}
}

typedef void unpack128_fn(uint32_t *restrict out, const uint8_t *restrict in);

/* unpack128_B decodes a full block of B-bit values: exactly 16*B bytes. */
#define UNPACK128(B)                                                                               \
	static void unpack128_##B(uint32_t *restrict out, const uint8_t *restrict in)              \
	{                                                                                          \
		unpack64(out, in, B);                                                              \
		unpack64(out + 64, in + 8 * (B), B);                                               \
	}

UNPACK128(1)
UNPACK128(2)
UNPACK128(3)
UNPACK128(4)
UNPACK128(5)
UNPACK128(6)
UNPACK128(7)
UNPACK128(8)
UNPACK128(9)
UNPACK128(10)
UNPACK128(11)
UNPACK128(12)
UNPACK128(13)
UNPACK128(14)
UNPACK128(15)
UNPACK128(16)
UNPACK128(17)
UNPACK128(18)
UNPACK128(19)
UNPACK128(20)
UNPACK128(21)
UNPACK128(22)
UNPACK128(23)
UNPACK128(24)
UNPACK128(25)
UNPACK128(26)
UNPACK128(27)
UNPACK128(28)
UNPACK128(29)
UNPACK128(30)
UNPACK128(31)
UNPACK128(32)

static unpack128_fn *const unpack128[33] = {
	NULL,          unpack128_1,  unpack128_2,  unpack128_3,  unpack128_4,  unpack128_5,
	unpack128_6,   unpack128_7,  unpack128_8,  unpack128_9,  unpack128_10, unpack128_11,
	unpack128_12,  unpack128_13, unpack128_14, unpack128_15, unpack128_16, unpack128_17,
	unpack128_18,  unpack128_19, unpack128_20, unpack128_21, unpack128_22, unpack128_23,
	unpack128_24,  unpack128_25, unpack128_26, unpack128_27, unpack128_28, unpack128_29,
	unpack128_30,  unpack128_31, unpack128_32,
};

/*
 * unpack_any decodes n values of any width, refilling a 64-bit accumulator
 * only when the next value needs more bits, so it never reads a byte the
 * last value does not occupy.
 */
static void unpack_any(uint32_t *restrict out, const uint8_t *restrict in, uint32_t n,
                       uint32_t bits)
{
	const uint8_t *p = in, *end = in + idx_packed_bytes(n, bits);
	const uint64_t mask = mask_of(bits);
	uint64_t acc = 0;
	unsigned have = 0; /* < bits <= 32 before a refill, so < 64 after one */
	for (uint32_t i = 0; i < n; i++) {
		if (have < bits) {
			if (end - p >= 4) {
				acc |= (uint64_t)load32(p) << have;
				p += 4;
				have += 32;
			} else {
				while (have < bits) {
					acc |= (uint64_t)*p++ << have;
					have += 8;
				}
			}
		}
		out[i] = (uint32_t)(acc & mask);
		acc >>= bits;
		have -= bits;
	}
}

void idx_unpack(uint32_t *out, const uint8_t *in, uint32_t n, uint32_t bits)
{
	assert(n <= IDX_BLOCK && bits <= 32);
	if (bits == 0) {
		memset(out, 0, (size_t)n * sizeof *out);
		return;
	}
	if (n == IDX_BLOCK) {
		unpack128[bits](out, in);
		return;
	}
	unpack_any(out, in, n, bits);
}

uint32_t idx_unpack_one(const uint8_t *in, uint32_t i, uint32_t bits)
{
	assert(bits <= 32);
	if (bits == 0)
		return 0;
	uint64_t o = (uint64_t)i * bits;
	const uint8_t *p = in + (o >> 3);
	unsigned shift = (unsigned)(o & 7);
	unsigned nbytes = (shift + bits + 7) >> 3; /* the bytes value i touches: 1..5 */
	uint64_t v = 0;
	for (unsigned k = 0; k < nbytes; k++)
		v |= (uint64_t)p[k] << (8 * k);
	return (uint32_t)((v >> shift) & mask_of(bits));
}

/* ---- norms ---- */

/*
 * norm_len[b] is the smallest length that byte b stands for. Bytes 0..39 are
 * exact. Above, each byte covers the widest range the error bound allows:
 * lengths L with L - norm_len[b] <= L/16, that is up to 16*norm_len[b]/15,
 * so norm_len[b + 1] = 16 * norm_len[b] / 15 + 1 (integer division). That
 * geometric step (about 10.7 bytes per doubling) reaches 2^24 at byte 239 and
 * 49875838 at byte 255; a power-of-two float with a 4-bit mantissa (16 bytes
 * per doubling) would stop near 2^19 with the same error bound.
 */
static const uint32_t norm_len[256] = {
	0,        1,        2,        3,        4,        5,        6,        7,
	8,        9,        10,       11,       12,       13,       14,       15,
	16,       17,       18,       19,       20,       21,       22,       23,
	24,       25,       26,       27,       28,       29,       30,       31,
	32,       33,       34,       35,       36,       37,       38,       39,
	40,       43,       46,       50,       54,       58,       62,       67,
	72,       77,       83,       89,       95,       102,      109,      117,
	125,      134,      143,      153,      164,      175,      187,      200,
	214,      229,      245,      262,      280,      299,      319,      341,
	364,      389,      415,      443,      473,      505,      539,      575,
	614,      655,      699,      746,      796,      850,      907,      968,
	1033,     1102,     1176,     1255,     1339,     1429,     1525,     1627,
	1736,     1852,     1976,     2108,     2249,     2399,     2559,     2730,
	2913,     3108,     3316,     3538,     3774,     4026,     4295,     4582,
	4888,     5214,     5562,     5933,     6329,     6751,     7202,     7683,
	8196,     8743,     9326,     9948,     10612,    11320,    12075,    12881,
	13740,    14657,    15635,    16678,    17790,    18977,    20243,    21593,
	23033,    24569,    26207,    27955,    29819,    31807,    33928,    36190,
	38603,    41177,    43923,    46852,    49976,    53308,    56862,    60653,
	64697,    69011,    73612,    78520,    83755,    89339,    95295,    101649,
	108426,   115655,   123366,   131591,   140364,   149722,   159704,   170351,
	181708,   193822,   206744,   220527,   235229,   250911,   267639,   285482,
	304515,   324817,   346472,   369571,   394210,   420491,   448524,   478426,
	510322,   544344,   580634,   619343,   660633,   704676,   751655,   801766,
	855218,   912233,   973049,   1037919,  1107114,  1180922,  1259651,  1343628,
	1433204,  1528751,  1630668,  1739380,  1855339,  1979029,  2110965,  2251697,
	2401811,  2561932,  2732728,  2914910,  3109238,  3316521,  3537623,  3773465,
	4025030,  4293366,  4579591,  4884898,  5210558,  5557929,  5928458,  6323689,
	6745269,  7194954,  7674618,  8186260,  8732011,  9314146,  9935090,  10597430,
	11303926, 12057522, 12861357, 13718781, 14633367, 15608925, 16649521, 17759490,
	18943457, 20206355, 21553446, 22990343, 24523033, 26157902, 27901763, 29761881,
	31746007, 33862408, 36119902, 38527896, 41096423, 43836185, 46758598, 49875838,
};

#define NORM_EXACT 40 /* lengths below this have a byte of their own */

uint8_t idx_norm_encode(uint32_t len)
{
	if (len < NORM_EXACT)
		return (uint8_t)len;
	/* The largest b with norm_len[b] <= len: binary search of [40, 255]. */
	unsigned b = NORM_EXACT;
	for (unsigned step = 128; step > 0; step >>= 1)
		if (b + step <= 255 && norm_len[b + step] <= len)
			b += step;
	return (uint8_t)b;
}

uint32_t idx_norm_decode(uint8_t b)
{
	return norm_len[b];
}
