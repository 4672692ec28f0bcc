/* The statistics history's saved points in SQLite (table history_points): written in batches
 * from the sampler, read for the day's and the month's charts, their newest points read back at
 * start-up, pruned to what the ranges keep. */
#include <stdlib.h>
#include <string.h>

#include "store-history.h"
#include "store-internal.h"

/* Runs sql with its statement prepared for this call (history is written once a minute and read
 * once per start: nothing to keep prepared). */
static int prepare(Store *s, const char *sql, sqlite3_stmt **ret)
{
    return store_failed(s, sqlite3_prepare_v2(store_sqlite(s), sql, -1, ret, NULL));
}

int store_history_save(Store *s, const char *series, HistoryRange r, const HistoryPoint *points,
                       size_t n)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;

    if (n == 0)
        return 0;
    rc = prepare(s,
                 "INSERT OR REPLACE INTO history_points (series, tier, point, vals) "
                 "VALUES (?1, ?2, ?3, ?4)",
                 &st);
    for (size_t i = 0; rc >= 0 && i < n; i++) {
        (void)sqlite3_bind_text(st, 1, series, -1, SQLITE_STATIC);
        (void)sqlite3_bind_int(st, 2, (int)r);
        (void)sqlite3_bind_int64(st, 3, points[i].interval);
        (void)sqlite3_bind_blob(st, 4, points[i].values, sizeof(points[i].values), SQLITE_STATIC);
        rc = store_failed(s, sqlite3_step(st));
        (void)sqlite3_reset(st);
    }
    (void)sqlite3_finalize(st);
    return rc;
}

int store_history_load(Store *s, int64_t day_from, int64_t month_from, StoreHistoryPoint cb,
                       void *userdata)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(s,
                     /* SQLite takes the bare columns from the row of MAX(point) */
                     "SELECT series, tier, MAX(point), vals FROM history_points "
                     "WHERE (tier = 1 AND point >= ?1) OR (tier = 2 AND point >= ?2) "
                     "GROUP BY series, tier ORDER BY series, tier",
                     &st);

    if (rc < 0)
        return rc;
    (void)sqlite3_bind_int64(st, 1, day_from);
    (void)sqlite3_bind_int64(st, 2, month_from);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        HistoryPoint p = {.interval = sqlite3_column_int64(st, 2)};
        const char *series = (const char *)sqlite3_column_text(st, 0);
        int tier = sqlite3_column_int(st, 1);

        /* A row of another shape (a newer hvd's metrics, a damaged file) is skipped. */
        if (!series || (tier != HISTORY_DAY && tier != HISTORY_MONTH) ||
            sqlite3_column_bytes(st, 3) != (int)sizeof(p.values))
            continue;
        memcpy(p.values, sqlite3_column_blob(st, 3), sizeof(p.values));
        cb(userdata, series, (HistoryRange)tier, &p);
    }
    rc = store_failed(s, rc);
    (void)sqlite3_finalize(st);
    return rc;
}

int store_history_read(Store *s, const char *series, HistoryRange r, int64_t from,
                       HistoryPoint **ret, size_t *ret_n)
{
    sqlite3_stmt *st = NULL;
    HistoryPoint *points = NULL;
    size_t n = 0, allocated = 0;
    int rc = prepare(s,
                     "SELECT point, vals FROM history_points "
                     "WHERE series = ?1 AND tier = ?2 AND point >= ?3 ORDER BY point",
                     &st);

    if (rc < 0)
        return rc;
    (void)sqlite3_bind_text(st, 1, series, -1, SQLITE_STATIC);
    (void)sqlite3_bind_int(st, 2, (int)r);
    (void)sqlite3_bind_int64(st, 3, from);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 1) != (int)sizeof(points[0].values))
            continue; /* another shape: skipped, as at start-up */
        if (n == allocated) {
            HistoryPoint *more =
                reallocarray(points, allocated ? allocated * 2 : 64, sizeof(*points));
            if (!more) {
                rc = SQLITE_NOMEM;
                break;
            }
            points = more;
            allocated = allocated ? allocated * 2 : 64;
        }
        points[n].interval = sqlite3_column_int64(st, 0);
        memcpy(points[n].values, sqlite3_column_blob(st, 1), sizeof(points[n].values));
        n++;
    }
    rc = store_failed(s, rc);
    (void)sqlite3_finalize(st);
    if (rc < 0) {
        free(points);
        return rc;
    }
    *ret = points;
    *ret_n = n;
    return 0;
}

int store_history_prune(Store *s, int64_t day_from, int64_t month_from)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(s,
                     "DELETE FROM history_points WHERE (tier = 1 AND point < ?1) OR "
                     "(tier = 2 AND point < ?2) OR (series != 'host' AND series NOT IN "
                     "(SELECT uuid FROM domains))",
                     &st);

    if (rc < 0)
        return rc;
    (void)sqlite3_bind_int64(st, 1, day_from);
    (void)sqlite3_bind_int64(st, 2, month_from);
    rc = store_failed(s, sqlite3_step(st));
    (void)sqlite3_finalize(st);
    return rc;
}
