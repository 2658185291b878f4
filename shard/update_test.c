/*
 * update_test.c - the indexer's apply step (update.c) against a model kept
 * here. An index is built whole; then batches of random operations (new
 * documents, replacements, deletes, deletes of missing ids, an id several
 * times in one batch) are applied, and after each the new generation is
 * checked against the model: the manifest (format 3, applied_seq, live
 * documents, the segments each shard must have), every delete set bit by
 * bit, the hard links (a file an older generation has is the same inode;
 * a new one has one link), and the exact statistics: every key's document
 * frequency, the document count and the token totals against a recount
 * from the live documents themselves (the plain analyzer makes the
 * recount a split on spaces). The first update of a whole build locates
 * documents with the read side; later ones, which need the read side of
 * segments (not built yet), get the model's answers through sh_apply_with's
 * hooks. Refusals: fields not stored, LIMIT_SEGMENTS, a batch behind the
 * live generation, bad operations, no index; and each step made to fail in
 * turn leaves the live generation live and nothing behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hash.h"
#include "common/limits.h"
#include "index/delset.h"
#include "index/gen.h"
#include "index/gstats.h"
#include "index/handles.h"
#include "index/store.h"
#include "index/testdir.h"
#include "shard/sh.h"
#include "trawl/trawl.h"

static char g_err[LIMIT_ERRMSG_BYTES];

static uint64_t g_rng = 0x2545F4914F6CDD1Dull;

static uint32_t rnd(uint32_t n)
{
	g_rng ^= g_rng << 13;
	g_rng ^= g_rng >> 7;
	g_rng ^= g_rng << 17;
	return (uint32_t)(g_rng % n);
}

/* Two plain text fields, an indexed keyword (typed field 0: its keys' field
 * byte is 64) and a long. */
static const char SCHEMA[] =
    "{\"fields\":{\"title\":{\"type\":\"text\",\"analyzer\":\"plain\"},"
    "\"body\":{\"type\":\"text\",\"analyzer\":\"plain\"},\"tag\":{\"type\":\"keyword\"},"
    "\"n\":{\"type\":\"long\"}},\"store\":\"all\"}";

#define NWORDS 60
#define NTAGS 8
#define MAXIDS 20000
#define MAXW 12

/* ---- the model ---- */

/* A document's content: word numbers per text field, and its tags. */
typedef struct content {
	uint8_t nt, nb, ntag;
	uint8_t t[MAXW], b[MAXW], tag[2];
} content;

typedef struct mdoc {
	char id[16];
	int live;
	content c;
	char file[IDX_FILE_NAME_BYTES]; /* its segment, when live */
	uint32_t doc;                   /* its number there */
} mdoc;

/* A segment file the model knows: its ids in document order. */
typedef struct mseg {
	char file[IDX_FILE_NAME_BYTES];
	uint32_t shard, n;
	uint32_t *ids; /* indexes into g_docs */
} mseg;

static mdoc g_docs[MAXIDS];
static uint32_t g_ndocs; /* ids used so far (live or not) */
static mseg g_segs[4096];
static uint32_t g_nsegs;
static uint32_t g_shards;
static idx_manifest g_live; /* the live manifest (for the hooks) */
static char g_live_dir[LIMIT_PATH_BYTES];

static void word(uint32_t w, char out[8])
{
	snprintf(out, 8, "w%c%c", 'a' + (int)(w / 26), 'a' + (int)(w % 26));
}

static void tagname(uint32_t t, char out[8])
{
	snprintf(out, 8, "tag%u", t);
}

static void random_content(content *c)
{
	c->nt = (uint8_t)(1 + rnd(3));
	c->nb = (uint8_t)rnd(MAXW + 1);
	for (int i = 0; i < c->nt; i++)
		c->t[i] = (uint8_t)rnd(NWORDS);
	for (int i = 0; i < c->nb; i++)
		c->b[i] = (uint8_t)rnd(NWORDS);
	c->ntag = (uint8_t)rnd(3);
	for (int i = 0; i < c->ntag; i++)
		c->tag[i] = (uint8_t)rnd(NTAGS);
}

/* The document's JSON (malloc'ed). */
static char *doc_json(const mdoc *d)
{
	char *s = malloc(4096), w[8];
	int n = snprintf(s, 4096, "{\"id\":\"%s\",\"title\":\"", d->id);
	for (int i = 0; i < d->c.nt; i++) {
		word(d->c.t[i], w);
		n += snprintf(s + n, 4096 - (size_t)n, "%s%s", i ? " " : "", w);
	}
	n += snprintf(s + n, 4096 - (size_t)n, "\",\"body\":\"");
	for (int i = 0; i < d->c.nb; i++) {
		word(d->c.b[i], w);
		n += snprintf(s + n, 4096 - (size_t)n, "%s%s", i ? " " : "", w);
	}
	n += snprintf(s + n, 4096 - (size_t)n, "\"");
	if (d->c.ntag == 1) {
		tagname(d->c.tag[0], w);
		n += snprintf(s + n, 4096 - (size_t)n, ",\"tag\":\"%s\"", w);
	} else if (d->c.ntag == 2) {
		char w2[8];
		tagname(d->c.tag[0], w);
		tagname(d->c.tag[1], w2);
		n += snprintf(s + n, 4096 - (size_t)n, ",\"tag\":[\"%s\",\"%s\"]", w, w2);
	}
	snprintf(s + n, 4096 - (size_t)n, ",\"n\":%u}", d->c.nb);
	return s;
}

static uint32_t new_id(void)
{
	assert_true(g_ndocs < MAXIDS);
	mdoc *d = &g_docs[g_ndocs];
	memset(d, 0, sizeof *d);
	snprintf(d->id, sizeof d->id, "d%05u", g_ndocs);
	return g_ndocs++;
}

static void model_reset(uint32_t shards)
{
	for (uint32_t i = 0; i < g_nsegs; i++)
		free(g_segs[i].ids);
	g_nsegs = 0;
	g_ndocs = 0;
	g_shards = shards;
}

