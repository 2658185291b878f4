/*
 * limits.h - every limit of trawl, once, each with its reason; the limits
 * that depend on one another are checked against each other here, at
 * compile time (_Static_assert), so that raising one cannot silently break
 * another. docs/LIMITS.md is the users' list of the same.
 *
 * The limits a program embedding libtrawl must see (a document's size,
 * shards, k + offset, a query's bytes, terms, depth, phrase length, prefix
 * expansion, a query tree's bytes) are part of the public API and are
 * defined in include/trawl/trawl.h as TRAWL_MAX_*; this header uses them
 * and defines nothing twice. Everything else is here, named LIMIT_*. A
 * limit is a bound on what comes from outside (a document, a query, a
 * request, a message, a connection) or on what trawl lets it cost; tuning
 * sizes that bound nothing an outsider controls (block sizes, buffer
 * growth) stay with their code.
 */
#ifndef TRAWL_COMMON_LIMITS_H
#define TRAWL_COMMON_LIMITS_H

#include <stdint.h>

#include "trawl/trawl.h"

/* LIMIT_STR(LIMIT_X): a limit as a string literal, for messages. */
#define LIMIT_STR_(x) #x
#define LIMIT_STR(x) LIMIT_STR_(x)

/* ---- documents and the index ---- */

/* Bytes of a document's external id: ids sit in every shard's id table and
 * in every FETCH reply, and a bound keeps both small. */
#define LIMIT_ID_BYTES 512
/* Text fields in a schema: a dictionary key starts with the field's number
 * in one byte, and scorers keep per-field arrays. */
#define LIMIT_FIELDS 32
/* Typed fields in a schema (keyword, long, double, date, boolean, keyword
 * twins of text fields), values of one in one document, and bytes of a
 * keyword value (after normalising): bounds on what one document adds to
 * the columns and postings of the typed fields. */
#define LIMIT_TYPED_FIELDS 64
#define LIMIT_FIELD_VALUES 1024
#define LIMIT_KEYWORD_BYTES 1024
/* Keys of a field sort (sort=a,b:desc,...): each costs every hit a value
 * in its shard's heap and on the wire. */
#define LIMIT_SORT_KEYS TRAWL_MAX_SORT_KEYS
/* A hit's sort values as JSON (their text in replies, search_after):
 * four keywords of 1,024 bytes, each character escaped (\u00XX), fit. */
#define LIMIT_SORT_JSON_BYTES 32768
/* Fields a schema's "store" list may name: every text and typed field. */
#define LIMIT_STORED_FIELDS (LIMIT_FIELDS + LIMIT_TYPED_FIELDS)
/* Bytes of a field name (schemas, queries, snippet requests). */
#define LIMIT_FIELD_NAME_BYTES 64
/* Bytes of a token after folding; longer tokens are skipped. A dictionary
 * key is the field's byte and a token, or a keyword field's byte and a
 * value: the longer of the two. */
#define LIMIT_TOKEN_BYTES 255
#define LIMIT_KEY_BYTES (1 + LIMIT_KEYWORD_BYTES)
/* Nesting of a document's JSON (the streaming validator's stack). */
#define LIMIT_JSON_DEPTH 64
/* Documents in one shard: doc numbers are 31 bits, and the top of the
 * range is the iterators' end mark. */
#define LIMIT_DOCS_PER_SHARD 0x7fffffffu
/* Bytes a stored record may claim when it is read back: the document limit
 * (TRAWL_MAX_DOC_BYTES, raised by a build option at most to this) with room
 * for the record's own header. A damaged length beyond it is refused. */
#define LIMIT_STORED_DOC_BYTES (64u << 20)
/* A term's frequency in one document, as stored: 24 bits. */
#define LIMIT_TF 0xffffffu
/* Bytes of a path trawl builds (an index directory and its files). */
#define LIMIT_PATH_BYTES 4096
/* Segments of one shard in a generation (issue #12): each is an LMDB
 * environment a searcher keeps open (a file descriptor and a mapping), and
 * a search visits each; updates add one per shard and batch, and merging
 * keeps the count far below this. An update that would pass it fails with
 * its message: compact the index. */
#define LIMIT_SEGMENTS 128

/* ---- messages between processes (root, leaves, build workers) ---- */

/* Bytes of one message, header included: nng refuses larger ones on
 * receipt (NNG_OPT_RECVMAXSZ), so a peer cannot make the other side buffer
 * more than this for one message. Every message below must fit. */
