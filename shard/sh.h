/*
 * sh.h - the stages of the index-build pipeline, as the files of shard/
 * see each other (nothing here is public; include/trawl/trawl.h is).
 *
 * A build flows through them in this order (docs/ARCHITECTURE.md):
 *
 *   split.c   reads the input files and cuts them into work items: whole
 *             lines, at most a few MiB each, numbered in input order;
 *   queue.c   hands items to workers (threads of this process, or
 *             `trawl build-worker` processes over nng) with leases, and
 *             takes their runs back;
 *   work.c    a worker: parses an item's lines (parse.c), routes every
 *             document to its shard by jump_consistent_hash(XXH3_64(id)),
 *             compresses its stored fields and inverts it into one sorted
 *             run per shard, all in one run file (run.c);
 *   merge.c   per shard: merges the runs' documents (later ones win, deletes
 *             remove) and then their terms into the shard's LMDB file;
 *   join.c    once every shard is merged: the global statistics (document
 *             count, field lengths, the document frequency of every term
 *             across all shards) go into every shard; checksums, manifest,
 *             and the atomic publish of the generation (index/gen.c).
 *   builder.c the builder (trawl_builder_*) that drives them, the build
 *             directory that makes a build resumable, progress and report.
 *
 * Beside them, for build-worker processes: remote.c (the listener and the
 * worker), msg.c (their messages) and audit.c (the builder's check of a
 * run from a worker against its item, before the run counts).
 */
#ifndef TRAWL_SHARD_SH_H
#define TRAWL_SHARD_SH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/buf.h"
#include "index/codec.h"
#include "index/index_int.h"
#include "index/wlog.h"

#define SH_RUN_VERSION 2 /* 2: documents carry their typed values */
#define SH_ZSTD_LEVEL 3  /* of stored documents in runs (work.c, audit.c) */

/* What a worker needs besides the item; fixed for a whole build. */
typedef struct sh_params {
	idx_schema schema;
	const char *schema_json;
	uint32_t nshards;
	uint32_t max_doc;     /* bytes in one document */
	int skip_bad;         /* record bad lines and go on, instead of failing */
	const uint8_t *zdict; /* zstd dictionary for stored documents (may be NULL) */
	size_t zdict_len;
	uint64_t hash; /* of all of the above (sh_params_hash): a run made
	                  under other parameters is never reused */
} sh_params;

/* sh_params_hash sets p->hash from the other members. */
void sh_params_hash(sh_params *p);

/* A work item: whole lines of one input file. */
typedef struct sh_item {
	uint64_t id;         /* its place in the build, from 0; the same on every rerun */
	uint64_t hash;       /* XXH3-64 of bytes, seeded with first_line * 2 + bulk: a rerun
	                        reuses a run only for the same bytes from the same place */
	uint64_t first_line; /* line number, in source, of the first line */
	int bulk;            /* the lines are Elasticsearch _bulk NDJSON */
	const char *source;  /* the file's name, for messages */
	const char *bytes;   /* len bytes; every line ends with '\n' */
	size_t len;
} sh_item;

/* The splitter puts this, then the line's length in decimal, in place of a
 * line longer than any document may be, so that the worker reports it with
 * its line number and a _bulk file stays in step. */
#define SH_OVERLONG "\x01\x02"

/* ---- parse.c: documents out of lines ---- */

/* _bulk action kinds. */
enum { SH_BULK_NONE = 0, SH_BULK_INDEX, SH_BULK_DELETE, SH_BULK_OTHER };

/* One parsed document, valid during the callback. */
typedef struct sh_doc {
	const uint8_t *id;
	size_t id_len;
	const char *stored; /* the stored JSON (the schema's stored subset) */
	size_t stored_len;
	const uint8_t *texts; /* per text field: u32 length, then the text */
	size_t texts_len;
	int tomb;             /* a _bulk delete of id: no stored, no texts */
	const uint8_t *typed; /* the typed fields' values: per typed field, an
	                         idx_values_parse record (index/values.h) */
	size_t typed_len;
} sh_doc;

typedef int (*sh_doc_fn)(void *ctx, const sh_doc *d);

