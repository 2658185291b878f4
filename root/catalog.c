/*
 * catalog.c - the indexes a root answers for and their aliases
 * (root/catalog.h): a table in name order under one mutex, each index
 * counted while requests hold it, and the resolution of OpenSearch's index
 * expressions against it. An index deleted leaves the table (and every
 * alias) at once; its host drops it once the last request holding it has
 * let it go. Alias changes are made on a copy and swapped in once the
 * host has saved them, so that a batch of actions is all or nothing.
 */
#include "root/catalog.h"

#include <fnmatch.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

struct cat_index {
	char name[LIMIT_INDEX_NAME_BYTES + 1];
	catalog *owner;
	root *r;
	void *data;    /* the host's */
	unsigned refs; /* requests holding it (under the catalog's mutex) */
};

/* An alias: the indexes it names, and the write flag each was given
 * (-1 unset, 0 false, 1 true: OpenSearch's is_write_index). */
typedef struct cat_alias {
	char name[LIMIT_INDEX_NAME_BYTES + 1];
	uint32_t n;
	cat_index *ix[LIMIT_INDEXES];
	signed char write[LIMIT_INDEXES];
} cat_alias;

/* The aliases, as one value that can be copied, changed and swapped in. */
typedef struct alias_table {
	uint32_t n;
	cat_alias *a[LIMIT_ALIASES]; /* in name order */
} alias_table;

struct catalog {
	pthread_mutex_t admin;   /* held by every change (create, delete, aliases) for its
	                            whole length, so that a change may let go of mu while
	                            its host saves, and no other change comes between */
	pthread_mutex_t mu;      /* the table, the aliases, the references; held briefly */
	pthread_cond_t released; /* an index's refs fell to zero */
	cat_host host;
	int has_host;
	char name[LIMIT_INDEX_NAME_BYTES + 1];
	uint32_t n;
	cat_index *ix[LIMIT_INDEXES]; /* in name order */
	uint32_t ncreating;           /* names reserved by cat_create */
	char creating[LIMIT_INDEXES][LIMIT_INDEX_NAME_BYTES + 1];
	alias_table al;
	char fixed_why[LIMIT_ERRMSG_BYTES / 2]; /* cat_fix's reason ("": the default) */
};

int cat_open(catalog **out, const cat_host *host, const char *name)
{
	catalog *c = calloc(1, sizeof *c);
	if (!c)
		return TRAWL_ENOMEM;
	pthread_mutex_init(&c->admin, NULL);
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->released, NULL);
	if (host) {
		c->host = *host;
		c->has_host = 1;
	}
	snprintf(c->name, sizeof c->name, "%s", name ? name : "trawl");
	*out = c;
	return TRAWL_OK;
}

static void aliases_free(alias_table *t)
{
	for (uint32_t i = 0; i < t->n; i++)
		free(t->a[i]);
	t->n = 0;
}

void cat_close(catalog *c)
{
	if (!c)
		return;
	for (uint32_t i = 0; i < c->n; i++)
		free(c->ix[i]);
	aliases_free(&c->al);
	pthread_cond_destroy(&c->released);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->admin);
	free(c);
}

const char *cat_cluster_name(const catalog *c)
{
	return c->name;
}

void cat_fix(catalog *c, const char *why)
{
	pthread_mutex_lock(&c->admin);
	if (why)
		snprintf(c->fixed_why, sizeof c->fixed_why, "%s", why);
	c->host.create = NULL;
	c->host.drop = NULL;
	c->host.save = NULL;
	pthread_mutex_unlock(&c->admin);
}

int cat_can_create(const catalog *c)
{
	return c->has_host && c->host.create != NULL;
}

const char *cat_name(const cat_index *ix)
{
	return ix->name;
}

root *cat_root(const cat_index *ix)
{
	return ix->r;
}

void cat_describe(catalog *c, const cat_index *ix, cat_stats *out)
{
	out->docs = out->deleted = out->bytes = -1;
	out->nshards = 0;
	out->generation = 0;
	if (c->has_host && c->host.describe)
		c->host.describe(c->host.ctx, ix->data, out);
	/* a cluster's root knows no counts of its own: its leaves count the
	 * live documents (deleted ones and bytes stay unknown) */
	if (out->docs < 0 && ix->r)
		out->docs = root_count_docs(ix->r);
}

