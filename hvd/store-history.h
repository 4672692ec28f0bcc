/* The statistics history's points kept in SQLite: the day's minutes and the month's ten-minute
 * points of each domain (by UUID) and of the host (series "host"), so charts outlive a restart
 * of hvd. The hour's seconds are not kept. */
#pragma once

#include "history.h"
#include "store.h"

/* Called for each saved point, oldest first within each series and range. */
typedef void (*StoreHistoryPoint)(void *userdata, const char *series, HistoryRange r,
                                  const HistoryPoint *p);

/* Saves (or replaces) n points of series in range r (HISTORY_DAY or HISTORY_MONTH). Call it
 * inside a transaction of the caller's. Returns 0 or a negative errno (store_last_error()). */
int store_history_save(Store *s, const char *series, HistoryRange r, const HistoryPoint *points,
                       size_t n);

/* Hands the newest saved point of each series in each range on to cb, when it is from interval
 * day_from (day range) or month_from (month range) on. Rows of another shape are skipped.
 * Returns 0 or a negative errno. */
int store_history_load(Store *s, int64_t day_from, int64_t month_from, StoreHistoryPoint cb,
                       void *userdata);

/* The saved points of series in range r from interval from on, oldest first, as a new array in
 * *ret (free() it; NULL when there are none) of *ret_n. Returns 0 or a negative errno. */
int store_history_read(Store *s, const char *series, HistoryRange r, int64_t from,
                       HistoryPoint **ret, size_t *ret_n);

/* Deletes the points before day_from and month_from, and those of domains that no longer
 * exist. Returns 0 or a negative errno. */
int store_history_prune(Store *s, int64_t day_from, int64_t month_from);
