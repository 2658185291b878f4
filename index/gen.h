/*
 * gen.h - generations: the directory layout of an index, MANIFEST.json, the
 * CURRENT file and its atomic replacement, and file checksums.
 *
 *   DIR/CURRENT                 "gen-000007\n": the live generation
 *   DIR/gen-000007/MANIFEST.json
 *   DIR/gen-000007/MANIFEST.xxh3  the XXH3-128 of MANIFEST.json's bytes
 *   DIR/gen-000007/shard-000.mdb ...   segments (a build's, or an update's:
 *                               s000-g000009.mdb), delete sets, statistics;
 *                               a file a later generation keeps is a hard link
 *   DIR/gen-000008.tmp/         a build in progress (never read; removed by
 *                               the next build)
 *   DIR/.lock                   held (flock) by the build that is running
 */
#ifndef TRAWL_INDEX_GEN_H
#define TRAWL_INDEX_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "index_int.h"

/* A file of a generation as its manifest lists it: name, size, XXH3-128. */
#define IDX_FILE_NAME_BYTES 48
typedef struct idx_mfile {
	char file[IDX_FILE_NAME_BYTES]; /* "" : none */
	uint64_t bytes;
	char xxh3_128[33]; /* hex */
} idx_mfile;

/* A segment of a shard: an immutable shard file (docs/FORMAT.md §5-7) and
 * the set of its documents deleted since it was written (§16). */
typedef struct idx_mseg {
	idx_mfile f;
	uint64_t docs;    /* documents in the file, the deleted ones too */
	idx_mfile del;    /* its delete set; del.file "" : none deleted */
	uint64_t deleted; /* documents the delete set holds */
	idx_mfile ver;    /* its documents' versions (versions.h); "" : a build's */
} idx_mseg;

typedef struct idx_manifest_shard {
	uint32_t nsegs; /* 1 .. LIMIT_SEGMENTS */
	idx_mseg *segs; /* owned; oldest first: doc ids follow this order */
} idx_manifest_shard;

typedef struct idx_manifest {
	uint32_t format; /* 3 when anything below needs it, else 2 */
	uint64_t generation;
	uint32_t shards;
	uint64_t docs;        /* live documents of the generation */
	uint64_t applied_seq; /* the last write-log operation the generation holds */
	/* global statistics in two layers (§15); stats_base.file "" : the
	 * statistics are the shard files' own (a generation a build wrote
	 * whole: one segment per shard, nothing deleted) */
	idx_mfile stats_base, stats_delta;
	char *schema_json; /* owned */
	int unsummed;      /* read without MANIFEST.xxh3 (an older trawl's generation) */
	idx_manifest_shard shard[TRAWL_MAX_SHARDS];
} idx_manifest;

/* idx_manifest_set_segments gives shard s of m n segments (zeroed; m owns
 * them, idx_manifest_fini frees them): TRAWL_OK or TRAWL_ENOMEM. */
int idx_manifest_set_segments(idx_manifest *m, uint32_t s, uint32_t n);

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

/* idx_gen_prune removes the generations of dir older than live but for
 * the keep newest of them (kept for a rollback), and returns how many it
 * removed. A file a later generation shares is a hard link there, and an
 * open reader keeps what it mapped: only names go. */
uint32_t idx_gen_prune(const char *dir, uint64_t live, uint32_t keep);

/* idx_remove_tree removes path and, if it is a directory, all it holds
 * (symbolic links are removed, never followed); errors are ignored: for
 * scratch directories only. */
void idx_remove_tree(const char *path);

/* idx_file_hash computes the XXH3-128 (hex) and size of a file. */
int idx_file_hash(const char *path, char hex[33], uint64_t *bytes);

/* idx_manifest_write writes gendir/MANIFEST.json (format 3 when m has more
 * than one segment in a shard, a delete set, statistics files or an
 * applied_seq; else 2, which a trawl of before segments reads too) and then MANIFEST.xxh3, its
 * XXH3-128 in hex and a newline, each fsynced. */
int idx_manifest_write(const char *gendir, const idx_manifest *m, char *err, size_t errlen);

/* idx_manifest_read parses gendir/MANIFEST.json into m (free with
 * idx_manifest_fini), after checking its bytes against MANIFEST.xxh3: a
 * mismatch or a malformed MANIFEST.xxh3 is TRAWL_ECORRUPT; without one the
 * manifest is still read, and m->unsummed is set. */
int idx_manifest_read(const char *gendir, idx_manifest *m, char *err, size_t errlen);
void idx_manifest_fini(idx_manifest *m);

/* idx_manifest_verify checks the size and checksum of every file of the
 * shards whose want[] entry is nonzero (want NULL: all): their segments and
 * delete sets, and the statistics files; the message names the file, the
 * expected and the actual value. */
int idx_manifest_verify(const char *gendir, const idx_manifest *m, const uint8_t *want, char *err,
                        size_t errlen);

/* idx_manifest_verify_with is idx_manifest_verify where trusted(ctx,
 * path, f) may say that the file at path, listed as f, was verified
 * already (the same inode, size and checksum in a generation read before:
 * a hard link), and need not be read again. */
typedef int (*idx_trusted_fn)(void *ctx, const char *path, const idx_mfile *f);
int idx_manifest_verify_with(const char *gendir, const idx_manifest *m, const uint8_t *want,
                             idx_trusted_fn trusted, void *ctx, char *err, size_t errlen);

/*
 * idx_gen_publish renames tmpdir to DIR/gen-N, then atomically replaces
 * DIR/CURRENT, fsyncing files and directories so that a crash at any point
 * leaves either the old or the new generation live.
 */
int idx_gen_publish(const char *dir, const char *tmpdir, uint64_t gen, char *err, size_t errlen);

/* idx_file_write_new writes n bytes as the new file path: to path.tmp,
 * fsynced, renamed, and the directory fsynced (a generation's own small
 * files: delete sets, versions). TRAWL_ENOSPC or TRAWL_EIO, err naming the
 * file. */
int idx_file_write_new(const char *path, const void *p, size_t n, char *err, size_t errlen);

/* idx_file_read_all reads the file at path into *out (malloc'ed,
 * NUL-terminated, *len bytes without the NUL): TRAWL_OK, TRAWL_EIO or
 * TRAWL_ENOMEM, err naming the file. */
int idx_file_read_all(const char *path, char **out, size_t *len, char *err, size_t errlen);

/* idx_fsync_path fsyncs a file or directory. */
int idx_fsync_path(const char *path);

#endif
