/*
 * schema.c - which fields are full text, how they are analysed and scored,
 * and which are stored. A schema is a small JSON file (docs/SCHEMA.md); it is
 * copied into every shard so that a reader never needs the original.
 */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze.h"
#include "index_int.h"

static void field_init(idx_field *f, const char *name)
{
	snprintf(f->name, sizeof f->name, "%s", name);
	f->analyzer = IDX_AN_ENGLISH;
	f->boost = 1.0f;
	f->k1 = 0.9f;
	f->b = 0.4f;
}

void idx_schema_default(idx_schema *s)
{
	memset(s, 0, sizeof *s);
	s->nfields = 2;
	field_init(&s->fields[0], "title");
	field_init(&s->fields[1], "body");
	/* title and body are scored separately and summed, so a word in the
	 * title would count its idf twice at boost 1 (bench/RESULTS.md) */
	s->fields[0].boost = 0.5f;
	s->store_all = 1;
}

static int valid_name(const char *n)
{
	size_t len = strlen(n);
	if (len == 0 || len > LIMIT_FIELD_NAME_BYTES)
		return 0;
	for (const char *p = n; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.'))
			return 0;
	/* a leading '-' would read as exclusion in a query */
	return n[0] != '-' && strcmp(n, "id") != 0;
}

static int get_num(json_t *v, const char *fname, const char *key, float lo, float hi, float *out,
                   char *err, size_t errlen)
{
	if (!json_is_number(v))
		return errf(err, errlen, TRAWL_ESCHEMA, "schema: fields.%s.%s must be a number",
		            fname, key);
	double d = json_number_value(v);
	if (!(d >= lo && d <= hi))
		return errf(err, errlen, TRAWL_ESCHEMA,
		            "schema: fields.%s.%s is %g; it must be between %g and %g", fname, key,
		            d, (double)lo, (double)hi);
	*out = (float)d;
	return TRAWL_OK;
}

static int parse_field(idx_field *f, const char *name, json_t *spec, char *err, size_t errlen)
{
	field_init(f, name);
	if (!json_is_object(spec))
		return errf(err, errlen, TRAWL_ESCHEMA, "schema: fields.%s must be an object",
		            name);
	const char *key;
	json_t *v;
	json_object_foreach(spec, key, v)
	{
		int rc = TRAWL_OK;
		if (!strcmp(key, "type")) {
			if (!json_is_string(v) || strcmp(json_string_value(v), "text"))
				return errf(err, errlen, TRAWL_ESCHEMA,
				            "schema: fields.%s.type must be \"text\"", name);
		} else if (!strcmp(key, "analyzer")) {
			int k =
			    json_is_string(v) ? idx_analyzer_kind_parse(json_string_value(v)) : -1;
			if (k < 0)
				return errf(
				    err, errlen, TRAWL_ESCHEMA,
				    "schema: fields.%s.analyzer must be \"english\" or \"plain\"",
				    name);
			f->analyzer = k;
		} else if (!strcmp(key, "boost")) {
			rc = get_num(v, name, key, 0.0f, 1000.0f, &f->boost, err, errlen);
		} else if (!strcmp(key, "k1")) {
			rc = get_num(v, name, key, 0.0f, 100.0f, &f->k1, err, errlen);
		} else if (!strcmp(key, "b")) {
			rc = get_num(v, name, key, 0.0f, 1.0f, &f->b, err, errlen);
		} else {
			return errf(err, errlen, TRAWL_ESCHEMA,
			            "schema: fields.%s: unknown key \"%s\"", name, key);
		}
		if (rc)
			return rc;
	}
	return TRAWL_OK;
}

int idx_schema_parse(idx_schema *s, const char *text, size_t len, char *err, size_t errlen)
{
	memset(s, 0, sizeof *s);
	s->store_all = 1;
	json_error_t je;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return errf(err, errlen, TRAWL_ESCHEMA, "schema: line %d, column %d: %s", je.line,
		            je.column, je.text);
	int rc = TRAWL_OK;
	if (!json_is_object(root)) {
		rc = errf(err, errlen, TRAWL_ESCHEMA, "schema: must be a JSON object");
		goto out;
	}
	const char *key;
	json_t *v;
	json_object_foreach(root, key, v)
	{
		if (!strcmp(key, "fields")) {
			if (!json_is_object(v) || json_object_size(v) == 0) {
				rc = errf(err, errlen, TRAWL_ESCHEMA,
				          "schema: \"fields\" must be a non-empty object");
				goto out;
			}
			if (json_object_size(v) > LIMIT_FIELDS) {
				rc = errf(err, errlen, TRAWL_ESCHEMA,
				          "schema: %zu text fields; the limit is %d",
				          json_object_size(v), LIMIT_FIELDS);
				goto out;
			}
			const char *fname;
			json_t *spec;
			json_object_foreach(v, fname, spec)
			{
				if (!valid_name(fname)) {
					rc = errf(err, errlen, TRAWL_ESCHEMA,
					          "schema: invalid field name \"%.80s\" (1-%d "
					          "characters of A-Z a-z 0-9 _ - ., not starting "
					          "with - , not \"id\")",
					          fname, LIMIT_FIELD_NAME_BYTES);
					goto out;
				}
				rc = parse_field(&s->fields[s->nfields], fname, spec, err, errlen);
				if (rc)
					goto out;
				s->nfields++;
			}
		} else if (!strcmp(key, "store")) {
			s->store_all = 0;
			if (json_is_string(v) && !strcmp(json_string_value(v), "all")) {
				s->store_all = 1;
			} else if (json_is_string(v) && !strcmp(json_string_value(v), "none")) {
				s->store_none = 1;
			} else if (json_is_array(v) && json_array_size(v) <= LIMIT_FIELDS) {
				size_t i;
				json_t *e;
				json_array_foreach(v, i, e)
				{
					if (!json_is_string(e) ||
					    !valid_name(json_string_value(e))) {
						rc = errf(err, errlen, TRAWL_ESCHEMA,
						          "schema: store[%zu] must be a field name",
						          i);
						goto out;
					}
					snprintf(s->stored[s->nstored++],
					         LIMIT_FIELD_NAME_BYTES + 1, "%s",
					         json_string_value(e));
				}
			} else {
				rc = errf(
				    err, errlen, TRAWL_ESCHEMA,
				    "schema: \"store\" must be \"all\", \"none\" or an array of at "
				    "most %d field names",
				    LIMIT_FIELDS);
				goto out;
			}
		} else {
			rc = errf(err, errlen, TRAWL_ESCHEMA, "schema: unknown key \"%.80s\"", key);
			goto out;
		}
	}
	if (s->nfields == 0)
		rc =
		    errf(err, errlen, TRAWL_ESCHEMA, "schema: no text fields (\"fields\" missing)");
out:
	json_decref(root);
	return rc;
}

char *idx_schema_to_json(const idx_schema *s)
{
	json_t *root = json_object(), *fields = json_object();
	if (!root || !fields) {
		json_decref(root);
		json_decref(fields);
		return NULL;
	}
	json_object_set_new(root, "fields", fields);
	for (uint32_t i = 0; i < s->nfields; i++) {
		const idx_field *f = &s->fields[i];
		json_object_set_new(
		    fields, f->name,
		    json_pack("{s:s, s:s, s:f, s:f, s:f}", "type", "text", "analyzer",
		              idx_analyzer_kind_name((idx_analyzer_kind)f->analyzer), "boost",
		              (double)f->boost, "k1", (double)f->k1, "b", (double)f->b));
	}
	if (s->store_all) {
		json_object_set_new(root, "store", json_string("all"));
	} else if (s->store_none) {
		json_object_set_new(root, "store", json_string("none"));
	} else {
		json_t *a = json_array();
		for (uint32_t i = 0; i < s->nstored; i++)
			json_array_append_new(a, json_string(s->stored[i]));
		json_object_set_new(root, "store", a);
	}
	char *out = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(7));
	json_decref(root);
	return out;
}

int idx_schema_field(const idx_schema *s, const char *name, size_t len)
{
	for (uint32_t i = 0; i < s->nfields; i++)
		if (strlen(s->fields[i].name) == len && !memcmp(s->fields[i].name, name, len))
			return (int)i;
	return -1;
}

int idx_schema_is_stored(const idx_schema *s, const char *name)
{
	if (s->store_all || !strcmp(name, "id"))
		return 1;
	if (s->store_none)
		return 0;
	for (uint32_t i = 0; i < s->nstored; i++)
		if (!strcmp(s->stored[i], name))
			return 1;
	return 0;
}
