/* Unit tests: the statistics history under a fake clock — rates from counters, resolution and
 * length of each range after simulated hours and days, averages in rollups, gaps, restarts, and
 * the memory 1000 domains' histories take. */
#include <malloc.h>
#include <math.h>

#include "history.h"
#include "test.h"
#include "time-util.h"

#define T0 UINT64_C(1800000000) /* a multiple of 600: intervals start on it */

typedef struct Guest {
    HistoryCounters c;
} Guest;

/* Advances g by dt_s seconds at cpu percent and fixed other rates. */
static void run(Guest *g, unsigned dt_s, double cpu)
{
    g->c.cpu_time_ns += (uint64_t)(cpu * 1e7) * dt_s;
    g->c.memory_kib = 2048;
    g->c.exits += 100 * dt_s;
    g->c.disk_read_bytes += 4096 * dt_s;
    g->c.net_tx_bytes += 1000 * dt_s;
}

static json_t *series_json(HistorySeries *s, HistoryRange r, const char *key)
{
    json_t *h = history_series_json(s, r);
    json_t *v = json_incref(json_object_get(h, key));

    json_decref(h);
    return v;
}

static size_t points(HistorySeries *s, HistoryRange r)
{
    json_t *t = series_json(s, r, "time");
    size_t n = json_array_size(t);

    json_decref(t);
    return n;
}

static double at(HistorySeries *s, HistoryRange r, const char *key, ssize_t i)
{
    json_t *a = series_json(s, r, key);
    json_t *v = json_array_get(a, i < 0 ? json_array_size(a) + (size_t)i : (size_t)i);
    double d = json_is_number(v) ? json_number_value(v) : NAN;

    json_decref(a);
    return d;
}

static unsigned nulls(HistorySeries *s, HistoryRange r, const char *key)
{
    json_t *a = series_json(s, r, key), *v;
    unsigned n = 0;
    size_t i;

    json_array_foreach (a, i, v)
        n += json_is_null(v);
    json_decref(a);
    return n;
}

static bool near(double a, double b)
{
    return fabs(a - b) < 0.01 * (fabs(b) + 1);
}

