/*
 * check_cost.c - what the builder's check of a remote run costs against
 * the work of making it (shard/audit.c against shard/work.c), item by item,
 * on one thread, in CPU time (so that other work on a shared machine
 * counts as little as it can), with the parts of the check timed apart.
 *
 *   build/bench/build/check_cost FILE [ITEM_KB [ITEMS [REPS [SHARDS]]]]
 *
 * cuts FILE (JSON Lines) into items of ITEM_KB (default 8192) as a build
 * does, trains the build's dictionary on the first, and for the first ITEMS
 * (default 3) items, REPS times (default 3): makes the run (sh_work), checks
 * it (sh_run_audit, which must pass), and times alone what the check does
 * besides reading the run: parsing the item, parsing and analysing it,
 * parsing, compressing and decompressing its stored documents. Quoted in
 * docs/OPERATIONS.md ("What it costs").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "index/analyze.h"
#include "index/docstore.h"
#include "shard/sh.h"

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct items {
	sh_item *v;
	size_t n, cap;
} items;

static int on_item(void *ctx, sh_item *it)
{
	items *c = ctx;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		sh_item *v = realloc(c->v, c->cap * sizeof *v);
		if (!v)
			return TRAWL_ENOMEM;
		c->v = v;
	}
	c->v[c->n++] = *it;
	return 0;
}

typedef struct sampler {
	uint8_t *buf;
	size_t len, *sizes;
	unsigned n;
} sampler;

static int sample(void *ctx, const sh_doc *d)
{
	sampler *s = ctx;
	size_t n = d->stored_len < 16384 ? d->stored_len : 16384;
	if (d->tomb || !n || s->len + n > IDX_ZDICT_SAMPLE || s->n == 65536)
		return 0;
	memcpy(s->buf + s->len, d->stored, n);
	s->sizes[s->n++] = n;
	s->len += n;
	return 0;
}

/* One of the check's parts, for every document of an item. */
enum { PARSE, ANALYSE, COMPRESS, DECOMPRESS, NPARTS };

typedef struct part {
	int which;
	const sh_params *p;
	idx_analyzer *an[2];
	idx_zenc *zenc;
	idx_zdec *zdec;
	tbuf rec, out;
	uint64_t tokens;
} part;

static int count_token(void *ctx, const idx_token *t)
{
	(void)t;
	((part *)ctx)->tokens++;
	return 0;
}

