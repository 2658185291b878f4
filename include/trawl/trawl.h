/*
 * trawl.h - the public API of libtrawl, trawl's embedded search engine.
 *
 * This is the only header a program embedding trawl includes. It builds
 * indexes from JSON documents and searches them; the trawl command-line tool,
 * the benchmark adapter and (later) the leaves use nothing else.
 *
 * Conventions
 * - Every handle is opaque. Functions named _open/_close hold files, _alloc/
 *   _free plain memory.
 * - Functions returning int return TRAWL_OK (0) or a trawl_err value. The
 *   human-readable detail of the last error (file, line, column, field or
 *   limit) stays on the handle: trawl_builder_errmsg(), trawl_searcher_errmsg().
 * - Ownership is stated at each function. Strings returned by accessors stay
 *   valid as long as the object they were read from, unless said otherwise.
 *
 * Caveats
 * - A trawl_index may be shared by any number of threads. A trawl_searcher
 *   and a trawl_builder belong to one thread at a time.
 * - A searcher keeps reading the generation that was live when the index was
 *   opened; open the index again to see a newer one.
 * - Damaged shard files are refused at trawl_index_open (checksums are
 *   verified before any file is mapped).
 */
#ifndef TRAWL_TRAWL_H
#define TRAWL_TRAWL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(TRAWL_BUILDING_LIB)
#define TRAWL_API __attribute__((visibility("default")))
#else
#define TRAWL_API
#endif

#define TRAWL_VERSION_STRING "0.1.0"

/*
 * trawl_err - every error the library returns. Values are never renumbered
 * or reused; new ones are added at the end.
 */
typedef enum trawl_err {
	TRAWL_OK = 0,
	TRAWL_ENOMEM = 1,     /* out of memory */
	TRAWL_EIO = 2,        /* read or write failed (see errmsg for errno) */
	TRAWL_EINVAL = 3,     /* invalid argument */
	TRAWL_ECORRUPT = 4,   /* a checksum or structure check failed */
	TRAWL_ENOTFOUND = 5,  /* no such index, generation or document */
	TRAWL_EQUERY = 6,     /* query syntax error; errmsg names the column */
	TRAWL_ELIMIT = 7,     /* a documented limit was exceeded */
	TRAWL_EUTF8 = 8,      /* input is not valid UTF-8 */
	TRAWL_EJSON = 9,      /* malformed JSON document */
	TRAWL_ESCHEMA = 10,   /* invalid schema file or unknown field */
	TRAWL_ENOSPC = 11,    /* no space left on device */
	TRAWL_EDOC = 12,      /* a document is invalid (e.g. missing "id") */
	TRAWL_EVERSION = 13,  /* the index was written by an unknown format version */
	TRAWL_EINTERNAL = 14, /* a bug: please report it */
	TRAWL_EBUSY = 15      /* a server is overloaded: try again later (never
	                         returned by the library itself; a leaf's refusal
	                         on the wire, HTTP 429 at the root) */
} trawl_err;

/* trawl_strerror returns a static description of err (never NULL). */
TRAWL_API const char *trawl_strerror(int err);

/* trawl_version returns the library version, e.g. "0.1.0". */
TRAWL_API const char *trawl_version(void);

/* ------------------------------------------------------------------ */
/* Building                                                            */
/* ------------------------------------------------------------------ */

typedef struct trawl_builder trawl_builder;

/* What a build is doing, for progress displays (trawl_build_opts.on_progress). */
typedef struct trawl_build_progress {
	const char *stage;    /* "reading", "merging", "joining", "publishing" */
	uint64_t docs;        /* documents (and deletes) in finished work items */
	uint64_t bytes_in;    /* input bytes consumed (compressed files: compressed bytes) */
	uint64_t bytes_total; /* trawl_build_opts.input_bytes */
	uint64_t items_done;  /* work items finished (reused ones included) */
	uint64_t items;       /* work items cut so far */
	double seconds;       /* since trawl_builder_open */
} trawl_build_progress;

/* TLS for nng's tls+tcp:// URLs: PEM file names (NULL: none). */
typedef struct trawl_tls {
	const char *cert_file; /* this process's certificate (a listener must have one) */
	const char *key_file;  /* its private key */
	const char *ca_file;   /* CA bundle: the peer must present a certificate signed
	                          by it, or it is refused before any message is read */
} trawl_tls;

typedef struct trawl_build_opts {
	uint32_t shards;         /* number of shards, 1..256; 0 means 1 */
	const char *schema_path; /* JSON schema file; NULL: the default schema */
	const char *schema_json; /* schema as a string; overrides schema_path */
	int skip_bad;            /* nonzero: skip and count bad lines */
	size_t max_doc_bytes;    /* per-document limit; 0: TRAWL_MAX_DOC_BYTES */
	unsigned workers;        /* worker threads of this process, 0..64; 0: one per
	                            core (none if listen is set and workers_set is) */
	int workers_set;         /* nonzero: workers is meant, even 0 */
	size_t memory_bytes;     /* memory budget of the work stage: makes work items
	                            smaller if needed (docs/OPERATIONS.md); 0: none */
	size_t item_bytes;       /* input bytes per work item; 0: 8 MiB, or less to
	                            fit memory_bytes. Part of a build's identity: the
	                            same input, options and item size give the same
	                            generation, and a rerun reuses runs */
	const char *build_dir;   /* where work-item runs are kept until the publish
	                            (resuming a build reuses them); NULL: DIR/build */
	const char *listen;      /* nng URL (tcp://HOST:PORT, tls+tcp://HOST:PORT with
	                            tls below) that `trawl build-worker` processes
	                            connect to for work items; NULL: none */
	uint32_t part_index;     /* with part_count > 1: make only the runs of the items */
	uint32_t part_count;     /* whose id % part_count == part_index, and publish nothing */
	uint64_t input_bytes;    /* total size of the inputs, for progress (0: unknown) */
	/* With skip_bad: called for every rejected line with a message naming
	 * the file, line, column and reason (valid during the call). May be NULL. */
	void (*on_reject)(void *ctx, const char *msg);
	void *reject_ctx;
	/* Called on the builder's thread at most every 100 ms and at each stage. */
	void (*on_progress)(void *ctx, const trawl_build_progress *p);
	void *progress_ctx;
	/* Members from here on were added after the first release; new ones are
	 * only ever appended. */
	/* With a tls+tcp:// listen URL: the builder's certificate and key
	 * (required) and the CA that build workers' client certificates must be
	 * signed by (without it, any client can take work items). The names are
	 * copied by trawl_builder_open; the files are read when the listener
	 * starts, at the first work item. Only with a tls+tcp:// listen URL. */
	trawl_tls tls;
	/* Called on the builder's thread with what the operator should know
	 * that is not an error (valid during the call): a listen URL reachable
	 * beyond this machine without TLS and a CA (from trawl_builder_open), a
	 * run or a report from a build worker that was refused, a worker cut
	 * off. May be NULL. */
	void (*on_notice)(void *ctx, const char *msg);
	void *notice_ctx;
} trawl_build_opts;

