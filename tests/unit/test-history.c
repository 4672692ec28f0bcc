/* Unit tests: the statistics history under a fake clock — rates from counters, resolution and
 * length of each range after simulated hours and days (the day's and the month's points saved
 * into a stand-in for the store as the sampler does), averages in rollups, gaps, restarts, the
 * hour's step under a memory budget and a ring's resampling, and the memory 1000 domains'
 * histories take. */
#include <malloc.h>
#include <math.h>
#include <string.h>

#include "history.h"
#include "test.h"
#include "time-util.h"

#define T0 UINT64_C(1800000000) /* a multiple of 600: intervals start on it */

/* A stand-in for the store's table: the day's and the month's points, by interval. */
#define SAVED_MAX 8192
typedef struct Saved {
    HistoryPoint points[SAVED_MAX];
    size_t n;
} Saved;
static Saved saved[_HISTORY_RANGE_MAX];
static unsigned hour_step = 1; /* the step the sampler would pass for the hour */

static void saved_clear(void)
{
    for (size_t r = 0; r < _HISTORY_RANGE_MAX; r++)
        saved[r].n = 0;
}

/* INSERT OR REPLACE: points come oldest first, the newest may be one already there. */
static void saved_put(HistoryRange r, const HistoryPoint *p)
{
    Saved *sv = &saved[r];

    if (sv->n > 0 && sv->points[sv->n - 1].interval == p->interval)
        sv->points[sv->n - 1] = *p;
    else if (sv->n < SAVED_MAX)
        sv->points[sv->n++] = *p;
    else { /* keep the newest: drop the oldest half */
        memmove(sv->points, sv->points + SAVED_MAX / 2, SAVED_MAX / 2 * sizeof(*p));
        sv->n = SAVED_MAX / 2;
        sv->points[sv->n++] = *p;
    }
}

/* What the sampler's save does each minute (with current, as when hvd stops). */
static void save(HistorySeries *s, bool current)
{
    HistoryPoint pts[64];

    for (HistoryRange r = HISTORY_DAY; r <= HISTORY_MONTH; r++) {
        size_t n;
        do {
            n = history_series_take_unsaved(s, r, current, pts, ELEMENTSOF(pts));
            for (size_t i = 0; i < n; i++)
                saved_put(r, &pts[i]);
        } while (n == ELEMENTSOF(pts));
    }
}

/* The document the sampler would make: s's own points and the saved ones. */
static json_t *doc(HistorySeries *s, HistoryRange r)
{
    HistoryRange from_r;
    int64_t from;

    if (!history_saved_source(r, hour_step, 0, &from_r, &from))
        return history_series_json(s, r, hour_step, NULL, 0);
    return history_series_json(s, r, hour_step, saved[from_r].points, saved[from_r].n);
}

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
    json_t *h = doc(s, r);
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

/* A sample, and the minute's save the sampler makes after it. */
static bool sample_saving(HistorySeries *s, uint64_t now_us, const HistoryCounters *c)
{
    bool r = history_series_sample(s, now_us, c);

    save(s, false);
    return r;
}

