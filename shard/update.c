/*
 * update.c - the indexer's apply step (issue #12, plan item 5 in
 * docs/ARCHITECTURE.md): the next generation of an index is the live one
 * with a batch of resolved write-log operations applied, written so that
 * its cost follows the batch and not the index.
 *
 * Why it exists, and how it keeps each promise of DESIGN.md §12:
 * - Nothing of the live generation is rewritten. The documents the batch
 *   adds are built by the ordinary build pipeline (a trawl_builder) into a
 *   scratch index inside DIR, with the live schema and shard count, so each
 *   lands in its shard; each scratch shard file that holds documents
 *   becomes a new segment of that shard (s%03u-g%06llu.mdb). Every file of
 *   the live generation that the batch does not change is hard-linked into
 *   the new generation, never copied.
 * - A live document that the batch replaces or deletes is found with the
 *   read side's idx_locate and marked in its segment's delete set; the
 *   segment gets a new delete set file (the old bits and the new), the
 *   others keep theirs.
 * - The global statistics stay exact: the batch's change to every key's
 *   document frequency, to the document count and to the token totals is
 *   read off two scratch builds by the same pipeline, one of the added
 *   documents and one of the deleted documents' stored sources, so nothing
 *   is analysed twice in two ways; it goes into a new delta file over the
 *   statistics base (index/gstats.h). A generation a build wrote whole
 *   carries its statistics in its shard files; the first update writes them
 *   once as a base (the union of the shards' dictionaries with their
 *   generation-wide frequencies), the one cost that follows the index.
 * - It publishes like a build (gen-N.tmp, fsync, rename, CURRENT), under
 *   DIR/.lock; any failure removes the temporary directories and leaves
 *   the live generation live.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/hash.h"
#include "index/delset.h"
#include "index/dict.h"
#include "index/gen.h"
#include "index/gstats.h"
#include "index/handles.h"
#include "index/store.h"
#include "index/docstore.h"
#include "index/versions.h"
#include "sh.h"

#define SCRATCH "update.tmp" /* DIR's scratch directory of the batch's builds */

/* ---- the live generation as the apply step sees it ---- */

/* The read side's answers, on a searcher of the live generation. */
static int live_locate(void *ctx, const char *id, uint32_t idlen, uint32_t *shard, uint32_t *seg,
                       uint32_t *doc)
{
	return idx_locate(ctx, id, idlen, shard, seg, doc);
}

static int live_source(void *ctx, uint32_t shard, uint32_t seg, uint32_t doc, char **out,
                       size_t *len)
{
	return idx_seg_doc(ctx, shard, seg, doc, out, len);
}

/* ---- the batch's operations, the last one per id ---- */

/* final_ops: the indexes into ops of the last operation of each id, in
 * the order of those operations (*out malloc'ed, *nout of them). */
static int final_ops(const idx_wop *ops, uint32_t n, uint32_t **out, uint32_t *nout)
{
	size_t cap = 16;
	while (cap < (size_t)n * 2)
		cap *= 2;
	uint32_t *slot = calloc(cap, sizeof *slot); /* op index + 1; 0: empty */
	uint32_t *keep = malloc((n ? n : 1) * sizeof *keep);
	if (!slot || !keep) {
		free(slot);
		free(keep);
		return TRAWL_ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++) {
		size_t h = (size_t)th_hash64(ops[i].id, ops[i].idlen) & (cap - 1);
		while (slot[h]) {
			const idx_wop *o = &ops[slot[h] - 1];
			if (o->idlen == ops[i].idlen && !memcmp(o->id, ops[i].id, o->idlen))
				break;
			h = (h + 1) & (cap - 1);
		}
		slot[h] = i + 1; /* a later operation of the id wins */
	}
	uint32_t k = 0;
	for (uint32_t i = 0; i < n; i++) {
		size_t h = (size_t)th_hash64(ops[i].id, ops[i].idlen) & (cap - 1);
		while (slot[h]) {
			const idx_wop *o = &ops[slot[h] - 1];
			if (o->idlen == ops[i].idlen && !memcmp(o->id, ops[i].id, o->idlen))
				break;
			h = (h + 1) & (cap - 1);
		}
		if (slot[h] == i + 1)
			keep[k++] = i;
	}
	free(slot);
	*out = keep;
	*nout = k;
	return TRAWL_OK;
}

/* ---- shard files read for their dictionaries and statistics ---- */

/* A shard file (a segment, or a scratch build's shard) open for reading. */
typedef struct segfile {
	idx_store *st;
	idx_rtxn *t;
	idx_dict d;
	idx_dict_iter it;
	uint64_t docs;                 /* its meta "stats": the documents of its build */
	uint64_t sumlen[LIMIT_FIELDS]; /* and the token totals */
	char path[LIMIT_PATH_BYTES];
} segfile;

static void segfile_close(segfile *f);

/* segfile_read: segfile_open's work, which may leave f half open. */
static int segfile_read(segfile *f, const char *path, uint32_t nfields, char *err, size_t errlen)
{
	memset(f, 0, sizeof *f);
	snprintf(f->path, sizeof f->path, "%s", path);
	int rc = idx_store_open(&f->st, path, err, errlen);
	if (rc)
		return rc;
	if ((rc = idx_rtxn_begin(f->st, &f->t)))
		return errf(err, errlen, rc, "%s: cannot begin a read transaction", path);
	const void *dp, *ip, *pp, *xp, *sp;
	size_t dn, in, pn, xn, sn;
	if (idx_read_meta(f->t, "dict", &dp, &dn) || idx_read_meta(f->t, "dict.index", &ip, &in) ||
	    idx_read_meta(f->t, "postings", &pp, &pn) ||
	    idx_read_meta(f->t, "positions", &xp, &xn) || in % IDX_DICT_INDEX_ENTRY)
		return errf(err, errlen, TRAWL_ECORRUPT, "%s: dictionary missing or damaged", path);
	f->d = (idx_dict){dp, dn, ip, (uint32_t)(in / IDX_DICT_INDEX_ENTRY), pp, pn, xp, xn};
	if (idx_dict_check(&f->d))
		return errf(err, errlen, TRAWL_ECORRUPT, "%s: dictionary damaged", path);
	uint32_t nf = 0;
	if (idx_read_meta(f->t, "stats", &sp, &sn) || sn < 12 ||
	    (memcpy(&nf, (const uint8_t *)sp + 8, 4), nf != nfields) ||
	    sn != 12 + 8 * (size_t)nfields)
		return errf(err, errlen, TRAWL_ECORRUPT,
		            "%s: bad statistics record (the schema has %u text fields)", path,
		            nfields);
	memcpy(&f->docs, sp, 8);
	memcpy(f->sumlen, (const uint8_t *)sp + 12, 8 * (size_t)nfields);
	idx_dict_iter_init(&f->it, &f->d);
	return TRAWL_OK;
}

/* segfile_open opens path (its checksum verified by the caller) and reads
 * its dictionary and its "stats" (of nfields text fields); f then holds
 * the file and a read transaction until segfile_close. On an error f holds
 * nothing. */
static int segfile_open(segfile *f, const char *path, uint32_t nfields, char *err, size_t errlen)
{
	int rc = segfile_read(f, path, nfields, err, errlen);
	if (rc)
		segfile_close(f);
	return rc;
}

static void segfile_close(segfile *f)
{
	if (f->t)
		idx_rtxn_end(f->t);
	if (f->st)
		idx_store_close(f->st);
	memset(f, 0, sizeof *f);
}

static int key_cmp(const uint8_t *a, uint32_t al, const uint8_t *b, uint32_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	return c ? c : (al > bl) - (al < bl);
}

/*
 * A merge of the keys of n shard files in key order (a binary heap of the
 * files by their current key): each step gives one key with its document
 * frequencies summed over the files that have it (df, for a scratch
 * build's changes) and its generation-wide frequency (df_global, which
 * every shard of a whole build holds alike: a difference is damage).
 */
