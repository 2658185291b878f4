/*
 * parse.c - documents out of input lines: JSON Lines documents and
 * Elasticsearch _bulk NDJSON (index/create actions with their document on
 * the next line, delete actions). Every bad line gets a message naming the
 * file, the line and, where it helps, the column.
 *
 * The hot path validates each line with the streaming scanner of
 * index/jsonscan.c and picks out only the members the schema needs;
 * jansson is used only when a schema stores a subset of the fields.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "index/jsonscan.h"
#include "index/values.h"
#include "sh.h"

static int perr(sh_parser *p, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int perr(sh_parser *p, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verrf(p->errmsg, sizeof p->errmsg, code, fmt, ap);
	va_end(ap);
	return code;
}

void sh_parser_init(sh_parser *p, const idx_schema *schema, size_t max_doc)
{
	memset(p, 0, sizeof *p);
	p->schema = schema;
	p->max_doc = max_doc;
	tbuf_init(&p->keybuf, max_doc + 64);
	tbuf_init(&p->idbuf, max_doc + 64);
	tbuf_init(&p->texts, 2 * max_doc + 4 * LIMIT_FIELDS + 64);
	tbuf_init(&p->stored, 2 * max_doc + 64);
	tbuf_init(&p->bulk_id, LIMIT_ID_BYTES * 4);
	tbuf_init(&p->typed, LIMIT_MESSAGE_BYTES);
	tbuf_init(&p->scratch, max_doc + 64);
}

void sh_parser_fini(sh_parser *p)
{
	tbuf_fini(&p->keybuf);
	tbuf_fini(&p->idbuf);
	tbuf_fini(&p->texts);
	tbuf_fini(&p->stored);
	tbuf_fini(&p->bulk_id);
	tbuf_fini(&p->typed);
	tbuf_fini(&p->scratch);
}

int sh_is_blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return 0;
	return 1;
}

/* The members of one document that the build needs, as the scanner met them. */
typedef struct docscan {
	const idx_schema *schema;
	idx_jvalue id;
	idx_jvalue field[LIMIT_FIELDS];
	idx_jvalue typed[LIMIT_TYPED_FIELDS];
	uint8_t has_id;
	uint8_t has[LIMIT_FIELDS];
	uint8_t has_typed[LIMIT_TYPED_FIELDS];
	const char *dup;    /* a needed key that appeared twice */
	const char *dup_at; /* its second occurrence */
} docscan;

/* 1-based column, in characters, of at in text. */
static uint32_t column_of(const char *text, const char *at)
{
	uint32_t col = 1;
	for (const char *q = text; q < at; q++)
		col += ((unsigned char)*q & 0xC0) != 0x80;
	return col;
}

static int on_member(void *ctx, const char *key, size_t klen, const idx_jvalue *v)
{
	docscan *d = ctx;
	if (klen == 2 && key[0] == 'i' && key[1] == 'd') {
		if (d->has_id && !d->dup) {
			d->dup = "id";
			d->dup_at = v->key_at;
		}
		d->has_id = 1;
		d->id = *v;
		return 0;
	}
	int f = idx_schema_field(d->schema, key, klen);
	if (f >= 0) {
		if (d->has[f] && !d->dup) {
			d->dup = d->schema->fields[f].name;
			d->dup_at = v->key_at;
		}
		d->has[f] = 1;
		d->field[f] = *v;
		return 0;
	}
	if (d->schema->ntyped && (f = idx_schema_typed(d->schema, key, klen)) >= 0) {
		if (d->has_typed[f] && !d->dup) {
			d->dup = d->schema->typed[f].name;
			d->dup_at = v->key_at;
		}
		d->has_typed[f] = 1;
		d->typed[f] = *v;
	}
	return 0;
}

/* The typed fields' values of the document d scanned, into p->typed
 * (idx_values_parse's records, one per typed field in the schema's order;
 * a twin reads its text field's member). */
static int typed_values(sh_parser *p, const docscan *d, const char *json, const char *src,
                        unsigned long long ln)
{
	const idx_schema *schema = p->schema;
	static const idx_jvalue none = {IDX_J_NULL, "null", 4, NULL};
	tbuf_reset(&p->typed);
	for (uint32_t t = 0; t < schema->ntyped; t++) {
		const idx_tfield *f = &schema->typed[t];
		const idx_jvalue *v = &none;
		if (f->twin_of >= 0 && d->has[f->twin_of])
			v = &d->field[f->twin_of];
		else if (f->twin_of < 0 && d->has_typed[t])
			v = &d->typed[t];
		const char *at = NULL;
		char why[160];
		int rc = idx_values_parse(f, v, &p->typed, &p->scratch, &at, why, sizeof why);
		if (rc == TRAWL_EDOC)
			return perr(p, rc, "%s:%llu:%u: field \"%s\" (%s): %s", src, ln,
			            column_of(json, at), f->name, idx_ftype_name(f->type), why);
		if (rc)
			return perr(p, rc, "%s:%llu: field \"%s\": %s", src, ln, f->name,
			            rc == TRAWL_ENOMEM ? "out of memory" : trawl_strerror(rc));
	}
	return TRAWL_OK;
}