#define LIMIT_MESSAGE_BYTES (128u << 20)
/* Bytes of one request a leaf takes (nng refuses a larger one on receipt
 * and drops its connection): the largest SEARCH, an aggregation spec, the
 * largest query tree and search_after beside its other fields, with room.
 * A leaf thus buffers at most this much of a frame a peer leaves half
 * sent, not a whole message's worth (issue #13, finding 4: 128 MiB). */
#define LIMIT_LEAF_REQUEST_BYTES (LIMIT_AGG_SPEC_BYTES + TRAWL_MAX_QUERY_TREE_BYTES + (256u << 10))
/* Bytes of an error message in a reply. */
#define LIMIT_ERRMSG_BYTES 1024
/* Bytes of a snippet's highlight marks (pre and post) in FETCH. */
#define LIMIT_MARK_BYTES 64
/* Characters of a snippet asked for, and bytes of one returned. */
#define LIMIT_SNIPPET_CHARS 10000
#define LIMIT_SNIPPET_BYTES (1u << 20)

/* Bytes of a schema in a SCHEMA_REPLY: its canonical JSON
 * (idx_schema_to_json) names at most 32 text fields and 64 typed ones,
 * each with at most 64 bytes of name and about 130 of settings, and at
 * most 96 stored fields: about 30 KB at most. Twice that, so that a
 * setting added to the canonical form does not reach it. */
#define LIMIT_SCHEMA_JSON_BYTES 65536

/* Bytes of a generation's MANIFEST.json in a FILES_REPLY (a leaf pulling
 * generations over the network, leaf/pull.c): 256 shards of 128 segments,
 * each entry with its delete set and versions about 600 bytes of indented
 * JSON, is about 20 MB, beside a schema of at most LIMIT_SCHEMA_JSON_BYTES. */
#define LIMIT_MANIFEST_BYTES (32u << 20)
/* Bytes of a generation's file a FILE_READ asks for at once: a read takes
 * a worker of the leaf (or indexer) serving it for about a millisecond
 * from the page cache, and a pull of a 1 GiB segment is 256 round trips;
 * a puller killed mid-file loses at most this much of it. */
#define LIMIT_FILE_READ_BYTES (4u << 20)
/* Bytes of a file name a manifest lists (index/gen.h's IDX_FILE_NAME_BYTES
 * less its NUL): FILE_READ names one. */
#define LIMIT_GEN_FILE_NAME_BYTES 47

/* ---- serving: leaves and the nng server ---- */

/* Worker threads of an nng server (a leaf's, the build coordinator's). */
#define LIMIT_RPC_WORKERS 256
/* Requests an nng server takes in beyond the ones its workers handle (its
 * contexts are workers + LIMIT_RPC_QUEUE); the rest wait in the connection. */
#define LIMIT_RPC_QUEUE 128
/* A peer with this many replies waiting unread behind the one nng is
 * sending it is cut off until they have gone; one with a reply waiting
 * LIMIT_RPC_SEND_MS, for good (common/rpc.c). Half the queue, so that one
 * such peer never holds it; the root's default query deadline, so that no
 * root still waits for such a reply. */
#define LIMIT_RPC_UNSENT (LIMIT_RPC_QUEUE / 2)
/* Sheddable requests (searches) an nng server lets wait for a worker when
 * it is told to refuse the rest for overload (rpc_server_opts.max_queue):
 * at most half the queue, so that a slot is always free to read the next
 * request and refuse it rather than leave it waiting in the connection. */
#define LIMIT_RPC_MAX_QUEUE 64 /* a number: LIMIT_STR prints it in --help */
/* A leaf's default queue (leaf --queue): searches let wait per worker.
 * A search takes a few milliseconds, so a full queue is a wait of tens of
 * them, far inside the root's default deadline (LIMIT_RPC_SEND_MS). */
#define LIMIT_LEAF_QUEUE_PER_WORKER 2
/* Times a search waits for room at the replicas of a shard that refused it
 * as overloaded when the shard is short of replicas (one ejected), and how
 * long each wait lasts at most: until a search of the root's there comes
 * back (root/scatter.c, wait_for_room). */
#define LIMIT_ROOT_ROOM_WAITS 3
#define LIMIT_ROOT_ROOM_WAIT_MS 100
/* An nng server that refused this many requests for overload within
 * LIMIT_RPC_OVERLOAD_MS keeps half its queue (rounded up) until that long
 * has passed without another refusal: the whole queue absorbs a burst (a
 * few refusals), half of it bounds the wait under a steady overload
 * (hundreds a second; common/rpc.c, queue_bound_locked). As long as the
 * Retry-After of the root's 429. */
