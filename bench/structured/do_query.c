/*
 * do_query.c - trawl's answers to the structured-search protocol
 * (../../../shared/peers/structured/README.md):
 * `do_query INDEX_DIR SCHEMA.json` reads one JSON request per line and
 * writes one JSON answer per line, flushed.
 *
 * A request becomes one trawl query: q's words (the protocol's analysis,
 * proto.c) as optional clauses, or every document when it has none; each
 * filter clause as a trawl filter (trawl_query_parse_filter: never scores);
 * a sort as trawl sort keys with the id's keyword last (the protocol breaks
 * ties by id); aggregations as trawl's (Elasticsearch-shaped) request, and
 * their answer's text read in place and written again as the protocol's
 * bucket lists. The filter cache is
 * off: the benchmark repeats identical requests, and the peers run without
 * their query caches too.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "common/memtune.h"
#include "proto.h"
#include "trawl/trawl.h"

typedef struct ctx {
	pschema s;
	trawl_index *idx;
	trawl_searcher *srch;
	char err[1024];
} ctx;

/* Appends text to buf (cap bytes, *n used); 0 or -1 when full. */
static int put(char *buf, size_t cap, size_t *n, const char *text)
{
	size_t l = strlen(text);
	if (*n + l + 1 > cap)
		return -1;
	memcpy(buf + *n, text, l + 1);
	*n += l;
	return 0;
}

/* A value of field f as a query-language literal into out (quoted for a
 * keyword). round: for a number, how a fraction rounds (-1 floor, 1 ceil,
 * 0 refuse). 0, or -1 with the reason in err. */
static int literal(const ctx *c, int f, json_t *v, int round, char *out, size_t cap, char *err)
{
	switch (c->s.type[f]) {
	case P_KEYWORD:
	case P_KEYWORD_MULTI: {
		if (!json_is_string(v))
			return snprintf(err, 256, "field %s takes a string", c->s.name[f]), -1;
		const char *s = json_string_value(v);
		size_t n = 0;
		out[n++] = '"';
		for (; *s && n + 3 < cap; s++) {
			if (*s == '"' || *s == '\\')
				out[n++] = '\\';
			out[n++] = *s;
		}
		if (*s)
			return snprintf(err, 256, "a value of %s is too long", c->s.name[f]), -1;
		out[n++] = '"';
		out[n] = 0;
		return 0;
	}
	case P_INTEGER:
		if (json_is_integer(v)) {
			snprintf(out, cap, "%lld", (long long)json_integer_value(v));
			return 0;
		}
		if (json_is_real(v) && round) {
			double d = round < 0 ? floor(json_real_value(v)) : ceil(json_real_value(v));
			if (d < -9.2e18 || d > 9.2e18)
				return snprintf(err, 256, "%s: bound out of range", c->s.name[f]),
				       -1;
			snprintf(out, cap, "%lld", (long long)d);
			return 0;
		}
		return snprintf(err, 256, "field %s takes an integer", c->s.name[f]), -1;
	case P_DATE: {
		int64_t ms;
		if (json_is_real(v) && round) {
			double d = round < 0 ? floor(json_real_value(v)) : ceil(json_real_value(v));
			ms = (int64_t)d;
		} else if (p_date(v, &ms)) {
			return snprintf(err, 256, "field %s takes a date", c->s.name[f]), -1;
		}
		/* quoted digits: a date of epoch milliseconds */
		snprintf(out, cap, "\"%lld\"", (long long)ms);
		if (ms >= 0 && ms < 10000) /* too short to read as milliseconds: ISO */
			snprintf(out, cap, "\"1970-01-01T00:00:%02lld.%03lldZ\"",
			         (long long)ms / 1000, (long long)ms % 1000);
		return 0;
	}
	case P_BOOLEAN:
		if (!json_is_boolean(v))
			return snprintf(err, 256, "field %s takes true or false", c->s.name[f]), -1;
		snprintf(out, cap, "%s", json_is_true(v) ? "true" : "false");
		return 0;
	}
	return snprintf(err, 256, "field %s cannot be filtered", c->s.name[f]), -1;
}