/* Re-serialises the stored subset of a document's fields (jansson). */
static int stored_subset(const idx_schema *schema, const char *json, size_t len, tbuf *out)
{
	json_t *root = json_loadb(json, len, 0, NULL);
	if (!root)
		return TRAWL_EJSON; /* cannot happen: the scanner validated it */
	json_t *copy = json_object();
	const char *k;
	json_t *v;
	json_object_foreach(root, k, v)
	{
		if (idx_schema_is_stored(schema, k))
			json_object_set(copy, k, v);
	}
	char *str = json_dumps(copy, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(copy);
	json_decref(root);
	int rc = str ? tbuf_append(out, str, strlen(str)) : TRAWL_ENOMEM;
	free(str);
	return rc;
}

int sh_parse_doc(sh_parser *p, const char *json, size_t len, const char *src, uint64_t line,
                 const uint8_t *id_override, size_t id_override_len, sh_doc_fn fn, void *ctx)
{
	src = src ? src : "document";
	unsigned long long ln = (unsigned long long)line;
	while (len && (json[len - 1] == '\n' || json[len - 1] == '\r' || json[len - 1] == ' ' ||
	               json[len - 1] == '\t'))
		len--;
	if (len > p->max_doc)
		return perr(p, TRAWL_ELIMIT, "%s:%llu: document is %zu bytes; the limit is %zu",
		            src, ln, len, p->max_doc);
	const idx_schema *schema = p->schema;
	docscan d;
	d.schema = schema;
	d.has_id = 0;
	d.dup = NULL;
	memset(d.has, 0, sizeof d.has);
	memset(d.has_typed, 0, schema->ntyped);
	uint32_t col = 0;
	char why[128];
	int rc = idx_json_scan(json, len, p->strict ? IDX_JSCAN_STRICT : 0, on_member, &d,
	                       &p->keybuf, &col, why, sizeof why);
	if (rc)
		return rc == TRAWL_ENOMEM ? perr(p, rc, "%s:%llu: out of memory", src, ln)
		                          : perr(p, rc, "%s:%llu:%u: %s", src, ln, col, why);
	if (d.dup)
		return perr(p, TRAWL_EJSON, "%s:%llu:%u: duplicate key \"%s\"", src, ln,
		            column_of(json, d.dup_at), d.dup);
	if (!d.has_id && !id_override)
		return perr(p, TRAWL_EDOC, "%s:%llu: field \"id\" is missing", src, ln);
	tbuf *id = &p->idbuf, *texts = &p->texts, *stored = &p->stored;
	tbuf_reset(id);
	tbuf_reset(texts);
	tbuf_reset(stored);
	if (id_override) {
		if ((rc = tbuf_append(id, id_override, id_override_len)))
			return perr(p, rc, "%s:%llu: out of memory", src, ln);
	} else if (d.id.kind != IDX_J_STRING || (rc = idx_json_string(&d.id, id)) || id->len == 0 ||
	           id->len > LIMIT_ID_BYTES)
		return rc == TRAWL_ENOMEM
		           ? perr(p, rc, "%s:%llu: out of memory", src, ln)
		           : perr(p, TRAWL_EDOC,
		                  "%s:%llu: field \"id\" must be a string of 1 to %d bytes", src,
		                  ln, LIMIT_ID_BYTES);
	if (memchr(id->data, 0, id->len))
		return id_override ? perr(p, TRAWL_EDOC, "%s:%llu: the id contains a NUL character",
		                          src, ln)
		                   : perr(p, TRAWL_EDOC,
		                          "%s:%llu:%u: field \"id\" contains a NUL character", src,
		                          ln, column_of(json, d.id.start));
	for (uint32_t f = 0; f < schema->nfields; f++) {
		size_t at = texts->len;
		uint32_t zero = 0;
		if ((rc = tbuf_append(texts, &zero, 4)))
			return perr(p, rc, "%s:%llu: out of memory", src, ln);
		const idx_jvalue *v = &d.field[f];
		if (!d.has[f] || v->kind == IDX_J_NULL)
			continue;
		if (v->kind == IDX_J_STRING)
			rc = idx_json_string(v, texts);
		else if (v->kind == IDX_J_ARRAY)
			rc = idx_json_strings(v, '\n', texts);
		else
			rc = TRAWL_EJSON;
		if (rc == TRAWL_EJSON)
			return perr(p, TRAWL_EDOC,
			            "%s:%llu: field \"%s\" must be a string or an array of strings",
			            src, ln, schema->fields[f].name);
		if (rc)
			return perr(p, rc, "%s:%llu: out of memory", src, ln);
		uint32_t n = (uint32_t)(texts->len - at - 4);
		memcpy(texts->data + at, &n, 4);
	}
	if (schema->ntyped && (rc = typed_values(p, &d, json, src, ln)))
		return rc;
	sh_doc doc = {id->data, id->len, NULL, 0, texts->data, texts->len, 0, NULL, 0};
	if (schema->ntyped) {
		doc.typed = p->typed.data;
		doc.typed_len = p->typed.len;
	}
	if (schema->store_all) {
		doc.stored = json;
		doc.stored_len = len;
	} else if (!schema->store_none) {
		if ((rc = stored_subset(schema, json, len, stored)))
			return perr(p, rc, "%s:%llu: cannot store the document", src, ln);
		doc.stored = (const char *)stored->data;
		doc.stored_len = stored->len;
	}
	rc = fn(ctx, &doc);
	return rc == TRAWL_ENOMEM ? perr(p, rc, "%s:%llu: out of memory", src, ln) : rc;
}

static int accept_doc(void *ctx, const sh_doc *d)
{
	(void)ctx;
	(void)d;
	return 0;
}

int sh_check_doc(const idx_schema *schema, size_t max_doc, const char *doc, size_t len,
                 const char *id, size_t idlen, char *err, size_t errlen)
{
	sh_parser p;
	sh_parser_init(&p, schema, max_doc);
	p.strict = 1; /* in place of a jansson parse (index/ingest.c) */
	int rc =
	    sh_parse_doc(&p, doc, len, "document", 1, (const uint8_t *)id, idlen, accept_doc, NULL);
	if (rc)
		errf(err, errlen, rc, "%s", p.errmsg);
	sh_parser_fini(&p);
	return rc;
}

/* ---- _bulk NDJSON ---- */

typedef struct bulk_action {
	int kind;        /* SH_BULK_* of the action's single key */
	int keys;        /* top-level keys seen */
	idx_jvalue body; /* the action's object */
	char name[16];
} bulk_action;

static int on_action(void *ctx, const char *key, size_t klen, const idx_jvalue *v)
{
	bulk_action *a = ctx;
	a->keys++;
	snprintf(a->name, sizeof a->name, "%.*s", (int)(klen < 15 ? klen : 15), key);
	if (v->kind != IDX_J_OBJECT)
		a->kind = SH_BULK_NONE;
	else if ((klen == 5 && !memcmp(key, "index", 5)) ||
	         (klen == 6 && !memcmp(key, "create", 6)))
		a->kind = SH_BULK_INDEX;
	else if (klen == 6 && !memcmp(key, "delete", 6))
		a->kind = SH_BULK_DELETE;
	else if (klen == 6 && !memcmp(key, "update", 6))
		a->kind = SH_BULK_OTHER;
	else
		a->kind = SH_BULK_NONE;
	a->body = *v;
	return 0;
}

typedef struct bulk_meta {
	idx_jvalue id;
	int has_id;
} bulk_meta;

static int on_meta(void *ctx, const char *key, size_t klen, const idx_jvalue *v)
{
	bulk_meta *m = ctx;
	if (klen == 3 && !memcmp(key, "_id", 3)) {
		m->id = *v;
		m->has_id = 1;
	}
	return 0;
}

static int parse_action(sh_parser *p, const char *line, size_t len, bulk_action *a)
{
	uint32_t col;
	memset(a, 0, sizeof *a);
	if (idx_json_scan(line, len, 0, on_action, a, &p->keybuf, &col, NULL, 0) != 0)
		return SH_BULK_NONE;
	return a->keys == 1 ? a->kind : SH_BULK_NONE;
}

static int action_id(sh_parser *p, const bulk_action *a, const char *src, uint64_t ln);

int sh_bulk_kind(sh_parser *p, const char *line, size_t len, int *opens)
{
	bulk_action a;
	int kind = parse_action(p, line, len, &a);
	/* exactly when sh_parse_item takes the next line as the document */
	*opens = kind == SH_BULK_INDEX && action_id(p, &a, "", 0) == TRAWL_OK;
	return kind;
}

/* The _id of an action into p->bulk_id (empty if none). */
static int action_id(sh_parser *p, const bulk_action *a, const char *src, uint64_t ln)
{
	bulk_meta m = {0};
	uint32_t col;
	tbuf_reset(&p->bulk_id);
	idx_json_scan(a->body.start, a->body.len, 0, on_meta, &m, &p->keybuf, &col, NULL, 0);
	if (!m.has_id)
		return TRAWL_OK;
	int rc = m.id.kind == IDX_J_STRING ? idx_json_string(&m.id, &p->bulk_id) : TRAWL_EDOC;
	if (rc == TRAWL_OK && (p->bulk_id.len == 0 || p->bulk_id.len > LIMIT_ID_BYTES ||
	                       memchr(p->bulk_id.data, 0, p->bulk_id.len)))
		rc = TRAWL_EDOC;
	if (rc == TRAWL_EDOC)
		return perr(p, rc, "%s:%llu: \"_id\" must be a string of 1 to %d bytes", src,
		            (unsigned long long)ln, LIMIT_ID_BYTES);
	return rc ? perr(p, rc, "%s:%llu: out of memory", src, (unsigned long long)ln) : TRAWL_OK;
}

/* The length in a marker line: decimal digits to the end of the line. */
static int overlong_length(const char *s, size_t n, uint64_t *v)
{
	if (n == 0 || n > 19)
		return 0;
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	*v = x;
	return 1;
}

int sh_parse_item(sh_parser *p, const sh_item *it, int skip_bad, sh_doc_fn fn,
                  void (*on_reject)(void *ctx, const char *msg), void *ctx, sh_linecount *count)
{
	const char *s = it->bytes, *end = it->bytes + it->len;
	const char *src = it->source;
	uint64_t ln = it->first_line - 1;
	int pending = SH_BULK_NONE; /* an index action awaiting its document */
	uint64_t action_line = 0;   /* where that action is */
	int rc = TRAWL_OK;
	memset(count, 0, sizeof *count);
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t len = nl ? (size_t)(nl - s) : (size_t)(end - s);
		const char *line = s;
		s += len + (nl != NULL);
		ln++;
		if (sh_is_blank(line, len))
			continue;
		count->lines++;
		count->bytes += len + 1;
		uint64_t longer = 0;
		if (len > 2 && line[0] == SH_OVERLONG[0] && line[1] == SH_OVERLONG[1] &&
		    overlong_length(line + 2, len - 2, &longer) && longer >= len) {
			/* the splitter's stand-in for a line longer than any document */
			count->bytes += longer - len;
			pending = SH_BULK_NONE;
			rc = perr(p, TRAWL_ELIMIT,
			          "%s:%llu: line is longer than %zu bytes (the document limit)",
			          src, (unsigned long long)ln, p->max_doc);
		} else if (!it->bulk) {
			rc = sh_parse_doc(p, line, len, src, ln, NULL, 0, fn, ctx);
		} else if (pending == SH_BULK_INDEX) {
			pending = SH_BULK_NONE;
			rc = sh_parse_doc(p, line, len, src, ln,
			                  p->bulk_id.len ? p->bulk_id.data : NULL, p->bulk_id.len,
			                  fn, ctx);
		} else {
			bulk_action a;
			int kind = parse_action(p, line, len, &a);
			if (kind == SH_BULK_NONE)
				rc = perr(p, TRAWL_EDOC,
				          "%s:%llu: expected a _bulk action "
				          "({\"index\"|\"create\"|\"delete\": "
				          "{...}}) in a _bulk file",
				          src, (unsigned long long)ln);
			else if (kind == SH_BULK_OTHER)
				rc = perr(
				    p, TRAWL_EDOC,
				    "%s:%llu: _bulk action \"%s\" is not supported (use index, "
				    "create or delete)",
				    src, (unsigned long long)ln, a.name);
			else if ((rc = action_id(p, &a, src, ln)) == TRAWL_OK) {
				if (kind == SH_BULK_INDEX) {
					pending = SH_BULK_INDEX;
					action_line = ln;
				} else if (!p->bulk_id.len) {
					rc = perr(p, TRAWL_EDOC,
					          "%s:%llu: a delete action needs an \"_id\"", src,
					          (unsigned long long)ln);
				} else {
					sh_doc doc = {p->bulk_id.data,
					              p->bulk_id.len,
					              NULL,
					              0,
					              NULL,
					              0,
					              1,
					              NULL,
					              0};
					rc = fn(ctx, &doc);
					if (rc == TRAWL_ENOMEM)
						perr(p, rc, "%s:%llu: out of memory", src,
						     (unsigned long long)ln);
				}
			}
		}
		if (rc) {
			if (!skip_bad || rc == TRAWL_ENOMEM)
				return rc;
			count->rejected++;
			if (on_reject)
				on_reject(ctx, p->errmsg);
			rc = TRAWL_OK;
		}
	}
	if (pending == SH_BULK_INDEX) {
		rc = perr(p, TRAWL_EDOC,
		          "%s:%llu: the file ends after an index action, without its document", src,
		          (unsigned long long)action_line);
		if (!skip_bad)
			return rc;
		count->rejected++;
		if (on_reject)
			on_reject(ctx, p->errmsg);
	}
	return TRAWL_OK;
}
