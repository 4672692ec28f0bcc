/* The statistics sampler: once a second, every active domain's cached statistics (never a wait
 * on a backend) go into its history, and their totals into the host's. */
#include "history.h"
#include "log.h"
#include "manager-internal.h"
#include "time-util.h"

#define SAMPLE_INTERVAL_US USEC_PER_SEC

/* When the numbers in stats were taken: now, less the age the driver reports. */
static uint64_t sample_time(json_t *stats, uint64_t now_us)
{
    json_int_t age_ms = json_integer_value(json_object_get(stats, "stats_age_ms"));
    uint64_t age_us = age_ms > 0 ? (uint64_t)age_ms * USEC_PER_MSEC : 0;

    return age_us < now_us ? now_us - age_us : now_us;
}

/* One sample of every active domain's cached statistics, stamped now_us (less each driver's
 * reported age), into its history and the host's. */
static void history_sample(Manager *m, uint64_t now_us)
{
    float total[_HISTORY_METRIC_MAX] = {}, values[_HISTORY_METRIC_MAX];
    json_t *all = manager_stats_all(m);

    for (size_t i = 0; i < m->n_domains; i++) {
        Domain *d = m->domains[i];
        json_t *stats = json_object_get(all, d->config.name);
        HistoryCounters c;

        if (!stats) {
            if (d->history)
                history_series_break(d->history, now_us);
            continue;
        }
        if (!d->history && !(d->history = history_series_new()))
            continue;
        history_counters_from_stats(stats, &c);
        (void)history_series_sample(d->history, sample_time(stats, now_us), &c);
        /* Its latest values count even when this tick saw no new sample. */
        if (!history_series_latest(d->history, values))
            continue;
        for (size_t k = 0; k < _HISTORY_METRIC_MAX; k++)
            total[k] += values[k];
    }
    json_decref(all);
    history_series_add(m->host_history, now_us, total);
}

static int on_history_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
    Manager *m = userdata;

    (void)sd_event_source_set_time(s, usec + SAMPLE_INTERVAL_US);
    (void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
    history_sample(m, now_usec(CLOCK_REALTIME));
    return 0;
}

int manager_history_start(Manager *m)
{
    m->host_history = history_series_new();
    if (!m->host_history)
        return -ENOMEM;
    return sd_event_add_time_relative(m->event, &m->history_timer, CLOCK_MONOTONIC,
                                      SAMPLE_INTERVAL_US, 0, on_history_timer, m);
}

json_t *manager_domain_history(Manager *m, Domain *d, HistoryRange range)
{
    return history_series_json(d->history, range);
}

json_t *manager_host_history(Manager *m, HistoryRange range)
{
    return history_series_json(m->host_history, range);
}
