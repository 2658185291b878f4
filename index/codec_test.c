/*
 * codec_test.c - unit tests of the shard format's integer codecs (codec.h).
 *
 * The codecs define bytes on disk, so besides round trips these tests check
 * the packed layout against a bit-by-bit reference, that decoders refuse
 * truncated and over-long input, that idx_unpack reads no byte past its
 * input (the buffers end exactly where the data does, for ASan to see), and
 * the promised properties of the norm quantisation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "index/codec.h"

/* splitmix64: a fixed-seed generator, so failures reproduce. */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static uint32_t mask32(uint32_t bits)
{
	return bits == 0 ? 0 : (uint32_t)(((uint64_t)1 << bits) - 1);
}

/* ---- varints ---- */

static void varint_roundtrip(uint64_t v)
{
	uint8_t buf[16];
	memset(buf, 0xAA, sizeof buf);
	size_t n = idx_varint_put(buf, v);
	assert_int_equal(n, idx_varint_len(v));
	assert_true(n >= 1 && n <= 10);
	assert_int_equal(buf[n], 0xAA); /* wrote nothing past its length */
	uint64_t got = ~v;
	const uint8_t *end = idx_varint_get(buf, buf + n, &got);
	assert_ptr_equal(end, buf + n);
	assert_true(got == v);
	/* Extra bytes after it are left alone. */
	end = idx_varint_get(buf, buf + sizeof buf, &got);
	assert_ptr_equal(end, buf + n);
	assert_true(got == v);
}

static void test_varint_boundaries(void **state)
{
	(void)state;
	static const uint64_t vals[] = {
		0, 1, 127, 128, 255, 16383, 16384, (1ull << 56) - 1, 1ull << 56, (1ull << 63) - 1,
		1ull << 63, UINT64_MAX,
	};
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
		varint_roundtrip(vals[i]);
	uint8_t buf[10];
	assert_int_equal(idx_varint_put(buf, 0), 1);
	assert_int_equal(buf[0], 0);
	assert_int_equal(idx_varint_put(buf, 127), 1);
	assert_int_equal(idx_varint_put(buf, 128), 2);
	assert_int_equal(buf[0], 0x80);
	assert_int_equal(buf[1], 0x01);
	assert_int_equal(idx_varint_put(buf, 1ull << 63), 10);
	assert_int_equal(buf[9], 0x01);
	assert_int_equal(idx_varint_put(buf, UINT64_MAX), 10);
	assert_int_equal(buf[9], 0x01);
}

static void test_varint_random(void **state)
{
	(void)state;
	/* For each length 1..10, values whose top bit falls in that length's range. */
	for (unsigned len = 1; len <= 10; len++) {
		unsigned lo = 7 * (len - 1) + 1, hi = len == 10 ? 64 : 7 * len; /* bit counts */
		if (len == 1)
			lo = 0;
		for (int k = 0; k < 2000; k++) {
			unsigned bits = lo + (unsigned)(rnd() % (hi - lo + 1));
			uint64_t v = bits == 0 ? 0 : rnd() >> (64 - bits);
			if (bits > 0)
				v |= 1ull << (bits - 1);
			assert_int_equal(idx_varint_len(v), len);
			varint_roundtrip(v);
		}
	}
}

static void test_varint_truncated(void **state)
{
	(void)state;
	uint8_t buf[10] = {0};
	uint64_t v;
	assert_null(idx_varint_get(buf, buf, &v)); /* empty input */
	for (int k = 0; k < 1000; k++) {
		uint64_t x = rnd() >> (rnd() % 64);
		size_t n = idx_varint_put(buf, x);
		/* Copy each strict prefix to a buffer of exactly that size. */
		for (size_t cut = 0; cut < n; cut++) {
			uint8_t *p = malloc(cut ? cut : 1);
			assert_non_null(p);
			memcpy(p, buf, cut);
			assert_null(idx_varint_get(p, p + cut, &v));
			free(p);
		}
	}
}

static void test_varint_overlong(void **state)
{
	(void)state;
	uint8_t buf[16] = {0};
	uint64_t v;
	/* 11 bytes: ten continuation bytes and a terminator. */
	memset(buf, 0x80, 10);
	buf[10] = 0x00;
	assert_null(idx_varint_get(buf, buf + 11, &v));
	/* A 10th byte with more than bit 63 in it. */
	memset(buf, 0xff, 9);
	for (unsigned b = 2; b < 256; b++) {
		buf[9] = (uint8_t)b;
		assert_null(idx_varint_get(buf, buf + 16, &v));
	}
	/* The largest legal 10-byte forms still decode. */
	buf[9] = 0x01;
	assert_ptr_equal(idx_varint_get(buf, buf + 10, &v), buf + 10);
	assert_true(v == UINT64_MAX);
	buf[9] = 0x00;
	assert_ptr_equal(idx_varint_get(buf, buf + 10, &v), buf + 10);
	assert_true(v == UINT64_MAX >> 1);
}