#define LIMIT_RPC_OVERLOAD_REFUSALS 8
#define LIMIT_RPC_OVERLOAD_MS 1000
#define LIMIT_RPC_SEND_MS 2000
/* Cut-off peers remembered while they stay connected (their requests are
 * dropped unanswered); beyond it the oldest is forgotten. */
#define LIMIT_RPC_IGNORED 256
/* Connections an nng server (a leaf, a build coordinator) keeps, in all
 * and from one address: beyond them a new connection is closed before any
 * message is read (issue #13, finding 4: any number of connections, each
 * with a frame half sent). A root holds one per leaf, a build worker one. */
#define LIMIT_RPC_CONNECTIONS 1024
#define LIMIT_RPC_PER_ADDRESS 64

/* ---- serving: the root ---- */

/* Searches a root lets wait for one of its workers (each worker holds a
 * search until its leaves answer); one more is answered 429 with
 * Retry-After at once (common/http.h, max_queue). As many as the workers:
 * a search admitted waits for one round of them at most. */
#define LIMIT_ROOT_QUEUE 64
/* A root's drain on SIGTERM (trawl root --drain-ms), in ms: at most ten
 * minutes, longer than any orchestrator waits for a process to stop. */
#define LIMIT_DRAIN_MS 600000
/* A leaf's or root's stop after SIGTERM or SIGINT (after the drain), in
 * ms: past this the process exits 0 without finishing it. nng 1.5.2 can
 * leave a connection's teardown waiting forever, and every teardown after
 * it (docs/RESILIENCE.md, known limits); a root once did not stop in 15 s.
 * A normal stop takes well under a second; an orchestrator waits 30 s. */
#define LIMIT_STOP_MS 5000

/* Leaves in a cluster file, and bytes of a leaf's URL. */
#define LIMIT_LEAVES 1024
#define LIMIT_URL_BYTES 256
/* A search's deadline a client may ask for (timeout_ms), in ms; a leaf
 * also holds a request to at most this (common/wire.h, wire_deadline). */
#define LIMIT_TIMEOUT_MS 60000
/* The deadline, in ms, a leaf gives a request that came without one:
 * five times a root's default search deadline. */
#define LIMIT_LEAF_DEADLINE_MS 10000
/* Bytes per second a leaf's scrub reads of the shard files it serves, by
 * default (leaf/shardguard.h): a leaf of 1 GiB is read again every 16 s, at
 * about 1% of a core; `--scrub-rate` changes it. */
#define LIMIT_SCRUB_BYTES_PER_S (64ll << 20)
/* ... and it starts a pass over them at most once a minute (`--scrub-period`):
 * a small leaf is not read again and again. A change is found within two
 * passes: 2 x max(bytes / rate, period). */
#define LIMIT_SCRUB_PERIOD_S 60
/* A bearer token of the HTTP API (root/auth.h): bytes, and tokens per file. */
#define LIMIT_BEARER_BYTES 256
#define LIMIT_BEARER_TOKENS 1024
/* Bytes of a session preference key (preference=). */
#define LIMIT_PREFERENCE_BYTES 256

/* ---- HTTP (common/http.c, every server's defaults) ---- */

/* Connections open at once, and from one address; connections waiting
 * longest without a request make room (common/connguard.h). */
#define LIMIT_HTTP_CONNECTIONS 1024u
#define LIMIT_HTTP_PER_IP 256u
/* Seconds a connection may stay silent, and seconds to receive a request
 * whole (line, headers, body), whatever its pace. */
#define LIMIT_HTTP_IDLE_S 10u
#define LIMIT_HTTP_REQUEST_S 10u
/* Bytes of the request line and headers, and of the body. */
#define LIMIT_HTTP_HEADER_BYTES ((size_t)16 << 10)
#define LIMIT_HTTP_BODY_BYTES ((size_t)1 << 20)
/* Query parameters of one request, and bytes of a parameter's name. */
#define LIMIT_HTTP_PARAMS 64
#define LIMIT_HTTP_PARAM_NAME_BYTES 64

/* Filters one native search may carry (a JSON body's "filter" list): each
 * is parsed and narrows the query; their clauses count in the query tree's
 * limits together, and this bounds the parsing before those are reached. */
#define LIMIT_API_FILTERS 32
/* Bytes of the native API's sort= text (at most 4 keys of a 64-byte field
 * and their options). */
#define LIMIT_API_SORT_BYTES 1024

