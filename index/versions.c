/*
 * versions.c - a segment's document versions, written and read back
 * (versions.h): a header, a (_seq_no, _version) pair per document in the
 * segment's order, and an XXH3-64 of everything before it.
 */
#include "versions.h"

#include <stdlib.h>
#include <string.h>

#include "common/byteorder.h"
#include "common/error.h"
#include "common/hash.h"
#include "gen.h"
#include "trawl/trawl.h"

#define VER_MAGIC "TRAWLVER"
#define VER_VERSION 1
#define VER_HEAD 16 /* magic 8, version u32, ndocs u32 */

static size_t file_bytes(uint32_t ndocs)
{
	return VER_HEAD + 16 * (size_t)ndocs + 8;
}

int idx_versions_write(const char *path, uint32_t ndocs, const uint64_t *pairs, char *err,
                       size_t errlen)
{
	size_t n = file_bytes(ndocs);
	uint8_t *buf = malloc(n);
	if (!buf)
		return errf(err, errlen, TRAWL_ENOMEM, "%s: out of memory", path);
	memcpy(buf, VER_MAGIC, 8);
	le_put64(buf + 8, (uint64_t)VER_VERSION | (uint64_t)ndocs << 32);
	for (size_t i = 0; i < 2 * (size_t)ndocs; i++)
		le_put64(buf + VER_HEAD + 8 * i, pairs[i]);
	le_put64(buf + n - 8, th_hash64(buf, n - 8));
	int rc = idx_file_write_new(path, buf, n, err, errlen);
	free(buf);
	return rc;
}

int idx_versions_read(const char *path, uint32_t ndocs, uint64_t **pairs, char *err, size_t errlen)
{
	*pairs = NULL;
	char *text;
	size_t len, n = file_bytes(ndocs);
	int rc = idx_file_read_all(path, &text, &len, err, errlen);
	if (rc)
		return rc;
	const uint8_t *b = (const uint8_t *)text;
	uint64_t head = len >= VER_HEAD ? le_get64(b + 8) : 0;
	if (len < VER_HEAD + 8 || memcmp(b, VER_MAGIC, 8))
		rc = errf(err, errlen, TRAWL_ECORRUPT, "%s: not a versions file", path);
	else if (le_get64(b + len - 8) != th_hash64(b, len - 8))
		rc = errf(err, errlen, TRAWL_ECORRUPT, "%s: checksum mismatch", path);
	else if ((uint32_t)head != VER_VERSION)
		rc =
		    errf(err, errlen, TRAWL_EVERSION, "%s: versions format %u, this trawl reads %d",
		         path, (uint32_t)head, VER_VERSION);
	else if ((uint32_t)(head >> 32) != ndocs || len != n)
		rc = errf(err, errlen, TRAWL_ECORRUPT,
		          "%s: the versions of %u documents in %zu bytes; the segment has %u", path,
		          (uint32_t)(head >> 32), len, ndocs);
	uint64_t *p = rc ? NULL : malloc(16 * (size_t)(ndocs ? ndocs : 1));
	if (!rc && !p)
		rc = errf(err, errlen, TRAWL_ENOMEM, "%s: out of memory", path);
	for (size_t i = 0; !rc && i < 2 * (size_t)ndocs; i++) {
		p[i] = le_get64(b + VER_HEAD + 8 * i);
		if ((i & 1) && p[i] == 0)
			rc = errf(err, errlen, TRAWL_ECORRUPT, "%s: document %zu has version 0",
			          path, i / 2);
	}
	free(text);
	if (rc) {
		free(p);
		return rc;
	}
	*pairs = p;
	return TRAWL_OK;
}
