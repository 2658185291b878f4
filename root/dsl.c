/*
 * dsl.c - the OpenSearch query DSL compiled into a query tree (see dsl.h).
 *
 * The compiler walks the query object once and appends each query's
 * clauses to the group it belongs in: a bool's clauses to the bool's group
 * (or to the root, for the whole query), a match's words to a group in its
 * field, and so on, each with the occur the bool gives it (an unmarked
 * clause is SHOULD). Every tree it makes is the one (columns aside) that
 * trawl's parser makes of the trawl query the DSL stands for, so a match's
 * text is cut into tokens as trawl's analyzer cuts them (one clause per
 * token) and the empty cases
 * (no tokens, an empty bool) become what they always were: every document
 * (`*:*`) or none (`(+*:* -*:*)`). A query_string is parsed by
 * idx_query_parse, as the inside of its field's group when it names one.
 *
 * Errors: the first one found is kept, and the walk stops there. A
 * query_string that does not parse is reported only if the rest of the DSL
 * is fine and the tree within its limits: trawl used to find such errors
 * after the DSL, at the leaf, and the reasons keep that order.
 */
#include "root/dsl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/utf8.h"
#include "index/query.h"
#include "root/datemath.h"
#include "trawl/trawl.h"

/* ------------------------------------------------------------------------ */
/* The compiler's state                                                     */
/* ------------------------------------------------------------------------ */

typedef struct tctx {
	dsl_error *err;
	int rc;            /* the first error (0: none so far) */
	dsl_error text;    /* the first query_string that did not parse (rc 0: none) */
	int deep;          /* the deepest parentheses of a query_string left unparsed */
	const char *whole; /* the text of the query_string that is the whole query */
	int64_t now_ms;    /* `now` in date math: read once, for the whole query */
} tctx;

static int tfail(tctx *c, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int tfail(tctx *c, int rc, const char *fmt, ...)
{
	if (!c->rc) {
		c->rc = rc;
		va_list ap;
		va_start(ap, fmt);
		verrf(c->err->reason, sizeof c->err->reason, rc, fmt, ap);
		va_end(ap);
	}
	return c->rc;
}

static int tnomem(tctx *c)
{
	return tfail(c, TRAWL_ENOMEM, "out of memory");
}

/* add appends n to group with occur; on failure n is freed. */
static int add(tctx *c, qt_node *group, qt_node *n, qt_occur occur)
{
	if (!n)
		return tnomem(c);
	n->occur = occur;
	if (qt_add(group, n)) {
		qt_free(n);
		return tnomem(c);
	}
	return 0;
}

/* node: a new node of kind in field f (NULL: every text field) with text
 * (len bytes; NULL: none); NULL without memory. */
static qt_node *node(qt_kind kind, const char *f, const char *text, size_t len)
{
	qt_node *n = qt_new(kind, QT_SHOULD, 0);
	if (n && ((f && qt_set_field(n, f, strlen(f))) || (text && qt_set_text(n, text, len)))) {
		qt_free(n);
		n = NULL;
	}
	return n;
}

/* add_all and add_none append `*:*` or `(+*:* -*:*)`: every document, or
 * none (one required and one excluded clause over every document). */
static int add_all(tctx *c, qt_node *group, qt_occur occur)
{
	return add(c, group, node(QT_ALL, NULL, NULL, 0), occur);
}

static int add_none(tctx *c, qt_node *group, qt_occur occur)
{
	qt_node *g = node(QT_BOOL, NULL, NULL, 0);
	if (add(c, group, g, occur))
		return c->rc;
	return add_all(c, g, QT_MUST) || add_all(c, g, QT_NOT) ? c->rc : 0;
}

/* ------------------------------------------------------------------------ */
/* Tokens. Trawl's analyzer (index/analyze.c) cuts text into maximal runs of */
/* letters and digits (Unicode L*, N*, and the marks after them). The root   */
/* has no Unicode tables (it does not link utf8proc), so this cut is exact   */
/* for ASCII and approximate beyond: every non-ASCII character is a letter   */
/* except the punctuation, symbol and space blocks listed below. It only     */
/* decides how many clauses a match makes; the leaves analyse every word     */
/* again, so a separator missed here (a rare symbol inside a word) at worst  */
/* makes that word the OR of its parts.                                      */
/* ------------------------------------------------------------------------ */

/* Code point ranges that separate tokens (sorted, inclusive). */
static const uint32_t seps[][2] = {
    {0x80, 0xA9},       {0xAB, 0xB1},     {0xB4, 0xB4},     {0xB6, 0xB8},     {0xBB, 0xBB},
    {0xBF, 0xBF},       {0xD7, 0xD7},     {0xF7, 0xF7},     {0x37E, 0x37E},   {0x387, 0x387},
    {0x55A, 0x55F},     {0x589, 0x58A},   {0x5BE, 0x5BE},   {0x5C0, 0x5C0},   {0x5C3, 0x5C3},
    {0x5C6, 0x5C6},     {0x5F3, 0x5F4},   {0x600, 0x60F},   {0x61B, 0x61F},   {0x66A, 0x66D},
    {0x6D4, 0x6D4},     {0x964, 0x965},   {0xE3F, 0xE3F},   {0xE4F, 0xE4F},   {0xE5A, 0xE5B},
    {0x1680, 0x1680},   {0x2000, 0x206F}, {0x20A0, 0x20CF}, {0x2190, 0x245F}, {0x2500, 0x2775},
    {0x2794, 0x2BFF},   {0x2E00, 0x2E7F}, {0x3000, 0x3004}, {0x3008, 0x3020}, {0x3030, 0x3030},
    {0x303D, 0x303F},   {0x30FB, 0x30FB}, {0xFE10, 0xFE1F}, {0xFE30, 0xFE6F}, {0xFEFF, 0xFEFF},
    {0xFF00, 0xFF0F},   {0xFF1A, 0xFF20}, {0xFF3B, 0xFF40}, {0xFF5B, 0xFF65}, {0xFFF0, 0xFFFF},
    {0x1F000, 0x1FAFF},
};

/* is_word_char: does the character at s (n > 0 bytes) belong to a token? */
static int is_word_char(const char *s, size_t n, size_t *adv)
{
	unsigned char ch = (unsigned char)s[0];
	*adv = 1;
	if (ch < 0x80)
		return ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z') || (ch >= '0' && ch <= '9');
	uint32_t cp = utf8_next(s, n, adv);
	if (cp == UINT32_MAX)
		return 0;
	size_t lo = 0, hi = sizeof seps / sizeof seps[0];
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (cp < seps[mid][0])
			hi = mid;
		else if (cp > seps[mid][1])
			lo = mid + 1;
		else
			return 0;
	}
	return 1;
}

/* next_token finds the next token in s[*pos, n): 1 with [*ts, *te), or 0. */
static int next_token(const char *s, size_t n, size_t *pos, size_t *ts, size_t *te)
{
	size_t i = *pos, start = 0, adv;
	int in = 0;
	while (i < n) {
		if (is_word_char(s + i, n - i, &adv)) {
			if (!in)
				start = i;
			in = 1;
		} else if (in) {
			break;
		}
		i += adv;
	}
	*pos = i;
	if (!in)
		return 0;
	*ts = start;
	*te = i;
	return 1;
}

static size_t count_tokens(const char *s, size_t n)
{
	size_t pos = 0, a, b, k = 0;
	while (next_token(s, n, &pos, &a, &b))
		k++;
	return k;
}

/* ------------------------------------------------------------------------ */
/* Checks shared by the query types                                         */
/* ------------------------------------------------------------------------ */

const char *dsl_json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "START_OBJECT";
	case JSON_ARRAY:
		return "START_ARRAY";
	case JSON_STRING:
		return "VALUE_STRING";
	case JSON_INTEGER:
	case JSON_REAL:
		return "VALUE_NUMBER";
	case JSON_TRUE:
	case JSON_FALSE:
		return "VALUE_BOOLEAN";
	default:
		return "VALUE_NULL";
	}
}

static int in_list(const char *const *list, const char *s)
{
	for (; list && *list; list++)
		if (!strcmp(*list, s))
			return 1;
	return 0;
}

