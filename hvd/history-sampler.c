/* The statistics sampler: once a second, every active domain's cached statistics (never a wait
 * on a backend) go into its history, and their totals into the host's. Each minute the points
 * that are over are saved with the next commit; the day's and the month's charts read them back
 * from there, and the newest are put back when hvd starts again. The domains' hour rings share
 * [history] memory-mib: with many domains their points are further apart. */
#include "history.h"
#include "log.h"
#include "manager-internal.h"
#include "store-history.h"
#include "time-util.h"

#define SAMPLE_INTERVAL_US USEC_PER_SEC
#define SAVE_BATCH         64u
#define HOST_SERIES        "host"
#define PRUNE_EVERY_MIN    10

/* Saves the points of s that were not saved yet (with current, also the ones still being
 * averaged: hvd is stopping). */
static int save_series(Manager *m, const char *series, HistorySeries *s, bool current)
{
    static const HistoryRange kept[] = {HISTORY_DAY, HISTORY_MONTH};
    HistoryPoint points[SAVE_BATCH];

    for (size_t k = 0; k < ELEMENTSOF(kept); k++) {
        size_t n;
        do {
            int r;
            n = history_series_take_unsaved(s, kept[k], current, points, SAVE_BATCH);
            r = store_history_save(m->store, series, kept[k], points, n);
            if (r < 0)
                return r;
        } while (n == SAVE_BATCH);
    }
    return 0;
}

/* The first interval of range r that is still kept at now_s. */
static int64_t kept_from(HistoryRange r, uint64_t now_s)
{
    return (int64_t)(now_s / history_range_step_s(r)) - (int64_t)history_range_points(r) + 1;
}

void manager_history_save(Manager *m, uint64_t now_us, bool current)
{
    uint64_t now_s = now_us / USEC_PER_SEC;
    int r = manager_change_begin(m);

    for (size_t i = 0; r >= 0 && i < m->n_domains; i++)
        if (m->domains[i]->history)
            r = save_series(m, m->domains[i]->config.uuid, m->domains[i]->history, current);
    if (r >= 0 && m->host_history)
        r = save_series(m, HOST_SERIES, m->host_history, current);
    if (r >= 0 && (int64_t)(now_s / 60) % PRUNE_EVERY_MIN == 0)
        r = store_history_prune(m->store, kept_from(HISTORY_DAY, now_s),
                                kept_from(HISTORY_MONTH, now_s));
    if (r < 0)
        log_warning("Failed to save the statistics history: %s", store_last_error(m->store));
    manager_change_end(m, r);
}

/* Where restored points go: the series the last point named, found once per series (the store
 * hands them out series by series; finding the domain for every point walked every domain:
 * quadratic in a restart with many domains' history). */
typedef struct RestorePass {
    Manager *manager;
    char series[DOMAIN_UUID_STRING_MAX];
    HistorySeries **target;
} RestorePass;

static HistorySeries **restore_target(Manager *m, const char *series)
{
    Domain *d;

    if (streq(series, HOST_SERIES))
        return &m->host_history;
    d = manager_find_uuid(m, series);
    return d ? &d->history : NULL;
}

static void restore_point(void *userdata, const char *series, HistoryRange r, const HistoryPoint *p)
{
    RestorePass *pass = userdata;
    HistorySeries **s;

    if (!streq(pass->series, series)) {
        (void)snprintf(pass->series, sizeof(pass->series), "%s", series);
        pass->target = restore_target(pass->manager, series);
    }
    s = pass->target;
    if (!s || (!*s && !(*s = history_series_new())))
        return;
    history_series_restore(*s, r, p);
}

/* When the numbers in c were taken: now, less the age the driver reports. */
static uint64_t sample_time(const DriverCounters *c, uint64_t now_us)
{
    uint64_t age_us = c->has_age ? c->stats_age_ms * USEC_PER_MSEC : 0;

    return age_us < now_us ? now_us - age_us : now_us;
}

typedef struct SamplePass {
    uint64_t now_us;
    float total[_HISTORY_METRIC_MAX];
    unsigned hour_step; /* every ring's this tick */
    size_t rings;       /* the series running or holding one */
} SamplePass;

/* Gives s's hour ring this tick's step (a ring it needs, with want; one it has, resampled), and
 * counts it among those sharing the budget: a running domain counts even when the step leaves
 * it none (counting only rings held would give them back on the next tick, and so on). */
