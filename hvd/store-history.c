/* The statistics history's saved points in SQLite (table history_points): written in batches
 * from the sampler, read back once at start-up, pruned to what the ranges keep. */
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
                     "SELECT series, tier, point, vals FROM history_points "
                     "WHERE (tier = 1 AND point >= ?1) OR (tier = 2 AND point >= ?2) "
                     "ORDER BY series, tier, point",
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
