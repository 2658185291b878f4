/*
 * opensearch.c - the OpenSearch-compatible subset of the root's HTTP API
 * (see opensearch.h and docs/HTTP.md).
 *
 * Two halves:
 * - os_build_query translates the query DSL into trawl's query syntax. The
 *   translation is built left to right into a bounded buffer; every literal
 *   that comes from the JSON is either reduced to the tokens trawl's
 *   analyzer would make of it (match, match_phrase, multi_match: letters and
 *   digits only, so nothing to escape but the keywords AND, OR and NOT) or
 *   escaped character by character (term, terms, prefix). query_string is
 *   trawl syntax by definition; it is checked to be balanced (parentheses,
 *   quotes, no final backslash) so that it cannot close the group it is
 *   wrapped in.
 * - os_handle routes the REST paths, parses requests (unknown parameters
 *   and body keys are errors, as in the native API), calls root_search /
 *   root_get and renders OpenSearch-shaped responses and errors.
 */
#include "root/opensearch.h"

#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/qtree.h"
#include "index/query.h"
#include "trawl/trawl.h"

/* Matches nothing: one required and one excluded clause over every document. */
#define MATCH_NONE "(+*:* -*:*)"
#define MATCH_ALL "*:*"

/* ------------------------------------------------------------------------ */
/* Translation context                                                      */
/* ------------------------------------------------------------------------ */

typedef struct tctx {
	char *out;
	size_t len, lim; /* bytes written; most bytes allowed (without the NUL) */
	int over;        /* the translation did not fit */
	char *reason;
	size_t rlen;
	int rc;
	int *and_default; /* NULL: default_operator AND is refused */
} tctx;

static int tfail(tctx *c, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int tfail(tctx *c, int rc, const char *fmt, ...)
{
	if (!c->rc) {
		c->rc = rc;
		if (c->reason && c->rlen) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(c->reason, c->rlen, fmt, ap);
			va_end(ap);
		}
	}
	return c->rc;
}

static void tput(tctx *c, const char *s, size_t n)
{
	if (c->over || n > c->lim - c->len) {
		c->over = 1;
		return;
	}
	memcpy(c->out + c->len, s, n);
	c->len += n;
}

static void tputs(tctx *c, const char *s)
{
	tput(c, s, strlen(s));
}

static void tputc(tctx *c, char ch)
{
	tput(c, &ch, 1);
}

/* ------------------------------------------------------------------------ */
/* Tokens. Trawl's analyzer (index/analyze.c) cuts text into maximal runs of */
/* letters and digits (Unicode L*, N*, and the marks after them). The root   */
/* has no Unicode tables (it does not link utf8proc), so this cut is exact   */
/* for ASCII and approximate beyond: every non-ASCII character is a letter   */
/* except the punctuation, symbol and space blocks listed below. It only     */
/* decides how many clauses a match makes; the leaves analyse every word     */
/* again, so a separator missed here (a rare symbol inside a word) at worst  */
/* makes that word the OR of its parts. ASCII other than letters and digits  */
/* always separates, so a token never holds a character of the syntax.      */
/* ------------------------------------------------------------------------ */

/* Code point ranges that separate tokens (sorted, inclusive). */
static const uint32_t seps[][2] = {
	{0x80, 0xA9},     {0xAB, 0xB1},     {0xB4, 0xB4},     {0xB6, 0xB8},
	{0xBB, 0xBB},     {0xBF, 0xBF},     {0xD7, 0xD7},     {0xF7, 0xF7},
	{0x37E, 0x37E},   {0x387, 0x387},   {0x55A, 0x55F},   {0x589, 0x58A},
	{0x5BE, 0x5BE},   {0x5C0, 0x5C0},   {0x5C3, 0x5C3},   {0x5C6, 0x5C6},
	{0x5F3, 0x5F4},   {0x600, 0x60F},   {0x61B, 0x61F},   {0x66A, 0x66D},
	{0x6D4, 0x6D4},   {0x964, 0x965},   {0xE3F, 0xE3F},   {0xE4F, 0xE4F},
	{0xE5A, 0xE5B},   {0x1680, 0x1680}, {0x2000, 0x206F}, {0x20A0, 0x20CF},
	{0x2190, 0x245F}, {0x2500, 0x2775}, {0x2794, 0x2BFF}, {0x2E00, 0x2E7F},
	{0x3000, 0x3004}, {0x3008, 0x3020}, {0x3030, 0x3030}, {0x303D, 0x303F},
	{0x30FB, 0x30FB}, {0xFE10, 0xFE1F}, {0xFE30, 0xFE6F}, {0xFEFF, 0xFEFF},
	{0xFF00, 0xFF0F}, {0xFF1A, 0xFF20}, {0xFF3B, 0xFF40}, {0xFF5B, 0xFF65},
	{0xFFF0, 0xFFFF}, {0x1F000, 0x1FAFF},
};

/* utf8_next decodes the character at s (n > 0 bytes): its code point, or
 * UINT32_MAX for an invalid sequence (one byte). *adv: its length. */
static uint32_t utf8_next(const unsigned char *s, size_t n, size_t *adv)
{
	unsigned char c = s[0];
	uint32_t cp, min;
	size_t len;
	*adv = 1;
	if (c < 0x80)
		return c;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2, cp = c & 0x1F, min = 0x80;
	else if (c >= 0xE0 && c <= 0xEF)
		len = 3, cp = c & 0x0F, min = 0x800;
	else if (c >= 0xF0 && c <= 0xF4)
		len = 4, cp = c & 0x07, min = 0x10000;
	else
		return UINT32_MAX;
	if (n < len)
		return UINT32_MAX;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return UINT32_MAX;
		cp = cp << 6 | (s[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return UINT32_MAX;
	*adv = len;
	return cp;
}

/* is_word_char: does the character at s (n > 0 bytes) belong to a token? */
static int is_word_char(const char *s, size_t n, size_t *adv)
{
	unsigned char ch = (unsigned char)s[0];
	*adv = 1;
	if (ch < 0x80)
		return ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z') || (ch >= '0' && ch <= '9');
	uint32_t cp = utf8_next((const unsigned char *)s, n, adv);
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

static int is_keyword(const char *s, size_t n)
{
	return (n == 3 && (!memcmp(s, "AND", 3) || !memcmp(s, "NOT", 3))) ||
	       (n == 2 && !memcmp(s, "OR", 2));
}

/* A token: letters, digits and marks only; only a keyword needs escaping. */
static void put_token(tctx *c, const char *s, size_t n)
{
	if (is_keyword(s, n))
		tputc(c, '\\');
	tput(c, s, n);
}

static int is_space(unsigned char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* A literal as one trawl word: every character of the query syntax (and
 * white space, which would end the word) escaped, and a keyword too. */
static void put_literal(tctx *c, const char *s, size_t n)
{
	if (is_keyword(s, n))
		tputc(c, '\\');
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (is_space(ch) || (ch && strchr("+-\"():*\\", ch)))
			tputc(c, '\\');
		tputc(c, (char)ch);
	}
}

/* ------------------------------------------------------------------------ */
/* Checks shared by the query types                                         */
/* ------------------------------------------------------------------------ */

static const char *json_kind(const json_t *v)
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
static const char *const unsupported_opts[] = {
	"fuzziness", "analyzer", "search_analyzer", "quote_analyzer", "cutoff_frequency",
	"fuzzy_max_expansions", "fuzzy_prefix_length", "quote_field_suffix", "flags",
	"minimum_should_match", "slop", "phrase_slop", "rewrite", "escape", NULL};

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
				return tfail(c, TRAWL_EQUERY, "[%s] [boost] must be a number", qname);
			if (json_number_value(v) != 1.0)
				return tfail(c, TRAWL_EQUERY,
				             "[%s] query option [boost] is not supported: trawl weighs fields "
				             "with the schema's boosts (only a boost of 1 is accepted)",
				             qname);
			continue;
		}
		if (!strcmp(k, "_name")) {
			if (!json_is_string(v))
				return tfail(c, TRAWL_EQUERY, "[%s] [_name] must be a string", qname);
			continue;
		}
		if (in_list(unsupported_opts, k))
			return tfail(c, TRAWL_EQUERY, "[%s] query option [%.64s] is not supported by trawl",
			             qname, k);
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
			return tfail(c, TRAWL_EQUERY, "[%s] [%s] contains a NUL character", qname, what);
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
		return tfail(c, TRAWL_EQUERY, "[%s] [%s] must be a string, a number or a boolean, not %s",
		             qname, what, json_kind(v));
	}
	return 0;
}

static int is_field_char(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '_' || ch == '.' || ch == '-';
}

#define MAX_FIELD 128

/*
 * check_field validates field name f of query qname. *out is f, or NULL for
 * "_all" and "*" (every text field: an unqualified clause). With allow_boost,
 * a "^1" suffix is accepted (and cut, into buf).
 */
static int check_field(tctx *c, const char *qname, const char *f, int allow_boost,
                       char buf[MAX_FIELD + 1], const char **out)
{
	size_t n = strlen(f);
	const char *caret = allow_boost ? strchr(f, '^') : NULL;
	if (caret) {
		char *end;
		errno = 0;
		double b = strtod(caret + 1, &end);
		if (caret[1] == 0 || *end || errno)
			return tfail(c, TRAWL_EQUERY, "[%s] field [%.64s] has a malformed boost", qname, f);
		if (b != 1.0)
			return tfail(c, TRAWL_EQUERY,
			             "[%s] field boosts such as [%.64s] are not supported: trawl weighs "
			             "fields with the schema's boosts",
			             qname, f);
		n = (size_t)(caret - f);
	}
	if (n > MAX_FIELD)
		return tfail(c, TRAWL_EQUERY, "[%s] field name [%.64s...] is longer than %d bytes", qname,
		             f, MAX_FIELD);
	memcpy(buf, f, n);
	buf[n] = 0;
	if (!strcmp(buf, "_all") || !strcmp(buf, "*")) {
		*out = NULL;
		return 0;
	}
	if (n == 0)
		return tfail(c, TRAWL_EQUERY, "[%s] field name is empty", qname);
	if (strchr(buf, '*'))
		return tfail(c, TRAWL_EQUERY,
		             "[%s] field patterns such as [%.64s] are not supported; name the fields, or "
		             "use * for every text field",
		             qname, buf);
	for (size_t i = 0; i < n; i++)
		if (!is_field_char((unsigned char)buf[i]) || buf[0] == '-')
			return tfail(c, TRAWL_EQUERY,
			             "[%s] [%.64s] is not a valid trawl field name (letters, digits, '_', "
			             "'.' and '-', not starting with '-')",
			             qname, buf);
	*out = buf;
	return 0;
}