/* Options OpenSearch has and trawl cannot honour: named in the error. */
static const char *const unsupported_opts[] = {"fuzziness",
                                               "analyzer",
                                               "search_analyzer",
                                               "quote_analyzer",
                                               "cutoff_frequency",
                                               "fuzzy_max_expansions",
                                               "fuzzy_prefix_length",
                                               "quote_field_suffix",
                                               "flags",
                                               "minimum_should_match",
                                               "slop",
                                               "phrase_slop",
                                               "rewrite",
                                               "escape",
                                               NULL};

/*
 * check_opts walks the options of query qname: handled keys are the
 * caller's; harmless ones are accepted and ignored; "boost" must be 1 and
 * "_name" a string; anything else is an error.
 */
static int check_opts(tctx *c, const char *qname, json_t *obj, const char *const *handled,
                      const char *const *harmless)
{
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v)
	{
		if (in_list(handled, k) || in_list(harmless, k))
			continue;
		if (!strcmp(k, "boost")) {
			if (!json_is_number(v))
				return tfail(c, TRAWL_EQUERY, "[%s] [boost] must be a number",
				             qname);
			if (json_number_value(v) != 1.0)
				return tfail(
				    c, TRAWL_EQUERY,
				    "[%s] query option [boost] is not supported: trawl weighs "
				    "fields "
				    "with the schema's boosts (only a boost of 1 is accepted)",
				    qname);
			continue;
		}
		if (!strcmp(k, "_name")) {
			if (!json_is_string(v))
				return tfail(c, TRAWL_EQUERY, "[%s] [_name] must be a string",
				             qname);
			continue;
		}
		if (in_list(unsupported_opts, k))
			return tfail(c, TRAWL_EQUERY,
			             "[%s] query option [%.64s] is not supported by trawl", qname,
			             k);
		return tfail(c, TRAWL_EQUERY, "[%s] query does not support [%.64s]", qname, k);
	}
	return 0;
}

/* value_text: a string, number or boolean as text (numbers in buf). */
static int value_text(tctx *c, const char *qname, const char *what, json_t *v, char *buf,
                      size_t cap, const char **s, size_t *n)
{
	if (json_is_string(v)) {
		*s = json_string_value(v);
		*n = json_string_length(v);
		if (memchr(*s, 0, *n))
			return tfail(c, TRAWL_EQUERY, "[%s] [%s] contains a NUL character", qname,
			             what);
	} else if (json_is_integer(v)) {
		*n = (size_t)snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
		*s = buf;
	} else if (json_is_real(v)) {
		*n = (size_t)snprintf(buf, cap, "%.17g", json_real_value(v));
		*s = buf;
	} else if (json_is_boolean(v)) {
		*s = json_is_true(v) ? "true" : "false";
		*n = strlen(*s);
	} else {
		return tfail(c, TRAWL_EQUERY,
		             "[%s] [%s] must be a string, a number or a boolean, not %s", qname,
		             what, dsl_json_kind(v));
	}
	return 0;
}

/* check_field is dsl_field, its error in c. */
static int check_field(tctx *c, const char *qname, const char *f, int allow_boost,
                       char buf[LIMIT_DSL_FIELD_BYTES + 1], const char **out)
{
	size_t n = strlen(f);
	const char *caret = allow_boost ? strchr(f, '^') : NULL;
	if (caret) {
		char *end;
		errno = 0;
		double b = strtod(caret + 1, &end);
		if (caret[1] == 0 || *end || errno)
			return tfail(c, TRAWL_EQUERY, "[%s] field [%.64s] has a malformed boost",
			             qname, f);
		if (b != 1.0)
			return tfail(
			    c, TRAWL_EQUERY,
			    "[%s] field boosts such as [%.64s] are not supported: trawl weighs "
			    "fields with the schema's boosts",
			    qname, f);
		n = (size_t)(caret - f);
	}
	if (n > LIMIT_DSL_FIELD_BYTES)
		return tfail(c, TRAWL_EQUERY, "[%s] field name [%.64s...] is longer than %d bytes",
		             qname, f, LIMIT_DSL_FIELD_BYTES);
	memcpy(buf, f, n);
	buf[n] = 0;
	if (!strcmp(buf, "_all") || !strcmp(buf, "*")) {
		*out = NULL;
		return 0;
	}
	if (n == 0)
		return tfail(c, TRAWL_EQUERY, "[%s] field name is empty", qname);
	if (strchr(buf, '*'))
		return tfail(
		    c, TRAWL_EQUERY,
		    "[%s] field patterns such as [%.64s] are not supported; name the fields, or "
		    "use * for every text field",
		    qname, buf);
	for (size_t i = 0; i < n; i++)
		if (!qt_is_field_char((unsigned char)buf[i]) || buf[0] == '-')
			return tfail(
			    c, TRAWL_EQUERY,
			    "[%s] [%.64s] is not a valid trawl field name (letters, digits, '_', "
			    "'.' and '-', not starting with '-')",
			    qname, buf);
	*out = buf;
	return 0;
}

int dsl_field(const char *qname, const char *f, int allow_boost,
              char buf[LIMIT_DSL_FIELD_BYTES + 1], const char **out, dsl_error *err)
{
	memset(err, 0, sizeof *err);
	tctx c = {.err = err};
	return err->rc = check_field(&c, qname, f, allow_boost, buf, out);
}

/* one_field: the single "field": value of a match-like query body. */
static int one_field(tctx *c, const char *qname, json_t *body, const char *const *extra,
                     const char **field, json_t **val)
{
	if (!json_is_object(body))
		return tfail(c, TRAWL_EQUERY,
		             "[%s] query malformed, no start_object after query name", qname);
	*field = NULL;
	*val = NULL;
	const char *k;
	json_t *v;
	json_object_foreach(body, k, v)
	{
		if (in_list(extra, k))
			continue;
		if (*field)
			return tfail(
			    c, TRAWL_EQUERY,
			    "[%s] query doesn't support multiple fields, found [%.64s] and [%.64s]",
			    qname, *field, k);
		*field = k;
		*val = v;
	}
	if (!*field)
		return tfail(c, TRAWL_EQUERY, "[%s] query names no field", qname);
	return 0;
}

/* operator: "or" (0) or "and" (1), in any case. */
static int parse_operator(tctx *c, const char *qname, json_t *v, int *and_op)
{
	const char *s = json_string_value(v);
	if (s && !strcasecmp(s, "or"))
		*and_op = 0;
	else if (s && !strcasecmp(s, "and"))
		*and_op = 1;
	else
		return tfail(c, TRAWL_EQUERY, "[%s] [operator] must be \"or\" or \"and\"", qname);
	return 0;
}

/* minimum_should_match: only 0 and 1 (as numbers or strings) are exact in
 * trawl; *msm receives them. */
static int parse_msm(tctx *c, const char *qname, json_t *v, int *msm)
{
	const char *s = json_string_value(v);
	if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1))
		*msm = (int)json_integer_value(v);
	else if (s && (!strcmp(s, "0") || !strcmp(s, "1")))
		*msm = s[0] - '0';
	else
		return tfail(
		    c, TRAWL_EQUERY,
		    "[%s] [minimum_should_match] %s%.32s%s is not supported: trawl accepts "
		    "only 1 (or 0)",
		    qname, s ? "\"" : "", s ? s : dsl_json_kind(v), s ? "\"" : "");
	return 0;
}

/* zero_terms_query: "none" (0) or "all" (1). */
static int parse_zero_terms(tctx *c, const char *qname, json_t *v, int *all)
{
	const char *s = json_string_value(v);
	if (s && !strcasecmp(s, "none"))
		*all = 0;
	else if (s && !strcasecmp(s, "all"))
		*all = 1;
	else
		return tfail(c, TRAWL_EQUERY, "[%s] [zero_terms_query] must be \"none\" or \"all\"",
		             qname);
	return 0;
}

