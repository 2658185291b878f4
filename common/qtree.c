/*
 * qtree.c - the query tree (contract in qtree.h, bytes in docs/WIRE.md,
 * "Query trees").
 *
 * The encoding is fixed-width and little-endian like the rest of the wire:
 *
 *   u8 format (2)  u8 reserved (0)  then the root node, each node being
 *   u8 kind  u8 occur  u16 column  u16 field  [field name]
 *   and then, by kind: TERM, PREFIX, PHRASE, IDS: u16 len, text;
 *                      BOOL: u16 nkids, the kids in preorder;
 *                      CONST: its one kid; ALL, EXISTS: nothing;
 *                      RANGE: u8 flags, u16 lo_len, lo, u16 hi_len, hi.
 *
 * field is 0 for none, QT_FIELD_PARENT for the parent's field, else the
 * length of the name that follows; a name equal to the parent's field is
 * always written as QT_FIELD_PARENT, so equal trees give equal bytes and a
 * field inherited by a whole group is written once, as in the query text.
 * The decoder applies qt_check's rules to the bytes as it reads them,
 * checks every length against what is left before it looks at the bytes,
 * and recurses at most TRAWL_MAX_QUERY_DEPTH + 2 deep (BOOL and CONST are
 * the groups that nest), so any input is safe. Checking allocates nothing;
 * decoding allocates the nodes. Format 1 (wire version 2: no RANGE, EXISTS,
 * IDS, CONST or FILTER) is refused like any other format: accepting it
 * would give two encodings of one tree.
 */
#include "common/qtree.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/limits.h"
#include "common/utf8.h"
#include "trawl/trawl.h"

#define QT_FORMAT 2
#define QT_HEADER_BYTES 2       /* format, reserved */
#define QT_NODE_BYTES 6         /* kind, occur, column, field */
#define QT_FIELD_PARENT 0xFFFFu /* field: the parent's */

/* ---- building ---- */

qt_node *qt_new(qt_kind kind, qt_occur occur, uint32_t column)
{
	qt_node *n = calloc(1, sizeof *n);
	if (n) {
		n->kind = kind;
		n->occur = occur;
		n->column = column;
	}
	return n;
}

static char *qt_strndup(const char *s, size_t len)
{
	char *d = malloc(len + 1);
	if (d) {
		if (len)
			memcpy(d, s, len);
		d[len] = '\0';
	}
	return d;
}

int qt_set_field(qt_node *n, const char *field, size_t len)
{
	char *f = NULL;
	if (field && !(f = qt_strndup(field, len)))
		return TRAWL_ENOMEM;
	free(n->field);
	n->field = f;
	return TRAWL_OK;
}

int qt_set_text(qt_node *n, const char *text, size_t len)
{
	char *t = qt_strndup(text, len);
	if (!t)
		return TRAWL_ENOMEM;
	free(n->text);
	n->text = t;
	n->len = len;
	return TRAWL_OK;
}

int qt_set_hi(qt_node *n, const char *hi, size_t len)
{
	char *t = qt_strndup(hi, len);
	if (!t)
		return TRAWL_ENOMEM;
	free(n->hi);
	n->hi = t;
	n->hilen = len;
	return TRAWL_OK;
}

int qt_add(qt_node *group, qt_node *kid)
{
	if (group->nkids >= group->capkids) {
		uint32_t nc = group->nkids < 2 ? 4 : group->nkids * 2;
		qt_node **k = realloc(group->kids, nc * sizeof *k);
		if (!k)
			return TRAWL_ENOMEM;
		group->kids = k;
		group->capkids = nc;
	}
	group->kids[group->nkids++] = kid;
	return TRAWL_OK;
}

void qt_free(qt_node *n)
{
	if (!n)
		return;
	for (uint32_t i = 0; i < n->nkids; i++)
		qt_free(n->kids[i]);
	free(n->kids);
	free(n->field);
	free(n->text);
	free(n->hi);
	free(n);
}

qt_node *qt_copy(const qt_node *n)
{
	if (!n)
		return NULL;
	qt_node *c = qt_new(n->kind, n->occur, n->column);
	if (!c)
		return NULL;
	c->flags = n->flags;
	if ((n->field && qt_set_field(c, n->field, strlen(n->field))) ||
	    (n->text && qt_set_text(c, n->text, n->len)) ||
	    (n->hi && qt_set_hi(c, n->hi, n->hilen)))
		goto fail;
	for (uint32_t i = 0; i < n->nkids; i++) {
		qt_node *k = qt_copy(n->kids[i]);
		if (!k || qt_add(c, k)) {
			qt_free(k);
			goto fail;
		}
	}
	return c;
fail:
	qt_free(c);
	return NULL;
}

/* ---- rules ---- */