static int on_doc(void *ctx, const sh_doc *d)
{
	part *x = ctx;
	if (x->which == ANALYSE && !d->tomb) {
		const uint8_t *t = d->texts;
		for (uint32_t f = 0; f < x->p->schema.nfields; f++) {
			uint32_t len;
			memcpy(&len, t, 4);
			t += 4;
			if (len)
				idx_analyze(x->an[x->p->schema.fields[f].analyzer], (const char *)t,
				            len, 0, NULL, count_token, x);
			t += len;
		}
	}
	if ((x->which == COMPRESS || x->which == DECOMPRESS) && !d->tomb) {
		idx_zenc_record(x->zenc, d->stored, d->stored_len, &x->rec);
		if (x->which == DECOMPRESS &&
		    idx_zdec_matches(x->zdec, x->rec.data, x->rec.len, d->stored, d->stored_len,
		                     &x->out) != 1)
			abort();
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE [ITEM_KB [ITEMS [REPS [SHARDS]]]]\n", argv[0]);
		return 64;
	}
	size_t item_kb = argc > 2 ? strtoul(argv[2], NULL, 10) : 8192;
	size_t nitems = argc > 3 ? strtoul(argv[3], NULL, 10) : 3;
	int reps = argc > 4 ? atoi(argv[4]) : 3;
	uint32_t shards = argc > 5 ? (uint32_t)strtoul(argv[5], NULL, 10) : 1;
	char err[1024];
	sh_splitter *sp;
	items c = {0};
	if (sh_splitter_new(&sp, item_kb << 10, 1u << 20, 0) ||
	    sh_split_file(sp, argv[1], argv[1], on_item, &c, err, sizeof err) ||
	    sh_split_flush(sp, on_item, &c) || c.n == 0) {
		fprintf(stderr, "%s: cannot cut into items\n", argv[1]);
		return 66;
	}
	if (nitems > c.n)
		nitems = c.n;
	sh_params p = {0};
	idx_schema_default(&p.schema);
	p.schema_json = idx_schema_to_json(&p.schema);
	p.nshards = shards;
	p.max_doc = 1u << 20;
	sampler s = {malloc(IDX_ZDICT_SAMPLE), 0, malloc(65536 * sizeof(size_t)), 0};
	sh_parser ps;
	sh_parser_init(&ps, &p.schema, p.max_doc);
	sh_linecount lc;
	sh_parse_item(&ps, &c.v[0], 1, sample, NULL, &s, &lc);
	uint8_t *zdict = malloc(IDX_ZDICT_MAX);
	size_t dl = 0;
	idx_zdict_train(s.buf, s.sizes, s.n, zdict, IDX_ZDICT_MAX, &dl);
	p.zdict = zdict;
	p.zdict_len = dl;
	sh_params_hash(&p);
	sh_worker *w;
	sh_auditor *a;
	tbuf run;
	tbuf_init(&run, 1u << 30);
	part x = {0};
	x.p = &p;
	tbuf_init(&x.rec, 1u << 30);
	tbuf_init(&x.out, 1u << 30);
	if (sh_worker_new(&w) || sh_auditor_new(&a) || idx_analyzer_alloc(&x.an[0], IDX_AN_PLAIN) ||
	    idx_analyzer_alloc(&x.an[1], IDX_AN_ENGLISH) ||
	    idx_zenc_alloc(&x.zenc, zdict, dl, SH_ZSTD_LEVEL) || idx_zdec_alloc(&x.zdec, zdict, dl))
		return 71;
	double work = 0, check = 0, t[NPARTS] = {0};
	size_t bytes = 0;
	for (int r = 0; r < reps; r++) {
		for (size_t i = 0; i < nitems; i++) {
			const sh_item *it = &c.v[i];
			double t0 = cpu_s();
			if (sh_work(w, &p, it, &run, err, sizeof err)) {
				fprintf(stderr, "%s\n", err);
				return 65;
			}
			double t1 = cpu_s();
			sh_run rr;
			int bad;
			if (sh_run_check(&rr, run.data, run.len, err, sizeof err) ||
			    sh_run_audit(a, &p, it, &rr, &bad, err, sizeof err)) {
				fprintf(stderr, "an honest run was refused: %s\n", err);
				return 70;
			}
			double t2 = cpu_s();
			work += t1 - t0;
			check += t2 - t1;
			bytes += it->len;
			for (int k = 0; k < NPARTS; k++) {
				x.which = k;
				double u0 = cpu_s();
				sh_parse_item(&ps, it, 1, on_doc, NULL, &x, &lc);
				t[k] += cpu_s() - u0;
			}
		}
	}
	/* each part was timed with the parse under it; compress is only the
	 * way to a record to decompress */
	printf("%zu items of %zu KiB (%.1f MB) x %d, %u shard%s, CPU seconds:\n", nitems, item_kb,
	       (double)bytes / 1e6 / reps, reps, shards, shards > 1 ? "s" : "");
	printf("  work (sh_work)        %7.3f\n", work);
	printf("  check (sh_run_audit)  %7.3f  %.0f %% of work\n", check, 100 * check / work);
	printf("    parse               %7.3f\n", t[PARSE]);
	printf("    analyse             %7.3f\n", t[ANALYSE] - t[PARSE]);
	printf("    decompress          %7.3f  (compress, what checking record bytes would add: "
	       "%.3f)\n",
	       t[DECOMPRESS] - t[COMPRESS], t[COMPRESS] - t[PARSE]);
	printf("    the rest            %7.3f  (reading the run, fingerprints, comparisons)\n",
	       check - t[ANALYSE] - (t[DECOMPRESS] - t[COMPRESS]));
	return 0;
}