/* slop: only 0. */
static int check_slop(tctx *c, const char *qname, json_t *v)
{
	if (!json_is_integer(v) || json_integer_value(v) != 0)
		return tfail(c, TRAWL_EQUERY,
		             "[%s] [slop] is not supported: trawl phrases match exactly (only 0)",
		             qname);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The query types. Each appends its clause to `group` with `occur`.        */
/* ------------------------------------------------------------------------ */

/* The words of text searched in field f (NULL: every text field): one
 * clause per token, each required with and_op, in a group of f when there
 * are several (title:(solar eclipse)). Text without tokens matches
 * nothing, or everything with zero_all. */
static int put_words(tctx *c, qt_node *group, qt_occur occur, const char *f, const char *s,
                     size_t n, int and_op, int zero_all)
{
	size_t nt = count_tokens(s, n), pos = 0, a, b;
	if (nt == 0)
		return zero_all ? add_all(c, group, occur) : add_none(c, group, occur);
	if (nt == 1) {
		next_token(s, n, &pos, &a, &b);
		return add(c, group, node(QT_TERM, f, s + a, b - a), occur);
	}
	qt_node *g = node(QT_BOOL, f, NULL, 0);
	if (add(c, group, g, occur))
		return c->rc;
	while (next_token(s, n, &pos, &a, &b))
		if (add(c, g, node(QT_TERM, f, s + a, b - a), and_op ? QT_MUST : QT_SHOULD))
			return c->rc;
	return 0;
}

/* The phrase of text's tokens in field f: "t1 t2 ...". */
static int put_phrase(tctx *c, qt_node *group, qt_occur occur, const char *f, const char *s,
                      size_t n, int zero_all)
{
	size_t pos = 0, a, b, len = 0;
	if (count_tokens(s, n) == 0)
		return zero_all ? add_all(c, group, occur) : add_none(c, group, occur);
	char *t = malloc(n + 1); /* the tokens and a space between each two */
	if (!t)
		return tnomem(c);
	while (next_token(s, n, &pos, &a, &b)) {
		if (len)
			t[len++] = ' ';
		memcpy(t + len, s + a, b - a);
		len += b - a;
	}
	add(c, group, node(QT_PHRASE, f, t, len), occur);
	free(t);
	return c->rc;
}

static const char *const fuzzy_harmless[] = {"lenient",
                                             "auto_generate_synonyms_phrase_query",
                                             "prefix_length",
                                             "max_expansions",
                                             "fuzzy_transpositions",
                                             "fuzzy_rewrite",
                                             NULL};

static int tr_match(tctx *c, json_t *body, int phrase, qt_node *group, qt_occur occur)
{
	const char *qname = phrase ? "match_phrase" : "match";
	const char *field;
	json_t *v, *text;
	if (one_field(c, qname, body, NULL, &field, &v))
		return c->rc;
	int and_op = 0, zero_all = 0, msm = 1;
	text = v;
	if (json_is_object(v)) {
		static const char *const handled[] = {"query", "operator", "minimum_should_match",
		                                      "zero_terms_query", NULL};
		static const char *const handled_phrase[] = {"query", "slop", "zero_terms_query",
		                                             NULL};
		if (check_opts(c, qname, v, phrase ? handled_phrase : handled,
		               phrase ? NULL : fuzzy_harmless))
			return c->rc;
		text = json_object_get(v, "query");
		if (!text)
			return tfail(c, TRAWL_EQUERY, "[%s] requires query value", qname);
		json_t *o;
		if (!phrase && (o = json_object_get(v, "operator")) &&
		    parse_operator(c, qname, o, &and_op))
			return c->rc;
		if (!phrase && (o = json_object_get(v, "minimum_should_match")) &&
		    parse_msm(c, qname, o, &msm))
			return c->rc;
		if ((o = json_object_get(v, "zero_terms_query")) &&
		    parse_zero_terms(c, qname, o, &zero_all))
			return c->rc;
		if (phrase && (o = json_object_get(v, "slop")) && check_slop(c, qname, o))
			return c->rc;
	}
	char num[64], fb[LIMIT_DSL_FIELD_BYTES + 1];
	const char *s, *f;
	size_t n;
	if (value_text(c, qname, "query", text, num, sizeof num, &s, &n) ||
	    check_field(c, qname, field, 0, fb, &f))
		return c->rc;
	if (phrase)
		return put_phrase(c, group, occur, f, s, n, zero_all);
	return put_words(c, group, occur, f, s, n, and_op, zero_all);
}

/*
 * field_list resolves the nf fields of a multi-field query: the single one,
 * else the strings of the array `fields`. *fb holds their checked names and
 * *fl points at them (NULL for "every text field": *every is then set, as it
 * is for an empty list). On success the caller frees *fb and *fl; on error
 * c->rc is set and nothing is left allocated.
 */
static int field_list(tctx *c, const char *qname, json_t *single, json_t *fields, size_t nf,
                      char (**fb)[LIMIT_DSL_FIELD_BYTES + 1], const char ***fl, int *every)
{
	*fb = nf ? calloc(nf, sizeof **fb) : NULL;
	*fl = nf ? calloc(nf, sizeof **fl) : NULL;
	if (nf && (!*fb || !*fl)) {
		free(*fb);
		free(*fl);
		*fb = NULL;
		*fl = NULL;
		return tnomem(c);
	}
	*every = nf == 0;
	for (size_t i = 0; i < nf; i++) {
		json_t *e = single ? single : json_array_get(fields, i);
		if (!json_is_string(e)) {
			tfail(c, TRAWL_EQUERY, "[%s] [fields] must be an array of strings", qname);
			break;
		}
		if (check_field(c, qname, json_string_value(e), 1, (*fb)[i], &(*fl)[i]))
			break;
		*every |= (*fl)[i] == NULL;
	}
	return TRAWL_OK; /* a field error is in c->rc: the caller frees and returns it */
}

static int tr_multi_match(tctx *c, json_t *body, qt_node *group, qt_occur occur)
{
	const char *qname = "multi_match";
	if (!json_is_object(body))
		return tfail(c, TRAWL_EQUERY,
		             "[%s] query malformed, no start_object after query name", qname);
	static const char *const handled[] = {
	    "query", "fields", "type", "operator", "minimum_should_match", "zero_terms_query",
	    "slop",  NULL};
	static const char *const harmless[] = {"tie_breaker",
	                                       "lenient",
	                                       "auto_generate_synonyms_phrase_query",
	                                       "prefix_length",
	                                       "max_expansions",
	                                       "fuzzy_transpositions",
	                                       "fuzzy_rewrite",
	                                       NULL};
	if (check_opts(c, qname, body, handled, harmless))
		return c->rc;
	json_t *text = json_object_get(body, "query"), *o;
	if (!text)
		return tfail(c, TRAWL_EQUERY, "[%s] requires query value", qname);
	int and_op = 0, zero_all = 0, msm = 1, phrase = 0;
	if ((o = json_object_get(body, "type"))) {
		const char *t = json_string_value(o);
		if (!t)
			return tfail(c, TRAWL_EQUERY, "[%s] [type] must be a string", qname);
		if (!strcmp(t, "phrase"))
			phrase = 1;
		else if (!strcmp(t, "cross_fields") || !strcmp(t, "phrase_prefix") ||
		         !strcmp(t, "bool_prefix"))
			return tfail(c, TRAWL_EQUERY,
			             "[%s] type [%s] is not supported by trawl; use best_fields, "
			             "most_fields or phrase",
			             qname, t);
		else if (strcmp(t, "best_fields") && strcmp(t, "most_fields"))
			return tfail(c, TRAWL_EQUERY, "[%s] query does not support type [%.64s]",
			             qname, t);
	}
	if ((o = json_object_get(body, "operator")) && parse_operator(c, qname, o, &and_op))
		return c->rc;
	if ((o = json_object_get(body, "minimum_should_match")) && parse_msm(c, qname, o, &msm))
		return c->rc;
	if ((o = json_object_get(body, "zero_terms_query")) &&
	    parse_zero_terms(c, qname, o, &zero_all))
		return c->rc;
	if ((o = json_object_get(body, "slop")) && check_slop(c, qname, o))
		return c->rc;
	char num[64];
	const char *s;
	size_t n;
	if (value_text(c, qname, "query", text, num, sizeof num, &s, &n))
		return c->rc;

	/* the fields: none, "*" or "_all" mean every text field */
	json_t *fields = json_object_get(body, "fields"), *one = NULL;
	size_t nf = 0;
	if (json_is_string(fields)) {
		one = fields;
		nf = 1;
	} else if (json_is_array(fields)) {
		nf = json_array_size(fields);
	} else if (fields) {
		return tfail(c, TRAWL_EQUERY, "[%s] [fields] must be an array of strings", qname);
	}
	char(*fb)[LIMIT_DSL_FIELD_BYTES + 1] = NULL;
	const char **fl = NULL;
	int every;
	if (field_list(c, qname, one, fields, nf, &fb, &fl, &every))
		return c->rc;
	if (!c->rc) {
		if (every || count_tokens(s, n) == 0 || nf == 1) {
			const char *f = every ? NULL : fl[0];
			if (phrase)
				put_phrase(c, group, occur, f, s, n, zero_all);
			else
				put_words(c, group, occur, f, s, n, and_op, zero_all);
		} else {
			/* the sum over the fields: each field's clause is optional */
			qt_node *g = node(QT_BOOL, NULL, NULL, 0);
			if (!add(c, group, g, occur))
				for (size_t i = 0; i < nf && !c->rc; i++) {
					if (phrase)
						put_phrase(c, g, QT_SHOULD, fl[i], s, n, zero_all);
					else
						put_words(c, g, QT_SHOULD, fl[i], s, n, and_op,
						          zero_all);
				}
		}
	}
	free(fb);
	free(fl);
	return c->rc;
}

/* literal: the node of one value s (n > 0 bytes) of term or terms in field
 * f: a TERM (on a keyword field the one value; on a text field analysed as
 * its text), or on _id an IDS (then at most LIMIT_ID_BYTES). NULL without
 * memory or with an error in c. */
static qt_node *literal(tctx *c, const char *qname, const char *f, const char *s, size_t n)
{
	if (f && !strcmp(f, "_id")) {
		if (n > LIMIT_ID_BYTES) {
			tfail(c, TRAWL_EQUERY, "[%s] an _id is at most %d bytes, not %zu", qname,
			      LIMIT_ID_BYTES, n);
			return NULL;
		}
		return node(QT_IDS, NULL, s, n);
	}
	return node(QT_TERM, f, s, n);
}

/* Whether an empty value is a literal on field f: on a field it is the
 * empty value, which a keyword can hold (the leaf decides by the field's
 * type: on a text field it matches nothing); with no field (every text
 * field) or on _id, there is none. */
static int empty_value_ok(const char *f)
{
	return f && strcmp(f, "_id") != 0;
}

/* term and prefix: one literal, the whole value (a prefix without its
 * trailing '*', which the literal may itself end with). */
static int tr_term(tctx *c, json_t *body, int prefix, qt_node *group, qt_occur occur)
{
	const char *qname = prefix ? "prefix" : "term";
	const char *field;
	json_t *v, *val;
	if (one_field(c, qname, body, NULL, &field, &v))
		return c->rc;
	val = v;
	if (json_is_object(v)) {
		static const char *const handled[] = {"value", NULL};
		static const char *const harmless_term[] = {"case_insensitive", NULL};
		static const char *const harmless_prefix[] = {"case_insensitive", "rewrite", NULL};
		if (check_opts(c, qname, v, handled, prefix ? harmless_prefix : harmless_term))
			return c->rc;
		val = json_object_get(v, "value");
		if (!val)
			return tfail(c, TRAWL_EQUERY,
			             "[%s] query requires a [value] for field [%.64s]", qname,
			             field);
	}
	char num[64], fb[LIMIT_DSL_FIELD_BYTES + 1];
	const char *s, *f;
	size_t n;
	if (value_text(c, qname, "value", val, num, sizeof num, &s, &n) ||
	    check_field(c, qname, field, 0, fb, &f))
		return c->rc;
	if (prefix && count_tokens(s, n) == 0)
		return tfail(c, TRAWL_EQUERY,
		             "[prefix] the prefix [%.64s] has no letters or digits", s);
	if (n == 0 && !empty_value_ok(f))
		return add_none(c, group, occur);
	if (prefix)
		return add(c, group, node(QT_PREFIX, f, s, n), occur);
	qt_node *t = literal(c, "term", f, s, n);
	return c->rc ? c->rc : add(c, group, t, occur);
}

/* const_group: a CONST with occur in group, whose one kid (FILTER: its score
 * is not used) the caller adds; NULL with c's error. */
static qt_node *const_group(tctx *c, qt_node *group, qt_occur occur)
{
	qt_node *k = node(QT_CONST, NULL, NULL, 0);
	return add(c, group, k, occur) ? NULL : k;
}

static int tr_terms(tctx *c, json_t *body, qt_node *group, qt_occur occur)
{
	static const char *const extra[] = {"boost", "_name", NULL};
	const char *field;
	json_t *v;
	if (one_field(c, "terms", body, extra, &field, &v) ||
	    check_opts(c, "terms", body, (const char *const[]){field, NULL}, NULL))
		return c->rc;
	if (json_is_object(v))
		return tfail(c, TRAWL_EQUERY,
		             "[terms] query option [lookup] is not supported by trawl");
	if (!json_is_array(v))
		return tfail(c, TRAWL_EQUERY,
		             "[terms] query requires an array of values for field "
		             "[%.64s]",
		             field);
	char num[64], fb[LIMIT_DSL_FIELD_BYTES + 1];
	const char *s, *f;
	size_t n, kept = 0, i;
	json_t *e;
	if (check_field(c, "terms", field, 0, fb, &f))
		return c->rc;
	json_array_foreach(v, i, e)
	{
		if (value_text(c, "terms", "value", e, num, sizeof num, &s, &n))
			return c->rc;
		kept += n > 0 || empty_value_ok(f); /* the empty value: a keyword's */
	}
	if (kept == 0)
		return add_none(c, group, occur);
	/* constant score, as in OpenSearch: (#f:v)^=1, or (#f:(f:v1 f:v2))^=1
	 * (on _id, the ids' group has no field) */
	qt_node *g = const_group(c, group, occur);
	if (!g)
		return c->rc;
	if (kept > 1) {
		qt_node *b = node(QT_BOOL, f && strcmp(f, "_id") ? f : NULL, NULL, 0);
		if (add(c, g, b, QT_FILTER))
			return c->rc;
		g = b;
	}
	json_array_foreach(v, i, e)
	{
		value_text(c, "terms", "value", e, num, sizeof num, &s, &n);
		if (n > 0 || empty_value_ok(f)) {
			qt_node *t = literal(c, "terms", f, s, n);
			if (c->rc || add(c, g, t, kept > 1 ? QT_SHOULD : QT_FILTER))
				return c->rc;
		}
	}
	return 0;
}

/* ids: {"values": [...]}: any of the documents, constant score, as
 * (#(_id:a _id:b))^=1. */
static int tr_ids(tctx *c, json_t *body, qt_node *group, qt_occur occur)
{
	const char *qname = "ids";
	if (!json_is_object(body))
		return tfail(c, TRAWL_EQUERY,
		             "[%s] query malformed, no start_object after query name", qname);
	static const char *const handled[] = {"values", NULL};
	static const char *const harmless[] = {"type", NULL}; /* mapping types: long gone */
	if (check_opts(c, qname, body, handled, harmless))
		return c->rc;
	json_t *v = json_object_get(body, "values"), *e;
	if (!json_is_array(v))
		return tfail(c, TRAWL_EQUERY, "[%s] [values] must be an array of ids", qname);
	char num[64];
	const char *s;
	size_t n, kept = 0, i;
	json_array_foreach(v, i, e)
	{
		if (!json_is_string(e) && !json_is_integer(e))
			return tfail(c, TRAWL_EQUERY,
			             "[%s] [values] must be an array of ids (strings), not %s",
			             qname, dsl_json_kind(e));
		if (value_text(c, qname, "values", e, num, sizeof num, &s, &n))
			return c->rc;
		if (n > LIMIT_ID_BYTES)
			return tfail(c, TRAWL_EQUERY, "[%s] an id is at most %d bytes, not %zu",
			             qname, LIMIT_ID_BYTES, n);
		kept += n > 0;
	}
	if (kept == 0)
		return add_none(c, group, occur);
	qt_node *g = const_group(c, group, occur);
	if (!g)
		return c->rc;
	if (kept > 1) {
		qt_node *b = node(QT_BOOL, NULL, NULL, 0);
		if (add(c, g, b, QT_FILTER))
			return c->rc;
		g = b;
	}
	json_array_foreach(v, i, e)
	{
		value_text(c, qname, "values", e, num, sizeof num, &s, &n);
		if (n > 0 && add(c, g, node(QT_IDS, NULL, s, n), kept > 1 ? QT_SHOULD : QT_FILTER))
			return c->rc;
	}
	return 0;
}

/* exists: {"field": f}: the documents with a value in f. */
static int tr_exists(tctx *c, json_t *body, qt_node *group, qt_occur occur)
{
	const char *qname = "exists";
	if (!json_is_object(body))
		return tfail(c, TRAWL_EQUERY,
		             "[%s] query malformed, no start_object after query name", qname);
	static const char *const handled[] = {"field", NULL};
	if (check_opts(c, qname, body, handled, NULL))
		return c->rc;
	json_t *v = json_object_get(body, "field");
	if (!json_is_string(v))
		return tfail(c, TRAWL_EQUERY, "[%s] must be provided with a [field]", qname);
	char fb[LIMIT_DSL_FIELD_BYTES + 1];
	const char *f;
	if (check_field(c, qname, json_string_value(v), 0, fb, &f))
		return c->rc;
	if (!f)
		return tfail(c, TRAWL_EQUERY, "[%s] [field] must name one field, not [%.64s]",
		             qname, json_string_value(v));
	return add(c, group, node(QT_EXISTS, f, NULL, 0), occur);
}

/* One bound of a range: the JSON value v given as parameter by, in text
 * (*t, *tn: in buf, or the JSON's string). A date when dates is set (a
 * format, a time zone) or the value is date math: resolved, with round_up
 * as gt and lte round, into canonical text; else as written. */
static int range_bound(tctx *c, const char *by, json_t *v, int dates, const dm_formats *fmts,
                       int64_t tz_ms, int round_up, char buf[64], const char **t, size_t *tn)
{
	char num[64];
	const char *s;
	size_t n;
	if (value_text(c, "range", by, v, num, sizeof num, &s, &n))
		return c->rc;
	if (s == num) { /* a number's text: kept in the caller's buf */
		memcpy(buf, num, n + 1);
		s = buf;
	}
	if (!dates && !(json_is_string(v) && dm_looks_like_math(s, n))) {
		*t = s;
		*tn = n;
		return 0;
	}
	dm_formats dflt;
	if (!fmts) {
		dm_default_formats(&dflt);
		fmts = &dflt;
	}
	char why[256];
	int64_t ms;
	if (dm_resolve(s, n, fmts, tz_ms, round_up, c->now_ms, &ms, why, sizeof why))
		return tfail(c, TRAWL_EQUERY, "[range] [%s] [%.64s]: %s", by, s, why);
	*tn = dm_format_ms(ms, buf);
	*t = buf;
	return 0;
}

/* range: {"f": {"gte": a, "lt": b, ...}} -> f:[a TO b}; without bounds,
 * _exists_:f (as OpenSearch rewrites it). */
static int tr_range(tctx *c, json_t *body, qt_node *group, qt_occur occur)
{
	const char *qname = "range";
	const char *field;
	json_t *v;
	if (one_field(c, qname, body, NULL, &field, &v))
		return c->rc;
	if (!json_is_object(v))
		return tfail(c, TRAWL_EQUERY,
		             "[%s] [%.64s] must be an object of gt, gte, lt, lte (and format, "
		             "time_zone)",
		             qname, field);
	static const char *const handled[] = {"gt",
	                                      "gte",
	                                      "lt",
	                                      "lte",
	                                      "from",
	                                      "to",
	                                      "include_lower",
	                                      "include_upper",
	                                      "format",
	                                      "time_zone",
	                                      "relation",
	                                      NULL};
	if (check_opts(c, qname, v, handled, NULL))
		return c->rc;
	char fb[LIMIT_DSL_FIELD_BYTES + 1];
	const char *f;
	if (check_field(c, qname, field, 0, fb, &f))
		return c->rc;
	if (!f)
		return tfail(c, TRAWL_EQUERY, "[%s] must name one field, not [%.64s]", qname,
		             field);
	/* the bounds, in the order given: which parameter set each */
	json_t *b[2] = {NULL, NULL};
	const char *by[2] = {NULL, NULL};
	int inc[2] = {1, 1};
	const char *k;
	json_t *x;
	json_object_foreach(v, k, x)
	{
		int hi = !strcmp(k, "lt") || !strcmp(k, "lte") || !strcmp(k, "to");
		if (!hi && strcmp(k, "gt") && strcmp(k, "gte") && strcmp(k, "from"))
			continue;
		if (by[hi])
			return tfail(c, TRAWL_EQUERY,
			             "[%s] [%s] and [%s] both give the %s bound of [%.64s]", qname,
			             by[hi], k, hi ? "upper" : "lower", field);
		by[hi] = k;
		b[hi] = json_is_null(x) ? NULL : x; /* null: no bound */
		inc[hi] = !strcmp(k, "gte") || !strcmp(k, "lte") || !strcmp(k, "from") ||
		          !strcmp(k, "to");
	}
	static const char *const incs[2] = {"include_lower", "include_upper"};
	for (int hi = 0; hi < 2; hi++) {
		json_t *o = json_object_get(v, incs[hi]);
		if (!o)
			continue;
		if (!json_is_boolean(o))
			return tfail(c, TRAWL_EQUERY, "[%s] [%s] must be true or false", qname,
			             incs[hi]);
		if (by[hi] && strcmp(by[hi], hi ? "to" : "from"))
			return tfail(c, TRAWL_EQUERY, "[%s] [%s] goes with [%s], not [%s]", qname,
			             incs[hi], hi ? "to" : "from", by[hi]);
		inc[hi] = json_is_true(o);
	}
	json_t *o = json_object_get(v, "relation");
	if (o && (!json_is_string(o) || (strcasecmp(json_string_value(o), "intersects") &&
	                                 strcasecmp(json_string_value(o), "contains") &&
	                                 strcasecmp(json_string_value(o), "within"))))
		return tfail(c, TRAWL_EQUERY,
		             "[%s] [relation] must be intersects, contains or within", qname);
	/* dates: a format or a time zone makes both bounds dates */
	dm_formats fmts;
	int have_fmt = 0, dates = 0;
	int64_t tz = 0;
	char why[256];
	if ((o = json_object_get(v, "format"))) {
		if (!json_is_string(o))
			return tfail(c, TRAWL_EQUERY, "[%s] [format] must be a string", qname);
		if (dm_parse_formats(json_string_value(o), json_string_length(o), &fmts, why,
		                     sizeof why))
			return tfail(c, TRAWL_EQUERY, "[%s] [format] [%.64s]: %s", qname,
			             json_string_value(o), why);
		have_fmt = dates = 1;
	}
	if ((o = json_object_get(v, "time_zone"))) {
		if (!json_is_string(o))
			return tfail(c, TRAWL_EQUERY, "[%s] [time_zone] must be a string", qname);
		if (dm_parse_zone(json_string_value(o), json_string_length(o), &tz, why,
		                  sizeof why))
			return tfail(c, TRAWL_EQUERY, "[%s] [time_zone] [%.64s]: %s", qname,
			             json_string_value(o), why);
		dates = 1;
	}
	if (!b[0] && !b[1])
		return add(c, group, node(QT_EXISTS, f, NULL, 0), occur);
	char buf[2][64];
	const char *t[2] = {NULL, NULL};
	size_t tn[2] = {0, 0};
	for (int hi = 0; hi < 2; hi++)
		/* gt and lte round up, gte and lt down */
		if (b[hi] && range_bound(c, by[hi], b[hi], dates, have_fmt ? &fmts : NULL, tz,
		                         hi ? inc[hi] : !inc[hi], buf[hi], &t[hi], &tn[hi]))
			return c->rc;
	qt_node *r = node(QT_RANGE, f, b[0] ? t[0] : NULL, tn[0]);
	if (r && b[1] && qt_set_hi(r, t[1], tn[1])) {
		qt_free(r);
		r = NULL;
	}
	if (r)
		r->flags = (b[0] ? QT_LO | (inc[0] ? QT_LO_INC : 0) : 0) |
		           (b[1] ? QT_HI | (inc[1] ? QT_HI_INC : 0) : 0);
	return add(c, group, r, occur);
}

const char *dsl_unbalanced(const char *s, size_t n, int *depth)
{
	int d = 0, md = 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (ch == 0)
			return "a NUL character";
		if (ch == '\\') {
			if (i + 1 == n)
				return "a trailing backslash";
			i++;
		} else if (ch == '"') {
			size_t j = i + 1;
			while (j < n && s[j] != '"')
				j += s[j] == '\\' ? 2 : 1;
			if (j >= n)
				return "an unterminated quote";
			i = j;
		} else if (ch == '(') {
			if (++d > md)
				md = d;
		} else if (ch == ')') {
			if (--d < 0)
				return "a ')' without its '('";
		}
	}
	if (d)
		return "an unclosed '('";
	*depth = md;
	return NULL;
}