#define TRAWL_MAX_DOC_BYTES (1u << 20)
#define TRAWL_MAX_SHARDS 256

typedef struct trawl_build_report {
	uint64_t lines;         /* input lines read (blank lines excluded) */
	uint64_t docs;          /* documents in the published generation */
	uint64_t duplicates;    /* documents replaced by a later one with the same id */
	uint64_t rejected;      /* bad lines skipped (only with skip_bad) */
	uint64_t bytes_in;      /* input bytes */
	uint64_t bytes_out;     /* bytes of the published generation */
	uint64_t generation;    /* number of the published generation (0: none, part_count > 1) */
	double seconds;         /* wall time from open to publish */
	uint64_t deleted;       /* documents removed by _bulk delete actions */
	uint64_t items;         /* work items */
	uint64_t items_reused;  /* of them, finished by an earlier, interrupted run */
	uint64_t items_retried; /* leases of remote workers that expired */
	unsigned workers;       /* worker threads of this process */
	double read_s;          /* stage times: reading and working the items, */
	double merge_s;         /* merging the shards, */
	double join_s;          /* global statistics, dictionaries and commits, */
	double publish_s;       /* manifest and publish */
} trawl_build_report;

/*
 * trawl_builder_open starts a new generation in index directory dir (created
 * if missing). Nothing becomes visible to readers until trawl_builder_commit.
 * On success *out is owned by the caller and released with
 * trawl_builder_close; on failure *out is NULL and, if errbuf is not NULL, a
 * message is written there (at most errlen bytes, NUL-terminated).
 */
TRAWL_API int trawl_builder_open(trawl_builder **out, const char *dir, const trawl_build_opts *opts,
                                 char *errbuf, size_t errlen);

/*
 * trawl_builder_add_file reads JSON Lines from path ("-" for standard input):
 * one object per line with a string "id". The file may be zstd- or
 * gzip-compressed (recognised by its first bytes), and may be Elasticsearch
 * _bulk NDJSON instead (recognised by its first line being an action):
 * index and create actions take the next line as the document and their
 * _id as its id; delete actions remove the id's earlier documents. The file
 * is cut into work items that worker threads parse while this call reads
 * on, so a bad line fails this call or a later one (add_file, add_json or
 * commit) with TRAWL_EJSON, TRAWL_EUTF8, TRAWL_EDOC or TRAWL_ELIMIT and an
 * errmsg naming the file, line and column, unless skip_bad was set, in which
 * case it is counted in the report and skipped. Blocks while reading.
 */
TRAWL_API int trawl_builder_add_file(trawl_builder *b, const char *path);

/*
 * trawl_builder_add_json adds one document given as a JSON object of len
 * bytes. The bytes are copied. source names the document in error messages
 * (may be NULL).
 */
TRAWL_API int trawl_builder_add_json(trawl_builder *b, const char *json, size_t len,
                                     const char *source, uint64_t line);

/*
 * trawl_builder_commit waits for the work items, merges the shards, writes
 * the manifest and publishes the generation by atomically replacing
 * CURRENT, then removes the build directory. On failure the previously live
 * generation stays live and intact, and the finished work items stay in the
 * build directory: the same build run again reuses them. rep may be NULL.
 */
TRAWL_API int trawl_builder_commit(trawl_builder *b, trawl_build_report *rep);

/* trawl_builder_errmsg: detail of the last error; valid until the next call. */
TRAWL_API const char *trawl_builder_errmsg(const trawl_builder *b);

/* trawl_builder_close releases b; an uncommitted generation is discarded. */
TRAWL_API void trawl_builder_close(trawl_builder *b);

/* What the build workers of a build with trawl_build_opts.listen sent
 * (trawl_builder_peers). */
typedef struct trawl_build_peers {
	uint64_t runs_checked;     /* runs checked against their items and kept */
	uint64_t runs_refused;     /* runs that were not their item's work: refused (the
	                              item taken from the worker that held it, and left
	                              to the builder's own threads) */
	uint64_t failures_refused; /* reports that an item failed that the builder's own
	                              parse of the item did not confirm */
	uint64_t bad_messages;     /* requests that did not decode */
	uint64_t peers_cut;        /* connections cut off for repeated refusals */
	double check_s;            /* seconds spent checking runs, over all threads */
} trawl_build_peers;

/* trawl_builder_peers fills out with b's counts so far (zeros without
 * listen). Valid after trawl_builder_commit too. */
TRAWL_API void trawl_builder_peers(const trawl_builder *b, trawl_build_peers *out);

/*
 * trawl_build_worker works for the build listening at url (a builder opened
 * with trawl_build_opts.listen, possibly on another machine): it takes work
 * items, turns each into its run and sends the run back, `threads` items at
 * a time (0: one per core), until the build says it is over (TRAWL_OK).
 * TRAWL_EIO if the builder cannot be reached for give_up_ms (0: 30 s), with
 * errbuf saying why. Blocks.
 */
TRAWL_API int trawl_build_worker(const char *url, unsigned threads, unsigned give_up_ms,
                                 char *errbuf, size_t errlen);

/*
 * trawl_build_worker_tls is trawl_build_worker over a tls+tcp:// url, with
 * the worker's certificate and key (which a builder with a CA requires)
 * and the CA the builder's certificate must be signed by (with it, the
 * host name of url must also match the certificate, unless it is an IP
 * address). tls is read during the call; NULL is trawl_build_worker.
 * TRAWL_EINVAL for certificates with a URL that is not tls+tcp://.
 */
TRAWL_API int trawl_build_worker_tls(const char *url, const trawl_tls *tls, unsigned threads,
                                     unsigned give_up_ms, char *errbuf, size_t errlen);

