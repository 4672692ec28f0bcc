/* Bounded statistics history of one domain (or of the host): rates and gauges for the last hour
 * (1 s apart, or coarser when many domains share hvd's memory budget for it), 1 min for a day and
 * 10 min for a month. Only the hour's points live in memory, in a ring allocated once whose
 * pages are resident as the points reach them; the day's and the month's are saved as each
 * interval ends (store-history.c) and read back from there, so a series holds only the point
 * being averaged and those not saved yet. Pure: callers pass the time, so tests drive it with
 * a fake clock. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "driver.h"
#include "string-table.h"

typedef enum HistoryMetric {
    HISTORY_CPU,        /* percent of one host CPU */
    HISTORY_MEMORY_KIB, /* resident guest memory */
    HISTORY_EXITS,      /* VM exits per second */
    HISTORY_DISK_READ,  /* bytes read per second */
    HISTORY_DISK_WRITE, /* bytes written per second */
    HISTORY_NET_RX,     /* bytes received per second */
    HISTORY_NET_TX,     /* bytes sent per second */
    _HISTORY_METRIC_MAX,
    _HISTORY_METRIC_INVALID = -EINVAL,
} HistoryMetric;

typedef enum HistoryRange {
    HISTORY_HOUR,  /* 3600 points 1 s apart, fewer and coarser with many domains */
    HISTORY_DAY,   /* 1440 points, 1 min apart */
    HISTORY_MONTH, /* 4320 points, 10 min apart (30 days) */
    _HISTORY_RANGE_MAX,
    _HISTORY_RANGE_INVALID = -EINVAL,
} HistoryRange;

DECLARE_STRING_TABLE(history_metric, HistoryMetric);
DECLARE_STRING_TABLE(history_range, HistoryRange);

/* The raw counters and gauges of one statistics sample (from a driver's cached statistics). */
typedef struct HistoryCounters {
    uint64_t cpu_time_ns;
    uint64_t memory_kib;
    uint64_t exits;
    uint64_t disk_read_bytes, disk_write_bytes;
    uint64_t net_rx_bytes, net_tx_bytes;
} HistoryCounters;

typedef struct HistorySeries HistorySeries;

/* A point of the day or the month: its interval number (time / the range's step) and its values
 * (NAN where nothing was recorded). */
typedef struct HistoryPoint {
    int64_t interval;
    float values[_HISTORY_METRIC_MAX];
} HistoryPoint;

/* A new, empty series, with no hour ring until history_series_set_hour_step(); NULL without
 * memory. */
HistorySeries *history_series_new(void);

/* Frees s. Accepts NULL; returns NULL. */
HistorySeries *history_series_free(HistorySeries *s);

/* The memory of one hour ring at step_s (0: none), and of a series without its ring. */
size_t history_hour_ring_bytes(unsigned step_s);
size_t history_series_bytes(void);

/* The finest hour step (1, 2, 5, 10, 15 or 30 s) at which n rings fit in budget bytes; 0 when
 * not even the coarsest does (the hour is then drawn from the day's minutes). */
unsigned history_hour_step_for(size_t budget, size_t n);

/* Gives s an hour ring at step_s (0: none), carrying over what its ring held: each old point
 * goes into every new interval it overlaps, averaged there. Returns 0, or -ENOMEM with s as it
 * was. */
int history_series_set_hour_step(HistorySeries *s, unsigned step_s);

/* The step of s's hour ring; 0 when it has none. */
unsigned history_series_hour_step(const HistorySeries *s);

/* The counters of a domain's statistics that its history keeps. */
void history_counters_from_driver(const DriverCounters *c, HistoryCounters *ret);

/* Records sample c taken at now_us: rates against the previous sample (none for the first, or
 * after counters went backwards, as when the domain restarted), held over each second since it
 * (up to 10 s; a longer silence is left a gap). Returns whether it produced values. A sample
 * less than half a second after the previous one is ignored: it is the same cached sample seen
 * again. */
bool history_series_sample(HistorySeries *s, uint64_t now_us, const HistoryCounters *c);

/* The values the last sample produced, while the series runs (none after a break): what the
 * domain adds to the host's totals. Returns whether there are any. */
bool history_series_latest(const HistorySeries *s, float ret[_HISTORY_METRIC_MAX]);

/* Records already computed values at now_us (the host's totals over its domains). */
void history_series_add(HistorySeries *s, uint64_t now_us, const float values[_HISTORY_METRIC_MAX]);

/* No sample at now_us (a domain that is not running): the ranges run on to now with nothing
 * recorded, and the next sample starts the rates afresh. An hour ring left with nothing
 * recorded in its window is let go. */
void history_series_break(HistorySeries *s, uint64_t now_us);

/* Seconds between two points of range r, and how many points it keeps (the hour's at its
 * finest step). */
unsigned history_range_step_s(HistoryRange r);
unsigned history_range_points(HistoryRange r);

/* Copies into out (room for max) the points of range r (HISTORY_DAY or HISTORY_MONTH) that are
 * over and were not handed out before, oldest first, and with current also the one still being
 * averaged (handed out again once it is over). A series keeps only a few points that are over:
 * take them at least once a minute. Returns how many; call again while it returns max. */
size_t history_series_take_unsaved(HistorySeries *s, HistoryRange r, bool current,
                                   HistoryPoint *out, size_t max);

/* Puts back the newest point of range r that an earlier run saved (before this run records
 * anything of its own; one older than the newest there is ignored): this run goes on averaging
 * into its interval, counting it as one value, and saves it again once it is over. */
void history_series_restore(HistorySeries *s, HistoryRange r, const HistoryPoint *p);

/* Where the points of range come from besides a series' own: the saved points of *ret_range
 * from interval *ret_from on (now_us less the range's length), or none (false: the hour's
 * ring). hour_step_s is the step the hour's rings have now (0: the hour is the day's last
 * minutes). */
bool history_saved_source(HistoryRange range, unsigned hour_step_s, uint64_t now_us,
                          HistoryRange *ret_range, int64_t *ret_from);

/* The series over range as a new object: {"range", "step_s", "time": [seconds...], and an array
 * per metric}, oldest first, from the first point recorded in the range's window (at most its
 * point count) to the newest; null where nothing was recorded. saved (n_saved points, oldest
 * first) are those history_saved_source() named; s's own points win over them. */
json_t *history_series_json(const HistorySeries *s, HistoryRange range, unsigned hour_step_s,
                            const HistoryPoint *saved, size_t n_saved);
