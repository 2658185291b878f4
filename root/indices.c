/*
 * indices.c - index management in the OpenSearch-compatible API (issue
 * #12, "many indexes"): PUT /{index} (settings.number_of_shards, mappings,
 * aliases), DELETE /{index}, HEAD and GET /{index}, GET /_cat/indices and
 * /_cat/aliases, POST /_aliases (atomic actions), GET /_alias[/{name}],
 * /{index}/_alias[/{name}] (GET, PUT, POST, DELETE). The catalog
 * (root/catalog.h) does the work; this file reads requests and writes
 * OpenSearch's answers. Apart from root/opensearch.c, which searches and
 * writes documents, so that neither grows into the other.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/error.h"
#include "root/opensearch.h"
#include "trawl/trawl.h"

static int is(const char *a, const char *b)
{
	return a && !strcmp(a, b);
}

/* ---- PUT /{index} ---- */

static const char *const create_params[] = {"wait_for_active_shards", "timeout", "master_timeout",
                                            "cluster_manager_timeout", NULL};

/* A mapping translation's warnings, as Warning headers (at most 16). */
typedef struct warnings {
	http_response *resp;
	unsigned n;
} warnings;

static void warn(void *ctx, const char *msg)
{
	warnings *w = ctx;
	if (w->n++ >= 16)
		return;
	char h[600];
	snprintf(h, sizeof h, "299 trawl \"%.500s\"", msg);
	for (char *p = h + 10; *p && p[1]; p++)
		if (*p == '"' || *p == '\n')
			*p = '\'';
	http_response_header(w->resp, "Warning", h);
}

/* number_of_shards from a settings value (a number or a string of one). */
static int shards_value(json_t *v, uint32_t *out)
{
	json_int_t n = -1;
	if (json_is_integer(v))
		n = json_integer_value(v);
	else if (json_is_string(v)) {
		char *end;
		long long x = strtoll(json_string_value(v), &end, 10);
		if (*json_string_value(v) && !*end)
			n = x;
	}
	if (n < 1 || n > TRAWL_MAX_SHARDS)
		return -1;
	*out = (uint32_t)n;
	return 0;
}

/* Reads the settings of a create request: number_of_shards (default 1),
 * and number_of_replicas (taken, and meaningless here: trawl serve holds
 * one copy; a cluster's replicas are its leaves), under "settings",
 * "settings.index" or as "index.x" keys. Anything else is refused: a
 * setting silently ignored would be a promise not kept. */
static int read_settings(json_t *settings, uint32_t *shards, os_error *e)
{
	if (!settings)
		return 0;
	if (!json_is_object(settings))
		return os_set_err(e, 400, "illegal_argument_exception",
		                  "settings is not an object");
	const char *k;
	json_t *v;
	json_object_foreach(settings, k, v)
	{
		const char *name = !strncmp(k, "index.", 6) ? k + 6 : k;
		if (!strcmp(k, "index") && json_is_object(v)) {
			if (read_settings(v, shards, e))
				return -1;
		} else if (!strcmp(name, "number_of_shards")) {
			if (shards_value(v, shards))
				return os_set_err(e, 400, "illegal_argument_exception",
				                  "Failed to parse value for setting "
				                  "[index.number_of_shards]: a number from 1 to %d",
				                  TRAWL_MAX_SHARDS);
		} else if (!strcmp(name, "number_of_replicas")) {
			; /* see above */
		} else {
			return os_set_err(
			    e, 400, "illegal_argument_exception",
			    "unknown setting [index.%.100s]: trawl takes number_of_shards and "
			    "number_of_replicas (the refresh interval is the server's "
			    "--refresh-ms)",
			    name);
		}
	}
	return 0;
}

/* The alias actions of a create request's "aliases" object, for index. */
static int read_create_aliases(json_t *aliases, const char *index, cat_alias_action *acts,
                               uint32_t *n, os_error *e)
{
	*n = 0;
	if (!aliases)
		return 0;
	if (!json_is_object(aliases))
		return os_set_err(e, 400, "illegal_argument_exception", "aliases is not an object");
	const char *name;
	json_t *v;
	json_object_foreach(aliases, name, v)
	{
		if (*n >= LIMIT_ALIAS_ACTIONS)
			return os_set_err(e, 400, "illegal_argument_exception",
			                  "more than %d aliases", LIMIT_ALIAS_ACTIONS);
		json_t *w = json_object_get(v, "is_write_index");
		if (!json_is_object(v) || (w && !json_is_boolean(w)))
			return os_set_err(
			    e, 400, "illegal_argument_exception",
			    "alias [%.100s]: an object, with is_write_index true or false", name);
		const char *k;
		json_t *x;
		json_object_foreach(v, k, x)
		{
			if (strcmp(k, "is_write_index"))
				return os_set_err(
				    e, 400, "illegal_argument_exception",
				    "alias [%.100s]: [%.64s] is not supported (trawl's aliases "
				    "name indexes, without filters or routing)",
				    name, k);
		}
		acts[*n] = (cat_alias_action){CAT_ALIAS_ADD, index, name,
		                              json_is_boolean(w) ? json_is_true(w) : -1, 0};
		(*n)++;
	}
	return 0;
}