typedef struct kmerge {
	segfile *f; /* borrowed: the files, open */
	uint32_t n, hn;
	uint32_t heap[TRAWL_MAX_SHARDS];
	uint8_t key[LIMIT_KEY_BYTES];
	uint32_t klen;
	uint64_t df, df_global;
	char *err;
	size_t errlen;
} kmerge;

static int heap_less(const kmerge *m, uint32_t a, uint32_t b)
{
	const idx_dict_iter *x = &m->f[a].it, *y = &m->f[b].it;
	return key_cmp(x->key, x->klen, y->key, y->klen) < 0;
}

static void heap_push(kmerge *m, uint32_t i)
{
	uint32_t at = m->hn++;
	while (at > 0 && heap_less(m, i, m->heap[(at - 1) / 2])) {
		m->heap[at] = m->heap[(at - 1) / 2];
		at = (at - 1) / 2;
	}
	m->heap[at] = i;
}

static uint32_t heap_pop(kmerge *m)
{
	uint32_t top = m->heap[0], last = m->heap[--m->hn], at = 0;
	for (;;) {
		uint32_t c = 2 * at + 1;
		if (c >= m->hn)
			break;
		if (c + 1 < m->hn && heap_less(m, m->heap[c + 1], m->heap[c]))
			c++;
		if (!heap_less(m, m->heap[c], last))
			break;
		m->heap[at] = m->heap[c];
		at = c;
	}
	if (m->hn)
		m->heap[at] = last;
	return top;
}

/* advance steps file i to its next key and puts it back in the heap. */
static int kmerge_advance(kmerge *m, uint32_t i)
{
	int r = idx_dict_iter_next(&m->f[i].it);
	if (r < 0)
		return errf(m->err, m->errlen, TRAWL_ECORRUPT, "%s: dictionary damaged",
		            m->f[i].path);
	if (r)
		heap_push(m, i);
	return TRAWL_OK;
}

static int kmerge_init(kmerge *m, segfile *f, uint32_t n, char *err, size_t errlen)
{
	memset(m, 0, sizeof *m);
	m->f = f;
	m->n = n;
	m->err = err;
	m->errlen = errlen;
	for (uint32_t i = 0; i < n; i++) {
		int rc = kmerge_advance(m, i);
		if (rc)
			return rc;
	}
	return TRAWL_OK;
}

/* kmerge_next: 1 with the next key in m, 0 at the end, or a negative
 * trawl_err (err set). */
static int kmerge_next(kmerge *m)
{
	if (m->hn == 0)
		return 0;
	const idx_dict_iter *top = &m->f[m->heap[0]].it;
	memcpy(m->key, top->key, top->klen);
	m->klen = top->klen;
	m->df = 0;
	m->df_global = top->t.df_global;
	while (m->hn) {
		const idx_dict_iter *it = &m->f[m->heap[0]].it;
		if (key_cmp(it->key, it->klen, m->key, m->klen))
			break;
		uint32_t i = heap_pop(m);
		m->df += m->f[i].it.t.df;
		if (m->f[i].it.t.df_global != m->df_global)
			return -errf(m->err, m->errlen, TRAWL_ECORRUPT,
			             "%s: a key of %u bytes is in %llu documents of the generation "
			             "here and in %llu in another shard's file",
			             m->f[i].path, m->klen,
			             (unsigned long long)m->f[i].it.t.df_global,
			             (unsigned long long)m->df_global);
		int rc = kmerge_advance(m, i);
		if (rc)
			return -rc;
	}
	return 1;
}

/* The base's keys (idx_gkeys_fn): the live shards' keys with their
 * generation-wide frequencies. */
static int base_keys(void *ctx, const uint8_t **key, uint32_t *klen, uint64_t *df)
{
	kmerge *m = ctx;
	int r = kmerge_next(m);
	if (r == 1) {
		*key = m->key;
		*klen = m->klen;
		*df = m->df_global;
	}
	return r;
}

/* Keys with a count each, in key order (a scratch build's keys and their
 * document frequencies); owned, freed by keylist_free. */
typedef struct keylist {
	tbuf keys;
	size_t *off; /* n + 1 */
	uint64_t *df;
	size_t n, cap;
} keylist;

static int keylist_add(keylist *l, const uint8_t *key, uint32_t klen, uint64_t df)
{
	if (l->n + 2 > l->cap) {
		size_t nc = l->cap ? 2 * l->cap : 256;
		size_t *no = realloc(l->off, nc * sizeof *no);
		if (!no)
			return TRAWL_ENOMEM;
		l->off = no;
		uint64_t *nd = realloc(l->df, nc * sizeof *nd);
		if (!nd)
			return TRAWL_ENOMEM;
		l->df = nd;
		l->cap = nc;
	}
	if (l->n == 0)
		l->off[0] = 0;
	int rc = tbuf_append(&l->keys, key, klen);
	if (rc)
		return rc;
	l->df[l->n] = df;
	l->off[++l->n] = l->keys.len;
	return TRAWL_OK;
}

static void keylist_free(keylist *l)
{
	tbuf_fini(&l->keys);
	free(l->off);
	free(l->df);
}

/* ---- the apply step ---- */

/* The live generation's answers: the read side's, or a test's hooks. */
typedef struct sh_live {
	int (*locate)(void *ctx, const char *id, uint32_t idlen, uint32_t *shard, uint32_t *seg,
	              uint32_t *doc);
	int (*source)(void *ctx, uint32_t shard, uint32_t seg, uint32_t doc, char **out,
	              size_t *len);
	void *ctx;
} sh_live;

/* Where an operation's id has its live document. */
typedef struct sh_loc {
	uint32_t shard, seg, doc;
} sh_loc;

/* An operation's id in a message: at most 80 bytes of it. */
#define ID80(o) (int)((o)->idlen > 80 ? 80 : (o)->idlen), (o)->id

/* What one apply holds; freed by apply_fini. */
typedef struct apply {
	const char *dir;
	char gendir[LIMIT_PATH_BYTES];  /* the live generation's directory */
	char tmpdir[LIMIT_PATH_BYTES];  /* gen-N.tmp, "" when none */
	char scratch[LIMIT_PATH_BYTES]; /* DIR/update.tmp */
	uint64_t gen;                   /* N, the new generation */
	idx_manifest live;              /* the live generation's manifest */
	int have_live;
	idx_schema schema;
	int lockfd;
	trawl_index *idx;
	trawl_searcher *s;
	sh_live view;
	const sh_apply_hooks *hooks;
	uint32_t *fin; /* final_ops */
	uint32_t nfin;
	sh_loc *loc; /* per final operation, its live document */
	/* per live segment, its delete set when the batch deletes in it */
	idx_delset *ds[TRAWL_MAX_SHARDS];
	uint32_t adds_in[TRAWL_MAX_SHARDS]; /* documents the batch adds to each shard */
	uint64_t nadd, nreplace, ndelete, nabsent;
	char add_dir[LIMIT_PATH_BYTES], del_dir[LIMIT_PATH_BYTES]; /* "" : not built */
	uint64_t add_gen, del_gen;
	idx_manifest add_m; /* the scratch build of the adds */
	int have_add_m;
	uint64_t *vers[TRAWL_MAX_SHARDS]; /* per shard, its new segment's versions */
	uint8_t *zdict;                   /* the live generation's newest dictionary */
	size_t zdict_len;
	idx_gstats *cur; /* the statistics the delta is written on */
	idx_manifest *next;
	uint64_t written; /* bytes of the files the new generation does not share */
	char *err;
	size_t errlen;
} apply;

/* step runs the test hook, if any, before the step named. */
static int step(apply *a, const char *name)
{
	if (a->hooks && a->hooks->step && a->hooks->step(a->hooks->ctx, name))
		return errf(a->err, a->errlen, TRAWL_EIO, "%s: the update failed at step \"%s\"",
		            a->dir, name);
	return TRAWL_OK;
}

