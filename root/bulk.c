/*
 * bulk.c - OpenSearch's _bulk body, compiled (see bulk.h).
 */
#include "bulk.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/utf8.h"
#include "index/jsonscan.h"
#include "trawl/trawl.h"

static void item_fail(os_bulk_item *it, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void item_fail(os_bulk_item *it, int status, const char *type, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char reason[LIMIT_ERRMSG_BYTES];
	verrf(reason, sizeof reason, 0, fmt, ap);
	va_end(ap);
	free(it->reason);
	it->reason = strdup(reason); /* NULL (no memory): the type still says it */
	it->failed = 1;
	it->status = status;
	it->error_type = type;
}

/* A line: [p, p + len), without its newline or trailing \r, spaces, tabs. */
typedef struct line {
	const char *p;
	size_t len;
	uint64_t no;
} line;

/* next_line finds the next non-blank line at or after *at; 0 at the end. */
static int next_line(const char *body, size_t len, size_t *at, uint64_t *no, line *out)
{
	while (*at < len) {
		const char *p = body + *at, *nl = memchr(p, '\n', len - *at);
		size_t n = nl ? (size_t)(nl - p) : len - *at;
		*at += n + (nl != NULL);
		++*no;
		while (n && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		size_t s = 0;
		while (s < n && (p[s] == ' ' || p[s] == '\t'))
			s++;
		if (s == n)
			continue;
		*out = (line){p, n, *no};
		return 1;
	}
	return 0;
}

static const char *const action_names[] = {NULL, "index", "create", "update", "delete"};

/* set_id gives it the id (n bytes). */
static int set_id(os_bulk_item *it, const char *id, size_t n)
{
	char *copy = malloc(n + 1);
	if (!copy) {
		item_fail(it, 500, "exception", "out of memory");
		return -1;
	}
	memcpy(copy, id, n);
	copy[n] = 0;
	free(it->id);
	it->id = copy;
	it->req.id = copy;
	it->req.idlen = (uint32_t)n;
	return 0;
}

/* meta_checks: what holds of an action's metadata as a whole. */
static void meta_checks(os_bulk_item *it)
{
	if ((it->req.if_seq_no >= 0) != (it->req.if_primary_term >= 0)) {
		item_fail(it, 400, "action_request_validation_exception",
		          "line %llu: if_seq_no and if_primary_term must be given together",
		          (unsigned long long)it->line);
		return;
	}
	if (!it->index || !it->index[0])
		item_fail(it, 400, "action_request_validation_exception",
		          "line %llu: index is missing", (unsigned long long)it->line);
}

/* read_meta reads an action's metadata object into it. */
static void read_meta(os_bulk_item *it, json_t *meta, const char *default_index)
{
	const char *key;
	json_t *v;
	idx_wact act = it->req.act;
	it->index = default_index;
	json_object_foreach(meta, key, v)
	{
		if (!strcmp(key, "_index")) {
			if (!json_is_string(v) || json_string_length(v) == 0 ||
			    json_string_length(v) > LIMIT_INDEX_NAME_BYTES) {
				item_fail(
				    it, 400, "illegal_argument_exception",
				    "line %llu: [_index] must be an index name of 1 to %d bytes",
				    (unsigned long long)it->line, LIMIT_INDEX_NAME_BYTES);
				return;
			}
			free(it->index_owned);
			if (!(it->index_owned = strdup(json_string_value(v)))) {
				item_fail(it, 500, "exception", "out of memory");
				return;
			}
			it->index = it->index_owned;
		} else if (!strcmp(key, "_id")) {
			if (json_is_integer(v)) {
				char num[24];
				int n = snprintf(num, sizeof num, "%lld",
				                 (long long)json_integer_value(v));
				if (set_id(it, num, (size_t)n))
					return;
			} else if (json_is_string(v) && json_string_length(v) == 0) {
				item_fail(it, 400, "action_request_validation_exception",
				          "line %llu: Validation Failed: 1: if _id is specified it "
				          "must not "
				          "be empty;",
				          (unsigned long long)it->line);
				return;
			} else if (json_is_string(v) && json_string_length(v) <= LIMIT_ID_BYTES &&
			           !memchr(json_string_value(v), 0, json_string_length(v))) {
				if (set_id(it, json_string_value(v), json_string_length(v)))
					return;
			} else {
				item_fail(it, 400, "illegal_argument_exception",
				          "line %llu: [_id] must be a string of at most %d bytes",
				          (unsigned long long)it->line, LIMIT_ID_BYTES);
				return;
			}
		} else if (!strcmp(key, "if_seq_no") || !strcmp(key, "if_primary_term")) {
			if (!json_is_integer(v) || json_integer_value(v) < 0) {
				item_fail(it, 400, "illegal_argument_exception",
				          "line %llu: [%s] must be a number of 0 or more",
				          (unsigned long long)it->line, key);
				return;
			}
			if (key[3] == 's')
				it->req.if_seq_no = json_integer_value(v);
			else
				it->req.if_primary_term = json_integer_value(v);
		} else if (!strcmp(key, "retry_on_conflict") && act == IDX_WACT_UPDATE &&
		           json_is_integer(v)) {
			/* decisions are made one at a time: nothing to retry */
		} else if (!strcmp(key, "require_alias") && json_is_false(v)) {
		} else if (!strcmp(key, "_source") && act == IDX_WACT_UPDATE) {
		} else if (!strcmp(key, "routing") || !strcmp(key, "version") ||
		           !strcmp(key, "version_type") || !strcmp(key, "pipeline") ||
		           !strcmp(key, "require_alias")) {
			item_fail(it, 400, "illegal_argument_exception",
			          "line %llu: [%s] is not supported by trawl",
			          (unsigned long long)it->line, key);
			return;
		} else {
			item_fail(it, 400, "illegal_argument_exception",
			          "line %llu: action [%s] has an unknown parameter [%s]",
			          (unsigned long long)it->line, action_names[act], key);
			return;
		}
	}
	meta_checks(it);
}

/* read_update reads an update's body line. */
static void read_update(os_bulk_item *it, const line *l)
{
	json_error_t je;
	json_t *u = json_loadb(l->p, l->len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
	if (!json_is_object(u)) {
		item_fail(it, 400, "x_content_parse_exception",
		          "line %llu: the update is not a JSON object%s%s",
		          (unsigned long long)l->no, u ? "" : ": ", u ? "" : je.text);
		json_decref(u);
		return;
	}
	const char *key;
	json_t *v;
	json_object_foreach(u, key, v)
	{
		int is_doc = !strcmp(key, "doc"), is_up = !strcmp(key, "upsert");
		if (is_doc || is_up) {
			if (!json_is_object(v)) {
				item_fail(it, 400, "x_content_parse_exception",
				          "line %llu: [%s] must be an object",
				          (unsigned long long)l->no, key);
				break;
			}
			char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
			if (!s) {
				item_fail(it, 500, "exception", "out of memory");
				break;
			}
			if (is_doc) {
				free(it->owned_doc);
				it->owned_doc = s;
				it->req.doc = s;
				it->req.doclen = (uint32_t)strlen(s);
			} else {
				free(it->owned_upsert);
				it->owned_upsert = s;
				it->req.upsert = s;
				it->req.upsertlen = (uint32_t)strlen(s);
			}
		} else if (!strcmp(key, "doc_as_upsert") && json_is_boolean(v)) {
			it->req.doc_as_upsert = json_is_true(v);
		} else if (!strcmp(key, "detect_noop") && json_is_boolean(v)) {
			it->req.keep_noop = json_is_false(v);
		} else if (!strcmp(key, "_source")) {
		} else if (!strcmp(key, "script") || !strcmp(key, "scripted_upsert")) {
			item_fail(it, 400, "illegal_argument_exception",
			          "line %llu: [%s]: scripts are not supported by trawl",
			          (unsigned long long)l->no, key);
			break;
		} else {
			item_fail(it, 400, "x_content_parse_exception",
			          "line %llu: [UpdateRequest] unknown field [%s]",
			          (unsigned long long)l->no, key);
			break;
		}
	}
	json_decref(u);
}

/* ---- action lines: the usual ones scanned, the others read by jansson ---- */

/* Scratch for scanning action lines, one set per body. */
typedef struct scratch {
	tbuf keys, index, id;
} scratch;

/* What the scan of an action line found: its single member, and in that
 * member's object only string _index and _id. */
typedef struct scanned {
	int members;
	char name[8];
	idx_jvalue meta, index, id;
	int has_index, has_id;
} scanned;

static int on_action(void *ctx, const char *key, size_t klen, const idx_jvalue *v)
{
	scanned *c = ctx;
	if (c->members++ || v->kind != IDX_J_OBJECT || klen >= sizeof c->name)
		return 1; /* not the usual line: jansson reads it */
	memcpy(c->name, key, klen);
	c->name[klen] = 0;
	c->meta = *v;
	return 0;
}

static int on_meta(void *ctx, const char *key, size_t klen, const idx_jvalue *v)
{
	scanned *c = ctx;
	if (v->kind == IDX_J_STRING && klen == 6 && !memcmp(key, "_index", 6)) {
		c->index = *v;
		c->has_index = 1;
		return 0;
	}
	if (v->kind == IDX_J_STRING && klen == 3 && !memcmp(key, "_id", 3)) {
		c->id = *v;
		c->has_id = 1;
		return 0;
	}
	return 1;
}

/* a decoded string of 1 to max bytes without a NUL (jansson, without
 * JSON_ALLOW_NUL, refuses the line of one with a NUL) */
static int scan_str(const idx_jvalue *v, tbuf *out, size_t max)
{
	tbuf_reset(out);
	return idx_json_string(v, out) == TRAWL_OK && out->len && out->len <= max &&
	       !memchr(out->data, 0, out->len);
}

/* scan_action reads the usual action line ({"index": {"_index": "...",
 * "_id": "..."}}, either member or none) with the scanner, in a fraction of
 * a jansson parse's time: 1 when it did, with it as read_meta leaves it;
 * 0, with it untouched, for any other line (other keys, other values, bad
 * JSON), which jansson then reads, so that every error is as it was. The
 * strict scan takes only what jansson takes, and every string the line can
 * hold here is checked for a NUL. */
static int scan_action(os_bulk_item *it, const line *l, const char *default_index, scratch *s)
{
	scanned c = {0};
	uint32_t col;
	if (idx_json_scan(l->p, l->len, IDX_JSCAN_STRICT, on_action, &c, &s->keys, &col, NULL, 0) ||
	    c.members != 1)
		return 0;
	idx_wact act = 0;
	for (int k = IDX_WACT_INDEX; k <= IDX_WACT_DELETE; k++)
		if (!strcmp(c.name, action_names[k]))
			act = (idx_wact)k;
	if (!act || idx_json_scan(c.meta.start, c.meta.len, IDX_JSCAN_STRICT, on_meta, &c, &s->keys,
	                          &col, NULL, 0))
		return 0;
	if ((c.has_index && !scan_str(&c.index, &s->index, LIMIT_INDEX_NAME_BYTES)) ||
	    (c.has_id && !scan_str(&c.id, &s->id, LIMIT_ID_BYTES)))
		return 0;
	it->req.act = act;
	it->index = default_index;
	if (c.has_index) {
		if (!(it->index_owned = strndup((const char *)s->index.data, s->index.len))) {
			item_fail(it, 500, "exception", "out of memory");
			return 1;
		}
		it->index = it->index_owned;
	}
	if (c.has_id && set_id(it, (const char *)s->id.data, s->id.len))
		return 1;
	meta_checks(it);
	return 1;
}

/* read_action_jansson reads the action line l with jansson into it. A line
 * that is no action line fails the whole request (TRAWL_EINVAL, err set):
 * which line would come next is unknown. */
static int read_action_jansson(os_bulk_item *it, const line *l, const char *default_index,
                               char *err, size_t errlen)
{
	json_error_t je;
	json_t *a = json_loadb(l->p, l->len, JSON_REJECT_DUPLICATES, &je);
	const char *name = NULL;
	json_t *meta = NULL;
	if (json_is_object(a) && json_object_size(a) == 1) {
		void *iter = json_object_iter(a);
		name = json_object_iter_key(iter);
		meta = json_object_iter_value(iter);
	}
	for (int k = IDX_WACT_INDEX; name && k <= IDX_WACT_DELETE; k++)
		if (!strcmp(name, action_names[k]))
			it->req.act = (idx_wact)k;
	if (!it->req.act || !json_is_object(meta)) {
		/* OpenSearch refuses the request too: a document line read as an
		 * action could be anything, a delete of another document among
		 * them, and every later item would be shifted */
		errf(err, errlen, TRAWL_EINVAL,
		     "Malformed action/metadata line [%llu], expected {\"index\"|\"create\"|"
		     "\"update\"|\"delete\": {...}}%s%s",
		     (unsigned long long)l->no, a ? "" : ": ", a ? "" : je.text);
		json_decref(a);
		return TRAWL_EINVAL;
	}
	read_meta(it, meta, default_index);
	json_decref(a);
	return TRAWL_OK;
}

/* read_action reads the action line l (and the line after it, when the
 * action has one) into it: scanned when it is the usual line, else read by
 * jansson (every line when fast is 0). */
static int read_action(os_bulk_item *it, const line *l, const char *body, size_t len, size_t *at,
                       uint64_t *no, const char *default_index, int fast, scratch *s, char *err,
                       size_t errlen)
{
	it->line = l->no;
	it->req.if_seq_no = it->req.if_primary_term = -1;
	if (!(fast && scan_action(it, l, default_index, s))) {
		int rc = read_action_jansson(it, l, default_index, err, errlen);
		if (rc)
			return rc;
	}
	if (it->req.act == IDX_WACT_DELETE)
		return TRAWL_OK;
	line d;
	if (!next_line(body, len, at, no, &d)) {
		item_fail(it, 400, "illegal_argument_exception",
		          "line %llu: the %s action's document line is missing",
		          (unsigned long long)l->no, action_names[it->req.act]);
		return TRAWL_OK;
	}
	if (it->failed)
		return TRAWL_OK; /* its document line is skipped with it */
	if (it->req.act == IDX_WACT_UPDATE) {
		read_update(it, &d);
		return TRAWL_OK;
	}
	it->req.doc = d.p;
	it->req.doclen = d.len > UINT32_MAX ? UINT32_MAX : (uint32_t)d.len;
	return TRAWL_OK;
}

static int parse_body(const char *body, size_t len, const char *default_index, int fast,
                      os_bulk *out, int *status, char *err, size_t errlen)
{
	*out = (os_bulk){0};
	*status = 400;
	if (len > LIMIT_BULK_BYTES) {
		*status = 413;
		return errf(err, errlen, TRAWL_ELIMIT, "the bulk request's %zu bytes are over %u",
		            len, LIMIT_BULK_BYTES);
	}
	if (len == 0)
		return errf(err, errlen, TRAWL_EINVAL, "request body is required");
	if (body[len - 1] != '\n')
		return errf(err, errlen, TRAWL_EINVAL,
		            "The bulk request must be terminated by a newline [\\n]");
	uint32_t cap = 0;
	size_t at = 0;
	uint64_t no = 0;
	line l;
	int rc = TRAWL_OK;
	scratch sc;
	tbuf_init(&sc.keys, LIMIT_BULK_BYTES);
	tbuf_init(&sc.index, LIMIT_BULK_BYTES);
	tbuf_init(&sc.id, LIMIT_BULK_BYTES);
	while (next_line(body, len, &at, &no, &l)) {
		if (out->n == LIMIT_WLOG_APPEND_OPS) {
			rc = errf(err, errlen, TRAWL_ELIMIT,
			          "more than %d items in one bulk request", LIMIT_WLOG_APPEND_OPS);
			break;
		}
		if (out->n == cap) {
			uint32_t nc = cap ? 2 * cap : 64;
			os_bulk_item *ni = realloc(out->items, nc * sizeof *ni);
			if (!ni) {
				rc = errf(err, errlen, TRAWL_ENOMEM, "out of memory");
				*status = 500;
				break;
			}
			out->items = ni;
			cap = nc;
		}
		os_bulk_item *it = &out->items[out->n++];
		memset(it, 0, sizeof *it);
		if ((rc = read_action(it, &l, body, len, &at, &no, default_index, fast, &sc, err,
		                      errlen)))
			break;
	}
	tbuf_fini(&sc.keys);
	tbuf_fini(&sc.index);
	tbuf_fini(&sc.id);
	if (rc == 0 && out->n == 0)
		rc = errf(err, errlen, TRAWL_EINVAL, "request body is required");
	if (rc) {
		os_bulk_free(out);
		return rc;
	}
	return TRAWL_OK;
}

int os_bulk_parse(const char *body, size_t len, const char *default_index, os_bulk *out,
                  int *status, char *err, size_t errlen)
{
	return parse_body(body, len, default_index, 1, out, status, err, errlen);
}

int os_bulk_parse_jansson(const char *body, size_t len, const char *default_index, os_bulk *out,
                          int *status, char *err, size_t errlen)
{
	return parse_body(body, len, default_index, 0, out, status, err, errlen);
}

void os_update_parse(const char *body, size_t len, os_bulk_item *it)
{
	line l = {body, len, 1};
	it->line = 1;
	read_update(it, &l);
}

void os_bulk_item_fini(os_bulk_item *it)
{
	free(it->owned_doc);
	free(it->owned_upsert);
	free(it->id);
	free(it->index_owned);
	free(it->reason);
}

void os_bulk_free(os_bulk *b)
{
	for (uint32_t i = 0; i < b->n; i++)
		os_bulk_item_fini(&b->items[i]);
	free(b->items);
	*b = (os_bulk){0};
}

/* ---- the answer, written as JSON text ---- */

/* put_str appends s (n bytes) as a JSON string, escaped as jansson's
 * json_dumps escapes it (", \, and control characters; \u00XX in capitals;
 * nothing else), so that the answer is the bytes jansson wrote; a byte that
 * is not UTF-8 becomes '?' (jansson refused such a string: the member was
 * left out). */
static int put_str(tbuf *out, const char *s, size_t n)
{
	/* at most 6 bytes per input byte, and the quotes */
	if (tbuf_reserve(out, 6 * n + 2))
		return TRAWL_ENOMEM;
	uint8_t *o = out->data + out->len;
	*o++ = '"';
	for (size_t i = 0; i < n;) {
		size_t run = i;
		while (run < n && (unsigned char)s[run] >= 0x20 && (unsigned char)s[run] < 0x80 &&
		       s[run] != '"' && s[run] != '\\')
			run++;
		memcpy(o, s + i, run - i);
		o += run - i;
		if ((i = run) >= n)
			break;
		unsigned char c = (unsigned char)s[i];
		size_t adv;
		if (c >= 0x80) {
			if (utf8_next(s + i, n - i, &adv) == UINT32_MAX)
				*o++ = '?';
			else
				memcpy(o, s + i, adv), o += adv;
			i += adv;
			continue;
		}
		static const char short_esc[] = "\b\f\n\r\t\"\\", short_as[] = "bfnrt\"\\";
		const char *e = c ? strchr(short_esc, c) : NULL;
		*o++ = '\\';
		if (e) {
			*o++ = (uint8_t)short_as[e - short_esc];
		} else {
			static const char hex[] = "0123456789ABCDEF";
			memcpy(o, "u00", 3);
			o[3] = (uint8_t)hex[c >> 4];
			o[4] = (uint8_t)hex[c & 15];
			o += 5;
		}
		i++;
	}
	*o++ = '"';
	out->len = (size_t)(o - out->data);
	return TRAWL_OK;
}

static int put_cstr(tbuf *out, const char *s)
{
	return s ? put_str(out, s, strlen(s)) : tbuf_append(out, "null", 4);
}

/* put_int appends v in decimal (as jansson's json_integer, a long long). */
static int put_int(tbuf *out, long long v)
{
	char d[24];
	int n = 0;
	unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
	do
		d[sizeof d - 1 - n++] = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		d[sizeof d - 1 - n++] = '-';
	return tbuf_append(out, d + sizeof d - n, (size_t)n);
}

#define PUT(lit) tbuf_append(out, lit, sizeof lit - 1)

int os_bulk_render_item(tbuf *out, const os_bulk_item *it, const idx_wres *r)
{
	if (it->failed)
		r = NULL;
	int rc = PUT("{\"") ||
	         tbuf_append(out, action_names[it->req.act ? it->req.act : 1],
	                     strlen(action_names[it->req.act ? it->req.act : 1])) ||
	         PUT("\":{\"_index\":") || put_cstr(out, it->index) || PUT(",\"_id\":");
	if (r)
		rc = rc || put_str(out, r->id, r->idlen);
	else
		rc = rc || (it->id ? put_str(out, it->id, it->req.idlen) : PUT("null"));
	if (r && r->result) {
		int wrote = strcmp(r->result, "noop") != 0; /* one copy: the indexer's */
		rc = rc || PUT(",\"_version\":") || put_int(out, (long long)r->version) ||
		     PUT(",\"result\":") || put_cstr(out, r->result) ||
		     (wrote ? PUT(",\"_shards\":{\"total\":1,\"successful\":1,\"failed\":0}")
		            : PUT(",\"_shards\":{\"total\":0,\"successful\":0,\"failed\":0}")) ||
		     PUT(",\"_seq_no\":") || put_int(out, (long long)r->seq_no) ||
		     PUT(",\"_primary_term\":") || put_int(out, (long long)r->primary_term) ||
		     PUT(",\"status\":") || put_int(out, r->status);
	} else {
		const char *type = r ? r->error_type : it->error_type;
		rc = rc || PUT(",\"status\":") || put_int(out, r ? r->status : it->status) ||
		     PUT(",\"error\":{\"type\":") || put_cstr(out, type ? type : "exception") ||
		     PUT(",\"reason\":") ||
		     put_cstr(out, r            ? r->reason
		                   : it->reason ? it->reason
		                                : "") ||
		     PUT(",\"index\":") || put_cstr(out, it->index) || PUT("}");
	}
	return rc || PUT("}}") ? TRAWL_ENOMEM : TRAWL_OK;
}

int os_bulk_render_answer(tbuf *out, uint64_t took_ms, int errors, const void *items, size_t len)
{
	int rc =
	    PUT("{\"took\":") || put_int(out, (long long)took_ms) ||
	    (errors ? PUT(",\"errors\":true,\"items\":[") : PUT(",\"errors\":false,\"items\":[")) ||
	    tbuf_append(out, items, len) || PUT("]}");
	return rc ? TRAWL_ENOMEM : TRAWL_OK;
}

int os_bulk_render(tbuf *out, const os_bulk *b, const idx_wres *res, uint64_t took_ms)
{
	tbuf items;
	tbuf_init(&items, out->max);
	int errors = 0, rc = TRAWL_OK;
	for (uint32_t i = 0; i < b->n && !rc; i++) {
		const idx_wres *r = b->items[i].failed ? NULL : &res[i];
		errors |= !r || !r->result;
		if (i && (rc = tbuf_putc(&items, ',')))
			break;
		rc = os_bulk_render_item(&items, &b->items[i], r);
	}
	if (!rc)
		rc = os_bulk_render_answer(out, took_ms, errors, items.data, items.len);
	tbuf_fini(&items);
	return rc;
}
