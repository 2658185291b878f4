/*
 * indexer.c - the indexer of issue #12 (plan item 5 in
 * docs/ARCHITECTURE.md) as one run over files: trawl_update, behind
 * `trawl index DIR --update FILE...`.
 *
 * Why it exists: writes must reach a generation the way the HTTP writes
 * will, so that the path is one and is tested now. Each file's writes
 * (JSON Lines documents with ids, each an add or a replacement, or a _bulk
 * body: index, create, update, delete) are decided by the ingest
 * (index/ingest.h: OpenSearch's rules, the schema check of the build's own
 * parse, the live generation's documents) and appended to the index's
 * durable write log (DIR/wlog.mdb) in chunks; then the log is read from
 * the live generation's applied_seq + 1 in batches, each applied as a new
 * generation (shard/update.c's sh_apply), the ingest told, and the log
 * trimmed: publish, tell, trim, in that order. A run that stops anywhere
 * leaves every acknowledged write in the log, and the next run (with or
 * without files) applies it first.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "index/gen.h"
#include "index/handles.h"
#include "index/ingest.h"
#include "index/input.h"
#include "root/bulk.h"
#include "sh.h"

/* ---- reading a file line by line ---- */

/* A file's lines: in (owned; idx_input_close) read into buf (owned; free). */
typedef struct lreader {
	idx_input *in;
	char *buf;
	size_t cap, have, start;
	int eof;
	uint64_t line; /* the number of the line last given */
} lreader;

/* lr_next gives the next line (without its newline; a line of more than
 * cap - 1 bytes is skipped and given with *overlong set and its length):
 * 1, 0 at the end, or a negative trawl_err (err names the file). *p points
 * into r's buffer until the next call. */
static int lr_next(lreader *r, const char **p, size_t *len, int *overlong, char *err, size_t errlen)
{
	size_t skipped = 0;
	*overlong = 0;
	for (;;) {
		char *nl = memchr(r->buf + r->start, '\n', r->have - r->start);
		if (nl || (r->eof && r->have > r->start)) {
			size_t end = nl ? (size_t)(nl - r->buf) : r->have;
			*p = r->buf + r->start;
			*len = end - r->start + skipped;
			*overlong = skipped > 0;
			r->start = nl ? end + 1 : end;
			r->line++;
			return 1;
		}
		if (r->eof) {
			if (!skipped)
				return 0;
			/* an over-long last line without its newline */
			*p = r->buf;
			*len = skipped;
			*overlong = 1;
			r->line++;
			return 1;
		}
		if (r->start) {
			memmove(r->buf, r->buf + r->start, r->have - r->start);
			r->have -= r->start;
			r->start = 0;
		}
		if (r->have == r->cap) {
			/* longer than any document may be: skip to its end */
			skipped += r->have;
			r->have = 0;
		}
		size_t n = 0;
		int rc = idx_input_read(r->in, r->buf + r->have, r->cap - r->have, &n, err, errlen);
		if (rc)
			return -rc;
		if (n == 0)
			r->eof = 1;
		r->have += n;
	}
}

/* ---- one run ---- */

/* What a run holds: everything in it is its own, freed by trawl_update,
 * except o and rep (the caller's). */