static const mseg *seg_named(const char *file)
{
	for (uint32_t i = 0; i < g_nsegs; i++)
		if (!strcmp(g_segs[i].file, file))
			return &g_segs[i];
	return NULL;
}

/* The build's order inside a segment: XXH3-64 of the id, then its bytes. */
static int by_hash(const void *x, const void *y)
{
	const mdoc *a = &g_docs[*(const uint32_t *)x], *b = &g_docs[*(const uint32_t *)y];
	uint64_t ha = th_hash64(a->id, strlen(a->id)), hb = th_hash64(b->id, strlen(b->id));
	if (ha != hb)
		return ha < hb ? -1 : 1;
	return strcmp(a->id, b->id);
}

/* Records segment file of shard s holding ids[0..n) (sorted here). */
static void model_segment(const char *file, uint32_t s, uint32_t *ids, uint32_t n)
{
	mseg *g = &g_segs[g_nsegs++];
	snprintf(g->file, sizeof g->file, "%s", file);
	g->shard = s;
	g->n = n;
	g->ids = malloc((n ? n : 1) * sizeof *g->ids);
	memcpy(g->ids, ids, n * sizeof *ids);
	qsort(g->ids, n, sizeof *g->ids, by_hash);
	for (uint32_t i = 0; i < n; i++) {
		mdoc *d = &g_docs[g->ids[i]];
		snprintf(d->file, sizeof d->file, "%s", file);
		d->doc = i;
	}
}

static void read_live(void)
{
	uint64_t gen;
	idx_manifest_fini(&g_live);
	assert_int_equal(idx_gen_current(g_dir, &gen, g_err, sizeof g_err), TRAWL_OK);
	char name[32];
	idx_gen_dirname(name, gen);
	snprintf(g_live_dir, sizeof g_live_dir, "%s/%s", g_dir, name);
	assert_int_equal(idx_manifest_read(g_live_dir, &g_live, g_err, sizeof g_err), TRAWL_OK);
}

/* The base: n new documents built whole into g_dir (S shards). */
static void build_base(uint32_t shards, uint32_t n, const char *schema)
{
	model_reset(shards);
	trawl_build_opts o = {0};
	o.shards = shards;
	o.schema_json = schema;
	o.workers = 2;
	trawl_builder *b;
	assert_int_equal(trawl_builder_open(&b, g_dir, &o, g_err, sizeof g_err), TRAWL_OK);
	uint32_t *per = calloc((size_t)shards * n + 1, sizeof *per), cnt[TRAWL_MAX_SHARDS] = {0};
	for (uint32_t i = 0; i < n; i++) {
		uint32_t k = new_id();
		mdoc *d = &g_docs[k];
		d->live = 1;
		random_content(&d->c);
		char *j = doc_json(d);
		assert_int_equal(trawl_builder_add_json(b, j, strlen(j), "base", i + 1), TRAWL_OK);
		free(j);
		uint32_t s = th_shard_of(d->id, strlen(d->id), shards);
		per[(size_t)s * n + cnt[s]++] = k;
	}
	assert_int_equal(trawl_builder_commit(b, NULL), TRAWL_OK);
	trawl_builder_close(b);
	for (uint32_t s = 0; s < shards; s++) {
		char file[32];
		snprintf(file, sizeof file, "shard-%03u.mdb", s);
		model_segment(file, s, per + (size_t)s * n, cnt[s]);
	}
	free(per);
	read_live();
}

/* ---- the hooks: the live generation's answers from the model ---- */

static int hook_locate(void *ctx, const char *id, uint32_t idlen, uint32_t *shard, uint32_t *seg,
                       uint32_t *doc)
{
	(void)ctx;
	for (uint32_t i = 0; i < g_ndocs; i++) {
		const mdoc *d = &g_docs[i];
		if (!d->live || strlen(d->id) != idlen || memcmp(d->id, id, idlen))
			continue;
		uint32_t s = th_shard_of(id, idlen, g_shards);
		for (uint32_t j = 0; j < g_live.shard[s].nsegs; j++)
			if (!strcmp(g_live.shard[s].segs[j].f.file, d->file)) {
				*shard = s;
				*seg = j;
				*doc = d->doc;
				return TRAWL_OK;
			}
		fail_msg("%s: its segment %s is not in the live manifest", d->id, d->file);
	}
	return TRAWL_ENOTFOUND;
}

static int hook_source(void *ctx, uint32_t shard, uint32_t seg, uint32_t doc, char **out,
                       size_t *len)
{
	(void)ctx;
	const mseg *g = seg_named(g_live.shard[shard].segs[seg].f.file);
	assert_non_null(g);
	assert_true(doc < g->n);
	*out = doc_json(&g_docs[g->ids[doc]]);
	*len = strlen(*out);
	return TRAWL_OK;
}

static const char *g_fail_step; /* the step the hook fails, or NULL */

static int hook_step(void *ctx, const char *name)
{
	(void)ctx;
	return g_fail_step && !strcmp(name, g_fail_step);
}

static const sh_apply_hooks g_model_hooks = {hook_locate, hook_source, hook_step, NULL};
static const sh_apply_hooks g_step_hooks = {NULL, NULL, hook_step, NULL};

/* ---- batches ---- */

typedef struct batch {
	idx_wop ops[600];
	char *docs[600];
	uint32_t n;
	uint32_t target[600]; /* the model document each operation is about */
	content c[600];       /* an index operation's new content */
} batch;

static uint64_t g_seq; /* the last sequence number given */

static void batch_free(batch *b)
{
	for (uint32_t i = 0; i < b->n; i++)
		free(b->docs[i]);
	b->n = 0;
}

static void add_op(batch *b, idx_wop_kind kind, uint32_t k)
{
	assert_true(b->n < 600);
	uint32_t i = b->n++;
	b->target[i] = k;
	b->docs[i] = NULL;
	mdoc *d = &g_docs[k];
	b->ops[i] = (idx_wop){kind, d->id, (uint32_t)strlen(d->id), NULL, 0, 1, ++g_seq};
	if (kind == IDX_WOP_INDEX) {
		mdoc tmp = *d;
		random_content(&tmp.c);
		b->c[i] = tmp.c;
		b->docs[i] = doc_json(&tmp);
		b->ops[i].doc = b->docs[i];
		b->ops[i].doclen = (uint32_t)strlen(b->docs[i]);
	}
}

