/* What the kvm driver knows of libvirt's domains without asking libvirtd: each one's last known
 * state (from the connect job's inventory, lifecycle events and operations) and its statistics,
 * refreshed by a worker job whenever they are asked for and older than STATS_FRESH_MS. At most
 * one refresh runs at a time; who asks through refresh_stats hears when it is done, or after
 * STATS_WAIT_MS, whichever comes first. */
#include <string.h>

#include "kvm-internal.h"
#include "log.h"
#include "time-util.h"

#define STATS_FRESH_MS 1000u
#define STATS_WAIT_MS  250u
#define STATS_JOB_KEY  "stats"

struct KvmWaiter {
    Driver *drv;
    DriverRefreshDone done;
    void *userdata;
    sd_event_source *timer;
    KvmWaiter *next;
};

static void domain_free(KvmDomain *d)
{
    free(d->name);
    json_decref(d->stats);
    free(d);
}

static void domains_clear(KvmDriver *k)
{
    HASHMAP_FOREACH_VALUE(k->domains, d)
    domain_free(d);
    hashmap_clear(k->domains);
}

/* The record of domain uuid, made when new; its name kept up to date. NULL when out of memory. */
static KvmDomain *domain_get(KvmDriver *k, const char *uuid, const char *name)
{
    KvmDomain *d = hashmap_get(k->domains, uuid);
    char *copy;

    if (d && streq(d->name, name))
        return d;
    copy = strdup(name);
    if (!copy)
        return NULL;
    if (d) {
        free(d->name);
        d->name = copy;
        return d;
    }
    d = calloc(1, sizeof(*d));
    if (!d || hashmap_put(k->domains, uuid, d) < 0) {
        free(d);
        free(copy);
        return NULL;
    }
    d->name = copy;
    return d;
}

KvmDomain *kvm_domain_find(Driver *drv, const char *uuid)
{
    return hashmap_get(kvm(drv)->domains, uuid);
}

void kvm_domains_replace(Driver *drv, KvmSeen *seen, size_t n, uint64_t at_us)
{
    KvmDriver *k = kvm(drv);

    domains_clear(k);
    for (size_t i = 0; i < n; i++) {
        KvmDomain *d = domain_get(k, seen[i].uuid, seen[i].name);

        if (!d)
            continue;
        d->state = seen[i].state;
        d->reason = seen[i].reason;
        d->stats = TAKE_PTR(seen[i].stats);
        d->stats_at_us = at_us;
    }
    k->stats_refreshed_us = at_us;
    k->stats_failed = false;
}

void kvm_domain_set_state(Driver *drv, const char *uuid, const char *name, DomainState state,
                          DomainReason reason)
{
    KvmDomain *d = domain_get(kvm(drv), uuid, name);

    if (!d)
        return;
    d->state = state;
    d->reason = reason;
    if (!domain_state_is_active(state))
        d->stats = (json_decref(d->stats), NULL);
}

void kvm_domain_set_stats(Driver *drv, const char *uuid, KvmSeen *seen, uint64_t at_us)
{
    KvmDomain *d = hashmap_get(kvm(drv)->domains, uuid);

    if (!d || at_us < d->stats_at_us)
        return;
    json_decref(d->stats);
    d->stats = seen ? TAKE_PTR(seen->stats) : NULL;
    d->stats_at_us = at_us;
}

static bool fresh(uint64_t at_us)
{
    return at_us > 0 && now_usec(CLOCK_MONOTONIC) - at_us < STATS_FRESH_MS * USEC_PER_MSEC;
}

static bool domain_fresh(KvmDriver *k, const KvmDomain *d)
{
    return !k->stats_failed && d && d->stats && fresh(d->stats_at_us);
}

static bool all_fresh(KvmDriver *k)
{
    return !k->stats_failed && fresh(k->stats_refreshed_us);
}

/* Queues a refresh unless one is under way. Returns 0 or a negative errno. */
static int stats_start(Driver *drv)
{
    KvmDriver *k = kvm(drv);
    KvmJob *j;
    int r;

    if (k->stats_refreshing)
        return 0;
    j = kvm_job_new(drv, KVM_JOB_STATS);
    if (!j)
        return -ENOMEM;
    r = kvm_job_queue(j, STATS_JOB_KEY);
    if (r < 0)
        return r;
    k->stats_refreshing = true;
    return 0;
}

void kvm_stats_run(KvmJob *j)
{
    virDomainStatsRecordPtr *records = NULL;
    int n, r;

    j->seen_at_us = now_usec(CLOCK_MONOTONIC);
    n = virConnectGetAllDomainStats(j->conn, KVM_STATS_WANTED, &records,
                                    VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE |
                                        VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT);
    if (n < 0) {
        (void)kvm_libvirt_error(&j->error, "reading statistics of", kvm(j->drv)->uri);
        return;
    }
    r = kvm_seen_from_records(records, n, &j->seen, &j->n_seen);
    virDomainStatsRecordListFree(records);
    if (r < 0)
        (void)error_set_errno(&j->error, r, "Out of memory");
}

/* Takes a complete refresh asked at at_us. Numbers read after it was asked (after an operation)
 * are newer and stay; an active domain missing from it has stopped (its event says how). */
