/*
 * join.c - the join of a build: runs the shards' mergers (merge.c) on a
 * pool of threads, and between and after their passes computes what no
 * shard can alone: the document count and field lengths of the whole
 * generation (which the block maxima of every shard's postings need), and
 * the document frequency of every term across all shards (which goes into
 * every shard's dictionary). Then each shard's file is committed and
 * checksummed; builder.c writes the manifest and publishes.
 *
 * The threads: a pass over S shards uses min(S, threads) of them; the
 * terms pass also cuts each shard's key space into parts of about equal
 * postings volume, so that a 1-shard build keeps every core busy.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "index/codec.h"
#include "index/dict.h"
#include "index/gen.h"
#include "merge.h"

/* ---- a pool of threads over numbered tasks ---- */

typedef struct pool {
	int (*fn)(void *ctx, unsigned task);
	void *ctx;
	unsigned ntasks;
	atomic_uint next;
	atomic_int rc;
} pool;

static void *pool_thread(void *arg)
{
	pool *p = arg;
	for (;;) {
		unsigned t = atomic_fetch_add(&p->next, 1);
		if (t >= p->ntasks || atomic_load(&p->rc))
			break;
		int rc = p->fn(p->ctx, t);
		if (rc) {
			int zero = 0;
			atomic_compare_exchange_strong(&p->rc, &zero, rc);
		}
	}
	return NULL;
}

/* Runs fn(ctx, 0..ntasks-1) on `threads` threads (this one included);
 * stops handing out tasks after the first error, which it returns. */
static int run_pool(unsigned ntasks, unsigned threads, int (*fn)(void *, unsigned), void *ctx)
{
	pool p = {fn, ctx, ntasks, 0, 0};
	if (threads > ntasks)
		threads = ntasks;
	if (threads > LIMIT_BUILD_WORKERS)
		threads = LIMIT_BUILD_WORKERS;
	pthread_t tid[LIMIT_BUILD_WORKERS];
	unsigned started = 0;
	for (unsigned t = 1; t < threads; t++)
		if (pthread_create(&tid[started], NULL, pool_thread, &p) == 0)
			started++;
	pool_thread(&p);
	for (unsigned t = 0; t < started; t++)
		pthread_join(tid[t], NULL);
	return atomic_load(&p.rc);
}

typedef struct join {
	const sh_mergeopts *o;
	sh_shardmerge *m;
	uint32_t ns, nparts;
	idx_stats gs;
	sh_mergestats *st;
	/* per keyword field with doc values: the generation's dictionary */
	tbuf dict[LIMIT_TYPED_FIELDS];
	idx_kwdict kd[LIMIT_TYPED_FIELDS];
} join;

/* Whether typed field t gets a dictionary of the generation. */
static int has_dict(const idx_schema *s, uint32_t t)
{
	return s->typed[t].type == IDX_KEYWORD && s->typed[t].doc_values;
}

static int task_docs(void *ctx, unsigned s)
{
	join *j = ctx;
	return sh_merge_docs(&j->m[s]);
}

static int task_terms(void *ctx, unsigned t)
{
	join *j = ctx;
	sh_shardmerge *m = &j->m[t / j->nparts];
	uint32_t part = t % j->nparts;
	if (part >= m->nparts)
		return TRAWL_OK;
	return sh_merge_terms(m, part, &j->gs);
}

/* Cuts shard m's key space into at most want parts of about equal postings
 * volume, judged by its biggest run; opens each part's files. */