static void apply_fini(apply *a)
{
	for (uint32_t s = 0; s < TRAWL_MAX_SHARDS; s++)
		free(a->vers[s]);
	if (a->s)
		trawl_searcher_close(a->s);
	if (a->idx)
		trawl_index_close(a->idx);
	for (uint32_t i = 0; i < TRAWL_MAX_SHARDS; i++) {
		if (!a->ds[i])
			continue;
		for (uint32_t j = 0; j < a->live.shard[i].nsegs; j++)
			idx_delset_fini(&a->ds[i][j]);
		free(a->ds[i]);
	}
	idx_gstats_close(a->cur);
	if (a->next) {
		a->next->schema_json = NULL; /* the live manifest's */
		idx_manifest_fini(a->next);
		free(a->next);
	}
	if (a->have_add_m)
		idx_manifest_fini(&a->add_m);
	if (a->have_live)
		idx_manifest_fini(&a->live);
	free(a->fin);
	free(a->loc);
	free(a->zdict);
	if (a->tmpdir[0])
		idx_remove_tree(a->tmpdir);
	if (a->scratch[0])
		idx_remove_tree(a->scratch);
	if (a->lockfd >= 0)
		close(a->lockfd);
}

/* Reads CURRENT and the live manifest, and checks the batch against it. */
static int read_live(apply *a, uint64_t applied_seq, uint32_t n)
{
	int merge = a->hooks && a->hooks->merge;
	uint64_t g;
	int rc = idx_gen_current(a->dir, &g, a->err, a->errlen);
	if (rc == TRAWL_ENOTFOUND)
		return errf(a->err, a->errlen, rc, "%s: no index here to update (build one first)",
		            a->dir);
	if (rc)
		return rc;
	char name[32];
	idx_gen_dirname(name, g);
	snprintf(a->gendir, sizeof a->gendir, "%s/%s", a->dir, name);
	if ((rc = idx_manifest_read(a->gendir, &a->live, a->err, a->errlen)))
		return rc;
	a->have_live = 1;
	if (applied_seq < a->live.applied_seq ||
	    (n && !merge && applied_seq == a->live.applied_seq))
		return errf(a->err, a->errlen, TRAWL_EINVAL,
		            "%s: the live generation %llu already holds the write log's operations "
		            "up to %llu; this batch ends at %llu",
		            a->dir, (unsigned long long)g, (unsigned long long)a->live.applied_seq,
		            (unsigned long long)applied_seq);
	char msg[512];
	if ((rc = idx_schema_parse(&a->schema, a->live.schema_json, strlen(a->live.schema_json),
	                           msg, sizeof msg)))
		return errf(a->err, a->errlen, TRAWL_ECORRUPT, "%s/MANIFEST.json: %s", a->gendir,
		            msg);
	if (!a->live.stats_base.file[0])
		for (uint32_t s = 0; s < a->live.shards; s++)
			if (a->live.shard[s].nsegs != 1 || a->live.shard[s].segs[0].del.file[0])
				return errf(
				    a->err, a->errlen, TRAWL_ECORRUPT,
				    "%s/MANIFEST.json: shard %u has segments or deletes but "
				    "the generation has no statistics files",
				    a->gendir, s);
	return TRAWL_OK;
}

/* Opens the live generation for the read side's answers (unless the
 * caller's hooks give them). */
static int open_view(apply *a)
{
	if (a->hooks && a->hooks->locate) {
		if (a->hooks->generation && a->hooks->generation != a->live.generation)
			return errf(a->err, a->errlen, TRAWL_EBUSY,
			            "%s: generation %llu is live, not %llu (published by another "
			            "process?)",
			            a->dir, (unsigned long long)a->live.generation,
			            (unsigned long long)a->hooks->generation);
		a->view = (sh_live){a->hooks->locate, a->hooks->source, a->hooks->ctx};
		return TRAWL_OK;
	}
	int rc = trawl_index_open(&a->idx, a->dir, a->err, a->errlen);
	if (rc)
		return rc;
	if ((rc = idx_searcher_open(&a->s, a->idx, a->err, a->errlen)))
		return rc;
	trawl_index_stats st;
	trawl_index_get_stats(a->idx, &st);
	if (st.generation != a->live.generation)
		return errf(a->err, a->errlen, TRAWL_EIO,
		            "%s: generation %llu went live while the update read %llu", a->dir,
		            (unsigned long long)st.generation,
		            (unsigned long long)a->live.generation);
	a->view = (sh_live){live_locate, live_source, a->s};
	return TRAWL_OK;
}

/* The delete set of segment j of shard s, made on first use: the live
 * one's bits, or none. */
static int delset_of(apply *a, uint32_t s, uint32_t j, idx_delset **out)
{
	const idx_manifest_shard *sh = &a->live.shard[s];
	if (!a->ds[s] && !(a->ds[s] = calloc(sh->nsegs, sizeof *a->ds[s])))
		return errf(a->err, a->errlen, TRAWL_ENOMEM, "out of memory");
	idx_delset *d = &a->ds[s][j];
	if (!d->bits) {
		const idx_mseg *g = &sh->segs[j];
		int rc;
		if (g->del.file[0]) {
			char path[LIMIT_PATH_BYTES];
			snprintf(path, sizeof path, "%s/%s", a->gendir, g->del.file);
			rc = idx_delset_read(path, (uint32_t)g->docs, d, a->err, a->errlen);
			if (!rc && d->count != g->deleted)
				rc = errf(a->err, a->errlen, TRAWL_ECORRUPT,
				          "%s: %u documents deleted; the manifest says %llu", path,
				          d->count, (unsigned long long)g->deleted);
		} else {
			rc = idx_delset_init(d, (uint32_t)g->docs);
			if (rc)
				errf(a->err, a->errlen, rc, "out of memory");
		}
		if (rc)
			return rc;
	}
	*out = d;
	return TRAWL_OK;
}

/* Opens a scratch builder in the scratch directory's sub (the live schema,
 * shards shards, documents of any size the log holds). */
static int scratch_builder(apply *a, const char *sub, uint32_t shards, int store, char *path,
                           trawl_builder **out)
{
	snprintf(path, LIMIT_PATH_BYTES, "%s/%s", a->scratch, sub);
	trawl_build_opts o = {0};
	o.shards = shards;
	o.schema_json = a->live.schema_json;
	o.max_doc_bytes = LIMIT_STORED_DOC_BYTES;
	char msg[LIMIT_ERRMSG_BYTES];
	int rc = trawl_builder_open(out, path, &o, msg, sizeof msg);
	if (rc)
		return errf(a->err, a->errlen, rc, "%s: %s", path, msg);
	if (store != SH_STORE_TRAIN && !a->schema.store_none &&
	    (rc = sh_builder_store(*out, store, a->zdict, a->zdict_len))) {
		errf(a->err, a->errlen, rc, "%s: %s", path, trawl_builder_errmsg(*out));
		trawl_builder_close(*out);
		*out = NULL;
	}
	return rc;
}

static int scratch_commit(apply *a, trawl_builder *b, uint64_t *gen)
{
	trawl_build_report rep;
	int rc = trawl_builder_commit(b, &rep);
	if (rc)
		return errf(a->err, a->errlen, rc, "building the batch: %s",
		            trawl_builder_errmsg(b));
	*gen = rep.generation;
	return TRAWL_OK;
}

/* Live documents segment j of shard s keeps after the batch. */
static uint64_t seg_live(const apply *a, uint32_t s, uint32_t j)
{
	const idx_mseg *g = &a->live.shard[s].segs[j];
	uint64_t dead = a->ds[s] && a->ds[s][j].bits ? a->ds[s][j].count : g->deleted;
	return g->docs - dead;
}

/* Finds each final operation's live document: a->loc[k] (shard
 * UINT32_MAX: none), and the counts of what the batch replaces, deletes and
 * finds missing. */