static void put_field(tctx *c, const char *f)
{
	if (f) {
		tputs(c, f);
		tputc(c, ':');
	}
}

/* one_field: the single "field": value of a match-like query body. */
static int one_field(tctx *c, const char *qname, json_t *body, const char *const *extra,
                     const char **field, json_t **val)
{
	if (!json_is_object(body))
		return tfail(c, TRAWL_EQUERY, "[%s] query malformed, no start_object after query name",
		             qname);
	*field = NULL;
	*val = NULL;
	const char *k;
	json_t *v;
	json_object_foreach(body, k, v)
	{
		if (in_list(extra, k))
			continue;
		if (*field)
			return tfail(c, TRAWL_EQUERY,
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
		return tfail(c, TRAWL_EQUERY,
		             "[%s] [minimum_should_match] %s%.32s%s is not supported: trawl accepts "
		             "only 1 (or 0)",
		             qname, s ? "\"" : "", s ? s : json_kind(v), s ? "\"" : "");
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
		             "[%s] [slop] is not supported: trawl phrases match exactly (only 0)", qname);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The query types                                                          */
/* ------------------------------------------------------------------------ */

/* The words of text searched in field f (NULL: every text field): one
 * clause per token, each required with and_op. Text without tokens matches
 * nothing, or everything with zero_all. */
static void put_words(tctx *c, const char *f, const char *s, size_t n, int and_op, int zero_all)
{
	size_t nt = count_tokens(s, n), pos = 0, a, b;
	if (nt == 0) {
		tputs(c, zero_all ? MATCH_ALL : MATCH_NONE);
		return;
	}
	put_field(c, f);
	if (nt > 1)
		tputc(c, '(');
	for (size_t i = 0; next_token(s, n, &pos, &a, &b); i++) {
		if (i)
			tputc(c, ' ');
		if (and_op && nt > 1)
			tputc(c, '+');
		put_token(c, s + a, b - a);
	}
	if (nt > 1)
		tputc(c, ')');
}

/* The phrase of text's tokens in field f. */
static void put_phrase(tctx *c, const char *f, const char *s, size_t n, int zero_all)
{
	size_t pos = 0, a, b;
	if (count_tokens(s, n) == 0) {
		tputs(c, zero_all ? MATCH_ALL : MATCH_NONE);
		return;
	}
	put_field(c, f);
	tputc(c, '"');
	for (size_t i = 0; next_token(s, n, &pos, &a, &b); i++) {
		if (i)
			tputc(c, ' ');
		tput(c, s + a, b - a); /* inside quotes a keyword is a plain word */
	}
	tputc(c, '"');
}

static const char *const fuzzy_harmless[] = {
	"lenient", "auto_generate_synonyms_phrase_query", "prefix_length", "max_expansions",
	"fuzzy_transpositions", "fuzzy_rewrite", NULL};

static int tr_match(tctx *c, json_t *body, int phrase)
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
		static const char *const handled_phrase[] = {"query", "slop", "zero_terms_query", NULL};
		if (check_opts(c, qname, v, phrase ? handled_phrase : handled,
		               phrase ? NULL : fuzzy_harmless))
			return c->rc;
		text = json_object_get(v, "query");
		if (!text)
			return tfail(c, TRAWL_EQUERY, "[%s] requires query value", qname);
		json_t *o;
		if (!phrase && (o = json_object_get(v, "operator")) && parse_operator(c, qname, o, &and_op))
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
	char num[64], fb[MAX_FIELD + 1];
	const char *s, *f;
	size_t n;
	if (value_text(c, qname, "query", text, num, sizeof num, &s, &n) ||
	    check_field(c, qname, field, 0, fb, &f))
		return c->rc;
	if (phrase)
		put_phrase(c, f, s, n, zero_all);
	else
		put_words(c, f, s, n, and_op, zero_all);
	return 0;
}

/*
 * field_list resolves the nf fields of a multi-field query: the single one,
 * else the strings of the array `fields`. *fb holds their checked names and
 * *fl points at them (NULL for "every text field": *every is then set, as it
 * is for an empty list). On success the caller frees *fb and *fl; on error
 * c->rc is set and nothing is left allocated.
 */
static int field_list(tctx *c, const char *qname, json_t *single, json_t *fields, size_t nf,
                      char (**fb)[MAX_FIELD + 1], const char ***fl, int *every)
{
	*fb = nf ? calloc(nf, sizeof **fb) : NULL;
	*fl = nf ? calloc(nf, sizeof **fl) : NULL;
	if (nf && (!*fb || !*fl)) {
		free(*fb);
		free(*fl);
		*fb = NULL;
		*fl = NULL;
		return tfail(c, TRAWL_ENOMEM, "out of memory");
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

static int tr_multi_match(tctx *c, json_t *body)
{
	const char *qname = "multi_match";
	if (!json_is_object(body))
		return tfail(c, TRAWL_EQUERY, "[%s] query malformed, no start_object after query name",
		             qname);
	static const char *const handled[] = {"query", "fields", "type", "operator",
	                                      "minimum_should_match", "zero_terms_query", "slop",
	                                      NULL};
	static const char *const harmless[] = {"tie_breaker", "lenient",
	                                       "auto_generate_synonyms_phrase_query", "prefix_length",
	                                       "max_expansions", "fuzzy_transpositions",
	                                       "fuzzy_rewrite", NULL};
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
			return tfail(c, TRAWL_EQUERY, "[%s] query does not support type [%.64s]", qname, t);
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
	char(*fb)[MAX_FIELD + 1] = NULL;
	const char **fl = NULL;
	int every;
	if (field_list(c, qname, one, fields, nf, &fb, &fl, &every))
		return c->rc;
	if (!c->rc) {
		if (every || count_tokens(s, n) == 0 || nf == 1) {
			const char *f = every ? NULL : fl[0];
			if (phrase)
				put_phrase(c, f, s, n, zero_all);
			else
				put_words(c, f, s, n, and_op, zero_all);
		} else {
			/* the sum over the fields: each field's clause is optional */
			tputc(c, '(');
			for (size_t i = 0; i < nf; i++) {
				if (i)
					tputc(c, ' ');
				if (phrase)
					put_phrase(c, fl[i], s, n, zero_all);
				else
					put_words(c, fl[i], s, n, and_op, zero_all);
			}
			tputc(c, ')');
		}
	}
	free(fb);
	free(fl);
	return c->rc;
}

/* term and prefix: one literal (escaped), optionally as a prefix. */
static int tr_term(tctx *c, json_t *body, int prefix)
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
			return tfail(c, TRAWL_EQUERY, "[%s] query requires a [value] for field [%.64s]",
			             qname, field);
	}
	char num[64], fb[MAX_FIELD + 1];
	const char *s, *f;
	size_t n;
	if (value_text(c, qname, "value", val, num, sizeof num, &s, &n) ||
	    check_field(c, qname, field, 0, fb, &f))
		return c->rc;
	if (count_tokens(s, n) == 0) {
		if (prefix)
			return tfail(c, TRAWL_EQUERY,
			             "[prefix] the prefix [%.64s] has no letters or digits", s);
		tputs(c, MATCH_NONE);
		return 0;
	}
	put_field(c, f);
	put_literal(c, s, n);
	if (prefix)
		tputc(c, '*');
	return 0;
}

static int tr_terms(tctx *c, json_t *body)
{
	static const char *const extra[] = {"boost", "_name", NULL};
	const char *field;
	json_t *v;
	if (one_field(c, "terms", body, extra, &field, &v) ||
	    check_opts(c, "terms", body, (const char *const[]){field, NULL}, NULL))
		return c->rc;
	if (json_is_object(v))
		return tfail(c, TRAWL_EQUERY, "[terms] query option [lookup] is not supported by trawl");
	if (!json_is_array(v))
		return tfail(c, TRAWL_EQUERY, "[terms] query requires an array of values for field "
		                              "[%.64s]",
		             field);
	char num[64], fb[MAX_FIELD + 1];
	const char *s, *f;
	size_t n, kept = 0, i;
	json_t *e;
	if (check_field(c, "terms", field, 0, fb, &f))
		return c->rc;
	json_array_foreach(v, i, e)
	{
		if (value_text(c, "terms", "value", e, num, sizeof num, &s, &n))
			return c->rc;
		kept += count_tokens(s, n) > 0;
	}
	if (kept == 0) {
		tputs(c, MATCH_NONE);
		return 0;
	}
	put_field(c, f);
	if (kept > 1)
		tputc(c, '(');
	size_t k = 0;
	json_array_foreach(v, i, e)
	{
		value_text(c, "terms", "value", e, num, sizeof num, &s, &n);
		if (count_tokens(s, n) == 0)
			continue;
		if (k++)
			tputc(c, ' ');
		put_literal(c, s, n);
	}
	if (kept > 1)
		tputc(c, ')');
	return 0;
}

/*
 * syntax_scan checks that s is balanced trawl syntax the way the parser
 * reads it: every '(' closed, no ')' without its '(', quotes closed, no
 * final backslash. *depth receives the deepest nesting. Returns NULL or
 * what is wrong.
 */
static const char *syntax_scan(const char *s, size_t n, int *depth)
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

static int tr_query_string(tctx *c, json_t *body, int top)
{
	const char *qname = "query_string";
	if (!json_is_object(body))
		return tfail(c, TRAWL_EQUERY, "[%s] query malformed, no start_object after query name",
		             qname);
	static const char *const handled[] = {"query", "default_field", "fields", "default_operator",
	                                      "type", NULL};
	static const char *const harmless[] = {"analyze_wildcard", "allow_leading_wildcard",
	                                       "lenient", "auto_generate_synonyms_phrase_query",
	                                       "tie_breaker", "time_zone", "max_determinized_states",
	                                       "enable_position_increments", NULL};
	if (check_opts(c, qname, body, handled, harmless))
		return c->rc;
	json_t *qv = json_object_get(body, "query"), *o;
	if (!json_is_string(qv))
		return tfail(c, TRAWL_EQUERY, "[%s] must be provided with a [query] string", qname);
	const char *q = json_string_value(qv);
	size_t qn = json_string_length(qv);
	int depth;
	const char *bad = syntax_scan(q, qn, &depth);
	if (bad)
		return tfail(c, TRAWL_EQUERY, "[%s] Failed to parse query [%.200s]: it has %s", qname, q,
		             bad);
	int and_op = 0;
	if ((o = json_object_get(body, "default_operator"))) {
		if (parse_operator(c, qname, o, &and_op))
			return c->rc;
		if (and_op && (!top || !c->and_default))
			return tfail(c, TRAWL_EQUERY,
			             "[%s] default_operator AND is supported only for the top-level query; "
			             "write + before the required terms instead",
			             qname);
	}
	if ((o = json_object_get(body, "type"))) {
		const char *t = json_string_value(o);
		if (!t || (strcmp(t, "best_fields") && strcmp(t, "most_fields")))
			return tfail(c, TRAWL_EQUERY,
			             "[%s] type [%.64s] is not supported by trawl; use best_fields or "
			             "most_fields",
			             qname, t ? t : json_kind(o));
	}
	/* the fields: default_field, or fields; none or "*" means every text field */
	json_t *fields = json_object_get(body, "fields"), *df = json_object_get(body, "default_field");
	if (fields && df)
		return tfail(c, TRAWL_EQUERY, "[%s] takes [default_field] or [fields], not both", qname);
	size_t nf = 0;
	if (df) {
		if (!json_is_string(df))
			return tfail(c, TRAWL_EQUERY, "[%s] [default_field] must be a string", qname);
		nf = 1;
	} else if (json_is_array(fields)) {
		nf = json_array_size(fields);
	} else if (fields) {
		return tfail(c, TRAWL_EQUERY, "[%s] [fields] must be an array of strings", qname);
	}
	char(*fb)[MAX_FIELD + 1] = NULL;
	const char **fl = NULL;
	int every;
	if (field_list(c, qname, df, fields, nf, &fb, &fl, &every))
		return c->rc;
	size_t k = 0;
	while (k < qn && is_space((unsigned char)q[k]))
		k++;
	if (c->rc) {
		/* reported */
	} else if (k == qn) {
		tputs(c, MATCH_NONE); /* an empty query_string finds nothing */
	} else if (every || nf == 1) {
		if (!every) {
			put_field(c, fl[0]);
			tputc(c, '(');
		} else if (!top) {
			tputc(c, '(');
		}
		tput(c, q, qn);
		if (!every || !top)
			tputc(c, ')');
	} else {
		/* f1:(q) OR f2:(q): the keyword keeps each optional under AND too */
		if (!top)
			tputc(c, '(');
		for (size_t i = 0; i < nf; i++) {
			if (i)
				tputs(c, " OR ");
			put_field(c, fl[i]);
			tputc(c, '(');
			tput(c, q, qn);
			tputc(c, ')');
		}
		if (!top)
			tputc(c, ')');
	}
	free(fb);
	free(fl);
	if (!c->rc && and_op)
		*c->and_default = 1;
	return c->rc;
}

static int tr_query(tctx *c, json_t *q, int depth, int top);

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
		return tfail(c, TRAWL_EQUERY, "[bool] [%s] must be a query object or an array of them",
		             key);
	}
	return 0;
}