int cat_check_name(const char *name, char *err, size_t errlen)
{
	size_t n = strlen(name);
	if (!n || n > LIMIT_INDEX_NAME_BYTES)
		return errf(err, errlen, -1, "[%.64s] must be 1 to %d bytes long", name,
		            LIMIT_INDEX_NAME_BYTES);
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return errf(err, errlen, -1, "[%s] must not be '.' or '..'", name);
	if (name[0] == '_' || name[0] == '-' || name[0] == '+')
		return errf(err, errlen, -1, "[%.64s] must not start with '_', '-', or '+'", name);
	for (const char *p = name; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch >= 'A' && ch <= 'Z')
			return errf(err, errlen, -1, "[%.64s] must be lowercase", name);
		if (strchr("\\/*?\"<>| ,#:", ch) || ch < 0x20)
			return errf(err, errlen, -1,
			            "[%.64s] must not contain the following characters [ , \", *, "
			            "\\, <, |, ,, >, /, ?, #, :]",
			            name);
	}
	return 0;
}

/* ---- lookups (under the mutex) ---- */

static int find_index(const catalog *c, const char *name)
{
	uint32_t lo = 0, hi = c->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int cmp = strcmp(c->ix[mid]->name, name);
		if (!cmp)
			return (int)mid;
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static int find_alias(const alias_table *t, const char *name)
{
	for (uint32_t i = 0; i < t->n; i++)
		if (!strcmp(t->a[i]->name, name))
			return (int)i;
	return -1;
}

static int index_pos(const catalog *c, const cat_index *x)
{
	for (uint32_t i = 0; i < c->n; i++)
		if (c->ix[i] == x)
			return (int)i;
	return -1;
}

/* The index an alias writes to: its member with is_write_index true, or
 * its only member unless that one said false; NULL: none. */
static cat_index *write_index(const cat_alias *a)
{
	for (uint32_t i = 0; i < a->n; i++)
		if (a->write[i] == 1)
			return a->ix[i];
	return a->n == 1 && a->write[0] != 0 ? a->ix[0] : NULL;
}

static int is_pattern(const char *item)
{
	return !strcmp(item, "_all") || strchr(item, '*') != NULL;
}

static int matches(const char *pattern, const char *name)
{
	return !strcmp(pattern, "_all") || fnmatch(pattern, name, 0) == 0;
}

/* Marks in sel (per index position) what one item of an expression
 * names; on = 1 selects, 0 (an exclusion) takes out. Returns 1 when the
 * item named something, 0 when not. */
static int mark(const catalog *c, const char *item, unsigned flags, int on, uint8_t *sel, char *err,
                size_t errlen, int *rc)
{
	int any = 0;
	if (is_pattern(item)) {
		for (uint32_t i = 0; i < c->n; i++)
			if (matches(item, c->ix[i]->name))
				sel[i] = (uint8_t)on, any = 1;
		if (flags & CAT_NO_ALIASES)
			return any;
		for (uint32_t a = 0; a < c->al.n; a++) {
			if (!strcmp(item, "_all") || !matches(item, c->al.a[a]->name))
				continue;
			for (uint32_t k = 0; k < c->al.a[a]->n; k++) {
				int p = index_pos(c, c->al.a[a]->ix[k]);
				if (p >= 0)
					sel[p] = (uint8_t)on, any = 1;
			}
		}
		return any;
	}
	int p = find_index(c, item);
	if (p >= 0) {
		sel[p] = (uint8_t)on;
		return 1;
	}
	int a = (flags & CAT_NO_ALIASES) ? -1 : find_alias(&c->al, item);
	if (a < 0)
		return 0;
	const cat_alias *al = c->al.a[a];
	if (on && (flags & CAT_WRITE)) {
		cat_index *w = write_index(al);
		if (!w) {
			*rc = errf(
			    err, errlen, TRAWL_EQUERY,
			    "no write index is defined for alias [%s]. The write index may be "
			    "explicitly disabled using is_write_index=false or the alias points "
			    "to multiple indices without one being designated as a write index",
			    al->name);
			return 1;
		}
		int wp = index_pos(c, w);
		if (wp >= 0)
			sel[wp] = 1;
		return 1;
	}
	for (uint32_t k = 0; k < al->n; k++) {
		int q = index_pos(c, al->ix[k]);
		if (q >= 0)
			sel[q] = (uint8_t)on;
	}
	return 1;
}

/* Resolves expr into sel (per index position), under the mutex. */
static int resolve_locked(const catalog *c, const char *expr, unsigned flags, uint8_t *sel,
                          char *missing, size_t cap, char *err, size_t errlen)
{
	if (missing && cap)
		missing[0] = 0;
	if (!expr || !*expr)
		expr = "_all";
	char item[LIMIT_INDEX_NAME_BYTES + 2];
	unsigned items = 0;
	int wildcard_seen = 0; /* a leading -name is a name, as in OpenSearch */
	for (const char *s = expr; *s;) {
		const char *comma = strchr(s, ',');
		size_t n = comma ? (size_t)(comma - s) : strlen(s);
		const char *start = s;
		s = comma ? comma + 1 : s + n;
		if (!n)
			continue;
		if (++items > LIMIT_INDEX_EXPR_ITEMS)
			return errf(err, errlen, TRAWL_ELIMIT,
			            "the index expression has more than %d items",
			            LIMIT_INDEX_EXPR_ITEMS);
		if (n >= sizeof item) {
			if (missing && cap)
				snprintf(missing, cap, "%.*s", (int)(n > 255 ? 255 : n), start);
			return errf(err, errlen, TRAWL_ENOTFOUND, "no such index [%.*s...]", 64,
			            start);
		}
		memcpy(item, start, n);
		item[n] = 0;
		int on = 1;
		const char *name = item;
		if (item[0] == '-' && n > 1 && wildcard_seen) {
			on = 0;
			name = item + 1;
		}
		wildcard_seen |= is_pattern(name);
		int rc = TRAWL_OK;
		int named = mark(c, name, on ? flags : flags & ~(unsigned)CAT_WRITE, on, sel, err,
		                 errlen, &rc);
		if (rc)
			return rc;
		if (!named && on && !is_pattern(name) && !(flags & CAT_IGNORE_MISSING)) {
			if (missing && cap)
				snprintf(missing, cap, "%s", name);
			return errf(err, errlen, TRAWL_ENOTFOUND, "no such index [%s]", name);
		}
	}
	if (flags & CAT_WRITE) {
		uint32_t k = 0;
		for (uint32_t i = 0; i < c->n; i++)
			k += sel[i] != 0;
		if (k > 1)
			return errf(err, errlen, TRAWL_EQUERY,
			            "[%.200s] names %u indexes: a write goes to one index", expr,
			            k);
	}
	return TRAWL_OK;
}

static void take(catalog *c, const uint8_t *sel, cat_set *out)
{
	out->n = 0;
	for (uint32_t i = 0; i < c->n; i++)
		if (sel[i]) {
			c->ix[i]->refs++;
			out->ix[out->n++] = c->ix[i];
		}
}

int cat_resolve(catalog *c, const char *expr, unsigned flags, cat_set *out, char *missing,
                size_t cap, char *err, size_t errlen)
{
	uint8_t sel[LIMIT_INDEXES] = {0};
	out->n = 0;
	pthread_mutex_lock(&c->mu);
	int rc = resolve_locked(c, expr, flags, sel, missing, cap, err, errlen);
	if (!rc)
		take(c, sel, out);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

void cat_all(catalog *c, cat_set *out)
{
	uint8_t sel[LIMIT_INDEXES];
	memset(sel, 1, sizeof sel);
	pthread_mutex_lock(&c->mu);
	take(c, sel, out);
	pthread_mutex_unlock(&c->mu);
}

void cat_set_release(cat_set *s)
{
	if (!s || !s->n)
		return;
	catalog *c = s->ix[0]->owner;
	pthread_mutex_lock(&c->mu);
	for (uint32_t i = 0; i < s->n; i++)
		if (--s->ix[i]->refs == 0)
			pthread_cond_broadcast(&c->released);
	pthread_mutex_unlock(&c->mu);
	s->n = 0;
}

/* ---- adding, creating and deleting ---- */

static int name_taken(const catalog *c, const char *name)
{
	if (find_index(c, name) >= 0 || find_alias(&c->al, name) >= 0)
		return 1;
	for (uint32_t i = 0; i < c->ncreating; i++)
		if (!strcmp(c->creating[i], name))
			return 1;
	return 0;
}

/* Puts x into the table in name order (room checked by the caller). */
static void insert(catalog *c, cat_index *x)
{
	uint32_t at = 0;
	while (at < c->n && strcmp(c->ix[at]->name, x->name) < 0)
		at++;
	memmove(&c->ix[at + 1], &c->ix[at], (c->n - at) * sizeof c->ix[0]);
	c->ix[at] = x;
	c->n++;
}

static cat_index *new_index(catalog *c, const char *name, root *r, void *data)
{
	cat_index *x = calloc(1, sizeof *x);
	if (!x)
		return NULL;
	snprintf(x->name, sizeof x->name, "%s", name);
	x->owner = c;
	x->r = r;
	x->data = data;
	return x;
}

int cat_add(catalog *c, const char *name, root *r, void *data, char *err, size_t errlen)
{
	if (strlen(name) > LIMIT_INDEX_NAME_BYTES)
		return errf(err, errlen, TRAWL_ELIMIT, "index name [%.64s...] over %d bytes", name,
		            LIMIT_INDEX_NAME_BYTES);
	pthread_mutex_lock(&c->mu);
	int rc = TRAWL_OK;
	if (name_taken(c, name))
		rc = errf(err, errlen, TRAWL_EINVAL, "index [%s] already exists", name);
	else if (c->n + c->ncreating >= LIMIT_INDEXES)
		rc = errf(err, errlen, TRAWL_ELIMIT, "a server holds at most %d indexes",
		          LIMIT_INDEXES);
	else {
		cat_index *x = new_index(c, name, r, data);
		if (x)
			insert(c, x);
		else
			rc = errf(err, errlen, TRAWL_ENOMEM, "out of memory");
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}

static void unreserve(catalog *c, const char *name)
{
	for (uint32_t i = 0; i < c->ncreating; i++)
		if (!strcmp(c->creating[i], name)) {
			memmove(c->creating[i], c->creating[i + 1],
			        (c->ncreating - i - 1) * sizeof c->creating[0]);
			c->ncreating--;
			return;
		}
}

int cat_create(catalog *c, const char *name, const char *schema, size_t schema_len,
               uint32_t nshards, char *err, size_t errlen)
{
	if (!cat_can_create(c))
		return c->fixed_why[0]
		           ? errf(err, errlen, TRAWL_EINVAL, "%s", c->fixed_why)
		           : errf(err, errlen, TRAWL_EINVAL,
		                  "this server's indexes are fixed: `trawl serve DATA_DIR` creates "
		                  "indexes, a cluster's root or `trawl serve INDEX_DIR` does not");
	char why[256];
	if (cat_check_name(name, why, sizeof why))
		return errf(err, errlen, TRAWL_EQUERY, "Invalid index name %s", why);
	pthread_mutex_lock(&c->admin);
	pthread_mutex_lock(&c->mu);
	int rc = TRAWL_OK;
	if (name_taken(c, name))
		rc = errf(err, errlen, TRAWL_EINVAL, "index [%s] already exists", name);
	else if (c->n + c->ncreating >= LIMIT_INDEXES)
		rc = errf(err, errlen, TRAWL_ELIMIT, "a server holds at most %d indexes",
		          LIMIT_INDEXES);
	else
		snprintf(c->creating[c->ncreating++], sizeof c->creating[0], "%s", name);
	pthread_mutex_unlock(&c->mu);
	pthread_mutex_unlock(&c->admin); /* the host's create takes long: not held */
	if (rc)
		return rc;
	root *r = NULL;
	void *data = NULL;
	rc = c->host.create(c->host.ctx, name, schema, schema_len, nshards, &r, &data, err, errlen);
	cat_index *x = rc ? NULL : new_index(c, name, r, data);
	if (!rc && !x) {
		c->host.drop(c->host.ctx, name, r, data, err, errlen);
		rc = errf(err, errlen, TRAWL_ENOMEM, "out of memory");
	}
	pthread_mutex_lock(&c->admin);
	pthread_mutex_lock(&c->mu);
	unreserve(c, name);
	if (x)
		insert(c, x);
	pthread_mutex_unlock(&c->mu);
	pthread_mutex_unlock(&c->admin);
	return rc;
}

/* Takes the indexes marked in sel out of every alias of t (an alias left
 * with none goes); under mu. Returns whether an alias changed. */
static int strip(const catalog *c, const uint8_t *sel, alias_table *t)
{
	uint32_t ka = 0;
	int changed = 0;
	for (uint32_t a = 0; a < t->n; a++) {
		cat_alias *al = t->a[a];
		uint32_t k = 0;
		for (uint32_t m = 0; m < al->n; m++) {
			int p = index_pos(c, al->ix[m]);
			if (p >= 0 && sel[p])
				continue;
			al->write[k] = al->write[m];
			al->ix[k++] = al->ix[m];
		}
		changed |= k != al->n;
		al->n = k;
		if (k)
			t->a[ka++] = al;
		else
			free(al);
	}
	t->n = ka;
	return changed;
}

/* Takes the indexes marked in sel out of the table, into gone; under mu. */
static void take_out(catalog *c, const uint8_t *sel, cat_index **gone, uint32_t *ngone)
{
	uint8_t keep_sel[LIMIT_INDEXES];
	memcpy(keep_sel, sel, sizeof keep_sel);
	uint32_t keep = 0;
	for (uint32_t i = 0; i < c->n; i++) {
		if (keep_sel[i])
			gone[(*ngone)++] = c->ix[i];
		else
			c->ix[keep++] = c->ix[i];
	}
	c->n = keep;
}

/* Waits until no request holds any of gone, then has the host drop each
 * (first error kept in err). */
static int drop_all(catalog *c, cat_index **gone, uint32_t ngone, char *err, size_t errlen)
{
	int rc = TRAWL_OK;
	for (uint32_t g = 0; g < ngone; g++) {
		pthread_mutex_lock(&c->mu);
		while (gone[g]->refs)
			pthread_cond_wait(&c->released, &c->mu);
		pthread_mutex_unlock(&c->mu);
		char why[LIMIT_ERRMSG_BYTES];
		int r = c->host.drop(c->host.ctx, gone[g]->name, gone[g]->r, gone[g]->data, why,
		                     sizeof why);
		if (r && !rc)
			rc = errf(err, errlen, r, "%s", why);
		free(gone[g]);
	}
	return rc;
}

static char *aliases_json_of(const alias_table *t, size_t *len);

/* Has the host keep t, when it differs from the aliases in force: called
 * with admin held and mu not (a save fsyncs; requests go on meanwhile). */
static int save(catalog *c, const alias_table *t, char *err, size_t errlen)
{
	if (!c->has_host || !c->host.save)
		return TRAWL_OK;
	size_t len, now_len = 0;
	char *j = aliases_json_of(t, &len);
	pthread_mutex_lock(&c->mu);
	char *now = aliases_json_of(&c->al, &now_len);
	pthread_mutex_unlock(&c->mu);
	int rc = TRAWL_OK;
	if (!j || !now)
		rc = errf(err, errlen, TRAWL_ENOMEM, "out of memory");
	else if (len != now_len || memcmp(j, now, len))
		rc = c->host.save(c->host.ctx, j, len, err, errlen);
	free(j);
	free(now);
	return rc;
}

static int copy_table(const alias_table *from, alias_table *to)
{
	to->n = 0;
	for (uint32_t i = 0; i < from->n; i++) {
		cat_alias *a = malloc(sizeof *a);
		if (!a) {
			aliases_free(to);
			return TRAWL_ENOMEM;
		}
		*a = *from->a[i];
		to->a[to->n++] = a;
	}
	return TRAWL_OK;
}

/* The end of a change made with admin held (and mu let go): the new
 * aliases t kept by the host first (a save that fails changes nothing),
 * then swapped in with the indexes marked in sel taken out, admin let go,
 * and those indexes dropped once no request holds them (*dropped: how
 * many, when not NULL). rc: the change's error so far (then t is freed). */
static int commit(catalog *c, int rc, alias_table *t, const uint8_t *sel, uint32_t *dropped,
                  char *err, size_t errlen)
{
	cat_index *gone[LIMIT_INDEXES];
	uint32_t ngone = 0;
	if (!rc)
		rc = save(c, t, err, errlen);
	pthread_mutex_lock(&c->mu);
	if (!rc) {
		take_out(c, sel, gone, &ngone);
		aliases_free(&c->al);
		c->al = *t;
	} else {
		aliases_free(t);
	}
	pthread_mutex_unlock(&c->mu);
	pthread_mutex_unlock(&c->admin);
	if (rc)
		return rc;
	if (dropped)
		*dropped = ngone;
	return drop_all(c, gone, ngone, err, errlen);
}

int cat_delete(catalog *c, const char *expr, uint32_t *deleted, char *err, size_t errlen)
{
	*deleted = 0;
	if (!c->has_host || !c->host.drop)
		return c->fixed_why[0]
		           ? errf(err, errlen, TRAWL_EINVAL, "%s", c->fixed_why)
		           : errf(err, errlen, TRAWL_EINVAL,
		                  "this server's indexes are fixed: `trawl serve DATA_DIR` deletes "
		                  "indexes, a cluster's root or `trawl serve INDEX_DIR` does not");
	uint8_t sel[LIMIT_INDEXES] = {0};
	alias_table t = {0};
	char missing[LIMIT_INDEX_NAME_BYTES + 1];
	pthread_mutex_lock(&c->admin);
	pthread_mutex_lock(&c->mu);
	int rc = resolve_locked(c, expr, CAT_NO_ALIASES, sel, missing, sizeof missing, err, errlen);
	if (rc == TRAWL_ENOTFOUND && find_alias(&c->al, missing) >= 0)
		rc = errf(err, errlen, TRAWL_EQUERY,
		          "The provided expression [%s] matches an alias, specify the "
		          "corresponding concrete indices instead.",
		          missing);
	if (!rc && (rc = copy_table(&c->al, &t)))
		errf(err, errlen, rc, "out of memory");
	if (!rc)
		strip(c, sel, &t);
	pthread_mutex_unlock(&c->mu);
	return commit(c, rc, &t, sel, deleted, err, errlen);
}

/* ---- aliases ---- */

static char *aliases_json_of(const alias_table *t, size_t *len)
{
	json_t *j = json_object();
	for (uint32_t a = 0; j && a < t->n; a++) {
		const cat_alias *al = t->a[a];
		json_t *names = json_array();
		for (uint32_t m = 0; m < al->n; m++)
			json_array_append_new(names, json_string(al->ix[m]->name));
		const cat_index *w = NULL;
		for (uint32_t m = 0; m < al->n; m++)
			if (al->write[m] == 1)
				w = al->ix[m];
		/* is_write_index false on a single index is kept too */
		json_t *flags = json_array();
		for (uint32_t m = 0; m < al->n; m++)
			json_array_append_new(flags, al->write[m] < 0 ? json_null()
			                                              : json_boolean(al->write[m]));
		json_object_set_new(j, al->name,
		                    json_pack("{s:o, s:o, s:o}", "indexes", names, "write_index",
		                              w ? json_string(w->name) : json_null(),
		                              "is_write_index", flags));
	}
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	if (s)
		*len = strlen(s);
	return s;
}

char *cat_aliases_json(catalog *c, size_t *len)
{
	pthread_mutex_lock(&c->mu);
	char *s = aliases_json_of(&c->al, len);
	pthread_mutex_unlock(&c->mu);
	return s;
}

uint32_t cat_aliases_of(catalog *c, const char *index, char (*names)[LIMIT_INDEX_NAME_BYTES + 1],
                        int *write, uint32_t max)
{
	uint32_t n = 0;
	pthread_mutex_lock(&c->mu);
	for (uint32_t a = 0; a < c->al.n && n < max; a++) {
		const cat_alias *al = c->al.a[a];
		for (uint32_t m = 0; m < al->n; m++)
			if (!strcmp(al->ix[m]->name, index)) {
				snprintf(names[n], sizeof names[n], "%s", al->name);
				write[n++] = al->write[m];
			}
	}
	pthread_mutex_unlock(&c->mu);
	return n;
}

/* Inserts a new alias name into t in name order: NULL when full or out of
 * memory. */
static cat_alias *alias_new(alias_table *t, const char *name)
{
	if (t->n >= LIMIT_ALIASES)
		return NULL;
	cat_alias *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	snprintf(a->name, sizeof a->name, "%s", name);
	uint32_t at = 0;
	while (at < t->n && strcmp(t->a[at]->name, name) < 0)
		at++;
	memmove(&t->a[at + 1], &t->a[at], (t->n - at) * sizeof t->a[0]);
	t->a[at] = a;
	t->n++;
	return a;
}

/* Adds index x to alias a (its write flag set when given). */
static void alias_put(cat_alias *a, cat_index *x, int is_write)
{
	uint32_t m = 0;
	while (m < a->n && a->ix[m] != x)
		m++;
	if (m == a->n) {
		a->ix[a->n] = x;
		a->write[a->n++] = -1;
	}
	if (is_write >= 0)
		a->write[m] = (signed char)is_write;
}

/* One add action on t; under the mutex. */
static int apply_add(catalog *c, alias_table *t, const cat_alias_action *x, const uint8_t *rm,
                     char *err, size_t errlen)
{
	char why[256];
	if (cat_check_name(x->alias, why, sizeof why))
		return errf(err, errlen, TRAWL_EQUERY, "Invalid alias name %s", why);
	int same = find_index(c, x->alias);
	if (same >= 0 && !rm[same]) /* an index this request removes leaves its name free */
		return errf(err, errlen, TRAWL_EQUERY,
		            "an index exists with the same name as the alias [%s]", x->alias);
	for (uint32_t i = 0; i < c->ncreating; i++)
		if (!strcmp(c->creating[i], x->alias))
			return errf(err, errlen, TRAWL_EQUERY,
			            "an index of the same name as the alias [%s] is being created",
			            x->alias);
	uint8_t sel[LIMIT_INDEXES] = {0};
	int rc = resolve_locked(c, x->index, CAT_NO_ALIASES, sel, NULL, 0, err, errlen);
	if (rc)
		return rc;
	uint32_t k = 0;
	for (uint32_t i = 0; i < c->n; i++)
		k += sel[i] != 0;
	if (!k)
		return errf(err, errlen, TRAWL_ENOTFOUND, "no such index [%s]", x->index);
	if (x->is_write == 1 && k > 1)
		return errf(err, errlen, TRAWL_EQUERY,
		            "is_write_index is set for alias [%s] on %u indexes: one only",
		            x->alias, k);
	int a = find_alias(t, x->alias);
	cat_alias *al = a >= 0 ? t->a[a] : alias_new(t, x->alias);
	if (!al)
		return errf(err, errlen, TRAWL_ELIMIT, "a server holds at most %d aliases",
		            LIMIT_ALIASES);
	for (uint32_t i = 0; i < c->n; i++)
		if (sel[i])
			alias_put(al, c->ix[i], x->is_write);
	return TRAWL_OK;
}

/* One remove action on t; under the mutex. */
static int apply_remove(catalog *c, alias_table *t, const cat_alias_action *x, char *err,
                        size_t errlen)
{
	uint8_t sel[LIMIT_INDEXES] = {0};
	int rc = resolve_locked(c, x->index, CAT_NO_ALIASES, sel, NULL, 0, err, errlen);
	if (rc)
		return rc;
	int removed = 0;
	uint32_t keep = 0;
	for (uint32_t a = 0; a < t->n; a++) {
		cat_alias *al = t->a[a];
		if (matches(x->alias, al->name)) {
			uint32_t k = 0;
			for (uint32_t m = 0; m < al->n; m++) {
				int p = index_pos(c, al->ix[m]);
				if (p >= 0 && sel[p]) {
					removed = 1;
					continue;
				}
				al->write[k] = al->write[m];
				al->ix[k++] = al->ix[m];
			}
			al->n = k;
		}
		if (al->n)
			t->a[keep++] = al;
		else
			free(al);
	}
	t->n = keep;
	if (!removed && x->must_exist)
		return errf(err, errlen, TRAWL_ENOTFOUND, "aliases [%s] missing", x->alias);
	return TRAWL_OK;
}

/* Every alias has at most one write index. */
static int check_table(const alias_table *t, char *err, size_t errlen)
{
	for (uint32_t a = 0; a < t->n; a++) {
		unsigned w = 0;
		for (uint32_t m = 0; m < t->a[a]->n; m++)
			w += t->a[a]->write[m] == 1;
		if (w > 1)
			return errf(err, errlen, TRAWL_EQUERY,
			            "alias [%s] has more than one write index", t->a[a]->name);
	}
	return TRAWL_OK;
}

int cat_aliases_apply(catalog *c, const cat_alias_action *acts, uint32_t n, char *err,
                      size_t errlen)
{
	if (n > LIMIT_ALIAS_ACTIONS)
		return errf(err, errlen, TRAWL_ELIMIT, "more than %d actions", LIMIT_ALIAS_ACTIONS);
	if (!c->has_host || !c->host.save) /* kept nowhere: another process's, or none */
		return c->fixed_why[0]
		           ? errf(err, errlen, TRAWL_EINVAL, "%s", c->fixed_why)
		           : errf(err, errlen, TRAWL_EINVAL,
		                  "this server's indexes and aliases are fixed: `trawl serve "
		                  "DATA_DIR` (the process that manages it) changes aliases");
	alias_table t = {0};
	uint8_t rm[LIMIT_INDEXES] = {0};
	pthread_mutex_lock(&c->admin);
	pthread_mutex_lock(&c->mu);
	int rc = copy_table(&c->al, &t);
	if (rc)
		errf(err, errlen, rc, "out of memory");
	/* the indexes removed first, as OpenSearch does: an alias may take the
	 * name of an index the same request removes (a swap) */
	for (uint32_t i = 0; !rc && i < n; i++)
		if (acts[i].op == CAT_ALIAS_REMOVE_INDEX)
			rc =
			    !c->has_host || !c->host.drop
			        ? errf(err, errlen, TRAWL_EINVAL, "this server's indexes are fixed")
			        : resolve_locked(c, acts[i].index, CAT_NO_ALIASES, rm, NULL, 0, err,
			                         errlen);
	for (uint32_t i = 0; !rc && i < n; i++) {
		if (acts[i].op == CAT_ALIAS_ADD)
			rc = apply_add(c, &t, &acts[i], rm, err, errlen);
		else if (acts[i].op == CAT_ALIAS_REMOVE)
			rc = apply_remove(c, &t, &acts[i], err, errlen);
	}
	if (!rc)
		strip(c, rm, &t); /* an alias added to a removed index goes with it */
	if (!rc)
		rc = check_table(&t, err, errlen);
	pthread_mutex_unlock(&c->mu);
	return commit(c, rc, &t, rm, NULL, err, errlen);
}

int cat_aliases_load(catalog *c, const char *json, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	json_t *j = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return errf(err, errlen, TRAWL_EQUERY, "line %d column %d: %s", je.line, je.column,
		            je.text);
	int rc = TRAWL_OK;
	if (!json_is_object(j))
		rc = errf(err, errlen, TRAWL_EQUERY, "not a JSON object");
	alias_table t = {0};
	const char *name;
	json_t *v;
	json_object_foreach(j, name, v)
	{
		if (rc)
			break;
		json_t *names = json_object_get(v, "indexes");
		json_t *flags = json_object_get(v, "is_write_index");
		if (!json_is_array(names) || (flags && !json_is_array(flags)) ||
		    json_array_size(names) > LIMIT_INDEXES) {
			rc = errf(err, errlen, TRAWL_EQUERY,
			          "alias \"%.200s\": \"indexes\" is not a list", name);
			break;
		}
		char why[256];
		if (cat_check_name(name, why, sizeof why)) {
			rc = errf(err, errlen, TRAWL_EQUERY, "alias \"%.200s\": %s", name, why);
			break;
		}
		pthread_mutex_lock(&c->mu);
		cat_alias *al = NULL;
		for (size_t m = 0; m < json_array_size(names); m++) {
			const char *ixname = json_string_value(json_array_get(names, m));
			int p = ixname ? find_index(c, ixname) : -1;
			if (p < 0)
				continue; /* an index deleted while the file was not saved */
			if (!al && !(al = alias_new(&t, name))) {
				rc = errf(err, errlen, TRAWL_ELIMIT, "more than %d aliases",
				          LIMIT_ALIASES);
				break;
			}
			json_t *f = flags ? json_array_get(flags, m) : NULL;
			alias_put(al, c->ix[p], json_is_boolean(f) ? json_is_true(f) : -1);
		}
		pthread_mutex_unlock(&c->mu);
	}
	json_decref(j);
	if (!rc)
		rc = check_table(&t, err, errlen);
	if (rc) {
		aliases_free(&t);
		return rc;
	}
	pthread_mutex_lock(&c->mu);
	aliases_free(&c->al);
	c->al = t;
	pthread_mutex_unlock(&c->mu);
	return TRAWL_OK;
}
