/* Re-attach: adopting a minihv process found running after hvd restarted, and the probes that
 * confirm each one answers for itself (a few at a time, below the priority of hvd's callers). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "minihv-internal.h"
#include "minihv-process.h"

/* A process hvd cannot drive would hold resources nobody accounts for: ends it. Its end (through
 * the pidfd) reports the domain shut off with this detail. */
_printf_(2, 3) static void instance_end(Instance *inst, const char *fmt, ...)
{
    va_list ap;

    free(inst->end_detail);
    va_start(ap, fmt);
    if (vasprintf(&inst->end_detail, fmt, ap) < 0)
        inst->end_detail = NULL;
    va_end(ap);
    instance_kill(inst);
}

/* Reports the paused or running state minihv gave, when it differs from what hvd knows and
 * no pause or resume was asked for since the question. */
static void probe_state(Instance *inst, json_t *info)
{
    const char *state = json_string_value(json_object_get(info, "state"));
    bool paused = state && streq(state, "paused");

    if (!state || (!streq(state, "paused") && !streq(state, "running")) ||
        inst->probe_state_requests != inst->state_requests || inst->destroy_requested ||
        paused == inst->paused)
        return;
    inst->paused = paused;
    instance_report_state(inst, paused ? STATE_PAUSED : STATE_RUNNING, REASON_DAEMON,
                          "found so by hvd");
}

static void unserved(Instance *inst, const Error *e)
{
    instance_end(inst, "minihv pid %d does not serve its control socket (%s); it was killed",
                 inst->pid, e->message);
}

/* What minihv's answer to the probe (info) says of inst. */
static void probe_answered(Instance *inst, json_t *info, const Error *e)
{
    const char *guest;

    if (e && control_error_unserved(e)) {
        unserved(inst, e);
        return;
    }
    if (e) {
        /* Stopped, or too busy: it stays adopted and is asked again later. */
        log_debug("minihv: %s not confirmed yet: %s", inst->config.name, e->message);
        return;
    }
    if (json_integer_value(json_object_get(info, "pid")) != inst->pid ||
        (uint64_t)json_integer_value(json_object_get(info, "start_time_ticks")) !=
            inst->start_ticks) {
        instance_end(inst, "minihv pid %d answers for another process; it was killed", inst->pid);
        return;
    }
    inst->confirmed = true;
    guest = json_string_value(json_object_get(info, "guest"));
    if (!isempty(guest)) {
        char *copy = strdup(guest);
        if (copy) {
            free(inst->guest);
            inst->guest = copy;
        }
    }
    probe_state(inst, info);
}

/* Probes in flight at most: each wakes a VMM, and thousands of VMMs woken at once (a re-attach)
 * would take the CPUs from hvd for as long as they all answer. */
#define PROBES_IN_FLIGHT_MAX 128u

static void probe_start(Instance *inst);

static int on_probe_queue(sd_event_source *s, void *userdata)
{
    MinihvDriver *md = userdata;

    while (md->probe_queue_head && md->probes_in_flight < PROBES_IN_FLIGHT_MAX) {
        Instance *inst = md->probe_queue_head;

        md->probe_queue_head = inst->probe_queue_next;
        if (!md->probe_queue_head)
            md->probe_queue_tail = NULL;
        inst->probe_queue_next = NULL;
        inst->probe_queued = false;
        md->probes_queued--;
        probe_start(inst);
    }
    return 0;
}

/* Has the loop start the probes that wait, while there is room (not from here: the caller may
 * be in the middle of ending another instance). */
static void probe_queue_run(MinihvDriver *md)
{
    if (!md->probe_queue_head || md->probes_in_flight >= PROBES_IN_FLIGHT_MAX)
        return;
    if (md->probe_queue_source) {
        (void)sd_event_source_set_enabled(md->probe_queue_source, SD_EVENT_ONESHOT);
        return;
    }
    if (sd_event_add_defer(md->drv->ctx.event, &md->probe_queue_source, on_probe_queue, md) >= 0)
        (void)sd_event_source_set_enabled(md->probe_queue_source, SD_EVENT_ONESHOT);
    else
        log_warning("minihv: cannot schedule the probes of %s and others",
                    md->probe_queue_head->config.name);
}

void minihv_probes_drop(MinihvDriver *md)
{
    while (md->probe_queue_head) {
        Instance *inst = md->probe_queue_head;

        md->probe_queue_head = inst->probe_queue_next;
        inst->probe_queue_next = NULL;
        inst->probe_queued = false;
    }
    md->probes_queued = 0;
    md->probe_queue_tail = NULL;
    md->probe_queue_source = sd_event_source_disable_unref(md->probe_queue_source);
}

/* The probe of inst is over (answered, failed or dropped): room for the next. */
static void probe_done(Instance *inst)
{
    if (!inst->probe_call)
        return;
    inst->probe_call = NULL;
    inst->md->probes_in_flight--;
}

void instance_probe_cancel(Instance *inst)
{
    MinihvDriver *md = inst->md;

    if (inst->probe_queued) {
        for (Instance **p = &md->probe_queue_head; *p; p = &(*p)->probe_queue_next)
            if (*p == inst) {
                *p = inst->probe_queue_next;
                break;
            }
        if (md->probe_queue_tail == inst) {
            md->probe_queue_tail = NULL;
            for (Instance *i = md->probe_queue_head; i; i = i->probe_queue_next)
                md->probe_queue_tail = i;
        }
        inst->probe_queued = false;
        inst->probe_queue_next = NULL;
        md->probes_queued--;
    }
    control_call_cancel(inst->probe_call);
    probe_done(inst);
    probe_queue_run(md);
}

