/*
 * wlog.c - an index's write log (see wlog.h; the bytes: docs/FORMAT.md
 * §14). The log is an LMDB file of its own, opened through store.c, whose
 * sub-database ops maps a sequence number (u64 big-endian, so that LMDB's
 * bytewise order is the numbers' order) to one operation record.
 *
 * Group commit: an append is numbered and queued under w->mu when it is
 * submitted; a thread waiting for its append that finds no commit running
 * becomes the writer, takes the queue's head (up to LIMIT_WLOG_APPEND_BYTES
 * of it), writes it in one transaction, commits (one fsync), and wakes the
 * appenders it wrote for. While it writes, new appends queue for the next
 * commit; whoever waits with work queued and no writer writes it. Commits
 * therefore land in the numbers' order, and a failed one fails everything
 * queued behind it (see idx_wlog_submit). A trim takes the writer's turn
 * the same way.
 *
 * The bound: the log counts the bytes of the records it holds (meta key
 * "bytes"), and refuses at submit an append that would take them, with
 * those queued, past max_bytes. The
 * LMDB map is larger (twice the bound and two appends more): a copy-on-write
 * B-tree needs free pages to delete, and pages a commit frees are reused
 * only two commits later, so a log at its bound can still be trimmed and
 * written again. (Bounding by the map instead left a full log unable to
 * take an append after a trim.)
 */
#include "wlog.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/byteorder.h"
#include "common/error.h"
#include "common/hash.h"
#include "common/limits.h"
#include "gen.h"
#include "store.h"
#include "testhooks.h"
#include "trawl/trawl.h"

#ifdef TRAWL_TEST_HOOKS
int (*idx_wlog_commit_hook)(void);
int idx_wlog_durable_waiters;
#endif

#define WLOG_FORMAT 1
#define REC_HEAD 16 /* kind, 0, idlen u16, doclen u32, version u64 */
#define REC_TAIL 8  /* XXH3-64 of everything before it */

_Static_assert(REC_HEAD + LIMIT_ID_BYTES + LIMIT_STORED_DOC_BYTES + REC_TAIL <=
                   LIMIT_WLOG_APPEND_BYTES,
               "one operation of the largest document fits an append");
_Static_assert(LIMIT_ID_BYTES <= 0xffff, "an id's length fits the record's u16");

struct idx_wlog {
	idx_store *st;
	char path[LIMIT_PATH_BYTES];
	pthread_mutex_t mu;
	pthread_cond_t cv;            /* a commit ended */
	int writing;                  /* a thread is writing a commit or a trim */
	idx_wlog_waiter *head, *tail; /* appends submitted, not yet being written */
	uint64_t next;                /* the number after the last written operation */
	uint64_t assigned;            /* the number the next submitted operation gets */
	uint64_t held;                /* bytes of the records written */
	uint64_t queued;              /* bytes of the appends submitted and not yet done */
	uint64_t max;                 /* the bound on held + queued */
	uint64_t failures;            /* commits that failed since open (idx_wlog_epoch) */
	unsigned trims_waiting;       /* trims waiting for the writer's turn: they go first */
	uint64_t *lost_from;          /* [e]: failure e + 1 lost the numbers from this one up */
	int lost_from_unknown;        /* a failure's number was not kept (no memory) */
	uint64_t commits, appends;
};

static void seq_key(uint8_t key[8], uint64_t seq)
{
	for (int i = 0; i < 8; i++)
		key[i] = (uint8_t)(seq >> (56 - 8 * i));
}

static uint64_t key_seq(const uint8_t key[8])
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | key[i];
	return v;
}

static size_t rec_bytes(const idx_wop *op)
{
	return REC_HEAD + op->idlen + (op->kind == IDX_WOP_INDEX ? op->doclen : 0) + REC_TAIL;
}

