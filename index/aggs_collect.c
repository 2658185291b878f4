/*
 * aggs_collect.c - aggregations over one shard's matching documents
 * (aggs_collect.h): the spec bound to a schema, a collector per shard fed
 * document by document, and the shard's partial result.
 *
 * Every aggregation is a node holding its state in flat arrays indexed by
 * "owner": the bucket of its parent aggregation that the document fell in
 * (0 under the root). A bucket aggregation gives each of its buckets a
 * number (an "ord"), which is the owner of its sub-aggregations:
 *  - terms, histogram, date_histogram: ords in order of appearance,
 *    found by (owner, key) in an open-addressing hash table, or, for a
 *    top-level terms on a keyword with a small dictionary, in an array
 *    indexed by the global ordinal;
 *  - range, filters: owner x (ranges or queries) + i; filter, missing: the
 *    owner itself.
 * Metrics keep per owner a count, the smallest and largest key, an exact
 * sum; cardinality a hash set of (owner, key); percentiles a list of
 * (owner, value). aggc_finish sorts each by owner and key once and builds
 * the result tree.
 */
#include "index/aggs_collect.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/error.h"
#include "index/values.h"

_Static_assert((int)AGGS_V_KEYWORD == (int)IDX_KEYWORD && (int)AGGS_V_LONG == (int)IDX_LONG &&
                   (int)AGGS_V_DOUBLE == (int)IDX_DOUBLE && (int)AGGS_V_DATE == (int)IDX_DATE &&
                   (int)AGGS_V_BOOLEAN == (int)IDX_BOOLEAN,
               "aggs_vtype follows idx_ftype");

/* Dates within +-8.64e15 ms (common/aggs.c) */
#define MS_MAX 8640000000000000LL
#define DAY_MS 86400000LL
/* A top-level terms on a keyword counts by ordinal in an array when the
 * dictionary has at most this many values (4 MiB of u32). */
#define DENSE_MAX_ORDS (1u << 20)
#define NONE UINT32_MAX

/* ---- binding ---- */

typedef struct bnode bnode;
struct bnode {
	const aggs_spec *s;
	int typed; /* the typed field, or -1 */
	int type;  /* its idx_ftype */
	/* terms' literals, read for the field: keys (numbers, sorted, distinct)
	 * or normalised keyword bytes */
	int64_t missing_key;
	aggs_str missing_kw;
	int64_t *inc, *exc;
	aggs_str *inc_kw, *exc_kw;
	uint32_t ninc, nexc;
	uint32_t nsubs;
	bnode *subs;
};

struct aggc_bound {
	bnode root;
};

static void bnode_fini(bnode *b)
{
	for (uint32_t i = 0; i < b->nsubs; i++)
		bnode_fini(&b->subs[i]);
	free(b->subs);
	free(b->missing_kw.p);
	free(b->inc);
	free(b->exc);
	for (uint32_t i = 0; b->inc_kw && i < b->ninc; i++)
		free(b->inc_kw[i].p);
	for (uint32_t i = 0; b->exc_kw && i < b->nexc; i++)
		free(b->exc_kw[i].p);
	free(b->inc_kw);
	free(b->exc_kw);
}

void aggc_bound_free(aggc_bound *b)
{
	if (!b)
		return;
	bnode_fini(&b->root);
	free(b);
}

/* Which field types an aggregation takes, and how to say so. */
static int type_ok(aggs_kind k, int t, const char **takes)
{
	switch (k) {
	case AGGS_TERMS:
		*takes = "a keyword, number, date or boolean field";
		return t != IDX_TEXT;
	case AGGS_RANGE:
	case AGGS_HISTOGRAM:
		*takes = "a number or date field";
		return t == IDX_LONG || t == IDX_DOUBLE || t == IDX_DATE;
	case AGGS_DATE_RANGE:
	case AGGS_DATE_HISTOGRAM:
		*takes = "a date field";
		return t == IDX_DATE;
	case AGGS_MIN:
	case AGGS_MAX:
	case AGGS_SUM:
	case AGGS_AVG:
	case AGGS_STATS:
	case AGGS_PERCENTILES:
		*takes = "a number, date or boolean field";
		return t == IDX_LONG || t == IDX_DOUBLE || t == IDX_DATE || t == IDX_BOOLEAN;
	default:
		*takes = "a keyword, number, date or boolean field";
		return t != IDX_TEXT;
	}
}

static int find_typed(const idx_schema *sc, const char *name)
{
	for (uint32_t t = 0; t < sc->ntyped; t++)
		if (!strcmp(sc->typed[t].name, name))
			return (int)t;
	return -1;
}

static int bind_field(bnode *b, const idx_schema *sc, char *err, size_t errlen)
{
	const aggs_spec *s = b->s;
	const char *kind = aggs_kind_name(s->kind), *takes;
	int t = find_typed(sc, s->field);
	if (t < 0) {
		int f = idx_schema_field(sc, s->field, strlen(s->field));
		if (f < 0)
			return errf(err, errlen, TRAWL_EINVAL,
			            "%s.%s.field: no field \"%s\" in the schema", s->path, kind,
			            s->field);
		type_ok(s->kind, IDX_KEYWORD, &takes);
		for (uint32_t i = 0; i < sc->ntyped; i++)
			if (sc->typed[i].twin_of == f && sc->typed[i].doc_values)
				return errf(
				    err, errlen, TRAWL_EINVAL,
				    "%s.%s.field: %s takes %s; %s is text: use its keyword twin %s",
				    s->path, kind, kind, takes, s->field, sc->typed[i].name);
		return errf(
		    err, errlen, TRAWL_EINVAL,
		    "%s.%s.field: %s takes %s; %s is text and has no keyword twin (a schema "
		    "can give it one: docs/SCHEMA.md)",
		    s->path, kind, kind, takes, s->field);
	}
	const idx_tfield *tf = &sc->typed[t];
	if (!type_ok(s->kind, tf->type, &takes))
		return errf(err, errlen, TRAWL_EINVAL, "%s.%s.field: %s takes %s; %s is %s",
		            s->path, kind, kind, takes, s->field, idx_ftype_name(tf->type));
	if (!tf->doc_values)
		return errf(err, errlen, TRAWL_EINVAL,
		            "%s.%s.field: %s has doc_values false in the schema: it cannot be "
		            "aggregated",
		            s->path, kind, s->field);
	b->typed = t;
	b->type = tf->type;
	return TRAWL_OK;
}

static int kwcmp(const uint8_t *a, uint32_t an, const uint8_t *b, uint32_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);
	if (c)
		return c;
	return an < bn ? -1 : an > bn;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* One literal of terms read as a value of field tf. */
static int read_lit(const aggs_spec *s, const idx_tfield *tf, const char *what, const aggs_lit *l,
                    tbuf *tmp, int64_t *key, aggs_str *kw, char *err, size_t errlen)
{
	char why[256] = "";
	int rc = idx_value_literal(tf, l->text, l->len, tmp, key, why, sizeof why);
	if (rc == TRAWL_ENOMEM)
		return errf(err, errlen, rc, "%s: out of memory", s->path);
	if (rc)
		return errf(err, errlen, TRAWL_EINVAL, "%s.terms.%s: %s (field %s is %s)", s->path,
		            what, why, tf->name, idx_ftype_name(tf->type));
	if (kw) {
		if (!(kw->p = malloc(tmp->len + 1)))
			return errf(err, errlen, TRAWL_ENOMEM, "%s: out of memory", s->path);
		if (tmp->len)
			memcpy(kw->p, tmp->data, tmp->len);
		kw->p[tmp->len] = 0;
		kw->len = (uint32_t)tmp->len;
	}
	return TRAWL_OK;
}

static int read_lits(const aggs_spec *s, const idx_tfield *tf, const char *what, const aggs_lit *l,
                     uint32_t n, tbuf *tmp, int64_t **keys, aggs_str **kws, uint32_t *out_n,
                     char *err, size_t errlen)
{
	int kw = tf->type == IDX_KEYWORD;
	if (kw ? !(*kws = calloc(n ? n : 1, sizeof **kws)) : !(*keys = calloc(n ? n : 1, 8)))
		return errf(err, errlen, TRAWL_ENOMEM, "%s: out of memory", s->path);
	for (*out_n = 0; *out_n < n; (*out_n)++) {
		int rc = read_lit(s, tf, what, &l[*out_n], tmp, kw ? NULL : &(*keys)[*out_n],
		                  kw ? &(*kws)[*out_n] : NULL, err, errlen);
		if (rc)
			return rc;
	}
	if (!kw) { /* sorted and distinct, for binary search */
		qsort(*keys, n, 8, cmp_i64);
		uint32_t m = 0;
		for (uint32_t i = 0; i < n; i++)
			if (!m || (*keys)[m - 1] != (*keys)[i])
				(*keys)[m++] = (*keys)[i];
		*out_n = m;
	}
	return TRAWL_OK;
}

static int bind_node(bnode *b, const aggs_spec *s, const idx_schema *sc, tbuf *tmp, char *err,
                     size_t errlen)
{
	b->s = s;
	b->typed = -1;
	int rc;
	if (s->field && (rc = bind_field(b, sc, err, errlen)))
		return rc;
	if (s->kind == AGGS_TERMS) {
		const idx_tfield *tf = &sc->typed[b->typed];
		int kw = tf->type == IDX_KEYWORD;
		if (s->has_missing &&
		    (rc = read_lit(s, tf, "missing", &s->missing, tmp, &b->missing_key,
		                   kw ? &b->missing_kw : NULL, err, errlen)))
			return rc;
		if (s->has_include &&
		    (rc = read_lits(s, tf, "include", s->include, s->ninclude, tmp, &b->inc,
		                    &b->inc_kw, &b->ninc, err, errlen)))
			return rc;
		if (s->nexclude && (rc = read_lits(s, tf, "exclude", s->exclude, s->nexclude, tmp,
		                                   &b->exc, &b->exc_kw, &b->nexc, err, errlen)))
			return rc;
	}
	if (s->nsubs && !(b->subs = calloc(s->nsubs, sizeof *b->subs)))
		return errf(err, errlen, TRAWL_ENOMEM, "%s: out of memory", s->path);
	for (uint32_t i = 0; i < s->nsubs; i++) {
		b->nsubs++;
		if ((rc = bind_node(&b->subs[i], &s->subs[i], sc, tmp, err, errlen)))
			return rc;
	}
	return TRAWL_OK;
}

