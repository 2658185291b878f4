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

#include "common/byteorder.h"
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

int idx_delset_write(const char *path, const idx_delset *d, char *err, size_t errlen)
{
	size_t n = DEL_HEAD + 8 * words(d->ndocs) + 8;
	uint8_t *buf = malloc(n);
	if (!buf)
		return errf(err, errlen, TRAWL_ENOMEM, "%s: out of memory", path);
	memcpy(buf, DEL_MAGIC, 8);
	le_put32(buf + 8, DEL_VERSION);
	le_put32(buf + 12, d->ndocs);
	le_put32(buf + 16, d->count);
	le_put32(buf + 20, 0);
	for (size_t i = 0; i < words(d->ndocs); i++)
		le_put64(buf + DEL_HEAD + 8 * i, d->bits[i]);
	le_put64(buf + n - 8, th_hash64(buf, n - 8));
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
	uint64_t want = le_get64(buf + n - 8), have = th_hash64(buf, n - 8);
	if (memcmp(buf, DEL_MAGIC, 8))
		rc = errf(err, errlen, TRAWL_ECORRUPT, "%s: not a delete set", path);
	else if (want != have)
		rc = errf(err, errlen, TRAWL_ECORRUPT,
		          "%s: checksum mismatch: expected xxh3-64 %016llx, actual %016llx", path,
		          (unsigned long long)want, (unsigned long long)have);
	else if (le_get32(buf + 8) != DEL_VERSION)
		rc = errf(err, errlen, TRAWL_EVERSION,
		          "%s: delete set version %u, this trawl reads %d", path, le_get32(buf + 8),
		          DEL_VERSION);
	else if (le_get32(buf + 12) != ndocs)
		rc = errf(err, errlen, TRAWL_ECORRUPT, "%s: for %u documents, the segment has %u",
		          path, le_get32(buf + 12), ndocs);
	if (rc == TRAWL_OK && (rc = idx_delset_init(out, ndocs)))
		errf(err, errlen, rc, "%s: out of memory", path);
	if (rc == TRAWL_OK) {
		uint64_t count = 0;
		for (size_t i = 0; i < words(ndocs); i++) {
			out->bits[i] = le_get64(buf + DEL_HEAD + 8 * i);
			count += (uint64_t)__builtin_popcountll(out->bits[i]);
		}
		uint64_t tail = ndocs % 64 ? out->bits[words(ndocs) - 1] >> (ndocs % 64) : 0;
		out->count = le_get32(buf + 16);
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