static void create_index(catalog *c, const char *name, const http_request *req, const qparams *qp,
                         http_response *resp, int pretty)
{
	os_error e;
	if (qs_check(qp, create_params, req->path, &e)) {
		os_send_err(resp, &e, NULL, pretty);
		return;
	}
	json_t *body = NULL;
	if (req->body_len) {
		json_error_t je;
		body =
		    json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
		if (!json_is_object(body)) {
			json_decref(body);
			os_send_errf(resp, pretty, 400, "parse_exception", NULL,
			             "the body is not a JSON object (line %d column %d: %s)",
			             je.line, je.column, body ? "not an object" : je.text);
			return;
		}
	}
	uint32_t shards = 1, nacts = 0;
	char *schema = NULL;
	cat_alias_action *acts = calloc(LIMIT_ALIAS_ACTIONS, sizeof *acts);
	const char *k;
	json_t *v;
	int bad = !acts ? os_set_err(&e, 500, "exception", "out of memory") : 0;
	json_object_foreach(body, k, v)
	{
		if (!bad && strcmp(k, "settings") && strcmp(k, "mappings") && strcmp(k, "aliases"))
			bad = os_set_err(&e, 400, "parse_exception",
			                 "unknown key [%.64s] for create index", k);
	}
	if (!bad)
		bad = read_settings(json_object_get(body, "settings"), &shards, &e);
	if (!bad)
		bad = read_create_aliases(json_object_get(body, "aliases"), name, acts, &nacts, &e);
	char err[LIMIT_ERRMSG_BYTES];
	json_t *mp = json_object_get(body, "mappings");
	if (!bad && mp) {
		/* the mapping as trawl_schema_from_mappings reads it */
		json_t *wrap = json_pack("{s:O}", "mappings", mp);
		char *text = wrap ? json_dumps(wrap, JSON_COMPACT) : NULL;
		json_decref(wrap);
		warnings w = {resp, 0};
		int rc = text ? trawl_schema_from_mappings(text, strlen(text), &schema, warn, &w,
		                                           err, sizeof err)
		              : TRAWL_ENOMEM;
		free(text);
		if (rc)
			bad = os_set_err(&e, rc == TRAWL_ENOMEM ? 500 : 400,
			                 "mapper_parsing_exception", "Failed to parse mapping: %s",
			                 err);
	}
	for (uint32_t i = 0; !bad && i < nacts; i++) {
		char why[256];
		cat_set held;
		if (cat_check_name(acts[i].alias, why, sizeof why))
			bad = os_set_err(&e, 400, "invalid_alias_name_exception",
			                 "Invalid alias name %s", why);
		else if (!strcmp(acts[i].alias, name) ||
		         cat_resolve(c, acts[i].alias, CAT_NO_ALIASES, &held, NULL, 0, why,
		                     sizeof why) == TRAWL_OK) {
			/* checked before the index is made, so that a create is whole
			 * (an alias can still lose a race with another create) */
			if (strcmp(acts[i].alias, name))
				cat_set_release(&held);
			bad = os_set_err(&e, 400, "invalid_alias_name_exception",
			                 "Invalid alias name [%.200s]: an index has that name",
			                 acts[i].alias);
		}
	}
	int rc =
	    bad ? 0
	        : cat_create(c, name, schema, schema ? strlen(schema) : 0, shards, err, sizeof err);
	if (!bad && rc == TRAWL_OK && nacts &&
	    (rc = cat_aliases_apply(c, acts, nacts, err, sizeof err)))
		bad = os_set_err(&e, 400, "illegal_argument_exception",
		                 "index [%s] created, its aliases not: %s", name, err);
	if (bad)
		os_send_err(resp, &e, bad ? name : NULL, pretty);
	else if (rc == TRAWL_EQUERY)
		os_send_errf(resp, pretty, 400, "invalid_index_name_exception", name, "%s", err);
	else if (rc == TRAWL_EINVAL && cat_can_create(c))
		os_send_errf(resp, pretty, 400, "resource_already_exists_exception", name, "%s",
		             err);
	else if (rc == TRAWL_EINVAL)
		os_send_errf(resp, pretty, 405, "illegal_argument_exception", NULL, "%s", err);
	else if (rc == TRAWL_ELIMIT)
		os_send_errf(resp, pretty, 400, "validation_exception", name, "%s", err);
	else if (rc)
		os_send_errf(resp, pretty, rc == TRAWL_ENOSPC ? 507 : 500, "exception", name, "%s",
		             err);
	else
		os_send_json(resp, 200,
		             json_pack("{s:b, s:b, s:s}", "acknowledged", 1, "shards_acknowledged",
		                       1, "index", name),
		             pretty);
	free(schema);
	free(acts);
	json_decref(body);
}