static json_t *clause_at(json_t *arr, size_t i)
{
	return json_is_array(arr) ? json_array_get(arr, i) : arr;
}

static int tr_bool(tctx *c, json_t *body, int depth, int top)
{
	if (!json_is_object(body))
		return tfail(c, TRAWL_EQUERY, "[bool] query malformed, no start_object after query name");
	static const char *const handled[] = {"must", "filter", "should", "must_not",
	                                      "minimum_should_match", NULL};
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
	if (req + nshould + nnot == 0) {
		tputs(c, MATCH_ALL); /* an empty bool matches every document */
		return 0;
	}
	/* with required clauses, should clauses only add to the score, unless
	 * minimum_should_match is 1: then one of them is required too */
	int should_required = msm == 1 && req > 0 && nshould > 0;
	int sep = 0;
	if (!top)
		tputc(c, '(');
	if (req + nshould == 0) {
		tputs(c, "+" MATCH_ALL); /* only must_not: every document but those */
		sep = 1;
	}
	for (int pass = 0; pass < 2; pass++) {
		json_t *arr = pass ? filter : must;
		size_t n = pass ? nfilter : nmust;
		for (size_t i = 0; i < n; i++) {
			if (sep++)
				tputc(c, ' ');
			tputc(c, '+');
			if (tr_query(c, clause_at(arr, i), depth + 1, 0))
				return c->rc;
		}
	}
	if (should_required) {
		if (sep++)
			tputc(c, ' ');
		tputc(c, '+');
		if (nshould > 1)
			tputc(c, '(');
	}
	for (size_t i = 0; i < nshould; i++) {
		if (should_required ? i > 0 : sep++ > 0)
			tputc(c, ' ');
		if (tr_query(c, clause_at(should, i), depth + 1, 0))
			return c->rc;
	}
	if (should_required && nshould > 1)
		tputc(c, ')');
	for (size_t i = 0; i < nnot; i++) {
		if (sep++)
			tputc(c, ' ');
		tputc(c, '-');
		if (tr_query(c, clause_at(not, i), depth + 1, 0))
			return c->rc;
	}
	if (!top)
		tputc(c, ')');
	return 0;
}

static const char *const supported_queries =
	"match_all, match_none, match, match_phrase, multi_match, bool, term, terms, prefix, "
	"query_string";

/* Query types OpenSearch has that trawl does not translate. */
static const char *const known_queries[] = {
	"range", "exists", "wildcard", "regexp", "fuzzy", "ids", "nested", "has_child", "has_parent",
	"match_phrase_prefix", "match_bool_prefix", "constant_score", "dis_max", "function_score",
	"script_score", "boosting", "simple_query_string", "more_like_this", "intervals",
	"span_term", "span_near", "span_or", "span_not", "span_first", "span_multi",
	"span_containing", "span_within", "field_masking_span", "geo_distance",
	"geo_bounding_box", "geo_polygon", "geo_shape", "script", "percolate", "wrapper",
	"distance_feature", "rank_feature", "terms_set", "pinned", "knn", "neural", "hybrid",
	"parent_id", "common", "type", NULL};

static int tr_query(tctx *c, json_t *q, int depth, int top)
{
	if (depth > OS_MAX_DEPTH)
		return tfail(c, TRAWL_ELIMIT, "the query nests more than %d levels deep; the limit is %d",
		             OS_MAX_DEPTH, OS_MAX_DEPTH);
	if (!json_is_object(q))
		return tfail(c, TRAWL_EQUERY, "[_na] query malformed, must start with start_object");
	if (json_object_size(q) == 0)
		return tfail(c, TRAWL_EQUERY, "query malformed, empty clause found");
	void *it = json_object_iter(q);
	const char *name = json_object_iter_key(it);
	json_t *body = json_object_iter_value(it);
	if (json_object_size(q) > 1) {
		const char *second = json_object_iter_key(json_object_iter_next(q, it));
		return tfail(c, TRAWL_EQUERY,
		             "[%.64s] malformed query, expected [END_OBJECT] but found [FIELD_NAME] "
		             "[%.64s]",
		             name, second);
	}
	if (!strcmp(name, "match_all") || !strcmp(name, "match_none")) {
		if (!json_is_object(body))
			return tfail(c, TRAWL_EQUERY,
			             "[%s] query malformed, no start_object after query name", name);
		if (check_opts(c, name, body, NULL, NULL))
			return c->rc;
		tputs(c, name[6] == 'a' ? MATCH_ALL : MATCH_NONE);
		return 0;
	}
	if (!strcmp(name, "match"))
		return tr_match(c, body, 0);
	if (!strcmp(name, "match_phrase"))
		return tr_match(c, body, 1);
	if (!strcmp(name, "multi_match"))
		return tr_multi_match(c, body);
	if (!strcmp(name, "bool"))
		return tr_bool(c, body, depth, top);
	if (!strcmp(name, "term"))
		return tr_term(c, body, 0);
	if (!strcmp(name, "prefix"))
		return tr_term(c, body, 1);
	if (!strcmp(name, "terms"))
		return tr_terms(c, body);
	if (!strcmp(name, "query_string"))
		return tr_query_string(c, body, top);
	if (in_list(known_queries, name))
		return tfail(c, TRAWL_EQUERY, "[%s] queries are not supported by trawl; supported: %s",
		             name, supported_queries);
	return tfail(c, TRAWL_EQUERY, "unknown query [%.64s]", name);
}

