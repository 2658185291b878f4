/*
 * merge.c - the hits and totals of a search's SEARCH replies, merged (see
 * merge.h).
 */
#include "root/merge.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/aggs.h"
#include "common/buf.h"
#include "trawl/trawl.h"

void merge_init(root_merge *m, int count_exact, const trawl_sort *sort, uint32_t nsort)
{
	memset(m, 0, sizeof *m);
	m->total_exact = count_exact;
	m->sort = sort;
	m->nsort = nsort;
}

static int keep_reply(root_merge *m, uint8_t **reply)
{
	if (m->nkept == m->capkept) {
		unsigned nc = m->capkept ? m->capkept * 2 : 8;
		uint8_t **nk = realloc(m->kept, nc * sizeof *nk);
		if (!nk)
			return TRAWL_ENOMEM;
		m->kept = nk;
		m->capkept = nc;
	}
	m->kept[m->nkept++] = *reply;
	*reply = NULL;
	return TRAWL_OK;
}

/* The ids of sr's hits (pointers into the reply), or NULL: without them the
 * winners' ids are FETCHed. */
static int reply_ids(const wire_search_reply *sr, const char ***ids, uint32_t **lens)
{
	*ids = malloc(sr->nhits * sizeof **ids);
	*lens = malloc(sr->nhits * sizeof **lens);
	if (*ids && *lens && wire_search_reply_ids(sr, *ids, *lens) == TRAWL_OK)
		return 1;
	free(*ids);
	free(*lens);
	*ids = NULL;
	*lens = NULL;
	return 0;
}

/* Whether one of the first nsort elements of the JSON array json (a hit's
 * sort values; the last, the tiebreaker, is always a string) is a string:
 * the elements before the first string are numbers or null, which hold
 * no comma. */
static int has_string(const char *json, size_t len, uint32_t nsort)
{
	size_t i = 0;
	while (i < len && json[i] != '[')
		i++;
	for (uint32_t k = 0; k < nsort && ++i < len; k++) {
		while (i < len && (json[i] == ' ' || json[i] == '\n'))
			i++;
		if (i < len && json[i] == '"')
			return 1;
		while (i < len && json[i] != ',')
			i++;
	}
	return 0;
}

/* The keyword values among the sort values sv of n hits (the strings of
 * their JSON arrays), into (*kw)[0..n) (NULL when no hit has one), their
 * bytes and the array kept by m. */
static int keyword_values(root_merge *m, const wire_sortval *sv, uint32_t n, merge_kw **kw)
{
	*kw = NULL;
	uint32_t any = 0;
	for (uint32_t i = 0; i < n && !any; i++)
		any = has_string(sv[i].json, sv[i].json_len, m->nsort);
	if (!any)
		return TRAWL_OK; /* numbers, dates, scores and nulls only: the keys say it */
	merge_kw *a = calloc(n, sizeof *a);
	tbuf bytes;
	tbuf_init(&bytes, (size_t)n * LIMIT_SORT_JSON_BYTES);
	int rc = a ? TRAWL_OK : TRAWL_ENOMEM;
	for (uint32_t i = 0; i < n && !rc; i++) {
		json_t *j = json_loadb(sv[i].json, sv[i].json_len, JSON_ALLOW_NUL, NULL);
		for (uint32_t k = 0; j && k < m->nsort && !rc; k++) {
			json_t *e = json_array_get(j, k);
			if (!json_is_string(e))
				continue;
			a[i].len[k] = (uint32_t)json_string_length(e);
			/* an offset (+1) until the bytes stop moving */
			a[i].s[k] = (const char *)(uintptr_t)(bytes.len + 1);
			rc = tbuf_append(&bytes, json_string_value(e), a[i].len[k]);
		}
		if (!j)
			rc = TRAWL_EINVAL;
		json_decref(j);
	}
	uint8_t *b = NULL;
	if (!rc && !(b = malloc(bytes.len ? bytes.len : 1)))
		rc = TRAWL_ENOMEM;
	if (!rc) {
		if (bytes.len)
			memcpy(b, bytes.data, bytes.len);
		for (uint32_t i = 0; i < n; i++)
			for (uint32_t k = 0; k < m->nsort; k++)
				if (a[i].s[k])
					a[i].s[k] = (const char *)b + ((uintptr_t)a[i].s[k] - 1);
	}
	tbuf_fini(&bytes);
	uint8_t *ap = (uint8_t *)a;
	if (!rc && (rc = keep_reply(m, &b)) == TRAWL_OK)
		rc = keep_reply(m, &ap);
	if (rc) {
		free(b);
		free(ap);
		snprintf(m->why, sizeof m->why, "%s",
		         rc == TRAWL_EINVAL ? "a leaf's sort values are not a JSON array"
		                            : "out of memory for the keyword sort values");
		return rc;
	}
	*kw = a;
	return TRAWL_OK;
}

