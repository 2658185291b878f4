/*
 * datemath.h - dates as the OpenSearch query DSL writes them in a range:
 * a value read through a `format` (named formats and yyyy-MM-dd patterns),
 * in a `time_zone`, with date math (`now-1d/d`, `2024-01-01||+1M/M`),
 * rounded as each of gt, gte, lt and lte rounds, and written in the one
 * canonical text the leaves read: ISO 8601 in UTC with milliseconds
 * (2024-01-31T23:59:59.999Z) for years 0000-9999, else the decimal number of
 * milliseconds since 1970 (the form index/values.c's idx_date_format
 * writes and its date reader takes).
 *
 * The root resolves dates, not the leaves: `now` is read once per query at
 * the root (dsl_compile's caller passes it), so every shard sees the same
 * bound, and the leaves never see date math. No schema is needed: the DSL
 * calls this only for bounds that are dates by their own account (a
 * format, a time zone, date math). Time zones are fixed offsets (+01:00,
 * -0800, Z, UTC, GMT); named zones (Europe/Paris) would need the zone
 * database and are refused with a reason.
 *
 * Errors are TRAWL_EQUERY with a reason (no prefix; the caller names the
 * query and the parameter).
 */
#ifndef TRAWL_ROOT_DATEMATH_H
#define TRAWL_ROOT_DATEMATH_H

#include <stddef.h>
#include <stdint.h>

/* Formats a `format` may list (f1||f2||...), tried in order. */
#define DM_MAX_FORMATS 8

typedef enum dm_kind {
	DM_ISO,         /* strict_date_optional_time: YYYY[-MM[-DD[THH[:MM[:SS[.F]]]]]][zone] */
	DM_ISO_LENIENT, /* date_optional_time: the same, 1 or 2 digits after the year */
	DM_EPOCH_MS,    /* epoch_millis: [-]digits */
	DM_EPOCH_S,     /* epoch_second: [-]digits[.1-3 digits] */
	DM_PATTERN,     /* a pattern of y M d H m s S X Z letters and literals */
} dm_kind;

typedef struct dm_format {
	dm_kind kind;
	const char *pattern; /* DM_PATTERN: points into the format string */
	size_t plen;
} dm_format;

typedef struct dm_formats {
	dm_format f[DM_MAX_FORMATS];
	uint32_t n;
} dm_formats;

/*
 * dm_parse_formats reads a `format` value (n bytes: names or patterns
 * separated by ||) into out, whose patterns point into s. TRAWL_OK or
 * TRAWL_EQUERY with why. dm_default_formats fills out with OpenSearch's
 * default for date fields, strict_date_optional_time||epoch_millis.
 */
int dm_parse_formats(const char *s, size_t n, dm_formats *out, char *why, size_t whylen);
void dm_default_formats(dm_formats *out);

/*
 * dm_parse_zone reads a `time_zone` value: Z, UTC, GMT, UT, +HH, +HHMM,
 * +HH:MM, -..., UTC+01:00, GMT-8 (offsets up to 18 hours), into *offset_ms
 * (to add to UTC to get local time). TRAWL_OK or TRAWL_EQUERY with why.
 */
int dm_parse_zone(const char *s, size_t n, int64_t *offset_ms, char *why, size_t whylen);

/*
 * dm_resolve reads value s (n bytes: a date in one of the formats, or date
 * math on `now` or on such a date followed by ||) in the zone offset_ms
 * (for dates without their own zone, and for the date math's calendar and
 * rounding), with now_ms as `now`, into *ms. round_up: the bound rounds up,
 * as gt and lte do in OpenSearch: a rounding /unit goes to the last
 * millisecond of its unit, and a date without `||` and without some of its
 * time gets the missing fields as 23:59:59.999 (month and day missing are
 * 1, as in OpenSearch); otherwise /unit goes to the unit's first
 * millisecond and missing fields are 0. Every value stays within
 * LIMIT_DATE_MS of 1970. TRAWL_OK or TRAWL_EQUERY with why.
 */
int dm_resolve(const char *s, size_t n, const dm_formats *fmts, int64_t offset_ms, int round_up,
               int64_t now_ms, int64_t *ms, char *why, size_t whylen);

/*
 * dm_format_ms writes ms in the canonical text (above) into out (room for
 * 32 bytes); returns its length.
 */
size_t dm_format_ms(int64_t ms, char out[32]);

/* dm_looks_like_math: s (n bytes) is date math, so a date whatever the
 * field: now, now followed by + - or /, or anything holding ||. */
int dm_looks_like_math(const char *s, size_t n);

#endif