/* ---- DELETE /{index}, HEAD and GET /{index} ---- */

static const char *const delete_params[] = {"timeout",
                                            "master_timeout",
                                            "cluster_manager_timeout",
                                            "ignore_unavailable",
                                            "allow_no_indices",
                                            "expand_wildcards",
                                            NULL};

static void delete_index(catalog *c, const char *expr, const http_request *req, const qparams *qp,
                         http_response *resp, int pretty)
{
	os_error e;
	if (qs_check(qp, delete_params, req->path, &e)) {
		os_send_err(resp, &e, NULL, pretty);
		return;
	}
	char err[LIMIT_ERRMSG_BYTES];
	uint32_t n = 0;
	int rc = cat_delete(c, expr, &n, err, sizeof err);
	if (rc == TRAWL_ENOTFOUND)
		os_send_errf(resp, pretty, 404, "index_not_found_exception", NULL, "%s", err);
	else if (rc == TRAWL_EINVAL)
		os_send_errf(resp, pretty, 405, "illegal_argument_exception", NULL, "%s", err);
	else if (rc == TRAWL_EQUERY) /* an alias named: OpenSearch's 400 */
		os_send_errf(resp, pretty, 400, "illegal_argument_exception", NULL, "%s", err);
	else if (rc)
		os_resolve_failed(resp, pretty, rc, NULL, err);
	else
		os_send_json(resp, 200, json_pack("{s:b}", "acknowledged", 1), pretty);
}

/* Whether name matches one of a comma-separated list of names and
 * wildcard patterns ("_all" and "*" match every name). */
static int name_matches(const char *list, const char *name)
{
	char item[LIMIT_INDEX_NAME_BYTES + 1];
	for (const char *s = list; *s;) {
		const char *comma = strchr(s, ',');
		size_t n = comma ? (size_t)(comma - s) : strlen(s);
		snprintf(item, sizeof item, "%.*s", (int)n, s);
		if (!strcmp(item, "_all") || fnmatch(item, name, 0) == 0)
			return 1;
		s = comma ? comma + 1 : s + n;
	}
	return 0;
}

/* {alias: {} or {"is_write_index": b}} of index, the aliases matching
 * pattern (NULL: all). */
static json_t *aliases_of(catalog *c, const char *index, const char *pattern)
{
	char(*names)[LIMIT_INDEX_NAME_BYTES + 1] = malloc(LIMIT_ALIASES * sizeof *names);
	int *write = malloc(LIMIT_ALIASES * sizeof *write);
	json_t *j = json_object();
	uint32_t n = names && write ? cat_aliases_of(c, index, names, write, LIMIT_ALIASES) : 0;
	for (uint32_t i = 0; i < n; i++) {
		if (pattern && !name_matches(pattern, names[i]))
			continue;
		json_object_set_new(j, names[i],
		                    write[i] < 0 ? json_object()
		                                 : json_pack("{s:b}", "is_write_index", write[i]));
	}
	free(names);
	free(write);
	return j;
}

