/*
 * ingest.c - writes decided before they are logged (see ingest.h).
 *
 * The version map is a chained hash table from id to the last operation
 * logged for it since the live generation: its number, the document's
 * _version, deleted or not, and the document. It is changed as requests
 * are decided, under g->mu, before their operations are durable; the log
 * numbers operations in the same order (one append per decided request,
 * which the log's group commit joins into one commit), so the map is the
 * log's state plus what is queued. When a commit fails, the log fails all
 * that is queued and counts the failure (idx_wlog_epoch); the map is then
 * stale, and is read again from the log before anything else is decided or
 * read (refresh_locked).
 */
#include "ingest.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/hash.h"
#include "tombs.h"
#include "trawl/trawl.h"

#define PRIMARY_TERM 1 /* one indexer per index: its term never changes */

typedef struct vent {
	struct vent *next;
	uint64_t hash;
	uint64_t seq, version;
	int deleted;
	int durable; /* in the log: its document is read from there (doc NULL) */
	char *doc;   /* not yet durable: its document */
	size_t doclen;
	uint32_t idlen;
	char id[];
} vent;

struct idx_ingest {
	idx_wlog *log;
	pthread_mutex_t mu;
	vent **tab;
	size_t cap, n;    /* buckets (a power of two), entries */
	uint64_t applied; /* the live generation holds the operations up to it */
	uint64_t epoch;   /* the log's failure count the map is true for */
	int valid;        /* the map was read whole (a failed read: read it again) */
	size_t max_doc;
	idx_wlive_fn live;
	idx_wcheck_fn check;
	void *ctx;
	idx_tombs *tombs; /* deletes published, kept a while (tombs.h) */
};

/* ---- the version map ---- */

static vent *map_find(idx_ingest *g, const char *id, uint32_t idlen, uint64_t h)
{
	for (vent *e = g->tab[h & (g->cap - 1)]; e; e = e->next)
		if (e->hash == h && e->idlen == idlen && memcmp(e->id, id, idlen) == 0)
			return e;
	return NULL;
}

static int map_grow(idx_ingest *g)
{
	size_t cap = g->cap * 2;
	vent **tab = calloc(cap, sizeof *tab);
	if (!tab)
		return TRAWL_ENOMEM;
	for (size_t i = 0; i < g->cap; i++)
		for (vent *e = g->tab[i], *next; e; e = next) {
			next = e->next;
			e->next = tab[e->hash & (cap - 1)];
			tab[e->hash & (cap - 1)] = e;
		}
	free(g->tab);
	g->tab = tab;
	g->cap = cap;
	return TRAWL_OK;
}

/* map_set records that seq made id's document doc (deleted: none) at
 * version; doc is copied, unless the operation is durable (its document is
 * then read from the log when needed, so that the map holds the documents
 * of the writes in flight only, not of all unpublished ones). */
static int map_set(idx_ingest *g, const char *id, uint32_t idlen, uint64_t seq, uint64_t version,
                   int deleted, int durable, const char *doc, size_t doclen)
{
	if (deleted || durable)
		doc = NULL;
	uint64_t h = th_hash64(id, idlen);
	vent *e = map_find(g, id, idlen, h);
	char *copy = NULL;
	if (doc && !(copy = malloc(doclen ? doclen : 1)))
		return TRAWL_ENOMEM;
	if (doc)
		memcpy(copy, doc, doclen);
	if (!e) {
		if (g->n >= g->cap && map_grow(g)) {
			free(copy);
			return TRAWL_ENOMEM;
		}
		if (!(e = calloc(1, sizeof *e + idlen))) {
			free(copy);
			return TRAWL_ENOMEM;
		}
		e->hash = h;
		e->idlen = idlen;
		memcpy(e->id, id, idlen);
		e->next = g->tab[h & (g->cap - 1)];
		g->tab[h & (g->cap - 1)] = e;
		g->n++;
	}
	free(e->doc);
	e->seq = seq;
	e->version = version;
	e->deleted = deleted;
	e->durable = durable;
	e->doc = copy;
	e->doclen = doc ? doclen : 0;
	return TRAWL_OK;
}

/* map_drop removes the entries with a number up to upto (all: UINT64_MAX). */
static void map_drop(idx_ingest *g, uint64_t upto)
{
	for (size_t i = 0; i < g->cap; i++)
		for (vent **p = &g->tab[i]; *p;) {
			vent *e = *p;
			if (e->seq > upto) {
				p = &e->next;
				continue;
			}
			*p = e->next;
			free(e->doc);
			free(e);
			g->n--;
		}
}

