/* What the manager tells of domains and the host: information (from the drivers' caches, or
 * after a bounded refresh), statistics, the host view, and the consoles. */
#include <fcntl.h>
#include <string.h>

#include "host-density.h"
#include "log.h"
#include "manager-internal.h"

struct InfoWait {
    Manager *manager;
    char name[DOMAIN_NAME_MAX + 1];
    ManagerInfoDone done;
    void *userdata;
    InfoWait *next;
};

static void info_wait_unlink(InfoWait *w)
{
    for (InfoWait **p = &w->manager->info_waits; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            return;
        }
}

/* Answers w with what is known now (the driver refreshed, or gave up), and frees it. */
static void info_wait_answer(InfoWait *w, bool stopping)
{
    Domain *d = stopping ? NULL : manager_find(w->manager, w->name);
    json_t *info = NULL;
    Error e = ERROR_NULL;

    if (d && manager_domain_info(w->manager, d, &info, &e) < 0)
        log_debug("Domain %s: no information: %s", w->name, e.message);
    w->done(w->userdata, info ? d : NULL, info);
    json_decref(info);
    free(w);
}

static json_t *host_resources(Manager *m)
{
    json_t *list = json_array();
    json_int_t total = 0;

    for (size_t i = 0; list && i < m->n_domains; i++) {
        const Domain *d = m->domains[i];

        if (!domain_state_holds_allocation(d->state))
            continue;
        total += d->config.cpu_weight;
        (void)json_array_append_new(
            list, json_pack("{s:s, s:s, s:i, s:i, s:I}", "name", d->config.name, "driver",
                            driver_kind_to_string(d->config.driver), "cpu_weight",
                            (int)d->config.cpu_weight, "cpu_cap", (int)d->config.cpu_cap,
                            "memory_limit", (json_int_t)d->config.memory_limit));
    }
    return json_pack("{s:o?, s:I}", "domains", list, "cpu_weight_total", total);
}

json_t *manager_host_view(Manager *m)
{
    json_t *host = alloc_host_view(&m->alloc), *drivers = json_object(), *counts = json_object();

    if (!host || !drivers || !counts) {
        json_decref(host);
        json_decref(drivers);
        json_decref(counts);
        return NULL;
    }
    for (size_t i = 0; i < _DRIVER_KIND_MAX; i++) {
        Driver *drv = m->drivers[i];
        json_t *o;

        if (!drv)
            continue;
        o = json_pack("{s:b}", "available", drv->available);
        if (o && !drv->available)
            (void)json_object_set_new(o, "reason", json_string(strna(drv->unavailable_reason)));
        json_t *info = driver_host_info(drv);
        if (o && info)
            (void)json_object_update_missing(o, info);
        json_decref(info);
        (void)json_object_set_new(drivers, driver_kind_to_string((DriverKind)i), o);
    }
    for (size_t i = 0; i < _DOMAIN_STATE_MAX; i++)
        (void)json_object_set_new(counts, domain_state_to_string((DomainState)i),
                                  json_integer(m->state_counts[i]));
    (void)json_object_set_new(host, "drivers", drivers);
    (void)json_object_set_new(host, "domains", json_integer((json_int_t)m->n_domains));
    (void)json_object_set_new(host, "states", counts);
    (void)json_object_set_new(host, "resources", host_resources(m));
    (void)json_object_set_new(host, "density", host_density_view(host));
    return host;
}

