/*
 * build.c - building a generation: parse JSON Lines, route every document to
 * its shard, invert, and write each shard file; then compute the global
 * statistics, checksum, write the manifest and publish (gen.c).
 *
 * The builder keeps the documents of the whole build in memory, inverts
 * every shard (the global statistics need them all), then writes the shards
 * one at a time, freeing each one's postings as it goes. Within a shard, doc ids are assigned in the
 * order of XXH3_64(external id): score ties inside a shard then break the
 * same way as ties between shards, by that hash, so every shard layout
 * ranks alike, and a later document with an equal score can never displace
 * an earlier one (which lets top-k pruning compare strictly).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "analyze.h"
#include "codec.h"
#include "dict.h"
#include "common/buf.h"
#include "common/hash.h"
#include "docstore.h"
#include "gen.h"
#include "index_int.h"
#include "input.h"
#include "jsonscan.h"
#include "postings.h"
#include "store.h"

#define ARENA_CHUNK (64u << 20)

/* ---- a chunked arena: records never move ---- */

typedef struct arena {
	uint8_t **chunks;
	size_t nchunks, cap;
	size_t used; /* in the last chunk */
	size_t chunk_size;
} arena;

static void *arena_alloc(arena *a, size_t n)
{
	if (a->nchunks == 0 || a->used + n > a->chunk_size) {
		size_t sz = n > ARENA_CHUNK ? n : ARENA_CHUNK;
		if (a->nchunks == a->cap) {
			size_t nc = a->cap ? a->cap * 2 : 16;
			uint8_t **p = realloc(a->chunks, nc * sizeof *p);
			if (!p)
				return NULL;
			a->chunks = p;
			a->cap = nc;
		}
		uint8_t *c = malloc(sz);
		if (!c)
			return NULL;
		a->chunks[a->nchunks++] = c;
		a->used = 0;
		a->chunk_size = sz;
	}
	void *p = a->chunks[a->nchunks - 1] + a->used;
	a->used += (n + 7) & ~(size_t)7;
	if (a->used > a->chunk_size)
		a->used = a->chunk_size;
	return p;
}

static void arena_free(arena *a)
{
	for (size_t i = 0; i < a->nchunks; i++)
		free(a->chunks[i]);
	free(a->chunks);
	memset(a, 0, sizeof *a);
}

/* ---- documents ---- */

/* A document record in the arena: id, stored bytes, then per text field a
 * u32 length and the text. */
typedef struct bdoc {
	uint64_t hash;
	uint64_t seq;
	const uint8_t *rec;
	uint32_t id_len;
	uint32_t stored_len;
	uint32_t shard;
	uint8_t tomb; /* a _bulk delete: removes earlier documents with the id */
} bdoc;

/* ---- inversion ---- */

typedef struct bterm {
	uint32_t *dt;       /* doc, tf pairs */
	uint32_t *pos;      /* positions, doc by doc */
	uint64_t kpre;      /* the key's first 8 bytes, zero-padded: most keys compare here */
	const uint8_t *key; /* field byte + term */
	uint32_t klen;
	uint32_t df;
	uint32_t last_doc;
	uint32_t cap;       /* of dt, in pairs */
	uint32_t npos, poscap;
	uint64_t df_global;
} bterm;

/* A hash table slot: the high half of the key's hash and the term's index + 1
 * (0: empty), in one word so that a probe touches one cache line. */
typedef struct bslot {
	uint32_t hash;
	uint32_t term;
} bslot;

typedef struct inverter {
	bterm *terms;
	uint32_t nterms, capterms;
	bslot *table;
	uint32_t mask;
	arena keys;
	int failed;      /* ENOMEM while inverting */
	uint32_t cur_doc;
	uint8_t cur_fid;
	uint32_t kept;   /* tokens kept in the current field */
} inverter;

static int inv_init(inverter *v)
{
	memset(v, 0, sizeof *v);
	v->mask = (1u << 16) - 1;
	v->table = calloc((size_t)v->mask + 1, sizeof *v->table);
	return v->table ? TRAWL_OK : TRAWL_ENOMEM;
}

static void inv_fini(inverter *v)
{
	for (uint32_t i = 0; i < v->nterms; i++) {
		free(v->terms[i].dt);
		free(v->terms[i].pos);
	}
	free(v->terms);
	free(v->table);
	arena_free(&v->keys);
	memset(v, 0, sizeof *v);
}

static uint64_t key_hash(uint8_t fid, const char *text, uint32_t len)
{
	return th_hash64(text, len) ^ ((uint64_t)(fid + 1) * 0x9E3779B97F4A7C15ull);
}

static int inv_grow(inverter *v)
{
	uint32_t nmask = v->mask * 2 + 1;
	bslot *t = calloc((size_t)nmask + 1, sizeof *t);
	if (!t)
		return TRAWL_ENOMEM;
	for (uint32_t i = 0; i < v->nterms; i++) {
		const bterm *bt = &v->terms[i];
		uint64_t h = key_hash(bt->key[0], (const char *)bt->key + 1, bt->klen - 1);
		uint32_t j = (uint32_t)h & nmask;
		while (t[j].term)
			j = (j + 1) & nmask;
		t[j] = (bslot){(uint32_t)(h >> 32), i + 1};
	}
	free(v->table);
	v->table = t;
	v->mask = nmask;
	return TRAWL_OK;
}

static inline uint64_t key_prefix(uint8_t fid, const char *text, uint32_t len)
{
	uint64_t p = fid;
	uint8_t b[8] = {0};
	memcpy(b, text, len < 7 ? len : 7);
	uint64_t rest;
	memcpy(&rest, b, 8);
	return p | (rest << 8);
}

/* Finds or adds (fid, text); returns the term or NULL on ENOMEM. */
static bterm *inv_term(inverter *v, uint8_t fid, const char *text, uint32_t len)
{
	uint64_t h = key_hash(fid, text, len);
	uint32_t hh = (uint32_t)(h >> 32), j = (uint32_t)h & v->mask;
	uint64_t kp = key_prefix(fid, text, len);
	for (;;) {
		bslot sl = v->table[j];
		if (!sl.term)
			break;
		if (sl.hash == hh) {
			bterm *bt = &v->terms[sl.term - 1];
			if (bt->klen == len + 1 && bt->kpre == kp &&
			    (len <= 7 || !memcmp(bt->key + 8, text + 7, len - 7)))
				return bt;
		}
		j = (j + 1) & v->mask;
	}
	if (v->nterms == v->capterms) {
		uint32_t nc = v->capterms ? v->capterms * 2 : 4096;
		bterm *p = realloc(v->terms, (size_t)nc * sizeof *p);
		if (!p)
			return NULL;
		v->terms = p;
		v->capterms = nc;
	}
	uint8_t *k = arena_alloc(&v->keys, len + 1);
	if (!k)
		return NULL;
	k[0] = fid;
	memcpy(k + 1, text, len);
	bterm *bt = &v->terms[v->nterms++];
	memset(bt, 0, sizeof *bt);
	bt->key = k;
	bt->klen = len + 1;
	bt->kpre = kp;
	bt->last_doc = IDX_END;
	v->table[j] = (bslot){hh, v->nterms};
	if (v->nterms * 2 > v->mask && inv_grow(v))
		return NULL;
	return &v->terms[v->nterms - 1];
}