/*
 * text_group appends to group (depth `depth`) the clauses of query text q
 * searched in field f (NULL: every text field) with default operator
 * and_op: its clauses themselves when alone (the whole query, every field),
 * else the group f:( q ), or ( q ), with occur. d: q's own deepest
 * parentheses. A text that does not parse is kept in c->text.
 */
static int text_group(tctx *c, qt_node *group, uint32_t depth, qt_occur occur, const char *q,
                      size_t qn, const char *f, int and_op, int alone, int d)
{
	uint32_t inner = alone ? depth : depth + 1; /* where q's clauses go */
	if (inner + (uint32_t)d > TRAWL_MAX_QUERY_DEPTH) {
		/* q cannot be parsed there: too deep; the limit is reported at
		 * the end, with the depth of the whole query */
		if (inner + (uint32_t)d > (uint32_t)c->deep)
			c->deep = (int)(inner + (uint32_t)d);
		return 0;
	}
	qt_node *g = NULL;
	char why[sizeof c->text.reason];
	int rc = alone ? idx_query_parse(q, qn, and_op, &g, why, sizeof why)
	               : idx_query_parse_group(q, qn, and_op, f, &g, why, sizeof why);
	if (rc == TRAWL_ENOMEM)
		return tnomem(c);
	if (rc) {
		if (!c->text.rc) {
			c->text.rc = rc;
			c->text.in_text = 1;
			c->text.text = q;
			snprintf(c->text.reason, sizeof c->text.reason, "%s", why);
		}
		return 0;
	}
	if (!alone)
		return add(c, group, g, occur);
	/* the whole query: q's root is the tree's, column and all */
	uint32_t i = 0;
	while (i < g->nkids && !qt_add(group, g->kids[i]))
		i++;
	memmove(g->kids, g->kids + i, (g->nkids - i) * sizeof *g->kids); /* the rest stay g's */
	g->nkids -= i;
	int moved = g->nkids == 0;
	if (moved)
		group->column = g->column;
	qt_free(g);
	return moved ? 0 : tnomem(c);
}