static void test_ranges_after_simulated_time(void)
{
    HistorySeries *s = history_series_new();
    Guest g = {};
    uint64_t t = T0;

    CHECK(s);
    CHECK(points(s, HISTORY_HOUR) == 0);
    /* The first sample gives no rate; a second one less than half a second later is the same
     * cached sample seen again. */
    CHECK(!history_series_sample(s, t * USEC_PER_SEC, &g.c));
    CHECK(!history_series_sample(s, t * USEC_PER_SEC + 300000, &g.c));

    /* Two hours at 1 s, 50 % CPU. */
    for (unsigned i = 0; i < 7200; i++) {
        run(&g, 1, 50);
        t++;
        CHECK(history_series_sample(s, t * USEC_PER_SEC, &g.c));
    }
    CHECK(points(s, HISTORY_HOUR) == 3600);
    CHECK(at(s, HISTORY_HOUR, "time", -1) == (double)t);
    CHECK(at(s, HISTORY_HOUR, "time", 0) == (double)(t - 3599));
    CHECK(near(at(s, HISTORY_HOUR, "cpu_percent", -1), 50));
    CHECK(near(at(s, HISTORY_HOUR, "exits_per_s", 0), 100));
    CHECK(near(at(s, HISTORY_HOUR, "disk_read_bytes_per_s", 7), 4096));
    CHECK(near(at(s, HISTORY_HOUR, "net_tx_bytes_per_s", 9), 1000));
    CHECK(near(at(s, HISTORY_HOUR, "memory_kib", 9), 2048));
    CHECK(at(s, HISTORY_HOUR, "net_rx_bytes_per_s", 9) == 0);
    CHECK(nulls(s, HISTORY_HOUR, "cpu_percent") == 0);
    CHECK(points(s, HISTORY_DAY) == 121); /* every minute of the two hours (and the last's start) */
    CHECK(near(at(s, HISTORY_DAY, "cpu_percent", 5), 50));
    CHECK(points(s, HISTORY_MONTH) == 13);

    /* A minute of 100 % for 30 s then 0 % rolls up to the average of its seconds (with the
     * minute's first second still at 50 %). */
    for (unsigned i = 0; i < 60; i++) {
        run(&g, 1, i < 30 ? 100 : 0);
        t++;
        (void)history_series_sample(s, t * USEC_PER_SEC, &g.c);
    }
    CHECK(near(at(s, HISTORY_HOUR, "cpu_percent", -31), 100));
    CHECK(near(at(s, HISTORY_HOUR, "cpu_percent", -1), 0));
    CHECK(near(at(s, HISTORY_DAY, "cpu_percent", -2), (50 + 30 * 100) / 60.0));

    /* A driver refreshing every 2 s: the rate holds over both seconds, no gaps. */
    for (unsigned i = 0; i < 30; i++) {
        run(&g, 2, 20);
        t += 2;
        CHECK(history_series_sample(s, t * USEC_PER_SEC, &g.c));
    }
    CHECK(near(at(s, HISTORY_HOUR, "cpu_percent", -1), 20));
    CHECK(near(at(s, HISTORY_HOUR, "cpu_percent", -2), 20));
    CHECK(nulls(s, HISTORY_HOUR, "cpu_percent") == 0);
    /* The same cached sample again adds nothing; the latest values stay what it gave. */
    {
        float latest[_HISTORY_METRIC_MAX];
        CHECK(!history_series_sample(s, t * USEC_PER_SEC + 400000, &g.c));
        CHECK(history_series_latest(s, latest) && near(latest[HISTORY_CPU], 20));
    }

    /* Stopped for five minutes, then started again (counters from 0): a gap, no bogus rate. */
    for (unsigned i = 0; i < 150; i++) {
        t += 2;
        history_series_break(s, t * USEC_PER_SEC);
    }
    CHECK(at(s, HISTORY_HOUR, "time", -1) == (double)t); /* the range runs on to now */
    {
        float latest[_HISTORY_METRIC_MAX];
        CHECK(!history_series_latest(s, latest)); /* a stopped domain adds nothing to the host */
    }
    CHECK(isnan(at(s, HISTORY_HOUR, "cpu_percent", -1)));
    g = (Guest){};
    CHECK(!history_series_sample(s, t * USEC_PER_SEC, &g.c));
    run(&g, 1, 10);
    t++;
    CHECK(history_series_sample(s, t * USEC_PER_SEC, &g.c));
    CHECK(nulls(s, HISTORY_HOUR, "cpu_percent") == 300);
    CHECK(near(at(s, HISTORY_HOUR, "cpu_percent", -1), 10));
    /* Counters going backwards without a stop seen (a restart between samples): no rate. */
    g.c.cpu_time_ns = 0;
    t++;
    CHECK(!history_series_sample(s, t * USEC_PER_SEC, &g.c));

    /* Forty days at one sample a minute: each range keeps its length, at its resolution. */
    for (unsigned i = 0; i < 40 * 1440; i++) {
        run(&g, 60, 75);
        t += 60;
        (void)history_series_sample(s, t * USEC_PER_SEC, &g.c);
    }
    CHECK(points(s, HISTORY_HOUR) == 3600);
    CHECK(nulls(s, HISTORY_HOUR, "cpu_percent") == 3600 - 60); /* one point a minute */
    CHECK(points(s, HISTORY_DAY) == 1440);
    CHECK(nulls(s, HISTORY_DAY, "cpu_percent") == 0);
    CHECK(at(s, HISTORY_DAY, "time", -1) - at(s, HISTORY_DAY, "time", 0) == 1439 * 60);
    CHECK(points(s, HISTORY_MONTH) == 4320);
    CHECK(at(s, HISTORY_MONTH, "time", -1) - at(s, HISTORY_MONTH, "time", 0) == 4319 * 600);
    CHECK(near(at(s, HISTORY_MONTH, "cpu_percent", 0), 75));
    CHECK(near(at(s, HISTORY_MONTH, "cpu_percent", -1), 75));
    CHECK(nulls(s, HISTORY_MONTH, "cpu_percent") == 0);
    json_t *month = history_series_json(s, HISTORY_MONTH);
    CHECK_STREQ(json_string_value(json_object_get(month, "range")), "month");
    json_decref(month);
    history_series_free(s);
}