int aggc_bind(const aggs_spec *spec, const idx_schema *schema, aggc_bound **out, char *err,
              size_t errlen)
{
	*out = calloc(1, sizeof **out);
	if (!*out)
		return errf(err, errlen, TRAWL_ENOMEM, "aggs: out of memory");
	tbuf tmp;
	tbuf_init(&tmp, LIMIT_KEYWORD_BYTES * 4 + 16);
	int rc = bind_node(&(*out)->root, spec, schema, &tmp, err, errlen);
	tbuf_fini(&tmp);
	if (rc) {
		aggc_bound_free(*out);
		*out = NULL;
	}
	return rc;
}

/* ---- the collector ---- */

/* Spans of dates in a date_histogram's table of buckets. */
#define DATE_SPANS 1024
#define SPAN_MS (1LL << 31)

/*
 * A span of 2^31 ms (24.8 days) in a date_histogram's table: the buckets
 * that meet it, and a tallying node's counts of them. A shard's documents
 * come in the order of their ids' hashes, not of their dates, so the last
 * bucket found seldom holds the next date; by calendar months, quarters
 * or years, finding it anew (aggs_date_round and aggs_date_next: the
 * calendar's arithmetic twice) was a quarter of a histogram request. Those
 * buckets are longer than a span, so a span meets at most two: its date's
 * bucket is one comparison away, without a branch (where months cross
 * spans, which of the two is a coin toss). DATE_SPANS spans wrap around
 * the table (70 years without a clash).
 */
typedef struct dspan {
	int64_t span;  /* (date + MS_MAX) >> 31, or -1: unused */
	int64_t lo[2]; /* the buckets' first milliseconds; lo[1] INT64_MAX: one */
	uint32_t count[2];
} dspan;

typedef struct cnode cnode;
struct cnode {
	const bnode *b;
	const aggs_spec *s;
	const idx_col *col; /* the field's column (NULL: none) */
	uint32_t nsubs;
	cnode *subs;
	int hashed;       /* terms, histogram, date_histogram */
	uint32_t per;     /* range, filters: buckets per owner; filter, missing: 1 */
	uint32_t nowners; /* owners seen (fixed buckets, metrics) */
	uint32_t nown;    /* at the finish: the parent's number of ords */
	/* hashed buckets: ord -> owner, key, count */
	uint32_t nb, capb;
	uint32_t *bowner;
	int64_t *bkey;
	uint64_t *bcount;
	uint32_t *slot; /* ord + 1, 0: free */
	uint32_t nslot;
	uint32_t *dense; /* top-level keyword terms: ordinal -> ord + 1 */
	/* dense, without sub-aggregations: ordinal -> documents while
	 * collecting (one memory access a value instead of two), made buckets
	 * at the finish (tally_buckets) */
	int tally;
	/* fixed buckets: counts per owner x per */
	uint64_t *fcount;
	size_t capf;
	/* metrics, per owner */
	size_t capo;
	uint64_t *mcount;
	int64_t *mmin, *mmax;
	__int128 *misum;
	aggs_sum *mdsum;
	/* cardinality: the set of (owner, key) */
	uint32_t nset, capset, nsslot;
	uint32_t *sowner;
	int64_t *skey;
	uint32_t *sslot;
	uint64_t *sbits; /* top-level keyword cardinality: the ordinals seen, instead of sslot */
	/* percentiles: (owner, value) */
	size_t npv, cappv;
	uint32_t *pvowner;
	double *pv;
	/* terms */
	uint8_t *allow;  /* keyword: per ordinal (+1: the missing value outside the
	                    dictionary); NULL: every value */
	int has_missing; /* documents without a value count as missing_key */
	int64_t missing_key;
	uint32_t nords; /* keyword: the dictionary's values */
	/* min_doc_count 0: the keys every owner lists (all_keys), made once */
	int64_t *keys0;
	uint32_t nkeys0;
	int has_keys0;
	/* filter, filters */
	const uint64_t **bits;
	/* date_histogram: the last bucket found, [clo, chi); by calendar
	 * months, quarters or years also a table of those found (date_bucket) */
	int64_t clo, chi;
	int cache;
	dspan *dtab; /* by spans of dates: the buckets met (date_span) */
	/* top level without sub-aggregations: counts kept in dtab,
	 * added to the hashed buckets when they leave it or at the finish */
	int dtally;
	/* a top-level histogram without sub-aggregations: counts by bucket
	 * number in a window [hbase, hbase + hcap) grown on demand
	 * (hist_window), made buckets at the finish; numbers outside a window
	 * of HIST_WINDOW buckets go to the hashed buckets */
	int htally;
	int hint;  /* an integer field, interval and offset: hist_number in integers */
	int hdate; /* a date_histogram of a fixed width: numbers are of hiv from
	              hoff, keys their first milliseconds (hist_key) */
	int64_t hiv, hoff;
	double hinv; /* 1 / hiv */
	int64_t hbase;
	uint32_t hcap;
	uint32_t *hcnt;
	int in_order; /* the buckets were made in key order, all of owner 0 */
	/* at the finish: ords (hashed), set entries and values sorted by owner */
	uint32_t *order, *ostart;
	uint32_t *sorder, *sstart;
	uint32_t *porder;
	size_t *pstart;
};

struct aggc {
	const aggc_bound *b;
	uint32_t ndocs;
	uint64_t collected;
	int64_t last; /* the last document collected, or -1 */
	cnode root;   /* kind AGGS_ROOT: its subs are the top-level aggregations */
	uint64_t nbuckets, nvalues;
	int finished; /* aggc_finish was called */
	/* min_doc_count 0 lists only the values live documents hold
	 * (aggc_only_live); deleted: the segment's delete set, NULL: none */
	int only_live;
	const uint64_t *deleted;
	int rc; /* the first error (sticky) */
	char msg[512];
};

