/*
 * civil.h - the proleptic Gregorian calendar, as every date in trawl is
 * read and written (documents' dates: index/values.c; aggregations' date
 * buckets: common/aggs.c; the DSL's date math: root/datemath.c): days
 * since 1970-01-01 from a year, month and day and back (Howard Hinnant's
 * days_from_civil and civil_from_days, exact for any int64 day count a
 * millisecond date can hold), and leap years. Header-only: three small
 * pure functions, inlined where they are used.
 */
#ifndef TRAWL_COMMON_CIVIL_H
#define TRAWL_COMMON_CIVIL_H

#include <stdint.h>

/* civil_days: days from 1970-01-01 to y-m-d (m 1..12, d 1..31). */
static inline int64_t civil_days(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* civil_date: the year, month and day of day z since 1970-01-01. */
static inline void civil_date(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* civil_leap: whether year y has a February 29th. */
static inline int civil_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

#endif