static int on_token(void *ctx, const idx_token *tok)
{
	inverter *v = ctx;
	bterm *t = inv_term(v, v->cur_fid, tok->text, tok->len);
	if (!t) {
		v->failed = 1;
		return TRAWL_ENOMEM;
	}
	v->kept++;
	if (t->last_doc != v->cur_doc) {
		if (t->df == t->cap) {
			uint32_t nc = t->cap ? t->cap * 2 : 2;
			uint32_t *p = realloc(t->dt, (size_t)nc * 2 * sizeof *p);
			if (!p) {
				v->failed = 1;
				return TRAWL_ENOMEM;
			}
			t->dt = p;
			t->cap = nc;
		}
		t->dt[2 * t->df] = v->cur_doc;
		t->dt[2 * t->df + 1] = 0;
		t->df++;
		t->last_doc = v->cur_doc;
	}
	t->dt[2 * t->df - 1]++;
	if (t->npos == t->poscap) {
		uint32_t nc = t->poscap ? t->poscap * 2 : 2;
		uint32_t *p = realloc(t->pos, (size_t)nc * sizeof *p);
		if (!p) {
			v->failed = 1;
			return TRAWL_ENOMEM;
		}
		t->pos = p;
		t->poscap = nc;
	}
	t->pos[t->npos++] = tok->pos;
	return 0;
}

/* ---- batched inversion ----
 * Looking a token up costs a cache miss on its hash slot and another on its
 * term entry. A field's tokens are collected first, then inverted with the
 * slot of the token 8 ahead and the entry of the token 4 ahead prefetched. */

#define BATCH_AHEAD 8

typedef struct tokbatch {
	char *text;    /* token bytes, end to end */
	size_t tlen, tcap;
	uint32_t *off, *len, *pos;
	uint64_t *hash;
	uint32_t n, cap;
	int failed;
} tokbatch;

static void batch_fini(tokbatch *t)
{
	free(t->text);
	free(t->off);
	free(t->len);
	free(t->pos);
	free(t->hash);
	memset(t, 0, sizeof *t);
}

static int collect(void *ctx, const idx_token *tok)
{
	tokbatch *t = ctx;
	if (t->n == t->cap) {
		uint32_t nc = t->cap ? t->cap * 2 : 1024;
		uint32_t *o = realloc(t->off, nc * sizeof *o);
		if (o)
			t->off = o;
		uint32_t *l = realloc(t->len, nc * sizeof *l);
		if (l)
			t->len = l;
		uint32_t *p = realloc(t->pos, nc * sizeof *p);
		if (p)
			t->pos = p;
		uint64_t *h = realloc(t->hash, nc * sizeof *h);
		if (h)
			t->hash = h;
		if (!o || !l || !p || !h) {
			t->failed = 1;
			return 1;
		}
		t->cap = nc;
	}
	if (t->tlen + tok->len > t->tcap) {
		size_t nc = t->tcap ? t->tcap * 2 : 65536;
		while (nc < t->tlen + tok->len)
			nc *= 2;
		char *x = realloc(t->text, nc);
		if (!x) {
			t->failed = 1;
			return 1;
		}
		t->text = x;
		t->tcap = nc;
	}
	memcpy(t->text + t->tlen, tok->text, tok->len);
	t->off[t->n] = (uint32_t)t->tlen;
	t->len[t->n] = tok->len;
	t->pos[t->n] = tok->pos;
	t->tlen += tok->len;
	t->n++;
	return 0;
}

/* Inverts a field's collected tokens into v (cur_doc and cur_fid set). */
static int invert_batch(inverter *v, tokbatch *t)
{
	uint8_t fid = v->cur_fid;
	for (uint32_t i = 0; i < t->n; i++)
		t->hash[i] = key_hash(fid, t->text + t->off[i], t->len[i]);
	for (uint32_t i = 0; i < t->n; i++) {
		if (i + BATCH_AHEAD < t->n)
			__builtin_prefetch(&v->table[(uint32_t)t->hash[i + BATCH_AHEAD] & v->mask]);
		if (i + BATCH_AHEAD / 2 < t->n) {
			bslot sl = v->table[(uint32_t)t->hash[i + BATCH_AHEAD / 2] & v->mask];
			if (sl.term)
				__builtin_prefetch(&v->terms[sl.term - 1]);
		}
		idx_token tok = {t->text + t->off[i], t->len[i], t->pos[i], 0, 0};
		if (on_token(v, &tok))
			return TRAWL_ENOMEM;
	}
	return TRAWL_OK;
}

/* ---- the builder ---- */

struct trawl_builder {
	char *dir;
	idx_schema schema;
	char *schema_json;
	trawl_build_opts opts;
	uint32_t nshards;
	size_t max_doc;
	int lockfd;
	bdoc *docs;
	uint64_t ndocs, capdocs;
	arena recs;
	trawl_build_report rep;
	struct timespec t0;
	tbuf keybuf, idbuf, texts, stored; /* scratch for one document */
	tbuf bulk_id;                       /* the _id of the pending _bulk action */
	char errmsg[1024];
};

static int berr(trawl_builder *b, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int berr(trawl_builder *b, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b->errmsg, sizeof b->errmsg, fmt, ap);
	va_end(ap);
	return code;
}

const char *trawl_builder_errmsg(const trawl_builder *b)
{
	return b ? b->errmsg : "no builder";
}

