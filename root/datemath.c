/*
 * datemath.c - OpenSearch's dates in a range, resolved at the root (see
 * datemath.h).
 *
 * A date is read into its fields (year .. millisecond, and a zone if it has
 * one) by one of the formats; missing fields are filled (0, or OpenSearch's
 * round-up values), the fields become milliseconds in the zone, and date
 * math then adds and rounds in local time (the UTC milliseconds plus the
 * zone's fixed offset): a month is a calendar month, day-of-month clamped
 * as java.time clamps it (2024-01-31||+1M is 2024-02-29), a week rounds to
 * Monday. Every intermediate value is kept within LIMIT_DATE_MS, so no
 * arithmetic overflows whatever the input.
 */
#include "root/datemath.h"

#include <stdio.h>
#include <string.h>

#include "common/civil.h"
#include "common/limits.h"
#include "trawl/trawl.h"

#define DAY_MS 86400000LL

static int dm_fail(char *why, size_t whylen, const char *msg)
{
	if (why && whylen)
		snprintf(why, whylen, "%s", msg);
	return TRAWL_EQUERY;
}

/* ---- the calendar (proleptic Gregorian, Howard Hinnant's algorithms) ---- */

static unsigned month_days(int64_t y, unsigned m)
{
	static const unsigned md[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return md[m - 1] + (m == 2 && civil_leap(y));
}

/* floor division of ms into days, and the rest */
static int64_t day_of(int64_t ms, int64_t *rest)
{
	int64_t d = ms / DAY_MS;
	if (ms % DAY_MS < 0)
		d--;
	*rest = ms - d * DAY_MS;
	return d;
}

static int in_range(int64_t ms)
{
	return ms >= -LIMIT_DATE_MS && ms <= LIMIT_DATE_MS;
}

size_t dm_format_ms(int64_t ms, char out[32])
{
	int64_t rest, y;
	unsigned m, d;
	int64_t days = day_of(ms, &rest);
	civil_date(days, &y, &m, &d);
	if (y < 0 || y > 9999)
		return (size_t)snprintf(out, 32, "%lld", (long long)ms);
	return (size_t)snprintf(out, 32, "%04d-%02u-%02uT%02u:%02u:%02u.%03uZ", (int)y, m, d,
	                        (unsigned)(rest / 3600000), (unsigned)(rest / 60000 % 60),
	                        (unsigned)(rest / 1000 % 60), (unsigned)(rest % 1000));
}

/* ---- formats ---- */

/* Named formats that are patterns. */
static const struct {
	const char *name, *pattern;
} named[] = {
    {"date", "yyyy-MM-dd"},
    {"strict_date", "yyyy-MM-dd"},
    {"year_month_day", "yyyy-MM-dd"},
    {"strict_year_month_day", "yyyy-MM-dd"},
    {"year_month", "yyyy-MM"},
    {"strict_year_month", "yyyy-MM"},
    {"year", "yyyy"},
    {"strict_year", "yyyy"},
    {"basic_date", "yyyyMMdd"},
    {"basic_date_time", "yyyyMMdd'T'HHmmss.SSSZ"},
    {"basic_date_time_no_millis", "yyyyMMdd'T'HHmmssZ"},
    {"date_time", "yyyy-MM-dd'T'HH:mm:ss.SSSZZ"},
    {"strict_date_time", "yyyy-MM-dd'T'HH:mm:ss.SSSZZ"},
    {"date_time_no_millis", "yyyy-MM-dd'T'HH:mm:ssZZ"},
    {"strict_date_time_no_millis", "yyyy-MM-dd'T'HH:mm:ssZZ"},
    {"date_hour_minute_second", "yyyy-MM-dd'T'HH:mm:ss"},
    {"strict_date_hour_minute_second", "yyyy-MM-dd'T'HH:mm:ss"},
    {"date_hour_minute_second_millis", "yyyy-MM-dd'T'HH:mm:ss.SSS"},
    {"strict_date_hour_minute_second_millis", "yyyy-MM-dd'T'HH:mm:ss.SSS"},
    {"date_hour_minute", "yyyy-MM-dd'T'HH:mm"},
    {"strict_date_hour_minute", "yyyy-MM-dd'T'HH:mm"},
    {"date_hour", "yyyy-MM-dd'T'HH"},
    {"strict_date_hour", "yyyy-MM-dd'T'HH"},
};

/* check_pattern: NULL if p (n bytes) is a pattern this reader knows. */
static const char *check_pattern(const char *p, size_t n)
{
	if (n == 0)
		return "an empty format";
	for (size_t i = 0; i < n;) {
		char c = p[i];
		size_t run = 1;
		while (i + run < n && p[i + run] == c)
			run++;
		if (c == '\'') {
			size_t j = i + 1;
			while (j < n && p[j] != '\'')
				j++;
			if (j == n)
				return "a pattern with an unclosed quote";
			i = j + 1;
			continue;
		}
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
			if (!strchr("yuMdHmsSXZx", c))
				return "a pattern letter other than y u M d H m s S X Z x (names "
				       "of "
				       "months and days, 12-hour clocks, weeks and days of the "
				       "year are "
				       "not supported)";
			if ((c == 'y' || c == 'u') && run != 4)
				return "a year of other than 4 letters (yyyy)";
			if (strchr("MdHms", c) && run > 2)
				return "a pattern letter repeated more than twice (month names are "
				       "not "
				       "supported)";
			if (c == 'S' && run > 9)
				return "a fraction of more than 9 digits";
		}
		i += run;
	}
	return NULL;
}