static int load_op(void *ctx, const idx_wop *op)
{
	idx_ingest *g = ctx;
	return map_set(g, op->id, op->idlen, op->seq, op->version, op->kind == IDX_WOP_DELETE, 1,
	               NULL, 0);
}

/* refresh_locked reads the map again from the log when a commit failed
 * since it was last true, or it could not be read whole. Called with g->mu
 * held. */
static int refresh_locked(idx_ingest *g, int force, char *err, size_t errlen)
{
	uint64_t epoch = idx_wlog_epoch(g->log); /* before reading: a later failure shows */
	if (!force && g->valid && epoch == g->epoch)
		return TRAWL_OK;
	map_drop(g, UINT64_MAX);
	g->valid = 0; /* until the whole log is in it */
	int rc =
	    idx_wlog_read(g->log, g->applied + 1, UINT32_MAX, SIZE_MAX, load_op, g, err, errlen);
	if (rc == TRAWL_ENOMEM)
		errf(err, errlen, rc, "out of memory reading the write log");
	if (rc)
		return rc;
	g->epoch = epoch;
	g->valid = 1;
	return TRAWL_OK;
}

/* ---- opening ---- */

int idx_ingest_open(idx_ingest **out, idx_wlog *log, uint64_t applied, size_t max_doc_bytes,
                    idx_wlive_fn live, idx_wcheck_fn check, void *ctx, char *err, size_t errlen)
{
	*out = NULL;
	idx_ingest *g = calloc(1, sizeof *g);
	if (!g || !(g->tab = calloc(64, sizeof *g->tab))) {
		free(g);
		return errf(err, errlen, TRAWL_ENOMEM, "out of memory");
	}
	g->cap = 64;
	if (!(g->tombs = idx_tombs_new(0, 0))) {
		free(g->tab);
		free(g);
		return errf(err, errlen, TRAWL_ENOMEM, "out of memory");
	}
	g->log = log;
	g->applied = applied;
	g->max_doc = max_doc_bytes ? max_doc_bytes : TRAWL_MAX_DOC_BYTES;
	if (g->max_doc > LIMIT_STORED_DOC_BYTES) /* what the log and a record take */
		g->max_doc = LIMIT_STORED_DOC_BYTES;
	g->live = live;
	g->check = check;
	g->ctx = ctx;
	pthread_mutex_init(&g->mu, NULL);
	int rc = refresh_locked(g, 1, err, errlen);
	if (rc) {
		idx_ingest_close(g);
		return rc;
	}
	*out = g;
	return TRAWL_OK;
}

void idx_ingest_close(idx_ingest *g)
{
	if (!g)
		return;
	map_drop(g, UINT64_MAX);
	free(g->tab);
	idx_tombs_free(g->tombs);
	pthread_mutex_destroy(&g->mu);
	free(g);
}

/* ---- the current state of an id ---- */

typedef struct cur {
	int exists;
	uint64_t version, seq;
	const char *doc; /* exists: the document (in the map, or in owned) */
	size_t doclen;
	char *owned; /* from the live callback */
	int pending; /* from the map: an operation that may not be durable yet */
} cur;

typedef struct seq_doc {
	uint64_t seq;
	char *doc;
	size_t len;
	int found;
} seq_doc;

/* copy_doc takes the document of operation sd->seq, if it is the first
 * read; a return of COPY_DONE tells its stop from the read's own errors. */
#define COPY_DONE 1000
static int copy_doc(void *ctx, const idx_wop *op)
{
	seq_doc *sd = ctx;
	if (op->seq != sd->seq || op->kind != IDX_WOP_INDEX)
		return COPY_DONE;
	if (!(sd->doc = malloc(op->doclen ? op->doclen : 1)))
		return -TRAWL_ENOMEM;
	memcpy(sd->doc, op->doc, op->doclen);
	sd->len = op->doclen;
	sd->found = 1;
	return COPY_DONE;
}

/* current_locked finds id's state: the map's, else the live generation's.
 * A deleted entry keeps its version (the next create follows it). */
