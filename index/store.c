/*
 * store.c - the LMDB boundary (see store.h). LMDB's error codes become
 * trawl_err values here and nowhere else.
 */
#include "store.h"

#include <errno.h>
#include <sys/statvfs.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "index_int.h"

static const char *const db_names[IDX_DB_COUNT] = {"meta", "docs", "ops"};

/* The map may grow to this size; the file only grows to what is used. */
#define WRITE_MAPSIZE ((size_t)1 << 40)

struct idx_store {
	MDB_env *env;
	MDB_txn *wtxn; /* write transaction while creating, or a log's */
	MDB_dbi dbi[IDX_DB_COUNT];
	int owner_fd; /* a log: the lock file, flock()ed while open; else -1 */
};

struct idx_rtxn {
	idx_store *st;
	MDB_txn *txn;
};

static int map_err(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return TRAWL_OK;
	case MDB_NOTFOUND:
		return TRAWL_ENOTFOUND;
	case ENOSPC:
	case MDB_MAP_FULL:
		return TRAWL_ENOSPC;
	case ENOMEM:
		return TRAWL_ENOMEM;
	case MDB_BAD_VALSIZE:
		return TRAWL_ELIMIT;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
	case MDB_INCOMPATIBLE:
		return TRAWL_ECORRUPT;
	default:
		return TRAWL_EIO;
	}
}

static int env_new(idx_store **out, const char *path, unsigned flags, size_t mapsize, char *err,
                   size_t errlen)
{
	idx_store *st = calloc(1, sizeof *st);
	if (!st)
		return TRAWL_ENOMEM;
	st->owner_fd = -1;
	int rc = mdb_env_create(&st->env);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(st->env, IDX_DB_COUNT);
	if (rc == 0 && mapsize)
		rc = mdb_env_set_mapsize(st->env, mapsize);
	if (rc == 0)
		rc = mdb_env_open(st->env, path, flags | MDB_NOSUBDIR | MDB_NOTLS, 0644);
	if (rc) {
		int code = map_err(rc);
		errf(err, errlen, code, "%s: %s", path, mdb_strerror(rc));
		if (st->env)
			mdb_env_close(st->env);
		free(st);
		return code;
	}
	*out = st;
	return TRAWL_OK;
}

/* open_dbs opens st's sub-databases dbs[0..n) in a new transaction
 * (txn_flags) with dbi_flags (MDB_CREATE or 0), and keeps that transaction
 * as st's write transaction (keep) or commits it. On failure it closes st
 * and returns the error: a sub-database missing from a file opened without
 * MDB_CREATE is TRAWL_ECORRUPT. */
static int open_dbs(idx_store *st, const char *path, unsigned txn_flags, unsigned dbi_flags,
                    const idx_db *dbs, int n, int keep, char *err, size_t errlen)
{
	MDB_txn *txn = NULL;
	int lrc = mdb_txn_begin(st->env, NULL, txn_flags, &txn);
	for (int i = 0; lrc == 0 && i < n; i++)
		lrc = mdb_dbi_open(txn, db_names[dbs[i]], dbi_flags, &st->dbi[dbs[i]]);
	if (lrc == 0 && keep)
		st->wtxn = txn;
	else if (lrc == 0)
		lrc = mdb_txn_commit(txn);
	else if (txn)
		mdb_txn_abort(txn);
	if (lrc) {
		int rc = lrc == MDB_NOTFOUND ? TRAWL_ECORRUPT : map_err(lrc);
		errf(err, errlen, rc, "%s: %s", path, mdb_strerror(lrc));
		idx_store_close(st);
		return rc;
	}
	return TRAWL_OK;
}

int idx_store_create(idx_store **out, const char *path, size_t mapsize, char *err, size_t errlen)
{
	*out = NULL;
	idx_store *st;
	if (!mapsize || mapsize > WRITE_MAPSIZE)
		mapsize = WRITE_MAPSIZE;
	int rc = env_new(&st, path, MDB_NOSYNC | MDB_NOMETASYNC | MDB_NOLOCK, mapsize, err, errlen);
	if (rc)
		return rc;
	static const idx_db dbs[] = {IDX_DB_META, IDX_DB_DOCS};
	if ((rc = open_dbs(st, path, 0, MDB_CREATE, dbs, 2, 1, err, errlen)))
		return rc;
	*out = st;
	return TRAWL_OK;
}

int idx_store_reserve(idx_store *st, idx_db db, const void *key, size_t klen, size_t vlen,
                      int append, void **val)
{
	MDB_val k = {klen, (void *)key}, v = {vlen, NULL};
	int rc = mdb_put(st->wtxn, st->dbi[db], &k, &v, MDB_RESERVE | (append ? MDB_APPEND : 0));
	if (rc)
		return map_err(rc);
	*val = v.mv_data;
	return TRAWL_OK;
}