static int name_is(const char *s, size_t n, const char *name)
{
	return strlen(name) == n && !memcmp(s, name, n);
}

int dm_parse_formats(const char *s, size_t n, dm_formats *out, char *why, size_t whylen)
{
	memset(out, 0, sizeof *out);
	size_t i = 0;
	for (;;) {
		const char *sep = NULL;
		for (size_t k = i; k + 1 < n; k++)
			if (s[k] == '|' && s[k + 1] == '|') {
				sep = s + k;
				break;
			}
		size_t end = sep ? (size_t)(sep - s) : n;
		const char *f = s + i;
		size_t fl = end - i;
		if (out->n == DM_MAX_FORMATS)
			return dm_fail(why, whylen, "more than 8 formats");
		dm_format *d = &out->f[out->n++];
		if (name_is(f, fl, "strict_date_optional_time") ||
		    name_is(f, fl, "strict_date_optional_time_nanos")) {
			d->kind = DM_ISO;
		} else if (name_is(f, fl, "date_optional_time")) {
			d->kind = DM_ISO_LENIENT;
		} else if (name_is(f, fl, "epoch_millis")) {
			d->kind = DM_EPOCH_MS;
		} else if (name_is(f, fl, "epoch_second")) {
			d->kind = DM_EPOCH_S;
		} else {
			d->kind = DM_PATTERN;
			d->pattern = f;
			d->plen = fl;
			for (size_t k = 0; k < sizeof named / sizeof named[0]; k++)
				if (name_is(f, fl, named[k].name)) {
					d->pattern = named[k].pattern;
					d->plen = strlen(named[k].pattern);
				}
			int letters = 0, underscore = 0;
			for (size_t k = 0; k < fl; k++) {
				letters += (f[k] >= 'a' && f[k] <= 'z');
				underscore |= f[k] == '_';
			}
			if (d->pattern == f && underscore && letters > 4)
				return dm_fail(why, whylen, "an unknown named format");
			const char *bad = check_pattern(d->pattern, d->plen);
			if (bad)
				return dm_fail(why, whylen, bad);
		}
		if (!sep)
			return TRAWL_OK;
		i = end + 2;
	}
}

void dm_default_formats(dm_formats *out)
{
	memset(out, 0, sizeof *out);
	out->f[0].kind = DM_ISO;
	out->f[1].kind = DM_EPOCH_MS;
	out->n = 2;
}

/* ---- zones ---- */

/* read_offset reads [+-]HH[[:]MM] (hours of 1 or 2 digits when lenient)
 * covering s[0..n) into *ms. */