static int current_locked(idx_ingest *g, const char *id, uint32_t idlen, cur *c, char *err,
                          size_t errlen)
{
	*c = (cur){0};
	vent *e = map_find(g, id, idlen, th_hash64(id, idlen));
	if (e) {
		c->pending = !e->durable;
		c->exists = !e->deleted;
		c->version = e->version;
		c->seq = e->seq;
		c->doc = e->doc;
		c->doclen = e->doclen;
		if (!c->exists || e->doc)
			return TRAWL_OK;
		/* durable: the document is the log's. Every entry here is after
		 * the live generation (idx_ingest_published drops the others), so
		 * its operation must be in the log: a log trimmed before the
		 * ingest was told of the publish is an error, never the live
		 * generation's older document */
		seq_doc sd = {.seq = e->seq};
		int rc = idx_wlog_read(g->log, e->seq, 1, SIZE_MAX, copy_doc, &sd, err, errlen);
		if (rc == -TRAWL_ENOMEM)
			return errf(err, errlen, TRAWL_ENOMEM, "[%.*s]: out of memory", (int)idlen,
			            id);
		if (rc != COPY_DONE && rc != TRAWL_OK)
			return rc; /* err set by the read */
		if (!sd.found)
			return errf(
			    err, errlen, TRAWL_EIO,
			    "[%.*s]: operation %llu is no longer in the write log (trimmed before "
			    "the ingest was told of the generation holding it)",
			    (int)idlen, id, (unsigned long long)e->seq);
		c->owned = sd.doc;
		c->doc = sd.doc;
		c->doclen = sd.len;
		return TRAWL_OK;
	}
	/* deleted in a published generation a moment ago: a write continues
	 * its version, as OpenSearch's within index.gc_deletes */
	if (idx_tombs_get(g->tombs, id, idlen, clock_mono_ms(), &c->seq, &c->version))
		return TRAWL_OK;
	if (!g->live)
		return TRAWL_OK;
	idx_wlive lv = {0};
	int rc = g->live(g->ctx, id, idlen, &lv, err, errlen);
	if (rc) {
		free(lv.doc);
		return rc;
	}
	if (!lv.exists) {
		free(lv.doc);
		return TRAWL_OK;
	}
	c->exists = 1;
	c->version = lv.version;
	c->seq = lv.seq_no;
	c->owned = lv.doc;
	c->doc = lv.doc;
	c->doclen = lv.doclen;
	return TRAWL_OK;
}

/* ---- deciding one request ---- */