typedef struct upd {
	const char *dir;
	const trawl_update_opts *o;
	trawl_update_report *rep;
	char *err;
	size_t errlen;
	idx_schema schema;
	size_t max_doc;
	/* why a document cannot be replaced or deleted ("": it can) */
	char why_not[LIMIT_ERRMSG_BYTES];
	uint64_t applied; /* the live generation holds the log up to it */
	idx_wlog *log;
	idx_ingest *ing;
	/* the live generation, for the ingest's questions (open while the
	 * files are read) */
	trawl_index *idx;
	trawl_searcher *s;
	char index_name[LIMIT_INDEX_NAME_BYTES + 1];
	/* the chunk being read: its bytes, and its JSON Lines requests */
	const char *file;
	tbuf body;
	uint64_t first_line; /* of body */
	uint32_t items, max_items;
	size_t max_bytes;
	idx_wreq *reqs;
	idx_wres *res;
	uint64_t *lines;    /* each request's line */
	size_t *id_off;     /* JSON Lines: each id's offset in ids */
	size_t *doc_off;    /* and its document's in body */
	uint64_t *overlong; /* _bulk: action lines whose document line was too long */
	uint32_t noverlong;
	uint64_t action_line; /* _bulk: the last action's line */
	tbuf ids;
	sh_parser parser;
	int failed_run; /* the error is the file's: a _bulk body with a line that is
	                   no action (the other files go on) */
	int inited;     /* parser, body and ids to free */
} upd;

