/*
 * sort.c - a search's sort by fields: trawl_search_opts' keys and
 * search_after checked against the index and turned into the engine's
 * idx_sort (search.h), and a hit's sort values written back as JSON
 * (trawl_results_sort_json), the one form they take outside: the HTTP APIs
 * return it and take it back as search_after.
 *
 * A value is an int64 that orders like the value (search.h): a number's key
 * (columns.h), 2 x a keyword's global ordinal, or _score's idx_double_key.
 * A search_after keyword that is no value of the field becomes 2 x its
 * place in the dictionary - 1: between the ordinals around it, so that
 * "after" means the same whether or not the value is there.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "handles.h"
#include "sort.h"
#include "values.h"

_Static_assert(LIMIT_SORT_KEYS <= 8, "missing values are a byte of bits");

int idx_sort_compile(const trawl_index *idx, const idx_sview *v, const trawl_search_opts *o,
                     idx_sort *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	if (!o->sort || o->nsort == 0) {
		if (o->search_after)
			return errf(err, errlen, TRAWL_EINVAL,
			            "search_after needs a sort by fields (the order it continues)");
		return TRAWL_OK;
	}
	if (o->nsort > LIMIT_SORT_KEYS)
		return errf(err, errlen, TRAWL_ELIMIT,
		            "a sort has at most %d keys; this one has %u", LIMIT_SORT_KEYS,
		            o->nsort);
	const idx_schema *sc = &idx->schema;
	out->nkeys = o->nsort;
	for (uint32_t i = 0; i < o->nsort; i++) {
		const trawl_sort *k = &o->sort[i];
		idx_sortkey *x = &out->key[i];
		if (!k->field || !k->field[0])
			return errf(err, errlen, TRAWL_EINVAL, "sort key %u names no field", i + 1);
		if (k->mode < TRAWL_SORT_DEFAULT || k->mode > TRAWL_SORT_MAX)
			return errf(err, errlen, TRAWL_EINVAL, "sort key %u: unknown mode %d",
			            i + 1, k->mode);
		x->desc = (uint8_t)(k->desc != 0);
		x->missing_first = (uint8_t)(k->missing_first != 0);
		x->mode_max = (uint8_t)(k->mode == TRAWL_SORT_MAX ||
		                        (k->mode == TRAWL_SORT_DEFAULT && k->desc));
		if (!strcmp(k->field, "_score")) {
			x->typed = -1;
			continue;
		}
		int t = -1;
		for (uint32_t j = 0; j < sc->ntyped && t < 0; j++)
			if (!strcmp(sc->typed[j].name, k->field))
				t = (int)j;
		if (t < 0)
			return errf(
			    err, errlen, TRAWL_EINVAL,
			    idx_schema_field(sc, k->field, strlen(k->field)) >= 0
			        ? "cannot sort by field \"%.64s\": it is a text field (sort "
			          "by its keyword twin, or by a typed field)"
			        : "cannot sort by field \"%.64s\": the index has no such field",
			    k->field);
		if (!sc->typed[t].doc_values)
			return errf(
			    err, errlen, TRAWL_EINVAL,
			    "cannot sort by field \"%.64s\": its schema sets \"doc_values\": "
			    "false",
			    k->field);
		/* A keyword sorts by its number in the dictionary of the segments
		 * open here: the generation's in every shard file a whole build
		 * wrote, but a union when updates added segments, of this process's
		 * segments only: a root merging leaves compares the values' bytes
		 * (the strings of the sort values' JSON, root/merge.c), never the
		 * numbers of two processes. */
		x->typed = t;
	}
	if (!o->search_after)
		return TRAWL_OK;
	json_error_t je;
	json_t *a =
	    json_loadb(o->search_after, o->search_after_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
	if (!a || !json_is_array(a) || json_array_size(a) != (size_t)o->nsort + 1) {
		size_t got = a && json_is_array(a) ? json_array_size(a) : 0;
		json_decref(a);
		return errf(err, errlen, TRAWL_EINVAL,
		            "search_after must be a JSON array of %u values (the sort's %u, then "
		            "the tiebreaker of the last hit's sort values)%s%zu",
		            o->nsort + 1, o->nsort, got ? "; it has " : "", got);
	}
	int rc = TRAWL_OK;
	char why[200];
	tbuf lit;
	tbuf_init(&lit, (size_t)LIMIT_KEYWORD_BYTES * 8);
	for (uint32_t i = 0; i < o->nsort && !rc; i++) {
		json_t *e = json_array_get(a, i);
		idx_sortkey *x = &out->key[i];
		if (json_is_null(e)) {
			out->after.missing |= (uint8_t)(1u << i);
			continue;
		}
		if (x->typed < 0) {
			if (!json_is_number(e)) {
				rc = errf(err, errlen, TRAWL_EINVAL,
				          "search_after[%u]: a score is a number", i);
				break;
			}
			out->after.v[i] = idx_double_key((double)(float)json_number_value(e));
			continue;
		}
		const idx_tfield *f = &sc->typed[x->typed];
		if (json_is_integer(e) && (f->type == IDX_LONG || f->type == IDX_DATE)) {
			/* a long, or a date's milliseconds, as the sort values give
			 * them: the key itself (as text, 1000 would read as a year) */
			out->after.v[i] = json_integer_value(e);
			continue;
		}
		char num[64];
		const char *text;
		size_t len;
		if (json_is_string(e)) {
			text = json_string_value(e);
			len = json_string_length(e);
		} else if (json_is_integer(e)) {
			len = (size_t)snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT,
			                       json_integer_value(e));
			text = num;
		} else if (json_is_real(e)) {
			len = (size_t)snprintf(num, sizeof num, "%.17g", json_real_value(e));
			text = num;
		} else if (json_is_boolean(e)) {
			text = json_is_true(e) ? "true" : "false";
			len = strlen(text);
		} else {
			rc = errf(
			    err, errlen, TRAWL_EINVAL,
			    "search_after[%u]: field \"%s\" takes a value, not an array or object",
			    i, f->name);
			break;
		}
		int64_t key = 0;
		int lr = idx_value_literal(f, text, len, &lit, &key, why, sizeof why);
		if (lr == TRAWL_EINVAL) {
			rc = errf(err, errlen, TRAWL_EINVAL,
			          "search_after[%u]: field \"%s\" (%s): %s", i, f->name,
			          idx_ftype_name(f->type), why);
			break;
		}
		if (lr) {
			rc = lr;
			break;
		}
		if (f->type == IDX_KEYWORD) {
			int64_t o2 = v ? idx_kwdict_find(v->cols[x->typed].gdict, lit.data,
			                                 (uint32_t)lit.len)
			               : -1;
			key = o2 >= 0 ? 2 * o2 : 2 * (-1 - o2) - 1;
		}
		out->after.v[i] = key;
	}
	if (!rc) {
		json_t *h = json_array_get(a, o->nsort);
		const char *hs = json_is_string(h) ? json_string_value(h) : NULL;
		char *end = NULL;
		unsigned long long hv = hs && *hs >= '0' && *hs <= '9' ? strtoull(hs, &end, 10) : 0;
		if (!hs || !end || *end || json_string_length(h) > 20 ||
		    (hv == ULLONG_MAX && strcmp(hs, "18446744073709551615")))
			rc = errf(err, errlen, TRAWL_EINVAL,
			          "search_after[%u]: the tiebreaker is the last element of a hit's "
			          "sort values, a string of decimal digits",
			          o->nsort);
		out->after_hash = hv;
		out->has_after = 1;
	}
	tbuf_fini(&lit);
	json_decref(a);
	return rc;
}