static void fail(idx_wres *r, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail(idx_wres *r, int status, const char *type, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verrf(r->reason, sizeof r->reason, 0, fmt, ap);
	va_end(ap);
	r->status = status;
	r->result = NULL;
	r->error_type = type;
}

/* too_big: whether a document is over the size limit (r failed, 400). */
static int too_big(const idx_ingest *g, size_t len, const char *what, idx_wres *r)
{
	if (len <= g->max_doc)
		return 0;
	fail(r, 400, "mapper_parsing_exception", "%s of %zu bytes, over the limit of %zu", what,
	     len, g->max_doc);
	return 1;
}

/* parse_object parses a document that must be a JSON object; NULL with r
 * failed (400) otherwise. what: "document", "partial document", "upsert". */
static json_t *parse_object(idx_ingest *g, const char *doc, size_t len, const char *what,
                            idx_wres *r)
{
	if (too_big(g, len, what, r))
		return NULL;
	json_error_t je;
	json_t *j = json_loadb(doc, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
	if (!j) {
		fail(r, 400, "mapper_parsing_exception",
		     "failed to parse the %s: %s at line %d column %d", what, je.text, je.line,
		     je.column);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		fail(r, 400, "mapper_parsing_exception", "the %s is not a JSON object", what);
		return NULL;
	}
	return j;
}

/* accept checks a document the request would write; 0 with r failed.
 * With a check, the check's own parse is the only one (it refuses what
 * jansson would: idx_wcheck_fn), which halves the acknowledgement's cost;
 * without, jansson's. */
static int accept(idx_ingest *g, const char *doc, size_t len, const char *what, idx_wres *r)
{
	if (!g->check) {
		json_t *j = parse_object(g, doc, len, what, r);
		json_decref(j);
		return j != NULL;
	}
	if (too_big(g, len, what, r)) /* as parse_object, before any parse */
		return 0;
	char why[LIMIT_ERRMSG_BYTES] = "";
	if (g->check(g->ctx, r->id, r->idlen, doc, len, why, sizeof why)) {
		fail(r, 400, "mapper_parsing_exception", "failed to parse the %s: %s", what, why);
		return 0;
	}
	return 1;
}

/* conflict: whether the request's if_seq_no/if_primary_term do not
 * hold for c (r failed, 409). */
static int conflict(const idx_wreq *q, const cur *c, idx_wres *r)
{
	if (q->if_seq_no < 0 && q->if_primary_term < 0)
		return 0;
	if (!c->exists) {
		fail(r, 409, "version_conflict_engine_exception",
		     "[%s]: version conflict, required seqNo [%lld], primary term [%lld]. but no "
		     "document was found",
		     r->id, (long long)q->if_seq_no, (long long)q->if_primary_term);
		return 1;
	}
	if ((uint64_t)q->if_seq_no != c->seq || q->if_primary_term != PRIMARY_TERM) {
		fail(r, 409, "version_conflict_engine_exception",
		     "[%s]: version conflict, required seqNo [%lld], primary term [%lld]. current "
		     "document has seqNo [%llu] and primary term [%d]",
		     r->id, (long long)q->if_seq_no, (long long)q->if_primary_term,
		     (unsigned long long)c->seq, PRIMARY_TERM);
		return 1;
	}
	return 0;
}

/* A decided request's operation, and the document it writes when that is
 * a merge (owned). */
typedef struct decided {
	idx_wop op;
	char *owned;
	int writes;
	int dep; /* answered on top of the map's dep_seq, at dep_epoch */
	uint64_t dep_seq, dep_epoch;
	idx_wlog_waiter wt;
	char err[LIMIT_ERRMSG_BYTES];
} decided;

static void generate_id(idx_wres *r)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	uint8_t raw[15];
	if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
		/* no entropy: a hash of the time and a counter, still unique here */
		static uint64_t counter;
		uint64_t x[2] = {(uint64_t)time(NULL),
		                 __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED)};
		uint8_t h[16];
		th_hash128(x, sizeof x, h);
		memcpy(raw, h, sizeof raw);
	}
	for (int i = 0; i < 5; i++) {
		uint32_t v =
		    (uint32_t)raw[3 * i] << 16 | (uint32_t)raw[3 * i + 1] << 8 | raw[3 * i + 2];
		for (int k = 0; k < 4; k++)
			r->id[4 * i + k] = b64[(v >> (18 - 6 * k)) & 63];
	}
	r->id[20] = 0;
	r->idlen = 20;
}

/* merge_update decides an update of an existing document c: d->owned is
 * the merged document, or NULL for a noop (r set). 0 with r failed. */