/* ---- bit packing ---- */

static void test_bits_for(void **state)
{
	(void)state;
	assert_int_equal(idx_bits_for(0), 0);
	assert_int_equal(idx_bits_for(1), 1);
	assert_int_equal(idx_bits_for(2), 2);
	assert_int_equal(idx_bits_for(3), 2);
	assert_int_equal(idx_bits_for(4), 3);
	for (uint32_t b = 1; b <= 32; b++) {
		assert_int_equal(idx_bits_for((uint32_t)(1ull << (b - 1))), b);
		assert_int_equal(idx_bits_for(mask32(b)), b);
	}
	assert_int_equal(idx_bits_for(UINT32_MAX), 32);
	uint32_t v[IDX_BLOCK] = {0};
	assert_int_equal(idx_bits_max(v, 0), 0);
	assert_int_equal(idx_bits_max(v, IDX_BLOCK), 0);
	v[77] = 5;
	v[3] = 1;
	assert_int_equal(idx_bits_max(v, IDX_BLOCK), 3);
	assert_int_equal(idx_bits_max(v, 77), 1);
	v[127] = 1u << 31;
	assert_int_equal(idx_bits_max(v, IDX_BLOCK), 32);
}

/* ref_pack: the layout spelled out one bit at a time. */
static void ref_pack(uint8_t *out, const uint32_t *in, uint32_t n, uint32_t bits)
{
	memset(out, 0, idx_packed_bytes(n, bits));
	for (uint32_t i = 0; i < n; i++)
		for (uint32_t k = 0; k < bits; k++)
			if (in[i] >> k & 1) {
				size_t bit = (size_t)i * bits + k;
				out[bit / 8] |= (uint8_t)(1u << (bit % 8));
			}
}

static const uint32_t test_ns[] = {1, 2, 7, 31, 64, 127, 128};
#define N_TEST_NS (sizeof test_ns / sizeof test_ns[0])

static void fill(uint32_t *v, uint32_t n, uint32_t bits, int round)
{
	for (uint32_t i = 0; i < n; i++) {
		uint32_t x = (uint32_t)rnd();
		if (round == 1)
			x = UINT32_MAX; /* every bit of the width set */
		else if (round == 2)
			x >>= rnd() % 33 % 32; /* mixed magnitudes */
		v[i] = x & mask32(bits);
	}
}

static void test_pack_roundtrip(void **state)
{
	(void)state;
	uint32_t in[IDX_BLOCK], out[IDX_BLOCK + 1];
	uint8_t packed[IDX_BLOCK * 4 + 8], ref[IDX_BLOCK * 4 + 8];
	for (uint32_t bits = 0; bits <= 32; bits++)
		for (size_t t = 0; t < N_TEST_NS; t++)
			for (int round = 0; round < 20; round++) {
				uint32_t n = test_ns[t];
				size_t size = idx_packed_bytes(n, bits);
				fill(in, n, bits, round);
				memset(packed, 0xAA, sizeof packed);
				assert_int_equal(idx_pack(packed, in, n, bits), size);
				assert_int_equal(packed[size], 0xAA); /* no write past it */
				ref_pack(ref, in, n, bits);
				assert_memory_equal(packed, ref, size); /* layout, high bits 0 */
				memset(out, 0x55, sizeof out);
				idx_unpack(out, packed, n, bits);
				assert_memory_equal(out, in, n * sizeof in[0]);
				assert_int_equal(out[n], 0x55555555); /* no write past n */
			}
}

static void test_pack_masks_input(void **state)
{
	(void)state;
	/* Stray high bits in the input must not leak into neighbouring values. */
	uint32_t in[IDX_BLOCK], want[IDX_BLOCK], out[IDX_BLOCK];
	uint8_t packed[IDX_BLOCK * 4];
	for (uint32_t bits = 1; bits < 32; bits++) {
		for (uint32_t i = 0; i < IDX_BLOCK; i++) {
			in[i] = (uint32_t)rnd() | ~mask32(bits);
			want[i] = in[i] & mask32(bits);
		}
		for (size_t t = 0; t < N_TEST_NS; t++) {
			uint32_t n = test_ns[t];
			idx_pack(packed, in, n, bits);
			idx_unpack(out, packed, n, bits);
			assert_memory_equal(out, want, n * sizeof out[0]);
		}
	}
}

static void test_unpack_no_overread(void **state)
{
	(void)state;
	uint32_t in[IDX_BLOCK], out[IDX_BLOCK];
	for (uint32_t bits = 0; bits <= 32; bits++)
		for (size_t t = 0; t < N_TEST_NS; t++) {
			uint32_t n = test_ns[t];
			size_t size = idx_packed_bytes(n, bits);
			/* Exactly size bytes, so ASan flags a read or write past them. */
			uint8_t *buf = malloc(size);
			assert_true(size == 0 || buf != NULL);
			fill(in, n, bits, 0);
			assert_int_equal(idx_pack(buf, in, n, bits), size);
			idx_unpack(out, buf, n, bits);
			assert_memory_equal(out, in, n * sizeof in[0]);
			for (uint32_t i = 0; i < n; i++)
				assert_int_equal(idx_unpack_one(buf, i, bits), in[i]);
			free(buf);
		}
}