/* build translates dsl with the given and_default (NULL: AND refused). */
static int build(json_t *dsl, char *out, size_t cap, int *and_default, char *reason, size_t rlen)
{
	if (reason && rlen)
		reason[0] = 0;
	if (and_default)
		*and_default = 0;
	if (!out || cap == 0) {
		if (reason && rlen)
			snprintf(reason, rlen, "no room for the query");
		return TRAWL_EINVAL;
	}
	out[0] = 0;
	tctx c = {out, 0, cap - 1 < TRAWL_MAX_QUERY_BYTES ? cap - 1 : TRAWL_MAX_QUERY_BYTES, 0,
	          reason, rlen, 0, and_default};
	tr_query(&c, dsl, 1, 1);
	if (!c.rc && c.over)
		tfail(&c, TRAWL_ELIMIT,
		      "the query translates to more than %zu bytes of trawl query; the limit is %d "
		      "(TRAWL_MAX_QUERY_BYTES)",
		      c.lim, TRAWL_MAX_QUERY_BYTES);
	int depth = 0;
	if (!c.rc) {
		const char *bad = syntax_scan(out, c.len, &depth);
		if (bad) /* a bug: every piece is balanced */
			tfail(&c, TRAWL_EINTERNAL, "the translation has %s", bad);
		else if (depth > TRAWL_MAX_QUERY_DEPTH)
			tfail(&c, TRAWL_ELIMIT,
			      "the query translates to parentheses nested %d deep; the limit is %d",
			      depth, TRAWL_MAX_QUERY_DEPTH);
	}
	if (c.rc) {
		out[0] = 0;
		if (and_default)
			*and_default = 0;
		return c.rc;
	}
	out[c.len] = 0;
	return TRAWL_OK;
}

int os_build_query_ex(json_t *dsl, char *out, size_t cap, int *and_default, char *reason,
                      size_t rlen)
{
	return build(dsl, out, cap, and_default, reason, rlen);
}

int os_build_query(json_t *dsl, char *out, size_t cap, char *reason, size_t rlen)
{
	return build(dsl, out, cap, NULL, reason, rlen);
}

/* ------------------------------------------------------------------------ */
/* Errors and responses                                                     */
/* ------------------------------------------------------------------------ */

static int set_err(os_error *e, int status, const char *type, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int set_err(os_error *e, int status, const char *type, const char *fmt, ...)
{
	e->status = status;
	snprintf(e->type, sizeof e->type, "%s", type);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->reason, sizeof e->reason, fmt, ap);
	va_end(ap);
	return -1;
}

/* A JSON string of s, with any invalid UTF-8 byte replaced by '?'. */
static json_t *jstr(const char *s)
{
	json_t *j = json_string(s);
	if (j)
		return j;
	size_t n = strlen(s);
	char *t = malloc(n + 1);
	if (!t)
		return json_string("");
	for (size_t i = 0; i < n;) {
		size_t adv;
		if (utf8_next((const unsigned char *)s + i, n - i, &adv) == UINT32_MAX) {
			t[i++] = '?';
		} else {
			memcpy(t + i, s + i, adv);
			i += adv;
		}
	}
	t[n] = 0;
	j = json_string(t);
	free(t);
	return j ? j : json_string("");
}

static void send_json(http_response *resp, int status, json_t *j, int pretty)
{
	char *s = j ? json_dumps(j, (pretty ? JSON_INDENT(2) : JSON_COMPACT) | JSON_REAL_PRECISION(8))
	            : NULL;
	json_decref(j);
	if (!s) {
		http_response_error(resp, 500, "exception", "out of memory");
		return;
	}
	size_t n = strlen(s);
	if (pretty) {
		char *t = realloc(s, n + 2);
		if (t) {
			s = t;
			s[n++] = '\n';
			s[n] = 0;
		}
	}
	http_response_json(resp, status, s, n);
	free(s);
}

/* The OpenSearch error shape:
 * {"error":{"root_cause":[{type, reason[, index]}], type, reason[, index]}, "status": N} */
static void send_err(http_response *resp, const os_error *e, const char *index, int pretty)
{
	json_t *cause = json_object();
	json_object_set_new(cause, "type", json_string(e->type));
	json_object_set_new(cause, "reason", jstr(e->reason));
	if (index) {
		json_object_set_new(cause, "index", jstr(index));
		json_object_set_new(cause, "index_uuid", json_string("_na_"));
	}
	json_t *err = json_object();
	json_object_set_new(err, "root_cause", json_pack("[O]", cause));
	json_object_update(err, cause);
	json_decref(cause);
	send_json(resp, e->status, json_pack("{s:o, s:i}", "error", err, "status", e->status), pretty);
}

static void send_errf(http_response *resp, int pretty, int status, const char *type,
                      const char *index, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
static void send_errf(http_response *resp, int pretty, int status, const char *type,
                      const char *index, const char *fmt, ...)
{
	os_error e;
	e.status = status;
	snprintf(e.type, sizeof e.type, "%s", type);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e.reason, sizeof e.reason, fmt, ap);
	va_end(ap);
	send_err(resp, &e, index, pretty);
}

/* ------------------------------------------------------------------------ */
/* URL parameters                                                           */
/* ------------------------------------------------------------------------ */

#define OS_MAX_PARAMS 64

typedef struct qparams {
	size_t n;
	char *k[OS_MAX_PARAMS], *v[OS_MAX_PARAMS];
} qparams;

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch |= 0x20;
	return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* pct_decode: '+' is a space, %XX a byte. NULL without memory; *nul is set
 * if the result holds a NUL byte. */
static char *pct_decode(const char *s, size_t n, int *nul)
{
	char *d = malloc(n + 1);
	size_t k = 0;
	if (!d)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int h, l;
		if (s[i] == '+') {
			d[k++] = ' ';
		} else if (s[i] == '%' && i + 2 < n &&
		           (h = hexval((unsigned char)s[i + 1])) >= 0 &&
		           (l = hexval((unsigned char)s[i + 2])) >= 0) {
			d[k] = (char)(h * 16 + l);
			*nul |= d[k] == 0;
			k++;
			i += 2;
		} else {
			d[k++] = s[i];
		}
	}
	d[k] = 0;
	return d;
}

static void qs_free(qparams *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->k[i]);
		free(p->v[i]);
	}
	p->n = 0;
}

static int qs_parse(const char *qs, qparams *p, os_error *e)
{
	memset(p, 0, sizeof *p);
	while (qs && *qs) {
		const char *amp = strchr(qs, '&');
		size_t n = amp ? (size_t)(amp - qs) : strlen(qs);
		if (n) {
			const char *eq = memchr(qs, '=', n);
			size_t kn = eq ? (size_t)(eq - qs) : n;
			if (p->n == OS_MAX_PARAMS) {
				qs_free(p);
				return set_err(e, 400, "illegal_argument_exception",
				               "more than %d URL parameters", OS_MAX_PARAMS);
			}
			int nul = 0;
			char *k = pct_decode(qs, kn, &nul);
			char *v = eq ? pct_decode(eq + 1, n - kn - 1, &nul) : strdup("");
			if (!k || !v || nul) {
				free(k);
				free(v);
				qs_free(p);
				return nul ? set_err(e, 400, "illegal_argument_exception",
				                     "a URL parameter contains a NUL byte")
				           : set_err(e, 500, "exception", "out of memory");
			}
			p->k[p->n] = k;
			p->v[p->n++] = v;
		}
		qs = amp ? amp + 1 : NULL;
	}
	return 0;
}

static const char *qs_get(const qparams *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->k[i], name))
			return p->v[i];
	return NULL;
}

/* Parameters every endpoint accepts (formatting only). */
static const char *const common_params[] = {"pretty", "human", "error_trace", "format", NULL};

static int qs_check(const qparams *p, const char *const *allowed, const char *path,
                    os_error *e)
{
	for (size_t i = 0; i < p->n; i++)
		if (!in_list(allowed, p->k[i]) && !in_list(common_params, p->k[i]))
			return set_err(e, 400, "illegal_argument_exception",
			               "request [%.200s] contains unrecognized parameter: [%.64s]", path,
			               p->k[i]);
	return 0;
}