static int locate_all(apply *a, const idx_wop *ops)
{
	if (!(a->loc = calloc(a->nfin ? a->nfin : 1, sizeof *a->loc)))
		return errf(a->err, a->errlen, TRAWL_ENOMEM, "out of memory");
	for (uint32_t k = 0; k < a->nfin; k++) {
		const idx_wop *o = &ops[a->fin[k]];
		sh_loc *l = &a->loc[k];
		int rc = a->view.locate(a->view.ctx, o->id, o->idlen, &l->shard, &l->seg, &l->doc);
		if (rc == TRAWL_ENOTFOUND) {
			l->shard = UINT32_MAX;
			if (o->kind == IDX_WOP_DELETE)
				a->nabsent++;
			continue;
		}
		if (rc)
			return errf(a->err, a->errlen, rc, "%s: looking up \"%.*s\": %s", a->dir,
			            ID80(o), trawl_strerror(rc));
		if (l->shard >= a->live.shards || l->seg >= a->live.shard[l->shard].nsegs ||
		    l->doc >= a->live.shard[l->shard].segs[l->seg].docs)
			return errf(
			    a->err, a->errlen, TRAWL_EINTERNAL,
			    "%s: \"%.*s\" located at shard %u, segment %u, document %u, which "
			    "the live generation does not have",
			    a->dir, ID80(o), l->shard, l->seg, l->doc);
		if (o->kind == IDX_WOP_INDEX)
			a->nreplace++;
		else
			a->ndelete++;
	}
	return TRAWL_OK;
}

/* Marks the located documents in their segments' delete sets. */
static int mark_deletes(apply *a, const idx_wop *ops)
{
	for (uint32_t k = 0; k < a->nfin; k++) {
		const idx_wop *o = &ops[a->fin[k]];
		const sh_loc *l = &a->loc[k];
		if (l->shard == UINT32_MAX)
			continue;
		idx_delset *ds = NULL;
		int rc = delset_of(a, l->shard, l->seg, &ds);
		if (rc)
			return rc;
		if (!idx_delset_add(ds, l->doc))
			return errf(
			    a->err, a->errlen, TRAWL_ECORRUPT,
			    "%s: document %u of segment %s (\"%.*s\") is deleted already, yet "
			    "found live",
			    a->gendir, l->doc, a->live.shard[l->shard].segs[l->seg].f.file,
			    ID80(o));
	}
	return TRAWL_OK;
}

/* The deleted documents' stored sources, built into a scratch index of
 * their own (one shard: only its statistics are read). */
static int build_deletes(apply *a, const idx_wop *ops)
{
	trawl_builder *b;
	int rc = scratch_builder(a, "del", 1, SH_STORE_NOTHING, a->del_dir, &b);
	if (rc)
		return rc;
	for (uint32_t k = 0; k < a->nfin && !rc; k++) {
		const idx_wop *o = &ops[a->fin[k]];
		const sh_loc *l = &a->loc[k];
		if (l->shard == UINT32_MAX)
			continue;
		char *src = NULL;
		size_t len = 0;
		rc = a->view.source(a->view.ctx, l->shard, l->seg, l->doc, &src, &len);
		if (rc) {
			errf(a->err, a->errlen, rc,
			     "%s/%s: document %u (\"%.*s\"): its stored source cannot be read: %s",
			     a->gendir, a->live.shard[l->shard].segs[l->seg].f.file, l->doc,
			     ID80(o), trawl_strerror(rc));
			break;
		}
		if ((rc = sh_builder_add_indexed(b, o->id, o->idlen, src, len)))
			errf(a->err, a->errlen, rc, "%s", trawl_builder_errmsg(b));
		free(src);
	}
	if (!rc)
		rc = scratch_commit(a, b, &a->del_gen);
	trawl_builder_close(b);
	return rc;
}

/* Whether segment j of shard s stays in the new generation: while it has
 * a live document; a shard left with none keeps its last segment. */
static int seg_stays(const apply *a, uint32_t s, uint32_t j)
{
	const idx_manifest_shard *sh = &a->live.shard[s];
	if (seg_live(a, s, j))
		return 1;
	if (a->adds_in[s] || j + 1 != sh->nsegs)
		return 0;
	for (uint32_t i = 0; i < j; i++)
		if (seg_live(a, s, i))
			return 0;
	return 1;
}

/* Segments each shard will have: its live ones that stay (seg_stays),
 * and one more when the batch adds to it. Checked against LIMIT_SEGMENTS
 * and the documents a shard may number. */
static int check_shape(apply *a, const idx_wop *ops)
{
	for (uint32_t k = 0; k < a->nfin; k++) {
		const idx_wop *o = &ops[a->fin[k]];
		if (o->kind == IDX_WOP_INDEX)
			a->adds_in[th_shard_of(o->id, o->idlen, a->live.shards)]++;
	}
	for (uint32_t s = 0; s < a->live.shards; s++) {
		uint64_t docs = a->adds_in[s];
		uint32_t nseg = a->adds_in[s] ? 1 : 0;
		for (uint32_t j = 0; j < a->live.shard[s].nsegs; j++) {
			if (seg_stays(a, s, j)) {
				nseg++;
				docs += a->live.shard[s].segs[j].docs;
			}
		}
		if (nseg > LIMIT_SEGMENTS)
			return errf(a->err, a->errlen, TRAWL_ELIMIT,
			            "%s: shard %u would have %u segments; the limit is %d "
			            "(LIMIT_SEGMENTS): compact the index before more updates",
			            a->dir, s, nseg, LIMIT_SEGMENTS);
		if (docs > LIMIT_DOCS_PER_SHARD - 1)
			return errf(
			    a->err, a->errlen, TRAWL_ELIMIT,
			    "%s: shard %u would number %llu documents (the deleted ones too); the "
			    "limit is %u: compact the index before more updates",
			    a->dir, s, (unsigned long long)docs, LIMIT_DOCS_PER_SHARD - 1);
	}
	return TRAWL_OK;
}

/* The batch's added documents, built into the scratch directory. */
static int cmp_fin_id(const void *x, const void *y, void *ctx)
{
	const idx_wop *ops = ctx, *a = &ops[*(const uint32_t *)x], *b = &ops[*(const uint32_t *)y];
	int c = memcmp(a->id, b->id, a->idlen < b->idlen ? a->idlen : b->idlen);
	return c ? c : (a->idlen > b->idlen) - (a->idlen < b->idlen);
}

/* The _seq_no and _version of every document of the adds' scratch build,
 * per shard in its segment's order (versions.h): each is its operation's.
 * They go beside the new segments, so that a write's version outlives the
 * log's operation. */
static int add_versions(apply *a, const idx_wop *ops)
{
	uint32_t *by_id = malloc((a->nfin ? a->nfin : 1) * sizeof *by_id);
	trawl_index *idx = NULL;
	trawl_searcher *s = NULL;
	if (!by_id)
		return errf(a->err, a->errlen, TRAWL_ENOMEM, "out of memory");
	memcpy(by_id, a->fin, a->nfin * sizeof *by_id);
	qsort_r(by_id, a->nfin, sizeof *by_id, cmp_fin_id, (void *)ops);
	int rc = trawl_index_open(&idx, a->add_dir, a->err, a->errlen);
	if (!rc && (rc = trawl_searcher_open(&s, idx)))
		errf(a->err, a->errlen, rc, "%s: %s", a->add_dir, trawl_strerror(rc));
	for (uint32_t sh = 0; !rc && sh < a->live.shards; sh++) {
		if (!a->adds_in[sh])
			continue;
		const idx_sview *v = &s->views[idx->local[sh]];
		if (!(a->vers[sh] = malloc(16 * (size_t)v->ndocs))) {
			rc = errf(a->err, a->errlen, TRAWL_ENOMEM, "out of memory");
			break;
		}
		for (uint32_t d = 0; d < v->ndocs && !rc; d++) {
			uint32_t len;
			const uint8_t *id = idx_view_extid(v, d, &len);
			/* the document's operation: a binary search by id */
			uint32_t lo = 0, hi = a->nfin;
			while (id && lo < hi) {
				uint32_t mid = lo + (hi - lo) / 2;
				const idx_wop *o = &ops[by_id[mid]];
				int c = memcmp(o->id, id, o->idlen < len ? o->idlen : len);
				c = c ? c : (o->idlen > len) - (o->idlen < len);
				if (c == 0) {
					lo = mid;
					break;
				}
				if (c < 0)
					lo = mid + 1;
				else
					hi = mid;
			}
			const idx_wop *o = id && lo < a->nfin ? &ops[by_id[lo]] : NULL;
			if (!o || o->idlen != len || memcmp(o->id, id, len) ||
			    o->kind != IDX_WOP_INDEX)
				rc = errf(a->err, a->errlen, TRAWL_EINTERNAL,
				          "%s: shard %u's document %u is no operation's",
				          a->add_dir, sh, d);
			else {
				a->vers[sh][2 * (size_t)d] = o->seq;
				a->vers[sh][2 * (size_t)d + 1] = o->version ? o->version : 1;
			}
		}
	}
	trawl_searcher_close(s);
	trawl_index_close(idx);
	free(by_id);
	return rc;
}