static void get_index(catalog *c, const char *expr, const qparams *qp, const http_request *req,
                      http_response *resp, int pretty)
{
	static const char *const params[] = {"ignore_unavailable",
	                                     "allow_no_indices",
	                                     "expand_wildcards",
	                                     "include_defaults",
	                                     "flat_settings",
	                                     "local",
	                                     NULL};
	cat_set set;
	if (os_begin(c, expr, params, qp, req, resp, pretty, &set))
		return;
	char err[LIMIT_ERRMSG_BYTES];
	int rc = TRAWL_OK;
	json_t *out = json_object();
	for (uint32_t i = 0; i < set.n && !rc; i++) {
		const char *name = cat_name(set.ix[i]);
		json_t *mp = NULL;
		if ((rc = os_index_mapping(cat_root(set.ix[i]), &mp, err, sizeof err)))
			break;
		cat_stats st;
		cat_describe(c, set.ix[i], &st);
		char uuid[23], shards[16];
		os_uuid(name, uuid);
		snprintf(shards, sizeof shards, "%u", st.nshards);
		json_t *settings =
		    json_pack("{s:{s:s, s:s, s:s, s:s}}", "index", "number_of_shards",
		              st.nshards ? shards : "1", "number_of_replicas", "0", "provided_name",
		              name, "uuid", uuid);
		json_object_set_new(out, name,
		                    json_pack("{s:o, s:o, s:o}", "aliases",
		                              aliases_of(c, name, NULL), "mappings", mp, "settings",
		                              settings));
	}
	cat_set_release(&set);
	if (rc) {
		json_decref(out);
		os_send_errf(resp, pretty, rc == TRAWL_EIO ? 503 : 500, "exception", NULL, "%s",
		             err);
		return;
	}
	os_send_json(resp, 200, out, pretty);
}

static void head_index(catalog *c, const char *expr, http_response *resp, int pretty)
{
	char missing[LIMIT_INDEX_NAME_BYTES + 1], err[LIMIT_ERRMSG_BYTES];
	cat_set set;
	int rc = cat_resolve(c, expr, 0, &set, missing, sizeof missing, err, sizeof err);
	int found = !rc && set.n > 0;
	if (!rc)
		cat_set_release(&set);
	if (found)
		os_send_json(resp, 200, json_object(), pretty);
	else
		os_index_not_found(resp, pretty, rc ? missing : expr);
}

/* ---- _cat ---- */

static const char *const cat_params[] = {"v",    "h",     "format",           "bytes",  "s",
                                         "help", "local", "expand_wildcards", "health", NULL};

/* A _cat table: named columns, rows of strings. */
typedef struct table {
	uint32_t ncols, nrows, cap;
	const char *cols[16];
	char **cells; /* nrows x ncols, malloc'ed */
} table;

static void table_add(table *t, char **row)
{
	if (t->nrows == t->cap) {
		uint32_t cap = t->cap ? 2 * t->cap : 16;
		char **c = realloc(t->cells, (size_t)cap * t->ncols * sizeof *c);
		if (!c) {
			for (uint32_t i = 0; i < t->ncols; i++)
				free(row[i]);
			return;
		}
		t->cells = c;
		t->cap = cap;
	}
	memcpy(&t->cells[(size_t)t->nrows++ * t->ncols], row, t->ncols * sizeof *row);
}