/* What trawl_snapshot did. */
typedef struct trawl_snapshot_report {
	uint64_t generation; /* the generation copied */
	uint64_t docs;       /* its live documents */
	uint32_t shards;
	uint32_t linked, copied; /* files hard-linked, files copied */
	uint64_t bytes;          /* the files' bytes */
} trawl_snapshot_report;

/*
 * trawl_snapshot puts the live generation of the index in dir into dest, a
 * new index directory holding it alone (dest is made, or must hold no
 * index): a consistent snapshot, for a backup or to move the index, taken
 * while the index is searched and written (a generation never changes).
 * Its files are hard-linked when dest is on dir's file system and copy is
 * 0, copied otherwise (fsynced); each is then read back and checked
 * against the manifest's size and XXH3-128, and the copy is published in
 * dest (its CURRENT written last). Writes acknowledged after the
 * generation are in dir's write log, not in the snapshot (refresh first).
 * A generation pruned while it is read is taken again from the newer
 * live one. rep may be NULL. TRAWL_EINVAL when dir holds no index or dest
 * one already, TRAWL_ENOSPC, TRAWL_EIO, TRAWL_ECORRUPT (errbuf names the
 * file).
 */
TRAWL_API int trawl_snapshot(const char *dir, const char *dest, int copy,
                             trawl_snapshot_report *rep, char *errbuf, size_t errlen);

/*
 * trawl_reshard builds a new generation of the index in dir with `shards`
 * shards from the stored documents of its live generation (the original
 * input is not needed; every text field must be stored). opts may set the
 * workers, memory and progress as for trawl_builder_open; its shards and
 * schema are ignored (the live schema is kept). Publishes like
 * trawl_builder_commit. rep may be NULL.
 */
TRAWL_API int trawl_reshard(const char *dir, uint32_t shards, const trawl_build_opts *opts,
                            trawl_build_report *rep, char *errbuf, size_t errlen);

/* ------------------------------------------------------------------ */
/* Updating                                                            */
/* ------------------------------------------------------------------ */

typedef struct trawl_update_opts {
	size_t max_doc_bytes; /* per document; 0: TRAWL_MAX_DOC_BYTES */
	/* Called for every write that failed, with a message naming the file,
	 * the line, the id, OpenSearch's status and error type, and why (valid
	 * during the call). May be NULL. */
	void (*on_item_error)(void *ctx, const char *msg);
	void *ctx;
} trawl_update_opts;

typedef struct trawl_update_report {
	uint64_t items;       /* writes read from the files */
	uint64_t failed;      /* of them, refused (on_item_error told each) */
	uint64_t ops;         /* write-log operations applied (a failed run's left
	                         ones included) */
	uint64_t generations; /* generations published */
	uint64_t generation;  /* the live generation at the end */
	uint64_t docs;        /* its documents */
	uint64_t added;       /* documents written: new ids and replacements */
	uint64_t replaced;    /* of them, replacing a document */
	uint64_t deleted;     /* documents deleted */
	uint64_t segments;    /* segment files written */
	double seconds;
} trawl_update_report;

/*
 * trawl_update applies writes to the index in dir, which must hold one:
 * each file ("-": standard input; zstd or gzip recognised by their first
 * bytes) is JSON Lines of documents with a string "id" (each added, or
 * replacing the document with its id), or an Elasticsearch _bulk body
 * (recognised by its first line being an action: index, create, update
 * and delete, OpenSearch's rules; an item's _index is not read). Writes
 * are decided against the live generation, appended durably to the
 * index's write log (dir/wlog.mdb), and then applied as new generations
 * that share every unchanged file with the one before (docs/FORMAT.md,
 * "Updates"). A write that fails (a bad document, a conflict, a missing
 * document to update) is reported to on_item_error and counted, and the
 * others go on. Operations a failed earlier run left in the log are
 * applied first; with no file, only those (files may be NULL when nfiles
 * is 0). Replacing or deleting a document needs every text field and
 * every indexed typed field stored. One run at a time per index (the
 * log's owner); a build must not run beside it. Returns TRAWL_OK (check
 * rep->failed), or the error that stopped the run with errbuf set: what
 * was logged before it stays in the log. rep may be NULL.
 */
TRAWL_API int trawl_update(const char *dir, const char *const *files, uint32_t nfiles,
                           const trawl_update_opts *opts, trawl_update_report *rep, char *errbuf,
                           size_t errlen);

/* ------------------------------------------------------------------ */
/* Searching                                                           */
/* ------------------------------------------------------------------ */

typedef struct trawl_index trawl_index;
typedef struct trawl_searcher trawl_searcher;
typedef struct trawl_results trawl_results;

/*
 * trawl_index_open opens the live generation of index directory dir,
 * verifying every shard file against the manifest's checksums first.
 * On success *out is owned by the caller (trawl_index_close); on failure an
 * explanation goes to errbuf as for trawl_builder_open. Blocks on file I/O.
 */
TRAWL_API int trawl_index_open(trawl_index **out, const char *dir, char *errbuf, size_t errlen);

typedef struct trawl_open_opts {
	const uint32_t *shards; /* the shard numbers to open (a leaf serving some
	                           shards of a generation); NULL: every shard */
	uint32_t nshards;
	int64_t filter_cache_bytes; /* bound of the filter cache (typed clauses'
	                               document sets, reused by later searches);
	                               0: TRAWL_FILTER_CACHE_BYTES; < 0: none */
	/* An index open on an earlier generation of the same directory (the
	 * caller's, still open during the call), or NULL: the files the new
	 * generation shares with it (hard links: the same inode, size and
	 * checksum) are not read again to check their checksums, so that
	 * opening the generation after an update costs what the update wrote. */
	const trawl_index *reuse;
} trawl_open_opts;

#define TRAWL_FILTER_CACHE_BYTES (64 << 20) /* the filter cache's default bound */

/*
 * trawl_index_open_with is trawl_index_open with options: only the listed
 * shards are verified and opened, and searches cover only them (hits and
 * totals are those shards' share; scores are still global). TRAWL_EINVAL if
 * a listed shard is not in the live generation.
 */
TRAWL_API int trawl_index_open_with(trawl_index **out, const char *dir, const trawl_open_opts *opts,
                                    char *errbuf, size_t errlen);

