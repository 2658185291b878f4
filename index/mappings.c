/*
 * mappings.c - an OpenSearch (or Elasticsearch) mapping translated into a
 * trawl schema (trawl_schema_from_mappings in trawl.h), so that someone
 * moving an index over starts from the mapping they have. Each field type
 * goes to its nearest trawl type; whatever has no equivalent (an object's
 * sub-fields, an analyzer trawl lacks, a date format it does not read, a
 * type such as ip or geo_point) is reported through the caller's warn
 * callback, naming the field, and left out. The result is checked by the
 * schema parser before it is returned. docs/SCHEMA.md has the table.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "index/index_int.h"

typedef struct mapper {
	json_t *fields; /* the schema's "fields" being built */
	json_t *used;   /* every name taken so far, twins included (as keys) */
	uint32_t ntext, ntyped;
	void (*warn)(void *ctx, const char *msg);
	void *ctx;
} mapper;

static void warnf(mapper *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void warnf(mapper *m, const char *fmt, ...)
{
	if (!m->warn)
		return;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	m->warn(m->ctx, msg);
}

static const char *str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Whether every format of a date field's "a||b" list is one trawl reads:
 * ISO 8601 dates with optional time and zone, and epoch milliseconds. */
static int date_formats_ok(const char *formats)
{
	static const char *const ok[] = {
	    "strict_date_optional_time",
	    "date_optional_time",
	    "strict_date_optional_time_nanos",
	    "epoch_millis",
	    "strict_date",
	    "date",
	    "strict_date_time",
	    "date_time",
	    "strict_date_time_no_millis",
	    "date_time_no_millis",
	    "strict_year_month_day",
	    "year_month_day",
	    "strict_year_month",
	    "year_month",
	    "strict_year",
	    "year",
	    "yyyy-MM-dd",
	};
	const char *p = formats;
	for (;;) {
		size_t n = strcspn(p, "|");
		int found = 0;
		for (size_t i = 0; i < sizeof ok / sizeof ok[0] && !found; i++)
			found = strlen(ok[i]) == n && !strncmp(ok[i], p, n);
		if (!found)
			return 0;
		p += n;
		if (!*p)
			return 1;
		p += strspn(p, "|");
	}
}

/* Parameters that change what a field holds or matches and that trawl
 * does not carry over: each one found is a warning. */
static void unmapped_params(mapper *m, const char *name, json_t *spec)
{
	static const char *const params[] = {
	    "copy_to", "null_value", "search_analyzer",        "ignore_malformed",
	    "coerce",  "fielddata",  "position_increment_gap", "index_prefixes"};
	for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
		if (json_object_get(spec, params[i]))
			warnf(m, "%s: \"%s\" is not carried over", name, params[i]);
}

/* The settings of a keyword (top-level or a twin) from an OpenSearch
 * keyword's parameters. */
static json_t *keyword_spec(mapper *m, const char *name, json_t *spec)
{
	json_t *out = json_pack("{s:s}", "type", "keyword");
	const char *norm = str(spec, "normalizer");
	if (norm && !strcmp(norm, "lowercase"))
		json_object_set_new(out, "normalizer", json_string("lowercase"));
	else if (norm)
		warnf(m,
		      "%s: normalizer \"%s\" is not trawl's; trawl has \"lowercase\" only (none "
		      "used: values are kept exact)",
		      name, norm);
	json_t *above = json_object_get(spec, "ignore_above");
	if (json_is_integer(above) && json_integer_value(above) >= 1) {
		json_int_t v = json_integer_value(above);
		if (v > LIMIT_KEYWORD_BYTES) {
			warnf(m, "%s: ignore_above %lld is over trawl's keyword limit; %d used",
			      name, (long long)v, LIMIT_KEYWORD_BYTES);
			v = LIMIT_KEYWORD_BYTES;
		}
		json_object_set_new(out, "ignore_above", json_integer(v));
	}
	return out;
}

/* The trawl type of an OpenSearch field type, or NULL (with a warning). */
static const char *typed_type(mapper *m, const char *name, const char *type, json_t *spec)
{
	static const struct {
		const char *os, *trawl;
	} same[] = {
	    {"keyword", "keyword"},   {"constant_keyword", "keyword"},
	    {"long", "long"},         {"integer", "long"},
	    {"short", "long"},        {"byte", "long"},
	    {"double", "double"},     {"float", "double"},
	    {"half_float", "double"}, {"scaled_float", "double"},
	    {"boolean", "boolean"},   {"date", "date"},
	};
	for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
		if (strcmp(type, same[i].os))
			continue;
		const char *fmt = str(spec, "format");
		if (!strcmp(type, "date") && fmt && !date_formats_ok(fmt))
			warnf(m,
			      "%s: date format \"%s\": trawl reads ISO 8601 dates and epoch "
			      "milliseconds only",
			      name, fmt);
		return same[i].trawl;
	}
	if (!strcmp(type, "unsigned_long")) {
		warnf(m, "%s: unsigned_long becomes long: values above 2^63-1 are refused", name);
		return "long";
	}
	if (!strcmp(type, "date_nanos")) {
		warnf(m, "%s: date_nanos becomes date: kept to the millisecond", name);
		return "date";
	}
	if (!strcmp(type, "wildcard")) {
		warnf(m, "%s: wildcard becomes keyword (exact values and prefixes)", name);
		return "keyword";
	}
	warnf(m, "%s: type \"%s\" has no trawl equivalent; not mapped", name, type);
	return NULL;
}