static void ring_in_step(SamplePass *p, HistorySeries *s, bool want)
{
    unsigned step = history_series_hour_step(s);

    if ((want || step > 0) && step != p->hour_step &&
        history_series_set_hour_step(s, p->hour_step) < 0)
        log_debug("No memory for a statistics history's hour at %u s", p->hour_step);
    if (want || history_series_hour_step(s) > 0)
        p->rings++;
}

static void sample_domain(void *userdata, Domain *d, const DriverCounters *stats)
{
    SamplePass *p = userdata;
    float values[_HISTORY_METRIC_MAX];
    HistoryCounters c;

    if (!stats) {
        if (d->history) {
            history_series_break(d->history, p->now_us);
            ring_in_step(p, d->history, false);
        }
        return;
    }
    if (!d->history && !(d->history = history_series_new()))
        return;
    ring_in_step(p, d->history, true);
    history_counters_from_driver(stats, &c);
    (void)history_series_sample(d->history, sample_time(stats, p->now_us), &c);
    /* Its latest values count even when this tick saw no new sample. */
    if (!history_series_latest(d->history, values))
        return;
    for (size_t k = 0; k < _HISTORY_METRIC_MAX; k++)
        p->total[k] += values[k];
}

/* The finest hour step at which the rings counted last tick fit [history] memory-mib (the
 * domains that started since get theirs this tick, and the step follows them on the next). */
static unsigned manager_history_hour_step(Manager *m)
{
    return history_hour_step_for((size_t)m->config->history_memory_mib << 20, m->history_rings);
}

/* One sample of every active domain's counters (read where the driver keeps them, as C values),
 * stamped now_us (less each driver's reported age), into its history and the host's. */
static void history_sample(Manager *m, uint64_t now_us)
{
    SamplePass pass = {.now_us = now_us, .hour_step = manager_history_hour_step(m)};

    manager_counters_foreach(m, 0, sample_domain, &pass);
    history_series_add(m->host_history, now_us, pass.total);
    m->history_hour_step = pass.hour_step;
    m->history_rings = pass.rings;
}

static int on_history_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
    Manager *m = userdata;

    (void)sd_event_source_set_time(s, usec + SAMPLE_INTERVAL_US);
    (void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
    uint64_t now = now_usec(CLOCK_REALTIME);
    int64_t minute = (int64_t)(now / USEC_PER_SEC / 60);

    history_sample(m, now);
    if (minute != m->history_saved_minute) {
        m->history_saved_minute = minute;
        manager_history_save(m, now, false);
    }
    return 0;
}

int manager_history_start(Manager *m)
{
    uint64_t now = now_usec(CLOCK_REALTIME), now_s = now / USEC_PER_SEC;
    RestorePass pass = {.manager = m};
    int r;

    m->host_history = history_series_new();
    if (!m->host_history || history_series_set_hour_step(m->host_history, 1) < 0)
        return -ENOMEM;
    m->history_hour_step = manager_history_hour_step(m);
    m->history_saved_minute = (int64_t)(now_s / 60);
    r = store_history_load(m->store, kept_from(HISTORY_DAY, now_s), kept_from(HISTORY_MONTH, now_s),
                           restore_point, &pass);
    if (r < 0)
        log_warning("Failed to read the saved statistics history, charts start empty: %s",
                    store_last_error(m->store));
    return sd_event_add_time_relative(m->event, &m->history_timer, CLOCK_MONOTONIC,
                                      SAMPLE_INTERVAL_US, 0, on_history_timer, m);
}

/* The history of series s (named series in the store) over range: the hour's ring at step
 * hour_step_s, or the saved points with s's own. */
static json_t *series_json(Manager *m, const char *series, const HistorySeries *s,
                           unsigned hour_step_s, HistoryRange range)
{
    _cleanup_free_ HistoryPoint *saved = NULL;
    HistoryRange from_range;
    int64_t from;
    size_t n = 0;

    if (history_saved_source(range, hour_step_s, now_usec(CLOCK_REALTIME), &from_range, &from) &&
        store_history_read(m->store, series, from_range, from, &saved, &n) < 0) {
        log_warning("Failed to read the saved statistics history of %s: %s", series,
                    store_last_error(m->store));
        n = 0;
    }
    return history_series_json(s, range, hour_step_s, saved, n);
}

json_t *manager_domain_history(Manager *m, Domain *d, HistoryRange range)
{
    return series_json(m, d->config.uuid, d->history, m->history_hour_step, range);
}

json_t *manager_host_history(Manager *m, HistoryRange range)
{
    return series_json(m, HOST_SERIES, m->host_history, 1, range);
}