/* A random live document, or UINT32_MAX when none is live. */
static uint32_t random_live(void)
{
	uint32_t live = 0;
	for (uint32_t i = 0; i < g_ndocs; i++)
		live += g_docs[i].live;
	if (!live)
		return UINT32_MAX;
	uint32_t pick = rnd(live);
	for (uint32_t i = 0; i < g_ndocs; i++)
		if (g_docs[i].live && pick-- == 0)
			return i;
	return UINT32_MAX;
}

/* A random batch: adds, replacements, deletes, deletes of missing ids and
 * ids twice. */
static void random_batch(batch *b, uint32_t adds, uint32_t repl, uint32_t dels)
{
	b->n = 0;
	for (uint32_t i = 0; i < adds; i++)
		add_op(b, IDX_WOP_INDEX, new_id());
	for (uint32_t i = 0; i < repl; i++) {
		uint32_t k = random_live();
		if (k != UINT32_MAX)
			add_op(b, IDX_WOP_INDEX, k);
	}
	for (uint32_t i = 0; i < dels; i++) {
		uint32_t k = random_live();
		if (k != UINT32_MAX)
			add_op(b, IDX_WOP_DELETE, k);
	}
	if (rnd(2))
		add_op(b, IDX_WOP_DELETE, new_id()); /* a tombstone */
	if (b->n && rnd(2)) {
		/* an id again, later in the batch */
		uint32_t k = b->target[rnd(b->n)];
		add_op(b, rnd(2) ? IDX_WOP_INDEX : IDX_WOP_DELETE, k);
	}
}

/* The model after a batch was published: the final operation of each id,
 * and the new segments (named in the new manifest) with the ids added. */
static void model_apply(const batch *b, const idx_manifest *m)
{
	uint32_t *last = malloc(g_ndocs * sizeof *last);
	for (uint32_t i = 0; i < g_ndocs; i++)
		last[i] = UINT32_MAX;
	for (uint32_t i = 0; i < b->n; i++)
		last[b->target[i]] = i;
	uint32_t *added = malloc((b->n + 1) * sizeof *added), nadd[TRAWL_MAX_SHARDS] = {0};
	uint32_t *per = malloc(((size_t)g_shards * b->n + 1) * sizeof *per);
	for (uint32_t k = 0; k < g_ndocs; k++) {
		if (last[k] == UINT32_MAX)
			continue;
		uint32_t i = last[k];
		mdoc *d = &g_docs[k];
		d->live = b->ops[i].kind == IDX_WOP_INDEX;
		d->file[0] = 0;
		if (d->live) {
			d->c = b->c[i];
			uint32_t s = th_shard_of(d->id, strlen(d->id), g_shards);
			per[(size_t)s * b->n + nadd[s]++] = k;
		}
	}
	for (uint32_t s = 0; s < g_shards; s++) {
		if (!nadd[s])
			continue;
		char file[48];
		snprintf(file, sizeof file, "s%03u-g%06llu.mdb", s,
		         (unsigned long long)m->generation);
		const idx_manifest_shard *sh = &m->shard[s];
		assert_string_equal(sh->segs[sh->nsegs - 1].f.file, file);
		assert_int_equal(sh->segs[sh->nsegs - 1].docs, nadd[s]);
		model_segment(file, s, per + (size_t)s * b->n, nadd[s]);
	}
	free(per);
	free(added);
	free(last);
}

/* ---- checks of a published generation ---- */

static uint64_t inode_of(const char *gendir, const char *file, nlink_t *links)
{
	char p[LIMIT_PATH_BYTES];
	snprintf(p, sizeof p, "%s/%s", gendir, file);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	if (links)
		*links = st.st_nlink;
	return (uint64_t)st.st_ino;
}

/* Whether the previous manifest lists file. */
static int listed(const idx_manifest *m, const char *file)
{
	if (!strcmp(m->stats_base.file, file) || !strcmp(m->stats_delta.file, file))
		return 1;
	for (uint32_t s = 0; s < m->shards; s++)
		for (uint32_t j = 0; j < m->shard[s].nsegs; j++)
			if (!strcmp(m->shard[s].segs[j].f.file, file) ||
			    !strcmp(m->shard[s].segs[j].del.file, file))
				return 1;
	return 0;
}

/* A file of the new generation: the same inode as the previous
 * generation's when that one lists it, else a file of its own. */
static void check_link(const idx_manifest *prev, const char *prevdir, const char *gendir,
                       const char *file)
{
	if (!file[0])
		return;
	nlink_t links;
	uint64_t ino = inode_of(gendir, file, &links);
	if (listed(prev, file)) {
		assert_int_equal(ino, inode_of(prevdir, file, NULL));
		assert_true(links >= 2);
	} else {
		assert_int_equal(links, 1);
	}
}

/* The keys of a document (the plain analyzer: each word; a tag once). */
static void recount(uint64_t *df, uint64_t *sumlen, uint64_t *docs)
{
	/* df[field * NWORDS + w] for text, df[2 * NWORDS + t] for tags */
	memset(df, 0, (2 * NWORDS + NTAGS) * sizeof *df);
	sumlen[0] = sumlen[1] = 0;
	*docs = 0;
	for (uint32_t i = 0; i < g_ndocs; i++) {
		const mdoc *d = &g_docs[i];
		if (!d->live)
			continue;
		++*docs;
		uint8_t seen[2 * NWORDS + NTAGS] = {0};
		for (int k = 0; k < d->c.nt; k++)
			seen[d->c.t[k]] = 1;
		for (int k = 0; k < d->c.nb; k++)
			seen[NWORDS + d->c.b[k]] = 1;
		for (int k = 0; k < d->c.ntag; k++)
			seen[2 * NWORDS + d->c.tag[k]] = 1;
		for (int k = 0; k < 2 * NWORDS + NTAGS; k++)
			df[k] += seen[k];
		sumlen[0] += d->c.nt;
		sumlen[1] += d->c.nb;
	}
}