static int read_offset(const char *s, size_t n, int lenient, int64_t *ms)
{
	if (n < 2 || (s[0] != '+' && s[0] != '-'))
		return -1;
	int neg = s[0] == '-';
	size_t i = 1;
	unsigned h = 0, m = 0, hd = 0;
	while (i < n && hd < 2 && s[i] >= '0' && s[i] <= '9')
		h = h * 10 + (unsigned)(s[i++] - '0'), hd++;
	if (hd == 0 || (hd == 1 && !lenient))
		return -1;
	if (i < n && s[i] == ':')
		i++;
	if (i < n) {
		if (n - i != 2 || s[i] < '0' || s[i] > '9' || s[i + 1] < '0' || s[i + 1] > '9')
			return -1;
		m = (unsigned)(s[i] - '0') * 10 + (unsigned)(s[i + 1] - '0');
	}
	if (m > 59 || h * 60 + m > 18 * 60)
		return -1;
	*ms = (neg ? -1 : 1) * (int64_t)(h * 60 + m) * 60000;
	return 0;
}

int dm_parse_zone(const char *s, size_t n, int64_t *offset_ms, char *why, size_t whylen)
{
	*offset_ms = 0;
	if (name_is(s, n, "Z") || name_is(s, n, "UTC") || name_is(s, n, "GMT") ||
	    name_is(s, n, "UT") || name_is(s, n, "Etc/UTC") || name_is(s, n, "Etc/GMT"))
		return TRAWL_OK;
	const char *p = s;
	size_t k = n;
	if (n > 3 && (!memcmp(s, "UTC", 3) || !memcmp(s, "GMT", 3)) && (s[3] == '+' || s[3] == '-'))
		p += 3, k -= 3;
	else if (n > 2 && !memcmp(s, "UT", 2) && (s[2] == '+' || s[2] == '-'))
		p += 2, k -= 2;
	if (read_offset(p, k, 1, offset_ms) == 0)
		return TRAWL_OK;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '/')
			return dm_fail(why, whylen,
			               "named time zones are not supported; give an offset such "
			               "as +01:00 (trawl has no zone database, so no daylight "
			               "saving time)");
	return dm_fail(why, whylen,
	               "a time zone is Z, UTC or an offset from -18:00 to +18:00 (+01:00, "
	               "-0800)");
}

/* ---- reading a date ---- */

enum { F_YEAR = 1, F_MONTH = 2, F_DAY = 4, F_HOUR = 8, F_MIN = 16, F_SEC = 32, F_MS = 64 };

typedef struct dm_fields {
	int64_t year;
	unsigned month, day, hour, min, sec, ms;
	unsigned given; /* F_* */
	int has_zone;
	int64_t zone_ms;
	int epoch; /* the value was an instant: epoch_millis or epoch_second */
	int64_t epoch_ms;
} dm_fields;

/* digits reads between lo and hi digits at s[*i] (below n) into *v. */
static int digits(const char *s, size_t n, size_t *i, int lo, int hi, unsigned *v)
{
	unsigned x = 0;
	int k = 0;
	while (*i < n && k < hi && s[*i] >= '0' && s[*i] <= '9') {
		x = x * 10 + (unsigned)(s[*i] - '0');
		(*i)++;
		k++;
	}
	*v = x;
	return k >= lo;
}

/* fraction reads 1..9 digits as milliseconds (truncated). */
static int fraction(const char *s, size_t n, size_t *i, int lo, int hi, unsigned *ms)
{
	unsigned x = 0;
	int k = 0;
	while (*i < n && k < hi && s[*i] >= '0' && s[*i] <= '9') {
		if (k < 3)
			x = x * 10 + (unsigned)(s[*i] - '0');
		(*i)++;
		k++;
	}
	for (int j = k; j < 3; j++)
		x *= 10;
	*ms = x;
	return k >= lo;
}

/* zone reads Z or an offset at s[*i]: strict: HH:MM, HHMM or HH. */
static int zone(const char *s, size_t n, size_t *i, dm_fields *f)
{
	if (*i < n && s[*i] == 'Z') {
		(*i)++;
		f->has_zone = 1;
		f->zone_ms = 0;
		return 1;
	}
	if (*i >= n || (s[*i] != '+' && s[*i] != '-'))
		return 0;
	size_t j = *i + 1;
	while (j < n && ((s[j] >= '0' && s[j] <= '9') || s[j] == ':') && j - *i <= 6)
		j++;
	if (read_offset(s + *i, j - *i, 0, &f->zone_ms))
		return 0;
	f->has_zone = 1;
	*i = j;
	return 1;
}

