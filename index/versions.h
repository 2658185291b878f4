/*
 * versions.h - the _seq_no and _version of each document of a segment an
 * update wrote (issue #12): a write's answer and every later compare-and-set
 * (if_seq_no) rest on them, so they outlive the write log's operations,
 * which are trimmed once a generation holds them. A segment a build wrote
 * has none: its documents are at _seq_no 0, _version 1. Written once with
 * the segment, never changed; the bytes: docs/FORMAT.md §18.
 */
#ifndef TRAWL_INDEX_VERSIONS_H
#define TRAWL_INDEX_VERSIONS_H

#include <stddef.h>
#include <stdint.h>

/* idx_versions_write writes the versions of a segment of ndocs documents
 * to path (a new name; to path.tmp, fsynced, renamed): pairs[2d] is
 * document d's _seq_no, pairs[2d + 1] its _version. TRAWL_EIO, TRAWL_ENOSPC,
 * TRAWL_ENOMEM, err naming the file. */
int idx_versions_write(const char *path, uint32_t ndocs, const uint64_t *pairs, char *err,
                       size_t errlen);

/* idx_versions_read reads path, which must hold the versions of a segment
 * of ndocs documents, into *pairs (malloc'ed, 2 x ndocs; the caller frees
 * it). TRAWL_ECORRUPT naming the file and what is wrong (magic, length,
 * checksum, documents, a version 0), TRAWL_EVERSION, TRAWL_EIO,
 * TRAWL_ENOMEM. */
int idx_versions_read(const char *path, uint32_t ndocs, uint64_t **pairs, char *err, size_t errlen);

#endif