/* qt_phrase_words: the words of a phrase's text, as the parser counts them. */
static uint64_t qt_phrase_words(const void *text, size_t len)
{
	const unsigned char *t = text;
	uint64_t words = 0;
	int in = 0;
	for (size_t i = 0; i < len; i++) {
		int sp = qt_is_space(t[i]);
		words += !sp && !in;
		in = !sp;
	}
	return words;
}

/* qt_bad_field: NULL if name (len bytes) is a valid field name, else why not. */
static const char *qt_bad_field(const char *name, size_t len)
{
	if (len == 0)
		return "has an empty field name";
	if (name[0] == '-')
		return "has a field name starting with '-'";
	for (size_t i = 0; i < len; i++)
		if (!qt_is_field_char((unsigned char)name[i]))
			return "has a field name with a character other than A-Z a-z 0-9 _ . -";
	return NULL;
}

/* qt_has_text: the kinds whose text is one piece (not RANGE's bounds). */
static int qt_has_text(unsigned kind)
{
	return kind == QT_TERM || kind == QT_PREFIX || kind == QT_PHRASE || kind == QT_IDS;
}

/* qt_is_group: the kinds with kids. */
static int qt_is_group(unsigned kind)
{
	return kind == QT_BOOL || kind == QT_CONST;
}

/* qt_bad_bound: NULL if t (len bytes, maybe empty) may be a RANGE's bound,
 * else why not; which: "lower" or "upper". */
static const char *qt_bad_bound(const char *t, size_t len, int upper)
{
	if (len && memchr(t, '\0', len))
		return upper ? "has a NUL in its upper bound" : "has a NUL in its lower bound";
	if (len && utf8_check(t, len) != len)
		return upper ? "has an upper bound that is not valid UTF-8"
		             : "has a lower bound that is not valid UTF-8";
	return NULL;
}

/* qt_bad_flags: NULL if flags suit a RANGE whose bounds are lolen and hilen
 * bytes long, else why not. */
static const char *qt_bad_flags(uint32_t flags, size_t lolen, size_t hilen)
{
	if (flags & ~(uint32_t)(QT_LO | QT_LO_INC | QT_HI | QT_HI_INC))
		return "has unknown range flags";
	if (!(flags & (QT_LO | QT_HI)))
		return "is a range without a bound";
	if (((flags & QT_LO_INC) && !(flags & QT_LO)) || ((flags & QT_HI_INC) && !(flags & QT_HI)))
		return "is a range that includes a bound it does not have";
	if ((!(flags & QT_LO) && lolen) || (!(flags & QT_HI) && hilen))
		return "is a range with the text of a bound it does not have";
	return NULL;
}

/* qt_bad_text: NULL if a node of kind (with a field or not) may hold text
 * t, else why not. A TERM with a field may be empty: the empty value,
 * which a keyword field can hold (on a text field it matches nothing). */
static const char *qt_bad_text(unsigned kind, int has_field, const char *t, size_t len)
{
	if (len == 0 && kind == QT_TERM && has_field)
		return NULL;
	if (len == 0)
		return kind == QT_IDS ? "is IDS with an empty id" : "has an empty text";
	if (kind == QT_IDS && len > LIMIT_ID_BYTES)
		return "is IDS with an id over " LIMIT_STR(LIMIT_ID_BYTES) " bytes";
	if (memchr(t, '\0', len))
		return "has a NUL in its text";
	if (utf8_check(t, len) != len)
		return "has a text that is not valid UTF-8";
	if (kind == QT_PHRASE && qt_phrase_words(t, len) == 0)
		return "is a phrase without a word";
	return NULL;
}

/*
 * qt_bad_node: NULL if a node keeps the rules that need neither its text
 * nor its kids (the limits aside), else what is wrong. has_field: it has a
 * field; under_field: its parent has one; depth: below the root (0: the
 * root).
 */
static const char *qt_bad_node(unsigned kind, unsigned occur, int has_field, int under_field,
                               uint32_t column, uint32_t depth)
{
	if (kind > QT_KIND_MAX)
		return "has an unknown kind";
	if (occur > QT_OCCUR_MAX)
		return "has an unknown occur";
	if (column > TRAWL_MAX_QUERY_BYTES)
		return "has a column past the end of the longest query";
	if (depth == 0 && (kind != QT_BOOL || occur != QT_MUST || has_field))
		return "is the root, which must be a BOOL with occur MUST and no field";
	if (kind == QT_ALL && has_field)
		return "is ALL, which has no field";
	if (kind == QT_IDS && has_field)
		return "is IDS, which has no field";
	if (kind == QT_RANGE && !has_field)
		return "is RANGE, which needs a field";
	if (kind == QT_EXISTS && !has_field)
		return "is EXISTS, which needs a field";
	if (under_field && !has_field)
		return "has no field below a node with one";
	return NULL;
}

