/*
 * values.c - typed field values out of JSON (see values.h). The document
 * has already been validated as JSON by index/jsonscan.c, so the walk over
 * an array here only finds where each element ends; what it checks is the
 * value's meaning for its field's type.
 */
#include "values.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/civil.h"
#include "common/error.h"
#include "index/analyze.h"
#include "index/columns.h"

const char *idx_ftype_name(int type)
{
	static const char *const names[] = {"text", "keyword", "long", "double", "date", "boolean"};
	return type >= 0 && type <= IDX_BOOLEAN ? names[type] : "?";
}

int idx_ftype_parse(const char *name)
{
	for (int t = IDX_TEXT; t <= IDX_BOOLEAN; t++)
		if (!strcmp(name, idx_ftype_name(t)))
			return t;
	return -1;
}

/* ---- dates ---- */

/* Reads exactly k digits at *p (below end) into *v. */
static int digits(const char **p, const char *end, int k, unsigned *v)
{
	unsigned x = 0;
	for (int i = 0; i < k; i++) {
		if (*p >= end || (*p)[0] < '0' || (*p)[0] > '9')
			return 0;
		x = x * 10 + (unsigned)(*(*p)++ - '0');
	}
	*v = x;
	return 1;
}

int idx_date_parse(const char *s, size_t n, int64_t *ms)
{
	static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	const char *p = s, *end = s + n;
	unsigned y, mo = 1, d = 1, h = 0, mi = 0, sec = 0, frac = 0;
	int whole = 0; /* year, month and day given */
	if (!digits(&p, end, 4, &y))
		return TRAWL_EINVAL;
	if (p < end && *p == '-') {
		p++;
		if (!digits(&p, end, 2, &mo) || mo < 1 || mo > 12)
			return TRAWL_EINVAL;
		if (p < end && *p == '-') {
			p++;
			unsigned dim = mdays[mo - 1] + (mo == 2 && civil_leap(y));
			if (!digits(&p, end, 2, &d) || d < 1 || d > dim)
				return TRAWL_EINVAL;
			whole = 1;
		}
	}
	int64_t offset_min = 0;
	if (p < end && *p == 'T') {
		if (!whole) /* a time needs a whole date */
			return TRAWL_EINVAL;
		p++;
		if (!digits(&p, end, 2, &h) || h > 23)
			return TRAWL_EINVAL;
		if (p < end && *p == ':') {
			p++;
			if (!digits(&p, end, 2, &mi) || mi > 59)
				return TRAWL_EINVAL;
			if (p < end && *p == ':') {
				p++;
				if (!digits(&p, end, 2, &sec) || sec > 59)
					return TRAWL_EINVAL;
				if (p < end && (*p == '.' || *p == ',')) {
					p++;
					int k = 0;
					for (; p < end && *p >= '0' && *p <= '9'; p++, k++)
						if (k < 3)
							frac = frac * 10 + (unsigned)(*p - '0');
					if (k == 0 || k > 9)
						return TRAWL_EINVAL;
					for (; k < 3; k++)
						frac *= 10;
				}
			}
		}
		if (p < end && *p == 'Z') {
			p++;
		} else if (p < end && (*p == '+' || *p == '-')) {
			int neg = *p++ == '-';
			unsigned oh, om = 0;
			if (!digits(&p, end, 2, &oh))
				return TRAWL_EINVAL;
			if (p < end && *p == ':') {
				p++;
				if (!digits(&p, end, 2, &om))
					return TRAWL_EINVAL;
			} else if (p < end && !digits(&p, end, 2, &om)) {
				return TRAWL_EINVAL;
			}
			if (oh > 18 || om > 59 || oh * 60 + om > 18 * 60)
				return TRAWL_EINVAL;
			offset_min = (neg ? -1 : 1) * (int64_t)(oh * 60 + om);
		}
	}
	if (p != end)
		return TRAWL_EINVAL;
	int64_t days = civil_days(y, mo, d);
	*ms = ((days * 24 + h) * 60 + mi - offset_min) * 60000 + (int64_t)sec * 1000 + frac;
	return TRAWL_OK;
}

