/*
 * input.h - reading a build's input files: plain, zstd- or gzip-compressed
 * (recognised by their magic bytes, whatever the name), or standard input.
 * The boundary to zlib: only input.c includes zlib.h (zstd streams go
 * through docstore.c).
 */
#ifndef TRAWL_INDEX_INPUT_H
#define TRAWL_INDEX_INPUT_H

#include <stddef.h>
#include <stdint.h>

typedef struct idx_input idx_input;

/* idx_input_open opens path ("-": standard input). Errors: TRAWL_ENOTFOUND,
 * TRAWL_EIO (with err naming the file and the reason), TRAWL_ENOMEM. */
int idx_input_open(idx_input **out, const char *path, char *err, size_t errlen);

/* idx_input_read reads up to cap decompressed bytes; *n 0 at the end.
 * TRAWL_EIO (read error) or TRAWL_ECORRUPT (damaged compressed data), with
 * err naming the file. */
int idx_input_read(idx_input *in, void *buf, size_t cap, size_t *n, char *err, size_t errlen);

/* idx_input_format: "jsonl", "zstd" or "gzip" (what the magic bytes said). */
const char *idx_input_format(const idx_input *in);

/* idx_input_consumed: bytes of the file (compressed, if it is) consumed so
 * far; idx_input_size: the file's size, 0 if unknown. For progress. */
uint64_t idx_input_consumed(const idx_input *in);
uint64_t idx_input_size(const idx_input *in);

void idx_input_close(idx_input *in);

#endif
