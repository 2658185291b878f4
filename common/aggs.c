/*
 * aggs.c - the request side of aggregations (aggs.h): Elasticsearch's
 * "aggs" object checked and read into a spec tree, the spec's canonical
 * JSON and back, and the date arithmetic that date_histogram and
 * date_range need (time zones as fixed offsets, calendar units, ISO 8601),
 * which the root (rendering) and the leaves (collecting) must do alike.
 * Partial results are in aggs_result.c.
 *
 * Dates are read here rather than through index/values.h because a root
 * parses requests and links no index code; the shapes accepted are
 * idx_date_parse's, and index/aggs_collect_test.c checks that both read
 * every date alike.
 */
#include "common/aggs.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/civil.h"
#include "common/error.h"

/* Dates (and date_histogram offsets) within +-8.64e15 ms of the epoch
 * (ECMAScript's range, about 273,790 years): exact as doubles, and the
 * bucket arithmetic on them cannot overflow an int64. */
#define AGGS_MS_MAX 8640000000000000LL
#define DAY_MS 86400000LL

static const char *const KIND_NAMES[AGGS_KIND_COUNT] = {
    "",       "terms",   "range",       "date_range",  "histogram",   "date_histogram",
    "filter", "filters", "missing",     "min",         "max",         "sum",
    "avg",    "stats",   "value_count", "cardinality", "percentiles",
};

const char *aggs_kind_name(aggs_kind k)
{
	return k < AGGS_KIND_COUNT ? KIND_NAMES[k] : "?";
}

static int kind_parse(const char *name)
{
	for (int k = 1; k < AGGS_KIND_COUNT; k++)
		if (!strcmp(name, KIND_NAMES[k]))
			return k;
	return -1;
}

/* ---- dates ---- */

static int64_t floordiv(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return q - ((a % b != 0) && ((a < 0) != (b < 0)));
}

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

/* ISO 8601 as idx_date_parse reads it; a date without a zone is in tz_min. */
static int iso_parse(const char *s, size_t n, int32_t tz_min, int64_t *ms)
{
	static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	const char *p = s, *end = s + n;
	unsigned y, mo = 1, d = 1, h = 0, mi = 0, sec = 0, frac = 0;
	int whole = 0;
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
	int64_t off = tz_min;
	if (p < end && *p == 'T') {
		if (!whole)
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
			off = 0;
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
			off = (neg ? -1 : 1) * (int64_t)(oh * 60 + om);
		}
	}
	if (p != end)
		return TRAWL_EINVAL;
	int64_t days = civil_days(y, mo, d);
	*ms = ((days * 24 + h) * 60 + mi - off) * 60000 + (int64_t)sec * 1000 + frac;
	return TRAWL_OK;
}

int aggs_date_parse(const char *s, size_t n, int32_t tz_min, int64_t *ms)
{
	if (iso_parse(s, n, tz_min, ms) == TRAWL_OK)
		return TRAWL_OK;
	/* epoch_millis: an optional minus and 1-16 digits */
	size_t i = n && s[0] == '-';
	if (i == n || n - i > 16)
		return TRAWL_EINVAL;
	int64_t v = 0;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return TRAWL_EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	v = s[0] == '-' ? -v : v;
	if (v < -AGGS_MS_MAX || v > AGGS_MS_MAX)
		return TRAWL_EINVAL;
	*ms = v;
	return TRAWL_OK;
}

/* v's last n decimal digits at p (leading zeros); returns the end. */
static char *put_digits(char *p, unsigned v, int n)
{
	for (int i = n - 1; i >= 0; i--, v /= 10)
		p[i] = (char)('0' + v % 10);
	return p + n;
}

size_t aggs_date_format(int64_t ms, int32_t tz_min, char *out)
{
	if (ms < -AGGS_MS_MAX || ms > AGGS_MS_MAX)
		return (size_t)snprintf(out, 40, "%lld", (long long)ms);
	int64_t local = ms + (int64_t)tz_min * 60000;
	int64_t days = floordiv(local, DAY_MS), rest = local - days * DAY_MS, y;
	unsigned m, d;
	civil_date(days, &y, &m, &d);
	if (y < 0 || y > 9999)
		return (size_t)snprintf(out, 40, "%lld", (long long)ms);
	/* YYYY-MM-DDTHH:MM:SS.sss, digit by digit: a daily histogram of 30
	 * years formats 10,000 of them, and snprintf was a tenth of its time */
	char *p = out;
	p = put_digits(p, (unsigned)y, 4);
	*p++ = '-';
	p = put_digits(p, m, 2);
	*p++ = '-';
	p = put_digits(p, d, 2);
	*p++ = 'T';
	p = put_digits(p, (unsigned)(rest / 3600000), 2);
	*p++ = ':';
	p = put_digits(p, (unsigned)(rest / 60000 % 60), 2);
	*p++ = ':';
	p = put_digits(p, (unsigned)(rest / 1000 % 60), 2);
	*p++ = '.';
	p = put_digits(p, (unsigned)(rest % 1000), 3);
	if (tz_min == 0) {
		*p++ = 'Z';
	} else {
		unsigned a = (unsigned)(tz_min < 0 ? -tz_min : tz_min);
		*p++ = tz_min < 0 ? '-' : '+';
		p = put_digits(p, a / 60, 2);
		*p++ = ':';
		p = put_digits(p, a % 60, 2);
	}
	*p = 0;
	return (size_t)(p - out);
}

/* The first millisecond (local) of the calendar unit holding local time t. */
static int64_t cal_floor(int cal, int64_t t)
{
	int64_t days = floordiv(t, DAY_MS), y;
	unsigned m, d;
	switch (cal) {
	case AGGS_CAL_MINUTE:
		return floordiv(t, 60000) * 60000;
	case AGGS_CAL_HOUR:
		return floordiv(t, 3600000) * 3600000;
	case AGGS_CAL_DAY:
		return days * DAY_MS;
	case AGGS_CAL_WEEK: /* 1970-01-01 was a Thursday: Monday is 0 */
		return (days - (((days + 3) % 7) + 7) % 7) * DAY_MS;
	default:
		break;
	}
	civil_date(days, &y, &m, &d);
	if (cal == AGGS_CAL_QUARTER)
		m = (m - 1) / 3 * 3 + 1;
	else if (cal == AGGS_CAL_YEAR)
		m = 1;
	return civil_days(y, m, 1) * DAY_MS;
}

/* The first millisecond (local) of the unit after the one starting at t. */
static int64_t cal_next(int cal, int64_t t)
{
	switch (cal) {
	case AGGS_CAL_MINUTE:
		return t + 60000;
	case AGGS_CAL_HOUR:
		return t + 3600000;
	case AGGS_CAL_DAY:
		return t + DAY_MS;
	case AGGS_CAL_WEEK:
		return t + 7 * DAY_MS;
	default:
		break;
	}
	int64_t y;
	unsigned m, d;
	civil_date(floordiv(t, DAY_MS), &y, &m, &d);
	unsigned step = cal == AGGS_CAL_MONTH ? 1 : cal == AGGS_CAL_QUARTER ? 3 : 12;
	m += step;
	while (m > 12) {
		m -= 12;
		y++;
	}
	return civil_days(y, m, 1) * DAY_MS;
}

int64_t aggs_date_round(const aggs_spec *s, int64_t ms)
{
	int64_t tz = (int64_t)s->tz_min * 60000;
	int64_t t = ms - s->offset_ms + tz;
	int64_t k =
	    s->cal == AGGS_CAL_NONE ? floordiv(t, s->fixed_ms) * s->fixed_ms : cal_floor(s->cal, t);
	return k - tz + s->offset_ms;
}

int64_t aggs_date_next(const aggs_spec *s, int64_t key)
{
	int64_t tz = (int64_t)s->tz_min * 60000;
	int64_t t = key - s->offset_ms + tz;
	int64_t k = s->cal == AGGS_CAL_NONE ? t + s->fixed_ms : cal_next(s->cal, t);
	return k - tz + s->offset_ms;
}

/* ---- Java's Double.toString ---- */

