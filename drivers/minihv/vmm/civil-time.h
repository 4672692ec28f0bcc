/* Conversions between seconds since the Unix epoch and proleptic Gregorian calendar fields. */
#pragma once

#include <stdint.h>

typedef struct CivilTime {
    int64_t year;
    unsigned month; /* 1..12 */
    unsigned day;   /* 1..31 */
    unsigned hour, minute, second;
    unsigned weekday; /* 0 = Sunday */
} CivilTime;

/* Days since 1970-01-01 of a calendar date (month 1..12, day 1..31). */
static inline int64_t civil_days_from_date(int64_t y, unsigned m, unsigned d)
{
    /* Count in eras of 400 years starting on March 1st, so the leap day ends each year. */
    int64_t yy = m <= 2 ? y - 1 : y;
    int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
    unsigned yoe = (unsigned)(yy - era * 400);
    unsigned mp = m > 2 ? m - 3 : m + 9;
    unsigned doy = (153 * mp + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* Calendar fields of a time in seconds since the epoch. */
static inline CivilTime civil_from_seconds(int64_t t)
{
    CivilTime c;
    int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
    int64_t secs = t - days * 86400;
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;

    c.day = doy - (153 * mp + 2) / 5 + 1;
    c.month = mp < 10 ? mp + 3 : mp - 9;
    c.year = (int64_t)yoe + era * 400 + (c.month <= 2);
    c.hour = (unsigned)(secs / 3600);
    c.minute = (unsigned)(secs / 60 % 60);
    c.second = (unsigned)(secs % 60);
    c.weekday = (unsigned)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
    return c;
}

/* Seconds since the epoch of calendar fields (weekday ignored). */
static inline int64_t civil_to_seconds(const CivilTime *c)
{
    return civil_days_from_date(c->year, c->month, c->day) * 86400 + c->hour * 3600 +
           c->minute * 60 + c->second;
}
