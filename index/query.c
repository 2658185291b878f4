/*
 * query.c - the query language's parser (see query.h for the grammar).
 *
 * Queries arrive as typed by people and passed on untouched by the CLI and
 * the service, so this is the first code to see hostile text. It checks the
 * limits and the UTF-8 first, then parses by hand in one left-to-right pass
 * and either builds the whole tree or fails with a message naming a column
 * (in characters) and frees everything it made. Recursion is bounded by
 * TRAWL_MAX_QUERY_DEPTH, memory by the input's length. It keeps words as
 * the user wrote them, minus the escapes; search.c analyses and compiles.
 *
 * Choices the grammar leaves open:
 * - White space is ASCII (space, tab, CR, LF, VT, FF).
 * - A NUL character is refused (text is NUL-terminated downstream).
 * - Keywords combine with Lucene's classic rules, but an explicit '+', '-'
 *   or NOT always wins, and when a clause sits between AND and OR
 *   (a AND b OR c) the AND wins, whatever the default operator.
 * - FIELD ':' primary chains (a:b:c) keep the innermost field, as a group's
 *   field yields to a nested one; write a\:b to search for "a:b".
 * - A field name does not start with '-': at the start of a clause '-' means
 *   NOT, so such a field could never be written as a plain (SHOULD) clause.
 *   --x:y and f:-x:y hold the word "-x:y"; there is no field "-x".
 * - Ranges follow Lucene's classic syntax (f:[a TO b], f:{a TO b}, mixed,
 *   '*' for an open bound) and Elasticsearch's one-sided f:>a, f:>=a, f:<a,
 *   f:<=a; _exists_:f and _id:x as in Elasticsearch's query_string. '#'
 *   (FILTER, as Lucene prints it) and (...)^=1 (constant score, as Solr
 *   writes it) exist so that every tree's dump parses back. At the start of
 *   a clause (after its field) '[', '{', '>' and '<' always open a range,
 *   which needs a field, and '#' is an occur; inside a word they are
 *   ordinary, and escaped anywhere. Bounds keep their text as written
 *   (unescaped): this parser knows no schema, the engine reads a bound by
 *   its field's type. [* TO *] is _exists_.
 */
#include "index/query.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/limits.h"
#include "common/utf8.h"
#include "index/testhooks.h"
#include "trawl/trawl.h"

#ifdef TRAWL_TEST_HOOKS
unsigned long idx_query_fail_after;
#endif

enum {
	IDX_QF_EXPLICIT = 1, /* occur came from '+', '-' or NOT */
	IDX_QF_AND = 2,      /* made MUST by an adjacent AND */
};

enum { IDX_KW_NONE = 0, IDX_KW_AND, IDX_KW_OR, IDX_KW_NOT };

static const char *const idx_kw_names[] = {"", "AND", "OR", "NOT"};

typedef struct idx_qparser {
	const char *q;
	size_t len;
	size_t p;        /* next byte to read */
	qt_occur dflt;   /* occur of unprefixed clauses */
	int base;        /* parentheses around the text (idx_query_parse_group: 1) */
	uint32_t nterms; /* words seen so far, phrases' words included */
	size_t cpos;     /* column cache: byte cpos is in column ccol */
	uint32_t ccol;
	char *err;
	size_t errlen;
} idx_qparser;

/* Fault injection for tests (testhooks.h); never fails in libtrawl. */
static int idx_qalloc_fails(void)
{
#ifdef TRAWL_TEST_HOOKS
	return idx_query_fail_after != 0 && --idx_query_fail_after == 0;
#else
	return 0;
#endif
}

static void *idx_qmalloc(size_t n)
{
	return idx_qalloc_fails() ? NULL : malloc(n);
}

static void *idx_qrealloc(void *p, size_t n)
{
	return idx_qalloc_fails() ? NULL : realloc(p, n);
}