size_t idx_date_format(int64_t ms, char *out)
{
	int64_t days = ms / 86400000; /* rounded down, whatever the sign */
	if (ms % 86400000 < 0)
		days--;
	int64_t rest = ms - days * 86400000, y;
	unsigned m, d;
	civil_date(days, &y, &m, &d);
	if (y < 0 || y > 9999)
		return (size_t)snprintf(out, 32, "%lld", (long long)ms);
	return (size_t)snprintf(out, 32, "%04d-%02u-%02uT%02u:%02u:%02u.%03uZ", (int)y, m, d,
	                        (unsigned)(rest / 3600000), (unsigned)(rest / 60000 % 60),
	                        (unsigned)(rest / 1000 % 60), (unsigned)(rest % 1000));
}

/* ---- numbers ---- */

/* Whether s[0..n) is one JSON number; *integral: no fraction, no exponent. */
static int json_number(const char *s, size_t n, int *integral)
{
	int ok;
	return idx_json_number(s, s + n, &ok, integral) == s + n && ok;
}

/* s[0..n) as a NUL-terminated copy for strtod and strtoll, if it is a JSON
 * number that fits buf. */
static int number_copy(const char *s, size_t n, char *buf, size_t cap, int *integral)
{
	if (n == 0 || n >= cap || !json_number(s, n, integral))
		return 0;
	memcpy(buf, s, n);
	buf[n] = 0;
	return 1;
}

int idx_double_parse(const char *s, size_t n, double *v)
{
	int integral;
	char buf[128];
	if (!number_copy(s, n, buf, sizeof buf, &integral))
		return TRAWL_EINVAL;
	errno = 0;
	double d = strtod(buf, NULL);
	if (!isfinite(d) || (errno == ERANGE && fabs(d) > 1.0))
		return TRAWL_EINVAL;
	*v = d == 0 ? 0.0 : d; /* -0 is 0 */
	return TRAWL_OK;
}

int idx_long_parse(const char *s, size_t n, int64_t *v)
{
	int integral;
	char mant[128];
	if (n == 0 || n >= sizeof mant || !json_number(s, n, &integral))
		return TRAWL_EINVAL;
	/* exactly, in decimal: the digits without the point, and the power of
	 * ten they are scaled by; never through a double, which would turn
	 * 9007199254740993.0 into ...992 and 4.0000000000000001 into 4 */
	const char *p = s, *end = s + n;
	int neg = *p == '-';
	p += neg;
	size_t nm = 0;
	long long scale = 0;
	int frac = 0;
	for (; p < end && *p != 'e' && *p != 'E'; p++) {
		if (*p == '.') {
			frac = 1;
			continue;
		}
		mant[nm++] = *p;
		scale -= frac; /* each digit after the point divides by ten */
	}
	if (p < end) { /* the exponent, clamped: beyond +-1000 nothing fits anyway */
		p++;
		int eneg = *p == '-';
		p += *p == '-' || *p == '+';
		long long e = 0;
		for (; p < end; p++)
			e = e < 1000 ? e * 10 + (*p - '0') : e;
		scale += eneg ? -e : e;
	}
	size_t first = 0;
	while (first < nm && mant[first] == '0')
		first++;
	if (first == nm) { /* zero, however written */
		*v = 0;
		return TRAWL_OK;
	}
	while (scale < 0 && mant[nm - 1] == '0') /* 4.0, 40e-1 */
		nm--, scale++;
	if (scale < 0 || (long long)(nm - first) + scale > 19)
		return TRAWL_EINVAL; /* a fraction, or more digits than an int64 has */
	uint64_t x = 0;
	for (long long i = 0; i < (long long)(nm - first) + scale; i++) {
		unsigned d =
		    i < (long long)(nm - first) ? (unsigned)(mant[first + (size_t)i] - '0') : 0;
		if (x > (UINT64_MAX - d) / 10)
			return TRAWL_EINVAL;
		x = x * 10 + d;
	}
	if (neg ? x > (uint64_t)INT64_MAX + 1 : x > (uint64_t)INT64_MAX)
		return TRAWL_EINVAL;
	*v = neg ? (int64_t)(0 - x) : (int64_t)x;
	return TRAWL_OK;
}

