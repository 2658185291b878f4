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

int idx_field_name_ok(const char *n)
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

static int get_bool(json_t *v, const char *fname, const char *key, uint8_t *out, char *err,
                    size_t errlen)
{
	if (!json_is_boolean(v))
		return errf(err, errlen, TRAWL_ESCHEMA,
		            "schema: fields.%s.%s must be true or false", fname, key);
	*out = json_is_true(v);
	return TRAWL_OK;
}

/* A typed field's settings (docs/SCHEMA.md); name is its full name
 * ("title.raw" for a twin), twin_of the text field it reads or -1. */
static int parse_typed(idx_tfield *f, const char *name, int type, int twin_of, json_t *spec,
                       char *err, size_t errlen)
{
	memset(f, 0, sizeof *f);
	snprintf(f->name, sizeof f->name, "%s", name);
	f->type = type;
	f->twin_of = twin_of;
	f->index = 1;
	f->doc_values = 1;
	const char *key;
	json_t *v;
	json_object_foreach(spec, key, v)
	{
		int rc = TRAWL_OK;
		if (!strcmp(key, "type")) {
			continue; /* read by the caller */
		} else if (!strcmp(key, "index")) {
			rc = get_bool(v, name, key, &f->index, err, errlen);
		} else if (!strcmp(key, "doc_values")) {
			rc = get_bool(v, name, key, &f->doc_values, err, errlen);
		} else if (!strcmp(key, "normalizer") && type == IDX_KEYWORD) {
			if (!json_is_string(v) || strcmp(json_string_value(v), "lowercase"))
				return errf(err, errlen, TRAWL_ESCHEMA,
				            "schema: fields.%s.normalizer must be \"lowercase\"",
				            name);
			f->lowercase = 1;
		} else if (!strcmp(key, "ignore_above") && type == IDX_KEYWORD) {
			if (!json_is_integer(v) || json_integer_value(v) < 1 ||
			    json_integer_value(v) > LIMIT_KEYWORD_BYTES)
				return errf(err, errlen, TRAWL_ESCHEMA,
				            "schema: fields.%s.ignore_above must be an integer "
				            "from 1 to %d",
				            name, LIMIT_KEYWORD_BYTES);
			f->ignore_above = (uint32_t)json_integer_value(v);
		} else {
			return errf(err, errlen, TRAWL_ESCHEMA,
			            "schema: fields.%s: unknown key \"%.80s\" for a %s field", name,
			            key, idx_ftype_name(type));
		}
		if (rc)
			return rc;
	}
	return TRAWL_OK;
}

/* The type a field's settings give (text when they give none), or -1 with
 * err set. */
static int field_type(const char *name, json_t *spec, char *err, size_t errlen)
{
	if (!json_is_object(spec)) {
		errf(err, errlen, TRAWL_ESCHEMA, "schema: fields.%s must be an object", name);
		return -1;
	}
	json_t *t = json_object_get(spec, "type");
	if (!t)
		return IDX_TEXT;
	int type = json_is_string(t) ? idx_ftype_parse(json_string_value(t)) : -1;
	if (type < 0)
		errf(err, errlen, TRAWL_ESCHEMA,
		     "schema: fields.%s.type must be \"text\", \"keyword\", \"long\", \"double\", "
		     "\"date\" or \"boolean\"",
		     name);
	return type;
}

/* Whether a text or typed field (a twin included) already has name n. */
static int name_taken(const idx_schema *s, const char *n)
{
	for (uint32_t i = 0; i < s->nfields; i++)
		if (!strcmp(s->fields[i].name, n))
			return 1;
	for (uint32_t i = 0; i < s->ntyped; i++)
		if (!strcmp(s->typed[i].name, n))
			return 1;
	return 0;
}

/* The keyword twins of text field number fid, from its "fields" object. */
static int parse_twins(idx_schema *s, uint32_t fid, json_t *subs, char *err, size_t errlen)
{
	const char *name = s->fields[fid].name;
	if (!json_is_object(subs) || json_object_size(subs) == 0)
		return errf(err, errlen, TRAWL_ESCHEMA,
		            "schema: fields.%s.fields must be a non-empty object of keyword twins",
		            name);
	const char *sub;
	json_t *spec;
	json_object_foreach(subs, sub, spec)
	{
		char full[2 * LIMIT_FIELD_NAME_BYTES + 2];
		snprintf(full, sizeof full, "%s.%s", name, sub);
		if (!sub[0] || strchr(sub, '.') || !idx_field_name_ok(full))
			return errf(
			    err, errlen, TRAWL_ESCHEMA,
			    "schema: fields.%s.fields: invalid twin name \"%.80s\" (the whole "
			    "name \"%.80s.%.80s\" must be 1-%d characters of A-Z a-z 0-9 _ - ., "
			    "the twin's without .)",
			    name, sub, name, sub, LIMIT_FIELD_NAME_BYTES);
		if (name_taken(s, full))
			return errf(err, errlen, TRAWL_ESCHEMA,
			            "schema: field \"%s\" is given twice (a twin has that name)",
			            full);
		int type = field_type(full, spec, err, errlen);
		if (type < 0)
			return TRAWL_ESCHEMA;
		if (type != IDX_KEYWORD)
			return errf(err, errlen, TRAWL_ESCHEMA,
			            "schema: fields.%s: a text field's twin must be a keyword",
			            full);
		if (s->ntyped == LIMIT_TYPED_FIELDS)
			return errf(err, errlen, TRAWL_ESCHEMA,
			            "schema: more than %d typed fields (twins included)",
			            LIMIT_TYPED_FIELDS);
		int rc = parse_typed(&s->typed[s->ntyped], full, type, (int)fid, spec, err, errlen);
		if (rc)
			return rc;
		s->ntyped++;
	}
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
		} else if (!strcmp(key, "fields")) {
			continue; /* keyword twins: parse_twins */
		} else {
			return errf(err, errlen, TRAWL_ESCHEMA,
			            "schema: fields.%s: unknown key \"%s\"", name, key);
		}
		if (rc)
			return rc;
	}
	return TRAWL_OK;
}