static void check_stats(const char *gendir, const idx_manifest *m)
{
	char bp[LIMIT_PATH_BYTES], dp[LIMIT_PATH_BYTES];
	assert_true(m->stats_base.file[0] != 0);
	snprintf(bp, sizeof bp, "%s/%s", gendir, m->stats_base.file);
	snprintf(dp, sizeof dp, "%s/%s", gendir, m->stats_delta.file);
	idx_gstats *g;
	assert_int_equal(
	    idx_gstats_open(&g, bp, m->stats_delta.file[0] ? dp : NULL, 2, g_err, sizeof g_err),
	    TRAWL_OK);
	uint64_t df[2 * NWORDS + NTAGS], sumlen[2], docs;
	recount(df, sumlen, &docs);
	assert_int_equal(idx_gstats_docs(g), docs);
	assert_int_equal(idx_gstats_sumlen(g, 0), sumlen[0]);
	assert_int_equal(idx_gstats_sumlen(g, 1), sumlen[1]);
	for (int k = 0; k < 2 * NWORDS + NTAGS; k++) {
		uint8_t key[16];
		char w[8];
		uint32_t klen;
		if (k < 2 * NWORDS) {
			key[0] = (uint8_t)(k / NWORDS);
			word((uint32_t)(k % NWORDS), w);
		} else {
			key[0] = 64; /* the keyword "tag", typed field 0 */
			tagname((uint32_t)(k - 2 * NWORDS), w);
		}
		klen = 1 + (uint32_t)strlen(w);
		memcpy(key + 1, w, klen - 1);
		uint64_t got;
		assert_int_equal(idx_gstats_df(g, key, klen, &got), TRAWL_OK);
		if (got != df[k])
			fail_msg("key %s (field byte %u): df %llu, recount %llu", w, key[0],
			         (unsigned long long)got, (unsigned long long)df[k]);
	}
	idx_gstats_close(g);
}

/* Everything about the generation just published, against the model
 * (already told of the batch), prev (the manifest before) and seq. */
static void check_generation(const idx_manifest *prev, const char *prevdir, uint64_t seq)
{
	read_live();
	const idx_manifest *m = &g_live;
	assert_int_equal(m->format, 3);
	assert_int_equal(m->applied_seq, seq);
	assert_int_equal(m->shards, g_shards);
	uint64_t live = 0;
	for (uint32_t i = 0; i < g_ndocs; i++)
		live += g_docs[i].live;
	assert_int_equal(m->docs, live);
	/* nothing left behind */
	char p[LIMIT_PATH_BYTES];
	struct stat st;
	snprintf(p, sizeof p, "%s/update.tmp", g_dir);
	assert_int_not_equal(stat(p, &st), 0);
	DIR *dd = opendir(g_dir);
	struct dirent *e;
	while ((e = readdir(dd)))
		assert_null(strstr(e->d_name, ".tmp"));
	closedir(dd);
	assert_int_equal(idx_manifest_verify(g_live_dir, m, NULL, g_err, sizeof g_err), TRAWL_OK);
	/* every segment, and its delete set against the model */
	uint64_t seen_live = 0;
	for (uint32_t s = 0; s < m->shards; s++) {
		const idx_manifest_shard *sh = &m->shard[s];
		assert_true(sh->nsegs >= 1 && sh->nsegs <= LIMIT_SEGMENTS);
		for (uint32_t j = 0; j < sh->nsegs; j++) {
			const idx_mseg *g = &sh->segs[j];
			const mseg *ms = seg_named(g->f.file);
			assert_non_null(ms);
			assert_int_equal(ms->shard, s);
			assert_int_equal(g->docs, ms->n);
			idx_delset d = {0};
			if (g->del.file[0]) {
				snprintf(p, sizeof p, "%s/%s", g_live_dir, g->del.file);
				assert_int_equal(idx_delset_read(p, ms->n, &d, g_err, sizeof g_err),
				                 TRAWL_OK);
				assert_int_equal(d.count, g->deleted);
			} else {
				assert_int_equal(g->deleted, 0);
			}
			uint32_t nlive = 0;
			for (uint32_t k = 0; k < ms->n; k++) {
				const mdoc *doc = &g_docs[ms->ids[k]];
				int here = doc->live && !strcmp(doc->file, g->f.file);
				int del = d.bits ? idx_delset_has(&d, k) : 0;
				if (here == del)
					fail_msg("%s: document %u (%s): %s in the model, %s in the "
					         "delete set",
					         g->f.file, k, doc->id, here ? "live" : "gone",
					         del ? "deleted" : "not deleted");
				nlive += here;
			}
			idx_delset_fini(&d);
			/* a segment without a live document leaves, unless it is the
			 * shard's only one */
			assert_true(nlive > 0 || sh->nsegs == 1);
			seen_live += nlive;
			check_link(prev, prevdir, g_live_dir, g->f.file);
			check_link(prev, prevdir, g_live_dir, g->del.file);
		}
	}
	assert_int_equal(seen_live, live);
	/* every live document is in a listed segment */
	for (uint32_t i = 0; i < g_ndocs; i++)
		if (g_docs[i].live)
			assert_true(listed(m, g_docs[i].file));
	check_link(prev, prevdir, g_live_dir, m->stats_base.file);
	check_link(prev, prevdir, g_live_dir, m->stats_delta.file);
	check_stats(g_live_dir, m);
}

/* Applies b (hooks: the model's, or NULL: the read side's) and tells the
 * model; *prev (may be NULL) gets the manifest before it, prevdir its
 * directory. */