static int plan_parts(sh_shardmerge *m, uint32_t want, const char *gendir)
{
	uint32_t big = 0;
	uint64_t bigbytes = 0;
	for (uint32_t r = 0; r < m->nruns; r++) {
		sh_section sec;
		sh_run_section(&m->runs[r], m->shard, &sec);
		if ((uint64_t)(sec.terms_end - sec.terms) > bigbytes) {
			bigbytes = (uint64_t)(sec.terms_end - sec.terms);
			big = r;
		}
	}
	m->nparts = 1;
	memset(&m->parts[0], 0, sizeof m->parts[0]);
	if (want > 1 && bigbytes > 0) {
		sh_section sec;
		sh_run_section(&m->runs[big], m->shard, &sec);
		const uint8_t *p = sec.terms;
		uint64_t seen = 0;
		for (uint32_t i = 0; i < sec.nterms && m->nparts < want; i++) {
			uint64_t kl, df, pl;
			const uint8_t *q = idx_varint_get(p, sec.terms_end, &kl);
			if (!q || kl == 0 || kl > LIMIT_KEY_BYTES || (uint64_t)(sec.terms_end - q) < kl)
				break;
			const uint8_t *key = q;
			q += kl;
			if (!(q = idx_varint_get(q, sec.terms_end, &df)) ||
			    !(q = idx_varint_get(q, sec.terms_end, &pl)) ||
			    (uint64_t)(sec.terms_end - q) < pl)
				break;
			p = q + pl;
			seen += (uint64_t)(p - key);
			if (seen * want >= bigbytes * m->nparts && i + 1 < sec.nterms) {
				/* the next key starts a part */
				const uint8_t *n = idx_varint_get(p, sec.terms_end, &kl);
				if (!n || kl == 0 || kl > LIMIT_KEY_BYTES || (uint64_t)(sec.terms_end - n) < kl)
					break;
				sh_mpart *prev = &m->parts[m->nparts - 1], *pt = &m->parts[m->nparts];
				memset(pt, 0, sizeof *pt);
				memcpy(pt->lo, n, kl);
				pt->lolen = (uint32_t)kl;
				pt->has_lo = 1;
				memcpy(prev->hi, n, kl);
				prev->hilen = (uint32_t)kl;
				prev->has_hi = 1;
				m->nparts++;
			}
		}
	}
	for (uint32_t i = 0; i < m->nparts; i++) {
		char path[LIMIT_PATH_BYTES];
		tbuf_init(&m->parts[i].keys, (size_t)1 << 34);
		snprintf(path, sizeof path, "%s/shard-%03u.part%02u.post", gendir, m->shard, i);
		int rc = sh_fout_open(&m->parts[i].post, path);
		snprintf(path, sizeof path, "%s/shard-%03u.part%02u.pos", gendir, m->shard, i);
		if (rc || (rc = sh_fout_open(&m->parts[i].pos, path))) {
			snprintf(m->err, sizeof m->err, "%s: cannot create: %s", path, trawl_strerror(rc));
			return rc;
		}
	}
	return TRAWL_OK;
}

/* Global document frequencies: a merge of every shard's sorted terms. */
typedef struct gcur {
	uint32_t part, i;
} gcur;

static sh_mterm *gcur_term(sh_shardmerge *m, gcur *c)
{
	while (c->part < m->nparts && c->i >= m->parts[c->part].nterms) {
		c->part++;
		c->i = 0;
	}
	return c->part < m->nparts ? &m->parts[c->part].terms[c->i] : NULL;
}

static const uint8_t *gkey(sh_shardmerge *m, gcur *c, const sh_mterm *t)
{
	return m->parts[c->part].keys.data + t->key_off;
}

