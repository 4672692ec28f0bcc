/* Statistics history: the hour in a ring of points, the day and the month as the point being
 * averaged and the few that are over and not saved yet; each point the average of what was
 * recorded during its interval. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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

#define SAME_SAMPLE_US (USEC_PER_SEC / 2) /* closer than this to the last: the same one again */
#define FILL_MAX_S     10u /* a rate covers the seconds since the last sample, up to this many */
#define HOUR_S         3600u
#define PENDING_MAX    2u /* points over and not taken yet: a save comes every minute */

/* The hour's steps a ring may have, finest first (seconds). */
static const unsigned hour_steps[] = {1, 2, 5, 10, 15, 30};

/* The day's and the month's resolution and length (the hour's: its ring's). */
static const struct {
    unsigned step_s;
    unsigned points;
} tiers[_HISTORY_RANGE_MAX] = {
    [HISTORY_HOUR] = {1, HOUR_S},
    [HISTORY_DAY] = {60, 1440},
    [HISTORY_MONTH] = {600, 4320},
};

/* The day when the hour has no ring of its own: its last hour of minutes. */
#define HOUR_FROM_DAY_POINTS (HOUR_S / 60u)

/* A value in the ring is stored as its bits XOR a quiet NaN's, so zero bits read as NaN
 * ("nothing recorded"): the ring lives in anonymous memory the kernel hands out as zero pages on
 * first touch, and holds only the pages its points reached. */
#define UNRECORDED_BITS 0x7fc00000u

/* The point being averaged. */
typedef struct Average {
    int64_t head; /* its interval number (time / step), -1 before any */
    double sum[_HISTORY_METRIC_MAX];
    unsigned n; /* values summed into it */
} Average;

/* The hour: a ring of points. */
typedef struct HourRing {
    uint32_t *points; /* n_points x metrics, encoded (0 where nothing was recorded) */
    unsigned step_s, n_points;
    int64_t first;         /* interval of the first point recorded */
    int64_t last_recorded; /* interval of the newest point recorded */
    uint64_t last_s;       /* when the newest value was recorded */
    Average cur;
} HourRing;

/* The day or the month: only what is not saved yet. */
typedef struct SavedTier {
    Average cur;
    HistoryPoint pending[PENDING_MAX]; /* over, not taken yet, oldest first */
    unsigned n_pending;
} SavedTier;

struct HistorySeries {
    HourRing *hour;                     /* NULL: none */
    SavedTier tier[_HISTORY_RANGE_MAX]; /* [HISTORY_DAY], [HISTORY_MONTH] */
    bool have_last;
    uint64_t last_us;
    HistoryCounters last;
    bool have_latest;
    float latest[_HISTORY_METRIC_MAX]; /* what the last sample produced */
};

static size_t page_rounded(size_t bytes)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);

    return (bytes + page - 1) / page * page;
}

/* The pages of a ring's points at step_s. */
static size_t ring_points_bytes(unsigned step_s)
{
    return page_rounded((size_t)(HOUR_S / step_s) * _HISTORY_METRIC_MAX * sizeof(uint32_t));
}

size_t history_hour_ring_bytes(unsigned step_s)
{
    return step_s ? sizeof(HourRing) + ring_points_bytes(step_s) : 0;
}

size_t history_series_bytes(void)
{
    return sizeof(HistorySeries);
}

unsigned history_hour_step_for(size_t budget, size_t n)
{
    n = MAX(n, (size_t)1);
    for (size_t i = 0; i < ELEMENTSOF(hour_steps); i++)
        if (history_hour_ring_bytes(hour_steps[i]) <= budget / n)
            return hour_steps[i];
    return 0;
}

static void average_reset(Average *a)
{
    *a = (Average){.head = -1};
}

HistorySeries *history_series_new(void)
{
    HistorySeries *s = malloc(sizeof(*s));

    if (!s)
        return NULL;
    *s = (HistorySeries){};
    for (size_t i = 0; i < _HISTORY_RANGE_MAX; i++)
        average_reset(&s->tier[i].cur);
    return s;
}