static void rec_write(uint8_t *p, const idx_wop *op)
{
	uint32_t doclen = op->kind == IDX_WOP_INDEX ? op->doclen : 0;
	p[0] = (uint8_t)op->kind;
	p[1] = 0;
	le_put16(p + 2, (uint16_t)op->idlen);
	le_put32(p + 4, doclen);
	le_put64(p + 8, op->version);
	memcpy(p + REC_HEAD, op->id, op->idlen);
	if (doclen)
		memcpy(p + REC_HEAD + op->idlen, op->doc, doclen);
	size_t body = REC_HEAD + op->idlen + doclen;
	le_put64(p + body, th_hash64(p, body));
}

/* rec_read decodes the record of sequence number seq (v, n bytes) into op
 * (pointing into v), checking its structure and checksum. */
static int rec_read(const char *path, uint64_t seq, const uint8_t *v, size_t n, idx_wop *op,
                    char *err, size_t errlen)
{
	if (n < REC_HEAD + 1 + REC_TAIL)
		return errf(err, errlen, TRAWL_ECORRUPT, "%s: operation %llu: %zu bytes, too short",
		            path, (unsigned long long)seq, n);
	uint32_t idlen = (uint32_t)v[2] | (uint32_t)v[3] << 8, doclen = le_get32(v + 4);
	if ((uint64_t)REC_HEAD + idlen + doclen + REC_TAIL != n)
		return errf(err, errlen, TRAWL_ECORRUPT,
		            "%s: operation %llu: lengths %u and %u do not add up to its %zu bytes",
		            path, (unsigned long long)seq, idlen, doclen, n);
	uint64_t want = le_get64(v + n - REC_TAIL), have = th_hash64(v, n - REC_TAIL);
	if (want != have)
		return errf(err, errlen, TRAWL_ECORRUPT,
		            "%s: operation %llu: checksum mismatch: expected xxh3-64 %016llx, "
		            "actual %016llx",
		            path, (unsigned long long)seq, (unsigned long long)want,
		            (unsigned long long)have);
	int kind = v[0];
	if ((kind != IDX_WOP_INDEX && kind != IDX_WOP_DELETE) || v[1] != 0 || idlen == 0 ||
	    idlen > LIMIT_ID_BYTES || (kind == IDX_WOP_DELETE) != (doclen == 0) ||
	    doclen > LIMIT_STORED_DOC_BYTES)
		return errf(err, errlen, TRAWL_ECORRUPT, "%s: operation %llu: malformed header",
		            path, (unsigned long long)seq);
	*op = (idx_wop){.kind = (idx_wop_kind)kind,
	                .id = (const char *)v + REC_HEAD,
	                .idlen = idlen,
	                .doc = doclen ? (const char *)v + REC_HEAD + idlen : NULL,
	                .doclen = doclen,
	                .version = le_get64(v + 8),
	                .seq = seq};
	return TRAWL_OK;
}

/* ---- opening ---- */

static int first_cb(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	(void)val;
	(void)vlen;
	*(uint64_t *)ctx = klen == 8 ? key_seq(key) : UINT64_MAX;
	return 1;
}

/* load reads the log's format and next sequence number, writing them in a
 * new log. */