/*
 * trawl_schema_from_mappings translates an OpenSearch or Elasticsearch
 * mapping into a trawl schema (docs/SCHEMA.md says how each type maps).
 * json (len bytes) is {"mappings": {"properties": {...}}}, the answer of
 * GET /NAME/_mapping ({"NAME": {"mappings": ...}}), or the bare
 * {"properties": {...}}. On TRAWL_OK *schema_out is a malloc'ed,
 * NUL-terminated JSON schema owned by the caller (free it), which
 * trawl_build_opts.schema_json accepts; warn(ctx, msg) (may be NULL) was
 * called once for each thing the mapping says that the schema does not
 * carry over, naming the field (an object's sub-fields, a type or an
 * analyzer trawl lacks, a date format it does not read). Returns
 * TRAWL_ESCHEMA with errbuf set when json is not such a mapping or maps no
 * text field, or TRAWL_ENOMEM.
 */
TRAWL_API int trawl_schema_from_mappings(const char *json, size_t len, char **schema_out,
                                         void (*warn)(void *ctx, const char *msg), void *ctx,
                                         char *errbuf, size_t errlen);

/* trawl_index_close releases idx. Every searcher of idx must be closed first. */
TRAWL_API void trawl_index_close(trawl_index *idx);

typedef struct trawl_index_stats {
	uint64_t generation;
	uint32_t shards;      /* shards in the generation */
	uint32_t shards_open; /* shards opened by this handle */
	uint64_t docs_open;   /* documents in the open shards */
	uint64_t docs;        /* documents in the generation */
	uint64_t terms;       /* distinct (field, term) keys, summed over open shards */
	uint64_t bytes;       /* size of the generation's files */
	uint32_t fields;      /* number of fields in the schema */
	/* the filter cache (trawl_open_opts.filter_cache_bytes) */
	uint64_t filter_cache_hits, filter_cache_misses;
	uint64_t filter_cache_entries, filter_cache_bytes;
} trawl_index_stats;

/* trawl_index_get_stats fills st. */
TRAWL_API void trawl_index_get_stats(const trawl_index *idx, trawl_index_stats *st);

/* trawl_index_docs_deleted: documents the open shards' segments still
 * hold that deletes and replacements removed (a merge drops them);
 * OpenSearch's docs.deleted. */
TRAWL_API uint64_t trawl_index_docs_deleted(const trawl_index *idx);

/* trawl_index_schema returns the schema as JSON; valid while idx is open. */
TRAWL_API const char *trawl_index_schema(const trawl_index *idx);

/* trawl_index_text_field returns the name of text field i (0-based, in the
 * schema's order), or NULL past the last; valid while idx is open. */
TRAWL_API const char *trawl_index_text_field(const trawl_index *idx, uint32_t i);

/* trawl_index_stores_fields: 1 when the schema stores document fields (so
 * trawl_results_doc and snippets can have something to return), 0 when it
 * keeps only the ids ("store": "none"). */
TRAWL_API int trawl_index_stores_fields(const trawl_index *idx);

/* A shard file of an open index, as its generation's manifest records it. */
typedef struct trawl_shard_file {
	const char *path;     /* the file; valid while the index is open */
	uint64_t bytes;       /* its size */
	const char *xxh3_128; /* XXH3-128 of its bytes: 32 lowercase hex digits */
} trawl_shard_file;

/* trawl_index_shard_file fills f for shard number shard (of the
 * generation): TRAWL_OK, or TRAWL_ENOTFOUND when idx has not opened it.
 * A program that serves the index can re-verify its files with it while
 * they are mapped (the leaf's scrub, leaf/shardguard.c). */
TRAWL_API int trawl_index_shard_file(const trawl_index *idx, uint32_t shard, trawl_shard_file *f);

/* trawl_index_shard_files fills f with the i-th file (from 0) that shard
 * number shard reads while it is searched: its segments (the first is
 * trawl_index_shard_file's), their delete sets and versions, and the
 * generation's statistics files, which every shard reads. TRAWL_OK, or
 * TRAWL_ENOTFOUND past the last (or for a shard idx has not opened). */
TRAWL_API int trawl_index_shard_files(const trawl_index *idx, uint32_t shard, uint32_t i,
                                      trawl_shard_file *f);

/*
 * trawl_index_verify reads every byte of every shard: file checksums, every
 * postings list, and every stored document's checksum. Returns TRAWL_OK or
 * TRAWL_ECORRUPT with a message in errbuf naming the file and what differs.
 * On TRAWL_OK errbuf is left as it was, or holds a warning that is not
 * damage: the generation has no MANIFEST.xxh3 (an older trawl wrote it), so
 * its manifest was read unchecked.
 */
TRAWL_API int trawl_index_verify(const char *dir, char *errbuf, size_t errlen);

/*
 * trawl_index_digest writes to hex (32 hex digits and a NUL) the XXH3-128
 * of the live generation's content: every segment's every key and value but
 * the generation number, and each segment's delete set and documents'
 * _seq_no and _version where updates wrote them, so two builds of the same
 * input under the same settings have equal digests, whatever their
 * generation numbers, and every write changes it. It digests the segments
 * as they are: a generation with deleted documents (their bytes stay in
 * their segment until a merge) or several segments per shard has another
 * digest than a build of the same live documents.
 */
TRAWL_API int trawl_index_digest(const char *dir, char hex[33], char *errbuf, size_t errlen);

/*
 * trawl_searcher_open creates a searcher on idx: read transactions, analyzer
 * state and scratch memory for one thread. Owned by the caller.
 */
TRAWL_API int trawl_searcher_open(trawl_searcher **out, trawl_index *idx);

/* trawl_searcher_close releases s. Free every result it returned first:
 * results read from its transactions. */
TRAWL_API void trawl_searcher_close(trawl_searcher *s);

/* What an index holds of one field, over the shards open here: docs,
 * values, distinct and the range count live documents only, as a build of
 * them would; terms and bytes are what the segments store, a deleted
 * document's keys and bytes included until a merge writes its segment
 * again (and a key in several segments of a shard counted in each). */
typedef struct trawl_field_stats {
	const char *name;  /* valid while the index is open */
	const char *type;  /* "text", "keyword", "long", "double", "date", "boolean" */
	uint64_t docs;     /* documents with a value (text: with a token kept) */
	uint64_t values;   /* values (a keyword's distinct ones per document; text:
	                      tokens kept, in the whole generation) */
	uint64_t terms;    /* text and indexed keywords: dictionary keys */
	uint64_t distinct; /* keyword with doc values: distinct values in the generation
	                      (once it has deletes: that live documents of the
	                      shards open here hold) */
	int has_range;     /* numbers, dates, booleans with a value: min and max set */
	double min, max;   /* a date's in milliseconds since 1970 */
	uint64_t bytes;    /* its doc values, points, dictionary and keyword
	                      postings (text: its postings and positions) */
} trawl_field_stats;

