/* Statistics history in fixed rings: one per resolution, each point the average of what was
 * recorded during its interval. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "history.h"
#include "time-util.h"

static const char *const history_metric_table[_HISTORY_METRIC_MAX] = {
    [HISTORY_CPU] = "cpu_percent",
    [HISTORY_MEMORY_KIB] = "memory_kib",
    [HISTORY_EXITS] = "exits_per_s",
    [HISTORY_DISK_READ] = "disk_read_bytes_per_s",
    [HISTORY_DISK_WRITE] = "disk_write_bytes_per_s",
    [HISTORY_NET_RX] = "net_rx_bytes_per_s",
    [HISTORY_NET_TX] = "net_tx_bytes_per_s",
};
DEFINE_STRING_TABLE(history_metric, HistoryMetric, _HISTORY_METRIC_MAX);

static const char *const history_range_table[_HISTORY_RANGE_MAX] = {
    [HISTORY_HOUR] = "hour",
    [HISTORY_DAY] = "day",
    [HISTORY_MONTH] = "month",
};
DEFINE_STRING_TABLE(history_range, HistoryRange, _HISTORY_RANGE_MAX);

#define SECTOR_BYTES   512u
#define SAME_SAMPLE_US (USEC_PER_SEC / 2) /* closer than this to the last: the same one again */
#define FILL_MAX_S     10u /* a rate covers the seconds since the last sample, up to this many */

/* Each range's resolution and length. */
static const struct {
    unsigned step_s;
    unsigned points;
} tiers[_HISTORY_RANGE_MAX] = {
    [HISTORY_HOUR] = {1, 3600},
    [HISTORY_DAY] = {60, 1440},
    [HISTORY_MONTH] = {600, 4320},
};

#define TOTAL_POINTS  (3600 + 1440 + 4320)
#define STORAGE_BYTES (TOTAL_POINTS * _HISTORY_METRIC_MAX * sizeof(uint32_t))

/* A value is stored as its bits XOR a quiet NaN's, so zero bits read as NaN ("nothing
 * recorded"): the rings live in anonymous memory the kernel hands out as zero pages on first
 * touch, and a series holds only the pages its points reached (a new domain's costs a few KiB,
 * not the 262 KiB of every ring; with 500 running this was most of hvd's memory). */
#define UNRECORDED_BITS 0x7fc00000u

/* One resolution: a ring of points, and the interval being averaged into the newest one. */
typedef struct Tier {
    uint32_t *points; /* points x metrics, encoded (0 where nothing was recorded) */
    int64_t head;     /* interval number (time / step) of the newest point, -1 before any */
    int64_t first;    /* interval number of the first point ever recorded */
    int64_t saved;    /* the newest interval over and handed out to be saved, -1 before any */
    double sum[_HISTORY_METRIC_MAX];
    unsigned n; /* values summed into the newest point */
} Tier;

struct HistorySeries {
    Tier tier[_HISTORY_RANGE_MAX];
    bool have_last;
    uint64_t last_us;
    HistoryCounters last;
    bool have_latest;
    float latest[_HISTORY_METRIC_MAX]; /* what the last sample produced */
    uint32_t *storage;                 /* STORAGE_BYTES of anonymous memory */
};

size_t history_series_bytes(void)
{
    return sizeof(HistorySeries) + STORAGE_BYTES;
}

HistorySeries *history_series_new(void)
{
    HistorySeries *s = malloc(sizeof(*s));
    uint32_t *p;

    if (!s)
        return NULL;
    *s = (HistorySeries){};
    p = mmap(NULL, STORAGE_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        free(s);
        return NULL;
    }
    s->storage = p;
    for (size_t i = 0; i < _HISTORY_RANGE_MAX; i++) {
        s->tier[i].points = p;
        s->tier[i].head = -1;
        s->tier[i].saved = -1;
        p += (size_t)tiers[i].points * _HISTORY_METRIC_MAX;
    }
    return s;
}

HistorySeries *history_series_free(HistorySeries *s)
{
    if (!s)
        return NULL;
    (void)munmap(s->storage, STORAGE_BYTES);
    free(s);
    return NULL;
}

static uint32_t *point(const Tier *t, HistoryRange r, int64_t interval)
{
    return t->points + (size_t)(interval % tiers[r].points) * _HISTORY_METRIC_MAX;
}

static float decoded(uint32_t stored)
{
    uint32_t bits = stored ^ UNRECORDED_BITS;
    float f;

    memcpy(&f, &bits, sizeof(f));
    return f;
}