static int load(idx_wlog *w, char *err, size_t errlen)
{
	idx_rtxn *t;
	int rc = idx_rtxn_begin(w->st, &t);
	if (rc)
		return errf(err, errlen, rc, "%s: cannot read", w->path);
	const void *v;
	size_t n;
	int have_format = idx_store_get(t, IDX_DB_META, "format", 6, &v, &n) == TRAWL_OK;
	int format_whole = have_format && n == 4;
	uint32_t format = format_whole ? le_get32(v) : 0;
	uint64_t next = 0, held = 0;
	if (idx_store_get(t, IDX_DB_META, "next", 4, &v, &n) == TRAWL_OK && n == 8)
		next = le_get64(v);
	if (idx_store_get(t, IDX_DB_META, "bytes", 5, &v, &n) == TRAWL_OK && n == 8)
		held = le_get64(v);
	const void *lk;
	size_t lklen;
	uint64_t last = 0;
	int has_ops = idx_store_last(t, IDX_DB_OPS, &lk, &lklen) == TRAWL_OK;
	if (has_ops)
		last = lklen == 8 ? key_seq(lk) : UINT64_MAX;
	idx_rtxn_end(t);
	if (!have_format) {
		if (has_ops || next)
			return errf(err, errlen, TRAWL_ECORRUPT,
			            "%s: operations without a format key", w->path);
		uint8_t f[4], nx[8], by[8];
		le_put32(f, WLOG_FORMAT);
		le_put64(nx, 1);
		le_put64(by, 0);
		if ((rc = idx_store_wbegin(w->st, err, errlen)))
			return rc;
		if ((rc = idx_store_put(w->st, IDX_DB_META, "format", 6, f, 4, 0)) == 0 &&
		    (rc = idx_store_put(w->st, IDX_DB_META, "next", 4, nx, 8, 0)) == 0)
			rc = idx_store_put(w->st, IDX_DB_META, "bytes", 5, by, 8, 0);
		if (rc) {
			idx_store_wabort(w->st);
			return errf(err, errlen, rc, "%s: cannot write its format", w->path);
		}
		if ((rc = idx_store_wcommit(w->st, err, errlen)))
			return rc;
		/* the new file's name must survive a power cut too */
		char dir[LIMIT_PATH_BYTES];
		snprintf(dir, sizeof dir, "%s", w->path);
		char *slash = strrchr(dir, '/');
		if (slash)
			*slash = 0;
		if ((rc = idx_fsync_path(slash ? (*dir ? dir : "/") : ".")))
			return errf(err, errlen, rc, "%s: cannot sync its directory", w->path);
		w->next = w->assigned = 1;
		return TRAWL_OK;
	}
	if (format != WLOG_FORMAT)
		return errf(err, errlen, format_whole ? TRAWL_EVERSION : TRAWL_ECORRUPT,
		            "%s: log format %u, this trawl reads %d", w->path, format, WLOG_FORMAT);
	if (last == UINT64_MAX || next == 0 || (has_ops && last >= next))
		return errf(err, errlen, TRAWL_ECORRUPT,
		            "%s: next sequence number %llu, last operation %llu", w->path,
		            (unsigned long long)next, (unsigned long long)last);
	w->next = w->assigned = next;
	w->held = held;
	return TRAWL_OK;
}

int idx_wlog_open(idx_wlog **out, const char *path, uint64_t max_bytes, char *err, size_t errlen)
{
	*out = NULL;
	if (!max_bytes)
		max_bytes = LIMIT_WLOG_BYTES;
	if (max_bytes < LIMIT_WLOG_MIN_BYTES)
		max_bytes = LIMIT_WLOG_MIN_BYTES;
	if (strlen(path) >= LIMIT_PATH_BYTES - 8)
		return errf(err, errlen, TRAWL_ELIMIT, "%s: path longer than %d bytes", path,
		            LIMIT_PATH_BYTES - 8);
	idx_wlog *w = calloc(1, sizeof *w);
	if (!w)
		return errf(err, errlen, TRAWL_ENOMEM, "%s: out of memory", path);
	snprintf(w->path, sizeof w->path, "%s", path);
	w->max = max_bytes;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	int rc = idx_store_open_log(
	    &w->st, path, (size_t)(2 * max_bytes + 2 * LIMIT_WLOG_APPEND_BYTES), err, errlen);
	if (rc == 0)
		rc = load(w, err, errlen);
	if (rc) {
		idx_wlog_close(w);
		return rc;
	}
	*out = w;
	return TRAWL_OK;
}