static void apply_model(batch *b, const sh_apply_hooks *hooks, idx_manifest *prev, char *prevdir)
{
	if (prev)
		*prev = g_live;
	else
		idx_manifest_fini(&g_live);
	memset(&g_live, 0, sizeof g_live);
	/* g_live is the hooks' view: the live manifest, a copy sharing nothing */
	snprintf(prevdir, LIMIT_PATH_BYTES, "%s", g_live_dir);
	assert_int_equal(idx_manifest_read(prevdir, &g_live, g_err, sizeof g_err), TRAWL_OK);
	sh_apply_report rep;
	if (sh_apply_with(g_dir, b->ops, b->n, g_seq, hooks, &rep, g_err, sizeof g_err))
		fail_msg("sh_apply: %s", g_err);
	assert_int_equal(rep.generation, idx_gen_next(g_dir) - 1);
	idx_manifest next;
	char name[32], gd[LIMIT_PATH_BYTES];
	idx_gen_dirname(name, rep.generation);
	snprintf(gd, sizeof gd, "%s/%s", g_dir, name);
	assert_int_equal(idx_manifest_read(gd, &next, g_err, sizeof g_err), TRAWL_OK);
	assert_int_equal(rep.docs, next.docs);
	model_apply(b, &next);
	idx_manifest_fini(&next);
	read_live();
}

/* apply_model, then every check of the new generation. */
static void apply_and_check(batch *b, const sh_apply_hooks *hooks)
{
	idx_manifest prev;
	char prevdir[LIMIT_PATH_BYTES];
	apply_model(b, hooks, &prev, prevdir);
	check_generation(&prev, prevdir, g_seq);
	idx_manifest_fini(&prev);
}

/* ---- tests ---- */

/* The first update of a whole build, with the read side locating. */
static void test_first_update(void **state)
{
	(void)state;
	build_base(4, 300, SCHEMA);
	batch *b = calloc(1, sizeof *b);
	random_batch(b, 40, 30, 20);
	add_op(b, IDX_WOP_DELETE, 5); /* a delete, then the same id again */
	add_op(b, IDX_WOP_INDEX, 5);
	add_op(b, IDX_WOP_DELETE, new_id()); /* a tombstone */
	apply_and_check(b, NULL);
	/* the live generation was a build's: the base is written once, from it */
	assert_true(g_live.stats_base.file[0] && g_live.stats_delta.file[0]);
	assert_string_equal(g_live.stats_base.file, "stats-g000002.base");
	assert_string_equal(g_live.stats_delta.file, "stats-g000002.delta");
	/* the delete sets are named after their segments and the generation */
	int named = 0;
	for (uint32_t s = 0; s < 4; s++)
		if (g_live.shard[s].segs[0].del.file[0]) {
			char want[48];
			snprintf(want, sizeof want, "shard-%03u.g000002.del", s);
			assert_string_equal(g_live.shard[s].segs[0].del.file, want);
			named++;
		}
	assert_true(named > 0);
	batch_free(b);
	free(b);
}

/* Many batches over generations of segments (the model locating). */
static void test_many_updates(void **state)
{
	(void)state;
	build_base(3, 200, SCHEMA);
	batch *b = calloc(1, sizeof *b);
	for (int round = 0; round < 30; round++) {
		switch (round % 6) {
		case 0:
			random_batch(b, 20, 10, 10);
			break;
		case 1:
			random_batch(b, 0, 0, 25); /* deletes only */
			break;
		case 2:
			random_batch(b, 30, 0, 0); /* adds only */
			break;
		case 3:
			b->n = 0; /* nothing: applied_seq moves on */
			g_seq += 3;
			break;
		case 4:
			random_batch(b, 3, 40, 3);
			break;
		default:
			b->n = 0;
			add_op(b, IDX_WOP_DELETE, new_id()); /* tombstones only */
			add_op(b, IDX_WOP_DELETE, new_id());
			break;
		}
		apply_and_check(b, &g_model_hooks);
		batch_free(b);
	}
	/* delete every document of one segment: it leaves the generation */
	const idx_manifest_shard *sh = &g_live.shard[0];
	assert_true(sh->nsegs >= 2);
	const mseg *ms = seg_named(sh->segs[sh->nsegs - 1].f.file);
	char gone[48];
	snprintf(gone, sizeof gone, "%s", ms->file);
	b->n = 0;
	for (uint32_t k = 0; k < ms->n; k++)
		if (g_docs[ms->ids[k]].live)
			add_op(b, IDX_WOP_DELETE, ms->ids[k]);
	apply_and_check(b, &g_model_hooks);
	assert_false(listed(&g_live, gone));
	batch_free(b);
	/* then every document of the index: each shard keeps one segment */
	b->n = 0;
	for (uint32_t k = 0; k < g_ndocs; k++)
		if (g_docs[k].live)
			add_op(b, IDX_WOP_DELETE, k);
	apply_and_check(b, &g_model_hooks);
	assert_int_equal(g_live.docs, 0);
	for (uint32_t s = 0; s < g_live.shards; s++)
		assert_int_equal(g_live.shard[s].nsegs, 1);
	batch_free(b);
	random_batch(b, 10, 0, 0);
	apply_and_check(b, &g_model_hooks);
	batch_free(b);
	free(b);
}

/* Deleting or replacing needs the text and the indexed typed fields
 * stored; adding does not. */