/* The aggregations' partial of a reply, decoded and merged into m->agg. */
static int add_aggs(root_merge *m, const wire_header *h, const wire_search_reply *sr)
{
	if (!(h->flags & WIRE_F_AGGS) || !sr->aggs) {
		snprintf(m->why, sizeof m->why,
		         "a leaf's reply lacks the aggregations' partial result it was asked for");
		return TRAWL_EINVAL;
	}
	aggs_result *part = NULL;
	char err[200];
	int rc = aggs_result_decode(m->aggs, sr->aggs, sr->aggs_len, &part, err, sizeof err);
	if (!rc && !m->agg) {
		m->agg = part;
		return TRAWL_OK;
	}
	if (!rc)
		rc = aggs_merge(m->aggs, m->agg, part, err, sizeof err);
	if (rc)
		snprintf(m->why, sizeof m->why, "aggregations: %s", err);
	return rc;
}

static int add_locked(root_merge *m, const wire_header *h, const wire_search_reply *sr,
                      uint32_t leaf, uint32_t source, uint8_t **reply);

int merge_add(root_merge *m, const wire_header *h, const wire_search_reply *sr, uint32_t leaf,
              uint32_t source, uint8_t **reply)
{
	if (m->lock)
		pthread_mutex_lock(m->lock);
	int rc = add_locked(m, h, sr, leaf, source, reply);
	if (m->lock)
		pthread_mutex_unlock(m->lock);
	return rc;
}

static int add_locked(root_merge *m, const wire_header *h, const wire_search_reply *sr,
                      uint32_t leaf, uint32_t source, uint8_t **reply)
{
	if (m->aggs) {
		int rc = add_aggs(m, h, sr);
		if (rc)
			return rc;
	}
	if (h->flags & WIRE_F_PARTIAL) {
		m->partial = 1;
		m->total_exact = 0;
	}
	if (sr->total_relation != WIRE_TOTAL_EQ)
		m->total_exact = 0;
	m->total += sr->total;
	m->docs_searched += sr->docs_searched;
	if (h->generation > m->generation)
		m->generation = h->generation;
	if (!m->oldest_generation || h->generation < m->oldest_generation)
		m->oldest_generation = h->generation;
	if (m->n + sr->nhits > m->cap) {
		size_t nc = (m->n + sr->nhits) * 2;
		merge_hit *nh = realloc(m->hits, nc * sizeof *nh);
		if (!nh)
			return TRAWL_ENOMEM;
		m->hits = nh;
		m->cap = nc;
	}
	const char **ids = NULL;
	uint32_t *lens = NULL;
	wire_sortval *sv = NULL;
	if (m->nsort && sr->nhits) {
		/* sort values are what the hits merge by: a reply without them, or
		 * with another number of keys, cannot be merged */
		if (!(h->flags & WIRE_F_SORT) || sr->nsort != m->nsort)
			return TRAWL_EINVAL;
		if (!(sv = malloc(sr->nhits * sizeof *sv)))
			return TRAWL_ENOMEM;
		wire_search_reply_sorts(sr, sv);
	}
	int has_ids = sr->nhits && (h->flags & WIRE_F_IDS) && reply_ids(sr, &ids, &lens);
	merge_kw *kw = NULL;
	int rc = (has_ids || sv) && *reply ? keep_reply(m, reply) : TRAWL_OK;
	if (!rc && sv)
		rc = keyword_values(m, sv, sr->nhits, &kw);
	if (rc) {
		free(ids);
		free(lens);
		free(sv);
		return rc;
	}
	int no_store = (h->flags & WIRE_F_NO_STORE) != 0;
	for (uint32_t i = 0; i < sr->nhits; i++) {
		merge_hit *mh = &m->hits[m->n++];
		wire_search_reply_hit(sr, i, &mh->h);
		mh->leaf = leaf;
		mh->generation = h->generation;
		mh->id = ids ? ids[i] : NULL;
		mh->id_len = ids ? lens[i] : 0;
		mh->no_store = no_store;
		mh->source = source;
		if (sv)
			mh->sv = sv[i];
		else
			memset(&mh->sv, 0, sizeof mh->sv);
		mh->kw = kw ? &kw[i] : NULL;
	}
	free(ids);
	free(lens);
	free(sv);
	return TRAWL_OK;
}