static int tr_query_string(tctx *c, json_t *body, int top, qt_node *group, uint32_t depth,
                           qt_occur occur)
{
	const char *qname = "query_string";
	if (!json_is_object(body))
		return tfail(c, TRAWL_EQUERY,
		             "[%s] query malformed, no start_object after query name", qname);
	static const char *const handled[] = {
	    "query", "default_field", "fields", "default_operator", "type", NULL};
	static const char *const harmless[] = {"analyze_wildcard",
	                                       "allow_leading_wildcard",
	                                       "lenient",
	                                       "auto_generate_synonyms_phrase_query",
	                                       "tie_breaker",
	                                       "time_zone",
	                                       "max_determinized_states",
	                                       "enable_position_increments",
	                                       NULL};
	if (check_opts(c, qname, body, handled, harmless))
		return c->rc;
	json_t *qv = json_object_get(body, "query"), *o;
	if (!json_is_string(qv))
		return tfail(c, TRAWL_EQUERY, "[%s] must be provided with a [query] string", qname);
	const char *q = json_string_value(qv);
	size_t qn = json_string_length(qv);
	int d = 0;
	const char *bad = dsl_unbalanced(q, qn, &d);
	if (bad)
		return tfail(c, TRAWL_EQUERY, "[%s] Failed to parse query [%.200s]: it has %s",
		             qname, q, bad);
	int and_op = 0;
	if ((o = json_object_get(body, "default_operator"))) {
		if (parse_operator(c, qname, o, &and_op))
			return c->rc;
		if (and_op && !top)
			return tfail(
			    c, TRAWL_EQUERY,
			    "[%s] default_operator AND is supported only for the top-level query; "
			    "write + before the required terms instead",
			    qname);
	}
	if ((o = json_object_get(body, "type"))) {
		const char *t = json_string_value(o);
		if (!t || (strcmp(t, "best_fields") && strcmp(t, "most_fields")))
			return tfail(
			    c, TRAWL_EQUERY,
			    "[%s] type [%.64s] is not supported by trawl; use best_fields or "
			    "most_fields",
			    qname, t ? t : dsl_json_kind(o));
	}
	/* the fields: default_field, or fields; none or "*" means every text field */
	json_t *fields = json_object_get(body, "fields"),
	       *df = json_object_get(body, "default_field");
	if (fields && df)
		return tfail(c, TRAWL_EQUERY, "[%s] takes [default_field] or [fields], not both",
		             qname);
	size_t nf = 0;
	if (df) {
		if (!json_is_string(df))
			return tfail(c, TRAWL_EQUERY, "[%s] [default_field] must be a string",
			             qname);
		nf = 1;
	} else if (json_is_array(fields)) {
		nf = json_array_size(fields);
	} else if (fields) {
		return tfail(c, TRAWL_EQUERY, "[%s] [fields] must be an array of strings", qname);
	}
	char(*fb)[LIMIT_DSL_FIELD_BYTES + 1] = NULL;
	const char **fl = NULL;
	int every;
	if (field_list(c, qname, df, fields, nf, &fb, &fl, &every))
		return c->rc;
	size_t k = 0;
	while (k < qn && qt_is_space((unsigned char)q[k]))
		k++;
	qt_occur dflt = and_op ? QT_MUST : QT_SHOULD;
	if (top)
		c->whole = q; /* every clause comes from q */
	if (c->rc) {
		/* reported */
	} else if (k == qn) {
		add_none(c, group, occur); /* an empty query_string finds nothing */
	} else if (every || nf == 1) {
		/* q alone, or in its field's group (which, alone, has the occur
		 * an unmarked clause gets) */
		text_group(c, group, depth, top ? dflt : occur, q, qn, every ? NULL : fl[0], and_op,
		           every && top, d);
	} else {
		/* f1:(q) OR f2:(q): each field's group optional, under AND too */
		qt_node *g = group;
		uint32_t gd = depth;
		if (!top) {
			g = node(QT_BOOL, NULL, NULL, 0);
			gd++;
			add(c, group, g, occur);
		}
		for (size_t i = 0; i < nf && !c->rc; i++)
			text_group(c, g, gd, QT_SHOULD, q, qn, fl[i], and_op, 0, d);
	}
	free(fb);
	free(fl);
	return c->rc;
}

