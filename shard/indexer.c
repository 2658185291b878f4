/*
 * indexer.c - trawl_indexer_* (include/trawl/trawl.h), one index's
 * indexer (issue #12, plan item 5 in docs/ARCHITECTURE.md): the ingest
 * and its log in front (index/ingest.h, index/wlog.h), a thread behind
 * that turns what the log holds into generations (sh_apply, shard/update.c).
 * It never decides anything itself: the ingest did, before the log. A
 * restarted indexer resumes after the live generation's applied_seq: the
 * log still holds every operation after it, since a trim comes only after
 * the publish that holds them. The thread's loop: wait until
 * operations are pending and the refresh interval has passed since the
 * last generation (or enough are pending, or a refresh was asked for);
 * read them from the log; sh_apply; reopen the live generation that the
 * ingest asks about; tell the ingest; trim the log; hand the generation to
 * the caller (published); wake the refreshes waiting for it. A failed
 * apply leaves everything in the log and is tried again after the
 * interval; a refresh waiting for it gets the error. When the writes not
 * yet applied pass a bound (trawl_indexer_opts.backlog_*), new writes are
 * refused (TRAWL_EBUSY, HTTP 429) until the indexer catches up, rather
 * than the log growing until it is full.
 */

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>
#include <sys/statvfs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/hash.h"
#include "common/limits.h"
#include "index/gen.h"
#include "index/handles.h"
#include "index/index_int.h"
#include "index/ingest.h"
#include "index/wlog.h"
#include "shard/sh.h"
#include "trawl/trawl.h"

struct trawl_indexer {
	char dir[LIMIT_PATH_BYTES];
	trawl_indexer_opts cfg;
	idx_schema schema; /* the live generation's: documents are checked with it */
	size_t max_doc;
	idx_wlog *log;
	idx_ingest *ing;
	/* the live generation the ingest asks about (live_fn) */
	pthread_mutex_t live_mu;
	trawl_index *live;
	trawl_searcher *ls;
	/* the thread, and what it shares (mu) */
	pthread_t th;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t work; /* operations logged, a refresh asked for, or stop */
	pthread_cond_t done; /* a generation published, or an apply failed */
	int stop;
	int now;          /* make a generation at once */
	uint64_t applied; /* the last operation the live generation holds */
	uint64_t generation;
	uint64_t failures; /* applies that failed (a waiter sees one pass) */
	int last_rc;       /* the last apply's */
	char last_err[LIMIT_ERRMSG_BYTES];
	uint64_t generations, ops_applied;
	double apply_s, last_apply_s;
	/* merging: a compaction asked for (compact), its outcome; counters */
	int compact, compact_rc;
	uint64_t compacts_done;
	char compact_err[LIMIT_ERRMSG_BYTES];
	uint64_t merges, merged_docs, merged_bytes;
	double merge_s;
	int merge_failed;    /* the last merge failed: not again until a write */
	uint32_t merge_from; /* the shard merge_next looks at first */
	uint64_t writes;
	uint64_t docs, added, replaced, deleted, segments_written;
	char why_not[LIMIT_ERRMSG_BYTES]; /* why no document may be replaced or
	                                     deleted ("": they may) */
	uint64_t oldest_ms;               /* the oldest write not yet in a generation (0: none) */
	uint64_t refresh_le[8], refresh_count;
	double refresh_sum;
	uint64_t backlog_ops, backlog_bytes; /* writes are refused past them (429) */
	uint64_t rejected;                   /* writes refused for the backlog */
	uint64_t flooded;                    /* writes refused for the disk's flood stage */
	/* where live_fn found each id written (live_mu): the apply step asks
	 * here before it searches the live generation again (memo_*) */
	struct locent **memo;
	size_t memo_cap, memo_n;
};