/* One member of "fields": a text field in pass 0, a typed one in pass 1. */
static int parse_member(idx_schema *s, int pass, const char *fname, json_t *spec, char *err,
                        size_t errlen)
{
	if (!idx_field_name_ok(fname))
		return errf(
		    err, errlen, TRAWL_ESCHEMA,
		    "schema: invalid field name \"%.80s\" (1-%d characters of A-Z a-z 0-9 _ "
		    "- ., not starting with - , not \"id\")",
		    fname, LIMIT_FIELD_NAME_BYTES);
	int type = field_type(fname, spec, err, errlen);
	if (type < 0)
		return TRAWL_ESCHEMA;
	if (pass == 0 && type == IDX_TEXT) {
		if (name_taken(s, fname))
			return errf(err, errlen, TRAWL_ESCHEMA,
			            "schema: field \"%s\" is given twice (a twin has that name)",
			            fname);
		if (s->nfields == LIMIT_FIELDS)
			return errf(err, errlen, TRAWL_ESCHEMA,
			            "schema: more than %d text fields; the limit is %d",
			            LIMIT_FIELDS, LIMIT_FIELDS);
		int rc = parse_field(&s->fields[s->nfields], fname, spec, err, errlen);
		if (rc)
			return rc;
		s->nfields++;
		json_t *subs = json_object_get(spec, "fields");
		return subs ? parse_twins(s, s->nfields - 1, subs, err, errlen) : TRAWL_OK;
	}
	if (pass == 1 && type != IDX_TEXT) {
		if (name_taken(s, fname))
			return errf(err, errlen, TRAWL_ESCHEMA,
			            "schema: field \"%s\" is given twice (a twin has that name)",
			            fname);
		if (s->ntyped == LIMIT_TYPED_FIELDS)
			return errf(err, errlen, TRAWL_ESCHEMA,
			            "schema: more than %d typed fields (twins included)",
			            LIMIT_TYPED_FIELDS);
		int rc = parse_typed(&s->typed[s->ntyped], fname, type, -1, spec, err, errlen);
		if (rc)
			return rc;
		s->ntyped++;
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
			/* text fields and their twins first, then the typed fields
			 * (idx_schema says why) */
			for (int pass = 0; pass < 2 && rc == TRAWL_OK; pass++) {
				const char *fname;
				json_t *spec;
				json_object_foreach(v, fname, spec)
				{
					if ((rc = parse_member(s, pass, fname, spec, err, errlen)))
						goto out;
				}
			}
		} else if (!strcmp(key, "store")) {
			s->store_all = 0;
			if (json_is_string(v) && !strcmp(json_string_value(v), "all")) {
				s->store_all = 1;
			} else if (json_is_string(v) && !strcmp(json_string_value(v), "none")) {
				s->store_none = 1;
			} else if (json_is_array(v) && json_array_size(v) <= LIMIT_STORED_FIELDS) {
				size_t i;
				json_t *e;
				json_array_foreach(v, i, e)
				{
					if (!json_is_string(e) ||
					    !idx_field_name_ok(json_string_value(e))) {
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
				    LIMIT_STORED_FIELDS);
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

static json_t *typed_json(const idx_tfield *f)
{
	json_t *o = json_pack("{s:s, s:b, s:b}", "type", idx_ftype_name(f->type), "index", f->index,
	                      "doc_values", f->doc_values);
	if (o && f->lowercase)
		json_object_set_new(o, "normalizer", json_string("lowercase"));
	if (o && f->ignore_above)
		json_object_set_new(o, "ignore_above", json_integer(f->ignore_above));
	return o;
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
		json_t *o =
		    json_pack("{s:s, s:s, s:f, s:f, s:f}", "type", "text", "analyzer",
		              idx_analyzer_kind_name((idx_analyzer_kind)f->analyzer), "boost",
		              (double)f->boost, "k1", (double)f->k1, "b", (double)f->b);
		json_t *twins = NULL;
		for (uint32_t t = 0; o && t < s->ntyped; t++) {
			if (s->typed[t].twin_of != (int)i)
				continue;
			if (!twins && !(twins = json_object()))
				break;
			json_object_set_new(twins, s->typed[t].name + strlen(f->name) + 1,
			                    typed_json(&s->typed[t]));
		}
		if (twins)
			json_object_set_new(o, "fields", twins);
		json_object_set_new(fields, f->name, o);
	}
	for (uint32_t t = 0; t < s->ntyped; t++)
		if (s->typed[t].twin_of < 0)
			json_object_set_new(fields, s->typed[t].name, typed_json(&s->typed[t]));
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

int idx_schema_typed(const idx_schema *s, const char *name, size_t len)
{
	for (uint32_t i = 0; i < s->ntyped; i++)
		if (s->typed[i].twin_of < 0 && strlen(s->typed[i].name) == len &&
		    !memcmp(s->typed[i].name, name, len))
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