static int tr_query(tctx *c, json_t *q, int level, int top, qt_node *group, uint32_t depth,
                    qt_occur occur);

/* The clauses of one bool occurrence: an object or an array of objects. */
static int bool_clauses(tctx *c, json_t *body, const char *key, json_t **arr, size_t *n)
{
	json_t *v = json_object_get(body, key);
	*arr = NULL;
	*n = 0;
	if (!v)
		return 0;
	if (json_is_object(v)) {
		*arr = v;
		*n = 1;
	} else if (json_is_array(v)) {
		*arr = v;
		*n = json_array_size(v);
	} else {
		return tfail(c, TRAWL_EQUERY,
		             "[bool] [%s] must be a query object or an array of them", key);
	}
	return 0;
}

static json_t *clause_at(json_t *arr, size_t i)
{
	return json_is_array(arr) ? json_array_get(arr, i) : arr;
}

/* bool: its clauses go into a group of their own, or, as the whole query,
 * straight into the root (+A +F S -N). */
static int tr_bool(tctx *c, json_t *body, int level, int top, qt_node *group, uint32_t depth,
                   qt_occur occur)
{
	if (!json_is_object(body))
		return tfail(c, TRAWL_EQUERY,
		             "[bool] query malformed, no start_object after query name");
	static const char *const handled[] = {
	    "must", "filter", "should", "must_not", "minimum_should_match", NULL};
	static const char *const harmless[] = {"adjust_pure_negative", NULL};
	if (check_opts(c, "bool", body, handled, harmless))
		return c->rc;
	json_t *must, *filter, *should, *not, *o;
	size_t nmust, nfilter, nshould, nnot;
	int msm = -1;
	if (bool_clauses(c, body, "must", &must, &nmust) ||
	    bool_clauses(c, body, "filter", &filter, &nfilter) ||
	    bool_clauses(c, body, "should", &should, &nshould) ||
	    bool_clauses(c, body, "must_not", &not, &nnot))
		return c->rc;
	if ((o = json_object_get(body, "minimum_should_match")) && parse_msm(c, "bool", o, &msm))
		return c->rc;
	size_t req = nmust + nfilter;
	if (req + nshould + nnot == 0)
		return add_all(c, group, occur); /* an empty bool matches every document */
	qt_node *g = group;
	if (!top) {
		g = node(QT_BOOL, NULL, NULL, 0);
		depth++;
		if (add(c, group, g, occur))
			return c->rc;
	}
	if (req + nshould == 0 &&
	    add_all(c, g, QT_MUST)) /* only must_not: every document but those */
		return c->rc;
	for (int pass = 0; pass < 2; pass++) {
		json_t *arr = pass ? filter : must;
		size_t n = pass ? nfilter : nmust;
		for (size_t i = 0; i < n; i++)
			if (tr_query(c, clause_at(arr, i), level + 1, 0, g, depth,
			             pass ? QT_FILTER : QT_MUST))
				return c->rc;
	}
	/* with required clauses, should clauses only add to the score, unless
	 * minimum_should_match is 1: then one of them is required too */
	qt_node *sg = g;
	qt_occur so = QT_SHOULD;
	uint32_t sd = depth;
	if (msm == 1 && req > 0 && nshould > 0) {
		so = QT_MUST;
		if (nshould > 1) { /* +(S1 S2) */
			sg = node(QT_BOOL, NULL, NULL, 0);
			sd++;
			so = QT_SHOULD;
			if (add(c, g, sg, QT_MUST))
				return c->rc;
		}
	}
	for (size_t i = 0; i < nshould; i++)
		if (tr_query(c, clause_at(should, i), level + 1, 0, sg, sd, so))
			return c->rc;
	for (size_t i = 0; i < nnot; i++)
		if (tr_query(c, clause_at(not, i), level + 1, 0, g, depth, QT_NOT))
			return c->rc;
	return 0;
}