/* iso reads YYYY[-MM[-DD[THH[:MM[:SS[.F]]]]]][zone]; lenient: 1-2 digits. */
static int read_iso(const char *s, size_t n, int lenient, dm_fields *f)
{
	size_t i = 0;
	unsigned y;
	int lo = lenient ? 1 : 2;
	if (!digits(s, n, &i, 4, 4, &y))
		return 0;
	f->year = y;
	f->given = F_YEAR;
	if (i < n && s[i] == '-') {
		i++;
		if (!digits(s, n, &i, lo, 2, &f->month))
			return 0;
		f->given |= F_MONTH;
		if (i < n && s[i] == '-') {
			i++;
			if (!digits(s, n, &i, lo, 2, &f->day))
				return 0;
			f->given |= F_DAY;
		}
	}
	if (i < n && s[i] == 'T' && (f->given & F_DAY)) {
		i++;
		if (!digits(s, n, &i, lo, 2, &f->hour))
			return 0;
		f->given |= F_HOUR;
		if (i < n && s[i] == ':') {
			i++;
			if (!digits(s, n, &i, lo, 2, &f->min))
				return 0;
			f->given |= F_MIN;
			if (i < n && s[i] == ':') {
				i++;
				if (!digits(s, n, &i, lo, 2, &f->sec))
					return 0;
				f->given |= F_SEC;
				if (i < n && (s[i] == '.' || s[i] == ',')) {
					i++;
					if (!fraction(s, n, &i, 1, 9, &f->ms))
						return 0;
					f->given |= F_MS;
				}
			}
		}
		if (i < n)
			zone(s, n, &i, f);
	}
	return i == n;
}

/* epoch reads [-]digits[.digits] as milliseconds; unit 1 or 1000. */
static int read_epoch(const char *s, size_t n, int64_t unit, dm_fields *f)
{
	size_t i = 0;
	int neg = 0;
	if (i < n && (s[i] == '-' || s[i] == '+'))
		neg = s[i++] == '-';
	int64_t v = 0;
	size_t start = i;
	while (i < n && s[i] >= '0' && s[i] <= '9') {
		if (v > LIMIT_DATE_MS) /* so v stays below 10 x LIMIT_DATE_MS + 10 */
			return 0;
		v = v * 10 + (s[i++] - '0');
	}
	if (i == start || v > LIMIT_DATE_MS / unit)
		return 0;
	int64_t ms = v * unit;
	if (i < n && s[i] == '.' && unit == 1000) {
		i++;
		unsigned frac;
		if (!fraction(s, n, &i, 1, 3, &frac))
			return 0;
		ms += frac;
	}
	if (i != n || ms > LIMIT_DATE_MS)
		return 0;
	f->epoch = 1;
	f->epoch_ms = neg ? -ms : ms;
	return 1;
}

/* read_pattern reads s as pattern p (both whole). */
static int read_pattern(const char *s, size_t n, const char *p, size_t pn, dm_fields *f)
{
	size_t i = 0;
	for (size_t k = 0; k < pn;) {
		char c = p[k];
		size_t run = 1;
		while (k + run < pn && p[k + run] == c)
			run++;
		if (c == '\'') {
			size_t j = k + 1;
			while (j < pn && p[j] != '\'') {
				if (i >= n || s[i] != p[j])
					return 0;
				i++, j++;
			}
			k = j + 1;
			continue;
		}
		unsigned v = 0;
		int ok = 1;
		switch (c) {
		case 'y':
		case 'u':
			ok = digits(s, n, &i, 4, 4, &v);
			f->year = v;
			f->given |= F_YEAR;
			break;
		case 'M':
			ok = digits(s, n, &i, (int)run, 2, &f->month);
			f->given |= F_MONTH;
			break;
		case 'd':
			ok = digits(s, n, &i, (int)run, 2, &f->day);
			f->given |= F_DAY;
			break;
		case 'H':
			ok = digits(s, n, &i, (int)run, 2, &f->hour);
			f->given |= F_HOUR;
			break;
		case 'm':
			ok = digits(s, n, &i, (int)run, 2, &f->min);
			f->given |= F_MIN;
			break;
		case 's':
			ok = digits(s, n, &i, (int)run, 2, &f->sec);
			f->given |= F_SEC;
			break;
		case 'S':
			ok = fraction(s, n, &i, (int)run, (int)run, &f->ms);
			f->given |= F_MS;
			break;
		case 'X':
		case 'Z':
		case 'x':
			ok = zone(s, n, &i, f);
			break;
		default: /* a literal, as many times as written */
			for (size_t r = 0; r < run && ok; r++, i++)
				ok = i < n && s[i] == c;
			break;
		}
		if (!ok)
			return 0;
		k += run;
	}
	return i == n;
}

