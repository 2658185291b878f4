/*
 * gstats.c - a generation's global statistics in two layers (see
 * gstats.h; the bytes: docs/FORMAT.md §15). The keys and their frequencies
 * are a term dictionary (dict.c) whose entries have no postings: an entry's
 * df is 1 and its df_global the key's frequency + 1 (a dictionary entry's
 * frequency is 1 or more, and a delta holds 0s). A base and a delta are the same kind
 * of file, told apart by their kind, and a delta names its base's id.
 */
#include "gstats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/error.h"
#include "common/hash.h"
#include "dict.h"
#include "store.h"
#include "trawl/trawl.h"

#define GSTATS_FORMAT 1
#define KIND_BASE 1
#define KIND_DELTA 2

/* One file, open. */
typedef struct gfile {
	idx_store *st;
	idx_rtxn *t;
	idx_dict d;
	uint32_t kind;
	uint64_t id;   /* a base's id; a delta: its base's */
	uint64_t keys; /* entries */
	uint64_t docs;
	uint64_t sumlen[LIMIT_FIELDS];
} gfile;

struct idx_gstats {
	gfile base, delta;
	int has_delta;
	uint32_t nfields;
};

static uint64_t get_u64(const void *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static int meta(gfile *f, const char *key, size_t want, const void **v)
{
	size_t n;
	if (idx_store_get(f->t, IDX_DB_META, key, strlen(key), v, &n) || (want && n != want))
		return -1;
	return 0;
}

static int gfile_open(gfile *f, const char *path, uint32_t kind, uint32_t nfields, char *err,
                      size_t errlen)
{
	int rc = idx_store_open(&f->st, path, err, errlen);
	if (rc)
		return rc;
	if ((rc = idx_rtxn_begin(f->st, &f->t)))
		return errf(err, errlen, rc, "%s: cannot begin a read transaction", path);
	const void *v, *di, *dx;
	size_t dn, xn;
	if (meta(f, "format", 4, &v))
		return errf(err, errlen, TRAWL_ECORRUPT, "%s: not a statistics file", path);
	uint32_t format;
	memcpy(&format, v, 4);
	if (format != GSTATS_FORMAT)
		return errf(err, errlen, TRAWL_EVERSION,
		            "%s: statistics format %u, this trawl reads %d", path, format,
		            GSTATS_FORMAT);
	if (meta(f, "kind", 4, &v))
		return errf(err, errlen, TRAWL_ECORRUPT, "%s: no kind", path);
	memcpy(&f->kind, v, 4);
	if (f->kind != kind)
		return errf(err, errlen, TRAWL_ECORRUPT, "%s: a %s file where a %s is wanted", path,
		            f->kind == KIND_BASE ? "base" : "delta",
		            kind == KIND_BASE ? "base" : "delta");
	uint32_t nf;
	if (meta(f, "nfields", 4, &v) || (memcpy(&nf, v, 4), nf != nfields) ||
	    meta(f, "sumlen", 8 * (size_t)nfields, &v))
		return errf(err, errlen, TRAWL_ECORRUPT, "%s: field totals for %u fields missing",
		            path, nfields);
	for (uint32_t i = 0; i < nfields; i++)
		f->sumlen[i] = get_u64((const uint8_t *)v + 8 * i);
	if (meta(f, "docs", 8, &v))
		return errf(err, errlen, TRAWL_ECORRUPT, "%s: no document count", path);
	f->docs = get_u64(v);
	if (meta(f, "id", 8, &v))
		return errf(err, errlen, TRAWL_ECORRUPT, "%s: no id", path);
	f->id = get_u64(v);
	if (meta(f, "keys", 8, &v))
		return errf(err, errlen, TRAWL_ECORRUPT, "%s: no key count", path);
	f->keys = get_u64(v);
	if (idx_store_get(f->t, IDX_DB_META, "dict", 4, &di, &dn) ||
	    idx_store_get(f->t, IDX_DB_META, "dict.index", 10, &dx, &xn) ||
	    xn % IDX_DICT_INDEX_ENTRY ||
	    xn / IDX_DICT_INDEX_ENTRY != (f->keys + IDX_DICT_BLOCK - 1) / IDX_DICT_BLOCK)
		return errf(err, errlen, TRAWL_ECORRUPT, "%s: key dictionary missing or damaged",
		            path);
	f->d = (idx_dict){di, dn, dx, (uint32_t)(xn / IDX_DICT_INDEX_ENTRY), NULL, 0, NULL, 0};
	if (idx_dict_check(&f->d))
		return errf(err, errlen, TRAWL_ECORRUPT, "%s: key dictionary damaged", path);
	return TRAWL_OK;
}

static void gfile_close(gfile *f)
{
	idx_rtxn_end(f->t);
	idx_store_close(f->st);
	*f = (gfile){0};
}

int idx_gstats_open(idx_gstats **out, const char *base_path, const char *delta_path,
                    uint32_t nfields, char *err, size_t errlen)
{
	*out = NULL;
	if (nfields > LIMIT_FIELDS)
		return errf(err, errlen, TRAWL_EINVAL, "%u fields, over %d", nfields, LIMIT_FIELDS);
	idx_gstats *g = calloc(1, sizeof *g);
	if (!g)
		return errf(err, errlen, TRAWL_ENOMEM, "out of memory");
	g->nfields = nfields;
	int rc = gfile_open(&g->base, base_path, KIND_BASE, nfields, err, errlen);
	if (!rc && delta_path) {
		g->has_delta = 1;
		rc = gfile_open(&g->delta, delta_path, KIND_DELTA, nfields, err, errlen);
		if (!rc && g->delta.id != g->base.id)
			rc = errf(err, errlen, TRAWL_ECORRUPT,
			          "%s: written on base %016llx, not on %s (%016llx)", delta_path,
			          (unsigned long long)g->delta.id, base_path,
			          (unsigned long long)g->base.id);
	}
	if (rc) {
		idx_gstats_close(g);
		return rc;
	}
	*out = g;
	return TRAWL_OK;
}

void idx_gstats_close(idx_gstats *g)
{
	if (!g)
		return;
	gfile_close(&g->base);
	gfile_close(&g->delta);
	free(g);
}

static const gfile *top(const idx_gstats *g)
{
	return g->has_delta ? &g->delta : &g->base;
}

uint64_t idx_gstats_docs(const idx_gstats *g)
{
	return top(g)->docs;
}

uint64_t idx_gstats_sumlen(const idx_gstats *g, uint32_t f)
{
	return f < g->nfields ? top(g)->sumlen[f] : 0;
}

uint64_t idx_gstats_delta_keys(const idx_gstats *g)
{
	return g->has_delta ? g->delta.keys : 0;
}

uint64_t idx_gstats_base_keys(const idx_gstats *g)
{
	return g->base.keys;
}

/* file_df: key's frequency in f: 1 found, 0 not there, -1 damaged. */
static int file_df(const gfile *f, const uint8_t *key, uint32_t klen, uint64_t *df)
{
	idx_term t;
	int rc = idx_dict_get(&f->d, key, klen, &t);
	if (rc == TRAWL_OK) {
		*df = t.df_global - 1;
		return 1;
	}
	return rc == TRAWL_ENOTFOUND ? 0 : -1;
}

int idx_gstats_df(const idx_gstats *g, const uint8_t *key, uint32_t klen, uint64_t *df)
{
	*df = 0;
	int r = g->has_delta ? file_df(&g->delta, key, klen, df) : 0;
	if (r == 0)
		r = file_df(&g->base, key, klen, df);
	return r < 0 ? TRAWL_ECORRUPT : TRAWL_OK;
}

/* ---- writing ---- */

/* The file being written: its dictionary, then its meta keys. */
typedef struct gwriter {
	idx_dictw w;
	const char *path;
	char *err;
	size_t errlen;
} gwriter;

static int key_cmp(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen);

static int gw_add(gwriter *gw, const uint8_t *key, uint32_t klen, uint64_t df)
{
	if (gw->w.n && key_cmp(key, klen, gw->w.prev, gw->w.prevlen) <= 0)
		return errf(gw->err, gw->errlen, TRAWL_EINVAL,
		            "%s: key %llu (%u bytes) not after the one before it", gw->path,
		            (unsigned long long)gw->w.n, klen);
	/* the dictionary's entries want a frequency of 1 or more: 1, and the
	 * key's frequency + 1 as the global one (a delta holds 0s) */
	int rc = df < UINT64_MAX ? idx_dictw_add(&gw->w, key, klen, 1, df + 1, 0, 0) : TRAWL_EINVAL;
	if (rc)
		return errf(gw->err, gw->errlen, rc, "%s: key %llu (%u bytes): %s", gw->path,
		            (unsigned long long)gw->w.n, klen,
		            rc == TRAWL_EINVAL ? "too long" : "cannot be added");
	return TRAWL_OK;
}

static int gw_finish(gwriter *gw, uint32_t kind, uint64_t id, uint64_t docs, const uint64_t *sumlen,
                     uint32_t nfields)
{
	idx_store *st;
	int rc = idx_store_create(&st, gw->path, 0, gw->err, gw->errlen);
	if (rc)
		return rc;
	uint32_t format = GSTATS_FORMAT;
	uint64_t keys = gw->w.n;
	if ((rc = idx_store_put(st, IDX_DB_META, "format", 6, &format, 4, 0)) ||
	    (rc = idx_store_put(st, IDX_DB_META, "kind", 4, &kind, 4, 0)) ||
	    (rc = idx_store_put(st, IDX_DB_META, "id", 2, &id, 8, 0)) ||
	    (rc = idx_store_put(st, IDX_DB_META, "docs", 4, &docs, 8, 0)) ||
	    (rc = idx_store_put(st, IDX_DB_META, "nfields", 7, &nfields, 4, 0)) ||
	    (rc = idx_store_put(st, IDX_DB_META, "sumlen", 6, sumlen, 8 * (size_t)nfields, 0)) ||
	    (rc = idx_store_put(st, IDX_DB_META, "keys", 4, &keys, 8, 0)) ||
	    (rc = idx_store_put(st, IDX_DB_META, "dict", 4, gw->w.dict.data, gw->w.dict.len, 0)) ||
	    (rc = idx_store_put(st, IDX_DB_META, "dict.index", 10, gw->w.index.data,
	                        gw->w.index.len, 0))) {
		idx_store_close(st);
		remove(gw->path);
		return errf(gw->err, gw->errlen, rc, "%s: cannot write", gw->path);
	}
	rc = idx_store_commit(st, gw->err, gw->errlen);
	idx_store_close(st);
	if (rc)
		remove(gw->path);
	return rc;
}

static uint64_t new_id(void)
{
	uint64_t id;
	if (getrandom(&id, sizeof id, 0) != (ssize_t)sizeof id) {
		uint64_t x[2] = {(uint64_t)time(NULL), (uint64_t)clock()};
		id = th_hash64(x, sizeof x);
	}
	return id;
}

int idx_gstats_write_base(const char *path, uint64_t docs, const uint64_t *sumlen, uint32_t nfields,
                          idx_gkeys_fn next, void *ctx, char *err, size_t errlen)
{
	if (nfields > LIMIT_FIELDS)
		return errf(err, errlen, TRAWL_EINVAL, "%u fields, over %d", nfields, LIMIT_FIELDS);
	gwriter gw = {.path = path, .err = err, .errlen = errlen};
	idx_dictw_init(&gw.w);
	const uint8_t *key;
	uint32_t klen;
	uint64_t df;
	int r, rc = TRAWL_OK;
	while (rc == TRAWL_OK && (r = next(ctx, &key, &klen, &df)) == 1)
		if (df)
			rc = gw_add(&gw, key, klen, df);
	if (rc == TRAWL_OK && r < 0)
		rc = errf(err, errlen, -r, "%s: the keys could not be read", path);
	if (rc == TRAWL_OK)
		rc = gw_finish(&gw, KIND_BASE, new_id(), docs, sumlen, nfields);
	idx_dictw_fini(&gw.w);
	return rc;
}

/* A file's entries, copied (a delta's: small by the merge policy). */
typedef struct entries {
	uint8_t *keys; /* back to back */
	size_t keys_len, keys_cap;
	size_t *off; /* n + 1 offsets into keys */
	uint64_t *df;
	size_t n, cap;
} entries;

static int collect(void *ctx, const uint8_t *key, uint32_t klen, const idx_term *t)
{
	entries *e = ctx;
	if (e->n + 1 >= e->cap) {
		size_t nc = e->cap ? 2 * e->cap : 64;
		size_t *no = realloc(e->off, nc * sizeof *no);
		if (!no)
			return -TRAWL_ENOMEM;
		e->off = no;
		uint64_t *nd = realloc(e->df, nc * sizeof *nd);
		if (!nd)
			return -TRAWL_ENOMEM;
		e->df = nd;
		e->cap = nc;
	}
	if (e->keys_len + klen > e->keys_cap) {
		size_t nc = e->keys_cap ? 2 * e->keys_cap : 4096;
		while (nc < e->keys_len + klen)
			nc *= 2;
		uint8_t *nk = realloc(e->keys, nc);
		if (!nk)
			return -TRAWL_ENOMEM;
		e->keys = nk;
		e->keys_cap = nc;
	}
	if (e->n == 0)
		e->off[0] = 0;
	memcpy(e->keys + e->keys_len, key, klen);
	e->keys_len += klen;
	e->df[e->n] = t->df_global - 1;
	e->off[++e->n] = e->keys_len;
	return 0;
}

static void entries_free(entries *e)
{
	free(e->keys);
	free(e->off);
	free(e->df);
}

static int key_cmp(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);
	return c ? c : (alen > blen) - (alen < blen);
}