/* qt_gives_field: whether n writes its field's name (it has one, and its
 * parent's differs). */
static int qt_gives_field(const qt_node *n, const char *parent)
{
	return n->field && (!parent || strcmp(n->field, parent) != 0);
}

typedef struct qt_walk {
	uint64_t nodes; /* preorder number of the next node */
	const char *why;
	uint64_t at; /* the node that broke a rule */
	qt_size size;
} qt_walk;

/* qt_walk_node measures n (and checks it with check), depth below the root,
 * whose parent's field is parent. Returns TRAWL_EINVAL at a broken rule. */
static int qt_walk_node(qt_walk *w, const qt_node *n, const char *parent, uint32_t depth, int check)
{
	uint64_t me = w->nodes++;
	qt_size *s = &w->size;
	const char *why = NULL;
	int is_text = qt_has_text(n->kind);
	size_t lolen = n->text ? n->len : 0, hilen = n->hi ? n->hilen : 0;
	if (check) {
		why = qt_bad_node(n->kind, n->occur, n->field != NULL, parent != NULL, n->column,
		                  depth);
		if (!why && qt_gives_field(n, parent))
			why = qt_bad_field(n->field, strlen(n->field));
		if (!why && is_text)
			why = n->text ? qt_bad_text(n->kind, n->field != NULL, n->text, n->len)
			              : "has no text";
		if (!why && n->kind == QT_RANGE) {
			why = qt_bad_flags(n->flags, lolen, hilen);
			if (!why)
				why = qt_bad_bound(n->text, lolen, 0);
			if (!why)
				why = qt_bad_bound(n->hi, hilen, 1);
		}
		if (!why && (n->kind == QT_EXISTS || n->kind == QT_CONST) && (n->text || n->len))
			why = "has a text, which its kind does not take";
		if (!why && n->kind != QT_RANGE && (n->hi || n->hilen || n->flags))
			why = "has range bounds or flags but is not a RANGE";
		if (!why && n->kind == QT_BOOL && n->nkids == 0)
			why = "is a BOOL without kids";
		if (!why && n->kind == QT_CONST && n->nkids != 1)
			why = "is CONST, which has exactly one kid";
		if (!why && !qt_is_group(n->kind) && n->nkids)
			why = "has kids but is not a group (BOOL or CONST)";
		if (why) {
			w->why = why;
			w->at = me;
			return TRAWL_EINVAL;
		}
	}
	s->nodes++;
	s->encoded += QT_NODE_BYTES;
	if (qt_gives_field(n, parent)) {
		size_t fl = strlen(n->field);
		s->encoded += fl;
		s->text_bytes += fl;
	}
	if (qt_is_group(n->kind)) {
		if (depth > s->depth)
			s->depth = depth;
		if (n->kind == QT_BOOL) {
			s->encoded += 2;
		} else {
			s->words++; /* CONST: a node of the typed filters, one word */
		}
		for (uint32_t i = 0; i < n->nkids; i++)
			if (qt_walk_node(w, n->kids[i], n->field, depth + 1, check))
				return TRAWL_EINVAL;
	} else if (n->kind == QT_ALL || n->kind == QT_EXISTS) {
		s->words++;
	} else if (n->kind == QT_RANGE) {
		s->encoded += 1 + 2 + lolen + 2 + hilen;
		s->text_bytes += lolen + hilen;
		s->words++;
	} else {
		s->encoded += 2 + n->len;
		s->text_bytes += n->len;
		s->words += n->kind == QT_PHRASE ? qt_phrase_words(n->text, n->len) : 1;
	}
	return TRAWL_OK;
}

void qt_measure(const qt_node *root, qt_size *out)
{
	qt_walk w = {0};
	if (root) {
		w.size.encoded = QT_HEADER_BYTES;
		qt_walk_node(&w, root, NULL, 0, 0);
	}
	*out = w.size;
}

/* qt_check_limits: TRAWL_OK, or TRAWL_ELIMIT naming the first limit s breaks. */
static int qt_check_limits(const qt_size *s, char *err, size_t errlen)
{
	if (s->depth > TRAWL_MAX_QUERY_DEPTH)
		return errf(err, errlen, TRAWL_ELIMIT, "groups nest %u deep; the limit is %d",
		            (unsigned)s->depth, TRAWL_MAX_QUERY_DEPTH);
	if (s->words > TRAWL_MAX_QUERY_TERMS)
		return errf(err, errlen, TRAWL_ELIMIT, "the query has %llu terms; the limit is %d",
		            (unsigned long long)s->words, TRAWL_MAX_QUERY_TERMS);
	if (s->text_bytes > TRAWL_MAX_QUERY_BYTES)
		return errf(err, errlen, TRAWL_ELIMIT,
		            "the query holds %llu bytes of words and field names; the limit is %d",
		            (unsigned long long)s->text_bytes, TRAWL_MAX_QUERY_BYTES);
	if (s->encoded > TRAWL_MAX_QUERY_TREE_BYTES)
		return errf(err, errlen, TRAWL_ELIMIT,
		            "the query's encoding takes %llu bytes; the limit is %d",
		            (unsigned long long)s->encoded, TRAWL_MAX_QUERY_TREE_BYTES);
	return TRAWL_OK;
}