size_t aggs_java_double(double d, char *out)
{
	if (isnan(d))
		return (size_t)snprintf(out, 32, "NaN");
	if (isinf(d))
		return (size_t)snprintf(out, 32, d < 0 ? "-Infinity" : "Infinity");
	if (d == 0)
		return (size_t)snprintf(out, 32, signbit(d) ? "-0.0" : "0.0");
	if (d == floor(d) && fabs(d) < 1e7) {
		/* a whole number of plain notation (a histogram's key, most
		 * often): its digits and ".0", what the search below finds, without
		 * the seventeen snprintf and strtod */
		char b[16], *q = b + sizeof b;
		for (uint32_t v = (uint32_t)fabs(d); v; v /= 10)
			*--q = (char)('0' + v % 10);
		size_t n = 0;
		if (d < 0)
			out[n++] = '-';
		memcpy(out + n, q, (size_t)(b + sizeof b - q));
		n += (size_t)(b + sizeof b - q);
		memcpy(out + n, ".0", 3);
		return n + 2;
	}
	char e[48];
	int prec = 1;
	for (; prec < 17; prec++) {
		snprintf(e, sizeof e, "%.*e", prec - 1, d);
		if (strtod(e, NULL) == d)
			break;
	}
	snprintf(e, sizeof e, "%.*e", prec - 1, d);
	/* e: [-]D[.DDD]e[+-]XX */
	char dig[24];
	int nd = 0, neg = 0;
	const char *p = e;
	if (*p == '-') {
		neg = 1;
		p++;
	}
	for (; *p && *p != 'e'; p++)
		if (*p != '.')
			dig[nd++] = *p;
	int x = atoi(p + 1);
	while (nd > 1 && dig[nd - 1] == '0')
		nd--;
	dig[nd] = 0;
	size_t n = 0;
	if (neg)
		out[n++] = '-';
	double a = fabs(d);
	if (a >= 1e-3 && a < 1e7) {
		if (x >= 0) {
			for (int i = 0; i <= x; i++)
				out[n++] = i < nd ? dig[i] : '0';
			out[n++] = '.';
			if (x + 1 < nd)
				for (int i = x + 1; i < nd; i++)
					out[n++] = dig[i];
			else
				out[n++] = '0';
		} else {
			out[n++] = '0';
			out[n++] = '.';
			for (int i = 0; i < -x - 1; i++)
				out[n++] = '0';
			for (int i = 0; i < nd; i++)
				out[n++] = dig[i];
		}
		out[n] = 0;
		return n;
	}
	out[n++] = dig[0];
	out[n++] = '.';
	if (nd > 1)
		for (int i = 1; i < nd; i++)
			out[n++] = dig[i];
	else
		out[n++] = '0';
	return n + (size_t)snprintf(out + n, 32 - n, "E%d", x);
}

/* ---- the parser ---- */

typedef struct pctx {
	aggs_compile_fn compile;
	void *cctx;
	int canonical; /* reading aggs_spec_write's form: filters are hex */
	uint32_t nodes;
	char *err;
	size_t errlen;
} pctx;

static int perr(pctx *p, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int perr(pctx *p, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verrf(p->err, p->errlen, code, fmt, ap);
	va_end(ap);
	return code;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s);
	char *d = malloc(n + 1);
	if (d)
		memcpy(d, s, n + 1);
	return d;
}

static char *xstrndup(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = 0;
	}
	return d;
}

/* A parameter's path for messages: "aggs.x.terms.size". */
#define PP(s) (s)->path, aggs_kind_name((s)->kind)

static const char *jtype(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

static int get_u64(pctx *p, const aggs_spec *s, const char *key, const json_t *v, uint64_t lo,
                   uint64_t hi, const char *limit, uint64_t *out)
{
	if (!json_is_integer(v))
		return perr(p, TRAWL_EINVAL, "%s.%s.%s: expected an integer, got %s", PP(s), key,
		            jtype(v));
	json_int_t x = json_integer_value(v);
	if (x < 0 || (uint64_t)x < lo || (uint64_t)x > hi)
		return perr(p, x > 0 && (uint64_t)x > hi && limit ? TRAWL_ELIMIT : TRAWL_EINVAL,
		            "%s.%s.%s: %lld is out of range: %llu to %llu%s%s%s", PP(s), key,
		            (long long)x, (unsigned long long)lo, (unsigned long long)hi,
		            limit ? " (" : "", limit ? limit : "", limit ? ")" : "");
	*out = (uint64_t)x;
	return TRAWL_OK;
}

static int get_double(pctx *p, const aggs_spec *s, const char *key, const json_t *v, double *out)
{
	if (!json_is_number(v))
		return perr(p, TRAWL_EINVAL, "%s.%s.%s: expected a number, got %s", PP(s), key,
		            jtype(v));
	double d = json_number_value(v);
	if (!isfinite(d))
		return perr(p, TRAWL_EINVAL, "%s.%s.%s: not a finite number", PP(s), key);
	*out = d == 0 ? 0.0 : d;
	return TRAWL_OK;
}

static int get_bool(pctx *p, const aggs_spec *s, const char *key, const json_t *v, uint8_t *out)
{
	if (!json_is_boolean(v))
		return perr(p, TRAWL_EINVAL, "%s.%s.%s: expected true or false, got %s", PP(s), key,
		            jtype(v));
	*out = json_is_true(v);
	return TRAWL_OK;
}

static int get_string(pctx *p, const aggs_spec *s, const char *key, const json_t *v, size_t max,
                      const char *limit, const char **out)
{
	if (!json_is_string(v))
		return perr(p, TRAWL_EINVAL, "%s.%s.%s: expected a string, got %s", PP(s), key,
		            jtype(v));
	size_t n = json_string_length(v);
	if (n > max)
		return perr(p, TRAWL_ELIMIT, "%s.%s.%s: longer than %zu bytes (%s)", PP(s), key,
		            max, limit);
	if (strlen(json_string_value(v)) != n)
		return perr(p, TRAWL_EINVAL, "%s.%s.%s: holds a NUL character", PP(s), key);
	*out = json_string_value(v);
	return TRAWL_OK;
}

static int get_field(pctx *p, aggs_spec *s, const json_t *v)
{
	const char *f = NULL;
	int rc = get_string(p, s, "field", v, LIMIT_FIELD_NAME_BYTES, "LIMIT_FIELD_NAME_BYTES", &f);
	if (rc)
		return rc;
	if (!f[0])
		return perr(p, TRAWL_EINVAL, "%s.%s.field: empty", PP(s));
	free(s->field);
	s->field = xstrdup(f);
	return s->field ? TRAWL_OK : TRAWL_ENOMEM;
}

/* A literal (terms' missing, include, exclude): a string, number or boolean. */
static int get_lit(pctx *p, const aggs_spec *s, const char *key, const json_t *v, aggs_lit *out)
{
	char buf[64];
	const char *t = buf;
	size_t n;
	if (json_is_string(v)) {
		t = json_string_value(v);
		n = json_string_length(v);
	} else if (json_is_integer(v)) {
		n = (size_t)snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
	} else if (json_is_real(v)) {
		n = (size_t)snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
	} else if (json_is_boolean(v)) {
		n = (size_t)snprintf(buf, sizeof buf, "%s", json_is_true(v) ? "true" : "false");
	} else {
		return perr(p, TRAWL_EINVAL,
		            "%s.%s.%s: expected a string, number or boolean, got %s", PP(s), key,
		            jtype(v));
	}
	if (n > LIMIT_KEYWORD_BYTES)
		return perr(p, TRAWL_ELIMIT,
		            "%s.%s.%s: a value longer than %d bytes (LIMIT_KEYWORD_BYTES)", PP(s),
		            key, LIMIT_KEYWORD_BYTES);
	out->text = xstrndup(t, n);
	out->len = (uint32_t)n;
	return out->text ? TRAWL_OK : TRAWL_ENOMEM;
}

static int get_lits(pctx *p, const aggs_spec *s, const char *key, const json_t *v, aggs_lit **out,
                    uint32_t *n)
{
	if (json_is_string(v))
		return perr(
		    p, TRAWL_EINVAL,
		    "%s.%s.%s: a regular expression is not supported: give an array of values",
		    PP(s), key);
	if (!json_is_array(v))
		return perr(p, TRAWL_EINVAL, "%s.%s.%s: expected an array of values, got %s", PP(s),
		            key, jtype(v));
	size_t m = json_array_size(v);
	if (m > LIMIT_AGG_TERMS_LIST)
		return perr(p, TRAWL_ELIMIT, "%s.%s.%s: more than %d values (LIMIT_AGG_TERMS_LIST)",
		            PP(s), key, LIMIT_AGG_TERMS_LIST);
	*out = calloc(m ? m : 1, sizeof **out);
	if (!*out)
		return TRAWL_ENOMEM;
	for (*n = 0; *n < m; (*n)++) {
		int rc = get_lit(p, s, key, json_array_get(v, *n), &(*out)[*n]);
		if (rc)
			return rc;
	}
	return TRAWL_OK;
}

/* A date from a date_range's from or to, or an extended_bounds: ISO 8601
 * or epoch milliseconds (a number or a string of digits). */
static int get_date(pctx *p, const aggs_spec *s, const char *key, const json_t *v, int64_t *ms)
{
	if (json_is_integer(v)) {
		json_int_t x = json_integer_value(v);
		if (x < -AGGS_MS_MAX || x > AGGS_MS_MAX)
			return perr(
			    p, TRAWL_EINVAL,
			    "%s.%s.%s: %lld ms is beyond +-8640000000000000 ms of the epoch", PP(s),
			    key, (long long)x);
		*ms = x;
		return TRAWL_OK;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);
		if (d != floor(d) || fabs(d) > (double)AGGS_MS_MAX)
			return perr(p, TRAWL_EINVAL,
			            "%s.%s.%s: %g is not a whole number of milliseconds within "
			            "+-8640000000000000",
			            PP(s), key, d);
		*ms = (int64_t)d;
		return TRAWL_OK;
	}
	if (!json_is_string(v))
		return perr(p, TRAWL_EINVAL, "%s.%s.%s: expected a date, got %s", PP(s), key,
		            jtype(v));
	const char *t = json_string_value(v);
	size_t n = json_string_length(v);
	if (aggs_date_parse(t, n, s->tz_min, ms) != TRAWL_OK)
		return perr(p, TRAWL_EINVAL,
		            "%s.%s.%s: \"%.64s\" is not a date (ISO 8601 as 2024-01-31, "
		            "2024-01-31T12:00:00Z or 2024-01-31T12:00:00.5+02:00, or epoch "
		            "milliseconds; date math is not supported)",
		            PP(s), key, t);
	return TRAWL_OK;
}