static char *idx_qstrndup(const char *s, size_t n)
{
	char *d = idx_qmalloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* idx_ends_word: characters that end a word unless escaped. */
static int idx_ends_word(unsigned char c)
{
	return qt_is_space(c) || c == '(' || c == ')' || c == '"';
}

/* idx_col returns the 1-based column, in code points, of byte pos (which
 * starts a character). Mostly called with growing positions: amortised O(1). */
static uint32_t idx_col(idx_qparser *ps, size_t pos)
{
	if (pos < ps->cpos) {
		ps->cpos = 0;
		ps->ccol = 1;
	}
	for (; ps->cpos < pos; ps->cpos++)
		if (((unsigned char)ps->q[ps->cpos] & 0xC0) != 0x80)
			ps->ccol++;
	return ps->ccol;
}

static void idx_verr(char *err, size_t errlen, const char *prefix, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
static void idx_verr(char *err, size_t errlen, const char *prefix, const char *fmt, va_list ap)
{
	if (!err || errlen == 0)
		return;
	int n = snprintf(err, errlen, "%s", prefix);
	if (n >= 0 && (size_t)n < errlen)
		verrf(err + n, errlen - (size_t)n, 0, fmt, ap);
	err[errlen - 1] = '\0';
}

/* idx_qfail writes "column N: reason" for byte pos and returns code. */
static int idx_qfail(idx_qparser *ps, int code, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int idx_qfail(idx_qparser *ps, int code, size_t pos, const char *fmt, ...)
{
	char prefix[32];
	snprintf(prefix, sizeof prefix, "column %u: ", (unsigned)idx_col(ps, pos));
	va_list ap;
	va_start(ap, fmt);
	idx_verr(ps->err, ps->errlen, prefix, fmt, ap);
	va_end(ap);
	return code;
}

/* idx_qmsg writes a message without a column and returns code. */
static int idx_qmsg(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int idx_qmsg(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	idx_verr(err, errlen, "", fmt, ap);
	va_end(ap);
	return code;
}

static qt_node *idx_qnode_new(qt_kind kind, uint32_t column)
{
	qt_node *n = idx_qmalloc(sizeof *n);
	if (n) {
		memset(n, 0, sizeof *n);
		n->kind = kind;
		n->occur = QT_MUST;
		n->column = column;
	}
	return n;
}

/* idx_keyword: is the whole word at byte p an (unescaped) AND, OR or NOT? */
static int idx_keyword(const idx_qparser *ps, size_t p)
{
	for (int kw = IDX_KW_AND; kw <= IDX_KW_NOT; kw++) {
		size_t n = strlen(idx_kw_names[kw]);
		if (ps->len - p >= n && memcmp(ps->q + p, idx_kw_names[kw], n) == 0 &&
		    (ps->len - p == n || idx_ends_word((unsigned char)ps->q[p + n])))
			return kw;
	}
	return IDX_KW_NONE;
}

static int idx_count_terms(idx_qparser *ps, uint32_t words, size_t pos)
{
	if (words > TRAWL_MAX_QUERY_TERMS - ps->nterms)
		return idx_qfail(ps, TRAWL_ELIMIT, pos, "too many terms; the limit is %d",
		                 TRAWL_MAX_QUERY_TERMS);
	ps->nterms += words;
	return TRAWL_OK;
}

static int idx_parse_seq(idx_qparser *ps, qt_node *group, int depth, size_t open);

/* idx_shown: at most 40 bytes of the field name at q (n bytes), for errors. */
#define IDX_SHOWN(q, n) (int)((n) > 40 ? 40 : (n)), (q), (n) > 40 ? "..." : ""

/*
 * idx_read_value reads a value at ps->p: "quoted" (\x escapes) or bare, a
 * run of characters other than white space and those in stop (\x escapes
 * any). On TRAWL_OK *t (malloc'ed, NUL-terminated, *tl bytes) holds it
 * unescaped, or is NULL when nothing is there (ps->p does not move);
 * *star: it was a bare unescaped "*" alone; *ends_star: a bare value ending
 * in an unescaped '*'. ps->p ends after the value.
 */
static int idx_read_value(idx_qparser *ps, const char *stop, char **t, size_t *tl, int *star,
                          int *ends_star)
{
	const char *q = ps->q;
	size_t s = ps->p, j = s;
	*t = NULL;
	*tl = 0;
	*star = *ends_star = 0;
	if (s < ps->len && q[s] == '"') {
		j = s + 1;
		while (j < ps->len && q[j] != '"')
			j += (q[j] == '\\') ? 2 : 1;
		if (j >= ps->len)
			return idx_qfail(ps, TRAWL_EQUERY, s, "unterminated quote");
		char *v = idx_qmalloc(j - s);
		if (!v)
			return TRAWL_ENOMEM;
		size_t n = 0;
		for (size_t k = s + 1; k < j; k++) {
			if (q[k] == '\\')
				k++;
			v[n++] = q[k];
		}
		v[n] = '\0';
		*t = v;
		*tl = n;
		ps->p = j + 1;
		return TRAWL_OK;
	}
	int last_star = 0;
	while (j < ps->len && !qt_is_space((unsigned char)q[j]) && !strchr(stop, q[j])) {
		if (q[j] == '\\') {
			if (j + 1 == ps->len)
				return idx_qfail(ps, TRAWL_EQUERY, j, "trailing backslash");
			j += 2;
			last_star = 0;
		} else {
			last_star = q[j] == '*';
			j++;
		}
	}
	if (j == s)
		return TRAWL_OK;
	char *v = idx_qmalloc(j - s + 1);
	if (!v)
		return TRAWL_ENOMEM;
	size_t n = 0;
	for (size_t k = s; k < j; k++) {
		if (q[k] == '\\')
			k++;
		v[n++] = q[k];
	}
	v[n] = '\0';
	*t = v;
	*tl = n;
	*star = j - s == 1 && q[s] == '*';
	*ends_star = last_star;
	ps->p = j;
	return TRAWL_OK;
}

/* The characters that end a bare range bound, and a bare value or id. */
static const char idx_bound_stop[] = "[]{}()\"";
static const char idx_value_stop[] = "()\"";

/* idx_parse_range reads [lo TO hi] (either bracket of each kind) at ps->p
 * into n, which has its field: a RANGE, or EXISTS for [* TO *]. */
static int idx_parse_range(idx_qparser *ps, qt_node *n)
{
	const char *q = ps->q;
	size_t open = ps->p++;
	char *b[2] = {NULL, NULL};
	size_t bl[2] = {0, 0};
	int open_bound[2] = {0, 0}, rc = TRAWL_OK, ends;
	for (int i = 0; i < 2 && rc == TRAWL_OK; i++) {
		while (ps->p < ps->len && qt_is_space((unsigned char)q[ps->p]))
			ps->p++;
		if (i == 1) {
			/* TO, between white space */
			size_t to = ps->p;
			if (to == ps->len) {
				rc = idx_qfail(ps, TRAWL_EQUERY, open, "unclosed range");
				break;
			}
			if (!qt_is_space((unsigned char)q[to - 1]) || ps->len - to < 2 ||
			    memcmp(q + to, "TO", 2) ||
			    (to + 2 < ps->len && !qt_is_space((unsigned char)q[to + 2]) &&
			     q[to + 2] != ']' && q[to + 2] != '}')) {
				rc = idx_qfail(ps, TRAWL_EQUERY, to,
				               "expected TO after the range's first bound");
				break;
			}
			ps->p = to + 2;
			while (ps->p < ps->len && qt_is_space((unsigned char)q[ps->p]))
				ps->p++;
		}
		if (ps->p == ps->len) {
			rc = idx_qfail(ps, TRAWL_EQUERY, open, "unclosed range");
			break;
		}
		size_t at = ps->p;
		rc = idx_read_value(ps, idx_bound_stop, &b[i], &bl[i], &open_bound[i], &ends);
		if (rc == TRAWL_OK && !b[i])
			rc = idx_qfail(ps, TRAWL_EQUERY, at, "expected a bound in the range");
	}
	if (rc == TRAWL_OK) {
		while (ps->p < ps->len && qt_is_space((unsigned char)q[ps->p]))
			ps->p++;
		if (ps->p == ps->len)
			rc = idx_qfail(ps, TRAWL_EQUERY, open, "unclosed range");
		else if (q[ps->p] != ']' && q[ps->p] != '}')
			rc = idx_qfail(ps, TRAWL_EQUERY, ps->p,
			               "expected ']' or '}' to close the range");
	}
	if (rc != TRAWL_OK) {
		free(b[0]);
		free(b[1]);
		return rc;
	}
	char close = q[ps->p++];
	if (open_bound[0] && open_bound[1]) {
		n->kind = QT_EXISTS; /* [* TO *]: any value */
		free(b[0]);
		free(b[1]);
	} else {
		n->kind = QT_RANGE;
		n->flags = (open_bound[0] ? 0 : QT_LO | (q[open] == '[' ? QT_LO_INC : 0)) |
		           (open_bound[1] ? 0 : QT_HI | (close == ']' ? QT_HI_INC : 0));
		if (open_bound[0]) {
			free(b[0]);
		} else {
			n->text = b[0];
			n->len = bl[0];
		}
		if (open_bound[1]) {
			free(b[1]);
		} else {
			n->hi = b[1];
			n->hilen = bl[1];
		}
	}
	return idx_count_terms(ps, 1, open);
}

/* idx_parse_onesided reads >a, >=a, <a or <=a at ps->p into n, which has
 * its field. */
static int idx_parse_onesided(idx_qparser *ps, qt_node *n)
{
	const char *q = ps->q;
	size_t op = ps->p;
	int lo = q[op] == '>', inc = op + 1 < ps->len && q[op + 1] == '=';
	ps->p += 1 + (size_t)inc;
	char *v = NULL;
	size_t vl = 0;
	int star, ends;
	int rc = idx_read_value(ps, idx_value_stop, &v, &vl, &star, &ends);
	if (rc)
		return rc;
	if (!v || star) {
		free(v);
		return idx_qfail(ps, TRAWL_EQUERY, op, "expected a value after '%c%s'", q[op],
		                 inc ? "=" : "");
	}
	n->kind = QT_RANGE;
	if (lo) {
		n->flags = QT_LO | (inc ? QT_LO_INC : 0);
		n->text = v;
		n->len = vl;
	} else {
		n->flags = QT_HI | (inc ? QT_HI_INC : 0);
		n->hi = v;
		n->hilen = vl;
	}
	return idx_count_terms(ps, 1, op);
}

/* idx_parse_exists reads the field name after `_exists_:` (at ps->p; the
 * clause's name starts at at) into n. */
static int idx_parse_exists(idx_qparser *ps, qt_node *n, size_t at)
{
	const char *q = ps->q;
	size_t s = ps->p, j = s;
	while (j < ps->len && qt_is_field_char((unsigned char)q[j]))
		j++;
	if (j == s || q[s] == '-' ||
	    (j < ps->len && !qt_is_space((unsigned char)q[j]) && q[j] != ')'))
		return idx_qfail(ps, TRAWL_EQUERY, at, "expected a field name after '_exists_:'");
	char *f = idx_qstrndup(q + s, j - s);
	if (!f)
		return TRAWL_ENOMEM;
	free(n->field);
	n->field = f;
	n->kind = QT_EXISTS;
	ps->p = j;
	return idx_count_terms(ps, 1, at);
}

/* idx_parse_id reads the id after `_id:` (at ps->p; the clause's name
 * starts at at) into n. */
static int idx_parse_id(idx_qparser *ps, qt_node *n, size_t at)
{
	const char *q = ps->q;
	size_t s = ps->p;
	if (s < ps->len && strchr("[{<>", q[s]))
		return idx_qfail(ps, TRAWL_EQUERY, at, "_id: takes one id, not a range");
	char *v = NULL;
	size_t vl = 0;
	int star, ends;
	int rc = idx_read_value(ps, idx_value_stop, &v, &vl, &star, &ends);
	if (rc)
		return rc;
	if (!v)
		return idx_qfail(ps, TRAWL_EQUERY, at, "expected an id after '_id:'");
	n->kind = QT_IDS;
	n->text = v;
	n->len = vl;
	if (vl == 0)
		return idx_qfail(ps, TRAWL_EQUERY, s, "empty id");
	if (ends)
		return idx_qfail(ps, TRAWL_EQUERY, s,
		                 "an id is not a prefix; escape its final '*' (\\*)");
	if (vl > LIMIT_ID_BYTES)
		return idx_qfail(ps, TRAWL_ELIMIT, s, "the id is %zu bytes; the limit is %d", vl,
		                 LIMIT_ID_BYTES);
	return idx_count_terms(ps, 1, at);
}

/*
 * idx_const turns group n, just parsed, into CONST for a following ^=1 at
 * ps->p: n itself when it holds one clause, else a CONST whose kid (FILTER:
 * its score is not used) is the group. gdepth: n's depth below the root.
 */
static int idx_const(idx_qparser *ps, qt_node *n, int gdepth)
{
	const char *q = ps->q;
	size_t at = ps->p;
	ps->p += 2;
	if (ps->p >= ps->len || q[ps->p] != '1' ||
	    (ps->p + 1 < ps->len && !qt_is_space((unsigned char)q[ps->p + 1]) &&
	     q[ps->p + 1] != ')'))
		return idx_qfail(ps, TRAWL_EQUERY, at,
		                 "only ^=1 is supported (a constant score of 1)");
	ps->p++;
	if (n->nkids > 1) {
		qt_size sz;
		qt_measure(n, &sz);
		if (gdepth + 1 + (int)sz.depth > TRAWL_MAX_QUERY_DEPTH)
			return idx_qfail(ps, TRAWL_ELIMIT, at,
			                 "parentheses nested too deep; the limit is %d",
			                 TRAWL_MAX_QUERY_DEPTH);
		qt_node *g = idx_qnode_new(QT_BOOL, n->column);
		qt_node **k = idx_qmalloc(sizeof *k);
		if (!g || !k ||
		    (n->field && !(g->field = idx_qstrndup(n->field, strlen(n->field))))) {
			qt_free(g);
			free(k);
			return TRAWL_ENOMEM;
		}
		g->kids = n->kids;
		g->nkids = n->nkids;
		g->capkids = n->capkids;
		g->occur = QT_FILTER;
		k[0] = g;
		n->kids = k;
		n->nkids = n->capkids = 1;
	}
	n->kind = QT_CONST;
	return idx_count_terms(ps, 1, at);
}

/* idx_parse_phrase reads "..." starting at the quote at ps->p into n. */
static int idx_parse_phrase(idx_qparser *ps, qt_node *n)
{
	const char *q = ps->q;
	size_t open = ps->p, j = open + 1;
	while (j < ps->len && q[j] != '"')
		j += (q[j] == '\\') ? 2 : 1;
	if (j >= ps->len) /* also a quote escaped by a final backslash */
		return idx_qfail(ps, TRAWL_EQUERY, open, "unterminated quote");
	char *t = idx_qmalloc(j - open); /* content and NUL */
	if (!t)
		return TRAWL_ENOMEM;
	size_t tl = 0;
	uint32_t words = 0;
	int in_word = 0;
	for (size_t k = open + 1; k < j; k++) {
		if (q[k] == '\\')
			k++;
		unsigned char c = (unsigned char)q[k];
		t[tl++] = (char)c;
		if (qt_is_space(c)) {
			in_word = 0;
		} else if (!in_word) {
			in_word = 1;
			words++;
		}
	}
	t[tl] = '\0';
	n->kind = QT_PHRASE;
	n->text = t;
	n->len = tl;
	if (tl == 0 && n->field) {
		/* field:"" is the empty value, which a keyword can hold */
		n->kind = QT_TERM;
		ps->p = j + 1;
		return idx_count_terms(ps, 1, open);
	}
	if (words == 0)
		return idx_qfail(ps, TRAWL_EQUERY, open, "empty phrase");
	ps->p = j + 1;
	return idx_count_terms(ps, words, open);
}

/* idx_parse_word reads a word (and a trailing '*') starting at ps->p into n. */
static int idx_parse_word(idx_qparser *ps, qt_node *n)
{
	const char *q = ps->q;
	size_t s = ps->p, j = s, star = 0;
	int prefix = 0;
	while (j < ps->len && !idx_ends_word((unsigned char)q[j])) {
		if (q[j] == '\\') {
			if (j + 1 == ps->len)
				return idx_qfail(ps, TRAWL_EQUERY, j, "trailing backslash");
			j += 2;
			prefix = 0;
		} else {
			prefix = q[j] == '*';
			star = j;
			j++;
		}
	}
	if (j == s) /* callers never start a word on a delimiter */
		return idx_qfail(ps, TRAWL_EQUERY, s, "expected a term");
	char *t = idx_qmalloc(j - s + 1);
	if (!t)
		return TRAWL_ENOMEM;
	size_t tl = 0, end = prefix ? star : j; /* a final unescaped '*' is at j - 1 */
	for (size_t k = s; k < end; k++) {
		if (q[k] == '\\')
			k++;
		t[tl++] = q[k];
	}
	t[tl] = '\0';
	n->kind = prefix ? QT_PREFIX : QT_TERM;
	n->text = t;
	n->len = tl;
	if (prefix && tl == 0)
		return idx_qfail(ps, TRAWL_EQUERY, star, "empty prefix");
	ps->p = j;
	return idx_count_terms(ps, 1, s);
}

/*
 * idx_parse_primary parses FIELD ':' primary | '(' query ')' | phrase | word
 * at ps->p into *out. field is the enclosing group's field (NULL: none);
 * depth is the parentheses around ps->p; column is where the clause starts.
 */
static int idx_parse_primary(idx_qparser *ps, const char *field, int depth, uint32_t column,
                             qt_node **out)
{
	const char *q = ps->q;
	size_t fstart = 0, flen = 0;
	/* `*:*` standing alone: every document */
	if (!field && ps->len - ps->p >= 3 && !memcmp(q + ps->p, "*:*", 3) &&
	    (ps->p + 3 == ps->len || idx_ends_word((unsigned char)q[ps->p + 3]))) {
		qt_node *all = idx_qnode_new(QT_ALL, column);
		if (!all)
			return TRAWL_ENOMEM;
		ps->p += 3;
		*out = all;
		return idx_count_terms(ps, 1, ps->p - 3);
	}
	/* FIELD ':' prefixes, iteratively; the last one wins. _exists_: and
	 * _id: end the chain (special: 1 and 2). */
	int special = 0;
	size_t sat = 0;
	for (;;) {
		size_t i = ps->p;
		if (q[i] == '-')
			break; /* see the top of the file */
		while (i < ps->len && qt_is_field_char((unsigned char)q[i]))
			i++;
		if (i == ps->p || i == ps->len || q[i] != ':')
			break;
		size_t fl = i - ps->p;
		if ((fl == 8 && !memcmp(q + ps->p, "_exists_", 8)) ||
		    (fl == 3 && !memcmp(q + ps->p, "_id", 3))) {
			special = fl == 8 ? 1 : 2;
			sat = ps->p;
			ps->p = i + 1;
			break;
		}
		if (i + 1 == ps->len || qt_is_space((unsigned char)q[i + 1]) || q[i + 1] == ')')
			return idx_qfail(ps, TRAWL_EQUERY, ps->p, "expected a term after '%.*s%s:'",
			                 IDX_SHOWN(q + ps->p, fl));
		fstart = ps->p;
		flen = fl;
		ps->p = i + 1;
	}
	if (special == 2 && field)
		return idx_qfail(ps, TRAWL_EQUERY, sat, "_id: cannot be inside a field's group");

	qt_node *n = idx_qnode_new(QT_TERM, column);
	if (!n)
		return TRAWL_ENOMEM;
	if (special != 2 && (flen || field)) {
		n->field =
		    flen ? idx_qstrndup(q + fstart, flen) : idx_qstrndup(field, strlen(field));
		if (!n->field) {
			free(n);
			return TRAWL_ENOMEM;
		}
	}
	int rc;
	char c = ps->p < ps->len ? q[ps->p] : '\0';
	if (special == 1) {
		rc = idx_parse_exists(ps, n, sat);
	} else if (special == 2) {
		rc = idx_parse_id(ps, n, sat);
	} else if (c == '[' || c == '{' || c == '>' || c == '<') {
		rc = n->field ? (c == '[' || c == '{' ? idx_parse_range(ps, n)
		                                      : idx_parse_onesided(ps, n))
		              : idx_qfail(ps, TRAWL_EQUERY, ps->p,
		                          "a range needs a field (field:[a TO b], field:>a)");
	} else if (c == '(') {
		if (depth + ps->base >= TRAWL_MAX_QUERY_DEPTH) {
			rc = idx_qfail(ps, TRAWL_ELIMIT, ps->p,
			               "parentheses nested too deep; the limit is %d",
			               TRAWL_MAX_QUERY_DEPTH);
		} else {
			n->kind = QT_BOOL;
			size_t open = ps->p++;
			rc = idx_parse_seq(ps, n, depth + 1, open);
			if (rc == TRAWL_OK && ps->len - ps->p >= 2 && q[ps->p] == '^' &&
			    q[ps->p + 1] == '=')
				rc = idx_const(ps, n, depth + ps->base + 1);
		}
	} else if (c == '"') {
		rc = idx_parse_phrase(ps, n);
	} else {
		rc = idx_parse_word(ps, n);
	}
	if (rc != TRAWL_OK) {
		qt_free(n);
		return rc;
	}
	*out = n;
	return TRAWL_OK;
}

/* idx_add_kid appends kid (and its flags) to group; fl grows alongside. */
static int idx_add_kid(qt_node *group, uint8_t **fl, qt_node *kid, uint8_t flags)
{
	if (group->nkids == group->capkids) {
		uint32_t nc = group->capkids ? group->capkids * 2 : 4;
		qt_node **k = idx_qrealloc(group->kids, nc * sizeof *k);
		if (!k)
			return TRAWL_ENOMEM;
		group->kids = k;
		uint8_t *f = idx_qrealloc(*fl, nc);
		if (!f)
			return TRAWL_ENOMEM;
		*fl = f;
		group->capkids = nc;
	}
	group->kids[group->nkids] = kid;
	(*fl)[group->nkids] = flags;
	group->nkids++;
	return TRAWL_OK;
}

/*
 * idx_parse_seq parses clauses into group until the ')' closing it (depth >
 * 0; open is the byte of its '(') or the end of the query (depth 0). On
 * error the caller frees group with whatever kids it holds.
 */
static int idx_parse_seq(idx_qparser *ps, qt_node *group, int depth, size_t open)
{
	const char *q = ps->q;
	uint8_t *fl = NULL; /* IDX_QF_* per kid, group->capkids of them */
	int conj = IDX_KW_NONE, neg = 0;
	size_t conj_pos = 0, neg_pos = 0;
	int rc = TRAWL_OK;

	for (;;) {
		while (ps->p < ps->len && qt_is_space((unsigned char)q[ps->p]))
			ps->p++;
		size_t start = ps->p;
		if (start == ps->len || q[start] == ')') {
			if (neg)
				rc = idx_qfail(ps, TRAWL_EQUERY, neg_pos,
				               "expected a term after 'NOT'");
			else if (conj)
				rc = idx_qfail(ps, TRAWL_EQUERY, conj_pos,
				               "expected a term after '%s'", idx_kw_names[conj]);
			else if (start == ps->len && depth > 0)
				rc = idx_qfail(ps, TRAWL_EQUERY, open, "unclosed '('");
			else if (start < ps->len && depth == 0)
				rc = idx_qfail(ps, TRAWL_EQUERY, start, "unexpected ')'");
			else if (group->nkids == 0 && depth > 0)
				rc = idx_qfail(ps, TRAWL_EQUERY, open, "empty group");
			else if (group->nkids == 0)
				rc = idx_qmsg(ps->err, ps->errlen, TRAWL_EQUERY, "empty query");
			else if (start < ps->len)
				ps->p++; /* the ')' */
			break;
		}

		int kw = idx_keyword(ps, start);
		if (kw != IDX_KW_NONE) {
			if (neg) {
				rc = idx_qfail(ps, TRAWL_EQUERY, neg_pos,
				               "expected a term after 'NOT'");
				break;
			}
			if (kw == IDX_KW_NOT) {
				neg = 1;
				neg_pos = start;
			} else if (conj) {
				rc = idx_qfail(ps, TRAWL_EQUERY, conj_pos,
				               "expected a term after '%s'", idx_kw_names[conj]);
				break;
			} else if (group->nkids == 0) {
				rc = idx_qfail(ps, TRAWL_EQUERY, start,
				               "expected a term before '%s'", idx_kw_names[kw]);
				break;
			} else {
				conj = kw;
				conj_pos = start;
			}
			ps->p += strlen(idx_kw_names[kw]);
			continue;
		}

		qt_occur occur = ps->dflt;
		uint8_t flags = 0;
		if (q[start] == '+' || q[start] == '-' || q[start] == '#') {
			if (neg) {
				rc = idx_qfail(ps, TRAWL_EQUERY, neg_pos,
				               "expected a term after 'NOT'");
				break;
			}
			size_t nx = start + 1;
			if (nx == ps->len || qt_is_space((unsigned char)q[nx]) || q[nx] == ')') {
				rc = idx_qfail(ps, TRAWL_EQUERY, start,
				               "expected a term after '%c'", q[start]);
				break;
			}
			occur = q[start] == '+' ? QT_MUST : q[start] == '-' ? QT_NOT : QT_FILTER;
			flags = IDX_QF_EXPLICIT;
			ps->p = nx;
		} else if (neg) {
			occur = QT_NOT;
			flags = IDX_QF_EXPLICIT;
		}

		qt_node *kid = NULL;
		rc = idx_parse_primary(ps, group->field, depth, idx_col(ps, start), &kid);
		if (rc != TRAWL_OK)
			break;
		kid->occur = occur;
		rc = idx_add_kid(group, &fl, kid, flags);
		if (rc != TRAWL_OK) {
			qt_free(kid);
			break;
		}

		/* Keywords bind the clauses on either side; explicit occurs win. */
		uint32_t cur = group->nkids - 1;
		if (conj == IDX_KW_AND) {
			for (uint32_t i = cur - 1; i <= cur; i++) {
				if (!(fl[i] & IDX_QF_EXPLICIT)) {
					group->kids[i]->occur = QT_MUST;
					fl[i] |= IDX_QF_AND;
				}
			}
		} else if (conj == IDX_KW_OR) {
			for (uint32_t i = cur - 1; i <= cur; i++)
				if (!(fl[i] & (IDX_QF_EXPLICIT | IDX_QF_AND)))
					group->kids[i]->occur = QT_SHOULD;
		}
		conj = IDX_KW_NONE;
		neg = 0;
	}
	free(fl);
	return rc;
}

/* idx_parse_text parses q into a new group: the root (field NULL, base 0)
 * or the inside of `field:( q )` (base 1). */
static int idx_parse_text(const char *q, size_t len, int default_op, const char *field, int base,
                          qt_node **out, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	if (out)
		*out = NULL;
	if (!out || (!q && len))
		return idx_qmsg(err, errlen, TRAWL_EINVAL, "invalid argument");
	if (!q)
		q = "";
	if (len > TRAWL_MAX_QUERY_BYTES)
		return idx_qmsg(err, errlen, TRAWL_ELIMIT, "query is %zu bytes; the limit is %d",
		                len, TRAWL_MAX_QUERY_BYTES);

	idx_qparser ps = {
	    .q = q,
	    .len = len,
	    .dflt = default_op ? QT_MUST : QT_SHOULD,
	    .base = base,
	    .cpos = 0,
	    .ccol = 1,
	    .err = err,
	    .errlen = errlen,
	};
	size_t bad = utf8_check(q, len);
	if (bad < len)
		return idx_qfail(&ps, TRAWL_EUTF8, bad, "invalid UTF-8");
	const char *nul = memchr(q, '\0', len);
	if (nul)
		return idx_qfail(&ps, TRAWL_EQUERY, (size_t)(nul - q), "NUL character");

	qt_node *group = idx_qnode_new(QT_BOOL, base ? 0 : 1);
	if (!group || (field && !(group->field = idx_qstrndup(field, strlen(field))))) {
		qt_free(group);
		return TRAWL_ENOMEM;
	}
	if (base)
		group->occur = ps.dflt;
	int rc = idx_parse_seq(&ps, group, 0, 0);
	if (rc != TRAWL_OK) {
		qt_free(group);
		return rc;
	}
	*out = group;
	return TRAWL_OK;
}

int idx_query_parse(const char *q, size_t len, int default_op, qt_node **out, char *err,
                    size_t errlen)
{
	return idx_parse_text(q, len, default_op, NULL, 0, out, err, errlen);
}

int idx_query_parse_group(const char *q, size_t len, int default_op, const char *field,
                          qt_node **out, char *err, size_t errlen)
{
	return idx_parse_text(q, len, default_op, field, 1, out, err, errlen);
}

int idx_query_parse_filter(const char *q, size_t len, qt_node **out, char *err, size_t errlen)
{
	qt_node *r = NULL;
	if (out)
		*out = NULL;
	int rc = idx_parse_text(q, len, 1, NULL, 0, out ? &r : NULL, err, errlen);
	if (rc != TRAWL_OK)
		return rc;
	idx_qparser ps = {.q = q, .len = len, .cpos = 0, .ccol = 1, .err = err, .errlen = errlen};
	uint32_t nshould = 0, first = 0;
	int required = 0;
	for (uint32_t i = 0; i < r->nkids; i++) {
		qt_occur oc = r->kids[i]->occur;
		required |= oc == QT_MUST || oc == QT_FILTER;
		if (oc == QT_SHOULD && nshould++ == 0)
			first = i;
	}
	/* where the first optional clause starts: the byte of its column */
	size_t at = 0;
	for (uint32_t col = 1; nshould && col < r->kids[first]->column && at < len; col++)
		for (at++; at < len && ((unsigned char)q[at] & 0xC0) == 0x80; at++)
			;
	if (nshould && required) {
		qt_free(r);
		return idx_qfail(&ps, TRAWL_EQUERY, at,
		                 "an optional clause beside required ones does not narrow a "
		                 "filter; group the alternatives: (a OR b)");
	}
	for (uint32_t i = 0; i < r->nkids; i++)
		if (r->kids[i]->occur == QT_MUST)
			r->kids[i]->occur = QT_FILTER;
	if (nshould == 1) {
		r->kids[first]->occur = QT_FILTER;
	} else if (nshould > 1) {
		/* the alternatives, one group: (a OR b) */
		qt_node *g = idx_qnode_new(QT_BOOL, r->kids[first]->column);
		qt_node **k = idx_qmalloc(nshould * sizeof *k);
		if (!g || !k) {
			free(g);
			free(k);
			qt_free(r);
			return idx_qmsg(err, errlen, TRAWL_ENOMEM, "out of memory");
		}
		/* the alternatives go one level deeper */
		uint32_t deepest = 0;
		for (uint32_t i = 0; i < r->nkids; i++) {
			const qt_node *kid = r->kids[i];
			if (kid->occur == QT_SHOULD &&
			    (kid->kind == QT_BOOL || kid->kind == QT_CONST)) {
				qt_size sz;
				qt_measure(kid, &sz);
				if (sz.depth + 1 > deepest)
					deepest = sz.depth + 1;
			}
		}
		if (1 + deepest > TRAWL_MAX_QUERY_DEPTH) {
			free(g);
			free(k);
			qt_free(r);
			return idx_qfail(&ps, TRAWL_ELIMIT, at,
			                 "parentheses nested too deep; the limit is %d",
			                 TRAWL_MAX_QUERY_DEPTH);
		}
		g->occur = QT_FILTER;
		g->kids = k;
		g->capkids = nshould;
		uint32_t n = 0;
		for (uint32_t i = 0; i < r->nkids; i++) {
			if (r->kids[i]->occur == QT_SHOULD)
				g->kids[g->nkids++] = r->kids[i];
			else
				r->kids[n++] = r->kids[i];
		}
		memmove(r->kids + first + 1, r->kids + first, (n - first) * sizeof *r->kids);
		r->kids[first] = g;
		r->nkids = n + 1;
	}
	*out = r;
	return TRAWL_OK;
}