/* ---- a document's values ---- */

typedef struct vparse {
	const idx_tfield *f;
	tbuf *out, *scratch;
	uint32_t count;
	const char **at;
	char *why;
	size_t whylen;
} vparse;

/* The end of the JSON value starting at p (validated, so well formed). */
static const char *value_end(const char *p, const char *end)
{
	if (*p == '"') {
		for (p++; p < end && *p != '"'; p++)
			if (*p == '\\')
				p++;
		return p + 1;
	}
	if (*p == '[' || *p == '{') {
		int depth = 0;
		for (; p < end; p++) {
			if (*p == '"') {
				p = value_end(p, end) - 1;
			} else if (*p == '[' || *p == '{') {
				depth++;
			} else if ((*p == ']' || *p == '}') && --depth == 0) {
				return p + 1;
			}
		}
		return end;
	}
	while (p < end && *p != ',' && *p != ']' && *p != '}' && *p != ' ' && *p != '\t' &&
	       *p != '\n' && *p != '\r')
		p++;
	return p;
}

static int bad(vparse *vp, const idx_jvalue *v, const char *what)
{
	*vp->at = v->start;
	int n = (int)(v->len > 60 ? 60 : v->len);
	snprintf(vp->why, vp->whylen, "%.*s%s is not %s", n, v->start, v->len > 60 ? "..." : "",
	         what);
	return TRAWL_EDOC;
}

static int put64(vparse *vp, uint64_t x)
{
	uint8_t b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(x >> (8 * i));
	return tbuf_append(vp->out, b, 8);
}

static int put32(tbuf *out, uint32_t x)
{
	uint8_t b[4] = {(uint8_t)x, (uint8_t)(x >> 8), (uint8_t)(x >> 16), (uint8_t)(x >> 24)};
	return tbuf_append(out, b, 4);
}

/* The characters of s (valid UTF-8). */
static size_t chars(const uint8_t *s, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += (s[i] & 0xC0) != 0x80;
	return c;
}

static int one_keyword(vparse *vp, const idx_jvalue *v)
{
	tbuf *sc = vp->scratch;
	tbuf_reset(sc);
	int rc;
	if (v->kind == IDX_J_STRING)
		rc = idx_json_string(v, sc);
	else if (v->kind == IDX_J_NUMBER || v->kind == IDX_J_TRUE || v->kind == IDX_J_FALSE)
		rc = tbuf_append(sc, v->start, v->len);
	else
		return bad(vp, v, "a keyword (a string, number or boolean)");
	if (rc)
		return rc == TRAWL_ELIMIT ? bad(vp, v, "a keyword within the limits") : rc;
	size_t at = vp->out->len;
	if ((rc = put32(vp->out, 0)))
		return rc;
	if (vp->f->lowercase)
		rc = idx_lowercase((const char *)sc->data, sc->len, vp->out);
	else
		rc = tbuf_append(vp->out, sc->data, sc->len);
	if (rc)
		return rc;
	size_t len = vp->out->len - at - 4;
	if (vp->f->ignore_above && chars(vp->out->data + at + 4, len) > vp->f->ignore_above) {
		vp->out->len = at; /* skipped, as ignore_above says */
		return TRAWL_OK;
	}
	if (len > LIMIT_KEYWORD_BYTES) {
		*vp->at = v->start;
		snprintf(vp->why, vp->whylen,
		         "a keyword of %zu bytes; the limit is %d (ignore_above skips longer "
		         "values)",
		         len, LIMIT_KEYWORD_BYTES);
		return TRAWL_EDOC;
	}
	uint32_t n32 = (uint32_t)len;
	uint8_t b[4] = {(uint8_t)n32, (uint8_t)(n32 >> 8), (uint8_t)(n32 >> 16),
	                (uint8_t)(n32 >> 24)};
	memcpy(vp->out->data + at, b, 4);
	vp->count++;
	return TRAWL_OK;
}