/* to_ms: the fields in zone (theirs, or offset_ms) as UTC milliseconds,
 * missing ones filled as round_up says. 0 if a field is out of its range. */
static int to_ms(dm_fields *f, int64_t offset_ms, int round_up, int64_t *out)
{
	if (f->epoch) {
		*out = f->epoch_ms;
		return 1;
	}
	if (!(f->given & F_YEAR))
		f->year = 1970;
	if (!(f->given & F_MONTH))
		f->month = 1;
	if (!(f->given & F_DAY))
		f->day = 1;
	if (!(f->given & F_HOUR))
		f->hour = round_up ? 23 : 0;
	if (!(f->given & F_MIN))
		f->min = round_up ? 59 : 0;
	if (!(f->given & F_SEC))
		f->sec = round_up ? 59 : 0;
	if (!(f->given & F_MS))
		f->ms = round_up ? 999 : 0;
	if (f->month < 1 || f->month > 12 || f->day < 1 || f->day > month_days(f->year, f->month) ||
	    f->hour > 23 || f->min > 59 || f->sec > 59)
		return 0;
	int64_t local = (civil_days(f->year, f->month, f->day) * 24 + f->hour) * 3600000 +
	                (int64_t)f->min * 60000 + (int64_t)f->sec * 1000 + f->ms;
	*out = local - (f->has_zone ? f->zone_ms : offset_ms);
	return 1;
}

/* read_date: s in the first of the formats that reads it. */
static int read_date(const char *s, size_t n, const dm_formats *fmts, int64_t offset_ms,
                     int round_up, int64_t *ms)
{
	for (uint32_t k = 0; k < fmts->n; k++) {
		dm_fields f;
		memset(&f, 0, sizeof f);
		const dm_format *d = &fmts->f[k];
		int ok = d->kind == DM_ISO           ? read_iso(s, n, 0, &f)
		         : d->kind == DM_ISO_LENIENT ? read_iso(s, n, 1, &f)
		         : d->kind == DM_EPOCH_MS    ? read_epoch(s, n, 1, &f)
		         : d->kind == DM_EPOCH_S     ? read_epoch(s, n, 1000, &f)
		                                     : read_pattern(s, n, d->pattern, d->plen, &f);
		if (ok && to_ms(&f, offset_ms, round_up, ms) && in_range(*ms))
			return 1;
	}
	return 0;
}

/* ---- date math ---- */

int dm_looks_like_math(const char *s, size_t n)
{
	if (n >= 3 && !memcmp(s, "now", 3) && (n == 3 || s[3] == '+' || s[3] == '-' || s[3] == '/'))
		return 1;
	for (size_t i = 0; i + 1 < n; i++)
		if (s[i] == '|' && s[i + 1] == '|')
			return 1;
	return 0;
}

/* add_months: *local ms plus k months (|k| <= 12 x LIMIT_DATE_MATH_AMOUNT),
 * the day clamped to the month's end; 0 when the year leaves the range. */
static int add_months(int64_t *local, int64_t k)
{
	int64_t rest, y;
	unsigned m, d;
	civil_date(day_of(*local, &rest), &y, &m, &d);
	int64_t mi = y * 12 + (m - 1) + k;
	y = mi >= 0 ? mi / 12 : -((-mi + 11) / 12);
	m = (unsigned)(mi - y * 12) + 1;
	if (y < -200000 || y > 200000) /* past LIMIT_DATE_MS, and days fit an int64 */
		return 0;
	if (d > month_days(y, m))
		d = month_days(y, m);
	*local = civil_days(y, m, d) * DAY_MS + rest;
	return 1;
}