static int parse_flag(const char *s, int *out)
{
	if (!*s || !strcmp(s, "true"))
		*out = 1;
	else if (!strcmp(s, "false"))
		*out = 0;
	else
		return -1;
	return 0;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	if (*s < '0' || *s > '9')
		return -1;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

/* An OpenSearch time value ("500ms", "2s", "1m", "-1") in ms, clamped to
 * 1..60000; 0 for "-1" (the root's default). */
static int parse_timeout(const char *s, unsigned *ms)
{
	if (!strcmp(s, "-1")) {
		*ms = 0;
		return 0;
	}
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || !(v >= 0) || *s == '-' || isinf(v))
		return -1;
	double f;
	if (!strcmp(end, "ms"))
		f = 1;
	else if (!strcmp(end, "s"))
		f = 1000;
	else if (!strcmp(end, "m"))
		f = 60000;
	else if (!strcmp(end, "h"))
		f = 3600000;
	else if (!strcmp(end, "d"))
		f = 86400000;
	else if (!strcmp(end, "micros"))
		f = 1e-3;
	else if (!strcmp(end, "nanos"))
		f = 1e-6;
	else
		return -1;
	double t = v * f;
	*ms = t < 1 ? 1 : t > 60000 ? 60000 : (unsigned)t;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Search requests                                                          */
/* ------------------------------------------------------------------------ */

void os_search_req_fini(os_search_req *r)
{
	if (!r)
		return;
	free(r->q);
	free(r->preference);
	json_decref(r->includes);
	json_decref(r->excludes);
	memset(r, 0, sizeof *r);
}

/* A comma-separated list as a JSON array of strings. */
static json_t *csv_array(const char *s)
{
	json_t *a = json_array();
	while (a && *s) {
		const char *c = strchr(s, ',');
		size_t n = c ? (size_t)(c - s) : strlen(s);
		if (n) {
			json_t *v = json_stringn(s, n);
			if (!v) {
				json_decref(a);
				return NULL;
			}
			json_array_append_new(a, v);
		}
		s = c ? c + 1 : s + n;
	}
	return a;
}

/* patterns: a string or an array of strings, as a new array; NULL if bad. */
static json_t *pattern_array(json_t *v)
{
	if (json_is_string(v))
		return json_pack("[O]", v);
	if (!json_is_array(v))
		return NULL;
	size_t i;
	json_t *e;
	json_array_foreach(v, i, e) if (!json_is_string(e)) return NULL;
	return json_incref(v);
}

/* The body's "_source": true, false, a pattern, patterns, or
 * {"includes": ..., "excludes": ...}. */
static int source_from_json(json_t *v, os_search_req *r, os_error *e)
{
	if (json_is_boolean(v)) {
		r->source = json_is_true(v);
		return 0;
	}
	if (json_is_object(v)) {
		const char *k;
		json_t *x;
		json_object_foreach(v, k, x)
		{
			int inc = !strcmp(k, "includes") || !strcmp(k, "include");
			int exc = !strcmp(k, "excludes") || !strcmp(k, "exclude");
			if (!inc && !exc)
				return set_err(e, 400, "parsing_exception",
				               "Unknown key for a %s in [%.64s].", json_kind(x), k);
			json_t *a = pattern_array(x);
			if (!a)
				return set_err(e, 400, "parsing_exception",
				               "[_source] [%s] must be a string or an array of strings", k);
			json_t **slot = inc ? &r->includes : &r->excludes;
			json_decref(*slot);
			*slot = a;
		}
		r->source = 2;
		return 0;
	}
	json_t *a = pattern_array(v);
	if (!a)
		return set_err(e, 400, "parsing_exception",
		               "[_source] must be a boolean, a string, an array of strings or an object");
	json_decref(r->includes);
	r->includes = a;
	r->source = 2;
	return 0;
}

/* The URL's _source, _source_includes, _source_excludes. */
static int source_from_params(const qparams *qp, os_search_req *r, os_error *e)
{
	const char *s = qs_get(qp, "_source"), *inc = qs_get(qp, "_source_includes"),
		   *exc = qs_get(qp, "_source_excludes");
	int b;
	if (s && !parse_flag(s, &b)) {
		r->source = b;
	} else if (s) {
		json_decref(r->includes);
		r->includes = csv_array(s);
		r->source = 2;
	}
	if (inc) {
		json_decref(r->includes);
		r->includes = csv_array(inc);
		r->source = 2;
	}
	if (exc) {
		json_decref(r->excludes);
		r->excludes = csv_array(exc);
		if (r->source)
			r->source = 2;
	}
	if ((r->source == 2 && !r->includes && (s || inc)) || (exc && !r->excludes))
		return set_err(e, 500, "exception", "out of memory");
	return 0;
}

static int track_from_string(const char *s, os_search_req *r)
{
	int b;
	uint64_t v;
	if (!parse_flag(s, &b)) {
		r->track_total = b;
		r->track_limit = UINT64_MAX;
	} else if (!parse_u64(s, INT64_MAX, &v)) {
		r->track_total = 1;
		r->track_limit = v;
	} else {
		return -1;
	}
	return 0;
}

/* A body number: an integer, or a string of digits. */
static int body_uint(json_t *v, uint64_t max, uint64_t *out)
{
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);
		if (i < 0 || (uint64_t)i > max)
			return -1;
		*out = (uint64_t)i;
		return 0;
	}
	if (json_is_string(v))
		return parse_u64(json_string_value(v), max, out);
	return -1;
}

/* "sort": only by _score, descending. */
static int sort_ok(json_t *v)
{
	if (json_is_array(v)) {
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e) if (!sort_ok(e)) return 0;
		return 1;
	}
	if (json_is_string(v))
		return !strcmp(json_string_value(v), "_score");
	if (json_is_object(v) && json_object_size(v) == 1) {
		json_t *o = json_object_get(v, "_score");
		if (json_is_string(o))
			return !strcmp(json_string_value(o), "desc");
		if (json_is_object(o) && json_object_size(o) == 1) {
			const char *order = json_string_value(json_object_get(o, "order"));
			return order && !strcmp(order, "desc");
		}
	}
	return 0;
}

static const char *const search_params[] = {
	"q", "df", "default_operator", "analyze_wildcard", "lenient", "from", "size", "_source",
	"_source_includes", "_source_excludes", "track_total_hits", "rest_total_hits_as_int",
	"timeout", "allow_partial_search_results", "preference", "search_type", "request_cache",
	"ignore_unavailable", "allow_no_indices", "expand_wildcards", "ignore_throttled",
	"typed_keys", "ccs_minimize_roundtrips", "batched_reduce_size",
	"max_concurrent_shard_requests", "pre_filter_shard_size", "track_scores", NULL};

static const char *const count_params[] = {
	"q", "df", "default_operator", "analyze_wildcard", "lenient", "preference",
	"ignore_unavailable", "allow_no_indices", "expand_wildcards", "ignore_throttled", NULL};

/* Body keys OpenSearch has and trawl does not. */
static const char *const unsupported_body[] = {
	"aggs", "aggregations", "highlight", "post_filter", "suggest", "rescore", "collapse",
	"search_after", "script_fields", "docvalue_fields", "stored_fields", "fields", "min_score",
	"indices_boost", "slice", "pit", "terminate_after", "ext", "runtime_mappings", "knn",
	"point_in_time", "search_pipeline", "derived", NULL};

/* Body keys that must be false (their true asks for what trawl lacks). */
static const char *const false_body[] = {"explain", "version", "seq_no_primary_term", "profile",
                                         NULL};

/* The query of the q parameter (trawl syntax), in field df if given. */
static int query_from_q(os_search_req *r, const char *q, const char *df, os_error *e)
{
	size_t n = strlen(q), k = 0;
	while (k < n && is_space((unsigned char)q[k]))
		k++;
	if (k == n)
		return set_err(e, 400, "illegal_argument_exception", "the q parameter is empty");
	const char *f = NULL;
	char fb[MAX_FIELD + 1];
	if (df) {
		char why[512] = "";
		tctx c = {0};
		c.reason = why;
		c.rlen = sizeof why;
		if (check_field(&c, "df", df, 0, fb, &f))
			return set_err(e, 400, "illegal_argument_exception", "%s", why);
	}
	if (f) {
		int depth;
		const char *bad = syntax_scan(q, n, &depth);
		if (bad)
			return set_err(e, 400, "query_shard_exception",
			               "Failed to parse query [%.200s]: it has %s", q, bad);
		size_t fl = strlen(f);
		r->q = malloc(fl + n + 4);
		if (r->q)
			r->qlen = (size_t)sprintf(r->q, "%s:(%s)", f, q);
	} else {
		r->q = strdup(q);
		r->qlen = n;
	}
	if (!r->q)
		return set_err(e, 500, "exception", "out of memory");
	return 0;
}