static void test_ranges_after_simulated_time(void)
{
    HistorySeries *s = history_series_new();
    Guest g = {};
    uint64_t t = T0;

    saved_clear();
    CHECK(s && history_series_set_hour_step(s, 1) == 0);
    CHECK(points(s, HISTORY_HOUR) == 0);
    /* The first sample gives no rate; a second one less than half a second later is the same
     * cached sample seen again. */
    CHECK(!sample_saving(s, t * USEC_PER_SEC, &g.c));
    CHECK(!sample_saving(s, t * USEC_PER_SEC + 300000, &g.c));

    /* Two hours at 1 s, 50 % CPU. */
    for (unsigned i = 0; i < 7200; i++) {
        run(&g, 1, 50);
        t++;
        CHECK(sample_saving(s, t * USEC_PER_SEC, &g.c));
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
        (void)sample_saving(s, t * USEC_PER_SEC, &g.c);
    }
    CHECK(near(at(s, HISTORY_HOUR, "cpu_percent", -31), 100));
    CHECK(near(at(s, HISTORY_HOUR, "cpu_percent", -1), 0));
    CHECK(near(at(s, HISTORY_DAY, "cpu_percent", -2), (50 + 30 * 100) / 60.0));

    /* A driver refreshing every 2 s: the rate holds over both seconds, no gaps. */
    for (unsigned i = 0; i < 30; i++) {
        run(&g, 2, 20);
        t += 2;
        CHECK(sample_saving(s, t * USEC_PER_SEC, &g.c));
    }
    CHECK(near(at(s, HISTORY_HOUR, "cpu_percent", -1), 20));
    CHECK(near(at(s, HISTORY_HOUR, "cpu_percent", -2), 20));
    CHECK(nulls(s, HISTORY_HOUR, "cpu_percent") == 0);
    /* The same cached sample again adds nothing; the latest values stay what it gave. */
    {
        float latest[_HISTORY_METRIC_MAX];
        CHECK(!sample_saving(s, t * USEC_PER_SEC + 400000, &g.c));
        CHECK(history_series_latest(s, latest) && near(latest[HISTORY_CPU], 20));
    }

    /* Stopped for five minutes, then started again (counters from 0): a gap, no bogus rate. */
    for (unsigned i = 0; i < 150; i++) {
        t += 2;
        history_series_break(s, t * USEC_PER_SEC);
        save(s, false);
    }
    CHECK(at(s, HISTORY_HOUR, "time", -1) == (double)t); /* the range runs on to now */
    {
        float latest[_HISTORY_METRIC_MAX];
        CHECK(!history_series_latest(s, latest)); /* a stopped domain adds nothing to the host */
    }
    CHECK(isnan(at(s, HISTORY_HOUR, "cpu_percent", -1)));
    g = (Guest){};
    CHECK(!sample_saving(s, t * USEC_PER_SEC, &g.c));
    run(&g, 1, 10);
    t++;
    CHECK(sample_saving(s, t * USEC_PER_SEC, &g.c));
    CHECK(nulls(s, HISTORY_HOUR, "cpu_percent") == 300);
    CHECK(near(at(s, HISTORY_HOUR, "cpu_percent", -1), 10));
    /* Counters going backwards without a stop seen (a restart between samples): no rate. */
    g.c.cpu_time_ns = 0;
    t++;
    CHECK(!sample_saving(s, t * USEC_PER_SEC, &g.c));

    /* Forty days at one sample a minute: each range keeps its length, at its resolution. */
    for (unsigned i = 0; i < 40 * 1440; i++) {
        run(&g, 60, 75);
        t += 60;
        (void)sample_saving(s, t * USEC_PER_SEC, &g.c);
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
    json_t *month = doc(s, HISTORY_MONTH);
    CHECK_STREQ(json_string_value(json_object_get(month, "range")), "month");
    json_decref(month);
    history_series_free(s);
}

/* 1000 domains' histories at the hour step their budget gives, full of samples: a fixed size
 * each, which more samples do not grow; 10 000 get no hour ring of their own. */
static void test_memory_of_1000_domains(void)
{
    enum { N = 1000, SIMULATED = 50 };
    static HistorySeries *all[N];
    const size_t budget = (size_t)16 << 20;
    unsigned step = history_hour_step_for(budget, N);
    struct mallinfo2 before = mallinfo2(), made, after;
    static Guest g[N];
    size_t made_bytes, grown, each;

    CHECK(step == 10); /* 360 points an hour */
    CHECK(history_hour_step_for(budget, 10000) == 0);
    CHECK(history_hour_step_for(budget, 100) == 1);
    CHECK(history_hour_step_for(0, 1) == 0);
    saved_clear();
    for (size_t i = 0; i < N; i++) {
        CHECK((all[i] = history_series_new()) != NULL);
        CHECK(history_series_set_hour_step(all[i], step) == 0);
    }
    made = mallinfo2();
    /* An hour of 1 s samples, then a month at 10 min, for the first SIMULATED domains (every
     * series is alike: more would only take longer, under AddressSanitizer especially). */
    for (uint64_t t = T0; t < T0 + 3600; t++)
        for (size_t i = 0; i < SIMULATED; i++) {
            run(&g[i], 1, (double)(i % 100));
            (void)history_series_sample(all[i], t * USEC_PER_SEC, &g[i].c);
            if (t % 60 == 0)
                save(all[i], false);
        }
    for (uint64_t t = T0 + 3600; t < T0 + 3600 + 31 * 86400; t += 600)
        for (size_t i = 0; i < SIMULATED; i++) {
            run(&g[i], 600, 10);
            (void)history_series_sample(all[i], t * USEC_PER_SEC, &g[i].c);
            save(all[i], false);
        }
    after = mallinfo2();
    made_bytes = (made.uordblks + made.hblkhd) - (before.uordblks + before.hblkhd);
    grown = (after.uordblks + after.hblkhd) - (made.uordblks + made.hblkhd);
    each = history_series_bytes() + history_hour_ring_bytes(step);
    printf("history of %d domains: %zu bytes each, %.1f MiB in all; %zd bytes more after a "
           "month of samples\n",
           N, each, (double)N * (double)each / (1024.0 * 1024.0), (ssize_t)grown);
    CHECK(N * each <= budget + N * history_series_bytes());
    CHECK(history_series_bytes() <= 640);
    CHECK(made_bytes <= (size_t)N * (history_series_bytes() + 256)); /* and the ring's own */
    CHECK(grown == 0);
    CHECK(points(all[SIMULATED - 1], HISTORY_MONTH) == 4320);
    CHECK(nulls(all[SIMULATED - 1], HISTORY_MONTH, "cpu_percent") == 0);
    for (size_t i = 0; i < N; i++)
        history_series_free(all[i]);
}

/* The hour at a coarser step and back, and drawn from the day's minutes with no ring at all. */
static void test_hour_step(void)
{
    HistorySeries *s = history_series_new();
    Guest g = {};
    uint64_t t = T0;

    saved_clear();
    CHECK(s && history_series_set_hour_step(s, 1) == 0 && history_series_hour_step(s) == 1);
    (void)sample_saving(s, t * USEC_PER_SEC, &g.c);
    for (unsigned i = 0; i < 600; i++) {
        run(&g, 1, i < 300 ? 40 : 80);
        t++;
        (void)sample_saving(s, t * USEC_PER_SEC, &g.c);
    }
    CHECK(points(s, HISTORY_HOUR) == 600);
    /* To 10 s: each point the average of its ten seconds, the window as long. */
    hour_step = 10;
    CHECK(history_series_set_hour_step(s, 10) == 0 && history_series_hour_step(s) == 10);
    CHECK(points(s, HISTORY_HOUR) == 61);
    CHECK(at(s, HISTORY_HOUR, "time", -1) == (double)t);
    CHECK(near(at(s, HISTORY_HOUR, "cpu_percent", 1), 40));
    CHECK(near(at(s, HISTORY_HOUR, "cpu_percent", -2), 80));
    CHECK(nulls(s, HISTORY_HOUR, "cpu_percent") == 0);
    {
        json_t *h = doc(s, HISTORY_HOUR);
        CHECK(json_integer_value(json_object_get(h, "step_s")) == 10);
        json_decref(h);
    }
    /* Samples go on at the new step, the current point averaging on. */
    for (unsigned i = 0; i < 20; i++) {
        run(&g, 1, 80);
        t++;
        (void)sample_saving(s, t * USEC_PER_SEC, &g.c);
    }
    CHECK(points(s, HISTORY_HOUR) == 63 && near(at(s, HISTORY_HOUR, "cpu_percent", -2), 80));
    /* Back to 1 s: each 10 s point held over its seconds. */
    hour_step = 1;
    CHECK(history_series_set_hour_step(s, 1) == 0);
    CHECK(at(s, HISTORY_HOUR, "time", -1) == (double)t);
    CHECK(near(at(s, HISTORY_HOUR, "cpu_percent", 5), 40));
    CHECK(nulls(s, HISTORY_HOUR, "cpu_percent") == 0);
    /* No ring: the hour is the day's last minutes. */
    hour_step = 0;
    CHECK(history_series_set_hour_step(s, 0) == 0 && history_series_hour_step(s) == 0);
    {
        json_t *h = doc(s, HISTORY_HOUR);
        CHECK(json_integer_value(json_object_get(h, "step_s")) == 60);
        CHECK_STREQ(json_string_value(json_object_get(h, "range")), "hour");
        json_decref(h);
    }
    CHECK(points(s, HISTORY_HOUR) == 11);
    CHECK(near(at(s, HISTORY_HOUR, "cpu_percent", 1), 40));
    CHECK(near(at(s, HISTORY_HOUR, "cpu_percent", -2), 80));
    /* A ring stopped for an hour holds nothing more and is let go. */
    hour_step = 1;
    CHECK(history_series_set_hour_step(s, 1) == 0);
    (void)sample_saving(s, (t + 1) * USEC_PER_SEC, &g.c);
    for (unsigned i = 0; i < 3601; i++)
        history_series_break(s, (t + 2 + i) * USEC_PER_SEC);
    CHECK(history_series_hour_step(s) == 0);
    history_series_free(s);
    hour_step = 1;
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
    DriverCounters dc;

    driver_counters_from_json(stats, &dc);
    history_counters_from_driver(&dc, &c);
    CHECK(c.cpu_time_ns == 5000 && c.memory_kib == 64 && c.exits == 7);
    CHECK(c.disk_read_bytes == 1024 && c.disk_write_bytes == 1536);
    CHECK(c.net_rx_bytes == 11 && c.net_tx_bytes == 13);
    json_decref(stats);
    driver_counters_from_json(NULL, &dc);
    history_counters_from_driver(&dc, &c);
    CHECK(c.cpu_time_ns == 0 && c.net_tx_bytes == 0);
}

/* What a run saves of its day and month, with the newest points put back in a new series (as
 * after a restart), draws the same charts minute for minute; the hour's seconds do not come
 * back. Points over are handed out once; the current one again when it is over. */
static void test_saved_points_come_back(void)
{
    HistorySeries *s = history_series_new(), *back = history_series_new();
    HistoryPoint pts[16];
    Guest g = {};
    uint64_t t = T0;
    size_t n;
    json_t *a, *b;

    saved_clear();
    CHECK(s && back && history_series_set_hour_step(s, 1) == 0);
    (void)history_series_sample(s, t * USEC_PER_SEC, &g.c);
    for (unsigned i = 0; i < 3 * 3600 + 30; i++) {
        run(&g, 1, i % 120 < 60 ? 80 : 20);
        t++;
        (void)history_series_sample(s, t * USEC_PER_SEC, &g.c);
        if (t % 60 == 5)
            save(s, false);
    }
    CHECK(saved[HISTORY_DAY].n == 180); /* every minute that is over; the current one is not */
    CHECK(saved[HISTORY_DAY].points[0].interval == (int64_t)(T0 / 60));
    CHECK(saved[HISTORY_DAY].points[179].interval == (int64_t)(t / 60) - 1);
    CHECK(saved[HISTORY_MONTH].n == 18);
    CHECK(history_series_take_unsaved(s, HISTORY_DAY, false, pts, ELEMENTSOF(pts)) == 0);
    n = history_series_take_unsaved(s, HISTORY_DAY, true, pts, ELEMENTSOF(pts));
    CHECK(n == 1 && pts[0].interval == (int64_t)(t / 60));
    CHECK(history_series_take_unsaved(s, HISTORY_DAY, true, pts, ELEMENTSOF(pts)) == 1);
    CHECK(history_series_take_unsaved(s, HISTORY_HOUR, true, pts, ELEMENTSOF(pts)) == 0);
    CHECK(points(s, HISTORY_DAY) == 181 && nulls(s, HISTORY_DAY, "cpu_percent") == 0);
    CHECK(near(at(s, HISTORY_DAY, "cpu_percent", 0), 80) &&
          near(at(s, HISTORY_DAY, "cpu_percent", 1), (80 + 59 * 20) / 60.0));

    /* hvd stops: the current points are saved too; the newest of each range comes back. */
    save(s, true);
    for (HistoryRange r = HISTORY_DAY; r <= HISTORY_MONTH; r++)
        history_series_restore(back, r, &saved[r].points[saved[r].n - 1]);
    for (HistoryRange r = HISTORY_DAY; r <= HISTORY_MONTH; r++) {
        a = doc(s, r);
        b = doc(back, r);
        CHECK(json_equal(a, b));
        json_decref(a);
        json_decref(b);
    }
    CHECK(points(back, HISTORY_HOUR) == 0);
    /* A point older than the newest restored one is ignored. */
    history_series_restore(back, HISTORY_DAY, &(HistoryPoint){.interval = (int64_t)(T0 / 60)});
    CHECK(points(back, HISTORY_DAY) == 181);
    /* The restored point goes on averaging, and is saved again once over. */
    (void)history_series_sample(back, t * USEC_PER_SEC, &g.c);
    run(&g, 1, 20);
    (void)history_series_sample(back, (t + 1) * USEC_PER_SEC, &g.c);
    (void)history_series_sample(back, (t / 60 + 1) * 60 * USEC_PER_SEC, &g.c);
    n = history_series_take_unsaved(back, HISTORY_DAY, false, pts, ELEMENTSOF(pts));
    CHECK(n == 1 && pts[0].interval == (int64_t)(t / 60));

    /* Not taken for minutes (a store that fails): only the newest two that are over are kept. */
    for (unsigned i = 0; i < 300; i++) {
        run(&g, 1, 50);
        t++;
        (void)history_series_sample(s, t * USEC_PER_SEC, &g.c);
    }
    n = history_series_take_unsaved(s, HISTORY_DAY, false, pts, ELEMENTSOF(pts));
    CHECK(n == 2 && pts[1].interval == (int64_t)(t / 60) - 1);
    /* No series and no saved points: an empty document at the hour's step. */
    saved_clear();
    a = doc(NULL, HISTORY_HOUR);
    CHECK(json_integer_value(json_object_get(a, "step_s")) == 1 &&
          json_array_size(json_object_get(a, "time")) == 0);
    json_decref(a);
    a = doc(NULL, HISTORY_DAY);
    CHECK(json_array_size(json_object_get(a, "time")) == 0);
    json_decref(a);
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
    test_hour_step();
    return test_summary("test-history");
}