/* 1000 domains' histories, full of samples: a fixed size each, which more samples do not grow. */
static void test_memory_of_1000_domains(void)
{
    enum { N = 1000, SIMULATED = 50 };
    static HistorySeries *all[N];
    struct mallinfo2 before = mallinfo2(), made, after;
    Guest g[N] = {};
    size_t made_bytes, grown;

    for (size_t i = 0; i < N; i++)
        CHECK((all[i] = history_series_new()) != NULL);
    made = mallinfo2();
    /* An hour of 1 s samples, then a month at 10 min, for the first SIMULATED domains (every
     * series is alike: more would only take longer, under AddressSanitizer especially). */
    for (uint64_t t = T0; t < T0 + 3600; t++)
        for (size_t i = 0; i < SIMULATED; i++) {
            run(&g[i], 1, (double)(i % 100));
            (void)history_series_sample(all[i], t * USEC_PER_SEC, &g[i].c);
        }
    for (uint64_t t = T0 + 3600; t < T0 + 3600 + 31 * 86400; t += 600)
        for (size_t i = 0; i < SIMULATED; i++) {
            run(&g[i], 600, 10);
            (void)history_series_sample(all[i], t * USEC_PER_SEC, &g[i].c);
        }
    after = mallinfo2();
    made_bytes = (made.uordblks + made.hblkhd) - (before.uordblks + before.hblkhd);
    grown = (after.uordblks + after.hblkhd) - (made.uordblks + made.hblkhd);
    printf("history of %d domains: %zu bytes each, %.1f MiB in all; %zd bytes more after a "
           "month of samples\n",
           N, history_series_bytes(), (double)made_bytes / (1024.0 * 1024.0), (ssize_t)grown);
    CHECK(history_series_bytes() <= 300 * 1024);
    CHECK(made_bytes <= (size_t)N * (history_series_bytes() + 4096));
    CHECK(grown == 0);
    CHECK(points(all[SIMULATED - 1], HISTORY_MONTH) == 4320);
    for (size_t i = 0; i < N; i++)
        history_series_free(all[i]);
}

static void test_names(void)
{
    for (HistoryRange r = 0; r < _HISTORY_RANGE_MAX; r++)
        CHECK(history_range_from_string(history_range_to_string(r)) == r);
    for (HistoryMetric m = 0; m < _HISTORY_METRIC_MAX; m++)
        CHECK(history_metric_from_string(history_metric_to_string(m)) == m);
    CHECK(history_range_from_string("week") == _HISTORY_RANGE_INVALID);
}

static void test_counters_from_stats(void)
{
    json_t *stats =
        json_pack("{s:I, s:I, s:{s:I}, s:{s:I, s:I}, s:{s:I, s:I}}", "cpu_time_ns",
                  (json_int_t)5000, "memory_kib", (json_int_t)64, "exits_by_reason", "total",
                  (json_int_t)7, "block", "read_sectors", (json_int_t)2, "write_sectors",
                  (json_int_t)3, "net", "rx_bytes", (json_int_t)11, "tx_bytes", (json_int_t)13);
    HistoryCounters c;

    history_counters_from_stats(stats, &c);
    CHECK(c.cpu_time_ns == 5000 && c.memory_kib == 64 && c.exits == 7);
    CHECK(c.disk_read_bytes == 1024 && c.disk_write_bytes == 1536);
    CHECK(c.net_rx_bytes == 11 && c.net_tx_bytes == 13);
    json_decref(stats);
    history_counters_from_stats(NULL, &c);
    CHECK(c.cpu_time_ns == 0 && c.net_tx_bytes == 0);
}