typedef struct sh_parser {
	const idx_schema *schema;
	size_t max_doc;
	int strict; /* documents scanned with IDX_JSCAN_STRICT (sh_check_doc) */
	tbuf keybuf, idbuf, texts, stored, bulk_id, typed, scratch; /* scratch */
	char errmsg[1024];
} sh_parser;

void sh_parser_init(sh_parser *p, const idx_schema *schema, size_t max_doc);
void sh_parser_fini(sh_parser *p);

/*
 * sh_parse_doc parses one JSON document (a JSON Lines line, or the line
 * after a _bulk index action, whose _id, if any, is id_override) and hands
 * it to fn. On a bad document returns TRAWL_EJSON, EUTF8, EDOC or ELIMIT
 * with p->errmsg naming src, line and column. fn's nonzero return is
 * returned as is.
 */
int sh_parse_doc(sh_parser *p, const char *json, size_t len, const char *src, uint64_t line,
                 const uint8_t *id_override, size_t id_override_len, sh_doc_fn fn, void *ctx);

/*
 * sh_check_doc: whether a build would take doc (len bytes) as the document
 * of id (idlen bytes; NULL: its own "id" field), by the same parse: the
 * write path checks a document with it before acknowledging it, so that
 * the indexer never meets one it cannot index. The scan is strict
 * (IDX_JSCAN_STRICT): it also refuses what jansson would (duplicate keys at
 * any depth, a NUL in a key, numbers out of jansson's range), so that the
 * write path trusts it in place of a parse of its own. TRAWL_OK, or the
 * parse's error with its message ("document:1:COLUMN: ...") in err.
 */
int sh_check_doc(const idx_schema *schema, size_t max_doc, const char *doc, size_t len,
                 const char *id, size_t idlen, char *err, size_t errlen);

/* sh_bulk_kind: the SH_BULK_* kind of line if it is a _bulk action line
 * ({"index": {...}} and the like), else SH_BULK_NONE; *opens: whether
 * sh_parse_item would take the next line as this action's document. */
int sh_bulk_kind(sh_parser *p, const char *line, size_t len, int *opens);

/* Counts of an item's lines. */
typedef struct sh_linecount {
	uint64_t lines;    /* non-blank lines */
	uint64_t bytes;    /* bytes of documents and actions */
	uint64_t rejected; /* bad lines skipped */
} sh_linecount;

/*
 * sh_parse_item parses every line of it. A bad line fails the call (error in
 * p->errmsg) unless skip_bad; then on_reject(ctx, msg) is called for it and
 * parsing goes on.
 */
int sh_parse_item(sh_parser *p, const sh_item *it, int skip_bad, sh_doc_fn fn,
                  void (*on_reject)(void *ctx, const char *msg), void *ctx, sh_linecount *count);

/* sh_is_blank: whether the n bytes at s are spaces, tabs and CRs only. */
int sh_is_blank(const char *s, size_t n);

/* ---- split.c: input files into work items ---- */

typedef struct sh_splitter sh_splitter;

/* Called with each item; the callee owns it->bytes (malloc'ed, free()) from
 * then on, even on error. Nonzero stops the split and is returned. */
typedef int (*sh_item_fn)(void *ctx, sh_item *it);

/* sh_splitter_new: items of about item_bytes, lines of at most max_doc
 * bytes; item ids start at first_id. */
int sh_splitter_new(sh_splitter **out, size_t item_bytes, size_t max_doc, uint64_t first_id);
void sh_splitter_free(sh_splitter *sp);

/* sh_split_file cuts path ("-": standard input) into items; errors (an
 * unreadable or damaged file) name the file. source must outlive the items. */
int sh_split_file(sh_splitter *sp, const char *path, const char *source, sh_item_fn fn, void *ctx,
                  char *err, size_t errlen);

/* sh_split_add_line appends a line (bulk: an action line and its document
 * line) to the pending item of documents given one by one
 * (trawl_builder_add_json, trawl_reshard); sh_split_flush emits that item. */
int sh_split_add_line(sh_splitter *sp, const char *line, size_t len, int bulk, sh_item_fn fn,
                      void *ctx);