/* The filter clause cl (one of the protocol's) as query-language text. */
static int filter_text(const ctx *c, json_t *cl, char *out, size_t cap, char *err)
{
	const char *op = NULL;
	json_t *body = NULL;
	if (!json_is_object(cl) || json_object_size(cl) != 1)
		return snprintf(err, 256, "a filter clause is an object with one key"), -1;
	json_object_foreach(cl, op, body) break;
	char lit[4096];
	size_t n = 0;
	out[0] = 0;
	if (!strcmp(op, "exists")) {
		const char *name = json_string_value(body);
		if (!name || p_field(&c->s, name) < 0)
			return snprintf(err, 256, "exists: unknown field"), -1;
		snprintf(out, cap, "_exists_:%s", name);
		return 0;
	}
	const char *name = NULL;
	json_t *v = NULL;
	if (!json_is_object(body) || json_object_size(body) != 1)
		return snprintf(err, 256, "%s: one field", op), -1;
	json_object_foreach(body, name, v) break;
	int f = p_field(&c->s, name);
	if (f < 0 || c->s.type[f] == P_TEXT)
		return snprintf(err, 256, "%s: unknown or text field %s", op, name), -1;
	if (!strcmp(op, "term")) {
		if (literal(c, f, v, 0, lit, sizeof lit, err))
			return -1;
		snprintf(out, cap, "%s:%s", name, lit);
		return 0;
	}
	if (!strcmp(op, "terms")) {
		if (!json_is_array(v) || !json_array_size(v))
			return snprintf(err, 256, "terms: a non-empty list"), -1;
		size_t i;
		json_t *e;
		if (put(out, cap, &n, "("))
			return -1;
		json_array_foreach(v, i, e)
		{
			char one[4200];
			if (literal(c, f, e, 0, lit, sizeof lit, err))
				return -1;
			snprintf(one, sizeof one, "%s%s:%s", i ? " OR " : "", name, lit);
			if (put(out, cap, &n, one))
				return snprintf(err, 256, "terms: too many values"), -1;
		}
		return put(out, cap, &n, ")");
	}
	if (!strcmp(op, "range")) {
		if (!json_is_object(v) || !json_object_size(v))
			return snprintf(err, 256, "range: bounds"), -1;
		const char *b;
		json_t *x;
		json_object_foreach(v, b, x)
		{
			int round = 0;
			const char *sym = !strcmp(b, "gte")   ? ">="
			                  : !strcmp(b, "gt")  ? ">"
			                  : !strcmp(b, "lte") ? "<="
			                  : !strcmp(b, "lt")  ? "<"
			                                      : NULL;
			if (!sym)
				return snprintf(err, 256, "range: unknown bound %s", b), -1;
			/* a fraction: x >= 2.5 is x >= 3, x > 2.5 is x >= 3, x <= 2.5 is
			 * x <= 2, x < 2.5 is x <= 2 */
			if (json_is_real(x) && json_real_value(x) != floor(json_real_value(x))) {
				round = sym[0] == '>' ? 1 : -1;
				sym = sym[0] == '>' ? ">=" : "<=";
			} else if (json_is_real(x)) {
				round = -1; /* a whole number written with a point: itself */
			}
			if (literal(c, f, x, round, lit, sizeof lit, err))
				return -1;
			char one[4200];
			snprintf(one, sizeof one, "%s+%s:%s%s", n ? " " : "", name, sym, lit);
			if (put(out, cap, &n, one))
				return -1;
		}
		return 0;
	}
	return snprintf(err, 256, "unknown filter %s", op), -1;
}

/* The protocol's aggregations as trawl's (Elasticsearch's) request, or NULL
 * with err set. */