/* The last of the ties: hits of several indexes with the same id (hash)
 * go in index order, then shard order. */
static int cmp_place(const merge_hit *x, const merge_hit *y)
{
	if (x->source != y->source)
		return x->source < y->source ? -1 : 1;
	return (x->h.shard > y->h.shard) - (x->h.shard < y->h.shard);
}

static int cmp_hit(const void *a, const void *b)
{
	const merge_hit *x = a, *y = b;
	if (x->h.score != y->h.score)
		return x->h.score > y->h.score ? -1 : 1;
	if (x->h.hash != y->h.hash)
		return x->h.hash < y->h.hash ? -1 : 1;
	return cmp_place(x, y);
}

/* The sort's order (trawl_results_sort_keys says how keys compare), then
 * the id hash, as inside a library search. */
static int cmp_sorted(const void *a, const void *b, void *ctx)
{
	const root_merge *m = ctx;
	const merge_hit *x = a, *y = b;
	for (uint32_t i = 0; i < m->nsort; i++) {
		int mx = (x->sv.missing >> i) & 1, my = (y->sv.missing >> i) & 1;
		if (mx != my)
			return (m->sort[i].missing_first ? mx : my) ? -1 : 1;
		if (mx)
			continue;
		const char *s = x->kw ? x->kw->s[i] : NULL, *t = y->kw ? y->kw->s[i] : NULL;
		if (s && t) { /* keywords: by their bytes (merge_kw) */
			uint32_t ls = x->kw->len[i], lt = y->kw->len[i];
			int c = memcmp(s, t, ls < lt ? ls : lt);
			c = c ? c : (ls > lt) - (ls < lt);
			if (c)
				return (m->sort[i].desc ? c > 0 : c < 0) ? -1 : 1;
			continue;
		}
		int64_t p = x->sv.v[i], q = y->sv.v[i];
		if (p != q)
			return (m->sort[i].desc ? p > q : p < q) ? -1 : 1;
	}
	if (x->h.hash != y->h.hash)
		return x->h.hash < y->h.hash ? -1 : 1;
	return cmp_place(x, y);
}

void merge_page(root_merge *m, uint32_t offset, uint32_t k, const merge_hit **page, uint32_t *n)
{
	if (m->n && m->nsort)
		qsort_r(m->hits, m->n, sizeof *m->hits, cmp_sorted, m);
	else if (m->n)
		qsort(m->hits, m->n, sizeof *m->hits, cmp_hit);
	uint32_t from = offset < m->n ? offset : (uint32_t)m->n;
	*n = (uint32_t)(m->n - from) < k ? (uint32_t)(m->n - from) : k;
	*page = m->hits + from;
}

void merge_result(const root_merge *m, root_result *res)
{
	res->total = m->total;
	res->total_exact = m->total_exact;
	res->partial |= m->partial;
	res->docs_searched = m->docs_searched;
	res->generation = m->generation;
	res->oldest_generation = m->oldest_generation;
}

void merge_fini(root_merge *m)
{
	for (unsigned i = 0; i < m->nkept; i++)
		free(m->kept[i]);
	free(m->kept);
	free(m->hits);
	if (m->aggs)
		aggs_result_free(m->aggs, m->agg);
	memset(m, 0, sizeof *m);
}