static int global_df(join *j)
{
	uint32_t ns = j->ns;
	if (ns == 1)
		return TRAWL_OK;
	gcur *c = calloc(ns, sizeof *c);
	uint32_t *same = malloc(ns * sizeof *same);
	if (!c || !same) {
		free(c);
		free(same);
		return TRAWL_ENOMEM;
	}
	for (;;) {
		int min = -1;
		const uint8_t *mk = NULL;
		uint32_t ml = 0, n = 0;
		for (uint32_t s = 0; s < ns; s++) {
			sh_mterm *t = gcur_term(&j->m[s], &c[s]);
			if (!t)
				continue;
			const uint8_t *k = gkey(&j->m[s], &c[s], t);
			int cmp = 0;
			if (min >= 0) {
				uint32_t l = t->klen < ml ? t->klen : ml;
				cmp = memcmp(k, mk, l);
				if (!cmp)
					cmp = (t->klen > ml) - (t->klen < ml);
			}
			if (min < 0 || cmp < 0) {
				min = (int)s;
				mk = k;
				ml = t->klen;
				n = 0;
				same[n++] = s;
			} else if (cmp == 0) {
				same[n++] = s;
			}
		}
		if (min < 0)
			break;
		uint64_t df = 0;
		for (uint32_t i = 0; i < n; i++)
			df += gcur_term(&j->m[same[i]], &c[same[i]])->df;
		for (uint32_t i = 0; i < n; i++) {
			gcur_term(&j->m[same[i]], &c[same[i]])->df_global = df;
			c[same[i]].i++;
		}
	}
	free(c);
	free(same);
	return TRAWL_OK;
}

static int serr_join(sh_shardmerge *m, int rc, const char *what)
{
	if (!m->err[0])
		snprintf(m->err, sizeof m->err, "shard %u: %s: %s", m->shard, what, trawl_strerror(rc));
	return rc;
}

static int put_meta(idx_store *st, const char *key, const void *val, size_t len)
{
	return idx_store_put(st, IDX_DB_META, key, strlen(key), val, len, 0);
}

/* Copies the parts' files of one kind into one reserved value. */
static int put_blob(sh_shardmerge *m, const char *key, int positions)
{
	uint64_t total = 0;
	for (uint32_t i = 0; i < m->nparts; i++)
		total += positions ? m->parts[i].pos.bytes : m->parts[i].post.bytes;
	if (total == 0)
		return put_meta(m->st, key, "", 0);
	void *dst;
	int rc = idx_store_reserve(m->st, IDX_DB_META, key, strlen(key), total, 0, &dst);
	uint8_t *at = dst;
	for (uint32_t i = 0; i < m->nparts && !rc; i++) {
		sh_fout *f = positions ? &m->parts[i].pos : &m->parts[i].post;
		rc = sh_fout_copy(f, at);
		at += f->bytes;
	}
	return rc;
}

/* Shard s's distinct values of each keyword field with doc values. */
static int task_kwsets(void *ctx, unsigned s)
{
	join *j = ctx;
	sh_shardmerge *m = &j->m[s];
	const idx_schema *sc = &m->p->schema;
	for (uint32_t t = 0; t < sc->ntyped; t++) {
		if (!has_dict(sc, t))
			continue;
		uint64_t n = 0;
		idx_tvals v;
		for (uint32_t d = 0; d < m->ndocs; d++) {
			if (idx_tvals_split(sc, m->typed.data + m->typed_off[d],
			                    m->typed_off[d + 1] - m->typed_off[d], &v))
				return serr_join(m, TRAWL_ECORRUPT, "typed values");
			n += v.count[t];
		}
		if (n > UINT32_MAX)
			return serr_join(m, TRAWL_ELIMIT, "more than 2^32 keyword values");
		idx_kwslice *sl = malloc((n ? n : 1) * sizeof *sl);
		if (!sl)
			return serr_join(m, TRAWL_ENOMEM, "keyword values");
		uint32_t k = 0;
		for (uint32_t d = 0; d < m->ndocs; d++) {
			(void)idx_tvals_split(sc, m->typed.data + m->typed_off[d],
			                      m->typed_off[d + 1] - m->typed_off[d], &v);
			const uint8_t *p = v.at[t];
			for (uint32_t i = 0; i < v.count[t]; i++) {
				uint32_t l;
				memcpy(&l, p, 4);
				sl[k++] = (idx_kwslice){p + 4, l};
				p += 4 + l;
			}
		}
		m->kw[t] = sl;
		m->nkw[t] = idx_kwslices_sort(sl, k);
	}
	return TRAWL_OK;
}

/* The generation's dictionary of each keyword field with doc values: the
 * union of the shards' sets: global ordinals, docs/FORMAT.md 6.11. */