static int fail(aggc *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(aggc *c, int code, const char *fmt, ...)
{
	if (c->rc)
		return c->rc;
	va_list ap;
	va_start(ap, fmt);
	verrf(c->msg, sizeof c->msg, code, fmt, ap);
	va_end(ap);
	c->rc = code;
	return code;
}

static int oom(aggc *c, const cnode *n)
{
	return fail(c, TRAWL_ENOMEM, "%s: out of memory", n->s->path);
}

/* Grows *p (elements of elem bytes, *cap of them) to hold need, zeroing
 * the new part. */
static int grow0(void *p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t old = *cap, nc = old ? old : 8;
	while (nc < need)
		nc *= 2;
	void *q = realloc(*(void **)p, nc * elem);
	if (!q)
		return -1;
	memset((char *)q + old * elem, 0, (nc - old) * elem);
	*(void **)p = q;
	*cap = nc;
	return 0;
}

static int add_buckets(aggc *c, const cnode *n, uint64_t k)
{
	c->nbuckets += k;
	if (c->nbuckets > LIMIT_AGG_BUCKETS)
		return fail(c, TRAWL_ELIMIT, AGGC_OVER_BUCKETS, n->s->path, LIMIT_AGG_BUCKETS);
	return TRAWL_OK;
}

static int add_values_n(aggc *c, const cnode *n, uint64_t k)
{
	if ((c->nvalues += k) > LIMIT_AGG_VALUES)
		return fail(
		    c, TRAWL_ELIMIT,
		    "%s: percentiles and cardinality hold more than %d values in the request "
		    "(LIMIT_AGG_VALUES); they are exact, never estimated: narrow the query",
		    n->s->path, LIMIT_AGG_VALUES);
	return TRAWL_OK;
}

static int add_values(aggc *c, const cnode *n)
{
	return add_values_n(c, n, 1);
}

static inline uint32_t mix(uint32_t owner, int64_t key)
{
	uint64_t h = (uint64_t)key * 0x9E3779B97F4A7C15ull ^ ((uint64_t)owner << 32 | owner);
	h ^= h >> 29;
	h *= 0xBF58476D1CE4E5B9ull;
	return (uint32_t)(h ^ (h >> 32));
}

/* A table of nslot slots (a power of 2; entry + 1, 0: free) for the n
 * entries (owner[e], key[e]): a hashed node's buckets, a cardinality's
 * set. NULL: out of memory. */
static uint32_t *slots_for(const uint32_t *owner, const int64_t *key, uint32_t n, uint32_t nslot)
{
	uint32_t *s = calloc(nslot, sizeof *s);
	if (!s)
		return NULL;
	for (uint32_t e = 0; e < n; e++) {
		uint32_t h = mix(owner[e], key[e]) & (nslot - 1);
		while (s[h])
			h = (h + 1) & (nslot - 1);
		s[h] = e + 1;
	}
	return s;
}

static int rehash(cnode *n, uint32_t nslot)
{
	uint32_t *s = slots_for(n->bowner, n->bkey, n->nb, nslot);
	if (!s)
		return -1;
	free(n->slot);
	n->slot = s;
	n->nslot = nslot;
	return 0;
}

/* A new hashed bucket (owner, key): its ord, or NONE on error. */
static uint32_t new_bucket(aggc *c, cnode *n, uint32_t owner, int64_t key)
{
	if (add_buckets(c, n, 1))
		return NONE;
	if (n->nb == n->capb) {
		size_t cap = n->capb, c1 = cap, c2 = cap;
		if (grow0(&n->bowner, &c1, cap + 1, sizeof *n->bowner) ||
		    grow0(&n->bkey, &c2, cap + 1, sizeof *n->bkey) ||
		    grow0(&n->bcount, &cap, cap + 1, sizeof *n->bcount)) {
			oom(c, n);
			return NONE;
		}
		n->capb = (uint32_t)cap;
	}
	uint32_t o = n->nb++;
	n->bowner[o] = owner;
	n->bkey[o] = key;
	n->bcount[o] = 0;
	return o;
}

/* Counts k more hashed buckets against the limit and makes room for them
 * in arrays of the size needed (not grown one at a time). */
static int room_for(aggc *c, cnode *n, uint32_t k)
{
	if (add_buckets(c, n, k))
		return c->rc;
	if (n->nb + k <= n->capb)
		return TRAWL_OK;
	size_t cap = (size_t)n->nb + k;
	uint32_t *bo = realloc(n->bowner, cap * sizeof *bo);
	if (bo)
		n->bowner = bo;
	int64_t *bk = bo ? realloc(n->bkey, cap * sizeof *bk) : NULL;
	if (bk)
		n->bkey = bk;
	uint64_t *bc = bk ? realloc(n->bcount, cap * sizeof *bc) : NULL;
	if (!bc)
		return oom(c, n);
	n->bcount = bc;
	n->capb = (uint32_t)cap;
	return TRAWL_OK;
}

/* The ord of bucket (owner, key) of a hashed node, made if new; NONE on
 * error. Inlined into the collector, always: whether the compiler did so
 * on its own came and went with the collector's size, and a terms
 * aggregation executed 10% more instructions when it did not. */
static inline __attribute__((always_inline)) uint32_t bucket(aggc *c, cnode *n, uint32_t owner,
                                                             int64_t key)
{
	if (n->dense) {
		uint32_t *d = &n->dense[key];
		if (*d)
			return *d - 1;
		uint32_t o = new_bucket(c, n, owner, key);
		if (o != NONE)
			*d = o + 1;
		return o;
	}
	uint32_t m = n->nslot - 1, h = mix(owner, key) & m;
	for (uint32_t s; (s = n->slot[h]); h = (h + 1) & m)
		if (n->bkey[s - 1] == key && n->bowner[s - 1] == owner)
			return s - 1;
	uint32_t o = new_bucket(c, n, owner, key);
	if (o == NONE)
		return NONE;
	n->slot[h] = o + 1;
	if (2 * (uint64_t)n->nb > n->nslot && rehash(n, 2 * n->nslot)) {
		oom(c, n);
		return NONE;
	}
	return o;
}

/* Makes room for owner in a fixed-bucket node (counted as new buckets). */
static int fixed_owner(aggc *c, cnode *n, uint32_t owner)
{
	if (owner < n->nowners)
		return TRAWL_OK;
	int multi =
	    n->s->kind == AGGS_RANGE || n->s->kind == AGGS_DATE_RANGE || n->s->kind == AGGS_FILTERS;
	if (multi && add_buckets(c, n, (uint64_t)(owner + 1 - n->nowners) * n->per))
		return c->rc;
	if (grow0(&n->fcount, &n->capf, (size_t)(owner + 1) * n->per, sizeof *n->fcount))
		return oom(c, n);
	n->nowners = owner + 1;
	return TRAWL_OK;
}

/* Makes room for owner in a metric. */
static int metric_owner(aggc *c, cnode *n, uint32_t owner)
{
	if (owner < n->nowners)
		return TRAWL_OK;
	if ((size_t)owner >= n->capo) {
		size_t need = (size_t)owner + 1, cap = n->capo, c1 = cap, c2 = cap, c3 = cap,
		       c4 = cap;
		if (grow0(&n->mmin, &c1, need, sizeof *n->mmin) ||
		    grow0(&n->mmax, &c2, need, sizeof *n->mmax) ||
		    (n->b->type != IDX_DOUBLE && grow0(&n->misum, &c3, need, sizeof *n->misum)) ||
		    (n->b->type == IDX_DOUBLE && grow0(&n->mdsum, &c4, need, sizeof *n->mdsum)) ||
		    grow0(&n->mcount, &cap, need, sizeof *n->mcount))
			return oom(c, n);
		n->capo = cap;
	}
	n->nowners = owner + 1;
	return TRAWL_OK;
}

static inline double key_double(int type, int64_t k)
{
	return type == IDX_DOUBLE ? idx_key_double(k) : (double)k;
}

static int in_sorted(const int64_t *v, uint32_t n, int64_t k)
{
	uint32_t lo = 0, hi = n;
	while (lo < hi) {
		uint32_t m = lo + (hi - lo) / 2;
		if (v[m] < k)
			lo = m + 1;
		else if (v[m] > k)
			hi = m;
		else
			return 1;
	}
	return 0;
}

/* Whether terms counts key (include, exclude). */
static inline int allowed(const cnode *n, int64_t key)
{
	if (n->allow)
		return n->allow[key];
	const bnode *b = n->b;
	if (b->type == IDX_KEYWORD)
		return 1;
	if (b->s->has_include && !in_sorted(b->inc, b->ninc, key))
		return 0;
	return !b->nexc || !in_sorted(b->exc, b->nexc, key);
}

static void collect(aggc *c, cnode *n, uint32_t owner, uint32_t doc);

static inline void collect_subs(aggc *c, cnode *n, uint32_t ord, uint32_t doc)
{
	for (uint32_t i = 0; i < n->nsubs; i++)
		collect(c, &n->subs[i], ord, doc);
}

/* A tallying node counts the ordinals of values [from, to) of a document
 * (each once; a missing value as its key). */
static inline void tally(cnode *n, uint32_t from, uint32_t to)
{
	if (from == to) {
		if (n->has_missing && allowed(n, n->missing_key))
			n->dense[n->missing_key]++;
		return;
	}
	int64_t prev = -1; /* ordinals are 0 or more */
	for (uint32_t i = from; i < to; i++) {
		int64_t k = idx_col_key(n->col, i);
		if (k != prev && allowed(n, k))
			n->dense[k]++;
		prev = k;
	}
}

static void collect_terms(aggc *c, cnode *n, uint32_t owner, uint32_t doc, uint32_t from,
                          uint32_t to)
{
	if (n->tally) {
		tally(n, from, to);
		return;
	}
	if (from == to) {
		if (!n->has_missing || !allowed(n, n->missing_key))
			return;
		uint32_t o = bucket(c, n, owner, n->missing_key);
		if (o == NONE)
			return;
		n->bcount[o]++;
		collect_subs(c, n, o, doc);
		return;
	}
	int64_t prev = 0;
	for (uint32_t i = from; i < to; i++) {
		int64_t k = idx_col_key(n->col, i);
		if ((i > from && k == prev) || !allowed(n, k)) {
			prev = k;
			continue;
		}
		prev = k;
		uint32_t o = bucket(c, n, owner, k);
		if (o == NONE)
			return;
		n->bcount[o]++;
		collect_subs(c, n, o, doc);
	}
}

/* count documents more in the bucket of date lo, owner 0 */
static int date_flush(aggc *c, cnode *n, int64_t lo, int64_t count)
{
	if (!count)
		return TRAWL_OK;
	uint32_t o = bucket(c, n, 0, lo);
	if (o == NONE)
		return c->rc;
	n->bcount[o] += (uint64_t)count;
	return TRAWL_OK;
}

/* Entry e made span sp's, its counts first added to the hashed buckets.
 * NULL on error. */
static dspan *date_span_fill(aggc *c, cnode *n, dspan *e, int64_t sp)
{
	if (e->span >= 0 &&
	    (date_flush(c, n, e->lo[0], e->count[0]) || date_flush(c, n, e->lo[1], e->count[1])))
		return NULL;
	int64_t s0 = sp * SPAN_MS - MS_MAX, next;
	e->span = sp;
	e->lo[0] = aggs_date_round(n->s, s0);
	next = aggs_date_next(n->s, e->lo[0]);
	e->lo[1] = next < s0 + SPAN_MS ? next : INT64_MAX;
	e->count[0] = e->count[1] = 0;
	return e;
}

/* The table's entry of date k's span (|k| <= MS_MAX), or NULL on error. */
static inline dspan *date_span(aggc *c, cnode *n, int64_t k)
{
	int64_t sp = (k + MS_MAX) >> 31;
	dspan *e = &n->dtab[sp % DATE_SPANS];
	if (__builtin_expect(e->span == sp, 1))
		return e;
	return date_span_fill(c, n, e, sp);
}

/* The date_histogram bucket of date k (|k| <= MS_MAX): its first
 * millisecond, or INT64_MIN on error. */
static int64_t date_bucket(aggc *c, cnode *n, int64_t k)
{
	if (n->dtab) {
		const dspan *e = date_span(c, n, k);
		return e ? e->lo[k >= e->lo[1]] : INT64_MIN;
	}
	if (!n->cache || k < n->clo || k >= n->chi) {
		n->clo = aggs_date_round(n->s, k);
		n->chi = aggs_date_next(n->s, n->clo);
		n->cache = 1;
	}
	return n->clo;
}

/* A date in a date_histogram: TRAWL_OK, or an error beyond the dates
 * trawl's calendar reads. */
static inline int date_ok(aggc *c, const cnode *n, int64_t k)
{
	if (k >= -MS_MAX && k <= MS_MAX)
		return TRAWL_OK;
	return fail(c, TRAWL_ELIMIT,
	            "%s: a date of field %s is beyond +-8640000000000000 ms of the epoch (%lld)",
	            n->s->path, n->s->field, (long long)k);
}

/* Integers below this in magnitude are doubles exactly, and so is the
 * quotient's floor by another such integer (the nearest double to a/b,
 * a < 2^52, is never the next integer up). */
#define HIST_EXACT (1LL << 52)

/* The histogram bucket number of key k into *b: TRAWL_OK, or an error for
 * a number 2^53 intervals or more from the offset. It is
 * floor((k - offset) / interval) in doubles, as Elasticsearch's; for an
 * integer field, interval and offset (hint), the same number in integers:
 * a multiplication by the inverse, corrected by one or two steps, instead
 * of a division and a floor. A date_histogram of a fixed width (hdate; k
 * a date within +-MS_MAX, |k - hoff| < 2^55) numbers its buckets so too:
 * floor in integers, as aggs_date_round's, at any distance. */
static inline int hist_number(aggc *c, const cnode *n, int64_t k, int64_t *b)
{
	const aggs_spec *s = n->s;
	int64_t a;
	if (n->hint && !__builtin_sub_overflow(k, n->hoff, &a) &&
	    (n->hdate || (a > -HIST_EXACT && a < HIST_EXACT))) {
		/* t is within 2 of the floor; |t * iv| <= |a| + 2 iv < 2^63 */
		int64_t t = (int64_t)((double)a * n->hinv), iv = n->hiv;
		while (t * iv > a)
			t--;
		while ((t + 1) * iv <= a)
			t++;
		*b = t;
		return TRAWL_OK;
	}
	double q = floor((key_double(n->b->type, k) - s->offset) / s->interval);
	if (!(fabs(q) < 9007199254740992.0))
		return fail(c, TRAWL_ELIMIT,
		            "%s: a value of field %s is more than 2^53 intervals from the offset",
		            s->path, s->field);
	*b = (int64_t)q;
	return TRAWL_OK;
}

/* The key of bucket number b: the number, or a date's first millisecond. */
static inline int64_t hist_key(const cnode *n, int64_t b)
{
	return n->hdate ? b * n->hiv + n->hoff : b;
}

/* Buckets in a tallying histogram's window: 256 KiB of counts. */
#define HIST_WINDOW (1u << 16)

/* Counts bucket number b of a tallying histogram outside its window: the
 * window grows (doubling) to take it when it spans at most HIST_WINDOW
 * buckets then, else b goes to the hashed buckets. */
static void hist_window(aggc *c, cnode *n, int64_t b)
{
	int64_t lo = b, hi = b + 1; /* |b| < 2^53: no overflow */
	if (n->hcap) {
		lo = b < n->hbase ? b : n->hbase;
		hi = b >= n->hbase + n->hcap ? b + 1 : n->hbase + n->hcap;
	}
	if ((uint64_t)(hi - lo) > HIST_WINDOW) {
		uint32_t o = bucket(c, n, 0, hist_key(n, b));
		if (o != NONE)
			n->bcount[o]++;
		return;
	}
	uint32_t cap = n->hcap ? 2 * n->hcap : 64;
	while (cap < (uint64_t)(hi - lo))
		cap *= 2;
	if (cap > HIST_WINDOW)
		cap = HIST_WINDOW;
	int64_t base = n->hcap && b < n->hbase ? hi - cap : lo; /* grows toward b */
	uint32_t *t = calloc(cap, sizeof *t);
	if (!t)
		return (void)oom(c, n);
	if (n->hcap)
		memcpy(t + (n->hbase - base), n->hcnt, (size_t)n->hcap * sizeof *t);
	free(n->hcnt);
	n->hcnt = t;
	n->hcap = cap;
	n->hbase = base;
	t[b - base]++;
}

/* A tallying histogram's window as hashed buckets, at the finish. */
static int hist_flush(aggc *c, cnode *n)
{
	n->htally = 0;
	if (!n->nb) { /* nothing beyond the window: its buckets, in key order */
		uint32_t nz = 0;
		for (uint32_t i = 0; i < n->hcap; i++)
			nz += n->hcnt[i] != 0;
		if (room_for(c, n, nz))
			return c->rc;
		for (uint32_t i = 0; i < n->hcap; i++) {
			if (!n->hcnt[i])
				continue;
			uint32_t b = n->nb++;
			n->bowner[b] = 0;
			n->bkey[b] = hist_key(n, n->hbase + i);
			n->bcount[b] = n->hcnt[i];
		}
		n->in_order = 1;
		return TRAWL_OK;
	}
	for (uint32_t i = 0; i < n->hcap; i++) {
		if (!n->hcnt[i])
			continue;
		uint32_t o = bucket(c, n, 0, hist_key(n, n->hbase + i));
		if (o == NONE)
			return c->rc;
		n->bcount[o] += n->hcnt[i];
	}
	return TRAWL_OK;
}

/* Counts the values [from, to) of a document in a tallying histogram or
 * date_histogram: each bucket once (values ascend, so a bucket's values
 * are neighbours). */
static inline __attribute__((always_inline)) void tally_histogram(aggc *c, cnode *n, uint32_t from,
                                                                  uint32_t to)
{
	int64_t prev = 0, b = 0;
	for (uint32_t i = from; i < to; i++) {
		int64_t k = idx_col_key(n->col, i);
		if (n->dtally) {
			dspan *e;
			if (date_ok(c, n, k) || !(e = date_span(c, n, k)))
				return;
			int in1 = k >= e->lo[1];
			b = e->lo[in1];
			if (!(i > from && b == prev))
				e->count[in1]++;
		} else {
			if ((n->hdate && date_ok(c, n, k)) || hist_number(c, n, k, &b))
				return;
			uint64_t w = (uint64_t)(b - n->hbase);
			if (!(i > from && b == prev)) {
				if (w < n->hcap)
					n->hcnt[w]++;
				else
					hist_window(c, n, b);
			}
		}
		prev = b;
	}
}

/* A block of documents into a tallying histogram of integers (hint):
 * tally_histogram's work with the node's numbers held in locals, which
 * the compiler reloaded around every count (a count might have been
 * one of them), at twice the time. */
static void hist_block(aggc *c, cnode *n, const uint32_t *docs, uint32_t nd)
{
	const uint8_t *start = n->col->start, *vals = n->col->vals;
	const int64_t off = n->hoff, iv = n->hiv;
	const double inv = n->hinv;
	const int hdate = n->hdate;
	uint32_t *cnt = n->hcnt;
	int64_t base = n->hbase;
	uint64_t cap = n->hcap;
	for (uint32_t j = 0; j < nd; j++) {
		uint32_t from, to;
		memcpy(&from, start + (size_t)docs[j] * 4, 4);
		memcpy(&to, start + (size_t)docs[j] * 4 + 4, 4);
		int64_t prev = 0, k, a, b = 0;
		for (uint32_t i = from; i < to; i++, prev = b) {
			memcpy(&k, vals + (size_t)i * 8, 8);
			if (__builtin_sub_overflow(k, off, &a) ||
			    (hdate ? k < -MS_MAX || k > MS_MAX
			           : a <= -HIST_EXACT || a >= HIST_EXACT)) {
				if ((hdate && date_ok(c, n, k)) || hist_number(c, n, k, &b))
					return;
			} else {
				b = (int64_t)((double)a * inv); /* as hist_number */
				while (b * iv > a)
					b--;
				while ((b + 1) * iv <= a)
					b++;
			}
			if (i > from && b == prev)
				continue;
			if ((uint64_t)(b - base) < cap) {
				cnt[b - base]++;
				continue;
			}
			hist_window(c, n, b);
			if (c->rc)
				return;
			cnt = n->hcnt;
			base = n->hbase;
			cap = n->hcap;
		}
	}
}

static void collect_histogram(aggc *c, cnode *n, uint32_t owner, uint32_t doc, uint32_t from,
                              uint32_t to)
{
	if (n->dtally || n->htally) {
		tally_histogram(c, n, from, to);
		return;
	}
	int64_t prev = 0;
	for (uint32_t i = from; i < to; i++) {
		int64_t k = idx_col_key(n->col, i), b = 0;
		if (n->s->kind == AGGS_DATE_HISTOGRAM) {
			if (date_ok(c, n, k))
				return;
			if ((b = date_bucket(c, n, k)) == INT64_MIN)
				return;
		} else if (hist_number(c, n, k, &b)) {
			return;
		}
		if (i > from && b == prev)
			continue; /* values ascend: a bucket's values are neighbours */
		prev = b;
		uint32_t o = bucket(c, n, owner, b);
		if (o == NONE)
			return;
		n->bcount[o]++;
		collect_subs(c, n, o, doc);
	}
}

static void collect_range(aggc *c, cnode *n, uint32_t owner, uint32_t doc, uint32_t from,
                          uint32_t to)
{
	if (fixed_owner(c, n, owner) || from == to)
		return;
	const aggs_spec *s = n->s;
	for (uint32_t r = 0; r < s->nranges; r++) {
		const aggs_range *g = &s->ranges[r];
		for (uint32_t i = from; i < to; i++) {
			double v = key_double(n->b->type, idx_col_key(n->col, i));
			if (g->has_to && v >= g->to)
				break; /* values ascend */
			if (g->has_from && v < g->from)
				continue;
			uint32_t o = owner * n->per + r;
			n->fcount[o]++;
			collect_subs(c, n, o, doc);
			break;
		}
	}
}

static inline int bit(const uint64_t *b, uint32_t d)
{
	return (int)((b[d >> 6] >> (d & 63)) & 1);
}

/* Adds (owner, key) to a cardinality's set, unless there: TRAWL_OK, or an
 * error (the limit of values, memory). */
static inline int set_add(aggc *c, cnode *n, uint32_t owner, int64_t key)
{
	if (n->sbits) { /* one owner; the set's keys are made from the bits at the end */
		uint64_t w = 1ull << (key & 63);
		if (n->sbits[key >> 6] & w)
			return TRAWL_OK;
		if (add_values(c, n))
			return c->rc;
		n->sbits[key >> 6] |= w;
		n->nset++;
		return TRAWL_OK;
	}
	uint32_t m = n->nsslot - 1, h = mix(owner, key) & m, s;
	for (; (s = n->sslot[h]); h = (h + 1) & m)
		if (n->skey[s - 1] == key && n->sowner[s - 1] == owner)
			return TRAWL_OK;
	if (add_values(c, n))
		return c->rc;
	if (n->nset == n->capset) {
		size_t cap = n->capset, c1 = cap;
		if (grow0(&n->sowner, &c1, cap + 1, sizeof *n->sowner) ||
		    grow0(&n->skey, &cap, cap + 1, sizeof *n->skey))
			return oom(c, n);
		n->capset = (uint32_t)cap;
	}
	n->sowner[n->nset] = owner;
	n->skey[n->nset] = key;
	n->sslot[h] = ++n->nset;
	if (2 * (uint64_t)n->nset > n->nsslot) {
		uint32_t ns = 2 * n->nsslot, *t = slots_for(n->sowner, n->skey, n->nset, ns);
		if (!t)
			return oom(c, n);
		free(n->sslot);
		n->sslot = t;
		n->nsslot = ns;
	}
	return TRAWL_OK;
}

/* A block of documents into a top-level metric but percentiles:
 * collect_metric's work for one owner in one loop (the count, least and
 * greatest keys and an integer sum in locals), not a call a document. */
static void metric_block(aggc *c, cnode *n, const uint32_t *docs, uint32_t nd)
{
	if (metric_owner(c, n, 0))
		return;
	uint64_t count = n->mcount[0];
	int64_t lo = n->mmin[0], hi = n->mmax[0];
	if (n->sbits) { /* keyword ordinals: seen or not without a branch (a coin toss) */
		uint64_t *bits = n->sbits, added = 0;
		for (uint32_t j = 0; j < nd; j++) {
			uint32_t from, to;
			idx_col_range(n->col, docs[j], &from, &to);
			for (uint32_t i = from; i < to; i++) {
				uint32_t o;
				memcpy(&o, n->col->vals + (size_t)i * 4, 4);
				lo = !count || o < lo ? o : lo;
				hi = !count || o > hi ? o : hi;
				count++;
				uint64_t w = 1ull << (o & 63), *p = &bits[o >> 6];
				added += !(*p & w);
				*p |= w;
			}
		}
		n->nset += (uint32_t)added;
		add_values_n(c, n, added);
		nd = 0;
	}
	aggs_kind k = n->s->kind;
	int sum = k == AGGS_SUM || k == AGGS_AVG || k == AGGS_STATS;
	int dsum = sum && n->b->type == IDX_DOUBLE, card = k == AGGS_CARDINALITY;
	__int128 isum = n->misum && sum && !dsum ? n->misum[0] : 0;
	for (uint32_t j = 0; j < nd && !c->rc; j++) {
		uint32_t from, to;
		idx_col_range(n->col, docs[j], &from, &to);
		for (uint32_t i = from; i < to; i++) {
			int64_t key = idx_col_key(n->col, i);
			lo = !count || key < lo ? key : lo;
			hi = !count || key > hi ? key : hi;
			count++;
			isum += key;
			if (card ? set_add(c, n, 0, key)
			         : dsum && aggs_sum_add(&n->mdsum[0], idx_key_double(key))) {
				if (!c->rc)
					oom(c, n);
				break;
			}
		}
	}
	n->mcount[0] = count;
	n->mmin[0] = lo;
	n->mmax[0] = hi;
	if (sum && !dsum)
		n->misum[0] = isum;
}

static void collect_metric(aggc *c, cnode *n, uint32_t owner, uint32_t from, uint32_t to)
{
	if (from == to || metric_owner(c, n, owner))
		return;
	int type = n->b->type;
	aggs_kind k = n->s->kind;
	for (uint32_t i = from; i < to; i++) {
		int64_t key = idx_col_key(n->col, i);
		if (!n->mcount[owner] || key < n->mmin[owner])
			n->mmin[owner] = key;
		if (!n->mcount[owner] || key > n->mmax[owner])
			n->mmax[owner] = key;
		n->mcount[owner]++;
		if (k == AGGS_SUM || k == AGGS_AVG || k == AGGS_STATS) {
			if (type != IDX_DOUBLE)
				n->misum[owner] += key;
			else if (aggs_sum_add(&n->mdsum[owner], idx_key_double(key)))
				return (void)oom(c, n);
		} else if (k == AGGS_CARDINALITY) {
			if (set_add(c, n, owner, key))
				return;
		} else if (k == AGGS_PERCENTILES) {
			if (add_values(c, n))
				return;
			if (n->npv == n->cappv) {
				size_t cap = n->cappv, c1 = cap;
				if (grow0(&n->pvowner, &c1, cap + 1, sizeof *n->pvowner) ||
				    grow0(&n->pv, &cap, cap + 1, sizeof *n->pv))
					return (void)oom(c, n);
				n->cappv = cap;
			}
			n->pvowner[n->npv] = owner;
			n->pv[n->npv++] = key_double(type, key);
		}
	}
}

static void collect(aggc *c, cnode *n, uint32_t owner, uint32_t doc)
{
	if (c->rc)
		return;
	uint32_t from = 0, to = 0;
	if (n->col)
		idx_col_range(n->col, doc, &from, &to);
	switch (n->s->kind) {
	case AGGS_TERMS:
		collect_terms(c, n, owner, doc, from, to);
		break;
	case AGGS_HISTOGRAM:
	case AGGS_DATE_HISTOGRAM:
		collect_histogram(c, n, owner, doc, from, to);
		break;
	case AGGS_RANGE:
	case AGGS_DATE_RANGE:
		collect_range(c, n, owner, doc, from, to);
		break;
	case AGGS_FILTER:
	case AGGS_MISSING:
		if (fixed_owner(c, n, owner))
			return;
		if (n->s->kind == AGGS_FILTER ? bit(n->bits[0], doc) : from == to) {
			n->fcount[owner]++;
			collect_subs(c, n, owner, doc);
		}
		break;
	case AGGS_FILTERS: {
		if (fixed_owner(c, n, owner))
			return;
		int any = 0;
		for (uint32_t i = 0; i < n->s->nfilters; i++)
			if (bit(n->bits[i], doc)) {
				any = 1;
				n->fcount[owner * n->per + i]++;
				collect_subs(c, n, owner * n->per + i, doc);
			}
		if (!any && n->s->other_bucket) {
			uint32_t o = owner * n->per + n->s->nfilters;
			n->fcount[o]++;
			collect_subs(c, n, o, doc);
		}
		break;
	}
	default:
		collect_metric(c, n, owner, from, to);
		break;
	}
}

int aggc_collect(aggc *c, uint32_t doc)
{
	if (c->rc)
		return c->rc;
	if (doc >= c->ndocs || (int64_t)doc <= c->last)
		return fail(c, TRAWL_EINVAL,
		            "aggs: document %u collected out of order or beyond the shard's %u",
		            doc, c->ndocs);
	c->last = doc;
	c->collected++;
	for (uint32_t i = 0; i < c->root.nsubs; i++)
		collect(c, &c->root.subs[i], 0, doc);
	return c->rc;
}

/* A block of documents into n: a top-level terms or histogram that
 * tallies (the commonest facets) in one loop, any other node document by
 * document. */
static void collect_block(aggc *c, cnode *n, const uint32_t *docs, uint32_t nd)
{
	uint32_t from, to;
	if (n->tally && !n->allow && !n->has_missing) {
		/* every ordinal counts: no test a value, the counts in a local */
		const uint8_t *start = n->col->start, *vals = n->col->vals;
		uint32_t *dense = n->dense;
		for (uint32_t j = 0; j < nd; j++) {
			memcpy(&from, start + (size_t)docs[j] * 4, 4);
			memcpy(&to, start + (size_t)docs[j] * 4 + 4, 4);
			uint32_t prev = UINT32_MAX, o;
			for (uint32_t i = from; i < to; i++, prev = o) {
				memcpy(&o, vals + (size_t)i * 4, 4);
				dense[o] += o != prev; /* a value once a document */
			}
		}
	} else if (n->tally) {
		for (uint32_t j = 0; j < nd; j++) {
			idx_col_range(n->col, docs[j], &from, &to);
			tally(n, from, to);
		}
	} else if (n->htally && n->hint) {
		hist_block(c, n, docs, nd);
	} else if (aggs_is_metric(n->s->kind) && n->s->kind != AGGS_PERCENTILES) {
		metric_block(c, n, docs, nd);
	} else if (n->htally || n->dtally) {
		for (uint32_t j = 0; j < nd && !c->rc; j++) {
			idx_col_range(n->col, docs[j], &from, &to);
			tally_histogram(c, n, from, to);
		}
	} else {
		for (uint32_t j = 0; j < nd && !c->rc; j++)
			collect(c, n, 0, docs[j]);
	}
}

int aggc_collect_docs(aggc *c, const uint32_t *docs, uint32_t n)
{
	if (c->rc || n == 0)
		return c->rc;
	for (uint32_t j = 0; j < n; j++)
		if (docs[j] >= c->ndocs || (int64_t)docs[j] <= (j ? (int64_t)docs[j - 1] : c->last))
			return fail(
			    c, TRAWL_EINVAL,
			    "aggs: document %u collected out of order or beyond the shard's %u",
			    docs[j], c->ndocs);
	c->last = docs[n - 1];
	c->collected += n;
	for (uint32_t i = 0; i < c->root.nsubs && !c->rc; i++)
		collect_block(c, &c->root.subs[i], docs, n);
	return c->rc;
}

/* ---- opening and closing ---- */

static void cnode_fini(cnode *n)
{
	for (uint32_t i = 0; i < n->nsubs; i++)
		cnode_fini(&n->subs[i]);
	free(n->subs);
	free(n->bowner);
	free(n->bkey);
	free(n->bcount);
	free(n->slot);
	free(n->dense);
	free(n->fcount);
	free(n->mcount);
	free(n->mmin);
	free(n->mmax);
	free(n->misum);
	for (size_t i = 0; n->mdsum && i < n->capo; i++)
		free(n->mdsum[i].p);
	free(n->mdsum);
	free(n->sowner);
	free(n->sbits);
	free(n->skey);
	free(n->sslot);
	free(n->pvowner);
	free(n->pv);
	free(n->allow);
	free(n->keys0);
	free(n->bits);
	free(n->dtab);
	free(n->hcnt);
	free(n->order);
	free(n->ostart);
	free(n->sorder);
	free(n->sstart);
	free(n->porder);
	free(n->pstart);
}

void aggc_close(aggc *c)
{
	if (!c)
		return;
	cnode_fini(&c->root);
	free(c);
}

/* A keyword's ordinal in the dictionary, or -1. */
static int64_t ord_of(const idx_col *col, const aggs_str *v)
{
	int64_t o = idx_kwdict_find(&col->dict, (const uint8_t *)v->p, v->len);
	return o >= 0 ? o : -1;
}

static int open_terms(aggc *c, cnode *n, int top, char *err, size_t errlen)
{
	const bnode *b = n->b;
	const aggs_spec *s = n->s;
	n->has_missing = s->has_missing;
	n->missing_key = b->missing_key;
	if (b->type != IDX_KEYWORD)
		return TRAWL_OK;
	n->nords = n->col->dict.n;
	if (s->has_missing) {
		int64_t o = ord_of(n->col, &b->missing_kw);
		n->missing_key = o >= 0 ? o : n->nords; /* outside the dictionary: one past it */
	}
	if (s->has_include || b->nexc) {
		if (!(n->allow = calloc((size_t)n->nords + 1, 1)))
			return errf(err, errlen, TRAWL_ENOMEM, "%s: out of memory", s->path);
		if (!s->has_include)
			memset(n->allow, 1, (size_t)n->nords + 1);
		for (uint32_t i = 0; i < b->ninc; i++) {
			int64_t o = ord_of(n->col, &b->inc_kw[i]);
			if (o >= 0)
				n->allow[o] = 1;
			else if (s->has_missing && n->missing_key == n->nords &&
			         !kwcmp((const uint8_t *)b->inc_kw[i].p, b->inc_kw[i].len,
			                (const uint8_t *)b->missing_kw.p, b->missing_kw.len))
				n->allow[n->nords] = 1;
		}
		for (uint32_t i = 0; i < b->nexc; i++) {
			int64_t o = ord_of(n->col, &b->exc_kw[i]);
			if (o >= 0)
				n->allow[o] = 0;
			else if (s->has_missing && n->missing_key == n->nords &&
			         !kwcmp((const uint8_t *)b->exc_kw[i].p, b->exc_kw[i].len,
			                (const uint8_t *)b->missing_kw.p, b->missing_kw.len))
				n->allow[n->nords] = 0;
		}
	}
	if (top && n->nords < DENSE_MAX_ORDS) {
		free(n->slot);
		n->slot = NULL;
		if (!(n->dense = calloc((size_t)n->nords + 1, sizeof *n->dense)))
			return errf(err, errlen, TRAWL_ENOMEM, "%s: out of memory", s->path);
		n->tally = b->nsubs == 0;
	}
	return TRAWL_OK;
}

static int open_node(aggc *c, cnode *n, const bnode *b, const idx_col *cols, int top,
                     aggc_filter_bits fb, void *ctx, char *err, size_t errlen)
{
	const aggs_spec *s = b->s;
	n->b = b;
	n->s = s;
	if (b->typed >= 0) {
		const idx_col *col = &cols[b->typed];
		if (!col->has_dv || col->ndocs != c->ndocs || col->type != b->type ||
		    (b->type == IDX_KEYWORD && !col->has_dict))
			return errf(err, errlen, TRAWL_ECORRUPT,
			            "%s: field %s has no doc values of its type in this shard",
			            s->path, s->field);
		n->col = col;
	}
	switch (s->kind) {
	case AGGS_TERMS:
	case AGGS_HISTOGRAM:
	case AGGS_DATE_HISTOGRAM:
		n->hashed = 1;
		if (!(n->slot = calloc(64, sizeof *n->slot)))
			return errf(err, errlen, TRAWL_ENOMEM, "%s: out of memory", s->path);
		n->nslot = 64;
		if (s->kind == AGGS_DATE_HISTOGRAM && s->cal >= AGGS_CAL_MONTH) {
			if (!(n->dtab = calloc(DATE_SPANS, sizeof *n->dtab)))
				return errf(err, errlen, TRAWL_ENOMEM, "%s: out of memory",
				            s->path);
			for (size_t i = 0; i < DATE_SPANS; i++)
				n->dtab[i].span = -1;
		}
		n->dtally = n->dtab && top && b->nsubs == 0;
		n->htally = s->kind == AGGS_HISTOGRAM && top && b->nsubs == 0;
		if (s->kind == AGGS_DATE_HISTOGRAM && s->cal < AGGS_CAL_MONTH && top &&
		    b->nsubs == 0) {
			/* aggs_date_round: floor((ms - offset + tz) / width), the
			 * weeks from Monday (1970-01-01 was a Thursday) */
			static const int64_t width[] = {0, 60000, 3600000, DAY_MS, 7 * DAY_MS};
			int64_t base = s->offset_ms - (int64_t)s->tz_min * 60000 -
			               (s->cal == AGGS_CAL_WEEK ? 3 * DAY_MS : 0);
			n->hiv = s->cal == AGGS_CAL_NONE ? s->fixed_ms : width[s->cal];
			if (base >= -2 * MS_MAX && base <= 2 * MS_MAX && n->hiv > 0 &&
			    n->hiv <= 4 * MS_MAX) {
				n->htally = n->hint = n->hdate = 1;
				n->hoff = base;
				n->hinv = 1.0 / (double)n->hiv;
			}
		}
		if (s->kind == AGGS_HISTOGRAM && b->type != IDX_DOUBLE &&
		    s->interval == floor(s->interval) && s->interval >= 1 &&
		    s->interval < (double)HIST_EXACT && s->offset == floor(s->offset) &&
		    fabs(s->offset) < (double)HIST_EXACT) {
			n->hint = 1;
			n->hiv = (int64_t)s->interval;
			n->hoff = (int64_t)s->offset;
			n->hinv = 1.0 / s->interval;
		}
		if (s->kind == AGGS_TERMS) {
			int rc = open_terms(c, n, top, err, errlen);
			if (rc)
				return rc;
		}
		break;
	case AGGS_RANGE:
	case AGGS_DATE_RANGE:
		n->per = s->nranges;
		break;
	case AGGS_FILTER:
	case AGGS_FILTERS:
		n->per = s->kind == AGGS_FILTER ? 1 : s->nfilters + s->other_bucket;
		if (!(n->bits = calloc(s->nfilters, sizeof *n->bits)))
			return errf(err, errlen, TRAWL_ENOMEM, "%s: out of memory", s->path);
		for (uint32_t i = 0; i < s->nfilters; i++) {
			n->bits[i] = fb ? fb(ctx, s->fbytes[i], s->flens[i], c->ndocs) : NULL;
			if (!n->bits[i])
				return errf(
				    err, errlen, TRAWL_EQUERY,
				    "%s: the query of %s%s could not be evaluated in this shard",
				    s->path, s->fnames ? "filter " : "filter",
				    s->fnames ? s->fnames[i] : "");
		}
		break;
	case AGGS_MISSING:
		n->per = 1;
		break;
	case AGGS_CARDINALITY:
		if (top && b->type == IDX_KEYWORD && n->col->dict.n < DENSE_MAX_ORDS) {
			/* a bit per ordinal (at most 128 KiB) */
			if (!(n->sbits = calloc(((size_t)n->col->dict.n + 64) / 64, 8)))
				return errf(err, errlen, TRAWL_ENOMEM, "%s: out of memory",
				            s->path);
			break;
		}
		if (!(n->sslot = calloc(64, sizeof *n->sslot)))
			return errf(err, errlen, TRAWL_ENOMEM, "%s: out of memory", s->path);
		n->nsslot = 64;
		break;
	default:
		break;
	}
	if (b->nsubs && !(n->subs = calloc(b->nsubs, sizeof *n->subs)))
		return errf(err, errlen, TRAWL_ENOMEM, "%s: out of memory", s->path);
	for (uint32_t i = 0; i < b->nsubs; i++) {
		n->nsubs++;
		int rc = open_node(c, &n->subs[i], &b->subs[i], cols, 0, fb, ctx, err, errlen);
		if (rc)
			return rc;
	}
	return TRAWL_OK;
}

int aggc_open(aggc **out, const aggc_bound *b, const idx_col *cols, uint32_t ndocs,
              aggc_filter_bits filter_bits, void *ctx, char *err, size_t errlen)
{
	aggc *c = calloc(1, sizeof *c);
	*out = NULL;
	if (!c)
		return errf(err, errlen, TRAWL_ENOMEM, "aggs: out of memory");
	c->b = b;
	c->ndocs = ndocs;
	c->last = -1;
	c->root.b = &b->root;
	c->root.s = b->root.s;
	int rc = TRAWL_OK;
	if (b->root.nsubs && !(c->root.subs = calloc(b->root.nsubs, sizeof *c->root.subs)))
		rc = errf(err, errlen, TRAWL_ENOMEM, "aggs: out of memory");
	for (uint32_t i = 0; !rc && i < b->root.nsubs; i++) {
		c->root.nsubs++;
		rc = open_node(c, &c->root.subs[i], &b->root.subs[i], cols, 1, filter_bits, ctx,
		               err, errlen);
	}
	if (rc) {
		aggc_close(c);
		return rc;
	}
	*out = c;
	return TRAWL_OK;
}

void aggc_only_live(aggc *c, const uint64_t *deleted)
{
	c->only_live = 1;
	c->deleted = deleted;
}

/* ---- the partial result ---- */

/*
 * Sorts idx[0..n) by (owner[i], key[i]) ascending, i = idx[..]: an LSD
 * radix sort over the key bytes in which the keys differ, then a stable
 * counting sort by owner when there are several (nown). A comparison sort
 * through a callback was a sixth of a daily date histogram (5,000 buckets)
 * and two fifths of a cardinality of 30,000 integers. 0 or TRAWL_ENOMEM.
 */
static int sort_by_owner_key(uint32_t *idx, uint32_t n, const uint32_t *owner, const int64_t *key,
                             uint32_t nown)
{
	if (n < 2)
		return TRAWL_OK;
	uint64_t *k = malloc((size_t)n * 16);
	uint32_t *t = malloc((size_t)n * 4), *cnt = malloc(((size_t)nown + 256) * 4);
	if (!k || !t || !cnt) {
		free(k);
		free(t);
		free(cnt);
		return TRAWL_ENOMEM;
	}
	uint64_t *kt = k + n, differ = 0;
	for (uint32_t i = 0; i < n; i++) {
		k[i] = (uint64_t)key[idx[i]] ^ (1ull << 63); /* signed order as unsigned */
		differ |= k[i] ^ k[0];
	}
	for (unsigned b = 0; b < 64; b += 8) {
		if (!((differ >> b) & 0xff))
			continue;
		memset(cnt, 0, 256 * 4);
		for (uint32_t i = 0; i < n; i++)
			cnt[(k[i] >> b) & 0xff]++;
		for (uint32_t d = 0, at = 0; d < 256; d++) {
			uint32_t c = cnt[d];
			cnt[d] = at;
			at += c;
		}
		for (uint32_t i = 0; i < n; i++) {
			uint32_t to = cnt[(k[i] >> b) & 0xff]++;
			kt[to] = k[i];
			t[to] = idx[i];
		}
		memcpy(k, kt, (size_t)n * 8);
		memcpy(idx, t, (size_t)n * 4);
	}
	if (nown > 1) {
		memset(cnt, 0, ((size_t)nown + 1) * 4);
		for (uint32_t i = 0; i < n; i++)
			cnt[owner[idx[i]] + 1]++;
		for (uint32_t o = 0; o < nown; o++)
			cnt[o + 1] += cnt[o];
		for (uint32_t i = 0; i < n; i++)
			t[cnt[owner[idx[i]]]++] = idx[i];
		memcpy(idx, t, (size_t)n * 4);
	}
	free(k);
	free(t);
	free(cnt);
	return TRAWL_OK;
}

static int cmp_pv(const void *a, const void *b, void *arg)
{
	const cnode *n = arg;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (n->pvowner[x] > n->pvowner[y]) - (n->pvowner[x] < n->pvowner[y]);
}

/* A tallying node's counts as its buckets, made in key order; dense then
 * maps ordinal -> ord + 1 as for any dense node. */
static int tally_buckets(aggc *c, cnode *n)
{
	n->tally = 0;
	uint32_t nz = 0; /* the buckets, counted first: made in arrays of their size */
	for (size_t o = 0; o <= n->nords; o++)
		nz += n->dense[o] != 0;
	if (room_for(c, n, nz))
		return c->rc;
	for (size_t o = 0; o <= n->nords; o++) {
		uint32_t docs = n->dense[o];
		if (!docs)
			continue;
		uint32_t b = n->nb++;
		n->bowner[b] = 0;
		n->bkey[b] = (int64_t)o;
		n->bcount[b] = docs;
		n->dense[o] = b + 1;
	}
	return TRAWL_OK;
}

/* Sorts n's buckets, set and values by owner (nown owners) and key, and its
 * sub-aggregations' in turn. */
static int index_node(aggc *c, cnode *n, uint32_t nown)
{
	n->nown = nown;
	if (n->tally && tally_buckets(c, n))
		return c->rc;
	for (size_t i = 0; n->dtally && i < DATE_SPANS; i++)
		if (n->dtab[i].span >= 0 &&
		    (date_flush(c, n, n->dtab[i].lo[0], n->dtab[i].count[0]) ||
		     date_flush(c, n, n->dtab[i].lo[1], n->dtab[i].count[1])))
			return c->rc;
	n->dtally = 0;
	if (n->htally && hist_flush(c, n))
		return c->rc;
	if (n->hashed) {
		if (!(n->order = malloc(((size_t)n->nb + 1) * 4)) ||
		    !(n->ostart = calloc((size_t)nown + 1, 4)))
			return oom(c, n);
		for (uint32_t i = 0; i < n->nb; i++) {
			n->order[i] = i;
			n->ostart[n->bowner[i] + 1]++;
		}
		if (n->dense) { /* one owner, and the ordinals are in key order */
			uint32_t k = 0;
			for (size_t o = 0; o <= n->nords; o++)
				if (n->dense[o])
					n->order[k++] = n->dense[o] - 1;
		} else if (!n->in_order &&
		           sort_by_owner_key(n->order, n->nb, n->bowner, n->bkey, nown)) {
			return oom(c, n);
		}
		for (uint32_t i = 0; i < nown; i++)
			n->ostart[i + 1] += n->ostart[i];
	}
	if (n->s->kind == AGGS_CARDINALITY && n->sbits) {
		/* the ordinals seen, ascending, as the set of owner 0 */
		if (!(n->skey = malloc(((size_t)n->nset + 1) * sizeof *n->skey)) ||
		    !(n->sowner = calloc((size_t)n->nset + 1, sizeof *n->sowner)))
			return oom(c, n);
		uint32_t k = 0;
		for (size_t w = 0; w < ((size_t)n->col->dict.n + 64) / 64; w++)
			for (uint64_t x = n->sbits[w]; x; x &= x - 1)
				n->skey[k++] = (int64_t)(w * 64 + (unsigned)__builtin_ctzll(x));
		n->capset = n->nset;
	}
	if (n->s->kind == AGGS_CARDINALITY) {
		if (!(n->sorder = malloc(((size_t)n->nset + 1) * 4)) ||
		    !(n->sstart = calloc((size_t)nown + 1, 4)))
			return oom(c, n);
		for (uint32_t i = 0; i < n->nset; i++) {
			n->sorder[i] = i;
			n->sstart[n->sowner[i] + 1]++;
		}
		if (!n->sbits && /* else in order already */
		    sort_by_owner_key(n->sorder, n->nset, n->sowner, n->skey, nown))
			return oom(c, n);
		for (uint32_t i = 0; i < nown; i++)
			n->sstart[i + 1] += n->sstart[i];
	}
	if (n->s->kind == AGGS_PERCENTILES) {
		if (!(n->porder = malloc((n->npv + 1) * 4)) ||
		    !(n->pstart = calloc((size_t)nown + 1, sizeof *n->pstart)))
			return oom(c, n);
		for (size_t i = 0; i < n->npv; i++) {
			n->porder[i] = (uint32_t)i;
			n->pstart[n->pvowner[i] + 1]++;
		}
		qsort_r(n->porder, n->npv, 4, cmp_pv, n);
		for (uint32_t i = 0; i < nown; i++)
			n->pstart[i + 1] += n->pstart[i];
	}
	uint32_t kids = n->hashed ? n->nb : n->nowners * n->per;
	for (uint32_t i = 0; i < n->nsubs; i++) {
		int rc = index_node(c, &n->subs[i], kids);
		if (rc)
			return rc;
	}
	return TRAWL_OK;
}

static int build(aggc *c, cnode *n, uint32_t owner, aggs_result *r);

/* The sub-results of bucket ord (NONE: an empty bucket) into b->subs. */
static int build_subs(aggc *c, cnode *n, uint32_t ord, aggs_bucket *b)
{
	if (!n->nsubs)
		return TRAWL_OK;
	if (!(b->subs = calloc(n->nsubs, sizeof *b->subs)))
		return oom(c, n);
	for (uint32_t i = 0; i < n->nsubs; i++) {
		int rc = build(c, &n->subs[i], ord, &b->subs[i]);
		if (rc)
			return rc;
	}
	return TRAWL_OK;
}

static int set_key(aggc *c, cnode *n, aggs_bucket *b, int64_t key)
{
	b->key = key;
	if (n->b->type != IDX_KEYWORD || n->s->kind != AGGS_TERMS)
		return TRAWL_OK;
	b->key = 0;
	if (key != n->nords) { /* the dictionary's bytes (aggs.h: borrowed) */
		b->str = (char *)idx_kwdict_value(&n->col->dict, (uint32_t)key, &b->len);
		b->borrowed = 1;
		return TRAWL_OK;
	}
	/* the missing value, outside the dictionary: a copy (the bound spec
	 * that holds it may go before the result) */
	b->len = n->b->missing_kw.len;
	if (!(b->str = malloc((size_t)b->len + 1)))
		return oom(c, n);
	memcpy(b->str, n->b->missing_kw.p, b->len);
	b->str[b->len] = 0;
	return TRAWL_OK;
}

/* Every key of the field in this shard, sorted and distinct (for terms with
 * min_doc_count 0): keywords' ordinals, or numbers' keys. With only_live,
 * only those a live document of the segment holds: a dictionary keeps the
 * values of the documents deleted since it was written (and a build's is
 * the whole generation's), a column the deleted documents' keys. Made once
 * per node; *out is a copy (the caller frees it). */
static int all_keys(aggc *c, cnode *n, int64_t **out, uint32_t *nout)
{
	if (!n->has_keys0) {
		const idx_col *col = n->col;
		int kw = n->b->type == IDX_KEYWORD;
		uint64_t cnt = kw ? col->dict.n : col->nvals;
		int64_t *v = malloc((cnt + 1) * sizeof *v);
		uint64_t *held = kw && c->only_live ? calloc(cnt / 64 + 1, 8) : NULL;
		if (!v || (kw && c->only_live && !held)) {
			free(v);
			free(held);
			return oom(c, n);
		}
		uint32_t m = 0;
		if (c->only_live) {
			for (uint32_t d = 0; d < c->ndocs; d++) {
				if (c->deleted && (c->deleted[d >> 6] >> (d & 63)) & 1)
					continue;
				uint32_t a, z;
				idx_col_range(col, d, &a, &z);
				for (uint32_t i = a; i < z; i++) {
					int64_t k = idx_col_key(col, i);
					if (kw)
						held[k >> 6] |= 1ull << (k & 63);
					else
						v[m++] = k;
				}
			}
		} else if (!kw) {
			for (uint32_t i = 0; i < col->nvals; i++)
				v[m++] = idx_col_key(col, i);
		}
		if (kw) {
			for (uint32_t i = 0; i < col->dict.n; i++)
				if (!held || (held[i >> 6] >> (i & 63)) & 1)
					v[m++] = i;
		} else {
			qsort(v, m, sizeof *v, cmp_i64);
			uint32_t u = 0;
			for (uint32_t i = 0; i < m; i++)
				if (!u || v[u - 1] != v[i])
					v[u++] = v[i];
			m = u;
		}
		free(held);
		uint32_t k = 0;
		for (uint32_t i = 0; i < m; i++)
			if (allowed(n, v[i]))
				v[k++] = v[i];
		n->keys0 = v;
		n->nkeys0 = k;
		n->has_keys0 = 1;
	}
	int64_t *v = malloc(((size_t)n->nkeys0 + 1) * sizeof *v);
	if (!v)
		return oom(c, n);
	memcpy(v, n->keys0, (size_t)n->nkeys0 * sizeof *v);
	*out = v;
	*nout = n->nkeys0;
	return TRAWL_OK;
}

static int build_hashed(aggc *c, cnode *n, uint32_t owner, aggs_result *r)
{
	uint32_t from = 0, to = 0;
	if (owner != NONE && owner < n->nown) {
		from = n->ostart[owner];
		to = n->ostart[owner + 1];
	}
	int64_t *all = NULL;
	uint32_t nall = 0;
	if (n->s->kind == AGGS_TERMS && n->s->min_doc_count == 0) {
		int rc = all_keys(c, n, &all, &nall);
		if (rc)
			return rc;
	}
	/* the owner's buckets, and (min_doc_count 0) the field's other values */
	uint32_t extra = 0;
	for (uint32_t i = 0, j = from; i < nall; i++) {
		while (j < to && n->bkey[n->order[j]] < all[i])
			j++;
		extra += !(j < to && n->bkey[n->order[j]] == all[i]);
	}
	if (add_buckets(c, n, extra)) {
		free(all);
		return c->rc;
	}
	size_t total = (size_t)(to - from) + extra;
	if (total && !(r->buckets = calloc(total, sizeof *r->buckets))) {
		free(all);
		return oom(c, n);
	}
	uint32_t i = 0, j = from;
	int rc = TRAWL_OK;
	while (!rc && (i < nall || j < to)) {
		int64_t kj = j < to ? n->bkey[n->order[j]] : 0;
		aggs_bucket *b = &r->buckets[r->nbuckets++];
		if (j < to && (i == nall || kj <= all[i])) {
			if (i < nall && kj == all[i])
				i++;
			uint32_t ord = n->order[j++];
			b->doc_count = n->bcount[ord];
			if (!(rc = set_key(c, n, b, kj)))
				rc = build_subs(c, n, ord, b);
		} else {
			if (!(rc = set_key(c, n, b, all[i++])))
				rc = build_subs(c, n, NONE, b);
		}
	}
	free(all);
	if (rc)
		return rc;
	/* a missing value outside the dictionary sorts last by ordinal: move it
	 * to its place among the values */
	if (n->s->kind == AGGS_TERMS && n->b->type == IDX_KEYWORD && n->has_missing &&
	    n->missing_key == n->nords && r->nbuckets > 1) {
		aggs_bucket *v = r->buckets;
		uint32_t last = r->nbuckets - 1;
		int is_missing = v[last].len == n->b->missing_kw.len &&
		                 !memcmp(v[last].str, n->b->missing_kw.p, v[last].len);
		if (is_missing) {
			aggs_bucket x = v[last];
			uint32_t k = last;
			for (; k > 0 && kwcmp((const uint8_t *)v[k - 1].str, v[k - 1].len,
			                      (const uint8_t *)x.str, x.len) > 0;
			     k--)
				v[k] = v[k - 1];
			v[k] = x;
		}
	}
	return TRAWL_OK;
}

static int build_metric(aggc *c, cnode *n, uint32_t owner, aggs_result *r)
{
	if (owner == NONE || owner >= n->nowners)
		return TRAWL_OK;
	r->count = n->mcount[owner];
	r->min = n->mmin[owner];
	r->max = n->mmax[owner];
	if (n->misum)
		r->sum.i = n->misum[owner];
	if (n->mdsum) { /* moved: each owner is built once */
		r->sum = n->mdsum[owner];
		memset(&n->mdsum[owner], 0, sizeof n->mdsum[owner]);
	}
	if (n->s->kind == AGGS_CARDINALITY && owner < n->nown) {
		uint32_t from = n->sstart[owner], to = n->sstart[owner + 1];
		r->nkeys = to - from;
		if (!r->nkeys)
			return TRAWL_OK;
		if (n->b->type == IDX_KEYWORD) {
			if (!(r->strs = calloc(r->nkeys, sizeof *r->strs)))
				return oom(c, n);
			for (uint32_t i = 0; i < r->nkeys; i++) { /* borrowed (aggs.h) */
				r->strs[i].p = (char *)idx_kwdict_value(
				    &n->col->dict, (uint32_t)n->skey[n->sorder[from + i]],
				    &r->strs[i].len);
				r->strs[i].borrowed = 1;
			}
		} else {
			if (!(r->keys = malloc(r->nkeys * sizeof *r->keys)))
				return oom(c, n);
			for (uint32_t i = 0; i < r->nkeys; i++)
				r->keys[i] = n->skey[n->sorder[from + i]];
		}
	}
	if (n->s->kind == AGGS_PERCENTILES && owner < n->nown) {
		size_t from = n->pstart[owner], to = n->pstart[owner + 1];
		if (to > from) {
			if (!(r->vals = malloc((to - from) * sizeof *r->vals)))
				return oom(c, n);
			for (size_t i = from; i < to; i++)
				r->vals[r->nvals++] = n->pv[n->porder[i]];
		}
	}
	return TRAWL_OK;
}

static int build(aggc *c, cnode *n, uint32_t owner, aggs_result *r)
{
	memset(r, 0, sizeof *r);
	r->type = (uint8_t)(n->b->typed >= 0 ? n->b->type : AGGS_V_NONE);
	aggs_kind k = n->s->kind;
	if (n->hashed)
		return build_hashed(c, n, owner, r);
	if (aggs_is_metric(k))
		return build_metric(c, n, owner, r);
	int have = owner != NONE && owner < n->nowners;
	if (k == AGGS_FILTER || k == AGGS_MISSING) {
		if (!(r->buckets = calloc(1, sizeof *r->buckets)))
			return oom(c, n);
		r->nbuckets = 1;
		r->buckets[0].doc_count = have ? n->fcount[owner] : 0;
		return build_subs(c, n, have ? owner : NONE, &r->buckets[0]);
	}
	/* range, filters: the non-empty buckets */
	uint32_t cnt = 0;
	for (uint32_t i = 0; have && i < n->per; i++)
		cnt += n->fcount[owner * n->per + i] > 0;
	if (cnt && !(r->buckets = calloc(cnt, sizeof *r->buckets)))
		return oom(c, n);
	for (uint32_t i = 0; have && i < n->per; i++) {
		uint32_t ord = owner * n->per + i;
		if (!n->fcount[ord])
			continue;
		aggs_bucket *b = &r->buckets[r->nbuckets++];
		b->key = i;
		b->doc_count = n->fcount[ord];
		int rc = build_subs(c, n, ord, b);
		if (rc)
			return rc;
	}
	return TRAWL_OK;
}

/* The node of the collector's tree that collects spec node s (NULL: none). */
static cnode *find_node(cnode *n, const aggs_spec *s)
{
	if (n->s == s)
		return n;
	for (uint32_t i = 0; i < n->nsubs; i++) {
		cnode *f = find_node(&n->subs[i], s);
		if (f)
			return f;
	}
	return NULL;
}

static int over_limit(char *err, size_t errlen, const aggs_spec *s)
{
	return errf(err, errlen, TRAWL_ELIMIT, AGGC_OVER_BUCKETS, s->path, LIMIT_AGG_BUCKETS);
}

int aggc_keys(aggc *c, const aggs_spec *s, aggs_result **out, char *err, size_t errlen)
{
	*out = NULL;
	cnode *n = !c->rc ? find_node(&c->root, s) : NULL;
	if (!n || !n->hashed || s->kind != AGGS_TERMS || s->min_doc_count != 0)
		return errf(err, errlen, TRAWL_EINVAL, "%s: no terms with min_doc_count 0 here",
		            s->path);
	int64_t *all = NULL;
	uint32_t nall = 0;
	if (all_keys(c, n, &all, &nall))
		return errf(err, errlen, c->rc, "%s", c->msg);
	if (nall > LIMIT_AGG_BUCKETS) {
		free(all);
		return over_limit(err, errlen, s);
	}
	aggs_result *r = calloc(1, sizeof *r);
	if (r && nall && !(r->buckets = calloc(nall, sizeof *r->buckets))) {
		free(r);
		r = NULL;
	}
	if (!r) {
		free(all);
		return errf(err, errlen, TRAWL_ENOMEM, "%s: out of memory", s->path);
	}
	r->type = (uint8_t)(n->b->typed >= 0 ? n->b->type : AGGS_V_NONE);
	int rc = TRAWL_OK;
	for (uint32_t i = 0; !rc && i < nall; i++) /* ascending: a partial's order */
		if ((rc = set_key(c, n, &r->buckets[r->nbuckets++], all[i])))
			rc = errf(err, errlen, rc, "%s", c->msg);
	free(all);
	if (rc) {
		aggs_result_free(s, r);
		return rc;
	}
	*out = r;
	return TRAWL_OK;
}

/* The node of the bound tree for spec node s (NULL: none). */
static const bnode *find_bnode(const bnode *b, const aggs_spec *s)
{
	if (b->s == s)
		return b;
	for (uint32_t i = 0; i < b->nsubs; i++) {
		const bnode *f = find_bnode(&b->subs[i], s);
		if (f)
			return f;
	}
	return NULL;
}

static int zero_node(const bnode *b, aggc_keys_fn keys, void *arg, aggs_result *r, uint64_t *left,
                     char *err, size_t errlen);

/* Bucket x's sub-aggregations, each as in a bucket of no document. */
static int zero_subs(const bnode *b, aggc_keys_fn keys, void *arg, aggs_bucket *x, uint64_t *left,
                     char *err, size_t errlen)
{
	if (!b->nsubs)
		return TRAWL_OK;
	if (!(x->subs = calloc(b->nsubs, sizeof *x->subs)))
		return errf(err, errlen, TRAWL_ENOMEM, "%s: out of memory", b->s->path);
	for (uint32_t i = 0; i < b->nsubs; i++) {
		int rc = zero_node(&b->subs[i], keys, arg, &x->subs[i], left, err, errlen);
		if (rc)
			return rc;
	}
	return TRAWL_OK;
}

/* What build makes of node b for owner NONE, with a terms of min_doc_count
 * 0's values from keys. */
static int zero_node(const bnode *b, aggc_keys_fn keys, void *arg, aggs_result *r, uint64_t *left,
                     char *err, size_t errlen)
{
	const aggs_spec *s = b->s;
	memset(r, 0, sizeof *r);
	r->type = (uint8_t)(b->typed >= 0 ? b->type : AGGS_V_NONE);
	const aggs_result *k = NULL;
	uint32_t n = 0;
	if (s->kind == AGGS_TERMS && s->min_doc_count == 0) {
		if (!(k = keys(arg, s, b->type == IDX_KEYWORD)))
			return over_limit(err, errlen, s);
		n = k->nbuckets;
	} else if (s->kind == AGGS_FILTER || s->kind == AGGS_MISSING) {
		n = 1;
	}
	if (!n)
		return TRAWL_OK;
	if (n > *left)
		return over_limit(err, errlen, s);
	if (s->kind == AGGS_TERMS)
		*left -= n;
	if (!(r->buckets = calloc(n, sizeof *r->buckets)))
		return errf(err, errlen, TRAWL_ENOMEM, "%s: out of memory", s->path);
	while (r->nbuckets < n) { /* counted at once: aggs_result_fini frees it */
		aggs_bucket *x = &r->buckets[r->nbuckets++];
		if (k) {
			const aggs_bucket *y = &k->buckets[r->nbuckets - 1];
			x->key = y->key;
			x->len = y->len;
			x->borrowed = y->borrowed;
			x->str = y->borrowed ? y->str : NULL;
			if (y->str && !y->borrowed) {
				if (!(x->str = malloc((size_t)y->len + 1)))
					return errf(err, errlen, TRAWL_ENOMEM, "%s: out of memory",
					            s->path);
				memcpy(x->str, y->str, (size_t)y->len + 1);
			}
		}
		int rc = zero_subs(b, keys, arg, x, left, err, errlen);
		if (rc)
			return rc;
	}
	return TRAWL_OK;
}

int aggc_bound_keyword(const aggc_bound *bound, const aggs_spec *s)
{
	const bnode *b = find_bnode(&bound->root, s);
	return b && b->typed >= 0 && b->type == IDX_KEYWORD;
}

int aggc_zero(const aggc_bound *bound, const aggs_spec *s, aggc_keys_fn keys, void *arg,
              aggs_result **out, char *err, size_t errlen)
{
	*out = NULL;
	const bnode *b = find_bnode(&bound->root, s);
	if (!b)
		return errf(err, errlen, TRAWL_EINVAL, "%s: not of the bound spec", s->path);
	aggs_result *r = malloc(sizeof *r);
	if (!r)
		return errf(err, errlen, TRAWL_ENOMEM, "%s: out of memory", s->path);
	uint64_t left = LIMIT_AGG_BUCKETS;
	int rc = zero_node(b, keys, arg, r, &left, err, errlen);
	if (rc) {
		aggs_result_free(s, r);
		return rc;
	}
	*out = r;
	return TRAWL_OK;
}

int aggc_finish(aggc *c, aggs_result **out, char *err, size_t errlen)
{
	*out = NULL;
	const aggs_spec *spec = c->b->root.s;
	if (c->finished++)
		fail(c, TRAWL_EINVAL, "aggs: the collector was finished already");
	for (uint32_t i = 0; !c->rc && i < c->root.nsubs; i++)
		index_node(c, &c->root.subs[i], 1);
	aggs_result *r = c->rc ? NULL : calloc(1, sizeof *r);
	if (!c->rc && !r)
		fail(c, TRAWL_ENOMEM, "aggs: out of memory");
	if (r && !(r->buckets = calloc(1, sizeof *r->buckets)))
		fail(c, TRAWL_ENOMEM, "aggs: out of memory");
	if (!c->rc) {
		r->nbuckets = 1;
		r->buckets[0].doc_count = c->collected;
		if (c->root.nsubs &&
		    !(r->buckets[0].subs = calloc(c->root.nsubs, sizeof(aggs_result))))
			fail(c, TRAWL_ENOMEM, "aggs: out of memory");
		for (uint32_t i = 0; !c->rc && i < c->root.nsubs; i++)
			build(c, &c->root.subs[i], 0, &r->buckets[0].subs[i]);
	}
	if (c->rc) {
		aggs_result_free(spec, r);
		return errf(err, errlen, c->rc, "%s", c->msg);
	}
	*out = r;
	return TRAWL_OK;
}
