/* Statistics of running minihv domains: read from the VMM's statistics page when asked
 * (minihv-stats-page.c; as C counters for the surfaces that read every domain, as JSON for one
 * domain's readers) or, without one, the last of asynchronous stats requests (at most one in
 * flight per instance), and refresh_stats, which tells its caller when the requested
 * samples arrived or after a short bound. Nothing here waits on minihv. */
#include <stdlib.h>

#include "log.h"
#include "minihv-internal.h"
#include "minihv-stats-page.h"
#include "stats-page.h"
#include "time-util.h"

/* One instance a refresh awaits, also linked from the instance, so an answer finds the
 * refreshes awaiting it without looking through every refresh's instances (with 1000 running,
 * that look made a /metrics refresh quadratic). */
struct StatsAwait {
    Instance *inst; /* NULL once it answered */
    StatsRefresh *refresh;
    StatsAwait *next; /* the instance's next await */
};

struct StatsRefresh {
    MinihvDriver *md;
    DriverRefreshDone done;
    void *userdata;
    sd_event_source *timer; /* the bound; fires at once when nothing is awaited any more */
    StatsAwait *awaited;
    size_t n_awaited;
    size_t pending;
    StatsRefresh *next;
};

static StatsRefresh *refresh_free(StatsRefresh *r)
{
    if (!r)
        return NULL;
    for (StatsRefresh **p = &r->md->refreshes; *p; p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            break;
        }
    (void)sd_event_source_disable_unref(r->timer);
    for (size_t i = 0; r->awaited && i < r->n_awaited; i++) {
        StatsAwait *a = &r->awaited[i];
        if (!a->inst)
            continue;
        for (StatsAwait **p = &a->inst->stats_awaits; *p; p = &(*p)->next)
            if (*p == a) {
                *p = a->next;
                break;
            }
    }
    free(r->awaited);
    return mfree(r);
}

void minihv_refreshes_drop(MinihvDriver *md)
{
    while (md->refreshes)
        refresh_free(md->refreshes);
    md->stats_queue_source = sd_event_source_disable_unref(md->stats_queue_source);
}

static void stats_unqueue(Instance *inst)
{
    MinihvDriver *md = inst->md;

    if (!inst->stats_queued)
        return;
    if (inst->stats_queue_prev)
        inst->stats_queue_prev->stats_queue_next = inst->stats_queue_next;
    else
        md->stats_queue_head = inst->stats_queue_next;
    if (inst->stats_queue_next)
        inst->stats_queue_next->stats_queue_prev = inst->stats_queue_prev;
    else
        md->stats_queue_tail = inst->stats_queue_prev;
    inst->stats_queue_prev = inst->stats_queue_next = NULL;
    inst->stats_queued = false;
}

