/*
 * mapping.c - a schema's canonical JSON as an OpenSearch mapping (see
 * mapping.h). The canonical form names every setting (docs/SCHEMA.md,
 * "Canonical form"), so each field is read strictly: a key or a type this
 * code does not know is an error rather than a field shown wrong.
 */
#include "mapping.h"

#include <string.h>

#include "common/error.h"
#include "trawl/trawl.h"

/* The keyword settings OpenSearch shares with trawl, and the two switches
 * every typed field has, added to o when they differ from the default. */
static void typed_settings(json_t *spec, json_t *o)
{
	json_t *norm = json_object_get(spec, "normalizer");
	if (json_is_string(norm))
		json_object_set(o, "normalizer", norm);
	json_t *above = json_object_get(spec, "ignore_above");
	if (json_is_integer(above))
		json_object_set(o, "ignore_above", above);
	if (json_is_false(json_object_get(spec, "index")))
		json_object_set_new(o, "index", json_false());
	if (json_is_false(json_object_get(spec, "doc_values")))
		json_object_set_new(o, "doc_values", json_false());
}

/* A typed field's mapping, or NULL for a type trawl does not have. */
static json_t *typed_mapping(const char *type, json_t *spec)
{
	static const char *const types[] = {"keyword", "long", "double", "date", "boolean"};
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if (!strcmp(type, types[i])) {
			json_t *o = json_pack("{s:s}", "type", type);
			if (o)
				typed_settings(spec, o);
			return o;
		}
	return NULL;
}

static json_t *text_mapping(const char *name, json_t *spec, char *err, size_t errlen)
{
	json_t *an = json_object_get(spec, "analyzer");
	json_t *o = json_pack("{s:s}", "type", "text");
	if (o && json_is_string(an) && !strcmp(json_string_value(an), "english"))
		json_object_set_new(o, "analyzer", json_string("english"));
	json_t *twins = json_object_get(spec, "fields"), *subs = NULL;
	const char *sub;
	json_t *tspec;
	json_object_foreach(twins, sub, tspec)
	{
		json_t *t = json_object_get(tspec, "type");
		json_t *m = json_is_string(t) && !strcmp(json_string_value(t), "keyword")
		                ? typed_mapping("keyword", tspec)
		                : NULL;
		if (!m) {
			errf(err, errlen, TRAWL_ESCHEMA,
			     "schema: the twin %s.%s is not a keyword field", name, sub);
			json_decref(subs);
			json_decref(o);
			return NULL;
		}
		if (!subs)
			subs = json_object();
		json_object_set_new(subs, sub, m);
	}
	if (subs)
		json_object_set_new(o, "fields", subs);
	return o;
}

/* "_source" for a schema that stores less than every document whole. */
static json_t *source_mapping(json_t *store)
{
	if (json_is_string(store) && !strcmp(json_string_value(store), "none"))
		return json_pack("{s:b}", "enabled", 0);
	if (json_is_array(store))
		return json_pack("{s:O}", "includes", store);
	return NULL;
}

int mapping_from_schema(const char *schema, size_t len, json_t **out, char *err, size_t errlen)
{
	*out = NULL;
	json_error_t je;
	json_t *root = json_loadb(schema, len, JSON_REJECT_DUPLICATES, &je);
	json_t *fields = json_object_get(root, "fields");
	if (!json_is_object(fields)) {
		json_decref(root);
		return errf(err, errlen, TRAWL_ESCHEMA, "schema: %s",
		            root ? "no \"fields\" object" : je.text);
	}
	json_t *props = json_object(), *m = json_object();
	int rc = props && m ? TRAWL_OK : TRAWL_ENOMEM;
	const char *name;
	json_t *spec;
	json_object_foreach(fields, name, spec)
	{
		if (rc)
			break;
		json_t *t = json_object_get(spec, "type");
		const char *type = json_is_string(t) ? json_string_value(t) : "";
		json_t *f = !strcmp(type, "text") ? text_mapping(name, spec, err, errlen)
		                                  : typed_mapping(type, spec);
		if (!f) {
			if (strcmp(type, "text"))
				errf(
				    err, errlen, TRAWL_ESCHEMA,
				    "schema: field %s has the type \"%.40s\", which this root does "
				    "not know",
				    name, type);
			rc = TRAWL_ESCHEMA;
			break;
		}
		json_object_set_new(props, name, f);
	}
	json_t *src = source_mapping(json_object_get(root, "store"));
	json_decref(root);
	if (rc) {
		json_decref(src);
		json_decref(props);
		json_decref(m);
		return rc;
	}
	json_object_set_new(m, "properties", props);
	if (src)
		json_object_set_new(m, "_source", src);
	*out = m;
	return TRAWL_OK;
}