int sh_split_flush(sh_splitter *sp, sh_item_fn fn, void *ctx);

/* Progress of the file being split: bytes consumed and its size (0 unknown). */
void sh_split_progress(const sh_splitter *sp, uint64_t *consumed, uint64_t *size);

/* sh_split_next_id: the id the next item will get. */
uint64_t sh_split_next_id(const sh_splitter *sp);

/* ---- builder.c, for reshard.c and update.c ---- */

/* How a build compresses its stored documents (sh_builder_store). */
enum {
	SH_STORE_TRAIN = 0, /* a dictionary trained on the first work item (a build's) */
	SH_STORE_DICT,      /* the given dictionary, as it is (len 0: none) */
	SH_STORE_NOTHING,   /* no stored documents at all: a scratch build read only
	                       for its statistics */
};

/*
 * sh_builder_store, before the first document: with SH_STORE_DICT the
 * build's stored documents are compressed with dict (len bytes, copied;
 * written into every shard file as its "zdict", so each stays
 * self-contained) instead of a dictionary trained on the first work item;
 * with SH_STORE_NOTHING none are stored (the parse and the postings are
 * the same: only "docs" and "zdict" are left empty). Not with a listen
 * URL (a build worker is told the parameters, not this). TRAWL_EINVAL
 * after the first document.
 */
int sh_builder_store(trawl_builder *b, int how, const void *dict, size_t len);

/* sh_builder_add_indexed adds json with external id `id` (a _bulk index
 * action, so a different "id" member of json does not count). */
int sh_builder_add_indexed(trawl_builder *b, const char *id, size_t idl, const char *json,
                           size_t len);

/* sh_builder_check_stored: TRAWL_ESCHEMA unless every text field is stored. */
int sh_builder_check_stored(const trawl_builder *b, char *err, size_t errlen);

/* sh_schema_check_stored: TRAWL_ESCHEMA, err naming the field and ending
 * with why, unless s stores every text field (and, with typed, every
 * indexed typed field): what indexing a stored document again needs. */
int sh_schema_check_stored(const idx_schema *s, int typed, const char *why, char *err,
                           size_t errlen);

/* ---- update.c: the indexer's apply step (issue #12) ---- */

/* What sh_apply did. */
typedef struct sh_apply_report {
	uint64_t generation;    /* published */
	uint64_t docs;          /* its live documents */
	uint64_t added;         /* documents written: new ids and replacements */
	uint64_t replaced;      /* of them, replacing a live document */
	uint64_t deleted;       /* live documents removed by deletes */
	uint64_t absent;        /* deletes of ids no live document has */
	uint32_t segments;      /* segment files written */
	uint32_t delsets;       /* delete set files written */
	int base_written;       /* the statistics base of a whole-built generation */
	int rebased;            /* the statistics' delta folded into a new base */
	uint64_t bytes_written; /* bytes of the generation's own files (not shared) */
	double seconds;
} sh_apply_report;

/*
 * sh_apply publishes the next generation of the index in dir: the live one
 * with ops[0..n) applied in order (for an id several times, its last
 * operation counts; an index is the id's whole new document), holding the
 * write log's operations up to applied_seq (not below the live
 * generation's, and above it when n > 0). Under dir/.lock. New documents
 * become new segments (one per shard they land in, s%03u-g%06llu.mdb),
 * replaced and deleted ones bits in new delete sets, the statistics a new
 * delta; every unchanged file of the live generation is hard-linked.
 * Deleting or replacing needs every text field and indexed typed field
 * stored (TRAWL_ESCHEMA naming the field); a shard past LIMIT_SEGMENTS
 * segments is TRAWL_ELIMIT (compact the index). On any error the live
 * generation stays live and nothing of the attempt is left in dir; err
 * says what failed. rep (may be NULL) is filled either way (seconds).
 * ops are the caller's, read only during the call.
 */
int sh_apply(const char *dir, const idx_wop *ops, uint32_t n, uint64_t applied_seq,
             sh_apply_report *rep, char *err, size_t errlen);