/* round_down: local ms to the start of its unit. */
static int64_t round_down(int64_t local, char unit)
{
	int64_t rest, y, days = day_of(local, &rest);
	unsigned m, d;
	switch (unit) {
	case 'y':
		civil_date(days, &y, &m, &d);
		return civil_days(y, 1, 1) * DAY_MS;
	case 'M':
		civil_date(days, &y, &m, &d);
		return civil_days(y, m, 1) * DAY_MS;
	case 'w': {
		/* 1970-01-01 was a Thursday: Monday is (days + 3) mod 7 == 0 */
		int64_t wd = (days + 3) % 7;
		if (wd < 0)
			wd += 7;
		return (days - wd) * DAY_MS;
	}
	case 'd':
		return days * DAY_MS;
	case 'h':
	case 'H':
		return days * DAY_MS + rest / 3600000 * 3600000;
	case 'm':
		return days * DAY_MS + rest / 60000 * 60000;
	default: /* 's' */
		return days * DAY_MS + rest / 1000 * 1000;
	}
}

/* add_units: *local ms plus k units (|k| <= LIMIT_DATE_MATH_AMOUNT); 0
 * when it leaves the range. */
static int add_units(int64_t *local, char unit, int64_t k)
{
	switch (unit) {
	case 'y':
		return add_months(local, k * 12) && in_range(*local);
	case 'M':
		return add_months(local, k) && in_range(*local);
	case 'w':
		*local += k * 7 * DAY_MS;
		break;
	case 'd':
		*local += k * DAY_MS;
		break;
	case 'h':
	case 'H':
		*local += k * 3600000;
		break;
	case 'm':
		*local += k * 60000;
		break;
	default:
		*local += k * 1000;
		break;
	}
	return in_range(*local);
}

int dm_resolve(const char *s, size_t n, const dm_formats *fmts, int64_t offset_ms, int round_up,
               int64_t now_ms, int64_t *ms, char *why, size_t whylen)
{
	const char *math;
	size_t mn;
	int64_t t;
	if (n >= 3 && !memcmp(s, "now", 3)) {
		t = now_ms;
		math = s + 3;
		mn = n - 3;
		if (!in_range(t))
			return dm_fail(why, whylen, "now is out of range");
	} else {
		size_t bar = n;
		for (size_t i = 0; i + 1 < n; i++)
			if (s[i] == '|' && s[i + 1] == '|') {
				bar = i;
				break;
			}
		/* an anchor is read as it is, its missing fields never rounded up */
		if (!read_date(s, bar, fmts, offset_ms, bar == n ? round_up : 0, &t))
			return dm_fail(why, whylen,
			               bar == n ? "not a date in the format"
			                        : "the date before || is not a date in the format");
		if (bar == n) {
			*ms = t;
			return TRAWL_OK;
		}
		math = s + bar + 2;
		mn = n - bar - 2;
	}
	/* the math works in local time */
	int64_t local = t + offset_ms;
	for (size_t i = 0; i < mn;) {
		char op = math[i++];
		if (op != '+' && op != '-' && op != '/')
			return dm_fail(why, whylen,
			               "bad date math: expected +, - or / (now-1d/d, "
			               "2024-01-01||+1M/M)");
		int64_t k = 1;
		if (op != '/' && i < mn && math[i] >= '0' && math[i] <= '9') {
			k = 0;
			while (i < mn && math[i] >= '0' && math[i] <= '9') {
				k = k * 10 + (math[i++] - '0');
				if (k > LIMIT_DATE_MATH_AMOUNT)
					return dm_fail(why, whylen,
					               "bad date math: an amount over 999999999");
			}
		}
		if (i >= mn || !strchr("yMwdhHms", math[i]))
			return dm_fail(why, whylen,
			               "bad date math: the unit is one of y M w d h H m s");
		char unit = math[i++];
		int ok = 1;
		if (op == '/') {
			local = round_down(local, unit);
			if (round_up && (ok = add_units(&local, unit, 1)))
				local -= 1;
		} else {
			ok = add_units(&local, unit, op == '-' ? -k : k);
		}
		if (!ok || !in_range(local))
			return dm_fail(why, whylen, "the date math goes out of range");
	}
	*ms = local - offset_ms;
	if (!in_range(*ms))
		return dm_fail(why, whylen, "the date math goes out of range");
	return TRAWL_OK;
}