/* The probe of an adopted process without a console: the console connection itself, whose
 * reply says what info says (an older minihv's does not: it is asked with info then). */
static void on_probe_console(ControlCall *call, int fd, const char *early, size_t early_len,
                             json_t *reply, const Error *e, void *userdata)
{
    Instance *inst = userdata;

    probe_done(inst);
    probe_queue_run(inst->md);
    if (!e)
        instance_console_opened(inst, fd, early, early_len);
    if (e || json_object_get(reply, "pid"))
        probe_answered(inst, reply, e);
    else
        instance_probe(inst);
    instance_watch_end(inst);
}

static void on_probe_reply(ControlCall *call, json_t *info, const Error *e, void *userdata)
{
    Instance *inst = userdata;

    probe_done(inst);
    probe_queue_run(inst->md);
    probe_answered(inst, info, e);
    /* An adopted process's console is connected once it answered for itself: a re-attach of
     * every domain holds one connection per VMM at a time. */
    if (inst->confirmed)
        instance_console_attach(inst);
    instance_watch_end(inst);
}

void instance_probe(Instance *inst)
{
    MinihvDriver *md = inst->md;

    if (inst->confirmed || inst->probe_call || inst->probe_queued || inst->end_detail)
        return;
    if (md->probes_in_flight < PROBES_IN_FLIGHT_MAX) {
        probe_start(inst);
        return;
    }
    inst->probe_queued = true;
    md->probes_queued++;
    if (md->probe_queue_tail)
        md->probe_queue_tail->probe_queue_next = inst;
    else
        md->probe_queue_head = inst;
    md->probe_queue_tail = inst;
}

/* Asks inst who it is: with its console connection when it has none (a re-attach makes one
 * connection per VMM), else with info. */
static void probe_start(Instance *inst)
{
    sd_event *event = inst->md->drv->ctx.event;
    Error e = ERROR_NULL;
    json_t *request;
    int r;

    request = json_pack("{s:s}", "cmd", "info");
    if (!request)
        return;
    if (inst->console_fd < 0 && !inst->console_call)
        r = control_console_open_async(event, inst->control_path, CONTROL_TIMEOUT_MS,
                                       on_probe_console, inst, &inst->probe_call, &e);
    else
        r = control_call_async(event, inst->control_path, request, CONTROL_TIMEOUT_MS,
                               on_probe_reply, inst, &inst->probe_call, &e);
    if (r >= 0) {
        inst->probe_state_requests = inst->state_requests;
        inst->md->probes_in_flight++;
        control_call_set_priority(inst->probe_call, CONTROL_PRIORITY_BACKGROUND);
    } else if (control_error_unserved(&e))
        unserved(inst, &e);
    else
        log_debug("minihv: %s not confirmed yet: %s", inst->config.name, e.message);
    json_decref(request);
    if (!inst->probe_call)
        instance_watch_end(inst); /* the probe's connection cannot tell of the end */
}

void instance_answers(Instance *inst)
{
    instance_probe(inst);
    instance_console_attach(inst);
}

int instance_adopt(MinihvDriver *md, const DomainConfig *c, const DomainRuntime *rt,
                   DomainState recorded, Error *e)
{
    Error ignored = ERROR_NULL;
    uint64_t ticks = 0;
    Instance *inst;
    int r;

    if (rt->pid <= 0) {
        (void)error_setf(e, ERROR_FAILED, "no minihv process was recorded");
        return 0;
    }
    if (minihv_process_start_ticks(rt->pid, &ticks) < 0) {
        (void)error_setf(e, ERROR_FAILED, "minihv pid %d is gone", rt->pid);
        return 0;
    }
    if (ticks != rt->pid_start_time) {
        (void)error_setf(e, ERROR_FAILED,
                         "pid %d now belongs to another process (started at tick %llu, minihv "
                         "at %llu)",
                         rt->pid, (unsigned long long)ticks,
                         (unsigned long long)rt->pid_start_time);
        return 0;
    }
    r = instance_new(md, c, &inst, e);
    if (r < 0)
        return r;
    inst->pid = rt->pid;
    inst->start_ticks = ticks;
    inst->ready = true;
    inst->confirmed = false;
    inst->paused = recorded == STATE_PAUSED;
    /* What a reboot runs until minihv names its guest. */
    (void)minihv_resolve_guest(md->drv, c, &inst->guest, &ignored);
    if (hashmap_put(md->instances, c->name, inst) < 0) {
        instance_free(inst);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    instance_cgroup_adopt(inst);
    instance_probe(inst);
    if (inst->end_detail) {
        /* Nobody serves its socket: killed, and gone as far as hvd is concerned. */
        (void)error_setf(e, ERROR_FAILED, "%s", inst->end_detail);
        instance_free(inst);
        return 0;
    }
    /* Not hvd's child: the probe's connection, then the console's (opened once the probe is
     * answered), tells of its end by failing or hanging up; its pidfd only while neither is
     * there. */
    instance_watch_end(inst);
    /* No stats request here: the sampler's next tick asks, and a re-attach of every domain
     * then costs two connections per VMM instead of three. */
    return 1;
}
