/*
 * delset.h - a segment's deleted documents (issue #12, plan item 3 in
 * docs/ARCHITECTURE.md): a bit per document of the segment, set when an
 * update replaced or removed it. A segment never changes; its delete set
 * does, so each generation that deletes more of a segment's documents
 * writes that segment a new delete set (the old bits and the new), and the
 * generations that delete none share the previous one. The file's bytes:
 * docs/FORMAT.md §16. Nothing reads one yet: the searcher's segments are
 * being built.
 */
#ifndef TRAWL_INDEX_DELSET_H
#define TRAWL_INDEX_DELSET_H

#include <stddef.h>
#include <stdint.h>

typedef struct idx_delset {
	uint32_t ndocs; /* the segment's documents */
	uint32_t count; /* of them deleted */
	uint64_t *bits; /* (ndocs + 63) / 64 words; bit d of word d / 64: doc d deleted */
} idx_delset;

/* idx_delset_init: a set of ndocs documents, none deleted. TRAWL_ENOMEM. */
int idx_delset_init(idx_delset *d, uint32_t ndocs);
void idx_delset_fini(idx_delset *d);

/* idx_delset_add deletes doc (< ndocs): 1 if it was live, 0 if it was
 * deleted already. */
int idx_delset_add(idx_delset *d, uint32_t doc);

static inline int idx_delset_has(const idx_delset *d, uint32_t doc)
{
	return (int)((d->bits[doc >> 6] >> (doc & 63)) & 1);
}

/* idx_delset_write writes d to path: to path.tmp, fsynced, renamed to
 * path, and the directory fsynced. path is a new name (a generation's
 * own): a delete set that older generations use is never written over.
 * TRAWL_EIO or TRAWL_ENOSPC, err naming the file. */
int idx_delset_write(const char *path, const idx_delset *d, char *err, size_t errlen);

/* idx_delset_read reads path, which must be the delete set of a segment of
 * ndocs documents, into out (idx_delset_fini). TRAWL_ECORRUPT (err names
 * the file and what is wrong: magic, version, documents, count, checksum,
 * length), TRAWL_EIO, TRAWL_ENOMEM. */
int idx_delset_read(const char *path, uint32_t ndocs, idx_delset *out, char *err, size_t errlen);

#endif