int idx_store_put(idx_store *st, idx_db db, const void *key, size_t klen, const void *val,
                  size_t vlen, int append)
{
	MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
	return map_err(mdb_put(st->wtxn, st->dbi[db], &k, &v, append ? MDB_APPEND : 0));
}

/* A failed commit's code: LMDB reports a write that found no room as EIO
 * on some file systems (a full tmpfs, seen): when the file system holding
 * the store is full, ENOSPC, so that the caller says "no space" (HTTP
 * 507) rather than "input/output error". */
static int commit_err(idx_store *st, int rc)
{
	const char *path = NULL;
	struct statvfs sv;
	if (rc == EIO && mdb_env_get_path(st->env, &path) == 0 && path &&
	    statvfs(path, &sv) == 0 && (uint64_t)sv.f_bavail * sv.f_frsize < ((uint64_t)1 << 20))
		return ENOSPC;
	return rc;
}

int idx_store_checkpoint(idx_store *st, char *err, size_t errlen)
{
	/* LMDB keeps a write transaction's dirty pages in memory until it
	 * commits: committing (without a sync) writes them out and frees them */
	int rc = commit_err(st, mdb_txn_commit(st->wtxn));
	st->wtxn = NULL;
	if (rc == 0)
		rc = mdb_txn_begin(st->env, NULL, 0, &st->wtxn);
	if (rc)
		return errf(err, errlen, map_err(rc), "checkpoint: %s", mdb_strerror(rc));
	return TRAWL_OK;
}

int idx_store_commit(idx_store *st, char *err, size_t errlen)
{
	int rc = mdb_txn_commit(st->wtxn);
	st->wtxn = NULL;
	if (rc == 0)
		rc = mdb_env_sync(st->env, 1);
	rc = commit_err(st, rc);
	if (rc)
		return errf(err, errlen, map_err(rc), "commit: %s", mdb_strerror(rc));
	return TRAWL_OK;
}

int idx_store_open(idx_store **out, const char *path, char *err, size_t errlen)
{
	*out = NULL;
	idx_store *st;
	int rc = env_new(&st, path, MDB_RDONLY | MDB_NORDAHEAD | MDB_NOLOCK, 0, err, errlen);
	if (rc)
		return rc;
	static const idx_db dbs[] = {IDX_DB_META, IDX_DB_DOCS};
	if ((rc = open_dbs(st, path, MDB_RDONLY, 0, dbs, 2, 0, err, errlen)))
		return rc;
	*out = st;
	return TRAWL_OK;
}

void idx_store_close(idx_store *st)
{
	if (!st)
		return;
	if (st->wtxn)
		mdb_txn_abort(st->wtxn);
	mdb_env_close(st->env);
	if (st->owner_fd >= 0)
		close(st->owner_fd); /* and with it the flock */
	free(st);
}

int idx_store_size(idx_store *st, uint64_t *bytes)
{
	mdb_filehandle_t fd;
	struct stat sb;
	if (mdb_env_get_fd(st->env, &fd) || fstat(fd, &sb))
		return TRAWL_EIO;
	*bytes = (uint64_t)sb.st_size;
	return TRAWL_OK;
}

int idx_store_open_log(idx_store **out, const char *path, size_t mapsize, char *err, size_t errlen)
{
	*out = NULL;
	/* the owner's lock first, on a file of its own: LMDB's locks let
	 * several processes write in turn, and a log has one writer. (Not on
	 * LMDB's lock file: closing any descriptor of a file drops the
	 * process's fcntl locks on it, LMDB's own among them.) */
	char lock[LIMIT_PATH_BYTES];
	if ((size_t)snprintf(lock, sizeof lock, "%s-owner", path) >= sizeof lock)
		return errf(err, errlen, TRAWL_ELIMIT, "%s: path longer than %d bytes", path,
		            LIMIT_PATH_BYTES);
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return errf(err, errlen, TRAWL_EIO, "%s: %s", lock, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		close(fd);
		return errf(err, errlen, TRAWL_EIO,
		            "%s: in use (open already, in this process or another)", path);
	}
	idx_store *st;
	int rc = env_new(&st, path, 0, mapsize, err, errlen);
	if (rc) {
		close(fd);
		return rc;
	}
	st->owner_fd = fd;
	static const idx_db dbs[] = {IDX_DB_META, IDX_DB_OPS};
	if ((rc = open_dbs(st, path, 0, MDB_CREATE, dbs, 2, 0, err, errlen)))
		return rc;
	*out = st;
	return TRAWL_OK;
}

int idx_store_wbegin(idx_store *st, char *err, size_t errlen)
{
	int rc = mdb_txn_begin(st->env, NULL, 0, &st->wtxn);
	if (rc) {
		st->wtxn = NULL;
		return errf(err, errlen, map_err(rc), "begin: %s", mdb_strerror(rc));
	}
	return TRAWL_OK;
}