static int mkdir_p(const char *dir)
{
	char tmp[IDX_PATH_MAX];
	snprintf(tmp, sizeof tmp, "%s", dir);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

int trawl_builder_open(trawl_builder **out, const char *dir, const trawl_build_opts *opts,
                       char *errbuf, size_t errlen)
{
	*out = NULL;
	trawl_build_opts o = {0};
	if (opts)
		o = *opts;
	if (o.shards == 0)
		o.shards = 1;
	if (o.shards > TRAWL_MAX_SHARDS)
		return idx_errf(errbuf, errlen, TRAWL_ELIMIT, "%u shards; the limit is %d", o.shards,
		                TRAWL_MAX_SHARDS);
	if (!dir || !*dir || strlen(dir) > IDX_PATH_MAX - 64)
		return idx_errf(errbuf, errlen, TRAWL_EINVAL, "index directory name missing or too long");
	trawl_builder *b = calloc(1, sizeof *b);
	if (!b)
		return TRAWL_ENOMEM;
	b->lockfd = -1;
	b->opts = o;
	tbuf_init(&b->keybuf, IDX_STORED_MAX);
	tbuf_init(&b->idbuf, IDX_STORED_MAX);
	tbuf_init(&b->texts, IDX_STORED_MAX * 2);
	tbuf_init(&b->stored, IDX_STORED_MAX * 2);
	tbuf_init(&b->bulk_id, IDX_MAX_ID_BYTES * 4);
	b->nshards = o.shards;
	b->max_doc = o.max_doc_bytes ? o.max_doc_bytes : TRAWL_MAX_DOC_BYTES;
	if (b->max_doc > IDX_STORED_MAX)
		b->max_doc = IDX_STORED_MAX;
	clock_gettime(CLOCK_MONOTONIC, &b->t0);
	int rc = TRAWL_OK;
	if (o.schema_json || o.schema_path) {
		char *text = NULL;
		size_t len = 0;
		if (o.schema_json) {
			len = strlen(o.schema_json);
			text = strdup(o.schema_json);
		} else {
			FILE *f = fopen(o.schema_path, "rb");
			if (!f) {
				rc = idx_errf(errbuf, errlen,
				              errno == ENOENT ? TRAWL_ENOTFOUND : TRAWL_EIO, "%s: %s",
				              o.schema_path, strerror(errno));
				goto fail;
			}
			text = malloc(65536);
			len = text ? fread(text, 1, 65536, f) : 0;
			fclose(f);
			if (len == 65536) {
				free(text);
				rc = idx_errf(errbuf, errlen, TRAWL_ESCHEMA,
				              "%s: schema files are limited to 64 KiB", o.schema_path);
				goto fail;
			}
		}
		if (!text) {
			rc = TRAWL_ENOMEM;
			goto fail;
		}
		char msg[512];
		rc = idx_schema_parse(&b->schema, text, len, msg, sizeof msg);
		free(text);
		if (rc) {
			if (o.schema_json)
				idx_errf(errbuf, errlen, rc, "%s", msg);
			else
				idx_errf(errbuf, errlen, rc, "%s: %s", o.schema_path, msg);
			goto fail;
		}
	} else {
		idx_schema_default(&b->schema);
	}
	b->opts.schema_json = b->opts.schema_path = NULL;
	b->schema_json = idx_schema_to_json(&b->schema);
	b->dir = strdup(dir);
	if (!b->schema_json || !b->dir) {
		rc = TRAWL_ENOMEM;
		goto fail;
	}
	if (mkdir_p(dir) != 0) {
		rc = idx_errf(errbuf, errlen, TRAWL_EIO, "%s: %s", dir, strerror(errno));
		goto fail;
	}
	if ((rc = idx_gen_lock(dir, &b->lockfd, errbuf, errlen)))
		goto fail;
	*out = b;
	return TRAWL_OK;
fail:
	trawl_builder_close(b);
	return rc;
}

void trawl_builder_close(trawl_builder *b)
{
	if (!b)
		return;
	if (b->lockfd >= 0)
		close(b->lockfd);
	free(b->docs);
	arena_free(&b->recs);
	tbuf_fini(&b->keybuf);
	tbuf_fini(&b->idbuf);
	tbuf_fini(&b->texts);
	tbuf_fini(&b->stored);
	tbuf_fini(&b->bulk_id);
	free(b->schema_json);
	free(b->dir);
	free(b);
}

/* The members of one document that the build needs, as the scanner met them. */
typedef struct docscan {
	const idx_schema *schema;
	idx_jvalue id;
	idx_jvalue field[IDX_MAX_FIELDS];
	uint8_t has_id;
	uint8_t has[IDX_MAX_FIELDS];
	const char *dup;    /* a needed key that appeared twice */
	const char *dup_at; /* its second occurrence */
} docscan;

/* 1-based column, in characters, of at in text. */
static uint32_t column_of(const char *text, const char *at)
{
	uint32_t col = 1;
	for (const char *q = text; q < at; q++)
		col += ((unsigned char)*q & 0xC0) != 0x80;
	return col;
}

static int on_member(void *ctx, const char *key, size_t klen, const idx_jvalue *v)
{
	docscan *d = ctx;
	if (klen == 2 && key[0] == 'i' && key[1] == 'd') {
		if (d->has_id && !d->dup) {
			d->dup = "id";
			d->dup_at = v->key_at;
		}
		d->has_id = 1;
		d->id = *v;
		return 0;
	}
	int f = idx_schema_field(d->schema, key, klen);
	if (f >= 0) {
		if (d->has[f] && !d->dup) {
			d->dup = d->schema->fields[f].name;
			d->dup_at = v->key_at;
		}
		d->has[f] = 1;
		d->field[f] = *v;
	}
	return 0;
}

/* Re-serialises the stored subset of a document's fields (jansson). */
static int stored_subset(const idx_schema *schema, const char *json, size_t len, tbuf *out)
{
	json_t *root = json_loadb(json, len, 0, NULL);
	if (!root)
		return TRAWL_EJSON; /* cannot happen: the scanner validated it */
	json_t *copy = json_object();
	const char *k;
	json_t *v;
	json_object_foreach(root, k, v)
	{
		if (idx_schema_is_stored(schema, k))
			json_object_set(copy, k, v);
	}
	char *str = json_dumps(copy, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(copy);
	json_decref(root);
	int rc = str ? tbuf_append(out, str, strlen(str)) : TRAWL_ENOMEM;
	free(str);
	return rc;
}

/* Appends a document record (or a tombstone) to the build. */
static int push_doc(trawl_builder *b, const uint8_t *id, size_t idl, const char *sdata, size_t slen,
                    const tbuf *texts, int tomb)
{
	if (b->ndocs == b->capdocs) {
		uint64_t nc = b->capdocs ? b->capdocs * 2 : 1024;
		bdoc *p = realloc(b->docs, nc * sizeof *p);
		if (!p)
			return TRAWL_ENOMEM;
		b->docs = p;
		b->capdocs = nc;
	}
	size_t tlen = texts ? texts->len : 0;
	uint8_t *rec = arena_alloc(&b->recs, idl + slen + tlen + 1);
	if (!rec)
		return TRAWL_ENOMEM;
	memcpy(rec, id, idl);
	if (slen)
		memcpy(rec + idl, sdata, slen);
	if (tlen)
		memcpy(rec + idl + slen, texts->data, tlen);
	bdoc *bd = &b->docs[b->ndocs];
	bd->hash = th_hash64(id, idl);
	bd->seq = b->ndocs;
	bd->rec = rec;
	bd->id_len = (uint32_t)idl;
	bd->stored_len = (uint32_t)slen;
	bd->shard = th_jump_hash(bd->hash, b->nshards);
	bd->tomb = (uint8_t)tomb;
	b->ndocs++;
	return TRAWL_OK;
}

static int add_doc(trawl_builder *b, const char *json, size_t len, const char *source,
                   uint64_t line, const uint8_t *id_override, size_t id_override_len);

int trawl_builder_add_json(trawl_builder *b, const char *json, size_t len, const char *source,
                           uint64_t line)
{
	return add_doc(b, json, len, source, line, NULL, 0);
}

/* add_doc: a document; with id_override (a _bulk action's _id) its "id"
 * field is not needed and the override is the id. */
static int add_doc(trawl_builder *b, const char *json, size_t len, const char *source,
                   uint64_t line, const uint8_t *id_override, size_t id_override_len)
{
	const char *src = source ? source : "document";
	unsigned long long ln = (unsigned long long)line;
	while (len && (json[len - 1] == '\n' || json[len - 1] == '\r' || json[len - 1] == ' ' ||
	               json[len - 1] == '\t'))
		len--;
	if (len > b->max_doc)
		return berr(b, TRAWL_ELIMIT, "%s:%llu: document is %zu bytes; the limit is %zu", src,
		            ln, len, b->max_doc);
	docscan d;
	d.schema = &b->schema;
	d.has_id = 0;
	d.dup = NULL;
	memset(d.has, 0, sizeof d.has);
	uint32_t col = 0;
	char why[128];
	int rc = idx_json_scan(json, len, on_member, &d, &b->keybuf, &col, why, sizeof why);
	if (rc)
		return rc == TRAWL_ENOMEM ? berr(b, rc, "%s:%llu: out of memory", src, ln)
		                          : berr(b, rc, "%s:%llu:%u: %s", src, ln, col, why);
	if (d.dup)
		return berr(b, TRAWL_EJSON, "%s:%llu:%u: duplicate key \"%s\"", src, ln,
		            column_of(json, d.dup_at), d.dup);
	if (!d.has_id && !id_override)
		return berr(b, TRAWL_EDOC, "%s:%llu: field \"id\" is missing", src, ln);
	tbuf *id = &b->idbuf, *texts = &b->texts, *stored = &b->stored;
	tbuf_reset(id);
	tbuf_reset(texts);
	tbuf_reset(stored);
	if (id_override) {
		if ((rc = tbuf_append(id, id_override, id_override_len)))
			return berr(b, rc, "%s:%llu: out of memory", src, ln);
	} else if (d.id.kind != IDX_J_STRING || (rc = idx_json_string(&d.id, id)) || id->len == 0 ||
	           id->len > IDX_MAX_ID_BYTES)
		return rc == TRAWL_ENOMEM
		               ? berr(b, rc, "%s:%llu: out of memory", src, ln)
		               : berr(b, TRAWL_EDOC,
		                      "%s:%llu: field \"id\" must be a string of 1 to %d bytes", src,
		                      ln, IDX_MAX_ID_BYTES);
	if (memchr(id->data, 0, id->len))
		return berr(b, TRAWL_EDOC, "%s:%llu:%u: field \"id\" contains a NUL character", src,
		            ln, column_of(json, d.id.start));
	for (uint32_t f = 0; f < b->schema.nfields; f++) {
		size_t at = texts->len;
		uint32_t zero = 0;
		if ((rc = tbuf_append(texts, &zero, 4)))
			return berr(b, rc, "%s:%llu: out of memory", src, ln);
		const idx_jvalue *v = &d.field[f];
		if (!d.has[f] || v->kind == IDX_J_NULL)
			continue;
		if (v->kind == IDX_J_STRING)
			rc = idx_json_string(v, texts);
		else if (v->kind == IDX_J_ARRAY)
			rc = idx_json_strings(v, '\n', texts);
		else
			rc = TRAWL_EJSON;
		if (rc == TRAWL_EJSON)
			return berr(b, TRAWL_EDOC,
			            "%s:%llu: field \"%s\" must be a string or an array of strings", src,
			            ln, b->schema.fields[f].name);
		if (rc)
			return berr(b, rc, "%s:%llu: out of memory", src, ln);
		uint32_t n = (uint32_t)(texts->len - at - 4);
		memcpy(texts->data + at, &n, 4);
	}
	const char *sdata = NULL;
	size_t slen = 0;
	if (b->schema.store_all) {
		sdata = json;
		slen = len;
	} else if (!b->schema.store_none) {
		if ((rc = stored_subset(&b->schema, json, len, stored)))
			return berr(b, rc, "%s:%llu: cannot store the document", src, ln);
		sdata = (const char *)stored->data;
		slen = stored->len;
	}
	if (push_doc(b, id->data, id->len, sdata, slen, texts, 0))
		return berr(b, TRAWL_ENOMEM, "%s:%llu: out of memory", src, ln);
	b->rep.bytes_in += len + 1;
	return TRAWL_OK;
}

static int is_blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return 0;
	return 1;
}

/* One bad line: in skip_bad mode report and go on, else stop. */
static int bad_line(trawl_builder *b, int rc)
{
	if (!b->opts.skip_bad || rc == TRAWL_ENOMEM)
		return rc;
	b->rep.rejected++;
	if (b->opts.on_reject)
		b->opts.on_reject(b->opts.reject_ctx, b->errmsg);
	return TRAWL_OK;
}

/* ---- _bulk NDJSON ---- */

enum { BULK_NONE = 0, BULK_INDEX, BULK_DELETE, BULK_OTHER };

typedef struct bulk_action {
	int kind;        /* BULK_* of the action's single key */
	int keys;        /* top-level keys seen */
	idx_jvalue body; /* the action's object */
	char name[16];
} bulk_action;

static int on_action(void *ctx, const char *key, size_t klen, const idx_jvalue *v)
{
	bulk_action *a = ctx;
	a->keys++;
	snprintf(a->name, sizeof a->name, "%.*s", (int)(klen < 15 ? klen : 15), key);
	if (v->kind != IDX_J_OBJECT)
		a->kind = BULK_NONE;
	else if ((klen == 5 && !memcmp(key, "index", 5)) || (klen == 6 && !memcmp(key, "create", 6)))
		a->kind = BULK_INDEX;
	else if (klen == 6 && !memcmp(key, "delete", 6))
		a->kind = BULK_DELETE;
	else if (klen == 6 && !memcmp(key, "update", 6))
		a->kind = BULK_OTHER;
	else
		a->kind = BULK_NONE;
	a->body = *v;
	return 0;
}

typedef struct bulk_meta {
	idx_jvalue id;
	int has_id;
} bulk_meta;

static int on_meta(void *ctx, const char *key, size_t klen, const idx_jvalue *v)
{
	bulk_meta *m = ctx;
	if (klen == 3 && !memcmp(key, "_id", 3)) {
		m->id = *v;
		m->has_id = 1;
	}
	return 0;
}

/* Whether line is a _bulk action line ({"index": {...}} and the like). */
static int is_action(trawl_builder *b, const char *line, size_t len, bulk_action *a)
{
	uint32_t col;
	memset(a, 0, sizeof *a);
	if (idx_json_scan(line, len, on_action, a, &b->keybuf, &col, NULL, 0) != 0)
		return 0;
	return a->keys == 1 && a->kind != BULK_NONE;
}

/* The _id of an action into b->bulk_id (empty if none). */
static int action_id(trawl_builder *b, const bulk_action *a, const char *src, uint64_t ln)
{
	bulk_meta m = {0};
	uint32_t col;
	tbuf_reset(&b->bulk_id);
	idx_json_scan(a->body.start, a->body.len, on_meta, &m, &b->keybuf, &col, NULL, 0);
	if (!m.has_id)
		return TRAWL_OK;
	int rc = m.id.kind == IDX_J_STRING ? idx_json_string(&m.id, &b->bulk_id) : TRAWL_EDOC;
	if (rc == TRAWL_OK && (b->bulk_id.len == 0 || b->bulk_id.len > IDX_MAX_ID_BYTES ||
	                       memchr(b->bulk_id.data, 0, b->bulk_id.len)))
		rc = TRAWL_EDOC;
	if (rc == TRAWL_EDOC)
		return berr(b, rc, "%s:%llu: \"_id\" must be a string of 1 to %d bytes", src,
		            (unsigned long long)ln, IDX_MAX_ID_BYTES);
	return rc ? berr(b, rc, "%s:%llu: out of memory", src, (unsigned long long)ln) : TRAWL_OK;
}

/* One non-blank line of a file: a document, or in _bulk mode an action or
 * the document after it. *mode: 0 undecided, 1 JSON Lines, 2 _bulk;
 * *pending: the kind of the action awaiting its document. */
static int one_line(trawl_builder *b, const char *line, size_t len, const char *src, uint64_t ln,
                    int *mode, int *pending)
{
	bulk_action a;
	if (*mode == 0)
		*mode = is_action(b, line, len, &a) ? 2 : 1;
	if (*mode == 1)
		return trawl_builder_add_json(b, line, len, src, ln);
	if (*pending == BULK_INDEX) {
		*pending = BULK_NONE;
		return add_doc(b, line, len, src, ln, b->bulk_id.len ? b->bulk_id.data : NULL,
		               b->bulk_id.len);
	}
	if (!is_action(b, line, len, &a))
		return berr(b, TRAWL_EDOC,
		            "%s:%llu: expected a _bulk action ({\"index\"|\"create\"|\"delete\": "
		            "{...}}) in a _bulk file",
		            src, (unsigned long long)ln);
	b->rep.bytes_in += len + 1;
	if (a.kind == BULK_OTHER)
		return berr(b, TRAWL_EDOC, "%s:%llu: _bulk action \"%s\" is not supported (use index, "
		            "create or delete)", src, (unsigned long long)ln, a.name);
	int rc = action_id(b, &a, src, ln);
	if (rc)
		return rc;
	if (a.kind == BULK_DELETE) {
		if (!b->bulk_id.len)
			return berr(b, TRAWL_EDOC, "%s:%llu: a delete action needs an \"_id\"", src,
			            (unsigned long long)ln);
		return push_doc(b, b->bulk_id.data, b->bulk_id.len, NULL, 0, NULL, 1)
		               ? berr(b, TRAWL_ENOMEM, "%s:%llu: out of memory", src,
		                      (unsigned long long)ln)
		               : TRAWL_OK;
	}
	*pending = BULK_INDEX;
	return TRAWL_OK;
}

int trawl_builder_add_file(trawl_builder *b, const char *path)
{
	idx_input *in;
	int rc = idx_input_open(&in, path, b->errmsg, sizeof b->errmsg);
	if (rc)
		return rc;
	const char *name = !strcmp(path, "-") ? "<stdin>" : path;
	size_t cap = b->max_doc + 2 > (4u << 20) ? b->max_doc + 2 : (4u << 20);
	char *buf = malloc(cap);
	if (!buf) {
		idx_input_close(in);
		return berr(b, TRAWL_ENOMEM, "out of memory");
	}
	size_t have = 0, start = 0;
	uint64_t line = 0;
	int eof = 0, skipping = 0, mode = 0, pending = BULK_NONE;
	while (rc == TRAWL_OK) {
		char *nl = memchr(buf + start, '\n', have - start);
		if (!nl && !eof) {
			/* need more input: compact, then read */
			if (start) {
				memmove(buf, buf + start, have - start);
				have -= start;
				start = 0;
			}
			if (have == cap) {
				/* a line longer than any document may be */
				line++;
				b->rep.lines++;
				rc = berr(b, TRAWL_ELIMIT,
				          "%s:%llu: line is longer than %zu bytes (the document limit)",
				          name, (unsigned long long)line, b->max_doc);
				b->rep.bytes_in += have;
				rc = bad_line(b, rc);
				pending = BULK_NONE;
				have = 0;
				skipping = 1;
				continue;
			}
			size_t n = 0;
			if ((rc = idx_input_read(in, buf + have, cap - have, &n, b->errmsg,
			                         sizeof b->errmsg)))
				break;
			if (n == 0)
				eof = 1;
			have += n;
			continue;
		}
		size_t end = nl ? (size_t)(nl - buf) : have;
		if (skipping) {
			/* rest of an over-long line */
			b->rep.bytes_in += end - start + 1;
			skipping = 0;
		} else if (end > start || nl) {
			line++;
			if (!is_blank(buf + start, end - start)) {
				b->rep.lines++;
				int r = one_line(b, buf + start, end - start, name, line, &mode, &pending);
				if (r)
					rc = bad_line(b, r);
			}
		}
		if (!nl)
			break;
		start = end + 1;
	}
	if (rc == TRAWL_OK && pending == BULK_INDEX)
		rc = bad_line(b, berr(b, TRAWL_EDOC, "%s:%llu: the file ends after an index action, "
		                      "without its document", name, (unsigned long long)line));
	free(buf);
	idx_input_close(in);
	return rc;
}

/* ---- commit ---- */

static int cmp_doc(const void *a, const void *b)
{
	const bdoc *x = *(const bdoc *const *)a, *y = *(const bdoc *const *)b;
	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	uint32_t n = x->id_len < y->id_len ? x->id_len : y->id_len;
	int c = memcmp(x->rec, y->rec, n);
	if (c)
		return c;
	if (x->id_len != y->id_len)
		return x->id_len < y->id_len ? -1 : 1;
	return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

static int cmp_term(const void *a, const void *b)
{
	const bterm *x = *(const bterm *const *)a, *y = *(const bterm *const *)b;
	uint32_t n = x->klen < y->klen ? x->klen : y->klen;
	int c = memcmp(x->key, y->key, n);
	if (c)
		return c;
	return (x->klen > y->klen) - (x->klen < y->klen);
}

/* One shard's documents in doc-id order, and its inverted index. */
typedef struct bshard {
	bdoc **docs;
	uint32_t ndocs;
	uint8_t *norms[IDX_MAX_FIELDS];
	uint64_t sumlen[IDX_MAX_FIELDS];
	inverter inv;
	bterm **sorted;
} bshard;

static void bshard_fini(bshard *s)
{
	free(s->docs);
	for (int f = 0; f < IDX_MAX_FIELDS; f++)
		free(s->norms[f]);
	inv_fini(&s->inv);
	free(s->sorted);
	memset(s, 0, sizeof *s);
}

static const uint8_t *doc_texts(const bdoc *d)
{
	return d->rec + d->id_len + d->stored_len;
}

static int invert_shard(trawl_builder *b, bshard *s, idx_analyzer **an, tokbatch *batch)
{
	int rc = inv_init(&s->inv);
	if (rc)
		return rc;
	for (uint32_t f = 0; f < b->schema.nfields; f++)
		if (!(s->norms[f] = calloc(s->ndocs ? s->ndocs : 1, 1)))
			return TRAWL_ENOMEM;
	for (uint32_t d = 0; d < s->ndocs; d++) {
		const uint8_t *p = doc_texts(s->docs[d]);
		s->inv.cur_doc = d;
		for (uint32_t f = 0; f < b->schema.nfields; f++) {
			uint32_t n;
			memcpy(&n, p, 4);
			p += 4;
			s->inv.cur_fid = (uint8_t)f;
			s->inv.kept = 0;
			if (n) {
				batch->n = 0;
				batch->tlen = 0;
				rc = idx_analyze(an[b->schema.fields[f].analyzer], (const char *)p, n, 0,
				                 NULL, collect, batch);
				if (rc || batch->failed || invert_batch(&s->inv, batch) || s->inv.failed)
					return TRAWL_ENOMEM;
			}
			p += n;
			s->norms[f][d] = idx_norm_encode(s->inv.kept);
			s->sumlen[f] += s->inv.kept;
		}
	}
	if (s->inv.nterms && !(s->sorted = malloc((size_t)s->inv.nterms * sizeof *s->sorted)))
		return TRAWL_ENOMEM;
	for (uint32_t i = 0; i < s->inv.nterms; i++) {
		s->sorted[i] = &s->inv.terms[i];
		s->sorted[i]->df_global = s->sorted[i]->df;
	}
	if (s->inv.nterms) /* else sorted is NULL, which qsort may not get */
		qsort(s->sorted, s->inv.nterms, sizeof *s->sorted, cmp_term);
	return TRAWL_OK;
}

/* Shards are inverted independently: threads take them in turn. */
typedef struct inv_job {
	trawl_builder *b;
	bshard *sh;
	uint32_t ns;
	atomic_uint next;
	atomic_int rc;
} inv_job;

static void *invert_worker(void *arg)
{
	inv_job *j = arg;
	idx_analyzer *an[2] = {NULL, NULL};
	tokbatch batch = {0};
	if (idx_analyzer_alloc(&an[0], IDX_AN_PLAIN) || idx_analyzer_alloc(&an[1], IDX_AN_ENGLISH)) {
		atomic_store(&j->rc, TRAWL_ENOMEM);
	} else {
		for (;;) {
			uint32_t s = atomic_fetch_add(&j->next, 1);
			if (s >= j->ns || atomic_load(&j->rc))
				break;
			int rc = invert_shard(j->b, &j->sh[s], an, &batch);
			if (rc)
				atomic_store(&j->rc, rc);
		}
	}
	batch_fini(&batch);
	idx_analyzer_free(an[0]);
	idx_analyzer_free(an[1]);
	return NULL;
}

static int invert_all(trawl_builder *b, bshard *sh, uint32_t ns)
{
	inv_job j = {b, sh, ns, 0, 0};
	unsigned threads = b->opts.threads ? b->opts.threads : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	if (threads > ns)
		threads = ns;
	if (threads < 1)
		threads = 1;
	if (threads > 64)
		threads = 64;
	pthread_t tid[64];
	unsigned started = 0;
	for (unsigned t = 1; t < threads; t++)
		if (pthread_create(&tid[started], NULL, invert_worker, &j) == 0)
			started++;
	invert_worker(&j); /* this thread works too */
	for (unsigned t = 0; t < started; t++)
		pthread_join(tid[t], NULL);
	return atomic_load(&j.rc);
}

/* Global document frequencies: merge the shards' sorted term lists. */
static int global_df(bshard *sh, uint32_t ns)
{
	if (ns == 1)
		return TRAWL_OK;
	uint32_t *at = calloc(ns, sizeof *at);
	bterm **same = malloc(ns * sizeof *same);
	if (!at || !same) {
		free(at);
		free(same);
		return TRAWL_ENOMEM;
	}
	for (;;) {
		bterm *min = NULL;
		for (uint32_t i = 0; i < ns; i++)
			if (at[i] < sh[i].inv.nterms &&
			    (!min || cmp_term(&sh[i].sorted[at[i]], &min) < 0))
				min = sh[i].sorted[at[i]];
		if (!min)
			break;
		uint64_t df = 0;
		uint32_t n = 0;
		for (uint32_t i = 0; i < ns; i++)
			if (at[i] < sh[i].inv.nterms && cmp_term(&sh[i].sorted[at[i]], &min) == 0) {
				same[n++] = sh[i].sorted[at[i]];
				df += sh[i].sorted[at[i]]->df;
				at[i]++;
			}
		for (uint32_t i = 0; i < n; i++)
			same[i]->df_global = df;
	}
	free(at);
	free(same);
	return TRAWL_OK;
}

static int put_meta(idx_store *st, const char *key, const void *val, size_t len)
{
	return idx_store_put(st, IDX_DB_META, key, strlen(key), val, len, 0);
}

static int write_shard(trawl_builder *b, bshard *s, uint32_t shard_no, const idx_stats *gs,
                       uint64_t gen, const char *path)
{
	idx_store *st;
	int rc = idx_store_create(&st, path, b->errmsg, sizeof b->errmsg);
	if (rc)
		return rc;
	tbuf post, pos, allpost, allpos;
	tbuf_init(&post, (size_t)1 << 34);
	tbuf_init(&pos, (size_t)1 << 34);
	tbuf_init(&allpost, (size_t)1 << 36);
	tbuf_init(&allpos, (size_t)1 << 36);
	idx_dictw dw;
	idx_dictw_init(&dw);
	uint32_t *docs = NULL, *tfs = NULL;
	idx_zenc *z = NULL;
	uint8_t *samples = NULL;
	size_t *sizes = NULL;

	/* meta */
	uint32_t fmt = IDX_FORMAT_VERSION;
	char info[256];
	snprintf(info, sizeof info,
	         "{\"format\":%u,\"shard\":%u,\"shards\":%u,\"generation\":%llu,\"docs\":%u}", fmt,
	         shard_no, b->nshards, (unsigned long long)gen, s->ndocs);
	uint8_t statbuf[8 + 4 + 8 * IDX_MAX_FIELDS];
	memcpy(statbuf, &gs->docs, 8);
	memcpy(statbuf + 8, &b->schema.nfields, 4);
	memcpy(statbuf + 12, gs->sumlen, 8 * (size_t)b->schema.nfields);
	if ((rc = put_meta(st, "format", &fmt, 4)) || (rc = put_meta(st, "info", info, strlen(info))) ||
	    (rc = put_meta(st, "schema", b->schema_json, strlen(b->schema_json))) ||
	    (rc = put_meta(st, "stats", statbuf, 12 + 8 * (size_t)b->schema.nfields)))
		goto out;
	for (uint32_t f = 0; f < b->schema.nfields; f++) {
		char key[32];
		snprintf(key, sizeof key, "norms.%u", f);
		if ((rc = put_meta(st, key, s->norms[f], s->ndocs)))
			goto out;
	}
	/* external ids, in doc-id order (doc ids follow XXH3_64 of the id), in
	 * blocks of 64: varint lengths, then the bytes; offsets of the blocks first */
	{
		uint32_t nblk = (s->ndocs + 63) / 64;
		size_t offs = ((size_t)nblk + 1) * 4;
		tbuf ex;
		tbuf_init(&ex, (size_t)1 << 32);
		rc = tbuf_reserve(&ex, offs);
		if (!rc) {
			memset(ex.data, 0, offs);
			ex.len = offs;
		}
		for (uint32_t blk = 0; blk < nblk && !rc; blk++) {
			uint32_t o = (uint32_t)(ex.len - offs);
			memcpy(ex.data + (size_t)blk * 4, &o, 4);
			uint32_t from = blk * 64, to = from + 64 < s->ndocs ? from + 64 : s->ndocs;
			for (uint32_t d = from; d < to && !rc; d++) {
				uint8_t tmp[10];
				rc = tbuf_append(&ex, tmp, idx_varint_put(tmp, s->docs[d]->id_len));
			}
			for (uint32_t d = from; d < to && !rc; d++)
				rc = tbuf_append(&ex, s->docs[d]->rec, s->docs[d]->id_len);
		}
		if (!rc) {
			uint32_t o = (uint32_t)(ex.len - offs);
			memcpy(ex.data + (size_t)nblk * 4, &o, 4);
			rc = put_meta(st, "extids", ex.data, ex.len);
		}
		tbuf_fini(&ex);
		if (rc)
			goto out;
	}
	/* postings and positions */
	float ktab[IDX_MAX_FIELDS][256];
	for (uint32_t f = 0; f < b->schema.nfields; f++)
		for (int n = 0; n < 256; n++)
			ktab[f][n] = idx_bm25_k(b->schema.fields[f].k1, b->schema.fields[f].b,
			                        idx_norm_decode((uint8_t)n), idx_avgdl(gs, f));
	uint32_t maxdf = 0;
	for (uint32_t i = 0; i < s->inv.nterms; i++)
		if (s->inv.terms[i].df > maxdf)
			maxdf = s->inv.terms[i].df;
	docs = malloc(((size_t)maxdf + 1) * sizeof *docs);
	tfs = malloc(((size_t)maxdf + 1) * sizeof *tfs);
	if (!docs || !tfs) {
		rc = TRAWL_ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < s->inv.nterms; i++) {
		bterm *t = s->sorted[i];
		for (uint32_t j = 0; j < t->df; j++) {
			docs[j] = t->dt[2 * j];
			tfs[j] = t->dt[2 * j + 1];
		}
		uint8_t fid = t->key[0];
		idx_postings_in in = {docs, tfs, t->pos, t->df, t->df_global, s->norms[fid],
		                      ktab[fid], b->schema.fields[fid].k1};
		if ((rc = idx_postings_encode(&in, &post, &pos)) ||
		    (rc = tbuf_append(&allpost, post.data, post.len)) ||
		    (rc = tbuf_append(&allpos, pos.data, pos.len)) ||
		    (rc = idx_dictw_add(&dw, t->key, t->klen, t->df, t->df_global, post.len,
		                        pos.len)))
			goto out;
		free(t->dt);
		free(t->pos);
		t->dt = t->pos = NULL;
	}
	uint64_t nterms = s->inv.nterms;
	if ((rc = put_meta(st, "dict", dw.dict.data, dw.dict.len)) ||
	    (rc = put_meta(st, "dict.index", dw.index.data, dw.index.len)) ||
	    (rc = put_meta(st, "postings", allpost.data, allpost.len)) ||
	    (rc = put_meta(st, "positions", allpos.data, allpos.len)) ||
	    (rc = put_meta(st, "terms", &nterms, 8)))
		goto out;
	/* stored documents */
	if (!b->schema.store_none && s->ndocs) {
		size_t total = 0;
		for (uint32_t d = 0; d < s->ndocs; d++)
			total += s->docs[d]->stored_len;
		uint32_t step = 1;
		if (total > IDX_ZDICT_SAMPLE)
			step = (uint32_t)(total / IDX_ZDICT_SAMPLE) + 1;
		uint32_t nsamp = 0;
		size_t sampbytes = 0;
		samples = malloc(IDX_ZDICT_SAMPLE + IDX_STORED_MAX / 64);
		sizes = malloc(((size_t)s->ndocs / step + 1) * sizeof *sizes);
		if (!samples || !sizes) {
			rc = TRAWL_ENOMEM;
			goto out;
		}
		for (uint32_t d = 0; d < s->ndocs; d += step) {
			const bdoc *bd = s->docs[d];
			size_t n = bd->stored_len < 16384 ? bd->stored_len : 16384;
			if (sampbytes + n > IDX_ZDICT_SAMPLE)
				break;
			memcpy(samples + sampbytes, bd->rec + bd->id_len, n);
			sizes[nsamp++] = n;
			sampbytes += n;
		}
		uint8_t dict[IDX_ZDICT_MAX];
		size_t dictlen = 0;
		if ((rc = idx_zdict_train(samples, sizes, nsamp, dict, sizeof dict, &dictlen)))
			goto out;
		if (dictlen && (rc = put_meta(st, "zdict", dict, dictlen)))
			goto out;
		if ((rc = idx_zenc_alloc(&z, dict, dictlen, 3)))
			goto out;
		for (uint32_t d = 0; d < s->ndocs; d++) {
			const bdoc *bd = s->docs[d];
			uint8_t key[4] = {(uint8_t)(d >> 24), (uint8_t)(d >> 16), (uint8_t)(d >> 8),
			                  (uint8_t)d};
			if ((rc = idx_zenc_record(z, bd->rec + bd->id_len, bd->stored_len, &post)) ||
			    (rc = idx_store_put(st, IDX_DB_DOCS, key, 4, post.data, post.len, 1)))
				goto out;
		}
	}
	rc = idx_store_commit(st, b->errmsg, sizeof b->errmsg);
out:
	if (rc && !b->errmsg[0])
		berr(b, rc, "%s: %s", path, trawl_strerror(rc));
	idx_store_close(st);
	idx_zenc_free(z);
	free(samples);
	free(sizes);
	free(docs);
	free(tfs);
	tbuf_fini(&post);
	tbuf_fini(&pos);
	tbuf_fini(&allpost);
	tbuf_fini(&allpos);
	idx_dictw_fini(&dw);
	return rc;
}

int trawl_builder_commit(trawl_builder *b, trawl_build_report *rep)
{
	int rc = TRAWL_OK;
	uint32_t ns = b->nshards;
	bshard *sh = calloc(ns, sizeof *sh);
	bdoc **all = malloc((b->ndocs ? b->ndocs : 1) * sizeof *all);
	idx_analyzer *an[2] = {NULL, NULL};
	idx_manifest *m = calloc(1, sizeof *m);
	char tmpdir[IDX_PATH_MAX] = "";
	b->errmsg[0] = 0;
	if (!sh || !all || !m || idx_analyzer_alloc(&an[0], IDX_AN_PLAIN) ||
	    idx_analyzer_alloc(&an[1], IDX_AN_ENGLISH)) {
		rc = berr(b, TRAWL_ENOMEM, "out of memory");
		goto out;
	}
	if (b->ndocs > (uint64_t)IDX_MAX_DOCS_PER_SHARD * ns) {
		rc = berr(b, TRAWL_ELIMIT, "%llu documents; a shard holds at most %u",
		          (unsigned long long)b->ndocs, IDX_MAX_DOCS_PER_SHARD);
		goto out;
	}
	/* route, order by hash, drop replaced duplicates */
	for (uint64_t i = 0; i < b->ndocs; i++)
		all[i] = &b->docs[i];
	qsort(all, b->ndocs, sizeof *all, cmp_doc);
	uint64_t kept = 0;
	for (uint64_t i = 0; i < b->ndocs; i++) {
		if (i + 1 < b->ndocs && all[i]->hash == all[i + 1]->hash &&
		    all[i]->id_len == all[i + 1]->id_len &&
		    !memcmp(all[i]->rec, all[i + 1]->rec, all[i]->id_len)) {
			if (!all[i]->tomb && !all[i + 1]->tomb)
				b->rep.duplicates++; /* a later one with the same id wins */
			continue;
		}
		if (all[i]->tomb) {
			/* the last word on this id was a delete */
			if (i > 0 && all[i - 1]->hash == all[i]->hash &&
			    all[i - 1]->id_len == all[i]->id_len &&
			    !memcmp(all[i - 1]->rec, all[i]->rec, all[i]->id_len) && !all[i - 1]->tomb)
				b->rep.deleted++;
			continue;
		}
		all[kept++] = all[i];
	}
	for (uint64_t i = 0; i < kept; i++)
		sh[all[i]->shard].ndocs++;
	for (uint32_t s = 0; s < ns; s++) {
		if (!(sh[s].docs = malloc(((size_t)sh[s].ndocs + 1) * sizeof(bdoc *)))) {
			rc = berr(b, TRAWL_ENOMEM, "out of memory");
			goto out;
		}
		sh[s].ndocs = 0;
	}
	for (uint64_t i = 0; i < kept; i++) {
		bshard *s = &sh[all[i]->shard];
		s->docs[s->ndocs++] = all[i];
	}
	/* invert every shard, then the global statistics */
	idx_stats gs;
	memset(&gs, 0, sizeof gs);
	gs.docs = kept;
	if ((rc = invert_all(b, sh, ns))) {
		berr(b, rc, "inverting the shards: %s", trawl_strerror(rc));
		goto out;
	}
	for (uint32_t s = 0; s < ns; s++)
		for (uint32_t f = 0; f < b->schema.nfields; f++)
			gs.sumlen[f] += sh[s].sumlen[f];
	if ((rc = global_df(sh, ns))) {
		berr(b, rc, "out of memory");
		goto out;
	}
	/* write the shards into a temporary generation directory */
	idx_gen_clean_tmp(b->dir);
	uint64_t gen = idx_gen_next(b->dir);
	char name[32];
	idx_gen_dirname(name, gen);
	snprintf(tmpdir, sizeof tmpdir, "%s/%s.tmp", b->dir, name);
	if (mkdir(tmpdir, 0755) != 0) {
		rc = berr(b, errno == ENOSPC ? TRAWL_ENOSPC : TRAWL_EIO, "%s: %s", tmpdir,
		          strerror(errno));
		goto out;
	}
	m->format = IDX_FORMAT_VERSION;
	m->generation = gen;
	m->shards = ns;
	m->docs = kept;
	m->schema_json = b->schema_json;
	for (uint32_t s = 0; s < ns; s++) {
		char path[IDX_PATH_MAX];
		snprintf(m->shard[s].file, sizeof m->shard[s].file, "shard-%03u.mdb", s);
		snprintf(path, sizeof path, "%s/%s", tmpdir, m->shard[s].file);
		if ((rc = write_shard(b, &sh[s], s, &gs, gen, path)))
			goto out;
		m->shard[s].docs = sh[s].ndocs;
		if ((rc = idx_file_hash(path, m->shard[s].xxh3_128, &m->shard[s].bytes))) {
			berr(b, rc, "%s: cannot checksum: %s", path, strerror(errno));
			goto out;
		}
		b->rep.bytes_out += m->shard[s].bytes;
		bshard_fini(&sh[s]);
	}
	rc = idx_manifest_write(tmpdir, m, b->errmsg, sizeof b->errmsg);
	if (rc == TRAWL_OK)
		rc = idx_gen_publish(b->dir, tmpdir, gen, b->errmsg, sizeof b->errmsg);
	if (rc == TRAWL_OK) {
		tmpdir[0] = 0;
		b->rep.docs = kept;
		b->rep.generation = gen;
	}
out:
	if (tmpdir[0])
		idx_gen_clean_tmp(b->dir);
	if (sh)
		for (uint32_t s = 0; s < ns; s++)
			bshard_fini(&sh[s]);
	free(sh);
	free(all);
	free(m);
	idx_analyzer_free(an[0]);
	idx_analyzer_free(an[1]);
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	b->rep.seconds = (double)(t1.tv_sec - b->t0.tv_sec) + (double)(t1.tv_nsec - b->t0.tv_nsec) / 1e9;
	if (rep)
		*rep = b->rep;
	return rc;
}