static int collect_file(const gfile *f, entries *e, const char *what, char *err, size_t errlen)
{
	int r = idx_dict_scan(&f->d, NULL, 0, collect, e);
	if (r < 0)
		return errf(err, errlen, -r, "the %s's keys could not be read", what);
	return TRAWL_OK;
}

/* put_changed writes key (changed to df) into the delta, unless df is the
 * base's again. */
static int put_changed(gwriter *gw, const idx_gstats *cur, const uint8_t *key, uint32_t klen,
                       uint64_t df)
{
	uint64_t base = 0;
	if (file_df(&cur->base, key, klen, &base) < 0)
		return errf(gw->err, gw->errlen, TRAWL_ECORRUPT,
		            "the base's key dictionary is damaged");
	if (df == base)
		return TRAWL_OK;
	/* a frequency of 0 is a key the base has and no document has now */
	return gw_add(gw, key, klen, df);
}

int idx_gstats_write_delta(const char *path, const idx_gstats *cur, int64_t docs_change,
                           const int64_t *sumlen_change, const idx_gchange *changes, size_t n,
                           char *err, size_t errlen)
{
	const gfile *t = top(cur);
	if (docs_change < 0 && 0 - (uint64_t)docs_change > t->docs)
		return errf(
		    err, errlen, TRAWL_EINVAL, "%llu documents less than the %llu there are",
		    (unsigned long long)(0 - (uint64_t)docs_change), (unsigned long long)t->docs);
	uint64_t sumlen[LIMIT_FIELDS];
	for (uint32_t f = 0; f < cur->nfields; f++) {
		int64_t c = sumlen_change ? sumlen_change[f] : 0;
		if (c < 0 && 0 - (uint64_t)c > t->sumlen[f])
			return errf(err, errlen, TRAWL_EINVAL,
			            "field %u: %llu tokens less than its %llu", f,
			            (unsigned long long)(0 - (uint64_t)c),
			            (unsigned long long)t->sumlen[f]);
		sumlen[f] = t->sumlen[f] + (uint64_t)c;
	}
	entries old = {0};
	int rc = cur->has_delta ? collect_file(&cur->delta, &old, "delta", err, errlen) : TRAWL_OK;
	gwriter gw = {.path = path, .err = err, .errlen = errlen};
	idx_dictw_init(&gw.w);
	size_t i = 0, j = 0;
	while (rc == TRAWL_OK && (i < old.n || j < n)) {
		const uint8_t *ok = i < old.n ? old.keys + old.off[i] : NULL;
		uint32_t olen = i < old.n ? (uint32_t)(old.off[i + 1] - old.off[i]) : 0;
		int c = i == old.n ? 1
		        : j == n   ? -1
		                   : key_cmp(ok, olen, changes[j].key, changes[j].klen);
		if (j < n && j > 0 &&
		    key_cmp(changes[j - 1].key, changes[j - 1].klen, changes[j].key,
		            changes[j].klen) >= 0) {
			rc = errf(err, errlen, TRAWL_EINVAL,
			          "change %zu: keys not strictly ascending", j);
			break;
		}
		if (c < 0) { /* an earlier change, untouched by this batch */
			rc = gw_add(&gw, ok, olen, old.df[i++]);
			continue;
		}
		const idx_gchange *ch = &changes[j++];
		uint64_t now = 0;
		if (c == 0)
			now = old.df[i++];
		else if (file_df(&cur->base, ch->key, ch->klen, &now) < 0) {
			rc = errf(err, errlen, TRAWL_ECORRUPT,
			          "the base's key dictionary is damaged");
			break;
		}
		if (ch->change < 0 && 0 - (uint64_t)ch->change > now) {
			rc = errf(err, errlen, TRAWL_EINVAL,
			          "change %zu: key of %u bytes in %llu documents loses %llu", j - 1,
			          ch->klen, (unsigned long long)now,
			          (unsigned long long)(0 - (uint64_t)ch->change));
			break;
		}
		rc = put_changed(&gw, cur, ch->key, ch->klen, now + (uint64_t)ch->change);
	}
	if (rc == TRAWL_OK)
		rc = gw_finish(&gw, KIND_DELTA, cur->base.id, t->docs + (uint64_t)docs_change,
		               sumlen, cur->nfields);
	idx_dictw_fini(&gw.w);
	entries_free(&old);
	return rc;
}

