/* Bounded statistics history of one domain (or of the host): rates and gauges at 1 s for an
 * hour, 1 min for a day and 10 min for a month, in fixed rings allocated once, so memory per
 * series is bounded (history_series_bytes()) however long hvd runs, and only the part the
 * points reached is resident. Pure: callers pass the
 * time, so tests drive it with a fake clock. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

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
    HISTORY_HOUR,  /* 3600 points, 1 s apart */
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

/* A new, empty series; NULL without memory. */
HistorySeries *history_series_new(void);

/* Frees s. Accepts NULL; returns NULL. */
HistorySeries *history_series_free(HistorySeries *s);

/* The most memory one series holds, whatever it has seen. */
size_t history_series_bytes(void);

/* Reads the counters a driver's statistics object carries (missing ones are 0). */
void history_counters_from_stats(json_t *stats, HistoryCounters *ret);

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
 * recorded, and the next sample starts the rates afresh. */
void history_series_break(HistorySeries *s, uint64_t now_us);

/* One point of a range: its interval number (time / the range's step) and its values (NAN where
 * nothing was recorded). */
typedef struct HistoryPoint {
    int64_t interval;
    float values[_HISTORY_METRIC_MAX];
} HistoryPoint;

/* Seconds between two points of range r, and how many points it keeps. */
unsigned history_range_step_s(HistoryRange r);
unsigned history_range_points(HistoryRange r);

/* Copies into out (room for max) the points of range r that were not handed out before, oldest
 * first: those whose interval is over, and with current also the one still being averaged
 * (handed out again once it is over). Points with nothing recorded are skipped. Returns how
 * many; call again while it returns max. */
size_t history_series_take_unsaved(HistorySeries *s, HistoryRange r, bool current,
                                   HistoryPoint *out, size_t max);

/* Puts back a point of range r that an earlier run recorded (oldest first, before this run
 * records anything of its own; a point older than the newest one there is ignored). It counts
 * as saved, and as one value when this run goes on averaging into its interval. */
void history_series_restore(HistorySeries *s, HistoryRange r, const HistoryPoint *p);

/* The series over range (s NULL: nothing recorded yet) as a new object: {"range", "step_s", "time":
 * [seconds...], and an array per metric}, oldest first, from the first point recorded in the
 * range's window (at most its point count) to the newest; null where nothing was recorded. */
json_t *history_series_json(const HistorySeries *s, HistoryRange range);