/* A number given as a number or as a string holding one: its text. */
static int number_text(vparse *vp, const idx_jvalue *v, const char **s, size_t *n)
{
	if (v->kind == IDX_J_NUMBER) {
		*s = v->start;
		*n = v->len;
		return TRAWL_OK;
	}
	if (v->kind != IDX_J_STRING)
		return TRAWL_EINVAL;
	tbuf_reset(vp->scratch);
	int rc = idx_json_string(v, vp->scratch);
	if (rc)
		return rc == TRAWL_ENOMEM ? rc : TRAWL_EINVAL;
	*s = (const char *)vp->scratch->data;
	*n = vp->scratch->len;
	return TRAWL_OK;
}

/* A date written as text: ISO 8601 first, then epoch milliseconds written
 * as digits (as strict_date_optional_time||epoch_millis reads them). */
static int date_text(const char *t, size_t tn, int64_t *x)
{
	if (idx_date_parse(t, tn, x) == TRAWL_OK)
		return TRAWL_OK;
	if (tn < 5 || memchr(t, '.', tn) || memchr(t, 'e', tn) || memchr(t, 'E', tn))
		return TRAWL_EINVAL;
	return idx_long_parse(t, tn, x);
}

static int one_value(vparse *vp, const idx_jvalue *v)
{
	if (vp->count >= LIMIT_FIELD_VALUES) {
		*vp->at = v->start;
		snprintf(vp->why, vp->whylen, "more than %d values; the limit is %d",
		         LIMIT_FIELD_VALUES, LIMIT_FIELD_VALUES);
		return TRAWL_EDOC;
	}
	const char *s;
	size_t n;
	int rc;
	switch (vp->f->type) {
	case IDX_KEYWORD:
		return one_keyword(vp, v);
	case IDX_LONG: {
		int64_t x;
		if ((rc = number_text(vp, v, &s, &n)) == TRAWL_ENOMEM)
			return rc;
		if (rc || idx_long_parse(s, n, &x))
			return bad(vp, v, "a long (an integer from -2^63 to 2^63-1)");
		rc = put64(vp, (uint64_t)x);
		break;
	}
	case IDX_DOUBLE: {
		double x;
		if ((rc = number_text(vp, v, &s, &n)) == TRAWL_ENOMEM)
			return rc;
		if (rc || idx_double_parse(s, n, &x))
			return bad(vp, v, "a double (a finite number)");
		uint64_t bits;
		memcpy(&bits, &x, 8);
		rc = put64(vp, bits);
		break;
	}
	case IDX_DATE: {
		int64_t x;
		if (v->kind == IDX_J_NUMBER) {
			if (idx_long_parse(v->start, v->len, &x))
				return bad(vp, v, "a date (an integer of milliseconds since 1970)");
		} else if (v->kind == IDX_J_STRING) {
			tbuf_reset(vp->scratch);
			if ((rc = idx_json_string(v, vp->scratch)) == TRAWL_ENOMEM)
				return rc;
			if (rc || date_text((const char *)vp->scratch->data, vp->scratch->len, &x))
				return bad(
				    vp, v,
				    "a date (ISO 8601: 2024-01-31, 2024-01-31T12:00:00Z, "
				    "2024-01-31T12:00:00.5+02:00; or milliseconds since 1970)");
		} else {
			return bad(vp, v, "a date");
		}
		rc = put64(vp, (uint64_t)x);
		break;
	}
	case IDX_BOOLEAN: {
		int x = -1;
		if (v->kind == IDX_J_TRUE || v->kind == IDX_J_FALSE)
			x = v->kind == IDX_J_TRUE;
		else if (v->kind == IDX_J_STRING && v->len == 6 && !memcmp(v->start, "\"true\"", 6))
			x = 1;
		else if (v->kind == IDX_J_STRING && v->len == 7 &&
		         !memcmp(v->start, "\"false\"", 7))
			x = 0;
		if (x < 0)
			return bad(vp, v, "a boolean (true, false, \"true\" or \"false\")");
		rc = put64(vp, (uint64_t)x);
		break;
	}
	default:
		return TRAWL_EINVAL;
	}
	if (rc == TRAWL_OK)
		vp->count++;
	return rc;
}

