/*
 * build_index.c - trawl's build for the structured-search protocol
 * (../../../shared/peers/structured/README.md):
 * `build_index INDEX_DIR SCHEMA.json < docs.jsonl`.
 *
 * Each document becomes a trawl document: the protocol's text fields, in
 * schema order and analysed as the protocol says (proto.c), joined into one
 * text field (one BM25 field, k1 1.2, b 0.75, the plain analyzer, which
 * then sees only lower-case ASCII words); keyword and keyword_multi fields
 * as keywords, integers as longs, dates as epoch milliseconds, booleans;
 * values of another JSON type dropped (the protocol: no value); the id
 * also as a keyword, the sort's last tiebreaker. One work thread, as the
 * protocol asks; only ids are stored (the answers are ids).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "proto.h"
#include "trawl/trawl.h"

/* The trawl schema of protocol schema s. */
static char *trawl_schema(const pschema *s)
{
	json_t *fields = json_object();
	json_object_set_new(fields, P_TEXT_FIELD,
	                    json_pack("{s:s, s:s, s:f, s:f}", "type", "text", "analyzer", "plain",
	                              "k1", 1.2, "b", 0.75));
	static const char *const types[] = {NULL, "keyword", "keyword", "long", "date", "boolean"};
	for (uint32_t i = 0; i < s->n; i++)
		if (s->type[i] != P_TEXT)
			json_object_set_new(fields, s->name[i],
			                    json_pack("{s:s}", "type", types[s->type[i]]));
	json_object_set_new(fields, P_ID_FIELD,
	                    json_pack("{s:s, s:b}", "type", "keyword", "index", 0));
	json_t *root = json_pack("{s:o, s:s}", "fields", fields, "store", "none");
	char *out = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return out;
}

/* The trawl document of protocol document d, or NULL (no string id). */
static json_t *convert(const pschema *s, json_t *d, char *text, size_t cap)
{
	json_t *id = json_object_get(d, s->idfield);
	if (!json_is_string(id))
		return NULL;
	json_t *o = json_pack("{s:O, s:O}", "id", id, P_ID_FIELD, id);
	size_t len = 0;
	text[0] = 0;
	for (uint32_t i = 0; i < s->n; i++) {
		json_t *v = json_object_get(d, s->name[i]);
		switch (s->type[i]) {
		case P_TEXT:
			if (json_is_string(v))
				p_text_append(json_string_value(v), json_string_length(v), text,
				              cap, &len);
			break;
		case P_KEYWORD:
			if (json_is_string(v))
				json_object_set(o, s->name[i], v);
			break;
		case P_KEYWORD_MULTI:
			if (json_is_string(v)) {
				json_object_set(o, s->name[i], v);
			} else if (json_is_array(v)) {
				json_t *a = json_array();
				size_t j;
				json_t *e;
				json_array_foreach(v, j, e) if (json_is_string(e))
				    json_array_append(a, e);
				json_object_set_new(o, s->name[i], a);
			}
			break;
		case P_INTEGER:
			if (json_is_integer(v))
				json_object_set(o, s->name[i], v);
			break;
		case P_DATE: {
			int64_t ms;
			if (!p_date(v, &ms))
				json_object_set_new(o, s->name[i], json_integer(ms));
			break;
		}
		case P_BOOLEAN:
			if (json_is_boolean(v))
				json_object_set(o, s->name[i], v);
			break;
		}
	}
	json_object_set_new(o, P_TEXT_FIELD, json_stringn(text, len));
	return o;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: build_index INDEX_DIR SCHEMA.json < docs.jsonl\n");
		return EX_USAGE;
	}
	pschema s;
	if (p_schema_load(&s, argv[2]))
		return EX_DATAERR;
	char *schema = trawl_schema(&s);
	trawl_build_opts o = {0};
	o.schema_json = schema;
	o.workers = 1;
	o.workers_set = 1;
	o.max_doc_bytes = 16u << 20;
	char err[1024];
	trawl_builder *b;
	int rc = trawl_builder_open(&b, argv[1], &o, err, sizeof err);
	if (rc) {
		fprintf(stderr, "build_index: %s\n", err);
		free(schema);
		return EX_CANTCREAT;
	}
	size_t cap = 16u << 20;
	char *text = malloc(cap), *line = NULL;
	size_t lcap = 0;
	ssize_t n;
	uint64_t ln = 0;
	while (rc == 0 && (n = getline(&line, &lcap, stdin)) >= 0) {
		ln++;
		json_t *d = json_loadb(line, (size_t)n, 0, NULL);
		json_t *t = json_is_object(d) ? convert(&s, d, text, cap) : NULL;
		if (t) {
			char *js = json_dumps(t, JSON_COMPACT);
			rc = js ? trawl_builder_add_json(b, js, strlen(js), "stdin", ln)
			        : TRAWL_ENOMEM;
			free(js);
		}
		json_decref(t);
		json_decref(d);
	}
	if (rc == 0)
		rc = trawl_builder_commit(b, NULL);
	if (rc)
		fprintf(stderr, "build_index: %s\n", trawl_builder_errmsg(b));
	trawl_builder_close(b);
	free(line);
	free(text);
	free(schema);
	return rc ? EX_DATAERR : 0;
}