static void say(trawl_indexer *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(trawl_indexer *x, const char *fmt, ...)
{
	char msg[LIMIT_ERRMSG_BYTES + 256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (x->cfg.log)
		x->cfg.log(x->cfg.ctx, msg);
	else
		fprintf(stderr, "trawl indexer: %s\n", msg);
}

/* ---- ids located once ----
 *
 * A write is decided on the live generation (live_fn: idx_locate, for the
 * version it replaces); its operation is applied a refresh later, when the
 * apply step must find the same id's live document to delete it. The
 * answers live_fn found are kept here (under live_mu) and the apply step's
 * locate takes them, so an id is searched in the segments once. An entry
 * is idx_locate's answer on x->ls, and stays true while it is:
 * - when this indexer publishes a generation of writes and opens it, the
 *   entries of the batch's ids go (they were added or deleted), and every
 *   "found" entry goes (a segment may have left the list, renumbering the
 *   others); an "absent" entry of another id stays true: no operation of
 *   it was in the batch, since live_fn is asked only for an id the ingest
 *   holds no unpublished operation of (its map holds every one, and forgets
 *   them only after the publish's reopen);
 * - a merge's generation moves documents but adds no id: the "found"
 *   entries go, the "absent" ones stay;
 * - a generation another process published, or one this indexer could
 *   not open: all go.
 * A realtime read (reading) records nothing, and at most twice a batch's
 * operations are kept (past that, all go: a miss only costs a search). */

typedef struct locent {
	struct locent *next;
	uint64_t hash;
	uint32_t shard, seg, doc; /* shard UINT32_MAX: absent */
	uint32_t idlen;
	char id[];
} locent;

static locent **memo_slot(trawl_indexer *x, const char *id, uint32_t idlen, uint64_t h)
{
	locent **p = &x->memo[h & (x->memo_cap - 1)];
	while (*p && !((*p)->hash == h && (*p)->idlen == idlen && !memcmp((*p)->id, id, idlen)))
		p = &(*p)->next;
	return p;
}

/* Drops the entries for which drop(e, ctx) says so (all: drop NULL). */
static void memo_drop(trawl_indexer *x, int (*drop)(const locent *e, void *ctx), void *ctx)
{
	for (size_t i = 0; i < x->memo_cap; i++)
		for (locent **p = &x->memo[i]; *p;) {
			locent *e = *p;
			if (drop && !drop(e, ctx)) {
				p = &e->next;
				continue;
			}
			*p = e->next;
			free(e);
			x->memo_n--;
		}
}

/* Records idx_locate's answer for id (shard UINT32_MAX: absent). live_mu held. */
static void memo_put(trawl_indexer *x, const char *id, uint32_t idlen, uint32_t shard, uint32_t seg,
                     uint32_t doc)
{
	if (x->memo_n >= 2 * (size_t)LIMIT_INDEXER_BATCH_OPS)
		memo_drop(x, NULL, NULL);
	if (!x->memo) {
		if (!(x->memo = calloc(4096, sizeof *x->memo)))
			return; /* no memo: the apply step searches */
		x->memo_cap = 4096;
	}
	if (x->memo_n >= x->memo_cap) {
		size_t cap = x->memo_cap * 2;
		locent **t = calloc(cap, sizeof *t);
		if (!t)
			return;
		for (size_t i = 0; i < x->memo_cap; i++)
			for (locent *e = x->memo[i], *next; e; e = next) {
				next = e->next;
				e->next = t[e->hash & (cap - 1)];
				t[e->hash & (cap - 1)] = e;
			}
		free(x->memo);
		x->memo = t;
		x->memo_cap = cap;
	}
	uint64_t h = th_hash64(id, idlen);
	locent **p = memo_slot(x, id, idlen, h), *e = *p;
	if (!e) {
		if (!(e = malloc(sizeof *e + idlen)))
			return;
		e->next = NULL;
		e->hash = h;
		e->idlen = idlen;
		memcpy(e->id, id, idlen);
		*p = e;
		x->memo_n++;
	}
	e->shard = shard;
	e->seg = seg;
	e->doc = doc;
}

static int drop_found(const locent *e, void *ctx)
{
	(void)ctx;
	return e->shard != UINT32_MAX;
}

/* The batch's ids go, and every "found" entry (a generation of this
 * indexer's writes is going live). live_mu held. */
static void memo_published(trawl_indexer *x, const idx_wop *ops, uint32_t n)
{
	if (!x->memo_n)
		return;
	for (uint32_t i = 0; i < n; i++) {
		locent **p =
		    memo_slot(x, ops[i].id, ops[i].idlen, th_hash64(ops[i].id, ops[i].idlen));
		locent *e = *p;
		if (e) {
			*p = e->next;
			free(e);
			x->memo_n--;
		}
	}
	memo_drop(x, drop_found, NULL);
}

/* ---- the live generation, as the ingest sees it ---- */

/* Opens dir's live generation as x's (live_mu held, or before the thread
 * starts); the previous one is closed once the new one is open. */
static int open_live(trawl_indexer *x, char *err, size_t errlen)
{
	trawl_index *idx;
	trawl_searcher *s;
	trawl_open_opts o = {0};
	o.reuse = x->live; /* what it shares with the last generation is checked */
	int rc = trawl_index_open_with(&idx, x->dir, &o, err, errlen);
	if (rc)
		return rc;
	if ((rc = trawl_searcher_open(&s, idx))) {
		trawl_index_close(idx);
		return errf(err, errlen, rc, "%s: %s", x->dir, trawl_strerror(rc));
	}
	trawl_searcher_close(x->ls);
	trawl_index_close(x->live);
	x->live = idx;
	x->ls = s;
	return TRAWL_OK;
}

/* Set while this thread asks for a realtime read (trawl_indexer_get): a
 * read is never refused for what a write could not do. */
static _Thread_local int reading;

/* idx_wlive_fn: what the live generation holds for id, with the version
 * and sequence number its segment keeps (0 and 1 for a build's).
 * The indexer reads its live generation through maps that no leaf's guard
 * protects: before it reads a shard (here, and in the apply's and a
 * merge's reads), its segment files must still have their sizes, or the
 * read fails naming the file (idx_shard_intact) instead of a SIGBUS. */
static int live_fn(void *ctx, const char *id, uint32_t idlen, idx_wlive *out, char *err,
                   size_t errlen)
{
	trawl_indexer *x = ctx;
	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&x->live_mu);
	uint32_t shard, seg, doc;
	int rc =
	    idx_shard_intact(x->live, th_shard_of(id, idlen, x->live->total_shards), err, errlen);
	if (rc) {
		pthread_mutex_unlock(&x->live_mu);
		return rc;
	}
	rc = idx_locate(x->ls, id, idlen, &shard, &seg, &doc);
	if ((rc == TRAWL_OK || rc == TRAWL_ENOTFOUND) && !reading)
		memo_put(x, id, idlen, rc ? UINT32_MAX : shard, seg, doc);
	if (rc == TRAWL_OK && x->why_not[0] && !reading)
		/* the write fails here, before it is logged, not in the apply step */
		rc = errf(err, errlen, TRAWL_ESCHEMA, "%s", x->why_not);
	else if (rc == TRAWL_OK)
		rc = idx_seg_version(x->ls, shard, seg, doc, &out->seq_no, &out->version);
	if (rc == TRAWL_OK) {
		out->exists = 1;
		rc = idx_seg_doc(x->ls, shard, seg, doc, &out->doc, &out->doclen);
		if (rc == TRAWL_ENOTFOUND)
			rc = TRAWL_OK; /* the index stores no documents: known to exist only */
		else if (rc)
			errf(err, errlen, rc, "%s: document \"%.*s\": %s", x->dir, (int)idlen, id,
			     trawl_strerror(rc));
	} else if (rc == TRAWL_ENOTFOUND) {
		rc = TRAWL_OK;
	}
	pthread_mutex_unlock(&x->live_mu);
	return rc;
}

/* idx_wcheck_fn: the build's own parse of the document. */
static int check_fn(void *ctx, const char *id, uint32_t idlen, const char *doc, size_t len,
                    char *err, size_t errlen)
{
	trawl_indexer *x = ctx;
	return sh_check_doc(&x->schema, x->max_doc, doc, len, id, idlen, err, errlen);
}

/* ---- applying ---- */

/* The operations read for one generation: copies, since the log's bytes
 * live only during its callback. */
typedef struct batch {
	idx_wop *ops;
	uint32_t n, cap;
	tbuf bytes;
	size_t *idoff, *docoff; /* where each op's id and document are in bytes */
} batch;

/* grows *p to nc elements of size sz: 0 or TRAWL_ENOMEM (*p kept) */
static int grow(void *p, uint32_t nc, size_t sz)
{
	void *q = realloc(*(void **)p, (size_t)nc * sz);
	if (!q)
		return TRAWL_ENOMEM;
	*(void **)p = q;
	return TRAWL_OK;
}

static int take_op(void *ctx, const idx_wop *op)
{
	batch *b = ctx;
	if (b->n == b->cap) {
		uint32_t nc = b->cap ? 2 * b->cap : 1024;
		if (grow(&b->ops, nc, sizeof *b->ops) || grow(&b->idoff, nc, sizeof *b->idoff) ||
		    grow(&b->docoff, nc, sizeof *b->docoff))
			return TRAWL_ENOMEM;
		b->cap = nc;
	}
	b->idoff[b->n] = b->bytes.len;
	int rc = tbuf_append(&b->bytes, op->id, op->idlen);
	b->docoff[b->n] = b->bytes.len;
	if (!rc && op->doclen)
		rc = tbuf_append(&b->bytes, op->doc, op->doclen);
	if (rc)
		return rc;
	b->ops[b->n++] = *op;
	return TRAWL_OK;
}

static void batch_fini(batch *b)
{
	free(b->ops);
	free(b->idoff);
	free(b->docoff);
	tbuf_fini(&b->bytes);
}

/* sh_apply_hooks over the live generation the indexer holds open (the
 * thread's own calls: live_mu is taken for the ingest's beside them). */
static int hook_locate(void *ctx, const char *id, uint32_t idlen, uint32_t *shard, uint32_t *seg,
                       uint32_t *doc)
{
	trawl_indexer *x = ctx;
	char err[LIMIT_ERRMSG_BYTES] = "";
	pthread_mutex_lock(&x->live_mu);
	int rc = idx_shard_intact(x->live, th_shard_of(id, idlen, x->live->total_shards), err,
	                          sizeof err);
	locent *e = rc || !x->memo_n ? NULL : *memo_slot(x, id, idlen, th_hash64(id, idlen));
	if (rc) {
		; /* the shard's files are not whole: nothing is read */
	} else if (e && e->shard == UINT32_MAX) {
		rc = TRAWL_ENOTFOUND;
	} else if (e) {
		*shard = e->shard;
		*seg = e->seg;
		*doc = e->doc;
		rc = TRAWL_OK;
	} else {
		rc = idx_locate(x->ls, id, idlen, shard, seg, doc);
	}
	pthread_mutex_unlock(&x->live_mu);
	if (err[0])
		say(x, "%s", err);
	return rc;
}

static int hook_source(void *ctx, uint32_t shard, uint32_t seg, uint32_t doc, char **out,
                       size_t *len)
{
	trawl_indexer *x = ctx;
	char err[LIMIT_ERRMSG_BYTES] = "";
	pthread_mutex_lock(&x->live_mu);
	int rc = idx_shard_intact(x->live, shard, err, sizeof err);
	if (!rc)
		rc = idx_seg_doc(x->ls, shard, seg, doc, out, len);
	pthread_mutex_unlock(&x->live_mu);
	if (err[0])
		say(x, "%s", err);
	return rc;
}

/* One generation of what the log holds after x->applied (the thread's;
 * mu not held). *made: a generation was published. */
static int apply_once(trawl_indexer *x, int *made, char *err, size_t errlen)
{
	*made = 0;
	batch b = {0};
	tbuf_init(&b.bytes, LIMIT_INDEXER_BATCH_BYTES + LIMIT_STORED_DOC_BYTES);
	pthread_mutex_lock(&x->mu);
	uint64_t from = x->applied + 1, oldest = x->oldest_ms;
	x->oldest_ms = 0; /* writes from now on wait for the next generation */
	pthread_mutex_unlock(&x->mu);
	int rc = idx_wlog_read(x->log, from, x->cfg.batch_ops, LIMIT_INDEXER_BATCH_BYTES, take_op,
	                       &b, err, errlen);
	if (rc == TRAWL_ENOMEM)
		rc = errf(err, errlen, rc, "out of memory reading the write log");
	if (rc || b.n == 0) {
		batch_fini(&b);
		pthread_mutex_lock(&x->mu);
		if (oldest && (!x->oldest_ms || oldest < x->oldest_ms))
			x->oldest_ms = oldest;
		pthread_mutex_unlock(&x->mu);
		return rc;
	}
	for (uint32_t i = 0; i < b.n; i++) {
		b.ops[i].id = (const char *)b.bytes.data + b.idoff[i];
		b.ops[i].doc = b.ops[i].doclen ? (const char *)b.bytes.data + b.docoff[i] : NULL;
	}
	uint64_t last = b.ops[b.n - 1].seq;
	sh_apply_report rep;
	double t0 = clock_mono_s();
	pthread_mutex_lock(&x->live_mu);
	trawl_index_stats lst;
	trawl_index_get_stats(x->live, &lst);
	pthread_mutex_unlock(&x->live_mu);
	sh_apply_hooks hooks = {hook_locate, hook_source, NULL, x, lst.generation};
	rc = sh_apply_with(x->dir, b.ops, b.n, last, &hooks, &rep, err, errlen);
	if (rc == TRAWL_EBUSY) {
		/* another process published: look at its generation, then again */
		pthread_mutex_lock(&x->live_mu);
		char oerr[LIMIT_ERRMSG_BYTES];
		memo_drop(x, NULL, NULL);
		if (open_live(x, oerr, sizeof oerr) == TRAWL_OK) {
			trawl_index_get_stats(x->live, &lst);
			hooks.generation = lst.generation;
		}
		pthread_mutex_unlock(&x->live_mu);
		rc = sh_apply_with(x->dir, b.ops, b.n, last, &hooks, &rep, err, errlen);
	}
	double took = clock_mono_s() - t0;
	uint32_t n = b.n;
	if (rc) {
		batch_fini(&b);
		pthread_mutex_lock(&x->mu);
		if (oldest && (!x->oldest_ms || oldest < x->oldest_ms))
			x->oldest_ms = oldest;
		pthread_mutex_unlock(&x->mu);
		return rc;
	}
	*made = 1;
	/* the ingest asks the new generation before it forgets the operations
	 * it holds (until then its map answers for them, and agrees) */
	pthread_mutex_lock(&x->live_mu);
	char oerr[LIMIT_ERRMSG_BYTES];
	memo_published(x, b.ops, b.n);
	int orc = open_live(x, oerr, sizeof oerr);
	if (orc)
		memo_drop(x, NULL, NULL);
	pthread_mutex_unlock(&x->live_mu);
	batch_fini(&b);
	if (orc) {
		/* published, but not readable here: the ingest keeps its map (it
		 * still answers for these operations) and the log keeps them */
		say(x, "generation %llu published but not opened: %s",
		    (unsigned long long)rep.generation, oerr);
		pthread_mutex_lock(&x->mu);
		x->generation = rep.generation;
		pthread_mutex_unlock(&x->mu);
		return errf(err, errlen, orc, "%s", oerr);
	}
	idx_ingest_published(x->ing, last);
	if ((rc = idx_wlog_trim(x->log, last, err, errlen)))
		say(x, "the write log was not trimmed (tried again after the next generation): %s",
		    err); /* the next trim covers these too */
	if (x->cfg.published)
		x->cfg.published(x->cfg.ctx, rep.generation);
	idx_gen_prune(x->dir, rep.generation, LIMIT_KEEP_GENERATIONS);
	pthread_mutex_lock(&x->mu);
	x->applied = last;
	x->generation = rep.generation;
	x->generations++;
	x->ops_applied += n;
	x->apply_s += took;
	x->last_apply_s = took;
	x->docs = rep.docs;
	x->added += rep.added;
	x->replaced += rep.replaced;
	x->deleted += rep.deleted;
	x->segments_written += rep.segments;
	if (oldest) {
		static const double le[8] = TRAWL_REFRESH_BUCKETS;
		double wait = (double)(clock_mono_ms() - oldest) / 1000.0;
		for (int i = 0; i < 8; i++)
			x->refresh_le[i] += wait <= le[i];
		x->refresh_count++;
		x->refresh_sum += wait;
	}
	pthread_mutex_unlock(&x->mu);
	if (!x->cfg.quiet)
		say(x,
		    "generation %llu: %u operations up to %llu (%llu added, %llu deleted), %llu "
		    "documents, %.3f s",
		    (unsigned long long)rep.generation, n, (unsigned long long)last,
		    (unsigned long long)rep.added, (unsigned long long)rep.deleted,
		    (unsigned long long)rep.docs, took);
	return TRAWL_OK;
}

/* ---- merging: the tiered policy (docs/ARCHITECTURE.md, item 6) ---- */

typedef struct mseg {
	uint32_t j;    /* the segment's place in its shard's list */
	uint64_t live; /* its live documents */
} mseg;

static int cmp_live(const void *a, const void *b)
{
	const mseg *x = a, *y = b;
	return (x->live > y->live) - (x->live < y->live);
}

/*
 * The segments of shard no to merge now, into out (places in the shard's
 * list); their number, 0 for none. A shard with more than
 * LIMIT_MERGE_AT_SEGMENTS merges its smallest, up to LIMIT_MERGE_FACTOR of
 * them and LIMIT_MERGE_DOCS documents: segments of one size gather until
 * they make one of the next size, so a document is written again about
 * log(index / batch) times (Lucene's tiered policy, by count). A segment a
 * third of whose documents are deleted is written again alone (its dead
 * documents cost every search). A compaction (all) merges every segment
 * of the shard, when it has more than one or any deletes. live_mu held.
 */
static uint32_t merge_plan(trawl_indexer *x, uint32_t no, int all, uint32_t *out)
{
	const trawl_index *idx = x->live;
	int32_t first = idx->local[no];
	uint32_t n = first < 0 ? 0 : idx->nseg_of[no], k = 0;
	mseg v[LIMIT_SEGMENTS];
	int deleted = 0;
	for (uint32_t j = 0; j < n; j++) {
		const idx_seg *g = &idx->segs[first + (int32_t)j];
		v[j] = (mseg){j, (uint64_t)g->ndocs - g->del.count};
		deleted |= g->del.count > 0;
	}
	uint64_t live = 0;
	for (uint32_t j = 0; j < n; j++)
		live += v[j].live;
	if (!live)
		return 0; /* every document deleted: nothing to write again (the
		             apply step keeps the shard's last segment) */
	if (all) {
		for (uint32_t j = 0; (n > 1 || deleted) && j < n; j++)
			out[k++] = j;
		return k;
	}
	qsort(v, n, sizeof *v, cmp_live);
	uint64_t sum = 0;
	if (n > LIMIT_MERGE_AT_SEGMENTS) {
		for (uint32_t i = 0; i < n && k < LIMIT_MERGE_FACTOR; i++) {
			if (k >= 2 && sum + v[i].live > LIMIT_MERGE_DOCS)
				break;
			out[k++] = v[i].j;
			sum += v[i].live;
		}
		if (k >= 2)
			return k;
	}
	for (uint32_t i = 0; i < n; i++) {
		const idx_seg *g = &idx->segs[first + (int32_t)v[i].j];
		if (g->del.count && (uint64_t)g->del.count * 3 >= g->ndocs && v[i].live &&
		    v[i].live <= LIMIT_MERGE_DOCS) {
			out[0] = v[i].j;
			return 1;
		}
	}
	return 0;
}

/* A shard's merge the policy (or a compaction) wants now: its number in
 * *no, the segments in out; 0 for none. live_mu held. */
static uint32_t merge_next(trawl_indexer *x, int all, uint32_t *no, uint32_t *out)
{
	trawl_index_stats st;
	trawl_index_get_stats(x->live, &st);
	for (uint32_t i = 0; i < st.shards; i++) {
		/* from the shard after the last one merged: none starves */
		uint32_t s = (x->merge_from + i) % st.shards;
		uint32_t n = merge_plan(x, s, all, out);
		if (n) {
			*no = s;
			x->merge_from = s + 1;
			return n;
		}
	}
	return 0;
}

/* Writes the live documents of segments segs[0..n) of shard no again, as
 * they are, into one new segment: a generation of its own (sh_apply with
 * the merge hook), which holds the same documents, versions and
 * statistics as the one before. The thread's; mu not held. */
static int merge_once(trawl_indexer *x, uint32_t no, const uint32_t *segs, uint32_t n, int all,
                      char *err, size_t errlen)
{
	batch b = {0};
	tbuf_init(&b.bytes, LIMIT_INDEXER_BATCH_BYTES + LIMIT_STORED_DOC_BYTES);
	int rc = TRAWL_OK;
	double t0 = clock_mono_s();
	/* the sources are read through a searcher of the merge's own, without
	 * live_mu: only this thread replaces x->live, and the ingest's
	 * decisions (live_fn, under live_mu) go on meanwhile */
	trawl_index_stats lst;
	trawl_index_get_stats(x->live, &lst);
	trawl_searcher *ms = NULL;
	for (uint32_t s = 0; !rc && s < x->live->total_shards; s++)
		rc = idx_shard_intact(x->live, s, err, errlen); /* a searcher opens every one */
	if (rc || (rc = idx_searcher_open(&ms, x->live, err, errlen))) {
		batch_fini(&b);
		return rc;
	}
	for (uint32_t i = 0; i < n && !rc; i++) {
		int32_t li = x->live->local[no] + (int32_t)segs[i];
		const idx_sview *v = &ms->views[li];
		for (uint32_t d = 0; d < v->ndocs && !rc; d++) {
			if (v->deleted && idx_bit(v->deleted, d))
				continue;
			idx_wop op = {IDX_WOP_INDEX, NULL, 0, NULL, 0, 1, 0};
			char *doc = NULL;
			size_t len = 0;
			op.id = (const char *)idx_view_extid(v, d, &op.idlen);
			if (!op.id)
				rc = errf(err, errlen, TRAWL_ECORRUPT, "%s: document ids damaged",
				          x->live->segs[li].path);
			else if ((rc = idx_seg_version(ms, no, segs[i], d, &op.seq, &op.version)) ||
			         (rc = idx_seg_doc(ms, no, segs[i], d, &doc, &len)))
				errf(err, errlen, rc,
				     "%s: document %u cannot be read for a merge (%s): merging "
				     "needs "
				     "stored documents",
				     x->live->segs[li].path, d, trawl_strerror(rc));
			else if (len > UINT32_MAX)
				rc = errf(err, errlen, TRAWL_ELIMIT, "%s: document %u is too large",
				          x->live->segs[li].path, d);
			else {
				op.doc = doc;
				op.doclen = (uint32_t)len;
				if ((rc = take_op(&b, &op)))
					errf(err, errlen, rc,
					     "the segments to merge hold more than %u MiB of "
					     "documents",
					     LIMIT_INDEXER_BATCH_BYTES >> 20);
			}
			free(doc);
		}
	}
	trawl_searcher_close(ms);
	for (uint32_t i = 0; !rc && i < b.n; i++) {
		b.ops[i].id = (const char *)b.bytes.data + b.idoff[i];
		b.ops[i].doc = (const char *)b.bytes.data + b.docoff[i];
	}
	pthread_mutex_lock(&x->mu);
	uint64_t applied = x->applied;
	pthread_mutex_unlock(&x->mu);
	sh_apply_report rep;
	/* a compaction trains its segment's dictionary anew (update.c) */
	sh_apply_hooks hooks = {hook_locate, hook_source, NULL, x, lst.generation, 1, all};
	if (!rc && b.n)
		rc = sh_apply_with(x->dir, b.ops, b.n, applied, &hooks, &rep, err, errlen);
	uint32_t docs = b.n;
	batch_fini(&b);
	if (rc)
		return rc;
	if (!docs)
		return TRAWL_ENOTFOUND; /* nothing written: no step was made */
	pthread_mutex_lock(&x->live_mu);
	char oerr[LIMIT_ERRMSG_BYTES];
	memo_drop(x, drop_found, NULL); /* documents moved; no id came or went */
	int orc = open_live(x, oerr, sizeof oerr);
	if (orc)
		memo_drop(x, NULL, NULL);
	pthread_mutex_unlock(&x->live_mu);
	if (orc)
		return errf(err, errlen, orc, "%s", oerr);
	if (x->cfg.published)
		x->cfg.published(x->cfg.ctx, rep.generation);
	idx_gen_prune(x->dir, rep.generation, LIMIT_KEEP_GENERATIONS);
	double took = clock_mono_s() - t0;
	pthread_mutex_lock(&x->mu);
	x->generation = rep.generation;
	x->merges++;
	x->merged_docs += docs;
	x->merged_bytes += rep.bytes_written;
	x->merge_s += took;
	pthread_mutex_unlock(&x->mu);
	if (!x->cfg.quiet)
		say(x, "generation %llu: merged %u segment%s of shard %u (%u documents), %.3f s",
		    (unsigned long long)rep.generation, n, n == 1 ? "" : "s", no, docs, took);
	return TRAWL_OK;
}

/* Whether a shard of the live generation has more than twice the
 * segments the policy merges at. */
static int segments_piled(trawl_indexer *x)
{
	pthread_mutex_lock(&x->live_mu);
	int piled = 0;
	for (uint32_t s = 0; s < TRAWL_MAX_SHARDS && !piled; s++)
		piled = x->live->local[s] >= 0 && x->live->nseg_of[s] > 2 * LIMIT_MERGE_AT_SEGMENTS;
	pthread_mutex_unlock(&x->live_mu);
	return piled;
}

/* One merge step if the policy (or a compaction: all) wants one: 1 when
 * one was made, 0 when none was wanted, or the error. mu not held. */
static int merge_step(trawl_indexer *x, int all, char *err, size_t errlen)
{
	uint32_t segs[LIMIT_SEGMENTS], no = 0;
	pthread_mutex_lock(&x->live_mu);
	uint32_t n = merge_next(x, all, &no, segs);
	pthread_mutex_unlock(&x->live_mu);
	if (!n)
		return 0;
	int rc = merge_once(x, no, segs, n, all, err, errlen);
	return rc == TRAWL_ENOTFOUND ? 0 : rc ? -rc : 1;
}

/* The last operation acknowledged. */
static uint64_t acked(trawl_indexer *x)
{
	idx_wlog_info li;
	idx_wlog_stat(x->log, &li);
	return li.next - 1;
}

static void *run(void *arg)
{
	trawl_indexer *x = arg;
	uint64_t last = clock_mono_ms();
	char err[LIMIT_ERRMSG_BYTES];
	pthread_setname_np(pthread_self(), "trawl-indexer");
	/* lowering one's own priority needs no privilege; on Linux it is
	 * this thread's, and the threads an apply or a merge starts inherit it */
	if (x->cfg.low_priority)
		setpriority(PRIO_PROCESS, (id_t)gettid(), LIMIT_WRITE_NICE);
	pthread_mutex_lock(&x->mu);
	while (!x->stop) {
		uint64_t pending = acked(x) - x->applied, now = clock_mono_ms();
		if (!pending && !x->now) {
			/* nothing to apply: a merge step, if the policy (or a
			 * compaction) wants one, else wait for writes */
			int all = x->compact, failed = x->merge_failed;
			pthread_mutex_unlock(&x->mu);
			int m = all || !failed ? merge_step(x, all, err, sizeof err) : 0;
			pthread_mutex_lock(&x->mu);
			if (m < 0) {
				x->merge_failed = 1;
				pthread_mutex_unlock(&x->mu);
				say(x, "a merge failed (the generation before it stays live): %s",
				    err);
				pthread_mutex_lock(&x->mu);
			}
			if (all && m <= 0) {
				/* the compaction is done, or failed */
				x->compact = 0;
				x->compact_rc = m < 0 ? -m : TRAWL_OK;
				snprintf(x->compact_err, sizeof x->compact_err, "%s",
				         m < 0 ? err : "");
				x->compacts_done++;
				pthread_cond_broadcast(&x->done);
			}
			if (m == 0 && !x->compact && !x->stop && acked(x) == x->applied && !x->now)
				pthread_cond_wait(&x->work, &x->mu);
			continue;
		}
		if (!x->now && pending < x->cfg.batch_ops && now - last < x->cfg.refresh_ms) {
			struct timespec ts;
			clock_after(&ts, CLOCK_MONOTONIC, x->cfg.refresh_ms - (now - last));
			pthread_cond_timedwait(&x->work, &x->mu, &ts);
			continue;
		}
		x->now = 0;
		x->merge_failed = 0; /* new documents: a merge may go now */
		pthread_mutex_unlock(&x->mu);
		/* a fixed rate: the next generation is due refresh_ms after this
		 * one's start (at once if this one takes longer), so a write
		 * waits at most the interval and one generation's time */
		last = now;
		int made = 0, rc = apply_once(x, &made, err, sizeof err);
		pthread_mutex_lock(&x->mu);
		x->last_rc = rc;
		if (rc) {
			x->failures++;
			snprintf(x->last_err, sizeof x->last_err, "%s", err);
		}
		/* the refreshes waiting for it are told before any merge */
		pthread_cond_broadcast(&x->done);
		pthread_mutex_unlock(&x->mu);
		if (rc)
			say(x, "the next generation failed (its operations stay in the log): %s",
			    err);
		/* under a steady stream of writes the log is never empty: when a
		 * shard's segments pile up past twice the policy's count, merge
		 * steps go between two generations of writes, one per shard over
		 * it; and a generation refused for its segments (LIMIT_SEGMENTS)
		 * gets them too (a merge needs no log) */
		if ((!rc && made && segments_piled(x)) || rc == TRAWL_ELIMIT) {
			trawl_index_stats lst;
			trawl_index_get_stats(x->live, &lst);
			for (uint32_t i = 0; i < lst.shards && segments_piled(x); i++) {
				char merr[LIMIT_ERRMSG_BYTES];
				int m = merge_step(x, 0, merr, sizeof merr);
				if (m < 0)
					say(x,
					    "a merge failed (the generation before it stays live): "
					    "%s",
					    merr);
				if (m <= 0)
					break;
			}
		}
		pthread_mutex_lock(&x->mu);
	}
	pthread_mutex_unlock(&x->mu);
	return NULL;
}

int trawl_indexer_compact(trawl_indexer *x, char *err, size_t errlen)
{
	pthread_mutex_lock(&x->mu);
	uint64_t done = x->compacts_done;
	x->compact = 1;
	pthread_cond_signal(&x->work);
	while (x->compacts_done == done && !x->stop)
		pthread_cond_wait(&x->done, &x->mu);
	int rc = x->stop && x->compacts_done == done ? TRAWL_EBUSY : x->compact_rc;
	if (rc)
		errf(err, errlen, rc, "%s", x->stop ? "the indexer is stopping" : x->compact_err);
	pthread_mutex_unlock(&x->mu);
	return rc;
}

/* ---- the handle ---- */

int trawl_indexer_open(trawl_indexer **out, const char *dir, const trawl_indexer_opts *cfg,
                       char *err, size_t errlen)
{
	*out = NULL;
	trawl_indexer *x = calloc(1, sizeof *x);
	if (!x)
		return errf(err, errlen, TRAWL_ENOMEM, "out of memory");
	if (cfg)
		x->cfg = *cfg;
	if (!x->cfg.refresh_ms)
		x->cfg.refresh_ms = 1000;
	if (!x->cfg.batch_ops || x->cfg.batch_ops > LIMIT_INDEXER_BATCH_OPS)
		x->cfg.batch_ops = LIMIT_INDEXER_BATCH_OPS;
	x->max_doc = x->cfg.max_doc_bytes ? x->cfg.max_doc_bytes : TRAWL_MAX_DOC_BYTES;
	/* the backlog's bounds: at most half the log's bytes, so that a write
	 * is refused for the backlog (429) well before the log is full (507) */
	uint64_t logmax = x->cfg.log_bytes ? x->cfg.log_bytes : LIMIT_WLOG_BYTES;
	if (logmax < LIMIT_WLOG_MIN_BYTES)
		logmax = LIMIT_WLOG_MIN_BYTES;
	x->backlog_ops = x->cfg.backlog_ops ? x->cfg.backlog_ops : LIMIT_INDEXER_BACKLOG_OPS;
	x->backlog_bytes =
	    x->cfg.backlog_bytes ? x->cfg.backlog_bytes : LIMIT_INDEXER_BACKLOG_BYTES;
	if (x->backlog_bytes > logmax / 2)
		x->backlog_bytes = logmax / 2;
	snprintf(x->dir, sizeof x->dir, "%s", dir);
	pthread_mutex_init(&x->mu, NULL);
	pthread_mutex_init(&x->live_mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&x->work, &ca);
	pthread_cond_init(&x->done, &ca);
	pthread_condattr_destroy(&ca);
	int rc = open_live(x, err, errlen);
	if (rc)
		goto fail;
	char msg[256];
	if ((rc = idx_schema_parse(&x->schema, trawl_index_schema(x->live),
	                           strlen(trawl_index_schema(x->live)), msg, sizeof msg))) {
		rc = errf(err, errlen, rc, "%s: %s", dir, msg);
		goto fail;
	}
	/* what a replacement or a delete needs (sh_apply refuses it too) */
	if (sh_schema_check_stored(&x->schema, 1,
	                           "so a document cannot be replaced or deleted (the index's "
	                           "statistics need its text): only new ids can be added",
	                           x->why_not, sizeof x->why_not) == TRAWL_OK)
		x->why_not[0] = 0;
	/* where the live generation stands in the log */
	uint64_t gen;
	if ((rc = idx_gen_current(dir, &gen, err, errlen)))
		goto fail;
	char gd[LIMIT_PATH_BYTES], name[32];
	idx_gen_dirname(name, gen);
	snprintf(gd, sizeof gd, "%s/%s", dir, name);
	idx_manifest *m = calloc(1, sizeof *m);
	if (!m) {
		rc = errf(err, errlen, TRAWL_ENOMEM, "out of memory");
		goto fail;
	}
	rc = idx_manifest_read(gd, m, err, errlen);
	x->applied = m->applied_seq;
	x->generation = gen;
	x->docs = m->docs;
	idx_manifest_fini(m);
	free(m);
	if (rc)
		goto fail;
	char path[LIMIT_PATH_BYTES];
	snprintf(path, sizeof path, "%s/wlog.mdb", dir);
	if ((rc = idx_wlog_open(&x->log, path, x->cfg.log_bytes, err, errlen)))
		goto fail;
	/* a log trimmed past the live generation lost operations: never */
	idx_wlog_info li;
	idx_wlog_stat(x->log, &li);
	if (li.next - 1 < x->applied) {
		rc = errf(err, errlen, TRAWL_ECORRUPT,
		          "%s: the write log ends at operation %llu, but the live generation holds "
		          "operations up to %llu (a log from another index?)",
		          path, (unsigned long long)(li.next - 1), (unsigned long long)x->applied);
		goto fail;
	}
	if (li.ops && li.first > x->applied + 1) {
		rc = errf(
		    err, errlen, TRAWL_ECORRUPT,
		    "%s: the write log starts at operation %llu, but the live generation holds "
		    "operations up to %llu only: operations %llu to %llu are missing",
		    path, (unsigned long long)li.first, (unsigned long long)x->applied,
		    (unsigned long long)x->applied + 1, (unsigned long long)li.first - 1);
		goto fail;
	}
	if ((rc = idx_ingest_open(&x->ing, x->log, x->applied, x->max_doc, live_fn, check_fn, x,
	                          err, errlen)))
		goto fail;
	if (pthread_create(&x->th, NULL, run, x)) {
		rc = errf(err, errlen, TRAWL_ENOMEM, "cannot start the indexer's thread");
		goto fail;
	}
	x->started = 1;
	*out = x;
	return TRAWL_OK;
fail:
	trawl_indexer_close(x);
	return rc;
}

void trawl_indexer_close(trawl_indexer *x)
{
	if (!x)
		return;
	if (x->started) {
		pthread_mutex_lock(&x->mu);
		x->stop = 1;
		pthread_cond_broadcast(&x->work);
		pthread_cond_broadcast(&x->done);
		pthread_mutex_unlock(&x->mu);
		pthread_join(x->th, NULL);
	}
	idx_ingest_close(x->ing);
	idx_wlog_close(x->log);
	memo_drop(x, NULL, NULL);
	free(x->memo);
	trawl_searcher_close(x->ls);
	trawl_index_close(x->live);
	pthread_mutex_destroy(&x->mu);
	pthread_mutex_destroy(&x->live_mu);
	pthread_cond_destroy(&x->work);
	pthread_cond_destroy(&x->done);
	free(x);
}

/* The flood stage: TRAWL_ENOSPC with err when the file system holding
 * the index is fuller than x allows (a statvfs a request: a microsecond). */
static int flood_check(trawl_indexer *x, char *err, size_t errlen)
{
	unsigned pct = x->cfg.flood_pct ? x->cfg.flood_pct : LIMIT_DISK_FLOOD_PCT;
	struct statvfs sv;
	if (pct >= 100 || statvfs(x->dir, &sv) != 0 || sv.f_blocks == 0)
		return TRAWL_OK;
	uint64_t used = (uint64_t)(sv.f_blocks - sv.f_bavail);
	if (used * 100 <= (uint64_t)pct * sv.f_blocks)
		return TRAWL_OK;
	pthread_mutex_lock(&x->mu);
	x->flooded++;
	pthread_mutex_unlock(&x->mu);
	return errf(err, errlen, TRAWL_ENOSPC,
	            "%s: the disk holding the index is %llu%% full, past its flood stage of "
	            "%u%% (--flood-stage): writes are refused until space is freed; searches "
	            "go on",
	            x->dir, (unsigned long long)(used * 100 / sv.f_blocks), pct);
}

int trawl_indexer_write(trawl_indexer *x, const idx_wreq *reqs, uint32_t n, idx_wres *res,
                        char *err, size_t errlen)
{
	int frc = flood_check(x, err, errlen);
	if (frc)
		return frc;
	/* backpressure: the log's operations not yet in a generation */
	idx_wlog_info li;
	idx_wlog_stat(x->log, &li);
	pthread_mutex_lock(&x->mu);
	uint64_t behind = li.next - 1 - x->applied;
	if (behind >= x->backlog_ops || li.bytes >= x->backlog_bytes) {
		x->rejected++;
		x->now = 1; /* catch up at once */
		pthread_cond_signal(&x->work);
		pthread_mutex_unlock(&x->mu);
		return errf(err, errlen, TRAWL_EBUSY,
		            "%s: %llu writes (%llu MiB in the write log) are not yet searchable, "
		            "the bound is %llu writes and %llu MiB: try again once the indexer has "
		            "caught up",
		            x->dir, (unsigned long long)behind,
		            (unsigned long long)(li.bytes >> 20),
		            (unsigned long long)x->backlog_ops,
		            (unsigned long long)(x->backlog_bytes >> 20));
	}
	pthread_mutex_unlock(&x->mu);
	int rc = idx_ingest_write(x->ing, reqs, n, res, err, errlen);
	uint64_t wrote = 0;
	for (uint32_t i = 0; !rc && i < n; i++)
		wrote += res[i].result && res[i].seq_no && strcmp(res[i].result, "noop");
	pthread_mutex_lock(&x->mu);
	x->writes += wrote;
	if (wrote && !x->oldest_ms)
		x->oldest_ms = clock_mono_ms();
	pthread_cond_signal(&x->work);
	pthread_mutex_unlock(&x->mu);
	return rc;
}

int trawl_indexer_get(trawl_indexer *x, const char *id, uint32_t idlen, idx_wlive *out, char *err,
                      size_t errlen)
{
	reading = 1;
	int rc = idx_ingest_get(x->ing, id, idlen, out, err, errlen);
	reading = 0;
	return rc;
}

int trawl_indexer_refresh(trawl_indexer *x, uint64_t seq, unsigned timeout_ms, char *err,
                          size_t errlen)
{
	if (seq == 0)
		seq = acked(x);
	struct timespec ts;
	if (timeout_ms)
		clock_after(&ts, CLOCK_MONOTONIC, timeout_ms);
	int rc = TRAWL_OK;
	pthread_mutex_lock(&x->mu);
	uint64_t failures = x->failures;
	while (x->applied < seq) {
		if (x->failures == failures && !x->stop) {
			x->now = 1;
			pthread_cond_signal(&x->work);
		}
		if (x->failures != failures) {
			rc = errf(err, errlen, x->last_rc ? x->last_rc : TRAWL_EIO, "%s",
			          x->last_err);
			break;
		}
		if (x->stop) {
			rc = errf(err, errlen, TRAWL_EBUSY, "the indexer is stopping");
			break;
		}
		if (timeout_ms ? pthread_cond_timedwait(&x->done, &x->mu, &ts) != 0
		               : pthread_cond_wait(&x->done, &x->mu) != 0) {
			if (x->applied >= seq)
				break;
			rc = errf(
			    err, errlen, TRAWL_EBUSY,
			    "operation %llu is not searchable yet after %u ms (the index holds "
			    "operations up to %llu)",
			    (unsigned long long)seq, timeout_ms, (unsigned long long)x->applied);
			break;
		}
	}
	pthread_mutex_unlock(&x->mu);
	return rc;
}

void trawl_indexer_get_stats(trawl_indexer *x, trawl_indexer_stats *out)
{
	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&x->live_mu);
	for (uint32_t s = 0; s < TRAWL_MAX_SHARDS; s++)
		if (x->live->local[s] >= 0) {
			out->segments += x->live->nseg_of[s];
			if (x->live->nseg_of[s] > out->max_shard_segments)
				out->max_shard_segments = x->live->nseg_of[s];
		}
	pthread_mutex_unlock(&x->live_mu);
	idx_wlog_info li;
	idx_wlog_stat(x->log, &li);
	pthread_mutex_lock(&x->mu);
	out->generation = x->generation;
	out->applied_seq = x->applied;
	out->acked_seq = li.next - 1;
	out->log_ops = li.ops;
	out->log_bytes = li.bytes;
	out->generations = x->generations;
	out->ops_applied = x->ops_applied;
	out->failures = x->failures;
	out->apply_seconds = x->apply_s;
	out->last_apply_seconds = x->last_apply_s;
	out->merges = x->merges;
	out->merged_docs = x->merged_docs;
	out->merged_bytes = x->merged_bytes;
	out->merge_seconds = x->merge_s;
	out->writes = x->writes;
	out->docs = x->docs;
	out->added = x->added;
	out->replaced = x->replaced;
	out->deleted = x->deleted;
	out->segments_written = x->segments_written;
	memcpy(out->refresh_le, x->refresh_le, sizeof out->refresh_le);
	out->refresh_count = x->refresh_count;
	out->refresh_sum = x->refresh_sum;
	out->rejected = x->rejected;
	out->flooded = x->flooded;
	pthread_mutex_unlock(&x->mu);
}