static idx_jkind kind_of(char c)
{
	switch (c) {
	case '"':
		return IDX_J_STRING;
	case '{':
		return IDX_J_OBJECT;
	case '[':
		return IDX_J_ARRAY;
	case 't':
		return IDX_J_TRUE;
	case 'f':
		return IDX_J_FALSE;
	case 'n':
		return IDX_J_NULL;
	default:
		return IDX_J_NUMBER;
	}
}

static int walk(vparse *vp, const idx_jvalue *v)
{
	if (v->kind == IDX_J_NULL)
		return TRAWL_OK;
	if (v->kind == IDX_J_OBJECT)
		return bad(vp, v, "a value of a typed field (an object is not)");
	if (v->kind != IDX_J_ARRAY)
		return one_value(vp, v);
	const char *p = v->start + 1, *end = v->start + v->len;
	for (;;) {
		while (p < end &&
		       (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t' || *p == ','))
			p++;
		if (p >= end || *p == ']')
			return TRAWL_OK;
		idx_jvalue e = {kind_of(*p), p, 0, v->key_at};
		const char *q = value_end(p, end);
		e.len = (size_t)(q - p);
		int rc = walk(vp, &e);
		if (rc)
			return rc;
		p = q;
	}
}

int idx_values_parse(const idx_tfield *f, const idx_jvalue *v, tbuf *out, tbuf *scratch,
                     const char **at, char *why, size_t whylen)
{
	vparse vp = {f, out, scratch, 0, at, why, whylen};
	size_t start = out->len;
	int rc = put32(out, 0);
	if (rc == TRAWL_OK)
		rc = walk(&vp, v);
	if (rc) {
		out->len = start;
		return rc;
	}
	uint8_t b[4] = {(uint8_t)vp.count, (uint8_t)(vp.count >> 8), (uint8_t)(vp.count >> 16),
	                (uint8_t)(vp.count >> 24)};
	memcpy(out->data + start, b, 4);
	return TRAWL_OK;
}

int idx_value_literal(const idx_tfield *f, const char *s, size_t n, tbuf *out, int64_t *key,
                      char *why, size_t whylen)
{
	int64_t x = 0;
	switch (f->type) {
	case IDX_KEYWORD: {
		tbuf_reset(out);
		int rc = f->lowercase ? idx_lowercase(s, n, out) : tbuf_append(out, s, n);
		if (rc == TRAWL_ELIMIT || (rc == TRAWL_OK && out->len > LIMIT_KEYWORD_BYTES))
			return errf(why, whylen, TRAWL_EINVAL,
			            "a keyword of more than %d bytes (no value is that long)",
			            LIMIT_KEYWORD_BYTES);
		return rc;
	}
	case IDX_LONG:
		if (idx_long_parse(s, n, &x))
			return errf(why, whylen, TRAWL_EINVAL,
			            "\"%.*s\" is not a long (an integer from -2^63 to 2^63-1)",
			            (int)(n > 64 ? 64 : n), s);
		break;
	case IDX_DOUBLE: {
		double d;
		if (idx_double_parse(s, n, &d))
			return errf(why, whylen, TRAWL_EINVAL, "\"%.*s\" is not a double",
			            (int)(n > 64 ? 64 : n), s);
		x = idx_double_key(d);
		break;
	}
	case IDX_DATE:
		if (date_text(s, n, &x))
			return errf(why, whylen, TRAWL_EINVAL,
			            "\"%.*s\" is not a date (ISO 8601: 2024-01-31, "
			            "2024-01-31T12:00:00Z; or milliseconds since 1970)",
			            (int)(n > 64 ? 64 : n), s);
		break;
	case IDX_BOOLEAN:
		if (n == 4 && !memcmp(s, "true", 4))
			x = 1;
		else if (n == 5 && !memcmp(s, "false", 5))
			x = 0;
		else
			return errf(why, whylen, TRAWL_EINVAL,
			            "\"%.*s\" is not a boolean (true "
			            "or false)",
			            (int)(n > 64 ? 64 : n), s);
		break;
	default:
		return TRAWL_EINVAL;
	}
	*key = x;
	return TRAWL_OK;
}