static int global_dicts(join *j)
{
	const idx_schema *sc = &j->o->params->schema;
	for (uint32_t t = 0; t < sc->ntyped; t++) {
		if (!has_dict(sc, t))
			continue;
		uint64_t n = 0;
		for (uint32_t s = 0; s < j->ns; s++)
			n += j->m[s].nkw[t];
		if (n > UINT32_MAX)
			return TRAWL_ELIMIT;
		idx_kwslice *all = malloc((n ? n : 1) * sizeof *all);
		if (!all)
			return TRAWL_ENOMEM;
		uint32_t k = 0;
		for (uint32_t s = 0; s < j->ns; s++) {
			memcpy(all + k, j->m[s].kw[t], (size_t)j->m[s].nkw[t] * sizeof *all);
			k += j->m[s].nkw[t];
		}
		k = idx_kwslices_sort(all, k);
		tbuf_init(&j->dict[t], (size_t)1 << 36);
		int rc = idx_kwdict_write(all, k, &j->dict[t]);
		free(all);
		if (rc || (rc = idx_kwdict_open(&j->kd[t], j->dict[t].data, j->dict[t].len)))
			return rc;
	}
	for (uint32_t s = 0; s < j->ns; s++)
		for (uint32_t t = 0; t < LIMIT_TYPED_FIELDS; t++) {
			free(j->m[s].kw[t]);
			j->m[s].kw[t] = NULL;
		}
	return TRAWL_OK;
}

/* Shard m's typed fields' columns, points and dictionaries. */
static int put_columns(join *j, sh_shardmerge *m)
{
	const idx_schema *sc = &m->p->schema;
	tbuf dv, pts;
	tbuf_init(&dv, (size_t)1 << 36);
	tbuf_init(&pts, (size_t)1 << 36);
	int rc = TRAWL_OK;
	for (uint32_t t = 0; t < sc->ntyped && !rc; t++) {
		const idx_tfield *f = &sc->typed[t];
		int want_pts = f->index && f->type != IDX_KEYWORD;
		if (!f->doc_values && !want_pts)
			continue;
		tbuf_reset(&dv);
		tbuf_reset(&pts);
		rc = idx_columns_write(sc, t, m->ndocs, m->typed.data, m->typed_off, &j->kd[t],
		                       f->doc_values ? &dv : NULL, want_pts ? &pts : NULL);
		char key[32];
		if (!rc && f->doc_values) {
			snprintf(key, sizeof key, "dv.%u", t);
			rc = put_meta(m->st, key, dv.data, dv.len);
		}
		if (!rc && want_pts) {
			snprintf(key, sizeof key, "pts.%u", t);
			rc = put_meta(m->st, key, pts.data, pts.len);
		}
		if (!rc && has_dict(sc, t)) {
			snprintf(key, sizeof key, "ords.%u", t);
			rc = put_meta(m->st, key, j->dict[t].data, j->dict[t].len);
		}
		if (rc)
			snprintf(m->err, sizeof m->err, "%s: field \"%s\": %s", m->path, f->name,
			         trawl_strerror(rc));
	}
	tbuf_fini(&dv);
	tbuf_fini(&pts);
	return rc;
}

