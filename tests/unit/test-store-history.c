/* Unit tests: the statistics history's points in the store — saved, replaced, read back by
 * series and range from an interval on, and only the newest of each series and range handed
 * out at start-up. */
#include <stdlib.h>
#include <unistd.h>

#include "store-history.h"
#include "test.h"

static char dir[] = "/tmp/hvd-test-store-history-XXXXXX";
static char path[256];

static HistoryPoint point_at(int64_t interval, float cpu)
{
    HistoryPoint p = {.interval = interval};

    for (size_t m = 0; m < _HISTORY_METRIC_MAX; m++)
        p.values[m] = cpu + (float)m;
    return p;
}

typedef struct Newest {
    char series[8][40];
    HistoryRange range[8];
    HistoryPoint points[8];
    unsigned n;
} Newest;

static void on_point(void *userdata, const char *series, HistoryRange r, const HistoryPoint *p)
{
    Newest *nw = userdata;

    if (nw->n < ELEMENTSOF(nw->points)) {
        (void)snprintf(nw->series[nw->n], sizeof(nw->series[0]), "%s", series);
        nw->range[nw->n] = r;
        nw->points[nw->n] = *p;
    }
    nw->n++;
}

int main(void)
{
    Store *s = NULL;
    Error e = ERROR_NULL;
    HistoryPoint day[5], *got = NULL;
    Newest nw = {};
    size_t n = 99;

    CHECK(mkdtemp(dir) != NULL);
    (void)snprintf(path, sizeof(path), "%s/hvd.db", dir);
    CHECK(store_open(path, STORE_SYNC_NORMAL, &s, &e) == 0);

    for (int i = 0; i < 5; i++)
        day[i] = point_at(1000 + i, (float)i);
    CHECK(store_begin(s) == 0);
    CHECK(store_history_save(s, "host", HISTORY_DAY, day, 5) == 0);
    CHECK(store_history_save(s, "host", HISTORY_MONTH, day, 2) == 0);
    /* The current point saved again once it is over: replaced, not doubled. */
    day[4] = point_at(1004, 40);
    CHECK(store_history_save(s, "host", HISTORY_DAY, &day[4], 1) == 0);
    CHECK(store_history_save(s, "other", HISTORY_DAY, day, 1) == 0);
    CHECK(store_commit(s) == 0);

    /* A range of a series from an interval on, oldest first. */
    CHECK(store_history_read(s, "host", HISTORY_DAY, 1002, &got, &n) == 0);
    CHECK(n == 3 && got[0].interval == 1002 && got[2].interval == 1004);
    CHECK(got[2].values[0] == 40 && got[0].values[3] == 5);
    free(got);
    got = NULL;
    CHECK(store_history_read(s, "host", HISTORY_MONTH, 0, &got, &n) == 0);
    CHECK(n == 2 && got[1].interval == 1001);
    free(got);
    got = NULL;
    CHECK(store_history_read(s, "nobody", HISTORY_DAY, 0, &got, &n) == 0);
    CHECK(n == 0 && got == NULL);

    /* At start-up: the newest point of each series and range, when it is still kept. */
    CHECK(store_history_load(s, 0, 0, on_point, &nw) == 0);
    CHECK(nw.n == 3);
    CHECK_STREQ(nw.series[0], "host");
    CHECK(nw.range[0] == HISTORY_DAY && nw.points[0].interval == 1004 &&
          nw.points[0].values[0] == 40);
    CHECK(nw.range[1] == HISTORY_MONTH && nw.points[1].interval == 1001);
    CHECK_STREQ(nw.series[2], "other");
    nw = (Newest){};
    CHECK(store_history_load(s, 1005, 0, on_point, &nw) == 0);
    CHECK(nw.n == 1 && nw.range[0] == HISTORY_MONTH);

    store_free(s);
    (void)unlink(path);
    char wal[300];
    (void)snprintf(wal, sizeof(wal), "%s-wal", path);
    (void)unlink(wal);
    (void)snprintf(wal, sizeof(wal), "%s-shm", path);
    (void)unlink(wal);
    (void)rmdir(dir);
    return test_summary("test-store-history");
}