/* constant_score: {"filter": q, "boost": 1} -> (#q)^=1. */
static int tr_constant_score(tctx *c, json_t *body, int level, qt_node *group, uint32_t depth,
                             qt_occur occur)
{
	const char *qname = "constant_score";
	if (!json_is_object(body))
		return tfail(c, TRAWL_EQUERY,
		             "[%s] query malformed, no start_object after query name", qname);
	static const char *const handled[] = {"filter", NULL};
	json_t *q = json_object_get(body, "boost");
	if (json_is_number(q) && json_number_value(q) != 1.0)
		return tfail(c, TRAWL_EQUERY,
		             "[%s] [boost] %g is not supported: every document it matches scores "
		             "1 (only a boost of 1 is accepted)",
		             qname, json_number_value(q));
	if (check_opts(c, qname, body, handled, NULL))
		return c->rc;
	q = json_object_get(body, "filter");
	if (!q)
		return tfail(c, TRAWL_EQUERY, "[%s] requires a 'filter' element", qname);
	qt_node *g = const_group(c, group, occur);
	if (!g)
		return c->rc;
	return tr_query(c, q, level + 1, 0, g, depth + 1, QT_FILTER);
}

static const char *const supported_queries =
    "match_all, match_none, match, match_phrase, multi_match, bool, term, terms, prefix, "
    "range, exists, ids, constant_score, query_string";

/* Query types OpenSearch has that trawl does not compile. */
static const char *const known_queries[] = {"wildcard",
                                            "regexp",
                                            "fuzzy",
                                            "nested",
                                            "has_child",
                                            "has_parent",
                                            "match_phrase_prefix",
                                            "match_bool_prefix",
                                            "dis_max",
                                            "function_score",
                                            "script_score",
                                            "boosting",
                                            "simple_query_string",
                                            "more_like_this",
                                            "intervals",
                                            "span_term",
                                            "span_near",
                                            "span_or",
                                            "span_not",
                                            "span_first",
                                            "span_multi",
                                            "span_containing",
                                            "span_within",
                                            "field_masking_span",
                                            "geo_distance",
                                            "geo_bounding_box",
                                            "geo_polygon",
                                            "geo_shape",
                                            "script",
                                            "percolate",
                                            "wrapper",
                                            "distance_feature",
                                            "rank_feature",
                                            "terms_set",
                                            "pinned",
                                            "knn",
                                            "neural",
                                            "hybrid",
                                            "parent_id",
                                            "common",
                                            "type",
                                            NULL};

/*
 * tr_query appends query object q's clause to group (depth groups below the
 * root) with occur; top: q is the whole query and group the root. level
 * counts the query objects down to q.
 */
static int tr_query(tctx *c, json_t *q, int level, int top, qt_node *group, uint32_t depth,
                    qt_occur occur)
{
	if (level > LIMIT_DSL_DEPTH)
		return tfail(c, TRAWL_ELIMIT,
		             "the query nests more than %d levels deep; the limit is %d",
		             LIMIT_DSL_DEPTH, LIMIT_DSL_DEPTH);
	if (!json_is_object(q))
		return tfail(c, TRAWL_EQUERY,
		             "[_na] query malformed, must start with start_object");
	if (json_object_size(q) == 0)
		return tfail(c, TRAWL_EQUERY, "query malformed, empty clause found");
	void *it = json_object_iter(q);
	const char *name = json_object_iter_key(it);
	json_t *body = json_object_iter_value(it);
	if (json_object_size(q) > 1) {
		const char *second = json_object_iter_key(json_object_iter_next(q, it));
		return tfail(
		    c, TRAWL_EQUERY,
		    "[%.64s] malformed query, expected [END_OBJECT] but found [FIELD_NAME] "
		    "[%.64s]",
		    name, second);
	}
	if (!strcmp(name, "match_all") || !strcmp(name, "match_none")) {
		if (!json_is_object(body))
			return tfail(c, TRAWL_EQUERY,
			             "[%s] query malformed, no start_object after query name",
			             name);
		if (check_opts(c, name, body, NULL, NULL))
			return c->rc;
		return name[6] == 'a' ? add_all(c, group, occur) : add_none(c, group, occur);
	}
	if (!strcmp(name, "match"))
		return tr_match(c, body, 0, group, occur);
	if (!strcmp(name, "match_phrase"))
		return tr_match(c, body, 1, group, occur);
	if (!strcmp(name, "multi_match"))
		return tr_multi_match(c, body, group, occur);
	if (!strcmp(name, "bool"))
		return tr_bool(c, body, level, top, group, depth, occur);
	if (!strcmp(name, "term"))
		return tr_term(c, body, 0, group, occur);
	if (!strcmp(name, "prefix"))
		return tr_term(c, body, 1, group, occur);
	if (!strcmp(name, "terms"))
		return tr_terms(c, body, group, occur);
	if (!strcmp(name, "range"))
		return tr_range(c, body, group, occur);
	if (!strcmp(name, "exists"))
		return tr_exists(c, body, group, occur);
	if (!strcmp(name, "ids"))
		return tr_ids(c, body, group, occur);
	if (!strcmp(name, "constant_score"))
		return tr_constant_score(c, body, level, group, depth, occur);
	if (!strcmp(name, "query_string"))
		return tr_query_string(c, body, top, group, depth, occur);
	if (in_list(known_queries, name))
		return tfail(c, TRAWL_EQUERY,
		             "[%s] queries are not supported by trawl; supported: %s", name,
		             supported_queries);
	return tfail(c, TRAWL_EQUERY, "unknown query [%.64s]", name);
}

/* check_size refuses a tree over its limits (qtree.h), in the order the
 * string translation used to find them: its size, then its nesting (deep:
 * that of a query_string too deep to parse), then its words. */