/* ---- the OpenSearch query DSL (root/dsl.c) ---- */

/* Nesting of a query object, as the query language's parentheses. */
#define LIMIT_DSL_DEPTH TRAWL_MAX_QUERY_DEPTH
/* Bytes of a field name in the DSL, with its ^boost suffix. */
#define LIMIT_DSL_FIELD_BYTES 128
/* A date a range resolves (root/datemath.c: formats, date math) lies within
 * this many milliseconds of 1970, either way: 100,000 years of 365.25 days,
 * far past any real date, so that calendar arithmetic on it cannot
 * overflow. An amount of date math (now-5d) is at most
 * LIMIT_DATE_MATH_AMOUNT units: with the longest fixed unit, a week, and a
 * date within the range, the sum still fits an int64. */
#define LIMIT_DATE_MS 3155760000000000LL
#define LIMIT_DATE_MATH_AMOUNT 999999999LL

/* ---- aggregations (common/aggs.c, index/aggs_collect.c; docs/AGGREGATIONS.md) ---- */

/* Nesting of aggregations (a terms in a terms in a date_histogram ...):
 * each level multiplies the buckets a request may ask for, and the parser,
 * the collector and the renderer recurse once per level. */
#define LIMIT_AGG_DEPTH 8
/* Aggregations in one request, at every level together: each is a node of
 * the collector, visited for every matching document. */
#define LIMIT_AGG_NODES 256
/* Bytes of an aggregation's name, and of a range's or a filter's key. */
#define LIMIT_AGG_NAME_BYTES 128
/* Buckets of one request, at every level together, in a shard's partial
 * result, in the merge of partials and in the rendered answer (empty
 * histogram buckets included): Elasticsearch's search.max_buckets. It bounds
 * the collector's memory, a partial result and the answer; beyond it the
 * request is refused, naming the limit, never answered in part. */
#define LIMIT_AGG_BUCKETS 65536
/* Values held for exact percentiles (every value) and exact cardinality
 * (every distinct value), at every level together: a leaf's partial and the
 * root's merge hold them all. Beyond it the request is refused, naming the
 * limit, never answered with an estimate. */
#define LIMIT_AGG_VALUES 1000000
/* Ranges of a range or date_range, named queries of a filters, percents of
 * a percentiles, values of a terms' include or exclude, keys of an order. */
#define LIMIT_AGG_RANGES 256
#define LIMIT_AGG_FILTERS 256
#define LIMIT_AGG_PERCENTS 100
#define LIMIT_AGG_TERMS_LIST 1024
#define LIMIT_AGG_ORDER_KEYS 8
/* Bytes of a request's aggregations in canonical form (common/aggs.h), the
 * encoded query trees of its filters in hex included: the form a root
 * sends to its leaves. */
#define LIMIT_AGG_SPEC_BYTES (4u << 20)
/* Bytes of one encoded partial result (a leaf's reply to the root). */
#define LIMIT_AGG_PARTIAL_BYTES (96u << 20)

/* ---- the build ---- */

/* Bytes of input in a work item: the default, and the range one may ask
 * for. An item ends at a line boundary, so it may overrun the size asked
 * for by its last lines (a _bulk action and its document): at most
 * LIMIT_ITEM_BYTES, which must fit in one build message. */
#define LIMIT_ITEM_DEFAULT_BYTES (8u << 20)
#define LIMIT_ITEM_MIN_BYTES (64u << 10)
#define LIMIT_ITEM_MAX_BYTES (48u << 20)
#define LIMIT_ITEM_BYTES (120u << 20)
/* Worker threads of one build process. */
#define LIMIT_BUILD_WORKERS 64

/* ---- writes (index/wlog.c) ---- */

/* Bytes of an index's write log (the file's map): the writes acknowledged
 * and not yet in a published generation. The indexer empties it every
 * refresh; the bound keeps a stalled indexer from filling the disk, and a
 * write past it fails like one on a full disk (TRAWL_ENOSPC). A smaller
 * bound asked for is raised to the minimum, where LMDB's own pages fit. */
#define LIMIT_WLOG_BYTES ((uint64_t)16 << 30)
#define LIMIT_WLOG_MIN_BYTES ((uint64_t)1 << 20)
/* Operations and bytes of one append (a _bulk request's items): all of it
 * goes into one commit, whose pages LMDB holds in memory until the commit
 * (at most 2^17 dirty pages of 4 KiB, 512 MiB). A group commit joins
 * appends up to the same bytes. */