/* time_zone: a fixed offset. */
static int get_tz(pctx *p, aggs_spec *s, const json_t *v)
{
	const char *t = NULL;
	int rc = get_string(p, s, "time_zone", v, 64, "64 bytes", &t);
	if (rc)
		return rc;
	if (!strcmp(t, "Z") || !strcmp(t, "UTC") || !strcmp(t, "GMT") || !strcmp(t, "Etc/UTC")) {
		s->tz_min = 0;
		return TRAWL_OK;
	}
	const char *q = t, *end = t + strlen(t);
	unsigned h, m = 0;
	if ((*q == '+' || *q == '-') && (q++, digits(&q, end, 2, &h))) {
		if (q < end && *q == ':')
			q++;
		if (q == end || digits(&q, end, 2, &m)) {
			if (q == end && h * 60 + m <= 18 * 60 && m < 60) {
				s->tz_min = (int32_t)((t[0] == '-' ? -1 : 1) * (int)(h * 60 + m));
				return TRAWL_OK;
			}
		}
	}
	return perr(p, TRAWL_EINVAL,
	            "%s.%s.time_zone: \"%.64s\" is not supported: only fixed offsets are (+01:00, "
	            "-05:30, UTC, Z; at most 18 hours), not time zone names",
	            PP(s), t);
}

/* A duration: [+-]N with unit ms, s, m, h or d (N: 1-16 digits). */
static int duration(const char *t, int sign_ok, int64_t *ms)
{
	int neg = 0;
	if (sign_ok && (*t == '+' || *t == '-'))
		neg = *t++ == '-';
	int64_t n = 0;
	int nd = 0;
	for (; *t >= '0' && *t <= '9'; t++, nd++)
		n = n * 10 + (*t - '0');
	if (nd == 0 || nd > 16)
		return TRAWL_EINVAL;
	int64_t unit;
	if (!strcmp(t, "ms"))
		unit = 1;
	else if (!strcmp(t, "s"))
		unit = 1000;
	else if (!strcmp(t, "m"))
		unit = 60000;
	else if (!strcmp(t, "h"))
		unit = 3600000;
	else if (!strcmp(t, "d"))
		unit = DAY_MS;
	else
		return TRAWL_EINVAL;
	if (n > AGGS_MS_MAX / unit)
		return TRAWL_EINVAL;
	*ms = (neg ? -n : n) * unit;
	return TRAWL_OK;
}

static int get_format(pctx *p, aggs_spec *s, const json_t *v)
{
	const char *t = NULL;
	int rc = get_string(p, s, "format", v, 128, "128 bytes", &t);
	if (rc)
		return rc;
	static const char *const iso[] = {"strict_date_optional_time", "date_optional_time",
	                                  "strict_date_optional_time||epoch_millis",
	                                  "date_optional_time||epoch_millis"};
	for (size_t i = 0; i < sizeof iso / sizeof *iso; i++)
		if (!strcmp(t, iso[i])) {
			s->epoch_format = 0;
			return TRAWL_OK;
		}
	if (!strcmp(t, "epoch_millis")) {
		s->epoch_format = 1;
		return TRAWL_OK;
	}
	return perr(p, TRAWL_EINVAL,
	            "%s.%s.format: \"%.64s\" is not supported: only strict_date_optional_time "
	            "and epoch_millis are",
	            PP(s), t);
}

/* An object's member, checked to be an object. */
static int want_object(pctx *p, const aggs_spec *s, const char *key, const json_t *v)
{
	if (!json_is_object(v))
		return perr(p, TRAWL_EINVAL, "%s.%s%s%s: expected an object, got %s", PP(s),
		            key ? "." : "", key ? key : "", jtype(v));
	return TRAWL_OK;
}

static int unknown(pctx *p, const aggs_spec *s, const char *key)
{
	if (!strcmp(key, "script"))
		return perr(p, TRAWL_EINVAL, "%s.%s.script: scripts are not supported", PP(s));
	return perr(p, TRAWL_EINVAL, "%s.%s.%s: unknown parameter of %s", PP(s), key,
	            aggs_kind_name(s->kind));
}

static int need_field(pctx *p, const aggs_spec *s)
{
	if (!s->field)
		return perr(p, TRAWL_EINVAL, "%s.%s: no field given (\"field\": ...)", PP(s));
	return TRAWL_OK;
}

static int parse_terms(pctx *p, aggs_spec *s, json_t *body, json_t **order)
{
	const char *key;
	json_t *v;
	json_object_foreach(body, key, v)
	{
		int rc = TRAWL_OK;
		uint64_t u;
		const char *str = NULL;
		if (!strcmp(key, "field")) {
			rc = get_field(p, s, v);
		} else if (!strcmp(key, "size")) {
			rc = get_u64(p, s, key, v, 1, LIMIT_AGG_BUCKETS, "LIMIT_AGG_BUCKETS", &u);
			s->size = (uint32_t)u;
		} else if (!strcmp(key, "shard_size")) {
			rc = get_u64(p, s, key, v, 0, INT32_MAX, NULL,
			             &u); /* every bucket is sent */
		} else if (!strcmp(key, "min_doc_count")) {
			rc = get_u64(p, s, key, v, 0, INT64_MAX, NULL, &s->min_doc_count);
		} else if (!strcmp(key, "shard_min_doc_count")) {
			rc = get_u64(p, s, key, v, 0, INT64_MAX, NULL, &u);
		} else if (!strcmp(key, "order")) {
			*order = v;
		} else if (!strcmp(key, "missing")) {
			free(s->missing.text);
			s->missing.text = NULL;
			rc = get_lit(p, s, key, v, &s->missing);
			s->has_missing = 1;
		} else if (!strcmp(key, "include")) {
			if (json_is_object(v))
				return perr(p, TRAWL_EINVAL,
				            "%s.%s.include: partitions are not supported: give an "
				            "array of values",
				            PP(s));
			rc = get_lits(p, s, key, v, &s->include, &s->ninclude);
			s->has_include = 1;
		} else if (!strcmp(key, "exclude")) {
			rc = get_lits(p, s, key, v, &s->exclude, &s->nexclude);
		} else if (!strcmp(key, "show_term_doc_count_error")) {
			rc = get_bool(p, s, key, v, &s->show_term_doc_count_error);
		} else if (!strcmp(key, "execution_hint") || !strcmp(key, "collect_mode")) {
			rc = get_string(p, s, key, v, 64, "64 bytes", &str);
		} else {
			rc = unknown(p, s, key);
		}
		if (rc)
			return rc;
	}
	return need_field(p, s);
}

static int range_cmp(const void *a, const void *b)
{
	const aggs_range *x = a, *y = b;
	double xf = x->has_from ? x->from : -INFINITY, yf = y->has_from ? y->from : -INFINITY;
	if (xf != yf)
		return xf < yf ? -1 : 1;
	double xt = x->has_to ? x->to : INFINITY, yt = y->has_to ? y->to : INFINITY;
	if (xt != yt)
		return xt < yt ? -1 : 1;
	return 0;
}

