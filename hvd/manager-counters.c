/* Every domain's statistics for the surfaces that read them all at once: as the drivers' JSON
 * objects (manager_stats_foreach_wanted) or as C counters (manager_counters_foreach, what
 * /metrics and the history sampler read each second without building any JSON). */
#include "manager-internal.h"

/* d's statistics from get_info, as a new object with cpu_time_ns and memory_kib (NULL when
 * there are none): for drivers that give neither peek_stats nor get_stats. */
static json_t *stats_from_info(Manager *m, Domain *d, Driver *drv)
{
    DomainInfo info;
    Error e = ERROR_NULL;

    if (driver_get_info(drv, &d->config, &d->runtime, &info, 0, &e) < 0)
        return NULL;
    if (!info.stats)
        info.stats = json_object();
    (void)json_object_set_new(info.stats, "cpu_time_ns",
                              json_integer((json_int_t)info.cpu_time_ns));
    (void)json_object_set_new(info.stats, "memory_kib", json_integer((json_int_t)info.memory_kib));
    return info.stats;
}

/* Drivers that can lend no domain's numbers alone give them all at once: fetched once per pass
 * into by_driver (the drivers that lend counters when counters is true). */
static void fetch_all(Manager *m, bool counters, json_t *by_driver[_DRIVER_KIND_MAX])
{
    for (size_t i = 0; i < _DRIVER_KIND_MAX; i++) {
        Driver *drv = m->drivers[i];
        Error e = ERROR_NULL;

        by_driver[i] = NULL;
        if (drv && drv->available && !drv->ops->peek_stats &&
            !(counters && drv->ops->peek_counters) && drv->ops->get_stats &&
            driver_get_stats(drv, &by_driver[i], 0, &e) < 0)
            by_driver[i] = NULL;
    }
}

/* d's statistics as a new reference, or NULL (not active, none yet). */
static json_t *domain_stats(Manager *m, Domain *d, unsigned flags, json_t **by_driver)
{
    Driver *drv = manager_driver(m, d);

    if (!domain_state_is_active(d->state) || !drv || !drv->available)
        return NULL;
    if (drv->ops->peek_stats)
        return drv->ops->peek_stats(drv, &d->config, flags);
    if (drv->ops->get_stats)
        return json_incref(json_object_get(by_driver[d->config.driver], d->config.name));
    return stats_from_info(m, d, drv);
}

void manager_stats_foreach_wanted(Manager *m, unsigned flags, ManagerStatsWant want,
                                  ManagerStatsVisit visit, void *userdata)
{
    json_t *by_driver[_DRIVER_KIND_MAX];

    fetch_all(m, false, by_driver);
    for (size_t i = 0; i < m->n_domains; i++) {
        Domain *d = m->domains[i];
        json_t *stats;

        if (want && !want(userdata, d))
            continue;
        stats = domain_stats(m, d, flags, by_driver);
        visit(userdata, d, stats);
        json_decref(stats);
    }
    for (size_t i = 0; i < _DRIVER_KIND_MAX; i++)
        json_decref(by_driver[i]);
}

void manager_counters_foreach(Manager *m, unsigned flags, ManagerCountersVisit visit,
                              void *userdata)
{
    json_t *by_driver[_DRIVER_KIND_MAX];
    DriverCounters c;

    fetch_all(m, true, by_driver);
    for (size_t i = 0; i < m->n_domains; i++) {
        Domain *d = m->domains[i];
        Driver *drv = manager_driver(m, d);
        bool have = false;

        if (drv && drv->ops->peek_counters && drv->available && domain_state_is_active(d->state))
            have = drv->ops->peek_counters(drv, &d->config, flags, &c) > 0;
        else {
            json_t *stats = domain_stats(m, d, flags, by_driver);
            if (stats) {
                driver_counters_from_json(stats, &c);
                have = true;
            }
            json_decref(stats);
        }
        visit(userdata, d, have ? &c : NULL);
    }
    for (size_t i = 0; i < _DRIVER_KIND_MAX; i++)
        json_decref(by_driver[i]);
}