int os_parse_search(const char *path, const char *qs, const uint8_t *body, size_t body_len,
                    int count_only, os_search_req *r, os_error *e)
{
	memset(r, 0, sizeof *r);
	memset(e, 0, sizeof *e);
	r->size = count_only ? 0 : 10;
	r->track_total = 1;
	r->track_limit = UINT64_MAX;
	r->source = 1;
	r->allow_partial = 1;
	if (!path)
		path = count_only ? "/_count" : "/_search";
	qparams qp;
	if (qs_parse(qs, &qp, e))
		return -1;
	json_t *doc = NULL, *query = NULL;
	int b;
	uint64_t u;
	const char *s;
	if (qs_check(&qp, count_only ? count_params : search_params, path, e))
		goto fail;
	if ((s = qs_get(&qp, "pretty")) && !parse_flag(s, &b))
		r->pretty = b;

	/* the body */
	size_t k = 0;
	while (k < body_len && is_space(body[k]))
		k++;
	if (k < body_len) {
		json_error_t je;
		doc = json_loadb((const char *)body, body_len, JSON_REJECT_DUPLICATES, &je);
		if (!doc) {
			set_err(e, 400, "parse_exception", "request body: line %d, column %d: %s", je.line,
			        je.column, je.text);
			goto fail;
		}
		if (!json_is_object(doc)) {
			set_err(e, 400, "parse_exception", "request body must be a JSON object");
			goto fail;
		}
		const char *key;
		json_t *v;
		json_object_foreach(doc, key, v)
		{
			if (!strcmp(key, "query")) {
				query = v;
			} else if (count_only) {
				set_err(e, 400, "parsing_exception",
				        "request does not support [%.64s]; _count takes only [query]", key);
				goto fail;
			} else if (!strcmp(key, "from") || !strcmp(key, "size")) {
				if (body_uint(v, TRAWL_MAX_K, &u)) {
					set_err(e, 400, "illegal_argument_exception",
					        "[%s] must be a number from 0 to %d", key, TRAWL_MAX_K);
					goto fail;
				}
				*(key[0] == 'f' ? &r->from : &r->size) = (uint32_t)u;
			} else if (!strcmp(key, "_source")) {
				if (source_from_json(v, r, e))
					goto fail;
			} else if (!strcmp(key, "track_total_hits")) {
				int bad = 0;
				if (json_is_boolean(v)) {
					r->track_total = json_is_true(v);
					r->track_limit = UINT64_MAX;
				} else if (json_is_integer(v) && json_integer_value(v) >= 0) {
					r->track_total = 1;
					r->track_limit = (uint64_t)json_integer_value(v);
				} else {
					bad = 1;
				}
				if (bad) {
					set_err(e, 400, "illegal_argument_exception",
					        "[track_total_hits] must be true, false or a number of hits");
					goto fail;
				}
			} else if (!strcmp(key, "timeout")) {
				char tb[64];
				const char *ts = json_string_value(v);
				if (json_is_integer(v)) {
					snprintf(tb, sizeof tb, "%lldms", (long long)json_integer_value(v));
					ts = tb;
				}
				if (!ts || parse_timeout(ts, &r->timeout_ms)) {
					set_err(e, 400, "illegal_argument_exception",
					        "[timeout] must be a time value such as \"500ms\" or \"2s\"");
					goto fail;
				}
			} else if (!strcmp(key, "sort")) {
				if (!sort_ok(v)) {
					set_err(e, 400, "parsing_exception",
					        "[sort] is not supported by trawl: hits are sorted by _score only");
					goto fail;
				}
			} else if (!strcmp(key, "track_scores") || !strcmp(key, "stats")) {
				/* scores are always computed; stats groups are not kept */
			} else if (in_list(false_body, key)) {
				if (!json_is_false(v)) {
					set_err(e, 400, "parsing_exception",
					        "[%s] is not supported by trawl (only false)", key);
					goto fail;
				}
			} else if (in_list(unsupported_body, key)) {
				set_err(e, 400, "parsing_exception", "[%s] is not supported by trawl", key);
				goto fail;
			} else {
				set_err(e, 400, "parsing_exception", "Unknown key for a %s in [%.64s].",
				        json_kind(v), key);
				goto fail;
			}
		}
	}

	/* URL parameters win over the body */
	if (!count_only) {
		for (int i = 0; i < 2; i++) {
			const char *pn = i ? "size" : "from";
			if (!(s = qs_get(&qp, pn)))
				continue;
			if (parse_u64(s, TRAWL_MAX_K, &u)) {
				set_err(e, 400, "illegal_argument_exception",
				        "[%s] must be a number from 0 to %d", pn, TRAWL_MAX_K);
				goto fail;
			}
			*(i ? &r->size : &r->from) = (uint32_t)u;
		}
		if (source_from_params(&qp, r, e))
			goto fail;
		if ((s = qs_get(&qp, "track_total_hits")) && track_from_string(s, r)) {
			set_err(e, 400, "illegal_argument_exception",
			        "[track_total_hits] must be true, false or a number of hits");
			goto fail;
		}
		if ((s = qs_get(&qp, "rest_total_hits_as_int"))) {
			if (parse_flag(s, &r->rest_total_int)) {
				set_err(e, 400, "illegal_argument_exception",
				        "[rest_total_hits_as_int] must be true or false");
				goto fail;
			}
		}
		if ((s = qs_get(&qp, "timeout")) && parse_timeout(s, &r->timeout_ms)) {
			set_err(e, 400, "illegal_argument_exception",
			        "[timeout] must be a time value such as 500ms or 2s");
			goto fail;
		}
		if ((s = qs_get(&qp, "allow_partial_search_results")) &&
		    parse_flag(s, &r->allow_partial)) {
			set_err(e, 400, "illegal_argument_exception",
			        "[allow_partial_search_results] must be true or false");
			goto fail;
		}
		if ((s = qs_get(&qp, "search_type")) && strcmp(s, "query_then_fetch") &&
		    strcmp(s, "dfs_query_then_fetch")) {
			set_err(e, 400, "illegal_argument_exception", "No search type for [%.64s]", s);
			goto fail;
		}
		if ((uint64_t)r->from + r->size > TRAWL_MAX_K) {
			set_err(e, 400, "illegal_argument_exception",
			        "Result window is too large, from + size must be less than or equal to: "
			        "[%d] but was [%llu]",
			        TRAWL_MAX_K, (unsigned long long)r->from + r->size);
			goto fail;
		}
	}
	if ((s = qs_get(&qp, "preference"))) {
		if (strlen(s) > 256) {
			set_err(e, 400, "illegal_argument_exception", "[preference] is at most 256 bytes");
			goto fail;
		}
		if (!(r->preference = strdup(s))) {
			set_err(e, 500, "exception", "out of memory");
			goto fail;
		}
	}

	/* the query */
	const char *q = qs_get(&qp, "q"), *df = qs_get(&qp, "df"), *op = qs_get(&qp, "default_operator");
	if (q && query) {
		set_err(e, 400, "illegal_argument_exception",
		        "a query was given both in the q parameter and in the request body");
		goto fail;
	}
	if ((df || op) && !q) {
		set_err(e, 400, "illegal_argument_exception", "[%s] applies only to the q parameter",
		        df ? "df" : "default_operator");
		goto fail;
	}
	if (op) {
		if (!strcasecmp(op, "and"))
			r->and_default = 1;
		else if (strcasecmp(op, "or")) {
			set_err(e, 400, "illegal_argument_exception",
			        "[default_operator] must be AND or OR");
			goto fail;
		}
	}
	if (q) {
		if (query_from_q(r, q, df && strcmp(df, "*") && strcmp(df, "_all") ? df : NULL, e))
			goto fail;
	} else if (query) {
		char *buf = malloc(TRAWL_MAX_QUERY_BYTES + 1);
		if (!buf) {
			set_err(e, 500, "exception", "out of memory");
			goto fail;
		}
		int rc = os_build_query_ex(query, buf, TRAWL_MAX_QUERY_BYTES + 1, &r->and_default,
		                           e->reason, sizeof e->reason);
		if (rc) {
			free(buf);
			e->status = rc == TRAWL_ENOMEM || rc == TRAWL_EINTERNAL ? 500 : 400;
			snprintf(e->type, sizeof e->type, "%s",
			         e->status == 500 ? "exception" : "parsing_exception");
			goto fail;
		}
		r->q = buf;
		r->qlen = strlen(buf);
	} else {
		r->q = strdup(MATCH_ALL);
		r->qlen = strlen(MATCH_ALL);
		if (!r->q) {
			set_err(e, 500, "exception", "out of memory");
			goto fail;
		}
	}
	qs_free(&qp);
	json_decref(doc);
	return 0;
fail:
	qs_free(&qp);
	json_decref(doc);
	int pretty = r->pretty;
	os_search_req_fini(r);
	r->pretty = pretty;
	return -1;
}

/* encode_query parses q (trawl syntax) into its query tree, encoded into
 * out: TRAWL_OK, or the parser's error in err. */
static int encode_query(const char *q, size_t len, int and_default, tbuf *out, char *err,
                        size_t errlen)
{
	qt_node *tree = NULL;
	int rc = idx_query_parse(q, len, and_default, &tree, err, errlen);
	if (!rc)
		rc = qt_encode(tree, out, err, errlen);
	qt_free(tree);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Source filtering                                                         */
/* ------------------------------------------------------------------------ */

static int any_match(json_t *patterns, const char *path)
{
	size_t i;
	json_t *p;
	json_array_foreach(patterns, i, p)
	{
		const char *s = json_string_value(p);
		if (s && fnmatch(s, path, 0) == 0)
			return 1;
	}
	return 0;
}

/* filter_value: v at path kept (new reference) or NULL to drop it. */
static json_t *filter_value(json_t *v, const char *path, json_t *inc, json_t *exc, int depth);

static json_t *filter_object(json_t *obj, const char *path, json_t *inc, json_t *exc,
                             int depth)
{
	json_t *out = json_object();
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v)
	{
		size_t pl = path ? strlen(path) : 0, kl = strlen(k);
		char *sub = malloc(pl + kl + 2);
		if (!sub)
			continue;
		if (path)
			sprintf(sub, "%s.%s", path, k);
		else
			memcpy(sub, k, kl + 1);
		json_t *kept = filter_value(v, sub, inc, exc, depth + 1);
		free(sub);
		if (kept)
			json_object_set_new(out, k, kept);
	}
	return out;
}

static json_t *filter_value(json_t *v, const char *path, json_t *inc, json_t *exc, int depth)
{
	if (exc && any_match(exc, path))
		return NULL;
	int included = !inc || json_array_size(inc) == 0 || any_match(inc, path);
	if (depth > 64) /* deeper than anyone filters */
		return included ? json_incref(v) : NULL;
	if (json_is_object(v)) {
		/* an included object still loses its excluded members; one not
		 * included may hold included members */
		json_t *o = filter_object(v, path, included ? NULL : inc, exc, depth);
		if (!included && json_object_size(o) == 0) {
			json_decref(o);
			return NULL;
		}
		return o;
	}
	if (json_is_array(v)) {
		json_t *a = json_array();
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e)
		{
			if (json_is_object(e)) {
				json_t *o = filter_object(e, path, included ? NULL : inc, exc, depth);
				if (included || json_object_size(o))
					json_array_append_new(a, o);
				else
					json_decref(o);
			} else if (included) {
				json_array_append(a, e);
			}
		}
		if (!included && json_array_size(a) == 0) {
			json_decref(a);
			return NULL;
		}
		return a;
	}
	return included ? json_incref(v) : NULL;
}

json_t *os_filter_source(json_t *src, json_t *includes, json_t *excludes)
{
	if (!json_is_object(src))
		return json_incref(src);
	if ((!includes || !json_array_size(includes)) && (!excludes || !json_array_size(excludes)))
		return json_incref(src);
	return filter_object(src, NULL, includes && json_array_size(includes) ? includes : NULL,
	                     excludes && json_array_size(excludes) ? excludes : NULL, 0);
}

/* ------------------------------------------------------------------------ */
/* Index names                                                              */
/* ------------------------------------------------------------------------ */