static int on_stats_queue(sd_event_source *s, uint64_t usec, void *userdata)
{
    MinihvDriver *md = userdata;

    /* A read of a statistics page costs no VMM anything and hvd a sixteenth of a request:
     * STATS_PAGE_READS_PER_KICK of them go in a request's place, so a tick's reads over 2000
     * running hold the loop a few ms at a time rather than all at once. */
    for (unsigned cost = 0;
         cost < STATS_KICKS_PER_BATCH * STATS_PAGE_READS_PER_KICK && md->stats_queue_head;) {
        Instance *inst = md->stats_queue_head;
        cost += inst->stats_page ? 1 : STATS_PAGE_READS_PER_KICK;
        stats_unqueue(inst);
        instance_stats_kick(inst);
    }
    if (md->stats_queue_head) {
        (void)sd_event_source_set_time(s, usec + STATS_BATCH_INTERVAL_US);
        (void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
    }
    return 0;
}

/* Asks for a sample of inst soon, from the queue (the passive readers' way: a caller that waits
 * for the answer, a refresh, asks at once). */
static void stats_queue(Instance *inst)
{
    MinihvDriver *md = inst->md;

    if (inst->stats_queued || inst->stats_call || inst->stats_page_fetch || !inst->ready)
        return;
    if (!md->stats_queue_source) {
        if (sd_event_add_time(md->drv->ctx.event, &md->stats_queue_source, CLOCK_MONOTONIC, 0, 0,
                              on_stats_queue, md) < 0) {
            instance_stats_kick(inst);
            return;
        }
        /* a sweep over every running domain: after callers and their commits */
        (void)sd_event_source_set_priority(md->stats_queue_source, PRIORITY_BACKGROUND);
    }
    if (!md->stats_queue_head) {
        (void)sd_event_source_set_time(md->stats_queue_source, now_usec(CLOCK_MONOTONIC));
        (void)sd_event_source_set_enabled(md->stats_queue_source, SD_EVENT_ONESHOT);
    }
    inst->stats_queue_prev = md->stats_queue_tail;
    if (md->stats_queue_tail)
        md->stats_queue_tail->stats_queue_next = inst;
    else
        md->stats_queue_head = inst;
    md->stats_queue_tail = inst;
    inst->stats_queued = true;
}

static int on_refresh_done(sd_event_source *s, uint64_t usec, void *userdata)
{
    StatsRefresh *r = userdata;
    DriverRefreshDone done = r->done;
    void *done_userdata = r->userdata;

    refresh_free(r);
    if (done)
        done(done_userdata);
    return 0;
}

/* inst answered (or will not): refreshes awaiting it stop awaiting it. Their done runs from
 * their own timer, never from inside whatever ended the wait. */
static void stats_answered(Instance *inst)
{
    while (inst->stats_awaits) {
        StatsAwait *a = inst->stats_awaits;

        inst->stats_awaits = a->next;
        a->inst = NULL;
        a->next = NULL;
        if (--a->refresh->pending == 0)
            (void)sd_event_source_set_time(a->refresh->timer, 0);
    }
}

/* minihv's stats reply in hvd's terms: cpu time, memory, exits by reason and by device, the
 * network device's frames, bytes and drops. */
static json_t *stats_from_reply(json_t *reply)
{
    json_t *memory = json_object_get(reply, "memory");

    return json_pack(
        "{s:s, s:I, s:I, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}", "sampled_from",
        "request", "cpu_time_ns", json_integer_value(json_object_get(reply, "run_time_ns")),
        "memory_kib", json_integer_value(json_object_get(memory, "guest_resident_bytes")) / 1024,
        "exits_by_reason", json_object_get(reply, "exits"), "exits_by_device",
        json_object_get(reply, "devices"), "memory", memory, "bad_requests",
        json_object_get(reply, "bad_requests"), "console", json_object_get(reply, "console"),
        "block", json_object_get(reply, "block"), "uptime_ns", json_object_get(reply, "uptime_ns"),
        "net", json_object_get(reply, "net"));
}

static void on_stats_reply(ControlCall *call, json_t *reply, const Error *e, void *userdata)
{
    Instance *inst = userdata;
    json_t *stats = reply ? stats_from_reply(reply) : NULL;

    inst->stats_call = NULL;
    if (stats) {
        json_decref(inst->stats);
        inst->stats = stats;
        inst->stats_sampled = true;
        inst->stats_usec = inst->stats_request_usec = now_usec(CLOCK_MONOTONIC);
        inst->stats_failed = false;
    } else {
        log_debug("minihv: no statistics of %s: %s", inst->config.name,
                  e ? e->message : "out of memory");
        inst->stats_failed = true;
    }
    stats_answered(inst);
    if (reply)
        instance_answers(inst);
}

/* Asks minihv for a sample (a stats request), unless one is on its way. */
static void stats_ask(Instance *inst)
{
    json_t *request;
    Error e = ERROR_NULL;

    if (inst->stats_call)
        return;
    request = json_pack("{s:s}", "cmd", "stats");
    if (!request ||
        control_call_async(inst->md->drv->ctx.event, inst->control_path, request,
                           CONTROL_TIMEOUT_MS, on_stats_reply, inst, &inst->stats_call, &e) < 0) {
        log_debug("minihv: no statistics of %s: %s", inst->config.name,
                  request ? e.message : "out of memory");
        inst->stats_failed = true;
    } else {
        control_call_set_priority(inst->stats_call, CONTROL_PRIORITY_BACKGROUND);
        inst->stats_asked_usec = now_usec(CLOCK_MONOTONIC);
    }
    json_decref(request);
}

void instance_stats_kick(Instance *inst)
{
    if (!inst->ready)
        return;
    instance_probe(inst);
    if (instance_stats_page_read(inst, NULL))
        stats_answered(inst);
    else if (!instance_stats_page_fetch(inst))
        stats_ask(inst);
}

void instance_stats_page_done(Instance *inst)
{
    if (instance_stats_page_read(inst, NULL))
        stats_answered(inst);
    else
        stats_ask(inst);
}

void instance_stats_stop(Instance *inst)
{
    stats_unqueue(inst);
    control_call_cancel(inst->stats_call);
    inst->stats_call = NULL;
    instance_stats_page_drop(inst);
    inst->stats_page_refused = false;
    inst->stats_page_retry_usec = 0;
    json_decref(inst->stats);
    inst->stats = NULL;
    inst->stats_sampled = false;
    inst->stats_usec = inst->stats_request_usec = 0;
    inst->stats_failed = false;
    stats_answered(inst);
}

static uint64_t stats_age_ms(const Instance *inst)
{
    return (now_usec(CLOCK_MONOTONIC) - inst->stats_usec) / USEC_PER_MSEC;
}

static bool stats_fresh(const Instance *inst)
{
    return inst->stats_sampled && !inst->stats_failed && stats_age_ms(inst) < STATS_FRESH_MS;
}

static bool stats_stale(const Instance *inst)
{
    return !inst->stats_sampled || inst->stats_failed || stats_age_ms(inst) > DRIVER_STATS_STALE_MS;
}

/* Sets the fields of o that change between samples: the sample's age, whether it is stale, the
 * console's dropped input and the cgroup's numbers. */
static void stats_set_current(Instance *inst, json_t *o)
{
    if (inst->stats_sampled)
        (void)json_object_set_new(o, "stats_age_ms", json_integer((json_int_t)stats_age_ms(inst)));
    (void)json_object_set_new(o, "stale", json_boolean(stats_stale(inst)));
    (void)json_object_set_new(o, "console_input_dropped_bytes",
                              json_integer((json_int_t)inst->console_in_dropped));
    instance_cgroup_stats(inst, o);
}

/* Reads inst's page into *p unless its last request's sample is newer (a refresh of one domain
 * asks its VMM, for fresh memory figures); the request's sample goes once the page is newer. */
static bool sample_from_page(Instance *inst, StatsPage *p)
{
    if (!inst->stats_page || (inst->stats && now_usec(CLOCK_MONOTONIC) - inst->stats_request_usec <
                                                 STATS_FRESH_MS * USEC_PER_MSEC))
        return false;
    if (!instance_stats_page_read(inst, p))
        return false;
    json_decref(inst->stats);
    inst->stats = NULL;
    return true;
}

json_t *instance_stats_sample(Instance *inst, bool refresh)
{
    StatsPage p;
    json_t *o;

    if (refresh && !stats_fresh(inst))
        stats_queue(inst);
    if (sample_from_page(inst, &p))
        o = stats_page_json(&p, stats_page_now_ns());
    else
        /* A shallow copy: the request's sample is replaced whole when the next one comes and
         * only the copy's top-level fields are changed. */
        o = inst->stats ? json_copy(inst->stats) : NULL;
    if (o)
        stats_set_current(inst, o);
    return o;
}

json_t *instance_stats_json(Instance *inst)
{
    json_t *o = instance_stats_sample(inst, true);

    if (!o && (o = json_object()))
        stats_set_current(inst, o);
    return o;
}

json_t *minihv_peek_stats(Driver *drv, const DomainConfig *c, unsigned flags)
{
    Instance *inst;

    if (flags & ~(unsigned)DRIVER_PEEK_PASSIVE)
        return NULL;
    inst = instance_find(minihv(drv), c->name);
    return inst && inst->ready ? instance_stats_sample(inst, !(flags & DRIVER_PEEK_PASSIVE)) : NULL;
}

int minihv_peek_counters(Driver *drv, const DomainConfig *c, unsigned flags, DriverCounters *ret)
{
    MinihvDriver *md = minihv(drv);
    Instance *inst;
    StatsPage p;
    CgroupStats st;

    if (flags & ~(unsigned)DRIVER_PEEK_PASSIVE)
        return 0;
    inst = instance_find(md, c->name);
    if (!inst || !inst->ready)
        return 0;
    if (!(flags & DRIVER_PEEK_PASSIVE) && !stats_fresh(inst))
        stats_queue(inst);
    if (sample_from_page(inst, &p))
        stats_page_counters(&p, ret);
    else if (inst->stats)
        driver_counters_from_json(inst->stats, ret);
    else
        return 0;
    ret->has_age = true;
    ret->stats_age_ms = stats_age_ms(inst);
    ret->stale = stats_stale(inst);
    ret->has_throttled = inst->in_cgroup && md->cgroups &&
                         cgroup_domain_stats(md->cgroups, inst->config.uuid, &st) >= 0;
    if (ret->has_throttled) {
        ret->cpu_throttled_ns = st.throttled_ns;
        ret->cpu_throttled_count = st.nr_throttled;
    }
    return 1;
}

/* Adds inst to r's awaited instances, asking for a sample unless it is fresh: from its page
 * when it has one, unless ask_vmm (one domain's refresh, which gets fresh memory figures). */
static void refresh_await(StatsRefresh *r, Instance *inst, bool ask_vmm)
{
    bool unanswered;

    if (!inst->ready || stats_fresh(inst))
        return;
    /* A VMM that let its last request fail, or has not answered the one in flight within the
     * wait, is not waited for again: its caller gets the cached numbers, marked stale. */
    unanswered = inst->stats_failed || ((inst->stats_call || inst->stats_page_fetch) &&
                                        now_usec(CLOCK_MONOTONIC) - inst->stats_asked_usec >=
                                            STATS_REFRESH_WAIT_MS * USEC_PER_MSEC);
    if (ask_vmm) {
        instance_probe(inst);
        stats_ask(inst);
    } else
        instance_stats_kick(inst);
    if (!(inst->stats_call || inst->stats_page_fetch) || unanswered)
        return; /* nothing to wait for */
    r->awaited[r->n_awaited] = (StatsAwait){.inst = inst, .refresh = r, .next = inst->stats_awaits};
    inst->stats_awaits = &r->awaited[r->n_awaited++];
    r->pending++;
}

int minihv_refresh_stats(Driver *drv, const DomainConfig *c, DriverRefreshDone done, void *userdata)
{
    MinihvDriver *md = minihv(drv);
    StatsRefresh *r;
    Instance *one = NULL;
    int k;

    if (c) {
        one = instance_find(md, c->name);
        if (!one)
            return -ESRCH;
    }
    r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    *r = (StatsRefresh){.md = md, .done = done, .userdata = userdata, .next = md->refreshes};
    md->refreshes = r;
    r->awaited = calloc(one ? 1 : hashmap_size(md->instances) + 1, sizeof(StatsAwait));
    if (!r->awaited) {
        refresh_free(r);
        return -ENOMEM;
    }
    if (one)
        refresh_await(r, one, true);
    else {
        HASHMAP_FOREACH_VALUE(md->instances, value)
        {
            refresh_await(r, value, false);
        }
    }
    if (r->pending == 0) {
        refresh_free(r);
        return 1;
    }
    k = sd_event_add_time_relative(drv->ctx.event, &r->timer, CLOCK_MONOTONIC,
                                   STATS_REFRESH_WAIT_MS * USEC_PER_MSEC, 0, on_refresh_done, r);
    if (k < 0) {
        refresh_free(r);
        return k;
    }
    return 0;
}