/*
 * trawl_searcher_field_stats fills *out for field i: the text fields
 * first, then the typed ones, in the schema's order. TRAWL_ENOTFOUND past
 * the last field; TRAWL_ECORRUPT on damaged data.
 */
TRAWL_API int trawl_searcher_field_stats(trawl_searcher *s, uint32_t i, trawl_field_stats *out);

/* trawl_searcher_errmsg: detail of the last error on s; valid until the next call. */
TRAWL_API const char *trawl_searcher_errmsg(const trawl_searcher *s);

enum trawl_count_mode {
	TRAWL_COUNT_EXACT = 0, /* exact number of matching documents */
	TRAWL_COUNT_NONE = 1,  /* do not count: fastest top-k */
	TRAWL_COUNT_ONLY = 2   /* count, return no hits */
};

enum trawl_default_op { TRAWL_OP_OR = 0, TRAWL_OP_AND = 1 };

/*
 * A sort key: hits in order of a typed field's values (it must have doc
 * values) or of their score. Ties, after the last key, break by the hash of
 * the document's id, so every shard layout gives one order.
 */
typedef struct trawl_sort {
	const char *field; /* a typed field, or "_score" */
	int desc;          /* 1: descending (largest first) */
	int missing_first; /* 1: documents without a value first; 0: last */
	int mode;          /* a document with several values sorts by enum trawl_sort_mode */
} trawl_sort;

enum trawl_sort_mode {
	TRAWL_SORT_DEFAULT = 0, /* its smallest ascending, its largest descending */
	TRAWL_SORT_MIN = 1,
	TRAWL_SORT_MAX = 2
};

#define TRAWL_MAX_SORT_KEYS 4 /* keys of one sort */

/*
 * Aggregations (docs/AGGREGATIONS.md): counts and metrics over every match
 * of a search, exact across shards. A trawl_aggs is a parsed request: parse
 * it once, run it with any number of searches (only read: threads may share
 * it); it must outlive the results it was run with.
 */
typedef struct trawl_aggs trawl_aggs;

/*
 * trawl_aggs_parse reads an aggregation request: the value of an
 * Elasticsearch search body's "aggs" (JSON, len bytes), whose filter and
 * filters queries are in the OpenSearch query DSL; or, from a root, the
 * canonical form trawl_aggs_write gives. Field names are checked when it
 * runs. On success *out is the caller's (trawl_aggs_free). Errors:
 * TRAWL_EINVAL / TRAWL_EQUERY / TRAWL_ELIMIT with errbuf naming the
 * aggregation's path and what is wrong; TRAWL_ENOMEM.
 */
TRAWL_API int trawl_aggs_parse(trawl_aggs **out, const char *json, size_t len, char *errbuf,
                               size_t errlen);

/* trawl_aggs_write: the canonical form of a (malloc'ed, NUL-terminated, *len
 * bytes; the caller frees it), which trawl_aggs_parse reads back.
 * TRAWL_OK, TRAWL_ENOMEM or TRAWL_ELIMIT. */
TRAWL_API int trawl_aggs_write(const trawl_aggs *a, char **out, size_t *len);

/* trawl_aggs_free releases a; NULL is allowed. */
TRAWL_API void trawl_aggs_free(trawl_aggs *a);

typedef struct trawl_search_opts {
	uint32_t k;             /* hits wanted after offset; 0: 10 */
	uint32_t offset;        /* hits to skip */
	int count_mode;         /* enum trawl_count_mode */
	int default_op;         /* enum trawl_default_op */
	uint64_t deadline_us;   /* absolute deadline, Unix microseconds (0: none);
	                           when it passes, evaluation stops and the results
	                           so far are returned, flagged partial */
	const uint32_t *shards; /* search only these shard numbers (each must be
	                           open); NULL: every open shard */
	uint32_t nshards;
	const trawl_sort *sort; /* nsort keys (at most TRAWL_MAX_SORT_KEYS); NULL
	                           or 0: by score */
	uint32_t nsort;
	const char *search_after; /* with a sort: a JSON array, the sort values of
	                             the last hit of the previous page as
	                             trawl_results_sort_json gives them (its last
	                             element, the tiebreaker, included); only hits
	                             after it are returned. NULL: none. The total
	                             still counts every match. */
	size_t search_after_len;
	const trawl_aggs *aggs; /* aggregations over every match; NULL: none.
	                           Every match is then visited (no pruning) */
} trawl_search_opts;

#define TRAWL_MAX_K 10000           /* k + offset at most */
#define TRAWL_MAX_QUERY_BYTES 8192  /* longest query string; words and fields of a trawl_query */
#define TRAWL_MAX_QUERY_TERMS 1024  /* terms after analysis and prefix expansion (per shard) */
#define TRAWL_MAX_PHRASE_TERMS 64   /* terms in one phrase */
#define TRAWL_MAX_QUERY_DEPTH 32    /* nesting of parentheses */
#define TRAWL_MAX_PREFIX_TERMS 1024 /* terms one prefix* may expand to */
/* A trawl_query's encoding; any query string within the limits above fits. */
#define TRAWL_MAX_QUERY_TREE_BYTES 65536

/*
 * trawl_search parses and runs query (UTF-8, len bytes) on every shard of
 * the searcher's index and merges the results. On success *out is owned by
 * the caller and freed with trawl_results_free, before the searcher is closed.
 * A syntax error returns TRAWL_EQUERY with errmsg naming the column (1-based,
 * in characters) and the reason.
 */
TRAWL_API int trawl_search(trawl_searcher *s, const char *query, size_t len,
                           const trawl_search_opts *opts, trawl_results **out);

/*
 * A trawl_query is a parsed query: the tree of clauses that trawl_search
 * makes of a query string, which can also travel between processes in a
 * canonical encoding (docs/WIRE.md, "Query trees"). Parse or decode once,
 * then run it on any number of searchers, of any index: it is only read,
 * so threads may share it. Field names are checked when it runs, against
 * the index's schema.
 */
typedef struct trawl_query trawl_query;