static void test_unstored(void **state)
{
	(void)state;
	static const char *const schemas[] = {
	    "{\"fields\":{\"title\":{\"type\":\"text\",\"analyzer\":\"plain\"},"
	    "\"body\":{\"type\":\"text\",\"analyzer\":\"plain\"},\"tag\":{\"type\":\"keyword\"}},"
	    "\"store\":[\"title\",\"tag\"]}",
	    "{\"fields\":{\"title\":{\"type\":\"text\",\"analyzer\":\"plain\"},"
	    "\"body\":{\"type\":\"text\",\"analyzer\":\"plain\"},\"tag\":{\"type\":\"keyword\"}},"
	    "\"store\":[\"title\",\"body\"]}",
	    "{\"fields\":{\"title\":{\"type\":\"text\",\"analyzer\":\"plain\"},"
	    "\"body\":{\"type\":\"text\",\"analyzer\":\"plain\"}},\"store\":\"none\"}",
	};
	static const char *const named[] = {"text field \"body\" is not stored",
	                                    "field \"tag\" is indexed but not stored",
	                                    "text field \"title\" is not stored"};
	batch *b = calloc(1, sizeof *b);
	for (int i = 0; i < 3; i++) {
		testdir_teardown(NULL);
		assert_int_equal(testdir_setup(NULL), 0);
		build_base(2, 50, schemas[i]);
		char before[64];
		snprintf(before, sizeof before, "%s", g_live_dir);
		b->n = 0;
		add_op(b, IDX_WOP_DELETE, 3);
		assert_int_equal(sh_apply(g_dir, b->ops, b->n, g_seq, NULL, g_err, sizeof g_err),
		                 TRAWL_ESCHEMA);
		assert_non_null(strstr(g_err, named[i]));
		batch_free(b);
		b->n = 0;
		add_op(b, IDX_WOP_INDEX, 4); /* a replacement deletes too */
		assert_int_equal(sh_apply(g_dir, b->ops, b->n, g_seq, NULL, g_err, sizeof g_err),
		                 TRAWL_ESCHEMA);
		batch_free(b);
		read_live();
		assert_string_equal(g_live_dir, before);
		/* new documents only: fine */
		b->n = 0;
		for (int k = 0; k < 5; k++)
			add_op(b, IDX_WOP_INDEX, new_id());
		sh_apply_report rep;
		if (sh_apply(g_dir, b->ops, b->n, g_seq, &rep, g_err, sizeof g_err))
			fail_msg("%s", g_err);
		assert_int_equal(rep.added, 5);
		batch_free(b);
	}
	free(b);
}

/* A shard may have LIMIT_SEGMENTS segments, not more. */
static void test_limit_segments(void **state)
{
	(void)state;
	build_base(1, 10, SCHEMA);
	batch *b = calloc(1, sizeof *b);
	for (int i = 1; i < LIMIT_SEGMENTS; i++) {
		char prevdir[LIMIT_PATH_BYTES];
		b->n = 0;
		add_op(b, IDX_WOP_INDEX, new_id());
		apply_model(b, &g_model_hooks, NULL, prevdir);
		batch_free(b);
	}
	assert_int_equal(g_live.shard[0].nsegs, LIMIT_SEGMENTS);
	check_stats(g_live_dir, &g_live);
	char before[64];
	snprintf(before, sizeof before, "%s", g_live_dir);
	b->n = 0;
	add_op(b, IDX_WOP_INDEX, new_id());
	assert_int_equal(
	    sh_apply_with(g_dir, b->ops, b->n, g_seq, &g_model_hooks, NULL, g_err, sizeof g_err),
	    TRAWL_ELIMIT);
	assert_non_null(strstr(g_err, "LIMIT_SEGMENTS"));
	assert_non_null(strstr(g_err, "compact"));
	batch_free(b);
	read_live();
	assert_string_equal(g_live_dir, before);
	/* a replacement of the only document of a segment leaves as many */
	b->n = 0;
	add_op(b, IDX_WOP_INDEX,
	       g_live.shard[0].nsegs > 1 ? seg_named(g_live.shard[0].segs[1].f.file)->ids[0] : 0);
	apply_and_check(b, &g_model_hooks);
	assert_int_equal(g_live.shard[0].nsegs, LIMIT_SEGMENTS);
	batch_free(b);
	free(b);
}

/* Each step made to fail: the live generation stays live, nothing of the
 * attempt stays, and the same batch then goes through. */
static void test_failures(void **state)
{
	(void)state;
	static const char *const steps[] = {"lock",  "read",     "locate",   "deletes", "adds",
	                                    "stats", "segments", "manifest", "publish"};
	build_base(2, 80, SCHEMA);
	batch *b = calloc(1, sizeof *b);
	random_batch(b, 10, 5, 5);
	for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
		char before[64];
		snprintf(before, sizeof before, "%s", g_live_dir);
		g_fail_step = steps[i];
		int rc = sh_apply_with(g_dir, b->ops, b->n, g_seq, &g_step_hooks, NULL, g_err,
		                       sizeof g_err);
		g_fail_step = NULL;
		assert_int_equal(rc, TRAWL_EIO);
		assert_non_null(strstr(g_err, steps[i]));
		read_live();
		assert_string_equal(g_live_dir, before);
		assert_int_equal(
		    idx_manifest_verify(g_live_dir, &g_live, NULL, g_err, sizeof g_err), TRAWL_OK);
		char p[LIMIT_PATH_BYTES];
		struct stat st;
		snprintf(p, sizeof p, "%s/update.tmp", g_dir);
		assert_int_not_equal(stat(p, &st), 0);
		DIR *dd = opendir(g_dir);
		struct dirent *e;
		while ((e = readdir(dd)))
			assert_null(strstr(e->d_name, ".tmp"));
		closedir(dd);
	}
	/* what a crash leaves: the next update clears it */
	char p[LIMIT_PATH_BYTES];
	snprintf(p, sizeof p, "%s/update.tmp", g_dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof p, "%s/update.tmp/add", g_dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof p, "%s/gen-000007.tmp", g_dir);
	assert_int_equal(mkdir(p, 0755), 0);
	apply_and_check(b, NULL);
	assert_int_equal(g_live.generation, 2);
	batch_free(b);
	free(b);
}

/* Bad calls are refused by name, and change nothing. */
static void test_refusals(void **state)
{
	(void)state;
	batch *b = calloc(1, sizeof *b);
	idx_wop op = {IDX_WOP_DELETE, "x", 1, NULL, 0, 1, 1};
	assert_int_equal(sh_apply(g_dir, &op, 1, 1, NULL, g_err, sizeof g_err), TRAWL_ENOTFOUND);
	assert_non_null(strstr(g_err, "no index here"));
	build_base(1, 20, SCHEMA);
	random_batch(b, 3, 3, 3);
	apply_and_check(b, NULL);
	/* a batch the live generation already holds */
	assert_int_equal(sh_apply(g_dir, b->ops, b->n, g_seq, NULL, g_err, sizeof g_err),
	                 TRAWL_EINVAL);
	assert_non_null(strstr(g_err, "already holds"));
	assert_int_equal(sh_apply(g_dir, b->ops, 0, g_seq - 1, NULL, g_err, sizeof g_err),
	                 TRAWL_EINVAL);
	batch_free(b);
	/* operations without an id, or an index without its document */
	idx_wop bad[3] = {{IDX_WOP_DELETE, "", 0, NULL, 0, 1, 100},
	                  {IDX_WOP_INDEX, "y", 1, NULL, 0, 1, 101},
	                  {(idx_wop_kind)9, "z", 1, NULL, 0, 1, 102}};
	for (int i = 0; i < 3; i++) {
		assert_int_equal(sh_apply(g_dir, &bad[i], 1, 200, NULL, g_err, sizeof g_err),
		                 TRAWL_EINVAL);
		assert_non_null(strstr(g_err, "operation 0"));
	}
	free(b);
}