size_t idx_sort_json(const trawl_index *idx, const idx_sview *v, const idx_sort *s,
                     const idx_hit *h, char *buf, size_t cap)
{
	if (!s->nkeys) {
		if (cap)
			buf[0] = 0;
		return 0;
	}
	tbuf out;
	tbuf_init(&out, (size_t)LIMIT_SORT_KEYS * (LIMIT_KEYWORD_BYTES * 6 + 64) + 64);
	int rc = tbuf_putc(&out, '[');
	for (uint32_t i = 0; i < s->nkeys && !rc; i++) {
		char num[64];
		if (i)
			rc = tbuf_putc(&out, ',');
		if (rc)
			break;
		if ((h->sv.missing >> i) & 1) {
			rc = tbuf_append(&out, "null", 4);
			continue;
		}
		int64_t x = h->sv.v[i];
		if (s->key[i].typed < 0) {
			rc = tbuf_append(
			    &out, num,
			    (size_t)snprintf(num, sizeof num, "%.9g", idx_key_double(x)));
			continue;
		}
		const idx_tfield *f = &idx->schema.typed[s->key[i].typed];
		switch (f->type) {
		case IDX_KEYWORD: {
			uint32_t len = 0;
			const uint8_t *p = NULL;
			if (v && x >= 0 && (uint64_t)x / 2 < v->cols[s->key[i].typed].gdict->n)
				p = idx_kwdict_value(v->cols[s->key[i].typed].gdict,
				                     (uint32_t)(x / 2), &len);
			json_t *js = json_stringn(p ? (const char *)p : "", len);
			char *d = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
			rc = d ? tbuf_append(&out, d, strlen(d)) : TRAWL_ENOMEM;
			free(d);
			json_decref(js);
			break;
		}
		case IDX_DOUBLE:
			rc = tbuf_append(
			    &out, num,
			    (size_t)snprintf(num, sizeof num, "%.17g", idx_key_double(x)));
			break;
		case IDX_BOOLEAN:
			rc = x ? tbuf_append(&out, "true", 4) : tbuf_append(&out, "false", 5);
			break;
		default: /* long, date (milliseconds) */
			rc = tbuf_append(&out, num,
			                 (size_t)snprintf(num, sizeof num, "%lld", (long long)x));
			break;
		}
	}
	char tail[32];
	if (!rc)
		rc = tbuf_append(
		    &out, tail,
		    (size_t)snprintf(tail, sizeof tail, ",\"%llu\"]", (unsigned long long)h->hash));
	size_t n = rc ? 0 : out.len;
	if (cap) {
		size_t c = n < cap - 1 ? n : cap - 1;
		if (c)
			memcpy(buf, out.data, c);
		buf[c] = 0;
	}
	tbuf_fini(&out);
	return n;
}