/* qt_check_size is qt_check that also returns the size. */
static int qt_check_size(const qt_node *root, qt_size *s, char *err, size_t errlen)
{
	qt_walk w = {0};
	if (!root)
		return errf(err, errlen, TRAWL_EINVAL, "no tree");
	w.size.encoded = QT_HEADER_BYTES;
	if (qt_walk_node(&w, root, NULL, 0, 1))
		return errf(err, errlen, TRAWL_EINVAL, "node %llu %s", (unsigned long long)w.at,
		            w.why);
	*s = w.size;
	return qt_check_limits(s, err, errlen);
}

int qt_check(const qt_node *root, char *err, size_t errlen)
{
	qt_size s = {0};
	return qt_check_size(root, &s, err, errlen);
}

/* ---- a query narrowed by a filter ---- */

/* qt_zero_columns: n's subtree came from another text than the query's. */
static void qt_zero_columns(qt_node *n)
{
	n->column = 0;
	for (uint32_t i = 0; i < n->nkids; i++)
		qt_zero_columns(n->kids[i]);
}

/* qt_is_root: the shape of a root (qt_check's first rule). */
static int qt_is_root(const qt_node *n)
{
	return n && n->kind == QT_BOOL && n->occur == QT_MUST && !n->field && n->nkids > 0;
}

int qt_with_filter(qt_node *query, qt_node *filter, qt_node **out, char *err, size_t errlen)
{
	*out = NULL;
	int rc = TRAWL_OK;
	qt_node *root = query, *all = NULL;
	if (!filter) {
		if (!query)
			rc = errf(err, errlen, TRAWL_EINVAL, "no query and no filter");
		else
			*out = query;
		return rc;
	}
	if ((query && !qt_is_root(query)) || !qt_is_root(filter)) {
		rc = errf(err, errlen, TRAWL_EINVAL, "the %s is not a query tree's root",
		          query && !qt_is_root(query) ? "query" : "filter");
		goto fail;
	}
	for (uint32_t i = 0; i < filter->nkids; i++)
		if (filter->kids[i]->occur != QT_FILTER && filter->kids[i]->occur != QT_NOT) {
			rc = errf(err, errlen, TRAWL_EINVAL,
			          "the filter's clause %u is neither FILTER nor NOT",
			          (unsigned)i + 1);
			goto fail;
		}
	if (!root) {
		/* a filter alone: every document that passes it, each scoring 1 */
		if (!(root = qt_new(QT_BOOL, QT_MUST, 0)) || !(all = qt_new(QT_ALL, QT_MUST, 0)) ||
		    qt_add(root, all)) {
			qt_free(all);
			qt_free(root);
			root = NULL;
			rc = errf(err, errlen, TRAWL_ENOMEM, "out of memory");
			goto fail;
		}
	} else {
		/* Optional clauses are required as a group only while nothing else
		 * is required (as in OpenSearch's bool): beside the filter's, the
		 * query's own would become optional. So one SHOULD becomes MUST,
		 * and several become one required group of them. */
		uint32_t nshould = 0, first = 0;
		int required = 0;
		for (uint32_t i = 0; i < root->nkids; i++) {
			qt_occur oc = root->kids[i]->occur;
			required |= oc == QT_MUST || oc == QT_FILTER;
			if (oc == QT_SHOULD && nshould++ == 0)
				first = i;
		}
		if (!required && nshould == 1) {
			root->kids[first]->occur = QT_MUST;
		} else if (!required && nshould > 1) {
			qt_node *g = qt_new(QT_BOOL, QT_MUST, 0);
			if (!g || !(g->kids = malloc(nshould * sizeof *g->kids))) {
				qt_free(g);
				rc = errf(err, errlen, TRAWL_ENOMEM, "out of memory");
				goto fail;
			}
			g->capkids = nshould;
			uint32_t k = 0;
			for (uint32_t i = 0; i < root->nkids; i++) {
				if (root->kids[i]->occur == QT_SHOULD)
					g->kids[g->nkids++] = root->kids[i];
				else
					root->kids[k++] = root->kids[i];
			}
			/* the group stands where its first clause stood */
			memmove(root->kids + first + 1, root->kids + first,
			        (k - first) * sizeof *root->kids);
			root->kids[first] = g;
			root->nkids = k + 1;
		}
		qt_zero_columns(filter); /* its columns count in another text */
	}
	/* the filter's clauses join the root, in their order */
	while (filter->nkids) {
		if (qt_add(root, filter->kids[0])) {
			rc = errf(err, errlen, TRAWL_ENOMEM, "out of memory");
			goto fail;
		}
		memmove(filter->kids, filter->kids + 1, --filter->nkids * sizeof *filter->kids);
	}
	qt_free(filter);
	filter = NULL;
	if ((rc = qt_check(root, err, errlen)))
		goto fail;
	*out = root;
	return TRAWL_OK;
fail:
	qt_free(root);
	qt_free(filter);
	return rc;
}