#define LIMIT_WLOG_APPEND_OPS 100000
#define LIMIT_WLOG_APPEND_BYTES (128u << 20)
/* Operations, and bytes of their documents, one generation of the indexer
 * takes from the write log (shard/indexer.h): a batch is read into memory
 * and built, so a backlog becomes several generations. */
#define LIMIT_INDEXER_BATCH_OPS 100000
#define LIMIT_INDEXER_BATCH_BYTES (256u << 20)
/* Backpressure: writes acknowledged and not yet in a generation, and bytes
 * of the write log, past which the indexer refuses new writes (TRAWL_EBUSY,
 * HTTP 429 es_rejected_execution_exception, as OpenSearch does when its
 * write queue is full) until it catches up. Two full generations: a
 * backlog beyond them is searchable only seconds later (issue #12's goal is
 * 2 s), and clients are better told to slow down than left to fill the
 * log (507). The bytes' bound is also at most half the log's own. */
#define LIMIT_INDEXER_BACKLOG_OPS 200000 /* (trawl serve --help says it) */
/* The disk's flood stage (OpenSearch's watermark of the same name): past
 * this percent of the file system holding an index used, its writes are
 * refused (507) until space is freed, so that what the log holds can still
 * be applied (trawl serve --flood-stage). */
#define LIMIT_DISK_FLOOD_PCT 95
/* The nice value of the threads doing writes' work while searches run in
 * the same process (trawl serve and root --write-priority low, the
 * default): the indexer's, and the HTTP workers answering writes. A
 * thread of nice 19 has 1/68th of the CPU weight of a search's and never
 * keeps a search's thread waiting long for a core; measured against
 * SCHED_IDLE (which Linux's EEVDF scheduler let a woken search wait behind
 * more often, and which stretched write-to-searchable past 2 s) in
 * bench/journal/2026-12-07-s23-query-tail.md. Lowering a thread's own
 * priority needs no privilege; raising it back would. */
#define LIMIT_WRITE_NICE 19
#define LIMIT_INDEXER_BACKLOG_BYTES ((uint64_t)2 * LIMIT_INDEXER_BATCH_BYTES)
/* The indexer's merge policy (shard/indexer.c): a shard with more than
 * LIMIT_MERGE_AT_SEGMENTS segments merges its smallest, up to
 * LIMIT_MERGE_FACTOR of them and LIMIT_MERGE_DOCS documents in one step
 * (a step is a generation: its time, during which writes wait in the log,
 * is bounded by its documents). */
#define LIMIT_MERGE_AT_SEGMENTS 10
/* Generations the indexer keeps below the live one (for a rollback) when
 * it publishes: it publishes one a second under writes, and each older one
 * would keep the files merges replaced. */
#define LIMIT_KEEP_GENERATIONS 8
#define LIMIT_MERGE_FACTOR 10
#define LIMIT_MERGE_DOCS 200000
/* The global statistics' delta (index/gstats.h) is folded into a new base
 * when it holds more keys than the base's 1/LIMIT_STATS_REBASE_FRACTION
 * (and at every compaction): each generation rewrites its delta, so its
 * cost grows with the keys changed since the last rebase, and a search
 * looks a term up in both. A rebase writes the whole vocabulary once. */
#define LIMIT_STATS_REBASE_FRACTION 4
/* Items of a _bulk request decided at once (its outcomes are held a chunk
 * at a time), and how long a write with refresh=true|wait_for, or a
 * _refresh, waits for its generation. */
#define LIMIT_BULK_CHUNK 1000
#define LIMIT_REFRESH_WAIT_MS 60000
/* After a refresh's generation is searched by one replica of every shard
 * (what the root waiting needs), how much longer it waits for the other
 * replicas to switch (a pulling leaf a moment behind its twin), so that
 * other roots, whose view of the leaves may be older, find that
 * generation wherever they ask (root/root.c, root_refresh). Past it the
 * refresh answers anyway: a replica stuck behind must not hold writes. */
#define LIMIT_REFRESH_REPLICAS_MS 2000
/* How long a search that met a newer generation than the one it was pinned
 * to (WIRE_F_NEWER: the root's view of the leaves was behind) waits for a
 * fresh ping round before it runs once more, pinned to what that round
 * saw; past it (a dead leaf holds the round up to its ping timeout) it
 * runs once more with the view the root has (the first answer was not
 * fetched). A search over several indexes waits once for them all. */