static HourRing *ring_free(HourRing *h)
{
    if (!h)
        return NULL;
    (void)munmap(h->points, ring_points_bytes(h->step_s));
    free(h);
    return NULL;
}

HistorySeries *history_series_free(HistorySeries *s)
{
    if (!s)
        return NULL;
    ring_free(s->hour);
    free(s);
    return NULL;
}

static uint32_t *point(const HourRing *h, int64_t interval)
{
    return h->points + (size_t)(interval % h->n_points) * _HISTORY_METRIC_MAX;
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

/* Makes p "nothing recorded", writing only when it is not: a page nothing reached stays one the
 * process does not hold. */
static void blank(uint32_t *p)
{
    for (size_t m = 0; m < _HISTORY_METRIC_MAX; m++)
        if (p[m]) {
            memset(p, 0, _HISTORY_METRIC_MAX * sizeof(*p));
            return;
        }
}

/* Moves the ring on to interval, blanking the intervals skipped. Returns false when interval is
 * before the newest point. */
static bool ring_advance(HourRing *h, int64_t interval)
{
    if (interval < h->cur.head)
        return false;
    if (interval > h->cur.head) {
        int64_t from =
            h->cur.head < 0 ? interval : MAX(h->cur.head + 1, interval - (int64_t)h->n_points + 1);
        for (int64_t i = from; i <= interval; i++)
            blank(point(h, i));
        if (h->cur.head < 0)
            h->first = interval;
        average_reset(&h->cur);
        h->cur.head = interval;
    }
    return true;
}

static void ring_add(HourRing *h, uint64_t now_s, const float *values)
{
    int64_t interval;
    uint32_t *p;

    if (!h)
        return;
    interval = (int64_t)(now_s / h->step_s);
    if (!ring_advance(h, interval))
        return;
    p = point(h, interval);
    h->cur.n++;
    for (size_t m = 0; m < _HISTORY_METRIC_MAX; m++) {
        h->cur.sum[m] += values[m];
        p[m] = encoded((float)(h->cur.sum[m] / h->cur.n));
    }
    h->last_recorded = interval;
    h->last_s = now_s;
}

static void average_values(const Average *a, float out[_HISTORY_METRIC_MAX])
{
    for (size_t m = 0; m < _HISTORY_METRIC_MAX; m++)
        out[m] = a->n ? (float)(a->sum[m] / a->n) : NAN;
}

/* Moves the tier on to interval, keeping the point that ends (when something was recorded in
 * it) for the next save; with no room left, the oldest kept is dropped. Returns false when
 * interval is before the one being averaged. */
static bool tier_advance(SavedTier *t, int64_t interval)
{
    if (interval < t->cur.head)
        return false;
    if (interval > t->cur.head) {
        if (t->cur.n > 0) {
            if (t->n_pending == PENDING_MAX) {
                memmove(t->pending, t->pending + 1, (PENDING_MAX - 1) * sizeof(t->pending[0]));
                t->n_pending--;
            }
            t->pending[t->n_pending].interval = t->cur.head;
            average_values(&t->cur, t->pending[t->n_pending].values);
            t->n_pending++;
        }
        average_reset(&t->cur);
        t->cur.head = interval;
    }
    return true;
}

static void tier_add(SavedTier *t, HistoryRange r, uint64_t now_s, const float *values)
{
    if (!tier_advance(t, (int64_t)(now_s / tiers[r].step_s)))
        return;
    t->cur.n++;
    for (size_t m = 0; m < _HISTORY_METRIC_MAX; m++)
        t->cur.sum[m] += values[m];
}

void history_series_add(HistorySeries *s, uint64_t now_us, const float values[_HISTORY_METRIC_MAX])
{
    uint64_t now_s = now_us / USEC_PER_SEC;

    ring_add(s->hour, now_s, values);
    tier_add(&s->tier[HISTORY_DAY], HISTORY_DAY, now_s, values);
    tier_add(&s->tier[HISTORY_MONTH], HISTORY_MONTH, now_s, values);
}

void history_series_break(HistorySeries *s, uint64_t now_us)
{
    uint64_t now_s = now_us / USEC_PER_SEC;
    HourRing *h = s->hour;

    s->have_last = s->have_latest = false;
    if (h) {
        if (h->cur.head >= 0)
            (void)ring_advance(h, (int64_t)(now_s / h->step_s));
        if (h->cur.head < 0 || h->cur.head - h->last_recorded >= (int64_t)h->n_points)
            s->hour = ring_free(h);
    }
    for (HistoryRange r = HISTORY_DAY; r <= HISTORY_MONTH; r++)
        if (s->tier[r].cur.head >= 0)
            (void)tier_advance(&s->tier[r], (int64_t)(now_s / tiers[r].step_s));
}

/* Folds old's points into the empty ring h: each goes into every interval of h it overlaps. */
static void ring_carry_over(HourRing *h, const HourRing *old)
{
    int64_t from = MAX(old->first, old->cur.head - (int64_t)old->n_points + 1), last = -1;
    double sum[_HISTORY_METRIC_MAX] = {};
    unsigned n = 0;

    for (int64_t i = from; i <= old->cur.head; i++) {
        const uint32_t *p = point(old, i);
        uint64_t t0 = (uint64_t)i * old->step_s, t1 = t0 + old->step_s - 1;
        float v[_HISTORY_METRIC_MAX];

        if (isnan(decoded(p[0])))
            continue; /* nothing recorded */
        for (size_t m = 0; m < _HISTORY_METRIC_MAX; m++)
            v[m] = decoded(p[m]);
        /* the newest point only as far as its newest value */
        if (i == old->last_recorded && old->last_s < t1)
            t1 = MAX(old->last_s, t0);
        for (uint64_t j = t0 / h->step_s; j <= t1 / h->step_s; j++) {
            if ((int64_t)j != last && n > 0) {
                for (size_t m = 0; m < _HISTORY_METRIC_MAX; m++)
                    point(h, last)[m] = encoded((float)(sum[m] / n));
                memset(sum, 0, sizeof(sum));
                n = 0;
            }
            if ((int64_t)j != last) {
                if (!ring_advance(h, (int64_t)j))
                    continue;
                last = (int64_t)j;
            }
            for (size_t m = 0; m < _HISTORY_METRIC_MAX; m++)
                sum[m] += v[m];
            n++;
        }
    }
    if (n > 0) {
        for (size_t m = 0; m < _HISTORY_METRIC_MAX; m++)
            point(h, last)[m] = encoded((float)(sum[m] / n));
        memcpy(h->cur.sum, sum, sizeof(sum));
        h->cur.n = n;
        h->last_recorded = last;
        h->last_s = old->last_s;
    }
    /* The ring runs on to where the old one had got. */
    if (old->cur.head >= 0)
        (void)ring_advance(h, (int64_t)((uint64_t)old->cur.head * old->step_s / h->step_s));
}

int history_series_set_hour_step(HistorySeries *s, unsigned step_s)
{
    HourRing *h;
    void *p;

    if (step_s == history_series_hour_step(s))
        return 0;
    if (step_s == 0) {
        s->hour = ring_free(s->hour);
        return 0;
    }
    h = malloc(sizeof(*h));
    if (!h)
        return -ENOMEM;
    p = mmap(NULL, ring_points_bytes(step_s), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
             -1, 0);
    if (p == MAP_FAILED) {
        free(h);
        return -ENOMEM;
    }
    *h = (HourRing){.points = p, .step_s = step_s, .n_points = HOUR_S / step_s};
    average_reset(&h->cur);
    if (s->hour)
        ring_carry_over(h, s->hour);
    ring_free(s->hour);
    s->hour = h;
    return 0;
}

unsigned history_series_hour_step(const HistorySeries *s)
{
    return s->hour ? s->hour->step_s : 0;
}

void history_counters_from_driver(const DriverCounters *c, HistoryCounters *ret)
{
    *ret = (HistoryCounters){
        .cpu_time_ns = c->cpu_time_ns,
        .memory_kib = c->memory_kib,
        .exits = c->exits_total,
        .disk_read_bytes = c->disk_read_bytes,
        .disk_write_bytes = c->disk_write_bytes,
        .net_rx_bytes = c->net_rx_bytes,
        .net_tx_bytes = c->net_tx_bytes,
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

unsigned history_range_step_s(HistoryRange r)
{
    return tiers[r].step_s;
}

unsigned history_range_points(HistoryRange r)
{
    return tiers[r].points;
}

size_t history_series_take_unsaved(HistorySeries *s, HistoryRange r, bool current,
                                   HistoryPoint *out, size_t max)
{
    SavedTier *t;
    size_t n = 0;

    if (r != HISTORY_DAY && r != HISTORY_MONTH)
        return 0;
    t = &s->tier[r];
    while (n < max && t->n_pending > 0) {
        out[n++] = t->pending[0];
        memmove(t->pending, t->pending + 1, (t->n_pending - 1) * sizeof(t->pending[0]));
        t->n_pending--;
    }
    if (n < max && current && t->cur.n > 0) {
        out[n].interval = t->cur.head;
        average_values(&t->cur, out[n].values);
        n++;
    }
    return n;
}

void history_series_restore(HistorySeries *s, HistoryRange r, const HistoryPoint *p)
{
    SavedTier *t;

    if ((r != HISTORY_DAY && r != HISTORY_MONTH) || p->interval < 0)
        return;
    t = &s->tier[r];
    if (p->interval <= t->cur.head)
        return;
    average_reset(&t->cur);
    t->cur.head = p->interval;
    t->cur.n = 1;
    for (size_t m = 0; m < _HISTORY_METRIC_MAX; m++)
        t->cur.sum[m] = isnan(p->values[m]) ? 0 : p->values[m];
}

/* The tier range is drawn from, its step and its window's length in points. */
static HistoryRange drawn_from(HistoryRange range, unsigned hour_step_s, unsigned *step,
                               unsigned *window)
{
    if (range == HISTORY_HOUR && hour_step_s > 0) {
        *step = hour_step_s;
        *window = HOUR_S / hour_step_s;
        return HISTORY_HOUR;
    }
    *step = tiers[range == HISTORY_HOUR ? HISTORY_DAY : range].step_s;
    *window = range == HISTORY_HOUR ? HOUR_FROM_DAY_POINTS : tiers[range].points;
    return range == HISTORY_HOUR ? HISTORY_DAY : range;
}

bool history_saved_source(HistoryRange range, unsigned hour_step_s, uint64_t now_us,
                          HistoryRange *ret_range, int64_t *ret_from)
{
    unsigned step, window;
    HistoryRange from_range = drawn_from(range, hour_step_s, &step, &window);

    if (from_range == HISTORY_HOUR)
        return false;
    *ret_range = from_range;
    *ret_from = (int64_t)(now_us / USEC_PER_SEC / step) - (int64_t)window + 1;
    return true;
}

/* A new {"range", "step_s", "time": [], and an empty array per metric}; arrays[0] is the time's,
 * arrays[1 + metric] each metric's. */
static json_t *history_doc(HistoryRange range, unsigned step_s, json_t *arrays[])
{
    json_t *obj =
        json_pack("{s:s, s:i}", "range", history_range_to_string(range), "step_s", (int)step_s);

    if (!obj)
        return NULL;
    for (size_t i = 0; i <= _HISTORY_METRIC_MAX; i++) {
        arrays[i] = json_array();
        (void)json_object_set_new(obj, i == 0 ? "time" : history_metric_to_string(i - 1),
                                  arrays[i]);
    }
    return obj;
}

static void doc_append(json_t *arrays[], int64_t interval, unsigned step_s, const float *v)
{
    (void)json_array_append_new(arrays[0], json_integer(interval * step_s));
    for (size_t m = 0; m < _HISTORY_METRIC_MAX; m++)
        (void)json_array_append_new(arrays[m + 1], isnan(v[m]) ? json_null() : json_real(v[m]));
}

static json_t *ring_json(const HourRing *h, HistoryRange range, unsigned step_s)
{
    json_t *arrays[_HISTORY_METRIC_MAX + 1];
    json_t *obj = history_doc(range, h ? h->step_s : step_s, arrays);

    if (!obj || !h || h->cur.head < 0)
        return obj;
    for (int64_t i = MAX(h->first, h->cur.head - (int64_t)h->n_points + 1); i <= h->cur.head; i++) {
        const uint32_t *p = point(h, i);
        float v[_HISTORY_METRIC_MAX];

        for (size_t m = 0; m < _HISTORY_METRIC_MAX; m++)
            v[m] = decoded(p[m]);
        doc_append(arrays, i, h->step_s, v);
    }
    return obj;
}

/* Puts p into window (window_n points ending at interval end) when it falls there. */
static void window_put(float *window, size_t window_n, int64_t end, const HistoryPoint *p)
{
    int64_t i = p->interval - (end - (int64_t)window_n + 1);

    if (i >= 0 && i < (int64_t)window_n)
        memcpy(window + (size_t)i * _HISTORY_METRIC_MAX, p->values, sizeof(p->values));
}

static json_t *saved_json(const SavedTier *t, HistoryRange range, unsigned step_s, size_t window_n,
                          const HistoryPoint *saved, size_t n_saved)
{
    json_t *arrays[_HISTORY_METRIC_MAX + 1];
    json_t *obj = history_doc(range, step_s, arrays);
    int64_t end = -1;
    float *window;
    size_t first;

    if (!obj)
        return NULL;
    if (t)
        end = t->cur.head;
    if (n_saved > 0)
        end = MAX(end, saved[n_saved - 1].interval);
    if (end < 0)
        return obj;
    window = malloc(window_n * _HISTORY_METRIC_MAX * sizeof(float));
    if (!window)
        return json_decref(obj), NULL;
    for (size_t i = 0; i < window_n * _HISTORY_METRIC_MAX; i++)
        window[i] = NAN;
    for (size_t i = 0; i < n_saved; i++)
        window_put(window, window_n, end, &saved[i]);
    if (t) {
        HistoryPoint cur = {.interval = t->cur.head};
        for (unsigned i = 0; i < t->n_pending; i++)
            window_put(window, window_n, end, &t->pending[i]);
        if (t->cur.n > 0) {
            average_values(&t->cur, cur.values);
            window_put(window, window_n, end, &cur);
        }
    }
    for (first = 0; first < window_n && isnan(window[first * _HISTORY_METRIC_MAX]); first++)
        ;
    /* Nothing recorded in the window: the newest interval alone shows where it ends. */
    if (first == window_n)
        first = window_n - 1;
    for (size_t i = first; i < window_n; i++)
        doc_append(arrays, end - (int64_t)window_n + 1 + (int64_t)i, step_s,
                   window + i * _HISTORY_METRIC_MAX);
    free(window);
    return obj;
}

json_t *history_series_json(const HistorySeries *s, HistoryRange range, unsigned hour_step_s,
                            const HistoryPoint *saved, size_t n_saved)
{
    unsigned step, window;
    HistoryRange from_range = drawn_from(range, hour_step_s, &step, &window);

    if (from_range == HISTORY_HOUR)
        return ring_json(s ? s->hour : NULL, range, step);
    return saved_json(s ? &s->tier[from_range] : NULL, range, step, window, saved, n_saved);
}