static uint32_t encoded(float f)
{
    uint32_t bits;

    memcpy(&bits, &f, sizeof(bits));
    return bits ^ UNRECORDED_BITS;
}

/* Moves the ring on to the interval now_s falls in, blanking the intervals skipped. Returns
 * that interval, or -1 when now_s is before the newest point. */
static int64_t tier_advance(Tier *t, HistoryRange r, uint64_t now_s)
{
    int64_t interval = (int64_t)(now_s / tiers[r].step_s);
    uint32_t *p;

    if (interval < t->head)
        return -1;
    if (interval > t->head) {
        int64_t from = t->head < 0 ? interval : MAX(t->head + 1, interval - tiers[r].points + 1);
        for (int64_t i = from; i <= interval; i++) {
            p = point(t, r, i);
            memset(p, 0, _HISTORY_METRIC_MAX * sizeof(*p));
        }
        if (t->head < 0)
            t->first = interval;
        t->head = interval;
        t->n = 0;
        for (size_t m = 0; m < _HISTORY_METRIC_MAX; m++)
            t->sum[m] = 0;
    }
    return interval;
}

/* Averages values into the interval now_s falls in. */
static void tier_add(Tier *t, HistoryRange r, uint64_t now_s, const float *values)
{
    int64_t interval = tier_advance(t, r, now_s);
    uint32_t *p;

    if (interval < 0)
        return;
    p = point(t, r, interval);
    t->n++;
    for (size_t m = 0; m < _HISTORY_METRIC_MAX; m++) {
        t->sum[m] += values[m];
        p[m] = encoded((float)(t->sum[m] / t->n));
    }
}

void history_series_add(HistorySeries *s, uint64_t now_us, const float values[_HISTORY_METRIC_MAX])
{
    for (HistoryRange r = 0; r < _HISTORY_RANGE_MAX; r++)
        tier_add(&s->tier[r], r, now_us / USEC_PER_SEC, values);
}

void history_series_break(HistorySeries *s, uint64_t now_us)
{
    s->have_last = s->have_latest = false;
    for (HistoryRange r = 0; r < _HISTORY_RANGE_MAX; r++)
        if (s->tier[r].head >= 0)
            (void)tier_advance(&s->tier[r], r, now_us / USEC_PER_SEC);
}