/* ---- encoding ---- */

static uint8_t *qt_st16(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	return p + 2;
}

static uint8_t *qt_put(uint8_t *p, const void *src, size_t n)
{
	if (n)
		memcpy(p, src, n);
	return p + n;
}

static uint8_t *qt_put_node(uint8_t *p, const qt_node *n, const char *parent)
{
	*p++ = (uint8_t)n->kind;
	*p++ = (uint8_t)n->occur;
	p = qt_st16(p, n->column);
	if (qt_gives_field(n, parent)) {
		size_t fl = strlen(n->field);
		p = qt_st16(p, fl);
		p = qt_put(p, n->field, fl);
	} else {
		p = qt_st16(p, n->field ? QT_FIELD_PARENT : 0);
	}
	if (n->kind == QT_BOOL) {
		p = qt_st16(p, n->nkids);
		for (uint32_t i = 0; i < n->nkids; i++)
			p = qt_put_node(p, n->kids[i], n->field);
	} else if (n->kind == QT_CONST) {
		p = qt_put_node(p, n->kids[0], n->field);
	} else if (n->kind == QT_RANGE) {
		size_t lo = n->text ? n->len : 0, hi = n->hi ? n->hilen : 0;
		*p++ = (uint8_t)n->flags;
		p = qt_st16(p, lo);
		p = qt_put(p, n->text, lo);
		p = qt_st16(p, hi);
		p = qt_put(p, n->hi, hi);
	} else if (n->kind != QT_ALL && n->kind != QT_EXISTS) {
		p = qt_st16(p, n->len);
		p = qt_put(p, n->text, n->len);
	}
	return p;
}

int qt_encode(const qt_node *root, tbuf *out, char *err, size_t errlen)
{
	qt_size s = {0};
	int rc = qt_check_size(root, &s, err, errlen);
	if (rc)
		return rc;
	if ((rc = tbuf_reserve(out, (size_t)s.encoded)))
		return errf(err, errlen, rc, "no room for the %llu bytes of the query",
		            (unsigned long long)s.encoded);
	uint8_t *start = out->data + out->len, *p = start;
	*p++ = QT_FORMAT;
	*p++ = 0;
	p = qt_put_node(p, root, NULL);
	if ((uint64_t)(p - start) != s.encoded)
		return errf(err, errlen, TRAWL_EINTERNAL, "the query's size was misjudged");
	out->len += (size_t)s.encoded;
	return TRAWL_OK;
}

/* ---- decoding ---- */

typedef struct qt_reader {
	const uint8_t *base, *p, *end;
	char *err;
	size_t errlen;
	uint64_t words, text_bytes, nodes;
	int build; /* make the tree, or only check */
} qt_reader;