/* The live generation's answers sh_apply asks for (the read side's
 * idx_locate and idx_seg_doc), and a hook run before each step (nonzero
 * fails it): for unit tests, which give a model of the live generation
 * and make each step fail in turn, and for the indexer, which has the
 * live generation open already (opening it again would cost a read of
 * every file it has not checked). */
typedef struct sh_apply_hooks {
	int (*locate)(void *ctx, const char *id, uint32_t idlen, uint32_t *shard, uint32_t *seg,
	              uint32_t *doc); /* NULL: the live generation's read side */
	int (*source)(void *ctx, uint32_t shard, uint32_t seg, uint32_t doc, char **out,
	              size_t *len);               /* malloc'ed; with locate */
	int (*step)(void *ctx, const char *name); /* NULL: none */
	void *ctx;
	/* with locate: the generation the caller's answers are of (0: any);
	 * another one live fails the apply (TRAWL_EBUSY): the caller must
	 * look at the new one first */
	uint64_t generation;
	/* a merge (the indexer's policy, or a compaction): ops are the live
	 * documents of the segments to merge, written again as they are (with
	 * their own _seq_no and _version, each its stored source), and
	 * applied_seq may be the live generation's; the statistics are kept as
	 * they are (the same documents go out and in), not built again */
	int merge;
	/* train a new zstd dictionary for the new segments (a compaction)
	 * rather than reuse the live generation's (update.c: pick_zdict) */
	int fresh_dict;
} sh_apply_hooks;

/* sh_apply_with is sh_apply with hooks (NULL: sh_apply). */
int sh_apply_with(const char *dir, const idx_wop *ops, uint32_t n, uint64_t applied_seq,
                  const sh_apply_hooks *hooks, sh_apply_report *rep, char *err, size_t errlen);

/* ---- work.c: an item into its run ---- */

typedef struct sh_worker sh_worker;

int sh_worker_new(sh_worker **out);
void sh_worker_free(sh_worker *w);

/*
 * sh_work parses, analyses and inverts the item into a run file's bytes in
 * out (reset first). Errors: a bad line without skip_bad (the message in
 * err names file, line and column), TRAWL_ENOMEM, TRAWL_ELIMIT.
 */
int sh_work(sh_worker *w, const sh_params *p, const sh_item *it, tbuf *out, char *err,
            size_t errlen);

/* ---- run.c: the run file (docs/FORMAT.md, "Build runs") ---- */

#define SH_RUN_MAGIC "TRAWLRUN"
#define SH_RUN_HEAD 80 /* bytes before the shard table */

typedef struct sh_run {
	uint8_t *map; /* the whole file, mmap'ed (or borrowed bytes) */
	size_t len;
	int mapped;
	uint64_t item, item_hash, params_hash;
	uint64_t lines, bytes_in, rejected, docs;
	uint32_t nshards, nfields;
	const char *rejects; /* NUL-separated messages */
	size_t rejects_len;
} sh_run;

/* One shard's part of a run. */
typedef struct sh_section {
	uint32_t ndocs, nterms;
	const uint8_t *docs, *docs_end;
	const uint8_t *terms, *terms_end;
} sh_section;

/*
 * sh_run_check validates a run's bytes (magic, version, checksum, table)
 * and fills r to read them (r borrows the bytes). TRAWL_ECORRUPT with err.
 */
int sh_run_check(sh_run *r, const uint8_t *bytes, size_t len, char *err, size_t errlen);

/* sh_run_open maps the run file at path and checks it; close with sh_run_close. */
int sh_run_open(sh_run *r, const char *path, char *err, size_t errlen);
void sh_run_close(sh_run *r);

/* sh_run_fits: r was made for item (hash item_hash) under p: its
 * parameters hash, shard count and field count agree (a run's table is
 * read with p's shard count, so a header that disagrees is never used). */
int sh_run_fits(const sh_run *r, const sh_params *p, uint64_t item, uint64_t item_hash);

/* sh_run_section: shard s's part of r (checked by sh_run_check). */
void sh_run_section(const sh_run *r, uint32_t s, sh_section *out);

/* sh_run_write writes bytes to dir/NAME atomically (a temporary file,
 * fsync, rename) where NAME is sh_run_name's. */