static uint64_t counter(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

void history_counters_from_stats(json_t *stats, HistoryCounters *ret)
{
    json_t *block = json_object_get(stats, "block"), *net = json_object_get(stats, "net");

    *ret = (HistoryCounters){
        .cpu_time_ns = counter(stats, "cpu_time_ns"),
        .memory_kib = counter(stats, "memory_kib"),
        .exits = counter(json_object_get(stats, "exits_by_reason"), "total"),
        .disk_read_bytes = counter(block, "read_sectors") * SECTOR_BYTES,
        .disk_write_bytes = counter(block, "write_sectors") * SECTOR_BYTES,
        .net_rx_bytes = counter(net, "rx_bytes"),
        .net_tx_bytes = counter(net, "tx_bytes"),
    };
}

bool history_series_sample(HistorySeries *s, uint64_t now_us, const HistoryCounters *c)
{
    const HistoryCounters *p = &s->last;
    float values[_HISTORY_METRIC_MAX];
    uint64_t from_s, to_s;
    double dt;

    if (s->have_last && now_us < s->last_us + SAME_SAMPLE_US)
        return false;
    if (!s->have_last || c->cpu_time_ns < p->cpu_time_ns || c->exits < p->exits ||
        c->disk_read_bytes < p->disk_read_bytes || c->disk_write_bytes < p->disk_write_bytes ||
        c->net_rx_bytes < p->net_rx_bytes || c->net_tx_bytes < p->net_tx_bytes) {
        s->have_last = true;
        s->last_us = now_us;
        s->last = *c;
        return false;
    }
    dt = (double)(now_us - s->last_us) / (double)USEC_PER_SEC;
    values[HISTORY_CPU] = (float)((double)(c->cpu_time_ns - p->cpu_time_ns) / 1e7 / dt);
    values[HISTORY_MEMORY_KIB] = (float)c->memory_kib;
    values[HISTORY_EXITS] = (float)((double)(c->exits - p->exits) / dt);
    values[HISTORY_DISK_READ] = (float)((double)(c->disk_read_bytes - p->disk_read_bytes) / dt);
    values[HISTORY_DISK_WRITE] = (float)((double)(c->disk_write_bytes - p->disk_write_bytes) / dt);
    values[HISTORY_NET_RX] = (float)((double)(c->net_rx_bytes - p->net_rx_bytes) / dt);
    values[HISTORY_NET_TX] = (float)((double)(c->net_tx_bytes - p->net_tx_bytes) / dt);
    /* The rate held over every second since the last sample (a driver's cache may refresh
     * less often than once a second); a longer silence stays a gap. */
    from_s = s->last_us / USEC_PER_SEC + 1;
    to_s = now_us / USEC_PER_SEC;
    if (from_s > to_s || to_s - from_s >= FILL_MAX_S)
        from_s = to_s;
    for (uint64_t t = from_s; t <= to_s; t++)
        history_series_add(s, t * USEC_PER_SEC, values);
    s->last_us = now_us;
    s->last = *c;
    memcpy(s->latest, values, sizeof(values));
    s->have_latest = true;
    return true;
}

bool history_series_latest(const HistorySeries *s, float ret[_HISTORY_METRIC_MAX])
{
    if (!s->have_latest)
        return false;
    memcpy(ret, s->latest, sizeof(s->latest));
    return true;
}

json_t *history_series_json(const HistorySeries *s, HistoryRange range)
{
    const Tier *t = s ? &s->tier[range] : NULL;
    json_t *obj = json_pack("{s:s, s:i}", "range", history_range_to_string(range), "step_s",
                            (int)tiers[range].step_s);
    json_t *arrays[_HISTORY_METRIC_MAX + 1];
    int64_t from;

    if (!obj)
        return NULL;
    for (size_t i = 0; i <= _HISTORY_METRIC_MAX; i++) {
        arrays[i] = json_array();
        (void)json_object_set_new(obj, i == 0 ? "time" : history_metric_to_string(i - 1),
                                  arrays[i]);
    }
    if (!t || t->head < 0)
        return obj;
    from = MAX(t->first, t->head - (int64_t)tiers[range].points + 1);
    for (int64_t i = from; i <= t->head; i++) {
        const uint32_t *p = point(t, range, i);
        (void)json_array_append_new(arrays[0], json_integer(i * tiers[range].step_s));
        for (size_t m = 0; m < _HISTORY_METRIC_MAX; m++) {
            float v = decoded(p[m]);
            (void)json_array_append_new(arrays[m + 1], isnan(v) ? json_null() : json_real(v));
        }
    }
    return obj;
}

unsigned history_range_step_s(HistoryRange r)
{
    return tiers[r].step_s;
}

unsigned history_range_points(HistoryRange r)
{
    return tiers[r].points;
}

static bool point_empty(const uint32_t *p)
{
    for (size_t m = 0; m < _HISTORY_METRIC_MAX; m++)
        if (!isnan(decoded(p[m])))
            return false;
    return true;
}

size_t history_series_take_unsaved(HistorySeries *s, HistoryRange r, bool current,
                                   HistoryPoint *out, size_t max)
{
    Tier *t = &s->tier[r];
    int64_t last = current ? t->head : t->head - 1, from;
    size_t n = 0;

    if (t->head < 0)
        return 0;
    /* Never further back than the ring holds, nor before the first point. */
    from = MAX(t->saved + 1, t->first);
    from = MAX(from, t->head - (int64_t)tiers[r].points + 1);
    for (int64_t i = from; i <= last && n < max; i++) {
        const uint32_t *p = point(t, r, i);
        if (i < t->head)
            t->saved = i;
        if (point_empty(p))
            continue;
        out[n].interval = i;
        for (size_t m = 0; m < _HISTORY_METRIC_MAX; m++)
            out[n].values[m] = decoded(p[m]);
        n++;
    }
    return n;
}

void history_series_restore(HistorySeries *s, HistoryRange r, const HistoryPoint *p)
{
    Tier *t = &s->tier[r];
    uint32_t *dst;

    if (p->interval <= t->head || p->interval < 0)
        return;
    (void)tier_advance(t, r, (uint64_t)p->interval * tiers[r].step_s);
    dst = point(t, r, p->interval);
    for (size_t m = 0; m < _HISTORY_METRIC_MAX; m++)
        dst[m] = encoded(p->values[m]);
    t->n = 1;
    for (size_t m = 0; m < _HISTORY_METRIC_MAX; m++)
        t->sum[m] = isnan(p->values[m]) ? 0 : p->values[m];
    t->saved = p->interval - 1; /* saved again once over: it may have been cut short */
}