/* The rebase's merge: the base's keys streamed, the delta's (collected)
 * woven in. */
typedef struct rebase_ctx {
	gwriter *gw;
	entries *d;
	size_t i;
	int rc;
} rebase_ctx;

static int rebase_key(rebase_ctx *r, const uint8_t *key, uint32_t klen, uint64_t df)
{
	if (df && (r->rc = gw_add(r->gw, key, klen, df)))
		return -1;
	return 0;
}

static int rebase_cb(void *ctx, const uint8_t *key, uint32_t klen, const idx_term *t)
{
	rebase_ctx *r = ctx;
	uint64_t df = t->df_global - 1;
	while (r->i < r->d->n) {
		const uint8_t *dk = r->d->keys + r->d->off[r->i];
		uint32_t dlen = (uint32_t)(r->d->off[r->i + 1] - r->d->off[r->i]);
		int c = key_cmp(dk, dlen, key, klen);
		if (c > 0)
			break;
		if (c == 0)
			df = r->d->df[r->i];
		else if (rebase_key(r, dk, dlen, r->d->df[r->i]))
			return -1;
		r->i++;
		if (c == 0)
			break;
	}
	return rebase_key(r, key, klen, df);
}

int idx_gstats_rebase(const char *path, const idx_gstats *cur, char *err, size_t errlen)
{
	entries d = {0};
	int rc = cur->has_delta ? collect_file(&cur->delta, &d, "delta", err, errlen) : TRAWL_OK;
	gwriter gw = {.path = path, .err = err, .errlen = errlen};
	idx_dictw_init(&gw.w);
	rebase_ctx r = {.gw = &gw, .d = &d};
	if (rc == TRAWL_OK) {
		int s = idx_dict_scan(&cur->base.d, NULL, 0, rebase_cb, &r);
		if (r.rc)
			rc = r.rc;
		else if (s < 0)
			rc = errf(err, errlen, -s, "the base's keys could not be read");
	}
	for (; rc == TRAWL_OK && r.i < d.n; r.i++) /* the delta's keys after the base's last */
		if (rebase_key(&r, d.keys + d.off[r.i], (uint32_t)(d.off[r.i + 1] - d.off[r.i]),
		               d.df[r.i]))
			rc = r.rc;
	const gfile *t = top(cur);
	if (rc == TRAWL_OK)
		rc = gw_finish(&gw, KIND_BASE, new_id(), t->docs, t->sumlen, cur->nfields);
	idx_dictw_fini(&gw.w);
	entries_free(&d);
	return rc;
}