#define LIMIT_ROOT_VIEW_WAIT_MS 100
/* How long a refresh's floor holds at the root that waited for it
 * (root/replica.h, replicas_raise_floor): within it no search there is
 * answered from an older generation, even when only a replica behind is
 * left (the search fails instead); past it such a replica answers. A
 * client that refreshes and then searches does so well within it. */
#define LIMIT_REFRESH_FLOOR_MS 10000
/* How long the ingest remembers a published delete (index/tombs.h), so
 * that a write of the id continues its _version: OpenSearch's
 * index.gc_deletes default; and how many it remembers at most (about 100
 * bytes and the id each), the oldest forgotten first. */
#define LIMIT_GC_DELETES_MS 60000
#define LIMIT_TOMBSTONES 1000000

/* Writes of an update file decided and logged at once (one append: one
 * fsync), and their input bytes (fewer when a document may be large: a
 * chunk's operations fit one append, LIMIT_WLOG_APPEND_BYTES). */
#define LIMIT_UPDATE_CHUNK_ITEMS 1000
#define LIMIT_UPDATE_CHUNK_BYTES ((size_t)32 << 20)

/* Bytes of an index's name (OpenSearch's bound). */
#define LIMIT_INDEX_NAME_BYTES 255
/* Indexes one server holds (`trawl serve DATA_DIR`, issue #12): each is a
 * leaf, an indexer and a root in the process, about ten threads and their
 * maps, and a search over several sends one scatter per index at once. */
#define LIMIT_INDEXES 64
/* Aliases of one server, and items of an index expression ("a,b-*,-c"):
 * each alias lists at most LIMIT_INDEXES indexes; an expression is
 * resolved item by item. */
#define LIMIT_ALIASES 256
#define LIMIT_INDEX_EXPR_ITEMS 64
/* Actions of one POST /_aliases (applied all or none). */
#define LIMIT_ALIAS_ACTIONS 1024
/* Bytes of a _bulk request's body (OpenSearch's http.max_content_length
 * default), and its items (LIMIT_WLOG_APPEND_OPS): they are decided in one
 * call, each logged as an append of its own. */
#define LIMIT_BULK_BYTES (100u << 20)

/* ---- how the limits agree ---- */

/* A document's typed values fit the document limit's order of size: every
 * field at its value limit, each value a keyword at its byte limit, stays
 * within a build message. */
_Static_assert((uint64_t)LIMIT_TYPED_FIELDS *LIMIT_FIELD_VALUES *(4 + LIMIT_KEYWORD_BYTES) <=
                   LIMIT_MESSAGE_BYTES,
               "a document's typed values fit one message");
_Static_assert((uint64_t)LIMIT_SORT_KEYS *(LIMIT_KEYWORD_BYTES * 6 + 2 + 32) + 32 <=
                   LIMIT_SORT_JSON_BYTES,
               "a hit's sort values fit their JSON bound");
_Static_assert(LIMIT_SORT_JSON_BYTES <= 65535, "sort values' JSON travels with a u16 length");
/* Shard numbers travel as u16 and index per-shard byte tables. */
_Static_assert(TRAWL_MAX_SHARDS <= 256, "shard numbers index 256-entry tables");
/* A dictionary key is a field byte and a token. */
_Static_assert(LIMIT_FIELDS <= 255, "a field's number is one byte of a key");
_Static_assert(LIMIT_KEY_BYTES >= 1 + LIMIT_TOKEN_BYTES, "key = field byte + token");
_Static_assert(LIMIT_KEY_BYTES >= 1 + LIMIT_KEYWORD_BYTES, "key = field byte + keyword");
/* A keyword field's key byte is 64 + its typed number, above every text
 * field's (index_int.h, IDX_KEYWORD_FID). */
_Static_assert(LIMIT_FIELDS <= 64 && 64 + LIMIT_TYPED_FIELDS <= 256,
               "keyword key bytes follow the text fields' and fit a byte");
/* A log's commit stays within LMDB's dirty pages, and its smallest bound
 * holds an append's largest document. */
_Static_assert(LIMIT_WLOG_APPEND_BYTES <= (256u << 20), "an append is half of LMDB's dirty pages");
_Static_assert((uint64_t)LIMIT_SEGMENTS *TRAWL_MAX_SHARDS <= 65536,
               "every segment of a generation open at once stays within file descriptors");