static void map_text(mapper *m, const char *name, json_t *spec)
{
	if (m->ntext == LIMIT_FIELDS) {
		warnf(m, "%s: more than %d text fields; not mapped", name, LIMIT_FIELDS);
		return;
	}
	const char *an = str(spec, "analyzer");
	const char *mine = "plain";
	if (an && !strcmp(an, "english"))
		mine = "english";
	else if (an && strcmp(an, "standard") && strcmp(an, "simple"))
		warnf(m,
		      "%s: analyzer \"%s\" is not trawl's; \"plain\" used (words of letters and "
		      "digits, case-folded; trawl's other analyzer is \"english\")",
		      name, an);
	json_t *out = json_pack("{s:s, s:s}", "type", "text", "analyzer", mine);
	json_t *subs = json_object_get(spec, "fields"), *twins = NULL;
	const char *sub;
	json_t *sspec;
	json_object_foreach(subs, sub, sspec)
	{
		const char *stype = str(sspec, "type");
		char full[256];
		snprintf(full, sizeof full, "%s.%s", name, sub);
		if (!stype || strcmp(stype, "keyword")) {
			warnf(
			    m,
			    "%s: a %s sub-field: trawl's text fields have keyword twins only; not "
			    "mapped",
			    full, stype ? stype : "typeless");
			continue;
		}
		if (!sub[0] || strchr(sub, '.') || !idx_field_name_ok(full)) {
			warnf(m, "%.80s: not a trawl field name; not mapped", full);
			continue;
		}
		if (json_object_get(m->used, full)) {
			warnf(m, "%s: another field has that name; this sub-field is not mapped",
			      full);
			continue;
		}
		if (m->ntyped == LIMIT_TYPED_FIELDS) {
			warnf(m, "%s: more than %d typed fields; not mapped", full,
			      LIMIT_TYPED_FIELDS);
			continue;
		}
		if (!twins)
			twins = json_object();
		json_object_set_new(twins, sub, keyword_spec(m, full, sspec));
		json_object_set_new(m->used, full, json_true());
		m->ntyped++;
	}
	if (twins)
		json_object_set_new(out, "fields", twins);
	json_object_set_new(m->fields, name, out);
	m->ntext++;
}

