/*
 * store.h - the boundary to LMDB: a shard is one LMDB environment in one
 * file (MDB_NOSUBDIR, no lock file: generations are immutable once written).
 * Only store.c includes lmdb.h; everything else sees these functions, byte
 * strings, and trawl_err codes.
 *
 * Lifetime rule (LMDB's): a value returned by idx_store_get points into the
 * memory map and stays valid until the read transaction it was read in ends.
 * A searcher holds one read transaction per shard for its whole life, so
 * values it reads live as long as the searcher.
 */
#ifndef TRAWL_INDEX_STORE_H
#define TRAWL_INDEX_STORE_H

#include <stddef.h>
#include <stdint.h>

/* The sub-databases of a shard (docs/FORMAT.md). */
typedef enum idx_db {
	IDX_DB_META = 0, /* "meta": named values: format, info, stats, norms, the
	                    term dictionary, the postings and positions blobs...;
	                    in a log: its format and next sequence number */
	IDX_DB_DOCS,     /* "docs": doc id (u32 big-endian) -> stored document */
	IDX_DB_OPS,      /* a log's "ops": sequence number (u64 big-endian) ->
	                    one operation (index/wlog.c) */
	IDX_DB_COUNT
} idx_db;

typedef struct idx_store idx_store;
typedef struct idx_rtxn idx_rtxn;

/* ---- writing (one thread) ---- */

/*
 * idx_store_create creates a new shard file at path (which must not exist)
 * and begins its write transaction. mapsize bounds the file (address space
 * is reserved for it, not disk; 0 or more than 1 TiB: 1 TiB); a write past
 * it fails with TRAWL_ENOSPC (LMDB's MDB_MAP_FULL). Owned by the caller: finish with
 * idx_store_commit, or idx_store_close to abandon.
 */
int idx_store_create(idx_store **out, const char *path, size_t mapsize, char *err, size_t errlen);

/*
 * idx_store_put stores key -> val in db. With append nonzero the key must
 * sort after every key already in db (fast path for sorted bulk loads).
 * Errors: TRAWL_ENOSPC, TRAWL_EIO, TRAWL_ELIMIT (key too long).
 */
int idx_store_put(idx_store *st, idx_db db, const void *key, size_t klen, const void *val,
                  size_t vlen, int append);

/*
 * idx_store_reserve is idx_store_put that returns, in *val, room for vlen
 * bytes to fill in place before the next call on st.
 */
int idx_store_reserve(idx_store *st, idx_db db, const void *key, size_t klen, size_t vlen,
                      int append, void **val);

/* idx_store_checkpoint commits what was written so far (without fsync) and
 * begins a new write transaction: LMDB holds a transaction's dirty pages in
 * memory, so a long write checkpoints to stay within bounded memory. A crash
 * before idx_store_commit leaves a file that nothing reads (the generation
 * is not published). */
int idx_store_checkpoint(idx_store *st, char *err, size_t errlen);

/* idx_store_commit commits and fsyncs the file. st stays open for reading
 * via idx_store_close only. */
int idx_store_commit(idx_store *st, char *err, size_t errlen);

/* ---- a durable log (index/wlog.c): written again and again ---- */

/*
 * idx_store_open_log opens the log file at path, creating it (and LMDB's
 * lock file, path + "-lock", and the owner's, path + "-owner") when
 * missing: sub-databases meta and ops, map size mapsize (a write that would
 * grow the file past it fails with TRAWL_ENOSPC). Unlike a shard, every
 * commit is durable: it returns after fsync. One open at a time: a second
 * while the first holds it (flock on the owner's file) is TRAWL_EIO, "in
 * use". Write transactions are made one at a time by the caller
 * (idx_store_wbegin .. idx_store_wcommit); readers run beside them
 * (idx_rtxn_begin) and see the last commit before they began.
 */
int idx_store_open_log(idx_store **out, const char *path, size_t mapsize, char *err, size_t errlen);

/* idx_store_wbegin begins a write transaction on a log; idx_store_put,
 * idx_store_reserve and idx_store_del_upto then write in it until
 * idx_store_wcommit (durable on return) or idx_store_wabort. */
int idx_store_wbegin(idx_store *st, char *err, size_t errlen);
int idx_store_wcommit(idx_store *st, char *err, size_t errlen);
void idx_store_wabort(idx_store *st);

/* idx_store_del_upto deletes the keys of db that sort at or before key
 * (bytewise), first first, at most max of them, in the write transaction;
 * *n: how many, *bytes: the bytes of their values. */
int idx_store_del_upto(idx_store *st, idx_db db, const void *key, size_t klen, uint64_t max,
                       uint64_t *n, uint64_t *bytes);

/* ---- reading: any thread, one idx_rtxn per thread ---- */

/*
 * idx_store_open maps an existing shard file read-only. The caller must have
 * verified the file's checksum first (LMDB does not check pages). Owned by
 * the caller; close after every read transaction on it has ended.
 */
int idx_store_open(idx_store **out, const char *path, char *err, size_t errlen);

void idx_store_close(idx_store *st);

/* idx_store_size: the size of st's file now (fstat of the descriptor LMDB
 * maps), in *bytes: TRAWL_OK or TRAWL_EIO. */
int idx_store_size(idx_store *st, uint64_t *bytes);

/* idx_rtxn_begin starts a read transaction on st for the calling thread. */
int idx_rtxn_begin(idx_store *st, idx_rtxn **out);
void idx_rtxn_end(idx_rtxn *t);

/* idx_store_get looks key up in db: TRAWL_OK with *val and *vlen set (valid
 * until t ends), TRAWL_ENOTFOUND, or TRAWL_ECORRUPT. */
int idx_store_get(idx_rtxn *t, idx_db db, const void *key, size_t klen, const void **val,
                  size_t *vlen);

/*
 * idx_store_scan calls cb(ctx, key, klen, val, vlen) for every key of db that
 * starts with prefix, in order, until cb returns nonzero (which is returned).
 * With want_val 0, val is NULL (big values are not touched).
 */
typedef int (*idx_scan_cb)(void *ctx, const void *key, size_t klen, const void *val, size_t vlen);
int idx_store_scan(idx_rtxn *t, idx_db db, const void *prefix, size_t plen, int want_val,
                   idx_scan_cb cb, void *ctx);

/*
 * idx_store_scan_from calls cb for every key of db that sorts at or after
 * from (flen bytes), with its value, in order, until cb returns nonzero
 * (which is returned).
 */
int idx_store_scan_from(idx_rtxn *t, idx_db db, const void *from, size_t flen, idx_scan_cb cb,
                        void *ctx);

/* idx_store_last: db's last key (*key, *klen valid until t ends), or
 * TRAWL_ENOTFOUND when db is empty. */
int idx_store_last(idx_rtxn *t, idx_db db, const void **key, size_t *klen);

/* idx_store_entries: number of keys in db. */
uint64_t idx_store_entries(idx_rtxn *t, idx_db db);

#endif