/* Sorts ranges by (from, to), keeping the request's order among equals. */
static void sort_ranges(aggs_range *r, uint32_t n)
{
	for (uint32_t i = 1; i < n; i++) {
		aggs_range x = r[i];
		uint32_t j = i;
		for (; j > 0 && range_cmp(&r[j - 1], &x) > 0; j--)
			r[j] = r[j - 1];
		r[j] = x;
	}
}

static int parse_one_range(pctx *p, aggs_spec *s, json_t *o, uint32_t i, aggs_range *r)
{
	char key[32];
	if (!json_is_object(o))
		return perr(p, TRAWL_EINVAL, "%s.%s.ranges[%u]: expected an object, got %s", PP(s),
		            i, jtype(o));
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v)
	{
		int rc = TRAWL_OK;
		int is_from = !strcmp(k, "from");
		if (is_from || !strcmp(k, "to")) {
			if (json_is_null(v))
				continue;
			snprintf(key, sizeof key, "ranges[%u].%s", i, k);
			double d;
			if (s->kind == AGGS_DATE_RANGE) {
				int64_t ms;
				rc = get_date(p, s, key, v, &ms);
				d = (double)ms;
			} else {
				rc = get_double(p, s, key, v, &d);
			}
			if (rc)
				return rc;
			if (is_from) {
				r->has_from = 1;
				r->from = d;
			} else {
				r->has_to = 1;
				r->to = d;
			}
		} else if (!strcmp(k, "key")) {
			const char *t = NULL;
			snprintf(key, sizeof key, "ranges[%u].key", i);
			rc = get_string(p, s, key, v, LIMIT_AGG_NAME_BYTES, "LIMIT_AGG_NAME_BYTES",
			                &t);
			if (rc)
				return rc;
			free(r->key);
			if (!(r->key = xstrdup(t)))
				return TRAWL_ENOMEM;
		} else {
			return perr(p, TRAWL_EINVAL,
			            "%s.%s.ranges[%u].%s: unknown member of a range (from, "
			            "to, key)",
			            PP(s), i, k);
		}
	}
	return TRAWL_OK;
}

static int parse_range(pctx *p, aggs_spec *s, json_t *body)
{
	const char *key;
	json_t *v;
	json_t *ranges = NULL;
	/* time_zone first: it reads the dates of the ranges */
	if ((v = json_object_get(body, "time_zone")) && s->kind == AGGS_DATE_RANGE) {
		int rc = get_tz(p, s, v);
		if (rc)
			return rc;
	}
	json_object_foreach(body, key, v)
	{
		int rc = TRAWL_OK;
		if (!strcmp(key, "field"))
			rc = get_field(p, s, v);
		else if (!strcmp(key, "ranges"))
			ranges = v;
		else if (!strcmp(key, "keyed"))
			rc = get_bool(p, s, key, v, &s->keyed);
		else if (s->kind == AGGS_DATE_RANGE && !strcmp(key, "time_zone"))
			continue;
		else if (s->kind == AGGS_DATE_RANGE && !strcmp(key, "format"))
			rc = get_format(p, s, v);
		else
			rc = unknown(p, s, key);
		if (rc)
			return rc;
	}
	if (!ranges)
		return perr(p, TRAWL_EINVAL,
		            "%s.%s: no ranges given (\"ranges\": [{\"to\": ...}, ...])", PP(s));
	if (!json_is_array(ranges) || json_array_size(ranges) == 0)
		return perr(p, TRAWL_EINVAL, "%s.%s.ranges: expected a non-empty array, got %s",
		            PP(s), json_is_array(ranges) ? "an empty array" : jtype(ranges));
	size_t n = json_array_size(ranges);
	if (n > LIMIT_AGG_RANGES)
		return perr(p, TRAWL_ELIMIT, "%s.%s.ranges: more than %d ranges (LIMIT_AGG_RANGES)",
		            PP(s), LIMIT_AGG_RANGES);
	if (!(s->ranges = calloc(n, sizeof *s->ranges)))
		return TRAWL_ENOMEM;
	for (s->nranges = 0; s->nranges < n; s->nranges++) {
		int rc = parse_one_range(p, s, json_array_get(ranges, s->nranges), s->nranges,
		                         &s->ranges[s->nranges]);
		if (rc) {
			s->nranges++;
			return rc;
		}
	}
	sort_ranges(s->ranges, s->nranges);
	return need_field(p, s);
}

static int parse_bounds(pctx *p, aggs_spec *s, json_t *v)
{
	int rc = want_object(p, s, "extended_bounds", v);
	if (rc)
		return rc;
	const char *k;
	json_t *x;
	int have = 0;
	json_object_foreach(v, k, x)
	{
		int is_min = !strcmp(k, "min");
		if (!is_min && strcmp(k, "max"))
			return perr(p, TRAWL_EINVAL,
			            "%s.%s.extended_bounds.%s: unknown member (min, max)", PP(s),
			            k);
		char key[32];
		snprintf(key, sizeof key, "extended_bounds.%s", k);
		if (s->kind == AGGS_DATE_HISTOGRAM) {
			rc = get_date(p, s, key, x, is_min ? &s->bmin_ms : &s->bmax_ms);
		} else {
			rc = get_double(p, s, key, x, is_min ? &s->bmin : &s->bmax);
		}
		if (rc)
			return rc;
		have |= is_min ? 1 : 2;
	}
	if (have != 3)
		return perr(p, TRAWL_EINVAL, "%s.%s.extended_bounds: give both min and max", PP(s));
	if (s->kind == AGGS_DATE_HISTOGRAM ? s->bmin_ms > s->bmax_ms : s->bmin > s->bmax)
		return perr(p, TRAWL_EINVAL, "%s.%s.extended_bounds: min is after max", PP(s));
	s->has_bounds = 1;
	return TRAWL_OK;
}

static int parse_interval(pctx *p, aggs_spec *s, const char *key, json_t *v, int calendar)
{
	const char *t = NULL;
	int rc = get_string(p, s, key, v, 64, "64 bytes", &t);
	if (rc)
		return rc;
	if (calendar) {
		static const struct {
			const char *a, *b;
			int cal;
		} cals[] = {{"minute", "1m", AGGS_CAL_MINUTE}, {"hour", "1h", AGGS_CAL_HOUR},
		            {"day", "1d", AGGS_CAL_DAY},       {"week", "1w", AGGS_CAL_WEEK},
		            {"month", "1M", AGGS_CAL_MONTH},   {"quarter", "1q", AGGS_CAL_QUARTER},
		            {"year", "1y", AGGS_CAL_YEAR}};
		for (size_t i = 0; i < sizeof cals / sizeof *cals; i++)
			if (!strcmp(t, cals[i].a) || !strcmp(t, cals[i].b)) {
				s->cal = (uint8_t)cals[i].cal;
				return TRAWL_OK;
			}
		return perr(
		    p, TRAWL_EINVAL,
		    "%s.%s.calendar_interval: \"%.64s\" is not a calendar unit (minute or 1m, "
		    "hour or 1h, day or 1d, week or 1w, month or 1M, quarter or 1q, year or 1y; "
		    "several units are a fixed_interval)",
		    PP(s), t);
	}
	int64_t ms;
	if (duration(t, 0, &ms) != TRAWL_OK || ms <= 0)
		return perr(
		    p, TRAWL_EINVAL,
		    "%s.%s.fixed_interval: \"%.64s\" is not a positive duration (a number and "
		    "ms, s, m, h or d: 30s, 5m, 12h, 7d)",
		    PP(s), t);
	s->fixed_ms = ms;
	s->cal = AGGS_CAL_NONE;
	return TRAWL_OK;
}