static int check_size(tctx *c, const qt_node *root)
{
	qt_size s;
	qt_measure(root, &s);
	if (s.text_bytes > TRAWL_MAX_QUERY_BYTES)
		return tfail(
		    c, TRAWL_ELIMIT,
		    "the query translates to %llu bytes of words and field names; the limit is "
		    "%d (TRAWL_MAX_QUERY_BYTES)",
		    (unsigned long long)s.text_bytes, TRAWL_MAX_QUERY_BYTES);
	if (s.encoded > TRAWL_MAX_QUERY_TREE_BYTES)
		return tfail(c, TRAWL_ELIMIT,
		             "the query translates to a tree of %llu bytes; the limit is %d "
		             "(TRAWL_MAX_QUERY_TREE_BYTES)",
		             (unsigned long long)s.encoded, TRAWL_MAX_QUERY_TREE_BYTES);
	int depth = (int)s.depth > c->deep ? (int)s.depth : c->deep;
	if (depth > TRAWL_MAX_QUERY_DEPTH)
		return tfail(c, TRAWL_ELIMIT,
		             "the query translates to parentheses nested %d deep; the limit is %d",
		             depth, TRAWL_MAX_QUERY_DEPTH);
	if (s.words > TRAWL_MAX_QUERY_TERMS)
		return tfail(c, TRAWL_ELIMIT,
		             "the query translates to %llu terms; the limit is %d "
		             "(TRAWL_MAX_QUERY_TERMS)",
		             (unsigned long long)s.words, TRAWL_MAX_QUERY_TERMS);
	return 0;
}

int dsl_compile(json_t *query, qt_node **out, const char **text, dsl_error *err)
{
	return dsl_compile_at(query, (int64_t)(clock_unix_us() / 1000), out, text, err);
}

int dsl_compile_at(json_t *query, int64_t now_ms, qt_node **out, const char **text, dsl_error *err)
{
	memset(err, 0, sizeof *err);
	*out = NULL;
	if (text)
		*text = NULL;
	tctx c = {.err = err, .now_ms = now_ms};
	qt_node *root = qt_new(QT_BOOL, QT_MUST, 0);
	if (!root)
		return err->rc = tnomem(&c);
	if (!tr_query(&c, query, 1, 1, root, 0, QT_SHOULD) && !check_size(&c, root) && c.text.rc) {
		*err = c.text; /* the DSL is fine, but a query_string's text does not parse */
		c.rc = c.text.rc;
	}
	char why[256];
	if (!c.rc && qt_check(root, why, sizeof why))
		tfail(&c, TRAWL_EINTERNAL, "the query's tree is not valid (a bug): %s", why);
	if (c.rc) {
		qt_free(root);
		return err->rc = c.rc;
	}
	*out = root;
	if (text)
		*text = c.whole;
	return TRAWL_OK;
}

/* ---- sort ---- */

/* One sort key of a "sort" list: "f", {"f": "asc"|"desc"} or {"f": {"order":
 * ..., "missing": "_first"|"_last", "mode": "min"|"max"}}. */
static int sort_key(json_t *v, uint32_t i, trawl_sort *k, dsl_error *err)
{
	memset(k, 0, sizeof *k);
	const char *f = json_string_value(v);
	json_t *opts = NULL;
	if (!f && json_is_object(v) && json_object_size(v) == 1) {
		void *it = json_object_iter(v);
		f = json_object_iter_key(it);
		opts = json_object_iter_value(it);
	}
	if (!f)
		return errf(err->reason, sizeof err->reason, TRAWL_EQUERY,
		            "[sort] key %u must be a field name or an object of one field, not %s",
		            i, dsl_json_kind(v));
	if (!f[0] || strlen(f) > LIMIT_FIELD_NAME_BYTES)
		return errf(err->reason, sizeof err->reason, TRAWL_EQUERY,
		            "[sort] key %u: a field name of 1 to %d bytes", i,
		            LIMIT_FIELD_NAME_BYTES);
	k->field = f;
	k->desc = !strcmp(f, "_score");
	if (!opts)
		return TRAWL_OK;
	const char *order = json_string_value(opts);
	if (!order && json_is_object(opts)) {
		const char *key;
		json_t *o;
		json_object_foreach(opts, key, o)
		{
			const char *s = json_string_value(o);
			if (!strcmp(key, "order") && s) {
				order = s;
			} else if (!strcmp(key, "missing") && s &&
			           (!strcmp(s, "_first") || !strcmp(s, "_last"))) {
				k->missing_first = s[1] == 'f';
			} else if (!strcmp(key, "mode") && s &&
			           (!strcmp(s, "min") || !strcmp(s, "max"))) {
				k->mode = s[1] == 'i' ? TRAWL_SORT_MIN : TRAWL_SORT_MAX;
			} else if (!strcmp(key, "order") || !strcmp(key, "missing") ||
			           !strcmp(key, "mode")) {
				return errf(err->reason, sizeof err->reason, TRAWL_EQUERY,
				            "[sort] [%.64s]: [%s] must be %s", f, key,
				            key[1] == 'r' ? "\"asc\" or \"desc\""
				            : key[1] == 'i'
				                ? "\"_first\" or \"_last\" (trawl takes no "
				                  "missing value)"
				                : "\"min\" or \"max\"");
			} else {
				return errf(err->reason, sizeof err->reason, TRAWL_EQUERY,
				            "[sort] [%.64s]: unknown option [%.64s] (trawl takes "
				            "order, missing and mode)",
				            f, key);
			}
		}
		if (!order)
			return TRAWL_OK;
	}
	if (!order || (strcmp(order, "asc") && strcmp(order, "desc")))
		return errf(err->reason, sizeof err->reason, TRAWL_EQUERY,
		            "[sort] [%.64s]: the order must be \"asc\" or \"desc\"", f);
	k->desc = order[0] == 'd';
	return TRAWL_OK;
}

int dsl_sort(json_t *v, trawl_sort *keys, uint32_t *n, dsl_error *err)
{
	memset(err, 0, sizeof *err);
	*n = 0;
	size_t len = json_is_array(v) ? json_array_size(v) : 1;
	if (len > TRAWL_MAX_SORT_KEYS)
		return err->rc = errf(err->reason, sizeof err->reason, TRAWL_ELIMIT,
		                      "[sort] has at most %d keys; this one has %zu",
		                      TRAWL_MAX_SORT_KEYS, len);
	if (len == 0)
		return err->rc = errf(err->reason, sizeof err->reason, TRAWL_EQUERY,
		                      "[sort] is an empty list");
	for (size_t i = 0; i < len; i++) {
		int rc = sort_key(json_is_array(v) ? json_array_get(v, i) : v, (uint32_t)i,
		                  &keys[i], err);
		if (rc)
			return err->rc = rc;
	}
	*n = (uint32_t)len;
	return TRAWL_OK;
}

/* ---- aggregations ---- */

/* aggs_compile_fn: a filter's DSL query into an encoded query tree. */
static int aggs_compile(void *ctx, json_t *query, void **out, size_t *out_len, char *err,
                        size_t errlen)
{
	(void)ctx;
	qt_node *t = NULL;
	dsl_error de;
	int rc = dsl_compile(query, &t, NULL, &de);
	if (rc)
		return errf(err, errlen, rc, "%s", de.reason);
	tbuf b;
	tbuf_init(&b, TRAWL_MAX_QUERY_TREE_BYTES);
	rc = qt_encode(t, &b, err, errlen);
	qt_free(t);
	if (rc) {
		tbuf_fini(&b);
		return rc;
	}
	*out = b.data; /* malloc'ed: the spec frees it */
	*out_len = b.len;
	return TRAWL_OK;
}

int dsl_aggs(const json_t *aggs, aggs_spec **spec, char **canon, size_t *canon_len, char *err,
             size_t errlen)
{
	*spec = NULL;
	*canon = NULL;
	*canon_len = 0;
	int rc = aggs_parse(aggs, aggs_compile, NULL, spec, err, errlen);
	if (!rc && (rc = aggs_spec_write(*spec, canon, canon_len)))
		errf(err, errlen, rc, "aggs: %s",
		     rc == TRAWL_ELIMIT ? "the request's canonical form is over "
		                          "LIMIT_AGG_SPEC_BYTES (4 MiB)"
		                        : "out of memory");
	if (rc) {
		aggs_spec_free(*spec);
		*spec = NULL;
	}
	return rc;
}