int sh_run_write(const char *dir, uint64_t item, const uint8_t *bytes, size_t len, char *err,
                 size_t errlen);

/* sh_run_name: "item-00000042.run". */
void sh_run_name(char out[32], uint64_t item);

/* Reading a section's records (the encodings are in docs/FORMAT.md). */
typedef struct sh_rdoc {
	uint64_t hash;
	uint64_t seq; /* item << 32 | place in the item: later wins */
	int tomb;
	const uint8_t *id;
	uint32_t id_len;
	uint32_t lens[LIMIT_FIELDS]; /* tokens kept per text field */
	const uint8_t *rec;          /* the stored record (docstore.h) */
	uint32_t rec_len;
	const uint8_t *typed; /* the typed fields' values (index/values.h's
	                         records; not yet checked) */
	uint32_t typed_len;
} sh_rdoc;

/* sh_rdoc_next decodes the record at *p (advanced); 0 or TRAWL_ECORRUPT. */
int sh_rdoc_next(const uint8_t **p, const uint8_t *end, uint32_t nfields, sh_rdoc *d);

/* Little-endian integers at p (the caller checked the length). */
static inline uint64_t sh_rd64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static inline uint32_t sh_rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* sh_getv: the varint at *p (advanced); 0, or -1 if it runs past end. */
static inline int sh_getv(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	const uint8_t *q = *p;
	if (q < end && *q < 0x80) {
		*v = *q;
		*p = q + 1;
		return 0;
	}
	q = idx_varint_get(q, end, v);
	if (!q)
		return -1;
	*p = q;
	return 0;
}

/* ---- audit.c: a run from a build-worker process, checked against its item ---- */

typedef struct sh_auditor sh_auditor;

/* sh_auditor_new: TRAWL_OK, TRAWL_ENOMEM, or TRAWL_EIO (no random key). One
 * thread at a time uses an auditor. */
int sh_auditor_new(sh_auditor **out);
void sh_auditor_free(sh_auditor *a);

/*
 * sh_run_audit checks that r (passed by sh_run_check) is exactly the run of
 * `it` under p: every document, stored record, token count and term of it
 * derived from the builder's own parse and analysis of the item, nothing
 * added, left out, moved or changed (audit.c says how). TRAWL_OK;
 * TRAWL_ECORRUPT with err naming the first difference (the run is not
 * this item's work); TRAWL_ENOMEM; or, when the item itself has a bad line
 * and p->skip_bad is off, that line's error and message, with *item_bad
 * set (the build fails as it would with a worker of this process).
 */
int sh_run_audit(sh_auditor *a, const sh_params *p, const sh_item *it, const sh_run *r,
                 int *item_bad, char *err, size_t errlen);

/* sh_item_audit parses it under p: TRAWL_OK, or the error of its first bad
 * line (without skip_bad) with the message in err. For a worker's report
 * that the item failed, which the builder believes only if it agrees. */
int sh_item_audit(sh_auditor *a, const sh_params *p, const sh_item *it, char *err, size_t errlen);

/* ---- merge.c + join.c ---- */

/* The result of a build's merge, for the join. */
typedef struct sh_mergeopts {
	const sh_params *params;
	sh_run *runs; /* every item's run, in item order */
	uint32_t nruns;
	const char *gendir; /* the temporary generation directory */
	uint64_t generation;
	unsigned threads;
	char *err;
	size_t errlen;
} sh_mergeopts;

typedef struct sh_mergestats {
	uint64_t docs, duplicates, deleted, bytes_out;
	uint64_t shard_docs[TRAWL_MAX_SHARDS];
	char shard_hash[TRAWL_MAX_SHARDS][33];
	uint64_t shard_bytes[TRAWL_MAX_SHARDS];
	double merge_s, join_s;
} sh_mergestats;

/*
 * sh_merge_all merges the runs into one LMDB file per shard in gendir,
 * computes the global statistics, writes them into every shard and
 * checksums the files (join). The caller writes the manifest and publishes.
 */
int sh_merge_all(const sh_mergeopts *o, sh_mergestats *st);

#endif