/* The size of the dictionary the build would train on the batch's stored
 * documents (docstore.h's rule, estimated from the documents as written:
 * at most 16 KiB of each, IDX_ZDICT_SAMPLE in all), 0 when it would not
 * train one. */
static size_t would_train(const apply *a, const idx_wop *ops)
{
	size_t total = 0;
	unsigned n = 0;
	for (uint32_t k = 0; k < a->nfin && total < IDX_ZDICT_SAMPLE; k++) {
		const idx_wop *o = &ops[a->fin[k]];
		if (o->kind != IDX_WOP_INDEX)
			continue;
		size_t l = o->doclen < 16384 ? o->doclen : 16384;
		if (total + l > IDX_ZDICT_SAMPLE)
			break;
		total += l;
		n++;
	}
	if (n < 64 || total < 64 * 1024)
		return 0;
	size_t want = total / 32;
	return want > IDX_ZDICT_MAX ? IDX_ZDICT_MAX : want < 4096 ? 4096 : want;
}

/*
 * The dictionary of the batch's new segments (*store: SH_STORE_DICT with
 * a->zdict, or SH_STORE_TRAIN). Training one costs 0.2-0.7 s of the
 * indexer's thread per generation, so the newest live segment's
 * dictionary is reused (it is written into each new segment, which stays
 * self-contained). A new one is trained when the live generation has none,
 * when the batch would train a larger one (a first small batch's
 * dictionary is not kept for ever: each retraining at least doubles it, up
 * to IDX_ZDICT_MAX), and for a compaction (hooks->fresh_dict).
 */
static int pick_zdict(apply *a, const idx_wop *ops, int *store)
{
	*store = SH_STORE_TRAIN;
	if (a->schema.store_none || (a->hooks && a->hooks->fresh_dict))
		return TRAWL_OK;
	/* the newest segment: the highest generation in its name (a whole
	 * build's "shard-NNN.mdb" are the oldest) */
	const char *file = NULL;
	unsigned long long best = 0;
	for (uint32_t s = 0; s < a->live.shards; s++) {
		const idx_manifest_shard *sh = &a->live.shard[s];
		const char *f = sh->segs[sh->nsegs - 1].f.file, *g = strstr(f, "-g");
		unsigned long long v = g ? strtoull(g + 2, NULL, 10) : 0;
		if (!file || v > best) {
			file = f;
			best = v;
		}
	}
	char path[LIMIT_PATH_BYTES];
	snprintf(path, sizeof path, "%s/%s", a->gendir, file);
	idx_store *st = NULL;
	idx_rtxn *t = NULL;
	const void *d;
	size_t dn = 0;
	int rc = idx_store_open(&st, path, a->err, a->errlen);
	if (!rc && (rc = idx_rtxn_begin(st, &t)))
		errf(a->err, a->errlen, rc, "%s: cannot begin a read transaction", path);
	if (!rc && idx_read_meta(t, "zdict", &d, &dn) == TRAWL_OK && dn && dn <= IDX_ZDICT_MAX &&
	    dn >= would_train(a, ops)) {
		if ((a->zdict = malloc(dn))) {
			memcpy(a->zdict, d, dn);
			a->zdict_len = dn;
			*store = SH_STORE_DICT;
		} else {
			rc = errf(a->err, a->errlen, TRAWL_ENOMEM, "out of memory");
		}
	}
	if (t)
		idx_rtxn_end(t);
	idx_store_close(st);
	return rc;
}

static int build_adds(apply *a, const idx_wop *ops)
{
	if (a->nfin == 0 || a->nadd == 0)
		return TRAWL_OK;
	int store = SH_STORE_TRAIN, rc = pick_zdict(a, ops, &store);
	trawl_builder *b;
	if (rc || (rc = scratch_builder(a, "add", a->live.shards, store, a->add_dir, &b)))
		return rc;
	for (uint32_t k = 0; k < a->nfin && !rc; k++) {
		const idx_wop *o = &ops[a->fin[k]];
		if (o->kind != IDX_WOP_INDEX)
			continue;
		if ((rc = sh_builder_add_indexed(b, o->id, o->idlen, o->doc, o->doclen)))
			errf(a->err, a->errlen, rc, "operation %llu (\"%.*s\"): %s",
			     (unsigned long long)o->seq, (int)(o->idlen > 80 ? 80 : o->idlen),
			     o->id, trawl_builder_errmsg(b));
	}
	if (!rc)
		rc = scratch_commit(a, b, &a->add_gen);
	trawl_builder_close(b);
	if (rc)
		return rc;
	char name[32], gd[LIMIT_PATH_BYTES];
	idx_gen_dirname(name, a->add_gen);
	snprintf(gd, sizeof gd, "%s/%s", a->add_dir, name);
	if ((rc = idx_manifest_read(gd, &a->add_m, a->err, a->errlen)))
		return rc;
	a->have_add_m = 1;
	return add_versions(a, ops);
}

/* Opens the shard files of a scratch build's generation (all of them:
 * their statistics are the build's), into f[0..*n). */
static int open_scratch(apply *a, const char *sdir, uint64_t gen, segfile *f, uint32_t *n)
{
	char name[32], gd[LIMIT_PATH_BYTES];
	idx_gen_dirname(name, gen);
	snprintf(gd, sizeof gd, "%s/%s", sdir, name);
	idx_manifest m;
	int rc = idx_manifest_read(gd, &m, a->err, a->errlen);
	if (rc)
		return rc;
	*n = 0;
	for (uint32_t s = 0; s < m.shards && !rc; s++) {
		char path[LIMIT_PATH_BYTES];
		snprintf(path, sizeof path, "%s/%s", gd, m.shard[s].segs[0].f.file);
		if (!(rc = segfile_open(&f[s], path, a->schema.nfields, a->err, a->errlen)))
			*n = s + 1;
	}
	idx_manifest_fini(&m);
	return rc;
}

/* The keys of a scratch build with their document counts summed over its
 * shards, and its documents and token totals. */
static int scratch_keys(apply *a, const char *sdir, uint64_t gen, keylist *out, uint64_t *docs,
                        uint64_t *sumlen)
{
	segfile *f = calloc(TRAWL_MAX_SHARDS, sizeof *f);
	if (!f)
		return errf(a->err, a->errlen, TRAWL_ENOMEM, "out of memory");
	uint32_t n = 0;
	int rc = open_scratch(a, sdir, gen, f, &n);
	kmerge m;
	if (!rc)
		rc = kmerge_init(&m, f, n, a->err, a->errlen);
	if (!rc && n) {
		*docs = f[0].docs;
		memcpy(sumlen, f[0].sumlen, 8 * (size_t)a->schema.nfields);
	}
	int r;
	while (!rc && (r = kmerge_next(&m)) != 0) {
		if (r < 0)
			rc = -r;
		else if ((rc = keylist_add(out, m.key, m.klen, m.df)))
			errf(a->err, a->errlen, rc, "the batch's keys: %s", trawl_strerror(rc));
	}
	for (uint32_t i = 0; i < n; i++)
		segfile_close(&f[i]);
	free(f);
	return rc;
}