/* A merge (hooks' merge): every live document of a shard written again as
 * it is, into one segment; the statistics are linked, not built, and still
 * match a recount of the live documents (check_generation), and the live
 * base and delta are the same files. */
/* A merge's batch into b: the live documents of shard (-1: every shard)
 * written again as they are. */
static void merge_batch(batch *b, int shard)
{
	b->n = 0;
	for (uint32_t k = 0; k < g_ndocs; k++) {
		mdoc *d = &g_docs[k];
		if (!d->live ||
		    (shard >= 0 && th_shard_of(d->id, strlen(d->id), g_shards) != (uint32_t)shard))
			continue;
		uint32_t i = b->n++;
		b->target[i] = k;
		b->c[i] = d->c; /* as it is */
		b->docs[i] = doc_json(d);
		b->ops[i] = (idx_wop){IDX_WOP_INDEX,
		                      d->id,
		                      (uint32_t)strlen(d->id),
		                      b->docs[i],
		                      (uint32_t)strlen(b->docs[i]),
		                      1,
		                      ++g_seq};
	}
}

static void test_merge(void **state)
{
	(void)state;
	build_base(2, 200, SCHEMA);
	batch *b = calloc(1, sizeof *b);
	for (int round = 0; round < 3; round++) {
		random_batch(b, 30, 15, 10);
		apply_and_check(b, &g_model_hooks);
		batch_free(b);
	}
	char base[IDX_FILE_NAME_BYTES], delta[IDX_FILE_NAME_BYTES];
	snprintf(base, sizeof base, "%s", g_live.stats_base.file);
	snprintf(delta, sizeof delta, "%s", g_live.stats_delta.file);
	assert_true(base[0]); /* a delta unless the last batch rebased */
	assert_true(g_live.shard[0].nsegs > 1);
	merge_batch(b, 0);
	sh_apply_hooks h = g_model_hooks;
	h.merge = 1;
	apply_and_check(b, &h);
	batch_free(b);
	assert_int_equal(g_live.shard[0].nsegs, 1);
	assert_string_equal(g_live.stats_base.file, base);
	assert_string_equal(g_live.stats_delta.file, delta);
	free(b);
}

/* The statistics' delta is folded into a new base when it has grown past
 * a quarter of the base's keys, and at a compaction; every generation's
 * statistics stay those of a recount (apply_and_check). */
static void test_rebase(void **state)
{
	(void)state;
	build_base(2, 200, SCHEMA);
	batch *b = calloc(1, sizeof *b);
	int rebased = 0, deltas = 0;
	/* until a rebase has been seen and the last batch left a delta */
	for (int round = 0; round < 40 && !(rebased && g_live.stats_delta.file[0]); round++) {
		char before[IDX_FILE_NAME_BYTES];
		snprintf(before, sizeof before, "%s", g_live.stats_base.file);
		/* the vocabulary is small: a batch of 40 changes most keys, one
		 * document few */
		if (rebased)
			random_batch(b, 1, 0, 0);
		else
			random_batch(b, 20, 10, 10);
		apply_and_check(b, &g_model_hooks);
		batch_free(b);
		if (round && strcmp(before, g_live.stats_base.file)) {
			rebased++;
			assert_int_equal(g_live.stats_delta.file[0], 0);
		}
		deltas += g_live.stats_delta.file[0] != 0;
	}
	assert_true(rebased > 0 && deltas > 0);
	/* with a delta, a compaction of every shard: one layer again */
	assert_true(g_live.stats_delta.file[0] != 0);
	merge_batch(b, -1);
	sh_apply_hooks h = g_model_hooks;
	h.merge = 1;
	h.fresh_dict = 1;
	apply_and_check(b, &h);
	batch_free(b);
	assert_int_equal(g_live.stats_delta.file[0], 0);
	char want[IDX_FILE_NAME_BYTES];
	snprintf(want, sizeof want, "stats-g%06llu.base", (unsigned long long)g_live.generation);
	assert_string_equal(g_live.stats_base.file, want);
	free(b);
}

/* ---- the new segments' zstd dictionary (update.c: pick_zdict) ---- */

/* A document of about 600 bytes from a small vocabulary (so that zstd has
 * something to learn), numbered i. */
static char *zdoc(uint32_t i, uint32_t round)
{
	static const char *const w[] = {"river", "bank",   "stone",   "bridge", "market",
	                                "tower", "garden", "harbour", "valley", "castle"};
	char *s = malloc(2048);
	int n = snprintf(s, 2048, "{\"id\":\"z%05u\",\"title\":\"round %u\",\"body\":\"", i, round);
	for (int k = 0; k < 90; k++)
		n += snprintf(s + n, 2048 - (size_t)n, "%s%s", k ? " " : "", w[rnd(10)]);
	snprintf(s + n, 2048 - (size_t)n, "\",\"tag\":\"t%u\",\"n\":%u}", i % 7, i);
	return s;
}

/* The zdict of generation gen's segment of shard s written by gen (NULL,
 * *len 0: none), malloc'ed. */