/* Writes everything but the documents into shard s's file and commits. */
static int task_finish(void *ctx, unsigned s)
{
	join *j = ctx;
	sh_shardmerge *m = &j->m[s];
	const sh_params *p = m->p;
	const sh_mergeopts *o = j->o;
	uint32_t nf = p->schema.nfields;
	idx_dictw dw;
	idx_dictw_init(&dw);
	tbuf ex;
	tbuf_init(&ex, (size_t)1 << 33);
	int rc = TRAWL_OK;
	uint64_t nterms = 0;
	for (uint32_t i = 0; i < m->nparts && !rc; i++) {
		sh_mpart *pt = &m->parts[i];
		for (uint32_t t = 0; t < pt->nterms && !rc; t++) {
			sh_mterm *e = &pt->terms[t];
			rc = idx_dictw_add(&dw, pt->keys.data + e->key_off, e->klen, e->df, e->df_global,
			                   e->post_len, e->pos_len);
		}
		nterms += pt->nterms;
	}
	uint32_t fmt = IDX_FORMAT_VERSION;
	char info[256];
	snprintf(info, sizeof info,
	         "{\"format\":%u,\"shard\":%u,\"shards\":%u,\"generation\":%llu,\"docs\":%u}", fmt,
	         m->shard, p->nshards, (unsigned long long)o->generation, m->ndocs);
	uint8_t statbuf[8 + 4 + 8 * LIMIT_FIELDS];
	memcpy(statbuf, &j->gs.docs, 8);
	memcpy(statbuf + 8, &nf, 4);
	memcpy(statbuf + 12, j->gs.sumlen, 8 * (size_t)nf);
	if (rc || (rc = put_meta(m->st, "format", &fmt, 4)) ||
	    (rc = put_meta(m->st, "info", info, strlen(info))) ||
	    (rc = put_meta(m->st, "schema", p->schema_json, strlen(p->schema_json))) ||
	    (rc = put_meta(m->st, "stats", statbuf, 12 + 8 * (size_t)nf)))
		goto out;
	if (p->zdict_len && (rc = put_meta(m->st, "zdict", p->zdict, p->zdict_len)))
		goto out;
	if ((rc = put_columns(j, m)))
		goto out;
	for (uint32_t f = 0; f < nf; f++) {
		char key[32];
		snprintf(key, sizeof key, "norms.%u", f);
		if ((rc = put_meta(m->st, key, m->norms[f], m->ndocs)))
			goto out;
	}
	/* external ids, in doc-id order, in blocks of 64: the blocks' offsets,
	 * then per block the varint lengths and the bytes */
	{
		uint32_t nblk = (m->ndocs + 63) / 64;
		size_t offs = ((size_t)nblk + 1) * 4;
		if ((rc = tbuf_reserve(&ex, offs)))
			goto out;
		memset(ex.data, 0, offs);
		ex.len = offs;
		size_t idat = 0;
		for (uint32_t blk = 0; blk < nblk && !rc; blk++) {
			uint32_t off = (uint32_t)(ex.len - offs);
			memcpy(ex.data + (size_t)blk * 4, &off, 4);
			uint32_t from = blk * 64, to = from + 64 < m->ndocs ? from + 64 : m->ndocs;
			size_t bytes = 0;
			for (uint32_t d = from; d < to && !rc; d++) {
				uint8_t tmp[10];
				rc = tbuf_append(&ex, tmp, idx_varint_put(tmp, m->idlens[d]));
				bytes += m->idlens[d];
			}
			if (!rc)
				rc = tbuf_append(&ex, m->ids.data + idat, bytes);
			idat += bytes;
		}
		if (rc)
			goto out;
		uint32_t off = (uint32_t)(ex.len - offs);
		memcpy(ex.data + (size_t)nblk * 4, &off, 4);
		if ((rc = put_meta(m->st, "extids", ex.data, ex.len)))
			goto out;
	}
	if ((rc = put_meta(m->st, "dict", dw.dict.data, dw.dict.len)) ||
	    (rc = put_meta(m->st, "dict.index", dw.index.data, dw.index.len)) ||
	    (rc = put_blob(m, "postings", 0)) || (rc = put_blob(m, "positions", 1)) ||
	    (rc = put_meta(m->st, "terms", &nterms, 8)))
		goto out;
	/* the parts' files are copied: free their disk before the commit writes */
	for (uint32_t i = 0; i < m->nparts; i++) {
		sh_fout_close(&m->parts[i].post);
		sh_fout_close(&m->parts[i].pos);
	}
	char why[256];
	rc = idx_store_commit(m->st, why, sizeof why);
	idx_store_close(m->st);
	m->st = NULL;
	if (rc) {
		snprintf(m->err, sizeof m->err, "%s: %s%s", m->path, why,
		         rc == TRAWL_EIO || rc == TRAWL_ENOSPC ? " (is the disk full?)" : "");
		goto out;
	}
	if ((rc = idx_file_hash(m->path, j->st->shard_hash[s], &j->st->shard_bytes[s])))
		snprintf(m->err, sizeof m->err, "%s: cannot checksum", m->path);
out:
	if (rc && !m->err[0])
		snprintf(m->err, sizeof m->err, "%s: %s", m->path, trawl_strerror(rc));
	idx_dictw_fini(&dw);
	tbuf_fini(&ex);
	return rc;
}