static json_t *trawl_aggs_of(const ctx *c, json_t *aggs, char *err, size_t errlen)
{
	json_t *out = json_object();
	const char *name;
	json_t *a;
	json_object_foreach(aggs, name, a)
	{
		const char *kind = NULL;
		json_t *body = NULL;
		if (json_is_object(a) && json_object_size(a) == 1)
			json_object_foreach(a, kind, body) break;
		json_t *fj = kind ? json_object_get(body, "field") : NULL;
		if (!kind || !json_is_string(fj) || p_field(&c->s, json_string_value(fj)) < 0) {
			snprintf(err, errlen, "aggs.%s: an aggregation of one known field", name);
			json_decref(out);
			return NULL;
		}
		json_t *t = json_object();
		json_object_set(t, "field", fj);
		if (!strcmp(kind, "terms")) {
			json_t *size = json_object_get(body, "size");
			json_object_set_new(
			    t, "size",
			    json_integer(json_is_integer(size) ? json_integer_value(size) : 10));
		} else if (!strcmp(kind, "histogram")) {
			json_object_set(t, "interval", json_object_get(body, "interval"));
			json_object_set_new(t, "min_doc_count", json_integer(1));
		} else if (!strcmp(kind, "date_histogram")) {
			json_object_set(t, "calendar_interval",
			                json_object_get(body, "calendar_interval"));
			json_object_set_new(t, "min_doc_count", json_integer(1));
		} else if (strcmp(kind, "stats") && strcmp(kind, "cardinality")) {
			snprintf(err, errlen, "aggs.%s: unknown aggregation %s", name, kind);
			json_decref(t);
			json_decref(out);
			return NULL;
		}
		json_object_set_new(out, name, json_pack("{s:o}", kind, t));
	}
	return out;
}

/*
 * trawl's answer to the aggregations is read as text, without a tree: the
 * adapter only picks each aggregation's buckets (key, doc_count) or its
 * numbers and writes them again in the protocol's shapes, and parsing the
 * answer of a daily histogram (thousands of buckets) into a jansson tree was
 * a third of such a request's time. trawl writes the answer (valid JSON);
 * these read it, and stop at anything they do not expect.
 */

/* A value in the answer's text: [p, e). */
typedef struct span {
	const char *p, *e;
} span;