static int qt_rfail(qt_reader *r, int rc, const uint8_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int qt_rfail(qt_reader *r, int rc, const uint8_t *at, const char *fmt, ...)
{
	if (r->err && r->errlen) {
		int n =
		    snprintf(r->err, r->errlen, "query tree, offset %zu: ", (size_t)(at - r->base));
		if (n >= 0 && (size_t)n < r->errlen) {
			va_list ap;
			va_start(ap, fmt);
			verrf(r->err + n, r->errlen - (size_t)n, 0, fmt, ap);
			va_end(ap);
		}
	}
	return rc;
}

/* qt_rd: n more bytes, holding `what`, must be in the input; *at is where
 * they start. */
static int qt_rd(qt_reader *r, size_t n, const char *what, const uint8_t **at)
{
	if ((size_t)(r->end - r->p) < n)
		return qt_rfail(r, TRAWL_EINVAL, r->p,
		                "the input ends inside %s (%zu bytes needed, %zu left)", what, n,
		                (size_t)(r->end - r->p));
	*at = r->p;
	r->p += n;
	return TRAWL_OK;
}

static int qt_rd16(qt_reader *r, const char *what, uint32_t *v)
{
	const uint8_t *at = NULL;
	if (qt_rd(r, 2, what, &at))
		return TRAWL_EINVAL;
	*v = (uint32_t)at[0] | (uint32_t)at[1] << 8;
	return TRAWL_OK;
}

/* qt_rd_range reads what follows a RANGE's field (node me) into n (NULL:
 * only check). */
static int qt_rd_range(qt_reader *r, uint64_t me, qt_node *n)
{
	const uint8_t *at = NULL, *lo = NULL, *hi = NULL;
	uint32_t lolen, hilen;
	if (qt_rd(r, 1, "a range's flags", &at) || qt_rd16(r, "a range's lower bound", &lolen) ||
	    qt_rd(r, lolen, "a range's lower bound", &lo) ||
	    qt_rd16(r, "a range's upper bound", &hilen) ||
	    qt_rd(r, hilen, "a range's upper bound", &hi))
		return TRAWL_EINVAL;
	const char *why = qt_bad_flags(at[0], lolen, hilen);
	if (why)
		return qt_rfail(r, TRAWL_EINVAL, at, "node %llu %s", (unsigned long long)me, why);
	if ((why = qt_bad_bound((const char *)lo, lolen, 0)))
		return qt_rfail(r, TRAWL_EINVAL, lo, "node %llu %s", (unsigned long long)me, why);
	if ((why = qt_bad_bound((const char *)hi, hilen, 1)))
		return qt_rfail(r, TRAWL_EINVAL, hi, "node %llu %s", (unsigned long long)me, why);
	r->words++;
	r->text_bytes += (uint64_t)lolen + hilen;
	if (n) {
		n->flags = at[0];
		if (((at[0] & QT_LO) && qt_set_text(n, (const char *)lo, lolen)) ||
		    ((at[0] & QT_HI) && qt_set_hi(n, (const char *)hi, hilen)))
			return errf(r->err, r->errlen, TRAWL_ENOMEM, "out of memory");
	}
	return TRAWL_OK;
}

/*
 * qt_rd_node reads the node at r->p and its kids: depth below the root,
 * parent and plen its parent's field (NULL: none). With r->build, *out gets
 * the node; on failure it is NULL and nothing is left allocated.
 */
static int qt_rd_node(qt_reader *r, uint32_t depth, const char *parent, size_t plen, qt_node **out)
{
	*out = NULL;
	const uint8_t *node = r->p, *at = NULL, *name = NULL;
	uint32_t column, field, len;
	uint64_t me = r->nodes++;
	if (qt_rd(r, 2, "a node", &at) || qt_rd16(r, "a node's column", &column) ||
	    qt_rd16(r, "a node's field", &field))
		return TRAWL_EINVAL;
	unsigned kind = at[0], occur = at[1];
	const char *fname = field == QT_FIELD_PARENT ? parent : NULL;
	size_t flen = field == QT_FIELD_PARENT ? plen : 0;
	if (field == QT_FIELD_PARENT && !parent)
		return qt_rfail(r, TRAWL_EINVAL, node,
		                "node %llu takes its parent's field, but the parent has none",
		                (unsigned long long)me);
	if (field && field != QT_FIELD_PARENT) {
		if (qt_rd(r, field, "a field name", &name))
			return TRAWL_EINVAL;
		const char *why = qt_bad_field((const char *)name, field);
		if (why)
			return qt_rfail(r, TRAWL_EINVAL, name, "node %llu %s",
			                (unsigned long long)me, why);
		if (parent && plen == field && !memcmp(parent, name, field))
			return qt_rfail(r, TRAWL_EINVAL, name,
			                "node %llu repeats its parent's field instead of taking it",
			                (unsigned long long)me);
		r->text_bytes += field;
		fname = (const char *)name;
		flen = field;
	}
	const char *why = qt_bad_node(kind, occur, fname != NULL, parent != NULL, column, depth);
	if (why)
		return qt_rfail(r, TRAWL_EINVAL, node, "node %llu %s", (unsigned long long)me, why);
	if (qt_is_group(kind) && depth > TRAWL_MAX_QUERY_DEPTH)
		return qt_rfail(r, TRAWL_EINVAL, node, "node %llu is a group nested deeper than %d",
		                (unsigned long long)me, TRAWL_MAX_QUERY_DEPTH);
	qt_node *n = NULL;
	if (r->build && (!(n = qt_new((qt_kind)kind, (qt_occur)occur, column)) ||
	                 (fname && qt_set_field(n, fname, flen)))) {
		qt_free(n);
		return errf(r->err, r->errlen, TRAWL_ENOMEM, "out of memory");
	}
	int rc = TRAWL_OK;
	if (kind == QT_BOOL) {
		rc = qt_rd16(r, "a group's number of kids", &len);
		if (!rc && len == 0)
			rc = qt_rfail(r, TRAWL_EINVAL, node, "node %llu is a BOOL without kids",
			              (unsigned long long)me);
		for (uint32_t i = 0; !rc && i < len; i++) {
			qt_node *kid = NULL;
			rc = qt_rd_node(r, depth + 1, fname, flen, &kid);
			if (!rc && n && qt_add(n, kid)) {
				qt_free(kid);
				rc = errf(r->err, r->errlen, TRAWL_ENOMEM, "out of memory");
			}
		}
	} else if (kind == QT_CONST) {
		qt_node *kid = NULL;
		r->words++;
		rc = qt_rd_node(r, depth + 1, fname, flen, &kid);
		if (!rc && n && qt_add(n, kid)) {
			qt_free(kid);
			rc = errf(r->err, r->errlen, TRAWL_ENOMEM, "out of memory");
		}
	} else if (kind == QT_ALL || kind == QT_EXISTS) {
		r->words++;
	} else if (kind == QT_RANGE) {
		rc = qt_rd_range(r, me, n);
	} else if (!(rc = qt_rd16(r, "a text's length", &len)) &&
	           !(rc = qt_rd(r, len, "a text", &at))) {
		why = qt_bad_text(kind, fname != NULL, (const char *)at, len);
		if (why)
			rc = qt_rfail(r, TRAWL_EINVAL, at, "node %llu %s", (unsigned long long)me,
			              why);
		r->text_bytes += len;
		r->words += kind == QT_PHRASE ? qt_phrase_words(at, len) : 1;
		if (!rc && n && qt_set_text(n, (const char *)at, len))
			rc = errf(r->err, r->errlen, TRAWL_ENOMEM, "out of memory");
	}
	if (!rc && r->words > TRAWL_MAX_QUERY_TERMS)
		rc = qt_rfail(r, TRAWL_EINVAL, node, "the query has more than %d terms",
		              TRAWL_MAX_QUERY_TERMS);
	if (!rc && r->text_bytes > TRAWL_MAX_QUERY_BYTES)
		rc = qt_rfail(r, TRAWL_EINVAL, node,
		              "the query holds more than %d bytes of words and field names",
		              TRAWL_MAX_QUERY_BYTES);
	if (rc) {
		qt_free(n);
		return rc;
	}
	*out = n;
	return TRAWL_OK;
}

static int qt_read(const void *buf, size_t len, int build, qt_node **out, char *err, size_t errlen)
{
	qt_reader r = {0};
	r.base = r.p = buf;
	r.end = buf ? r.base + len : r.base; /* NULL reads as empty */
	r.err = err;
	r.errlen = errlen;
	r.build = build;
	qt_node *root = NULL;
	const uint8_t *at = NULL;
	int rc;
	if ((size_t)(r.end - r.base) > TRAWL_MAX_QUERY_TREE_BYTES)
		rc =
		    qt_rfail(&r, TRAWL_EINVAL, r.base, "the encoding is %zu bytes; the limit is %d",
		             (size_t)(r.end - r.base), TRAWL_MAX_QUERY_TREE_BYTES);
	else if (!(rc = qt_rd(&r, QT_HEADER_BYTES, "the header", &at)) && at[0] != QT_FORMAT)
		rc = qt_rfail(&r, TRAWL_EINVAL, at,
		              "format %u is not supported; this build reads format %d",
		              (unsigned)at[0], QT_FORMAT);
	else if (!rc && at[1] != 0)
		rc = qt_rfail(&r, TRAWL_EINVAL, at + 1, "reserved byte is 0x%02x; it must be 0",
		              (unsigned)at[1]);
	if (!rc)
		rc = qt_rd_node(&r, 0, NULL, 0, &root);
	if (!rc && r.p != r.end)
		rc = qt_rfail(&r, TRAWL_EINVAL, r.p,
		              "the tree ends here but the input has %zu bytes",
		              (size_t)(r.end - r.base));
	if (rc) {
		qt_free(root);
		root = NULL;
	}
	if (out)
		*out = root;
	return rc;
}

int qt_decode(const void *buf, size_t len, qt_node **out, char *err, size_t errlen)
{
	return qt_read(buf, len, 1, out, err, errlen);
}

int qt_validate(const void *buf, size_t len, char *err, size_t errlen)
{
	return qt_read(buf, len, 0, NULL, err, errlen);
}

/* ---- dump ---- */

typedef struct qt_out {
	char *buf;
	size_t cap;
	size_t n; /* bytes needed so far */
} qt_out;

static void qt_out_c(qt_out *o, char c)
{
	if (o->n + 1 < o->cap)
		o->buf[o->n] = c;
	o->n++;
}

static void qt_out_s(qt_out *o, const char *s)
{
	while (*s)
		qt_out_c(o, *s++);
}

/* qt_ends_word: characters that end a word of the query language. */
static int qt_ends_word(unsigned char c)
{
	return qt_is_space(c) || c == '(' || c == ')' || c == '"';
}

/* qt_out_word writes a TERM's, PREFIX's or IDS's text escaped so that it
 * reads back as the same word: never a keyword, field, prefix, range or
 * +/-/# clause. */
static void qt_out_word(qt_out *o, const char *t, size_t len)
{
	if ((len == 3 && (memcmp(t, "AND", 3) == 0 || memcmp(t, "NOT", 3) == 0)) ||
	    (len == 2 && memcmp(t, "OR", 2) == 0))
		qt_out_c(o, '\\');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)t[i];
		if (qt_ends_word(c) || c == '\\' || c == ':' || c == '*' ||
		    (i == 0 && (c == '+' || c == '-' || c == '#' || c == '[' || c == '{' ||
		                c == '>' || c == '<')))
			qt_out_c(o, '\\');
		qt_out_c(o, (char)c);
	}
}

