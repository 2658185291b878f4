/*
 * fileserve.h - a generation's files, served over the wire to leaves that
 * pull them (issue #12, item 7).
 *
 * A leaf on a machine that does not share a file system with the indexer
 * keeps its own copy of the index directory and pulls each new generation
 * from a process that has one (leaf/pull.h): a leaf that shares the
 * indexer's directory, or the indexer itself. This module is what such a
 * process answers with: FILES (a generation's MANIFEST.json and
 * MANIFEST.xxh3, as bytes) and FILE_READ (a bounded piece of a file the
 * manifest lists), docs/WIRE.md. It holds no state and knows nothing of
 * the process it runs in, so that `trawl leaf` and the indexer's process
 * answer alike by calling one function from their request handlers.
 *
 * Only names a generation's manifest lists are read, from that generation's
 * directory, and never through a symbolic link: the wire refuses a name
 * with a '/' or a leading '.', and this module any name not listed, so a
 * request cannot read CURRENT, the write log or another directory's files.
 */
#ifndef TRAWL_LEAF_FILESERVE_H
#define TRAWL_LEAF_FILESERVE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/*
 * fileserve_answer answers the len-byte request req for the index
 * directory index_dir when it is a FILES or a FILE_READ, appending the
 * reply (FILES_REPLY or FILE_READ_REPLY, an error status when the request
 * or the generation is bad) to out, and returns 1; it returns 0, out
 * untouched, for any other message (or bytes without a valid header), for
 * the caller to answer. Any thread; blocks on the files it reads.
 */
int fileserve_answer(const char *index_dir, const uint8_t *req, size_t len, tbuf *out);

#endif