/*
 * trawl_query_parse parses text (len bytes of UTF-8, the syntax of
 * docs/QUERY.md) with default operator default_op (enum trawl_default_op).
 * On success *out is owned by the caller (trawl_query_free); on failure it
 * is NULL and errbuf (errlen bytes, NUL-terminated; may be NULL) says why, as
 * trawl_search does: TRAWL_EQUERY ("column N: reason"), TRAWL_EUTF8,
 * TRAWL_ELIMIT or TRAWL_ENOMEM.
 */
TRAWL_API int trawl_query_parse(trawl_query **out, const char *text, size_t len, int default_op,
                                char *errbuf, size_t errlen);

/*
 * trawl_query_encode writes q's canonical encoding: equal queries (the
 * columns their clauses came from included) give equal bytes, at most
 * TRAWL_MAX_QUERY_TREE_BYTES of them. On success *bytes (*len bytes) is
 * malloc'ed and owned by the caller (free()). TRAWL_ENOMEM.
 */
TRAWL_API int trawl_query_encode(const trawl_query *q, void **bytes, size_t *len);

/*
 * trawl_query_decode reads a query from its encoding (len bytes at bytes, no
 * alignment needed), checking every rule and limit: anything
 * trawl_query_encode would not write is TRAWL_EINVAL with errbuf naming the
 * offset and the reason. On success *out is owned by the caller
 * (trawl_query_free); on failure it is NULL. TRAWL_ENOMEM.
 */
TRAWL_API int trawl_query_decode(trawl_query **out, const void *bytes, size_t len, char *errbuf,
                                 size_t errlen);

/* trawl_query_free releases q; NULL is allowed. */
TRAWL_API void trawl_query_free(trawl_query *q);

/*
 * trawl_query_parse_filter parses text (the syntax of docs/QUERY.md) as a
 * filter, for trawl_query_filter: it is read with the AND default, and its
 * clauses narrow without scoring (required ones become filters, excluded
 * ones stay excluded, optional ones, from an explicit OR, become one filter
 * of the alternatives). An optional clause beside required ones is
 * TRAWL_EQUERY naming its column. Ownership and errors as
 * trawl_query_parse's.
 */
TRAWL_API int trawl_query_parse_filter(trawl_query **out, const char *text, size_t len,
                                       char *errbuf, size_t errlen);

/*
 * trawl_query_filter narrows *q by filter (made by trawl_query_parse_filter;
 * only read): *q then matches the documents it matched that also pass the
 * filter, scored as before. With *q NULL, *q becomes a new query (the
 * caller's) of every document that passes the filter, each scoring 1.
 * Filters add up: call it once per filter. Errors: TRAWL_EINVAL (filter was
 * not made by trawl_query_parse_filter), TRAWL_ELIMIT (together they break
 * a limit of a query: errbuf names it), TRAWL_ENOMEM; *q is then unchanged.
 */
TRAWL_API int trawl_query_filter(trawl_query **q, const trawl_query *filter, char *errbuf,
                                 size_t errlen);

/*
 * trawl_search_query is trawl_search with a parsed query. opts->default_op
 * is ignored: q's clauses already say which are required. Errors as
 * trawl_search's, but for the syntax, which q has passed.
 */
TRAWL_API int trawl_search_query(trawl_searcher *s, const trawl_query *q,
                                 const trawl_search_opts *opts, trawl_results **out);

/* trawl_results_free releases r; NULL is allowed. */
TRAWL_API void trawl_results_free(trawl_results *r);

/* trawl_results_count: number of hits in r (at most k). */
TRAWL_API uint32_t trawl_results_count(const trawl_results *r);

/* trawl_results_total: matching documents (0 when counting was off). */
TRAWL_API uint64_t trawl_results_total(const trawl_results *r);

/* trawl_results_partial: nonzero if the deadline cut evaluation short (the
 * hits are the best found so far, the total a lower bound). */
TRAWL_API int trawl_results_partial(const trawl_results *r);

/* trawl_results_docs_searched: documents in the shards that were searched. */
TRAWL_API uint64_t trawl_results_docs_searched(const trawl_results *r);

/* trawl_results_shard, _docno, _hash: where hit i lives (shard number, doc
 * number in the shard) and the XXH3_64 of its id that breaks score ties. */
TRAWL_API uint32_t trawl_results_shard(const trawl_results *r, uint32_t i);
TRAWL_API uint32_t trawl_results_docno(const trawl_results *r, uint32_t i);
TRAWL_API uint64_t trawl_results_hash(const trawl_results *r, uint32_t i);

/* trawl_results_id: external id of hit i; valid while r lives. NULL for a
 * reference of trawl_fetch that names no document. */
TRAWL_API const char *trawl_results_id(const trawl_results *r, uint32_t i);

/* trawl_results_score: BM25 score of hit i. */
TRAWL_API double trawl_results_score(const trawl_results *r, uint32_t i);

/*
 * trawl_results_sort_json writes hit i's sort values as a JSON array to buf
 * (cap bytes, NUL-terminated when cap > 0): one element per sort key (a
 * long, a date in epoch milliseconds or a double as a number, a boolean as
 * true or false, a keyword as a string, a score as a number, no value as
 * null), then the tiebreaker (the id hash, as a string of decimal digits).
 * Passed back as trawl_search_opts.search_after, it continues after hit i.
 * Returns the length it needed (snprintf-style); 0 when the search was not
 * sorted by fields.
 */
TRAWL_API size_t trawl_results_sort_json(const trawl_results *r, uint32_t i, char *buf, size_t cap);

/*
 * trawl_results_aggs gives the aggregations of the search (trawl_search_opts
 * .aggs) as JSON, malloc'ed and NUL-terminated (the caller frees it): with
 * partial 0, the answer (the object Elasticsearch puts under
 * "aggregations"); with partial 1, the partial result of the shards
 * searched here, for a root that merges those of several searchers
 * (docs/AGGREGATIONS.md). NULL without aggregations, or out of memory.
 */
TRAWL_API char *trawl_results_aggs(const trawl_results *r, int partial);

/*
 * trawl_results_sort_keys writes hit i's sort values as ordered integers to
 * keys[0..n) and a bit per key without a value to *missing, and returns n
 * (0 when the search was not sorted by fields): for merging the hits of
 * several searches of one generation (a root's leaves) in the sort's order.
 * Key k orders like its value (ascending integers are ascending values;
 * reverse them for a descending key; a missing value goes where
 * trawl_sort.missing_first says); equal keys throughout order by
 * trawl_results_hash, ascending.
 */