/* What a run saves of its day and month comes back in a new series (as after a restart),
 * minute for minute; the hour's seconds do not. Points are handed out once, the current one
 * again when it is over. */
static void test_saved_points_come_back(void)
{
    HistorySeries *s = history_series_new(), *back = history_series_new();
    HistoryPoint pts[2048];
    Guest g = {};
    uint64_t t = T0;
    size_t n_day, n_month, n;
    json_t *a, *b;

    CHECK(s && back);
    (void)history_series_sample(s, t * USEC_PER_SEC, &g.c);
    for (unsigned i = 0; i < 3 * 3600 + 30; i++) {
        run(&g, 1, i % 120 < 60 ? 80 : 20);
        t++;
        (void)history_series_sample(s, t * USEC_PER_SEC, &g.c);
    }
    n_day = history_series_take_unsaved(s, HISTORY_DAY, false, pts, ELEMENTSOF(pts));
    CHECK(n_day == 180); /* every minute that is over; the current one is not */
    CHECK(pts[0].interval == (int64_t)(T0 / 60) &&
          pts[n_day - 1].interval == (int64_t)(t / 60) - 1);
    CHECK(history_series_take_unsaved(s, HISTORY_DAY, false, pts, ELEMENTSOF(pts)) == 0);
    n = history_series_take_unsaved(s, HISTORY_DAY, true, pts, ELEMENTSOF(pts));
    CHECK(n == 1 && pts[0].interval == (int64_t)(t / 60));
    CHECK(history_series_take_unsaved(s, HISTORY_DAY, true, pts, ELEMENTSOF(pts)) == 1);

    /* A small batch: handed out in order across calls. */
    CHECK(history_series_take_unsaved(s, HISTORY_MONTH, false, pts, 5) == 5);
    n_month = 5 + history_series_take_unsaved(s, HISTORY_MONTH, false, pts + 5, 100);
    CHECK(n_month == 18);

    /* Everything of a run like it, current points included, into a new series. */
    history_series_free(s);
    s = history_series_new();
    g = (Guest){};
    t = T0;
    CHECK(s);
    (void)history_series_sample(s, t * USEC_PER_SEC, &g.c);
    for (unsigned i = 0; i < 3 * 3600 + 30; i++) {
        run(&g, 1, i % 120 < 60 ? 80 : 20);
        t++;
        (void)history_series_sample(s, t * USEC_PER_SEC, &g.c);
    }
    for (HistoryRange r = HISTORY_DAY; r <= HISTORY_MONTH; r++) {
        n = history_series_take_unsaved(s, r, true, pts, ELEMENTSOF(pts));
        for (size_t i = 0; i < n; i++)
            history_series_restore(back, r, &pts[i]);
        a = history_series_json(s, r);
        b = history_series_json(back, r);
        CHECK(json_equal(a, b));
        json_decref(a);
        json_decref(b);
    }
    CHECK(points(back, HISTORY_HOUR) == 0);
    /* A point older than the newest restored one is ignored. */
    history_series_restore(back, HISTORY_DAY, &(HistoryPoint){.interval = (int64_t)(T0 / 60)});
    CHECK(points(back, HISTORY_DAY) == 181);
    history_series_free(s);
    history_series_free(back);
}

int main(void)
{
    test_saved_points_come_back();
    test_names();
    test_counters_from_stats();
    test_ranges_after_simulated_time();
    test_memory_of_1000_domains();
    return test_summary("test-history");
}