int idx_store_wcommit(idx_store *st, char *err, size_t errlen)
{
	/* without MDB_NOSYNC, mdb_txn_commit returns after fdatasync */
	int rc = commit_err(st, mdb_txn_commit(st->wtxn));
	st->wtxn = NULL;
	if (rc)
		return errf(err, errlen, map_err(rc), "commit: %s", mdb_strerror(rc));
	return TRAWL_OK;
}

void idx_store_wabort(idx_store *st)
{
	if (st->wtxn)
		mdb_txn_abort(st->wtxn);
	st->wtxn = NULL;
}

int idx_store_del_upto(idx_store *st, idx_db db, const void *key, size_t klen, uint64_t max,
                       uint64_t *n, uint64_t *bytes)
{
	*n = *bytes = 0;
	MDB_cursor *c;
	int rc = mdb_cursor_open(st->wtxn, st->dbi[db], &c);
	if (rc)
		return map_err(rc);
	MDB_val k, v;
	while (*n < max && (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST)) == 0) {
		size_t m = k.mv_size < klen ? k.mv_size : klen;
		int cmp = memcmp(k.mv_data, key, m);
		if (cmp > 0 || (cmp == 0 && k.mv_size > klen))
			break;
		*bytes += v.mv_size;
		if ((rc = mdb_cursor_del(c, 0)) != 0)
			break;
		(*n)++;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? TRAWL_OK : map_err(rc);
}

int idx_rtxn_begin(idx_store *st, idx_rtxn **out)
{
	idx_rtxn *t = calloc(1, sizeof *t);
	if (!t)
		return TRAWL_ENOMEM;
	t->st = st;
	int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &t->txn);
	if (rc) {
		free(t);
		return map_err(rc);
	}
	*out = t;
	return TRAWL_OK;
}

void idx_rtxn_end(idx_rtxn *t)
{
	if (!t)
		return;
	mdb_txn_abort(t->txn);
	free(t);
}

int idx_store_get(idx_rtxn *t, idx_db db, const void *key, size_t klen, const void **val,
                  size_t *vlen)
{
	if (klen == 0 || klen > 511)
		return TRAWL_ENOTFOUND;
	MDB_val k = {klen, (void *)key}, v;
	int rc = mdb_get(t->txn, t->st->dbi[db], &k, &v);
	if (rc)
		return map_err(rc);
	*val = v.mv_data;
	*vlen = v.mv_size;
	return TRAWL_OK;
}

/* walk calls cb for the keys of db from the first at or after from (flen
 * bytes; 0: the first key) while they start with its first plen bytes. */
static int walk(idx_rtxn *t, idx_db db, const void *from, size_t flen, size_t plen, int want_val,
                idx_scan_cb cb, void *ctx)
{
	MDB_cursor *c;
	int rc = mdb_cursor_open(t->txn, t->st->dbi[db], &c);
	if (rc)
		return map_err(rc);
	MDB_val k = {flen, (void *)from}, v;
	int ret = 0;
	rc = flen ? mdb_cursor_get(c, &k, &v, MDB_SET_RANGE) : mdb_cursor_get(c, &k, &v, MDB_FIRST);
	while (rc == 0) {
		if (k.mv_size < plen || (plen && memcmp(k.mv_data, from, plen) != 0))
			break;
		ret = cb(ctx, k.mv_data, k.mv_size, want_val ? v.mv_data : NULL,
		         want_val ? v.mv_size : 0);
		if (ret)
			break;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (rc && rc != MDB_NOTFOUND)
		return map_err(rc);
	return ret;
}

int idx_store_scan(idx_rtxn *t, idx_db db, const void *prefix, size_t plen, int want_val,
                   idx_scan_cb cb, void *ctx)
{
	return walk(t, db, prefix, plen, plen, want_val, cb, ctx);
}

int idx_store_scan_from(idx_rtxn *t, idx_db db, const void *from, size_t flen, idx_scan_cb cb,
                        void *ctx)
{
	return walk(t, db, from, flen, 0, 1, cb, ctx);
}

int idx_store_last(idx_rtxn *t, idx_db db, const void **key, size_t *klen)
{
	MDB_cursor *c;
	int rc = mdb_cursor_open(t->txn, t->st->dbi[db], &c);
	if (rc)
		return map_err(rc);
	MDB_val k, v;
	rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	mdb_cursor_close(c);
	if (rc)
		return map_err(rc);
	*key = k.mv_data;
	*klen = k.mv_size;
	return TRAWL_OK;
}

uint64_t idx_store_entries(idx_rtxn *t, idx_db db)
{
	MDB_stat s;
	if (mdb_stat(t->txn, t->st->dbi[db], &s))
		return 0;
	return s.ms_entries;
}