int os_index_matches(const char *expr, const char *name, char *missing, size_t cap)
{
	int matched = 0;
	const char *s = expr;
	char item[256];
	if (missing && cap)
		missing[0] = 0;
	while (*s) {
		const char *c = strchr(s, ',');
		size_t n = c ? (size_t)(c - s) : strlen(s);
		if (n >= sizeof item) {
			if (missing && cap)
				snprintf(missing, cap, "%.*s", (int)n, s);
			return -1;
		}
		memcpy(item, s, n);
		item[n] = 0;
		s = c ? c + 1 : s + n;
		if (!n)
			continue;
		if (item[0] == '-' && n > 1) { /* exclusion */
			if (fnmatch(item + 1, name, 0) == 0)
				matched = 0;
		} else if (!strcmp(item, "_all") || strchr(item, '*')) {
			if (!strcmp(item, "_all") || fnmatch(item, name, 0) == 0)
				matched = 1;
		} else if (!strcmp(item, name)) {
			matched = 1;
		} else {
			if (missing && cap)
				snprintf(missing, cap, "%s", item);
			return -1;
		}
	}
	return matched;
}

/* ------------------------------------------------------------------------ */
/* Rendering                                                                */
/* ------------------------------------------------------------------------ */

static json_t *shards_json(uint32_t total, uint32_t answered, uint32_t failed)
{
	return json_pack("{s:i, s:i, s:i, s:i}", "total", (int)total, "successful", (int)answered,
	                 "skipped", 0, "failed", (int)failed);
}

static json_t *hit_source(const root_hit *h, const os_search_req *sr)
{
	json_t *src = json_loadb(h->doc, h->doc_len, 0, NULL);
	if (!src)
		return json_null();
	if (sr->source == 2) {
		json_t *f = os_filter_source(src, sr->includes, sr->excludes);
		json_decref(src);
		return f ? f : json_null();
	}
	return src;
}

json_t *os_render_search(const root_result *res, const os_search_req *sr, const char *name)
{
	json_t *hits = json_array();
	double max = 0;
	int have = 0;
	for (uint32_t i = 0; sr->size && i < res->nhits; i++) {
		const root_hit *h = &res->hits[i];
		json_t *hit = json_object();
		json_object_set_new(hit, "_index", jstr(name));
		json_object_set_new(hit, "_id", jstr(h->id ? h->id : ""));
		json_object_set_new(hit, "_score", json_real(h->score));
		if (sr->source && h->doc)
			json_object_set_new(hit, "_source", hit_source(h, sr));
		json_array_append_new(hits, hit);
		if (!have || h->score > max)
			max = h->score;
		have = 1;
	}
	json_t *hobj = json_object();
	if (sr->track_total) {
		uint64_t v = res->total;
		int exact = res->total_exact;
		if (v > sr->track_limit) {
			v = sr->track_limit;
			exact = 0;
		}
		if (sr->rest_total_int)
			json_object_set_new(hobj, "total", json_integer((json_int_t)v));
		else
			json_object_set_new(hobj, "total",
			                    json_pack("{s:I, s:s}", "value", (json_int_t)v, "relation",
			                              exact ? "eq" : "gte"));
	}
	json_object_set_new(hobj, "max_score", have ? json_real(max) : json_null());
	json_object_set_new(hobj, "hits", hits);
	json_t *out = json_object();
	json_object_set_new(out, "took", json_integer((json_int_t)(res->took_us / 1000)));
	json_object_set_new(out, "timed_out", json_boolean(res->shards_timed_out > 0));
	json_object_set_new(out, "_shards",
	                    shards_json(res->shards_total, res->shards_answered,
	                                res->shards_failed + res->shards_timed_out));
	json_object_set_new(out, "hits", hobj);
	return out;
}

/* ------------------------------------------------------------------------ */
/* Endpoints                                                                */
/* ------------------------------------------------------------------------ */

static const char write_reason[] =
	"trawl serves indexes built in batches (trawl index); writes are not accepted over HTTP";

static void refuse_write(http_response *resp, int pretty)
{
	send_errf(resp, pretty, 405, "illegal_argument_exception", NULL, "%s", write_reason);
}

static void bad_method(http_response *resp, int pretty, const http_request *req,
                       const char *allowed)
{
	send_errf(resp, pretty, 405, "method_not_allowed",
	          NULL, "Incorrect HTTP method for uri [%.200s] and method [%s], allowed: [%s]",
	          req->path, req->method, allowed);
}

static void index_not_found(http_response *resp, int pretty, const char *index)
{
	send_errf(resp, pretty, 404, "index_not_found_exception", index, "no such index [%.200s]",
	          index);
}

/* A stable cluster_uuid-looking string from the index name. */
static void cluster_uuid(const char *name, char out[23])
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	uint64_t h1 = 1469598103934665603ull, h2 = 0x9e3779b97f4a7c15ull;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		h1 = (h1 ^ *p) * 1099511628211ull;
		h2 = (h2 ^ *p) * 0x100000001b3ull + 0x7f4a7c15;
	}
	for (int i = 0; i < 22; i++) {
		uint64_t *h = i < 11 ? &h1 : &h2;
		out[i] = b64[*h & 63];
		*h >>= 6;
	}
	out[22] = 0;
}

static void info(const char *index_name, http_response *resp, int pretty)
{
	char uuid[23];
	cluster_uuid(index_name, uuid);
	json_t *j = json_pack(
		"{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:s}, s:s, s:s}", "name",
		"trawl", "cluster_name", "trawl", "cluster_uuid", uuid, "version", "distribution",
		"opensearch", "number", OS_COMPAT_VERSION, "build_type", "trawl", "build_hash",
		"unknown", "build_date", "1970-01-01T00:00:00Z", "build_snapshot", 0, "lucene_version",
		"9.7.0", "minimum_wire_compatibility_version", "7.10.0",
		"minimum_index_compatibility_version", "7.0.0", "tagline",
		"The OpenSearch Project: https://opensearch.org/", "trawl_version", TRAWL_VERSION_STRING);
	send_json(resp, 200, j, pretty);
}

static const char *const health_params[] = {
	"level", "local", "timeout", "wait_for_status", "wait_for_nodes", "wait_for_events",
	"wait_for_active_shards", "wait_for_no_relocating_shards", "wait_for_no_initializing_shards",
	"cluster_manager_timeout", "master_timeout", "expand_wildcards", "awareness_attribute",
	NULL};

static int status_rank(const char *s)
{
	return !strcmp(s, "green") ? 0 : !strcmp(s, "yellow") ? 1 : !strcmp(s, "red") ? 2 : -1;
}

static void health(root *r, const char *index_name, const char *expr, const qparams *qp,
                   const http_request *req, http_response *resp, int pretty)
{
	os_error e;
	if (qs_check(qp, health_params, req->path, &e)) {
		send_err(resp, &e, NULL, pretty);
		return;
	}
	const char *want = qs_get(qp, "wait_for_status");
	if (want && status_rank(want) < 0) {
		send_errf(resp, pretty, 400, "illegal_argument_exception", NULL,
		          "unknown cluster health status [%.32s]", want);
		return;
	}
	char missing[256];
	if (expr && os_index_matches(expr, index_name, missing, sizeof missing) < 0) {
		index_not_found(resp, pretty, missing);
		return;
	}
	root_replica_info *ri = calloc(ROOT_MAX_LEAVES, sizeof *ri);
	if (!ri) {
		send_errf(resp, pretty, 500, "exception", NULL, "out of memory");
		return;
	}
	uint32_t n = root_replicas(r, ri, ROOT_MAX_LEAVES), healthy = 0;
	for (uint32_t i = 0; i < n && i < ROOT_MAX_LEAVES; i++)
		healthy += ri[i].state == ROOT_HEALTHY;
	free(ri);
	int ready = root_ready(r);
	/* the number of shards and how many answer: a cheap probe of every shard */
	uint32_t total = 0, active = 0;
	root_query pq = {0};
	tbuf tree;
	tbuf_init(&tree, TRAWL_MAX_QUERY_TREE_BYTES);
	char err[256];
	encode_query(MATCH_ALL, strlen(MATCH_ALL), 0, &tree, err, sizeof err);
	pq.tree = tree.data;
	pq.tree_len = tree.len;
	pq.k = 1;
	pq.allow_partial = 1;
	pq.timeout_ms = 1000;
	root_result *res = NULL;
	if (pq.tree_len && root_search(r, &pq, &res, err, sizeof err) == TRAWL_OK) {
		total = res->shards_total;
		/* ready: every shard has a healthy replica. Otherwise a fresh
		 * answer counts the shards that answered; a cached one (complete,
		 * from before the failure) only says that one shard at least has
		 * no healthy replica */
		active = ready ? total : !res->cached ? res->shards_answered : total ? total - 1 : 0;
		root_result_free(res);
	}
	tbuf_fini(&tree);
	const char *status = !ready ? "red" : healthy < n ? "yellow" : "green";
	int timed_out = want && status_rank(status) > status_rank(want);
	json_t *j = json_object();
	json_object_set_new(j, "cluster_name", json_string("trawl"));
	json_object_set_new(j, "status", json_string(status));
	json_object_set_new(j, "timed_out", json_boolean(timed_out));
	json_object_set_new(j, "number_of_nodes", json_integer(n));
	json_object_set_new(j, "number_of_data_nodes", json_integer(n));
	json_object_set_new(j, "discovered_master", json_true());
	json_object_set_new(j, "discovered_cluster_manager", json_true());
	json_object_set_new(j, "active_primary_shards", json_integer(active));
	json_object_set_new(j, "active_shards", json_integer(active));
	json_object_set_new(j, "relocating_shards", json_integer(0));
	json_object_set_new(j, "initializing_shards", json_integer(0));
	json_object_set_new(j, "unassigned_shards", json_integer(total - active));
	json_object_set_new(j, "delayed_unassigned_shards", json_integer(0));
	json_object_set_new(j, "number_of_pending_tasks", json_integer(0));
	json_object_set_new(j, "number_of_in_flight_fetch", json_integer(0));
	json_object_set_new(j, "task_max_waiting_in_queue_millis", json_integer(0));
	json_object_set_new(j, "active_shards_percent_as_number",
	                    json_real(total ? 100.0 * active / total : 0.0));
	json_object_set_new(j, "trawl_replicas_healthy", json_integer(healthy));
	send_json(resp, timed_out ? 408 : 200, j, pretty);
}

