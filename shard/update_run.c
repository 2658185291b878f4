/*
 * update_run.c - `trawl index DIR --update FILE...` (trawl_update in
 * trawl.h): the index's indexer (shard/indexer.c) run over files instead
 * of HTTP requests, so that the two ways in are one path and each tests
 * the other.
 *
 * Each file's writes (JSON Lines documents with ids, each an add or a
 * replacement, or a _bulk body: index, create, update, delete; told apart
 * by the first line, as a build does) are read in chunks of at most 1,000
 * items and given to trawl_indexer_write, which decides them (OpenSearch's
 * rules, the schema check of the build's own parse, the live generation's
 * documents) and logs them durably; failed writes are reported by file and
 * line. Then a refresh: every acknowledged write is in a published
 * generation when the run returns. A run that stops anywhere leaves its
 * acknowledged writes in the log, applied by the next run or server (with
 * no file, a run only does that).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "index/gen.h"
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
	trawl_indexer *x;
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
	int rc = trawl_indexer_write(u->x, u->reqs, n, u->res, u->err, u->errlen);
	if (rc == TRAWL_EBUSY) {
		/* the backlog's bound (a large file outruns the indexer): wait
		 * until what is logged is applied, then once more */
		if ((rc = trawl_indexer_refresh(u->x, 0, 0, u->err, u->errlen)) ||
		    (rc = trawl_indexer_write(u->x, u->reqs, n, u->res, u->err, u->errlen)))
			return rc;
	}
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

/* ---- the run ---- */

/* The live generation's schema (the documents' ids are read with it). */
static int read_schema(upd *u)
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
		if (idx_schema_parse(&u->schema, m->schema_json, strlen(m->schema_json), msg,
		                     sizeof msg))
			rc = errf(u->err, u->errlen, TRAWL_ECORRUPT, "%s/MANIFEST.json: %s", gendir,
			          msg);
	}
	idx_manifest_fini(m);
	free(m);
	return rc;
}

static int run(upd *u, const char *const *files, uint32_t nfiles)
{
	int rc;
	if ((rc = read_schema(u)))
		return rc;
	trawl_indexer_opts xo = {0};
	xo.max_doc_bytes = u->max_doc;
	xo.quiet = 1;
	xo.refresh_ms = 1000;
	if ((rc = trawl_indexer_open(&u->x, u->dir, &xo, u->err, u->errlen)))
		return rc;
	trawl_indexer_stats st0;
	trawl_indexer_get_stats(u->x, &st0);
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
	/* what was logged is applied even when a later file failed (and what
	 * an earlier run left) */
	char msg[LIMIT_ERRMSG_BYTES];
	int frc = trawl_indexer_refresh(u->x, 0, 0, msg, sizeof msg);
	if (frc && !rc)
		rc = errf(u->err, u->errlen, frc,
		          "%s: %s (the writes stay in the write log: the next `trawl index %s "
		          "--update` or `trawl serve` applies them)",
		          u->dir, msg, u->dir);
	trawl_indexer_stats st;
	trawl_indexer_get_stats(u->x, &st);
	u->rep->ops = st.ops_applied;
	u->rep->generations = st.generations;
	u->rep->generation = st.generation;
	u->rep->added = st.added;
	u->rep->replaced = st.replaced;
	u->rep->deleted = st.deleted;
	u->rep->segments = st.segments_written;
	u->rep->docs = st.docs;
	return rc;
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
	trawl_indexer_close(u->x);
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
