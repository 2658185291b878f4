/*
 * results.c - trawl_results_*: a search's hits, their ids, scores and
 * shards, and the stored documents and snippets read for them on demand.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/hash.h"
#include "gen.h"
#include "handles.h"
#include "postings.h"
#include "search.h"
#include "sort.h"

void trawl_results_free(trawl_results *r)
{
	if (!r)
		return;
	for (uint32_t i = 0; i < r->n; i++) {
		free(r->hits[i].id);
		free(r->hits[i].doc);
		free(r->hits[i].snip);
	}
	free(r->hits);
	if (r->aggs)
		aggs_result_free(r->aggs_spec, r->aggs);
	arena_fini(&r->qa);
	free(r);
}

uint32_t trawl_results_count(const trawl_results *r)
{
	return r->n;
}

uint64_t trawl_results_total(const trawl_results *r)
{
	return r->total;
}

const char *trawl_results_id(const trawl_results *r, uint32_t i)
{
	return i < r->n ? r->hits[i].id : NULL;
}

double trawl_results_score(const trawl_results *r, uint32_t i)
{
	return i < r->n ? (double)r->hits[i].h.score : 0.0;
}

size_t trawl_results_sort_json(const trawl_results *r, uint32_t i, char *buf, size_t cap)
{
	if (i >= r->n || !r->s) {
		if (cap)
			buf[0] = 0;
		return 0;
	}
	/* the hit's own shard: the one the search has read */
	const trawl_index *idx = r->s->idx;
	uint32_t ld;
	int32_t li = idx_seg_of(idx, r->hits[i].h.shard, r->hits[i].h.doc, &ld);
	return idx_sort_json(idx, li >= 0 ? &r->s->views[li] : NULL, &r->sort, &r->hits[i].h, buf,
	                     cap);
}

char *trawl_results_aggs(const trawl_results *r, int partial)
{
	if (!r->aggs)
		return NULL;
	char err[256], *out = NULL;
	size_t len;
	if (partial)
		return aggs_result_encode(r->aggs_spec, r->aggs, &out, &len, err, sizeof err) ? NULL
		                                                                              : out;
	return aggs_render(r->aggs_spec, r->aggs, &out, &len, err, sizeof err) ? NULL : out;
}

uint32_t trawl_results_sort_keys(const trawl_results *r, uint32_t i,
                                 int64_t keys[TRAWL_MAX_SORT_KEYS], uint8_t *missing)
{
	*missing = 0;
	if (i >= r->n || !r->sort.nkeys)
		return 0;
	memcpy(keys, r->hits[i].h.sv.v, r->sort.nkeys * sizeof *keys);
	*missing = r->hits[i].h.sv.missing;
	return r->sort.nkeys;
}

int trawl_results_partial(const trawl_results *r)
{
	return r->partial;
}

uint64_t trawl_results_docs_searched(const trawl_results *r)
{
	return r->searched;
}

uint32_t trawl_results_shard(const trawl_results *r, uint32_t i)
{
	return i < r->n ? r->hits[i].h.shard : 0;
}

uint32_t trawl_results_docno(const trawl_results *r, uint32_t i)
{
	return i < r->n ? r->hits[i].h.doc : 0;
}

uint64_t trawl_results_hash(const trawl_results *r, uint32_t i)
{
	return i < r->n ? r->hits[i].h.hash : 0;
}

char *idx_extid_dup(const idx_sview *v, uint32_t doc)
{
	uint32_t n;
	const uint8_t *id = idx_view_extid(v, doc, &n);
	char *s = malloc(n + 1);
	if (s) {
		if (n)
			memcpy(s, id, n);
		s[n] = 0;
	}
	return s;
}

/* Fetches and decompresses document doc of segment i (its own number). */
int idx_fetch_doc(trawl_searcher *s, uint32_t i, uint32_t doc, char **out, size_t *len)
{
	idx_sview *v = &s->views[i];
	if (!v->zdec && idx_zdec_alloc(&v->zdec, v->zdict, v->zdict_len))
		return TRAWL_ENOMEM;
	uint8_t key[4] = {(uint8_t)(doc >> 24), (uint8_t)(doc >> 16), (uint8_t)(doc >> 8),
	                  (uint8_t)doc};
	const void *rec;
	size_t n;
	int rc = idx_store_get(v->txn, IDX_DB_DOCS, key, 4, &rec, &n);
	if (rc)
		return rc;
	return idx_zdec_record(v->zdec, rec, n, out, len);
}

const char *trawl_results_doc(trawl_results *r, uint32_t i, size_t *len, int *err)
{
	if (i >= r->n) {
		if (err)
			*err = TRAWL_EINVAL;
		return NULL;
	}
	rhit *h = &r->hits[i];
	if (!h->doc && !h->docerr) {
		uint32_t ld = 0;
		int32_t li = idx_seg_of(r->s->idx, h->h.shard, h->h.doc, &ld);
		if (!h->id || li < 0)
			h->docerr = TRAWL_ENOTFOUND;
		else
			h->docerr = idx_fetch_doc(r->s, (uint32_t)li, ld, &h->doc, &h->doclen);
		if (h->docerr == TRAWL_ECORRUPT)
			idx_serr(r->s, TRAWL_ECORRUPT, "%s: stored document %s fails its checksum",
			         r->s->idx->segs[li].path, h->id);
	}
	if (err)
		*err = h->docerr;
	if (len)
		*len = h->doclen;
	return h->doc;
}

const char *trawl_results_snippet(trawl_results *r, uint32_t i, const char *field, const char *pre,
                                  const char *post, size_t max_chars)
{
	size_t dlen;
	const char *doc = trawl_results_doc(r, i, &dlen, NULL);
	int fid = field ? idx_schema_field(&r->s->idx->schema, field, strlen(field)) : -1;
	if (!doc || fid < 0)
		return NULL;
	idx_lquery none = {0};
	const idx_lquery *lq = r->has_query ? &r->lq : &none;
	rhit *h = &r->hits[i];
	free(h->snip);
	h->snip = NULL;
	json_t *root = json_loadb(doc, dlen, 0, NULL);
	json_t *v = root ? json_object_get(root, field) : NULL;
	tbuf text, out;
	tbuf_init(&text, LIMIT_STORED_DOC_BYTES);
	tbuf_init(&out, LIMIT_STORED_DOC_BYTES);
	int ok = 0;
	if (json_is_string(v)) {
		ok = !tbuf_append(&text, json_string_value(v), json_string_length(v));
	} else if (json_is_array(v)) {
		size_t k;
		json_t *e;
		ok = 1;
		json_array_foreach(v, k, e)
		{
			if (json_is_string(e) &&
			    ((k && tbuf_putc(&text, '\n')) ||
			     tbuf_append(&text, json_string_value(e), json_string_length(e))))
				ok = 0;
		}
	}
	json_decref(root);
	if (ok && idx_snippet(r->s->an[r->s->idx->schema.fields[fid].analyzer], lq, (uint8_t)fid,
	                      (const char *)text.data ? (const char *)text.data : "", text.len,
	                      pre ? pre : "<em>", post ? post : "</em>",
	                      max_chars ? max_chars : 200, &out) == 0) {
		h->snip = strdup(tbuf_cstr(&out));
	}
	tbuf_fini(&text);
	tbuf_fini(&out);
	return h->snip;
}