static int merge_update(idx_ingest *g, const idx_wreq *q, const cur *c, decided *d, idx_wres *r)
{
	json_t *part = q->doc ? parse_object(g, q->doc, q->doclen, "partial document", r) : NULL;
	if (q->doc && !part)
		return 0;
	json_error_t je;
	json_t *old = json_loadb(c->doc, c->doclen, JSON_ALLOW_NUL, &je);
	json_t *merged = old ? json_deep_copy(old) : NULL;
	if (!old || !merged || !json_is_object(old)) {
		json_decref(part);
		json_decref(old);
		json_decref(merged);
		fail(r, 500, "exception", "[%s]: its current document cannot be read as JSON",
		     r->id);
		return 0;
	}
	if (part)
		json_object_update_recursive(merged, part);
	json_decref(part);
	if (!q->keep_noop && json_equal(merged, old)) {
		json_decref(old);
		json_decref(merged);
		return 1; /* noop */
	}
	json_decref(old);
	d->owned = json_dumps(merged, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(merged);
	if (!d->owned) {
		fail(r, 500, "exception", "[%s]: out of memory merging the update", r->id);
		return 0;
	}
	return accept(g, d->owned, strlen(d->owned), "updated document", r);
}

/* decide_locked decides q into d and r (r's id already set): whether it
 * writes (d->op), or what it answers without writing. */
static void decide_locked(idx_ingest *g, const idx_wreq *q, decided *d, idx_wres *r)
{
	cur c;
	char why[LIMIT_ERRMSG_BYTES];
	int crc = current_locked(g, r->id, r->idlen, &c, why, sizeof why);
	if (crc == TRAWL_ESCHEMA) { /* the index cannot replace or delete it */
		fail(r, 400, "illegal_argument_exception", "[%s]: %s", r->id, why);
		return;
	}
	if (crc) {
		fail(r, 500, "exception", "[%s]: %s", r->id, why);
		return;
	}
	if (c.pending) { /* what is answered rests on it (write_locked) */
		d->dep = 1;
		d->dep_seq = c.seq;
		d->dep_epoch = g->epoch;
	}
	const char *doc = NULL;
	size_t doclen = 0;
	switch (q->act) {
	case IDX_WACT_CREATE:
		if (q->if_seq_no >= 0 || q->if_primary_term >= 0) {
			fail(r, 400, "action_request_validation_exception",
			     "Validation Failed: 1: create operations do not support compare and "
			     "set. "
			     "use index instead;");
			break;
		}
		if (c.exists) {
			fail(r, 409, "version_conflict_engine_exception",
			     "[%s]: version conflict, document already exists (current version "
			     "[%llu])",
			     r->id, (unsigned long long)c.version);
			break;
		}
		/* a create of a missing id is an index */
		__attribute__((fallthrough));
	case IDX_WACT_INDEX:
		if (conflict(q, &c, r)) /* the document was checked before the lock */
			break;
		doc = q->doc;
		doclen = q->doclen;
		r->result = c.exists ? "updated" : "created";
		r->status = c.exists ? 200 : 201;
		break;
	case IDX_WACT_UPDATE:
		if ((q->upsert || q->doc_as_upsert) &&
		    (q->if_seq_no >= 0 || q->if_primary_term >= 0)) {
			fail(r, 400, "action_request_validation_exception",
			     "Validation Failed: 1: upsert requests don't support `if_seq_no` and "
			     "`if_primary_term`;");
			break;
		}
		if (!q->doc) {
			fail(r, 400, "action_request_validation_exception",
			     "Validation Failed: 1: script or doc is missing;");
			break;
		}
		if (!c.exists) {
			/* OpenSearch: with doc_as_upsert the doc is the upsert */
			const char *up = q->doc_as_upsert ? q->doc : q->upsert;
			size_t uplen = q->doc_as_upsert ? q->doclen : q->upsertlen;
			if (!up) {
				fail(r, 404, "document_missing_exception", "[%s]: document missing",
				     r->id);
				break;
			}
			if (q->doc_as_upsert && !accept(g, up, uplen, "document", r))
				break; /* (an upsert document was checked before the lock) */
			doc = up;
			doclen = uplen;
			r->result = "created";
			r->status = 201;
			break;
		}
		if (conflict(q, &c, r) || !merge_update(g, q, &c, d, r))
			break;
		if (!d->owned) {
			r->result = "noop";
			r->status = 200;
			r->version = c.version;
			r->seq_no = c.seq;
			break;
		}
		doc = d->owned;
		doclen = strlen(d->owned);
		r->result = "updated";
		r->status = 200;
		break;
	case IDX_WACT_DELETE:
		if (conflict(q, &c, r))
			break;
		/* a missing document's delete is logged too, as OpenSearch does: a
		 * tombstone with a number and the next version, which a create
		 * after it follows */
		r->result = c.exists ? "deleted" : "not_found";
		r->status = c.exists ? 200 : 404;
		break;
	}
	if (r->result && strcmp(r->result, "noop")) {
		d->writes = 1; /* a write that rests on a lost one is lost with it */
		d->dep = 0;
		d->op = (idx_wop){.kind = doc ? IDX_WOP_INDEX : IDX_WOP_DELETE,
		                  .id = r->id,
		                  .idlen = r->idlen,
		                  .doc = doc,
		                  .doclen = (uint32_t)doclen,
		                  .version = c.version + 1};
	}
	free(c.owned);
}

/* write_locked decides request i, submits its operation, and records it in
 * the map. Called with g->mu held. Returns TRAWL_EBUSY when a commit
 * failed since the map was read (nothing submitted: decide it again). */
static int write_locked(idx_ingest *g, const idx_wreq *q, decided *d, idx_wres *r)
{
	decide_locked(g, q, d, r);
	if (!d->writes)
		return TRAWL_OK;
	int rc = idx_wlog_submit_at(g->log, g->epoch, &d->op, 1, &d->wt, d->err, sizeof d->err);
	if (rc == TRAWL_EBUSY) {
		free(d->owned);
		*d = (decided){0};
		return rc;
	}
	if (rc) {
		d->writes = 0;
		fail(r,
		     rc == TRAWL_ENOSPC   ? 507
		     : rc == TRAWL_ELIMIT ? 400
		                          : 500,
		     rc == TRAWL_ENOSPC ? "write_log_full_exception" : "exception", "[%s]: %s",
		     r->id, d->err);
		return TRAWL_OK;
	}
	r->version = d->op.version;
	r->seq_no = d->op.seq;
	if (map_set(g, d->op.id, d->op.idlen, d->op.seq, d->op.version,
	            d->op.kind == IDX_WOP_DELETE, 0, d->op.doc, d->op.doclen)) {
		/* the operation is queued, but the map could not record it: wait
		 * until it is in the log (or failed), then read the map from the
		 * log (a second wait on d->wt returns at once) */
		char why[LIMIT_ERRMSG_BYTES];
		idx_wlog_wait(g->log, &d->wt);
		refresh_locked(g, 1, why, sizeof why);
	}
	return TRAWL_OK;
}

/* reset_res forgets a decision in r, keeping its id. */
static void reset_res(idx_wres *r)
{
	char id[LIMIT_ID_BYTES + 1];
	uint32_t idlen = r->idlen;
	memcpy(id, r->id, idlen + 1);
	*r = (idx_wres){.primary_term = PRIMARY_TERM, .idlen = idlen};
	memcpy(r->id, id, idlen + 1);
}

int idx_ingest_write(idx_ingest *g, const idx_wreq *reqs, uint32_t n, idx_wres *res, char *err,
                     size_t errlen)
{
	decided *d = calloc(n ? n : 1, sizeof *d);
	if (!d)
		return errf(err, errlen, TRAWL_ENOMEM, "out of memory for %u requests", n);
	for (uint32_t i = 0; i < n; i++) {
		idx_wres *r = &res[i];
		*r = (idx_wres){.primary_term = PRIMARY_TERM};
		r->id[0] = 0;
		const idx_wreq *q = &reqs[i];
		if (q->idlen > LIMIT_ID_BYTES) {
			fail(r, 400, "action_request_validation_exception",
			     "Validation Failed: 1: id is too long, must be no longer than %d "
			     "bytes but "
			     "was: %u;",
			     LIMIT_ID_BYTES, q->idlen);
			continue;
		}
		if (q->idlen == 0 && (q->act == IDX_WACT_UPDATE || q->act == IDX_WACT_DELETE)) {
			fail(r, 400, "action_request_validation_exception",
			     "Validation Failed: 1: id is missing;");
			continue;
		}
		if (q->idlen == 0)
			generate_id(r);
		else {
			memcpy(r->id, q->id, q->idlen);
			r->id[q->idlen] = 0;
			r->idlen = q->idlen;
		}
		/* what does not depend on the current state is checked before the
		 * lock, as OpenSearch parses a document before it looks for a
		 * conflict: parsing and the schema's check run in parallel */
		if ((q->act == IDX_WACT_INDEX || q->act == IDX_WACT_CREATE) &&
		    !accept(g, q->doc, q->doclen, "document", r))
			continue;
		if (q->act == IDX_WACT_UPDATE && q->upsert &&
		    !accept(g, q->upsert, q->upsertlen, "upsert document", r))
			continue;
	}

	pthread_mutex_lock(&g->mu);
	for (uint32_t i = 0; i < n; i++) {
		if (res[i].error_type)
			continue;
		int rc;
		for (int attempt = 0;; attempt++) {
			char why[LIMIT_ERRMSG_BYTES];
			if ((rc = refresh_locked(g, 0, why, sizeof why))) {
				fail(&res[i], 500, "exception", "%s", why);
				break;
			}
			if ((rc = write_locked(g, &reqs[i], &d[i], &res[i])) != TRAWL_EBUSY ||
			    attempt)
				break;
			reset_res(&res[i]); /* decide it again on the map read anew */
		}
		if (rc == TRAWL_EBUSY)
			fail(&res[i], 500, "exception", "[%s]: the write log keeps failing",
			     res[i].id);
	}
	pthread_mutex_unlock(&g->mu);

	for (uint32_t i = 0; i < n; i++) {
		int rc = d[i].writes ? idx_wlog_wait(g->log, &d[i].wt) : TRAWL_OK;
		if (rc)
			fail(&res[i], rc == TRAWL_ENOSPC ? 507 : 500,
			     rc == TRAWL_ENOSPC ? "write_log_full_exception" : "exception",
			     "[%s]: %s", res[i].id, d[i].err);
		/* an answer that rests on another writer's operation goes out only
		 * once that is durable: it would tell of a state that never was */
		else if (d[i].dep && idx_wlog_wait_durable(g->log, d[i].dep_seq, d[i].dep_epoch))
			fail(&res[i], 500, "exception",
			     "[%s]: a write it was decided on failed; try again", res[i].id);
	}
	/* the writes now in the log: their documents are read from there */
	pthread_mutex_lock(&g->mu);
	for (uint32_t i = 0; i < n; i++) {
		if (!d[i].writes || res[i].error_type)
			continue;
		vent *e =
		    map_find(g, d[i].op.id, d[i].op.idlen, th_hash64(d[i].op.id, d[i].op.idlen));
		if (e && e->seq == d[i].op.seq && !e->durable) {
			free(e->doc);
			e->doc = NULL;
			e->doclen = 0;
			e->durable = 1;
		}
	}
	pthread_mutex_unlock(&g->mu);
	for (uint32_t i = 0; i < n; i++)
		free(d[i].owned); /* also a merge the schema refused */
	free(d);
	return TRAWL_OK;
}

/* ---- reading and publishing ---- */

/* get_once: the current state of id into out, and whether it rests on an
 * operation that may not be durable yet (*dep_seq at *dep_epoch). */
static int get_once(idx_ingest *g, const char *id, uint32_t idlen, idx_wlive *out, int *dep,
                    uint64_t *dep_seq, uint64_t *dep_epoch, char *err, size_t errlen)
{
	*out = (idx_wlive){0};
	pthread_mutex_lock(&g->mu);
	int rc = refresh_locked(g, 0, err, errlen);
	cur c = {0};
	if (rc == 0)
		rc = current_locked(g, id, idlen, &c, err, errlen);
	*dep = rc == 0 && c.pending;
	*dep_seq = c.seq;
	*dep_epoch = g->epoch;
	if (rc == 0 && c.exists) {
		out->exists = 1;
		out->version = c.version;
		out->seq_no = c.seq;
		out->doclen = c.doclen;
		if (c.owned) {
			out->doc = c.owned;
			c.owned = NULL;
		} else if (!(out->doc = malloc(c.doclen ? c.doclen : 1))) {
			rc = errf(err, errlen, TRAWL_ENOMEM, "out of memory");
			out->exists = 0;
		} else {
			memcpy(out->doc, c.doc, c.doclen);
		}
	}
	free(c.owned);
	pthread_mutex_unlock(&g->mu);
	return rc;
}

int idx_ingest_get(idx_ingest *g, const char *id, uint32_t idlen, idx_wlive *out, char *err,
                   size_t errlen)
{
	/* a pending state is shown only once it is durable; one that was lost
	 * is read again (the map is read from the log after a failure) */
	for (int attempt = 0; attempt < 3; attempt++) {
		int dep;
		uint64_t seq, epoch;
		int rc = get_once(g, id, idlen, out, &dep, &seq, &epoch, err, errlen);
		if (rc || !dep || idx_wlog_wait_durable(g->log, seq, epoch) == TRAWL_OK)
			return rc;
		free(out->doc);
		*out = (idx_wlive){0};
	}
	return errf(err, errlen, TRAWL_EIO, "[%.*s]: the write log keeps failing", (int)idlen, id);
}

void idx_ingest_published(idx_ingest *g, uint64_t applied)
{
	pthread_mutex_lock(&g->mu);
	if (applied > g->applied) {
		g->applied = applied;
		/* the deletes it holds are remembered a while (tombs.h); an id
		 * written again there is not deleted */
		uint64_t now = clock_mono_ms();
		for (size_t i = 0; i < g->cap; i++)
			for (vent *e = g->tab[i]; e; e = e->next)
				if (e->seq <= applied &&
				    (!e->deleted || idx_tombs_put(g->tombs, e->id, e->idlen, e->seq,
				                                  e->version, now)))
					idx_tombs_del(g->tombs, e->id, e->idlen);
		idx_tombs_expire(g->tombs, now);
		map_drop(g, applied);
	}
	pthread_mutex_unlock(&g->mu);
}

uint64_t idx_ingest_pending(idx_ingest *g)
{
	pthread_mutex_lock(&g->mu);
	uint64_t n = g->n;
	pthread_mutex_unlock(&g->mu);
	return n;
}