static int parse_histogram(pctx *p, aggs_spec *s, json_t *body, json_t **order)
{
	const char *key;
	json_t *v;
	int have_interval = 0;
	int date = s->kind == AGGS_DATE_HISTOGRAM;
	json_t *bounds = NULL;
	if (date && (v = json_object_get(body, "time_zone"))) {
		int rc = get_tz(p, s, v);
		if (rc)
			return rc;
	}
	json_object_foreach(body, key, v)
	{
		int rc = TRAWL_OK;
		if (!strcmp(key, "field")) {
			rc = get_field(p, s, v);
		} else if (!strcmp(key, "min_doc_count")) {
			rc = get_u64(p, s, key, v, 0, INT64_MAX, NULL, &s->min_doc_count);
		} else if (!strcmp(key, "extended_bounds")) {
			bounds = v;
		} else if (!strcmp(key, "keyed")) {
			rc = get_bool(p, s, key, v, &s->keyed);
		} else if (!strcmp(key, "order")) {
			*order = v;
		} else if (!date && !strcmp(key, "interval")) {
			rc = get_double(p, s, key, v, &s->interval);
			if (!rc && s->interval <= 0)
				rc =
				    perr(p, TRAWL_EINVAL, "%s.%s.interval: must be above 0", PP(s));
			have_interval = 1;
		} else if (!date && !strcmp(key, "offset")) {
			rc = get_double(p, s, key, v, &s->offset);
		} else if (date && !strcmp(key, "interval")) {
			rc = perr(
			    p, TRAWL_EINVAL,
			    "%s.%s.interval: deprecated in Elasticsearch and not supported: use "
			    "fixed_interval or calendar_interval",
			    PP(s));
		} else if (date &&
		           (!strcmp(key, "fixed_interval") || !strcmp(key, "calendar_interval"))) {
			if (have_interval)
				return perr(
				    p, TRAWL_EINVAL,
				    "%s.%s: give one of fixed_interval and calendar_interval",
				    PP(s));
			rc = parse_interval(p, s, key, v, key[0] == 'c');
			have_interval = 1;
		} else if (date && !strcmp(key, "time_zone")) {
			continue;
		} else if (date && !strcmp(key, "offset")) {
			if (json_is_integer(v)) {
				json_int_t x = json_integer_value(v);
				if (x < -AGGS_MS_MAX || x > AGGS_MS_MAX)
					rc = perr(p, TRAWL_EINVAL, "%s.%s.offset: beyond +-%lld ms",
					          PP(s), AGGS_MS_MAX);
				s->offset_ms = x;
			} else if (!json_is_string(v) ||
			           duration(json_string_value(v), 1, &s->offset_ms) != TRAWL_OK) {
				rc = perr(p, TRAWL_EINVAL,
				          "%s.%s.offset: expected a duration (+6h, -30m, 1d) or "
				          "milliseconds",
				          PP(s));
			}
		} else if (date && !strcmp(key, "format")) {
			rc = get_format(p, s, v);
		} else {
			rc = unknown(p, s, key);
		}
		if (rc)
			return rc;
	}
	if (!have_interval)
		return perr(p, TRAWL_EINVAL, "%s.%s: no interval given (%s)", PP(s),
		            date ? "fixed_interval or calendar_interval" : "interval");
	if (bounds) {
		int rc = parse_bounds(p, s, bounds);
		if (rc)
			return rc;
	}
	return need_field(p, s);
}

/* Lower-case hex of n bytes, and back. */
static char *hex_of(const uint8_t *b, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	char *s = malloc(2 * n + 1);
	if (!s)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		s[2 * i] = hx[b[i] >> 4];
		s[2 * i + 1] = hx[b[i] & 15];
	}
	s[2 * n] = 0;
	return s;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* One query of filter or filters into s->fbytes[i]. */
static int compile_one(pctx *p, aggs_spec *s, const char *what, json_t *q, uint32_t i)
{
	if (p->canonical) {
		if (!json_is_string(q) || json_string_length(q) % 2)
			return perr(p, TRAWL_EINVAL, "%s.%s: expected the query's bytes in hex",
			            s->path, what);
		size_t n = json_string_length(q) / 2;
		const char *h = json_string_value(q);
		if (!(s->fbytes[i] = malloc(n ? n : 1)))
			return TRAWL_ENOMEM;
		s->flens[i] = n;
		for (size_t j = 0; j < n; j++) {
			int a = hexval(h[2 * j]), b = hexval(h[2 * j + 1]);
			if (a < 0 || b < 0)
				return perr(p, TRAWL_EINVAL,
				            "%s.%s: expected the query's bytes in hex", s->path,
				            what);
			s->fbytes[i][j] = (uint8_t)(a << 4 | b);
		}
		return TRAWL_OK;
	}
	if (!json_is_object(q))
		return perr(p, TRAWL_EINVAL, "%s.%s: expected a query object, got %s", s->path,
		            what, jtype(q));
	if (!p->compile)
		return perr(p, TRAWL_EINVAL,
		            "%s.%s: queries in aggregations are not supported here", s->path, what);
	void *out = NULL;
	size_t len = 0;
	char why[512] = "";
	int rc = p->compile(p->cctx, q, &out, &len, why, sizeof why);
	if (rc)
		return perr(p, rc, "%s.%s: %s", s->path, what, why);
	s->fbytes[i] = out;
	s->flens[i] = len;
	return TRAWL_OK;
}

static int alloc_filters(aggs_spec *s, size_t n, int named)
{
	s->fbytes = calloc(n ? n : 1, sizeof *s->fbytes);
	s->flens = calloc(n ? n : 1, sizeof *s->flens);
	if (named)
		s->fnames = calloc(n ? n : 1, sizeof *s->fnames);
	return s->fbytes && s->flens && (!named || s->fnames) ? TRAWL_OK : TRAWL_ENOMEM;
}

static int parse_filter(pctx *p, aggs_spec *s, json_t *body)
{
	int rc = alloc_filters(s, 1, 0);
	if (rc)
		return rc;
	s->nfilters = 1;
	return compile_one(p, s, "filter", body, 0);
}

static int parse_filters(pctx *p, aggs_spec *s, json_t *body)
{
	const char *key;
	json_t *v, *qs = NULL;
	json_object_foreach(body, key, v)
	{
		int rc = TRAWL_OK;
		if (!strcmp(key, "filters")) {
			qs = v;
		} else if (!strcmp(key, "other_bucket")) {
			rc = get_bool(p, s, key, v, &s->other_bucket);
		} else if (!strcmp(key, "other_bucket_key")) {
			const char *t = NULL;
			rc = get_string(p, s, key, v, LIMIT_AGG_NAME_BYTES, "LIMIT_AGG_NAME_BYTES",
			                &t);
			if (!rc) {
				free(s->other_key);
				if (!(s->other_key = xstrdup(t)))
					return TRAWL_ENOMEM;
			}
		} else {
			rc = unknown(p, s, key);
		}
		if (rc)
			return rc;
	}
	if (json_object_get(body, "other_bucket_key") && !json_object_get(body, "other_bucket"))
		s->other_bucket = 1; /* as Elasticsearch: a key asks for the bucket */
	if (!s->other_key && !(s->other_key = xstrdup("_other_")))
		return TRAWL_ENOMEM;
	if (!qs)
		return perr(p, TRAWL_EINVAL,
		            "%s.filters: no filters given (\"filters\": {\"name\": "
		            "query, ...})",
		            s->path);
	int named = json_is_object(qs);
	if (!named && !json_is_array(qs))
		return perr(p, TRAWL_EINVAL,
		            "%s.filters.filters: expected an object or an array, got %s", s->path,
		            jtype(qs));
	size_t n = named ? json_object_size(qs) : json_array_size(qs);
	if (n == 0)
		return perr(p, TRAWL_EINVAL, "%s.filters.filters: no query given", s->path);
	if (n > LIMIT_AGG_FILTERS)
		return perr(p, TRAWL_ELIMIT,
		            "%s.filters.filters: more than %d queries (LIMIT_AGG_FILTERS)", s->path,
		            LIMIT_AGG_FILTERS);
	int rc = alloc_filters(s, n, named);
	if (rc)
		return rc;
	char what[LIMIT_AGG_NAME_BYTES + 32];
	if (named) {
		json_object_foreach(qs, key, v)
		{
			if (strlen(key) > LIMIT_AGG_NAME_BYTES)
				return perr(p, TRAWL_ELIMIT,
				            "%s.filters.filters: a name longer than %d bytes "
				            "(LIMIT_AGG_NAME_BYTES)",
				            s->path, LIMIT_AGG_NAME_BYTES);
			if (!(s->fnames[s->nfilters] = xstrdup(key)))
				return TRAWL_ENOMEM;
			snprintf(what, sizeof what, "filters.filters.%s", key);
			s->nfilters++;
			if ((rc = compile_one(p, s, what, v, s->nfilters - 1)))
				return rc;
		}
	} else {
		for (size_t i = 0; i < n; i++) {
			snprintf(what, sizeof what, "filters.filters[%zu]", i);
			s->nfilters++;
			if ((rc = compile_one(p, s, what, json_array_get(qs, i), (uint32_t)i)))
				return rc;
		}
	}
	/* named queries by name, as Elasticsearch orders them */
	for (uint32_t i = 1; named && i < s->nfilters; i++)
		for (uint32_t j = i; j > 0 && strcmp(s->fnames[j - 1], s->fnames[j]) > 0; j--) {
			char *t = s->fnames[j];
			s->fnames[j] = s->fnames[j - 1];
			s->fnames[j - 1] = t;
			uint8_t *b = s->fbytes[j];
			s->fbytes[j] = s->fbytes[j - 1];
			s->fbytes[j - 1] = b;
			size_t l = s->flens[j];
			s->flens[j] = s->flens[j - 1];
			s->flens[j - 1] = l;
		}
	return TRAWL_OK;
}