int sh_merge_all(const sh_mergeopts *o, sh_mergestats *st)
{
	const sh_params *p = o->params;
	uint32_t ns = p->nshards;
	unsigned threads = o->threads ? o->threads : 1;
	memset(st, 0, sizeof *st);
	join j = {o, calloc(ns, sizeof(sh_shardmerge)), ns, 1, {0}, st};
	if (!j.m)
		return errf(o->err, o->errlen, TRAWL_ENOMEM, "out of memory");
	double t0 = clock_mono_s();
	for (uint32_t s = 0; s < ns; s++) {
		sh_shardmerge *m = &j.m[s];
		m->p = p;
		m->runs = o->runs;
		m->nruns = o->nruns;
		m->shard = s;
		tbuf_init(&m->ids, (size_t)1 << 38);
		tbuf_init(&m->typed, (size_t)1 << 38);
		snprintf(m->path, sizeof m->path, "%s/shard-%03u.mdb", o->gendir, s);
	}
	int rc = run_pool(ns, threads, task_docs, &j);
	if (rc == TRAWL_OK) {
		j.gs.docs = 0;
		for (uint32_t s = 0; s < ns; s++) {
			j.gs.docs += j.m[s].ndocs;
			for (uint32_t f = 0; f < p->schema.nfields; f++)
				j.gs.sumlen[f] += j.m[s].sumlen[f];
		}
		uint32_t want = ns >= threads ? 1 : (threads + ns - 1) / ns;
		if (want > SH_MAX_PARTS)
			want = SH_MAX_PARTS;
		for (uint32_t s = 0; s < ns && !rc; s++)
			rc = plan_parts(&j.m[s], want, o->gendir);
		for (uint32_t s = 0; s < ns; s++)
			if (j.m[s].nparts > j.nparts)
				j.nparts = j.m[s].nparts;
	}
	if (rc == TRAWL_OK)
		rc = run_pool(ns * j.nparts, threads, task_terms, &j);
	st->merge_s = clock_mono_s() - t0;
	t0 = clock_mono_s();
	if (rc == TRAWL_OK && (rc = global_df(&j)))
		errf(o->err, o->errlen, rc, "out of memory");
	if (rc == TRAWL_OK && p->schema.ntyped &&
	    (rc = run_pool(ns, threads, task_kwsets, &j)) == TRAWL_OK && (rc = global_dicts(&j)))
		errf(o->err, o->errlen, rc, "the keyword dictionaries: %s", trawl_strerror(rc));
	if (rc == TRAWL_OK)
		rc = run_pool(ns, threads, task_finish, &j);
	st->join_s = clock_mono_s() - t0;
	for (uint32_t s = 0; s < ns; s++) {
		sh_shardmerge *m = &j.m[s];
		if (rc && m->err[0] && o->err && !o->err[0])
			snprintf(o->err, o->errlen, "%s", m->err);
		st->docs += m->ndocs;
		st->duplicates += m->duplicates;
		st->deleted += m->deleted;
		st->shard_docs[s] = m->ndocs;
		st->bytes_out += st->shard_bytes[s];
		sh_shardmerge_fini(m);
	}
	free(j.m);
	for (uint32_t t = 0; t < LIMIT_TYPED_FIELDS; t++)
		tbuf_fini(&j.dict[t]);
	if (rc && o->err && !o->err[0])
		errf(o->err, o->errlen, rc, "merging the shards: %s", trawl_strerror(rc));
	return rc;
}
