/* The manager's collection of domains: loading, lookup, create, update, delete, the event log
 * and the saving of states the store refused. */
#include <string.h>
#include <systemd/sd-daemon.h>

#include "hashmap.h"
#include "log.h"
#include "manager-internal.h"
#include "manager-migrate.h"
#include "time-util.h"

#define EVENTS_KEEP        100000u
#define EVENTS_PRUNE_EVERY 1000u
#define STATUS_INTERVAL_US (200 * USEC_PER_MSEC)

static Domain *domain_free(Domain *d)
{
    if (!d)
        return NULL;
    domain_config_done(&d->config);
    (void)sd_event_source_disable_unref(d->shutdown_timer);
    free(d->object_path);
    for (size_t i = 0; i < ELEMENTSOF(d->op_caller); i++)
        free(d->op_caller[i]);
    history_series_free(d->history);
    domain_json_text_done(d);
    manager_domain_images_free(d);
    manager_domain_migration_free(d);
    free(d);
    return NULL;
}

/* Index where name is or would be inserted; *found says whether it is there. */
static size_t domain_index(Manager *m, const char *name, bool *found)
{
    size_t lo = 0, hi = m->n_domains;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(m->domains[mid]->config.name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

Domain *manager_find(Manager *m, const char *name)
{
    bool found;
    size_t i = domain_index(m, name, &found);

    return found ? m->domains[i] : NULL;
}

int manager_get(Manager *m, const char *name, Domain **ret, Error *e)
{
    Domain *d = manager_find(m, name);

    if (!d)
        return error_setf(e, ERROR_NO_SUCH_DOMAIN, "no domain named '%.64s'", name);
    *ret = d;
    return 0;
}

Domain *manager_find_uuid(Manager *m, const char *uuid)
{
    return hashmap_get(m->domains_by_uuid, uuid);
}

static int domain_insert(Manager *m, Domain *d)
{
    bool found;
    size_t i = domain_index(m, d->config.name, &found);

    if (found)
        return -EEXIST;
    if (hashmap_put(m->domains_by_uuid, d->config.uuid, d) < 0)
        return -ENOMEM;
    if (m->n_domains == m->n_domains_allocated) {
        size_t n = m->n_domains_allocated ? m->n_domains_allocated * 2 : 64;
        Domain **p = reallocarray(m->domains, n, sizeof(*p));
        if (!p) {
            (void)hashmap_remove(m->domains_by_uuid, d->config.uuid);
            return -ENOMEM;
        }
        m->domains = p;
        m->n_domains_allocated = n;
    }
    memmove(m->domains + i + 1, m->domains + i, (m->n_domains - i) * sizeof(*m->domains));
    m->domains[i] = d;
    m->n_domains++;
    d->manager = m;
    m->state_counts[d->state]++;
    if (domain_state_holds_allocation(d->state))
        alloc_add(&m->alloc, d->config.vcpus, d->config.memory_mib);
    return 0;
}

static void domain_unlink(Manager *m, Domain *d)
{
    bool found;
    size_t i = domain_index(m, d->config.name, &found);

    if (!found)
        return;
    memmove(m->domains + i, m->domains + i + 1, (m->n_domains - i - 1) * sizeof(*m->domains));
    m->n_domains--;
    if (hashmap_get(m->domains_by_uuid, d->config.uuid) == d)
        (void)hashmap_remove(m->domains_by_uuid, d->config.uuid);
    m->state_counts[d->state]--;
    if (domain_state_holds_allocation(d->state))
        alloc_remove(&m->alloc, d->config.vcpus, d->config.memory_mib);
}

static int load_domain(StoredDomain *sd, void *userdata)
{
    Manager *m = userdata;
    Domain *d;
    int r;

    d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    r = domain_config_copy(&d->config, &sd->config);
    if (r < 0) {
        free(d);
        return r;
    }
    d->id = sd->id;
    d->state = sd->state;
    d->reason = sd->reason;
    d->runtime = sd->runtime;
    d->created_us = sd->created_us;
    d->state_changed_us = sd->state_changed_us;
    r = domain_insert(m, d);
    if (r < 0)
        domain_free(d);
    return r;
}

static AllocPolicy policy_from_config(const HvdConfig *c)
{
    return (AllocPolicy){
        .reserved_cpus = c->reserved_cpus,
        .reserved_memory_mib = c->reserved_memory_mib,
        .cpu_ratio = c->cpu_overcommit,
        .memory_ratio = c->memory_overcommit,
    };
}

int manager_new(sd_event *event, HvdConfig *config, Manager **ret, Error *e)
{
    _cleanup_free_ char *db_path = NULL;
    HostCapacity host;
    AllocPolicy policy = policy_from_config(config);
    Manager *m;
    int r;

    r = host_capacity_read(&host);
    if (r < 0)
        return error_set_errno(e, r, "Failed to read host capacity: %m");

    m = calloc(1, sizeof(*m));
    if (!m)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    m->event = sd_event_ref(event);
    m->config = config;
    m->domains_by_uuid = hashmap_new();
    if (!m->domains_by_uuid) {
        manager_free(m);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    alloc_init(&m->alloc, &host, &policy);

    if (asprintf(&db_path, "%s/hvd.db", config->state_dir) < 0) {
        manager_free(m);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    r = store_open(db_path, config->synchronous, &m->store, e);
    if (r < 0) {
        manager_free(m);
        return r;
    }
    r = store_domains_load(m->store, load_domain, m);
    if (r >= 0)
        r = manager_networks_load(m);
    if (r < 0) {
        (void)error_set_errno(e, r, "Failed to load domains and networks from %s: %s", db_path,
                              r == -EBADMSG ? "a row violates the domain model"
                                            : store_last_error(m->store));
        manager_free(m);
        return r;
    }
    r = manager_history_start(m);
    if (r < 0) {
        (void)error_set_errno(e, r, "Failed to start the statistics history: %m");
        manager_free(m);
        return r;
    }
    *ret = m;
    return 0;
}

Manager *manager_free(Manager *m)
{
    if (!m)
        return NULL;
    if (m->history_timer)
        manager_history_save(m, now_usec(CLOCK_REALTIME), true);
    manager_commit(m);
    for (size_t i = 0; i < m->n_domains; i++) {
        manager_cancel_waiters(m->domains[i], "hvd is stopping");
        domain_free(m->domains[i]);
    }
    free(m->domains);
    hashmap_free(m->domains_by_uuid);
    manager_migrations_free(m);
    manager_networks_free(m);
    /* The drivers drop refreshes in flight when they close: answer their waiters first. */
    manager_info_waits_answer(m);
    (void)sd_event_source_disable_unref(m->commit_source);
    free(m->pending);
    (void)sd_event_source_disable_unref(m->status_timer);
    (void)sd_event_source_disable_unref(m->save_timer);
    (void)sd_event_source_disable_unref(m->history_timer);
    history_series_free(m->host_history);
    for (size_t i = 0; i < _DRIVER_KIND_MAX; i++)
        m->drivers[i] = driver_free(m->drivers[i]);
    store_free(m->store);
    sd_event_unref(m->event);
    free(m->last_status);
    free(m);
    return NULL;
}

Driver *manager_driver(Manager *m, const Domain *d)
{
    return m->drivers[d->config.driver];
}

void manager_reload(Manager *m, HvdConfig *config, void *settings[_DRIVER_KIND_MAX])
{
    AllocPolicy policy = policy_from_config(config);

    m->config = config;
    alloc_set_policy(&m->alloc, &policy);
    for (size_t i = 0; i < _DRIVER_KIND_MAX; i++)
        if (m->drivers[i]) {
            driver_settings_replace(m->drivers[i], settings[i]);
            settings[i] = NULL;
        }
}

void manager_remove_listener(Manager *m, void *userdata)
{
    size_t j = 0;

    for (size_t i = 0; i < m->n_listeners; i++)
        if (m->listeners[i].userdata != userdata)
            m->listeners[j++] = m->listeners[i];
    m->n_listeners = j;
}

int manager_add_listener(Manager *m, const ManagerListener *l)
{
    if (m->n_listeners >= ELEMENTSOF(m->listeners))
        return -ENOBUFS;
    m->listeners[m->n_listeners++] = *l;
    return 0;
}

#define NOTIFY(m, slot, ...)                                                         \
    do {                                                                             \
        for (size_t _i_ = 0; _i_ < (m)->n_listeners; _i_++)                          \
            if ((m)->listeners[_i_].slot)                                            \
                (m)->listeners[_i_].slot((m)->listeners[_i_].userdata, __VA_ARGS__); \
    } while (0)

void manager_notify_change(Manager *m, Domain *d, const DomainChange *change)
{
    NOTIFY(m, domain_changed, d, change);
}

void manager_notify_console(Manager *m, Domain *d, ConsoleDevice device, const char *data,
                            size_t len)
{
    NOTIFY(m, domain_console, d, device, data, len);
}

void manager_set_caller(Manager *m, const char *caller)
{
    (void)snprintf(m->caller, sizeof(m->caller), "%s", strempty(caller));
}

/* detail (JSON object text, or NULL) with "caller" added last, written into buf (size n) or,
 * when it does not fit there, into *ret_allocated: the object's closing brace is replaced, it is
 * not parsed and written again (this runs for every transition). The caller is text hvd made (an
 * address, a uid, a bus name); its quotes, backslashes and control characters are escaped. */
static const char *detail_with_caller(const char *detail, const char *caller, char *buf, size_t n,
                                      char **ret_allocated)
{
    size_t len = detail ? strlen(detail) : 2, need = len + strlen(caller) * 6 + 16, o;
    char *out = buf;

    if (detail && (len < 2 || detail[0] != '{' || detail[len - 1] != '}'))
        return NULL;
    if (need > n) {
        out = *ret_allocated = malloc(need);
        if (!out)
            return NULL;
    }
    memcpy(out, detail ?: "{}", len - 1);
    o = len - 1;
    o += (size_t)sprintf(out + o, "%s\"caller\":\"", len > 2 ? "," : "");
    for (const unsigned char *c = (const unsigned char *)caller; *c; c++) {
        if (*c == '"' || *c == '\\')
            out[o++] = '\\', out[o++] = (char)*c;
        else if (*c < 0x20)
            o += (size_t)sprintf(out + o, "\\u%04x", *c);
        else
            out[o++] = (char)*c;
    }
    memcpy(out + o, "\"}", 3);
    return out;
}

int manager_log_event_text(Manager *m, const char *domain, const char *event, const char *detail,
                           int64_t *ret_id)
{
    _cleanup_free_ char *allocated = NULL;
    char buf[1024];
    int r;

    if (m->caller[0]) {
        detail = detail_with_caller(detail, m->caller, buf, sizeof(buf), &allocated);
        if (!detail)
            return -ENOMEM;
    }
    r = store_event_append(m->store, now_usec(CLOCK_REALTIME), domain, event, detail, ret_id);
    if (r < 0)
        return r;
    if (++m->events_since_prune >= EVENTS_PRUNE_EVERY) {
        m->events_since_prune = 0;
        (void)store_events_prune(m->store, EVENTS_KEEP);
    }
    return 0;
}

int manager_log_event(Manager *m, const char *domain, const char *event, json_t *detail,
                      int64_t *ret_id)
{
    _cleanup_free_ char *text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;

    return manager_log_event_text(m, domain, event, text, ret_id);
}

static int store_failed(Manager *m, int r, const char *what, Error *e)
{
    store_rollback(m->store); /* the store keeps the message of the step that failed */
    if (r == -EBUSY)
        return error_set_errno(e, r,
                               "Failed to record %s: the database is locked by another "
                               "process",
                               what);
    if (r == -ENOSPC)
        return error_set_errno(e, r, "Failed to record %s: no space left in the state directory",
                               what);
    return error_set_errno(e, r, "Failed to record %s: %s", what, store_last_error(m->store));
}

int manager_domain_create(Manager *m, const json_t *settings, Domain **ret, Error *e)
{
    DomainConfig c;
    Domain *d, *other;
    Driver *drv;
    json_t *detail;
    int r;

    r = domain_config_from_json(settings, &c, e);
    if (r < 0)
        goto fail_config;
    if (manager_find(m, c.name)) {
        r = error_setf(e, ERROR_DOMAIN_EXISTS, "a domain named '%s' already exists", c.name);
        goto fail_config;
    }
    other = manager_find_uuid(m, c.uuid);
    if (other) {
        r = error_setf(e, ERROR_DOMAIN_EXISTS, "UUID %s is already used by domain '%s'", c.uuid,
                       other->config.name);
        goto fail_config;
    }
    drv = m->drivers[c.driver];
    if (!drv) {
        r = error_setf(e, ERROR_DRIVER_UNAVAILABLE, "the %s driver is not available in this hvd",
                       driver_kind_to_string(c.driver));
        goto fail_config;
    }
    manager_network_fill_nic(m, &c, 0);
    r = driver_validate(drv, &c, e);
    if (r < 0)
        goto fail_config;
    r = alloc_check_cpuset(&m->alloc, c.cpuset, e);
    if (r < 0)
        goto fail_config;

    d = calloc(1, sizeof(*d));
    if (!d) {
        r = error_set_errno(e, -ENOMEM, "Out of memory");
        goto fail_config;
    }
    d->config = c;
    d->state = STATE_SHUTOFF;
    d->reason = REASON_DEFINED;
    d->created_us = d->state_changed_us = now_usec(CLOCK_REALTIME);

    detail = json_object();
    (void)domain_config_to_json(&d->config, detail);
    manager_commit(m); /* changes before this one are recorded first, in their own commit */
    r = store_begin(m->store);
    if (r >= 0)
        r = store_domain_insert(m->store, &d->config, d->state, d->reason, d->created_us, &d->id);
    if (r >= 0)
        r = manager_log_event(m, d->config.name, "created", detail, NULL);
    if (r >= 0)
        r = store_commit(m->store);
    json_decref(detail);
    if (r < 0) {
        r = store_failed(m, r, "the new domain", e);
        domain_free(d);
        return r;
    }
    r = domain_insert(m, d);
    if (r < 0) {
        domain_free(d);
        return error_set_errno(e, r, "Out of memory");
    }
    log_info("Domain %s created (%s, %s, %u vCPUs, %" PRIu64 " MiB).", d->config.name,
             driver_kind_to_string(d->config.driver), domain_mode_to_string(d->config.mode),
             d->config.vcpus, d->config.memory_mib);
    NOTIFY(m, domain_new, d);
    if (ret)
        *ret = d;
    return 0;

fail_config:
    domain_config_done(&c);
    return r;
}

/* Resource settings of an active domain take effect at once: the driver applies them before
 * they are recorded (a refusal leaves everything as it was). In a state in between (starting,
 * stopping, crashed) the instance is not there to change. */
static int apply_resources(Manager *m, Domain *d, const DomainConfig *c, Error *e)
{
    if (!domain_state_is_active(d->state) || !domain_config_resources_differ(c, &d->config))
        return 0;
    if (d->state != STATE_RUNNING && d->state != STATE_PAUSED)
        return error_setf(e, ERROR_INVALID_STATE,
                          "resource settings can change while the domain is shut off, running or "
                          "paused (it is %s)",
                          domain_state_to_string(d->state));
    return driver_set_resources(manager_driver(m, d), c, &d->runtime, 0, e);
}

int manager_domain_update(Manager *m, Domain *d, const json_t *settings, Error *e)
{
    DomainConfig c;
    int r;

    r = domain_config_copy(&c, &d->config);
    if (r < 0)
        return error_set_errno(e, r, "Out of memory");
    r = domain_config_update_from_json(&c, settings, d->state, e);
    if (r >= 0)
        manager_network_fill_nic(m, &c, d->id);
    if (r >= 0)
        r = driver_validate(manager_driver(m, d), &c, e);
    if (r >= 0)
        r = alloc_check_cpuset(&m->alloc, c.cpuset, e);
    if (r >= 0)
        r = apply_resources(m, d, &c, e);
    if (r < 0) {
        domain_config_done(&c);
        return r;
    }

    manager_commit(m); /* changes before this one are recorded first, in their own commit */
    r = store_begin(m->store);
    if (r >= 0)
        r = store_domain_update_config(m->store, d->id, &c);
    if (r >= 0)
        r = manager_log_event(m, d->config.name, "updated", (json_t *)settings, NULL);
    if (r >= 0)
        r = store_commit(m->store);
    if (r < 0) {
        Error ignored = ERROR_NULL;

        /* Back to what the store still says. */
        if (domain_config_resources_differ(&c, &d->config) &&
            (d->state == STATE_RUNNING || d->state == STATE_PAUSED))
            (void)driver_set_resources(manager_driver(m, d), &d->config, &d->runtime, 0, &ignored);
        domain_config_done(&c);
        return store_failed(m, r, "the new settings", e);
    }
    domain_config_done(&d->config);
    d->config = c;
    d->config_generation++;
    NOTIFY(m, domain_updated, d);
    return 0;
}

int manager_domain_delete(Manager *m, Domain *d, Error *e)
{
    Driver *drv = manager_driver(m, d);
    Error undefine_error = ERROR_NULL;
    json_t *detail;
    int r;

    if (d->state != STATE_SHUTOFF)
        return error_setf(e, ERROR_INVALID_STATE,
                          "domain '%s' is %s; only a shut-off domain can be deleted%s",
                          d->config.name, domain_state_to_string(d->state),
                          d->state == STATE_CRASHED ? " (destroy it first)" : "");
    detail = json_pack("{s:s}", "uuid", d->config.uuid);
    manager_commit(m); /* changes before this one are recorded first, in their own commit */
    r = store_begin(m->store);
    if (r >= 0)
        r = store_domain_delete(m->store, d->id);
    if (r >= 0)
        r = store_images_delete_domain(m->store, d->config.uuid);
    if (r >= 0)
        r = manager_log_event(m, d->config.name, "deleted", detail, NULL);
    if (r >= 0)
        r = store_commit(m->store);
    json_decref(detail);
    if (r < 0)
        return store_failed(m, r, "the deletion", e);

    /* Committed first: a crash from here on leaves at most a backend definition nobody claims,
     * never a recorded domain whose backend side is gone. */
    if (drv && drv->available && driver_undefine(drv, &d->config, 0, &undefine_error) < 0)
        log_warning("Domain %s: %s", d->config.name, undefine_error.message);
    log_info("Domain %s deleted.", d->config.name);
    manager_network_domain_deleted(m, d);
    manager_images_domain_deleted(m, d);
    domain_unlink(m, d);
    NOTIFY(m, domain_removed, d);
    domain_free(d);
    return 0;
}

#define SAVE_RETRY_MIN_S 1u
#define SAVE_RETRY_MAX_S 30u

/* Records one domain's current state and allocation as they are in memory. */
static int save_domain(Manager *m, Domain *d)
{
    json_t *ev = json_pack("{s:s, s:s, s:s}", "state", domain_state_to_string(d->state), "reason",
                           domain_reason_to_string(d->reason), "message",
                           "recorded late: the store refused it when it happened");
    int r;

    manager_commit(m); /* changes before this one are recorded first, in their own commit */
    r = store_begin(m->store);
    if (r >= 0)
        r = store_domain_set_state(m->store, d->id, d->state, d->reason, &d->runtime,
                                   d->state_changed_us);
    if (r >= 0)
        r = domain_state_holds_allocation(d->state)
                ? store_allocation_set(m->store, d->id, d->config.vcpus, d->config.memory_mib,
                                       d->config.cpuset)
                : store_allocation_clear(m->store, d->id);
    if (r >= 0)
        r = manager_log_event(m, d->config.name, "state-changed", ev, NULL);
    if (r >= 0)
        r = store_commit(m->store);
    json_decref(ev);
    if (r < 0)
        store_rollback(m->store);
    return r;
}

static int on_save_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
    Manager *m = userdata;
    bool pending = false;

    for (size_t i = 0; i < m->n_domains; i++) {
        Domain *d = m->domains[i];
        if (!d->unsaved)
            continue;
        if (save_domain(m, d) >= 0) {
            d->unsaved = false;
            log_info("Domain %s: its state is recorded again.", d->config.name);
        } else
            pending = true;
    }
    if (!pending) {
        m->save_backoff_s = 0;
        return 0;
    }
    m->save_backoff_s =
        m->save_backoff_s ? MIN(m->save_backoff_s * 2, SAVE_RETRY_MAX_S) : SAVE_RETRY_MIN_S;
    (void)sd_event_source_set_time_relative(s, (uint64_t)m->save_backoff_s * USEC_PER_SEC);
    (void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
    return 0;
}

void manager_save_later(Manager *m, Domain *d)
{
    int enabled = SD_EVENT_OFF;

    d->unsaved = true;
    if (!m->save_timer) {
        (void)sd_event_add_time_relative(m->event, &m->save_timer, CLOCK_MONOTONIC,
                                         SAVE_RETRY_MIN_S * USEC_PER_SEC, 0, on_save_timer, m);
        return;
    }
    (void)sd_event_source_get_enabled(m->save_timer, &enabled);
    if (enabled == SD_EVENT_OFF) {
        (void)sd_event_source_set_time_relative(m->save_timer, SAVE_RETRY_MIN_S * USEC_PER_SEC);
        (void)sd_event_source_set_enabled(m->save_timer, SD_EVENT_ONESHOT);
    }
}

void manager_account_state(Manager *m, Domain *d, DomainState new_state)
{
    bool held = domain_state_holds_allocation(d->state);
    bool holds = domain_state_holds_allocation(new_state);

    m->state_counts[d->state]--;
    m->state_counts[new_state]++;
    if (holds && !held)
        alloc_add(&m->alloc, d->config.vcpus, d->config.memory_mib);
    else if (held && !holds)
        alloc_remove(&m->alloc, d->config.vcpus, d->config.memory_mib);
}

void manager_status_line(Manager *m, char *buf, size_t n)
{
    unsigned running = m->state_counts[STATE_RUNNING];
    unsigned paused = m->state_counts[STATE_PAUSED];
    unsigned crashed = m->state_counts[STATE_CRASHED];
    unsigned busy = m->state_counts[STATE_STARTING] + m->state_counts[STATE_STOPPING];
    int k = snprintf(buf, n, "%u running", running);

    if (paused && k > 0 && (size_t)k < n)
        k += snprintf(buf + k, n - (size_t)k, ", %u paused", paused);
    if (busy && k > 0 && (size_t)k < n)
        k += snprintf(buf + k, n - (size_t)k, ", %u changing", busy);
    if (crashed && k > 0 && (size_t)k < n)
        k += snprintf(buf + k, n - (size_t)k, ", %u crashed", crashed);
    if (k > 0 && (size_t)k < n)
        (void)snprintf(buf + k, n - (size_t)k, ", %zu defined", m->n_domains);
}

static int on_status_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
    Manager *m = userdata;
    char line[256];

    m->status_timer = sd_event_source_disable_unref(m->status_timer);
    manager_status_line(m, line, sizeof(line));
    if (m->last_status && streq(m->last_status, line))
        return 0;
    free(m->last_status);
    m->last_status = strdup(line);
    (void)sd_notifyf(false, "STATUS=%s", line);
    return 0;
}

void manager_update_status(Manager *m)
{
    /* Coalesced: under load, the service manager hears at most a few updates a second. */
    if (m->status_timer)
        return;
    if (sd_event_add_time_relative(m->event, &m->status_timer, CLOCK_MONOTONIC, STATUS_INTERVAL_US,
                                   0, on_status_timer, m) < 0)
        (void)on_status_timer(NULL, 0, m);
}

/* The resource settings of the domains that hold host resources, and their weights' sum (what
 * one weight is a share of). */
int manager_events_since(Manager *m, int64_t after_id, unsigned limit,
                         int (*cb)(const StoredEvent *ev, void *userdata), void *userdata)
{
    return store_events_since(m->store, after_id, limit, cb, userdata);
}

int manager_events_query(Manager *m, const StoreEventFilter *f,
                         int (*cb)(const StoredEvent *ev, void *userdata), void *userdata)
{
    return store_events_query(m->store, f, cb, userdata);
}

int64_t manager_events_last_id(Manager *m)
{
    int64_t id = 0;

    (void)store_events_last_id(m->store, &id);
    return id;
}

void manager_child_exited(Manager *m, int pid, int wait_status)
{
    for (size_t i = 0; i < _DRIVER_KIND_MAX; i++)
        if (m->drivers[i] && driver_child_exited(m->drivers[i], pid, wait_status) > 0)
            return;
}