void idx_wlog_close(idx_wlog *w)
{
	if (!w)
		return;
	idx_store_close(w->st);
	free(w->lost_from);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

/* ---- appending ---- */

static int check_op(const idx_wop *op, uint32_t i, char *err, size_t errlen)
{
	if (op->kind != IDX_WOP_INDEX && op->kind != IDX_WOP_DELETE)
		return errf(err, errlen, TRAWL_EINVAL, "operation %u: unknown kind %d", i,
		            (int)op->kind);
	if (op->idlen == 0 || !op->id)
		return errf(err, errlen, TRAWL_EINVAL, "operation %u: empty id", i);
	if (op->idlen > LIMIT_ID_BYTES)
		return errf(err, errlen, TRAWL_ELIMIT, "operation %u: id of %u bytes, over %d", i,
		            op->idlen, LIMIT_ID_BYTES);
	if (op->kind == IDX_WOP_INDEX && (op->doclen == 0 || !op->doc))
		return errf(err, errlen, TRAWL_EINVAL, "operation %u: empty document", i);
	if (op->kind == IDX_WOP_INDEX && op->doclen > LIMIT_STORED_DOC_BYTES)
		return errf(err, errlen, TRAWL_ELIMIT,
		            "operation %u: document of %u bytes, over %u", i, op->doclen,
		            LIMIT_STORED_DOC_BYTES);
	return TRAWL_OK;
}

/* list_next_seq: the number after the last operation of list. */
static uint64_t list_next_seq(const idx_wlog_waiter *list)
{
	while (list->next)
		list = list->next;
	return list->ops[list->n - 1].seq + 1;
}

/* write_group writes the appends of list, in order, in one durable commit
 * (their numbers were given at submit), counting their bytes into *held.
 * Called by the writer, without w->mu. Returns the error (err set) or
 * TRAWL_OK. */
static int write_group(idx_wlog *w, idx_wlog_waiter *list, uint64_t *held, char *err, size_t errlen)
{
	uint64_t bytes = *held, next = 0;
	int rc = idx_store_wbegin(w->st, err, errlen);
	if (rc)
		return rc;
	for (idx_wlog_waiter *x = list; x && rc == 0; x = x->next) {
		bytes += x->bytes;
		for (uint32_t i = 0; i < x->n && rc == 0; i++) {
			uint8_t key[8];
			seq_key(key, x->ops[i].seq);
			void *v;
			size_t n = rec_bytes(&x->ops[i]);
			rc = idx_store_reserve(w->st, IDX_DB_OPS, key, 8, n, 1, &v);
			if (rc == 0)
				rec_write(v, &x->ops[i]);
			next = x->ops[i].seq + 1;
		}
	}
	uint8_t nx[8], by[8];
	le_put64(nx, next);
	le_put64(by, bytes);
	if (rc == 0 && (rc = idx_store_put(w->st, IDX_DB_META, "next", 4, nx, 8, 0)) == 0)
		rc = idx_store_put(w->st, IDX_DB_META, "bytes", 5, by, 8, 0);
#ifdef TRAWL_TEST_HOOKS
	if (rc == 0 && idx_wlog_commit_hook && idx_wlog_commit_hook())
		rc = TRAWL_ENOSPC;
#endif
	if (rc) {
		idx_store_wabort(w->st);
		return errf(err, errlen, rc, "%s: %s", w->path,
		            rc == TRAWL_ENOSPC ? "full (the disk, or LMDB's map)"
		                               : "cannot write an operation");
	}
	if ((rc = idx_store_wcommit(w->st, err, errlen)))
		return rc;
	*held = bytes;
	return TRAWL_OK;
}

uint64_t idx_wlog_epoch(idx_wlog *w)
{
	pthread_mutex_lock(&w->mu);
	uint64_t e = w->failures;
	pthread_mutex_unlock(&w->mu);
	return e;
}

int idx_wlog_submit(idx_wlog *w, idx_wop *ops, uint32_t n, idx_wlog_waiter *wt, char *err,
                    size_t errlen)
{
	return idx_wlog_submit_at(w, IDX_WLOG_ANY_EPOCH, ops, n, wt, err, errlen);
}

int idx_wlog_submit_at(idx_wlog *w, uint64_t epoch, idx_wop *ops, uint32_t n, idx_wlog_waiter *wt,
                       char *err, size_t errlen)
{
	if (n == 0)
		return errf(err, errlen, TRAWL_EINVAL, "no operations");
	if (n > LIMIT_WLOG_APPEND_OPS)
		return errf(err, errlen, TRAWL_ELIMIT, "%u operations in one append, over %d", n,
		            LIMIT_WLOG_APPEND_OPS);
	*wt = (idx_wlog_waiter){.ops = ops, .n = n, .err = err, .errlen = errlen};
	for (uint32_t i = 0; i < n; i++) {
		int rc = check_op(&ops[i], i, err, errlen);
		if (rc)
			return rc;
		wt->bytes += rec_bytes(&ops[i]);
	}
	if (wt->bytes > LIMIT_WLOG_APPEND_BYTES)
		return errf(err, errlen, TRAWL_ELIMIT,
		            "%zu bytes of operations in one append, over %u", wt->bytes,
		            LIMIT_WLOG_APPEND_BYTES);

	pthread_mutex_lock(&w->mu);
	if (epoch != IDX_WLOG_ANY_EPOCH && epoch != w->failures) {
		pthread_mutex_unlock(&w->mu);
		return errf(err, errlen, TRAWL_EBUSY,
		            "%s: a commit failed since epoch %llu: decide again", w->path,
		            (unsigned long long)epoch);
	}
	if (w->held + w->queued + wt->bytes > w->max) {
		uint64_t have = w->held + w->queued;
		pthread_mutex_unlock(&w->mu);
		return errf(err, errlen, TRAWL_ENOSPC,
		            "%s: full: it holds %llu bytes of operations (written or queued), "
		            "and %zu more would pass its bound of %llu",
		            w->path, (unsigned long long)have, wt->bytes,
		            (unsigned long long)w->max);
	}
	for (uint32_t i = 0; i < n; i++)
		ops[i].seq = w->assigned++;
	w->queued += wt->bytes;
	if (w->tail)
		w->tail->next = wt;
	else
		w->head = wt;
	w->tail = wt;
	pthread_mutex_unlock(&w->mu);
	return TRAWL_OK;
}

/* take_group takes the writer's group off the queue: appends in order, up
 * to LIMIT_WLOG_APPEND_BYTES of them (at least one). Called with w->mu
 * held. */
static idx_wlog_waiter *take_group(idx_wlog *w)
{
	idx_wlog_waiter *list = w->head, *last = list;
	size_t bytes = list->bytes;
	while (last->next && bytes + last->next->bytes <= LIMIT_WLOG_APPEND_BYTES) {
		last = last->next;
		bytes += last->bytes;
	}
	w->head = last->next;
	if (!w->head)
		w->tail = NULL;
	last->next = NULL;
	return list;
}

/* finish_group marks the appends of list done with rc (err for each, when
 * it failed). Called with w->mu held. */
static void finish_group(idx_wlog *w, idx_wlog_waiter *list, int rc, const char *err)
{
	for (idx_wlog_waiter *x = list; x;) {
		idx_wlog_waiter *next = x->next; /* x may be gone once done and w->mu free */
		x->rc = rc;
		if (rc)
			errf(x->err, x->errlen, rc, "%s", err);
		else
			w->appends++;
		w->queued -= x->bytes;
		x->next = NULL;
		x->done = 1;
		x = next;
	}
}

int idx_wlog_wait(idx_wlog *w, idx_wlog_waiter *wt)
{
	pthread_mutex_lock(&w->mu);
	while (!wt->done) {
		if (w->writing || !w->head || w->trims_waiting) {
			pthread_cond_wait(&w->cv, &w->mu);
			continue;
		}
		/* the writer's turn */
		idx_wlog_waiter *list = take_group(w);
		w->writing = 1;
		uint64_t held = w->held;
		pthread_mutex_unlock(&w->mu);

		char gerr[LIMIT_ERRMSG_BYTES] = "";
		int rc = write_group(w, list, &held, gerr, sizeof gerr);

		pthread_mutex_lock(&w->mu);
		if (rc == 0) {
			w->next = list_next_seq(list);
			w->held = held;
			w->commits++;
			finish_group(w, list, TRAWL_OK, NULL);
		} else {
			/* every append queued after it was numbered after it (and may
			 * have been decided on top of it): they fail too, and the
			 * numbers go back to the first of the failed */
			char cerr[LIMIT_ERRMSG_BYTES];
			errf(cerr, sizeof cerr, rc, "an earlier append failed: %s", gerr);
			uint64_t *lf = realloc(w->lost_from, (w->failures + 1) * sizeof *lf);
			if (lf) {
				w->lost_from = lf;
				lf[w->failures] = list->ops[0].seq;
			} else {
				w->lost_from_unknown =
				    1; /* waiters then take every number as lost */
			}
			w->assigned = list->ops[0].seq;
			w->failures++;
			finish_group(w, list, rc, gerr);
			idx_wlog_waiter *rest = w->head;
			w->head = w->tail = NULL;
			finish_group(w, rest, rc, cerr);
		}
		w->writing = 0;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return wt->rc;
}

int idx_wlog_append(idx_wlog *w, idx_wop *ops, uint32_t n, char *err, size_t errlen)
{
	idx_wlog_waiter wt;
	int rc = idx_wlog_submit(w, ops, n, &wt, err, errlen);
	return rc ? rc : idx_wlog_wait(w, &wt);
}

int idx_wlog_wait_durable(idx_wlog *w, uint64_t seq, uint64_t epoch)
{
	pthread_mutex_lock(&w->mu);
	int rc;
	for (;;) {
		if (w->failures > epoch) {
			/* every number queued at the first failure since was lost, and
			 * only those: the ones below it had been written */
			int lost = w->lost_from_unknown || seq >= w->lost_from[epoch];
			rc = lost ? TRAWL_EIO : TRAWL_OK;
			break;
		}
		if (w->next > seq) {
			rc = TRAWL_OK;
			break;
		}
#ifdef TRAWL_TEST_HOOKS
		__atomic_add_fetch(&idx_wlog_durable_waiters, 1, __ATOMIC_SEQ_CST);
#endif
		pthread_cond_wait(&w->cv, &w->mu);
#ifdef TRAWL_TEST_HOOKS
		__atomic_sub_fetch(&idx_wlog_durable_waiters, 1, __ATOMIC_SEQ_CST);
#endif
	}
	pthread_mutex_unlock(&w->mu);
	return rc;
}

/* ---- reading and trimming ---- */

typedef struct read_ctx {
	idx_wlog *w;
	uint32_t max_ops, given;
	size_t max_bytes, bytes;
	idx_wlog_cb cb;
	void *ctx;
	int rc;      /* a record's error */
	int user;    /* cb's nonzero value */
	int stopped; /* a bound was reached */
	char *err;
	size_t errlen;
} read_ctx;

static int read_one(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	read_ctx *r = arg;
	if (r->given >= r->max_ops || (r->given && r->bytes >= r->max_bytes))
		return r->stopped = 1;
	if (klen != 8) {
		r->rc = errf(r->err, r->errlen, TRAWL_ECORRUPT, "%s: a key of %zu bytes in ops",
		             r->w->path, klen);
		return 1;
	}
	idx_wop op;
	if ((r->rc = rec_read(r->w->path, key_seq(key), val, vlen, &op, r->err, r->errlen)))
		return 1;
	r->given++;
	r->bytes += op.doclen;
	return r->user = r->cb(r->ctx, &op);
}

int idx_wlog_read(idx_wlog *w, uint64_t from, uint32_t max_ops, size_t max_bytes, idx_wlog_cb cb,
                  void *ctx, char *err, size_t errlen)
{
	idx_rtxn *t;
	int rc = idx_rtxn_begin(w->st, &t);
	if (rc)
		return errf(err, errlen, rc, "%s: cannot read", w->path);
	uint8_t key[8];
	seq_key(key, from);
	read_ctx r = {.w = w,
	              .max_ops = max_ops,
	              .max_bytes = max_bytes,
	              .cb = cb,
	              .ctx = ctx,
	              .err = err,
	              .errlen = errlen};
	rc = idx_store_scan_from(t, IDX_DB_OPS, key, 8, read_one, &r);
	idx_rtxn_end(t);
	if (r.rc)
		return r.rc;
	if (r.user)
		return r.user;
	if (rc && !r.stopped)
		return errf(err, errlen, rc, "%s: cannot read", w->path);
	return TRAWL_OK;
}

/* Records a trim deletes per transaction: between two, appends get their
 * turn (a trim of a long backlog does not stall writers for all of it). */
#define TRIM_CHUNK 16384

int idx_wlog_trim(idx_wlog *w, uint64_t upto, char *err, size_t errlen)
{
	uint8_t key[8], by[8];
	seq_key(key, upto);
	int rc = TRAWL_OK;
	for (int chunk = 0;; chunk++) {
		/* the writer's turn, ahead of appenders: they let a waiting trim
		 * go first, so a steady stream of appends cannot starve it; and
		 * between two chunks, appends queued meanwhile get a commit first
		 * (else the trim, relocking at once, could keep the turn) */
		pthread_mutex_lock(&w->mu);
		uint64_t c0 = w->commits, f0 = w->failures;
		while (chunk && w->head && w->commits == c0 && w->failures == f0)
			pthread_cond_wait(&w->cv, &w->mu);
		w->trims_waiting++;
		while (w->writing)
			pthread_cond_wait(&w->cv, &w->mu);
		w->trims_waiting--;
		w->writing = 1;
		uint64_t held = w->held; /* only the writer changes it */
		pthread_mutex_unlock(&w->mu);

		uint64_t gone = 0, bytes = 0;
		if ((rc = idx_store_wbegin(w->st, err, errlen)) == 0) {
			rc = idx_store_del_upto(w->st, IDX_DB_OPS, key, 8, TRIM_CHUNK, &gone,
			                        &bytes);
			held = bytes <= held ? held - bytes : 0;
			le_put64(by, held);
			if (rc == 0)
				rc = idx_store_put(w->st, IDX_DB_META, "bytes", 5, by, 8, 0);
			if (rc) {
				idx_store_wabort(w->st);
				errf(err, errlen, rc, "%s: cannot drop operations up to %llu",
				     w->path, (unsigned long long)upto);
			} else {
				rc = idx_store_wcommit(w->st, err, errlen);
			}
		}

		pthread_mutex_lock(&w->mu);
		if (rc == 0)
			w->held = held;
		w->writing = 0;
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
		if (rc || gone < TRIM_CHUNK)
			return rc;
	}
}

void idx_wlog_stat(idx_wlog *w, idx_wlog_info *out)
{
	*out = (idx_wlog_info){0};
	pthread_mutex_lock(&w->mu);
	out->next = w->next;
	out->bytes = w->held;
	out->commits = w->commits;
	out->appends = w->appends;
	pthread_mutex_unlock(&w->mu);
	out->first = out->next;
	idx_rtxn *t;
	if (idx_rtxn_begin(w->st, &t) != TRAWL_OK)
		return;
	uint8_t zero[8] = {0};
	uint64_t first = out->next;
	if (idx_store_scan_from(t, IDX_DB_OPS, zero, 8, first_cb, &first) == 1 &&
	    first != UINT64_MAX)
		out->first = first;
	out->ops = idx_store_entries(t, IDX_DB_OPS);
	idx_rtxn_end(t);
}