/* An empty answer: the index expression only held patterns that do not
 * match the index. */
static void empty_search(http_response *resp, int count_only, const os_search_req *sr)
{
	json_t *j;
	if (count_only) {
		j = json_pack("{s:i, s:o}", "count", 0, "_shards", shards_json(0, 0, 0));
	} else {
		root_result res = {0};
		res.total_exact = 1;
		j = os_render_search(&res, sr, "");
	}
	send_json(resp, 200, j, sr->pretty);
}

static void search(root *r, const char *index_name, const char *expr, const http_request *req,
                   http_response *resp, int count_only)
{
	os_search_req sr;
	os_error e;
	if (os_parse_search(req->path, req->query, req->body, req->body_len, count_only, &sr, &e)) {
		send_err(resp, &e, NULL, sr.pretty);
		return;
	}
	char missing[256], err[1024];
	int m = os_index_matches(expr, index_name, missing, sizeof missing);
	if (m < 0) {
		index_not_found(resp, sr.pretty, missing);
		os_search_req_fini(&sr);
		return;
	}
	if (m == 0) {
		empty_search(resp, count_only, &sr);
		os_search_req_fini(&sr);
		return;
	}
	root_query q = {0};
	tbuf tree;
	tbuf_init(&tree, TRAWL_MAX_QUERY_TREE_BYTES);
	q.k = sr.size ? sr.size : 1;
	q.offset = sr.size ? sr.from : 0;
	q.count = sr.track_total;
	q.allow_partial = sr.allow_partial;
	q.timeout_ms = sr.timeout_ms;
	q.preference = sr.preference;
	q.fetch = sr.size > 0 && sr.source; /* stored documents; ids always come back */
	root_result *res = NULL;
	int rc = encode_query(sr.q, sr.qlen, sr.and_default, &tree, err, sizeof err);
	q.tree = tree.data;
	q.tree_len = tree.len;
	if (!rc)
		rc = root_search(r, &q, &res, err, sizeof err);
	if (rc == TRAWL_EQUERY && strstr(err, "has nothing to search for")) {
		/* only stop words or punctuation: OpenSearch finds nothing
		 * (zero_terms_query "none") where trawl's parser refuses */
		empty_search(resp, count_only, &sr);
	} else if (rc == TRAWL_EQUERY || rc == TRAWL_EUTF8 || rc == TRAWL_ELIMIT) {
		send_errf(resp, sr.pretty, 400, "query_shard_exception", index_name,
		          "Failed to parse query [%.300s]: %s", sr.q, err);
	} else if (rc == TRAWL_EIO) {
		send_errf(resp, sr.pretty, 503, "search_phase_execution_exception", NULL, "%s", err);
	} else if (rc) {
		send_errf(resp, sr.pretty, 500, "exception", NULL, "%s: %s", trawl_strerror(rc), err);
	} else {
		json_t *j;
		if (count_only)
			j = json_pack("{s:I, s:o}", "count", (json_int_t)res->total, "_shards",
			              shards_json(res->shards_total, res->shards_answered,
			                          res->shards_failed + res->shards_timed_out));
		else
			j = os_render_search(res, &sr, index_name);
		send_json(resp, 200, j, sr.pretty);
		root_result_free(res);
	}
	tbuf_fini(&tree);
	os_search_req_fini(&sr);
}

static const char *const get_params[] = {"_source", "_source_includes", "_source_excludes",
                                         "preference", "realtime", "refresh", NULL};

/* GET /{index}/_doc/{id} (source_only 0) and GET /{index}/_source/{id}. */
static void get_doc(root *r, const char *index_name, const char *index, const char *id,
                    const qparams *qp, const http_request *req, http_response *resp,
                    int source_only, int pretty)
{
	os_error e;
	os_search_req sr = {0};
	sr.source = 1;
	if (qs_check(qp, get_params, req->path, &e) || source_from_params(qp, &sr, &e)) {
		send_err(resp, &e, NULL, pretty);
		os_search_req_fini(&sr);
		return;
	}
	if (strcmp(index, index_name)) {
		index_not_found(resp, pretty, index);
		os_search_req_fini(&sr);
		return;
	}
	char err[512], *doc = NULL;
	size_t len = 0;
	int rc = root_get(r, id, &doc, &len, err, sizeof err);
	if (rc == TRAWL_ENOTFOUND) {
		if (source_only)
			send_errf(resp, pretty, 404, "resource_not_found_exception", NULL,
			          "Document not found [%.200s]/[%.200s]", index_name, id);
		else
			send_json(resp, 404,
			          json_pack("{s:o, s:o, s:b}", "_index", jstr(index_name), "_id", jstr(id),
			                    "found", 0),
			          pretty);
	} else if (rc == TRAWL_ECORRUPT) {
		send_errf(resp, pretty, 500, "exception", NULL, "%s: %s", trawl_strerror(rc), err);
	} else if (rc) {
		send_errf(resp, pretty, 503, "unavailable_shards_exception", NULL, "%s", err);
	} else {
		root_hit h = {0};
		h.doc = doc;
		h.doc_len = len;
		json_t *src = hit_source(&h, &sr);
		if (source_only) {
			send_json(resp, 200, src, pretty);
		} else {
			json_t *j = json_pack("{s:o, s:o, s:i, s:i, s:i, s:b}", "_index", jstr(index_name),
			                      "_id", jstr(id), "_version", 1, "_seq_no", 0, "_primary_term",
			                      1, "found", 1);
			if (sr.source)
				json_object_set_new(j, "_source", src);
			else
				json_decref(src);
			send_json(resp, 200, j, pretty);
		}
	}
	free(doc);
	os_search_req_fini(&sr);
}

static int is(const char *a, const char *b)
{
	return a && !strcmp(a, b);
}

/* Endpoints under /{index}/ that write. */
static const char *const write_endpoints[] = {"_create", "_update", "_bulk",
                                              "_update_by_query", "_delete_by_query", NULL};

void os_handle(root *r, const char *index_name, const http_request *req, http_response *resp,
               int *handled)
{
	*handled = 1;
	const char *m = req->method;
	int get = is(m, "GET") || is(m, "HEAD"), post = is(m, "POST");
	int pretty = 0;
	qparams qp;
	os_error e;
	if (qs_parse(req->query, &qp, &e)) {
		send_err(resp, &e, NULL, 0);
		return;
	}
	const char *pv = qs_get(&qp, "pretty");
	if (pv && parse_flag(pv, &pretty))
		pretty = 0;

	/* the path as up to two segments and the rest: /a/b/rest... */
	const char *p = req->path ? req->path : "/";
	while (*p == '/')
		p++;
	char *copy = strdup(p);
	if (!copy) {
		send_errf(resp, pretty, 500, "exception", NULL, "out of memory");
		qs_free(&qp);
		return;
	}
	char *a = copy, *b = NULL, *rest = NULL, *sl;
	if ((sl = strchr(a, '/'))) {
		*sl = 0;
		b = sl + 1;
		if ((sl = strchr(b, '/'))) {
			*sl = 0;
			rest = sl + 1;
		}
	}
	if (b && !*b && !rest)
		b = NULL; /* a trailing slash */
	int has_rest = rest && *rest;

	if (!*a) {
		if (get)
			info(index_name, resp, pretty);
		else
			bad_method(resp, pretty, req, "HEAD, GET");
	} else if (a[0] == '_' && strcmp(a, "_all")) {
		if ((is(a, "_search") || is(a, "_count")) && !b) {
			if (get || post)
				search(r, index_name, "_all", req, resp, is(a, "_count"));
			else
				bad_method(resp, pretty, req, "GET, POST");
		} else if (is(a, "_cluster") && is(b, "health") && !(rest && strchr(rest, '/'))) {
			if (get)
				health(r, index_name, has_rest ? rest : NULL, &qp, req, resp, pretty);
			else
				bad_method(resp, pretty, req, "GET");
		} else if (is(a, "_bulk") && !b) {
			refuse_write(resp, pretty);
		} else {
			*handled = 0;
		}
	} else if (!b) {
		/* /{index}: exists (HEAD); creating or deleting an index is a write */
		char missing[256];
		if (is(m, "HEAD")) {
			int found = os_index_matches(a, index_name, missing, sizeof missing) > 0;
			if (found)
				send_json(resp, 200, json_object(), pretty);
			else
				index_not_found(resp, pretty, a);
		} else if (is(m, "PUT") || is(m, "DELETE")) {
			refuse_write(resp, pretty);
		} else {
			*handled = 0;
		}
	} else if ((is(b, "_search") || is(b, "_count")) && !has_rest) {
		if (get || post)
			search(r, index_name, a, req, resp, is(b, "_count"));
		else
			bad_method(resp, pretty, req, "GET, POST");
	} else if (is(b, "_doc") || is(b, "_source")) {
		if (has_rest && get)
			get_doc(r, index_name, a, rest, &qp, req, resp, is(b, "_source"), pretty);
		else if (is(b, "_doc") && (is(m, "PUT") || post || is(m, "DELETE")))
			refuse_write(resp, pretty); /* index, create, delete a document */
		else if (has_rest)
			bad_method(resp, pretty, req, "GET, HEAD");
		else
			*handled = 0;
	} else if (in_list(write_endpoints, b)) {
		refuse_write(resp, pretty);
	} else {
		*handled = 0;
	}
	free(copy);
	qs_free(&qp);
}