int manager_domain_info(Manager *m, Domain *d, json_t **ret, Error *e)
{
    json_t *obj = json_object();
    Driver *drv = manager_driver(m, d);

    if (!obj || domain_to_json(d, obj) < 0) {
        json_decref(obj);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    if (drv && !drv->available)
        (void)json_object_set_new(obj, "driver_unavailable",
                                  json_string(strna(drv->unavailable_reason)));
    (void)json_object_set_new(obj, "interfaces", manager_domain_interfaces(m, d));
    if (drv && drv->ops->console_log) {
        _cleanup_free_ char *log = NULL, *virtio_log = NULL;
        Error log_error = ERROR_NULL;

        if (driver_console_log(drv, &d->config, 0, &log, &log_error) >= 0)
            (void)json_object_set_new(obj, "console_log", json_string(log));
        /* Only domains with a virtio console (hvc0) have its log. */
        if (driver_console_log(drv, &d->config, DRIVER_CONSOLE_VIRTIO, &virtio_log, &log_error) >=
            0)
            (void)json_object_set_new(obj, "virtio_console_log", json_string(virtio_log));
    }
    if (domain_state_is_active(d->state) && drv && drv->available) {
        DomainInfo info;
        Error info_error = ERROR_NULL;

        if (driver_get_info(drv, &d->config, &d->runtime, &info, 0, &info_error) >= 0) {
            json_t *stats = info.stats ? info.stats : json_object();
            (void)json_object_set_new(stats, "cpu_time_ns",
                                      json_integer((json_int_t)info.cpu_time_ns));
            (void)json_object_set_new(stats, "memory_kib",
                                      json_integer((json_int_t)info.memory_kib));
            (void)json_object_set_new(obj, "stats", stats);
        } else
            log_debug("Domain %s: no statistics: %s", d->config.name, info_error.message);
    }
    *ret = obj;
    return 0;
}

static void on_info_refreshed(void *userdata)
{
    InfoWait *w = userdata;

    info_wait_unlink(w);
    info_wait_answer(w, false);
}

int manager_domain_info_fresh(Manager *m, Domain *d, ManagerInfoDone done, void *userdata, Error *e)
{
    Driver *drv = manager_driver(m, d);
    InfoWait *w;
    json_t *info;
    int r;

    w = calloc(1, sizeof(*w));
    if (!w)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    *w = (InfoWait){.manager = m, .done = done, .userdata = userdata, .next = m->info_waits};
    (void)snprintf(w->name, sizeof(w->name), "%s", d->config.name);
    r = domain_state_is_active(d->state) && drv
            ? driver_refresh_stats(drv, &d->config, on_info_refreshed, w)
            : 1;
    if (r == 0) {
        m->info_waits = w;
        return 1;
    }
    free(w);
    r = manager_domain_info(m, d, &info, e);
    if (r < 0)
        return r;
    done(userdata, d, info);
    json_decref(info);
    return 0;
}

static unsigned console_flags(ConsoleDevice device)
{
    return device == CONSOLE_VIRTIO ? DRIVER_CONSOLE_VIRTIO : 0;
}

int manager_domain_console_tail(Manager *m, Domain *d, ConsoleDevice device, size_t max, char **ret,
                                size_t *ret_len, Error *e)
{
    _cleanup_free_ char *path = NULL;
    _cleanup_fclose_ FILE *f = NULL;
    Driver *drv = manager_driver(m, d);
    char *buf;
    long size;
    size_t n;
    int r;

    if (!drv)
        return error_setf(e, ERROR_DRIVER_UNAVAILABLE, "the %s driver is not built into this hvd",
                          driver_kind_to_string(d->config.driver));
    r = driver_console_log(drv, &d->config, console_flags(device), &path, e);
    if (r < 0)
        return r;
    f = fopen(path, "re");
    if (!f && errno != ENOENT)
        return error_set_errno(e, -errno, "Failed to read the console log %s: %m", path);
    size = f && fseek(f, 0, SEEK_END) == 0 ? ftell(f) : 0;
    if (size < 0)
        size = 0;
    n = MIN((size_t)size, max);
    buf = malloc(n + 1);
    if (!buf)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    if (f && (fseek(f, size - (long)n, SEEK_SET) != 0 || fread(buf, 1, n, f) != n)) {
        free(buf);
        return error_set_errno(e, -EIO, "Failed to read the console log %s", path);
    }
    buf[n] = 0;
    *ret = buf;
    *ret_len = n;
    return 0;
}

int manager_domain_console_write(Manager *m, Domain *d, ConsoleDevice device, const char *data,
                                 size_t len, Error *e)
{
    _cleanup_close_ int fd = -EBADF;
    size_t done = 0;
    int r;

    r = manager_domain_console(m, d, device, &fd, e);
    if (r < 0)
        return r;
    /* The driver's console socket takes input at once; one that cannot is full, and hvd does
     * not wait for it. */
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
        return error_set_errno(e, -errno, "Failed to write to the console: %m");
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return error_setf(e, ERROR_FAILED,
                              "the console of '%s' does not take input now (%zu of %zu bytes "
                              "written)",
                              d->config.name, done, len);
        if (n < 0)
            return error_set_errno(e, -errno, "Failed to write to the console: %m");
        done += (size_t)n;
    }
    return 0;
}

int manager_domain_console(Manager *m, Domain *d, ConsoleDevice device, int *ret_fd, Error *e)
{
    Driver *drv = manager_driver(m, d);

    if (!domain_state_is_active(d->state))
        return error_setf(e, ERROR_INVALID_STATE, "domain '%s' is %s; it has no console",
                          d->config.name, domain_state_to_string(d->state));
    return driver_console_open(drv, &d->config, &d->runtime, ret_fd, console_flags(device), e);
}

void manager_stats_foreach(Manager *m, unsigned flags, ManagerStatsVisit visit, void *userdata)
{
    manager_stats_foreach_wanted(m, flags, NULL, visit, userdata);
}

static void stats_copy_into(void *userdata, Domain *d, json_t *stats)
{
    if (stats)
        (void)json_object_set_new(userdata, d->config.name, json_copy(stats));
}

json_t *manager_stats_all(Manager *m)
{
    json_t *all = json_object();

    if (all)
        manager_stats_foreach(m, 0, stats_copy_into, all);
    return all;
}

void manager_info_waits_answer(Manager *m)
{
    while (m->info_waits) {
        InfoWait *w = m->info_waits;
        m->info_waits = w->next;
        info_wait_answer(w, true);
    }
}