/* The live generation's statistics as a base file in the new generation
 * (written once, for a generation a build wrote whole). */
static int write_base(apply *a, const char *path)
{
	segfile *f = calloc(a->live.shards, sizeof *f);
	if (!f)
		return errf(a->err, a->errlen, TRAWL_ENOMEM, "out of memory");
	int rc = TRAWL_OK;
	uint32_t n = 0;
	for (uint32_t s = 0; s < a->live.shards && !rc; s++) {
		char fp[LIMIT_PATH_BYTES];
		snprintf(fp, sizeof fp, "%s/%s", a->gendir, a->live.shard[s].segs[0].f.file);
		if (!(rc = segfile_open(&f[s], fp, a->schema.nfields, a->err, a->errlen)))
			n = s + 1;
	}
	if (!rc && f[0].docs != a->live.docs)
		rc = errf(a->err, a->errlen, TRAWL_ECORRUPT,
		          "%s: statistics of %llu documents; the manifest has %llu", f[0].path,
		          (unsigned long long)f[0].docs, (unsigned long long)a->live.docs);
	kmerge m;
	if (!rc)
		rc = kmerge_init(&m, f, n, a->err, a->errlen);
	if (!rc) {
		char msg[LIMIT_ERRMSG_BYTES] = "";
		m.err = msg; /* a damaged dictionary's message, kept apart */
		m.errlen = sizeof msg;
		rc = idx_gstats_write_base(path, f[0].docs, f[0].sumlen, a->schema.nfields,
		                           base_keys, &m, a->err, a->errlen);
		if (rc && msg[0])
			errf(a->err, a->errlen, rc, "%s", msg);
	}
	for (uint32_t i = 0; i < n; i++)
		segfile_close(&f[i]);
	free(f);
	return rc;
}

/* The file name stem (without ".mdb") of a segment file. */
static void stem(const char *file, char *out, size_t n)
{
	size_t l = strlen(file);
	if (l > 4 && !strcmp(file + l - 4, ".mdb"))
		l -= 4;
	snprintf(out, n, "%.*s", (int)l, file);
}

/* Records file name's size and checksum (a file written into the new
 * generation). */
static int hash_new(apply *a, const char *name, idx_mfile *f)
{
	char path[LIMIT_PATH_BYTES];
	snprintf(path, sizeof path, "%s/%s", a->tmpdir, name);
	snprintf(f->file, sizeof f->file, "%s", name);
	int rc = idx_file_hash(path, f->xxh3_128, &f->bytes);
	if (rc)
		return errf(a->err, a->errlen, rc, "%s: cannot read back: %s", path,
		            trawl_strerror(rc));
	a->written += f->bytes;
	return TRAWL_OK;
}

/* Hard-links the live generation's file name into the new generation. */
static int link_live(apply *a, const char *name)
{
	char from[LIMIT_PATH_BYTES], to[LIMIT_PATH_BYTES];
	snprintf(from, sizeof from, "%s/%s", a->gendir, name);
	snprintf(to, sizeof to, "%s/%s", a->tmpdir, name);
	if (link(from, to) != 0)
		return errf(a->err, a->errlen, errno == ENOSPC ? TRAWL_ENOSPC : TRAWL_EIO,
		            "link %s -> %s: %s (a generation shares its unchanged files by hard "
		            "links, never copies)",
		            from, to, strerror(errno));
	return TRAWL_OK;
}

/* The statistics files of the new generation: the base (linked, or
 * written from the live shards), and a new delta holding the batch's
 * changes (none when nothing changed: the live one's is linked). */
/* The rebase: the new generation's statistics (m's base and delta, in
 * a->tmpdir) folded into a base of its own, which replaces both there. */
static int rebase_stats(apply *a, idx_manifest *m)
{
	char base[LIMIT_PATH_BYTES], delta[LIMIT_PATH_BYTES], path[LIMIT_PATH_BYTES];
	char name[IDX_FILE_NAME_BYTES];
	snprintf(base, sizeof base, "%s/%s", a->tmpdir, m->stats_base.file);
	snprintf(delta, sizeof delta, "%s/%s", a->tmpdir, m->stats_delta.file);
	snprintf(name, sizeof name, "stats-g%06llu.base", (unsigned long long)a->gen);
	snprintf(path, sizeof path, "%s/%s", a->tmpdir, name);
	idx_gstats *g = NULL;
	int rc = idx_gstats_open(&g, base, delta, a->schema.nfields, a->err, a->errlen);
	if (!rc && (rc = idx_gstats_rebase(path, g, a->err, a->errlen)) == TRAWL_OK &&
	    (unlink(base) != 0 || unlink(delta) != 0))
		rc = errf(a->err, a->errlen, TRAWL_EIO, "%s: %s", a->tmpdir, strerror(errno));
	idx_gstats_close(g);
	if (!rc && (rc = hash_new(a, name, &m->stats_base)) == TRAWL_OK)
		memset(&m->stats_delta, 0, sizeof m->stats_delta);
	return rc;
}

/* Whether the statistics of the new generation are rebased: at a
 * compaction, or when the delta has grown past a fraction of the base
 * (LIMIT_STATS_REBASE_FRACTION), counting the batch's changed keys (an
 * upper bound of the new delta's). */
static int wants_rebase(const apply *a, const idx_gstats *cur, size_t changed_keys)
{
	if (a->hooks && a->hooks->fresh_dict)
		return 1;
	return cur && idx_gstats_delta_keys(cur) + changed_keys >
	                  idx_gstats_base_keys(cur) / LIMIT_STATS_REBASE_FRACTION;
}