_Static_assert(LIMIT_WLOG_MIN_BYTES <= LIMIT_WLOG_BYTES, "the log's bounds are ordered");
/* A refresh's extra wait for the other replicas fits in its own wait. */
_Static_assert(LIMIT_DISK_FLOOD_PCT > 0 && LIMIT_DISK_FLOOD_PCT <= 100, "a percent");
_Static_assert(LIMIT_WRITE_NICE > 0 && LIMIT_WRITE_NICE <= 19, "a nice value below the default's");
_Static_assert(LIMIT_REFRESH_REPLICAS_MS < LIMIT_REFRESH_WAIT_MS,
               "the wait for every replica is part of a refresh's wait");
/* An update file's chunk is one append of the log, and a _bulk request. */
_Static_assert(LIMIT_UPDATE_CHUNK_ITEMS <= LIMIT_WLOG_APPEND_OPS, "a chunk is one append");
_Static_assert(LIMIT_UPDATE_CHUNK_BYTES <= LIMIT_BULK_BYTES / 2,
               "a chunk and its last document fit a _bulk body");
_Static_assert(LIMIT_INDEXER_BATCH_OPS <= UINT32_MAX,
               "a batch's operations are numbered in 32 bits");
/* The backlog's bounds hold a full generation, and refuse before the log
 * is full (at most half of it: the indexer clamps a smaller log's). */
_Static_assert(LIMIT_INDEXER_BACKLOG_OPS == 2 * LIMIT_INDEXER_BATCH_OPS &&
                   LIMIT_INDEXER_BACKLOG_BYTES >= LIMIT_INDEXER_BATCH_BYTES,
               "the backlog holds a generation's batch");
_Static_assert(LIMIT_INDEXER_BACKLOG_BYTES <= LIMIT_WLOG_BYTES / 2,
               "the backlog refuses before the log is full");
/* A document the build accepts can be stored and read back. */
_Static_assert(TRAWL_MAX_DOC_BYTES <= LIMIT_STORED_DOC_BYTES, "a document fits a record");
/* The biggest document fits a FETCH reply, with its id and a snippet. */
_Static_assert((uint64_t)LIMIT_STORED_DOC_BYTES + LIMIT_ID_BYTES + LIMIT_SNIPPET_BYTES + 4096 <=
                   LIMIT_MESSAGE_BYTES,
               "a stored document fits a FETCH reply");
/* A SEARCH reply with k + offset hits and their ids fits a message (a hit
 * is 20 bytes, an id its bytes and a u32 length). */
_Static_assert((uint64_t)TRAWL_MAX_K *(20 + 4 + LIMIT_ID_BYTES) + 4096 <= LIMIT_MESSAGE_BYTES,
               "a full page of hits with ids fits a SEARCH reply");
/* A FETCH of k + offset documents (8 bytes each) and the largest query
 * tree fits a request. */
_Static_assert((uint64_t)TRAWL_MAX_K * 8 + TRAWL_MAX_QUERY_TREE_BYTES + 4096 <= LIMIT_MESSAGE_BYTES,
               "a FETCH request fits a message");
/* Every request a root sends fits what a leaf takes: a SEARCH (its tree,
 * spec, sort keys and search_after), a FETCH (k + offset documents and a
 * tree), a GET (an id). */
_Static_assert((uint64_t)LIMIT_AGG_SPEC_BYTES + TRAWL_MAX_QUERY_TREE_BYTES + LIMIT_SORT_JSON_BYTES +
                       LIMIT_SORT_KEYS * 300 + TRAWL_MAX_SHARDS * 2 + 4096 <=
                   LIMIT_LEAF_REQUEST_BYTES,
               "a SEARCH request fits what a leaf takes");
_Static_assert((uint64_t)TRAWL_MAX_K * 8 + TRAWL_MAX_QUERY_TREE_BYTES + 4096 <=
                   LIMIT_LEAF_REQUEST_BYTES,
               "a FETCH request fits what a leaf takes");
_Static_assert(LIMIT_LEAF_REQUEST_BYTES <= LIMIT_MESSAGE_BYTES, "a request is a message");
_Static_assert(LIMIT_LEAF_DEADLINE_MS <= LIMIT_TIMEOUT_MS,
               "a default deadline is one a client may ask");
/* A query's words are in its tree. */
_Static_assert(TRAWL_MAX_QUERY_BYTES <= TRAWL_MAX_QUERY_TREE_BYTES, "a query fits its tree");
_Static_assert(TRAWL_MAX_PHRASE_TERMS <= TRAWL_MAX_QUERY_TERMS, "a phrase is part of a query");
/* A work item, with its last lines, fits one build message. */
_Static_assert(LIMIT_ITEM_MIN_BYTES <= LIMIT_ITEM_DEFAULT_BYTES &&
                   LIMIT_ITEM_DEFAULT_BYTES <= LIMIT_ITEM_MAX_BYTES &&
                   LIMIT_ITEM_MAX_BYTES < LIMIT_ITEM_BYTES,
               "item sizes are ordered");