static int parse_metric(pctx *p, aggs_spec *s, json_t *body)
{
	const char *key;
	json_t *v;
	json_t *percents = NULL;
	json_object_foreach(body, key, v)
	{
		int rc = TRAWL_OK;
		uint64_t u;
		if (!strcmp(key, "field"))
			rc = get_field(p, s, v);
		else if (s->kind == AGGS_CARDINALITY && !strcmp(key, "precision_threshold"))
			rc = get_u64(p, s, key, v, 0, INT64_MAX, NULL, &u); /* exact: ignored */
		else if (s->kind == AGGS_PERCENTILES && !strcmp(key, "percents"))
			percents = v;
		else if (s->kind == AGGS_PERCENTILES && !strcmp(key, "keyed"))
			rc = get_bool(p, s, key, v, &s->keyed);
		else if (s->kind == AGGS_PERCENTILES && !strcmp(key, "tdigest"))
			rc = want_object(p, s, key, v); /* exact: a compression is ignored */
		else
			rc = unknown(p, s, key);
		if (rc)
			return rc;
	}
	if (s->kind == AGGS_PERCENTILES) {
		static const double def[] = {1, 5, 25, 50, 75, 95, 99};
		size_t n = 7;
		if (percents) {
			if (!json_is_array(percents) || json_array_size(percents) == 0)
				return perr(p, TRAWL_EINVAL,
				            "%s.%s.percents: expected a non-empty array of numbers",
				            PP(s));
			n = json_array_size(percents);
			if (n > LIMIT_AGG_PERCENTS)
				return perr(
				    p, TRAWL_ELIMIT,
				    "%s.%s.percents: more than %d percents (LIMIT_AGG_PERCENTS)",
				    PP(s), LIMIT_AGG_PERCENTS);
		}
		if (!(s->percents = calloc(n, sizeof *s->percents)))
			return TRAWL_ENOMEM;
		s->npercents = (uint32_t)n;
		for (size_t i = 0; i < n; i++) {
			if (!percents) {
				s->percents[i] = def[i];
				continue;
			}
			char k[32];
			snprintf(k, sizeof k, "percents[%zu]", i);
			int rc = get_double(p, s, k, json_array_get(percents, i), &s->percents[i]);
			if (rc)
				return rc;
			if (s->percents[i] < 0 || s->percents[i] > 100)
				return perr(p, TRAWL_EINVAL, "%s.%s.%s: %g is not within 0 to 100",
				            PP(s), k, s->percents[i]);
		}
	}
	return need_field(p, s);
}

static int parse_missing(pctx *p, aggs_spec *s, json_t *body)
{
	const char *key;
	json_t *v;
	json_object_foreach(body, key, v)
	{
		int rc = !strcmp(key, "field") ? get_field(p, s, v) : unknown(p, s, key);
		if (rc)
			return rc;
	}
	return need_field(p, s);
}

/* The sub-aggregation an order names, with its statistic. */
static int order_metric(pctx *p, aggs_spec *s, const char *name, aggs_order *o)
{
	const char *dot = strrchr(name, '.');
	for (int pass = 0; pass < 2; pass++) {
		size_t n = pass == 0 ? strlen(name) : dot ? (size_t)(dot - name) : 0;
		if (pass == 1 && !dot)
			break;
		for (uint32_t i = 0; i < s->nsubs; i++) {
			const aggs_spec *m = &s->subs[i];
			if (strlen(m->name) != n || memcmp(m->name, name, n))
				continue;
			const char *stat = pass ? dot + 1 : NULL;
			o->by = AGGS_ORDER_METRIC;
			o->sub = i;
			switch (m->kind) {
			case AGGS_MIN:
			case AGGS_MAX:
			case AGGS_SUM:
			case AGGS_AVG:
			case AGGS_VALUE_COUNT:
			case AGGS_CARDINALITY:
				if (stat && strcmp(stat, "value"))
					break;
				o->stat = AGGS_STAT_VALUE;
				return TRAWL_OK;
			case AGGS_STATS: {
				static const char *const st[] = {"count", "min", "max", "avg",
				                                 "sum"};
				for (int k = 0; stat && k < 5; k++)
					if (!strcmp(stat, st[k])) {
						o->stat = (uint8_t)(AGGS_STAT_COUNT + k);
						return TRAWL_OK;
					}
				return perr(
				    p, TRAWL_EINVAL,
				    "%s.%s.order: \"%.160s\": name a statistic of the stats "
				    "(%s.count, .min, .max, .avg or .sum)",
				    PP(s), name, m->name);
			}
			case AGGS_PERCENTILES: {
				char *end = NULL;
				double pc = stat ? strtod(stat, &end) : NAN;
				for (uint32_t k = 0; stat && end && !*end && k < m->npercents; k++)
					if (m->percents[k] == pc) {
						o->stat = AGGS_STAT_PERCENT;
						o->pct = k;
						return TRAWL_OK;
					}
				return perr(p, TRAWL_EINVAL,
				            "%s.%s.order: \"%.160s\": name one of the percentiles' "
				            "percents "
				            "(as %s.50)",
				            PP(s), name, m->name);
			}
			default:
				return perr(
				    p, TRAWL_EINVAL,
				    "%s.%s.order: \"%.160s\" is a %s: an order names a metric "
				    "sub-aggregation",
				    PP(s), name, aggs_kind_name(m->kind));
			}
		}
	}
	return perr(p, TRAWL_EINVAL,
	            "%s.%s.order: \"%.160s\" is not _count, _key or a metric sub-aggregation",
	            PP(s), name);
}

static int parse_order_one(pctx *p, aggs_spec *s, json_t *o)
{
	if (!json_is_object(o) || json_object_size(o) != 1)
		return perr(p, TRAWL_EINVAL,
		            "%s.%s.order: expected {\"_count\": \"desc\"}, {\"_key\": \"asc\"}, "
		            "{\"metric\": ...} or an array of them",
		            PP(s));
	if (s->norder == LIMIT_AGG_ORDER_KEYS)
		return perr(p, TRAWL_ELIMIT,
		            "%s.%s.order: more than %d keys (LIMIT_AGG_ORDER_KEYS)", PP(s),
		            LIMIT_AGG_ORDER_KEYS);
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v)
	{
		aggs_order *x = &s->order[s->norder];
		memset(x, 0, sizeof *x);
		const char *d = json_string_value(v);
		if (!d || (strcasecmp(d, "asc") && strcasecmp(d, "desc")))
			return perr(p, TRAWL_EINVAL,
			            "%s.%s.order.%.160s: expected \"asc\" or \"desc\"", PP(s), k);
		x->desc = !strcasecmp(d, "desc");
		if (!strcmp(k, "_count")) {
			x->by = AGGS_ORDER_COUNT;
		} else if (!strcmp(k, "_key") || (s->kind == AGGS_TERMS && !strcmp(k, "_term"))) {
			x->by = AGGS_ORDER_KEY;
		} else {
			int rc = order_metric(p, s, k, x);
			if (rc)
				return rc;
		}
	}
	s->norder++;
	return TRAWL_OK;
}

static int parse_order(pctx *p, aggs_spec *s, json_t *order)
{
	s->norder = 0;
	if (order && json_is_array(order)) {
		if (json_array_size(order) == 0)
			return perr(p, TRAWL_EINVAL, "%s.%s.order: an empty array", PP(s));
		for (size_t i = 0; i < json_array_size(order); i++) {
			int rc = parse_order_one(p, s, json_array_get(order, i));
			if (rc)
				return rc;
		}
	} else if (order) {
		int rc = parse_order_one(p, s, order);
		if (rc)
			return rc;
	} else {
		s->norder = 1;
		memset(s->order, 0, sizeof s->order[0]);
		s->order[0].by = s->kind == AGGS_TERMS ? AGGS_ORDER_COUNT : AGGS_ORDER_KEY;
		s->order[0].desc = s->kind == AGGS_TERMS;
	}
	return TRAWL_OK;
}

static int parse_aggs(pctx *p, aggs_spec *parent, const json_t *aggs, uint32_t depth);

static int name_ok(pctx *p, const aggs_spec *parent, const char *name)
{
	size_t n = strlen(name);
	if (n == 0)
		return perr(p, TRAWL_EINVAL, "%s: an aggregation has an empty name", parent->path);
	if (n > LIMIT_AGG_NAME_BYTES)
		return perr(p, TRAWL_ELIMIT,
		            "%s: the name \"%.32s...\" is longer than %d bytes "
		            "(LIMIT_AGG_NAME_BYTES)",
		            parent->path, name, LIMIT_AGG_NAME_BYTES);
	if (strpbrk(name, "[]>"))
		return perr(
		    p, TRAWL_EINVAL,
		    "%s: the name \"%s\" holds '[', ']' or '>', which aggregation names may not",
		    parent->path, name);
	return TRAWL_OK;
}