TRAWL_API uint32_t trawl_results_sort_keys(const trawl_results *r, uint32_t i,
                                           int64_t keys[TRAWL_MAX_SORT_KEYS], uint8_t *missing);

/*
 * trawl_results_doc returns hit i's stored document as JSON (len in *len),
 * decompressed and checksum-verified on first use; valid while r lives.
 * NULL with TRAWL_ECORRUPT in *err if its checksum fails, or when the index
 * stores no documents (TRAWL_ENOTFOUND).
 */
TRAWL_API const char *trawl_results_doc(trawl_results *r, uint32_t i, size_t *len, int *err);

/*
 * trawl_results_snippet returns the best-matching fragment of text field
 * `field` of hit i with the query's terms between pre and post (NULL: "<em>"
 * and "</em>"), at most about max_chars characters (0: 200). A field with no
 * match yields its first characters. Valid while r lives; NULL if the field
 * is absent or the document is not stored.
 */
TRAWL_API const char *trawl_results_snippet(trawl_results *r, uint32_t i, const char *field,
                                            const char *pre, const char *post, size_t max_chars);

/* A document by position, as a leaf's SEARCH reply names it. */
typedef struct trawl_docref {
	uint32_t shard;
	uint32_t doc;
} trawl_docref;

/*
 * trawl_fetch makes results of the n documents refs names (the second
 * phase of a distributed search), in that order, with score 0: their ids,
 * stored documents and snippets are read with the trawl_results_ functions.
 * query (qlen bytes; may be empty) only serves the snippets. A reference to
 * a shard not open here or past its last document gives a hit whose id is
 * NULL. On success *out is owned by the caller (trawl_results_free).
 */
TRAWL_API int trawl_fetch(trawl_searcher *s, const char *query, size_t qlen,
                          const trawl_docref *refs, uint32_t n, trawl_results **out);

/* trawl_fetch_query is trawl_fetch with a parsed query for the snippets
 * (NULL: none). */
TRAWL_API int trawl_fetch_query(trawl_searcher *s, const trawl_query *q, const trawl_docref *refs,
                                uint32_t n, trawl_results **out);

/*
 * trawl_get fetches the stored document with external id `id`, checksum
 * verified. On success *json (NUL-terminated, *len bytes before the NUL) is
 * owned by the caller and released with free(). TRAWL_ENOTFOUND if no such
 * document exists or the index stores no documents.
 */
TRAWL_API int trawl_get(trawl_searcher *s, const char *id, char **json, size_t *len);

/* ------------------------------------------------------------------------ */
/* Writes (issue #12): an index that takes writes all day                  */
/* ------------------------------------------------------------------------ */

/*
 * An index directory takes writes through its indexer: each write is
 * decided against the document's current state (OpenSearch's index,
 * create, update and delete, with versions, sequence numbers and
 * compare-and-set), logged durably (fsynced before it is acknowledged, in
 * DIR/wlog.mdb) and made searchable in the next generation, which the
 * indexer publishes every refresh interval (docs/ARCHITECTURE.md, "Freshness").
 * One process at a time is an index's indexer.
 */

#define TRAWL_MAX_ID_BYTES 512  /* a document id */
#define TRAWL_ERRMSG_BYTES 1024 /* a write's reason */

/* The write actions (OpenSearch's _bulk action names). */
typedef enum trawl_write_action {
	TRAWL_WRITE_INDEX = 1, /* add or replace the document */
	TRAWL_WRITE_CREATE,    /* add it; a conflict (409) when the id exists */
	TRAWL_WRITE_UPDATE,    /* merge a partial document into it (or upsert) */
	TRAWL_WRITE_DELETE,
} trawl_write_action;

/* One write. Every pointer is the caller's, read during the call only. */
typedef struct trawl_write {
	trawl_write_action act;
	const char *id; /* idlen bytes; INDEX and CREATE may give none (idlen 0):
	                   an id is generated, 20 characters of base64url */
	uint32_t idlen;
	const char *doc; /* INDEX, CREATE: the document, a JSON object; UPDATE:
	                    the partial document (NULL: none, with upsert) */
	uint32_t doclen;
	const char *upsert; /* UPDATE: the document to create when the id is
	                       missing (NULL: none) */
	uint32_t upsertlen;
	int doc_as_upsert; /* UPDATE: a missing document is created from doc */
	int keep_noop;     /* UPDATE: write even when nothing changes
	                      (OpenSearch's detect_noop: false) */
	int64_t if_seq_no; /* with if_primary_term: only if the document's are
	                      these; -1 each: no condition */
	int64_t if_primary_term;
} trawl_write;

/* A write's outcome, in OpenSearch's words. */
typedef struct trawl_write_result {
	int status;                      /* HTTP status: 200, 201, 400, 404, 409, 429, 500, 507 */
	const char *result;              /* "created", "updated", "deleted", "not_found",
	                                    "noop"; NULL for an error (static text) */
	char id[TRAWL_MAX_ID_BYTES + 1]; /* the document's id, NUL-terminated */
	uint32_t idlen;
	uint64_t version;       /* _version after the write */
	uint64_t seq_no;        /* _seq_no: the log's number of its operation (0: none) */
	uint64_t primary_term;  /* _primary_term: 1 */
	const char *error_type; /* OpenSearch's error type, when result is NULL (static) */
	char reason[TRAWL_ERRMSG_BYTES];
} trawl_write_result;

/* What the index holds for an id. doc is malloc()ed (the receiver frees it). */
typedef struct trawl_doc_state {
	int exists;
	uint64_t version, seq_no;
	char *doc;
	size_t doclen;
} trawl_doc_state;

typedef struct trawl_indexer trawl_indexer;

