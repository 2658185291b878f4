/*
 * delset.c - a segment's deleted documents (see delset.h; the bytes:
 * docs/FORMAT.md §16): a header, the bit words, and an XXH3-64 of both.
 */
#include "delset.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/hash.h"
#include "common/limits.h"
#include "gen.h"
#include "trawl/trawl.h"

#define DEL_MAGIC "TRAWLDEL"
#define DEL_VERSION 1
#define DEL_HEAD 24 /* magic 8, version u32, ndocs u32, count u32, 0 u32 */

static size_t words(uint32_t ndocs)
{
	return ((size_t)ndocs + 63) / 64;
}

int idx_delset_init(idx_delset *d, uint32_t ndocs)
{
	*d = (idx_delset){.ndocs = ndocs};
	d->bits = calloc(words(ndocs) ? words(ndocs) : 1, 8);
	return d->bits ? TRAWL_OK : TRAWL_ENOMEM;
}

void idx_delset_fini(idx_delset *d)
{
	free(d->bits);
	*d = (idx_delset){0};
}

int idx_delset_add(idx_delset *d, uint32_t doc)
{
	uint64_t m = 1ull << (doc & 63);
	if (d->bits[doc >> 6] & m)
		return 0;
	d->bits[doc >> 6] |= m;
	d->count++;
	return 1;
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

int idx_delset_write(const char *path, const idx_delset *d, char *err, size_t errlen)
{
	size_t n = DEL_HEAD + 8 * words(d->ndocs) + 8;
	uint8_t *buf = malloc(n);
	if (!buf)
		return errf(err, errlen, TRAWL_ENOMEM, "%s: out of memory", path);
	memcpy(buf, DEL_MAGIC, 8);
	put_u32(buf + 8, DEL_VERSION);
	put_u32(buf + 12, d->ndocs);
	put_u32(buf + 16, d->count);
	put_u32(buf + 20, 0);
	for (size_t i = 0; i < words(d->ndocs); i++)
		put_u64(buf + DEL_HEAD + 8 * i, d->bits[i]);
	put_u64(buf + n - 8, th_hash64(buf, n - 8));
	int rc = idx_file_write_new(path, buf, n, err, errlen);
	free(buf);
	return rc;
}

int idx_delset_read(const char *path, uint32_t ndocs, idx_delset *out, char *err, size_t errlen)
{
	*out = (idx_delset){0};
	size_t n = DEL_HEAD + 8 * words(ndocs) + 8, off;
	char *text;
	int rc = idx_file_read_all(path, &text, &off, err, errlen);
	if (rc)
		return rc;
	if (off != n) {
		free(text);
		return errf(err, errlen, TRAWL_ECORRUPT,
		            "%s: %zu bytes, a delete set of %u documents has %zu", path, off, ndocs,
		            n);
	}
	uint8_t *buf = (uint8_t *)text;
	uint64_t want = get_u64(buf + n - 8), have = th_hash64(buf, n - 8);
	if (memcmp(buf, DEL_MAGIC, 8))
		rc = errf(err, errlen, TRAWL_ECORRUPT, "%s: not a delete set", path);
	else if (want != have)
		rc = errf(err, errlen, TRAWL_ECORRUPT,
		          "%s: checksum mismatch: expected xxh3-64 %016llx, actual %016llx", path,
		          (unsigned long long)want, (unsigned long long)have);
	else if (get_u32(buf + 8) != DEL_VERSION)
		rc = errf(err, errlen, TRAWL_EVERSION,
		          "%s: delete set version %u, this trawl reads %d", path, get_u32(buf + 8),
		          DEL_VERSION);
	else if (get_u32(buf + 12) != ndocs)
		rc = errf(err, errlen, TRAWL_ECORRUPT, "%s: for %u documents, the segment has %u",
		          path, get_u32(buf + 12), ndocs);
	if (rc == TRAWL_OK && (rc = idx_delset_init(out, ndocs)))
		errf(err, errlen, rc, "%s: out of memory", path);
	if (rc == TRAWL_OK) {
		uint64_t count = 0;
		for (size_t i = 0; i < words(ndocs); i++) {
			out->bits[i] = get_u64(buf + DEL_HEAD + 8 * i);
			count += (uint64_t)__builtin_popcountll(out->bits[i]);
		}
		uint64_t tail = ndocs % 64 ? out->bits[words(ndocs) - 1] >> (ndocs % 64) : 0;
		out->count = get_u32(buf + 16);
		if (count != out->count || tail)
			rc = errf(err, errlen, TRAWL_ECORRUPT,
			          "%s: says %u deleted, its bits %llu%s", path, out->count,
			          (unsigned long long)count,
			          tail ? " (some past the last document)" : "");
	}
	free(buf);
	if (rc)
		idx_delset_fini(out);
	return rc;
}