_Static_assert((uint64_t)LIMIT_ITEM_BYTES + 4096 <= LIMIT_MESSAGE_BYTES,
               "a work item fits a build message");
/* An item of the largest size asked for, then a _bulk action line and a
 * document of the largest size a build may allow, fit the overrun bound. */
_Static_assert((uint64_t)LIMIT_ITEM_MAX_BYTES + LIMIT_STORED_DOC_BYTES + (1u << 20) <=
                   LIMIT_ITEM_BYTES,
               "a document after a full item fits the item's bound");
/* A cut-off peer holds at most half the queue. */
_Static_assert(LIMIT_RPC_UNSENT < LIMIT_RPC_QUEUE, "one peer never holds the whole queue");
_Static_assert(LIMIT_RPC_MAX_QUEUE <= LIMIT_RPC_QUEUE / 2, "a slot is always free to refuse");
/* An id and a field name fit a URL parameter's bounds of the HTTP server. */
_Static_assert(LIMIT_ID_BYTES * 3 < LIMIT_HTTP_HEADER_BYTES, "a percent-encoded id fits a URL");
_Static_assert(LIMIT_FIELD_NAME_BYTES <= LIMIT_DSL_FIELD_BYTES, "a field name fits the DSL's");
_Static_assert(LIMIT_DATE_MATH_AMOUNT * 604800000LL + 2 * LIMIT_DATE_MS < INT64_MAX,
               "date math on a date in range cannot overflow");
_Static_assert(LIMIT_HTTP_PARAM_NAME_BYTES >= 32, "every parameter name of the API fits");

/* Aggregations: a request's spec, and a partial result, fit a message
 * beside the rest of a SEARCH request or reply; a filter's query tree fits
 * the spec in hex; a terms' size is a number of buckets; a keyword value
 * can be a terms' missing, include or exclude value. */
_Static_assert((uint64_t)LIMIT_AGG_SPEC_BYTES + TRAWL_MAX_QUERY_TREE_BYTES + 4096 <=
                   LIMIT_MESSAGE_BYTES,
               "an aggregation spec fits a SEARCH request");
_Static_assert((uint64_t)LIMIT_AGG_PARTIAL_BYTES +
                       (uint64_t)TRAWL_MAX_K * (20 + 4 + LIMIT_ID_BYTES) + 4096 <=
                   LIMIT_MESSAGE_BYTES,
               "a partial aggregation result fits a SEARCH reply");
_Static_assert(LIMIT_SCHEMA_JSON_BYTES >=
                   2 * ((LIMIT_FIELDS + LIMIT_TYPED_FIELDS) * (LIMIT_FIELD_NAME_BYTES + 130) +
                        LIMIT_STORED_FIELDS * (LIMIT_FIELD_NAME_BYTES + 3)),
               "a canonical schema fits a SCHEMA_REPLY twice over");
_Static_assert(2ull * TRAWL_MAX_QUERY_TREE_BYTES + 4096 <= LIMIT_AGG_SPEC_BYTES,
               "a filter's query tree fits a spec in hex");
_Static_assert(LIMIT_AGG_BUCKETS < (1u << 30) && LIMIT_AGG_VALUES < (1u << 30),
               "bucket and value numbers fit 32 bits with room");
_Static_assert(LIMIT_AGG_NODES >= LIMIT_AGG_DEPTH, "a request can nest to the depth limit");
/* A generation's files over the wire (FILES_REPLY, FILE_READ_REPLY): a
 * manifest, or a read, with its checksum and an error message, fit a
 * message; a FILE_READ fits what a leaf takes. */
_Static_assert((uint64_t)LIMIT_MANIFEST_BYTES + 33 + LIMIT_ERRMSG_BYTES + 4096 <=
                   LIMIT_MESSAGE_BYTES,
               "a manifest fits a FILES_REPLY");
_Static_assert((uint64_t)LIMIT_FILE_READ_BYTES + LIMIT_ERRMSG_BYTES + 4096 <= LIMIT_MESSAGE_BYTES,
               "a read fits a FILE_READ_REPLY");
_Static_assert(LIMIT_GEN_FILE_NAME_BYTES + 64 <= LIMIT_LEAF_REQUEST_BYTES,
               "a FILE_READ fits what a leaf takes");

#endif