static int write_stats(apply *a, idx_manifest *m, int changed)
{
	const idx_manifest *l = &a->live;
	char path[LIMIT_PATH_BYTES], dpath[LIMIT_PATH_BYTES];
	int rc;
	if (!changed) {
		m->stats_base = l->stats_base;
		m->stats_delta = l->stats_delta;
		if (l->stats_base.file[0] && (rc = link_live(a, l->stats_base.file)))
			return rc;
		if (l->stats_delta.file[0] && (rc = link_live(a, l->stats_delta.file)))
			return rc;
		/* a compaction's generation reads one layer, as a build's */
		if (l->stats_delta.file[0] && wants_rebase(a, NULL, 0))
			return rebase_stats(a, m);
		return TRAWL_OK;
	}
	if (l->stats_base.file[0]) {
		m->stats_base = l->stats_base;
		if ((rc = link_live(a, l->stats_base.file)))
			return rc;
		snprintf(path, sizeof path, "%s/%s", a->gendir, l->stats_base.file);
		if (l->stats_delta.file[0])
			snprintf(dpath, sizeof dpath, "%s/%s", a->gendir, l->stats_delta.file);
		rc = idx_gstats_open(&a->cur, path, l->stats_delta.file[0] ? dpath : NULL,
		                     a->schema.nfields, a->err, a->errlen);
	} else {
		char name[IDX_FILE_NAME_BYTES];
		snprintf(name, sizeof name, "stats-g%06llu.base", (unsigned long long)a->gen);
		snprintf(path, sizeof path, "%s/%s", a->tmpdir, name);
		if ((rc = write_base(a, path)) || (rc = hash_new(a, name, &m->stats_base)))
			return rc;
		rc = idx_gstats_open(&a->cur, path, NULL, a->schema.nfields, a->err, a->errlen);
	}
	if (rc)
		return rc;
	if (idx_gstats_docs(a->cur) != l->docs)
		return errf(a->err, a->errlen, TRAWL_ECORRUPT,
		            "%s: the statistics count %llu documents; the manifest has %llu",
		            a->gendir, (unsigned long long)idx_gstats_docs(a->cur),
		            (unsigned long long)l->docs);
	/* the batch's changes: the adds' keys minus the deleted documents' */
	keylist add = {0}, del = {0};
	tbuf_init(&add.keys, SIZE_MAX); /* bounded by the batch's documents */
	tbuf_init(&del.keys, SIZE_MAX);
	uint64_t adocs = 0, ddocs = 0, asum[LIMIT_FIELDS] = {0}, dsum[LIMIT_FIELDS] = {0};
	if (a->add_dir[0])
		rc = scratch_keys(a, a->add_dir, a->add_gen, &add, &adocs, asum);
	if (!rc && a->del_dir[0])
		rc = scratch_keys(a, a->del_dir, a->del_gen, &del, &ddocs, dsum);
	if (!rc && (adocs != a->nadd || ddocs != a->nreplace + a->ndelete))
		rc = errf(a->err, a->errlen, TRAWL_EINTERNAL,
		          "the batch's builds hold %llu and %llu documents, not %llu added and "
		          "%llu deleted",
		          (unsigned long long)adocs, (unsigned long long)ddocs,
		          (unsigned long long)a->nadd,
		          (unsigned long long)(a->nreplace + a->ndelete));
	idx_gchange *ch = NULL;
	size_t nch = 0;
	if (!rc && !(ch = malloc((add.n + del.n + 1) * sizeof *ch)))
		rc = errf(a->err, a->errlen, TRAWL_ENOMEM, "out of memory");
	for (size_t i = 0, j = 0; !rc && (i < add.n || j < del.n);) {
		const uint8_t *ak = add.keys.data + (i < add.n ? add.off[i] : 0);
		const uint8_t *dk = del.keys.data + (j < del.n ? del.off[j] : 0);
		uint32_t al = i < add.n ? (uint32_t)(add.off[i + 1] - add.off[i]) : 0;
		uint32_t dl = j < del.n ? (uint32_t)(del.off[j + 1] - del.off[j]) : 0;
		int c = i == add.n ? 1 : j == del.n ? -1 : key_cmp(ak, al, dk, dl);
		int64_t v = 0;
		if (c <= 0)
			v += (int64_t)add.df[i];
		if (c >= 0)
			v -= (int64_t)del.df[j];
		if (v)
			ch[nch++] = c <= 0 ? (idx_gchange){ak, al, v} : (idx_gchange){dk, dl, v};
		i += c <= 0;
		j += c >= 0;
	}
	int64_t sumch[LIMIT_FIELDS];
	for (uint32_t f = 0; f < a->schema.nfields; f++)
		sumch[f] = (int64_t)asum[f] - (int64_t)dsum[f];
	char name[IDX_FILE_NAME_BYTES];
	snprintf(name, sizeof name, "stats-g%06llu.delta", (unsigned long long)a->gen);
	snprintf(path, sizeof path, "%s/%s", a->tmpdir, name);
	if (!rc) {
		char msg[LIMIT_ERRMSG_BYTES];
		rc = idx_gstats_write_delta(path, a->cur, (int64_t)adocs - (int64_t)ddocs, sumch,
		                            ch, nch, msg, sizeof msg);
		if (rc)
			errf(a->err, a->errlen, rc, "%s: %s", path, msg);
	}
	if (!rc)
		rc = hash_new(a, name, &m->stats_delta);
	/* (a base written by this generation, from a whole build's shards,
	 * is new already: its delta is this batch's) */
	if (!rc && l->stats_base.file[0] && wants_rebase(a, a->cur, nch))
		rc = rebase_stats(a, m);
	free(ch);
	keylist_free(&add);
	keylist_free(&del);
	return rc;
}

/* The segments of shard s in the new generation: the live ones that keep
 * a live document (linked; a new delete set where the batch deleted in
 * them), then the batch's own, moved from the scratch build. */
static int write_shard(apply *a, idx_manifest *m, uint32_t s, sh_apply_report *rep)
{
	const idx_manifest_shard *ls = &a->live.shard[s];
	uint32_t n = 0;
	idx_mseg *segs = calloc(ls->nsegs + 1, sizeof *segs);
	if (!segs)
		return errf(a->err, a->errlen, TRAWL_ENOMEM, "out of memory");
	int rc = TRAWL_OK;
	for (uint32_t j = 0; j < ls->nsegs && !rc; j++) {
		const idx_mseg *g = &ls->segs[j];
		const idx_delset *d = a->ds[s] && a->ds[s][j].bits ? &a->ds[s][j] : NULL;
		/* a segment with no live document leaves the generation (its file
		 * stays in the older ones) */
		if (!seg_stays(a, s, j))
			continue;
		idx_mseg *o = &segs[n++];
		o->f = g->f;
		o->docs = g->docs;
		o->ver = g->ver;
		if ((rc = link_live(a, g->f.file)) ||
		    (g->ver.file[0] && (rc = link_live(a, g->ver.file))))
			break;
		if (!d) {
			o->del = g->del;
			o->deleted = g->deleted;
			if (g->del.file[0])
				rc = link_live(a, g->del.file);
			continue;
		}
		char st[IDX_FILE_NAME_BYTES], name[IDX_FILE_NAME_BYTES + 32],
		    path[LIMIT_PATH_BYTES];
		stem(g->f.file, st, sizeof st);
		int len =
		    snprintf(name, sizeof name, "%s.g%06llu.del", st, (unsigned long long)a->gen);
		if (len < 0 || (size_t)len >= IDX_FILE_NAME_BYTES) {
			rc = errf(a->err, a->errlen, TRAWL_ELIMIT,
			          "%s: a delete set's name would be longer than %d bytes", name,
			          IDX_FILE_NAME_BYTES - 1);
			break;
		}
		snprintf(path, sizeof path, "%s/%s", a->tmpdir, name);
		if ((rc = idx_delset_write(path, d, a->err, a->errlen)) ||
		    (rc = hash_new(a, name, &o->del)))
			break;
		o->deleted = d->count;
		rep->delsets++;
	}
	if (!rc && a->adds_in[s]) {
		const idx_mseg *g = &a->add_m.shard[s].segs[0];
		char name[IDX_FILE_NAME_BYTES], from[LIMIT_PATH_BYTES], to[LIMIT_PATH_BYTES],
		    gd[32];
		idx_gen_dirname(gd, a->add_gen);
		snprintf(name, sizeof name, "s%03u-g%06llu.mdb", s, (unsigned long long)a->gen);
		snprintf(from, sizeof from, "%s/%s/%s", a->add_dir, gd, g->f.file);
		snprintf(to, sizeof to, "%s/%s", a->tmpdir, name);
		if (g->docs != a->adds_in[s])
			rc = errf(a->err, a->errlen, TRAWL_EINTERNAL,
			          "%s: %llu documents; the batch adds %u to shard %u", from,
			          (unsigned long long)g->docs, a->adds_in[s], s);
		else if (rename(from, to) != 0)
			rc = errf(a->err, a->errlen, TRAWL_EIO, "rename %s -> %s: %s", from, to,
			          strerror(errno));
		if (!rc) {
			idx_mseg *o = &segs[n++];
			o->f = g->f;
			snprintf(o->f.file, sizeof o->f.file, "%s", name);
			o->docs = g->docs;
			rep->segments++;
			a->written += g->f.bytes;
			char vname[IDX_FILE_NAME_BYTES];
			snprintf(vname, sizeof vname, "s%03u-g%06llu.ver", s,
			         (unsigned long long)a->gen);
			snprintf(to, sizeof to, "%s/%s", a->tmpdir, vname);
			if (!(rc = idx_versions_write(to, (uint32_t)g->docs, a->vers[s], a->err,
			                              a->errlen)))
				rc = hash_new(a, vname, &o->ver);
		}
	}
	if (!rc && (n == 0 || n > LIMIT_SEGMENTS))
		rc = errf(a->err, a->errlen, TRAWL_EINTERNAL, "shard %u: %u segments", s, n);
	if (!rc && !(rc = idx_manifest_set_segments(m, s, n)))
		memcpy(m->shard[s].segs, segs, n * sizeof *segs);
	else if (rc == TRAWL_ENOMEM)
		errf(a->err, a->errlen, rc, "out of memory");
	free(segs);
	return rc;
}