static void test_unpack_one_agrees(void **state)
{
	(void)state;
	uint32_t in[IDX_BLOCK], out[IDX_BLOCK];
	uint8_t packed[IDX_BLOCK * 4];
	for (uint32_t bits = 0; bits <= 32; bits++)
		for (size_t t = 0; t < N_TEST_NS; t++)
			for (int round = 0; round < 3; round++) {
				uint32_t n = test_ns[t];
				fill(in, n, bits, round);
				idx_pack(packed, in, n, bits);
				idx_unpack(out, packed, n, bits);
				for (uint32_t i = 0; i < n; i++)
					assert_int_equal(idx_unpack_one(packed, i, bits), out[i]);
			}
}

/* ---- norms ---- */

/* The largest length that does not saturate: 255's range as the bound allows. */
static uint32_t norm_max_len(void)
{
	uint64_t d = idx_norm_decode(255);
	return (uint32_t)(d * 16 / 15);
}

static void check_norm(uint32_t len, uint8_t *prev)
{
	uint8_t b = idx_norm_encode(len);
	uint32_t d = idx_norm_decode(b);
	if (b < *prev)
		fail_msg("not monotonic at %u: %u after %u", len, b, *prev);
	*prev = b;
	if (d > len)
		fail_msg("decode(encode(%u)) = %u is above it", len, d);
	if ((double)(len - d) >= len / 16.0 + 1)
		fail_msg("decode(encode(%u)) = %u is too far below", len, d);
	if (len < 40 && (b != len || d != len))
		fail_msg("length %u is not exact", len);
}

static void test_norm_exhaustive(void **state)
{
	(void)state;
	uint8_t prev = 0;
	for (uint32_t len = 0; len <= 1u << 20; len++)
		check_norm(len, &prev);
}

static void test_norm_sample_above(void **state)
{
	(void)state;
	uint32_t max = norm_max_len();
	assert_true(max >= 1u << 24);
	/* Every range boundary above 2^20, and the lengths either side. */
	uint8_t prev = idx_norm_encode(1u << 20);
	for (uint32_t len = (1u << 20) + 1; len <= max;) {
		check_norm(len, &prev);
		uint8_t b = idx_norm_encode(len);
		uint32_t next = b < 255 ? idx_norm_decode((uint8_t)(b + 1)) : max;
		if (len + 1 < next)
			check_norm(next - 1, &prev); /* the widest error of this range */
		len = next > len + 1 ? next : len + 1;
		if (b == 255)
			break;
	}
	check_norm(max, &prev);
	/* Random lengths up to the saturation point, in increasing order. */
	prev = 0;
	uint32_t len = 0;
	while (len < max) {
		check_norm(len, &prev);
		len += 1 + (uint32_t)(rnd() % 4096);
	}
}

static void test_norm_saturates(void **state)
{
	(void)state;
	uint32_t max = norm_max_len();
	assert_int_equal(idx_norm_encode(idx_norm_decode(255)), 255);
	assert_int_equal(idx_norm_encode(max), 255);
	assert_int_equal(idx_norm_encode(max + 1), 255);
	assert_int_equal(idx_norm_encode(UINT32_MAX), 255);
	assert_true(idx_norm_encode(1u << 24) < 255); /* 2^24 is below saturation */
}

static void test_norm_bytes_roundtrip(void **state)
{
	(void)state;
	for (unsigned b = 0; b < 256; b++) {
		uint32_t d = idx_norm_decode((uint8_t)b);
		assert_int_equal(idx_norm_encode(d), b);
		if (b > 0) {
			uint32_t prev = idx_norm_decode((uint8_t)(b - 1));
			assert_true(prev < d);
			/* d is the smallest length encoding to b. */
			assert_int_equal(idx_norm_encode(d - 1), b - 1);
		}
		if (b <= 40)
			assert_int_equal(d, b);
		else
			/* The documented rule: each range as wide as the bound allows. */
			assert_int_equal(d,
			                 (uint64_t)idx_norm_decode((uint8_t)(b - 1)) * 16 / 15 + 1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_varint_boundaries),
		cmocka_unit_test(test_varint_random),
		cmocka_unit_test(test_varint_truncated),
		cmocka_unit_test(test_varint_overlong),
		cmocka_unit_test(test_bits_for),
		cmocka_unit_test(test_pack_roundtrip),
		cmocka_unit_test(test_pack_masks_input),
		cmocka_unit_test(test_unpack_no_overread),
		cmocka_unit_test(test_unpack_one_agrees),
		cmocka_unit_test(test_norm_exhaustive),
		cmocka_unit_test(test_norm_sample_above),
		cmocka_unit_test(test_norm_saturates),
		cmocka_unit_test(test_norm_bytes_roundtrip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