static void stats_apply(KvmDriver *k, KvmSeen *seen, size_t n, uint64_t at_us)
{
    for (size_t i = 0; i < n; i++) {
        KvmDomain *d = hashmap_get(k->domains, seen[i].uuid);

        if (!d) {
            /* Started outside hvd's view (its event is yet to come). */
            d = domain_get(k, seen[i].uuid, seen[i].name);
            if (!d)
                continue;
            d->state = seen[i].state;
            d->reason = seen[i].reason;
        }
        if (d->stats_at_us > at_us)
            continue;
        json_decref(d->stats);
        d->stats = TAKE_PTR(seen[i].stats);
        d->stats_at_us = at_us;
    }
    HASHMAP_FOREACH_VALUE(k->domains, v)
    {
        KvmDomain *d = v;
        if (d->stats && d->stats_at_us < at_us)
            d->stats = (json_decref(d->stats), NULL);
    }
    k->stats_refreshed_us = at_us;
    k->stats_failed = false;
}

static void waiter_call(KvmWaiter *w)
{
    DriverRefreshDone done = w->done;
    void *userdata = w->userdata;

    (void)sd_event_source_disable_unref(w->timer);
    free(w);
    done(userdata);
}

static int on_waiter_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
    KvmWaiter *w = userdata, **p = &kvm(w->drv)->stats_waiters;

    while (*p != w)
        p = &(*p)->next;
    *p = w->next;
    waiter_call(w);
    return 0;
}

void kvm_stats_done(KvmJob *j)
{
    KvmDriver *k = kvm(j->drv);
    KvmWaiter *w;

    k->stats_refreshing = false;
    if (error_is_set(&j->error)) {
        k->stats_failed = true;
        log_debug("kvm: %s", j->error.message);
    } else
        stats_apply(k, j->seen, j->n_seen, j->seen_at_us);
    /* Taken first: a waiter may ask again (and find the numbers fresh). */
    w = TAKE_PTR(k->stats_waiters);
    while (w) {
        KvmWaiter *next = w->next;
        waiter_call(w);
        w = next;
    }
}

/* A copy of d's statistics saying how old they are. NULL when out of memory. */
static json_t *stats_copy(KvmDriver *k, const KvmDomain *d)
{
    uint64_t age_ms = (now_usec(CLOCK_MONOTONIC) - d->stats_at_us) / USEC_PER_MSEC;
    json_t *o = json_copy(d->stats);

    if (!o || json_object_set_new(o, "stats_age_ms", json_integer((json_int_t)age_ms)) < 0 ||
        json_object_set_new(o, "stale",
                            json_boolean(k->stats_failed || age_ms > DRIVER_STATS_STALE_MS)) < 0)
        return (json_decref(o), NULL);
    return o;
}

int kvm_get_info(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, DomainInfo *info,
                 unsigned flags, Error *e)
{
    KvmDriver *k = kvm(drv);
    KvmDomain *d = hashmap_get(k->domains, c->uuid);

    if (!domain_fresh(k, d))
        (void)stats_start(drv);
    if (!d || !domain_state_is_active(d->state))
        return error_setf(e, ERROR_FAILED, "libvirt does not run '%s'", c->name);
    if (!d->stats)
        return error_setf(e, ERROR_FAILED, "no statistics of '%s' from libvirt yet", c->name);
    info->state = d->state;
    info->reason = d->reason;
    info->cpu_time_ns = (uint64_t)json_integer_value(json_object_get(d->stats, "cpu_time_ns"));
    info->memory_kib = (uint64_t)json_integer_value(json_object_get(d->stats, "memory_kib"));
    info->stats = stats_copy(k, d);
    if (!info->stats)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    return 0;
}

int kvm_get_stats(Driver *drv, json_t **ret, unsigned flags, Error *e)
{
    KvmDriver *k = kvm(drv);
    json_t *all = json_object();

    if (!all_fresh(k))
        (void)stats_start(drv);
    HASHMAP_FOREACH_VALUE(k->domains, v)
    {
        KvmDomain *d = v;
        if (all && d->stats && json_object_set_new(all, d->name, stats_copy(k, d)) < 0)
            all = (json_decref(all), NULL);
    }
    if (!all)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    *ret = all;
    return 0;
}

int kvm_refresh_stats(Driver *drv, const DomainConfig *c, DriverRefreshDone done, void *userdata)
{
    KvmDriver *k = kvm(drv);
    KvmWaiter *w, **tail;
    int r;

    if (c ? domain_fresh(k, hashmap_get(k->domains, c->uuid)) : all_fresh(k))
        return 1;
    r = stats_start(drv);
    if (r < 0 || !done)
        return r;
    w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    *w = (KvmWaiter){.drv = drv, .done = done, .userdata = userdata};
    r = sd_event_add_time_relative(drv->ctx.event, &w->timer, CLOCK_MONOTONIC,
                                   STATS_WAIT_MS * USEC_PER_MSEC, 0, on_waiter_timeout, w);
    if (r < 0) {
        free(w);
        return r;
    }
    for (tail = &k->stats_waiters; *tail; tail = &(*tail)->next)
        ;
    *tail = w;
    return 0;
}

void kvm_cache_done(Driver *drv)
{
    KvmDriver *k = kvm(drv);

    while (k->stats_waiters) {
        KvmWaiter *w = k->stats_waiters;
        k->stats_waiters = w->next;
        (void)sd_event_source_disable_unref(w->timer);
        free(w);
    }
    if (k->domains)
        domains_clear(k);
}