typedef struct trawl_indexer_opts {
	unsigned refresh_ms;  /* between two generations (default 1000) */
	uint32_t batch_ops;   /* operations one generation takes at most (default and
	                         most: 100,000); a generation is made as soon as this
	                         many are logged */
	uint64_t log_bytes;   /* the write log's bound (0: 16 GiB) */
	size_t max_doc_bytes; /* a document's bound (0: TRAWL_MAX_DOC_BYTES) */
	/* Called on the indexer's thread after each publish, before refreshes
	 * waiting for it return: the caller makes generation gen searchable
	 * (a server switches to it). NULL: nothing to do. */
	void (*published)(void *ctx, uint64_t gen);
	void *ctx;
	/* Where the indexer reports each generation and each failure (a line
	 * without a newline; any thread). NULL: standard error. */
	void (*log)(void *ctx, const char *msg);
	int quiet; /* no line for each generation */
	/* Backpressure: writes are refused (TRAWL_EBUSY; HTTP 429) while this
	 * many acknowledged operations are not yet in a generation (0:
	 * LIMIT_INDEXER_BACKLOG_OPS), or the write log holds this many bytes
	 * (0: LIMIT_INDEXER_BACKLOG_BYTES; never more than half of log_bytes). */
	uint64_t backlog_ops;
	uint64_t backlog_bytes;
	/* The flood stage: writes are refused (TRAWL_ENOSPC; HTTP 507) while
	 * the file system holding dir is more than this percent full (0:
	 * LIMIT_DISK_FLOOD_PCT; 100: only a full disk refuses them), so that
	 * the writes already logged keep room to become a generation and
	 * reads go on. */
	unsigned flood_pct;
	/* 1: the indexer's thread, and the threads it starts to make a
	 * generation, run at the lowest CPU priority (nice 19, on Linux per
	 * thread), so that searches in the same process keep their latency
	 * while writes stream in (while searches keep every core busy, writes
	 * become searchable later, and are refused by the backlog bound once
	 * it is reached). 0: the caller's CPU priority. */
	int low_priority;
} trawl_indexer_opts;

/*
 * trawl_indexer_open starts the indexer of the index in dir (which must
 * hold one): it opens the write log, learns the writes not yet in the live
 * generation, and starts a thread that makes generations of them. On
 * success *out is the caller's (trawl_indexer_close); opts may be NULL.
 * Errors (err names the file): the log owned by another process, damaged,
 * or not this index's; no index in dir.
 */
TRAWL_API int trawl_indexer_open(trawl_indexer **out, const char *dir,
                                 const trawl_indexer_opts *opts, char *err, size_t errlen);

/* trawl_indexer_close stops the thread (a generation being made is
 * finished) and closes the log; writes not yet published wait in it for the
 * next open. x may be NULL; no other call on x may be running. */
TRAWL_API void trawl_indexer_close(trawl_indexer *x);

/*
 * trawl_indexer_write decides ws[0..n) in order (a later one sees the
 * earlier ones), logs those that change something, and returns when they
 * are durable; res[i] (the caller's array) says each one's outcome. A write
 * that fails (a conflict, a missing document, a document the schema
 * refuses) fails alone. Returns TRAWL_OK, or an error when nothing could be
 * decided at all (err set). Any thread, at once.
 */
TRAWL_API int trawl_indexer_write(trawl_indexer *x, const trawl_write *ws, uint32_t n,
                                  trawl_write_result *res, char *err, size_t errlen);

/* trawl_indexer_get: the current state of id (idlen bytes), the writes
 * acknowledged included ("realtime"); out->doc is the caller's to free. */
TRAWL_API int trawl_indexer_get(trawl_indexer *x, const char *id, uint32_t idlen,
                                trawl_doc_state *out, char *err, size_t errlen);

/*
 * trawl_indexer_refresh returns once a generation holding every write up
 * to sequence number seq (0: every one acknowledged before the call) is
 * published and handed to opts.published, asking for one at once.
 * TRAWL_OK; TRAWL_EBUSY after timeout_ms (0: no bound); the error of the
 * generation that could not be made (err says why; its writes stay in the
 * log and are tried again).
 */
TRAWL_API int trawl_indexer_refresh(trawl_indexer *x, uint64_t seq, unsigned timeout_ms, char *err,
                                    size_t errlen);

/*
 * trawl_indexer_compact merges every shard's segments into one and drops
 * the deleted documents, a generation per shard, and returns when it is
 * done (writes go on meanwhile: they are applied first). The indexer also
 * merges on its own, when no write waits: a shard with more than 10
 * segments merges its smallest, and a segment a third deleted is written
 * again. Merging reads the stored documents: an index storing none is
 * never merged. TRAWL_OK, or the failed merge's error (err says why; the
 * generation before it stays live).
 */
TRAWL_API int trawl_indexer_compact(trawl_indexer *x, char *err, size_t errlen);

/* What an indexer has done. */
typedef struct trawl_indexer_stats {
	uint64_t generation;         /* the last it published (or found live) */
	uint64_t applied_seq;        /* the last write that generation holds */
	uint64_t acked_seq;          /* the last write acknowledged */
	uint64_t log_ops, log_bytes; /* what the log holds */
	uint64_t generations;        /* published since open */
	uint64_t ops_applied;        /* writes those held */
	uint64_t failures;           /* generations that could not be made */
	double apply_seconds;        /* the time making them, summed */
	double last_apply_seconds;
	uint64_t merges;             /* merge steps made (each a generation) */
	uint64_t merged_docs;        /* documents they wrote again */
	uint64_t merged_bytes;       /* bytes of the files they wrote */
	double merge_seconds;        /* their time, summed */
	uint64_t writes;             /* writes acknowledged since open (noops and
	                                failures not counted) */
	uint64_t segments;           /* segments of the live generation */
	uint32_t max_shard_segments; /* of them, in its shard with the most */
	/* write to searchable: per generation of writes, the time from its
	 * oldest write's acknowledgement to its publish; counts of at most
	 * TRAWL_REFRESH_BUCKETS[i] seconds (the last: any), their sum */
	uint64_t refresh_le[8];
	uint64_t refresh_count;
	double refresh_sum;
	uint64_t docs;             /* live documents of the last generation made */
	uint64_t added;            /* documents written by writes: new ids and replacements */
	uint64_t replaced;         /* of them, replacing a document */
	uint64_t deleted;          /* documents deleted */
	uint64_t segments_written; /* segment files written for writes */
	uint64_t rejected;         /* write calls refused for the backlog (TRAWL_EBUSY) */
	uint64_t flooded; /* write calls refused for the disk's flood stage (TRAWL_ENOSPC) */
} trawl_indexer_stats;

/* The upper bounds of trawl_indexer_stats.refresh_le, seconds. */
#define TRAWL_REFRESH_BUCKETS                                                                      \
	{                                                                                          \
		0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 1e300                                         \
	}

/* trawl_indexer_get_stats fills *out (the caller's). */
TRAWL_API void trawl_indexer_get_stats(trawl_indexer *x, trawl_indexer_stats *out);

#ifdef __cplusplus
}
#endif
#endif