static void map_field(mapper *m, const char *name, json_t *spec)
{
	if (!json_is_object(spec)) {
		warnf(m, "%s: not an object; not mapped", name);
		return;
	}
	if (json_is_false(json_object_get(spec, "enabled")))
		return; /* not indexed there either; still stored here */
	json_t *props = json_object_get(spec, "properties");
	const char *type = str(spec, "type");
	if (props || (type && (!strcmp(type, "object") || !strcmp(type, "nested")))) {
		char subs[256] = "";
		size_t at = 0;
		const char *k;
		json_t *v;
		json_object_foreach(props, k, v)
		{
			if (at < sizeof subs - 80)
				at += (size_t)snprintf(subs + at, sizeof subs - at, "%s%s.%.60s",
				                       at ? ", " : " (", name, k);
			else if (at < sizeof subs) { /* the rest as one ellipsis */
				snprintf(subs + at, sizeof subs - at, ", ...");
				at = sizeof subs;
			}
		}
		warnf(m,
		      "%s: an object%s: trawl indexes top-level fields only; its sub-fields%s%s "
		      "are not mapped",
		      name, type && !strcmp(type, "nested") ? " (nested)" : "", subs,
		      at ? ")" : "");
		return;
	}
	if (!strcmp(name, "id")) {
		warnf(m, "id: trawl's documents carry their id in \"id\"; not mapped as a field");
		return;
	}
	if (!idx_field_name_ok(name)) {
		warnf(m,
		      "%.80s: not a trawl field name (1-%d characters of A-Z a-z 0-9 _ - .); not "
		      "mapped",
		      name, LIMIT_FIELD_NAME_BYTES);
		return;
	}
	if (json_object_get(m->used, name)) {
		warnf(m, "%s: a text field's sub-field has that name; not mapped", name);
		return;
	}
	json_object_set_new(m->used, name, json_true());
	if (!type)
		type = "object";
	unmapped_params(m, name, spec);
	if (!strcmp(type, "text") || !strcmp(type, "match_only_text")) {
		map_text(m, name, spec);
		return;
	}
	const char *mine = typed_type(m, name, type, spec);
	if (!mine)
		return;
	if (m->ntyped == LIMIT_TYPED_FIELDS) {
		warnf(m, "%s: more than %d typed fields; not mapped", name, LIMIT_TYPED_FIELDS);
		return;
	}
	json_t *out = !strcmp(mine, "keyword") ? keyword_spec(m, name, spec)
	                                       : json_pack("{s:s}", "type", mine);
	if (json_is_false(json_object_get(spec, "index")))
		json_object_set_new(out, "index", json_false());
	if (json_is_false(json_object_get(spec, "doc_values")))
		json_object_set_new(out, "doc_values", json_false());
	if (json_object_get(spec, "fields"))
		warnf(m,
		      "%s: sub-fields of a %s field are not mapped (trawl's twins belong to text "
		      "fields)",
		      name, type);
	json_object_set_new(m->fields, name, out);
	m->ntyped++;
}

/* The "properties" object of the mapping forms trawl takes, or NULL. */
static json_t *find_properties(json_t *root)
{
	json_t *mp = json_object_get(root, "mappings");
	if (!mp && json_object_size(root) == 1) { /* GET /NAME/_mapping: {"NAME": {"mappings"}} */
		const char *k;
		json_t *v;
		json_object_foreach(root, k, v)
		{
			mp = json_object_get(v, "mappings");
		}
	}
	if (!mp)
		mp = root;
	json_t *props = json_object_get(mp, "properties");
	if (!props && json_object_size(mp) == 1) { /* Elasticsearch 6: {"_doc": {...}} */
		const char *k;
		json_t *v;
		json_object_foreach(mp, k, v)
		{
			props = json_object_get(v, "properties");
		}
	}
	return json_is_object(props) ? props : NULL;
}

int trawl_schema_from_mappings(const char *json, size_t len, char **schema_out,
                               void (*warn)(void *ctx, const char *msg), void *ctx, char *errbuf,
                               size_t errlen)
{
	*schema_out = NULL;
	json_error_t je;
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return errf(errbuf, errlen, TRAWL_ESCHEMA, "mappings: line %d, column %d: %s",
		            je.line, je.column, je.text);
	json_t *props = json_is_object(root) ? find_properties(root) : NULL;
	if (!props) {
		json_decref(root);
		return errf(errbuf, errlen, TRAWL_ESCHEMA,
		            "mappings: no \"properties\" object (expected {\"mappings\": "
		            "{\"properties\": {...}}})");
	}
	mapper m = {json_object(), json_object(), 0, 0, warn, ctx};
	json_t *dyn = json_object_get(json_object_get(root, "mappings"), "dynamic_templates");
	if (dyn)
		warnf(&m, "dynamic_templates: trawl indexes only the fields its schema names; not "
		          "carried over");
	const char *name;
	json_t *spec;
	json_object_foreach(props, name, spec)
	{
		map_field(&m, name, spec);
	}
	json_decref(m.used);
	json_t *schema = json_pack("{s:o}", "fields", m.fields);
	char *out = json_dumps(schema, JSON_INDENT(2));
	json_decref(schema);
	json_decref(root);
	if (!out)
		return TRAWL_ENOMEM;
	if (m.ntext == 0) {
		free(out);
		return errf(errbuf, errlen, TRAWL_ESCHEMA,
		            "mappings: no text field to map (a trawl schema needs at least one)");
	}
	idx_schema check;
	char why[256];
	int rc = idx_schema_parse(&check, out, strlen(out), why, sizeof why);
	if (rc) { /* a translation the schema rules refuse is this file's bug */
		free(out);
		return errf(errbuf, errlen, TRAWL_ESCHEMA, "mappings: translated into a bad %s",
		            why);
	}
	*schema_out = out;
	return TRAWL_OK;
}