int sh_schema_check_stored(const idx_schema *s, int typed, const char *why, char *err,
                           size_t errlen)
{
	if (s->store_all)
		return TRAWL_OK;
	for (uint32_t f = 0; f < s->nfields; f++)
		if (s->store_none || !idx_schema_is_stored(s, s->fields[f].name))
			return errf(err, errlen, TRAWL_ESCHEMA,
			            "text field \"%s\" is not stored, %s", s->fields[f].name, why);
	for (uint32_t t = 0; typed && t < s->ntyped; t++) {
		const idx_tfield *f = &s->typed[t];
		if (f->twin_of < 0 && f->index && !idx_schema_is_stored(s, f->name))
			return errf(err, errlen, TRAWL_ESCHEMA,
			            "field \"%s\" is indexed but not stored, %s", f->name, why);
	}
	return TRAWL_OK;
}

static int apply_batch(apply *a, const idx_wop *ops, uint32_t n, uint64_t applied_seq,
                       sh_apply_report *rep)
{
	int rc;
	if ((rc = step(a, "lock")) || (rc = idx_gen_lock(a->dir, &a->lockfd, a->err, a->errlen)))
		return rc;
	/* what a crashed update left: its generation's and its builds' directories */
	idx_gen_clean_tmp(a->dir);
	snprintf(a->scratch, sizeof a->scratch, "%s/%s", a->dir, SCRATCH);
	idx_remove_tree(a->scratch);
	for (uint32_t i = 0; i < n; i++) {
		const idx_wop *o = &ops[i];
		if (!o->id || o->idlen == 0 || o->idlen > LIMIT_ID_BYTES ||
		    (o->kind != IDX_WOP_INDEX && o->kind != IDX_WOP_DELETE) ||
		    (o->kind == IDX_WOP_INDEX && (!o->doc || o->doclen == 0)))
			return errf(a->err, a->errlen, TRAWL_EINVAL,
			            "operation %u (sequence number %llu): no id of 1 to %d bytes, "
			            "no kind, or an index without its document",
			            i, (unsigned long long)o->seq, LIMIT_ID_BYTES);
	}
	if ((rc = step(a, "read")) || (rc = read_live(a, applied_seq, n)))
		return rc;
	if ((rc = final_ops(ops, n, &a->fin, &a->nfin)))
		return errf(a->err, a->errlen, rc, "out of memory");
	for (uint32_t k = 0; k < a->nfin; k++)
		a->nadd += ops[a->fin[k]].kind == IDX_WOP_INDEX;
	if ((rc = step(a, "locate")) || (rc = open_view(a)) || (rc = locate_all(a, ops)))
		return rc;
	uint64_t ndel = a->nreplace + a->ndelete;
	char msg[LIMIT_ERRMSG_BYTES];
	if (ndel && (rc = sh_schema_check_stored(
	                 &a->schema, 1,
	                 "so a document that an update replaces or deletes cannot be taken out of "
	                 "the index's statistics: only new documents can be added",
	                 msg, sizeof msg)))
		return errf(a->err, a->errlen, rc, "%s: %s", a->dir, msg);
	if ((rc = mark_deletes(a, ops)) || (rc = check_shape(a, ops)))
		return rc;
	if (mkdir(a->scratch, 0755) != 0)
		return errf(a->err, a->errlen, errno == ENOSPC ? TRAWL_ENOSPC : TRAWL_EIO, "%s: %s",
		            a->scratch, strerror(errno));
	/* a merge writes the same documents again, from the same stored
	 * sources: the statistics do not change, so they are neither built
	 * nor rewritten (the live base and delta are linked) */
	int merge = a->hooks && a->hooks->merge && a->live.stats_base.file[0];
	if (ndel && !merge && ((rc = step(a, "deletes")) || (rc = build_deletes(a, ops))))
		return rc;
	if ((rc = step(a, "adds")) || (rc = build_adds(a, ops)))
		return rc;
	/* the new generation */
	a->gen = idx_gen_next(a->dir);
	char name[32];
	idx_gen_dirname(name, a->gen);
	snprintf(a->tmpdir, sizeof a->tmpdir, "%s/%s.tmp", a->dir, name);
	if (mkdir(a->tmpdir, 0755) != 0) {
		rc = errf(a->err, a->errlen, errno == ENOSPC ? TRAWL_ENOSPC : TRAWL_EIO, "%s: %s",
		          a->tmpdir, strerror(errno));
		a->tmpdir[0] = 0;
		return rc;
	}
	if (!(a->next = calloc(1, sizeof *a->next)))
		return errf(a->err, a->errlen, TRAWL_ENOMEM, "out of memory");
	idx_manifest *m = a->next;
	m->format = 3;
	m->generation = a->gen;
	m->shards = a->live.shards;
	m->applied_seq = applied_seq;
	m->schema_json = a->live.schema_json;
	if ((rc = step(a, "stats")) || (rc = write_stats(a, m, !merge && (a->nadd || ndel))))
		return rc;
	rep->base_written = !a->live.stats_base.file[0] && m->stats_base.file[0];
	rep->rebased =
	    a->live.stats_base.file[0] && strcmp(m->stats_base.file, a->live.stats_base.file);
	if ((rc = step(a, "segments")))
		return rc;
	for (uint32_t s = 0; s < m->shards && !rc; s++)
		rc = write_shard(a, m, s, rep);
	if (rc)
		return rc;
	for (uint32_t s = 0; s < m->shards; s++)
		for (uint32_t j = 0; j < m->shard[s].nsegs; j++)
			m->docs += m->shard[s].segs[j].docs - m->shard[s].segs[j].deleted;
	if (m->docs != a->live.docs - ndel + a->nadd)
		return errf(a->err, a->errlen, TRAWL_EINTERNAL,
		            "%s: the new generation's segments hold %llu live documents, not %llu",
		            a->dir, (unsigned long long)m->docs,
		            (unsigned long long)(a->live.docs - ndel + a->nadd));
	if ((rc = step(a, "manifest")) ||
	    (rc = idx_manifest_write(a->tmpdir, m, a->err, a->errlen)))
		return rc;
	/* the live generation is read: let go of it before the publish */
	if (a->s)
		trawl_searcher_close(a->s);
	if (a->idx)
		trawl_index_close(a->idx);
	a->s = NULL;
	a->idx = NULL;
	if ((rc = step(a, "publish")) ||
	    (rc = idx_gen_publish(a->dir, a->tmpdir, a->gen, a->err, a->errlen)))
		return rc;
	a->tmpdir[0] = 0; /* published: it is gen-N now */
	rep->generation = a->gen;
	rep->docs = m->docs;
	rep->added = a->nadd;
	rep->replaced = a->nreplace;
	rep->deleted = a->ndelete;
	rep->absent = a->nabsent;
	rep->bytes_written = a->written;
	return TRAWL_OK;
}

int sh_apply_with(const char *dir, const idx_wop *ops, uint32_t n, uint64_t applied_seq,
                  const sh_apply_hooks *hooks, sh_apply_report *rep, char *err, size_t errlen)
{
	double t0 = clock_mono_s();
	sh_apply_report r = {0};
	apply *a = calloc(1, sizeof *a);
	if (!a)
		return errf(err, errlen, TRAWL_ENOMEM, "out of memory");
	a->dir = dir;
	a->lockfd = -1;
	a->hooks = hooks;
	a->err = err;
	a->errlen = errlen;
	int rc = dir && strlen(dir) < LIMIT_PATH_BYTES - 128
	             ? apply_batch(a, ops, n, applied_seq, &r)
	             : errf(err, errlen, TRAWL_EINVAL, "index directory name missing or too long");
	apply_fini(a);
	free(a);
	r.seconds = clock_mono_s() - t0;
	if (rep)
		*rep = r;
	return rc;
}

int sh_apply(const char *dir, const idx_wop *ops, uint32_t n, uint64_t applied_seq,
             sh_apply_report *rep, char *err, size_t errlen)
{
	return sh_apply_with(dir, ops, n, applied_seq, NULL, rep, err, errlen);
}