static int parse_node(pctx *p, const aggs_spec *parent, aggs_spec *s, const char *name, json_t *v,
                      uint32_t depth)
{
	int rc = name_ok(p, parent, name);
	if (rc)
		return rc;
	size_t plen = strlen(parent->path) + strlen(name) + 8;
	if (!(s->name = xstrdup(name)) || !(s->path = malloc(plen)))
		return TRAWL_ENOMEM;
	snprintf(s->path, plen, "%s.%s%s", parent->path, parent->kind == AGGS_ROOT ? "" : "aggs.",
	         name);
	if (!json_is_object(v))
		return perr(p, TRAWL_EINVAL,
		            "%s: expected an object with the aggregation's type, as {\"terms\": "
		            "{\"field\": ...}}, got %s",
		            s->path, jtype(v));
	const char *key, *tname = NULL;
	json_t *x, *body = NULL, *subs = NULL;
	json_object_foreach(v, key, x)
	{
		if (!strcmp(key, "aggs") || !strcmp(key, "aggregations")) {
			if (subs)
				return perr(p, TRAWL_EINVAL, "%s: both aggs and aggregations",
				            s->path);
			subs = x;
			continue;
		}
		int k = kind_parse(key);
		if (k < 0)
			return perr(p, TRAWL_EINVAL, "%s: unknown aggregation type \"%.64s\"%s",
			            s->path, key,
			            !strcmp(key, "meta")
			                ? " (meta is not supported)"
			                : " (terms, range, date_range, histogram, "
			                  "date_histogram, filter, filters, missing, min, "
			                  "max, sum, avg, stats, value_count, cardinality, "
			                  "percentiles)");
		if (tname)
			return perr(p, TRAWL_EINVAL, "%s: two aggregation types, %s and %s",
			            s->path, tname, key);
		tname = key;
		body = x;
		s->kind = (aggs_kind)k;
	}
	if (!tname)
		return perr(p, TRAWL_EINVAL,
		            "%s: no aggregation type (as {\"terms\": {\"field\": ...}})", s->path);
	if (s->kind != AGGS_FILTER && (rc = want_object(p, s, NULL, body)))
		return rc;
	json_t *order = NULL;
	switch (s->kind) {
	case AGGS_TERMS:
		s->size = 10;
		s->min_doc_count = 1;
		rc = parse_terms(p, s, body, &order);
		break;
	case AGGS_RANGE:
	case AGGS_DATE_RANGE:
		rc = parse_range(p, s, body);
		break;
	case AGGS_HISTOGRAM:
	case AGGS_DATE_HISTOGRAM:
		rc = parse_histogram(p, s, body, &order);
		break;
	case AGGS_FILTER:
		rc = parse_filter(p, s, body);
		break;
	case AGGS_FILTERS:
		s->keyed = 1;
		rc = parse_filters(p, s, body);
		s->keyed = s->fnames != NULL;
		break;
	case AGGS_MISSING:
		rc = parse_missing(p, s, body);
		break;
	default:
		s->keyed = 1;
		rc = parse_metric(p, s, body);
		break;
	}
	if (rc)
		return rc;
	if (subs) {
		if (aggs_is_metric(s->kind))
			return perr(p, TRAWL_EINVAL,
			            "%s: %s is a metric: it takes no sub-aggregations", s->path,
			            tname);
		if ((rc = parse_aggs(p, s, subs, depth + 1)))
			return rc;
	}
	if (s->kind == AGGS_TERMS || s->kind == AGGS_HISTOGRAM || s->kind == AGGS_DATE_HISTOGRAM)
		return parse_order(p, s, order);
	return TRAWL_OK;
}

static int parse_aggs(pctx *p, aggs_spec *parent, const json_t *aggs, uint32_t depth)
{
	if (!json_is_object(aggs))
		return perr(p, TRAWL_EINVAL,
		            "%s%s: expected an object of named aggregations, got %s", parent->path,
		            parent->kind == AGGS_ROOT ? "" : ".aggs", jtype(aggs));
	size_t n = json_object_size(aggs);
	if (n == 0)
		return TRAWL_OK;
	if (depth > LIMIT_AGG_DEPTH)
		return perr(p, TRAWL_ELIMIT,
		            "%s: aggregations nest more than %d deep (LIMIT_AGG_DEPTH)",
		            parent->path, LIMIT_AGG_DEPTH);
	if (n > LIMIT_AGG_NODES || p->nodes + n > LIMIT_AGG_NODES)
		return perr(p, TRAWL_ELIMIT,
		            "%s: more than %d aggregations in the request "
		            "(LIMIT_AGG_NODES)",
		            parent->path, LIMIT_AGG_NODES);
	p->nodes += (uint32_t)n;
	if (!(parent->subs = calloc(n, sizeof *parent->subs)))
		return TRAWL_ENOMEM;
	const char *name;
	json_t *v;
	json_object_foreach((json_t *)aggs, name, v)
	{
		parent->nsubs++;
		int rc = parse_node(p, parent, &parent->subs[parent->nsubs - 1], name, v, depth);
		if (rc)
			return rc;
	}
	return TRAWL_OK;
}

static int parse_root(pctx *p, const json_t *aggs, aggs_spec **out)
{
	*out = NULL;
	aggs_spec *s = calloc(1, sizeof *s);
	if (!s || !(s->name = xstrdup("")) || !(s->path = xstrdup("aggs"))) {
		aggs_spec_free(s);
		return errf(p->err, p->errlen, TRAWL_ENOMEM, "aggs: out of memory");
	}
	s->kind = AGGS_ROOT;
	int rc = parse_aggs(p, s, aggs, 1);
	if (rc) {
		if (rc == TRAWL_ENOMEM)
			errf(p->err, p->errlen, rc, "aggs: out of memory");
		aggs_spec_free(s);
		return rc;
	}
	*out = s;
	return TRAWL_OK;
}

int aggs_parse(const json_t *aggs, aggs_compile_fn compile, void *ctx, aggs_spec **out, char *err,
               size_t errlen)
{
	pctx p = {compile, ctx, 0, 0, err, errlen};
	int rc = parse_root(&p, aggs, out);
	if (rc)
		return rc;
	/* the canonical form must fit what a root may send its leaves */
	char *text;
	size_t len;
	rc = aggs_spec_write(*out, &text, &len);
	if (rc) {
		aggs_spec_free(*out);
		*out = NULL;
		if (rc == TRAWL_ELIMIT)
			return errf(
			    err, errlen, rc,
			    "aggs: the aggregations take more than %u bytes in canonical form, "
			    "their queries included (LIMIT_AGG_SPEC_BYTES)",
			    LIMIT_AGG_SPEC_BYTES);
		return errf(err, errlen, rc, "aggs: out of memory");
	}
	free(text);
	return TRAWL_OK;
}

int aggs_spec_read(const char *json, size_t len, aggs_spec **out, char *err, size_t errlen)
{
	*out = NULL;
	if (len > LIMIT_AGG_SPEC_BYTES)
		return errf(err, errlen, TRAWL_ELIMIT,
		            "aggs: a spec of more than %u bytes "
		            "(LIMIT_AGG_SPEC_BYTES)",
		            LIMIT_AGG_SPEC_BYTES);
	json_error_t je;
	json_t *j = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return errf(err, errlen, TRAWL_EJSON, "aggs: the spec is not JSON: %s (column %d)",
		            je.text, je.column);
	pctx p = {NULL, NULL, 1, 0, err, errlen};
	int rc = parse_root(&p, j, out);
	json_decref(j);
	return rc;
}

/* ---- freeing ---- */

static void lits_free(aggs_lit *l, uint32_t n)
{
	for (uint32_t i = 0; l && i < n; i++)
		free(l[i].text);
	free(l);
}

static void spec_fini(aggs_spec *s)
{
	for (uint32_t i = 0; i < s->nsubs; i++)
		spec_fini(&s->subs[i]);
	free(s->subs);
	free(s->name);
	free(s->path);
	free(s->field);
	free(s->missing.text);
	lits_free(s->include, s->ninclude);
	lits_free(s->exclude, s->nexclude);
	for (uint32_t i = 0; i < s->nranges; i++)
		free(s->ranges[i].key);
	free(s->ranges);
	for (uint32_t i = 0; i < s->nfilters; i++) {
		if (s->fnames)
			free(s->fnames[i]);
		free(s->fbytes[i]);
	}
	free(s->fnames);
	free(s->fbytes);
	free(s->flens);
	free(s->other_key);
	free(s->percents);
}