static void item_error(upd *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* item_error reports one write that failed, and counts it. */
static void item_error(upd *u, const char *fmt, ...)
{
	char msg[LIMIT_ERRMSG_BYTES + 256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	u->rep->failed++;
	if (u->o && u->o->on_item_error)
		u->o->on_item_error(u->o->ctx, msg);
}

/* ---- the ingest's callbacks ---- */

/* Opens the live generation for the ingest's questions. */
static int open_live(upd *u)
{
	char msg[LIMIT_ERRMSG_BYTES];
	int rc = trawl_index_open(&u->idx, u->dir, msg, sizeof msg);
	if (!rc)
		rc = idx_searcher_open(&u->s, u->idx, msg, sizeof msg);
	if (rc)
		return errf(u->err, u->errlen, rc,
		            "%s: the live generation cannot be read to decide the writes: %s",
		            u->dir, msg);
	return TRAWL_OK;
}

/* The live generation's document of id. A document that exists cannot be
 * replaced or deleted when the schema does not store what its statistics
 * need: the write fails here, before it is logged, rather than in the
 * indexer, after. */
static int live_doc(void *ctx, const char *id, uint32_t idlen, idx_wlive *out, char *err,
                    size_t errlen)
{
	upd *u = ctx;
	*out = (idx_wlive){0};
	if (!u->s)
		return errf(err, errlen, TRAWL_EINTERNAL, "the live generation is not open");
	uint32_t s, g, d;
	int rc = idx_locate(u->s, id, idlen, &s, &g, &d);
	if (rc == TRAWL_ENOTFOUND)
		return TRAWL_OK;
	if (rc)
		return errf(err, errlen, rc, "%s", trawl_strerror(rc));
	if (u->why_not[0])
		return errf(err, errlen, TRAWL_ESCHEMA, "%s", u->why_not);
	out->exists = 1;
	out->version = 1; /* a batch-built document's */
	out->seq_no = 0;
	rc = idx_seg_doc(u->s, s, g, d, &out->doc, &out->doclen);
	if (rc == TRAWL_ENOTFOUND)
		return TRAWL_OK; /* nothing stored: an update of it fails */
	if (rc)
		return errf(err, errlen, rc, "its stored document: %s", trawl_strerror(rc));
	return TRAWL_OK;
}

/* The schema's check of a document, by the build's own parse. */
static int check_doc(void *ctx, const char *id, uint32_t idlen, const char *doc, size_t len,
                     char *err, size_t errlen)
{
	upd *u = ctx;
	return sh_check_doc(&u->schema, u->max_doc, doc, len, id, idlen, err, errlen);
}

/* ---- chunks of writes into the log ---- */

/* Reports the outcome of each of n requests (those failed in res). */
static void report_results(upd *u, const idx_wres *res, const uint64_t *lines, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (!res[i].result)
			item_error(u, "%s:%llu: [%s]: %d %s: %s", u->file,
			           (unsigned long long)lines[i], res[i].id, res[i].status,
			           res[i].error_type ? res[i].error_type : "error", res[i].reason);
}

static int ingest(upd *u, uint32_t n)
{
	if (n == 0)
		return TRAWL_OK;
	int rc = idx_ingest_write(u->ing, u->reqs, n, u->res, u->err, u->errlen);
	if (rc)
		return rc;
	report_results(u, u->res, u->lines, n);
	return TRAWL_OK;
}

/* The chunk's JSON Lines requests, decided and logged. */
static int flush_jsonl(upd *u)
{
	for (uint32_t i = 0; i < u->items; i++) {
		u->reqs[i].id = (const char *)u->ids.data + u->id_off[i];
		u->reqs[i].doc = (const char *)u->body.data + u->doc_off[i];
	}
	int rc = ingest(u, u->items);
	u->items = 0;
	tbuf_reset(&u->body);
	tbuf_reset(&u->ids);
	return rc;
}

/* The chunk's _bulk items, read, decided and logged. */
static int flush_bulk(upd *u)
{
	if (u->items == 0) {
		tbuf_reset(&u->body);
		return TRAWL_OK;
	}
	os_bulk b;
	int status;
	char msg[LIMIT_ERRMSG_BYTES];
	int rc = os_bulk_parse((const char *)u->body.data, u->body.len, u->index_name, &b, &status,
	                       msg, sizeof msg);
	if (rc) {
		/* the reader checked every action line: a chunk too large, or no memory */
		errf(u->err, u->errlen, rc, "%s, the items from line %llu: %s", u->file,
		     (unsigned long long)u->first_line, msg);
	} else {
		uint32_t n = 0;
		for (uint32_t i = 0; i < b.n; i++) {
			os_bulk_item *it = &b.items[i];
			uint64_t line = u->first_line + it->line - 1;
			int too_long = 0;
			for (uint32_t k = 0; k < u->noverlong; k++)
				too_long |= u->overlong[k] == line;
			if (too_long)
				item_error(u,
				           "%s:%llu: the line after this action is longer than %zu "
				           "bytes (the document limit)",
				           u->file, (unsigned long long)line, u->max_doc);
			else if (it->failed)
				item_error(u, "%s:%llu: %d %s: %s", u->file,
				           (unsigned long long)line, it->status,
				           it->error_type ? it->error_type : "error",
				           it->reason ? it->reason : "out of memory");
			if (too_long || it->failed)
				continue;
			u->reqs[n] = it->req;
			u->lines[n++] = line;
		}
		rc = ingest(u, n);
		os_bulk_free(&b);
	}
	tbuf_reset(&u->body);
	u->items = 0;
	u->noverlong = 0;
	return rc;
}

/* Whether the chunk must be flushed before an item of len bytes more
 * (its next line may be a document of up to max_doc bytes). */
static int chunk_full(const upd *u, size_t len)
{
	return u->items == u->max_items ||
	       (u->items && u->body.len + len + u->max_doc + 2 > u->max_bytes);
}

/* Appends a line to the chunk (and its newline). */
static int chunk_line(upd *u, const char *p, size_t len, uint64_t line)
{
	if (u->body.len == 0)
		u->first_line = line;
	int rc = tbuf_append(&u->body, p, len);
	if (!rc)
		rc = tbuf_append(&u->body, "\n", 1);
	return rc ? errf(u->err, u->errlen, rc, "%s: out of memory", u->file) : TRAWL_OK;
}

/* Keeps a document's id (sh_parse_doc's callback). */
static int keep_id(void *ctx, const sh_doc *d)
{
	upd *u = ctx;
	u->id_off[u->items] = u->ids.len;
	u->reqs[u->items].idlen = (uint32_t)d->id_len;
	return tbuf_append(&u->ids, d->id, d->id_len);
}

/* A JSON Lines line: a document with its id, added or replacing. */
static int jsonl_line(upd *u, const char *p, size_t len, int overlong, uint64_t line)
{
	u->rep->items++;
	if (overlong) {
		item_error(u, "%s:%llu: line is longer than %zu bytes (the document limit)",
		           u->file, (unsigned long long)line, u->max_doc);
		return TRAWL_OK;
	}
	int rc;
	if (chunk_full(u, len) && (rc = flush_jsonl(u)))
		return rc;
	u->reqs[u->items] =
	    (idx_wreq){.act = IDX_WACT_INDEX, .if_seq_no = -1, .if_primary_term = -1};
	rc = sh_parse_doc(&u->parser, p, len, u->file, line, NULL, 0, keep_id, u);
	if (rc == TRAWL_ENOMEM)
		return errf(u->err, u->errlen, rc, "%s:%llu: out of memory", u->file,
		            (unsigned long long)line);
	if (rc) {
		item_error(u, "%s", u->parser.errmsg);
		return TRAWL_OK;
	}
	u->doc_off[u->items] = u->body.len;
	u->reqs[u->items].doclen = (uint32_t)len;
	u->lines[u->items++] = line;
	return chunk_line(u, p, len, line);
}

/* A _bulk line: an action, or the document (or update) line after one. */
static int bulk_line(upd *u, const char *p, size_t len, int overlong, uint64_t line, int *pending)
{
	int rc;
	if (*pending) {
		*pending = 0;
		if (overlong) {
			/* the item fails (flush_bulk says why); its line stays a line */
			u->overlong[u->noverlong++] = u->action_line;
			p = "{}";
			len = 2;
		}
		return chunk_line(u, p, len, line);
	}
	int opens, kind = overlong ? SH_BULK_NONE : sh_bulk_kind(&u->parser, p, len, &opens);
	if (kind == SH_BULK_NONE) {
		u->failed_run = 1;
		return errf(u->err, u->errlen, TRAWL_EDOC,
		            "%s:%llu: not a _bulk action line ({\"index\"|\"create\"|\"update\"|"
		            "\"delete\": {...}}); nothing from this line on was written",
		            u->file, (unsigned long long)line);
	}
	u->rep->items++;
	if (chunk_full(u, len) && (rc = flush_bulk(u)))
		return rc;
	u->items++;
	*pending = kind != SH_BULK_DELETE;
	u->action_line = line;
	return chunk_line(u, p, len, line);
}

/* Reads one file of writes into the log: JSON Lines, or a _bulk body
 * (told apart as a build does: by whether its first line is an action). */
static int read_file(upd *u, const char *path)
{
	u->file = strcmp(path, "-") ? path : "<stdin>";
	lreader r = {0};
	int rc = idx_input_open(&r.in, path, u->err, u->errlen);
	if (rc)
		return rc;
	r.cap = u->max_doc + 2;
	if (!(r.buf = malloc(r.cap))) {
		idx_input_close(r.in);
		return errf(u->err, u->errlen, TRAWL_ENOMEM, "out of memory");
	}
	int mode = 0;    /* 0 undecided, 1 JSON Lines, 2 _bulk */
	int pending = 0; /* _bulk: the next line is the last action's document */
	tbuf_reset(&u->body);
	tbuf_reset(&u->ids);
	u->items = 0;
	u->noverlong = 0;
	for (;;) {
		const char *p = NULL;
		size_t len = 0;
		int overlong = 0, got = lr_next(&r, &p, &len, &overlong, u->err, u->errlen);
		if (got <= 0) {
			rc = -got;
			break;
		}
		if (!overlong && sh_is_blank(p, len)) {
			if (mode == 2 && (rc = chunk_line(u, "", 0, r.line)))
				break; /* the chunk keeps its line numbers */
			continue;
		}
		if (mode == 0) {
			int opens;
			mode = !overlong && sh_bulk_kind(&u->parser, p, len, &opens) != SH_BULK_NONE
			           ? 2
			           : 1;
		}
		rc = mode == 1 ? jsonl_line(u, p, len, overlong, r.line)
		               : bulk_line(u, p, len, overlong, r.line, &pending);
		if (rc)
			break;
	}
	/* what was read before an error still goes in: it is whole items (an
	 * action whose document line never came fails as os_bulk_parse says) */
	int frc = mode == 2 ? flush_bulk(u) : flush_jsonl(u);
	free(r.buf);
	idx_input_close(r.in);
	return rc ? rc : frc;
}

/* ---- the log into generations ---- */

/* A batch of operations read from the log, copied: ops point into bytes;
 * all owned by drain, which frees them. */
typedef struct opbatch {
	idx_wop *ops;
	uint32_t n, cap;
	tbuf bytes; /* ids and documents, back to back */
	size_t *off;
} opbatch;

static int copy_op(void *ctx, const idx_wop *op)
{
	opbatch *b = ctx;
	if (b->n == b->cap) {
		uint32_t nc = b->cap ? 2 * b->cap : 1024;
		idx_wop *no = realloc(b->ops, nc * sizeof *no);
		if (!no)
			return -TRAWL_ENOMEM;
		b->ops = no;
		size_t *nf = realloc(b->off, nc * sizeof *nf);
		if (!nf)
			return -TRAWL_ENOMEM;
		b->off = nf;
		b->cap = nc;
	}
	b->off[b->n] = b->bytes.len;
	b->ops[b->n++] = *op;
	if (tbuf_append(&b->bytes, op->id, op->idlen) ||
	    (op->doclen && tbuf_append(&b->bytes, op->doc, op->doclen)))
		return -TRAWL_ENOMEM;
	return 0;
}

/* Applies what the log holds after the live generation, batch after
 * batch: each published, then the ingest told, then the log trimmed. */
static int drain(upd *u)
{
	opbatch b = {0};
	tbuf_init(&b.bytes, SIZE_MAX); /* bounded by the batch (LIMIT_UPDATE_BATCH_BYTES) */
	int rc = TRAWL_OK;
	for (;;) {
		b.n = 0;
		tbuf_reset(&b.bytes);
		rc = idx_wlog_read(u->log, u->applied + 1, LIMIT_UPDATE_BATCH_OPS,
		                   LIMIT_UPDATE_BATCH_BYTES, copy_op, &b, u->err, u->errlen);
		if (rc < 0)
			rc = errf(u->err, u->errlen, -rc, "%s/wlog.mdb: out of memory", u->dir);
		if (rc || b.n == 0)
			break;
		for (uint32_t i = 0; i < b.n; i++) {
			b.ops[i].id = (const char *)b.bytes.data + b.off[i];
			b.ops[i].doc = b.ops[i].doclen ? b.ops[i].id + b.ops[i].idlen : NULL;
		}
		uint64_t last = b.ops[b.n - 1].seq;
		sh_apply_report ar;
		char msg[LIMIT_ERRMSG_BYTES];
		if ((rc = sh_apply(u->dir, b.ops, b.n, last, &ar, msg, sizeof msg))) {
			errf(u->err, u->errlen, rc,
			     "applying the write log's operations %llu to %llu: %s (they stay in "
			     "the "
			     "log: the next `trawl index %s --update` applies them first)",
			     (unsigned long long)b.ops[0].seq, (unsigned long long)last, msg,
			     u->dir);
			break;
		}
		idx_ingest_published(u->ing, last);
		if ((rc = idx_wlog_trim(u->log, last, u->err, u->errlen)))
			break;
		u->applied = last;
		trawl_update_report *r = u->rep;
		r->ops += b.n;
		r->generations++;
		r->generation = ar.generation;
		r->docs = ar.docs;
		r->added += ar.added;
		r->replaced += ar.replaced;
		r->deleted += ar.deleted;
		r->segments += ar.segments;
	}
	free(b.ops);
	free(b.off);
	tbuf_fini(&b.bytes);
	return rc;
}

/* ---- the run ---- */

/* Reads the live generation's manifest: its schema, applied_seq and
 * number. */
static int read_live(upd *u)
{
	uint64_t gen;
	int rc = idx_gen_current(u->dir, &gen, u->err, u->errlen);
	if (rc == TRAWL_ENOTFOUND)
		return errf(u->err, u->errlen, rc,
		            "%s: no index here to update: build one first (trawl index %s FILE...)",
		            u->dir, u->dir);
	if (rc)
		return rc;
	char name[32], gendir[LIMIT_PATH_BYTES];
	idx_gen_dirname(name, gen);
	snprintf(gendir, sizeof gendir, "%s/%s", u->dir, name);
	idx_manifest *m = calloc(1, sizeof *m);
	if (!m)
		return errf(u->err, u->errlen, TRAWL_ENOMEM, "out of memory");
	if ((rc = idx_manifest_read(gendir, m, u->err, u->errlen)) == TRAWL_OK) {
		char msg[512];
		u->applied = m->applied_seq;
		u->rep->generation = m->generation;
		u->rep->docs = m->docs;
		if (idx_schema_parse(&u->schema, m->schema_json, strlen(m->schema_json), msg,
		                     sizeof msg))
			rc = errf(u->err, u->errlen, TRAWL_ECORRUPT, "%s/MANIFEST.json: %s", gendir,
			          msg);
	}
	idx_manifest_fini(m);
	free(m);
	if (rc)
		return rc;
	/* what a replacement or a delete needs (sh_apply refuses it too) */
	if (sh_schema_check_stored(&u->schema, 1,
	                           "so a document cannot be replaced or deleted (the index's "
	                           "statistics need its text): only new ids can be added",
	                           u->why_not, sizeof u->why_not) == TRAWL_OK)
		u->why_not[0] = 0;
	return TRAWL_OK;
}

/* Opens the log (its owner's lock keeps a second run out), then reads the
 * live generation and checks that the log continues it. */
static int open_log(upd *u)
{
	char path[LIMIT_PATH_BYTES];
	snprintf(path, sizeof path, "%s/wlog.mdb", u->dir);
	uint64_t gen;
	int rc = idx_gen_current(u->dir, &gen, u->err, u->errlen);
	if (rc == TRAWL_ENOTFOUND) /* said before a log is made in a directory with no index */
		return read_live(u);
	if (rc || (rc = idx_wlog_open(&u->log, path, 0, u->err, u->errlen)) || (rc = read_live(u)))
		return rc;
	idx_wlog_info in;
	idx_wlog_stat(u->log, &in);
	if (in.next <= u->applied)
		return errf(u->err, u->errlen, TRAWL_ECORRUPT,
		            "%s: the log's next operation would be number %llu, but the live "
		            "generation holds its operations up to %llu: this log does not belong "
		            "to this index's generations",
		            path, (unsigned long long)in.next, (unsigned long long)u->applied);
	return TRAWL_OK;
}

static int run(upd *u, const char *const *files, uint32_t nfiles)
{
	int rc;
	if ((rc = open_log(u)))
		return rc;
	if ((rc = idx_ingest_open(&u->ing, u->log, u->applied, u->max_doc, live_doc, check_doc, u,
	                          u->err, u->errlen)))
		return rc;
	const char *slash = strrchr(u->dir, '/');
	const char *base = slash && slash[1] ? slash + 1 : u->dir;
	snprintf(u->index_name, sizeof u->index_name, "%s", base[0] ? base : "index");
	sh_parser_init(&u->parser, &u->schema, u->max_doc);
	tbuf_init(&u->body, SIZE_MAX); /* bounded by max_bytes and a document */
	tbuf_init(&u->ids, SIZE_MAX);  /* max_items ids */
	u->inited = 1;
	/* a chunk's operations fit one append of the log, each at most a
	 * document, its id and its record's header */
	size_t fit = LIMIT_WLOG_APPEND_BYTES / (u->max_doc + LIMIT_ID_BYTES + 64);
	u->max_items = fit < 1                          ? 1
	               : fit < LIMIT_UPDATE_CHUNK_ITEMS ? (uint32_t)fit
	                                                : LIMIT_UPDATE_CHUNK_ITEMS;
	u->max_bytes = LIMIT_UPDATE_CHUNK_BYTES;
	u->reqs = calloc(u->max_items, sizeof *u->reqs);
	u->res = calloc(u->max_items, sizeof *u->res);
	u->lines = calloc(u->max_items, sizeof *u->lines);
	u->id_off = calloc(u->max_items, sizeof *u->id_off);
	u->doc_off = calloc(u->max_items, sizeof *u->doc_off);
	u->overlong = calloc(u->max_items, sizeof *u->overlong);
	if (!u->reqs || !u->res || !u->lines || !u->id_off || !u->doc_off || !u->overlong)
		return errf(u->err, u->errlen, TRAWL_ENOMEM, "out of memory");
	/* what an earlier run left in the log goes first, then the files,
	 * decided against the generation that is then live */
	if ((rc = drain(u)) || (nfiles && (rc = open_live(u))))
		return rc;
	for (uint32_t i = 0; i < nfiles; i++) {
		rc = read_file(u, files[i]);
		if (rc && !u->failed_run)
			break; /* not the file's fault: stop */
		if (rc) {
			/* a file that is no _bulk body past some line: reported as a
			 * failed write, and the other files go on */
			item_error(u, "%s", u->err);
			u->err[0] = 0;
			u->failed_run = 0;
			rc = TRAWL_OK;
		}
	}
	/* the live generation is asked nothing more: let go of it */
	if (u->s)
		trawl_searcher_close(u->s);
	if (u->idx)
		trawl_index_close(u->idx);
	u->s = NULL;
	u->idx = NULL;
	/* what was logged is applied even when a later file failed */
	int drc = drain(u);
	return rc ? rc : drc;
}

int trawl_update(const char *dir, const char *const *files, uint32_t nfiles,
                 const trawl_update_opts *opts, trawl_update_report *rep, char *errbuf,
                 size_t errlen)
{
	double t0 = clock_mono_s();
	trawl_update_report r = {0};
	char scratch[8];
	upd *u = calloc(1, sizeof *u);
	if (!u)
		return errf(errbuf, errlen, TRAWL_ENOMEM, "out of memory");
	u->dir = dir;
	u->o = opts;
	u->rep = &r;
	u->err = errbuf ? errbuf : scratch;
	u->errlen = errbuf ? errlen : sizeof scratch;
	u->max_doc = opts && opts->max_doc_bytes ? opts->max_doc_bytes : TRAWL_MAX_DOC_BYTES;
	int rc;
	if (!dir || !*dir || strlen(dir) > LIMIT_PATH_BYTES - 128)
		rc = errf(u->err, u->errlen, TRAWL_EINVAL,
		          "index directory name missing or too long");
	else if (u->max_doc > LIMIT_STORED_DOC_BYTES)
		rc = errf(u->err, u->errlen, TRAWL_ELIMIT,
		          "documents of %zu bytes; the limit is %u (LIMIT_STORED_DOC_BYTES)",
		          u->max_doc, LIMIT_STORED_DOC_BYTES);
	else
		rc = run(u, files, nfiles);
	if (u->s)
		trawl_searcher_close(u->s);
	if (u->idx)
		trawl_index_close(u->idx);
	idx_ingest_close(u->ing);
	idx_wlog_close(u->log);
	if (u->inited) {
		sh_parser_fini(&u->parser);
		tbuf_fini(&u->body);
		tbuf_fini(&u->ids);
	}
	free(u->reqs);
	free(u->res);
	free(u->lines);
	free(u->id_off);
	free(u->doc_off);
	free(u->overlong);
	free(u);
	r.seconds = clock_mono_s() - t0;
	if (rep)
		*rep = r;
	return rc;
}