static void table_free(table *t)
{
	for (size_t i = 0; i < (size_t)t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
}

/* Writes t as OpenSearch's _cat does: JSON objects of strings with
 * format=json, else aligned text (a header line with v); h picks and
 * orders columns. */
static void table_send(const table *t, const qparams *qp, http_response *resp, int pretty)
{
	const char *h = qs_get(qp, "h"), *format = qs_get(qp, "format");
	int v = 0;
	if (qs_get(qp, "v"))
		os_parse_flag(qs_get(qp, "v"), &v);
	uint32_t pick[16], np = 0;
	if (h && *h) {
		for (const char *s = h; *s && np < 16;) {
			const char *comma = strchr(s, ',');
			size_t n = comma ? (size_t)(comma - s) : strlen(s);
			uint32_t c = 0;
			while (c < t->ncols &&
			       (strlen(t->cols[c]) != n || strncmp(t->cols[c], s, n)))
				c++;
			if (c == t->ncols) {
				os_send_errf(resp, pretty, 400, "illegal_argument_exception", NULL,
				             "header [%.*s] is not a column of this table", (int)n,
				             s);
				return;
			}
			pick[np++] = c;
			s = comma ? comma + 1 : s + n;
		}
	} else {
		for (uint32_t c = 0; c < t->ncols; c++)
			pick[np++] = c;
	}
	if (format && !strcmp(format, "json")) {
		json_t *arr = json_array();
		for (uint32_t r = 0; r < t->nrows; r++) {
			json_t *o = json_object();
			for (uint32_t k = 0; k < np; k++)
				json_object_set_new(
				    o, t->cols[pick[k]],
				    os_jstr(t->cells[(size_t)r * t->ncols + pick[k]]));
			json_array_append_new(arr, o);
		}
		os_send_json(resp, 200, arr, pretty);
		return;
	}
	if (format && strcmp(format, "txt") && strcmp(format, "text")) {
		os_send_errf(resp, pretty, 400, "illegal_argument_exception", NULL,
		             "format [%.32s]: trawl's _cat writes json or text", format);
		return;
	}
	size_t width[16] = {0};
	for (uint32_t k = 0; k < np; k++) {
		if (v)
			width[k] = strlen(t->cols[pick[k]]);
		for (uint32_t r = 0; r < t->nrows; r++) {
			size_t n = strlen(t->cells[(size_t)r * t->ncols + pick[k]]);
			width[k] = n > width[k] ? n : width[k];
		}
	}
	tbuf b;
	tbuf_init(&b, (size_t)64 << 20);
	for (uint32_t r = v ? 0 : 1; r <= t->nrows; r++) {
		for (uint32_t k = 0; k < np; k++) {
			const char *cell =
			    r ? t->cells[(size_t)(r - 1) * t->ncols + pick[k]] : t->cols[pick[k]];
			if (k + 1 < np)
				tbuf_printf(&b, "%-*s ", (int)width[k], cell);
			else
				tbuf_printf(&b, "%s", cell);
		}
		tbuf_printf(&b, "\n");
	}
	http_response_text(resp, 200, "text/plain; charset=UTF-8", b.data ? b.data : (void *)"",
	                   b.len);
	tbuf_fini(&b);
}

/* bytes as _cat writes sizes: with bytes=b|kb|mb|gb in that unit, else
 * the largest unit that keeps a number of at least 1 ("1.2mb"). */
static char *size_text(int64_t bytes, const char *unit)
{
	char *s = NULL;
	if (bytes < 0)
		return strdup("");
	static const char *const units[] = {"b", "kb", "mb", "gb", "tb"};
	if (unit) {
		int u = 0;
		while (u < 5 && strcmp(units[u], unit))
			u++;
		if (u < 5) {
			int64_t d = (int64_t)1 << (10 * u);
			return asprintf(&s, "%lld", (long long)(bytes / d)) < 0 ? NULL : s;
		}
	}
	double v = (double)bytes;
	int u = 0;
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	return asprintf(&s, u ? "%.1f%s" : "%.0f%s", v, units[u]) < 0 ? NULL : s;
}

static char *num_text(int64_t v)
{
	char *s = NULL;
	if (v < 0)
		return strdup("");
	return asprintf(&s, "%lld", (long long)v) < 0 ? NULL : s;
}

static void cat_indices(catalog *c, const char *expr, const qparams *qp, const http_request *req,
                        http_response *resp, int pretty)
{
	cat_set set;
	if (os_begin(c, expr, cat_params, qp, req, resp, pretty, &set))
		return;
	const char *unit = qs_get(qp, "bytes"), *health = qs_get(qp, "health");
	static const char *const units[] = {"b", "kb", "mb", "gb", "tb", NULL};
	static const char *const healths[] = {"green", "yellow", "red", NULL};
	if ((unit && !os_in_list(units, unit)) || (health && !os_in_list(healths, health))) {
		os_send_errf(resp, pretty, 400, "illegal_argument_exception", NULL,
		             "bytes takes b, kb, mb, gb or tb; health green, yellow or red");
		cat_set_release(&set);
		return;
	}
	table t = {10,
	           0,
	           0,
	           {"health", "status", "index", "uuid", "pri", "rep", "docs.count", "docs.deleted",
	            "store.size", "pri.store.size"},
	           NULL};
	for (uint32_t i = 0; i < set.n; i++) {
		const char *name = cat_name(set.ix[i]);
		cat_stats st;
		cat_describe(c, set.ix[i], &st);
		char uuid[23];
		os_uuid(name, uuid);
		const char *h = root_ready(cat_root(set.ix[i])) ? "green" : "red";
		if (health && strcmp(health, h))
			continue;
		char *row[10] = {strdup(h),
		                 strdup("open"),
		                 strdup(name),
		                 strdup(uuid),
		                 num_text(st.nshards),
		                 strdup("0"),
		                 num_text(st.docs),
		                 num_text(st.deleted),
		                 size_text(st.bytes, unit),
		                 size_text(st.bytes, unit)};
		int ok = 1;
		for (int k = 0; k < 10; k++)
			ok &= row[k] != NULL;
		if (ok)
			table_add(&t, row);
		else
			for (int k = 0; k < 10; k++)
				free(row[k]);
	}
	cat_set_release(&set);
	table_send(&t, qp, resp, pretty);
	table_free(&t);
}

static void cat_aliases(catalog *c, const char *pattern, const qparams *qp, const http_request *req,
                        http_response *resp, int pretty)
{
	os_error e;
	if (qs_check(qp, cat_params, req->path, &e)) {
		os_send_err(resp, &e, NULL, pretty);
		return;
	}
	table t = {
	    6,
	    0,
	    0,
	    {"alias", "index", "filter", "routing.index", "routing.search", "is_write_index"},
	    NULL};
	cat_set all;
	cat_all(c, &all);
	for (uint32_t i = 0; i < all.n; i++) {
		json_t *al = aliases_of(c, cat_name(all.ix[i]), pattern);
		const char *name;
		json_t *v;
		json_object_foreach(al, name, v)
		{
			json_t *w = json_object_get(v, "is_write_index");
			char *row[6] = {
			    strdup(name), strdup(cat_name(all.ix[i])),
			    strdup("-"),  strdup("-"),
			    strdup("-"),  strdup(w ? (json_is_true(w) ? "true" : "false") : "-")};
			table_add(&t, row);
		}
		json_decref(al);
	}
	cat_set_release(&all);
	table_send(&t, qp, resp, pretty);
	table_free(&t);
}

/* ---- aliases ---- */

/* Applies alias actions and answers: acknowledged, or OpenSearch's error
 * (404 for a missing alias or index, 405 where indexes are fixed). */
static void apply_aliases(catalog *c, const cat_alias_action *acts, uint32_t n, http_response *resp,
                          int pretty)
{
	char err[LIMIT_ERRMSG_BYTES];
	int rc = cat_aliases_apply(c, acts, n, err, sizeof err);
	if (rc == TRAWL_ENOTFOUND && strstr(err, "aliases ["))
		os_send_errf(resp, pretty, 404, "aliases_not_found_exception", NULL, "%s", err);
	else if (rc == TRAWL_ENOTFOUND)
		os_send_errf(resp, pretty, 404, "index_not_found_exception", NULL, "%s", err);
	else if (rc == TRAWL_EINVAL)
		os_send_errf(resp, pretty, 405, "illegal_argument_exception", NULL, "%s", err);
	else if (rc == TRAWL_EQUERY || rc == TRAWL_ELIMIT)
		os_send_errf(resp, pretty, 400, "illegal_argument_exception", NULL, "%s", err);
	else if (rc)
		os_send_errf(resp, pretty, rc == TRAWL_ENOSPC ? 507 : 500, "exception", NULL, "%s",
		             err);
	else
		os_send_json(resp, 200, json_pack("{s:b}", "acknowledged", 1), pretty);
}

/* An action's index or indices, alias or aliases: each name once. */
static int action_names(json_t *o, const char *one, const char *many, const char **out, uint32_t *n,
                        uint32_t max, os_error *e)
{
	json_t *a = json_object_get(o, one), *b = json_object_get(o, many);
	*n = 0;
	if (a && b)
		return os_set_err(e, 400, "illegal_argument_exception", "[%s] and [%s] both given",
		                  one, many);
	if (json_is_string(a)) {
		out[(*n)++] = json_string_value(a);
		return 0;
	}
	if (json_is_array(b) && json_array_size(b) && json_array_size(b) <= max) {
		size_t i;
		json_t *v;
		json_array_foreach(b, i, v)
		{
			if (!json_is_string(v))
				return os_set_err(e, 400, "illegal_argument_exception",
				                  "[%s] holds something that is not a name", many);
			out[(*n)++] = json_string_value(v);
		}
		return 0;
	}
	return os_set_err(e, 400, "illegal_argument_exception", "one of [%s] or [%s] is required",
	                  one, many);
}

static void post_aliases(catalog *c, const http_request *req, const qparams *qp,
                         http_response *resp, int pretty)
{
	static const char *const params[] = {"timeout", "master_timeout", "cluster_manager_timeout",
	                                     NULL};
	os_error e;
	if (qs_check(qp, params, req->path, &e)) {
		os_send_err(resp, &e, NULL, pretty);
		return;
	}
	json_error_t je;
	json_t *body =
	    json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
	json_t *actions = json_object_get(body, "actions");
	if (!json_is_array(actions)) {
		os_send_errf(resp, pretty, 400, "parse_exception", NULL,
		             body ? "the body needs \"actions\": [...]"
		                  : "the body is not JSON (line %d column %d: %s)",
		             je.line, je.column, je.text);
		json_decref(body);
		return;
	}
	cat_alias_action *acts = calloc(LIMIT_ALIAS_ACTIONS, sizeof *acts);
	uint32_t n = 0;
	int bad = acts ? 0 : os_set_err(&e, 500, "exception", "out of memory");
	size_t i;
	json_t *a;
	json_array_foreach(actions, i, a)
	{
		if (bad)
			break;
		const char *op = NULL;
		json_t *x = NULL;
		if (json_is_object(a) && json_object_size(a) == 1) {
			void *it = json_object_iter(a);
			op = json_object_iter_key(it);
			x = json_object_iter_value(it);
		}
		int kind = is(op, "add")            ? CAT_ALIAS_ADD
		           : is(op, "remove")       ? CAT_ALIAS_REMOVE
		           : is(op, "remove_index") ? CAT_ALIAS_REMOVE_INDEX
		                                    : -1;
		if (kind < 0 || !json_is_object(x)) {
			bad = os_set_err(
			    &e, 400, "illegal_argument_exception",
			    "action %zu: one of add, remove or remove_index, with an object", i);
			break;
		}
		const char *k;
		json_t *v;
		json_object_foreach(x, k, v)
		{
			static const char *const keys[] = {
			    "index",          "indices",    "alias", "aliases",
			    "is_write_index", "must_exist", NULL};
			if (!os_in_list(keys, k) && !bad)
				bad = os_set_err(
				    &e, 400, "illegal_argument_exception",
				    "action %zu [%s]: [%.64s] is not supported (trawl's aliases "
				    "name indexes, without filters or routing)",
				    i, op, k);
		}
		const char *ix[LIMIT_INDEX_EXPR_ITEMS], *al[LIMIT_INDEX_EXPR_ITEMS];
		uint32_t nix = 0, nal = 1;
		al[0] = NULL;
		if (!bad)
			bad = action_names(x, "index", "indices", ix, &nix, LIMIT_INDEX_EXPR_ITEMS,
			                   &e);
		if (!bad && kind != CAT_ALIAS_REMOVE_INDEX)
			bad = action_names(x, "alias", "aliases", al, &nal, LIMIT_INDEX_EXPR_ITEMS,
			                   &e);
		json_t *w = json_object_get(x, "is_write_index"),
		       *me = json_object_get(x, "must_exist");
		for (uint32_t p = 0; !bad && p < nix; p++)
			for (uint32_t q = 0; !bad && q < nal; q++) {
				if (n >= LIMIT_ALIAS_ACTIONS) {
					bad = os_set_err(&e, 400, "illegal_argument_exception",
					                 "more than %d alias actions",
					                 LIMIT_ALIAS_ACTIONS);
					break;
				}
				acts[n++] = (cat_alias_action){
				    kind, ix[p], al[q], json_is_boolean(w) ? json_is_true(w) : -1,
				    json_is_true(me)};
			}
	}
	if (bad)
		os_send_err(resp, &e, NULL, pretty);
	else
		apply_aliases(c, acts, n, resp, pretty);
	free(acts);
	json_decref(body);
}

/* Whether one of the indexes of out ({index: {"aliases": {...}}}) has
 * the alias name. */
static int has_alias(json_t *out, const char *name)
{
	const char *ix;
	json_t *v;
	json_object_foreach(out, ix, v)
	{
		if (json_object_get(json_object_get(v, "aliases"), name))
			return 1;
	}
	return 0;
}

/* GET /_alias[/{name}], /{index}/_alias[/{name}], /_aliases: the indexes
 * (of expr) with their aliases (matching name); 404 with what was found
 * when a name (not a pattern) of the list is no alias of these indexes. HEAD answers the same
 * status without a body. */
static void get_aliases(catalog *c, const char *expr, const char *name, int only_with,
                        const qparams *qp, const http_request *req, http_response *resp, int pretty)
{
	static const char *const params[] = {"local", "ignore_unavailable", "allow_no_indices",
	                                     "expand_wildcards", NULL};
	cat_set set;
	if (os_begin(c, expr, params, qp, req, resp, pretty, &set))
		return;
	json_t *out = json_object();
	for (uint32_t i = 0; i < set.n; i++) {
		json_t *al = aliases_of(c, cat_name(set.ix[i]), name);
		if ((name || only_with) && !json_object_size(al))
			json_decref(al);
		else
			json_object_set_new(out, cat_name(set.ix[i]),
			                    json_pack("{s:o}", "aliases", al));
	}
	cat_set_release(&set);
	/* names (not patterns) that no index has: 404, with what was found */
	char missing[LIMIT_ERRMSG_BYTES] = "";
	unsigned nmissing = 0;
	for (const char *s = name ? name : ""; *s;) {
		const char *comma = strchr(s, ',');
		size_t n = comma ? (size_t)(comma - s) : strlen(s);
		char item[LIMIT_INDEX_NAME_BYTES + 1];
		snprintf(item, sizeof item, "%.*s", (int)n, s);
		s = comma ? comma + 1 : s + n;
		if (!n || strchr(item, '*') || !strcmp(item, "_all") || has_alias(out, item))
			continue;
		size_t at = strlen(missing);
		snprintf(missing + at, sizeof missing - at, "%s%s", nmissing++ ? "," : "", item);
	}
	if (nmissing) {
		char msg[LIMIT_ERRMSG_BYTES + 32];
		snprintf(msg, sizeof msg, "alias%s [%s] missing", nmissing > 1 ? "es" : "",
		         missing);
		json_object_set_new(out, "error", json_string(msg));
		json_object_set_new(out, "status", json_integer(404));
		os_send_json(resp, 404, out, pretty);
		return;
	}
	os_send_json(resp, 200, out, pretty);
}

/* PUT|POST /{index}/_alias/{name} (body: is_write_index), DELETE
 * /{index}/_alias/{name}. */
static void put_or_delete_alias(catalog *c, const char *index, const char *name, int remove,
                                const http_request *req, const qparams *qp, http_response *resp,
                                int pretty)
{
	int is_write = -1;
	if (!remove && req->body_len) {
		json_t *body = json_loadb((const char *)req->body, req->body_len,
		                          JSON_REJECT_DUPLICATES, NULL);
		json_t *w = json_object_get(body, "is_write_index");
		const char *k;
		json_t *v;
		int bad = !json_is_object(body) || (w && !json_is_boolean(w));
		json_object_foreach(body, k, v)
		{
			bad |= strcmp(k, "is_write_index") != 0;
		}
		is_write = json_is_boolean(w) ? json_is_true(w) : -1;
		json_decref(body);
		if (bad) {
			os_send_errf(resp, pretty, 400, "illegal_argument_exception", NULL,
			             "the body may hold is_write_index only (trawl's aliases name "
			             "indexes, without filters or routing)");
			return;
		}
	}
	static const char *const params[] = {"timeout", "master_timeout", "cluster_manager_timeout",
	                                     NULL};
	os_error e;
	if (qs_check(qp, params, req->path, &e)) {
		os_send_err(resp, &e, NULL, pretty);
		return;
	}
	cat_alias_action a = {remove ? CAT_ALIAS_REMOVE : CAT_ALIAS_ADD, index, name, is_write,
	                      remove};
	apply_aliases(c, &a, 1, resp, pretty);
}

/* ---- routing ---- */

int os_indices_handle(catalog *c, const char *a, const char *b, const char *rest, const qparams *qp,
                      const http_request *req, http_response *resp, int pretty)
{
	const char *m = req->method;
	int get = is(m, "GET"), head = is(m, "HEAD");
	int has_rest = rest && *rest;
	const char *sub = has_rest && !strchr(rest, '/') ? rest : NULL;
	if (is(a, "_cat") && is(b, "indices") && (!has_rest || sub)) {
		get || head ? cat_indices(c, sub, qp, req, resp, pretty)
		            : os_bad_method(resp, pretty, req, "GET");
	} else if (is(a, "_cat") && is(b, "aliases") && (!has_rest || sub)) {
		get || head ? cat_aliases(c, sub, qp, req, resp, pretty)
		            : os_bad_method(resp, pretty, req, "GET");
	} else if (is(a, "_aliases") && !b) {
		if (is(m, "POST"))
			post_aliases(c, req, qp, resp, pretty);
		else if (get)
			get_aliases(c, NULL, NULL, 0, qp, req, resp, pretty);
		else
			os_bad_method(resp, pretty, req, "GET, POST");
	} else if (is(a, "_alias") && !has_rest) {
		get || head ? get_aliases(c, NULL, b, 0, qp, req, resp, pretty)
		            : os_bad_method(resp, pretty, req, "GET, HEAD");
	} else if (a[0] != '_' && (is(b, "_alias") || is(b, "_aliases")) && (!has_rest || sub)) {
		if (get || head)
			get_aliases(c, a, sub, 0, qp, req, resp, pretty);
		else if (sub && (is(m, "PUT") || is(m, "POST") || is(m, "DELETE")))
			put_or_delete_alias(c, a, sub, is(m, "DELETE"), req, qp, resp, pretty);
		else
			os_bad_method(resp, pretty, req,
			              sub ? "GET, HEAD, PUT, POST, DELETE" : "GET, HEAD");
	} else if (!b && (a[0] != '_' || is(a, "_all"))) {
		if (head)
			head_index(c, a, resp, pretty);
		else if (get)
			get_index(c, a, qp, req, resp, pretty);
		else if (is(m, "PUT"))
			create_index(c, a, req, qp, resp, pretty);
		else if (is(m, "DELETE"))
			delete_index(c, a, req, qp, resp, pretty);
		else
			os_bad_method(resp, pretty, req, "HEAD, GET, PUT, DELETE");
	} else {
		return 0;
	}
	return 1;
}