static uint8_t *new_seg_zdict(uint64_t gen, uint32_t s, size_t *len)
{
	char name[32], path[LIMIT_PATH_BYTES];
	idx_gen_dirname(name, gen);
	snprintf(path, sizeof path, "%s/%s/s%03u-g%06llu.mdb", g_dir, name, s,
	         (unsigned long long)gen);
	idx_store *st;
	idx_rtxn *t;
	assert_int_equal(idx_store_open(&st, path, g_err, sizeof g_err), TRAWL_OK);
	assert_int_equal(idx_rtxn_begin(st, &t), TRAWL_OK);
	const void *d;
	uint8_t *out = NULL;
	*len = 0;
	if (idx_read_meta(t, "zdict", &d, len) == TRAWL_OK && *len) {
		out = malloc(*len);
		memcpy(out, d, *len);
	} else {
		*len = 0;
	}
	idx_rtxn_end(t);
	idx_store_close(st);
	return out;
}

/* Applies docs first..first+n (round: their content) in one shard's
 * index, with fresh (a compaction's new dictionary) or not, and checks
 * each document reads back as written. The new segment's zdict. */
static uint8_t *apply_zdocs(uint32_t first, uint32_t n, uint32_t round, int fresh, size_t *len)
{
	idx_wop *ops = calloc(n, sizeof *ops);
	char **docs = calloc(n, sizeof *docs), (*ids)[8] = calloc(n, sizeof *ids);
	for (uint32_t i = 0; i < n; i++) {
		docs[i] = zdoc(first + i, round);
		snprintf(ids[i], sizeof ids[i], "z%05u", first + i);
		ops[i] = (idx_wop){IDX_WOP_INDEX, ids[i], 6, docs[i], (uint32_t)strlen(docs[i]), 1,
		                   ++g_seq};
	}
	sh_apply_hooks h = {0};
	h.fresh_dict = fresh;
	sh_apply_report rep;
	if (sh_apply_with(g_dir, ops, n, g_seq, &h, &rep, g_err, sizeof g_err))
		fail_msg("sh_apply: %s", g_err);
	trawl_index *idx;
	trawl_searcher *se;
	assert_int_equal(trawl_index_open(&idx, g_dir, g_err, sizeof g_err), TRAWL_OK);
	assert_int_equal(trawl_searcher_open(&se, idx), TRAWL_OK);
	for (uint32_t i = 0; i < n; i++) {
		char *json;
		size_t l;
		assert_int_equal(trawl_get(se, ids[i], &json, &l), TRAWL_OK);
		assert_int_equal(l, strlen(docs[i]));
		assert_memory_equal(json, docs[i], l);
		free(json);
		free(docs[i]);
	}
	trawl_searcher_close(se);
	trawl_index_close(idx);
	free(ops);
	free(docs);
	free(ids);
	return new_seg_zdict(rep.generation, 0, len);
}

/* An update reuses the newest live segment's dictionary, copied into its
 * new segment (whose documents read back); it trains one for a
 * compaction, when the batch would train a larger one, and when the live
 * generation has none. */
static void test_zdict(void **state)
{
	(void)state;
	model_reset(1);
	trawl_build_opts o = {0};
	o.shards = 1;
	o.schema_json = SCHEMA;
	trawl_builder *b;
	assert_int_equal(trawl_builder_open(&b, g_dir, &o, g_err, sizeof g_err), TRAWL_OK);
	for (uint32_t i = 0; i < 300; i++) {
		char *j = zdoc(i, 0);
		assert_int_equal(trawl_builder_add_json(b, j, strlen(j), "base", i + 1), TRAWL_OK);
		free(j);
	}
	assert_int_equal(trawl_builder_commit(b, NULL), TRAWL_OK);
	trawl_builder_close(b);
	char path[LIMIT_PATH_BYTES], name[32];
	idx_gen_dirname(name, 1);
	snprintf(path, sizeof path, "%s/%s/shard-000.mdb", g_dir, name);
	idx_store *st;
	idx_rtxn *t;
	const void *d;
	size_t n0 = 0;
	assert_int_equal(idx_store_open(&st, path, g_err, sizeof g_err), TRAWL_OK);
	assert_int_equal(idx_rtxn_begin(st, &t), TRAWL_OK);
	assert_int_equal(idx_read_meta(t, "zdict", &d, &n0), TRAWL_OK);
	uint8_t *d0 = malloc(n0);
	memcpy(d0, d, n0);
	idx_rtxn_end(t);
	idx_store_close(st);
	assert_true(n0 >= 4096);
	g_seq = 0;
	size_t n;
	/* 150 documents and a replacement: the base's dictionary */
	uint8_t *z = apply_zdocs(299, 150, 1, 0, &n);
	assert_int_equal(n, n0);
	assert_memory_equal(z, d0, n);
	free(z);
	/* a compaction's: trained on its documents */
	z = apply_zdocs(1000, 150, 2, 1, &n);
	assert_true(n > 0 && (n != n0 || memcmp(z, d0, n)));
	uint8_t *d2 = z;
	size_t n2 = n;
	/* reused from the newest segment, the compaction's */
	z = apply_zdocs(2000, 100, 3, 0, &n);
	assert_int_equal(n, n2);
	assert_memory_equal(z, d2, n);
	free(z);
	/* a batch that would train a larger one (1,500 documents, 900 KB) */
	z = apply_zdocs(3000, 1500, 4, 0, &n);
	assert_true(n > n2);
	free(z);
	/* too few documents to train on, fresh: no dictionary... */
	z = apply_zdocs(6000, 10, 5, 1, &n);
	assert_null(z);
	assert_int_equal(n, 0);
	/* ...and the next batch, with none live in the newest segment, trains */
	z = apply_zdocs(7000, 150, 6, 0, &n);
	assert_true(n >= 4096);
	free(z);
	free(d0);
	free(d2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    TESTDIR_TEST(test_first_update), TESTDIR_TEST(test_many_updates),
	    TESTDIR_TEST(test_unstored),     TESTDIR_TEST(test_limit_segments),
	    TESTDIR_TEST(test_failures),     TESTDIR_TEST(test_refusals),
	    TESTDIR_TEST(test_zdict),        TESTDIR_TEST(test_merge),
	    TESTDIR_TEST(test_rebase),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	model_reset(0);
	idx_manifest_fini(&g_live);
	return rc;
}
