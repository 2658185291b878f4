/*
 * gen.h - generations: the directory layout of an index, MANIFEST.json, the
 * CURRENT file and its atomic replacement, and file checksums.
 *
 *   DIR/CURRENT                 "gen-000007\n": the live generation
 *   DIR/gen-000007/MANIFEST.json
 *   DIR/gen-000007/MANIFEST.xxh3  the XXH3-128 of MANIFEST.json's bytes
 *   DIR/gen-000007/shard-000.mdb ...
 *   DIR/gen-000008.tmp/         a build in progress (never read; removed by
 *                               the next build)
 *   DIR/.lock                   held (flock) by the build that is running
 */
#ifndef TRAWL_INDEX_GEN_H
#define TRAWL_INDEX_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "index_int.h"



typedef struct idx_manifest_shard {
	char file[32];      /* "shard-000.mdb" */
	uint64_t docs;
	uint64_t bytes;
	char xxh3_128[33];  /* hex */
} idx_manifest_shard;

typedef struct idx_manifest {
	uint32_t format;
	uint64_t generation;
	uint32_t shards;
	uint64_t docs;
	char *schema_json;  /* owned */
	int unsummed;       /* read without MANIFEST.xxh3 (an older trawl's generation) */
	idx_manifest_shard shard[TRAWL_MAX_SHARDS];
} idx_manifest;

/* idx_gen_dirname writes "gen-NNNNNN" for gen. */
void idx_gen_dirname(char out[32], uint64_t gen);

/* idx_gen_current reads DIR/CURRENT: TRAWL_OK, ENOTFOUND (no index yet) or ECORRUPT. */
int idx_gen_current(const char *dir, uint64_t *gen, char *err, size_t errlen);

/* idx_gen_next: one more than the highest generation number present in dir. */
uint64_t idx_gen_next(const char *dir);

/* idx_gen_lock takes DIR/.lock so that one build at a time runs; *fd to release with close(). */
int idx_gen_lock(const char *dir, int *fd, char *err, size_t errlen);

/* idx_gen_clean_tmp removes abandoned DIR/gen-*.tmp directories (lock held). */
void idx_gen_clean_tmp(const char *dir);

/* idx_file_hash computes the XXH3-128 (hex) and size of a file. */
int idx_file_hash(const char *path, char hex[33], uint64_t *bytes);

/* idx_manifest_write writes gendir/MANIFEST.json and then MANIFEST.xxh3, its
 * XXH3-128 in hex and a newline, each fsynced. */
int idx_manifest_write(const char *gendir, const idx_manifest *m, char *err, size_t errlen);

/* idx_manifest_read parses gendir/MANIFEST.json into m (free with
 * idx_manifest_fini), after checking its bytes against MANIFEST.xxh3: a
 * mismatch or a malformed MANIFEST.xxh3 is TRAWL_ECORRUPT; without one the
 * manifest is still read, and m->unsummed is set. */
int idx_manifest_read(const char *gendir, idx_manifest *m, char *err, size_t errlen);
void idx_manifest_fini(idx_manifest *m);

/* idx_manifest_verify checks the size and checksum of every shard file whose
 * want[] entry is nonzero (want NULL: all); the message names the file, the
 * expected and the actual value. */
int idx_manifest_verify(const char *gendir, const idx_manifest *m, const uint8_t *want, char *err,
                        size_t errlen);

/*
 * idx_gen_publish renames tmpdir to DIR/gen-N, then atomically replaces
 * DIR/CURRENT, fsyncing files and directories so that a crash at any point
 * leaves either the old or the new generation live.
 */
int idx_gen_publish(const char *dir, const char *tmpdir, uint64_t gen, char *err, size_t errlen);

/* idx_fsync_path fsyncs a file or directory. */
int idx_fsync_path(const char *path);

#endif
