/*
 * qtree.c - the query tree (contract in qtree.h, bytes in docs/WIRE.md,
 * "Query trees").
 *
 * The encoding is fixed-width and little-endian like the rest of the wire:
 *
 *   u8 format (1)  u8 reserved (0)  then the root node, each node being
 *   u8 kind  u8 occur  u16 column  u16 field  [field name]
 *   and then, by kind: TERM, PREFIX, PHRASE: u16 len, text;
 *                      BOOL: u16 nkids, the kids in preorder; ALL: nothing.
 *
 * field is 0 for none, QT_FIELD_PARENT for the parent's field, else the
 * length of the name that follows; a name equal to the parent's field is
 * always written as QT_FIELD_PARENT, so equal trees give equal bytes and a
 * field inherited by a whole group is written once, as in the query text.
 * The decoder applies qt_check's rules to the bytes as it reads them,
 * checks every length against what is left before it looks at the bytes,
 * and recurses at most TRAWL_MAX_QUERY_DEPTH + 2 deep, so any input is
 * safe. Checking allocates nothing; decoding allocates the nodes.
 */
#include "common/qtree.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/utf8.h"
#include "trawl/trawl.h"

#define QT_FORMAT 1
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
	free(n);
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

/* qt_bad_text: NULL if a node of kind may hold text t, else why not. */
static const char *qt_bad_text(unsigned kind, const char *t, size_t len)
{
	if (len == 0)
		return "has an empty text";
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
	int is_text = n->kind == QT_TERM || n->kind == QT_PREFIX || n->kind == QT_PHRASE;
	if (check) {
		why = qt_bad_node(n->kind, n->occur, n->field != NULL, parent != NULL, n->column,
		                  depth);
		if (!why && qt_gives_field(n, parent))
			why = qt_bad_field(n->field, strlen(n->field));
		if (!why && is_text)
			why = n->text ? qt_bad_text(n->kind, n->text, n->len) : "has no text";
		if (!why && n->kind == QT_BOOL && n->nkids == 0)
			why = "is a BOOL without kids";
		if (!why && n->kind != QT_BOOL && n->nkids)
			why = "has kids but is not a BOOL";
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
	if (n->kind == QT_BOOL) {
		if (depth > s->depth)
			s->depth = depth;
		s->encoded += 2;
		for (uint32_t i = 0; i < n->nkids; i++)
			if (qt_walk_node(w, n->kids[i], n->field, depth + 1, check))
				return TRAWL_EINVAL;
	} else if (n->kind == QT_ALL) {
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
	} else if (n->kind != QT_ALL) {
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
	if (kind == QT_BOOL && depth > TRAWL_MAX_QUERY_DEPTH)
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
	} else if (kind == QT_ALL) {
		r->words++;
	} else if (!(rc = qt_rd16(r, "a text's length", &len)) &&
	           !(rc = qt_rd(r, len, "a text", &at))) {
		why = qt_bad_text(kind, (const char *)at, len);
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

/* qt_out_word writes a TERM's or PREFIX's text escaped so that it reads
 * back as the same word: never a keyword, field, prefix or +/- clause. */
static void qt_out_word(qt_out *o, const char *t, size_t len)
{
	if ((len == 3 && (memcmp(t, "AND", 3) == 0 || memcmp(t, "NOT", 3) == 0)) ||
	    (len == 2 && memcmp(t, "OR", 2) == 0))
		qt_out_c(o, '\\');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)t[i];
		if (qt_ends_word(c) || c == '\\' || c == ':' || c == '*' ||
		    (i == 0 && (c == '+' || c == '-')))
			qt_out_c(o, '\\');
		qt_out_c(o, (char)c);
	}
}

static void qt_dump_node(qt_out *o, const qt_node *n, int top)
{
	if (!top)
		qt_out_s(o, n->occur == QT_MUST ? "+" : n->occur == QT_NOT ? "-" : "");
	if (n->field) {
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