void aggs_spec_free(aggs_spec *spec)
{
	if (!spec)
		return;
	spec_fini(spec);
	free(spec);
}

/* ---- canonical JSON ---- */

/* json_object_set_new that remembers a failure. */
static void put(json_t *o, const char *k, json_t *v, int *bad)
{
	if (!v || json_object_set_new(o, k, v))
		*bad = 1;
}

static void push(json_t *a, json_t *v, int *bad)
{
	if (!v || json_array_append_new(a, v))
		*bad = 1;
}

static json_t *lits_json(const aggs_lit *l, uint32_t n, int *bad)
{
	json_t *a = json_array();
	for (uint32_t i = 0; a && i < n; i++)
		push(a, json_stringn(l[i].text, l[i].len), bad);
	return a;
}

static json_t *date_json(int64_t ms)
{
	return json_integer((json_int_t)ms);
}

static json_t *order_json(const aggs_spec *s, int *bad)
{
	static const char *const st[] = {"", "count", "min", "max", "avg", "sum"};
	json_t *a = json_array();
	for (uint32_t i = 0; a && i < s->norder; i++) {
		const aggs_order *o = &s->order[i];
		char k[LIMIT_AGG_NAME_BYTES + 64];
		if (o->by == AGGS_ORDER_COUNT) {
			snprintf(k, sizeof k, "_count");
		} else if (o->by == AGGS_ORDER_KEY) {
			snprintf(k, sizeof k, "_key");
		} else if (o->stat == AGGS_STAT_VALUE) {
			snprintf(k, sizeof k, "%s", s->subs[o->sub].name);
		} else if (o->stat == AGGS_STAT_PERCENT) {
			snprintf(k, sizeof k, "%s.%.17g", s->subs[o->sub].name,
			         s->subs[o->sub].percents[o->pct]);
		} else {
			snprintf(k, sizeof k, "%s.%s", s->subs[o->sub].name, st[o->stat]);
		}
		json_t *x = json_object();
		if (x)
			put(x, k, json_string(o->desc ? "desc" : "asc"), bad);
		push(a, x, bad);
	}
	return a;
}

static char *tz_text(int32_t tz, char *buf)
{
	unsigned a = (unsigned)(tz < 0 ? -tz : tz);
	snprintf(buf, 16, "%c%02u:%02u", tz < 0 ? '-' : '+', a / 60, a % 60);
	return buf;
}

static json_t *spec_json(const aggs_spec *s, int *bad);

static json_t *body_json(const aggs_spec *s, int *bad)
{
	json_t *b = json_object();
	if (!b)
		return NULL;
	char buf[64];
	if (s->field)
		put(b, "field", json_string(s->field), bad);
	switch (s->kind) {
	case AGGS_TERMS:
		put(b, "size", json_integer(s->size), bad);
		put(b, "min_doc_count", json_integer((json_int_t)s->min_doc_count), bad);
		put(b, "order", order_json(s, bad), bad);
		if (s->has_missing)
			put(b, "missing", json_stringn(s->missing.text, s->missing.len), bad);
		if (s->has_include)
			put(b, "include", lits_json(s->include, s->ninclude, bad), bad);
		if (s->nexclude)
			put(b, "exclude", lits_json(s->exclude, s->nexclude, bad), bad);
		put(b, "show_term_doc_count_error", json_boolean(s->show_term_doc_count_error),
		    bad);
		break;
	case AGGS_RANGE:
	case AGGS_DATE_RANGE: {
		json_t *a = json_array();
		for (uint32_t i = 0; a && i < s->nranges; i++) {
			const aggs_range *r = &s->ranges[i];
			json_t *o = json_object();
			if (o && r->has_from)
				put(o, "from",
				    s->kind == AGGS_DATE_RANGE ? date_json((int64_t)r->from)
				                               : json_real(r->from),
				    bad);
			if (o && r->has_to)
				put(o, "to",
				    s->kind == AGGS_DATE_RANGE ? date_json((int64_t)r->to)
				                               : json_real(r->to),
				    bad);
			if (o && r->key)
				put(o, "key", json_string(r->key), bad);
			push(a, o, bad);
		}
		put(b, "ranges", a, bad);
		put(b, "keyed", json_boolean(s->keyed), bad);
		if (s->kind == AGGS_DATE_RANGE) {
			put(b, "time_zone", json_string(tz_text(s->tz_min, buf)), bad);
			put(b, "format",
			    json_string(s->epoch_format ? "epoch_millis"
			                                : "strict_date_optional_time"),
			    bad);
		}
		break;
	}
	case AGGS_HISTOGRAM:
	case AGGS_DATE_HISTOGRAM:
		if (s->kind == AGGS_HISTOGRAM) {
			put(b, "interval", json_real(s->interval), bad);
			put(b, "offset", json_real(s->offset), bad);
		} else {
			static const char *const cal[] = {"",     "minute", "hour",    "day",
			                                  "week", "month",  "quarter", "year"};
			if (s->cal == AGGS_CAL_NONE) {
				snprintf(buf, sizeof buf, "%lldms", (long long)s->fixed_ms);
				put(b, "fixed_interval", json_string(buf), bad);
			} else {
				put(b, "calendar_interval", json_string(cal[s->cal]), bad);
			}
			put(b, "time_zone", json_string(tz_text(s->tz_min, buf)), bad);
			put(b, "offset", json_integer((json_int_t)s->offset_ms), bad);
			put(b, "format",
			    json_string(s->epoch_format ? "epoch_millis"
			                                : "strict_date_optional_time"),
			    bad);
		}
		put(b, "min_doc_count", json_integer((json_int_t)s->min_doc_count), bad);
		if (s->has_bounds) {
			json_t *o = json_object();
			if (o && s->kind == AGGS_HISTOGRAM) {
				put(o, "min", json_real(s->bmin), bad);
				put(o, "max", json_real(s->bmax), bad);
			} else if (o) {
				put(o, "min", date_json(s->bmin_ms), bad);
				put(o, "max", date_json(s->bmax_ms), bad);
			}
			put(b, "extended_bounds", o, bad);
		}
		put(b, "keyed", json_boolean(s->keyed), bad);
		put(b, "order", order_json(s, bad), bad);
		break;
	case AGGS_FILTERS: {
		json_t *q = s->fnames ? json_object() : json_array();
		for (uint32_t i = 0; q && i < s->nfilters; i++) {
			json_t *h = NULL;
			char *x = hex_of(s->fbytes[i], s->flens[i]);
			if (x)
				h = json_string(x);
			free(x);
			if (s->fnames)
				put(q, s->fnames[i], h, bad);
			else
				push(q, h, bad);
		}
		put(b, "filters", q, bad);
		put(b, "other_bucket", json_boolean(s->other_bucket), bad);
		put(b, "other_bucket_key", json_string(s->other_key), bad);
		break;
	}
	case AGGS_PERCENTILES: {
		json_t *a = json_array();
		for (uint32_t i = 0; a && i < s->npercents; i++)
			push(a, json_real(s->percents[i]), bad);
		put(b, "percents", a, bad);
		put(b, "keyed", json_boolean(s->keyed), bad);
		break;
	}
	default:
		break;
	}
	return b;
}

static json_t *spec_json(const aggs_spec *s, int *bad)
{
	json_t *aggs = json_object();
	for (uint32_t i = 0; aggs && i < s->nsubs; i++) {
		const aggs_spec *c = &s->subs[i];
		json_t *o = json_object();
		if (o && c->kind == AGGS_FILTER) {
			char *x = hex_of(c->fbytes[0], c->flens[0]);
			put(o, "filter", x ? json_string(x) : NULL, bad);
			free(x);
		} else if (o) {
			put(o, aggs_kind_name(c->kind), body_json(c, bad), bad);
		}
		if (o && c->nsubs)
			put(o, "aggs", spec_json(c, bad), bad);
		put(aggs, c->name, o, bad);
	}
	return aggs;
}

int aggs_spec_write(const aggs_spec *spec, char **out, size_t *len)
{
	*out = NULL;
	int bad = 0;
	json_t *j = spec_json(spec, &bad);
	char *t = j && !bad ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
	json_decref(j);
	if (!t)
		return TRAWL_ENOMEM;
	*len = strlen(t);
	if (*len > LIMIT_AGG_SPEC_BYTES) {
		free(t);
		return TRAWL_ELIMIT;
	}
	*out = t;
	return TRAWL_OK;
}