static const char *skip_ws(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* The end of the string whose opening quote is at p, or NULL: the next
 * quote after an even number of backslashes (memchr, not a byte at a time:
 * a daily histogram's answer is mostly strings). */
static const char *skip_string(const char *p, const char *e)
{
	const char *s = p + 1;
	for (const char *q = s; q < e; q++) {
		if (!(q = memchr(q, '"', (size_t)(e - q))))
			return NULL;
		size_t bs = 0;
		while (q - bs > s && q[-1 - (ptrdiff_t)bs] == '\\')
			bs++;
		if (bs % 2 == 0)
			return q + 1;
	}
	return NULL;
}

/* The end of the value at p (no white space before it), or NULL. */
static const char *skip_value(const char *p, const char *e)
{
	if (p >= e)
		return NULL;
	if (*p == '"')
		return skip_string(p, e);
	if (*p == '{' || *p == '[') {
		int depth = 0;
		while (p < e) {
			if (*p == '"') {
				if (!(p = skip_string(p, e)))
					return NULL;
				continue;
			}
			if (*p == '{' || *p == '[')
				depth++;
			else if ((*p == '}' || *p == ']') && --depth == 0)
				return p + 1;
			p++;
		}
		return NULL;
	}
	const char *s = p; /* a number, true, false or null */
	while (p < e && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n')
		p++;
	return p > s ? p : NULL;
}

/* Whether the string at [k, ke) (quotes included) is name (n bytes). */
static int key_is(const char *k, const char *ke, const char *name, size_t n)
{
	if (!memchr(k, '\\', (size_t)(ke - k))) /* nothing escaped: as it is */
		return (size_t)(ke - k) == n + 2 && !memcmp(k + 1, name, n);
	json_t *j = json_loadb(k, (size_t)(ke - k), JSON_DECODE_ANY, NULL);
	int is = json_is_string(j) && json_string_length(j) == n &&
	         !memcmp(json_string_value(j), name, n);
	json_decref(j);
	return is;
}

/*
 * Calls f for each member of the object at p (key: its string, quotes
 * included) or each element of the array at p (key: {NULL, NULL}), with
 * the text from the value on (v.p: the value, v.e: the text's end); f
 * returns where the value ends, or NULL to stop. Returns where the object
 * or array ends, or NULL.
 */
typedef const char *(*each_fn)(void *arg, span key, span v);

static const char *each(const char *p, const char *e, each_fn f, void *arg)
{
	p = skip_ws(p, e);
	if (p >= e || (*p != '{' && *p != '['))
		return NULL;
	char close = *p == '{' ? '}' : ']';
	p = skip_ws(p + 1, e);
	if (p < e && *p == close)
		return p + 1;
	for (;;) {
		span k = {NULL, NULL};
		if (close == '}') {
			if (p >= e || *p != '"' || !(k.e = skip_string(p, e)))
				return NULL;
			k.p = p;
			p = skip_ws(k.e, e);
			if (p >= e || *p != ':')
				return NULL;
			p = skip_ws(p + 1, e);
		}
		if (!(p = f(arg, k, (span){p, e})))
			return NULL;
		p = skip_ws(p, e);
		if (p < e && *p == close)
			return p + 1;
		if (p >= e || *p != ',')
			return NULL;
		p = skip_ws(p + 1, e);
	}
}

/* Members looked for: the last of each name (jansson keeps the last). */
typedef struct find {
	uint32_t n;
	const char *name[2];
	size_t len[2];
	span v[2];
} find;

static const char *find_one(void *arg, span k, span v)
{
	find *f = arg;
	const char *end = skip_value(v.p, v.e);
	for (uint32_t i = 0; k.p && end && i < f->n; i++)
		if (key_is(k.p, k.e, f->name[i], f->len[i]))
			f->v[i] = (span){v.p, end};
	return end;
}

/* Looks for one member (b NULL) or two in the object o: each value, or
 * {NULL, NULL}; returns where o ends, or NULL. */
static const char *members(span o, const char *a, span *va, const char *b, span *vb)
{
	find f = {b ? 2 : 1, {a, b}, {strlen(a), b ? strlen(b) : 0}, {{NULL, NULL}, {NULL, NULL}}};
	const char *end = o.p ? each(o.p, o.e, find_one, &f) : NULL;
	*va = f.v[0];
	if (vb)
		*vb = f.v[1];
	return end;
}

static span member(span o, const char *name)
{
	span v;
	members(o, name, &v, NULL, NULL);
	return v;
}

/* The value of member name of the object o, from where it starts to the
 * text's end: found without reading the value (trawl writes a name once
 * in an object), so that a histogram's buckets are read once, by the
 * caller. {NULL, NULL} when o has none. */
typedef struct first {
	const char *name;
	size_t len;
	span v;
} first;

static const char *first_one(void *arg, span k, span v)
{
	first *f = arg;
	if (k.p && key_is(k.p, k.e, f->name, f->len)) {
		f->v = v;
		return NULL; /* found: stop */
	}
	return skip_value(v.p, v.e);
}

static span first_member(span o, const char *name)
{
	first f = {name, strlen(name), {NULL, NULL}};
	if (o.p)
		each(o.p, o.e, first_one, &f);
	return f.v;
}

static int is_number(span v)
{
	return v.p && (*v.p == '-' || (*v.p >= '0' && *v.p <= '9'));
}

static int is_real(span v)
{
	for (const char *p = v.p; is_number(v) && p < v.e; p++)
		if (*p == '.' || *p == 'e' || *p == 'E')
			return 1;
	return 0;
}

static double number(span v)
{
	return is_number(v) ? strtod(v.p, NULL) : 0;
}

static void put_span(span v, FILE *out)
{
	fwrite_unlocked(v.p, 1, (size_t)(v.e - v.p), out);
}

/* One bucket of trawl's answer as the protocol's [key, doc_count]. */
typedef struct bucket_out {
	FILE *out;
	int boolean; /* a terms of a boolean field: the key as true or false */
	int n;
} bucket_out;

/* A number's end in the answer's text (digits, sign, point, exponent). */
static const char *skip_number(const char *p, const char *e)
{
	while (p < e && ((*p >= '0' && *p <= '9') || *p == '-' || *p == '+' || *p == '.' ||
	                 *p == 'e' || *p == 'E'))
		p++;
	return p;
}

/* trawl's commonest bucket, {"key_as_string":"...","key":K,"doc_count":N}
 * or {"key":K,"doc_count":N} and nothing more, read by that shape: where
 * it ends, with its key and count; NULL for any other shape (members()
 * then reads it). A daily histogram's answer is thousands of them. */
static const char *plain_bucket(span b, span *k, span *dc)
{
	static const char as[] = "{\"key_as_string\":\"",
	                  key[] = "\"key\":", count[] = ",\"doc_count\":";
	const char *p = b.p, *e = b.e, *q;
	if (e - p > 18 && !memcmp(p, as, 18)) {
		if (!(q = memchr(p + 18, '"', (size_t)(e - p - 18))) ||
		    memchr(p + 18, '\\', (size_t)(q - p - 18)) || q + 1 >= e || q[1] != ',')
			return NULL;
		p = q + 2;
	} else if (p < e && *p == '{') {
		p++;
	} else {
		return NULL;
	}
	if (e - p < 6 || memcmp(p, key, 6))
		return NULL;
	*k = (span){p + 6, skip_number(p + 6, e)};
	p = k->e;
	if (k->e == k->p || e - p < 13 || memcmp(p, count, 13))
		return NULL;
	*dc = (span){p + 13, skip_number(p + 13, e)};
	p = dc->e;
	return dc->e > dc->p && p < e && *p == '}' ? p + 1 : NULL;
}

static const char *put_bucket(void *arg, span key, span b)
{
	bucket_out *o = arg;
	span k, dc;
	const char *end = plain_bucket(b, &k, &dc);
	if (!end)
		end = members(b, "key", &k, "doc_count", &dc);
	if (!end || !k.p || !dc.p)
		return NULL;
	fputs_unlocked(o->n++ ? ",[" : "[", o->out);
	if (o->boolean) /* trawl's key is 1 or 0 */
		fputs_unlocked(number(k) == 1.0 || (k.e - k.p == 4 && !memcmp(k.p, "true", 4))
		                   ? "true"
		                   : "false",
		               o->out);
	else if (k.e - k.p > 2 && !memcmp(k.e - 2, ".0", 2) && is_number(k) &&
	         memcmp(k.p, "-0", 2) && !memchr(k.p, 'E', (size_t)(k.e - k.p)))
		put_span((span){k.p, k.e - 2}, o->out); /* a whole histogram key: its digits */
	else if (is_real(k)) /* a histogram's key: an integer in the protocol */
		fprintf(o->out, "%lld", (long long)number(k));
	else
		put_span(k, o->out);
	putc_unlocked(',', o->out);
	put_span(dc, o->out);
	putc_unlocked(']', o->out);
	return end;
}

/* A stats' member: an integer (integers, dates), or the number as it is. */
static void put_whole(const char *name, span v, int whole, FILE *out)
{
	fprintf(out, ",\"%s\":", name);
	if (whole)
		fprintf(out, "%lld", (long long)number(v));
	else
		put_span(v, out);
}

/* trawl's answer to the aggregations (JSON text) in the protocol's shapes,
 * written to out. */
static void proto_aggs(const ctx *c, json_t *req_aggs, const char *answer, FILE *out)
{
	span got = {answer, answer + strlen(answer)};
	const char *name;
	json_t *a;
	int n = 0;
	fputc('{', out);
	json_object_foreach(req_aggs, name, a)
	{
		const char *kind = NULL;
		json_t *body = NULL;
		json_object_foreach(a, kind, body) break;
		int f = p_field(&c->s, json_string_value(json_object_get(body, "field")));
		span g = first_member(got, name);
		json_t *nj = json_string(name);
		char *nt = json_dumps(nj, JSON_ENCODE_ANY);
		json_decref(nj);
		if (!strcmp(kind, "cardinality") && !member(g, "value").p) {
			free(nt);
			continue;
		}
		fprintf(out, "%s%s:", n++ ? "," : "", nt);
		free(nt);
		if (!strcmp(kind, "stats")) {
			span cnt = member(g, "count"), avg = member(g, "avg");
			long long count = is_number(cnt) ? strtoll(cnt.p, NULL, 10) : 0;
			int whole = c->s.type[f] != P_TEXT; /* integers, dates: exact integers */
			fprintf(out, "{\"count\":%lld", count);
			if (count == 0) {
				fputs(",\"min\":null,\"max\":null,\"sum\":0,\"avg\":null}", out);
				continue;
			}
			put_whole("min", member(g, "min"), whole, out);
			put_whole("max", member(g, "max"), whole, out);
			put_whole("sum", member(g, "sum"), whole, out);
			if (avg.p) {
				fputs(",\"avg\":", out);
				put_span(avg, out);
			}
			fputc('}', out);
		} else if (!strcmp(kind, "cardinality")) {
			fputs("{\"value\":", out);
			put_span(member(g, "value"), out);
			fputc('}', out);
		} else {
			bucket_out o = {out,
			                strcmp(kind, "terms") == 0 && c->s.type[f] == P_BOOLEAN, 0};
			fputs("{\"buckets\":[", out);
			span bs = first_member(g, "buckets");
			if (bs.p)
				each(bs.p, bs.e, put_bucket, &o);
			fputs("]}", out);
		}
	}
	fputc('}', out);
}

/* Answers one request; the answer's JSON into out. */
static int answer(ctx *c, json_t *req, FILE *out)
{
	char err[1024] = "";
	json_t *qj = json_object_get(req, "q"), *filters = json_object_get(req, "filter"),
	       *sort = json_object_get(req, "sort"), *kj = json_object_get(req, "k");
	const char *qs = json_is_string(qj) ? json_string_value(qj) : "";
	int64_t k = json_is_integer(kj) ? json_integer_value(kj) : 10;
	if (k < 0 || k > TRAWL_MAX_K) {
		fprintf(out, "{\"error\":\"k out of range\"}\n");
		return 0;
	}
	size_t words = 0, cap = strlen(qs) * 2 + 16;
	char *text = malloc(cap);
	p_text_append(qs, strlen(qs), text, cap, &words);
	trawl_query *q = NULL;
	int rc = TRAWL_OK;
	if (words)
		rc = trawl_query_parse(&q, text, words, TRAWL_OP_OR, err, sizeof err);
	free(text);
	size_t i;
	json_t *cl;
	json_array_foreach(filters, i, cl)
	{
		char ft[65536];
		trawl_query *f = NULL;
		if (rc || filter_text(c, cl, ft, sizeof ft, err) ||
		    (rc = trawl_query_parse_filter(&f, ft, strlen(ft), err, sizeof err)) ||
		    (rc = trawl_query_filter(&q, f, err, sizeof err))) {
			rc = rc ? rc : TRAWL_EQUERY;
		}
		trawl_query_free(f);
		if (rc)
			break;
	}
	if (!rc && !q)
		rc = trawl_query_parse(&q, "*:*", 3, TRAWL_OP_OR, err, sizeof err);
	trawl_sort keys[TRAWL_MAX_SORT_KEYS];
	trawl_search_opts o = {0};
	o.k = k ? (uint32_t)k : 1;
	o.count_mode = k ? TRAWL_COUNT_EXACT : TRAWL_COUNT_ONLY;
	json_array_foreach(sort, i, cl)
	{
		const char *name = NULL;
		json_t *dir = NULL;
		if (rc || o.nsort + 1 >= TRAWL_MAX_SORT_KEYS || !json_is_object(cl) ||
		    json_object_size(cl) != 1) {
			rc = rc ? rc : TRAWL_EINVAL;
			snprintf(err, sizeof err, "a sort key is one {field: asc|desc}, at most %d",
			         TRAWL_MAX_SORT_KEYS - 1);
			break;
		}
		json_object_foreach(cl, name, dir) break;
		keys[o.nsort++] = (trawl_sort){
		    name, json_is_string(dir) && !strcmp(json_string_value(dir), "desc"), 0,
		    TRAWL_SORT_DEFAULT};
	}
	if (o.nsort) {
		keys[o.nsort++] = (trawl_sort){P_ID_FIELD, 0, 0, TRAWL_SORT_DEFAULT};
		o.sort = keys;
	}
	json_t *req_aggs = json_object_get(req, "aggs");
	trawl_aggs *aggs = NULL;
	if (!rc && json_is_object(req_aggs) && json_object_size(req_aggs)) {
		json_t *ta = trawl_aggs_of(c, req_aggs, err, sizeof err);
		char *atext = ta ? json_dumps(ta, JSON_COMPACT) : NULL;
		if (!ta)
			rc = TRAWL_EINVAL;
		else if (!(rc = trawl_aggs_parse(&aggs, atext, strlen(atext), err, sizeof err)))
			o.aggs = aggs;
		free(atext);
		json_decref(ta);
	}
	trawl_results *r = NULL;
	if (!rc && (rc = trawl_search_query(c->srch, q, &o, &r)))
		snprintf(err, sizeof err, "%s", trawl_searcher_errmsg(c->srch));
	trawl_query_free(q);
	if (rc) {
		trawl_aggs_free(aggs);
		json_t *e = json_pack("{s:s}", "error", err[0] ? err : trawl_strerror(rc));
		char *js = json_dumps(e, JSON_COMPACT);
		fprintf(out, "%s\n", js);
		free(js);
		json_decref(e);
		return 0;
	}
	fprintf(out, "{\"total\":%llu,\"hits\":[", (unsigned long long)trawl_results_total(r));
	for (uint32_t h = 0; k && h < trawl_results_count(r); h++) {
		json_t *id = json_string(trawl_results_id(r, h));
		char *js = json_dumps(id, JSON_ENCODE_ANY);
		fprintf(out, "%s%s", h ? "," : "", js);
		free(js);
		json_decref(id);
	}
	char *at = aggs ? trawl_results_aggs(r, 0) : NULL;
	fputs("],\"aggs\":", out);
	if (at)
		proto_aggs(c, req_aggs, at, out);
	else
		fputs("{}", out);
	fputs("}\n", out);
	free(at);
	trawl_results_free(r);
	trawl_aggs_free(aggs);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: do_query INDEX_DIR SCHEMA.json\n");
		return EX_USAGE;
	}
	memtune_keep_freed(); /* as the trawl command does */
	ctx c = {0};
	if (p_schema_load(&c.s, argv[2]))
		return EX_DATAERR;
	trawl_open_opts oo = {0};
	oo.filter_cache_bytes = -1;
	if (trawl_index_open_with(&c.idx, argv[1], &oo, c.err, sizeof c.err)) {
		fprintf(stderr, "do_query: %s\n", c.err);
		return EX_NOINPUT;
	}
	if (trawl_searcher_open(&c.srch, c.idx)) {
		fprintf(stderr, "do_query: cannot open a searcher\n");
		return EX_SOFTWARE;
	}
	char *line = NULL;
	size_t lcap = 0;
	ssize_t n;
	while ((n = getline(&line, &lcap, stdin)) >= 0) {
		json_t *req = json_loadb(line, (size_t)n, 0, NULL);
		if (!json_is_object(req))
			fprintf(stdout, "{\"error\":\"not a JSON object\"}\n");
		else
			answer(&c, req, stdout);
		json_decref(req);
		fflush(stdout);
	}
	free(line);
	trawl_searcher_close(c.srch);
	trawl_index_close(c.idx);
	return 0;
}