/* qt_out_bound writes a RANGE's bound so that it reads back as that bound:
 * "" when empty, else escaped (never the open bound '*' or the word TO). */
static void qt_out_bound(qt_out *o, const char *t, size_t len)
{
	if (len == 0) {
		qt_out_s(o, "\"\"");
		return;
	}
	if ((len == 1 && t[0] == '*') || (len == 2 && memcmp(t, "TO", 2) == 0))
		qt_out_c(o, '\\');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)t[i];
		if (qt_is_space(c) || (c && strchr("[]{}()\"\\", c)))
			qt_out_c(o, '\\');
		qt_out_c(o, (char)c);
	}
}

static void qt_dump_node(qt_out *o, const qt_node *n, int top)
{
	if (!top)
		qt_out_s(o, n->occur == QT_MUST     ? "+"
		            : n->occur == QT_NOT    ? "-"
		            : n->occur == QT_FILTER ? "#"
		                                    : "");
	if (n->field && n->kind != QT_EXISTS) {
		qt_out_s(o, n->field);
		qt_out_c(o, ':');
	}
	switch (n->kind) {
	case QT_BOOL:
		qt_out_c(o, '(');
		for (uint32_t i = 0; i < n->nkids; i++) {
			if (i)
				qt_out_c(o, ' ');
			qt_dump_node(o, n->kids[i], 0);
		}
		qt_out_c(o, ')');
		break;
	case QT_TERM:
		if (n->text && n->len == 0)
			qt_out_s(o, "\"\""); /* the empty value: field:"" reads back as it */
		else
			qt_out_word(o, n->text ? n->text : "", n->text ? n->len : 0);
		break;
	case QT_PREFIX:
		qt_out_word(o, n->text ? n->text : "", n->text ? n->len : 0);
		qt_out_c(o, '*');
		break;
	case QT_PHRASE:
		qt_out_c(o, '"');
		for (size_t i = 0; n->text && i < n->len; i++) {
			if (n->text[i] == '"' || n->text[i] == '\\')
				qt_out_c(o, '\\');
			qt_out_c(o, n->text[i]);
		}
		qt_out_c(o, '"');
		break;
	case QT_ALL:
		qt_out_s(o, "*:*");
		break;
	case QT_RANGE:
		qt_out_c(o, n->flags & QT_LO_INC ? '[' : '{');
		if (n->flags & QT_LO)
			qt_out_bound(o, n->text ? n->text : "", n->text ? n->len : 0);
		else
			qt_out_c(o, '*');
		qt_out_s(o, " TO ");
		if (n->flags & QT_HI)
			qt_out_bound(o, n->hi ? n->hi : "", n->hi ? n->hilen : 0);
		else
			qt_out_c(o, '*');
		qt_out_c(o, n->flags & QT_HI_INC ? ']' : '}');
		break;
	case QT_EXISTS:
		qt_out_s(o, "_exists_:");
		qt_out_s(o, n->field ? n->field : "");
		break;
	case QT_IDS:
		qt_out_s(o, "_id:");
		qt_out_word(o, n->text ? n->text : "", n->text ? n->len : 0);
		break;
	case QT_CONST:
		qt_out_c(o, '(');
		for (uint32_t i = 0; i < n->nkids; i++) {
			if (i)
				qt_out_c(o, ' ');
			qt_dump_node(o, n->kids[i], 0);
		}
		qt_out_s(o, ")^=1");
		break;
	}
}

size_t qt_dump(const qt_node *n, char *buf, size_t cap)
{
	qt_out o = {.buf = buf, .cap = buf ? cap : 0, .n = 0};
	if (n)
		qt_dump_node(&o, n, 1);
	if (o.cap)
		o.buf[o.n < o.cap ? o.n : o.cap - 1] = '\0';
	return o.n;
}
